/*
 * leave_group.c — LeaveGroup (key 13): members leave a classic group at
 * once instead of waiting for their session to expire.
 *
 * The handler only maps the wire to gcoord and back (coord.h's flow):
 * decode on the loop, leave_run on the coordinator thread calls
 * gcoord_leave (which writes a code per member and returns the top-level
 * one; its step may complete other members' parked requests, hence
 * coord_step) and finishes at once, leave_reply encodes on the loop.
 *
 * Versions:
 *   v0-2   one MemberId; the answer has only the top-level ErrorCode: the
 *          top-level code when it is an error, else that member's code
 *          (Kafka's LeaveGroupResponse(data, version) for old versions).
 *          v1+ ThrottleTimeMs (always 0).
 *   v3+    Members (MemberId, GroupInstanceId) with a code each, echoed
 *          in request order; the top-level code is gcoord's. When that is
 *          an error (INVALID_GROUP_ID, COORDINATOR_NOT_AVAILABLE) no member
 *          was looked at and the list is empty, as Kafka's leaveError.
 *   v4+    flexible.
 *   v5+    a Reason per member: logged at debug, not kept.
 *
 * Ownership: the job, its C strings and member array live in req->arena;
 * the echoed ids borrow the request frame.
 */
#include "api/api_int.h"
#include "coord/coord.h"
#include "proto_gen.h"
#include "util/err.h"
#include "util/log.h"

typedef struct leave_group_request_member_identity member_req;
typedef struct leave_group_response_member_response member_resp;

struct leave_job {
	struct coord_job job;              /* first: coord hands this pointer back */
	const struct leave_group_request *rq;
	char *group_id;                    /* arena; NUL-terminated */
	struct group_leave_member *members;/* arena; error codes written by gcoord */
	int32_t n;
	int16_t error_code;                /* top level, from gcoord_leave */
};

static void leave_run(struct coord_job *job)
{
	struct leave_job *lj = (struct leave_job *)job;
	struct group_out *out = coord_out();
	lj->error_code = (int16_t)gcoord_leave(coord_groups(), lj->group_id, lj->members, lj->n,
					       coord_now_ms(), out);
	coord_step(out);
	coord_finish(job);
}

/* v3+: one entry per requested member, echoing its ids. */
static bool fill_members(struct req *req, const struct leave_job *lj, struct leave_group_response *resp)
{
	resp->members.count = 0;
	resp->members.items = NULL;
	if (lj->error_code != KAFKA_NONE || lj->n == 0)
		return true;
	member_resp *m = proto_new_array(&proto_leave_group_response_member_response,
					 req->hdr.api_version, lj->n, &req->arena);
	if (!m)
		return false;
	for (int32_t i = 0; i < lj->n; i++) {
		const member_req *mr = &lj->rq->members.items[i];
		m[i].member_id = mr->member_id;
		m[i].group_instance_id = mr->group_instance_id;
		m[i].error_code = lj->members[i].error_code;
	}
	resp->members.items = m;
	resp->members.count = lj->n;
	return true;
}

/* Loop thread (also for an answer without the coordinator). */
static void leave_reply(struct coord_job *job)
{
	struct leave_job *lj = (struct leave_job *)job;
	struct req *req = job->req;
	struct leave_group_response *resp = proto_new(&proto_leave_group_response, req->hdr.api_version,
						       &req->arena);
	if (!resp || (req->hdr.api_version >= 3 && !fill_members(req, lj, resp))) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->throttle_time_ms = 0;
	resp->error_code = lj->error_code;
	if (req->hdr.api_version < 3 && lj->error_code == KAFKA_NONE)
		resp->error_code = lj->members[0].error_code;
	api_respond(req, &proto_leave_group_response, resp);
}

/* The members to remove: v0-2 the single MemberId, v3+ the list. Returns
 * false when out of memory. */
static bool convert_members(struct req *req, struct leave_job *lj)
{
	const struct leave_group_request *rq = lj->rq;
	bool single = req->hdr.api_version < 3;
	int32_t n = single ? 1 : (rq->members.count > 0 ? rq->members.count : 0);
	lj->n = n;
	lj->members = arena_alloc(&req->arena, (size_t)(n ? n : 1) * sizeof(*lj->members));
	if (!lj->members)
		return false;
	for (int32_t i = 0; i < n; i++) {
		struct group_leave_member *m = &lj->members[i];
		kstr id = single ? rq->member_id : rq->members.items[i].member_id;
		kstr inst = single ? kstr_null() : rq->members.items[i].group_instance_id;
		m->member_id = api_strdup(req, id);
		m->group_instance_id = api_strdup(req, inst);
		m->error_code = KAFKA_NONE;
		if (!m->member_id || (inst.len >= 0 && !m->group_instance_id))
			return false;
		kstr reason = single ? kstr_null() : rq->members.items[i].reason;
		if (reason.len > 0)
			log_debug("api", "%s: LeaveGroup member '%s': %.*s", req->peer, m->member_id,
				  (int)(reason.len > 200 ? 200 : reason.len), reason.ptr);
	}
	return true;
}

void api_leave_group(struct req *req)
{
	struct leave_group_request *rq = api_decode(req, &proto_leave_group_request);
	if (!rq)
		return;
	struct leave_job *lj = arena_alloc(&req->arena, sizeof(*lj));
	if (!lj) {
		api_respond_close(req, "out of memory");
		return;
	}
	lj->job.req = req;
	lj->job.run = leave_run;
	lj->job.reply = leave_reply;
	lj->rq = rq;
	lj->group_id = api_strdup(req, rq->group_id);
	if (!lj->group_id || !convert_members(req, lj)) {
		api_respond_close(req, "out of memory");
		return;
	}
	if (coord_submit(&lj->job) != 0) {
		/* No member was looked at: the top-level code alone (v0-2 too). */
		lj->error_code = KAFKA_COORDINATOR_NOT_AVAILABLE;
		leave_reply(&lj->job);
	}
}
