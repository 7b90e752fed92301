/* SPDX-License-Identifier: MIT */
/*
 * The queue pair and the RMC loop, in one process and one thread: the test
 * posts with the inline API of sonuma.h and turns the RMC's crank with
 * rmcd_rmc_poll_once().
 */
#include "unit.h"

#define CTX_SIZE (256 * 1024)
#define LBUF_SIZE (256 * 1024)
#define SLOT 512 /* bytes of local buffer per WQ slot in these tests */

static struct unit U;

static void fini(void)
{
	unit_teardown(&U);
}

static void setup(uint32_t nodes, uint32_t depth)
{
	struct unit_params p = { .nodes = nodes,
				 .ctx_size = CTX_SIZE,
				 .queue_depth = depth,
				 .max_transfer = 64 * 1024,
				 .lbuf_size = LBUF_SIZE };
	unit_setup(&U, &p);
}

TestSuite(qp, .fini = fini, .timeout = 60);

/* Waits for the completion of WQ entry tid, taking others on the way
 * (without a handler), as a program waiting for one request would. */
static int wait_tid(rmc_wq_t *wq, rmc_cq_t *cq, int tid)
{
	uint64_t spins = 0;

	for (;;) {
		int t = rmc__cq_take(wq, cq, 1);
		if (t == tid)
			return rmc__status_errno(wq->q[tid].status);
		if (t >= 0)
			continue;
		int r = rmc__spin(wq, &spins);
		if (r)
			return r;
	}
}

Test(qp, setup_matches_config)
{
	setup(2, 0);
	cr_assert_eq(U.wq->depth, MAX_NUM_WQ);
	cr_assert_eq(U.cq->depth, MAX_NUM_WQ);
	cr_assert_eq(U.wq->SR, 1, "the application starts writing phase 1");
	cr_assert_eq(U.cq->SR, 1, "the application starts expecting phase 1");
	cr_assert_eq(U.wq->head, 0);
	cr_assert_eq(U.cq->tail, 0);
	cr_assert_eq(rmc_outstanding(U.wq), 0);
	cr_assert_eq(unit_poll(&U), 0, "an empty WQ yields no request");
	cr_assert_eq(rmc_drain_cq(U.wq, U.cq, NULL, NULL), 0, "an empty CQ yields nothing");
}

/* One request of len bytes: i-th of the run, to node nid; verifies data. */
struct req {
	int tid;
	char op;
	uint32_t nid;
	uint64_t off, len;
	uint32_t seed;
};

static void req_post(struct req *q, uint32_t i, uint32_t nodes)
{
	q->op = (i % 3 == 2) ? 'w' : 'r';
	q->nid = i % nodes;
	q->len = 64 + (i * 37) % (SLOT - 64);
	/* Distinct 1 KiB areas for any 256 consecutive requests: a batch never
	 * overlaps itself. */
	q->off = (uint64_t)(i % 256) * 1024 + (i % 7) * 8;
	q->seed = 1000 + i;
	/* The local slot must be that of the tid we are about to get. */
	uint64_t loff = (uint64_t)U.wq->head * SLOT;
	if (q->op == 'r') {
		pat_fill(unit_ctx(&U, q->nid) + q->off, q->len, q->seed);
		memset(U.lbuf + loff, 0xee, SLOT);
		q->tid = rmc_rread_async(U.wq, U.lbuf, loff, (int)q->nid, 0, q->off, q->len);
	} else {
		pat_fill(U.lbuf + loff, q->len, q->seed);
		memset(unit_ctx(&U, q->nid) + q->off, 0xee, SLOT);
		q->tid = rmc_rwrite_async(U.wq, U.lbuf, loff, (int)q->nid, 0, q->off, q->len);
	}
	cr_assert_geq(q->tid, 0, "request %u: post failed: %s", i, strerror(-q->tid));
	cr_assert_eq((uint64_t)q->tid * SLOT, loff, "request %u: tid %d is not the head slot", i,
		     q->tid);
}

