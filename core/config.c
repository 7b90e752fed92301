/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "core.h"
#include "sonuma/qp.h"

void core_config_defaults(struct core_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->file, sizeof(c->file), "(defaults)");
	core_default_rundir(c->rundir, sizeof(c->rundir));
	c->nodes = 2;
	c->node_id = -1;
	snprintf(c->fabric, sizeof(c->fabric), "shm");
	snprintf(c->xen_cluster, sizeof(c->xen_cluster), "sonuma");
	c->fabric_spin_us = 0;
	c->context_pages = 4096; /* 16 MiB, as the original platform */
	c->n_contexts = 1;
	c->queue_depth = MAX_NUM_WQ;
	c->max_transfer = 1u << 20;
	for (int i = 0; i < CORE_MAX_NODES; i++)
		c->node_numa[i] = -1;
	c->lock_memory = true;
	c->rmc_threads = 0;
	for (int i = 0; i < CORE_MAX_RMC; i++)
		c->rmc_cpus[i] = -1;
	snprintf(c->model, sizeof(c->model), "none");
	c->notify_ns = -1;
	c->late_slack_ns = 20;
	c->lead_ns = 2000;
	c->max_session_bytes = 1ull << 30;
	c->overhead_ns = -1;
	c->idle_spin_us = 2000;
	c->idle_nap_us = 200000;
	c->spin_pause = true;
}

void core_config_free(struct core_config *c)
{
	if (c->have_lc)
		config_destroy(&c->lc);
	c->have_lc = false;
}

/* How a message names setting s: its path from the top, a member by its
 * name after its group's path and a dot, an element of a list by its
 * list's path and index ("floor[1]", "rtt_ns[0][1]",
 * "fabrics[0].sizes[1].read_ns"); "" for the top level. */
static void cfg_path(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *parent = s ? config_setting_parent(s) : NULL;
	const char *name = s ? config_setting_name(s) : NULL;
	size_t n;

	buf[0] = '\0';
	if (!parent)
		return;
	cfg_path(parent, buf, len);
	n = strlen(buf);
	if (name)
		snprintf(buf + n, len - n, "%s%s", n ? "." : "", name);
	else
		snprintf(buf + n, len - n, "[%d]", config_setting_index(s));
}

/* "GROUP.KEY" (or "KEY" at the top level, "GROUP" without a key), and
 * "FILE:LINE" of the key where it is there, of the group otherwise (just
 * "FILE" when the group has no line: the top level). */
static void cfg_where(const config_setting_t *s, const char *key, char *where, size_t wlen,
		      char *path, size_t plen)
{
	const char *file = s ? config_setting_source_file(s) : NULL;
	unsigned line = s ? config_setting_source_line(s) : 0;
	const config_setting_t *child = s && key ? config_setting_get_member(s, key) : NULL;
	size_t n;

	if (child)
		line = config_setting_source_line(child);
	if (line)
		snprintf(where, wlen, "%s:%u", file ? file : "rmc.conf", line);
	else
		snprintf(where, wlen, "%s", file ? file : "rmc.conf");
	cfg_path(s, path, plen);
	n = strlen(path);
	if (key)
		snprintf(path + n, plen - n, "%s%s", n ? "." : "", key);
}

int core_cfg_fail(const config_setting_t *s, const char *key, char *err, size_t errlen,
		  const char *fmt, ...)
{
	char where[300], path[128], msg[256];
	va_list ap;

	cfg_where(s, key, where, sizeof(where), path, sizeof(path));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "%s: %s: %s", where, path, msg);
	return -EINVAL;
}

int core_cfg_get(const config_setting_t *grp, const char *key, bool required, const char *what,
		 config_setting_t **out, char *err, size_t errlen)
{
	char where[300], path[128];

	*out = grp ? config_setting_get_member(grp, key) : NULL;
	if (*out || !required)
		return 0;
	cfg_where(grp, key, where, sizeof(where), path, sizeof(path));
	snprintf(err, errlen, "%s: missing %s (%s)", where, path, what);
	return -EINVAL;
}

