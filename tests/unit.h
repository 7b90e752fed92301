/* SPDX-License-Identifier: MIT */
/*
 * In-process harness for the unit suites: a hand-built struct rmcd with its
 * nodes and contexts, one RMC that is never started (the test drives it with
 * rmcd_rmc_poll_once()), one session with one registered local buffer, and
 * one queue pair.  The application side uses the public inline API of
 * sonuma.h on its own mappings of the WQ and CQ segments, so the two sides
 * meet only through shared memory, as they do across processes.
 */
#ifndef SONUMA_TEST_UNIT_H
#define SONUMA_TEST_UNIT_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core.h"
#include "pattern.h"
#include "rmcd.h"
#include "sonuma.h"

#define UNIT_MAX_NODES 4

struct unit {
	bool up;
	struct rmcd d;
	struct rmcd_node nodes[UNIT_MAX_NODES];
	struct rmcd_rmc rmc;
	struct rmcd_session s;
	struct rmcd_qp *qp;
	rmc_wq_t *wq; /* the application's mappings */
	rmc_cq_t *cq;
	uint8_t *lbuf; /* the application's address of the local buffer */
	uint64_t lbuf_size;
	uint64_t ctx_size;
};

struct unit_params {
	uint32_t nodes;
	uint64_t ctx_size;
	uint32_t queue_depth;
	uint64_t max_transfer;
	uint64_t lbuf_size;
	uint32_t ctx_per_node; /* contexts on each node (default 1) */
};

static inline void unit_setup(struct unit *u, const struct unit_params *p)
{
	struct rmcd *d = &u->d;
	int fd, r;

	memset(u, 0, sizeof(*u));
	cr_assert(p->nodes >= 1 && p->nodes <= UNIT_MAX_NODES);
	core_config_defaults(&d->cfg);
	d->cfg.nodes = p->nodes;
	d->cfg.queue_depth = p->queue_depth ? p->queue_depth : MAX_NUM_WQ;
	d->cfg.max_transfer = p->max_transfer ? p->max_transfer : p->ctx_size;
	d->cfg.context_pages = p->ctx_size / PAGE_SIZE;
	d->tsc_hz = core_tsc_measure_hz(10);
	cr_assert_gt(d->tsc_hz, 0.0, "cannot measure the TSC rate");
	d->model = tm_find("none");
	cr_assert_not_null(d->model, "the \"none\" model is not registered");
	d->fabric = &rmcd_fabric_shm;
	d->max_transfer = d->cfg.max_transfer;
	d->epfd = d->sigfd = d->rmcdev_fd = -1;
	d->self = -1;
	d->nodes = u->nodes;
	d->n_nodes = p->nodes;
	u->ctx_size = p->ctx_size;
	for (uint32_t i = 0; i < p->nodes; i++) {
		struct rmcd_node *n = &u->nodes[i];
		uint32_t nctx = p->ctx_per_node ? p->ctx_per_node : 1;

		n->nid = i;
		n->local = true;
		n->live = 1;
		n->listen_fd = n->lock_fd = n->peer_fd = -1;
		for (uint32_t k = 0; k < nctx; k++) {
			r = core_shm_create("test-ctx", p->ctx_size, &fd);
			cr_assert_eq(r, 0, "core_shm_create: %s", strerror(-r));
			n->ctx[k].fd = fd;
			n->ctx[k].base = core_shm_map(fd, p->ctx_size);
			cr_assert_not_null(n->ctx[k].base);
			n->ctx[k].size = p->ctx_size;
			n->n_ctx++;
		}
	}

	u->rmc.d = d;
	u->rmc.cpu = -1;
	u->rmc.started = false;
	pthread_mutex_init(&u->rmc.mu, NULL);
	pthread_cond_init(&u->rmc.cv, NULL);
	cr_assert_eq(rmcd_heap_init(&u->rmc.heap, 64), 0);
	d->rmcs = &u->rmc;
	d->n_rmcs = 1;

	/* The session of node 0 with one local buffer, mapped twice: rmcd's
	 * mapping and the application's, at different addresses. */
	u->s.d = d;
	u->s.node = &u->nodes[0];
	u->s.fd = -1;
	u->lbuf_size = p->lbuf_size;
	r = core_shm_create("test-lbuff", p->lbuf_size, &fd);
	cr_assert_eq(r, 0);
	u->s.lbuff[0].fd = fd;
	u->s.lbuff[0].size = p->lbuf_size;
	u->s.lbuff[0].map = core_shm_map(fd, p->lbuf_size);
	u->lbuf = core_shm_map(fd, p->lbuf_size);
	cr_assert(u->s.lbuff[0].map && u->lbuf);
	cr_assert_neq((void *)u->s.lbuff[0].map, (void *)u->lbuf);
	u->s.lbuff[0].app_addr = (uint64_t)(uintptr_t)u->lbuf;
	u->s.n_lbuff = 1;
	u->s.n_lbuff_alloc = 1;

	r = rmcd_qp_create(d, &u->s, &u->qp);
	cr_assert_eq(r, 0, "rmcd_qp_create: %s", strerror(-r));
	r = rmcd_rmc_add_qp(&u->rmc, u->qp);
	cr_assert_eq(r, 0, "rmcd_rmc_add_qp: %s", strerror(-r));
	u->wq = core_shm_map(u->qp->wq_fd, u->qp->wq_size);
	u->cq = core_shm_map(u->qp->cq_fd, u->qp->cq_size);
	cr_assert(u->wq && u->cq);
	/* No control socket: the liveness check of a wait sees nothing. */
	u->wq->kal_fd = -1;
	u->up = true;
}

