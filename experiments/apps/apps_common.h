/* SPDX-License-Identifier: MIT */
/*
 * What the soNUMA applications (sonuma-kv, sonuma-pagerank) share beyond
 * explib (numbers, formats, histogram, random stream): attaching to a node
 * with clear errors, a queue pair, and a barrier across every process of
 * the cluster built on fetch-and-add in node 0's context.
 *
 * Every node's context starts with two pages of control words (APP_CTRL_SIZE):
 *   [0, 64)          the application's descriptor of what its context holds
 *   [64, 4096)       application words (pagerank: its reductions)
 *   [4096, 8192)     node 0 only: the barrier counters, one 64-byte line per
 *                    cluster size P (counter of P at 4096 + 64 (P - 1)), so
 *                    that runs with different numbers of processes on one
 *                    rmcd never share a counter
 * followed by each application's own areas.
 */
#ifndef SONUMA_APPS_COMMON_H
#define SONUMA_APPS_COMMON_H

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "explib.h"
#include "sonuma.h"

#define APP_CTRL_SIZE 8192u
#define APP_BARRIER_BASE 4096u
#define APP_MAX_PROCS 64u

/* ---- small helpers ------------------------------------------------------ */

static inline uint64_t app_round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

static inline double app_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the options both take ----------------------------------------------- */

struct app_opts {
	unsigned procs; /* 0: one per node */
	uint64_t seed;
	double barrier_timeout; /* seconds */
	enum exp_fmt fmt;
	const char *out;
	const char *csv; /* also the CSV form there */
	const char *label;
};

/* The options both take, into struct app_opts. */
#define APP_OPT(f) offsetof(struct app_opts, f)
static const struct exp_opt app_common_opts[] = {
	EXP_OPT_INTS(EXP_OPT_U64, 'S', "seed", APP_OPT(seed), 0, UINT64_MAX, 0, "a number"),
	EXP_OPT_INTS(EXP_OPT_UINT, 'P', "procs", APP_OPT(procs), 1, APP_MAX_PROCS, 0, NULL),
	EXP_OPT_DBL(0, "barrier-timeout", APP_OPT(barrier_timeout), 1, 86400, "1 to 86400 seconds"),
	EXP_OPT_ARG(EXP_OPT_FMT, 'f', "format", APP_OPT(fmt)),
	EXP_OPT_ARG(EXP_OPT_STR, 'o', "output", APP_OPT(out)),
	EXP_OPT_ARG(EXP_OPT_STR, 0, "csv", APP_OPT(csv)),
	EXP_OPT_ARG(EXP_OPT_STR, 'l', "label", APP_OPT(label)),
	EXP_OPT_ARG(EXP_OPT_HELP, 'h', "help", 0),
};
#undef APP_OPT

/* What is checked once every option is read: 0, or 2 after saying why. */
static inline int app_check_opts(const struct app_opts *c, const char *prog, void (*usage)(FILE *),
				 int argc, char **argv)
{
	if (optind < argc)
		fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog, argv[optind]);
	else if (c->label && strpbrk(c->label, ",\"\n"))
		fprintf(stderr, "%s: --label: no commas, quotes or newlines\n", prog);
	else
		return 0;
	usage(stderr);
	return 2;
}

/*
 * Reads the command line: the program's own options (n rows of own) into
 * options, the ones both take into app, then app_check_opts.  0, or 2
 * after saying what is wrong and how to call prog.
 */
static inline int app_parse(int argc, char **argv, const char *prog, void (*usage)(FILE *),
			    const struct exp_opt *own, size_t n, void *options,
			    struct app_opts *app)
{
	const struct exp_cli cli = { .prog = prog, .usage = usage };
	const struct exp_opts sets[] = {
		{ own, n, options },
		{ app_common_opts, sizeof(app_common_opts) / sizeof(app_common_opts[0]), app },
	};
	int r = exp_parse_opts(&cli, sets, 2, argc, argv);

	return r ? r : app_check_opts(app, prog, usage, argc, argv);
}

/* ---- attaching ------------------------------------------------------------ */

struct app {
	const char *prog;
	int fd;
	struct kal_info info;
	uint8_t *ctx; /* this node's context 0, mapped whole */
	char model[160];
};

