/* SPDX-License-Identifier: MIT */
/*
 * The calibration file (core/calib.h): where it lives, this machine's
 * identity, loading with every value checked, atomic saving, and the floor
 * interpolation.  The file is libconfig:
 *
 *   version = 1;
 *   machine = { cpu_model = "..."; cores = 2; domains = 1; kernel = "...";
 *               hostname = "..."; date = "2025-01-31T12:00:00Z"; };
 *   tsc = { hz = 2445000000.0; read_ns = 7.9; invariant = true; };
 *   rtt_ns = ( [ 210.0 ] );     # one list per source domain, one figure
 *   notify_ns = ( [ 105.0 ] );  # per target domain: [from][to]
 *   load_ns = ( [ 95.0 ] );
 *   copy_gbps = ( [ 6.1 ] );
 *   floor = ( { size = 64; median_ns = 900.0; p99_ns = 1500.0; }, ... );
 *   papi_counters = false;
 *   fabrics = ( { name = "ucx"; node = 0; address = "10.0.0.1:13337";
 *                 peer_node = 1; peer = "10.0.0.2:13337"; transports = "tcp";
 *                 date = "..."; outstanding = 16;
 *                 sizes = ( { size = 64; read_ns = 30000.0; read_p10_ns = ..;
 *                             read_p90_ns = ..; read_p99_ns = ..; write_ns = ..;
 *                             write_p10_ns = ..; write_p90_ns = ..;
 *                             write_p99_ns = ..; read_gbps = ..; write_gbps = ..; },
 *                           ... ); } );
 *
 * A figure of 0 in a matrix means "not measured" (a domain without CPUs).
 * fabrics is optional (files written before it existed have none).
 */
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "calib.h"
#include "config.h"
#include "core.h"

_Static_assert(CAL_ADDR_LEN == CORE_ADDR_LEN, "a fabric section holds a fabric.nodes entry");

/* Upper bounds a sane figure stays under; beyond them the file is corrupt. */
#define CAL_MAX_NS 1e9	 /* one second */
#define CAL_MAX_GBPS 1e5 /* 100 TB/s */
#define CAL_MAX_CORES (1u << 20)
#define CAL_MAX_FLOOR_SIZE (1ull << 40)

void cal_default_path(char *buf, size_t len)
{
	const char *env = getenv("SONUMA_CALIBRATION");
	const char *xdg = getenv("XDG_DATA_HOME");
	const char *home = getenv("HOME");

	if (env && *env)
		snprintf(buf, len, "%s", env);
	else if (xdg && *xdg)
		snprintf(buf, len, "%s/sonuma/calibration.cfg", xdg);
	else if (home && *home)
		snprintf(buf, len, "%s/.local/share/sonuma/calibration.cfg", home);
	else
		snprintf(buf, len, "sonuma-calibration.cfg");
}

/* Copies s into out without the surrounding blanks. */
static void copy_trimmed(char *out, size_t len, const char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n'))
		n--;
	if (n >= len)
		n = len - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

static void cpu_model_here(char *out, size_t len)
{
	/* x86 names the CPU in "model name"; other architectures use other keys. */
	static const char *const keys[] = { "model name", "Model", "cpu model", "Hardware", NULL };
	char line[512], found[CORE_ARRAY_SIZE(keys) - 1][128];
	FILE *f = fopen("/proc/cpuinfo", "re");

	memset(found, 0, sizeof(found));
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		for (unsigned k = 0; keys[k]; k++) {
			size_t kl = strlen(keys[k]);
			if (!found[k][0] && !strncmp(line, keys[k], kl) &&
			    (line[kl] == ' ' || line[kl] == '\t' || line[kl] == ':'))
				copy_trimmed(found[k], sizeof(found[k]), colon + 1);
		}
	}
	if (f)
		fclose(f);
	snprintf(out, len, "unknown");
	for (unsigned k = 0; keys[k]; k++)
		if (found[k][0]) {
			snprintf(out, len, "%s", found[k]);
			break;
		}
}

