/* SPDX-License-Identifier: MIT */
/*
 * Messages between nodes (rmc_send / rmc_recv) over one-sided writes.
 *
 * Each node's message area, in context ctx_id at ctx_offset, in 64-byte
 * lines (docs/DESIGN.md, "Messaging"):
 *
 *   line 0               header: epoch (words 0 and 7), magic, geometry,
 *                        owner pid; written by the node itself
 *   line 1 + s           connection line of sender s: written by s
 *   line 1 + nodes + r   credit line: how many of this node's messages
 *                        receiver r has consumed; written by r
 *   rings                ring of sender s at ring_base + s * slots * slot
 *
 * A slot holds a 32-byte header (mark, length, sender, not-before time,
 * checksum), the message padded to 8 bytes, and the mark again.  The mark
 * is tag << 32 | sequence, where tag identifies the connection (the
 * receiver's epoch and the sender's connection id).  A slot is taken only
 * when both marks equal the next sequence number of the current
 * connection and the checksum over header and message matches: the RMC
 * writes a slot with one memcpy, whose stores may land in any order (glibc
 * stores the overlapping middle of a 104-byte copy after its tail), so
 * matching marks alone do not prove the middle is there.  A half-written
 * slot, a slot of an earlier lap or one of a dead connection is never
 * taken.  The 64-byte lines carry the same kind of check: word 7 repeats
 * word 0 and word 6 is a checksum of words 0-5.
 *
 * Who writes what: the sender writes slots and its connection line at the
 * receiver (remote writes through the RMC); the receiver writes the credit
 * line at the sender (remote writes) and its own header (local stores).
 * Nobody else writes them, and every line read from shared memory is
 * checked before use.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core.h"
#include "sonuma_msg.h"

#define SONUMA_EXPORT __attribute__((visibility("default")))

#define MSG_MAGIC 0x67736d73u /* "smsg" */
#define MSG_VERSION 1
#define LINE 64u
#define SLOT_HDR 32u
#define SLOT_TRAILER 8u
#define DEFAULT_SPIN_US 50
/* A stalled sender checks that its receiver still exists this often. */
#define PEER_CHECK_MS 10
/* A blocking receive that found nothing for this long writes the credits
 * it owes, even below the batch. */
#define IDLE_CREDIT_US 20
/* rmc_msg_fini() waits this long for writes when no timeout is set. */
#define FINI_WAIT_MS 1000

/* Line 0 of an area. */
struct area_hdr {
	uint64_t epoch; /* 0: no endpoint; published last */
	uint32_t magic;
	uint16_t version;
	uint16_t rsvd;
	uint32_t slots;
	uint32_t slot_size;
	uint32_t nodes;
	uint32_t nid;
	uint32_t max_msg;
	uint32_t owner_pid;
	uint64_t area_size;
	uint64_t sum;	 /* line_sum() of words 0-5 */
	uint64_t epoch2; /* equal to epoch when the line is whole */
};

/* Written by a sender into the receiver's area when it connects. */
struct conn_line {
	uint64_t conn;	   /* connection id, never 0 */
	uint64_t rx_epoch; /* the receiver's epoch it connected to */
	uint32_t src;
	uint32_t tag;
	uint64_t rsvd[3];
	uint64_t sum;
	uint64_t conn2;
};

/* Written by a receiver into the sender's area: credits. */
struct credit_line {
	uint64_t val;	     /* tag << 32 | messages consumed (mod 2^32) */
	uint64_t not_before; /* TSC before which the sender ignores it (0: none) */
	uint64_t rsvd[4];
	uint64_t sum;
	uint64_t val2;
};

struct slot_hdr {
	uint64_t mark;
	uint32_t len;
	uint16_t src;
	uint16_t rsvd;
	uint64_t not_before; /* TSC before which the receiver ignores it (0: none) */
	uint64_t sum;	     /* slot_sum() of the header and the padded message */
};

_Static_assert(sizeof(struct area_hdr) == LINE, "header is one line");
_Static_assert(sizeof(struct conn_line) == LINE, "connection line is one line");
_Static_assert(sizeof(struct credit_line) == LINE, "credit line is one line");
_Static_assert(sizeof(struct slot_hdr) == SLOT_HDR, "slot header");
_Static_assert(__builtin_offsetof(struct area_hdr, sum) == 48, "layout");
_Static_assert(__builtin_offsetof(struct area_hdr, epoch2) == 56, "layout");
_Static_assert(__builtin_offsetof(struct conn_line, sum) == 48, "layout");
_Static_assert(__builtin_offsetof(struct conn_line, conn2) == 56, "layout");
_Static_assert(__builtin_offsetof(struct credit_line, sum) == 48, "layout");
_Static_assert(__builtin_offsetof(struct credit_line, val2) == 56, "layout");
_Static_assert(MAX_NUM_WQ <= 128, "two words of in-flight bits");

/* Local buffer layout: scratch line, connection line, a credit line per
 * peer, then the send staging slots. */
#define LB_SCRATCH 0u
#define LB_CONN LINE
#define LB_CREDIT(p) (2u * LINE + (uint64_t)(p)*LINE)

enum op_kind { OP_NONE, OP_SEND, OP_CREDIT, OP_CTRL };

struct op {
	uint8_t kind;
	uint8_t stage;
	uint16_t peer;
	uint32_t gen; /* the peer's connection generation when posted */
};

