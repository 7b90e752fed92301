/* SPDX-License-Identifier: MIT */
/*
 * The shm fabric: every node's context is mapped in rmcd, so a transfer is
 * a memcpy between the requester's local buffer and the target's context,
 * which lives on the target's NUMA domain: a real cross-domain access where
 * the machine has several.
 */
#include <stdbool.h>
#include <string.h>

#include "rmcd.h"

static int shm_xfer(struct rmcd *d, const struct rmcd_xfer *x)
{
	uint8_t *remote = d->nodes[x->dst].ctx[x->cid].base + x->offset;

	uint64_t old;

	switch (x->op) {
	case RMC_OP_READ:
		memcpy(x->local, remote, x->length);
		break;
	case RMC_OP_WRITE:
		memcpy(remote, x->local, x->length);
		break;
	case RMC_OP_CAS:
		/* Atomic against every RMC thread and against programs using
		 * atomics on their own mapping of the context: the word is
		 * the same memory for all of them.  old gets the value found. */
		old = x->arg0;
		__atomic_compare_exchange_n((uint64_t *)remote, &old, x->arg1, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		memcpy(x->local, &old, sizeof(old));
		break;
	case RMC_OP_FAA:
		old = __atomic_fetch_add((uint64_t *)remote, x->arg0, __ATOMIC_SEQ_CST);
		memcpy(x->local, &old, sizeof(old));
		break;
	}
	return 0;
}

const struct rmcd_fabric_ops rmcd_fabric_shm = {
	.name = "shm",
	.xfer = shm_xfer,
};