void cal_identity_here(struct cal_identity *id)
{
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	memset(id, 0, sizeof(*id));
	cpu_model_here(id->cpu_model, sizeof(id->cpu_model));
	id->cores = n > 0 ? (uint32_t)n : 1;
	id->domains = (uint32_t)core_numa_domains();
	if (uname(&u) == 0)
		snprintf(id->kernel, sizeof(id->kernel), "%s", u.release);
	else
		snprintf(id->kernel, sizeof(id->kernel), "unknown");
	if (gethostname(id->hostname, sizeof(id->hostname)) < 0 || !id->hostname[0])
		snprintf(id->hostname, sizeof(id->hostname), "unknown");
	id->hostname[sizeof(id->hostname) - 1] = '\0';
	if (gmtime_r(&now, &tm))
		strftime(id->date, sizeof(id->date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	else
		snprintf(id->date, sizeof(id->date), "unknown");
}

/* ---- loading ----------------------------------------------------------- */

struct ld {
	const char *path;
	char *err;
	size_t errlen;
};

/* "FILE:LINE: NAME: what" for setting s (or, without one, "FILE: what"). */
__attribute__((format(printf, 4, 5))) static int
ld_fail(const struct ld *l, const config_setting_t *s, const char *name, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s && config_setting_source_line(s) > 0)
		snprintf(l->err, l->errlen, "%s:%u: %s: %s", l->path, config_setting_source_line(s),
			 name, msg);
	else
		snprintf(l->err, l->errlen, "%s: %s: %s", l->path, name, msg);
	return -EINVAL;
}

/* "group.key", or "key" at the top level. */
static const char *qname(char *buf, size_t len, const char *gname, const char *key)
{
	snprintf(buf, len, "%s%s%s", gname ? gname : "", gname ? "." : "", key);
	return buf;
}

/* Looks key up in grp; a missing key is "FILE:LINE: missing NAME", at the
 * line of its group. */
static config_setting_t *ld_get(const struct ld *l, const config_setting_t *grp, const char *gname,
				const char *key, int *r)
{
	config_setting_t *s = config_setting_get_member(grp, key);
	char name[96];

	if (!s) {
		/* At the group's line, where it has one (not the top level). */
		if (config_setting_source_line(grp) > 0)
			snprintf(l->err, l->errlen, "%s:%u: missing %s", l->path,
				 config_setting_source_line(grp),
				 qname(name, sizeof(name), gname, key));
		else
			snprintf(l->err, l->errlen, "%s: missing %s", l->path,
				 qname(name, sizeof(name), gname, key));
		*r = -EINVAL;
	}
	return s;
}

static bool is_int(const config_setting_t *s)
{
	int t = config_setting_type(s);

	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static bool is_number(const config_setting_t *s)
{
	return is_int(s) || config_setting_type(s) == CONFIG_TYPE_FLOAT;
}

static double number_of(const config_setting_t *s)
{
	return is_int(s) ? (double)config_setting_get_int64(s) : config_setting_get_float(s);
}

static int ld_u64(const struct ld *l, const config_setting_t *grp, const char *gname,
		  const char *key, uint64_t min, uint64_t max, uint64_t *out)
{
	int r = 0;
	config_setting_t *s = ld_get(l, grp, gname, key, &r);
	char name[96];
	long long v;

	if (!s)
		return r;
	qname(name, sizeof(name), gname, key);
	if (!is_int(s))
		return ld_fail(l, s, name, "must be an integer");
	v = config_setting_get_int64(s);
	if (v < 0 || (uint64_t)v < min || (uint64_t)v > max)
		return ld_fail(l, s, name, "must be between %llu and %llu (got %lld)",
			       (unsigned long long)min, (unsigned long long)max, v);
	*out = (uint64_t)v;
	return 0;
}

static int ld_num(const struct ld *l, const config_setting_t *s, const char *name, double min,
		  double max, double *out)
{
	double v;

	if (!is_number(s))
		return ld_fail(l, s, name, "must be a number");
	v = number_of(s);
	if (!isfinite(v) || v < min || v > max)
		return ld_fail(l, s, name, "must be between %g and %g (got %g)", min, max, v);
	*out = v;
	return 0;
}

static int ld_double(const struct ld *l, const config_setting_t *grp, const char *gname,
		     const char *key, double min, double max, double *out)
{
	int r = 0;
	config_setting_t *s = ld_get(l, grp, gname, key, &r);
	char name[96];

	return s ? ld_num(l, s, qname(name, sizeof(name), gname, key), min, max, out) : r;
}

static int ld_string(const struct ld *l, const config_setting_t *grp, const char *gname,
		     const char *key, char *out, size_t outlen)
{
	int r = 0;
	config_setting_t *s = ld_get(l, grp, gname, key, &r);
	char name[96];
	const char *v;

	if (!s)
		return r;
	qname(name, sizeof(name), gname, key);
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return ld_fail(l, s, name, "must be a string in double quotes");
	v = config_setting_get_string(s);
	if (!*v)
		return ld_fail(l, s, name, "must not be empty");
	if (strlen(v) >= outlen)
		return ld_fail(l, s, name, "longer than %zu characters", outlen - 1);
	snprintf(out, outlen, "%s", v);
	return 0;
}

static int ld_bool(const struct ld *l, const config_setting_t *grp, const char *gname,
		   const char *key, bool *out)
{
	int r = 0;
	config_setting_t *s = ld_get(l, grp, gname, key, &r);
	char name[96];

	if (!s)
		return r;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return ld_fail(l, s, qname(name, sizeof(name), gname, key),
			       "must be true or false");
	*out = config_setting_get_bool(s);
	return 0;
}

/* Rejects settings of grp not in keys (a typo or a file of another format). */
static int ld_known(const struct ld *l, const config_setting_t *grp, const char *gname,
		    const char *const *keys)
{
	int n = config_setting_length(grp);
	char q[96];

	for (int i = 0; i < n; i++) {
		config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
		const char *name = config_setting_name(s);
		bool ok = false;

		for (const char *const *k = keys; *k && name; k++)
			ok |= !strcmp(*k, name);
		if (!ok)
			return ld_fail(l, s, qname(q, sizeof(q), gname, name ? name : "?"),
				       "unknown setting");
	}
	return 0;
}

static int ld_group(const struct ld *l, const config_setting_t *root, const char *key,
		    config_setting_t **out)
{
	int r = 0;
	config_setting_t *s = ld_get(l, root, NULL, key, &r);

	if (!s)
		return r;
	if (config_setting_type(s) != CONFIG_TYPE_GROUP)
		return ld_fail(l, s, key, "must be a group { ... }");
	*out = s;
	return 0;
}

/* A domains x domains matrix: a list of rows, each an array or list of
 * numbers in [0, max]. */
static int ld_matrix(const struct ld *l, const config_setting_t *root, const char *key,
		     uint32_t domains, double max, double m[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS])
{
	int r = 0;
	config_setting_t *s = ld_get(l, root, NULL, key, &r);
	char name[64];

	if (!s)
		return r;
	if (config_setting_type(s) != CONFIG_TYPE_LIST &&
	    config_setting_type(s) != CONFIG_TYPE_ARRAY)
		return ld_fail(l, s, key, "must be a list of %u rows like ( [ 1.0 ] )", domains);
	if ((uint32_t)config_setting_length(s) != domains)
		return ld_fail(l, s, key, "has %d rows; machine.domains is %u",
			       config_setting_length(s), domains);
	for (uint32_t i = 0; i < domains; i++) {
		config_setting_t *row = config_setting_get_elem(s, i);
		int t = config_setting_type(row);

		snprintf(name, sizeof(name), "%s[%u]", key, i);
		if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
			return ld_fail(l, row, name, "must be a row of %u numbers like [ 1.0 ]",
				       domains);
		if ((uint32_t)config_setting_length(row) != domains)
			return ld_fail(l, row, name, "has %d entries; machine.domains is %u",
				       config_setting_length(row), domains);
		for (uint32_t j = 0; j < domains; j++) {
			config_setting_t *e = config_setting_get_elem(row, j);
			snprintf(name, sizeof(name), "%s[%u][%u]", key, i, j);
			if ((r = ld_num(l, e, name, 0, max, &m[i][j])))
				return r;
		}
	}
	return 0;
}

static int ld_floor(const struct ld *l, const config_setting_t *root, struct cal_data *c)
{
	static const char *const keys[] = { "size", "median_ns", "p99_ns", NULL };
	int r = 0, n;
	config_setting_t *s = ld_get(l, root, NULL, "floor", &r);
	char name[64];

	if (!s)
		return r;
	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return ld_fail(l, s, "floor",
			       "must be a list of groups like "
			       "( { size = 64; median_ns = 900.0; p99_ns = 1500.0; } )");
	n = config_setting_length(s);
	if (n > CAL_MAX_SIZES)
		return ld_fail(l, s, "floor", "at most %d sizes (got %d)", CAL_MAX_SIZES, n);
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(s, (unsigned)i);

		snprintf(name, sizeof(name), "floor[%d]", i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP)
			return ld_fail(l, g, name,
				       "must be a group { size = ..; median_ns = ..; "
				       "p99_ns = ..; }");
		if ((r = ld_known(l, g, name, keys)) ||
		    (r = ld_u64(l, g, name, "size", 1, CAL_MAX_FLOOR_SIZE, &c->floor_size[i])) ||
		    (r = ld_double(l, g, name, "median_ns", 0, CAL_MAX_NS, &c->floor_ns[i])) ||
		    (r = ld_double(l, g, name, "p99_ns", 0, CAL_MAX_NS, &c->floor_p99_ns[i])))
			return r;
		if (c->floor_ns[i] <= 0)
			return ld_fail(l, g, name, "median_ns must be above 0");
		if (c->floor_p99_ns[i] < c->floor_ns[i])
			return ld_fail(l, g, name, "p99_ns (%g) is below median_ns (%g)",
				       c->floor_p99_ns[i], c->floor_ns[i]);
		if (i > 0 && c->floor_size[i] <= c->floor_size[i - 1])
			return ld_fail(l, g, name, "sizes must increase (%llu after %llu)",
				       (unsigned long long)c->floor_size[i],
				       (unsigned long long)c->floor_size[i - 1]);
	}
	c->n_floor = (uint32_t)n;
	return 0;
}

/* One fabric direction's figures of sizes[i] (g): "read" or "write". */
static int ld_fabric_op(const struct ld *l, const config_setting_t *g, const char *gname,
			struct cal_fabric *f, uint32_t i, int op)
{
	const char *dir = op == CAL_FAB_READ ? "read" : "write";
	char k_med[16], k_p10[24], k_p90[24], k_p99[24], k_bw[16];
	int r;

	snprintf(k_med, sizeof(k_med), "%s_ns", dir);
	snprintf(k_p10, sizeof(k_p10), "%s_p10_ns", dir);
	snprintf(k_p90, sizeof(k_p90), "%s_p90_ns", dir);
	snprintf(k_p99, sizeof(k_p99), "%s_p99_ns", dir);
	snprintf(k_bw, sizeof(k_bw), "%s_gbps", dir);
	if ((r = ld_double(l, g, gname, k_med, 0, CAL_MAX_NS, &f->ns[op][i])) ||
	    (r = ld_double(l, g, gname, k_p10, 0, CAL_MAX_NS, &f->p10_ns[op][i])) ||
	    (r = ld_double(l, g, gname, k_p90, 0, CAL_MAX_NS, &f->p90_ns[op][i])) ||
	    (r = ld_double(l, g, gname, k_p99, 0, CAL_MAX_NS, &f->p99_ns[op][i])) ||
	    (r = ld_double(l, g, gname, k_bw, 0, CAL_MAX_GBPS, &f->gbps[op][i])))
		return r;
	if (f->ns[op][i] <= 0) {
		char name[96];
		return ld_fail(l, config_setting_get_member(g, k_med),
			       qname(name, sizeof(name), gname, k_med), "must be above 0");
	}
	if (f->p10_ns[op][i] > f->ns[op][i] || f->p90_ns[op][i] < f->ns[op][i] ||
	    f->p99_ns[op][i] < f->p90_ns[op][i])
		return ld_fail(l, config_setting_get_member(g, k_p10), gname,
			       "%s %g, %s %g, %s %g, %s %g: they must not decrease", k_p10,
			       f->p10_ns[op][i], k_med, f->ns[op][i], k_p90, f->p90_ns[op][i],
			       k_p99, f->p99_ns[op][i]);
	return 0;
}

static int ld_fabric_sizes(const struct ld *l, const config_setting_t *fg, const char *fname,
			   struct cal_fabric *f)
{
	static const char *const keys[] = { "size",	    "read_ns",	    "read_p10_ns",
					    "read_p90_ns",  "read_p99_ns",  "write_ns",
					    "write_p10_ns", "write_p90_ns", "write_p99_ns",
					    "read_gbps",    "write_gbps",   NULL };
	int r = 0, n;
	config_setting_t *s = ld_get(l, fg, fname, "sizes", &r);
	char name[48], gname[64];

	if (!s)
		return r;
	snprintf(name, sizeof(name), "%.32s.sizes", fname);
	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return ld_fail(l, s, name,
			       "must be a list of groups like ( { size = 64; read_ns = 30000.0; "
			       "... } )");
	n = config_setting_length(s);
	if (n < 1 || n > CAL_MAX_SIZES)
		return ld_fail(l, s, name, "must have 1 to %d sizes (got %d)", CAL_MAX_SIZES, n);
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(s, (unsigned)i);

		snprintf(gname, sizeof(gname), "%s[%d]", name, i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP)
			return ld_fail(l, g, gname,
				       "must be a group { size = ..; read_ns = ..; ... }");
		if ((r = ld_known(l, g, gname, keys)) ||
		    (r = ld_u64(l, g, gname, "size", 1, CAL_MAX_FLOOR_SIZE, &f->size[i])) ||
		    (r = ld_fabric_op(l, g, gname, f, (uint32_t)i, CAL_FAB_READ)) ||
		    (r = ld_fabric_op(l, g, gname, f, (uint32_t)i, CAL_FAB_WRITE)))
			return r;
		if (i > 0 && f->size[i] <= f->size[i - 1])
			return ld_fail(l, config_setting_get_member(g, "size"), gname,
				       "sizes must increase (%llu after %llu)",
				       (unsigned long long)f->size[i],
				       (unsigned long long)f->size[i - 1]);
	}
	f->n = (uint32_t)n;
	return 0;
}

