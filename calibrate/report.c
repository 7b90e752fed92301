/* SPDX-License-Identifier: MIT */
/* The summary a person reads: one section per probe, units, small tables. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "calibrate.h"
#include "core.h"

#ifndef SONUMA_VERSION
#define SONUMA_VERSION "unknown"
#endif

void cal_note(struct cal_ctx *x, const char *fmt, ...)
{
	va_list ap;

	if (x->n_notes >= CAL_MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(x->notes[x->n_notes++], sizeof(x->notes[0]), fmt, ap);
	va_end(ap);
}

int cal_domain_cpu(const struct cal_ctx *x, int d)
{
	return d >= 0 && d < x->ndom && x->ncpus[d] ? x->cpus[d][0] : -1;
}

/* A figure with as many digits as it deserves. */
static const char *num(char *buf, size_t len, double v)
{
	if (v == 0)
		snprintf(buf, len, "-");
	else if (v < 10)
		snprintf(buf, len, "%.2f", v);
	else if (v < 100)
		snprintf(buf, len, "%.1f", v);
	else
		snprintf(buf, len, "%.0f", v);
	return buf;
}

/* '*': repeated, then tight enough; '!': still spread wide after CAL_RUNS. */
static char mark(const struct cal_stats *st)
{
	return st->noisy ? '!' : st->runs > 1 ? '*' : ' ';
}

static const char *cell(char *buf, size_t len, const struct cal_stats *st)
{
	char a[16], b[16], c[16];

	if (!st->n)
		snprintf(buf, len, "not measured");
	else
		snprintf(buf, len, "%s [%s..%s]%c", num(a, sizeof(a), st->median),
			 num(b, sizeof(b), st->p10), num(c, sizeof(c), st->p90), mark(st));
	return buf;
}

/* width > 0: columns left-aligned (the last one unpadded); < 0: right-aligned. */
static void matrix_head(const struct cal_ctx *x, const char *corner, int width)
{
	char h[16];

	printf("  %-10s", corner);
	for (int j = 0; j < x->ndom; j++) {
		snprintf(h, sizeof(h), "to %d", j);
		if (width < 0)
			printf("  %*s", -width, h);
		else
			printf("  %-*s", j + 1 < x->ndom ? width : 0, h);
	}
	printf("\n");
}

static void stats_matrix(const struct cal_ctx *x, const char *corner,
			 const struct cal_stats m[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS])
{
	char buf[64], h[16];

	matrix_head(x, corner, 22);
	for (int i = 0; i < x->ndom; i++) {
		snprintf(h, sizeof(h), "from %d", i);
		printf("  %-10s", h);
		for (int j = 0; j < x->ndom; j++)
			printf("  %-*s", j + 1 < x->ndom ? 22 : 0,
			       cell(buf, sizeof(buf), &m[i][j]));
		printf("\n");
	}
}

static void value_matrix(const struct cal_ctx *x, const char *corner,
			 const double m[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS])
{
	char buf[32], h[16];

	matrix_head(x, corner, -8);
	for (int i = 0; i < x->ndom; i++) {
		snprintf(h, sizeof(h), "from %d", i);
		printf("  %-10s", h);
		for (int j = 0; j < x->ndom; j++)
			printf("  %8s", num(buf, sizeof(buf), m[i][j]));
		printf("\n");
	}
}

static void counts(const struct cal_ctx *x, const struct cal_counts *c, const char *per)
{
	if (!c->valid)
		return;
	printf("  PAPI per %s:", per);
	for (int i = 0; i < x->papi.n; i++)
		printf("%s %.1f %s", i ? "," : "", c->per_op[i], x->papi.names[i]);
	printf("\n");
}

static const char *bytes(char *buf, size_t len, uint64_t b)
{
	if (b >= (1ull << 20) && b % (1ull << 20) == 0)
		snprintf(buf, len, "%llu MiB", (unsigned long long)(b >> 20));
	else if (b >= 1024 && b % 1024 == 0)
		snprintf(buf, len, "%llu KiB", (unsigned long long)(b >> 10));
	else
		snprintf(buf, len, "%llu B", (unsigned long long)b);
	return buf;
}

static void cpu_list(const struct cal_ctx *x, int d)
{
	for (int k = 0; k < x->ncpus[d];) {
		int e = k;
		while (e + 1 < x->ncpus[d] && x->cpus[d][e + 1] == x->cpus[d][e] + 1)
			e++;
		printf("%s%d", k ? "," : "", x->cpus[d][k]);
		if (e > k)
			printf("-%d", x->cpus[d][e]);
		k = e + 1;
	}
	if (!x->ncpus[d])
		printf("(none)");
}

