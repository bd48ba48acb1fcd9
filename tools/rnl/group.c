/*
 * group — rnl group list|describe|delete|seek: consumer groups and their
 * committed offsets, shown and reset the way kafka-consumer-groups.sh does.
 *
 * Which API each verb uses (all through librdkafka's admin API, on one
 * consumer-type handle that joins nothing):
 *
 *   list      ListConsumerGroups (ListGroups, every broker), with the state
 *             filter when --state is given. A broker older than ListGroups
 *             v4 sends no state and ignores the filter: those groups are
 *             described (DescribeGroups) to learn it, and the filter is
 *             applied here as well.
 *   describe  DescribeConsumerGroups (FindCoordinator + DescribeGroups; the
 *             consumer-protocol assignment arrives decoded), committed
 *             offsets from ListConsumerGroupOffsets (OffsetFetch), log-end
 *             offsets from ListOffsets (rd_kafka_query_watermark_offsets).
 *   delete    DeleteGroups.
 *   seek      DescribeConsumerGroups (the state check), OffsetFetch (the
 *             OLD column and --all-topics), ListOffsets (watermarks),
 *             OffsetsForTimes (--to-datetime), AlterConsumerGroupOffsets
 *             (OffsetCommit as an admin: generation -1, no member id).
 *
 * Committed offsets are asked for with an explicit list: every partition of
 * every topic in Metadata. librdkafka 2.0.2 encodes "all partitions" (a
 * NULL list) as an empty array for OffsetFetch below v6, which a broker
 * answers with nothing, and at v6+ as a null array followed by stray bytes;
 * the explicit list means the same on every version. The price: offsets
 * committed for a topic that no longer exists are not shown.
 *
 * describe's offsets table has one row per partition of each topic the
 * group has a committed offset for or a member is assigned, ordered by
 * (topic, partition):
 *
 *   TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
 *
 * CURRENT-OFFSET is "-" for a partition without a commit, LAG is
 * LOG-END-OFFSET - CURRENT-OFFSET ("-" when either is unknown), the last
 * three columns name the member the partition is assigned to ("-": none).
 * LOG-END-OFFSET and seek's "latest" are the high watermark (ListOffsets
 * read_uncommitted, as Kafka's tool), not the last stable offset.
 *
 * seek computes one new offset per partition, then commits them all in one
 * request (unless --dry-run):
 *
 *   --to-earliest  the low watermark        --to-latest  the high watermark
 *   --to-offset N  N clamped into [low, high] (a warning says when)
 *   --to-datetime  the first offset with a timestamp >= WHEN, or the high
 *                  watermark when there is none
 *
 * It refuses unless the group is Empty or Dead: a running consumer would
 * overwrite the offsets with its next commit, and the coordinator rejects
 * an admin commit to a group with members anyway.
 *
 * Text output is tables with columns two spaces apart ("-" for an empty
 * or unknown value); --json prints one object on one line with the same
 * facts (null for "-", numbers as numbers). Errors are one line each on
 * stderr, `rnl: VERB group "G": KAFKA_ERROR_NAME (description)`.
 */
#include "client.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char group_usage[] =
	"usage: rnl group list [--state STATE[,STATE...]] [--json]\n"
	"       rnl group describe GROUP... [--json]\n"
	"       rnl group delete GROUP...\n"
	"       rnl group seek GROUP (--topic TOPIC[:P[,P...]]... | --all-topics)\n"
	"                      (--to-earliest | --to-latest | --to-offset N | --to-datetime WHEN)\n"
	"                      [--dry-run] [--json]\n"
	"\n"
	"list:      -s, --state S[,S...]     only groups in these states: Empty, Stable,\n"
	"                                    PreparingRebalance, CompletingRebalance, Dead\n"
	"               --json               one JSON object on stdout instead of the table\n"
	"describe:      --json               state, members, committed offsets and lag as JSON\n"
	"seek:      -t, --topic T[:P[,P...]] a topic (all its partitions) or some of its\n"
	"                                    partitions; repeatable\n"
	"               --all-topics         every topic the group has committed offsets for\n"
	"               --to-earliest        each partition's first offset\n"
	"               --to-latest          each partition's end (high watermark)\n"
	"               --to-offset N        offset N, clamped into [earliest, latest]\n"
	"               --to-datetime WHEN   the first record at or after WHEN: ms since the\n"
	"                                    epoch or YYYY-MM-DDTHH:MM:SS[.mmm][Z|+HH:MM]\n"
	"                                    (local time without a zone); the end if none\n"
	"               --dry-run            print the new offsets, commit nothing\n"
	"               --json               one JSON object on stdout instead of the table\n"
	"seek refuses unless the group is Empty or Dead (no consumer running).\n"
	"\n"
	"global options: --brokers, --timeout, -X key=value (see `rnl --help`)\n";

/* ---- output: tables and JSON ---- */

typedef struct table {
	size_t cols;
	size_t rows;
	size_t cap;             /* rows allocated in cell */
	char **cell;            /* rows x cols strings, row-major; owned */
	bool oom;               /* an allocation failed; table_print reports it */
} table_t;

/* Appends a row of t->cols strings (const char *); NULL or "" shows "-". */
static void table_add(table_t *t, ...)
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

/* Prints the table on stdout, left-aligned, columns two spaces apart, the
 * last column unpadded. Returns false after printing "out of memory". */
static bool table_print(const table_t *t)
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

static void table_free(table_t *t)
{
	for (size_t i = 0; i < t->rows * t->cols; i++)
		free(t->cell[i]);
	free(t->cell);
	*t = (table_t){ 0 };
}

/* Writes v in decimal, or "-" when v < 0 (unknown / none), into buf. */
static const char *fmt_i64(int64_t v, char *buf, size_t size)
{
	if (v < 0)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%lld", (long long)v);
	return buf;
}

