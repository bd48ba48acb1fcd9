/*
 * topic_config_out — how config entries are printed, on stdout.
 *
 * Text: a table CONFIG VALUE SOURCE FLAGS. FLAGS lists "read-only" and
 * "sensitive" where they apply and is blank otherwise (Kafka marks no
 * topic config either way), so a row splits into three words unless a
 * value is itself blank-separated. With synonyms every entry is followed
 * by its synonyms, indented by two spaces, highest precedence first:
 *
 *   CONFIG            VALUE      SOURCE                FLAGS
 *   retention.ms      60000      DYNAMIC_TOPIC_CONFIG
 *     retention.ms    60000      DYNAMIC_TOPIC_CONFIG
 *     log.retention.ms 604800000 DEFAULT_CONFIG
 *
 * JSON: an array of {"name","value","source","read_only","sensitive",
 * "synonyms"}; value null when the broker hides or has none; synonyms null
 * unless asked for, else an array of {"name","value","source"}.
 */
#include "topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tables ---- */

void topic_config_table_add(topic_config_table_t *t, int indent, const char *const *cells)
{
	if (t->oom)
		return;
	if (t->rows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		const char **cell = realloc(t->cell, sizeof(*cell) * cap * t->cols);
		int *ind;

		if (cell)
			t->cell = cell;
		ind = cell ? realloc(t->indent, sizeof(*ind) * cap) : NULL;
		if (!ind) {
			t->oom = true;
			return;
		}
		t->indent = ind;
		t->cap = cap;
	}
	memcpy(&t->cell[t->rows * t->cols], cells, sizeof(*cells) * t->cols);
	t->indent[t->rows++] = indent;
}

/* Prints row r; the last non-empty cell ends the line (no trailing blanks). */
static void table_row(const topic_config_table_t *t, const size_t *width, size_t r)
{
	const char **cell = &t->cell[r * t->cols];
	size_t last = t->cols - 1;

	while (last > 0 && !*cell[last])
		last--;
	printf("%*s", t->indent[r], "");
	for (size_t c = 0; c <= last; c++) {
		int w = (int)width[c] - (c == 0 ? t->indent[r] : 0);

		if (c == last)
			printf("%s\n", cell[c]);
		else
			printf("%-*s  ", w, cell[c]);
	}
}

bool topic_config_table_print(const topic_config_table_t *t)
{
	size_t *width = calloc(t->cols, sizeof(*width));

	if (t->oom || !width) {
		free(width);
		rnl_error("out of memory");
		return false;
	}
	for (size_t r = 0; r < t->rows; r++)
		for (size_t c = 0; c < t->cols; c++) {
			size_t len = strlen(t->cell[r * t->cols + c]) +
				     (c == 0 ? (size_t)t->indent[r] : 0);

			if (len > width[c])
				width[c] = len;
		}
	for (size_t r = 0; r < t->rows; r++)
		table_row(t, width, r);
	free(width);
	return true;
}

void topic_config_table_free(topic_config_table_t *t)
{
	free(t->cell);
	free(t->indent);
	*t = (topic_config_table_t){ .cols = t->cols };
}

/* ---- config entries ---- */

static const char *entry_flags(const rd_kafka_ConfigEntry_t *e)
{
	bool ro = rd_kafka_ConfigEntry_is_read_only(e) == 1;
	bool sens = rd_kafka_ConfigEntry_is_sensitive(e) == 1;

	return ro && sens ? "read-only,sensitive" : ro ? "read-only" : sens ? "sensitive" : "";
}

static void table_entry(topic_config_table_t *t, int indent, const rd_kafka_ConfigEntry_t *e,
			bool synonym)
{
	const char *cells[4] = { rd_kafka_ConfigEntry_name(e), topic_config_value_text(e),
				 topic_config_source_name(e), synonym ? "" : entry_flags(e) };

	topic_config_table_add(t, indent, cells);
}