static inline void app_err(const struct app *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void app_err(const struct app *a, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", a->prog);
	if (a->fd >= 0)
		fprintf(stderr, "node %u: ", a->info.nid);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Attaches to this process's node ($SONUMA_NODE under $SONUMA_RUNDIR) and
 * maps its context.  0, or 1 after saying why on stderr. */
static inline int app_attach(struct app *a, const char *prog)
{
	const char *node = getenv("SONUMA_NODE"), *dir = getenv("SONUMA_RUNDIR");
	int r;

	memset(a, 0, sizeof(*a));
	a->prog = prog;
	a->fd = -1;
	r = kal_open((char *)RMC_DEV);
	if (r < 0) {
		fprintf(stderr,
			"%s: cannot attach to node %s (run directory %s): %s\n"
			"%s: is rmcd running, with that many nodes, in that run directory? Start "
			"each process with\n%s:   sonuma-run -n NODE [-r RUNDIR] -- %s ...\n",
			prog, node ? node : "0 ($SONUMA_NODE is not set)",
			dir ? dir : "the default ($SONUMA_RUNDIR is not set)", strerror(-r), prog,
			prog, prog);
		return 1;
	}
	a->fd = r;
	if ((r = kal_info(a->fd, &a->info))) {
		fprintf(stderr, "%s: rmcd does not answer: %s\n", prog, strerror(-r));
		return 1;
	}
	if (a->info.context_size < APP_CTRL_SIZE + 4096) {
		app_err(a,
			"the context is only %llu bytes; this program needs more than %u "
			"(cluster.context_pages in rmc.conf)",
			(unsigned long long)a->info.context_size, APP_CTRL_SIZE + 4096);
		return 1;
	}
	if ((r = kal_reg_ctx(a->fd, &a->ctx, (uint32_t)(a->info.context_size / PAGE_SIZE)))) {
		app_err(a, "cannot map this node's context: %s", strerror(-r));
		return 1;
	}
	if (kal_describe(a->fd, 0, a->model, sizeof(a->model)) < 0)
		snprintf(a->model, sizeof(a->model), "%s", a->info.model);
	return 0;
}

/* One queue pair and its local buffer. */
struct app_qp {
	rmc_wq_t *wq;
	rmc_cq_t *cq;
	uint8_t *lbuf;
	uint64_t lbuf_size;
};

static inline int app_qp_open(struct app *a, struct app_qp *q, uint64_t lbuf_bytes)
{
	int r;

	memset(q, 0, sizeof(*q));
	q->lbuf_size = app_round_up(lbuf_bytes ? lbuf_bytes : PAGE_SIZE, PAGE_SIZE);
	if ((r = kal_reg_wq(a->fd, &q->wq)) || (r = kal_reg_cq(a->fd, &q->cq)) ||
	    (r = kal_reg_lbuff(a->fd, &q->lbuf, (uint32_t)(q->lbuf_size / PAGE_SIZE)))) {
		app_err(a, "cannot register a queue pair with a %llu-byte buffer: %s",
			(unsigned long long)q->lbuf_size, strerror(-r));
		return 1;
	}
	return 0;
}

/* Reads size bytes at remote_off of node's context 0 into dst, in pieces
 * that fit the maximum transfer and q's local buffer from lbuf_off, each
 * read rounded up to whole 64-byte lines.  0, or the -errno of the read
 * that failed. */
static inline int app_fetch(struct app_qp *q, uint64_t max_transfer, uint64_t lbuf_off,
			    unsigned node, uint64_t remote_off, void *dst, uint64_t size)
{
	uint64_t chunk = max_transfer / 64 * 64, room = (q->lbuf_size - lbuf_off) / 64 * 64;

	if (chunk > room)
		chunk = room;
	for (uint64_t off = 0; off < size; off += chunk) {
		uint64_t len = size - off < chunk ? size - off : chunk;
		int r = rmc_rread_sync(q->wq, q->cq, q->lbuf, lbuf_off, (int)node, 0,
				       remote_off + off, app_round_up(len, 64));
		if (r)
			return r;
		memcpy((uint8_t *)dst + off, q->lbuf + lbuf_off, len);
	}
	return 0;
}

/* A message for a failed request (-errno from a sync call). */
static inline const char *app_rmc_err(int r)
{
	return r == -ENOTCONN ? "rmcd is gone" : strerror(-r);
}

/* Node 0 gathering: process p's report, size bytes at off of its context
 * beginning with the 64-bit magic, into rep through q's local buffer from
 * lbuf_off.  0, -EIO when p left none, or the -errno of the read; said on
 * stderr, a failed read as "FAILED node P's report: why". */
static inline int app_fetch_report(const struct app *a, struct app_qp *q, uint64_t lbuf_off,
				   unsigned p, uint64_t off, void *rep, uint64_t size,
				   uint64_t magic, const char *failed)
{
	uint64_t m;
	int r = app_fetch(q, a->info.max_transfer, lbuf_off, p, off, rep, size);

	if (r) {
		app_err(a, "%s node %u's report: %s", failed, p, app_rmc_err(r));
		return r;
	}
	memcpy(&m, rep, sizeof(m));
	if (m != magic) {
		app_err(a, "node %u left no report", p);
		return -EIO;
	}
	return 0;
}

/* How many processes take part (--procs, or one per node) into *procs,
 * checked against the cluster and this node: 0, or 2 after saying why
 * (with the usage when --procs is wrong). */
static inline int app_take_part(const struct app *a, unsigned want, void (*usage)(FILE *),
				unsigned *procs)
{
	const struct kal_info *in = &a->info;

	*procs = want ? want : in->nodes;
	if (*procs > in->nodes || *procs > APP_MAX_PROCS) {
		fprintf(stderr, "%s: --procs %u: the cluster has %u nodes (one process per node)\n",
			a->prog, *procs, in->nodes);
		usage(stderr);
		return 2;
	}
	if (in->nid >= *procs) {
		fprintf(stderr,
			"%s: this is node %u, but only nodes 0..%u take part (--procs %u)\n",
			a->prog, in->nid, *procs - 1, *procs);
		return 2;
	}
	return 0;
}

/* ---- the barrier ---------------------------------------------------------- */

/* Counter of a cluster of procs processes: a line of node 0's context. */
static inline uint64_t app_barrier_off(unsigned procs)
{
	return APP_BARRIER_BASE + 64ull * (procs - 1);
}

/*
 * Waits until all procs processes have arrived.  A generation counter: the
 * counter only grows; arrival k (0-based, from fetch-and-add's old value)
 * belongs to generation k / procs, which is complete once the counter
 * reaches (k / procs + 1) procs.  Nothing is ever reset, so the barrier
 * can be used again at once, and a later run with the same number of
 * processes on the same rmcd continues where the last one ended.  Waiting
 * polls the counter with remote reads (64 bytes: the line holding it).
 * Uses the 64 bytes at q->lbuf + lbuf_off.  After spin_polls polls (each
 * followed by sched_yield) it naps nap_ns between polls.  0, -ETIMEDOUT
 * after timeout_s, or -errno of a failed request.
 */
static inline int app_barrier_nap(struct app_qp *q, uint64_t lbuf_off, unsigned procs,
				  double timeout_s, unsigned spin_polls, long nap_ns)
{
	uint64_t off = app_barrier_off(procs), old, target, cur;
	unsigned polls = 0;
	double deadline = 0;
	int r;

	if (procs <= 1)
		return 0;
	if ((r = rmc_faa_sync(q->wq, q->cq, q->lbuf, lbuf_off, 0, 0, off, 1, &old)))
		return r;
	target = (old / procs + 1) * procs;
	for (;;) {
		if ((r = rmc_rread_sync(q->wq, q->cq, q->lbuf, lbuf_off, 0, 0, off, 64)))
			return r;
		memcpy(&cur, q->lbuf + lbuf_off, sizeof(cur));
		if (cur >= target)
			return 0;
		/* The machine may have fewer CPUs than processes: let the others
		 * (and rmcd) run between polls, after a while nap, and look at the
		 * clock rarely. */
		if (++polls % 16 == 0) {
			double now = app_now();
			if (!deadline)
				deadline = now + timeout_s;
			else if (now > deadline)
				return -ETIMEDOUT;
		}
		if (polls > spin_polls) {
			struct timespec nap = { nap_ns / 1000000000L, nap_ns % 1000000000L };
			nanosleep(&nap, NULL);
		} else {
			sched_yield();
		}
	}
}

/* Says on stderr why a barrier (what: which one) of procs processes
 * failed with r; nothing when r is 0. */
static inline void app_barrier_err(const struct app *a, int r, const char *what, unsigned procs,
				   double timeout_s)
{
	if (r == -ETIMEDOUT)
		app_err(a,
			"gave up after %.0f s waiting for the other processes (%s): did one fail, or "
			"not start? (%u processes expected, one per node 0..%u)",
			timeout_s, what, procs, procs - 1);
	else if (r)
		app_err(a, "barrier (%s): %s", what, app_rmc_err(r));
}

/* The usual barrier: 256 polls, then naps of 20 us. */
static inline int app_barrier(struct app_qp *q, uint64_t lbuf_off, unsigned procs, double timeout_s)
{
	return app_barrier_nap(q, lbuf_off, procs, timeout_s, 256, 20000);
}

#endif /* SONUMA_APPS_COMMON_H */
