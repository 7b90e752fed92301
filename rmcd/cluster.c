/* SPDX-License-Identifier: MIT */
/*
 * Building the emulated cluster: the run directory and its lock, each node's
 * context segment on its NUMA domain, the RMC threads' CPUs, and one control
 * socket per node.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core.h"
#include "rmcd.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

static int rundir_prepare(struct rmcd *d, char *err, size_t errlen)
{
	const char *dir = d->cfg.rundir;
	mode_t mode = d->cfg.n_allow_uids ? 0711 : 0700;
	char path[160];
	struct stat st;
	DIR *dh;

	if (mkdir(dir, mode) < 0 && errno != EEXIST)
		return ERR("run directory %s: cannot create: %s", dir, strerror(errno));
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return ERR("run directory %s: not a directory", dir);
	if (st.st_uid != geteuid())
		return ERR("run directory %s: owned by uid %u, not by us (uid %u)", dir,
			   (unsigned)st.st_uid, (unsigned)geteuid());
	if (chmod(dir, mode) < 0)
		return ERR("run directory %s: cannot set mode: %s", dir, strerror(errno));

	snprintf(path, sizeof(path), "%s/rmcd.lock", dir);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0)
		return ERR("%s: cannot open: %s", path, strerror(errno));
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32] = "?";
		ssize_t n = pread(d->lock_fd, pid, sizeof(pid) - 1, 0);
		if (n > 0)
			pid[strcspn(pid, "\n")] = 0;
		return ERR("run directory %s is in use by another rmcd (pid %s); "
			   "stop it or choose another run directory",
			   dir, n > 0 ? pid : "?");
	}
	if (ftruncate(d->lock_fd, 0) == 0)
		dprintf(d->lock_fd, "%d\n", (int)getpid());

	/* We hold the lock: whatever sockets are here were left by an rmcd
	 * that died.  Remove them. */
	dh = opendir(dir);
	if (dh) {
		struct dirent *de;
		while ((de = readdir(dh))) {
			size_t n = strlen(de->d_name);
			if (!strncmp(de->d_name, "node", 4) && n > 5 &&
			    !strcmp(de->d_name + n - 5, ".sock"))
				unlinkat(dirfd(dh), de->d_name, 0);
		}
		closedir(dh);
	}
	return 0;
}

static int ctx_create(struct rmcd *d, struct rmcd_node *n, uint64_t size, char *err,
		      size_t errlen)
{
	struct rmcd_ctx *c = &n->ctx[n->n_ctx];
	int r;

	c->fd = -1;
	r = core_shm_create("sonuma-ctx", size, &c->fd);
	if (r)
		return ERR("node %u: cannot create a %llu-byte context: %s", n->nid,
			   (unsigned long long)size, strerror(-r));
	/* Not populated: the pages must be placed on the node's domain
	 * before they exist (a populated mapping is placed by the CPU that
	 * maps it, and a strict bind then fails). */
	c->base = core_shm_map_lazy(c->fd, size);
	if (!c->base)
		return ERR("node %u: cannot map its context: %s", n->nid, strerror(errno));
	c->size = size;
	n->n_ctx++;
	r = core_numa_bind(c->base, size, n->numa);
	if (r)
		return ERR("node %u: cannot place its context on NUMA domain %d: %s", n->nid,
			   n->numa, strerror(-r));
	if (d->cfg.lock_memory && mlock(c->base, size) < 0)
		core_warn("node %u: cannot lock its %llu-byte context in memory (%s); "
			  "raise RLIMIT_MEMLOCK (ulimit -l) or set cluster.lock_memory = false",
			  n->nid, (unsigned long long)size, strerror(errno));
	/* Touch every page now, under the bind policy, so that the data path
	 * never takes a page fault (mlock has done it when it succeeded). */
	memset(c->base, 0, size);
	return 0;
}

