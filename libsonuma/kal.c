/* SPDX-License-Identifier: MIT */
/*
 * KAL: registration of queues and buffers with rmcd, over the node's
 * control socket.  Segments arrive as file descriptors and are mapped here.
 */

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core.h"
#include "rmcdev.h"
#include "proto.h"
#include "sonuma.h"

#define SONUMA_EXPORT __attribute__((visibility("default")))

_Static_assert((int)KAL_DESCRIBE_MODEL == (int)CTL_DESC_MODEL &&
		       (int)KAL_DESCRIBE_CALIBRATION == (int)CTL_DESC_CALIBRATION &&
		       (int)KAL_DESCRIBE_VERSION == (int)CTL_DESC_VERSION,
	       "kal_describe's values are the protocol's");

/* The sessions this process has open.  The original platform's kal_open
 * returned 0 and its calls ignored the descriptor, so its programs pass 0:
 * with exactly one session open, 0 means that one.  The only state of the
 * library, under its lock. */
#define KAL_MAX_SESSIONS 64
static struct {
	pthread_mutex_t mu;
	int fd[KAL_MAX_SESSIONS];
	/* Each session's /dev/rmc (rmc.ko), opened at its first use: the
	 * regions registered through it stay pinned while it is open. */
	int dev[KAL_MAX_SESSIONS];
	unsigned n;
} kal_sessions = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void sessions_add(int fd)
{
	pthread_mutex_lock(&kal_sessions.mu);
	if (kal_sessions.n < KAL_MAX_SESSIONS) {
		kal_sessions.dev[kal_sessions.n] = -1;
		kal_sessions.fd[kal_sessions.n++] = fd;
	}
	pthread_mutex_unlock(&kal_sessions.mu);
}

static void sessions_del(int fd)
{
	pthread_mutex_lock(&kal_sessions.mu);
	for (unsigned i = 0; i < kal_sessions.n; i++)
		if (kal_sessions.fd[i] == fd) {
			if (kal_sessions.dev[i] >= 0)
				close(kal_sessions.dev[i]);
			kal_sessions.n--;
			kal_sessions.fd[i] = kal_sessions.fd[kal_sessions.n];
			kal_sessions.dev[i] = kal_sessions.dev[kal_sessions.n];
			break;
		}
	pthread_mutex_unlock(&kal_sessions.mu);
}

/* The /dev/rmc of session fd: opened at the first call; -ENOENT without
 * rmc.ko, -EACCES when this process may not use it. */
static int session_dev(int fd)
{
	int r = -EBADF;

	pthread_mutex_lock(&kal_sessions.mu);
	for (unsigned i = 0; i < kal_sessions.n; i++)
		if (kal_sessions.fd[i] == fd) {
			if (kal_sessions.dev[i] < 0)
				kal_sessions.dev[i] = core_rmcdev_open(NULL);
			r = kal_sessions.dev[i];
			if (r < 0)
				kal_sessions.dev[i] = -1;
			break;
		}
	pthread_mutex_unlock(&kal_sessions.mu);
	return r;
}

/* The session a descriptor names: itself, or for 0 (the original's
 * descriptor) the one session when there is exactly one. */
static int session_fd(int fd)
{
	int r = fd;

	if (fd != 0)
		return fd;
	pthread_mutex_lock(&kal_sessions.mu);
	bool own = false;
	for (unsigned i = 0; i < kal_sessions.n; i++)
		own |= kal_sessions.fd[i] == 0;
	if (!own && kal_sessions.n == 1)
		r = kal_sessions.fd[0];
	pthread_mutex_unlock(&kal_sessions.mu);
	return r;
}

/* Without $SONUMA_NODE: the only node whose socket is in the run
 * directory (a host or guest running one node), else node 0. */
static unsigned default_node(const char *rundir)
{
	DIR *dh = opendir(rundir);
	struct dirent *de;
	unsigned found = 0, nid = 0;

	if (!dh)
		return 0;
	while ((de = readdir(dh))) {
		char *end;
		unsigned long k;
		if (strncmp(de->d_name, "node", 4) || de->d_name[4] < '0' || de->d_name[4] > '9')
			continue;
		k = strtoul(de->d_name + 4, &end, 10);
		if (!strcmp(end, ".sock") && k <= 0xffff) {
			found++;
			nid = (unsigned)k;
		}
	}
	closedir(dh);
	return found == 1 ? nid : 0;
}