static void header(const struct cal_ctx *x)
{
	const struct cal_identity *id = &x->d.id;

	printf("sonuma-calibrate %s: %s calibration in %.1f s\n\n", SONUMA_VERSION,
	       x->opt.quick ? "quick" : "full", x->elapsed_s);
	printf("Machine\n");
	printf("  CPU               %s\n", id->cpu_model);
	printf("  CPUs              %u online; NUMA domains %u (", id->cores, id->domains);
	for (int d = 0; d < x->ndom; d++) {
		printf("%s%d: CPUs ", d ? "; " : "", d);
		cpu_list(x, d);
	}
	printf(")\n");
	printf("  kernel            %s\n", id->kernel);
	printf("  host              %s\n", id->hostname);
	printf("  date              %s (UTC)\n\n", id->date);
}

static void section_tsc(const struct cal_ctx *x)
{
	char a[16], b[16];

	printf("TSC (%.1f s)\n", x->took_s[CAL_T_TSC]);
	printf("  invariant         %s\n", x->d.tsc_invariant ? "yes" : "NO (--force)");
	printf("  rate              %.6f GHz  (median of %u intervals of %u ms against "
	       "CLOCK_MONOTONIC_RAW;\n"
	       "                                    spread %.1f ppm, %.6f..%.6f GHz)\n",
	       x->tsc_hz.median / 1e9, x->tsc_runs, x->opt.quick ? 20 : 100, x->tsc_spread_ppm,
	       x->tsc_hz.min / 1e9, x->tsc_hz.max / 1e9);
	printf("  read cost         %s ns%c      (one rmc_rdtsc(); p10 %s, p90 %s ns)\n\n",
	       num(a, sizeof(a), x->tsc_read.median), mark(&x->tsc_read),
	       num(b, sizeof(b), x->tsc_read.p10), num(a, sizeof(a), x->tsc_read.p90));
}

static void section_c2c(const struct cal_ctx *x)
{
	static const char *const kinds[] = {
		[CAL_PAIR_SAME] = "two CPUs of the domain",
		[CAL_PAIR_CROSS] = "a CPU of each domain",
		[CAL_PAIR_BORROWED] = "one-CPU domain, against the nearest domain",
		[CAL_PAIR_NONE] = "not measured",
	};

	printf("Cache-line transfer between cores (%.1f s; ping-pong of one line; ns, median "
	       "[p10..p90])\n",
	       x->took_s[CAL_T_C2C]);
	stats_matrix(x, "round trip", x->rtt);
	if (x->rtt_nwin > 1)
		for (int i = 0; i < x->ndom; i++)
			for (int j = i; j < x->ndom; j++) {
				char v[16];
				if (x->rtt_kind[i][j] == CAL_PAIR_NONE)
					continue;
				printf("  %-10s  domains %d-%d:", i + j ? "" : "windows", i, j);
				for (unsigned w = 0; w < x->rtt_nwin; w++)
					printf("%s %s", w ? "," : "",
					       num(v, sizeof(v), x->rtt_win[i][j][w].median));
				printf(" ns (medians of %u windows %d ms apart; the middle one "
				       "is kept)\n",
				       x->rtt_nwin, 300);
			}
	printf("  one way = notify_ns, what rmcd subtracts (round trip / 2):\n");
	value_matrix(x, "one way", x->d.notify_ns);
	for (int i = 0; i < x->ndom; i++)
		for (int j = i; j < x->ndom; j++) {
			printf("  %-10s  domains %d-%d: ", i + j ? "" : "CPUs", i, j);
			if (x->rtt_kind[i][j] == CAL_PAIR_NONE)
				printf("not measured\n");
			else
				printf("CPU %d <-> CPU %d (%s)\n", x->rtt_cpu[i][j][0],
				       x->rtt_cpu[i][j][1], kinds[x->rtt_kind[i][j]]);
		}
	counts(x, &x->rtt_hw, "round trip");
	printf("\n");
}

