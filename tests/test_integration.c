/* SPDX-License-Identifier: MIT */
/*
 * A real rmcd, started by each test in a private run directory, and real
 * applications: forked child processes (one node each, or several per
 * node), threads with a QP each, a C++ program.  Data is checked byte for
 * byte.  Children report failures through their exit status.
 */
#include <pthread.h>

#include "h_app.h"
#include "pattern.h"

#define NODES 4
#define MIB (1024u * 1024u)
#define CTX_PAGES 1024u /* 4 MiB per node */
#define CTX_SIZE ((uint64_t)CTX_PAGES * PAGE_SIZE)
#define REGION MIB /* each context is 4 regions of 1 MiB */

#define CONF4                                                \
	"# integration: 4 nodes of 4 MiB, 1 MiB transfers\n" \
	"cluster = {\n"                                      \
	"  nodes = 4;\n"                                     \
	"  context_pages = 1024;\n"                          \
	"  max_transfer = 1048576;\n"                        \
	"  lock_memory = false;\n"                           \
	"};\n"

H_RMCD_SUITE(integration, NODES, CONF4, .timeout = 120);

/* ---- an application ---------------------------------------------------- */

/* h_app_attach, on a cluster of NODES nodes. */
static int app_attach(struct h_app *a, unsigned node, uint32_t lbuf_pages, uint32_t ctx_pages)
{
	if (h_app_attach(a, node, lbuf_pages, ctx_pages))
		return 1;
	CHILD_CHECK(a->info.nodes == NODES, "%u nodes", a->info.nodes);
	return 0;
}

static uint64_t len64(uint64_t s)
{
	return s < RMC_MIN_LENGTH ? RMC_MIN_LENGTH : s;
}

/* One remote write of n bytes of pattern seed (from local offset loff) to
 * node nid at off, then a read back into local offset boff, both checked:
 * the data, and that nothing past the (rounded) length arrived. */
static int write_readback(struct h_app *a, int nid, uint64_t off, uint64_t n, uint32_t seed,
			  uint64_t loff, uint64_t boff)
{
	uint64_t l = len64(n);
	int r;

	pat_fill(a->lbuf + loff, l, seed);
	r = rmc_rwrite_sync(a->wq, a->cq, a->lbuf, loff, nid, 0, off, n);
	CHILD_CHECK(r == 0, "write of %llu bytes to node %d at %llu: %s", (unsigned long long)n,
		    nid, (unsigned long long)off, strerror(-r));
	memset(a->lbuf + boff, 0xee, l + 64);
	r = rmc_rread_sync(a->wq, a->cq, a->lbuf, boff, nid, 0, off, n);
	CHILD_CHECK(r == 0, "read back of %llu bytes from node %d at %llu: %s",
		    (unsigned long long)n, nid, (unsigned long long)off, strerror(-r));
	int64_t bad = pat_check(a->lbuf + boff, l, seed);
	CHILD_CHECK(bad < 0, "%llu bytes written to node %d at %llu read back wrong at byte %lld",
		    (unsigned long long)n, nid, (unsigned long long)off, (long long)bad);
	CHILD_CHECK(a->lbuf[boff + l] == 0xee, "read back of %llu bytes wrote past its end",
		    (unsigned long long)n);
	return 0;
}

/* Waits (bounded) until n completions were handled by drain. */
struct done_count {
	int n, failed;
	uint8_t first_bad;
};

static void count_cb(uint8_t tid, wq_entry_t *head, void *owner)
{
	struct done_count *d = owner;
	(void)tid;
	if (head->status != RMC_OK && !d->failed++)
		d->first_bad = head->status;
	d->n++;
}

static int wait_done(struct h_app *a, struct done_count *d, int n)
{
	uint64_t spins = 0, end = h_now_ms() + 30000;

	while (d->n < n) {
		if (rmc_drain_cq(a->wq, a->cq, count_cb, d))
			continue;
		if (++spins % RMC__SPIN_CHECK == 0) {
			int r = rmc__wait_slow(a->wq, &spins);
			CHILD_CHECK(r == 0, "waiting for completions: %s", strerror(-r));
			CHILD_CHECK(h_now_ms() < end, "%d of %d completions after 30 s", d->n, n);
		}
		sonuma_cpu_relax();
	}
	CHILD_CHECK(!d->failed, "%d requests failed, the first with %s", d->failed,
		    rmc_status_str(d->first_bad));
	return 0;
}

