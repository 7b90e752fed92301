/* SPDX-License-Identifier: MIT */
/*
 * sonuma_msg.h: solicited messages between nodes (rmc_send / rmc_recv),
 * built on the one-sided writes of sonuma.h.
 *
 * The original soNUMA platform declared rmc_send() and rmc_recv(), with
 * signatures that changed between its versions (a WQ, a CQ, the context
 * and a local buffer passed to every call, or send slots chosen by the
 * caller).  This one keeps the two names but gives them an endpoint that
 * holds all of that, so a call cannot mix up buffers or queues:
 *
 *   struct rmc_msg_params p = { .fd = fd, .wq = wq, .cq = cq,
 *                               .lbuff = lbuff, .lbuff_len = ...,
 *                               .ctx = ctx, .ctx_len = ..., .ctx_id = 1 };
 *   struct rmc_msg_ep *ep;
 *   rmc_msg_init(&ep, &p);
 *   rmc_send(ep, 1, "hello", 5, 0);             // to node 1
 *   int src = RMC_MSG_ANY;
 *   int len = rmc_recv(ep, &src, buf, sizeof(buf), 0);
 *
 * Every call returns 0 (or a length) or a negative errno.
 *
 * How it works (docs/DESIGN.md, "Messaging", has the details):
 *  - every node reserves a message area in one of its own contexts, at the
 *    same context id and offset on every node: a header, one connection
 *    line and one credit line per peer, and per sender a ring of `slots`
 *    slots of rmc_msg_slot_size() bytes;
 *  - a sender writes a message with a single remote write into the next
 *    slot of its ring at the receiver; the slot carries the message's
 *    sequence mark in its first and its last 8 bytes and a checksum, and
 *    the receiver, which polls its own memory, takes it only when both
 *    marks match and the checksum adds up (the RMC's copy may store the
 *    bytes of a slot in any order, so the marks alone prove nothing);
 *  - the receiver gives slots back (credits) by writing how many it has
 *    consumed into the sender's area, in batches; a sender never has more
 *    than `slots` unconsumed messages at a receiver, so a slow receiver
 *    loses nothing and a fast sender waits (or gets -EAGAIN);
 *  - messages of one sender to one receiver arrive in order, each exactly
 *    once; nothing is ordered between different senders;
 *  - a message is not visible to the receiver before the time the timing
 *    model gives the write that carries it (unless RMC_MSG_F_NATIVE).
 *
 * Every node of the cluster must use the same slots, max_msg, ctx_id and
 * ctx_offset: a sender checks the receiver's area when it connects and
 * refuses (-EPROTO) one laid out differently.
 *
 * An endpoint belongs to one thread, and it owns its queue pair: do not
 * post on that WQ or poll that CQ elsewhere while the endpoint lives.
 * One endpoint per node and message area: a second one on an area whose
 * owner is alive is refused with -EADDRINUSE.
 *
 * The header compiles as C11 and as C++17.
 */
#ifndef SONUMA_MSG_H
#define SONUMA_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "sonuma.h"