/* Prints s as a JSON string, or null for NULL. */
static void json_str(const char *s)
{
	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* Prints "key":v, or "key":null when v < 0, then sep. */
static void json_i64(const char *key, int64_t v, const char *sep)
{
	if (v < 0)
		printf("\"%s\":null%s", key, sep);
	else
		printf("\"%s\":%lld%s", key, (long long)v, sep);
}

/* NULL and "" are both "none" in JSON. */
static const char *or_null(const char *s)
{
	return s && *s ? s : NULL;
}

/* ---- errors and admin requests ---- */

/* A Kafka error's description without librdkafka's "Broker: " prefix;
 * for a local error, msg (more precise) when there is one. */
static const char *err_text(rd_kafka_resp_err_t err, const char *msg)
{
	const char *s = err > 0 || !msg || !*msg ? rd_kafka_err2str(err) : msg;

	return strncmp(s, "Broker: ", 8) == 0 ? s + 8 : s;
}

/* Prints `rnl: WHAT group "GROUP": NAME (description)`, or with group NULL
 * `rnl: WHAT groups: ...`; a timeout as "no answer from the broker". */
static void group_report(client_t *cl, const char *what, const char *group,
			 rd_kafka_resp_err_t err, const char *msg)
{
	char secs[32], subject[512];

	if (group)
		snprintf(subject, sizeof(subject), "%s group \"%s\"", what, group);
	else
		snprintf(subject, sizeof(subject), "%s groups", what);
	if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
		rnl_error("%s: no answer from the broker (timed out after %s)", subject,
			  rnl_fmt_secs(cl->ctx->timeout_ms, secs, sizeof(secs)));
	else
		rnl_error("%s: %s (%s)", subject, rd_kafka_err2name(err), err_text(err, msg));
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits on q for an admin call's result event, serving the handle's
 * callbacks meanwhile. Returns the event (caller destroys it) or NULL
 * after printing the error of the whole request (group_report). */
static rd_kafka_event_t *group_wait(client_t *cl, rd_kafka_queue_t *q, const char *what,
				    const char *group)
{
	/* The request times out after --timeout itself; the slack lets its
	 * own error event arrive first. */
	int64_t deadline = mono_ms() + cl->ctx->timeout_ms + 2000;
	rd_kafka_event_t *ev = NULL;
	rd_kafka_resp_err_t err;

	while (!ev && mono_ms() < deadline) {
		ev = rd_kafka_queue_poll(q, 100);
		rd_kafka_poll(cl->rk, 0);
	}
	if (!ev) {
		group_report(cl, what, group, RD_KAFKA_RESP_ERR__TIMED_OUT, NULL);
		return NULL;
	}
	err = rd_kafka_event_error(ev);
	if (err) {
		group_report(cl, what, group, err, rd_kafka_event_error_string(ev));
		rd_kafka_event_destroy(ev);
		return NULL;
	}
	return ev;
}

/* Opens the consumer-type handle every verb uses. isolation.level (a
 * consumer property) read_uncommitted makes ListOffsets answer the high
 * watermark, which is what Kafka's tool calls the log-end offset. Without
 * a group.id the handle joins and commits nothing. Returns RNL_EXIT_OK or
 * the exit code to return after printing the error. */
static int group_open(client_t *cl, rnl_ctx_t *ctx)
{
	static const char *const defaults[] = { "isolation.level", "read_uncommitted", NULL };
	bool usage;
	rd_kafka_conf_t *conf = client_conf_new(ctx, defaults, &usage);

	if (!conf)
		return usage ? rnl_usage_hint(NULL) : RNL_EXIT_FAIL;
	return client_open(cl, ctx, RD_KAFKA_CONSUMER, conf) ? RNL_EXIT_OK : RNL_EXIT_FAIL;
}

/* librdkafka 2.0.2's mock cluster has no ListGroups, DescribeGroups or
 * DeleteGroups. Worse, a group request the coordinator does not support
 * makes librdkafka 2.0.2 release the admin request twice (an assertion
 * failure, or rd_kafka_destroy() hanging; fixed upstream in 2025), so under
 * --mock the verbs say so up front instead. */
static int group_no_mock(const char *verb)
{
	rnl_error("group %s: not available from the mock cluster (it has no group APIs)", verb);
	return RNL_EXIT_FAIL;
}

/* Removes repeated names in place (librdkafka rejects duplicates), keeping
 * the first of each. Returns the count left. */
static int names_unique(char **names, int cnt)
{
	int kept = 0;

	for (int i = 0; i < cnt; i++) {
		bool seen = false;

		for (int j = 0; j < kept && !seen; j++)
			seen = strcmp(names[j], names[i]) == 0;
		if (!seen)
			names[kept++] = names[i];
	}
	return kept;
}

static const char *state_name(rd_kafka_consumer_group_state_t state)
{
	const char *s = rd_kafka_consumer_group_state_name(state);

	return s ? s : "Unknown";
}

/* ---- shared look-ups ---- */

/* DescribeConsumerGroups for names[0..cnt). Returns the result event (the
 * descriptions live as long as it; caller destroys it) or NULL after
 * printing the error. */
static rd_kafka_event_t *describe_send(client_t *cl, const char **names, size_t cnt,
				       const char *what)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(cl->rk);
	rd_kafka_AdminOptions_t *opts =
		client_admin_options(cl, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
	rd_kafka_event_t *ev;

	rd_kafka_DescribeConsumerGroups(cl->rk, names, cnt, opts, q);
	ev = group_wait(cl, q, what, cnt == 1 ? names[0] : NULL);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return ev;
}

/* The description of group `name` in a DescribeConsumerGroups result, or
 * NULL (after printing) if it is missing or carries an error. */
static const rd_kafka_ConsumerGroupDescription_t *desc_find(client_t *cl, rd_kafka_event_t *ev,
							    const char *name, const char *what)
{
	size_t cnt;
	const rd_kafka_ConsumerGroupDescription_t **ds =
		rd_kafka_DescribeConsumerGroups_result_groups(
			rd_kafka_event_DescribeConsumerGroups_result(ev), &cnt);

	for (size_t i = 0; i < cnt; i++) {
		const rd_kafka_error_t *e;

		if (strcmp(rd_kafka_ConsumerGroupDescription_group_id(ds[i]), name) != 0)
			continue;
		e = rd_kafka_ConsumerGroupDescription_error(ds[i]);
		if (!e)
			return ds[i];
		group_report(cl, what, name, rd_kafka_error_code(e), rd_kafka_error_string(e));
		return NULL;
	}
	rnl_error("%s group \"%s\": missing from the broker's answer", what, name);
	return NULL;
}

/* Every partition of every topic in md, offsets unset. Caller destroys. */
static rd_kafka_topic_partition_list_t *all_partitions(const rd_kafka_metadata_t *md)
{
	rd_kafka_topic_partition_list_t *all = rd_kafka_topic_partition_list_new(16);

	for (int i = 0; i < md->topic_cnt; i++) {
		const rd_kafka_metadata_topic_t *t = &md->topics[i];

		if (t->err)
			continue;
		for (int p = 0; p < t->partition_cnt; p++)
			rd_kafka_topic_partition_list_add(all, t->topic, t->partitions[p].id);
	}
	return all;
}

/* Copies the partitions of an OffsetFetch answer; a partition-level error
 * is a warning and counts as "no committed offset". */
static rd_kafka_topic_partition_list_t *committed_copy(const char *group,
						       const rd_kafka_group_result_t *res)
{
	rd_kafka_topic_partition_list_t *out =
		rd_kafka_topic_partition_list_copy(rd_kafka_group_result_partitions(res));

	for (int i = 0; i < out->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &out->elems[i];

		if (!tp->err)
			continue;
		fprintf(stderr, "rnl: warning: group \"%s\": committed offset of %s:%d: %s (%s)\n",
			group, tp->topic, tp->partition, rd_kafka_err2name(tp->err),
			err_text(tp->err, NULL));
		tp->offset = RD_KAFKA_OFFSET_INVALID;
	}
	return out;
}

/* The group's committed offsets for every partition in md (see the design
 * note). Returns a list the caller destroys: offset >= 0 committed,
 * negative none; or NULL after printing the error. */
static rd_kafka_topic_partition_list_t *committed_fetch(client_t *cl, const char *group,
							const rd_kafka_metadata_t *md,
							const char *what)
{
	rd_kafka_topic_partition_list_t *all = all_partitions(md), *out = NULL;
	rd_kafka_ListConsumerGroupOffsets_t *req;
	rd_kafka_AdminOptions_t *opts;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	const rd_kafka_group_result_t **res;
	const rd_kafka_error_t *e;
	size_t cnt;

	if (all->cnt == 0)
		return all; /* librdkafka refuses an empty list */
	req = rd_kafka_ListConsumerGroupOffsets_new(group, all);
	opts = client_admin_options(cl, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS);
	q = rd_kafka_queue_new(cl->rk);
	rd_kafka_ListConsumerGroupOffsets(cl->rk, &req, 1, opts, q);
	ev = group_wait(cl, q, what, group);
	if (!ev)
		goto out;
	res = rd_kafka_ListConsumerGroupOffsets_result_groups(
		rd_kafka_event_ListConsumerGroupOffsets_result(ev), &cnt);
	e = cnt ? rd_kafka_group_result_error(res[0]) : NULL;
	if (cnt == 0 || !rd_kafka_group_result_partitions(res[0]))
		rnl_error("%s group \"%s\": empty OffsetFetch answer", what, group);
	else if (e)
		group_report(cl, what, group, rd_kafka_error_code(e), rd_kafka_error_string(e));
	else
		out = committed_copy(group, res[0]);
	rd_kafka_event_destroy(ev);
out:
	rd_kafka_ListConsumerGroupOffsets_destroy(req);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	rd_kafka_topic_partition_list_destroy(all);
	return out;
}

/* The committed offset of (topic, partition) in l, or -1 if none. */
static int64_t committed_of(const rd_kafka_topic_partition_list_t *l, const char *topic,
			    int32_t partition)
{
	const rd_kafka_topic_partition_t *tp =
		rd_kafka_topic_partition_list_find(l, topic, partition);

	return tp && tp->offset >= 0 ? tp->offset : -1;
}

/* Adds (topic, partition) to l unless it is there already. */
static void tp_add(rd_kafka_topic_partition_list_t *l, const char *topic, int32_t partition)
{
	if (!rd_kafka_topic_partition_list_find(l, topic, partition))
		rd_kafka_topic_partition_list_add(l, topic, partition);
}

/* Adds every partition of the topic named in md (nothing if it is not). */
static void tp_add_topic(rd_kafka_topic_partition_list_t *l, const rd_kafka_metadata_t *md,
			 const char *topic)
{
	const rd_kafka_metadata_topic_t *t = client_topic_find(md, topic);

	for (int p = 0; t && p < t->partition_cnt; p++)
		tp_add(l, topic, t->partitions[p].id);
}

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

/* ---- list ---- */

typedef struct listing {
	const char *group;      /* borrowed from the ListConsumerGroups event */
	rd_kafka_consumer_group_state_t state;
	bool simple;            /* protocol type "": offsets only, nobody ever joined */
} listing_t;

static int cmp_listing(const void *a, const void *b)
{
	return strcmp(((const listing_t *)a)->group, ((const listing_t *)b)->group);
}

/* Parses "Empty,Stable" (any case) into states[]. Returns false after a
 * usage error. */
static bool parse_states(const char *arg, rd_kafka_consumer_group_state_t *states, size_t *cnt)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", arg);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		rd_kafka_consumer_group_state_t s = rd_kafka_consumer_group_state_code(tok);
		bool seen = false;

		if (s == RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN) {
			rnl_error("--state: unknown state '%s' (use Empty, Stable, "
				  "PreparingRebalance, CompletingRebalance or Dead)", tok);
			return false;
		}
		for (size_t i = 0; i < *cnt; i++)
			seen |= states[i] == s;
		if (!seen)
			states[(*cnt)++] = s;
	}
	return true;
}

