/* The line logger of carbon-node (see log.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "node/log.h"

static volatile int log_level = NODE_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void node_log_set_level(enum node_log_level level) { log_level = (int)level; }

int node_log_parse_level(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void node_log(enum node_log_level level, const char *event, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t n;
	int k;

	if ((int)level < log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof line, "ts=%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof line - n, ".%03ldZ level=%s event=%s ",
		     ts.tv_nsec / 1000000, level_names[level], event);
	if (k > 0 && (size_t)k < sizeof line - n)
		n += (size_t)k;
	va_start(ap, fmt);
	k = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	va_end(ap);
	if (k > 0)
		n += ((size_t)k < sizeof line - n - 1) ? (size_t)k : sizeof line - n - 2;
	line[n++] = '\n';
	/* One write per line so lines of different threads never interleave. */
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}
