/* SPDX-License-Identifier: MIT */
/*
 * sonuma-kv: a distributed key-value store over soNUMA's one-sided remote
 * reads, writes and atomics, with its own load generator and checker.
 *
 * One process per node (sonuma-run -n NODE -- sonuma-kv ...), each with
 * one or more threads, each thread with its own queue pair.  Keys are the
 * integers 0 .. keys-1; key k lives on node h(k) % nodes, in an open-
 * addressing (linear probing) table of fixed-size slots in that node's
 * context, starting at slot (h(k) / nodes) % slots.  Slots never move and
 * are never freed, so a client caches where it found a key.  The slot
 * layout and the lock-free read are described in kv_slot.h:
 *   get: one remote read of the slot (+ one of its version word with the
 *        seqlock check), retried while locked or torn;
 *   put: compare-and-swap takes the slot's lock (version even -> odd),
 *        one remote write puts the new body, fetch-and-add releases it
 *        (odd -> even).  A new key claims an empty slot with CAS 0 -> 1.
 *
 * Phases, separated by a barrier across all processes (fetch-and-add on a
 * counter in node 0's context, apps_common.h): set-up, load (every key put
 * once by its writer), an unloaded read-latency probe by process 0, the
 * measured run (a get/put mix, uniform or Zipf keys, for a time or a
 * count), the final check, and the report: every process leaves its
 * counters and latency histograms in its own context, and process 0 reads
 * them all with remote reads and prints the cluster's figures.
 *
 * Checking.  Every value is a function of (key, writer, seq) and carries
 * them with a checksum; every get compares the value byte for byte, and
 * its version with the newest this thread has seen or written for the key
 * (monotonic reads, read-your-writes).  With --writers owner (the default)
 * each key has a single writer (key % writers), which knows the exact last
 * value of each of its keys; the final pass reads each key back and
 * requires exactly that.  With --writers any every writer may put any key
 * (locks contend); each writer remembers the version of its last put per
 * key, and the final pass requires that the final value of a key be the
 * last put of the writer it names (same version and sequence number), and
 * that every other writer's last put on the key be older.  Both checks are
 * exact: no false alarm is possible and no lost or torn update passes.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apps_common.h"
#include "kv_slot.h"

#define PROG "sonuma-kv"
#define KV_MAGIC 0x314c4254564b4e53ull /* "SNKVTBL1" */
#define KV_REPORT_MAGIC 0x3154504552564b53ull
#define KV_MAX_THREADS 16
#define KV_SHOW 5 /* problems shown in full per thread */

struct opts {
	uint64_t keys;
	uint32_t vlen;
	uint64_t slots; /* per node; 0: twice the keys of the fullest node */
	unsigned get_pct;
	bool zipf;
	double theta;
	double seconds; /* 0 with ops given: no time bound */
	bool time_given;
	uint64_t ops; /* per thread; 0: no count bound */
	unsigned threads;
	bool seqlock; /* get check: re-read the version word */
	bool any_writer;
	bool final_check;
	struct app_opts app; /* procs, seed, barrier_timeout, fmt, out, csv, label */
};

/* Counters, reported under these names. */
enum {
	C_OPS,
	C_GETS,
	C_PUTS,
	C_GET_MISS,
	C_PROBES,
	C_RETRY_LOCKED,
	C_RETRY_TORN,
	C_RETRY_CHANGED,
	C_LOCK_BUSY,
	C_ERRORS,
	C_CORRUPT,
	C_STALE,
	C_LOADED,
	C_FINAL_CHECKED,
	C_FINAL_BAD,
	C_N
};
static const char *const cnt_name[C_N] = {
	"ops",		"gets",		  "puts",	  "get_missing",
	"extra_probes", "retries_locked", "retries_torn", "retries_changed",
	"lock_busy",	"errors",	  "corrupt",	  "stale",
	"loaded",	"final_checked",  "final_bad",
};

/* What each process leaves in its context for process 0. */
struct kv_report {
	uint64_t magic;
	uint32_t nid, threads;
	double elapsed_s;  /* of the measured run: the slowest thread */
	uint64_t cnt[C_N]; /* ops .. lock_busy: the measured run; errors, corrupt,
				 * stale: every phase; loaded, final_*: theirs */
	struct exp_hist get, put;
};

/* The descriptor at the start of each context. */
struct kv_desc {
	uint64_t magic;
	uint64_t keys;
	uint64_t slots;
	uint64_t table_off;
	uint32_t vlen, nodes;
	uint64_t rsvd[3];
};
_Static_assert(sizeof(struct kv_desc) <= 64, "descriptor fits its line");

/* What every process of a run must agree on (at offset 64 of each context;
 * each compares its own with node 0's after the first barrier). */
struct kv_run {
	uint64_t magic;
	struct kv_desc table; /* magic aside */
	uint32_t procs, threads;
	uint32_t any_writer, rsvd;
};
#define KV_RUN_OFF 64u
_Static_assert(KV_RUN_OFF + sizeof(struct kv_run) <= 4096, "run line fits the control page");

struct zipf {
	uint64_t n;
	double theta, alpha, zetan, eta, half_pow;
	uint64_t mult; /* scrambles ranks into keys: a bijection of [0, n) */
};

struct kv {
	struct opts o;
	struct app a;
	unsigned nodes, procs, writers, pid;
	uint64_t slot_size, slots, table_off, report_off;
	double ns_per_tick;
	int32_t *loc;	    /* slot index of each key, -1: not yet found */
	uint64_t *ver_hint; /* last version seen of each key (a hint) */
	struct zipf z;
	struct app_qp ctl; /* the main thread's: barriers, probe, gathering */
};

struct worker {
	struct kv *kv;
	unsigned idx;
	uint32_t wid;
	struct app_qp q;
	struct exp_rng rng;
	uint64_t seq;
	uint64_t *my_seq, *my_stamp; /* of this writer's last put of each key */
	uint64_t *seen;		     /* newest version seen or written per key */
	uint64_t cnt[C_N];
	struct exp_hist hget, hput;
	uint64_t t_start, t_end;
	unsigned shown;
	int err; /* a fatal error happened (said on stderr) */
	int phase;
};

/* Offsets in the worker's local buffer. */
#define LB_READ(kv) 0
#define LB_VER(kv) ((kv)->slot_size)
#define LB_WRITE(kv) ((kv)->slot_size + 64)
#define LB_ATOM(kv) (2 * (kv)->slot_size + 64)
#define LB_SIZE(kv) (2 * (kv)->slot_size + 128)

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sonuma-run -n NODE -- sonuma-kv [options]   (one process per node)\n"
		"A key-value store partitioned over every node's context, driven by a\n"
		"get/put load; reports throughput and latency and checks every value.\n"
		"  -k, --keys N            keys in the store (default 20000)\n"
		"  -v, --value-size B      value bytes, a multiple of 8 (default 64)\n"
		"      --slots N           table slots per node (default: twice the keys of\n"
		"                          the fullest node)\n"
		"  -g, --get-pct P         share of gets in percent (default 95)\n"
		"  -d, --dist uniform|zipf key popularity (default zipf)\n"
		"  -z, --zipf-theta T      Zipf skew, 0 < T < 1 (default 0.99)\n"
		"  -t, --time SECS         length of the measured run (default 2)\n"
		"  -n, --ops N             operations per thread instead (with --time too,\n"
		"                          whichever comes first)\n"
		"  -T, --threads N         threads per process, each with its own queue\n"
		"                          pair (default 1, at most %d)\n"
		"  -P, --procs N           processes taking part, one per node 0..N-1\n"
		"                          (default: one per node of the cluster)\n"
		"      --get-check seqlock|checksum\n"
		"                          seqlock: a get re-reads the version word (two\n"
		"                          remote reads); checksum: stamp and checksum only\n"
		"                          (one remote read) (default seqlock)\n"
		"      --writers owner|any owner: each key has one writer (key %% writers),\n"
		"                          any: every writer puts any key (default owner)\n"
		"  -S, --seed N            seed of the key streams (default 1)\n"
		"      --no-final-check    skip reading every key back at the end\n"
		"      --barrier-timeout S give up waiting for the other processes after S\n"
		"                          seconds (default 120)\n"
		"  -f, --format table|csv|json  output format (default table)\n"
		"  -o, --output FILE       write there instead of standard output\n"
		"      --csv FILE          also write the CSV form there\n"
		"  -l, --label NAME        a name recorded in the output (e.g. the config)\n"
		"  -h, --help              this text\n"
		"Process 0 prints the cluster's figures (gathered from every node's\n"
		"context); the others print their own.  Exit status: 0 when every\n"
		"check passed, 1 on an error or a failed check, 2 on bad usage.\n",
		KV_MAX_THREADS);
}

