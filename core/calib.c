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
 * and, optional (files written before them load without):
 *
 *   spread = { tsc_ppm = 0.3; tsc_read_ns = [ 11.9, 12.0 ];   # [ p10, p90 ]
 *              rtt_p10_ns = ( [ 62.6 ] ); rtt_p90_ns = ( [ 90.2 ] );
 *              load_p10_ns, load_p90_ns, copy_p10_gbps, copy_p90_gbps (the same);
 *              floor_p10_ns = [ 130.0, ... ]; floor_p90_ns = [ 200.0, ... ];  # or none
 *              rounds_rtt_ns = [ 75.1, ... ];      # each repeat's median
 *              rounds_floor_64_ns = [ 160.3, ... ]; };
 *   sanity = { floor_per_rtt = 2.1; floor_per_rtt_max = 3.5; disturbed = false; };
 *            # disturbed = true; why = "...";  when the machine looked disturbed
 *   agent = { cpus = [ 0, 1 ]; window = 64; rate_64_mops = 9.1;
 *             rate_64_min_mops = 8.5; rate_64_max_mops = 9.6;
 *             floor = ( { size = 64; median_ns = 300.0; p10_ns = ..; p90_ns = ..;
 *                         p99_ns = ..; cached_ns = 120.0; cached_p10_ns = ..;
 *                         cached_p90_ns = ..; cached_p99_ns = ..; }, ... ); };
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

/* Every value is read with config.h's core_cfg_* rules: errors are
 * "FILE:LINE: NAME: what", a missing setting "FILE:LINE: missing NAME",
 * NAME the setting's path from the top ("fabrics[0].sizes[1].read_ns"). */

/* The group root.key, present. */
static int ld_group(const config_setting_t *root, const char *key, const char *const *keys,
		    config_setting_t **out, char *err, size_t errlen)
{
	int r;

	if ((r = core_cfg_get(root, key, true, "a group { ... }", out, err, errlen)))
		return r;
	if (config_setting_type(*out) != CONFIG_TYPE_GROUP)
		return core_cfg_fail(root, key, err, errlen, "must be a group { ... }");
	return core_cfg_known(*out, keys, err, errlen);
}

/* A string, present and not empty. */
static int ld_name(const config_setting_t *g, const char *key, char *out, size_t outlen, char *err,
		   size_t errlen)
{
	int r;

	if ((r = core_cfg_string(g, key, true, out, outlen, err, errlen)))
		return r;
	if (!*out)
		return core_cfg_fail(g, key, err, errlen, "must not be empty");
	return 0;
}

static bool is_list(const config_setting_t *s)
{
	int t = config_setting_type(s);

	return t == CONFIG_TYPE_LIST || t == CONFIG_TYPE_ARRAY;
}

/* A domains x domains matrix: a list of rows, each an array or list of
 * numbers in [0, max]. */
static int ld_matrix(const config_setting_t *root, const char *key, uint32_t domains, double max,
		     double m[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS], char *err, size_t errlen)
{
	config_setting_t *s;
	int r;

	if ((r = core_cfg_get(root, key, true, "a list of rows", &s, err, errlen)))
		return r;
	if (!is_list(s))
		return core_cfg_fail(s, NULL, err, errlen,
				     "must be a list of %u rows like ( [ 1.0 ] )", domains);
	if ((uint32_t)config_setting_length(s) != domains)
		return core_cfg_fail(s, NULL, err, errlen, "has %d rows; machine.domains is %u",
				     config_setting_length(s), domains);
	for (uint32_t i = 0; i < domains; i++) {
		config_setting_t *row = config_setting_get_elem(s, i);

		if (!is_list(row))
			return core_cfg_fail(row, NULL, err, errlen,
					     "must be a row of %u numbers like [ 1.0 ]", domains);
		if ((uint32_t)config_setting_length(row) != domains)
			return core_cfg_fail(row, NULL, err, errlen,
					     "has %d entries; machine.domains is %u",
					     config_setting_length(row), domains);
		for (uint32_t j = 0; j < domains; j++)
			if ((r = core_cfg_value_double(config_setting_get_elem(row, j), 0, max,
						       &m[i][j], err, errlen)))
				return r;
	}
	return 0;
}

/* The list grp.key of min to max groups, each like the example like
 * ("{ size = 64; ... }"); things names its entries ("sizes").  *out is
 * NULL (and *n 0) when it is absent and not required. */
static int ld_list(const config_setting_t *grp, const char *key, bool required, int min, int max,
		   const char *things, const char *like, config_setting_t **out, int *n, char *err,
		   size_t errlen)
{
	int r;

	*n = 0;
	if ((r = core_cfg_get(grp, key, required, "a list of groups", out, err, errlen)) || !*out)
		return r;
	if (config_setting_type(*out) != CONFIG_TYPE_LIST)
		return core_cfg_fail(*out, NULL, err, errlen,
				     "must be a list of groups like ( %s )", like);
	*n = config_setting_length(*out);
	if (*n > max && !min)
		return core_cfg_fail(*out, NULL, err, errlen, "at most %d %s (got %d)", max, things,
				     *n);
	if (*n < min || *n > max)
		return core_cfg_fail(*out, NULL, err, errlen, "must have %d to %d %s (got %d)", min,
				     max, things, *n);
	for (int i = 0; i < *n; i++) {
		config_setting_t *g = config_setting_get_elem(*out, (unsigned)i);

		if (config_setting_type(g) != CONFIG_TYPE_GROUP)
			return core_cfg_fail(g, NULL, err, errlen, "must be a group %s", like);
	}
	return 0;
}

