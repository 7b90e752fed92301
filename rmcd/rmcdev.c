/* SPDX-License-Identifier: MIT */
/*
 * rmc.ko, the RMC's kernel module (kmod/), when it is loaded: rmcd
 * registers its contexts through /dev/rmc (pinned for the long term, and
 * grantable to other domains under Xen), and maps the regions programs
 * register there (local buffers and contexts made of memory they already
 * have, any alignment, without a copy).  Without the module, contexts are
 * memfd segments locked with mlock and programs' buffers move into
 * segments rmcd makes: everything works the same.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "rmcd.h"
#include "rmcdev.h"

void rmcd_dev_init(struct rmcd *d)
{
	struct rmc_ioc_info info;
	unsigned reg = 0;
	int r;

	d->rmcdev_fd = core_rmcdev_open(NULL);
	if (d->rmcdev_fd < 0) {
		if (d->rmcdev_fd != -ENOENT)
			core_warn("%s: %s: going on without rmc.ko", CORE_RMCDEV_PATH,
				  strerror(-d->rmcdev_fd));
		else
			core_info("no rmc.ko (%s absent): contexts are memfd segments",
				  CORE_RMCDEV_PATH);
		d->rmcdev_fd = -1;
		return;
	}
	if ((r = core_rmcdev_info(d->rmcdev_fd, &info))) {
		core_warn("%s: INFO: %s: going on without rmc.ko", CORE_RMCDEV_PATH, strerror(-r));
		core_rmcdev_close(d->rmcdev_fd);
		d->rmcdev_fd = -1;
		return;
	}
	d->rmcdev_mynid = info.mynid;
	if (d->self >= 0 && info.mynid != (uint32_t)d->self)
		core_warn("rmc.ko was loaded with mynid=%u, and this rmcd serves node %d",
			  info.mynid, d->self);
	for (uint32_t i = 0; i < d->n_nodes; i++) {
		struct rmcd_node *n = &d->nodes[i];
		for (uint32_t k = 0; n->local && k < n->n_ctx; k++) {
			struct core_rmcdev_region rg;
			r = core_rmcdev_reg(d->rmcdev_fd, n->ctx[k].base, n->ctx[k].size, &rg);
			if (r) {
				core_warn("node %u: cannot register context %u with rmc.ko: %s", i,
					  k, strerror(-r));
				continue;
			}
			n->ctx[k].handle = rg.handle;
			reg++;
		}
	}
	core_info("rmc.ko (ABI %u, mynid %u%s): %u context%s registered through %s",
		  info.abi_version, info.mynid, info.flags & RMC_INFO_XEN ? ", Xen" : "", reg,
		  reg == 1 ? "" : "s", CORE_RMCDEV_PATH);
}

void rmcd_dev_fini(struct rmcd *d)
{
	if (d->rmcdev_fd >= 0)
		core_rmcdev_close(d->rmcdev_fd);
	d->rmcdev_fd = -1;
}

int rmcd_dev_map(struct rmcd *d, uint64_t handle, uint32_t offset, uint64_t len, uint8_t **base,
		 uint8_t **first, uint32_t *npages)
{
	uint64_t pages = (offset + len + PAGE_SIZE - 1) / PAGE_SIZE;
	void *p;
	int r;

	if (d->rmcdev_fd < 0)
		return -EOPNOTSUPP;
	if (!handle || offset >= PAGE_SIZE || !len || pages > UINT32_MAX)
		return -EINVAL;
	if ((r = core_rmcdev_map(d->rmcdev_fd, handle, (uint32_t)pages, &p)))
		return r;
	*base = p;
	*first = (uint8_t *)p + offset;
	*npages = (uint32_t)pages;
	return 0;
}
