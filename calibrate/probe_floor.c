/* SPDX-License-Identifier: MIT */
/*
 * The emulator's own floor: the latency of a synchronous remote read through
 * a real RMC loop with the `none` model, per size.  A real rmcd serves a
 * two-node cluster from a private run directory; this program attaches as
 * node 0 on the CPU rmcd gives node 0's programs and reads from node 1.
 * That rmcd reads no calibration file ($SONUMA_CALIBRATION points into the
 * empty run directory): it runs with no notify lead, so the figure is the
 * bare loop's, and a stale or foreign file cannot stop it from starting.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "calibrate.h"
#include "core.h"
#include "rmcdev.h"
#include "sonuma.h"

#define FLOOR_NODES "2"
#define FLOOR_START_S 10 /* rmcd must be up within this */
#define FLOOR_STOP_S 5	 /* and gone this long after SIGTERM */
#define FLOOR_MAX_SPREAD 2.0

/* Set by SIGINT/SIGTERM while rmcd runs, so that it is stopped and the run
 * directory removed before the program ends.  A signal handler can reach
 * nothing else. */
volatile sig_atomic_t cal_stop;

static void on_signal(int sig)
{
	cal_stop = sig;
}

void cal_catch_signals(struct cal_sigs *old)
{
	struct sigaction sa = { .sa_handler = on_signal };

	cal_stop = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old->intr);
	sigaction(SIGTERM, &sa, &old->term);
}

void cal_release_signals(const struct cal_sigs *old)
{
	sigaction(SIGINT, &old->intr, NULL);
	sigaction(SIGTERM, &old->term, NULL);
}

static bool executable(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* --rmcd PATH; else ../rmcd/rmcd next to this program (the build tree), or
 * rmcd beside it (an install); else rmcd in $PATH. */
int cal_find_rmcd(const struct cal_opts *o, char *out, size_t len, char *err, size_t errlen)
{
	char self[PATH_MAX], dir[PATH_MAX];
	const char *path = getenv("PATH");
	ssize_t n;

	if (o->rmcd) {
		if (!executable(o->rmcd)) {
			snprintf(err, errlen, "--rmcd %s: not an executable file", o->rmcd);
			return -ENOENT;
		}
		snprintf(out, len, "%s", o->rmcd);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		char *slash;
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			snprintf(dir, sizeof(dir), "%.*s/../rmcd/rmcd", PATH_MAX - 16, self);
			if (executable(dir) && realpath(dir, out))
				return 0;
			snprintf(dir, sizeof(dir), "%.*s/rmcd", PATH_MAX - 16, self);
			if (executable(dir)) {
				snprintf(out, len, "%s", dir);
				return 0;
			}
		}
	}
	while (path && *path) {
		const char *end = strchrnul(path, ':');
		if (end > path) {
			snprintf(dir, sizeof(dir), "%.*s/rmcd", (int)(end - path), path);
			if (executable(dir)) {
				snprintf(out, len, "%s", dir);
				return 0;
			}
		}
		path = *end ? end + 1 : end;
	}
	snprintf(err, errlen,
		 "cannot find rmcd (not beside this program nor in $PATH): "
		 "give --rmcd PATH, or --no-floor to skip the floor");
	return -ENOENT;
}

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[PATH_MAX];

	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* The last error rmcd logged, else its last line, for an error message. */
static void log_tail(const char *log, char *out, size_t len)
{
	char line[512];
	bool error = false;
	FILE *f = fopen(log, "re");

	snprintf(out, len, "(nothing logged)");
	while (f && fgets(line, sizeof(line), f)) {
		bool is_error = strstr(line, "error: ") != NULL;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] && (is_error || !error))
			snprintf(out, len, "%.*s", (int)len - 1, line);
		error |= is_error;
	}
	if (f)
		fclose(f);
}