/* Entry i of a list of sizes (g, with its size in key) is above the one before. */
static int ld_increasing(const config_setting_t *g, const char *key, int i, uint64_t size,
			 uint64_t before, char *err, size_t errlen)
{
	if (i > 0 && size <= before)
		return core_cfg_fail(g, key, err, errlen, "sizes must increase (%llu after %llu)",
				     (unsigned long long)size, (unsigned long long)before);
	return 0;
}

/* floor[i]: one measured size, above the one before. */
static int ld_floor_size(const config_setting_t *g, struct cal_data *c, int i, char *err,
			 size_t errlen)
{
	static const char *const keys[] = { "size", "median_ns", "p99_ns", NULL };
	int r;

	if ((r = core_cfg_known(g, keys, err, errlen)) ||
	    (r = core_cfg_u64(g, "size", true, 1, CAL_MAX_FLOOR_SIZE, &c->floor_size[i], err,
			      errlen)) ||
	    (r = core_cfg_double(g, "median_ns", true, 0, CAL_MAX_NS, &c->floor_ns[i], err,
				 errlen)) ||
	    (r = core_cfg_double(g, "p99_ns", true, 0, CAL_MAX_NS, &c->floor_p99_ns[i], err,
				 errlen)))
		return r;
	if (c->floor_ns[i] <= 0)
		return core_cfg_fail(g, NULL, err, errlen, "median_ns must be above 0");
	if (c->floor_p99_ns[i] < c->floor_ns[i])
		return core_cfg_fail(g, NULL, err, errlen, "p99_ns (%g) is below median_ns (%g)",
				     c->floor_p99_ns[i], c->floor_ns[i]);
	return ld_increasing(g, NULL, i, c->floor_size[i], i ? c->floor_size[i - 1] : 0, err,
			     errlen);
}

static int ld_floor(const config_setting_t *root, struct cal_data *c, char *err, size_t errlen)
{
	config_setting_t *s;
	int r, n;

	if ((r = ld_list(root, "floor", true, 0, CAL_MAX_SIZES, "sizes",
			 "{ size = 64; median_ns = 900.0; p99_ns = 1500.0; }", &s, &n, err,
			 errlen)))
		return r;
	for (int i = 0; i < n; i++)
		if ((r = ld_floor_size(config_setting_get_elem(s, (unsigned)i), c, i, err, errlen)))
			return r;
	c->n_floor = (uint32_t)n;
	return 0;
}

/* The version first: a file of another format gets that message. */
static int ld_version(const config_setting_t *root, struct cal_data *c, char *err, size_t errlen)
{
	config_setting_t *s;
	int r;

	if ((r = core_cfg_get(root, "version", true, "an integer", &s, err, errlen)))
		return r;
	if (!core_cfg_is_int(s))
		return core_cfg_fail(root, "version", err, errlen, "must be an integer");
	if (config_setting_get_int64(s) != CAL_FORMAT_VERSION)
		return core_cfg_fail(root, "version", err, errlen,
				     "format %lld is not the one this sonuma reads (%d); run "
				     "sonuma-calibrate again",
				     config_setting_get_int64(s), CAL_FORMAT_VERSION);
	c->version = CAL_FORMAT_VERSION;
	return 0;
}

static int ld_machine(const config_setting_t *root, struct cal_data *c, char *err, size_t errlen)
{
	static const char *const keys[] = { "cpu_model", "cores", "domains", "kernel",
					    "hostname",	 "date",  NULL };
	struct cal_identity *id = &c->id;
	config_setting_t *g;
	int r;

	if ((r = ld_group(root, "machine", keys, &g, err, errlen)) ||
	    (r = ld_name(g, "cpu_model", id->cpu_model, sizeof(id->cpu_model), err, errlen)) ||
	    (r = core_cfg_u32(g, "cores", true, 1, CAL_MAX_CORES, &id->cores, err, errlen)) ||
	    (r = core_cfg_u32(g, "domains", true, 1, CAL_MAX_DOMAINS, &id->domains, err, errlen)) ||
	    (r = ld_name(g, "kernel", id->kernel, sizeof(id->kernel), err, errlen)) ||
	    (r = ld_name(g, "hostname", id->hostname, sizeof(id->hostname), err, errlen)) ||
	    (r = ld_name(g, "date", id->date, sizeof(id->date), err, errlen)))
		return r;
	c->domains = id->domains;
	return 0;
}

/* ---- the fabric sections --------------------------------------------------- */

/* One fabric direction's figures of sizes[i] (g): "read" or "write". */
static int ld_fabric_op(const config_setting_t *g, struct cal_fabric *f, uint32_t i, int op,
			char *err, size_t errlen)
{
	const char *dir = op == CAL_FAB_READ ? "read" : "write";
	char k_med[16], k_p10[24], k_p90[24], k_p99[24], k_bw[16];
	int r;

	snprintf(k_med, sizeof(k_med), "%s_ns", dir);
	snprintf(k_p10, sizeof(k_p10), "%s_p10_ns", dir);
	snprintf(k_p90, sizeof(k_p90), "%s_p90_ns", dir);
	snprintf(k_p99, sizeof(k_p99), "%s_p99_ns", dir);
	snprintf(k_bw, sizeof(k_bw), "%s_gbps", dir);
	if ((r = core_cfg_double(g, k_med, true, 0, CAL_MAX_NS, &f->ns[op][i], err, errlen)) ||
	    (r = core_cfg_double(g, k_p10, true, 0, CAL_MAX_NS, &f->p10_ns[op][i], err, errlen)) ||
	    (r = core_cfg_double(g, k_p90, true, 0, CAL_MAX_NS, &f->p90_ns[op][i], err, errlen)) ||
	    (r = core_cfg_double(g, k_p99, true, 0, CAL_MAX_NS, &f->p99_ns[op][i], err, errlen)) ||
	    (r = core_cfg_double(g, k_bw, true, 0, CAL_MAX_GBPS, &f->gbps[op][i], err, errlen)))
		return r;
	if (f->ns[op][i] <= 0)
		return core_cfg_fail(g, k_med, err, errlen, "must be above 0");
	if (f->p10_ns[op][i] > f->ns[op][i] || f->p90_ns[op][i] < f->ns[op][i] ||
	    f->p99_ns[op][i] < f->p90_ns[op][i])
		return core_cfg_fail(g, NULL, err, errlen,
				     "%s %g, %s %g, %s %g, %s %g: they must not decrease", k_p10,
				     f->p10_ns[op][i], k_med, f->ns[op][i], k_p90, f->p90_ns[op][i],
				     k_p99, f->p99_ns[op][i]);
	return 0;
}

