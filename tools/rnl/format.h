/*
 * format — the templates of `rnl consume --format`.
 *
 *   %t topic   %p partition   %o offset   %T timestamp (ms, -1 if none)
 *   %k key     %v value       %s value size (-1 for a null value)
 *   %h headers as k=v,k=v (a null header value prints as just k)
 *   %% a '%'   \n newline   \t tab   \r carriage return   \\ a backslash
 *
 * A null key or value prints as nothing. The template is compiled once
 * (format_new) into a list of literal runs and fields, then applied to
 * every record (format_print).
 */
#ifndef RNL_FORMAT_H
#define RNL_FORMAT_H

#include <stdio.h>

#include <librdkafka/rdkafka.h>

typedef struct format format_t;

/* Compiles spec. Returns NULL and writes the reason into err on an
 * unknown placeholder or escape (or out of memory). Caller frees with
 * format_free(). */
format_t *format_new(const char *spec, char *err, size_t err_size);
void format_free(format_t *fmt);

/* Writes one record to out as the template says. */
void format_print(const format_t *fmt, const rd_kafka_message_t *m, FILE *out);

#endif
