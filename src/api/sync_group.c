/*
 * sync_group.c — SyncGroup (key 14): after a JoinGroup, the leader sends
 * every member's assignment and each member (the leader included) gets its
 * own back; followers wait for the leader.
 *
 * The handler only maps the wire to gcoord and back (coord.h's flow, as
 * join_group.c): decode on the loop, sync_run on the coordinator thread
 * calls gcoord_sync tagged with the job, on_sync_resp copies the group's
 * answer (now, or at a later step when a follower waits for the leader)
 * into req->arena, sync_reply sends it from the loop.
 *
 * Versions:
 *   v1+    ThrottleTimeMs (always 0).
 *   v3+    GroupInstanceId (static membership); NULL when absent or null.
 *   v4+    flexible.
 *   v5+    ProtocolType and ProtocolName in the request and the answer
 *          (KIP-559). Kafka requires both in a v5+ request
 *          (SyncGroupRequest.areMandatoryProtocolTypeAndNamePresent, checked
 *          in KafkaApis before the coordinator): a null one is answered
 *          INCONSISTENT_GROUP_PROTOCOL here, without the coordinator.
 *          group.c checks them against the group's.
 * Assignments: only the leader sends them (others send an empty list);
 * each assignment borrows the request frame. The answer's Assignment is
 * empty (never null) when the group gives none, as with an error.
 *
 * Ownership: the job and its C strings live in req->arena; assignment
 * bytes borrow the frame; both outlive the job.
 */
#include <string.h>

#include "api/api_int.h"
#include "coord/coord.h"
#include "proto_gen.h"
#include "util/err.h"

typedef struct sync_group_request_sync_group_request_assignment assignment_req;

struct sync_job {
	struct coord_job job;              /* first: coord hands this pointer back */
	char *group_id;                    /* arena; NUL-terminated */
	struct group_sync_req sr;          /* strings in the arena, bytes in the frame */
	struct sync_group_response *resp;  /* set by on_sync_resp; NULL: out of memory */
};

/* A wire string as a C string in the arena: NULL for null; *oom when a
 * non-null copy fails. */
static char *in_str(struct req *req, kstr s, bool *oom)
{
	char *c = api_strdup(req, s);
	if (!c && s.len >= 0)
		*oom = true;
	return c;
}

/* The wire answer (v5+ fields nullable; Assignment copied, since the
 * group_resp is freed after the callback). NULL when out of memory. */
static struct sync_group_response *build_resp(struct req *req, int16_t err, const char *ptype,
					      const char *pname, const uint8_t *a, int32_t alen)
{
	struct sync_group_response *resp = proto_new(&proto_sync_group_response, req->hdr.api_version,
						      &req->arena);
	if (!resp)
		return NULL;
	resp->throttle_time_ms = 0;
	resp->error_code = err;
	bool oom = false;
	resp->protocol_type = api_kstr_copy(req, ptype, true, &oom);
	resp->protocol_name = api_kstr_copy(req, pname, true, &oom);
	resp->assignment = api_kbytes_copy(req, a, alen, &oom);
	return oom ? NULL : resp;
}

/* Coordinator thread: the group's answer for this job. */
static void on_sync_resp(struct coord_job *job, const struct group_resp *gr)
{
	struct sync_job *sj = (struct sync_job *)job;
	sj->resp = build_resp(job->req, gr->error_code, gr->protocol_type, gr->protocol_name,
			      gr->assignment, gr->assignment_len);
}

static void sync_run(struct coord_job *job)
{
	struct sync_job *sj = (struct sync_job *)job;
	struct group_out *out = coord_out();
	gcoord_sync(coord_groups(), sj->group_id, &sj->sr, coord_now_ms(), out);
	coord_step(out);
}

static void sync_reply(struct coord_job *job)
{
	struct sync_job *sj = (struct sync_job *)job;
	if (!sj->resp) {
		api_respond_close(job->req, "out of memory building a SyncGroup response");
		return;
	}
	api_respond(job->req, &proto_sync_group_response, sj->resp);
}

/* The leader's assignments; member ids copied, bytes borrowed. */
static struct group_assignment *convert_assignments(struct req *req,
						    const struct sync_group_request *rq, bool *oom)
{
	int32_t n = rq->assignments.count;
	if (n <= 0)
		return NULL;
	struct group_assignment *as = arena_alloc(&req->arena, (size_t)n * sizeof(*as));
	if (!as) {
		*oom = true;
		return NULL;
	}
	for (int32_t i = 0; i < n; i++) {
		const assignment_req *a = &rq->assignments.items[i];
		as[i].member_id = in_str(req, a->member_id, oom);
		as[i].assignment = a->assignment.len > 0 ? a->assignment.ptr : NULL;
		as[i].assignment_len = a->assignment.len > 0 ? a->assignment.len : 0;
	}
	return as;
}

/* The job for rq; NULL when out of memory. */
static struct sync_job *sync_job_new(struct req *req, const struct sync_group_request *rq)
{
	bool oom = false;
	struct sync_job *sj = arena_alloc(&req->arena, sizeof(*sj));
	if (!sj)
		return NULL;
	sj->job.req = req;
	sj->job.run = sync_run;
	sj->job.reply = sync_reply;
	sj->job.on_group_resp = on_sync_resp;
	sj->group_id = in_str(req, rq->group_id, &oom);
	struct group_sync_req *sr = &sj->sr;
	sr->tag = coord_tag(&sj->job);
	sr->member_id = in_str(req, rq->member_id, &oom);
	sr->group_instance_id = in_str(req, rq->group_instance_id, &oom); /* NULL before v3 */
	sr->generation_id = rq->generation_id;
	sr->protocol_type = in_str(req, rq->protocol_type, &oom);         /* NULL before v5 */
	sr->protocol_name = in_str(req, rq->protocol_name, &oom);
	sr->assignments = convert_assignments(req, rq, &oom);
	sr->nassignments = rq->assignments.count > 0 ? rq->assignments.count : 0;
	return oom ? NULL : sj;
}

/* Answers at once on the loop (no coordinator involved). */
static void sync_answer_now(struct req *req, int16_t err)
{
	struct sync_group_response *resp = build_resp(req, err, NULL, NULL, NULL, 0);
	if (!resp) {
		api_respond_close(req, "out of memory");
		return;
	}
	api_respond(req, &proto_sync_group_response, resp);
}

void api_sync_group(struct req *req)
{
	struct sync_group_request *rq = api_decode(req, &proto_sync_group_request);
	if (!rq)
		return;
	if (req->hdr.api_version >= 5 && (rq->protocol_type.len < 0 || rq->protocol_name.len < 0)) {
		sync_answer_now(req, KAFKA_INCONSISTENT_GROUP_PROTOCOL);
		return;
	}
	struct sync_job *sj = sync_job_new(req, rq);
	if (!sj) {
		api_respond_close(req, "out of memory");
		return;
	}
	if (coord_submit(&sj->job) != 0)
		sync_answer_now(req, KAFKA_COORDINATOR_NOT_AVAILABLE);
}