static int ld_fabric_sizes(const config_setting_t *fg, struct cal_fabric *f, char *err,
			   size_t errlen)
{
	static const char *const keys[] = { "size",	    "read_ns",	    "read_p10_ns",
					    "read_p90_ns",  "read_p99_ns",  "write_ns",
					    "write_p10_ns", "write_p90_ns", "write_p99_ns",
					    "read_gbps",    "write_gbps",   NULL };
	config_setting_t *s;
	int r, n;

	if ((r = ld_list(fg, "sizes", true, 1, CAL_MAX_SIZES, "sizes",
			 "{ size = 64; read_ns = 30000.0; ... }", &s, &n, err, errlen)))
		return r;
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(s, (unsigned)i);

		if ((r = core_cfg_known(g, keys, err, errlen)) ||
		    (r = core_cfg_u64(g, "size", true, 1, CAL_MAX_FLOOR_SIZE, &f->size[i], err,
				      errlen)) ||
		    (r = ld_fabric_op(g, f, (uint32_t)i, CAL_FAB_READ, err, errlen)) ||
		    (r = ld_fabric_op(g, f, (uint32_t)i, CAL_FAB_WRITE, err, errlen)) ||
		    (r = ld_increasing(g, "size", i, f->size[i], i ? f->size[i - 1] : 0, err,
				       errlen)))
			return r;
	}
	f->n = (uint32_t)n;
	return 0;
}

/* An address as in fabric.nodes: "host:port" or "[v6]:port". */
static int ld_addr(const config_setting_t *g, const char *key, char *out, char *err, size_t errlen)
{
	char host[CAL_ADDR_LEN];
	unsigned port;
	int r;

	if ((r = ld_name(g, key, out, CAL_ADDR_LEN, err, errlen)))
		return r;
	if (core_split_addr(out, host, sizeof(host), &port))
		return core_cfg_fail(g, key, err, errlen,
				     "\"%s\" is not host:port (as in rmc.conf's fabric.nodes)",
				     out);
	return 0;
}

static bool same_fabric(const struct cal_fabric *a, const struct cal_fabric *b)
{
	return !strcmp(a->name, b->name) && !strcmp(a->address, b->address) &&
	       !strcmp(a->peer, b->peer) && !strcmp(a->transports, b->transports);
}

/* fabrics[i] (g): one fabric, node and peer. */
static int ld_fabric(const config_setting_t *g, struct cal_fabric *f, char *err, size_t errlen)
{
	static const char *const keys[] = { "name",  "node",	   "address", "peer_node",
					    "peer",  "transports", "date",    "outstanding",
					    "sizes", NULL };
	int r;

	if ((r = core_cfg_known(g, keys, err, errlen)) ||
	    (r = ld_name(g, "name", f->name, sizeof(f->name), err, errlen)))
		return r;
	/* The only fabric whose transfers do not go through mapped memory,
	 * and so have a floor of their own. */
	if (strcmp(f->name, "ucx"))
		return core_cfg_fail(g, "name", err, errlen,
				     "\"%s\" is not a fabric with a calibration of its own "
				     "(\"ucx\")",
				     f->name);
	if ((r = core_cfg_u32(g, "node", true, 0, CORE_MAX_NODES - 1, &f->node, err, errlen)) ||
	    (r = core_cfg_u32(g, "peer_node", true, 0, CORE_MAX_NODES - 1, &f->peer_node, err,
			      errlen)) ||
	    (r = ld_addr(g, "address", f->address, err, errlen)) ||
	    (r = ld_addr(g, "peer", f->peer, err, errlen)) ||
	    (r = ld_name(g, "transports", f->transports, sizeof(f->transports), err, errlen)) ||
	    (r = ld_name(g, "date", f->date, sizeof(f->date), err, errlen)))
		return r;
	if (f->node == f->peer_node || !strcmp(f->address, f->peer))
		return core_cfg_fail(g, "peer", err, errlen,
				     "the peer (node %u at %s) is the node measured from (node %u "
				     "at %s)",
				     f->peer_node, f->peer, f->node, f->address);
	if ((r = core_cfg_u32(g, "outstanding", true, 1, 65536, &f->outstanding, err, errlen)))
		return r;
	return ld_fabric_sizes(g, f, err, errlen);
}