struct peer {
	/* Sending to this peer. */
	uint64_t conn;	   /* 0: not connected */
	uint64_t rx_epoch; /* the peer's endpoint when we connected */
	uint32_t tag;
	uint32_t sent;	      /* messages sent on this connection */
	uint32_t acked;	      /* of them consumed by the peer, as last seen */
	uint32_t gen;	      /* connection generation, for op records */
	int err;	      /* first error of a write on this connection */
	uint64_t stall_since; /* TSC when credits ran out, 0 otherwise */
	double lat_a, lat_b;  /* model's write latency: a + b * bytes, ticks */
	/* Receiving from this peer. */
	uint64_t rx_conn; /* its connection line as last taken */
	uint32_t rx_tag;  /* 0: no connection */
	uint32_t consumed;
	uint32_t returned; /* consumed count last written back */
	int credit_tid;	   /* credit write in flight, or -1 */
};

struct rmc_msg_ep {
	struct rmc_msg_params p;
	struct rmc_msg_info info;
	double tsc_hz;
	uint8_t *area;	    /* this node's area, in its own mapping */
	uint64_t ring_base; /* offset of the rings in an area */
	uint64_t lb_stage;  /* offset of the staging slots in lbuff */
	uint64_t epoch;
	uint64_t connects;
	uint64_t stage_free;  /* bit i: staging slot i is free */
	uint64_t inflight[2]; /* bit t: WQ entry t holds one of our requests */
	int ctrl_tid;	      /* control request in flight, or -1 */
	int ctrl_status;
	int owed;    /* some peer is owed credits beyond the batch */
	unsigned rr; /* last sender served by an any-source receive */
	uint64_t spin_tsc, timeout_tsc, check_tsc, peer_check_tsc, idle_credit_tsc;
	uint64_t one_sec_tsc;
	struct op ops[MAX_NUM_WQ];
	struct peer peers[];
};

/* ---- helpers ---------------------------------------------------------- */

static inline uint32_t make_tag(uint64_t rx_epoch, uint64_t conn)
{
	uint32_t t = (uint32_t)(core_mix64(rx_epoch ^ core_mix64(conn)) >> 16);
	return t ? t : 1;
}

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
	return x << r | x >> (64 - r);
}

/* Checksum of words 0-5 of a 64-byte line (a copy of it). */
static uint64_t line_sum(const void *line)
{
	uint64_t w[6], h = 0x6a09e667f3bcc909ull;

	memcpy(w, line, sizeof(w));
	for (unsigned i = 0; i < 6; i++)
		h = core_mix64(h ^ w[i]);
	return h;
}

/* A whole line: both copies of word 0 agree and the checksum matches. */
static int line_ok(const void *line)
{
	uint64_t w[8];

	memcpy(w, line, sizeof(w));
	return w[0] == w[7] && w[6] == line_sum(w);
}

#define SUM_K 0x9fb21c651e98df25ull

/* Checksum of a slot: its header fields and the message padded to 8 bytes
 * (plen).  Four independent lanes; each step is a bijection of the lane,
 * so a single changed word always changes the result. */
static uint64_t slot_sum(uint64_t mark, uint64_t lenword, uint64_t nb, const uint8_t *m,
			 uint64_t plen)
{
	uint64_t a = mark ^ 0x243f6a8885a308d3ull, b = lenword ^ 0x13198a2e03707344ull;
	uint64_t c = nb ^ 0xa4093822299f31d0ull, d = plen ^ 0x082efa98ec4e6c89ull;
	uint64_t i = 0, w[4];

	for (; i + 32 <= plen; i += 32) {
		memcpy(w, m + i, sizeof(w));
		a = rotl64((a ^ w[0]) * SUM_K, 31);
		b = rotl64((b ^ w[1]) * SUM_K, 31);
		c = rotl64((c ^ w[2]) * SUM_K, 31);
		d = rotl64((d ^ w[3]) * SUM_K, 31);
	}
	for (; i < plen; i += 8) {
		memcpy(w, m + i, 8);
		a = rotl64((a ^ w[0]) * SUM_K, 31);
	}
	return core_mix64(a ^ rotl64(b, 17) ^ rotl64(c, 31) ^ rotl64(d, 47));
}

static inline uint64_t slot_lenword(uint32_t len, uint16_t src)
{
	return (uint64_t)src << 32 | len;
}

static inline uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static inline uint64_t area_conn(uint32_t s)
{
	return LINE + (uint64_t)s * LINE;
}

static inline uint64_t area_credit(uint32_t nodes, uint32_t r)
{
	return LINE + (uint64_t)nodes * LINE + (uint64_t)r * LINE;
}

static inline uint64_t ns_to_tsc(double ns, double hz)
{
	return ns <= 0 ? 0 : (uint64_t)(ns * hz / 1e9 + 0.5);
}

/* The effective geometry of p, defaults applied; -EINVAL when a field is
 * out of range. */
struct geom {
	uint32_t slots, max_msg, slot_size, tx_depth, batch;
};

static int geometry(const struct rmc_msg_params *p, struct geom *g)
{
	g->slots = p->slots ? p->slots : RMC_MSG_DEFAULT_SLOTS;
	g->max_msg = p->max_msg ? p->max_msg : RMC_MSG_DEFAULT_MAX_MSG;
	if (g->slots > RMC_MSG_MAX_SLOTS || (g->slots & (g->slots - 1)))
		return -EINVAL;
	if (g->max_msg > (1u << 30))
		return -EINVAL;
	g->slot_size = (uint32_t)round_up(SLOT_HDR + round_up(g->max_msg, 8) + SLOT_TRAILER, LINE);
	if (p->tx_depth > RMC_MSG_MAX_TX_DEPTH)
		return -EINVAL;
	g->tx_depth = p->tx_depth ? p->tx_depth : (g->slots < 32 ? g->slots : 32);
	if (p->credit_batch > g->slots)
		return -EINVAL;
	g->batch = p->credit_batch ? p->credit_batch : (g->slots / 2 ? g->slots / 2 : 1);
	return 0;
}

