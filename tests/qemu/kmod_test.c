/* SPDX-License-Identifier: MIT */
/*
 * kmod_test: checks rmc.ko from inside a QEMU guest (tests/qemu/kmod.sh), as
 * root, with the module loaded as "insmod rmc.ko mynid=1 gid=GID".  Prints
 *   === GUEST: PASS <name>   or   === GUEST: FAIL <name>: <why>
 * for each check and removes the module at the end (the script then reads
 * dmesg).  Usage: kmod_test GID
 *
 * Every check runs in the order below; a failing one does not stop the
 * others.  Children that change identity are forked, so the parent stays
 * root.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/mempolicy.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../core/rmcdev.h"
#include "guest_check.h"

#define MYNID 1
#define USER_UID 1000  /* an ordinary user */
#define OTHER_UID 1001 /* another one */
#define NOGROUP_GID 1000

static size_t pg;
static unsigned int group_id;

static void pass(const char *name)
{
	printf("=== GUEST: PASS %s\n", name);
	fflush(stdout);
}

/* Prints why a check failed (in a child, where the verdict is the exit
 * status) and returns false. */
static bool why(const char *fmt, ...)
{
	va_list ap;

	printf("  kmod_test[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return false;
}

/* ---- small helpers ------------------------------------------------------- */

static int rmc_open(void)
{
	return core_rmcdev_open(NULL);
}

/* ioctl(2) as 0 or -errno. */
static int xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) < 0 ? -errno : 0;
}

static int reg_raw(int fd, uint64_t addr, uint64_t len, uint64_t *handle)
{
	struct rmc_ioc_reg r = { .size = sizeof(r), .addr = addr, .len = len };
	int err = xioctl(fd, RMC_IOC_REGISTER, &r);

	if (!err && handle)
		*handle = r.handle;
	return err;
}

/* Starts fn in a forked child, whose exit status is 0 when fn passed. */
static pid_t start_child(bool (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(fn(arg) ? 0 : 1);
	return pid;
}

/* Runs fn in a forked child; true when it exited 0. */
static bool in_child(bool (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = start_child(fn, arg);

	if (pid < 0)
		return why("fork: %s", strerror(errno));
	if (waitpid(pid, &status, 0) < 0)
		return why("waitpid: %s", strerror(errno));
	if (WIFSIGNALED(status))
		return why("child killed by signal %d", WTERMSIG(status));
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Becomes uid with gid as the only group (and the module's group too when
 * with_group). */
static bool become(uid_t uid, gid_t gid, bool with_group)
{
	gid_t groups[1] = { (gid_t)group_id };

	if (setgroups(with_group ? 1 : 0, groups) < 0)
		return why("setgroups: %s", strerror(errno));
	if (setgid(gid) < 0 || setuid(uid) < 0)
		return why("setgid/setuid(%u): %s", (unsigned)uid, strerror(errno));
	return true;
}

/* VmPin of this process in kB, or -1. */
static long vm_pin_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* The page frame behind addr in this process (0 when not present). */
static uint64_t pfn_of(const void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), (off_t)((uintptr_t)addr / pg * sizeof(e))) != sizeof(e))
		e = 0;
	close(fd);
	if (!(e >> 63))
		return 0;
	return e & ((1ULL << 55) - 1);
}

/* NUMA node of a page frame, from the memory blocks sysfs lists per node. */
static int node_of_pfn(uint64_t pfn)
{
	unsigned long long bs = 0;
	char path[128];
	FILE *f = fopen("/sys/devices/system/memory/block_size_bytes", "r");
	int n, ok;

	if (!f)
		return -1;
	ok = fscanf(f, "%llx", &bs);
	fclose(f);
	if (ok != 1 || !bs)
		return -1;
	for (n = 0; n < 64; n++) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/memory%llu", n,
			 (unsigned long long)(pfn * pg / bs));
		if (access(path, F_OK) == 0)
			return n;
	}
	return -1;
}

/* Node of the page at addr as get_mempolicy() reports it, or -errno. */
static int node_of_addr(void *addr)
{
	int node = -1;

	if (syscall(SYS_get_mempolicy, &node, NULL, 0, addr, MPOL_F_NODE | MPOL_F_ADDR) < 0)
		return -errno;
	return node;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 7 + (i >> 8));
}

static size_t mismatch(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed + i * 7 + (i >> 8)))
			return i + 1;
	return 0;
}

/* ---- 1. the device and INFO --------------------------------------------- */

