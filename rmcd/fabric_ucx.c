/* SPDX-License-Identifier: MIT */
/*
 * The ucx fabric: nodes on other hosts ("rmcd -c rmc.conf NODE_CNT NODE_ID"
 * on each, fabric.nodes listing where every node listens), reached with
 * UCP's one-sided get, put and atomics on the remote keys of their
 * contexts.  The target's RMC is not involved.
 *
 * Threads and workers.  A UCP worker is used by one thread at a time, so:
 *
 *  - The connection thread ("rmcd-ucx") owns the control worker: the
 *    listener on this node's address, a control endpoint to every other
 *    node's listener for the handshake (HELLO, answered by WELCOME with
 *    the packed remote keys and addresses of its contexts, or by REFUSE
 *    with the reason), and the endpoints other nodes open to us.  Where the
 *    transport has no remote memory access of its own (tcp), UCP performs
 *    other nodes' gets, puts and atomics on our contexts in this worker:
 *    the thread sleeps on the worker's event fd and wakes for them.
 *  - Each RMC thread owns a worker of its own, with a data endpoint to
 *    every other node's listener and the remote keys of that node's
 *    contexts unpacked on it.  It posts _nbx calls from the polling loop
 *    (xfer) and progresses its worker there (progress); their callbacks
 *    report the transfers with rmcd_xfer_done().  The connection thread
 *    hands it a node's address and keys, and takes them back, through its
 *    mailbox (rmcd_rmc_fabric_call), so that every endpoint and key is
 *    created, used and destroyed by the thread whose worker holds it.
 *    A new endpoint is wired up only while its worker is progressed: an
 *    RMC thread without queue pairs does not sleep until its endpoints'
 *    first flushes have completed (busy).
 *
 * Death.  Endpoints use UCP_ERR_HANDLING_MODE_PEER.  When a node's control
 * endpoint fails (its rmcd died, the connection broke), the connection
 * thread clears node->live, so that validation refuses new requests with
 * RMC_ERR_UNREACHABLE, and has every RMC thread close its data endpoint to
 * the node, which completes the requests still in flight with an error
 * (RMC_ERR_UNREACHABLE).  An RMC thread whose data endpoint fails first
 * wakes the connection thread to do the same.  The connection thread then
 * tries the node again every RETRY_MS until it is back, with a new
 * generation of node->live.
 *
 * A node's requests to its own context do not go through UCX: they are
 * the shm fabric's memcpy and CPU atomics (see the README on atomics with
 * RDMA NICs).
 */

#include <errno.h>
#include <stdarg.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <ucp/api/ucp.h>

#include "core.h"
#include "rmcd.h"
#include "sonuma/barrier.h"

#define UCX_AM_ID 0x534e      /* our active messages */
#define UCX_MAGIC 0x58554e53u /* "SNUX" */
#define UCX_VERSION 1
#define RETRY_MS 200	      /* between attempts to reach a node */
#define REFUSED_RETRY_MS 1000 /* after a node refused us */
#define HELLO_TIMEOUT_MS 2000 /* for an answer to a HELLO */
#define START_MS 1500	      /* what start waits for the nodes already up */
#define MAX_ACCEPTED 256      /* endpoints other nodes may have open to us */
#define MAX_KEYS 8192	      /* bytes of packed keys in one message */

enum ucx_kind { UCX_HELLO = 1, UCX_WELCOME = 2, UCX_REFUSE = 3 };

/* Why a node refused another: whether to give up at start. */
enum ucx_refusal {
	REF_VERSION = 1,   /* another handshake version */
	REF_DISAGREE = 2,  /* another cluster: NODE_CNT, model, contexts */
	REF_ADDRESS = 3,   /* not from the claimed node's address, or wrong node */
	REF_DUPLICATE = 4, /* the node is served by another rmcd already */
	REF_OTHER = 5,
};

/* The handshake, one active message each way; WELCOME is followed by the
 * packed remote keys of the sender's contexts (rkey_len[k] bytes each). */
struct ucx_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t kind; /* enum ucx_kind */
	uint32_t nid;  /* the sender's node */
	uint32_t to;   /* the node the sender believes it talks to */
	uint32_t nodes;
	uint32_t n_ctx;
	uint32_t pid;
	uint32_t refusal;     /* REFUSE: enum ucx_refusal */
	uint64_t incarnation; /* of the sender's rmcd */
	uint64_t nonce;	      /* HELLO: fresh; WELCOME, REFUSE: the HELLO's */
	uint64_t desc_hash;   /* of the model's description */
	uint64_t ctx_addr[RMCD_MAX_CTX];
	uint32_t ctx_pages[RMCD_MAX_CTX];
	uint32_t rkey_len[RMCD_MAX_CTX];
	char model[32];
	char text[256]; /* REFUSE: why; else the model's description */
};
_Static_assert(sizeof(struct ucx_hello) == 600, "the handshake is 600 bytes");
_Static_assert(RMCD_MAX_CTX == 16, "the handshake carries 16 contexts");

/* Another node, seen from the connection thread. */
struct ucx_peer {
	uint32_t nid;
	struct sockaddr_storage sa;
	socklen_t salen;
	const char *addr; /* as in fabric.nodes */
	ucp_ep_h ep;	  /* control endpoint, or NULL */
	enum { P_DOWN, P_HELLO, P_UP } state;
	bool failed; /* its control endpoint reported an error */
	ucs_status_t fail_status;
	uint32_t kick;	 /* atomic: an RMC thread's endpoint to it failed */
	uint64_t t_next; /* when to try again (mono ns) */
	uint64_t t_sent; /* when the HELLO went */
	uint64_t nonce;
	uint64_t incarnation; /* of the rmcd we are attached to */
	uint32_t pid;
	bool tried; /* at start: its first attempt has ended */
	enum ucx_refusal refused;
	char said[320];	     /* the last thing logged about it, to say it once */
	uint64_t refused_in; /* incarnation of the last HELLO from it we refused */
	struct ucx_fabric *f;
};

/* An endpoint another node opened to our listener. */
struct ucx_accepted {
	ucp_ep_h ep;
	struct sockaddr_storage from;
	bool failed;
	struct ucx_fabric *f;
	struct ucx_accepted *next;
};

/* A handshake message received, handled after progress returns. */
struct ucx_msg {
	struct ucx_msg *next;
	ucp_ep_h reply_ep;
	size_t len;
	uint8_t data[];
};

/* A message on its way out, freed when UCP is done with it. */
struct ucx_out {
	struct ucx_fabric *f;
	size_t len;
	uint8_t data[];
};

struct ucx_fabric {
	struct rmcd *d;
	ucp_context_h ctx;
	ucp_worker_h worker; /* the control worker */
	ucp_listener_h listener;
	int efd, evfd;
	uint64_t spin_ns; /* fabric.spin_us */
	pthread_t thread;
	bool started;
	uint32_t quit; /* atomic */
	uint64_t incarnation;
	uint64_t nonces;
	char desc[200];
	ucp_mem_h ctx_memh[RMCD_MAX_CTX];
	void *rkey[RMCD_MAX_CTX];
	size_t rkey_len[RMCD_MAX_CTX];
	uint32_t n_ctx;
	struct ucx_peer *peers; /* [n_nodes]; ours unused */
	struct ucx_accepted *acc;
	unsigned n_acc;
	struct ucx_msg *inbox, **inbox_tail;
	unsigned n_out;			      /* messages not yet sent */
	struct sockaddr_storage strangers[8]; /* unknown addresses refused, said once */
	unsigned n_strangers;
	bool starting; /* a refusal is fatal */
	int fatal;
	char fatal_msg[512];
};

