/* SPDX-License-Identifier: MIT */
/*
 * What the calibration file says about its own trustworthiness, and the
 * minimal agent: the optional spread, sanity and agent sections (save and
 * load, files from before them, malformed ones refused at FILE:LINE naming
 * the field), the agent's library and probe, sonuma-calibrate --check
 * --probe against a doctored file, and sonuma-bench's comparison with the
 * agent.  The programs' paths come from $SONUMA_CALIBRATE, $SONUMA_RMCD and
 * $SONUMA_BENCH (set by meson).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "calib.h"
#include "core.h"
#include "sonuma/tsc.h"

#define CALIB_TMP_PREFIX "/tmp/test_calib_check-"
#include "calib_tmp.h"

TestSuite(sections, .init = make_tmp, .fini = remove_tmp);

/* A two-domain calibration of this machine's identity, without the
 * optional sections. */
static void base(struct cal_data *c)
{
	calib_figures(c);
	cal_identity_here(&c->id);
	c->id.domains = 2;
}

/* base() with every optional section, a different figure in every field. */
static void full(struct cal_data *c)
{
	base(c);
	c->has_spread = true;
	c->tsc_ppm = 0.37;
	c->tsc_read_p10_ns = 11.5, c->tsc_read_p90_ns = 12.25;
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++) {
			c->rtt_p10_ns[i][j] = c->rtt_ns[i][j] - 5 - i;
			c->rtt_p90_ns[i][j] = c->rtt_ns[i][j] + 7 + j;
			c->load_p10_ns[i][j] = c->load_ns[i][j] - 3;
			c->load_p90_ns[i][j] = c->load_ns[i][j] + 4.5;
			c->copy_p10_gbps[i][j] = c->copy_gbps[i][j] - 0.25;
			c->copy_p90_gbps[i][j] = c->copy_gbps[i][j] + 0.125;
		}
	c->floor_p10_ns[0] = 230.5, c->floor_p90_ns[0] = 260.5;
	c->floor_p10_ns[1] = 280.5, c->floor_p90_ns[1] = 330.5;
	c->n_rounds = c->n_round_floor = 3;
	for (int k = 0; k < 3; k++) {
		c->round_rtt_ns[k] = 79.5 + k;
		c->round_floor_ns[k] = 238.5 + 2 * k;
	}
	c->has_sanity = true;
	c->floor_per_rtt = 2.99;
	c->floor_per_rtt_max = 3.5;
	c->disturbed = true;
	snprintf(c->disturbed_why, sizeof(c->disturbed_why), "the round trip moved \"2.1x\"");
	c->has_agent = true;
	c->agent_cpu[0] = 0, c->agent_cpu[1] = 3;
	c->agent_window = 64;
	c->agent_rate_64_mops = 9.125;
	c->agent_rate_64_min_mops = 8.5;
	c->agent_rate_64_max_mops = 9.75;
	c->n_agent = 3;
	for (uint32_t i = 0; i < 3; i++)
		c->agent_floor[i] = (struct cal_agent_floor){ .size = 64ull << (4 * i),
							      .median_ns = 300 + 100 * i,
							      .p10_ns = 280 + 100 * i,
							      .p90_ns = 350 + 100 * i,
							      .p99_ns = 500 + 100 * i,
							      .cached_ns = 120 + 50 * i,
							      .cached_p10_ns = 110 + 50 * i,
							      .cached_p90_ns = 140 + 50 * i,
							      .cached_p99_ns = 190 + 50 * i };
}

