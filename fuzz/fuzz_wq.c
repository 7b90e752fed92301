/* SPDX-License-Identifier: MIT */
/*
 * fuzz_wq: the RMC's handling of work-queue entries.
 *
 * An in-process rmcd (the approach of tests/unit.h): up to 4 nodes with up
 * to three contexts each (64, 16 and 4 KiB), two sessions (node 0 with two
 * local buffers, node 1 with one) and one queue pair each, one RMC that is
 * never started; the harness drives it with rmcd_rmc_poll_once().  Every
 * context and local buffer is mapped in rmcd's view between PROT_NONE
 * guards, so a copy past the end of registered memory faults.
 *
 * Input: 4 header bytes, then records of 12 knob bytes + one raw 64-byte WQ
 * entry (every field as given, unless a knob says otherwise).
 *   header[0] % 3 + 2     nodes
 *   header[1] % 4         model: none, fixed (300 ns), link (full), link (ring)
 *             bits 2-3    lead (completions written ahead of due): 0, 2 us
 *                         (rmc.conf's default), 50 us, 0
 *             bit 4       the library's overhead taken off due: 0 or 100 ns
 *   header[2] bits 0-1    contexts per node: 1 + value % 3
 *             bit 2       address layout: the application's real mappings, or
 *                         extreme (buffer B at the top of the address space,
 *                         session 1's buffer overlapping A's addresses)
 *             bit 3       buffer B registered (published) or not
 *             bits 4-6    max_transfer
 *   header[3]             queue depth (bit 7: 128, else 1 + value)
 *   knob[0] (control)
 *           bit 0         queue pair: session 0's or session 1's
 *           bits 1-2      buf_addr: raw / near a buffer's start / near its
 *                         end / inside it (buffer: knob[1] % 3, of all three,
 *                         the other session's included; delta: knob[4..5])
 *           bit 3         fold op, nid, cid, lengths and offsets near the
 *                         valid ranges (else every field raw); then knob[2]
 *                         bits 0-2 put the end of the context range, the end
 *                         of the buffer range, the length right at their
 *                         limits, give or take (knob[2] >> 3) % 5 - 2 bytes
 *           bit 4         publish with the wrong SR first (repaired at the
 *                         next poll: the RMC must not take it before)
 *           bit 5         poll after this entry (else keep batching)
 *           bits 6-7      0: t_post raw; 1, 2: t_post honest; 3: honest,
 *                         then a garbage cq->consumed (value: knob[8..11])
 *   knob[1]  bits 0-1     the buffer of bits 1-2 above
 *            bit 2        folded atomics keep their length (else 8)
 *            bit 3        folded atomics keep their offset (else aligned)
 *
 * Checks: no fault (guards) and no sanitizer report; the RMC takes only
 * published entries, in order, never more than the CQ has room for, and
 * makes progress when it can; every taken entry gets exactly one
 * completion, with a status in range: RMC_OK exactly when every field is in
 * range (recomputed here in 128-bit arithmetic), else one of the errors
 * that applies; the bytes a valid entry names are moved (an atomic's word
 * changed as compare-and-swap or fetch-and-add say, its old value in the
 * local buffer), and no other byte of any context or buffer changes.
 * After a garbage consumed counter the application has broken its own
 * queue: from then on only the checks that do not depend on its CQ
 * bookkeeping apply.  Creating and destroying the queue pairs of an input
 * leaves no descriptor open and no segment mapped.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "fuzz_common.h"
#include "rmcd.h"
#include "sonuma/barrier.h"
#include "sonuma/tsc.h"
#include "sonuma/tm.h"

#define NODES 4
#define CTX_PER_NODE 3
#define CTX_SIZE (64u * 1024) /* context 0; max_transfer is at most this */
#define N_SESS 2
#define N_BUF 3
#define N_MODELS 4
#define KNOBS 12
#define REC_SIZE (KNOBS + sizeof(wq_entry_t))

static const uint64_t ctx_size[CTX_PER_NODE] = { CTX_SIZE, 16384, 4096 };

/* A local buffer: A and B of session 0, C of session 1. */
struct fbuf {
	int fd;
	uint64_t size;
	int sess, idx;	   /* owner and index in its lbuff[] */
	uint8_t *map;	   /* rmcd's view, guarded */
	uint8_t *app;	   /* the application's view */
	uint64_t app_addr; /* for this input's layout */
	uint8_t *model, *pristine;
};

struct region {
	uint8_t *live, *model, *pristine;
	uint64_t size;
};

enum slot_state { SLOT_FREE, SLOT_POSTED, SLOT_TAKEN };

