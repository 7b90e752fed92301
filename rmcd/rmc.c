/* SPDX-License-Identifier: MIT */
/*
 * The RMC polling loop.  Each RMC thread owns a set of queue pairs: it takes
 * new WQ entries, validates them, has the fabric move the bytes, asks the
 * timing model when the completion is due, and writes the CQ entry at
 * due - notify, so that the application sees it at the due time.
 */

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "rmcd.h"
#include "validate.h"
#include "sonuma/barrier.h"
#include "sonuma/tsc.h"

static inline void cq_write(struct rmcd_qp *qp, uint8_t tid, uint8_t status, uint64_t due)
{
	cq_entry_t *c = &qp->cq->q[qp->cq_head];

	c->tid = tid;
	c->status = status;
	c->due = due;
	/* Publishes the completion; pairs with the application's
	 * load-acquire of c->SR in rmc__cq_pop(). */
	sonuma_smp_store_release(&c->SR, qp->cq_phase);
	if (++qp->cq_head >= qp->depth) {
		qp->cq_head = 0;
		qp->cq_phase ^= 1;
	}
	qp->completed++;
}

/* Room for another request without overwriting an unconsumed completion. */
static inline bool qp_has_room(struct rmcd_qp *qp)
{
	if (qp->picked - qp->consumed < qp->depth)
		return true;
	/* Pairs with the application's store-release of cq->consumed.  A
	 * value beyond what we wrote is a lie: clamp it. */
	uint32_t c = sonuma_smp_load_acquire(&qp->cq->consumed);
	if (c - qp->consumed > qp->completed - qp->consumed)
		c = qp->completed;
	qp->consumed = c;
	return qp->picked - qp->consumed < qp->depth;
}

/* Completes an RMC_WQE_INPLACE entry in the entry itself (sonuma/qp.h). */
static inline void inplace_write(struct rmcd_qp *qp, uint8_t tid, uint8_t status, uint64_t due)
{
	wq_entry_t *e = &qp->wq->q[tid];

	SONUMA_WRITE_ONCE(e->status, status);
	SONUMA_WRITE_ONCE(e->due, due);
	/* Publishes it; pairs with the application's load-acquire of valid
	 * in rmc__wait_inplace(). */
	sonuma_smp_store_release(&e->valid, 0);
	qp->completed++;
}

/* Counts a completion written at TSC t; due is the time before which the
 * application does not see it (0: none). */
static inline void account(struct rmcd_qp *qp, unsigned cls, uint64_t t_post, uint64_t t,
			   uint64_t due)
{
	struct rmcd_cls_stats *st = &qp->stats[cls];
	uint64_t seen = t + qp->notify_tsc > due ? t + qp->notify_tsc : due;
	uint64_t lat = seen - t_post;

	stat_add(&st->requests, 1);
	stat_add(&st->timed, 1);
	stat_add(&st->lat_sum_tsc, lat);
	stat_add(&st->hist[rmcd_hist_bucket(lat)], 1);
}

/* Writes a completion and counts it; t is the TSC at the write. */
static inline void complete(struct rmcd_qp *qp, uint8_t tid, bool inplace, uint8_t status,
			    unsigned cls, uint64_t t_post, uint64_t t, uint64_t due)
{
	if (inplace)
		inplace_write(qp, tid, status, due);
	else
		cq_write(qp, tid, status, due);
	account(qp, cls, t_post, t, due);
}

/* A post time from the future or from long ago (or none: RMC_WQ_NO_TSTAMP)
 * cannot be the application's honest stamp: use the pickup time. */
static inline uint64_t sane_post(const struct rmcd *d, uint64_t t_post, uint64_t now)
{
	return t_post > now || now - t_post > (uint64_t)d->tsc_hz ? now : t_post;
}

/* Completions with nothing to hold back are written together at the end of
 * a burst: a CQ line is then written whole, once, instead of going back and
 * forth between the RMC writing its next entry and the application reading
 * the last. */
struct stage {
	unsigned n;
	struct {
		uint8_t tid, status;
	} e[RMCD_BURST];
};

/* Takes the next WQ entry of qp into *e (one copy: the application may
 * scribble on the slot from now on, but validation and the transfer only
 * use this copy).  false when there is none. */
static inline bool wq_take(struct rmcd_qp *qp, wq_entry_t *e, uint8_t *tid)
{
	wq_entry_t *src = &qp->wq->q[qp->wq_tail];

	/* Pairs with the application's store-release of e->SR. */
	if (sonuma_smp_load_acquire(&src->SR) != qp->wq_phase)
		return false;
	memcpy(e, src, sizeof(*e));
	*tid = qp->wq_tail;
	if (++qp->wq_tail >= qp->depth) {
		qp->wq_tail = 0;
		qp->wq_phase ^= 1;
	}
	qp->picked++;
	return true;
}

