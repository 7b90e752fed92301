/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "tm.h"

extern const struct tm_ops tm_none_ops;

/* Adding a model: its own file and one line here. */
static const struct tm_ops *const registry[] = {
	&tm_none_ops,
};

const struct tm_ops *tm_find(const char *name)
{
	for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
		if (!strcmp(registry[i]->name, name))
			return registry[i];
	return NULL;
}

const char *const *tm_names(void)
{
	static const char *names[sizeof(registry) / sizeof(registry[0]) + 1];

	for (size_t i = 0; i < sizeof(registry) / sizeof(registry[0]); i++)
		names[i] = registry[i]->name;
	return names;
}
