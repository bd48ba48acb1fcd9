/*
 * describe_groups.c — DescribeGroups (key 15): state, protocol and members
 * of classic groups.
 *
 * Per requested group, in the request's order (Kafka's classic group
 * describe, GroupMetadataManager 3.9):
 *   - a group of the coordinator: its state (group_state_name), protocol
 *     type ("" when none) and members (MemberId, GroupInstanceId, ClientId,
 *     ClientHost). Only a Stable group also reports ProtocolData (the
 *     selected protocol, e.g. "range") and each member's MemberMetadata
 *     (its metadata for that protocol) and MemberAssignment; in the other
 *     states those are "" and empty, as Kafka does (describeNoMetadata).
 *     A Dead group lists no members.
 *   - a group known only by its committed offsets (commits from outside
 *     the group protocol): "Empty", protocol type "", no members.
 *   - an unknown group: "Dead" with NONE — what Kafka answers up to v5
 *     (v6, Kafka 4.0, answers GROUP_ID_NOT_FOUND instead).
 *   - an empty group id: INVALID_GROUP_ID with state, protocol type and
 *     data "" (Kafka's DescribeGroupsResponse.groupError). Kafka tolerates
 *     "" for old clients and reports it Dead; runnel never has a group
 *     named "" (gcoord refuses the id), so it says so.
 * AuthorizedOperations (v3+): INT32_MIN ("omitted") unless the request set
 * IncludeAuthorizedOperations; then, for each group answered without
 * error, the operations a group resource supports — READ, DELETE and
 * DESCRIBE (Kafka's AclEntry.supportedOperations(GROUP) before 3.8; 3.8+
 * adds DESCRIBE_CONFIGS and ALTER_CONFIGS for KIP-848 group configs,
 * which runnel does not serve) — since there are no ACLs yet and Kafka
 * without an authorizer reports every supported operation as allowed. The
 * bitfield sets bit (1 << AclOperation code): READ 3, DELETE 6,
 * DESCRIBE 8, i.e. 0x148.
 *
 * Versions: v1 ThrottleTimeMs; v3 AuthorizedOperations; v4 the members'
 * GroupInstanceId (null for dynamic members); v5 flexible.
 *
 * Threads: decode on the loop; groups are read on the coordinator thread,
 * which copies everything it reports into the request's arena (a group may
 * change before the answer is encoded on the loop).
 */
#include <string.h>

#include "api/api_int.h"
#include "coord/coord.h"
#include "proto_gen.h"
#include "util/err.h"

typedef struct describe_groups_response_described_group described;
typedef struct describe_groups_response_described_group_member member_out;

/* AclOperation codes (Kafka's org.apache.kafka.common.acl.AclOperation). */
enum { ACL_OP_READ = 3, ACL_OP_DELETE = 6, ACL_OP_DESCRIBE = 8 };
#define GROUP_AUTHORIZED_OPS ((1 << ACL_OP_READ) | (1 << ACL_OP_DELETE) | (1 << ACL_OP_DESCRIBE))

struct describe_job {
	struct coord_job job;        /* first: coord hands this pointer back */
	char **ids;                  /* arena, NUL-terminated */
	int32_t n;
	bool include_ops;            /* v3+ IncludeAuthorizedOperations */
	struct describe_groups_response *resp; /* built by run; NULL: out of memory */
};

/* The member's metadata for protocol name (NULL when it has none). */
static const struct group_member_proto *member_proto(const struct group_member *m, const char *name)
{
	for (int32_t i = 0; name && i < m->nprotocols; i++)
		if (strcmp(m->protocols[i].name, name) == 0)
			return &m->protocols[i];
	return NULL;
}

/* ------------------------------------------------------------- one group */

static void fill_member(struct req *req, member_out *mo, const struct group_member *m,
			const char *protocol, bool *oom)
{
	mo->member_id = api_kstr_copy(req, m->member_id, false, oom);
	mo->group_instance_id = m->group_instance_id ? api_kstr_copy(req, m->group_instance_id, false, oom) : kstr_null();
	mo->client_id = api_kstr_copy(req, m->client_id, false, oom);
	mo->client_host = api_kstr_copy(req, m->client_host, false, oom);
	mo->member_metadata = api_kbytes_copy(req, NULL, 0, oom);
	mo->member_assignment = api_kbytes_copy(req, NULL, 0, oom);
	if (!protocol) /* not Stable: Kafka's describeNoMetadata */
		return;
	const struct group_member_proto *p = member_proto(m, protocol);
	if (p)
		mo->member_metadata = api_kbytes_copy(req, p->metadata, p->metadata_len, oom);
	mo->member_assignment = api_kbytes_copy(req, m->assignment, m->assignment_len, oom);
}