static void test_info(void)
{
	struct rmc_ioc_info info;
	struct stat st;
	int fd, err;

	if (stat(CORE_RMCDEV_PATH, &st) < 0 || !S_ISCHR(st.st_mode)) {
		fail("dev-node", "%s is not a character device (%s)", CORE_RMCDEV_PATH,
		     strerror(errno));
		return;
	}
	pass("dev-node");

	fd = rmc_open();
	if (fd < 0) {
		fail("info", "core_rmcdev_open: %s", strerror(-fd));
		return;
	}
	err = core_rmcdev_info(fd, &info);
	if (err)
		fail("info", "RMC_IOC_INFO: %s", strerror(-err));
	else if (info.size != sizeof(info) || info.abi_version != RMC_ABI_VERSION ||
		 info.mynid != MYNID)
		fail("info", "size %u abi %u mynid %u, expected %zu %u %u", info.size,
		     info.abi_version, info.mynid, sizeof(info), RMC_ABI_VERSION, MYNID);
	else if (info.flags & (RMC_INFO_XEN | RMC_INFO_XEN_PV))
		fail("info", "says Xen (flags %#x) on bare QEMU", info.flags);
	else if (!(info.flags & RMC_INFO_DOMID) || info.domid || info.grant_capacity)
		fail("info", "off Xen: flags %#x domid %u grant capacity %u", info.flags,
		     info.domid, info.grant_capacity);
	else if (info.max_region_len < (1u << 20))
		fail("info", "max_region_len %" PRIu64, (uint64_t)info.max_region_len);
	else
		pass("info");
	printf("  info: abi %u mynid %u flags %#x domid %u grants %u max region %" PRIu64 " B\n",
	       info.abi_version, info.mynid, info.flags, info.domid, info.grant_capacity,
	       (uint64_t)info.max_region_len);
	core_rmcdev_close(fd);
}

/* ---- 2. registration shared with another process ------------------------ */

struct share {
	uint64_t handle;
	uint32_t offset, npages;
	size_t len;
	int to_child[2], to_parent[2];
	uint64_t pfn0; /* parent's first frame */
};

static bool share_child(void *arg)
{
	struct share *s = arg;
	unsigned char *base, *p;
	char c;
	int fd, err;

	close(s->to_child[1]);
	close(s->to_parent[0]);
	fd = rmc_open(); /* a file of its own */
	if (fd < 0)
		return why("child open: %s", strerror(-fd));
	err = core_rmcdev_map(fd, s->handle, s->npages, (void **)&base);
	if (err)
		return why("child mmap of handle %#" PRIx64 ": %s", s->handle, strerror(-err));
	p = base + s->offset;
	size_t bad = mismatch(p, s->len, 11);
	if (bad)
		return why("child sees byte %zu differ from the registrant's", bad - 1);
	/* Present now that it was read. */
	if (pfn_of(base) != s->pfn0)
		return why("child's first frame %#" PRIx64 " is not the registrant's %#" PRIx64,
			   pfn_of(base), s->pfn0);
	fill(p, s->len, 22); /* child -> parent */
	if (write(s->to_parent[1], "w", 1) != 1)
		return why("pipe");
	if (read(s->to_child[0], &c, 1) != 1) /* parent wrote 33 */
		return why("pipe");
	bad = mismatch(p, s->len, 33);
	if (bad)
		return why("child does not see the registrant's write at byte %zu", bad - 1);
	core_rmcdev_unmap(base, s->npages);
	core_rmcdev_close(fd);
	return true;
}

static void test_share(void)
{
	const size_t len = 2 * 4096 + 77;
	unsigned char *mem, *buf;
	struct core_rmcdev_region reg;
	struct share s = { .len = len };
	long pin0, pin1, pin2;
	int fd, err, status;
	char c;
	pid_t pid;

	mem = malloc(len + 4096);
	fd = rmc_open();
	if (!mem || fd < 0) {
		fail("register-share", "malloc or open failed (%s)", strerror(-fd));
		return;
	}
	buf = mem + 3; /* aligned to nothing */
	fill(buf, len, 11);
	pin0 = vm_pin_kb();
	err = core_rmcdev_reg(fd, buf, len, &reg);
	if (err) {
		fail("register-share", "REGISTER of %zu bytes at %p: %s", len, (void *)buf,
		     strerror(-err));
		goto out;
	}
	pin1 = vm_pin_kb();
	printf("  register: handle %#" PRIx64 " offset %u npages %u; VmPin %ld -> %ld kB\n",
	       reg.handle, reg.offset, reg.npages, pin0, pin1);
	if (reg.offset != ((uintptr_t)buf & (pg - 1)) ||
	    reg.npages != ((uintptr_t)buf + len + pg - 1) / pg - (uintptr_t)buf / pg ||
	    !reg.handle || reg.handle % pg) {
		fail("register-share", "offset %u npages %u handle %#" PRIx64 " for %p + %zu",
		     reg.offset, reg.npages, reg.handle, (void *)buf, len);
		goto out;
	}
	if (pin1 - pin0 != (long)(reg.npages * pg / 1024)) {
		fail("register-share", "VmPin grew by %ld kB for %u pages", pin1 - pin0,
		     reg.npages);
		goto out;
	}

	s.handle = reg.handle;
	s.offset = reg.offset;
	s.npages = reg.npages;
	s.pfn0 = pfn_of(buf);
	if (pipe(s.to_child) < 0 || pipe(s.to_parent) < 0) {
		fail("register-share", "pipe: %s", strerror(errno));
		goto out;
	}
	pid = start_child(share_child, &s);
	close(s.to_child[0]);
	close(s.to_parent[1]);
	if (read(s.to_parent[0], &c, 1) != 1) {
		waitpid(pid, &status, 0);
		fail("register-share", "the child failed before writing");
		goto out;
	}
	size_t bad = mismatch(buf, len, 22);
	fill(buf, len, 33);
	if (write(s.to_child[1], "r", 1) != 1)
		bad = bad ? bad : 1;
	waitpid(pid, &status, 0);
	if (bad)
		fail("register-share", "the registrant does not see the child's write at byte %zu",
		     bad - 1);
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail("register-share", "the child's checks failed");
	else
		pass("register-share");
	close(s.to_child[1]);
	close(s.to_parent[0]);

	err = core_rmcdev_unreg(fd, reg.handle);
	pin2 = vm_pin_kb();
	printf("  unregister: VmPin %ld kB\n", pin2);
	if (err)
		fail("unregister", "UNREGISTER: %s", strerror(-err));
	else if (pin2 != pin0)
		fail("unregister", "VmPin %ld kB after unregistering, %ld before registering", pin2,
		     pin0);
	else
		pass("unregister");
out:
	core_rmcdev_close(fd);
	free(mem);
}

