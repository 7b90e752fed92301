/* SPDX-License-Identifier: MIT */
/*
 * sonuma-pagerank: PageRank over a power-law graph partitioned across the
 * nodes of an emulated soNUMA cluster.
 *
 * One process per node (sonuma-run -n NODE -- sonuma-pagerank ...).  Every
 * process generates the same R-MAT graph from the seed (vertex ids shuffled
 * by a seeded permutation, so that the high-degree vertices spread over the
 * nodes), and keeps in its context what it owns: a range of vertices [lo,
 * hi) whose bounds are multiples of 8 (so that a 64-byte block of the rank
 * arrays belongs to one node), their in-edges as CSR, their ranks, and two
 * arrays of contributions rank / out-degree (double-buffered: iteration i
 * reads buffer i % 2 and writes the other).
 *
 * An iteration (pull-based):
 *   fetch    every 64-byte block of contributions of other nodes that one of
 *            this node's in-edges needs (found once, at set-up), adjacent
 *            blocks merged into reads of up to --max-read bytes, posted with
 *            rmc_rread_async, --outstanding of them in flight;
 *   compute  new rank of v = (1 - d) / n + d * (sum of in-neighbours'
 *            contributions) + d * dangling / n, where dangling is the rank
 *            held by vertices without out-edges;
 *   publish  the new contributions into the other buffer; this node's sum
 *            of dangling rank and of |new - old| go to node 0 by
 *            fetch-and-add (fixed point, 2^-50);
 *   barrier  on fetch-and-add of a generation counter in node 0's context
 *            (apps_common.h); then one remote read of node 0's two sums.
 * Double buffering needs one barrier per iteration: a node writes buffer
 * (i + 1) % 2 only after every node passed barrier i - 1, i.e. finished
 * reading it in iteration i - 1.
 *
 * At the end every process leaves its timings in its context; process 0
 * reads them and every node's ranks with remote reads, runs the same
 * PageRank alone in-process on the whole graph, and compares: the largest
 * absolute difference must be below --tolerance and the top vertices must
 * be the same (up to ties closer than the tolerance).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apps_common.h"

#define PROG "sonuma-pagerank"
#define PR_MAX_ITERS 190	  /* reduction pairs fit node 0's control page */
#define PR_RED_OFF 1024u	  /* in node 0's context: pairs per iteration */
#define PR_FIX 1125899906842624.0 /* 2^50 */
#define PR_REPORT_MAGIC 0x3154504552525053ull
#define PR_MAX_TOP 100

struct opts {
	uint64_t vertices, edges;
	unsigned iters;
	double damping;
	unsigned outstanding;
	uint64_t max_read;
	double tolerance;
	unsigned top;
	bool check;
	double a, b, c; /* R-MAT quadrant probabilities (d = 1 - a - b - c) */
	const char *iter_out;
	struct app_opts app; /* procs, seed, barrier_timeout, fmt, out, csv, label */
};

/* What each process leaves in its context for process 0. */
struct pr_report {
	uint64_t magic;
	uint32_t nid, iters;
	uint64_t vertices, in_edges, remote_edges;
	uint64_t reads_per_iter, bytes_per_iter;
	uint64_t errors;
	double setup_s;
	double t_iter[PR_MAX_ITERS];
	double t_fetch[PR_MAX_ITERS], t_compute[PR_MAX_ITERS], t_sync[PR_MAX_ITERS];
	double delta[PR_MAX_ITERS];
};

struct read_op {
	uint32_t node;
	uint64_t first; /* global vertex id of its first contribution (a multiple of 8) */
	uint32_t blocks;
};

struct pr {
	struct opts o;
	struct app a;
	unsigned procs, me;
	uint64_t n, m;
	uint64_t *lo;	     /* lo[p], p = 0..procs; lo[procs] = n */
	uint32_t *src, *dst; /* the edges */
	uint32_t *outdeg;
	/* this node's part, in its context */
	uint64_t cnt;
	uint64_t report_off;
	uint32_t *csr_off, *csr_nbr; /* pointers into the context */
	double *contrib[2], *rank;
	/* local buffer: control words at 0, then the contribution array of
	 * every vertex (global ids) at GH */
	struct app_qp q;
	struct read_op *plan;
	uint64_t nplan, plan_bytes;
	double ns_per_tick;
	struct pr_report rep;
};

#define LB_BARRIER 0
#define LB_RED 64
#define LB_ATOM 128
#define LB_GH 4096

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sonuma-run -n NODE -- sonuma-pagerank [options]   (one process per node)\n"
		"PageRank of an R-MAT graph partitioned over the nodes, remote ranks fetched\n"
		"with asynchronous remote reads; process 0 checks the result against a\n"
		"single-node computation and reports the time per iteration.\n"
		"  -V, --vertices N        vertices (default 16384)\n"
		"  -E, --edges M           edges (default 8 per vertex)\n"
		"  -S, --seed N            seed of the graph (default 1)\n"
		"      --rmat A,B,C        R-MAT quadrant probabilities (default\n"
		"                          0.57,0.19,0.19; D = 1 - A - B - C)\n"
		"  -i, --iters N           iterations (default 10, at most %d)\n"
		"  -d, --damping D         damping factor (default 0.85)\n"
		"  -w, --outstanding N     remote reads in flight (default 16)\n"
		"  -r, --max-read BYTES    adjacent 64-byte blocks are merged into reads of\n"
		"                          up to this size, a multiple of 64 (default 512)\n"
		"      --tolerance T       largest absolute difference from the single-node\n"
		"                          result accepted (default 1e-9)\n"
		"      --top K             vertices compared by rank (default 10)\n"
		"      --no-check          skip the single-node comparison\n"
		"  -P, --procs N           processes taking part, one per node 0..N-1\n"
		"                          (default: one per node of the cluster)\n"
		"      --barrier-timeout S give up waiting for the other processes after S\n"
		"                          seconds (default 120)\n"
		"  -f, --format table|csv|json  output format (default table)\n"
		"  -o, --output FILE       write there instead of standard output\n"
		"      --csv FILE          also write the CSV form there\n"
		"      --iter-output FILE  process 0: also per-iteration CSV there\n"
		"  -l, --label NAME        a name recorded in the output (e.g. the config)\n"
		"  -h, --help              this text\n"
		"Exit status: 0 when the check passed, 1 on an error or a failed check,\n"
		"2 on bad usage.\n",
		PR_MAX_ITERS);
}

/* ---- graph ----------------------------------------------------------------- */

