/* SPDX-License-Identifier: MIT */
/*
 * The calibration file: this machine's own costs, measured once by
 * sonuma-calibrate and read by rmcd (libconfig format).  Times in ns,
 * bandwidths in GB/s (1e9 bytes/s); every figure is a median, with its
 * spread where the file has one.
 */
#ifndef SONUMA_CALIB_H
#define SONUMA_CALIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAL_MAX_DOMAINS 8
#define CAL_MAX_SIZES 32
#define CAL_FORMAT_VERSION 1
#define CAL_MAX_FABRICS 8 /* fabric sections (one per fabric, link and transports) */
#define CAL_ADDR_LEN 72	  /* "host:port", as in rmc.conf's fabric.nodes */

/* The two directions a fabric section measures, index of its figures. */
enum { CAL_FAB_READ = 0, CAL_FAB_WRITE = 1 };

/* A fabric's own cost between this host and a peer: synchronous reads and
 * writes through a real rmcd with the none model on each side (what an
 * application sees when the model adds nothing), and the bandwidth of
 * asynchronous ones, per size.  Measured by sonuma-calibrate --fabric. */
struct cal_fabric {
	char name[16];		    /* the fabric, as rmc.conf's fabric.name: "ucx" */
	uint32_t node;		    /* the node this host served */
	char address[CAL_ADDR_LEN]; /* its fabric.nodes entry */
	uint32_t peer_node;
	char peer[CAL_ADDR_LEN]; /* the peer's fabric.nodes entry */
	char transports[64];	 /* UCX_TLS of the measuring rmcd, "default" unset */
	char date[32];		 /* ISO 8601, UTC */
	uint32_t outstanding;	 /* requests in flight for the bandwidth */
	uint32_t n;		 /* sizes */
	uint64_t size[CAL_MAX_SIZES];
	/* [CAL_FAB_READ or CAL_FAB_WRITE][size]: latency median and spread
	 * (ns), and bandwidth (GB/s, 1e9 bytes/s). */
	double ns[2][CAL_MAX_SIZES];
	double p10_ns[2][CAL_MAX_SIZES];
	double p90_ns[2][CAL_MAX_SIZES];
	double p99_ns[2][CAL_MAX_SIZES];
	double gbps[2][CAL_MAX_SIZES];
};

struct cal_identity {
	char cpu_model[128]; /* /proc/cpuinfo "model name" */
	uint32_t cores;	     /* online CPUs */
	uint32_t domains;    /* NUMA domains */
	char kernel[128];    /* uname -r */
	char hostname[64];
	char date[32]; /* ISO 8601, UTC */
};

struct cal_data {
	uint32_t version; /* CAL_FORMAT_VERSION */
	struct cal_identity id;
	double tsc_hz;	    /* measured against CLOCK_MONOTONIC_RAW */
	double tsc_read_ns; /* cost of one rdtsc */
	bool tsc_invariant;
	uint32_t domains;
	/* [from][to] domain, medians */
	double notify_ns[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS]; /* one-way cache-line transfer */
	double rtt_ns[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS];    /* round trip */
	double load_ns[CAL_MAX_DOMAINS]
		      [CAL_MAX_DOMAINS]; /* dependent load, CPU in from, memory in to */
	double copy_gbps[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS]; /* large memcpy bandwidth */
	/* The emulator's floor: synchronous read latency through a real RMC
	 * loop with the none model, per size. */
	uint32_t n_floor;
	uint64_t floor_size[CAL_MAX_SIZES];
	double floor_ns[CAL_MAX_SIZES]; /* median */
	double floor_p99_ns[CAL_MAX_SIZES];
	/* What a synchronous call costs around the model's latency (posting,
	 * noticing the completion at its due time, returning), measured
	 * through rmcd with a fixed model; rmcd subtracts it from due times so
	 * that an application measures the model's latency.  0: unknown. */
	double overhead_ns;
	bool papi_counters; /* whether hardware counters were available */
	/* Whether rmc.ko was loaded (/dev/rmc there) when the floor was
	 * measured: the floor's rmcd then registered its contexts through it. */
	bool rmc_ko;
	/* Fabrics between hosts (optional: files without them load). */
	uint32_t n_fabrics;
	struct cal_fabric fabric[CAL_MAX_FABRICS];
};

/* $SONUMA_CALIBRATION, else $XDG_DATA_HOME/sonuma/calibration.cfg, else
 * $HOME/.local/share/sonuma/calibration.cfg. */
void cal_default_path(char *buf, size_t len);
/* Reads the identity of this machine. */
void cal_identity_here(struct cal_identity *id);
/* Loads a file; -ENOENT when absent, -EINVAL with "FILE:LINE: what" in err
 * when corrupt or incomplete. */
int cal_load(const char *path, struct cal_data *c, char *err, size_t errlen);
/* Writes atomically (temporary file + rename), creating the directory. */
int cal_save(const char *path, const struct cal_data *c, char *err, size_t errlen);
/* 0 when c was measured on a machine like this one (CPU model, cores,
 * NUMA domains); otherwise -EXDEV with the difference in why. */
int cal_check_identity(const struct cal_data *c, char *why, size_t len);
/* Floor for a size: interpolated between measured sizes (log-linear),
 * extrapolated linearly beyond; 0 when there is no floor. */
double cal_floor_ns(const struct cal_data *c, uint64_t size);
/* A fabric's median latency for op (CAL_FAB_READ or CAL_FAB_WRITE) and
 * size, interpolated as cal_floor_ns; 0 when it has no sizes. */
double cal_fabric_ns(const struct cal_fabric *f, int op, uint64_t size);
/* Adds f to c, replacing a section of the same fabric, addresses and
 * transports.  0, or -ENOSPC when c holds CAL_MAX_FABRICS others. */
int cal_fabric_put(struct cal_data *c, const struct cal_fabric *f);

#endif /* SONUMA_CALIB_H */
