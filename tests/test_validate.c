/* SPDX-License-Identifier: MIT */
/*
 * Validation of WQ entries: each rule refuses its bad entry with its own
 * status and moves no byte; the boundaries that are allowed work.  Every
 * case goes both through rmcd_validate() directly and through the whole RMC
 * loop (post, poll, completion), for reads and for writes.
 */
#include "unit.h"

#define NODES 3
#define CTX_SIZE (64 * 1024)
#define MAX_XFER (32 * 1024)
#define LBUF_SIZE (64 * 1024)
#define CANARY 0xa5

static struct unit U;

static void init(void)
{
	struct unit_params p = { .nodes = NODES,
				 .ctx_size = CTX_SIZE,
				 .queue_depth = 16,
				 .max_transfer = MAX_XFER,
				 .lbuf_size = LBUF_SIZE,
				 .ctx_per_node = 2 };
	unit_setup(&U, &p);
}

static void fini(void)
{
	unit_teardown(&U);
}

TestSuite(validate, .init = init, .fini = fini, .timeout = 60);

static void canary_all(void)
{
	for (uint32_t n = 0; n < NODES; n++)
		for (uint32_t k = 0; k < U.nodes[n].n_ctx; k++)
			memset(U.nodes[n].ctx[k].base, CANARY, CTX_SIZE);
	memset(U.lbuf, CANARY, LBUF_SIZE);
}

static void assert_untouched(const char *what)
{
	for (uint32_t n = 0; n < NODES; n++)
		for (uint32_t k = 0; k < U.nodes[n].n_ctx; k++) {
			int64_t bad = all_bytes(U.nodes[n].ctx[k].base, CTX_SIZE, CANARY);
			cr_assert_eq(bad, -1, "%s: node %u context %u byte %lld was modified", what,
				     n, k, (long long)bad);
		}
	int64_t bad = all_bytes(U.lbuf, LBUF_SIZE, CANARY);
	cr_assert_eq(bad, -1, "%s: local buffer byte %lld was modified", what, (long long)bad);
}

/* A well-formed entry: 64 bytes between lbuf[0] and node 1's context 0. */
static wq_entry_t good_entry(uint8_t op)
{
	wq_entry_t e = { 0 };
	e.op = op;
	e.nid = 1;
	e.cid = 0;
	e.buf_addr = (uint64_t)(uintptr_t)U.lbuf;
	e.buf_offset = 0;
	e.offset = 0;
	e.length = 64;
	return e;
}

static uint64_t lbuf_addr(int64_t delta)
{
	return (uint64_t)(uintptr_t)U.lbuf + (uint64_t)delta;
}

/* Checks that e is refused with status want, for the op it has (and, when
 * it is a read or a write, for the other one too). */
static void expect_refused(wq_entry_t e, uint8_t want, const char *what)
{
	uint8_t ops[2] = { e.op, 0 };
	int nops = 1;

	if (e.op == RMC_OP_READ || e.op == RMC_OP_WRITE) {
		ops[1] = e.op == RMC_OP_READ ? RMC_OP_WRITE : RMC_OP_READ;
		nops = 2;
	}
	for (int k = 0; k < nops; k++) {
		struct rmcd_xfer x, x0;
		struct record rec = { 0 };
		uint64_t errors = U.rmc.errors;

		e.op = ops[k];
		memset(&x, 0x5a, sizeof(x));
		memcpy(&x0, &x, sizeof(x));
		uint8_t st = rmcd_validate(&U.d, U.qp, &e, &x);
		cr_assert_eq(st, want, "%s (op %c): rmcd_validate says %s, expected %s", what, e.op,
			     rmc_status_str(st), rmc_status_str(want));
		cr_assert_eq(memcmp(&x, &x0, sizeof(x)), 0, "%s: a refused entry filled the xfer",
			     what);

		canary_all();
		int tid = post_raw(U.wq, &e);
		cr_assert_geq(tid, 0);
		cr_assert_eq(unit_poll(&U), 1, "%s: the RMC did not take the entry", what);
		cr_assert_eq(rmc_drain_cq(U.wq, U.cq, record_cb, &rec), 1,
			     "%s: a refused request must still complete", what);
		cr_assert_eq(rec.tid[0], tid);
		cr_assert_eq(rec.status[0], want, "%s (op %c): completion says %s, expected %s",
			     what, e.op, rmc_status_str(rec.status[0]), rmc_status_str(want));
		cr_assert_eq(U.wq->q[tid].status, want);
		cr_assert_eq(U.wq->q[tid].valid, 0);
		cr_assert_eq(U.rmc.errors, errors + 1, "%s: not counted as refused", what);
		assert_untouched(what);
	}
}

