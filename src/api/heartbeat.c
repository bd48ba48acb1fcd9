/*
 * heartbeat.c — Heartbeat (key 12): a member keeps its session alive and
 * learns whether the group is rebalancing.
 *
 * The handler only maps the wire to gcoord and back (coord.h's flow):
 * decode on the loop, hb_run on the coordinator thread calls
 * gcoord_heartbeat (whose code is the answer; its step may complete other
 * members' parked requests, hence coord_step) and finishes at once,
 * hb_reply encodes on the loop. gcoord answers INVALID_GROUP_ID,
 * UNKNOWN_MEMBER_ID (unknown group or member), ILLEGAL_GENERATION,
 * REBALANCE_IN_PROGRESS, FENCED_INSTANCE_ID or NONE.
 *
 * Versions: v1+ ThrottleTimeMs (always 0); v3+ GroupInstanceId (NULL when
 * absent or null); v4+ flexible.
 *
 * Ownership: the job and its C strings live in req->arena.
 */
#include "api/api_int.h"
#include "coord/coord.h"
#include "proto_gen.h"
#include "util/err.h"

struct hb_job {
	struct coord_job job;        /* first: coord hands this pointer back */
	char *group_id;              /* arena; NUL-terminated */
	char *member_id;
	char *group_instance_id;     /* NULL: none */
	int32_t generation_id;
	int16_t error_code;          /* hb_run's answer */
};

static void hb_run(struct coord_job *job)
{
	struct hb_job *hj = (struct hb_job *)job;
	struct group_out *out = coord_out();
	hj->error_code = (int16_t)gcoord_heartbeat(coord_groups(), hj->group_id, hj->member_id,
						   hj->group_instance_id, hj->generation_id,
						   coord_now_ms(), out);
	coord_step(out);
	coord_finish(job);
}

/* Loop thread (also for an answer without the coordinator). */
static void hb_reply(struct coord_job *job)
{
	struct hb_job *hj = (struct hb_job *)job;
	struct req *req = job->req;
	struct heartbeat_response *resp = proto_new(&proto_heartbeat_response, req->hdr.api_version,
						     &req->arena);
	if (!resp) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->throttle_time_ms = 0;
	resp->error_code = hj->error_code;
	api_respond(req, &proto_heartbeat_response, resp);
}

void api_heartbeat(struct req *req)
{
	struct heartbeat_request *rq = api_decode(req, &proto_heartbeat_request);
	if (!rq)
		return;
	struct hb_job *hj = arena_alloc(&req->arena, sizeof(*hj));
	if (!hj) {
		api_respond_close(req, "out of memory");
		return;
	}
	hj->job.req = req;
	hj->job.run = hb_run;
	hj->job.reply = hb_reply;
	hj->group_id = api_strdup(req, rq->group_id);
	hj->member_id = api_strdup(req, rq->member_id);
	hj->group_instance_id = api_strdup(req, rq->group_instance_id); /* NULL before v3 */
	hj->generation_id = rq->generation_id;
	if (!hj->group_id || !hj->member_id ||
	    (rq->group_instance_id.len >= 0 && !hj->group_instance_id)) {
		api_respond_close(req, "out of memory");
		return;
	}
	if (coord_submit(&hj->job) != 0) {
		hj->error_code = KAFKA_COORDINATOR_NOT_AVAILABLE;
		hb_reply(&hj->job);
	}
}