void cal_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int cal_rmcd_start(struct cal_ctx *x, struct cal_rmcd *p, const char *conf, const char *const *args,
		   char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");
	int fd;

	if (!tmp || !*tmp || strlen(tmp) > 60)
		tmp = "/tmp";
	snprintf(p->dir, sizeof(p->dir), "%s/sonuma-cal-XXXXXX", tmp);
	if (!mkdtemp(p->dir)) {
		int r = -errno;
		snprintf(err, errlen, "cannot create a run directory in %s: %s", tmp,
			 strerror(errno));
		p->dir[0] = '\0';
		return r;
	}
	snprintf(p->log, sizeof(p->log), "%s/rmcd.log", p->dir);
	if (conf) {
		char cp[sizeof(p->dir) + 32];
		FILE *cf;
		snprintf(cp, sizeof(cp), "%s/rmc.conf", p->dir);
		if (!(cf = fopen(cp, "w")) || fputs(conf, cf) < 0 || fclose(cf)) {
			snprintf(err, errlen, "%s: cannot write: %s", cp, strerror(errno));
			return -EIO;
		}
	}
	fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		int r = -errno;
		snprintf(err, errlen, "%s: %s", p->log, strerror(errno));
		return r;
	}
	fflush(NULL);
	p->pid = fork();
	if (p->pid < 0) {
		int r = -errno;
		close(fd);
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return r;
	}
	if (p->pid == 0) {
		char nocal[sizeof(p->dir) + 32];
		char conf_path[sizeof(p->dir) + 32];
		const char *argv[32];
		unsigned n = 0;
		sigset_t none;
		int nul = open("/dev/null", O_RDONLY);

		snprintf(nocal, sizeof(nocal), "%s/no-calibration.cfg", p->dir);
		snprintf(conf_path, sizeof(conf_path), "%s/rmc.conf", p->dir);
		argv[n++] = p->path;
		argv[n++] = "-r";
		argv[n++] = p->dir;
		if (conf) {
			argv[n++] = "-c";
			argv[n++] = conf_path;
		}
		for (; args && *args && n < 31; args++)
			argv[n++] = *args;
		argv[n] = NULL;
		/* rmcd places its own threads: give it back the whole machine. */
		sched_setaffinity(0, sizeof(x->allowed), &x->allowed);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setenv("SONUMA_RUNDIR", p->dir, 1);
		/* No calibration: the floor is the bare loop's, and a stale or
		 * foreign calibration file (the reason to calibrate again) must
		 * not stop rmcd from starting. */
		setenv("SONUMA_CALIBRATION", nocal, 1);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(p->path, (char *const *)argv);
		dprintf(2, "cannot run %s: %s\n", p->path, strerror(errno));
		_exit(127);
	}
	close(fd);
	return 0;
}

int cal_rmcd_wait(struct cal_rmcd *p, uint64_t nodes, char *err, size_t errlen)
{
	uint64_t deadline = core_mono_ns() + FLOOR_START_S * 1000000000ull;
	char tail[256];
	int status;

	for (;;) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			log_tail(p->log, tail, sizeof(tail));
			snprintf(err, errlen, "rmcd (%s) %s %d before it was ready: %s", p->path,
				 WIFEXITED(status) ? "exited with status" : "was killed by signal",
				 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), tail);
			return -ECHILD;
		}
		bool all = true;
		for (uint32_t k = 0; k < 64 && all; k++) {
			char sock[200];
			struct stat st;
			if (!(nodes >> k & 1))
				continue;
			core_node_sock_path(sock, sizeof(sock), p->dir, k);
			all = stat(sock, &st) == 0 && S_ISSOCK(st.st_mode);
		}
		if (all)
			return 0;
		if (cal_stop)
			return -EINTR;
		if (core_mono_ns() > deadline) {
			snprintf(err, errlen,
				 "rmcd (%s) did not create its node sockets in %s "
				 "within %d s",
				 p->path, p->dir, FLOOR_START_S);
			return -ETIMEDOUT;
		}
		cal_sleep_ms(5);
	}
}

