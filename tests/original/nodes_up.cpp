// SPDX-License-Identifier: MIT
// nodes_up SECONDS: waits until this node's RMC reaches every node of the
// cluster (kal_info's nodes_up), for scripts that start the rmcds of a
// cluster and then run programs.  Exit 0 when all are up, 1 otherwise.
#include <time.h>

#include "sonuma.h"

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 10;
	struct timespec t0, t, nap = { 0, 5000000 };
	struct kal_info info;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int fd = kal_open((char *)RMC_DEV);
		if (fd >= 0) {
			int r = kal_info(fd, &info);
			kal_close(fd);
			uint64_t all = info.nodes >= 64 ? ~0ull : (1ull << info.nodes) - 1;
			if (!r && (info.nodes_up & all) == all)
				return 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9 > secs) {
			fprintf(stderr, "nodes_up: not every node is up after %.0f s\n", secs);
			return 1;
		}
		nanosleep(&nap, NULL);
	}
}