Test(sections, save_load_round_trip)
{
	struct cal_data c, d;
	const char *text;

	full(&c);
	text = save_load(&c, &d, "full.cfg");
	cr_expect(strstr(text, "\nagent = ") && strstr(text, "\nspread = ") &&
			  strstr(text, "\nsanity = "),
		  "a section is missing:\n%s", text);

	cr_expect(d.has_spread);
	expect_close(d.tsc_ppm, c.tsc_ppm, "tsc_ppm");
	expect_close(d.tsc_read_p10_ns, c.tsc_read_p10_ns, "tsc_read_p10_ns");
	expect_close(d.tsc_read_p90_ns, c.tsc_read_p90_ns, "tsc_read_p90_ns");
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++) {
			expect_close(d.rtt_p10_ns[i][j], c.rtt_p10_ns[i][j], "rtt_p10_ns");
			expect_close(d.rtt_p90_ns[i][j], c.rtt_p90_ns[i][j], "rtt_p90_ns");
			expect_close(d.load_p10_ns[i][j], c.load_p10_ns[i][j], "load_p10_ns");
			expect_close(d.load_p90_ns[i][j], c.load_p90_ns[i][j], "load_p90_ns");
			expect_close(d.copy_p10_gbps[i][j], c.copy_p10_gbps[i][j], "copy_p10_gbps");
			expect_close(d.copy_p90_gbps[i][j], c.copy_p90_gbps[i][j], "copy_p90_gbps");
		}
	for (int i = 0; i < 2; i++) {
		expect_close(d.floor_p10_ns[i], c.floor_p10_ns[i], "floor_p10_ns");
		expect_close(d.floor_p90_ns[i], c.floor_p90_ns[i], "floor_p90_ns");
	}
	cr_expect_eq(d.n_rounds, 3);
	cr_expect_eq(d.n_round_floor, 3);
	for (int k = 0; k < 3; k++) {
		expect_close(d.round_rtt_ns[k], c.round_rtt_ns[k], "round_rtt_ns");
		expect_close(d.round_floor_ns[k], c.round_floor_ns[k], "round_floor_ns");
	}

	cr_expect(d.has_sanity);
	expect_close(d.floor_per_rtt, c.floor_per_rtt, "floor_per_rtt");
	expect_close(d.floor_per_rtt_max, c.floor_per_rtt_max, "floor_per_rtt_max");
	cr_expect(d.disturbed);
	cr_expect_str_eq(d.disturbed_why, c.disturbed_why);

	cr_expect(d.has_agent);
	cr_expect_eq(d.agent_cpu[0], 0);
	cr_expect_eq(d.agent_cpu[1], 3);
	cr_expect_eq(d.agent_window, 64);
	expect_close(d.agent_rate_64_mops, c.agent_rate_64_mops, "rate");
	expect_close(d.agent_rate_64_min_mops, c.agent_rate_64_min_mops, "rate min");
	expect_close(d.agent_rate_64_max_mops, c.agent_rate_64_max_mops, "rate max");
	cr_assert_eq(d.n_agent, 3);
	for (uint32_t i = 0; i < 3; i++) {
		const struct cal_agent_floor *a = &d.agent_floor[i], *b = &c.agent_floor[i];
		cr_expect_eq(a->size, b->size);
		expect_close(a->median_ns, b->median_ns, "median_ns");
		expect_close(a->p10_ns, b->p10_ns, "p10_ns");
		expect_close(a->p90_ns, b->p90_ns, "p90_ns");
		expect_close(a->p99_ns, b->p99_ns, "p99_ns");
		expect_close(a->cached_ns, b->cached_ns, "cached_ns");
		expect_close(a->cached_p10_ns, b->cached_p10_ns, "cached_p10_ns");
		expect_close(a->cached_p90_ns, b->cached_p90_ns, "cached_p90_ns");
		expect_close(a->cached_p99_ns, b->cached_p99_ns, "cached_p99_ns");
	}
	/* The mandatory part is still there. */
	expect_close(d.floor_ns[1], c.floor_ns[1], "floor_ns");
	expect_close(d.rtt_ns[1][0], c.rtt_ns[1][0], "rtt_ns");
}

Test(sections, a_quiet_calibration_has_no_reason)
{
	struct cal_data c, d;
	char path[128], err[512];

	full(&c);
	c.disturbed = false;
	c.disturbed_why[0] = '\0';
	tmp_path(path, sizeof(path), "quiet.cfg");
	cr_assert_eq(cal_save(path, &c, err, sizeof(err)), 0, "%s", err);
	cr_expect_null(strstr(slurp(path), "why"), "a quiet calibration gives a reason");
	cr_assert_eq(cal_load(path, &d, err, sizeof(err)), 0, "%s", err);
	cr_expect_not(d.disturbed);
	cr_expect(d.has_sanity);
}

/* A file as sonuma-calibrate wrote it before the optional sections. */
static const char old_file[] =
	"# sonuma calibration: this machine's own costs, written by sonuma-calibrate.\n"
	"version = 1;\n"
	"machine = \n{\n  cpu_model = \"Old CPU\";\n  cores = 2;\n  domains = 1;\n"
	"  kernel = \"6.1.0\";\n  hostname = \"old\";\n  date = \"2025-01-31T12:00:00Z\";\n};\n"
	"tsc = \n{\n  hz = 2445406123.0;\n  read_ns = 11.94;\n  invariant = true;\n};\n"
	"rtt_ns = ( [ 75.14 ] );\nnotify_ns = ( [ 37.57 ] );\nload_ns = ( [ 166.76 ] );\n"
	"copy_gbps = ( [ 7.391 ] );\n"
	"floor = ( \n  {\n    size = 64;\n    median_ns = 160.3;\n    p99_ns = 230.6;\n  }, \n"
	"  {\n    size = 65536;\n    median_ns = 1532.7;\n    p99_ns = 1713.4;\n  } );\n"
	"overhead_ns = 41.95;\npapi_counters = false;\nrmc_ko = false;\n";