static void req_verify(const struct req *q, uint32_t i)
{
	const uint8_t *dst = q->op == 'r' ? U.lbuf + (uint64_t)q->tid * SLOT :
					    unit_ctx(&U, q->nid) + q->off;
	int64_t bad = pat_check(dst, q->len, q->seed);

	cr_assert_eq(bad, -1, "request %u (%c, %llu bytes, tid %d): byte %lld is wrong", i, q->op,
		     (unsigned long long)q->len, q->tid, (long long)bad);
	/* Nothing past the requested length was touched. */
	cr_assert_eq(dst[q->len], 0xee, "request %u: wrote past its length", i);
}

/* Many laps of the ring in batches of varying size, so that the wrap point
 * falls at different places within a batch. */
static void laps(uint32_t depth, uint32_t nodes, uint32_t total)
{
	struct req *q = calloc(total, sizeof(*q));
	uint32_t posted = 0, done = 0, batch = 1;
	struct record rec;

	cr_assert_not_null(q);
	while (done < total) {
		uint32_t b = batch;
		if (b > depth)
			b = depth;
		if (b > total - posted)
			b = total - posted;
		for (uint32_t k = 0; k < b; k++, posted++)
			req_post(&q[posted], posted, nodes);
		cr_assert_eq(unit_poll(&U), (int)b, "the RMC took a different number of requests");
		memset(&rec, 0, sizeof(rec));
		int n = rmc_drain_cq(U.wq, U.cq, record_cb, &rec);
		cr_assert_eq(n, (int)b, "after %u requests: %d completions for a batch of %u", done,
			     n, b);
		for (uint32_t k = 0; k < b; k++, done++) {
			cr_assert_eq(rec.tid[k], q[done].tid,
				     "completion %u has tid %d, expected %d", done, rec.tid[k],
				     q[done].tid);
			cr_assert_eq(rec.status[k], RMC_OK, "request %u: status %s", done,
				     rmc_status_str(rec.status[k]));
			cr_assert_eq(rec.entry[k], &U.wq->q[q[done].tid]);
			req_verify(&q[done], done);
		}
		cr_assert_eq(rmc_outstanding(U.wq), 0);
		batch = batch * 3 % (depth + 2) + 1;
	}
	/* Where the rings must be now: total entries, each phase flipped once
	 * per lap. */
	cr_assert_eq(U.wq->head, total % depth);
	cr_assert_eq(U.wq->SR, 1 ^ ((total / depth) & 1));
	cr_assert_eq(U.cq->tail, total % depth);
	cr_assert_eq(U.cq->SR, 1 ^ ((total / depth) & 1));
	cr_assert_eq(U.cq->consumed, total);
	cr_assert_eq(U.rmc.served, total);
	cr_assert_eq(U.rmc.errors, 0);
	free(q);
}

Test(qp, phase_wraps_over_five_laps)
{
	setup(3, 0);
	laps(MAX_NUM_WQ, 3, 5 * MAX_NUM_WQ + 3);
}

Test(qp, small_queue_depth_wraps)
{
	setup(2, 5);
	cr_assert_eq(U.wq->depth, 5);
	cr_assert_eq(U.cq->depth, 5);
	laps(5, 2, 5 * 5 + 2);
}

Test(qp, depth_one)
{
	setup(2, 1);
	laps(1, 2, 7);
}

Test(qp, full_queue_returns_ebusy_and_loses_nothing)
{
	const uint32_t depth = 16;
	struct req q[16];
	wq_entry_t head_before;
	struct record rec = { 0 };

	setup(2, depth);
	for (uint32_t i = 0; i < depth; i++)
		req_post(&q[i], i, 2);
	cr_assert_eq(rmc_outstanding(U.wq), (int)depth);
	cr_assert_eq(U.wq->head, 0, "the head wrapped to slot 0");
	cr_assert_eq(U.wq->SR, 0, "the phase flipped at the wrap");

	/* The head slot is still in flight: refused, nothing changes. */
	memcpy(&head_before, &U.wq->q[0], sizeof(head_before));
	int r = rmc_rread_async(U.wq, U.lbuf, 0, 1, 0, 8192, 64);
	cr_assert_eq(r, -EBUSY, "posting over an in-flight slot gave %d", r);
	r = rmc_rwrite_async(U.wq, U.lbuf, 0, 1, 0, 8192, 64);
	cr_assert_eq(r, -EBUSY);
	cr_assert_eq(memcmp(&head_before, &U.wq->q[0], sizeof(head_before)), 0,
		     "a refused post modified the in-flight slot");
	cr_assert_eq(U.wq->head, 0);
	cr_assert_eq(U.wq->SR, 0);

	/* Every one of the posted requests completes, and only those. */
	cr_assert_eq(unit_poll(&U), (int)depth);
	cr_assert_eq(rmc_drain_cq(U.wq, U.cq, record_cb, &rec), (int)depth);
	for (uint32_t i = 0; i < depth; i++) {
		cr_assert_eq(rec.tid[i], (int)i);
		cr_assert_eq(rec.status[i], RMC_OK);
		req_verify(&q[i], i);
	}
	cr_assert_eq(U.rmc.served, depth);
	cr_assert_eq(rmc_outstanding(U.wq), 0);

	/* And the queue takes new requests again. */
	req_post(&q[0], 100, 2);
	cr_assert_eq(q[0].tid, 0);
	cr_assert_eq(unit_poll(&U), 1);
	cr_assert_eq(rmc_drain_cq(U.wq, U.cq, NULL, NULL), 1);
	req_verify(&q[0], 100);
}