/* Optional: files written before it existed have none. */
static int ld_fabrics(const config_setting_t *root, struct cal_data *c, char *err, size_t errlen)
{
	config_setting_t *s;
	int r, n;

	c->n_fabrics = 0;
	if ((r = ld_list(root, "fabrics", false, 0, CAL_MAX_FABRICS, "sections",
			 "{ name = \"ucx\"; ... }", &s, &n, err, errlen)))
		return r;
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
		struct cal_fabric *f = &c->fabric[i];

		if ((r = ld_fabric(g, f, err, errlen)))
			return r;
		for (int j = 0; j < i; j++)
			if (same_fabric(&c->fabric[j], f))
				return core_cfg_fail(g, NULL, err, errlen,
						     "the same fabric, addresses and transports "
						     "as fabrics[%d]",
						     j);
		c->n_fabrics = (uint32_t)i + 1;
	}
	return 0;
}

/* ---- the optional sections: spread, sanity, agent ------------------------ */

/* The group root.key when it is there (*out NULL otherwise). */
static int ld_opt_group(const config_setting_t *root, const char *key, const char *const *keys,
			config_setting_t **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!config_setting_get_member(root, key))
		return 0;
	return ld_group(root, key, keys, out, err, errlen);
}

/* An array [ a, b, ... ] grp.key of 1 to max numbers in [lo, hi]: their
 * count into *n (left untouched when it is absent and not required). */
static int ld_array(const config_setting_t *grp, const char *key, bool required, double lo,
		    double hi, double *out, uint32_t max, uint32_t *n, char *err, size_t errlen)
{
	config_setting_t *s;
	int r, len;

	if ((r = core_cfg_get(grp, key, required, "an array of numbers", &s, err, errlen)) || !s)
		return r;
	if (!is_list(s))
		return core_cfg_fail(s, NULL, err, errlen,
				     "must be an array of numbers like [ 1.0, 2.0 ]");
	len = config_setting_length(s);
	if (len < 1 || (uint32_t)len > max)
		return core_cfg_fail(s, NULL, err, errlen, "must hold 1 to %u numbers (got %d)",
				     max, len);
	for (int i = 0; i < len; i++)
		if ((r = core_cfg_value_double(config_setting_get_elem(s, (unsigned)i), lo, hi,
					       &out[i], err, errlen)))
			return r;
	*n = (uint32_t)len;
	return 0;
}

/* An array grp.key of exactly want numbers, present; what says what it
 * must be when it holds another count. */
static int ld_array_n(const config_setting_t *grp, const char *key, double lo, double hi,
		      double *out, uint32_t want, const char *what, char *err, size_t errlen)
{
	config_setting_t *s = config_setting_get_member(grp, key);
	uint32_t n = 0;

	if (s && is_list(s) && (uint32_t)config_setting_length(s) != want)
		return core_cfg_fail(s, NULL, err, errlen, "holds %d numbers; %s",
				     config_setting_length(s), what);
	return ld_array(grp, key, true, lo, hi, out, want, &n, err, errlen);
}

/* p10 <= p90 for every cell of two matrices (the p90 one grp.key). */
static int ld_p10_p90(const config_setting_t *grp, const char *key, uint32_t domains,
		      const double lo[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS],
		      const double hi[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS], char *err, size_t errlen)
{
	for (uint32_t i = 0; i < domains; i++)
		for (uint32_t j = 0; j < domains; j++)
			if (lo[i][j] > hi[i][j])
				return core_cfg_fail(grp, key, err, errlen,
						     "[%u][%u] = %g is below the p10 (%g)", i, j,
						     hi[i][j], lo[i][j]);
	return 0;
}

/* spread.floor_p10_ns and floor_p90_ns: one figure per floor size, when
 * there are some (a floor added by hand has none: 0, unknown); none
 * without a floor. */
static int ld_spread_floor(const config_setting_t *g, struct cal_data *c, char *err, size_t errlen)
{
	const char *key = config_setting_get_member(g, "floor_p10_ns") ? "floor_p10_ns" :
			  config_setting_get_member(g, "floor_p90_ns") ? "floor_p90_ns" :
									 NULL;
	char what[96];
	int r;

	if (!key)
		return 0;
	if (!c->n_floor)
		return core_cfg_fail(g, key, err, errlen, "the file has no floor");
	snprintf(what, sizeof(what), "floor has %u sizes", c->n_floor);
	if ((r = ld_array_n(g, "floor_p10_ns", 0, CAL_MAX_NS, c->floor_p10_ns, c->n_floor, what,
			    err, errlen)) ||
	    (r = ld_array_n(g, "floor_p90_ns", 0, CAL_MAX_NS, c->floor_p90_ns, c->n_floor, what,
			    err, errlen)))
		return r;
	for (uint32_t i = 0; i < c->n_floor; i++)
		if (c->floor_p10_ns[i] > c->floor_p90_ns[i])
			return core_cfg_fail(g, "floor_p90_ns", err, errlen,
					     "[%u] = %g is below the p10 (%g)", i,
					     c->floor_p90_ns[i], c->floor_p10_ns[i]);
	return 0;
}

/* spread.rounds_rtt_ns and rounds_floor_64_ns, the latter only with the
 * former and as long. */
static int ld_spread_rounds(const config_setting_t *g, struct cal_data *c, char *err, size_t errlen)
{
	char what[96];
	int r;

	if ((r = ld_array(g, "rounds_rtt_ns", false, 0, CAL_MAX_NS, c->round_rtt_ns, CAL_MAX_ROUNDS,
			  &c->n_rounds, err, errlen)))
		return r;
	if (!config_setting_get_member(g, "rounds_floor_64_ns"))
		return 0;
	if (!c->n_rounds)
		return core_cfg_fail(g, "rounds_floor_64_ns", err, errlen,
				     "goes with rounds_rtt_ns");
	snprintf(what, sizeof(what), "spread.rounds_rtt_ns has %u", c->n_rounds);
	if ((r = ld_array_n(g, "rounds_floor_64_ns", 0, CAL_MAX_NS, c->round_floor_ns, c->n_rounds,
			    what, err, errlen)))
		return r;
	c->n_round_floor = c->n_rounds;
	return 0;
}

