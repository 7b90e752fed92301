/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "sonuma/tm.h"

extern const struct tm_ops tm_none_ops;
extern const struct tm_ops tm_fixed_ops;
extern const struct tm_ops tm_link_ops;
extern const struct tm_ops tm_plugin_ops;

/* Adding a model: its own file and one line here. */
static const struct tm_ops *const registry[] = {
	&tm_none_ops, &tm_fixed_ops, &tm_link_ops, &tm_plugin_ops, NULL,
};

const struct tm_ops *tm_find(const char *name)
{
	for (size_t i = 0; registry[i]; i++)
		if (!strcmp(registry[i]->name, name))
			return registry[i];
	return NULL;
}

const struct tm_ops *const *tm_all(void)
{
	return registry;
}