/* A model that holds every request of 4096 bytes or more "for an hour" and
 * completes smaller ones at once: later small requests overtake it. */
static uint64_t hold_due(void *state, const struct tm_req *req)
{
	const double *hz = state;
	return req->size >= 4096 ? req->t_pickup + (uint64_t)(*hz * 3600) : req->t_pickup;
}

static const struct tm_ops hold_model = {
	.abi = TM_ABI_VERSION,
	.name = "test-hold",
	.due = hold_due,
	.no_deadline = 0,
};

/* Makes every held completion due now. */
static void release_held(void)
{
	/* Every key 0: still a heap. */
	for (uint32_t i = 0; i < U.rmc.heap.n; i++) {
		U.rmc.heap.k[i].at = 0;
		rmcd_heap_at(&U.rmc.heap, i)->at = 0;
		rmcd_heap_at(&U.rmc.heap, i)->due = 0;
	}
}

Test(qp, out_of_order_completions)
{
	struct record rec = { 0 };
	int t[4];

	setup(2, 4);
	U.d.model = &hold_model;
	U.d.model_state = &U.d.tsc_hz;
	pat_fill(unit_ctx(&U, 1), 8192, 7);
	memset(U.lbuf, 0xee, LBUF_SIZE);

	t[0] = rmc_rread_async(U.wq, U.lbuf, 0, 1, 0, 0, 4096);	    /* held */
	t[1] = rmc_rread_async(U.wq, U.lbuf, 8192, 1, 0, 4096, 64); /* at once */
	pat_fill(U.lbuf + 16384, 128, 9);
	t[2] = rmc_rwrite_async(U.wq, U.lbuf, 16384, 0, 0, 0, 128); /* at once */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(t[i], i);

	cr_assert_eq(unit_poll(&U), 3);
	cr_assert_eq(U.rmc.heap.n, 1, "the large request waits for its due time");
	cr_assert_eq(rmc_drain_cq(U.wq, U.cq, record_cb, &rec), 2);
	cr_assert_eq(rec.tid[0], 1, "the small read overtook the held one");
	cr_assert_eq(rec.tid[1], 2);
	cr_assert_eq(rec.status[0], RMC_OK);
	cr_assert_eq(rec.status[1], RMC_OK);
	/* The read of ctx[4096..4160) brought bytes 4096.. of pattern 7. */
	for (int i = 0; i < 64; i++)
		cr_assert_eq(U.lbuf[8192 + i], pat(7, 4096 + (uint64_t)i));
	cr_assert_eq(pat_check(unit_ctx(&U, 0), 128, 9), -1);
	cr_assert_eq(SONUMA_READ_ONCE(U.wq->q[0].valid), 1, "the held request is still in flight");
	cr_assert_eq(SONUMA_READ_ONCE(U.wq->q[1].valid), 0);
	cr_assert_eq(rmc_outstanding(U.wq), 1);

	/* Polling again does not invent a completion for it. */
	for (int i = 0; i < 10; i++)
		rmcd_rmc_poll_once(&U.rmc);
	cr_assert_eq(rmc_drain_cq(U.wq, U.cq, NULL, NULL), 0);

	/* Fill the ring behind the held head: slot 3, then slots 1 and 2 are
	 * free again, but slot 0 (the next head after the wrap) is not. */
	t[3] = rmc_rread_async(U.wq, U.lbuf, 3 * 8192, 1, 0, 64, 64);
	cr_assert_eq(t[3], 3);
	cr_assert_eq(rmc_rread_async(U.wq, U.lbuf, 0, 1, 0, 0, 64), -EBUSY,
		     "slot 0 is still in flight");
	cr_assert_eq(unit_poll(&U), 1);

	/* Now let the held one complete: the CQ holds tid 3 then tid 0, and
	 * rmc_check_cq must take tid 3 (not the head) on its way to 0. */
	release_held();
	rmcd_rmc_poll_once(&U.rmc);
	cr_assert_eq(U.rmc.heap.n, 0);
	memset(&rec, 0, sizeof(rec));
	int n = rmc_check_cq(U.wq, U.cq, record_cb, &rec);
	cr_assert_eq(n, 2, "rmc_check_cq handled %d completions", n);
	cr_assert_eq(rec.tid[0], 3);
	cr_assert_eq(rec.tid[1], 0);
	cr_assert_eq(rec.status[1], RMC_OK);
	cr_assert_eq(pat_check(U.lbuf, 4096, 7), -1, "the held read's data");
	for (int i = 0; i < 64; i++)
		cr_assert_eq(U.lbuf[3 * 8192 + i], pat(7, 64 + (uint64_t)i));
	cr_assert_eq(rmc_outstanding(U.wq), 0);
	cr_assert_eq(U.cq->consumed, 4);
}

