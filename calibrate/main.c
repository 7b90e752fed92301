/* SPDX-License-Identifier: MIT */
/*
 * sonuma-calibrate: measures this machine's own costs once (the TSC, the
 * cost of a cache line moving between cores, memory latency and copy
 * bandwidth between NUMA domains, and the emulator's floor through a real
 * rmcd), prints a summary and writes the calibration file rmcd reads.
 * With --fabric, measures the ucx fabric between this host and a peer's
 * rmcd instead, into a section of that file.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calibrate.h"
#include "config.h"
#include "core.h"

#ifndef SONUMA_VERSION
#define SONUMA_VERSION "unknown"
#endif

static void short_usage(const char *prog)
{
	fprintf(stderr,
		"Usage: %s [-o FILE] [--quick] [--rmcd PATH] [--no-floor] [--force] [--check "
		"[--probe]] [-h] [-V]\n"
		"       %s --fabric rmc.conf [--peer NODE] [--node NODE] [--outstanding N] [-o FILE]\n"
		"          [--quick] [--rmcd PATH]\n"
		"Try '%s --help' for more.\n",
		prog, prog, prog);
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [-o FILE] [--quick] [--rmcd PATH] [--no-floor] [--force] [--check "
		"[--probe]] [-h] [-V]\n"
		"       %s --fabric rmc.conf [--peer NODE] [--node NODE] [--outstanding N] [-o FILE]\n"
		"          [--quick] [--rmcd PATH]\n"
		"\n"
		"Measures this machine's own costs and writes the calibration file that\n"
		"rmcd and the timing models read: the TSC rate and read cost, the cost of\n"
		"a cache line moving between cores (notify), load latency and copy\n"
		"bandwidth between NUMA domains, a minimal polling agent on the same\n"
		"queue-pair format (the baseline: its 64 B read rate and its synchronous\n"
		"floor per size), and the emulator's floor (synchronous reads through a\n"
		"real rmcd with the none model).  The round trip and the 64 B floor are\n"
		"measured again in turn, and the file records each probe's spread and\n"
		"whether the machine looked disturbed.  It always measures, even when\n"
		"FILE already holds a calibration of this machine.\n"
		"\n"
		"  -o, --output FILE  where to write (default $SONUMA_CALIBRATION, else\n"
		"                     $XDG_DATA_HOME/sonuma/calibration.cfg, else\n"
		"                     ~/.local/share/sonuma/calibration.cfg)\n"
		"      --quick        fewer samples and smaller buffers: a few seconds, for\n"
		"                     tests and virtual machines; figures are rougher\n"
		"      --rmcd PATH    the rmcd to measure the floor with (default: the one\n"
		"                     beside this program in the build tree, else $PATH)\n"
		"      --no-floor     do not start rmcd; the file then has no floor\n"
		"      --force        go on even when the TSC is not invariant\n"
		"      --check        measure nothing: exit 0 when FILE holds a valid\n"
		"                     calibration of this machine, 1 (saying why) otherwise\n"
		"      --probe        with --check: also re-measure the round trip and (with\n"
		"                     an rmcd; not with --no-floor) the 64 B floor in about a\n"
		"                     second, and exit 1, naming the figure and by how much,\n"
		"                     when a recorded one lies outside what the re-probe allows\n"
		"  -h, --help         this text\n"
		"  -V, --version      print the version\n"
		"\n"
		"Run it on an otherwise idle machine; it takes about 30 s (--quick: 2 s).\n"
		"\n"
		"The ucx fabric between hosts: with the peer's rmcd running on its host with\n"
		"the cluster's file and the none model (rmcd -c rmc.conf -m none NODE_CNT PEER),\n"
		"measures synchronous read and write latency (median and spread) and\n"
		"asynchronous bandwidth per size, through an rmcd it starts for this host's\n"
		"node, and adds them to the calibration file (-o FILE, which must hold this\n"
		"machine's calibration) as a section for that fabric, node and peer; rmcd\n"
		"then checks models against it.\n"
		"The peer's context is overwritten.  UCX_TLS and UCX_NET_DEVICES apply as to\n"
		"rmcd: use the ones the cluster runs with.\n"
		"\n"
		"      --fabric CONF  the cluster's rmc.conf (fabric = { name = \"ucx\"; nodes = ...; })\n"
		"      --peer NODE    the node whose rmcd runs on the other host (default: the\n"
		"                     other node of a two-node cluster)\n"
		"      --node NODE    the node this host serves (default: cluster.node in FILE,\n"
		"                     else the node whose fabric.nodes address is this host's)\n"
		"      --outstanding N  requests in flight for the bandwidth (default 16, 1 to %d)\n"
		"\n"
		"It waits up to 30 s for the peer; a full run takes under a minute.\n",
		prog, prog, CAL_FAB_MAX_WINDOW);
}

/* The allowed CPUs of each NUMA domain. */
static int find_cpus(struct cal_ctx *x, char *err, size_t errlen)
{
	int cpus[CAL_MAX_CPUS];

	if (sched_getaffinity(0, sizeof(x->allowed), &x->allowed) < 0) {
		int e = errno;
		snprintf(err, errlen, "sched_getaffinity: %s", strerror(e));
		return -e;
	}
	for (int d = 0; d < x->ndom; d++) {
		int n = core_numa_cpus(d, cpus, CAL_MAX_CPUS);
		for (int k = 0; k < n; k++)
			if (cpus[k] < CPU_SETSIZE && CPU_ISSET(cpus[k], &x->allowed))
				x->cpus[d][x->ncpus[d]++] = cpus[k];
	}
	return 0;
}

