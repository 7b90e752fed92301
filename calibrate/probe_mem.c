/* SPDX-License-Identifier: MIT */
/*
 * Memory: the latency of a dependent load (a pointer chase over a random
 * cyclic permutation of cache lines, in a buffer well beyond the last-level
 * cache, as Intel MLC's latency matrix does) and the bandwidth of memcpy by
 * size, for every pair of NUMA domains: the thread runs on a CPU of the
 * source domain, the memory is bound to the target domain.
 *
 * The copy goes the way an RMC serving a node of domain `from` copies for a
 * read from a node of domain `to`: from memory in `to` into memory in `from`.
 * Buffers ask for transparent huge pages so that the chase measures memory,
 * not page walks.
 */
#include <errno.h>
#include <numa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "calibrate.h"
#include "core.h"
#include "explib.h"
#include "sonuma/tsc.h"

#define MiB ((size_t)1 << 20)
#define LINE 64
#define HUGE (2 * MiB)
#define CHASE_MAX_SPREAD 1.25
#define COPY_MAX_SPREAD 1.5

/* ---- buffers ----------------------------------------------------------- */

struct dbuf {
	void *map; /* what mmap returned */
	size_t maplen;
	void *p; /* 2 MiB aligned, len bytes */
	size_t len;
};

static void dbuf_free(struct dbuf *b)
{
	if (b->map)
		munmap(b->map, b->maplen);
	memset(b, 0, sizeof(*b));
}

/* len bytes bound to domain, 2 MiB aligned, not touched yet. */
static int dbuf_alloc(struct dbuf *b, size_t len, int domain, bool *thp, char *err, size_t errlen)
{
	int r;

	memset(b, 0, sizeof(*b));
	b->maplen = len + HUGE;
	b->map = mmap(NULL, b->maplen, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		snprintf(err, errlen, "cannot map %zu MiB: %s", len / MiB, strerror(errno));
		return -ENOMEM;
	}
	b->p = (void *)CORE_ALIGN_UP((uintptr_t)b->map, HUGE);
	b->len = len;
	if (madvise(b->p, len, MADV_HUGEPAGE) < 0)
		*thp = false;
	if ((r = core_numa_bind(b->p, len, domain))) {
		snprintf(err, errlen, "cannot bind %zu MiB to NUMA domain %d: %s", len / MiB,
			 domain, strerror(-r));
		dbuf_free(b);
		return r;
	}
	return 0;
}

static void check_placement(struct cal_ctx *x, void *p, int domain, const char *what)
{
	int got = core_numa_page_node(p);

	if (x->ndom > 1 && got >= 0 && got != domain)
		cal_note(x, "%s buffer meant for domain %d landed on domain %d", what, domain, got);
}

/* Free memory of a domain, or 0 when unknown. */
static size_t domain_free(int domain)
{
	long long fr = 0;

	if (numa_available() < 0 || numa_node_size64(domain, &fr) < 0 || fr < 0)
		return 0;
	return (size_t)fr;
}

/* ---- pointer chase ----------------------------------------------------- */

struct chase {
	void **pos;   /* where the chase goes on from */
	size_t loads; /* per sample */
	double hz;
	uint64_t total;
};

/* Runs the calling thread on a CPU of domain d: 0, 1 when d has no CPU
 * this process may use (skip it), or -errno with err saying why. */
static int pin_domain(const struct cal_ctx *x, int d, char *err, size_t errlen)
{
	int cpu = cal_domain_cpu(x, d), r;

	if (cpu < 0)
		return 1;
	if ((r = core_pin_cpu(cpu)))
		snprintf(err, errlen, "cannot run on CPU %d: %s", cpu, strerror(-r));
	return r;
}

/* Links the lines of buf into one random cycle (Sattolo's algorithm). */
static int chase_build(void *buf, size_t len, char *err, size_t errlen)
{
	size_t n = len / LINE;
	uint32_t *perm = malloc(n * sizeof(*perm));
	struct exp_rng rng = { rmc_rdtsc() | 1 }; /* random enough for the prefetchers */
	char *base = buf;

	if (!perm) {
		snprintf(err, errlen, "out of memory for a %zu-entry permutation", n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)exp_rng_below(&rng, i);
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	/* In address order: this first touch places the pages. */
	for (size_t i = 0; i < n; i++)
		*(void **)(base + i * LINE) = base + (size_t)perm[i] * LINE;
	free(perm);
	return 0;
}

static void **chase(void **p, size_t n)
{
	for (; n >= 8; n -= 8) {
		p = *p, p = *p, p = *p, p = *p;
		p = *p, p = *p, p = *p, p = *p;
	}
	while (n--)
		p = *p;
	return p;
}

static int chase_run(void *arg, double *v, size_t n, char *err, size_t errlen)
{
	struct chase *c = arg;

	(void)err, (void)errlen;
	c->pos = chase(c->pos, c->loads); /* warm-up: TLB, the line of the start */
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = rmc_rdtsc();
		c->pos = chase(c->pos, c->loads);
		v[i] = core_tsc_to_ns(rmc_rdtsc() - t0, c->hz) / (double)c->loads;
	}
	c->total += c->loads * (n + 1);
	return 0;
}