bool core_cfg_is_int(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

int core_cfg_u64(const config_setting_t *grp, const char *key, bool required, uint64_t min,
		 uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	config_setting_t *s;
	long long v;
	int r;

	if ((r = core_cfg_get(grp, key, required, "an integer", &s, err, errlen)) || !s)
		return r;
	if (!core_cfg_is_int(s))
		return core_cfg_fail(grp, key, err, errlen, "must be an integer");
	v = config_setting_get_int64(s);
	if (v < 0 || (uint64_t)v < min || (uint64_t)v > max)
		return core_cfg_fail(grp, key, err, errlen,
				     "must be between %llu and %llu (got %lld)",
				     (unsigned long long)min, (unsigned long long)max, v);
	*out = (uint64_t)v;
	return 0;
}

int core_cfg_u32(const config_setting_t *grp, const char *key, bool required, uint32_t min,
		 uint32_t max, uint32_t *out, char *err, size_t errlen)
{
	uint64_t v = *out;
	int r = core_cfg_u64(grp, key, required, min, max, &v, err, errlen);

	*out = (uint32_t)v;
	return r;
}

/* The number in s (the setting grp.key), in [min, max]. */
static int cfg_number(const config_setting_t *grp, const char *key, const config_setting_t *s,
		      double min, double max, double *out, char *err, size_t errlen)
{
	double v;

	if (core_cfg_is_int(s))
		v = (double)config_setting_get_int64(s);
	else if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
		v = config_setting_get_float(s);
	else
		return core_cfg_fail(grp, key, err, errlen, "must be a number");
	if (!isfinite(v) || v < min || v > max)
		return core_cfg_fail(grp, key, err, errlen, "must be between %g and %g (got %g)",
				     min, max, v);
	*out = v;
	return 0;
}

int core_cfg_value_double(const config_setting_t *s, double min, double max, double *out, char *err,
			  size_t errlen)
{
	return cfg_number(s, NULL, s, min, max, out, err, errlen);
}

int core_cfg_double(const config_setting_t *grp, const char *key, bool required, double min,
		    double max, double *out, char *err, size_t errlen)
{
	config_setting_t *s;
	int r;

	if ((r = core_cfg_get(grp, key, required, "a number", &s, err, errlen)) || !s)
		return r;
	return cfg_number(grp, key, s, min, max, out, err, errlen);
}

int core_cfg_string(const config_setting_t *grp, const char *key, bool required, char *out,
		    size_t outlen, char *err, size_t errlen)
{
	config_setting_t *s;
	const char *v;
	int r;

	if ((r = core_cfg_get(grp, key, required, "a string", &s, err, errlen)) || !s)
		return r;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return core_cfg_fail(grp, key, err, errlen, "must be a string in double quotes");
	v = config_setting_get_string(s);
	if (strlen(v) >= outlen)
		return core_cfg_fail(grp, key, err, errlen, "longer than %zu characters",
				     outlen - 1);
	snprintf(out, outlen, "%s", v);
	return 0;
}

int core_cfg_bool(const config_setting_t *grp, const char *key, bool required, bool *out, char *err,
		  size_t errlen)
{
	config_setting_t *s;
	int r;

	if ((r = core_cfg_get(grp, key, required, "true or false", &s, err, errlen)) || !s)
		return r;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return core_cfg_fail(grp, key, err, errlen, "must be true or false");
	*out = config_setting_get_bool(s);
	return 0;
}

int core_cfg_known(const config_setting_t *grp, const char *const *keys, char *err, size_t errlen)
{
	int n = grp ? config_setting_length(grp) : 0;

	for (int i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
		const char *name = config_setting_name(s);
		bool ok = false;

		for (const char *const *k = keys; *k && name; k++)
			ok |= !strcmp(*k, name);
		if (!ok)
			return core_cfg_fail(grp, name, err, errlen, "unknown setting");
	}
	return 0;
}

/* An integer array of up to max elements, each in [min, max_v]. */
static int cfg_int_array(const config_setting_t *grp, const char *key, int *out, unsigned max,
			 long min, long max_v, unsigned *count, char *err, size_t errlen)
{
	config_setting_t *s = config_setting_get_member(grp, key);
	int n;

	if (!s)
		return 0;
	if (!config_setting_is_aggregate(s) || config_setting_type(s) == CONFIG_TYPE_GROUP)
		return core_cfg_fail(grp, key, err, errlen,
				     "must be a list of integers like [0, 1]");
	n = config_setting_length(s);
	if ((unsigned)n > max)
		return core_cfg_fail(grp, key, err, errlen, "at most %u entries (got %d)", max, n);
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		long long v;
		if (!core_cfg_is_int(e))
			return core_cfg_fail(grp, key, err, errlen, "entry %d must be an integer",
					     i);
		v = config_setting_get_int64(e);
		if (v < min || v > max_v)
			return core_cfg_fail(grp, key, err, errlen,
					     "entry %d must be between %ld and %ld (got %lld)", i,
					     min, max_v, v);
		out[i] = (int)v;
	}
	*count = (unsigned)n;
	return 0;
}