/* ---- every node reads and writes every other node -------------------- */

static const uint64_t sizes[] = {
	1,	2,	4,    8,    16,	  32,	 64,	128,	 256,
	512,	1024,	2048, 4096, 8192, 16384, 32768, 65536,	 131072,
	262144, 524288, MIB,  63,   65,	  4097,	 12345, MIB - 1, 100000,
};

#define PAIRS_LB (MIB + 4 * PAGE_SIZE) /* local buffer slot */
#define PAIRS_LBUF_PAGES (4 * PAIRS_LB / PAGE_SIZE)

static uint32_t seed_own(unsigned k)
{
	return 10 + k;
}
static uint32_t seed_w(unsigned k, unsigned j, unsigned si)
{
	return 1000 + (k * NODES + j) * 64 + si;
}
static uint32_t seed_final(unsigned k, unsigned j)
{
	return 9000 + k * NODES + j;
}

/* One of n children of a test (run_team): its index and the barrier of
 * them all. */
struct member {
	struct h_barrier *bar;
	unsigned idx;
};

/* Runs fn in n children (members 0..n-1), which must all pass within
 * 100 s; rmcd must survive them. */
static void run_team(int (*fn)(void *), unsigned n, const char *what)
{
	struct h_barrier *bar = h_shared(sizeof(*bar));
	struct member m[16];
	pid_t pids[16];

	cr_assert_leq(n, 16);
	bar->n = n;
	for (unsigned i = 0; i < n; i++) {
		m[i] = (struct member){ .bar = bar, .idx = i };
		pids[i] = h_fork(fn, &m[i]);
	}
	h_join(pids, (int)n, 100000, what);
	cr_assert(h_rmcd_alive(&R), "rmcd died");
}

/* Member k on node k. */
static int pairs_child(void *arg)
{
	struct member *p = arg;
	unsigned k = p->idx;
	struct h_app a;
	int r;

	if (app_attach(&a, k, PAIRS_LBUF_PAGES, CTX_PAGES))
		return 1;
	CHILD_CHECK(a.info.context_size == CTX_SIZE, "context of %llu bytes",
		    (unsigned long long)a.info.context_size);
	CHILD_CHECK(a.info.max_transfer == MIB, "max_transfer %llu",
		    (unsigned long long)a.info.max_transfer);
	/* Region k of our own context is what the others read. */
	pat_fill(a.ctx + (uint64_t)k * REGION, REGION, seed_own(k));
	CHILD_CHECK(h_barrier_wait(p->bar, 30000) == 0, "barrier 1: a sibling is missing");

	for (unsigned si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		uint64_t s = sizes[si], l = len64(s);
		uint64_t o = (s * 13) % (REGION - l + 1); /* odd offsets too */
		for (unsigned j = 0; j < NODES; j++) {
			if (j == k)
				continue;
			/* Read node j's own region. */
			memset(a.lbuf, 0xee, l + 64);
			r = rmc_rread_sync(a.wq, a.cq, a.lbuf, 0, (int)j, 0, j * REGION + o, s);
			CHILD_CHECK(r == 0, "read %llu B from node %u: %s", (unsigned long long)s,
				    j, strerror(-r));
			int64_t bad = pat_check_at(a.lbuf, l, seed_own(j), o);
			CHILD_CHECK(bad < 0, "read %llu B from node %u at %llu: byte %lld wrong",
				    (unsigned long long)s, j, (unsigned long long)o,
				    (long long)bad);
			CHILD_CHECK(a.lbuf[l] == 0xee, "read %llu B from node %u overran",
				    (unsigned long long)s, j);
			/* Write region k of node j and read it back. */
			if (write_readback(&a, (int)j, k * REGION + o, s, seed_w(k, j, si),
					   PAIRS_LB, 2 * PAIRS_LB))
				return 1;
		}
	}

	/* Pipelined: each other node's region k written whole, at once. */
	struct done_count dc = { 0 };
	int posted = 0;
	for (unsigned j = 0, slot = 0; j < NODES; j++) {
		if (j == k)
			continue;
		pat_fill(a.lbuf + slot * PAIRS_LB, REGION, seed_final(k, j));
		r = rmc_rwrite_async(a.wq, a.lbuf, slot * PAIRS_LB, (int)j, 0, k * REGION, REGION);
		CHILD_CHECK(r >= 0, "rmc_rwrite_async: %s", strerror(-r));
		posted++;
		slot++;
	}
	if (wait_done(&a, &dc, posted))
		return 1;
	CHILD_CHECK(h_barrier_wait(p->bar, 30000) == 0, "barrier 2: a sibling is missing");

	/* What the others wrote is in our own mapping of our context. */
	for (unsigned j = 0; j < NODES; j++) {
		if (j == k)
			continue;
		int64_t bad = pat_check(a.ctx + (uint64_t)j * REGION, REGION, seed_final(j, k));
		CHILD_CHECK(bad < 0, "node %u's write into our region %u: byte %lld wrong", j, j,
			    (long long)bad);
	}
	/* And our own region is as we left it. */
	CHILD_CHECK(pat_check(a.ctx + (uint64_t)k * REGION, REGION, seed_own(k)) < 0,
		    "our own region was overwritten");

	/* Asynchronous reads, 16 of 64 KiB from each node, as fast as the
	 * queue takes them. */
	for (unsigned j = 0; j < NODES; j++) {
		struct done_count d2 = { 0 };
		if (j == k)
			continue;
		memset(a.lbuf, 0xee, REGION);
		for (unsigned c = 0; c < 16; c++) {
			r = rmc_check_cq(a.wq, a.cq, count_cb, &d2);
			CHILD_CHECK(r >= 0, "rmc_check_cq: %s", strerror(-r));
			r = rmc_rread_async(a.wq, a.lbuf, c * 65536, (int)j, 0,
					    j * REGION + c * 65536, 65536);
			CHILD_CHECK(r >= 0, "rmc_rread_async: %s", strerror(-r));
		}
		if (wait_done(&a, &d2, 16))
			return 1;
		int64_t bad = pat_check(a.lbuf, REGION, seed_own(j));
		CHILD_CHECK(bad < 0, "async reads of node %u: byte %lld wrong", j, (long long)bad);
	}
	kal_close(a.fd);
	return 0;
}

