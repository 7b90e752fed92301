/* SPDX-License-Identifier: MIT */
/*
 * sonuma.h: the soNUMA programming interface.
 *
 * Source-compatible with the original soNUMA platform: the same types,
 * fields and calls.  Where the original was silent or unsafe this one does
 * better, and says so here:
 *  - every call returns 0 (or a count) or a negative errno; functions the
 *    original declared void now return int, so old callers still compile;
 *  - a completion carries a status (enum rmc_status, named by
 *    rmc_status_str()); the synchronous calls return -errno for a failed
 *    request, and the asynchronous handler finds the status in
 *    head->status, so a failed request never looks like a success;
 *  - the queues synchronise with acquire/release (sonuma/barrier.h), never
 *    with bare volatile;
 *  - waiting loops notice a dead rmcd and return -ENOTCONN instead of
 *    spinning for ever;
 *  - posting into a slot still in flight returns -EBUSY instead of
 *    overwriting it (call rmc_check_cq() first, as the original asked).
 *
 * Posting and polling are static inline; registration and slow waits are in
 * libsonuma.so.  The header compiles as C11 and as C++17.
 *
 * Two things kept from the original, to know about:
 *  - lengths below 64 bytes are rounded up to 64: a short remote write also
 *    writes the bytes that follow it, up to 64;
 *  - a synchronous call completes in its WQ entry, not in the CQ (see
 *    sonuma/qp.h); while it waits for a free WQ slot it takes the
 *    completions it meets without running a handler (their status is left
 *    in their WQ entries): do not mix synchronous calls with asynchronous
 *    requests in flight on the same queue pair.
 */
#ifndef SONUMA_H
#define SONUMA_H

/* What the original platform's sonuma.h brought in, so that its programs,
 * which call printf, atoi, memset and the like through it alone, compile
 * unchanged. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "sonuma/barrier.h"
#include "sonuma/qp.h"
#include "sonuma/tsc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The original's device name.  kal_open(RMC_DEV) attaches to the node named
 * by $SONUMA_NODE under $SONUMA_RUNDIR; without it, to the only node whose
 * rmcd runs there, else node 0.
 *
 * As on the original platform, a process with one session may pass 0 as
 * the descriptor of every kal_ call (its kal_open returned 0). */
#define RMC_DEV "/dev/rmc"

typedef void(async_handler)(uint8_t tid, wq_entry_t *head, void *owner);

/* What rmcd says about the node an application is attached to. */
struct kal_info {
	uint32_t nid;	/* this node */
	uint32_t nodes; /* nodes in the emulated cluster */
	int32_t numa;	/* NUMA domain of this node */
	uint32_t queue_depth;
	uint64_t context_size; /* bytes */
	uint64_t max_transfer; /* bytes */
	double tsc_hz;	       /* measured or calibrated TSC rate */
	char model[32];	       /* timing model in force */
	uint64_t app_cpus[4];  /* CPUs meant for this node's programs */
	uint64_t nodes_up;     /* bit n: node n can be reached now (n < 64) */
	/* The library's own cost of posting and taking a completion, which
	 * rmcd takes out of every due time (wq_entry_t.due), in ns. */
	double overhead_ns;
};

/* rmcd's counters for the requests of this node (from every application
 * of it since rmcd started). */
struct kal_stats {
	uint64_t requests;
	uint64_t errors; /* refused by validation */
	uint64_t late;	 /* native path slower than the model allowed */
	double late_worst_ns;
	double late_mean_ns;
	double flush_worst_ns; /* worst delay writing a held-back completion */
	double lat_p50_ns;     /* from rmcd's histogram (about 6 % resolution);
				* the latencies are 0 (not measured) where
				* posts carry no time (RMC_WQ_NO_TSTAMP) */
	double lat_p99_ns;
	double lat_mean_ns;
	uint64_t class_min, class_max; /* sizes counted: (class_min, class_max] */
	uint64_t model_count;	       /* requests the timing model gave a due time */
	double model_sum_ns;	       /* sum of those latencies, queueing included:
				* the difference of two readings over the
				* difference of model_count is the mean latency
				* the model asked for in between */
};