Test(sections, old_files_load)
{
	struct cal_data c;
	char path[128], err[512];

	tmp_path(path, sizeof(path), "old.cfg");
	spit(path, old_file);
	cr_assert_eq(cal_load(path, &c, err, sizeof(err)), 0, "%s", err);
	cr_expect_not(c.has_spread);
	cr_expect_not(c.has_sanity);
	cr_expect_not(c.has_agent);
	cr_expect_not(c.disturbed);
	cr_expect_eq(c.n_rounds, 0);
	cr_expect_eq(c.n_agent, 0);
	cr_expect_eq(cal_agent_floor_ns(&c, 64, true), 0, "agent figures from nowhere");
	expect_close(c.floor_ns[0], 160.3, "floor_ns");
	expect_close(c.rtt_ns[0][0], 75.14, "rtt_ns");

	/* And what is saved without them has none. */
	base(&c);
	tmp_path(path, sizeof(path), "base.cfg");
	cr_assert_eq(cal_save(path, &c, err, sizeof(err)), 0, "%s", err);
	cr_expect_null(strstr(slurp(path), "\nagent = "));
	cr_expect_null(strstr(slurp(path), "\nspread = "));
	cr_expect_null(strstr(slurp(path), "\nsanity = "));
	cr_assert_eq(cal_load(path, &c, err, sizeof(err)), 0, "%s", err);
	cr_expect_not(c.has_agent);
}

/* Saves full(), replaces the first from with to, and expects cal_load to
 * refuse it with "PATH:LINE: ..." naming want. */
static void expect_rejected(const char *from, const char *to, const char *want)
{
	struct cal_data c;
	char path[128], err[512], out[65536];
	const char *text, *at;
	long line;

	full(&c);
	tmp_path(path, sizeof(path), "bad.cfg");
	cr_assert_eq(cal_save(path, &c, err, sizeof(err)), 0, "%s", err);
	text = slurp(path);
	at = strstr(text, from);
	cr_assert_not_null(at, "the saved file has no \"%s\":\n%s", from, text);
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	spit(path, out);

	cr_expect_eq(cal_load(path, &c, err, sizeof(err)), -EINVAL, "accepted:\n%s", out);
	cr_expect_eq(strncmp(err, path, strlen(path)), 0, "error does not name the file: %s", err);
	cr_expect_eq(err[strlen(path)], ':', "%s", err);
	line = strtol(err + strlen(path) + 1, NULL, 10);
	cr_expect_gt(line, 0, "no line number in \"%s\"", err);
	cr_expect(strstr(err, want), "error \"%s\" does not name \"%s\"", err, want);
	cr_expect_not(c.has_agent, "something half-loaded stayed behind");
}

Test(sections, malformed_agent_is_refused_at_its_line)
{
	expect_rejected("cached_ns = 120.0;", "cached_ns = -120.0;", "agent.floor[0].cached_ns");
	expect_rejected("rate_64_mops = 9.125;", "rate_64_mops = \"fast\";", "agent.rate_64_mops");
	expect_rejected("rate_64_mops = 9.125;", "rate_64_mops = 99.0;", "agent.rate_64_mops");
	expect_rejected("window = 64;", "window = 64;\n  bogus = 1;", "agent.bogus");
	expect_rejected("size = 1024;", "size = 32;", "agent.floor[1]");
	expect_rejected("p99_ns = 500.0;", "p99_ns = 5.0;", "agent.floor[0]");
	expect_rejected("cached_p10_ns = 160.0;", "", "missing agent.floor[1].cached_p10_ns");
	expect_rejected("cpus = [ 0, 3 ];", "cpus = [ 0 ];", "agent.cpus");
}

Test(sections, malformed_spread_and_sanity_are_refused_at_their_line)
{
	expect_rejected("tsc_ppm = 0.37;", "tsc_ppm = -1.0;", "spread.tsc_ppm");
	expect_rejected("tsc_read_ns = [ 11.5, 12.25 ];", "tsc_read_ns = [ 12.5, 11.25 ];",
			"spread.tsc_read_ns");
	expect_rejected("rtt_p10_ns = ( [", "rtt_p10_ns = ( [ 1.0, 2.0 ], [", "spread.rtt_p10_ns");
	expect_rejected("load_p90_ns = ( [ 100.0,", "load_p90_ns = ( [ 9.0,", "spread.load_p90_ns");
	expect_rejected("floor_p10_ns = [ 230.5, 280.5 ];", "floor_p10_ns = [ 230.5 ];",
			"spread.floor_p10_ns");
	expect_rejected("rounds_rtt_ns = [ 79.5, 80.5, 81.5 ];", "", "spread.rounds_floor_64_ns");
	expect_rejected("rounds_floor_64_ns = [ 238.5, 240.5, 242.5 ];",
			"rounds_floor_64_ns = [ 238.5 ];", "spread.rounds_floor_64_ns");
	expect_rejected("disturbed = true;", "disturbed = 1;", "sanity.disturbed");
	expect_rejected("why = ", "whY = ", "sanity.whY");
	expect_rejected("floor_per_rtt_max = 3.5;", "floor_per_rtt_max = 0.5;",
			"sanity.floor_per_rtt_max");
}