struct slot {
	enum slot_state st;
	bool bad_sr;	   /* published with the wrong SR, not yet repaired */
	wq_entry_t e;	   /* what the application wrote */
	bool ok;	   /* the RMC must accept it */
	uint32_t may_fail; /* bit s: status s would be right */
};

struct fqp {
	struct rmcd_qp *qp;
	rmc_wq_t *wq; /* the application's mappings */
	rmc_cq_t *cq;
	struct rmcd_session *s;
	uint16_t depth;
	/* What the harness knows of the RMC's progress. */
	uint8_t rmc_tail, rmc_phase;
	uint32_t picked; /* entries taken */
	uint32_t popped; /* completions the application took */
	uint32_t posted; /* entries published */
	bool lied;	 /* a garbage consumed counter was written */
	struct slot slot[MAX_NUM_WQ];
};

static struct fz {
	bool up;
	struct rmcd d;
	struct rmcd_node nodes[NODES];
	struct rmcd_rmc rmc;
	struct rmcd_session sess[N_SESS];
	struct fbuf buf[N_BUF];
	struct region ctx[NODES][CTX_PER_NODE];
	const struct tm_ops *model[N_MODELS];
	void *model_state[N_MODELS];
	/* This input. */
	uint32_t n_ctx;
	struct fqp q[N_SESS];
	bool trace; /* SONUMA_FUZZ_TRACE: print every completion */
} F;

static const char *const status_name[] = {
	"OK",	      "ERR_OP",	       "ERR_NID",    "ERR_CID",	  "ERR_CTX_RANGE",
	"ERR_BUF",    "ERR_BUF_RANGE", "ERR_LENGTH", "ERR_ALIGN", "ERR_DEAD",
	"ERR_FLUSHED"
};

static const uint64_t max_transfers[8] = {
	CTX_SIZE, 64, 4096, 8193, 32768, 65535, 100, CTX_SIZE / 2
};

static void setup_model(int i, const char *name, const char *conf)
{
	struct tm_env env = { .tsc_hz = F.d.tsc_hz, .nodes = NODES };
	config_t lc;
	const config_setting_t *grp = NULL;
	char err[512] = "";
	int r;

	F.model[i] = tm_find(name);
	FZ_CHECK(F.model[i], "model %s is not registered", name);
	if (conf) {
		config_init(&lc);
		FZ_CHECK(config_read_string(&lc, conf) == CONFIG_TRUE, "bad model config");
		grp = config_lookup(&lc, "model");
	}
	r = F.model[i]->init(grp, &env, &F.model_state[i], err, sizeof(err));
	FZ_CHECK(r == 0, "model %s: init: %s", name, err);
	if (conf)
		config_destroy(&lc);
}

static void region_init(struct region *g, uint8_t *live, uint64_t size, uint64_t seed)
{
	g->live = live;
	g->size = size;
	g->model = malloc(size);
	g->pristine = malloc(size);
	FZ_CHECK(g->model && g->pristine, "out of memory");
	fz_fill(g->pristine, size, seed);
}