static int ld_spread(const config_setting_t *root, struct cal_data *c, char *err, size_t errlen)
{
	static const char *const keys[] = { "tsc_ppm",
					    "tsc_read_ns",
					    "rtt_p10_ns",
					    "rtt_p90_ns",
					    "load_p10_ns",
					    "load_p90_ns",
					    "copy_p10_gbps",
					    "copy_p90_gbps",
					    "floor_p10_ns",
					    "floor_p90_ns",
					    "rounds_rtt_ns",
					    "rounds_floor_64_ns",
					    NULL };
	const uint32_t d = c->domains;
	config_setting_t *g;
	double tr[2];
	int r;

	if ((r = ld_opt_group(root, "spread", keys, &g, err, errlen)) || !g)
		return r;
	if ((r = core_cfg_double(g, "tsc_ppm", true, 0, 1e6, &c->tsc_ppm, err, errlen)) ||
	    (r = ld_array_n(g, "tsc_read_ns", 0, 1e6, tr, 2, "must be [ p10, p90 ]", err, errlen)))
		return r;
	if (tr[0] > tr[1])
		return core_cfg_fail(g, "tsc_read_ns", err, errlen,
				     "the p90 (%g) is below the p10 (%g)", tr[1], tr[0]);
	c->tsc_read_p10_ns = tr[0], c->tsc_read_p90_ns = tr[1];
	if ((r = ld_matrix(g, "rtt_p10_ns", d, CAL_MAX_NS, c->rtt_p10_ns, err, errlen)) ||
	    (r = ld_matrix(g, "rtt_p90_ns", d, CAL_MAX_NS, c->rtt_p90_ns, err, errlen)) ||
	    (r = ld_matrix(g, "load_p10_ns", d, CAL_MAX_NS, c->load_p10_ns, err, errlen)) ||
	    (r = ld_matrix(g, "load_p90_ns", d, CAL_MAX_NS, c->load_p90_ns, err, errlen)) ||
	    (r = ld_matrix(g, "copy_p10_gbps", d, CAL_MAX_GBPS, c->copy_p10_gbps, err, errlen)) ||
	    (r = ld_matrix(g, "copy_p90_gbps", d, CAL_MAX_GBPS, c->copy_p90_gbps, err, errlen)) ||
	    (r = ld_p10_p90(g, "rtt_p90_ns", d, c->rtt_p10_ns, c->rtt_p90_ns, err, errlen)) ||
	    (r = ld_p10_p90(g, "load_p90_ns", d, c->load_p10_ns, c->load_p90_ns, err, errlen)) ||
	    (r = ld_p10_p90(g, "copy_p90_gbps", d, c->copy_p10_gbps, c->copy_p90_gbps, err,
			    errlen)) ||
	    (r = ld_spread_floor(g, c, err, errlen)) || (r = ld_spread_rounds(g, c, err, errlen)))
		return r;
	c->has_spread = true;
	return 0;
}

static int ld_sanity(const config_setting_t *root, struct cal_data *c, char *err, size_t errlen)
{
	static const char *const keys[] = { "floor_per_rtt", "floor_per_rtt_max", "disturbed",
					    "why", NULL };
	config_setting_t *g;
	int r;

	if ((r = ld_opt_group(root, "sanity", keys, &g, err, errlen)) || !g)
		return r;
	if ((r = core_cfg_double(g, "floor_per_rtt_max", true, 1, 1e3, &c->floor_per_rtt_max, err,
				 errlen)) ||
	    (r = core_cfg_bool(g, "disturbed", true, &c->disturbed, err, errlen)) ||
	    (r = core_cfg_double(g, "floor_per_rtt", false, 0, 1e6, &c->floor_per_rtt, err,
				 errlen)))
		return r;
	if (c->disturbed &&
	    (r = ld_name(g, "why", c->disturbed_why, sizeof(c->disturbed_why), err, errlen)))
		return r;
	if (!c->disturbed && config_setting_get_member(g, "why"))
		return core_cfg_fail(g, "why", err, errlen, "goes with disturbed = true");
	c->has_sanity = true;
	return 0;
}

/* agent.floor[i] (e): one size, in memory and in cache, above the one before. */
static int ld_agent_size(const config_setting_t *e, struct cal_data *c, int i, char *err,
			 size_t errlen)
{
	static const char *const keys[] = {
		"size",	     "median_ns",     "p10_ns",	       "p90_ns",	"p99_ns",
		"cached_ns", "cached_p10_ns", "cached_p90_ns", "cached_p99_ns", NULL
	};
	struct cal_agent_floor *a = &c->agent_floor[i];
	int r;

	if ((r = core_cfg_known(e, keys, err, errlen)) ||
	    (r = core_cfg_u64(e, "size", true, 1, CAL_MAX_FLOOR_SIZE, &a->size, err, errlen)))
		return r;
	/* The figures, keys[1] on. */
	double *const v[] = {
		&a->median_ns, &a->p10_ns,	  &a->p90_ns,	     &a->p99_ns,
		&a->cached_ns, &a->cached_p10_ns, &a->cached_p90_ns, &a->cached_p99_ns
	};
	for (unsigned k = 0; k < CORE_ARRAY_SIZE(v); k++)
		if ((r = core_cfg_double(e, keys[k + 1], true, 0, CAL_MAX_NS, v[k], err, errlen)))
			return r;
	if (a->median_ns <= 0 || a->cached_ns <= 0)
		return core_cfg_fail(e, NULL, err, errlen,
				     "median_ns and cached_ns must be above 0");
	if (a->p10_ns > a->median_ns || a->median_ns > a->p90_ns || a->p90_ns > a->p99_ns ||
	    a->cached_p10_ns > a->cached_ns || a->cached_ns > a->cached_p90_ns ||
	    a->cached_p90_ns > a->cached_p99_ns)
		return core_cfg_fail(e, NULL, err, errlen,
				     "the percentiles must not decrease: p10 <= median <= p90 "
				     "<= p99, and the same for cached_*");
	return ld_increasing(e, NULL, i, a->size, i ? c->agent_floor[i - 1].size : 0, err, errlen);
}