/* An address as in fabric.nodes: "host:port" or "[v6]:port". */
static int ld_addr(const struct ld *l, const config_setting_t *g, const char *gname,
		   const char *key, char *out)
{
	char host[CAL_ADDR_LEN], name[64];
	unsigned port;
	int r;

	if ((r = ld_string(l, g, gname, key, out, CAL_ADDR_LEN)))
		return r;
	if (core_split_addr(out, host, sizeof(host), &port))
		return ld_fail(l, config_setting_get_member(g, key),
			       qname(name, sizeof(name), gname, key),
			       "\"%s\" is not host:port (as in rmc.conf's fabric.nodes)", out);
	return 0;
}

static bool same_fabric(const struct cal_fabric *a, const struct cal_fabric *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->address, b->address) &&
	       !strcmp(a->peer, b->peer) && !strcmp(a->transports, b->transports);
}

static int ld_fabrics(const struct ld *l, const config_setting_t *root, struct cal_data *c)
{
	static const char *const keys[] = { "name",  "node",	   "address", "peer_node",
					    "peer",  "transports", "date",    "outstanding",
					    "sizes", NULL };
	config_setting_t *s = config_setting_get_member(root, "fabrics");
	char name[32];
	uint64_t v;
	int r, n;

	c->n_fabrics = 0;
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return ld_fail(l, s, "fabrics",
			       "must be a list of groups like ( { name = \"ucx\"; ... } )");
	n = config_setting_length(s);
	if (n > CAL_MAX_FABRICS)
		return ld_fail(l, s, "fabrics", "at most %d sections (got %d)", CAL_MAX_FABRICS, n);
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
		struct cal_fabric *f = &c->fabric[i];

		snprintf(name, sizeof(name), "fabrics[%d]", i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP)
			return ld_fail(l, g, name, "must be a group { name = \"ucx\"; ... }");
		if ((r = ld_known(l, g, name, keys)) ||
		    (r = ld_string(l, g, name, "name", f->name, sizeof(f->name))))
			return r;
		/* The only fabric whose transfers do not go through mapped
		 * memory, and so have a floor of their own. */
		if (strcmp(f->name, "ucx")) {
			char q[48];
			return ld_fail(
				l, config_setting_get_member(g, "name"),
				qname(q, sizeof(q), name, "name"),
				"\"%s\" is not a fabric with a calibration of its own (\"ucx\")",
				f->name);
		}
		if ((r = ld_u64(l, g, name, "node", 0, CORE_MAX_NODES - 1, &v)))
			return r;
		f->node = (uint32_t)v;
		if ((r = ld_u64(l, g, name, "peer_node", 0, CORE_MAX_NODES - 1, &v)))
			return r;
		f->peer_node = (uint32_t)v;
		if ((r = ld_addr(l, g, name, "address", f->address)) ||
		    (r = ld_addr(l, g, name, "peer", f->peer)) ||
		    (r = ld_string(l, g, name, "transports", f->transports,
				   sizeof(f->transports))) ||
		    (r = ld_string(l, g, name, "date", f->date, sizeof(f->date))))
			return r;
		if (f->node == f->peer_node || !strcmp(f->address, f->peer))
			return ld_fail(
				l, config_setting_get_member(g, "peer"), name,
				"the peer (node %u at %s) is the node measured from (node %u "
				"at %s)",
				f->peer_node, f->peer, f->node, f->address);
		if ((r = ld_u64(l, g, name, "outstanding", 1, 65536, &v)))
			return r;
		f->outstanding = (uint32_t)v;
		if ((r = ld_fabric_sizes(l, g, name, f)))
			return r;
		for (int j = 0; j < i; j++)
			if (same_fabric(&c->fabric[j], f))
				return ld_fail(l, g, name,
					       "the same fabric, addresses and transports as "
					       "fabrics[%d]",
					       j);
		c->n_fabrics = (uint32_t)i + 1;
	}
	return 0;
}

