/*
 * join_group.c — JoinGroup (key 11): a member joins a classic group and,
 * once the rebalance completes, learns the generation, the chosen protocol
 * and the leader (the leader also gets every member's metadata).
 *
 * The handler only maps the wire to gcoord and back; the group logic
 * (group-id validation, MEMBER_ID_REQUIRED, static members, timeouts,
 * bounds, protocol selection) is src/group's. The flow (coord.h):
 *
 *   loop:         decode -> join_job (req->arena) -> coord_submit
 *   coordinator:  join_run: gcoord_join(tag = the job) + coord_step
 *                 ... the answer may come at a later step (the rebalance
 *                 waits for the other members or a timer) ...
 *                 on_join_resp: copy the group_resp into a response struct
 *                 in req->arena (the group_resp is freed after the call)
 *   loop:         join_reply: api_respond
 *
 * Versions (wire <-> group_join_req / group_resp):
 *   v0     no RebalanceTimeoutMs: it decodes as -1, which group.c reads
 *          as "use the session timeout".
 *   v2+    ThrottleTimeMs (always 0).
 *   v4+    a first join without a member id gets MEMBER_ID_REQUIRED with a
 *          new id (group.c decides from api_version, passed through).
 *   v5+    GroupInstanceId (static membership), also per member in the
 *          leader's list; null = dynamic.
 *   v6+    flexible.
 *   v7+    ProtocolType in the answer, and ProtocolName may be null; before
 *          v7 ProtocolName is a non-null string: "" when the group has none
 *          (an error answer), as Kafka's NoProtocol.
 *   v8+    Reason: logged at debug, not kept.
 *   v9+    SkipAssignment (a static leader rejoining a Stable group).
 * Leader and MemberId are non-null strings: "" when the group gives none.
 *
 * Members record their client host as Kafka does
 * (InetAddress.toString()): "/" + the peer's IP.
 *
 * Ownership: the job, the request's C strings and the response live in
 * req->arena; protocol metadata borrows the request frame. Both outlive the
 * job (the net layer keeps the request until api_respond).
 */
#include <string.h>

#include "api/api_int.h"
#include "coord/coord.h"
#include "proto_gen.h"
#include "util/err.h"
#include "util/log.h"

typedef struct join_group_request_join_group_request_protocol proto_req;
typedef struct join_group_response_join_group_response_member member_resp;

struct join_job {
	struct coord_job job;              /* first: coord hands this pointer back */
	char *group_id;                    /* arena; NUL-terminated */
	struct group_join_req jr;          /* strings in the arena, metadata in the frame */
	struct join_group_response *resp;  /* set by on_join_resp; NULL: out of memory */
};

/* ---------------------------------------------------------------- helpers */

/* A wire string as a C string in the arena: NULL for null; *oom when a
 * non-null copy fails. */
static char *in_str(struct req *req, kstr s, bool *oom)
{
	char *c = api_strdup(req, s);
	if (!c && s.len >= 0)
		*oom = true;
	return c;
}

/* "/" + the peer's IP ("127.0.0.1:5000" -> "/127.0.0.1",
 * "[::1]:5000" -> "/::1"), as Kafka reports a member's host. */
static char *client_host(struct req *req)
{
	const char *p = req->peer ? req->peer : "";
	const char *colon = strrchr(p, ':');
	size_t n = colon ? (size_t)(colon - p) : strlen(p);
	if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
		p++;
		n -= 2;
	}
	char *h = arena_alloc(&req->arena, n + 2);
	if (h) {
		h[0] = '/';
		memcpy(h + 1, p, n);
		h[n + 1] = '\0';
	}
	return h;
}

/* ---------------------------------------------------------------- response */

/* The leader's member list; false when out of memory. */
static bool fill_members(struct req *req, struct join_group_response *resp,
			 const struct group_resp *gr)
{
	int16_t v = req->hdr.api_version;
	bool oom = false;
	resp->members.count = 0;
	resp->members.items = NULL;
	if (gr->nmembers <= 0)
		return true;
	member_resp *m = proto_new_array(&proto_join_group_response_join_group_response_member, v,
					 gr->nmembers, &req->arena);
	if (!m)
		return false;
	for (int32_t i = 0; i < gr->nmembers; i++) {
		const struct group_resp_member *gm = &gr->members[i];
		m[i].member_id = api_kstr_copy(req, gm->member_id, false, &oom);
		m[i].group_instance_id = api_kstr_copy(req, gm->group_instance_id, true, &oom);
		m[i].metadata = api_kbytes_copy(req, gm->metadata, gm->metadata_len, &oom);
	}
	resp->members.items = m;
	resp->members.count = gr->nmembers;
	return !oom;
}

/* Builds the wire answer from gr (copied into req->arena). NULL when out of
 * memory. Any thread that owns the request. */