/* A node, seen from an RMC thread. */
struct ucx_node_ep {
	ucp_ep_h ep;
	ucp_rkey_h rkey[RMCD_MAX_CTX];
	uint64_t addr[RMCD_MAX_CTX];
	uint32_t n_ctx;
	uint32_t gen; /* the node's generation these belong to; 0: none */
	bool failed;  /* the endpoint reported an error */
	uint32_t nid;
	struct ucx_rmc *r;
	/* Writes whose put is posted and whose flush is not: the cookies the
	 * next flush of this endpoint completes (ucx_progress). */
	uint32_t *unflushed;
	uint32_t n_unflushed, cap_unflushed;
};

struct ucx_rmc {
	struct ucx_fabric *f;
	struct rmcd_rmc *m;
	ucp_worker_h worker;
	struct ucx_node_ep *node; /* [n_nodes] */
	uint32_t wiring;	  /* endpoints whose first flush has not completed */
};

/* The part of every UCP request that is ours (ucp_params.request_size). */
struct ucx_req {
	uint32_t cookie;
};

/* What the connection thread asks an RMC thread to do (its mailbox). */
struct ucx_call {
	enum { CALL_ATTACH, CALL_DETACH } op;
	uint32_t nid, gen;
	const struct ucx_peer *p;
	const struct ucx_hello *h; /* CALL_ATTACH: the WELCOME, keys after it */
	int status;
	char err[200];
};

/* snprintf, for messages that may be cut short at the buffer's end. */
static void fmt(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vsnprintf(buf, len, f, ap);
	va_end(ap);
}

static uint8_t status_of(ucs_status_t s)
{
	switch (s) {
	case UCS_OK:
		return RMC_OK;
	case UCS_ERR_CANCELED:
	case UCS_ERR_CONNECTION_RESET:
	case UCS_ERR_ENDPOINT_TIMEOUT:
	case UCS_ERR_UNREACHABLE:
	case UCS_ERR_REJECTED:
	case UCS_ERR_NOT_CONNECTED:
	case UCS_ERR_TIMED_OUT:
	case UCS_ERR_IO_ERROR:
		return RMC_ERR_UNREACHABLE;
	default:
		return RMC_ERR_FABRIC;
	}
}

static int errno_of(ucs_status_t s)
{
	switch (s) {
	case UCS_ERR_NO_MEMORY:
		return -ENOMEM;
	case UCS_ERR_BUSY:
		return -EADDRINUSE;
	case UCS_ERR_INVALID_ADDR:
		return -EADDRNOTAVAIL;
	case UCS_ERR_UNREACHABLE:
		return -EHOSTUNREACH;
	default:
		return -EIO;
	}
}

/* ---- the data path: RMC threads ---------------------------------------- */

static void xfer_done(void *request, ucs_status_t status, void *user_data)
{
	struct rmcd_rmc *m = user_data;
	uint32_t cookie = ((struct ucx_req *)request)->cookie;

	ucp_request_free(request);
	rmcd_xfer_done(m, cookie, status_of(status));
}

/* One flush for the writes of an endpoint put since the last one: it
 * completes them all (UCP flushes every operation posted before it). */
struct ucx_flush {
	struct rmcd_rmc *m;
	uint32_t n;
	uint32_t cookie[];
};

static void flush_done(void *request, ucs_status_t status, void *user_data)
{
	struct ucx_flush *b = user_data;

	ucp_request_free(request);
	for (uint32_t i = 0; i < b->n; i++)
		rmcd_xfer_done(b->m, b->cookie[i], status_of(status));
	free(b);
}

/* Completes the writes of ne waiting for a flush with status (the endpoint
 * is going, or no flush could be posted). */
static void unflushed_fail(struct ucx_rmc *r, struct ucx_node_ep *ne, uint8_t status)
{
	uint32_t n = ne->n_unflushed;

	ne->n_unflushed = 0;
	for (uint32_t i = 0; i < n; i++)
		rmcd_xfer_done(r->m, ne->unflushed[i], status);
}

/* Posts the flush that completes ne's writes put so far. */
static void unflushed_flush(struct ucx_rmc *r, struct ucx_node_ep *ne)
{
	uint32_t n = ne->n_unflushed;
	struct ucx_flush *b = malloc(sizeof(*b) + n * sizeof(b->cookie[0]));
	ucs_status_ptr_t s;

	if (!b) {
		unflushed_fail(r, ne, RMC_ERR_FABRIC);
		return;
	}
	b->m = r->m;
	b->n = n;
	memcpy(b->cookie, ne->unflushed, n * sizeof(b->cookie[0]));
	ne->n_unflushed = 0;
	ucp_request_param_t p = {
		.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
		.cb.send = flush_done,
		.user_data = b,
	};
	s = ucp_ep_flush_nbx(ne->ep, &p);
	if (UCS_PTR_IS_PTR(s))
		return;
	for (uint32_t i = 0; i < n; i++)
		rmcd_xfer_done(r->m, b->cookie[i], status_of(UCS_PTR_STATUS(s)));
	free(b);
}

/* Room for one more write waiting for its flush; false when there is no
 * memory for it (the write then gets a flush of its own). */
static bool unflushed_room(struct ucx_node_ep *ne)
{
	if (ne->n_unflushed < ne->cap_unflushed)
		return true;
	uint32_t cap = ne->cap_unflushed ? 2 * ne->cap_unflushed : 64;
	uint32_t *v = realloc(ne->unflushed, cap * sizeof(*v));
	if (!v)
		return false;
	ne->unflushed = v;
	ne->cap_unflushed = cap;
	return true;
}

static uint8_t ucx_xfer(struct rmcd_rmc *m, const struct rmcd_xfer *x)
{
	struct rmcd *d = m->d;
	struct ucx_rmc *r = m->fab;
	struct ucx_node_ep *ne = &r->node[x->dst];
	ucp_request_param_t p = {
		.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
		.cb.send = xfer_done,
		.user_data = m,
	};
	ucs_status_ptr_t s;
	uint64_t raddr;

	if (x->dst == (uint32_t)d->self)
		return rmcd_shm_xfer(d, x);
	/* Validated against a generation this thread no longer holds: the
	 * node went (and maybe came back) meanwhile. */
	if (ne->gen != x->gen || ne->failed || !rmcd_target_live(d, x))
		return RMC_ERR_UNREACHABLE;
	raddr = ne->addr[x->cid] + x->offset;
	switch (x->op) {
	case RMC_OP_READ:
		if (x->memh) {
			p.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
			p.memh = x->memh;
		}
		s = ucp_get_nbx(ne->ep, x->local, x->length, raddr, ne->rkey[x->cid], &p);
		break;
	case RMC_OP_WRITE: {
		/* A put completes when its buffer may be reused; a write
		 * completes when it is in the target's memory: the flush says
		 * so, and carries the completion. */
		ucp_request_param_t pp = { .op_attr_mask = 0 };
		if (x->memh) {
			pp.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
			pp.memh = x->memh;
		}
		s = ucp_put_nbx(ne->ep, x->local, x->length, raddr, ne->rkey[x->cid], &pp);
		if (UCS_PTR_IS_ERR(s))
			return status_of(UCS_PTR_STATUS(s));
		if (s)
			ucp_request_free(s); /* goes on; the flush waits for it */
		/* The flush comes at the end of this pass of the RMC loop
		 * (ucx_progress), one for every write put to the node in it:
		 * a flush is a round trip of its own. */
		if (unflushed_room(ne)) {
			ne->unflushed[ne->n_unflushed++] = x->cookie;
			return RMCD_XFER_PENDING;
		}
		s = ucp_ep_flush_nbx(ne->ep, &p);
		break;
	}
	case RMC_OP_CAS:
	case RMC_OP_FAA:
		/* The old value lands in the local buffer; for a CAS the reply
		 * buffer holds the value to swap in on the way out. */
		p.op_attr_mask |= UCP_OP_ATTR_FIELD_REPLY_BUFFER | UCP_OP_ATTR_FIELD_DATATYPE;
		p.reply_buffer = x->local;
		p.datatype = ucp_dt_make_contig(sizeof(uint64_t));
		if (x->op == RMC_OP_CAS)
			memcpy(x->local, &x->arg1, sizeof(uint64_t));
		s = ucp_atomic_op_nbx(ne->ep,
				      x->op == RMC_OP_CAS ? UCP_ATOMIC_OP_CSWAP : UCP_ATOMIC_OP_ADD,
				      &x->arg0, 1, raddr, ne->rkey[x->cid], &p);
		break;
	default:
		return RMC_ERR_OP;
	}
	if (!s)
		return RMC_OK;
	if (UCS_PTR_IS_ERR(s))
		return status_of(UCS_PTR_STATUS(s));
	((struct ucx_req *)s)->cookie = x->cookie;
	return RMCD_XFER_PENDING;
}

