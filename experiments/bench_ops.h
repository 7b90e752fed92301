/* SPDX-License-Identifier: MIT */
/*
 * The shared body of bench_sync and bench_async: arguments, checking the
 * data against what bench_server wrote (reads) or zero (writes), and the
 * per-operation report.
 */
#ifndef SONUMA_BENCH_OPS_H
#define SONUMA_BENCH_OPS_H

#include "common.h"

struct bench {
	const char *prog;
	int snid;
	char op; /* 'r' or 'w' */
	unsigned long iters;
	unsigned long size;
	int quiet;
	int fd;
	struct kal_info info;
	rmc_wq_t *wq;
	rmc_cq_t *cq;
	uint8_t *lbuff;
	uint64_t *lat_tsc; /* per operation */
};

static inline void bench_usage(FILE *f, const char *prog, const char *how)
{
	fprintf(f,
		"Usage: %s [-n ITERS] [-s SIZE] [-q] SNID r|w\n"
		"%s remote reads (r) or writes (w) on node SNID's context.\n"
		"  r: reads the values bench_server wrote there and checks each one;\n"
		"  w: writes zeroes over them, then reads them back to check.\n"
		"  -n ITERS  operations (default 16)\n"
		"  -s SIZE   bytes per operation, at least 64 (default 64)\n"
		"  -q        print the summary only\n"
		"Run it with: sonuma-run -n NODE -- %s 1 r\n",
		prog, how, prog);
}

static inline void bench_args(struct bench *b, int argc, char **argv, const char *how)
{
	int opt;

	b->iters = 16;
	b->size = 64;
	while ((opt = getopt(argc, argv, "n:s:qh")) != -1) {
		switch (opt) {
		case 'n':
			b->iters = parse_ul(b->prog, "-n ITERS", optarg, 1, 1000000);
			break;
		case 's':
			b->size = parse_ul(b->prog, "-s SIZE", optarg, 64, 1ul << 30);
			break;
		case 'q':
			b->quiet = 1;
			break;
		case 'h':
			bench_usage(stdout, b->prog, how);
			exit(0);
		default:
			bench_usage(stderr, b->prog, how);
			exit(2);
		}
	}
	if (argc - optind != 2 ||
	    (strcmp(argv[optind + 1], "r") && strcmp(argv[optind + 1], "w"))) {
		bench_usage(stderr, b->prog, how);
		exit(2);
	}
	b->snid = (int)parse_ul(b->prog, "SNID", argv[optind], 0, 0xffff);
	b->op = argv[optind + 1][0];
}

static inline void bench_setup(struct bench *b)
{
	uint64_t span;
	int r;

	b->fd = bench_attach(b->prog, &b->info);
	if ((unsigned)b->snid >= b->info.nodes) {
		fprintf(stderr, "%s: node %d does not exist (the cluster has %u nodes)\n", b->prog,
			b->snid, b->info.nodes);
		exit(2);
	}
	if (b->size % 64 || b->size > b->info.max_transfer) {
		fprintf(stderr, "%s: -s SIZE must be a multiple of 64 up to %llu\n", b->prog,
			(unsigned long long)b->info.max_transfer);
		exit(2);
	}
	span = (uint64_t)b->iters * b->size;
	if (span > b->info.context_size) {
		fprintf(stderr,
			"%s: %lu operations of %lu bytes need %llu bytes, more than the "
			"%llu-byte context\n",
			b->prog, b->iters, b->size, (unsigned long long)span,
			(unsigned long long)b->info.context_size);
		exit(2);
	}
	if ((r = kal_reg_wq(b->fd, &b->wq)) || (r = kal_reg_cq(b->fd, &b->cq)) ||
	    (r = kal_reg_lbuff(b->fd, &b->lbuff, (uint32_t)((span + PAGE_SIZE - 1) / PAGE_SIZE)))) {
		fprintf(stderr, "%s: registration failed: %s\n", b->prog, strerror(-r));
		exit(1);
	}
	b->lat_tsc = calloc(b->iters, sizeof(*b->lat_tsc));
	if (!b->lat_tsc)
		exit(1);
	/* Fill the buffer so a read that did not happen cannot look right. */
	memset(b->lbuff, 0xee, span);
}

/* Checks block i of the local buffer; returns 1 when right. */
static inline int bench_check(const struct bench *b, unsigned long i, uint64_t *got, uint64_t *want)
{
	const uint8_t *p = b->lbuff + i * b->size;

	memcpy(got, p, sizeof(*got));
	*want = b->op == 'r' ? bench_value(i * b->size / 64) : 0;
	if (*got != *want)
		return 0;
	/* The rest of the first block as bench_server wrote it. */
	for (unsigned j = 8; j < 64; j++)
		if (p[j] != (b->op == 'r' ? (uint8_t)((i * b->size / 64) & 0xff) : 0))
			return 0;
	return 1;
}

static inline int bench_report(struct bench *b, const char *mode)
{
	uint64_t *sorted = malloc(b->iters * sizeof(uint64_t));
	unsigned long ok = 0;
	double hz = b->info.tsc_hz;

	for (unsigned long i = 0; i < b->iters; i++) {
		uint64_t got, want;
		int good = bench_check(b, i, &got, &want);
		ok += good;
		if (!b->quiet)
			printf("%s %c node %d offset %8lu: value 0x%016llx %s  %8.0f ns\n", mode,
			       b->op, b->snid, i * b->size, (unsigned long long)got,
			       good ? "ok   " : "WRONG", core_tsc_to_ns(b->lat_tsc[i], hz));
		if (!good && !b->quiet)
			printf("    expected 0x%016llx\n", (unsigned long long)want);
	}
	memcpy(sorted, b->lat_tsc, b->iters * sizeof(uint64_t));
	qsort(sorted, b->iters, sizeof(uint64_t), exp_cmp_u64);
	printf("%s: %lu %s %s of %lu bytes from node %d: %lu/%lu values %s; latency "
	       "median %.0f ns, p99 %.0f ns, min %.0f ns (TSC %.3f GHz, model %s)\n",
	       b->prog, b->iters, mode, b->op == 'r' ? "reads" : "writes", b->size, b->snid, ok,
	       b->iters, ok == b->iters ? "correct" : "WRONG",
	       core_tsc_to_ns(exp_pct_round(sorted, b->iters, 50), hz),
	       core_tsc_to_ns(exp_pct_round(sorted, b->iters, 99), hz),
	       core_tsc_to_ns(sorted[0], hz), hz / 1e9, b->info.model);
	free(sorted);
	return ok == b->iters ? 0 : 1;
}

#endif
