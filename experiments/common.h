/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the micro-benchmarks. */
#ifndef SONUMA_EXP_COMMON_H
#define SONUMA_EXP_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "explib.h"
#include "sonuma.h"

/* Value bench_server writes at the start of 64-byte block k of its context. */
static inline uint64_t bench_value(uint64_t k)
{
	return 0x50000000ull + k;
}

/* Attaches to this program's node; prints why not and exits on failure. */
static inline int bench_attach(const char *prog, struct kal_info *info)
{
	int fd = kal_open((char *)RMC_DEV);

	if (fd < 0) {
		const char *node = getenv("SONUMA_NODE");
		fprintf(stderr,
			"%s: cannot attach to node %s: %s\n"
			"  is rmcd running (e.g. \"rmcd 2\")? run this program with "
			"sonuma-run -n NODE\n",
			prog, node ? node : "0", strerror(-fd));
		exit(1);
	}
	if (kal_info(fd, info) < 0) {
		fprintf(stderr, "%s: rmcd did not answer\n", prog);
		exit(1);
	}
	return fd;
}

/* A number argument in [min, max]; says what is wrong and exits with 2 if
 * it is not one. */
static inline unsigned long parse_ul(const char *prog, const char *what, const char *s,
				     unsigned long min, unsigned long max)
{
	uint64_t v;

	if (exp_parse_u64(s, min, max, &v)) {
		fprintf(stderr, "%s: %s must be a number from %lu to %lu, got \"%s\"\n", prog, what,
			min, max, s);
		exit(2);
	}
	return v;
}

#endif