static int ld_all(const struct ld *l, config_t *cf, struct cal_data *c)
{
	static const char *const top[] = { "version",	  "machine",	   "tsc",	"rtt_ns",
					   "notify_ns",	  "load_ns",	   "copy_gbps", "floor",
					   "overhead_ns", "papi_counters", "rmc_ko",	"fabrics",
					   NULL };
	static const char *const mach[] = { "cpu_model", "cores", "domains", "kernel",
					    "hostname",	 "date",  NULL };
	static const char *const tsc[] = { "hz", "read_ns", "invariant", NULL };
	config_setting_t *root = config_root_setting(cf), *g = NULL, *s;
	uint64_t v;
	int r = 0;

	/* The version first: a file of another format gets that message. */
	if (!(s = ld_get(l, root, NULL, "version", &r)))
		return r;
	if (!is_int(s))
		return ld_fail(l, s, "version", "must be an integer");
	if (config_setting_get_int64(s) != CAL_FORMAT_VERSION)
		return ld_fail(l, s, "version",
			       "format %lld is not the one this sonuma reads (%d); run "
			       "sonuma-calibrate again",
			       config_setting_get_int64(s), CAL_FORMAT_VERSION);
	c->version = CAL_FORMAT_VERSION;
	if ((r = ld_known(l, root, NULL, top)))
		return r;

	if ((r = ld_group(l, root, "machine", &g)) || (r = ld_known(l, g, "machine", mach)) ||
	    (r = ld_string(l, g, "machine", "cpu_model", c->id.cpu_model, sizeof(c->id.cpu_model))))
		return r;
	if ((r = ld_u64(l, g, "machine", "cores", 1, CAL_MAX_CORES, &v)))
		return r;
	c->id.cores = (uint32_t)v;
	if ((r = ld_u64(l, g, "machine", "domains", 1, CAL_MAX_DOMAINS, &v)))
		return r;
	c->id.domains = c->domains = (uint32_t)v;
	if ((r = ld_string(l, g, "machine", "kernel", c->id.kernel, sizeof(c->id.kernel))) ||
	    (r = ld_string(l, g, "machine", "hostname", c->id.hostname, sizeof(c->id.hostname))) ||
	    (r = ld_string(l, g, "machine", "date", c->id.date, sizeof(c->id.date))))
		return r;

	if ((r = ld_group(l, root, "tsc", &g)) || (r = ld_known(l, g, "tsc", tsc)) ||
	    (r = ld_double(l, g, "tsc", "hz", 1e6, 1e11, &c->tsc_hz)) ||
	    (r = ld_double(l, g, "tsc", "read_ns", 0, 1e6, &c->tsc_read_ns)) ||
	    (r = ld_bool(l, g, "tsc", "invariant", &c->tsc_invariant)))
		return r;

	if ((r = ld_matrix(l, root, "rtt_ns", c->domains, CAL_MAX_NS, c->rtt_ns)) ||
	    (r = ld_matrix(l, root, "notify_ns", c->domains, CAL_MAX_NS, c->notify_ns)) ||
	    (r = ld_matrix(l, root, "load_ns", c->domains, CAL_MAX_NS, c->load_ns)) ||
	    (r = ld_matrix(l, root, "copy_gbps", c->domains, CAL_MAX_GBPS, c->copy_gbps)))
		return r;
	if ((r = ld_floor(l, root, c)))
		return r;
	/* Optional: files from before it was measured have none. */
	config_setting_t *ov = config_setting_get_member(root, "overhead_ns");
	c->overhead_ns = 0;
	if (ov && (r = ld_num(l, ov, "overhead_ns", 0, 1e5, &c->overhead_ns)))
		return r;
	/* Optional too: files from before rmc.ko existed have none. */
	c->rmc_ko = false;
	if (config_setting_get_member(root, "rmc_ko") &&
	    (r = ld_bool(l, root, NULL, "rmc_ko", &c->rmc_ko)))
		return r;
	if ((r = ld_bool(l, root, NULL, "papi_counters", &c->papi_counters)))
		return r;
	return ld_fabrics(l, root, c);
}

