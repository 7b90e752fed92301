/* SPDX-License-Identifier: MIT */
/*
 * numa_check: the guest-side checker of the QEMU NUMA test (numa2.sh).
 *
 *   numa_check ctx [-d DOMAIN]
 *       Runs as an application of node $SONUMA_NODE (under $SONUMA_RUNDIR):
 *       maps the node's context with kal_reg_ctx() and asks the kernel, with
 *       get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR), on which NUMA domain each
 *       page sits.  Passes when kal_info() reports the expected domain and
 *       every page checked is on it.  DOMAIN defaults to the node id (node i
 *       goes on domain i % domains, and the test has as many domains as nodes).
 *
 *   numa_check calib FILE [-n DOMAINS]
 *       Reads a calibration file written by sonuma-calibrate (libconfig) and
 *       checks that it says domains = DOMAINS (default 2) and holds a
 *       DOMAINS x DOMAINS notify_ns matrix of positive numbers; prints the
 *       matrices it finds.
 *
 * Exit status: 0 when the check passes, 1 when it fails, 2 on bad usage.
 * The last line printed says PASS or FAIL and why.
 */
#include <errno.h>
#include <libconfig.h>
#include <math.h>
#include <numaif.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sonuma.h"

#define MAX_DOMAINS 64
/* Pages checked at most (evenly spread, always including the last one). */
#define MAX_SAMPLES 65536

static int usage(void)
{
	fprintf(stderr, "Usage: numa_check ctx [-d DOMAIN]\n"
			"       numa_check calib FILE [-n DOMAINS]\n");
	return 2;
}

static int parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

static const char *mode_name(int mode)
{
	/* The mode flags (static/relative nodes) sit in the high bits. */
	switch (mode & 0xff) {
	case MPOL_DEFAULT:
		return "default";
	case MPOL_PREFERRED:
		return "preferred";
	case MPOL_BIND:
		return "bind";
	case MPOL_INTERLEAVE:
		return "interleave";
	default:
		return "other";
	}
}

