/* SPDX-License-Identifier: MIT */
#include <cpuid.h>
#include <time.h>

#include "core.h"
#include "sonuma/tsc.h"

uint64_t core_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int core_tsc_invariant(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000007)
		return 0;
	__get_cpuid(0x80000007, &a, &b, &c, &d);
	return (d >> 8) & 1;
}

/* One TSC/clock pair read as close together as the machine allows: the
 * clock read bracketed by two TSC reads, keeping the tightest bracket. */
static void tsc_pair(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < 16; i++) {
		uint64_t t0 = rmc_rdtsc();
		uint64_t n = core_mono_ns();
		uint64_t t1 = rmc_rdtsc();

		if (t1 - t0 < best) {
			best = t1 - t0;
			*tsc = t0 + (t1 - t0) / 2;
			*ns = n;
		}
	}
}

double core_tsc_measure_hz(unsigned ms)
{
	uint64_t t0 = 0, n0 = 0, t1 = 0, n1 = 0;
	struct timespec req = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	tsc_pair(&t0, &n0);
	nanosleep(&req, NULL);
	tsc_pair(&t1, &n1);
	if (n1 <= n0 || t1 <= t0)
		return 0;
	return (double)(t1 - t0) * 1e9 / (double)(n1 - n0);
}
