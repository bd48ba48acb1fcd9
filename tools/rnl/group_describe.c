/*
 * group_describe — rnl group describe GROUP... [--json]: per group, a
 * header line (state, protocol type, assignor, coordinator), the members
 * with their assignments, and the offsets table, one row per partition of
 * each topic the group has a committed offset for or a member is assigned,
 * ordered by (topic, partition):
 *
 *   TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
 *
 * CURRENT-OFFSET is "-" for a partition without a commit, LAG is
 * LOG-END-OFFSET - CURRENT-OFFSET ("-" when either is unknown), the last
 * three columns name the member the partition is assigned to ("-": none).
 * LOG-END-OFFSET is the high watermark (ListOffsets read_uncommitted, as
 * Kafka's tool), not the last stable offset.
 *
 * --json prints {"groups":[...]} with one object per group holding the
 * same facts. A group that fails (missing, or an error) is reported on
 * stderr and the others are still shown; the exit code is then 1.
 */
#include "group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct describe_row {
	const char *topic;      /* borrowed from the partition list it came from */
	int32_t partition;
	int64_t committed;      /* committed offset, -1: none */
	int64_t end;            /* log-end offset (high watermark), -1: unknown */
	const rd_kafka_MemberDescription_t *member; /* assigned to, NULL: none;
						       borrowed from the description */
} describe_row_t;

/* ---- members ---- */

static const rd_kafka_topic_partition_list_t *
member_parts(const rd_kafka_MemberDescription_t *m)
{
	const rd_kafka_MemberAssignment_t *a = rd_kafka_MemberDescription_assignment(m);

	return a ? rd_kafka_MemberAssignment_partitions(a) : NULL;
}

/* The member of d assigned (topic, partition), or NULL. */
static const rd_kafka_MemberDescription_t *
member_of(const rd_kafka_ConsumerGroupDescription_t *d, const char *topic, int32_t partition)
{
	size_t cnt = rd_kafka_ConsumerGroupDescription_member_count(d);

	for (size_t i = 0; i < cnt; i++) {
		const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);
		const rd_kafka_topic_partition_list_t *parts = member_parts(m);

		if (parts && rd_kafka_topic_partition_list_find(parts, topic, partition))
			return m;
	}
	return NULL;
}

static int cmp_member(const void *a, const void *b)
{
	return strcmp(rd_kafka_MemberDescription_consumer_id(
			      *(const rd_kafka_MemberDescription_t *const *)a),
		      rd_kafka_MemberDescription_consumer_id(
			      *(const rd_kafka_MemberDescription_t *const *)b));
}

/* The members of d sorted by member id, in a new array (caller frees;
 * the members stay borrowed from d). NULL after "out of memory". */
static const rd_kafka_MemberDescription_t **
members_sorted(const rd_kafka_ConsumerGroupDescription_t *d, size_t *cnt)
{
	const rd_kafka_MemberDescription_t **ms;

	*cnt = rd_kafka_ConsumerGroupDescription_member_count(d);
	ms = malloc(sizeof(*ms) * (*cnt + 1));
	if (!ms) {
		rnl_error("out of memory");
		return NULL;
	}
	for (size_t i = 0; i < *cnt; i++)
		ms[i] = rd_kafka_ConsumerGroupDescription_member(d, i);
	qsort(ms, *cnt, sizeof(*ms), cmp_member);
	return ms;
}

/* A member's assignment sorted by (topic, partition); caller destroys. */
static rd_kafka_topic_partition_list_t *assignment_sorted(const rd_kafka_MemberDescription_t *m)
{
	const rd_kafka_topic_partition_list_t *parts = member_parts(m);
	rd_kafka_topic_partition_list_t *copy = parts ? rd_kafka_topic_partition_list_copy(parts)
						      : rd_kafka_topic_partition_list_new(0);

	rd_kafka_topic_partition_list_sort(copy, NULL, NULL);
	return copy;
}

/* A sorted assignment as "orders:0,1,2 payments:0" ("" if empty), in a
 * string the caller frees; NULL when out of memory. */
static char *fmt_assignment(const rd_kafka_topic_partition_list_t *l)
{
	size_t size = 1, len = 0;
	char *buf;

	for (int i = 0; i < l->cnt; i++)
		size += strlen(l->elems[i].topic) + 13; /* " " ":" and an int32 */
	if (!(buf = malloc(size)))
		return NULL;
	buf[0] = '\0';
	for (int i = 0; i < l->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &l->elems[i];

		if (i > 0 && strcmp(l->elems[i - 1].topic, tp->topic) == 0)
			len += (size_t)snprintf(buf + len, size - len, ",%d", tp->partition);
		else
			len += (size_t)snprintf(buf + len, size - len, "%s%s:%d", i ? " " : "",
						tp->topic, tp->partition);
	}
	return buf;
}

