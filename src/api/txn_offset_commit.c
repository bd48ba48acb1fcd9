/*
 * txn_offset_commit.c — TxnOffsetCommit (key 28): a transactional producer
 * commits a consumer group's offsets inside its transaction (KIP-98; the
 * consume-transform-produce loop's sendOffsetsToTransaction). Sent to the
 * group's coordinator after AddOffsetsToTxn added the group's
 * __consumer_offsets partition to the transaction.
 *
 * Flow (Kafka's KafkaApis.handleTxnOffsetCommitRequest, then
 * GroupCoordinator.handleTxnCommitOffsets):
 *   1. network loop: each partition is checked against the metadata image:
 *      an unknown topic or a partition out of range is
 *      UNKNOWN_TOPIC_OR_PARTITION. With no partition left the answer goes
 *      out at once (Kafka does not ask the coordinator either).
 *   2. coordinator thread: the group id must not be empty
 *      (INVALID_GROUP_ID); a producer id < 0 is INVALID_PRODUCER_ID_MAPPING
 *      (what Kafka's transaction verification answers for a producer id
 *      that is no transaction's). Then the member check, only when the
 *      request names a member — GenerationId >= 0, a MemberId or a
 *      GroupInstanceId (v3+; Kafka's validateOffsetCommit with
 *      isTransactional: v0-2 requests carry none and are not checked, even
 *      for a group with members) — through gcoord_commit_check
 *      (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID,
 *      REBALANCE_IN_PROGRESS...). Its code, when not NONE, answers every
 *      remaining partition.
 *   3. per partition: metadata over offset.metadata.max.bytes is
 *      OFFSET_METADATA_TOO_LARGE; the rest go to coord_txn_commit_offsets as
 *      one transactional batch: its code answers them all — NONE once
 *      durable (the offsets are then pending until the transaction's
 *      marker), INVALID_TXN_STATE when AddOffsetsToTxn did not add the
 *      group's partition to this producer's ongoing transaction (KIP-890's
 *      verify in the partition log), INVALID_PRODUCER_EPOCH when the epoch
 *      is stale (fenced by a newer instance), KAFKA_STORAGE_ERROR...
 *
 * PRODUCER_FENCED is never answered: Kafka's TxnOffsetCommit has no
 * version that carries it (its verification turns PRODUCER_FENCED into
 * INVALID_PRODUCER_EPOCH, "producers expect to handle INVALID_PRODUCER_EPOCH
 * in this scenario", AddPartitionsToTxnManager), and clients treat
 * INVALID_PRODUCER_EPOCH here as fencing. COORDINATOR_NOT_AVAILABLE when
 * the coordinator is not running. (Kafka turns COORDINATOR_LOAD_IN_PROGRESS
 * into COORDINATOR_NOT_AVAILABLE for v0-1; runnel loads before it listens
 * and never answers the former.)
 *
 * Versions: v0-1 the same; v2 CommittedLeaderEpoch (stored, answered by
 * OffsetFetch v5+); v3 flexible, GenerationId, MemberId, GroupInstanceId.
 *
 * Threads and memory as offset_commit.c: everything in the request arena;
 * the response is built on the loop, its error codes are filled on the
 * coordinator thread, which owns the request while the job is there.
 */
#include <string.h>

#include "api/api_int.h"
#include "api/commit_cands.h"
#include "coord/coord.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"

typedef struct txn_offset_commit_request_txn_offset_commit_request_topic topic_req;
typedef struct txn_offset_commit_request_txn_offset_commit_request_partition part_req;
typedef struct txn_offset_commit_response_txn_offset_commit_response_topic topic_resp;
typedef struct txn_offset_commit_response_txn_offset_commit_response_partition part_resp;

struct txn_commit_job {
	struct coord_job job;        /* first: coord hands this pointer back */
	struct txn_offset_commit_response *resp;
	const char *group_id;        /* arena, NUL-terminated */
	const char *member_id;       /* "" before v3 */
	const char *instance_id;     /* NULL: none (or before v3) */
	int32_t generation_id;       /* -1 before v3 */
	int64_t producer_id;
	int16_t producer_epoch;
	struct commit_cand *cands;   /* arena; n of them */
	size_t n;
};

/* --------------------------------------------------- coordinator thread */

static void fail_all(struct txn_commit_job *tj, int err)
{
	commit_cands_fail(tj->cands, tj->n, err);
}

static void on_committed(struct coord_job *job, int err)
{
	struct txn_commit_job *tj = (struct txn_commit_job *)job;
	commit_cands_done(tj->cands, tj->n, err);
	coord_finish(job);
}

/* The group-level checks (step 2). */
static int check_group(struct txn_commit_job *tj)
{
	if (tj->group_id[0] == '\0')
		return KAFKA_INVALID_GROUP_ID;
	if (tj->producer_id < 0)
		return KAFKA_INVALID_PRODUCER_ID_MAPPING;
	if (tj->generation_id < 0 && tj->member_id[0] == '\0' && !tj->instance_id)
		return KAFKA_NONE;
	struct group_out *out = coord_out();
	int err = gcoord_commit_check(coord_groups(), tj->group_id, tj->member_id, tj->instance_id,
				      tj->generation_id, coord_now_ms(), out);
	coord_step(out);
	return err;
}