/* ---- 3. any allocator ------------------------------------------------------ */

/* Registers [p, p + len), maps it back and checks a write each way. */
static bool reg_map_check(int fd, unsigned char *p, size_t len, const char *what)
{
	struct core_rmcdev_region reg;
	unsigned char *base;
	int err;

	fill(p, len, 44);
	err = core_rmcdev_reg(fd, p, len, &reg);
	if (err)
		return why("%s: REGISTER: %s", what, strerror(-err));
	err = core_rmcdev_map(fd, reg.handle, reg.npages, (void **)&base);
	if (err)
		return why("%s: mmap: %s", what, strerror(-err));
	bool ok = !mismatch(base + reg.offset, len, 44);
	base[reg.offset] ^= 0xff;
	ok = ok && p[0] == (unsigned char)(44 ^ 0xff);
	core_rmcdev_unmap(base, reg.npages);
	err = core_rmcdev_unreg(fd, reg.handle);
	if (!ok)
		return why("%s: the mapping does not show the same bytes", what);
	if (err)
		return why("%s: UNREGISTER: %s", what, strerror(-err));
	return true;
}

static void test_allocators(void)
{
	unsigned char stack[3000];
	unsigned char *anon, *mfd;
	bool ok = true;
	int fd, memfd;

	fd = rmc_open();
	if (fd < 0) {
		fail("allocators", "open: %s", strerror(-fd));
		return;
	}
	ok &= reg_map_check(fd, stack + 5, sizeof(stack) - 5, "stack");
	anon = mmap(NULL, 5 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ok &= anon != MAP_FAILED && reg_map_check(fd, anon + pg - 1, 3 * pg, "anonymous mmap");
	memfd = memfd_create("kmod_test", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, (off_t)(4 * pg)) < 0)
		ok = why("memfd: %s", strerror(errno));
	mfd = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	ok &= mfd != MAP_FAILED && reg_map_check(fd, mfd + 100, 4 * pg - 200, "memfd");
	if (ok)
		pass("allocators");
	else
		fail("allocators", "see the lines above");
	munmap(anon, 5 * pg);
	munmap(mfd, 4 * pg);
	close(memfd);
	core_rmcdev_close(fd);
}

/* ---- 4. bad ioctls ------------------------------------------------------- */

static bool expect(const char *what, int got, int want)
{
	if (got == want)
		return true;
	return why("%s: got %s, expected %s", what, got ? strerror(-got) : "success",
		   strerror(-want));
}