static void setup(void)
{
	struct rmcd *d = &F.d;
	static const uint64_t buf_size[N_BUF] = { 16384, 8192, 12288 };
	static const int buf_sess[N_BUF] = { 0, 0, 1 };
	int r;

	core_config_defaults(&d->cfg);
	d->cfg.nodes = NODES;
	d->cfg.context_pages = CTX_SIZE / PAGE_SIZE;
	d->cfg.max_transfer = CTX_SIZE;
	d->tsc_hz = core_tsc_measure_hz(10);
	FZ_CHECK(d->tsc_hz > 0, "cannot measure the TSC rate");
	d->fabric = &rmcd_fabric_shm;
	d->max_transfer = CTX_SIZE;
	d->epfd = d->sigfd = d->shared_fd = d->rmcdev_fd = d->peer_evfd = -1;
	d->self = -1;
	d->nodes = F.nodes;
	d->n_nodes = NODES;

	setup_model(0, "none", NULL);
	setup_model(1, "fixed", NULL);
	setup_model(2, "link", NULL);
	setup_model(3, "link",
		    "model = { name = \"link\"; topology = \"ring\"; bandwidth_gbps = 40; "
		    "rmc_ns = 200; hop_ns = 100; };");
	d->model = F.model[0];
	d->model_state = F.model_state[0];

	for (uint32_t i = 0; i < NODES; i++) {
		struct rmcd_node *n = &F.nodes[i];
		n->nid = i;
		n->local = true;
		n->live = 1; /* every node served here: always reachable */
		n->listen_fd = n->lock_fd = n->peer_fd = -1;
		for (uint32_t k = 0; k < CTX_PER_NODE; k++) {
			int fd;
			r = core_shm_create("fuzz-ctx", ctx_size[k], &fd);
			FZ_CHECK(r == 0, "core_shm_create: %s", strerror(-r));
			n->ctx[k].fd = fd;
			n->ctx[k].base = fz_map_guarded(fd, ctx_size[k]);
			FZ_CHECK(n->ctx[k].base, "mmap: %s", strerror(errno));
			n->ctx[k].size = ctx_size[k];
			region_init(&F.ctx[i][k], n->ctx[k].base, ctx_size[k], 1000 + i * 16 + k);
		}
		n->n_ctx = CTX_PER_NODE;
	}

	F.rmc.d = d;
	F.rmc.cpu = -1;
	pthread_mutex_init(&F.rmc.mu, NULL);
	pthread_cond_init(&F.rmc.cv, NULL);
	FZ_CHECK(rmcd_heap_init(&F.rmc.heap, 64) == 0, "heap");
	/* As rmcd_cluster_init does: counters for every node. */
	F.rmc.stats = calloc((size_t)NODES * RMCD_SIZE_CLASSES, sizeof(*F.rmc.stats));
	FZ_CHECK(F.rmc.stats, "out of memory");
	d->rmcs = &F.rmc;
	d->n_rmcs = 1;

	for (int s = 0; s < N_SESS; s++) {
		F.sess[s].d = d;
		F.sess[s].node = &F.nodes[s];
		F.sess[s].fd = -1;
	}
	for (int b = 0; b < N_BUF; b++) {
		struct fbuf *fb = &F.buf[b];
		struct rmcd_session *s = &F.sess[buf_sess[b]];
		fb->size = buf_size[b];
		fb->sess = buf_sess[b];
		r = core_shm_create("fuzz-lbuff", fb->size, &fb->fd);
		FZ_CHECK(r == 0, "core_shm_create: %s", strerror(-r));
		fb->map = fz_map_guarded(fb->fd, fb->size);
		fb->app = core_shm_map(fb->fd, fb->size);
		FZ_CHECK(fb->map && fb->app, "mmap: %s", strerror(errno));
		fb->model = malloc(fb->size);
		fb->pristine = malloc(fb->size);
		FZ_CHECK(fb->model && fb->pristine, "out of memory");
		fz_fill(fb->pristine, fb->size, 5000 + (uint64_t)b);
		fb->idx = (int)s->n_lbuff_alloc++;
		s->lbuff[fb->idx].fd = fb->fd;
		s->lbuff[fb->idx].size = fb->size;
		s->lbuff[fb->idx].map = fb->map;
	}
	F.up = true;
}

/* ---- the application's side ---------------------------------------------- */

static void qp_open(struct fqp *q, struct rmcd_session *s)
{
	int r;

	memset(q, 0, sizeof(*q));
	q->s = s;
	r = rmcd_qp_create(&F.d, s, &q->qp);
	FZ_CHECK(r == 0, "rmcd_qp_create: %s", strerror(-r));
	r = rmcd_rmc_add_qp(&F.rmc, q->qp);
	FZ_CHECK(r == 0, "rmcd_rmc_add_qp: %s", strerror(-r));
	q->wq = core_shm_map(q->qp->wq_fd, q->qp->wq_size);
	q->cq = core_shm_map(q->qp->cq_fd, q->qp->cq_size);
	FZ_CHECK(q->wq && q->cq, "mmap: %s", strerror(errno));
	q->depth = q->wq->depth;
	FZ_CHECK(q->depth == F.d.cfg.queue_depth && q->cq->depth == q->depth,
		 "queue depth %u/%u, configured %u", q->wq->depth, q->cq->depth,
		 F.d.cfg.queue_depth);
	FZ_CHECK(q->wq->SR == 1 && q->cq->SR == 1, "queues must start at phase 1");
	q->rmc_phase = 1;
}

static void qp_close(struct fqp *q)
{
	rmcd_rmc_remove_qp(&F.rmc, q->qp);
	munmap(q->wq, q->qp->wq_size);
	munmap(q->cq, q->qp->cq_size);
	rmcd_qp_destroy(q->qp);
	q->qp = NULL;
}

static const struct fbuf *own_buf(const struct fqp *q, uint64_t addr)
{
	const struct rmcd_session *s = q->s;

	for (int b = 0; b < N_BUF; b++) {
		const struct fbuf *fb = &F.buf[b];
		if (&F.sess[fb->sess] != s || (uint32_t)fb->idx >= s->n_lbuff)
			continue;
		if (addr >= fb->app_addr &&
		    (unsigned __int128)addr < (unsigned __int128)fb->app_addr + fb->size)
			return fb;
	}
	return NULL;
}

/* The verdict on an entry, from the documented meaning of each status and
 * nothing of rmcd's code: ok, or the set of statuses that would be right. */