int cal_rmcd_up(struct cal_ctx *x, struct cal_rmcd *p, const char *conf, const char *const *args,
		uint64_t nodes, char *err, size_t errlen)
{
	int r;

	if (!x->floor_rmcd[0] &&
	    (r = cal_find_rmcd(&x->opt, x->floor_rmcd, sizeof(x->floor_rmcd), err, errlen)))
		return r;
	snprintf(p->path, sizeof(p->path), "%s", x->floor_rmcd);
	if ((r = cal_rmcd_start(x, p, conf, args, err, errlen)))
		return r;
	return cal_rmcd_wait(p, nodes, err, errlen);
}

void cal_rmcd_explain(struct cal_rmcd *p, char *err, size_t errlen)
{
	char tail[256], how[64] = "still running";
	size_t n = strlen(err);
	int status;

	if (p->pid <= 0)
		return; /* never started: err says why */
	if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
		p->pid = 0;
		if (WIFEXITED(status))
			snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
		else
			snprintf(how, sizeof(how), "killed by signal %d (%s)", WTERMSIG(status),
				 strsignal(WTERMSIG(status)));
	}
	log_tail(p->log, tail, sizeof(tail));
	if (n < errlen)
		snprintf(err + n, errlen - n, " (rmcd %s; its last words: %s)", how, tail);
}

void cal_rmcd_stop(struct cal_rmcd *p)
{
	uint64_t deadline = core_mono_ns() + FLOOR_STOP_S * 1000000000ull;
	int status;

	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		while (waitpid(p->pid, &status, WNOHANG) == 0) {
			if (core_mono_ns() > deadline) {
				kill(p->pid, SIGKILL);
				waitpid(p->pid, &status, 0);
				break;
			}
			cal_sleep_ms(2);
		}
		p->pid = 0;
	}
	if (p->dir[0])
		remove_tree(p->dir);
}

struct floor_run {
	rmc_wq_t *wq;
	rmc_cq_t *cq;
	uint8_t *lbuff;
	uint64_t size;
	double hz;
};

static int floor_run(void *arg, double *v, size_t n, char *err, size_t errlen)
{
	struct floor_run *f = arg;

	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = rmc_rdtsc();
		int r = rmc_rread_sync(f->wq, f->cq, f->lbuff, 0, 1, 0, 0, f->size);
		uint64_t t1 = rmc_rdtsc();

		if (r) {
			snprintf(err, errlen,
				 "synchronous read of %llu bytes from node 1 failed: "
				 "%s",
				 (unsigned long long)f->size, strerror(-r));
			return r;
		}
		if (cal_stop)
			return -EINTR;
		v[i] = core_tsc_to_ns(t1 - t0, f->hz);
	}
	return 0;
}

int cal_check_path(rmc_wq_t *wq, rmc_cq_t *cq, uint8_t *lbuff, uint32_t node, uint64_t at,
		   uint64_t len, char *err, size_t errlen)
{
	int r;

	for (uint64_t i = 0; i < len; i++)
		lbuff[i] = (uint8_t)(i * 7 + 1);
	memset(lbuff + at, 0, len);
	if ((r = rmc_rwrite_sync(wq, cq, lbuff, 0, (int)node, 0, 0, len)) ||
	    (r = rmc_rread_sync(wq, cq, lbuff, at, (int)node, 0, 0, len))) {
		snprintf(err, errlen, "the first access to node %u through rmcd failed: %s", node,
			 strerror(-r));
		return r;
	}
	if (memcmp(lbuff, lbuff + at, len)) {
		snprintf(err, errlen, "rmcd returned other data than was written to node %u", node);
		return -EIO;
	}
	return 0;
}

int cal_rmcd_attach(struct cal_rmcd *p, uint32_t node, char *err, size_t errlen)
{
	uint64_t deadline = core_mono_ns() + FLOOR_START_S * 1000000000ull;
	char nid[16];
	int fd;

	snprintf(nid, sizeof(nid), "%u", node);
	setenv("SONUMA_RUNDIR", p->dir, 1);
	setenv("SONUMA_NODE", nid, 1);
	while ((fd = kal_open((char *)RMC_DEV)) < 0) {
		if ((fd != -ECONNREFUSED && fd != -ENOENT) || core_mono_ns() > deadline) {
			snprintf(err, errlen, "cannot attach to node %u of rmcd in %s: %s", node,
				 p->dir, strerror(-fd));
			return fd;
		}
		if (cal_stop)
			return -EINTR;
		cal_sleep_ms(5);
	}
	return fd;
}

