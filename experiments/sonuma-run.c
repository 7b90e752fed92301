/* SPDX-License-Identifier: MIT */
/*
 * sonuma-run: runs a program as an application of one emulated node.  Sets
 * SONUMA_NODE (and SONUMA_RUNDIR), asks that node's rmcd which CPUs its
 * programs should use (those of the node's NUMA domain not taken by RMC
 * threads), pins to them and executes the program.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "explib.h"
#include "sonuma.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: sonuma-run -n NODE [-r RUNDIR] [--no-pin] -- PROGRAM [ARGS...]\n"
		   "Runs PROGRAM as an application of emulated node NODE, pinned to the\n"
		   "CPUs of that node's NUMA domain.\n"
		   "  -n, --node NODE     node id (sets SONUMA_NODE)\n"
		   "  -r, --rundir DIR    rmcd's run directory (sets SONUMA_RUNDIR)\n"
		   "      --no-pin        do not change the CPU affinity\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "node", required_argument, NULL, 'n' },
		{ "rundir", required_argument, NULL, 'r' },
		{ "no-pin", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *node = NULL;
	int opt, pin = 1, fd, r;
	struct kal_info info;
	uint64_t nid;

	while ((opt = getopt_long(argc, argv, "+n:r:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			/* As libsonuma reads SONUMA_NODE: decimal. */
			if (core_parse_u64(optarg, 0, 0xffff, &nid)) {
				fprintf(stderr, "sonuma-run: -n: not a node id: \"%s\"\n", optarg);
				return 2;
			}
			node = optarg;
			break;
		case 'r':
			setenv("SONUMA_RUNDIR", optarg, 1);
			break;
		case 'P':
			pin = 0;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!node || optind >= argc) {
		fprintf(stderr, "sonuma-run: %s\n",
			!node ? "-n NODE is required" : "no PROGRAM given");
		usage(stderr);
		return 2;
	}
	setenv("SONUMA_NODE", node, 1);
	fd = kal_open((char *)RMC_DEV);
	if (fd < 0) {
		fprintf(stderr,
			"sonuma-run: cannot reach node %s's rmcd: %s (is rmcd running, "
			"with that many nodes, in this run directory?)\n",
			node, strerror(-fd));
		return 1;
	}
	r = kal_info(fd, &info);
	kal_close(fd);
	if (r < 0) {
		fprintf(stderr, "sonuma-run: node %s: %s\n", node, strerror(-r));
		return 1;
	}
	if (pin) {
		cpu_set_t set;
		if (exp_app_cpuset(&info, &set) && sched_setaffinity(0, sizeof(set), &set) < 0)
			fprintf(stderr, "sonuma-run: warning: cannot pin to node %s's CPUs: %s\n",
				node, strerror(errno));
	}
	execvp(argv[optind], argv + optind);
	fprintf(stderr, "sonuma-run: cannot run %s: %s\n", argv[optind], strerror(errno));
	return 127;
}
