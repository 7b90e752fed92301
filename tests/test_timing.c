/* SPDX-License-Identifier: MIT */
/*
 * Timing: a completion never becomes visible before its due time, late
 * completions are counted, and asynchronous requests overlap.  The RMC loop
 * runs in-process (unit.h); the assertions are bounds that cannot flake:
 * "not before" holds however slow or noisy the machine is.
 */
#include "unit.h"

struct model_inst {
	config_t lc;
	char err[256];
};

/* Puts model conf (an rmc.conf text) into u's rmcd, with notify 0. */
static void use_model(struct unit *u, struct model_inst *mi, const char *name, const char *conf)
{
	struct tm_env env = { .tsc_hz = u->d.tsc_hz, .nodes = u->d.n_nodes };

	config_init(&mi->lc);
	cr_assert(config_read_string(&mi->lc, conf), "bad config in the test");
	u->d.model = tm_find(name);
	cr_assert_not_null(u->d.model);
	cr_assert_eq(u->d.model->init(config_lookup(&mi->lc, "model"), &env, &u->d.model_state,
				      mi->err, sizeof(mi->err)),
		     0, "%s", mi->err);
	u->qp->notify_tsc = 0;
	/* As rmcd sets it when it creates a queue pair under this model:
	 * a model with deadlines gets post times. */
	u->wq->flags = u->d.model->no_deadline ? RMC_WQ_NO_TSTAMP : 0;
}

static void drop_model(struct unit *u, struct model_inst *mi)
{
	u->d.model->fini(u->d.model_state);
	u->d.model = tm_find("none");
	u->d.model_state = NULL;
	u->wq->flags = RMC_WQ_NO_TSTAMP;
	config_destroy(&mi->lc);
}

struct seen {
	uint64_t at[MAX_NUM_WQ];
	uint64_t post[MAX_NUM_WQ];
	int n;
};

static void seen_cb(uint8_t tid, wq_entry_t *head, void *owner)
{
	struct seen *s = owner;
	s->at[tid] = rmc_rdtsc();
	s->post[tid] = head->t_post;
	/* Every check here measures from the post time: it must be there. */
	cr_assert_neq(head->t_post, 0, "tid %u: no post time under a model with deadlines", tid);
	s->n++;
}

static struct unit u;

static void setup(void)
{
	struct unit_params p = { .nodes = 2, .ctx_size = 1 << 20, .lbuf_size = 1 << 20 };
	unit_setup(&u, &p);
}

static void teardown(void)
{
	unit_teardown(&u);
}

TestSuite(timing, .init = setup, .fini = teardown, .timeout = 60);

Test(timing, fixed_never_visible_before_due)
{
	struct model_inst mi;
	const double L = 20000; /* ns: far above anything native */
	use_model(&u, &mi, "fixed", "model = { name = \"fixed\"; latency_ns = 20000; };");
	uint64_t L_tsc = core_ns_to_tsc(L, u.d.tsc_hz);

	for (int round = 0; round < 20; round++) {
		struct seen s = { 0 };
		int tid = rmc_rread_async(u.wq, u.lbuf, 0, 1, 0, 64 * round, 64);
		cr_assert_geq(tid, 0);
		while (!s.n) {
			rmcd_rmc_poll_once(&u.rmc);
			rmc_drain_cq(u.wq, u.cq, seen_cb, &s);
		}
		cr_assert_geq(s.at[tid] - s.post[tid], L_tsc,
			      "visible %.0f ns after posting, before the model's %.0f ns",
			      core_tsc_to_ns(s.at[tid] - s.post[tid], u.d.tsc_hz), L);
	}
	drop_model(&u, &mi);
}

Test(timing, async_requests_overlap)
{
	struct model_inst mi;
	/* 20 ms each: the RMC takes all 32 long before the first is due. */
	use_model(&u, &mi, "fixed", "model = { name = \"fixed\"; latency_ns = 20000000; };");
	uint64_t L_tsc = core_ns_to_tsc(20e6, u.d.tsc_hz);
	struct seen s = { 0 };
	int n = 32;

	for (int i = 0; i < n; i++)
		cr_assert_geq(rmc_rread_async(u.wq, u.lbuf, 64 * i, 1, 0, 64 * i, 64), 0);
	cr_assert_eq(unit_poll(&u), n);
	/* All of them wait in the due-time queue at once: a long latency
	 * does not serialise the pipeline. */
	cr_expect_eq(u.rmc.heap.n, (uint32_t)n);
	while (s.n < n) {
		rmcd_rmc_poll_once(&u.rmc);
		rmc_drain_cq(u.wq, u.cq, seen_cb, &s);
	}
	for (int i = 0; i < n; i++)
		cr_expect_geq(s.at[i] - s.post[i], L_tsc, "request %d completed early", i);
	drop_model(&u, &mi);
}

