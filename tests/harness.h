/* SPDX-License-Identifier: MIT */
/*
 * Process harness for the suites that run programs: running a command with
 * its output captured and a time bound, forking child applications whose
 * failures come back as exit statuses, a barrier across processes, and an
 * rmcd of the test's own in a private temporary run directory.
 *
 * Everything started here dies with the test process (PR_SET_PDEATHSIG), so
 * a Criterion timeout cannot leave an rmcd or a child spinning.
 */
#ifndef SONUMA_TEST_HARNESS_H
#define SONUMA_TEST_HARNESS_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- time ------------------------------------------------------------- */
static inline uint64_t h_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline void h_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- environment ------------------------------------------------------- */
static inline const char *h_env(const char *name)
{
	const char *v = getenv(name);
	cr_assert(v && *v, "$%s is not set: run this suite through meson test", name);
	return v;
}

/* ---- processes --------------------------------------------------------- */
/* Waits up to ms for pid.  0 with *status, or -ETIMEDOUT. */
static inline int h_wait(pid_t pid, unsigned ms, int *status)
{
	uint64_t end = h_now_ms() + ms;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
		if (h_now_ms() > end)
			return -ETIMEDOUT;
		h_sleep_ms(2);
	}
}

/* Describes a wait status for messages. */
static inline const char *h_status_str(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "wait status 0x%x", st);
	return buf;
}

/* In a freshly forked child: die with the parent. */
static inline void h_child_init(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(99);
}

/* Forks a child that runs fn(arg) and exits with what it returns.  A child
 * reports a failure by printing why on stderr and returning non-zero. */
static inline pid_t h_fork(int (*fn)(void *), void *arg)
{
	pid_t parent = getpid();
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		h_child_init(parent);
		_exit(fn(arg));
	}
	return pid;
}

/* What h_exec's child runs. */
struct h_exec_args {
	const char *path;
	char *const *argv, *const *env;
	int out, err;
};

static inline int h_exec_child(void *arg)
{
	const struct h_exec_args *x = arg;

	dup2(x->out, 1);
	dup2(x->err, 2);
	for (int i = 0; x->env && x->env[i]; i++)
		putenv(x->env[i]);
	execv(x->path, x->argv);
	fprintf(stderr, "exec %s: %s\n", x->path, strerror(errno));
	return 127;
}

/* Forks a child (h_fork) that runs path with argv, its stdout to out and
 * stderr to err, with env's additions ("NAME=VALUE", NULL-ended, or
 * NULL). */
static inline pid_t h_exec(const char *path, char *const argv[], int out, int err,
			   char *const env[])
{
	struct h_exec_args x = { path, argv, env, out, err };

	return h_fork(h_exec_child, &x);
}

/* Waits for every child (up to ms in all), kills the stragglers, and
 * asserts that each exited with status 0. */
static inline void h_join(const pid_t *pids, int n, unsigned ms, const char *what)
{
	uint64_t end = h_now_ms() + ms;
	int st[64];
	bool done[64] = { false };
	char buf[96];

	cr_assert_leq(n, 64);
	for (int i = 0; i < n; i++) {
		uint64_t now = h_now_ms();
		unsigned left = now < end ? (unsigned)(end - now) : 0;
		if (h_wait(pids[i], left, &st[i]) == 0)
			done[i] = true;
	}
	for (int i = 0; i < n; i++)
		if (!done[i]) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], &st[i], 0);
		}
	for (int i = 0; i < n; i++) {
		cr_assert(done[i], "%s %d (pid %d) did not finish within %u ms", what, i, pids[i],
			  ms);
		cr_assert(WIFEXITED(st[i]) && WEXITSTATUS(st[i]) == 0,
			  "%s %d (pid %d) failed: %s (its messages are above)", what, i, pids[i],
			  h_status_str(st[i], buf, sizeof(buf)));
	}
}

/* A check inside a child: prints where and why, and returns 1 from the
 * enclosing function (int-returning). */
