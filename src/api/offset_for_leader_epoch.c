/*
 * offset_for_leader_epoch.c — OffsetForLeaderEpoch (key 23).
 *
 * Consumers (librdkafka's offset validation, KIP-320) and followers ask:
 * "where does leader epoch E end?", to detect log truncation. A single
 * node never changes leader, so every partition has had exactly one
 * epoch, 0, covering the whole log. Per partition, as Kafka's
 * Partition.lastOffsetForLeaderEpoch and LeaderEpochFileCache.endOffsetFor:
 *   - unknown topic or partition   -> UNKNOWN_TOPIC_OR_PARTITION
 *   - CurrentLeaderEpoch (v2+) fencing: -1 skips the check; greater than
 *     ours (0) -> UNKNOWN_LEADER_EPOCH (the client knows a newer leader
 *     than we do); smaller -> FENCED_LEADER_EPOCH, which with ours at 0 can
 *     only be a bogus negative value
 *   - LeaderEpoch 0 (the latest)   -> LeaderEpoch 0, EndOffset = log end
 *     offset
 *   - LeaderEpoch > 0 (newer than any we know) or -1 (undefined)
 *                                  -> LeaderEpoch -1, EndOffset -1
 *                                     (UNDEFINED_EPOCH / _OFFSET)
 *   - LeaderEpoch < -1: older than our first epoch; Kafka answers the
 *     requested epoch and the first epoch's start offset: our log start.
 * ReplicaId (v3+) is ignored: there are no followers, and consumers and
 * the debug id (-2) are answered alike.
 */
#include "api/api_int.h"
#include "log/plog.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"

typedef struct offset_for_leader_epoch_request_offset_for_leader_partition part_req;
typedef struct offset_for_leader_epoch_response_epoch_end_offset part_resp;

#define OUR_EPOCH 0
#define UNDEFINED_EPOCH (-1)
#define UNDEFINED_EPOCH_OFFSET (-1)

static int fence(int32_t current)
{
	if (current == UNDEFINED_EPOCH || current == OUR_EPOCH)
		return KAFKA_NONE;
	return current > OUR_EPOCH ? KAFKA_UNKNOWN_LEADER_EPOCH : KAFKA_FENCED_LEADER_EPOCH;
}

static void answer(const struct topic *t, const part_req *pq, part_resp *pr)
{
	pr->partition = pq->partition;
	pr->leader_epoch = UNDEFINED_EPOCH;
	pr->end_offset = UNDEFINED_EPOCH_OFFSET;
	if (!t || pq->partition < 0 || pq->partition >= t->npartitions) {
		pr->error_code = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
		return;
	}
	pr->error_code = (int16_t)fence(pq->current_leader_epoch);
	if (pr->error_code != KAFKA_NONE)
		return;
	struct plog *pl = t->parts[pq->partition]->log;
	if (pq->leader_epoch == OUR_EPOCH) {
		pr->leader_epoch = OUR_EPOCH;
		pr->end_offset = plog_end_offset(pl);
	} else if (pq->leader_epoch < UNDEFINED_EPOCH) {
		pr->leader_epoch = pq->leader_epoch;
		pr->end_offset = plog_start_offset(pl);
	}
}

void api_offset_for_leader_epoch(struct req *req)
{
	struct offset_for_leader_epoch_request *rq = api_decode(req, &proto_offset_for_leader_epoch_request);
	if (!rq)
		return;
	struct offset_for_leader_epoch_response *resp = proto_new(&proto_offset_for_leader_epoch_response,
								   req->hdr.api_version, &req->arena);
	int32_t nt = rq->topics.count > 0 ? rq->topics.count : 0;
	if (!resp || !(resp->topics.items = arena_alloc(&req->arena, (size_t)(nt ? nt : 1) * sizeof(*resp->topics.items))))
		goto oom;
	resp->throttle_time_ms = 0;
	resp->topics.count = nt;
	for (int32_t i = 0; i < nt; i++) {
		const struct offset_for_leader_epoch_request_offset_for_leader_topic *tq = &rq->topics.items[i];
		struct offset_for_leader_epoch_response_offset_for_leader_topic_result *tr = &resp->topics.items[i];
		int32_t np = tq->partitions.count > 0 ? tq->partitions.count : 0;
		tr->topic = tq->topic;
		tr->partitions.items = arena_alloc(&req->arena, (size_t)(np ? np : 1) * sizeof(part_resp));
		if (!tr->partitions.items)
			goto oom;
		tr->partitions.count = np;
		struct topic *t = tq->topic.len >= 0
			? meta_topic_find(g_broker->meta, tq->topic.ptr, (size_t)tq->topic.len) : NULL;
		for (int32_t j = 0; j < np; j++)
			answer(t, &tq->partitions.items[j], &tr->partitions.items[j]);
		if (t)
			topic_unref(t);
	}
	api_respond(req, &proto_offset_for_leader_epoch_response, resp);
	return;
oom:
	api_respond_close(req, "out of memory");
}