Test(timing, link_never_before_unloaded_target)
{
	struct model_inst mi;
	use_model(&u, &mi, "link",
		  "model = { name = \"link\"; rmc_ns = 2000; hop_ns = 100; bandwidth_gbps = 1; };");
	struct seen s = { 0 };
	uint64_t sizes[4] = { 64, 4096, 16384, 65536 };

	for (int i = 0; i < 4; i++)
		cr_assert_geq(rmc_rread_async(u.wq, u.lbuf, 65536 * (uint64_t)i, 1, 0, 0, sizes[i]),
			      0);
	while (s.n < 4) {
		rmcd_rmc_poll_once(&u.rmc);
		rmc_drain_cq(u.wq, u.cq, seen_cb, &s);
	}
	/* Each is at least its own unloaded latency, and the link is shared:
	 * the last one cannot finish before all four serialised. */
	double total_ns = 0;
	for (int i = 0; i < 4; i++) {
		double target = u.d.model->target_ns(u.d.model_state, 'r', sizes[i], 0, 1);
		total_ns += (double)sizes[i];
		cr_expect_geq(s.at[i] - s.post[i], core_ns_to_tsc(target, u.d.tsc_hz),
			      "request of %llu B early", (unsigned long long)sizes[i]);
	}
	uint64_t last = 0;
	for (int i = 0; i < 4; i++)
		if (s.at[i] - s.post[0] > last)
			last = s.at[i] - s.post[0];
	cr_expect_geq(last, core_ns_to_tsc(total_ns + 2100, u.d.tsc_hz), "the link did not queue");
	drop_model(&u, &mi);
}

/* A synchronous request completes in its WQ entry (RMC_WQE_INPLACE): the
 * same rule holds there, and nothing shows up in the CQ. */
Test(timing, inplace_completion_never_before_due)
{
	struct model_inst mi;
	const double L = 20000;
	use_model(&u, &mi, "fixed", "model = { name = \"fixed\"; latency_ns = 20000; };");
	uint64_t L_tsc = core_ns_to_tsc(L, u.d.tsc_hz);

	for (int round = 0; round < 20; round++) {
		int tid = rmc__post_entry_f(u.wq, RMC_OP_READ, RMC_WQE_INPLACE, u.lbuf, 0, 1, 0,
					    64 * (uint64_t)round, 64, 0, 0);
		cr_assert_geq(tid, 0);
		uint64_t post = u.wq->q[tid].t_post;
		cr_assert_neq(post, 0, "no post time under a model with deadlines");
		while (sonuma_smp_load_acquire(&u.wq->q[tid].valid))
			rmcd_rmc_poll_once(&u.rmc);
		cr_assert_eq(rmc__wait_inplace(u.wq, u.cq, tid), 0);
		uint64_t at = rmc_rdtsc();
		cr_assert_geq(at - post, L_tsc,
			      "returned %.0f ns after posting, before the model's %.0f ns",
			      core_tsc_to_ns(at - post, u.d.tsc_hz), L);
		cr_assert_eq(rmc__cq_pop(u.wq, u.cq), -EAGAIN,
			     "an in-place request left a CQ entry");
	}
	cr_assert_eq(u.cq->consumed, 20, "each in-place completion counts as taken");
	drop_model(&u, &mi);
}

/* The program counts the synchronous completions it sees after their due
 * time plus the slack rmcd set (rmc_cq_t.seen_late): one it takes at once
 * counts as seen, one it takes a while after its due time as seen late,
 * and nothing is counted without a slack (older rmcd, or none model). */
