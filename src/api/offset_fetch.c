/*
 * offset_fetch.c — OffsetFetch (key 9): a group's committed offsets.
 *
 * For each requested group (one before v8, any number from v8):
 *   - Topics given: every requested partition is answered in the request's
 *     order: its committed offset, leader epoch and metadata, or — when the
 *     group has none for it, the group is unknown, or the topic does not
 *     exist — CommittedOffset -1, leader epoch -1, Metadata "" and NONE, as
 *     Kafka answers (OffsetFetchResponse.INVALID_OFFSET / NO_METADATA; it
 *     does not check that the topic exists either).
 *   - Topics null (v2+): every offset the group has, by topic name then
 *     partition (offstore's order); an unknown group has none.
 *   - An empty group id is INVALID_GROUP_ID. (Kafka tolerates "" here for
 *     old clients; runnel's coordinator never creates a group named "",
 *     OffsetCommit refuses it — gcoord_commit_check — so it can hold no
 *     offsets, and the error says so instead of an empty answer.)
 *
 * Versions:
 *   v0-1   no top-level error: a group-level error is written into every
 *          requested partition (Kafka's OffsetFetchRequest.getErrorResponse).
 *          v0 read ZooKeeper in old Kafka; here it reads the same store as v1.
 *   v2-7   a null Topics array asks for everything; a group-level error is
 *          the top-level ErrorCode with no topics.
 *   v3+    ThrottleTimeMs (always 0).
 *   v5+    CommittedLeaderEpoch.
 *   v6+    flexible.
 *   v7+    RequireStable (KIP-447): a partition with a transactional offset
 *          commit still pending (TxnOffsetCommit, transaction not ended)
 *          answers UNSTABLE_OFFSET_COMMIT with offset -1, leader epoch -1,
 *          Metadata "" (Kafka's per-partition answer; the client retries
 *          until the transaction ends). With topics null only partitions
 *          that have a committed offset are listed, as Kafka. Without the
 *          flag the last committed offset is answered, pending or not.
 *   v8     Groups: each group with its own Topics (or null) and its own
 *          ErrorCode in GroupIds; the top-level ErrorCode and Topics are
 *          gone.
 *
 * Response structs: the v0-7 and v8 topic/partition structs have the same
 * fields in the same order (the schema repeats them under another name);
 * one code path fills either, through the v8 C types, after static checks
 * that their layouts agree. Each array is allocated with the descriptor of
 * the version being answered.
 *
 * Threads: decode on the loop; the store is read on the coordinator thread
 * (coord.h), which allocates the response in the request's arena, copying
 * every string (offstore's are borrowed only until its next change).
 */
#include <stddef.h>
#include <string.h>

#include "api/api_int.h"
#include "coord/coord.h"
#include "proto_gen.h"
#include "util/err.h"

typedef struct offset_fetch_response_offset_fetch_response_topics topic_out;
typedef struct offset_fetch_response_offset_fetch_response_partitions part_out;
typedef struct offset_fetch_response_offset_fetch_response_topic topic_out_v0;
typedef struct offset_fetch_response_offset_fetch_response_partition part_out_v0;
typedef struct offset_fetch_response_offset_fetch_response_group group_out_v8;

#define SAME_FIELD(a, b, f) (offsetof(a, f) == offsetof(b, f) && sizeof(((a *)0)->f) == sizeof(((b *)0)->f))
_Static_assert(sizeof(part_out) == sizeof(part_out_v0) && SAME_FIELD(part_out, part_out_v0, partition_index) &&
	       SAME_FIELD(part_out, part_out_v0, committed_offset) &&
	       SAME_FIELD(part_out, part_out_v0, committed_leader_epoch) &&
	       SAME_FIELD(part_out, part_out_v0, metadata) && SAME_FIELD(part_out, part_out_v0, error_code),
	       "OffsetFetch partition structs differ");
_Static_assert(sizeof(topic_out) == sizeof(topic_out_v0) && SAME_FIELD(topic_out, topic_out_v0, name) &&
	       SAME_FIELD(topic_out, topic_out_v0, partitions),
	       "OffsetFetch topic structs differ");

/* One requested topic, whatever the version's request struct. */
struct want_topic {
	kstr name;
	const int32_t *parts;
	int32_t nparts;
};