/* The synchronous wait takes other completions on its way and routes each
 * status to its own entry. */
Test(qp, wait_tid_takes_other_completions_first)
{
	setup(2, 8);
	pat_fill(unit_ctx(&U, 1), 4096, 3);
	memset(U.lbuf, 0xee, LBUF_SIZE);
	int bad = rmc_rread_async(U.wq, U.lbuf, 0, 1, 0, CTX_SIZE, 64); /* out of range */
	int a = rmc_rread_async(U.wq, U.lbuf, 1024, 1, 0, 0, 256);
	int b = rmc_rread_async(U.wq, U.lbuf, 2048, 1, 0, 256, 256);
	cr_assert(bad == 0 && a == 1 && b == 2);
	cr_assert_eq(unit_poll(&U), 3);

	cr_assert_eq(wait_tid(U.wq, U.cq, b), 0);
	cr_assert_eq(U.wq->q[bad].valid, 0, "the earlier completion was taken, not lost");
	cr_assert_eq(U.wq->q[bad].status, RMC_ERR_CTX_RANGE);
	cr_assert_eq(U.wq->q[a].valid, 0);
	cr_assert_eq(U.wq->q[a].status, RMC_OK);
	cr_assert_eq(pat_check(U.lbuf + 1024, 256, 3), -1);
	for (int i = 0; i < 256; i++)
		cr_assert_eq(U.lbuf[2048 + i], pat(3, 256 + (uint64_t)i));
	cr_assert_eq(rmc_drain_cq(U.wq, U.cq, NULL, NULL), 0, "all three were consumed");
}

/* A synchronous call when every WQ slot is in flight and every CQ entry
 * holds an unconsumed completion: it frees the head slot by taking one
 * completion (without a handler, as documented), which also makes room for
 * its own request, completes in its WQ entry, and leaves the other
 * completions in the CQ for the application.  The RMC runs as a thread
 * here, as in rmcd. */
