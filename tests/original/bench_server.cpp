// SPDX-License-Identifier: MIT
// A node's server in the original platform's style: C++, only "sonuma.h",
// the descriptor 0 the original's programs pass, results ignored as they
// did.  Writes the page number at the start of each page of its 16 MiB
// context, then exits: the values stay, for other nodes to read.
#include <vector>
#include <algorithm>

#include "sonuma.h"

int main(int argc, char **argv)
{
	uint64_t ctx_size = PAGE_SIZE * PAGE_SIZE;
	uint8_t *ctx = NULL;

	int fd = kal_open((char *)RMC_DEV);
	if (fd < 0) {
		printf("bench_server: cannot attach to the RMC\n");
		return 1;
	}
	kal_reg_ctx(0, &ctx, ctx_size / PAGE_SIZE);
	printf("context of %lu pages at %p\n", (unsigned long)(ctx_size / PAGE_SIZE), (void *)ctx);

	for (size_t i = 0; i < ctx_size / PAGE_SIZE; i++)
		((uint32_t *)ctx)[(i * PAGE_SIZE) / 4] = i;
	printf("wrote %lu page numbers\n", (unsigned long)(ctx_size / PAGE_SIZE));
	return 0;
}
