/* SPDX-License-Identifier: MIT */
/*
 * rmcd: the software remote memory controller of an emulated soNUMA
 * cluster: one node ("rmcd NODE_CNT NODE_ID", one RMC per node as the
 * original platform runs it), or every node of this host in one process
 * ("rmcd NODE_CNT").
 */

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "calib.h"
#include "core.h"
#include "rmcd.h"

#ifndef SONUMA_VERSION
#define SONUMA_VERSION "unknown"
#endif

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [-c rmc.conf] [-r RUNDIR] [-m MODEL] [NODE_CNT [NODE_ID]]\n"
		"\n"
		"The remote memory controller of an emulated soNUMA cluster.  With NODE_ID\n"
		"it serves that node alone, as the original platform's rmcd does, and\n"
		"reaches the others through the rmcds serving them (one per node, started\n"
		"in any order, found through the run directory); without, it serves\n"
		"every node in one process.\n"
		"\n"
		"  -c, --config FILE   read settings from FILE (libconfig; see rmc.conf)\n"
		"  -r, --rundir DIR    where the node sockets go (default $SONUMA_RUNDIR,\n"
		"                      else /tmp/sonuma-UID)\n"
		"  -m, --model NAME    timing model, overriding the config (whose model\n"
		"                      group then applies only if it names the same model)\n"
		"  -C, --calibration FILE  calibration file (default: calibration.file in the\n"
		"                      config, else $SONUMA_CALIBRATION, else\n"
		"                      ~/.local/share/sonuma/calibration.cfg)\n"
		"  -F, --accept-foreign-calibration  use a calibration measured on another\n"
		"                      machine\n"
		"  -h, --help          this text\n"
		"  -V, --version       print the version\n"
		"  NODE_CNT            number of nodes (cluster.nodes)\n"
		"  NODE_ID             the node this rmcd serves, 0 to NODE_CNT-1\n"
		"                      (cluster.node); every rmcd of a run directory must\n"
		"                      agree on NODE_CNT, the model and the contexts\n"
		"\n"
		"Applications attach with kal_open(); run them with sonuma-run -n NODE.\n"
		"SIGINT/SIGTERM stop rmcd cleanly; SIGUSR1 prints its counters.\n",
		prog);
}

/* Reads the calibration file: refuses a corrupt one, and one from another
 * machine unless told to accept it; goes on with a clear warning and
 * conservative defaults when there is none. */
static int load_calibration(struct rmcd *d)
{
	char path[256], err[512], why[256];
	struct cal_data *c;
	int r;

	if (d->cfg.calibration[0])
		snprintf(path, sizeof(path), "%s", d->cfg.calibration);
	else
		cal_default_path(path, sizeof(path));
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = cal_load(path, c, err, sizeof(err));
	if (r == -ENOENT && !d->cfg.calibration[0]) {
		core_warn("no calibration file at %s: run sonuma-calibrate once on this machine. "
			  "Going on with conservative defaults: TSC rate measured now, notify "
			  "cost 0 ns (completions may be seen slightly after their due time, "
			  "never before), no check of the model against the emulator's floor",
			  path);
		free(c);
		return 0;
	}
	if (r) {
		if (r == -ENOENT)
			core_err("%s: calibration file not found (run sonuma-calibrate -o %s)",
				 path, path);
		else
			core_err("%s", err);
		free(c);
		return -1;
	}
	if (cal_check_identity(c, why, sizeof(why))) {
		if (!d->cfg.accept_foreign_calibration) {
			core_err("%s: measured on another machine (%s); run sonuma-calibrate here, "
				 "or accept it with --accept-foreign-calibration",
				 path, why);
			free(c);
			return -1;
		}
		core_warn("%s: measured on another machine (%s); accepted as asked", path, why);
	}
	if (c->disturbed)
		core_warn("%s: the machine looked disturbed while it was calibrated (%s); its "
			  "figures may be off: calibrate again on a quiet machine "
			  "(sonuma-calibrate --check --probe -o %s compares them with this "
			  "machine now)",
			  path, c->disturbed_why, path);
	if (c->tsc_hz > 0 && fabs(c->tsc_hz - d->tsc_hz) / d->tsc_hz < 0.005)
		d->tsc_hz = c->tsc_hz;
	else
		core_warn("%s: TSC rate %.4f GHz differs from %.4f GHz measured now; using the "
			  "measurement",
			  path, c->tsc_hz / 1e9, d->tsc_hz / 1e9);
	core_info("calibration %s (%s, %s): emulator floor %.0f ns for a 64 B read", path,
		  c->id.cpu_model, c->id.date, cal_floor_ns(c, 64));
	d->cal = c;
	snprintf(d->cal_path, sizeof(d->cal_path), "%s", path);
	return 0;
}