Test(timing, a_synchronous_completion_seen_late_is_counted)
{
	struct model_inst mi;
	use_model(&u, &mi, "fixed", "model = { name = \"fixed\"; latency_ns = 20000; };");
	u.wq->late_slack_tsc = core_ns_to_tsc(1000, u.d.tsc_hz);

	/* On time: the program waits in rmc__wait_inplace as the RMC answers. */
	int tid =
		rmc__post_entry_f(u.wq, RMC_OP_READ, RMC_WQE_INPLACE, u.lbuf, 0, 1, 0, 0, 64, 0, 0);
	cr_assert_geq(tid, 0);
	while (sonuma_smp_load_acquire(&u.wq->q[tid].valid))
		rmcd_rmc_poll_once(&u.rmc);
	cr_assert_eq(rmc__wait_inplace(u.wq, u.cq, tid), 0);
	uint64_t back = rmc_rdtsc(), due = u.wq->q[tid].due;
	cr_expect_eq(u.cq->seen, 1);
	/* Counted late only if it really came back late (this process may
	 * have been preempted, which is not for the test to rule out). */
	if (u.cq->seen_late)
		cr_expect_gt((int64_t)(back - due), (int64_t)u.wq->late_slack_tsc,
			     "a completion taken on time counted late");

	/* Late: the program looks only 200 us after the completion's due
	 * time (20 us after its post), far beyond the slack. */
	tid = rmc__post_entry_f(u.wq, RMC_OP_READ, RMC_WQE_INPLACE, u.lbuf, 0, 1, 0, 64, 64, 0, 0);
	cr_assert_geq(tid, 0);
	uint64_t post = u.wq->q[tid].t_post;
	while (sonuma_smp_load_acquire(&u.wq->q[tid].valid))
		rmcd_rmc_poll_once(&u.rmc);
	while (rmc_rdtsc() - post < core_ns_to_tsc(220000, u.d.tsc_hz))
		;
	cr_assert_eq(rmc__wait_inplace(u.wq, u.cq, tid), 0);
	uint32_t before = 0;
	cr_expect_eq(u.cq->seen, 2);
	before = u.cq->seen_late;
	cr_expect_geq(before, 1, "a completion seen 200 us after its due time not counted");

	/* Without a slack nothing is counted. */
	u.wq->late_slack_tsc = 0;
	tid = rmc__post_entry_f(u.wq, RMC_OP_READ, RMC_WQE_INPLACE, u.lbuf, 0, 1, 0, 128, 64, 0, 0);
	cr_assert_geq(tid, 0);
	post = u.wq->q[tid].t_post;
	while (sonuma_smp_load_acquire(&u.wq->q[tid].valid))
		rmcd_rmc_poll_once(&u.rmc);
	while (rmc_rdtsc() - post < core_ns_to_tsc(220000, u.d.tsc_hz))
		;
	cr_assert_eq(rmc__wait_inplace(u.wq, u.cq, tid), 0);
	cr_expect_eq(u.cq->seen, 2, "counted without a slack");
	cr_expect_eq(u.cq->seen_late, before, "counted late without a slack");
	drop_model(&u, &mi);
}

Test(timing, late_completions_are_counted)
{
	struct model_inst mi;
	/* A model asking for 1 ns: every request is late, and counted. */
	use_model(&u, &mi, "fixed", "model = { name = \"fixed\"; latency_ns = 1; };");
	u.d.late_slack_tsc = 0;
	struct seen s = { 0 };
	for (int i = 0; i < 8; i++)
		cr_assert_geq(rmc_rread_async(u.wq, u.lbuf, 0, 1, 0, 0, 65536), 0);
	while (s.n < 8) {
		rmcd_rmc_poll_once(&u.rmc);
		rmc_drain_cq(u.wq, u.cq, seen_cb, &s);
	}
	struct rmcd_cls_stats st;
	rmcd_stats_sum(&u.d, 0, (int)rmcd_size_class(65536), &st);
	cr_expect_eq(st.requests, 8);
	cr_expect_eq(st.late, 8, "late: %llu of 8", (unsigned long long)st.late);
	cr_expect_gt(st.late_worst_tsc, 0);
	/* And a generous model has none late. */
	drop_model(&u, &mi);
	use_model(&u, &mi, "fixed", "model = { name = \"fixed\"; latency_ns = 1000000; };");
	s.n = 0;
	for (int i = 0; i < 8; i++)
		cr_assert_geq(rmc_rread_async(u.wq, u.lbuf, 64 * i, 1, 0, 0, 64), 0);
	while (s.n < 8) {
		rmcd_rmc_poll_once(&u.rmc);
		rmc_drain_cq(u.wq, u.cq, seen_cb, &s);
	}
	rmcd_stats_sum(&u.d, 0, 0, &st);
	cr_expect_eq(st.requests, 8);
	cr_expect_eq(st.late, 0);
	drop_model(&u, &mi);
}

/* A model whose first request is due 200 us after its post and whose
 * second takes 1 ms of the RMC's time to answer: the first completion,
 * written far ahead of its reach, waits for a later clock reading to
 * settle its lateness, and that reading comes after the stall. */
static uint64_t stall_tsc;
static unsigned stall_calls;

