/* SPDX-License-Identifier: MIT */
/*
 * The fabric interface: a transfer may finish later or fail.  A fabric of
 * the test's own takes every transfer, answers RMCD_XFER_PENDING, and moves
 * the bytes only when the test says so (through progress), failing the
 * ones it is told to; the RMC loop must complete each exactly once, with
 * its data and the fabric's status, hold timed ones until due, and drop
 * those of a queue pair torn down meanwhile.
 */
#include "unit.h"

#define MAX_HELD 512

/* What the test fabric holds: transfers not yet moved. */
static struct {
	struct rmcd_xfer x[MAX_HELD];
	unsigned n;
	unsigned release;  /* progress moves this many, oldest first */
	uint64_t fail_off; /* a transfer at this offset fails (~0: none) */
	unsigned calls;
} F;

static uint8_t held_xfer(struct rmcd_rmc *m, const struct rmcd_xfer *x)
{
	(void)m;
	cr_assert_lt(F.n, MAX_HELD);
	F.x[F.n++] = *x;
	return RMCD_XFER_PENDING;
}

static int held_progress(struct rmcd_rmc *m)
{
	unsigned k = F.release < F.n ? F.release : F.n;

	F.calls++;
	for (unsigned i = 0; i < k; i++) {
		uint8_t st = F.x[i].offset == F.fail_off ? RMC_ERR_FABRIC :
							   rmcd_shm_xfer(m->d, &F.x[i]);
		rmcd_xfer_done(m, F.x[i].cookie, st);
	}
	memmove(F.x, F.x + k, (F.n - k) * sizeof(F.x[0]));
	F.n -= k;
	F.release -= k;
	return (int)k;
}

static const struct rmcd_fabric_ops held_fabric = {
	.name = "held",
	.xfer = held_xfer,
	.progress = held_progress,
};

static struct unit u;

static void setup(void)
{
	struct unit_params p = { .nodes = 2, .ctx_size = 1 << 20, .lbuf_size = 1 << 20 };

	unit_setup(&u, &p);
	memset(&F, 0, sizeof(F));
	F.fail_off = ~0ull;
	/* The QP again, now under a fabric that finishes transfers later. */
	rmcd_rmc_remove_qp(&u.rmc, u.qp);
	u.d.fabric = &held_fabric;
	cr_assert_eq(rmcd_rmc_add_qp(&u.rmc, u.qp), 0);
}

static void teardown(void)
{
	unit_teardown(&u);
}

TestSuite(fabric, .init = setup, .fini = teardown, .timeout = 60);

struct got {
	int n;
	uint8_t status[MAX_NUM_WQ];
	int times[MAX_NUM_WQ];
};

static void got_cb(uint8_t tid, wq_entry_t *head, void *owner)
{
	struct got *g = owner;
	g->status[tid] = head->status;
	g->times[tid]++;
	g->n++;
}

Test(fabric, pending_transfers_complete_when_the_fabric_says)
{
	struct got g = { 0 };
	uint8_t *remote = unit_ctx(&u, 1);
	const int N = 32;

	for (int i = 0; i < N; i++)
		for (int b = 0; b < 64; b++)
			remote[i * 4096 + b] = (uint8_t)(i * 7 + b);
	F.fail_off = 5 * 4096;
	for (int i = 0; i < N; i++)
		cr_assert_eq(rmc_rread_async(u.wq, u.lbuf, (uint64_t)i * 64, 1, 0,
					     (uint64_t)i * 4096, 64),
			     i);
	unit_poll(&u);
	cr_assert_eq(F.n, (unsigned)N, "the fabric holds %u of %d", F.n, N);
	cr_assert_eq(rmc_drain_cq(u.wq, u.cq, got_cb, &g), 0,
		     "a completion before the fabric finished its transfer");

	/* Half of them finish. */
	F.release = N / 2;
	unit_poll(&u);
	rmcd_rmc_poll_once(&u.rmc);
	cr_assert_eq(rmc_drain_cq(u.wq, u.cq, got_cb, &g), N / 2);
	F.release = N;
	for (int i = 0; i < 10 && g.n < N; i++) {
		rmcd_rmc_poll_once(&u.rmc);
		rmc_drain_cq(u.wq, u.cq, got_cb, &g);
	}
	cr_assert_eq(g.n, N);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(g.times[i], 1, "tid %d completed %d times", i, g.times[i]);
		if (i == 5) {
			cr_assert_eq(g.status[i], RMC_ERR_FABRIC, "the failed transfer: %s",
				     rmc_status_str(g.status[i]));
			cr_assert_eq(rmc_status_errno(g.status[i]), -EIO);
			continue;
		}
		cr_assert_eq(g.status[i], RMC_OK, "tid %d: %s", i, rmc_status_str(g.status[i]));
		for (int b = 0; b < 64; b++)
			cr_assert_eq(u.lbuf[i * 64 + b], (uint8_t)(i * 7 + b), "tid %d byte %d", i,
				     b);
	}
	struct rmcd_cls_stats st;
	rmcd_stats_sum(&u.d, 0, -1, &st);
	cr_assert_eq(st.errors, 1, "fabric failures are counted as errors");
}