static void judge(const struct fqp *q, struct slot *sl)
{
	const wq_entry_t *e = &sl->e;
	typedef unsigned __int128 u128;
	uint32_t m = 0;
	const struct fbuf *fb;

	bool atomic = e->op == RMC_OP_CAS || e->op == RMC_OP_FAA;

	if (e->op != RMC_OP_READ && e->op != RMC_OP_WRITE && !atomic)
		m |= 1u << RMC_ERR_OP;
	if (e->nid >= F.d.n_nodes)
		m |= 1u << RMC_ERR_NID;
	if (e->cid >= F.n_ctx)
		m |= 1u << RMC_ERR_CID;
	if (e->length == 0 || e->length > F.d.max_transfer ||
	    (atomic && e->length != RMC_ATOMIC_LENGTH))
		m |= 1u << RMC_ERR_LENGTH;
	if (atomic && e->offset % RMC_ATOMIC_LENGTH)
		m |= 1u << RMC_ERR_ALIGN;
	if (e->cid < CTX_PER_NODE && (u128)e->offset + e->length > ctx_size[e->cid])
		m |= 1u << RMC_ERR_CTX_RANGE;
	fb = own_buf(q, e->buf_addr);
	if (!fb)
		m |= 1u << RMC_ERR_BUF;
	else if ((u128)(e->buf_addr - fb->app_addr) + e->buf_offset + e->length > fb->size)
		m |= 1u << RMC_ERR_BUF_RANGE;
	sl->ok = m == 0;
	sl->may_fail = m;
}

/* Moves the bytes of a valid entry in the reference copy. */
static void model_apply(const struct fqp *q, const struct slot *sl)
{
	const wq_entry_t *e = &sl->e;
	const struct fbuf *fb = own_buf(q, e->buf_addr);
	uint8_t *local = fb->model + (e->buf_addr - fb->app_addr) + e->buf_offset;
	uint8_t *remote = F.ctx[e->nid][e->cid].model + e->offset;

	uint64_t old, v;

	switch (e->op) {
	case RMC_OP_READ:
		memcpy(local, remote, e->length);
		break;
	case RMC_OP_WRITE:
		memcpy(remote, local, e->length);
		break;
	case RMC_OP_CAS:
	case RMC_OP_FAA:
		memcpy(&old, remote, sizeof(old));
		v = e->op == RMC_OP_FAA ? old + e->arg0 : (old == e->arg0 ? e->arg1 : old);
		memcpy(remote, &v, sizeof(v));
		memcpy(local, &old, sizeof(old));
		break;
	}
}

static void check_bytes(const uint8_t *live, const uint8_t *model, uint64_t n, const char *what,
			const struct slot *sl)
{
	if (memcmp(live, model, n) == 0)
		return;
	uint64_t i = 0;
	while (live[i] == model[i])
		i++;
	FZ_CHECK(0,
		 "%s: byte %llu is 0x%02x, expected 0x%02x (after op %c nid %u cid %u off %llu "
		 "len %llu buf_off %llu)",
		 what, (unsigned long long)i, live[i], model[i], sl ? sl->e.op : '-',
		 sl ? sl->e.nid : 0, sl ? sl->e.cid : 0,
		 sl ? (unsigned long long)sl->e.offset : 0ull,
		 sl ? (unsigned long long)sl->e.length : 0ull,
		 sl ? (unsigned long long)sl->e.buf_offset : 0ull);
}

/* The destination of a valid entry holds what the reference says. */
static void check_dest(const struct fqp *q, const struct slot *sl)
{
	const wq_entry_t *e = &sl->e;
	const struct fbuf *fb = own_buf(q, e->buf_addr);
	uint64_t boff = (e->buf_addr - fb->app_addr) + e->buf_offset;

	if (e->op != RMC_OP_WRITE)
		check_bytes(fb->map + boff, fb->model + boff, e->length,
			    "local buffer after a read or an atomic", sl);
	if (e->op != RMC_OP_READ)
		check_bytes(F.ctx[e->nid][e->cid].live + e->offset,
			    F.ctx[e->nid][e->cid].model + e->offset, e->length,
			    "context after a write or an atomic", sl);
}

static void check_all_memory(void)
{
	for (int i = 0; i < NODES; i++)
		for (int k = 0; k < CTX_PER_NODE; k++)
			check_bytes(F.ctx[i][k].live, F.ctx[i][k].model, ctx_size[k],
				    "a context (unnamed bytes changed)", NULL);
	for (int b = 0; b < N_BUF; b++)
		check_bytes(F.buf[b].map, F.buf[b].model, F.buf[b].size,
			    "a local buffer (unnamed bytes changed)", NULL);
}

