/* SPDX-License-Identifier: MIT */
/* The TSC: its rate against CLOCK_MONOTONIC_RAW, and the cost of reading it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "calibrate.h"
#include "core.h"
#include "sonuma/tsc.h"

#define TSC_READS 1000 /* reads per sample of the read cost */

static int tsc_read_run(void *arg, double *v, size_t n, char *err, size_t errlen)
{
	const struct cal_ctx *x = arg;
	uint64_t sink = 0;

	(void)err, (void)errlen;
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = rmc_rdtsc();
		for (unsigned k = 0; k < TSC_READS; k++)
			sink += rmc_rdtsc();
		uint64_t t1 = rmc_rdtsc();
		v[i] = core_tsc_to_ns(t1 - t0, x->hz) / TSC_READS;
	}
	/* Keeps the reads: the compiler may not drop what is used. */
	__asm__ __volatile__("" ::"r"(sink));
	return 0;
}

int cal_probe_tsc(struct cal_ctx *x, char *err, size_t errlen)
{
	/* Longer intervals shrink the error of the clock reads at both ends. */
	unsigned runs = x->opt.quick ? 5 : 11, ms = x->opt.quick ? 20 : 100;
	double hz[11];
	int r;

	for (unsigned i = 0; i < runs; i++) {
		hz[i] = core_tsc_measure_hz(ms);
		if (hz[i] <= 0) {
			snprintf(err, errlen,
				 "cannot measure the TSC rate (it did not advance "
				 "against CLOCK_MONOTONIC_RAW)");
			return -EIO;
		}
	}
	cal_stats_of(hz, runs, &x->tsc_hz);
	x->tsc_runs = runs;
	x->tsc_spread_ppm = (x->tsc_hz.max - x->tsc_hz.min) / x->tsc_hz.median * 1e6;
	x->hz = x->tsc_hz.median;
	x->d.tsc_hz = x->hz;

	r = cal_measure(tsc_read_run, x, x->opt.quick ? 200 : 2000, 1.5, &x->tsc_read, err, errlen);
	if (r)
		return r;
	x->d.tsc_read_ns = x->tsc_read.median;
	return 0;
}