void topic_config_print_table(const rd_kafka_ConfigEntry_t **es, size_t cnt, bool synonyms)
{
	static const char *const head[4] = { "CONFIG", "VALUE", "SOURCE", "FLAGS" };
	topic_config_table_t t = { .cols = 4 };

	topic_config_table_add(&t, 0, head);
	for (size_t i = 0; i < cnt; i++) {
		size_t scnt = 0;
		const rd_kafka_ConfigEntry_t **syn =
			synonyms ? rd_kafka_ConfigEntry_synonyms(es[i], &scnt) : NULL;

		table_entry(&t, 0, es[i], false);
		for (size_t j = 0; syn && j < scnt; j++)
			table_entry(&t, 2, syn[j], true);
	}
	topic_config_table_print(&t);
	topic_config_table_free(&t);
}

/* ---- JSON ---- */

static void json_value(const rd_kafka_ConfigEntry_t *e)
{
	rnl_json_str(rd_kafka_ConfigEntry_is_sensitive(e) == 1 ? NULL
							     : rd_kafka_ConfigEntry_value(e));
}

static void json_synonyms(const rd_kafka_ConfigEntry_t *e)
{
	size_t cnt = 0;
	const rd_kafka_ConfigEntry_t **syn = rd_kafka_ConfigEntry_synonyms(e, &cnt);

	putchar('[');
	for (size_t i = 0; syn && i < cnt; i++) {
		printf("%s{\"name\":", i ? "," : "");
		rnl_json_str(rd_kafka_ConfigEntry_name(syn[i]));
		printf(",\"value\":");
		json_value(syn[i]);
		printf(",\"source\":");
		rnl_json_str(topic_config_source_name(syn[i]));
		putchar('}');
	}
	putchar(']');
}

void topic_config_print_json(const rd_kafka_ConfigEntry_t **es, size_t cnt, bool synonyms)
{
	putchar('[');
	for (size_t i = 0; i < cnt; i++) {
		printf("%s{\"name\":", i ? "," : "");
		rnl_json_str(rd_kafka_ConfigEntry_name(es[i]));
		printf(",\"value\":");
		json_value(es[i]);
		printf(",\"source\":");
		rnl_json_str(topic_config_source_name(es[i]));
		printf(",\"read_only\":%s,\"sensitive\":%s,\"synonyms\":",
		       rd_kafka_ConfigEntry_is_read_only(es[i]) == 1 ? "true" : "false",
		       rd_kafka_ConfigEntry_is_sensitive(es[i]) == 1 ? "true" : "false");
		if (synonyms)
			json_synonyms(es[i]);
		else
			printf("null");
		putchar('}');
	}
	putchar(']');
}

/* ---- partitions (JSON) ---- */

static void json_ids(const char *key, const int32_t *ids, int cnt)
{
	printf(",\"%s\":[", key);
	for (int i = 0; i < cnt; i++)
		printf("%s%d", i ? "," : "", ids[i]);
	putchar(']');
}

static void json_partition(client_t *cl, const char *topic, const rd_kafka_metadata_partition_t *p)
{
	int64_t low = 0, high = 0;
	rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(cl->rk, topic, p->id, &low, &high,
								   cl->ctx->timeout_ms);

	printf("{\"partition\":%d,\"leader\":%d", p->id, p->leader);
	json_ids("replicas", p->replicas, p->replica_cnt);
	json_ids("isr", p->isrs, p->isr_cnt);
	if (err)
		printf(",\"low\":null,\"high\":null}");
	else
		printf(",\"low\":%lld,\"high\":%lld}", (long long)low, (long long)high);
	if (err)
		fprintf(stderr, "rnl: warning: partition %d: watermarks: %s\n", p->id,
			rd_kafka_err2str(err));
}

static int cmp_partition(const void *a, const void *b)
{
	const rd_kafka_metadata_partition_t *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

void topic_config_print_partitions_json(client_t *cl, const rd_kafka_metadata_topic_t *t)
{
	rd_kafka_metadata_partition_t *ps = malloc(sizeof(*ps) * (size_t)(t->partition_cnt + 1));

	if (!ps) {
		rnl_error("out of memory");
		printf("null");
		return;
	}
	/* Shallow copy, sorted: brokers need not list partitions in order. */
	memcpy(ps, t->partitions, sizeof(*ps) * (size_t)t->partition_cnt);
	qsort(ps, (size_t)t->partition_cnt, sizeof(*ps), cmp_partition);
	putchar('[');
	for (int i = 0; i < t->partition_cnt; i++) {
		if (i)
			putchar(',');
		json_partition(cl, t->topic, &ps[i]);
	}
	putchar(']');
	free(ps);
}
