/* SPDX-License-Identifier: MIT */
/*
 * kmod_rmcd_test: the guest side of tests/qemu/kmod_rmcd.sh, where rmc.ko is
 * loaded and one rmcd serves each of two nodes.  Uses only the public API
 * (sonuma.h) and attaches to the node named by $SONUMA_NODE under
 * $SONUMA_RUNDIR.  Prints
 *   === GUEST: PASS <name>   or   === GUEST: FAIL <name>: <why>
 * and exits 0 only when every check of the step passed.
 *
 *   kmod_rmcd_test ctx-own SEED
 *       malloc()s memory of the context's size, makes it the node's context
 *       with kal_reg_ctx(*ctx = that memory), then writes pattern SEED there
 *       and exits: rmcd keeps the region.  Check: ctx-own.
 *
 *   kmod_rmcd_test remote NODE SEED
 *       Registers a malloc()ed buffer at an odd address as its local buffer
 *       (kal_reg_lbuff(*buff = that buffer)), reads NODE's whole context
 *       into it and finds pattern SEED, then writes pattern SEED + 1 over
 *       the context's first LBUFF_PAGES pages from it.  Checks:
 *       lbuff-inplace (the pointer is unchanged, reads land in that very
 *       memory, byte-exact, and nothing around it changes), ctx-remote-read
 *       (the pattern of ctx-own, through the peer's rmcd), lbuff-write (what
 *       the program puts in its buffer after registering it is what the
 *       remote context gets).
 *
 *   kmod_rmcd_test ctx-map SEED
 *       Maps the node's context with kal_reg_ctx(*ctx = NULL) and finds
 *       pattern SEED + 1 over its first LBUFF_PAGES pages (remote's
 *       write) and SEED over the rest (ctx-own's).  Check: ctx-map.
 *
 * Exit status: 0 when every check passed, 1 when one failed, 2 on bad usage.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest_check.h"
#include "sonuma.h"

#define LBUFF_PAGES 16u /* the local buffer of "remote": 64 KiB */
#define GUARD 4096u	/* bytes checked on either side of it */
#define GUARD_BYTE 0xa5
#define LBUFF_SKEW 5u /* its byte offset from malloc's address */

static void pass(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("=== GUEST: PASS %s (", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(")\n");
	fflush(stdout);
}

/* Pattern seed: each 8-byte word of the context is a mix of its index and
 * the seed, so that a misplaced or stale block shows. */
static uint64_t pattern_word(uint32_t seed, uint64_t word)
{
	uint64_t w = (word + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)seed << 32 | seed);

	w ^= w >> 29;
	w *= 0xbf58476d1ce4e5b9ull;
	return w ^ w >> 32;
}

static uint8_t pattern_byte(uint32_t seed, uint64_t off)
{
	return (uint8_t)(pattern_word(seed, off / 8) >> (off % 8 * 8));
}

static void pattern_fill(uint8_t *dst, uint32_t seed, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint64_t o = off + i, w = pattern_word(seed, o / 8) >> (o % 8 * 8);
		for (unsigned b = (unsigned)(o % 8); b < 8 && i < len; b++, i++, w >>= 8)
			dst[i] = (uint8_t)w;
	}
}

/* The first byte of [p, p + len) that is not pattern seed at off, or -1. */
static int64_t pattern_diff(const uint8_t *p, uint32_t seed, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint64_t o = off + i, w = pattern_word(seed, o / 8) >> (o % 8 * 8);
		for (unsigned b = (unsigned)(o % 8); b < 8 && i < len; b++, i++, w >>= 8)
			if (p[i] != (uint8_t)w)
				return (int64_t)i;
	}
	return -1;
}