static int ucx_progress(struct rmcd_rmc *m)
{
	struct ucx_rmc *r = m->fab;

	for (uint32_t i = 0; i < m->d->n_nodes; i++)
		if (r->node[i].n_unflushed)
			unflushed_flush(r, &r->node[i]);
	return (int)ucp_worker_progress(r->worker);
}

/* A new endpoint is wired up (client-server: UCP sends our worker's
 * address once the socket connects) only while its worker is progressed,
 * and until then UCX's async thread finds the connecting socket writable
 * on every turn and spins on it: a whole CPU, for as long as the RMC
 * thread of a node without programs sleeps.  The endpoint's first flush
 * completes once it is wired up; until then the thread progresses. */
static void wired(void *request, ucs_status_t status, void *user_data)
{
	struct ucx_rmc *r = user_data;

	(void)status;
	ucp_request_free(request);
	r->wiring--;
}

static bool ucx_busy(struct rmcd_rmc *m)
{
	struct ucx_rmc *r = m->fab;

	return r->wiring != 0;
}

/* An RMC thread's endpoint failed: no more requests through it, and the
 * connection thread is told (it detaches the node and tries it again). */
static void rmc_ep_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
	struct ucx_node_ep *ne = arg;
	struct ucx_fabric *f = ne->r->f;
	uint64_t one = 1;

	(void)ep;
	ne->failed = true;
	core_dbg("node %u: RMC thread %d's endpoint failed: %s", ne->nid, ne->r->m->idx,
		 ucs_status_string(status));
	__atomic_store_n(&f->peers[ne->nid].kick, 1, __ATOMIC_RELEASE);
	if (write(f->evfd, &one, sizeof(one)) < 0)
		core_dbg("ucx: cannot wake the connection thread: %s", strerror(errno));
}

/* Closes an endpoint at once (requests in flight complete with an
 * error) and waits, progressing worker, until UCP is done with it. */
static void ep_close_force(ucp_worker_h worker, ucp_ep_h ep)
{
	ucp_request_param_t p = { .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
				  .flags = UCP_EP_CLOSE_FLAG_FORCE };
	ucs_status_ptr_t s = ucp_ep_close_nbx(ep, &p);
	uint64_t end = core_mono_ns() + 2000000000ull;

	if (!s || UCS_PTR_IS_ERR(s))
		return;
	while (ucp_request_check_status(s) == UCS_INPROGRESS && core_mono_ns() < end)
		ucp_worker_progress(worker);
	if (ucp_request_check_status(s) == UCS_INPROGRESS)
		core_warn("ucx: an endpoint did not close in 2 s");
	ucp_request_free(s);
}

static void node_ep_drop(struct ucx_rmc *r, struct ucx_node_ep *ne)
{
	/* Writes put through it and never flushed: whether they landed is
	 * not known, and the node is going. */
	unflushed_fail(r, ne, RMC_ERR_UNREACHABLE);
	ne->gen = 0;
	if (ne->ep)
		/* Before the keys go: requests in flight are completed (with an
		 * error) and none uses a key any more. */
		ep_close_force(r->worker, ne->ep);
	for (uint32_t k = 0; k < ne->n_ctx; k++)
		if (ne->rkey[k])
			ucp_rkey_destroy(ne->rkey[k]);
	memset(ne->rkey, 0, sizeof(ne->rkey));
	ne->ep = NULL;
	ne->n_ctx = 0;
	ne->failed = false;
}

static int node_ep_make(struct ucx_rmc *r, struct ucx_call *c)
{
	struct ucx_node_ep *ne = &r->node[c->nid];
	const struct ucx_hello *h = c->h;
	const uint8_t *key = (const uint8_t *)(h + 1);
	ucp_ep_params_t ep = {
		.field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR |
			      UCP_EP_PARAM_FIELD_ERR_HANDLER | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE,
		.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER,
		.sockaddr = { .addr = (const struct sockaddr *)&c->p->sa, .addrlen = c->p->salen },
		.err_mode = UCP_ERR_HANDLING_MODE_PEER,
		.err_handler = { .cb = rmc_ep_error, .arg = ne },
	};
	ucs_status_t s;

	node_ep_drop(r, ne);
	s = ucp_ep_create(r->worker, &ep, &ne->ep);
	if (s != UCS_OK) {
		ne->ep = NULL;
		snprintf(c->err, sizeof(c->err), "cannot open an endpoint to %s: %s", c->p->addr,
			 ucs_status_string(s));
		return errno_of(s);
	}
	ucp_request_param_t fp = { .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK |
						   UCP_OP_ATTR_FIELD_USER_DATA,
				   .cb.send = wired,
				   .user_data = r };
	ucs_status_ptr_t fs = ucp_ep_flush_nbx(ne->ep, &fp);
	if (fs && !UCS_PTR_IS_ERR(fs))
		r->wiring++;
	/* Unpacked now, on the endpoint still being wired up: UCP resolves
	 * a key again when the endpoint's configuration changes. */
	for (uint32_t k = 0; k < h->n_ctx; k++) {
		s = ucp_ep_rkey_unpack(ne->ep, key, &ne->rkey[k]);
		ne->n_ctx = k + 1;
		if (s != UCS_OK) {
			ne->rkey[k] = NULL;
			snprintf(c->err, sizeof(c->err),
				 "cannot unpack the key of its context %u: %s", k,
				 ucs_status_string(s));
			node_ep_drop(r, ne);
			return errno_of(s);
		}
		ne->addr[k] = h->ctx_addr[k];
		key += h->rkey_len[k];
	}
	ne->gen = c->gen;
	return 0;
}

static void ucx_mbox(struct rmcd_rmc *m, void *arg)
{
	struct ucx_rmc *r = m->fab;
	struct ucx_call *c = arg;

	if (c->op == CALL_ATTACH)
		c->status = node_ep_make(r, c);
	else
		node_ep_drop(r, &r->node[c->nid]);
}

static int ucx_reg(struct rmcd *d, void *addr, size_t len, void **memh)
{
	struct ucx_fabric *f = d->fab;
	ucp_mem_map_params_t p = { .field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS |
						 UCP_MEM_MAP_PARAM_FIELD_LENGTH,
				   .address = addr,
				   .length = len };
	ucp_mem_h h;
	ucs_status_t s = ucp_mem_map(f->ctx, &p, &h);

	if (s != UCS_OK)
		return errno_of(s);
	*memh = h;
	return 0;
}

static void ucx_dereg(struct rmcd *d, void *memh)
{
	struct ucx_fabric *f = d->fab;

	ucp_mem_unmap(f->ctx, memh);
}

/* ---- the handshake: the connection thread -------------------------------- */

