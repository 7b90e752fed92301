/* SPDX-License-Identifier: MIT */
/*
 * The shm fabric: every node's context is mapped in rmcd, so a transfer is
 * a memcpy between the requester's local buffer and the target's context,
 * which lives on the target's NUMA domain: a real cross-domain access where
 * the machine has several.
 */

#include "rmcd.h"

static int shm_xfer(struct rmcd *d, const struct rmcd_xfer *x)
{
	rmcd_shm_xfer(d, x);
	return 0;
}

const struct rmcd_fabric_ops rmcd_fabric_shm = {
	.name = "shm",
	.xfer = shm_xfer,
};