static int node_listen(struct rmcd *d, struct rmcd_node *n, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r = core_node_sock_path(n->sock_path, sizeof(n->sock_path), d->cfg.rundir, n->nid);

	if (r || strlen(n->sock_path) >= sizeof(sa.sun_path))
		return ERR("run directory %s: too long for a socket path", d->cfg.rundir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", n->sock_path);
	n->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->listen_fd < 0)
		return ERR("socket: %s", strerror(errno));
	unlink(n->sock_path);
	if (bind(n->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return ERR("%s: cannot bind: %s", n->sock_path, strerror(errno));
	/* Access is decided by peer credentials at accept time. */
	chmod(n->sock_path, d->cfg.n_allow_uids ? 0666 : 0600);
	if (listen(n->listen_fd, 64) < 0)
		return ERR("%s: cannot listen: %s", n->sock_path, strerror(errno));
	return 0;
}

static void cpuset_add(uint64_t *set, int cpu)
{
	if (cpu >= 0 && cpu < 256)
		set[cpu / 64] |= 1ull << (cpu % 64);
}

int rmcd_cluster_init(struct rmcd *d, char *err, size_t errlen)
{
	const struct core_config *c = &d->cfg;
	int domains = core_numa_domains();
	int dom_rmc[1024];
	int r;

	d->lock_fd = -1;
	d->max_transfer = c->max_transfer;
	if ((r = rundir_prepare(d, err, errlen)))
		return r;

	d->n_nodes = c->nodes;
	d->nodes = calloc(d->n_nodes, sizeof(*d->nodes));
	if (!d->nodes)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->n_nodes; i++) {
		d->nodes[i].listen_fd = -1;
		d->nodes[i].nid = i;
		d->nodes[i].numa = c->node_numa[i] >= 0 ? c->node_numa[i] : (int)i % domains;
		if (d->nodes[i].numa >= domains)
			return ERR("%s: cluster.numa: node %u asks for NUMA domain %d, but this "
				   "machine has %d domain%s (0-%d)",
				   c->file, i, d->nodes[i].numa, domains, domains > 1 ? "s" : "",
				   domains - 1);
	}

	/* RMC threads: by default one per domain in use, each serving the
	 * nodes of its domain; with threads set, node i goes to thread
	 * i % threads. */
	for (int i = 0; i < 1024; i++)
		dom_rmc[i] = -1;
	if (c->rmc_threads) {
		d->n_rmcs = c->rmc_threads;
		for (uint32_t i = 0; i < d->n_nodes; i++)
			d->nodes[i].rmc = (int)(i % d->n_rmcs);
	} else {
		d->n_rmcs = 0;
		for (uint32_t i = 0; i < d->n_nodes; i++) {
			int dom = d->nodes[i].numa;
			if (dom_rmc[dom] < 0)
				dom_rmc[dom] = (int)d->n_rmcs++;
			d->nodes[i].rmc = dom_rmc[dom];
		}
	}
	d->rmcs = calloc(d->n_rmcs, sizeof(*d->rmcs));
	if (!d->rmcs)
		return -ENOMEM;
	for (uint32_t t = 0; t < d->n_rmcs; t++) {
		struct rmcd_rmc *m = &d->rmcs[t];
		int cpus[1024], n = 0, dom = 0;

		m->d = d;
		m->idx = (int)t;
		pthread_mutex_init(&m->mu, NULL);
		pthread_cond_init(&m->cv, NULL);
		if ((r = rmcd_heap_init(&m->heap, 64)))
			return ERR("out of memory");
		m->stats = calloc((size_t)d->n_nodes * RMCD_SIZE_CLASSES, sizeof(*m->stats));
		if (!m->stats)
			return ERR("out of memory");
		for (uint32_t i = 0; i < d->n_nodes; i++)
			if (d->nodes[i].rmc == (int)t) {
				dom = d->nodes[i].numa;
				break;
			}
		m->cpu = c->rmc_cpus[t];
		if (m->cpu < 0) {
			/* The domain's last CPU not taken by an earlier RMC
			 * thread (several threads per domain spread out). */
			n = core_numa_cpus(dom, cpus, 1024);
			m->cpu = n > 0 ? cpus[n - 1] : -1;
			for (int k = n - 1; k >= 0; k--) {
				bool taken = false;
				for (uint32_t u = 0; u < t; u++)
					taken |= d->rmcs[u].cpu == cpus[k];
				if (!taken) {
					m->cpu = cpus[k];
					break;
				}
			}
		} else if (m->cpu >= sysconf(_SC_NPROCESSORS_CONF)) {
			return ERR("%s: rmc.cpus: CPU %d does not exist (this machine has %ld)",
				   c->file, m->cpu, sysconf(_SC_NPROCESSORS_CONF));
		}
	}

	for (uint32_t i = 0; i < d->n_nodes; i++) {
		struct rmcd_node *n = &d->nodes[i];
		int cpus[1024], k = core_numa_cpus(n->numa, cpus, 1024);

		for (int j = 0; j < k; j++) {
			bool rmc_cpu = false;
			for (uint32_t t = 0; t < d->n_rmcs; t++)
				rmc_cpu |= d->rmcs[t].cpu == cpus[j];
			if (!rmc_cpu)
				cpuset_add(n->app_cpus, cpus[j]);
		}
		if (!(n->app_cpus[0] | n->app_cpus[1] | n->app_cpus[2] | n->app_cpus[3]))
			for (int j = 0; j < k; j++)
				cpuset_add(n->app_cpus, cpus[j]);
		for (uint32_t t = 0; t < d->n_rmcs; t++) {
			int cpu = d->rmcs[t].cpu;
			if (cpu >= 0 && cpu < 256 && (n->app_cpus[cpu / 64] >> (cpu % 64) & 1)) {
				d->rmcs[t].shares_cpu = true;
				core_warn("node %u: NUMA domain %d has no CPU free of RMC threads: its "
					  "programs share CPU %d with RMC thread %u, which will yield "
					  "when idle (latencies suffer)",
					  n->nid, n->numa, cpu, t);
			}
		}
		for (uint32_t k = 0; k < c->n_contexts && k < RMCD_MAX_CTX; k++) {
			uint64_t pages = k == 0 ? c->context_pages : c->ctx_pages[k];
			if ((r = ctx_create(d, n, pages * PAGE_SIZE, err, errlen)))
				return r;
		}
		if ((r = node_listen(d, n, err, errlen)))
			return r;
	}
	return 0;
}

void rmcd_cluster_fini(struct rmcd *d)
{
	for (uint32_t i = 0; d->nodes && i < d->n_nodes; i++) {
		struct rmcd_node *n = &d->nodes[i];
		if (n->listen_fd >= 0) {
			close(n->listen_fd);
			unlink(n->sock_path);
		}
		for (uint32_t k = 0; k < n->n_ctx; k++) {
			munmap(n->ctx[k].base, n->ctx[k].size);
			close(n->ctx[k].fd);
		}
	}
	for (uint32_t t = 0; d->rmcs && t < d->n_rmcs; t++) {
		rmcd_heap_free(&d->rmcs[t].heap);
		free(d->rmcs[t].stats);
		free(d->rmcs[t].qps);
		pthread_mutex_destroy(&d->rmcs[t].mu);
		pthread_cond_destroy(&d->rmcs[t].cv);
	}
	free(d->nodes);
	free(d->rmcs);
	d->nodes = NULL;
	d->rmcs = NULL;
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	d->lock_fd = -1;
}