static int ld_agent(const config_setting_t *root, struct cal_data *c, char *err, size_t errlen)
{
	static const char *const keys[] = {
		"cpus",	 "window", "rate_64_mops", "rate_64_min_mops", "rate_64_max_mops",
		"floor", NULL
	};
	config_setting_t *g, *l;
	double cpus[2];
	int r, n;

	if ((r = ld_opt_group(root, "agent", keys, &g, err, errlen)) || !g)
		return r;
	if ((r = ld_array_n(g, "cpus", 0, CAL_MAX_CORES, cpus, 2,
			    "must be [ the poster's CPU, the agent's ]", err, errlen)) ||
	    (r = core_cfg_u32(g, "window", true, 1, 256, &c->agent_window, err, errlen)) ||
	    (r = core_cfg_double(g, "rate_64_mops", true, 0, 1e6, &c->agent_rate_64_mops, err,
				 errlen)) ||
	    (r = core_cfg_double(g, "rate_64_min_mops", true, 0, 1e6, &c->agent_rate_64_min_mops,
				 err, errlen)) ||
	    (r = core_cfg_double(g, "rate_64_max_mops", true, 0, 1e6, &c->agent_rate_64_max_mops,
				 err, errlen)))
		return r;
	if (cpus[0] != (int32_t)cpus[0] || cpus[1] != (int32_t)cpus[1])
		return core_cfg_fail(g, "cpus", err, errlen, "must be CPU numbers");
	c->agent_cpu[0] = (int32_t)cpus[0], c->agent_cpu[1] = (int32_t)cpus[1];
	if (c->agent_rate_64_mops <= 0 || c->agent_rate_64_min_mops > c->agent_rate_64_mops ||
	    c->agent_rate_64_mops > c->agent_rate_64_max_mops)
		return core_cfg_fail(g, "rate_64_mops", err, errlen,
				     "must be above 0, between rate_64_min_mops (%g) and "
				     "rate_64_max_mops (%g) (got %g)",
				     c->agent_rate_64_min_mops, c->agent_rate_64_max_mops,
				     c->agent_rate_64_mops);
	if ((r = ld_list(g, "floor", true, 0, CAL_MAX_SIZES, "sizes",
			 "{ size = 64; median_ns = ..; ... }", &l, &n, err, errlen)))
		return r;
	for (int i = 0; i < n; i++)
		if ((r = ld_agent_size(config_setting_get_elem(l, (unsigned)i), c, i, err, errlen)))
			return r;
	c->n_agent = (uint32_t)n;
	c->has_agent = true;
	return 0;
}

static int ld_all(config_t *cf, struct cal_data *c, char *err, size_t errlen)
{
	/* fabrics, spread, sanity and agent are optional: files written
	 * before them load without. */
	static const char *const top[] = { "version",	  "machine",	   "tsc",	"rtt_ns",
					   "notify_ns",	  "load_ns",	   "copy_gbps", "floor",
					   "overhead_ns", "papi_counters", "rmc_ko",	"fabrics",
					   "spread",	  "sanity",	   "agent",	NULL };
	static const char *const tsc[] = { "hz", "read_ns", "invariant", NULL };
	config_setting_t *root = config_root_setting(cf), *g;
	int r;

	if ((r = ld_version(root, c, err, errlen)) ||
	    (r = core_cfg_known(root, top, err, errlen)) || (r = ld_machine(root, c, err, errlen)))
		return r;
	if ((r = ld_group(root, "tsc", tsc, &g, err, errlen)) ||
	    (r = core_cfg_double(g, "hz", true, 1e6, 1e11, &c->tsc_hz, err, errlen)) ||
	    (r = core_cfg_double(g, "read_ns", true, 0, 1e6, &c->tsc_read_ns, err, errlen)) ||
	    (r = core_cfg_bool(g, "invariant", true, &c->tsc_invariant, err, errlen)))
		return r;
	if ((r = ld_matrix(root, "rtt_ns", c->domains, CAL_MAX_NS, c->rtt_ns, err, errlen)) ||
	    (r = ld_matrix(root, "notify_ns", c->domains, CAL_MAX_NS, c->notify_ns, err, errlen)) ||
	    (r = ld_matrix(root, "load_ns", c->domains, CAL_MAX_NS, c->load_ns, err, errlen)) ||
	    (r = ld_matrix(root, "copy_gbps", c->domains, CAL_MAX_GBPS, c->copy_gbps, err,
			   errlen)) ||
	    (r = ld_floor(root, c, err, errlen)))
		return r;
	/* Optional: files from before it was measured have none, or before
	 * rmc.ko existed. */
	c->overhead_ns = 0;
	c->rmc_ko = false;
	if ((r = core_cfg_double(root, "overhead_ns", false, 0, 1e5, &c->overhead_ns, err,
				 errlen)) ||
	    (r = core_cfg_bool(root, "rmc_ko", false, &c->rmc_ko, err, errlen)))
		return r;
	if ((r = ld_spread(root, c, err, errlen)) || (r = ld_sanity(root, c, err, errlen)) ||
	    (r = ld_agent(root, c, err, errlen)) ||
	    (r = core_cfg_bool(root, "papi_counters", true, &c->papi_counters, err, errlen)))
		return r;
	return ld_fabrics(root, c, err, errlen);
}