static void test_bad_ioctls(void)
{
	struct rmc_ioc_info info = { .size = sizeof(info) };
	struct rmc_ioc_reg reg;
	struct rmc_ioc_unreg unreg;
	uint64_t h, h2, max_len;
	unsigned char *buf;
	bool ok = true;
	int fd, fd2;
	void *m;

	fd = rmc_open();
	fd2 = rmc_open();
	buf = mmap(NULL, 8 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fd < 0 || fd2 < 0 || buf == MAP_FAILED || xioctl(fd, RMC_IOC_INFO, &info)) {
		fail("bad-ioctls", "setup failed");
		return;
	}
	max_len = info.max_region_len;

	/* Unknown commands, and a known number with another size. */
	ok &= expect("unknown nr",
		     xioctl(fd, _IOWR(RMC_IOC_MAGIC, 0x7f, struct rmc_ioc_info), &info), -ENOTTY);
	ok &= expect("INFO number with another size",
		     xioctl(fd, _IOWR(RMC_IOC_MAGIC, 0x40, uint64_t), &info), -ENOTTY);
	ok &= expect("INFO as _IOR",
		     xioctl(fd, _IOR(RMC_IOC_MAGIC, 0x40, struct rmc_ioc_info), &info), -ENOTTY);
	ok &= expect("other magic", xioctl(fd, _IOWR(0xB8, 0x40, struct rmc_ioc_info), &info),
		     -ENOTTY);

	/* Wrong sizes and flags. */
	info.size = 4;
	ok &= expect("INFO size 4", xioctl(fd, RMC_IOC_INFO, &info), -EINVAL);
	info.size = sizeof(info) + 8;
	ok &= expect("INFO size +8", xioctl(fd, RMC_IOC_INFO, &info), -EINVAL);
	reg = (struct rmc_ioc_reg){ .size = 0, .addr = (uintptr_t)buf, .len = pg };
	ok &= expect("REGISTER size 0", xioctl(fd, RMC_IOC_REGISTER, &reg), -EINVAL);
	reg = (struct rmc_ioc_reg){
		.size = sizeof(reg), .flags = 1, .addr = (uintptr_t)buf, .len = pg
	};
	ok &= expect("REGISTER flags 1", xioctl(fd, RMC_IOC_REGISTER, &reg), -EINVAL);
	unreg = (struct rmc_ioc_unreg){ .size = sizeof(unreg) - 1, .handle = pg };
	ok &= expect("UNREGISTER size-1", xioctl(fd, RMC_IOC_UNREGISTER, &unreg), -EINVAL);

	/* Bad argument pointers. */
	ok &= expect("INFO NULL", xioctl(fd, RMC_IOC_INFO, NULL), -EFAULT);
	ok &= expect("REGISTER NULL", xioctl(fd, RMC_IOC_REGISTER, NULL), -EFAULT);
	ok &= expect("INFO kernel pointer", xioctl(fd, RMC_IOC_INFO, (void *)0xffffffff81000000ul),
		     -EFAULT);
	ok &= expect("REGISTER kernel pointer",
		     xioctl(fd, RMC_IOC_REGISTER, (void *)0xffff888000000000ul), -EFAULT);

	/* Bad ranges. */
	ok &= expect("length 0", reg_raw(fd, (uintptr_t)buf, 0, NULL), -EINVAL);
	ok &= expect("length beyond the limit", reg_raw(fd, (uintptr_t)buf, max_len + 1, NULL),
		     -EINVAL);
	ok &= expect("wrapping range", reg_raw(fd, UINT64_MAX - 100, 200, NULL), -EINVAL);
	ok &= expect("kernel range", reg_raw(fd, 0xffff888000000000ull, pg, NULL), -EFAULT);
	ok &= expect("NULL range", reg_raw(fd, 0, pg, NULL), -EFAULT);
	munmap(buf + 6 * pg, pg); /* a hole: the range is only partly mapped */
	ok &= expect("partly unmapped range", reg_raw(fd, (uintptr_t)buf + 5 * pg, 2 * pg, NULL),
		     -EFAULT);
	ok &= expect("VmPin back to 0 after the failures", (int)vm_pin_kb(), 0);

	/* Overlaps within a file, and a neighbour in the same page. */
	ok &= expect("register", reg_raw(fd, (uintptr_t)buf + 100, 2 * pg, &h), 0);
	ok &= expect("overlap inside", reg_raw(fd, (uintptr_t)buf + pg, 10, NULL), -EBUSY);
	ok &= expect("overlap at the start", reg_raw(fd, (uintptr_t)buf, 101, NULL), -EBUSY);
	ok &= expect("overlap around", reg_raw(fd, (uintptr_t)buf, 4 * pg, NULL), -EBUSY);
	ok &= expect("neighbour in the same page", reg_raw(fd, (uintptr_t)buf, 100, &h2), 0);
	ok &= expect("same range from another file",
		     reg_raw(fd2, (uintptr_t)buf + 100, 2 * pg, NULL), 0);

	/* Handles. */
	unreg = (struct rmc_ioc_unreg){ .size = sizeof(unreg), .handle = h + 1 };
	ok &= expect("unaligned handle", xioctl(fd, RMC_IOC_UNREGISTER, &unreg), -EINVAL);
	unreg.handle = 0;
	ok &= expect("handle 0", xioctl(fd, RMC_IOC_UNREGISTER, &unreg), -EINVAL);
	unreg.handle = 0x7ff00000ull << 12;
	ok &= expect("unknown handle", xioctl(fd, RMC_IOC_UNREGISTER, &unreg), -ENOENT);
	unreg.handle = h;
	ok &= expect("another file's handle", xioctl(fd2, RMC_IOC_UNREGISTER, &unreg), -ENOENT);
	ok &= expect("unregister", xioctl(fd, RMC_IOC_UNREGISTER, &unreg), 0);
	ok &= expect("double unregister", xioctl(fd, RMC_IOC_UNREGISTER, &unreg), -ENOENT);

	/* mmap of a stale handle, privately, or longer than the region. */
	m = mmap(NULL, pg, PROT_READ, MAP_SHARED, fd, (off_t)h);
	ok &= expect("mmap of a stale handle", m == MAP_FAILED ? -errno : 0, -ENOENT);
	m = mmap(NULL, pg, PROT_READ, MAP_PRIVATE, fd, (off_t)h2);
	ok &= expect("private mmap", m == MAP_FAILED ? -errno : 0, -EINVAL);
	m = mmap(NULL, 2 * pg, PROT_READ, MAP_SHARED, fd, (off_t)h2);
	ok &= expect("mmap beyond the region", m == MAP_FAILED ? -errno : 0, -EINVAL);

	if (ok)
		pass("bad-ioctls");
	else
		fail("bad-ioctls", "see the lines above");

	struct rmc_ioc_grant g = { .size = sizeof(g), .domid = 0, .handle = h2 };
	int err = xioctl(fd, RMC_IOC_GRANT, &g);
	if (err == -EOPNOTSUPP)
		pass("grant-off-xen");
	else
		fail("grant-off-xen", "GRANT returned %s, expected EOPNOTSUPP",
		     err ? strerror(-err) : "success");

	core_rmcdev_close(fd2);
	core_rmcdev_close(fd);
	munmap(buf, 8 * pg);
	long pin = vm_pin_kb();
	if (pin != 0)
		fail("bad-ioctls", "VmPin %ld kB after closing every file", pin);
}

