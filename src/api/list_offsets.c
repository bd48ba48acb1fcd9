/*
 * list_offsets.c — ListOffsets (key 2).
 *
 * Timestamp semantics (ListOffsetsRequest.json):
 *   -2 EARLIEST  -> log start offset
 *   -1 LATEST    -> the last fetchable offset: the high watermark
 *                   (read_uncommitted) or the last stable offset
 *                   (read_committed, v2+; plog.h)
 *   -3 MAX_TIMESTAMP (v7+) -> offset of the record with the largest timestamp
 *   >= 0         -> earliest offset whose timestamp is >= it, via the time
 *                   index; offset -1 / timestamp -1 when there is none
 * As Kafka (Partition.fetchOffsetForTimestamp), a lookup by time (>= 0 and
 * -3) answers only an offset below the last fetchable offset, else none
 * (-1, -1, error NONE): a read_committed consumer is never sent to a record
 * of a transaction that is still open. Below v2 there is no
 * IsolationLevel: read_uncommitted.
 * v0 answers in OldStyleOffsets (a list holding the one offset) and has no
 * Timestamp/Offset fields. The leader epoch is 0 on a single node.
 */
#include "api/api_int.h"
#include "log/plog.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"

typedef struct list_offsets_response_list_offsets_partition_response part_resp;
typedef struct list_offsets_request_list_offsets_partition part_req;

enum { TS_LATEST = -1, TS_EARLIEST = -2, TS_MAX_TIMESTAMP = -3 };

/* The time lookups (>= 0, MAX_TIMESTAMP). */
static int lookup_time(struct plog *pl, int64_t ts, int64_t *offset, int64_t *found_ts)
{
	if (ts == TS_MAX_TIMESTAMP)
		return plog_max_timestamp(pl, offset, found_ts);
	int err = plog_offset_for_time(pl, ts, offset, found_ts);
	/* After DeleteRecords the start may lie inside a segment: never
	 * name an offset below it (Kafka searches from the start; here the
	 * answer is clamped, keeping the found record's timestamp). */
	if (err == KAFKA_NONE && *offset >= 0 && *offset < plog_start_offset(pl))
		*offset = plog_start_offset(pl);
	return err;
}

static int lookup(struct plog *pl, int64_t ts, bool committed, int64_t *offset, int64_t *found_ts)
{
	*found_ts = -1;
	int64_t fetchable = committed ? plog_last_stable_offset(pl) : plog_high_watermark(pl);
	switch (ts) {
	case TS_EARLIEST:
		*offset = plog_start_offset(pl);
		return KAFKA_NONE;
	case TS_LATEST:
		*offset = fetchable;
		return KAFKA_NONE;
	default:
		if (ts < 0 && ts != TS_MAX_TIMESTAMP)
			return KAFKA_INVALID_REQUEST;
		int err = lookup_time(pl, ts, offset, found_ts);
		if (err == KAFKA_NONE && *offset >= fetchable)
			*offset = *found_ts = -1;
		return err;
	}
}

static void list_partition(struct req *req, struct topic *t, bool committed, const part_req *pq,
			   part_resp *pr)
{
	int16_t v = req->hdr.api_version;
	int64_t offset = -1, ts = -1;
	int err = KAFKA_NONE;
	pr->partition_index = pq->partition_index;
	if (!t || pq->partition_index < 0 || pq->partition_index >= t->npartitions)
		err = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
	else if (pq->current_leader_epoch > 0)
		err = KAFKA_UNKNOWN_LEADER_EPOCH;
	else if (pq->timestamp == TS_MAX_TIMESTAMP && v < 7)
		err = KAFKA_UNSUPPORTED_VERSION;
	else
		err = lookup(t->parts[pq->partition_index]->log, pq->timestamp, committed, &offset, &ts);
	pr->error_code = (int16_t)err;
	pr->timestamp = err == KAFKA_NONE ? ts : -1;
	pr->offset = err == KAFKA_NONE ? offset : -1;
	pr->leader_epoch = err == KAFKA_NONE && offset >= 0 ? 0 : -1;
	if (v == 0 && err == KAFKA_NONE && offset >= 0) {
		pr->old_style_offsets.items = arena_alloc(&req->arena, sizeof(int64_t));
		pr->old_style_offsets.count = pr->old_style_offsets.items ? 1 : 0;
		if (pr->old_style_offsets.items)
			pr->old_style_offsets.items[0] = offset;
	}
}

void api_list_offsets(struct req *req)
{
	struct list_offsets_request *rq = api_decode(req, &proto_list_offsets_request);
	if (!rq)
		return;
	struct list_offsets_response *resp = proto_new(&proto_list_offsets_response, req->hdr.api_version, &req->arena);
	int32_t nt = rq->topics.count > 0 ? rq->topics.count : 0;
	if (!resp || !(resp->topics.items = proto_new_array(&proto_list_offsets_response_list_offsets_topic_response,
							      req->hdr.api_version, nt ? nt : 1, &req->arena))) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->topics.count = nt;
	bool committed = req->hdr.api_version >= 2 && rq->isolation_level == 1;
	for (int32_t i = 0; i < nt; i++) {
		const struct list_offsets_request_list_offsets_topic *tq = &rq->topics.items[i];
		struct list_offsets_response_list_offsets_topic_response *tr = &resp->topics.items[i];
		int32_t np = tq->partitions.count > 0 ? tq->partitions.count : 0;
		tr->name = tq->name;
		tr->partitions.items = proto_new_array(&proto_list_offsets_response_list_offsets_partition_response,
						       req->hdr.api_version, np ? np : 1, &req->arena);
		tr->partitions.count = tr->partitions.items ? np : 0;
		struct topic *t = tq->name.len >= 0 ? meta_topic_find(g_broker->meta, tq->name.ptr, (size_t)tq->name.len) : NULL;
		for (int32_t j = 0; j < tr->partitions.count; j++)
			list_partition(req, t, committed, &tq->partitions.items[j], &tr->partitions.items[j]);
		if (t)
			topic_unref(t);
	}
	api_respond(req, &proto_list_offsets_response, resp);
}
