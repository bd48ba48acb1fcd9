/*
 * add_offsets_to_txn.c — AddOffsetsToTxn (key 25): a transactional producer
 * is about to commit a group's offsets inside its transaction
 * (sendOffsetsToTransaction); the group's partition of __consumer_offsets
 * joins the transaction, so that its COMMIT/ABORT marker lands there too
 * and the offsets (TxnOffsetCommit) become visible, or are dropped, with
 * the transaction.
 *
 * Flow (Kafka 3.9 KafkaApis.handleAddOffsetsToTxnRequest, then
 * TransactionCoordinator.handleAddPartitionsToTransaction):
 *   1. network loop: TransactionalId "" is INVALID_REQUEST (the
 *      coordinator's first check). The group's partition is
 *      gmsg_partition_for(GroupId) over __consumer_offsets' partition count
 *      (as coord_store.c writes the group's offsets); the topic is created
 *      when missing (coord_ensure_topic; COORDINATOR_NOT_AVAILABLE when it
 *      cannot be). The group id itself is not checked, as in Kafka.
 *   2. coordinator thread: coord_txn_add_partitions() with that one
 *      partition — tcoord's AddPartitions rules (src/txn/tcoord.h):
 *      INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED / INVALID_PRODUCER_EPOCH,
 *      CONCURRENT_TRANSACTIONS, or NONE once the ONGOING record holding the
 *      partition is durable.
 *   3. the code is the answer; COORDINATOR_NOT_AVAILABLE when the
 *      coordinator is not running.
 *
 * Versions: v1 = v0; v2+ may be answered PRODUCER_FENCED (older versions:
 * INVALID_PRODUCER_EPOCH; see end_txn.c); v3 flexible. ThrottleTimeMs 0.
 *
 * Threads and memory: as end_txn.c.
 */
#include <string.h>

#include "api/api_int.h"
#include "coord/coord.h"
#include "group/gmsg.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"

/* Kafka's GROUP_METADATA_TOPIC_NAME (coord_int.h's COORD_TOPIC is private
 * to src/coord). */
#define OFFSETS_TOPIC "__consumer_offsets"

struct offsets_job {
	struct coord_job job;        /* first: coord hands this pointer back */
	const char *tid;             /* arena, NUL-terminated */
	int64_t pid;
	int16_t epoch;
	bool fenced_ok;              /* v2+ */
	struct coord_tp tp;          /* the group's __consumer_offsets partition */
	struct add_offsets_to_txn_response *resp;
};

/* --------------------------------------------------- coordinator thread */

static void on_added(struct coord_job *job, int err, int64_t pid, int16_t epoch)
{
	struct offsets_job *oj = (struct offsets_job *)job;
	oj->resp->error_code = (int16_t)err;
	coord_finish(job);
}

static void run_add(struct coord_job *job)
{
	struct offsets_job *oj = (struct offsets_job *)job;
	coord_txn_add_partitions(job, oj->tid, oj->pid, oj->epoch, &oj->tp, 1, oj->fenced_ok,
				 on_added);
}

/* ------------------------------------------------------- network loop */

static void reply_add(struct coord_job *job)
{
	struct offsets_job *oj = (struct offsets_job *)job;
	api_respond(job->req, &proto_add_offsets_to_txn_response, oj->resp);
}

/* The group's partition of __consumer_offsets (created when missing).
 * Returns a Kafka code. */
static int group_partition(struct req *req, kstr group_id, int32_t *partition)
{
	if (coord_ensure_topic() != KAFKA_NONE)
		return KAFKA_COORDINATOR_NOT_AVAILABLE;
	char *group = api_strdup(req, group_id);
	struct topic *t = meta_topic_find(g_broker->meta, OFFSETS_TOPIC, strlen(OFFSETS_TOPIC));
	if (!t || !group) {
		topic_unref(t);
		return t ? KAFKA_UNKNOWN_SERVER_ERROR : KAFKA_COORDINATOR_NOT_AVAILABLE;
	}
	*partition = gmsg_partition_for(group, t->npartitions);
	topic_unref(t);
	return KAFKA_NONE;
}

void api_add_offsets_to_txn(struct req *req)
{
	struct add_offsets_to_txn_request *rq = api_decode(req, &proto_add_offsets_to_txn_request);
	if (!rq)
		return;
	struct offsets_job *oj = arena_alloc(&req->arena, sizeof(*oj));
	struct add_offsets_to_txn_response *resp = proto_new(&proto_add_offsets_to_txn_response,
							     req->hdr.api_version, &req->arena);
	char *tid = api_strdup(req, rq->transactional_id);
	if (!oj || !resp || !tid) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->throttle_time_ms = 0;
	*oj = (struct offsets_job){
		.job = { .req = req, .run = run_add, .reply = reply_add },
		.tid = tid,
		.pid = rq->producer_id,
		.epoch = rq->producer_epoch,
		.fenced_ok = req->hdr.api_version >= 2,
		.tp = { .topic = OFFSETS_TOPIC },
		.resp = resp,
	};
	resp->error_code = tid[0] == '\0' ? KAFKA_INVALID_REQUEST
		: (int16_t)group_partition(req, rq->group_id, &oj->tp.partition);
	if (resp->error_code != KAFKA_NONE || coord_submit(&oj->job) != 0) {
		if (resp->error_code == KAFKA_NONE)
			resp->error_code = KAFKA_COORDINATOR_NOT_AVAILABLE;
		api_respond(req, &proto_add_offsets_to_txn_response, resp);
	}
}