Test(qp, sync_call_with_a_full_cq_completes)
{
	setup(2, 8);
	pat_fill(unit_ctx(&U, 1), 4096, 5);
	memset(U.lbuf, 0xee, LBUF_SIZE);
	U.rmc.cpu = -1;
	cr_assert_eq(rmcd_rmc_start(&U.d, &U.rmc), 0);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(rmc_rread_async(U.wq, U.lbuf, (uint64_t)i * SLOT, 1, 0,
					     (uint64_t)i * 64, 64),
			     i);
	uint64_t t0 = core_mono_ns();
	while (sonuma_smp_load_acquire(&U.cq->q[7].SR) != U.cq->SR)
		cr_assert_lt(core_mono_ns() - t0, 5000000000ull, "the RMC never completed the 8");
	int r = rmc_rread_sync(U.wq, U.cq, U.lbuf, 16 * SLOT, 1, 0, 1024, 256);
	rmcd_rmc_stop(&U.d);
	cr_assert_eq(r, 0, "the synchronous read: %s", strerror(-r));
	cr_assert_eq(pat_check_at(U.lbuf + 16 * SLOT, 256, 5, 1024), -1, "wrong data");
	cr_assert_eq(U.wq->q[0].valid, 0, "the synchronous call's slot is free");
	cr_assert_eq(rmc_outstanding(U.wq), 7, "the other completions are still to be taken");
	cr_assert_eq(rmc_drain_cq(U.wq, U.cq, NULL, NULL), 7, "a completion was lost");
	cr_assert_eq(rmc_outstanding(U.wq), 0);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(U.wq->q[i].status, RMC_OK, "async %d", i);
		cr_assert_eq(pat_check_at(U.lbuf + (uint64_t)i * SLOT, 64, 5, (uint64_t)i * 64), -1,
			     "async %d data", i);
	}
	cr_assert_eq(U.cq->consumed, 9, "8 CQ entries and 1 in-place completion taken");
}

/* An application that keeps posting without consuming its CQ (it frees WQ
 * slots behind the API's back) must not make the RMC overwrite a completion
 * it has not read: the RMC stops taking WQ entries until it does. */
Test(qp, flow_control_never_overwrites_unconsumed_cq)
{
	const uint32_t depth = 8;
	cq_entry_t cq_before[8];

	setup(2, depth);
	memset(unit_ctx(&U, 1), 0, CTX_SIZE);
	for (uint32_t i = 0; i < depth; i++)
		cr_assert_eq(rmc_rread_async(U.wq, U.lbuf, i * 64, 1, 0, i * 64, 64), (int)i);
	cr_assert_eq(unit_poll(&U), (int)depth);
	memcpy(cq_before, U.cq->q, sizeof(cq_before));
	for (uint32_t i = 0; i < depth; i++) {
		cr_assert_eq(cq_before[i].SR, 1);
		cr_assert_eq(cq_before[i].tid, i);
	}

	/* Misbehaving: clear the valid flags and post a second lap of writes,
	 * each writing 64 bytes of 0x10 + i at node 1 offset 8192 + 64 * i. */
	for (uint32_t i = 0; i < depth; i++)
		SONUMA_WRITE_ONCE(U.wq->q[i].valid, 0);
	for (uint32_t i = 0; i < depth; i++) {
		memset(U.lbuf + 4096 + i * 64, 0x10 + (int)i, 64);
		cr_assert_eq(rmc_rwrite_async(U.wq, U.lbuf, 4096 + i * 64, 1, 0, 8192 + i * 64, 64),
			     (int)i);
	}
	for (int i = 0; i < 20; i++)
		cr_assert_eq(rmcd_rmc_poll_once(&U.rmc), 0,
			     "the RMC took a request with a full CQ");
	cr_assert_eq(memcmp(cq_before, U.cq->q, sizeof(cq_before)), 0,
		     "the RMC overwrote an unconsumed completion");
	cr_assert_eq(all_bytes(unit_ctx(&U, 1) + 8192, depth * 64, 0), -1,
		     "a write was carried out while the CQ was full");

	/* Consume three completions: exactly three more requests go in. */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(rmc__cq_pop(U.wq, U.cq), i);
	cr_assert_eq(unit_poll(&U), 3);
	for (uint32_t i = 0; i < depth; i++) {
		int64_t bad = all_bytes(unit_ctx(&U, 1) + 8192 + i * 64, 64,
					i < 3 ? (uint8_t)(0x10 + i) : 0);
		cr_assert_eq(bad, -1, "write %u: %s", i, i < 3 ? "missing" : "happened too early");
	}
	/* The three new completions landed in the slots just consumed, with
	 * the next phase, and the other five are intact. */
	for (uint32_t i = 0; i < depth; i++) {
		cr_assert_eq(U.cq->q[i].SR, i < 3 ? 0 : 1, "CQ slot %u", i);
		cr_assert_eq(U.cq->q[i].tid, i);
	}

	/* Resume: consume everything; all the remaining writes go through and
	 * every completion arrives exactly once, in order. */
	int seen = 3, t;
	for (int guard = 0; guard < 1000 && seen < 2 * (int)depth; guard++) {
		while ((t = rmc__cq_pop(U.wq, U.cq)) >= 0) {
			cr_assert_eq(t, seen % (int)depth, "completion %d has tid %d", seen, t);
			seen++;
		}
		unit_poll(&U);
	}
	cr_assert_eq(seen, 2 * (int)depth);
	for (uint32_t i = 0; i < depth; i++)
		cr_assert_eq(all_bytes(unit_ctx(&U, 1) + 8192 + i * 64, 64, (uint8_t)(0x10 + i)),
			     -1);
	cr_assert_eq(U.rmc.served, 2 * depth);
	cr_assert_eq(rmc_drain_cq(U.wq, U.cq, NULL, NULL), 0);
}