static inline void count_error(struct rmcd_rmc *m, struct rmcd_qp *qp, unsigned cls)
{
	SONUMA_WRITE_ONCE(m->errors, m->errors + 1);
	stat_add(&qp->stats[cls].errors, 1);
}

/* Counts lateness: the completion written at now cannot reach the
 * application by due any more (it goes out at once regardless). */
static inline void count_late(struct rmcd *d, struct rmcd_qp *qp, unsigned cls, uint64_t now,
			      uint64_t reach)
{
	struct rmcd_cls_stats *cs = &qp->stats[cls];

	if (reach < now && now - reach > d->late_slack_tsc) {
		stat_add(&cs->late, 1);
		stat_add(&cs->late_sum_tsc, now - reach);
		stat_max(&cs->late_worst_tsc, now - reach);
	}
}

/* A request with nothing to hold back (no deadline, or failed): an
 * in-place completion goes out at once, a CQ one with the rest of the
 * burst; the clock and the counters come after, off a synchronous
 * request's path. */
static inline void complete_now(struct rmcd_rmc *m, struct rmcd_qp *qp, struct stage *sg,
				uint8_t tid, bool inplace, uint8_t st, unsigned cls,
				uint64_t t_post)
{
	if (inplace) {
		inplace_write(qp, tid, st, 0);
	} else if (sg) {
		sg->e[sg->n].tid = tid;
		sg->e[sg->n++].status = st;
	} else {
		cq_write(qp, tid, st, 0);
	}
	if (st != RMC_OK)
		count_error(m, qp, cls);
	if (!t_post) {
		/* No post time (RMC_WQ_NO_TSTAMP): the request is counted, its
		 * latency cannot be, and the clock, which costs more than the
		 * rest of the request on some machines, is not read at all. */
		stat_add(&qp->stats[cls].requests, 1);
		return;
	}
	uint64_t now = rmc_rdtsc();
	account(qp, cls, sane_post(m->d, t_post, now), now, 0);
}

/* Asks the model when a request is due, counts what it asked for, and
 * takes the library's own overhead out of it. */
static inline uint64_t model_due(struct rmcd *d, struct rmcd_qp *qp, uint8_t op, uint16_t dst,
				 uint64_t size, unsigned cls, uint64_t t_post, uint64_t now)
{
	struct tm_req req = {
		.op = op, .src = qp->src, .dst = dst, .size = size, .t_post = t_post, .t_pickup = now
	};
	uint64_t due = d->model->due(d->model_state, &req);

	/* What the model asked for, queueing included: programs compare
	 * what they measured with it (kal_stats). */
	stat_add(&qp->stats[cls].model_count, 1);
	stat_add(&qp->stats[cls].model_sum_tsc, due > t_post ? due - t_post : 0);
	/* The library's own cost of posting and returning is part of what an
	 * application measures: take it out of the model's. */
	if (due - t_post > d->overhead_tsc)
		due -= d->overhead_tsc;
	return due;
}

/* The latest time a completion may be written and still reach the
 * application by due. */
static inline uint64_t reach_of(const struct rmcd_qp *qp, uint64_t due)
{
	return due > qp->notify_tsc ? due - qp->notify_tsc : 0;
}

/* Writes a completion at now, counting it late when it cannot reach the
 * application by due any more. */
static inline void complete_at_once(struct rmcd_rmc *m, struct rmcd_qp *qp, uint8_t tid,
				    bool inplace, uint8_t st, unsigned cls, uint64_t t_post,
				    uint64_t due, uint64_t now)
{
	if (st != RMC_OK)
		count_error(m, qp, cls);
	count_late(m->d, qp, cls, now, reach_of(qp, due));
	complete(qp, tid, inplace, st, cls, t_post, now, due);
}

/* The burst's clock (one per poll_qp): the last reading, no later than the
 * present.  Reading the clock costs as much as the rest of a small request
 * on some machines, and a CQ line written an entry at a time goes back and
 * forth between the RMC and the application polling it.  So a completion
 * whose reach is still far ahead of the last reading waits, with at most
 * RMCD_CLK_DEFER - 1 others (a CQ line's worth), to be written together
 * with them; the clock is read after that write and settles them: each is
 * late when the reading is past its reach.  The reading comes after the
 * write, so this never counts in a completion's favour; a completion near
 * its reach is written and read for at once, so that lateness is measured
 * exactly where it can happen. */
#define RMCD_CLK_DEFER 4

struct bclock {
	uint64_t now;
	unsigned n;
	struct {
		uint64_t t_post, due;
		uint8_t tid, status, cls;
		bool inplace;
	} w[RMCD_CLK_DEFER];
};