static uint64_t area_bytes(const struct geom *g, uint32_t nodes)
{
	return LINE * (1 + 2 * (uint64_t)nodes) + (uint64_t)nodes * g->slots * g->slot_size;
}

static uint64_t lbuff_bytes(const struct geom *g, uint32_t nodes)
{
	return LB_CREDIT(nodes) + (uint64_t)g->tx_depth * g->slot_size;
}

SONUMA_EXPORT int64_t rmc_msg_slot_size(uint32_t max_msg)
{
	struct rmc_msg_params p = { .max_msg = max_msg };
	struct geom g;

	if (geometry(&p, &g))
		return -EINVAL;
	return g.slot_size;
}

SONUMA_EXPORT int64_t rmc_msg_area_size(const struct rmc_msg_params *p, uint32_t nodes)
{
	struct geom g;

	if (!p || !nodes || nodes > 0xffff || geometry(p, &g))
		return -EINVAL;
	return (int64_t)area_bytes(&g, nodes);
}

SONUMA_EXPORT int64_t rmc_msg_lbuff_size(const struct rmc_msg_params *p, uint32_t nodes)
{
	struct geom g;

	if (!p || !nodes || nodes > 0xffff || geometry(p, &g))
		return -EINVAL;
	return (int64_t)lbuff_bytes(&g, nodes);
}

/* ---- requests and completions ----------------------------------------- */

static void complete(struct rmc_msg_ep *ep, unsigned tid, uint8_t status)
{
	struct op *o = &ep->ops[tid];
	struct peer *pr = &ep->peers[o->peer];

	switch (o->kind) {
	case OP_SEND:
		ep->stage_free |= 1ull << o->stage;
		if (status != RMC_OK && o->gen == pr->gen && !pr->err)
			pr->err = rmc_status_errno(status);
		break;
	case OP_CREDIT:
		/* A failed credit write means the sender's area is gone:
		 * nothing to retry; its next connection starts afresh. */
		if (pr->credit_tid == (int)tid)
			pr->credit_tid = -1;
		break;
	case OP_CTRL:
		if (ep->ctrl_tid == (int)tid) {
			ep->ctrl_tid = -1;
			ep->ctrl_status = status;
		}
		break;
	}
	o->kind = OP_NONE;
}

/* Takes the completions that are due and settles our requests among
 * them.  A request is ours while its bit is set in inflight; the library
 * frees its WQ entry (valid = 0) when the completion is taken, so a
 * completion taken by any poll of this CQ is noticed here. */
static int reap(struct rmc_msg_ep *ep)
{
	rmc_wq_t *wq = ep->p.wq;
	int n = 0;

	rmc_drain_cq(wq, ep->p.cq, NULL, NULL);
	for (unsigned w = 0; w < 2; w++) {
		uint64_t m = ep->inflight[w];
		while (m) {
			unsigned b = (unsigned)__builtin_ctzll(m);
			unsigned tid = w * 64 + b;
			m &= m - 1;
			if (SONUMA_READ_ONCE(wq->q[tid].valid))
				continue;
			ep->inflight[w] &= ~(1ull << b);
			complete(ep, tid, wq->q[tid].status);
			n++;
		}
	}
	return n;
}

static inline int any_inflight(const struct rmc_msg_ep *ep)
{
	return (ep->inflight[0] | ep->inflight[1]) != 0;
}

static inline int tid_inflight(const struct rmc_msg_ep *ep, int tid)
{
	return (ep->inflight[tid / 64] >> (tid % 64)) & 1;
}

/* Posts a request from lbuff + lb_off to the area of node dst at area_off.
 * Returns its tid, or -EBUSY when the WQ head is still in flight. */
static int post(struct rmc_msg_ep *ep, uint8_t op, uint64_t lb_off, int dst, uint64_t area_off,
		uint64_t len, uint8_t kind, uint8_t stage)
{
	int tid;

	reap(ep);
	tid = rmc__post(ep->p.wq, op, ep->p.lbuff, lb_off, dst, ep->p.ctx_id,
			ep->p.ctx_offset + area_off, len);
	if (tid < 0)
		return tid;
	ep->ops[tid] = (struct op){
		.kind = kind, .stage = stage, .peer = (uint16_t)dst, .gen = ep->peers[dst].gen
	};
	ep->inflight[tid / 64] |= 1ull << (tid % 64);
	return tid;
}

/* ---- waiting ----------------------------------------------------------- */

struct waiter {
	uint64_t start, deadline, next_check;
};

static void waiter_init(const struct rmc_msg_ep *ep, struct waiter *w, uint64_t timeout_tsc)
{
	w->start = rmc_rdtsc();
	w->deadline = timeout_tsc ? w->start + timeout_tsc : 0;
	w->next_check = w->start + ep->check_tsc;
}

