/* SPDX-License-Identifier: MIT */
/*
 * link: a bandwidth-limited network between RMCs.
 *   latency = rmc_ns + hops(src, dst) * hop_ns + size / bandwidth
 * over a topology (full, ring, mesh2d, torus2d), with queueing: the data of
 * a request serialises on the egress link of the node sending it and the
 * ingress link of the node receiving it (for a read the target sends, for
 * a write the requester does); a request waits while either is busy.  So a
 * node never gets more than the configured bandwidth, and incast shows up
 * as queueing at the target's ingress link.
 *
 * An atomic moves its 8-byte word like a read and adds atomic_ns (default
 * 0) for the read-modify-write at the target's RMC.
 *
 *   model = { name = "link"; rmc_ns = 500; hop_ns = 50; bandwidth_gbps = 10;
 *             topology = "torus2d"; dims = [4, 4]; atomic_ns = 100; };
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "sonuma/barrier.h"
#include "sonuma/qp.h"
#include "builtin.h"
#include "topology.h"

struct link {
	double rmc_ns, hop_ns, gbps, atomic_ns;
	struct tm_topology topo;
	uint64_t rmc_tsc, hop_tsc, atomic_tsc;
	double tsc_per_byte;
	uint32_t n;
	uint8_t *hops; /* n * n */
	/* Link state, shared by every RMC (of this process, or of every rmcd
	 * of the cluster through env->shared), under the lock. */
	struct link_shared *sh;
	bool own; /* sh is ours to free */
};

/* A spin lock and the TSC when each node's egress and ingress link is
 * free: n of each after the header.  It may live in memory several
 * processes map (the same TSC on one host), hence a byte lock and no
 * pointers. */
struct link_shared {
	uint8_t lock;
	uint8_t pad[63];
	uint64_t free_tsc[]; /* [0, n): egress, [n, 2n): ingress */
};

static void link_fini(void *state)
{
	struct link *l = state;

	if (!l)
		return;
	free(l->hops);
	if (l->own)
		free(l->sh);
	free(l);
}

/* The most square x * y = n with x >= y. */
static void square_dims(uint32_t n, uint32_t *x, uint32_t *y)
{
	uint32_t best = 1;

	for (uint32_t d = 1; d * d <= n; d++)
		if (n % d == 0)
			best = d;
	*y = best;
	*x = n / best;
}

static int link_init(const config_setting_t *grp, const struct tm_env *env, void **state, char *err,
		     size_t errlen)
{
	static const char *const keys[] = { "name",	"rmc_ns", "hop_ns",    "bandwidth_gbps",
					    "topology", "dims",	  "atomic_ns", NULL };
	char topo[16] = "full";
	struct link *l;
	int r, kind;

	if ((r = core_cfg_known(grp, keys, err, errlen)))
		return r;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->rmc_ns = 500;
	l->hop_ns = 50;
	l->gbps = 10;
	if ((r = core_cfg_double(grp, "rmc_ns", false, 0, 1e9, &l->rmc_ns, err, errlen)) ||
	    (r = core_cfg_double(grp, "hop_ns", false, 0, 1e9, &l->hop_ns, err, errlen)) ||
	    (r = core_cfg_double(grp, "bandwidth_gbps", false, 0.001, 10000, &l->gbps, err,
				 errlen)) ||
	    (r = core_cfg_double(grp, "atomic_ns", false, 0, 1e9, &l->atomic_ns, err, errlen)) ||
	    (r = core_cfg_string(grp, "topology", false, topo, sizeof(topo), err, errlen)))
		goto fail;
	kind = tm_topo_parse(topo);
	if (kind < 0) {
		const config_setting_t *s = config_setting_get_member(grp, "topology");
		snprintf(err, errlen,
			 "%s:%u: model.topology: unknown topology \"%s\" (known: full, ring, "
			 "mesh2d, torus2d)",
			 config_setting_source_file(s) ? config_setting_source_file(s) : "rmc.conf",
			 config_setting_source_line(s), topo);
		r = -EINVAL;
		goto fail;
	}
	l->n = env->nodes;
	l->topo.kind = (enum tm_topo)kind;
	l->topo.nodes = l->n;
	square_dims(l->n, &l->topo.x, &l->topo.y);
	const config_setting_t *dims = grp ? config_setting_get_member(grp, "dims") : NULL;
	if (dims) {
		const char *file = config_setting_source_file(dims);
		unsigned line = config_setting_source_line(dims);
		if (config_setting_type(dims) != CONFIG_TYPE_ARRAY &&
		    config_setting_type(dims) != CONFIG_TYPE_LIST) {
			snprintf(err, errlen, "%s:%u: model.dims: must be [X, Y]",
				 file ? file : "rmc.conf", line);
			r = -EINVAL;
			goto fail;
		}
		int x = config_setting_length(dims) == 2 ? config_setting_get_int_elem(dims, 0) : 0;
		int y = config_setting_length(dims) == 2 ? config_setting_get_int_elem(dims, 1) : 0;
		if (kind != TOPO_MESH2D && kind != TOPO_TORUS2D) {
			snprintf(err, errlen, "%s:%u: model.dims: only for mesh2d and torus2d",
				 file ? file : "rmc.conf", line);
			r = -EINVAL;
			goto fail;
		}
		if (x < 1 || y < 1 || (uint64_t)x * (uint64_t)y != l->n) {
			snprintf(err, errlen,
				 "%s:%u: model.dims: [X, Y] with X * Y equal to the %u nodes "
				 "(got [%d, %d])",
				 file ? file : "rmc.conf", line, l->n, x, y);
			r = -EINVAL;
			goto fail;
		}
		l->topo.x = (uint32_t)x;
		l->topo.y = (uint32_t)y;
	}
	l->rmc_tsc = (uint64_t)(l->rmc_ns * env->tsc_hz / 1e9 + 0.5);
	l->hop_tsc = (uint64_t)(l->hop_ns * env->tsc_hz / 1e9 + 0.5);
	l->atomic_tsc = (uint64_t)(l->atomic_ns * env->tsc_hz / 1e9 + 0.5);
	l->tsc_per_byte = env->tsc_hz / (l->gbps * 1e9);
	l->hops = calloc((size_t)l->n * l->n, 1);
	if (!l->hops) {
		r = -ENOMEM;
		goto fail;
	}
	size_t shsize = sizeof(*l->sh) + 2 * (size_t)l->n * sizeof(uint64_t);
	if (env->shared) {
		l->sh = env->shared(env->shared_arg, "link", shsize);
		if (!l->sh) {
			r = errno ? -errno : -EIO;
			snprintf(err, errlen,
				 "model link: cannot share the links' state with the other rmcds "
				 "of the cluster: %s",
				 strerror(-r));
			goto fail;
		}
	} else {
		l->sh = calloc(1, shsize);
		l->own = true;
		if (!l->sh) {
			r = -ENOMEM;
			goto fail;
		}
	}
	for (uint32_t a = 0; a < l->n; a++)
		for (uint32_t b = 0; b < l->n; b++) {
			uint32_t h = tm_hops(&l->topo, a, b);
			l->hops[a * l->n + b] = (uint8_t)(h > 255 ? 255 : h);
		}
	*state = l;
	return 0;
fail:
	link_fini(l);
	return r;
}

