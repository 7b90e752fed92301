/* SPDX-License-Identifier: MIT */
/*
 * rmcd: the software remote memory controller serving every node of the
 * emulated soNUMA cluster on this host.
 */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core.h"
#include "rmcd.h"

#ifndef SONUMA_VERSION
#define SONUMA_VERSION "unknown"
#endif

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [-c rmc.conf] [-r RUNDIR] [-m MODEL] [NODE_CNT]\n"
		"\n"
		"Serves every node of an emulated soNUMA cluster on this host.\n"
		"\n"
		"  -c, --config FILE   read settings from FILE (libconfig; see rmc.conf)\n"
		"  -r, --rundir DIR    where the node sockets go (default $SONUMA_RUNDIR,\n"
		"                      else /tmp/sonuma-UID)\n"
		"  -m, --model NAME    timing model, overriding the config\n"
		"  -h, --help          this text\n"
		"  -V, --version       print the version\n"
		"  NODE_CNT            number of nodes (the original's short form)\n"
		"\n"
		"Applications attach with kal_open(); run them with sonuma-run -n NODE.\n"
		"SIGINT/SIGTERM stop rmcd cleanly; SIGUSR1 prints its counters.\n",
		prog);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "rundir", required_argument, NULL, 'r' },
		{ "model", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conf = NULL, *rundir = NULL, *model = NULL;
	struct rmcd d;
	char err[512];
	sigset_t sigs;
	int opt, r, rc = 1;

	core_log_init(argv[0]);
	memset(&d, 0, sizeof(d));
	d.sigfd = d.epfd = d.lock_fd = -1;
	while ((opt = getopt_long(argc, argv, "c:r:m:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			conf = optarg;
			break;
		case 'r':
			rundir = optarg;
			break;
		case 'm':
			model = optarg;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		case 'V':
			printf("rmcd (sonuma) %s\n", SONUMA_VERSION);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "rmcd: too many arguments\n");
		usage(stderr, argv[0]);
		return 2;
	}

	core_config_defaults(&d.cfg);
	if (conf && core_config_load(&d.cfg, conf, err, sizeof(err))) {
		core_err("%s", err);
		return 1;
	}
	if (optind < argc) {
		uint64_t n;
		if (core_parse_u64(argv[optind], 1, CORE_MAX_NODES, &n)) {
			core_err("NODE_CNT: expected a number of nodes from 1 to %d, got \"%s\"",
				 CORE_MAX_NODES, argv[optind]);
			goto out;
		}
		d.cfg.nodes = (uint32_t)n;
	}
	if (rundir) {
		if (strlen(rundir) >= sizeof(d.cfg.rundir)) {
			core_err("--rundir: longer than %zu characters", sizeof(d.cfg.rundir) - 1);
			goto out;
		}
		snprintf(d.cfg.rundir, sizeof(d.cfg.rundir), "%s", rundir);
	}
	if (model)
		snprintf(d.cfg.model, sizeof(d.cfg.model), "%s", model);
	if (core_config_check(&d.cfg, err, sizeof(err))) {
		core_err("%s", err);
		goto out;
	}

	if (!core_tsc_invariant())
		core_warn("this CPU does not report an invariant TSC: latencies may drift");
	d.tsc_hz = core_tsc_measure_hz(50);
	if (d.tsc_hz <= 0) {
		core_err("cannot measure the TSC rate");
		goto out;
	}

	d.model = tm_find(d.cfg.model);
	if (!d.model) {
		char list[256] = "";
		for (const struct tm_ops *const *m = tm_all(); *m; m++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 list[0] ? ", " : "", (*m)->name);
		core_err("%s: model.name: unknown timing model \"%s\" (known: %s)", d.cfg.file,
			 d.cfg.model, list);
		goto out;
	}
	{
		struct tm_env env = { .tsc_hz = d.tsc_hz, .nodes = d.cfg.nodes };
		const config_setting_t *grp =
			d.cfg.have_lc ? config_lookup(&d.cfg.lc, "model") : NULL;
		if (d.model->init(grp, &env, &d.model_state, err, sizeof(err))) {
			core_err("%s", err);
			goto out;
		}
	}
	d.fabric = &rmcd_fabric_shm;

	/* Signals go to the control loop; RMC threads inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (d.sigfd < 0) {
		core_err("signalfd: %s", strerror(errno));
		goto out;
	}

	if (rmcd_cluster_init(&d, err, sizeof(err))) {
		core_err("%s", err);
		goto out_cluster;
	}
	for (uint32_t t = 0; t < d.n_rmcs; t++) {
		if ((r = rmcd_rmc_start(&d, &d.rmcs[t]))) {
			core_err("cannot start RMC thread %u: %s", t, strerror(-r));
			goto out_threads;
		}
	}
	{
		char desc[256];
		d.model->describe(d.model_state, desc, sizeof(desc));
		core_info("serving %u node%s in %s; %u RMC thread%s; TSC %.3f GHz; model %s",
			  d.n_nodes, d.n_nodes > 1 ? "s" : "", d.cfg.rundir, d.n_rmcs,
			  d.n_rmcs > 1 ? "s" : "", d.tsc_hz / 1e9, desc);
		for (uint32_t i = 0; i < d.n_nodes; i++)
			core_info("node %u: NUMA domain %d, %llu-byte context, RMC thread %d on CPU %d",
				  i, d.nodes[i].numa, (unsigned long long)d.nodes[i].ctx[0].size,
				  d.nodes[i].rmc, d.rmcs[d.nodes[i].rmc].cpu);
	}
	r = rmcd_ctl_run(&d);
	if (r)
		core_err("control loop: %s", strerror(-r));
	else
		rc = 0;
out_threads:
	rmcd_rmc_stop(&d);
	while (d.sessions)
		rmcd_session_close(&d, d.sessions);
	rmcd_print_stats(&d);
out_cluster:
	rmcd_cluster_fini(&d);
	if (d.model_state && d.model->fini)
		d.model->fini(d.model_state);
out:
	if (d.sigfd >= 0)
		close(d.sigfd);
	if (d.epfd >= 0)
		close(d.epfd);
	core_config_free(&d.cfg);
	return rc;
}
