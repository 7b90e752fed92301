/* SPDX-License-Identifier: MIT */
/*
 * ucx-probe: small checks for the ucx fabric test (tests/ucx/ucx.sh), run
 * as an application of one node ($SONUMA_NODE, $SONUMA_RUNDIR):
 *
 *   ucx-probe up SECS             wait until every node is reachable
 *   ucx-probe faa NODE OFF N      N fetch-and-adds of 1 on node NODE's word
 *                                 at OFF; every old value must be below the
 *                                 final sum (none lost is checked with get)
 *   ucx-probe cas NODE OFF N      N increments of that word by compare-and-swap
 *   ucx-probe get NODE OFF        prints the word
 *   ucx-probe until-fail NODE SECS
 *                                 reads NODE with 16 requests in flight until
 *                                 one fails; prints "failed_at_ns=T status=S"
 *                                 (CLOCK_REALTIME) and exits 0 if S is
 *                                 RMC_ERR_UNREACHABLE
 *   ucx-probe until-ok NODE SECS  reads NODE until a read succeeds
 *
 * Exit status 0 on success, 1 on failure (with a message), 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sonuma.h"

static uint64_t now_ns(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int fd;
static rmc_wq_t *wq;
static rmc_cq_t *cq;
static uint8_t *lbuf;

static int attach(void)
{
	int r;

	fd = kal_open((char *)RMC_DEV);
	if (fd < 0) {
		fprintf(stderr, "ucx-probe: cannot attach: %s\n", strerror(-fd));
		return 1;
	}
	if ((r = kal_reg_wq(fd, &wq)) || (r = kal_reg_cq(fd, &cq)) ||
	    (r = kal_reg_lbuff(fd, &lbuf, 16))) {
		fprintf(stderr, "ucx-probe: cannot register: %s\n", strerror(-r));
		return 1;
	}
	return 0;
}

struct fail {
	uint8_t status;
	int n;
};

static void on_cq(uint8_t tid, wq_entry_t *head, void *owner)
{
	struct fail *f = owner;

	(void)tid;
	if (head->status != RMC_OK && !f->status)
		f->status = head->status;
	f->n++;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		goto usage;
	const char *cmd = argv[1];
	if (!strcmp(cmd, "up")) {
		double secs = atof(argv[2]);
		uint64_t end = now_ns(CLOCK_MONOTONIC) + (uint64_t)(secs * 1e9);
		struct kal_info info = { 0 };
		for (;;) {
			int f = kal_open((char *)RMC_DEV);
			if (f >= 0) {
				int r = kal_info(f, &info);
				kal_close(f);
				uint64_t all = (1ull << info.nodes) - 1;
				if (!r && info.nodes && (info.nodes_up & all) == all)
					return 0;
			}
			if (now_ns(CLOCK_MONOTONIC) > end) {
				fprintf(stderr,
					"ucx-probe up: nodes up 0x%" PRIx64 " after %.0f s\n",
					info.nodes_up, secs);
				return 1;
			}
			struct timespec nap = { 0, 10000000 };
			nanosleep(&nap, NULL);
		}
	}
	if (argc < 4)
		goto usage;
	int node = atoi(argv[2]);
	if (attach())
		return 1;
	if (!strcmp(cmd, "faa") || !strcmp(cmd, "cas")) {
		if (argc < 5)
			goto usage;
		uint64_t off = strtoull(argv[3], NULL, 0), n = strtoull(argv[4], NULL, 0);
		for (uint64_t i = 0; i < n; i++) {
			uint64_t old = 0, seen;
			int r;
			if (cmd[0] == 'f') {
				r = rmc_faa_sync(wq, cq, lbuf, 0, node, 0, off, 1, &old);
			} else {
				/* Read the word with a CAS that cannot succeed... unless it
				 * holds that value: then it is a no-op anyway. */
				r = rmc_cas_sync(wq, cq, lbuf, 0, node, 0, off, ~0ull, ~0ull,
						 &seen);
				while (!r) {
					r = rmc_cas_sync(wq, cq, lbuf, 0, node, 0, off, seen,
							 seen + 1, &old);
					if (r || old == seen)
						break;
					seen = old;
				}
			}
			if (r) {
				fprintf(stderr,
					"ucx-probe %s: operation %" PRIu64 " on node %d: %s\n", cmd,
					i, node, strerror(-r));
				return 1;
			}
		}
		return 0;
	}
	if (!strcmp(cmd, "get")) {
		uint64_t off = strtoull(argv[3], NULL, 0);
		int r = rmc_rread_sync(wq, cq, lbuf, 0, node, 0, off & ~63ull, 64);
		if (r) {
			fprintf(stderr, "ucx-probe get: node %d: %s\n", node, strerror(-r));
			return 1;
		}
		uint64_t v;
		memcpy(&v, lbuf + (off & 63), sizeof(v));
		printf("%" PRIu64 "\n", v);
		return 0;
	}
	if (!strcmp(cmd, "until-fail") || !strcmp(cmd, "until-ok")) {
		bool fail = cmd[6] == 'f';
		uint64_t end = now_ns(CLOCK_MONOTONIC) + (uint64_t)(atof(argv[3]) * 1e9);
		struct fail f = { 0 };
		uint64_t ok = 0;
		while (now_ns(CLOCK_MONOTONIC) < end) {
			int k = fail ? 16 : 1;
			for (int i = 0; i < k; i++) {
				int tid = rmc_rread_async(wq, lbuf, (uint64_t)i * 4096, node, 0,
							  (uint64_t)i * 4096, 4096);
				if (tid < 0) {
					fprintf(stderr, "ucx-probe: post: %s\n", strerror(-tid));
					return 1;
				}
			}
			f.n = 0;
			while (f.n < k) {
				int r = rmc_wait_cq(wq, cq, on_cq, &f);
				if (r < 0) {
					fprintf(stderr, "ucx-probe: wait: %s\n", strerror(-r));
					return 1;
				}
			}
			if (fail && f.status) {
				printf("failed_at_ns=%" PRIu64 " status=%s after %" PRIu64
				       " good rounds\n",
				       now_ns(CLOCK_REALTIME), rmc_status_str(f.status), ok);
				return f.status == RMC_ERR_UNREACHABLE ? 0 : 1;
			}
			if (!fail && !f.status) {
				printf("ok_at_ns=%" PRIu64 "\n", now_ns(CLOCK_REALTIME));
				return 0;
			}
			f.status = 0;
			ok++;
			if (!fail) {
				struct timespec nap = { 0, 5000000 };
				nanosleep(&nap, NULL);
			}
		}
		fprintf(stderr, "ucx-probe %s: node %d: not by the deadline (%" PRIu64 " rounds)\n",
			cmd, node, ok);
		return 1;
	}
usage:
	fprintf(stderr, "usage: ucx-probe up SECS | faa|cas NODE OFF N | get NODE OFF | "
			"until-fail|until-ok NODE SECS\n");
	return 2;
}
