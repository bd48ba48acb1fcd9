/*
 * log.h — diagnostics to stderr, one line per event:
 *   2026-11-23T09:40:01.123Z INFO  net: listening on 127.0.0.1:9092
 * Levels follow syslog order. A call below the current level costs one
 * compare (the macro tests before formatting). Any thread; each line is
 * written with a single write() so lines never interleave.
 */
#ifndef RUNNEL_UTIL_LOG_H
#define RUNNEL_UTIL_LOG_H

enum log_level { LOGL_ERROR = 0, LOGL_WARN = 1, LOGL_INFO = 2, LOGL_DEBUG = 3 };

extern enum log_level log_threshold;

void log_set_level(enum log_level lvl);
/* Parses "error|warn|info|debug"; returns -1 if unknown. */
int  log_parse_level(const char *s);
void log_emit(enum log_level lvl, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(mod, ...) do { if (log_threshold >= LOGL_ERROR) log_emit(LOGL_ERROR, mod, __VA_ARGS__); } while (0)
#define log_warn(mod, ...)  do { if (log_threshold >= LOGL_WARN)  log_emit(LOGL_WARN,  mod, __VA_ARGS__); } while (0)
#define log_info(mod, ...)  do { if (log_threshold >= LOGL_INFO)  log_emit(LOGL_INFO,  mod, __VA_ARGS__); } while (0)
#define log_debug(mod, ...) do { if (log_threshold >= LOGL_DEBUG) log_emit(LOGL_DEBUG, mod, __VA_ARGS__); } while (0)
#endif