Test(integration, all_pairs_all_sizes)
{
	run_team(pairs_child, NODES, "node");
}

/* ---- threads, each with its own QP ----------------------------------- */

#define THREADS 4
#define THR_LBUF (256 * 1024)

struct thr {
	pthread_t th;
	int idx;
	struct h_app a; /* shares fd and info; own wq, cq, lbuf */
	int rc;
};

static int thr_body(struct thr *t)
{
	int target = 1 + t->idx % 3;
	uint64_t base = (uint64_t)t->idx * MIB;

	for (unsigned i = 0; i < 120; i++) {
		uint64_t n = (64u << (i % 11)) + (i % 5) * 3; /* up to 64 KiB + 12 */
		uint64_t off = base + (i * 4096 + (i % 7)) % (MIB - 140 * 1024);
		if (write_readback(&t->a, target, off, n, (uint32_t)(t->idx * 1000 + i), 0,
				   THR_LBUF / 2))
			return 1;
	}
	return 0;
}

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	t->rc = thr_body(t);
	return NULL;
}

Test(integration, threads_with_own_qps)
{
	struct h_app a;
	struct thr t[THREADS];

	cr_assert_eq(app_attach(&a, 0, 0, 0), 0);
	for (int i = 0; i < THREADS; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		t[i].idx = i;
		t[i].a = a;
		if (i > 0) {
			cr_assert_eq(kal_reg_wq(a.fd, &t[i].a.wq), 0);
			cr_assert_eq(kal_reg_cq(a.fd, &t[i].a.cq), 0);
		}
		cr_assert_eq(kal_reg_lbuff(a.fd, &t[i].a.lbuf, THR_LBUF / PAGE_SIZE), 0);
		t[i].a.lbuf_size = THR_LBUF;
	}
	for (int i = 0; i < THREADS; i++)
		for (int j = 0; j < i; j++) {
			cr_assert_neq(t[i].a.wq, t[j].a.wq);
			cr_assert_neq(t[i].a.wq->qp_id, t[j].a.wq->qp_id, "two QPs share an id");
		}
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&t[i].th, NULL, thr_main, &t[i]), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i].th, NULL);
	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(t[i].rc, 0, "thread %d failed (its message is above)", i);
	kal_close(a.fd);
}

