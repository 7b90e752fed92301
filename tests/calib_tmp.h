/* SPDX-License-Identifier: MIT */
/*
 * What the calibration suites (test_calib.c, test_calib_check.c) share: a
 * private directory per suite under /tmp, named by CALIB_TMP_PREFIX, for
 * the files they write; a program run with its output into a log there;
 * a comparison of figures that went through a file; and the figures their
 * sample calibrations start from.
 */
#ifndef SONUMA_TEST_CALIB_TMP_H
#define SONUMA_TEST_CALIB_TMP_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "calib.h"

#ifndef CALIB_TMP_PREFIX
#error "define CALIB_TMP_PREFIX (\"/tmp/NAME-\") before including calib_tmp.h"
#endif

static char tmpdir[64];

static void make_tmp(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "%sXXXXXX", CALIB_TMP_PREFIX);
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmp(void)
{
	char cmd[128];

	/* Only ever the directory made above. */
	if (!strncmp(tmpdir, CALIB_TMP_PREFIX, strlen(CALIB_TMP_PREFIX))) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		cr_expect_eq(system(cmd), 0);
	}
}

static void tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static inline void expect_close(double a, double b, const char *what)
{
	cr_expect(fabs(a - b) <= 1e-9 * fabs(b), "%s: %.17g != %.17g", what, a, b);
}

/* The whole of a small text file (a static buffer, until the next call). */
static inline char *slurp(const char *path)
{
	static char text[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

/* The log tmpdir/name of a program run here. */
static inline const char *log_of(const char *name)
{
	char log[128];

	tmp_path(log, sizeof(log), name);
	return slurp(log);
}

static inline void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

/* Starts argv[0] with argv (NULL-terminated), its output into
 * tmpdir/log_name; returns its pid. */
static inline pid_t spawn_logged(const char *const *argv, const char *log_name)
{
	char log[128];
	pid_t pid;

	tmp_path(log, sizeof(log), log_name);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Runs prog with args (NULL-terminated), its output into tmpdir/log_name;
 * returns its exit status, or -1 when it did not exit. */
static inline int run_logged(const char *prog, const char *log_name, const char *const *args)
{
	const char *argv[24];
	int n = 0, status;
	pid_t pid;

	argv[n++] = prog;
	while (*args && n < 23)
		argv[n++] = *args++;
	argv[n] = NULL;
	pid = spawn_logged(argv, log_name);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* c saved as tmpdir/name and loaded back into d; returns the file's text. */
static inline const char *save_load(const struct cal_data *c, struct cal_data *d, const char *name)
{
	char path[128], err[512];

	tmp_path(path, sizeof(path), name);
	cr_assert_eq(cal_save(path, c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cal_load(path, d, err, sizeof(err)), 0, "%s", err);
	return slurp(path);
}

/* Two domains, a different figure in every cell of the four tables, the
 * TSC, and floors for 64 B and 4 KiB; the identity is the caller's. */
static inline void calib_figures(struct cal_data *c)
{
	memset(c, 0, sizeof(*c));
	c->version = CAL_FORMAT_VERSION;
	c->id.domains = 2;
	c->domains = 2;
	c->tsc_hz = 2445406123.0;
	c->tsc_read_ns = 11.83;
	c->tsc_invariant = true;
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++) {
			c->rtt_ns[i][j] = 80.25 + 100 * i + 10 * j;
			c->notify_ns[i][j] = c->rtt_ns[i][j] / 2;
			c->load_ns[i][j] = 95.5 + 50 * i + 7 * j;
			c->copy_gbps[i][j] = 8.125 - i - 0.5 * j;
		}
	c->n_floor = 2;
	c->floor_size[0] = 64, c->floor_ns[0] = 240.1, c->floor_p99_ns[0] = 350.2;
	c->floor_size[1] = 4096, c->floor_ns[1] = 290.3, c->floor_p99_ns[1] = 401.4;
}

#endif