/* Entries the RMC may take now: published ones from its tail on. */
static uint32_t published_run(const struct fqp *q)
{
	uint32_t n = 0;
	unsigned t = q->rmc_tail, ph = q->rmc_phase;

	while (n < q->depth) {
		if (sonuma_smp_load_acquire(&q->wq->q[t].SR) != ph)
			break;
		n++;
		if (++t >= q->depth) {
			t = 0;
			ph ^= 1;
		}
	}
	return n;
}

/* Checks the completion of slot tid, with status st, against its entry,
 * and frees the slot as the library does. */
static void complete_slot(struct fqp *q, uint8_t tid, uint8_t st, bool inplace)
{
	FZ_CHECK(st < RMC_STATUS_MAX, "completion status %u out of range", st);
	struct slot *sl = &q->slot[tid];
	if (F.trace)
		fprintf(stderr, "QP %d: tid %u op 0x%02x nid %u cid %u off %llu len %llu -> %s%s\n",
			(int)(q - F.q), tid, sl->e.op, sl->e.nid, sl->e.cid,
			(unsigned long long)sl->e.offset, (unsigned long long)sl->e.length,
			st < CORE_ARRAY_SIZE(status_name) ? status_name[st] : "?",
			inplace ? " (in place)" : "");
	if (!q->lied) {
		FZ_CHECK(sl->st == SLOT_TAKEN,
			 "completion for tid %u, which the RMC has not taken (state %d)", tid,
			 sl->st);
		FZ_CHECK(!(sl->e.flags & RMC_WQE_INPLACE) == !inplace,
			 "tid %u (flags 0x%02x) completed %s", tid, sl->e.flags,
			 inplace ? "in place" : "in the CQ");
		if (sl->ok)
			FZ_CHECK(st == RMC_OK,
				 "valid entry (op %c nid %u cid %u off %llu len %llu "
				 "buf_off %llu) completed with status %u",
				 sl->e.op, sl->e.nid, sl->e.cid, (unsigned long long)sl->e.offset,
				 (unsigned long long)sl->e.length,
				 (unsigned long long)sl->e.buf_offset, st);
		else
			FZ_CHECK(st != RMC_OK && (sl->may_fail >> st & 1),
				 "invalid entry (op 0x%02x nid %u cid %u off 0x%llx len 0x%llx "
				 "buf_addr 0x%llx buf_off 0x%llx) completed with status %u; "
				 "statuses that apply: 0x%x",
				 sl->e.op, sl->e.nid, sl->e.cid, (unsigned long long)sl->e.offset,
				 (unsigned long long)sl->e.length,
				 (unsigned long long)sl->e.buf_addr,
				 (unsigned long long)sl->e.buf_offset, st, sl->may_fail);
		sl->st = SLOT_FREE;
		q->wq->q[tid].status = st;
		SONUMA_WRITE_ONCE(q->wq->q[tid].valid, 0);
	} else if (sl->st == SLOT_TAKEN) {
		sl->st = SLOT_FREE;
	}
	q->popped++;
	/* Pairs with the RMC's load-acquire of consumed. */
	sonuma_smp_store_release(&q->cq->consumed, q->cq->consumed + 1);
}

/* Takes every completion the CQ shows, as rmc__cq_pop does, and every one
 * written in place, as rmc__wait_inplace does, and checks each against the
 * entry it names. */
static void drain(struct fqp *q)
{
	for (uint8_t tid = 0; tid < q->depth; tid++) {
		struct slot *sl = &q->slot[tid];
		/* Pairs with the RMC's store-release of valid. */
		if (sl->st == SLOT_TAKEN && (sl->e.flags & RMC_WQE_INPLACE) &&
		    !sonuma_smp_load_acquire(&q->wq->q[tid].valid))
			complete_slot(q, tid, q->wq->q[tid].status, true);
	}
	for (unsigned guard = 0; guard < 2u * MAX_NUM_WQ; guard++) {
		uint8_t t = q->cq->tail;
		cq_entry_t *c = &q->cq->q[t];

		/* Pairs with the RMC's store-release of c->SR. */
		if (sonuma_smp_load_acquire(&c->SR) != q->cq->SR)
			return;
		uint8_t tid = c->tid, st = c->status;
		if (++t >= q->depth) {
			t = 0;
			q->cq->SR ^= 1;
		}
		q->cq->tail = t;
		FZ_CHECK(tid < q->depth, "completion for tid %u, queue depth %u", tid, q->depth);
		complete_slot(q, tid, st, false);
	}
	FZ_CHECK(q->lied, "the CQ shows more completions than it has entries");
}