/* ---- several applications per node ----------------------------------- */

#define APPS 5
#define APP_AREA (512 * 1024) /* node 3's context: 8 areas */

/* Members 0-2 on node 1, the others on node 2. */
static int apps_child(void *arg)
{
	struct member *p = arg;
	struct h_app a;
	uint64_t base = (uint64_t)p->idx * APP_AREA;

	if (app_attach(&a, p->idx < 3 ? 1 : 2, 2 * APP_AREA / PAGE_SIZE + 16, 0))
		return 1;
	CHILD_CHECK(h_barrier_wait(p->bar, 30000) == 0, "barrier 1");
	for (unsigned i = 0; i < 60; i++) {
		uint64_t n = 1 + (i * 7919) % 65536;
		uint64_t off = base + (i * 8192) % (APP_AREA - 65600);
		if (write_readback(&a, 3, off, n, 500 + p->idx * 100 + i, 0, APP_AREA))
			return 1;
		/* And node 0, from a different node, at once. */
		if (write_readback(&a, 0, off, n, 700 + p->idx * 100 + i, 0, APP_AREA))
			return 1;
	}
	/* Its whole area, for the others to check. */
	pat_fill(a.lbuf, APP_AREA, 60 + p->idx);
	int r = rmc_rwrite_sync(a.wq, a.cq, a.lbuf, 0, 3, 0, base, APP_AREA);
	CHILD_CHECK(r == 0, "final write: %s", strerror(-r));
	CHILD_CHECK(h_barrier_wait(p->bar, 30000) == 0, "barrier 2");
	unsigned other = (p->idx + 1) % APPS;
	memset(a.lbuf, 0, APP_AREA);
	r = rmc_rread_sync(a.wq, a.cq, a.lbuf, 0, 3, 0, (uint64_t)other * APP_AREA, APP_AREA);
	CHILD_CHECK(r == 0, "reading app %u's area: %s", other, strerror(-r));
	int64_t bad = pat_check(a.lbuf, APP_AREA, 60 + other);
	CHILD_CHECK(bad < 0, "app %u's area seen from app %u: byte %lld wrong", other, p->idx,
		    (long long)bad);
	kal_close(a.fd);
	return 0;
}

Test(integration, several_apps_per_node)
{
	run_team(apps_child, APPS, "application");
}

/* ---- an application killed mid-run ----------------------------------- */

struct kill_shared {
	uint32_t victim_ops;
	uint32_t progress[2];
	uint32_t victim_dead;
};

static struct kill_shared *KS;

static int victim(void *arg)
{
	struct h_app a;
	struct done_count d = { 0 };
	(void)arg;

	if (app_attach(&a, 0, 16 * 64 * 1024 / PAGE_SIZE, 0))
		return 1;
	pat_fill(a.lbuf, 16 * 65536, 3);
	/* Keep the WQ full of 64 KiB writes for ever. */
	for (uint64_t i = 0;; i++) {
		int r = rmc_check_cq(a.wq, a.cq, count_cb, &d);
		CHILD_CHECK(r >= 0, "rmc_check_cq: %s", strerror(-r));
		r = rmc_rwrite_async(a.wq, a.lbuf, (i % 16) * 65536, 1, 0, (i % 16) * 65536, 65536);
		CHILD_CHECK(r >= 0, "rmc_rwrite_async: %s", strerror(-r));
		__atomic_store_n(&KS->victim_ops, (uint32_t)i + 1, __ATOMIC_RELEASE);
	}
}

static int waitflag(uint32_t *p, uint32_t want, unsigned ms)
{
	uint64_t end = h_now_ms() + ms;
	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) < want) {
		if (h_now_ms() > end)
			return -ETIMEDOUT;
		h_sleep_ms(1);
	}
	return 0;
}

static int survivor(void *arg)
{
	unsigned s = (unsigned)(uintptr_t)arg;
	struct h_app a;

	if (app_attach(&a, 2 + s, 64, 0))
		return 1;
	for (unsigned i = 0; i < 300; i++) {
		if (i == 100) {
			__atomic_store_n(&KS->progress[s], 100, __ATOMIC_RELEASE);
			CHILD_CHECK(waitflag(&KS->victim_dead, 1, 30000) == 0,
				    "the victim was not killed");
		}
		uint64_t off = 2 * MIB + s * 512 * 1024 + (i % 16) * 16384;
		if (write_readback(&a, 1, off, 16384, 300 + s * 1000 + i, 0, 65536))
			return 1;
	}
	kal_close(a.fd);
	return 0;
}