Test(sections, save_refuses_what_load_would_refuse)
{
	struct cal_data c;
	char path[128], err[512];

	tmp_path(path, sizeof(path), "refused.cfg");
	full(&c);
	c.agent_floor[1].cached_p10_ns = c.agent_floor[1].cached_ns + 1;
	cr_expect_eq(cal_save(path, &c, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "agent"), "%s", err);
	full(&c);
	c.disturbed_why[0] = '\0';
	cr_expect_eq(cal_save(path, &c, err, sizeof(err)), -EINVAL);
	full(&c);
	c.rtt_p90_ns[1][0] = c.rtt_p10_ns[1][0] - 1;
	cr_expect_eq(cal_save(path, &c, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "rtt[1][0]"), "%s", err);
	cr_expect_eq(access(path, F_OK), -1, "a refused calibration was written");
}

Test(sections, agent_floor_interpolation)
{
	struct cal_data c;

	full(&c); /* 64 B, 1 KiB, 16 KiB: 300/400/500 ns beyond, 120/170/220 in cache */
	cr_expect_float_eq(cal_agent_floor_ns(&c, 64, false), 300, 1e-9);
	cr_expect_float_eq(cal_agent_floor_ns(&c, 64, true), 120, 1e-9);
	cr_expect_float_eq(cal_agent_floor_ns(&c, 8, true), 120, 1e-9, "below: 64 B's");
	/* 256 B is halfway between 64 B and 1 KiB in log2. */
	cr_expect_float_eq(cal_agent_floor_ns(&c, 256, false), 350, 1e-9);
	cr_expect_float_eq(cal_agent_floor_ns(&c, 256, true), 145, 1e-9);
	cr_expect_float_eq(cal_agent_floor_ns(&c, 16384, true), 220, 1e-9);
	cr_expect_eq(cal_agent_floor_ns(&c, 16385, true), 0, "beyond the sizes measured");
	c.has_agent = false;
	cr_expect_eq(cal_agent_floor_ns(&c, 64, true), 0);
}

/* ---- the agent itself ------------------------------------------------------ */

static void count_pause(void *arg)
{
	(*(unsigned *)arg)++;
}

Test(agent, moves_data_and_gives_sane_figures, .timeout = 60)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct exp_agent_cfg cfg = { .app_cpu = cpus >= 2 ? 0 : -1,
				     .agent_cpu = cpus >= 2 ? 1 : -1,
				     .src_len = 4 << 20,
				     .dst_len = 65536 };
	struct exp_agent *a = NULL;
	uint64_t ticks = 0, lat[200];
	int r;

	r = exp_agent_start(&cfg, &a);
	cr_assert_eq(r, 0, "exp_agent_start: %s", strerror(-r));
	cr_expect_eq(exp_agent_rate(a, 64, 65536, EXP_AGENT_MAX_WINDOW, 5000, &ticks), 0);
	cr_expect_gt(ticks, 0);
	for (int beyond = 0; beyond < 2; beyond++)
		for (uint64_t size = 64; size <= 65536; size *= 16) {
			memset(lat, 0, sizeof(lat));
			cr_expect_eq(exp_agent_sync(a, size, beyond, 200, lat), 0);
			for (int i = 0; i < 200; i++)
				cr_expect_gt(lat[i], 0, "size %llu: no time",
					     (unsigned long long)size);
		}
	/* Timed: no read is taken before its latency (a bound that cannot
	 * flake: it is the poster's own rule), and each is measured. */
	uint64_t tlat[2000], lt = 50000; /* ticks: some 20 us */
	for (unsigned w = 1; w <= 16; w *= 4) {
		memset(tlat, 0, sizeof(tlat));
		cr_expect_eq(exp_agent_timed(a, 64, 65536, w, 2000, lt, tlat, &ticks), 0);
		for (int i = 0; i < 2000; i++)
			cr_expect_geq(tlat[i], lt, "window %u, read %d: %llu ticks, under %llu", w,
				      i, (unsigned long long)tlat[i], (unsigned long long)lt);
		cr_expect_geq(ticks, 2000 / w * lt, "the run is at least its latencies long");
	}
	cr_expect_eq(exp_agent_timed(a, 64, 65536, 16, 10, 0, tlat, &ticks), -EINVAL,
		     "a latency of 0");
	/* Synchronous and timed, with a pause before each: none is taken
	 * before its latency, and the pause ran before every read. */
	unsigned pauses = 0;
	memset(tlat, 0, sizeof(tlat));
	cr_expect_eq(exp_agent_sync_ex(a, 64, false, 500, lt, count_pause, &pauses, tlat), 0);
	cr_expect_eq(pauses, 500);
	for (int i = 0; i < 500; i++)
		cr_expect_geq(tlat[i], lt, "sync read %d: %llu ticks, under %llu", i,
			      (unsigned long long)tlat[i], (unsigned long long)lt);
	/* What it cannot do, it refuses. */
	cr_expect_eq(exp_agent_rate(a, 64, 65536, EXP_AGENT_MAX_WINDOW + 1, 10, &ticks), -EINVAL);
	cr_expect_eq(exp_agent_rate(a, 64, 1 << 20, 8, 10, &ticks), -EINVAL, "span beyond dst");
	cr_expect_eq(exp_agent_sync(a, 1 << 20, false, 1, lat), -EINVAL);
	exp_agent_stop(a);
}