static bool all_bytes(const uint8_t *p, uint8_t v, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

static unsigned page_offset(const void *p)
{
	return (unsigned)((uintptr_t)p % PAGE_SIZE);
}

/* Attaches to the node of $SONUMA_NODE and reads what rmcd says of it. */
static int attach(const char *name, struct kal_info *info)
{
	int fd = kal_open(RMC_DEV), r;

	if (fd < 0) {
		fail(name, "kal_open: %s", strerror(-fd));
		return -1;
	}
	if ((r = kal_info(fd, info))) {
		fail(name, "kal_info: %s", strerror(-r));
		return -1;
	}
	if (!info->context_size || info->context_size % PAGE_SIZE ||
	    info->context_size / PAGE_SIZE > UINT32_MAX) {
		fail(name, "rmcd reports a context of %llu bytes",
		     (unsigned long long)info->context_size);
		return -1;
	}
	return fd;
}

static int ctx_own(uint32_t seed)
{
	struct kal_info info;
	int fd = attach("ctx-own", &info), r;

	if (fd < 0)
		return 1;
	uint64_t size = info.context_size;
	uint8_t *mem = malloc(size), *ctx = mem;
	if (!mem) {
		fail("ctx-own", "malloc(%llu) failed", (unsigned long long)size);
		return 1;
	}
	r = kal_reg_ctx(fd, &ctx, (uint32_t)(size / PAGE_SIZE));
	if (r) {
		fail("ctx-own", "kal_reg_ctx(%p, %llu pages): %s", (void *)mem,
		     (unsigned long long)(size / PAGE_SIZE), strerror(-r));
		return 1;
	}
	if (ctx != mem) {
		fail("ctx-own", "kal_reg_ctx moved the context from %p to %p", (void *)mem,
		     (void *)ctx);
		return 1;
	}
	/* Written after the registration: a copy taken then would miss it. */
	pattern_fill(mem, seed, 0, size);
	pass("ctx-own",
	     "node %u: %llu malloc'ed bytes at %p (page offset %u) are its context 0, "
	     "pattern %u written after kal_reg_ctx; exiting",
	     info.nid, (unsigned long long)size, (void *)mem, page_offset(mem), seed);
	return 0; /* without kal_close or free: the region must outlive us */
}

static int remote(unsigned node, uint32_t seed)
{
	const size_t lb = (size_t)LBUFF_PAGES * PAGE_SIZE;
	struct kal_info info;
	rmc_wq_t *wq;
	rmc_cq_t *cq;
	int fd = attach("lbuff-inplace", &info), r;

	if (fd < 0)
		return 1;
	uint64_t size = info.context_size;
	size_t chunk = info.max_transfer < lb ? (size_t)info.max_transfer : lb;
	if (chunk < 64 || size < lb) {
		fail("lbuff-inplace", "max_transfer %llu, context %llu bytes: too small",
		     (unsigned long long)info.max_transfer, (unsigned long long)size);
		return 1;
	}

	/* The buffer: malloc'ed, at an odd address, with guard bytes around. */
	uint8_t *raw = malloc(lb + 2 * GUARD + LBUFF_SKEW + 1);
	if (!raw) {
		fail("lbuff-inplace", "malloc failed");
		return 1;
	}
	uint8_t *mine = raw + GUARD + LBUFF_SKEW;
	if (!page_offset(mine))
		mine++;
	memset(raw, GUARD_BYTE, lb + 2 * GUARD + LBUFF_SKEW + 1);
	memset(mine, 0, lb);
	uint8_t *buf = mine;
	r = kal_reg_lbuff(fd, &buf, LBUFF_PAGES);
	if (r) {
		fail("lbuff-inplace", "kal_reg_lbuff(%p, %u pages): %s", (void *)mine, LBUFF_PAGES,
		     strerror(-r));
		return 1;
	}
	if (buf != mine) {
		fail("lbuff-inplace", "kal_reg_lbuff moved the buffer from %p to %p", (void *)mine,
		     (void *)buf);
		return 1;
	}
	if ((r = kal_reg_wq(fd, &wq)) || (r = kal_reg_cq(fd, &cq))) {
		fail("lbuff-inplace", "kal_reg_wq/cq: %s", strerror(-r));
		return 1;
	}

	/* A few bytes into the middle of the buffer: exactly they change. */
	const uint64_t sub_off = 12345, sub_len = 100, sub_at = 3;
	r = rmc_rread_sync(wq, cq, buf, sub_at, (int)node, 0, sub_off, sub_len);
	if (r) {
		fail("lbuff-inplace", "read of %llu bytes from node %u: %s",
		     (unsigned long long)sub_len, node, strerror(-r));
		return 1;
	}
	int64_t d = pattern_diff(mine + sub_at, seed, sub_off, sub_len);
	if (d >= 0 || !all_bytes(mine, 0, sub_at) ||
	    !all_bytes(mine + sub_at + sub_len, 0, lb - sub_at - sub_len)) {
		fail("lbuff-inplace", "a %llu-byte read into %p + %llu: %s",
		     (unsigned long long)sub_len, (void *)mine, (unsigned long long)sub_at,
		     d >= 0 ? "wrong bytes there" : "bytes outside it changed");
		return 1;
	}

	/* The whole context, chunk by chunk, into the same memory. */
	uint64_t reads = 1;
	for (uint64_t off = 0; off < size; off += chunk) {
		size_t len = size - off < chunk ? (size_t)(size - off) : chunk;
		memset(mine, 0, len);
		r = rmc_rread_sync(wq, cq, buf, 0, (int)node, 0, off, len);
		reads++;
		if (r) {
			fail("ctx-remote-read", "read of node %u's context at %llu: %s", node,
			     (unsigned long long)off, strerror(-r));
			return 1;
		}
		d = pattern_diff(mine, seed, off, len);
		if (d >= 0) {
			fail("ctx-remote-read",
			     "node %u's context at %llu holds 0x%02x, pattern %u has 0x%02x", node,
			     (unsigned long long)(off + (uint64_t)d), mine[d], seed,
			     pattern_byte(seed, off + (uint64_t)d));
			return 1;
		}
	}
	if (!all_bytes(raw, GUARD_BYTE, (size_t)(mine - raw)) ||
	    !all_bytes(mine + lb, GUARD_BYTE, GUARD)) {
		fail("lbuff-inplace", "bytes around the buffer changed");
		return 1;
	}
	pass("lbuff-inplace",
	     "malloc'ed buffer kept at %p (page offset %u), %llu reads from "
	     "node %u landed there, byte-exact, guards intact",
	     (void *)mine, page_offset(mine), (unsigned long long)reads, node);
	pass("ctx-remote-read",
	     "pattern %u over node %u's %llu-byte context, memory of a "
	     "program that has exited",
	     seed, node, (unsigned long long)size);

	/* Written into the buffer after its registration, then sent. */
	pattern_fill(mine, seed + 1, 0, lb);
	for (uint64_t off = 0; off < lb; off += chunk) {
		size_t len = lb - off < chunk ? (size_t)(lb - off) : chunk;
		r = rmc_rwrite_sync(wq, cq, buf, off, (int)node, 0, off, len);
		if (r) {
			fail("lbuff-write", "write to node %u's context at %llu: %s", node,
			     (unsigned long long)off, strerror(-r));
			return 1;
		}
	}
	memset(mine, 0, lb);
	for (uint64_t off = 0; off < lb; off += chunk) {
		size_t len = lb - off < chunk ? (size_t)(lb - off) : chunk;
		r = rmc_rread_sync(wq, cq, buf, off, (int)node, 0, off, len);
		if (r) {
			fail("lbuff-write", "read back at %llu: %s", (unsigned long long)off,
			     strerror(-r));
			return 1;
		}
	}
	if ((d = pattern_diff(mine, seed + 1, 0, lb)) >= 0) {
		fail("lbuff-write", "node %u's context at %lld does not hold what was written",
		     node, (long long)d);
		return 1;
	}
	pass("lbuff-write", "pattern %u written from the buffer over node %u's first %zu bytes",
	     seed + 1, node, lb);
	return 0;
}

static int ctx_map(uint32_t seed)
{
	const size_t lb = (size_t)LBUFF_PAGES * PAGE_SIZE;
	struct kal_info info;
	uint8_t *ctx = NULL;
	int fd = attach("ctx-map", &info), r;

	if (fd < 0)
		return 1;
	uint64_t size = info.context_size;
	r = kal_reg_ctx(fd, &ctx, (uint32_t)(size / PAGE_SIZE));
	if (r || !ctx) {
		fail("ctx-map", "kal_reg_ctx(NULL): %s", r ? strerror(-r) : "no address");
		return 1;
	}
	int64_t d = pattern_diff(ctx, seed + 1, 0, lb);
	if (d >= 0) {
		fail("ctx-map", "byte %lld is 0x%02x, the remote write put 0x%02x there",
		     (long long)d, ctx[d], pattern_byte(seed + 1, (uint64_t)d));
		return 1;
	}
	d = pattern_diff(ctx + lb, seed, lb, size - lb);
	if (d >= 0) {
		fail("ctx-map", "byte %llu is 0x%02x, ctx-own wrote 0x%02x",
		     (unsigned long long)(lb + (uint64_t)d), ctx[lb + (uint64_t)d],
		     pattern_byte(seed, lb + (uint64_t)d));
		return 1;
	}
	pass("ctx-map",
	     "node %u's context mapped at %p (page offset %u): pattern %u over "
	     "the first %zu bytes, %u over the rest",
	     info.nid, (void *)ctx, page_offset(ctx), seed + 1, lb, seed);
	return 0;
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v > UINT32_MAX - 1)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t seed, node;
	int rc;

	if (argc == 3 && !strcmp(argv[1], "ctx-own") && !parse_u32(argv[2], &seed))
		rc = ctx_own(seed);
	else if (argc == 4 && !strcmp(argv[1], "remote") && !parse_u32(argv[2], &node) &&
		 node <= 0xffff && !parse_u32(argv[3], &seed))
		rc = remote(node, seed);
	else if (argc == 3 && !strcmp(argv[1], "ctx-map") && !parse_u32(argv[2], &seed))
		rc = ctx_map(seed);
	else {
		fprintf(stderr, "Usage: kmod_rmcd_test ctx-own SEED\n"
				"       kmod_rmcd_test remote NODE SEED\n"
				"       kmod_rmcd_test ctx-map SEED\n");
		return 2;
	}
	return rc || failures ? 1 : 0;
}
