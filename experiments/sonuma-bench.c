/* SPDX-License-Identifier: MIT */
/*
 * sonuma-bench: latency and bandwidth of remote reads and writes over the
 * soNUMA API, in the spirit of perftest's ib_read_lat/ib_read_bw and UCX's
 * ucx_perftest.  Per size it reports t_min, p50, average, p99, p99.9 and
 * t_max, the model's target and the error of the median against it, late
 * completions (from rmcd's counters), MB/s and million operations per
 * second, as an aligned table, CSV or JSON.  Every output records every
 * input, so a result file alone says how it was obtained.
 *
 * --bw measures throughput only, as ib_read_bw does: no time stamp per
 * operation (each TSC read costs tens of ns here, as much as a pipelined
 * operation), so the rate is not limited by the benchmark's own clock
 * reads; the latency figures are then not measured.
 *
 * --same-buffer gives every operation of a size the same local and remote
 * bytes, as ucx_perftest does (one message per side): without it each size
 * cycles over a window of at least 64 KiB, which at large sizes and many
 * outstanding requests no longer fits in the cache, so a comparison with
 * ucx_perftest would measure the cache more than the emulator.
 *
 * Set against the minimal polling agent (the baseline sonuma-calibrate
 * measures and records in the calibration rmcd uses): with --bw, the rate
 * of 64-byte asynchronous reads as a ratio to the agent's; in sync mode,
 * each size's p50 as a ratio to the agent's in-place floor for that size
 * (data in cache).  Comment lines after the results in the table and CSV
 * ("# rate vs agent: 0.45x ..."), vs_agent and agent_* fields in JSON.
 *
 * --msg-pingpong measures messages (sonuma_msg.h) instead: this node and
 * the target node (a partner process forked here, an application of that
 * node) bounce a message of each size; per size it reports the round trip
 * and the one-way latency (from the send call to the return of the receive,
 * both directions, on the host's one TSC) and messages per second.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "calib.h"
#include "core.h"
#include "explib.h"
#include "sonuma.h"
#include "sonuma_msg.h"

#define MAX_SIZES 32
#define MAX_THREADS 16

struct opts {
	char op; /* 'r' or 'w' */
	int async;
	unsigned outstanding;
	unsigned threads;
	int target; /* -1: the next node */
	uint64_t sizes[MAX_SIZES];
	unsigned n_sizes;
	uint64_t iters, warmup;
	enum exp_fmt fmt;
	const char *out;
	const char *samples; /* file for every measured latency */
	int verify;
	int bw;			   /* throughput only: no per-operation time stamps */
	int same_buffer;	   /* every operation at offset 0: span = size */
	uint64_t gap_ns;	   /* sync: pause before each operation */
	int gap_sleep;		   /* ... sleeping through it, not spinning */
	uint64_t span;		   /* --span: bytes cycled over, in a scattered order */
	uint64_t agent_latency_ns; /* --agent, async, timed: each read's latency */
	int agent_library;	   /* --agent-library: through sonuma's library */
};

struct result {
	uint64_t size, iters;
	double min, p50, avg, p99, p999, max; /* ns; NAN with --bw */
	double target, err_pct;
	double model; /* mean latency the model gave these requests (queueing
		       * included), from rmcd; NAN without a deadline model */
	/* Each request against its own model latency (its due time from its
	 * post, plus the library's overhead rmcd took out of it): p50 and p99
	 * of measured / model - 1, in %; NAN where not known (sync, --bw, no
	 * deadlines). */
	double req_err_p50, req_err_p99;
	uint64_t late, counted;
	/* Synchronous requests with a due time this program saw, and those it
	 * saw later than rmcd's slack after it (rmc_cq_t.seen_late). */
	uint64_t seen, seen_late;
	double mbps, mops;
	unsigned errors;
	/* Against the minimal agent: its figure (ns in sync mode, Mops for
	 * --bw async) and ours over it; NAN where not compared. */
	double agent_ns, agent_mops, vs_agent;
};

/* The minimal agent's figures, from the calibration rmcd uses. */
struct agent_ref {
	struct cal_data *c; /* NULL: no figures, for the reason in why */
	char path[160];
	char why[600];
};

struct thr {
	const struct opts *o;
	struct kal_info *info;
	int fd, snid, idx;
	rmc_wq_t *wq;
	rmc_cq_t *cq;
	uint8_t *lbuff;
	uint64_t lbuff_size;   /* registered: room for the largest size */
	uint64_t span;	       /* used for the current size: its window of slots */
	uint64_t *lat;	       /* per measured op, TSC ticks */
	uint64_t *mlat;	       /* the model's latency of each, ticks (0: unknown) */
	uint64_t overhead_tsc; /* rmcd's estimate of the library's own cost */
	uint64_t t_start, t_end;
	uint32_t seen0, seen_late0, seen1, seen_late1; /* rmc_cq_t's, around the run */
	unsigned errors;
	int err; /* -errno from a call */
	/* async bookkeeping */
	uint64_t done, recorded;
	uint64_t measure_from; /* ops before this index are warm-up */
	uint64_t slot_op[MAX_NUM_WQ];
	uint64_t slot_t0[MAX_NUM_WQ]; /* TSC at the post, where the entry has none */
	pthread_barrier_t *bar;
	uint64_t size;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sonuma-bench [options]\n"
		"Measures remote reads or writes from this node (run it with sonuma-run -n NODE).\n"
		"  -o, --op read|write       operation (default read)\n"
		"  -m, --mode sync|async     one at a time, or pipelined (default sync)\n"
		"  -d, --outstanding N       requests in flight per thread in async mode\n"
		"                            (default: the queue depth)\n"
		"  -T, --threads N           threads, each with its own queue pair (default 1)\n"
		"  -t, --target NODE         target node (default: the next node)\n"
		"  -s, --size LIST           sizes in bytes, e.g. 64 or 64,4096 (default 64)\n"
		"  -a, --all                 sweep powers of two from 64 B to --max-size\n"
		"  -M, --max-size BYTES      largest size of the sweep (default 65536)\n"
		"  -n, --iters N             measured operations per size and thread (default 10000)\n"
		"  -w, --warmup N            unmeasured operations first (default 1000)\n"
		"  -f, --format table|csv|json  output format (default table)\n"
		"      --output FILE         write there instead of standard output\n"
		"      --no-verify           skip the data check after each size\n"
		"      --samples FILE        also write every measured latency there (CSV:\n"
		"                            size,thread,index,latency_ns, in posting order)\n"
		"      --bw                  throughput only, as ib_read_bw: no per-operation\n"
		"                            timestamps (latency columns empty)\n"
		"      --gap NS              sync: pause NS ns before each operation (spinning),\n"
		"                            to see the tail at low load (with --agent too)\n"
		"      --gap-sleep           sleep through the --gap instead of spinning\n"
		"      --span BYTES          cycle over BYTES of the target and the local buffer\n"
		"                            in an order no prefetcher follows (a new page each\n"
		"                            time): reads from beyond the caches when BYTES is\n"
		"                            larger than them (the context must hold it)\n"
		"      --agent CPU           measure instead the minimal polling agent (no rmcd):\n"
		"                            it runs on CPU, this program posts; async: the rate,\n"
		"                            sync: the latency of in-place requests, from\n"
		"                            memory beyond the caches (--same-buffer: in cache)\n"
		"      --agent-latency NS    with --agent: the least a timed emulator could do;\n"
		"                            the agent gives each read a due time NS after its\n"
		"                            post at once, this program takes it no earlier and\n"
		"                            stamps it as against rmcd (p50, p99 and rq50/rq99\n"
		"                            against NS; --bw: the rate; sync: with --gap too)\n"
		"      --agent-library       with --agent: this program posts and takes through\n"
		"                            sonuma's library, the same calls and handler as\n"
		"                            against rmcd (reads): what the emulator would\n"
		"                            measure with an RMC that costs nothing\n"
		"      --same-buffer         every operation of a size moves the same bytes, as\n"
		"                            ucx_perftest (one message per side, in cache)\n"
		"      --pingpong CPU        measure instead the round trip of a cache line\n"
		"                            between this CPU and CPU (no rmcd needed)\n"
		"      --msg-pingpong        measure instead messages (rmc_send/rmc_recv) of\n"
		"                            each --size bouncing between this node and the\n"
		"                            target: round trip, one-way latency, messages/s;\n"
		"                            --mode async sends without waiting for completion\n"
		"      --msg-slots N         message slots per sender (default 16)\n"
		"      --msg-ctx ID          context holding the message areas (default 0)\n"
		"      --msg-offset BYTES    where the areas start in it (default 0)\n"
		"      --msg-spin US         spin this long before yielding the CPU while\n"
		"                            waiting (default 50)\n"
		"      --msg-native          deliver messages as soon as their bytes are there,\n"
		"                            not at the model's time for the write\n"
		"  -h, --help                this text\n"
		"After the results, the emulator against the minimal polling agent that\n"
		"sonuma-calibrate measured (in the calibration rmcd uses): with --bw and\n"
		"--mode async, the 64 B rate as a ratio to the agent's (\"# rate vs agent:\n"
		"0.45x ...\"); in sync mode, each size's p50 as a ratio to the agent's\n"
		"in-place floor, data in cache (\"# p50 vs agent: ...\"); in JSON, agent_ns,\n"
		"agent_mops and vs_agent in each result.\n");
}

/* Byte j of block i as this benchmark writes it, per size run. */
static inline uint8_t pattern(uint64_t size, unsigned thr, uint64_t off)
{
	return (uint8_t)(size * 7 + thr * 31 + off * 13 + (off >> 8));
}

static void on_cq(uint8_t tid, wq_entry_t *head, void *owner)
{
	struct thr *t = owner;
	uint64_t i = t->slot_op[tid];

	if (head->status != RMC_OK) {
		if (!t->errors)
			fprintf(stderr, "sonuma-bench: thread %d: operation %llu failed: %s\n",
				t->idx, (unsigned long long)i, rmc_status_str(head->status));
		t->errors++;
	}
	if (i >= t->measure_from) {
		uint64_t t0 = head->t_post ? head->t_post : t->slot_t0[tid];
		t->lat[t->recorded] = rmc_rdtsc() - t0;
		t->mlat[t->recorded++] = head->due && head->t_post && head->due > t0 ?
						 head->due - t0 + t->overhead_tsc :
						 0;
	}
	t->done++;
}

/* --gap: the pause before a synchronous operation, slept or spun. */
static void gap_of(const struct opts *o, double tsc_hz)
{
	if (o->gap_sleep) {
		struct timespec ts = { (time_t)(o->gap_ns / 1000000000u),
				       (long)(o->gap_ns % 1000000000u) };
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		return;
	}
	uint64_t end = rmc_rdtsc() + (uint64_t)((double)o->gap_ns * tsc_hz / 1e9);
	while ((int64_t)(rmc_rdtsc() - end) < 0)
		sonuma_cpu_relax();
}

static void gap(const struct thr *t)
{
	gap_of(t->o, t->info->tsc_hz);
}

/* The same before each of the minimal agent's synchronous reads. */
struct gap_arg {
	const struct opts *o;
	double hz;
};

static void agent_gap(void *arg)
{
	const struct gap_arg *g = arg;

	gap_of(g->o, g->hz);
}

/* Offset of the i-th operation: the slots in turn, or with --span in an
 * order no prefetcher follows (slots is then a power of two, and an odd
 * multiplier is a bijection on it), a new page each time. */
static inline uint64_t slot_off(const struct thr *t, uint64_t i, uint64_t slots)
{
	if (t->o->span && !t->o->same_buffer)
		return ((i * 0x9e3779b97f4a7c15ull) & (slots - 1)) * t->size;
	return (i % slots) * t->size;
}

static int run_sync(struct thr *t, uint64_t n, int measure)
{
	const struct opts *o = t->o;
	uint64_t slots = t->span / t->size;
	/* --bw: no clock reads at all, in the warm-up too, so that it runs
	 * as the measured part does. */
	int stamp = !o->bw;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t off = slot_off(t, i, slots);
		if (o->gap_ns)
			gap(t);
		uint64_t t0 = stamp ? rmc_rdtsc() : 0;
		int r = o->op == 'r' ?
				rmc_rread_sync(t->wq, t->cq, t->lbuff, off, t->snid, 0,
					       (uint64_t)t->idx * t->lbuff_size + off, t->size) :
				rmc_rwrite_sync(t->wq, t->cq, t->lbuff, off, t->snid, 0,
						(uint64_t)t->idx * t->lbuff_size + off, t->size);
		uint64_t t1 = stamp ? rmc_rdtsc() : 0;
		if (r == -ENOTCONN)
			return r;
		if (r)
			t->errors++;
		if (measure && stamp)
			t->lat[i] = t1 - t0;
		/* The model latency of each is not known here: the entry
		 * of a synchronous request is reused at once. */
		if (measure && t->mlat)
			t->mlat[i] = 0;
	}
	return 0;
}

