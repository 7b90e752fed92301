/* SPDX-License-Identifier: MIT */
/*
 * Building the emulated cluster: the run directory and its lock, each node's
 * context segment on its NUMA domain, the RMC threads' CPUs, and one control
 * socket per node.
 */

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
#include "rmcdev.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

int rmcd_rundir_prepare(struct rmcd *d, char *err, size_t errlen)
{
	const char *dir = d->cfg.rundir;
	mode_t mode = d->cfg.n_allow_uids ? 0711 : 0700;
	struct stat st;

	if (mkdir(dir, mode) < 0 && errno != EEXIST)
		return ERR("run directory %s: cannot create: %s", dir, strerror(errno));
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return ERR("run directory %s: not a directory", dir);
	if (st.st_uid != geteuid())
		return ERR("run directory %s: owned by uid %u, not by us (uid %u)", dir,
			   (unsigned)st.st_uid, (unsigned)geteuid());
	if (chmod(dir, mode) < 0)
		return ERR("run directory %s: cannot set mode: %s", dir, strerror(errno));
	return 0;
}

/* Claims a node: its lock file in the run directory, held while we live.
 * Whatever socket the node has there was left by an rmcd that died. */
static int node_lock(struct rmcd *d, struct rmcd_node *n, char *err, size_t errlen)
{
	const char *dir = d->cfg.rundir;
	char path[160];

	snprintf(path, sizeof(path), "%s/node%u.lock", dir, n->nid);
	n->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (n->lock_fd < 0)
		return ERR("%s: cannot open: %s", path, strerror(errno));
	if (flock(n->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32] = "?";
		ssize_t k = pread(n->lock_fd, pid, sizeof(pid) - 1, 0);
		if (k > 0)
			pid[strcspn(pid, "\n")] = 0;
		return ERR("node %u of run directory %s is in use by another rmcd (pid %s); "
			   "stop it or choose another run directory",
			   n->nid, dir, k > 0 ? pid : "?");
	}
	if (ftruncate(n->lock_fd, 0) == 0)
		dprintf(n->lock_fd, "%d\n", (int)getpid());
	if (!core_node_sock_path(path, sizeof(path), dir, n->nid))
		unlink(path);
	return 0;
}

static int ctx_create(struct rmcd *d, struct rmcd_node *n, uint64_t size, char *err, size_t errlen)
{
	struct rmcd_ctx *c = &n->ctx[n->n_ctx];
	int r;

	c->fd = c->dev_fd = -1;
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

/* Which RMC thread serves each local node: by default one per NUMA domain
 * in use, serving the nodes of its domain; with rmc.threads set, the k-th
 * local node goes to thread k % threads. */
static int assign_rmcs(struct rmcd *d)
{
	const struct core_config *c = &d->cfg;
	int dom_rmc[1024];
	uint32_t k = 0, local = 0;

	for (int i = 0; i < 1024; i++)
		dom_rmc[i] = -1;
	for (uint32_t i = 0; i < d->n_nodes; i++)
		local += d->nodes[i].local;
	/* More threads than nodes would have nothing to serve. */
	d->n_rmcs = c->rmc_threads < local ? c->rmc_threads : local;
	for (uint32_t i = 0; i < d->n_nodes; i++) {
		struct rmcd_node *n = &d->nodes[i];
		if (!n->local)
			continue;
		if (c->rmc_threads) {
			n->rmc = (int)(k++ % d->n_rmcs);
			continue;
		}
		if (dom_rmc[n->numa] < 0)
			dom_rmc[n->numa] = (int)d->n_rmcs++;
		n->rmc = dom_rmc[n->numa];
	}
	d->rmcs = calloc(d->n_rmcs, sizeof(*d->rmcs));
	return d->rmcs ? 0 : -ENOMEM;
}

/* Sets up RMC thread t and picks its CPU. */
static int rmc_init(struct rmcd *d, uint32_t t, char *err, size_t errlen)
{
	const struct core_config *c = &d->cfg;
	struct rmcd_rmc *m = &d->rmcs[t];
	int cpus[1024], n = 0, dom = 0;

	m->d = d;
	m->idx = (int)t;
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	if (rmcd_heap_init(&m->heap, 64))
		return ERR("out of memory");
	m->stats = calloc((size_t)d->n_nodes * RMCD_SIZE_CLASSES, sizeof(*m->stats));
	if (!m->stats)
		return ERR("out of memory");
	for (uint32_t i = 0; i < d->n_nodes; i++)
		if (d->nodes[i].local && d->nodes[i].rmc == (int)t) {
			dom = d->nodes[i].numa;
			break;
		}
	m->cpu = c->rmc_cpus[t];
	if (m->cpu >= sysconf(_SC_NPROCESSORS_CONF))
		return ERR("%s: rmc.cpus: CPU %d does not exist (this machine has %ld)", c->file,
			   m->cpu, sysconf(_SC_NPROCESSORS_CONF));
	if (m->cpu >= 0)
		return 0;
	/* The domain's last CPU not taken by an earlier RMC thread (several
	 * threads per domain spread out).  With one rmcd per node, the rmcds
	 * of one domain spread out the same way, by their node's rank among
	 * the domain's nodes. */
	n = core_numa_cpus(dom, cpus, 1024);
	if (d->self >= 0 && n > 0) {
		int rank = 0;
		for (int i = 0; i < d->self; i++)
			rank += d->nodes[i].numa == dom;
		m->cpu = cpus[n - 1 - rank % n];
		return 0;
	}
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
	return 0;
}

/* The CPUs of a local node's domain left for its programs. */
static void node_cpus(struct rmcd *d, struct rmcd_node *n)
{
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
				  "programs share CPU %d with RMC thread %u, which yields when "
				  "idle, and their waits yield to it (latencies suffer)",
				  n->nid, n->numa, cpu, t);
		}
	}
}