static int newcomer(void *arg)
{
	struct h_app a;
	(void)arg;

	if (app_attach(&a, 0, 64, 0))
		return 1;
	for (unsigned i = 0; i < 20; i++)
		if (write_readback(&a, 1, 3 * MIB + i * 4096, 4096, 77 + i, 0, 65536))
			return 1;
	kal_close(a.fd);
	return 0;
}

Test(integration, killed_app_does_not_disturb_others)
{
	pid_t v, s[2], n;
	int st;
	char buf[96];

	KS = h_shared(sizeof(*KS));
	v = h_fork(victim, NULL);
	if (waitflag(&KS->victim_ops, 200, 20000)) {
		kill(v, SIGKILL);
		waitpid(v, &st, 0);
		cr_assert_fail("the victim did not get going (%s)",
			       h_status_str(st, buf, sizeof(buf)));
	}
	for (int i = 0; i < 2; i++)
		s[i] = h_fork(survivor, (void *)(uintptr_t)i);
	bool going = waitflag(&KS->progress[0], 100, 30000) == 0 &&
		     waitflag(&KS->progress[1], 100, 30000) == 0;
	uint32_t before = __atomic_load_n(&KS->victim_ops, __ATOMIC_ACQUIRE);
	kill(v, SIGKILL);
	waitpid(v, &st, 0);
	__atomic_store_n(&KS->victim_dead, 1, __ATOMIC_RELEASE);
	cr_assert(going, "the survivors did not get going");
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		  "the victim was not running when killed: %s", h_status_str(st, buf, sizeof(buf)));
	cr_assert_gt(before, 200, "the victim was not making progress");
	h_join(s, 2, 60000, "survivor");
	cr_assert(h_rmcd_alive(&R), "rmcd died with its application");
	n = h_fork(newcomer, NULL);
	h_join(&n, 1, 30000, "new application on the victim's node");
}

/* ---- rmcd dies under a waiting call ---------------------------------- */

struct dead_shared {
	uint32_t ready, go, done;
	int32_t result;
};

static struct dead_shared *DS;

static int waiter(void *arg)
{
	struct h_app a;
	(void)arg;

	if (app_attach(&a, 0, 16, 0))
		return 1;
	__atomic_store_n(&DS->ready, 1, __ATOMIC_RELEASE);
	CHILD_CHECK(waitflag(&DS->go, 1, 30000) == 0, "no go");
	int r = rmc_rread_sync(a.wq, a.cq, a.lbuf, 0, 1, 0, 0, 4096);
	DS->result = r;
	__atomic_store_n(&DS->done, 1, __ATOMIC_RELEASE);
	CHILD_CHECK(r == -ENOTCONN, "the call returned %d (%s), expected -ENOTCONN", r,
		    strerror(-r));
	/* The control socket is dead too. */
	struct kal_info info;
	r = kal_info(a.fd, &info);
	CHILD_CHECK(r < 0, "kal_info on a dead rmcd returned %d", r);
	return 0;
}

Test(integration, rmcd_killed_wakes_waiting_call)
{
	int st;
	pid_t w;

	DS = h_shared(sizeof(*DS));
	w = h_fork(waiter, NULL);
	cr_assert_eq(waitflag(&DS->ready, 1, 20000), 0, "the application did not attach");
	cr_assert_eq(kill(R.pid, SIGSTOP), 0);
	/* kill() returns before every thread of rmcd has stopped: wait until
	 * the stop is reported, or the busy RMC thread may serve the call. */
	cr_assert_eq(waitpid(R.pid, &st, WUNTRACED), R.pid);
	cr_assert(WIFSTOPPED(st), "rmcd did not stop");
	__atomic_store_n(&DS->go, 1, __ATOMIC_RELEASE);
	h_sleep_ms(300);
	cr_assert_eq(__atomic_load_n(&DS->done, __ATOMIC_ACQUIRE), 0,
		     "the call returned (%d) while rmcd was stopped", DS->result);
	uint64_t t0 = h_now_ms();
	kill(R.pid, SIGKILL);
	waitpid(R.pid, &st, 0);
	R.pid = -1;
	int r = h_wait(w, 5000, &st);
	uint64_t dt = h_now_ms() - t0;
	if (r) {
		kill(w, SIGKILL);
		waitpid(w, &st, 0);
	}
	cr_assert_eq(r, 0, "the waiting call did not return within 5 s of rmcd's death");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the application failed (see above)");
	cr_assert_eq(DS->result, -ENOTCONN);
	cr_log_info("the waiting call returned %d ms after rmcd was killed", (int)dt);
}

