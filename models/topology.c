/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "topology.h"

static const char *const names[] = {
	[TOPO_FULL] = "full",
	[TOPO_RING] = "ring",
	[TOPO_MESH2D] = "mesh2d",
	[TOPO_TORUS2D] = "torus2d",
};

int tm_topo_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (!strcmp(names[i], name))
			return i;
	return -1;
}

const char *tm_topo_name(enum tm_topo kind)
{
	return names[kind];
}

static uint32_t dist(uint32_t a, uint32_t b)
{
	return a > b ? a - b : b - a;
}

static uint32_t wrap(uint32_t a, uint32_t b, uint32_t n)
{
	uint32_t d = dist(a, b);
	return d < n - d ? d : n - d;
}

uint32_t tm_hops(const struct tm_topology *t, uint32_t a, uint32_t b)
{
	if (a == b)
		return 0;
	switch (t->kind) {
	case TOPO_FULL:
		return 1;
	case TOPO_RING:
		return wrap(a, b, t->nodes);
	case TOPO_MESH2D:
		return dist(a % t->x, b % t->x) + dist(a / t->x, b / t->x);
	case TOPO_TORUS2D:
		return wrap(a % t->x, b % t->x, t->x) + wrap(a / t->x, b / t->x, t->y);
	}
	return 0;
}