static void section_load(const struct cal_ctx *x)
{
	char b[32], l[32];

	printf("Load latency (%.1f s; dependent loads over a random cycle of 64 B lines in "
	       "%s%s;\n  CPU in domain from, memory in domain to; ns per load, median "
	       "[p10..p90])\n",
	       x->took_s[CAL_T_LOAD], bytes(b, sizeof(b), x->chase_bytes),
	       x->chase_thp ? ", huge pages requested" : "");
	stats_matrix(x, "load", x->load);
	if (x->llc_bytes)
		printf("  last-level cache reported: %s\n", bytes(l, sizeof(l), x->llc_bytes));
	counts(x, &x->load_hw, "load");
	printf("\n");
}

static void section_copy(const struct cal_ctx *x)
{
	char b[32], h[32], v[16];
	int cols = x->ndom;

	printf("Copy bandwidth (%.1f s; memcpy by a CPU of from, from memory in to into "
	       "memory in from;\n  GB/s = 1e9 bytes copied per second, median)\n",
	       x->took_s[CAL_T_COPY]);
	printf("  %-10s", "size");
	for (int j = 0; j < cols; j++) {
		snprintf(h, sizeof(h), "0 <- %d", j);
		printf("  %9s", h);
	}
	if (x->ndom > 1)
		printf("   (CPU in domain 0; every pair in copy_gbps below)");
	printf("\n");
	for (unsigned s = 0; s < x->n_copy; s++) {
		printf("  %-10s", bytes(b, sizeof(b), x->copy_size[s]));
		for (int j = 0; j < cols; j++) {
			const struct cal_stats *st = &x->copy[0][j][s];
			printf("  %8s%c", num(v, sizeof(v), st->median), mark(st));
		}
		printf("\n");
	}
	printf("  copy_gbps (the %s copy), every pair:\n",
	       bytes(b, sizeof(b), x->copy_size[x->n_copy - 1]));
	value_matrix(x, "GB/s", x->d.copy_gbps);
	counts(x, &x->copy_hw, "64 B line copied");
	printf("\n");
}

static void section_floor(const struct cal_ctx *x)
{
	char a[16], b[16], c[16], d[16], s[32];

	printf("Emulator floor (%.1f s; synchronous remote read through rmcd, model %s;\n"
	       "  rmcd %s; this program on CPU %d; ns)\n",
	       x->took_s[CAL_T_FLOOR], x->floor_model, x->floor_rmcd, x->floor_cpu);
	printf("  %-10s %9s %9s %9s %9s %8s\n", "size", "median", "p10", "p90", "p99", "samples");
	for (uint32_t i = 0; i < x->d.n_floor; i++) {
		const struct cal_stats *st = &x->floor[i];
		printf("  %-10s %8s%c %9s %9s %9s %8zu\n", bytes(s, sizeof(s), x->d.floor_size[i]),
		       num(a, sizeof(a), st->median), mark(st), num(b, sizeof(b), st->p10),
		       num(c, sizeof(c), st->p90), num(d, sizeof(d), st->p99), st->n);
	}
	if (x->d.overhead_ns > 0)
		printf("  around a held-back completion (fixed model, 64 B): %.1f ns, which rmcd\n"
		       "  subtracts from due times\n",
		       x->d.overhead_ns);
	printf("  rmc.ko: %s\n", x->d.rmc_ko ? "loaded (the rmcd measured registered its contexts "
					       "through /dev/rmc)" :
					       "not loaded (memfd contexts)");
	printf("\n");
}

static void section_agent(const struct cal_ctx *x)
{
	char a[16], b[16], c[16], d[16], e[16], f[16], g[16], h[16], sz[32], big[32];

	printf("Minimal polling agent (%.1f s; the baseline: CPU %d posts 64-byte WQ entries with "
	       "a phase bit,\n  CPU %d polls them, copies and completes; ns, median [p10..p90] "
	       "p99)\n",
	       x->took_s[CAL_T_AGENT], x->agent_cpu[0], x->agent_cpu[1]);
	printf("  rate              %.2f Mops  (64 B asynchronous reads, %u in flight, 64 KiB "
	       "window;\n"
	       "                                median of %u repeats, %.2f..%.2f)\n",
	       x->d.agent_rate_64_mops, x->d.agent_window, x->agent_nrates,
	       x->d.agent_rate_64_min_mops, x->d.agent_rate_64_max_mops);
	printf("  synchronous, in place (the request and its completion in one cache line):\n");
	printf("  %-10s %-28s %s\n", "size", "same bytes (in cache)", "beyond the caches");
	for (uint32_t i = 0; i < x->d.n_agent; i++) {
		const struct cal_agent_floor *t = &x->d.agent_floor[i];
		char l[64];
		snprintf(l, sizeof(l), "%s [%s..%s] %s%c", num(a, sizeof(a), t->cached_ns),
			 num(b, sizeof(b), t->cached_p10_ns), num(c, sizeof(c), t->cached_p90_ns),
			 num(d, sizeof(d), t->cached_p99_ns), mark(&x->agent_floor[i][0]));
		printf("  %-10s %-28s %s [%s..%s] %s%c\n", bytes(sz, sizeof(sz), t->size), l,
		       num(e, sizeof(e), t->median_ns), num(f, sizeof(f), t->p10_ns),
		       num(g, sizeof(g), t->p90_ns), num(h, sizeof(h), t->p99_ns),
		       mark(&x->agent_floor[i][1]));
	}
	printf("  (beyond the caches: from %s in an order the prefetchers do not follow)\n\n",
	       bytes(big, sizeof(big), x->agent_src_bytes));
}