#define CHILD_CHECK(cond, ...)                                                                    \
	do {                                                                                      \
		if (!(cond)) {                                                                    \
			fprintf(stderr, "%s:%d: [pid %d] check failed: %s: ", __FILE__, __LINE__, \
				(int)getpid(), #cond);                                            \
			fprintf(stderr, __VA_ARGS__);                                             \
			fputc('\n', stderr);                                                      \
			return 1;                                                                 \
		}                                                                                 \
	} while (0)

/* Reads what fd holds (from the start) into buf, NUL-terminated. */
static inline void h_read_all(int fd, char *buf, size_t len)
{
	size_t n = 0;
	ssize_t r;

	lseek(fd, 0, SEEK_SET);
	while (n + 1 < len && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = 0;
}

static inline void h_slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	buf[0] = 0;
	if (fd >= 0) {
		h_read_all(fd, buf, len);
		close(fd);
	}
}

struct h_out {
	int status;
	bool timed_out;
	uint64_t ms; /* how long it ran */
	char out[16384];
	char err[16384];
};

/* Runs argv (argv[0] a path) with env additions ("NAME=VALUE", NULL-ended),
 * capturing stdout and stderr, killing it after timeout_ms. */
static inline void h_run(char *const argv[], char *const env[], unsigned timeout_ms,
			 struct h_out *o)
{
	int fo = memfd_create("test-stdout", MFD_CLOEXEC);
	int fe = memfd_create("test-stderr", MFD_CLOEXEC);
	uint64_t t0 = h_now_ms();
	pid_t pid;

	memset(o, 0, sizeof(*o));
	cr_assert(fo >= 0 && fe >= 0, "memfd_create: %s", strerror(errno));
	pid = h_exec(argv[0], argv, fo, fe, env);
	if (h_wait(pid, timeout_ms, &o->status)) {
		o->timed_out = true;
		kill(pid, SIGKILL);
		waitpid(pid, &o->status, 0);
	}
	o->ms = h_now_ms() - t0;
	h_read_all(fo, o->out, sizeof(o->out));
	h_read_all(fe, o->err, sizeof(o->err));
	close(fo);
	close(fe);
}

/* ---- files ------------------------------------------------------------- */
static int h_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(p);
	return 0;
}

static inline void h_rm_rf(const char *path)
{
	if (path && *path)
		nftw(path, h_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Node sockets (node*.sock) in dir; -1 when dir does not exist. */
static inline int h_count_socks(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (!strncmp(de->d_name, "node", 4) && l > 5 &&
		    !strcmp(de->d_name + l - 5, ".sock"))
			n++;
	}
	closedir(d);
	return n;
}

static inline void h_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* A private temporary directory; path must hold 64 bytes. */
static inline void h_mkdtemp(char *path)
{
	snprintf(path, 64, "/tmp/sonuma-test-XXXXXX");
	cr_assert_not_null(mkdtemp(path), "mkdtemp: %s", strerror(errno));
}

/* ---- a barrier across processes --------------------------------------- */
struct h_barrier {
	uint32_t n, count, gen;
};

/* In memory shared with the children: create before fork. */
static inline void *h_shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	return p;
}

/* 0 when all n arrived, -ETIMEDOUT after ms (a sibling died). */
static inline int h_barrier_wait(struct h_barrier *b, unsigned ms)
{
	uint32_t gen = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);
	uint64_t end = h_now_ms() + ms;

	if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == b->n) {
		__atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&b->gen, gen + 1, __ATOMIC_RELEASE);
		return 0;
	}
	while (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == gen) {
		if (h_now_ms() > end)
			return -ETIMEDOUT;
		h_sleep_ms(1);
	}
	return 0;
}

/* ---- an rmcd of the test's own ---------------------------------------- */
struct h_rmcd {
	pid_t pid; /* -1 when not running (or reaped) */
	uint32_t nodes;
	char dir[64]; /* private temporary directory */
	char run[96]; /* its run directory (dir/run) */
	char conf[96];
	char log[96]; /* rmcd's stdout and stderr */
};