/* ---- registration (libsonuma.so) ------------------------------------ */
/* Attaches to a node's rmcd.  kal_name: RMC_DEV or NULL (node from
 * $SONUMA_NODE), or the path of a node socket.  Returns an fd or -errno. */
int kal_open(char *kal_name);
int kal_close(int fd);
int kal_info(int fd, struct kal_info *info);
/* Counters for requests of the size class holding size (0: all sizes). */
int kal_stats(int fd, uint64_t size, struct kal_stats *st);
/* What kal_describe() describes. */
enum kal_describe_what {
	KAL_DESCRIBE_MODEL = 0,	      /* the timing model and its parameters */
	KAL_DESCRIBE_CALIBRATION = 1, /* the calibration in use */
	KAL_DESCRIBE_VERSION = 2,     /* rmcd's version */
};
/* What rmcd runs (enum kal_describe_what).  Returns the length or -errno. */
int kal_describe(int fd, int what, char *buf, size_t len);
/* The latency the model targets for an unloaded request from this node,
 * in ns; returns 0 or -errno. */
int kal_target_ns(int fd, uint8_t op, uint16_t dst, uint64_t size, double *ns);
/* A new queue pair: each call to kal_reg_wq is matched by kal_reg_cq. */
int kal_reg_wq(int fd, rmc_wq_t **wq);
int kal_reg_cq(int fd, rmc_cq_t **cq);
/* A local buffer the RMC may read and write.  With *buff == NULL it is
 * allocated.  A buffer of the application's (*buff != NULL) is registered
 * where it is: with rmc.ko loaded (kmod/), any alignment and allocator,
 * without a copy; without it, a page-aligned buffer is moved into
 * registered memory in place, keeping its contents and address. */
int kal_reg_lbuff(int fd, uint8_t **buff, uint32_t num_pages);
/* Maps this node's context 0 (the first num_pages of it) at *ctx.  With
 * rmc.ko loaded and *ctx != NULL, the program's own memory at *ctx
 * (num_pages pages from there, any alignment) becomes the context instead:
 * the one it replaces is dropped, and the memory stays the node's after
 * the program exits.  (Without the module, *ctx is overwritten, as the
 * original platform did.) */
int kal_reg_ctx(int fd, uint8_t **ctx, uint32_t num_pages);
/* Maps context ctx_id of this node. */
int kal_reg_ctx_id(int fd, uint32_t ctx_id, uint8_t **ctx, uint32_t num_pages);

const char *rmc_status_str(int status);
/* -errno equivalent of a completion status (0 for RMC_OK). */
int rmc_status_errno(int status);

/* Out-of-line part of every wait: after a while spinning, checks that rmcd
 * is alive and lets other threads run (at once when this thread may share
 * its CPU with the RMC: RMC_WQ_SHARED_CPU, or a thread allowed one CPU).
 * Returns 0 to go on or -ENOTCONN. */
int rmc__wait_slow(rmc_wq_t *wq, uint64_t *spins);

/* ---- fast paths -------------------------------------------------------- */

/* Cycles of spinning between two liveness checks. */
#define RMC__SPIN_CHECK 4096
/* Cycles of spinning between two yields of the CPU when the queue pair's
 * RMC thread may share it (RMC_WQ_SHARED_CPU): the completion cannot come
 * while the waiting program holds the CPU the RMC needs. */
#define RMC__SPIN_SHARED 16

/* One step of every waiting loop: every RMC__SPIN_CHECK steps, checks that
 * rmcd is alive (and lets other threads run after a while); on a CPU shared
 * with the RMC, lets it run every RMC__SPIN_SHARED steps.  0 to go on, or
 * -ENOTCONN. */
static inline int rmc__spin(rmc_wq_t *wq, uint64_t *spins)
{
	uint64_t s = ++*spins;

	if (s % RMC__SPIN_CHECK == 0) {
		int r = rmc__wait_slow(wq, spins);
		if (r)
			return r;
	} else if (s % RMC__SPIN_SHARED == 0 && (wq->flags & RMC_WQ_SHARED_CPU)) {
		sched_yield();
		return 0;
	}
	sonuma_cpu_relax();
	return 0;
}