static void section_rounds(const struct cal_ctx *x)
{
	char v[16];

	printf("Round trip and 64 B floor in turn (%.1f s; %u rounds %d ms apart, CPU %d <-> CPU "
	       "%d,\n  then a read through rmcd; ns, each round's median)\n",
	       x->took_s[CAL_T_ROUNDS], x->n_rounds, CAL_ROUND_GAP_MS, x->round_cpu[0],
	       x->round_cpu[1]);
	printf("  %-12s", "round trip");
	for (unsigned k = 0; k < x->n_rounds; k++)
		printf("%s %s", k ? "," : "", num(v, sizeof(v), x->round_rtt[k].median));
	printf("\n  %-12s", "64 B floor");
	for (unsigned k = 0; k < x->n_rounds; k++)
		printf("%s %s", k ? "," : "", num(v, sizeof(v), x->round_floor[k].median));
	printf("\n  kept: the middle of all repeats, the round trip %s ns",
	       num(v, sizeof(v), x->d.rtt_ns[0][0]));
	printf(" and the 64 B floor %s ns\n\n", num(v, sizeof(v), x->d.floor_ns[0]));
}

static void section_sanity(const struct cal_ctx *x)
{
	const struct cal_data *d = &x->d;

	printf("Sanity\n");
	if (d->floor_per_rtt > 0)
		printf("  64 B floor        %.2f round trips (at most %.1f on a quiet machine)\n",
		       d->floor_per_rtt, d->floor_per_rtt_max);
	if (d->has_agent && d->n_floor && d->floor_size[0] == 64 && d->agent_floor[0].cached_ns > 0)
		printf("  against the agent %.2fx its 64 B in-place floor (%.0f ns against %.0f "
		       "ns, in cache)\n",
		       d->floor_ns[0] / d->agent_floor[0].cached_ns, d->floor_ns[0],
		       d->agent_floor[0].cached_ns);
	if (d->disturbed)
		printf("  DISTURBED         %s.\n"
		       "                    The file says so and rmcd warns when it loads it:\n"
		       "                    calibrate again on a quiet machine.\n",
		       d->disturbed_why);
	else
		printf("  the machine looked quiet%s\n",
		       d->floor_per_rtt > 0 ? "" : " (no floor: the round trip's repeats only)");
	printf("\n");
}

/* Notes on probes that had to be repeated, or stayed noisy. */
static void spread_notes(const struct cal_ctx *x)
{
	char b[32];
	bool any = false;

#define SPREAD(st, ...)                                                                      \
	do {                                                                                 \
		if ((st)->runs > 1) {                                                        \
			printf("  - ");                                                      \
			printf(__VA_ARGS__);                                                 \
			printf(": p90/p10 %.2f after %u runs%s\n", (st)->spread, (st)->runs, \
			       (st)->noisy ? ", still wide (!)" : " (*)");                   \
			any = true;                                                          \
		}                                                                            \
	} while (0)
	SPREAD(&x->tsc_read, "TSC read cost");
	for (int i = 0; i < x->ndom; i++)
		for (int j = 0; j < x->ndom; j++) {
			if (j >= i)
				SPREAD(&x->rtt[i][j], "cache-line round trip %d-%d", i, j);
			SPREAD(&x->load[i][j], "load latency %d->%d", i, j);
			for (unsigned s = 0; s < x->n_copy; s++)
				SPREAD(&x->copy[i][j][s], "copy of %s %d<-%d",
				       bytes(b, sizeof(b), x->copy_size[s]), i, j);
		}
	for (uint32_t i = 0; x->floor_done && i < x->d.n_floor; i++)
		SPREAD(&x->floor[i], "floor for %s", bytes(b, sizeof(b), x->d.floor_size[i]));
	for (uint32_t i = 0; x->agent_done && i < x->d.n_agent; i++) {
		SPREAD(&x->agent_floor[i][0], "agent's floor for %s in cache",
		       bytes(b, sizeof(b), x->d.agent_floor[i].size));
		SPREAD(&x->agent_floor[i][1], "agent's floor for %s beyond the caches",
		       bytes(b, sizeof(b), x->d.agent_floor[i].size));
	}
#undef SPREAD
	if (any)
		printf("  (a probe whose p90/p10 is too wide is run again, %d runs at most, "
		       "and the tightest run is kept)\n",
		       CAL_RUNS);
}