/* Learns by DescribeGroups the state of groups a broker older than
 * ListGroups v4 listed without one. Returns false after printing. */
static bool list_fill_states(client_t *cl, listing_t *ls, size_t cnt)
{
	const char **names = malloc(sizeof(*names) * (cnt + 1));
	rd_kafka_event_t *ev;
	size_t n = 0;
	bool ok = true;

	if (!names) {
		rnl_error("out of memory");
		return false;
	}
	for (size_t i = 0; i < cnt; i++)
		if (ls[i].state == RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN)
			names[n++] = ls[i].group;
	ev = n ? describe_send(cl, names, n, "describe") : NULL;
	for (size_t i = 0; ev && i < cnt; i++) {
		const rd_kafka_ConsumerGroupDescription_t *d;

		if (ls[i].state != RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN)
			continue;
		d = desc_find(cl, ev, ls[i].group, "describe");
		if (d)
			ls[i].state = rd_kafka_ConsumerGroupDescription_state(d);
		ok &= d != NULL;
	}
	if (ev)
		rd_kafka_event_destroy(ev);
	free(names);
	return ok && (n == 0 || ev);
}

static bool state_wanted(rd_kafka_consumer_group_state_t s,
			 const rd_kafka_consumer_group_state_t *states, size_t state_cnt)
{
	for (size_t i = 0; i < state_cnt; i++)
		if (states[i] == s)
			return true;
	return state_cnt == 0;
}

static bool list_print(const listing_t *ls, size_t cnt, bool json)
{
	table_t t = { .cols = 3 };
	bool ok = true;

	if (json)
		printf("{\"groups\":[");
	else
		table_add(&t, "GROUP", "STATE", "PROTOCOL-TYPE");
	for (size_t i = 0; i < cnt; i++) {
		const char *ptype = ls[i].simple ? "" : "consumer";

		if (!json) {
			table_add(&t, ls[i].group, state_name(ls[i].state), ptype);
			continue;
		}
		printf("%s{\"group\":", i ? "," : "");
		json_str(ls[i].group);
		printf(",\"state\":");
		json_str(state_name(ls[i].state));
		printf(",\"protocol_type\":");
		json_str(ptype);
		putchar('}');
	}
	if (json)
		printf("]}\n");
	else
		ok = table_print(&t);
	table_free(&t);
	return ok;
}

/* Sends ListConsumerGroups (with the state filter). Returns the event or
 * NULL after printing. */
