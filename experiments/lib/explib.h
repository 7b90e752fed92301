/* SPDX-License-Identifier: MIT */
/*
 * explib: what the experiment programs (sonuma-bench, sonuma-soak, the
 * bench_* programs, sonuma-run) and the applications (sonuma-kv,
 * sonuma-pagerank) share: their command lines read from tables of
 * options, number parsing, the output formats (the table/CSV/JSON choice,
 * JSON and CSV fields, the command line and date every result records),
 * statistics (percentiles of sorted samples, a log-linear histogram), one
 * random stream and the CPUs of a node.
 *
 * Functions return 0 or a negative errno and print nothing (but the option
 * reader, which says what is wrong in each program's words); the programs
 * turn errors into their own messages.
 */
#ifndef SONUMA_EXPLIB_H
#define SONUMA_EXPLIB_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core.h"

struct kal_info;

/* ---- numbers -------------------------------------------------------------- */

/*
 * A whole unsigned number in [min, max] into *v: decimal, 0x hex or
 * 0 octal, as the experiments have always taken them (core_parse_u64 takes
 * decimal only).  No sign, no white space, nothing after the digits.
 * 0, -EINVAL when s is not such a number (or does not fit 64 bits), or
 * -ERANGE when it is outside [min, max].  *v is untouched on failure.
 */
int exp_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v);

/* A finite number in [min, max] (as strtod reads it) into *v: 0, -EINVAL or
 * -ERANGE, as exp_parse_u64. */
int exp_parse_double(const char *s, double min, double max, double *v);

/* ---- options ------------------------------------------------------------- */

/*
 * An option of a program, one row of its table (the EXP_OPT_* macros
 * below): exp_parse_opts builds getopt's tables from the rows, reads each
 * value into the program's options at off, and says what is wrong as
 * "PROG: --NAME: WHAT, not "ARG"" unless the program says it otherwise.
 */
enum exp_opt_kind {
	EXP_OPT_U64,	/* uint64_t in [min, max], a multiple of mult unless 0 */
	EXP_OPT_U32,	/* uint32_t, the same */
	EXP_OPT_UINT,	/* unsigned, the same */
	EXP_OPT_INT,	/* int, the same */
	EXP_OPT_DOUBLE, /* double in [dmin, dmax] */
	EXP_OPT_STR,	/* const char *: the argument itself */
	EXP_OPT_BOOL,	/* bool, set to min; no argument */
	EXP_OPT_SET,	/* int, set to min; no argument */
	EXP_OPT_BITS,	/* uint32_t, the bits of min set; no argument */
	EXP_OPT_EITHER, /* bool: false for either[0], true for either[1] */
	EXP_OPT_FMT,	/* enum exp_fmt */
	EXP_OPT_CALL,	/* call(arg, options): 0, -1 when arg is not right, or 1
			 * after saying what is wrong itself */
	EXP_OPT_HELP,	/* the usage on standard output, and exit 0 */
};

struct exp_opt {
	int letter;	  /* -letter too; 0: --name only */
	const char *name; /* --name */
	enum exp_opt_kind kind;
	size_t off; /* of the value in the options */
	uint64_t min, max, mult;
	double dmin, dmax;
	const char *either[2];
	int (*call)(const char *arg, void *options);
	const char *what; /* what the value must be; NULL: "MIN to MAX" */
};

/* The rows: l the letter (0: none), n the name, off offsetof the value. */
#define EXP_OPT_INTS(kind_, l, n, off_, lo, hi, mult_, what_)                            \
	{                                                                                \
		.letter = (l), .name = (n), .kind = (kind_), .off = (off_), .min = (lo), \
		.max = (hi), .mult = (mult_), .what = (what_)                            \
	}
#define EXP_OPT_DBL(l, n, off_, lo, hi, what_)                                                   \
	{                                                                                        \
		.letter = (l), .name = (n), .kind = EXP_OPT_DOUBLE, .off = (off_), .dmin = (lo), \
		.dmax = (hi), .what = (what_)                                                    \
	}
#define EXP_OPT_WORDS(l, n, off_, no, yes, what_)                                  \
	{                                                                          \
		.letter = (l), .name = (n), .kind = EXP_OPT_EITHER, .off = (off_), \
		.either = { no, yes }, .what = (what_)                             \
	}
#define EXP_OPT_FN(l, n, fn, what_)                                                             \
	{                                                                                       \
		.letter = (l), .name = (n), .kind = EXP_OPT_CALL, .call = (fn), .what = (what_) \
	}
#define EXP_OPT_ARG(kind_, l, n, off_)                                     \
	{                                                                  \
		.letter = (l), .name = (n), .kind = (kind_), .off = (off_) \
	}
#define EXP_OPT_FLAG(kind_, l, n, off_, value)                                             \
	{                                                                                  \
		.letter = (l), .name = (n), .kind = (kind_), .off = (off_), .min = (value) \
	}

/* A table of rows and the options its offsets are in. */
struct exp_opts {
	const struct exp_opt *rows;
	size_t n;
	void *base;
};

/* How a program takes its command line. */
struct exp_cli {
	const char *prog;
	/* --help (on stdout), and after an option getopt does not know. */
	void (*usage)(FILE *f);
	/* A value that is wrong: says so (NULL: exp_opt_bad). */
	void (*say)(const struct exp_opt *o, const char *arg);
	/* Then how to call the program (NULL: the usage on stderr). */
	void (*hint)(void);
	/* Each value taken (NULL: nothing more). */
	void (*taken)(const struct exp_opt *o, void *options);
};

