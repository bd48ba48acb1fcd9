/*
 * group_seek — rnl group seek: resets a group's committed offsets, the way
 * kafka-consumer-groups.sh --reset-offsets does.
 *
 * It refuses unless the group is Empty or Dead: a running consumer would
 * overwrite the offsets with its next commit, and the coordinator rejects
 * an admin commit to a group with members anyway (seek_check_state).
 *
 * Then it computes one new offset per partition and commits them all in
 * one request (unless --dry-run):
 *
 *   --to-earliest  the low watermark        --to-latest  the high watermark
 *   --to-offset N  N clamped into [low, high] (a warning says when)
 *   --to-datetime  the first offset with a timestamp >= WHEN, or the high
 *                  watermark when there is none
 *
 * "latest" is the high watermark (ListOffsets read_uncommitted, as Kafka's
 * tool), not the last stable offset. The table (or JSON object) shows each
 * partition's OLD and NEW offset on stdout; one line on stderr says what
 * was committed.
 */
#include "group.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- state check ---- */

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
	rd_kafka_event_t *ev = group_descs_fetch(cl, &group, 1, "seek");
	const rd_kafka_ConsumerGroupDescription_t *d;
	rd_kafka_consumer_group_state_t state;
	char members[1024];
	size_t cnt;
	bool ok;

	if (!ev)
		return false;
	d = group_desc_find(cl, ev, group, "seek");
	state = d ? rd_kafka_ConsumerGroupDescription_state(d) : RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN;
	ok = state == RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY ||
	     state == RD_KAFKA_CONSUMER_GROUP_STATE_DEAD;
	if (d && !ok) {
		cnt = rd_kafka_ConsumerGroupDescription_member_count(d);
		rnl_error("seek group \"%s\": the group is %s with %zu member%s%s%s; offsets can "
			  "only be reset while it is Empty or Dead (stop its consumers first)",
			  group, group_state_name(state), cnt, cnt == 1 ? "" : "s", cnt ? ": " : "",
			  members_summary(d, members, sizeof(members)));
	}
	rd_kafka_event_destroy(ev);
	return ok;
}

/* ---- partitions and offsets ---- */

/* The partitions to reset, sorted: --topic specs checked against md, or
 * with --all-topics every partition of each topic in committed. Returns
 * NULL after printing (an unknown topic or partition). */
static rd_kafka_topic_partition_list_t *seek_partitions(const group_seek_args_t *a,
							const rd_kafka_metadata_t *md,
							const rd_kafka_topic_partition_list_t *committed)
{
	rd_kafka_topic_partition_list_t *out = rd_kafka_topic_partition_list_new(16);

	for (int i = 0; a->all_topics && i < committed->cnt; i++)
		if (committed->elems[i].offset >= 0)
			group_tp_add_topic(out, md, committed->elems[i].topic);
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
			group_tp_add_topic(out, md, tp->topic);
		else
			group_tp_add(out, tp->topic, tp->partition);
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
static bool seek_by_time(client_t *cl, const group_seek_args_t *a,
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
static bool seek_compute(client_t *cl, const group_seek_args_t *a,
			 rd_kafka_topic_partition_list_t *parts)
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
				  group_err_text(err, NULL));
			ok = false;
			break;
		}
		if (a->to == GROUP_SEEK_EARLIEST)
			offs[i] = low[i];
		else if (a->to == GROUP_SEEK_LATEST)
			offs[i] = high[i];
		else if (a->to == GROUP_SEEK_OFFSET)
			offs[i] = seek_clamp(tp, a->value, low[i], high[i]);
	}
	if (ok && a->to == GROUP_SEEK_DATETIME)
		ok = seek_by_time(cl, a, parts, high, offs);
	for (int i = 0; ok && i < parts->cnt; i++)
		parts->elems[i].offset = offs[i];
	free(low);
	free(high);
	free(offs);
	return ok;
}

/* ---- commit and output ---- */

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
				  group_err_text(got->elems[i].err, NULL));
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

static bool seek_print(const group_seek_args_t *a, const rd_kafka_topic_partition_list_t *parts,
		       const rd_kafka_topic_partition_list_t *committed)
{
	group_table_t t = { .cols = 4 };
	char part[16], old[24], offset[24];
	bool ok = true;

	if (a->json) {
		printf("{\"group\":");
		rnl_json_str(a->group);
		printf(",\"dry_run\":%s,\"offsets\":[", a->dry_run ? "true" : "false");
	} else {
		group_table_add(&t, "TOPIC", "PARTITION", "OLD", "NEW");
	}
	for (int i = 0; i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &parts->elems[i];
		int64_t was = group_committed_of(committed, tp->topic, tp->partition);

		snprintf(part, sizeof(part), "%d", tp->partition);
		if (!a->json) {
			group_table_add(&t, tp->topic, part, group_fmt_i64(was, old, sizeof(old)),
				  group_fmt_i64(tp->offset, offset, sizeof(offset)));
			continue;
		}
		printf("%s{\"topic\":", i ? "," : "");
		rnl_json_str(tp->topic);
		printf(",\"partition\":%d,", tp->partition);
		group_json_i64("old", was, ",");
		group_json_i64("new", tp->offset, "}");
	}
	if (a->json)
		printf("]}\n");
	else
		ok = group_table_print(&t);
	group_table_free(&t);
	return ok;
}

static int seek_run(client_t *cl, const group_seek_args_t *a)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	rd_kafka_topic_partition_list_t *committed = NULL, *parts = NULL;
	int rc = RNL_EXIT_FAIL;

	if (!md || !seek_check_state(cl, a->group))
		goto out;
	committed = group_committed_fetch(cl, a->group, md, "seek");
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

int group_seek(rnl_ctx_t *ctx, int argc, char **argv)
{
	group_seek_args_t a;
	client_t cl = { 0 };
	int rc = group_seek_parse(ctx, argc, argv, &a);

	if (rc == RNL_EXIT_OK)
		rc = group_open(&cl, ctx, "seek");
	if (rc == RNL_EXIT_OK)
		rc = seek_run(&cl, &a);
	client_close(&cl);
	rd_kafka_topic_partition_list_destroy(a.topics);
	return rc < 0 ? RNL_EXIT_OK : rc;
}

