/* SPDX-License-Identifier: MIT */
/*
 * The xen fabric: every node is a Xen PV guest running its own rmcd, as on
 * the original platform.  Each rmcd registers its contexts with rmc.ko
 * (/dev/rmc), grants them to every peer domain, and maps the peers'
 * contexts through /dev/xen/gntdev, so that a transfer is the shm fabric's
 * memcpy (or atomic) on the peer's own pages: the same physical memory, on
 * the peer's NUMA domain.
 *
 * Discovery is xenstore, under /local/sonuma/<cluster>/node/<N>, which dom0
 * creates and gives to node N's domain (scripts/xen-cluster.sh):
 *
 *   info          what this rmcd runs: NODE_CNT, model, context sizes;
 *                 a peer refuses to attach when they differ from its own
 *   rmcd          "<domid> <nonce>": this rmcd is up (written last)
 *   grant/<M>     "<nonce> <M's domid> <M's nonce> <ref> [<ref>...]": the
 *                 root grant reference of each context, granted to node M
 *
 * A peer is up while its rmcd node exists and is owned by the domain it
 * names: xenstore drops (or gives to dom0) what a destroyed domain owned,
 * so a guest that dies, or an rmcd that stops, takes its peers' mappings
 * with it.  One thread polls every RETRY_MS; it alone changes remote
 * nodes, as peer.c's thread does for the shm fabric (see struct rmcd_node
 * for how RMC threads see a node come and go).  Each peer gets its own
 * registration of our contexts, so that its grants end (and their entries
 * are freed) when it goes, and a new guest for that node gets new ones.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <xenstore.h>

/* <xen/gntdev.h> (Linux uapi) uses Xen's types without defining them. */
typedef uint32_t grant_ref_t;
typedef uint16_t domid_t;
#include <xen/gntdev.h>

#include "core.h"
#include "rmcd.h"
#include "rmcdev.h"

#define RETRY_MS 100
#define GNTDEV_PATH "/dev/xen/gntdev"
#define XS_ROOT "/local/sonuma"

/* Grant pages are 4 KiB, as the context pages are. */
_Static_assert(PAGE_SIZE == RMC_GRANT_PAGE_SIZE, "context pages are grant pages");

/* A run of a peer's pages mapped through gntdev. */
struct xen_map {
	uint8_t *base;
	uint32_t npages;
	uint64_t index; /* gntdev's offset of the mapping */
};

/* A remote node, as the xen thread sees it. */
struct xen_peer {
	uint32_t domid;			  /* of its rmcd we granted to; 0: none yet */
	uint64_t nonce;			  /* of that rmcd */
	uint64_t reg[RMCD_MAX_CTX];	  /* our contexts, registered for it (0: none) */
	struct xen_map map[RMCD_MAX_CTX]; /* its contexts */
	char said[160];			  /* the last complaint about it, to say it once */
};

struct xen_fabric {
	struct rmcd *d;
	struct xs_handle *xs;
	int rmc_fd;
	int gnt_fd;
	uint32_t domid;
	uint64_t nonce;
	char dir[128];	/* /local/sonuma/<cluster>/node */
	char info[512]; /* what we publish in info */
	struct xen_peer *peers;
	pthread_t thread;
	bool started;
	uint32_t quit; /* atomic: the thread exits when set */
};

/* ---- xenstore -------------------------------------------------------- */

/* Reads a node as a string (malloc'd), or NULL with errno set. */
static char *xs_get(struct xen_fabric *x, const char *fmt, uint32_t a, uint32_t b)
{
	char path[192];
	unsigned int len;

	snprintf(path, sizeof(path), fmt, x->dir, a, b);
	return xs_read(x->xs, XBT_NULL, path, &len);
}

static int xs_put(struct xen_fabric *x, const char *val, const char *fmt, uint32_t a, uint32_t b)
{
	char path[192];

	snprintf(path, sizeof(path), fmt, x->dir, a, b);
	return xs_write(x->xs, XBT_NULL, path, val, strlen(val)) ? 0 : -errno;
}

static void xs_del(struct xen_fabric *x, const char *fmt, uint32_t a, uint32_t b)
{
	char path[192];

	/* Undoing a start that failed before xenstore was reached. */
	if (!x->xs)
		return;
	snprintf(path, sizeof(path), fmt, x->dir, a, b);
	xs_rm(x->xs, XBT_NULL, path);
}

