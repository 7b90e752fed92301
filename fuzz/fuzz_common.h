/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the libFuzzer harnesses: checks that abort with a
 * message (libFuzzer then saves the input), guarded mappings, and a count
 * of open descriptors.
 */
#ifndef SONUMA_FUZZ_COMMON_H
#define SONUMA_FUZZ_COMMON_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "explib.h"

/* A failed check is a finding: say what failed, then abort so that
 * libFuzzer reports a crash and writes the input out. */
#define FZ_CHECK(cond, ...)                                                                  \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "\n%s:%d: check failed: %s\n  ", __FILE__, __LINE__, \
				#cond);                                                      \
			fprintf(stderr, __VA_ARGS__);                                        \
			fputc('\n', stderr);                                                 \
			abort();                                                             \
		}                                                                            \
	} while (0)

/* Inaccessible space on each side of a guarded mapping.  One page would
 * catch a copy that runs one byte over; a megabyte of address space (it
 * costs no memory) also catches one that starts well past the end. */
#define FZ_GUARD (1u << 20)

/* Maps size bytes of fd shared read-write, populated, with FZ_GUARD bytes
 * of PROT_NONE right before and right after.  ASan does not track mmap'd
 * memory, so these guards are what turn an out-of-bounds copy into a
 * fault.  size must be a multiple of the page size. */
static inline void *fz_map_guarded(int fd, size_t size)
{
	size_t total = size + 2 * (size_t)FZ_GUARD;
	uint8_t *r =
		mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	void *p;

	if (r == MAP_FAILED)
		return NULL;
	p = mmap(r + FZ_GUARD, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE,
		 fd, 0);
	if (p == MAP_FAILED) {
		munmap(r, total);
		return NULL;
	}
	return p;
}

static inline void fz_unmap_guarded(void *p, size_t size)
{
	munmap((uint8_t *)p - FZ_GUARD, size + 2 * (size_t)FZ_GUARD);
}

/* Open descriptors of this process (the directory's own is not counted). */
static inline int fz_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/* Mappings of memfd segments in this process: a segment unmapped too late
 * or never shows here, not in the descriptor count. */
static inline int fz_count_memfd_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "/memfd:"))
			n++;
	fclose(f);
	return n;
}

/* What a harness holds: open descriptors and segment mappings. */
struct fz_held {
	int fds, maps;
};

static inline struct fz_held fz_held_now(void)
{
	return (struct fz_held){ fz_count_fds(), fz_count_memfd_maps() };
}

/* Nothing opened or mapped since before (what: since when) is left. */
static inline void fz_check_released(struct fz_held before, const char *what)
{
	struct fz_held now = fz_held_now();

	FZ_CHECK(now.fds == before.fds, "%d descriptors open before %s, %d after", before.fds, what,
		 now.fds);
	FZ_CHECK(now.maps == before.maps, "%d segment mappings before %s, %d after", before.maps,
		 what, now.maps);
}

/* The reference contents of the harnesses' memory: explib's random stream
 * from seed, one byte per draw. */
static inline void fz_fill(uint8_t *p, size_t n, uint64_t seed)
{
	struct exp_rng r = { seed | 1 };

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(exp_rng_next(&r) >> 56);
}

#endif /* SONUMA_FUZZ_COMMON_H */
