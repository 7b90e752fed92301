/* SPDX-License-Identifier: MIT */
/*
 * Timing models against worked examples.  The TSC rate is set to 1 GHz so
 * one tick is one nanosecond and every figure below can be checked by hand.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sonuma/qp.h"
#include "sonuma/tm.h"
#include "topology.h"

struct inst {
	config_t lc;
	const struct tm_ops *ops;
	void *state;
	char err[512];
};

/* Creates model name from the text of an rmc.conf; returns init's result. */
static int make(struct inst *m, const char *name, const char *conf, uint32_t nodes)
{
	struct tm_env env = { .tsc_hz = 1e9, .nodes = nodes };

	config_init(&m->lc);
	cr_assert(config_read_string(&m->lc, conf), "bad test config: %s line %d",
		  config_error_text(&m->lc), config_error_line(&m->lc));
	m->ops = tm_find(name);
	cr_assert_not_null(m->ops, "model %s is not registered", name);
	m->err[0] = 0;
	return m->ops->init(config_lookup(&m->lc, "model"), &env, &m->state, m->err,
			    sizeof(m->err));
}

static void drop(struct inst *m)
{
	if (m->ops && m->state)
		m->ops->fini(m->state);
	config_destroy(&m->lc);
}

static uint64_t due(struct inst *m, char op, uint16_t src, uint16_t dst, uint64_t size, uint64_t t)
{
	struct tm_req r = {
		.op = (uint8_t)op, .src = src, .dst = dst, .size = size, .t_post = t, .t_pickup = t
	};
	return m->ops->due(m->state, &r);
}

Test(models, registry_has_every_model)
{
	const char *want[] = { "none", "fixed", "link", "plugin" };
	for (size_t i = 0; i < 4; i++)
		cr_expect_not_null(tm_find(want[i]), "%s missing", want[i]);
	cr_expect_null(tm_find("nonexistent"));
}

Test(models, none_adds_nothing)
{
	struct inst m;
	cr_assert_eq(make(&m, "none", "model = { name = \"none\"; };", 2), 0, "%s", m.err);
	cr_expect_eq(due(&m, 'r', 0, 1, 4096, 12345), 12345);
	cr_expect(m.ops->no_deadline);
	drop(&m);
}

Test(models, fixed_read_and_write_latency)
{
	struct inst m;
	cr_assert_eq(make(&m, "fixed",
			  "model = { name = \"fixed\"; read_ns = 300; write_ns = 450; };", 2),
		     0, "%s", m.err);
	cr_expect_eq(due(&m, 'r', 0, 1, 64, 1000), 1300);
	cr_expect_eq(due(&m, 'r', 0, 1, 1 << 20, 1000), 1300, "size does not matter");
	cr_expect_eq(due(&m, 'w', 1, 0, 64, 1000), 1450);
	cr_expect_float_eq(m.ops->target_ns(m.state, 'w', 64, 0, 1), 450.0, 1e-9);
	drop(&m);
	cr_assert_eq(make(&m, "fixed", "model = { name = \"fixed\"; latency_ns = 1000; };", 2), 0);
	cr_expect_eq(due(&m, 'w', 0, 1, 64, 0), 1000);
	drop(&m);
}

Test(models, fixed_rejects_bad_values_with_line)
{
	struct inst m;
	cr_expect_neq(make(&m, "fixed", "model = {\n name = \"fixed\";\n read_ns = -5; };", 2), 0);
	cr_expect(strstr(m.err, ":3:") && strstr(m.err, "read_ns"), "error was: %s", m.err);
	drop(&m);
	cr_expect_neq(make(&m, "fixed", "model = { name = \"fixed\";\n latncy_ns = 5; };", 2), 0);
	cr_expect(strstr(m.err, ":2:") && strstr(m.err, "latncy_ns") && strstr(m.err, "unknown"),
		  "error was: %s", m.err);
	drop(&m);
	cr_expect_neq(make(&m, "fixed", "model = { name = \"fixed\"; write_ns = \"fast\"; };", 2),
		      0);
	cr_expect(strstr(m.err, "write_ns") && strstr(m.err, "number"), "error was: %s", m.err);
	drop(&m);
}

#define LINK10 "model = { name = \"link\"; rmc_ns = 500; hop_ns = 50; bandwidth_gbps = 10; "

