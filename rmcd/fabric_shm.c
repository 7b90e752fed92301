/* SPDX-License-Identifier: MIT */
/*
 * The shm fabric: every node's context is mapped in rmcd, so a transfer is
 * a memcpy between the requester's local buffer and the target's context,
 * which lives on the target's NUMA domain: a real cross-domain access where
 * the machine has several.
 */
#include <string.h>

#include "rmcd.h"

static int shm_xfer(struct rmcd *d, const struct rmcd_xfer *x)
{
	uint8_t *remote = d->nodes[x->dst].ctx[x->cid].base + x->offset;

	if (x->op == RMC_OP_READ)
		memcpy(x->local, remote, x->length);
	else
		memcpy(remote, x->local, x->length);
	return 0;
}

const struct rmcd_fabric_ops rmcd_fabric_shm = {
	.name = "shm",
	.xfer = shm_xfer,
};