/* Writes the completions waiting, reads the clock and settles them. */
static inline void clk_read(struct rmcd_rmc *m, struct rmcd_qp *qp, struct bclock *c)
{
	for (unsigned i = 0; i < c->n; i++) {
		if (c->w[i].inplace)
			inplace_write(qp, c->w[i].tid, c->w[i].status, c->w[i].due);
		else
			cq_write(qp, c->w[i].tid, c->w[i].status, c->w[i].due);
	}
	c->now = rmc_rdtsc();
	for (unsigned i = 0; i < c->n; i++) {
		count_late(m->d, qp, c->w[i].cls, c->now, reach_of(qp, c->w[i].due));
		account(qp, c->w[i].cls, c->w[i].t_post, c->now, c->w[i].due);
	}
	c->n = 0;
}

/* Has a completion written, at once or with the next ones of the burst
 * (struct bclock), and settled. */
static inline void complete_clocked(struct rmcd_rmc *m, struct rmcd_qp *qp, uint8_t tid,
				    bool inplace, uint8_t st, unsigned cls, uint64_t t_post,
				    uint64_t due, struct bclock *c)
{
	if (st != RMC_OK)
		count_error(m, qp, cls);
	c->w[c->n].t_post = t_post;
	c->w[c->n].due = due;
	c->w[c->n].tid = tid;
	c->w[c->n].status = st;
	c->w[c->n].cls = (uint8_t)cls;
	c->w[c->n].inplace = inplace;
	c->n++;
	/* Near its reach: read now, so that lateness is measured exactly
	 * where it can happen.  Already past it at the last reading: late
	 * whenever it is settled, and a later reading only makes it later
	 * (never in its favour): it waits with the others, so that an
	 * overloaded RMC does not read the clock for every completion. */
	uint64_t reach = reach_of(qp, due);
	if (c->n == RMCD_CLK_DEFER || (reach >= c->now && reach <= c->now + m->d->clk_margin_tsc))
		clk_read(m, qp, c);
}

/* When a completion due at due is written: a lead ahead of due (the
 * library hides it until due), so that it is surely there at due. */
static inline uint64_t write_at(const struct rmcd *d, const struct rmcd_qp *qp, uint64_t due)
{
	uint64_t lead = d->lead_tsc > qp->notify_tsc ? d->lead_tsc : qp->notify_tsc;

	return due > lead ? due - lead : 0;
}

/* Holds a completion back until at; with x, a write whose bytes move then
 * too. */
static inline void hold(struct rmcd_rmc *m, struct rmcd_qp *qp, uint8_t tid, bool inplace,
			uint8_t st, unsigned cls, uint64_t t_post, uint64_t due, uint64_t at,
			const struct rmcd_xfer *x)
{
	struct rmcd_pending p = { .at = at,
				  .due = due,
				  .t_post = t_post,
				  .qp = qp,
				  .tid = tid,
				  .status = st,
				  .cls = (uint8_t)cls,
				  .apply = x != NULL,
				  .inplace = inplace };
	if (x)
		p.x = *x;
	rmcd_heap_push(&m->heap, &p);
}

/* A transfer is done (its bytes moved) at now: write its completion at
 * write_at(), or at once when that time has come; late when it cannot
 * reach the application by due any more. */
static inline void complete_timed(struct rmcd_rmc *m, struct rmcd_qp *qp, uint8_t tid, bool inplace,
				  uint8_t st, unsigned cls, uint64_t t_post, uint64_t due,
				  uint64_t now)
{
	uint64_t at = write_at(m->d, qp, due);

	if (at <= now || st != RMC_OK) {
		complete_at_once(m, qp, tid, inplace, st, cls, t_post, due, now);
		return;
	}
	hold(m, qp, tid, inplace, st, cls, t_post, due, at, NULL);
}

/* ---- transfers the fabric finishes later ------------------------------- */

/* start_xfer() for a fabric that may finish a transfer later: x gets a
 * cookie first, recording what completing it needs; the answer is then
 * RMCD_XFER_PENDING and rmcd_xfer_done() completes it.  Out of line: the
 * shared-memory path must not pay for its arguments. */
