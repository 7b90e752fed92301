/* SPDX-License-Identifier: MIT */
/*
 * The fabric's own cost between this host and a peer (sonuma-calibrate
 * --fabric rack.conf --peer NODE): what a program sees through the ucx
 * fabric when the model adds nothing.  This program starts an rmcd for
 * this host's node, with the cluster's rack.conf and the none model, on a
 * private run directory; the peer's rmcd runs on its own host with the
 * same file and the none model (rmcd -c rack.conf -m none NODE_CNT PEER).
 * Attached as this node's program, it times synchronous reads and writes
 * of the peer's context per size, and the bandwidth of asynchronous ones
 * with a window of requests in flight.
 *
 * Why through rmcd and not UCX alone (ucx_perftest): a timing model's
 * target is what a program measures, and the least it can measure is the
 * whole path (posting, the RMC's pickup, UCP's get or put and flush, the
 * completion), which is what rmcd compares the model with.  The UCX round
 * trip alone is printed beside it by experiments/compare-ucx-hosts.sh.
 *
 * The peer's context is written: its rmcd is for the calibration only.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "calibrate.h"
#include "config.h"
#include "core.h"
#include "sonuma.h"

#define FABRIC_WAIT_S 30      /* for the peer to attach */
#define FABRIC_MAX_SPREAD 3.0 /* p90/p10: a network is noisier than a cache line */

static const uint64_t fabric_sizes[] = { 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576 };

/* Whether host (a numeric or resolvable address) is one of this host's:
 * binding a socket to it succeeds. */
static bool address_here(const char *addr)
{
	char host[CORE_ADDR_LEN];
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res, *a;
	unsigned port;
	bool here = false;

	if (core_split_addr(addr, host, sizeof(host), &port) ||
	    getaddrinfo(host, NULL, &hints, &res))
		return false;
	for (a = res; a && !here; a = a->ai_next) {
		int fd = socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		/* Port 0: only the address is tried, whatever listens there. */
		if (a->ai_family == AF_INET)
			((struct sockaddr_in *)a->ai_addr)->sin_port = 0;
		else if (a->ai_family == AF_INET6)
			((struct sockaddr_in6 *)a->ai_addr)->sin6_port = 0;
		here = bind(fd, a->ai_addr, a->ai_addrlen) == 0;
		close(fd);
	}
	freeaddrinfo(res);
	return here;
}

/* This host's node and the peer, from the options and the file. */
static int pick_nodes(const struct cal_opts *o, const struct core_config *c, uint32_t *self,
		      uint32_t *peer, char *err, size_t errlen)
{
	int found = -1, n_found = 0;

	if (o->peer >= 0 && (uint32_t)o->peer >= c->nodes)
		return snprintf(err, errlen, "--peer %d: %s has nodes 0 to %u", o->peer, c->file,
				c->nodes - 1),
		       -EINVAL;
	if (o->node >= 0 && (uint32_t)o->node >= c->nodes)
		return snprintf(err, errlen, "--node %d: %s has nodes 0 to %u", o->node, c->file,
				c->nodes - 1),
		       -EINVAL;
	if (o->node >= 0) {
		*self = (uint32_t)o->node;
	} else if (c->node_id >= 0) {
		*self = (uint32_t)c->node_id;
	} else {
		/* The node whose address is this host's (not the peer's). */
		for (uint32_t i = 0; i < c->nodes && i < c->n_fabric_addr; i++)
			if ((int)i != o->peer && address_here(c->fabric_addr[i])) {
				found = (int)i;
				n_found++;
			}
		if (n_found != 1)
			return snprintf(err, errlen,
					"%s:%u: fabric.nodes: %s of this host's addresses: give "
					"--node NODE, the node this host serves",
					c->file, c->fabric_line,
					n_found ? "several nodes are at" : "no node is at one"),
			       -EINVAL;
		*self = (uint32_t)found;
	}
	if (o->peer >= 0)
		*peer = (uint32_t)o->peer;
	else if (c->nodes == 2)
		*peer = 1 - *self;
	else
		return snprintf(err, errlen,
				"%s has %u nodes: give --peer NODE, the node whose rmcd runs on "
				"the other host",
				c->file, c->nodes),
		       -EINVAL;
	if (*peer == *self)
		return snprintf(err, errlen,
				"--peer %u is the node this host serves (node %u): the peer is "
				"another host's node",
				*peer, *self),
		       -EINVAL;
	return 0;
}

struct fab_run {
	rmc_wq_t *wq;
	rmc_cq_t *cq;
	uint8_t *lbuff;
	uint32_t peer;
	uint64_t size;
	bool write;
	unsigned window;
	double hz;
	uint32_t errors; /* asynchronous completions with an error */
	uint8_t status;	 /* the first one's */
};

