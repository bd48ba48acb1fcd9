/*
 * format — consume --format templates; see format.h.
 *
 * Compiled form: an array of items, each either a literal run (offset and
 * length into `lit`, the template with its escapes resolved) or one field
 * letter. Printing walks the array; nothing is parsed per record.
 */
#include "format.h"

#include <stdlib.h>
#include <string.h>

typedef struct format_item {
	char field;      /* 0 for a literal run, else the letter after '%' */
	size_t off;      /* literal: start in lit */
	size_t len;      /* literal: length */
} format_item_t;

struct format {
	char *lit;              /* literal bytes, escapes resolved; owned */
	size_t lit_len;
	format_item_t *items;   /* owned */
	size_t item_cnt;
};

static const char format_fields[] = "tpoTkvsh";

/* ---- compiling ---- */

/* Appends one literal byte, extending the current literal item. */
static void format_lit(format_t *f, char ch)
{
	format_item_t *last = f->item_cnt ? &f->items[f->item_cnt - 1] : NULL;

	if (!last || last->field) {
		last = &f->items[f->item_cnt++];
		*last = (format_item_t){ .off = f->lit_len };
	}
	f->lit[f->lit_len++] = ch;
	last->len++;
}

static int format_escape(char ch)
{
	switch (ch) {
	case 'n': return '\n';
	case 't': return '\t';
	case 'r': return '\r';
	case '\\': return '\\';
	}
	return -1;
}

/* Compiles spec[i..] one token; returns the next index, or 0 on error. */
static size_t format_token(format_t *f, const char *spec, size_t i, char *err, size_t err_size)
{
	char ch = spec[i];

	if (ch == '\\') {
		int e = format_escape(spec[i + 1]);

		if (e < 0) {
			snprintf(err, err_size, "unknown escape '\\%.1s' (use \\n, \\t, \\r or \\\\)",
				 spec + i + 1);
			return 0;
		}
		format_lit(f, (char)e);
		return i + 2;
	}
	if (ch != '%') {
		format_lit(f, ch);
		return i + 1;
	}
	if (spec[i + 1] == '%') {
		format_lit(f, '%');
		return i + 2;
	}
	if (!spec[i + 1] || !strchr(format_fields, spec[i + 1])) {
		snprintf(err, err_size, "unknown placeholder '%%%.1s' (use %%t %%p %%o %%T %%k %%v "
			 "%%s %%h or %%%%)", spec + i + 1);
		return 0;
	}
	f->items[f->item_cnt++] = (format_item_t){ .field = spec[i + 1] };
	return i + 2;
}

format_t *format_new(const char *spec, char *err, size_t err_size)
{
	size_t n = strlen(spec), i = 0;
	format_t *f = calloc(1, sizeof(*f));

	if (!f || !(f->lit = malloc(n + 1)) || !(f->items = calloc(n + 1, sizeof(*f->items)))) {
		snprintf(err, err_size, "out of memory");
		goto fail;
	}
	while (i < n)
		if (!(i = format_token(f, spec, i, err, err_size)))
			goto fail;
	return f;
fail:
	format_free(f);
	return NULL;
}

void format_free(format_t *f)
{
	if (!f)
		return;
	free(f->lit);
	free(f->items);
	free(f);
}

/* ---- printing ---- */

static void format_headers(const rd_kafka_message_t *m, FILE *out)
{
	rd_kafka_headers_t *hdrs;
	const char *name;
	const void *val;
	size_t size;

	/* rd_kafka_message_headers() wants a non-const message; it only
	 * parses the headers lazily into the message it was given. */
	if (rd_kafka_message_headers((rd_kafka_message_t *)m, &hdrs))
		return;
	for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
		if (i)
			fputc(',', out);
		fputs(name, out);
		if (val) {
			fputc('=', out);
			fwrite(val, 1, size, out);
		}
	}
}

static void format_field(char field, const rd_kafka_message_t *m, FILE *out)
{
	switch (field) {
	case 't': fputs(rd_kafka_topic_name(m->rkt), out); break;
	case 'p': fprintf(out, "%d", m->partition); break;
	case 'o': fprintf(out, "%lld", (long long)m->offset); break;
	case 'T': fprintf(out, "%lld", (long long)rd_kafka_message_timestamp(m, NULL)); break;
	case 'k': if (m->key) fwrite(m->key, 1, m->key_len, out); break;
	case 'v': if (m->payload) fwrite(m->payload, 1, m->len, out); break;
	case 's': fprintf(out, "%lld", m->payload ? (long long)m->len : -1LL); break;
	case 'h': format_headers(m, out); break;
	}
}

void format_print(const format_t *f, const rd_kafka_message_t *m, FILE *out)
{
	for (size_t i = 0; i < f->item_cnt; i++) {
		const format_item_t *it = &f->items[i];

		if (it->field)
			format_field(it->field, m, out);
		else
			fwrite(f->lit + it->off, 1, it->len, out);
	}
}