static __attribute__((noinline)) uint8_t start_xfer_tracked(struct rmcd_rmc *m, struct rmcd_qp *qp,
							    struct rmcd_xfer *x, uint8_t tid,
							    bool inplace, unsigned cls,
							    uint64_t t_post, uint64_t due)
{
	struct rmcd_inflight *f;
	uint32_t c;
	uint8_t st;

	/* Room is reserved with the QP (qps_add): never empty here. */
	c = m->fl_free;
	f = &m->fl[c];
	m->fl_free = f->next_free;
	f->qp = qp;
	f->t_post = t_post;
	f->due = due;
	f->size = x->length;
	f->dst = x->dst;
	f->op = x->op;
	f->tid = tid;
	f->cls = (uint8_t)cls;
	f->inplace = inplace;
	f->dropped = false;
	x->cookie = c;
	st = rmcd_xfer(m, x);
	if (st == RMCD_XFER_PENDING) {
		m->fl_busy++;
		return st;
	}
	f->qp = NULL;
	f->next_free = m->fl_free;
	m->fl_free = c;
	return st;
}

/* Hands x to the fabric: its status, or RMCD_XFER_PENDING when the fabric
 * finishes it later (start_xfer_tracked). */
static inline __attribute__((always_inline)) uint8_t
start_xfer(struct rmcd_rmc *m, struct rmcd_qp *qp, struct rmcd_xfer *x, uint8_t tid, bool inplace,
	   unsigned cls, uint64_t t_post, uint64_t due)
{
	if (!m->d->fabric->progress)
		return rmcd_xfer(m, x);
	return start_xfer_tracked(m, qp, x, tid, inplace, cls, t_post, due);
}

void rmcd_xfer_done(struct rmcd_rmc *m, uint32_t cookie, uint8_t status)
{
	struct rmcd *d = m->d;
	struct rmcd_inflight *f;
	struct rmcd_qp *qp;

	if (cookie >= m->n_fl)
		return;
	f = &m->fl[cookie];
	qp = f->qp;
	f->qp = NULL;
	f->next_free = m->fl_free;
	m->fl_free = cookie;
	m->fl_busy--;
	if (!qp || f->dropped)
		return; /* its queue pair is torn down */
	if (d->model->no_deadline) {
		complete_now(m, qp, NULL, f->tid, f->inplace, status, f->cls, f->t_post);
		return;
	}
	uint64_t now = rmc_rdtsc();
	if (f->due) {
		/* A write that has landed: its completion goes now. */
		complete_at_once(m, qp, f->tid, f->inplace, status, f->cls, f->t_post, f->due, now);
		return;
	}
	uint64_t due = model_due(d, qp, f->op, f->dst, f->size, f->cls, f->t_post, now);
	complete_timed(m, qp, f->tid, f->inplace, status, f->cls, f->t_post, due, now);
}

/* ---- the loop ---------------------------------------------------------- */

/* A request under a timing model.  A write lands at the target when the
 * model says it arrives, not when the RMC takes it: a program polling the
 * target's memory must not see it early.  Reads and atomics move their
 * bytes now (only the requester's own buffer sees them, and it waits for
 * the completion).  c is the burst's clock (struct bclock): no later than
 * now, and read again wherever a decision could go the wrong way on a
 * stale time. */
static inline void run_timed(struct rmcd_rmc *m, struct rmcd_qp *qp, const wq_entry_t *e,
			     struct rmcd_xfer *x, uint8_t tid, unsigned cls, struct bclock *c)
{
	struct rmcd *d = m->d;
	bool inplace = e->flags & RMC_WQE_INPLACE;
	uint8_t st;

	/* Posted after the clock was read: read it again rather than take
	 * an honest post time for one from the future. */
	if (e->t_post > c->now)
		clk_read(m, qp, c);
	uint64_t t_post = sane_post(d, e->t_post, c->now);

	if (e->op != RMC_OP_WRITE) {
		st = start_xfer(m, qp, x, tid, inplace, cls, t_post, 0);
		if (st == RMCD_XFER_PENDING)
			return;
		uint64_t due = model_due(d, qp, e->op, e->nid, e->length, cls, t_post, c->now);
		uint64_t at = write_at(d, qp, due);
		if (at > c->now && st == RMC_OK)
			clk_read(m, qp, c);
		if (at <= c->now || st != RMC_OK)
			complete_clocked(m, qp, tid, inplace, st, cls, t_post, due, c);
		else
			hold(m, qp, tid, inplace, st, cls, t_post, due, at, NULL);
		return;
	}
	uint64_t due = model_due(d, qp, e->op, e->nid, e->length, cls, t_post, c->now);
	/* A deferred write lands in the target halfway through its latency,
	 * when the request would reach the target's memory (its
	 * acknowledgement travels back in the other half); its copy starts
	 * early enough for that (the calibrated copy time of its size class).
	 * Its completion, written right after the copy, then has half the
	 * latency to reach the application, which hides it until due.
	 * (Landing it at due - notify left the completion to cross to a
	 * polling core in one notify, which it often could not: +7 to +25 %
	 * at 1 us.) */
	uint64_t copy = d->nodes[e->nid].local ? d->copy_tsc[cls] : d->copy_far_tsc[cls];
	uint64_t land = t_post + (due - t_post) / 2;
	uint64_t start = land > copy ? land - copy : 0;
	if (start > c->now)
		clk_read(m, qp, c);
	if (start <= c->now) {
		st = start_xfer(m, qp, x, tid, inplace, cls, t_post, due);
		if (st == RMCD_XFER_PENDING)
			return;
		/* Copied: the completion goes now, hidden until due. */
		complete_clocked(m, qp, tid, inplace, st, cls, t_post, due, c);
		return;
	}
	/* Data and completion together at start: the completion then stays
	 * hidden until due by the library. */
	hold(m, qp, tid, inplace, RMC_OK, cls, t_post, due, start, x);
}