static rd_kafka_event_t *list_send(client_t *cl, const rd_kafka_consumer_group_state_t *states,
				   size_t state_cnt)
{
	rd_kafka_AdminOptions_t *opts =
		client_admin_options(cl, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
	rd_kafka_queue_t *q = rd_kafka_queue_new(cl->rk);
	rd_kafka_event_t *ev = NULL;
	rd_kafka_error_t *e = NULL;

	if (state_cnt)
		e = rd_kafka_AdminOptions_set_match_consumer_group_states(opts, states, state_cnt);
	if (e) {
		rnl_error("list groups: --state: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	} else {
		rd_kafka_ListConsumerGroups(cl->rk, opts, q);
		ev = group_wait(cl, q, "list", NULL);
	}
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return ev;
}

static int list_run(client_t *cl, const rd_kafka_consumer_group_state_t *states,
		    size_t state_cnt, bool json)
{
	const rd_kafka_ListConsumerGroups_result_t *res;
	const rd_kafka_ConsumerGroupListing_t **valid;
	const rd_kafka_error_t **errs;
	rd_kafka_event_t *ev;
	listing_t *ls;
	size_t cnt, err_cnt, kept = 0;
	int rc = RNL_EXIT_OK;

	if (!(ev = list_send(cl, states, state_cnt)))
		return RNL_EXIT_FAIL;
	res = rd_kafka_event_ListConsumerGroups_result(ev);
	valid = rd_kafka_ListConsumerGroups_result_valid(res, &cnt);
	errs = rd_kafka_ListConsumerGroups_result_errors(res, &err_cnt);
	ls = malloc(sizeof(*ls) * (cnt + 1));
	if (!ls) {
		rnl_error("out of memory");
		rd_kafka_event_destroy(ev);
		return RNL_EXIT_FAIL;
	}
	for (size_t i = 0; i < cnt; i++)
		ls[i] = (listing_t){
			.group = rd_kafka_ConsumerGroupListing_group_id(valid[i]),
			.state = rd_kafka_ConsumerGroupListing_state(valid[i]),
			.simple = rd_kafka_ConsumerGroupListing_is_simple_consumer_group(valid[i]),
		};
	if (!list_fill_states(cl, ls, cnt))
		rc = RNL_EXIT_FAIL;
	for (size_t i = 0; i < cnt; i++)
		if (state_wanted(ls[i].state, states, state_cnt))
			ls[kept++] = ls[i];
	qsort(ls, kept, sizeof(*ls), cmp_listing);
	if (!list_print(ls, kept, json))
		rc = RNL_EXIT_FAIL;
	/* A broker that did not answer: what the others listed is shown. */
	for (size_t i = 0; i < err_cnt; i++) {
		group_report(cl, "list", NULL, rd_kafka_error_code(errs[i]),
			     rd_kafka_error_string(errs[i]));
		rc = RNL_EXIT_FAIL;
	}
	free(ls);
	rd_kafka_event_destroy(ev);
	return rc;
}

static int group_list(rnl_ctx_t *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	rd_kafka_consumer_group_state_t states[RD_KAFKA_CONSUMER_GROUP_STATE__CNT];
	size_t state_cnt = 0;
	const rd_kafka_metadata_t *md;
	client_t cl = { 0 };
	bool json = false;
	int c, rc;

	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "s:", opts)) != -1) {
		if (c == 'h')
			return rnl_help(group_usage);
		if (c == 's' && parse_states(optarg, states, &state_cnt))
			continue;
		if (c == 'j') {
			json = true;
			continue;
		}
		return rnl_usage_hint("group ");
	}
	if (optind < argc)
		return rnl_usage_error("group ", "unexpected argument '%s'", argv[optind]);
	if (ctx->mock)
		return group_no_mock("list");
	rc = group_open(&cl, ctx);
	if (rc == RNL_EXIT_OK) {
		md = client_metadata(&cl);
		rc = md ? list_run(&cl, states, state_cnt, json) : RNL_EXIT_FAIL;
		if (md)
			rd_kafka_metadata_destroy(md);
	}
	client_close(&cl);
	return rc;
}

/* ---- describe ---- */

typedef struct describe_row {
	const char *topic;      /* borrowed from the partition list it came from */
	int32_t partition;
	int64_t committed;      /* committed offset, -1: none */
	int64_t end;            /* log-end offset (high watermark), -1: unknown */
	const rd_kafka_MemberDescription_t *member; /* assigned to, NULL: none;
						       borrowed from the description */
} describe_row_t;

