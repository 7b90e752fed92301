/* SPDX-License-Identifier: MIT */
/*
 * Cache-line transfer between cores: one line ping-ponged between two
 * threads pinned to two CPUs.  The initiator stores an odd sequence number
 * and spins until the responder has answered with the next one; each round
 * trip moves the line twice.  Both sides wait with sonuma_cpu_relax(), as the
 * application's completion wait and the RMC's polling loop do, so the figure
 * is what a notification costs in sonuma itself.
 *
 * Pairs: two CPUs of the domain on the diagonal (its first and last, the
 * CPUs an application and rmcd's RMC thread get by default); the first CPU
 * of each domain off it.  A domain with one CPU has its diagonal measured
 * against a CPU of the nearest other domain and marked so; a domain without
 * CPUs is not measured (0).  The matrix is symmetric: each pair runs once.
 */
#include <errno.h>
#include <numa.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calibrate.h"
#include "core.h"
#include "sonuma/barrier.h"
#include "sonuma/tsc.h"

#define PP_BATCH 4     /* round trips per sample */
#define PP_WARMUP 2000 /* untimed round trips before each run */
#define PP_STOP UINT64_MAX
#define PP_TIMEOUT_S 5	  /* the other CPU has not answered: give up */
#define PP_MAX_SPREAD 2.0 /* p90/p10 above which a run is repeated */
#define PP_GAP_MS 300	  /* between two windows of a pair (full mode) */

struct pp {
	/* The line that moves, alone in its cache line. */
	uint64_t line __attribute__((aligned(64)));
	/* Read-mostly state, on lines of its own. */
	uint64_t seq __attribute__((aligned(64))); /* initiator's next odd number */
	uint64_t round_trips;
	double hz;
	int cpu_a, cpu_b;
	int ready __attribute__((aligned(64))); /* 1 pinned, -errno failed */
	int done;				/* the responder has returned */
};

static void *responder(void *arg)
{
	struct pp *p = arg;
	uint64_t want = 1, v;
	int r = core_pin_cpu(p->cpu_b);

	/* Pairs with the initiator's load-acquire of ready. */
	sonuma_smp_store_release(&p->ready, r ? r : 1);
	if (r)
		return NULL;
	for (;;) {
		/* Pairs with the initiator's store-release of line. */
		while ((v = sonuma_smp_load_acquire(&p->line)) != want && v != PP_STOP)
			sonuma_cpu_relax();
		if (v == PP_STOP)
			break;
		/* Pairs with the initiator's load-acquire of line. */
		sonuma_smp_store_release(&p->line, want + 1);
		want += 2;
	}
	/* Pairs with the initiator's load-acquire of done. */
	sonuma_smp_store_release(&p->done, 1);
	return NULL;
}

/* One round trip; -ETIMEDOUT when the responder stopped answering. */
static inline int pp_round_trip(struct pp *p, uint64_t seq)
{
	uint64_t spins = 0, t0 = 0;

	/* Pairs with the responder's load-acquire of line. */
	sonuma_smp_store_release(&p->line, seq);
	/* Pairs with the responder's store-release of line. */
	while (sonuma_smp_load_acquire(&p->line) != seq + 1) {
		sonuma_cpu_relax();
		if (++spins % 65536 == 0) {
			uint64_t now = rmc_rdtsc();
			if (!t0)
				t0 = now;
			else if (core_tsc_to_ns(now - t0, p->hz) > PP_TIMEOUT_S * 1e9)
				return -ETIMEDOUT;
		}
	}
	return 0;
}

static int pp_run(void *arg, double *v, size_t n, char *err, size_t errlen)
{
	struct pp *p = arg;

	for (unsigned i = 0; i < PP_WARMUP; i++, p->seq += 2)
		if (pp_round_trip(p, p->seq))
			goto timeout;
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = rmc_rdtsc();
		for (unsigned b = 0; b < PP_BATCH; b++, p->seq += 2)
			if (pp_round_trip(p, p->seq))
				goto timeout;
		v[i] = core_tsc_to_ns(rmc_rdtsc() - t0, p->hz) / PP_BATCH;
	}
	p->round_trips += PP_WARMUP + (uint64_t)n * PP_BATCH;
	return 0;
timeout:
	snprintf(err, errlen, "ping-pong between CPUs %d and %d: CPU %d did not answer for %d s",
		 p->cpu_a, p->cpu_b, p->cpu_b, PP_TIMEOUT_S);
	return -ETIMEDOUT;
}

/* Round trip between cpu_a (this thread) and cpu_b: windows windows of n
 * samples each. */
