/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the micro-benchmarks. */
#ifndef SONUMA_EXP_COMMON_H
#define SONUMA_EXP_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sonuma.h"

/* Value bench_server writes at the start of 64-byte block k of its context. */
static inline uint64_t bench_value(uint64_t k)
{
	return 0x50000000ull + k;
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static inline double core_tsc_ns(uint64_t ticks, double hz)
{
	return (double)ticks * 1e9 / hz;
}

/* Percentile p (0..100) of n sorted values. */
static inline uint64_t pct(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
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

static inline unsigned long parse_ul(const char *prog, const char *what, const char *s,
				     unsigned long min, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || !*s || *end || *s == '-' || v < min || v > max) {
		fprintf(stderr, "%s: %s must be a number from %lu to %lu, got \"%s\"\n", prog,
			what, min, max, s);
		exit(2);
	}
	return v;
}

#endif
