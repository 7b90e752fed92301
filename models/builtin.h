/* SPDX-License-Identifier: MIT */
/*
 * What the built-in timing models (none, fixed, link, plugin) share: each
 * names its functions PREFIX_init, PREFIX_due, PREFIX_target,
 * PREFIX_describe and PREFIX_fini, and TM_BUILTIN_OPS makes its ops table
 * from them.  A user's own model (example_plugin.c) writes its table out.
 */
#ifndef SONUMA_MODELS_BUILTIN_H
#define SONUMA_MODELS_BUILTIN_H

#include "sonuma/tm.h"

/* The ops of built-in model name; the arguments after the name are more
 * of struct tm_ops's fields (.no_deadline = 1). */
#define TM_BUILTIN_OPS(prefix, model_name, ...)                                                   \
	{                                                                                         \
		.abi = TM_ABI_VERSION, .name = model_name, .init = prefix##_init,                 \
		.due = prefix##_due, .target_ns = prefix##_target, .describe = prefix##_describe, \
		.fini = prefix##_fini, __VA_ARGS__                                                \
	}

#endif /* SONUMA_MODELS_BUILTIN_H */
