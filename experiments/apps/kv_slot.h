/* SPDX-License-Identifier: MIT */
/*
 * The slot of sonuma-kv's hash table and the rules for reading one without
 * a lock.  Pure functions on slot images, shared by the program and its
 * unit test (tests/apps/test_kv_slot.c).
 *
 * A slot is a 64-byte header followed by the value, padded to 64 bytes:
 *
 *   off  field   meaning
 *     0  ver     lock/version word, only ever changed by remote atomics:
 *                0 = never used, odd = locked by a writer, even = committed
 *                (the n-th committed write leaves 2n)
 *     8  key     the key (meaningful once ver != 0)
 *    16  stamp   the version this body was written under: the even value
 *                ver will have once its writer releases the lock
 *    24  seq     the writer's put number (per writer, from 1)
 *    32  writer  the writer's id (process * threads + thread)
 *    36  vlen    value bytes
 *    40  csum    checksum of key, stamp, seq, writer, vlen and the value
 *    48  -       zero
 *    64  value   vlen bytes, each a function of (key, writer, seq, index)
 *
 * A writer takes the lock with compare-and-swap (ver: v even -> v + 1),
 * writes bytes 8.. of the slot with one remote write (stamp = v + 2), and
 * releases with fetch-and-add (ver: v + 1 -> v + 2).  Bytes 0..7 are never
 * written with a remote write.
 *
 * A reader copies the whole slot with one remote read and accepts it when
 *   ver is even and non-zero, stamp == ver, and the checksum holds;
 * with the seqlock check it then reads ver again (a second remote read) and
 * accepts only if it is still the same.  Why both: the RMC copies a slot in
 * an order nobody promises (a real RMC unrolls a request into cache-block
 * transfers that may complete in any order), so the copy of ver inside the
 * image may be older or newer than the copy of some value bytes, and the
 * seqlock alone cannot tell.  A body torn between two writes, or between a
 * write and the lock, fails the stamp or the checksum; a body copied
 * whole, but under a version that changed while the read was in flight,
 * fails the re-read.  Either way the reader retries.
 */
#ifndef SONUMA_KV_SLOT_H
#define SONUMA_KV_SLOT_H

#include <stdint.h>
#include <string.h>

#include "explib.h"

#define KV_HDR 64u

struct kv_hdr {
	uint64_t ver;
	uint64_t key;
	uint64_t stamp;
	uint64_t seq;
	uint32_t writer;
	uint32_t vlen;
	uint64_t csum;
	uint64_t zero[2];
};
_Static_assert(sizeof(struct kv_hdr) == KV_HDR, "the slot header is 64 bytes");

/* Bytes of a slot holding values of vlen bytes. */
static inline uint64_t kv_slot_size(uint32_t vlen)
{
	return KV_HDR + ((uint64_t)vlen + 63) / 64 * 64;
}

/* Value byte i of the put (key, writer, seq). */
static inline uint8_t kv_value_byte(uint64_t key, uint32_t writer, uint64_t seq, uint32_t i)
{
	uint64_t w = core_mix64(key * 0x100000001b3ull ^ ((uint64_t)writer << 40) ^ seq ^
				((uint64_t)(i / 8) << 20));
	return (uint8_t)(w >> (8 * (i % 8)));
}

static inline void kv_value_fill(uint8_t *v, uint64_t key, uint32_t writer, uint64_t seq,
				 uint32_t vlen)
{
	for (uint32_t i = 0; i < vlen; i += 8) {
		uint64_t w = core_mix64(key * 0x100000001b3ull ^ ((uint64_t)writer << 40) ^ seq ^
					((uint64_t)(i / 8) << 20));
		uint32_t n = vlen - i < 8 ? vlen - i : 8;
		memcpy(v + i, &w, n); /* little-endian: byte j is w >> 8j */
	}
}

/* 0 when the value is exactly what the put (key, writer, seq) wrote, else
 * 1 + the index of the first wrong byte. */
static inline uint32_t kv_value_check(const uint8_t *v, uint64_t key, uint32_t writer, uint64_t seq,
				      uint32_t vlen)
{
	for (uint32_t i = 0; i < vlen; i++)
		if (v[i] != kv_value_byte(key, writer, seq, i))
			return i + 1;
	return 0;
}

/* The checksum over a slot image (its header fields but ver and csum, and
 * the value): 64-bit, every bit and word order counts. */
static inline uint64_t kv_csum(const uint8_t *slot)
{
	const struct kv_hdr *h = (const struct kv_hdr *)slot;
	uint64_t c = 0x736f6e756d612d6bull; /* "sonuma-k" */
	uint32_t vlen = h->vlen;

	c = core_mix64(c ^ h->key);
	c = core_mix64(c ^ h->stamp);
	c = core_mix64(c ^ h->seq);
	c = core_mix64(c ^ ((uint64_t)h->writer << 32 | vlen));
	for (uint32_t i = 0; i < vlen; i += 8) {
		uint64_t w = 0;
		memcpy(&w, slot + KV_HDR + i, vlen - i < 8 ? vlen - i : 8);
		c = core_mix64(c ^ w ^ i);
	}
	return c;
}

/* Builds the image of a put in buf (kv_slot_size(vlen) bytes): everything
 * but ver, which the remote write leaves alone (it starts at byte 8). */
static inline void kv_slot_build(uint8_t *buf, uint64_t key, uint64_t stamp, uint64_t seq,
				 uint32_t writer, uint32_t vlen)
{
	struct kv_hdr h;

	memset(buf, 0, kv_slot_size(vlen));
	memset(&h, 0, sizeof(h));
	h.key = key;
	h.stamp = stamp;
	h.seq = seq;
	h.writer = writer;
	h.vlen = vlen;
	memcpy(buf, &h, sizeof(h));
	kv_value_fill(buf + KV_HDR, key, writer, seq, vlen);
	h.csum = kv_csum(buf);
	memcpy(buf, &h, sizeof(h));
}

enum kv_look {
	KV_OK,	   /* a consistent committed image */
	KV_EMPTY,  /* never used: the key is not in the table past here */
	KV_LOCKED, /* a writer holds the lock: retry */
	KV_TORN,   /* stamp or checksum wrong: copied while changing, retry */
};

/* Judges one slot image of a table whose values are vlen bytes. */
static inline enum kv_look kv_slot_judge(const uint8_t *slot, uint32_t vlen)
{
	struct kv_hdr h;

	memcpy(&h, slot, sizeof(h));
	if (h.ver == 0)
		return KV_EMPTY;
	if (h.ver & 1)
		return KV_LOCKED;
	if (h.stamp != h.ver || h.vlen != vlen || h.csum != kv_csum(slot))
		return KV_TORN;
	return KV_OK;
}

#endif /* SONUMA_KV_SLOT_H */
