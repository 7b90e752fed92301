/* SPDX-License-Identifier: MIT */
/*
 * A minimal polling agent: the least an RMC on this machine could cost with
 * sonuma's queue-pair format, as the baseline the emulator is set against.
 *
 * Two threads on two CPUs, as rmcd places an application and its RMC: the
 * caller posts 64-byte WQ entries (wq_entry_t, published by a store-release
 * of the phase bit), the agent's thread polls the next entry, copies
 * `length` bytes from its source memory (allocated and touched at start)
 * into the destination buffer, and completes the request: with a 16-byte
 * CQ entry (cq_entry_t, phase bit last), or in the entry itself when it
 * carries RMC_WQE_INPLACE (status, then valid cleared with a
 * store-release), so that a synchronous request moves one cache line there
 * and back.  Nothing else: no validation beyond the bounds of its two
 * buffers, no timing model, no clock read, no sessions.
 *
 * Functions return 0 or a negative errno and print nothing.
 */
#ifndef SONUMA_AGENT_H
#define SONUMA_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "sonuma/qp.h"

#define EXP_AGENT_MAX_WINDOW 64 /* requests in flight at most */

struct exp_agent;

struct exp_agent_cfg {
	int app_cpu;	  /* the calling thread (the poster) is pinned here; -1: not */
	int agent_cpu;	  /* the agent's thread; -1: not pinned */
	uint64_t src_len; /* bytes the agent reads from */
	uint64_t dst_len; /* bytes it writes into (both shared memory, as rmcd's) */
};

/* Allocates and touches both buffers, starts the agent's thread, and checks
 * with one read that it moves the right bytes.  -EIO when it does not,
 * -ETIMEDOUT when the agent does not answer within a few seconds. */
int exp_agent_start(const struct exp_agent_cfg *cfg, struct exp_agent **out);

/* n asynchronous reads of size bytes (window in flight, 1 to
 * EXP_AGENT_MAX_WINDOW), from and to offsets cycling over the first span
 * bytes of both buffers (span >= size): the TSC ticks from the first post to
 * the last completion taken into *ticks. */
int exp_agent_rate(struct exp_agent *a, uint64_t size, uint64_t span, unsigned window, uint64_t n,
		   uint64_t *ticks);

/* The least a timed emulator could cost: n asynchronous reads as
 * exp_agent_rate, each stamped with the TSC at its post (in the entry, as
 * the library does) and due latency ticks after it.  The agent completes
 * each at once with that due time (no model, no waiting of its own); the
 * poster takes a completion no earlier than its due time, reading the TSC
 * as the library's rmc_wait_cq does, and stamps it as sonuma-bench's
 * handler does: lat[i] gets the ticks from post to that stamp, in the
 * order they were taken (lat NULL: no stamps, as sonuma-bench --bw);
 * *ticks the whole run. */
int exp_agent_timed(struct exp_agent *a, uint64_t size, uint64_t span, unsigned window, uint64_t n,
		    uint64_t latency, uint64_t *lat, uint64_t *ticks);

/* n synchronous in-place reads of size bytes, one at a time, each one's
 * TSC ticks (post to completion seen) into lat[i]: of the same bytes every
 * time (in cache) unless beyond_cache, then from offsets spread over the
 * whole source in an order the prefetchers do not follow (into the same
 * offsets of the destination when it is as large). */
int exp_agent_sync(struct exp_agent *a, uint64_t size, bool beyond_cache, uint64_t n,
		   uint64_t *lat);

/* exp_agent_sync with, before each read, before(arg) when not NULL (a
 * pause: the tail at low load), and a latency: with latency > 0 each
 * read is stamped at its post, the agent completes it in place with a due
 * time latency ticks after that, and the poster does not take it before
 * (as the library's rmc__wait_inplace): the least a timed emulator could
 * do for synchronous reads. */
int exp_agent_sync_ex(struct exp_agent *a, uint64_t size, bool beyond_cache, uint64_t n,
		      uint64_t latency, void (*before)(void *arg), void *arg, uint64_t *lat);

/* Lends the agent's queues to a caller that posts through sonuma's library
 * (rmc_rread_async, rmc_wait_cq, rmc_rread_sync, ...), positioned where
 * the agent's own poster left them, nothing in flight, no rmcd behind
 * them (kal_fd -1): the library's own cost with an RMC that costs
 * nothing.  latency > 0: the library stamps its posts and each completion
 * is due latency ticks after its post.  *dst is the buffer the agent
 * copies into (the caller's local buffer, offsets as buf_offset), of
 * *dst_len bytes; reads come from offset `offset` of its source.
 * exp_agent_return() takes them back (nothing in flight). */
void exp_agent_lend(struct exp_agent *a, uint64_t latency, rmc_wq_t **wq, rmc_cq_t **cq,
		    uint8_t **dst, uint64_t *dst_len);
void exp_agent_return(struct exp_agent *a);

/* Stops the agent's thread and frees everything. */
void exp_agent_stop(struct exp_agent *a);

#endif /* SONUMA_AGENT_H */