/* The -errno of a completion status: the common case without a call. */
static inline int rmc__status_errno(uint8_t status)
{
	return status == RMC_OK ? 0 : rmc_status_errno(status);
}

/* Fills the WQ head entry and publishes it; returns its index (tid).
 * flags: enum rmc_wqe_flags. */
static inline int rmc__post_entry_f(rmc_wq_t *wq, uint8_t op, uint8_t flags, uint8_t *lbuff_base,
				    uint64_t lbuff_offset, int snid, uint32_t ctx_id,
				    uint64_t ctx_offset, uint64_t length, uint64_t arg0,
				    uint64_t arg1)
{
	uint8_t h = wq->head;
	wq_entry_t *e = &wq->q[h];

	if (snid < 0 || snid > 0xffff || ctx_id > 0xff)
		return -EINVAL;
	if (SONUMA_READ_ONCE(e->valid))
		return -EBUSY;
	e->op = op;
	e->cid = (uint8_t)ctx_id;
	e->nid = (uint16_t)snid;
	e->buf_addr = (uint64_t)(uintptr_t)lbuff_base;
	e->buf_offset = lbuff_offset;
	e->offset = ctx_offset;
	e->length = length;
	e->arg0 = arg0;
	e->arg1 = arg1;
	e->status = RMC_OK;
	e->flags = flags;
	e->valid = 1;
	/* Reading the TSC costs tens of ns on some machines: skip it where
	 * rmcd's model never looks at it. */
	e->t_post = (wq->flags & RMC_WQ_NO_TSTAMP) ? 0 : rmc_rdtsc();
	/* Publishes the entry; pairs with the RMC's load-acquire of e->SR. */
	sonuma_smp_store_release(&e->SR, wq->SR);
	if (++h >= wq->depth) {
		h = 0;
		wq->SR ^= 1;
	}
	wq->head = h;
	return (int)(uint8_t)(h == 0 ? wq->depth - 1 : h - 1);
}

static inline int rmc__post_entry(rmc_wq_t *wq, uint8_t op, uint8_t *lbuff_base,
				  uint64_t lbuff_offset, int snid, uint32_t ctx_id,
				  uint64_t ctx_offset, uint64_t length, uint64_t arg0,
				  uint64_t arg1)
{
	return rmc__post_entry_f(wq, op, 0, lbuff_base, lbuff_offset, snid, ctx_id, ctx_offset,
				 length, arg0, arg1);
}

static inline int rmc__post(rmc_wq_t *wq, uint8_t op, uint8_t *lbuff_base, uint64_t lbuff_offset,
			    int snid, uint32_t ctx_id, uint64_t ctx_offset, uint64_t length)
{
	return rmc__post_entry(wq, op, lbuff_base, lbuff_offset, snid, ctx_id, ctx_offset,
			       length < RMC_MIN_LENGTH ? RMC_MIN_LENGTH : length, 0, 0);
}

/* Posts an atomic on the 8-byte word at ctx_offset (a multiple of 8). */
static inline int rmc__post_atomic(rmc_wq_t *wq, uint8_t op, uint8_t *lbuff_base,
				   uint64_t lbuff_offset, int snid, uint32_t ctx_id,
				   uint64_t ctx_offset, uint64_t arg0, uint64_t arg1)
{
	return rmc__post_entry(wq, op, lbuff_base, lbuff_offset, snid, ctx_id, ctx_offset,
			       RMC_ATOMIC_LENGTH, arg0, arg1);
}

/* Takes one completion if there is one: returns its tid, or -EAGAIN.  A
 * completion written ahead of its due time is not visible before it: with
 * wait set, the call spins on the TSC until then (at most the RMC's lead,
 * a microsecond or two), otherwise it leaves the entry for a later call.
 * *clk is a reading of the TSC taken earlier (0: none): a completion due
 * before it needs no new one, so a loop taking several completions reads
 * the clock about once. */
