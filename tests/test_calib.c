/* SPDX-License-Identifier: MIT */
/*
 * The calibration file (core/calib.c) and the sonuma-calibrate tool: save and
 * load round trip, corrupt files rejected with the file named, identity
 * checks, floor interpolation, and the built tool run for real.  The tool's
 * path comes from $SONUMA_CALIBRATE (set by meson), rmcd's from $SONUMA_RMCD.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "calib.h"
#include "core.h"

#define CALIB_TMP_PREFIX "/tmp/test_calib-"
#include "calib_tmp.h"

TestSuite(calib, .init = make_tmp, .fini = remove_tmp);

/* A two-domain calibration with a different figure in every cell. */
static void sample(struct cal_data *c)
{
	calib_figures(c);
	snprintf(c->id.cpu_model, sizeof(c->id.cpu_model), "Test CPU \"quoted\" @ 2.40GHz");
	c->id.cores = 16;
	snprintf(c->id.kernel, sizeof(c->id.kernel), "6.1.0-test");
	snprintf(c->id.hostname, sizeof(c->id.hostname), "testhost");
	snprintf(c->id.date, sizeof(c->id.date), "2025-01-31T12:00:00Z");
	c->n_floor = 3;
	c->floor_size[2] = 65536, c->floor_ns[2] = 1633.5, c->floor_p99_ns[2] = 1884.6;
	c->papi_counters = false;
	c->rmc_ko = true;
}

/* A fabric section: node 0 at a, node 1 at b, three sizes. */
static void sample_fabric(struct cal_fabric *f, const char *tls)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "ucx");
	f->node = 0;
	snprintf(f->address, sizeof(f->address), "10.0.0.1:13337");
	f->peer_node = 1;
	snprintf(f->peer, sizeof(f->peer), "10.0.0.2:13337");
	snprintf(f->transports, sizeof(f->transports), "%s", tls);
	snprintf(f->date, sizeof(f->date), "2025-02-01T08:00:00Z");
	f->outstanding = 16;
	f->n = 3;
	for (uint32_t i = 0; i < 3; i++) {
		f->size[i] = 64ull << (4 * i); /* 64, 1024, 16384 */
		for (int op = 0; op < 2; op++) {
			f->ns[op][i] = 30000.5 + 1000 * i + 5000 * op;
			f->p10_ns[op][i] = f->ns[op][i] - 2000.25;
			f->p90_ns[op][i] = f->ns[op][i] + 4000.75;
			f->p99_ns[op][i] = f->ns[op][i] + 20000.125;
			f->gbps[op][i] = 0.0625 * (i + 1) + 0.5 * op;
		}
	}
}

Test(calib, save_load_round_trip)
{
	struct cal_data c, d;

	sample(&c);
	save_load(&c, &d, "a/b/cal.cfg");
	cr_expect_eq(d.version, CAL_FORMAT_VERSION);
	cr_expect_str_eq(d.id.cpu_model, c.id.cpu_model);
	cr_expect_eq(d.id.cores, c.id.cores);
	cr_expect_eq(d.id.domains, c.id.domains);
	cr_expect_str_eq(d.id.kernel, c.id.kernel);
	cr_expect_str_eq(d.id.hostname, c.id.hostname);
	cr_expect_str_eq(d.id.date, c.id.date);
	expect_close(d.tsc_hz, c.tsc_hz, "tsc_hz");
	expect_close(d.tsc_read_ns, c.tsc_read_ns, "tsc_read_ns");
	cr_expect_eq(d.tsc_invariant, c.tsc_invariant);
	cr_expect_eq(d.domains, c.domains);
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++) {
			expect_close(d.rtt_ns[i][j], c.rtt_ns[i][j], "rtt_ns");
			expect_close(d.notify_ns[i][j], c.notify_ns[i][j], "notify_ns");
			expect_close(d.load_ns[i][j], c.load_ns[i][j], "load_ns");
			expect_close(d.copy_gbps[i][j], c.copy_gbps[i][j], "copy_gbps");
		}
	cr_expect_eq(d.n_floor, c.n_floor);
	for (uint32_t i = 0; i < c.n_floor; i++) {
		cr_expect_eq(d.floor_size[i], c.floor_size[i]);
		expect_close(d.floor_ns[i], c.floor_ns[i], "floor_ns");
		expect_close(d.floor_p99_ns[i], c.floor_p99_ns[i], "floor_p99_ns");
	}
	cr_expect_eq(d.papi_counters, c.papi_counters);
	cr_expect_eq(d.rmc_ko, c.rmc_ko, "whether rmc.ko was loaded is kept");
}

