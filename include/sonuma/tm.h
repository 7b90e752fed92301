/* SPDX-License-Identifier: MIT */
/*
 * Timing models.  Each is a const ops table, one file each, found by name in
 * the registry.  A model gets a request and answers when its completion must
 * become visible to the application, in TSC ticks.
 *
 * This header is also the contract for a user's own model built as a shared
 * object (the "plugin" model): export `const struct tm_ops sonuma_tm_ops`.
 */
#ifndef SONUMA_TM_H
#define SONUMA_TM_H

#include <libconfig.h>
#include <stddef.h>
#include <stdint.h>

#define TM_ABI_VERSION 1

struct tm_req {
	uint8_t op;	   /* enum rmc_op */
	uint16_t src;	   /* requesting node */
	uint16_t dst;	   /* target node */
	uint64_t size;	   /* bytes */
	uint64_t t_post;   /* TSC when the application posted it */
	uint64_t t_pickup; /* TSC when the RMC picked it up */
};

/* What a model may know about the machine and the cluster. */
struct tm_env {
	double tsc_hz;	 /* TSC ticks per second */
	uint32_t nodes;	 /* nodes in the emulated cluster */
	double floor_ns; /* calibrated emulator floor for 64 B, 0 if unknown */
	/* Memory every RMC of the cluster maps (zeroed when the first one
	 * makes it), for state several RMCs update atomically, such as a
	 * target's ingress link: shared(shared_arg, name, size) returns it, or
	 * NULL with errno set.  NULL when one process serves every node: the
	 * model then keeps that state in its own memory. */
	void *(*shared)(void *shared_arg, const char *name, size_t size);
	void *shared_arg;
};

struct tm_ops {
	uint32_t abi; /* TM_ABI_VERSION */
	const char *name;
	/* Reads the model's group of rmc.conf (may be NULL: defaults), checks
	 * every value, builds the state.  0, or -errno with a message in err
	 * naming file, line and setting. */
	int (*init)(const config_setting_t *grp, const struct tm_env *env, void **state, char *err,
		    size_t errlen);
	/* Due time of a request, in TSC ticks.  Called by RMC threads
	 * concurrently: shared state must be updated atomically. */
	uint64_t (*due)(void *state, const struct tm_req *req);
	/* Latency the model targets for an unloaded request, in ns. */
	double (*target_ns)(const void *state, uint8_t op, uint64_t size, uint16_t src,
			    uint16_t dst);
	/* One line describing the model and its parameters. */
	int (*describe)(const void *state, char *buf, size_t len);
	void (*fini)(void *state);
	/* Nonzero: completions have no deadline to miss (the none model). */
	int no_deadline;
};

/* The registry.  Looks a model up by name; NULL when there is none. */
const struct tm_ops *tm_find(const char *name);
/* All built-in models, NULL-terminated. */
const struct tm_ops *const *tm_all(void);

#endif /* SONUMA_TM_H */
