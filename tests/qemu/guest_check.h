/* SPDX-License-Identifier: MIT */
/*
 * What the guest's test programs (kmod_test, kmod_rmcd_test) share: a
 * failed check's line "=== GUEST: FAIL NAME: WHY", which the host's
 * guest_verdict (guest.sh) reads, and the count of failures for the exit
 * status.
 */
#ifndef SONUMA_GUEST_CHECK_H
#define SONUMA_GUEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int failures;

static void fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("=== GUEST: FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	failures++;
}

#endif