Test(calib, save_is_atomic_and_leaves_nothing_behind)
{
	struct cal_data c;
	char path[128], err[512];
	struct dirent *e;
	DIR *dir;
	int n = 0;

	sample(&c);
	tmp_path(path, sizeof(path), "cal.cfg");
	cr_assert_eq(cal_save(path, &c, err, sizeof(err)), 0, "%s", err);
	c.tsc_hz = 3e9;
	cr_assert_eq(cal_save(path, &c, err, sizeof(err)), 0, "%s", err);
	dir = opendir(tmpdir);
	cr_assert_not_null(dir);
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	cr_expect_eq(n, 1, "the temporary file was left behind");
	cr_assert_eq(cal_load(path, &c, err, sizeof(err)), 0, "%s", err);
	expect_close(c.tsc_hz, 3e9, "tsc_hz after the second save");
}

Test(calib, save_refuses_what_load_would_refuse)
{
	struct cal_data c;
	char path[128], err[512];

	tmp_path(path, sizeof(path), "bad.cfg");
	sample(&c);
	c.domains = 3; /* the identity says 2 */
	cr_expect_eq(cal_save(path, &c, err, sizeof(err)), -EINVAL);
	sample(&c);
	c.load_ns[1][0] = -1;
	cr_expect_eq(cal_save(path, &c, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "load_ns[1][0]"), "%s", err);
	cr_expect_eq(access(path, F_OK), -1, "a refused calibration was written");
}

Test(calib, missing_file_is_enoent)
{
	struct cal_data c;
	char path[128], err[512];

	tmp_path(path, sizeof(path), "absent.cfg");
	cr_expect_eq(cal_load(path, &c, err, sizeof(err)), -ENOENT);
}

/* Saves the sample, applies one textual change, and expects cal_load to
 * refuse the result with an error that starts with the file's name and
 * mentions want. */
static void expect_rejected_in(const struct cal_data *base, const char *name, const char *from,
			       const char *to, const char *want)
{
	struct cal_data c = *base;
	char path[128], err[512], out[16384];
	const char *at, *text;

	tmp_path(path, sizeof(path), name);
	cr_assert_eq(cal_save(path, &c, err, sizeof(err)), 0, "%s", err);
	text = slurp(path);
	at = strstr(text, from);
	cr_assert_not_null(at, "the saved file has no \"%s\":\n%s", from, text);
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	spit(path, out);

	cr_expect_eq(cal_load(path, &c, err, sizeof(err)), -EINVAL, "%s accepted:\n%s", name, out);
	cr_expect_eq(strncmp(err, path, strlen(path)), 0, "error does not name the file: %s", err);
	cr_expect(strstr(err, want), "error \"%s\" does not mention \"%s\"", err, want);
	/* Nothing half-loaded stays behind. */
	cr_expect_eq(c.domains, 0);
	cr_expect_eq(c.tsc_hz, 0);
	cr_expect_eq(c.n_fabrics, 0);
}

static void expect_rejected(const char *name, const char *from, const char *to, const char *want)
{
	static struct cal_data c;

	sample(&c);
	expect_rejected_in(&c, name, from, to, want);
}