int cal_load(const char *path, struct cal_data *c, char *err, size_t errlen)
{
	struct ld l = { .path = path, .err = err, .errlen = errlen };
	config_t cf;
	FILE *f;
	int r;

	memset(c, 0, sizeof(*c));
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	config_init(&cf);
	if (config_read(&cf, f) != CONFIG_TRUE) {
		snprintf(err, errlen, "%s:%d: %s", path, config_error_line(&cf),
			 config_error_text(&cf));
		r = -EINVAL;
	} else {
		r = ld_all(&l, &cf, c);
	}
	config_destroy(&cf);
	fclose(f);
	if (r)
		memset(c, 0, sizeof(*c));
	return r;
}

/* ---- saving ------------------------------------------------------------ */

static int mkdir_p(char *dir)
{
	struct stat st;

	if (!*dir || stat(dir, &st) == 0)
		return 0;
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			int r = -errno;
			*p = '/';
			return r;
		}
		*p = '/';
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static bool sv_ok(config_setting_t *s, bool *ok)
{
	*ok = *ok && s;
	return *ok;
}

static void sv_string(config_setting_t *g, const char *key, const char *v, bool *ok)
{
	config_setting_t *s = config_setting_add(g, key, CONFIG_TYPE_STRING);

	if (sv_ok(s, ok))
		*ok = config_setting_set_string(s, v) == CONFIG_TRUE;
}

static void sv_int(config_setting_t *g, const char *key, uint64_t v, bool *ok)
{
	/* A plain integer where it fits, so that the file reads "cores = 2;". */
	bool small = v <= INT32_MAX;
	config_setting_t *s =
		config_setting_add(g, key, small ? CONFIG_TYPE_INT : CONFIG_TYPE_INT64);

	if (sv_ok(s, ok))
		*ok = (small ? config_setting_set_int(s, (int)v) :
			       config_setting_set_int64(s, (long long)v)) == CONFIG_TRUE;
}