/* One step of a blocking wait: 0 to go on, -ETIMEDOUT, or -ENOTCONN when
 * rmcd is gone.  Spins for spin_us, then lets other programs run between
 * polls (two applications of this host may share a CPU; without spinning
 * when the RMC may share it: RMC_WQ_SHARED_CPU). */
static int wait_step(struct rmc_msg_ep *ep, struct waiter *w)
{
	uint64_t now = rmc_rdtsc();

	if (w->deadline && (int64_t)(now - w->deadline) >= 0)
		return -ETIMEDOUT;
	if ((int64_t)(now - w->next_check) >= 0) {
		uint64_t spins = 1;
		int r = rmc__wait_slow(ep->p.wq, &spins);
		if (r)
			return r;
		w->next_check = now + ep->check_tsc;
	}
	/* At once when the RMC may share this CPU: it cannot run while we spin. */
	if (now - w->start > ep->spin_tsc || (ep->p.wq->flags & RMC_WQ_SHARED_CPU))
		sched_yield();
	else
		sonuma_cpu_relax();
	return 0;
}

/* A control request (connection set-up, liveness check), waited for. */
static int ctrl_sync(struct rmc_msg_ep *ep, uint8_t op, uint64_t lb_off, int dst, uint64_t area_off,
		     struct waiter *w)
{
	int tid, r;

	/* One at a time: they share the scratch and connection lines. */
	while (ep->ctrl_tid >= 0) {
		reap(ep);
		if (ep->ctrl_tid < 0)
			break;
		if ((r = wait_step(ep, w)))
			return r;
	}
	while ((tid = post(ep, op, lb_off, dst, area_off, LINE, OP_CTRL, 0)) == -EBUSY)
		if ((r = wait_step(ep, w)))
			return r;
	if (tid < 0)
		return tid;
	ep->ctrl_tid = tid;
	for (;;) {
		reap(ep);
		if (ep->ctrl_tid < 0)
			return rmc_status_errno(ep->ctrl_status);
		if ((r = wait_step(ep, w)))
			return r;
	}
}

/* ---- endpoint ----------------------------------------------------------- */

static uint64_t new_epoch(const void *salt)
{
	uint64_t e = 0;

	if (getrandom(&e, sizeof(e), GRND_NONBLOCK) != (ssize_t)sizeof(e))
		e = core_mix64(rmc_rdtsc() ^ ((uint64_t)getpid() << 32) ^
			       (uint64_t)(uintptr_t)salt);
	return e ? e : 1;
}

