/* SPDX-License-Identifier: MIT */
/* The minimal polling agent (agent.h). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "core.h"
#include "sonuma/barrier.h"
#include "sonuma/qp.h"
#include "sonuma/tsc.h"

#define AGENT_DEPTH MAX_NUM_WQ /* the whole ring: the window keeps it from filling */
#define AGENT_TIMEOUT_NS 5000000000ll
#define AGENT_OP_STOP 0 /* an entry with this op ends the agent's thread */

_Static_assert(EXP_AGENT_MAX_WINDOW <= AGENT_DEPTH, "a window fits the ring");

struct exp_agent {
	rmc_wq_t *wq;
	rmc_cq_t *cq;
	uint8_t *src, *dst;
	int src_fd, dst_fd;
	uint64_t src_len, dst_len;
	int agent_cpu;
	pthread_t thread;
	/* The poster's side of the rings. */
	unsigned head, cq_tail;
	uint8_t sr, cq_sr;
	/* Set by the agent's thread: 1 running (pinned), < 0 -errno, 2 done. */
	int state __attribute__((aligned(64)));
	/* exp_agent_timed: a completion's due time is its post time plus
	 * this (0: none); written before the run's first post. */
	uint64_t latency __attribute__((aligned(64)));
	/* exp_agent_timed: each slot's post time, the poster's own. */
	uint64_t t_post[AGENT_DEPTH];
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* A wait that gives up after AGENT_TIMEOUT_NS, looking at the clock only
 * once in a long while. */
struct patience {
	uint64_t spins;
	int64_t until;
};

static inline bool out_of_patience(struct patience *p)
{
	if (++p->spins % 65536)
		return false;
	if (!p->until) {
		p->until = mono_ns() + AGENT_TIMEOUT_NS;
		return false;
	}
	return mono_ns() > p->until;
}

static int pin_thread(pthread_t t, int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	if (cpu >= CPU_SETSIZE)
		return -EINVAL;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(t, sizeof(set), &set);
}

/* ---- the agent's thread --------------------------------------------------- */

static void *agent_main(void *arg)
{
	struct exp_agent *a = arg;
	rmc_wq_t *wq = a->wq;
	rmc_cq_t *cq = a->cq;
	unsigned tail = 0, cq_head = 0;
	uint8_t sr = 1, cq_sr = 1;
	int r = pin_thread(pthread_self(), a->agent_cpu);

	/* Pairs with the poster's load-acquire of state. */
	sonuma_smp_store_release(&a->state, r ? r : 1);
	if (r)
		return NULL;
	for (;;) {
		wq_entry_t *e = &wq->q[tail];

		/* Pairs with the poster's store-release of SR. */
		while (sonuma_smp_load_acquire(&e->SR) != sr)
			sonuma_cpu_relax();
		uint8_t op = e->op, flags = e->flags, status = RMC_OK;
		uint64_t off = e->offset, boff = e->buf_offset, len = e->length;

		if (op == AGENT_OP_STOP)
			break;
		/* The bounds of its own two buffers, nothing more. */
		if (op != RMC_OP_READ || len > a->src_len || off > a->src_len - len ||
		    len > a->dst_len || boff > a->dst_len - len)
			status = RMC_ERR_CTX_RANGE;
		else
			memcpy(a->dst + boff, a->src + off, len);
		if (flags & RMC_WQE_INPLACE) {
			uint64_t t_post = e->t_post;
			e->status = status;
			e->due = t_post ? t_post + a->latency : 0;
			/* Pairs with the poster's load-acquire of valid. */
			sonuma_smp_store_release(&e->valid, 0);
		} else {
			cq_entry_t *c = &cq->q[cq_head];
			uint64_t t_post = e->t_post;
			c->tid = (uint8_t)tail;
			c->status = status;
			c->due = t_post ? t_post + a->latency : 0;
			/* Pairs with the poster's load-acquire of SR. */
			sonuma_smp_store_release(&c->SR, cq_sr);
			if (++cq_head == AGENT_DEPTH)
				cq_head = 0, cq_sr ^= 1;
		}
		if (++tail == AGENT_DEPTH)
			tail = 0, sr ^= 1;
	}
	sonuma_smp_store_release(&a->state, 2);
	return NULL;
}

/* ---- the poster's side ----------------------------------------------------- */

/* Fills the next WQ entry, stamped with t_post (0: none), and publishes
 * it: its index. */
static inline unsigned post_at(struct exp_agent *a, uint8_t op, uint8_t flags, uint64_t off,
			       uint64_t boff, uint64_t len, uint64_t t_post)
{
	unsigned i = a->head;
	wq_entry_t *e = &a->wq->q[i];

	e->op = op;
	e->flags = flags;
	e->valid = 1;
	e->status = 0;
	e->nid = 1;
	e->cid = 0;
	e->offset = off;
	e->buf_addr = (uint64_t)(uintptr_t)a->dst;
	e->buf_offset = boff;
	e->length = len;
	e->t_post = t_post;
	/* Pairs with the agent's load-acquire of SR. */
	sonuma_smp_store_release(&e->SR, a->sr);
	if (++a->head == AGENT_DEPTH)
		a->head = 0, a->sr ^= 1;
	return i;
}

static inline unsigned post(struct exp_agent *a, uint8_t op, uint8_t flags, uint64_t off,
			    uint64_t boff, uint64_t len)
{
	return post_at(a, op, flags, off, boff, len, 0);
}

/* One synchronous in-place read, stamped with t_post (0: none) and not
 * taken before its due time: 0, -EIO when the agent refused it,
 * -ETIMEDOUT when it did not answer. */
static inline int sync_read_at(struct exp_agent *a, uint64_t off, uint64_t boff, uint64_t len,
			       uint64_t t_post)
{
	struct patience p = { 0 };
	wq_entry_t *e = &a->wq->q[post_at(a, RMC_OP_READ, RMC_WQE_INPLACE, off, boff, len, t_post)];

	/* Pairs with the agent's store-release of valid. */
	while (sonuma_smp_load_acquire(&e->valid)) {
		sonuma_cpu_relax();
		if (out_of_patience(&p))
			return -ETIMEDOUT;
	}
	uint64_t due = e->due;
	if (t_post)
		while ((int64_t)(rmc_rdtsc() - due) < 0)
			;
	return e->status == RMC_OK ? 0 : -EIO;
}

static inline int sync_read(struct exp_agent *a, uint64_t off, uint64_t len)
{
	return sync_read_at(a, off, 0, len, 0);
}

int exp_agent_rate(struct exp_agent *a, uint64_t size, uint64_t span, unsigned window, uint64_t n,
		   uint64_t *ticks)
{
	uint64_t posted = 0, done = 0, slots, t0;
	unsigned errors = 0;

	if (!size || span < size || span > a->src_len || span > a->dst_len || !window ||
	    window > EXP_AGENT_MAX_WINDOW)
		return -EINVAL;
	slots = span / size;
	t0 = rmc_rdtsc();
	while (done < n) {
		struct patience p = { 0 };
		/* Post until the window is full, then take what has completed. */
		while (posted < n && posted - done < window) {
			uint64_t off = posted % slots * size;
			post(a, RMC_OP_READ, 0, off, off, size);
			posted++;
		}
		for (;;) {
			cq_entry_t *c = &a->cq->q[a->cq_tail];
			/* Pairs with the agent's store-release of SR. */
			if (sonuma_smp_load_acquire(&c->SR) == a->cq_sr) {
				errors += c->status != RMC_OK;
				if (++a->cq_tail == AGENT_DEPTH)
					a->cq_tail = 0, a->cq_sr ^= 1;
				done++;
				continue;
			}
			if (done == posted || (posted < n && posted - done < window))
				break;
			sonuma_cpu_relax();
			if (out_of_patience(&p))
				return -ETIMEDOUT;
		}
	}
	*ticks = rmc_rdtsc() - t0;
	return errors ? -EIO : 0;
}

/* exp_agent_timed: takes the next completion if there is one and it is due
 * (with wait, spinning until it is), stamping it into lat[*done]; as
 * rmc__cq_take_clk, then sonuma-bench's on_cq.  1 taken, 0 none,
 * -ETIMEDOUT. */
static inline int take_timed(struct exp_agent *a, bool wait, uint64_t *clk, uint64_t *lat,
			     uint64_t *done, unsigned *errors)
{
	struct patience p = { 0 };
	cq_entry_t *c = &a->cq->q[a->cq_tail];

	/* Pairs with the agent's store-release of SR. */
	while (sonuma_smp_load_acquire(&c->SR) != a->cq_sr) {
		if (!wait)
			return 0;
		sonuma_cpu_relax();
		if (out_of_patience(&p))
			return -ETIMEDOUT;
	}
	uint64_t due = c->due;
	if ((int64_t)(*clk - due) < 0 && (int64_t)((*clk = rmc_rdtsc()) - due) < 0) {
		if (!wait)
			return 0;
		while ((int64_t)((*clk = rmc_rdtsc()) - due) < 0)
			;
	}
	*errors += c->status != RMC_OK;
	if (lat)
		lat[*done] = rmc_rdtsc() - a->t_post[c->tid];
	(*done)++;
	if (++a->cq_tail == AGENT_DEPTH)
		a->cq_tail = 0, a->cq_sr ^= 1;
	return 1;
}

int exp_agent_timed(struct exp_agent *a, uint64_t size, uint64_t span, unsigned window, uint64_t n,
		    uint64_t latency, uint64_t *lat, uint64_t *ticks)
{
	uint64_t done = 0, slots, t0;
	unsigned errors = 0;
	int r;

	if (!size || span < size || span > a->src_len || span > a->dst_len || !window ||
	    window > EXP_AGENT_MAX_WINDOW || !latency)
		return -EINVAL;
	slots = span / size;
	/* Published by the first post's store-release. */
	a->latency = latency;
	t0 = rmc_rdtsc();
	/* sonuma-bench's run_async: with the window full, wait for one
	 * completion and take every other one already due (rmc_wait_cq);
	 * then post the next. */
	for (uint64_t i = 0; i < n; i++) {
		while (i - done >= window) {
			uint64_t clk = 0;
			if ((r = take_timed(a, true, &clk, lat, &done, &errors)) < 0)
				return r;
			while ((r = take_timed(a, false, &clk, lat, &done, &errors)) > 0)
				;
			if (r < 0)
				return r;
		}
		uint64_t off = i % slots * size;
		/* As the library stamps a post (rmc__post_entry_f). */
		uint64_t t = rmc_rdtsc();
		a->t_post[post_at(a, RMC_OP_READ, 0, off, off, size, t)] = t;
	}
	while (done < n)
		if ((r = take_timed(a, true, &(uint64_t){ 0 }, lat, &done, &errors)) < 0)
			return r;
	*ticks = rmc_rdtsc() - t0;
	a->latency = 0;
	return errors ? -EIO : 0;
}

int exp_agent_sync(struct exp_agent *a, uint64_t size, bool beyond_cache, uint64_t n, uint64_t *lat)
{
	return exp_agent_sync_ex(a, size, beyond_cache, n, 0, NULL, NULL, lat);
}

int exp_agent_sync_ex(struct exp_agent *a, uint64_t size, bool beyond_cache, uint64_t n,
		      uint64_t latency, void (*before)(void *arg), void *arg, uint64_t *lat)
{
	uint64_t slots = 1;
	int r = 0;

	if (!size || size > a->src_len || size > a->dst_len)
		return -EINVAL;
	/* Published by the first post's store-release. */
	a->latency = latency;
	/* A power of two of slots, visited in the order i * odd (a
	 * permutation of them) so that no stride repeats. */
	if (beyond_cache)
		while (slots * 2 <= a->src_len / size)
			slots *= 2;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t off = (i * 0x9e3779b97f4a7c15ull & (slots - 1)) * size;
		/* Into the same place of a destination as large as the source
		 * (as sonuma-bench --span moves), else into its start. */
		uint64_t boff = a->dst_len >= a->src_len ? off : 0;
		if (before)
			before(arg);
		uint64_t t0 = rmc_rdtsc();
		if ((r = sync_read_at(a, off, boff, size, latency ? t0 : 0)))
			break;
		lat[i] = rmc_rdtsc() - t0;
	}
	a->latency = 0;
	return r;
}