/* The partitions describe shows (see the design note), sorted by topic
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
			tp_add(want, committed->elems[i].topic, committed->elems[i].partition);
	for (size_t i = 0; i < members; i++) {
		const rd_kafka_topic_partition_list_t *parts =
			member_parts(rd_kafka_ConsumerGroupDescription_member(d, i));

		for (int j = 0; parts && j < parts->cnt; j++)
			tp_add(want, parts->elems[j].topic, parts->elems[j].partition);
	}
	named = want->cnt;
	for (int i = 0; i < named; i++)
		tp_add_topic(want, md, want->elems[i].topic);
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
		rd_kafka_err2name(err), err_text(err, NULL));
	return -1;
}

static void describe_header(const rd_kafka_ConsumerGroupDescription_t *d)
{
	const rd_kafka_Node_t *co = rd_kafka_ConsumerGroupDescription_coordinator(d);
	const char *assignor = rd_kafka_ConsumerGroupDescription_partition_assignor(d);

	printf("group \"%s\": state %s, protocol type %s, assignor %s, coordinator ",
	       rd_kafka_ConsumerGroupDescription_group_id(d),
	       state_name(rd_kafka_ConsumerGroupDescription_state(d)),
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
	table_t t = { .cols = 5 };
	bool ok;

	if (cnt == 0) {
		printf("members: none\n");
		return true;
	}
	printf("members: %zu\n", cnt);
	table_add(&t, "CONSUMER-ID", "INSTANCE-ID", "HOST", "CLIENT-ID", "ASSIGNMENT");
	for (size_t i = 0; i < cnt; i++) {
		rd_kafka_topic_partition_list_t *a = assignment_sorted(ms[i]);
		char *parts = fmt_assignment(a);

		t.oom |= !parts;
		table_add(&t, rd_kafka_MemberDescription_consumer_id(ms[i]),
			  rd_kafka_MemberDescription_group_instance_id(ms[i]),
			  rd_kafka_MemberDescription_host(ms[i]),
			  rd_kafka_MemberDescription_client_id(ms[i]), parts);
		free(parts);
		rd_kafka_topic_partition_list_destroy(a);
	}
	ok = table_print(&t);
	table_free(&t);
	return ok;
}

static bool describe_rows_text(const describe_row_t *rows, size_t cnt)
{
	table_t t = { .cols = 8 };
	char part[16], cur[24], end[24], lag[24];
	bool ok;

	if (cnt == 0) {
		printf("offsets: none\n");
		return true;
	}
	table_add(&t, "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
		  "CONSUMER-ID", "HOST", "CLIENT-ID");
	for (size_t i = 0; i < cnt; i++) {
		const describe_row_t *r = &rows[i];
		const rd_kafka_MemberDescription_t *m = r->member;
		bool known = r->committed >= 0 && r->end >= 0;

		snprintf(part, sizeof(part), "%d", r->partition);
		if (known)
			snprintf(lag, sizeof(lag), "%lld", (long long)(r->end - r->committed));
		table_add(&t, r->topic, part, fmt_i64(r->committed, cur, sizeof(cur)),
			  fmt_i64(r->end, end, sizeof(end)), known ? lag : "-",
			  m ? rd_kafka_MemberDescription_consumer_id(m) : NULL,
			  m ? rd_kafka_MemberDescription_host(m) : NULL,
			  m ? rd_kafka_MemberDescription_client_id(m) : NULL);
	}
	ok = table_print(&t);
	table_free(&t);
	return ok;
}

static void describe_members_json(const rd_kafka_MemberDescription_t **ms, size_t cnt)
{
	printf("\"members\":[");
	for (size_t i = 0; i < cnt; i++) {
		rd_kafka_topic_partition_list_t *a = assignment_sorted(ms[i]);

		printf("%s{\"consumer_id\":", i ? "," : "");
		json_str(rd_kafka_MemberDescription_consumer_id(ms[i]));
		printf(",\"instance_id\":");
		json_str(or_null(rd_kafka_MemberDescription_group_instance_id(ms[i])));
		printf(",\"host\":");
		json_str(rd_kafka_MemberDescription_host(ms[i]));
		printf(",\"client_id\":");
		json_str(rd_kafka_MemberDescription_client_id(ms[i]));
		printf(",\"assignment\":[");
		for (int j = 0; j < a->cnt; j++) {
			printf("%s{\"topic\":", j ? "," : "");
			json_str(a->elems[j].topic);
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
		json_str(r->topic);
		printf(",\"partition\":%d,", r->partition);
		json_i64("current_offset", r->committed, ",");
		json_i64("log_end_offset", r->end, ",");
		if (known)
			printf("\"lag\":%lld,", (long long)(r->end - r->committed));
		else
			printf("\"lag\":null,");
		printf("\"consumer_id\":");
		json_str(m ? rd_kafka_MemberDescription_consumer_id(m) : NULL);
		printf(",\"host\":");
		json_str(m ? rd_kafka_MemberDescription_host(m) : NULL);
		printf(",\"client_id\":");
		json_str(m ? rd_kafka_MemberDescription_client_id(m) : NULL);
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
	json_str(rd_kafka_ConsumerGroupDescription_group_id(d));
	printf(",\"state\":");
	json_str(state_name(rd_kafka_ConsumerGroupDescription_state(d)));
	printf(",\"protocol_type\":");
	json_str(rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(d) ? "" : "consumer");
	printf(",\"assignor\":");
	json_str(rd_kafka_ConsumerGroupDescription_partition_assignor(d));
	printf(",\"coordinator\":");
	if (co) {
		printf("{\"id\":%d,\"host\":", rd_kafka_Node_id(co));
		json_str(rd_kafka_Node_host(co));
		printf(",\"port\":%u},", (unsigned)rd_kafka_Node_port(co));
	} else {
		printf("null,");
	}
	describe_members_json(ms, member_cnt);
	describe_rows_json(rows, row_cnt);
	putchar('}');
}

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
			.committed = committed_of(committed, topic, p),
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

	committed = committed_fetch(cl, name, md, "describe");
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
	ev = describe_send(cl, names, cnt, "describe");
	if (!ev) {
		rd_kafka_metadata_destroy(md);
		return RNL_EXIT_FAIL;
	}
	if (json)
		printf("{\"groups\":[");
	for (size_t i = 0; i < cnt; i++) {
		const rd_kafka_ConsumerGroupDescription_t *d = desc_find(cl, ev, names[i], "describe");

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

static int group_describe(rnl_ctx_t *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	client_t cl = { 0 };
	bool json = false;
	int c, rc, cnt;

	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "", opts)) != -1) {
		if (c == 'h')
			return rnl_help(group_usage);
		if (c != 'j')
			return rnl_usage_hint("group ");
		json = true;
	}
	if (optind >= argc)
		return rnl_usage_error("group ", "group describe needs at least one group name");
	if (ctx->mock)
		return group_no_mock("describe");
	cnt = names_unique(argv + optind, argc - optind);
	rc = group_open(&cl, ctx);
	if (rc == RNL_EXIT_OK)
		rc = describe_run(&cl, (const char **)(argv + optind), (size_t)cnt, json);
	client_close(&cl);
	return rc;
}

/* ---- delete ---- */

/* Prints one line per group, in the order given: `deleted group "g"` on
 * stdout, or the group's error on stderr. Returns false if any failed. */
static bool delete_results(client_t *cl, rd_kafka_event_t *ev, char **names, int cnt)
{
	size_t res_cnt;
	const rd_kafka_group_result_t **res = rd_kafka_DeleteGroups_result_groups(
		rd_kafka_event_DeleteGroups_result(ev), &res_cnt);
	bool ok = true;

	for (int i = 0; i < cnt; i++) {
		const rd_kafka_group_result_t *r = NULL;
		const rd_kafka_error_t *e;

		for (size_t j = 0; j < res_cnt && !r; j++)
			if (strcmp(rd_kafka_group_result_name(res[j]), names[i]) == 0)
				r = res[j];
		if (!r) {
			rnl_error("delete group \"%s\": missing from the broker's answer", names[i]);
			ok = false;
			continue;
		}
		e = rd_kafka_group_result_error(r);
		if (e) {
			group_report(cl, "delete", names[i], rd_kafka_error_code(e),
				     rd_kafka_error_string(e));
			ok = false;
		} else {
			printf("deleted group \"%s\"\n", names[i]);
		}
	}
	return ok;
}

static int delete_run(client_t *cl, char **names, int cnt)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	rd_kafka_DeleteGroup_t **dgs;
	rd_kafka_AdminOptions_t *opts;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	bool ok;

	if (!md)
		return RNL_EXIT_FAIL;
	rd_kafka_metadata_destroy(md);
	dgs = calloc((size_t)cnt, sizeof(*dgs));
	if (!dgs) {
		rnl_error("out of memory");
		return RNL_EXIT_FAIL;
	}
	for (int i = 0; i < cnt; i++)
		dgs[i] = rd_kafka_DeleteGroup_new(names[i]);
	opts = client_admin_options(cl, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
	q = rd_kafka_queue_new(cl->rk);
	rd_kafka_DeleteGroups(cl->rk, dgs, (size_t)cnt, opts, q);
	ev = group_wait(cl, q, "delete", cnt == 1 ? names[0] : NULL);
	ok = ev && delete_results(cl, ev, names, cnt);
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_DeleteGroup_destroy_array(dgs, (size_t)cnt);
	free(dgs);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return ok ? RNL_EXIT_OK : RNL_EXIT_FAIL;
}

static int group_delete(rnl_ctx_t *ctx, int argc, char **argv)
{
	client_t cl = { 0 };
	int c, rc, cnt;

	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "", NULL)) != -1) {
		if (c == 'h')
			return rnl_help(group_usage);
		return rnl_usage_hint("group ");
	}
	if (optind >= argc)
		return rnl_usage_error("group ", "group delete needs at least one group name");
	if (ctx->mock)
		return group_no_mock("delete");
	cnt = names_unique(argv + optind, argc - optind);
	rc = group_open(&cl, ctx);
	if (rc == RNL_EXIT_OK)
		rc = delete_run(&cl, argv + optind, cnt);
	client_close(&cl);
	return rc;
}

/* ---- seek: arguments ---- */

typedef enum seek_to {
	SEEK_NONE,
	SEEK_EARLIEST,
	SEEK_LATEST,
	SEEK_OFFSET,
	SEEK_DATETIME,
} seek_to_t;