/* Held for a few instructions.  An rmcd killed while holding it (the state
 * may be shared between processes) would leave it taken for good: after
 * about a second of spinning it is taken over; the cost is at most one
 * link's busy time being off once. */
static inline void link_lock(struct link *l)
{
	uint64_t spins = 0;

	while (__atomic_test_and_set(&l->sh->lock, __ATOMIC_ACQUIRE)) {
		if (++spins == (1ull << 26)) {
			__atomic_clear(&l->sh->lock, __ATOMIC_RELEASE);
			spins = 0;
		}
		sonuma_cpu_relax();
	}
}

static inline void link_unlock(struct link *l)
{
	__atomic_clear(&l->sh->lock, __ATOMIC_RELEASE);
}

static uint64_t link_due(void *state, const struct tm_req *req)
{
	struct link *l = state;
	uint32_t src = req->src < l->n ? req->src : 0, dst = req->dst < l->n ? req->dst : 0;
	bool atomic = req->op == RMC_OP_CAS || req->op == RMC_OP_FAA;
	/* Reads and atomics bring data back from the target. */
	uint32_t from = req->op == RMC_OP_WRITE ? src : dst;
	uint32_t to = req->op == RMC_OP_WRITE ? dst : src;
	/* Rounded up, so that the bandwidth a node gets is never above the
	 * configured one (the 1e-6 forgives floating-point noise). */
	uint64_t ser = (uint64_t)ceil((double)req->size * l->tsc_per_byte - 1e-6);
	uint64_t start, end;

	uint64_t *egress = &l->sh->free_tsc[from], *ingress = &l->sh->free_tsc[l->n + to];

	link_lock(l);
	start = req->t_post;
	if (*egress > start)
		start = *egress;
	if (*ingress > start)
		start = *ingress;
	end = start + ser;
	*egress = end;
	*ingress = end;
	link_unlock(l);
	return end + l->rmc_tsc + l->hops[src * l->n + dst] * l->hop_tsc +
	       (atomic ? l->atomic_tsc : 0);
}

static double link_target(const void *state, uint8_t op, uint64_t size, uint16_t src, uint16_t dst)
{
	const struct link *l = state;
	uint32_t h = (src < l->n && dst < l->n) ? l->hops[src * l->n + dst] : 1;

	return l->rmc_ns + h * l->hop_ns + (double)size / l->gbps +
	       (op == RMC_OP_CAS || op == RMC_OP_FAA ? l->atomic_ns : 0);
}

static int link_describe(const void *state, char *buf, size_t len)
{
	const struct link *l = state;

	if (l->topo.kind == TOPO_MESH2D || l->topo.kind == TOPO_TORUS2D)
		return snprintf(buf, len, "link: %.0f ns + %.0f ns/hop + %g GB/s, %s %ux%u",
				l->rmc_ns, l->hop_ns, l->gbps, tm_topo_name(l->topo.kind),
				l->topo.x, l->topo.y);
	return snprintf(buf, len, "link: %.0f ns + %.0f ns/hop + %g GB/s, %s", l->rmc_ns, l->hop_ns,
			l->gbps, tm_topo_name(l->topo.kind));
}

const struct tm_ops tm_link_ops = TM_BUILTIN_OPS(link, "link");