static void fill_hello(struct ucx_fabric *f, struct ucx_hello *h, enum ucx_kind kind, uint32_t to,
		       uint64_t nonce)
{
	const struct core_config *c = &f->d->cfg;

	memset(h, 0, sizeof(*h));
	h->magic = UCX_MAGIC;
	h->version = UCX_VERSION;
	h->kind = (uint16_t)kind;
	h->nid = (uint32_t)f->d->self;
	h->to = to;
	h->nodes = f->d->n_nodes;
	h->n_ctx = c->n_contexts;
	h->pid = (uint32_t)getpid();
	h->incarnation = f->incarnation;
	h->nonce = nonce;
	h->desc_hash = f->d->desc_hash;
	for (uint32_t k = 0; k < c->n_contexts && k < RMCD_MAX_CTX; k++)
		h->ctx_pages[k] = (uint32_t)(k == 0 ? c->context_pages : c->ctx_pages[k]);
	snprintf(h->model, sizeof(h->model), "%s", f->d->model->name);
	snprintf(h->text, sizeof(h->text), "%s", f->desc);
}

/* Whether node h->nid's rmcd runs the cluster we run: 0, or a refusal
 * with the reason in why, naming both values. */
static enum ucx_refusal disagree(struct ucx_fabric *f, const struct ucx_hello *h, char *why,
				 size_t len)
{
	struct rmcd *d = f->d;
	const struct core_config *c = &d->cfg;
	char theirs[sizeof(h->text)];

	if (h->nodes != d->n_nodes)
		return fmt(why, len,
			   "node %u's rmcd runs a cluster of %u nodes, node %d's of %u "
			   "(NODE_CNT must be the same for every rmcd)",
			   h->nid, h->nodes, d->self, d->n_nodes),
		       REF_DISAGREE;
	if (strncmp(h->model, d->model->name, sizeof(h->model)) || h->desc_hash != d->desc_hash) {
		memcpy(theirs, h->text, sizeof(theirs));
		theirs[sizeof(theirs) - 1] = 0;
		return fmt(why, len,
			   "node %u's rmcd runs the timing model \"%.100s\", node %d's \"%.100s\": "
			   "every rmcd of a cluster must run the same model",
			   h->nid, theirs, d->self, f->desc),
		       REF_DISAGREE;
	}
	if (h->n_ctx != c->n_contexts)
		return fmt(why, len, "node %u's rmcd exports %u context%s per node, node %d's %u",
			   h->nid, h->n_ctx, h->n_ctx == 1 ? "" : "s", d->self, c->n_contexts),
		       REF_DISAGREE;
	for (uint32_t k = 0; k < h->n_ctx; k++) {
		uint64_t want = k == 0 ? c->context_pages : c->ctx_pages[k];
		if (h->ctx_pages[k] != want)
			return fmt(why, len,
				   "node %u's context %u has %u pages, node %d's %llu: every "
				   "rmcd of a cluster must use the same context sizes",
				   h->nid, k, h->ctx_pages[k], d->self, (unsigned long long)want),
			       REF_DISAGREE;
	}
	return 0;
}

static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr,
			       sizeof(struct in6_addr));
	return false;
}