/* One requested group. */
struct want_group {
	char *group_id;              /* arena, NUL-terminated */
	struct want_topic *topics;   /* NULL with ntopics -1: every offset */
	int32_t ntopics;
	bool require_stable;         /* v7+ RequireStable */
	/* the answer */
	int16_t error_code;
	topic_out *out;              /* arena array of nout */
	int32_t nout;
};

struct fetch_job {
	struct coord_job job;        /* first: coord hands this pointer back */
	struct want_group *groups;
	int32_t ngroups;
	void *resp;                  /* struct offset_fetch_response; set by run */
};

/* --------------------------------------------------------------- helpers */

static const struct proto_struct *topic_desc(int16_t v)
{
	return v >= 8 ? &proto_offset_fetch_response_offset_fetch_response_topics
		      : &proto_offset_fetch_response_offset_fetch_response_topic;
}

static const struct proto_struct *part_desc(int16_t v)
{
	return v >= 8 ? &proto_offset_fetch_response_offset_fetch_response_partitions
		      : &proto_offset_fetch_response_offset_fetch_response_partition;
}

/* Fills one partition from the store (or -1/"" when absent). */
static void fill_part(struct req *req, part_out *p, int32_t partition, const struct off_value *v,
		      bool *oom)
{
	p->partition_index = partition;
	p->error_code = KAFKA_NONE;
	p->committed_offset = v ? v->offset : -1;
	p->committed_leader_epoch = v ? v->leader_epoch : -1;
	p->metadata = api_kstr_copy(req, v ? v->metadata : "", true, oom);
}

/* RequireStable: is the partition's offset pending in a transaction? */
static bool unstable(const struct want_group *g, const char *topic, int32_t partition)
{
	return g->require_stable && offstore_txn_pending(coord_offsets(), g->group_id, topic, partition);
}

/* fill_part, or UNSTABLE_OFFSET_COMMIT with -1/"" (see v7+ above). */
static void fill_part_stable(struct req *req, const struct want_group *g, part_out *p,
			     const char *topic, int32_t partition, const struct off_value *v, bool *oom)
{
	bool pending = unstable(g, topic, partition);
	fill_part(req, p, partition, pending ? NULL : v, oom);
	if (pending)
		p->error_code = KAFKA_UNSTABLE_OFFSET_COMMIT;
}

/* ------------------------------------------------------ requested topics */

/* Answers the requested partitions of one group in the request's order.
 * err != NONE answers each with that error (v0-1 group errors). */
static bool answer_listed(struct req *req, struct want_group *g, int err)
{
	int16_t v = req->hdr.api_version;
	bool oom = false;
	g->nout = g->ntopics;
	g->out = proto_new_array(topic_desc(v), v, g->nout, &req->arena);
	if (!g->out)
		return false;
	const struct offstore *os = err == KAFKA_NONE ? coord_offsets() : NULL;
	for (int32_t i = 0; i < g->ntopics && !oom; i++) {
		const struct want_topic *w = &g->topics[i];
		topic_out *t = &g->out[i];
		char *name = api_strdup(req, w->name);
		t->name = w->name; /* borrows the frame */
		t->partitions.count = w->nparts;
		t->partitions.items = proto_new_array(part_desc(v), v, w->nparts, &req->arena);
		if (!name || !t->partitions.items)
			return false;
		for (int32_t j = 0; j < w->nparts; j++) {
			part_out *p = &t->partitions.items[j];
			if (err != KAFKA_NONE) {
				fill_part(req, p, w->parts[j], NULL, &oom);
				p->error_code = (int16_t)err;
				continue;
			}
			const struct off_value *ov = offstore_get(os, g->group_id, name, w->parts[j]);
			fill_part_stable(req, g, p, name, w->parts[j], ov, &oom);
		}
	}
	return !oom;
}

/* ----------------------------------------------------------- all offsets */

struct collect {
	struct req *req;
	const struct want_group *g;
	topic_out *out;              /* NULL on the counting pass */
	int32_t ntopics;
	int32_t *nparts;             /* per topic: partitions (counting) / filled */
	const char *last;            /* topic of the previous offset (borrowed) */
	bool oom;
};

