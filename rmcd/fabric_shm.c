/* SPDX-License-Identifier: MIT */
/*
 * The shm fabric: every node's context is mapped in rmcd, so a transfer is
 * a memcpy between the requester's local buffer and the target's context,
 * which lives on the target's NUMA domain: a real cross-domain access where
 * the machine has several.
 */

#include <string.h>

#include "rmcd.h"

/* The RMC loop calls rmcd_shm_xfer() inline; the table is for whoever
 * goes through the ops (and names the fabric). */
static uint8_t shm_xfer(struct rmcd_rmc *m, const struct rmcd_xfer *x)
{
	return rmcd_shm_xfer(m->d, x);
}

/* Remote nodes (one rmcd per node) are found and mapped by peer.c. */
const struct rmcd_fabric_ops rmcd_fabric_shm = {
	.name = "shm",
	.xfer = shm_xfer,
	.start = rmcd_peer_start,
	.stop = rmcd_peer_stop,
	.fini = rmcd_peer_fini,
};

const struct rmcd_fabric_ops *rmcd_fabric_find(const char *name)
{
	static const struct rmcd_fabric_ops *const all[] = {
		&rmcd_fabric_shm,
#ifdef RMCD_HAVE_UCX
		&rmcd_fabric_ucx,
#endif
#ifdef SONUMA_HAVE_XEN
		&rmcd_fabric_xen,
#endif
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(all[i]->name, name))
			return all[i];
	return NULL;
}