static const char *host_str(const struct sockaddr_storage *sa, char *buf, size_t len)
{
	const void *a = sa->ss_family == AF_INET6 ?
				(const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr :
				(const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	if (!inet_ntop(sa->ss_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "(an address of family %d)", sa->ss_family);
	return buf;
}

static void out_done(void *request, ucs_status_t status, void *user_data)
{
	struct ucx_out *o = user_data;

	(void)status;
	o->f->n_out--;
	free(o);
	ucp_request_free(request);
}

/* Sends a handshake message (and keys) on ep; the message is copied. */
static int send_msg(struct ucx_fabric *f, ucp_ep_h ep, const struct ucx_hello *h, const void *keys,
		    size_t keys_len)
{
	struct ucx_out *o = malloc(sizeof(*o) + sizeof(*h) + keys_len);
	ucs_status_ptr_t s;

	if (!o)
		return -ENOMEM;
	o->f = f;
	o->len = sizeof(*h) + keys_len;
	memcpy(o->data, h, sizeof(*h));
	if (keys_len)
		memcpy(o->data + sizeof(*h), keys, keys_len);
	ucp_request_param_t p = {
		.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
				UCP_OP_ATTR_FIELD_FLAGS,
		.flags = UCP_AM_SEND_FLAG_REPLY | UCP_AM_SEND_FLAG_EAGER,
		.cb.send = out_done,
		.user_data = o,
	};
	s = ucp_am_send_nbx(ep, UCX_AM_ID, NULL, 0, o->data, o->len, &p);
	if (!s) {
		free(o);
		return 0;
	}
	if (UCS_PTR_IS_ERR(s)) {
		free(o);
		return errno_of(UCS_PTR_STATUS(s));
	}
	f->n_out++;
	return 0;
}

/* Handshake messages are copied and handled once progress returns
 * (nothing is sent from inside a callback). */
static ucs_status_t am_recv(void *arg, const void *header, size_t header_length, void *data,
			    size_t length, const ucp_am_recv_param_t *param)
{
	struct ucx_fabric *f = arg;
	struct ucx_msg *msg;

	(void)header;
	(void)header_length;
	if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
		core_warn("ucx: a handshake message of %zu bytes came by rendezvous, which no "
			  "rmcd sends: ignored",
			  length);
		return UCS_OK;
	}
	if (length > sizeof(struct ucx_hello) + MAX_KEYS) {
		core_warn("ucx: a handshake message of %zu bytes, more than %zu: ignored", length,
			  sizeof(struct ucx_hello) + MAX_KEYS);
		return UCS_OK;
	}
	msg = malloc(sizeof(*msg) + length);
	if (!msg)
		return UCS_OK;
	msg->next = NULL;
	msg->reply_ep = param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP ? param->reply_ep : NULL;
	msg->len = length;
	memcpy(msg->data, data, length);
	*f->inbox_tail = msg;
	f->inbox_tail = &msg->next;
	return UCS_OK;
}

static void acc_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
	struct ucx_accepted *a = arg;

	(void)ep;
	(void)status;
	a->failed = true;
}

/* Another node opens an endpoint to us: its control or data endpoint. */
static void on_conn(ucp_conn_request_h req, void *arg)
{
	struct ucx_fabric *f = arg;
	ucp_conn_request_attr_t attr = { .field_mask = UCP_CONN_REQUEST_ATTR_FIELD_CLIENT_ADDR };
	struct ucx_accepted *a;
	char host[64];
	bool known = false;

	if (ucp_conn_request_query(req, &attr) != UCS_OK) {
		ucp_listener_reject(f->listener, req);
		return;
	}
	for (uint32_t i = 0; i < f->d->n_nodes; i++)
		known |= same_host(&attr.client_address, &f->peers[i].sa);
	if (!known) {
		bool said = false;
		for (unsigned i = 0; i < f->n_strangers && i < 8; i++)
			said |= same_host(&attr.client_address, &f->strangers[i]);
		if (!said) {
			core_warn("ucx: a connection from %s, which is not the address of any node "
				  "in fabric.nodes (%s): refused (said once per address)",
				  host_str(&attr.client_address, host, sizeof(host)),
				  f->d->cfg.file);
			f->strangers[f->n_strangers++ % 8] = attr.client_address;
		}
		ucp_listener_reject(f->listener, req);
		return;
	}
	if (f->n_acc >= MAX_ACCEPTED || !(a = calloc(1, sizeof(*a)))) {
		core_warn("ucx: a connection from %s: %u endpoints open already: refused",
			  host_str(&attr.client_address, host, sizeof(host)), f->n_acc);
		ucp_listener_reject(f->listener, req);
		return;
	}
	ucp_ep_params_t p = {
		.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST | UCP_EP_PARAM_FIELD_ERR_HANDLER |
			      UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE,
		.conn_request = req,
		.err_mode = UCP_ERR_HANDLING_MODE_PEER,
		.err_handler = { .cb = acc_error, .arg = a },
	};
	a->f = f;
	a->from = attr.client_address;
	if (ucp_ep_create(f->worker, &p, &a->ep) != UCS_OK) {
		free(a);
		return;
	}
	a->next = f->acc;
	f->acc = a;
	f->n_acc++;
}

/* Logs what a peer says once, not at every retry. */
static void say_once(struct ucx_peer *p, bool warn, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say_once(struct ucx_peer *p, bool warn, const char *fmt, ...)
{
	char msg[sizeof(p->said)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!strcmp(msg, p->said))
		return;
	memcpy(p->said, msg, sizeof(msg));
	if (warn)
		core_warn("%s", msg);
	else
		core_info("%s", msg);
}

static void peer_close(struct ucx_fabric *f, struct ucx_peer *p, uint64_t retry_ms)
{
	if (p->ep)
		ep_close_force(f->worker, p->ep);
	p->ep = NULL;
	p->state = P_DOWN;
	p->failed = false;
	p->tried = true;
	p->t_next = core_mono_ns() + retry_ms * 1000000ull;
}

/* No new request reaches node p any more, and the RMC threads close their
 * endpoints to it, completing what was in flight with an error. */
static void peer_detach(struct ucx_fabric *f, struct ucx_peer *p, const char *why)
{
	struct rmcd *d = f->d;
	struct rmcd_node *n = &d->nodes[p->nid];
	struct ucx_call c = { .op = CALL_DETACH, .nid = p->nid };

	SONUMA_WRITE_ONCE(n->live, 0);
	for (uint32_t t = 0; t < d->n_rmcs; t++)
		rmcd_rmc_fabric_call(&d->rmcs[t], &c);
	__atomic_store_n(&p->kick, 0, __ATOMIC_RELAXED);
	core_warn("node %u: %s (its rmcd at %s, pid %u): requests to it fail (target node "
		  "unreachable) until it is back",
		  p->nid, why, p->addr, p->pid);
	p->said[0] = 0;
	peer_close(f, p, RETRY_MS);
}

static void ctl_ep_error(void *arg, ucp_ep_h ep, ucs_status_t status)
{
	struct ucx_peer *p = arg;

	(void)ep;
	p->failed = true;
	p->fail_status = status;
}

static void peer_connect(struct ucx_fabric *f, struct ucx_peer *p)
{
	ucp_ep_params_t ep = {
		.field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR |
			      UCP_EP_PARAM_FIELD_ERR_HANDLER | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE,
		.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER,
		.sockaddr = { .addr = (const struct sockaddr *)&p->sa, .addrlen = p->salen },
		.err_mode = UCP_ERR_HANDLING_MODE_PEER,
		.err_handler = { .cb = ctl_ep_error, .arg = p },
	};
	struct ucx_hello h;
	ucs_status_t s;

	p->failed = false;
	s = ucp_ep_create(f->worker, &ep, &p->ep);
	if (s != UCS_OK) {
		p->ep = NULL;
		say_once(p, true, "node %u: cannot open an endpoint to %s: %s", p->nid, p->addr,
			 ucs_status_string(s));
		peer_close(f, p, RETRY_MS);
		return;
	}
	p->nonce = f->incarnation ^ ++f->nonces;
	fill_hello(f, &h, UCX_HELLO, p->nid, p->nonce);
	if (send_msg(f, p->ep, &h, NULL, 0)) {
		peer_close(f, p, RETRY_MS);
		return;
	}
	p->state = P_HELLO;
	p->t_sent = core_mono_ns();
}

static struct ucx_accepted *acc_of(struct ucx_fabric *f, ucp_ep_h ep)
{
	for (struct ucx_accepted *a = f->acc; a; a = a->next)
		if (a->ep == ep)
			return a;
	return NULL;
}

static void refuse(struct ucx_fabric *f, ucp_ep_h ep, const struct ucx_hello *h,
		   enum ucx_refusal why, const char *text)
{
	struct ucx_hello r;

	fill_hello(f, &r, UCX_REFUSE, h->nid, h->nonce);
	r.refusal = why;
	fmt(r.text, sizeof(r.text), "%s", text);
	send_msg(f, ep, &r, NULL, 0);
}

/* Node h->nid says HELLO: answer WELCOME with our contexts' keys, or
 * REFUSE with why (logged once per rmcd refused). */
static void on_hello(struct ucx_fabric *f, const struct ucx_msg *msg, const struct ucx_hello *h)
{
	struct rmcd *d = f->d;
	struct ucx_accepted *a = msg->reply_ep ? acc_of(f, msg->reply_ep) : NULL;
	char why[300], host[64], want[64];
	enum ucx_refusal ref = 0;
	struct ucx_peer *p;

	if (!a) {
		core_warn("ucx: a handshake on an endpoint no node opened: ignored");
		return;
	}
	host_str(&a->from, host, sizeof(host));
	if (h->nid >= d->n_nodes || h->nid == (uint32_t)d->self) {
		snprintf(why, sizeof(why),
			 "a peer at %s claims to be node %u, which %s (this is node %d of %u)",
			 host, h->nid,
			 h->nid >= d->n_nodes ? "does not exist" : "is this rmcd's own", d->self,
			 d->n_nodes);
		core_warn("%s: refused", why);
		refuse(f, msg->reply_ep, h, h->nid >= d->n_nodes ? REF_DISAGREE : REF_DUPLICATE,
		       why);
		return;
	}
	p = &f->peers[h->nid];
	if (h->to != (uint32_t)d->self) {
		snprintf(why, sizeof(why),
			 "node %u's rmcd at %s believes it talks to node %u, but this is node %d "
			 "(fabric.nodes differ between hosts?)",
			 h->nid, host, h->to, d->self);
		ref = REF_ADDRESS;
	} else if (!same_host(&a->from, &p->sa)) {
		snprintf(why, sizeof(why),
			 "a peer at %s claims to be node %u, whose address in fabric.nodes is %s "
			 "(%s)",
			 host, h->nid, p->addr, host_str(&p->sa, want, sizeof(want)));
		ref = REF_ADDRESS;
	} else if (!(ref = disagree(f, h, why, sizeof(why))) && p->state == P_UP &&
		   p->incarnation != h->incarnation) {
		snprintf(why, sizeof(why),
			 "a second rmcd (pid %u at %s) claims node %u, which the rmcd of pid %u "
			 "attached to node %d serves",
			 h->pid, host, h->nid, p->pid, d->self);
		ref = REF_DUPLICATE;
	}
	if (ref) {
		if (p->refused_in != h->incarnation)
			core_warn("%s: refused", why);
		p->refused_in = h->incarnation;
		refuse(f, msg->reply_ep, h, ref, why);
		return;
	}
	struct ucx_hello w;
	uint8_t keys[MAX_KEYS];
	size_t len = 0;

	fill_hello(f, &w, UCX_WELCOME, h->nid, h->nonce);
	for (uint32_t k = 0; k < f->n_ctx; k++) {
		w.ctx_addr[k] = (uint64_t)(uintptr_t)d->nodes[d->self].ctx[k].base;
		w.rkey_len[k] = (uint32_t)f->rkey_len[k];
		memcpy(keys + len, f->rkey[k], f->rkey_len[k]);
		len += f->rkey_len[k];
	}
	send_msg(f, msg->reply_ep, &w, keys, len);
	core_dbg("ucx: welcomed node %u (pid %u) from %s", h->nid, h->pid, host);
}

/* Node p answered our HELLO with WELCOME: attach to it. */
static void on_welcome(struct ucx_fabric *f, struct ucx_peer *p, const struct ucx_msg *msg,
		       const struct ucx_hello *h)
{
	struct rmcd *d = f->d;
	struct rmcd_node *n = &d->nodes[p->nid];
	size_t keys = 0;
	char why[300];

	for (uint32_t k = 0; k < h->n_ctx && k < RMCD_MAX_CTX; k++)
		keys += h->rkey_len[k];
	if (h->n_ctx > RMCD_MAX_CTX || !h->n_ctx || msg->len != sizeof(*h) + keys) {
		say_once(p, true,
			 "node %u: its rmcd at %s sent a handshake of %zu bytes for %u contexts "
			 "with %zu bytes of keys: ignored",
			 p->nid, p->addr, msg->len, h->n_ctx, keys);
		peer_close(f, p, REFUSED_RETRY_MS);
		return;
	}
	if (disagree(f, h, why, sizeof(why))) {
		say_once(p, true, "node %u at %s: %s: not attached", p->nid, p->addr, why);
		if (f->starting && !f->fatal) {
			f->fatal = -EINVAL;
			snprintf(f->fatal_msg, sizeof(f->fatal_msg), "node %u at %s: %s", p->nid,
				 p->addr, why);
		}
		peer_close(f, p, REFUSED_RETRY_MS);
		return;
	}
	/* What validation checks requests against (live is 0: no RMC thread
	 * looks at them now). */
	n->n_ctx = h->n_ctx;
	for (uint32_t k = 0; k < h->n_ctx; k++) {
		n->ctx[k].base = NULL;
		n->ctx[k].size = (uint64_t)h->ctx_pages[k] * PAGE_SIZE;
	}
	if (++n->gen == 0)
		n->gen = 1;
	struct ucx_call c = { .op = CALL_ATTACH, .nid = p->nid, .gen = n->gen, .p = p, .h = h };
	for (uint32_t t = 0; t < d->n_rmcs; t++) {
		rmcd_rmc_fabric_call(&d->rmcs[t], &c);
		if (c.status) {
			say_once(p, true, "node %u: RMC thread %u: %s", p->nid, t, c.err);
			c.op = CALL_DETACH;
			for (uint32_t u = 0; u <= t; u++)
				rmcd_rmc_fabric_call(&d->rmcs[u], &c);
			peer_close(f, p, REFUSED_RETRY_MS);
			return;
		}
	}
	p->state = P_UP;
	p->tried = true;
	p->incarnation = h->incarnation;
	p->pid = h->pid;
	p->said[0] = 0;
	/* The RMC threads hold endpoints and keys of this generation:
	 * publishes it; pairs with the load-acquire of live in
	 * rmcd__validate(). */
	sonuma_smp_store_release(&n->live, n->gen);
	core_info("node %u: attached to its rmcd at %s (pid %u) over UCX: %u context%s", p->nid,
		  p->addr, h->pid, h->n_ctx, h->n_ctx == 1 ? "" : "s");
}

static void on_refuse(struct ucx_fabric *f, struct ucx_peer *p, const struct ucx_hello *h)
{
	char text[sizeof(h->text)];

	memcpy(text, h->text, sizeof(text));
	text[sizeof(text) - 1] = 0;
	p->refused = h->refusal;
	say_once(p, true, "node %u's rmcd at %s (pid %u) refused this one: %s", p->nid, p->addr,
		 h->pid, text);
	/* At start, a refusal that retrying cannot change is the end of this
	 * rmcd: it is the one that does not fit.  A duplicate may be a
	 * restarted rmcd whose death the other has not noticed yet: retried
	 * until start gives up. */
	if (f->starting && !f->fatal && h->refusal != REF_DUPLICATE && h->refusal != REF_OTHER) {
		f->fatal = -EINVAL;
		snprintf(f->fatal_msg, sizeof(f->fatal_msg),
			 "node %u's rmcd at %s (pid %u) refused this one: %s", p->nid, p->addr,
			 h->pid, text);
	}
	peer_close(f, p, h->refusal == REF_DUPLICATE ? RETRY_MS : REFUSED_RETRY_MS);
}

static void handle_msg(struct ucx_fabric *f, struct ucx_msg *msg)
{
	struct ucx_hello h;
	struct ucx_peer *p;

	if (msg->len < 8 || ((const uint32_t *)msg->data)[0] != UCX_MAGIC) {
		core_warn("ucx: a message of %zu bytes that is not a sonuma handshake: ignored",
			  msg->len);
		return;
	}
	if (((const uint16_t *)msg->data)[2] != UCX_VERSION) {
		unsigned v = ((const uint16_t *)msg->data)[2];
		core_warn("ucx: a peer speaks handshake version %u, this rmcd %u (run the same "
			  "sonuma on every host): refused",
			  v, UCX_VERSION);
		if (msg->reply_ep && msg->len >= sizeof(h)) {
			char why[128];
			memcpy(&h, msg->data, sizeof(h));
			snprintf(why, sizeof(why),
				 "node %d's rmcd speaks handshake version %u, this one %u",
				 f->d->self, UCX_VERSION, v);
			refuse(f, msg->reply_ep, &h, REF_VERSION, why);
		}
		return;
	}
	if (msg->len < sizeof(h)) {
		core_warn("ucx: a handshake of %zu bytes, less than the %zu of a whole one: "
			  "ignored",
			  msg->len, sizeof(h));
		return;
	}
	memcpy(&h, msg->data, sizeof(h));
	if (h.kind == UCX_HELLO) {
		if (msg->len != sizeof(h))
			core_warn("ucx: a HELLO of %zu bytes, not %zu: ignored", msg->len,
				  sizeof(h));
		else
			on_hello(f, msg, &h);
		return;
	}
	if (h.nid >= f->d->n_nodes || h.nid == (uint32_t)f->d->self) {
		core_warn("ucx: an answer from node %u, which is not a peer: ignored", h.nid);
		return;
	}
	p = &f->peers[h.nid];
	if (p->state != P_HELLO || h.nonce != p->nonce) {
		core_dbg("ucx: a stale answer from node %u: ignored", h.nid);
		return;
	}
	if (h.kind == UCX_WELCOME)
		on_welcome(f, p, msg, (const struct ucx_hello *)msg->data);
	else if (h.kind == UCX_REFUSE)
		on_refuse(f, p, &h);
	else
		core_warn("ucx: node %u sent a handshake of unknown kind %u: ignored", h.nid,
			  h.kind);
}

/* One pass of the connection thread's work, after progress. */
static void conn_work(struct ucx_fabric *f)
{
	struct rmcd *d = f->d;
	uint64_t now;

	while (f->inbox) {
		struct ucx_msg *msg = f->inbox;
		f->inbox = msg->next;
		if (!f->inbox)
			f->inbox_tail = &f->inbox;
		handle_msg(f, msg);
		free(msg);
	}
	for (struct ucx_accepted **pp = &f->acc; *pp;) {
		struct ucx_accepted *a = *pp;
		if (!a->failed) {
			pp = &a->next;
			continue;
		}
		*pp = a->next;
		f->n_acc--;
		ep_close_force(f->worker, a->ep);
		free(a);
	}
	now = core_mono_ns();
	for (uint32_t i = 0; i < d->n_nodes; i++) {
		struct ucx_peer *p = &f->peers[i];
		char why[160];

		if (i == (uint32_t)d->self)
			continue;
		if (p->state == P_UP &&
		    (p->failed || __atomic_load_n(&p->kick, __ATOMIC_ACQUIRE))) {
			snprintf(why, sizeof(why), "connection lost (%s)",
				 p->failed ? ucs_status_string(p->fail_status) :
					     "an RMC thread's endpoint failed");
			peer_detach(f, p, why);
			continue;
		}
		if (p->state == P_HELLO && p->failed) {
			/* Not up (refused, unreachable): quietly, again later. */
			core_dbg("node %u at %s: %s", i, p->addr,
				 ucs_status_string(p->fail_status));
			peer_close(f, p, RETRY_MS);
			continue;
		}
		if (p->state == P_HELLO && now - p->t_sent > HELLO_TIMEOUT_MS * 1000000ull) {
			say_once(p, true,
				 "node %u: %s did not answer the handshake in %d ms (not an rmcd?)",
				 i, p->addr, HELLO_TIMEOUT_MS);
			peer_close(f, p, REFUSED_RETRY_MS);
			continue;
		}
		if (p->state == P_DOWN && now >= p->t_next)
			peer_connect(f, p);
	}
}

/* Progresses the control worker, then sleeps until it has an event, the
 * evfd is written, or ms pass.  Keeps polling for fabric.spin_us after
 * work: another node's gets over tcp are served here, in bursts. */
static void conn_wait(struct ucx_fabric *f, unsigned ms, uint64_t *last_work)
{
	struct pollfd pf[2] = { { .fd = f->efd, .events = POLLIN },
				{ .fd = f->evfd, .events = POLLIN } };
	uint64_t v;

	if (ucp_worker_progress(f->worker)) {
		*last_work = core_mono_ns();
		return;
	}
	if (core_mono_ns() - *last_work < f->spin_ns || f->inbox)
		return;
	if (ucp_worker_arm(f->worker) == UCS_ERR_BUSY)
		return;
	if (poll(pf, 2, (int)ms) > 0 && (pf[1].revents & POLLIN))
		if (read(f->evfd, &v, sizeof(v)) < 0)
			core_dbg("ucx: eventfd: %s", strerror(errno));
}

static void *conn_main(void *arg)
{
	struct ucx_fabric *f = arg;
	uint64_t last_work = 0;

	pthread_setname_np(pthread_self(), "rmcd-ucx");
	while (!SONUMA_READ_ONCE(f->quit)) {
		conn_work(f);
		conn_wait(f, RETRY_MS / 2, &last_work);
	}
	return NULL;
}

/* ---- start and stop ------------------------------------------------------ */

static int resolve(struct ucx_fabric *f, uint32_t i, char *err, size_t errlen)
{
	const struct core_config *c = &f->d->cfg;
	struct ucx_peer *p = &f->peers[i];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	char host[CORE_ADDR_LEN], port[8];
	unsigned portn;
	int r;

	if (core_split_addr(c->fabric_addr[i], host, sizeof(host), &portn))
		return snprintf(err, errlen,
				"%s:%u: fabric.nodes: entry %u (node %u): \"%s\" "
				"is not host:port",
				c->file, c->fabric_line, i, i, c->fabric_addr[i]),
		       -EINVAL;
	snprintf(port, sizeof(port), "%u", portn);
	r = getaddrinfo(host, port, &hints, &res);
	if (r)
		return snprintf(err, errlen, "%s:%u: fabric.nodes: node %u's address \"%s\": %s",
				c->file, c->fabric_line, i, c->fabric_addr[i], gai_strerror(r)),
		       -EINVAL;
	memcpy(&p->sa, res->ai_addr, res->ai_addrlen);
	p->salen = res->ai_addrlen;
	freeaddrinfo(res);
	p->addr = c->fabric_addr[i];
	p->nid = i;
	p->f = f;
	return 0;
}

/* ucx_start's steps, each 0 or -errno with err set. */

/* The UCP context and the connection thread's worker, which takes the
 * handshake's active messages. */
static int ucx_open(struct ucx_fabric *f, char *err, size_t errlen)
{
	struct rmcd *d = f->d;
	ucp_config_t *config;
	ucs_status_t s;

	/* A restarted rmcd listens again on its address while connections of
	 * its previous life sit in TIME_WAIT: the user may still say no. */
	setenv("UCX_TCP_CM_REUSEADDR", "y", 0);
	if ((s = ucp_config_read(NULL, NULL, &config)) != UCS_OK)
		return snprintf(err, errlen,
				"UCX: cannot read its configuration (UCX_* "
				"variables): %s",
				ucs_status_string(s)),
		       -EINVAL;
	ucp_params_t up = {
		.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_REQUEST_SIZE |
			      UCP_PARAM_FIELD_MT_WORKERS_SHARED | UCP_PARAM_FIELD_NAME |
			      UCP_PARAM_FIELD_ESTIMATED_NUM_EPS,
		.features = UCP_FEATURE_RMA | UCP_FEATURE_AMO64 | UCP_FEATURE_AM |
			    UCP_FEATURE_WAKEUP,
		.request_size = sizeof(struct ucx_req),
		/* Local buffers are registered by the control thread while
		 * the workers run. */
		.mt_workers_shared = 1,
		.name = "rmcd",
		.estimated_num_eps = d->n_nodes * (d->n_rmcs + 2),
	};
	s = ucp_init(&up, config, &f->ctx);
	ucp_config_release(config);
	if (s != UCS_OK) {
		f->ctx = NULL;
		return snprintf(err, errlen,
				"UCX: cannot initialise: %s (check UCX_TLS and "
				"UCX_NET_DEVICES)",
				ucs_status_string(s)),
		       -EIO;
	}
	ucp_worker_params_t wp = { .field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
				   .thread_mode = UCS_THREAD_MODE_SERIALIZED };
	if ((s = ucp_worker_create(f->ctx, &wp, &f->worker)) != UCS_OK) {
		f->worker = NULL;
		return snprintf(err, errlen, "UCX: cannot create a worker: %s",
				ucs_status_string(s)),
		       -EIO;
	}
	if ((s = ucp_worker_get_efd(f->worker, &f->efd)) != UCS_OK)
		return snprintf(err, errlen, "UCX: the worker has no event fd: %s",
				ucs_status_string(s)),
		       -EIO;
	ucp_am_handler_param_t hp = {
		.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
			      UCP_AM_HANDLER_PARAM_FIELD_ARG,
		.id = UCX_AM_ID,
		.cb = am_recv,
		.arg = f,
	};
	if ((s = ucp_worker_set_am_recv_handler(f->worker, &hp)) != UCS_OK)
		return snprintf(err, errlen, "UCX: cannot set the handshake handler: %s",
				ucs_status_string(s)),
		       -EIO;

	return 0;
}

/* Our contexts, registered and their keys packed, for the other nodes'
 * RMCs. */
static int ucx_reg_contexts(struct ucx_fabric *f, const struct rmcd_node *self, char *err,
			    size_t errlen)
{
	ucs_status_t s;

	f->n_ctx = self->n_ctx;
	for (uint32_t k = 0; k < self->n_ctx; k++) {
		ucp_mem_map_params_t mp = { .field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS |
							  UCP_MEM_MAP_PARAM_FIELD_LENGTH,
					    .address = self->ctx[k].base,
					    .length = self->ctx[k].size };
		if ((s = ucp_mem_map(f->ctx, &mp, &f->ctx_memh[k])) != UCS_OK) {
			f->ctx_memh[k] = NULL;
			return snprintf(err, errlen,
					"UCX: cannot register context %u (%llu bytes): "
					"%s",
					k, (unsigned long long)self->ctx[k].size,
					ucs_status_string(s)),
			       -EIO;
		}
		if ((s = ucp_rkey_pack(f->ctx, f->ctx_memh[k], &f->rkey[k], &f->rkey_len[k])) !=
		    UCS_OK) {
			f->rkey[k] = NULL;
			return snprintf(err, errlen, "UCX: cannot pack the key of context %u: %s",
					k, ucs_status_string(s)),
			       -EIO;
		}
		if (f->rkey_len[k] > MAX_KEYS / RMCD_MAX_CTX)
			return snprintf(err, errlen,
					"UCX: the key of context %u takes %zu bytes, "
					"more than the %d the handshake carries",
					k, f->rkey_len[k], MAX_KEYS / RMCD_MAX_CTX),
			       -E2BIG;
	}

	return 0;
}

/* A worker per RMC thread. */
static int ucx_rmc_workers(struct ucx_fabric *f, char *err, size_t errlen)
{
	struct rmcd *d = f->d;
	ucp_worker_params_t wp = { .field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
				   .thread_mode = UCS_THREAD_MODE_SERIALIZED };
	ucs_status_t s;

	for (uint32_t t = 0; t < d->n_rmcs; t++) {
		struct ucx_rmc *rm = calloc(1, sizeof(*rm));
		if (!rm || !(rm->node = calloc(d->n_nodes, sizeof(*rm->node)))) {
			free(rm);
			return snprintf(err, errlen, "out of memory"), -ENOMEM;
		}
		rm->f = f;
		rm->m = &d->rmcs[t];
		d->rmcs[t].fab = rm;
		for (uint32_t i = 0; i < d->n_nodes; i++) {
			rm->node[i].nid = i;
			rm->node[i].r = rm;
		}
		if ((s = ucp_worker_create(f->ctx, &wp, &rm->worker)) != UCS_OK) {
			rm->worker = NULL;
			return snprintf(err, errlen,
					"UCX: cannot create RMC thread %u's worker: %s", t,
					ucs_status_string(s)),
			       -EIO;
		}
	}

	return 0;
}

/* The listener on this node's address. */
static int ucx_listen(struct ucx_fabric *f, char *err, size_t errlen)
{
	struct rmcd *d = f->d;
	const struct core_config *cf = &d->cfg;
	ucs_status_t s;

	ucp_listener_params_t lp = {
		.field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR |
			      UCP_LISTENER_PARAM_FIELD_CONN_HANDLER,
		.sockaddr = { .addr = (const struct sockaddr *)&f->peers[d->self].sa,
			      .addrlen = f->peers[d->self].salen },
		.conn_handler = { .cb = on_conn, .arg = f },
	};
	if ((s = ucp_listener_create(f->worker, &lp, &f->listener)) != UCS_OK) {
		f->listener = NULL;
		return snprintf(err, errlen,
				"node %d: cannot listen on %s (%s:%u: fabric.nodes): %s (is it an "
				"address of this host? is node %d served by another rmcd here?)",
				d->self, cf->fabric_addr[d->self], cf->file, cf->fabric_line,
				ucs_status_string(s), d->self),
		       -EADDRNOTAVAIL;
	}

	return 0;
}

/* Waits (at most START_MS) for the nodes already up: one that refuses us
 * is fatal here, and we are the one that does not start. */
static int ucx_meet_peers(struct ucx_fabric *f, char *err, size_t errlen)
{
	struct rmcd *d = f->d;

	f->starting = true;
	uint64_t end = core_mono_ns() + START_MS * 1000000ull, last_work = 0;
	for (;;) {
		bool settled = true;
		conn_work(f);
		for (uint32_t i = 0; i < d->n_nodes; i++)
			if (i != (uint32_t)d->self && f->peers[i].state != P_UP &&
			    (!f->peers[i].tried || f->peers[i].refused == REF_DUPLICATE))
				settled = false;
		if (f->fatal || settled || core_mono_ns() > end)
			break;
		conn_wait(f, 10, &last_work);
	}
	f->starting = false;
	if (f->fatal)
		return snprintf(err, errlen, "%s", f->fatal_msg), f->fatal;
	for (uint32_t i = 0; i < d->n_nodes; i++)
		if (f->peers[i].refused == REF_DUPLICATE && f->peers[i].state != P_UP)
			return snprintf(err, errlen, "%s", f->peers[i].said), -EADDRINUSE;
	return 0;
}

static int ucx_start(struct rmcd *d, char *err, size_t errlen)
{
	const struct core_config *cf = &d->cfg;
	struct rmcd_node *self = &d->nodes[d->self];
	struct ucx_fabric *f = calloc(1, sizeof(*f));
	int r;

	if (!f)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	d->fab = f;
	f->d = d;
	f->efd = f->evfd = -1;
	f->spin_ns = (uint64_t)(cf->fabric_spin_us * 1000.0);
	f->inbox_tail = &f->inbox;
	f->incarnation = core_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL);
	d->model->describe(d->model_state, f->desc, sizeof(f->desc));
	f->peers = calloc(d->n_nodes, sizeof(*f->peers));
	if (!f->peers)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	for (uint32_t i = 0; i < d->n_nodes; i++)
		if ((r = resolve(f, i, err, errlen)))
			return r;
	f->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->evfd < 0)
		return snprintf(err, errlen, "eventfd: %s", strerror(errno)), -errno;
	if ((r = ucx_open(f, err, errlen)) || (r = ucx_reg_contexts(f, self, err, errlen)) ||
	    (r = ucx_rmc_workers(f, err, errlen)) || (r = ucx_listen(f, err, errlen)) ||
	    (r = ucx_meet_peers(f, err, errlen)))
		return r;
	r = pthread_create(&f->thread, NULL, conn_main, f);
	if (r)
		return snprintf(err, errlen, "cannot start the UCX connection thread: %s",
				strerror(r)),
		       -r;
	f->started = true;
	core_info("node %d: listening on %s over UCX", d->self, cf->fabric_addr[d->self]);
	return 0;
}

