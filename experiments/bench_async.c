/* SPDX-License-Identifier: MIT */
/* bench_async: pipelined asynchronous remote reads or writes. */
#include "bench_ops.h"

struct ctx {
	struct bench *b;
	long *slot_op;	   /* operation in each WQ slot */
	uint64_t *slot_t0; /* TSC when it was posted */
	unsigned long done, failed;
};

static void on_completion(uint8_t tid, wq_entry_t *head, void *owner)
{
	struct ctx *c = owner;
	long i = c->slot_op[tid];

	c->b->lat_tsc[i] = rmc_rdtsc() - c->slot_t0[tid];
	if (head->status != RMC_OK) {
		fprintf(stderr, "bench_async: operation %ld failed: %s\n", i,
			rmc_status_str(head->status));
		c->failed++;
	}
	c->done++;
}

static int run(struct bench *b, struct ctx *c, char op)
{
	c->done = 0;
	for (unsigned long i = 0; i < b->iters; i++) {
		int tid;
		uint64_t t0;
		/* Free the head slot, handling completions on the way. */
		if (rmc_check_cq(b->wq, b->cq, on_completion, c) < 0)
			return -ENOTCONN;
		/* head->t_post is 0 where rmcd's model needs no post times
		 * (RMC_WQ_NO_TSTAMP): take our own. */
		t0 = rmc_rdtsc();
		if (op == 'r')
			tid = rmc_rread_async(b->wq, b->lbuff, i * b->size, b->snid, 0, i * b->size,
					      b->size);
		else
			tid = rmc_rwrite_async(b->wq, b->lbuff, i * b->size, b->snid, 0,
					       i * b->size, b->size);
		if (tid < 0)
			return tid;
		c->slot_op[tid] = (long)i;
		c->slot_t0[tid] = t0;
	}
	uint64_t spins = 0;
	while (c->done < b->iters) {
		if (rmc_drain_cq(b->wq, b->cq, on_completion, c))
			continue;
		if (++spins % RMC__SPIN_CHECK == 0 && rmc__wait_slow(b->wq, &spins))
			return -ENOTCONN;
		sonuma_cpu_relax();
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b = { .prog = "bench_async" };
	long slot_op[MAX_NUM_WQ];
	uint64_t slot_t0[MAX_NUM_WQ];
	struct ctx c = { .b = &b, .slot_op = slot_op, .slot_t0 = slot_t0 };
	int r;

	bench_args(&b, argc, argv, "Pipelined asynchronous");
	bench_setup(&b);
	if (b.op == 'w')
		memset(b.lbuff, 0, b.iters * b.size);
	r = run(&b, &c, b.op);
	if (!r && b.op == 'w') {
		uint64_t *keep = malloc(b.iters * sizeof(uint64_t));
		memcpy(keep, b.lat_tsc, b.iters * sizeof(uint64_t));
		memset(b.lbuff, 0xee, b.iters * b.size);
		r = run(&b, &c, 'r'); /* read back what was written */
		memcpy(b.lat_tsc, keep, b.iters * sizeof(uint64_t));
		free(keep);
	}
	if (r) {
		fprintf(stderr, "bench_async: %s\n", strerror(-r));
		return 1;
	}
	if (c.failed)
		return 1;
	r = bench_report(&b, "async");
	free(b.lat_tsc);
	kal_close(b.fd);
	return r;
}
