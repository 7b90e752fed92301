/* SPDX-License-Identifier: MIT */
/*
 * rmcd internals: the nodes it serves, the sessions of applications attached
 * to them, their queue pairs, and the RMC threads that poll those queues.
 *
 * Threads: the main thread runs the control loop (sockets, signals); each
 * RMC thread owns the queue pairs assigned to it.  The two meet only through
 * an RMC thread's mailbox (add or remove a QP), so the polling loop never
 * takes a lock on its fast path.
 */
#ifndef RMCD_H
#define RMCD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "config.h"
#include "sonuma/barrier.h"
#include "stats.h"
#include "sonuma/qp.h"
#include "sonuma/tm.h"

#define RMCD_MAX_CTX 16
#define RMCD_MAX_LBUFF 64
#define RMCD_MAX_QPS_PER_SESSION 256
#define RMCD_BURST 16
/* See clk_margin_tsc: more than a few requests' work, so that a reading
 * settling a completion comes before its reach unless the RMC stalled. */
#define RMCD_CLK_MARGIN_NS 250.0

struct rmcd;
struct cal_data;
struct cal_fabric;

#define RMCD_MAX_FABRIC_CAL 8 /* CAL_MAX_FABRICS */

/* A context: a memfd segment rmcd made (fd), or a program's own memory
 * registered with rmc.ko and mapped from /dev/rmc (fd -1, dev_base).
 * handle: its /dev/rmc registration, 0 without the module. */
struct rmcd_ctx {
	uint8_t *base; /* rmcd's mapping of its first byte */
	uint64_t size;
	int fd;
	uint64_t handle;
	uint8_t *dev_base; /* the region's mapping (pages), for munmap */
	uint32_t dev_pages;
	uint32_t dev_offset;
	int dev_fd; /* the registrant's /dev/rmc, which keeps it */
};

/* A node of the cluster.  A local node is served by this rmcd: its
 * contexts, its control socket, its RMC thread.  A remote node is served by
 * another rmcd (one RMC per node); the peer thread maps its contexts when
 * that rmcd is up and unmaps them when it goes.
 *
 * live is 0 while the node cannot be reached, else the generation of its
 * contexts (1 for a local node; bumped at every attach of a remote one).
 * The peer thread fills ctx[] and n_ctx, then publishes live with a
 * store-release; RMC threads load-acquire live before they look at them.
 * Before unmapping, the peer thread clears live and waits until every RMC
 * thread has passed its mailbox (rmcd_rmc_sync), so that no transfer that
 * saw the old generation is still running. */
struct rmcd_node {
	uint32_t nid;
	int numa;
	bool local;
	uint32_t live;
	uint32_t gen; /* peer thread's count of attaches */
	struct rmcd_ctx ctx[RMCD_MAX_CTX];
	uint32_t n_ctx;
	int listen_fd;
	int lock_fd; /* local: holds the node's lock file */
	char sock_path[108];
	int peer_fd; /* remote: connection to its rmcd, or -1 */
	int peer_pid;
	int refused_pid;      /* remote: last rmcd refused, to say it once */
	bool kick;	      /* remote: it announced itself, attach now */
	int rmc;	      /* local: index of the RMC thread serving it */
	uint64_t notify_tsc;  /* cache line from its RMC thread to its CPUs */
	uint64_t app_cpus[4]; /* CPUs for this node's programs */
};

struct rmcd_lbuff {
	uint64_t app_addr; /* where the application mapped it; 0: not yet */
	uint64_t size;
	uint8_t *map;	   /* rmcd's mapping */
	int fd;		   /* its memfd, or -1: a region of /dev/rmc */
	uint8_t *dev_base; /* that region's mapping (pages), for munmap */
	uint32_t dev_pages;
	void *memh; /* the fabric's registration of map, or NULL */
};