static int pid_alive(uint32_t pid)
{
	if (!pid || pid > 0x7fffffff)
		return 0;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* The model's latency of a write to dst, as a + b * bytes in TSC ticks,
 * from its unloaded targets for the smallest and the largest slot write. */
static void query_latency(struct rmc_msg_ep *ep, uint32_t dst)
{
	struct peer *pr = &ep->peers[dst];
	uint64_t big = ep->info.slot_size;
	double lo = 0, hi = 0;

	pr->lat_a = pr->lat_b = 0;
	if (ep->p.flags & RMC_MSG_F_NATIVE)
		return;
	if (kal_target_ns(ep->p.fd, RMC_OP_WRITE, (uint16_t)dst, RMC_MIN_LENGTH, &lo) ||
	    kal_target_ns(ep->p.fd, RMC_OP_WRITE, (uint16_t)dst, big, &hi))
		return; /* no target: messages go at native speed */
	if (lo < 0 || hi < 0)
		return;
	double a = lo * ep->tsc_hz / 1e9, b = 0;
	if (big > RMC_MIN_LENGTH && hi > lo)
		b = (hi - lo) * ep->tsc_hz / 1e9 / (double)(big - RMC_MIN_LENGTH);
	pr->lat_a = a - b * RMC_MIN_LENGTH;
	pr->lat_b = b;
}

/* The TSC before which a write of len bytes to dst posted at t must not be
 * seen, or 0 when the model adds nothing. */
static inline uint64_t not_before(const struct peer *pr, uint64_t t, uint64_t len)
{
	double d = pr->lat_a + pr->lat_b * (double)len;

	return d >= 1 ? t + (uint64_t)d : 0;
}

SONUMA_EXPORT int rmc_msg_init(struct rmc_msg_ep **out, const struct rmc_msg_params *p)
{
	struct kal_info ki;
	struct rmc_msg_ep *ep;
	struct area_hdr *h;
	struct geom g;
	uint64_t area, need;
	int r;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!p || p->fd < 0 || !p->wq || !p->cq || !p->lbuff || !p->ctx)
		return -EINVAL;
	if ((p->flags & ~(uint32_t)RMC_MSG_F_NATIVE) || p->ctx_id > 0xff || p->ctx_offset % LINE)
		return -EINVAL;
	if (p->wq->kal_fd != p->fd || !p->wq->depth || p->wq->depth > MAX_NUM_WQ ||
	    p->cq->depth != p->wq->depth)
		return -EINVAL; /* not a queue pair of this descriptor */
	if ((r = geometry(p, &g)))
		return r;
	if ((r = kal_info(p->fd, &ki)))
		return r;
	if (!ki.nodes || ki.nid >= ki.nodes || ki.nodes > 0xffff || ki.tsc_hz <= 0)
		return -EPROTO;
	if (g.slot_size > ki.max_transfer)
		return -EMSGSIZE;
	area = area_bytes(&g, ki.nodes);
	need = lbuff_bytes(&g, ki.nodes);
	if (p->ctx_offset > p->ctx_len || area > p->ctx_len - p->ctx_offset || p->lbuff_len < need)
		return -EINVAL;

	h = (struct area_hdr *)(p->ctx + p->ctx_offset);
	/* Pairs with the store-release of the owner's epoch below. */
	uint64_t e0 = sonuma_smp_load_acquire(&h->epoch);
	if (e0 && line_ok(h) && SONUMA_READ_ONCE(h->magic) == MSG_MAGIC &&
	    pid_alive(SONUMA_READ_ONCE(h->owner_pid)))
		return -EADDRINUSE;

	ep = calloc(1, sizeof(*ep) + ki.nodes * sizeof(struct peer));
	if (!ep)
		return -ENOMEM;
	ep->p = *p;
	ep->tsc_hz = ki.tsc_hz;
	ep->area = p->ctx + p->ctx_offset;
	ep->ring_base = LINE * (1 + 2 * (uint64_t)ki.nodes);
	ep->lb_stage = LB_CREDIT(ki.nodes);
	ep->info = (struct rmc_msg_info){ .nid = ki.nid,
					  .nodes = ki.nodes,
					  .slots = g.slots,
					  .max_msg = g.max_msg,
					  .slot_size = g.slot_size,
					  .tx_depth = g.tx_depth,
					  .credit_batch = g.batch,
					  .flags = p->flags,
					  .area_size = area,
					  .lbuff_size = need };
	ep->stage_free = g.tx_depth == 64 ? ~0ull : (1ull << g.tx_depth) - 1;
	ep->ctrl_tid = -1;
	ep->rr = ki.nid;
	ep->spin_tsc = ns_to_tsc((p->spin_us ? p->spin_us : DEFAULT_SPIN_US) * 1e3, ki.tsc_hz);
	ep->timeout_tsc = ns_to_tsc(p->timeout_ms * 1e6, ki.tsc_hz);
	ep->check_tsc = ns_to_tsc(1e6, ki.tsc_hz);
	ep->peer_check_tsc = ns_to_tsc(PEER_CHECK_MS * 1e6, ki.tsc_hz);
	ep->idle_credit_tsc = ns_to_tsc(IDLE_CREDIT_US * 1e3, ki.tsc_hz);
	ep->one_sec_tsc = ns_to_tsc(1e9, ki.tsc_hz);
	for (uint32_t i = 0; i < ki.nodes; i++) {
		ep->peers[i].credit_tid = -1;
		query_latency(ep, i);
	}
	ep->epoch = new_epoch(ep);

	/* Withdraw whatever was published, clear the area, then publish:
	 * the fields first, epoch2, and the epoch last with a release. */
	SONUMA_WRITE_ONCE(h->epoch, 0);
	SONUMA_WRITE_ONCE(h->epoch2, 0);
	sonuma_smp_mb();
	memset(ep->area, 0, area);
	h->magic = MSG_MAGIC;
	h->version = MSG_VERSION;
	h->slots = g.slots;
	h->slot_size = g.slot_size;
	h->nodes = ki.nodes;
	h->nid = ki.nid;
	h->max_msg = g.max_msg;
	h->owner_pid = (uint32_t)getpid();
	h->area_size = area;
	{
		/* The checksum covers the epoch, which is still 0 here. */
		struct area_hdr tmp = *h;
		tmp.epoch = ep->epoch;
		h->sum = line_sum(&tmp);
	}
	SONUMA_WRITE_ONCE(h->epoch2, ep->epoch);
	/* Publishes the area; pairs with the acquire above and with the
	 * RMC's copy to a connecting sender (a whole line, checked there). */
	sonuma_smp_store_release(&h->epoch, ep->epoch);
	*out = ep;
	return 0;
}

SONUMA_EXPORT int rmc_msg_fini(struct rmc_msg_ep *ep)
{
	struct area_hdr *h;
	struct waiter w;
	int r = 0;

	if (!ep)
		return 0;
	waiter_init(ep, &w,
		    ep->timeout_tsc ? ep->timeout_tsc : ns_to_tsc(FINI_WAIT_MS * 1e6, ep->tsc_hz));
	for (;;) {
		reap(ep);
		if (!any_inflight(ep))
			break;
		if ((r = wait_step(ep, &w)))
			break;
	}
	h = (struct area_hdr *)ep->area;
	SONUMA_WRITE_ONCE(h->epoch2, 0);
	sonuma_smp_store_release(&h->epoch, 0);
	SONUMA_WRITE_ONCE(h->magic, 0);
	free(ep);
	return r == -ETIMEDOUT || r == -ENOTCONN ? r : 0;
}

SONUMA_EXPORT int rmc_msg_get_info(const struct rmc_msg_ep *ep, struct rmc_msg_info *info)
{
	if (!ep || !info)
		return -EINVAL;
	*info = ep->info;
	return 0;
}

static inline int bad_peer(const struct rmc_msg_ep *ep, int n)
{
	return n < 0 || (uint32_t)n >= ep->info.nodes;
}

/* ---- sending ----------------------------------------------------------- */

static void disconnect(struct peer *pr)
{
	pr->conn = 0;
	pr->err = 0;
	pr->stall_since = 0;
	pr->gen++;
}