typedef struct seek_args {
	const char *group;      /* borrowed from argv */
	rd_kafka_topic_partition_list_t *topics; /* --topic: partition -1 = all; owned */
	bool all_topics;
	seek_to_t to;
	int64_t value;          /* --to-offset N, or --to-datetime in ms since the epoch */
	bool dry_run;
	bool json;
} seek_args_t;

enum {
	OPT_ALL_TOPICS = 1,
	OPT_TO_EARLIEST,
	OPT_TO_LATEST,
	OPT_TO_OFFSET,
	OPT_TO_DATETIME,
	OPT_DRY_RUN,
	OPT_JSON,
};

/* Parses "TOPIC" or "TOPIC:P,P,..." into a->topics. Returns false after
 * a usage error. */
static bool seek_parse_topic(seek_args_t *a, const char *spec)
{
	char buf[512], *colon, *save = NULL;
	int p;

	snprintf(buf, sizeof(buf), "%s", spec);
	colon = strchr(buf, ':');
	if (colon)
		*colon = '\0';
	if (!buf[0] || (colon && !colon[1])) {
		rnl_error("--topic %s: expected TOPIC or TOPIC:PARTITION[,PARTITION...]", spec);
		return false;
	}
	if (!colon) {
		rd_kafka_topic_partition_list_add(a->topics, buf, -1);
		return true;
	}
	for (char *tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!rnl_parse_int("--topic partition", tok, 0, INT32_MAX, &p))
			return false;
		rd_kafka_topic_partition_list_add(a->topics, buf, p);
	}
	return true;
}

/* Reads exactly n digits at *s into *out and advances *s. */
static bool read_digits(const char **s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*s)[i]))
			return false;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return true;
}

static bool read_char(const char **s, const char *any)
{
	if (!**s || !strchr(any, **s))
		return false;
	(*s)++;
	return true;
}

/* Reads an optional ".fff..." (milliseconds; digits past 3 ignored). */
static bool read_fraction(const char **s, int *ms)
{
	int scale = 100;

	*ms = 0;
	if (**s != '.')
		return true;
	(*s)++;
	if (!isdigit((unsigned char)**s))
		return false;
	for (; isdigit((unsigned char)**s); (*s)++, scale /= 10)
		*ms += (**s - '0') * scale;
	return true;
}

/* Reads an optional zone: Z, +HH, +HHMM or +HH:MM (or '-'). *utc tells
 * whether there was one; *offset_s is east of UTC. */
static bool read_zone(const char **s, bool *utc, int *offset_s)
{
	int sign, hh, mm = 0;

	*utc = false;
	*offset_s = 0;
	if (!**s)
		return true;
	*utc = true;
	if (read_char(s, "Zz"))
		return true;
	sign = **s == '-' ? -1 : 1;
	if (!read_char(s, "+-") || !read_digits(s, 2, &hh) || hh > 23)
		return false;
	if (**s == ':')
		(*s)++;
	if (**s && (!read_digits(s, 2, &mm) || mm > 59))
		return false;
	*offset_s = sign * (hh * 3600 + mm * 60);
	return true;
}

/* Parses WHEN: ms since the epoch, or YYYY-MM-DDTHH:MM[:SS[.fff]][zone]
 * (a space may stand for the T). Without a zone the time is local, as
 * kafka-consumer-groups reads it. Returns false on junk or an impossible
 * date (Feb 30). */
static bool parse_datetime(const char *arg, int64_t *ms)
{
	const char *s = arg;
	struct tm tm = { 0 }, back;
	int y, mo, d, h, mi, sec = 0, frac, offset_s;
	bool utc;
	time_t t;

	if (*s && strspn(s, "0123456789") == strlen(s))
		return rnl_parse_i64("--to-datetime", s, 0, INT64_MAX, ms);
	if (!read_digits(&s, 4, &y) || !read_char(&s, "-") || !read_digits(&s, 2, &mo) ||
	    !read_char(&s, "-") || !read_digits(&s, 2, &d) || !read_char(&s, "Tt ") ||
	    !read_digits(&s, 2, &h) || !read_char(&s, ":") || !read_digits(&s, 2, &mi))
		return false;
	if (read_char(&s, ":") && !read_digits(&s, 2, &sec))
		return false;
	if (!read_fraction(&s, &frac) || !read_zone(&s, &utc, &offset_s) || *s)
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
		return false;
	tm = (struct tm){ .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			  .tm_min = mi, .tm_sec = sec, .tm_isdst = -1 };
	t = utc ? timegm(&tm) : mktime(&tm);
	if (t == (time_t)-1 || !(utc ? gmtime_r(&t, &back) : localtime_r(&t, &back)) ||
	    back.tm_mday != d || back.tm_mon != mo - 1)
		return false;
	*ms = ((int64_t)t - offset_s) * 1000 + frac;
	return *ms >= 0;
}

/* Sets a->to once; a second --to-* is a usage error. */
static bool seek_set_to(seek_args_t *a, seek_to_t to, const char *arg)
{
	if (a->to != SEEK_NONE) {
		rnl_error("seek takes one of --to-earliest, --to-latest, --to-offset, --to-datetime");
		return false;
	}
	a->to = to;
	if (to == SEEK_OFFSET)
		return rnl_parse_i64("--to-offset", arg, 0, INT64_MAX, &a->value);
	if (to == SEEK_DATETIME && !parse_datetime(arg, &a->value)) {
		rnl_error("--to-datetime: '%s' is neither ms since the epoch nor "
			  "YYYY-MM-DDTHH:MM:SS[.mmm][Z|+HH:MM]", arg);
		return false;
	}
	return true;
}

/* Applies one option. Returns false after a usage error. */
static bool seek_option(seek_args_t *a, int c, const char *arg)
{
	switch (c) {
	case 't':
		return seek_parse_topic(a, arg);
	case OPT_ALL_TOPICS:
		a->all_topics = true;
		return true;
	case OPT_TO_EARLIEST:
		return seek_set_to(a, SEEK_EARLIEST, arg);
	case OPT_TO_LATEST:
		return seek_set_to(a, SEEK_LATEST, arg);
	case OPT_TO_OFFSET:
		return seek_set_to(a, SEEK_OFFSET, arg);
	case OPT_TO_DATETIME:
		return seek_set_to(a, SEEK_DATETIME, arg);
	case OPT_DRY_RUN:
		a->dry_run = true;
		return true;
	case OPT_JSON:
		a->json = true;
		return true;
	}
	return false;
}

/* Returns RNL_EXIT_OK, -1 after --help, or RNL_EXIT_USAGE. a->topics is
 * allocated in every case (caller destroys). */