int cal_probe_qp(int fd, const struct kal_info *info, uint32_t self, uint32_t target,
		 const uint64_t *sizes, unsigned n, struct cal_qp *q, char *err, size_t errlen)
{
	int r;

	memset(q, 0, sizeof(*q));
	q->cpu = -1;
	for (int c = 0; c < 256 && q->cpu < 0; c++)
		if (info->app_cpus[c / 64] >> (c % 64) & 1)
			q->cpu = c;
	if (q->cpu >= 0 && (r = core_pin_cpu(q->cpu))) {
		snprintf(err, errlen, "cannot run on CPU %d, which rmcd gives node %u: %s", q->cpu,
			 self, strerror(-r));
		return r;
	}
	for (unsigned i = 0; i < n; i++)
		if (sizes[i] <= info->max_transfer && sizes[i] <= info->context_size)
			q->top = sizes[i];
	if (!q->top) {
		snprintf(err, errlen, "rmcd allows transfers of %llu bytes only, less than %llu",
			 (unsigned long long)info->max_transfer, (unsigned long long)sizes[0]);
		return -EPROTO;
	}
	q->pages = (2 * (q->top > 4096 ? q->top : 4096) + PAGE_SIZE - 1) / PAGE_SIZE;
	if ((r = kal_reg_wq(fd, &q->wq)) || (r = kal_reg_cq(fd, &q->cq)) ||
	    (r = kal_reg_lbuff(fd, &q->lbuff, (uint32_t)q->pages))) {
		snprintf(err, errlen, "cannot register a queue pair and buffer with rmcd: %s",
			 strerror(-r));
		return r;
	}
	return cal_check_path(q->wq, q->cq, q->lbuff, target, q->pages * PAGE_SIZE / 2,
			      q->top < 4096 ? q->top : 4096, err, errlen);
}

static int floor_measure(struct cal_ctx *x, struct cal_rmcd *p, char *err, size_t errlen)
{
	static const uint64_t sizes[CAL_FLOOR_SIZES] = { 64,	256,   1024,   4096,
							 16384, 65536, 262144, 1048576 };
	const struct cal_budget b = { .n_est = 10,
				      .min_n = x->opt.quick ? 20 : 300,
				      .max_n = x->opt.quick ? 1000 : 50000,
				      .budget_ns = x->opt.quick ? 30e6 : 800e6,
				      .max_spread = FLOOR_MAX_SPREAD };
	struct floor_run f = { .hz = x->hz };
	struct kal_info info;
	struct cal_qp q;
	uint64_t top;
	int fd, r, cpu = -1;

	if ((fd = cal_rmcd_attach(p, 0, err, errlen)) < 0)
		return fd;
	if ((r = kal_info(fd, &info))) {
		snprintf(err, errlen, "rmcd did not say what node 0 is: %s", strerror(-r));
		goto out;
	}
	snprintf(x->floor_model, sizeof(x->floor_model), "%.*s", (int)sizeof(info.model) - 1,
		 info.model);
	if (info.nodes < 2 || strncmp(info.model, "none", sizeof(info.model))) {
		snprintf(err, errlen,
			 "rmcd serves %u nodes with model \"%s\"; the floor needs "
			 "2 nodes and model none",
			 info.nodes, x->floor_model);
		r = -EPROTO;
		goto out;
	}
	if ((r = cal_probe_qp(fd, &info, 0, 1, sizes, CAL_FLOOR_SIZES, &q, err, errlen)))
		goto out;
	cpu = q.cpu;
	x->floor_cpu = cpu;
	f.wq = q.wq, f.cq = q.cq, f.lbuff = q.lbuff;
	top = q.top;
	x->d.n_floor = 0;
	for (unsigned i = 0; i < CAL_FLOOR_SIZES && sizes[i] <= top; i++) {
		struct cal_stats *st = &x->floor[x->d.n_floor];

		f.size = sizes[i];
		if ((r = cal_measure_budget(floor_run, &f, &b, st, err, errlen)))
			goto out;
		x->d.floor_size[x->d.n_floor] = sizes[i];
		x->d.floor_ns[x->d.n_floor] = st->median;
		x->d.floor_p99_ns[x->d.n_floor] = st->p99;
		x->d.n_floor++;
	}
	x->floor_done = true;
	/* On a domain with one CPU, rmcd's RMC thread and node 0's programs
	 * share it, and a read waits for a time slice. */
	if (x->d.n_floor && x->floor[0].median > 100e3)
		cal_note(x,
			 "the floor for 64 B is %.0f us: rmcd's RMC thread seems to share "
			 "CPU %d with this program%s, so the floor measures time slicing",
			 x->floor[0].median / 1e3, cpu,
			 info.numa >= 0 && info.numa < x->ndom && x->ncpus[info.numa] < 2 ?
				 " (node 0's NUMA domain has one CPU)" :
				 "");
out:
	kal_close(fd);
	return r;
}

