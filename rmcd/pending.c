/* SPDX-License-Identifier: MIT */
/* The due-time queue: a binary min-heap of keys (at, slot) over records
 * that stay in their slots.  A record is over 100 bytes (a held write
 * carries its transfer); moving it at every level of a sift cost more
 * than the rest of a request. */
#include <errno.h>
#include <stdlib.h>

#include "rmcd.h"

int rmcd_heap_init(struct rmcd_heap *h, uint32_t cap)
{
	h->n = 0;
	h->cap = 0;
	h->k = NULL;
	h->v = NULL;
	h->free = NULL;
	return rmcd_heap_reserve(h, cap);
}

void rmcd_heap_free(struct rmcd_heap *h)
{
	free(h->k);
	free(h->v);
	free(h->free);
	h->k = NULL;
	h->v = NULL;
	h->free = NULL;
	h->n = h->cap = 0;
}

/* Grows the three arrays in turn; a failure leaves cap as it was (an
 * array that grew already is only larger than it needs to be). */
int rmcd_heap_reserve(struct rmcd_heap *h, uint32_t cap)
{
	uint32_t nfree = h->cap - h->n;
	struct rmcd_hkey *k;
	struct rmcd_pending *v;
	uint32_t *f;

	if (cap <= h->cap)
		return 0;
	k = realloc(h->k, (size_t)cap * sizeof(*k));
	if (!k)
		return -ENOMEM;
	h->k = k;
	v = realloc(h->v, (size_t)cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	h->v = v;
	f = realloc(h->free, (size_t)cap * sizeof(*f));
	if (!f)
		return -ENOMEM;
	h->free = f;
	for (uint32_t s = h->cap; s < cap; s++)
		f[nfree++] = s;
	h->cap = cap;
	return 0;
}

static void sift_down(struct rmcd_heap *h, uint32_t i)
{
	struct rmcd_hkey x = h->k[i];

	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = l;
		if (l >= h->n)
			break;
		if (r < h->n && h->k[r].at < h->k[l].at)
			m = r;
		if (x.at <= h->k[m].at)
			break;
		h->k[i] = h->k[m];
		i = m;
	}
	h->k[i] = x;
}

void rmcd_heap_push(struct rmcd_heap *h, const struct rmcd_pending *p)
{
	uint32_t slot = h->free[h->cap - h->n - 1];
	uint32_t i = h->n++;

	h->v[slot] = *p;
	/* Due times mostly come in order: the new key usually stays a leaf. */
	while (i) {
		uint32_t parent = (i - 1) / 2;
		if (h->k[parent].at <= p->at)
			break;
		h->k[i] = h->k[parent];
		i = parent;
	}
	h->k[i] = (struct rmcd_hkey){ .at = p->at, .slot = slot };
}

void rmcd_heap_pop(struct rmcd_heap *h)
{
	if (!h->n)
		return;
	h->free[h->cap - h->n] = h->k[0].slot;
	h->k[0] = h->k[--h->n];
	if (h->n)
		sift_down(h, 0);
}

void rmcd_heap_purge(struct rmcd_heap *h, const struct rmcd_qp *qp)
{
	uint32_t j = 0, n = h->n;

	for (uint32_t i = 0; i < n; i++) {
		if (h->v[h->k[i].slot].qp != qp)
			h->k[j++] = h->k[i];
		else
			h->free[h->cap - h->n--] = h->k[i].slot;
	}
	for (uint32_t i = h->n / 2; i-- > 0;)
		sift_down(h, i);
}
