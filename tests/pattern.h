/* SPDX-License-Identifier: MIT */
/* Byte patterns for checking transfers byte for byte. */
#ifndef SONUMA_TEST_PATTERN_H
#define SONUMA_TEST_PATTERN_H

#include <stdint.h>

/* A byte pattern unique to (seed, position). */
static inline uint8_t pat(uint32_t seed, uint64_t i)
{
	uint64_t x = (seed + 1) * 0x9e3779b97f4a7c15ull + i * 0xbf58476d1ce4e5b9ull;
	x ^= x >> 29;
	return (uint8_t)(x ^ (x >> 8));
}

/* p[i] = pat(seed, at + i): bytes at..at+n of the pattern. */
static inline void pat_fill_at(uint8_t *p, uint64_t n, uint32_t seed, uint64_t at)
{
	for (uint64_t i = 0; i < n; i++)
		p[i] = pat(seed, at + i);
}

static inline void pat_fill(uint8_t *p, uint64_t n, uint32_t seed)
{
	pat_fill_at(p, n, seed, 0);
}

/* Index of the first byte that differs from bytes at..at+n of the
 * pattern, or -1. */
static inline int64_t pat_check_at(const uint8_t *p, uint64_t n, uint32_t seed, uint64_t at)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i] != pat(seed, at + i))
			return (int64_t)i;
	return -1;
}

static inline int64_t pat_check(const uint8_t *p, uint64_t n, uint32_t seed)
{
	return pat_check_at(p, n, seed, 0);
}

/* Index of the first byte that is not c, or -1. */
static inline int64_t all_bytes(const uint8_t *p, uint64_t n, uint8_t c)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i] != c)
			return (int64_t)i;
	return -1;
}

#endif /* SONUMA_TEST_PATTERN_H */