static void progress(const char *what)
{
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "sonuma-calibrate: measuring %s...\n", what);
}

static double round_to(double v, double unit)
{
	double r = round(v / unit) * unit;

	return r > 0 ? r : v;
}

/* A fabric's figures: ns to 0.1, GB/s to 1e-4. */
static void tidy_fabric(struct cal_fabric *f)
{
	for (uint32_t i = 0; i < f->n; i++)
		for (int op = 0; op < 2; op++) {
			f->ns[op][i] = round_to(f->ns[op][i], 0.1);
			f->p10_ns[op][i] = round_to(f->p10_ns[op][i], 0.1);
			f->p90_ns[op][i] = round_to(f->p90_ns[op][i], 0.1);
			f->p99_ns[op][i] = round_to(f->p99_ns[op][i], 0.1);
			f->gbps[op][i] = round_to(f->gbps[op][i], 0.0001);
		}
}

/* The optional sections' figures, as tidy() rounds the others. */
static void tidy_optional(struct cal_data *d)
{
	d->tsc_ppm = round_to(d->tsc_ppm, 0.01);
	d->tsc_read_p10_ns = round_to(d->tsc_read_p10_ns, 0.01);
	d->tsc_read_p90_ns = round_to(d->tsc_read_p90_ns, 0.01);
	for (uint32_t i = 0; i < d->domains; i++)
		for (uint32_t j = 0; j < d->domains; j++) {
			d->rtt_p10_ns[i][j] = round_to(d->rtt_p10_ns[i][j], 0.01);
			d->rtt_p90_ns[i][j] = round_to(d->rtt_p90_ns[i][j], 0.01);
			d->load_p10_ns[i][j] = round_to(d->load_p10_ns[i][j], 0.01);
			d->load_p90_ns[i][j] = round_to(d->load_p90_ns[i][j], 0.01);
			d->copy_p10_gbps[i][j] = round_to(d->copy_p10_gbps[i][j], 0.001);
			d->copy_p90_gbps[i][j] = round_to(d->copy_p90_gbps[i][j], 0.001);
		}
	for (uint32_t i = 0; i < d->n_floor; i++) {
		d->floor_p10_ns[i] = round_to(d->floor_p10_ns[i], 0.1);
		d->floor_p90_ns[i] = round_to(d->floor_p90_ns[i], 0.1);
	}
	for (uint32_t i = 0; i < d->n_rounds; i++) {
		d->round_rtt_ns[i] = round_to(d->round_rtt_ns[i], 0.01);
		d->round_floor_ns[i] = round_to(d->round_floor_ns[i], 0.1);
	}
	d->floor_per_rtt = round_to(d->floor_per_rtt, 0.01);
	d->agent_rate_64_mops = round_to(d->agent_rate_64_mops, 0.001);
	d->agent_rate_64_min_mops = round_to(d->agent_rate_64_min_mops, 0.001);
	d->agent_rate_64_max_mops = round_to(d->agent_rate_64_max_mops, 0.001);
	for (uint32_t i = 0; i < d->n_agent; i++) {
		struct cal_agent_floor *a = &d->agent_floor[i];
		double *v[] = { &a->median_ns,	   &a->p10_ns,	     &a->p90_ns,
				&a->p99_ns,	   &a->cached_ns,    &a->cached_p10_ns,
				&a->cached_p90_ns, &a->cached_p99_ns };
		for (unsigned k = 0; k < CORE_ARRAY_SIZE(v); k++)
			*v[k] = round_to(*v[k], 0.1);
	}
}

