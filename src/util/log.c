/*
 * log.c — one line per event on stderr (log.h):
 *
 *   2026-11-23T09:40:01.123Z INFO  module: message\n
 *
 * The whole line is formatted into a stack buffer and handed to a single
 * write(2): POSIX makes a write to a pipe of at most PIPE_BUF bytes atomic,
 * and for files and terminals one write per line is what keeps lines from
 * different threads from interleaving in practice. Lines longer than the
 * buffer are cut and end in "...". Control characters in the message are
 * replaced by '?' so a peer-supplied string cannot forge extra log lines.
 */
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOGL_INFO;

static const char *const log_names[] = { "error", "warn", "info", "debug" };
static const char *const log_tags[] = { "ERROR", "WARN ", "INFO ", "DEBUG" };

void log_set_level(enum log_level lvl)
{
	if (lvl >= LOGL_ERROR && lvl <= LOGL_DEBUG)
		log_threshold = lvl;
}

int log_parse_level(const char *s)
{
	for (int i = LOGL_ERROR; i <= LOGL_DEBUG; i++)
		if (s != NULL && strcasecmp(s, log_names[i]) == 0)
			return i;
	if (s != NULL && strcasecmp(s, "warning") == 0)
		return LOGL_WARN;
	return -1;
}

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ " into out (at least 32 bytes). */
static size_t log_stamp(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void log_write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere left to report it */
		p += w;
		n -= (size_t)w;
	}
}

void log_emit(enum log_level lvl, const char *module, const char *fmt, ...)
{
	char line[4096];
	const size_t cap = sizeof line - 1; /* keep one byte for '\n' */
	if (lvl < LOGL_ERROR || lvl > LOGL_DEBUG)
		lvl = LOGL_ERROR;
	size_t n = log_stamp(line, cap);
	int k = snprintf(line + n, cap - n, "%s %s: ", log_tags[lvl], module ? module : "-");
	n += k > 0 ? (size_t)k : 0;
	if (n > cap)
		n = cap;
	size_t msg = n;
	va_list ap;
	va_start(ap, fmt);
	k = vsnprintf(line + n, cap - n, fmt, ap);
	va_end(ap);
	if (k > 0 && (size_t)k >= cap - n) {
		n = cap;
		memcpy(line + cap - 3, "...", 3);
	} else if (k > 0) {
		n += (size_t)k;
	}
	for (size_t i = msg; i < n; i++)
		if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
			line[i] = '?';
	line[n++] = '\n';
	log_write_all(line, n);
}
