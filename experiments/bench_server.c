/* SPDX-License-Identifier: MIT */
/*
 * bench_server: fills this node's context with known values, then stays up
 * so that other nodes can read them (the original platform's server side).
 * Block k (64 bytes) starts with the 64-bit value bench_value(k).
 */
#include <signal.h>
#include <unistd.h>

#include "common.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: bench_server [-1]\n"
		   "Writes known values into this node's context and waits for Ctrl-C.\n"
		   "  -1   write the values and exit at once (for scripts)\n"
		   "Run it on a node with: sonuma-run -n NODE -- bench_server\n");
}

int main(int argc, char **argv)
{
	struct kal_info info;
	uint8_t *ctx = NULL;
	int once = 0, fd;
	uint64_t blocks;
	sigset_t s;
	int sig;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-1")) {
			once = 1;
		} else {
			fprintf(stderr, "bench_server: unexpected argument \"%s\"\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	fd = bench_attach("bench_server", &info);
	if (kal_reg_ctx(fd, &ctx, (uint32_t)(info.context_size / PAGE_SIZE)) < 0) {
		fprintf(stderr, "bench_server: cannot map the context\n");
		return 1;
	}
	blocks = info.context_size / 64;
	for (uint64_t k = 0; k < blocks; k++) {
		uint64_t v = bench_value(k);
		memcpy(ctx + k * 64, &v, sizeof(v));
		memset(ctx + k * 64 + 8, (int)(k & 0xff), 56);
	}
	printf("bench_server: node %u wrote values 0x%llx.. into its %llu 64-byte blocks "
	       "(%llu-byte context)\n",
	       info.nid, (unsigned long long)bench_value(0), (unsigned long long)blocks,
	       (unsigned long long)info.context_size);
	fflush(stdout);
	if (once)
		return 0;
	printf("bench_server: serving; Ctrl-C to stop\n");
	fflush(stdout);
	sigemptyset(&s);
	sigaddset(&s, SIGINT);
	sigaddset(&s, SIGTERM);
	sigprocmask(SIG_BLOCK, &s, NULL);
	sigwait(&s, &sig);
	kal_close(fd);
	return 0;
}
