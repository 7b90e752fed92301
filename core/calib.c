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
 *
 * A figure of 0 in a matrix means "not measured" (a domain without CPUs).
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
 * "FILE:LINE: NAME: what", a missing setting "FILE:LINE: missing NAME". */

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

/* A string of the machine group, present and not empty. */
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

/* floor[i]: one measured size, above the one before. */
static int ld_floor_size(const config_setting_t *g, struct cal_data *c, int i, char *err,
			 size_t errlen)
{
	static const char *const keys[] = { "size", "median_ns", "p99_ns", NULL };
	int r;

	if (config_setting_type(g) != CONFIG_TYPE_GROUP)
		return core_cfg_fail(g, NULL, err, errlen,
				     "must be a group { size = ..; median_ns = ..; p99_ns = ..; }");
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
	if (i > 0 && c->floor_size[i] <= c->floor_size[i - 1])
		return core_cfg_fail(g, NULL, err, errlen, "sizes must increase (%llu after %llu)",
				     (unsigned long long)c->floor_size[i],
				     (unsigned long long)c->floor_size[i - 1]);
	return 0;
}

static int ld_floor(const config_setting_t *root, struct cal_data *c, char *err, size_t errlen)
{
	config_setting_t *s;
	int r, n;

	if ((r = core_cfg_get(root, "floor", true, "a list of groups", &s, err, errlen)))
		return r;
	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return core_cfg_fail(s, NULL, err, errlen,
				     "must be a list of groups like "
				     "( { size = 64; median_ns = 900.0; p99_ns = 1500.0; } )");
	n = config_setting_length(s);
	if (n > CAL_MAX_SIZES)
		return core_cfg_fail(s, NULL, err, errlen, "at most %d sizes (got %d)",
				     CAL_MAX_SIZES, n);
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

static int ld_all(config_t *cf, struct cal_data *c, char *err, size_t errlen)
{
	static const char *const top[] = { "version",	  "machine",	   "tsc",	"rtt_ns",
					   "notify_ns",	  "load_ns",	   "copy_gbps", "floor",
					   "overhead_ns", "papi_counters", "rmc_ko",	NULL };
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
	return core_cfg_bool(root, "papi_counters", true, &c->papi_counters, err, errlen);
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
#undef SV_BAD
	return 0;
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
			   "# with the none model, per size in bytes.\n");
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

double cal_floor_ns(const struct cal_data *c, uint64_t size)
{
	uint32_t n = c->n_floor, i;
	double slope;

	if (!n)
		return 0;
	/* Below the smallest size measured (or with one size only): that
	 * size's floor; a smaller request is not cheaper to pick up. */
	if (size <= c->floor_size[0] || n == 1)
		return c->floor_ns[0];
	for (i = 1; i < n; i++)
		if (size <= c->floor_size[i]) {
			/* Log-linear: the sizes are powers apart, the cost grows
			 * smoothly with the logarithm of the size between them. */
			double x0 = log((double)c->floor_size[i - 1]);
			double x1 = log((double)c->floor_size[i]);
			double t = (log((double)size) - x0) / (x1 - x0);
			return c->floor_ns[i - 1] + t * (c->floor_ns[i] - c->floor_ns[i - 1]);
		}
	/* Beyond the largest size: linear in bytes, with the slope of the last
	 * segment (never downwards: a larger copy does not get cheaper). */
	slope = (c->floor_ns[n - 1] - c->floor_ns[n - 2]) /
		(double)(c->floor_size[n - 1] - c->floor_size[n - 2]);
	if (slope < 0)
		slope = 0;
	return c->floor_ns[n - 1] + slope * (double)(size - c->floor_size[n - 1]);
}
