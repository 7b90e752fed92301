/* SPDX-License-Identifier: MIT */
/*
 * sonuma-soak: a long-running, self-checking load on every node at once.
 *
 * One process per node (run each with sonuma-run -n NODE).  Each reads and
 * writes the contexts of every node, its own included, asynchronously with a
 * window of requests in flight, for a time (-t) or a number of operations
 * (-n), with random lengths (64 B up to -M, odd ones too) at random odd
 * offsets, and checks every byte it reads back.
 *
 * Layout, chosen so that a check can never fail for a reason other than a
 * fault of the emulator: every node's context is cut into nodes + 1 slices;
 * only node j writes slice j of any node, and the last slice is scratch for
 * --rogue programs.  Slice j is cut into slots of -M + 64 bytes; a node has
 * at most one request in flight per slot and reads back only the block it
 * last wrote there, once that write has completed.
 *
 * A block is a header (magic, writer, target, its own offset in the
 * target's context, sequence number, length, checksum) and a payload drawn
 * from (writer, target, offset, seq).  The checksum (64-bit FNV-1a, folded)
 * covers the header (so its address and sequence number) and the payload.
 *
 * --rogue runs a misbehaving application instead: bursts of requests, many
 * of them invalid (no such node or context, out of range, zero or too long,
 * unregistered buffer, bad operation code), a few valid ones (reads from
 * anywhere, writes only into the scratch slice), completions left unconsumed
 * for a while, entries scribbled on after posting.  It checks each status it
 * can predict and is meant to be SIGKILLed mid-run by soak.sh --chaos.
 *
 * Output: one line "soak key=value ..." (or "rogue ...") on stdout; exit
 * status 0 when errors, corrupted, unexpected and lost are all zero, 1
 * otherwise, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "explib.h"
#include "sonuma.h"

#define SOAK_MAGIC 0x4b414f53u /* "SOAK" */
#define SOAK_PAD 64	       /* slots and buffer regions leave room for a sub-offset */
#define SOAK_SHOW 5	       /* failures printed in full */
#define SOAK_POLL_YIELD 256    /* empty polls before letting other programs run */

/* At the start of every block, at any (even odd) address. */
struct blk_hdr {
	uint32_t magic;
	uint16_t writer;
	uint16_t target;
	uint64_t offset; /* of this block in the target's context */
	uint64_t seq;	 /* per writer, from 1 */
	uint32_t length; /* bytes of the block, header included */
	uint32_t csum;	 /* FNV-1a of the header (csum = 0) and the payload */
};
_Static_assert(sizeof(struct blk_hdr) == 32, "block header is 32 bytes");
_Static_assert(sizeof(struct blk_hdr) <= RMC_MIN_LENGTH / 2, "room for a payload");

struct opts {
	double seconds; /* 0: no time bound */
	uint64_t ops;	/* 0: no count bound */
	uint64_t max_size;
	unsigned window;
	unsigned read_pct;
	uint64_t seed;
	bool seed_given;
	bool time_given;
	double lost_timeout;
	bool final_verify;
	bool rogue;
	bool corrupt;	 /* rogue: flip bits in the soak's blocks instead */
	uint64_t bursts; /* rogue: 0 = until killed */
	bool verbose;
};

/* ---- small pure helpers --------------------------------------------- */

/* Uniform below n by the remainder: a printed seed replays the requests
 * it always has (explib's exp_rng_below multiplies instead). */
static inline uint64_t rnd_below(struct exp_rng *r, uint64_t n)
{
	return n ? exp_rng_next(r) % n : 0;
}

#define FNV_OFF 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

/* FNV-1a over 8-byte words in four interleaved lanes (then the tail
 * bytes), folded into one: fast enough to run on every byte moved, and
 * sensitive to every bit and to the order of words. */
static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	uint64_t a = h, b = h ^ 1, c = h ^ 2, d = h ^ 3, w[4];
	size_t i = 0;

	for (; i + 32 <= n; i += 32) {
		memcpy(w, p + i, 32);
		a = (a ^ w[0]) * FNV_PRIME;
		b = (b ^ w[1]) * FNV_PRIME;
		c = (c ^ w[2]) * FNV_PRIME;
		d = (d ^ w[3]) * FNV_PRIME;
	}
	for (; i + 8 <= n; i += 8) {
		memcpy(w, p + i, 8);
		a = (a ^ w[0]) * FNV_PRIME;
	}
	for (; i < n; i++)
		b = (b ^ p[i]) * FNV_PRIME;
	return (((((a ^ b) * FNV_PRIME) ^ c) * FNV_PRIME) ^ d) * FNV_PRIME;
}

static uint64_t blk_key(unsigned writer, unsigned target, uint64_t off, uint64_t seq)
{
	return core_mix64(
		core_mix64(core_mix64(((uint64_t)writer << 16 | target) ^ 0x5350414bull) ^ off) ^
		seq);
}

/* Word k of the payload of the block with key K is payload_word_at(K + k *
 * PAYLOAD_STEP): it depends on the word index and on writer, target, offset
 * and seq, all through K. */
#define PAYLOAD_STEP 0x9e3779b97f4a7c15ull
static inline uint64_t payload_word_at(uint64_t x)
{
	x *= 0xd1342543de82ef95ull;
	return x ^ (x >> 29);
}

static uint32_t blk_csum(const struct blk_hdr *h, const uint8_t *payload, size_t n)
{
	struct blk_hdr c = *h;
	uint64_t x;

	c.csum = 0;
	x = fnv1a(FNV_OFF, (const uint8_t *)&c, sizeof(c));
	x = fnv1a(x, payload, n);
	return (uint32_t)(x ^ (x >> 32));
}