static int kal_call_x(int fd, uint16_t op, uint32_t id, uint32_t pages, uint64_t addr,
		      uint64_t rsvd, int send_fd, struct ctl_resp *resp, int *seg_fd);

static int kal_call(int fd, uint16_t op, uint32_t id, uint32_t pages, uint64_t addr,
		    struct ctl_resp *resp, int *seg_fd)
{
	return kal_call_x(fd, op, id, pages, addr, 0, -1, resp, seg_fd);
}

/* One request and its reply; rsvd and a descriptor to send go with it. */
static int kal_call_x(int fd, uint16_t op, uint32_t id, uint32_t pages, uint64_t addr,
		      uint64_t rsvd, int send_fd, struct ctl_resp *resp, int *seg_fd)
{
	struct ctl_req req = { .magic = CTL_MAGIC,
			       .version = CTL_VERSION,
			       .op = op,
			       .id = id,
			       .pages = pages,
			       .addr = addr,
			       .rsvd = rsvd };
	int r;

	fd = session_fd(fd);
	if (fd < 0)
		return -EBADF;
	r = core_send_msg(fd, &req, sizeof(req), send_fd);
	if (r)
		return r == -EPIPE ? -ENOTCONN : r;
	r = core_recv_msg(fd, resp, sizeof(*resp), seg_fd);
	if (r)
		return r == -EPIPE ? -ENOTCONN : r;
	if (resp->magic != CTL_MAGIC) {
		if (seg_fd && *seg_fd >= 0)
			close(*seg_fd);
		return -EPROTO;
	}
	if (resp->status && seg_fd && *seg_fd >= 0) {
		close(*seg_fd);
		*seg_fd = -1;
	}
	return resp->status;
}

SONUMA_EXPORT int kal_open(char *kal_name)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char rundir[256];
	struct ctl_resp resp;
	int fd, r;

	if (kal_name && strcmp(kal_name, RMC_DEV) && strchr(kal_name, '/')) {
		if (strlen(kal_name) >= sizeof(sa.sun_path))
			return -ENAMETOOLONG;
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", kal_name);
	} else {
		const char *env = getenv("SONUMA_NODE");
		uint64_t nid = 0;
		if (env && core_parse_u64(env, 0, 0xffff, &nid))
			return -EINVAL;
		core_default_rundir(rundir, sizeof(rundir));
		if (!env)
			nid = default_node(rundir);
		r = core_node_sock_path(sa.sun_path, sizeof(sa.sun_path), rundir, (unsigned)nid);
		if (r)
			return r;
	}
	fd = core_sock_connect(sa.sun_path);
	if (fd < 0)
		return fd;
	r = kal_call(fd, CTL_HELLO, 0, 0, 0, &resp, NULL);
	if (r) {
		close(fd);
		return r;
	}
	sessions_add(fd);
	return fd;
}

SONUMA_EXPORT int kal_close(int fd)
{
	fd = session_fd(fd);
	sessions_del(fd);
	return close(fd) < 0 ? -errno : 0;
}

SONUMA_EXPORT int kal_info(int fd, struct kal_info *info)
{
	struct ctl_resp resp;
	int r = kal_call(fd, CTL_HELLO, 0, 0, 0, &resp, NULL);

	if (r)
		return r;
	memset(info, 0, sizeof(*info));
	info->nid = resp.u.info.nid;
	info->nodes = resp.u.info.nodes;
	info->numa = resp.u.info.numa;
	info->queue_depth = resp.u.info.queue_depth;
	info->context_size = resp.u.info.context_size;
	info->max_transfer = resp.u.info.max_transfer;
	info->tsc_hz = (double)resp.u.info.tsc_hz;
	memcpy(info->model, resp.u.info.model, sizeof(info->model));
	info->model[sizeof(info->model) - 1] = 0;
	memcpy(info->app_cpus, resp.u.info.app_cpus, sizeof(info->app_cpus));
	info->nodes_up = resp.u.info.nodes_up;
	info->overhead_ns = (double)resp.u.info.overhead_ps / 1000.0;
	return 0;
}

