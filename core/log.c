/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* Set once at start-up by core_log_init() before any thread exists. */
static const char *log_prog = "sonuma";
static enum core_log_level log_threshold = CORE_LOG_INFO;

void core_log_init(const char *prog)
{
	const char *lvl = getenv("SONUMA_LOG");

	if (prog) {
		const char *slash = strrchr(prog, '/');
		log_prog = slash ? slash + 1 : prog;
	}
	if (!lvl)
		return;
	if (!strcmp(lvl, "debug"))
		log_threshold = CORE_LOG_DEBUG;
	else if (!strcmp(lvl, "info"))
		log_threshold = CORE_LOG_INFO;
	else if (!strcmp(lvl, "warn"))
		log_threshold = CORE_LOG_WARN;
	else if (!strcmp(lvl, "err"))
		log_threshold = CORE_LOG_ERR;
}

void core_log(enum core_log_level lvl, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	char line[1024];
	va_list ap;
	int n;

	if (lvl > log_threshold)
		return;
	n = snprintf(line, sizeof(line), "%s: %s: ", log_prog, names[lvl]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line so that threads do not interleave. */
	fprintf(stderr, "%s\n", line);
}