#define OVERHEAD_MODEL_NS 1000.0

/* The constant cost of a synchronous call around the model's latency: with
 * the fixed model at 1 us (five times the floor here), the median
 * synchronous 64-byte read minus 1 us.  Below rmcd's lead (2 us) the
 * completion is written at pickup and the library waits for its due time,
 * as for most latencies users choose; at 5 us the completion comes from
 * the due-time queue, and the figure came out 10 to 20 ns higher than what
 * sonuma-bench then measured at 1 us.  200000 reads span 0.2 s or more, so
 * that a passing moment of a noisy machine does not set it (3000 gave 40
 * to 70 ns). */
static int overhead_measure(struct cal_ctx *x, struct cal_rmcd *p, char *err, size_t errlen)
{
	struct floor_run f = { .hz = x->hz, .size = 64 };
	struct cal_stats st;
	int fd, r;

	if ((fd = cal_rmcd_attach(p, 0, err, errlen)) < 0)
		return fd;
	if ((r = kal_reg_wq(fd, &f.wq)) || (r = kal_reg_cq(fd, &f.cq)) ||
	    (r = kal_reg_lbuff(fd, &f.lbuff, 1))) {
		snprintf(err, errlen, "cannot register a queue pair and buffer with rmcd: %s",
			 strerror(-r));
		goto out;
	}
	if ((r = cal_measure(floor_run, &f, x->opt.quick ? 100 : 200000, FLOOR_MAX_SPREAD, &st, err,
			     errlen)))
		goto out;
	x->d.overhead_ns = st.median > OVERHEAD_MODEL_NS ? st.median - OVERHEAD_MODEL_NS : 0;
out:
	kal_close(fd);
	return r;
}

int cal_probe_floor(struct cal_ctx *x, char *err, size_t errlen)
{
	static const char *const none[] = { "-m", "none", FLOOR_NODES, NULL };
	static const char *const with_conf[] = { FLOOR_NODES, NULL };
	struct cal_sigs old;
	struct cal_rmcd p;
	int r;

	memset(&p, 0, sizeof(p));
	/* The rmcd measured registers its contexts through rmc.ko when it is
	 * loaded: the file says which floor this is. */
	int dev = core_rmcdev_open(NULL);
	x->d.rmc_ko = dev >= 0;
	if (dev >= 0)
		core_rmcdev_close(dev);
	cal_catch_signals(&old);
	r = cal_rmcd_up(x, &p, NULL, none, 3, err, errlen);
	if (!r)
		r = floor_measure(x, &p, err, errlen);
	if (!r && !cal_stop) {
		/* Then the cost around a held-back completion, with a fixed
		 * model and no notify cost: what rmcd subtracts. */
		char conf[256];
		cal_rmcd_stop(&p);
		snprintf(conf, sizeof(conf),
			 "model = { name = \"fixed\"; latency_ns = %.0f; };\n"
			 "rmc = { notify_ns = 0; overhead_ns = 0; };\n",
			 OVERHEAD_MODEL_NS);
		r = cal_rmcd_up(x, &p, conf, with_conf, 3, err, errlen);
		if (!r)
			r = overhead_measure(x, &p, err, errlen);
	}
	if (r == -EINTR || cal_stop) {
		snprintf(err, errlen, "interrupted");
		r = -EINTR;
	} else if (r && p.pid > 0) {
		cal_rmcd_explain(&p, err, errlen);
	}
	cal_rmcd_stop(&p);
	cal_release_signals(&old);
	return r;
}