/* Writes the block (writer, target, off, seq) of len bytes at p. */
static void blk_fill(uint8_t *p, unsigned writer, unsigned target, uint64_t off, uint64_t seq,
		     uint32_t len)
{
	struct blk_hdr h = { .magic = SOAK_MAGIC,
			     .writer = (uint16_t)writer,
			     .target = (uint16_t)target,
			     .offset = off,
			     .seq = seq,
			     .length = len };
	uint8_t *pl = p + sizeof(h);
	size_t n = len - sizeof(h), i = 0;
	uint64_t key = blk_key(writer, target, off, seq);

	uint64_t x = key;
	for (; i + 8 <= n; i += 8, x += PAYLOAD_STEP) {
		uint64_t w = payload_word_at(x);
		memcpy(pl + i, &w, 8);
	}
	if (i < n) {
		uint64_t w = payload_word_at(x);
		memcpy(pl + i, &w, n - i);
	}
	h.csum = blk_csum(&h, pl, n);
	memcpy(p, &h, sizeof(h));
}

/* Index of the first payload byte that differs, or -1. */
static int64_t payload_check(const uint8_t *pl, size_t n, uint64_t key)
{
	uint64_t x = key;
	size_t i = 0;
	for (; i + 8 <= n; i += 8, x += PAYLOAD_STEP) {
		uint64_t w = payload_word_at(x), g;
		memcpy(&g, pl + i, 8);
		if (g != w) {
			for (size_t b = 0; b < 8; b++)
				if (((uint8_t *)&g)[b] != ((uint8_t *)&w)[b])
					return (int64_t)(i + b);
		}
	}
	if (i < n) {
		uint64_t w = payload_word_at(x);
		for (size_t b = 0; b < n - i; b++)
			if (pl[i + b] != ((uint8_t *)&w)[b])
				return (int64_t)(i + b);
	}
	return -1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A length from 64 to max: log-uniform over powers of two, uniform within
 * one, so small and large requests both come often, odd lengths too. */
static uint32_t rnd_len(struct exp_rng *s, uint64_t max)
{
	unsigned top = 63 - (unsigned)__builtin_clzll(max), k = 6 + (unsigned)rnd_below(s, top - 5);
	uint64_t lo = 1ull << k, len = lo + rnd_below(s, lo);

	if (len > max)
		len = RMC_MIN_LENGTH + rnd_below(s, max - RMC_MIN_LENGTH + 1);
	return (uint32_t)len;
}

/* ---- the soak ------------------------------------------------------------ */

struct slot {
	uint64_t seq; /* of the block last written here (completed) */
	uint32_t sub; /* its offset within the slot */
	uint32_t len;
	bool busy;    /* a request of ours is in flight on it */
	bool written; /* seq/sub/len describe what the context holds */
};

struct req {
	bool live;
	uint8_t op;
	uint16_t target;
	uint32_t slot;	 /* index in soak.slots */
	uint32_t region; /* of the local buffer */
	uint32_t lsub;	 /* offset within the region */
	uint32_t sub;	 /* offset of the block within its slot */
	uint32_t len;
	uint64_t off; /* in the target's context */
	uint64_t seq;
};

struct soak {
	const struct opts *o;
	struct kal_info info;
	int fd;
	unsigned me, nodes;
	rmc_wq_t *wq;
	rmc_cq_t *cq;
	uint8_t *lbuff;
	uint64_t stride; /* of slots and buffer regions */
	uint64_t slice;	 /* bytes of one writer's slice */
	uint32_t slots_per_target;
	struct slot *slots; /* [target][slot] */
	uint32_t *free_regions;
	uint32_t n_free;
	struct req reqs[MAX_NUM_WQ];
	unsigned outstanding;
	struct exp_rng rng;
	uint64_t next_seq;
	/* counters */
	uint64_t reads, writes, bytes, verified, final_reads;
	uint64_t errors, corrupted, unexpected, lost;
};

static void report_error(struct soak *s, const struct req *r, int status)
{
	if (++s->errors <= SOAK_SHOW)
		fprintf(stderr,
			"sonuma-soak: node %u: %s of %u B at node %u offset %" PRIu64
			" failed: %s (%d)\n",
			s->me, r->op == RMC_OP_READ ? "read" : "write", r->len, r->target, r->off,
			rmc_status_str(status), status);
}

__attribute__((format(printf, 3, 4))) static void
report_corrupt(struct soak *s, const struct req *r, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	if (++s->corrupted > SOAK_SHOW)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	fprintf(stderr,
		"sonuma-soak: node %u: CORRUPT block read back from node %u offset %" PRIu64
		" (%u B, slot %u, expected seq %" PRIu64 "): %s\n",
		s->me, r->target, r->off, r->len, r->slot % s->slots_per_target, r->seq, why);
}

/* Checks a block read back; counts and describes the first few failures. */
static void verify_read(struct soak *s, const struct req *r, const uint8_t *p)
{
	struct blk_hdr h;
	size_t n = r->len - sizeof(h);
	const uint8_t *pl = p + sizeof(h);
	int64_t bad;

	memcpy(&h, p, sizeof(h));
	if (h.magic != SOAK_MAGIC) {
		report_corrupt(s, r, "magic %#x, expected %#x", h.magic, SOAK_MAGIC);
		return;
	}
	if (h.writer != s->me || h.target != r->target || h.offset != r->off) {
		report_corrupt(s, r,
			       "block of writer %u for node %u at offset %" PRIu64 " (seq %" PRIu64
			       ") found here",
			       h.writer, h.target, h.offset, h.seq);
		return;
	}
	if (h.seq != r->seq) {
		report_corrupt(s, r, "seq %" PRIu64 " (%s)", h.seq,
			       h.seq < r->seq ? "a stale block: the last write was lost" :
						"a newer block than the last written");
		return;
	}
	if (h.length != r->len) {
		report_corrupt(s, r, "length %u in the header", h.length);
		return;
	}
	if (blk_csum(&h, pl, n) != h.csum) {
		bad = payload_check(pl, n, blk_key(s->me, r->target, r->off, r->seq));
		report_corrupt(s, r,
			       "checksum %#x does not match (first bad payload byte: %" PRId64 ")",
			       h.csum, bad < 0 ? bad : bad + (int64_t)sizeof(h));
		return;
	}
	bad = payload_check(pl, n, blk_key(s->me, r->target, r->off, r->seq));
	if (bad >= 0) {
		report_corrupt(s, r, "payload byte %" PRId64 " differs (checksum matched)",
			       bad + (int64_t)sizeof(h));
		return;
	}
	s->verified++;
}

static void on_cq(uint8_t tid, wq_entry_t *head, void *owner)
{
	struct soak *s = owner;
	struct req *r = &s->reqs[tid];
	struct slot *sl;
	int st = head->status;

	if (!r->live) {
		if (++s->unexpected <= SOAK_SHOW)
			fprintf(stderr,
				"sonuma-soak: node %u: completion for WQ slot %u, which has "
				"no request in flight (status %d)\n",
				s->me, tid, st);
		return;
	}
	r->live = false;
	s->outstanding--;
	s->free_regions[s->n_free++] = r->region;
	sl = &s->slots[r->slot];
	sl->busy = false;
	if (r->op == RMC_OP_WRITE) {
		s->writes++;
		s->bytes += r->len;
		if (st != RMC_OK) {
			report_error(s, r, st);
			sl->written = false; /* what the slot holds is unknown now */
			return;
		}
		sl->written = true;
		sl->seq = r->seq;
		sl->sub = r->sub;
		sl->len = r->len;
		return;
	}
	s->reads++;
	s->bytes += r->len;
	if (st != RMC_OK) {
		report_error(s, r, st);
		return;
	}
	verify_read(s, r, s->lbuff + (uint64_t)r->region * s->stride + r->lsub);
}

/* Waits for at least one completion.  0; -ETIMEDOUT after lost_timeout
 * seconds without any; -ENOTCONN if rmcd is gone. */
static int wait_some(struct soak *s)
{
	uint64_t spins = 0;
	double since = now_s();

	for (;;) {
		if (rmc_drain_cq(s->wq, s->cq, on_cq, s) > 0)
			return 0;
		spins++;
		if (spins % RMC__SPIN_CHECK == 0) {
			int r = rmc__wait_slow(s->wq, &spins);
			if (r)
				return r;
			if (now_s() - since > s->o->lost_timeout)
				return -ETIMEDOUT;
		}
		/* Several programs share few CPUs: let the others run. */
		if (spins % SOAK_POLL_YIELD == 0)
			sched_yield();
		else
			sonuma_cpu_relax();
	}
}

/* Posts one request; the caller has made room.  0 or -errno. */
static int post(struct soak *s, uint8_t op, unsigned target, uint32_t slot_idx)
{
	struct slot *sl = &s->slots[slot_idx];
	uint32_t region = s->free_regions[--s->n_free];
	uint64_t slot_off =
		(uint64_t)s->me * s->slice + (uint64_t)(slot_idx % s->slots_per_target) * s->stride;
	struct req r = { .live = true,
			 .op = op,
			 .target = (uint16_t)target,
			 .slot = slot_idx,
			 .region = region };
	uint8_t *base = s->lbuff + (uint64_t)region * s->stride;
	int tid;

	r.lsub = (uint32_t)rnd_below(&s->rng, SOAK_PAD);
	if (op == RMC_OP_WRITE) {
		r.len = rnd_len(&s->rng, s->o->max_size);
		r.sub = (uint32_t)rnd_below(&s->rng, SOAK_PAD);
		r.off = slot_off + r.sub;
		r.seq = s->next_seq++;
		blk_fill(base + r.lsub, s->me, target, r.off, r.seq, r.len);
		tid = rmc_rwrite_async(s->wq, base, r.lsub, (int)target, 0, r.off, r.len);
	} else {
		r.len = sl->len;
		r.sub = sl->sub;
		r.off = slot_off + sl->sub;
		r.seq = sl->seq;
		/* Whatever was in the region must not pass for the block. */
		memset(base + r.lsub, 0xa5, r.len);
		tid = rmc_rread_async(s->wq, base, r.lsub, (int)target, 0, r.off, r.len);
	}
	if (tid < 0) {
		s->free_regions[s->n_free++] = region;
		return tid;
	}
	if (s->reqs[tid].live) {
		/* The library handed out a slot we still count as in flight. */
		fprintf(stderr, "sonuma-soak: node %u: WQ slot %d reused while in flight\n", s->me,
			tid);
		s->unexpected++;
		s->outstanding--;
	}
	s->reqs[tid] = r;
	sl->busy = true;
	s->outstanding++;
	return 0;
}

/* Makes room for one more request: below the window and the WQ head slot
 * free.  0 or -errno. */
static int make_room(struct soak *s)
{
	rmc_drain_cq(s->wq, s->cq, on_cq, s);
	while (s->outstanding >= s->o->window || SONUMA_READ_ONCE(s->wq->q[s->wq->head].valid) ||
	       !s->n_free) {
		int r = wait_some(s);
		if (r)
			return r;
	}
	return 0;
}

/* A slot of ours that is not busy, starting from a random one, or -1. */
static int64_t pick_slot(struct soak *s)
{
	uint64_t n = (uint64_t)s->nodes * s->slots_per_target, i = rnd_below(&s->rng, n);

	for (uint64_t k = 0; k < n; k++, i = i + 1 == n ? 0 : i + 1)
		if (!s->slots[i].busy)
			return (int64_t)i;
	return -1;
}

static int soak_run(struct soak *s)
{
	const struct opts *o = s->o;
	double t0 = now_s(), end = o->seconds > 0 ? t0 + o->seconds : 0;
	uint64_t done = 0;
	int r = 0;

	while (!o->ops || done < o->ops) {
		if (end && (done & 63) == 0 && now_s() >= end)
			break;
		if ((r = make_room(s)))
			break;
		int64_t i = pick_slot(s);
		if (i < 0) {
			if ((r = wait_some(s)))
				break;
			continue;
		}
		struct slot *sl = &s->slots[i];
		uint8_t op = sl->written && rnd_below(&s->rng, 100) < o->read_pct ? RMC_OP_READ :
										    RMC_OP_WRITE;
		if ((r = post(s, op, (unsigned)(i / s->slots_per_target), (uint32_t)i)))
			break;
		done++;
	}
	if (r && r != -ETIMEDOUT && r != -ENOTCONN)
		fprintf(stderr, "sonuma-soak: node %u: cannot post: %s\n", s->me, strerror(-r));
	return r;
}

/* Reads back every block written, once the load is over. */
static int soak_final(struct soak *s)
{
	uint64_t n = (uint64_t)s->nodes * s->slots_per_target, before = s->reads;
	int r;

	/* Nothing in flight: no slot is busy from here on. */
	while (s->outstanding)
		if ((r = wait_some(s)))
			return r;
	before = s->reads;
	for (uint64_t i = 0; i < n; i++) {
		if (!s->slots[i].written)
			continue;
		if ((r = make_room(s)))
			return r;
		/* make_room completes only reads now: the slot is as it was. */
		if ((r = post(s, RMC_OP_READ, (unsigned)(i / s->slots_per_target), (uint32_t)i)))
			return r;
	}
	while (s->outstanding)
		if ((r = wait_some(s)))
			return r;
	s->final_reads = s->reads - before;
	return 0;
}

/* Waits up to lost_timeout for what is in flight; what stays is lost. */
static void soak_drain(struct soak *s)
{
	double end = now_s() + s->o->lost_timeout;

	while (s->outstanding && now_s() < end) {
		if (rmc_drain_cq(s->wq, s->cq, on_cq, s) == 0) {
			uint64_t spins = RMC__SPIN_CHECK;
			if (rmc__wait_slow(s->wq, &spins))
				break;
			sched_yield();
		}
	}
	s->lost += s->outstanding;
	if (s->outstanding)
		fprintf(stderr, "sonuma-soak: node %u: %u request(s) never completed\n", s->me,
			s->outstanding);
}

static int soak_setup(struct soak *s)
{
	const struct opts *o = s->o;
	uint64_t ctx, lb;
	int r;

	s->me = s->info.nid;
	s->nodes = s->info.nodes;
	ctx = s->info.context_size;
	s->stride = (o->max_size + SOAK_PAD + 63) & ~63ull;
	s->slice = (ctx / (s->nodes + 1)) & ~63ull;
	s->slots_per_target = (uint32_t)(s->slice / s->stride);
	if (o->max_size > s->info.max_transfer) {
		fprintf(stderr,
			"sonuma-soak: -M %" PRIu64 " is above rmcd's max_transfer (%" PRIu64
			" B)\n",
			o->max_size, s->info.max_transfer);
		return -EINVAL;
	}
	if (!s->slots_per_target) {
		fprintf(stderr,
			"sonuma-soak: -M %" PRIu64
			" does not fit: each writer's slice of a context is %" PRIu64 " B (%" PRIu64
			" B / %u nodes + 1 scratch) and needs room for one block of -M + %d B;"
			" raise cluster.context_pages or lower -M\n",
			o->max_size, s->slice, ctx, s->nodes, SOAK_PAD);
		return -EINVAL;
	}
	if (o->window > s->info.queue_depth) {
		fprintf(stderr, "sonuma-soak: -w %u is above the queue depth (%u)\n", o->window,
			s->info.queue_depth);
		return -EINVAL;
	}
	s->slots = calloc((size_t)s->nodes * s->slots_per_target, sizeof(*s->slots));
	s->free_regions = calloc(o->window, sizeof(*s->free_regions));
	if (!s->slots || !s->free_regions)
		return -ENOMEM;
	for (unsigned i = 0; i < o->window; i++)
		s->free_regions[s->n_free++] = o->window - 1 - i;
	if ((r = kal_reg_wq(s->fd, &s->wq)) || (r = kal_reg_cq(s->fd, &s->cq)))
		return r;
	lb = ((uint64_t)o->window * s->stride + PAGE_SIZE - 1) / PAGE_SIZE;
	if ((r = kal_reg_lbuff(s->fd, &s->lbuff, (uint32_t)lb)))
		return r;
	s->next_seq = 1;
	return 0;
}

static int soak_main(const struct opts *o)
{
	struct soak s = { .o = o };
	double t0, secs;
	int r, rc;

	s.fd = kal_open((char *)RMC_DEV);
	if (s.fd < 0) {
		const char *node = getenv("SONUMA_NODE");
		fprintf(stderr,
			"sonuma-soak: cannot attach to node %s: %s (run it with sonuma-run -n NODE)\n",
			node ? node : "0", strerror(-s.fd));
		return 1;
	}
	if ((r = kal_info(s.fd, &s.info))) {
		fprintf(stderr, "sonuma-soak: rmcd did not answer: %s\n", strerror(-r));
		return 1;
	}
	if ((r = soak_setup(&s))) {
		if (r != -EINVAL)
			fprintf(stderr,
				"sonuma-soak: node %u: cannot register queues or buffers: %s\n",
				s.info.nid, strerror(-r));
		return r == -EINVAL ? 2 : 1;
	}
	exp_rng_seed(&s.rng, o->seed ^ core_mix64(s.me + 1));
	t0 = now_s();
	r = soak_run(&s);
	if (!r && o->final_verify)
		r = soak_final(&s);
	if (r == -ENOTCONN)
		fprintf(stderr, "sonuma-soak: node %u: rmcd is gone\n", s.me);
	else if (r == -ETIMEDOUT)
		fprintf(stderr,
			"sonuma-soak: node %u: no completion for %.1f s with %u request(s) "
			"in flight\n",
			s.me, o->lost_timeout, s.outstanding);
	soak_drain(&s);
	secs = now_s() - t0;
	uint64_t ops = s.reads + s.writes;
	printf("soak node=%u nodes=%u seed=%" PRIu64 " ops=%" PRIu64 " reads=%" PRIu64
	       " writes=%" PRIu64 " bytes=%" PRIu64 " verified=%" PRIu64 " final_reads=%" PRIu64
	       " errors=%" PRIu64 " corrupted=%" PRIu64 " unexpected=%" PRIu64 " lost=%" PRIu64
	       " secs=%.3f ops_s=%.0f max_size=%" PRIu64 " window=%u slots=%u status=%s\n",
	       s.me, s.nodes, o->seed, ops, s.reads, s.writes, s.bytes, s.verified, s.final_reads,
	       s.errors, s.corrupted, s.unexpected, s.lost, secs, secs > 0 ? (double)ops / secs : 0,
	       o->max_size, o->window, s.slots_per_target * s.nodes,
	       r == -ENOTCONN  ? "rmcd-gone" :
	       r == -ETIMEDOUT ? "stalled" :
	       r	       ? "failed" :
				 "ok");
	fflush(stdout);
	rc = (r || s.errors || s.corrupted || s.unexpected || s.lost) ? 1 : 0;
	free(s.slots);
	free(s.free_regions);
	kal_close(s.fd);
	return rc;
}

/* ---- the rogue ----------------------------------------------------------- */

enum rogue_case {
	RC_READ,      /* valid read from anywhere: OK */
	RC_WRITE,     /* valid write into the scratch slice: OK */
	RC_NID,	      /* no such node */
	RC_CID,	      /* no such context */
	RC_RANGE,     /* offset + length past the context */
	RC_FAR,	      /* offset near 2^64 */
	RC_ZERO,      /* length 0 (raw entry: the API would round it up) */
	RC_LONG,      /* above max_transfer */
	RC_BUF,	      /* buffer address not registered */
	RC_BUF_RANGE, /* buffer offset past the buffer */
	RC_OP,	      /* unknown operation (raw entry) */
	RC_SCRIBBLE,  /* a read whose fields are overwritten after posting */
	RC_N
};

static const char *const rc_names[RC_N] = {
	"read", "write", "nid", "cid",	     "range", "far",
	"zero", "long",	 "buf", "buf-range", "op",    "scribble",
};

#define ROGUE_MAX_QPS 3
#define ROGUE_ANY 0xff /* any status will do */

struct rogue_qp {
	rmc_wq_t *wq;
	rmc_cq_t *cq;
	uint8_t expect[MAX_NUM_WQ];
	uint8_t kase[MAX_NUM_WQ];
	bool live[MAX_NUM_WQ];
	unsigned outstanding;
	bool tainted; /* we lied to the RMC about it: expect nothing of it */
};

struct rogue {
	const struct opts *o;
	struct kal_info info;
	int fd;
	unsigned nqp;
	struct rogue_qp qp[ROGUE_MAX_QPS];
	uint8_t *lbuff;
	uint64_t lbuff_size;
	uint64_t bufs[5][2]; /* every registered buffer: address, size */
	unsigned n_bufs;
	uint64_t slice, ctx;
	struct exp_rng rng;
	uint64_t posted, ok, refused, mismatched, busy;
	uint64_t by_case[RC_N];
};

struct rogue_cb {
	struct rogue *g;
	struct rogue_qp *q;
};

static void rogue_on_cq(uint8_t tid, wq_entry_t *head, void *owner)
{
	struct rogue_cb *cb = owner;
	struct rogue *g = cb->g;
	struct rogue_qp *q = cb->q;
	uint8_t st = head->status;

	if (!q->live[tid]) {
		if (!q->tainted && ++g->mismatched <= SOAK_SHOW)
			fprintf(stderr, "sonuma-soak --rogue: completion for idle WQ slot %u\n",
				tid);
		return;
	}
	q->live[tid] = false;
	q->outstanding--;
	if (st == RMC_OK)
		g->ok++;
	else
		g->refused++;
	if (q->expect[tid] != ROGUE_ANY && st != q->expect[tid] && !q->tainted) {
		if (++g->mismatched <= SOAK_SHOW)
			fprintf(stderr,
				"sonuma-soak --rogue: node %u: a \"%s\" request completed with %s (%d), "
				"expected %s (%d)\n",
				g->info.nid, rc_names[q->kase[tid]], rmc_status_str(st), st,
				rmc_status_str(q->expect[tid]), q->expect[tid]);
	}
}

/* Posts an entry with any field values: rmc__post_entry() does not round
 * the length or check the operation, as rmc__post() does. */
static int raw_post(rmc_wq_t *wq, uint8_t op, uint16_t nid, uint8_t cid, uint64_t buf_addr,
		    uint64_t buf_offset, uint64_t offset, uint64_t length)
{
	return rmc__post_entry(wq, op, (uint8_t *)(uintptr_t)buf_addr, buf_offset, nid, cid, offset,
			       length, 0, 0);
}

static int rogue_post_one(struct rogue *g, struct rogue_qp *q)
{
	unsigned k = (unsigned)rnd_below(&g->rng, RC_N);
	uint64_t len = RMC_MIN_LENGTH + rnd_below(&g->rng, 4096);
	uint64_t boff = rnd_below(&g->rng, g->lbuff_size - len);
	uint64_t uaddr = (uint64_t)(uintptr_t)g->lbuff;
	uint16_t nid = (uint16_t)rnd_below(&g->rng, g->info.nodes);
	uint64_t scratch = (uint64_t)g->info.nodes * g->slice;
	uint8_t expect = RMC_OK;
	int tid;

	if (len > g->info.max_transfer)
		len = g->info.max_transfer;
	switch (k) {
	case RC_READ:
		tid = rmc_rread_async(q->wq, g->lbuff, boff, nid, 0,
				      rnd_below(&g->rng, g->ctx - len + 1), len);
		break;
	case RC_WRITE:
		/* The scratch slice only: soak blocks are never touched. */
		if (g->ctx - scratch < len)
			len = g->ctx - scratch;
		tid = rmc_rwrite_async(q->wq, g->lbuff, boff, nid, 0,
				       scratch + rnd_below(&g->rng, g->ctx - scratch - len + 1),
				       len);
		break;
	case RC_NID:
		expect = RMC_ERR_NID;
		tid = rmc_rwrite_async(
			q->wq, g->lbuff, boff,
			(int)(g->info.nodes + rnd_below(&g->rng, 0x10000 - g->info.nodes)), 0, 0,
			len);
		break;
	case RC_CID:
		expect = RMC_ERR_CID;
		tid = rmc_rwrite_async(q->wq, g->lbuff, boff, nid,
				       200 + (uint32_t)rnd_below(&g->rng, 56), 0, len);
		break;
	case RC_RANGE:
		expect = RMC_ERR_CTX_RANGE;
		tid = rmc_rwrite_async(q->wq, g->lbuff, boff, nid, 0,
				       g->ctx - len + 1 + rnd_below(&g->rng, len + 4096), len);
		break;
	case RC_FAR:
		expect = RMC_ERR_CTX_RANGE;
		tid = rmc_rwrite_async(q->wq, g->lbuff, boff, nid, 0,
				       UINT64_MAX - rnd_below(&g->rng, 2 * len), len);
		break;
	case RC_ZERO:
		expect = RMC_ERR_LENGTH;
		tid = raw_post(q->wq, RMC_OP_WRITE, nid, 0, uaddr, boff, scratch, 0);
		break;
	case RC_LONG:
		expect = RMC_ERR_LENGTH;
		tid = rmc_rwrite_async(q->wq, g->lbuff, 0, nid, 0, 0,
				       g->info.max_transfer + 1 + rnd_below(&g->rng, 1u << 20));
		break;
	case RC_BUF: {
		/* Below, just past, or far from the buffer, but in none of
		 * the others registered. */
		uint64_t a, cand[4] = { uaddr - PAGE_SIZE, uaddr + g->lbuff_size, 0x1000,
					(uint64_t)(uintptr_t)&cand };
		a = cand[rnd_below(&g->rng, 4)];
		for (unsigned i = 0; i < g->n_bufs; i++)
			if (a - g->bufs[i][0] < g->bufs[i][1])
				a = 0x1000;
		expect = RMC_ERR_BUF;
		tid = rmc_rwrite_async(q->wq, (uint8_t *)(uintptr_t)a, 0, nid, 0, scratch, len);
		break;
	}
	case RC_BUF_RANGE:
		expect = RMC_ERR_BUF_RANGE;
		tid = rmc_rwrite_async(q->wq, g->lbuff,
				       rnd_below(&g->rng, 2) ?
					       g->lbuff_size - len + 1 + rnd_below(&g->rng, len) :
					       UINT64_MAX - rnd_below(&g->rng, 4096),
				       nid, 0, scratch, len);
		break;
	case RC_OP: {
		uint8_t op = (uint8_t)exp_rng_next(&g->rng);
		if (op == RMC_OP_READ || op == RMC_OP_WRITE || op == RMC_OP_CAS || op == RMC_OP_FAA)
			op = 'x';
		expect = RMC_ERR_OP;
		tid = raw_post(q->wq, op, nid, 0, uaddr, boff, scratch, len);
		break;
	}
	default: { /* RC_SCRIBBLE */
		expect = ROGUE_ANY;
		tid = rmc_rread_async(q->wq, g->lbuff, boff, nid, 0, 0, len);
		if (tid >= 0) {
			/* The RMC may have copied the entry already, or not: a
			 * read stays a read (op is left alone), whatever else it
			 * becomes lands in our own buffer or is refused. */
			wq_entry_t *e = &q->wq->q[tid];
			SONUMA_WRITE_ONCE(e->nid, (uint16_t)exp_rng_next(&g->rng));
			SONUMA_WRITE_ONCE(e->offset, exp_rng_next(&g->rng));
			SONUMA_WRITE_ONCE(e->length,
					  exp_rng_next(&g->rng) >> (exp_rng_next(&g->rng) & 63));
			SONUMA_WRITE_ONCE(e->buf_offset,
					  exp_rng_next(&g->rng) >> (exp_rng_next(&g->rng) & 63));
		}
		break;
	}
	}
	if (tid < 0)
		return tid;
	if (q->live[tid]) {
		if (++g->mismatched <= SOAK_SHOW)
			fprintf(stderr, "sonuma-soak --rogue: WQ slot %d reused while in flight\n",
				tid);
		q->outstanding--;
	}
	q->live[tid] = true;
	q->expect[tid] = expect;
	q->kase[tid] = (uint8_t)k;
	q->outstanding++;
	g->posted++;
	g->by_case[k]++;
	return 0;
}

static void rogue_burst(struct rogue *g)
{
	struct rogue_qp *q = &g->qp[rnd_below(&g->rng, g->nqp)];
	struct rogue_cb cb = { g, q };
	unsigned n = 1 + (unsigned)rnd_below(&g->rng, q->wq->depth);

	for (unsigned i = 0; i < n; i++) {
		int r = rogue_post_one(g, q);
		if (r == -EBUSY) {
			/* Head slot in flight: take what has completed, or give up
			 * on this burst and leave the rest for later. */
			g->busy++;
			if (!rmc_drain_cq(q->wq, q->cq, rogue_on_cq, &cb))
				break;
		}
	}
	/* Rarely, when meant to be killed anyway, lie about the completions
	 * taken: the RMC must clamp it and hurt nobody but this QP. */
	if (!g->o->bursts && rnd_below(&g->rng, 64) == 0) {
		q->tainted = true;
		sonuma_smp_store_release(&q->cq->consumed,
					 q->cq->consumed + 1 + (uint32_t)rnd_below(&g->rng, 1000));
	}
	/* Sometimes leave the completions there for a while. */
	if (rnd_below(&g->rng, 4) == 0) {
		struct timespec ts = { 0, (long)rnd_below(&g->rng, 2000000) };
		nanosleep(&ts, NULL);
	}
	for (unsigned i = 0; i < g->nqp; i++) {
		struct rogue_cb c = { g, &g->qp[i] };
		rmc_drain_cq(g->qp[i].wq, g->qp[i].cq, rogue_on_cq, &c);
	}
}

static int rogue_main(const struct opts *o)
{
	struct rogue g = { .o = o };
	uint8_t *ctx = NULL;
	int r;

	g.fd = kal_open((char *)RMC_DEV);
	if (g.fd < 0) {
		fprintf(stderr, "sonuma-soak --rogue: cannot attach: %s\n", strerror(-g.fd));
		return 1;
	}
	if ((r = kal_info(g.fd, &g.info))) {
		fprintf(stderr, "sonuma-soak --rogue: rmcd did not answer: %s\n", strerror(-r));
		return 1;
	}
	exp_rng_seed(&g.rng, o->seed ^ 0x726f677565ull ^ core_mix64(g.info.nid + 1));
	g.ctx = g.info.context_size;
	g.slice = (g.ctx / (g.info.nodes + 1)) & ~63ull;
	g.nqp = 1 + (unsigned)rnd_below(&g.rng, ROGUE_MAX_QPS);
	for (unsigned i = 0; i < g.nqp; i++)
		if ((r = kal_reg_wq(g.fd, &g.qp[i].wq)) || (r = kal_reg_cq(g.fd, &g.qp[i].cq))) {
			fprintf(stderr, "sonuma-soak --rogue: cannot register queues: %s\n",
				strerror(-r));
			return 1;
		}
	/* A few buffers, so that lookups go past the first; requests use the
	 * last one, 16 pages. */
	for (unsigned i = (unsigned)rnd_below(&g.rng, 4); i > 0; i--) {
		uint8_t *b = NULL;
		uint32_t pages = 1 + (uint32_t)rnd_below(&g.rng, 4);
		if ((r = kal_reg_lbuff(g.fd, &b, pages))) {
			fprintf(stderr, "sonuma-soak --rogue: cannot register a buffer: %s\n",
				strerror(-r));
			return 1;
		}
		g.bufs[g.n_bufs][0] = (uint64_t)(uintptr_t)b;
		g.bufs[g.n_bufs++][1] = (uint64_t)pages * PAGE_SIZE;
	}
	g.lbuff_size = 16 * PAGE_SIZE;
	if ((r = kal_reg_lbuff(g.fd, &g.lbuff, 16))) {
		fprintf(stderr, "sonuma-soak --rogue: cannot register a buffer: %s\n",
			strerror(-r));
		return 1;
	}
	g.bufs[g.n_bufs][0] = (uint64_t)(uintptr_t)g.lbuff;
	g.bufs[g.n_bufs++][1] = g.lbuff_size;
	/* Map our own context too, and write into its scratch slice only. */
	if (!kal_reg_ctx(g.fd, &ctx, (uint32_t)(g.ctx / PAGE_SIZE))) {
		uint64_t scratch = (uint64_t)g.info.nodes * g.slice;
		memset(ctx + scratch, 0x5a, g.ctx - scratch);
	}
	if (o->verbose)
		fprintf(stderr, "sonuma-soak --rogue: node %u: %u QP(s), pid %d\n", g.info.nid,
			g.nqp, (int)getpid());

	for (uint64_t b = 0; !o->bursts || b < o->bursts; b++) {
		uint64_t spins = RMC__SPIN_CHECK;
		rogue_burst(&g);
		if (rmc__wait_slow(g.qp[0].wq, &spins)) {
			fprintf(stderr, "sonuma-soak --rogue: rmcd is gone\n");
			return 1;
		}
	}

	/* Asked for a bounded run: every completion must come back. */
	double end = now_s() + o->lost_timeout;
	unsigned left;
	for (;;) {
		left = 0;
		for (unsigned i = 0; i < g.nqp; i++) {
			struct rogue_cb c = { &g, &g.qp[i] };
			rmc_drain_cq(g.qp[i].wq, g.qp[i].cq, rogue_on_cq, &c);
			left += g.qp[i].tainted ? 0 : g.qp[i].outstanding;
		}
		if (!left || now_s() > end)
			break;
		sched_yield();
	}
	printf("rogue node=%u qps=%u posted=%" PRIu64 " ok=%" PRIu64 " refused=%" PRIu64
	       " mismatched=%" PRIu64 " busy=%" PRIu64 " lost=%u",
	       g.info.nid, g.nqp, g.posted, g.ok, g.refused, g.mismatched, g.busy, left);
	for (unsigned k = 0; k < RC_N; k++)
		printf(" %s=%" PRIu64, rc_names[k], g.by_case[k]);
	printf("\n");
	return g.mismatched || left ? 1 : 0;
}

/* The checker's own check: flips one bit of this node's context every
 * millisecond, anywhere in the writers' slices, through the application's
 * mapping (not the RMC).  A soak running meanwhile must count corrupted
 * blocks; soak.sh --inject-corruption asserts that it does. */
static int corrupt_main(const struct opts *o)
{
	struct kal_info info;
	uint8_t *ctx = NULL;
	struct exp_rng rng;
	uint64_t area, flips = 0;
	int fd = kal_open((char *)RMC_DEV), r;

	if (fd < 0) {
		fprintf(stderr, "sonuma-soak --corrupt: cannot attach: %s\n", strerror(-fd));
		return 1;
	}
	if ((r = kal_info(fd, &info)) ||
	    (r = kal_reg_ctx(fd, &ctx, (uint32_t)(info.context_size / PAGE_SIZE)))) {
		fprintf(stderr, "sonuma-soak --corrupt: cannot map the context: %s\n",
			strerror(-r));
		return 1;
	}
	exp_rng_seed(&rng, o->seed ^ 0xbadull);
	area = ((info.context_size / (info.nodes + 1)) & ~63ull) * info.nodes;
	for (uint64_t b = 0; !o->bursts || b < o->bursts; b++) {
		struct timespec ts = { 0, 1000000 };
		uint64_t at = rnd_below(&rng, area);
		ctx[at] ^= (uint8_t)(1u << rnd_below(&rng, 8));
		flips++;
		nanosleep(&ts, NULL);
	}
	printf("corrupter node=%u flips=%" PRIu64 "\n", info.nid, flips);
	kal_close(fd);
	return 0;
}

/* ---- command line -------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sonuma-soak [options]       (one per node, with sonuma-run -n NODE)\n"
		"       sonuma-soak --rogue [options]\n"
		"Reads and writes every node's context with verified blocks of random size,\n"
		"asynchronously, and prints one line of key=value counters.\n"
		"  -t, --time SECONDS      run this long (default 10 unless -n is given)\n"
		"  -n, --ops N             post this many requests (with -t: whichever first)\n"
		"  -M, --max-size BYTES    largest request, 64 up to max_transfer (default 65536)\n"
		"  -w, --window N          requests in flight, 1 up to the queue depth (default 16)\n"
		"  -r, --read-pct P        share of reads among requests to written blocks (default 50)\n"
		"  -S, --seed N            random seed (default: from the clock; printed)\n"
		"  -L, --lost-timeout SECS wait this long for a completion before counting\n"
		"                          what is in flight as lost (default 5)\n"
		"      --no-final-verify   skip reading every block back at the end\n"
		"      --rogue             misbehave instead (see the top of soak.c); with -n N,\n"
		"                          stop after N bursts and check every status\n"
		"      --corrupt           flip a bit of this node's context every millisecond\n"
		"                          (-n N: N times), for checking the checker\n"
		"  -v, --verbose           say more on standard error\n"
		"  -h, --help              this text\n"
		"Exit status: 0 when errors, corrupted, unexpected and lost are all 0; 1 if\n"
		"not; 2 on bad usage.\n");
}

/* A bad value: "-X: bad value", whatever X's value must be. */
static void say_bad(const struct exp_opt *o, const char *arg)
{
	fprintf(stderr, "sonuma-soak: -%c: bad value \"%s\" (see --help)\n", o->letter, arg);
}

static void no_hint(void)
{
}

static void taken(const struct exp_opt *o, void *options)
{
	struct opts *p = options;

	if (o->letter == 't')
		p->time_given = true;
	else if (o->letter == 'S')
		p->seed_given = true;
}

#define OPT(f) offsetof(struct opts, f)
static const struct exp_opt soak_opts[] = {
	EXP_OPT_DBL('t', "time", OPT(seconds), 0.001, 1e7, NULL),
	EXP_OPT_INTS(EXP_OPT_U64, 'n', "ops", OPT(ops), 1, UINT64_MAX / 2, 0, NULL),
	EXP_OPT_INTS(EXP_OPT_U64, 'M', "max-size", OPT(max_size), RMC_MIN_LENGTH, 1u << 30, 0,
		     NULL),
	EXP_OPT_INTS(EXP_OPT_UINT, 'w', "window", OPT(window), 1, MAX_NUM_WQ, 0, NULL),
	EXP_OPT_INTS(EXP_OPT_UINT, 'r', "read-pct", OPT(read_pct), 0, 100, 0, NULL),
	EXP_OPT_INTS(EXP_OPT_U64, 'S', "seed", OPT(seed), 0, UINT64_MAX, 0, NULL),
	EXP_OPT_DBL('L', "lost-timeout", OPT(lost_timeout), 0.01, 1e7, NULL),
	EXP_OPT_FLAG(EXP_OPT_BOOL, 0, "no-final-verify", OPT(final_verify), false),
	EXP_OPT_FLAG(EXP_OPT_BOOL, 0, "rogue", OPT(rogue), true),
	EXP_OPT_FLAG(EXP_OPT_BOOL, 0, "corrupt", OPT(corrupt), true),
	EXP_OPT_FLAG(EXP_OPT_BOOL, 'v', "verbose", OPT(verbose), true),
	EXP_OPT_ARG(EXP_OPT_HELP, 'h', "help", 0),
};
#undef OPT

int main(int argc, char **argv)
{
	static const struct exp_cli cli = { .prog = "sonuma-soak",
					    .usage = usage,
					    .say = say_bad,
					    .hint = no_hint,
					    .taken = taken };
	struct opts o = { .max_size = 65536,
			  .window = 16,
			  .read_pct = 50,
			  .lost_timeout = 5,
			  .final_verify = true };
	const struct exp_opts set = { soak_opts, sizeof(soak_opts) / sizeof(soak_opts[0]), &o };
	int r;

	if ((r = exp_parse_opts(&cli, &set, 1, argc, argv)))
		return r;
	if (optind < argc) {
		fprintf(stderr, "sonuma-soak: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!o.seed_given) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		o.seed = core_mix64((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) >>
			 16;
	}
	if (o.rogue || o.corrupt) {
		o.bursts = o.ops;
		return o.corrupt ? corrupt_main(&o) : rogue_main(&o);
	}
	if (!o.time_given && !o.ops)
		o.seconds = 10;
	return soak_main(&o);
}