/* One attached application connection. */
struct rmcd_session {
	struct rmcd *d;
	struct rmcd_node *node;
	int fd;
	pid_t pid;
	uid_t uid;
	bool peer; /* another node's rmcd (CTL_PEER_HELLO) */
	/* Append-only while the session lives.  n_lbuff is published with a
	 * store-release after the entry is complete; RMC threads load-acquire
	 * it, so they see whole entries only. */
	struct rmcd_lbuff lbuff[RMCD_MAX_LBUFF];
	uint32_t n_lbuff;
	uint32_t n_lbuff_alloc; /* control thread's own count */
	struct rmcd_qp *qps;	/* control thread's list */
	uint32_t n_qps;
	struct rmcd_session *next;
};

struct rmcd_qp {
	uint32_t id;
	struct rmcd_session *sess;
	rmc_wq_t *wq; /* rmcd's mappings */
	rmc_cq_t *cq;
	size_t wq_size, cq_size;
	int wq_fd, cq_fd;
	bool cq_handed;
	struct rmcd_qp *sess_next; /* control thread's */

	/* RMC-thread private from here on. */
	uint16_t depth;
	uint8_t wq_tail, wq_phase;
	uint8_t cq_head, cq_phase;
	uint32_t picked;    /* entries taken from the WQ */
	uint32_t completed; /* completions written, to the CQ or in place */
	uint32_t consumed;  /* last known completions taken by the app */
	uint32_t lbuff_hint;
	uint16_t src; /* node id */
	uint64_t notify_tsc;
	struct rmcd_cls_stats *stats; /* of its RMC thread, for its node */
};

/* A validated request, ready for the fabric. */
struct rmcd_xfer {
	uint8_t op;
	uint16_t src, dst;
	uint8_t cid;
	uint32_t gen;	 /* the target's generation when it was validated */
	uint32_t cookie; /* for a fabric that finishes it later */
	uint8_t *local;	 /* rmcd's address of the local buffer range */
	void *memh;	 /* the fabric's registration of that buffer */
	uint64_t offset; /* in the target context */
	uint64_t length;
	uint64_t arg0, arg1; /* atomics' operands */
};

/* What a fabric's xfer() answers for a transfer it has started and will
 * report later through rmcd_xfer_done() (not an enum rmc_status). */
#define RMCD_XFER_PENDING 0xff

struct rmcd_rmc;

/* How an RMC reaches other nodes' contexts.  The RMC loop takes a request,
 * validates it, hands it to xfer(), asks the model for the due time and
 * completes it; it never knows which fabric moved the bytes.
 *
 * xfer() moves the bytes of a validated request and answers RMC_OK, an
 * error status (the completion's: the request failed), or
 * RMCD_XFER_PENDING: the transfer goes on, and progress(), which the RMC
 * thread calls in its polling loop, reports it with
 * rmcd_xfer_done(m, x->cookie, status) when it finishes.  A fabric whose
 * transfers always finish at once leaves progress NULL. */
struct rmcd_fabric_ops {
	const char *name;
	uint8_t (*xfer)(struct rmcd_rmc *m, const struct rmcd_xfer *x);
	int (*progress)(struct rmcd_rmc *m);
	/* Slow path, each optional.  start: once the cluster is built and
	 * before the RMC threads run, sets the fabric up and starts reaching
	 * the other nodes (an error is fatal, its message in err).  stop:
	 * before the RMC threads stop.  fini: after they did, frees what
	 * start made (also after a failed start). */
	int (*start)(struct rmcd *d, char *err, size_t errlen);
	void (*stop)(struct rmcd *d);
	void (*fini)(struct rmcd *d);
	/* Runs on RMC thread m, asked through its mailbox
	 * (rmcd_rmc_fabric_call): what must happen on that thread. */
	void (*mbox)(struct rmcd_rmc *m, void *arg);
	/* Optional: whether the fabric has work of its own on RMC thread m
	 * that only progress() moves on (an endpoint still being wired up).
	 * An RMC thread without queue pairs does not sleep while it has. */
	bool (*busy)(struct rmcd_rmc *m);
	/* Registers a local buffer for transfers (rmcd_xfer.memh). */
	int (*reg)(struct rmcd *d, void *addr, size_t len, void **memh);
	void (*dereg)(struct rmcd *d, void *memh);
};

