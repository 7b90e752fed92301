/* SPDX-License-Identifier: MIT */
/* rmcd_validate(): validate.h's check, out of line for the tests and tools. */
#include "validate.h"

uint8_t rmcd_validate(const struct rmcd *d, struct rmcd_qp *qp, const wq_entry_t *e,
		      struct rmcd_xfer *x)
{
	return rmcd__validate(d, qp, e, x);
}