/* ---- the programs ------------------------------------------------------------ */

static int run(const char *prog, const char *log_name, const char *const *args)
{
	return run_logged(prog, log_name, args);
}

static const char *env_or_skip(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		cr_skip_test("%s is not set (run through meson test)", name);
	return v;
}

TestSuite(tool, .init = make_tmp, .fini = remove_tmp);

Test(tool, quick_run_records_the_agent_and_the_spread, .timeout = 120)
{
	const char *tool = env_or_skip("SONUMA_CALIBRATE");
	char path[128], err[512];
	struct cal_data c;
	int rc;

	tmp_path(path, sizeof(path), "quick.cfg");
	rc = run(tool, "quick.log",
		 (const char *const[]){ "--quick", "--no-floor", "-o", path, NULL });
	cr_assert_eq(rc, 0, "sonuma-calibrate --quick --no-floor: %d\n%s", rc, log_of("quick.log"));
	cr_expect(strstr(log_of("quick.log"), "Minimal polling agent"), "no agent in the summary");
	cr_expect(strstr(log_of("quick.log"), "Sanity"), "no sanity section in the summary");
	cr_assert_eq(cal_load(path, &c, err, sizeof(err)), 0, "%s", err);
	cr_expect(c.has_spread);
	cr_expect(c.has_sanity);
	cr_expect_eq(c.floor_per_rtt, 0, "a floor ratio without a floor");
	cr_expect_leq(c.tsc_read_p10_ns, c.tsc_read_p90_ns);
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		cr_expect_not(c.has_agent, "an agent without two CPUs");
		return;
	}
	cr_assert(c.has_agent, "no agent section");
	cr_expect(isfinite(c.agent_rate_64_mops) && c.agent_rate_64_mops > 0);
	cr_expect_leq(c.agent_rate_64_min_mops, c.agent_rate_64_mops);
	cr_expect_geq(c.agent_rate_64_max_mops, c.agent_rate_64_mops);
	cr_expect_neq(c.agent_cpu[0], c.agent_cpu[1]);
	cr_assert_eq(c.n_agent, 6, "%u sizes", c.n_agent);
	for (uint32_t i = 0; i < c.n_agent; i++) {
		const struct cal_agent_floor *a = &c.agent_floor[i];
		cr_expect_eq(a->size, 64ull << (2 * i));
		cr_expect(isfinite(a->median_ns) && a->median_ns > 0, "%g", a->median_ns);
		cr_expect(isfinite(a->cached_ns) && a->cached_ns > 0, "%g", a->cached_ns);
		cr_expect(isfinite(a->p99_ns) && a->p99_ns >= a->median_ns);
		cr_expect(isfinite(a->cached_p99_ns) && a->cached_p99_ns >= a->cached_ns);
	}
	cr_expect_geq(c.n_rounds, 1, "no repeat of the round trip recorded");
}

/* A real quick calibration with a floor, into path. */
static void calibrate_with_floor(const char *path)
{
	const char *tool = env_or_skip("SONUMA_CALIBRATE");
	const char *rmcd = env_or_skip("SONUMA_RMCD");
	int rc;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		cr_skip_test("one CPU: no round trip to compare with");
	rc = run(tool, "cal.log",
		 (const char *const[]){ "--quick", "--rmcd", rmcd, "-o", path, NULL });
	cr_assert_eq(rc, 0, "sonuma-calibrate --quick: %d\n%s", rc, log_of("cal.log"));
}

Test(tool, a_full_quick_run_records_the_rounds_and_the_sanity, .timeout = 120)
{
	char path[128], err[512];
	struct cal_data c;

	tmp_path(path, sizeof(path), "floor.cfg");
	calibrate_with_floor(path);
	cr_assert_eq(cal_load(path, &c, err, sizeof(err)), 0, "%s", err);
	cr_expect(c.has_sanity);
	cr_expect_gt(c.floor_per_rtt, 0, "no floor ratio with a floor");
	/* Computed before the figures were rounded for the file. */
	cr_expect_float_eq(c.floor_per_rtt, c.floor_ns[0] / c.rtt_ns[0][0], 0.02);
	cr_expect_geq(c.n_rounds, 2, "%u rounds", c.n_rounds);
	cr_expect_eq(c.n_round_floor, c.n_rounds);
	if (c.disturbed)
		cr_expect_gt(strlen(c.disturbed_why), 0, "disturbed without a reason");
	if (c.floor_per_rtt > c.floor_per_rtt_max)
		cr_expect(c.disturbed, "the floor is %.2f round trips, yet not disturbed",
			  c.floor_per_rtt);
}

