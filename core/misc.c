/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core.h"

int core_parse_uint(const char *s, int base, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int core_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	return core_parse_uint(s, 10, min, max, out);
}

void core_default_rundir(char *buf, size_t len)
{
	const char *env = getenv("SONUMA_RUNDIR");

	if (env && *env)
		snprintf(buf, len, "%s", env);
	else
		snprintf(buf, len, "/tmp/sonuma-%u", (unsigned)getuid());
}

int core_node_sock_path(char *buf, size_t len, const char *rundir, unsigned nid)
{
	int n = snprintf(buf, len, "%s/node%u.sock", rundir, nid);

	return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

uint64_t core_hash64(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}