int core_split_addr(const char *addr, char *host, size_t hostlen, unsigned *port)
{
	const char *colon, *h = addr, *he;
	uint64_t p;

	if (addr[0] == '[') {
		h = addr + 1;
		he = strchr(h, ']');
		if (!he || he[1] != ':')
			return -EINVAL;
		colon = he + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
			return -EINVAL; /* none, or a bare IPv6 address */
		he = colon;
	}
	if (he == h || (size_t)(he - h) >= hostlen || core_parse_u64(colon + 1, 1, 65535, &p))
		return -EINVAL;
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = 0;
	*port = (unsigned)p;
	return 0;
}

/* fabric.nodes = ["10.0.0.1:13337", ...]: the address of every node,
 * checked for form and for duplicates here, resolved by the fabric. */
static int cfg_addr_list(struct core_config *c, const config_setting_t *g, char *err, size_t errlen)
{
	config_setting_t *s = config_setting_get_member(g, "nodes");
	char host[CORE_ADDR_LEN];
	unsigned port;
	int n;

	if (!s) {
		if (strcmp(c->fabric, "ucx"))
			return 0;
		return core_cfg_fail(g, "nodes", err, errlen,
				     "missing: the ucx fabric needs the address of every node, "
				     "like [\"10.0.0.1:13337\", \"10.0.0.2:13337\"]");
	}
	if (strcmp(c->fabric, "ucx"))
		return core_cfg_fail(g, "nodes", err, errlen,
				     "addresses are for the ucx fabric; the %s fabric finds nodes "
				     "through the run directory",
				     c->fabric);
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST)
		return core_cfg_fail(g, "nodes", err, errlen,
				     "must be a list of \"host:port\" strings, one per node");
	n = config_setting_length(s);
	if (n < 1 || n > CORE_MAX_NODES)
		return core_cfg_fail(g, "nodes", err, errlen, "needs 1 to %d addresses (got %d)",
				     CORE_MAX_NODES, n);
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(e);

		if (!v)
			return core_cfg_fail(g, "nodes", err, errlen,
					     "entry %d (node %d) must be a string \"host:port\"", i,
					     i);
		if (strlen(v) >= CORE_ADDR_LEN)
			return core_cfg_fail(g, "nodes", err, errlen,
					     "entry %d (node %d) is longer than %d characters", i,
					     i, CORE_ADDR_LEN - 1);
		if (core_split_addr(v, host, sizeof(host), &port))
			return core_cfg_fail(
				g, "nodes", err, errlen,
				"entry %d (node %d): \"%s\" is not host:port with a port "
				"from 1 to 65535 (an IPv6 address goes in brackets: "
				"\"[::1]:13337\")",
				i, i, v);
		for (int k = 0; k < i; k++)
			if (!strcmp(c->fabric_addr[k], v))
				return core_cfg_fail(g, "nodes", err, errlen,
						     "nodes %d and %d have the same address \"%s\"",
						     k, i, v);
		snprintf(c->fabric_addr[i], sizeof(c->fabric_addr[i]), "%s", v);
	}
	c->n_fabric_addr = (uint32_t)n;
	c->fabric_line = config_setting_source_line(s);
	return 0;
}

/* One function per group of rmc.conf: each reads group g (present, its
 * keys checked by load_groups) into c.  0, or -EINVAL with
 * "FILE:LINE: SETTING: ..." in err. */