/* Whether node nid's rmcd is up: its rmcd node exists and belongs to the
 * domain it names.  Fills its domid and nonce. */
static bool peer_up(struct xen_fabric *x, uint32_t nid, uint32_t *domid, uint64_t *nonce)
{
	char path[192];
	struct xs_permissions *perm;
	unsigned int n;
	char *v;
	bool up;

	v = xs_get(x, "%s/%u/rmcd", nid, 0);
	if (!v)
		return false;
	up = sscanf(v, "%" SCNu32 " %" SCNx64, domid, nonce) == 2 && *domid;
	free(v);
	if (!up)
		return false;
	snprintf(path, sizeof(path), "%s/%u/rmcd", x->dir, nid);
	perm = xs_get_permissions(x->xs, XBT_NULL, path, &n);
	up = perm && n && perm[0].id == *domid;
	free(perm);
	return up;
}

/* ---- gntdev ---------------------------------------------------------- */

static void gnt_unmap(struct xen_fabric *x, struct xen_map *m)
{
	struct ioctl_gntdev_unmap_grant_ref u = { .index = m->index, .count = m->npages };

	if (!m->base)
		return;
	munmap(m->base, (size_t)m->npages * PAGE_SIZE);
	if (ioctl(x->gnt_fd, IOCTL_GNTDEV_UNMAP_GRANT_REF, &u) < 0)
		core_warn("gntdev: cannot release %u grant mappings: %s", m->npages,
			  strerror(errno));
	m->base = NULL;
}

/* Maps n references of domain domid, read-only or read-write. */
static int gnt_map(struct xen_fabric *x, uint32_t domid, const uint32_t *refs, uint32_t n,
		   bool writable, struct xen_map *m)
{
	struct ioctl_gntdev_map_grant_ref *g;
	size_t sz = sizeof(*g) + (n - 1) * sizeof(g->refs[0]);
	void *p;
	int r;

	g = calloc(1, sz);
	if (!g)
		return -ENOMEM;
	g->count = n;
	for (uint32_t i = 0; i < n; i++) {
		g->refs[i].domid = domid;
		g->refs[i].ref = refs[i];
	}
	if (ioctl(x->gnt_fd, IOCTL_GNTDEV_MAP_GRANT_REF, g) < 0) {
		r = -errno;
		free(g);
		return r;
	}
	m->index = g->index;
	m->npages = n;
	free(g);
	/* The grant is mapped here, at mmap: a bad reference fails now. */
	p = mmap(NULL, (size_t)n * PAGE_SIZE, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED,
		 x->gnt_fd, (off_t)m->index);
	if (p == MAP_FAILED) {
		struct ioctl_gntdev_unmap_grant_ref u = { .index = m->index, .count = n };
		r = -errno;
		ioctl(x->gnt_fd, IOCTL_GNTDEV_UNMAP_GRANT_REF, &u);
		return r;
	}
	m->base = p;
	return 0;
}

/* Maps the context of peer n whose directory is rooted at root: the root
 * page, its descriptor pages, then the data pages, which stay mapped. */
static int map_ctx(struct xen_fabric *x, struct rmcd_node *n, uint32_t domid, uint32_t root,
		   uint32_t k, uint64_t want, struct xen_map *out, char *err, size_t errlen)
{
	struct xen_map rm = { 0 }, dm = { 0 };
	struct rmc_grant_root h;
	uint32_t *refs = NULL;
	int r;

	if ((r = gnt_map(x, domid, &root, 1, false, &rm))) {
		snprintf(err, errlen,
			 "node %u: cannot map the root of context %u (domain %u, "
			 "grant %u): %s",
			 n->nid, k, domid, root, strerror(-r));
		return r;
	}
	memcpy(&h, rm.base, sizeof(h));
	/* Nothing read from the peer is trusted before it is checked. */
	if (h.magic != RMC_GRANT_MAGIC || h.version < 1 || h.offset || h.len != want ||
	    h.npages != want / PAGE_SIZE || h.mynid != n->nid ||
	    h.ndesc != (h.npages + RMC_GRANT_REFS_PER_DESC - 1) / RMC_GRANT_REFS_PER_DESC ||
	    h.ndesc > RMC_GRANT_MAX_DESC) {
		snprintf(err, errlen,
			 "node %u: context %u's grant directory (domain %u) is not what this "
			 "rmcd expects: magic %#x, node %u, %llu bytes at offset %u in %u pages, "
			 "%u descriptors (want node %u, %llu bytes at offset 0)",
			 n->nid, k, domid, h.magic, h.mynid, (unsigned long long)h.len, h.offset,
			 h.npages, h.ndesc, n->nid, (unsigned long long)want);
		r = -EPROTO;
		goto out;
	}
	if ((r = gnt_map(x, domid, (const uint32_t *)(rm.base + sizeof(h)), h.ndesc, false, &dm))) {
		snprintf(err, errlen,
			 "node %u: cannot map the %u descriptor pages of context "
			 "%u: %s",
			 n->nid, h.ndesc, k, strerror(-r));
		goto out;
	}
	refs = malloc((size_t)h.npages * sizeof(*refs));
	if (!refs) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(refs, dm.base, (size_t)h.npages * sizeof(*refs));
	if ((r = gnt_map(x, domid, refs, h.npages, true, out)))
		snprintf(err, errlen,
			 "node %u: cannot map the %u pages of context %u (domain "
			 "%u): %s",
			 n->nid, h.npages, k, domid, strerror(-r));
out:
	free(refs);
	gnt_unmap(x, &dm);
	gnt_unmap(x, &rm);
	return r;
}