SONUMA_EXPORT int kal_stats(int fd, uint64_t size, struct kal_stats *st)
{
	struct ctl_resp resp;
	int r = kal_call(fd, CTL_STATS, 0, 0, size, &resp, NULL);
	const struct ctl_stats *o = &resp.u.stats;

	if (r)
		return r;
	st->requests = o->requests;
	st->errors = o->errors;
	st->late = o->late;
	st->late_worst_ns = (double)o->late_worst_ns;
	st->late_mean_ns = (double)o->late_mean_ns;
	st->flush_worst_ns = (double)o->flush_worst_ns;
	st->lat_p50_ns = (double)o->lat_p50_ns;
	st->lat_p99_ns = (double)o->lat_p99_ns;
	st->lat_mean_ns = (double)o->lat_mean_ns;
	st->model_count = o->model_count;
	st->model_sum_ns = (double)o->model_sum_ps / 1000.0;
	st->class_min = o->class_min;
	st->class_max = o->class_max;
	return 0;
}

SONUMA_EXPORT int kal_describe(int fd, int what, char *buf, size_t len)
{
	struct ctl_resp resp;
	int r;

	if (what < KAL_DESCRIBE_MODEL || what > KAL_DESCRIBE_VERSION || !buf || !len)
		return -EINVAL;
	r = kal_call(fd, CTL_DESCRIBE, (uint32_t)what, 0, 0, &resp, NULL);
	if (r)
		return r;
	resp.u.raw[sizeof(resp.u.raw) - 1] = 0;
	return snprintf(buf, len, "%s", (const char *)resp.u.raw);
}

SONUMA_EXPORT int kal_target_ns(int fd, uint8_t op, uint16_t dst, uint64_t size, double *ns)
{
	struct ctl_resp resp;
	int r = kal_call(fd, CTL_TARGET, op, dst, size, &resp, NULL);

	if (r)
		return r;
	*ns = (double)resp.size / 1000.0;
	return 0;
}

/* Maps a segment rmcd sent, checking it is as large as announced. */
static void *map_segment(int seg_fd, uint64_t want)
{
	ssize_t sz = core_fd_size(seg_fd);
	void *p;

	if (sz < 0 || (uint64_t)sz < want) {
		errno = EPROTO;
		return NULL;
	}
	p = core_shm_map(seg_fd, want);
	return p;
}

/* The segment seg rmcd answered with, when there is one and it is big
 * enough (ok), mapped (size bytes) into *out; seg is closed.  0, -EPROTO,
 * or -errno. */
static int take_segment(int seg, bool ok, uint64_t size, void **out)
{
	int r;

	if (seg < 0 || !ok) {
		if (seg >= 0)
			close(seg);
		return -EPROTO;
	}
	*out = map_segment(seg, size);
	r = *out ? 0 : -errno;
	close(seg);
	return r;
}

/* Registers a queue (op CTL_REG_WQ or CTL_REG_CQ) and maps the segment
 * rmcd answers with, of at least min bytes, into *q. */
static int reg_queue(int fd, uint16_t op, size_t min, void **q)
{
	struct ctl_resp resp;
	int seg, r = kal_call(fd, op, 0, 0, 0, &resp, &seg);

	return r ? r : take_segment(seg, resp.size >= min, resp.size, q);
}

SONUMA_EXPORT int kal_reg_wq(int fd, rmc_wq_t **wq)
{
	void *q;
	int r = wq ? reg_queue(fd, CTL_REG_WQ, sizeof(rmc_wq_t), &q) : -EINVAL;

	if (r)
		return r;
	*wq = q;
	(*wq)->kal_fd = session_fd(fd);
	return 0;
}

SONUMA_EXPORT int kal_reg_cq(int fd, rmc_cq_t **cq)
{
	void *q;
	int r = cq ? reg_queue(fd, CTL_REG_CQ, sizeof(rmc_cq_t), &q) : -EINVAL;

	if (!r)
		*cq = q;
	return r;
}

/* Registers [addr, addr + len) of this process with rmc.ko and has rmcd
 * take it as a local buffer.  -EOPNOTSUPP when the module is not there, or
 * rmcd does not take regions from this process (not of its user). */
