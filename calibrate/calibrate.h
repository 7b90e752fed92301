/* SPDX-License-Identifier: MIT */
/*
 * sonuma-calibrate: the probes that measure this machine's own costs and the
 * summary they print.  One file per concern: stats.c (percentiles and the
 * repeat-until-tight rule), papi.c (hardware counters where there are any),
 * probe_tsc.c, probe_c2c.c (cache-line ping-pong), probe_mem.c (pointer
 * chase and copy bandwidth), probe_agent.c (the minimal polling agent, the
 * baseline), probe_floor.c (the emulator's floor through a real rmcd),
 * probe_rounds.c (the round trip and the 64-byte floor again, in turn, and
 * the sanity check between them), check.c (--check --probe), report.c (the
 * summary), main.c (the command line).
 *
 * Probes return 0 or a negative errno with a message in err; they never exit.
 */
#ifndef SONUMA_CALIBRATE_H
#define SONUMA_CALIBRATE_H

#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "calib.h"
#include "sonuma/qp.h"

#define CAL_MAX_CPUS 1024
#define CAL_COPY_SIZES 8
#define CAL_FLOOR_SIZES 8
#define CAL_MAX_NOTES 24
#define CAL_RUNS 3	      /* a probe too noisy is run at most this often */
#define CAL_PP_WINDOWS 3      /* ping-pong windows apart in time (full mode) */
#define CAL_FAB_MAX_WINDOW 64 /* --outstanding at most */
#define CAL_AGENT_SIZES 6     /* the agent's floor: 64 B to 64 KiB */
#define CAL_AGENT_REPEATS 7   /* of the agent's rate (full mode) */
#define CAL_ROUNDS 5	      /* interleaved rounds of round trip and floor (full mode) */
#define CAL_QUICK_ROUNDS 3
#define CAL_ROUND_GAP_MS 50 /* between rounds: they see the machine at other moments */
/* The 64-byte floor in round trips (of the pair rmcd uses) above which the
 * machine looked disturbed: see probe_rounds.c. */
#define CAL_FLOOR_PER_RTT_MAX 3.5
/* Medians of the rounds further apart than this (largest / smallest): the
 * machine moved under the probes. */
#define CAL_ROUNDS_MAX_SPREAD 1.5

/* ---- statistics ---------------------------------------------------------- */

struct cal_stats {
	size_t n; /* samples of the run kept */
	double median, p10, p90, min, p99, max;
	double spread; /* p90 / p10 */
	unsigned runs; /* runs made (1 .. CAL_RUNS) */
	bool noisy;    /* still above its limit after CAL_RUNS runs */
};

/* Sorts v and fills st (runs = 1). */
void cal_stats_of(double *v, size_t n, struct cal_stats *st);
/* Percentile p (0..100) of n sorted values, nearest rank. */
double cal_pct(const double *sorted, size_t n, double p);

/* One run of a probe: fills samples[0..n) and returns 0, or a negative
 * errno with a message in err. */
typedef int (*cal_run_fn)(void *arg, double *samples, size_t n, char *err, size_t errlen);

/* Runs fn; while p90/p10 of its samples is above max_spread, runs it again
 * (CAL_RUNS in all) and keeps the tightest run. */
int cal_measure(cal_run_fn fn, void *arg, size_t n, double max_spread, struct cal_stats *st,
		char *err, size_t errlen);

/* A budgeted measurement: n_est samples of fn first (warm-up, and an
 * estimate of one's cost), then cal_measure with as many as fit budget_ns,
 * between min_n and max_n. */
struct cal_budget {
	size_t n_est, min_n, max_n;
	double budget_ns, max_spread;
};
int cal_measure_budget(cal_run_fn fn, void *arg, const struct cal_budget *b, struct cal_stats *st,
		       char *err, size_t errlen);

/* ---- hardware counters ------------------------------------------------- */

#define CAL_PAPI_EVENTS 2