/* One pass of the RMC, with every check on what it took. */
static int poll_step(void)
{
	uint32_t may[N_SESS], room[N_SESS], before[N_SESS], n_new = 0;
	struct fqp *new_q[N_SESS * MAX_NUM_WQ];
	struct slot *new_slot[N_SESS * MAX_NUM_WQ];
	int n, total = 0;

	for (int i = 0; i < N_SESS; i++) {
		struct fqp *q = &F.q[i];
		may[i] = published_run(q);
		room[i] = q->depth - (q->picked - q->popped);
		before[i] = q->qp->picked;
		FZ_CHECK(before[i] == q->picked, "qp->picked %u, harness %u", before[i], q->picked);
	}
	n = rmcd_rmc_poll_once(&F.rmc);
	/* Entries are moved in the order the RMC serves its QPs. */
	for (uint32_t j = 0; j < F.rmc.n_qps; j++) {
		struct fqp *q = NULL;
		for (int i = 0; i < N_SESS; i++)
			if (F.q[i].qp == F.rmc.qps[j])
				q = &F.q[i];
		FZ_CHECK(q, "the RMC serves a QP the harness does not know");
		int i = (int)(q - F.q);
		uint32_t took = q->qp->picked - before[i];
		total += (int)took;
		FZ_CHECK(took <= may[i],
			 "the RMC took %u entries, only %u were published (wrong SR or not posted)",
			 took, may[i]);
		if (!q->lied) {
			FZ_CHECK(took <= room[i],
				 "the RMC took %u entries with room for %u completions (depth %u, "
				 "%u taken, %u consumed)",
				 took, room[i], q->depth, q->picked, q->popped);
			FZ_CHECK(took > 0 || may[i] == 0 || room[i] == 0,
				 "no progress: %u entries published, room for %u", may[i], room[i]);
		}
		for (uint32_t k = 0; k < took; k++) {
			struct slot *sl = &q->slot[q->rmc_tail];
			if (n_new < CORE_ARRAY_SIZE(new_q)) {
				new_q[n_new] = q;
				new_slot[n_new++] = sl;
			}
			if (!q->lied)
				FZ_CHECK(sl->st == SLOT_POSTED && !sl->bad_sr,
					 "took slot %u in state %d", q->rmc_tail, sl->st);
			if (sl->st == SLOT_POSTED) {
				sl->st = SLOT_TAKEN;
				if (sl->ok)
					model_apply(q, sl);
			}
			if (++q->rmc_tail >= q->depth) {
				q->rmc_tail = 0;
				q->rmc_phase ^= 1;
			}
		}
		q->picked += took;
	}
	FZ_CHECK(n == total, "rmcd_rmc_poll_once returned %d, %d taken", n, total);
	/* The bytes each valid entry just taken names are where the
	 * reference says. */
	for (uint32_t k = 0; k < n_new; k++)
		if (new_slot[k]->ok && new_slot[k]->st == SLOT_TAKEN)
			check_dest(new_q[k], new_slot[k]);
	for (int i = 0; i < N_SESS; i++)
		drain(&F.q[i]);
	return n;
}