static inline int rmc__cq_take_clk(rmc_wq_t *wq, rmc_cq_t *cq, int wait, uint64_t *clk)
{
	uint8_t t = cq->tail;
	cq_entry_t *c = &cq->q[t];
	uint8_t tid, st;

	/* Pairs with the RMC's store-release of c->SR. */
	if (sonuma_smp_load_acquire(&c->SR) != cq->SR)
		return -EAGAIN;
	uint64_t due = c->due;
	if (due && (int64_t)(*clk - due) < 0 && (int64_t)((*clk = rmc_rdtsc()) - due) < 0) {
		if (!wait)
			return -EAGAIN;
		while ((int64_t)((*clk = rmc_rdtsc()) - due) < 0)
			;
	}
	tid = c->tid;
	st = c->status;
	if (++t >= cq->depth) {
		t = 0;
		cq->SR ^= 1;
	}
	cq->tail = t;
	if (tid >= MAX_NUM_WQ)
		return -EPROTO; /* cannot come from a sane rmcd */
	wq->q[tid].status = st;
	wq->q[tid].due = due;
	SONUMA_WRITE_ONCE(wq->q[tid].valid, 0);
	/* Frees a CQ slot; pairs with the RMC's load-acquire of consumed. */
	sonuma_smp_store_release(&cq->consumed, cq->consumed + 1);
	return tid;
}

static inline int rmc__cq_take(rmc_wq_t *wq, rmc_cq_t *cq, int wait)
{
	uint64_t clk = 0;

	return rmc__cq_take_clk(wq, cq, wait, &clk);
}

static inline int rmc__cq_pop(rmc_wq_t *wq, rmc_cq_t *cq)
{
	return rmc__cq_take(wq, cq, 0);
}

/* Waits for WQ entry tid, posted with RMC_WQE_INPLACE, to complete in place
 * (sonuma/qp.h): the entry's cache line goes to the RMC and comes back, and
 * nothing else moves.  Returns 0 or -errno. */
static inline int rmc__wait_inplace(rmc_wq_t *wq, rmc_cq_t *cq, int tid)
{
	wq_entry_t *e = &wq->q[tid];
	uint64_t spins = 0;

	/* Pairs with the RMC's store-release of e->valid.  No need to take
	 * CQ entries here: every unconsumed completion holds a WQ slot, so
	 * the RMC, which takes a request while fewer than depth are
	 * unconsumed, always has room for this one. */
	while (sonuma_smp_load_acquire(&e->valid)) {
		int r = rmc__spin(wq, &spins);
		if (r)
			return r;
	}
	uint64_t due = e->due;
	uint8_t st = e->status;
	if (due) {
		/* The first reading after the completion arrived says how late
		 * this program saw it (the clock is read here anyway). */
		uint64_t now = rmc_rdtsc();
		if (wq->late_slack_tsc) {
			SONUMA_WRITE_ONCE(cq->seen, cq->seen + 1);
			if ((int64_t)(now - due) > (int64_t)wq->late_slack_tsc)
				SONUMA_WRITE_ONCE(cq->seen_late, cq->seen_late + 1);
		}
		while ((int64_t)(now - due) < 0)
			now = rmc_rdtsc();
	}
	/* Counts as a completion taken; pairs with the RMC's load-acquire. */
	sonuma_smp_store_release(&cq->consumed, cq->consumed + 1);
	return rmc__status_errno(st);
}

/* Waits for the WQ head slot to be free, as the original did, taking the
 * completions met on the way without a handler.  0 or -ENOTCONN. */
static inline int rmc__wait_head(rmc_wq_t *wq, rmc_cq_t *cq)
{
	uint64_t spins = 0, clk = 0;

	while (SONUMA_READ_ONCE(wq->q[wq->head].valid)) {
		if (rmc__cq_take_clk(wq, cq, 0, &clk) >= 0)
			continue;
		int r = rmc__spin(wq, &spins);
		if (r)
			return r;
	}
	return 0;
}

