/* SPDX-License-Identifier: MIT */
/* none: no added delay; the emulator runs at its own native speed. */
#include <stdio.h>

#include "config.h"
#include "builtin.h"

static int none_init(const config_setting_t *grp, const struct tm_env *env, void **state, char *err,
		     size_t errlen)
{
	static const char *const keys[] = { "name", NULL };

	(void)env;
	*state = NULL;
	return core_cfg_known(grp, keys, err, errlen);
}

static uint64_t none_due(void *state, const struct tm_req *req)
{
	(void)state;
	return req->t_post;
}

static double none_target(const void *state, uint8_t op, uint64_t size, uint16_t src, uint16_t dst)
{
	(void)state, (void)op, (void)size, (void)src, (void)dst;
	return 0;
}

static int none_describe(const void *state, char *buf, size_t len)
{
	(void)state;
	return snprintf(buf, len, "none: no added latency (native speed)");
}

static void none_fini(void *state)
{
	(void)state;
}

const struct tm_ops tm_none_ops = TM_BUILTIN_OPS(none, "none", .no_deadline = 1);
