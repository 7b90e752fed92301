/* SPDX-License-Identifier: MIT */
/*
 * Queue-pair wire format, shared between an application and rmcd.
 *
 * The layout keeps the field names of the original soNUMA platform so that
 * its programs compile unchanged.  A work queue (WQ) is a ring of 64-byte
 * entries written by the application; the completion queue (CQ) is a ring of
 * 16-byte entries written by the RMC.  Both rings use a sense-reversal (phase)
 * bit, SR: an entry is new when its SR equals the reader's expected phase,
 * and the expected phase flips each time the reader wraps.  Both start at 1
 * over entries zeroed to SR = 0.
 *
 * Ownership: the application writes wq->q[] (all fields, SR last with a
 * store-release), wq->head, wq->SR, cq->tail, cq->SR and the valid flags.
 * The RMC writes cq->q[] (SR last with a store-release), and the status,
 * due and valid fields of entries completed in place.  It reads nothing
 * else of the application's and validates every field it reads.
 *
 * In-place completion: an entry posted with RMC_WQE_INPLACE completes in
 * the entry itself instead of the CQ, so that a synchronous request moves
 * one cache line there and back, as a hardware RMC's would.  The RMC writes
 * its status and due fields, then clears valid with a store-release; the
 * application waits for valid == 0 with a load-acquire and then adds one to
 * cq->consumed, as for a CQ entry taken (the RMC's flow control counts
 * both alike).
 */
#ifndef SONUMA_QP_H
#define SONUMA_QP_H

#include <stdint.h>

#ifndef PAGE_SIZE
#define PAGE_SIZE 4096
#endif

/* Entries per queue; the configured queue depth may be smaller. */
#define MAX_NUM_WQ 128

/* Requests shorter than this are rounded up, as on the original platform. */
#define RMC_MIN_LENGTH 64

/* Operation codes: the original's characters. */
enum rmc_op {
	RMC_OP_READ = 'r',
	RMC_OP_WRITE = 'w',
	RMC_OP_CAS = 'c', /* compare-and-swap of an 8-byte-aligned remote word */
	RMC_OP_FAA = 'a', /* fetch-and-add of an 8-byte-aligned remote word */
};

/* Atomics work on this many bytes; the old value lands in the local buffer. */
#define RMC_ATOMIC_LENGTH 8

/* wq_entry_t.flags */
enum rmc_wqe_flags {
	RMC_WQE_INPLACE = 1, /* complete in the entry, not in the CQ (above) */
};

/* rmc_wq_t.flags, set by rmcd when it creates the queue pair */
enum rmc_wq_flags {
	/* The timing model in force ignores post times: posts need not read
	 * the TSC (t_post may be 0). */
	RMC_WQ_NO_TSTAMP = 1,
	/* The RMC thread serving the queue pair runs on a CPU meant for the
	 * node's programs (a node with no CPU free of RMC threads, such as a
	 * guest with one vCPU): a program waiting on that CPU keeps the RMC
	 * from completing its request, so waits yield after a few spins. */
	RMC_WQ_SHARED_CPU = 2,
};

/* What a completion says about its request. */
enum rmc_status {
	RMC_OK = 0,
	RMC_ERR_OP = 1,		  /* unknown operation code */
	RMC_ERR_NID = 2,	  /* no such node */
	RMC_ERR_CID = 3,	  /* no such context on that node */
	RMC_ERR_CTX_RANGE = 4,	  /* offset + length outside the context */
	RMC_ERR_BUF = 5,	  /* buf_addr is not a registered local buffer */
	RMC_ERR_BUF_RANGE = 6,	  /* buf_offset + length outside the buffer */
	RMC_ERR_LENGTH = 7,	  /* zero, or above the maximum transfer */
	RMC_ERR_ALIGN = 8,	  /* misaligned target for an atomic */
	RMC_ERR_DEAD = 9,	  /* rmcd is gone (set by the library) */
	RMC_ERR_FLUSHED = 10,	  /* the queue pair was torn down */
	RMC_ERR_UNREACHABLE = 11, /* the target node's RMC is not up, or died */
	RMC_ERR_FABRIC = 12,	  /* the fabric failed the transfer */
	RMC_STATUS_MAX
};