/* ---- 5. who may open and map ------------------------------------------------- */

static bool open_as(void *arg)
{
	bool with_group = arg != NULL;
	int fd;

	if (!become(USER_UID, NOGROUP_GID, with_group))
		return false;
	fd = rmc_open();
	if (with_group) {
		if (fd < 0)
			return why("uid %d in the group: open: %s", USER_UID, strerror(-fd));
		return true;
	}
	if (fd >= 0)
		return why("uid %d outside the group opened %s", USER_UID, CORE_RMCDEV_PATH);
	if (fd != -EACCES && fd != -EPERM)
		return why("uid %d outside the group: open: %s, expected EACCES", USER_UID,
			   strerror(-fd));
	return true;
}

struct mapper {
	uint64_t handle;
	uid_t uid;
	int want; /* 0 or -errno */
};

static bool map_as(void *arg)
{
	struct mapper *m = arg;
	void *base;
	int fd, err;

	if (m->uid && !become(m->uid, NOGROUP_GID, true))
		return false;
	fd = rmc_open();
	if (fd < 0)
		return why("open: %s", strerror(-fd));
	err = core_rmcdev_map(fd, m->handle, 1, &base);
	if (err != m->want)
		return why("uid %u maps handle %#" PRIx64 ": %s, expected %s", (unsigned)m->uid,
			   m->handle, err ? strerror(-err) : "success",
			   m->want ? strerror(-m->want) : "success");
	return true;
}

/* A user's region, kept registered until the parent says so. */
struct user_region {
	int to_parent[2], to_child[2];
};

static bool user_registers(void *arg)
{
	struct user_region *u = arg;
	struct core_rmcdev_region reg;
	static unsigned char page[4096];
	char c;
	int fd, err;

	close(u->to_parent[0]);
	close(u->to_child[1]);
	if (!become(USER_UID, NOGROUP_GID, true))
		return false;
	fd = rmc_open();
	if (fd < 0)
		return why("open: %s", strerror(-fd));
	err = core_rmcdev_reg(fd, page, sizeof(page), &reg);
	if (err)
		return why("uid %d: REGISTER: %s", USER_UID, strerror(-err));
	if (write(u->to_parent[1], &reg.handle, sizeof(reg.handle)) != sizeof(reg.handle))
		return why("pipe");
	return read(u->to_child[0], &c, 1) == 1;
}

static void test_permissions(void)
{
	struct core_rmcdev_region reg;
	struct user_region u;
	static unsigned char page[4096];
	int fd, err, status;
	bool ok = true;
	pid_t pid;

	if (in_child(open_as, NULL))
		pass("perm-open-refused");
	else
		fail("perm-open-refused", "see the lines above");
	if (in_child(open_as, (void *)1))
		pass("perm-open-group");
	else
		fail("perm-open-group", "see the lines above");

	/* Root's region: an ordinary user may not map it, root may. */
	fd = rmc_open();
	err = fd < 0 ? fd : core_rmcdev_reg(fd, page, sizeof(page), &reg);
	if (err) {
		fail("perm-map", "setup: %s", strerror(-err));
		return;
	}
	struct mapper user = { .handle = reg.handle, .uid = USER_UID, .want = -EACCES };
	struct mapper root = { .handle = reg.handle, .uid = 0, .want = 0 };
	ok &= in_child(map_as, &user);
	ok &= in_child(map_as, &root);
	core_rmcdev_close(fd);

	/* A user's region: the same user may map it from another process,
	 * another user may not, root may. */
	if (pipe(u.to_parent) < 0 || pipe(u.to_child) < 0) {
		fail("perm-map", "pipe: %s", strerror(errno));
		return;
	}
	pid = start_child(user_registers, &u);
	close(u.to_parent[1]);
	close(u.to_child[0]);
	struct mapper same = { .uid = USER_UID, .want = 0 };
	if (read(u.to_parent[0], &same.handle, sizeof(same.handle)) != sizeof(same.handle)) {
		ok = why("the user's child registered nothing");
	} else {
		struct mapper other = { .handle = same.handle, .uid = OTHER_UID, .want = -EACCES };
		struct mapper root2 = { .handle = same.handle, .uid = 0, .want = 0 };
		ok &= in_child(map_as, &same);
		ok &= in_child(map_as, &other);
		ok &= in_child(map_as, &root2);
	}
	if (write(u.to_child[1], "q", 1) != 1)
		ok = why("pipe");
	waitpid(pid, &status, 0);
	ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
	close(u.to_parent[0]);
	close(u.to_child[1]);
	if (ok)
		pass("perm-map");
	else
		fail("perm-map", "see the lines above");
}

/* ---- 6. RLIMIT_MEMLOCK --------------------------------------------------- */