static int check_ctx(int argc, char **argv)
{
	int expect = -1, fd, r;
	struct kal_info info;
	uint8_t *ctx = NULL;
	long psz = sysconf(_SC_PAGESIZE);
	uint64_t pages, samples, on_node[MAX_DOMAINS + 1] = { 0 }, wrong = 0, errs = 0;
	const char *node_env = getenv("SONUMA_NODE");

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "-d") && i + 1 < argc) {
			if (parse_int(argv[++i], 0, MAX_DOMAINS - 1, &expect))
				return usage();
		} else {
			return usage();
		}
	}

	fd = kal_open((char *)RMC_DEV);
	if (fd < 0) {
		printf("numa_check: FAIL: cannot attach to node %s: %s\n",
		       node_env ? node_env : "0", strerror(-fd));
		return 1;
	}
	if ((r = kal_info(fd, &info)) < 0) {
		printf("numa_check: FAIL: kal_info: %s\n", strerror(-r));
		return 1;
	}
	if (expect < 0)
		expect = (int)info.nid;
	printf("numa_check: node %u of %u: kal_info numa = %d (expected %d), context %llu "
	       "bytes, app CPUs mask 0x%llx\n",
	       info.nid, info.nodes, info.numa, expect, (unsigned long long)info.context_size,
	       (unsigned long long)info.app_cpus[0]);
	if (info.context_size == 0 || info.context_size % (uint64_t)psz) {
		printf("numa_check: FAIL: context size %llu is not a whole number of pages\n",
		       (unsigned long long)info.context_size);
		return 1;
	}
	pages = info.context_size / (uint64_t)psz;
	if ((r = kal_reg_ctx(fd, &ctx, (uint32_t)pages)) < 0 || !ctx) {
		printf("numa_check: FAIL: kal_reg_ctx(%llu pages): %s\n", (unsigned long long)pages,
		       strerror(r < 0 ? -r : EINVAL));
		return 1;
	}

	/* The policy the kernel holds for the first page (informational). */
	{
		int mode = -1;
		unsigned long mask[16] = { 0 };
		if (get_mempolicy(&mode, mask, sizeof(mask) * 8, ctx, MPOL_F_ADDR) == 0) {
			char nodes[256] = "";
			for (int n = 0; n < MAX_DOMAINS; n++)
				if (mask[n / (8 * sizeof(long))] >> (n % (8 * sizeof(long))) & 1)
					snprintf(nodes + strlen(nodes),
						 sizeof(nodes) - strlen(nodes), "%s%d",
						 nodes[0] ? "," : "", n);
			printf("numa_check: memory policy of the context: %s {%s}\n",
			       mode_name(mode), nodes);
		} else {
			printf("numa_check: get_mempolicy(MPOL_F_ADDR): %s\n", strerror(errno));
		}
	}

	samples = pages < MAX_SAMPLES ? pages : MAX_SAMPLES;
	for (uint64_t s = 0; s < samples; s++) {
		uint64_t pg = samples == 1 ? 0 : s * (pages - 1) / (samples - 1);
		void *addr = ctx + pg * (uint64_t)psz;
		int node = -1;

		if (get_mempolicy(&node, NULL, 0, addr, MPOL_F_NODE | MPOL_F_ADDR) < 0) {
			if (errs++ < 5)
				printf("numa_check: page %llu: get_mempolicy: %s\n",
				       (unsigned long long)pg, strerror(errno));
			continue;
		}
		on_node[node >= 0 && node < MAX_DOMAINS ? node : MAX_DOMAINS]++;
		if (node != expect && wrong++ < 5)
			printf("numa_check: page %llu (offset 0x%llx) is on domain %d\n",
			       (unsigned long long)pg, (unsigned long long)pg * (uint64_t)psz,
			       node);
	}
	printf("numa_check: node %u: checked %llu of %llu pages:", info.nid,
	       (unsigned long long)samples, (unsigned long long)pages);
	for (int n = 0; n <= MAX_DOMAINS; n++)
		if (on_node[n]) {
			if (n < MAX_DOMAINS)
				printf(" %llu on domain %d;", (unsigned long long)on_node[n], n);
			else
				printf(" %llu on an unknown domain;",
				       (unsigned long long)on_node[n]);
		}
	if (errs)
		printf(" %llu could not be queried;", (unsigned long long)errs);
	printf("\n");

	if (info.numa != expect) {
		printf("numa_check: FAIL: kal_info says node %u is on domain %d, expected %d\n",
		       info.nid, info.numa, expect);
		return 1;
	}
	if (wrong || errs) {
		printf("numa_check: FAIL: %llu of %llu pages not on domain %d (%llu not queried)\n",
		       (unsigned long long)wrong, (unsigned long long)samples, expect,
		       (unsigned long long)errs);
		return 1;
	}
	printf("numa_check: PASS: node %u: all %llu pages checked are on domain %d\n", info.nid,
	       (unsigned long long)samples, expect);
	kal_close(fd);
	return 0;
}

/* ---- the calibration file ------------------------------------------------ */

static int is_number(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64 || t == CONFIG_TYPE_FLOAT;
}

static double number(const config_setting_t *s)
{
	if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
		return config_setting_get_float(s);
	return (double)config_setting_get_int64(s);
}

static int is_aggregate(const config_setting_t *s)
{
	int t = config_setting_type(s);
	return t == CONFIG_TYPE_GROUP || t == CONFIG_TYPE_LIST || t == CONFIG_TYPE_ARRAY;
}

/* Every setting called name, anywhere in the file, shallowest first. */
static int find_all(const config_setting_t *root, const char *name, const config_setting_t **out,
		    int max)
{
	const config_setting_t *level[256], *next[256];
	int n_level = 1, found = 0;

	level[0] = root;
	while (n_level && found < max) {
		int n_next = 0;
		for (int i = 0; i < n_level; i++) {
			if (config_setting_type(level[i]) != CONFIG_TYPE_GROUP)
				continue;
			int len = config_setting_length(level[i]);
			for (int k = 0; k < len; k++) {
				const config_setting_t *c =
					config_setting_get_elem(level[i], (unsigned)k);
				const char *cn = config_setting_name(c);
				if (cn && !strcmp(cn, name) && found < max)
					out[found++] = c;
				if (config_setting_type(c) == CONFIG_TYPE_GROUP && n_next < 256)
					next[n_next++] = c;
			}
		}
		memcpy(level, next, sizeof(next[0]) * (size_t)n_next);
		n_level = n_next;
	}
	return found;
}

/* Prints a matrix setting; returns 0 when it is dom x dom of finite positive
 * numbers, else -1 with why. */
