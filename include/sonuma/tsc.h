/* SPDX-License-Identifier: MIT */
/*
 * The time-stamp counter: the one clock of the hot path.  Conversion to
 * nanoseconds always uses a measured rate (core_tsc_hz() or the calibration
 * file), never a hard-coded frequency.
 */
#ifndef SONUMA_TSC_H
#define SONUMA_TSC_H

#include <stdint.h>

static inline uint64_t rmc_rdtsc(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __builtin_ia32_rdtsc();
#elif defined(__aarch64__)
	uint64_t v;
	__asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(v));
	return v;
#else
#error "sonuma needs a constant-rate cycle counter on this architecture"
#endif
}

#endif /* SONUMA_TSC_H */