/* One synchronous operation per sample. */
static int fab_sync(void *arg, double *v, size_t n, char *err, size_t errlen)
{
	struct fab_run *f = arg;

	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = rmc_rdtsc();
		int r = f->write ? rmc_rwrite_sync(f->wq, f->cq, f->lbuff, 0, (int)f->peer, 0, 0,
						   f->size) :
				   rmc_rread_sync(f->wq, f->cq, f->lbuff, 0, (int)f->peer, 0, 0,
						  f->size);
		uint64_t t1 = rmc_rdtsc();

		if (r) {
			snprintf(err, errlen, "synchronous %s of %llu bytes %s node %u failed: %s",
				 f->write ? "write" : "read", (unsigned long long)f->size,
				 f->write ? "to" : "from", f->peer, strerror(-r));
			return r;
		}
		if (cal_stop)
			return -EINTR;
		v[i] = core_tsc_to_ns(t1 - t0, f->hz);
	}
	return 0;
}

static void fab_done(uint8_t tid, wq_entry_t *head, void *owner)
{
	struct fab_run *f = owner;

	(void)tid;
	if (head->status != RMC_OK && !f->errors++)
		f->status = head->status;
}

/* n asynchronous operations with f->window in flight: GB/s into *gbps. */
static int fab_bw(struct fab_run *f, size_t n, double *gbps, char *err, size_t errlen)
{
	size_t posted = 0, done = 0;
	unsigned inflight = 0;
	uint64_t t0 = rmc_rdtsc(), t1;

	f->errors = 0;
	while (done < n) {
		while (posted < n && inflight < f->window) {
			int tid = f->write ? rmc_rwrite_async(f->wq, f->lbuff, 0, (int)f->peer, 0,
							      0, f->size) :
					     rmc_rread_async(f->wq, f->lbuff, 0, (int)f->peer, 0, 0,
							     f->size);
			if (tid == -EBUSY)
				break;
			if (tid < 0) {
				snprintf(err, errlen, "cannot post an asynchronous %s: %s",
					 f->write ? "write" : "read", strerror(-tid));
				return tid;
			}
			posted++;
			inflight++;
		}
		int k = rmc_wait_cq(f->wq, f->cq, fab_done, f);
		if (k < 0) {
			snprintf(err, errlen, "waiting for asynchronous completions: %s",
				 strerror(-k));
			return k;
		}
		done += (size_t)k;
		inflight -= (unsigned)k;
		if (cal_stop)
			return -EINTR;
	}
	t1 = rmc_rdtsc();
	if (f->errors) {
		snprintf(err, errlen, "%u of %zu asynchronous %ss of %llu bytes failed: %s",
			 f->errors, n, f->write ? "write" : "read", (unsigned long long)f->size,
			 rmc_status_str(f->status));
		return -EIO;
	}
	*gbps = (double)n * (double)f->size / core_tsc_to_ns(t1 - t0, f->hz);
	return 0;
}

/* Waits until the peer is attached to our rmcd; -ETIMEDOUT saying how to
 * start it, or -ECHILD when our rmcd exited (refused by the peer). */
static int wait_peer(struct cal_rmcd *p, int fd, const struct core_config *c, uint32_t peer,
		     struct kal_info *info, char *err, size_t errlen)
{
	uint64_t deadline = core_mono_ns() + FABRIC_WAIT_S * 1000000000ull;
	int r;

	for (;;) {
		if ((r = kal_info(fd, info))) {
			snprintf(err, errlen, "rmcd did not say which nodes are up: %s",
				 strerror(-r));
			return r;
		}
		if (info->nodes_up >> peer & 1)
			return 0;
		/* Exited (refused by the peer, say): left for cal_rmcd_explain
		 * to reap and quote. */
		siginfo_t si = { .si_pid = 0 };
		if (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == p->pid) {
			snprintf(err, errlen,
				 "this host's rmcd exited (the peer's must run the same file with "
				 "the none model: rmcd -c %s -m none %u %u)",
				 c->file, c->nodes, peer);
			return -ECHILD;
		}
		if (cal_stop)
			return -EINTR;
		if (core_mono_ns() > deadline) {
			snprintf(err, errlen,
				 "node %u's rmcd at %s did not attach within %d s: start it on its "
				 "host with the same file and the none model (rmcd -c %s -m none "
				 "%u %u), and the same UCX_TLS",
				 peer, c->fabric_addr[peer], FABRIC_WAIT_S, c->file, c->nodes,
				 peer);
			return -ETIMEDOUT;
		}
		cal_sleep_ms(20);
	}
}

static void now_iso(char *out, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm))
		strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(out, len, "unknown");
}