int rmcd_cluster_init(struct rmcd *d, char *err, size_t errlen)
{
	const struct core_config *c = &d->cfg;
	int domains = core_numa_domains();
	int r;

	d->max_transfer = c->max_transfer;
	d->self = c->node_id;
	if ((r = rmcd_rundir_prepare(d, err, errlen)))
		return r;

	d->n_nodes = c->nodes;
	d->nodes = calloc(d->n_nodes, sizeof(*d->nodes));
	if (!d->nodes)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->n_nodes; i++) {
		struct rmcd_node *n = &d->nodes[i];

		n->listen_fd = n->lock_fd = n->peer_fd = -1;
		for (uint32_t k = 0; k < RMCD_MAX_CTX; k++)
			n->ctx[k].fd = n->ctx[k].dev_fd = -1;
		n->nid = i;
		n->local = d->self < 0 || (uint32_t)d->self == i;
		n->numa = c->node_numa[i] >= 0 ? c->node_numa[i] : (int)i % domains;
		if (n->local && n->numa >= domains)
			return ERR("%s: cluster.numa: node %u asks for NUMA domain %d, but this "
				   "machine has %d domain%s (0-%d)",
				   c->file, i, n->numa, domains, domains > 1 ? "s" : "",
				   domains - 1);
	}
	for (uint32_t i = 0; i < d->n_nodes; i++)
		if (d->nodes[i].local && (r = node_lock(d, &d->nodes[i], err, errlen)))
			return r;

	if (assign_rmcs(d))
		return ERR("out of memory");
	for (uint32_t t = 0; t < d->n_rmcs; t++)
		if ((r = rmc_init(d, t, err, errlen)))
			return r;

	for (uint32_t i = 0; i < d->n_nodes; i++) {
		struct rmcd_node *n = &d->nodes[i];

		if (!n->local)
			continue;
		node_cpus(d, n);
		for (uint32_t k = 0; k < c->n_contexts && k < RMCD_MAX_CTX; k++) {
			uint64_t pages = k == 0 ? c->context_pages : c->ctx_pages[k];
			if ((r = ctx_create(d, n, pages * PAGE_SIZE, err, errlen)))
				return r;
		}
		/* Its contexts exist: requests may reach it. */
		n->live = 1;
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
		if (!n->local)
			continue; /* rmcd_peer_fini() has unmapped it */
		for (uint32_t k = 0; k < n->n_ctx; k++) {
			struct rmcd_ctx *c = &n->ctx[k];
			if (c->fd < 0) {
				/* A program's memory, through rmc.ko. */
				core_rmcdev_unmap(c->dev_base, c->dev_pages);
				if (c->dev_fd >= 0)
					close(c->dev_fd);
				continue;
			}
			munmap(c->base, c->size);
			close(c->fd);
		}
		if (n->lock_fd >= 0)
			close(n->lock_fd);
	}
	for (uint32_t t = 0; d->rmcs && t < d->n_rmcs; t++) {
		rmcd_heap_free(&d->rmcs[t].heap);
		free(d->rmcs[t].stats);
		free(d->rmcs[t].qps);
		free(d->rmcs[t].fl);
		pthread_mutex_destroy(&d->rmcs[t].mu);
		pthread_cond_destroy(&d->rmcs[t].cv);
	}
	free(d->nodes);
	free(d->rmcs);
	d->nodes = NULL;
	d->rmcs = NULL;
}