#ifdef __cplusplus
extern "C" {
#endif

/* rmc_recv(): take a message from whichever sender has one. */
#define RMC_MSG_ANY (-1)

/* Flags of rmc_send() and rmc_recv(). */
enum rmc_msg_flags {
	/* Never wait: rmc_send() returns -EAGAIN when it has no credit (or
	 * no free staging slot or WQ entry) and otherwise returns once the
	 * write is posted; rmc_recv() returns -EAGAIN when no message is
	 * there.  Without it, rmc_send() waits for a credit and then for the
	 * write's completion, and rmc_recv() waits for a message. */
	RMC_MSG_DONTWAIT = 1,
};

/* Flags of struct rmc_msg_params. */
enum rmc_msg_ep_flags {
	/* Messages become visible as soon as their bytes are there, at the
	 * emulator's native speed, instead of at the model's time for the
	 * write (see docs/DESIGN.md). */
	RMC_MSG_F_NATIVE = 1,
};

/* Defaults for the fields of struct rmc_msg_params left at 0. */
#define RMC_MSG_DEFAULT_SLOTS 16
#define RMC_MSG_DEFAULT_MAX_MSG 1024
#define RMC_MSG_MAX_SLOTS 65536
#define RMC_MSG_MAX_TX_DEPTH 64

/* What an endpoint is made of.  The caller registers the queue pair, the
 * local buffer and the context mapping (kal_reg_*) and keeps them for the
 * endpoint's life; rmc_msg_init() copies this struct. */
struct rmc_msg_params {
	int fd;	      /* kal_open()'s descriptor of this node */
	rmc_wq_t *wq; /* a queue pair for the endpoint alone */
	rmc_cq_t *cq;
	uint8_t *lbuff;	       /* a registered local buffer (kal_reg_lbuff) ... */
	uint64_t lbuff_len;    /* ... of which the endpoint uses this many bytes
			       * from lbuff: at least rmc_msg_lbuff_size() */
	uint8_t *ctx;	       /* this node's mapping of context ctx_id
			       * (kal_reg_ctx_id), from its start ... */
	uint64_t ctx_len;      /* ... this many bytes long */
	uint32_t ctx_id;       /* the context holding the message area */
	uint32_t flags;	       /* enum rmc_msg_ep_flags */
	uint64_t ctx_offset;   /* where the area starts: a multiple of 64 */
	uint32_t slots;	       /* per sender: a power of two up to
			       * RMC_MSG_MAX_SLOTS (0: RMC_MSG_DEFAULT_SLOTS) */
	uint32_t max_msg;      /* largest message in bytes (0: the default);
			       * a slot must fit the maximum transfer */
	uint32_t tx_depth;     /* sends in flight at once, 1..RMC_MSG_MAX_TX_DEPTH
			       * (0: slots, at most 32) */
	uint32_t credit_batch; /* consumed messages per credit write, 1..slots
				* (0: slots / 2) */
	uint32_t timeout_ms;   /* blocking calls give up with -ETIMEDOUT after
			       * this long (0: they wait for ever) */
	uint32_t spin_us;      /* blocking calls spin this long before yielding
			       * the CPU between polls (0: 50 us) */
};

/* What an endpoint is, once initialised. */
struct rmc_msg_info {
	uint32_t nid;	/* this node */
	uint32_t nodes; /* peers are 0..nodes-1 (this node included) */
	uint32_t slots;
	uint32_t max_msg;
	uint32_t slot_size; /* bytes per slot: header, message, trailer */
	uint32_t tx_depth;
	uint32_t credit_batch;
	uint32_t flags;
	uint64_t area_size;  /* bytes of the message area in the context */
	uint64_t lbuff_size; /* bytes of the local buffer used */
};

struct rmc_msg_ep;

/* Bytes of one slot for messages of up to max_msg bytes (0: the default),
 * or -EINVAL. */
int64_t rmc_msg_slot_size(uint32_t max_msg);
/* Bytes the message area takes in a cluster of nodes nodes, with the
 * slots and max_msg of p (fd, wq, ... are not looked at), or -EINVAL. */
int64_t rmc_msg_area_size(const struct rmc_msg_params *p, uint32_t nodes);
/* Bytes of local buffer an endpoint with p needs, or -EINVAL. */
int64_t rmc_msg_lbuff_size(const struct rmc_msg_params *p, uint32_t nodes);

/* Creates an endpoint: checks p, clears this node's message area and
 * publishes it, so that other nodes can connect.  0, or
 *   -EINVAL      a bad or missing field, or a region too small;
 *   -EMSGSIZE    max_msg makes a slot larger than rmcd's maximum transfer;
 *   -EADDRINUSE  a live endpoint of another program owns the area;
 *   -ENOMEM, or what kal_info() returns. */
int rmc_msg_init(struct rmc_msg_ep **ep, const struct rmc_msg_params *p);
/* Waits (up to the timeout, or a second) for this endpoint's writes, then
 * withdraws the area: senders connected to it get -ECONNRESET when they
 * next run out of credits, new ones -ECONNREFUSED.  Frees ep, which may be
 * NULL.  0, or -ETIMEDOUT when writes were still in flight. */
int rmc_msg_fini(struct rmc_msg_ep *ep);
int rmc_msg_get_info(const struct rmc_msg_ep *ep, struct rmc_msg_info *info);

/* Connects to node dst now (rmc_send() does it on first use): reads dst's
 * message area and announces this endpoint there.  Waits for both remote
 * operations, whatever the flags of later sends.  0, or
 *   -ECONNREFUSED  dst has no endpoint on its area (not initialised yet,
 *                  or finished): nothing was sent; try again later;
 *   -EPROTO        dst's area is laid out differently (slots, max_msg,
 *                  nodes differ);
 *   -EINVAL, or a remote operation's -errno. */
int rmc_msg_connect(struct rmc_msg_ep *ep, int dst);

/* Sends len bytes (0..max_msg) from buf to node dst, connecting first when
 * needed.  buf may be reused as soon as the call returns.  0, or
 *   -EMSGSIZE      len is above max_msg;
 *   -EAGAIN        (RMC_MSG_DONTWAIT) no credit for dst right now (or no
 *                  free staging slot or WQ entry); a sender out of credits
 *                  reads dst's header every 10 ms to notice a receiver
 *                  that went away, even with RMC_MSG_DONTWAIT;
 *   -ETIMEDOUT     waited timeout_ms for a credit, or for the completion
 *                  (then the message was posted and may still arrive);
 *   -ECONNREFUSED, -EPROTO  as rmc_msg_connect();
 *   -ECONNRESET    dst's endpoint went away or was replaced; the next
 *                  call connects afresh (messages not yet received are
 *                  lost with the old endpoint);
 *   -ENOTCONN      rmcd is gone;
 *   -EINVAL        bad arguments;
 *   or the -errno of an earlier RMC_MSG_DONTWAIT send to dst that failed,
 *   once (that connection is dropped). */
int rmc_send(struct rmc_msg_ep *ep, int dst, const void *buf, size_t len, int flags);

/* Receives one message into buf (cap bytes).  *src is RMC_MSG_ANY (next
 * message of any sender, senders served round-robin) or a node id; on
 * success it is set to the sender (src may be NULL: any sender).  Returns
 * the message's length, or
 *   -EAGAIN     (RMC_MSG_DONTWAIT) no message;
 *   -EMSGSIZE   the next message is longer than cap: it stays, *src names
 *               its sender, and a call with room enough takes it;
 *   -ETIMEDOUT  waited timeout_ms;
 *   -EBADMSG    a slot of *src's ring was malformed (skipped);
 *   -ENOTCONN   rmcd is gone;
 *   -EINVAL     bad arguments. */
int rmc_recv(struct rmc_msg_ep *ep, int *src, void *buf, size_t cap, int flags);

/* Non-blocking housekeeping for programs that poll: takes completions and
 * writes the credits owed to senders.  The number of completions taken,
 * or -errno.  (A message posted with RMC_MSG_DONTWAIT is delivered
 * without it; a receiver that stops calling rmc_recv() should call this
 * now and then, or its senders run out of credits.) */
int rmc_msg_progress(struct rmc_msg_ep *ep);
/* Waits until every send posted so far has completed.  0, the first
 * error of one (reported once), -ETIMEDOUT or -ENOTCONN. */
int rmc_msg_flush(struct rmc_msg_ep *ep);
/* Credits this endpoint holds for dst now (messages it may send without
 * waiting), or -ENOLINK when not connected to dst, or -EINVAL. */
int rmc_msg_credits(struct rmc_msg_ep *ep, int dst);

#ifdef __cplusplus
}
#endif

#endif /* SONUMA_MSG_H */
