/*
 * group_out — the two output forms of the group verbs, on stdout.
 *
 * Text: a table is collected row by row (group_table_add copies each cell),
 * then printed at once, since each column is as wide as its widest cell;
 * an empty or unknown cell shows "-". JSON: one object on one line, built
 * by the verbs with printf and the value printers here; an unknown number
 * is null, a string is escaped (quote, backslash, control characters).
 */
#include "group.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables ---- */

void group_table_add(group_table_t *t, ...)
{
	va_list ap;

	if (t->oom)
		return;
	if (t->rows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **cell = realloc(t->cell, sizeof(*cell) * cap * t->cols);

		if (!cell) {
			t->oom = true;
			return;
		}
		t->cell = cell;
		t->cap = cap;
	}
	va_start(ap, t);
	for (size_t c = 0; c < t->cols; c++) {
		const char *s = va_arg(ap, const char *);
		char *dup = strdup(s && *s ? s : "-");

		t->cell[t->rows * t->cols + c] = dup;
		t->oom |= !dup;
	}
	va_end(ap);
	t->rows++;
}

bool group_table_print(const group_table_t *t)
{
	size_t *width = calloc(t->cols, sizeof(*width));

	if (t->oom || !width) {
		free(width);
		rnl_error("out of memory");
		return false;
	}
	for (size_t i = 0; i < t->rows * t->cols; i++)
		if (strlen(t->cell[i]) > width[i % t->cols])
			width[i % t->cols] = strlen(t->cell[i]);
	for (size_t r = 0; r < t->rows; r++)
		for (size_t c = 0; c < t->cols; c++) {
			const char *s = t->cell[r * t->cols + c];

			if (c + 1 == t->cols)
				printf("%s\n", s);
			else
				printf("%-*s  ", (int)width[c], s);
		}
	free(width);
	return true;
}

void group_table_free(group_table_t *t)
{
	for (size_t i = 0; i < t->rows * t->cols; i++)
		free(t->cell[i]);
	free(t->cell);
	*t = (group_table_t){ 0 };
}

/* ---- values ---- */

const char *group_fmt_i64(int64_t v, char *buf, size_t size)
{
	if (v < 0)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%lld", (long long)v);
	return buf;
}

void group_json_i64(const char *key, int64_t v, const char *sep)
{
	if (v < 0)
		printf("\"%s\":null%s", key, sep);
	else
		printf("\"%s\":%lld%s", key, (long long)v, sep);
}