/* ---- the queues lent to sonuma's library ------------------------------------ */

void exp_agent_lend(struct exp_agent *a, uint64_t latency, rmc_wq_t **wq, rmc_cq_t **cq,
		    uint8_t **dst, uint64_t *dst_len)
{
	/* The library's post refuses a slot still marked in flight; the
	 * agent's own poster leaves them marked. */
	for (unsigned i = 0; i < AGENT_DEPTH; i++)
		a->wq->q[i].valid = 0;
	a->wq->head = (uint8_t)a->head;
	a->wq->SR = a->sr;
	a->wq->flags = latency ? 0 : RMC_WQ_NO_TSTAMP;
	/* Published by the first post's store-release. */
	a->latency = latency;
	a->wq->kal_fd = -1;
	a->cq->tail = (uint8_t)a->cq_tail;
	a->cq->SR = a->cq_sr;
	a->cq->consumed = 0;
	*wq = a->wq;
	*cq = a->cq;
	*dst = a->dst;
	*dst_len = a->dst_len;
}

void exp_agent_return(struct exp_agent *a)
{
	a->head = a->wq->head;
	a->sr = a->wq->SR;
	a->cq_tail = a->cq->tail;
	a->cq_sr = a->cq->SR;
	a->latency = 0;
}

/* ---- start and stop -------------------------------------------------------- */