static int load_cluster(struct core_config *c, config_setting_t *g, char *err, size_t errlen)
{
	uint64_t v;
	unsigned n;
	int r;

	if ((r = core_cfg_u32(g, "nodes", false, 1, CORE_MAX_NODES, &c->nodes, err, errlen)))
		return r;
	/* node = N: this rmcd serves node N alone (one RMC per node, as
	 * "rmcd NODE_CNT NODE_ID"); absent: every node in one process. */
	if (config_setting_get_member(g, "node")) {
		if ((r = core_cfg_u64(g, "node", true, 0, CORE_MAX_NODES - 1, &v, err, errlen)))
			return r;
		if (v >= c->nodes)
			return core_cfg_fail(g, "node", err, errlen,
					     "node %llu does not exist: nodes are 0 to %u",
					     (unsigned long long)v, c->nodes - 1);
		c->node_id = (int)v;
	}
	if ((r = core_cfg_u64(g, "context_pages", false, 1, 1u << 22, &c->context_pages, err,
			      errlen)))
		return r;
	if ((r = core_cfg_u32(g, "queue_depth", false, 1, MAX_NUM_WQ, &c->queue_depth, err,
			      errlen)))
		return r;
	if ((r = core_cfg_u64(g, "max_transfer", false, RMC_MIN_LENGTH, 1ull << 30,
			      &c->max_transfer, err, errlen)))
		return r;
	if ((r = cfg_int_array(g, "numa", c->node_numa, CORE_MAX_NODES, 0, 1023, &n, err, errlen)))
		return r;
	if (config_setting_get_member(g, "numa") && n != c->nodes)
		return core_cfg_fail(g, "numa", err, errlen,
				     "needs one domain per node: %u entries for %u nodes", n,
				     c->nodes);
	if ((r = core_cfg_bool(g, "lock_memory", false, &c->lock_memory, err, errlen)))
		return r;
	/* contexts = [4096, 256]: every node exports one context per
	 * entry, of that many pages (context i is the ctx_id i). */
	config_setting_t *cs = config_setting_get_member(g, "contexts");
	if (cs) {
		int pages[16];
		if (config_setting_get_member(g, "context_pages"))
			return core_cfg_fail(g, "contexts", err, errlen,
					     "set either contexts or context_pages, not both");
		if ((r = cfg_int_array(g, "contexts", pages, 16, 1, 1 << 22, &n, err, errlen)))
			return r;
		if (!n)
			return core_cfg_fail(g, "contexts", err, errlen,
					     "needs at least one context");
		c->n_contexts = n;
		c->context_pages = (uint64_t)pages[0];
		for (unsigned i = 0; i < n; i++)
			c->ctx_pages[i] = (uint64_t)pages[i];
	}
	return 0;
}

static int load_rmc(struct core_config *c, config_setting_t *g, char *err, size_t errlen)
{
	unsigned n;
	int r;

	if ((r = core_cfg_u32(g, "threads", false, 1, CORE_MAX_RMC, &c->rmc_threads, err, errlen)))
		return r;
	if ((r = core_cfg_double(g, "notify_ns", false, 0, 1e6, &c->notify_ns, err, errlen)) ||
	    (r = core_cfg_double(g, "late_slack_ns", false, 0, 1e6, &c->late_slack_ns, err,
				 errlen)) ||
	    (r = core_cfg_double(g, "lead_ns", false, 0, 1e6, &c->lead_ns, err, errlen)) ||
	    (r = core_cfg_double(g, "overhead_ns", false, 0, 1e5, &c->overhead_ns, err, errlen)) ||
	    (r = core_cfg_double(g, "idle_spin_us", false, 0, 1e8, &c->idle_spin_us, err,
				 errlen)) ||
	    (r = core_cfg_double(g, "idle_nap_us", false, 0, 1e9, &c->idle_nap_us, err, errlen)) ||
	    (r = core_cfg_bool(g, "spin_pause", false, &c->spin_pause, err, errlen)))
		return r;
	if (c->idle_nap_us < c->idle_spin_us)
		return core_cfg_fail(
			g, "idle_nap_us", err, errlen,
			"%.0f is less than idle_spin_us (%.0f): the RMC naps only after "
			"it has stopped spinning",
			c->idle_nap_us, c->idle_spin_us);
	if ((r = cfg_int_array(g, "cpus", c->rmc_cpus, CORE_MAX_RMC, 0, 4095, &n, err, errlen)))
		return r;
	if (config_setting_get_member(g, "cpus")) {
		if (!c->rmc_threads)
			c->rmc_threads = n;
		else if (n != c->rmc_threads)
			return core_cfg_fail(g, "cpus", err, errlen,
					     "needs one CPU per RMC thread: %u for %u threads", n,
					     c->rmc_threads);
	}
	return 0;
}

static int load_calibration(struct core_config *c, config_setting_t *g, char *err, size_t errlen)
{
	int r;

	if ((r = core_cfg_string(g, "file", false, c->calibration, sizeof(c->calibration), err,
				 errlen)))
		return r;
	if ((r = core_cfg_bool(g, "accept_foreign", false, &c->accept_foreign_calibration, err,
			       errlen)))
		return r;
	return 0;
}