/* ---- our side: grants ---------------------------------------------------- */

static void ungrant(struct xen_fabric *x, struct rmcd_node *n, struct xen_peer *p)
{
	for (uint32_t k = 0; k < RMCD_MAX_CTX; k++) {
		if (p->reg[k])
			core_rmcdev_unreg(x->rmc_fd, p->reg[k]);
		p->reg[k] = 0;
	}
	xs_del(x, "%s/%u/grant/%u", (uint32_t)x->d->self, n->nid);
	p->domid = 0;
	p->nonce = 0;
}

/* Grants our contexts to peer n's domain and publishes the references. */
static int grant(struct xen_fabric *x, struct rmcd_node *n, struct xen_peer *p, uint32_t domid,
		 uint64_t nonce, char *err, size_t errlen)
{
	struct rmcd_node *me = &x->d->nodes[x->d->self];
	char val[64 + RMCD_MAX_CTX * 12];
	size_t len;
	int r;

	len = (size_t)snprintf(val, sizeof(val), "%" PRIx64 " %u %" PRIx64, x->nonce, domid, nonce);
	p->domid = domid;
	p->nonce = nonce;
	for (uint32_t k = 0; k < me->n_ctx; k++) {
		struct core_rmcdev_region reg;
		uint32_t root;

		if ((r = core_rmcdev_reg(x->rmc_fd, me->ctx[k].base, me->ctx[k].size, &reg))) {
			snprintf(err, errlen,
				 "node %u: cannot register context %u with rmc.ko "
				 "for it: %s",
				 n->nid, k, strerror(-r));
			goto fail;
		}
		p->reg[k] = reg.handle;
		if ((r = core_rmcdev_grant(x->rmc_fd, reg.handle, domid, &root))) {
			snprintf(err, errlen,
				 "node %u: rmc.ko cannot grant context %u to domain "
				 "%u: %s%s",
				 n->nid, k, domid, strerror(-r),
				 r == -ENOSPC ? " (this domain's grant table is full: raise Xen's "
						"max_grant_frames)" :
						"");
			goto fail;
		}
		len += (size_t)snprintf(val + len, sizeof(val) - len, " %u", root);
	}
	if ((r = xs_put(x, val, "%s/%u/grant/%u", (uint32_t)x->d->self, n->nid))) {
		snprintf(err, errlen, "xenstore: cannot write %s/%d/grant/%u: %s", x->dir,
			 x->d->self, n->nid, strerror(-r));
		goto fail;
	}
	return 0;
fail:
	ungrant(x, n, p);
	return r;
}

/* ---- their side: attach and detach ----------------------------------- */

static void detach(struct xen_fabric *x, struct rmcd_node *n, struct xen_peer *p, bool say)
{
	struct rmcd *d = x->d;

	if (SONUMA_READ_ONCE(n->live)) {
		SONUMA_WRITE_ONCE(n->live, 0);
		/* No transfer that saw the old generation still runs. */
		for (uint32_t t = 0; t < d->n_rmcs; t++)
			rmcd_rmc_sync(&d->rmcs[t]);
	}
	for (uint32_t k = 0; k < RMCD_MAX_CTX; k++)
		gnt_unmap(x, &p->map[k]);
	for (uint32_t k = 0; k < n->n_ctx; k++)
		n->ctx[k].base = NULL;
	n->n_ctx = 0;
	if (say && p->domid)
		core_warn("node %u: its rmcd (domain %u) is gone: requests to it fail (target "
			  "node unreachable) until it is back; its mappings are released",
			  n->nid, p->domid);
	ungrant(x, n, p);
}