_Static_assert(RMCD_MAX_FABRIC_CAL == CAL_MAX_FABRICS, "room for every fabric section");

/* The fabric's floor for op (CAL_FAB_READ or CAL_FAB_WRITE) and size: the
 * least of the sections in use (what the best link allows); 0 without. */
static double fabric_floor_ns(const struct rmcd *d, int op, uint64_t size)
{
	double least = 0;

	for (uint32_t k = 0; k < d->n_fab_cal; k++) {
		double v = cal_fabric_ns(d->fab_cal[k], op, size);
		if (v > 0 && (least == 0 || v < least))
			least = v;
	}
	return least;
}

/* Whether a section is of this rmcd's fabric, measured from this node's
 * address to another node's of fabric.nodes. */
static bool fabric_section_ours(const struct rmcd *d, const struct cal_fabric *f)
{
	const struct core_config *c = &d->cfg;
	if (strcmp(f->name, d->fabric->name) || c->node_id < 0 ||
	    (uint32_t)c->node_id >= c->n_fabric_addr ||
	    strcmp(f->address, c->fabric_addr[c->node_id]))
		return false;
	for (uint32_t i = 0; i < c->nodes && i < c->n_fabric_addr; i++)
		if ((int)i != c->node_id && !strcmp(f->peer, c->fabric_addr[i]))
			return true;
	return false;
}

/* With a fabric that has a floor of its own (ucx), the calibration's
 * sections for it replace the shared-memory floor for requests to other
 * nodes: in the check of the model at start, and in the time a write to
 * another node is started ahead of its landing.  Without one, says so
 * once, instead of judging remote requests by shared-memory figures. */
static void fabric_calibration(struct rmcd *d)
{
	const char *tls = getenv("UCX_TLS");
	const struct core_config *c = &d->cfg;
	uint32_t mine = 0;

	d->fab_own_floor = !strcmp(d->fabric->name, "ucx");
	if (!d->fab_own_floor || !d->cal)
		return; /* without a file, load_calibration said what is not checked */
	tls = tls && *tls ? tls : "default";
	for (uint32_t k = 0; k < d->cal->n_fabrics; k++)
		mine += fabric_section_ours(d, &d->cal->fabric[k]) &&
			!strcmp(d->cal->fabric[k].transports, tls);
	for (uint32_t k = 0; k < d->cal->n_fabrics; k++) {
		const struct cal_fabric *f = &d->cal->fabric[k];
		if (fabric_section_ours(d, f) && (!mine || !strcmp(f->transports, tls)))
			d->fab_cal[d->n_fab_cal++] = f;
	}
	if (!d->n_fab_cal) {
		core_warn(
			"%s: no floor of the %s fabric from node %d (%s) to another node of %s: "
			"the model is not checked against it (the shared-memory floor does not "
			"apply to other hosts), and writes to other nodes are started by the "
			"shared-memory copy time, so they may complete late.  Measure it on this "
			"host with sonuma-calibrate --fabric %s --peer NODE while NODE's rmcd runs "
			"with -m none",
			d->cal_path, d->fabric->name, c->node_id, c->fabric_addr[c->node_id],
			c->file, c->file);
		return;
	}
	for (uint32_t k = 0; k < d->n_fab_cal; k++) {
		const struct cal_fabric *f = d->fab_cal[k];
		core_info("%s fabric floor to node %u (%s): 64 B read %.1f us, write %.1f us "
			  "(measured %s with UCX_TLS %s)",
			  f->name, f->peer_node, f->peer, cal_fabric_ns(f, CAL_FAB_READ, 64) / 1e3,
			  cal_fabric_ns(f, CAL_FAB_WRITE, 64) / 1e3, f->date, f->transports);
		if (!mine)
			core_warn("%s: the %s fabric to node %u was measured with UCX_TLS %s, this "
				  "rmcd runs with %s: its floor may not be this one's",
				  d->cal_path, f->name, f->peer_node, f->transports, tls);
	}
	/* A write to another node is started so that it lands when the
	 * model says (halfway through its latency): the fabric's share of
	 * the write's floor (the floor less the shared-memory path around
	 * it), less the acknowledgement's way back.  Writes to the nodes
	 * this rmcd serves keep the shared-memory time (copy_tsc). */
	double around = d->cal->n_floor ? cal_floor_ns(d->cal, 64) : 0;
	double w64 = fabric_floor_ns(d, CAL_FAB_WRITE, 64) - around;
	if (w64 < 0)
		w64 = 0;
	for (unsigned k = 0; k < RMCD_SIZE_CLASSES; k++) {
		double w = fabric_floor_ns(d, CAL_FAB_WRITE, rmcd_class_size(k)) - around;
		double ns = w - w64 / 2;
		d->copy_far_tsc[k] = ns > 0 ? core_ns_to_tsc(ns, d->tsc_hz) : 0;
	}
}

