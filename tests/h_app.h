/* SPDX-License-Identifier: MIT */
/*
 * An application of the suites that run a real rmcd (harness.h): one
 * node's queue pair, local buffer and, when asked, context, attached in a
 * forked child (or the test itself) as a program does after sonuma-run.
 */
#ifndef SONUMA_TEST_H_APP_H
#define SONUMA_TEST_H_APP_H

#include "harness.h"
#include "sonuma.h"

struct h_app {
	int fd;
	struct kal_info info;
	rmc_wq_t *wq;
	rmc_cq_t *cq;
	uint8_t *lbuf;
	uint64_t lbuf_size;
	uint8_t *ctx; /* this node's context 0, if mapped */
};

/* Attaches to node (setting SONUMA_NODE first, as sonuma-run does) and
 * registers a queue pair, lbuf_pages of local buffer and ctx_pages of the
 * node's context (none of either when 0).  0, or 1 after saying why
 * (CHILD_CHECK). */
static inline int h_app_attach(struct h_app *a, unsigned node, uint32_t lbuf_pages,
			       uint32_t ctx_pages)
{
	char s[16];
	int r;

	memset(a, 0, sizeof(*a));
	snprintf(s, sizeof(s), "%u", node);
	setenv("SONUMA_NODE", s, 1);
	a->fd = kal_open(RMC_DEV);
	CHILD_CHECK(a->fd >= 0, "kal_open (node %u): %s", node, strerror(-a->fd));
	CHILD_CHECK((r = kal_info(a->fd, &a->info)) == 0, "kal_info: %s", strerror(-r));
	CHILD_CHECK(a->info.nid == node, "attached to node %u, not %u", a->info.nid, node);
	CHILD_CHECK((r = kal_reg_wq(a->fd, &a->wq)) == 0, "kal_reg_wq: %s", strerror(-r));
	CHILD_CHECK((r = kal_reg_cq(a->fd, &a->cq)) == 0, "kal_reg_cq: %s", strerror(-r));
	CHILD_CHECK(a->wq->kal_fd == a->fd, "the WQ does not know its control socket");
	if (lbuf_pages) {
		r = kal_reg_lbuff(a->fd, &a->lbuf, lbuf_pages);
		CHILD_CHECK(r == 0, "kal_reg_lbuff(%u pages): %s", lbuf_pages, strerror(-r));
		a->lbuf_size = (uint64_t)lbuf_pages * PAGE_SIZE;
	}
	if (ctx_pages) {
		r = kal_reg_ctx(a->fd, &a->ctx, ctx_pages);
		CHILD_CHECK(r == 0, "kal_reg_ctx(%u pages): %s", ctx_pages, strerror(-r));
	}
	return 0;
}

#endif /* SONUMA_TEST_H_APP_H */