static void run_txn_commit(struct coord_job *job)
{
	struct txn_commit_job *tj = (struct txn_commit_job *)job;
	int err = check_group(tj);
	if (err != KAFKA_NONE) {
		fail_all(tj, err);
		coord_finish(job);
		return;
	}
	size_t m;
	struct coord_offset *offs = commit_cands_take(job->req, tj->cands, tj->n, &m);
	if (!offs) {
		fail_all(tj, KAFKA_UNKNOWN_SERVER_ERROR);
		coord_finish(job);
		return;
	}
	coord_txn_commit_offsets(job, tj->group_id, tj->producer_id, tj->producer_epoch, offs, m,
				 on_committed);
}

/* ------------------------------------------------------- network loop */

static void reply_txn_commit(struct coord_job *job)
{
	struct txn_commit_job *tj = (struct txn_commit_job *)job;
	api_respond(job->req, &proto_txn_offset_commit_response, tj->resp);
}

static size_t count_partitions(const struct txn_offset_commit_request *rq)
{
	size_t n = 0;
	for (int32_t i = 0; i < rq->topics.count; i++)
		n += rq->topics.items[i].partitions.count > 0 ? (size_t)rq->topics.items[i].partitions.count : 0;
	return n;
}

/* Fills one topic's answer and appends its valid partitions to tj->cands.
 * Returns 0, or -1 when out of memory. */
static int check_topic(struct req *req, struct txn_commit_job *tj, const topic_req *tq, topic_resp *tr)
{
	int16_t v = req->hdr.api_version;
	int32_t np = tq->partitions.count > 0 ? tq->partitions.count : 0;
	tr->name = tq->name; /* borrows the frame, which outlives the answer */
	tr->partitions.count = np;
	tr->partitions.items = proto_new_array(&proto_txn_offset_commit_response_txn_offset_commit_response_partition,
					       v, np, &req->arena);
	if (!tr->partitions.items)
		return -1;
	struct topic *t = meta_topic_find(g_broker->meta, tq->name.ptr, (size_t)tq->name.len);
	char *name = t ? api_strdup(req, tq->name) : NULL;
	int rc = t && !name ? -1 : 0;
	for (int32_t j = 0; rc == 0 && j < np; j++) {
		const part_req *pq = &tq->partitions.items[j];
		part_resp *pr = &tr->partitions.items[j];
		pr->partition_index = pq->partition_index;
		if (!t || pq->partition_index < 0 || pq->partition_index >= t->npartitions) {
			pr->error_code = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
			continue;
		}
		rc = commit_cand_fill(req, &tj->cands[tj->n++], &pr->error_code, name, pq->partition_index,
				      pq->committed_offset, pq->committed_leader_epoch,
				      pq->committed_metadata, -1);
	}
	if (t)
		topic_unref(t);
	return rc;
}

/* Builds the response and the candidates. Returns 0, or -1 when out of
 * memory. */
static int prepare(struct req *req, const struct txn_offset_commit_request *rq, struct txn_commit_job *tj)
{
	int16_t v = req->hdr.api_version;
	int32_t nt = rq->topics.count > 0 ? rq->topics.count : 0;
	size_t np = count_partitions(rq);
	tj->resp = proto_new(&proto_txn_offset_commit_response, v, &req->arena);
	tj->cands = arena_alloc(&req->arena, (np ? np : 1) * sizeof(*tj->cands));
	if (!tj->resp || !tj->cands)
		return -1;
	tj->resp->topics.count = nt;
	tj->resp->topics.items = proto_new_array(&proto_txn_offset_commit_response_txn_offset_commit_response_topic,
						 v, nt, &req->arena);
	if (!tj->resp->topics.items)
		return -1;
	for (int32_t i = 0; i < nt; i++)
		if (check_topic(req, tj, &rq->topics.items[i], &tj->resp->topics.items[i]) != 0)
			return -1;
	return 0;
}

/* Copies the group and member fields. Returns false when out of memory. */
static bool take_ids(struct req *req, const struct txn_offset_commit_request *rq, struct txn_commit_job *tj)
{
	tj->group_id = api_strdup(req, rq->group_id);
	tj->member_id = rq->member_id.len > 0 ? api_strdup(req, rq->member_id) : "";
	tj->instance_id = rq->group_instance_id.len >= 0 ? api_strdup(req, rq->group_instance_id) : NULL;
	tj->generation_id = rq->generation_id; /* before v3: its default, -1 */
	tj->producer_id = rq->producer_id;
	tj->producer_epoch = rq->producer_epoch;
	return tj->group_id && tj->member_id && (rq->group_instance_id.len < 0 || tj->instance_id);
}

void api_txn_offset_commit(struct req *req)
{
	struct txn_offset_commit_request *rq = api_decode(req, &proto_txn_offset_commit_request);
	if (!rq)
		return;
	struct txn_commit_job *tj = arena_alloc(&req->arena, sizeof(*tj));
	if (tj)
		memset(tj, 0, sizeof(*tj));
	if (!tj || prepare(req, rq, tj) != 0) {
		api_respond_close(req, "out of memory");
		return;
	}
	if (tj->n == 0) { /* nothing for the group to check or store */
		api_respond(req, &proto_txn_offset_commit_response, tj->resp);
		return;
	}
	if (!take_ids(req, rq, tj)) {
		api_respond_close(req, "out of memory");
		return;
	}
	tj->job.req = req;
	tj->job.run = run_txn_commit;
	tj->job.reply = reply_txn_commit;
	if (coord_submit(&tj->job) != 0) {
		fail_all(tj, KAFKA_COORDINATOR_NOT_AVAILABLE);
		api_respond(req, &proto_txn_offset_commit_response, tj->resp);
	}
}