/* Sizes where the model asks for less, from src to dst, than the floor
 * allows, as "64 B (900 < 1200 ns), ..." into list (the fabric section
 * f's floor, in us: "64 B (1.0 < 52.3 us)"; else the shared-memory one);
 * their count. */
static unsigned below(struct rmcd *d, uint8_t op, uint16_t src, uint16_t dst,
		      const struct cal_fabric *f, char *list, size_t len)
{
	size_t n = 0;
	unsigned count = 0;

	list[0] = '\0';
	for (uint64_t size = 64; size <= d->max_transfer || size <= d->cfg.max_transfer;
	     size *= 2) {
		double floor = f ? cal_fabric_ns(f,
						 op == RMC_OP_READ ? CAL_FAB_READ : CAL_FAB_WRITE,
						 size) :
				   cal_floor_ns(d->cal, size);
		double target = d->model->target_ns(d->model_state, op, size, src, dst);
		if (floor > 0 && target < floor && n < len - 64) {
			if (f)
				n += (size_t)snprintf(list + n, len - n,
						      "%s%llu B (%.1f < %.1f us)", n ? ", " : "",
						      (unsigned long long)size, target / 1e3,
						      floor / 1e3);
			else
				n += (size_t)snprintf(list + n, len - n,
						      "%s%llu B (%.0f < %.0f ns)", n ? ", " : "",
						      (unsigned long long)size, target, floor);
			count++;
		}
	}
	return count;
}

/* Warns, naming the sizes, where the model asks for less than this
 * machine can do: those requests will all complete late.  With a fabric
 * of its own floor, against that floor, for reads and writes, per peer
 * measured. */
static void warn_below_floor(struct rmcd *d)
{
	char list[512] = "";
	if (!d->cal || d->model->no_deadline)
		return;
	if (d->fab_own_floor) {
		for (uint32_t k = 0; k < d->n_fab_cal * 2; k++) {
			const struct cal_fabric *f = d->fab_cal[k / 2];
			uint8_t op = k % 2 ? RMC_OP_WRITE : RMC_OP_READ;
			if (below(d, op, (uint16_t)d->cfg.node_id, (uint16_t)f->peer_node, f, list,
				  sizeof(list)))
				core_warn("the model asks for less than the %s fabric's calibrated "
					  "floor to node %u (%s) for %s of %s: those requests will "
					  "complete late, and are counted",
					  f->name, f->peer_node, f->peer,
					  k % 2 ? "writes" : "reads", list);
		}
		return;
	}
	if (!d->cal->n_floor)
		return;
	if (below(d, RMC_OP_READ, 0, (uint16_t)(d->cfg.nodes > 1 ? 1 : 0), NULL, list,
		  sizeof(list)))
		core_warn("the model asks for less than this machine's calibrated floor for "
			  "reads of %s: those requests will complete late, and are counted",
			  list);
}

/* A model's state shared between nodes (the link model's ingress links)
 * lives in memory every rmcd of the cluster maps: there is none between
 * hosts.  Refused, so that such a model fails at start with its message
 * instead of keeping a private view that would make latencies depend on
 * where nodes run. */
static void *no_shared(void *arg, const char *name, size_t size)
{
	(void)arg;
	(void)name;
	(void)size;
	errno = EXDEV;
	return NULL;
}

/* The cost for a completion to reach each node's programs: a cache line
 * from its RMC thread's domain to the node's. */
static void set_notify(struct rmcd *d)
{
	for (uint32_t i = 0; i < d->n_nodes; i++) {
		struct rmcd_node *n = &d->nodes[i];
		int from = core_cpu_domain(d->rmcs[n->rmc].cpu);
		double ns = d->cfg.notify_ns;

		if (ns < 0 && d->cal && from >= 0 && from < CAL_MAX_DOMAINS &&
		    n->numa < CAL_MAX_DOMAINS && (uint32_t)from < d->cal->domains &&
		    (uint32_t)n->numa < d->cal->domains)
			ns = d->cal->notify_ns[from][n->numa];
		if (ns < 0)
			ns = 0;
		n->notify_tsc = core_ns_to_tsc(ns, d->tsc_hz);
	}
}