Test(models, link_unloaded_latency)
{
	struct inst m;
	cr_assert_eq(make(&m, "link", LINK10 "topology = \"full\"; };", 4), 0, "%s", m.err);
	/* 500 + 1 hop * 50 + 64 B / 10 B/ns = 556.4: serialisation is rounded
	 * up to whole ticks (7 ns), so the link is never faster than set. */
	cr_expect_eq(due(&m, 'r', 0, 1, 64, 0), 557);
	cr_expect_float_eq(m.ops->target_ns(m.state, 'r', 64, 0, 1), 556.4, 1e-9);
	/* 64 KiB: 500 + 50 + 6553.6 */
	cr_expect_eq(due(&m, 'r', 2, 3, 65536, 1000000), 1000000 + 500 + 50 + 6554);
	/* A node reading itself crosses no hop. */
	cr_expect_float_eq(m.ops->target_ns(m.state, 'r', 1000, 2, 2), 600.0, 1e-9);
	drop(&m);
}

Test(models, link_queueing_on_the_senders_egress)
{
	struct inst m;
	cr_assert_eq(make(&m, "link", LINK10 "};", 4), 0, "%s", m.err);
	/* Two 1000-byte reads from node 0 to node 1 posted at once: the
	 * second waits 100 ns for node 1's egress link. */
	cr_expect_eq(due(&m, 'r', 0, 1, 1000, 0), 100 + 550);
	cr_expect_eq(due(&m, 'r', 0, 1, 1000, 0), 200 + 550);
	/* A read of another target is not held up ... */
	cr_expect_eq(due(&m, 'r', 2, 3, 1000, 0), 650);
	/* ... but another reader of node 1 shares its egress link. */
	cr_expect_eq(due(&m, 'r', 3, 1, 1000, 0), 300 + 550);
	/* Later requests find the link free again. */
	cr_expect_eq(due(&m, 'r', 0, 1, 1000, 10000), 10000 + 650);
	drop(&m);
}

Test(models, link_incast_queues_at_the_ingress)
{
	struct inst m;
	cr_assert_eq(make(&m, "link", LINK10 "};", 4), 0, "%s", m.err);
	/* Three nodes write 10000 bytes (1000 ns each) to node 0 at once. */
	uint64_t a = due(&m, 'w', 1, 0, 10000, 0);
	uint64_t b = due(&m, 'w', 2, 0, 10000, 0);
	uint64_t c = due(&m, 'w', 3, 0, 10000, 0);
	cr_expect_eq(a, 1000 + 550);
	cr_expect_eq(b, 2000 + 550);
	cr_expect_eq(c, 3000 + 550);
	/* Node 0 never receives more than 10 GB/s: 30000 bytes over 3000 ns. */
	drop(&m);
}

Test(models, link_bandwidth_never_exceeded)
{
	struct inst m;
	cr_assert_eq(
		make(&m, "link",
		     "model = { name = \"link\"; rmc_ns = 0; hop_ns = 0; bandwidth_gbps = 2.5; };",
		     2),
		0, "%s", m.err);
	/* 1000 back-to-back 64 KiB reads all posted at time 0. */
	uint64_t last = 0;
	for (int i = 0; i < 1000; i++)
		last = due(&m, 'r', 0, 1, 65536, 0);
	double gbps = 1000.0 * 65536 / (double)last;
	cr_expect(gbps <= 2.5 + 1e-6, "got %f GB/s", gbps);
	cr_expect(gbps > 2.5 * 0.9999, "got %f GB/s", gbps);
	drop(&m);
}

Test(models, topology_hops)
{
	struct tm_topology ring = { .kind = TOPO_RING, .nodes = 8 };
	cr_expect_eq(tm_hops(&ring, 0, 4), 4);
	cr_expect_eq(tm_hops(&ring, 0, 7), 1);
	cr_expect_eq(tm_hops(&ring, 6, 1), 3);
	cr_expect_eq(tm_hops(&ring, 5, 5), 0);
	struct tm_topology mesh = { .kind = TOPO_MESH2D, .nodes = 16, .x = 4, .y = 4 };
	cr_expect_eq(tm_hops(&mesh, 0, 15), 6);
	cr_expect_eq(tm_hops(&mesh, 5, 6), 1);
	cr_expect_eq(tm_hops(&mesh, 3, 12), 6);
	struct tm_topology torus = { .kind = TOPO_TORUS2D, .nodes = 16, .x = 4, .y = 4 };
	cr_expect_eq(tm_hops(&torus, 0, 15), 2);
	cr_expect_eq(tm_hops(&torus, 0, 10), 4);
	cr_expect_eq(tm_hops(&torus, 1, 13), 1);
	struct tm_topology full = { .kind = TOPO_FULL, .nodes = 16 };
	cr_expect_eq(tm_hops(&full, 0, 15), 1);
	struct tm_topology rect = { .kind = TOPO_TORUS2D, .nodes = 6, .x = 3, .y = 2 };
	cr_expect_eq(tm_hops(&rect, 0, 5), 2);
}