static bool memlock_child(void *arg)
{
	struct rlimit rl = { 64 * 1024, 64 * 1024 };
	struct core_rmcdev_region reg;
	size_t big = 1 << 20;
	unsigned char *mem = malloc(big);
	int fd, err;

	(void)arg;
	if (!mem || !become(USER_UID, NOGROUP_GID, true))
		return false;
	if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return why("setrlimit: %s", strerror(errno));
	fd = rmc_open();
	if (fd < 0)
		return why("open: %s", strerror(-fd));
	err = core_rmcdev_reg(fd, mem, big, &reg);
	if (err != -ENOMEM && err != -EPERM)
		return why("REGISTER of 1 MiB under a 64 KiB RLIMIT_MEMLOCK: %s",
			   err ? strerror(-err) : "success");
	if (vm_pin_kb() != 0)
		return why("VmPin %ld kB after the refused REGISTER", vm_pin_kb());
	err = core_rmcdev_reg(fd, mem, 8 * pg, &reg);
	if (err)
		return why("REGISTER of 8 pages under 64 KiB: %s", strerror(-err));
	err = core_rmcdev_reg(fd, mem + 8 * pg, 9 * pg, &reg);
	if (err != -ENOMEM)
		return why("REGISTER of 9 more pages: %s, expected ENOMEM",
			   err ? strerror(-err) : "success");
	printf("  memlock: 1 MiB refused, 8 pages pinned (VmPin %ld kB), 9 more refused\n",
	       vm_pin_kb());
	core_rmcdev_close(fd);
	return vm_pin_kb() == 0 ? true : why("VmPin %ld kB after close", vm_pin_kb());
}

static void test_memlock(void)
{
	if (in_child(memlock_child, NULL))
		pass("memlock");
	else
		fail("memlock", "see the lines above");
}

/* ---- 7. random ioctls ------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static bool vfs_type(unsigned type)
{
	/* Types the VFS answers itself for any file (FIONBIO, FIFREEZE, ...):
	 * not the module's business, and some would change the file system. */
	return type == 0 || type == 'T' || type == 'X' || type == 'f' || type == 0x94;
}

static void test_random_ioctls(void)
{
	static const unsigned long valid[] = { RMC_IOC_INFO, RMC_IOC_REGISTER, RMC_IOC_UNREGISTER,
					       RMC_IOC_GRANT };
	static const uint32_t sizes[] = { sizeof(struct rmc_ioc_info), sizeof(struct rmc_ioc_reg),
					  sizeof(struct rmc_ioc_unreg),
					  sizeof(struct rmc_ioc_grant) };
	const int n = 4000;
	unsigned char *area, *guard_edge;
	int fd, i, ok_calls = 0, wrong = 0, errs[256] = { 0 };

	fd = rmc_open();
	/* Two pages, the second one inaccessible: structs that straddle it. */
	area = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fd < 0 || area == MAP_FAILED || mprotect(area + pg, pg, PROT_NONE) < 0) {
		fail("random-ioctls", "setup failed");
		return;
	}
	guard_edge = area + pg - 12;
	printf("  random ioctls: %d calls, seed %#" PRIx64 "\n", n, rng_state);
	for (i = 0; i < n; i++) {
		unsigned long cmd;
		void *arg;
		unsigned k = (unsigned)(rnd() % 4);
		bool is_valid;

		switch (rnd() % 4) {
		case 0: /* one of ours */
			cmd = valid[k];
			break;
		case 1: /* near: our magic, any direction, number and size */
			cmd = _IOC(rnd() % 4, RMC_IOC_MAGIC, 0x38 + rnd() % 16, rnd() % 64);
			break;
		case 2: /* our numbers with a nearby size */
			cmd = _IOC(_IOC_READ | _IOC_WRITE, RMC_IOC_MAGIC, 0x40 + k,
				   sizes[k] + (rnd() % 17) - 8);
			break;
		default: /* far */
			do
				cmd = (uint32_t)rnd();
			while (vfs_type(_IOC_TYPE(cmd)));
			break;
		}
		switch (rnd() % 8) {
		case 0:
			arg = NULL;
			break;
		case 1:
			arg = (void *)0xffffffff81000000ul;
			break;
		case 2:
			arg = (void *)(0xffff888000000000ul + (rnd() & 0xffffff8));
			break;
		case 3:
			arg = (void *)(uintptr_t)rnd();
			break;
		case 4:
			arg = guard_edge;
			break;
		default: /* a readable struct with random fields, sometimes a right size */
			for (size_t j = 0; j < 64; j++)
				area[j] = (unsigned char)rnd();
			if (rnd() % 2)
				memcpy(area, &sizes[k], sizeof(sizes[k]));
			if (rnd() % 2) { /* small, often mapped, ranges */
				uint64_t a = (uintptr_t)area + rnd() % (2 * pg),
					 l = rnd() % (3 * pg);
				memcpy(area + 8, &a, 8);
				memcpy(area + 16, &l, 8);
			}
			arg = area;
			break;
		}
		is_valid = cmd == valid[0] || cmd == valid[1] || cmd == valid[2] || cmd == valid[3];
		int err = xioctl(fd, cmd, arg);
		if (!err) {
			ok_calls++;
			if (!is_valid) {
				wrong++;
				printf("  random ioctl %#lx (arg %p) succeeded\n", cmd, arg);
			}
		} else {
			errs[-err & 255]++;
			if (_IOC_TYPE(cmd) == RMC_IOC_MAGIC && !is_valid && err != -ENOTTY) {
				wrong++;
				printf("  random ioctl %#lx: %s, expected ENOTTY\n", cmd,
				       strerror(-err));
			}
		}
	}
	printf("  random ioctls: %d succeeded;", ok_calls);
	for (i = 1; i < 256; i++)
		if (errs[i])
			printf(" %s %d;", strerror(i), errs[i]);
	printf("\n");
	core_rmcdev_close(fd);
	munmap(area, 2 * pg);
	if (wrong)
		fail("random-ioctls", "%d answers were wrong", wrong);
	else if (vm_pin_kb() != 0)
		fail("random-ioctls", "VmPin %ld kB after close", vm_pin_kb());
	else
		pass("random-ioctls");
}