static inline int poll_qp(struct rmcd_rmc *m, struct rmcd_qp *qp)
{
	struct rmcd *d = m->d;
	const bool no_deadline = d->model->no_deadline;
	struct stage sg;
	struct bclock clk; /* read at the burst's first timed request */
	int n = 0;

	/* Only these: zeroing the whole struct put a rep stos of over a
	 * hundred bytes before the first request of every burst. */
	clk.now = 0;
	clk.n = 0;
	sg.n = 0;
	while (n < RMCD_BURST && qp_has_room(qp)) {
		struct rmcd_xfer x;
		wq_entry_t e;
		uint8_t tid, st;

		if (!wq_take(qp, &e, &tid))
			break;
		n++;
		unsigned cls = rmcd_size_class(e.length);
		st = rmcd__validate(d, qp, &e, &x);
		if (st == RMC_OK && !no_deadline) {
			if (!clk.now)
				clk_read(m, qp, &clk);
			run_timed(m, qp, &e, &x, tid, cls, &clk);
			continue;
		}
		bool inplace = e.flags & RMC_WQE_INPLACE;
		if (st == RMC_OK)
			st = start_xfer(m, qp, &x, tid, inplace, cls, e.t_post, 0);
		if (st != RMCD_XFER_PENDING)
			complete_now(m, qp, &sg, tid, inplace, st, cls, e.t_post);
	}
	for (unsigned i = 0; i < sg.n; i++)
		cq_write(qp, sg.e[i].tid, sg.e[i].status, 0);
	if (clk.n)
		clk_read(m, qp, &clk);
	if (n)
		SONUMA_WRITE_ONCE(m->served, m->served + (uint64_t)n);
	return n;
}

static inline void flush_due(struct rmcd_rmc *m)
{
	const struct rmcd_pending *p;

	if (!m->heap.n)
		return;
	uint64_t now = rmc_rdtsc();
	while ((p = rmcd_heap_top(&m->heap)) && p->at <= now) {
		struct rmcd_pending c = *p;

		rmcd_heap_pop(&m->heap);
		stat_max(&c.qp->stats[c.cls].flush_worst_tsc, now - c.at);
		if (c.apply) {
			/* Validated in an earlier pass: the target may have gone
			 * (or come back as another generation) since. */
			c.status = rmcd_target_live(m->d, &c.x) ?
					   start_xfer(m, c.qp, &c.x, c.tid, c.inplace, c.cls,
						      c.t_post, c.due) :
					   RMC_ERR_UNREACHABLE;
			if (c.status == RMCD_XFER_PENDING)
				continue;
			now = rmc_rdtsc();
			complete_at_once(m, c.qp, c.tid, c.inplace, c.status, c.cls, c.t_post,
					 c.due, now);
			continue;
		}
		complete(c.qp, c.tid, c.inplace, c.status, c.cls, c.t_post, now, c.due);
	}
}

/* Room for n transfers in flight (one per WQ slot served): the array of
 * the fabric's cookies grows, never moves a cookie. */
static int fl_reserve(struct rmcd_rmc *m, uint32_t n)
{
	uint32_t head = m->n_fl ? m->fl_free : UINT32_MAX; /* MAX: empty */
	struct rmcd_inflight *v;

	if (n <= m->n_fl)
		return 0;
	v = realloc(m->fl, n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (uint32_t i = m->n_fl; i < n; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		v[i].next_free = i + 1 < n ? i + 1 : head;
	}
	m->fl_free = m->n_fl;
	m->fl = v;
	m->n_fl = n;
	return 0;
}

/* Transfers of qp the fabric still moves (into its local buffers). */
static uint32_t fl_of(const struct rmcd_rmc *m, const struct rmcd_qp *qp)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < m->n_fl && m->fl_busy; i++)
		n += m->fl[i].qp == qp;
	return n;
}