/* A group of the coordinator. */
static void describe_live(struct req *req, described *d, const struct group *g, bool *oom)
{
	enum group_state st = group_state(g);
	const char *protocol = st == GROUP_STABLE ? group_protocol_name(g) : NULL;
	d->group_state = api_kstr_copy(req, group_state_name(st), false, oom);
	d->protocol_type = api_kstr_copy(req, group_protocol_type(g), false, oom);
	d->protocol_data = api_kstr_copy(req, protocol, false, oom);
	int32_t n = st == GROUP_DEAD ? 0 : group_nmembers(g);
	d->members.count = n;
	d->members.items = proto_new_array(&proto_describe_groups_response_described_group_member,
					   req->hdr.api_version, n, &req->arena);
	if (!d->members.items) {
		*oom = true;
		d->members.count = 0;
		return;
	}
	for (int32_t i = 0; i < n; i++)
		fill_member(req, &d->members.items[i], group_member_at(g, i), protocol, oom);
}

static void describe_one(struct req *req, described *d, const char *id, bool include_ops, bool *oom)
{
	d->group_id = api_kstr_copy(req, id, false, oom);
	d->protocol_type = d->protocol_data = d->group_state = kstr_c("");
	d->members.count = 0;
	d->members.items = NULL;
	if (id[0] == '\0') {
		d->error_code = KAFKA_INVALID_GROUP_ID;
		return;
	}
	d->error_code = KAFKA_NONE;
	const struct group *g = gcoord_find(coord_groups(), id);
	if (g)
		describe_live(req, d, g, oom);
	else if (offstore_group_count(coord_offsets(), id) > 0)
		d->group_state = kstr_c(group_state_name(GROUP_EMPTY)); /* static string */
	else
		d->group_state = kstr_c(group_state_name(GROUP_DEAD));
	if (include_ops)
		d->authorized_operations = GROUP_AUTHORIZED_OPS;
}

/* --------------------------------------------------- coordinator thread */

static void run_describe(struct coord_job *job)
{
	struct describe_job *dj = (struct describe_job *)job;
	struct req *req = job->req;
	int16_t v = req->hdr.api_version;
	bool oom = false;
	struct describe_groups_response *resp = proto_new(&proto_describe_groups_response, v, &req->arena);
	described *items = proto_new_array(&proto_describe_groups_response_described_group, v, dj->n,
					   &req->arena);
	if (resp && items) {
		resp->groups.count = dj->n;
		resp->groups.items = items;
		for (int32_t i = 0; i < dj->n; i++)
			describe_one(req, &items[i], dj->ids[i], dj->include_ops, &oom);
	}
	dj->resp = resp && items && !oom ? resp : NULL;
	coord_finish(job);
}

/* ------------------------------------------------------- network loop */

static void reply_describe(struct coord_job *job)
{
	struct describe_job *dj = (struct describe_job *)job;
	if (!dj->resp)
		api_respond_close(job->req, "out of memory");
	else
		api_respond(job->req, &proto_describe_groups_response, dj->resp);
}

/* The coordinator is not running: every group gets err. */
static void answer_error(struct req *req, const struct describe_groups_request *rq, int err)
{
	int16_t v = req->hdr.api_version;
	int32_t n = rq->groups.count > 0 ? rq->groups.count : 0;
	struct describe_groups_response *resp = proto_new(&proto_describe_groups_response, v, &req->arena);
	described *items = proto_new_array(&proto_describe_groups_response_described_group, v, n, &req->arena);
	if (!resp || !items) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->groups.count = n;
	resp->groups.items = items;
	for (int32_t i = 0; i < n; i++) {
		items[i].group_id = rq->groups.items[i];
		items[i].error_code = (int16_t)err;
		items[i].group_state = items[i].protocol_type = items[i].protocol_data = kstr_c("");
		items[i].members.count = 0;
	}
	api_respond(req, &proto_describe_groups_response, resp);
}

void api_describe_groups(struct req *req)
{
	struct describe_groups_request *rq = api_decode(req, &proto_describe_groups_request);
	if (!rq)
		return;
	struct describe_job *dj = arena_alloc(&req->arena, sizeof(*dj));
	int32_t n = rq->groups.count > 0 ? rq->groups.count : 0;
	char **ids = dj ? arena_alloc(&req->arena, (size_t)(n ? n : 1) * sizeof(char *)) : NULL;
	for (int32_t i = 0; ids && i < n; i++)
		if (!(ids[i] = api_strdup(req, rq->groups.items[i])))
			ids = NULL;
	if (!ids) {
		api_respond_close(req, "out of memory");
		return;
	}
	dj->ids = ids;
	dj->n = n;
	dj->include_ops = rq->include_authorized_operations;
	dj->job.req = req;
	dj->job.run = run_describe;
	dj->job.reply = reply_describe;
	if (coord_submit(&dj->job) != 0)
		answer_error(req, rq, KAFKA_COORDINATOR_NOT_AVAILABLE);
}