static int seek_parse(rnl_ctx_t *ctx, int argc, char **argv, seek_args_t *a)
{
	static const struct option opts[] = {
		{ "topic", required_argument, NULL, 't' },
		{ "all-topics", no_argument, NULL, OPT_ALL_TOPICS },
		{ "to-earliest", no_argument, NULL, OPT_TO_EARLIEST },
		{ "to-latest", no_argument, NULL, OPT_TO_LATEST },
		{ "to-offset", required_argument, NULL, OPT_TO_OFFSET },
		{ "to-datetime", required_argument, NULL, OPT_TO_DATETIME },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*a = (seek_args_t){ .topics = rd_kafka_topic_partition_list_new(4) };
	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "t:", opts)) != -1) {
		if (c == 'h') {
			rnl_help(group_usage);
			return -1;
		}
		if (!seek_option(a, c, optarg))
			return rnl_usage_hint("group ");
	}
	if (argc - optind != 1)
		return rnl_usage_error("group ", "group seek takes one group name");
	a->group = argv[optind];
	if ((a->topics->cnt > 0) == a->all_topics)
		return rnl_usage_error("group ", "group seek needs --topic TOPIC[:PARTITIONS]... "
				       "or --all-topics (not both)");
	if (a->to == SEEK_NONE)
		return rnl_usage_error("group ", "group seek needs one of --to-earliest, "
				       "--to-latest, --to-offset N, --to-datetime WHEN");
	return RNL_EXIT_OK;
}

/* ---- seek: run ---- */

/* Writes "ID (client C, host H), ..." for the members of d into buf. */
static const char *members_summary(const rd_kafka_ConsumerGroupDescription_t *d, char *buf,
				   size_t size)
{
	size_t cnt = rd_kafka_ConsumerGroupDescription_member_count(d), len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < cnt && len < size; i++) {
		const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(d, i);

		len += (size_t)snprintf(buf + len, size - len, "%s%s (client %s, host %s)",
					i ? ", " : "", rd_kafka_MemberDescription_consumer_id(m),
					rd_kafka_MemberDescription_client_id(m),
					rd_kafka_MemberDescription_host(m));
	}
	return buf;
}

/* Kafka resets offsets only of an inactive group: Empty, or Dead (no such
 * group; the commit creates it). Returns false after printing why not. */
static bool seek_check_state(client_t *cl, const char *group)
{
	rd_kafka_event_t *ev = describe_send(cl, &group, 1, "seek");
	const rd_kafka_ConsumerGroupDescription_t *d;
	rd_kafka_consumer_group_state_t state;
	char members[1024];
	size_t cnt;
	bool ok;

	if (!ev)
		return false;
	d = desc_find(cl, ev, group, "seek");
	state = d ? rd_kafka_ConsumerGroupDescription_state(d) : RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN;
	ok = state == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY ||
	     state == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD;
	if (d && !ok) {
		cnt = rd_kafka_ConsumerGroupDescription_member_count(d);
		rnl_error("seek group \"%s\": the group is %s with %zu member%s%s%s; offsets can "
			  "only be reset while it is Empty or Dead (stop its consumers first)",
			  group, state_name(state), cnt, cnt == 1 ? "" : "s", cnt ? ": " : "",
			  members_summary(d, members, sizeof(members)));
	}
	rd_kafka_event_destroy(ev);
	return ok;
}

/* The partitions to reset, sorted: --topic specs checked against md, or
 * with --all-topics every partition of each topic in committed. Returns
 * NULL after printing (an unknown topic or partition). */
static rd_kafka_topic_partition_list_t *seek_partitions(const seek_args_t *a,
							const rd_kafka_metadata_t *md,
							const rd_kafka_topic_partition_list_t *committed)
{
	rd_kafka_topic_partition_list_t *out = rd_kafka_topic_partition_list_new(16);

	for (int i = 0; a->all_topics && i < committed->cnt; i++)
		if (committed->elems[i].offset >= 0)
			tp_add_topic(out, md, committed->elems[i].topic);
	for (int i = 0; i < a->topics->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &a->topics->elems[i];
		const rd_kafka_metadata_topic_t *t = client_topic_find(md, tp->topic);

		if (!t) {
			client_no_topic(tp->topic);
			goto fail;
		}
		if (tp->partition >= t->partition_cnt) {
			rnl_error("topic \"%s\" has no partition %d (it has %d)", tp->topic,
				  tp->partition, t->partition_cnt);
			goto fail;
		}
		if (tp->partition < 0)
			tp_add_topic(out, md, tp->topic);
		else
			tp_add(out, tp->topic, tp->partition);
	}
	rd_kafka_topic_partition_list_sort(out, NULL, NULL);
	return out;
fail:
	rd_kafka_topic_partition_list_destroy(out);
	return NULL;
}

/* The first offset at or after the --to-datetime time for every partition
 * of parts, into offs[] (the high watermark where there is none). Returns
 * false after printing. */
static bool seek_by_time(client_t *cl, const seek_args_t *a,
			 const rd_kafka_topic_partition_list_t *parts, const int64_t *high,
			 int64_t *offs)
{
	rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_copy(parts);
	rd_kafka_resp_err_t err;
	bool ok = true;

	for (int i = 0; i < q->cnt; i++)
		q->elems[i].offset = a->value;
	err = rd_kafka_offsets_for_times(cl->rk, q, cl->ctx->timeout_ms);
	if (err)
		group_report(cl, "seek", a->group, err, NULL);
	for (int i = 0; !err && i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &parts->elems[i];
		const rd_kafka_topic_partition_t *r =
			rd_kafka_topic_partition_list_find(q, tp->topic, tp->partition);

		if (!r || r->err) {
			rnl_error("seek group \"%s\": %s:%d: offset for time: %s", a->group,
				  tp->topic, tp->partition,
				  r ? rd_kafka_err2name(r->err) : "no answer");
			ok = false;
			continue;
		}
		offs[i] = r->offset >= 0 ? r->offset : high[i];
	}
	rd_kafka_topic_partition_list_destroy(q);
	return ok && !err;
}

/* --to-offset N clamped into [low, high], as Kafka's tool does. */
static int64_t seek_clamp(const rd_kafka_topic_partition_t *tp, int64_t n, int64_t low,
			  int64_t high)
{
	if (n < low || n > high)
		fprintf(stderr, "rnl: warning: %s:%d: offset %lld is %s offset %lld; using %lld\n",
			tp->topic, tp->partition, (long long)n,
			n < low ? "before the earliest" : "past the latest",
			(long long)(n < low ? low : high), (long long)(n < low ? low : high));
	return n < low ? low : n > high ? high : n;
}

/* Computes the new offset of every partition into parts->elems[].offset.
 * Returns false after printing (a partition without watermarks, ...). */
static bool seek_compute(client_t *cl, const seek_args_t *a, rd_kafka_topic_partition_list_t *parts)
{
	int64_t *low = calloc((size_t)parts->cnt + 1, sizeof(*low));
	int64_t *high = calloc((size_t)parts->cnt + 1, sizeof(*high));
	int64_t *offs = calloc((size_t)parts->cnt + 1, sizeof(*offs));
	bool ok = low && high && offs;

	if (!ok)
		rnl_error("out of memory");
	for (int i = 0; ok && i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &parts->elems[i];
		rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
			cl->rk, tp->topic, tp->partition, &low[i], &high[i], cl->ctx->timeout_ms);

		if (err) {
			rnl_error("seek group \"%s\": %s:%d: watermarks: %s (%s)", a->group,
				  tp->topic, tp->partition, rd_kafka_err2name(err),
				  err_text(err, NULL));
			ok = false;
			break;
		}
		if (a->to == SEEK_EARLIEST)
			offs[i] = low[i];
		else if (a->to == SEEK_LATEST)
			offs[i] = high[i];
		else if (a->to == SEEK_OFFSET)
			offs[i] = seek_clamp(tp, a->value, low[i], high[i]);
	}
	if (ok && a->to == SEEK_DATETIME)
		ok = seek_by_time(cl, a, parts, high, offs);
	for (int i = 0; ok && i < parts->cnt; i++)
		parts->elems[i].offset = offs[i];
	free(low);
	free(high);
	free(offs);
	return ok;
}