static inline int rmc__sync(rmc_wq_t *wq, rmc_cq_t *cq, uint8_t op, uint8_t *lbuff_base,
			    uint64_t lbuff_offset, int snid, uint32_t ctx_id, uint64_t ctx_offset,
			    uint64_t length)
{
	int tid = rmc__wait_head(wq, cq);

	if (tid)
		return tid;
	tid = rmc__post_entry_f(wq, op, RMC_WQE_INPLACE, lbuff_base, lbuff_offset, snid, ctx_id,
				ctx_offset, length < RMC_MIN_LENGTH ? RMC_MIN_LENGTH : length, 0,
				0);
	if (tid < 0)
		return tid;
	return rmc__wait_inplace(wq, cq, tid);
}

/* Synchronous remote read: context ctx_id of node snid at ctx_offset into
 * lbuff_base + lbuff_offset.  0, or -errno with the status in the entry. */
static inline int rmc_rread_sync(rmc_wq_t *wq, rmc_cq_t *cq, uint8_t *lbuff_base,
				 uint64_t lbuff_offset, int snid, uint32_t ctx_id,
				 uint64_t ctx_offset, uint64_t length)
{
	return rmc__sync(wq, cq, RMC_OP_READ, lbuff_base, lbuff_offset, snid, ctx_id, ctx_offset,
			 length);
}

static inline int rmc_rwrite_sync(rmc_wq_t *wq, rmc_cq_t *cq, uint8_t *lbuff_base,
				  uint64_t lbuff_offset, int snid, uint32_t ctx_id,
				  uint64_t ctx_offset, uint64_t length)
{
	return rmc__sync(wq, cq, RMC_OP_WRITE, lbuff_base, lbuff_offset, snid, ctx_id, ctx_offset,
			 length);
}

/* Asynchronous: posts and returns the WQ index (tid) of the request, or
 * -EBUSY when the head slot is still in flight (call rmc_check_cq first). */
static inline int rmc_rread_async(rmc_wq_t *wq, uint8_t *lbuff_base, uint64_t lbuff_offset,
				  int snid, uint32_t ctx_id, uint64_t ctx_offset, uint64_t length)
{
	return rmc__post(wq, RMC_OP_READ, lbuff_base, lbuff_offset, snid, ctx_id, ctx_offset,
			 length);
}

static inline int rmc_rwrite_async(rmc_wq_t *wq, uint8_t *lbuff_base, uint64_t lbuff_offset,
				   int snid, uint32_t ctx_id, uint64_t ctx_offset, uint64_t length)
{
	return rmc__post(wq, RMC_OP_WRITE, lbuff_base, lbuff_offset, snid, ctx_id, ctx_offset,
			 length);
}

/* Remote atomics on the 8-byte-aligned word at ctx_offset of context ctx_id
 * of node snid, atomic against every other RMC thread and node: the value
 * found there (the old value) is written to lbuff_base + lbuff_offset.
 * Compare-and-swap stores desired when the word equals expected; the caller
 * sees whether it did by comparing the old value with expected.
 * The _async forms return the WQ index (tid) like rmc_rread_async. */
static inline int rmc_cas_async(rmc_wq_t *wq, uint8_t *lbuff_base, uint64_t lbuff_offset, int snid,
				uint32_t ctx_id, uint64_t ctx_offset, uint64_t expected,
				uint64_t desired)
{
	return rmc__post_atomic(wq, RMC_OP_CAS, lbuff_base, lbuff_offset, snid, ctx_id, ctx_offset,
				expected, desired);
}

static inline int rmc_faa_async(rmc_wq_t *wq, uint8_t *lbuff_base, uint64_t lbuff_offset, int snid,
				uint32_t ctx_id, uint64_t ctx_offset, uint64_t add)
{
	return rmc__post_atomic(wq, RMC_OP_FAA, lbuff_base, lbuff_offset, snid, ctx_id, ctx_offset,
				add, 0);
}