Test(validate, bad_op)
{
	wq_entry_t e = good_entry('x');
	expect_refused(e, RMC_ERR_OP, "op 'x'");
	e.op = 0;
	expect_refused(e, RMC_ERR_OP, "op 0");
	e.op = 'R';
	expect_refused(e, RMC_ERR_OP, "op 'R'");
}

Test(validate, nid_out_of_range)
{
	wq_entry_t e = good_entry(RMC_OP_READ);
	e.nid = NODES;
	expect_refused(e, RMC_ERR_NID, "nid == nodes");
	e.nid = 0xffff;
	expect_refused(e, RMC_ERR_NID, "nid 0xffff");
}

Test(validate, cid_out_of_range)
{
	wq_entry_t e = good_entry(RMC_OP_READ);
	e.cid = 2; /* each node has contexts 0 and 1 */
	expect_refused(e, RMC_ERR_CID, "cid == n_ctx");
	e.cid = 255;
	expect_refused(e, RMC_ERR_CID, "cid 255");
}

Test(validate, length_zero)
{
	wq_entry_t e = good_entry(RMC_OP_READ);
	e.length = 0;
	expect_refused(e, RMC_ERR_LENGTH, "length 0");
}

Test(validate, length_above_max_transfer)
{
	wq_entry_t e = good_entry(RMC_OP_READ);
	e.length = MAX_XFER + 1;
	expect_refused(e, RMC_ERR_LENGTH, "max_transfer + 1");
	e.length = UINT64_MAX;
	expect_refused(e, RMC_ERR_LENGTH, "UINT64_MAX");
}

Test(validate, offset_past_context_end)
{
	wq_entry_t e = good_entry(RMC_OP_READ);
	e.offset = CTX_SIZE;
	expect_refused(e, RMC_ERR_CTX_RANGE, "offset == context size");
	e.offset = CTX_SIZE + 4096;
	expect_refused(e, RMC_ERR_CTX_RANGE, "offset past the end");
	e.offset = UINT64_MAX;
	expect_refused(e, RMC_ERR_CTX_RANGE, "offset UINT64_MAX");
}

Test(validate, offset_plus_length_overflows)
{
	/* offset + length wraps round to 64: a naive end check passes. */
	wq_entry_t e = good_entry(RMC_OP_READ);
	e.offset = UINT64_MAX - 63;
	e.length = 128;
	expect_refused(e, RMC_ERR_CTX_RANGE, "offset + length wraps");
	e.offset = UINT64_MAX - (MAX_XFER - 2);
	e.length = MAX_XFER;
	expect_refused(e, RMC_ERR_CTX_RANGE, "offset + max_transfer wraps");
	/* With no transfer limit to stop it first, a length that makes the
	 * sum wrap round to a small number. */
	U.d.max_transfer = UINT64_MAX;
	e.offset = 64;
	e.length = UINT64_MAX - 32;
	expect_refused(e, RMC_ERR_CTX_RANGE, "length wraps offset + length");
}