static inline void unit_teardown(struct unit *u)
{
	if (!u->up)
		return;
	if (u->qp) {
		rmcd_rmc_remove_qp(&u->rmc, u->qp);
		if (u->wq)
			munmap(u->wq, u->qp->wq_size);
		if (u->cq)
			munmap(u->cq, u->qp->cq_size);
		rmcd_qp_destroy(u->qp);
	}
	munmap(u->lbuf, u->lbuf_size);
	munmap(u->s.lbuff[0].map, u->lbuf_size);
	close(u->s.lbuff[0].fd);
	for (uint32_t i = 0; i < u->d.n_nodes; i++)
		for (uint32_t k = 0; k < u->nodes[i].n_ctx; k++) {
			munmap(u->nodes[i].ctx[k].base, u->nodes[i].ctx[k].size);
			close(u->nodes[i].ctx[k].fd);
		}
	rmcd_heap_free(&u->rmc.heap);
	free(u->rmc.qps);
	free(u->rmc.fl);
	free(u->rmc.stats);
	pthread_mutex_destroy(&u->rmc.mu);
	pthread_cond_destroy(&u->rmc.cv);
	core_config_free(&u->d.cfg);
	u->up = false;
}

/* Runs the RMC until it takes nothing more; returns the requests taken. */
static inline int unit_poll(struct unit *u)
{
	int total = 0, n;

	for (int i = 0; i < 10000 && (n = rmcd_rmc_poll_once(&u->rmc)) > 0; i++)
		total += n;
	return total;
}

/* The context of a node, rmcd's mapping: "the remote memory". */
static inline uint8_t *unit_ctx(struct unit *u, uint32_t nid)
{
	return u->nodes[nid].ctx[0].base;
}

/* Posts a WQ entry exactly as given (a misbehaving or malicious
 * application: no rounding, any op), the way rmc__post publishes one.
 * Returns its tid or -EBUSY. */
static inline int post_raw(rmc_wq_t *wq, const wq_entry_t *t)
{
	return rmc__post_entry(wq, t->op, (uint8_t *)(uintptr_t)t->buf_addr, t->buf_offset, t->nid,
			       t->cid, t->offset, t->length, t->arg0, t->arg1);
}

/* Completion handler that records the order of tids and their statuses. */
struct record {
	int n;
	int tid[4 * MAX_NUM_WQ];
	uint8_t status[4 * MAX_NUM_WQ];
	wq_entry_t *entry[4 * MAX_NUM_WQ];
};

static inline void record_cb(uint8_t tid, wq_entry_t *head, void *owner)
{
	struct record *r = owner;

	if (r->n < (int)CORE_ARRAY_SIZE(r->tid)) {
		r->tid[r->n] = tid;
		r->status[r->n] = head->status;
		r->entry[r->n] = head;
	}
	r->n++;
}

#endif /* SONUMA_TEST_UNIT_H */