/* ---- 8. NUMA placement through another process's mapping ------------------ */

struct numa_probe {
	uint64_t handle;
	uint32_t npages;
	uint64_t pfn; /* the registrant's frame of page 0 */
	int node;     /* where it must be */
};

static bool numa_child(void *arg)
{
	struct numa_probe *p = arg;
	unsigned char *base;
	int fd, err, node_gmp, node_pfn;

	fd = rmc_open();
	if (fd < 0)
		return why("open: %s", strerror(-fd));
	err = core_rmcdev_map(fd, p->handle, p->npages, (void **)&base);
	if (err)
		return why("mmap: %s", strerror(-err));
	for (uint32_t i = 0; i < p->npages; i++)
		(void)*(volatile unsigned char *)(base + i * pg);
	node_gmp = node_of_addr(base);
	uint64_t pfn = pfn_of(base);
	node_pfn = node_of_pfn(pfn);
	printf("  node %d region: the mapper sees frame %#" PRIx64 " on node %d; get_mempolicy "
	       "on its mapping: %s%d\n",
	       p->node, pfn, node_pfn, node_gmp < 0 ? "error " : "node ",
	       node_gmp < 0 ? -node_gmp : node_gmp);
	if (pfn != p->pfn)
		return why("the mapper's frame %#" PRIx64 " is not the registrant's %#" PRIx64, pfn,
			   p->pfn);
	if (node_pfn != p->node)
		return why("the mapper's frame is on node %d, not %d", node_pfn, p->node);
	/* The mapping holds special entries (VM_MIXEDMAP, no page reference):
	 * get_user_pages(), hence get_mempolicy(), cannot look through it
	 * (EEXIST or EFAULT), so the frame is read from /proc/self/pagemap.  Should
	 * get_mempolicy() ever answer, it must agree. */
	if (node_gmp >= 0 && node_gmp != p->node)
		return why("get_mempolicy says node %d, not %d", node_gmp, p->node);
	return true;
}

