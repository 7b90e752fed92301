/* SPDX-License-Identifier: MIT */
/* explib: the numbers, formats, statistics and random stream the
 * experiments share. */
#include <criterion/criterion.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explib.h"

Test(parse_u64, takes_decimal_hex_and_octal)
{
	uint64_t v = 0;

	cr_assert_eq(exp_parse_u64("4096", 0, UINT64_MAX, &v), 0);
	cr_expect_eq(v, 4096);
	cr_assert_eq(exp_parse_u64("0x40", 0, UINT64_MAX, &v), 0);
	cr_expect_eq(v, 64);
	cr_assert_eq(exp_parse_u64("010", 0, UINT64_MAX, &v), 0);
	cr_expect_eq(v, 8);
	cr_assert_eq(exp_parse_u64("0", 0, 0, &v), 0);
	cr_expect_eq(v, 0);
	cr_assert_eq(exp_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	cr_expect_eq(v, UINT64_MAX);
}

Test(parse_u64, refuses_empty_signs_space_and_trailers)
{
	static const char *const bad[] = { "",	 "-1", "+1",  " 1",  "\t1", "1 ",
					   "1k", "0x", "abc", "1.5", "09" };
	uint64_t v = 77;

	cr_expect_eq(exp_parse_u64(NULL, 0, 10, &v), -EINVAL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(exp_parse_u64(bad[i], 0, UINT64_MAX, &v), -EINVAL, "\"%s\"", bad[i]);
	cr_expect_eq(v, 77, "a refused number leaves *v alone");
}

Test(parse_u64, overflow_is_not_a_number_and_bounds_are_a_range)
{
	uint64_t v = 5;

	cr_expect_eq(exp_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -EINVAL);
	cr_expect_eq(exp_parse_u64("0x10000000000000000", 0, UINT64_MAX, &v), -EINVAL);
	cr_expect_eq(exp_parse_u64("63", 64, 128, &v), -ERANGE);
	cr_expect_eq(exp_parse_u64("129", 64, 128, &v), -ERANGE);
	cr_expect_eq(v, 5);
	cr_expect_eq(exp_parse_u64("64", 64, 128, &v), 0);
	cr_expect_eq(v, 64);
	cr_expect_eq(exp_parse_u64("128", 64, 128, &v), 0);
	cr_expect_eq(v, 128);
}

Test(parse_double, finite_numbers_in_range)
{
	double v = 0;

	cr_assert_eq(exp_parse_double("0.25", 0, 1, &v), 0);
	cr_expect_float_eq(v, 0.25, 1e-12);
	cr_assert_eq(exp_parse_double("1e-3", 0.001, 86400, &v), 0);
	cr_expect_float_eq(v, 0.001, 1e-12);
	cr_expect_eq(exp_parse_double("", 0, 1, &v), -EINVAL);
	cr_expect_eq(exp_parse_double(NULL, 0, 1, &v), -EINVAL);
	cr_expect_eq(exp_parse_double("nan", -1e9, 1e9, &v), -EINVAL);
	cr_expect_eq(exp_parse_double("inf", 0, INFINITY, &v), -EINVAL);
	cr_expect_eq(exp_parse_double("1e999", 0, INFINITY, &v), -EINVAL);
	cr_expect_eq(exp_parse_double("0.5s", 0, 1, &v), -EINVAL);
	cr_expect_eq(exp_parse_double("1.5", 0, 1, &v), -ERANGE);
	cr_expect_eq(exp_parse_double("-0.1", 0, 1, &v), -ERANGE);
	cr_expect_float_eq(v, 0.001, 1e-12);
}

Test(fmt, names)
{
	enum exp_fmt f = EXP_FMT_TABLE;

	cr_expect_eq(exp_parse_fmt("json", &f), 0);
	cr_expect_eq(f, EXP_FMT_JSON);
	cr_expect_eq(exp_parse_fmt("csv", &f), 0);
	cr_expect_eq(f, EXP_FMT_CSV);
	cr_expect_eq(exp_parse_fmt("table", &f), 0);
	cr_expect_eq(f, EXP_FMT_TABLE);
	cr_expect_eq(exp_parse_fmt("JSON", &f), -EINVAL);
	cr_expect_eq(exp_parse_fmt("", &f), -EINVAL);
}

/* What call writes to f_, a memory stream, as a string in buf. */
#define CAPTURE(buf, call)                                  \
	do {                                                \
		memset(buf, 0, sizeof(buf));                \
		FILE *f_ = fmemopen(buf, sizeof(buf), "w"); \
		cr_assert_not_null(f_);                     \
		call;                                       \
		fclose(f_);                                 \
	} while (0)

Test(out, json_and_csv_fields)
{
	char b[128];

	CAPTURE(b, exp_json_str(f_, "a\"b\\c\nd"));
	cr_expect_str_eq(b, "\"a\\\"b\\\\c\\u000ad\"");
	CAPTURE(b, exp_json_num(f_, 1.23456, 3));
	cr_expect_str_eq(b, "1.235");
	CAPTURE(b, exp_json_num(f_, NAN, 3));
	cr_expect_str_eq(b, "null");
	CAPTURE(b, exp_json_field(f_, "p99_ns", 2.5, 1));
	cr_expect_str_eq(b, ", \"p99_ns\": 2.5");
	CAPTURE(b, exp_json_field(f_, "vs_agent", INFINITY, 3));
	cr_expect_str_eq(b, ", \"vs_agent\": null");
	CAPTURE(b, exp_csv_num(f_, 2.25));
	cr_expect_str_eq(b, "2.2");
	CAPTURE(b, exp_csv_num(f_, NAN));
	cr_expect_str_eq(b, "");
	cr_expect_str_eq(exp_fig(b, sizeof(b), "%.0f", 12.6, "-"), "13");
	cr_expect_str_eq(exp_fig(b, sizeof(b), "%.0f", NAN, "-"), "-");
}

Test(out, cmdline_and_date)
{
	char *argv[] = { "sonuma-bench", "-s", "64,4096", NULL };
	char b[64], small[10];

	exp_cmdline(b, sizeof(b), 3, argv);
	cr_expect_str_eq(b, "sonuma-bench -s 64,4096");
	exp_cmdline(small, sizeof(small), 3, argv);
	cr_expect_str_eq(small, "sonuma-be");
	exp_utc_date(b, sizeof(b));
	cr_expect_eq(strlen(b), 20);
	cr_expect_eq(b[4], '-');
	cr_expect_eq(b[10], 'T');
	cr_expect_eq(b[19], 'Z');
}

Test(stats, percentiles_of_one_to_a_thousand)
{
	/* n, p, nearest rank, rounded index.  99.9 / 100 * 1000 is a little
	 * above 999 in doubles: rank 1000, as sonuma-bench has always counted
	 * it.  Rounded index of 50: 0.5 * 999 + 0.5 = 500 -> v[500]. */
	static const struct {
		size_t n;
		double p;
		uint64_t rank, round;
	} want[] = { { 1000, 50, 500, 501 },   { 1000, 99, 990, 990 },	  { 1000, 99.9, 1000, 999 },
		     { 1000, 99.5, 995, 995 }, { 1000, 100, 1000, 1000 }, { 1000, 0, 1, 1 },
		     { 1, 99.9, 1, 1 } };
	uint64_t v[1000];

	for (int i = 0; i < 1000; i++)
		v[i] = (uint64_t)i + 1;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cr_expect_eq(exp_pct_rank(v, want[i].n, want[i].p), want[i].rank, "rank p%g of %zu",
			     want[i].p, want[i].n);
		cr_expect_eq(exp_pct_round(v, want[i].n, want[i].p), want[i].round,
			     "rounded p%g of %zu", want[i].p, want[i].n);
	}
}

Test(stats, summary_sorts_and_scales)
{
	uint64_t v[4] = { 40, 10, 30, 20 };
	double st[EXP_NSUM];

	exp_summary(v, 4, 0.5, st);
	cr_expect_eq(v[0], 10);
	cr_expect_eq(v[3], 40);
	cr_expect_float_eq(st[EXP_MIN], 5, 1e-9);
	cr_expect_float_eq(st[EXP_P50], 10, 1e-9);
	cr_expect_float_eq(st[EXP_AVG], 12.5, 1e-9);
	cr_expect_float_eq(st[EXP_P99], 20, 1e-9);
	cr_expect_float_eq(st[EXP_P999], 20, 1e-9);
	cr_expect_float_eq(st[EXP_MAX], 20, 1e-9);
}

Test(hist, bucket_bounds)
{
	/* Exact below 64. */
	for (uint64_t v = 0; v < 64; v++)
		cr_expect_eq(exp_hist_bucket(v), v);
	/* 64..127: width 1; 128..255: width 2; then doubling. */
	cr_expect_eq(exp_hist_bucket(64), 64);
	cr_expect_eq(exp_hist_bucket(127), 127);
	cr_expect_eq(exp_hist_bucket(128), 128);
	cr_expect_eq(exp_hist_bucket(129), 128);
	cr_expect_eq(exp_hist_bucket(130), 129);
	cr_expect_eq(exp_hist_bucket(255), 191);
	cr_expect_eq(exp_hist_bucket(256), 192);
	cr_expect_float_eq(exp_hist_low(128), 128, 0);
	cr_expect_float_eq(exp_hist_width(128), 2, 0);
	cr_expect_float_eq(exp_hist_value(128), 129, 0);
	cr_expect_float_eq(exp_hist_low(192), 256, 0);
	cr_expect_float_eq(exp_hist_width(192), 4, 0);
	/* Every value lies in its bucket, whose width is at most 1/64 of it. */
	for (uint64_t v = 1; v < (1ull << 45); v = v * 3 + 1) {
		unsigned b = exp_hist_bucket(v);
		double lo = exp_hist_low(b), w = exp_hist_width(b);
		cr_expect(lo <= (double)v && (double)v < lo + w, "v %llu bucket %u",
			  (unsigned long long)v, b);
		cr_expect(w <= 1 || w / lo <= 1.0 / 64 + 1e-12);
		cr_expect_eq(exp_hist_bucket((uint64_t)lo), b);
	}
	/* The last bucket holds everything above the range. */
	cr_expect_eq(exp_hist_bucket(UINT64_MAX), EXP_HIST_BUCKETS - 1);
	cr_expect_eq(exp_hist_bucket(1ull << 47), EXP_HIST_BUCKETS - 1);
}

Test(hist, percentiles_mean_and_merge)
{
	static struct exp_hist a, b;

	cr_expect(isnan(exp_hist_pct(&a, 50)));
	cr_expect(isnan(exp_hist_mean(&a)));
	for (uint64_t v = 1; v <= 100; v++)
		exp_hist_add(&a, v);
	cr_expect_eq(a.n, 100);
	cr_expect_eq(a.max, 100);
	cr_expect_float_eq(exp_hist_mean(&a), 50.5, 1e-9);
	cr_expect_float_eq(exp_hist_pct(&a, 50), 50, 0);
	/* 99 is in [99, 100) of width 1: its middle. */
	cr_expect_float_eq(exp_hist_pct(&a, 99), 99.5, 0);
	/* 100 is in [100, 101): the middle, 100.5, is cut at the max. */
	cr_expect_float_eq(exp_hist_pct(&a, 100), 100, 0);
	exp_hist_add(&b, 10000);
	exp_hist_merge(&a, &b);
	cr_expect_eq(a.n, 101);
	cr_expect_eq(a.max, 10000);
	double p = exp_hist_pct(&a, 100);
	cr_expect(p >= 9984 && p <= 10000, "p100 %f", p);
}

Test(rng, deterministic_streams)
{
	struct exp_rng a, b, c;
	uint64_t first[8];

	cr_expect_eq(core_mix64(0), 0xe220a8397b1dcdafull);
	cr_expect_eq(core_mix64(1), 0x910a2dec89025cc1ull);
	exp_rng_seed(&a, 42);
	exp_rng_seed(&b, 42);
	exp_rng_seed(&c, 43);
	cr_expect_eq(a.s, core_mix64(42) | 1);
	int differ = 0;
	for (int i = 0; i < 8; i++) {
		first[i] = exp_rng_next(&a);
		cr_expect_eq(first[i], exp_rng_next(&b));
		differ |= first[i] != exp_rng_next(&c);
	}
	cr_expect(differ, "another seed gives another stream");
	/* A seed of 0 still gives a stream. */
	exp_rng_seed(&c, 0);
	cr_expect_neq(c.s, 0);
	cr_expect_neq(exp_rng_next(&c), exp_rng_next(&c));
}

Test(rng, below_and_unit_stay_in_range)
{
	struct exp_rng r;
	unsigned hits[10] = { 0 };

	exp_rng_seed(&r, 7);
	cr_expect_eq(exp_rng_below(&r, 0), 0);
	for (int i = 0; i < 100000; i++) {
		uint64_t x = exp_rng_below(&r, 10);
		double u = exp_rng_unit(&r);
		cr_assert_lt(x, 10);
		cr_assert(u >= 0 && u < 1);
		hits[x]++;
	}
	for (int i = 0; i < 10; i++)
		cr_expect(hits[i] > 9000 && hits[i] < 11000, "%d: %u", i, hits[i]);
}

/* ---- the option reader ---------------------------------------------------- */

struct t_opts {
	uint64_t big;
	unsigned small;
	int level;
	double ratio;
	const char *name;
	bool on, word;
	uint32_t bits;
	int calls;
};

static int t_call(const char *arg, void *options)
{
	struct t_opts *o = options;

	o->calls++;
	return strcmp(arg, "ok") ? -1 : 0;
}

static const struct exp_opt t_rows[] = {
	EXP_OPT_INTS(EXP_OPT_U64, 'b', "big", offsetof(struct t_opts, big), 1, 1000, 10, NULL),
	EXP_OPT_INTS(EXP_OPT_UINT, 0, "small", offsetof(struct t_opts, small), 0, 9, 0, NULL),
	EXP_OPT_INTS(EXP_OPT_INT, 'l', "level", offsetof(struct t_opts, level), 0, 5, 0, "a level"),
	EXP_OPT_DBL('r', "ratio", offsetof(struct t_opts, ratio), 0, 1, NULL),
	EXP_OPT_ARG(EXP_OPT_STR, 'n', "name", offsetof(struct t_opts, name)),
	EXP_OPT_FLAG(EXP_OPT_BOOL, 0, "on", offsetof(struct t_opts, on), true),
	EXP_OPT_WORDS(0, "word", offsetof(struct t_opts, word), "no", "yes", "no or yes"),
	EXP_OPT_FLAG(EXP_OPT_BITS, 0, "bit", offsetof(struct t_opts, bits), 4),
	EXP_OPT_FN('c', "call", t_call, "ok"),
};

static char t_said[128];

static void t_say(const struct exp_opt *o, const char *arg)
{
	snprintf(t_said, sizeof(t_said), "%s=%s", o->name, arg);
}

static void t_usage(FILE *f)
{
	(void)f;
}

static void t_hint(void)
{
}

static int t_parse(struct t_opts *o, int argc, char **argv)
{
	static const struct exp_cli cli = {
		.prog = "t", .usage = t_usage, .say = t_say, .hint = t_hint
	};
	const struct exp_opts set = { t_rows, sizeof(t_rows) / sizeof(t_rows[0]), o };

	optind = 0;
	memset(o, 0, sizeof(*o));
	t_said[0] = '\0';
	return exp_parse_opts(&cli, &set, 1, argc, argv);
}

Test(opts, every_kind_into_its_field)
{
	char *argv[] = {
		"t", "-b",   "120",    "--small", "9",	   "-l", "5",  "--ratio=0.5", "-n",
		"x", "--on", "--word", "yes",	  "--bit", "-c", "ok", "rest",	      NULL
	};
	struct t_opts o;

	cr_assert_eq(t_parse(&o, 17, argv), 0, "%s", t_said);
	cr_expect_eq(o.big, 120);
	cr_expect_eq(o.small, 9);
	cr_expect_eq(o.level, 5);
	cr_expect_float_eq(o.ratio, 0.5, 0);
	cr_expect_str_eq(o.name, "x");
	cr_expect(o.on && o.word);
	cr_expect_eq(o.bits, 4);
	cr_expect_eq(o.calls, 1);
	cr_expect_eq(optind, 16, "the arguments after the options are left");
}

Test(opts, a_wrong_value_is_said_and_stops)
{
	char *mult[] = { "t", "-b", "125", NULL };
	char *range[] = { "t", "--small", "10", NULL };
	char *word[] = { "t", "--word", "maybe", NULL };
	char *call[] = { "t", "-c", "no", NULL };
	char *unknown[] = { "t", "--nope", NULL };
	struct t_opts o;

	cr_expect_eq(t_parse(&o, 3, mult), 2);
	cr_expect_str_eq(t_said, "big=125", "not a multiple of 10");
	cr_expect_eq(t_parse(&o, 3, range), 2);
	cr_expect_str_eq(t_said, "small=10");
	cr_expect_eq(t_parse(&o, 3, word), 2);
	cr_expect_str_eq(t_said, "word=maybe");
	cr_expect_eq(t_parse(&o, 3, call), 2);
	cr_expect_str_eq(t_said, "call=no");
	cr_expect_eq(t_parse(&o, 2, unknown), 2);
	cr_expect_str_eq(t_said, "", "getopt says it of an unknown option");
}
