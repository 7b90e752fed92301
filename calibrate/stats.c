/* SPDX-License-Identifier: MIT */
/* Percentiles, and the rule that repeats a probe whose samples spread too wide. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"
#include "core.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double cal_pct(const double *sorted, size_t n, double p)
{
	size_t i;

	if (!n)
		return 0;
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return sorted[i < n ? i : n - 1];
}

void cal_stats_of(double *v, size_t n, struct cal_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->n = n;
	st->runs = 1;
	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	st->min = v[0];
	st->max = v[n - 1];
	st->p10 = cal_pct(v, n, 10);
	st->median = cal_pct(v, n, 50);
	st->p90 = cal_pct(v, n, 90);
	st->p99 = cal_pct(v, n, 99);
	st->spread = st->p10 > 0 ? st->p90 / st->p10 : 0;
}

int cal_measure(cal_run_fn fn, void *arg, size_t n, double max_spread, struct cal_stats *st,
		char *err, size_t errlen)
{
	double *v = malloc(n * sizeof(*v));
	struct cal_stats best = { 0 }, cur;
	unsigned run;
	int r = 0;

	if (!v) {
		snprintf(err, errlen, "out of memory for %zu samples", n);
		return -ENOMEM;
	}
	for (run = 1; run <= CAL_RUNS; run++) {
		if ((r = fn(arg, v, n, err, errlen)))
			break;
		cal_stats_of(v, n, &cur);
		if (run == 1 || cur.spread < best.spread)
			best = cur;
		if (best.spread <= max_spread)
			break;
	}
	free(v);
	if (r)
		return r;
	best.runs = run > CAL_RUNS ? CAL_RUNS : run;
	best.noisy = best.spread > max_spread;
	*st = best;
	return 0;
}

int cal_measure_budget(cal_run_fn fn, void *arg, const struct cal_budget *b, struct cal_stats *st,
		       char *err, size_t errlen)
{
	double est[16];
	size_t n_est = b->n_est < CORE_ARRAY_SIZE(est) ? b->n_est : CORE_ARRAY_SIZE(est), n;
	int r;

	if ((r = fn(arg, est, n_est, err, errlen)))
		return r;
	cal_stats_of(est, n_est, st);
	n = st->median > 0 ? (size_t)(b->budget_ns / st->median) : b->max_n;
	n = n < b->min_n ? b->min_n : n > b->max_n ? b->max_n : n;
	return cal_measure(fn, arg, n, b->max_spread, st, err, errlen);
}