/* path's figures times k: the 64 B floor (floor), or the round trip of
 * domain 0 (rtt). */
static void doctor(const char *path, bool floor, double k)
{
	struct cal_data c;
	char err[512];

	cr_assert_eq(cal_load(path, &c, err, sizeof(err)), 0, "%s", err);
	if (floor) {
		cr_assert_gt(c.n_floor, 0);
		c.floor_ns[0] *= k;
		c.floor_p99_ns[0] *= k;
	} else {
		c.rtt_ns[0][0] *= k;
		c.notify_ns[0][0] *= k;
		c.rtt_p10_ns[0][0] *= k;
		c.rtt_p90_ns[0][0] *= k;
	}
	cr_assert_eq(cal_save(path, &c, err, sizeof(err)), 0, "%s", err);
}

/* The factor a figure is doctored by: the host here moves this machine's
 * CPUs and the round trip between 75 and 480 ns from one moment to the
 * next, so a figure only 3x off can match a re-probe taken in a bad
 * moment; 10x cannot, however the two moments differ. */
#define DOCTOR_K 10

Test(tool, check_probe_flags_a_floor_ten_times_too_high, .timeout = 120)
{
	const char *tool = env_or_skip("SONUMA_CALIBRATE");
	const char *rmcd = env_or_skip("SONUMA_RMCD");
	char path[128];
	const char *out;
	int rc;

	tmp_path(path, sizeof(path), "doctored.cfg");
	calibrate_with_floor(path);
	doctor(path, true, DOCTOR_K);
	/* Still a valid calibration of this machine: --check alone says so. */
	rc = run(tool, "check.log", (const char *const[]){ "--check", "-o", path, NULL });
	cr_expect_eq(rc, 0, "--check: %d\n%s", rc, log_of("check.log"));
	rc = run(tool, "probe.log",
		 (const char *const[]){ "--check", "--probe", "--rmcd", rmcd, "-o", path, NULL });
	out = log_of("probe.log");
	cr_expect_eq(rc, 1, "--check --probe on a floor %dx too high: %d\n%s", DOCTOR_K, rc, out);
	cr_expect(strstr(out, "64 B floor") && strstr(out, "ABOVE what the re-probe allows"),
		  "the floor is not named:\n%s", out);
	cr_expect(strstr(out, "no longer matches"), "%s", out);
}

Test(tool, check_probe_flags_a_round_trip_ten_times_too_high, .timeout = 120)
{
	const char *tool = env_or_skip("SONUMA_CALIBRATE");
	char path[128];
	const char *out;
	int rc;

	tmp_path(path, sizeof(path), "rtt.cfg");
	calibrate_with_floor(path);
	doctor(path, false, DOCTOR_K);
	rc = run(tool, "probe.log",
		 (const char *const[]){ "--check", "--probe", "--no-floor", "-o", path, NULL });
	out = log_of("probe.log");
	cr_expect_eq(rc, 1, "--check --probe on a round trip %dx too high: %d\n%s", DOCTOR_K, rc,
		     out);
	cr_expect(strstr(out, "round trip") && strstr(out, "ABOVE"), "not named:\n%s", out);
	cr_expect_null(strstr(out, "64 B floor  "), "--no-floor re-probed the floor:\n%s", out);
}

Test(tool, probe_goes_with_check)
{
	const char *tool = env_or_skip("SONUMA_CALIBRATE");
	int rc = run(tool, "usage.log", (const char *const[]){ "--probe", NULL });

	cr_expect_eq(rc, 2, "--probe alone: %d", rc);
	cr_expect(strstr(log_of("usage.log"), "--probe goes with --check"), "%s",
		  log_of("usage.log"));
}

Test(tool, check_says_a_disturbed_calibration_is_one)
{
	const char *tool = env_or_skip("SONUMA_CALIBRATE");
	struct cal_data c;
	char path[128], err[512];
	int rc;

	full(&c);
	c.id.domains = c.domains = (uint32_t)core_numa_domains();
	if (c.domains > 2)
		cr_skip_test("more than 2 NUMA domains");
	tmp_path(path, sizeof(path), "disturbed.cfg");
	cr_assert_eq(cal_save(path, &c, err, sizeof(err)), 0, "%s", err);
	rc = run(tool, "check.log", (const char *const[]){ "--check", "-o", path, NULL });
	cr_expect_eq(rc, 0, "a valid calibration, disturbed or not: %d\n%s", rc,
		     log_of("check.log"));
	cr_expect(strstr(log_of("check.log"), "looked disturbed") &&
			  strstr(log_of("check.log"), c.disturbed_why),
		  "%s", log_of("check.log"));
}