static void sv_float(config_setting_t *g, const char *key, double v, bool *ok)
{
	config_setting_t *s = config_setting_add(g, key, CONFIG_TYPE_FLOAT);

	if (sv_ok(s, ok))
		*ok = config_setting_set_float(s, v) == CONFIG_TRUE;
}

static void sv_bool(config_setting_t *g, const char *key, bool v, bool *ok)
{
	config_setting_t *s = config_setting_add(g, key, CONFIG_TYPE_BOOL);

	if (sv_ok(s, ok))
		*ok = config_setting_set_bool(s, v) == CONFIG_TRUE;
}

static void sv_matrix(config_setting_t *root, const char *key, uint32_t n,
		      const double m[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS], bool *ok)
{
	config_setting_t *l = config_setting_add(root, key, CONFIG_TYPE_LIST);

	for (uint32_t i = 0; i < n && sv_ok(l, ok); i++) {
		config_setting_t *row = config_setting_add(l, NULL, CONFIG_TYPE_ARRAY);
		for (uint32_t j = 0; j < n && sv_ok(row, ok); j++)
			*ok = config_setting_set_float_elem(row, -1, m[i][j]) != NULL;
	}
}

/* Refuses what cal_load would refuse, so a saved file always loads. */
static int sv_check(const struct cal_data *c, char *err, size_t errlen)
{
	const double(*const mats[])[CAL_MAX_DOMAINS] = { c->rtt_ns, c->notify_ns, c->load_ns,
							 c->copy_gbps };
	static const char *const names[] = { "rtt_ns", "notify_ns", "load_ns", "copy_gbps" };

#define SV_BAD(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)
	if (c->domains < 1 || c->domains > CAL_MAX_DOMAINS || c->domains != c->id.domains)
		return SV_BAD("domains %u (machine %u): must match, 1 to %d", c->domains,
			      c->id.domains, CAL_MAX_DOMAINS);
	if (c->id.cores < 1 || c->id.cores > CAL_MAX_CORES)
		return SV_BAD("cores %u out of range", c->id.cores);
	if (!c->id.cpu_model[0] || !c->id.kernel[0] || !c->id.hostname[0] || !c->id.date[0])
		return SV_BAD("the machine identity is incomplete");
	if (!isfinite(c->tsc_hz) || c->tsc_hz < 1e6 || c->tsc_hz > 1e11)
		return SV_BAD("TSC rate %g Hz out of range", c->tsc_hz);
	if (!isfinite(c->tsc_read_ns) || c->tsc_read_ns < 0 || c->tsc_read_ns > 1e6)
		return SV_BAD("TSC read cost %g ns out of range", c->tsc_read_ns);
	for (unsigned k = 0; k < CORE_ARRAY_SIZE(mats); k++)
		for (uint32_t i = 0; i < c->domains; i++)
			for (uint32_t j = 0; j < c->domains; j++) {
				double v = mats[k][i][j];
				double max = k == 3 ? CAL_MAX_GBPS : CAL_MAX_NS;
				if (!isfinite(v) || v < 0 || v > max)
					return SV_BAD("%s[%u][%u] = %g out of range", names[k], i,
						      j, v);
			}
	if (c->n_floor > CAL_MAX_SIZES)
		return SV_BAD("%u floor sizes, at most %d", c->n_floor, CAL_MAX_SIZES);
	for (uint32_t i = 0; i < c->n_floor; i++) {
		if (c->floor_size[i] < 1 || c->floor_size[i] > CAL_MAX_FLOOR_SIZE ||
		    (i && c->floor_size[i] <= c->floor_size[i - 1]))
			return SV_BAD("floor size %llu: sizes must increase",
				      (unsigned long long)c->floor_size[i]);
		if (!isfinite(c->floor_ns[i]) || c->floor_ns[i] <= 0 ||
		    c->floor_ns[i] > CAL_MAX_NS || !isfinite(c->floor_p99_ns[i]) ||
		    c->floor_p99_ns[i] < c->floor_ns[i] || c->floor_p99_ns[i] > CAL_MAX_NS)
			return SV_BAD("floor for %llu bytes out of range",
				      (unsigned long long)c->floor_size[i]);
	}
	if (c->n_fabrics > CAL_MAX_FABRICS)
		return SV_BAD("%u fabric sections, at most %d", c->n_fabrics, CAL_MAX_FABRICS);
	for (uint32_t k = 0; k < c->n_fabrics; k++) {
		const struct cal_fabric *f = &c->fabric[k];
		char host[CAL_ADDR_LEN];
		unsigned port;

		if (strcmp(f->name, "ucx") || !f->transports[0] || !f->date[0] ||
		    core_split_addr(f->address, host, sizeof(host), &port) ||
		    core_split_addr(f->peer, host, sizeof(host), &port) ||
		    !strcmp(f->address, f->peer) || f->node == f->peer_node ||
		    f->node >= CORE_MAX_NODES || f->peer_node >= CORE_MAX_NODES ||
		    f->outstanding < 1 || f->outstanding > 65536)
			return SV_BAD("fabric section %u (%s, %s to %s) is incomplete", k, f->name,
				      f->address, f->peer);
		if (f->n < 1 || f->n > CAL_MAX_SIZES)
			return SV_BAD("fabric section %u: %u sizes, 1 to %d", k, f->n,
				      CAL_MAX_SIZES);
		for (uint32_t j = 0; j < k; j++)
			if (same_fabric(&c->fabric[j], f))
				return SV_BAD("fabric sections %u and %u are the same", j, k);
		for (uint32_t i = 0; i < f->n; i++) {
			if (f->size[i] < 1 || f->size[i] > CAL_MAX_FLOOR_SIZE ||
			    (i && f->size[i] <= f->size[i - 1]))
				return SV_BAD("fabric section %u: size %llu: sizes must increase",
					      k, (unsigned long long)f->size[i]);
			for (int op = 0; op < 2; op++) {
				double v[] = { f->p10_ns[op][i], f->ns[op][i], f->p90_ns[op][i],
					       f->p99_ns[op][i] };
				bool ok = v[1] > 0 && isfinite(f->gbps[op][i]) &&
					  f->gbps[op][i] >= 0 && f->gbps[op][i] <= CAL_MAX_GBPS;
				for (unsigned m = 0; m < 4; m++)
					ok = ok && isfinite(v[m]) && v[m] >= 0 &&
					     v[m] <= CAL_MAX_NS && (!m || v[m] >= v[m - 1]);
				if (!ok)
					return SV_BAD("fabric section %u: the %s figures for %llu "
						      "bytes are out of range",
						      k, op == CAL_FAB_READ ? "read" : "write",
						      (unsigned long long)f->size[i]);
			}
		}
	}
#undef SV_BAD
	return 0;
}