/* ---- offsets table rows ---- */

/* The partitions describe shows (see above), sorted by topic
 * then partition. Caller destroys. */
static rd_kafka_topic_partition_list_t *
describe_partitions(const rd_kafka_ConsumerGroupDescription_t *d,
		    const rd_kafka_topic_partition_list_t *committed, const rd_kafka_metadata_t *md)
{
	rd_kafka_topic_partition_list_t *want = rd_kafka_topic_partition_list_new(16);
	size_t members = rd_kafka_ConsumerGroupDescription_member_count(d);
	int named;

	for (int i = 0; i < committed->cnt; i++)
		if (committed->elems[i].offset >= 0)
			group_tp_add(want, committed->elems[i].topic, committed->elems[i].partition);
	for (size_t i = 0; i < members; i++) {
		const rd_kafka_topic_partition_list_t *parts =
			member_parts(rd_kafka_ConsumerGroupDescription_member(d, i));

		for (int j = 0; parts && j < parts->cnt; j++)
			group_tp_add(want, parts->elems[j].topic, parts->elems[j].partition);
	}
	named = want->cnt;
	for (int i = 0; i < named; i++)
		group_tp_add_topic(want, md, want->elems[i].topic);
	rd_kafka_topic_partition_list_sort(want, NULL, NULL);
	return want;
}

/* The log-end offset of a partition, or -1 (with a warning) if the
 * leader did not answer ListOffsets. */
static int64_t log_end(client_t *cl, const char *topic, int32_t partition)
{
	int64_t low = -1, high = -1;
	rd_kafka_resp_err_t err;

	err = rd_kafka_query_watermark_offsets(cl->rk, topic, partition, &low, &high,
					       cl->ctx->timeout_ms);
	if (!err)
		return high;
	fprintf(stderr, "rnl: warning: %s:%d: log-end offset: %s (%s)\n", topic, partition,
		rd_kafka_err2name(err), group_err_text(err, NULL));
	return -1;
}

/* ---- text ---- */

static void describe_header(const rd_kafka_ConsumerGroupDescription_t *d)
{
	const rd_kafka_Node_t *co = rd_kafka_ConsumerGroupDescription_coordinator(d);
	const char *assignor = rd_kafka_ConsumerGroupDescription_partition_assignor(d);

	printf("group \"%s\": state %s, protocol type %s, assignor %s, coordinator ",
	       rd_kafka_ConsumerGroupDescription_group_id(d),
	       group_state_name(rd_kafka_ConsumerGroupDescription_state(d)),
	       rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(d) ? "-" : "consumer",
	       assignor && *assignor ? assignor : "-");
	if (co)
		printf("%d (%s:%u)\n", rd_kafka_Node_id(co), rd_kafka_Node_host(co),
		       (unsigned)rd_kafka_Node_port(co));
	else
		printf("-\n");
}

static bool describe_members_text(const rd_kafka_MemberDescription_t **ms, size_t cnt)
{
	group_table_t t = { .cols = 5 };
	bool ok;

	if (cnt == 0) {
		printf("members: none\n");
		return true;
	}
	printf("members: %zu\n", cnt);
	group_table_add(&t, "CONSUMER-ID", "INSTANCE-ID", "HOST", "CLIENT-ID", "ASSIGNMENT");
	for (size_t i = 0; i < cnt; i++) {
		rd_kafka_topic_partition_list_t *a = assignment_sorted(ms[i]);
		char *parts = fmt_assignment(a);

		t.oom |= !parts;
		group_table_add(&t, rd_kafka_MemberDescription_consumer_id(ms[i]),
			  rd_kafka_MemberDescription_group_instance_id(ms[i]),
			  rd_kafka_MemberDescription_host(ms[i]),
			  rd_kafka_MemberDescription_client_id(ms[i]), parts);
		free(parts);
		rd_kafka_topic_partition_list_destroy(a);
	}
	ok = group_table_print(&t);
	group_table_free(&t);
	return ok;
}

