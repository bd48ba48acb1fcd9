/*
 * delete_records.c — DeleteRecords (key 21, KIP-107): move partitions' log
 * start offsets up, making the records below them unreadable; whole
 * segments below the new start are deleted (plog_delete_records).
 *
 * Per partition, as Kafka's ReplicaManager.deleteRecords on one node:
 *   - a topic that does not exist or a partition out of its range:
 *     UNKNOWN_TOPIC_OR_PARTITION;
 *   - an internal topic (__consumer_offsets, ...): INVALID_TOPIC_EXCEPTION.
 *     Kafka allows it only to its own admin tooling (client id
 *     "__admin_client"); here those logs hold the broker's own state, so
 *     nobody may cut them;
 *   - Offset -1: the high watermark; Offset > high watermark or < -1:
 *     OFFSET_OUT_OF_RANGE; an offset at or below the current start changes
 *     nothing;
 *   - LowWatermark: the log start offset afterwards (-1 on error).
 * The new start is durable (log-start-offset-checkpoint) before the answer,
 * so TimeoutMs is honoured trivially. Topics and partitions are answered in
 * the request's order.
 *
 * Versions: 0-2; v1 is v0 (throttling order), v2 flexible.
 *
 * Threads: the connection's loop thread; a partition whose start moves
 * blocks it for a flush of the partition and one checkpoint write (an
 * admin operation, as DeleteTopics).
 */
#include "api/api_int.h"
#include "log/plog.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"

typedef struct delete_records_request_delete_records_topic topic_req;
typedef struct delete_records_request_delete_records_partition part_req;
typedef struct delete_records_response_delete_records_topic_result topic_resp;
typedef struct delete_records_response_delete_records_partition_result part_resp;

static void delete_partition(struct topic *t, const part_req *pq, part_resp *pr)
{
	int64_t low = -1;
	int err;
	pr->partition_index = pq->partition_index;
	if (t == NULL || pq->partition_index < 0 || pq->partition_index >= t->npartitions)
		err = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
	else if (t->internal)
		err = KAFKA_INVALID_TOPIC_EXCEPTION;
	else
		err = plog_delete_records(t->parts[pq->partition_index]->log, pq->offset, &low);
	pr->error_code = (int16_t)err;
	pr->low_watermark = err == KAFKA_NONE ? low : -1;
}

/* Fills one topic's answer. Returns false when out of memory. */
static bool delete_topic(struct req *req, const topic_req *tq, topic_resp *tr)
{
	int32_t np = tq->partitions.count > 0 ? tq->partitions.count : 0;
	tr->name = tq->name;
	tr->partitions.items = proto_new_array(&proto_delete_records_response_delete_records_partition_result,
					       req->hdr.api_version, np ? np : 1, &req->arena);
	if (tr->partitions.items == NULL)
		return false;
	tr->partitions.count = np;
	struct topic *t = tq->name.len >= 0
		? meta_topic_find(g_broker->meta, tq->name.ptr, (size_t)tq->name.len) : NULL;
	for (int32_t j = 0; j < np; j++)
		delete_partition(t, &tq->partitions.items[j], &tr->partitions.items[j]);
	if (t)
		topic_unref(t);
	return true;
}

void api_delete_records(struct req *req)
{
	struct delete_records_request *rq = api_decode(req, &proto_delete_records_request);
	if (!rq)
		return;
	struct delete_records_response *resp =
		proto_new(&proto_delete_records_response, req->hdr.api_version, &req->arena);
	int32_t nt = rq->topics.count > 0 ? rq->topics.count : 0;
	if (!resp || !(resp->topics.items = proto_new_array(&proto_delete_records_response_delete_records_topic_result,
							      req->hdr.api_version, nt ? nt : 1, &req->arena))) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->topics.count = nt;
	for (int32_t i = 0; i < nt; i++) {
		if (!delete_topic(req, &rq->topics.items[i], &resp->topics.items[i])) {
			api_respond_close(req, "out of memory");
			return;
		}
	}
	api_respond(req, &proto_delete_records_response, resp);
}
