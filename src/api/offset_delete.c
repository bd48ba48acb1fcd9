/*
 * offset_delete.c — OffsetDelete (key 47, KIP-496): remove some committed
 * offsets of a group.
 *
 * As Kafka (KafkaApis.handleOffsetDeleteRequest, then the group
 * coordinator's deleteOffsets):
 *   1. network loop, per partition: a topic that does not exist or a
 *      partition out of its range is UNKNOWN_TOPIC_OR_PARTITION.
 *   2. coordinator thread, for the group (a group-level error is the
 *      top-level ErrorCode and the answer then lists no topics):
 *        - empty group id: INVALID_GROUP_ID;
 *        - neither a live group (any state but Dead) nor offsets:
 *          GROUP_ID_NOT_FOUND;
 *        - a group with members (not Empty) whose protocol type is not
 *          "consumer": NON_EMPTY_GROUP (its members' use of the offsets
 *          cannot be known);
 *   3. per remaining partition: when the group has members, uses the
 *      consumer protocol and one of them subscribes to the topic (its
 *      metadata for the selected protocol, consumer_proto.h):
 *      GROUP_SUBSCRIBED_TO_TOPIC. A subscription that cannot be read, or a
 *      group without a selected protocol yet, counts as subscribed to every
 *      topic (Kafka's classic group does the same: deleting offsets that
 *      are still consumed would rewind the consumers). An Empty group, or
 *      a group known only by offsets, has no subscriptions.
 *   4. the rest go to coord_delete_offsets(): NONE once the tombstones of
 *      those that had an offset are durable (a partition without an offset
 *      is NONE too, as in Kafka), or the write's error.
 * Topics and partitions are answered in the request's order.
 *
 * Versions: v0 only (not flexible).
 *
 * Threads: decode and topic checks on the loop; the group checks and the
 * deletion on the coordinator thread, which fills the error codes of the
 * response built before submitting (it owns the request meanwhile).
 */
#include <string.h>

#include "api/api_int.h"
#include "api/consumer_proto.h"
#include "coord/coord.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"

typedef struct offset_delete_request_offset_delete_request_topic topic_req;
typedef struct offset_delete_response_offset_delete_response_topic topic_resp;
typedef struct offset_delete_response_offset_delete_response_partition part_resp;

#define CONSUMER_PROTOCOL_TYPE "consumer"

/* A partition of an existing topic: the group's to answer. */
struct cand {
	int16_t *err;                /* its error code in the response */
	bool deleting;               /* handed to coord_delete_offsets */
	struct coord_tp tp;          /* topic in the arena */
};

struct delete_job {
	struct coord_job job;        /* first: coord hands this pointer back */
	struct offset_delete_response *resp;
	const char *group_id;        /* arena, NUL-terminated */
	struct cand *cands;          /* arena; n of them */
	size_t n;
};

/* --------------------------------------------------- coordinator thread */

/* True when some member of the (non-Empty, consumer-protocol) group g
 * subscribes to topic; unreadable subscriptions count as subscribed. */
static bool subscribed(const struct group *g, const char *topic)
{
	const char *protocol = group_protocol_name(g);
	if (!protocol)
		return true;
	for (int32_t i = 0; i < group_nmembers(g); i++) {
		const struct group_member *m = group_member_at(g, i);
		const struct group_member_proto *p = NULL;
		for (int32_t j = 0; j < m->nprotocols && !p; j++)
			if (strcmp(m->protocols[j].name, protocol) == 0)
				p = &m->protocols[j];
		if (!p)
			return true;
		if (consumer_proto_subscribes(p->metadata, (size_t)(p->metadata_len > 0 ? p->metadata_len : 0),
					      topic) != 0)
			return true; /* listed, or unreadable */
	}
	return false;
}

/* The group-level code; *g_live is the group when it has members. */
static int check_group(const char *id, const struct group **g_live)
{
	*g_live = NULL;
	if (id[0] == '\0')
		return KAFKA_INVALID_GROUP_ID;
	const struct group *g = gcoord_find(coord_groups(), id);
	enum group_state st = g ? group_state(g) : GROUP_DEAD;
	if (st == GROUP_DEAD && offstore_group_count(coord_offsets(), id) == 0)
		return KAFKA_GROUP_ID_NOT_FOUND;
	if (st == GROUP_DEAD || st == GROUP_EMPTY)
		return KAFKA_NONE;
	const char *type = group_protocol_type(g);
	if (!type || strcmp(type, CONSUMER_PROTOCOL_TYPE) != 0)
		return KAFKA_NON_EMPTY_GROUP;
	*g_live = g;
	return KAFKA_NONE;
}

static void on_deleted(struct coord_job *job, int err)
{
	struct delete_job *dj = (struct delete_job *)job;
	for (size_t i = 0; i < dj->n; i++)
		if (dj->cands[i].deleting)
			*dj->cands[i].err = (int16_t)err;
	coord_finish(job);
}