static void collect_one(void *arg, const char *topic, int32_t partition, const struct off_value *v)
{
	struct collect *c = arg;
	if (!c->last || strcmp(c->last, topic) != 0) {
		c->ntopics++;
		c->last = topic;
		if (c->out)
			c->out[c->ntopics - 1].name = api_kstr_copy(c->req, topic, true, &c->oom);
	}
	int32_t ti = c->ntopics - 1;
	if (!c->out) {
		if (c->nparts)
			c->nparts[ti]++;
		return;
	}
	part_out *p = &c->out[ti].partitions.items[c->nparts[ti]++];
	fill_part_stable(c->req, c->g, p, topic, partition, v, &c->oom);
}

/* Answers every offset of the group (topics null): one pass counts, a
 * second fills (the store cannot change between them: one thread). */
static bool answer_all(struct req *req, struct want_group *g)
{
	int16_t v = req->hdr.api_version;
	const struct offstore *os = coord_offsets();
	struct collect c = { req, g, NULL, 0, NULL, NULL, false };
	offstore_foreach(os, g->group_id, collect_one, &c); /* topics */
	int32_t nt = c.ntopics;
	c.nparts = arena_alloc(&req->arena, (size_t)(nt ? nt : 1) * sizeof(int32_t));
	g->out = proto_new_array(topic_desc(v), v, nt, &req->arena);
	if (!c.nparts || !g->out)
		return false;
	c.ntopics = 0;
	c.last = NULL;
	offstore_foreach(os, g->group_id, collect_one, &c); /* partitions per topic */
	for (int32_t i = 0; i < nt; i++) {
		g->out[i].partitions.count = c.nparts[i];
		g->out[i].partitions.items = proto_new_array(part_desc(v), v, c.nparts[i], &req->arena);
		if (!g->out[i].partitions.items)
			return false;
		c.nparts[i] = 0;
	}
	c.out = g->out;
	c.ntopics = 0;
	c.last = NULL;
	offstore_foreach(os, g->group_id, collect_one, &c);
	g->nout = nt;
	return !c.oom;
}

/* ------------------------------------------------------------ the answer */

/* One group's answer; err is the group-level error found so far. */
static bool answer_group(struct req *req, struct want_group *g, int err)
{
	int16_t v = req->hdr.api_version;
	if (err == KAFKA_NONE && g->group_id[0] == '\0')
		err = KAFKA_INVALID_GROUP_ID;
	g->error_code = (int16_t)err;
	g->nout = 0;
	g->out = NULL;
	if (err != KAFKA_NONE) /* v0-1 carry it per partition; v2+ at the group level */
		return v < 2 ? answer_listed(req, g, err) : true;
	return g->ntopics < 0 ? answer_all(req, g) : answer_listed(req, g, KAFKA_NONE);
}

/* Builds the response of the version from the groups' answers. */
static void *build_response(struct req *req, struct fetch_job *fj)
{
	int16_t v = req->hdr.api_version;
	struct offset_fetch_response *resp = proto_new(&proto_offset_fetch_response, v, &req->arena);
	if (!resp)
		return NULL;
	if (v < 8) {
		struct want_group *g = &fj->groups[0];
		resp->error_code = v >= 2 ? g->error_code : KAFKA_NONE;
		resp->topics.count = g->nout;
		resp->topics.items = (topic_out_v0 *)(void *)g->out;
		return resp;
	}
	resp->group_ids.count = fj->ngroups;
	resp->group_ids.items = proto_new_array(&proto_offset_fetch_response_offset_fetch_response_group, v,
						fj->ngroups, &req->arena);
	if (!resp->group_ids.items)
		return NULL;
	for (int32_t i = 0; i < fj->ngroups; i++) {
		group_out_v8 *go = &resp->group_ids.items[i];
		go->group_id = api_kstr(req, fj->groups[i].group_id);
		if (!go->group_id.ptr)
			return NULL;
		go->error_code = fj->groups[i].error_code;
		go->topics.count = fj->groups[i].nout;
		go->topics.items = fj->groups[i].out;
	}
	return resp;
}

/* Answers every group (err: a request-wide error, else NONE) and sends. */
static void answer(struct req *req, struct fetch_job *fj, int err)
{
	for (int32_t i = 0; i < fj->ngroups; i++) {
		if (!answer_group(req, &fj->groups[i], err)) {
			api_respond_close(req, "out of memory");
			return;
		}
	}
	void *resp = build_response(req, fj);
	if (!resp) {
		api_respond_close(req, "out of memory");
		return;
	}
	api_respond(req, &proto_offset_fetch_response, resp);
}