/* Commits parts' offsets for the group (AlterConsumerGroupOffsets).
 * Returns false after printing the group's or each partition's error. */
static bool seek_commit(client_t *cl, const char *group,
			const rd_kafka_topic_partition_list_t *parts)
{
	rd_kafka_AlterConsumerGroupOffsets_t *req =
		rd_kafka_AlterConsumerGroupOffsets_new(group, parts);
	rd_kafka_AdminOptions_t *opts =
		client_admin_options(cl, RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS);
	rd_kafka_queue_t *q = rd_kafka_queue_new(cl->rk);
	const rd_kafka_group_result_t **res;
	const rd_kafka_topic_partition_list_t *got;
	rd_kafka_event_t *ev;
	size_t cnt;
	bool ok = false;

	rd_kafka_AlterConsumerGroupOffsets(cl->rk, &req, 1, opts, q);
	ev = group_wait(cl, q, "seek", group);
	if (!ev)
		goto out;
	res = rd_kafka_AlterConsumerGroupOffsets_result_groups(
		rd_kafka_event_AlterConsumerGroupOffsets_result(ev), &cnt);
	if (cnt && rd_kafka_group_result_error(res[0])) {
		const rd_kafka_error_t *e = rd_kafka_group_result_error(res[0]);

		group_report(cl, "seek", group, rd_kafka_error_code(e), rd_kafka_error_string(e));
	} else if (cnt) {
		got = rd_kafka_group_result_partitions(res[0]);
		ok = true;
		for (int i = 0; got && i < got->cnt; i++) {
			if (!got->elems[i].err)
				continue;
			rnl_error("seek group \"%s\": commit %s:%d: %s (%s)", group,
				  got->elems[i].topic, got->elems[i].partition,
				  rd_kafka_err2name(got->elems[i].err),
				  err_text(got->elems[i].err, NULL));
			ok = false;
		}
	} else {
		rnl_error("seek group \"%s\": empty OffsetCommit answer", group);
	}
	rd_kafka_event_destroy(ev);
out:
	rd_kafka_AlterConsumerGroupOffsets_destroy(req);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return ok;
}

static bool seek_print(const seek_args_t *a, const rd_kafka_topic_partition_list_t *parts,
		       const rd_kafka_topic_partition_list_t *committed)
{
	table_t t = { .cols = 4 };
	char part[16], old[24], offset[24];
	bool ok = true;

	if (a->json) {
		printf("{\"group\":");
		json_str(a->group);
		printf(",\"dry_run\":%s,\"offsets\":[", a->dry_run ? "true" : "false");
	} else {
		table_add(&t, "TOPIC", "PARTITION", "OLD", "NEW");
	}
	for (int i = 0; i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &parts->elems[i];
		int64_t was = committed_of(committed, tp->topic, tp->partition);

		snprintf(part, sizeof(part), "%d", tp->partition);
		if (!a->json) {
			table_add(&t, tp->topic, part, fmt_i64(was, old, sizeof(old)),
				  fmt_i64(tp->offset, offset, sizeof(offset)));
			continue;
		}
		printf("%s{\"topic\":", i ? "," : "");
		json_str(tp->topic);
		printf(",\"partition\":%d,", tp->partition);
		json_i64("old", was, ",");
		json_i64("new", tp->offset, "}");
	}
	if (a->json)
		printf("]}\n");
	else
		ok = table_print(&t);
	table_free(&t);
	return ok;
}

static int seek_run(client_t *cl, const seek_args_t *a)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	rd_kafka_topic_partition_list_t *committed = NULL, *parts = NULL;
	int rc = RNL_EXIT_FAIL;

	if (!md || !seek_check_state(cl, a->group))
		goto out;
	committed = committed_fetch(cl, a->group, md, "seek");
	if (!committed || !(parts = seek_partitions(a, md, committed)))
		goto out;
	if (parts->cnt == 0) {
		rnl_error("seek group \"%s\": the group has no committed offsets "
			  "(nothing for --all-topics)", a->group);
		goto out;
	}
	if (!seek_compute(cl, a, parts) || (!a->dry_run && !seek_commit(cl, a->group, parts)))
		goto out;
	if (!seek_print(a, parts, committed))
		goto out;
	fflush(stdout);
	if (a->dry_run)
		fprintf(stderr, "dry run: offsets of group \"%s\" not changed\n", a->group);
	else
		fprintf(stderr, "committed %d offset%s for group \"%s\"\n", parts->cnt,
			parts->cnt == 1 ? "" : "s", a->group);
	rc = RNL_EXIT_OK;
out:
	if (parts)
		rd_kafka_topic_partition_list_destroy(parts);
	if (committed)
		rd_kafka_topic_partition_list_destroy(committed);
	if (md)
		rd_kafka_metadata_destroy(md);
	return rc;
}

static int group_seek(rnl_ctx_t *ctx, int argc, char **argv)
{
	seek_args_t a;
	client_t cl = { 0 };
	int rc = seek_parse(ctx, argc, argv, &a);

	if (rc == RNL_EXIT_OK && ctx->mock)
		rc = group_no_mock("seek");
	if (rc == RNL_EXIT_OK)
		rc = group_open(&cl, ctx);
	if (rc == RNL_EXIT_OK)
		rc = seek_run(&cl, &a);
	client_close(&cl);
	rd_kafka_topic_partition_list_destroy(a.topics);
	return rc < 0 ? RNL_EXIT_OK : rc;
}

/* ---- dispatch ---- */

static const struct {
	const char *verb;
	rnl_cmd_fn *fn;
} group_verbs[] = {
	{ "list", group_list },
	{ "describe", group_describe },
	{ "delete", group_delete },
	{ "seek", group_seek },
};

int group_main(rnl_ctx_t *ctx, int argc, char **argv)
{
	int at = rnl_take_verb(argc, argv);

	if (at < 0)
		return rnl_help(group_usage);
	if (at == 0)
		return rnl_usage_error("group ", "group needs a command: list, describe, delete "
				       "or seek");
	for (size_t i = 0; i < sizeof(group_verbs) / sizeof(group_verbs[0]); i++)
		if (strcmp(group_verbs[i].verb, argv[1]) == 0)
			return group_verbs[i].fn(ctx, argc - 1, argv + 1);
	return rnl_usage_error("group ", "unknown group command '%s'", argv[1]);
}
