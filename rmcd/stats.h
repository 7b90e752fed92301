/* SPDX-License-Identifier: MIT */
/*
 * Counters the RMC keeps per source node and size class: requests, refused
 * requests, late completions (the native path already took longer than the
 * model allowed, so the completion went out at once) with how late, how long
 * held-back completions were written after their time, and a latency
 * histogram.  Each RMC thread writes its own counters (relaxed single-writer
 * stores); the control thread sums them.
 */
#ifndef RMCD_STATS_H
#define RMCD_STATS_H

#include <stdint.h>

#include "core.h"

#define RMCD_SIZE_CLASSES 16 /* class 0: <= 64 B; class k: (32 << k, 64 << k] */
#define RMCD_HIST_SUB_BITS 3
#define RMCD_HIST_SUB (1u << RMCD_HIST_SUB_BITS) /* buckets per power of two */
#define RMCD_HIST (RMCD_HIST_SUB * 32)

struct rmcd_cls_stats {
	uint64_t requests;
	uint64_t errors;
	uint64_t late;
	uint64_t late_sum_tsc;
	uint64_t late_worst_tsc;
	uint64_t flush_worst_tsc; /* held back, then written this much after due - notify */
	uint64_t timed;		  /* requests with a latency (a post time) */
	uint64_t lat_sum_tsc;
	uint64_t model_count;	  /* requests the model gave a due time */
	uint64_t model_sum_tsc;	  /* sum of those latencies, queueing included */
	uint64_t hist[RMCD_HIST]; /* latency in TSC ticks */
};

static inline unsigned rmcd_size_class(uint64_t size)
{
	if (size <= 64)
		return 0;
	unsigned k = 64 - (unsigned)__builtin_clzll((size - 1) >> 6);
	return k < RMCD_SIZE_CLASSES ? k : RMCD_SIZE_CLASSES - 1;
}

/* Smallest size of a class (for printing). */
static inline uint64_t rmcd_class_size(unsigned k)
{
	return 64ull << k;
}

static inline unsigned rmcd_hist_bucket(uint64_t v)
{
	return core_hist_bucket(v, RMCD_HIST_SUB_BITS, RMCD_HIST);
}

/* Lower bound of a bucket. */
static inline uint64_t rmcd_hist_value(unsigned b)
{
	return core_hist_low(b, RMCD_HIST_SUB_BITS);
}

static inline void stat_add(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, *p + v, __ATOMIC_RELAXED);
}

static inline void stat_max(uint64_t *p, uint64_t v)
{
	if (v > *p)
		__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

#endif