static void sv_fabric(config_setting_t *l, const struct cal_fabric *f, bool *ok)
{
	static const char *const dir[2] = { "read", "write" };
	config_setting_t *g = config_setting_add(l, NULL, CONFIG_TYPE_GROUP), *sl, *e;
	char key[24];

	if (!sv_ok(g, ok))
		return;
	sv_string(g, "name", f->name, ok);
	sv_int(g, "node", f->node, ok);
	sv_string(g, "address", f->address, ok);
	sv_int(g, "peer_node", f->peer_node, ok);
	sv_string(g, "peer", f->peer, ok);
	sv_string(g, "transports", f->transports, ok);
	sv_string(g, "date", f->date, ok);
	sv_int(g, "outstanding", f->outstanding, ok);
	sl = config_setting_add(g, "sizes", CONFIG_TYPE_LIST);
	for (uint32_t i = 0; i < f->n && sv_ok(sl, ok); i++) {
		e = config_setting_add(sl, NULL, CONFIG_TYPE_GROUP);
		if (!sv_ok(e, ok))
			break;
		sv_int(e, "size", f->size[i], ok);
		for (int op = 0; op < 2; op++) {
			snprintf(key, sizeof(key), "%s_ns", dir[op]);
			sv_float(e, key, f->ns[op][i], ok);
			snprintf(key, sizeof(key), "%s_p10_ns", dir[op]);
			sv_float(e, key, f->p10_ns[op][i], ok);
			snprintf(key, sizeof(key), "%s_p90_ns", dir[op]);
			sv_float(e, key, f->p90_ns[op][i], ok);
			snprintf(key, sizeof(key), "%s_p99_ns", dir[op]);
			sv_float(e, key, f->p99_ns[op][i], ok);
		}
		sv_float(e, "read_gbps", f->gbps[CAL_FAB_READ][i], ok);
		sv_float(e, "write_gbps", f->gbps[CAL_FAB_WRITE][i], ok);
	}
}

static void sv_build(config_t *cf, const struct cal_data *c, bool *ok)
{
	config_setting_t *root = config_root_setting(cf), *g, *l;

	sv_int(root, "version", CAL_FORMAT_VERSION, ok);
	g = config_setting_add(root, "machine", CONFIG_TYPE_GROUP);
	if (sv_ok(g, ok)) {
		sv_string(g, "cpu_model", c->id.cpu_model, ok);
		sv_int(g, "cores", c->id.cores, ok);
		sv_int(g, "domains", c->id.domains, ok);
		sv_string(g, "kernel", c->id.kernel, ok);
		sv_string(g, "hostname", c->id.hostname, ok);
		sv_string(g, "date", c->id.date, ok);
	}
	g = config_setting_add(root, "tsc", CONFIG_TYPE_GROUP);
	if (sv_ok(g, ok)) {
		sv_float(g, "hz", c->tsc_hz, ok);
		sv_float(g, "read_ns", c->tsc_read_ns, ok);
		sv_bool(g, "invariant", c->tsc_invariant, ok);
	}
	sv_matrix(root, "rtt_ns", c->domains, c->rtt_ns, ok);
	sv_matrix(root, "notify_ns", c->domains, c->notify_ns, ok);
	sv_matrix(root, "load_ns", c->domains, c->load_ns, ok);
	sv_matrix(root, "copy_gbps", c->domains, c->copy_gbps, ok);
	l = config_setting_add(root, "floor", CONFIG_TYPE_LIST);
	for (uint32_t i = 0; i < c->n_floor && sv_ok(l, ok); i++) {
		g = config_setting_add(l, NULL, CONFIG_TYPE_GROUP);
		if (!sv_ok(g, ok))
			break;
		sv_int(g, "size", c->floor_size[i], ok);
		sv_float(g, "median_ns", c->floor_ns[i], ok);
		sv_float(g, "p99_ns", c->floor_p99_ns[i], ok);
	}
	if (c->overhead_ns > 0)
		sv_float(root, "overhead_ns", c->overhead_ns, ok);
	sv_bool(root, "papi_counters", c->papi_counters, ok);
	sv_bool(root, "rmc_ko", c->rmc_ko, ok);
	/* Only when there is one: the file then reads as before. */
	if (c->n_fabrics) {
		l = config_setting_add(root, "fabrics", CONFIG_TYPE_LIST);
		for (uint32_t k = 0; k < c->n_fabrics && sv_ok(l, ok); k++)
			sv_fabric(l, &c->fabric[k], ok);
	}
}