static bool describe_rows_text(const describe_row_t *rows, size_t cnt)
{
	group_table_t t = { .cols = 8 };
	char part[16], cur[24], end[24], lag[24];
	bool ok;

	if (cnt == 0) {
		printf("offsets: none\n");
		return true;
	}
	group_table_add(&t, "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
		  "CONSUMER-ID", "HOST", "CLIENT-ID");
	for (size_t i = 0; i < cnt; i++) {
		const describe_row_t *r = &rows[i];
		const rd_kafka_MemberDescription_t *m = r->member;
		bool known = r->committed >= 0 && r->end >= 0;

		snprintf(part, sizeof(part), "%d", r->partition);
		if (known)
			snprintf(lag, sizeof(lag), "%lld", (long long)(r->end - r->committed));
		group_table_add(&t, r->topic, part, group_fmt_i64(r->committed, cur, sizeof(cur)),
			  group_fmt_i64(r->end, end, sizeof(end)), known ? lag : "-",
			  m ? rd_kafka_MemberDescription_consumer_id(m) : NULL,
			  m ? rd_kafka_MemberDescription_host(m) : NULL,
			  m ? rd_kafka_MemberDescription_client_id(m) : NULL);
	}
	ok = group_table_print(&t);
	group_table_free(&t);
	return ok;
}

/* ---- JSON ---- */

/* NULL and "" are both "none" in JSON. */
static const char *or_null(const char *s)
{
	return s && *s ? s : NULL;
}

static void describe_members_json(const rd_kafka_MemberDescription_t **ms, size_t cnt)
{
	printf("\"members\":[");
	for (size_t i = 0; i < cnt; i++) {
		rd_kafka_topic_partition_list_t *a = assignment_sorted(ms[i]);

		printf("%s{\"consumer_id\":", i ? "," : "");
		rnl_json_str(rd_kafka_MemberDescription_consumer_id(ms[i]));
		printf(",\"instance_id\":");
		rnl_json_str(or_null(rd_kafka_MemberDescription_group_instance_id(ms[i])));
		printf(",\"host\":");
		rnl_json_str(rd_kafka_MemberDescription_host(ms[i]));
		printf(",\"client_id\":");
		rnl_json_str(rd_kafka_MemberDescription_client_id(ms[i]));
		printf(",\"assignment\":[");
		for (int j = 0; j < a->cnt; j++) {
			printf("%s{\"topic\":", j ? "," : "");
			rnl_json_str(a->elems[j].topic);
			printf(",\"partition\":%d}", a->elems[j].partition);
		}
		printf("]}");
		rd_kafka_topic_partition_list_destroy(a);
	}
	printf("],");
}

static void describe_rows_json(const describe_row_t *rows, size_t cnt)
{
	printf("\"offsets\":[");
	for (size_t i = 0; i < cnt; i++) {
		const describe_row_t *r = &rows[i];
		const rd_kafka_MemberDescription_t *m = r->member;
		bool known = r->committed >= 0 && r->end >= 0;

		printf("%s{\"topic\":", i ? "," : "");
		rnl_json_str(r->topic);
		printf(",\"partition\":%d,", r->partition);
		group_json_i64("current_offset", r->committed, ",");
		group_json_i64("log_end_offset", r->end, ",");
		if (known)
			printf("\"lag\":%lld,", (long long)(r->end - r->committed));
		else
			printf("\"lag\":null,");
		printf("\"consumer_id\":");
		rnl_json_str(m ? rd_kafka_MemberDescription_consumer_id(m) : NULL);
		printf(",\"host\":");
		rnl_json_str(m ? rd_kafka_MemberDescription_host(m) : NULL);
		printf(",\"client_id\":");
		rnl_json_str(m ? rd_kafka_MemberDescription_client_id(m) : NULL);
		putchar('}');
	}
	printf("]");
}

static void describe_json(const rd_kafka_ConsumerGroupDescription_t *d,
			  const rd_kafka_MemberDescription_t **ms, size_t member_cnt,
			  const describe_row_t *rows, size_t row_cnt)
{
	const rd_kafka_Node_t *co = rd_kafka_ConsumerGroupDescription_coordinator(d);

	printf("{\"group\":");
	rnl_json_str(rd_kafka_ConsumerGroupDescription_group_id(d));
	printf(",\"state\":");
	rnl_json_str(group_state_name(rd_kafka_ConsumerGroupDescription_state(d)));
	printf(",\"protocol_type\":");
	rnl_json_str(rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(d) ? "" : "consumer");
	printf(",\"assignor\":");
	rnl_json_str(rd_kafka_ConsumerGroupDescription_partition_assignor(d));
	printf(",\"coordinator\":");
	if (co) {
		printf("{\"id\":%d,\"host\":", rd_kafka_Node_id(co));
		rnl_json_str(rd_kafka_Node_host(co));
		printf(",\"port\":%u},", (unsigned)rd_kafka_Node_port(co));
	} else {
		printf("null,");
	}
	describe_members_json(ms, member_cnt);
	describe_rows_json(rows, row_cnt);
	putchar('}');
}