static bool numa_region_on(int fd, int node)
{
	const uint32_t npages = 16;
	unsigned long mask = 1ul << node;
	struct core_rmcdev_region reg;
	struct numa_probe p = { .node = node };
	unsigned char *mem;
	int err, got;

	mem = mmap(NULL, npages * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return why("mmap: %s", strerror(errno));
	if (syscall(SYS_mbind, mem, npages * pg, MPOL_BIND, &mask, 8 * sizeof(mask), 0) < 0)
		return why("mbind to node %d: %s", node, strerror(errno));
	memset(mem, 0x5a, npages * pg);
	err = core_rmcdev_reg(fd, mem, npages * pg, &reg);
	if (err)
		return why("REGISTER: %s", strerror(-err));
	got = node_of_addr(mem);
	if (got != node)
		return why("the registrant's page is on node %d, not %d", got, node);
	for (uint32_t i = 0; i < npages; i++) {
		got = node_of_addr(mem + i * pg);
		if (got != node)
			return why("the registrant's page %u is on node %d, not %d", i, got, node);
	}
	p.handle = reg.handle;
	p.npages = reg.npages;
	p.pfn = pfn_of(mem);
	if (node_of_pfn(p.pfn) != node)
		return why("sysfs puts frame %#" PRIx64 " on node %d, get_mempolicy on %d", p.pfn,
			   node_of_pfn(p.pfn), node);
	return in_child(numa_child, &p);
}

static void test_numa(void)
{
	char online[32] = "";
	FILE *f = fopen("/sys/devices/system/node/online", "r");
	int fd;

	if (f) {
		if (!fgets(online, sizeof(online), f))
			online[0] = '\0';
		fclose(f);
	}
	online[strcspn(online, "\n")] = '\0';
	if (strcmp(online, "0-1") != 0) {
		fail("numa", "NUMA nodes online: \"%s\", expected 0-1", online);
		return;
	}
	fd = rmc_open();
	if (fd < 0) {
		fail("numa", "open: %s", strerror(-fd));
		return;
	}
	/* Node 0 as well, so that the check could tell the two apart. */
	if (numa_region_on(fd, 1) && numa_region_on(fd, 0))
		pass("numa");
	else
		fail("numa", "see the lines above");
	core_rmcdev_close(fd);
}

/* ---- 9. unpinning ------------------------------------------------------------ */

/* A pinned page cannot migrate; once unregistered it can.  Moves the pages
 * at mem to node and returns how many are on it. */
static int move_to(unsigned char *mem, int npages, int node)
{
	void *addrs[16];
	int nodes[16], status[16], on = 0;

	for (int i = 0; i < npages; i++) {
		addrs[i] = mem + i * pg;
		nodes[i] = node;
	}
	/* The result is read back below: a page that cannot move leaves
	 * move_pages() without an error of its own. */
	(void)syscall(SYS_move_pages, 0, npages, addrs, nodes, status, MPOL_MF_MOVE);
	for (int i = 0; i < npages; i++)
		on += node_of_addr(mem + i * pg) == node;
	return on;
}

static void test_unpin(void)
{
	const int npages = 8;
	unsigned long mask = 1;
	struct core_rmcdev_region reg;
	unsigned char *mem;
	int fd, err, pinned_moved, unpinned_moved;

	fd = rmc_open();
	mem = mmap(NULL, npages * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fd < 0 || mem == MAP_FAILED ||
	    syscall(SYS_mbind, mem, npages * pg, MPOL_BIND, &mask, 8 * sizeof(mask), 0) < 0) {
		fail("unpin", "setup failed: %s", strerror(errno));
		return;
	}
	memset(mem, 0x3c, npages * pg);
	err = core_rmcdev_reg(fd, mem, npages * pg, &reg);
	if (err) {
		fail("unpin", "REGISTER: %s", strerror(-err));
		return;
	}
	pinned_moved = move_to(mem, npages, 1);
	err = core_rmcdev_unreg(fd, reg.handle);
	unpinned_moved = move_to(mem, npages, 1);
	printf("  unpin: %d of %d pinned pages moved to node 1, then %d once unregistered\n",
	       pinned_moved, npages, unpinned_moved);
	if (err)
		fail("unpin", "UNREGISTER: %s", strerror(-err));
	else if (pinned_moved)
		fail("unpin", "%d pinned pages migrated", pinned_moved);
	else if (unpinned_moved != npages)
		fail("unpin", "only %d of %d pages migrated once unregistered", unpinned_moved,
		     npages);
	else
		pass("unpin");
	munmap(mem, npages * pg);
	core_rmcdev_close(fd);
}

/* ---- 10. module references and removal ------------------------------------- */

static int delete_module(void)
{
	return syscall(SYS_delete_module, "rmc", O_NONBLOCK) < 0 ? -errno : 0;
}

static void test_rmmod(void)
{
	struct core_rmcdev_region reg;
	unsigned char *mem, *base = NULL;
	bool ok = true;
	int fd, err;

	mem = mmap(NULL, 8 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	fd = rmc_open();
	if (fd < 0 || mem == MAP_FAILED) {
		fail("rmmod-busy", "setup failed");
		return;
	}
	for (int i = 0; i < 3; i++) {
		err = core_rmcdev_reg(fd, mem + i * 2 * pg + 10, pg, &reg);
		if (err)
			ok = why("REGISTER %d: %s", i, strerror(-err));
	}
	err = core_rmcdev_map(fd, reg.handle, reg.npages, (void **)&base);
	if (err)
		ok = why("mmap: %s", strerror(-err));

	err = delete_module();
	if (err != -EWOULDBLOCK && err != -EBUSY)
		ok = why("rmmod with the file open: %s, expected EWOULDBLOCK or EBUSY",
			 err ? strerror(-err) : "success");
	core_rmcdev_close(fd);
	/* The mapping still holds the file, hence the module, and the pages. */
	err = delete_module();
	if (err != -EWOULDBLOCK && err != -EBUSY)
		ok = why("rmmod with a mapping left: %s, expected EWOULDBLOCK or EBUSY",
			 err ? strerror(-err) : "success");
	mem[4 * pg + 10] = 0x42;
	if (base && base[10] != 0x42)
		ok = why("the mapping lost its page once the file was closed");
	/* close() does not release a file that a mapping holds: all three
	 * regions stay until the mapping goes. */
	if (vm_pin_kb() != (long)(3 * reg.npages * pg / 1024))
		ok = why("VmPin %ld kB with three regions of %u pages and a mapping left",
			 vm_pin_kb(), reg.npages);
	if (ok)
		pass("rmmod-busy");
	else
		fail("rmmod-busy", "see the lines above");

	if (base)
		core_rmcdev_unmap(base, reg.npages);
	err = delete_module();
	if (err)
		fail("rmmod", "rmmod after closing with regions registered: %s", strerror(-err));
	else if (access(CORE_RMCDEV_PATH, F_OK) == 0)
		fail("rmmod", "%s still there after rmmod", CORE_RMCDEV_PATH);
	else if (vm_pin_kb() != 0)
		fail("rmmod", "VmPin %ld kB after rmmod", vm_pin_kb());
	else if (rmc_open() != -ENOENT)
		fail("rmmod", "core_rmcdev_open does not say ENOENT without the module");
	else
		pass("rmmod");
	munmap(mem, 8 * pg);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: kmod_test GID (the module's gid= parameter)\n");
		return 2;
	}
	group_id = (unsigned)strtoul(argv[1], NULL, 10);
	pg = (size_t)sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);

	test_info();
	test_share();
	test_allocators();
	test_bad_ioctls();
	test_permissions();
	test_memlock();
	test_random_ioctls();
	test_numa();
	test_unpin();
	test_rmmod();
	printf("  kmod_test: %d failure(s)\n", failures);
	return failures ? 1 : 0;
}