/* Rounds the figures to well below their noise, so that the file reads
 * "80.21", not "80.2132876451". */
static void tidy(struct cal_data *d)
{
	d->tsc_hz = round_to(d->tsc_hz, 1);
	d->tsc_read_ns = round_to(d->tsc_read_ns, 0.01);
	for (uint32_t i = 0; i < d->domains; i++)
		for (uint32_t j = 0; j < d->domains; j++) {
			d->rtt_ns[i][j] = round_to(d->rtt_ns[i][j], 0.01);
			d->notify_ns[i][j] = round_to(d->notify_ns[i][j], 0.01);
			d->load_ns[i][j] = round_to(d->load_ns[i][j], 0.01);
			d->copy_gbps[i][j] = round_to(d->copy_gbps[i][j], 0.001);
		}
	for (uint32_t i = 0; i < d->n_floor; i++) {
		d->floor_ns[i] = round_to(d->floor_ns[i], 0.1);
		d->floor_p99_ns[i] = round_to(d->floor_p99_ns[i], 0.1);
	}
	tidy_optional(d);
}

/* Fails early, before a minute of measuring, when path cannot be written:
 * the nearest existing directory on the way must be writable. */
static int writable(const char *path, char *err, size_t errlen)
{
	char dir[4096];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	for (;;) {
		slash = strrchr(dir, '/');
		if (!slash) {
			snprintf(dir, sizeof(dir), ".");
			break;
		}
		*slash = '\0';
		if (slash == dir)
			snprintf(dir, sizeof(dir), "/");
		if (stat(dir, &st) == 0)
			break;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "cannot write %.400s: %.400s is not a directory", path, dir);
		return -ENOTDIR;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		snprintf(err, errlen, "cannot write %.400s: %.400s: %s", path, dir,
			 strerror(errno));
		return -EACCES;
	}
	return 0;
}

/* Says what the run replaces; a file that does not load is simply replaced. */
static void existing(const char *path)
{
	struct cal_data *old = malloc(sizeof(*old));
	char err[512];
	int r;

	if (!old)
		return;
	r = cal_load(path, old, err, sizeof(err));
	if (r == 0) {
		char why[256];
		if (cal_check_identity(old, why, sizeof(why)) == 0)
			printf("Replacing %s (measured on this machine, %s)\n", path, old->id.date);
		else
			printf("Replacing %s (%s)\n", path, why);
	} else if (r != -ENOENT) {
		printf("Replacing %s, which does not load (%s)\n", path, err);
	}
	free(old);
}

/* A new calibration of this machine keeps the fabric sections of the one
 * it replaces, when that was this machine's: they were measured apart
 * (--fabric), against peers this run does not reach. */
static void keep_fabrics(const char *path, struct cal_data *d)
{
	struct cal_data *old = malloc(sizeof(*old));
	char err[512], why[256];

	if (!old)
		return;
	if (cal_load(path, old, err, sizeof(err)) == 0 && old->n_fabrics &&
	    cal_check_identity(old, why, sizeof(why)) == 0) {
		d->n_fabrics = old->n_fabrics;
		memcpy(d->fabric, old->fabric, sizeof(d->fabric));
		for (uint32_t k = 0; k < d->n_fabrics; k++)
			printf("Kept the fabric section %s, node %u (%s) to node %u (%s), UCX_TLS %s, "
			       "of %s: run sonuma-calibrate --fabric again to renew it\n",
			       d->fabric[k].name, d->fabric[k].node, d->fabric[k].address,
			       d->fabric[k].peer_node, d->fabric[k].peer, d->fabric[k].transports,
			       d->fabric[k].date);
	}
	free(old);
}

/* --fabric: the fabric to a peer, into a section of the calibration of
 * this machine in path.  The exit status. */