static int run_async(struct thr *t, uint64_t n, int measure)
{
	const struct opts *o = t->o;
	uint64_t slots = t->span / t->size;
	unsigned window = o->outstanding;
	/* --bw reads no clock per post, and counts every operation as
	 * warm-up for on_cq, which then reads none per completion either. */
	int stamp = !o->bw && (t->wq->flags & RMC_WQ_NO_TSTAMP);

	t->done = 0;
	t->recorded = 0;
	t->measure_from = measure && !o->bw ? 0 : n;
	for (uint64_t i = 0; i < n; i++) {
		/* Keep at most window requests in flight. */
		/* Post until the window is full, then take completions: polling
		 * the CQ once per post would pull its cache line across for
		 * every request. */
		while (i - t->done >= window || SONUMA_READ_ONCE(t->wq->q[t->wq->head].valid))
			if (rmc_wait_cq(t->wq, t->cq, on_cq, t) < 0)
				return -ENOTCONN;
		uint64_t off = slot_off(t, i, slots);
		/* Where rmcd's model needs no post times (RMC_WQ_NO_TSTAMP)
		 * the entry carries none: take our own. */
		uint64_t t0 = stamp ? rmc_rdtsc() : 0;
		int tid = o->op == 'r' ?
				  rmc_rread_async(t->wq, t->lbuff, off, t->snid, 0,
						  (uint64_t)t->idx * t->lbuff_size + off, t->size) :
				  rmc_rwrite_async(t->wq, t->lbuff, off, t->snid, 0,
						   (uint64_t)t->idx * t->lbuff_size + off, t->size);
		if (tid < 0)
			return tid;
		t->slot_op[tid] = i;
		t->slot_t0[tid] = t0;
	}
	while (t->done < n)
		if (rmc_wait_cq(t->wq, t->cq, on_cq, t) < 0)
			return -ENOTCONN;
	return 0;
}

static void *thread_main(void *arg)
{
	struct thr *t = arg;
	const struct opts *o = t->o;
	int r;

	/* Writes carry a known pattern; reads fetch what the previous write
	 * phase (or the preparation) put there. */
	for (uint64_t j = 0; j < t->span; j++)
		t->lbuff[j] = o->op == 'w' ? pattern(t->size, (unsigned)t->idx, j) : 0;
	r = o->async ? run_async(t, o->warmup, 0) : run_sync(t, o->warmup, 0);
	/* Warm-up done everywhere; the main thread reads rmcd's counters
	 * between the two barriers, so they cover the measured part only. */
	pthread_barrier_wait(t->bar);
	pthread_barrier_wait(t->bar);
	t->seen0 = t->cq->seen;
	t->seen_late0 = t->cq->seen_late;
	t->t_start = rmc_rdtsc();
	if (!r)
		r = o->async ? run_async(t, o->iters, 1) : run_sync(t, o->iters, 1);
	t->t_end = rmc_rdtsc();
	t->seen1 = t->cq->seen;
	t->seen_late1 = t->cq->seen_late;
	t->err = r;
	return NULL;
}

/* Moves the thread's whole region between its local buffer and the
 * target, in pieces of at most the maximum transfer. */
static int region_xfer(struct thr *t, char op)
{
	uint64_t chunk = t->info->max_transfer;
	int r = 0;

	for (uint64_t off = 0; off < t->span && !r; off += chunk) {
		uint64_t len = t->span - off < chunk ? t->span - off : chunk;
		uint64_t remote = (uint64_t)t->idx * t->lbuff_size + off;
		r = op == 'r' ?
			    rmc_rread_sync(t->wq, t->cq, t->lbuff, off, t->snid, 0, remote, len) :
			    rmc_rwrite_sync(t->wq, t->cq, t->lbuff, off, t->snid, 0, remote, len);
	}
	return r;
}

/* Before a size: for reads, puts a known pattern in the target's region.
 * After it: checks the bytes the operations moved (reads: what arrived in
 * the local buffer; writes: what the target holds, read back). */
static int prepare_or_verify(struct thr *t, int verify, unsigned *bad)
{
	const struct opts *o = t->o;
	uint64_t slots = t->span / t->size, n = o->warmup > o->iters ? o->warmup : o->iters;
	uint64_t span = (n < slots ? n : slots) * t->size;
	int r;

	if (!verify) {
		if (o->op != 'r')
			return 0;
		for (uint64_t j = 0; j < t->span; j++)
			t->lbuff[j] = pattern(t->size, (unsigned)t->idx, j);
		return region_xfer(t, 'w');
	}
	if (o->op == 'w') {
		memset(t->lbuff, 0, t->span);
		if ((r = region_xfer(t, 'r')))
			return r;
	}
	/* The slots the operations used (all of them when they went round). */
	for (uint64_t k = 0; k < span / t->size; k++) {
		uint64_t off = slot_off(t, k, slots);
		for (uint64_t j = off; j < off + t->size; j++)
			if (t->lbuff[j] != pattern(t->size, (unsigned)t->idx, j)) {
				fprintf(stderr,
					"sonuma-bench: thread %d, size %llu: data wrong at byte %llu "
					"of the region (0x%02x, expected 0x%02x)\n",
					t->idx, (unsigned long long)t->size, (unsigned long long)j,
					t->lbuff[j], pattern(t->size, (unsigned)t->idx, j));
				(*bad)++;
				return 0;
			}
	}
	return 0;
}

