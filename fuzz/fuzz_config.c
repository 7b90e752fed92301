/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config: rmc.conf parsing.  The input is written to a file and read
 * with core_config_load() over the defaults, as rmcd does; then every
 * registered timing model is created from the file's model group (whatever
 * its name says) with a tm_env of 1 GHz and 4 nodes, asked a few questions,
 * and destroyed.
 *
 * Checks: no crash or sanitizer report, no leak; a failure returns a
 * negative errno with a non-empty message that starts with the file's name
 * ("FILE:LINE: ..."), and leaves nothing allocated; a success leaves every
 * field in its documented range (config.h, docs/rmc.conf.example); a model
 * that refuses its group says why the same way; a model that accepts it
 * describes itself in a NUL-terminated line, targets a finite,
 * non-negative latency and never answers a due time before the post time.
 *
 * Not fuzzed: "@include" (it reads other files; an input naming /dev/zero
 * would only test the disk), and the plugin model's path: a path in the
 * input is replaced by the example plugin's, so the plugin's loader and the
 * example's parameter parser run without loading arbitrary objects.
 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "core.h"
#include "fuzz_common.h"
#include "sonuma/qp.h"
#include "sonuma/tm.h"

#ifndef FUZZ_TM_EXAMPLE
#define FUZZ_TM_EXAMPLE "libtm_example.so"
#endif

static char path[64];
static int path_fd = -1;
static const char *example;

static void remove_file(void)
{
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	snprintf(path, sizeof(path), "/tmp/fuzz_config-XXXXXX");
	path_fd = mkstemp(path);
	FZ_CHECK(path_fd >= 0, "mkstemp: %s", strerror(errno));
	atexit(remove_file);
	example = getenv("TM_EXAMPLE");
	if (!example || !*example)
		example = FUZZ_TM_EXAMPLE;
	/* Loaded once for good: the plugin model's dlclose() must not unmap
	 * it, as libFuzzer keeps reading its coverage counters. */
	FZ_CHECK(dlopen(example, RTLD_NOW | RTLD_NODELETE), "%s: %s", example, dlerror());
	return 0;
}

static bool is_errno(int r)
{
	return r < 0 && r >= -4095;
}

static void check_error(int r, const char *err, const char *who, bool from_file)
{
	FZ_CHECK(is_errno(r), "%s: returned %d, not a negative errno", who, r);
	FZ_CHECK(err[0], "%s: failed (%d) without a message", who, r);
	/* A model created without a group (none in the file) has no file
	 * to name. */
	FZ_CHECK(!from_file || !strncmp(err, path, strlen(path)) && err[strlen(path)] == ':',
		 "%s: the message does not start with the file name %s:\n  %s", who, path, err);
}

