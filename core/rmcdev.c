/* SPDX-License-Identifier: MIT */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rmcdev.h"

static size_t page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 4096;
}

int core_rmcdev_open(const char *path)
{
	struct rmc_ioc_info info;
	int fd, err;

	fd = open(path ? path : CORE_RMCDEV_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = core_rmcdev_info(fd, &info);
	if (err == -EINVAL || (!err && info.abi_version < RMC_ABI_VERSION))
		err = -EPROTO;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int core_rmcdev_close(int fd)
{
	return close(fd) < 0 ? -errno : 0;
}

int core_rmcdev_info(int fd, struct rmc_ioc_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return ioctl(fd, RMC_IOC_INFO, info) < 0 ? -errno : 0;
}

int core_rmcdev_reg(int fd, const void *addr, size_t len, struct core_rmcdev_region *out)
{
	struct rmc_ioc_reg req = {
		.size = sizeof(req),
		.addr = (uintptr_t)addr,
		.len = len,
	};

	if (ioctl(fd, RMC_IOC_REGISTER, &req) < 0)
		return -errno;
	out->handle = req.handle;
	out->offset = req.offset;
	out->npages = req.npages;
	return 0;
}

int core_rmcdev_unreg(int fd, uint64_t handle)
{
	struct rmc_ioc_unreg req = { .size = sizeof(req), .handle = handle };

	return ioctl(fd, RMC_IOC_UNREGISTER, &req) < 0 ? -errno : 0;
}

int core_rmcdev_map(int fd, uint64_t handle, uint32_t npages, void **base)
{
	void *p;

	if (!npages || handle > (uint64_t)INT64_MAX)
		return -EINVAL;
	p = mmap(NULL, (size_t)npages * page_size(), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)handle);
	if (p == MAP_FAILED)
		return -errno;
	*base = p;
	return 0;
}

int core_rmcdev_unmap(void *base, uint32_t npages)
{
	return munmap(base, (size_t)npages * page_size()) < 0 ? -errno : 0;
}

int core_rmcdev_grant(int fd, uint64_t handle, uint32_t domid, uint32_t *root_ref)
{
	struct rmc_ioc_grant req = { .size = sizeof(req), .domid = domid, .handle = handle };

	if (ioctl(fd, RMC_IOC_GRANT, &req) < 0)
		return -errno;
	*root_ref = req.root_ref;
	return 0;
}