static void run_delete(struct coord_job *job)
{
	struct delete_job *dj = (struct delete_job *)job;
	const struct group *g;
	int err = check_group(dj->group_id, &g);
	if (err != KAFKA_NONE) {
		dj->resp->error_code = (int16_t)err;
		dj->resp->topics.count = 0;
		coord_finish(job);
		return;
	}
	struct coord_tp *tps = arena_alloc(&job->req->arena, (dj->n ? dj->n : 1) * sizeof(*tps));
	if (!tps) {
		dj->resp->error_code = KAFKA_UNKNOWN_SERVER_ERROR;
		dj->resp->topics.count = 0;
		coord_finish(job);
		return;
	}
	size_t m = 0;
	for (size_t i = 0; i < dj->n; i++) {
		struct cand *c = &dj->cands[i];
		if (g && subscribed(g, c->tp.topic)) {
			*c->err = KAFKA_GROUP_SUBSCRIBED_TO_TOPIC;
			continue;
		}
		c->deleting = true;
		tps[m++] = c->tp;
	}
	if (m == 0) {
		coord_finish(job);
		return;
	}
	coord_delete_offsets(job, dj->group_id, tps, m, on_deleted);
}

/* ------------------------------------------------------- network loop */

static void reply_delete(struct coord_job *job)
{
	struct delete_job *dj = (struct delete_job *)job;
	api_respond(job->req, &proto_offset_delete_response, dj->resp);
}

/* Fills one topic's answer and appends its partitions of an existing topic
 * to dj->cands. Returns 0, or -1 when out of memory. */
static int check_topic(struct req *req, struct delete_job *dj, const topic_req *tq, topic_resp *tr)
{
	int32_t np = tq->partitions.count > 0 ? tq->partitions.count : 0;
	tr->name = tq->name; /* borrows the frame */
	tr->partitions.count = np;
	tr->partitions.items = proto_new_array(&proto_offset_delete_response_offset_delete_response_partition,
					       0, np, &req->arena);
	if (!tr->partitions.items)
		return -1;
	struct topic *t = meta_topic_find(g_broker->meta, tq->name.ptr, (size_t)tq->name.len);
	char *name = t ? api_strdup(req, tq->name) : NULL;
	int rc = t && !name ? -1 : 0;
	for (int32_t j = 0; rc == 0 && j < np; j++) {
		int32_t p = tq->partitions.items[j].partition_index;
		part_resp *pr = &tr->partitions.items[j];
		pr->partition_index = p;
		if (!t || p < 0 || p >= t->npartitions) {
			pr->error_code = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
			continue;
		}
		struct cand *c = &dj->cands[dj->n++];
		c->err = &pr->error_code;
		c->tp.topic = name;
		c->tp.partition = p;
	}
	topic_unref(t);
	return rc;
}

static int prepare(struct req *req, const struct offset_delete_request *rq, struct delete_job *dj)
{
	int32_t nt = rq->topics.count > 0 ? rq->topics.count : 0;
	size_t np = 0;
	for (int32_t i = 0; i < nt; i++)
		np += rq->topics.items[i].partitions.count > 0 ? (size_t)rq->topics.items[i].partitions.count : 0;
	dj->resp = proto_new(&proto_offset_delete_response, 0, &req->arena);
	dj->cands = arena_alloc(&req->arena, (np ? np : 1) * sizeof(*dj->cands));
	dj->group_id = api_strdup(req, rq->group_id);
	if (!dj->resp || !dj->cands || !dj->group_id)
		return -1;
	dj->resp->topics.count = nt;
	dj->resp->topics.items = proto_new_array(&proto_offset_delete_response_offset_delete_response_topic,
						 0, nt, &req->arena);
	if (!dj->resp->topics.items)
		return -1;
	for (int32_t i = 0; i < nt; i++)
		if (check_topic(req, dj, &rq->topics.items[i], &dj->resp->topics.items[i]) != 0)
			return -1;
	return 0;
}

void api_offset_delete(struct req *req)
{
	struct offset_delete_request *rq = api_decode(req, &proto_offset_delete_request);
	if (!rq)
		return;
	struct delete_job *dj = arena_alloc(&req->arena, sizeof(*dj));
	if (!dj || prepare(req, rq, dj) != 0) {
		api_respond_close(req, "out of memory");
		return;
	}
	dj->job.req = req;
	dj->job.run = run_delete;
	dj->job.reply = reply_delete;
	if (coord_submit(&dj->job) != 0) {
		dj->resp->error_code = KAFKA_COORDINATOR_NOT_AVAILABLE;
		dj->resp->topics.count = 0;
		api_respond(req, &proto_offset_delete_response, dj->resp);
	}
}
