/* SPDX-License-Identifier: MIT */
/*
 * --check --probe: does a calibration still match this machine?  A quick
 * re-probe (about a second) measures, in CAL_CHECK_ROUNDS rounds apart in
 * time, a window of cache-line round trips between the CPUs of domain 0's
 * diagonal and, when the file has a floor and an rmcd is found, the 64-byte
 * floor through it, as the calibration's own rounds do.  A disturbance
 * only ever adds time, so the best round's median is what the machine gives
 * now; a recorded figure matches when it lies within CAL_CHECK_MARGIN of it
 * either way: the round trip of a virtual machine moves by that much when
 * the host places its vCPUs elsewhere (see probe_c2c.c).  A floor recorded
 * on a disturbed machine (twice or more what a quiet one gives) falls
 * outside, and so does any figure when the machine is slower now in every
 * round (busy now, or changed); the output says when the rounds spread
 * wide.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "calibrate.h"
#include "core.h"

#define CAL_CHECK_ROUNDS 5
#define CAL_CHECK_MARGIN 1.5
#define CHECK_GAP_MS 100 /* between rounds */

struct series {
	double v[CAL_CHECK_ROUNDS];
	unsigned n;
	double lo, hi; /* smallest and largest median */
};

static void series_add(struct series *s, double v)
{
	s->lo = !s->n || v < s->lo ? v : s->lo;
	s->hi = !s->n || v > s->hi ? v : s->hi;
	s->v[s->n++] = v;
}

/* One figure against the re-probe: 0 when it matches, 1 otherwise (said).
 * The best round is the machine now: a disturbance only adds time. */
static int judge(const char *what, double recorded, const struct series *s)
{
	double lo = s->lo / CAL_CHECK_MARGIN, hi = s->lo * CAL_CHECK_MARGIN;
	char now[80];

	snprintf(now, sizeof(now), "%.1f ns at best (%.1f..%.1f)", s->lo, s->lo, s->hi);
	printf("  %-12s recorded %.1f ns; now %s: ", what, recorded, now);
	if (recorded > hi) {
		printf("%.2fx ABOVE what the re-probe allows (at most %.1f ns)\n", recorded / hi,
		       hi);
		return 1;
	}
	if (recorded < lo) {
		printf("%.2fx BELOW what the re-probe allows (at least %.1f ns)\n", lo / recorded,
		       lo);
		return 1;
	}
	printf("matches\n");
	return 0;
}

/* The pair of CPUs the calibration's round trip of domain 0 ran on: its
 * first and last; with one CPU, against the first of another domain. */
static bool rtt_pair(const struct cal_ctx *x, int *a, int *b)
{
	if (x->ndom < 1 || !x->ncpus[0])
		return false;
	*a = x->cpus[0][0];
	if (x->ncpus[0] >= 2) {
		*b = x->cpus[0][x->ncpus[0] - 1];
		return true;
	}
	for (int d = 1; d < x->ndom; d++)
		if (x->ncpus[d]) {
			*b = x->cpus[d][0];
			return true;
		}
	return false;
}

int cal_check_probe(struct cal_ctx *x, const char *path, const struct cal_data *c)
{
	struct timespec gap = { .tv_sec = 0, .tv_nsec = CHECK_GAP_MS * 1000000L };
	struct series rtt = { 0 }, fl = { 0 };
	bool want_floor = x->opt.floor && c->n_floor && c->floor_size[0] == 64;
	struct cal_rig *g = NULL;
	char err[1024], why[1100] = "";
	uint64_t t0 = core_mono_ns();
	int a, b, r = 0, cpu = -1, bad = 0;

	if (!rtt_pair(x, &a, &b)) {
		printf("%s: no two CPUs to measure a round trip between: nothing to re-probe\n",
		       path);
		return 0;
	}
	if (want_floor &&
	    cal_find_rmcd(&x->opt, x->floor_rmcd, sizeof(x->floor_rmcd), err, sizeof(err))) {
		snprintf(why, sizeof(why), " (the floor is not re-probed: %s)", err);
		want_floor = false;
	}
	if (want_floor && (r = cal_rig_start(x, &g, err, sizeof(err)))) {
		printf("%s: cannot re-probe the floor: %s\n", path, err);
		return 1;
	}
	for (unsigned k = 0; k < CAL_CHECK_ROUNDS && !r; k++) {
		struct cal_stats st;
		if (k)
			nanosleep(&gap, NULL);
		if (!(r = cal_rtt_window(x, a, b, 20000, &st, err, sizeof(err))))
			series_add(&rtt, st.median);
		if (!r && g && !(r = cal_rig_floor(x, g, 64, 2000, &st, &cpu, err, sizeof(err))))
			series_add(&fl, st.median);
	}
	cal_rig_stop(g);
	if (r) {
		printf("%s: the re-probe failed: %s\n", path, err);
		return 1;
	}
	printf("re-probe: %u rounds of the round trip CPU %d <-> CPU %d%s in %.1f s%s\n",
	       CAL_CHECK_ROUNDS, a, b, fl.n ? " and of the 64 B floor through rmcd" : "",
	       (double)(core_mono_ns() - t0) / 1e9, why);
	if (c->rtt_ns[0][0] > 0)
		bad |= judge("round trip", c->rtt_ns[0][0], &rtt);
	if (fl.n)
		bad |= judge("64 B floor", c->floor_ns[0], &fl);
	if (rtt.lo > 0 && rtt.hi / rtt.lo > CAL_ROUNDS_MAX_SPREAD)
		printf("  (the round trip moved %.1fx between the rounds: the machine is not quiet "
		       "now)\n",
		       rtt.hi / rtt.lo);
	if (fl.lo > 0 && fl.hi / fl.lo > CAL_ROUNDS_MAX_SPREAD)
		printf("  (the floor moved %.1fx between the rounds: the machine is not quiet now)\n",
		       fl.hi / fl.lo);
	if (bad)
		printf("%s: no longer matches this machine: run sonuma-calibrate again, on a quiet "
		       "machine\n",
		       path);
	return bad;
}