/* ---- sonuma-bench against the agent ------------------------------------------ */

static pid_t rmcd_pid;

/* rmcd with calibration cal, two nodes, in tmpdir/run: up, or the test fails. */
static void rmcd_up(const char *cal)
{
	const char *rmcd = env_or_skip("SONUMA_RMCD");
	char run_dir[128], log[128], s0[200], s1[200];
	struct stat st;

	tmp_path(run_dir, sizeof(run_dir), "run");
	tmp_path(log, sizeof(log), "rmcd.log");
	rmcd_pid = spawn_logged((const char *const[]){ rmcd, "-r", run_dir, "-C", cal, "2", NULL },
				"rmcd.log");
	core_node_sock_path(s0, sizeof(s0), run_dir, 0);
	core_node_sock_path(s1, sizeof(s1), run_dir, 1);
	for (int i = 0; i < 400; i++) {
		if (stat(s0, &st) == 0 && stat(s1, &st) == 0)
			break;
		cr_assert_eq(waitpid(rmcd_pid, NULL, WNOHANG), 0, "rmcd exited:\n%s",
			     log_of("rmcd.log"));
		usleep(25000);
	}
	cr_assert_eq(stat(s1, &st), 0, "rmcd did not come up:\n%s", log_of("rmcd.log"));
	setenv("SONUMA_RUNDIR", run_dir, 1);
	setenv("SONUMA_NODE", "0", 1);
}

static void rmcd_down(void)
{
	if (rmcd_pid > 0) {
		kill(rmcd_pid, SIGTERM);
		waitpid(rmcd_pid, NULL, 0);
		rmcd_pid = 0;
	}
	remove_tmp();
}

TestSuite(bench, .init = make_tmp, .fini = rmcd_down);

/* A calibration of this machine (--no-floor, quick) whose agent figures are
 * known: every size's in-place floor agent_ns, the rate agent_mops; or
 * without the agent section. */
static void known_agent(const char *path, bool with_agent, double agent_ns, double agent_mops)
{
	const char *tool = env_or_skip("SONUMA_CALIBRATE");
	struct cal_data c;
	char err[512];
	int rc;

	rc = run(tool, "cal.log",
		 (const char *const[]){ "--quick", "--no-floor", "-o", path, NULL });
	cr_assert_eq(rc, 0, "sonuma-calibrate: %d\n%s", rc, log_of("cal.log"));
	cr_assert_eq(cal_load(path, &c, err, sizeof(err)), 0, "%s", err);
	c.has_agent = with_agent;
	c.agent_cpu[0] = 0, c.agent_cpu[1] = 1;
	c.agent_window = 64;
	c.agent_rate_64_mops = c.agent_rate_64_min_mops = c.agent_rate_64_max_mops = agent_mops;
	c.n_agent = 2;
	for (uint32_t i = 0; i < 2; i++) {
		struct cal_agent_floor *a = &c.agent_floor[i];
		a->size = i ? 65536 : 64;
		a->median_ns = a->p10_ns = a->p90_ns = a->p99_ns = 10 * agent_ns;
		a->cached_ns = a->cached_p10_ns = a->cached_p90_ns = a->cached_p99_ns = agent_ns;
	}
	cr_assert_eq(cal_save(path, &c, err, sizeof(err)), 0, "%s", err);
}