/* ---- run directories --------------------------------------------------- */

static int quick_app(void *arg)
{
	struct h_app a;
	unsigned node = (unsigned)(uintptr_t)arg;

	if (app_attach(&a, node, 16, 0))
		return 1;
	if (write_readback(&a, (int)((node + 1) % NODES), 12345, 5000, 4242, 0, 32768))
		return 1;
	kal_close(a.fd);
	return 0;
}

static void run_quick_app(unsigned node)
{
	pid_t p = h_fork(quick_app, (void *)(uintptr_t)node);
	h_join(&p, 1, 30000, "application");
}

Test(integration, stale_rundir_after_sigkill)
{
	char path[160];
	struct stat sb;

	run_quick_app(0);
	int st = h_rmcd_kill(&R, SIGKILL, 10000);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	cr_assert_eq(h_count_socks(R.run), NODES, "a SIGKILLed rmcd cannot remove its sockets");
	snprintf(path, sizeof(path), "%s/node0.sock", R.run);
	cr_assert_eq(stat(path, &sb), 0);
	int fd = kal_open(path);
	cr_assert_lt(fd, 0, "a stale socket answered");
	cr_assert_eq(fd, -ECONNREFUSED, "kal_open on a stale socket: %s", strerror(-fd));

	h_rmcd_restart(&R);
	cr_assert_eq(h_count_socks(R.run), NODES);
	for (unsigned n = 0; n < NODES; n++)
		run_quick_app(n);
}

Test(integration, second_rmcd_on_same_rundir_refused)
{
	struct h_out *o = h_shared(sizeof(*o));
	char *argv[] = { (char *)h_env("RMCD"), "-c", R.conf, "-r", R.run, NULL };
	char pid[32];

	h_run(argv, NULL, 20000, o);
	cr_assert(!o->timed_out, "the second rmcd kept running");
	cr_assert(WIFEXITED(o->status) && WEXITSTATUS(o->status) != 0,
		  "the second rmcd did not fail: status 0x%x", o->status);
	cr_assert_not_null(strstr(o->err, "in use by another rmcd"), "stderr: %s", o->err);
	snprintf(pid, sizeof(pid), "pid %d", (int)R.pid);
	cr_assert_not_null(strstr(o->err, pid), "the message does not name the first (%s): %s", pid,
			   o->err);
	cr_assert_not_null(strstr(o->err, R.run), "the message does not name the directory: %s",
			   o->err);
	/* The first is untouched and serves on. */
	cr_assert(h_rmcd_alive(&R));
	cr_assert_eq(h_count_socks(R.run), NODES, "the second rmcd removed the first's sockets");
	run_quick_app(2);
}

Test(integration, sigterm_exits_cleanly)
{
	struct h_app a;

	/* With an application attached and a QP registered. */
	cr_assert_eq(app_attach(&a, 1, 16, 0), 0);
	cr_assert_eq(rmc_rread_sync(a.wq, a.cq, a.lbuf, 0, 2, 0, 0, 64), 0);
	int st = h_rmcd_kill(&R, SIGTERM, 10000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "rmcd on SIGTERM: status 0x%x", st);
	cr_assert_eq(h_count_socks(R.run), 0, "rmcd left its sockets behind");
	uint64_t spins = 0;
	cr_assert_eq(rmc__wait_slow(a.wq, &spins), -ENOTCONN,
		     "the application does not see that rmcd is gone");
	cr_assert_eq(rmc_rread_sync(a.wq, a.cq, a.lbuf, 0, 2, 0, 0, 64), -ENOTCONN);
	kal_close(a.fd);
}

/* ---- the C++ program --------------------------------------------------- */