Test(validate, one_byte_past_context_end)
{
	wq_entry_t e = good_entry(RMC_OP_READ);
	e.offset = CTX_SIZE - 64 + 1;
	e.length = 64;
	expect_refused(e, RMC_ERR_CTX_RANGE, "64 bytes ending one past the context");
	e.offset = CTX_SIZE - MAX_XFER + 1;
	e.length = MAX_XFER;
	expect_refused(e, RMC_ERR_CTX_RANGE, "max_transfer ending one past the context");
	e.cid = 1;
	e.nid = 2;
	e.offset = CTX_SIZE - 99;
	e.length = 100;
	expect_refused(e, RMC_ERR_CTX_RANGE, "node 2 context 1, one past the end");
}

Test(validate, buf_addr_not_registered)
{
	wq_entry_t e = good_entry(RMC_OP_READ);
	e.buf_addr = lbuf_addr(LBUF_SIZE);
	expect_refused(e, RMC_ERR_BUF, "one past the buffer");
	e.buf_addr = lbuf_addr(-1);
	expect_refused(e, RMC_ERR_BUF, "one before the buffer");
	e.buf_addr = 0;
	expect_refused(e, RMC_ERR_BUF, "NULL");
	e.buf_addr = UINT64_MAX;
	expect_refused(e, RMC_ERR_BUF, "UINT64_MAX");
	/* rmcd's own mapping of the buffer is not the application's address. */
	e.buf_addr = (uint64_t)(uintptr_t)U.s.lbuff[0].map;
	expect_refused(e, RMC_ERR_BUF, "rmcd's mapping");
}

Test(validate, buf_range_past_buffer_end)
{
	wq_entry_t e = good_entry(RMC_OP_READ);
	e.buf_offset = LBUF_SIZE - 63;
	expect_refused(e, RMC_ERR_BUF_RANGE, "64 bytes ending one past the buffer");
	e.buf_offset = LBUF_SIZE;
	expect_refused(e, RMC_ERR_BUF_RANGE, "buf_offset == buffer size");
	e.buf_offset = LBUF_SIZE + 1;
	expect_refused(e, RMC_ERR_BUF_RANGE, "buf_offset past the buffer");
	e.buf_addr = lbuf_addr(LBUF_SIZE - 32);
	e.buf_offset = 0;
	expect_refused(e, RMC_ERR_BUF_RANGE, "buf_addr inside, length past the end");
	e.buf_addr = lbuf_addr(LBUF_SIZE - 1024);
	e.buf_offset = 1024 - 64 + 1;
	expect_refused(e, RMC_ERR_BUF_RANGE, "buf_addr + buf_offset + length one past");
	e.buf_addr = lbuf_addr(0);
	e.buf_offset = LBUF_SIZE - MAX_XFER + 1;
	e.length = MAX_XFER;
	expect_refused(e, RMC_ERR_BUF_RANGE, "max_transfer one past the buffer");
}

Test(validate, buf_offset_overflows)
{
	wq_entry_t e = good_entry(RMC_OP_READ);
	e.buf_offset = UINT64_MAX - 10;
	expect_refused(e, RMC_ERR_BUF_RANGE, "buf_offset near UINT64_MAX");
	e.buf_offset = UINT64_MAX;
	expect_refused(e, RMC_ERR_BUF_RANGE, "buf_offset UINT64_MAX");
	/* (buf_addr - base) + buf_offset wraps round to 49. */
	e.buf_addr = lbuf_addr(100);
	e.buf_offset = UINT64_MAX - 50;
	expect_refused(e, RMC_ERR_BUF_RANGE, "buf_addr + buf_offset wraps");
	/* buf_offset + length wraps. */
	e.buf_addr = lbuf_addr(0);
	e.buf_offset = UINT64_MAX - 31;
	e.length = 64;
	expect_refused(e, RMC_ERR_BUF_RANGE, "buf_offset + length wraps");
}

