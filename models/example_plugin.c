/* SPDX-License-Identifier: MIT */
/*
 * An example of a user's own timing model, built as a shared object and
 * loaded with the plugin model:
 *   model = { name = "plugin"; path = ".../libtm_example.so";
 *             params = { base_ns = 400; ns_per_kib = 100; }; };
 * latency = base_ns + ns_per_kib * size / 1024.  A model reads its own
 * parameters with the same rules as rmcd (core_cfg_*), or by hand.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "sonuma/tm.h"

struct example {
	double base_ns, ns_per_kib, tsc_per_ns;
};

static int ex_get(const config_setting_t *grp, const char *key, double *v, char *err, size_t errlen)
{
	const config_setting_t *s = grp ? config_setting_get_member(grp, key) : NULL;

	if (!s)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_INT ||
	    config_setting_type(s) == CONFIG_TYPE_INT64)
		*v = (double)config_setting_get_int64(s);
	else if (config_setting_type(s) == CONFIG_TYPE_FLOAT)
		*v = config_setting_get_float(s);
	else
		return snprintf(err, errlen, "%s:%u: model.params.%s: must be a number",
				config_setting_source_file(s), config_setting_source_line(s), key),
		       -EINVAL;
	if (*v < 0 || *v > 1e9)
		return snprintf(err, errlen, "%s:%u: model.params.%s: must be between 0 and 1e9",
				config_setting_source_file(s), config_setting_source_line(s), key),
		       -EINVAL;
	return 0;
}

static int ex_init(const config_setting_t *grp, const struct tm_env *env, void **state, char *err,
		   size_t errlen)
{
	struct example *e = calloc(1, sizeof(*e));
	int r;

	if (!e)
		return -ENOMEM;
	e->base_ns = 400;
	e->ns_per_kib = 100;
	if ((r = ex_get(grp, "base_ns", &e->base_ns, err, errlen)) ||
	    (r = ex_get(grp, "ns_per_kib", &e->ns_per_kib, err, errlen))) {
		free(e);
		return r;
	}
	e->tsc_per_ns = env->tsc_hz / 1e9;
	*state = e;
	return 0;
}

static double ex_target(const void *state, uint8_t op, uint64_t size, uint16_t src, uint16_t dst)
{
	const struct example *e = state;

	(void)op, (void)src, (void)dst;
	return e->base_ns + e->ns_per_kib * (double)size / 1024.0;
}

static uint64_t ex_due(void *state, const struct tm_req *req)
{
	const struct example *e = state;
	double ns = ex_target(state, req->op, req->size, req->src, req->dst);

	return req->t_post + (uint64_t)(ns * e->tsc_per_ns + 0.5);
}

static int ex_describe(const void *state, char *buf, size_t len)
{
	const struct example *e = state;

	return snprintf(buf, len, "example: %.0f ns + %.0f ns/KiB", e->base_ns, e->ns_per_kib);
}

static void ex_fini(void *state)
{
	free(state);
}

__attribute__((visibility("default"))) const struct tm_ops sonuma_tm_ops = {
	.abi = TM_ABI_VERSION,
	.name = "example",
	.init = ex_init,
	.due = ex_due,
	.target_ns = ex_target,
	.describe = ex_describe,
	.fini = ex_fini,
};