/* The latency figures of n samples in TSC ticks (sorted in place) into res. */
static void summarize_lat(uint64_t *v, uint64_t n, double hz, struct result *res)
{
	double st[EXP_NSUM];

	exp_summary(v, n, 1e9 / hz, st);
	res->min = st[EXP_MIN];
	res->p50 = st[EXP_P50];
	res->avg = st[EXP_AVG];
	res->p99 = st[EXP_P99];
	res->p999 = st[EXP_P999];
	res->max = st[EXP_MAX];
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Each request's latency against the model's own for it (queueing
 * included): p50 and p99 of measured / model - 1, in %, over the requests
 * whose model latency is known; NAN when none is. */
static void req_errors(const struct opts *o, const struct thr *th, struct result *res)
{
	uint64_t n = 0;
	double *e;

	res->req_err_p50 = res->req_err_p99 = NAN;
	if (o->bw || !(e = malloc(o->threads * o->iters * sizeof(*e))))
		return;
	for (unsigned i = 0; i < o->threads; i++)
		for (uint64_t j = 0; j < o->iters; j++)
			if (th[i].mlat[j])
				e[n++] = ((double)th[i].lat[j] / (double)th[i].mlat[j] - 1.0) *
					 100.0;
	if (n) {
		qsort(e, n, sizeof(*e), cmp_double);
		res->req_err_p50 = e[(n - 1) / 2];
		res->req_err_p99 = e[(uint64_t)((double)(n - 1) * 0.99)];
	}
	free(e);
}

static int run_size(struct opts *o, struct thr *th, struct kal_info *info, uint64_t size,
		    struct result *res, int fd, FILE *samples)
{
	pthread_t tid[MAX_THREADS];
	pthread_barrier_t bar;
	struct kal_stats s0, s1;
	uint64_t total = o->iters * o->threads, *all = NULL;
	unsigned bad = 0;
	int r;

	memset(res, 0, sizeof(*res));
	res->size = size;
	res->iters = total;
	pthread_barrier_init(&bar, NULL, o->threads + 1);
	for (unsigned i = 0; i < o->threads; i++) {
		/* The slots one size cycles through: its window (at least
		 * 64 KiB), so that a size's result does not depend on the
		 * largest size of the list. */
		uint64_t want = size * (o->async ? o->outstanding : 1);
		if (want < 65536)
			want = 65536;
		if (o->span)
			want = o->span;
		if (want > th[i].lbuff_size)
			want = th[i].lbuff_size;
		th[i].span = want / size * size;
		/* --span: a power of two of slots, for slot_off()'s order. */
		if (o->span && !o->same_buffer) {
			uint64_t slots = th[i].span / size, p2 = 1;
			while (p2 * 2 <= slots)
				p2 *= 2;
			th[i].span = p2 * size;
		}
		/* --same-buffer: one slot, offset 0 for every operation (the
		 * outstanding ones overlap, as ucx_perftest's do); reads all
		 * bring the same bytes and writes all put the same pattern, so
		 * prepare_or_verify() checks that one slot. */
		if (o->same_buffer)
			th[i].span = size;
		th[i].size = size;
		th[i].bar = &bar;
		if ((r = prepare_or_verify(&th[i], 0, &bad)))
			return r;
	}
	for (unsigned i = 0; i < o->threads; i++)
		pthread_create(&tid[i], NULL, thread_main, &th[i]);
	pthread_barrier_wait(&bar);
	r = kal_stats(fd, size, &s0);
	pthread_barrier_wait(&bar);
	for (unsigned i = 0; i < o->threads; i++)
		pthread_join(tid[i], NULL);
	if (r)
		return r;
	pthread_barrier_destroy(&bar);
	for (unsigned i = 0; i < o->threads; i++)
		if (th[i].err)
			return th[i].err;
	if ((r = kal_stats(fd, size, &s1)))
		return r;
	if (o->verify)
		for (unsigned i = 0; i < o->threads; i++)
			if ((r = prepare_or_verify(&th[i], 1, &bad)))
				return r;

	if (samples) {
		double k = 1e9 / info->tsc_hz;
		for (unsigned i = 0; i < o->threads; i++)
			for (uint64_t j = 0; j < o->iters; j++)
				fprintf(samples, "%llu,%u,%llu,%.1f\n", (unsigned long long)size, i,
					(unsigned long long)j, (double)th[i].lat[j] * k);
	}
	if (!o->bw && !(all = malloc(total * sizeof(uint64_t))))
		return -ENOMEM;
	uint64_t t0 = UINT64_MAX, t1 = 0;
	for (unsigned i = 0; i < o->threads; i++) {
		if (all)
			memcpy(all + i * o->iters, th[i].lat, o->iters * sizeof(uint64_t));
		if (th[i].t_start < t0)
			t0 = th[i].t_start;
		if (th[i].t_end > t1)
			t1 = th[i].t_end;
		res->errors += th[i].errors;
		res->seen += (uint32_t)(th[i].seen1 - th[i].seen0);
		res->seen_late += (uint32_t)(th[i].seen_late1 - th[i].seen_late0);
	}
	if (all) {
		summarize_lat(all, total, info->tsc_hz, res);
		free(all);
	} else {
		/* --bw: not measured, and printed as such (empty, null, "-"). */
		res->min = res->p50 = res->avg = res->p99 = res->p999 = res->max = NAN;
	}
	req_errors(o, th, res);
	kal_target_ns(fd, (uint8_t)o->op, (uint16_t)th[0].snid, size, &res->target);
	res->model = NAN;
	if (s1.model_count > s0.model_count)
		res->model = (s1.model_sum_ns - s0.model_sum_ns) /
			     (double)(s1.model_count - s0.model_count);
	/* The error is against what the model asked for in this run: the
	 * unloaded target plus whatever queueing the model added (the link
	 * model queues pipelined requests on its links). */
	double ref = isfinite(res->model) ? res->model : res->target;
	res->err_pct = ref > 0 && isfinite(res->p50) ? (res->p50 - ref) / ref * 100.0 : NAN;
	res->counted = s1.requests - s0.requests;
	res->late = s1.late - s0.late;
	double secs = (double)(t1 - t0) / info->tsc_hz;
	res->mbps = (double)total * (double)size / secs / 1e6;
	res->mops = (double)total / secs / 1e6;
	res->errors += bad;
	return 0;
}

/* ---- --msg-pingpong: messages (sonuma_msg.h) between two nodes ---------- */

/* What the ping-pong partner (a child process, an application of the
 * target node) and this process share: the partner's time stamps of the
 * current size, and how far it got. */
struct mp_shared {
	int ready;  /* 1: endpoint up; < 0: -errno of its set-up */
	int failed; /* -errno of a call, once the run started */
	uint32_t sizes_done;
	int cpu;
	uint64_t *t_recv; /* per iteration: TSC when the ping was received */
	uint64_t *t_send; /* ... and just before the pong was sent */
};

struct mp_node {
	int fd;
	rmc_wq_t *wq;
	rmc_cq_t *cq;
	uint8_t *lbuff, *ctx;
	struct rmc_msg_ep *ep;
};

struct mp_opts {
	uint32_t slots, spin_us, ctx_id, flags;
	uint64_t ctx_offset;
	uint32_t max_msg;
};

/* Registers what an endpoint needs on node fd is attached to, and makes it. */
static int mp_open(struct mp_node *n, int fd, const struct kal_info *info, const struct mp_opts *m)
{
	struct rmc_msg_params p = { .fd = fd,
				    .ctx_id = m->ctx_id,
				    .ctx_offset = m->ctx_offset,
				    .slots = m->slots,
				    .max_msg = m->max_msg,
				    .spin_us = m->spin_us,
				    .flags = m->flags,
				    .timeout_ms = 10000 };
	int64_t lb, area;
	int r;

	n->fd = fd;
	lb = rmc_msg_lbuff_size(&p, info->nodes);
	area = rmc_msg_area_size(&p, info->nodes);
	if (lb < 0 || area < 0)
		return -EINVAL;
	uint32_t lpages = (uint32_t)((lb + PAGE_SIZE - 1) / PAGE_SIZE);
	uint64_t cbytes = m->ctx_offset + (uint64_t)area;
	uint32_t cpages = (uint32_t)((cbytes + PAGE_SIZE - 1) / PAGE_SIZE);
	if ((r = kal_reg_wq(fd, &n->wq)) || (r = kal_reg_cq(fd, &n->cq)) ||
	    (r = kal_reg_lbuff(fd, &n->lbuff, lpages)) ||
	    (r = kal_reg_ctx_id(fd, m->ctx_id, &n->ctx, cpages)))
		return r;
	p.wq = n->wq;
	p.cq = n->cq;
	p.lbuff = n->lbuff;
	p.lbuff_len = (uint64_t)lpages * PAGE_SIZE;
	p.ctx = n->ctx;
	p.ctx_len = (uint64_t)cpages * PAGE_SIZE;
	return rmc_msg_init(&n->ep, &p);
}

static void mp_pin(const struct kal_info *info)
{
	cpu_set_t set;

	if (exp_app_cpuset(info, &set))
		sched_setaffinity(0, sizeof(set), &set);
}

/* The partner: an application of node peer that returns every message to
 * where it came from, recording when it got it and when it answered. */
static int mp_partner(const struct opts *o, const struct mp_opts *m, int parent_fd, int peer,
		      int src, struct mp_shared *sh)
{
	struct kal_info info;
	struct mp_node n = { 0 };
	char node[16];
	uint8_t *buf;
	int fd, r;

	kal_close(parent_fd); /* the parent's session stays open in the parent */
	snprintf(node, sizeof(node), "%d", peer);
	setenv("SONUMA_NODE", node, 1);
	fd = kal_open((char *)RMC_DEV);
	if (fd < 0 || (r = kal_info(fd, &info))) {
		sonuma_smp_store_release(&sh->ready, fd < 0 ? fd : r);
		return 1;
	}
	mp_pin(&info);
	SONUMA_WRITE_ONCE(sh->cpu, sched_getcpu());
	buf = malloc(m->max_msg ? m->max_msg : 1);
	if (!buf || (r = mp_open(&n, fd, &info, m))) {
		sonuma_smp_store_release(&sh->ready, buf ? r : -ENOMEM);
		return 1;
	}
	/* Pairs with the parent's load-acquire of ready. */
	sonuma_smp_store_release(&sh->ready, 1);
	uint64_t total = o->warmup + o->iters;
	for (unsigned s = 0; s < o->n_sizes; s++) {
		for (uint64_t i = 0; i < total; i++) {
			int from = src;
			int len = rmc_recv(n.ep, &from, buf, m->max_msg, 0);
			uint64_t t = rmc_rdtsc();
			if (len < 0) {
				sonuma_smp_store_release(&sh->failed, len);
				return 1;
			}
			uint64_t t2 = rmc_rdtsc();
			r = rmc_send(n.ep, src, buf, (size_t)len, o->async ? RMC_MSG_DONTWAIT : 0);
			while (r == -EAGAIN) {
				rmc_msg_progress(n.ep);
				t2 = rmc_rdtsc();
				r = rmc_send(n.ep, src, buf, (size_t)len, RMC_MSG_DONTWAIT);
			}
			if (r) {
				sonuma_smp_store_release(&sh->failed, r);
				return 1;
			}
			if (i >= o->warmup) {
				sh->t_recv[i - o->warmup] = t;
				sh->t_send[i - o->warmup] = t2;
			}
		}
		/* Publishes this size's time stamps; pairs with the parent's
		 * load-acquire of sizes_done. */
		sonuma_smp_store_release(&sh->sizes_done, s + 1);
	}
	r = rmc_msg_flush(n.ep);
	rmc_msg_fini(n.ep);
	free(buf);
	kal_close(fd);
	return r ? 1 : 0;
}

/* Waits up to ms for pid: 0 with *st, or -ETIMEDOUT. */
static int mp_wait(pid_t pid, unsigned ms, int *st)
{
	for (unsigned t = 0; t <= ms; t++) {
		if (waitpid(pid, st, WNOHANG) == pid)
			return 0;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

struct mp_result {
	uint64_t size, iters;
	double rtt[EXP_NSUM], ow[EXP_NSUM]; /* min, p50, avg, p99, p99.9, max in ns */
	double target;			    /* the model's one-way latency of the write */
	double msgs, mbps;		    /* messages per second (both ways), payload MB/s */
	unsigned errors;
};

/* One --msg-pingpong run: this node's endpoint, the partner process and
 * the time stamps of the current size. */
struct mp_run {
	const struct opts *o;
	const struct mp_opts *m;
	const struct kal_info *info;
	int fd;
	struct mp_shared *sh;
	size_t sh_len;
	struct mp_node n;
	pid_t child;
	int partner_cpu;
	uint64_t *t0, *t1; /* per iteration: TSC before the send, after the receive */
	uint64_t *rtt, *ow;
	uint8_t *msg, *in;
	FILE *out, *samples;
};

/* The shared page of time stamps and this side's buffers: 0 or -ENOMEM. */
static int mp_alloc(struct mp_run *p)
{
	const struct opts *o = p->o;

	p->sh_len = sizeof(*p->sh) + 2 * o->iters * sizeof(uint64_t);
	p->sh = mmap(NULL, p->sh_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	p->t0 = calloc(o->iters, sizeof(uint64_t));
	p->t1 = calloc(o->iters, sizeof(uint64_t));
	p->rtt = calloc(o->iters, sizeof(uint64_t));
	p->ow = calloc(2 * o->iters, sizeof(uint64_t));
	p->msg = malloc(p->m->max_msg + 1);
	p->in = malloc(p->m->max_msg + 1);
	if (p->sh == MAP_FAILED || !p->t0 || !p->t1 || !p->rtt || !p->ow || !p->msg || !p->in)
		return -ENOMEM;
	p->sh->t_recv = (uint64_t *)(p->sh + 1);
	p->sh->t_send = p->sh->t_recv + o->iters;
	return 0;
}

static void mp_free(struct mp_run *p)
{
	if (p->sh && p->sh != MAP_FAILED)
		munmap(p->sh, p->sh_len);
	free(p->t0), free(p->t1), free(p->rtt), free(p->ow), free(p->msg), free(p->in);
}

/* Forks the partner: 0, or 1 after saying why. */
static int mp_fork(struct mp_run *p)
{
	pid_t parent = getpid();

	fflush(stdout);
	fflush(stderr);
	p->child = fork();
	if (p->child < 0) {
		fprintf(stderr, "sonuma-bench: fork: %s\n", strerror(errno));
		return 1;
	}
	if (p->child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		_exit(mp_partner(p->o, p->m, p->fd, p->o->target, (int)p->info->nid, p->sh));
	}
	return 0;
}

/* This node's endpoint, then the partner's, then the connection: 0, or 1
 * after saying why. */
static int mp_connect(struct mp_run *p)
{
	const struct opts *o = p->o;
	int r, st;

	if ((r = mp_open(&p->n, p->fd, p->info, p->m))) {
		fprintf(stderr, "sonuma-bench: node %u: message endpoint: %s\n", p->info->nid,
			strerror(-r));
		return 1;
	}
	uint64_t end = rmc_rdtsc() + (uint64_t)(20 * p->info->tsc_hz);
	/* Pairs with the partner's store-release of ready. */
	while (!(r = sonuma_smp_load_acquire(&p->sh->ready)) && rmc_rdtsc() < end &&
	       waitpid(p->child, &st, WNOHANG) == 0)
		usleep(1000);
	if (r != 1) {
		fprintf(stderr, "sonuma-bench: node %d (the partner): %s\n", o->target,
			r ? strerror(-r) : "did not come up");
		return 1;
	}
	while ((r = rmc_msg_connect(p->n.ep, o->target)) == -ECONNREFUSED && rmc_rdtsc() < end)
		usleep(1000);
	if (r) {
		fprintf(stderr, "sonuma-bench: connecting to node %d: %s\n", o->target,
			strerror(-r));
		return 1;
	}
	p->partner_cpu = SONUMA_READ_ONCE(p->sh->cpu);
	if (p->partner_cpu == sched_getcpu())
		fprintf(stderr,
			"sonuma-bench: warning: both ends run on CPU %d; the latencies "
			"include switching between them\n",
			p->partner_cpu);
	return 0;
}

/* What rmcd says of itself for the output's header. */
struct rmcd_desc {
	char model[160], calib[160], version[64];
};

static void describe_rmcd(int fd, struct rmcd_desc *d)
{
	kal_describe(fd, 0, d->model, sizeof(d->model));
	kal_describe(fd, 1, d->calib, sizeof(d->calib));
	kal_describe(fd, 2, d->version, sizeof(d->version));
}

/* The JSON output up to its config object, which the caller writes. */
static void json_head(FILE *out, const struct rmcd_desc *d, const char *date, const char *cmdline)
{
	fprintf(out, "{\n  \"tool\": \"sonuma-bench\",\n  \"version\": ");
	exp_json_str(out, d->version);
	fprintf(out, ",\n  \"date\": \"%s\",\n  \"command\": ", date);
	exp_json_str(out, cmdline);
}

/* The config object's sizes and its end, and the start of the rmcd object
 * (the caller writes the rest of it). */
static void json_sizes_rmcd(FILE *out, const struct opts *o, const struct kal_info *info,
			    const struct rmcd_desc *d)
{
	for (unsigned i = 0; i < o->n_sizes; i++)
		fprintf(out, "%s%llu", i ? ", " : "", (unsigned long long)o->sizes[i]);
	fprintf(out, "]},\n  \"rmcd\": {\"model\": ");
	exp_json_str(out, info->model);
	fprintf(out, ", \"model_params\": ");
	exp_json_str(out, d->model);
	fprintf(out, ", \"calibration\": ");
	exp_json_str(out, d->calib);
}

/* What the ping-pong's output says before its results. */
static void mp_header(const struct mp_run *p, const char *cmdline)
{
	const struct opts *o = p->o;
	const struct mp_opts *m = p->m;
	const struct kal_info *info = p->info;
	FILE *out = p->out;
	struct rmcd_desc d;
	char date[32];

	describe_rmcd(p->fd, &d);
	exp_utc_date(date, sizeof(date));
	const char *send = o->async ? "async" : "sync";
	const char *delivery = m->flags & RMC_MSG_F_NATIVE ? "native" : "model";
	unsigned spin = m->spin_us ? m->spin_us : 50;
	struct rmc_msg_info mi;
	rmc_msg_get_info(p->n.ep, &mi);
	if (o->fmt == EXP_FMT_JSON) {
		json_head(out, &d, date, cmdline);
		fprintf(out,
			",\n  \"config\": {\"mode\": \"msg-pingpong\", \"send\": \"%s\", \"src\": %u, "
			"\"dst\": %d, \"iters\": %llu, \"warmup\": %llu, \"slots\": %u, "
			"\"max_msg\": %u, \"slot_size\": %u, \"ctx_id\": %u, \"ctx_offset\": %llu, "
			"\"delivery\": \"%s\", \"spin_us\": %u, \"sizes\": [",
			send, info->nid, o->target, (unsigned long long)o->iters,
			(unsigned long long)o->warmup, mi.slots, mi.max_msg, mi.slot_size,
			m->ctx_id, (unsigned long long)m->ctx_offset, delivery, spin);
		json_sizes_rmcd(out, o, info, &d);
		fprintf(out,
			", \"tsc_hz\": %.0f, \"nodes\": %u, \"queue_depth\": %u, \"max_transfer\": "
			"%llu, \"cpu\": %d, \"partner_cpu\": %d},\n  \"results\": [",
			info->tsc_hz, info->nodes, info->queue_depth,
			(unsigned long long)info->max_transfer, sched_getcpu(), p->partner_cpu);
	} else if (o->fmt == EXP_FMT_CSV) {
		fprintf(out, "# sonuma-bench %s, %s\n# command: %s\n", d.version, date, cmdline);
		fprintf(out,
			"# mode: msg-pingpong; send: %s; src: %u; dst: %d; iters: %llu; warmup: "
			"%llu; slots: %u; max_msg: %u; delivery: %s; spin_us: %u\n",
			send, info->nid, o->target, (unsigned long long)o->iters,
			(unsigned long long)o->warmup, mi.slots, mi.max_msg, delivery, spin);
		fprintf(out,
			"# model: %s\n# calibration: %s\n# tsc_hz: %.0f; cpu: %d; "
			"partner_cpu: %d\n",
			d.model, d.calib, info->tsc_hz, sched_getcpu(), p->partner_cpu);
		fprintf(out, "size,iterations,rtt_min_ns,rtt_p50_ns,rtt_avg_ns,rtt_p99_ns,"
			     "rtt_p999_ns,rtt_max_ns,ow_min_ns,ow_p50_ns,ow_avg_ns,ow_p99_ns,"
			     "ow_p999_ns,ow_max_ns,target_ns,msgs_per_s,bw_MBps,errors\n");
	} else {
		fprintf(out,
			"# sonuma-bench %s: msg-pingpong (%s sends, %s delivery), node %u <-> "
			"node %d\n",
			d.version, send, delivery, info->nid, o->target);
		fprintf(out,
			"# model: %s\n# calibration: %s\n# TSC %.3f GHz; %llu round trips "
			"after %llu warm-up per size; %u slots of %u B; CPUs %d and %d\n",
			d.model, d.calib, info->tsc_hz / 1e9, (unsigned long long)o->iters,
			(unsigned long long)o->warmup, mi.slots, mi.slot_size, sched_getcpu(),
			p->partner_cpu);
		fprintf(out, "# rtt: round trip; ow: one way (send call to receive return, "
			     "both directions); target: the model's one-way write\n");
		fprintf(out, "%9s %9s %9s %9s %9s %9s %9s %9s %9s %12s %9s\n", "size", "rtt_min",
			"rtt_p50", "rtt_avg", "rtt_p99", "ow_min", "ow_p50", "ow_p99", "target",
			"msgs/s", "MB/s");
	}
	fflush(out);
}

/* The round trips of one size, each message checked with --verify (a
 * wrong answer counts in res->errors); this side's time stamps go to
 * p->t0 and p->t1, the first and last to *start and *stop.  0, or 1 after
 * saying why when a call failed. */
static int mp_bounce(struct mp_run *p, struct mp_result *res, uint64_t *start, uint64_t *stop)
{
	const struct opts *o = p->o;
	uint64_t size = res->size, total = o->warmup + o->iters;
	int r;

	for (uint64_t i = 0; i < total; i++) {
		uint64_t seed = size * 7 + i;
		for (uint64_t j = 0; j < size; j++)
			p->msg[j] = pattern(seed, 0, j);
		int from = o->target;
		uint64_t a = rmc_rdtsc();
		r = rmc_send(p->n.ep, o->target, p->msg, size, o->async ? RMC_MSG_DONTWAIT : 0);
		while (r == -EAGAIN) {
			rmc_msg_progress(p->n.ep);
			a = rmc_rdtsc();
			r = rmc_send(p->n.ep, o->target, p->msg, size, RMC_MSG_DONTWAIT);
		}
		int len = r ? r : rmc_recv(p->n.ep, &from, p->in, p->m->max_msg, 0);
		uint64_t b = rmc_rdtsc();
		if (len < 0) {
			fprintf(stderr, "sonuma-bench: size %llu, round trip %llu: %s\n",
				(unsigned long long)size, (unsigned long long)i, strerror(-len));
			if ((r = sonuma_smp_load_acquire(&p->sh->failed)))
				fprintf(stderr, "sonuma-bench: the partner: %s\n", strerror(-r));
			return 1;
		}
		if (o->verify) {
			int bad = (uint64_t)len != size;
			for (uint64_t j = 0; j < size && !bad; j++)
				bad = p->in[j] != pattern(seed, 0, j);
			if (bad && !res->errors++)
				fprintf(stderr,
					"sonuma-bench: size %llu, round trip %llu: "
					"the answer differs from the message\n",
					(unsigned long long)size, (unsigned long long)i);
		}
		if (i == o->warmup)
			*start = a;
		if (i >= o->warmup) {
			p->t0[i - o->warmup] = a;
			p->t1[i - o->warmup] = b;
		}
		*stop = b;
	}
	return 0;
}

/* Size number s: the round trips, then the partner's time stamps, the
 * figures and the samples.  0, or 1 after saying why. */
static int mp_size(struct mp_run *p, unsigned s, struct mp_result *res)
{
	const struct opts *o = p->o;
	double k = 1e9 / p->info->tsc_hz;
	uint64_t size = o->sizes[s], start = 0, stop = 0;
	int r = 0;

	*res = (struct mp_result){ .size = size, .iters = o->iters };
	if (mp_bounce(p, res, &start, &stop))
		return 1;
	/* The partner's time stamps of this size; pairs with its
	 * store-release of sizes_done. */
	while (sonuma_smp_load_acquire(&p->sh->sizes_done) < s + 1 &&
	       !(r = sonuma_smp_load_acquire(&p->sh->failed)))
		sonuma_cpu_relax();
	if (sonuma_smp_load_acquire(&p->sh->sizes_done) < s + 1) {
		fprintf(stderr, "sonuma-bench: the partner: %s\n", strerror(-r));
		return 1;
	}
	for (uint64_t i = 0; i < o->iters; i++) {
		p->rtt[i] = p->t1[i] - p->t0[i];
		/* One TSC for the whole host: the two ends compare. */
		p->ow[2 * i] = p->sh->t_recv[i] - p->t0[i];
		p->ow[2 * i + 1] = p->t1[i] - p->sh->t_send[i];
		if (p->samples)
			fprintf(p->samples, "%llu,%llu,%.1f,%.1f,%.1f\n", (unsigned long long)size,
				(unsigned long long)i, (double)p->rtt[i] * k,
				(double)p->ow[2 * i] * k, (double)p->ow[2 * i + 1] * k);
	}
	exp_summary(p->rtt, o->iters, k, res->rtt);
	exp_summary(p->ow, 2 * o->iters, k, res->ow);
	double secs = (double)(stop - start) / p->info->tsc_hz;
	res->msgs = secs > 0 ? 2.0 * (double)o->iters / secs : 0;
	res->mbps = res->msgs * (double)size / 1e6;
	/* The write that carries a message: header, message, trailer. */
	uint64_t wlen = 32 + (size + 7) / 8 * 8 + 8;
	res->target = NAN;
	kal_target_ns(p->fd, RMC_OP_WRITE, (uint16_t)o->target, wlen, &res->target);
	return 0;
}

/* The line (or JSON object, s-th of the list) of one size. */
static void mp_row(FILE *out, enum exp_fmt fmt, unsigned s, const struct mp_result *res)
{
	const double *rt = res->rtt, *ow = res->ow;

	if (fmt == EXP_FMT_JSON) {
		fprintf(out,
			"%s\n    {\"size\": %llu, \"iterations\": %llu, \"rtt_min_ns\": %.1f, "
			"\"rtt_p50_ns\": %.1f, \"rtt_avg_ns\": %.1f, \"rtt_p99_ns\": %.1f, "
			"\"rtt_p999_ns\": %.1f, \"rtt_max_ns\": %.1f, \"ow_min_ns\": %.1f, "
			"\"ow_p50_ns\": %.1f, \"ow_avg_ns\": %.1f, \"ow_p99_ns\": %.1f, "
			"\"ow_p999_ns\": %.1f, \"ow_max_ns\": %.1f, \"target_ns\": ",
			s ? "," : "", (unsigned long long)res->size, (unsigned long long)res->iters,
			rt[0], rt[1], rt[2], rt[3], rt[4], rt[5], ow[0], ow[1], ow[2], ow[3], ow[4],
			ow[5]);
		exp_json_num(out, res->target, 3);
		fprintf(out, ", \"msgs_per_s\": %.1f, \"bw_MBps\": %.2f, \"errors\": %u}",
			res->msgs, res->mbps, res->errors);
	} else if (fmt == EXP_FMT_CSV) {
		fprintf(out,
			"%llu,%llu,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,"
			"%.1f,%.1f,%.2f,%u\n",
			(unsigned long long)res->size, (unsigned long long)res->iters, rt[0], rt[1],
			rt[2], rt[3], rt[4], rt[5], ow[0], ow[1], ow[2], ow[3], ow[4], ow[5],
			res->target, res->msgs, res->mbps, res->errors);
	} else {
		fprintf(out, "%9llu %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %9.0f %12.0f %9.1f\n",
			(unsigned long long)res->size, rt[0], rt[1], rt[2], rt[3], ow[0], ow[1],
			ow[3], res->target, res->msgs, res->mbps);
	}
	fflush(out);
}

/* Every size, between the header and the end of the output: 0, or 1 when
 * something failed (said on stderr). */
static int mp_sizes(struct mp_run *p, const char *cmdline)
{
	const struct opts *o = p->o;
	int failed = 0;

	if (o->samples) {
		if (!(p->samples = fopen(o->samples, "w"))) {
			fprintf(stderr, "sonuma-bench: %s: %s\n", o->samples, strerror(errno));
			return 1;
		}
		fprintf(p->samples, "# %s\nsize,index,rtt_ns,ping_ns,pong_ns\n", cmdline);
	}
	for (unsigned s = 0; s < o->n_sizes && !failed; s++) {
		struct mp_result res;

		if (mp_size(p, s, &res)) {
			failed = 1;
			break;
		}
		if (res.errors)
			failed = 1;
		mp_row(p->out, o->fmt, s, &res);
	}
	if (o->fmt == EXP_FMT_JSON)
		fprintf(p->out, "\n  ]\n}\n");
	if (p->samples && fclose(p->samples)) {
		fprintf(stderr, "sonuma-bench: %s: %s\n", o->samples, strerror(errno));
		failed = 1;
	}
	return failed;
}

static int msg_pingpong(const struct opts *o, const struct mp_opts *m, int fd,
			const struct kal_info *info, FILE *out, const char *cmdline)
{
	struct mp_run p = { .o = o, .m = m, .info = info, .fd = fd, .out = out };
	int failed, st;

	if (mp_alloc(&p)) {
		fprintf(stderr, "sonuma-bench: out of memory\n");
		mp_free(&p);
		return 1;
	}
	if (mp_fork(&p)) {
		mp_free(&p);
		return 1;
	}
	if (mp_connect(&p))
		goto kill_child;
	mp_header(&p, cmdline);
	if (mp_sizes(&p, cmdline))
		goto kill_child;
	failed = 0;
	if (mp_wait(p.child, 10000, &st) || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "sonuma-bench: the partner did not finish cleanly\n");
		failed = 1;
	}
	rmc_msg_fini(p.n.ep);
	mp_free(&p);
	return failed;

kill_child:
	kill(p.child, SIGKILL);
	waitpid(p.child, &st, 0);
	mp_free(&p);
	return 1;
}

/* A cache line bounced between two CPUs: the physical floor of any agent
 * that polls for requests on another core. */
struct pp {
	uint64_t line[8] __attribute__((aligned(64)));
	uint64_t n;
	int cpu;
};

static void *pp_partner(void *arg)
{
	struct pp *p = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(p->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	for (uint64_t i = 1; i <= p->n; i++) {
		/* Pairs with the store-release of the ping below. */
		while (sonuma_smp_load_acquire(&p->line[0]) != 2 * i - 1)
			sonuma_cpu_relax();
		sonuma_smp_store_release(&p->line[0], 2 * i);
	}
	return NULL;
}

static int pingpong(int cpu, uint64_t iters, uint64_t warmup)
{
	static struct pp p;
	uint64_t *lat = exp_samples_alloc(iters);
	pthread_t t;
	double hz;

	if (!lat)
		return 1;
	hz = 0;
	{
		/* The TSC rate, measured here: no rmcd is asked. */
		struct timespec a, b, d = { 0, 20000000 };
		clock_gettime(CLOCK_MONOTONIC_RAW, &a);
		uint64_t t0 = rmc_rdtsc();
		nanosleep(&d, NULL);
		uint64_t t1 = rmc_rdtsc();
		clock_gettime(CLOCK_MONOTONIC_RAW, &b);
		hz = (double)(t1 - t0) * 1e9 /
		     (double)((b.tv_sec - a.tv_sec) * 1000000000ll + (b.tv_nsec - a.tv_nsec));
	}
	p.n = iters + warmup;
	p.cpu = cpu;
	if (pthread_create(&t, NULL, pp_partner, &p)) {
		fprintf(stderr, "sonuma-bench: cannot start the ping-pong thread\n");
		return 1;
	}
	for (uint64_t i = 1; i <= p.n; i++) {
		uint64_t t0 = rmc_rdtsc();
		sonuma_smp_store_release(&p.line[0], 2 * i - 1);
		while (sonuma_smp_load_acquire(&p.line[0]) != 2 * i)
			sonuma_cpu_relax();
		if (i > warmup)
			lat[i - warmup - 1] = rmc_rdtsc() - t0;
	}
	pthread_join(t, NULL);
	qsort(lat, iters, sizeof(uint64_t), exp_cmp_u64);
	printf("pingpong cpu %d <-> cpu %d: round trip min %.1f p50 %.1f p99 %.1f ns "
	       "(%llu samples, TSC %.3f GHz)\n",
	       sched_getcpu(), cpu, (double)lat[0] * 1e9 / hz,
	       (double)exp_pct_rank(lat, iters, 50) * 1e9 / hz,
	       (double)exp_pct_rank(lat, iters, 99) * 1e9 / hz, (unsigned long long)iters,
	       hz / 1e9);
	free(lat);
	return 0;
}

/* What the command line asks for beyond struct opts. */
struct cli {
	struct opts o;
	struct mp_opts mo;
	uint64_t max_size;
	int sweep, max_given, pp_cpu, msg_pp, msg_opt;
	int agent_cpu; /* --agent CPU, or -1 */
};

#define BAD(...)                                                  \
	do {                                                      \
		fprintf(stderr, "sonuma-bench: " __VA_ARGS__);    \
		fprintf(stderr, "\n(see sonuma-bench --help)\n"); \
		return 2;                                         \
	} while (0)

/* --op read|r|write|w. */
static int parse_op(const char *arg, void *options)
{
	struct cli *c = options;

	if (!strcmp(arg, "read") || !strcmp(arg, "r"))
		c->o.op = 'r';
	else if (!strcmp(arg, "write") || !strcmp(arg, "w"))
		c->o.op = 'w';
	else
		return -1;
	return 0;
}

/* --mode sync|async. */
static int parse_mode(const char *arg, void *options)
{
	struct cli *c = options;

	if (!strcmp(arg, "sync"))
		c->o.async = 0;
	else if (!strcmp(arg, "async"))
		c->o.async = 1;
	else
		return -1;
	return 0;
}

/* --size LIST: 0, or 1 after saying which size is wrong. */
static int parse_sizes(const char *arg, void *options)
{
	struct cli *c = options;
	char *dup = strdup(arg), *save = NULL;
	uint64_t v;

	c->o.n_sizes = 0;
	for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (c->o.n_sizes == MAX_SIZES || exp_parse_u64(tok, 1, 1ull << 30, &v)) {
			fprintf(stderr,
				"sonuma-bench: --size: up to %d sizes from 1 B to 1 GiB, not \"%s\"\n",
				MAX_SIZES, tok);
			free(dup);
			return 1;
		}
		c->o.sizes[c->o.n_sizes++] = v;
	}
	free(dup);
	if (!c->o.n_sizes) {
		fprintf(stderr, "sonuma-bench: --size: no size given\n");
		return 1;
	}
	return 0;
}

/* --msg-slots: a power of two. */
static int parse_slots(const char *arg, void *options)
{
	struct cli *c = options;
	uint64_t v;

	if (exp_parse_u64(arg, 1, RMC_MSG_MAX_SLOTS, &v) || (v & (v - 1)))
		return -1;
	c->mo.slots = (uint32_t)v;
	return 0;
}

static void hint(void)
{
	fprintf(stderr, "(see sonuma-bench --help)\n");
}

/* --max-size given, a --msg-* option given (--msg-pingpong aside). */
static void taken(const struct exp_opt *o, void *options)
{
	struct cli *c = options;

	if (!strcmp(o->name, "max-size"))
		c->max_given = 1;
	else if (!strncmp(o->name, "msg-", 4) && strcmp(o->name, "msg-pingpong"))
		c->msg_opt = 1;
}

#define OPT(f) offsetof(struct cli, f)
#define STR_(x) #x
#define STR(x) STR_(x)
static const struct exp_opt bench_opts[] = {
	EXP_OPT_FN('o', "op", parse_op, "read or write"),
	EXP_OPT_FN('m', "mode", parse_mode, "sync or async"),
	EXP_OPT_INTS(EXP_OPT_UINT, 'd', "outstanding", OPT(o.outstanding), 1, MAX_NUM_WQ, 0, NULL),
	EXP_OPT_INTS(EXP_OPT_UINT, 'T', "threads", OPT(o.threads), 1, MAX_THREADS, 0, NULL),
	EXP_OPT_INTS(EXP_OPT_INT, 't', "target", OPT(o.target), 0, 0xffff, 0, "a node id"),
	EXP_OPT_FN('s', "size", parse_sizes, NULL),
	EXP_OPT_FLAG(EXP_OPT_SET, 'a', "all", OPT(sweep), 1),
	EXP_OPT_INTS(EXP_OPT_U64, 'M', "max-size", OPT(max_size), 64, 1ull << 30, 0,
		     "64 B to 1 GiB"),
	EXP_OPT_INTS(EXP_OPT_U64, 'n', "iters", OPT(o.iters), 1, 100000000, 0, "1 to 1e8"),
	EXP_OPT_INTS(EXP_OPT_U64, 'w', "warmup", OPT(o.warmup), 0, 100000000, 0, "0 to 1e8"),
	EXP_OPT_ARG(EXP_OPT_FMT, 'f', "format", OPT(o.fmt)),
	EXP_OPT_ARG(EXP_OPT_STR, 0, "output", OPT(o.out)),
	EXP_OPT_FLAG(EXP_OPT_SET, 0, "no-verify", OPT(o.verify), 0),
	EXP_OPT_INTS(EXP_OPT_INT, 0, "pingpong", OPT(pp_cpu), 0, CPU_SETSIZE - 1, 0,
		     "a CPU number"),
	EXP_OPT_ARG(EXP_OPT_STR, 0, "samples", OPT(o.samples)),
	EXP_OPT_FLAG(EXP_OPT_SET, 0, "bw", OPT(o.bw), 1),
	EXP_OPT_FLAG(EXP_OPT_SET, 0, "same-buffer", OPT(o.same_buffer), 1),
	EXP_OPT_INTS(EXP_OPT_U64, 0, "gap", OPT(o.gap_ns), 1, 10000000000ull, 0,
		     "1 ns to 10 s in ns"),
	EXP_OPT_INTS(EXP_OPT_INT, 0, "agent", OPT(agent_cpu), 0, CPU_SETSIZE - 1, 0,
		     "a CPU number"),
	EXP_OPT_INTS(EXP_OPT_U64, 0, "agent-latency", OPT(o.agent_latency_ns), 1, 1000000000, 0,
		     "1 ns to 1 s in ns"),
	EXP_OPT_FLAG(EXP_OPT_SET, 0, "agent-library", OPT(o.agent_library), 1),
	EXP_OPT_INTS(EXP_OPT_U64, 0, "span", OPT(o.span), 65536, 1ull << 40, 0,
		     "64 KiB to 1 TiB in bytes"),
	EXP_OPT_FLAG(EXP_OPT_SET, 0, "gap-sleep", OPT(o.gap_sleep), 1),
	EXP_OPT_FLAG(EXP_OPT_SET, 0, "msg-pingpong", OPT(msg_pp), 1),
	EXP_OPT_FN(0, "msg-slots", parse_slots, "a power of two up to " STR(RMC_MSG_MAX_SLOTS)),
	EXP_OPT_INTS(EXP_OPT_U32, 0, "msg-ctx", OPT(mo.ctx_id), 0, 255, 0, "a context id"),
	EXP_OPT_INTS(EXP_OPT_U64, 0, "msg-offset", OPT(mo.ctx_offset), 0, 1ull << 40, 64,
		     "a multiple of 64"),
	EXP_OPT_INTS(EXP_OPT_U32, 0, "msg-spin", OPT(mo.spin_us), 1, 1000000, 0,
		     "1 to 1e6 microseconds"),
	EXP_OPT_FLAG(EXP_OPT_BITS, 0, "msg-native", OPT(mo.flags), RMC_MSG_F_NATIVE),
	EXP_OPT_ARG(EXP_OPT_HELP, 'h', "help", 0),
};
#undef STR
#undef STR_
#undef OPT

/* The command line into c: 0 to go on, or 2 on bad usage. */
static int parse_args(struct cli *c, int argc, char **argv)
{
	static const struct exp_cli cli = {
		.prog = "sonuma-bench", .usage = usage, .hint = hint, .taken = taken
	};
	const struct exp_opts set = { bench_opts, sizeof(bench_opts) / sizeof(bench_opts[0]), c };
	int r = exp_parse_opts(&cli, &set, 1, argc, argv);

	if (r)
		return r;
	if (optind < argc)
		BAD("unexpected argument \"%s\"", argv[optind]);
	/* --bw takes no time per operation: nothing for --samples, and the
	 * ping-pongs are latency measurements through and through. */
	if (c->o.bw && c->o.samples)
		BAD("--bw and --samples: --bw takes no per-operation timestamps, so there are "
		    "no latencies to write");
	if (c->o.bw && c->pp_cpu >= 0)
		BAD("--bw and --pingpong: the ping-pong measures latency only");
	if (c->o.bw && c->msg_pp)
		BAD("--bw and --msg-pingpong: the message ping-pong measures latency");
	if (c->o.samples && c->pp_cpu >= 0)
		BAD("--samples and --pingpong: the ping-pong prints its percentiles only");
	/* The ping-pongs move no buffer of ours through rmc_rread/rmc_rwrite. */
	if ((c->o.gap_ns || c->o.gap_sleep) &&
	    (c->o.async || c->o.bw || c->pp_cpu >= 0 || c->msg_pp))
		BAD("--gap and --gap-sleep go with synchronous reads and writes (--mode sync), "
		    "timed");
	if (c->o.gap_sleep && !c->o.gap_ns)
		BAD("--gap-sleep needs --gap NS");
	if (c->agent_cpu >= 0 && (c->pp_cpu >= 0 || c->msg_pp || c->o.samples || c->o.threads > 1))
		BAD("--agent measures reads and writes of one thread: not with --pingpong, "
		    "--msg-pingpong, --samples or --threads");
	if ((c->o.agent_latency_ns || c->o.agent_library) && c->agent_cpu < 0)
		BAD("--agent-latency and --agent-library go with --agent");
	if (c->o.agent_library && (c->o.op != 'r' || c->o.span || c->o.same_buffer))
		BAD("--agent-library: reads, without --span or --same-buffer");
	if (c->o.span && (c->o.same_buffer || c->agent_cpu >= 0 || c->pp_cpu >= 0 || c->msg_pp))
		BAD("--span goes with reads and writes through rmcd, not with --same-buffer, "
		    "--agent, --pingpong or --msg-pingpong");
	if (c->o.same_buffer && (c->pp_cpu >= 0 || c->msg_pp))
		BAD("--same-buffer goes with reads and writes, not with --pingpong or "
		    "--msg-pingpong");
	return 0;
}

/* What is checked once --pingpong (which needs no rmcd) is out of the
 * way, and the list of sizes.  0, or 2 on bad usage. */
static int plan_sizes(struct cli *c)
{
	if (c->msg_opt && !c->msg_pp)
		BAD("--msg-slots, --msg-ctx, --msg-offset, --msg-spin and --msg-native go with "
		    "--msg-pingpong");
	if (c->msg_pp && (c->o.threads > 1 || c->o.outstanding))
		BAD("--msg-pingpong: one pair of endpoints, no --threads or --outstanding");
	if (c->max_given && !c->sweep)
		BAD("--max-size goes with --all (sizes given with --size are used as they are)");
	if (c->sweep) {
		c->o.n_sizes = 0;
		for (uint64_t s = 64; s <= c->max_size && c->o.n_sizes < MAX_SIZES; s *= 2)
			c->o.sizes[c->o.n_sizes++] = s;
	} else if (!c->o.n_sizes) {
		c->o.sizes[c->o.n_sizes++] = 64;
	}
	return 0;
}

/* Attaches to this program's node into *fd and *info: 0, or 1 after saying
 * why not. */
static int attach(int *fd, struct kal_info *info)
{
	int r;

	*fd = kal_open((char *)RMC_DEV);
	if (*fd < 0) {
		fprintf(stderr,
			"sonuma-bench: cannot attach to node %s: %s (is rmcd running? run "
			"with sonuma-run -n NODE)\n",
			getenv("SONUMA_NODE") ? getenv("SONUMA_NODE") : "0", strerror(-*fd));
		return 1;
	}
	if ((r = kal_info(*fd, info))) {
		fprintf(stderr, "sonuma-bench: rmcd: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}

/* --msg-pingpong against what rmcd allows: the largest message into
 * mo->max_msg.  0, or 2 on bad usage. */
static int msg_plan(const struct opts *o, struct mp_opts *mo, const struct kal_info *info)
{
	if ((unsigned)o->target == info->nid)
		BAD("--msg-pingpong: the target must be another node than this one (%u)",
		    info->nid);
	for (unsigned i = 0; i < o->n_sizes; i++)
		if (o->sizes[i] > mo->max_msg)
			mo->max_msg = (uint32_t)(o->sizes[i] < (1u << 30) ? o->sizes[i] : 1u << 30);
	int64_t slot = rmc_msg_slot_size(mo->max_msg);
	if (slot < 0 || (uint64_t)slot > info->max_transfer)
		BAD("--size: a %u-byte message needs %lld-byte slots, above rmcd's maximum "
		    "transfer (%llu B)",
		    mo->max_msg, (long long)slot, (unsigned long long)info->max_transfer);
	struct rmc_msg_params mp = { .slots = mo->slots, .max_msg = mo->max_msg };
	int64_t area = rmc_msg_area_size(&mp, info->nodes);
	if (mo->ctx_id == 0 && (area < 0 || mo->ctx_offset + (uint64_t)area > info->context_size))
		BAD("--msg-slots/--msg-offset: the message area (%lld B at %llu) does not fit "
		    "the %llu-byte context",
		    (long long)area, (unsigned long long)mo->ctx_offset,
		    (unsigned long long)info->context_size);
	return 0;
}

/* The outstanding window, the sizes as the API rounds them, and each
 * thread's region of the target context into *region: 0, or 2 on bad
 * usage. */
static int plan_region(struct opts *o, const struct kal_info *info, uint64_t *region_out)
{
	if (!o->outstanding)
		o->outstanding = info->queue_depth;
	if (o->outstanding > info->queue_depth)
		BAD("--outstanding: at most the queue depth, %u", info->queue_depth);
	uint64_t biggest = 0;
	for (unsigned i = 0; i < o->n_sizes; i++) {
		if (o->sizes[i] > info->max_transfer)
			BAD("--size: %llu B is above rmcd's maximum transfer (%llu B)",
			    (unsigned long long)o->sizes[i],
			    (unsigned long long)info->max_transfer);
		if (o->sizes[i] < 64)
			o->sizes[i] = 64; /* as the API rounds it */
		if (o->sizes[i] > biggest)
			biggest = o->sizes[i];
	}
	/* Each thread works in its own region of the target context: its
	 * local buffer's size, room for the outstanding window of the largest
	 * size (at least 64 KiB; with --same-buffer one message is enough). */
	uint64_t region = biggest * (o->async && !o->same_buffer ? o->outstanding : 1);
	if (region < 65536)
		region = 65536;
	if (o->span > region)
		region = o->span;
	region = (region + PAGE_SIZE - 1) / PAGE_SIZE * PAGE_SIZE;
	while (region * o->threads > info->context_size && region > biggest)
		region /= 2;
	region = region / biggest * biggest;
	if (region < biggest || region * o->threads > info->context_size)
		BAD("%u threads of %llu B do not fit in the %llu-byte context", o->threads,
		    (unsigned long long)biggest, (unsigned long long)info->context_size);
	*region_out = region;
	return 0;
}

/* --output, or standard output: 0, or 1 after saying why not. */
static int open_out(const struct opts *o, FILE **out)
{
	*out = stdout;
	if (o->out && !(*out = fopen(o->out, "w"))) {
		fprintf(stderr, "sonuma-bench: %s: %s\n", o->out, strerror(errno));
		return 1;
	}
	return 0;
}

/* Closes --output: 0, or 1 after saying why it failed. */
static int close_out(const struct opts *o, FILE *out)
{
	if (out != stdout && fclose(out)) {
		fprintf(stderr, "sonuma-bench: %s: %s\n", o->out, strerror(errno));
		return 1;
	}
	return 0;
}

/* Each thread's queue pair, local buffer of region bytes and latency
 * array: 0, or 1 after saying why not. */
static int open_threads(const struct opts *o, struct thr *th, int fd, struct kal_info *info,
			uint64_t region)
{
	int r;

	for (unsigned i = 0; i < o->threads; i++) {
		struct thr *t = &th[i];
		t->o = o;
		t->info = info;
		t->fd = fd;
		t->snid = o->target;
		t->idx = (int)i;
		t->lbuff_size = region;
		/* --bw records no latencies: no room for them. */
		t->lat = o->bw ? NULL : exp_samples_alloc(o->iters);
		t->mlat = o->bw ? NULL : exp_samples_alloc(o->iters);
		t->overhead_tsc = (uint64_t)(info->overhead_ns * info->tsc_hz / 1e9 + 0.5);
		r = o->bw || (t->lat && t->mlat) ? 0 : -ENOMEM;
		if (r || (r = kal_reg_wq(fd, &t->wq)) || (r = kal_reg_cq(fd, &t->cq)) ||
		    (r = kal_reg_lbuff(fd, &t->lbuff, (uint32_t)(region / PAGE_SIZE)))) {
			fprintf(stderr, "sonuma-bench: registration: %s\n", strerror(-r));
			return 1;
		}
	}
	return 0;
}

/* The line naming the columns of print_result(), for CSV and the table. */
static void print_columns(FILE *out, enum exp_fmt fmt)
{
	if (fmt == EXP_FMT_CSV)
		fprintf(out, "size,iterations,t_min_ns,t_p50_ns,t_avg_ns,t_p99_ns,t_p999_ns,"
			     "t_max_ns,target_ns,p50_err_pct,late,late_pct,bw_MBps,mops,errors,"
			     "model_ns,req_err_p50_pct,req_err_p99_pct\n");
	else if (fmt == EXP_FMT_TABLE)
		fprintf(out, "%9s %9s %9s %9s %9s %9s %10s %9s %9s %8s %7s %10s %8s %7s %7s\n",
			"size", "t_min", "p50", "avg", "p99", "p99.9", "t_max", "target", "model",
			"err%", "late%", "MB/s", "Mops", "rq50%", "rq99%");
}

/* What the output says before its results: every input. */
static void print_header(FILE *out, const struct opts *o, const struct kal_info *info, int fd,
			 const char *cmdline)
{
	struct rmcd_desc d;
	char cpus[256], date[32];

	describe_rmcd(fd, &d);
	exp_app_cpulist(info, cpus, sizeof(cpus));
	exp_utc_date(date, sizeof(date));

	const char *opname = o->op == 'r' ? "read" : "write";
	const char *mode = o->async ? "async" : "sync";
	static const char *const tf[2] = { "false", "true" };
	unsigned outstanding = o->async ? o->outstanding : 1;
	if (o->fmt == EXP_FMT_JSON) {
		json_head(out, &d, date, cmdline);
		fprintf(out,
			",\n  \"config\": {\"op\": \"%s\", \"mode\": \"%s\", \"outstanding\": %u, "
			"\"threads\": %u, \"src\": %u, \"dst\": %d, \"iters\": %llu, \"warmup\": "
			"%llu, \"verify\": %s, \"bw\": %s, \"same_buffer\": %s, \"gap_ns\": %llu, "
			"\"gap_sleep\": %s, \"span\": %llu, \"sizes\": [",
			opname, mode, outstanding, o->threads, info->nid, o->target,
			(unsigned long long)o->iters, (unsigned long long)o->warmup,
			tf[!!o->verify], tf[!!o->bw], tf[!!o->same_buffer],
			(unsigned long long)o->gap_ns, tf[!!o->gap_sleep],
			(unsigned long long)o->span);
		json_sizes_rmcd(out, o, info, &d);
		fprintf(out,
			", \"tsc_hz\": %.0f, \"nodes\": %u, \"queue_depth\": %u, \"context_size\": "
			"%llu, \"max_transfer\": %llu, \"src_numa\": %d, \"app_cpus\": \"%s\", "
			"\"cpu\": %d},\n  \"results\": [",
			info->tsc_hz, info->nodes, info->queue_depth,
			(unsigned long long)info->context_size,
			(unsigned long long)info->max_transfer, info->numa, cpus, sched_getcpu());
	} else if (o->fmt == EXP_FMT_CSV) {
		fprintf(out, "# sonuma-bench %s, %s\n# command: %s\n", d.version, date, cmdline);
		fprintf(out,
			"# op: %s; mode: %s; outstanding: %u; threads: %u; src: %u; dst: %d; "
			"iters: %llu; warmup: %llu; verify: %s; bw: %s; same_buffer: %s\n",
			opname, mode, outstanding, o->threads, info->nid, o->target,
			(unsigned long long)o->iters, (unsigned long long)o->warmup,
			tf[!!o->verify], tf[!!o->bw], tf[!!o->same_buffer]);
		fprintf(out,
			"# model: %s\n# calibration: %s\n# tsc_hz: %.0f; nodes: %u; "
			"queue_depth: %u; src_numa: %d; app_cpus: %s\n",
			d.model, d.calib, info->tsc_hz, info->nodes, info->queue_depth, info->numa,
			cpus);
		if (o->gap_ns)
			fprintf(out, "# gap_ns: %llu; gap: %s\n", (unsigned long long)o->gap_ns,
				o->gap_sleep ? "sleep" : "spin");
		if (o->span)
			fprintf(out, "# span: %llu; order: scattered\n",
				(unsigned long long)o->span);
		print_columns(out, o->fmt);
	} else {
		fprintf(out, "# sonuma-bench %s: %s %s, %u thread%s%s%s, node %u -> node %d\n",
			d.version, mode, opname, o->threads, o->threads > 1 ? "s" : "",
			o->bw ? ", throughput only (--bw)" : "",
			o->same_buffer ? ", one buffer per side (--same-buffer)" : "", info->nid,
			o->target);
		if (o->async)
			fprintf(out, "# outstanding per thread: %u\n", o->outstanding);
		fprintf(out,
			"# model: %s\n# calibration: %s\n# TSC %.3f GHz; %llu iterations "
			"after %llu warm-up per size and thread\n",
			d.model, d.calib, info->tsc_hz / 1e9, (unsigned long long)o->iters,
			(unsigned long long)o->warmup);
		fprintf(out,
			"# target: the model's unloaded latency; model: the mean it asked for\n"
			"# in this run, queueing included; err%%: p50 against model;\n"
			"# rq50%%, rq99%%: each request against the model's latency for it\n"
			"# (its due time, queueing included): p50 and p99 of the error\n");
		if (o->bw)
			fprintf(out,
				"# --bw: no per-operation timestamps, latencies not measured\n");
		if (o->same_buffer)
			fprintf(out,
				"# --same-buffer: every operation of a size moves the same bytes "
				"(one message per side)\n");
		if (o->gap_ns)
			fprintf(out, "# --gap: %llu ns before each operation, %s\n",
				(unsigned long long)o->gap_ns, o->gap_sleep ? "slept" : "spun");
		if (o->span)
			fprintf(out, "# --span: %llu bytes cycled over, a new page each time\n",
				(unsigned long long)o->span);
		print_columns(out, o->fmt);
	}
	fflush(out);
}

/* The six latencies of a result as text in l, pointed to by f: fmt, or
 * none where not measured. */
static void lat_figs(char l[6][32], const char *f[6], const double lat[6], const char *fmt,
		     const char *none)
{
	for (int j = 0; j < 6; j++)
		f[j] = exp_fig(l[j], sizeof(l[j]), fmt, lat[j], none);
}

/* The line (or JSON object, i-th of the list) of one size. */
static void print_result(FILE *out, const struct opts *o, const struct result *res, unsigned i)
{
	double late_pct = res->counted ? 100.0 * (double)res->late / (double)res->counted : 0;
	/* The latencies, NAN (not measured) with --bw. */
	static const char *const lat_name[6] = { "t_min_ns", "t_p50_ns",  "t_avg_ns",
						 "t_p99_ns", "t_p999_ns", "t_max_ns" };
	const double lat[6] = { res->min, res->p50, res->avg, res->p99, res->p999, res->max };
	const char *f[6];
	char l[6][32], err[32], model[32], rq[2][32];
	if (o->fmt == EXP_FMT_JSON) {
		fprintf(out, "%s\n    {\"size\": %llu, \"iterations\": %llu", i ? "," : "",
			(unsigned long long)res->size, (unsigned long long)res->iters);
		for (int j = 0; j < 6; j++)
			exp_json_field(out, lat_name[j], lat[j], 1);
		exp_json_field(out, "target_ns", res->target, 3);
		exp_json_field(out, "p50_err_pct", res->err_pct, 3);
		fprintf(out,
			", \"late\": %llu, \"late_pct\": %.3f, \"bw_MBps\": %.1f, \"mops\": "
			"%.4f, \"errors\": %u",
			(unsigned long long)res->late, late_pct, res->mbps, res->mops, res->errors);
		exp_json_field(out, "model_ns", res->model, 3);
		exp_json_field(out, "req_err_p50_pct", res->req_err_p50, 3);
		exp_json_field(out, "req_err_p99_pct", res->req_err_p99, 3);
		exp_json_field(out, "agent_ns", res->agent_ns, 1);
		exp_json_field(out, "agent_mops", res->agent_mops, 4);
		exp_json_field(out, "vs_agent", res->vs_agent, 3);
		fprintf(out, ", \"seen_sync\": %llu, \"seen_late\": %llu}",
			(unsigned long long)res->seen, (unsigned long long)res->seen_late);
	} else if (o->fmt == EXP_FMT_CSV) {
		lat_figs(l, f, lat, "%.1f", "");
		fprintf(out,
			"%llu,%llu,%s,%s,%s,%s,%s,%s,%.1f,%s,%llu,%.3f,%.1f,%.4f,%u,%s,%s,%s\n",
			(unsigned long long)res->size, (unsigned long long)res->iters, f[0], f[1],
			f[2], f[3], f[4], f[5], res->target,
			exp_fig(err, sizeof(err), "%.3f", res->err_pct, ""),
			(unsigned long long)res->late, late_pct, res->mbps, res->mops, res->errors,
			exp_fig(model, sizeof(model), "%.1f", res->model, ""),
			exp_fig(rq[0], sizeof(rq[0]), "%.3f", res->req_err_p50, ""),
			exp_fig(rq[1], sizeof(rq[1]), "%.3f", res->req_err_p99, ""));
	} else {
		/* %9s of "%.0f" is %9.0f; "-" where not measured. */
		lat_figs(l, f, lat, "%.0f", "-");
		fprintf(out,
			"%9llu %9s %9s %9s %9s %9s %10s %9.0f %9s %8s %7.2f %10.1f %8.3f %7s %7s\n",
			(unsigned long long)res->size, f[0], f[1], f[2], f[3], f[4], f[5],
			res->target, exp_fig(model, sizeof(model), "%.0f", res->model, "-"),
			exp_fig(err, sizeof(err), "%+.1f", res->err_pct, "-"), late_pct, res->mbps,
			res->mops, exp_fig(rq[0], sizeof(rq[0]), "%+.1f", res->req_err_p50, "-"),
			exp_fig(rq[1], sizeof(rq[1]), "%+.1f", res->req_err_p99, "-"));
	}
	fflush(out);
}

/* The calibration rmcd uses (the path kal_describe gives first), for the
 * agent's figures. */
static void agent_ref_load(int fd, struct agent_ref *a)
{
	char desc[256], err[512];
	size_t n;
	int r;

	a->c = NULL;
	a->path[0] = '\0';
	if (kal_describe(fd, KAL_DESCRIBE_CALIBRATION, desc, sizeof(desc)) < 0 ||
	    !strcmp(desc, "none")) {
		snprintf(a->why, sizeof(a->why), "rmcd runs without a calibration");
		return;
	}
	n = strcspn(desc, ";");
	snprintf(a->path, sizeof(a->path), "%.*s", (int)n, desc);
	if (!(a->c = malloc(sizeof(*a->c)))) {
		snprintf(a->why, sizeof(a->why), "out of memory");
		return;
	}
	if ((r = cal_load(a->path, a->c, err, sizeof(err))) || !a->c->has_agent) {
		if (r)
			snprintf(a->why, sizeof(a->why), "%s", err);
		else
			snprintf(a->why, sizeof(a->why),
				 "%s was written before sonuma-calibrate measured the agent",
				 a->path);
		free(a->c);
		a->c = NULL;
	}
}

/* res against the agent: what o's mode compares. */
static void vs_agent(const struct opts *o, const struct agent_ref *a, struct result *res)
{
	res->agent_ns = res->agent_mops = res->vs_agent = NAN;
	if (!a->c || o->threads != 1)
		return;
	if (o->async && o->bw && res->size == 64 && a->c->agent_rate_64_mops > 0) {
		res->agent_mops = a->c->agent_rate_64_mops;
		res->vs_agent = res->mops / res->agent_mops;
	} else if (!o->async && isfinite(res->p50)) {
		double ns = cal_agent_floor_ns(a->c, res->size, true);
		if (ns > 0) {
			res->agent_ns = ns;
			res->vs_agent = res->p50 / ns;
		}
	}
}

/* The comparison with the agent, as comment lines after the table or the
 * CSV rows. */
static void print_vs_agent(FILE *out, const struct opts *o, const struct kal_info *info,
			   const struct agent_ref *a, const struct result *res, unsigned n)
{
	const char *op = o->op == 'r' ? "reads" : "writes (the agent's figures are reads)";
	bool compared = false;

	if (!o->bw && o->async)
		return; /* a rate with time stamps: --bw compares it */
	if (o->bw && !o->async)
		return; /* no latencies; the agent's rate is asynchronous */
	if (!a->c) {
		fprintf(out, "# vs agent: no agent figures in the calibration (%s)\n", a->why);
		return;
	}
	if (o->threads != 1) {
		fprintf(out,
			"# vs agent: not compared with %u threads (the agent has one poster)\n",
			o->threads);
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct result *r = &res[i];
		if (!isfinite(r->vs_agent))
			continue;
		if (o->bw) {
			fprintf(out,
				"# rate vs agent: %.2fx (64 B async %s: %.3f Mops here, %.3f Mops "
				"for the minimal agent of %s, %u in flight)\n",
				r->vs_agent, op, r->mops, r->agent_mops, a->path,
				a->c->agent_window);
		} else {
			if (!compared)
				fprintf(out,
					"# vs the minimal agent of %s: its synchronous in-place "
					"%s, data in cache\n",
					a->path, o->op == 'r' ? "reads" : "reads (not writes)");
			fprintf(out,
				"# p50 vs agent: %.2fx for %llu B (%.0f ns here, %.0f ns for "
				"the agent)\n",
				r->vs_agent, (unsigned long long)r->size, r->p50, r->agent_ns);
		}
		compared = true;
	}
	if (!compared)
		fprintf(out, "# vs agent: no size here that the agent measured (%s)\n",
			o->bw ? "--bw compares 64 B" : "64 B to 64 KiB");
	else if (strcmp(info->model, "none"))
		fprintf(out,
			"# vs agent: the %s model adds its own latency; the emulator's overhead "
			"shows under -m none\n",
			info->model);
}

/* After the results: lateness as this program saw it, where the model
 * gave synchronous requests due times.  rmcd counts a completion late
 * when it was written too late to arrive in time by its calibration; a
 * slower way back to this core than calibrated shows only here. */
static void print_seen_late(FILE *out, const struct result *all, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		const struct result *r = &all[i];
		if (!r->seen)
			continue;
		fprintf(out,
			"# seen late: %llu of %llu requests of %llu B (%.2f %%) came to this "
			"program after their due time (rmcd: %llu written late)\n",
			(unsigned long long)r->seen_late, (unsigned long long)r->seen,
			(unsigned long long)r->size, 100.0 * (double)r->seen_late / (double)r->seen,
			(unsigned long long)r->late);
	}
}

/* ---- --agent: the minimal polling agent instead of rmcd ------------------ */

#define AGENT_BEYOND_BYTES (256ull << 20) /* its source, beyond the caches */

/* --agent-latency in ticks, into *lt (0 without it): 0, or -EINVAL for a
 * latency below one tick. */
static int agent_lt(const struct opts *o, double hz, uint64_t *lt)
{
	*lt = (uint64_t)((double)o->agent_latency_ns * hz / 1e9);
	return o->agent_latency_ns && !*lt ? -EINVAL : 0;
}

/* Results of the agent under --agent-latency: against the latency it gave
 * each read, as against a timed model's target. */
static void agent_against_latency(const struct opts *o, struct result *res)
{
	if (!o->agent_latency_ns)
		return;
	res->target = res->model = (double)o->agent_latency_ns;
	if (isfinite(res->p50))
		res->err_pct = (res->p50 - res->model) / res->model * 100.0;
}

/* --agent-latency, async: n timed reads through the agent (exp_agent_timed),
 * each measured against the latency it was given; --bw: the rate. */
static int agent_timed(const struct opts *o, struct exp_agent *a, uint64_t size, uint64_t span,
		       unsigned w, double hz, struct result *res)
{
	uint64_t n = o->iters, ticks = 0, lt, warm = o->warmup ? o->warmup : 1;
	uint64_t *lat = NULL;
	double *e = NULL;
	int r;

	if ((r = agent_lt(o, hz, &lt)))
		return r;
	/* --bw: stamped posts, completions hidden until due, no stamps at
	 * completion (lat NULL). */
	if (!o->bw &&
	    (!(lat = exp_samples_alloc(n > warm ? n : warm)) || !(e = malloc(n * sizeof(*e))))) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = exp_agent_timed(a, size, span, w, warm, lt, lat, &ticks)) ||
	    (r = exp_agent_timed(a, size, span, w, n, lt, lat, &ticks)))
		goto out;
	res->mops = (double)n / ((double)ticks / hz) / 1e6;
	res->mbps = res->mops * (double)size;
	if (lat) {
		for (uint64_t i = 0; i < n; i++)
			e[i] = ((double)lat[i] / (double)lt - 1.0) * 100.0;
		qsort(e, n, sizeof(*e), cmp_double);
		res->req_err_p50 = e[(n - 1) / 2];
		res->req_err_p99 = e[(uint64_t)((double)(n - 1) * 0.99)];
		summarize_lat(lat, n, hz, res);
	}
	agent_against_latency(o, res);
out:
	free(lat);
	free(e);
	return r;
}

/* --agent-library: one size through the library's calls and run_sync /
 * run_async, as against rmcd, the agent in rmcd's place. */
static int agent_library(const struct opts *o, struct exp_agent *a, uint64_t size, double hz,
			 struct result *res)
{
	struct kal_info info = { .tsc_hz = hz };
	struct opts oo = *o;
	struct thr t = { .o = &oo, .info = &info, .snid = 1, .size = size };
	uint64_t lt;
	int r;

	if (!oo.outstanding || oo.outstanding > EXP_AGENT_MAX_WINDOW)
		oo.outstanding = EXP_AGENT_MAX_WINDOW;
	o = &oo;
	if ((r = agent_lt(o, hz, &lt)))
		return r;
	exp_agent_lend(a, lt, &t.wq, &t.cq, &t.lbuff, &t.lbuff_size);
	/* A window of requests in flight, at least 64 KiB of slots. */
	t.span = size * (o->async ? o->outstanding : 1);
	if (t.span < 65536)
		t.span = 65536;
	if (t.span > t.lbuff_size)
		t.span = t.lbuff_size / size * size;
	if (!o->bw &&
	    (!(t.lat = exp_samples_alloc(o->iters)) || !(t.mlat = exp_samples_alloc(o->iters)))) {
		r = -ENOMEM;
		goto out;
	}
	r = o->async ? run_async(&t, o->warmup, 0) : run_sync(&t, o->warmup, 0);
	t.t_start = rmc_rdtsc();
	if (!r)
		r = o->async ? run_async(&t, o->iters, 1) : run_sync(&t, o->iters, 1);
	t.t_end = rmc_rdtsc();
	if (!r && t.errors)
		r = -EIO;
	if (r)
		goto out;
	double secs = (double)(t.t_end - t.t_start) / hz;
	res->mops = (double)o->iters / secs / 1e6;
	res->mbps = res->mops * (double)size;
	if (t.lat) {
		summarize_lat(t.lat, o->iters, hz, res);
		agent_against_latency(o, res);
	}
out:
	exp_agent_return(a);
	free(t.lat);
	free(t.mlat);
	return r;
}

/* One size through the agent: the rate (async), timed reads
 * (--agent-latency) or each request's latency (sync), into res. */
static int agent_size(const struct opts *o, struct exp_agent *a, uint64_t size, double hz,
		      struct result *res)
{
	uint64_t n = o->iters, ticks = 0;
	int r;

	memset(res, 0, sizeof(*res));
	res->size = size;
	res->iters = n;
	res->min = res->p50 = res->avg = res->p99 = res->p999 = res->max = NAN;
	res->err_pct = res->model = res->req_err_p50 = res->req_err_p99 = NAN;
	res->agent_ns = res->agent_mops = res->vs_agent = NAN;
	if (o->agent_library)
		return agent_library(o, a, size, hz, res);
	if (o->async) {
		unsigned w = o->outstanding ? o->outstanding : EXP_AGENT_MAX_WINDOW;
		uint64_t span = size * w > 65536 ? size * w : 65536;

		if (w > EXP_AGENT_MAX_WINDOW)
			w = EXP_AGENT_MAX_WINDOW;
		if (o->agent_latency_ns)
			return agent_timed(o, a, size, span, w, hz, res);
		if ((r = exp_agent_rate(a, size, span, w, o->warmup ? o->warmup : 1, &ticks)) ||
		    (r = exp_agent_rate(a, size, span, w, n, &ticks)))
			return r;
		double secs = (double)ticks / hz;
		res->mops = (double)n / secs / 1e6;
		res->mbps = (double)n * (double)size / secs / 1e6;
		return 0;
	}
	struct gap_arg ga = { .o = o, .hz = hz };
	void (*before)(void *) = o->gap_ns ? agent_gap : NULL;
	uint64_t lt, *lat;
	if ((r = agent_lt(o, hz, &lt)))
		return r;
	if (!(lat = exp_samples_alloc(n)))
		return -ENOMEM;
	r = o->warmup ? exp_agent_sync_ex(a, size, !o->same_buffer, o->warmup < n ? o->warmup : n,
					  lt, before, &ga, lat) :
			0;
	if (!r)
		r = exp_agent_sync_ex(a, size, !o->same_buffer, n, lt, before, &ga, lat);
	if (!r) {
		double sum = 0;
		for (uint64_t i = 0; i < n; i++)
			sum += (double)lat[i];
		summarize_lat(lat, n, hz, res);
		agent_against_latency(o, res);
		res->mops = (double)n / (sum / hz) / 1e6;
		res->mbps = res->mops * (double)size;
	}
	free(lat);
	return r;
}

/* --agent CPU: every size through the minimal agent (agent.h), this thread
 * posting from the CPU it runs on, the agent on CPU; in the same formats,
 * so that a script can put its figures beside rmcd's.  0 or 1. */
static int agent_sizes(struct opts *o, int agent_cpu, const char *cmdline)
{
	uint64_t biggest = o->sizes[o->n_sizes - 1];
	/* Room for a full window of the largest size (at least 64 KiB each). */
	uint64_t room = (biggest > 65536 ? biggest : 65536) * EXP_AGENT_MAX_WINDOW;
	struct exp_agent_cfg cfg = {
		.app_cpu = sched_getcpu(),
		.agent_cpu = agent_cpu,
		.src_len = o->same_buffer || o->async ? room : AGENT_BEYOND_BYTES,
		/* Beyond the caches, the destination too, as --span moves it. */
		.dst_len = o->same_buffer || o->async ? room : AGENT_BEYOND_BYTES,
	};
	double hz = core_tsc_measure_hz(50);
	struct exp_agent *a;
	char date[32];
	FILE *out;
	int r, failed = 0;

	if (cfg.app_cpu == agent_cpu) {
		/* Another CPU this program may run on, if it has one. */
		cpu_set_t set;
		cfg.app_cpu = -1;
		if (!sched_getaffinity(0, sizeof(set), &set))
			for (int c = 0; c < CPU_SETSIZE && cfg.app_cpu < 0; c++)
				if (c != agent_cpu && CPU_ISSET(c, &set))
					cfg.app_cpu = c;
		if (cfg.app_cpu < 0) {
			fprintf(stderr,
				"sonuma-bench: --agent %d: this program may run on CPU %d only; "
				"give the agent another one\n",
				agent_cpu, agent_cpu);
			return 2;
		}
	}
	if ((r = exp_agent_start(&cfg, &a))) {
		fprintf(stderr, "sonuma-bench: the minimal agent on CPU %d: %s\n", agent_cpu,
			strerror(-r));
		return 1;
	}
	if (open_out(o, &out)) {
		exp_agent_stop(a);
		return 1;
	}
	exp_utc_date(date, sizeof(date));
	const char *mode = o->async ? "async" : "sync";
	const char *where = o->agent_library ? "; through sonuma's library (64 KiB of slots)" :
			    o->async	     ? "" :
			    o->same_buffer   ? "; data in cache" :
					       "; data beyond the caches";
	if (o->fmt == EXP_FMT_CSV || o->fmt == EXP_FMT_TABLE) {
		fprintf(out, "# sonuma-bench %s, %s: the minimal polling agent (no rmcd)\n",
			SONUMA_VERSION, date);
		fprintf(out, "# command: %s\n", cmdline);
		fprintf(out,
			"# agent: mode: %s; outstanding: %u; poster_cpu: %d; agent_cpu: %d; "
			"iters: %llu; warmup: %llu%s\n",
			mode,
			o->async ? (o->outstanding ? o->outstanding : EXP_AGENT_MAX_WINDOW) : 1,
			cfg.app_cpu, agent_cpu, (unsigned long long)o->iters,
			(unsigned long long)o->warmup, where);
		print_columns(out, o->fmt);
	} else {
		fprintf(out,
			"{\n  \"tool\": \"sonuma-bench\",\n  \"agent\": true,\n  \"date\": \"%s\",\n"
			"  \"command\": ",
			date);
		exp_json_str(out, cmdline);
		fprintf(out, ",\n  \"results\": [");
	}
	for (unsigned i = 0; i < o->n_sizes; i++) {
		struct result res;
		if ((r = agent_size(o, a, o->sizes[i], hz, &res))) {
			fprintf(stderr, "sonuma-bench: the minimal agent, %llu B: %s\n",
				(unsigned long long)o->sizes[i], strerror(-r));
			failed = 1;
			break;
		}
		print_result(out, o, &res, i);
	}
	if (o->fmt == EXP_FMT_JSON)
		fprintf(out, "\n  ]\n}\n");
	exp_agent_stop(a);
	if (close_out(o, out))
		failed = 1;
	return failed;
}

/* Every size in turn, with --samples: 0, or 1 when one failed (said on
 * stderr). */
static int run_sizes(struct opts *o, struct thr *th, struct kal_info *info, int fd, FILE *out,
		     const char *cmdline, const struct agent_ref *agent)
{
	struct result all[MAX_SIZES];
	unsigned done = 0;
	FILE *samples = NULL;
	int failed = 0, r;

	if (o->samples) {
		if (!(samples = fopen(o->samples, "w"))) {
			fprintf(stderr, "sonuma-bench: %s: %s\n", o->samples, strerror(errno));
			return 1;
		}
		fprintf(samples, "# %s\nsize,thread,index,latency_ns\n", cmdline);
	}
	for (unsigned i = 0; i < o->n_sizes; i++) {
		struct result res;
		r = run_size(o, th, info, o->sizes[i], &res, fd, samples);
		if (r) {
			fprintf(stderr, "sonuma-bench: size %llu: %s\n",
				(unsigned long long)o->sizes[i], strerror(-r));
			failed = 1;
			break;
		}
		if (res.errors) {
			fprintf(stderr,
				"sonuma-bench: size %llu: %u operation(s) failed or data wrong\n",
				(unsigned long long)res.size, res.errors);
			failed = 1;
		}
		vs_agent(o, agent, &res);
		print_result(out, o, &res, i);
		all[done++] = res;
	}
	if (o->fmt == EXP_FMT_JSON) {
		fprintf(out, "\n  ]\n}\n");
	} else {
		print_vs_agent(out, o, info, agent, all, done);
		print_seen_late(out, all, done);
	}
	if (samples && fclose(samples)) {
		fprintf(stderr, "sonuma-bench: %s: %s\n", o->samples, strerror(errno));
		failed = 1;
	}
	return failed;
}

int main(int argc, char **argv)
{
	struct cli c = {
		.o = { .op = 'r',
		       .threads = 1,
		       .target = -1,
		       .iters = 10000,
		       .warmup = 1000,
		       .verify = 1 },
		.mo = { .slots = RMC_MSG_DEFAULT_SLOTS },
		.max_size = 65536,
		.pp_cpu = -1,
		.agent_cpu = -1,
	};
	struct opts *o = &c.o;
	struct thr th[MAX_THREADS];
	struct kal_info info;
	char cmdline[1024] = "";
	uint64_t region;
	int fd, r, failed;
	FILE *out;

	exp_cmdline(cmdline, sizeof(cmdline), argc, argv);
	if ((r = parse_args(&c, argc, argv)))
		return r;
	if (c.pp_cpu >= 0)
		return pingpong(c.pp_cpu, o->iters, o->warmup);
	if ((r = plan_sizes(&c)))
		return r;
	if (c.agent_cpu >= 0)
		return agent_sizes(o, c.agent_cpu, cmdline);
	if (attach(&fd, &info))
		return 1;
	if (o->target < 0)
		o->target = (int)((info.nid + 1) % info.nodes);
	if ((unsigned)o->target >= info.nodes)
		BAD("--target: node %d does not exist (the cluster has %u nodes)", o->target,
		    info.nodes);
	if (c.msg_pp) {
		if ((r = msg_plan(o, &c.mo, &info)))
			return r;
		if (open_out(o, &out))
			return 1;
		r = msg_pingpong(o, &c.mo, fd, &info, out, cmdline);
		if (close_out(o, out))
			r = 1;
		kal_close(fd);
		return r;
	}
	if ((r = plan_region(o, &info, &region)))
		return r;
	if (open_out(o, &out))
		return 1;
	memset(th, 0, sizeof(th));
	if (open_threads(o, th, fd, &info, region))
		return 1;
	struct agent_ref agent;
	agent_ref_load(fd, &agent);
	print_header(out, o, &info, fd, cmdline);
	failed = run_sizes(o, th, &info, fd, out, cmdline, &agent);
	free(agent.c);
	if (close_out(o, out))
		failed = 1;
	for (unsigned i = 0; i < o->threads; i++) {
		free(th[i].lat);
		free(th[i].mlat);
	}
	kal_close(fd);
	return failed;
}