Test(models, link_topology_in_due_times)
{
	struct inst m;
	cr_assert_eq(make(&m, "link", LINK10 "topology = \"mesh2d\"; dims = [4, 4]; };", 16), 0,
		     "%s", m.err);
	/* 0 -> 15 on a 4x4 mesh: 6 hops. */
	cr_expect_eq(due(&m, 'r', 0, 15, 60, 0), 6 + 500 + 6 * 50);
	drop(&m);
	cr_assert_eq(make(&m, "link", LINK10 "topology = \"ring\"; };", 8), 0, "%s", m.err);
	cr_expect_eq(due(&m, 'w', 0, 4, 60, 0), 6 + 500 + 4 * 50);
	drop(&m);
}

Test(models, link_rejects_bad_configs_with_line)
{
	struct inst m;
	cr_expect_neq(make(&m, "link", "model = { name = \"link\";\n topology = \"hypercube\"; };",
			   4),
		      0);
	cr_expect(strstr(m.err, ":2:") && strstr(m.err, "hypercube"), "error was: %s", m.err);
	drop(&m);
	cr_expect_neq(make(&m, "link",
			   "model = { name = \"link\"; topology = \"torus2d\";\n dims = [3, 3]; };",
			   8),
		      0);
	cr_expect(strstr(m.err, ":2:") && strstr(m.err, "dims"), "error was: %s", m.err);
	drop(&m);
	cr_expect_neq(make(&m, "link", "model = { name = \"link\";\n\n bandwidth_gbps = 0; };", 2),
		      0);
	cr_expect(strstr(m.err, ":3:") && strstr(m.err, "bandwidth_gbps"), "error was: %s", m.err);
	drop(&m);
	cr_expect_neq(make(&m, "link", "model = { name = \"link\"; dims = [2, 1]; };", 2), 0);
	cr_expect(strstr(m.err, "only for mesh2d"), "error was: %s", m.err);
	drop(&m);
}

Test(models, plugin_loads_the_example)
{
	struct inst m;
	char conf[512];
	const char *so = getenv("TM_EXAMPLE");
	cr_assert_not_null(so, "TM_EXAMPLE must name the example plugin");
	snprintf(
		conf, sizeof(conf),
		"model = { name = \"plugin\"; path = \"%s\"; params = { base_ns = 200; ns_per_kib = 50; }; };",
		so);
	cr_assert_eq(make(&m, "plugin", conf, 2), 0, "%s", m.err);
	cr_expect_eq(due(&m, 'r', 0, 1, 2048, 100), 100 + 200 + 100);
	char desc[256];
	m.ops->describe(m.state, desc, sizeof(desc));
	cr_expect(strstr(desc, "example"), "describe: %s", desc);
	drop(&m);
}

Test(models, plugin_errors_name_the_line)
{
	struct inst m;
	cr_expect_neq(make(&m, "plugin",
			   "model = { name = \"plugin\";\n path = \"/nonexistent/x.so\"; };", 2),
		      0);
	cr_expect(strstr(m.err, ":2:") && strstr(m.err, "/nonexistent/x.so"), "error was: %s",
		  m.err);
	drop(&m);
	cr_expect_neq(make(&m, "plugin", "model = { name = \"plugin\"; };", 2), 0);
	cr_expect(strstr(m.err, "path") && strstr(m.err, "missing"), "error was: %s", m.err);
	drop(&m);
	/* A shared object that is not a model. */
	cr_expect_neq(
		make(&m, "plugin", "model = { name = \"plugin\"; path = \"libm.so.6\"; };", 2), 0);
	cr_expect(strstr(m.err, "sonuma_tm_ops"), "error was: %s", m.err);
	drop(&m);
}