/* Every size: synchronous reads and writes, then asynchronous bandwidth. */
static int fab_measure(struct cal_ctx *x, struct cal_rmcd *p, const struct core_config *c,
		       uint32_t self, uint32_t peer, char *err, size_t errlen)
{
	struct cal_fabric *fab = &x->fab;
	struct fab_run f = { .hz = x->hz, .peer = peer };
	const struct cal_budget b = { .n_est = 5,
				      .min_n = x->opt.quick ? 10 : 200,
				      .max_n = x->opt.quick ? 500 : 20000,
				      .budget_ns = x->opt.quick ? 20e6 : 500e6,
				      .max_spread = FABRIC_MAX_SPREAD };
	struct kal_info info;
	struct cal_qp q;
	uint64_t top;
	int fd, r;

	if ((fd = cal_rmcd_attach(p, self, err, errlen)) < 0)
		return fd;
	if ((r = wait_peer(p, fd, c, peer, &info, err, errlen)))
		goto out;
	if (strncmp(info.model, "none", sizeof(info.model))) {
		snprintf(err, errlen, "rmcd runs model \"%.31s\"; the fabric's cost needs none",
			 info.model);
		r = -EPROTO;
		goto out;
	}
	if ((r = cal_probe_qp(fd, &info, self, peer, fabric_sizes, CORE_ARRAY_SIZE(fabric_sizes),
			      &q, err, errlen)))
		goto out;
	x->fab_cpu = q.cpu;
	f.wq = q.wq, f.cq = q.cq, f.lbuff = q.lbuff;
	top = q.top;
	f.window = x->opt.outstanding < info.queue_depth ? x->opt.outstanding : info.queue_depth;

	memset(fab, 0, sizeof(*fab));
	snprintf(fab->name, sizeof(fab->name), "ucx");
	fab->node = self;
	fab->peer_node = peer;
	snprintf(fab->address, sizeof(fab->address), "%s", c->fabric_addr[self]);
	snprintf(fab->peer, sizeof(fab->peer), "%s", c->fabric_addr[peer]);
	snprintf(fab->transports, sizeof(fab->transports), "%s",
		 getenv("UCX_TLS") && *getenv("UCX_TLS") ? getenv("UCX_TLS") : "default");
	now_iso(fab->date, sizeof(fab->date));
	fab->outstanding = f.window;
	for (unsigned i = 0; i < CORE_ARRAY_SIZE(fabric_sizes) && fabric_sizes[i] <= top; i++) {
		uint32_t k = fab->n;

		f.size = fabric_sizes[i];
		for (int op = 0; op < 2; op++) {
			struct cal_stats *st = &x->fab_lat[op][k];
			size_t n;

			f.write = op == CAL_FAB_WRITE;
			if ((r = cal_measure_budget(fab_sync, &f, &b, st, err, errlen)))
				goto out;
			fab->ns[op][k] = st->median;
			fab->p10_ns[op][k] = st->p10;
			fab->p90_ns[op][k] = st->p90;
			fab->p99_ns[op][k] = st->p99;
			/* As many as the budget allows with the window full, and
			 * a few windows at least. */
			n = (size_t)(b.budget_ns * f.window / st->median);
			n = n < 4 * (size_t)f.window ? 4 * (size_t)f.window :
			    n > 100000		     ? 100000 :
						       n;
			if ((r = fab_bw(&f, n, &fab->gbps[op][k], err, errlen)))
				goto out;
			x->fab_bw_ops[op][k] = n;
		}
		fab->size[k] = f.size;
		fab->n++;
	}
	x->fab_done = true;
out:
	kal_close(fd);
	return r;
}

int cal_probe_fabric(struct cal_ctx *x, char *err, size_t errlen)
{
	struct core_config *c = calloc(1, sizeof(*c));
	char nodes[16], node[16];
	const char *args[] = { "-c", x->opt.fabric, "-m", "none", nodes, node, NULL };
	struct cal_sigs old;
	struct cal_rmcd p;
	uint32_t self, peer;
	int r;

	if (!c)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	memset(&p, 0, sizeof(p));
	core_config_defaults(c);
	if ((r = core_config_load(c, x->opt.fabric, err, errlen)))
		goto out;
	if (strcmp(c->fabric, "ucx")) {
		snprintf(
			err, errlen,
			"%s: fabric.name is \"%s\": --fabric measures the ucx fabric between hosts "
			"(fabric = { name = \"ucx\"; nodes = [\"host:port\", ...]; })",
			x->opt.fabric, c->fabric);
		r = -EINVAL;
		goto out;
	}
	if ((r = pick_nodes(&x->opt, c, &self, &peer, err, errlen)))
		goto out;
	c->node_id = (int)self;
	if ((r = core_config_check_fabric(c, err, errlen)))
		goto out;
	x->fab_self = self;
	x->fab_peer = peer;
	snprintf(x->fab_conf, sizeof(x->fab_conf), "%s", x->opt.fabric);
	snprintf(nodes, sizeof(nodes), "%u", c->nodes);
	snprintf(node, sizeof(node), "%u", self);
	cal_catch_signals(&old);
	r = cal_rmcd_up(x, &p, NULL, args, 1ull << self, err, errlen);
	if (!r)
		r = fab_measure(x, &p, c, self, peer, err, errlen);
	if (r == -EINTR || cal_stop) {
		snprintf(err, errlen, "interrupted");
		r = -EINTR;
	} else if (r) {
		cal_rmcd_explain(&p, err, errlen);
	}
	cal_rmcd_stop(&p);
	cal_release_signals(&old);
out:
	core_config_free(c);
	free(c);
	return r;
}