int cal_probe_load(struct cal_ctx *x, char *err, size_t errlen)
{
	size_t len, samples = x->opt.quick ? 7 : 40;
	long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
	struct chase c = { .loads = x->opt.quick ? 50000 : 200000, .hz = x->hz };
	int r = 0;

	x->llc_bytes = l3 > 0 ? (size_t)l3 : l2 > 0 ? (size_t)l2 : 0;
	if (x->opt.quick) {
		len = 64 * MiB;
	} else {
		len = 256 * MiB;
		if (2 * x->llc_bytes > len)
			len = 2 * x->llc_bytes;
		if (len > 1024 * MiB)
			len = 1024 * MiB;
	}
	x->chase_thp = true;
	cal_papi_start(&x->papi);
	for (int to = 0; to < x->ndom && !r; to++) {
		struct dbuf b;
		size_t fr = domain_free(to), want = len;

		if (fr && want > fr / 2)
			want = fr / 2 / HUGE * HUGE;
		if (want < 16 * MiB) {
			cal_note(x,
				 "domain %d has too little free memory for the load-latency "
				 "probe: not measured",
				 to);
			continue;
		}
		if ((r = dbuf_alloc(&b, want, to, &x->chase_thp, err, errlen)))
			break;
		if (want > x->chase_bytes)
			x->chase_bytes = want;
		if ((r = chase_build(b.p, b.len, err, errlen))) {
			dbuf_free(&b);
			break;
		}
		check_placement(x, b.p, to, "pointer-chase");
		c.pos = b.p;
		for (int from = 0; from < x->ndom && !r; from++) {
			if ((r = pin_domain(x, from, err, errlen))) {
				r = r < 0 ? r :
					    0; /* > 0: no CPU there, skip it; < 0 ends the loop */
				continue;
			}
			r = cal_measure(chase_run, &c, samples, CHASE_MAX_SPREAD,
					&x->load[from][to], err, errlen);
			x->d.load_ns[from][to] = x->load[from][to].median;
		}
		dbuf_free(&b);
	}
	cal_papi_stop(&x->papi, (double)c.total, &x->load_hw);
	if (!r && x->llc_bytes && x->chase_bytes < 2 * x->llc_bytes)
		cal_note(x,
			 "the pointer chase used %zu MiB, less than twice the %zu MiB "
			 "last-level cache reported: load latency may read low%s",
			 x->chase_bytes / MiB, x->llc_bytes / MiB,
			 x->opt.quick ? " (quick mode)" : "");
	return r;
}

/* ---- copy bandwidth ---------------------------------------------------- */

struct copy {
	char *dst;
	const char *src;
	size_t size; /* per memcpy */
	size_t reps; /* memcpy per sample */
	double hz;
	uint64_t bytes;
};

static int copy_run(void *arg, double *v, size_t n, char *err, size_t errlen)
{
	struct copy *c = arg;

	(void)err, (void)errlen;
	for (size_t i = 0; i <= n; i++) {
		uint64_t t0 = rmc_rdtsc();
		for (size_t k = 0; k < c->reps; k++) {
			memcpy(c->dst, c->src, c->size);
			/* The copy is used: it must happen every time. */
			__asm__ __volatile__("" ::"r"(c->dst) : "memory");
		}
		double ns = core_tsc_to_ns(rmc_rdtsc() - t0, c->hz);
		if (i > 0) /* the first one warms up */
			v[i - 1] = (double)(c->size * c->reps) / ns;
	}
	c->bytes += (uint64_t)c->size * c->reps * (n + 1);
	return 0;
}

int cal_probe_copy(struct cal_ctx *x, char *err, size_t errlen)
{
	struct dbuf src[CAL_MAX_DOMAINS], dst[CAL_MAX_DOMAINS];
	size_t samples = x->opt.quick ? 5 : 25, per_sample = (x->opt.quick ? 4 : 32) * MiB;
	size_t largest;
	struct copy c = { .hz = x->hz };
	bool thp = true;
	int r = 0;

	x->n_copy = x->opt.quick ? 7 : 8; /* 4 KiB .. 16 or 64 MiB */
	for (unsigned i = 0; i < x->n_copy; i++)
		x->copy_size[i] = (size_t)4096 << (2 * i);
	largest = x->copy_size[x->n_copy - 1];
	memset(src, 0, sizeof(src));
	memset(dst, 0, sizeof(dst));
	for (int d = 0; d < x->ndom && !r; d++) {
		if ((r = dbuf_alloc(&src[d], largest, d, &thp, err, errlen)))
			break;
		memset(src[d].p, 0x5a, largest);
		check_placement(x, src[d].p, d, "copy");
		if (!x->ncpus[d])
			continue; /* nothing runs there: no destination needed */
		if ((r = dbuf_alloc(&dst[d], largest, d, &thp, err, errlen)))
			break;
		memset(dst[d].p, 0, largest);
	}
	cal_papi_start(&x->papi);
	for (int from = 0; from < x->ndom && !r; from++) {
		if ((r = pin_domain(x, from, err, errlen))) {
			r = r < 0 ? r : 0; /* > 0: no CPU there, skip it; < 0 ends the loop */
			continue;
		}
		for (int to = 0; to < x->ndom && !r; to++)
			for (unsigned s = 0; s < x->n_copy && !r; s++) {
				c.dst = dst[from].p;
				c.src = src[to].p;
				c.size = x->copy_size[s];
				c.reps = per_sample / c.size ? per_sample / c.size : 1;
				r = cal_measure(copy_run, &c, samples, COPY_MAX_SPREAD,
						&x->copy[from][to][s], err, errlen);
			}
		for (int to = 0; to < x->ndom; to++)
			x->d.copy_gbps[from][to] = x->copy[from][to][x->n_copy - 1].median;
	}
	cal_papi_stop(&x->papi, (double)c.bytes / LINE, &x->copy_hw);
	for (int d = 0; d < x->ndom; d++) {
		dbuf_free(&src[d]);
		dbuf_free(&dst[d]);
	}
	return r;
}
