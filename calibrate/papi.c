/* SPDX-License-Identifier: MIT */
/*
 * Hardware counters through PAPI, where the machine has them.  Many virtual
 * machines load PAPI and list preset events, yet the kernel exposes no PMU:
 * adding or starting the event set fails.  That is found here, once, by
 * starting and stopping the set; the probes then run without counters.
 */
#include <stdio.h>
#include <string.h>

#include "calibrate.h"
#include "core.h"

#ifdef HAVE_PAPI
#include <papi.h>

void cal_papi_init(struct cal_papi *p)
{
	/* Cycles first; then the last-level-cache misses under whichever
	 * name this CPU has. */
	static const struct {
		int code;
		const char *name;
	} cycles[] = { { PAPI_TOT_CYC, "PAPI_TOT_CYC" } },
	  llc[] = { { PAPI_L3_TCM, "PAPI_L3_TCM" },
		    { PAPI_L3_DCM, "PAPI_L3_DCM" },
		    { PAPI_L3_LDM, "PAPI_L3_LDM" },
		    { PAPI_L2_TCM, "PAPI_L2_TCM" } };
	long long vals[CAL_PAPI_EVENTS];
	int r;

	memset(p, 0, sizeof(*p));
	p->evset = PAPI_NULL;
	r = PAPI_library_init(PAPI_VER_CURRENT);
	if (r != PAPI_VER_CURRENT) {
		snprintf(p->why, sizeof(p->why), "PAPI did not initialise (%s)",
			 r < 0 ? PAPI_strerror(r) : "version mismatch");
		return;
	}
	p->lib = true;
	if ((r = PAPI_create_eventset(&p->evset)) != PAPI_OK) {
		snprintf(p->why, sizeof(p->why), "PAPI_create_eventset: %s", PAPI_strerror(r));
		p->evset = PAPI_NULL;
		return;
	}
	for (unsigned i = 0; i < CORE_ARRAY_SIZE(cycles) && p->n == 0; i++)
		if (PAPI_add_event(p->evset, cycles[i].code) == PAPI_OK)
			p->names[p->n++] = cycles[i].name;
	for (unsigned i = 0; i < CORE_ARRAY_SIZE(llc); i++)
		if (PAPI_add_event(p->evset, llc[i].code) == PAPI_OK) {
			p->names[p->n++] = llc[i].name;
			break;
		}
	if (p->n == 0) {
		snprintf(p->why, sizeof(p->why), "no event can be added");
		return;
	}
	/* Listed is not counting: try it. */
	if ((r = PAPI_start(p->evset)) != PAPI_OK) {
		snprintf(p->why, sizeof(p->why), "PAPI_start: %s", PAPI_strerror(r));
		return;
	}
	if ((r = PAPI_stop(p->evset, vals)) != PAPI_OK) {
		snprintf(p->why, sizeof(p->why), "PAPI_stop: %s", PAPI_strerror(r));
		return;
	}
	p->ok = true;
}

void cal_papi_start(struct cal_papi *p)
{
	if (p->ok && PAPI_start(p->evset) != PAPI_OK)
		p->ok = false;
}

void cal_papi_stop(struct cal_papi *p, double ops, struct cal_counts *out)
{
	long long vals[CAL_PAPI_EVENTS] = { 0 };

	memset(out, 0, sizeof(*out));
	if (!p->ok)
		return;
	if (PAPI_stop(p->evset, vals) != PAPI_OK) {
		p->ok = false;
		return;
	}
	out->valid = ops > 0;
	for (int i = 0; i < p->n && ops > 0; i++)
		out->per_op[i] = (double)vals[i] / ops;
}

void cal_papi_fini(struct cal_papi *p)
{
	if (!p->lib)
		return;
	if (p->evset != PAPI_NULL) {
		PAPI_cleanup_eventset(p->evset);
		PAPI_destroy_eventset(&p->evset);
	}
	PAPI_shutdown();
	p->lib = false;
	p->evset = PAPI_NULL;
}

#else /* !HAVE_PAPI */

void cal_papi_init(struct cal_papi *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->why, sizeof(p->why), "built without PAPI");
}

void cal_papi_start(struct cal_papi *p)
{
	(void)p;
}

void cal_papi_stop(struct cal_papi *p, double ops, struct cal_counts *out)
{
	(void)p, (void)ops;
	memset(out, 0, sizeof(*out));
}

void cal_papi_fini(struct cal_papi *p)
{
	(void)p;
}

#endif