/* A consumed count beyond what the RMC wrote is a lie.  The RMC clamps it to
 * what it wrote: the QP neither stalls (an unclamped count would make
 * picked - consumed wrap to a huge value) nor runs more than one lap ahead. */
Test(qp, flow_control_clamps_inflated_consumed)
{
	const uint32_t depth = 4;

	setup(2, depth);
	for (uint32_t i = 0; i < depth; i++)
		cr_assert_eq(rmc_rread_async(U.wq, U.lbuf, i * 64, 1, 0, 0, 64), (int)i);
	cr_assert_eq(unit_poll(&U), (int)depth);
	for (uint32_t lap = 0; lap < 3; lap++) {
		for (uint32_t i = 0; i < depth; i++)
			SONUMA_WRITE_ONCE(U.wq->q[i].valid, 0);
		for (uint32_t i = 0; i < depth; i++)
			cr_assert_eq(rmc_rread_async(U.wq, U.lbuf, i * 64, 1, 0, 0, 64), (int)i);
		sonuma_smp_store_release(&U.cq->consumed, 1000u + lap);
		cr_assert_eq(unit_poll(&U), (int)depth, "lap %u: the RMC took a different count",
			     lap);
		cr_assert_leq(U.qp->picked - U.qp->consumed, depth);
		cr_assert_eq(U.qp->completed, (lap + 2) * depth);
	}
}

Test(qp, short_lengths_round_up_to_64)
{
	static const uint64_t lens[] = { 0, 1, 7, 63 };

	setup(2, 8);
	for (size_t k = 0; k < CORE_ARRAY_SIZE(lens); k++) {
		uint64_t loff = 1024 * k;
		pat_fill(unit_ctx(&U, 1) + 4096, 256, 50 + (uint32_t)k);
		memset(U.lbuf + loff, 0xee, 256);
		int t = rmc_rread_async(U.wq, U.lbuf, loff, 1, 0, 4096, lens[k]);
		cr_assert_geq(t, 0);
		cr_assert_eq(U.wq->q[t].length, RMC_MIN_LENGTH, "length %llu was posted as %llu",
			     (unsigned long long)lens[k], (unsigned long long)U.wq->q[t].length);
		cr_assert_eq(unit_poll(&U), 1);
		cr_assert_eq(rmc_drain_cq(U.wq, U.cq, NULL, NULL), 1);
		cr_assert_eq(U.wq->q[t].status, RMC_OK);
		cr_assert_eq(pat_check(U.lbuf + loff, 64, 50 + (uint32_t)k), -1,
			     "length %llu: the 64 bytes did not arrive",
			     (unsigned long long)lens[k]);
		cr_assert_eq(U.lbuf[loff + 64], 0xee, "length %llu: more than 64 bytes moved",
			     (unsigned long long)lens[k]);
	}

	/* Writes too, and 64 and 65 stay as they are. */
	memset(unit_ctx(&U, 1), 0, 512);
	memset(U.lbuf, 0x77, 512);
	int t = rmc_rwrite_async(U.wq, U.lbuf, 0, 1, 0, 0, 1);
	cr_assert_eq(U.wq->q[t].length, 64);
	t = rmc_rwrite_async(U.wq, U.lbuf, 0, 1, 0, 128, 64);
	cr_assert_eq(U.wq->q[t].length, 64);
	t = rmc_rwrite_async(U.wq, U.lbuf, 0, 1, 0, 256, 65);
	cr_assert_eq(U.wq->q[t].length, 65);
	cr_assert_eq(unit_poll(&U), 3);
	cr_assert_eq(rmc_drain_cq(U.wq, U.cq, NULL, NULL), 3);
	uint8_t *c = unit_ctx(&U, 1);
	cr_assert_eq(all_bytes(c, 64, 0x77), -1);
	cr_assert_eq(c[64], 0);
	cr_assert_eq(all_bytes(c + 128, 64, 0x77), -1);
	cr_assert_eq(c[192], 0);
	cr_assert_eq(all_bytes(c + 256, 65, 0x77), -1);
	cr_assert_eq(c[256 + 65], 0);
}

