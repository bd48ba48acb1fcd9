/*
 * offset_commit.c — OffsetCommit (key 8): a group's consumers store their
 * positions.
 *
 * Flow (as Kafka's KafkaApis.handleOffsetCommitRequest, then its group
 * coordinator):
 *   1. network loop: each partition is checked against the metadata image.
 *      A topic that does not exist, or a partition out of its range, gets
 *      UNKNOWN_TOPIC_OR_PARTITION. When no partition is left the answer goes
 *      out at once, without asking the coordinator (Kafka does the same:
 *      no group check for a request that commits nothing; this includes a
 *      request of zero partitions).
 *   2. coordinator thread: gcoord_commit_check() — the member/generation
 *      check of group.h (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
 *      REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID, INVALID_GROUP_ID,
 *      COORDINATOR_NOT_AVAILABLE; a generation < 0 commits from outside the
 *      group protocol). Its code, when not NONE, is every remaining
 *      partition's answer.
 *   3. then per partition: metadata longer than offset.metadata.max.bytes
 *      is OFFSET_METADATA_TOO_LARGE (Kafka compares the string's length in
 *      UTF-16 units; we compare bytes, the stricter bound for non-ASCII);
 *      the others go to coord_commit(), whose outcome (NONE once durable,
 *      or the write's error) is their answer.
 * The answer lists topics and partitions in the request's order; a
 * partition named twice is answered twice (the later value wins in the
 * store, as in Kafka).
 *
 * Versions:
 *   v0     GroupId and offsets only: generation -1, member "" (a commit
 *          from outside the group protocol; accepted for a group without
 *          members, as Kafka does).
 *   v1     GenerationId, MemberId, per-partition CommitTimestamp. The
 *          timestamp is ignored: coord_commit() stamps every commit with
 *          the broker's wall clock. (Kafka's coordinator stored a
 *          client-supplied v1 timestamp; since KIP-211 expiry is counted
 *          from when the group became empty, so the stamp no longer decides
 *          retention — we do not let a client's clock decide it either.)
 *   v2-4   RetentionTimeMs: > 0 sets an explicit expiry (commit time +
 *          retention); -1 (and any other value <= 0) means the broker's
 *          offsets.retention.minutes. (Kafka treats every value but -1 as
 *          explicit; 0 or negative would expire the offset at once.)
 *   v3+    ThrottleTimeMs in the answer (always 0).
 *   v5     RetentionTimeMs is gone.
 *   v6+    CommittedLeaderEpoch (-1: unknown), stored and returned by
 *          OffsetFetch v5+.
 *   v7+    GroupInstanceId (static members, KIP-345).
 *   v8     flexible.
 *
 * Threads: decode and topic checks on the connection's loop; the group
 * check and the write on the coordinator thread (coord.h); the answer is
 * encoded back on the loop.
 * Memory: everything lives in the request arena. The response is built on
 * the loop before the job is submitted; the coordinator thread fills its
 * remaining error codes (it owns the request while the job is there).
 */
#include <string.h>

#include "api/api_int.h"
#include "api/commit_cands.h"
#include "coord/coord.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"

typedef struct offset_commit_request_offset_commit_request_topic topic_req;
typedef struct offset_commit_request_offset_commit_request_partition part_req;
typedef struct offset_commit_response_offset_commit_response_topic topic_resp;
typedef struct offset_commit_response_offset_commit_response_partition part_resp;

struct commit_job {
	struct coord_job job;        /* first: coord hands this pointer back */
	struct offset_commit_response *resp;
	const char *group_id;        /* arena, NUL-terminated */
	const char *member_id;       /* "" for v0 */
	const char *instance_id;     /* NULL: dynamic member (or before v7) */
	int32_t generation_id;       /* -1 for v0 */
	struct commit_cand *cands;   /* arena; n of them */
	size_t n;
};

/* --------------------------------------------------- coordinator thread */

/* Every remaining partition answers err. */
static void fail_all(struct commit_job *cj, int err)
{
	commit_cands_fail(cj->cands, cj->n, err);
}

static void on_committed(struct coord_job *job, int err)
{
	struct commit_job *cj = (struct commit_job *)job;
	commit_cands_done(cj->cands, cj->n, err);
	coord_finish(job);
}