/* Starts rmcd -c conf -r run followed by the NULL-terminated args. */
static inline pid_t h_rmcd_spawn_args(struct h_rmcd *r, const char *const args[])
{
	const char *rmcd = h_env("RMCD");
	char *argv[16] = { (char *)rmcd, "-c", r->conf, "-r", r->run };
	int n = 5, lfd = open(r->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	pid_t pid;

	cr_assert_geq(lfd, 0, "%s: %s", r->log, strerror(errno));
	for (int i = 0; args && args[i]; i++) {
		cr_assert_lt(n, 15);
		argv[n++] = (char *)args[i];
	}
	argv[n] = NULL;
	pid = h_exec(rmcd, argv, lfd, lfd, NULL);
	close(lfd);
	return pid;
}

/* Starts rmcd -c conf -r run [extra]. */
static inline pid_t h_rmcd_spawn(struct h_rmcd *r, const char *extra)
{
	const char *args[] = { extra, NULL };

	return h_rmcd_spawn_args(r, args);
}

/* Declared by libsonuma (sonuma.h); repeated here so that the harness does
 * not depend on the include order. */
int kal_open(char *kal_name);
int kal_close(int fd);

/* Waits until every node socket answers a HELLO.  Fails the test with
 * rmcd's log when rmcd exits or does not come up in time. */
static inline void h_rmcd_wait_ready(struct h_rmcd *r, unsigned ms)
{
	uint64_t end = h_now_ms() + ms;
	char path[160], log[8192];
	int st;

	for (uint32_t n = 0; n < r->nodes; n++) {
		snprintf(path, sizeof(path), "%s/node%u.sock", r->run, n);
		for (;;) {
			int fd = kal_open(path);
			if (fd >= 0) {
				kal_close(fd);
				break;
			}
			if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
				r->pid = -1;
				h_slurp(r->log, log, sizeof(log));
				cr_assert_fail(
					"rmcd exited while starting (status 0x%x); its log:\n%s",
					st, log);
			}
			if (h_now_ms() > end) {
				h_slurp(r->log, log, sizeof(log));
				cr_assert_fail(
					"rmcd: node %u not answering after %u ms; its log:\n%s", n,
					ms, log);
			}
			h_sleep_ms(5);
		}
	}
}

/* A fresh directory, a config from text, rmcd started and ready, and
 * SONUMA_RUNDIR pointing at it for this process and its children. */
static inline void h_rmcd_start(struct h_rmcd *r, uint32_t nodes, const char *conf_text)
{
	memset(r, 0, sizeof(*r));
	r->pid = -1;
	r->nodes = nodes;
	h_mkdtemp(r->dir);
	snprintf(r->run, sizeof(r->run), "%s/run", r->dir);
	snprintf(r->conf, sizeof(r->conf), "%s/rmc.conf", r->dir);
	snprintf(r->log, sizeof(r->log), "%s/rmcd.log", r->dir);
	h_write_file(r->conf, conf_text);
	setenv("SONUMA_RUNDIR", r->run, 1);
	r->pid = h_rmcd_spawn(r, NULL);
	h_rmcd_wait_ready(r, 20000);
}

/* Starts another rmcd on the same directory and config. */
static inline void h_rmcd_restart(struct h_rmcd *r)
{
	cr_assert_eq(r->pid, -1, "the previous rmcd is still running");
	r->pid = h_rmcd_spawn(r, NULL);
	h_rmcd_wait_ready(r, 20000);
}

/* Kills rmcd with sig and reaps it; returns its wait status. */
static inline int h_rmcd_kill(struct h_rmcd *r, int sig, unsigned ms)
{
	int st = 0;
	char log[8192];

	if (r->pid <= 0)
		return 0;
	kill(r->pid, sig);
	if (h_wait(r->pid, ms, &st)) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, &st, 0);
		r->pid = -1;
		h_slurp(r->log, log, sizeof(log));
		cr_assert_fail("rmcd did not exit within %u ms of signal %d; its log:\n%s", ms, sig,
			       log);
	}
	r->pid = -1;
	return st;
}

/* For fixtures: whatever state the test left, rmcd dies and the directory
 * goes.  Never asserts. */
static inline void h_rmcd_cleanup(struct h_rmcd *r)
{
	if (r->pid > 0) {
		kill(r->pid, SIGCONT);
		kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
		r->pid = -1;
	}
	if (r->dir[0])
		h_rm_rf(r->dir);
	r->dir[0] = 0;
}

/* A suite whose tests share one rmcd of nodes nodes started from the
 * config text conf: R, and start/stop as its fixtures; the rest of the
 * arguments are TestSuite's (.timeout = ...). */
#define H_RMCD_SUITE(name, nodes, conf, ...)   \
	static struct h_rmcd R;                \
	static void start(void)                \
	{                                      \
		h_rmcd_start(&R, nodes, conf); \
	}                                      \
	static void stop(void)                 \
	{                                      \
		h_rmcd_cleanup(&R);            \
	}                                      \
	TestSuite(name, .init = start, .fini = stop, __VA_ARGS__)

static inline bool h_rmcd_alive(struct h_rmcd *r)
{
	int st;

	if (r->pid <= 0)
		return false;
	if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
		r->pid = -1;
		return false;
	}
	return true;
}

#endif /* SONUMA_TEST_HARNESS_H */