/* Maps peer n's contexts once it has granted them to us.  0 when attached,
 * -EAGAIN when its grants are not there yet, else -errno with err. */
static int attach(struct xen_fabric *x, struct rmcd_node *n, struct xen_peer *p, char *err,
		  size_t errlen)
{
	struct rmcd *d = x->d;
	const struct core_config *c = &d->cfg;
	uint32_t refs[RMCD_MAX_CTX], mydom = 0;
	uint64_t theirs = 0, mine = 0;
	char *v, *s;
	int r, at = 0;
	uint32_t k = 0;

	v = xs_get(x, "%s/%u/grant/%u", n->nid, (uint32_t)d->self);
	if (!v)
		return -EAGAIN;
	if (sscanf(v, "%" SCNx64 " %" SCNu32 " %" SCNx64 "%n", &theirs, &mydom, &mine, &at) != 3 ||
	    theirs != p->nonce || mydom != x->domid || mine != x->nonce) {
		free(v);
		return -EAGAIN; /* for an earlier rmcd of theirs or of ours */
	}
	for (s = v + at; k < c->n_contexts; k++) {
		unsigned long ref;
		char *end;

		ref = strtoul(s, &end, 10);
		if (end == s || ref > UINT32_MAX)
			break;
		refs[k] = (uint32_t)ref;
		s = end;
	}
	free(v);
	if (k != c->n_contexts) {
		snprintf(err, errlen, "node %u: %s/%u/grant/%d names %u context%s, not %u", n->nid,
			 x->dir, n->nid, d->self, k, k == 1 ? "" : "s", c->n_contexts);
		return -EPROTO;
	}
	for (k = 0; k < c->n_contexts; k++) {
		uint64_t want = (k == 0 ? c->context_pages : c->ctx_pages[k]) * PAGE_SIZE;

		r = map_ctx(x, n, p->domid, refs[k], k, want, &p->map[k], err, errlen);
		if (r) {
			while (k--)
				gnt_unmap(x, &p->map[k]);
			return r;
		}
		n->ctx[k].base = p->map[k].base;
		n->ctx[k].size = want;
		n->ctx[k].fd = -1;
	}
	n->n_ctx = c->n_contexts;
	if (++n->gen == 0)
		n->gen = 1;
	/* Publishes ctx[] and n_ctx; pairs with the load-acquire of live in
	 * validation. */
	sonuma_smp_store_release(&n->live, n->gen);
	core_info("node %u: attached to its rmcd (domain %u): %u context%s mapped through "
		  "grants",
		  n->nid, p->domid, n->n_ctx, n->n_ctx == 1 ? "" : "s");
	return 0;
}

/* Says a complaint about a peer once, not every round. */
static void complain(struct xen_peer *p, const char *msg)
{
	if (strncmp(p->said, msg, sizeof(p->said) - 1)) {
		core_warn("%s", msg);
		snprintf(p->said, sizeof(p->said), "%.*s", (int)sizeof(p->said) - 1, msg);
	}
}

/* One look at peer n: gone, new, granted to us, or nothing new. */
static void poll_peer(struct xen_fabric *x, struct rmcd_node *n, struct xen_peer *p)
{
	char err[512];
	uint32_t domid;
	uint64_t nonce;
	bool up = peer_up(x, n->nid, &domid, &nonce);
	char *info;

	if (p->domid && (!up || domid != p->domid || nonce != p->nonce))
		detach(x, n, p, true);
	if (!up)
		return;
	if (!p->domid) {
		info = xs_get(x, "%s/%u/info", n->nid, 0);
		if (!info)
			return;
		if (strcmp(info, x->info)) {
			snprintf(err, sizeof(err),
				 "node %u (domain %u) runs \"%.150s\", this rmcd \"%.150s\": every "
				 "rmcd of a cluster must agree; not attached",
				 n->nid, domid, info, x->info);
			complain(p, err);
			free(info);
			return;
		}
		free(info);
		if (grant(x, n, p, domid, nonce, err, sizeof(err))) {
			complain(p, err);
			return;
		}
	}
	if (!SONUMA_READ_ONCE(n->live)) {
		int r = attach(x, n, p, err, sizeof(err));
		if (r && r != -EAGAIN)
			complain(p, err);
		if (!r)
			p->said[0] = 0;
	}
}

