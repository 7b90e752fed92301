/* SPDX-License-Identifier: MIT */
/* Command-line number parsing shared by sonuma-bench and sonuma-soak. */
#ifndef SONUMA_EXP_PARSE_H
#define SONUMA_EXP_PARSE_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* A whole unsigned number (decimal, 0x hex or 0 octal) in [min, max] into
 * *v: 0, or -1 for anything else (sign, trailing characters, overflow). */
static inline int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || !*s || *end || *s == '-' || x < min || x > max)
		return -1;
	*v = x;
	return 0;
}

#endif