/* The application fixes entries it published with the wrong SR. */
static bool repair(void)
{
	bool any = false;

	for (int i = 0; i < N_SESS; i++) {
		struct fqp *q = &F.q[i];
		for (uint32_t s = 0; s < q->depth; s++) {
			struct slot *sl = &q->slot[s];
			if (!sl->bad_sr)
				continue;
			/* The phase it should have had: the RMC's, as the
			 * application never laps the RMC. */
			sonuma_smp_store_release(&q->wq->q[s].SR, (uint8_t)(q->wq->q[s].SR ^ 1));
			sl->bad_sr = false;
			any = true;
		}
	}
	return any;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool busy(const struct fqp *q)
{
	for (uint32_t s = 0; s < q->depth; s++)
		if (q->lied ? q->slot[s].st == SLOT_TAKEN : q->slot[s].st != SLOT_FREE)
			return true;
	return false;
}

/* Polls until everything published is completed (or, after a lie, until
 * nothing moves).  Completions held by a timing model come within
 * microseconds; two seconds without them is a lost completion. */
static void settle(void)
{
	uint64_t t0 = now_ns();
	unsigned idle = 0;

	for (;;) {
		uint32_t popped = F.q[0].popped + F.q[1].popped;
		/* Repaired entries are published only now: first make sure
		 * the RMC still does not take a wrong-SR entry. */
		if (poll_step() > 0 || F.q[0].popped + F.q[1].popped != popped)
			idle = 0;
		if (repair())
			continue;
		bool any = busy(&F.q[0]) || busy(&F.q[1]) || F.rmc.heap.n;
		if (!any)
			return;
		/* A lying application may have wedged its own queue. */
		if (F.rmc.heap.n == 0 && (F.q[0].lied || F.q[1].lied) && ++idle > 4)
			return;
		FZ_CHECK(now_ns() - t0 < 2000000000ull,
			 "completions missing after 2 s: %u/%u taken/consumed on QP 0, %u/%u on "
			 "QP 1, %u held by the model",
			 F.q[0].picked, F.q[0].popped, F.q[1].picked, F.q[1].popped, F.rmc.heap.n);
	}
}

static uint64_t fold(uint64_t v, uint64_t n)
{
	return n ? v % n : v;
}

/* Builds the entry of one record and publishes it, as rmc__post does. */
static void post(const uint8_t *knob, const uint8_t *raw)
{
	uint8_t ctl = knob[0], sel = knob[1], lim = knob[2];
	int16_t delta;
	uint32_t garbage;
	struct fqp *q = &F.q[ctl & 1];
	wq_entry_t e;

	memcpy(&delta, knob + 4, sizeof(delta));
	memcpy(&garbage, knob + 8, sizeof(garbage));
	memcpy(&e, raw, sizeof(e));
	/* Room in the queue: the slot at head must have completed. */
	uint8_t h = q->wq->head;
	uint64_t t0 = now_ns();
	unsigned idle = 0;
	while (q->slot[h].st != SLOT_FREE) {
		if (q->lied && q->slot[h].st == SLOT_TAKEN)
			break; /* a lying application overwrites what it likes */
		uint32_t popped = q->popped;
		bool moved = poll_step() > 0 || q->popped != popped;
		moved |= repair();
		idle = moved || F.rmc.heap.n ? 0 : idle + 1;
		if (q->lied && idle > 2)
			return; /* its own queue is wedged: nothing to post */
		FZ_CHECK(now_ns() - t0 < 2000000000ull,
			 "slot %u of QP %d never completed (%u taken, %u consumed)", h, ctl & 1,
			 q->picked, q->popped);
	}

	const struct fbuf *fb = &F.buf[(sel & 3) % N_BUF];
	switch ((ctl >> 1) & 3) {
	case 1:
		e.buf_addr = fb->app_addr + (uint64_t)delta;
		break;
	case 2:
		e.buf_addr = fb->app_addr + fb->size + (uint64_t)delta;
		break;
	case 3:
		e.buf_addr = fb->app_addr + fold(e.buf_addr, fb->size + 1);
		break;
	}
	if (ctl & 8) {
		static const uint8_t ops[4] = { RMC_OP_READ, RMC_OP_WRITE, RMC_OP_CAS, RMC_OP_FAA };
		if (e.op != RMC_OP_READ && e.op != RMC_OP_WRITE && e.op != RMC_OP_CAS &&
		    e.op != RMC_OP_FAA)
			e.op = ops[e.op & 3];
		bool atomic = e.op == RMC_OP_CAS || e.op == RMC_OP_FAA;
		e.nid = (uint16_t)fold(e.nid, F.d.n_nodes + 1);
		e.cid = (uint8_t)fold(e.cid, F.n_ctx + 1);
		uint64_t csize = ctx_size[e.cid < F.n_ctx ? e.cid : 0];
		e.length = fold(e.length, F.d.max_transfer + 2);
		if (atomic && !(sel & 4))
			e.length = RMC_ATOMIC_LENGTH;
		e.offset = fold(e.offset, csize + 2);
		if (atomic && !(sel & 8))
			e.offset &= ~(uint64_t)(RMC_ATOMIC_LENGTH - 1);
		e.buf_offset = fold(e.buf_offset, 16384 + 2);
		/* Right at the limits, give or take a couple of bytes. */
		uint64_t d = (uint64_t)((int64_t)((lim >> 3) % 5) - 2);
		if (lim & 4)
			e.length = F.d.max_transfer + d;
		if (lim & 1)
			e.offset = csize - e.length + d;
		if (lim & 2)
			e.buf_offset = fb->size - (e.buf_addr - fb->app_addr) - e.length + d;
	}
	if (ctl >> 6)
		e.t_post = rmc_rdtsc() - (e.t_post & 0xfffff);

	struct slot *sl = &q->slot[h];
	wq_entry_t *w = &q->wq->q[h];
	uint8_t sr = q->wq->SR;
	bool bad = ctl & 16;

	sl->e = e;
	sl->st = SLOT_POSTED;
	sl->bad_sr = bad;
	judge(q, sl);
	/* Every field but SR, then SR with a store-release (pairs with the
	 * RMC's load-acquire).  The slot's old SR is the other phase. */
	e.SR = w->SR;
	e.valid = 1;
	e.status = RMC_OK;
	memcpy(w, &e, sizeof(e));
	sonuma_smp_store_release(&w->SR, bad ? (uint8_t)(sr ^ 1) : sr);
	if (++h >= q->depth) {
		h = 0;
		q->wq->SR ^= 1;
	}
	q->wq->head = h;
	q->posted++;
	if ((ctl >> 6) == 3) {
		/* Pairs with nothing: a lie. */
		sonuma_smp_store_release(&q->cq->consumed, garbage);
		q->lied = true;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	setenv("SONUMA_LOG", "err", 0);
	core_log_init("fuzz_wq");
	F.trace = getenv("SONUMA_FUZZ_TRACE") != NULL;
	setup();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const layout_name[] = { "real", "extreme" };
	struct rmcd *d = &F.d;

	(void)layout_name;
	if (size < 4)
		return 0;
	if (!F.up)
		setup();

	/* This input's cluster. */
	d->n_nodes = 2 + data[0] % 3;
	d->model = F.model[data[1] % N_MODELS];
	d->model_state = F.model_state[data[1] % N_MODELS];
	static const double lead_ns[4] = { 0, 2000, 50000, 0 };
	d->lead_tsc = core_ns_to_tsc(lead_ns[(data[1] >> 2) & 3], d->tsc_hz);
	d->overhead_tsc = core_ns_to_tsc((data[1] & 16) ? 100 : 0, d->tsc_hz);
	F.n_ctx = 1 + (data[2] & 3) % 3;
	for (int i = 0; i < NODES; i++)
		F.nodes[i].n_ctx = F.n_ctx;
	d->max_transfer = max_transfers[(data[2] >> 4) & 7];
	d->cfg.max_transfer = d->max_transfer;
	d->cfg.queue_depth = (data[3] & 0x80) ? MAX_NUM_WQ : 1u + data[3];

	/* Buffers: where the applications have them, and which are
	 * registered.  app_addr values are what rmcd was told over the
	 * control socket; rmcd never dereferences them. */
	bool extreme = data[2] & 4;
	F.buf[0].app_addr = (uint64_t)(uintptr_t)F.buf[0].app;
	F.buf[1].app_addr = extreme ? 0ull - F.buf[1].size - PAGE_SIZE :
				      (uint64_t)(uintptr_t)F.buf[1].app;
	F.buf[2].app_addr = extreme ? F.buf[0].app_addr + PAGE_SIZE :
				      (uint64_t)(uintptr_t)F.buf[2].app;
	for (int b = 0; b < N_BUF; b++)
		F.sess[F.buf[b].sess].lbuff[F.buf[b].idx].app_addr = F.buf[b].app_addr;
	sonuma_smp_store_release(&F.sess[0].n_lbuff, (data[2] & 8) ? 2u : 1u);
	sonuma_smp_store_release(&F.sess[1].n_lbuff, 1u);

	/* Memory back to its reference contents. */
	for (int i = 0; i < NODES; i++)
		for (int k = 0; k < CTX_PER_NODE; k++) {
			memcpy(F.ctx[i][k].live, F.ctx[i][k].pristine, ctx_size[k]);
			memcpy(F.ctx[i][k].model, F.ctx[i][k].pristine, ctx_size[k]);
		}
	for (int b = 0; b < N_BUF; b++) {
		memcpy(F.buf[b].map, F.buf[b].pristine, F.buf[b].size);
		memcpy(F.buf[b].model, F.buf[b].pristine, F.buf[b].size);
	}

	struct fz_held before = fz_held_now();
	for (int i = 0; i < N_SESS; i++)
		qp_open(&F.q[i], &F.sess[i]);

	data += 4;
	size -= 4;
	for (; size >= REC_SIZE; data += REC_SIZE, size -= REC_SIZE) {
		post(data, data + KNOBS);
		if (data[0] & 32) {
			poll_step();
			if (repair())
				poll_step();
		}
	}
	settle();
	check_all_memory();
	if (!F.q[0].lied && !F.q[1].lied)
		for (int i = 0; i < N_SESS; i++)
			FZ_CHECK(F.q[i].picked == F.q[i].posted && F.q[i].popped == F.q[i].posted,
				 "QP %d: %u posted, %u taken, %u completed", i, F.q[i].posted,
				 F.q[i].picked, F.q[i].popped);
	for (int i = 0; i < N_SESS; i++)
		qp_close(&F.q[i]);
	FZ_CHECK(F.rmc.n_qps == 0 && F.rmc.heap.n == 0,
		 "the RMC still holds %u QPs, %u completions", F.rmc.n_qps, F.rmc.heap.n);
	fz_check_released(before, "the queue pairs");
	return 0;
}
