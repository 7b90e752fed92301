/* SPDX-License-Identifier: MIT */
/*
 * The control loop: accepts applications on each node's socket, checks who
 * they are, serves their registrations, and reclaims everything of theirs
 * when their socket closes.  Signals arrive through a signalfd.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "calib.h"
#include "core.h"
#include "proto.h"
#include "rmcd.h"
#include "rmcdev.h"
#include "sonuma/barrier.h"

/* epoll tags: the low bit says what the pointer is. */
#define TAG_NODE 1u

struct staged_lbuff {
	uint8_t *map;
	uint64_t size;
	int fd;
};

/* Staged local buffers: created, not yet mapped by the application.  They
 * live here until CTL_MAP_LBUFF says where the application put them. */
struct session_ext {
	struct rmcd_session s;
	struct staged_lbuff staged[RMCD_MAX_LBUFF];
	uint64_t lbuff_bytes; /* local buffers of this session, staged or not */
	int in_fd;	      /* a descriptor that came with the request */
};

static bool uid_allowed(const struct rmcd *d, uid_t uid)
{
	if (uid == geteuid())
		return true;
	for (uint32_t i = 0; i < d->cfg.n_allow_uids; i++)
		if (d->cfg.allow_uids[i] == uid)
			return true;
	return false;
}

static void on_accept(struct rmcd *d, struct rmcd_node *n)
{
	for (;;) {
		/* Non-blocking: an application that does not read its replies
		 * must not stall the control loop of every node (it is
		 * dropped instead, see on_session). */
		int fd = accept4(n->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct ucred cr;
		socklen_t len = sizeof(cr);
		struct session_ext *x;
		struct epoll_event ev;

		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
		    !uid_allowed(d, cr.uid)) {
			core_warn("node %u: refused a connection from uid %u (pid %d): "
				  "not rmcd's user nor in security.allow_uids",
				  n->nid, (unsigned)cr.uid, (int)cr.pid);
			close(fd);
			continue;
		}
		x = calloc(1, sizeof(*x));
		if (!x) {
			close(fd);
			continue;
		}
		for (int i = 0; i < RMCD_MAX_LBUFF; i++)
			x->staged[i].fd = -1;
		x->in_fd = -1;
		x->s.d = d;
		x->s.node = n;
		x->s.fd = fd;
		x->s.pid = cr.pid;
		x->s.uid = cr.uid;
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = &x->s;
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(x);
			continue;
		}
		x->s.next = d->sessions;
		d->sessions = &x->s;
		core_dbg("node %u: application pid %d attached", n->nid, (int)cr.pid);
	}
}

