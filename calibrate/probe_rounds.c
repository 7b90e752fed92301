/* SPDX-License-Identifier: MIT */
/*
 * The round trip and the 64-byte floor measured in turn, and whether they
 * agree.
 *
 * Rounds: after the floor, an rmcd with the none model is started again,
 * and each round measures a window of cache-line round trips between the
 * CPUs of domain 0's diagonal (the application's and the RMC thread's, as
 * rmcd places them; the RMC thread sleeps, its session closed), then the
 * 64-byte floor through rmcd from a session opened for it.  A disturbance
 * of the machine (another program taking a CPU, the host moving vCPUs)
 * then shows in both series, and in the spread of their medians.  The
 * figures kept are the middle ones of all repeats: the round trip's of the
 * cache-line probe's windows and the rounds', the floor's of the floor
 * probe and the rounds'.
 *
 * The sanity check: a synchronous 64-byte read moves the request's cache
 * line to the RMC and back (one round trip) and copies 64 bytes; the rest
 * is the RMC's validation and the library's own work.  On the development
 * machine, quiet, the floor is 1.9 to 2.3 round trips (140 to 180 ns
 * against 75 to 80 ns), the minimal agent's about 1.5; taken right after
 * the test suite, with the machine still busy, a calibration recorded a
 * 391 ns floor, 5 round trips.  Above CAL_FLOOR_PER_RTT_MAX (3.5: more
 * than one whole round trip beyond the quiet figure, and half as much again
 * for a machine whose fixed costs weigh more against a faster round trip)
 * the machine looked disturbed, as it does when the medians of the rounds
 * are more than CAL_ROUNDS_MAX_SPREAD apart.  The file says so, and rmcd
 * warns when it loads it.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "calibrate.h"
#include "core.h"

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The one of n runs whose median is in the middle (the upper one of two). */
static const struct cal_stats *middle(const struct cal_stats *const *v, unsigned n)
{
	const struct cal_stats *s[2 * CAL_MAX_ROUNDS + CAL_PP_WINDOWS];

	for (unsigned i = 0; i < n; i++) {
		unsigned k = i;
		for (; k > 0 && s[k - 1]->median > v[i]->median; k--)
			s[k] = s[k - 1];
		s[k] = v[i];
	}
	return s[n / 2];
}

/* The largest median over the smallest; 1 with fewer than two. */
static double spread_of(const double *v, unsigned n)
{
	double lo = 0, hi = 0;

	for (unsigned i = 0; i < n; i++) {
		lo = !i || v[i] < lo ? v[i] : lo;
		hi = !i || v[i] > hi ? v[i] : hi;
	}
	return n > 1 && lo > 0 ? hi / lo : 1;
}

int cal_probe_rounds(struct cal_ctx *x, char *err, size_t errlen)
{
	unsigned rounds = x->opt.quick ? CAL_QUICK_ROUNDS : CAL_ROUNDS, n = 0;
	size_t n_rtt = x->opt.quick ? 5000 : 200000, n_floor = x->opt.quick ? 1000 : 50000;
	const struct cal_stats *all[2 * CAL_MAX_ROUNDS + CAL_PP_WINDOWS], *mid;
	struct cal_rig *g = NULL;
	int r = 0, cpu = -1;

	if (x->rtt_kind[0][0] == CAL_PAIR_NONE || !x->d.n_floor || x->d.floor_size[0] != 64)
		return 0;
	x->round_cpu[0] = x->rtt_cpu[0][0][0];
	x->round_cpu[1] = x->rtt_cpu[0][0][1];
	if ((r = cal_rig_start(x, &g, err, errlen)))
		return r;
	for (unsigned k = 0; k < rounds && !r; k++) {
		if (k)
			sleep_ms(CAL_ROUND_GAP_MS);
		r = cal_rtt_window(x, x->round_cpu[0], x->round_cpu[1], n_rtt, &x->round_rtt[k],
				   err, errlen);
		if (!r)
			r = cal_rig_floor(x, g, 64, n_floor, &x->round_floor[k], &cpu, err, errlen);
		if (!r)
			x->n_rounds++;
	}
	cal_rig_stop(g);
	if (r)
		return r;
	if (cpu >= 0 && cpu != x->round_cpu[0])
		cal_note(x,
			 "rmcd gives node 0 CPU %d, the round trip of domain 0 runs from CPU %d: "
			 "the rounds compare different pairs",
			 cpu, x->round_cpu[0]);

	/* The round trip of domain 0: the middle of every window. */
	for (unsigned w = 0; w < x->rtt_nwin; w++)
		all[n++] = &x->rtt_win[0][0][w];
	for (unsigned k = 0; k < x->n_rounds; k++)
		all[n++] = &x->round_rtt[k];
	mid = middle(all, n);
	x->rtt[0][0] = *mid;
	x->d.rtt_ns[0][0] = mid->median;
	x->d.notify_ns[0][0] = mid->median / 2;
	/* The 64-byte floor: the middle of the floor probe's and the rounds'. */
	n = 0;
	all[n++] = &x->floor[0];
	for (unsigned k = 0; k < x->n_rounds; k++)
		all[n++] = &x->round_floor[k];
	mid = middle(all, n);
	x->floor[0] = *mid;
	x->d.floor_ns[0] = mid->median;
	x->d.floor_p99_ns[0] = mid->p99;

	x->d.n_rounds = x->d.n_round_floor = x->n_rounds;
	for (unsigned k = 0; k < x->n_rounds; k++) {
		x->d.round_rtt_ns[k] = x->round_rtt[k].median;
		x->d.round_floor_ns[k] = x->round_floor[k].median;
	}
	return 0;
}