Test(bench, sync_p50_and_bw_rate_against_the_agent, .timeout = 120)
{
	const char *bench = env_or_skip("SONUMA_BENCH");
	char path[128];
	const char *out, *line;
	double ratio, here, agent;
	int rc;

	tmp_path(path, sizeof(path), "agent.cfg");
	known_agent(path, true, 1234.0, 43.21);
	rmcd_up(path);
	rc = run(bench, "sync.log",
		 (const char *const[]){ "-s", "64", "-n", "300", "-w", "30", NULL });
	out = log_of("sync.log");
	cr_assert_eq(rc, 0, "sonuma-bench: %d\n%s", rc, out);
	line = strstr(out, "# p50 vs agent: ");
	cr_assert_not_null(line, "no comparison with the agent:\n%s", out);
	cr_assert_eq(sscanf(line,
			    "# p50 vs agent: %lfx for 64 B (%lf ns here, %lf ns for the agent)",
			    &ratio, &here, &agent),
		     3, "%s", line);
	cr_expect_float_eq(agent, 1234.0, 0.5, "not the calibration's figure: %s", line);
	cr_expect_float_eq(ratio, here / agent, 0.006, "%s", line);
	cr_expect(strstr(out, path), "the calibration is not named:\n%s", out);

	/* CSV: the columns as they were, the comparison in a comment line. */
	rc = run(bench, "bw.log",
		 (const char *const[]){ "--bw", "-m", "async", "-s", "64", "-n", "2000", "-w",
					"200", "-f", "csv", NULL });
	out = log_of("bw.log");
	cr_assert_eq(rc, 0, "sonuma-bench --bw: %d\n%s", rc, out);
	cr_expect(strstr(out, "\nsize,iterations,t_min_ns,t_p50_ns,t_avg_ns,t_p99_ns,t_p999_ns,"
			      "t_max_ns,target_ns,p50_err_pct,late,late_pct,bw_MBps,mops,errors,"
			      "model_ns,req_err_p50_pct,req_err_p99_pct\n"),
		  "the CSV header changed:\n%s", out);
	line = strstr(out, "# rate vs agent: ");
	cr_assert_not_null(line, "no rate against the agent:\n%s", out);
	cr_assert_eq(sscanf(line,
			    "# rate vs agent: %lfx (64 B async reads: %lf Mops here, %lf Mops",
			    &ratio, &here, &agent),
		     3, "%s", line);
	cr_expect_float_eq(agent, 43.21, 1e-3, "%s", line);
	cr_expect_float_eq(ratio, here / agent, 0.006, "%s", line);

	/* JSON: the figures in each result. */
	rc = run(bench, "json.log",
		 (const char *const[]){ "-s", "64", "-n", "200", "-w", "20", "-f", "json", NULL });
	out = log_of("json.log");
	cr_assert_eq(rc, 0, "%s", out);
	cr_expect(strstr(out, "\"agent_ns\": 1234.0"), "%s", out);
	cr_expect(strstr(out, "\"vs_agent\": "), "%s", out);
}

Test(bench, says_when_the_calibration_has_no_agent, .timeout = 120)
{
	const char *bench = env_or_skip("SONUMA_BENCH");
	char path[128];
	const char *out;
	int rc;

	tmp_path(path, sizeof(path), "noagent.cfg");
	known_agent(path, false, 0, 0);
	rmcd_up(path);
	rc = run(bench, "sync.log",
		 (const char *const[]){ "-s", "64", "-n", "200", "-w", "20", NULL });
	out = log_of("sync.log");
	cr_assert_eq(rc, 0, "sonuma-bench: %d\n%s", rc, out);
	cr_expect(strstr(out, "# vs agent: no agent figures in the calibration"), "%s", out);
	cr_expect_null(strstr(out, "p50 vs agent"), "%s", out);
}

/* sonuma-bench --agent --agent-library: the program's own library calls
 * served by the agent.  Timed, no read comes back before its latency (the
 * library's rule, a bound that cannot flake); untimed, it moves reads. */
Test(bench, agent_library_never_before_its_latency, .timeout = 120)
{
	const char *bench = env_or_skip("SONUMA_BENCH");
	const char *modes[] = { "sync", "async" };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 2)
		cr_skip_test("the agent needs a second CPU");
	for (int m = 0; m < 2; m++) {
		const char *out;
		double tmin = 0, mops = 0;
		int rc = run(bench, "lib.log",
			     (const char *const[]){ "--agent", "1", "--agent-library",
						    "--agent-latency", "20000", "-m", modes[m],
						    "-d", "8", "-s", "64,4096", "-n", "300", "-w",
						    "30", "-f", "csv", NULL });
		out = log_of("lib.log");
		cr_assert_eq(rc, 0, "%s: %d\n%s", modes[m], rc, out);
		/* Each size's row: size,iterations,t_min_ns,... */
		for (const char *l = strstr(out, "\n64,"); l; l = strstr(l + 1, "\n4096,")) {
			cr_assert_eq(sscanf(l + 1, "%*d,%*d,%lf", &tmin), 1, "%s", out);
			cr_expect_geq(tmin, 20000.0 - 1.0,
				      "%s: a read came back after %.0f ns:\n%s", modes[m], tmin,
				      out);
			if (!strncmp(l + 1, "4096,", 5))
				break;
		}
		cr_expect_gt(tmin, 0, "no rows:\n%s", out);
		rc = run(bench, "librate.log",
			 (const char *const[]){ "--agent", "1", "--agent-library", "-m", modes[m],
						"--bw", "-s", "64", "-n", "20000", "-w", "100",
						"-f", "csv", NULL });
		out = log_of("librate.log");
		cr_assert_eq(rc, 0, "%s --bw: %d\n%s", modes[m], rc, out);
		const char *row = strstr(out, "\n64,");
		cr_assert_not_null(row, "%s", out);
		/* size,iterations,6 latencies,target,err,late,late_pct,bw,mops:
		 * the 14th field (empty ones included). */
		for (int f = 1; f < 14 && row; f++)
			row = strchr(row + 1, ',');
		cr_assert_not_null(row, "%s", out);
		mops = strtod(row + 1, NULL);
		cr_expect_gt(mops, 0.0, "%s", out);
	}
}
