/* SPDX-License-Identifier: MIT */
/* Hop counts between nodes of the link model's topologies. */
#ifndef SONUMA_TOPOLOGY_H
#define SONUMA_TOPOLOGY_H

#include <stdint.h>

enum tm_topo { TOPO_FULL, TOPO_RING, TOPO_MESH2D, TOPO_TORUS2D };

struct tm_topology {
	enum tm_topo kind;
	uint32_t nodes;
	uint32_t x, y; /* mesh and torus: nodes = x * y, node n at (n % x, n / x) */
};

/* Parses "full" | "ring" | "mesh2d" | "torus2d"; -1 when unknown. */
int tm_topo_parse(const char *name);
const char *tm_topo_name(enum tm_topo kind);
/* Hops from a to b (0 for a == b). */
uint32_t tm_hops(const struct tm_topology *t, uint32_t a, uint32_t b);

#endif
