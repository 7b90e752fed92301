/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by rmcd, libsonuma and the tools: logging, the TSC clock,
 * shared-memory segments, the control-socket helpers and NUMA placement.
 * Functions return 0 (or a count) on success and a negative errno on failure.
 */
#ifndef SONUMA_CORE_H
#define SONUMA_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CORE_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CORE_ALIGN_UP(x, a) ((((x) + (a)-1) / (a)) * (a))

/* ---- logging ---------------------------------------------------------- */
enum core_log_level { CORE_LOG_ERR, CORE_LOG_WARN, CORE_LOG_INFO, CORE_LOG_DEBUG };

/* Prints "prog: level: message" on stderr when level <= the threshold set
 * with core_log_init() (default INFO; SONUMA_LOG=debug|info|warn|err). */
void core_log_init(const char *prog);
void core_log(enum core_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define core_err(...) core_log(CORE_LOG_ERR, __VA_ARGS__)
#define core_warn(...) core_log(CORE_LOG_WARN, __VA_ARGS__)
#define core_info(...) core_log(CORE_LOG_INFO, __VA_ARGS__)
#define core_dbg(...) core_log(CORE_LOG_DEBUG, __VA_ARGS__)

/* ---- time ------------------------------------------------------------- */
/* CLOCK_MONOTONIC_RAW in nanoseconds. */
uint64_t core_mono_ns(void);
/* Measures the TSC rate against CLOCK_MONOTONIC_RAW over about ms
 * milliseconds; returns Hz, or 0 when the TSC is unusable. */
double core_tsc_measure_hz(unsigned ms);
/* 1 when the CPU reports an invariant TSC (CPUID 0x80000007 EDX bit 8). */
int core_tsc_invariant(void);
static inline double core_tsc_to_ns(uint64_t ticks, double hz)
{
	return (double)ticks * 1e9 / hz;
}
static inline uint64_t core_ns_to_tsc(double ns, double hz)
{
	return (uint64_t)(ns * hz / 1e9 + 0.5);
}

/* ---- log-linear histograms ------------------------------------------ */
/* Bucket math of a histogram with sub = 2^bits buckets per power of two:
 * values below sub count exactly, then value v counts in bucket
 * (log2(v) - bits + 1) sub + (the bits below v's top bit); values beyond
 * the last of n buckets count in it.  Header-inline: the RMC counts every
 * request's latency with it. */
static inline unsigned core_hist_bucket(uint64_t v, unsigned bits, unsigned n)
{
	unsigned e, b;

	if (v < (1ull << bits))
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v); /* >= bits */
	b = ((e - bits + 1) << bits) + (unsigned)((v >> (e - bits)) & ((1ull << bits) - 1));
	return b < n ? b : n - 1;
}
/* The lowest value of bucket b. */
static inline uint64_t core_hist_low(unsigned b, unsigned bits)
{
	unsigned e;

	if (b < (1u << bits))
		return b;
	e = (b >> bits) - 1 + bits;
	return ((1ull << bits) + (b & ((1u << bits) - 1))) << (e - bits);
}
/* How many values bucket b holds. */
static inline uint64_t core_hist_width(unsigned b, unsigned bits)
{
	return b < (1u << bits) ? 1 : 1ull << ((b >> bits) - 1);
}

/* ---- mixing ------------------------------------------------------------ */
/* splitmix64's finaliser: a good 64-bit mix, for seeds, tags and hashes. */
static inline uint64_t core_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* ---- shared-memory segments ------------------------------------------ */
/* A sealed memfd of size bytes (cannot shrink or grow once created). */
int core_shm_create(const char *name, size_t size, int *fd_out);
/* Maps fd shared read-write, every page populated (no page fault later);
 * returns NULL and sets errno on failure. */
void *core_shm_map(int fd, size_t size);
/* The same without populating: for memory whose placement must be set
 * (core_numa_bind) before its pages exist. */
void *core_shm_map_lazy(int fd, size_t size);
/* Size of the object behind fd, or a negative errno. */
ssize_t core_fd_size(int fd);

/* ---- control socket helpers ------------------------------------------ */
/* Sends len bytes in one message, with fd attached when fd >= 0. */
int core_send_msg(int sock, const void *buf, size_t len, int fd);
/* Receives exactly len bytes in one message; an attached fd goes to *fd
 * (or -1).  Returns 0, -EPIPE when the peer closed, or a negative errno. */
int core_recv_msg(int sock, void *buf, size_t len, int *fd);
/* Connects to the control socket at path (a node's, in a run directory).
 * Returns the socket, or a negative errno (-ENOENT, -ECONNREFUSED: nobody
 * serves it). */
int core_sock_connect(const char *path);

/* ---- NUMA placement ---------------------------------------------------- */
/* Number of NUMA domains (1 where libnuma reports none). */
int core_numa_domains(void);
/* CPUs of a domain, lowest first; returns the count (<= max) or -errno. */
int core_numa_cpus(int domain, int *cpus, int max);
/* Binds [addr, addr+len) to domain (before first touch). */
int core_numa_bind(void *addr, size_t len, int domain);
/* Domain of the page at addr, or a negative errno. */
int core_numa_page_node(void *addr);
/* NUMA domain of a CPU (0 without libnuma), or a negative errno. */
int core_cpu_domain(int cpu);
/* Pins the calling thread to one CPU. */
int core_pin_cpu(int cpu);

/* ---- misc ------------------------------------------------------------- */
/* FNV-1a: a 64-bit digest of len bytes, to compare settings across
 * processes (not for security). */
uint64_t core_hash64(const void *buf, size_t len);
/* Parses a whole unsigned number in [min, max], in base as strtoull reads
 * it (0: decimal, 0x hex or 0 octal), without a sign: 0, -EINVAL when s is
 * not one (or does not fit 64 bits), -ERANGE outside [min, max]; *out is
 * untouched on failure. */
int core_parse_uint(const char *s, int base, uint64_t min, uint64_t max, uint64_t *out);
/* The same in decimal. */
int core_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* The default run directory: $SONUMA_RUNDIR, else /tmp/sonuma-<uid>. */
void core_default_rundir(char *buf, size_t len);
/* Writes "<rundir>/node<nid>.sock" into buf. */
int core_node_sock_path(char *buf, size_t len, const char *rundir, unsigned nid);

#endif /* SONUMA_CORE_H */