static int ping_pong(struct cal_ctx *x, int cpu_a, int cpu_b, size_t n, unsigned windows,
		     struct cal_stats *st, struct cal_stats win[CAL_PP_WINDOWS],
		     uint64_t *round_trips, char *err, size_t errlen)
{
	struct pp *p = aligned_alloc(64, sizeof(*p));
	pthread_t th;
	int r, ready;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memset(p, 0, sizeof(*p));
	p->seq = 1;
	p->hz = x->hz;
	p->cpu_a = cpu_a;
	p->cpu_b = cpu_b;
	if ((r = core_pin_cpu(cpu_a))) {
		snprintf(err, errlen, "cannot run on CPU %d: %s", cpu_a, strerror(-r));
		goto out;
	}
	if ((r = -pthread_create(&th, NULL, responder, p))) {
		snprintf(err, errlen, "cannot start a thread: %s", strerror(-r));
		goto out;
	}
	/* Pairs with the responder's store-release of ready. */
	while (!(ready = sonuma_smp_load_acquire(&p->ready)))
		sonuma_cpu_relax();
	if (ready < 0) {
		pthread_join(th, NULL);
		snprintf(err, errlen, "cannot run on CPU %d: %s", cpu_b, strerror(-ready));
		r = ready;
		goto out;
	}
	/* Windows apart in time: on a shared host the figure moves when the
	 * hypervisor moves the vCPUs, and one window would only see one
	 * placement.  The window with the middle median is kept. */
	for (unsigned w = 0; w < windows && !r; w++) {
		struct timespec gap = { .tv_sec = 0, .tv_nsec = PP_GAP_MS * 1000000L };
		if (w)
			nanosleep(&gap, NULL);
		r = cal_measure(pp_run, p, n, PP_MAX_SPREAD, &win[w], err, errlen);
	}
	if (!r) {
		unsigned order[CAL_PP_WINDOWS];
		for (unsigned w = 0; w < windows; w++) {
			unsigned k = w;
			for (; k > 0 && win[order[k - 1]].median > win[w].median; k--)
				order[k] = order[k - 1];
			order[k] = w;
		}
		*st = win[order[windows / 2]];
	}
	/* Pairs with the responder's load-acquire of line. */
	sonuma_smp_store_release(&p->line, PP_STOP);
	if (r == -ETIMEDOUT) {
		/* The responder may never run again: wait a while, then leave
		 * it (and its memory) behind rather than hang. */
		uint64_t until = core_mono_ns() + 1000000000ull;
		/* Pairs with the responder's store-release of done. */
		while (!sonuma_smp_load_acquire(&p->done) && core_mono_ns() < until)
			sched_yield();
		if (!sonuma_smp_load_acquire(&p->done)) {
			pthread_detach(th);
			return r;
		}
	}
	pthread_join(th, NULL);
	*round_trips += p->round_trips;
out:
	free(p);
	return r;
}

/* The nearest other domain with a CPU, or -1. */
static int nearest_with_cpu(const struct cal_ctx *x, int d)
{
	int best = -1, best_dist = 0;

	for (int o = 0; o < x->ndom; o++) {
		int dist;
		if (o == d || !x->ncpus[o])
			continue;
		dist = numa_available() >= 0 ? numa_distance(d, o) : o + 1;
		if (best < 0 || dist < best_dist)
			best = o, best_dist = dist;
	}
	return best;
}

int cal_probe_c2c(struct cal_ctx *x, char *err, size_t errlen)
{
	uint64_t round_trips = 0;
	int r;

	x->rtt_nwin = x->opt.quick ? 1 : CAL_PP_WINDOWS;
	cal_papi_start(&x->papi);
	for (int a = 0; a < x->ndom; a++)
		for (int b = a; b < x->ndom; b++) {
			enum cal_pair_kind kind = CAL_PAIR_NONE;
			int ca = -1, cb = -1, o = -1;
			struct cal_stats st = { 0 };

			if (a == b && x->ncpus[a] >= 2) {
				kind = CAL_PAIR_SAME;
				ca = x->cpus[a][0];
				cb = x->cpus[a][x->ncpus[a] - 1];
			} else if (a == b && x->ncpus[a] == 1 &&
				   (o = nearest_with_cpu(x, a)) >= 0) {
				kind = CAL_PAIR_BORROWED;
				ca = x->cpus[a][0];
				cb = x->cpus[o][0];
			} else if (a != b && x->ncpus[a] && x->ncpus[b]) {
				kind = CAL_PAIR_CROSS;
				ca = x->cpus[a][0];
				cb = x->cpus[b][0];
			}
			if (kind != CAL_PAIR_NONE) {
				r = ping_pong(x, ca, cb, x->opt.quick ? 5000 : 200000, x->rtt_nwin,
					      &st, x->rtt_win[a][b], &round_trips, err, errlen);
				if (r) {
					cal_papi_stop(&x->papi, 0, &x->rtt_hw);
					return r;
				}
			}
			if (kind != CAL_PAIR_NONE && x->rtt_nwin > 1) {
				double lo = st.median, hi = st.median;
				for (unsigned w = 0; w < x->rtt_nwin; w++) {
					double m = x->rtt_win[a][b][w].median;
					lo = m < lo ? m : lo;
					hi = m > hi ? m : hi;
				}
				if (lo > 0 && hi / lo > 1.5)
					cal_note(x,
						 "the cache-line round trip %d-%d moved between "
						 "windows (%.0f..%.0f ns): the host moves this "
						 "machine's CPUs; the middle window is kept",
						 a, b, lo, hi);
			}
			if (kind == CAL_PAIR_BORROWED)
				cal_note(x,
					 "domain %d has one CPU: its cache-line figures were "
					 "measured against CPU %d of domain %d",
					 a, cb, o);
			if (kind == CAL_PAIR_NONE)
				cal_note(x,
					 "no two CPUs to ping-pong between for domains %d and "
					 "%d: their cache-line figures are 0 (not measured)",
					 a, b);
			for (int k = 0; k < (a == b ? 1 : 2); k++) {
				int i = k ? b : a, j = k ? a : b;
				x->rtt[i][j] = st;
				x->rtt_kind[i][j] = kind;
				x->rtt_cpu[i][j][0] = k ? cb : ca;
				x->rtt_cpu[i][j][1] = k ? ca : cb;
				x->d.rtt_ns[i][j] = st.median;
				x->d.notify_ns[i][j] = st.median / 2;
			}
		}
	cal_papi_stop(&x->papi, (double)round_trips, &x->rtt_hw);
	return 0;
}

int cal_rtt_window(struct cal_ctx *x, int cpu_a, int cpu_b, size_t n, struct cal_stats *st,
		   char *err, size_t errlen)
{
	struct cal_stats win[CAL_PP_WINDOWS];
	uint64_t round_trips = 0;

	return ping_pong(x, cpu_a, cpu_b, n, 1, st, win, &round_trips, err, errlen);
}
