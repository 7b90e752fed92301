/* SPDX-License-Identifier: MIT */
/*
 * rmc.conf: core_config_load() on fixture files (tests/configs/), and rmcd's
 * own handling of its command line and of a bad config.  Every error must
 * name FILE:LINE and the setting.
 */
#include "harness.h"

#include "config.h"
#include "core.h"
#include "sonuma/qp.h"

TestSuite(config, .timeout = 60);

static char path_buf[512];

/* Path of a fixture. */
static const char *fixture(const char *name)
{
	snprintf(path_buf, sizeof(path_buf), "%s/%s", h_env("CONFIG_DIR"), name);
	return path_buf;
}

/* 1-based line of the first line of file containing needle. */
static unsigned line_of(const char *file, const char *needle)
{
	char line[512];
	unsigned n = 0;
	FILE *f = fopen(file, "r");

	cr_assert_not_null(f, "%s: %s", file, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (strstr(line, needle)) {
			fclose(f);
			return n;
		}
	}
	fclose(f);
	cr_assert_fail("%s: no line contains \"%s\"", file, needle);
	return 0;
}

/* Loads a fixture that must fail; returns the message. */
static const char *load_bad(const char *name, char *err, size_t errlen)
{
	struct core_config c;
	const char *p = fixture(name);

	core_config_defaults(&c);
	memset(err, 0, errlen);
	int r = core_config_load(&c, p, err, errlen);
	cr_assert_eq(r, -EINVAL, "%s: loaded (returned %d), expected an error", name, r);
	cr_assert_neq(err[0], 0, "%s: the error message is empty", name);
	cr_assert_eq(c.have_lc, false, "%s: the parsed file was not freed on error", name);
	core_config_free(&c); /* harmless after a failed load */
	return err;
}

/* The message starts with "PATH:LINE: " where LINE holds needle, and
 * names setting and says what. */
static void expect_error(const char *name, const char *needle, const char *setting,
			 const char *what)
{
	char err[512], want[600];
	const char *p;

	load_bad(name, err, sizeof(err));
	p = fixture(name);
	snprintf(want, sizeof(want), "%s:%u: ", p, line_of(p, needle));
	cr_assert(strstr(err, want) == err, "%s: the error does not start with \"%s\": \"%s\"",
		  name, want, err);
	cr_assert_not_null(strstr(err, setting), "%s: the error does not name %s: \"%s\"", name,
			   setting, err);
	if (what)
		cr_assert_not_null(strstr(err, what), "%s: the error does not say \"%s\": \"%s\"",
				   name, what, err);
}

Test(config, defaults)
{
	struct core_config c;
	char err[256] = "";

	unsetenv("SONUMA_RUNDIR");
	core_config_defaults(&c);
	cr_assert_str_eq(c.file, "(defaults)");
	cr_assert_eq(c.nodes, 2);
	cr_assert_eq(c.context_pages, 4096);
	cr_assert_eq(c.queue_depth, MAX_NUM_WQ);
	cr_assert_eq(c.max_transfer, 1u << 20);
	cr_assert_eq(c.lock_memory, true);
	cr_assert_eq(c.rmc_threads, 0);
	cr_assert_eq(c.n_allow_uids, 0);
	cr_assert_str_eq(c.model, "none");
	for (int i = 0; i < CORE_MAX_NODES; i++)
		cr_assert_eq(c.node_numa[i], -1);
	for (int i = 0; i < CORE_MAX_RMC; i++)
		cr_assert_eq(c.rmc_cpus[i], -1);
	char want[64];
	snprintf(want, sizeof(want), "/tmp/sonuma-%u", (unsigned)getuid());
	cr_assert_str_eq(c.rundir, want);
	cr_assert_eq(core_config_check(&c, err, sizeof(err)), 0, "defaults refused: %s", err);

	setenv("SONUMA_RUNDIR", "/tmp/elsewhere", 1);
	core_config_defaults(&c);
	cr_assert_str_eq(c.rundir, "/tmp/elsewhere", "$SONUMA_RUNDIR is the default run dir");
	unsetenv("SONUMA_RUNDIR");
}