/* ---- an rmcd for the probes after the floor (probe_rounds.c, check.c) ---- */

struct cal_rig {
	struct cal_rmcd p;
	struct cal_sigs old;
};

int cal_rig_start(struct cal_ctx *x, struct cal_rig **out, char *err, size_t errlen)
{
	static const char *const none[] = { "-m", "none", FLOOR_NODES, NULL };
	struct cal_rig *g = calloc(1, sizeof(*g));
	int r;

	if (!g) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	cal_catch_signals(&g->old);
	r = cal_rmcd_up(x, &g->p, NULL, none, 3, err, errlen);
	if (r) {
		if (r == -EINTR || cal_stop)
			snprintf(err, errlen, "interrupted");
		else
			cal_rmcd_explain(&g->p, err, errlen);
		cal_rig_stop(g);
		return r == -EINTR || cal_stop ? -EINTR : r;
	}
	*out = g;
	return 0;
}

int cal_rig_floor(struct cal_ctx *x, struct cal_rig *g, uint64_t size, size_t n,
		  struct cal_stats *st, int *cpu, char *err, size_t errlen)
{
	struct floor_run f = { .hz = x->hz, .size = size };
	uint32_t pages = (uint32_t)((size + PAGE_SIZE - 1) / PAGE_SIZE);
	struct kal_info info;
	double warm[10], *v = malloc(n * sizeof(*v));
	int fd, r;

	*cpu = -1;
	if (!v) {
		snprintf(err, errlen, "out of memory for %zu samples", n);
		return -ENOMEM;
	}
	if ((fd = cal_rmcd_attach(&g->p, 0, err, errlen)) < 0) {
		free(v);
		return fd;
	}
	if ((r = kal_info(fd, &info))) {
		snprintf(err, errlen, "rmcd did not say what node 0 is: %s", strerror(-r));
		goto out;
	}
	for (int c = 0; c < 256 && *cpu < 0; c++)
		if (info.app_cpus[c / 64] >> (c % 64) & 1)
			*cpu = c;
	if (*cpu >= 0 && (r = core_pin_cpu(*cpu))) {
		snprintf(err, errlen, "cannot run on CPU %d, which rmcd gives node 0: %s", *cpu,
			 strerror(-r));
		goto out;
	}
	if ((r = kal_reg_wq(fd, &f.wq)) || (r = kal_reg_cq(fd, &f.cq)) ||
	    (r = kal_reg_lbuff(fd, &f.lbuff, pages))) {
		snprintf(err, errlen, "cannot register a queue pair and buffer with rmcd: %s",
			 strerror(-r));
		goto out;
	}
	/* A few first reads bring the lines and the RMC thread's loop in. */
	if ((r = floor_run(&f, warm, CORE_ARRAY_SIZE(warm), err, errlen)) ||
	    (r = floor_run(&f, v, n, err, errlen)))
		goto out;
	cal_stats_of(v, n, st);
out:
	if (r == -EINTR || cal_stop) {
		snprintf(err, errlen, "interrupted");
		r = -EINTR;
	} else if (r && g->p.pid > 0) {
		cal_rmcd_explain(&g->p, err, errlen);
	}
	kal_close(fd);
	free(v);
	return r;
}

void cal_rig_stop(struct cal_rig *g)
{
	if (!g)
		return;
	cal_rmcd_stop(&g->p);
	cal_release_signals(&g->old);
	free(g);
}