struct cal_papi {
	bool ok;  /* counters usable */
	bool lib; /* the library is initialised */
	int evset;
	int n;				    /* events in the set */
	const char *names[CAL_PAPI_EVENTS]; /* e.g. PAPI_TOT_CYC, PAPI_L3_TCM */
	char why[160];			    /* why not, when !ok */
};

/* What a probe counted, per operation of the probe. */
struct cal_counts {
	bool valid;
	double per_op[CAL_PAPI_EVENTS];
};

/* Initialises PAPI for the calling thread and checks by starting and
 * stopping the event set that the counters really count. */
void cal_papi_init(struct cal_papi *p);
/* Counting happens in the thread that called cal_papi_init. */
void cal_papi_start(struct cal_papi *p);
/* Stops and divides by ops into out (out->valid false without counters). */
void cal_papi_stop(struct cal_papi *p, double ops, struct cal_counts *out);
void cal_papi_fini(struct cal_papi *p);

/* ---- the calibration run ----------------------------------------------- */

struct cal_opts {
	bool quick;
	bool floor;	  /* measure the emulator's floor */
	bool probe;	  /* --check --probe: measure again and compare */
	bool force;	  /* go on without an invariant TSC */
	const char *rmcd; /* --rmcd PATH, or NULL to search */
	/* --fabric FILE: the fabric to a peer instead of this machine */
	const char *fabric;
	int node;	      /* --node, or -1: from FILE or this host's address */
	int peer;	      /* --peer, or -1: the other node of two */
	unsigned outstanding; /* --outstanding: the bandwidth's window */
};

/* How a pair of CPUs was chosen for a cell of the ping-pong matrix. */
enum cal_pair_kind {
	CAL_PAIR_SAME,	   /* two CPUs of the domain (the diagonal) */
	CAL_PAIR_CROSS,	   /* a CPU of each domain */
	CAL_PAIR_BORROWED, /* diagonal of a one-CPU domain: against the nearest domain */
	CAL_PAIR_NONE,	   /* not measured (no CPU to run on) */
};

struct cal_ctx {
	struct cal_opts opt;
	struct cal_papi papi;
	cpu_set_t allowed; /* the affinity we started with */
	int ndom;
	int ncpus[CAL_MAX_DOMAINS]; /* allowed CPUs per domain */
	int cpus[CAL_MAX_DOMAINS][CAL_MAX_CPUS];
	double hz; /* TSC rate, once measured */

	struct cal_data d; /* what goes into the file */

	/* what the summary prints besides */
	struct cal_stats tsc_hz, tsc_read;
	double tsc_spread_ppm; /* (max - min) / median of the rate */
	unsigned tsc_runs;
	struct cal_stats rtt[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS];
	enum cal_pair_kind rtt_kind[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS];
	int rtt_cpu[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS][2];
	/* [a][b] with a <= b: each window's figures, in time order */
	struct cal_stats rtt_win[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS][CAL_PP_WINDOWS];
	unsigned rtt_nwin;
	struct cal_counts rtt_hw;
	struct cal_stats load[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS];
	struct cal_counts load_hw;
	size_t chase_bytes;
	size_t llc_bytes; /* as the machine reports it; 0 unknown */
	bool chase_thp;	  /* transparent huge pages requested */
	size_t copy_size[CAL_COPY_SIZES];
	unsigned n_copy;
	struct cal_stats copy[CAL_MAX_DOMAINS][CAL_MAX_DOMAINS][CAL_COPY_SIZES];
	struct cal_counts copy_hw;
	struct cal_stats floor[CAL_FLOOR_SIZES];
	bool floor_done;
	char floor_rmcd[4096]; /* the rmcd binary used */
	char floor_model[32];
	int floor_cpu; /* where this program ran, -1 unpinned */
	/* --fabric: what goes into the file's section, and the summary's */
	struct cal_fabric fab;
	struct cal_stats fab_lat[2][CAL_MAX_SIZES]; /* [CAL_FAB_READ/WRITE][size] */
	size_t fab_bw_ops[2][CAL_MAX_SIZES];
	bool fab_done;
	uint32_t fab_self, fab_peer;
	char fab_conf[4096];
	int fab_cpu;
	/* the minimal agent */
	bool agent_done;
	int agent_cpu[2]; /* the poster's, the agent's */
	uint64_t agent_src_bytes;
	double agent_rates[CAL_AGENT_REPEATS]; /* Mops, in time order */
	unsigned agent_nrates;
	struct cal_stats agent_floor[CAL_AGENT_SIZES][2]; /* [size][0 in cache, 1 beyond] */
	/* the interleaved rounds: each one's round trip, then 64 B floor */
	unsigned n_rounds;
	struct cal_stats round_rtt[CAL_MAX_ROUNDS], round_floor[CAL_MAX_ROUNDS];
	int round_cpu[2];
	char notes[CAL_MAX_NOTES][200];
	unsigned n_notes;
	double elapsed_s;
	double took_s[7]; /* per probe, in the order below */
};