static void agent_free(struct exp_agent *a)
{
	if (a->src)
		munmap(a->src, a->src_len);
	if (a->dst)
		munmap(a->dst, a->dst_len);
	if (a->src_fd >= 0)
		close(a->src_fd);
	if (a->dst_fd >= 0)
		close(a->dst_fd);
	free(a->wq);
	free(a->cq);
	free(a);
}

/* Writes a pattern at a place the agent has not read yet, reads it back
 * through the agent, and compares. */
static int agent_check(struct exp_agent *a)
{
	uint64_t len = a->dst_len < 4096 ? a->dst_len : 4096;
	uint64_t off = a->src_len - len;
	int r;

	for (uint64_t i = 0; i < len; i++)
		a->src[off + i] = (uint8_t)(i * 13 + 7);
	memset(a->dst, 0, len);
	if ((r = sync_read(a, off, len)))
		return r;
	return memcmp(a->dst, a->src + off, len) ? -EIO : 0;
}

int exp_agent_start(const struct exp_agent_cfg *cfg, struct exp_agent **out)
{
	struct exp_agent *a = aligned_alloc(64, sizeof(*a));
	struct patience p = { 0 };
	int r, state;

	if (!a)
		return -ENOMEM;
	memset(a, 0, sizeof(*a));
	a->agent_cpu = cfg->agent_cpu;
	a->src_len = cfg->src_len;
	a->dst_len = cfg->dst_len;
	a->sr = a->cq_sr = 1;
	if (!a->src_len || !a->dst_len) {
		free(a);
		return -EINVAL;
	}
	a->src_fd = a->dst_fd = -1;
	a->wq = aligned_alloc(64, sizeof(rmc_wq_t));
	a->cq = aligned_alloc(64, sizeof(rmc_cq_t));
	/* The same kind of memory as a node's context and a program's local
	 * buffer in rmcd (core_shm_create: shared memory, with whatever page
	 * size the system gives it), so that both pay the same page walks. */
	if (!core_shm_create("sonuma-agent-src", a->src_len, &a->src_fd))
		a->src = core_shm_map_lazy(a->src_fd, a->src_len);
	if (!core_shm_create("sonuma-agent-dst", a->dst_len, &a->dst_fd))
		a->dst = core_shm_map_lazy(a->dst_fd, a->dst_len);
	if (!a->wq || !a->cq || !a->src || !a->dst) {
		agent_free(a);
		return -ENOMEM;
	}
	memset(a->wq, 0, sizeof(*a->wq));
	memset(a->cq, 0, sizeof(*a->cq));
	a->wq->depth = a->cq->depth = AGENT_DEPTH;
	if ((r = pin_thread(pthread_self(), cfg->app_cpu))) {
		agent_free(a);
		return r;
	}
	/* Touched here, on the poster's CPU, as a node's memory is touched
	 * before anyone reads it remotely. */
	memset(a->src, 0x5a, a->src_len);
	memset(a->dst, 0, a->dst_len);
	if ((r = -pthread_create(&a->thread, NULL, agent_main, a))) {
		agent_free(a);
		return r;
	}
	/* Pairs with the agent's store-release of state. */
	while (!(state = sonuma_smp_load_acquire(&a->state))) {
		sched_yield();
		if (out_of_patience(&p))
			break;
	}
	if (state != 1) {
		r = state < 0 ? state : -ETIMEDOUT;
		if (state < 0)
			pthread_join(a->thread, NULL);
		else
			pthread_detach(a->thread);
		if (state < 0)
			agent_free(a);
		return r;
	}
	if ((r = agent_check(a))) {
		exp_agent_stop(a);
		return r;
	}
	*out = a;
	return 0;
}

void exp_agent_stop(struct exp_agent *a)
{
	struct patience p = { 0 };

	if (!a)
		return;
	post(a, AGENT_OP_STOP, 0, 0, 0, 0);
	/* Pairs with the agent's store-release of state. */
	while (sonuma_smp_load_acquire(&a->state) != 2) {
		sched_yield();
		if (out_of_patience(&p)) {
			/* It may never run again: leave it (and what it uses)
			 * behind rather than hang. */
			pthread_detach(a->thread);
			return;
		}
	}
	pthread_join(a->thread, NULL);
	agent_free(a);
}
