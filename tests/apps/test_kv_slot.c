/* SPDX-License-Identifier: MIT */
/*
 * The lock-free read of sonuma-kv (experiments/apps/kv_slot.h), on slot
 * images built here: a committed image is accepted; an empty, locked or
 * torn one never is.  Torn images are made the way the RMC could make
 * them: a copy of the slot whose bytes come partly from one committed
 * write and partly from the next (or from the lock taken in between), in
 * any order of bytes, words or cache lines.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kv_slot.h"

#define VLEN 136 /* a value that does not fill its last 64 bytes */

static uint64_t rng_state = 0x1234567;
static uint64_t rnd(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* The image a reader copies of a committed slot at version ver. */
static void committed(uint8_t *img, uint64_t key, uint64_t ver, uint64_t seq, uint32_t writer)
{
	kv_slot_build(img, key, ver, seq, writer, VLEN);
	memcpy(img, &ver, sizeof(ver));
}

Test(kv_slot, sizes)
{
	cr_expect_eq(kv_slot_size(8), 128);
	cr_expect_eq(kv_slot_size(64), 128);
	cr_expect_eq(kv_slot_size(65), 192);
	cr_expect_eq(kv_slot_size(VLEN), 256);
}

Test(kv_slot, a_committed_image_is_accepted_and_its_value_checks)
{
	uint8_t img[256];
	struct kv_hdr h;

	committed(img, 42, 6, 3, 7);
	cr_assert_eq(kv_slot_judge(img, VLEN), KV_OK);
	memcpy(&h, img, sizeof(h));
	cr_expect_eq(h.key, 42);
	cr_expect_eq(h.writer, 7);
	cr_expect_eq(h.seq, 3);
	cr_expect_eq(kv_value_check(img + KV_HDR, 42, 7, 3, VLEN), 0);
	/* The same bytes under another put's name do not check. */
	cr_expect_neq(kv_value_check(img + KV_HDR, 42, 7, 4, VLEN), 0);
	cr_expect_neq(kv_value_check(img + KV_HDR, 43, 7, 3, VLEN), 0);
	cr_expect_neq(kv_value_check(img + KV_HDR, 42, 8, 3, VLEN), 0);
	/* A table of another value size is not read as this one. */
	cr_expect_eq(kv_slot_judge(img, VLEN + 8), KV_TORN);
}

Test(kv_slot, value_bytes_match_the_fill)
{
	uint8_t v[VLEN];

	kv_value_fill(v, 9, 2, 11, VLEN);
	for (uint32_t i = 0; i < VLEN; i++)
		cr_assert_eq(v[i], kv_value_byte(9, 2, 11, i), "byte %u", i);
}

/* The slot's version word (its first 8 bytes), as another write left it. */
static void set_word(uint8_t *img, uint64_t v)
{
	memcpy(img, &v, 8);
}

Test(kv_slot, empty_and_locked_slots_are_not_accepted)
{
	uint8_t img[256];

	memset(img, 0, sizeof(img));
	cr_expect_eq(kv_slot_judge(img, VLEN), KV_EMPTY);
	/* Claimed for a new key, body not yet written. */
	set_word(img, 1);
	cr_expect_eq(kv_slot_judge(img, VLEN), KV_LOCKED);
	/* A committed body under a lock word. */
	committed(img, 5, 8, 1, 0);
	set_word(img, 9);
	cr_expect_eq(kv_slot_judge(img, VLEN), KV_LOCKED);
}

Test(kv_slot, version_and_body_from_different_writes_are_torn)
{
	uint8_t img[256];

	/* The body of version 4 with the word of version 6 (copied after the
	 * next release), and the reverse. */
	committed(img, 5, 4, 1, 0);
	set_word(img, 6);
	cr_expect_eq(kv_slot_judge(img, VLEN), KV_TORN);
	committed(img, 5, 6, 2, 0);
	set_word(img, 4);
	cr_expect_eq(kv_slot_judge(img, VLEN), KV_TORN);
}

/* Every mix of the old and the new image, at every byte boundary, both
 * ways round, with the version word of either: accepted only when it is
 * one of the two images whole. */
Test(kv_slot, every_split_between_two_writes_is_detected)
{
	uint8_t a[256], b[256], img[256];
	uint64_t sz = kv_slot_size(VLEN);

	committed(a, 77, 10, 5, 3);
	committed(b, 77, 12, 6, 1);
	for (uint64_t s = 0; s <= sz; s++)
		for (int dir = 0; dir < 2; dir++)
			for (int w = 0; w < 2; w++) {
				const uint8_t *lo = dir ? b : a, *hi = dir ? a : b;
				memcpy(img, lo, s);
				memcpy(img + s, hi + s, sz - s);
				memcpy(img, w ? a : b, 8); /* the version word of either */
				bool whole = !memcmp(img, a, sz) || !memcmp(img, b, sz);
				enum kv_look l = kv_slot_judge(img, VLEN);
				if (whole)
					cr_assert_eq(l, KV_OK, "split %llu dir %d word %d",
						     (unsigned long long)s, dir, w);
				else
					cr_assert_eq(l, KV_TORN,
						     "split %llu dir %d word %d: accepted",
						     (unsigned long long)s, dir, w);
			}
}

/* Random mixes of 8-byte words and of 64-byte lines (the RMC may copy in
 * any order, a real one a cache block at a time). */
Test(kv_slot, random_word_and_line_mixes_are_detected)
{
	uint8_t a[256], b[256], img[256];
	uint64_t sz = kv_slot_size(VLEN), accepted_torn = 0, ok = 0;

	for (int round = 0; round < 20000; round++) {
		unsigned gran = round % 2 ? 8 : 64;
		uint64_t va = 2 + 2 * (rnd() % 1000);
		committed(a, 1000 + round, va, rnd() % 100 + 1, (uint32_t)(rnd() % 8));
		committed(b, 1000 + round, va + 2, rnd() % 100 + 1, (uint32_t)(rnd() % 8));
		for (uint64_t off = 0; off < sz; off += gran)
			memcpy(img + off, rnd() & 1 ? a + off : b + off, gran);
		bool whole = !memcmp(img, a, sz) || !memcmp(img, b, sz);
		enum kv_look l = kv_slot_judge(img, VLEN);
		if (whole) {
			cr_assert_eq(l, KV_OK);
			ok++;
		} else if (l == KV_OK) {
			accepted_torn++;
		}
	}
	cr_expect_eq(accepted_torn, 0, "%llu torn images accepted",
		     (unsigned long long)accepted_torn);
	cr_expect_gt(ok, 0, "some mixes are whole images (and must be accepted)");
}

/* A mix with the lock held: the writer's body landed partly (the word is
 * odd) or fully but not yet released. */
Test(kv_slot, a_write_in_progress_is_never_accepted)
{
	uint8_t a[256], b[256], img[256];
	uint64_t sz = kv_slot_size(VLEN), odd = 11;

	committed(a, 3, 10, 1, 0);
	committed(b, 3, 12, 2, 0);
	for (uint64_t s = 8; s <= sz; s += 8) {
		memcpy(img, a, s);
		memcpy(img + s, b + s, sz - s);
		memcpy(img, &odd, 8);
		cr_assert_eq(kv_slot_judge(img, VLEN), KV_LOCKED, "split %llu",
			     (unsigned long long)s);
	}
}

Test(kv_slot, every_flipped_bit_is_detected)
{
	uint8_t a[256], img[256];
	uint64_t sz = kv_slot_size(VLEN);

	committed(a, 99, 20, 9, 4);
	/* Bits of the header after the version word and of the value (the
	 * padding after the value is not part of the record). */
	for (uint64_t byte = 8; byte < KV_HDR + VLEN; byte++) {
		if (byte >= 48 && byte < 64)
			continue; /* reserved, always zero, not covered */
		for (int bit = 0; bit < 8; bit++) {
			memcpy(img, a, sz);
			img[byte] ^= (uint8_t)(1u << bit);
			cr_assert_neq(kv_slot_judge(img, VLEN), KV_OK, "byte %llu bit %d",
				      (unsigned long long)byte, bit);
		}
	}
}
