/*
 * create_partitions.c — CreatePartitions (key 37).
 *
 * Per topic, as Kafka's controller (ReplicationControlManager.
 * createPartitions), first failure wins:
 *   - name given twice in the request   -> INVALID_REQUEST "Duplicate topic name."
 *   - unknown topic                     -> UNKNOWN_TOPIC_OR_PARTITION
 *   - Count == current                  -> INVALID_PARTITIONS "Topic already has N partition(s)."
 *   - Count <  current                  -> INVALID_PARTITIONS "... would not be an increase."
 *   - Assignments not null: one replica list per new partition, each
 *     exactly [our node id] — what Kafka accepts on a cluster of one
 *     broker; anything else names an unregistered broker (or repeats one):
 *     INVALID_REPLICA_ASSIGNMENT with Kafka's messages.
 * then meta_partitions_create (durable PARTITIONS record; it also bounds the
 * count). ValidateOnly checks and changes nothing. Creation is synchronous,
 * so TimeoutMs is honoured trivially.
 *
 * Threads: the connection's loop thread; blocks it for one metadata-log
 * flush per topic changed.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"
#include "util/log.h"

typedef struct create_partitions_request_create_partitions_topic topic_req;
typedef struct create_partitions_response_create_partitions_topic_result topic_resp;

#define MSG_LEN 512

static int check_count(const topic_req *tq, const struct topic *t, char *msg)
{
	if (tq->count == t->npartitions) {
		snprintf(msg, MSG_LEN, "Topic already has %d partition(s).", t->npartitions);
		return KAFKA_INVALID_PARTITIONS;
	}
	if (tq->count < t->npartitions) {
		snprintf(msg, MSG_LEN, "The topic %s currently has %d partition(s); %d would not be an increase.",
			 t->name, t->npartitions, tq->count);
		return KAFKA_INVALID_PARTITIONS;
	}
	if (tq->assignments.count < 0) /* null: automatic placement */
		return KAFKA_NONE;
	int32_t additional = tq->count - t->npartitions;
	if (tq->assignments.count != additional) {
		snprintf(msg, MSG_LEN, "Attempted to add %d additional partition(s), but only %d "
			 "assignment(s) were specified.", additional, tq->assignments.count);
		return KAFKA_INVALID_REPLICA_ASSIGNMENT;
	}
	for (int32_t i = 0; i < tq->assignments.count; i++) {
		int err = api_check_replicas(tq->assignments.items[i].broker_ids.items,
					 tq->assignments.items[i].broker_ids.count, msg);
		if (err != KAFKA_NONE)
			return err;
	}
	return KAFKA_NONE;
}

static int grow(struct req *req, const topic_req *tq, bool validate_only, char *msg)
{
	if (tq->name.len < 0)
		return KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
	struct topic *t = meta_topic_find(g_broker->meta, tq->name.ptr, (size_t)tq->name.len);
	if (!t)
		return KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
	int32_t before = t->npartitions;
	int err = check_count(tq, t, msg);
	if (err == KAFKA_NONE)
		err = meta_partitions_create(g_broker->meta, t, tq->count, validate_only, msg, MSG_LEN);
	if (err == KAFKA_NONE && !validate_only)
		log_info("api", "topic %s: partitions %d -> %d (requested by %s)", t->name, before,
			 tq->count, req->peer);
	topic_unref(t);
	return api_storage_err(err);
}

void api_create_partitions(struct req *req)
{
	struct create_partitions_request *rq = api_decode(req, &proto_create_partitions_request);
	if (!rq)
		return;
	struct create_partitions_response *resp = proto_new(&proto_create_partitions_response,
							     req->hdr.api_version, &req->arena);
	int32_t n = rq->topics.count > 0 ? rq->topics.count : 0;
	kstr *names = resp ? arena_alloc(&req->arena, (size_t)(n ? n : 1) * sizeof(kstr)) : NULL;
	for (int32_t i = 0; names && i < n; i++)
		names[i] = rq->topics.items[i].name;
	uint8_t *dup = names ? api_dup_flags(req, names, n) : NULL;
	topic_resp *out = dup ? arena_alloc(&req->arena, (size_t)(n ? n : 1) * sizeof(*out)) : NULL;
	if (!out) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->throttle_time_ms = 0;
	resp->results.items = out;
	resp->results.count = 0;
	for (int32_t i = 0; i < n; i++) {
		char msg[MSG_LEN] = "";
		int err;
		if (dup[i] == API_DUP_LATER)
			continue; /* answered once, at the first occurrence */
		if (dup[i] == API_DUP_FIRST) {
			snprintf(msg, sizeof(msg), "Duplicate topic name.");
			err = KAFKA_INVALID_REQUEST;
		} else {
			err = grow(req, &rq->topics.items[i], rq->validate_only, msg);
		}
		topic_resp *tr = &out[resp->results.count++];
		tr->name = rq->topics.items[i].name;
		tr->error_code = (int16_t)err;
		tr->error_message = err != KAFKA_NONE && msg[0] ? api_kstr(req, msg) : kstr_null();
	}
	api_respond(req, &proto_create_partitions_response, resp);
}