static int do_connect(struct rmc_msg_ep *ep, int dst, struct waiter *w)
{
	struct peer *pr = &ep->peers[dst];
	struct area_hdr h;
	struct conn_line c;
	struct credit_line *cl;
	uint64_t conn;
	int r;

	disconnect(pr);
	if ((r = ctrl_sync(ep, RMC_OP_READ, LB_SCRATCH, dst, 0, w)))
		return r;
	memcpy(&h, ep->p.lbuff + LB_SCRATCH, sizeof(h));
	if (h.magic != MSG_MAGIC || !h.epoch || !line_ok(&h))
		return -ECONNREFUSED;
	if (h.version != MSG_VERSION || h.slots != ep->info.slots ||
	    h.slot_size != ep->info.slot_size || h.max_msg != ep->info.max_msg ||
	    h.nodes != ep->info.nodes || h.nid != (uint32_t)dst ||
	    h.area_size != ep->info.area_size)
		return -EPROTO;
	conn = core_mix64(ep->epoch ^ core_mix64(++ep->connects));
	conn = conn ? conn : 1;
	/* Forget the credits of earlier connections: a late credit write
	 * of one carries its own tag and is ignored. */
	cl = (struct credit_line *)(ep->area + area_credit(ep->info.nodes, (uint32_t)dst));
	SONUMA_WRITE_ONCE(cl->val, 0);
	SONUMA_WRITE_ONCE(cl->val2, 0);
	c = (struct conn_line){ .conn = conn,
				.rx_epoch = h.epoch,
				.src = ep->info.nid,
				.tag = make_tag(h.epoch, conn),
				.conn2 = conn };
	c.sum = line_sum(&c);
	memcpy(ep->p.lbuff + LB_CONN, &c, sizeof(c));
	/* Waited for: the receiver sees this line before any slot of the
	 * new connection. */
	if ((r = ctrl_sync(ep, RMC_OP_WRITE, LB_CONN, dst, area_conn(ep->info.nid), w)))
		return r;
	pr->conn = conn;
	pr->rx_epoch = h.epoch;
	pr->tag = c.tag;
	pr->sent = pr->acked = 0;
	return 0;
}

SONUMA_EXPORT int rmc_msg_connect(struct rmc_msg_ep *ep, int dst)
{
	struct waiter w;

	if (!ep || bad_peer(ep, dst))
		return -EINVAL;
	waiter_init(ep, &w, ep->timeout_tsc);
	return do_connect(ep, dst, &w);
}

/* Credits for dst: slots minus messages not yet known consumed. */
static uint32_t credits(struct rmc_msg_ep *ep, int dst)
{
	struct peer *pr = &ep->peers[dst];
	const struct credit_line *cl =
		(const struct credit_line *)(ep->area + area_credit(ep->info.nodes, (uint32_t)dst));
	struct credit_line c;

	/* The receiver's remote write lands here: a whole line, taken only
	 * when it checks out and carries this connection's tag.  Pairs with
	 * the RMC's copy; the acquire orders the loads of the line. */
	if (sonuma_smp_load_acquire(&cl->val) >> 32 != pr->tag)
		return ep->info.slots - (pr->sent - pr->acked);
	memcpy(&c, (const void *)cl, sizeof(c));
	if (line_ok(&c) && (uint32_t)(c.val >> 32) == pr->tag) {
		uint32_t n = (uint32_t)c.val;
		uint64_t now = rmc_rdtsc(), nb = c.not_before;
		/* Never more than was sent; not before the model's time. */
		if (n - pr->acked <= pr->sent - pr->acked &&
		    (!nb || (int64_t)(now - nb) >= 0 || nb - now > ep->one_sec_tsc))
			pr->acked = n;
	}
	return ep->info.slots - (pr->sent - pr->acked);
}

SONUMA_EXPORT int rmc_msg_credits(struct rmc_msg_ep *ep, int dst)
{
	if (!ep || bad_peer(ep, dst))
		return -EINVAL;
	if (!ep->peers[dst].conn)
		return -ENOLINK;
	reap(ep);
	return (int)credits(ep, dst);
}

/* Is dst's endpoint still the one we connected to?  0, -ECONNRESET (and
 * the connection dropped), or the read's -errno. */
static int check_peer(struct rmc_msg_ep *ep, int dst, struct waiter *w)
{
	struct peer *pr = &ep->peers[dst];
	struct area_hdr h;
	int r;

	if ((r = ctrl_sync(ep, RMC_OP_READ, LB_SCRATCH, dst, 0, w)))
		return r;
	memcpy(&h, ep->p.lbuff + LB_SCRATCH, sizeof(h));
	if (h.epoch && !line_ok(&h))
		return 0; /* being rewritten: look again later */
	if (!h.epoch || h.magic != MSG_MAGIC || h.epoch != pr->rx_epoch) {
		disconnect(pr);
		return -ECONNRESET;
	}
	return 0;
}

/* The first error of a write on dst's connection, reported once; the
 * connection is dropped with it. */
static inline int take_error(struct peer *pr)
{
	int r = pr->err;

	if (r)
		disconnect(pr);
	return r;
}