static int reg_dev_lbuff(int fd, void *addr, uint64_t len)
{
	struct core_rmcdev_region rg;
	struct ctl_resp resp;
	int dev = session_dev(fd), r;

	if (dev < 0)
		return -EOPNOTSUPP;
	if (len > UINT32_MAX)
		return -EINVAL;
	if ((r = core_rmcdev_reg(dev, addr, len, &rg)))
		return r;
	r = kal_call_x(fd, CTL_REG_LBUFF_DEV, (uint32_t)len, 0, (uint64_t)(uintptr_t)addr,
		       rg.handle, -1, &resp, NULL);
	if (r) {
		core_rmcdev_unreg(dev, rg.handle);
		if (r == -EPERM)
			r = -EOPNOTSUPP;
	}
	return r;
}

SONUMA_EXPORT int kal_reg_lbuff(int fd, uint8_t **buff, uint32_t num_pages)
{
	uint64_t size = (uint64_t)num_pages * PAGE_SIZE;
	struct ctl_resp resp;
	uint8_t *old, *p;
	int seg, r;

	if (!buff || !num_pages)
		return -EINVAL;
	old = *buff;
	fd = session_fd(fd);
	/* With rmc.ko, the buffer is registered where it is, whatever its
	 * alignment, and rmcd maps the same pages: no copy. */
	if (old && (r = reg_dev_lbuff(fd, old, size)) != -EOPNOTSUPP)
		return r;
	if (old && ((uintptr_t)old % PAGE_SIZE))
		return -EINVAL; /* cannot move a buffer that is not page-aligned */
	r = kal_call(fd, CTL_REG_LBUFF, 0, num_pages, 0, &resp, &seg);
	if (r)
		return r;
	if (seg < 0 || resp.size != size) {
		if (seg >= 0)
			close(seg);
		return -EPROTO;
	}
	if (old) {
		/* Keep the application's address and contents: fill the segment,
		 * have rmcd accept the address, and only then map the segment
		 * over the buffer, so that a refusal (e.g. an overlap with a
		 * registered buffer) leaves the buffer as it was. */
		p = (uint8_t *)core_shm_map(seg, size);
		if (!p) {
			r = -errno;
			close(seg);
			return r;
		}
		memcpy(p, old, size);
		munmap(p, size);
		r = kal_call(fd, CTL_MAP_LBUFF, resp.id, num_pages, (uint64_t)(uintptr_t)old, &resp,
			     NULL);
		if (!r && mmap(old, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, seg, 0) ==
				  MAP_FAILED)
			r = -errno;
		close(seg);
		return r;
	} else {
		p = (uint8_t *)map_segment(seg, size);
		if (!p) {
			r = -errno;
			close(seg);
			return r;
		}
	}
	close(seg);
	r = kal_call(fd, CTL_MAP_LBUFF, resp.id, num_pages, (uint64_t)(uintptr_t)p, &resp, NULL);
	if (r) {
		if (!old)
			munmap(p, size);
		return r;
	}
	*buff = p;
	return 0;
}

/* With rmc.ko: [addr, addr + pages) of this process becomes context ctx_id
 * of its node.  -EOPNOTSUPP without the module. */
static int reg_dev_ctx(int fd, uint32_t ctx_id, void *addr, uint32_t num_pages)
{
	uint64_t len = (uint64_t)num_pages * PAGE_SIZE;
	struct core_rmcdev_region rg;
	struct ctl_resp resp;
	int dev = session_dev(fd), r;

	if (dev < 0)
		return -EOPNOTSUPP;
	if ((r = core_rmcdev_reg(dev, addr, len, &rg)))
		return r;
	/* rmcd keeps this descriptor, so that the region outlives us. */
	r = kal_call_x(fd, CTL_REG_CTX_DEV, ctx_id, num_pages, (uint64_t)(uintptr_t)addr, rg.handle,
		       dev, &resp, NULL);
	if (r)
		core_rmcdev_unreg(dev, rg.handle);
	return r;
}