/* Says in the file and in the notes that the machine looked disturbed. */
static void disturbed(struct cal_ctx *x, const char *why)
{
	struct cal_data *d = &x->d;
	size_t n = strlen(d->disturbed_why);

	if (n)
		snprintf(d->disturbed_why + n, sizeof(d->disturbed_why) - n, "; %s", why);
	else
		snprintf(d->disturbed_why, sizeof(d->disturbed_why), "%s", why);
	d->disturbed = true;
}

static void spread_into_file(struct cal_ctx *x)
{
	struct cal_data *d = &x->d;

	d->has_spread = true;
	d->tsc_ppm = x->tsc_spread_ppm;
	d->tsc_read_p10_ns = x->tsc_read.p10;
	d->tsc_read_p90_ns = x->tsc_read.p90;
	for (int i = 0; i < x->ndom; i++)
		for (int j = 0; j < x->ndom; j++) {
			const struct cal_stats *c = x->n_copy ? &x->copy[i][j][x->n_copy - 1] :
								NULL;
			d->rtt_p10_ns[i][j] = x->rtt[i][j].p10;
			d->rtt_p90_ns[i][j] = x->rtt[i][j].p90;
			d->load_p10_ns[i][j] = x->load[i][j].p10;
			d->load_p90_ns[i][j] = x->load[i][j].p90;
			d->copy_p10_gbps[i][j] = c ? c->p10 : 0;
			d->copy_p90_gbps[i][j] = c ? c->p90 : 0;
		}
	for (uint32_t i = 0; i < d->n_floor; i++) {
		d->floor_p10_ns[i] = x->floor[i].p10;
		d->floor_p90_ns[i] = x->floor[i].p90;
	}
	/* Without rounds (no floor), the repeats of the round trip are the
	 * cache-line probe's windows. */
	if (!d->n_rounds && x->rtt_kind[0][0] != CAL_PAIR_NONE) {
		d->n_rounds = x->rtt_nwin;
		for (unsigned w = 0; w < x->rtt_nwin; w++)
			d->round_rtt_ns[w] = x->rtt_win[0][0][w].median;
	}
}

void cal_sanity(struct cal_ctx *x)
{
	struct cal_data *d = &x->d;
	double s;
	char why[200];

	spread_into_file(x);
	d->has_sanity = true;
	d->floor_per_rtt_max = CAL_FLOOR_PER_RTT_MAX;
	if (d->n_floor && d->floor_size[0] == 64 && d->rtt_ns[0][0] > 0) {
		d->floor_per_rtt = d->floor_ns[0] / d->rtt_ns[0][0];
		if (d->floor_per_rtt > d->floor_per_rtt_max) {
			snprintf(why, sizeof(why),
				 "the 64 B floor (%.0f ns) is %.1f round trips (%.0f ns); at most "
				 "%.1f on a quiet machine",
				 d->floor_ns[0], d->floor_per_rtt, d->rtt_ns[0][0],
				 d->floor_per_rtt_max);
			disturbed(x, why);
		}
	}
	if ((s = spread_of(d->round_rtt_ns, d->n_rounds)) > CAL_ROUNDS_MAX_SPREAD) {
		snprintf(why, sizeof(why), "the round trip moved %.1fx between its %u repeats", s,
			 d->n_rounds);
		disturbed(x, why);
	}
	if ((s = spread_of(d->round_floor_ns, d->n_round_floor)) > CAL_ROUNDS_MAX_SPREAD) {
		snprintf(why, sizeof(why), "the 64 B floor moved %.1fx between its %u rounds", s,
			 d->n_round_floor);
		disturbed(x, why);
	}
	if (d->disturbed)
		cal_note(x,
			 "THE MACHINE LOOKED DISTURBED: %.120s. The file says so and rmcd will "
			 "warn; calibrate again when it is quiet",
			 d->disturbed_why);
}
