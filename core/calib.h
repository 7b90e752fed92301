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
#define CAL_MAX_ROUNDS 16 /* interleaved repeats of the round trip and the floor */

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

	/* ---- optional sections: files written before them load without ---- */

	/* spread: how wide each probe's samples were (p10 and p90 of the run
	 * kept), and the medians of the repeats of the round trip (of the CPU
	 * pair rmcd uses, domain 0) and of the 64-byte floor, measured in turn
	 * so that a disturbance shows in both. */
	bool has_spread;
	double tsc_ppm; /* (max - min) / median of the TSC rate intervals */
	double tsc_read_p10_ns, tsc_read_p90_ns;
	double rtt_p10_ns[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS];
	double rtt_p90_ns[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS];
	double load_p10_ns[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS];
	double load_p90_ns[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS];
	double copy_p10_gbps[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS];
	double copy_p90_gbps[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS];
	double floor_p10_ns[CAL_MAX_SIZES]; /* one per floor size */
	double floor_p90_ns[CAL_MAX_SIZES];
	uint32_t n_rounds;		       /* repeats of the round trip */
	double round_rtt_ns[CAL_MAX_ROUNDS];   /* each one's median */
	uint32_t n_round_floor;		       /* 0 (no floor) or n_rounds */
	double round_floor_ns[CAL_MAX_ROUNDS]; /* the 64 B floor's, in between */

	/* sanity: whether the figures agree with each other. */
	bool has_sanity;
	double floor_per_rtt;	  /* the 64 B floor in round trips; 0: no floor */
	double floor_per_rtt_max; /* the bound it was held to */
	bool disturbed;		  /* the machine looked disturbed ... */
	char disturbed_why[256];  /* ... because of this */

	/* agent: a minimal polling agent on the same protocol (two threads on
	 * the CPUs the application and the RMC get, the same WQ and CQ
	 * entries), the baseline the emulator's own figures are set against. */
	bool has_agent;
	int32_t agent_cpu[2];	   /* the poster's, the agent's */
	double agent_rate_64_mops; /* 64 B asynchronous reads: median of repeats */
	double agent_rate_64_min_mops, agent_rate_64_max_mops;
	uint32_t agent_window; /* requests in flight for the rate */
	uint32_t n_agent;
	struct cal_agent_floor {
		uint64_t size;
		/* synchronous in-place reads from memory beyond the caches */
		double median_ns, p10_ns, p90_ns, p99_ns;
		/* ... and of the same bytes every time (in cache) */
		double cached_ns, cached_p10_ns, cached_p90_ns, cached_p99_ns;
	} agent_floor[CAL_MAX_SIZES];
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
/* The agent's synchronous floor for a size, interpolated as cal_floor_ns()
 * between the sizes measured (data in cache when cached); 0 without agent
 * figures or outside the sizes measured. */
double cal_agent_floor_ns(const struct cal_data *c, uint64_t size, bool cached);

#endif /* SONUMA_CALIB_H */
