/* SPDX-License-Identifier: MIT */
/*
 * Validation of a WQ entry.  The entry has already been copied out of the
 * shared queue, so the application cannot change a field between the check
 * and its use.  Every comparison is written so that it cannot overflow.
 * Inline: the RMC loop runs it for every request.
 */
#ifndef RMCD_VALIDATE_H
#define RMCD_VALIDATE_H

#include <stdbool.h>

#include "rmcd.h"
#include "sonuma/barrier.h"

static inline const struct rmcd_lbuff *rmcd__find_lbuff(struct rmcd_qp *qp, uint64_t addr)
{
	struct rmcd_session *s = qp->sess;
	/* Pairs with the control thread's store-release of n_lbuff. */
	uint32_t n = sonuma_smp_load_acquire(&s->n_lbuff);
	uint32_t h = qp->lbuff_hint;

	if (h < n && addr - s->lbuff[h].app_addr < s->lbuff[h].size)
		return &s->lbuff[h];
	for (uint32_t i = 0; i < n; i++) {
		if (addr - s->lbuff[i].app_addr < s->lbuff[i].size) {
			qp->lbuff_hint = i;
			return &s->lbuff[i];
		}
	}
	return NULL;
}

static inline uint8_t rmcd__validate(const struct rmcd *d, struct rmcd_qp *qp, const wq_entry_t *e,
				     struct rmcd_xfer *x)
{
	const struct rmcd_node *node;
	const struct rmcd_ctx *ctx;
	const struct rmcd_lbuff *lb;
	uint64_t len = e->length, off = e->offset, boff;
	uint32_t live;

	bool atomic = e->op == RMC_OP_CAS || e->op == RMC_OP_FAA;

	if (e->op != RMC_OP_READ && e->op != RMC_OP_WRITE && !atomic)
		return RMC_ERR_OP;
	if (e->nid >= d->n_nodes)
		return RMC_ERR_NID;
	node = &d->nodes[e->nid];
	/* Pairs with the peer thread's store-release of live: ctx[] and
	 * n_ctx of a remote node are complete once it is seen. */
	live = sonuma_smp_load_acquire(&node->live);
	if (!live)
		return RMC_ERR_UNREACHABLE;
	if (e->cid >= node->n_ctx)
		return RMC_ERR_CID;
	if (len == 0 || len > d->max_transfer || (atomic && len != RMC_ATOMIC_LENGTH))
		return RMC_ERR_LENGTH;
	if (atomic && off % RMC_ATOMIC_LENGTH)
		return RMC_ERR_ALIGN;
	ctx = &node->ctx[e->cid];
	if (off > ctx->size || len > ctx->size - off)
		return RMC_ERR_CTX_RANGE;
	lb = rmcd__find_lbuff(qp, e->buf_addr);
	if (!lb)
		return RMC_ERR_BUF;
	boff = e->buf_addr - lb->app_addr;
	if (e->buf_offset > lb->size - boff)
		return RMC_ERR_BUF_RANGE;
	boff += e->buf_offset;
	if (len > lb->size - boff)
		return RMC_ERR_BUF_RANGE;

	x->op = e->op;
	x->src = qp->src;
	x->dst = e->nid;
	x->cid = e->cid;
	x->gen = live;
	x->cookie = 0;
	x->local = lb->map + boff;
	x->memh = lb->memh;
	x->offset = off;
	x->length = len;
	x->arg0 = e->arg0;
	x->arg1 = e->arg1;
	return RMC_OK;
}

#endif /* RMCD_VALIDATE_H */
