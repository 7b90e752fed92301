/* SPDX-License-Identifier: MIT */
/*
 * rmc.conf: parsed once into a typed struct, every value range-checked, every
 * error naming the file, the line and the setting.  Nothing on the hot path
 * looks a key up.
 */
#ifndef SONUMA_CONFIG_H
#define SONUMA_CONFIG_H

#include <libconfig.h>
#include <stdbool.h>
#include <stdint.h>

#define CORE_MAX_NODES 64
#define CORE_MAX_RMC 16
#define CORE_MAX_UIDS 16
#define CORE_ADDR_LEN 72 /* "host:port", "[v6]:port" */

struct core_config {
	char file[256];	  /* where it came from; "(defaults)" otherwise */
	char rundir[100]; /* must leave room for "/nodeNN.sock" in sun_path */
	uint32_t nodes;
	int node_id;	      /* the one node this rmcd serves; -1: every node */
	char fabric[16];      /* how an RMC reaches other nodes' contexts */
	char xen_cluster[64]; /* fabric xen: xenstore /local/sonuma/<this>/ */
	/* fabric.nodes (ucx): "host:port" of every node, as written, with
	 * the line that lists them (for errors found once they resolve). */
	char fabric_addr[CORE_MAX_NODES][CORE_ADDR_LEN];
	uint32_t n_fabric_addr;
	unsigned fabric_line;
	/* fabric.spin_us (ucx): how long the connection thread keeps polling
	 * after it served other nodes' requests before it sleeps. */
	double fabric_spin_us;
	uint64_t context_pages; /* context 0 */
	uint64_t ctx_pages[16]; /* contexts 1.. (cluster.contexts) */
	uint32_t n_contexts;	/* contexts per node, 1..16 */
	uint32_t queue_depth;
	uint64_t max_transfer;
	int node_numa[CORE_MAX_NODES]; /* -1: round robin over domains */
	bool lock_memory;
	uint32_t rmc_threads;	    /* 0: one per NUMA domain in use */
	int rmc_cpus[CORE_MAX_RMC]; /* -1: the last CPU of its domain */
	double notify_ns;	    /* < 0: from the calibration file */
	double late_slack_ns;	    /* lateness below this is not counted */
	double lead_ns;		    /* completions written this far ahead of due */
	double overhead_ns;	    /* < 0: from the calibration file */
	/* The RMC's idle policy: it spins for idle_spin_us after its last
	 * request (with PAUSE between polls when spin_pause), then yields the
	 * CPU between polls, and naps 20 us between polls after idle_nap_us. */
	double idle_spin_us;
	double idle_nap_us;
	bool spin_pause;
	uint64_t max_session_bytes; /* local buffers one application may have */
	uint32_t allow_uids[CORE_MAX_UIDS];
	uint32_t n_allow_uids;
	char model[32];
	char calibration[256]; /* "" : the default location */
	bool accept_foreign_calibration;
	/* The parsed file, kept for the model's own group. */
	config_t lc;
	bool have_lc;
};

/* Defaults: 2 nodes of 16 MiB (4096 pages), depth MAX_NUM_WQ, model none. */
void core_config_defaults(struct core_config *c);
/* Loads path over the defaults.  On error returns -EINVAL and writes
 * "FILE:LINE: SETTING: what is wrong" into err. */
int core_config_load(struct core_config *c, const char *path, char *err, size_t errlen);
/* Checks a config built in code (e.g. from "rmcd NODE_CNT"). */
int core_config_check(const struct core_config *c, char *err, size_t errlen);
/* With the command line applied: a fabric's needs (ucx: one node per
 * rmcd, an address for every node). */
int core_config_check_fabric(const struct core_config *c, char *err, size_t errlen);
void core_config_free(struct core_config *c);

/* Readers of a group of a libconfig file (rmc.conf, a model's group, the
 * calibration file), all with the same rules: each returns 0, or -EINVAL
 * with "FILE:LINE: GROUP.KEY: ..." in err (GROUP the path from the top,
 * an element of a list named by its index: "floor[1].size",
 * "fabrics[0].sizes[1].read_ns").  A missing key leaves *out untouched
 * unless required; a missing required one is "FILE:LINE: missing
 * GROUP.KEY (what it must be)", at the group's line. */
int core_cfg_u64(const config_setting_t *grp, const char *key, bool required, uint64_t min,
		 uint64_t max, uint64_t *out, char *err, size_t errlen);
int core_cfg_u32(const config_setting_t *grp, const char *key, bool required, uint32_t min,
		 uint32_t max, uint32_t *out, char *err, size_t errlen);
int core_cfg_double(const config_setting_t *grp, const char *key, bool required, double min,
		    double max, double *out, char *err, size_t errlen);
int core_cfg_string(const config_setting_t *grp, const char *key, bool required, char *out,
		    size_t outlen, char *err, size_t errlen);
int core_cfg_bool(const config_setting_t *grp, const char *key, bool required, bool *out, char *err,
		  size_t errlen);
/* The setting grp.key itself (NULL when absent and not required); what
 * says what it must be, for the message when it is missing. */
int core_cfg_get(const config_setting_t *grp, const char *key, bool required, const char *what,
		 config_setting_t **out, char *err, size_t errlen);
/* The number in setting s itself (an element of a list), in [min, max]. */
int core_cfg_value_double(const config_setting_t *s, double min, double max, double *out, char *err,
			  size_t errlen);
bool core_cfg_is_int(const config_setting_t *s);
/* A reader's own check failed: "FILE:LINE: GROUP.KEY: " and the message
 * into err (key may be NULL: the setting s itself); returns -EINVAL. */
int core_cfg_fail(const config_setting_t *s, const char *key, char *err, size_t errlen,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Splits "host:port" or "[v6 address]:port" into host (without brackets)
 * and port 1-65535; 0, or -EINVAL. */
int core_split_addr(const char *addr, char *host, size_t hostlen, unsigned *port);
/* Rejects keys of grp not in the NULL-terminated list (catches typos). */
int core_cfg_known(const config_setting_t *grp, const char *const *keys, char *err, size_t errlen);

#endif /* SONUMA_CONFIG_H */