/* ---- keys ------------------------------------------------------------------ */

static inline uint64_t key_hash(uint64_t key)
{
	return core_mix64(key ^ 0x6b65792d68617368ull);
}

static inline unsigned key_node(const struct kv *kv, uint64_t key)
{
	return (unsigned)(key_hash(key) % kv->nodes);
}

static inline uint64_t key_home(const struct kv *kv, uint64_t key)
{
	return key_hash(key) / kv->nodes % kv->slots;
}

static inline uint32_t key_writer(const struct kv *kv, uint64_t key)
{
	return (uint32_t)(key % kv->writers);
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* YCSB's Zipfian generator (Gray et al., SIGMOD'94), rank 0 the most
 * popular, ranks scrambled into keys by a multiplication modulo n. */
static void zipf_init(struct zipf *z, uint64_t n, double theta)
{
	double zeta2 = 1.0 + pow(0.5, theta);

	z->n = n;
	z->theta = theta;
	z->zetan = 0;
	for (uint64_t i = n; i >= 1; i--) /* small terms first */
		z->zetan += pow((double)i, -theta);
	z->alpha = 1.0 / (1.0 - theta);
	z->eta = (1.0 - pow(2.0 / (double)n, 1.0 - theta)) / (1.0 - zeta2 / z->zetan);
	z->half_pow = 1.0 + pow(0.5, theta);
	z->mult = n > 1 ? 0x9e3779b97f4a7c15ull % n : 0;
	while (n > 1 && (z->mult == 0 || gcd64(z->mult, n) != 1))
		z->mult = (z->mult + 1) % n;
}

static uint64_t zipf_next(const struct zipf *z, struct exp_rng *r)
{
	double u = exp_rng_unit(r), uz = u * z->zetan;
	uint64_t rank;

	if (uz < 1.0)
		rank = 0;
	else if (uz < z->half_pow)
		rank = 1;
	else
		rank = (uint64_t)((double)z->n * pow(z->eta * u - z->eta + 1.0, z->alpha));
	if (rank >= z->n)
		rank = z->n - 1;
	return z->n > 1 ? (uint64_t)((unsigned __int128)rank * z->mult % z->n) : 0;
}

static uint64_t next_key(struct worker *w)
{
	struct kv *kv = w->kv;
	return kv->o.zipf ? zipf_next(&kv->z, &w->rng) : exp_rng_below(&w->rng, kv->o.keys);
}

/* ---- operations ---------------------------------------------------------- */