int cal_save(const char *path, const struct cal_data *c, char *err, size_t errlen)
{
	char dir[4096], tmp[4096 + 16];
	const char *slash = strrchr(path, '/');
	bool ok = true;
	config_t cf;
	FILE *f;
	int fd, r;

	if ((r = sv_check(c, err, errlen))) {
		char why[256];
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s: not written: %s", path, why);
		return r;
	}
	if (strlen(path) >= sizeof(dir)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	if (slash && slash != path) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
		if ((r = mkdir_p(dir))) {
			snprintf(err, errlen, "%s: cannot create directory %s: %s", path, dir,
				 strerror(-r));
			return r;
		}
	}
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot create a temporary file: %s", path,
			 strerror(errno));
		return r;
	}
	fchmod(fd, 0644);
	f = fdopen(fd, "w");
	if (!f) {
		r = -errno;
		close(fd);
		unlink(tmp);
		snprintf(err, errlen, "%s: %s", tmp, strerror(-r));
		return r;
	}
	config_init(&cf);
	/* "machine = {", not libconfig's default "machine : {". */
	config_set_options(&cf, (config_get_options(&cf) &
				 ~(CONFIG_OPTION_COLON_ASSIGNMENT_FOR_GROUPS |
				   CONFIG_OPTION_COLON_ASSIGNMENT_FOR_NON_GROUPS)) |
					CONFIG_OPTION_SEMICOLON_SEPARATORS);
	sv_build(&cf, c, &ok);
	if (ok) {
		fprintf(f, "# sonuma calibration: this machine's own costs, written by "
			   "sonuma-calibrate.\n"
			   "# Times in ns, bandwidths in GB/s (1e9 bytes/s), medians.  Matrices "
			   "are [from][to]\n"
			   "# NUMA domain (one row per source domain); 0 means not measured.\n"
			   "# rtt_ns: cache-line round trip between cores; notify_ns = rtt_ns / "
			   "2;\n"
			   "# load_ns: dependent load, CPU in from, memory in to; copy_gbps: "
			   "large memcpy\n"
			   "# by a CPU of from, from memory in to; floor: synchronous read "
			   "through rmcd\n"
			   "# with the none model, per size in bytes.\n"
			   "# fabrics: per fabric, node and peer (sonuma-calibrate --fabric): "
			   "synchronous\n"
			   "# reads and writes through an rmcd with the none model on each host "
			   "(median,\n"
			   "# p10, p90, p99) and the bandwidth of asynchronous ones, per size.\n");
		config_write(&cf, f);
	}
	config_destroy(&cf);
	r = ok ? 0 : -ENOMEM;
	errno = 0;
	if (!r && (fflush(f) != 0 || ferror(f) || fsync(fd) < 0))
		r = errno ? -errno : -EIO;
	if (fclose(f) != 0 && !r)
		r = errno ? -errno : -EIO;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r) {
		unlink(tmp);
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(-r));
	}
	return r;
}

/* ---- use --------------------------------------------------------------- */

static const char *plural(uint32_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

int cal_check_identity(const struct cal_data *c, char *why, size_t len)
{
	struct cal_identity here;

	cal_identity_here(&here);
	if (strcmp(c->id.cpu_model, here.cpu_model))
		snprintf(why, len, "calibrated on a \"%s\", this machine is a \"%s\"",
			 c->id.cpu_model, here.cpu_model);
	else if (c->id.cores != here.cores)
		snprintf(why, len, "calibrated with %u %s, this machine has %u", c->id.cores,
			 plural(c->id.cores, "CPU", "CPUs"), here.cores);
	else if (c->id.domains != here.domains)
		snprintf(why, len, "calibrated with %u NUMA %s, this machine has %u", c->id.domains,
			 plural(c->id.domains, "domain", "domains"), here.domains);
	else
		return 0;
	return -EXDEV;
}

/* The figure v[] for size, from n measured sizes[]: log-linear between
 * them, the smallest's below, linear in bytes beyond the largest. */
static double interpolate(uint32_t n, const uint64_t *sizes, const double *v, uint64_t size)
{
	uint32_t i;
	double slope;

	if (!n)
		return 0;
	/* Below the smallest size measured (or with one size only): that
	 * size's floor; a smaller request is not cheaper to pick up. */
	if (size <= sizes[0] || n == 1)
		return v[0];
	for (i = 1; i < n; i++)
		if (size <= sizes[i]) {
			/* Log-linear: the sizes are powers apart, the cost grows
			 * smoothly with the logarithm of the size between them. */
			double x0 = log((double)sizes[i - 1]);
			double x1 = log((double)sizes[i]);
			double t = (log((double)size) - x0) / (x1 - x0);
			return v[i - 1] + t * (v[i] - v[i - 1]);
		}
	/* Beyond the largest size: linear in bytes, with the slope of the last
	 * segment (never downwards: a larger copy does not get cheaper). */
	slope = (v[n - 1] - v[n - 2]) / (double)(sizes[n - 1] - sizes[n - 2]);
	if (slope < 0)
		slope = 0;
	return v[n - 1] + slope * (double)(size - sizes[n - 1]);
}

double cal_floor_ns(const struct cal_data *c, uint64_t size)
{
	return interpolate(c->n_floor, c->floor_size, c->floor_ns, size);
}

double cal_fabric_ns(const struct cal_fabric *f, int op, uint64_t size)
{
	if (op != CAL_FAB_READ && op != CAL_FAB_WRITE)
		return 0;
	return interpolate(f->n, f->size, f->ns[op], size);
}

int cal_fabric_put(struct cal_data *c, const struct cal_fabric *f)
{
	for (uint32_t k = 0; k < c->n_fabrics; k++)
		if (same_fabric(&c->fabric[k], f)) {
			c->fabric[k] = *f;
			return 0;
		}
	if (c->n_fabrics >= CAL_MAX_FABRICS)
		return -ENOSPC;
	c->fabric[c->n_fabrics++] = *f;
	return 0;
}
