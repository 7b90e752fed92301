/* SPDX-License-Identifier: MIT */
/* What every result file records, and its CSV and JSON fields. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "explib.h"
#include "sonuma.h"

void exp_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

void exp_json_num(FILE *f, double v, int prec)
{
	if (isfinite(v))
		fprintf(f, "%.*f", prec, v);
	else
		fprintf(f, "null");
}

void exp_json_field(FILE *f, const char *name, double v, int prec)
{
	fprintf(f, ", \"%s\": ", name);
	exp_json_num(f, v, prec);
}

void exp_csv_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.1f", v);
}

const char *exp_fig(char *buf, size_t len, const char *fmt, double v, const char *none)
{
	if (!isfinite(v))
		return none;
	snprintf(buf, len, fmt, v);
	return buf;
}

void exp_cmdline(char *buf, size_t len, int argc, char **argv)
{
	buf[0] = 0;
	for (int i = 0; i < argc; i++)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? " " : "", argv[i]);
}

void exp_utc_date(char *buf, size_t len)
{
	time_t now = time(NULL);

	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
}

int exp_app_cpuset(const struct kal_info *info, cpu_set_t *set)
{
	int n = 0;

	CPU_ZERO(set);
	for (int c = 0; c < 256; c++)
		if (info->app_cpus[c / 64] >> (c % 64) & 1) {
			CPU_SET(c, set);
			n++;
		}
	return n;
}

void exp_app_cpulist(const struct kal_info *info, char *buf, size_t len)
{
	buf[0] = 0;
	for (int c = 0; c < 256; c++)
		if (info->app_cpus[c / 64] >> (c % 64) & 1)
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%d", buf[0] ? "," : "",
				 c);
}