SONUMA_EXPORT int rmc_send(struct rmc_msg_ep *ep, int dst, const void *buf, size_t len, int flags)
{
	struct peer *pr;
	struct waiter w;
	uint64_t stage_off, wlen, plen, mark, now;
	struct slot_hdr sh;
	uint8_t *s;
	unsigned stage;
	int tid, r;

	if (!ep || bad_peer(ep, dst) || (flags & ~RMC_MSG_DONTWAIT) || (!buf && len))
		return -EINVAL;
	if (len > ep->info.max_msg)
		return -EMSGSIZE;
	pr = &ep->peers[dst];
	waiter_init(ep, &w, ep->timeout_tsc);
	reap(ep);
	if ((r = take_error(pr)))
		return r;
	if (!pr->conn && (r = do_connect(ep, dst, &w)))
		return r;
	for (;;) {
		uint32_t cr = credits(ep, dst);
		if (cr && ep->stage_free && !SONUMA_READ_ONCE(ep->p.wq->q[ep->p.wq->head].valid))
			break;
		now = rmc_rdtsc();
		if (!cr) {
			/* Out of credits: now and then make sure the receiver
			 * is still the one we connected to. */
			if (!pr->stall_since) {
				pr->stall_since = now;
			} else if (now - pr->stall_since > ep->peer_check_tsc) {
				pr->stall_since = now;
				if ((r = check_peer(ep, dst, &w)))
					return r;
			}
		}
		if (flags & RMC_MSG_DONTWAIT)
			return -EAGAIN;
		if ((r = wait_step(ep, &w)))
			return r;
		reap(ep);
		if ((r = take_error(pr)))
			return r;
	}
	pr->stall_since = 0;

	stage = (unsigned)__builtin_ctzll(ep->stage_free);
	stage_off = ep->lb_stage + (uint64_t)stage * ep->info.slot_size;
	s = ep->p.lbuff + stage_off;
	plen = round_up(len, 8);
	wlen = SLOT_HDR + plen + SLOT_TRAILER;
	mark = (uint64_t)pr->tag << 32 | pr->sent;
	if (len)
		memcpy(s + SLOT_HDR, buf, len);
	memset(s + SLOT_HDR + len, 0, plen - len);
	memcpy(s + SLOT_HDR + plen, &mark, sizeof(mark));
	now = rmc_rdtsc();
	sh = (struct slot_hdr){ .mark = mark,
				.len = (uint32_t)len,
				.src = (uint16_t)ep->info.nid,
				.not_before = not_before(pr, now, wlen) };
	sh.sum = slot_sum(mark, slot_lenword(sh.len, sh.src), sh.not_before, s + SLOT_HDR, plen);
	memcpy(s, &sh, sizeof(sh));
	tid = post(ep, RMC_OP_WRITE, stage_off, dst,
		   ep->ring_base + ((uint64_t)ep->info.nid * ep->info.slots +
				    (pr->sent & (ep->info.slots - 1))) *
					   ep->info.slot_size,
		   wlen, OP_SEND, (uint8_t)stage);
	if (tid < 0)
		return tid == -EBUSY ? -EAGAIN : tid; /* the head was checked: not expected */
	ep->stage_free &= ~(1ull << stage);
	pr->sent++;
	if (flags & RMC_MSG_DONTWAIT)
		return 0;
	/* Blocking: the message is in the receiver's memory on return. */
	while (tid_inflight(ep, tid)) {
		reap(ep);
		if (!tid_inflight(ep, tid))
			break;
		if ((r = wait_step(ep, &w)))
			return r;
	}
	return take_error(pr);
}

SONUMA_EXPORT int rmc_msg_flush(struct rmc_msg_ep *ep)
{
	struct waiter w;
	int r;

	if (!ep)
		return -EINVAL;
	waiter_init(ep, &w, ep->timeout_tsc);
	for (;;) {
		reap(ep);
		/* Only sends: credit and control writes settle on their own. */
		if (ep->stage_free ==
		    (ep->info.tx_depth == 64 ? ~0ull : (1ull << ep->info.tx_depth) - 1))
			break;
		if ((r = wait_step(ep, &w)))
			return r;
	}
	for (uint32_t i = 0; i < ep->info.nodes; i++)
		if ((r = take_error(&ep->peers[i])))
			return r;
	return 0;
}

/* ---- receiving ----------------------------------------------------------- */

/* Writes the credits owed to sender src.  0, or -EBUSY when a credit write
 * to src or the WQ head is still in flight (the debt stays for later). */
static int return_credits(struct rmc_msg_ep *ep, uint32_t src)
{
	struct peer *pr = &ep->peers[src];
	uint64_t off = LB_CREDIT(src), val, now;
	struct credit_line c;
	int tid;

	reap(ep);
	if (pr->credit_tid >= 0)
		return -EBUSY;
	val = (uint64_t)pr->rx_tag << 32 | pr->consumed;
	now = rmc_rdtsc();
	c = (struct credit_line){ .val = val,
				  .not_before = not_before(pr, now, LINE),
				  .val2 = val };
	c.sum = line_sum(&c);
	memcpy(ep->p.lbuff + off, &c, sizeof(c));
	tid = post(ep, RMC_OP_WRITE, off, (int)src, area_credit(ep->info.nodes, ep->info.nid), LINE,
		   OP_CREDIT, 0);
	if (tid < 0)
		return tid;
	pr->credit_tid = tid;
	pr->returned = pr->consumed;
	return 0;
}

/* Writes owed credits: those at the batch or, with all, every one owed.
 * Returns whether some of them could not be written yet (a credit write
 * to that sender or the WQ head still in flight); they stay owed. */
static int settle_credits(struct rmc_msg_ep *ep, int all)
{
	int left_batch = 0, left = 0;

	if (!all && !ep->owed)
		return 0;
	for (uint32_t i = 0; i < ep->info.nodes; i++) {
		struct peer *pr = &ep->peers[i];
		uint32_t debt = pr->consumed - pr->returned;
		if (!pr->rx_tag || !debt || (!all && debt < ep->info.credit_batch))
			continue;
		if (return_credits(ep, i)) {
			left = 1;
			left_batch |= debt >= ep->info.credit_batch;
		}
	}
	ep->owed = left_batch;
	return left;
}

