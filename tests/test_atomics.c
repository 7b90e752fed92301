/* SPDX-License-Identifier: MIT */
/*
 * Remote atomics and several contexts per node, against a real rmcd with
 * two RMC threads: compare-and-swap and fetch-and-add return the old value
 * and are atomic against every other RMC thread and node; misaligned or
 * out-of-range targets complete with an error; each context has its own
 * size, and a context that does not exist fails cleanly.
 */
#include "h_app.h"

#define NODES 4
#define ADDS 2000

/* Two RMC threads: nodes 0 and 2 on one, 1 and 3 on the other. */
#define CONF                                                                \
	"cluster = { nodes = 4; contexts = [16, 2]; max_transfer = 4096;\n" \
	"            lock_memory = false; };\n"                             \
	"rmc = { threads = 2; };\n"

H_RMCD_SUITE(atomics, NODES, CONF, .timeout = 120);

/* A node's application with a one-page local buffer. */
static int attach(struct h_app *a, unsigned node)
{
	return h_app_attach(a, node, 1, 0);
}

static int adder(void *arg)
{
	unsigned node = (unsigned)(uintptr_t)arg;
	struct h_app a;
	uint64_t old, seen_max = 0;

	if (attach(&a, node))
		return 1;
	for (int i = 0; i < ADDS; i++) {
		/* Half synchronous, half in pipelined bursts. */
		if (i % 2 == 0) {
			int r = rmc_faa_sync(a.wq, a.cq, a.lbuf, 0, 0, 0, 64, 1, &old);
			CHILD_CHECK(r == 0, "faa: %s", strerror(-r));
			CHILD_CHECK(old < NODES * ADDS, "old value %llu out of range",
				    (unsigned long long)old);
			seen_max = old > seen_max ? old : seen_max;
		} else {
			CHILD_CHECK(rmc_check_cq(a.wq, a.cq, NULL, NULL) >= 0, "check_cq");
			int tid = rmc_faa_async(a.wq, a.lbuf, 8 + 8 * (i % 64), 0, 0, 64, 1);
			CHILD_CHECK(tid >= 0, "faa async: %s", strerror(-tid));
		}
		/* A lock-free increment of a second word with CAS. */
		uint64_t cur = 0;
		for (;;) {
			int r = rmc_cas_sync(a.wq, a.cq, a.lbuf, 1024, 0, 0, 128, cur, cur + 1,
					     &old);
			CHILD_CHECK(r == 0, "cas: %s", strerror(-r));
			if (old == cur)
				break;
			cur = old;
		}
	}
	while (rmc_outstanding(a.wq))
		CHILD_CHECK(rmc_drain_cq(a.wq, a.cq, NULL, NULL) >= 0, "drain");
	kal_close(a.fd);
	return 0;
}

Test(atomics, faa_and_cas_are_atomic_across_nodes_and_rmc_threads)
{
	pid_t p[NODES];
	struct h_app a;

	for (unsigned n = 0; n < NODES; n++)
		p[n] = h_fork(adder, (void *)(uintptr_t)n);
	h_join(p, NODES, 60000, "adder");
	/* Node 0 looks at its own context. */
	cr_assert_eq(attach(&a, 0), 0);
	uint8_t *ctx;
	cr_assert_eq(kal_reg_ctx(a.fd, &ctx, 16), 0);
	uint64_t faa, cas;
	memcpy(&faa, ctx + 64, 8);
	memcpy(&cas, ctx + 128, 8);
	cr_expect_eq(faa, (uint64_t)NODES * ADDS, "fetch-and-add total %llu, expected %llu",
		     (unsigned long long)faa, (unsigned long long)NODES * ADDS);
	cr_expect_eq(cas, (uint64_t)NODES * ADDS, "CAS increments total %llu, expected %llu",
		     (unsigned long long)cas, (unsigned long long)NODES * ADDS);
}

Test(atomics, cas_returns_the_old_value_and_swaps_only_on_match)
{
	struct h_app a;
	uint64_t old;

	cr_assert_eq(attach(&a, 1), 0);
	/* Word 256 of node 3 starts at 0. */
	cr_assert_eq(rmc_cas_sync(a.wq, a.cq, a.lbuf, 0, 3, 0, 256, 5, 6, &old), 0);
	cr_expect_eq(old, 0, "no match: old value 0");
	cr_assert_eq(rmc_cas_sync(a.wq, a.cq, a.lbuf, 0, 3, 0, 256, 0, 42, &old), 0);
	cr_expect_eq(old, 0);
	cr_assert_eq(rmc_cas_sync(a.wq, a.cq, a.lbuf, 0, 3, 0, 256, 0, 7, &old), 0);
	cr_expect_eq(old, 42, "the swap happened: old value 42");
	cr_assert_eq(rmc_faa_sync(a.wq, a.cq, a.lbuf, 8, 3, 0, 256, 100, &old), 0);
	cr_expect_eq(old, 42);
	cr_assert_eq(rmc_rread_sync(a.wq, a.cq, a.lbuf, 64, 3, 0, 256, 8), 0);
	memcpy(&old, a.lbuf + 64, 8);
	cr_expect_eq(old, 142);
	/* The old value also sits in the local buffer. */
	memcpy(&old, a.lbuf + 8, 8);
	cr_expect_eq(old, 42);
}

