// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * rmc.ko under Xen: what INFO reports, and granting a region to another
 * domain through a directory of grant references (uapi/rmc_ioctl.h).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/build_bug.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <xen/grant_table.h>
#include <xen/interface/grant_table.h>
#include <xen/page.h>
#include <xen/xen.h>

#include "rmc.h"

static_assert(RMC_GRANT_PAGE_SIZE == XEN_PAGE_SIZE);
static_assert(PAGE_SIZE == XEN_PAGE_SIZE);

/* Entries the grant table can grow to: Linux uses v1 entries here. */
static unsigned long rmc_xen_capacity(void)
{
	return (unsigned long)gnttab_max_grant_frames() *
	       (XEN_PAGE_SIZE / sizeof(struct grant_entry_v1));
}

void rmc_xen_info(struct rmc_ioc_info *info)
{
	if (!xen_domain()) {
		info->flags |= RMC_INFO_DOMID;
		return;
	}
	info->flags |= RMC_INFO_XEN;
	if (xen_pv_domain())
		info->flags |= RMC_INFO_XEN_PV;
	/* dom0 is domain 0; any other guest learns its id from xenstore. */
	if (xen_initial_domain())
		info->flags |= RMC_INFO_DOMID;
	info->grant_capacity = min_t(unsigned long, rmc_xen_capacity(), U32_MAX);
}

/*
 * Ends one grant.  The peer may still map the page: gnttab_end_foreign_access()
 * takes over one page reference and drops it once the peer lets go, so the
 * page cannot be reused under the peer.  A pinned data page gets an extra
 * reference for that (its pin goes separately); a directory page hands over
 * the reference it was allocated with.
 */
static void rmc_xen_end(u32 ref, struct page *page, bool pinned)
{
	if (pinned)
		get_page(page);
	gnttab_end_foreign_access(ref, page);
}

int rmc_xen_grant(struct rmc_region *r, u16 domid, u32 mynid, struct rmc_grant **out)
{
	unsigned int d, ndesc = DIV_ROUND_UP(r->npages, RMC_GRANT_REFS_PER_DESC);
	unsigned long i, need = r->npages + ndesc + 1;
	struct rmc_grant_root *root;
	struct rmc_grant *g;
	u32 *desc_refs;
	int ref, ret;

	if (!xen_domain())
		return -EOPNOTSUPP;
	if (ndesc > RMC_GRANT_MAX_DESC || need > rmc_xen_capacity()) {
		pr_info_ratelimited(
			"granting %lu pages takes %lu grant entries; this domain's table holds at most %lu\n",
			r->npages, need, rmc_xen_capacity());
		return -ENOSPC;
	}

	g = kzalloc(struct_size(g, desc, ndesc), GFP_KERNEL);
	if (!g)
		return -ENOMEM;
	g->domid = domid;
	g->ndesc = ndesc;
	g->nrefs = need;
	g->refs = kvmalloc_array(r->npages + ndesc, sizeof(*g->refs), GFP_KERNEL);
	if (!g->refs) {
		ret = -ENOMEM;
		goto err_free;
	}
	g->root = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!g->root) {
		ret = -ENOMEM;
		goto err_refs;
	}
	for (d = 0; d < ndesc; d++) {
		g->desc[d] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!g->desc[d]) {
			ret = -ENOMEM;
			goto err_pages;
		}
	}

	/* Data pages, read-write; their references go in the descriptors. */
	for (i = 0; i < r->npages; i++) {
		ref = gnttab_grant_foreign_access(domid, xen_page_to_gfn(r->pages[i]), 0);
		if (ref < 0) {
			ret = ref;
			goto err_data;
		}
		g->refs[i] = ref;
		desc_refs = page_address(g->desc[i / RMC_GRANT_REFS_PER_DESC]);
		desc_refs[i % RMC_GRANT_REFS_PER_DESC] = ref;
	}

	/* Descriptors and root, read-only. */
	root = page_address(g->root);
	for (d = 0; d < ndesc; d++) {
		ref = gnttab_grant_foreign_access(domid, xen_page_to_gfn(g->desc[d]), 1);
		if (ref < 0) {
			ret = ref;
			goto err_desc;
		}
		g->refs[r->npages + d] = ref;
		root->desc_refs[d] = ref;
	}
	root->magic = RMC_GRANT_MAGIC;
	root->version = RMC_ABI_VERSION;
	root->len = r->len;
	root->offset = offset_in_page(r->addr);
	root->npages = r->npages;
	root->ndesc = ndesc;
	root->mynid = mynid;
	ref = gnttab_grant_foreign_access(domid, xen_page_to_gfn(g->root), 1);
	if (ref < 0) {
		ret = ref;
		goto err_desc;
	}
	g->root_ref = ref;
	*out = g;
	return 0;

err_desc:
	while (d--) {
		rmc_xen_end(g->refs[r->npages + d], g->desc[d], false);
		g->desc[d] = NULL;
	}
err_data:
	while (i--)
		rmc_xen_end(g->refs[i], r->pages[i], true);
err_pages:
	for (d = 0; d < ndesc; d++)
		if (g->desc[d])
			__free_page(g->desc[d]);
	__free_page(g->root);
err_refs:
	kvfree(g->refs);
err_free:
	kfree(g);
	if (ret == -ENOSPC)
		pr_info_ratelimited("the grant table ran out of entries granting %lu pages\n",
				    r->npages);
	return ret;
}

/* Ends every grant of g, root first so that the peer cannot walk the
 * directory any more, then the descriptors, then the data pages. */
void rmc_xen_revoke(struct rmc_region *r, struct rmc_grant *g)
{
	unsigned long i;
	unsigned int d;

	rmc_xen_end(g->root_ref, g->root, false);
	for (d = g->ndesc; d--;)
		rmc_xen_end(g->refs[r->npages + d], g->desc[d], false);
	for (i = r->npages; i--;)
		rmc_xen_end(g->refs[i], r->pages[i], true);
	kvfree(g->refs);
	kfree(g);
}