/* err is "PATH:LINE: ..." with LINE a number above 0. */
static void expect_line(const char *name)
{
	char path[128], err[512];
	struct cal_data c;
	long line;

	tmp_path(path, sizeof(path), name);
	cr_assert_eq(cal_load(path, &c, err, sizeof(err)), -EINVAL);
	cr_assert_eq(strncmp(err, path, strlen(path)), 0, "%s", err);
	cr_assert_eq(err[strlen(path)], ':', "%s", err);
	line = strtol(err + strlen(path) + 1, NULL, 10);
	cr_expect_gt(line, 0, "no line number in \"%s\"", err);
}

Test(calib, rejects_syntax_error_with_line)
{
	expect_rejected("syntax.cfg", "invariant = true;", "invariant = ;", "syntax error");
	expect_line("syntax.cfg");
	expect_rejected("syntax2.cfg", "load_ns = ( [", "load_ns = ( [ [", "syntax error");
	expect_line("syntax2.cfg");
	/* A wrong value is placed on its line too. */
	expect_rejected("value.cfg", "[ 95.5, 102.5 ]", "[ 95.5, -102.5 ]", "load_ns[0][1]");
	expect_line("value.cfg");
}

Test(calib, rejects_wrong_version)
{
	expect_rejected("version.cfg", "version = 1;", "version = 2;", "version");
	expect_rejected("version2.cfg", "version = 1;", "version = \"1\";", "version");
}

Test(calib, rejects_matrix_of_wrong_size)
{
	/* A row short of the two domains. */
	expect_rejected("rows.cfg", "rtt_ns = ( [ 80.25, 90.25 ], [ 180.25, 190.25 ] );",
			"rtt_ns = ( [ 80.25, 90.25 ] );", "rtt_ns");
	expect_rejected("cols.cfg", "[ 95.5, 102.5 ]", "[ 95.5 ]", "load_ns[0]");
	/* The machine says one domain, the matrices have two. */
	expect_rejected("domains.cfg", "domains = 2;", "domains = 1;", "rows");
}

Test(calib, rejects_out_of_range_values)
{
	expect_rejected("negative.cfg", "[ 95.5, 102.5 ]", "[ 95.5, -102.5 ]", "load_ns[0][1]");
	expect_rejected("hz.cfg", "hz = 2445406123.0;", "hz = 0.0;", "hz");
	expect_rejected("type.cfg", "invariant = true;", "invariant = 1;", "invariant");
	expect_rejected("floor_order.cfg", "size = 4096;", "size = 32;", "floor[1]");
	expect_rejected("floor_p99.cfg", "p99_ns = 350.2;", "p99_ns = 35.2;", "p99_ns");
	expect_rejected("unknown.cfg", "papi_counters = false;",
			"papi_counters = false;\nfrobnicate = 1;", "frobnicate");
}

Test(calib, rejects_missing_key)
{
	expect_rejected("nohz.cfg", "hz = 2445406123.0;", "", "missing tsc.hz");
	expect_rejected("nopapi.cfg", "papi_counters = false;", "", "missing papi_counters");
	expect_rejected("nocores.cfg", "cores = 16;", "", "missing machine.cores");
	expect_rejected("nofloor.cfg", "floor = (", "fl00r = (", "fl00r");
}

Test(calib, rejects_incomplete_file)
{
	struct cal_data c;
	char path[128], err[512];

	tmp_path(path, sizeof(path), "short.cfg");
	spit(path, "version = 1;\n");
	cr_expect_eq(cal_load(path, &c, err, sizeof(err)), -EINVAL);
	cr_expect_eq(strncmp(err, path, strlen(path)), 0, "%s", err);
	cr_expect(strstr(err, "missing machine"), "%s", err);
}