enum { CAL_T_TSC, CAL_T_C2C, CAL_T_LOAD, CAL_T_COPY, CAL_T_AGENT, CAL_T_FLOOR, CAL_T_ROUNDS };

/* Adds a line to the summary's notes (and prints nothing now). */
void cal_note(struct cal_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The probes, in the order main runs them. */
int cal_probe_tsc(struct cal_ctx *x, char *err, size_t errlen);
int cal_probe_c2c(struct cal_ctx *x, char *err, size_t errlen);
int cal_probe_load(struct cal_ctx *x, char *err, size_t errlen);
int cal_probe_copy(struct cal_ctx *x, char *err, size_t errlen);
/* The rmcd to measure the floor with: --rmcd PATH; else ../rmcd/rmcd next
 * to this program (the build tree) or rmcd beside it (an install); else
 * rmcd in $PATH. */
int cal_find_rmcd(const struct cal_opts *o, char *out, size_t len, char *err, size_t errlen);
/* Returns -EINTR when interrupted by SIGINT/SIGTERM (after cleaning up). */
int cal_probe_floor(struct cal_ctx *x, char *err, size_t errlen);
/* The minimal agent: rate and floor per size (x->rtt_cpu[0][0]'s CPUs). */
int cal_probe_agent(struct cal_ctx *x, char *err, size_t errlen);
/* After the floor: rounds of the round trip of domain 0 and the 64-byte
 * floor in turn; the middle of all their repeats becomes the figure. */
int cal_probe_rounds(struct cal_ctx *x, char *err, size_t errlen);
/* The spread of every probe into x->d, and the sanity check between round
 * trip and floor (x->d.disturbed, with a note). */
void cal_sanity(struct cal_ctx *x);

/* One window of n ping-pong samples between cpu_a (this thread) and cpu_b. */
int cal_rtt_window(struct cal_ctx *x, int cpu_a, int cpu_b, size_t n, struct cal_stats *st,
		   char *err, size_t errlen);

/* An rmcd with the none model and two nodes, for probes after the floor's. */
struct cal_rig;
int cal_rig_start(struct cal_ctx *x, struct cal_rig **out, char *err, size_t errlen);
/* n synchronous reads of size bytes through it, from a session of node 0
 * opened for them and closed after (its RMC thread then sleeps again),
 * this thread on the CPU rmcd gives node 0 (into *cpu). */
int cal_rig_floor(struct cal_ctx *x, struct cal_rig *g, uint64_t size, size_t n,
		  struct cal_stats *st, int *cpu, char *err, size_t errlen);
void cal_rig_stop(struct cal_rig *g);

/* --check --probe: measures the round trip of domain 0 and (with an rmcd)
 * the 64-byte floor again in a few rounds, and compares c's figures with
 * them.  0 when they match, 1 (saying which and by how much) otherwise. */
int cal_check_probe(struct cal_ctx *x, const char *path, const struct cal_data *c);

/* ---- an rmcd of the probe's own (probe_floor.c) -------------------------- */

/* Set by SIGINT/SIGTERM between cal_catch_signals and cal_release_signals,
 * so that a probe stops its rmcd and removes its run directory first. */
extern volatile sig_atomic_t cal_stop;
struct cal_sigs {
	struct sigaction intr, term;
};
void cal_catch_signals(struct cal_sigs *old);
void cal_release_signals(const struct cal_sigs *old);
void cal_sleep_ms(unsigned ms);

struct cal_rmcd {
	pid_t pid;
	char dir[128]; /* its private run directory */
	char log[160]; /* what it says, in dir */
	char path[PATH_MAX];
};

/* The rmcd to measure (x->floor_rmcd, found once) started with conf and
 * args as cal_rmcd_start does, and waited for until the nodes of the mask
 * are up.  0, or -errno with a message in err. */
int cal_rmcd_up(struct cal_ctx *x, struct cal_rmcd *p, const char *conf, const char *const *args,
		uint64_t nodes, char *err, size_t errlen);
/* Starts rmcd (p->path) on a new run directory, with no calibration file
 * and the whole machine's CPUs: "rmcd -r DIR [-c DIR/rmc.conf] ARGS...",
 * conf (a config text) written into DIR when given. */
int cal_rmcd_start(struct cal_ctx *x, struct cal_rmcd *p, const char *conf, const char *const *args,
		   char *err, size_t errlen);
/* Waits until the sockets of the nodes in the mask exist; -ECHILD with
 * rmcd's last error when it exited first, -EINTR when interrupted. */
int cal_rmcd_wait(struct cal_rmcd *p, uint64_t nodes, char *err, size_t errlen);
/* Attaches to node of that rmcd as its application: the kal descriptor,
 * or -errno with err set (-EINTR when interrupted). */
int cal_rmcd_attach(struct cal_rmcd *p, uint32_t node, char *err, size_t errlen);
/* Adds to err what became of rmcd and the last error it logged. */
void cal_rmcd_explain(struct cal_rmcd *p, char *err, size_t errlen);
/* Stops it (SIGTERM, then SIGKILL) and removes its run directory. */
void cal_rmcd_stop(struct cal_rmcd *p);

/* The fabric between this host and a peer (probe_fabric.c): x->opt.fabric,
 * node and peer; fills x->fab.  -EINTR when interrupted. */
int cal_probe_fabric(struct cal_ctx *x, char *err, size_t errlen);

/* Writes a pattern to node through rmcd and reads it back into lbuff + at
 * (len bytes each way): the path really moves data.  0, or -errno with a
 * message in err. */
int cal_check_path(rmc_wq_t *wq, rmc_cq_t *cq, uint8_t *lbuff, uint32_t node, uint64_t at,
		   uint64_t len, char *err, size_t errlen);

struct kal_info;

/* A probe's queue pair (probe_floor.c). */
struct cal_qp {
	rmc_wq_t *wq;
	rmc_cq_t *cq;
	uint8_t *lbuff;
	uint64_t top;	/* the largest size rmcd allows, of those asked for */
	uint64_t pages; /* of lbuff: two halves of at least max(top, 4 KiB) */
	int cpu;	/* where this thread now runs, or -1 */
};

/* Runs this thread on the first CPU rmcd gives node self, takes the
 * largest of sizes[0..n) that rmcd allows, registers a queue pair and a
 * buffer on fd, and checks the path to node target through them.  0, or
 * -errno with a message in err. */
int cal_probe_qp(int fd, const struct kal_info *info, uint32_t self, uint32_t target,
		 const uint64_t *sizes, unsigned n, struct cal_qp *q, char *err, size_t errlen);

/* Prints the summary of what was measured. */
void cal_report(const struct cal_ctx *x);
/* Prints the summary of a fabric measurement. */
void cal_report_fabric(const struct cal_ctx *x);

/* A CPU of domain d to run a probe from, or -1 when it has none. */
int cal_domain_cpu(const struct cal_ctx *x, int d);

#endif /* SONUMA_CALIBRATE_H */