static void check_ranges(const struct core_config *c)
{
	uint64_t ctx = c->context_pages * PAGE_SIZE;

	FZ_CHECK(c->nodes >= 1 && c->nodes <= CORE_MAX_NODES, "nodes %u", c->nodes);
	FZ_CHECK(c->context_pages >= 1 && c->context_pages <= (1u << 22), "context_pages %llu",
		 (unsigned long long)c->context_pages);
	FZ_CHECK(c->n_contexts >= 1 && c->n_contexts <= 16, "%u contexts", c->n_contexts);
	for (uint32_t i = 1; i < c->n_contexts; i++)
		FZ_CHECK(c->ctx_pages[i] >= 1 && c->ctx_pages[i] <= (1u << 22),
			 "context %u of %llu pages", i, (unsigned long long)c->ctx_pages[i]);
	FZ_CHECK(c->queue_depth >= 1 && c->queue_depth <= MAX_NUM_WQ, "queue_depth %u",
		 c->queue_depth);
	FZ_CHECK(c->max_transfer >= RMC_MIN_LENGTH && c->max_transfer <= (1ull << 30) &&
			 c->max_transfer <= ctx,
		 "max_transfer %llu with a %llu-byte context", (unsigned long long)c->max_transfer,
		 (unsigned long long)ctx);
	for (int i = 0; i < CORE_MAX_NODES; i++)
		FZ_CHECK(c->node_numa[i] >= -1 && c->node_numa[i] <= 1023, "numa[%d] = %d", i,
			 c->node_numa[i]);
	FZ_CHECK(c->rmc_threads <= CORE_MAX_RMC, "rmc.threads %u", c->rmc_threads);
	for (int i = 0; i < CORE_MAX_RMC; i++)
		FZ_CHECK(c->rmc_cpus[i] >= -1 && c->rmc_cpus[i] <= 4095, "rmc.cpus[%d] = %d", i,
			 c->rmc_cpus[i]);
	for (int i = 0; i < CORE_MAX_RMC; i++)
		if (c->rmc_cpus[i] >= 0)
			FZ_CHECK((uint32_t)i < c->rmc_threads, "a CPU for RMC thread %d of %u", i,
				 c->rmc_threads);
	FZ_CHECK(c->notify_ns == -1 || (c->notify_ns >= 0 && c->notify_ns <= 1e6), "notify_ns %g",
		 c->notify_ns);
	FZ_CHECK(c->late_slack_ns >= 0 && c->late_slack_ns <= 1e6, "late_slack_ns %g",
		 c->late_slack_ns);
	FZ_CHECK(c->lead_ns >= 0 && c->lead_ns <= 1e6, "lead_ns %g", c->lead_ns);
	FZ_CHECK(c->overhead_ns < 0 || c->overhead_ns <= 1e5, "overhead_ns %g", c->overhead_ns);
	FZ_CHECK(c->n_allow_uids <= CORE_MAX_UIDS, "%u allow_uids", c->n_allow_uids);
	for (uint32_t i = 0; i < c->n_allow_uids; i++)
		FZ_CHECK(c->allow_uids[i] <= 0x7fffffff, "allow_uids[%u] = %u", i,
			 c->allow_uids[i]);
	FZ_CHECK(strnlen(c->rundir, sizeof(c->rundir)) < sizeof(c->rundir) && c->rundir[0] == '/',
		 "rundir \"%.*s\"", (int)sizeof(c->rundir), c->rundir);
	FZ_CHECK(strnlen(c->model, sizeof(c->model)) < sizeof(c->model), "model not terminated");
	FZ_CHECK(strnlen(c->calibration, sizeof(c->calibration)) < sizeof(c->calibration),
		 "calibration not terminated");
	FZ_CHECK(!strcmp(c->file, path), "file \"%s\", loaded from %s", c->file, path);

	/* What only the parsed file can tell. */
	const config_setting_t *numa = config_lookup(&c->lc, "cluster.numa");
	if (numa) {
		FZ_CHECK((uint32_t)config_setting_length(numa) == c->nodes,
			 "%d NUMA domains for %u nodes", config_setting_length(numa), c->nodes);
		for (uint32_t i = 0; i < c->nodes; i++)
			FZ_CHECK(c->node_numa[i] >= 0, "node %u has no NUMA domain", i);
	}
	const config_setting_t *ctxs = config_lookup(&c->lc, "cluster.contexts");
	if (ctxs) {
		FZ_CHECK((uint32_t)config_setting_length(ctxs) == c->n_contexts,
			 "%d contexts listed, %u taken", config_setting_length(ctxs),
			 c->n_contexts);
		FZ_CHECK(c->ctx_pages[0] == c->context_pages,
			 "context 0: %llu pages listed, %llu taken",
			 (unsigned long long)c->ctx_pages[0], (unsigned long long)c->context_pages);
	} else {
		FZ_CHECK(c->n_contexts == 1, "%u contexts without cluster.contexts", c->n_contexts);
	}
	const config_setting_t *cpus = config_lookup(&c->lc, "rmc.cpus");
	if (cpus)
		FZ_CHECK((uint32_t)config_setting_length(cpus) == c->rmc_threads,
			 "%d RMC CPUs for %u threads", config_setting_length(cpus), c->rmc_threads);
}