/* A transfer the fabric is still moving, and what completing it needs. */
struct rmcd_inflight {
	struct rmcd_qp *qp; /* NULL: free, or its QP was torn down */
	uint64_t t_post;
	uint64_t due; /* a deferred write's due time; 0 otherwise */
	uint64_t size;
	uint16_t dst;
	uint8_t op, tid, cls;
	bool inplace;
	bool dropped; /* its QP is being torn down: no completion */
	uint32_t next_free;
};

/* A completion waiting for its due time (and, for a write under a timing
 * model, the transfer that lands its data at the target). */
struct rmcd_pending {
	uint64_t at;  /* TSC when the CQ entry must be written */
	uint64_t due; /* TSC when the application may see it */
	uint64_t t_post;
	struct rmcd_qp *qp;
	uint8_t tid;
	uint8_t status;
	uint8_t cls;  /* size class */
	bool apply;   /* move x's bytes first */
	bool inplace; /* complete in the WQ entry (RMC_WQE_INPLACE) */
	struct rmcd_xfer x;
};

/* The due-time queue: a min-heap of small keys (so that sifting moves 16
 * bytes, not a record), each naming the slot of its record in v. */
struct rmcd_hkey {
	uint64_t at; /* as the record's */
	uint32_t slot;
};

struct rmcd_heap {
	struct rmcd_hkey *k;	/* the heap, n keys */
	struct rmcd_pending *v; /* records, cap slots */
	uint32_t *free;		/* free slots, a stack of cap - n */
	uint32_t n, cap;
};

enum rmcd_mbox_op { MBOX_ADD = 1, MBOX_REMOVE = 2, MBOX_SYNC = 3, MBOX_FABRIC = 4 };

struct rmcd_mbox_msg {
	enum rmcd_mbox_op op;
	struct rmcd_qp *qp;
	void *arg; /* MBOX_FABRIC: for the fabric's mbox() */
	bool done;
	struct rmcd_mbox_msg *next;
};

struct rmcd_rmc {
	struct rmcd *d;
	int idx;
	int cpu;
	bool shares_cpu; /* with a node's programs: yield when idle */
	pthread_t thread;
	bool started;
	/* Mailbox: the control thread queues a message under mu and raises
	 * pending; the RMC thread drains it and signals cv. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rmcd_mbox_msg *mbox;
	uint32_t pending; /* atomic flag */
	/* RMC-thread private. */
	struct rmcd_qp **qps;
	uint32_t n_qps, cap_qps;
	struct rmcd_heap heap;
	/* Transfers the fabric has not finished, by cookie; a free list. */
	struct rmcd_inflight *fl;
	uint32_t n_fl, fl_free, fl_busy;
	uint64_t served; /* requests, for the exit summary */
	uint64_t errors; /* requests refused by validation */
	/* [node][size class], written by this thread only. */
	struct rmcd_cls_stats *stats;
	void *fab; /* the fabric's state for this thread */
};

struct rmcd {
	struct core_config cfg;
	double tsc_hz;
	double notify_ns; /* < 0: from the calibration */
	uint64_t late_slack_tsc;
	/* A completion this far or more from its reach settles its lateness
	 * with a later clock reading of its burst (rmc.c, struct bclock);
	 * 0: every completion reads the clock. */
	uint64_t clk_margin_tsc;
	uint64_t lead_tsc;     /* completions are written this far ahead */
	uint64_t overhead_tsc; /* the library's own cost, subtracted from due */
	/* Calibrated time to copy the largest size of each size class (the
	 * floor's growth over 64 B); 0 without a calibration. */
	uint64_t copy_tsc[RMCD_SIZE_CLASSES];
	/* The same for a node this rmcd does not serve (through the fabric). */
	uint64_t copy_far_tsc[RMCD_SIZE_CLASSES];
	struct cal_data *cal; /* NULL without a calibration file */
	char cal_path[256];
	/* A fabric whose transfers do not go through mapped memory (ucx) has
	 * a floor of its own: the calibration's sections for this node's
	 * address and the others' of fabric.nodes (n_fab_cal 0: none). */
	bool fab_own_floor;
	const struct cal_fabric *fab_cal[RMCD_MAX_FABRIC_CAL];
	uint32_t n_fab_cal;
	struct rmcd_node *nodes;
	uint32_t n_nodes;
	int self; /* the node served alone, or -1: every node */
	/* The peer thread (peer.c): attaches to the rmcds of remote nodes. */
	pthread_t peer_thread;
	bool peer_started;
	uint32_t peer_quit; /* atomic: the peer thread exits when set */
	int peer_evfd;
	int rmcdev_fd; /* /dev/rmc (rmc.ko), or -1 */
	uint32_t rmcdev_mynid;
	uint64_t desc_hash; /* of the model's description, for peers */
	void *shared_seg;   /* state the model shares with peers */
	size_t shared_len;
	int shared_fd;
	struct rmcd_rmc *rmcs;
	uint32_t n_rmcs;
	const struct rmcd_fabric_ops *fabric;
	void *fab; /* the fabric's own state */
	const struct tm_ops *model;
	void *model_state;
	int epfd;
	int sigfd;
	uint32_t stop; /* atomic: RMC threads exit when set */
	struct rmcd_session *sessions;
	uint32_t next_qp_id;
	uint64_t max_transfer;
};