Test(atomics, bad_targets_complete_with_errors)
{
	struct h_app a;
	uint64_t old = 0xdead;

	cr_assert_eq(attach(&a, 2), 0);
	cr_expect_eq(rmc_faa_sync(a.wq, a.cq, a.lbuf, 0, 1, 0, 12, 1, &old), -EINVAL, "misaligned");
	cr_expect_eq(a.wq->q[(a.wq->head + a.wq->depth - 1) % a.wq->depth].status, RMC_ERR_ALIGN);
	cr_expect_eq(old, 0xdead, "a failed atomic must not report an old value");
	cr_expect_eq(rmc_cas_sync(a.wq, a.cq, a.lbuf, 0, 1, 0, 16 * 4096, 0, 1, &old), -ERANGE,
		     "past the end of the context");
	cr_expect_eq(rmc_cas_sync(a.wq, a.cq, a.lbuf, 0, 9, 0, 0, 0, 1, &old), -EHOSTUNREACH,
		     "no such node");
	cr_expect_eq(rmc_faa_sync(a.wq, a.cq, a.lbuf, 4093, 1, 0, 0, 1, &old), -EFAULT,
		     "old value would not fit the local buffer");
}

Test(atomics, contexts_have_their_own_sizes)
{
	struct h_app a;
	uint8_t *c1;

	cr_assert_eq(attach(&a, 0), 0);
	/* Context 1 is 2 pages. */
	cr_expect_eq(kal_reg_ctx_id(a.fd, 1, &c1, 3), -ENOSPC);
	cr_assert_eq(kal_reg_ctx_id(a.fd, 1, &c1, 2), 0);
	cr_expect_eq(kal_reg_ctx_id(a.fd, 2, &c1, 1), -ENOENT, "no context 2");
	memset(a.lbuf, 0x5a, 4096);
	cr_assert_eq(rmc_rwrite_sync(a.wq, a.cq, a.lbuf, 0, 1, 1, 8192 - 64, 64), 0,
		     "the last 64 bytes of context 1 of node 1");
	cr_expect_eq(rmc_rwrite_sync(a.wq, a.cq, a.lbuf, 0, 1, 1, 8192, 64), -ERANGE,
		     "past context 1's end");
	cr_expect_eq(rmc_rread_sync(a.wq, a.cq, a.lbuf, 0, 1, 2, 0, 64), -ENOENT,
		     "context 2 does not exist");
	/* Context 0 is larger: the same offset is fine there. */
	cr_expect_eq(rmc_rwrite_sync(a.wq, a.cq, a.lbuf, 0, 1, 0, 8192, 64), 0);
	/* Contexts are separate memory. */
	memset(a.lbuf, 0, 128);
	cr_assert_eq(rmc_rread_sync(a.wq, a.cq, a.lbuf, 0, 1, 0, 8192 - 64, 64), 0);
	cr_expect_eq(a.lbuf[0], 0, "context 0 got context 1's bytes");
}

/* ---- overlapping reads and writes of one remote region ---------------- */

#define OVERLAP_ROUNDS 400
#define OVERLAP_LEN 4096

static int overlap_writer(void *arg)
{
	unsigned node = (unsigned)(uintptr_t)arg;
	struct h_app a;

	if (attach(&a, node))
		return 1;
	for (int i = 0; i < OVERLAP_ROUNDS; i++) {
		/* Every byte of a block names its writer and round: 0x10 * node + i % 8. */
		memset(a.lbuf, (int)(0x10 * node + (unsigned)i % 8), OVERLAP_LEN);
		int r = rmc_rwrite_sync(a.wq, a.cq, a.lbuf, 0, 0, 0, 8192, OVERLAP_LEN);
		CHILD_CHECK(r == 0, "write %d: %s", i, strerror(-r));
	}
	kal_close(a.fd);
	return 0;
}

static int valid_byte(uint8_t b)
{
	/* Zero (never written), or one of the writers' (nodes 1 and 2) values. */
	return b == 0 || ((b >> 4) >= 1 && (b >> 4) <= 2 && (b & 0xf) < 8);
}

static int overlap_reader(void *arg)
{
	struct h_app a;

	(void)arg;
	if (attach(&a, 3))
		return 1;
	for (int i = 0; i < OVERLAP_ROUNDS; i++) {
		memset(a.lbuf, 0xee, OVERLAP_LEN);
		int r = rmc_rread_sync(a.wq, a.cq, a.lbuf, 0, 0, 0, 8192, OVERLAP_LEN);
		CHILD_CHECK(r == 0, "read %d: %s", i, strerror(-r));
		for (int j = 0; j < OVERLAP_LEN; j++)
			CHILD_CHECK(valid_byte(a.lbuf[j]),
				    "read %d: byte %d is 0x%02x, which no one wrote", i, j,
				    a.lbuf[j]);
	}
	kal_close(a.fd);
	return 0;
}

Test(atomics, overlapping_reads_and_writes_of_one_region)
{
	pid_t p[3];
	struct h_app a;
	uint8_t *ctx;

	/* Nodes 1 and 2 are served by different RMC threads: their writes to
	 * the same bytes of node 0 really run at the same time, while node 3
	 * reads them.  Every request must complete, and every byte read or
	 * left behind must be one somebody wrote (no tearing below a byte,
	 * no stray memory). */
	p[0] = h_fork(overlap_writer, (void *)(uintptr_t)1);
	p[1] = h_fork(overlap_writer, (void *)(uintptr_t)2);
	p[2] = h_fork(overlap_reader, NULL);
	h_join(p, 3, 60000, "overlap process");
	cr_assert_eq(attach(&a, 0), 0);
	cr_assert_eq(kal_reg_ctx(a.fd, &ctx, 16), 0);
	for (int j = 0; j < OVERLAP_LEN; j++)
		cr_assert(valid_byte(ctx[8192 + j]) && ctx[8192 + j] != 0,
			  "byte %d of the region is 0x%02x", j, ctx[8192 + j]);
	/* The bytes around the region are untouched. */
	cr_expect_eq(ctx[8191], 0);
	cr_expect_eq(ctx[8192 + OVERLAP_LEN], 0);
}