static void check_model(const struct tm_ops *m, const config_setting_t *grp)
{
	struct tm_env env = { .tsc_hz = 1e9, .nodes = 4 };
	char err[512] = "", who[64];
	void *state = NULL;
	int r;

	snprintf(who, sizeof(who), "model %s: init", m->name);
	r = m->init(grp, &env, &state, err, sizeof(err));
	if (r) {
		check_error(r, err, who, grp != NULL);
		return;
	}
	/* link: "dims = [X, Y]; X * Y = nodes" (docs/rmc.conf.example). */
	const config_setting_t *dims = grp ? config_setting_get_member(grp, "dims") : NULL;
	if (!strcmp(m->name, "link") && dims) {
		long long x = config_setting_get_int64_elem(dims, 0);
		long long y = config_setting_get_int64_elem(dims, 1);
		if (config_setting_type(config_setting_get_elem(dims, 0)) == CONFIG_TYPE_INT)
			x = config_setting_get_int_elem(dims, 0);
		if (config_setting_type(config_setting_get_elem(dims, 1)) == CONFIG_TYPE_INT)
			y = config_setting_get_int_elem(dims, 1);
		FZ_CHECK(config_setting_length(dims) == 2 && x >= 1 && y >= 1 &&
				 (unsigned long long)x * (unsigned long long)y == env.nodes,
			 "model link accepted dims [%lld, %lld] (%d entries) for %u nodes", x, y,
			 config_setting_length(dims), env.nodes);
	}
	char line[256];
	memset(line, 0x55, sizeof(line));
	int n = m->describe(state, line, sizeof(line));
	FZ_CHECK(n >= 0 && memchr(line, 0, sizeof(line)), "model %s: describe returned %d", m->name,
		 n);
	static const uint64_t sizes[] = { 1, 64, 4096, 1u << 20, 1u << 30 };
	for (unsigned i = 0; i < CORE_ARRAY_SIZE(sizes); i++) {
		for (uint16_t dst = 0; dst < env.nodes; dst++) {
			static const uint8_t ops[4] = { RMC_OP_READ, RMC_OP_WRITE, RMC_OP_CAS,
							RMC_OP_FAA };
			uint8_t op = ops[(i + dst) % 4];
			double ns = m->target_ns(state, op, sizes[i], 0, dst);
			FZ_CHECK(isfinite(ns) && ns >= 0, "model %s: target %g ns for %llu B to %u",
				 m->name, ns, (unsigned long long)sizes[i], dst);
			struct tm_req q = { .op = op,
					    .src = 0,
					    .dst = dst,
					    .size = sizes[i],
					    .t_post = 1000000000ull,
					    .t_pickup = 1000000100ull };
			uint64_t due = m->due(state, &q);
			FZ_CHECK(due >= q.t_post, "model %s: due %llu before the post %llu",
				 m->name, (unsigned long long)due, (unsigned long long)q.t_post);
		}
	}
	if (m->fini)
		m->fini(state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct core_config c;
	char err[512];
	int r;

	if (memmem(data, size, "@include", 8))
		return 0;
	FZ_CHECK(ftruncate(path_fd, 0) == 0, "ftruncate: %s", strerror(errno));
	FZ_CHECK(pwrite(path_fd, data, size, 0) == (ssize_t)size, "pwrite: %s", strerror(errno));

	core_config_defaults(&c);
	memset(err, 0, sizeof(err));
	r = core_config_load(&c, path, err, sizeof(err));
	if (r) {
		check_error(r, err, "core_config_load", true);
		FZ_CHECK(!c.have_lc, "core_config_load failed and kept the parsed file");
		return 0;
	}
	FZ_CHECK(c.have_lc, "core_config_load succeeded without the parsed file");
	check_ranges(&c);

	config_setting_t *grp = config_lookup(&c.lc, "model");
	if (grp) {
		config_setting_t *p = config_setting_get_member(grp, "path");
		if (p && config_setting_type(p) == CONFIG_TYPE_STRING)
			config_setting_set_string(p, example);
	}
	for (const struct tm_ops *const *m = tm_all(); *m; m++)
		check_model(*m, grp);
	core_config_free(&c);
	return 0;
}
