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
	smp_store_release(&c->SR, qp->cq_phase);
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
	uint32_t c = smp_load_acquire(&qp->cq->consumed);
	if (c - qp->consumed > qp->completed - qp->consumed)
		c = qp->completed;
	qp->consumed = c;
	return qp->picked - qp->consumed < qp->depth;
}

/* Completes an RMC_WQE_INPLACE entry in the entry itself (sonuma/qp.h). */
static inline void inplace_write(struct rmcd_qp *qp, uint8_t tid, uint8_t status, uint64_t due)
{
	wq_entry_t *e = &qp->wq->q[tid];

	WRITE_ONCE(e->status, status);
	WRITE_ONCE(e->due, due);
	/* Publishes it; pairs with the application's load-acquire of valid
	 * in rmc__wait_inplace(). */
	smp_store_release(&e->valid, 0);
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

static inline int poll_qp(struct rmcd_rmc *m, struct rmcd_qp *qp)
{
	struct rmcd *d = m->d;
	const bool no_deadline = d->model->no_deadline;
	/* Completions with nothing to hold back are written together at the
	 * end of the burst: a CQ line is then written whole, once, instead of
	 * going back and forth between the RMC writing its next entry and the
	 * application reading the last. */
	struct {
		uint8_t tid, status;
	} stage[RMCD_BURST];
	unsigned staged = 0;
	int n = 0;

	while (n < RMCD_BURST && qp_has_room(qp)) {
		uint8_t tid = qp->wq_tail;
		wq_entry_t *src = &qp->wq->q[tid];
		struct rmcd_xfer x;
		wq_entry_t e;
		uint8_t st;

		/* Pairs with the application's store-release of e->SR. */
		if (smp_load_acquire(&src->SR) != qp->wq_phase)
			break;
		/* One copy: the application may scribble on the slot now,
		 * but validation and the transfer only use this copy. */
		memcpy(&e, src, sizeof(e));
		if (++qp->wq_tail >= qp->depth) {
			qp->wq_tail = 0;
			qp->wq_phase ^= 1;
		}
		qp->picked++;
		n++;

		unsigned cls = rmcd_size_class(e.length);
		bool inplace = e.flags & RMC_WQE_INPLACE;
		st = rmcd__validate(d, qp, &e, &x);
		if (no_deadline || st != RMC_OK) {
			/* Nothing to hold back: an in-place completion goes out
			 * at once, a CQ one with the rest of the burst; the
			 * clock and the counters come after the copy, off a
			 * synchronous request's path. */
			if (st == RMC_OK)
				rmcd_xfer(d, &x);
			if (inplace) {
				inplace_write(qp, tid, st, 0);
			} else {
				stage[staged].tid = tid;
				stage[staged++].status = st;
			}
			if (st != RMC_OK) {
				WRITE_ONCE(m->errors, m->errors + 1);
				stat_add(&qp->stats[cls].errors, 1);
			}
			if (!e.t_post) {
				/* No post time (RMC_WQ_NO_TSTAMP): the request is
				 * counted, its latency cannot be, and the clock,
				 * which costs more than the rest of the request
				 * on some machines, is not read at all. */
				stat_add(&qp->stats[cls].requests, 1);
				continue;
			}
			uint64_t now = rmc_rdtsc();
			account(qp, cls, sane_post(d, e.t_post, now), now, 0);
			continue;
		}
		/* A write under a timing model lands at the target when the
		 * model says it arrives, not when the RMC takes it: a program
		 * polling the target's memory must not see it early.  Reads
		 * and atomics move their bytes now (only the requester's own
		 * buffer sees them, and it waits for the completion). */
		bool defer = e.op == RMC_OP_WRITE;
		if (!defer)
			rmcd_xfer(d, &x);

		uint64_t now = rmc_rdtsc();
		uint64_t t_post = sane_post(d, e.t_post, now);
		struct tm_req req = { .op = e.op,
				      .src = qp->src,
				      .dst = e.nid,
				      .size = e.length,
				      .t_post = t_post,
				      .t_pickup = now };
		uint64_t due = d->model->due(d->model_state, &req);
		/* What the model asked for, queueing included: programs compare
		 * what they measured with it (kal_stats). */
		stat_add(&qp->stats[cls].model_count, 1);
		stat_add(&qp->stats[cls].model_sum_tsc, due > t_post ? due - t_post : 0);
		/* The library's own cost of posting and returning is part of
		 * what an application measures: take it out of the model's. */
		if (due - t_post > d->overhead_tsc)
			due -= d->overhead_tsc;
		/* Late: the completion cannot reach the application by its
		 * due time any more.  It goes out at once, and is counted. */
		uint64_t reach = due > qp->notify_tsc ? due - qp->notify_tsc : 0;
		/* A deferred write lands in the target halfway through its
		 * latency, when the request would reach the target's memory
		 * (its acknowledgement travels back in the other half); its
		 * copy starts early enough for that (the calibrated copy time
		 * of its size class).  Its completion, written right after the
		 * copy, then has half the latency to reach the application,
		 * which hides it until due.  (Landing it at due - notify left
		 * the completion to cross to a polling core in one notify,
		 * which it often could not: +7 to +25 % at 1 us.) */
		uint64_t copy = defer ? d->copy_tsc[cls] : 0;
		uint64_t land = defer ? t_post + (due - t_post) / 2 : reach;
		uint64_t start = land > copy ? land - copy : 0;
		if (start <= now) {
			if (defer) {
				rmcd_xfer(d, &x);
				now = rmc_rdtsc();
			}
			if (reach < now) {
				struct rmcd_cls_stats *cs = &qp->stats[cls];
				if (now - reach > d->late_slack_tsc) {
					stat_add(&cs->late, 1);
					stat_add(&cs->late_sum_tsc, now - reach);
					stat_max(&cs->late_worst_tsc, now - reach);
				}
				complete(qp, tid, inplace, st, cls, t_post, now, due);
				continue;
			}
			if (defer) {
				/* Copied already, in time: write the completion
				 * now; the library hides it until due. */
				complete(qp, tid, inplace, st, cls, t_post, now, due);
				continue;
			}
		}
		if (defer) {
			/* Data and completion together at start: the completion
			 * then stays hidden until due by the library. */
			struct rmcd_pending p = { .at = start,
						  .due = due,
						  .t_post = t_post,
						  .qp = qp,
						  .tid = tid,
						  .status = st,
						  .cls = (uint8_t)cls,
						  .apply = true,
						  .inplace = inplace,
						  .x = x };
			rmcd_heap_push(&m->heap, &p);
			continue;
		}
		/* Written a lead ahead of its due time (the application's poll
		 * hides it until then), so that it is surely there at due. */
		uint64_t lead = d->lead_tsc > qp->notify_tsc ? d->lead_tsc : qp->notify_tsc;
		uint64_t at = due > lead ? due - lead : 0;
		if (at <= now) {
			complete(qp, tid, inplace, st, cls, t_post, now, due);
			continue;
		}
		struct rmcd_pending p = { .at = at,
					  .due = due,
					  .t_post = t_post,
					  .qp = qp,
					  .tid = tid,
					  .status = st,
					  .cls = (uint8_t)cls,
					  .inplace = inplace };
		rmcd_heap_push(&m->heap, &p);
	}
	for (unsigned i = 0; i < staged; i++)
		cq_write(qp, stage[i].tid, stage[i].status, 0);
	if (n)
		WRITE_ONCE(m->served, m->served + (uint64_t)n);
	return n;
}

static inline void flush_due(struct rmcd_rmc *m)
{
	const struct rmcd_pending *p;

	if (!m->heap.n)
		return;
	uint64_t now = rmc_rdtsc();
	while ((p = rmcd_heap_top(&m->heap)) && p->at <= now) {
		stat_max(&p->qp->stats[p->cls].flush_worst_tsc, now - p->at);
		if (p->apply) {
			rmcd_xfer(m->d, &p->x);
			now = rmc_rdtsc();
		}
		complete(p->qp, p->tid, p->inplace, p->status, p->cls, p->t_post, now, p->due);
		rmcd_heap_pop(&m->heap);
	}
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
}

void rmcd_rmc_apply_mbox(struct rmcd_rmc *m)
{
	pthread_mutex_lock(&m->mu);
	for (struct rmcd_mbox_msg *msg = m->mbox; msg; msg = msg->next) {
		if (msg->op == MBOX_ADD && qps_add(m, msg->qp))
			msg->qp = NULL; /* tells the sender it failed */
		else if (msg->op == MBOX_REMOVE)
			qps_remove(m, msg->qp);
		msg->done = true;
	}
	m->mbox = NULL;
	WRITE_ONCE(m->pending, 0);
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

static int mbox_send(struct rmcd_rmc *m, enum rmcd_mbox_op op, struct rmcd_qp *qp)
{
	struct rmcd_mbox_msg msg = { .op = op, .qp = qp };

	if (!m->started) {
		if (op == MBOX_ADD)
			return qps_add(m, qp);
		qps_remove(m, qp);
		return 0;
	}
	pthread_mutex_lock(&m->mu);
	msg.next = m->mbox;
	m->mbox = &msg;
	WRITE_ONCE(m->pending, 1);
	while (!msg.done)
		pthread_cond_wait(&m->cv, &m->mu);
	pthread_mutex_unlock(&m->mu);
	return msg.qp ? 0 : -ENOMEM;
}

int rmcd_rmc_add_qp(struct rmcd_rmc *m, struct rmcd_qp *qp)
{
	return mbox_send(m, MBOX_ADD, qp);
}

void rmcd_rmc_remove_qp(struct rmcd_rmc *m, struct rmcd_qp *qp)
{
	mbox_send(m, MBOX_REMOVE, qp);
}

int rmcd_rmc_poll_once(struct rmcd_rmc *m)
{
	int n = 0;

	if (READ_ONCE(m->pending))
		rmcd_rmc_apply_mbox(m);
	for (uint32_t i = 0; i < m->n_qps; i++)
		n += poll_qp(m, m->qps[i]);
	flush_due(m);
	return n;
}

/* Whether a queue has a new entry, or the control thread a message. */
static inline bool rmc_peek(struct rmcd_rmc *m)
{
	if (READ_ONCE(m->pending))
		return true;
	for (uint32_t i = 0; i < m->n_qps; i++) {
		struct rmcd_qp *qp = m->qps[i];
		/* Pairs with the application's store-release of e->SR. */
		if (smp_load_acquire(&qp->wq->q[qp->wq_tail].SR) == qp->wq_phase)
			return true;
	}
	return false;
}

/* Idle policy: spin while there is work or has been recently; after a
 * while with nothing to do, yield, and after longer, nap 20 us, so that an
 * idle cluster does not keep two cores busy.  Any request resets it. */
#define IDLE_SPIN_TSC_US 2000
#define IDLE_NAP_TSC_US 200000

static void *rmc_main(void *arg)
{
	struct rmcd_rmc *m = arg;
	struct rmcd *d = m->d;
	uint64_t spin_tsc = core_ns_to_tsc(IDLE_SPIN_TSC_US * 1000.0, d->tsc_hz);
	uint64_t nap_tsc = core_ns_to_tsc(IDLE_NAP_TSC_US * 1000.0, d->tsc_hz);
	uint64_t last_work = rmc_rdtsc();
	bool worked = false;
	unsigned idle = 0;

	char name[16];
	snprintf(name, sizeof(name), "rmc%d", m->idx);
	pthread_setname_np(pthread_self(), name);
	if (m->cpu >= 0 && core_pin_cpu(m->cpu))
		core_warn("RMC thread %d: cannot pin to CPU %d", m->idx, m->cpu);
	while (!READ_ONCE(d->stop)) {
		if (rmcd_rmc_poll_once(m)) {
			worked = true;
			idle = 0;
			continue;
		}
		/* Completions waiting for their due time: keep spinning,
		 * unless the CPU is shared with the programs we serve. */
		if (m->heap.n && !m->shares_cpu) {
			cpu_relax();
			continue;
		}
		/* Nothing held back: wait on the queues' next entries alone,
		 * so that a request is seen as soon as its line arrives. */
		while (++idle < 256 && !rmc_peek(m))
			cpu_relax();
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
	WRITE_ONCE(d->stop, 1);
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
				const struct rmcd_cls_stats *s = &m->stats[n * RMCD_SIZE_CLASSES + k];
				if (cls >= 0 && (unsigned)cls != k)
					continue;
				out->requests += READ_ONCE(s->requests);
				out->errors += READ_ONCE(s->errors);
				out->late += READ_ONCE(s->late);
				out->late_sum_tsc += READ_ONCE(s->late_sum_tsc);
				out->lat_sum_tsc += READ_ONCE(s->lat_sum_tsc);
				out->timed += READ_ONCE(s->timed);
				out->model_count += READ_ONCE(s->model_count);
				out->model_sum_tsc += READ_ONCE(s->model_sum_tsc);
				uint64_t w = READ_ONCE(s->late_worst_tsc);
				if (w > out->late_worst_tsc)
					out->late_worst_tsc = w;
				w = READ_ONCE(s->flush_worst_tsc);
				if (w > out->flush_worst_tsc)
					out->flush_worst_tsc = w;
				for (unsigned b = 0; b < RMCD_HIST; b++)
					out->hist[b] += READ_ONCE(s->hist[b]);
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
			  d->rmcs[t].cpu, (unsigned long long)READ_ONCE(d->rmcs[t].served),
			  (unsigned long long)READ_ONCE(d->rmcs[t].errors));
	for (uint32_t n = 0; n < d->n_nodes; n++) {
		for (int k = 0; k < RMCD_SIZE_CLASSES; k++) {
			struct rmcd_cls_stats s;
			rmcd_stats_sum(d, (int)n, k, &s);
			if (!s.requests)
				continue;
			char lat[160] = "latency not measured (posts carry no time under this model)";
			if (s.timed)
				snprintf(lat, sizeof(lat), "latency p50 ~%.0f ns p99 ~%.0f ns mean %.0f ns",
					 (double)rmcd_stats_pct(&s, 50) * ns,
					 (double)rmcd_stats_pct(&s, 99) * ns,
					 (double)s.lat_sum_tsc / (double)s.timed * ns);
			core_info("node %u, sizes up to %llu B: %llu requests, %llu refused, "
				  "%llu late (%.2f%%, worst %.0f ns), %s",
				  n, (unsigned long long)rmcd_class_size((unsigned)k),
				  (unsigned long long)s.requests, (unsigned long long)s.errors,
				  (unsigned long long)s.late, 100.0 * (double)s.late / (double)s.requests,
				  (double)s.late_worst_tsc * ns, lat);
		}
	}
}
