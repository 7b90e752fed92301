/* SPDX-License-Identifier: MIT */
/* Percentiles of sorted samples, and a log-linear histogram. */
#include <math.h>
#include <stdlib.h>

#include "core.h"
#include "explib.h"

uint64_t *exp_samples_alloc(uint64_t n)
{
	uint64_t *v = calloc(n ? n : 1, sizeof(*v));

	/* One write per page (volatile, so that it is not folded into the
	 * calloc) maps it now. */
	for (uint64_t i = 0; v && i < n; i += 4096 / sizeof(*v))
		((volatile uint64_t *)v)[i] = 0;
	return v;
}

int exp_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

uint64_t exp_pct_rank(const uint64_t *v, uint64_t n, double p)
{
	uint64_t i = (uint64_t)ceil(p / 100.0 * (double)n);

	if (i > 0)
		i--;
	return v[i < n ? i : n - 1];
}

uint64_t exp_pct_round(const uint64_t *v, uint64_t n, double p)
{
	uint64_t i = (uint64_t)(p / 100.0 * (double)(n - 1) + 0.5);

	return v[i < n ? i : n - 1];
}

void exp_summary(uint64_t *v, uint64_t n, double k, double st[EXP_NSUM])
{
	double sum = 0;

	qsort(v, n, sizeof(uint64_t), exp_cmp_u64);
	for (uint64_t i = 0; i < n; i++)
		sum += (double)v[i];
	st[EXP_MIN] = (double)v[0] * k;
	st[EXP_P50] = (double)exp_pct_rank(v, n, 50) * k;
	st[EXP_AVG] = sum / (double)n * k;
	st[EXP_P99] = (double)exp_pct_rank(v, n, 99) * k;
	st[EXP_P999] = (double)exp_pct_rank(v, n, 99.9) * k;
	st[EXP_MAX] = (double)v[n - 1] * k;
}

unsigned exp_hist_bucket(uint64_t v)
{
	return core_hist_bucket(v, EXP_HIST_SUB_BITS, EXP_HIST_BUCKETS);
}

double exp_hist_low(unsigned b)
{
	return (double)core_hist_low(b, EXP_HIST_SUB_BITS);
}

double exp_hist_width(unsigned b)
{
	return (double)core_hist_width(b, EXP_HIST_SUB_BITS);
}

double exp_hist_value(unsigned b)
{
	if (b < EXP_HIST_SUB)
		return (double)b;
	return exp_hist_low(b) + exp_hist_width(b) / 2;
}

void exp_hist_add(struct exp_hist *h, uint64_t v)
{
	h->n++;
	h->sum += (double)v;
	if (v > h->max)
		h->max = v;
	h->c[exp_hist_bucket(v)]++;
}

void exp_hist_merge(struct exp_hist *to, const struct exp_hist *from)
{
	to->n += from->n;
	to->sum += from->sum;
	if (from->max > to->max)
		to->max = from->max;
	for (unsigned i = 0; i < EXP_HIST_BUCKETS; i++)
		to->c[i] += from->c[i];
}

double exp_hist_pct(const struct exp_hist *h, double p)
{
	uint64_t rank, acc = 0;

	if (!h->n)
		return NAN;
	rank = (uint64_t)ceil(p / 100.0 * (double)h->n);
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < EXP_HIST_BUCKETS; i++) {
		acc += h->c[i];
		if (acc >= rank) {
			double v = exp_hist_value(i);
			return v > (double)h->max ? (double)h->max : v;
		}
	}
	return (double)h->max;
}

double exp_hist_mean(const struct exp_hist *h)
{
	return h->n ? h->sum / (double)h->n : NAN;
}
