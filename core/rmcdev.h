/* SPDX-License-Identifier: MIT */
/*
 * A thin user-space wrapper of /dev/rmc, the rmc.ko module (kmod/): memory
 * registration, mapping a registered region from another process, and Xen
 * grants.  Every function returns 0 (or a file descriptor) on success and a
 * negative errno on failure; none prints or exits.
 */
#ifndef SONUMA_CORE_RMCDEV_H
#define SONUMA_CORE_RMCDEV_H

#include <stddef.h>
#include <stdint.h>

#include "../kmod/uapi/rmc_ioctl.h"

#define CORE_RMCDEV_PATH "/dev/rmc"

/* A registered region: mmap offset, offset of the registered address in the
 * first page, pages pinned. */
struct core_rmcdev_region {
	uint64_t handle;
	uint32_t offset;
	uint32_t npages;
};

/* Opens path (NULL: CORE_RMCDEV_PATH) and checks that the module speaks ABI
 * RMC_ABI_VERSION or later.  Returns the descriptor; -ENOENT when the device
 * is absent (module not loaded), -EACCES when the caller is neither root nor
 * in the module's group, -EPROTO for an older module. */
int core_rmcdev_open(const char *path);
int core_rmcdev_close(int fd);

int core_rmcdev_info(int fd, struct rmc_ioc_info *info);

/* Pins [addr, addr + len), any alignment; unpinned by core_rmcdev_unreg()
 * or when fd is closed. */
int core_rmcdev_reg(int fd, const void *addr, size_t len, struct core_rmcdev_region *out);
int core_rmcdev_unreg(int fd, uint64_t handle);

/* Maps npages pages of a region (any process of the registrant's user, or
 * root; fd may be another open of the device) read-write and shared; the
 * registered address is at *base + offset. */
int core_rmcdev_map(int fd, uint64_t handle, uint32_t npages, void **base);
int core_rmcdev_unmap(void *base, uint32_t npages);

/* Xen only (-EOPNOTSUPP elsewhere): grants a region to domid; *root_ref is
 * the root of its directory of references (uapi/rmc_ioctl.h). */
int core_rmcdev_grant(int fd, uint64_t handle, uint32_t domid, uint32_t *root_ref);

#endif /* SONUMA_CORE_RMCDEV_H */
