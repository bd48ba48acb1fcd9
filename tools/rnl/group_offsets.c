/*
 * group_offsets — a group's committed offsets (OffsetFetch, through
 * ListConsumerGroupOffsets) and the partition lists describe and seek
 * build from them.
 *
 * Committed offsets are asked for with an explicit list: every partition of
 * every topic in Metadata. librdkafka 2.0.2 encodes "all partitions" (a
 * NULL list) as an empty array for OffsetFetch below v6, which a broker
 * answers with nothing, and at v6+ as a null array followed by stray bytes;
 * the explicit list means the same on every version. The price: offsets
 * committed for a topic that no longer exists are not shown.
 *
 * In the lists returned, offset >= 0 is a committed offset and a negative
 * one means none (RD_KAFKA_OFFSET_INVALID: nothing committed, or the
 * partition's own error, which is printed as a warning).
 */
#include "group.h"

#include <stdio.h>

/* ---- OffsetFetch ---- */

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
			group_err_text(tp->err, NULL));
		tp->offset = RD_KAFKA_OFFSET_INVALID;
	}
	return out;
}

rd_kafka_topic_partition_list_t *group_committed_fetch(client_t *cl, const char *group,
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

/* ---- partition lists ---- */

int64_t group_committed_of(const rd_kafka_topic_partition_list_t *l, const char *topic,
			   int32_t partition)
{
	const rd_kafka_topic_partition_t *tp =
		rd_kafka_topic_partition_list_find(l, topic, partition);

	return tp && tp->offset >= 0 ? tp->offset : -1;
}

void group_tp_add(rd_kafka_topic_partition_list_t *l, const char *topic, int32_t partition)
{
	if (!rd_kafka_topic_partition_list_find(l, topic, partition))
		rd_kafka_topic_partition_list_add(l, topic, partition);
}

void group_tp_add_topic(rd_kafka_topic_partition_list_t *l, const rd_kafka_metadata_t *md,
			const char *topic)
{
	const rd_kafka_metadata_topic_t *t = client_topic_find(md, topic);

	for (int p = 0; t && p < t->partition_cnt; p++)
		group_tp_add(l, topic, t->partitions[p].id);
}

