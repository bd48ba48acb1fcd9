/*
 * delete_groups.c — DeleteGroups (key 42): forget groups and their
 * committed offsets.
 *
 * Per group (coord_delete_group): GROUP_ID_NOT_FOUND when there is
 * neither a group nor offsets, NON_EMPTY_GROUP while it has members, else
 * NONE once the tombstones of the group and all its offsets are durable.
 * An empty group id is INVALID_GROUP_ID (Kafka tolerates "" for old
 * clients and would answer GROUP_ID_NOT_FOUND; runnel never has a group
 * named "").
 *
 * Duplicates: a group named twice is deleted and answered once, at its
 * first position — Kafka's KafkaApis takes `groupsNames.distinct` and its
 * response is a collection keyed by group id.
 *
 * The deletions run concurrently: each group gets its own sub-job (a
 * coord_job that is never submitted, only passed to coord_delete_group so
 * that its done callback knows which group finished); the request's job
 * finishes when the last of them is done.
 *
 * Versions: v1 is v0 (throttling after the answer); v2 flexible.
 *
 * Threads: decode and the response skeleton on the loop; the deletions and
 * the error codes on the coordinator thread.
 */
#include <string.h>

#include "api/api_int.h"
#include "coord/coord.h"
#include "proto_gen.h"
#include "util/err.h"

typedef struct delete_groups_response_deletable_group_result result;

struct delete_job;

/* One group's deletion. */
struct delete_one {
	struct coord_job job;        /* first: done hands this pointer back */
	struct delete_job *parent;
	const char *group_id;        /* arena, NUL-terminated */
	int16_t *err;                /* the group's ErrorCode in the response */
};

struct delete_job {
	struct coord_job job;        /* first: coord hands this pointer back */
	struct delete_groups_response *resp;
	struct delete_one *ones;     /* arena; n of them, one per distinct group */
	int32_t n;
	int32_t pending;             /* deletions not done yet (+1 while starting) */
};

/* --------------------------------------------------- coordinator thread */

static void one_done(struct delete_job *dj)
{
	if (--dj->pending == 0)
		coord_finish(&dj->job);
}

static void on_deleted(struct coord_job *job, int err)
{
	struct delete_one *one = (struct delete_one *)job;
	*one->err = (int16_t)err;
	one_done(one->parent);
}

static void run_delete(struct coord_job *job)
{
	struct delete_job *dj = (struct delete_job *)job;
	dj->pending = dj->n + 1; /* the +1 keeps the job until every call is made */
	for (int32_t i = 0; i < dj->n; i++) {
		struct delete_one *one = &dj->ones[i];
		if (one->group_id[0] == '\0') {
			*one->err = KAFKA_INVALID_GROUP_ID;
			one_done(dj);
			continue;
		}
		coord_delete_group(&one->job, one->group_id, on_deleted);
	}
	one_done(dj);
}

/* ------------------------------------------------------- network loop */

static void reply_delete(struct coord_job *job)
{
	struct delete_job *dj = (struct delete_job *)job;
	api_respond(job->req, &proto_delete_groups_response, dj->resp);
}

/* Builds the response (one result per distinct group, in first-seen
 * order) and the sub-jobs. Returns false when out of memory. */
static bool prepare(struct req *req, const struct delete_groups_request *rq, struct delete_job *dj)
{
	int16_t v = req->hdr.api_version;
	int32_t n = rq->groups_names.count > 0 ? rq->groups_names.count : 0;
	uint8_t *dup = api_dup_flags(req, rq->groups_names.items, n);
	dj->resp = proto_new(&proto_delete_groups_response, v, &req->arena);
	result *res = proto_new_array(&proto_delete_groups_response_deletable_group_result, v, n, &req->arena);
	dj->ones = arena_alloc(&req->arena, (size_t)(n ? n : 1) * sizeof(*dj->ones));
	if (!dup || !dj->resp || !res || !dj->ones)
		return false;
	dj->n = 0;
	for (int32_t i = 0; i < n; i++) {
		if (dup[i] == API_DUP_LATER)
			continue;
		result *r = &res[dj->n];
		struct delete_one *one = &dj->ones[dj->n++];
		r->group_id = rq->groups_names.items[i]; /* borrows the frame */
		r->error_code = KAFKA_NONE;
		one->job.req = req;
		one->parent = dj;
		one->err = &r->error_code;
		if (!(one->group_id = api_strdup(req, rq->groups_names.items[i])))
			return false;
	}
	dj->resp->results.count = dj->n;
	dj->resp->results.items = res;
	return true;
}

void api_delete_groups(struct req *req)
{
	struct delete_groups_request *rq = api_decode(req, &proto_delete_groups_request);
	if (!rq)
		return;
	struct delete_job *dj = arena_alloc(&req->arena, sizeof(*dj));
	if (!dj || !prepare(req, rq, dj)) {
		api_respond_close(req, "out of memory");
		return;
	}
	if (dj->n == 0) {
		api_respond(req, &proto_delete_groups_response, dj->resp);
		return;
	}
	dj->job.req = req;
	dj->job.run = run_delete;
	dj->job.reply = reply_delete;
	if (coord_submit(&dj->job) != 0) {
		for (int32_t i = 0; i < dj->n; i++)
			*dj->ones[i].err = KAFKA_COORDINATOR_NOT_AVAILABLE;
		api_respond(req, &proto_delete_groups_response, dj->resp);
	}
}