static int load_fabric(struct core_config *c, config_setting_t *g, char *err, size_t errlen)
{
	static const char *const fa[] = { "name", "nodes", "cluster", "spin_us", NULL };
	int r;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return core_cfg_fail(config_setting_parent(g), "fabric", err, errlen,
				     "must be a group like { name = \"shm\"; }");
	if ((r = core_cfg_known(g, fa, err, errlen)))
		return r;
	if ((r = core_cfg_string(g, "name", true, c->fabric, sizeof(c->fabric), err, errlen)))
		return r;
	if (strcmp(c->fabric, "shm") && strcmp(c->fabric, "ucx") && strcmp(c->fabric, "xen"))
		return core_cfg_fail(g, "name", err, errlen,
				     "unknown fabric \"%s\" (known: shm, ucx, xen)", c->fabric);
	if ((r = cfg_addr_list(c, g, err, errlen)))
		return r;
	if (config_setting_get_member(g, "spin_us") && strcmp(c->fabric, "ucx"))
		return core_cfg_fail(g, "spin_us", err, errlen,
				     "is for the ucx fabric (its connection thread), not %s",
				     c->fabric);
	if ((r = core_cfg_double(g, "spin_us", false, 0, 1e6, &c->fabric_spin_us, err, errlen)))
		return r;
	/* A xenstore path element: letters, digits, '-' and '_'. */
	if ((r = core_cfg_string(g, "cluster", false, c->xen_cluster, sizeof(c->xen_cluster), err,
				 errlen)))
		return r;
	if (!c->xen_cluster[0] ||
	    strspn(c->xen_cluster, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789-_") != strlen(c->xen_cluster))
		return core_cfg_fail(
			g, "cluster", err, errlen,
			"\"%s\" is not a cluster name (letters, digits, '-' and '_' only: "
			"it names /local/sonuma/<cluster> in xenstore)",
			c->xen_cluster);
	return 0;
}

static int load_security(struct core_config *c, config_setting_t *g, char *err, size_t errlen)
{
	int uids[CORE_MAX_UIDS];
	unsigned n;
	int r;

	if ((r = cfg_int_array(g, "allow_uids", uids, CORE_MAX_UIDS, 0, 0x7fffffff, &n, err,
			       errlen)))
		return r;
	uint64_t mib = c->max_session_bytes >> 20;
	if ((r = core_cfg_u64(g, "max_session_mib", false, 1, 1u << 20, &mib, err, errlen)))
		return r;
	c->max_session_bytes = mib << 20;
	if (config_setting_get_member(g, "allow_uids")) {
		for (unsigned i = 0; i < n; i++)
			c->allow_uids[i] = (uint32_t)uids[i];
		c->n_allow_uids = n;
	}
	return 0;
}

static int load_model(struct core_config *c, config_setting_t *root, config_setting_t *g, char *err,
		      size_t errlen)
{
	int r;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return core_cfg_fail(root, "model", err, errlen,
				     "must be a group like { name = \"none\"; }");
	/* The model checks its own keys when it is created. */
	if ((r = core_cfg_string(g, "name", true, c->model, sizeof(c->model), err, errlen)))
		return r;
	return 0;
}

static int load_groups(struct core_config *c, char *err, size_t errlen)
{
	static const char *const top[] = { "rundir",	  "cluster",  "rmc",	"model",
					   "calibration", "security", "fabric", NULL };
	static const char *const cluster[] = { "nodes",	       "context_pages", "queue_depth",
					       "max_transfer", "numa",		"lock_memory",
					       "contexts",     "node",		NULL };
	static const char *const rmc[] = {
		"threads",     "cpus",	       "notify_ns",   "late_slack_ns", "lead_ns",
		"overhead_ns", "idle_spin_us", "idle_nap_us", "spin_pause",    NULL
	};
	static const char *const calibration[] = { "file", "accept_foreign", NULL };
	static const char *const security[] = { "allow_uids", "max_session_mib", NULL };
	/* keys NULL: the group checks them itself (fabric: after its type). */
	static const struct {
		const char *name;
		const char *const *keys;
		int (*load)(struct core_config *c, config_setting_t *g, char *err, size_t errlen);
	} groups[] = {
		{ "cluster", cluster, load_cluster },
		{ "rmc", rmc, load_rmc },
		{ "calibration", calibration, load_calibration },
		{ "fabric", NULL, load_fabric },
		{ "security", security, load_security },
	};
	config_setting_t *root = config_root_setting(&c->lc), *g;
	int r;

	if ((r = core_cfg_known(root, top, err, errlen)))
		return r;
	if ((r = core_cfg_string(root, "rundir", false, c->rundir, sizeof(c->rundir), err, errlen)))
		return r;
	for (size_t i = 0; i < CORE_ARRAY_SIZE(groups); i++)
		if ((g = config_setting_get_member(root, groups[i].name)) &&
		    ((groups[i].keys && (r = core_cfg_known(g, groups[i].keys, err, errlen))) ||
		     (r = groups[i].load(c, g, err, errlen))))
			return r;
	if ((g = config_setting_get_member(root, "model")) &&
	    (r = load_model(c, root, g, err, errlen)))
		return r;
	/* Checks that span settings, reported at the line that sets them
	 * (core_config_check repeats them, without lines, for built configs). */
	if ((g = config_setting_get_member(root, "cluster")) &&
	    c->max_transfer > c->context_pages * PAGE_SIZE) {
		const char *key = config_setting_get_member(g, "max_transfer") ? "max_transfer" :
										 "context_pages";
		return core_cfg_fail(
			g, key, err, errlen,
			"max_transfer (%llu bytes) is larger than the context (%llu bytes)",
			(unsigned long long)c->max_transfer,
			(unsigned long long)(c->context_pages * PAGE_SIZE));
	}
	if (config_setting_get_member(root, "rundir") && c->rundir[0] != '/')
		return core_cfg_fail(root, "rundir", err, errlen,
				     "must be an absolute path (got \"%s\")", c->rundir);
	return 0;
}

int core_config_check(const struct core_config *c, char *err, size_t errlen)
{
	uint64_t ctx = c->context_pages * PAGE_SIZE;

	if (c->nodes < 1 || c->nodes > CORE_MAX_NODES)
		return snprintf(err, errlen, "%s: cluster.nodes: must be between 1 and %d", c->file,
				CORE_MAX_NODES),
		       -EINVAL;
	if (c->node_id >= (int)c->nodes)
		return snprintf(err, errlen,
				"NODE_ID %d: no such node in a cluster of %u (nodes are 0 to %u)",
				c->node_id, c->nodes, c->nodes - 1),
		       -EINVAL;
	if (c->max_transfer > ctx)
		return snprintf(err, errlen,
				"%s: cluster.max_transfer: %llu bytes is larger than the "
				"context (%llu bytes)",
				c->file, (unsigned long long)c->max_transfer,
				(unsigned long long)ctx),
		       -EINVAL;
	if (!c->rundir[0] || c->rundir[0] != '/')
		return snprintf(err, errlen, "%s: rundir: must be an absolute path (got \"%s\")",
				c->file, c->rundir),
		       -EINVAL;
	return 0;
}

int core_config_check_fabric(const struct core_config *c, char *err, size_t errlen)
{
	if (!strcmp(c->fabric, "ucx") && c->n_fabric_addr < c->nodes)
		return snprintf(err, errlen,
				"%s:%u: fabric.nodes: lists %u address%s for a cluster of %u nodes "
				"(one per node)",
				c->file, c->fabric_line, c->n_fabric_addr,
				c->n_fabric_addr == 1 ? "" : "es", c->nodes),
		       -EINVAL;
	if (!strcmp(c->fabric, "ucx") && c->node_id < 0)
		return snprintf(err, errlen,
				"%s: fabric ucx: each rmcd serves one node: give NODE_ID "
				"(rmcd NODE_CNT NODE_ID) or cluster.node",
				c->file),
		       -EINVAL;
	return 0;
}

int core_config_load(struct core_config *c, const char *path, char *err, size_t errlen)
{
	int r;

	snprintf(c->file, sizeof(c->file), "%s", path);
	config_init(&c->lc);
	c->have_lc = true;
	if (config_read_file(&c->lc, path) != CONFIG_TRUE) {
		if (config_error_type(&c->lc) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: cannot read: %s", path,
				 errno ? strerror(errno) : "I/O error");
		else
			snprintf(err, errlen, "%s:%d: syntax error: %s",
				 config_error_file(&c->lc) ? config_error_file(&c->lc) : path,
				 config_error_line(&c->lc), config_error_text(&c->lc));
		core_config_free(c);
		return -EINVAL;
	}
	r = load_groups(c, err, errlen);
	if (!r)
		r = core_config_check(c, err, errlen);
	if (r)
		core_config_free(c);
	return r;
}