/* validate.c: checks one WQ entry copied out of shared memory against the
 * cluster and the session's registered buffers.  Returns RMC_OK and fills x,
 * or an error status; never touches memory. */
uint8_t rmcd_validate(const struct rmcd *d, struct rmcd_qp *qp, const wq_entry_t *e,
		      struct rmcd_xfer *x);

/* pending.c: min-heap of completions by due time. */
int rmcd_heap_init(struct rmcd_heap *h, uint32_t cap);
void rmcd_heap_free(struct rmcd_heap *h);
int rmcd_heap_reserve(struct rmcd_heap *h, uint32_t cap);
/* The caller reserves room first: push never allocates. */
void rmcd_heap_push(struct rmcd_heap *h, const struct rmcd_pending *p);
static inline const struct rmcd_pending *rmcd_heap_top(const struct rmcd_heap *h)
{
	return h->n ? &h->v[h->k[0].slot] : 0;
}
/* The record of the i-th key (in heap order; for the tests). */
static inline struct rmcd_pending *rmcd_heap_at(struct rmcd_heap *h, uint32_t i)
{
	return &h->v[h->k[i].slot];
}
void rmcd_heap_pop(struct rmcd_heap *h);
/* Drops every entry of qp. */
void rmcd_heap_purge(struct rmcd_heap *h, const struct rmcd_qp *qp);

/* rmc.c */
int rmcd_rmc_start(struct rmcd *d, struct rmcd_rmc *m);
void rmcd_rmc_stop(struct rmcd *d);
/* Runs one pass over the thread's QPs and due completions (tests drive
 * the loop with it); returns the number of requests taken. */
int rmcd_rmc_poll_once(struct rmcd_rmc *m);
/* Mailbox: hand a QP to / take it back from its RMC thread.  With the
 * thread not started, applies the change directly. */
int rmcd_rmc_add_qp(struct rmcd_rmc *m, struct rmcd_qp *qp);
void rmcd_rmc_remove_qp(struct rmcd_rmc *m, struct rmcd_qp *qp);
void rmcd_rmc_apply_mbox(struct rmcd_rmc *m);
void rmcd_print_stats(struct rmcd *d);
/* Sums the counters of node nid (all nodes if nid < 0) in size class cls
 * (all classes if cls < 0) over every RMC thread. */
void rmcd_stats_sum(const struct rmcd *d, int nid, int cls, struct rmcd_cls_stats *out);
/* Percentile p of a summed histogram, in TSC ticks. */
uint64_t rmcd_stats_pct(const struct rmcd_cls_stats *s, double p);

/* qp.c: creating and destroying queue pairs and sessions' segments. */
int rmcd_qp_create(struct rmcd *d, struct rmcd_session *s, struct rmcd_qp **out);
void rmcd_qp_destroy(struct rmcd_qp *qp);