/* Posting refuses what cannot be encoded, before touching the ring. */
Test(qp, post_rejects_unencodable_ids)
{
	setup(2, 8);
	cr_assert_eq(rmc_rread_async(U.wq, U.lbuf, 0, -1, 0, 0, 64), -EINVAL);
	cr_assert_eq(rmc_rread_async(U.wq, U.lbuf, 0, 0x10000, 0, 0, 64), -EINVAL);
	cr_assert_eq(rmc_rwrite_async(U.wq, U.lbuf, 0, 1, 256, 0, 64), -EINVAL);
	cr_assert_eq(U.wq->head, 0);
	cr_assert_eq(rmc_outstanding(U.wq), 0);
	cr_assert_eq(unit_poll(&U), 0);
}

/* The mailbox path with the RMC not started applies add/remove at once, and
 * a removed QP is no longer polled. */
Test(qp, removed_qp_is_not_polled)
{
	setup(2, 8);
	cr_assert_eq(U.rmc.n_qps, 1);
	rmcd_rmc_remove_qp(&U.rmc, U.qp);
	cr_assert_eq(U.rmc.n_qps, 0);
	cr_assert_geq(rmc_rread_async(U.wq, U.lbuf, 0, 1, 0, 0, 64), 0);
	cr_assert_eq(unit_poll(&U), 0);
	cr_assert_eq(rmcd_rmc_add_qp(&U.rmc, U.qp), 0);
	cr_assert_eq(unit_poll(&U), 1);
	cr_assert_eq(rmc_drain_cq(U.wq, U.cq, NULL, NULL), 1);
}

/* A completion written ahead of its due time is not visible before it:
 * draining leaves it, waiting returns it no earlier than its due time. */
Test(qp, completion_hidden_until_due)
{
	struct record rec = { 0 };

	setup(2, 4);
	U.d.model = &hold_model;
	U.d.model_state = &U.d.tsc_hz;
	pat_fill(unit_ctx(&U, 1), 4096, 8);
	int t = rmc_rread_async(U.wq, U.lbuf, 0, 1, 0, 0, 4096);
	cr_assert_eq(t, 0);
	cr_assert_eq(unit_poll(&U), 1);
	cr_assert_eq(U.rmc.heap.n, 1);

	/* Written now, due in 5 s: hidden from a non-waiting poll. */
	uint64_t due = rmc_rdtsc() + (uint64_t)(5 * U.d.tsc_hz);
	U.rmc.heap.k[0].at = 0;
	rmcd_heap_at(&U.rmc.heap, 0)->at = 0;
	rmcd_heap_at(&U.rmc.heap, 0)->due = due;
	rmcd_rmc_poll_once(&U.rmc);
	cr_assert_eq(U.rmc.heap.n, 0, "the completion was written");
	cr_assert_eq(U.cq->q[0].SR, 1);
	cr_assert_eq(U.cq->q[0].due, due);
	cr_assert_eq(rmc_drain_cq(U.wq, U.cq, NULL, NULL), 0, "seen before its due time");
	cr_assert_eq(U.wq->q[0].valid, 1);

	/* The RMC's side moves the due time to 20 ms from now: a waiting
	 * call returns it, and not before. */
	due = rmc_rdtsc() + (uint64_t)(0.02 * U.d.tsc_hz);
	SONUMA_WRITE_ONCE(U.cq->q[0].due, due);
	cr_assert_eq(rmc_wait_cq(U.wq, U.cq, record_cb, &rec), 1);
	uint64_t now = rmc_rdtsc();
	cr_assert_geq(now, due, "returned %.3f ms before its due time",
		      (double)(due - now) * 1e3 / U.d.tsc_hz);
	cr_assert_eq(rec.tid[0], 0);
	cr_assert_eq(rec.status[0], RMC_OK);
	cr_assert_eq(pat_check(U.lbuf, 4096, 8), -1);
}