int cal_load(const char *path, struct cal_data *c, char *err, size_t errlen)
{
	config_t cf;
	FILE *f;
	int r;

	memset(c, 0, sizeof(*c));
	/* Opened here first for the caller's -errno (-ENOENT: no file);
	 * libconfig then reads it by name, so that messages name it. */
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	fclose(f);
	config_init(&cf);
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s: cannot read", path);
		else
			snprintf(err, errlen, "%s:%d: %s", path, config_error_line(&cf),
				 config_error_text(&cf));
		r = -EINVAL;
	} else {
		r = ld_all(&cf, c, err, errlen);
	}
	config_destroy(&cf);
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

static void sv_array(config_setting_t *g, const char *key, const double *v, uint32_t n, bool *ok)
{
	config_setting_t *a = config_setting_add(g, key, CONFIG_TYPE_ARRAY);

	for (uint32_t i = 0; i < n && sv_ok(a, ok); i++)
		*ok = config_setting_set_float_elem(a, -1, v[i]) != NULL;
}

static bool sv_in(double v, double lo, double hi)
{
	return isfinite(v) && v >= lo && v <= hi;
}

/* What ld_optional_sections would refuse: 0, or -EINVAL with err. */
static int sv_check_optional(const struct cal_data *c, char *err, size_t errlen)
{
#define SV_BAD(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)
	if (c->has_spread) {
		const double(*const lo[])[CAL_MAX_DOMAINS] = { c->rtt_p10_ns, c->load_p10_ns,
							       c->copy_p10_gbps };
		const double(*const hi[])[CAL_MAX_DOMAINS] = { c->rtt_p90_ns, c->load_p90_ns,
							       c->copy_p90_gbps };
		static const char *const names[] = { "rtt", "load", "copy" };

		if (!sv_in(c->tsc_ppm, 0, 1e6) || !sv_in(c->tsc_read_p10_ns, 0, 1e6) ||
		    !sv_in(c->tsc_read_p90_ns, c->tsc_read_p10_ns, 1e6))
			return SV_BAD("spread of the TSC out of range");
		for (unsigned k = 0; k < CORE_ARRAY_SIZE(lo); k++)
			for (uint32_t i = 0; i < c->domains; i++)
				for (uint32_t j = 0; j < c->domains; j++)
					if (!sv_in(lo[k][i][j], 0, CAL_MAX_NS) ||
					    !sv_in(hi[k][i][j], lo[k][i][j], CAL_MAX_NS))
						return SV_BAD("spread of %s[%u][%u] out of range",
							      names[k], i, j);
		for (uint32_t i = 0; i < c->n_floor; i++)
			if (!sv_in(c->floor_p10_ns[i], 0, CAL_MAX_NS) ||
			    !sv_in(c->floor_p90_ns[i], c->floor_p10_ns[i], CAL_MAX_NS))
				return SV_BAD("spread of the floor for %llu bytes out of range",
					      (unsigned long long)c->floor_size[i]);
		if (c->n_rounds > CAL_MAX_ROUNDS ||
		    (c->n_round_floor && c->n_round_floor != c->n_rounds))
			return SV_BAD("%u rounds with %u floors", c->n_rounds, c->n_round_floor);
		for (uint32_t i = 0; i < c->n_rounds; i++)
			if (!sv_in(c->round_rtt_ns[i], 0, CAL_MAX_NS) ||
			    (c->n_round_floor && !sv_in(c->round_floor_ns[i], 0, CAL_MAX_NS)))
				return SV_BAD("round %u out of range", i);
	}
	if (c->has_sanity &&
	    (!sv_in(c->floor_per_rtt_max, 1, 1e3) || !sv_in(c->floor_per_rtt, 0, 1e6) ||
	     (c->disturbed && !c->disturbed_why[0])))
		return SV_BAD("sanity check out of range, or disturbed without a reason");
	if (c->has_agent) {
		if (!(c->agent_rate_64_mops > 0) ||
		    !sv_in(c->agent_rate_64_min_mops, 0, c->agent_rate_64_mops) ||
		    !sv_in(c->agent_rate_64_max_mops, c->agent_rate_64_mops, 1e6) ||
		    c->agent_window < 1 || c->agent_window > 256 || c->agent_cpu[0] < 0 ||
		    c->agent_cpu[1] < 0 || c->n_agent > CAL_MAX_SIZES)
			return SV_BAD(
				"the agent's rate %g Mops (%g..%g) or its set-up out of range",
				c->agent_rate_64_mops, c->agent_rate_64_min_mops,
				c->agent_rate_64_max_mops);
		for (uint32_t i = 0; i < c->n_agent; i++) {
			const struct cal_agent_floor *a = &c->agent_floor[i];
			if (a->size < 1 || a->size > CAL_MAX_FLOOR_SIZE ||
			    (i && a->size <= c->agent_floor[i - 1].size) ||
			    !sv_in(a->median_ns, 1e-9, CAL_MAX_NS) ||
			    !sv_in(a->p10_ns, 0, a->median_ns) ||
			    !sv_in(a->p90_ns, a->median_ns, CAL_MAX_NS) ||
			    !sv_in(a->p99_ns, a->p90_ns, CAL_MAX_NS) ||
			    !sv_in(a->cached_ns, 1e-9, CAL_MAX_NS) ||
			    !sv_in(a->cached_p10_ns, 0, a->cached_ns) ||
			    !sv_in(a->cached_p90_ns, a->cached_ns, CAL_MAX_NS) ||
			    !sv_in(a->cached_p99_ns, a->cached_p90_ns, CAL_MAX_NS))
				return SV_BAD("the agent's floor for %llu bytes out of range",
					      (unsigned long long)a->size);
		}
	}
#undef SV_BAD
	return 0;
}