static struct join_group_response *build_resp(struct req *req, const struct group_resp *gr)
{
	int16_t v = req->hdr.api_version;
	bool oom = false;
	struct join_group_response *resp = proto_new(&proto_join_group_response, v, &req->arena);
	if (!resp)
		return NULL;
	resp->throttle_time_ms = 0;
	resp->error_code = gr->error_code;
	resp->generation_id = gr->generation_id;
	resp->protocol_type = api_kstr_copy(req, gr->protocol_type, true, &oom);      /* v7+ only */
	resp->protocol_name = api_kstr_copy(req, gr->protocol_name, v >= 7, &oom);
	resp->leader = api_kstr_copy(req, gr->leader, false, &oom);
	resp->skip_assignment = gr->skip_assignment;
	resp->member_id = api_kstr_copy(req, gr->member_id, false, &oom);
	if (!fill_members(req, resp, gr) || oom)
		return NULL;
	return resp;
}

/* ---------------------------------------------------------------- job */

/* Coordinator thread: the group's answer for this job. */
static void on_join_resp(struct coord_job *job, const struct group_resp *gr)
{
	struct join_job *jj = (struct join_job *)job;
	jj->resp = build_resp(job->req, gr);
}

static void join_run(struct coord_job *job)
{
	struct join_job *jj = (struct join_job *)job;
	struct group_out *out = coord_out();
	gcoord_join(coord_groups(), jj->group_id, &jj->jr, coord_now_ms(), out);
	coord_step(out);
}

static void join_reply(struct coord_job *job)
{
	struct join_job *jj = (struct join_job *)job;
	if (!jj->resp) {
		api_respond_close(job->req, "out of memory building a JoinGroup response");
		return;
	}
	api_respond(job->req, &proto_join_group_response, jj->resp);
}

/* Protocols in the member's order; metadata borrows the frame. */
static struct group_protocol *convert_protocols(struct req *req, const struct join_group_request *rq,
						 bool *oom)
{
	int32_t n = rq->protocols.count;
	if (n <= 0)
		return NULL;
	struct group_protocol *ps = arena_alloc(&req->arena, (size_t)n * sizeof(*ps));
	if (!ps) {
		*oom = true;
		return NULL;
	}
	for (int32_t i = 0; i < n; i++) {
		const proto_req *p = &rq->protocols.items[i];
		ps[i].name = in_str(req, p->name, oom);
		ps[i].metadata = p->metadata.len > 0 ? p->metadata.ptr : NULL;
		ps[i].metadata_len = p->metadata.len > 0 ? p->metadata.len : 0;
	}
	return ps;
}

/* The job for rq; NULL when out of memory. */
static struct join_job *join_job_new(struct req *req, const struct join_group_request *rq)
{
	bool oom = false;
	struct join_job *jj = arena_alloc(&req->arena, sizeof(*jj));
	if (!jj)
		return NULL;
	jj->job.req = req;
	jj->job.run = join_run;
	jj->job.reply = join_reply;
	jj->job.on_group_resp = on_join_resp;
	jj->group_id = in_str(req, rq->group_id, &oom);
	struct group_join_req *jr = &jj->jr;
	jr->tag = coord_tag(&jj->job);
	jr->api_version = req->hdr.api_version;
	jr->member_id = in_str(req, rq->member_id, &oom);
	jr->group_instance_id = in_str(req, rq->group_instance_id, &oom); /* NULL before v5 */
	jr->client_id = req->hdr.client_id.len >= 0 ? in_str(req, req->hdr.client_id, &oom) : "";
	jr->client_host = client_host(req);
	jr->session_timeout_ms = rq->session_timeout_ms;
	jr->rebalance_timeout_ms = rq->rebalance_timeout_ms; /* -1 at v0 */
	jr->protocol_type = in_str(req, rq->protocol_type, &oom);
	jr->protocols = convert_protocols(req, rq, &oom);
	jr->nprotocols = rq->protocols.count > 0 ? rq->protocols.count : 0;
	if (oom || !jr->client_host)
		return NULL;
	return jj;
}

void api_join_group(struct req *req)
{
	struct join_group_request *rq = api_decode(req, &proto_join_group_request);
	if (!rq)
		return;
	struct join_job *jj = join_job_new(req, rq);
	if (!jj) {
		api_respond_close(req, "out of memory");
		return;
	}
	if (rq->reason.len > 0)
		log_debug("api", "%s: JoinGroup %s member '%s': %.*s", req->peer, jj->group_id,
			  jj->jr.member_id, (int)(rq->reason.len > 200 ? 200 : rq->reason.len),
			  rq->reason.ptr);
	if (coord_submit(&jj->job) != 0) {
		struct group_resp gr = {
			.kind = GROUP_RESP_JOIN,
			.tag = jj->jr.tag,
			.error_code = KAFKA_COORDINATOR_NOT_AVAILABLE,
			.generation_id = -1,
			.member_id = (char *)jj->jr.member_id,
		};
		jj->resp = build_resp(req, &gr);
		join_reply(&jj->job);
	}
}
