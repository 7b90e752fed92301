/* SPDX-License-Identifier: MIT */
/*
 * Peers: with one RMC per node ("rmcd NODE_CNT NODE_ID"), every other node
 * is served by an rmcd of its own.  They find each other through the run
 * directory: each listens on its node's socket there, and the peer thread
 * of each connects to the others' sockets, introduces itself
 * (CTL_PEER_HELLO), checks that they agree on the cluster, and maps their
 * contexts from the memfds they send (CTL_REG_CTX).  The RMC then reads and
 * writes a peer's context directly; the peer's RMC is not involved, as in
 * soNUMA.
 *
 * The connection stays open: when it closes, the peer is gone, its
 * contexts are unmapped and requests to it fail with RMC_ERR_UNREACHABLE
 * until it is back.  Nodes start in any order: the peer thread retries
 * every RETRY_MS, and a peer that introduces itself to our control loop is
 * attached to at once (rmcd_peer_kick).
 *
 * Only the peer thread changes a remote node; see struct rmcd_node for how
 * RMC threads see it change.
 */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core.h"
#include "proto.h"
#include "rmcd.h"
#include "rmcdev.h"

#define RETRY_MS 50
#define PEER_TIMEOUT_S 2 /* for one answer of a peer's control loop */

/* One request to a peer's control loop, with its answer. */
static int peer_call(int fd, uint16_t op, uint32_t id, uint32_t pages, struct ctl_resp *p, int *seg)
{
	struct ctl_req q = {
		.magic = CTL_MAGIC, .version = CTL_VERSION, .op = op, .id = id, .pages = pages
	};
	int r;

	if (seg)
		*seg = -1;
	if ((r = core_send_msg(fd, &q, sizeof(q), -1)))
		return r;
	if ((r = core_recv_msg(fd, p, sizeof(*p), seg)))
		return r;
	if (p->magic != CTL_MAGIC)
		r = -EPROTO;
	else
		r = p->status;
	if (r && seg && *seg >= 0) {
		close(*seg);
		*seg = -1;
	}
	return r;
}

/* Connects to node nid's socket and checks that the rmcd behind it runs as
 * we do.  Returns the fd, or -errno (-ENOENT/-ECONNREFUSED: not up). */
