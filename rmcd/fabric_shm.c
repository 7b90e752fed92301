/* SPDX-License-Identifier: MIT */
/*
 * The shm fabric: every node's context is mapped in rmcd, so a transfer is
 * a memcpy between the requester's local buffer and the target's context,
 * which lives on the target's NUMA domain: a real cross-domain access where
 * the machine has several.
 */

#include "rmcd.h"

/* The RMC loop calls rmcd_shm_xfer() inline; the table is for whoever
 * goes through the ops (and names the fabric). */
static uint8_t shm_xfer(struct rmcd_rmc *m, const struct rmcd_xfer *x)
{
	return rmcd_shm_xfer(m->d, x);
}

const struct rmcd_fabric_ops rmcd_fabric_shm = {
	.name = "shm",
	.xfer = shm_xfer,
	/* The other nodes' rmcds, found through the run directory (peer.c). */
	.start = rmcd_peer_start,
	.stop = rmcd_peer_stop,
	.fini = rmcd_peer_fini,
};