/* One transfer that must succeed: fills the source with a pattern and the
 * rest of everything with the canary, runs it, and checks the destination
 * holds the pattern and not a byte around it changed. */
static void expect_ok(wq_entry_t e, const char *what)
{
	struct rmcd_xfer x;
	struct record rec = { 0 };
	uint64_t loc = e.buf_addr - (uint64_t)(uintptr_t)U.lbuf + e.buf_offset;
	uint8_t *remote = U.nodes[e.nid].ctx[e.cid].base;

	cr_assert_eq(rmcd_validate(&U.d, U.qp, &e, &x), RMC_OK, "%s (op %c) was refused", what,
		     e.op);
	cr_assert_eq(x.local, U.s.lbuff[0].map + loc, "%s: wrong local address", what);
	cr_assert_eq(x.offset, e.offset);
	cr_assert_eq(x.length, e.length);
	cr_assert_eq(x.dst, e.nid);
	cr_assert_eq(x.cid, e.cid);
	cr_assert_eq(x.src, 0);

	canary_all();
	if (e.op == RMC_OP_READ)
		pat_fill(remote + e.offset, e.length, 77);
	else
		pat_fill(U.lbuf + loc, e.length, 77);
	int tid = post_raw(U.wq, &e);
	cr_assert_geq(tid, 0);
	cr_assert_eq(unit_poll(&U), 1);
	cr_assert_eq(rmc_drain_cq(U.wq, U.cq, record_cb, &rec), 1);
	cr_assert_eq(rec.status[0], RMC_OK, "%s (op %c): %s", what, e.op,
		     rmc_status_str(rec.status[0]));

	uint8_t *dst = e.op == RMC_OP_READ ? U.lbuf + loc : remote + e.offset;
	uint64_t dst_off = e.op == RMC_OP_READ ? loc : e.offset;
	uint64_t dst_size = e.op == RMC_OP_READ ? (uint64_t)LBUF_SIZE : (uint64_t)CTX_SIZE;
	uint8_t *dst_base = dst - dst_off;
	int64_t bad = pat_check(dst, e.length, 77);
	cr_assert_eq(bad, -1, "%s (op %c): byte %lld did not arrive", what, e.op, (long long)bad);
	cr_assert_eq(all_bytes(dst_base, dst_off, CANARY), -1, "%s: bytes before were touched",
		     what);
	cr_assert_eq(all_bytes(dst + e.length, dst_size - dst_off - e.length, CANARY), -1,
		     "%s: bytes after were touched", what);
}

static void expect_ok_both(wq_entry_t e, const char *what)
{
	e.op = RMC_OP_READ;
	expect_ok(e, what);
	e.op = RMC_OP_WRITE;
	expect_ok(e, what);
}

Test(validate, transfer_ending_at_last_context_byte)
{
	wq_entry_t e = good_entry(RMC_OP_READ);
	e.offset = CTX_SIZE - 64;
	expect_ok_both(e, "64 bytes ending at the last byte");
	e.nid = 2;
	e.cid = 1;
	e.offset = CTX_SIZE - 100;
	e.length = 100;
	e.buf_offset = 4000;
	expect_ok_both(e, "node 2 context 1, 100 bytes ending at the last byte");
}

Test(validate, largest_transfer)
{
	wq_entry_t e = good_entry(RMC_OP_READ);
	e.length = MAX_XFER;
	e.offset = CTX_SIZE - MAX_XFER;
	e.buf_offset = LBUF_SIZE - MAX_XFER;
	expect_ok_both(e, "max_transfer ending at the last byte of both");
	e.offset = 0;
	e.buf_offset = 0;
	e.nid = 0; /* a node may address its own context */
	expect_ok_both(e, "max_transfer at offset 0 of its own node");
}