/* Takes the next message of sender p into buf: its length, -EAGAIN (none
 * yet), -EMSGSIZE (longer than cap; left in place) or -EBADMSG. */
static int try_take(struct rmc_msg_ep *ep, uint32_t p, void *buf, size_t cap)
{
	struct peer *pr = &ep->peers[p];
	const struct conn_line *cl = (const struct conn_line *)(ep->area + area_conn(p));
	/* Pairs with the RMC's copy of the line (checked whole below): the
	 * sender waits for that write's completion before it writes a slot,
	 * so the line of a connection is here before any of its slots. */
	uint64_t c = sonuma_smp_load_acquire(&cl->conn);

	if (c != pr->rx_conn) {
		/* A new connection from p (or a line being written). */
		struct conn_line l;
		memcpy(&l, (const void *)cl, sizeof(l));
		if (!c || l.conn != c || !line_ok(&l) || l.rx_epoch != ep->epoch || l.src != p)
			return -EAGAIN;
		pr->rx_conn = c;
		pr->rx_tag = make_tag(ep->epoch, c);
		pr->consumed = pr->returned = 0;
	}
	if (!pr->rx_tag)
		return -EAGAIN;

	const uint8_t *slot =
		ep->area + ep->ring_base +
		((uint64_t)p * ep->info.slots + (pr->consumed & (ep->info.slots - 1))) *
			ep->info.slot_size;
	const struct slot_hdr *sh = (const struct slot_hdr *)slot;
	uint64_t mark = (uint64_t)pr->rx_tag << 32 | pr->consumed;

	if (sonuma_smp_load_acquire(&sh->mark) != mark)
		return -EAGAIN;
	uint32_t len = SONUMA_READ_ONCE(sh->len);
	uint16_t from = SONUMA_READ_ONCE(sh->src);
	uint64_t nb = SONUMA_READ_ONCE(sh->not_before), sum = SONUMA_READ_ONCE(sh->sum);
	uint64_t plen = round_up(len, 8);
	if (len > ep->info.max_msg)
		return -EAGAIN; /* header not all there yet */
	/* The trailer, then the checksum: the slot is whole when the mark is
	 * at both ends and the bytes between add up. */
	if (sonuma_smp_load_acquire((const uint64_t *)(slot + SLOT_HDR + plen)) != mark)
		return -EAGAIN;
	if (slot_sum(mark, slot_lenword(len, from), nb, slot + SLOT_HDR, plen) != sum)
		return -EAGAIN;
	if (from != p) {
		/* Whole, yet not from p: a broken sender.  Skip it. */
		pr->consumed++;
		ep->owed = 1;
		return -EBADMSG;
	}
	uint64_t now = rmc_rdtsc();
	if (nb && (int64_t)(now - nb) < 0 && nb - now <= ep->one_sec_tsc)
		return -EAGAIN; /* the model has not delivered it yet */
	if (len > cap)
		return -EMSGSIZE;
	if (len)
		memcpy(buf, slot + SLOT_HDR, len);
	/* If p reconnected while we copied, its new connection may have
	 * overwritten the slot: the copy must be ordered before this look
	 * at the connection line, which the RMC wrote before the slot. */
	sonuma_smp_mb();
	if (SONUMA_READ_ONCE(cl->conn) != pr->rx_conn)
		return -EAGAIN;
	pr->consumed++;
	if (pr->consumed - pr->returned >= ep->info.credit_batch)
		ep->owed = 1;
	return (int)len;
}

SONUMA_EXPORT int rmc_recv(struct rmc_msg_ep *ep, int *src, void *buf, size_t cap, int flags)
{
	struct waiter w;
	int from = src ? *src : RMC_MSG_ANY;
	int idle_settled = 0, r;

	if (!ep || (flags & ~RMC_MSG_DONTWAIT) || (!buf && cap))
		return -EINVAL;
	if (from != RMC_MSG_ANY && bad_peer(ep, from))
		return -EINVAL;
	waiter_init(ep, &w, ep->timeout_tsc);
	for (;;) {
		reap(ep);
		if (from == RMC_MSG_ANY) {
			uint32_t n = ep->info.nodes;
			for (uint32_t i = 1; i <= n; i++) {
				uint32_t p = (ep->rr + i) % n;
				r = try_take(ep, p, buf, cap);
				if (r == -EAGAIN)
					continue;
				ep->rr = r == -EMSGSIZE ? (p + n - 1) % n : p;
				if (src)
					*src = (int)p;
				settle_credits(ep, 0);
				return r;
			}
		} else {
			r = try_take(ep, (uint32_t)from, buf, cap);
			if (r != -EAGAIN) {
				settle_credits(ep, 0);
				return r;
			}
		}
		settle_credits(ep, 0);
		if (flags & RMC_MSG_DONTWAIT)
			return -EAGAIN;
		/* Nothing for a while: give every sender its credits. */
		if (!idle_settled && rmc_rdtsc() - w.start > ep->idle_credit_tsc)
			idle_settled = !settle_credits(ep, 1);
		if ((r = wait_step(ep, &w)))
			return r;
	}
}

SONUMA_EXPORT int rmc_msg_progress(struct rmc_msg_ep *ep)
{
	int n;

	if (!ep)
		return -EINVAL;
	n = reap(ep);
	settle_credits(ep, 1);
	return n;
}
