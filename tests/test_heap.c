/* SPDX-License-Identifier: MIT */
/*
 * The due-time queue (rmcd/pending.c): against a plain array kept by hand,
 * random pushes, pops, purges of one queue pair and growth leave the same
 * records, every pop takes the earliest, and a record keeps its contents
 * whatever the keys do.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "rmcd.h"

#define MAXN 300

struct ref {
	uint64_t at[MAXN];
	uint64_t tag[MAXN];
	int qp[MAXN];
	uint32_t n;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void check_top(const struct rmcd_heap *h, const struct ref *r, struct rmcd_qp *qps)
{
	uint64_t min = UINT64_MAX;

	cr_assert_eq(h->n, r->n);
	if (!r->n) {
		cr_assert_null(rmcd_heap_top(h));
		return;
	}
	for (uint32_t i = 0; i < r->n; i++)
		if (r->at[i] < min)
			min = r->at[i];
	const struct rmcd_pending *p = rmcd_heap_top(h);
	cr_assert_eq(p->at, min, "top at %llu, earliest %llu", (unsigned long long)p->at,
		     (unsigned long long)min);
	/* The record is whole: its tag and queue pair are one of the
	 * reference's entries of that time. */
	bool found = false;
	for (uint32_t i = 0; i < r->n && !found; i++)
		found = r->at[i] == p->at && r->tag[i] == p->t_post && &qps[r->qp[i]] == p->qp;
	cr_assert(found, "the top record (tag %llu) is not one pushed with its time",
		  (unsigned long long)p->t_post);
}

static void ref_drop(struct ref *r, uint32_t i)
{
	r->n--;
	r->at[i] = r->at[r->n];
	r->tag[i] = r->tag[r->n];
	r->qp[i] = r->qp[r->n];
}

Test(heap, matches_a_reference_under_random_operations)
{
	struct rmcd_qp qps[3];
	struct rmcd_heap h;
	struct ref r = { .n = 0 };
	uint64_t s = 0x9e3779b97f4a7c15ull, tag = 1;

	memset(qps, 0, sizeof(qps));
	cr_assert_eq(rmcd_heap_init(&h, 4), 0);
	for (int step = 0; step < 200000; step++) {
		uint64_t c = rnd(&s) % 100;
		if (c < 55 && r.n < MAXN) {
			if (r.n == h.cap)
				cr_assert_eq(rmcd_heap_reserve(&h,
							       h.cap * 2 > MAXN ? MAXN : h.cap * 2),
					     0);
			struct rmcd_pending p;
			memset(&p, 0, sizeof(p));
			/* Mostly in order, as a fixed model's times, with some out. */
			p.at = c < 40 ? 1000000 + (uint64_t)step : rnd(&s) % 2000000;
			p.t_post = tag++;
			int q = (int)(rnd(&s) % 3);
			p.qp = &qps[q];
			p.x.length = p.t_post * 3; /* a field deep in the record */
			rmcd_heap_push(&h, &p);
			r.at[r.n] = p.at;
			r.tag[r.n] = p.t_post;
			r.qp[r.n++] = q;
		} else if (c < 98 && r.n) {
			const struct rmcd_pending *p = rmcd_heap_top(&h);
			check_top(&h, &r, qps);
			cr_assert_eq(p->x.length, p->t_post * 3, "the record's transfer is intact");
			uint64_t t = p->t_post;
			rmcd_heap_pop(&h);
			uint32_t i = 0;
			while (r.tag[i] != t)
				i++;
			ref_drop(&r, i);
		} else {
			int q = (int)(rnd(&s) % 3);
			rmcd_heap_purge(&h, &qps[q]);
			for (uint32_t i = r.n; i-- > 0;)
				if (r.qp[i] == q)
					ref_drop(&r, i);
		}
		check_top(&h, &r, qps);
	}
	/* Drained, in order of time. */
	uint64_t last = 0;
	while (h.n) {
		const struct rmcd_pending *p = rmcd_heap_top(&h);
		cr_assert_geq(p->at, last);
		last = p->at;
		rmcd_heap_pop(&h);
	}
	rmcd_heap_free(&h);
}

Test(heap, growing_keeps_the_records_in_their_slots)
{
	struct rmcd_heap h;
	struct rmcd_pending p;

	memset(&p, 0, sizeof(p));
	cr_assert_eq(rmcd_heap_init(&h, 2), 0);
	for (uint64_t i = 0; i < 2; i++) {
		p.at = 10 - i;
		p.t_post = 100 + i;
		rmcd_heap_push(&h, &p);
	}
	rmcd_heap_pop(&h); /* at 9 */
	cr_assert_eq(rmcd_heap_reserve(&h, 64), 0);
	for (uint64_t i = 0; i < 63; i++) {
		p.at = 20 + i;
		p.t_post = 200 + i;
		rmcd_heap_push(&h, &p);
	}
	cr_assert_eq(h.n, 64);
	cr_assert_eq(rmcd_heap_top(&h)->t_post, 100, "the record of at 10 kept its slot");
	for (uint64_t i = 0; i < 64; i++) {
		cr_assert_eq(rmcd_heap_top(&h)->at, i ? 19 + i : 10);
		rmcd_heap_pop(&h);
	}
	cr_assert_null(rmcd_heap_top(&h));
	rmcd_heap_free(&h);
}