/* rmcdev.c: rmc.ko, when it is loaded. */
/* Opens /dev/rmc if it is there and registers the local contexts through
 * it; says which at start.  Never fails: without it, the memfd path. */
void rmcd_dev_init(struct rmcd *d);
void rmcd_dev_fini(struct rmcd *d);
/* Maps region handle of /dev/rmc: npages pages, the first byte of
 * interest at offset.  0 or -errno. */
int rmcd_dev_map(struct rmcd *d, uint64_t handle, uint32_t offset, uint64_t len, uint8_t **base,
		 uint8_t **first, uint32_t *npages);

/* cluster.c */
/* Makes the run directory (ours, mode 0700 or 0711); idempotent. */
int rmcd_rundir_prepare(struct rmcd *d, char *err, size_t errlen);
int rmcd_cluster_init(struct rmcd *d, char *err, size_t errlen);
void rmcd_cluster_fini(struct rmcd *d);

/* ctl.c */
int rmcd_ctl_run(struct rmcd *d);
void rmcd_session_close(struct rmcd *d, struct rmcd_session *s);

/* fabric_shm.c, fabric_ucx.c */
extern const struct rmcd_fabric_ops rmcd_fabric_shm;
extern const struct rmcd_fabric_ops rmcd_fabric_ucx;
/* fabric_xen.c: nodes are Xen PV guests (absent when built without
 * libxenstore). */
extern const struct rmcd_fabric_ops rmcd_fabric_xen;
/* The fabric named name (rmc.conf's fabric.name), or NULL: this build
 * does not have it. */
const struct rmcd_fabric_ops *rmcd_fabric_find(const char *name);

/* Whether the target's contexts are still those the request was validated
 * against: a remote node that died (or came back) since fails it. */
static inline bool rmcd_target_live(const struct rmcd *d, const struct rmcd_xfer *x)
{
	return SONUMA_READ_ONCE(d->nodes[x->dst].live) == x->gen;
}

/* The shm fabric: every node's context is mapped in rmcd (a remote node's
 * through the memfd its rmcd sent), so a transfer is a memcpy between the
 * requester's local buffer and the target's context, which lives on the
 * target's NUMA domain.  Inline, for the RMC loop.  Called in the pass that
 * validated x, the target's mapping cannot go meanwhile (an unmap waits for
 * the pass to end); a transfer held back to a later pass checks
 * rmcd_target_live() first. */
static inline uint8_t rmcd_shm_xfer(const struct rmcd *d, const struct rmcd_xfer *x)
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
	return RMC_OK;
}

/* Moves the bytes of a validated request: the shm fabric without an
 * indirect call, any other through its ops table. */
static inline uint8_t rmcd_xfer(struct rmcd_rmc *m, const struct rmcd_xfer *x)
{
	if (m->d->fabric == &rmcd_fabric_shm)
		return rmcd_shm_xfer(m->d, x);
	return m->d->fabric->xfer(m, x);
}

/* rmc.c: a fabric reports a transfer it answered RMCD_XFER_PENDING for. */
void rmcd_xfer_done(struct rmcd_rmc *m, uint32_t cookie, uint8_t status);
/* Waits until RMC thread m has finished whatever it was doing (it passes
 * its mailbox); immediate when the thread is not running. */
void rmcd_rmc_sync(struct rmcd_rmc *m);
/* Runs the fabric's mbox(m, arg) on RMC thread m and waits for it; runs it
 * here when the thread is not started. */
void rmcd_rmc_fabric_call(struct rmcd_rmc *m, void *arg);

/* peer.c: the rmcds of remote nodes, found through the run directory. */
int rmcd_peer_start(struct rmcd *d, char *err, size_t errlen);
void rmcd_peer_stop(struct rmcd *d);
void rmcd_peer_fini(struct rmcd *d);
/* The ctl thread heard from node nid's rmcd: attach to it now. */
void rmcd_peer_kick(struct rmcd *d, uint32_t nid);

/* shared.c: a segment of the run directory every rmcd of the cluster maps. */
void *rmcd_shared_get(void *arg, const char *name, size_t size);
void rmcd_shared_fini(struct rmcd *d);

#endif /* RMCD_H */