/* --------------------------------------------------- coordinator thread */

/* The answer is built here, where the store lives; fj->resp stays NULL when
 * out of memory, and the loop then closes the connection. */
static void run_fetch(struct coord_job *job)
{
	struct fetch_job *fj = (struct fetch_job *)job;
	bool ok = true;
	for (int32_t i = 0; ok && i < fj->ngroups; i++)
		ok = answer_group(job->req, &fj->groups[i], KAFKA_NONE);
	fj->resp = ok ? build_response(job->req, fj) : NULL;
	coord_finish(job);
}

static void reply_fetch(struct coord_job *job)
{
	struct fetch_job *fj = (struct fetch_job *)job;
	if (!fj->resp)
		api_respond_close(job->req, "out of memory");
	else
		api_respond(job->req, &proto_offset_fetch_response, fj->resp);
}

/* ------------------------------------------------------- network loop */

static bool want_topics_v0(struct req *req, struct want_group *g, const struct offset_fetch_request *rq)
{
	g->ntopics = rq->topics.count;
	if (g->ntopics <= 0)
		return true;
	g->topics = arena_alloc(&req->arena, (size_t)g->ntopics * sizeof(*g->topics));
	if (!g->topics)
		return false;
	for (int32_t i = 0; i < g->ntopics; i++) {
		g->topics[i].name = rq->topics.items[i].name;
		g->topics[i].parts = rq->topics.items[i].partition_indexes.items;
		g->topics[i].nparts = rq->topics.items[i].partition_indexes.count > 0
				      ? rq->topics.items[i].partition_indexes.count : 0;
	}
	return true;
}

static bool want_topics_v8(struct req *req, struct want_group *g,
			   const struct offset_fetch_request_offset_fetch_request_group *rg)
{
	g->ntopics = rg->topics.count;
	if (g->ntopics <= 0)
		return true;
	g->topics = arena_alloc(&req->arena, (size_t)g->ntopics * sizeof(*g->topics));
	if (!g->topics)
		return false;
	for (int32_t i = 0; i < g->ntopics; i++) {
		g->topics[i].name = rg->topics.items[i].name;
		g->topics[i].parts = rg->topics.items[i].partition_indexes.items;
		g->topics[i].nparts = rg->topics.items[i].partition_indexes.count > 0
				      ? rg->topics.items[i].partition_indexes.count : 0;
	}
	return true;
}

/* Normalises the request into fj->groups. Returns false when out of
 * memory. */
static bool prepare(struct req *req, const struct offset_fetch_request *rq, struct fetch_job *fj)
{
	int16_t v = req->hdr.api_version;
	fj->ngroups = v >= 8 ? (rq->groups.count > 0 ? rq->groups.count : 0) : 1;
	fj->groups = arena_alloc(&req->arena, (size_t)(fj->ngroups ? fj->ngroups : 1) * sizeof(*fj->groups));
	if (!fj->groups)
		return false;
	for (int32_t i = 0; i < fj->ngroups; i++) {
		struct want_group *g = &fj->groups[i];
		kstr id = v >= 8 ? rq->groups.items[i].group_id : rq->group_id;
		g->group_id = api_strdup(req, id);
		if (!g->group_id)
			return false;
		g->require_stable = rq->require_stable; /* false before v7 */
		bool ok = v >= 8 ? want_topics_v8(req, g, &rq->groups.items[i]) : want_topics_v0(req, g, rq);
		if (!ok)
			return false;
	}
	return true;
}

void api_offset_fetch(struct req *req)
{
	struct offset_fetch_request *rq = api_decode(req, &proto_offset_fetch_request);
	if (!rq)
		return;
	struct fetch_job *fj = arena_alloc(&req->arena, sizeof(*fj));
	if (!fj || !prepare(req, rq, fj)) {
		api_respond_close(req, "out of memory");
		return;
	}
	fj->job.req = req;
	fj->job.run = run_fetch;
	fj->job.reply = reply_fetch;
	if (coord_submit(&fj->job) != 0)
		answer(req, fj, KAFKA_COORDINATOR_NOT_AVAILABLE);
}