static void problem(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (w->shown++ >= KV_SHOW) {
		if (w->shown == KV_SHOW + 1)
			fprintf(stderr, "%s: node %u thread %u: (further problems only counted)\n",
				PROG, w->kv->a.info.nid, w->idx);
		return;
	}
	fprintf(stderr, "%s: node %u thread %u: ", PROG, w->kv->a.info.nid, w->idx);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Counts (in cnt) and reports a key that holds another put than this
 * worker's last put of it. */
static void not_last_put(struct worker *w, int cnt, const char *what, uint64_t key,
			 const struct kv_hdr *h)
{
	w->cnt[cnt]++;
	problem(w,
		"%skey %llu holds the put of writer %u, seq %llu, version %llu; this writer's "
		"last put of it was seq %llu, version %llu",
		what, (unsigned long long)key, h->writer, (unsigned long long)h->seq,
		(unsigned long long)h->ver, (unsigned long long)w->my_seq[key],
		(unsigned long long)w->my_stamp[key]);
}

/* A request failed: fatal for this worker (a put may hold a lock). */
static int req_failed(struct worker *w, const char *what, uint64_t key, unsigned node, int r)
{
	w->cnt[C_ERRORS]++;
	w->err = 1;
	fprintf(stderr, "%s: node %u thread %u: %s of key %llu on node %u failed: %s\n", PROG,
		w->kv->a.info.nid, w->idx, what, (unsigned long long)key, node, app_rmc_err(r));
	return r;
}

/* Bounds the waiting for a slot that stays locked (a writer that died
 * holding it): 0 to go on, -ETIMEDOUT. */
static int spin_check(struct worker *w, uint64_t attempt, double *t0, uint64_t key)
{
	if (attempt > 2)
		sched_yield(); /* the lock holder may need this CPU */
	if (attempt % 1024 == 1023) {
		double now = app_now();
		if (!*t0)
			*t0 = now;
		else if (now - *t0 > 10.0) {
			w->cnt[C_ERRORS]++;
			w->err = 1;
			fprintf(stderr,
				"%s: node %u thread %u: the slot of key %llu stayed locked or "
				"inconsistent for 10 s (a writer died holding its lock?)\n",
				PROG, w->kv->a.info.nid, w->idx, (unsigned long long)key);
			return -ETIMEDOUT;
		}
	}
	return 0;
}

static inline uint64_t slot_off(const struct kv *kv, uint64_t idx)
{
	return kv->table_off + idx * kv->slot_size;
}

/* Checks an accepted image of key: the value, and that its version is not
 * older than what this thread saw or wrote.  Returns 0 if all is well. */
static int check_image(struct worker *w, uint64_t key, const uint8_t *img, bool final)
{
	struct kv *kv = w->kv;
	struct kv_hdr h;
	uint32_t bad;
	int ret = 0;

	memcpy(&h, img, sizeof(h));
	if ((bad = kv_value_check(img + KV_HDR, key, h.writer, h.seq, kv->o.vlen))) {
		w->cnt[C_CORRUPT]++;
		problem(w, "key %llu (version %llu, writer %u, seq %llu): value byte %u is wrong",
			(unsigned long long)key, (unsigned long long)h.ver, h.writer,
			(unsigned long long)h.seq, bad - 1);
		return 1;
	}
	if (h.ver < w->seen[key]) {
		w->cnt[final ? C_FINAL_BAD : C_STALE]++;
		problem(w, "key %llu: read version %llu after having seen or written %llu",
			(unsigned long long)key, (unsigned long long)h.ver,
			(unsigned long long)w->seen[key]);
		ret = 1;
	}
	/* A key of this thread's alone: exactly its last put. */
	if (!kv->o.any_writer && key_writer(kv, key) == w->wid && w->my_seq[key] &&
	    (h.writer != w->wid || h.seq != w->my_seq[key] || h.ver != w->my_stamp[key])) {
		not_last_put(w, final ? C_FINAL_BAD : C_STALE, "", key, &h);
		ret = 1;
	}
	if (h.ver > w->seen[key])
		w->seen[key] = h.ver;
	return ret;
}

/* Reads slot idx of node into the read area of the local buffer and judges
 * it into *look: 0, or req_failed()'s -errno (what: which read). */
static int read_slot(struct worker *w, uint64_t key, unsigned node, uint64_t idx, const char *what,
		     enum kv_look *look)
{
	struct kv *kv = w->kv;
	int r = rmc_rread_sync(w->q.wq, w->q.cq, w->q.lbuf, LB_READ(kv), (int)node, 0,
			       slot_off(kv, idx), kv->slot_size);

	if (r)
		return req_failed(w, what, key, node, r);
	*look = kv_slot_judge(w->q.lbuf + LB_READ(kv), kv->o.vlen);
	return 0;
}

/* Linear probing from a slot: the slot looked at, how many were, and
 * the attempts at the current one (locked or in change). */
struct probe {
	uint64_t idx, seen, attempt;
	double t0;
};

/* The current slot again: 0, or -ETIMEDOUT when it stays locked. */
static int probe_again(struct worker *w, struct probe *p, uint64_t key)
{
	return spin_check(w, p->attempt++, &p->t0, key);
}

/* The next slot: false once every slot of the table was looked at. */
static bool probe_next(struct worker *w, struct probe *p)
{
	w->cnt[C_PROBES]++;
	p->idx = (p->idx + 1) % w->kv->slots;
	p->attempt = 0;
	p->t0 = 0;
	return ++p->seen < w->kv->slots;
}

/* A get found key in slot idx (image at LB_READ): remembered. */
static int get_found(struct worker *w, uint64_t key, int32_t cached, uint64_t idx)
{
	struct kv *kv = w->kv;
	uint64_t v;

	if (cached < 0)
		__atomic_store_n(&kv->loc[key], (int32_t)idx, __ATOMIC_RELAXED);
	memcpy(&v, w->q.lbuf + LB_READ(kv), sizeof(v));
	__atomic_store_n(&kv->ver_hint[key], v, __ATOMIC_RELAXED);
	return 1;
}

/*
 * Reads key: 1 found (image at LB_READ), 0 not in the table, <0 a fatal
 * error.  Probes from the cached slot, or from the home slot.
 */
static int kv_get(struct worker *w, uint64_t key)
{
	struct kv *kv = w->kv;
	unsigned node = key_node(kv, key);
	int32_t cached = __atomic_load_n(&kv->loc[key], __ATOMIC_RELAXED);
	struct probe p = { .idx = cached >= 0 ? (uint64_t)cached : key_home(kv, key) };
	uint8_t *img = w->q.lbuf + LB_READ(kv);
	int r;

	if (!kv->slots)
		return 0;
	for (;;) {
		enum kv_look look;
		if ((r = read_slot(w, key, node, p.idx, "get (slot read)", &look)))
			return r;
		if (look == KV_EMPTY)
			return 0;
		if (look == KV_LOCKED) {
			w->cnt[C_RETRY_LOCKED]++;
		} else if (look == KV_TORN) {
			w->cnt[C_RETRY_TORN]++;
		} else {
			struct kv_hdr h;
			memcpy(&h, img, sizeof(h));
			if (h.key != key) { /* another key's slot: probe on */
				if (!probe_next(w, &p))
					return 0;
				continue;
			}
			if (!kv->o.seqlock)
				return get_found(w, key, cached, p.idx);
			r = rmc_rread_sync(w->q.wq, w->q.cq, w->q.lbuf, LB_VER(kv), (int)node, 0,
					   slot_off(kv, p.idx), 64);
			if (r)
				return req_failed(w, "get (version read)", key, node, r);
			uint64_t v2;
			memcpy(&v2, w->q.lbuf + LB_VER(kv), sizeof(v2));
			if (v2 == h.ver)
				return get_found(w, key, cached, p.idx);
			w->cnt[C_RETRY_CHANGED]++;
		}
		if ((r = probe_again(w, &p, key)))
			return r;
	}
}

/* Finds key's slot for a put, or claims an empty one for it (then locked
 * at version 0).  *idx, *locked; 0 or <0 a fatal error. */
static int find_for_put(struct worker *w, uint64_t key, unsigned node, uint64_t *idx_out,
			bool *locked)
{
	struct kv *kv = w->kv;
	struct probe p = { .idx = key_home(kv, key) };
	uint8_t *img = w->q.lbuf + LB_READ(kv);
	uint64_t old;
	int r;

	*locked = false;
	while (kv->slots) {
		enum kv_look look;
		if ((r = read_slot(w, key, node, p.idx, "put (probe)", &look)))
			return r;
		if (look == KV_EMPTY) {
			r = rmc_cas_sync(w->q.wq, w->q.cq, w->q.lbuf, LB_ATOM(kv), (int)node, 0,
					 slot_off(kv, p.idx), 0, 1, &old);
			if (r)
				return req_failed(w, "put (claim)", key, node, r);
			if (old == 0) {
				*idx_out = p.idx;
				*locked = true;
				return 0;
			}
			/* Claimed meanwhile, maybe for this very key. */
		} else if (look == KV_OK) {
			struct kv_hdr h;
			memcpy(&h, img, sizeof(h));
			if (h.key == key) {
				*idx_out = p.idx;
				__atomic_store_n(&kv->ver_hint[key], h.ver, __ATOMIC_RELAXED);
				return 0;
			}
			if (!probe_next(w, &p))
				break;
			continue;
		} else {
			w->cnt[look == KV_LOCKED ? C_RETRY_LOCKED : C_RETRY_TORN]++;
		}
		if ((r = probe_again(w, &p, key)))
			return r;
	}
	w->err = 1;
	fprintf(stderr,
		"%s: node %u thread %u: no free slot for key %llu on node %u (the "
		"table is full)\n",
		PROG, kv->a.info.nid, w->idx, (unsigned long long)key, node);
	return -ENOSPC;
}

/* Puts a new value of key: 0, or <0 a fatal error. */
static int kv_put(struct worker *w, uint64_t key)
{
	struct kv *kv = w->kv;
	unsigned node = key_node(kv, key);
	int32_t cached = __atomic_load_n(&kv->loc[key], __ATOMIC_RELAXED);
	uint64_t idx = 0, expected = 0, old;
	bool locked = false;
	int r;

	if (cached >= 0) {
		idx = (uint64_t)cached;
	} else {
		if ((r = find_for_put(w, key, node, &idx, &locked)))
			return r;
		__atomic_store_n(&kv->loc[key], (int32_t)idx, __ATOMIC_RELAXED);
	}
	if (!locked) {
		double t0 = 0;
		expected = __atomic_load_n(&kv->ver_hint[key], __ATOMIC_RELAXED) & ~1ull;
		if (w->seen[key] > expected)
			expected = w->seen[key];
		for (uint64_t attempt = 0;; attempt++) {
			r = rmc_cas_sync(w->q.wq, w->q.cq, w->q.lbuf, LB_ATOM(kv), (int)node, 0,
					 slot_off(kv, idx), expected, expected + 1, &old);
			if (r)
				return req_failed(w, "put (lock)", key, node, r);
			if (old == expected)
				break;
			w->cnt[C_LOCK_BUSY]++;
			if (old == 0) { /* cannot be: the slot holds the key */
				w->err = 1;
				fprintf(stderr, "%s: key %llu: its slot %llu on node %u is empty\n",
					PROG, (unsigned long long)key, (unsigned long long)idx,
					node);
				return -EIO;
			}
			/* Locked: it will be released to old + 1. */
			expected = (old & 1) ? old + 1 : old;
			if ((old & 1) && (r = spin_check(w, attempt, &t0, key)))
				return r;
		}
	}
	/* Locked at version expected + 1: the body, then the release. */
	uint64_t stamp = expected + 2, seq = ++w->seq;
	kv_slot_build(w->q.lbuf + LB_WRITE(kv), key, stamp, seq, w->wid, kv->o.vlen);
	r = rmc_rwrite_sync(w->q.wq, w->q.cq, w->q.lbuf, LB_WRITE(kv) + 8, (int)node, 0,
			    slot_off(kv, idx) + 8, kv->slot_size - 8);
	if (r)
		return req_failed(w, "put (write)", key, node, r);
	r = rmc_faa_sync(w->q.wq, w->q.cq, w->q.lbuf, LB_ATOM(kv), (int)node, 0, slot_off(kv, idx),
			 1, &old);
	if (r)
		return req_failed(w, "put (release)", key, node, r);
	if (old != expected + 1) {
		w->cnt[C_CORRUPT]++;
		w->err = 1;
		fprintf(stderr,
			"%s: node %u thread %u: key %llu: the lock word went from %llu to %llu "
			"while this thread held it\n",
			PROG, kv->a.info.nid, w->idx, (unsigned long long)key,
			(unsigned long long)(expected + 1), (unsigned long long)old);
		return -EIO;
	}
	w->my_seq[key] = seq;
	w->my_stamp[key] = stamp;
	w->seen[key] = stamp;
	__atomic_store_n(&kv->ver_hint[key], stamp, __ATOMIC_RELAXED);
	return 0;
}

/* ---- phases ----------------------------------------------------------------- */

enum { PH_LOAD, PH_RUN, PH_FINAL };

static void phase_load(struct worker *w)
{
	struct kv *kv = w->kv;

	for (uint64_t k = w->wid; k < kv->o.keys && !w->err; k += kv->writers)
		if (kv_put(w, k) == 0)
			w->cnt[C_LOADED]++;
}

static void phase_run(struct worker *w)
{
	struct kv *kv = w->kv;
	uint64_t deadline = UINT64_MAX, n = 0;
	uint64_t limit = kv->o.ops ? kv->o.ops : UINT64_MAX;

	/* Probes and retries count for the measured run only. */
	for (int c = C_PROBES; c <= C_LOCK_BUSY; c++)
		w->cnt[c] = 0;
	w->t_start = rmc_rdtsc();
	if (kv->o.seconds > 0)
		deadline = w->t_start + (uint64_t)(kv->o.seconds * kv->a.info.tsc_hz);
	for (; n < limit && !w->err; n++) {
		uint64_t key = next_key(w);
		bool get = exp_rng_below(&w->rng, 100) < kv->o.get_pct;
		uint64_t t0 = rmc_rdtsc(), t1;
		int r;

		if (get) {
			r = kv_get(w, key);
			t1 = rmc_rdtsc();
			if (r < 0)
				break;
			w->cnt[C_GETS]++;
			if (r == 0) {
				w->cnt[C_GET_MISS]++;
				problem(w, "key %llu is not in the table", (unsigned long long)key);
			} else {
				check_image(w, key, w->q.lbuf + LB_READ(kv), false);
			}
			exp_hist_add(&w->hget, (uint64_t)((double)(t1 - t0) * kv->ns_per_tick));
		} else {
			if (!kv->o.any_writer) {
				/* The nearest key of this writer's. */
				key = key - key % kv->writers + w->wid;
				if (key >= kv->o.keys)
					key -= kv->writers;
			}
			r = kv_put(w, key);
			t1 = rmc_rdtsc();
			if (r < 0)
				break;
			w->cnt[C_PUTS]++;
			exp_hist_add(&w->hput, (uint64_t)((double)(t1 - t0) * kv->ns_per_tick));
		}
		w->cnt[C_OPS]++;
		if ((n & 15) == 0 && t1 >= deadline)
			break;
	}
	w->t_end = rmc_rdtsc();
}

static void phase_final_keys(struct worker *w);

/* Reads back every key this writer is answerable for. */
static void phase_final(struct worker *w)
{
	uint64_t keep[C_LOCK_BUSY - C_PROBES + 1];

	/* Probes and retries count for the measured run only. */
	memcpy(keep, &w->cnt[C_PROBES], sizeof(keep));
	phase_final_keys(w);
	memcpy(&w->cnt[C_PROBES], keep, sizeof(keep));
}

static void phase_final_keys(struct worker *w)
{
	struct kv *kv = w->kv;
	struct kv_hdr h;

	for (uint64_t k = 0; k < kv->o.keys && !w->err; k++) {
		if (!w->my_seq[k])
			continue; /* never put by this writer */
		int r = kv_get(w, k);
		if (r < 0)
			return;
		w->cnt[C_FINAL_CHECKED]++;
		if (r == 0) {
			w->cnt[C_FINAL_BAD]++;
			problem(w, "final check: key %llu is not in the table",
				(unsigned long long)k);
			continue;
		}
		if (check_image(w, k, w->q.lbuf + LB_READ(kv), true))
			continue;
		memcpy(&h, w->q.lbuf + LB_READ(kv), sizeof(h));
		if (h.writer == w->wid ? (h.seq != w->my_seq[k] || h.ver != w->my_stamp[k]) :
					 h.ver <= w->my_stamp[k]) {
			not_last_put(w, C_FINAL_BAD, "final check: ", k, &h);
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	switch (w->phase) {
	case PH_LOAD:
		phase_load(w);
		break;
	case PH_RUN:
		phase_run(w);
		break;
	default:
		phase_final(w);
		break;
	}
	return NULL;
}

static int run_phase(struct kv *kv, struct worker *ws, int phase)
{
	pthread_t t[KV_MAX_THREADS];
	int bad = 0;

	for (unsigned i = 0; i < kv->o.threads; i++) {
		ws[i].phase = phase;
		if (pthread_create(&t[i], NULL, worker_main, &ws[i])) {
			fprintf(stderr, "%s: cannot start a thread\n", PROG);
			exit(1);
		}
	}
	for (unsigned i = 0; i < kv->o.threads; i++) {
		pthread_join(t[i], NULL);
		bad |= ws[i].err;
	}
	return bad;
}

/* lazy: wait with naps of 0.5 ms from the start, so that the processes
 * waiting while process 0 probes the latency leave the RMC and the CPUs
 * alone. */
static int barrier(struct kv *kv, const char *what, bool lazy)
{
	double timeout = kv->o.app.barrier_timeout;
	int r = lazy ? app_barrier_nap(&kv->ctl, 0, kv->procs, timeout, 0, 500000) :
		       app_barrier(&kv->ctl, 0, kv->procs, timeout);

	app_barrier_err(&kv->a, r, what, kv->procs, kv->o.app.barrier_timeout);
	return r;
}

/* ---- set-up ------------------------------------------------------------------ */

static bool all_zero(const uint8_t *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* This node's part: a table of this geometry, or an untouched context. */
static int init_context(struct kv *kv)
{
	struct kv_desc d, cur;

	memset(&d, 0, sizeof(d));
	d.magic = KV_MAGIC;
	d.keys = kv->o.keys;
	d.slots = kv->slots;
	d.table_off = kv->table_off;
	d.vlen = kv->o.vlen;
	d.nodes = kv->nodes;
	memcpy(&cur, kv->a.ctx, sizeof(cur));
	if (cur.magic == KV_MAGIC) {
		if (memcmp(&cur, &d, sizeof(d))) {
			app_err(&kv->a,
				"this node's context holds a table of another shape (%llu keys, "
				"%u-byte values, %llu slots, %u nodes) from an earlier run; restart "
				"rmcd for a fresh one",
				(unsigned long long)cur.keys, cur.vlen,
				(unsigned long long)cur.slots, cur.nodes);
			return 1;
		}
	} else if (!all_zero(kv->a.ctx, 4096) ||
		   !all_zero(kv->a.ctx + kv->table_off, kv->slots * kv->slot_size)) {
		app_err(&kv->a, "this node's context holds another program's data; restart rmcd "
				"for a fresh one");
		return 1;
	}
	memcpy(kv->a.ctx, &d, sizeof(d));
	memset(kv->a.ctx + kv->report_off, 0, sizeof(struct kv_report));
	struct kv_run run;
	memset(&run, 0, sizeof(run));
	run.magic = KV_MAGIC + 1;
	run.table = d;
	run.procs = kv->procs;
	run.threads = kv->o.threads;
	run.any_writer = kv->o.any_writer;
	memcpy(kv->a.ctx + KV_RUN_OFF, &run, sizeof(run));
	return 0;
}

/* After the first barrier: were all processes started alike? */
static int check_agreement(struct kv *kv)
{
	struct kv_run theirs, mine;
	int r;

	if (kv->pid == 0)
		return 0;
	r = rmc_rread_sync(kv->ctl.wq, kv->ctl.cq, kv->ctl.lbuf, 64, 0, 0, KV_RUN_OFF,
			   app_round_up(sizeof(theirs), 64));
	if (r) {
		app_err(&kv->a, "cannot read node 0's parameters: %s", app_rmc_err(r));
		return 1;
	}
	memcpy(&theirs, kv->ctl.lbuf + 64, sizeof(theirs));
	memcpy(&mine, kv->a.ctx + KV_RUN_OFF, sizeof(mine));
	if (memcmp(&theirs, &mine, sizeof(mine))) {
		app_err(&kv->a,
			"process 0 runs with other parameters (keys %llu, value size %u, slots %llu, "
			"procs %u, threads %u, writers %s); start every process with the same "
			"options",
			(unsigned long long)theirs.table.keys, theirs.table.vlen,
			(unsigned long long)theirs.table.slots, theirs.procs, theirs.threads,
			theirs.any_writer ? "any" : "owner");
		return 1;
	}
	return 0;
}

/* Process 0, alone: the unloaded latency of a get's slot read. */
static void probe_latency(struct kv *kv, double *p50, double *p99)
{
	enum { N = 300, WARM = 30 };
	uint64_t lat[N];
	unsigned dst = kv->nodes > 1 ? 1 : 0;

	*p50 = *p99 = NAN;
	for (unsigned i = 0; i < N + WARM; i++) {
		uint64_t t0 = rmc_rdtsc();
		if (rmc_rread_sync(kv->ctl.wq, kv->ctl.cq, kv->ctl.lbuf, 64, (int)dst, 0,
				   slot_off(kv, i % kv->slots), kv->slot_size))
			return;
		if (i >= WARM)
			lat[i - WARM] = rmc_rdtsc() - t0;
	}
	qsort(lat, N, sizeof(lat[0]), exp_cmp_u64);
	*p50 = (double)lat[N / 2] * kv->ns_per_tick;
	*p99 = (double)lat[N * 99 / 100] * kv->ns_per_tick;
}

/* Reads the report of node p into r (process 0). */
static int fetch_report(struct kv *kv, unsigned p, struct kv_report *rep)
{
	return app_fetch_report(&kv->a, &kv->ctl, 4096, p, kv->report_off, rep, sizeof(*rep),
				KV_REPORT_MAGIC, "cannot read");
}

/* ---- output ------------------------------------------------------------------- */

struct outctx {
	FILE *f, *main, *csv;
	const struct kv *kv;
	char cmdline[1024], date[32], version[64];
	double target_ns, probe_p50, probe_p99;
};

static double ops_per_s(const struct kv_report *r)
{
	return r->elapsed_s > 0 ? (double)r->cnt[C_OPS] / r->elapsed_s : NAN;
}

static const char *csv_header =
	"label,scope,model,nodes,procs,threads,keys,value_size,get_pct,dist,theta,get_check,"
	"writers,read_target_ns,read_unloaded_p50_ns,elapsed_s,ops,ops_per_s,gets,puts,"
	"get_p50_ns,get_p99_ns,get_p999_ns,get_mean_ns,put_p50_ns,put_p99_ns,put_p999_ns,"
	"put_mean_ns,retries_locked,retries_torn,retries_changed,lock_busy,extra_probes,errors,"
	"corrupt,stale,final_checked,final_bad\n";

static void csv_row(const struct outctx *c, const char *scope, const struct kv_report *r)
{
	const struct kv *kv = c->kv;
	FILE *f = c->f;

	fprintf(f, "%s,%s,%s,%u,%u,%u,%llu,%u,%u,%s,%.3f,%s,%s,",
		kv->o.app.label ? kv->o.app.label : "", scope, kv->a.info.model, kv->nodes,
		kv->procs, kv->o.threads, (unsigned long long)kv->o.keys, kv->o.vlen, kv->o.get_pct,
		kv->o.zipf ? "zipf" : "uniform", kv->o.zipf ? kv->o.theta : 0.0,
		kv->o.seqlock ? "seqlock" : "checksum", kv->o.any_writer ? "any" : "owner");
	exp_csv_num(f, c->target_ns);
	fputc(',', f);
	exp_csv_num(f, c->probe_p50);
	fprintf(f, ",%.4f,%llu,%.1f,%llu,%llu,", r->elapsed_s, (unsigned long long)r->cnt[C_OPS],
		ops_per_s(r), (unsigned long long)r->cnt[C_GETS],
		(unsigned long long)r->cnt[C_PUTS]);
	const struct exp_hist *hs[2] = { &r->get, &r->put };
	for (int i = 0; i < 2; i++) {
		exp_csv_num(f, exp_hist_pct(hs[i], 50));
		fputc(',', f);
		exp_csv_num(f, exp_hist_pct(hs[i], 99));
		fputc(',', f);
		exp_csv_num(f, exp_hist_pct(hs[i], 99.9));
		fputc(',', f);
		exp_csv_num(f, exp_hist_mean(hs[i]));
		fputc(',', f);
	}
	fprintf(f, "%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu,%llu\n",
		(unsigned long long)r->cnt[C_RETRY_LOCKED],
		(unsigned long long)r->cnt[C_RETRY_TORN],
		(unsigned long long)r->cnt[C_RETRY_CHANGED],
		(unsigned long long)r->cnt[C_LOCK_BUSY], (unsigned long long)r->cnt[C_PROBES],
		(unsigned long long)r->cnt[C_ERRORS], (unsigned long long)r->cnt[C_CORRUPT],
		(unsigned long long)r->cnt[C_STALE], (unsigned long long)r->cnt[C_FINAL_CHECKED],
		(unsigned long long)r->cnt[C_FINAL_BAD]);
}

static void json_hist(FILE *f, const struct exp_hist *h)
{
	fprintf(f, "{\"count\": %llu, \"p50_ns\": ", (unsigned long long)h->n);
	exp_json_num(f, exp_hist_pct(h, 50), 3);
	exp_json_field(f, "p99_ns", exp_hist_pct(h, 99), 3);
	exp_json_field(f, "p999_ns", exp_hist_pct(h, 99.9), 3);
	exp_json_field(f, "mean_ns", exp_hist_mean(h), 3);
	fprintf(f, ", \"max_ns\": %llu}", (unsigned long long)h->max);
}

static void json_report(FILE *f, const struct kv_report *r, const char *indent)
{
	fprintf(f, "{\"node\": %u, \"threads\": %u, \"elapsed_s\": %.4f, \"ops_per_s\": ", r->nid,
		r->threads, r->elapsed_s);
	exp_json_num(f, ops_per_s(r), 3);
	for (int i = 0; i < C_N; i++)
		fprintf(f, ", \"%s\": %llu", cnt_name[i], (unsigned long long)r->cnt[i]);
	fprintf(f, ",\n%s \"get\": ", indent);
	json_hist(f, &r->get);
	fprintf(f, ",\n%s \"put\": ", indent);
	json_hist(f, &r->put);
	fputc('}', f);
}

static void print_table_row(FILE *f, const char *scope, const struct kv_report *r)
{
	fprintf(f, "%-7s %8.3f %10.0f %9.1f %9.1f %9.1f %9.1f %9.1f %9.1f %7llu %7llu %5llu\n",
		scope, ops_per_s(r) / 1e6, (double)r->cnt[C_OPS], exp_hist_pct(&r->get, 50) / 1e3,
		exp_hist_pct(&r->get, 99) / 1e3, exp_hist_pct(&r->get, 99.9) / 1e3,
		exp_hist_pct(&r->put, 50) / 1e3, exp_hist_pct(&r->put, 99) / 1e3,
		exp_hist_pct(&r->put, 99.9) / 1e3,
		(unsigned long long)(r->cnt[C_RETRY_LOCKED] + r->cnt[C_RETRY_TORN] +
				     r->cnt[C_RETRY_CHANGED]),
		(unsigned long long)r->cnt[C_LOCK_BUSY],
		(unsigned long long)(r->cnt[C_ERRORS] + r->cnt[C_CORRUPT] + r->cnt[C_STALE] +
				     r->cnt[C_FINAL_BAD] + r->cnt[C_GET_MISS]));
}

static void output(struct outctx *c, enum exp_fmt fmt, FILE *f, const struct kv_report *reps,
		   unsigned n, const struct kv_report *all)
{
	const struct kv *kv = c->kv;
	char scope[32];

	c->f = f;
	if (fmt == EXP_FMT_CSV) {
		fprintf(f, "# %s %s, %s\n# command: %s\n# model: %s\n", PROG, c->version, c->date,
			c->cmdline, kv->a.model);
		fputs(csv_header, f);
		for (unsigned i = 0; i < n; i++) {
			snprintf(scope, sizeof(scope), "node%u", reps[i].nid);
			csv_row(c, scope, &reps[i]);
		}
		if (all)
			csv_row(c, "all", all);
		return;
	}
	if (fmt == EXP_FMT_JSON) {
		fprintf(f, "{\n  \"tool\": \"%s\",\n  \"version\": ", PROG);
		exp_json_str(f, c->version);
		fprintf(f, ",\n  \"date\": \"%s\",\n  \"command\": ", c->date);
		exp_json_str(f, c->cmdline);
		fprintf(f, ",\n  \"label\": ");
		exp_json_str(f, kv->o.app.label ? kv->o.app.label : "");
		fprintf(f,
			",\n  \"config\": {\"keys\": %llu, \"value_size\": %u, \"slot_size\": %llu, "
			"\"slots_per_node\": %llu, \"nodes\": %u, \"procs\": %u, \"threads\": %u, "
			"\"writers\": %u, \"get_pct\": %u, \"dist\": \"%s\", \"theta\": %.3f, "
			"\"seconds\": %.3f, \"ops_per_thread\": %llu, \"get_check\": \"%s\", "
			"\"writer_mode\": \"%s\", \"seed\": %llu},\n",
			(unsigned long long)kv->o.keys, kv->o.vlen,
			(unsigned long long)kv->slot_size, (unsigned long long)kv->slots, kv->nodes,
			kv->procs, kv->o.threads, kv->writers, kv->o.get_pct,
			kv->o.zipf ? "zipf" : "uniform", kv->o.zipf ? kv->o.theta : 0.0,
			kv->o.seconds, (unsigned long long)kv->o.ops,
			kv->o.seqlock ? "seqlock" : "checksum", kv->o.any_writer ? "any" : "owner",
			(unsigned long long)kv->o.app.seed);
		fprintf(f, "  \"rmcd\": {\"model\": ");
		exp_json_str(f, kv->a.info.model);
		fprintf(f, ", \"model_params\": ");
		exp_json_str(f, kv->a.model);
		fprintf(f, ", \"tsc_hz\": %.0f, \"queue_depth\": %u, \"max_transfer\": %llu},\n",
			kv->a.info.tsc_hz, kv->a.info.queue_depth,
			(unsigned long long)kv->a.info.max_transfer);
		fprintf(f, "  \"remote_read\": {\"size\": %llu, \"target_ns\": ",
			(unsigned long long)kv->slot_size);
		exp_json_num(f, c->target_ns, 3);
		exp_json_field(f, "unloaded_p50_ns", c->probe_p50, 3);
		exp_json_field(f, "unloaded_p99_ns", c->probe_p99, 3);
		fprintf(f, "},\n");
		if (all) {
			fprintf(f, "  \"cluster\": ");
			json_report(f, all, "  ");
			fprintf(f, ",\n");
		}
		fprintf(f, "  \"per_node\": [");
		for (unsigned i = 0; i < n; i++) {
			fprintf(f, "%s\n    ", i ? "," : "");
			json_report(f, &reps[i], "    ");
		}
		fprintf(f, "\n  ]\n}\n");
		return;
	}
	if (all) {
		fprintf(f,
			"# %s %s: %u node(s), %u process(es) x %u thread(s), %llu keys, %u-byte "
			"values, %u%% gets, get check %s, writers %s\n",
			PROG, c->version, kv->nodes, kv->procs, kv->o.threads,
			(unsigned long long)kv->o.keys, kv->o.vlen, kv->o.get_pct,
			kv->o.seqlock ? "seqlock" : "checksum", kv->o.any_writer ? "any" : "owner");
		if (kv->o.zipf)
			fprintf(f, "# keys: zipf, theta %.2f\n", kv->o.theta);
		else
			fprintf(f, "# keys: uniform\n");
		fprintf(f, "# model: %s\n# remote read of a slot (%llu B): target ", kv->a.model,
			(unsigned long long)kv->slot_size);
		if (isfinite(c->target_ns))
			fprintf(f, "%.0f ns", c->target_ns);
		else
			fprintf(f, "-");
		fprintf(f, ", unloaded p50 %.0f ns, p99 %.0f ns\n", c->probe_p50, c->probe_p99);
	}
	fprintf(f, "%-7s %8s %10s %9s %9s %9s %9s %9s %9s %7s %7s %5s\n", "scope", "Mops/s", "ops",
		"get p50", "get p99", "get p999", "put p50", "put p99", "put p999", "retries",
		"busy", "bad");
	fprintf(f, "%-7s %8s %10s %9s %9s %9s %9s %9s %9s %7s %7s %5s\n", "", "", "", "(us)",
		"(us)", "(us)", "(us)", "(us)", "(us)", "", "", "");
	for (unsigned i = 0; i < n; i++) {
		snprintf(scope, sizeof(scope), "node%u", reps[i].nid);
		print_table_row(f, scope, &reps[i]);
	}
	if (all) {
		print_table_row(f, "all", all);
		fprintf(f,
			"# load: %llu keys put; final check: %llu keys read back, %llu wrong; "
			"errors %llu, corrupt %llu, stale %llu, missing %llu\n",
			(unsigned long long)all->cnt[C_LOADED],
			(unsigned long long)all->cnt[C_FINAL_CHECKED],
			(unsigned long long)all->cnt[C_FINAL_BAD],
			(unsigned long long)all->cnt[C_ERRORS],
			(unsigned long long)all->cnt[C_CORRUPT],
			(unsigned long long)all->cnt[C_STALE],
			(unsigned long long)all->cnt[C_GET_MISS]);
	}
}

static bool report_bad(const struct kv_report *r)
{
	return r->cnt[C_ERRORS] || r->cnt[C_CORRUPT] || r->cnt[C_STALE] || r->cnt[C_FINAL_BAD] ||
	       r->cnt[C_GET_MISS];
}

/* ---- main ----------------------------------------------------------------- */

/* --time: also says that it was given. */
static int parse_time(const char *arg, void *options)
{
	struct opts *o = options;

	if (exp_parse_double(arg, 0.001, 86400, &o->seconds))
		return -1;
	o->time_given = true;
	return 0;
}

#define OPT(f) offsetof(struct opts, f)
static const struct exp_opt kv_opts[] = {
	EXP_OPT_INTS(EXP_OPT_U64, 'k', "keys", OPT(keys), 1, 1ull << 30, 0, "1 to 2^30"),
	EXP_OPT_INTS(EXP_OPT_U32, 'v', "value-size", OPT(vlen), 8, 65536, 8,
		     "a multiple of 8 from 8 to 65536"),
	EXP_OPT_INTS(EXP_OPT_U64, 0, "slots", OPT(slots), 1, 1ull << 31, 0, "1 to 2^31"),
	EXP_OPT_INTS(EXP_OPT_UINT, 'g', "get-pct", OPT(get_pct), 0, 100, 0, NULL),
	EXP_OPT_WORDS('d', "dist", OPT(zipf), "uniform", "zipf", "uniform or zipf"),
	EXP_OPT_DBL('z', "zipf-theta", OPT(theta), 1e-6, 0.999999, "above 0 and below 1"),
	EXP_OPT_FN('t', "time", parse_time, "seconds from 0.001 to 86400"),
	EXP_OPT_INTS(EXP_OPT_U64, 'n', "ops", OPT(ops), 1, 1ull << 40, 0, "1 to 2^40"),
	EXP_OPT_INTS(EXP_OPT_UINT, 'T', "threads", OPT(threads), 1, KV_MAX_THREADS, 0, NULL),
	EXP_OPT_WORDS(0, "get-check", OPT(seqlock), "checksum", "seqlock", "seqlock or checksum"),
	EXP_OPT_WORDS(0, "writers", OPT(any_writer), "owner", "any", "owner or any"),
	EXP_OPT_FLAG(EXP_OPT_BOOL, 0, "no-final-check", OPT(final_check), false),
};
#undef OPT

/* Frees what main_kv allocated, on every way out. */
static int kv_cleanup(struct kv *kv, struct worker *ws, unsigned threads, int rc)
{
	for (unsigned i = 0; i < threads; i++) {
		free(ws[i].my_seq);
		free(ws[i].my_stamp);
		free(ws[i].seen);
	}
	free(kv->loc);
	free(kv->ver_hint);
	return rc;
}

/* Keys per node, to size the table: kv->slots.  0, 1 or 2 as main. */
static int kv_size_table(struct kv *kv)
{
	const struct opts *o = &kv->o;
	uint64_t *per = calloc(kv->nodes, sizeof(uint64_t)), fullest = 0;

	if (!per)
		return 1;
	for (uint64_t k = 0; k < o->keys; k++)
		per[key_hash(k) % kv->nodes]++;
	for (unsigned i = 0; i < kv->nodes; i++)
		fullest = per[i] > fullest ? per[i] : fullest;
	free(per);
	kv->slots = o->slots ? o->slots : 2 * fullest + 8;
	if (kv->slots < fullest) {
		fprintf(stderr, "%s: --slots %llu: node(s) hold up to %llu keys\n", PROG,
			(unsigned long long)kv->slots, (unsigned long long)fullest);
		return 2;
	}
	return 0;
}

/* The cluster against the options, and where everything goes in the
 * context: 0, or main's exit status after saying why not. */
static int kv_plan(struct kv *kv)
{
	const struct opts *o = &kv->o;
	int r;

	struct kal_info *in = &kv->a.info;
	kv->nodes = in->nodes;
	kv->pid = in->nid;
	kv->ns_per_tick = 1e9 / in->tsc_hz;
	if ((r = app_take_part(&kv->a, o->app.procs, usage, &kv->procs)))
		return r;
	kv->writers = kv->procs * o->threads;
	if (o->keys < kv->writers) {
		fprintf(stderr, "%s: --keys %llu: at least one key per writer (%u)\n", PROG,
			(unsigned long long)o->keys, kv->writers);
		usage(stderr);
		return 2;
	}
	if (o->keys > INT32_MAX) {
		fprintf(stderr, "%s: --keys: at most %d\n", PROG, INT32_MAX);
		return 2;
	}
	kv->slot_size = kv_slot_size(o->vlen);
	if (kv->slot_size > in->max_transfer) {
		fprintf(stderr,
			"%s: a %llu-byte slot is above rmcd's maximum transfer (%llu B); "
			"use a smaller --value-size\n",
			PROG, (unsigned long long)kv->slot_size,
			(unsigned long long)in->max_transfer);
		return 2;
	}
	if ((r = kv_size_table(kv)))
		return r;
	kv->report_off = APP_CTRL_SIZE;
	kv->table_off = app_round_up(kv->report_off + sizeof(struct kv_report), PAGE_SIZE);
	if (kv->table_off + kv->slots * kv->slot_size > in->context_size) {
		fprintf(stderr,
			"%s: a table of %llu slots of %llu B per node needs %llu B of context; the "
			"context has %llu B (fewer --keys, smaller --value-size, or a larger "
			"cluster.context_pages)\n",
			PROG, (unsigned long long)kv->slots, (unsigned long long)kv->slot_size,
			(unsigned long long)(kv->table_off + kv->slots * kv->slot_size),
			(unsigned long long)in->context_size);
		return 2;
	}
	return 0;
}

/* --output and --csv, and what every output records: 0, or 1 after
 * saying why not. */
static int kv_open_out(struct kv *kv, struct outctx *oc)
{
	const struct opts *o = &kv->o;

	if (o->app.out && !(oc->main = fopen(o->app.out, "w"))) {
		fprintf(stderr, "%s: %s: %s\n", PROG, o->app.out, strerror(errno));
		return 1;
	}
	if (!oc->main)
		oc->main = stdout;
	if (o->app.csv && !(oc->csv = fopen(o->app.csv, "w"))) {
		fprintf(stderr, "%s: %s: %s\n", PROG, o->app.csv, strerror(errno));
		return 1;
	}
	kal_describe(kv->a.fd, 2, oc->version, sizeof(oc->version));
	exp_utc_date(oc->date, sizeof(oc->date));
	return 0;
}

/* The tables, the queue pairs and every worker: 0, or 1 after saying why
 * not (kv_cleanup frees what there is). */
static int kv_setup(struct kv *kv, struct worker *ws)
{
	const struct opts *o = &kv->o;

	kv->loc = malloc(o->keys * sizeof(int32_t));
	kv->ver_hint = calloc(o->keys, sizeof(uint64_t));
	if (!kv->loc || !kv->ver_hint) {
		fprintf(stderr, "%s: out of memory\n", PROG);
		return 1;
	}
	memset(kv->loc, 0xff, o->keys * sizeof(int32_t));
	if (o->zipf)
		zipf_init(&kv->z, o->keys, o->theta);
	if (app_qp_open(&kv->a, &kv->ctl, 4096 + sizeof(struct kv_report) + 4096))
		return 1;
	memset(ws, 0, KV_MAX_THREADS * sizeof(*ws));
	for (unsigned i = 0; i < o->threads; i++) {
		struct worker *w = &ws[i];
		w->kv = kv;
		w->idx = i;
		w->wid = kv->pid * o->threads + i;
		exp_rng_seed(&w->rng, o->app.seed * 1000003 + w->wid);
		w->my_seq = calloc(o->keys, sizeof(uint64_t));
		w->my_stamp = calloc(o->keys, sizeof(uint64_t));
		w->seen = calloc(o->keys, sizeof(uint64_t));
		if (!w->my_seq || !w->my_stamp || !w->seen) {
			fprintf(stderr, "%s: out of memory\n", PROG);
			return 1;
		}
		if (app_qp_open(&kv->a, &w->q, LB_SIZE(kv)))
			return 1;
	}
	if (init_context(kv))
		return 1;
	return 0;
}

/* The phases between barriers, and node 0's latency probe: whether a
 * phase failed, or -1 when a barrier did. */
static int kv_phases(struct kv *kv, struct worker *ws, struct outctx *oc)
{
	const struct opts *o = &kv->o;
	int failed = 0;

	if (barrier(kv, "start", false) || check_agreement(kv))
		return -1;
	failed |= run_phase(kv, ws, PH_LOAD);
	if (barrier(kv, "after loading", false))
		return -1;
	oc->target_ns = oc->probe_p50 = oc->probe_p99 = NAN;
	if (kv->pid == 0) {
		double t;
		if (kal_target_ns(kv->a.fd, RMC_OP_READ, (uint16_t)(kv->nodes > 1 ? 1 : 0),
				  kv->slot_size, &t) == 0)
			oc->target_ns = t;
		probe_latency(kv, &oc->probe_p50, &oc->probe_p99);
	}
	if (barrier(kv, "after the latency probe", kv->pid != 0))
		return -1;
	if (!failed)
		failed |= run_phase(kv, ws, PH_RUN);
	if (barrier(kv, "after the run", false))
		return -1;
	if (o->final_check && !failed)
		failed |= run_phase(kv, ws, PH_FINAL);
	return failed;
}

/* This process's report into *mine and its own context, for node 0:
 * 0, or -1 when the barrier after it failed. */
static int kv_publish(struct kv *kv, const struct worker *ws, struct kv_report *mine)
{
	const struct opts *o = &kv->o;
	const struct kal_info *in = &kv->a.info;

	mine->magic = KV_REPORT_MAGIC;
	mine->nid = kv->pid;
	mine->threads = o->threads;
	for (unsigned i = 0; i < o->threads; i++) {
		double el = (double)(ws[i].t_end - ws[i].t_start) / in->tsc_hz;
		if (el > mine->elapsed_s)
			mine->elapsed_s = el;
		for (int c = 0; c < C_N; c++)
			mine->cnt[c] += ws[i].cnt[c];
		exp_hist_merge(&mine->get, &ws[i].hget);
		exp_hist_merge(&mine->put, &ws[i].hput);
	}
	memcpy(kv->a.ctx + kv->report_off, mine, sizeof(*mine));
	return barrier(kv, "before the report", false) ? -1 : 0;
}

/* Node 0: every process's report into reps, their sum into *all.  0, or
 * -1 when one could not be read. */
static int kv_gather(struct kv *kv, struct kv_report *reps, struct kv_report *all)
{
	for (unsigned p = 0; p < kv->procs; p++) {
		if (fetch_report(kv, p, &reps[p]))
			return -1;
		for (int c = 0; c < C_N; c++)
			all->cnt[c] += reps[p].cnt[c];
		exp_hist_merge(&all->get, &reps[p].get);
		exp_hist_merge(&all->put, &reps[p].put);
		if (reps[p].elapsed_s > all->elapsed_s)
			all->elapsed_s = reps[p].elapsed_s;
		all->threads += reps[p].threads;
	}
	all->nid = kv->procs;
	return 0;
}

/* Whether the cluster's figures show a failure (said on stderr). */
static int kv_verdict(const struct kv *kv, const struct kv_report *all)
{
	const struct opts *o = &kv->o;
	int bad = 0;

	if (o->final_check && all->cnt[C_FINAL_CHECKED] < o->keys && !report_bad(all)) {
		fprintf(stderr, "%s: the final check read %llu keys of %llu\n", PROG,
			(unsigned long long)all->cnt[C_FINAL_CHECKED], (unsigned long long)o->keys);
		bad = 1;
	}
	if (report_bad(all)) {
		fprintf(stderr,
			"%s: FAILED: errors %llu, corrupt values %llu, stale reads %llu, "
			"missing keys %llu, wrong final values %llu\n",
			PROG, (unsigned long long)all->cnt[C_ERRORS],
			(unsigned long long)all->cnt[C_CORRUPT],
			(unsigned long long)all->cnt[C_STALE],
			(unsigned long long)all->cnt[C_GET_MISS],
			(unsigned long long)all->cnt[C_FINAL_BAD]);
		bad = 1;
	}
	return bad;
}

/* This process's report, and on node 0 the cluster's: whether they show a
 * failure, or -1 when gathering them failed. */
static int kv_report(struct kv *kv, struct worker *ws, struct outctx *oc)
{
	struct kv_report *mine = calloc(1, sizeof(*mine)), *reps = NULL, *all = NULL;
	const struct opts *o = &kv->o;
	int r = -1;

	if (!mine || kv_publish(kv, ws, mine))
		goto out;
	if (kv->pid != 0) {
		output(oc, o->app.fmt, oc->main, mine, 1, NULL);
		if (oc->csv)
			output(oc, EXP_FMT_CSV, oc->csv, mine, 1, NULL);
		r = report_bad(mine);
		goto out;
	}
	reps = calloc(kv->procs, sizeof(*reps));
	all = calloc(1, sizeof(*all));
	if (!reps || !all || kv_gather(kv, reps, all))
		goto out;
	output(oc, o->app.fmt, oc->main, reps, kv->procs, all);
	if (oc->csv)
		output(oc, EXP_FMT_CSV, oc->csv, reps, kv->procs, all);
	r = kv_verdict(kv, all);
out:
	free(mine);
	free(reps);
	free(all);
	return r;
}

int main(int argc, char **argv)
{
	static struct kv kv;
	struct opts *o = &kv.o;
	struct worker ws[KV_MAX_THREADS] = { 0 };
	struct outctx oc;
	int r, failed;

	*o = (struct opts){ .keys = 20000,
			    .vlen = 64,
			    .get_pct = 95,
			    .zipf = true,
			    .theta = 0.99,
			    .seconds = 2,
			    .threads = 1,
			    .seqlock = true,
			    .final_check = true,
			    .app = { .seed = 1, .barrier_timeout = 120 } };
	if ((r = app_parse(argc, argv, PROG, usage, kv_opts, CORE_ARRAY_SIZE(kv_opts), o, &o->app)))
		return r;
	if (o->ops && !o->time_given)
		o->seconds = 0;
	memset(&oc, 0, sizeof(oc));
	oc.kv = &kv;
	exp_cmdline(oc.cmdline, sizeof(oc.cmdline), argc, argv);

	if (app_attach(&kv.a, PROG))
		return 1;
	if ((r = kv_plan(&kv)) || (r = kv_open_out(&kv, &oc)))
		return r;
	if (kv_setup(&kv, ws) || (failed = kv_phases(&kv, ws, &oc)) < 0)
		return kv_cleanup(&kv, ws, o->threads, 1);
	if ((r = kv_report(&kv, ws, &oc)) < 0)
		return kv_cleanup(&kv, ws, o->threads, 1);
	failed |= r;
	if (oc.main != stdout && fclose(oc.main)) {
		fprintf(stderr, "%s: %s: %s\n", PROG, o->app.out, strerror(errno));
		failed = 1;
	}
	if (oc.csv && fclose(oc.csv)) {
		fprintf(stderr, "%s: %s: %s\n", PROG, o->app.csv, strerror(errno));
		failed = 1;
	}
	kv_cleanup(&kv, ws, o->threads, 0);
	kal_close(kv.a.fd);
	return failed ? 1 : 0;
}
