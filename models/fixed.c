/* SPDX-License-Identifier: MIT */
/*
 * fixed: a hardware RMC's constant end-to-end latency per operation,
 * whatever the size (the soNUMA paper's ~300 ns remote read).
 *   model = { name = "fixed"; read_ns = 300; write_ns = 300; };
 * latency_ns sets both at once; atomic_ns (compare-and-swap, fetch-and-add)
 * defaults to the read latency.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "sonuma/qp.h"
#include "builtin.h"

struct fixed {
	double read_ns, write_ns, atomic_ns;
	uint64_t read_tsc, write_tsc, atomic_tsc;
};

static int fixed_init(const config_setting_t *grp, const struct tm_env *env, void **state,
		      char *err, size_t errlen)
{
	static const char *const keys[] = { "name",	"latency_ns", "read_ns",
					    "write_ns", "atomic_ns",  NULL };
	struct fixed *f;
	double both = 300;
	int r;

	if ((r = core_cfg_known(grp, keys, err, errlen)))
		return r;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	if ((r = core_cfg_double(grp, "latency_ns", false, 0, 1e9, &both, err, errlen)))
		goto fail;
	f->read_ns = f->write_ns = both;
	if ((r = core_cfg_double(grp, "read_ns", false, 0, 1e9, &f->read_ns, err, errlen)) ||
	    (r = core_cfg_double(grp, "write_ns", false, 0, 1e9, &f->write_ns, err, errlen)))
		goto fail;
	f->atomic_ns = f->read_ns;
	if ((r = core_cfg_double(grp, "atomic_ns", false, 0, 1e9, &f->atomic_ns, err, errlen)))
		goto fail;
	f->atomic_tsc = (uint64_t)(f->atomic_ns * env->tsc_hz / 1e9 + 0.5);
	f->read_tsc = (uint64_t)(f->read_ns * env->tsc_hz / 1e9 + 0.5);
	f->write_tsc = (uint64_t)(f->write_ns * env->tsc_hz / 1e9 + 0.5);
	*state = f;
	return 0;
fail:
	free(f);
	return r;
}

static uint64_t fixed_due(void *state, const struct tm_req *req)
{
	const struct fixed *f = state;

	switch (req->op) {
	case RMC_OP_WRITE:
		return req->t_post + f->write_tsc;
	case RMC_OP_CAS:
	case RMC_OP_FAA:
		return req->t_post + f->atomic_tsc;
	default:
		return req->t_post + f->read_tsc;
	}
}

static double fixed_target(const void *state, uint8_t op, uint64_t size, uint16_t src, uint16_t dst)
{
	const struct fixed *f = state;

	(void)size, (void)src, (void)dst;
	if (op == RMC_OP_CAS || op == RMC_OP_FAA)
		return f->atomic_ns;
	return op == RMC_OP_WRITE ? f->write_ns : f->read_ns;
}

static int fixed_describe(const void *state, char *buf, size_t len)
{
	const struct fixed *f = state;

	return snprintf(buf, len, "fixed: read %.0f ns, write %.0f ns, atomic %.0f ns", f->read_ns,
			f->write_ns, f->atomic_ns);
}

static void fixed_fini(void *state)
{
	free(state);
}

const struct tm_ops tm_fixed_ops = TM_BUILTIN_OPS(fixed, "fixed");