static void *xen_main(void *arg)
{
	struct xen_fabric *x = arg;
	struct rmcd *d = x->d;
	struct timespec ts = { .tv_nsec = RETRY_MS * 1000000l };

	pthread_setname_np(pthread_self(), "rmcd-xen");
	while (!SONUMA_READ_ONCE(x->quit)) {
		for (uint32_t i = 0; i < d->n_nodes; i++)
			if (!d->nodes[i].local)
				poll_peer(x, &d->nodes[i], &x->peers[i]);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* ---- start and stop ------------------------------------------------------ */

static void xen_fini(struct rmcd *d);

/* What every rmcd of the cluster must agree on. */
static void describe(struct rmcd *d, char *out, size_t len)
{
	const struct core_config *c = &d->cfg;
	size_t n;

	n = (size_t)snprintf(out, len, "nodes %u, model %s (%016" PRIx64 "), contexts", d->n_nodes,
			     d->model->name, d->desc_hash);
	for (uint32_t k = 0; k < c->n_contexts && n < len; k++)
		n += (size_t)snprintf(out + n, len - n, " %" PRIu64 "",
				      k == 0 ? c->context_pages : c->ctx_pages[k]);
	if (n < len)
		snprintf(out + n, len - n, " pages");
}

/* Grant entries each peer needs: the data pages, their descriptors and a
 * root, per context. */
static uint64_t grants_per_peer(const struct rmcd_node *me)
{
	uint64_t need = 0;

	for (uint32_t k = 0; k < me->n_ctx; k++) {
		uint64_t pages = me->ctx[k].size / PAGE_SIZE;
		need += pages + (pages + RMC_GRANT_REFS_PER_DESC - 1) / RMC_GRANT_REFS_PER_DESC + 1;
	}
	return need;
}

static int xen_start(struct rmcd *d, char *err, size_t errlen)
{
	struct rmcd_node *me = &d->nodes[d->self];
	struct rmc_ioc_info info;
	struct xen_fabric *x;
	unsigned int len;
	char *v;
	int r;

	x = calloc(1, sizeof(*x));
	if (!x || !(x->peers = calloc(d->n_nodes, sizeof(*x->peers)))) {
		free(x);
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	}
	x->d = d;
	x->rmc_fd = x->gnt_fd = -1;
	d->fab = x;
	snprintf(x->dir, sizeof(x->dir), XS_ROOT "/%s/node", d->cfg.xen_cluster);

	r = core_rmcdev_open(NULL);
	if (r < 0) {
		snprintf(err, errlen, "fabric xen: cannot open " CORE_RMCDEV_PATH ": %s%s",
			 strerror(-r),
			 r == -ENOENT ? " (load the module first: insmod rmc.ko mynid=NODE_ID)" :
			 r == -EPROTO ? " (rmc.ko is older than this rmcd)" :
					"");
		goto fail;
	}
	x->rmc_fd = r;
	if ((r = core_rmcdev_info(x->rmc_fd, &info))) {
		snprintf(err, errlen, "fabric xen: rmc.ko does not answer INFO: %s", strerror(-r));
		goto fail;
	}
	if (!(info.flags & RMC_INFO_XEN)) {
		r = -EOPNOTSUPP;
		snprintf(err, errlen, "fabric xen: rmc.ko says this system is not a Xen domain");
		goto fail;
	}
	if (info.mynid != (uint32_t)d->self) {
		r = -EINVAL;
		snprintf(err, errlen,
			 "fabric xen: rmc.ko was loaded with mynid=%u, this rmcd "
			 "serves node %d (insmod rmc.ko mynid=%d)",
			 info.mynid, d->self, d->self);
		goto fail;
	}
	if (info.grant_capacity && grants_per_peer(me) * (d->n_nodes - 1) > info.grant_capacity) {
		r = -ENOSPC;
		snprintf(err, errlen,
			 "fabric xen: granting the contexts to %u peers needs %llu "
			 "grant entries, this domain's table holds %u: raise Xen's "
			 "max_grant_frames (xl: max_grant_frames = ...) or shrink the contexts",
			 d->n_nodes - 1,
			 (unsigned long long)(grants_per_peer(me) * (d->n_nodes - 1)),
			 info.grant_capacity);
		goto fail;
	}
	x->gnt_fd = open(GNTDEV_PATH, O_RDWR | O_CLOEXEC);
	if (x->gnt_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "fabric xen: cannot open " GNTDEV_PATH ": %s%s", strerror(-r),
			 r == -ENOENT ? " (load it: modprobe xen-gntdev)" : "");
		goto fail;
	}
	x->xs = xs_open(0);
	if (!x->xs) {
		r = -errno ? -errno : -EIO;
		snprintf(err, errlen,
			 "fabric xen: cannot reach xenstore: %s (is /dev/xen/xenbus "
			 "there?)",
			 strerror(-r));
		goto fail;
	}
	v = xs_read(x->xs, XBT_NULL, "domid", &len);
	if (!v || sscanf(v, "%" SCNu32, &x->domid) != 1 || !x->domid) {
		r = -ENOENT;
		snprintf(err, errlen,
			 "fabric xen: cannot read this domain's id from xenstore "
			 "(\"domid\"%s%s)",
			 v ? " is " : "", v ? v : "");
		free(v);
		goto fail;
	}
	free(v);
	x->nonce = ((uint64_t)getpid() << 40) ^ core_mono_ns();
	describe(d, x->info, sizeof(x->info));

	/* What an earlier rmcd of this domain left, then what we are, then
	 * that we are up: peers read them in the other order. */
	xs_del(x, "%s/%u/grant", (uint32_t)d->self, 0);
	if ((r = xs_put(x, x->info, "%s/%u/info", (uint32_t)d->self, 0))) {
		snprintf(err, errlen,
			 "fabric xen: cannot write %s/%d/info in xenstore: %s (dom0 must create "
			 "%s/%d and give it to domain %u: scripts/xen-cluster.sh does)",
			 x->dir, d->self, strerror(-r), x->dir, d->self, x->domid);
		goto fail;
	}
	{
		char up[64];
		snprintf(up, sizeof(up), "%u %" PRIx64, x->domid, x->nonce);
		if ((r = xs_put(x, up, "%s/%u/rmcd", (uint32_t)d->self, 0))) {
			snprintf(err, errlen, "fabric xen: cannot write %s/%d/rmcd: %s", x->dir,
				 d->self, strerror(-r));
			goto fail;
		}
	}
	/* Those up already, now, so that the first requests find them. */
	for (uint32_t i = 0; i < d->n_nodes; i++)
		if (!d->nodes[i].local)
			poll_peer(x, &d->nodes[i], &x->peers[i]);
	r = pthread_create(&x->thread, NULL, xen_main, x);
	if (r) {
		snprintf(err, errlen, "fabric xen: cannot start its thread: %s", strerror(r));
		r = -r;
		goto fail;
	}
	x->started = true;
	core_info("fabric xen: node %d is domain %u, published in xenstore under %s/%d", d->self,
		  x->domid, x->dir, d->self);
	return 0;
fail:
	xen_fini(d);
	return r;
}

static void xen_stop(struct rmcd *d)
{
	struct xen_fabric *x = d->fab;

	if (!x || !x->started)
		return;
	SONUMA_WRITE_ONCE(x->quit, 1);
	pthread_join(x->thread, NULL);
	x->started = false;
}

/* Says we are gone (peers detach), then releases every mapping and grant. */
static void xen_fini(struct rmcd *d)
{
	struct xen_fabric *x = d->fab;

	if (!x)
		return;
	xen_stop(d);
	if (x->xs)
		xs_del(x, "%s/%u/rmcd", (uint32_t)d->self, 0);
	for (uint32_t i = 0; d->nodes && i < d->n_nodes; i++)
		if (!d->nodes[i].local)
			detach(x, &d->nodes[i], &x->peers[i], false);
	if (x->xs) {
		xs_del(x, "%s/%u/grant", (uint32_t)d->self, 0);
		xs_close(x->xs);
	}
	if (x->gnt_fd >= 0)
		close(x->gnt_fd);
	if (x->rmc_fd >= 0)
		core_rmcdev_close(x->rmc_fd);
	free(x->peers);
	free(x);
	d->fab = NULL;
}

static uint8_t xen_xfer(struct rmcd_rmc *m, const struct rmcd_xfer *x)
{
	/* The peer's pages are mapped here: the same copy as shm. */
	return rmcd_shm_xfer(m->d, x);
}

const struct rmcd_fabric_ops rmcd_fabric_xen = {
	.name = "xen",
	.xfer = xen_xfer,
	.start = xen_start,
	.stop = xen_stop,
	.fini = xen_fini,
};