Test(calib, fabric_round_trip)
{
	static struct cal_data c, d;

	sample(&c);
	sample_fabric(&c.fabric[0], "tcp");
	sample_fabric(&c.fabric[1], "rc_x,self");
	c.fabric[1].ns[CAL_FAB_WRITE][2] = 1234.5;
	c.fabric[1].p10_ns[CAL_FAB_WRITE][2] = 1000;
	c.n_fabrics = 2;
	save_load(&c, &d, "fabric.cfg");
	cr_assert_eq(d.n_fabrics, 2);
	for (uint32_t k = 0; k < 2; k++) {
		const struct cal_fabric *a = &c.fabric[k], *b = &d.fabric[k];
		cr_expect_str_eq(b->name, a->name);
		cr_expect_eq(b->node, a->node);
		cr_expect_str_eq(b->address, a->address);
		cr_expect_eq(b->peer_node, a->peer_node);
		cr_expect_str_eq(b->peer, a->peer);
		cr_expect_str_eq(b->transports, a->transports);
		cr_expect_str_eq(b->date, a->date);
		cr_expect_eq(b->outstanding, a->outstanding);
		cr_assert_eq(b->n, a->n);
		for (uint32_t i = 0; i < a->n; i++) {
			cr_expect_eq(b->size[i], a->size[i]);
			for (int op = 0; op < 2; op++) {
				expect_close(b->ns[op][i], a->ns[op][i], "ns");
				expect_close(b->p10_ns[op][i], a->p10_ns[op][i], "p10_ns");
				expect_close(b->p90_ns[op][i], a->p90_ns[op][i], "p90_ns");
				expect_close(b->p99_ns[op][i], a->p99_ns[op][i], "p99_ns");
				expect_close(b->gbps[op][i], a->gbps[op][i], "gbps");
			}
		}
	}
	/* The machine's own figures are untouched by the sections. */
	cr_expect_eq(d.n_floor, c.n_floor);
	expect_close(d.floor_ns[1], c.floor_ns[1], "floor_ns");
}

/* A file of before fabric sections (the format is the same, without the
 * list) loads, with none; and one without sections is written without the
 * list, so that it reads as it always did. */