static void run_commit(struct coord_job *job)
{
	struct commit_job *cj = (struct commit_job *)job;
	struct group_out *out = coord_out();
	int err = gcoord_commit_check(coord_groups(), cj->group_id, cj->member_id, cj->instance_id,
				      cj->generation_id, coord_now_ms(), out);
	coord_step(out);
	if (err != KAFKA_NONE) {
		fail_all(cj, err);
		coord_finish(job);
		return;
	}
	size_t m;
	struct coord_offset *offs = commit_cands_take(job->req, cj->cands, cj->n, &m);
	if (!offs) {
		on_committed(job, KAFKA_UNKNOWN_SERVER_ERROR);
		return;
	}
	coord_commit(job, cj->group_id, offs, m, on_committed);
}

/* ------------------------------------------------------- network loop */

static void reply_commit(struct coord_job *job)
{
	struct commit_job *cj = (struct commit_job *)job;
	api_respond(job->req, &proto_offset_commit_response, cj->resp);
}

/* Counts the partitions of the request (bounded by the frame's size). */
static size_t count_partitions(const struct offset_commit_request *rq)
{
	size_t n = 0;
	for (int32_t i = 0; i < rq->topics.count; i++)
		n += rq->topics.items[i].partitions.count > 0 ? (size_t)rq->topics.items[i].partitions.count : 0;
	return n;
}

/* Fills one topic's answer and appends its valid partitions to cj->cands.
 * Returns 0, or -1 when out of memory. */
static int check_topic(struct req *req, struct commit_job *cj, int64_t expire_ts_ms,
		       const topic_req *tq, topic_resp *tr)
{
	int16_t v = req->hdr.api_version;
	int32_t np = tq->partitions.count > 0 ? tq->partitions.count : 0;
	tr->name = tq->name; /* borrows the frame, which outlives the answer */
	tr->partitions.count = np;
	tr->partitions.items = proto_new_array(&proto_offset_commit_response_offset_commit_response_partition,
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
		rc = commit_cand_fill(req, &cj->cands[cj->n++], &pr->error_code, name, pq->partition_index,
				      pq->committed_offset, pq->committed_leader_epoch,
				      pq->committed_metadata, expire_ts_ms);
	}
	topic_unref(t);
	return rc;
}

/* Builds the response and the candidates. Returns 0, or -1 when out of
 * memory. */
static int prepare(struct req *req, const struct offset_commit_request *rq, struct commit_job *cj)
{
	int16_t v = req->hdr.api_version;
	int32_t nt = rq->topics.count > 0 ? rq->topics.count : 0;
	size_t np = count_partitions(rq);
	cj->resp = proto_new(&proto_offset_commit_response, v, &req->arena);
	cj->cands = arena_alloc(&req->arena, (np ? np : 1) * sizeof(*cj->cands));
	if (!cj->resp || !cj->cands)
		return -1;
	cj->resp->topics.count = nt;
	cj->resp->topics.items = proto_new_array(&proto_offset_commit_response_offset_commit_response_topic,
						 v, nt, &req->arena);
	if (!cj->resp->topics.items)
		return -1;
	/* v2-4 only: the field reads as -1 in other versions. */
	int64_t expire = rq->retention_time_ms > 0 ? coord_wall_ms() + rq->retention_time_ms : -1;
	for (int32_t i = 0; i < nt; i++)
		if (check_topic(req, cj, expire, &rq->topics.items[i], &cj->resp->topics.items[i]) != 0)
			return -1;
	return 0;
}

void api_offset_commit(struct req *req)
{
	struct offset_commit_request *rq = api_decode(req, &proto_offset_commit_request);
	if (!rq)
		return;
	struct commit_job *cj = arena_alloc(&req->arena, sizeof(*cj));
	if (!cj || prepare(req, rq, cj) != 0) {
		api_respond_close(req, "out of memory");
		return;
	}
	if (cj->n == 0) { /* nothing for the group to check or store */
		api_respond(req, &proto_offset_commit_response, cj->resp);
		return;
	}
	cj->group_id = api_strdup(req, rq->group_id);
	cj->member_id = rq->member_id.len >= 0 ? api_strdup(req, rq->member_id) : "";
	cj->instance_id = api_strdup(req, rq->group_instance_id);
	cj->generation_id = rq->generation_id; /* v0: its default, -1 */
	if (!cj->group_id || !cj->member_id || (rq->group_instance_id.len >= 0 && !cj->instance_id)) {
		api_respond_close(req, "out of memory");
		return;
	}
	cj->job.req = req;
	cj->job.run = run_commit;
	cj->job.reply = reply_commit;
	if (coord_submit(&cj->job) != 0) {
		fail_all(cj, KAFKA_COORDINATOR_NOT_AVAILABLE);
		api_respond(req, &proto_offset_commit_response, cj->resp);
	}
}