void cal_report(const struct cal_ctx *x)
{
	header(x);
	section_tsc(x);
	section_c2c(x);
	section_load(x);
	section_copy(x);
	if (x->agent_done)
		section_agent(x);
	else
		printf("Minimal polling agent: not measured\n\n");
	if (x->floor_done)
		section_floor(x);
	else
		printf("Emulator floor: not measured (--no-floor)\n\n");
	if (x->n_rounds)
		section_rounds(x);
	section_sanity(x);
	printf("Hardware counters\n");
	if (x->papi.ok) {
		printf("  PAPI:");
		for (int i = 0; i < x->papi.n; i++)
			printf(" %s", x->papi.names[i]);
		printf(" (per-probe figures above)\n");
	} else {
		printf("  none (%s)\n", x->papi.why);
	}
	printf("\nNotes\n");
	for (unsigned i = 0; i < x->n_notes; i++)
		printf("  - %s\n", x->notes[i]);
	spread_notes(x);
	printf("  - marks: * repeated until tight, ! still spread wide; - not measured\n");
}

/* "median [p10..p90] p99" in us, and the mark. */
static const char *us_cell(char *buf, size_t len, const struct cal_fabric *f, int op, uint32_t i,
			   const struct cal_stats *st)
{
	char a[16], b[16], c[16], d[16];

	snprintf(buf, len, "%s [%s..%s] %s%c", num(a, sizeof(a), f->ns[op][i] / 1e3),
		 num(b, sizeof(b), f->p10_ns[op][i] / 1e3),
		 num(c, sizeof(c), f->p90_ns[op][i] / 1e3),
		 num(d, sizeof(d), f->p99_ns[op][i] / 1e3), mark(st));
	return buf;
}

void cal_report_fabric(const struct cal_ctx *x)
{
	const struct cal_fabric *f = &x->fab;
	char s[32], rd[64], wr[64];

	printf("sonuma-calibrate %s: %s fabric calibration in %.1f s\n\n", SONUMA_VERSION,
	       x->opt.quick ? "quick" : "full", x->elapsed_s);
	printf("Fabric %s from node %u (%s) to node %u (%s) of %s\n", f->name, f->node, f->address,
	       f->peer_node, f->peer, x->fab_conf);
	printf("  UCX_TLS %s; rmcd %s, none model on both hosts;\n  this program on CPU %d\n",
	       f->transports, x->floor_rmcd, x->fab_cpu);
	printf("  synchronous latency (us, median [p10..p90] p99); asynchronous bandwidth with %u "
	       "in flight (GB/s)\n",
	       f->outstanding);
	printf("  %-9s %-30s %-30s %8s %8s\n", "size", "read", "write", "read", "write");
	for (uint32_t i = 0; i < f->n; i++)
		printf("  %-9s %-30s %-30s %8.3f %8.3f\n", bytes(s, sizeof(s), f->size[i]),
		       us_cell(rd, sizeof(rd), f, CAL_FAB_READ, i, &x->fab_lat[CAL_FAB_READ][i]),
		       us_cell(wr, sizeof(wr), f, CAL_FAB_WRITE, i, &x->fab_lat[CAL_FAB_WRITE][i]),
		       f->gbps[CAL_FAB_READ][i], f->gbps[CAL_FAB_WRITE][i]);
	printf("  rmcd with the ucx fabric warns at start when a model asks for less than these\n"
	       "  medians, and starts a write to another node early enough for the fabric to land\n"
	       "  it in time.  Marks: * repeated until tight, ! still spread wide.\n");
}
