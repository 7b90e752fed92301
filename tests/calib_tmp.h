/* SPDX-License-Identifier: MIT */
/*
 * What the calibration suites (test_calib.c, test_calib_check.c) share: a
 * private directory per suite under /tmp, named by CALIB_TMP_PREFIX, for
 * the files they write; a program run with its output into a log there;
 * and a comparison of figures that went through a file.
 */
#ifndef SONUMA_TEST_CALIB_TMP_H
#define SONUMA_TEST_CALIB_TMP_H

#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* Runs prog with args (NULL-terminated), its output into tmpdir/log_name;
 * returns its exit status, or -1 when it did not exit. */
static inline int run_logged(const char *prog, const char *log_name, const char *const *args)
{
	const char *argv[24];
	char log[128];
	int n = 0, status;
	pid_t pid;

	tmp_path(log, sizeof(log), log_name);
	argv[n++] = prog;
	while (*args && n < 23)
		argv[n++] = *args++;
	argv[n] = NULL;
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#endif