Test(calib, file_without_fabrics_loads)
{
	static struct cal_data c, d;
	char path[128], err[512];
	const char *text;

	sample(&c);
	tmp_path(path, sizeof(path), "old.cfg");
	cr_assert_eq(cal_save(path, &c, err, sizeof(err)), 0, "%s", err);
	text = slurp(path);
	cr_expect_null(strstr(text, "fabrics ="), "a file without sections has a list:\n%s", text);
	d.n_fabrics = 5;
	cr_assert_eq(cal_load(path, &d, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(d.n_fabrics, 0);
	/* Exactly what an older sonuma-calibrate wrote. */
	spit(path, "version = 1;\n"
		   "machine = { cpu_model = \"X\"; cores = 2; domains = 1; kernel = \"6.1\";\n"
		   "  hostname = \"h\"; date = \"2025-01-31T12:00:00Z\"; };\n"
		   "tsc = { hz = 2445000000.0; read_ns = 7.9; invariant = true; };\n"
		   "rtt_ns = ( [ 210.0 ] );\nnotify_ns = ( [ 105.0 ] );\nload_ns = ( [ 95.0 ] );\n"
		   "copy_gbps = ( [ 6.1 ] );\n"
		   "floor = ( { size = 64; median_ns = 900.0; p99_ns = 1500.0; } );\n"
		   "overhead_ns = 12.5;\npapi_counters = false;\nrmc_ko = false;\n");
	cr_assert_eq(cal_load(path, &d, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(d.n_fabrics, 0);
	cr_expect_float_eq(cal_floor_ns(&d, 64), 900, 1e-9);
}

Test(calib, fabric_rejects_malformed_with_line_and_field)
{
	static struct cal_data c;
	static const struct {
		const char *name, *from, *to, *want;
	} cases[] = {
		{ "f_neg.cfg", "read_ns = 30000.5;", "read_ns = -1.0;",
		  "fabrics[0].sizes[0].read_ns" },
		{ "f_zero.cfg", "write_ns = 35000.5;", "write_ns = 0.0;",
		  "fabrics[0].sizes[0].write_ns" },
		{ "f_type.cfg", "read_gbps = 0.0625;", "read_gbps = \"fast\";",
		  "fabrics[0].sizes[0].read_gbps" },
		{ "f_order.cfg", "read_p99_ns = 50000.625;", "read_p99_ns = 30001.0;",
		  "read_p99_ns" },
		{ "f_unknown.cfg", "outstanding = 16;", "outstanding = 16;\nwindow = 4;",
		  "fabrics[0].window" },
		{ "f_name.cfg", "name = \"ucx\";", "name = \"uxc\";", "fabrics[0].name" },
		{ "f_peer.cfg", "peer = \"10.0.0.2:13337\";", "peer = \"10.0.0.2\";",
		  "fabrics[0].peer" },
		{ "f_self.cfg", "peer = \"10.0.0.2:13337\";", "peer = \"10.0.0.1:13337\";",
		  "is the node measured from" },
		{ "f_nosizes.cfg", "sizes = (", "sizez = (", "fabrics[0].sizez" },
		{ "f_sizeorder.cfg", "size = 1024;", "size = 32;", "fabrics[0].sizes[1]" },
		{ "f_node.cfg", "peer_node = 1;", "peer_node = 99;", "fabrics[0].peer_node" },
	};

	sample(&c);
	sample_fabric(&c.fabric[0], "tcp");
	c.n_fabrics = 1;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_rejected_in(&c, cases[i].name, cases[i].from, cases[i].to, cases[i].want);
		expect_line(cases[i].name);
	}
	expect_rejected("f_list.cfg", "rmc_ko = true;", "rmc_ko = true;\nfabrics = 3;", "fabrics");
	expect_line("f_list.cfg");
}

Test(calib, fabric_missing_field_named_at_its_group)
{
	static struct cal_data c;

	sample(&c);
	sample_fabric(&c.fabric[0], "tcp");
	c.n_fabrics = 1;
	expect_rejected_in(&c, "f_nodate.cfg", "date = \"2025-02-01T08:00:00Z\";", "",
			   "missing fabrics[0].date");
	expect_line("f_nodate.cfg");
	expect_rejected_in(&c, "f_nop90.cfg", "write_p90_ns = 39001.25;", "",
			   "missing fabrics[0].sizes[0].write_p90_ns");
	expect_line("f_nop90.cfg");
}

Test(calib, fabric_duplicate_section_rejected)
{
	static struct cal_data c;
	char path[128], err[512];

	sample(&c);
	sample_fabric(&c.fabric[0], "tcp");
	c.fabric[1] = c.fabric[0];
	c.n_fabrics = 2;
	tmp_path(path, sizeof(path), "dup.cfg");
	cr_expect_eq(cal_save(path, &c, err, sizeof(err)), -EINVAL, "two equal sections saved");
	/* Another transport is another section. */
	snprintf(c.fabric[1].transports, sizeof(c.fabric[1].transports), "rc_x");
	cr_assert_eq(cal_save(path, &c, err, sizeof(err)), 0, "%s", err);
}

Test(calib, fabric_put_replaces_the_same_link)
{
	static struct cal_data c;
	struct cal_fabric f;

	memset(&c, 0, sizeof(c));
	sample_fabric(&f, "tcp");
	cr_expect_eq(cal_fabric_put(&c, &f), 0);
	f.ns[CAL_FAB_READ][0] = 111;
	cr_expect_eq(cal_fabric_put(&c, &f), 0);
	cr_expect_eq(c.n_fabrics, 1, "the same link measured again is replaced");
	cr_expect_float_eq(c.fabric[0].ns[CAL_FAB_READ][0], 111, 1e-9);
	snprintf(f.peer, sizeof(f.peer), "10.0.0.3:13337");
	cr_expect_eq(cal_fabric_put(&c, &f), 0);
	cr_expect_eq(c.n_fabrics, 2, "another peer is another section");
	for (int i = 0; i < CAL_MAX_FABRICS; i++) {
		snprintf(f.peer, sizeof(f.peer), "10.0.1.%d:13337", i);
		cal_fabric_put(&c, &f);
	}
	cr_expect_eq(c.n_fabrics, CAL_MAX_FABRICS);
	snprintf(f.peer, sizeof(f.peer), "10.0.2.1:13337");
	cr_expect_eq(cal_fabric_put(&c, &f), -ENOSPC);
}

Test(calib, fabric_interpolation)
{
	struct cal_fabric f;

	sample_fabric(&f, "tcp");
	cr_expect_float_eq(cal_fabric_ns(&f, CAL_FAB_READ, 64), 30000.5, 1e-9);
	cr_expect_float_eq(cal_fabric_ns(&f, CAL_FAB_WRITE, 8), 35000.5, 1e-9);
	/* 256 is halfway between 64 and 1024 in log2. */
	cr_expect_float_eq(cal_fabric_ns(&f, CAL_FAB_READ, 256), 30500.5, 1e-9);
	cr_expect_eq(cal_fabric_ns(&f, 7, 64), 0);
	f.n = 0;
	cr_expect_eq(cal_fabric_ns(&f, CAL_FAB_READ, 64), 0);
}

Test(calib, identity)
{
	struct cal_data c;
	char why[256];

	sample(&c);
	cal_identity_here(&c.id);
	c.domains = c.id.domains;
	cr_expect_eq(cal_check_identity(&c, why, sizeof(why)), 0, "%s", why);
	/* Host name, kernel and date do not matter. */
	snprintf(c.id.hostname, sizeof(c.id.hostname), "elsewhere");
	snprintf(c.id.kernel, sizeof(c.id.kernel), "1.0");
	snprintf(c.id.date, sizeof(c.id.date), "1999-01-01T00:00:00Z");
	cr_expect_eq(cal_check_identity(&c, why, sizeof(why)), 0, "%s", why);

	snprintf(c.id.cpu_model, sizeof(c.id.cpu_model), "Some Other CPU");
	cr_expect_eq(cal_check_identity(&c, why, sizeof(why)), -EXDEV);
	cr_expect(strstr(why, "Some Other CPU"), "%s", why);

	cal_identity_here(&c.id);
	c.id.cores += 1;
	cr_expect_eq(cal_check_identity(&c, why, sizeof(why)), -EXDEV);
	cr_expect(strstr(why, "CPU"), "%s", why);

	cal_identity_here(&c.id);
	c.id.domains += 1;
	cr_expect_eq(cal_check_identity(&c, why, sizeof(why)), -EXDEV);
	cr_expect(strstr(why, "NUMA"), "%s", why);
}

Test(calib, identity_here_is_complete)
{
	struct cal_identity id;

	cal_identity_here(&id);
	cr_expect_gt(strlen(id.cpu_model), 0);
	cr_expect_eq(id.cores, (uint32_t)sysconf(_SC_NPROCESSORS_ONLN));
	cr_expect_eq(id.domains, (uint32_t)core_numa_domains());
	cr_expect_gt(strlen(id.kernel), 0);
	cr_expect_gt(strlen(id.hostname), 0);
	/* 2025-01-31T12:00:00Z */
	cr_expect_eq(strlen(id.date), 20, "%s", id.date);
	cr_expect_eq(id.date[10], 'T');
	cr_expect_eq(id.date[19], 'Z');
}

Test(calib, floor_interpolation)
{
	struct cal_data c;

	memset(&c, 0, sizeof(c));
	cr_expect_eq(cal_floor_ns(&c, 64), 0, "no floor measured");

	c.n_floor = 1;
	c.floor_size[0] = 64, c.floor_ns[0] = 100;
	cr_expect_float_eq(cal_floor_ns(&c, 8), 100, 1e-9);
	cr_expect_float_eq(cal_floor_ns(&c, 1 << 20), 100, 1e-9, "one size: a constant");

	/* 64 B: 100 ns, 1 KiB: 200 ns, 64 KiB: 1000 ns. */
	c.n_floor = 3;
	c.floor_size[1] = 1024, c.floor_ns[1] = 200;
	c.floor_size[2] = 65536, c.floor_ns[2] = 1000;
	cr_expect_float_eq(cal_floor_ns(&c, 64), 100, 1e-9);
	cr_expect_float_eq(cal_floor_ns(&c, 32), 100, 1e-9, "below: the smallest size's");
	cr_expect_float_eq(cal_floor_ns(&c, 1024), 200, 1e-9);
	cr_expect_float_eq(cal_floor_ns(&c, 65536), 1000, 1e-9);
	/* log2: 256 is halfway between 64 (6) and 1024 (10). */
	cr_expect_float_eq(cal_floor_ns(&c, 256), 150, 1e-9);
	/* 128 is a quarter of the way. */
	cr_expect_float_eq(cal_floor_ns(&c, 128), 125, 1e-9);
	/* 8192 (13) is halfway between 1024 (10) and 65536 (16). */
	cr_expect_float_eq(cal_floor_ns(&c, 8192), 600, 1e-9);
	/* Beyond: linear in bytes with the last slope, 800 ns per 64512 B. */
	cr_expect_float_eq(cal_floor_ns(&c, 131072), 1000 + 65536 * 800.0 / 64512, 1e-6);
	/* A last segment going down is not extrapolated downwards. */
	c.floor_ns[2] = 150;
	cr_expect_float_eq(cal_floor_ns(&c, 1 << 20), 150, 1e-9);
}

Test(calib, default_path)
{
	char buf[512];

	setenv("SONUMA_CALIBRATION", "/x/cal.cfg", 1);
	cal_default_path(buf, sizeof(buf));
	cr_expect_str_eq(buf, "/x/cal.cfg");
	unsetenv("SONUMA_CALIBRATION");
	setenv("XDG_DATA_HOME", "/xdg", 1);
	cal_default_path(buf, sizeof(buf));
	cr_expect_str_eq(buf, "/xdg/sonuma/calibration.cfg");
	unsetenv("XDG_DATA_HOME");
	setenv("HOME", "/home/u", 1);
	cal_default_path(buf, sizeof(buf));
	cr_expect_str_eq(buf, "/home/u/.local/share/sonuma/calibration.cfg");
}

/* ---- the tool ------------------------------------------------------------ */

/* Runs the tool with args (NULL-terminated), output into tmpdir/tool.log;
 * returns its exit status, or -1 when it did not exit. */
static int run_tool(const char *tool, const char *const *args)
{
	return run_logged(tool, "tool.log", args);
}

static void show_log(void)
{
	char log[128], cmd[160];

	tmp_path(log, sizeof(log), "tool.log");
	snprintf(cmd, sizeof(cmd), "cat '%s' >&2", log);
	if (system(cmd) != 0)
		fprintf(stderr, "(no log)\n");
}

static const char *tool_or_skip(void)
{
	const char *tool = getenv("SONUMA_CALIBRATE");

	if (!tool || !*tool)
		cr_skip_test("SONUMA_CALIBRATE is not set (run through meson test)");
	/* Only now: a skipped test leaves nothing behind. */
	make_tmp();
	return tool;
}

Test(tool, quick_run_writes_a_file_that_loads, .fini = remove_tmp, .timeout = 60)
{
	const char *tool = tool_or_skip();
	char path[128], err[512], why[256];
	struct cal_data c;
	int rc;

	tmp_path(path, sizeof(path), "quick.cfg");
	rc = run_tool(tool, (const char *const[]){ "--quick", "--no-floor", "-o", path, NULL });
	if (rc != 0)
		show_log();
	cr_assert_eq(rc, 0, "sonuma-calibrate --quick --no-floor exited with %d", rc);
	cr_assert_eq(cal_load(path, &c, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(c.domains, (uint32_t)core_numa_domains());
	cr_expect_eq(cal_check_identity(&c, why, sizeof(why)), 0, "%s", why);
	cr_expect_gt(c.tsc_hz, 1e8);
	cr_expect_eq(c.n_floor, 0, "--no-floor wrote a floor");
	for (uint32_t i = 0; i < c.domains; i++)
		for (uint32_t j = 0; j < c.domains; j++) {
			cr_expect_geq(c.load_ns[i][j], 0);
			cr_expect_geq(c.copy_gbps[i][j], 0);
			cr_expect_float_eq(c.notify_ns[i][j], c.rtt_ns[i][j] / 2, 0.011);
		}
	if (sysconf(_SC_NPROCESSORS_ONLN) >= 2) {
		cr_expect_gt(c.rtt_ns[0][0], 0, "no round trip measured on domain 0");
		cr_expect_gt(c.load_ns[0][0], 0);
		cr_expect_gt(c.copy_gbps[0][0], 0);
	}
}

Test(tool, quick_floor_through_rmcd, .fini = remove_tmp, .timeout = 60)
{
	const char *rmcd = getenv("SONUMA_RMCD");
	const char *tool;
	char path[128], err[512];
	struct cal_data c;
	int rc;

	if (!rmcd || !*rmcd)
		cr_skip_test("SONUMA_RMCD is not set (run through meson test)");
	tool = tool_or_skip();
	tmp_path(path, sizeof(path), "floor.cfg");
	rc = run_tool(tool, (const char *const[]){ "--quick", "--rmcd", rmcd, "-o", path, NULL });
	if (rc != 0)
		show_log();
	cr_assert_eq(rc, 0, "sonuma-calibrate --quick exited with %d", rc);
	cr_assert_eq(cal_load(path, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_geq(c.n_floor, 6, "floor for %u sizes only", c.n_floor);
	cr_expect_eq(c.floor_size[0], 64);
	cr_expect_geq(c.floor_size[5], 65536);
	for (uint32_t i = 0; i < c.n_floor; i++)
		cr_expect_gt(c.floor_ns[i], 0);
	/* The run directory went away with rmcd. */
	cr_expect_gt(cal_floor_ns(&c, 128), 0);
}

Test(tool, bad_arguments_exit_2, .fini = remove_tmp)
{
	const char *tool = tool_or_skip();

	cr_expect_eq(run_tool(tool, (const char *const[]){ "--bogus", NULL }), 2);
	cr_expect_eq(run_tool(tool, (const char *const[]){ "extra", NULL }), 2);
	cr_expect_eq(run_tool(tool, (const char *const[]){ "-o", NULL }), 2);
	cr_expect_eq(run_tool(tool, (const char *const[]){ "--help", NULL }), 0);
	cr_expect_eq(run_tool(tool, (const char *const[]){ "-V", NULL }), 0);
}

Test(tool, missing_rmcd_is_a_clear_error, .fini = remove_tmp, .timeout = 60)
{
	const char *tool = tool_or_skip();
	char path[128];
	const char *text;

	tmp_path(path, sizeof(path), "x.cfg");
	cr_expect_eq(run_tool(tool, (const char *const[]){ "--quick", "--rmcd", "/nonexistent/rmcd",
							   "-o", path, NULL }),
		     1);
	text = log_of("tool.log");
	cr_expect(strstr(text, "/nonexistent/rmcd"), "%s", text);
	cr_expect_eq(access(path, F_OK), -1, "a file was written after a failure");
}