Test(validate, interior_buf_addr_with_offset)
{
	wq_entry_t e = good_entry(RMC_OP_READ);
	e.buf_addr = lbuf_addr(4096);
	e.buf_offset = 100;
	e.offset = 12345;
	e.length = 777;
	expect_ok_both(e, "buf_addr inside the buffer plus buf_offset");
	e.buf_addr = lbuf_addr(LBUF_SIZE - 1);
	e.buf_offset = 0;
	e.length = 1;
	e.offset = 5;
	expect_ok_both(e, "the last byte of the buffer, raw length 1");
}

/* Bad and good entries interleaved on one QP: each gets its own status and
 * the good ones all move their data. */
Test(validate, keeps_serving_after_bad_requests)
{
	struct record rec = { 0 };
	wq_entry_t bad1 = good_entry(RMC_OP_WRITE), bad2 = good_entry(RMC_OP_READ);
	wq_entry_t g1 = good_entry(RMC_OP_READ), g2 = good_entry(RMC_OP_WRITE);

	canary_all();
	bad1.offset = CTX_SIZE;
	bad2.buf_addr = 0;
	g1.offset = 1024;
	g1.buf_offset = 0;
	g1.length = 256;
	g2.offset = 8192;
	g2.buf_offset = 4096;
	g2.length = 512;
	pat_fill(U.nodes[1].ctx[0].base + 1024, 256, 1);
	pat_fill(U.lbuf + 4096, 512, 2);

	const wq_entry_t *seq[] = { &bad1, &g1, &bad2, &g2 };
	const uint8_t want[] = { RMC_ERR_CTX_RANGE, RMC_OK, RMC_ERR_BUF, RMC_OK };
	for (int i = 0; i < 4; i++)
		cr_assert_eq(post_raw(U.wq, seq[i]), i);
	cr_assert_eq(unit_poll(&U), 4);
	cr_assert_eq(rmc_drain_cq(U.wq, U.cq, record_cb, &rec), 4);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(rec.tid[i], i);
		cr_assert_eq(rec.status[i], want[i], "request %d: %s, expected %s", i,
			     rmc_status_str(rec.status[i]), rmc_status_str(want[i]));
	}
	cr_assert_eq(pat_check(U.lbuf, 256, 1), -1, "the read after a bad write");
	cr_assert_eq(pat_check(U.nodes[1].ctx[0].base + 8192, 512, 2), -1,
		     "the write after a bad read");
	cr_assert_eq(U.rmc.errors, 2);
	cr_assert_eq(U.rmc.served, 4);

	/* And afterwards, through the ordinary API. */
	memset(U.lbuf + 32768, 0, 64);
	int t = rmc_rread_async(U.wq, U.lbuf, 32768, 1, 0, 1024, 64);
	cr_assert_geq(t, 0);
	cr_assert_eq(unit_poll(&U), 1);
	cr_assert_eq(rmc_drain_cq(U.wq, U.cq, NULL, NULL), 1);
	cr_assert_eq(U.wq->q[t].status, RMC_OK);
	cr_assert_eq(pat_check(U.lbuf + 32768, 64, 1), -1);
}

/* Several registered buffers: each address finds its own buffer (the
 * lookup caches the last one it found), and the gap between them none. */