static int fabric_main(struct cal_ctx *x, const char *prog, const char *path, uint64_t t0)
{
	char err[1024], why[256];
	int r;

	r = cal_load(path, &x->d, err, sizeof(err));
	if (r == -ENOENT) {
		fprintf(stderr,
			"%s: %s: no calibration of this machine yet: run %s (without --fabric) "
			"first, then --fabric\n",
			prog, path, prog);
		return 1;
	}
	if (r) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	if (cal_check_identity(&x->d, why, sizeof(why))) {
		fprintf(stderr,
			"%s: %s: measured on another machine (%s): run %s (without --fabric) here "
			"first\n",
			prog, path, why, prog);
		return 1;
	}
	x->hz = x->d.tsc_hz;
	x->fab_cpu = -1;
	if (sched_getaffinity(0, sizeof(x->allowed), &x->allowed) < 0) {
		fprintf(stderr, "%s: sched_getaffinity: %s\n", prog, strerror(errno));
		return 1;
	}
	if (writable(path, err, sizeof(err)) ||
	    cal_find_rmcd(&x->opt, x->floor_rmcd, sizeof(x->floor_rmcd), err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	progress("the fabric to the peer through rmcd");
	if ((r = cal_probe_fabric(x, err, sizeof(err)))) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return r == -EINTR ? 130 : 1;
	}
	x->elapsed_s = (double)(core_mono_ns() - t0) / 1e9;
	tidy_fabric(&x->fab);
	printf("\n");
	cal_report_fabric(x);
	if (cal_fabric_put(&x->d, &x->fab)) {
		fprintf(stderr,
			"%s: %s holds %d fabric sections already, none of this link: remove one "
			"(fabrics = ( ... ) in the file)\n",
			prog, path, CAL_MAX_FABRICS);
		return 1;
	}
	if ((r = cal_save(path, &x->d, err, sizeof(err)))) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	printf("\nWrote the section %s, node %u to node %u, into %s\n", x->fab.name, x->fab.node,
	       x->fab.peer_node, path);
	return 0;
}

/* The command line into *o, path (empty: the default) and *check: 0 to go
 * on, 2 on bad usage, -1 after --help or --version. */
static int parse_args(int argc, char **argv, const char *prog, struct cal_opts *o, char *path,
		      size_t pathlen, int *check)
{
	enum {
		OPT_QUICK = 256,
		OPT_RMCD,
		OPT_NO_FLOOR,
		OPT_FORCE,
		OPT_CHECK,
		OPT_FABRIC,
		OPT_PEER,
		OPT_NODE,
		OPT_OUTSTANDING,
		OPT_PROBE
	};
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "quick", no_argument, NULL, OPT_QUICK },
		{ "rmcd", required_argument, NULL, OPT_RMCD },
		{ "no-floor", no_argument, NULL, OPT_NO_FLOOR },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "fabric", required_argument, NULL, OPT_FABRIC },
		{ "peer", required_argument, NULL, OPT_PEER },
		{ "node", required_argument, NULL, OPT_NODE },
		{ "outstanding", required_argument, NULL, OPT_OUTSTANDING },
		{ "probe", no_argument, NULL, OPT_PROBE },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool fabric_only = false, no_floor = false;
	uint64_t v;
	int opt;

	path[0] = '\0';
	while ((opt = getopt_long(argc, argv, "o:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'o':
			if (!*optarg || strlen(optarg) >= pathlen) {
				fprintf(stderr, "%s: -o FILE: expected a file name\n", prog);
				short_usage(prog);
				return 2;
			}
			snprintf(path, pathlen, "%s", optarg);
			break;
		case OPT_QUICK:
			o->quick = true;
			break;
		case OPT_RMCD:
			o->rmcd = optarg;
			break;
		case OPT_NO_FLOOR:
			o->floor = false;
			no_floor = true;
			break;
		case OPT_FABRIC:
			if (!*optarg) {
				fprintf(stderr,
					"%s: --fabric CONF: expected the cluster's rmc.conf\n",
					prog);
				return 2;
			}
			o->fabric = optarg;
			break;
		case OPT_PEER:
		case OPT_NODE:
			if (core_parse_u64(optarg, 0, CORE_MAX_NODES - 1, &v)) {
				fprintf(stderr,
					"%s: --%s: expected a node from 0 to %d, got \"%s\"\n",
					prog, opt == OPT_PEER ? "peer" : "node", CORE_MAX_NODES - 1,
					optarg);
				return 2;
			}
			*(opt == OPT_PEER ? &o->peer : &o->node) = (int)v;
			fabric_only = true;
			break;
		case OPT_OUTSTANDING:
			if (core_parse_u64(optarg, 1, CAL_FAB_MAX_WINDOW, &v)) {
				fprintf(stderr,
					"%s: --outstanding: expected 1 to %d requests, got \"%s\"\n",
					prog, CAL_FAB_MAX_WINDOW, optarg);
				return 2;
			}
			o->outstanding = (unsigned)v;
			fabric_only = true;
			break;
		case OPT_FORCE:
			o->force = true;
			break;
		case OPT_CHECK:
			*check = 1;
			break;
		case OPT_PROBE:
			o->probe = true;
			break;
		case 'h':
			usage(stdout, prog);
			return -1;
		case 'V':
			printf("sonuma-calibrate (sonuma) %s\n", SONUMA_VERSION);
			return -1;
		default:
			short_usage(prog);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog, argv[optind]);
		short_usage(prog);
		return 2;
	}
	if (fabric_only && !o->fabric) {
		fprintf(stderr, "%s: --peer, --node and --outstanding go with --fabric CONF\n",
			prog);
		short_usage(prog);
		return 2;
	}
	if (o->fabric && (no_floor || o->force || *check)) {
		fprintf(stderr,
			"%s: --fabric measures the fabric only: no --no-floor, --force or "
			"--check with it\n",
			prog);
		short_usage(prog);
		return 2;
	}
	if (o->probe && !*check) {
		fprintf(stderr, "%s: --probe goes with --check\n", prog);
		short_usage(prog);
		return 2;
	}
	return 0;
}