Test(config, empty_file_keeps_defaults)
{
	struct core_config c, d;
	char err[256] = "";
	const char *p = fixture("empty.conf");

	core_config_defaults(&d);
	core_config_defaults(&c);
	cr_assert_eq(core_config_load(&c, p, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.file, p);
	cr_assert_eq(c.nodes, d.nodes);
	cr_assert_eq(c.context_pages, d.context_pages);
	cr_assert_eq(c.queue_depth, d.queue_depth);
	cr_assert_eq(c.max_transfer, d.max_transfer);
	cr_assert_str_eq(c.model, d.model);
	cr_assert_str_eq(c.rundir, d.rundir);
	core_config_free(&c);
}

Test(config, good_file)
{
	struct core_config c;
	char err[256] = "";

	core_config_defaults(&c);
	int r = core_config_load(&c, fixture("good.conf"), err, sizeof(err));
	cr_assert_eq(r, 0, "good.conf refused: %s", err);
	cr_assert_str_eq(c.rundir, "/tmp/sonuma-test-good");
	cr_assert_eq(c.nodes, 3);
	cr_assert_eq(c.context_pages, 512);
	cr_assert_eq(c.queue_depth, 32);
	cr_assert_eq(c.max_transfer, 65536);
	cr_assert_eq(c.node_numa[0], 0);
	cr_assert_eq(c.node_numa[2], 0);
	cr_assert_eq(c.node_numa[3], -1, "entries past the list keep their default");
	cr_assert_eq(c.lock_memory, false);
	cr_assert_eq(c.rmc_threads, 1);
	cr_assert_eq(c.rmc_cpus[0], 1);
	cr_assert_eq(c.rmc_cpus[1], -1);
	cr_assert_float_eq(c.notify_ns, 40.5, 1e-9);
	cr_assert_float_eq(c.late_slack_ns, 10.0, 1e-9);
	cr_assert_float_eq(c.idle_spin_us, 500.0, 1e-9);
	cr_assert_float_eq(c.idle_nap_us, 50000.0, 1e-9);
	cr_assert_eq(c.spin_pause, false);
	cr_assert_str_eq(c.model, "none");
	cr_assert_eq(c.n_allow_uids, 2);
	cr_assert_eq(c.allow_uids[0], 1000);
	cr_assert_eq(c.allow_uids[1], 1001);
	cr_assert(c.have_lc, "the parsed file is kept for the model's group");
	cr_assert_not_null(config_lookup(&c.lc, "model"));
	core_config_free(&c);
	cr_assert_eq(c.have_lc, false);
}

Test(config, syntax_error_names_file_and_line)
{
	char err[512], want[600];
	const char *p;

	load_bad("syntax.conf", err, sizeof(err));
	p = fixture("syntax.conf");
	/* "queue_depth = = 16": the error is on that line. */
	snprintf(want, sizeof(want), "%s:%u: ", p, line_of(p, "queue_depth"));
	cr_assert(strstr(err, want) == err, "expected \"%s...\", got \"%s\"", want, err);
	cr_assert_not_null(strstr(err, "syntax error"), "%s", err);
}

Test(config, wrong_type)
{
	expect_error("type.conf", "queue_depth", "cluster.queue_depth", "must be an integer");
}

Test(config, idle_nap_before_spin_ends)
{
	expect_error("idle.conf", "idle_nap_us", "rmc.idle_nap_us", "less than idle_spin_us");
}

Test(config, spin_pause_not_a_bool)
{
	expect_error("spinpause.conf", "spin_pause", "rmc.spin_pause", "true or false");
}

Test(config, wrong_type_bool)
{
	expect_error("bool.conf", "lock_memory", "cluster.lock_memory", "true or false");
}

Test(config, nodes_zero)
{
	expect_error("nodes0.conf", "nodes", "cluster.nodes", "between 1 and 64");
}

Test(config, nodes_too_many)
{
	expect_error("nodes1000.conf", "nodes", "cluster.nodes", "got 1000");
}

Test(config, queue_depth_zero)
{
	expect_error("qd0.conf", "queue_depth", "cluster.queue_depth", "between 1 and 128");
}

Test(config, queue_depth_above_ring)
{
	expect_error("qd129.conf", "queue_depth", "cluster.queue_depth", "got 129");
}

Test(config, negative_value)
{
	expect_error("negative.conf", "context_pages", "cluster.context_pages", "got -4");
}

Test(config, unknown_key_in_group)
{
	expect_error("typo.conf", "queue_dpeth", "cluster.queue_dpeth", "unknown setting");
}

Test(config, unknown_top_level_group)
{
	expect_error("typo_top.conf", "clutser", "clutser", "unknown setting");
}

Test(config, numa_list_length_mismatch)
{
	expect_error("numa_mismatch.conf", "numa", "cluster.numa", "3 nodes");
}

/* A check between two settings still names the line that sets one. */
Test(config, max_transfer_larger_than_context)
{
	expect_error("maxxfer.conf", "max_transfer", "cluster.max_transfer", "larger than");
}

Test(config, xen_cluster_name)
{
	expect_error("xen_cluster.conf", "cluster =", "fabric.cluster", "not a cluster name");
}

Test(config, relative_rundir)
{
	expect_error("relrundir.conf", "rundir", "rundir", "absolute");
}

Test(config, missing_file)
{
	char err[512];
	const char *p = fixture("no-such-file.conf");

	load_bad("no-such-file.conf", err, sizeof(err));
	cr_assert(strstr(err, p) == err, "the error does not start with the path: \"%s\"", err);
	cr_assert_not_null(strstr(err, "cannot read"), "%s", err);
	cr_assert_not_null(strstr(err, strerror(ENOENT)), "the error does not say why: \"%s\"",
			   err);
}

/* The model's own group is checked with the same rules (via rmcd below);
 * here, the helpers a model uses. */
Test(config, ucx_fabric_addresses)
{
	struct core_config c;
	char err[256] = "", host[CORE_ADDR_LEN];
	unsigned port;

	core_config_defaults(&c);
	int r = core_config_load(&c, fixture("ucx.conf"), err, sizeof(err));
	cr_assert_eq(r, 0, "ucx.conf refused: %s", err);
	cr_assert_str_eq(c.fabric, "ucx");
	cr_assert_eq(c.n_fabric_addr, 3);
	cr_assert_str_eq(c.fabric_addr[1], "node-b.example:13338");
	cr_assert_float_eq(c.fabric_spin_us, 250.5, 1e-9);
	cr_assert_eq(core_config_check_fabric(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(core_split_addr(c.fabric_addr[2], host, sizeof(host), &port), 0);
	cr_assert_str_eq(host, "fe80::1");
	cr_assert_eq(port, 13339);
	cr_assert_eq(core_split_addr("::1:80", host, sizeof(host), &port), -EINVAL,
		     "a bare IPv6 address is ambiguous");
	cr_assert_eq(core_split_addr("host:", host, sizeof(host), &port), -EINVAL);
	cr_assert_eq(core_split_addr(":80", host, sizeof(host), &port), -EINVAL);
	core_config_free(&c);
}

Test(config, ucx_fabric_bad_port)
{
	expect_error("ucx_port.conf", "nodes", "fabric.nodes", "entry 1 (node 1)");
}

Test(config, ucx_fabric_duplicate_address)
{
	expect_error("ucx_dup.conf", "nodes", "fabric.nodes", "nodes 0 and 1");
}

Test(config, ucx_fabric_needs_addresses)
{
	expect_error("ucx_nonodes.conf", "fabric", "fabric.nodes", "address of every node");
}

Test(config, ucx_fabric_spin)
{
	expect_error("ucx_spin.conf", "spin_us", "fabric.spin_us", "between 0 and 1e+06");
	expect_error("ucx_spin_type.conf", "spin_us", "fabric.spin_us", "must be a number");
	expect_error("shm_spin.conf", "spin_us", "fabric.spin_us", "for the ucx fabric");
}

Test(config, ucx_fabric_one_address_per_node)
{
	struct core_config c;
	char err[256] = "", want[300];

	core_config_defaults(&c);
	cr_assert_eq(core_config_load(&c, fixture("ucx_few.conf"), err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(core_config_check_fabric(&c, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:%u: fabric.nodes: lists 2 addresses for a cluster of 3",
		 fixture("ucx_few.conf"), line_of(fixture("ucx_few.conf"), "nodes = ["));
	cr_assert(strstr(err, want) == err, "expected \"%s...\", got \"%s\"", want, err);
	c.nodes = 2;
	c.node_id = -1;
	cr_assert_eq(core_config_check_fabric(&c, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "give NODE_ID"), "%s", err);
	core_config_free(&c);
}

Test(config, model_helpers)
{
	struct core_config c;
	char err[512] = "";
	uint64_t u = 7;
	double dv = 3;
	char s[8] = "x";
	bool b = true;

	core_config_defaults(&c);
	cr_assert_eq(core_config_load(&c, fixture("good.conf"), err, sizeof(err)), 0, "%s", err);
	const config_setting_t *cl = config_lookup(&c.lc, "cluster");
	const config_setting_t *rm = config_lookup(&c.lc, "rmc");
	cr_assert(cl && rm);
	cr_assert_eq(core_cfg_u64(cl, "nodes", true, 1, 64, &u, err, sizeof(err)), 0);
	cr_assert_eq(u, 3);
	u = 7;
	cr_assert_eq(core_cfg_u64(cl, "absent", false, 1, 64, &u, err, sizeof(err)), 0);
	cr_assert_eq(u, 7, "a missing optional key leaves the value alone");
	cr_assert_eq(core_cfg_u64(cl, "absent", true, 1, 64, &u, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "cluster.absent"), "%s", err);
	cr_assert_eq(core_cfg_u64(cl, "nodes", true, 4, 64, &u, err, sizeof(err)), -EINVAL);
	char want[600];
	snprintf(want, sizeof(want), "%s:%u: cluster.nodes: ", fixture("good.conf"),
		 line_of(fixture("good.conf"), "nodes = 3"));
	cr_assert(strstr(err, want) == err, "expected \"%s...\", got \"%s\"", want, err);
	cr_assert_eq(core_cfg_double(rm, "notify_ns", true, 0, 100, &dv, err, sizeof(err)), 0);
	cr_assert_float_eq(dv, 40.5, 1e-9);
	cr_assert_eq(core_cfg_double(rm, "notify_ns", true, 0, 10, &dv, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "rmc.notify_ns"), "%s", err);
	cr_assert_eq(core_cfg_string(config_lookup(&c.lc, "model"), "name", true, s, sizeof(s), err,
				     sizeof(err)),
		     0);
	cr_assert_str_eq(s, "none");
	cr_assert_eq(core_cfg_string(config_root_setting(&c.lc), "rundir", true, s, sizeof(s), err,
				     sizeof(err)),
		     -EINVAL, "a string longer than the buffer is refused, not cut");
	cr_assert_eq(core_cfg_bool(cl, "nodes", true, &b, err, sizeof(err)), -EINVAL);
	static const char *const only_nodes[] = { "nodes", NULL };
	cr_assert_eq(core_cfg_known(cl, only_nodes, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "unknown setting"), "%s", err);
	core_config_free(&c);
}

/* ---- rmcd's command line and config errors --------------------------- */

static char tmpdir[64];

static void rmcd_init(void)
{
	h_mkdtemp(tmpdir);
}

static void rmcd_fini(void)
{
	h_rm_rf(tmpdir);
}

static void run_rmcd(struct h_out *o, const char *a1, const char *a2, const char *a3,
		     const char *a4, const char *a5)
{
	char *argv[8] = { (char *)h_env("RMCD") };
	const char *a[] = { a1, a2, a3, a4, a5 };
	int n = 1;

	for (int i = 0; i < 5 && a[i]; i++)
		argv[n++] = (char *)a[i];
	argv[n] = NULL;
	h_run(argv, NULL, 20000, o);
	cr_assert(!o->timed_out, "rmcd %s %s did not exit: stderr: %s", a1 ? a1 : "", a2 ? a2 : "",
		  o->err);
}

static struct h_out out;

static void expect_no_sockets(const char *run)
{
	int n = h_count_socks(run);
	cr_assert_leq(n, 0, "a refused rmcd left %d node socket(s) in %s", n, run);
}

Test(rmcd_cli, bad_config_exits_with_message_and_no_sockets, .init = rmcd_init, .fini = rmcd_fini,
     .timeout = 60)
{
	static const struct {
		const char *file, *needle, *setting;
	} cases[] = {
		{ "nodes0.conf", "nodes", "cluster.nodes" },
		{ "typo.conf", "queue_dpeth", "cluster.queue_dpeth" },
		{ "syntax.conf", "queue_depth", "syntax error" },
		{ "qd129.conf", "queue_depth", "cluster.queue_depth" },
		{ "maxxfer.conf", "max_transfer", "cluster.max_transfer" },
	};
	char run[128], want[600];

	snprintf(run, sizeof(run), "%s/run", tmpdir);
	for (size_t i = 0; i < CORE_ARRAY_SIZE(cases); i++) {
		const char *p = fixture(cases[i].file);
		char conf[512];
		snprintf(conf, sizeof(conf), "%s", p);
		run_rmcd(&out, "-c", conf, "-r", run, NULL);
		cr_assert(WIFEXITED(out.status) && WEXITSTATUS(out.status) != 0,
			  "%s: rmcd did not fail (status 0x%x)", cases[i].file, out.status);
		snprintf(want, sizeof(want), "%s:%u: ", conf, line_of(conf, cases[i].needle));
		cr_assert_not_null(strstr(out.err, want), "%s: stderr lacks \"%s\": %s",
				   cases[i].file, want, out.err);
		cr_assert_not_null(strstr(out.err, cases[i].setting), "%s: stderr lacks %s: %s",
				   cases[i].file, cases[i].setting, out.err);
		expect_no_sockets(run);
	}
}

Test(rmcd_cli, missing_config_file, .init = rmcd_init, .fini = rmcd_fini)
{
	char run[128], conf[128];

	snprintf(run, sizeof(run), "%s/run", tmpdir);
	snprintf(conf, sizeof(conf), "%s/absent.conf", tmpdir);
	run_rmcd(&out, "-c", conf, "-r", run, NULL);
	cr_assert(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 1, "status 0x%x", out.status);
	cr_assert_not_null(strstr(out.err, conf), "%s", out.err);
	cr_assert_not_null(strstr(out.err, "cannot read"), "%s", out.err);
	expect_no_sockets(run);
}

Test(rmcd_cli, help_and_version)
{
	run_rmcd(&out, "--help", NULL, NULL, NULL, NULL);
	cr_assert(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 0, "status 0x%x", out.status);
	cr_assert_not_null(strstr(out.out, "Usage:"), "no usage on stdout: %s", out.out);
	cr_assert_not_null(strstr(out.out, "NODE_CNT"));
	run_rmcd(&out, "-h", NULL, NULL, NULL, NULL);
	cr_assert(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 0);
	run_rmcd(&out, "-V", NULL, NULL, NULL, NULL);
	cr_assert(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 0);
	cr_assert_not_null(strstr(out.out, "rmcd (sonuma)"), "%s", out.out);
}

static void expect_usage_error(const char *a1, const char *a2, const char *needle)
{
	char run[128];

	snprintf(run, sizeof(run), "%s/run", tmpdir);
	run_rmcd(&out, "-r", run, a1, a2, NULL);
	cr_assert(WIFEXITED(out.status) &&
			  (WEXITSTATUS(out.status) == 1 || WEXITSTATUS(out.status) == 2),
		  "rmcd %s %s: status 0x%x, expected exit 1 or 2", a1, a2 ? a2 : "", out.status);
	cr_assert_not_null(strstr(out.err, needle), "rmcd %s %s: stderr lacks \"%s\": %s", a1,
			   a2 ? a2 : "", needle, out.err);
	expect_no_sockets(run);
}

Test(rmcd_cli, bad_node_count, .init = rmcd_init, .fini = rmcd_fini)
{
	expect_usage_error("0", NULL, "NODE_CNT");
	expect_usage_error("abc", NULL, "NODE_CNT");
	expect_usage_error("65", NULL, "NODE_CNT");
	expect_usage_error("-1", NULL, "Usage");
	/* NODE_ID: the node this rmcd serves, below NODE_CNT. */
	expect_usage_error("2", "3", "NODE_ID");
	expect_usage_error("2", "2", "NODE_CNT is 2");
	expect_usage_error("2", "x", "NODE_ID");
	expect_usage_error("2", "-1", "Usage");
	char run[128];
	snprintf(run, sizeof(run), "%s/run", tmpdir);
	run_rmcd(&out, "-r", run, "2", "0", "1");
	cr_assert(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 2, "status 0x%x", out.status);
	cr_assert_not_null(strstr(out.err, "too many arguments"), "%s", out.err);
	expect_usage_error("--no-such-option", NULL, "Usage");
}

Test(rmcd_cli, unknown_model_refused, .init = rmcd_init, .fini = rmcd_fini)
{
	char run[128];

	snprintf(run, sizeof(run), "%s/run", tmpdir);
	run_rmcd(&out, "-m", "no-such-model", "-r", run, "2");
	cr_assert(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 1, "status 0x%x", out.status);
	cr_assert_not_null(strstr(out.err, "no-such-model"), "%s", out.err);
	cr_assert_not_null(strstr(out.err, "unknown timing model"), "%s", out.err);
	cr_assert_not_null(strstr(out.err, "none"), "the known models are not listed: %s", out.err);
	expect_no_sockets(run);

	char conf[512];
	snprintf(conf, sizeof(conf), "%s", fixture("badmodel.conf"));
	run_rmcd(&out, "-c", conf, "-r", run, NULL);
	cr_assert(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 1, "status 0x%x", out.status);
	cr_assert_not_null(strstr(out.err, conf), "%s", out.err);
	cr_assert_not_null(strstr(out.err, "model.name"), "%s", out.err);
	cr_assert_not_null(strstr(out.err, "no-such-model"), "%s", out.err);
	expect_no_sockets(run);
}

/* The xen fabric: one node per rmcd, and no link model (its shared state
 * would need a page every guest maps).  Refused before anything is set up. */
Test(rmcd_cli, xen_fabric_refusals, .init = rmcd_init, .fini = rmcd_fini)
{
	char run[128], conf[512];

	snprintf(run, sizeof(run), "%s/run", tmpdir);
	snprintf(conf, sizeof(conf), "%s", fixture("xen_link.conf"));
	run_rmcd(&out, "-c", conf, "2", "0", NULL);
	cr_assert(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 1, "status 0x%x: %s",
		  out.status, out.err);
	/* Built without libxenstore, the fabric itself is refused, by name. */
	if (!strstr(out.err, "built without the xen fabric"))
		cr_assert_not_null(strstr(out.err, "link model is not supported"), "%s", out.err);
	cr_assert_not_null(strstr(out.err, "xen"), "%s", out.err);
	expect_no_sockets(run);

	run_rmcd(&out, "-c", conf, "-r", run, "2");
	cr_assert(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 1, "status 0x%x: %s",
		  out.status, out.err);
	if (!strstr(out.err, "built without it"))
		cr_assert_not_null(strstr(out.err, "one rmcd serves one node"), "%s", out.err);
	expect_no_sockets(run);
}

/* The xen fabric where it cannot run (no rmc.ko loaded with Xen grants, no
 * Xen domain): rmcd says what is missing and exits, without a crash. */
Test(rmcd_cli, xen_fabric_outside_xen, .init = rmcd_init, .fini = rmcd_fini)
{
	char run[128], conf[512];

	snprintf(run, sizeof(run), "%s/run", tmpdir);
	snprintf(conf, sizeof(conf), "%s", fixture("xen_fixed.conf"));
	run_rmcd(&out, "-c", conf, "-r", run, NULL);
	cr_assert(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 1, "status 0x%x: %s",
		  out.status, out.err);
	if (!strstr(out.err, "built without the xen fabric"))
		cr_assert_not_null(strstr(out.err, "fabric xen: "), "%s", out.err);
	expect_no_sockets(run);
}

/* Like every other config error, an unknown model named in the file is
 * reported at its line. */
Test(rmcd_cli, unknown_model_in_config_names_line, .init = rmcd_init, .fini = rmcd_fini)
{
	char run[128], conf[512], want[600];

	snprintf(run, sizeof(run), "%s/run", tmpdir);
	snprintf(conf, sizeof(conf), "%s", fixture("badmodel.conf"));
	run_rmcd(&out, "-c", conf, "-r", run, NULL);
	cr_assert(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 1, "status 0x%x", out.status);
	snprintf(want, sizeof(want), "%s:%u: model.name", conf, line_of(conf, "no-such-model"));
	cr_assert_not_null(strstr(out.err, want), "stderr lacks \"%s\": %s", want, out.err);
}

Test(rmcd_cli, unknown_key_in_model_group, .init = rmcd_init, .fini = rmcd_fini)
{
	char run[128], conf[512], want[600];

	snprintf(run, sizeof(run), "%s/run", tmpdir);
	snprintf(conf, sizeof(conf), "%s", fixture("modelkey.conf"));
	run_rmcd(&out, "-c", conf, "-r", run, NULL);
	cr_assert(WIFEXITED(out.status) && WEXITSTATUS(out.status) == 1, "status 0x%x: %s",
		  out.status, out.err);
	snprintf(want, sizeof(want), "%s:%u: model.latnecy_ns", conf, line_of(conf, "latnecy_ns"));
	cr_assert_not_null(strstr(out.err, want), "stderr lacks \"%s\": %s", want, out.err);
	expect_no_sockets(run);
}