/* What the command line says, applied over the config by configure(). */
struct args {
	const char *conf, *rundir, *model, *calfile;
	const char *node_cnt, *node_id;
	bool accept_foreign;
};

/* Parses argv.  Returns -1 to go on, else the exit status (help, version,
 * bad usage). */
static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "rundir", required_argument, NULL, 'r' },
		{ "model", required_argument, NULL, 'm' },
		{ "calibration", required_argument, NULL, 'C' },
		{ "accept-foreign-calibration", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	memset(a, 0, sizeof(*a));
	while ((opt = getopt_long(argc, argv, "c:r:m:C:FhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			a->conf = optarg;
			break;
		case 'r':
			a->rundir = optarg;
			break;
		case 'm':
			a->model = optarg;
			break;
		case 'C':
			a->calfile = optarg;
			break;
		case 'F':
			a->accept_foreign = true;
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
	if (argc - optind > 2) {
		fprintf(stderr, "rmcd: too many arguments\n");
		usage(stderr, argv[0]);
		return 2;
	}
	if (optind < argc)
		a->node_cnt = argv[optind];
	if (optind + 1 < argc)
		a->node_id = argv[optind + 1];
	return -1;
}

/* The config file, then the command line over it, checked.  0 or -1 (the
 * error said). */
static int configure(struct rmcd *d, const struct args *a)
{
	struct core_config *c = &d->cfg;
	char err[512];

	core_config_defaults(c);
	if (a->conf && core_config_load(c, a->conf, err, sizeof(err))) {
		core_err("%s", err);
		return -1;
	}
	if (a->node_cnt) {
		uint64_t n;
		if (core_parse_u64(a->node_cnt, 1, CORE_MAX_NODES, &n)) {
			core_err("NODE_CNT: expected a number of nodes from 1 to %d, got \"%s\"",
				 CORE_MAX_NODES, a->node_cnt);
			return -1;
		}
		c->nodes = (uint32_t)n;
		/* A node from the config may not exist in this cluster. */
		if (c->node_id >= (int)n && !a->node_id) {
			core_err("%s: cluster.node: node %d does not exist in a cluster of %llu "
				 "(NODE_CNT on the command line)",
				 c->file, c->node_id, (unsigned long long)n);
			return -1;
		}
	}
	if (a->node_id) {
		uint64_t id;
		if (core_parse_u64(a->node_id, 0, c->nodes - 1, &id)) {
			core_err(
				"NODE_ID: expected a node from 0 to %u (NODE_CNT is %u), got \"%s\"",
				c->nodes - 1, c->nodes, a->node_id);
			return -1;
		}
		c->node_id = (int)id;
	}
	if (a->rundir) {
		if (strlen(a->rundir) >= sizeof(c->rundir)) {
			core_err("--rundir: longer than %zu characters", sizeof(c->rundir) - 1);
			return -1;
		}
		snprintf(c->rundir, sizeof(c->rundir), "%s", a->rundir);
	}
	if (a->model)
		snprintf(c->model, sizeof(c->model), "%s", a->model);
	if (a->calfile) {
		if (strlen(a->calfile) >= sizeof(c->calibration)) {
			core_err("--calibration: path too long");
			return -1;
		}
		snprintf(c->calibration, sizeof(c->calibration), "%s", a->calfile);
	}
	c->accept_foreign_calibration |= a->accept_foreign;
	if (core_config_check(c, err, sizeof(err)) ||
	    core_config_check_fabric(c, err, sizeof(err))) {
		core_err("%s", err);
		return -1;
	}
	return 0;
}

/* The TSC rate, the calibration and what rmcd derives from it. */
static int calibrate(struct rmcd *d)
{
	if (!core_tsc_invariant())
		core_warn("this CPU does not report an invariant TSC: latencies may drift");
	d->tsc_hz = core_tsc_measure_hz(50);
	if (d->tsc_hz <= 0) {
		core_err("cannot measure the TSC rate");
		return -1;
	}
	if (load_calibration(d))
		return -1;
	d->late_slack_tsc = core_ns_to_tsc(d->cfg.late_slack_ns, d->tsc_hz);
	d->clk_margin_tsc = core_ns_to_tsc(RMCD_CLK_MARGIN_NS, d->tsc_hz);
	d->lead_tsc = core_ns_to_tsc(d->cfg.lead_ns, d->tsc_hz);
	double ov = d->cfg.overhead_ns >= 0 ? d->cfg.overhead_ns :
					      (d->cal ? d->cal->overhead_ns : 0);
	d->overhead_tsc = core_ns_to_tsc(ov, d->tsc_hz);
	/* How long a deferred write's copy takes, to start it in time: what the
	 * floor grows by over a 64-byte request. */
	for (unsigned k = 0; d->cal && d->cal->n_floor && k < RMCD_SIZE_CLASSES; k++) {
		double ns = cal_floor_ns(d->cal, rmcd_class_size(k)) - cal_floor_ns(d->cal, 64);
		d->copy_tsc[k] = ns > 0 ? core_ns_to_tsc(ns, d->tsc_hz) : 0;
	}
	memcpy(d->copy_far_tsc, d->copy_tsc, sizeof(d->copy_far_tsc));
	return 0;
}

/* Finds the timing model and builds its state.  0 or -1 (the error said). */
static int load_model(struct rmcd *d, bool from_cli)
{
	char err[512], desc[256];

	d->model = tm_find(d->cfg.model);
	if (!d->model) {
		char list[256] = "";
		for (const struct tm_ops *const *m = tm_all(); *m; m++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 list[0] ? ", " : "", (*m)->name);
		const config_setting_t *ns =
			d->cfg.have_lc ? config_lookup(&d->cfg.lc, "model.name") : NULL;
		if (ns && !from_cli)
			core_err("%s:%u: model.name: unknown timing model \"%s\" (known: %s)",
				 d->cfg.file, config_setting_source_line(ns), d->cfg.model, list);
		else
			core_err("--model: unknown timing model \"%s\" (known: %s)", d->cfg.model,
				 list);
		return -1;
	}
	struct tm_env env = { .tsc_hz = d->tsc_hz, .nodes = d->cfg.nodes };
	const config_setting_t *grp = d->cfg.have_lc ? config_lookup(&d->cfg.lc, "model") : NULL;
	const config_setting_t *fname = grp ? config_setting_get_member(grp, "name") : NULL;
	/* -m naming another model than the file's: the file's parameters are
	 * that model's, not this one's (rmcd -c rack.conf -m none runs a
	 * cluster's file with the none model, as sonuma-calibrate --fabric
	 * asks of the peer). */
	if (from_cli && fname && config_setting_type(fname) == CONFIG_TYPE_STRING &&
	    strcmp(config_setting_get_string(fname), d->cfg.model)) {
		core_info("--model %s: the parameters of model \"%s\" in %s are not used",
			  d->cfg.model, config_setting_get_string(fname), d->cfg.file);
		grp = NULL;
	}
	/* One rmcd per node: what the model shares between nodes lives in
	 * the run directory, for every rmcd of the cluster. */
	if (d->cfg.node_id >= 0 && d->fabric != &rmcd_fabric_shm) {
		/* Nodes on other hosts share no memory with us. */
		env.shared = no_shared;
		env.shared_arg = d;
	} else if (d->cfg.node_id >= 0) {
		env.shared = rmcd_shared_get;
		env.shared_arg = d;
		d->n_nodes = d->cfg.nodes;
		if (rmcd_rundir_prepare(d, err, sizeof(err))) {
			core_err("%s", err);
			return -1;
		}
	}
	if (d->fab_own_floor)
		env.floor_ns = fabric_floor_ns(d, CAL_FAB_READ, 64);
	else if (d->cal)
		env.floor_ns = cal_floor_ns(d->cal, 64);
	if (d->model->init(grp, &env, &d->model_state, err, sizeof(err))) {
		if (env.shared == no_shared)
			core_err("%s (with the %s fabric the nodes' rmcds share no memory, so the "
				 "link model is not supported: use a model without shared state, "
				 "such as fixed or none)",
				 err, d->fabric->name);
		else
			core_err("%s", err);
		return -1;
	}
	d->model->describe(d->model_state, desc, sizeof(desc));
	d->desc_hash = core_hash64(desc, strlen(desc));
	warn_below_floor(d);
	return 0;
}

/* Signals go to the control loop through a signalfd; RMC threads inherit
 * the mask. */
static int setup_signals(struct rmcd *d)
{
	sigset_t sigs;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (d->sigfd < 0) {
		core_err("signalfd: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void say_serving(const struct rmcd *d)
{
	char desc[256];

	d->model->describe(d->model_state, desc, sizeof(desc));
	if (d->self >= 0)
		core_info("serving node %d of %u in %s; %u RMC thread%s; TSC %.3f GHz; model %s; "
			  "fabric %s",
			  d->self, d->n_nodes, d->cfg.rundir, d->n_rmcs, d->n_rmcs > 1 ? "s" : "",
			  d->tsc_hz / 1e9, desc, d->fabric->name);
	else
		core_info("serving %u node%s in %s; %u RMC thread%s; TSC %.3f GHz; model %s",
			  d->n_nodes, d->n_nodes > 1 ? "s" : "", d->cfg.rundir, d->n_rmcs,
			  d->n_rmcs > 1 ? "s" : "", d->tsc_hz / 1e9, desc);
	for (uint32_t i = 0; i < d->n_nodes; i++)
		if (d->nodes[i].local)
			core_info(
				"node %u: NUMA domain %d, %llu-byte context%s, RMC thread %d on CPU %d",
				i, d->nodes[i].numa, (unsigned long long)d->nodes[i].ctx[0].size,
				d->nodes[i].n_ctx > 1 ? " (and more: see cluster.contexts)" : "",
				d->nodes[i].rmc, d->rmcs[d->nodes[i].rmc].cpu);
}

/* The nodes, the peers, the RMC threads, then the control loop until a
 * signal; everything torn down in reverse.  The exit status. */
static int serve(struct rmcd *d)
{
	char err[512];
	int r, rc = 1;

	if (rmcd_cluster_init(d, err, sizeof(err))) {
		core_err("%s", err);
		goto out_cluster;
	}
	set_notify(d);
	rmcd_dev_init(d);
	if (d->fabric->start && d->fabric->start(d, err, sizeof(err))) {
		core_err("%s", err);
		goto out_peers;
	}
	for (uint32_t t = 0; t < d->n_rmcs; t++) {
		if ((r = rmcd_rmc_start(d, &d->rmcs[t]))) {
			core_err("cannot start RMC thread %u: %s", t, strerror(-r));
			goto out_threads;
		}
	}
	say_serving(d);
	r = rmcd_ctl_run(d);
	if (r)
		core_err("control loop: %s", strerror(-r));
	else
		rc = 0;
out_threads:
	if (d->fabric->stop)
		d->fabric->stop(d);
	rmcd_rmc_stop(d);
	while (d->sessions)
		rmcd_session_close(d, d->sessions);
	rmcd_print_stats(d);
out_peers:
	if (d->fabric->stop)
		d->fabric->stop(d);
	if (d->fabric->fini)
		d->fabric->fini(d);
out_cluster:
	rmcd_cluster_fini(d);
	rmcd_dev_fini(d);
	return rc;
}

int main(int argc, char **argv)
{
	struct args a;
	struct rmcd d;
	int rc = 1;

	core_log_init(argv[0]);
	memset(&d, 0, sizeof(d));
	d.sigfd = d.epfd = d.shared_fd = d.rmcdev_fd = d.peer_evfd = -1;
	int r = parse_args(argc, argv, &a);
	if (r >= 0)
		return r;
	if (configure(&d, &a) || calibrate(&d))
		goto out;
	d.fabric = rmcd_fabric_find(d.cfg.fabric);
	if (!d.fabric) {
		core_err("%s: fabric.name: this rmcd was built without the %s fabric (%s were "
			 "missing at build time)",
			 d.cfg.file, d.cfg.fabric,
			 strcmp(d.cfg.fabric, "xen") ? "UCX's development files" :
						       "libxenstore's (libxen-dev)");
		goto out;
	}
	if (d.fabric != &rmcd_fabric_shm && d.cfg.node_id < 0) {
		core_err("fabric %s: one rmcd serves one node (rmcd NODE_CNT NODE_ID, or "
			 "cluster.node in %s)",
			 d.fabric->name, d.cfg.file);
		goto out;
	}
	fabric_calibration(&d);
	if (load_model(&d, a.model != NULL))
		goto out;
	if (setup_signals(&d))
		goto out;
	rc = serve(&d);
out:
	if (d.model_state && d.model->fini)
		d.model->fini(d.model_state);
	rmcd_shared_fini(&d);
	if (d.sigfd >= 0)
		close(d.sigfd);
	if (d.epfd >= 0)
		close(d.epfd);
	core_config_free(&d.cfg);
	free(d.cal);
	return rc;
}