/* --check --probe on a valid calibration c: the CPUs and the TSC rate,
 * then cal_check_probe. */
static int reprobe(const char *path, const struct cal_opts *o, const struct cal_data *c)
{
	struct cal_ctx *x = calloc(1, sizeof(*x));
	char err[1024];
	int rc = 1;

	if (!x)
		return 1;
	x->opt = *o;
	x->opt.quick = true;
	x->ndom = (int)c->domains;
	x->hz = core_tsc_measure_hz(20);
	if (x->hz <= 0)
		printf("%s: cannot measure the TSC rate\n", path);
	else if (find_cpus(x, err, sizeof(err)))
		printf("%s: %s\n", path, err);
	else
		rc = cal_check_probe(x, path, c);
	free(x);
	return rc;
}

/* --check: 0 when path holds a valid calibration of this machine, 1
 * (saying why) otherwise; with --probe, cal_check_probe's verdict too. */
static int check_file(const char *path, const struct cal_opts *o)
{
	struct cal_data *c = calloc(1, sizeof(*c));
	char why[512], err[1024];
	int r, rc;

	if (!c)
		return 1;
	r = cal_load(path, c, err, sizeof(err));
	if (r == -ENOENT)
		printf("%s: no calibration yet\n", path);
	else if (r)
		printf("%s\n", err);
	else if (cal_check_identity(c, why, sizeof(why)))
		printf("%s: measured on another machine (%s)\n", path, why);
	else
		printf("%s: a valid calibration of this machine (%s)\n", path, c->id.date);
	for (uint32_t k = 0; !r && k < c->n_fabrics; k++) {
		const struct cal_fabric *f = &c->fabric[k];
		printf("  fabric %s: node %u (%s) to node %u (%s), UCX_TLS %s, %s: 64 B read %.1f "
		       "us, write %.1f us\n",
		       f->name, f->node, f->address, f->peer_node, f->peer, f->transports, f->date,
		       cal_fabric_ns(f, CAL_FAB_READ, 64) / 1e3,
		       cal_fabric_ns(f, CAL_FAB_WRITE, 64) / 1e3);
	}
	rc = r || cal_check_identity(c, why, sizeof(why)) ? 1 : 0;
	if (!rc && c->disturbed)
		printf("%s: but the machine looked disturbed while it was measured: %s\n", path,
		       c->disturbed_why);
	if (!rc && o->probe)
		rc = reprobe(path, o, c);
	free(c);
	return rc;
}

/* Everything that can refuse before a minute of measuring: the machine's
 * domains and CPUs, the TSC, the output file and rmcd.  Then PAPI.  0, or
 * 1 after saying why not. */