/* ---- run ---- */

/* Fills rows[] (want->cnt of them) from the committed offsets, ListOffsets
 * and the members' assignments. */
static void describe_fill(client_t *cl, const rd_kafka_ConsumerGroupDescription_t *d,
			  const rd_kafka_topic_partition_list_t *want,
			  const rd_kafka_topic_partition_list_t *committed, describe_row_t *rows)
{
	for (int i = 0; i < want->cnt; i++) {
		const char *topic = want->elems[i].topic;
		int32_t p = want->elems[i].partition;

		rows[i] = (describe_row_t){
			.topic = topic,
			.partition = p,
			.committed = group_committed_of(committed, topic, p),
			.end = log_end(cl, topic, p),
			.member = member_of(d, topic, p),
		};
	}
}

/* Describes one group: text block or (json) one object. `shown` counts
 * the groups printed before. Returns false after printing an error. */
static bool describe_one(client_t *cl, const rd_kafka_metadata_t *md,
			 const rd_kafka_ConsumerGroupDescription_t *d, bool json, int shown)
{
	const char *name = rd_kafka_ConsumerGroupDescription_group_id(d);
	rd_kafka_topic_partition_list_t *committed, *want;
	const rd_kafka_MemberDescription_t **ms;
	describe_row_t *rows;
	size_t member_cnt;
	bool ok = true;

	committed = group_committed_fetch(cl, name, md, "describe");
	if (!committed)
		return false;
	want = describe_partitions(d, committed, md);
	rows = calloc((size_t)want->cnt + 1, sizeof(*rows));
	ms = members_sorted(d, &member_cnt);
	if (!rows || !ms) {
		if (!rows)
			rnl_error("out of memory");
		ok = false;
		goto out;
	}
	describe_fill(cl, d, want, committed, rows);
	if (json) {
		printf("%s", shown ? "," : "");
		describe_json(d, ms, member_cnt, rows, (size_t)want->cnt);
	} else {
		printf("%s", shown ? "\n" : "");
		describe_header(d);
		ok = describe_members_text(ms, member_cnt) &&
		     describe_rows_text(rows, (size_t)want->cnt);
	}
out:
	free(ms);
	free(rows);
	rd_kafka_topic_partition_list_destroy(want);
	rd_kafka_topic_partition_list_destroy(committed);
	return ok;
}

static int describe_run(client_t *cl, const char **names, size_t cnt, bool json)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	rd_kafka_event_t *ev;
	int rc = RNL_EXIT_OK, shown = 0;

	if (!md)
		return RNL_EXIT_FAIL;
	ev = group_descs_fetch(cl, names, cnt, "describe");
	if (!ev) {
		rd_kafka_metadata_destroy(md);
		return RNL_EXIT_FAIL;
	}
	if (json)
		printf("{\"groups\":[");
	for (size_t i = 0; i < cnt; i++) {
		const rd_kafka_ConsumerGroupDescription_t *d = group_desc_find(cl, ev, names[i], "describe");

		if (d && describe_one(cl, md, d, json, shown))
			shown++;
		else
			rc = RNL_EXIT_FAIL;
		fflush(stdout);
	}
	if (json)
		printf("]}\n");
	rd_kafka_event_destroy(ev);
	rd_kafka_metadata_destroy(md);
	return rc;
}

int group_describe(rnl_ctx_t *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	client_t cl = { 0 };
	bool json = false;
	int c, rc, cnt = 0;

	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "", opts)) != -1) {
		if (c == 'h')
			return rnl_help(group_usage_text());
		if (c != 'j')
			return rnl_usage_hint("group ");
		json = true;
	}
	rc = group_open_names(&cl, ctx, argc, argv, "describe", &cnt);
	if (rc == RNL_EXIT_OK)
		rc = describe_run(&cl, (const char **)(argv + optind), (size_t)cnt, json);
	client_close(&cl);
	return rc;
}

