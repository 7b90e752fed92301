/* SPDX-License-Identifier: MIT */
/*
 * Control protocol between libsonuma (KAL) and rmcd over a node's UNIX
 * socket.  Every message is a fixed-size struct of fixed-width integers; a
 * segment travels as a file descriptor (SCM_RIGHTS) beside the reply.
 * rmcd validates every field of every request.
 */
#ifndef SONUMA_PROTO_H
#define SONUMA_PROTO_H

#include <stdint.h>

#define CTL_MAGIC 0x414d4e53u /* "SNMA" */
#define CTL_VERSION 1
#define CTL_CPUSET_WORDS 4 /* up to 256 CPUs */

enum ctl_op {
	CTL_HELLO = 1,	   /* -> ctl_info */
	CTL_REG_WQ = 2,	   /* new QP; -> qp id, WQ segment fd */
	CTL_REG_CQ = 3,	   /* -> CQ segment fd of the oldest QP without one */
	CTL_REG_LBUFF = 4, /* pages -> lbuff id, segment fd */
	CTL_MAP_LBUFF = 5, /* id, addr: where the application mapped it */
	CTL_REG_CTX = 6,   /* id = context id, pages -> context segment fd */
	CTL_STATS = 7,	   /* -> ctl_stats of this node */
	CTL_DESCRIBE = 8,  /* id: 0 model, 1 calibration, 2 version -> text in raw */
	CTL_TARGET = 9,	   /* id = op, pages = target node, addr = size -> size = ps */
	/* From another node's rmcd: id = its node, pages = its NODE_CNT ->
	 * ctl_peer_info.  It then maps our contexts with CTL_REG_CTX. */
	CTL_PEER_HELLO = 10,
	/* With rmc.ko: a region of the application's own memory, registered
	 * with /dev/rmc (rsvd = its handle, addr = its address, id = its
	 * length in bytes), becomes a local buffer, in place. */
	CTL_REG_LBUFF_DEV = 11,
	/* The same for context id: the region (pages = its length in pages)
	 * replaces the context; its old contents are dropped. */
	CTL_REG_CTX_DEV = 12,
	CTL_OP_MAX
};

/* CTL_DESCRIBE's id: what to describe (kal_describe's enum has the same
 * values). */
enum ctl_desc { CTL_DESC_MODEL = 0, CTL_DESC_CALIBRATION = 1, CTL_DESC_VERSION = 2 };

struct ctl_req {
	uint32_t magic;
	uint16_t version;
	uint16_t op; /* enum ctl_op */
	uint32_t id;
	uint32_t pages;
	uint64_t addr;
	uint64_t rsvd;
};
_Static_assert(sizeof(struct ctl_req) == 32, "ctl_req is 32 bytes");

struct ctl_info {
	uint32_t nid;	/* this node */
	uint32_t nodes; /* nodes in the cluster */
	int32_t numa;	/* NUMA domain of this node's context */
	uint32_t queue_depth;
	uint64_t context_size; /* bytes of context 0 */
	uint64_t max_transfer;
	uint64_t tsc_hz;		     /* measured or calibrated TSC rate */
	uint64_t app_cpus[CTL_CPUSET_WORDS]; /* CPUs for this node's programs */
	char model[32];			     /* timing model name */
	uint64_t nodes_up;		     /* bit n: node n can be reached (n < 64) */
	uint64_t overhead_ps;		     /* the library's cost rmcd takes out of due times */
};

/* What an rmcd tells a peer rmcd, which refuses to attach when they differ
 * (same cluster size, model and contexts everywhere). */
struct ctl_peer_info {
	uint32_t nid;
	uint32_t nodes;
	uint32_t n_ctx;
	uint32_t rsvd;
	uint64_t desc_hash; /* of the model's description */
	uint32_t ctx_pages[16];
	char model[32];
};

/* CTL_STATS: counters of requests from this node; addr = a size to pick
 * its size class, 0 for all sizes.  Times in ns. */
struct ctl_stats {
	uint64_t requests;
	uint64_t errors;
	uint64_t late;
	uint64_t late_worst_ns;
	uint64_t late_mean_ns;
	uint64_t flush_worst_ns;
	uint64_t lat_p50_ns;
	uint64_t lat_p99_ns;
	uint64_t lat_mean_ns;
	uint64_t class_min; /* sizes covered: (class_min, class_max] */
	uint64_t class_max;
	uint64_t model_count;  /* requests the model gave a due time */
	uint64_t model_sum_ps; /* sum of those latencies, in picoseconds */
};

/* CTL_REG_CTX's reply for a context that is a region of /dev/rmc (no fd
 * attached): map it from the device at handle. */
struct ctl_dev_region {
	uint64_t handle;
	uint32_t offset; /* of the context's first byte in the first page */
	uint32_t npages;
};

struct ctl_resp {
	uint32_t magic;
	int32_t status; /* 0 or a negative errno */
	uint32_t id;
	uint32_t rsvd;
	uint64_t size; /* bytes of the attached segment */
	union {
		struct ctl_info info;
		struct ctl_stats stats;
		struct ctl_peer_info peer;
		struct ctl_dev_region dev;
		uint8_t raw[160];
	} u;
};
_Static_assert(sizeof(struct ctl_resp) == 184, "ctl_resp is 184 bytes");
_Static_assert(sizeof(struct ctl_info) <= 160 && sizeof(struct ctl_peer_info) <= 160,
	       "replies fit the union");

#endif /* SONUMA_PROTO_H */