static int print_matrix(const config_setting_t *m, const char *name, int dom, char *why,
			size_t whylen)
{
	int rows, ok = 0;

	if (!is_aggregate(m) || config_setting_type(m) == CONFIG_TYPE_GROUP) {
		snprintf(why, whylen, "%s is not a list of rows", name);
		return -1;
	}
	rows = config_setting_length(m);
	printf("numa_check: %s (%d rows, from \\ to):\n", name, rows);
	for (int i = 0; i < rows; i++) {
		const config_setting_t *row = config_setting_get_elem(m, (unsigned)i);
		int cols;

		if (!is_aggregate(row) || config_setting_type(row) == CONFIG_TYPE_GROUP) {
			snprintf(why, whylen, "%s row %d is not a list", name, i);
			return -1;
		}
		cols = config_setting_length(row);
		printf("numa_check:   %s[%d] =", name, i);
		for (int j = 0; j < cols; j++) {
			const config_setting_t *e = config_setting_get_elem(row, (unsigned)j);
			if (!is_number(e)) {
				printf(" (not a number)");
				if (!ok++)
					snprintf(why, whylen, "%s[%d][%d] is not a number", name, i,
						 j);
				continue;
			}
			double v = number(e);
			printf(" %.1f", v);
			if (!(isfinite(v) && v > 0) && !ok++)
				snprintf(why, whylen, "%s[%d][%d] = %g is not a positive number",
					 name, i, j, v);
		}
		printf("\n");
		if (cols != dom && !ok++)
			snprintf(why, whylen, "%s row %d has %d entries, expected %d", name, i,
				 cols, dom);
	}
	if (rows != dom && !ok++)
		snprintf(why, whylen, "%s has %d rows, expected %d", name, rows, dom);
	return ok ? -1 : 0;
}

static int check_calib(int argc, char **argv)
{
	const config_setting_t *found[16];
	const char *file;
	char why[256] = "";
	int dom = 2, n, rc = 0;
	config_t cfg;

	if (argc < 3)
		return usage();
	file = argv[2];
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc) {
			if (parse_int(argv[++i], 1, MAX_DOMAINS, &dom))
				return usage();
		} else {
			return usage();
		}
	}
	config_init(&cfg);
	if (config_read_file(&cfg, file) != CONFIG_TRUE) {
		printf("numa_check: FAIL: %s:%d: %s\n",
		       config_error_file(&cfg) ? config_error_file(&cfg) : file,
		       config_error_line(&cfg), config_error_text(&cfg));
		config_destroy(&cfg);
		return 1;
	}

	n = find_all(config_root_setting(&cfg), "domains", found, 16);
	if (n == 0) {
		printf("numa_check: FAIL: %s: no \"domains\" setting\n", file);
		rc = 1;
	}
	for (int i = 0; i < n; i++) {
		const char *parent = config_setting_name(config_setting_parent(found[i]));
		if (!is_number(found[i]) || number(found[i]) != dom) {
			printf("numa_check: FAIL: %s:%u: %s%sdomains is not %d\n", file,
			       config_setting_source_line(found[i]), parent ? parent : "",
			       parent ? "." : "", dom);
			rc = 1;
		} else {
			printf("numa_check: %s:%u: %s%sdomains = %d\n", file,
			       config_setting_source_line(found[i]), parent ? parent : "",
			       parent ? "." : "", dom);
		}
	}

	n = find_all(config_root_setting(&cfg), "notify_ns", found, 16);
	if (n == 0) {
		printf("numa_check: FAIL: %s: no \"notify_ns\" matrix\n", file);
		rc = 1;
	} else if (print_matrix(found[0], "notify_ns", dom, why, sizeof(why))) {
		printf("numa_check: FAIL: %s:%u: %s\n", file, config_setting_source_line(found[0]),
		       why);
		rc = 1;
	}
	/* The other matrices, for the log only. */
	static const char *const others[] = { "rtt_ns", "load_ns", "copy_gbps" };
	for (size_t k = 0; k < sizeof(others) / sizeof(others[0]); k++)
		if (find_all(config_root_setting(&cfg), others[k], found, 1) == 1 &&
		    print_matrix(found[0], others[k], dom, why, sizeof(why)))
			printf("numa_check: note: %s\n", why);
	config_destroy(&cfg);
	if (!rc)
		printf("numa_check: PASS: %s: domains = %d and a %dx%d notify_ns matrix of positive "
		       "numbers\n",
		       file, dom, dom, dom);
	return rc;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "ctx"))
		return check_ctx(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "calib"))
		return check_calib(argc, argv);
	return usage();
}