void rmcd_session_close(struct rmcd *d, struct rmcd_session *s)
{
	struct session_ext *x = (struct session_ext *)s;
	struct rmcd_session **pp;

	/* Take every QP back from its RMC thread before freeing anything the
	 * thread might still look at. */
	for (struct rmcd_qp *qp = s->qps, *next; qp; qp = next) {
		next = qp->sess_next;
		rmcd_rmc_remove_qp(&d->rmcs[s->node->rmc], qp);
		rmcd_qp_destroy(qp);
	}
	for (uint32_t i = 0; i < s->n_lbuff; i++) {
		if (s->lbuff[i].memh)
			d->fabric->dereg(d, s->lbuff[i].memh);
		if (s->lbuff[i].fd < 0) {
			core_rmcdev_unmap(s->lbuff[i].dev_base, s->lbuff[i].dev_pages);
			continue;
		}
		munmap(s->lbuff[i].map, s->lbuff[i].size);
		close(s->lbuff[i].fd);
	}
	for (int i = 0; i < RMCD_MAX_LBUFF; i++)
		if (x->staged[i].fd >= 0) {
			munmap(x->staged[i].map, x->staged[i].size);
			close(x->staged[i].fd);
		}
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	for (pp = &d->sessions; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	core_dbg("node %u: application pid %d detached, %u QP(s) reclaimed", s->node->nid,
		 (int)s->pid, s->n_qps);
	free(x);
}

static void fill_info(const struct rmcd *d, const struct rmcd_node *n, struct ctl_info *i)
{
	i->nid = n->nid;
	i->nodes = d->n_nodes;
	i->numa = n->numa;
	i->queue_depth = d->cfg.queue_depth;
	i->context_size = n->ctx[0].size;
	i->max_transfer = d->max_transfer;
	i->tsc_hz = (uint64_t)(d->tsc_hz + 0.5);
	memcpy(i->app_cpus, n->app_cpus, sizeof(i->app_cpus));
	snprintf(i->model, sizeof(i->model), "%s", d->model->name);
	i->overhead_ps = (uint64_t)((double)d->overhead_tsc / d->tsc_hz * 1e12 + 0.5);
	i->nodes_up = 0;
	for (uint32_t k = 0; k < d->n_nodes && k < 64; k++)
		if (SONUMA_READ_ONCE(d->nodes[k].live))
			i->nodes_up |= 1ull << k;
}

/* Another node's rmcd introduces itself: we answer with what it must agree
 * with (it compares and refuses to attach when we differ), and attach to
 * it in turn. */
static void peer_hello(struct rmcd *d, struct rmcd_session *s, const struct ctl_req *q,
		       struct ctl_resp *p)
{
	const struct rmcd_node *n = s->node;
	struct ctl_peer_info *o = &p->u.peer;

	o->nid = n->nid;
	o->nodes = d->n_nodes;
	o->n_ctx = n->n_ctx;
	o->desc_hash = d->desc_hash;
	for (uint32_t k = 0; k < n->n_ctx && k < 16; k++)
		o->ctx_pages[k] = (uint32_t)(n->ctx[k].size / PAGE_SIZE);
	snprintf(o->model, sizeof(o->model), "%s", d->model->name);
	s->peer = true;
	if (q->pages != d->n_nodes || q->id >= d->n_nodes || d->nodes[q->id].local) {
		core_dbg("node %u: an rmcd (pid %d) introduced itself as node %u of %u: "
			 "not a peer of ours",
			 n->nid, (int)s->pid, q->id, q->pages);
		return;
	}
	rmcd_peer_kick(d, q->id);
}

/* One handler per request: each fills the reply and returns the fd to
 * attach to it (or -1).  A failure is the reply's status. */
typedef int ctl_handler(struct rmcd *d, struct session_ext *x, const struct ctl_req *q,
			struct ctl_resp *p);

static int op_hello(struct rmcd *d, struct session_ext *x, const struct ctl_req *q,
		    struct ctl_resp *p)
{
	(void)q;
	fill_info(d, x->s.node, &p->u.info);
	return -1;
}

static int op_reg_wq(struct rmcd *d, struct session_ext *x, const struct ctl_req *q,
		     struct ctl_resp *p)
{
	struct rmcd_session *s = &x->s;
	struct rmcd_node *n = s->node;
	struct rmcd_qp *qp;
	int r;

	(void)q;
	if (s->n_qps >= RMCD_MAX_QPS_PER_SESSION) {
		p->status = -ENOSPC;
		return -1;
	}
	if ((r = rmcd_qp_create(d, s, &qp))) {
		core_warn("node %u: cannot create a queue pair: %s", n->nid, strerror(-r));
		p->status = r;
		return -1;
	}
	if ((r = rmcd_rmc_add_qp(&d->rmcs[n->rmc], qp))) {
		core_warn("node %u: cannot add a queue pair to RMC thread %d: %s", n->nid, n->rmc,
			  strerror(-r));
		rmcd_qp_destroy(qp);
		p->status = r;
		return -1;
	}
	/* Keep the list in creation order: CQs are handed out in it. */
	struct rmcd_qp **pp = &s->qps;
	while (*pp)
		pp = &(*pp)->sess_next;
	*pp = qp;
	s->n_qps++;
	p->id = qp->id;
	p->size = qp->wq_size;
	return qp->wq_fd;
}

static int op_reg_cq(struct rmcd *d, struct session_ext *x, const struct ctl_req *q,
		     struct ctl_resp *p)
{
	(void)d, (void)q;
	for (struct rmcd_qp *qp = x->s.qps; qp; qp = qp->sess_next) {
		if (qp->cq_handed)
			continue;
		qp->cq_handed = true;
		p->id = qp->id;
		p->size = qp->cq_size;
		return qp->cq_fd;
	}
	p->status = -ENOENT; /* kal_reg_wq first */
	return -1;
}

static int op_reg_lbuff(struct rmcd *d, struct session_ext *x, const struct ctl_req *q,
			struct ctl_resp *p)
{
	struct rmcd_session *s = &x->s;
	struct rmcd_node *n = s->node;
	uint64_t size = (uint64_t)q->pages * PAGE_SIZE;
	int slot = -1, r;

	if (!q->pages || size > (1ull << 32)) {
		p->status = -EINVAL;
		return -1;
	}
	/* What one application may pin in rmcd's memory. */
	if (x->lbuff_bytes + size > d->cfg.max_session_bytes) {
		p->status = -ENOMEM;
		return -1;
	}
	for (int i = 0; i < RMCD_MAX_LBUFF; i++)
		if (x->staged[i].fd < 0) {
			slot = i;
			break;
		}
	if (slot < 0 || s->n_lbuff_alloc >= RMCD_MAX_LBUFF) {
		p->status = -ENOSPC;
		return -1;
	}
	struct staged_lbuff *b = &x->staged[slot];
	if ((r = core_shm_create("sonuma-lbuff", size, &b->fd))) {
		p->status = r;
		return -1;
	}
	/* On the node's domain, like its context: placed before the pages
	 * exist, then touched so the data path never faults. */
	b->map = core_shm_map_lazy(b->fd, size);
	if (!b->map) {
		close(b->fd);
		b->fd = -1;
		p->status = -ENOMEM;
		return -1;
	}
	if ((r = core_numa_bind(b->map, size, n->numa)))
		core_warn("node %u: cannot place a local buffer on NUMA domain %d: %s", n->nid,
			  n->numa, strerror(-r));
	memset(b->map, 0, size);
	b->size = size;
	x->lbuff_bytes += size;
	s->n_lbuff_alloc++;
	p->id = (uint32_t)slot;
	p->size = size;
	return b->fd;
}

static int op_map_lbuff(struct rmcd *d, struct session_ext *x, const struct ctl_req *q,
			struct ctl_resp *p)
{
	struct rmcd_session *s = &x->s;
	struct staged_lbuff *b;

	if (q->id >= RMCD_MAX_LBUFF || x->staged[q->id].fd < 0) {
		p->status = -ENOENT;
		return -1;
	}
	b = &x->staged[q->id];
	if (!q->addr || q->addr % PAGE_SIZE || q->addr + b->size < q->addr ||
	    (uint64_t)q->pages * PAGE_SIZE != b->size)
		p->status = -EINVAL;
	for (uint32_t i = 0; !p->status && i < s->n_lbuff; i++) {
		const struct rmcd_lbuff *o = &s->lbuff[i];
		if (q->addr < o->app_addr + o->size && o->app_addr < q->addr + b->size)
			p->status = -EEXIST; /* overlaps a registered buffer */
	}
	if (p->status)
		goto refused;
	struct rmcd_lbuff *l = &s->lbuff[s->n_lbuff];
	int r;
	l->memh = NULL;
	if (d->fabric->reg && (r = d->fabric->reg(d, b->map, b->size, &l->memh))) {
		core_warn("node %u: the %s fabric cannot register a %llu-byte local buffer of pid "
			  "%d: %s",
			  s->node->nid, d->fabric->name, (unsigned long long)b->size, (int)s->pid,
			  strerror(-r));
		p->status = r;
		goto refused;
	}
	l->app_addr = q->addr;
	l->size = b->size;
	l->map = b->map;
	l->fd = b->fd;
	b->fd = -1;
	b->map = NULL;
	/* Publishes the entry; pairs with the load-acquire in find_lbuff(). */
	sonuma_smp_store_release(&s->n_lbuff, s->n_lbuff + 1);
	p->id = q->id;
	return -1;
refused:
	/* The staged segment goes, so that refusals cannot pile up memory or
	 * use up the session's slots. */
	munmap(b->map, b->size);
	close(b->fd);
	x->lbuff_bytes -= b->size;
	b->fd = -1;
	b->map = NULL;
	s->n_lbuff_alloc--;
	return -1;
}

static int op_reg_ctx(struct rmcd *d, struct session_ext *x, const struct ctl_req *q,
		      struct ctl_resp *p)
{
	struct rmcd_node *n = x->s.node;

	(void)d;
	if (q->id >= n->n_ctx) {
		p->status = -ENOENT;
		return -1;
	}
	if (!q->pages || (uint64_t)q->pages * PAGE_SIZE > n->ctx[q->id].size) {
		p->status = -ENOSPC; /* larger than the configured context */
		return -1;
	}
	p->id = q->id;
	p->size = n->ctx[q->id].size;
	if (n->ctx[q->id].fd < 0) {
		/* A program's region of /dev/rmc: the caller maps it there. */
		p->u.dev.handle = n->ctx[q->id].handle;
		p->u.dev.offset = n->ctx[q->id].dev_offset;
		p->u.dev.npages = n->ctx[q->id].dev_pages;
	}
	return n->ctx[q->id].fd;
}

/* Whether session s may hand rmcd a region of /dev/rmc: 0, or the -errno
 * of its refusal.  The module lets rmcd map regions of its own user (or,
 * as root, of anyone), so a session of another user could name a third
 * party's region; only rmcd's own user may. */
static int dev_allowed(const struct rmcd *d, const struct rmcd_session *s)
{
	if (d->rmcdev_fd < 0)
		return -EOPNOTSUPP;
	return s->uid == geteuid() ? 0 : -EPERM;
}

static int op_reg_lbuff_dev(struct rmcd *d, struct session_ext *x, const struct ctl_req *q,
			    struct ctl_resp *p)
{
	struct rmcd_session *s = &x->s;
	uint64_t len = q->id, addr = q->addr;
	uint8_t *base, *first;
	uint32_t npages;
	int r;

	if ((p->status = dev_allowed(d, s)))
		return -1;
	if (!len || !addr || addr + len < addr) {
		p->status = -EINVAL;
		return -1;
	}
	if (x->lbuff_bytes + len > d->cfg.max_session_bytes) {
		p->status = -ENOMEM;
		return -1;
	}
	if (s->n_lbuff_alloc >= RMCD_MAX_LBUFF) {
		p->status = -ENOSPC;
		return -1;
	}
	for (uint32_t i = 0; i < s->n_lbuff; i++) {
		const struct rmcd_lbuff *o = &s->lbuff[i];
		if (addr < o->app_addr + o->size && o->app_addr < addr + len) {
			p->status = -EEXIST;
			return -1;
		}
	}
	if ((r = rmcd_dev_map(d, q->rsvd, (uint32_t)(addr % PAGE_SIZE), len, &base, &first,
			      &npages))) {
		p->status = r;
		return -1;
	}
	struct rmcd_lbuff *l = &s->lbuff[s->n_lbuff];
	l->memh = NULL;
	if (d->fabric->reg && (r = d->fabric->reg(d, first, len, &l->memh))) {
		core_rmcdev_unmap(base, npages);
		p->status = r;
		return -1;
	}
	l->app_addr = addr;
	l->size = len;
	l->map = first;
	l->fd = -1;
	l->dev_base = base;
	l->dev_pages = npages;
	x->lbuff_bytes += len;
	s->n_lbuff_alloc++;
	/* Publishes the entry; pairs with the load-acquire in find_lbuff(). */
	sonuma_smp_store_release(&s->n_lbuff, s->n_lbuff + 1);
	return -1;
}

static int op_reg_ctx_dev(struct rmcd *d, struct session_ext *x, const struct ctl_req *q,
			  struct ctl_resp *p)
{
	struct rmcd_session *s = &x->s;
	struct rmcd_node *n = s->node;
	uint8_t *base, *first;
	uint32_t npages;
	int r;

	if ((p->status = dev_allowed(d, s)))
		return -1;
	if (x->in_fd < 0) {
		p->status = -EBADF; /* its /dev/rmc, which keeps the region */
		return -1;
	}
	if (q->id >= n->n_ctx) {
		p->status = -ENOENT;
		return -1;
	}
	struct rmcd_ctx *c = &n->ctx[q->id];
	/* The size every node agreed on. */
	if ((uint64_t)q->pages * PAGE_SIZE != c->size || !q->addr) {
		p->status = -EINVAL;
		return -1;
	}
	if ((r = rmcd_dev_map(d, q->rsvd, (uint32_t)(q->addr % PAGE_SIZE), c->size, &base, &first,
			      &npages))) {
		p->status = r;
		return -1;
	}
	/* No transfer may be using the old one: bar the node, wait for every
	 * RMC thread to pass its mailbox, swap, open again. */
	uint32_t live = n->live;
	SONUMA_WRITE_ONCE(n->live, 0);
	for (uint32_t t = 0; t < d->n_rmcs; t++)
		rmcd_rmc_sync(&d->rmcs[t]);
	struct rmcd_ctx old = *c;
	c->base = first;
	c->fd = -1;
	c->handle = q->rsvd;
	/* The program's /dev/rmc: its region stays registered (pinned, and
	 * mappable by others) after the program exits. */
	c->dev_fd = x->in_fd;
	x->in_fd = -1;
	c->dev_base = base;
	c->dev_pages = npages;
	c->dev_offset = (uint32_t)(q->addr % PAGE_SIZE);
	sonuma_smp_store_release(&n->live, live);
	if (old.fd >= 0) {
		if (old.handle)
			core_rmcdev_unreg(d->rmcdev_fd, old.handle);
		munmap(old.base, old.size);
		close(old.fd);
	} else {
		core_rmcdev_unmap(old.dev_base, old.dev_pages);
		if (old.dev_fd >= 0)
			close(old.dev_fd);
	}
	/* Other nodes' rmcds map the old one: they lose their connection,
	 * and attach again to the new one. */
	for (struct rmcd_session *o = d->sessions, *next; o; o = next) {
		next = o->next;
		if (o->peer && o->node == n && o != s)
			rmcd_session_close(d, o);
	}
	core_info("node %u: context %u is now memory of pid %d (%llu bytes, through rmc.ko)",
		  n->nid, q->id, (int)s->pid, (unsigned long long)c->size);
	p->id = q->id;
	return -1;
}

static int op_stats(struct rmcd *d, struct session_ext *x, const struct ctl_req *q,
		    struct ctl_resp *p)
{
	struct rmcd_cls_stats *st = malloc(sizeof(*st));
	struct ctl_stats *o = &p->u.stats;
	double ns = 1e9 / d->tsc_hz;
	int cls = q->addr ? (int)rmcd_size_class(q->addr) : -1;

	if (!st) {
		p->status = -ENOMEM;
		return -1;
	}
	rmcd_stats_sum(d, (int)x->s.node->nid, cls, st);
	o->requests = st->requests;
	o->errors = st->errors;
	o->late = st->late;
	o->late_worst_ns = (uint64_t)((double)st->late_worst_tsc * ns);
	o->late_mean_ns = st->late ? (uint64_t)((double)st->late_sum_tsc / (double)st->late * ns) :
				     0;
	o->flush_worst_ns = (uint64_t)((double)st->flush_worst_tsc * ns);
	o->lat_p50_ns = (uint64_t)((double)rmcd_stats_pct(st, 50) * ns);
	o->lat_p99_ns = (uint64_t)((double)rmcd_stats_pct(st, 99) * ns);
	o->lat_mean_ns = st->timed ? (uint64_t)((double)st->lat_sum_tsc / (double)st->timed * ns) :
				     0;
	o->model_count = st->model_count;
	o->model_sum_ps = (uint64_t)((double)st->model_sum_tsc * ns * 1000.0);
	o->class_min = cls <= 0 ? 0 : rmcd_class_size((unsigned)cls) / 2;
	o->class_max = cls < 0 || cls == RMCD_SIZE_CLASSES - 1 ? UINT64_MAX :
								 rmcd_class_size((unsigned)cls);
	free(st);
	return -1;
}

static int op_describe(struct rmcd *d, struct session_ext *x, const struct ctl_req *q,
		       struct ctl_resp *p)
{
	char *t = (char *)p->u.raw;
	size_t len = sizeof(p->u.raw);

	(void)x;
	if (q->id == CTL_DESC_MODEL) {
		d->model->describe(d->model_state, t, len);
	} else if (q->id == CTL_DESC_CALIBRATION && d->cal) {
		/* Zeroed: the reply carries len - 1 bytes of it, and no stale
		 * stack byte may leave with them. */
		char tmp[512] = { 0 };
		snprintf(tmp, sizeof(tmp), "%s; %s; %u cores; %s", d->cal_path,
			 d->cal->id.cpu_model, d->cal->id.cores, d->cal->id.date);
		memcpy(t, tmp, len - 1);
	} else if (q->id == CTL_DESC_CALIBRATION) {
		snprintf(t, len, "none");
	} else if (q->id == CTL_DESC_VERSION) {
		snprintf(t, len, "%s", SONUMA_VERSION);
	} else {
		p->status = -EINVAL;
	}
	t[len - 1] = 0;
	return -1;
}

static int op_target(struct rmcd *d, struct session_ext *x, const struct ctl_req *q,
		     struct ctl_resp *p)
{
	if ((q->id != RMC_OP_READ && q->id != RMC_OP_WRITE && q->id != RMC_OP_CAS &&
	     q->id != RMC_OP_FAA) ||
	    q->pages >= d->n_nodes || q->addr > d->max_transfer) {
		p->status = -EINVAL;
		return -1;
	}
	p->size = (uint64_t)(d->model->target_ns(d->model_state, (uint8_t)q->id, q->addr,
						 (uint16_t)x->s.node->nid, (uint16_t)q->pages) *
				     1000.0 +
			     0.5);
	return -1;
}

static int op_peer_hello(struct rmcd *d, struct session_ext *x, const struct ctl_req *q,
			 struct ctl_resp *p)
{
	peer_hello(d, &x->s, q, p);
	return -1;
}

static ctl_handler *const handlers[CTL_OP_MAX] = {
	[CTL_HELLO] = op_hello,
	[CTL_REG_WQ] = op_reg_wq,
	[CTL_REG_CQ] = op_reg_cq,
	[CTL_REG_LBUFF] = op_reg_lbuff,
	[CTL_MAP_LBUFF] = op_map_lbuff,
	[CTL_REG_CTX] = op_reg_ctx,
	[CTL_STATS] = op_stats,
	[CTL_DESCRIBE] = op_describe,
	[CTL_TARGET] = op_target,
	[CTL_PEER_HELLO] = op_peer_hello,
	[CTL_REG_LBUFF_DEV] = op_reg_lbuff_dev,
	[CTL_REG_CTX_DEV] = op_reg_ctx_dev,
};

/* Serves one request; returns the fd to attach to the reply (or -1). */
static int serve(struct rmcd *d, struct session_ext *x, const struct ctl_req *q, struct ctl_resp *p)
{
	if (q->op >= CTL_OP_MAX || !handlers[q->op]) {
		p->status = -EOPNOTSUPP;
		return -1;
	}
	return handlers[q->op](d, x, q, p);
}

static void on_session(struct rmcd *d, struct rmcd_session *s, uint32_t events)
{
	struct ctl_req q;
	struct ctl_resp p;
	int r, fd = -1;

	if (events & EPOLLIN) {
		int in_fd;
		r = core_recv_msg(s->fd, &q, sizeof(q), &in_fd);
		/* Only CTL_REG_CTX_DEV carries a descriptor (its /dev/rmc). */
		struct session_ext *x = (struct session_ext *)s;
		x->in_fd = -1;
		if (in_fd >= 0 && !r && q.op == CTL_REG_CTX_DEV)
			x->in_fd = in_fd;
		else if (in_fd >= 0)
			close(in_fd);
		if (r == -EPIPE) {
			rmcd_session_close(d, s);
			return;
		}
		memset(&p, 0, sizeof(p));
		p.magic = CTL_MAGIC;
		if (r) {
			p.status = -EPROTO;
		} else if (q.magic != CTL_MAGIC || q.version != CTL_VERSION) {
			p.status = -EPROTONOSUPPORT;
		} else {
			fd = serve(d, (struct session_ext *)s, &q, &p);
		}
		if (x->in_fd >= 0)
			close(x->in_fd); /* not taken by the handler */
		x->in_fd = -1;
		r = core_send_msg(s->fd, &p, sizeof(p), p.status ? -1 : fd);
		if (r == -EAGAIN)
			core_warn("node %u: application pid %d does not read rmcd's replies: "
				  "detached",
				  s->node->nid, (int)s->pid);
		if (r == -EPIPE || r == -EAGAIN) {
			rmcd_session_close(d, s);
			return;
		}
		return;
	}
	if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))
		rmcd_session_close(d, s);
}

int rmcd_ctl_run(struct rmcd *d)
{
	struct epoll_event ev, evs[32];

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return -errno;
	for (uint32_t i = 0; i < d->n_nodes; i++) {
		if (d->nodes[i].listen_fd < 0)
			continue; /* served by another rmcd */
		ev.events = EPOLLIN;
		ev.data.ptr = (void *)((uintptr_t)&d->nodes[i] | TAG_NODE);
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->nodes[i].listen_fd, &ev) < 0)
			return -errno;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->sigfd, &ev) < 0)
		return -errno;

	for (;;) {
		int n = epoll_wait(d->epfd, evs, (int)CORE_ARRAY_SIZE(evs), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			void *ptr = evs[i].data.ptr;
			if (!ptr) {
				struct signalfd_siginfo si;
				if (read(d->sigfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGUSR1) {
					rmcd_print_stats(d);
					continue;
				}
				core_info("signal %d: shutting down", (int)si.ssi_signo);
				return 0;
			}
			if ((uintptr_t)ptr & TAG_NODE)
				on_accept(d, (struct rmcd_node *)((uintptr_t)ptr &
								  ~(uintptr_t)TAG_NODE));
			else
				on_session(d, ptr, evs[i].events);
		}
	}
}