static void ucx_stop(struct rmcd *d)
{
	struct ucx_fabric *f = d->fab;
	uint64_t one = 1;

	if (!f || !f->started)
		return;
	SONUMA_WRITE_ONCE(f->quit, 1);
	if (write(f->evfd, &one, sizeof(one)) < 0)
		core_dbg("ucx: cannot wake the connection thread: %s", strerror(errno));
	pthread_join(f->thread, NULL);
	f->started = false;
}

/* After the RMC threads and the connection thread stopped: every worker
 * is ours now. */
static void ucx_fini(struct rmcd *d)
{
	struct ucx_fabric *f = d->fab;

	if (!f)
		return;
	for (uint32_t i = 0; i < d->n_nodes; i++)
		if (!d->nodes[i].local)
			d->nodes[i].live = 0;
	for (uint32_t t = 0; t < d->n_rmcs; t++) {
		struct ucx_rmc *rm = d->rmcs[t].fab;
		if (!rm)
			continue;
		for (uint32_t i = 0; rm->node && i < d->n_nodes; i++) {
			/* Shutting down: the RMC threads' in-flight records are
			 * gone, nothing is completed any more. */
			rm->node[i].n_unflushed = 0;
			if (rm->worker)
				node_ep_drop(rm, &rm->node[i]);
			free(rm->node[i].unflushed);
		}
		if (rm->worker)
			ucp_worker_destroy(rm->worker);
		free(rm->node);
		free(rm);
		d->rmcs[t].fab = NULL;
	}
	if (f->worker) {
		for (uint32_t i = 0; f->peers && i < d->n_nodes; i++)
			if (f->peers[i].ep)
				ep_close_force(f->worker, f->peers[i].ep);
		while (f->acc) {
			struct ucx_accepted *a = f->acc;
			f->acc = a->next;
			ep_close_force(f->worker, a->ep);
			free(a);
		}
		for (int i = 0; i < 1000 && f->n_out; i++)
			ucp_worker_progress(f->worker);
		if (f->listener)
			ucp_listener_destroy(f->listener);
		while (f->inbox) {
			struct ucx_msg *msg = f->inbox;
			f->inbox = msg->next;
			free(msg);
		}
		ucp_worker_destroy(f->worker);
	}
	for (uint32_t k = 0; k < RMCD_MAX_CTX; k++) {
		if (f->rkey[k])
			ucp_rkey_buffer_release(f->rkey[k]);
		if (f->ctx_memh[k])
			ucp_mem_unmap(f->ctx, f->ctx_memh[k]);
	}
	if (f->ctx)
		ucp_cleanup(f->ctx);
	if (f->evfd >= 0)
		close(f->evfd);
	free(f->peers);
	free(f);
	d->fab = NULL;
}

const struct rmcd_fabric_ops rmcd_fabric_ucx = {
	.name = "ucx",
	.xfer = ucx_xfer,
	.progress = ucx_progress,
	.start = ucx_start,
	.stop = ucx_stop,
	.fini = ucx_fini,
	.mbox = ucx_mbox,
	.busy = ucx_busy,
	.reg = ucx_reg,
	.dereg = ucx_dereg,
};