static int gen_graph(struct pr *pr)
{
	const struct opts *o = &pr->o;
	uint64_t n = pr->n, m = pr->m;
	unsigned scale = 0;
	struct exp_rng rng;
	uint32_t *perm;

	while ((1ull << scale) < n)
		scale++;
	pr->src = malloc(m * sizeof(uint32_t));
	pr->dst = malloc(m * sizeof(uint32_t));
	pr->outdeg = calloc(n, sizeof(uint32_t));
	perm = malloc(n * sizeof(uint32_t));
	if (!pr->src || !pr->dst || !pr->outdeg || !perm)
		return -ENOMEM;
	exp_rng_seed(&rng, o->app.seed ^ 0x524d4154ull);
	for (uint64_t e = 0; e < m; e++) {
		uint64_t u, v;
		do {
			u = v = 0;
			for (unsigned s = 0; s < scale; s++) {
				double r = exp_rng_unit(&rng);
				unsigned qu = r >= o->a + o->b,
					 qv = (r >= o->a && r < o->a + o->b) ||
					      r >= o->a + o->b + o->c;
				u = u << 1 | qu;
				v = v << 1 | qv;
			}
		} while (u >= n || v >= n || u == v);
		pr->src[e] = (uint32_t)u;
		pr->dst[e] = (uint32_t)v;
	}
	/* A seeded shuffle of the ids: R-MAT's heavy vertices are the low ids. */
	for (uint64_t i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	for (uint64_t k = n; k > 1; k--) { /* k: the ids still to place */
		uint64_t j = exp_rng_below(&rng, k);
		uint32_t t = perm[k - 1];
		perm[k - 1] = perm[j];
		perm[j] = t;
	}
	for (uint64_t e = 0; e < m; e++) {
		pr->src[e] = perm[pr->src[e]];
		pr->dst[e] = perm[pr->dst[e]];
		pr->outdeg[pr->src[e]]++;
	}
	free(perm);
	return 0;
}

static unsigned owner_of(const struct pr *pr, uint64_t u)
{
	unsigned l = 0, h = pr->procs; /* lo[l] <= u < lo[h] */
	while (h - l > 1) {
		unsigned mid = (l + h) / 2;
		if (pr->lo[mid] <= u)
			l = mid;
		else
			h = mid;
	}
	return l;
}

/* Bytes of one contribution (or rank) array of node p in its context. */
static uint64_t arr_bytes(const struct pr *pr, unsigned p)
{
	uint64_t c = pr->lo[p + 1] - pr->lo[p];
	return app_round_up(c ? c * 8 : 64, PAGE_SIZE);
}

static uint64_t contrib_off(const struct pr *pr, unsigned p, unsigned b)
{
	return pr->report_off + app_round_up(sizeof(struct pr_report), PAGE_SIZE) +
	       (uint64_t)b * arr_bytes(pr, p);
}

static uint64_t rank_off(const struct pr *pr, unsigned p)
{
	return contrib_off(pr, p, 2);
}

/* The one formula, used by the distributed and the single-node runs alike,
 * so that both round the same way. */
static inline double pr_new_rank(double sum, double dangling, double d, double n)
{
	return (1.0 - d) / n + d * sum + d * dangling / n;
}

/* ---- set-up ------------------------------------------------------------------ */

static int setup(struct pr *pr)
{
	struct app *a = &pr->a;
	uint64_t lo = pr->lo[pr->me], hi = pr->lo[pr->me + 1];
	uint64_t *indeg_pos = NULL;
	uint64_t off;

	pr->cnt = hi - lo;
	pr->report_off = APP_CTRL_SIZE;
	off = rank_off(pr, pr->me) + arr_bytes(pr, pr->me);
	uint64_t in_edges = 0;
	for (uint64_t e = 0; e < pr->m; e++)
		in_edges += pr->dst[e] >= lo && pr->dst[e] < hi;
	uint64_t need = off + app_round_up((pr->cnt + 1) * 4, 64) + in_edges * 4;
	if (need > a->info.context_size) {
		app_err(a,
			"this node's part of the graph (%llu vertices, %llu in-edges) needs %llu B of "
			"context; the context has %llu B (fewer vertices or edges, more nodes, or a "
			"larger cluster.context_pages)",
			(unsigned long long)pr->cnt, (unsigned long long)in_edges,
			(unsigned long long)need, (unsigned long long)a->info.context_size);
		return 2;
	}
	pr->contrib[0] = (double *)(a->ctx + contrib_off(pr, pr->me, 0));
	pr->contrib[1] = (double *)(a->ctx + contrib_off(pr, pr->me, 1));
	pr->rank = (double *)(a->ctx + rank_off(pr, pr->me));
	pr->csr_off = (uint32_t *)(a->ctx + off);
	pr->csr_nbr = (uint32_t *)(a->ctx + off + app_round_up((pr->cnt + 1) * 4, 64));

	/* In-edges as CSR, each vertex's in the order of the edge list. */
	indeg_pos = calloc(pr->cnt + 1, sizeof(uint64_t));
	if (!indeg_pos)
		return 1;
	for (uint64_t e = 0; e < pr->m; e++)
		if (pr->dst[e] >= lo && pr->dst[e] < hi)
			indeg_pos[pr->dst[e] - lo + 1]++;
	for (uint64_t i = 0; i < pr->cnt; i++)
		indeg_pos[i + 1] += indeg_pos[i];
	for (uint64_t i = 0; i <= pr->cnt; i++)
		pr->csr_off[i] = (uint32_t)indeg_pos[i];
	for (uint64_t e = 0; e < pr->m; e++)
		if (pr->dst[e] >= lo && pr->dst[e] < hi)
			pr->csr_nbr[indeg_pos[pr->dst[e] - lo]++] = pr->src[e];
	free(indeg_pos);

	/* The remote blocks this node needs, merged into reads. */
	uint64_t nblocks = (pr->n + 7) / 8, remote_edges = 0;
	uint8_t *need_blk = calloc(nblocks, 1);
	if (!need_blk)
		return 1;
	for (uint64_t i = 0; i < in_edges; i++) {
		uint32_t u = pr->csr_nbr[i];
		if (u < lo || u >= hi) {
			need_blk[u / 8] = 1;
			remote_edges++;
		}
	}
	uint64_t per_read = pr->o.max_read / 64, cap = 16;
	pr->plan = malloc(cap * sizeof(*pr->plan));
	if (!pr->plan)
		return 1;
	pr->nplan = 0;
	pr->plan_bytes = 0;
	for (uint64_t g = 0; g < nblocks;) {
		if (!need_blk[g]) {
			g++;
			continue;
		}
		unsigned p = owner_of(pr, g * 8);
		uint64_t end_blk = (pr->lo[p + 1] + 7) / 8, k = g;
		while (k < end_blk && need_blk[k] && k - g < per_read)
			k++;
		if (pr->nplan == cap) {
			cap *= 2;
			struct read_op *np = realloc(pr->plan, cap * sizeof(*np));
			if (!np)
				return 1;
			pr->plan = np;
		}
		pr->plan[pr->nplan++] =
			(struct read_op){ .node = p, .first = g * 8, .blocks = (uint32_t)(k - g) };
		pr->plan_bytes += (k - g) * 64;
		g = k;
	}
	free(need_blk);
	pr->rep.vertices = pr->cnt;
	pr->rep.in_edges = in_edges;
	pr->rep.remote_edges = remote_edges;
	pr->rep.reads_per_iter = pr->nplan;
	pr->rep.bytes_per_iter = pr->plan_bytes;

	/* Iteration 0's ranks and contributions. */
	for (uint64_t i = 0; i < pr->cnt; i++) {
		double r0 = 1.0 / (double)pr->n;
		uint32_t od = pr->outdeg[lo + i];
		pr->rank[i] = r0;
		pr->contrib[0][i] = od ? r0 / od : 0.0;
	}
	return 0;
}

/* ---- iterations ------------------------------------------------------------------ */

struct fetch_state {
	uint64_t done, errors;
	int first_status;
};

static void on_read(uint8_t tid, wq_entry_t *head, void *owner)
{
	struct fetch_state *st = owner;
	(void)tid;
	if (head->status != RMC_OK) {
		if (!st->errors)
			st->first_status = head->status;
		st->errors++;
	}
	st->done++;
}

static int fetch(struct pr *pr, unsigned b)
{
	struct fetch_state st = { 0, 0, 0 };
	rmc_wq_t *wq = pr->q.wq;
	uint64_t posted = 0;
	int r;

	for (uint64_t i = 0; i < pr->nplan; i++) {
		const struct read_op *op = &pr->plan[i];
		rmc_drain_cq(wq, pr->q.cq, on_read, &st);
		while (posted - st.done >= pr->o.outstanding ||
		       SONUMA_READ_ONCE(wq->q[wq->head].valid))
			if ((r = rmc_wait_cq(wq, pr->q.cq, on_read, &st)) < 0)
				return r;
		r = rmc_rread_async(wq, pr->q.lbuf, LB_GH + op->first * 8, (int)op->node, 0,
				    contrib_off(pr, op->node, b) +
					    (op->first - pr->lo[op->node]) * 8,
				    (uint64_t)op->blocks * 64);
		if (r < 0)
			return r;
		posted++;
	}
	while (st.done < posted)
		if ((r = rmc_wait_cq(wq, pr->q.cq, on_read, &st)) < 0)
			return r;
	if (st.errors) {
		app_err(&pr->a, "%llu remote read(s) failed: %s", (unsigned long long)st.errors,
			rmc_status_str(st.first_status));
		pr->rep.errors += st.errors;
		return -EIO;
	}
	return 0;
}

static int barrier(struct pr *pr, const char *what)
{
	int r = app_barrier(&pr->q, LB_BARRIER, pr->procs, pr->o.app.barrier_timeout);

	app_barrier_err(&pr->a, r, what, pr->procs, pr->o.app.barrier_timeout);
	return r;
}

static int iterate(struct pr *pr)
{
	uint64_t lo = pr->lo[pr->me];
	double *gh = (double *)(pr->q.lbuf + LB_GH), dangling = 0, n = (double)pr->n;
	double *newr = malloc((pr->cnt ? pr->cnt : 1) * sizeof(double));
	double d = pr->o.damping;
	int r;

	if (!newr)
		return -ENOMEM;
	/* Iteration 0: every rank is 1/n. */
	for (uint64_t u = 0; u < pr->n; u++)
		if (!pr->outdeg[u])
			dangling += 1.0 / n;
	for (unsigned it = 0; it < pr->o.iters; it++) {
		unsigned b = it % 2;
		uint64_t t0 = rmc_rdtsc(), t1, t2, t3;
		double delta = 0, dang_next = 0;

		memcpy(gh + lo, pr->contrib[b], pr->cnt * sizeof(double));
		if ((r = fetch(pr, b)))
			goto out;
		t1 = rmc_rdtsc();
		for (uint64_t i = 0; i < pr->cnt; i++) {
			double s = 0;
			for (uint32_t e = pr->csr_off[i]; e < pr->csr_off[i + 1]; e++)
				s += gh[pr->csr_nbr[e]];
			newr[i] = pr_new_rank(s, dangling, d, n);
		}
		for (uint64_t i = 0; i < pr->cnt; i++) {
			uint32_t od = pr->outdeg[lo + i];
			delta += fabs(newr[i] - pr->rank[i]);
			if (!od)
				dang_next += newr[i];
			pr->rank[i] = newr[i];
			pr->contrib[b ^ 1][i] = od ? newr[i] / od : 0.0;
		}
		t2 = rmc_rdtsc();
		/* The sums to node 0, then the barrier, then the totals back. */
		uint64_t red = PR_RED_OFF + 16ull * it, tot[2];
		if ((r = rmc_faa_sync(pr->q.wq, pr->q.cq, pr->q.lbuf, LB_ATOM, 0, 0, red,
				      (uint64_t)llround(dang_next * PR_FIX), NULL)) ||
		    (r = rmc_faa_sync(pr->q.wq, pr->q.cq, pr->q.lbuf, LB_ATOM + 8, 0, 0, red + 8,
				      (uint64_t)llround(delta * PR_FIX), NULL))) {
			app_err(&pr->a, "fetch-and-add to node 0: %s", app_rmc_err(r));
			goto out;
		}
		if ((r = barrier(pr, "iteration")))
			goto out;
		if ((r = rmc_rread_sync(pr->q.wq, pr->q.cq, pr->q.lbuf, LB_RED, 0, 0, red, 64))) {
			app_err(&pr->a, "reading the sums from node 0: %s", app_rmc_err(r));
			goto out;
		}
		memcpy(tot, pr->q.lbuf + LB_RED, sizeof(tot));
		dangling = (double)tot[0] / PR_FIX;
		t3 = rmc_rdtsc();
		pr->rep.t_iter[it] = (double)(t3 - t0) * pr->ns_per_tick * 1e-9;
		pr->rep.t_fetch[it] = (double)(t1 - t0) * pr->ns_per_tick * 1e-9;
		pr->rep.t_compute[it] = (double)(t2 - t1) * pr->ns_per_tick * 1e-9;
		pr->rep.t_sync[it] = (double)(t3 - t2) * pr->ns_per_tick * 1e-9;
		pr->rep.delta[it] = (double)tot[1] / PR_FIX;
	}
	r = 0;
out:
	free(newr);
	return r;
}

/* ---- the check (process 0) ---------------------------------------------------------- */

/* PageRank of the whole graph, alone, with the same formula. */
static double *reference(const struct pr *pr)
{
	uint64_t n = pr->n, m = pr->m;
	uint64_t *off = calloc(n + 1, sizeof(uint64_t)), *pos = malloc((n + 1) * sizeof(uint64_t));
	uint32_t *nbr = malloc(m * sizeof(uint32_t));
	double *rank = malloc(n * sizeof(double)), *contrib = malloc(n * sizeof(double));
	double *newr = malloc(n * sizeof(double)), d = pr->o.damping, dn = (double)n;

	if (!off || !pos || !nbr || !rank || !contrib || !newr)
		return NULL;
	for (uint64_t e = 0; e < m; e++)
		off[pr->dst[e] + 1]++;
	for (uint64_t i = 0; i < n; i++)
		off[i + 1] += off[i];
	memcpy(pos, off, (n + 1) * sizeof(uint64_t));
	for (uint64_t e = 0; e < m; e++)
		nbr[pos[pr->dst[e]]++] = pr->src[e];
	for (uint64_t u = 0; u < n; u++)
		rank[u] = 1.0 / dn;
	for (unsigned it = 0; it < pr->o.iters; it++) {
		double dangling = 0;
		for (uint64_t u = 0; u < n; u++) {
			contrib[u] = pr->outdeg[u] ? rank[u] / pr->outdeg[u] : 0.0;
			if (!pr->outdeg[u])
				dangling += rank[u];
		}
		for (uint64_t v = 0; v < n; v++) {
			double s = 0;
			for (uint64_t e = off[v]; e < off[v + 1]; e++)
				s += contrib[nbr[e]];
			newr[v] = pr_new_rank(s, dangling, d, dn);
		}
		memcpy(rank, newr, n * sizeof(double));
	}
	free(off);
	free(pos);
	free(nbr);
	free(contrib);
	free(newr);
	return rank;
}

static const double *top_base;
static int cmp_top(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	if (top_base[x] != top_base[y])
		return top_base[x] < top_base[y] ? 1 : -1;
	return x < y ? -1 : x > y;
}

/* The k highest-ranked vertices, ties by id. */
static void top_k(const double *rank, uint64_t n, unsigned k, uint32_t *out)
{
	uint32_t *idx = malloc(n * sizeof(uint32_t));
	if (!idx) {
		for (unsigned i = 0; i < k; i++)
			out[i] = 0;
		return;
	}
	for (uint64_t i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	top_base = rank;
	qsort(idx, n, sizeof(uint32_t), cmp_top);
	memcpy(out, idx, k * sizeof(uint32_t));
	free(idx);
}

/* Gathers every node's ranks into the local buffer's array (process 0). */
static int gather_ranks(struct pr *pr, double **out)
{
	uint64_t chunk = pr->a.info.max_transfer / 64 * 64;
	double *all = malloc(pr->n * sizeof(double));
	int r;

	if (!all)
		return -ENOMEM;
	for (unsigned p = 0; p < pr->procs; p++) {
		uint64_t bytes = (pr->lo[p + 1] - pr->lo[p]) * 8;
		if (p == pr->me) {
			memcpy(all + pr->lo[p], pr->rank, bytes);
			continue;
		}
		for (uint64_t off = 0; off < bytes; off += chunk) {
			uint64_t len = app_round_up(bytes - off < chunk ? bytes - off : chunk, 64);
			r = rmc_rread_sync(pr->q.wq, pr->q.cq, pr->q.lbuf,
					   LB_GH + pr->lo[p] * 8 + off, (int)p, 0,
					   rank_off(pr, p) + off, len);
			if (r) {
				app_err(&pr->a, "reading node %u's ranks: %s", p, app_rmc_err(r));
				free(all);
				return r;
			}
		}
		memcpy(all + pr->lo[p], pr->q.lbuf + LB_GH + pr->lo[p] * 8, bytes);
	}
	*out = all;
	return 0;
}

static int fetch_report(struct pr *pr, unsigned p, struct pr_report *rep)
{
	if (p == pr->me) {
		*rep = pr->rep;
		return 0;
	}
	/* The ranks' area of the local buffer is free until they are gathered. */
	return app_fetch_report(&pr->a, &pr->q, LB_GH, p, pr->report_off, rep, sizeof(*rep),
				PR_REPORT_MAGIC, "reading");
}

/* ---- main ------------------------------------------------------------------------ */

/* --rmat A,B,C: three probabilities with B + C > 0 and A + B + C <= 1 into
 * o's a, b and c.  0, or -1 when val is not that. */
static int parse_rmat(const char *val, void *options)
{
	struct opts *o = options;
	double p[3];
	char *dup = strdup(val), *save = NULL, *tok = strtok_r(dup, ",", &save);
	int k = 0;

	for (; tok && k < 3; tok = strtok_r(NULL, ",", &save))
		if (exp_parse_double(tok, 0.0, 1.0, &p[k++]))
			k = 99;
	free(dup);
	if (k != 3 || tok || p[0] + p[1] + p[2] > 1.0 || p[1] + p[2] <= 0)
		return -1;
	o->a = p[0];
	o->b = p[1];
	o->c = p[2];
	return 0;
}

/* --damping: below 1. */
static int parse_damping(const char *arg, void *options)
{
	struct opts *o = options;

	return exp_parse_double(arg, 0.0, 1.0, &o->damping) || o->damping >= 1.0 ? -1 : 0;
}

#define OPT(f) offsetof(struct opts, f)
static const struct exp_opt pr_opts[] = {
	EXP_OPT_INTS(EXP_OPT_U64, 'V', "vertices", OPT(vertices), 2, 1ull << 28, 0, "2 to 2^28"),
	EXP_OPT_INTS(EXP_OPT_U64, 'E', "edges", OPT(edges), 1, 1ull << 31, 0, "1 to 2^31"),
	EXP_OPT_FN(0, "rmat", parse_rmat,
		   "three probabilities A,B,C with B + C > 0 and A + B + C <= 1"),
	EXP_OPT_INTS(EXP_OPT_UINT, 'i', "iters", OPT(iters), 1, PR_MAX_ITERS, 0, NULL),
	EXP_OPT_FN('d', "damping", parse_damping, "0 <= D < 1"),
	EXP_OPT_INTS(EXP_OPT_UINT, 'w', "outstanding", OPT(outstanding), 1, MAX_NUM_WQ, 0, NULL),
	EXP_OPT_INTS(EXP_OPT_U64, 'r', "max-read", OPT(max_read), 64, 1ull << 30, 64,
		     "a multiple of 64 bytes"),
	EXP_OPT_DBL(0, "tolerance", OPT(tolerance), 0.0, 1.0, NULL),
	EXP_OPT_INTS(EXP_OPT_UINT, 0, "top", OPT(top), 1, PR_MAX_TOP, 0, NULL),
	EXP_OPT_FLAG(EXP_OPT_BOOL, 0, "no-check", OPT(check), false),
	EXP_OPT_ARG(EXP_OPT_STR, 0, "iter-output", OPT(iter_out)),
};
#undef OPT

struct result {
	double t_med, t_mean, t_min, t_max;	 /* per iteration, s: the slowest node's */
	double fetch, compute, sync;		 /* per iteration, s: the slowest node's */
	double med_fetch, med_compute, med_sync; /* the phases of the median iteration */
	uint64_t reads, bytes, remote_edges, errors;
	double max_diff;
	int top_same; /* -1: not checked */
	unsigned top_n;
	uint32_t top[PR_MAX_TOP], top_ref[PR_MAX_TOP];
	double target64, target_read;
	double setup_s;
};

struct emit {
	const struct pr *pr;
	const struct result *res;
	const double *t_it, *f_it, *c_it, *s_it;
	const struct pr_report *reps;
	unsigned nrep;
	const char *version, *date, *cmdline;
};

/* The CSV form: a header and this process's row (process 0's: the
 * cluster's, scope "all"). */
static void emit_csv(FILE *out, const struct emit *E)
{
	const struct pr *P = E->pr;
	const struct opts *o = &P->o;
	const struct kal_info *in = &P->a.info;
	const struct result *rs = E->res;

	fprintf(out, "# %s %s, %s\n# command: %s\n# model: %s\n", PROG, E->version, E->date,
		E->cmdline, P->a.model);
	fprintf(out, "label,scope,model,nodes,procs,vertices,edges,iters,damping,outstanding,"
		     "max_read,read64_target_ns,read_target_ns,iter_median_ms,iter_mean_ms,"
		     "iter_min_ms,iter_max_ms,fetch_ms,compute_ms,sync_ms,median_fetch_ms,"
		     "median_compute_ms,median_sync_ms,remote_reads,"
		     "remote_bytes,remote_edges,setup_s,max_abs_diff,top_same,errors\n");
	char scope[32] = "all";
	if (P->me)
		snprintf(scope, sizeof(scope), "node%u", P->me);
	fprintf(out, "%s,%s,%s,%u,%u,%llu,%llu,%u,%.3f,%u,%llu,", o->app.label ? o->app.label : "",
		scope, in->model, in->nodes, P->procs, (unsigned long long)P->n,
		(unsigned long long)P->m, o->iters, o->damping, o->outstanding,
		(unsigned long long)o->max_read);
	exp_csv_num(out, rs->target64);
	fputc(',', out);
	exp_csv_num(out, rs->target_read);
	fprintf(out, ",%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%llu,%llu,%llu,%.3f,",
		rs->t_med * 1e3, rs->t_mean * 1e3, rs->t_min * 1e3, rs->t_max * 1e3,
		rs->fetch * 1e3, rs->compute * 1e3, rs->sync * 1e3, rs->med_fetch * 1e3,
		rs->med_compute * 1e3, rs->med_sync * 1e3, (unsigned long long)rs->reads,
		(unsigned long long)rs->bytes, (unsigned long long)rs->remote_edges, rs->setup_s);
	if (isfinite(rs->max_diff))
		fprintf(out, "%.3g", rs->max_diff);
	fprintf(out, ",%s,%llu\n",
		rs->top_same < 0 ? "" :
		rs->top_same	 ? "yes" :
				   "no",
		(unsigned long long)rs->errors);
}

/* The JSON form: the run, the result, every iteration and every node. */
static void emit_json(FILE *out, const struct emit *E)
{
	const struct pr *P = E->pr;
	const struct opts *o = &P->o;
	const struct kal_info *in = &P->a.info;
	const struct result *rs = E->res;
	const double *t_it = E->t_it, *f_it = E->f_it, *c_it = E->c_it, *s_it = E->s_it;
	const struct pr_report *reps = E->reps;
	const char *who = P->me == 0 ? "cluster" : "node";

	fprintf(out, "{\n  \"tool\": \"%s\",\n  \"version\": ", PROG);
	exp_json_str(out, E->version);
	fprintf(out, ",\n  \"date\": \"%s\",\n  \"command\": ", E->date);
	exp_json_str(out, E->cmdline);
	fprintf(out, ",\n  \"label\": ");
	exp_json_str(out, o->app.label ? o->app.label : "");
	fprintf(out, ",\n  \"scope\": \"%s\"", who);
	fprintf(out,
		",\n  \"config\": {\"vertices\": %llu, \"edges\": %llu, \"seed\": %llu, "
		"\"rmat\": [%.3f, %.3f, %.3f], \"iters\": %u, \"damping\": %.3f, "
		"\"outstanding\": %u, \"max_read\": %llu, \"procs\": %u, \"nodes\": %u, "
		"\"tolerance\": %g},\n",
		(unsigned long long)P->n, (unsigned long long)P->m, (unsigned long long)o->app.seed,
		o->a, o->b, o->c, o->iters, o->damping, o->outstanding,
		(unsigned long long)o->max_read, P->procs, in->nodes, o->tolerance);
	fprintf(out, "  \"rmcd\": {\"model\": ");
	exp_json_str(out, in->model);
	fprintf(out, ", \"model_params\": ");
	exp_json_str(out, P->a.model);
	fprintf(out, ", \"tsc_hz\": %.0f, \"read64_target_ns\": ", in->tsc_hz);
	exp_json_num(out, rs->target64, 3);
	exp_json_field(out, "read_target_ns", rs->target_read, 3);
	fprintf(out,
		"},\n  \"result\": {\"iter_median_ms\": %.4f, \"iter_mean_ms\": %.4f, "
		"\"iter_min_ms\": %.4f, \"iter_max_ms\": %.4f, \"fetch_ms\": %.4f, "
		"\"compute_ms\": %.4f, \"sync_ms\": %.4f, \"median_fetch_ms\": %.4f, "
		"\"median_compute_ms\": %.4f, \"median_sync_ms\": %.4f, \"remote_reads\": %llu, "
		"\"remote_bytes\": %llu, \"remote_edges\": %llu, \"setup_s\": %.3f, "
		"\"errors\": %llu, \"max_abs_diff\": ",
		rs->t_med * 1e3, rs->t_mean * 1e3, rs->t_min * 1e3, rs->t_max * 1e3,
		rs->fetch * 1e3, rs->compute * 1e3, rs->sync * 1e3, rs->med_fetch * 1e3,
		rs->med_compute * 1e3, rs->med_sync * 1e3, (unsigned long long)rs->reads,
		(unsigned long long)rs->bytes, (unsigned long long)rs->remote_edges, rs->setup_s,
		(unsigned long long)rs->errors);
	if (isfinite(rs->max_diff))
		fprintf(out, "%.3g", rs->max_diff);
	else
		fprintf(out, "null");
	fprintf(out, ", \"top_same\": %s",
		rs->top_same < 0 ? "null" :
		rs->top_same	 ? "true" :
				   "false");
	if (rs->top_same >= 0) {
		fprintf(out, ", \"top\": [");
		for (unsigned i = 0; i < rs->top_n; i++)
			fprintf(out, "%s%u", i ? ", " : "", rs->top[i]);
		fprintf(out, "], \"top_reference\": [");
		for (unsigned i = 0; i < rs->top_n; i++)
			fprintf(out, "%s%u", i ? ", " : "", rs->top_ref[i]);
		fprintf(out, "]");
	}
	fprintf(out, "},\n  \"iterations\": [");
	for (unsigned i = 0; i < o->iters; i++)
		fprintf(out,
			"%s\n    {\"iter\": %u, \"time_ms\": %.4f, \"fetch_ms\": %.4f, "
			"\"compute_ms\": %.4f, \"sync_ms\": %.4f, \"delta\": %.6g}",
			i ? "," : "", i, t_it[i] * 1e3, f_it[i] * 1e3, c_it[i] * 1e3, s_it[i] * 1e3,
			reps[0].delta[i]);
	fprintf(out, "\n  ],\n  \"per_node\": [");
	for (unsigned p = 0; p < E->nrep; p++)
		fprintf(out,
			"%s\n    {\"node\": %u, \"vertices\": %llu, \"in_edges\": %llu, "
			"\"remote_edges\": %llu, \"remote_reads\": %llu, "
			"\"remote_bytes\": %llu, \"errors\": %llu}",
			p ? "," : "", reps[p].nid, (unsigned long long)reps[p].vertices,
			(unsigned long long)reps[p].in_edges,
			(unsigned long long)reps[p].remote_edges,
			(unsigned long long)reps[p].reads_per_iter,
			(unsigned long long)reps[p].bytes_per_iter,
			(unsigned long long)reps[p].errors);
	fprintf(out, "\n  ]\n}\n");
}

/* The table: every node, every iteration, the summary and the check. */
static void emit_table(FILE *out, const struct emit *E)
{
	const struct pr *P = E->pr;
	const struct opts *o = &P->o;
	const struct result *rs = E->res;
	const double *t_it = E->t_it, *f_it = E->f_it, *c_it = E->c_it, *s_it = E->s_it;
	const struct pr_report *reps = E->reps;
	const char *who = P->me == 0 ? "cluster" : "node";

	fprintf(out,
		"# %s %s: %llu vertices, %llu edges (R-MAT %.2f/%.2f/%.2f, seed %llu), "
		"%u process(es), d = %.2f\n",
		PROG, E->version, (unsigned long long)P->n, (unsigned long long)P->m, o->a, o->b,
		o->c, (unsigned long long)o->app.seed, P->procs, o->damping);
	fprintf(out,
		"# model: %s\n# remote reads: up to %llu B, %u in flight; target of a "
		"64-byte read ",
		P->a.model, (unsigned long long)o->max_read, o->outstanding);
	if (isfinite(rs->target64))
		fprintf(out, "%.0f ns\n", rs->target64);
	else
		fprintf(out, "-\n");
	fprintf(out, "%-6s %10s %9s %9s %9s %9s %11s %12s %12s\n", "node", "vertices", "in-edges",
		"remote", "reads", "KiB", "", "", "");
	for (unsigned p = 0; p < E->nrep; p++)
		fprintf(out, "%-6u %10llu %9llu %9llu %9llu %9.1f\n", reps[p].nid,
			(unsigned long long)reps[p].vertices, (unsigned long long)reps[p].in_edges,
			(unsigned long long)reps[p].remote_edges,
			(unsigned long long)reps[p].reads_per_iter,
			(double)reps[p].bytes_per_iter / 1024);
	fprintf(out, "%-6s %10s %9s %9s %9s %12s\n", "iter", "time (ms)", "fetch", "compute",
		"sync", "delta (L1)");
	for (unsigned i = 0; i < o->iters; i++)
		fprintf(out, "%-6u %10.3f %9.3f %9.3f %9.3f %12.3g\n", i, t_it[i] * 1e3,
			f_it[i] * 1e3, c_it[i] * 1e3, s_it[i] * 1e3, reps[0].delta[i]);
	fprintf(out,
		"# %s: time per iteration: median %.3f ms (fetch %.3f, compute %.3f, "
		"barrier and sums %.3f), mean %.3f ms (fetch %.3f, compute %.3f, barrier and "
		"sums %.3f); set-up %.2f s\n",
		who, rs->t_med * 1e3, rs->med_fetch * 1e3, rs->med_compute * 1e3,
		rs->med_sync * 1e3, rs->t_mean * 1e3, rs->fetch * 1e3, rs->compute * 1e3,
		rs->sync * 1e3, rs->setup_s);
	if (rs->top_same >= 0) {
		fprintf(out,
			"# check against the single-node run: largest difference %.3g "
			"(tolerance %.3g); top %u %s:",
			rs->max_diff, o->tolerance, rs->top_n,
			rs->top_same ? "the same" : "DIFFER");
		for (unsigned i = 0; i < rs->top_n; i++)
			fprintf(out, " %u", rs->top[i]);
		fprintf(out, "\n");
	}
}

static void emit(FILE *out, enum exp_fmt fmt, const struct emit *E)
{
	if (fmt == EXP_FMT_CSV)
		emit_csv(out, E);
	else if (fmt == EXP_FMT_JSON)
		emit_json(out, E);
	else
		emit_table(out, E);
}

/* The cluster against the options, and each process's share of the
 * vertices: 0, or main's exit status after saying why not. */
static int pr_plan(struct pr *pr)
{
	const struct opts *o = &pr->o;
	const struct kal_info *in = &pr->a.info;

	int r;

	pr->me = in->nid;
	pr->ns_per_tick = 1e9 / in->tsc_hz;
	if ((r = app_take_part(&pr->a, o->app.procs, usage, &pr->procs)))
		return r;
	if (o->outstanding > in->queue_depth) {
		fprintf(stderr, "%s: --outstanding %u: at most the queue depth, %u\n", PROG,
			o->outstanding, in->queue_depth);
		return 2;
	}
	if (o->max_read > in->max_transfer) {
		fprintf(stderr, "%s: --max-read %llu: above rmcd's maximum transfer (%llu B)\n",
			PROG, (unsigned long long)o->max_read,
			(unsigned long long)in->max_transfer);
		return 2;
	}
	pr->n = o->vertices;
	pr->m = o->edges;
	pr->lo = malloc((pr->procs + 1) * sizeof(uint64_t));
	if (!pr->lo)
		return 1;
	for (unsigned p = 0; p < pr->procs; p++)
		pr->lo[p] = pr->n * p / pr->procs / 8 * 8;
	pr->lo[pr->procs] = pr->n;
	return 0;
}

/* The graph, the queue pair and the context, then the iterations between
 * the start and end barriers: 0, or main's exit status. */
static int pr_run(struct pr *pr, double t_setup)
{
	const struct opts *o = &pr->o;
	int r;

	if (gen_graph(pr)) {
		fprintf(stderr, "%s: out of memory for the graph\n", PROG);
		return 1;
	}
	uint64_t gh_bytes = app_round_up(pr->n, 8) * 8;
	if (gh_bytes < sizeof(struct pr_report))
		gh_bytes = sizeof(struct pr_report);
	if (app_qp_open(&pr->a, &pr->q, LB_GH + gh_bytes + 4096))
		return 1;
	if ((r = setup(pr)))
		return r;
	pr->rep.magic = PR_REPORT_MAGIC;
	pr->rep.nid = pr->me;
	pr->rep.iters = o->iters;
	/* Node 0's sums start at zero: nobody adds before the first barrier. */
	if (pr->me == 0)
		memset(pr->a.ctx + PR_RED_OFF, 0, 16ull * PR_MAX_ITERS);
	memset(pr->a.ctx + pr->report_off, 0, sizeof(struct pr_report));
	if (barrier(pr, "start"))
		return 1;
	pr->rep.setup_s = app_now() - t_setup;
	if (iterate(pr))
		return 1;
	memcpy(pr->a.ctx + pr->report_off, &pr->rep, sizeof(pr->rep));
	if (barrier(pr, "end"))
		return 1;
	return 0;
}

/* Per iteration: the slowest node's time and its phases. */
struct pr_iters {
	double *t, *fetch, *compute, *sync;
};

/* Per iteration: the slowest node's time (they end at the same barrier,
 * so they differ by the barrier's skew only) and its phases, which add up
 * to it.  0, or -ENOMEM. */
static int pr_iter_times(const struct opts *o, const struct pr_report *reps, unsigned nrep,
			 struct pr_iters *it)
{
	it->t = calloc(o->iters, sizeof(double));
	it->fetch = calloc(o->iters, sizeof(double));
	it->compute = calloc(o->iters, sizeof(double));
	it->sync = calloc(o->iters, sizeof(double));
	if (!it->t || !it->fetch || !it->compute || !it->sync)
		return -ENOMEM;
	for (unsigned i = 0; i < o->iters; i++) {
		for (unsigned p = 0; p < nrep; p++) {
			if (reps[p].t_iter[i] > it->t[i]) {
				it->t[i] = reps[p].t_iter[i];
				it->fetch[i] = reps[p].t_fetch[i];
				it->compute[i] = reps[p].t_compute[i];
				it->sync[i] = reps[p].t_sync[i];
			}
		}
	}
	return 0;
}

static void pr_iters_free(struct pr_iters *it)
{
	free(it->t);
	free(it->fetch);
	free(it->compute);
	free(it->sync);
}

/* The (lower) median iteration, and its phases: 0, or -ENOMEM. */
static int pr_median(const struct opts *o, const struct pr_iters *it, struct result *res)
{
	unsigned *ord = malloc(o->iters * sizeof(unsigned)), mi;

	if (!ord)
		return -ENOMEM;
	for (unsigned i = 0; i < o->iters; i++)
		ord[i] = i;
	for (unsigned i = 1; i < o->iters; i++) /* insertion sort: few items */
		for (unsigned j = i; j > 0 && it->t[ord[j]] < it->t[ord[j - 1]]; j--) {
			unsigned t = ord[j];
			ord[j] = ord[j - 1];
			ord[j - 1] = t;
		}
	mi = ord[(o->iters - 1) / 2];
	free(ord);
	res->t_med = it->t[mi];
	res->med_fetch = it->fetch[mi];
	res->med_compute = it->compute[mi];
	res->med_sync = it->sync[mi];
	return 0;
}

/* The means and extremes over the iterations, the sums over the nodes'
 * reports, and the model's targets of the reads. */
static void pr_summarize(const struct pr *pr, const struct pr_report *reps, unsigned nrep,
			 const struct pr_iters *it, struct result *res)
{
	const struct opts *o = &pr->o;
	const struct kal_info *in = &pr->a.info;

	res->t_min = INFINITY;
	for (unsigned i = 0; i < o->iters; i++) {
		res->t_mean += it->t[i] / o->iters;
		res->t_min = it->t[i] < res->t_min ? it->t[i] : res->t_min;
		res->t_max = it->t[i] > res->t_max ? it->t[i] : res->t_max;
		res->fetch += it->fetch[i] / o->iters;
		res->compute += it->compute[i] / o->iters;
		res->sync += it->sync[i] / o->iters;
	}
	for (unsigned p = 0; p < nrep; p++) {
		res->reads += reps[p].reads_per_iter;
		res->bytes += reps[p].bytes_per_iter;
		res->remote_edges += reps[p].remote_edges;
		res->errors += reps[p].errors;
		if (reps[p].setup_s > res->setup_s)
			res->setup_s = reps[p].setup_s;
	}
	res->target64 = res->target_read = NAN;
	double t;
	uint16_t dst = (uint16_t)(in->nodes > 1 ? (pr->me + 1) % in->nodes : 0);
	if (kal_target_ns(pr->a.fd, RMC_OP_READ, dst, 64, &t) == 0)
		res->target64 = t;
	if (kal_target_ns(pr->a.fd, RMC_OP_READ, dst, o->max_read, &t) == 0)
		res->target_read = t;
}

/* Node 0 with --check: the ranks all against a single-node run's, kept in
 * *ref.  0 when they agree, 1 when they do not (said on stderr), -ENOMEM. */
static int pr_check(const struct pr *pr, const double *all, double **ref, struct result *res)
{
	const struct opts *o = &pr->o;

	*ref = reference(pr);
	if (!*ref)
		return -ENOMEM;
	const double *rf = *ref;
	res->max_diff = 0;
	for (uint64_t v = 0; v < pr->n; v++) {
		double dlt = fabs(all[v] - rf[v]);
		if (!(dlt <= res->max_diff)) /* NaN counts */
			res->max_diff = dlt;
	}
	top_k(all, pr->n, o->top, res->top);
	top_k(rf, pr->n, o->top, res->top_ref);
	res->top_same = 1;
	for (unsigned i = 0; i < o->top; i++)
		if (res->top[i] != res->top_ref[i] &&
		    fabs(rf[res->top[i]] - rf[res->top_ref[i]]) > o->tolerance)
			res->top_same = 0;
	if (!(res->max_diff <= o->tolerance) || !res->top_same) {
		fprintf(stderr,
			"%s: CHECK FAILED: largest difference from the single-node result %.3g "
			"(tolerance %.3g); top %u %s\n",
			PROG, res->max_diff, o->tolerance, o->top,
			res->top_same ? "the same" : "differ");
		return 1;
	}
	return 0;
}

/* --csv: 0, or 1 after saying why it could not be written. */
static int pr_write_csv(const struct opts *o, const struct emit *E)
{
	FILE *f = fopen(o->app.csv, "w");

	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", PROG, o->app.csv, strerror(errno));
		return 1;
	}
	emit(f, EXP_FMT_CSV, E);
	if (fclose(f)) {
		fprintf(stderr, "%s: %s: %s\n", PROG, o->app.csv, strerror(errno));
		return 1;
	}
	return 0;
}

/* --iter-output: one line per iteration; 0, or 1 after saying why not. */
static int pr_write_iters(const struct opts *o, const struct pr_iters *it,
			  const struct pr_report *rep)
{
	FILE *f = fopen(o->iter_out, "w");

	if (!f) {
		fprintf(stderr, "%s: %s: %s\n", PROG, o->iter_out, strerror(errno));
		return 1;
	}
	fprintf(f, "label,iter,time_ms,fetch_ms,compute_ms,sync_ms,delta\n");
	for (unsigned i = 0; i < o->iters; i++)
		fprintf(f, "%s,%u,%.4f,%.4f,%.4f,%.4f,%.6g\n", o->app.label ? o->app.label : "", i,
			it->t[i] * 1e3, it->fetch[i] * 1e3, it->compute[i] * 1e3, it->sync[i] * 1e3,
			rep->delta[i]);
	if (fclose(f)) {
		fprintf(stderr, "%s: %s: %s\n", PROG, o->iter_out, strerror(errno));
		return 1;
	}
	return 0;
}

/* The reports: every node's on node 0 (and the ranks into *all), this
 * node's elsewhere.  How many, or -1 when one could not be read. */
static int pr_reports(struct pr *pr, struct pr_report *reps, double **all)
{
	if (pr->me != 0) {
		reps[0] = pr->rep;
		return 1;
	}
	for (unsigned p = 0; p < pr->procs; p++)
		if (fetch_report(pr, p, &reps[p]))
			return -1;
	if (gather_ranks(pr, all))
		return -1;
	return (int)pr->procs;
}

int main(int argc, char **argv)
{
	static struct pr pr;
	struct opts *o = &pr.o;
	struct result res;
	struct pr_iters it = { 0 };
	struct pr_report *reps = NULL;
	char cmdline[1024], date[32], version[64] = "";
	double *all = NULL, *ref = NULL;
	FILE *out = stdout;
	int r, failed = 0, nrep;

	*o = (struct opts){ .vertices = 16384,
			    .iters = 10,
			    .damping = 0.85,
			    .outstanding = 16,
			    .max_read = 512,
			    .tolerance = 1e-9,
			    .top = 10,
			    .check = true,
			    .a = 0.57,
			    .b = 0.19,
			    .c = 0.19,
			    .app = { .seed = 1, .barrier_timeout = 120 } };
	if ((r = app_parse(argc, argv, PROG, usage, pr_opts, CORE_ARRAY_SIZE(pr_opts), o, &o->app)))
		return r;
	if (o->top > o->vertices)
		o->top = (unsigned)o->vertices;
	if (!o->edges)
		o->edges = o->vertices * 8 > (1ull << 31) ? 1ull << 31 : o->vertices * 8;
	exp_cmdline(cmdline, sizeof(cmdline), argc, argv);
	memset(&res, 0, sizeof(res));
	res.top_same = -1;

	double t_setup = app_now();
	if (app_attach(&pr.a, PROG))
		return 1;
	if ((r = pr_plan(&pr)))
		return r;
	if (o->app.out && !(out = fopen(o->app.out, "w"))) {
		fprintf(stderr, "%s: %s: %s\n", PROG, o->app.out, strerror(errno));
		return 1;
	}
	kal_describe(pr.a.fd, 2, version, sizeof(version));
	exp_utc_date(date, sizeof(date));
	if ((r = pr_run(&pr, t_setup)))
		return r;

	if (!(reps = calloc(pr.procs, sizeof(*reps))) || (nrep = pr_reports(&pr, reps, &all)) < 0 ||
	    pr_iter_times(o, reps, (unsigned)nrep, &it) || pr_median(o, &it, &res))
		return 1;
	pr_summarize(&pr, reps, (unsigned)nrep, &it, &res);
	res.max_diff = NAN;
	res.top_n = o->top;
	if (pr.me == 0 && o->check) {
		if ((r = pr_check(&pr, all, &ref, &res)) < 0) {
			fprintf(stderr, "%s: out of memory for the single-node run\n", PROG);
			return 1;
		}
		failed |= r;
	}
	if (res.errors)
		failed = 1;

	struct emit E = { &pr,	&res,		it.t,	 it.fetch, it.compute, it.sync,
			  reps, (unsigned)nrep, version, date,	   cmdline };
	emit(out, o->app.fmt, &E);
	if (o->app.csv)
		failed |= pr_write_csv(o, &E);
	if (pr.me == 0 && o->iter_out)
		failed |= pr_write_iters(o, &it, &reps[0]);
	if (out != stdout && fclose(out)) {
		fprintf(stderr, "%s: %s: %s\n", PROG, o->app.out, strerror(errno));
		failed = 1;
	}
	free(all);
	free(ref);
	free(reps);
	pr_iters_free(&it);
	free(pr.plan);
	free(pr.src);
	free(pr.dst);
	free(pr.outdeg);
	free(pr.lo);
	kal_close(pr.a.fd);
	return failed;
}