static int prepare(struct cal_ctx *x, const char *prog, const char *path)
{
	char err[1024];

	x->d.version = CAL_FORMAT_VERSION;
	cal_identity_here(&x->d.id);
	if (x->d.id.domains > CAL_MAX_DOMAINS) {
		fprintf(stderr,
			"%s: this machine has %u NUMA domains; a calibration holds %d "
			"at most\n",
			prog, x->d.id.domains, CAL_MAX_DOMAINS);
		return 1;
	}
	x->ndom = (int)x->d.id.domains;
	x->d.domains = x->d.id.domains;
	if (find_cpus(x, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	x->d.tsc_invariant = core_tsc_invariant() == 1;
	if (!x->d.tsc_invariant) {
		if (!x->opt.force) {
			fprintf(stderr,
				"%s: this CPU does not report an invariant TSC (CPUID 0x80000007 "
				"EDX bit 8):\n"
				"  its rate may change with frequency or sleep states, and every "
				"latency sonuma\n"
				"  emulates would drift with it.  Refusing; --force measures "
				"anyway.\n",
				prog);
			return 1;
		}
		cal_note(x, "the TSC is not invariant (--force): figures may drift with the "
			    "CPU frequency");
	}
	/* Before anything is measured: an unwritable file or a missing rmcd
	 * is found at once. */
	if (writable(path, err, sizeof(err)) ||
	    (x->opt.floor &&
	     cal_find_rmcd(&x->opt, x->floor_rmcd, sizeof(x->floor_rmcd), err, sizeof(err)))) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	existing(path);

	cal_papi_init(&x->papi);
	if (!x->papi.ok)
		printf("PAPI: no hardware counters on this machine; continuing without them\n");
	x->d.papi_counters = x->papi.ok;
	return 0;
}

/* Every probe in turn, each timed: 0, or the first one's -errno with err
 * saying why. */
static int run_probes(struct cal_ctx *x, char *err, size_t errlen)
{
	static const struct {
		const char *what;
		int (*run)(struct cal_ctx *, char *, size_t);
	} probes[] = {
		[CAL_T_TSC] = { "the TSC", cal_probe_tsc },
		[CAL_T_C2C] = { "cache-line transfers between cores", cal_probe_c2c },
		[CAL_T_LOAD] = { "load latency", cal_probe_load },
		[CAL_T_COPY] = { "copy bandwidth", cal_probe_copy },
		[CAL_T_AGENT] = { "the minimal polling agent", cal_probe_agent },
		[CAL_T_FLOOR] = { "the emulator's floor through rmcd", cal_probe_floor },
		[CAL_T_ROUNDS] = { "the round trip and the floor again, in turn",
				   cal_probe_rounds },
	};
	int r;

	for (unsigned i = 0; i < CORE_ARRAY_SIZE(probes); i++) {
		uint64_t t = core_mono_ns();
		if (i == CAL_T_FLOOR) {
			/* Counters are per thread and rmcd runs apart. */
			cal_papi_fini(&x->papi);
			if (!x->opt.floor)
				break;
		}
		progress(probes[i].what);
		if ((r = probes[i].run(x, err, errlen)))
			return r;
		x->took_s[i] = (double)(core_mono_ns() - t) / 1e9;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *prog = "sonuma-calibrate";
	struct cal_opts o = { .floor = true, .node = -1, .peer = -1, .outstanding = 16 };
	char path[4096], err[1024];
	struct cal_ctx *x;
	uint64_t t0;
	int r, rc = 1, check = 0;

	core_log_init(argv[0]);
	if ((r = parse_args(argc, argv, prog, &o, path, sizeof(path), &check)))
		return r < 0 ? 0 : r;
	if (!path[0])
		cal_default_path(path, sizeof(path));
	if (check)
		return check_file(path, &o);

	t0 = core_mono_ns();
	x = calloc(1, sizeof(*x));
	if (!x) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	x->opt = o;
	if (o.fabric) {
		rc = fabric_main(x, prog, path, t0);
		goto out;
	}
	if (prepare(x, prog, path))
		goto out;
	if ((r = run_probes(x, err, sizeof(err)))) {
		fprintf(stderr, "%s: %s\n", prog, err);
		rc = r == -EINTR ? 130 : 1;
		goto out;
	}
	x->elapsed_s = (double)(core_mono_ns() - t0) / 1e9;

	cal_sanity(x);
	tidy(&x->d);
	printf("\n");
	cal_report(x);
	keep_fabrics(path, &x->d);
	if ((r = cal_save(path, &x->d, err, sizeof(err)))) {
		fprintf(stderr, "%s: %s\n", prog, err);
		goto out;
	}
	printf("\nWrote %s\n", path);
	rc = 0;
out:
	cal_papi_fini(&x->papi);
	free(x);
	return rc;
}
