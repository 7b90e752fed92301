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
#include <sched.h>
#include <stdarg.h>
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

/* In a parse function: says what is wrong, then how to call prog, and
 * returns 2. */
#define APP_BAD(prog, usage, ...)                       \
	do {                                            \
		fprintf(stderr, prog ": " __VA_ARGS__); \
		fprintf(stderr, "\n");                  \
		usage(stderr);                          \
		return 2;                               \
	} while (0)

/* Their getopt_long entries and letters. */
#define APP_LONG_OPTIONS                                                                     \
	{ "seed", required_argument, NULL, 'S' }, { "procs", required_argument, NULL, 'P' }, \
		{ "barrier-timeout", required_argument, NULL, 'B' },                         \
		{ "format", required_argument, NULL, 'f' },                                  \
		{ "output", required_argument, NULL, 'o' },                                  \
		{ "csv", required_argument, NULL, 'c' },                                     \
		{ "label", required_argument, NULL, 'l' },                                   \
	{                                                                                    \
		"help", no_argument, NULL, 'h'                                               \
	}
#define APP_SHORT_OPTIONS "S:P:f:o:l:h"

/* One of those options, --help (the usage, and exit) or an option getopt
 * did not know: 0 when taken, or 2 after saying what is wrong (and how to
 * call prog). */
static inline int app_parse_opt(struct app_opts *c, const char *prog, void (*usage)(FILE *),
				int opt, const char *arg)
{
	uint64_t v;

	switch (opt) {
	case 'S':
		if (exp_parse_u64(arg, 0, UINT64_MAX, &c->seed))
			goto bad;
		return 0;
	case 'P':
		if (exp_parse_u64(arg, 1, APP_MAX_PROCS, &v))
			goto bad;
		c->procs = (unsigned)v;
		return 0;
	case 'B':
		if (exp_parse_double(arg, 1, 86400, &c->barrier_timeout))
			goto bad;
		return 0;
	case 'f':
		if (exp_parse_fmt(arg, &c->fmt))
			goto bad;
		return 0;
	case 'o':
		c->out = arg;
		return 0;
	case 'c':
		c->csv = arg;
		return 0;
	case 'l':
		c->label = arg;
		return 0;
	case 'h':
		usage(stdout);
		exit(0);
	default:
		usage(stderr);
		return 2;
	}
bad:
	switch (opt) {
	case 'S':
		fprintf(stderr, "%s: --seed: a number, not \"%s\"\n", prog, arg);
		break;
	case 'P':
		fprintf(stderr, "%s: --procs: 1 to %u, not \"%s\"\n", prog, APP_MAX_PROCS, arg);
		break;
	case 'B':
		fprintf(stderr, "%s: --barrier-timeout: 1 to 86400 seconds, not \"%s\"\n", prog,
			arg);
		break;
	default:
		fprintf(stderr, "%s: --format: table, csv or json, not \"%s\"\n", prog, arg);
		break;
	}
	usage(stderr);
	return 2;
}

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