Test(fabric, timed_completion_after_a_late_transfer_never_before_due)
{
	struct model_inst {
		config_t lc;
		char err[256];
	} mi;
	struct tm_env env = { .tsc_hz = u.d.tsc_hz, .nodes = 2 };
	struct got g = { 0 };

	config_init(&mi.lc);
	cr_assert(config_read_string(&mi.lc, "model = { name = \"fixed\"; latency_ns = 50000; };"));
	u.d.model = tm_find("fixed");
	cr_assert_eq(u.d.model->init(config_lookup(&mi.lc, "model"), &env, &u.d.model_state, mi.err,
				     sizeof(mi.err)),
		     0, "%s", mi.err);
	u.qp->notify_tsc = 0;
	u.wq->flags = 0;
	uint64_t L = core_ns_to_tsc(50000, u.d.tsc_hz);

	/* A read and a write, both held by the fabric past nothing yet. */
	int r = rmc_rread_async(u.wq, u.lbuf, 0, 1, 0, 0, 64);
	int w = rmc_rwrite_async(u.wq, u.lbuf, 64, 1, 0, 64, 64);
	cr_assert(r >= 0 && w >= 0);
	uint64_t t_post = u.wq->q[w].t_post;
	unit_poll(&u);
	F.release = MAX_HELD;
	uint64_t t0 = rmc_rdtsc();
	while (g.n < 2 && rmc_rdtsc() - t0 < 200 * L) {
		rmcd_rmc_poll_once(&u.rmc);
		if (rmc_drain_cq(u.wq, u.cq, got_cb, &g) && g.n < 2)
			continue;
	}
	uint64_t seen = rmc_rdtsc();
	cr_assert_eq(g.n, 2, "%d of 2 completed", g.n);
	cr_assert_eq(g.status[r], RMC_OK);
	cr_assert_eq(g.status[w], RMC_OK);
	/* Not before due: the last was seen at least L after posting. */
	cr_assert_geq(seen - t_post, L, "seen %.0f ns after posting, before 50000 ns",
		      core_tsc_to_ns(seen - t_post, u.d.tsc_hz));
	u.d.model->fini(u.d.model_state);
	u.d.model = tm_find("none");
	u.d.model_state = NULL;
	config_destroy(&mi.lc);
}

Test(fabric, torn_down_qp_waits_for_its_transfers_and_drops_them)
{
	for (int i = 0; i < 8; i++)
		cr_assert_geq(rmc_rread_async(u.wq, u.lbuf, (uint64_t)i * 64, 1, 0, 0, 64), 0);
	unit_poll(&u);
	cr_assert_eq(F.n, 8u);
	/* Teardown lets the fabric finish what it moves into the QP's
	 * buffers; the completions go nowhere. */
	F.release = MAX_HELD;
	unsigned calls = F.calls;
	rmcd_rmc_remove_qp(&u.rmc, u.qp);
	cr_assert_eq(F.n, 0u, "teardown left %u transfers in the fabric", F.n);
	cr_assert_gt(F.calls, calls, "teardown did not drive the fabric");
	cr_assert_eq(u.rmc.fl_busy, 0u);
	cr_assert_eq(u.qp->completed, 0u, "a completion was written for a torn-down QP");
	/* unit_teardown removes it again: harmless. */
}