static int peer_connect(struct rmcd *d, struct rmcd_node *n, int *pid, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = PEER_TIMEOUT_S };
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd, r;

	if (core_node_sock_path(sa.sun_path, sizeof(sa.sun_path), d->cfg.rundir, n->nid))
		return -ENAMETOOLONG;
	fd = core_sock_connect(sa.sun_path);
	if (fd < 0)
		return fd;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*pid = cr.pid;
	if (cr.uid != geteuid()) {
		snprintf(err, errlen,
			 "node %u: the rmcd behind %s (pid %d) runs as uid %u, not as this rmcd "
			 "(uid %u): not attached",
			 n->nid, sa.sun_path, (int)cr.pid, (unsigned)cr.uid, (unsigned)geteuid());
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* Compares what the peer said with what we are.  0, or -EINVAL with a
 * message naming both values. */
static int peer_compare(struct rmcd *d, struct rmcd_node *n, int fd, const struct ctl_peer_info *o,
			char *err, size_t errlen)
{
	const struct core_config *c = &d->cfg;
	const char *where = c->file;

	if (o->nid != n->nid)
		return snprintf(err, errlen, "node %u: its socket is answered by node %u", n->nid,
				o->nid),
		       -EINVAL;
	if (o->nodes != d->n_nodes)
		return snprintf(err, errlen,
				"node %u: its rmcd runs a cluster of %u nodes, this one of %u "
				"(NODE_CNT must be the same for every rmcd of a run directory)",
				n->nid, o->nodes, d->n_nodes),
		       -EINVAL;
	if (strncmp(o->model, d->model->name, sizeof(o->model)) || o->desc_hash != d->desc_hash) {
		struct ctl_resp p;
		char mine[160];
		const char *theirs = o->model;

		memset(&p, 0, sizeof(p));
		d->model->describe(d->model_state, mine, sizeof(mine));
		if (!peer_call(fd, CTL_DESCRIBE, 0, 0, &p, NULL)) {
			p.u.raw[sizeof(p.u.raw) - 1] = 0;
			theirs = (const char *)p.u.raw;
		}
		return snprintf(
			       err, errlen,
			       "node %u: its rmcd runs the timing model \"%.120s\", this one \"%.120s\" "
			       "(%.100s): every rmcd of a cluster must run the same model",
			       n->nid, theirs, mine, where),
		       -EINVAL;
	}
	if (o->n_ctx != c->n_contexts || !o->n_ctx || o->n_ctx > RMCD_MAX_CTX)
		return snprintf(
			       err, errlen,
			       "node %u: its rmcd exports %u context%s per node, this one %u (%.160s)",
			       n->nid, o->n_ctx, o->n_ctx == 1 ? "" : "s", c->n_contexts, where),
		       -EINVAL;
	for (uint32_t k = 0; k < o->n_ctx; k++) {
		uint64_t want = k == 0 ? c->context_pages : c->ctx_pages[k];
		if (o->ctx_pages[k] != want)
			return snprintf(err, errlen,
					"node %u: its context %u has %u pages, this rmcd's %llu "
					"(%s): every rmcd of a cluster must use the same context "
					"sizes",
					n->nid, k, o->ctx_pages[k], (unsigned long long)want,
					where),
			       -EINVAL;
	}
	return 0;
}

static void unmap_ctx(struct rmcd_node *n)
{
	for (uint32_t k = 0; k < n->n_ctx; k++) {
		if (n->ctx[k].dev_base)
			core_rmcdev_unmap(n->ctx[k].dev_base, n->ctx[k].dev_pages);
		else if (n->ctx[k].base)
			munmap(n->ctx[k].base, n->ctx[k].size);
		n->ctx[k].dev_base = NULL;
		if (n->ctx[k].fd >= 0)
			close(n->ctx[k].fd);
		n->ctx[k].base = NULL;
		n->ctx[k].fd = -1;
	}
	n->n_ctx = 0;
}

/* Attaches to node n's rmcd.  0 when attached; -ENOENT or -ECONNREFUSED
 * when it is not up (quietly); another -errno with a message in err. */
static int peer_attach(struct rmcd *d, struct rmcd_node *n, int *pidp, char *err, size_t errlen)
{
	struct ctl_resp p;
	struct ctl_peer_info o;
	int fd, pid = 0, r;

	err[0] = 0;
	*pidp = 0;
	fd = peer_connect(d, n, &pid, err, errlen);
	*pidp = pid;
	if (fd < 0)
		return fd;
	memset(&p, 0, sizeof(p));
	r = peer_call(fd, CTL_PEER_HELLO, (uint32_t)d->self, d->n_nodes, &p, NULL);
	if (r) {
		snprintf(err, errlen, "node %u: its rmcd (pid %d) did not answer as a peer: %s",
			 n->nid, pid, strerror(-r));
		goto fail;
	}
	o = p.u.peer;
	if ((r = peer_compare(d, n, fd, &o, err, errlen)))
		goto fail;
	for (uint32_t k = 0; k < o.n_ctx; k++) {
		uint64_t size = (uint64_t)o.ctx_pages[k] * PAGE_SIZE;
		int seg;

		r = peer_call(fd, CTL_REG_CTX, k, o.ctx_pages[k], &p, &seg);
		if (!r && seg < 0 && p.u.dev.handle) {
			/* A program's memory, registered with rmc.ko: mapped
			 * from /dev/rmc. */
			n->ctx[k].size = size;
			r = rmcd_dev_map(d, p.u.dev.handle, p.u.dev.offset, size,
					 &n->ctx[k].dev_base, &n->ctx[k].base,
					 &n->ctx[k].dev_pages);
			n->n_ctx = k + (r == 0);
			if (r) {
				snprintf(err, errlen,
					 "node %u: cannot map its context %u from %s: %s", n->nid,
					 k, CORE_RMCDEV_PATH, strerror(-r));
				goto fail_ctx;
			}
			continue;
		}
		if (!r && (seg < 0 || core_fd_size(seg) < (ssize_t)size))
			r = -EPROTO;
		if (r) {
			if (seg >= 0)
				close(seg);
			snprintf(err, errlen, "node %u: cannot have context %u from its rmcd: %s",
				 n->nid, k, strerror(-r));
			goto fail_ctx;
		}
		n->ctx[k].fd = seg;
		n->ctx[k].size = size;
		n->ctx[k].base = core_shm_map(seg, size);
		n->n_ctx = k + 1;
		if (!n->ctx[k].base) {
			r = -errno;
			snprintf(err, errlen, "node %u: cannot map context %u: %s", n->nid, k,
				 strerror(-r));
			goto fail_ctx;
		}
	}
	n->peer_fd = fd;
	n->peer_pid = pid;
	n->refused_pid = 0;
	if (++n->gen == 0)
		n->gen = 1;
	/* Publishes ctx[] and n_ctx; pairs with the load-acquire of live in
	 * rmcd__validate(). */
	sonuma_smp_store_release(&n->live, n->gen);
	core_info("node %u: attached to its rmcd (pid %d): %u context%s mapped", n->nid, pid,
		  n->n_ctx, n->n_ctx == 1 ? "" : "s");
	return 0;
fail_ctx:
	unmap_ctx(n);
fail:
	close(fd);
	return r ? r : -EPROTO;
}

/* The peer is gone: no new request reaches it, and once every RMC thread
 * has finished what it was doing, its contexts go. */
static void peer_detach(struct rmcd *d, struct rmcd_node *n)
{
	SONUMA_WRITE_ONCE(n->live, 0);
	for (uint32_t t = 0; t < d->n_rmcs; t++)
		rmcd_rmc_sync(&d->rmcs[t]);
	unmap_ctx(n);
	if (n->peer_fd >= 0)
		close(n->peer_fd);
	n->peer_fd = -1;
	core_warn("node %u: its rmcd (pid %d) is gone: requests to it fail (target node "
		  "unreachable) until it is back",
		  n->nid, n->peer_pid);
}

/* Tries every remote node that is down.  With fatal set (at start), a peer
 * that disagrees with us is an error: returns -EINVAL with the message. */
static int attach_round(struct rmcd *d, bool fatal, bool kicked_only, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < d->n_nodes; i++) {
		struct rmcd_node *n = &d->nodes[i];
		char why[512];
		int r, pid;

		if (n->local || n->live)
			continue;
		if (kicked_only && !__atomic_exchange_n(&n->kick, false, __ATOMIC_ACQ_REL))
			continue;
		r = peer_attach(d, n, &pid, why, sizeof(why));
		if (!r || r == -ENOENT || r == -ECONNREFUSED)
			continue;
		if (fatal && r == -EINVAL) {
			snprintf(err, errlen, "%s", why);
			return r;
		}
		/* Say it once per rmcd that we refuse, not every retry. */
		if (why[0] && n->refused_pid != pid) {
			core_warn("%s", why);
			n->refused_pid = pid;
		}
	}
	return 0;
}

