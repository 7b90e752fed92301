/* SPDX-License-Identifier: MIT */
/*
 * plugin: a user's own timing model in a shared object.
 *   model = { name = "plugin"; path = "/path/to/model.so"; params = { ... }; };
 * The object exports `const struct tm_ops sonuma_tm_ops` (see tm.h); its
 * init gets the params group.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "builtin.h"

struct plugin {
	void *dl;
	const struct tm_ops *ops;
	void *state;
	char path[256];
};

static void plugin_fini(void *state)
{
	struct plugin *p = state;

	if (!p)
		return;
	if (p->ops && p->ops->fini)
		p->ops->fini(p->state);
	if (p->dl)
		dlclose(p->dl);
	free(p);
}

static int plugin_init(const config_setting_t *grp, const struct tm_env *env, void **state,
		       char *err, size_t errlen)
{
	static const char *const keys[] = { "name", "path", "params", NULL };
	const config_setting_t *params;
	const char *file = grp ? config_setting_source_file(grp) : NULL;
	unsigned line = grp ? config_setting_source_line(grp) : 0;
	struct plugin *p;
	int r;

	if (!grp)
		return snprintf(err, errlen,
				"the plugin model needs a model group in rmc.conf: "
				"model = { name = \"plugin\"; path = \"/path/model.so\"; };"),
		       -EINVAL;
	if (!file)
		file = "rmc.conf";
	if ((r = core_cfg_known(grp, keys, err, errlen)))
		return r;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if ((r = core_cfg_string(grp, "path", true, p->path, sizeof(p->path), err, errlen)))
		goto fail;
	const config_setting_t *ps = config_setting_get_member(grp, "path");
	line = config_setting_source_line(ps);
	p->dl = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
	if (!p->dl) {
		snprintf(err, errlen, "%s:%u: model.path: cannot load %s: %s", file, line, p->path,
			 dlerror());
		r = -EINVAL;
		goto fail;
	}
	p->ops = dlsym(p->dl, "sonuma_tm_ops");
	if (!p->ops) {
		snprintf(err, errlen, "%s:%u: model.path: %s does not export sonuma_tm_ops", file,
			 line, p->path);
		r = -EINVAL;
		goto fail;
	}
	if (p->ops->abi != TM_ABI_VERSION || !p->ops->name || !p->ops->init || !p->ops->due ||
	    !p->ops->target_ns || !p->ops->describe) {
		snprintf(err, errlen,
			 "%s:%u: model.path: %s: not a complete timing model of ABI %d (abi %u)",
			 file, line, p->path, TM_ABI_VERSION, p->ops->abi);
		p->ops = NULL;
		r = -EINVAL;
		goto fail;
	}
	params = config_setting_get_member(grp, "params");
	if ((r = p->ops->init(params, env, &p->state, err, errlen))) {
		p->ops = NULL;
		goto fail;
	}
	*state = p;
	return 0;
fail:
	plugin_fini(p);
	return r;
}

static uint64_t plugin_due(void *state, const struct tm_req *req)
{
	struct plugin *p = state;
	return p->ops->due(p->state, req);
}

static double plugin_target(const void *state, uint8_t op, uint64_t size, uint16_t src,
			    uint16_t dst)
{
	const struct plugin *p = state;
	return p->ops->target_ns(p->state, op, size, src, dst);
}

static int plugin_describe(const void *state, char *buf, size_t len)
{
	const struct plugin *p = state;
	int n = snprintf(buf, len, "plugin %s: ", p->path);

	if (n < 0 || (size_t)n >= len)
		return n;
	return n + p->ops->describe(p->state, buf + n, len - (size_t)n);
}

const struct tm_ops tm_plugin_ops = TM_BUILTIN_OPS(plugin, "plugin");
