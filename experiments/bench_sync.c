/* SPDX-License-Identifier: MIT */
/* bench_sync: synchronous remote reads or writes, one at a time. */
#include "bench_ops.h"

int main(int argc, char **argv)
{
	struct bench b = { .prog = "bench_sync" };
	int r;

	bench_args(&b, argc, argv, "Synchronous");
	bench_setup(&b);
	if (b.op == 'w') {
		for (unsigned long i = 0; i < b.iters; i++)
			memset(b.lbuff + i * b.size, 0, b.size);
	}
	for (unsigned long i = 0; i < b.iters; i++) {
		uint64_t t0 = rmc_rdtsc();
		if (b.op == 'r')
			r = rmc_rread_sync(b.wq, b.cq, b.lbuff, i * b.size, b.snid, 0, i * b.size,
					   b.size);
		else
			r = rmc_rwrite_sync(b.wq, b.cq, b.lbuff, i * b.size, b.snid, 0, i * b.size,
					    b.size);
		b.lat_tsc[i] = rmc_rdtsc() - t0;
		if (r) {
			fprintf(stderr, "bench_sync: operation %lu failed: %s\n", i, strerror(-r));
			return 1;
		}
	}
	if (b.op == 'w') {
		/* Read back what was written, to show it landed. */
		memset(b.lbuff, 0xee, b.iters * b.size);
		for (unsigned long i = 0; i < b.iters; i++) {
			r = rmc_rread_sync(b.wq, b.cq, b.lbuff, i * b.size, b.snid, 0, i * b.size,
					   b.size);
			if (r) {
				fprintf(stderr, "bench_sync: read-back %lu failed: %s\n", i,
					strerror(-r));
				return 1;
			}
		}
	}
	r = bench_report(&b, "sync");
	free(b.lat_tsc);
	kal_close(b.fd);
	return r;
}