static void *peer_main(void *arg)
{
	struct rmcd *d = arg;
	struct pollfd *pf = calloc(d->n_nodes + 1, sizeof(*pf));
	uint32_t *who = calloc(d->n_nodes + 1, sizeof(*who));
	char err[512];

	if (!pf || !who) {
		core_err("peer thread: out of memory: remote nodes are never attached");
		free(pf);
		free(who);
		return NULL;
	}
	pthread_setname_np(pthread_self(), "rmcd-peer");
	uint64_t last_round = 0;
	while (!SONUMA_READ_ONCE(d->peer_quit)) {
		nfds_t k = 0;

		pf[k].fd = d->peer_evfd;
		pf[k++].events = POLLIN;
		for (uint32_t i = 0; i < d->n_nodes; i++) {
			if (d->nodes[i].local || d->nodes[i].peer_fd < 0)
				continue;
			who[k] = i;
			pf[k].fd = d->nodes[i].peer_fd;
			pf[k++].events = POLLIN | POLLRDHUP;
		}
		int r = poll(pf, k, RETRY_MS);
		bool kicked = false;
		if (r > 0 && (pf[0].revents & POLLIN)) {
			uint64_t v;
			kicked = read(d->peer_evfd, &v, sizeof(v)) == sizeof(v);
		}
		/* A peer never speaks first: anything on its connection is it
		 * going away. */
		for (nfds_t j = 1; r > 0 && j < k; j++)
			if (pf[j].revents)
				peer_detach(d, &d->nodes[who[j]]);
		if (kicked)
			attach_round(d, false, true, err, sizeof(err));
		uint64_t now = core_mono_ns();
		if (now - last_round >= RETRY_MS * 1000000ull) {
			attach_round(d, false, false, err, sizeof(err));
			last_round = now;
		}
	}
	free(pf);
	free(who);
	return NULL;
}

void rmcd_peer_kick(struct rmcd *d, uint32_t nid)
{
	uint64_t one = 1;

	if (nid >= d->n_nodes || d->nodes[nid].local || d->peer_evfd < 0)
		return;
	__atomic_store_n(&d->nodes[nid].kick, true, __ATOMIC_RELEASE);
	if (write(d->peer_evfd, &one, sizeof(one)) < 0)
		core_dbg("peer thread: cannot wake it: %s", strerror(errno));
}

int rmcd_peer_start(struct rmcd *d, char *err, size_t errlen)
{
	int r;

	d->peer_evfd = -1;
	if (d->self < 0)
		return 0; /* every node is ours */
	d->peer_evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->peer_evfd < 0)
		return snprintf(err, errlen, "eventfd: %s", strerror(errno)), -errno;
	/* Those up already, now: one that disagrees with us is refused here,
	 * and we are the one that does not start. */
	if ((r = attach_round(d, true, false, err, errlen)))
		return r;
	r = pthread_create(&d->peer_thread, NULL, peer_main, d);
	if (r)
		return snprintf(err, errlen, "cannot start the peer thread: %s", strerror(r)), -r;
	d->peer_started = true;
	return 0;
}

void rmcd_peer_stop(struct rmcd *d)
{
	uint64_t one = 1;

	/* Before the RMC threads stop: a detach waits for them. */
	SONUMA_WRITE_ONCE(d->peer_quit, 1);
	if (d->peer_evfd >= 0 && write(d->peer_evfd, &one, sizeof(one)) < 0)
		core_dbg("peer thread: cannot wake it: %s", strerror(errno));
	if (d->peer_started)
		pthread_join(d->peer_thread, NULL);
	d->peer_started = false;
}

void rmcd_peer_fini(struct rmcd *d)
{
	for (uint32_t i = 0; d->nodes && i < d->n_nodes; i++) {
		struct rmcd_node *n = &d->nodes[i];
		if (n->local)
			continue;
		n->live = 0;
		unmap_ctx(n);
		if (n->peer_fd >= 0)
			close(n->peer_fd);
		n->peer_fd = -1;
	}
	if (d->peer_evfd >= 0)
		close(d->peer_evfd);
	d->peer_evfd = -1;
}