Test(validate, several_local_buffers)
{
	const uint64_t sz2 = 8192;
	int fd;
	uint8_t *map2, *app2;

	cr_assert_eq(core_shm_create("test-lbuff2", sz2, &fd), 0);
	map2 = core_shm_map(fd, sz2);
	app2 = core_shm_map(fd, sz2);
	cr_assert(map2 && app2);
	U.s.lbuff[1].fd = fd;
	U.s.lbuff[1].size = sz2;
	U.s.lbuff[1].map = map2;
	U.s.lbuff[1].app_addr = (uint64_t)(uintptr_t)app2;
	sonuma_smp_store_release(&U.s.n_lbuff, 2u);

	for (int round = 0; round < 3; round++) {
		struct rmcd_xfer x;
		wq_entry_t e = good_entry(RMC_OP_READ);

		e.buf_addr = (uint64_t)(uintptr_t)app2;
		e.buf_offset = sz2 - 64;
		cr_assert_eq(rmcd_validate(&U.d, U.qp, &e, &x), RMC_OK);
		cr_assert_eq(x.local, map2 + sz2 - 64, "the second buffer's mapping");
		e.buf_offset = sz2 - 63;
		cr_assert_eq(rmcd_validate(&U.d, U.qp, &e, &x), RMC_ERR_BUF_RANGE,
			     "the second buffer is smaller than the first");
		e.buf_addr = lbuf_addr(0);
		e.buf_offset = sz2; /* fine in the first, larger buffer */
		cr_assert_eq(rmcd_validate(&U.d, U.qp, &e, &x), RMC_OK);
		cr_assert_eq(x.local, U.s.lbuff[0].map + sz2);
		e.buf_addr = (uint64_t)(uintptr_t)app2 + sz2;
		e.buf_offset = 0;
		uint64_t a = e.buf_addr;
		bool in_first = a >= lbuf_addr(0) && a < lbuf_addr(LBUF_SIZE);
		if (!in_first)
			cr_assert_eq(rmcd_validate(&U.d, U.qp, &e, &x), RMC_ERR_BUF,
				     "one past the second buffer");
	}

	/* Through the loop too: data lands in the second buffer. */
	pat_fill(U.nodes[2].ctx[0].base, 128, 5);
	memset(app2, 0, sz2);
	int t = rmc_rread_async(U.wq, app2, 256, 2, 0, 0, 128);
	cr_assert_geq(t, 0);
	cr_assert_eq(unit_poll(&U), 1);
	cr_assert_eq(rmc_drain_cq(U.wq, U.cq, NULL, NULL), 1);
	cr_assert_eq(U.wq->q[t].status, RMC_OK);
	cr_assert_eq(pat_check(app2 + 256, 128, 5), -1);

	U.s.n_lbuff = 1;
	munmap(map2, sz2);
	munmap(app2, sz2);
	close(fd);
}

/* The library's names and errno equivalents of every status. */
Test(validate, status_names_and_errnos)
{
	static const int err[RMC_STATUS_MAX] = {
		[RMC_OK] = 0,
		[RMC_ERR_OP] = -EINVAL,
		[RMC_ERR_NID] = -EHOSTUNREACH,
		[RMC_ERR_CID] = -ENOENT,
		[RMC_ERR_CTX_RANGE] = -ERANGE,
		[RMC_ERR_BUF] = -EFAULT,
		[RMC_ERR_BUF_RANGE] = -EFAULT,
		[RMC_ERR_LENGTH] = -EMSGSIZE,
		[RMC_ERR_ALIGN] = -EINVAL,
		[RMC_ERR_DEAD] = -ENOTCONN,
		[RMC_ERR_FLUSHED] = -ECANCELED,
		[RMC_ERR_UNREACHABLE] = -EHOSTUNREACH,
		[RMC_ERR_FABRIC] = -EIO,
	};

	for (int s = 0; s < RMC_STATUS_MAX; s++) {
		const char *name = rmc_status_str(s);
		cr_assert_not_null(name);
		cr_assert_str_neq(name, "unknown status", "status %d has no name", s);
		for (int t = 0; t < s; t++)
			cr_assert_str_neq(name, rmc_status_str(t),
					  "statuses %d and %d share a name", s, t);
		cr_assert_eq(rmc_status_errno(s), err[s], "status %d (%s)", s, name);
	}
	cr_assert_str_eq(rmc_status_str(RMC_STATUS_MAX), "unknown status");
	cr_assert_str_eq(rmc_status_str(-1), "unknown status");
	cr_assert_str_eq(rmc_status_str(255), "unknown status");
	cr_assert_eq(rmc_status_errno(RMC_STATUS_MAX), -EIO);
}
