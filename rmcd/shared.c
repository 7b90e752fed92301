/* SPDX-License-Identifier: MIT */
/*
 * State a timing model shares between the RMCs of a cluster (the busy
 * time of each node's links in the link model).  With one rmcd per node,
 * every rmcd maps the same segment of the run directory, so a target's
 * ingress link is one link whoever sends to it; with every node in one
 * process, the model keeps the state in its own memory (env.shared NULL).
 *
 * The segment is a file: model-NAME.shm, a header page, then the state.
 * Every rmcd using it holds a shared lock on it; the first one (the one
 * that can take the lock exclusively) makes it anew, zeroed; the others
 * check that it is the size they expect.  The last one removes it.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core.h"
#include "rmcd.h"

#define SHARED_MAGIC 0x53484d4153524d53ull /* "SMRSAMHS" */
#define HDR 4096

struct shared_hdr {
	uint64_t magic;
	uint64_t size;
	uint32_t nodes;
	char name[32];
};

static void shared_path(const struct rmcd *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s/model-%s.shm", d->cfg.rundir, d->model ? d->model->name : "x");
}

void *rmcd_shared_get(void *arg, const char *name, size_t size)
{
	struct rmcd *d = arg;
	size_t total = HDR + ((size + PAGE_SIZE - 1) & ~(size_t)(PAGE_SIZE - 1));
	struct shared_hdr h = { .magic = SHARED_MAGIC, .size = size, .nodes = d->n_nodes };
	struct shared_hdr *have;
	char path[200];
	uint8_t *p;
	int fd;

	if (d->shared_seg || d->shared_fd >= 0) {
		core_err("a model asked for a second shared segment (%s)", name);
		errno = EBUSY;
		return NULL;
	}
	snprintf(h.name, sizeof(h.name), "%s", name);
	shared_path(d, path, sizeof(path));
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		core_err("%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		/* Nobody else uses it: made anew, whatever an earlier run left. */
		if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)total) < 0 ||
		    pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
			core_err("%s: cannot make it: %s", path, strerror(errno));
			close(fd);
			return NULL;
		}
	}
	/* From exclusive to shared, or wait for the one making it. */
	if (flock(fd, LOCK_SH) < 0) {
		core_err("%s: cannot lock: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if (core_fd_size(fd) != (ssize_t)total) {
		core_err("%s: %lld bytes, where %zu were expected: another rmcd of this run "
			 "directory runs a different cluster",
			 path, (long long)core_fd_size(fd), total);
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		core_err("%s: cannot map: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	have = (struct shared_hdr *)p;
	if (have->magic != SHARED_MAGIC || have->size != size || have->nodes != d->n_nodes ||
	    strncmp(have->name, h.name, sizeof(h.name))) {
		core_err("%s: made by an rmcd of a cluster of %u nodes with model state \"%.31s\" "
			 "of %llu bytes; this one has %u nodes and \"%s\" of %zu bytes",
			 path, have->nodes, have->name, (unsigned long long)have->size, d->n_nodes,
			 name, size);
		munmap(p, total);
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	d->shared_fd = fd;
	d->shared_seg = p;
	d->shared_len = total;
	return p + HDR;
}

void rmcd_shared_fini(struct rmcd *d)
{
	char path[200];

	if (d->shared_seg)
		munmap(d->shared_seg, d->shared_len);
	d->shared_seg = NULL;
	if (d->shared_fd < 0)
		return;
	/* The last one out removes it. */
	if (flock(d->shared_fd, LOCK_EX | LOCK_NB) == 0) {
		shared_path(d, path, sizeof(path));
		unlink(path);
	}
	close(d->shared_fd);
	d->shared_fd = -1;
}