static inline int rmc__atomic_sync(rmc_wq_t *wq, rmc_cq_t *cq, uint8_t op, uint8_t *lbuff_base,
				   uint64_t lbuff_offset, int snid, uint32_t ctx_id,
				   uint64_t ctx_offset, uint64_t arg0, uint64_t arg1, uint64_t *old)
{
	int tid, r = rmc__wait_head(wq, cq);

	if (r)
		return r;
	tid = rmc__post_entry_f(wq, op, RMC_WQE_INPLACE, lbuff_base, lbuff_offset, snid, ctx_id,
				ctx_offset, RMC_ATOMIC_LENGTH, arg0, arg1);
	if (tid < 0)
		return tid;
	r = rmc__wait_inplace(wq, cq, tid);
	if (!r && old)
		__builtin_memcpy(old, lbuff_base + lbuff_offset, sizeof(*old));
	return r;
}

/* Synchronous forms: 0 or -errno; *old (when not NULL) gets the old value. */
static inline int rmc_cas_sync(rmc_wq_t *wq, rmc_cq_t *cq, uint8_t *lbuff_base,
			       uint64_t lbuff_offset, int snid, uint32_t ctx_id,
			       uint64_t ctx_offset, uint64_t expected, uint64_t desired,
			       uint64_t *old)
{
	return rmc__atomic_sync(wq, cq, RMC_OP_CAS, lbuff_base, lbuff_offset, snid, ctx_id,
				ctx_offset, expected, desired, old);
}

static inline int rmc_faa_sync(rmc_wq_t *wq, rmc_cq_t *cq, uint8_t *lbuff_base,
			       uint64_t lbuff_offset, int snid, uint32_t ctx_id,
			       uint64_t ctx_offset, uint64_t add, uint64_t *old)
{
	return rmc__atomic_sync(wq, cq, RMC_OP_FAA, lbuff_base, lbuff_offset, snid, ctx_id,
				ctx_offset, add, 0, old);
}

/* Runs handler for each completion until the WQ head slot is free.
 * Returns the number of completions handled, or -ENOTCONN. */
static inline int rmc_check_cq(rmc_wq_t *wq, rmc_cq_t *cq, async_handler *handler, void *owner)
{
	uint64_t spins = 0, clk = 0;
	int n = 0;

	while (SONUMA_READ_ONCE(wq->q[wq->head].valid)) {
		int tid = rmc__cq_take_clk(wq, cq, 1, &clk);
		if (tid >= 0) {
			n++;
			if (handler)
				handler((uint8_t)tid, &wq->q[tid], owner);
			continue;
		}
		int r = rmc__spin(wq, &spins);
		if (r)
			return r;
	}
	return n;
}

/* Runs handler for what has completed and returns how many (never waits). */
static inline int rmc_drain_cq(rmc_wq_t *wq, rmc_cq_t *cq, async_handler *handler, void *owner)
{
	uint64_t clk = 0;
	int n = 0, tid;

	while ((tid = rmc__cq_take_clk(wq, cq, 0, &clk)) >= 0) {
		n++;
		if (handler)
			handler((uint8_t)tid, &wq->q[tid], owner);
	}
	return n;
}

/* Waits for at least one completion, then runs handler for it and for
 * every other one already visible.  Returns how many, or -ENOTCONN. */
static inline int rmc_wait_cq(rmc_wq_t *wq, rmc_cq_t *cq, async_handler *handler, void *owner)
{
	uint64_t spins = 0, clk = 0;
	int n = 0, tid;

	while ((tid = rmc__cq_take_clk(wq, cq, 1, &clk)) < 0) {
		int r = rmc__spin(wq, &spins);
		if (r)
			return r;
	}
	do {
		n++;
		if (handler)
			handler((uint8_t)tid, &wq->q[tid], owner);
	} while ((tid = rmc__cq_take_clk(wq, cq, 0, &clk)) >= 0);
	return n;
}

/* Requests of this QP still in flight. */
static inline int rmc_outstanding(const rmc_wq_t *wq)
{
	int n = 0;
	for (unsigned i = 0; i < wq->depth; i++)
		n += SONUMA_READ_ONCE(wq->q[i].valid) != 0;
	return n;
}

#ifdef __cplusplus
}

/* C++: kal_open(RMC_DEV) with the original's char * signature would
 * convert a string literal to char *; this overload takes it as it is. */
static inline int kal_open(const char *kal_name)
{
	return kal_open(const_cast<char *>(kal_name));
}
#endif

#endif /* SONUMA_H */