static int qps_add(struct rmcd_rmc *m, struct rmcd_qp *qp)
{
	uint32_t need = 0;

	if (!m->stats) {
		m->stats = calloc((size_t)m->d->n_nodes * RMCD_SIZE_CLASSES, sizeof(*m->stats));
		if (!m->stats)
			return -ENOMEM;
	}
	if (qp->src >= m->d->n_nodes)
		return -EINVAL;
	if (m->n_qps == m->cap_qps) {
		uint32_t cap = m->cap_qps ? 2 * m->cap_qps : 16;
		struct rmcd_qp **v = realloc(m->qps, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		m->qps = v;
		m->cap_qps = cap;
	}
	qp->stats = &m->stats[qp->src * RMCD_SIZE_CLASSES];
	for (uint32_t i = 0; i < m->n_qps; i++)
		need += m->qps[i]->depth;
	need += qp->depth;
	if (rmcd_heap_reserve(&m->heap, need))
		return -ENOMEM;
	if (m->d->fabric->progress && fl_reserve(m, need))
		return -ENOMEM;
	m->qps[m->n_qps++] = qp;
	return 0;
}

static void qps_remove(struct rmcd_rmc *m, struct rmcd_qp *qp)
{
	for (uint32_t i = 0; i < m->n_qps; i++) {
		if (m->qps[i] == qp) {
			m->qps[i] = m->qps[--m->n_qps];
			break;
		}
	}
	rmcd_heap_purge(&m->heap, qp);
	/* Its buffers go once we return: let the fabric finish what it is
	 * moving into them first (their completions are dropped). */
	if (m->d->fabric->progress) {
		uint64_t end = core_mono_ns() + 2000000000ull;
		for (uint32_t i = 0; i < m->n_fl; i++)
			if (m->fl[i].qp == qp)
				m->fl[i].dropped = true;
		while (fl_of(m, qp) && core_mono_ns() < end)
			m->d->fabric->progress(m);
		for (uint32_t i = 0; i < m->n_fl; i++)
			if (m->fl[i].qp == qp) {
				core_warn("a transfer of a torn-down queue pair did not finish "
					  "in 2 s; its completion is dropped");
				m->fl[i].qp = NULL;
			}
	}
}

void rmcd_rmc_apply_mbox(struct rmcd_rmc *m)
{
	pthread_mutex_lock(&m->mu);
	for (struct rmcd_mbox_msg *msg = m->mbox; msg; msg = msg->next) {
		if (msg->op == MBOX_ADD && qps_add(m, msg->qp))
			msg->qp = NULL; /* tells the sender it failed */
		else if (msg->op == MBOX_REMOVE)
			qps_remove(m, msg->qp);
		else if (msg->op == MBOX_FABRIC)
			m->d->fabric->mbox(m, msg->arg);
		/* MBOX_SYNC: being here is the answer. */
		msg->done = true;
	}
	m->mbox = NULL;
	SONUMA_WRITE_ONCE(m->pending, 0);
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

static int mbox_send(struct rmcd_rmc *m, enum rmcd_mbox_op op, struct rmcd_qp *qp, void *arg)
{
	struct rmcd_mbox_msg msg = { .op = op, .qp = qp, .arg = arg };

	if (!m->started) {
		if (op == MBOX_ADD)
			return qps_add(m, qp);
		if (op == MBOX_REMOVE)
			qps_remove(m, qp);
		if (op == MBOX_FABRIC)
			m->d->fabric->mbox(m, arg);
		return 0;
	}
	pthread_mutex_lock(&m->mu);
	msg.next = m->mbox;
	m->mbox = &msg;
	SONUMA_WRITE_ONCE(m->pending, 1);
	/* Wakes an RMC thread that sleeps for want of queue pairs. */
	pthread_cond_broadcast(&m->cv);
	while (!msg.done)
		pthread_cond_wait(&m->cv, &m->mu);
	pthread_mutex_unlock(&m->mu);
	return msg.qp || op != MBOX_ADD ? 0 : -ENOMEM;
}

void rmcd_rmc_sync(struct rmcd_rmc *m)
{
	mbox_send(m, MBOX_SYNC, NULL, NULL);
}

void rmcd_rmc_fabric_call(struct rmcd_rmc *m, void *arg)
{
	mbox_send(m, MBOX_FABRIC, NULL, arg);
}

int rmcd_rmc_add_qp(struct rmcd_rmc *m, struct rmcd_qp *qp)
{
	return mbox_send(m, MBOX_ADD, qp, NULL);
}

void rmcd_rmc_remove_qp(struct rmcd_rmc *m, struct rmcd_qp *qp)
{
	mbox_send(m, MBOX_REMOVE, qp, NULL);
}

int rmcd_rmc_poll_once(struct rmcd_rmc *m)
{
	int n = 0;

	if (SONUMA_READ_ONCE(m->pending))
		rmcd_rmc_apply_mbox(m);
	for (uint32_t i = 0; i < m->n_qps; i++)
		n += poll_qp(m, m->qps[i]);
	if (m->d->fabric->progress)
		n += m->d->fabric->progress(m);
	flush_due(m);
	return n;
}

/* Whether a queue has a new entry, or the control thread a message. */
static inline bool rmc_peek(struct rmcd_rmc *m)
{
	if (SONUMA_READ_ONCE(m->pending))
		return true;
	for (uint32_t i = 0; i < m->n_qps; i++) {
		struct rmcd_qp *qp = m->qps[i];
		/* Pairs with the application's store-release of e->SR. */
		if (sonuma_smp_load_acquire(&qp->wq->q[qp->wq_tail].SR) == qp->wq_phase)
			return true;
	}
	return false;
}

/* Idle policy (rmc.idle_spin_us, rmc.idle_nap_us): spin while there is
 * work or has been recently; after a while with nothing to do, yield, and
 * after longer, nap 20 us, so that an idle cluster does not keep two cores
 * busy.  Any request resets it. */

/* One step of a spin: PAUSE (rmc.spin_pause), or only a compiler barrier.
 * A virtual machine may take a vCPU that executes PAUSE in a tight loop
 * off its core (pause-loop exiting), which the first request after a
 * quiet spell then pays for. */
static inline void spin_step(bool pause)
{
	if (pause)
		sonuma_cpu_relax();
	else
		__asm__ __volatile__("" ::: "memory");
}

static void *rmc_main(void *arg)
{
	struct rmcd_rmc *m = arg;
	struct rmcd *d = m->d;
	uint64_t spin_tsc = core_ns_to_tsc(d->cfg.idle_spin_us * 1000.0, d->tsc_hz);
	uint64_t nap_tsc = core_ns_to_tsc(d->cfg.idle_nap_us * 1000.0, d->tsc_hz);
	const bool pause = d->cfg.spin_pause;
	uint64_t last_work = rmc_rdtsc();
	bool worked = false;
	unsigned idle = 0;

	char name[16];
	snprintf(name, sizeof(name), "rmc%d", m->idx);
	pthread_setname_np(pthread_self(), name);
	if (m->cpu >= 0 && core_pin_cpu(m->cpu))
		core_warn("RMC thread %d: cannot pin to CPU %d", m->idx, m->cpu);
	while (!SONUMA_READ_ONCE(d->stop)) {
		if (rmcd_rmc_poll_once(m)) {
			worked = true;
			idle = 0;
			continue;
		}
		/* No queue pair, nothing held back, nothing in flight, nothing
		 * of the fabric's own to move on: nothing can arrive but a
		 * mailbox message, which wakes us.  (With one rmcd per node,
		 * the RMCs of nodes without programs then leave the CPUs to
		 * those that have some.) */
		if (!m->n_qps && !m->heap.n && !m->fl_busy &&
		    !(d->fabric->busy && d->fabric->busy(m))) {
			pthread_mutex_lock(&m->mu);
			while (!m->mbox && !SONUMA_READ_ONCE(d->stop))
				pthread_cond_wait(&m->cv, &m->mu);
			pthread_mutex_unlock(&m->mu);
			last_work = rmc_rdtsc();
			continue;
		}
		/* Completions waiting for their due time: keep spinning,
		 * unless the CPU is shared with the programs we serve. */
		if ((m->heap.n || m->fl_busy) && !m->shares_cpu) {
			/* Only a fabric's transfers in flight: what finishes them
			 * may need this CPU (the target's side of a software
			 * transport on the same host, the fabric's own
			 * threads), and they take microseconds: let it run. */
			if (!m->heap.n && ++idle >= 64) {
				idle = 0;
				sched_yield();
			}
			spin_step(pause);
			continue;
		}
		/* Nothing held back: wait on the queues' next entries alone,
		 * so that a request is seen as soon as its line arrives. */
		while (++idle < 256 && !rmc_peek(m))
			spin_step(pause);
		if (idle < 256)
			continue;
		idle = 0;
		if (m->shares_cpu) {
			sched_yield();
			continue;
		}
		uint64_t now = rmc_rdtsc();
		if (worked) {
			worked = false;
			last_work = now;
		} else if (now - last_work > nap_tsc) {
			struct timespec ts = { 0, 20000 };
			nanosleep(&ts, NULL);
		} else if (now - last_work > spin_tsc) {
			sched_yield();
		}
	}
	return NULL;
}

int rmcd_rmc_start(struct rmcd *d, struct rmcd_rmc *m)
{
	int r;

	m->d = d;
	r = pthread_create(&m->thread, NULL, rmc_main, m);
	if (r)
		return -r;
	m->started = true;
	return 0;
}

void rmcd_rmc_stop(struct rmcd *d)
{
	SONUMA_WRITE_ONCE(d->stop, 1);
	for (uint32_t i = 0; i < d->n_rmcs; i++) {
		pthread_mutex_lock(&d->rmcs[i].mu);
		pthread_cond_broadcast(&d->rmcs[i].cv);
		pthread_mutex_unlock(&d->rmcs[i].mu);
	}
	for (uint32_t i = 0; i < d->n_rmcs; i++) {
		if (d->rmcs[i].started)
			pthread_join(d->rmcs[i].thread, NULL);
		d->rmcs[i].started = false;
	}
}

void rmcd_stats_sum(const struct rmcd *d, int nid, int cls, struct rmcd_cls_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (uint32_t t = 0; t < d->n_rmcs; t++) {
		const struct rmcd_rmc *m = &d->rmcs[t];
		for (uint32_t n = 0; n < d->n_nodes; n++) {
			if (nid >= 0 && (uint32_t)nid != n)
				continue;
			for (unsigned k = 0; k < RMCD_SIZE_CLASSES; k++) {
				const struct rmcd_cls_stats *s =
					&m->stats[n * RMCD_SIZE_CLASSES + k];
				if (cls >= 0 && (unsigned)cls != k)
					continue;
				out->requests += SONUMA_READ_ONCE(s->requests);
				out->errors += SONUMA_READ_ONCE(s->errors);
				out->late += SONUMA_READ_ONCE(s->late);
				out->late_sum_tsc += SONUMA_READ_ONCE(s->late_sum_tsc);
				out->lat_sum_tsc += SONUMA_READ_ONCE(s->lat_sum_tsc);
				out->timed += SONUMA_READ_ONCE(s->timed);
				out->model_count += SONUMA_READ_ONCE(s->model_count);
				out->model_sum_tsc += SONUMA_READ_ONCE(s->model_sum_tsc);
				uint64_t w = SONUMA_READ_ONCE(s->late_worst_tsc);
				if (w > out->late_worst_tsc)
					out->late_worst_tsc = w;
				w = SONUMA_READ_ONCE(s->flush_worst_tsc);
				if (w > out->flush_worst_tsc)
					out->flush_worst_tsc = w;
				for (unsigned b = 0; b < RMCD_HIST; b++)
					out->hist[b] += SONUMA_READ_ONCE(s->hist[b]);
			}
		}
	}
}

uint64_t rmcd_stats_pct(const struct rmcd_cls_stats *s, double p)
{
	uint64_t total = 0, want, acc = 0;

	for (unsigned b = 0; b < RMCD_HIST; b++)
		total += s->hist[b];
	if (!total)
		return 0;
	want = (uint64_t)(p / 100.0 * (double)total);
	if (want >= total)
		want = total - 1;
	for (unsigned b = 0; b < RMCD_HIST; b++) {
		acc += s->hist[b];
		if (acc > want)
			return rmcd_hist_value(b);
	}
	return rmcd_hist_value(RMCD_HIST - 1);
}

void rmcd_print_stats(struct rmcd *d)
{
	double ns = 1e9 / d->tsc_hz;

	for (uint32_t t = 0; t < d->n_rmcs; t++)
		core_info("RMC thread %u (CPU %d): %llu requests served, %llu refused", t,
			  d->rmcs[t].cpu, (unsigned long long)SONUMA_READ_ONCE(d->rmcs[t].served),
			  (unsigned long long)SONUMA_READ_ONCE(d->rmcs[t].errors));
	for (uint32_t n = 0; n < d->n_nodes; n++) {
		for (int k = 0; k < RMCD_SIZE_CLASSES; k++) {
			struct rmcd_cls_stats s;
			rmcd_stats_sum(d, (int)n, k, &s);
			if (!s.requests)
				continue;
			char lat[160] =
				"latency not measured (posts carry no time under this model)";
			if (s.timed)
				snprintf(lat, sizeof(lat),
					 "latency p50 ~%.0f ns p99 ~%.0f ns mean %.0f ns",
					 (double)rmcd_stats_pct(&s, 50) * ns,
					 (double)rmcd_stats_pct(&s, 99) * ns,
					 (double)s.lat_sum_tsc / (double)s.timed * ns);
			core_info("node %u, sizes up to %llu B: %llu requests, %llu refused, "
				  "%llu late (%.2f%%, worst %.0f ns), %s",
				  n, (unsigned long long)rmcd_class_size((unsigned)k),
				  (unsigned long long)s.requests, (unsigned long long)s.errors,
				  (unsigned long long)s.late,
				  100.0 * (double)s.late / (double)s.requests,
				  (double)s.late_worst_tsc * ns, lat);
		}
	}
}
