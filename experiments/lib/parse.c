/* SPDX-License-Identifier: MIT */
/* Numbers and words of the experiments' command lines. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explib.h"

int exp_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	/* strtoull would skip white space. */
	if (s && ((*s >= '\t' && *s <= '\r') || *s == ' '))
		return -EINVAL;
	return core_parse_uint(s, 0, min, max, v);
}

int exp_parse_double(const char *s, double min, double max, double *v)
{
	char *end;
	double x;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	x = strtod(s, &end);
	if (errno || *end || !isfinite(x))
		return -EINVAL;
	if (x < min || x > max)
		return -ERANGE;
	*v = x;
	return 0;
}

int exp_parse_fmt(const char *s, enum exp_fmt *fmt)
{
	static const char *const names[] = {
		[EXP_FMT_TABLE] = "table",
		[EXP_FMT_CSV] = "csv",
		[EXP_FMT_JSON] = "json",
	};

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (s && !strcmp(s, names[i])) {
			*fmt = (enum exp_fmt)i;
			return 0;
		}
	return -EINVAL;
}
