// SPDX-License-Identifier: MIT
// Asynchronous remote reads or writes in the original platform's style:
// bench_async <target_nid> <r|w>.  The handler reads the number through
// head->buf_addr and head->buf_offset, as the original's handler does.
#include <vector>
#include <algorithm>

#include "sonuma.h"

#define ITERS 4096
#define OBJ_SIZE 64
#define CTX_0 0

static uint32_t op_cnt;
static char op;

void handler(uint8_t tid, wq_entry_t *head, void *owner)
{
	if (op == 'r')
		printf("page %lu read this number: %u\n", (unsigned long)(head->offset / PAGE_SIZE),
		       ((uint32_t *)head->buf_addr)[head->buf_offset / sizeof(uint32_t)]);
	if (head->status)
		printf("page %lu failed: %s\n", (unsigned long)(head->offset / PAGE_SIZE),
		       rmc_status_str(head->status));
	op_cnt--;
}

int main(int argc, char **argv)
{
	rmc_wq_t *wq;
	rmc_cq_t *cq;
	uint8_t *lbuff = NULL;

	if (argc != 3) {
		fprintf(stdout, "Usage: ./bench_async <target_nid> <op_type>\n");
		return 1;
	}
	int snid = atoi(argv[1]);
	op = *argv[2];
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
	op_cnt = ITERS;
	for (size_t i = 0; i < ITERS; i++) {
		uint64_t ctx_offset = (i * PAGE_SIZE) % ctx_size;
		uint64_t lbuff_slot = (i * sizeof(uint32_t)) % (PAGE_SIZE - OBJ_SIZE);

		rmc_check_cq(wq, cq, &handler, NULL);
		if (op == 'r')
			rmc_rread_async(wq, lbuff, lbuff_slot, snid, CTX_0, ctx_offset, OBJ_SIZE);
		else
			rmc_rwrite_async(wq, lbuff, lbuff_slot, snid, CTX_0, ctx_offset, OBJ_SIZE);
	}
	while (op_cnt > 0)
		rmc_drain_cq(wq, cq, &handler, NULL);
	printf("%u operations done\n", ITERS);
	return 0;
}