typedef struct wq_entry {
	uint8_t op;	     /* enum rmc_op */
	uint8_t SR;	     /* phase; the store-release that publishes */
	uint8_t valid;	     /* application-owned: slot in use */
	uint8_t cid;	     /* context id on the target node */
	uint16_t nid;	     /* target node id */
	uint8_t status;	     /* copied from the CQ entry, or written in place */
	uint8_t flags;	     /* enum rmc_wqe_flags */
	uint64_t arg0;	     /* atomics: the expected value (CAS) or addend (FAA) */
	uint64_t buf_addr;   /* base of a registered local buffer */
	uint64_t buf_offset; /* offset into that buffer */
	uint64_t offset;     /* offset into the target's context */
	uint64_t length;     /* bytes */
	uint64_t t_post;     /* TSC when posted, for the timing model (0 when
			       * the WQ has RMC_WQ_NO_TSTAMP) */
	union {
		uint64_t arg1; /* atomics: the new value (CAS) */
		uint64_t due;  /* once completed: as cq_entry_t.due (0: none) */
	};
} __attribute__((aligned(64))) wq_entry_t;

typedef struct cq_entry {
	uint8_t SR;	/* phase; the store-release that publishes */
	uint8_t tid;	/* index of the completed WQ entry */
	uint8_t status; /* enum rmc_status */
	uint8_t rsvd0;
	uint32_t rsvd1;
	/* TSC before which the completion is not visible (0: at once).  The
	 * RMC writes entries a little ahead of their due time; the library's
	 * poll hides them until then, so cache-line transfer jitter between
	 * cores does not move the time an application sees them. */
	uint64_t due;
} cq_entry_t;

typedef struct rmc_wq {
	wq_entry_t q[MAX_NUM_WQ];
	uint8_t head;	/* next entry the application fills */
	uint8_t SR;	/* phase the application writes */
	uint16_t depth; /* entries in use, set by rmcd: 1..MAX_NUM_WQ */
	int32_t kal_fd; /* application-private: control socket of its rmcd */
	uint32_t qp_id; /* as assigned by rmcd */
	uint32_t flags; /* enum rmc_wq_flags, set by rmcd */
	/* Set by rmcd: how far past its due time the program may see a
	 * completion before it counts as seen late (rmc_cq_t.seen_late);
	 * 0: none is counted. */
	uint64_t late_slack_tsc;
} __attribute__((aligned(64))) rmc_wq_t;

typedef struct rmc_cq {
	cq_entry_t q[MAX_NUM_WQ];
	uint8_t tail;	   /* next entry the application consumes */
	uint8_t SR;	   /* phase the application expects */
	uint16_t depth;	   /* same as the WQ's */
	uint32_t consumed; /* completions taken, free-running: flow control */
	/* Synchronous requests (RMC_WQE_INPLACE) that the program saw more
	 * than the WQ's late_slack_tsc after their due time, whatever made
	 * them so (the RMC, or the cache line's way back to a waiting core):
	 * the program's own view of lateness, beside rmcd's (which counts a
	 * completion written too late to arrive in time).  Free-running,
	 * written by the program only. */
	uint32_t seen_late;
	uint32_t seen; /* the synchronous requests with a due time it saw */
} __attribute__((aligned(64))) rmc_cq_t;

#ifdef __cplusplus
static_assert(sizeof(wq_entry_t) == 64, "WQ entry is one cache line");
static_assert(sizeof(cq_entry_t) == 16, "CQ entry is 16 bytes");
#else
_Static_assert(sizeof(wq_entry_t) == 64, "WQ entry is one cache line");
_Static_assert(sizeof(cq_entry_t) == 16, "CQ entry is 16 bytes");
_Static_assert(__builtin_offsetof(wq_entry_t, buf_addr) == 16, "layout");
_Static_assert(__builtin_offsetof(wq_entry_t, t_post) == 48, "layout");
_Static_assert(__builtin_offsetof(wq_entry_t, arg0) == 8, "layout");
_Static_assert(__builtin_offsetof(wq_entry_t, due) == 56, "layout");
_Static_assert(MAX_NUM_WQ <= 256, "tid is 8 bits");
#endif

#endif /* SONUMA_QP_H */
