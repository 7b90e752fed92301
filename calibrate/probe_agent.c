/* SPDX-License-Identifier: MIT */
/*
 * The minimal polling agent (experiments/lib/agent.h), measured as the
 * baseline users see the emulator against: the same WQ and CQ entries, two
 * threads on the CPUs an application and rmcd's RMC thread get (the pair
 * of the cache-line round trip of domain 0), and nothing else.
 *
 *  - rate: 64-byte asynchronous reads, EXP_AGENT_MAX_WINDOW in flight, from
 *    and to a 64 KiB window (in cache, as sonuma-bench's window), repeated;
 *    the median of the repeats, with the slowest and the fastest;
 *  - floor: synchronous in-place reads (the request and its completion in
 *    one cache line, as RMC_WQE_INPLACE), one at a time, per size from 64 B
 *    to 64 KiB: of the same bytes every time (in cache, as the emulator's
 *    floor probe reads them), and from memory beyond the caches (the pointer
 *    chase's buffer size).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "calibrate.h"
#include "core.h"
#include "sonuma/tsc.h"

#define MiB ((uint64_t)1 << 20)
#define AGENT_SPAN 65536 /* the rate's window of bytes, as sonuma-bench's */
#define AGENT_MAX_SPREAD 2.0

static const uint64_t agent_sizes[CAL_AGENT_SIZES] = { 64, 256, 1024, 4096, 16384, 65536 };

struct agent_run {
	struct exp_agent *a;
	uint64_t size;
	bool beyond;
	double hz;
	uint64_t *ticks; /* room for the largest run */
};

static int agent_sync_run(void *arg, double *v, size_t n, char *err, size_t errlen)
{
	struct agent_run *ar = arg;
	int r = exp_agent_sync(ar->a, ar->size, ar->beyond, n, ar->ticks);

	if (r) {
		snprintf(err, errlen, "the minimal agent: synchronous reads of %llu bytes: %s",
			 (unsigned long long)ar->size, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = core_tsc_to_ns(ar->ticks[i], ar->hz);
	return 0;
}

/* The floor for one size, in cache or beyond. */
static int agent_floor(struct cal_ctx *x, struct agent_run *ar, size_t max_n, struct cal_stats *st,
		       char *err, size_t errlen)
{
	const struct cal_budget b = { .n_est = 16,
				      .min_n = x->opt.quick ? 50 : 500,
				      .max_n = max_n,
				      .budget_ns = x->opt.quick ? 10e6 : 100e6,
				      .max_spread = AGENT_MAX_SPREAD };

	return cal_measure_budget(agent_sync_run, ar, &b, st, err, errlen);
}

/* The rate's repeats: their figures (Mops) into x->agent_rates. */
static int agent_rate(struct cal_ctx *x, struct exp_agent *a, char *err, size_t errlen)
{
	unsigned reps = x->opt.quick ? 3 : CAL_AGENT_REPEATS;
	uint64_t n = x->opt.quick ? 20000 : 500000, ticks;
	double v[CAL_AGENT_REPEATS];
	struct cal_stats st;
	int r;

	/* Untimed: the rings' and the window's lines find their places. */
	if ((r = exp_agent_rate(a, 64, AGENT_SPAN, EXP_AGENT_MAX_WINDOW, n / 10, &ticks)))
		goto fail;
	for (unsigned k = 0; k < reps; k++) {
		if ((r = exp_agent_rate(a, 64, AGENT_SPAN, EXP_AGENT_MAX_WINDOW, n, &ticks)))
			goto fail;
		x->agent_rates[k] = v[k] = (double)n / core_tsc_to_ns(ticks, x->hz) * 1e3;
	}
	x->agent_nrates = reps;
	cal_stats_of(v, reps, &st);
	x->d.agent_rate_64_mops = st.median;
	x->d.agent_rate_64_min_mops = st.min;
	x->d.agent_rate_64_max_mops = st.max;
	x->d.agent_window = EXP_AGENT_MAX_WINDOW;
	return 0;
fail:
	snprintf(err, errlen, "the minimal agent: asynchronous reads of 64 bytes: %s",
		 strerror(-r));
	return r;
}

int cal_probe_agent(struct cal_ctx *x, char *err, size_t errlen)
{
	size_t max_n = x->opt.quick ? 2000 : 20000;
	struct exp_agent_cfg cfg = { .dst_len = AGENT_SPAN };
	struct agent_run ar = { .hz = x->hz };
	struct exp_agent *a = NULL;
	int r;

	if (x->rtt_kind[0][0] == CAL_PAIR_NONE) {
		cal_note(x, "no two CPUs for the minimal agent: not measured");
		return 0;
	}
	cfg.app_cpu = x->agent_cpu[0] = x->rtt_cpu[0][0][0];
	cfg.agent_cpu = x->agent_cpu[1] = x->rtt_cpu[0][0][1];
	/* Beyond the caches: the pointer chase's buffer, which is. */
	cfg.src_len = x->chase_bytes >= 16 * MiB ? x->chase_bytes : 64 * MiB;
	/* Into as large a destination, at the same offsets (as sonuma-bench
	 * --span moves a program's reads). */
	cfg.dst_len = cfg.src_len;
	x->agent_src_bytes = cfg.src_len;
	if (!(ar.ticks = calloc(max_n, sizeof(*ar.ticks)))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((r = exp_agent_start(&cfg, &a))) {
		snprintf(err, errlen,
			 "cannot start the minimal agent on CPUs %d and %d (%llu MiB): %s",
			 cfg.app_cpu, cfg.agent_cpu, (unsigned long long)(cfg.src_len / MiB),
			 r == -EIO ? "it moved other bytes than asked" : strerror(-r));
		goto out;
	}
	ar.a = a;
	if ((r = agent_rate(x, a, err, errlen)))
		goto out;
	x->d.n_agent = 0;
	for (unsigned i = 0; i < CAL_AGENT_SIZES; i++) {
		struct cal_agent_floor *f = &x->d.agent_floor[i];
		struct cal_stats *c = &x->agent_floor[i][0], *b = &x->agent_floor[i][1];

		ar.size = agent_sizes[i];
		ar.beyond = false;
		if ((r = agent_floor(x, &ar, max_n, c, err, errlen)))
			goto out;
		ar.beyond = true;
		if ((r = agent_floor(x, &ar, max_n, b, err, errlen)))
			goto out;
		*f = (struct cal_agent_floor){ .size = agent_sizes[i],
					       .median_ns = b->median,
					       .p10_ns = b->p10,
					       .p90_ns = b->p90,
					       .p99_ns = b->p99,
					       .cached_ns = c->median,
					       .cached_p10_ns = c->p10,
					       .cached_p90_ns = c->p90,
					       .cached_p99_ns = c->p99 };
		x->d.n_agent++;
	}
	x->d.agent_cpu[0] = cfg.app_cpu;
	x->d.agent_cpu[1] = cfg.agent_cpu;
	x->d.has_agent = true;
	x->agent_done = true;
out:
	exp_agent_stop(a);
	free(ar.ticks);
	return r;
}