Test(integration, cxx_application)
{
	struct h_app a;
	struct h_out *o = h_shared(sizeof(*o));
	char *argv[] = { (char *)h_env("CXX_APP"), "2", NULL };
	char *env[] = { "SONUMA_NODE=1", NULL };

	cr_assert_eq(app_attach(&a, 2, 0, 4), 0);
	for (unsigned i = 0; i < 8192; i++)
		a.ctx[i] = (uint8_t)(i < 4096 ? i * 7 + 3 : 0);
	h_run(argv, env, 30000, o);
	cr_assert(!o->timed_out, "cxx_app hung; stderr: %s", o->err);
	cr_assert(WIFEXITED(o->status) && WEXITSTATUS(o->status) == 0,
		  "cxx_app: status 0x%x; stdout: %s; stderr: %s", o->status, o->out, o->err);
	cr_assert_not_null(strstr(o->out, "cxx_app: ok (node 1 of 4, read and wrote node 2"),
			   "stdout: %s", o->out);
	for (unsigned i = 0; i < 4096; i++)
		cr_assert_eq(a.ctx[4096 + i], (uint8_t)(i * 13 + 1),
			     "byte %u of what cxx_app wrote", i);
	kal_close(a.fd);
}

/* ---- registration ----------------------------------------------------- */

Test(integration, reg_lbuff_keeps_app_buffer)
{
	struct h_app a;
	const uint32_t pages = 4;
	const size_t size = pages * PAGE_SIZE;
	uint8_t *p, *orig, *heap = NULL;

	cr_assert_eq(app_attach(&a, 0, 0, 0), 0);

	/* An mmap'ed buffer. */
	orig = p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	pat_fill(p, size, 31);
	cr_assert_eq(kal_reg_lbuff(a.fd, &p, pages), 0);
	cr_assert_eq(p, orig, "the buffer moved");
	cr_assert_eq(pat_check(p, size, 31), -1, "the buffer lost its contents");
	/* It is registered: rmcd reads from it and writes into it. */
	cr_assert_eq(rmc_rwrite_sync(a.wq, a.cq, p, 0, 1, 0, 65536, size / 2), 0);
	cr_assert_eq(rmc_rread_sync(a.wq, a.cq, p, size / 2, 1, 0, 65536, size / 2), 0);
	cr_assert_eq(pat_check(p + size / 2, size / 2, 31), -1, "a round trip through node 1");

	/* A heap buffer from posix_memalign, as the original programs did. */
	cr_assert_eq(posix_memalign((void **)&heap, PAGE_SIZE, size), 0);
	orig = heap;
	pat_fill(heap, size, 32);
	cr_assert_eq(kal_reg_lbuff(a.fd, &heap, pages), 0);
	cr_assert_eq(heap, orig);
	cr_assert_eq(pat_check(heap, size, 32), -1);
	memset(heap, 0, 4096);
	cr_assert_eq(rmc_rread_sync(a.wq, a.cq, heap, 0, 1, 0, 65536, 4096), 0);
	cr_assert_eq(pat_check(heap, 4096, 31), -1, "a read into the heap buffer");

	/* Not page-aligned: refused, left alone. */
	uint8_t *odd = orig + 8;
	cr_assert_eq(kal_reg_lbuff(a.fd, &odd, 1), -EINVAL);
	cr_assert_eq(odd, orig + 8);
	/* Overlapping a registered buffer: refused, and the buffer stays the
	 * registered one (its contents, and rmcd still reaches it). */
	uint8_t *again = p;
	cr_assert_lt(kal_reg_lbuff(a.fd, &again, 1), 0, "registered the same range twice");
	cr_assert_eq(again, p);
	cr_assert_eq(pat_check(p, size / 2, 31), -1);
	memset(p, 0, size);
	cr_assert_eq(rmc_rread_sync(a.wq, a.cq, p, 0, 1, 0, 65536, size / 2), 0);
	cr_assert_eq(pat_check(p, size / 2, 31), -1,
		     "after a refused re-registration, the buffer no longer receives data");
	/* A length-0 buffer: refused. */
	uint8_t *none = NULL;
	cr_assert_eq(kal_reg_lbuff(a.fd, &none, 0), -EINVAL);
	kal_close(a.fd);
	/* The heap buffer's pages are now a shared mapping: not freed. */
}