static void sv_optional_sections(config_setting_t *root, const struct cal_data *c, bool *ok)
{
	config_setting_t *g, *l, *e;

	if (c->has_spread && sv_ok(g = config_setting_add(root, "spread", CONFIG_TYPE_GROUP), ok)) {
		double tr[2] = { c->tsc_read_p10_ns, c->tsc_read_p90_ns };

		sv_float(g, "tsc_ppm", c->tsc_ppm, ok);
		sv_array(g, "tsc_read_ns", tr, 2, ok);
		sv_matrix(g, "rtt_p10_ns", c->domains, c->rtt_p10_ns, ok);
		sv_matrix(g, "rtt_p90_ns", c->domains, c->rtt_p90_ns, ok);
		sv_matrix(g, "load_p10_ns", c->domains, c->load_p10_ns, ok);
		sv_matrix(g, "load_p90_ns", c->domains, c->load_p90_ns, ok);
		sv_matrix(g, "copy_p10_gbps", c->domains, c->copy_p10_gbps, ok);
		sv_matrix(g, "copy_p90_gbps", c->domains, c->copy_p90_gbps, ok);
		if (c->n_floor && c->floor_p90_ns[0] > 0) {
			sv_array(g, "floor_p10_ns", c->floor_p10_ns, c->n_floor, ok);
			sv_array(g, "floor_p90_ns", c->floor_p90_ns, c->n_floor, ok);
		}
		if (c->n_rounds)
			sv_array(g, "rounds_rtt_ns", c->round_rtt_ns, c->n_rounds, ok);
		if (c->n_rounds && c->n_round_floor)
			sv_array(g, "rounds_floor_64_ns", c->round_floor_ns, c->n_round_floor, ok);
	}
	if (c->has_sanity && sv_ok(g = config_setting_add(root, "sanity", CONFIG_TYPE_GROUP), ok)) {
		if (c->floor_per_rtt > 0)
			sv_float(g, "floor_per_rtt", c->floor_per_rtt, ok);
		sv_float(g, "floor_per_rtt_max", c->floor_per_rtt_max, ok);
		sv_bool(g, "disturbed", c->disturbed, ok);
		if (c->disturbed)
			sv_string(g, "why", c->disturbed_why, ok);
	}
	if (c->has_agent && sv_ok(g = config_setting_add(root, "agent", CONFIG_TYPE_GROUP), ok)) {
		config_setting_t *cpus = config_setting_add(g, "cpus", CONFIG_TYPE_ARRAY);

		for (int i = 0; i < 2 && sv_ok(cpus, ok); i++)
			*ok = config_setting_set_int_elem(cpus, -1, c->agent_cpu[i]) != NULL;
		sv_int(g, "window", c->agent_window, ok);
		sv_float(g, "rate_64_mops", c->agent_rate_64_mops, ok);
		sv_float(g, "rate_64_min_mops", c->agent_rate_64_min_mops, ok);
		sv_float(g, "rate_64_max_mops", c->agent_rate_64_max_mops, ok);
		l = config_setting_add(g, "floor", CONFIG_TYPE_LIST);
		for (uint32_t i = 0; i < c->n_agent && sv_ok(l, ok); i++) {
			const struct cal_agent_floor *a = &c->agent_floor[i];
			if (!sv_ok(e = config_setting_add(l, NULL, CONFIG_TYPE_GROUP), ok))
				break;
			sv_int(e, "size", a->size, ok);
			sv_float(e, "median_ns", a->median_ns, ok);
			sv_float(e, "p10_ns", a->p10_ns, ok);
			sv_float(e, "p90_ns", a->p90_ns, ok);
			sv_float(e, "p99_ns", a->p99_ns, ok);
			sv_float(e, "cached_ns", a->cached_ns, ok);
			sv_float(e, "cached_p10_ns", a->cached_p10_ns, ok);
			sv_float(e, "cached_p90_ns", a->cached_p90_ns, ok);
			sv_float(e, "cached_p99_ns", a->cached_p99_ns, ok);
		}
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
	return sv_check_optional(c, err, errlen);
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
	sv_optional_sections(root, c, ok);
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
		fprintf(f,
			"# spread: p10 and p90 of each probe, and the medians of the repeats of\n"
			"# the round trip and the 64 B floor, measured in turn; sanity: the 64 B\n"
			"# floor in round trips, and whether the machine looked disturbed; agent: a\n"
			"# minimal polling agent on the same queue-pair format, the baseline: its\n"
			"# 64 B asynchronous read rate (Mops) and its synchronous in-place floor\n"
			"# per size, from memory beyond the caches and (cached_*) in cache.\n");
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

double cal_agent_floor_ns(const struct cal_data *c, uint64_t size, bool cached)
{
	uint64_t sizes[CAL_MAX_SIZES];
	double ns[CAL_MAX_SIZES];
	uint32_t n = c->has_agent ? c->n_agent : 0;

	if (!n || size > c->agent_floor[n - 1].size)
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		sizes[i] = c->agent_floor[i].size;
		ns[i] = cached ? c->agent_floor[i].cached_ns : c->agent_floor[i].median_ns;
	}
	return interpolate(n, sizes, ns, size);
}