/* rmcd marks a queue pair RMC_WQ_SHARED_CPU exactly when the RMC thread
 * serving its node runs on a CPU meant for that node's programs (a node
 * without a CPU free of RMC threads, such as a guest with one vCPU). */
Test(qp, shared_cpu_flag_follows_the_rmc_cpu)
{
	struct rmcd_qp *qp;

	setup(2, 0);
	cr_assert_eq(U.wq->flags & RMC_WQ_SHARED_CPU, 0, "an RMC thread on no CPU shares none");
	U.rmc.cpu = 3;
	U.nodes[0].app_cpus[0] = 1u << 2;
	cr_assert_eq(rmcd_qp_create(&U.d, &U.s, &qp), 0);
	cr_assert_eq(qp->wq->flags & RMC_WQ_SHARED_CPU, 0, "CPU 3 is not one of the programs'");
	rmcd_qp_destroy(qp);
	U.nodes[0].app_cpus[0] |= 1u << 3;
	cr_assert_eq(rmcd_qp_create(&U.d, &U.s, &qp), 0);
	cr_assert_neq(qp->wq->flags & RMC_WQ_SHARED_CPU, 0, "CPU 3 is one of the programs'");
	rmcd_qp_destroy(qp);
	U.rmc.cpu = 130;
	U.nodes[0].app_cpus[2] = 1u << 2;
	cr_assert_eq(rmcd_qp_create(&U.d, &U.s, &qp), 0);
	cr_assert_neq(qp->wq->flags & RMC_WQ_SHARED_CPU, 0, "CPU 130 is one of the programs'");
	rmcd_qp_destroy(qp);
}

/* A program waiting on the one CPU of the RMC thread that serves it: with
 * RMC_WQ_SHARED_CPU the wait lets the RMC run after a few spins, so that
 * every request completes before the wait's first liveness check (without
 * it, each one took a whole check's worth of spinning, milliseconds under
 * emulation, before the RMC could run). */
Test(qp, wait_on_the_rmc_cpu_lets_the_rmc_run)
{
	cpu_set_t old, one;
	uint64_t worst = 0;
	int cpu = sched_getcpu();

	setup(2, 0);
	cr_assert_geq(cpu, 0, "sched_getcpu: %s", strerror(errno));
	cr_assert_eq(pthread_getaffinity_np(pthread_self(), sizeof(old), &old), 0);
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	cr_assert_eq(pthread_setaffinity_np(pthread_self(), sizeof(one), &one), 0);
	pat_fill(unit_ctx(&U, 1), 64 * 200, 9);
	memset(U.lbuf, 0xee, LBUF_SIZE);
	/* What rmcd sets up for a node whose only CPU runs its RMC thread. */
	U.rmc.cpu = cpu;
	U.rmc.shares_cpu = true;
	U.wq->flags |= RMC_WQ_SHARED_CPU;
	cr_assert_eq(rmcd_rmc_start(&U.d, &U.rmc), 0);
	for (int i = 0; i < 200; i++) {
		uint64_t spins = 0;
		int tid = rmc__post_entry_f(U.wq, RMC_OP_READ, RMC_WQE_INPLACE, U.lbuf,
					    (uint64_t)i * 64, 1, 0, (uint64_t)i * 64, 64, 0, 0);
		cr_assert_geq(tid, 0, "post %d: %s", i, strerror(-tid));
		while (sonuma_smp_load_acquire(&U.wq->q[tid].valid))
			cr_assert_eq(rmc__spin(U.wq, &spins), 0);
		sonuma_smp_store_release(&U.cq->consumed, U.cq->consumed + 1);
		cr_assert_eq(U.wq->q[tid].status, RMC_OK, "request %d", i);
		if (spins > worst)
			worst = spins;
	}
	rmcd_rmc_stop(&U.d);
	pthread_setaffinity_np(pthread_self(), sizeof(old), &old);
	cr_assert_eq(pat_check(U.lbuf, 64 * 200, 9), -1, "wrong data");
	cr_assert_lt(worst, RMC__SPIN_CHECK,
		     "a wait spun %llu times (a liveness check's worth) before its RMC, on "
		     "its CPU, could complete the request",
		     (unsigned long long)worst);
}