Test(integration, reg_ctx_limits)
{
	struct h_app a;
	uint8_t *c = NULL;

	cr_assert_eq(app_attach(&a, 3, 0, 0), 0);
	cr_assert_eq(a.info.context_size, CTX_SIZE);
	cr_assert_eq(kal_reg_ctx(a.fd, &c, CTX_PAGES + 1), -ENOSPC,
		     "more pages than the context must be refused");
	cr_assert_null(c);
	cr_assert_eq(kal_reg_ctx(a.fd, &c, 0), -EINVAL);
	cr_assert_eq(kal_reg_ctx_id(a.fd, 1, &c, 1), -ENOENT, "there is no context 1");
	cr_assert_eq(kal_reg_ctx(a.fd, &c, CTX_PAGES), 0, "the whole context");
	cr_assert_not_null(c);
	c[CTX_SIZE - 1] = 0x5c;
	c[0] = 0x5d;
	kal_close(a.fd);

	/* Another application of node 3 sees the same memory. */
	cr_assert_eq(app_attach(&a, 3, 0, 1), 0);
	cr_assert_eq(a.ctx[0], 0x5d);
	kal_close(a.fd);
}

Test(integration, registration_errors)
{
	struct h_app a;
	rmc_cq_t *cq;
	int fd;

	setenv("SONUMA_NODE", "0", 1);
	fd = kal_open(RMC_DEV);
	cr_assert_geq(fd, 0);
	cr_assert_eq(kal_reg_cq(fd, &cq), -ENOENT, "a CQ without a WQ");
	kal_close(fd);

	setenv("SONUMA_NODE", "abc", 1);
	cr_assert_eq(kal_open(RMC_DEV), -EINVAL);
	setenv("SONUMA_NODE", "9", 1);
	cr_assert_eq(kal_open(RMC_DEV), -ENOENT, "node 9 of 4");
	setenv("SONUMA_NODE", "0", 1);
	cr_assert_eq(kal_open("/nonexistent/dir/node0.sock"), -ENOENT);

	/* Bad requests through the synchronous calls come back as -errno,
	 * and the QP goes on working. */
	cr_assert_eq(app_attach(&a, 0, 4, 0), 0);
	cr_assert_eq(rmc_rread_sync(a.wq, a.cq, a.lbuf, 0, 9, 0, 0, 64), -EHOSTUNREACH);
	cr_assert_eq(rmc_rread_sync(a.wq, a.cq, a.lbuf, 0, 1, 3, 0, 64), -ENOENT);
	cr_assert_eq(rmc_rread_sync(a.wq, a.cq, a.lbuf, 0, 1, 0, CTX_SIZE - 63, 64), -ERANGE);
	cr_assert_eq(rmc_rread_sync(a.wq, a.cq, a.lbuf, 4 * PAGE_SIZE - 63, 1, 0, 0, 64), -EFAULT);
	cr_assert_eq(rmc_rread_sync(a.wq, a.cq, a.lbuf + 4 * PAGE_SIZE, 0, 1, 0, 0, 64), -EFAULT);
	cr_assert_eq(rmc_rwrite_sync(a.wq, a.cq, a.lbuf, 0, 1, 0, 0, MIB + 1), -EMSGSIZE);
	cr_assert_eq(rmc_rwrite_sync(a.wq, a.cq, a.lbuf, 0, 1, 0, 0, 4 * PAGE_SIZE), 0);
	kal_close(a.fd);
}

/* A refused registration must not use up the session's local buffers: after
 * many refusals (more than the 64 a session may hold), a good registration
 * still succeeds. */
Test(integration, refused_registrations_release_their_buffers)
{
	struct h_app a;
	uint8_t *fresh = NULL;

	cr_assert_eq(app_attach(&a, 0, 1, 0), 0);
	for (int i = 0; i < 70; i++) {
		uint8_t *again = a.lbuf;
		int r = kal_reg_lbuff(a.fd, &again, 1);
		cr_assert_eq(r, -EEXIST, "attempt %d to register a registered page: %s", i,
			     strerror(-r));
	}
	int r = kal_reg_lbuff(a.fd, &fresh, 1);
	cr_assert_eq(r, 0, "after 70 refused registrations a new one fails: %s", strerror(-r));
	cr_assert_eq(rmc_rread_sync(a.wq, a.cq, fresh, 0, 1, 0, 0, 64), 0);
	kal_close(a.fd);
}
