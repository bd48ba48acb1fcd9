/*
 * list_groups.c — ListGroups (key 16): every group this coordinator knows.
 *
 * The groups listed are those of gcoord (every state but Dead) and the
 * groups that only have committed offsets (commits from outside the group
 * protocol): Kafka keeps those as Empty groups without a protocol type, so
 * they are listed as state "Empty", protocol type "". Order: gcoord's, then
 * the offset-only ones (Kafka's order is its hash map's; clients sort).
 *
 * Filters (both must match; an empty filter matches everything), as Kafka
 * 3.9's GroupMetadataManager.listGroups:
 *   StatesFilter (v4+)  state names, compared case-insensitively after
 *                       trimming spaces ("stable", " Empty").
 *   TypesFilter (v5+)   group types, case-insensitively. Every runnel group
 *                       is "classic" (no KIP-848 "consumer" groups yet), so
 *                       a filter without "classic" lists nothing.
 *
 * Versions: v1 ThrottleTimeMs; v3 flexible; v4 StatesFilter and
 * GroupState; v5 TypesFilter and GroupType ("classic"). ErrorCode is NONE
 * (COORDINATOR_NOT_AVAILABLE when the coordinator is not running).
 *
 * Threads: decode on the loop; groups are read on the coordinator thread,
 * which copies every string into the request's arena.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "api/api_int.h"
#include "coord/coord.h"
#include "proto_gen.h"
#include "util/err.h"

typedef struct list_groups_response_listed_group listed;

#define GROUP_TYPE_CLASSIC "classic"

struct list_job {
	struct coord_job job;        /* first: coord hands this pointer back */
	const struct list_groups_request *rq; /* arena (decoded), borrows the frame */
	struct list_groups_response *resp; /* built by run; NULL: out of memory */
	/* while listing (coordinator thread) */
	listed *items;
	int32_t n, cap;
	bool oom;
};

/* ---------------------------------------------------------------- filters */

/* True when the wire string s equals name ignoring case, after dropping
 * leading and trailing spaces when trim is set. */
static bool same_name(kstr s, const char *name, bool trim)
{
	const char *p = s.ptr;
	int32_t len = s.len > 0 ? s.len : 0;
	while (trim && len > 0 && isspace((unsigned char)p[0])) {
		p++;
		len--;
	}
	while (trim && len > 0 && isspace((unsigned char)p[len - 1]))
		len--;
	return (size_t)len == strlen(name) && strncasecmp(p, name, (size_t)len) == 0;
}

static bool in_filter(int32_t count, const kstr *items, const char *name, bool trim)
{
	if (count <= 0)
		return true;
	for (int32_t i = 0; i < count; i++)
		if (same_name(items[i], name, trim))
			return true;
	return false;
}

static bool wanted(const struct list_groups_request *rq, const char *state)
{
	return in_filter(rq->states_filter.count, rq->states_filter.items, state, true) &&
	       in_filter(rq->types_filter.count, rq->types_filter.items, GROUP_TYPE_CLASSIC, false);
}

/* --------------------------------------------------- coordinator thread */

static void add(struct list_job *lj, const char *id, const char *protocol_type, const char *state)
{
	struct req *req = lj->job.req;
	if (!wanted(lj->rq, state) || lj->n >= lj->cap)
		return;
	listed *l = &lj->items[lj->n++];
	l->group_id = api_kstr(req, id);
	l->protocol_type = api_kstr(req, protocol_type ? protocol_type : "");
	l->group_state = kstr_c(state);      /* group_state_name's static strings */
	l->group_type = kstr_c(GROUP_TYPE_CLASSIC);
	if (!l->group_id.ptr || !l->protocol_type.ptr)
		lj->oom = true;
}

static void add_live(void *arg, struct group *g)
{
	enum group_state st = group_state(g);
	if (st != GROUP_DEAD)
		add(arg, group_id(g), group_protocol_type(g), group_state_name(st));
}

static void add_offsets_only(void *arg, const char *id)
{
	if (!gcoord_find(coord_groups(), id))
		add(arg, id, "", group_state_name(GROUP_EMPTY));
}

static void run_list(struct coord_job *job)
{
	struct list_job *lj = (struct list_job *)job;
	struct req *req = job->req;
	int16_t v = req->hdr.api_version;
	size_t cap = gcoord_count(coord_groups()) + offstore_ngroups(coord_offsets());
	lj->resp = proto_new(&proto_list_groups_response, v, &req->arena);
	lj->cap = cap > INT32_MAX ? INT32_MAX : (int32_t)cap;
	lj->items = proto_new_array(&proto_list_groups_response_listed_group, v, lj->cap, &req->arena);
	if (lj->resp && lj->items) {
		gcoord_foreach(coord_groups(), add_live, lj);
		offstore_foreach_group(coord_offsets(), add_offsets_only, lj);
		lj->resp->error_code = KAFKA_NONE;
		lj->resp->groups.count = lj->n;
		lj->resp->groups.items = lj->items;
	}
	if (lj->oom || !lj->items)
		lj->resp = NULL;
	coord_finish(job);
}

/* ------------------------------------------------------- network loop */

static void reply_list(struct coord_job *job)
{
	struct list_job *lj = (struct list_job *)job;
	if (!lj->resp)
		api_respond_close(job->req, "out of memory");
	else
		api_respond(job->req, &proto_list_groups_response, lj->resp);
}

void api_list_groups(struct req *req)
{
	struct list_groups_request *rq = api_decode(req, &proto_list_groups_request);
	if (!rq)
		return;
	struct list_job *lj = arena_alloc(&req->arena, sizeof(*lj));
	if (!lj) {
		api_respond_close(req, "out of memory");
		return;
	}
	lj->rq = rq;
	lj->job.req = req;
	lj->job.run = run_list;
	lj->job.reply = reply_list;
	if (coord_submit(&lj->job) == 0)
		return;
	struct list_groups_response *resp = proto_new(&proto_list_groups_response, req->hdr.api_version,
						      &req->arena);
	if (!resp) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->error_code = KAFKA_COORDINATOR_NOT_AVAILABLE;
	resp->groups.count = 0;
	api_respond(req, &proto_list_groups_response, resp);
}
