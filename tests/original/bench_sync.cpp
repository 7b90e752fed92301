// SPDX-License-Identifier: MIT
// Synchronous remote reads or writes in the original platform's style:
// bench_sync <target_nid> <r|w>.  Reads print the number found at the
// start of each page of the target's context; writes put page + 0x10000
// there.
#include <vector>
#include <algorithm>

#include "sonuma.h"

#define ITERS 4096
#define OBJ_SIZE 64
#define CTX_0 0

int main(int argc, char **argv)
{
	rmc_wq_t *wq;
	rmc_cq_t *cq;
	uint8_t *lbuff = NULL;

	if (argc != 3) {
		fprintf(stdout, "Usage: ./bench_sync <target_nid> <op_type>\n");
		return 1;
	}
	int snid = atoi(argv[1]);
	char op = *argv[2];
	uint64_t ctx_size = PAGE_SIZE * PAGE_SIZE;

	int fd = kal_open((char *)RMC_DEV);
	if (fd < 0) {
		printf("cannot open the RMC\n");
		return 1;
	}
	if (kal_reg_lbuff(fd, &lbuff, 1) < 0 || kal_reg_wq(fd, &wq) < 0 ||
	    kal_reg_cq(fd, &cq) < 0) {
		printf("registration failed\n");
		return 1;
	}
	int failed = 0;
	for (size_t i = 0; i < ITERS; i++) {
		uint64_t ctx_offset = (i * PAGE_SIZE) % ctx_size;
		uint64_t lbuff_slot = (i * sizeof(uint32_t)) % (PAGE_SIZE - OBJ_SIZE);
		int r;

		if (op == 'r') {
			r = rmc_rread_sync(wq, cq, lbuff, lbuff_slot, snid, CTX_0, ctx_offset,
					   OBJ_SIZE);
			printf("page %lu read this number: %u\n", (unsigned long)i,
			       ((uint32_t *)lbuff)[lbuff_slot / sizeof(uint32_t)]);
		} else {
			((uint32_t *)lbuff)[lbuff_slot / sizeof(uint32_t)] = i + 0x10000;
			r = rmc_rwrite_sync(wq, cq, lbuff, lbuff_slot, snid, CTX_0, ctx_offset,
					    OBJ_SIZE);
			printf("page %lu wrote this number: %u\n", (unsigned long)i,
			       (unsigned)(i + 0x10000));
		}
		if (r) {
			printf("operation %lu failed: %s\n", (unsigned long)i, strerror(-r));
			failed++;
		}
	}
	return failed ? 1 : 0;
}
