/*
 * describe_producers.c — DescribeProducers (key 61, KIP-664): the active
 * producers of each partition asked for, from its producer state
 * (src/txn/pstate.h via plog_producers): producer id, epoch, last sequence
 * and timestamp of its last retained batch, coordinator epoch and the start
 * of its open transaction (-1 until transactions exist).
 *
 * Per partition, as Kafka's ReplicaManager on one node: an unknown topic or
 * a partition out of range: UNKNOWN_TOPIC_OR_PARTITION (with a message);
 * out of memory for the copy: UNKNOWN_SERVER_ERROR. Topics and partitions
 * are answered in the request's order.
 *
 * Threads: the connection's loop thread; each partition's state is copied
 * under its mutex (plog_producers).
 */
#include <stdlib.h>

#include "api/api_int.h"
#include "log/plog.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"

typedef struct describe_producers_request_topic_request topic_req;
typedef struct describe_producers_response_topic_response topic_resp;
typedef struct describe_producers_response_partition_response part_resp;
typedef struct describe_producers_response_producer_state producer_resp;

/* Copies pl's producers into the arena. Returns a Kafka code. */
static int list_producers(struct req *req, struct plog *pl, part_resp *pr)
{
	struct plog_producer *v;
	ssize_t n = plog_producers(pl, &v);
	if (n < 0)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	producer_resp *out = proto_new_array(&proto_describe_producers_response_producer_state,
					     req->hdr.api_version, n > 0 ? (int32_t)n : 1, &req->arena);
	if (out == NULL) {
		free(v);
		return KAFKA_UNKNOWN_SERVER_ERROR;
	}
	for (ssize_t i = 0; i < n; i++) {
		out[i].producer_id = v[i].producer_id;
		out[i].producer_epoch = v[i].epoch;
		out[i].last_sequence = v[i].last_sequence;
		out[i].last_timestamp = v[i].last_timestamp;
		out[i].coordinator_epoch = v[i].coordinator_epoch;
		out[i].current_txn_start_offset = v[i].txn_start_offset;
	}
	free(v);
	pr->active_producers.items = out;
	pr->active_producers.count = (int32_t)n;
	return KAFKA_NONE;
}

static void describe_partition(struct req *req, struct topic *t, int32_t index, part_resp *pr)
{
	pr->partition_index = index;
	if (t == NULL || index < 0 || index >= t->npartitions) {
		pr->error_code = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
		pr->error_message = kstr_c("This server does not host this topic-partition.");
		return;
	}
	pr->error_code = (int16_t)list_producers(req, t->parts[index]->log, pr);
}

/* Fills one topic's answer. Returns false when out of memory. */
static bool describe_topic(struct req *req, const topic_req *tq, topic_resp *tr)
{
	int32_t np = tq->partition_indexes.count > 0 ? tq->partition_indexes.count : 0;
	tr->name = tq->name;
	tr->partitions.items = proto_new_array(&proto_describe_producers_response_partition_response,
					       req->hdr.api_version, np ? np : 1, &req->arena);
	if (tr->partitions.items == NULL)
		return false;
	tr->partitions.count = np;
	struct topic *t = tq->name.len >= 0
		? meta_topic_find(g_broker->meta, tq->name.ptr, (size_t)tq->name.len) : NULL;
	for (int32_t j = 0; j < np; j++)
		describe_partition(req, t, tq->partition_indexes.items[j], &tr->partitions.items[j]);
	if (t)
		topic_unref(t);
	return true;
}

void api_describe_producers(struct req *req)
{
	struct describe_producers_request *rq = api_decode(req, &proto_describe_producers_request);
	if (!rq)
		return;
	struct describe_producers_response *resp =
		proto_new(&proto_describe_producers_response, req->hdr.api_version, &req->arena);
	int32_t nt = rq->topics.count > 0 ? rq->topics.count : 0;
	if (!resp || !(resp->topics.items = proto_new_array(&proto_describe_producers_response_topic_response,
							      req->hdr.api_version, nt ? nt : 1, &req->arena))) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->topics.count = nt;
	for (int32_t i = 0; i < nt; i++) {
		if (!describe_topic(req, &rq->topics.items[i], &resp->topics.items[i])) {
			api_respond_close(req, "out of memory");
			return;
		}
	}
	api_respond(req, &proto_describe_producers_response, resp);
}
