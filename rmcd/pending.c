/* SPDX-License-Identifier: MIT */
/* The due-time queue: a binary min-heap of pending completions. */
#include <errno.h>
#include <stdlib.h>

#include "rmcd.h"

int rmcd_heap_init(struct rmcd_heap *h, uint32_t cap)
{
	h->n = 0;
	h->cap = 0;
	h->v = NULL;
	return rmcd_heap_reserve(h, cap);
}

void rmcd_heap_free(struct rmcd_heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

int rmcd_heap_reserve(struct rmcd_heap *h, uint32_t cap)
{
	struct rmcd_pending *v;

	if (cap <= h->cap)
		return 0;
	v = realloc(h->v, (size_t)cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	h->v = v;
	h->cap = cap;
	return 0;
}

static inline void swap(struct rmcd_pending *a, struct rmcd_pending *b)
{
	struct rmcd_pending t = *a;
	*a = *b;
	*b = t;
}

static void sift_down(struct rmcd_heap *h, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < h->n && h->v[l].at < h->v[m].at)
			m = l;
		if (r < h->n && h->v[r].at < h->v[m].at)
			m = r;
		if (m == i)
			return;
		swap(&h->v[i], &h->v[m]);
		i = m;
	}
}

void rmcd_heap_push(struct rmcd_heap *h, const struct rmcd_pending *p)
{
	uint32_t i = h->n++;

	h->v[i] = *p;
	while (i) {
		uint32_t parent = (i - 1) / 2;
		if (h->v[parent].at <= h->v[i].at)
			break;
		swap(&h->v[parent], &h->v[i]);
		i = parent;
	}
}

void rmcd_heap_pop(struct rmcd_heap *h)
{
	if (!h->n)
		return;
	h->v[0] = h->v[--h->n];
	sift_down(h, 0);
}

void rmcd_heap_purge(struct rmcd_heap *h, const struct rmcd_qp *qp)
{
	uint32_t j = 0;

	for (uint32_t i = 0; i < h->n; i++)
		if (h->v[i].qp != qp)
			h->v[j++] = h->v[i];
	h->n = j;
	for (uint32_t i = h->n / 2; i-- > 0;)
		sift_down(h, i);
}