SONUMA_EXPORT int kal_reg_ctx_id(int fd, uint32_t ctx_id, uint8_t **ctx, uint32_t num_pages)
{
	uint64_t want = (uint64_t)num_pages * PAGE_SIZE;
	struct ctl_resp resp;
	void *p;
	int seg, r;

	if (!ctx || !num_pages)
		return -EINVAL;
	fd = session_fd(fd);
	if (*ctx && (r = reg_dev_ctx(fd, ctx_id, *ctx, num_pages)) != -EOPNOTSUPP)
		return r;
	r = kal_call(fd, CTL_REG_CTX, ctx_id, num_pages, 0, &resp, &seg);
	if (r)
		return r;
	if (seg < 0 && resp.u.dev.handle) {
		/* A program's memory, registered with rmc.ko: from /dev/rmc. */
		int dev = session_dev(fd);
		void *base;
		if (dev < 0)
			return dev;
		if (resp.u.dev.offset >= PAGE_SIZE || resp.size < want)
			return -EPROTO;
		/* The context's first byte may be anywhere in its first page. */
		r = core_rmcdev_map(dev, resp.u.dev.handle, num_pages + (resp.u.dev.offset != 0),
				    &base);
		if (r)
			return r;
		*ctx = (uint8_t *)base + resp.u.dev.offset;
		return 0;
	}
	r = take_segment(seg, resp.size >= want, want, &p);
	if (!r)
		*ctx = p;
	return r;
}

SONUMA_EXPORT int kal_reg_ctx(int fd, uint8_t **ctx, uint32_t num_pages)
{
	return kal_reg_ctx_id(fd, 0, ctx, num_pages);
}

/* Whether the calling thread may run on one CPU only. */
static bool one_cpu(void)
{
	cpu_set_t set;

	return !sched_getaffinity(0, sizeof(set), &set) && CPU_COUNT(&set) == 1;
}

SONUMA_EXPORT int rmc__wait_slow(rmc_wq_t *wq, uint64_t *spins)
{
	struct pollfd p = { .fd = wq->kal_fd, .events = POLLRDHUP };

	/* A hang-up on the control socket means rmcd is gone. */
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
		return -ENOTCONN;
	/* After about 40 checks (milliseconds of waiting) let others run;
	 * at once when the RMC that would answer may share this thread's CPU
	 * (rmcd says so for a node without a CPU free of RMC threads, such
	 * as a guest with one vCPU; or the thread may run on one CPU only):
	 * it cannot run while we spin. */
	if ((wq->flags & RMC_WQ_SHARED_CPU) || *spins > 40ull * RMC__SPIN_CHECK || one_cpu())
		sched_yield();
	return 0;
}

SONUMA_EXPORT const char *rmc_status_str(int status)
{
	static const char *const names[RMC_STATUS_MAX] = {
		[RMC_OK] = "success",
		[RMC_ERR_OP] = "unknown operation",
		[RMC_ERR_NID] = "no such node",
		[RMC_ERR_CID] = "no such context",
		[RMC_ERR_CTX_RANGE] = "outside the remote context",
		[RMC_ERR_BUF] = "not a registered local buffer",
		[RMC_ERR_BUF_RANGE] = "outside the local buffer",
		[RMC_ERR_LENGTH] = "length zero or above the maximum transfer",
		[RMC_ERR_ALIGN] = "misaligned atomic target",
		[RMC_ERR_DEAD] = "rmcd is gone",
		[RMC_ERR_FLUSHED] = "queue pair torn down",
		[RMC_ERR_UNREACHABLE] = "target node unreachable",
		[RMC_ERR_FABRIC] = "transfer failed in the fabric",
	};
	if (status < 0 || status >= RMC_STATUS_MAX)
		return "unknown status";
	return names[status];
}

SONUMA_EXPORT int rmc_status_errno(int status)
{
	switch (status) {
	case RMC_OK:
		return 0;
	case RMC_ERR_OP:
	case RMC_ERR_ALIGN:
		return -EINVAL;
	case RMC_ERR_NID:
		return -EHOSTUNREACH;
	case RMC_ERR_CID:
		return -ENOENT;
	case RMC_ERR_CTX_RANGE:
		return -ERANGE;
	case RMC_ERR_BUF:
	case RMC_ERR_BUF_RANGE:
		return -EFAULT;
	case RMC_ERR_LENGTH:
		return -EMSGSIZE;
	case RMC_ERR_DEAD:
		return -ENOTCONN;
	case RMC_ERR_FLUSHED:
		return -ECANCELED;
	case RMC_ERR_UNREACHABLE:
		return -EHOSTUNREACH;
	case RMC_ERR_FABRIC:
		return -EIO;
	default:
		return -EIO;
	}
}
