/* SPDX-License-Identifier: MIT */
/* The experiment programs' command lines, read from tables of options. */
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "explib.h"

/* Reads arg as row o says into the options at base: 0, -1 when it is not
 * what o takes, 1 when o's own function said what is wrong. */
static int take(const struct exp_opt *o, void *base, const char *arg)
{
	uint8_t *at = (uint8_t *)base + o->off;
	uint64_t v;

	switch (o->kind) {
	case EXP_OPT_U64:
	case EXP_OPT_U32:
	case EXP_OPT_UINT:
	case EXP_OPT_INT:
		if (exp_parse_u64(arg, o->min, o->max, &v) || (o->mult && v % o->mult))
			return -1;
		if (o->kind == EXP_OPT_U64)
			memcpy(at, &v, sizeof(v));
		else if (o->kind == EXP_OPT_U32)
			*(uint32_t *)(void *)at = (uint32_t)v;
		else if (o->kind == EXP_OPT_UINT)
			*(unsigned *)(void *)at = (unsigned)v;
		else
			*(int *)(void *)at = (int)v;
		return 0;
	case EXP_OPT_DOUBLE:
		return exp_parse_double(arg, o->dmin, o->dmax, (double *)(void *)at) ? -1 : 0;
	case EXP_OPT_STR:
		*(const char **)(void *)at = arg;
		return 0;
	case EXP_OPT_BOOL:
		*(bool *)at = o->min;
		return 0;
	case EXP_OPT_SET:
		*(int *)(void *)at = (int)o->min;
		return 0;
	case EXP_OPT_BITS:
		*(uint32_t *)(void *)at |= (uint32_t)o->min;
		return 0;
	case EXP_OPT_EITHER:
		for (int i = 0; i < 2; i++)
			if (!strcmp(arg, o->either[i])) {
				*(bool *)at = i;
				return 0;
			}
		return -1;
	case EXP_OPT_FMT:
		return exp_parse_fmt(arg, (enum exp_fmt *)(void *)at) ? -1 : 0;
	case EXP_OPT_CALL:
		return o->call(arg, base);
	default:
		return -1;
	}
}

void exp_opt_bad(const char *prog, const struct exp_opt *o, const char *arg)
{
	if (o->kind == EXP_OPT_FMT)
		fprintf(stderr, "%s: --%s: table, csv or json, not \"%s\"\n", prog, o->name, arg);
	else if (o->what)
		fprintf(stderr, "%s: --%s: %s, not \"%s\"\n", prog, o->name, o->what, arg);
	else if (o->kind == EXP_OPT_DOUBLE)
		fprintf(stderr, "%s: --%s: %g to %g, not \"%s\"\n", prog, o->name, o->dmin, o->dmax,
			arg);
	else
		fprintf(stderr, "%s: --%s: %llu to %llu, not \"%s\"\n", prog, o->name,
			(unsigned long long)o->min, (unsigned long long)o->max, arg);
}

/* Says what is wrong with arg for row o (1: o's own function said it),
 * then how to call the program; returns 2. */
static int bad(const struct exp_cli *cli, const struct exp_opt *o, const char *arg, int said)
{
	if (said != 1) {
		if (cli->say)
			cli->say(o, arg);
		else
			exp_opt_bad(cli->prog, o, arg);
	}
	if (cli->hint)
		cli->hint();
	else
		cli->usage(stderr);
	return 2;
}

int exp_parse_opts(const struct exp_cli *cli, const struct exp_opts *sets, size_t nsets, int argc,
		   char **argv)
{
	const struct exp_opt *row[EXP_MAX_OPTS];
	void *base[EXP_MAX_OPTS];
	struct option lopts[EXP_MAX_OPTS + 1];
	char shortopts[2 * EXP_MAX_OPTS + 1], *sp = shortopts;
	size_t all = 0, i;
	int opt, r;

	for (size_t s = 0; s < nsets; s++)
		for (size_t k = 0; k < sets[s].n; k++, all++) {
			const struct exp_opt *o = &sets[s].rows[k];
			int arg = o->kind == EXP_OPT_BOOL || o->kind == EXP_OPT_SET ||
						  o->kind == EXP_OPT_BITS ||
						  o->kind == EXP_OPT_HELP ?
					  no_argument :
					  required_argument;

			if (all == EXP_MAX_OPTS)
				abort(); /* a program with more options: raise EXP_MAX_OPTS */
			row[all] = o;
			base[all] = sets[s].base;
			lopts[all] = (struct option){ o->name, arg, NULL,
						      o->letter ? o->letter : 256 + (int)all };
			if (o->letter) {
				*sp++ = (char)o->letter;
				if (arg == required_argument)
					*sp++ = ':';
			}
		}
	lopts[all] = (struct option){ NULL, 0, NULL, 0 };
	*sp = '\0';
	while ((opt = getopt_long(argc, argv, shortopts, lopts, NULL)) != -1) {
		for (i = 0; i < all && lopts[i].val != opt; i++)
			;
		if (i == all) { /* getopt said what is wrong */
			cli->usage(stderr);
			return 2;
		}
		if (row[i]->kind == EXP_OPT_HELP) {
			cli->usage(stdout);
			exit(0);
		}
		if ((r = take(row[i], base[i], optarg)))
			return bad(cli, row[i], optarg, r);
		if (cli->taken)
			cli->taken(row[i], base[i]);
	}
	return 0;
}