static uint64_t stall_due(void *state, const struct tm_req *req)
{
	(void)state;
	if (stall_calls++ == 0)
		return req->t_post + stall_tsc / 5;
	uint64_t t0 = rmc_rdtsc();
	while (rmc_rdtsc() - t0 < stall_tsc)
		;
	return req->t_post + 100 * stall_tsc;
}

static const struct tm_ops stall_model = {
	.abi = TM_ABI_VERSION,
	.name = "stall",
	.due = stall_due,
};

Test(timing, a_completion_settled_later_is_still_counted_late)
{
	stall_tsc = core_ns_to_tsc(1e6, u.d.tsc_hz);
	stall_calls = 0;
	u.d.model = &stall_model;
	u.d.model_state = NULL;
	u.wq->flags = 0;
	u.qp->notify_tsc = 0;
	u.d.late_slack_tsc = 0;
	u.d.lead_tsc = core_ns_to_tsc(1e9, u.d.tsc_hz); /* complete at once */
	u.d.clk_margin_tsc = core_ns_to_tsc(1000, u.d.tsc_hz);
	for (int i = 0; i < 2; i++)
		cr_assert_geq(rmc_rread_async(u.wq, u.lbuf, 64 * i, 1, 0, 0, 64), 0);
	/* Both are taken in one burst. */
	cr_assert_eq(rmcd_rmc_poll_once(&u.rmc), 2);
	struct rmcd_cls_stats st;
	rmcd_stats_sum(&u.d, 0, 0, &st);
	cr_expect_eq(st.requests, 2);
	cr_expect_eq(st.late, 1,
		     "late: %llu of 2 (the first, written in time but settled after "
		     "its reach, must count)",
		     (unsigned long long)st.late);
	u.d.model = tm_find("none");
	u.wq->flags = RMC_WQ_NO_TSTAMP;
}

Test(timing, stats_histogram_buckets_are_ordered)
{
	uint64_t prev = 0;
	for (uint64_t v = 1; v < (1ull << 40); v = v * 3 / 2 + 1) {
		unsigned b = rmcd_hist_bucket(v);
		cr_assert_leq(rmcd_hist_value(b), v, "bucket %u of %llu starts above it", b,
			      (unsigned long long)v);
		cr_assert_geq(b, prev);
		prev = b;
	}
	cr_expect_eq(rmcd_size_class(1), 0);
	cr_expect_eq(rmcd_size_class(64), 0);
	cr_expect_eq(rmcd_size_class(65), 1);
	cr_expect_eq(rmcd_size_class(128), 1);
	cr_expect_eq(rmcd_size_class(65536), 10);
}

Test(timing, writes_land_when_the_model_says)
{
	struct model_inst mi;
	/* 20 ms: the RMC takes the request long before it is due. */
	use_model(&u, &mi, "fixed", "model = { name = \"fixed\"; latency_ns = 20000000; };");
	uint64_t L_tsc = core_ns_to_tsc(20e6, u.d.tsc_hz);
	uint8_t *target = unit_ctx(&u, 1) + 4096;
	struct seen s = { 0 };

	memset(target, 0, 256);
	memset(u.lbuf, 0x77, 256);
	int tid = rmc_rwrite_async(u.wq, u.lbuf, 0, 1, 0, 4096, 256);
	cr_assert_geq(tid, 0);
	cr_assert_eq(unit_poll(&u), 1);
	/* Taken, not yet due: the target's memory must not show it. */
	cr_expect_eq(all_bytes(target, 256, 0), -1, "the write landed before its arrival time");
	uint64_t landed = 0;
	while (!s.n) {
		rmcd_rmc_poll_once(&u.rmc);
		if (!landed && all_bytes(target, 256, 0x77) == -1)
			landed = rmc_rdtsc();
		rmc_drain_cq(u.wq, u.cq, seen_cb, &s);
	}
	cr_expect_geq(s.at[tid] - s.post[tid], L_tsc, "completed early");
	/* It lands halfway through its latency, when the request would reach
	 * the target (this unit harness has no calibrated copy time). */
	cr_assert_neq(landed, 0, "the data never showed before the completion");
	cr_expect_geq(landed - s.post[tid], L_tsc / 2,
		      "landed %.3f ms after posting, before half the model's 20 ms",
		      core_tsc_to_ns(landed - s.post[tid], u.d.tsc_hz) / 1e6);
	/* Completed: the data is there. */
	cr_expect_eq(all_bytes(target, 256, 0x77), -1, "completed, but the data is not there");
	drop_model(&u, &mi);
}