#define EXP_MAX_OPTS 40

/* Reads argv's options (the arguments after them are left from optind):
 * 0, or 2 after saying what is wrong and how to call the program. */
int exp_parse_opts(const struct exp_cli *cli, const struct exp_opts *sets, size_t nsets, int argc,
		   char **argv);
/* "PROG: --NAME: WHAT, not "ARG"" on stderr. */
void exp_opt_bad(const char *prog, const struct exp_opt *o, const char *arg);

/* ---- output --------------------------------------------------------------- */

enum exp_fmt { EXP_FMT_TABLE, EXP_FMT_CSV, EXP_FMT_JSON };

/* "table", "csv" or "json" into *fmt: 0 or -EINVAL. */
int exp_parse_fmt(const char *s, enum exp_fmt *fmt);

/* s as a JSON string, quoted and escaped. */
void exp_json_str(FILE *f, const char *s);

/* v with prec decimals, or null when it is not finite (not measured). */
void exp_json_num(FILE *f, double v, int prec);

/* A further field of an object: , "name": v (as exp_json_num). */
void exp_json_field(FILE *f, const char *name, double v, int prec);

/* A CSV field: v with one decimal, nothing when it is not finite. */
void exp_csv_num(FILE *f, double v);

/* v formatted with fmt into buf, or none when it is not finite. */
const char *exp_fig(char *buf, size_t len, const char *fmt, double v, const char *none);

/* The command line, arguments separated by one space (cut at len). */
void exp_cmdline(char *buf, size_t len, int argc, char **argv);

/* The current UTC time as 2006-01-02T15:04:05Z. */
void exp_utc_date(char *buf, size_t len);

/* ---- the node's CPUs ------------------------------------------------------ */

/* The CPUs rmcd gives the node's applications into *set: their count. */
int exp_app_cpuset(const struct kal_info *info, cpu_set_t *set);

/* The same CPUs as a list "0,1,5" in buf (cut at len). */
void exp_app_cpulist(const struct kal_info *info, char *buf, size_t len);

/* ---- statistics of samples -------------------------------------------------- */

/* An array of n samples whose pages are all there: calloc's pages are
 * mapped at their first write, and a page fault during a measured run
 * stalls it (and every request in flight) for microseconds.  NULL when
 * out of memory. */
uint64_t *exp_samples_alloc(uint64_t n);

/* qsort comparison of two uint64_t. */
int exp_cmp_u64(const void *a, const void *b);

/*
 * Two percentiles of n (>= 1) sorted samples, p in 0..100.  Both are kept
 * so that every program prints what it always has:
 * exp_pct_rank: the nearest rank, v[ceil(p n / 100) - 1] (sonuma-bench);
 * exp_pct_round: the sample at the rounded index p (n - 1) / 100 (bench_*).
 */
uint64_t exp_pct_rank(const uint64_t *v, uint64_t n, double p);
uint64_t exp_pct_round(const uint64_t *v, uint64_t n, double p);

/* Index of the figures exp_summary fills. */
enum { EXP_MIN, EXP_P50, EXP_AVG, EXP_P99, EXP_P999, EXP_MAX, EXP_NSUM };

/* Sorts n (>= 1) samples and gives min, p50, mean, p99, p99.9 and max
 * (nearest rank), each multiplied by k (e.g. ns per tick). */
void exp_summary(uint64_t *v, uint64_t n, double k, double st[EXP_NSUM]);

/* ---- log-linear histogram ---------------------------------------------------- */

/* Values below 64 exactly, then 64 buckets per power of two (at most
 * 1.6 % wide), up to 2^45; larger values count in the last bucket. */
#define EXP_HIST_SUB_BITS 6
#define EXP_HIST_SUB (1u << EXP_HIST_SUB_BITS)
#define EXP_HIST_BUCKETS (EXP_HIST_SUB * 41u)

struct exp_hist {
	uint64_t n;
	uint64_t max;
	double sum;
	uint64_t c[EXP_HIST_BUCKETS];
};

/* The bucket of v. */
unsigned exp_hist_bucket(uint64_t v);
/* The lowest value of bucket b, and its width. */
double exp_hist_low(unsigned b);
double exp_hist_width(unsigned b);
/* The middle of bucket b: what a percentile reports. */
double exp_hist_value(unsigned b);
void exp_hist_add(struct exp_hist *h, uint64_t v);
void exp_hist_merge(struct exp_hist *to, const struct exp_hist *from);
/* Percentile p (0..100): the middle of the bucket of that rank, at most
 * the largest value; NAN when empty. */
double exp_hist_pct(const struct exp_hist *h, double p);
/* The mean, NAN when empty. */
double exp_hist_mean(const struct exp_hist *h);

/* ---- random numbers ---------------------------------------------------------- */

/* xorshift64*: one random stream (its state is never 0). */
struct exp_rng {
	uint64_t s;
};

static inline void exp_rng_seed(struct exp_rng *r, uint64_t seed)
{
	r->s = core_mix64(seed) | 1;
}

static inline uint64_t exp_rng_next(struct exp_rng *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, 1) with 53 bits. */
static inline double exp_rng_unit(struct exp_rng *r)
{
	return (double)(exp_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform in [0, n) by multiplication (0 when n is 0). */
static inline uint64_t exp_rng_below(struct exp_rng *r, uint64_t n)
{
	return n ? (uint64_t)(((unsigned __int128)exp_rng_next(r) * n) >> 64) : 0;
}

#endif /* SONUMA_EXPLIB_H */
