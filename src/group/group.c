/*
 * group.c — the classic consumer-group state machine (group.h).
 *
 * Design note
 * ===========
 * Kafka's classic group protocol, as its GroupCoordinator/ClassicGroup
 * behave (KIP-345 static membership, KIP-394 MEMBER_ID_REQUIRED, KIP-134
 * initial rebalance delay, KIP-814 skip_assignment), driven by events and a
 * caller-supplied clock. Each entry point does:
 *
 *     run_timers(now)        timers that fell due before this event
 *     handle the event       (may park a JoinGroup/SyncGroup under its tag)
 *     try_complete_join      the rebalance ends early once everyone joined
 *     run_timers(now)        a zero delay fires within the same step
 *     out->next_deadline_ms  when the caller must tick again
 *
 * States and the function that performs each transition:
 *
 *            +-------------------- group_delete() --------------------+
 *            |                                                         v
 *        +-------+  add_member() -> prepare_rebalance()          +------+
 *   new->| Empty |------------------------------+                | Dead |<- group_unload()
 *        +-------+                              v                +------+    (from any)
 *            ^            complete_join()  +--------------------+
 *            +-----------(no member left)--| PreparingRebalance |<-----------+
 *                                          +--------------------+            |
 *                       complete_join()        |        ^                    |
 *                   (members, a leader) ->     v        | prepare_rebalance()|
 *                                  +---------------------+  join of a new or |
 *                                  | CompletingRebalance |  changed member,  |
 *                                  +---------------------+  leave, session   |
 *                 group_sync() of the leader   |            expiry, sync     |
 *                 (assignments stored)         v            expiry           |
 *                                         +--------+                         |
 *                                         | Stable |-------------------------+
 *                                         +--------+
 *
 *  group_load() builds a group straight into Stable (with members) or Empty
 *  (without), with the stored state_since; set_state() performs every
 *  other transition and stamps state_since_ms with the step's clock.
 *
 *  Timers (one deadline each; group_next_deadline() is their minimum):
 *  - join_deadline (PreparingRebalance): the rebalance timeout (largest of
 *    the members'), after which members that have not rejoined are dropped
 *    (static members are kept: KIP-345) and complete_join() runs. When the
 *    group came from Empty it is the initial delay instead (KIP-134):
 *    initial_rebalance_delay_ms, extended by that much again (at most up to
 *    the rebalance timeout in all) each time a new member joined during the
 *    last delay; it does not end early when all have joined.
 *  - sync_deadline (CompletingRebalance, Stable): a rebalance timeout after
 *    complete_join(); members that have not sent SyncGroup by then are
 *    removed and the group rebalances.
 *  - member hb_deadline: now + session timeout at each heartbeat, at the
 *    end of each rebalance and when a parked SyncGroup is answered; new
 *    members (not yet answered) get the new-member join timeout instead. A
 *    member that is not new and has a parked JoinGroup or SyncGroup is kept
 *    alive regardless. (Kafka's timer is merely "satisfied" while a request
 *    waits and is not rescheduled; restarting the session when the wait
 *    ends keeps a member that waited longer than its session timeout from
 *    being expired the instant it is answered.)
 *  - pending member deadline: a member id handed out with MEMBER_ID_REQUIRED
 *    must come back within its session timeout or is forgotten.
 *
 * Invariants:
 *  1. Every parked JoinGroup or SyncGroup gets exactly one response; a member
 *     parks at most one of each; a second request of the same kind answers
 *     the first REBALANCE_IN_PROGRESS. A removed member's parked requests are
 *     answered (UNKNOWN_MEMBER_ID, or FENCED_INSTANCE_ID when replaced).
 *  2. leader is NULL iff there is no member; otherwise it is a member.
 *  3. PreparingRebalance <=> join_deadline != NONE; awaiting_join only there
 *     (Stable/CompletingRebalance answer joins at once or start a rebalance).
 *  4. awaiting_sync only in CompletingRebalance.
 *  5. At most one member per group_instance_id.
 *  6. A group asks for at most one store per step (store_queued), and only
 *     at generation >= 1: a vacant group is never stored.
 *
 * Persistence (__consumer_offsets: the caller writes, the group only asks):
 *  - out->stores names the groups whose metadata must be written now
 *    (Kafka's storeGroup): the leader's SyncGroup made a generation Stable
 *    (sync_leader), a static member was replaced in Stable without a
 *    rebalance (replace_static), or a rebalance ended with no member left
 *    (complete_join -> Empty). The caller snapshots the group after the
 *    step, so the record is the group as the step left it. Nothing waits
 *    for the write (Kafka holds the leader's SyncGroup answer until its
 *    append): a record lost in a crash leaves the previous one, whose
 *    generation the members no longer match, so they rejoin.
 *  - group_snapshot() records Stable groups with their members and every
 *    other state as Empty of the current generation, without members: a
 *    rebalance in progress has no generation to restore (its members
 *    rejoin), and a snapshot must always be loadable. Only Stable and Empty
 *    groups are stored, but one step can empty a group (expired members)
 *    and then let a new member in: that record then says Empty.
 *  - group_load() rebuilds Stable (each member supports exactly the
 *    selected protocol, with its stored subscription) or Empty. Loaded
 *    members are not new and owe no SyncGroup; their sessions restart at
 *    the load, so a client that kept heartbeating stays and a dead one
 *    expires as usual. A snap that would break invariant 2 or 5, or has
 *    members without a protocol, is refused: a loaded group is one the
 *    steps could have produced.
 *  - state_since_ms is stamped by set_state() with the step's clock.
 *    group_new() has no clock, so a new group's is the clock of its first
 *    step (-1 before); group_delete() and group_unload() take no clock and
 *    use the clock of the group's last step.
 *
 * Offset commits (group_commit_check): Kafka's classic checks in its order
 * (group.h). A commit that passes restarts the member's session as a
 * heartbeat does (a consumer busy committing is alive); it changes nothing
 * else, the offsets are the caller's.
 *
 * Choices where Kafka leaves the order open (it uses hash maps): members
 * are kept in join order; a departing leader is succeeded by the earliest
 * joined member; the protocol vote breaks ties in favour of the candidate
 * the earliest member prefers.
 *
 * Member ids: "<client_id>-<uuid>" for dynamic members and
 * "<group_instance_id>-<uuid>" for static ones, as Kafka generates them.
 *
 * Memory: requests are borrowed; the group copies member ids, protocols and
 * assignments and frees them with the member or group. Responses are copied
 * into the group_out, whose capacity is reserved before a step mutates the
 * group; a copy that fails for lack of memory turns that response into
 * UNKNOWN_SERVER_ERROR (the client retries) rather than corrupt state.
 */
#include "group/group.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/err.h"
#include "util/log.h"

#define NONE INT64_MAX

struct pending {
	char *member_id;      /* owned */
	int64_t deadline_ms;
};

struct group {
	char *group_id;                 /* owned */
	struct group_cfg cfg;
	enum group_state state;
	int32_t generation_id;
	char *protocol_type;            /* owned; NULL until the first member */
	char *protocol_name;            /* owned; NULL unless a generation is running */
	struct group_member **members;  /* owned; join order */
	int32_t nmembers, capmembers;
	struct group_member *leader;    /* one of members, or NULL */
	struct pending *pending;        /* owned; MEMBER_ID_REQUIRED ids */
	int32_t npending, cappending;
	int64_t join_deadline_ms;       /* PreparingRebalance only */
	bool initial_delay;             /* join_deadline is the initial delay */
	bool new_member_added;          /* a member joined during the current initial delay */
	int32_t initial_remaining_ms;   /* what the initial delay may still grow by */
	int64_t sync_deadline_ms;       /* pending-sync expiry */
	int64_t state_since_ms;         /* caller's clock: state entered; -1: no step yet */
	int64_t last_now_ms;            /* caller's clock of the latest step; -1: none */
	bool store_queued;              /* this step already asked for a store */
};

/* ================================================================ output */

void group_out_init(struct group_out *out)
{
	memset(out, 0, sizeof *out);
	out->next_deadline_ms = NONE;
}

static void resp_fini(struct group_resp *r)
{
	free(r->protocol_type);
	free(r->protocol_name);
	free(r->leader);
	free(r->member_id);
	for (int32_t i = 0; i < r->nmembers; i++) {
		free(r->members[i].member_id);
		free(r->members[i].group_instance_id);
		free(r->members[i].metadata);
	}
	free(r->members);
	free(r->assignment);
}

void group_out_reset(struct group_out *out)
{
	for (size_t i = 0; i < out->n; i++)
		resp_fini(&out->resps[i]);
	out->n = 0;
	for (size_t i = 0; i < out->nstores; i++)
		free(out->stores[i]);
	out->nstores = 0;
	out->next_deadline_ms = NONE;
}

void group_out_fini(struct group_out *out)
{
	group_out_reset(out);
	free(out->resps);
	out->resps = NULL;
	out->cap = 0;
	free(out->stores);
	out->stores = NULL;
	out->capstores = 0;
}

/* Asks the caller to store g's metadata, once per step (invariant 6). Out
 * of memory drops the request with a log line: the group is unchanged and
 * its next store writes the then current state. */
static void out_store(struct group_out *out, struct group *g)
{
	if (g->store_queued)
		return;
	if (out->nstores == out->capstores) {
		size_t cap = out->capstores ? out->capstores * 2 : 4;
		char **st = realloc(out->stores, cap * sizeof *st);
		if (st == NULL)
			goto oom;
		out->stores = st;
		out->capstores = cap;
	}
	char *id = strdup(g->group_id);
	if (id == NULL)
		goto oom;
	out->stores[out->nstores++] = id;
	g->store_queued = true;
	return;
oom:
	log_error("group", "group %s: out of memory: metadata store dropped", g->group_id);
}

/* Makes room for n more responses. 0, or -1 when out of memory. */
static int out_reserve(struct group_out *out, size_t n)
{
	if (out->n + n <= out->cap)
		return 0;
	size_t cap = out->cap ? out->cap : 8;
	while (cap < out->n + n)
		cap *= 2;
	struct group_resp *r = realloc(out->resps, cap * sizeof *r);
	if (r == NULL)
		return -1;
	out->resps = r;
	out->cap = cap;
	return 0;
}

/* A zeroed response slot; NULL only if the reservation was exceeded and
 * growing failed (the response is then lost and logged). */
static struct group_resp *out_push(struct group_out *out, enum group_resp_kind kind, uint64_t tag)
{
	if (out_reserve(out, 1) != 0) {
		log_error("group", "out of memory: response for tag %llu dropped",
		          (unsigned long long)tag);
		return NULL;
	}
	struct group_resp *r = &out->resps[out->n++];
	memset(r, 0, sizeof *r);
	r->kind = kind;
	r->tag = tag;
	r->generation_id = -1;
	return r;
}

/* strdup that maps NULL to NULL and sets *oom on failure. */
static char *dup_or_null(const char *s, bool *oom)
{
	if (s == NULL)
		return NULL;
	char *d = strdup(s);
	if (d == NULL)
		*oom = true;
	return d;
}

static uint8_t *dup_bytes(const uint8_t *p, int32_t len, bool *oom)
{
	if (len <= 0)
		return NULL;
	uint8_t *d = malloc((size_t)len);
	if (d == NULL)
		*oom = true;
	else
		memcpy(d, p, (size_t)len);
	return d;
}

/* Degrades a response whose copies failed to a bare error. */
static void resp_oom(struct group_resp *r)
{
	enum group_resp_kind kind = r->kind;
	uint64_t tag = r->tag;
	resp_fini(r);
	memset(r, 0, sizeof *r);
	r->kind = kind;
	r->tag = tag;
	r->generation_id = -1;
	r->error_code = KAFKA_UNKNOWN_SERVER_ERROR;
}

static void join_error(struct group_out *out, uint64_t tag, const char *member_id, int err)
{
	struct group_resp *r = out_push(out, GROUP_RESP_JOIN, tag);
	if (r == NULL)
		return;
	bool oom = false;
	r->error_code = (int16_t)err;
	r->member_id = dup_or_null(member_id ? member_id : "", &oom);
	if (oom)
		resp_oom(r);
}

static void sync_error(struct group_out *out, uint64_t tag, int err)
{
	struct group_resp *r = out_push(out, GROUP_RESP_SYNC, tag);
	if (r)
		r->error_code = (int16_t)err;
}

void group_out_join_error(struct group_out *out, uint64_t tag, const char *member_id, int err)
{
	join_error(out, tag, member_id, err);
}

void group_out_sync_error(struct group_out *out, uint64_t tag, int err)
{
	sync_error(out, tag, err);
}

/* ================================================================ members */

static const char *member_metadata(const struct group_member *m, const char *proto, int32_t *len)
{
	for (int32_t i = 0; i < m->nprotocols; i++)
		if (strcmp(m->protocols[i].name, proto) == 0) {
			*len = m->protocols[i].metadata_len;
			return (const char *)m->protocols[i].metadata;
		}
	*len = 0;
	return NULL;
}

static bool member_supports(const struct group_member *m, const char *proto)
{
	for (int32_t i = 0; i < m->nprotocols; i++)
		if (strcmp(m->protocols[i].name, proto) == 0)
			return true;
	return false;
}

static void protos_free(struct group_member_proto *p, int32_t n)
{
	for (int32_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].metadata);
	}
	free(p);
}

/* Copies a request's protocol list. NULL when out of memory. */
static struct group_member_proto *protos_copy(const struct group_protocol *src, int32_t n)
{
	struct group_member_proto *p = calloc((size_t)n, sizeof *p);
	if (p == NULL)
		return NULL;
	bool oom = false;
	for (int32_t i = 0; i < n; i++) {
		p[i].name = dup_or_null(src[i].name, &oom);
		p[i].metadata = dup_bytes(src[i].metadata, src[i].metadata_len, &oom);
		p[i].metadata_len = src[i].metadata_len > 0 ? src[i].metadata_len : 0;
	}
	if (oom) {
		protos_free(p, n);
		return NULL;
	}
	return p;
}

/* Same protocols with the same metadata in the same order (Kafka's
 * MemberMetadata.matches). */
static bool member_matches(const struct group_member *m, const struct group_join_req *req)
{
	if (m->nprotocols != req->nprotocols)
		return false;
	for (int32_t i = 0; i < m->nprotocols; i++) {
		const struct group_protocol *p = &req->protocols[i];
		int32_t len = p->metadata_len > 0 ? p->metadata_len : 0;
		if (strcmp(m->protocols[i].name, p->name) != 0 || m->protocols[i].metadata_len != len ||
		    (len > 0 && memcmp(m->protocols[i].metadata, p->metadata, (size_t)len) != 0))
			return false;
	}
	return true;
}

static void member_free(struct group_member *m)
{
	if (m == NULL)
		return;
	free(m->member_id);
	free(m->group_instance_id);
	free(m->client_id);
	free(m->client_host);
	protos_free(m->protocols, m->nprotocols);
	free(m->assignment);
	free(m);
}

static int32_t member_index(const struct group *g, const char *member_id)
{
	if (member_id == NULL || member_id[0] == '\0')
		return -1;
	for (int32_t i = 0; i < g->nmembers; i++)
		if (strcmp(g->members[i]->member_id, member_id) == 0)
			return i;
	return -1;
}

static struct group_member *member_find(const struct group *g, const char *member_id)
{
	int32_t i = member_index(g, member_id);
	return i < 0 ? NULL : g->members[i];
}

static struct group_member *static_find(const struct group *g, const char *instance_id)
{
	if (instance_id == NULL)
		return NULL;
	for (int32_t i = 0; i < g->nmembers; i++)
		if (g->members[i]->group_instance_id &&
		    strcmp(g->members[i]->group_instance_id, instance_id) == 0)
			return g->members[i];
	return NULL;
}

/* Kafka's isStaticMemberFenced: the instance id is known under another
 * member id. */
static bool static_fenced(const struct group *g, const char *member_id, const char *instance_id)
{
	const struct group_member *s = static_find(g, instance_id);
	return s != NULL && strcmp(s->member_id, member_id ? member_id : "") != 0;
}

static int32_t pending_index(const struct group *g, const char *member_id)
{
	if (member_id == NULL || member_id[0] == '\0')
		return -1;
	for (int32_t i = 0; i < g->npending; i++)
		if (strcmp(g->pending[i].member_id, member_id) == 0)
			return i;
	return -1;
}

static void pending_remove_at(struct group *g, int32_t i)
{
	free(g->pending[i].member_id);
	memmove(&g->pending[i], &g->pending[i + 1], (size_t)(g->npending - i - 1) * sizeof g->pending[0]);
	g->npending--;
}

/* A member built from a join, not yet in the group. NULL when out of memory. */
static struct group_member *member_new(const struct group_join_req *req, const char *member_id)
{
	struct group_member *m = calloc(1, sizeof *m);
	if (m == NULL)
		return NULL;
	bool oom = false;
	m->member_id = dup_or_null(member_id, &oom);
	m->group_instance_id = dup_or_null(req->group_instance_id, &oom);
	m->client_id = dup_or_null(req->client_id ? req->client_id : "", &oom);
	m->client_host = dup_or_null(req->client_host ? req->client_host : "", &oom);
	m->protocols = protos_copy(req->protocols, req->nprotocols);
	m->nprotocols = req->nprotocols;
	if (oom || m->protocols == NULL) {
		member_free(m);
		return NULL;
	}
	return m;
}

static int32_t rebalance_timeout(const struct group_join_req *req)
{
	return req->rebalance_timeout_ms > 0 ? req->rebalance_timeout_ms : req->session_timeout_ms;
}

/* The group's rebalance timeout: the largest of its members'. */
static int32_t group_rebalance_timeout(const struct group *g)
{
	int32_t t = 0;
	for (int32_t i = 0; i < g->nmembers; i++)
		if (g->members[i]->rebalance_timeout_ms > t)
			t = g->members[i]->rebalance_timeout_ms;
	return t;
}

static int32_t num_awaiting_join(const struct group *g)
{
	int32_t n = 0;
	for (int32_t i = 0; i < g->nmembers; i++)
		n += g->members[i]->awaiting_join;
	return n;
}

/* Removes member i (Kafka's group.remove plus the callbacks Kafka fires):
 * parked requests are answered with err; the leader passes to the earliest
 * remaining member. */
static void member_remove_at(struct group *g, int32_t i, int err, struct group_out *out)
{
	struct group_member *m = g->members[i];
	if (m->awaiting_join)
		join_error(out, m->join_tag, "", err);
	if (m->awaiting_sync)
		sync_error(out, m->sync_tag, err);
	memmove(&g->members[i], &g->members[i + 1], (size_t)(g->nmembers - i - 1) * sizeof g->members[0]);
	g->nmembers--;
	if (g->leader == m)
		g->leader = g->nmembers > 0 ? g->members[0] : NULL;
	member_free(m);
}

/* Generates "<prefix>-<uuid>". NULL when randomness or memory failed. */
static char *member_id_generate(const struct group *g, const char *prefix)
{
	uint8_t b[16];
	int rc;
	if (g->cfg.random)
		rc = g->cfg.random(g->cfg.random_ctx, b);
	else {
		size_t got = 0;
		rc = 0;
		while (got < sizeof b) {
			ssize_t r = getrandom(b + got, sizeof b - got, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				rc = -1;
				break;
			}
			got += (size_t)r;
		}
	}
	if (rc != 0)
		return NULL;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	size_t plen = strlen(prefix);
	char *id = malloc(plen + 1 + 36 + 1);
	if (id == NULL)
		return NULL;
	memcpy(id, prefix, plen);
	char *p = id + plen;
	*p++ = '-';
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		p += sprintf(p, "%02x", b[i]);
	}
	return id;
}

/* ================================================================ protocols */

/* Kafka's supportsProtocols: an empty group takes any non-empty type and
 * list; otherwise the type must match and one of the protocols must be
 * supported by every member. */
static bool supports_protocols(const struct group *g, const struct group_join_req *req)
{
	if (req->protocol_type == NULL || req->protocol_type[0] == '\0' || req->nprotocols <= 0)
		return false;
	if (g->nmembers == 0)
		return true;
	if (g->protocol_type == NULL || strcmp(g->protocol_type, req->protocol_type) != 0)
		return false;
	for (int32_t p = 0; p < req->nprotocols; p++) {
		int32_t n = 0;
		for (int32_t i = 0; i < g->nmembers; i++)
			n += member_supports(g->members[i], req->protocols[p].name);
		if (n == g->nmembers)
			return true;
	}
	return false;
}

/* Kafka's selectProtocol: the candidates are the protocols every member
 * supports; each member votes for the first candidate in its own order; most
 * votes wins, ties to the earliest member's preference. NULL when there is
 * no member or no common protocol. Borrowed from the first member. */
static const char *select_protocol(const struct group *g)
{
	if (g->nmembers == 0)
		return NULL;
	const struct group_member *first = g->members[0];
	int32_t votes[GROUP_MAX_PROTOCOLS] = {0};
	bool cand[GROUP_MAX_PROTOCOLS] = {false};
	int32_t ncand = 0;
	for (int32_t c = 0; c < first->nprotocols; c++) {
		bool all = true;
		for (int32_t i = 1; i < g->nmembers && all; i++)
			all = member_supports(g->members[i], first->protocols[c].name);
		cand[c] = all;
		ncand += all;
	}
	if (ncand == 0)
		return NULL;
	for (int32_t i = 0; i < g->nmembers; i++) {
		const struct group_member *m = g->members[i];
		for (int32_t p = 0; p < m->nprotocols; p++) {
			int32_t c;
			for (c = 0; c < first->nprotocols; c++)
				if (cand[c] && strcmp(first->protocols[c].name, m->protocols[p].name) == 0)
					break;
			if (c < first->nprotocols) {
				votes[c]++;
				break;
			}
		}
	}
	int32_t best = -1;
	for (int32_t c = 0; c < first->nprotocols; c++)
		if (cand[c] && (best < 0 || votes[c] > votes[best]))
			best = c;
	return first->protocols[best].name;
}

/* ================================================================ responses */

/* A successful JoinGroup response for m under tag; the member list when
 * with_members (the leader's). */
static void join_ok(struct group *g, struct group_out *out, struct group_member *m, uint64_t tag,
                    const char *leader_id, bool with_members, bool skip_assignment)
{
	struct group_resp *r = out_push(out, GROUP_RESP_JOIN, tag);
	if (r == NULL)
		return;
	bool oom = false;
	r->error_code = KAFKA_NONE;
	r->generation_id = g->generation_id;
	r->protocol_type = dup_or_null(g->protocol_type, &oom);
	r->protocol_name = dup_or_null(g->protocol_name, &oom);
	r->leader = dup_or_null(leader_id ? leader_id : "", &oom);
	r->member_id = dup_or_null(m->member_id, &oom);
	r->skip_assignment = skip_assignment;
	if (with_members && g->nmembers > 0) {
		r->members = calloc((size_t)g->nmembers, sizeof *r->members);
		if (r->members == NULL)
			oom = true;
		else {
			r->nmembers = g->nmembers;
			for (int32_t i = 0; i < g->nmembers; i++) {
				struct group_member *x = g->members[i];
				struct group_resp_member *rm = &r->members[i];
				int32_t len = 0;
				const char *md = member_metadata(x, g->protocol_name ? g->protocol_name : "", &len);
				rm->member_id = dup_or_null(x->member_id, &oom);
				rm->group_instance_id = dup_or_null(x->group_instance_id, &oom);
				rm->metadata = dup_bytes((const uint8_t *)md, len, &oom);
				rm->metadata_len = len;
			}
		}
	}
	if (oom)
		resp_oom(r);
}

static void sync_ok(struct group *g, struct group_out *out, uint64_t tag, const struct group_member *m)
{
	struct group_resp *r = out_push(out, GROUP_RESP_SYNC, tag);
	if (r == NULL)
		return;
	bool oom = false;
	r->error_code = KAFKA_NONE;
	r->protocol_type = dup_or_null(g->protocol_type, &oom);
	r->protocol_name = dup_or_null(g->protocol_name, &oom);
	r->assignment = dup_bytes(m->assignment, m->assignment_len, &oom);
	r->assignment_len = m->assignment_len;
	if (oom)
		resp_oom(r);
}

/* ================================================================ transitions */

/* Every transition of a group goes through here (group_new and group_load
 * build one in its first state): Kafka's transitionTo, which also stamps
 * currentStateTimestamp (DescribeGroups, the stored record). */
static void set_state(struct group *g, enum group_state st, int64_t now)
{
	g->state = st;
	g->state_since_ms = now;
}

static void set_assignment(struct group_member *m, uint8_t *a, int32_t len)
{
	free(m->assignment);
	m->assignment = a;
	m->assignment_len = a ? len : 0;
}

/* Kafka's prepareRebalance: to PreparingRebalance. From CompletingRebalance
 * the parked SyncGroups are answered REBALANCE_IN_PROGRESS and assignments
 * cleared; from Empty the initial delay starts. */
static void prepare_rebalance(struct group *g, int64_t now, struct group_out *out)
{
	if (g->state == GROUP_COMPLETING_REBALANCE) {
		for (int32_t i = 0; i < g->nmembers; i++) {
			struct group_member *m = g->members[i];
			if (m->awaiting_sync) {
				m->awaiting_sync = false;
				m->hb_deadline_ms = now + m->session_timeout_ms;
				sync_error(out, m->sync_tag, KAFKA_REBALANCE_IN_PROGRESS);
			}
			set_assignment(m, NULL, 0);
		}
	}
	for (int32_t i = 0; i < g->nmembers; i++)
		g->members[i]->pending_sync = false;
	g->sync_deadline_ms = NONE;
	int32_t rt = group_rebalance_timeout(g);
	if (g->state == GROUP_EMPTY && g->cfg.initial_rebalance_delay_ms > 0) {
		g->initial_delay = true;
		g->new_member_added = false;
		g->initial_remaining_ms = rt > g->cfg.initial_rebalance_delay_ms
		                              ? rt - g->cfg.initial_rebalance_delay_ms : 0;
		g->join_deadline_ms = now + g->cfg.initial_rebalance_delay_ms;
	} else {
		g->initial_delay = false;
		g->join_deadline_ms = now + rt;
	}
	log_debug("group", "group %s: %s -> PreparingRebalance (generation %d)", g->group_id,
	          group_state_name(g->state), g->generation_id);
	set_state(g, GROUP_PREPARING_REBALANCE, now);
}

static void maybe_prepare_rebalance(struct group *g, int64_t now, struct group_out *out)
{
	if (g->state == GROUP_STABLE || g->state == GROUP_COMPLETING_REBALANCE || g->state == GROUP_EMPTY)
		prepare_rebalance(g, now, out);
}

/* Kafka's onCompleteJoin: drops dynamic members that did not rejoin, keeps
 * the leader if it rejoined (else the earliest member that did), starts the
 * next generation and answers every parked JoinGroup; the leader's answer
 * lists the members. With members but none rejoined, waits another
 * rebalance timeout. */
static void complete_join(struct group *g, int64_t now, struct group_out *out)
{
	for (int32_t i = g->nmembers - 1; i >= 0; i--) {
		struct group_member *m = g->members[i];
		if (!m->awaiting_join && m->group_instance_id == NULL)
			member_remove_at(g, i, KAFKA_UNKNOWN_MEMBER_ID, out);
	}
	if (g->nmembers > 0 && num_awaiting_join(g) == 0) {
		log_warn("group", "group %s: no member rejoined; waiting another rebalance timeout", g->group_id);
		int32_t rt = group_rebalance_timeout(g);
		g->initial_delay = false;
		g->join_deadline_ms = now + (rt > 0 ? rt : 1); /* 0 would fire again at once */
		return;
	}
	if (g->leader != NULL && !g->leader->awaiting_join)
		for (int32_t i = 0; i < g->nmembers; i++)
			if (g->members[i]->awaiting_join) {
				g->leader = g->members[i];
				break;
			}
	g->join_deadline_ms = NONE;
	g->initial_delay = false;
	g->generation_id++;
	free(g->protocol_name);
	g->protocol_name = NULL;
	if (g->nmembers == 0) {
		set_state(g, GROUP_EMPTY, now);
		log_info("group", "group %s: generation %d is empty", g->group_id, g->generation_id);
		out_store(out, g); /* Kafka stores the Empty group: its members are gone */
		return;
	}
	const char *proto = select_protocol(g);
	g->protocol_name = proto ? strdup(proto) : NULL;
	set_state(g, GROUP_COMPLETING_REBALANCE, now);
	log_info("group", "group %s: generation %d, %d members, protocol %s, leader %s", g->group_id,
	         g->generation_id, g->nmembers, proto ? proto : "(none)", g->leader->member_id);
	for (int32_t i = 0; i < g->nmembers; i++) {
		struct group_member *m = g->members[i];
		if (m->awaiting_join) {
			m->awaiting_join = false;
			join_ok(g, out, m, m->join_tag, g->leader->member_id, m == g->leader, false);
		}
		m->hb_deadline_ms = now + m->session_timeout_ms;
		m->is_new = false;
		m->pending_sync = true;
	}
	g->sync_deadline_ms = now + group_rebalance_timeout(g);
}

/* Ends PreparingRebalance once every member has rejoined and no
 * MEMBER_ID_REQUIRED id is outstanding (not during the initial delay). */
static void try_complete_join(struct group *g, int64_t now, struct group_out *out)
{
	if (g->state == GROUP_PREPARING_REBALANCE && !g->initial_delay &&
	    num_awaiting_join(g) == g->nmembers && g->npending == 0)
		complete_join(g, now, out);
}

/* A member leaves or its session ended (Kafka's removeMemberAndUpdateGroup). */
static void remove_member_and_update(struct group *g, int32_t i, int64_t now, struct group_out *out)
{
	member_remove_at(g, i, KAFKA_UNKNOWN_MEMBER_ID, out);
	if (g->state == GROUP_STABLE || g->state == GROUP_COMPLETING_REBALANCE)
		maybe_prepare_rebalance(g, now, out);
}

static bool member_kept_alive(const struct group_member *m)
{
	return !m->is_new && (m->awaiting_join || m->awaiting_sync);
}

/* The earliest timer of the group; NONE if none. */
int64_t group_next_deadline(const struct group *g)
{
	int64_t t = NONE;
	if (g->state == GROUP_DEAD)
		return NONE;
	if (g->state == GROUP_PREPARING_REBALANCE && g->join_deadline_ms < t)
		t = g->join_deadline_ms;
	if ((g->state == GROUP_COMPLETING_REBALANCE || g->state == GROUP_STABLE) && g->sync_deadline_ms < t)
		t = g->sync_deadline_ms;
	for (int32_t i = 0; i < g->nmembers; i++)
		if (!member_kept_alive(g->members[i]) && g->members[i]->hb_deadline_ms < t)
			t = g->members[i]->hb_deadline_ms;
	for (int32_t i = 0; i < g->npending; i++)
		if (g->pending[i].deadline_ms < t)
			t = g->pending[i].deadline_ms;
	return t;
}

/* The join deadline fired: extend the initial delay or complete the join. */
static void on_join_deadline(struct group *g, int64_t now, struct group_out *out)
{
	if (g->initial_delay && g->new_member_added && g->initial_remaining_ms > 0) {
		int32_t d = g->cfg.initial_rebalance_delay_ms;
		if (d > g->initial_remaining_ms)
			d = g->initial_remaining_ms;
		g->new_member_added = false;
		g->initial_remaining_ms -= d;
		g->join_deadline_ms += d;
		return;
	}
	complete_join(g, now, out);
}

/* Members that have not sent SyncGroup in time are removed; rebalance. */
static void on_sync_deadline(struct group *g, int64_t now, struct group_out *out)
{
	g->sync_deadline_ms = NONE;
	bool any = false;
	for (int32_t i = g->nmembers - 1; i >= 0; i--)
		if (g->members[i]->pending_sync) {
			log_info("group", "group %s: member %s sent no SyncGroup in time", g->group_id,
			         g->members[i]->member_id);
			member_remove_at(g, i, KAFKA_UNKNOWN_MEMBER_ID, out);
			any = true;
		}
	if (any)
		prepare_rebalance(g, now, out);
}

/* Fires every timer due at now, earliest first; each may change what is due
 * next, so the minimum is recomputed after each. */
static void run_timers(struct group *g, int64_t now, struct group_out *out)
{
	for (;;) {
		int64_t t = group_next_deadline(g);
		if (t > now)
			break;
		if (g->state == GROUP_PREPARING_REBALANCE && g->join_deadline_ms == t) {
			on_join_deadline(g, now, out);
		} else if ((g->state == GROUP_COMPLETING_REBALANCE || g->state == GROUP_STABLE) &&
		           g->sync_deadline_ms == t) {
			on_sync_deadline(g, now, out);
		} else {
			int32_t i;
			for (i = 0; i < g->npending; i++)
				if (g->pending[i].deadline_ms == t)
					break;
			if (i < g->npending) {
				log_debug("group", "group %s: pending member %s expired", g->group_id,
				          g->pending[i].member_id);
				pending_remove_at(g, i);
			} else {
				for (i = 0; i < g->nmembers; i++)
					if (!member_kept_alive(g->members[i]) && g->members[i]->hb_deadline_ms == t)
						break;
				log_info("group", "group %s: member %s session expired", g->group_id,
				         g->members[i]->member_id);
				remove_member_and_update(g, i, now, out);
			}
		}
		try_complete_join(g, now, out);
	}
}

/* Step prologue: opens the step (its clock becomes the group's, and it may
 * ask for one store), makes room for every response it can produce (each
 * member's parked request, plus the request itself and one spare), then
 * runs the timers already due. -1 when out of memory. */
static int step_begin(struct group *g, int64_t now, struct group_out *out)
{
	g->store_queued = false;
	g->last_now_ms = now;
	if (g->state_since_ms < 0)
		g->state_since_ms = now; /* a new group: created "now" as far as anyone can tell */
	if (out_reserve(out, (size_t)g->nmembers + 2) != 0)
		return -1;
	run_timers(g, now, out);
	return 0;
}

static void step_end(struct group *g, int64_t now, struct group_out *out)
{
	try_complete_join(g, now, out);
	run_timers(g, now, out);
	int64_t t = group_next_deadline(g);
	if (t < out->next_deadline_ms)
		out->next_deadline_ms = t;
}

/* ================================================================ JoinGroup */

int group_join_check(const struct group_join_req *req, const struct group_cfg *cfg)
{
	if (req->session_timeout_ms < cfg->min_session_timeout_ms ||
	    req->session_timeout_ms > cfg->max_session_timeout_ms)
		return KAFKA_INVALID_SESSION_TIMEOUT;
	if (req->nprotocols > GROUP_MAX_PROTOCOLS || req->nprotocols < 0)
		return KAFKA_INVALID_REQUEST;
	if (req->nprotocols > 0 && req->protocols == NULL)
		return KAFKA_INVALID_REQUEST;
	const char *strs[] = { req->member_id, req->group_instance_id, req->client_id,
	                       req->client_host, req->protocol_type };
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
		if (strs[i] && strlen(strs[i]) > GROUP_MAX_STR_LEN)
			return KAFKA_INVALID_REQUEST;
	if (req->group_instance_id && req->group_instance_id[0] == '\0')
		return KAFKA_INVALID_REQUEST; /* Kafka: "group instance id must be non-empty" */
	int64_t total = 0;
	for (int32_t i = 0; i < req->nprotocols; i++) {
		const struct group_protocol *p = &req->protocols[i];
		if (p->name == NULL || strlen(p->name) > GROUP_MAX_STR_LEN || p->metadata_len < 0 ||
		    (p->metadata_len > 0 && p->metadata == NULL))
			return KAFKA_INVALID_REQUEST;
		total += p->metadata_len;
		if (total > GROUP_MAX_METADATA_BYTES)
			return KAFKA_INVALID_REQUEST;
	}
	if (req->protocol_type == NULL || req->protocol_type[0] == '\0' || req->nprotocols == 0)
		return KAFKA_INCONSISTENT_GROUP_PROTOCOL;
	return KAFKA_NONE;
}

/* Kafka's acceptJoiningMember: group.max.size counts the members awaiting
 * the join while rebalancing (so the last to rejoin are shed when the limit
 * was lowered), else all members. */
static bool accept_joining(const struct group *g, const struct group_member *m)
{
	switch (g->state) {
	case GROUP_EMPTY:
	case GROUP_DEAD:
		return true;
	case GROUP_PREPARING_REBALANCE:
		return (m && m->awaiting_join) || num_awaiting_join(g) < g->cfg.max_size;
	default:
		return m != NULL || g->nmembers < g->cfg.max_size;
	}
}

/* Parks m's join under req's tag; a previously parked one is superseded. */
static void park_join(struct group_member *m, const struct group_join_req *req, struct group_out *out)
{
	if (m->awaiting_join)
		join_error(out, m->join_tag, m->member_id, KAFKA_REBALANCE_IN_PROGRESS);
	m->awaiting_join = true;
	m->join_tag = req->tag;
	m->join_version = req->api_version;
}

/* Takes the join's protocols and timeouts into m. -1 when out of memory
 * (m unchanged). */
static int member_update(struct group_member *m, const struct group_join_req *req)
{
	struct group_member_proto *p = protos_copy(req->protocols, req->nprotocols);
	if (p == NULL)
		return -1;
	protos_free(m->protocols, m->nprotocols);
	m->protocols = p;
	m->nprotocols = req->nprotocols;
	m->session_timeout_ms = req->session_timeout_ms;
	m->rebalance_timeout_ms = rebalance_timeout(req);
	return 0;
}

/* Kafka's addMemberAndRebalance: a new member (fresh id, a returning
 * MEMBER_ID_REQUIRED id or a new static instance) joins and waits. */
static void add_member(struct group *g, const struct group_join_req *req, const char *member_id,
                       int64_t now, struct group_out *out)
{
	struct group_member *m = member_new(req, member_id);
	struct group_member **mv = g->members;
	if (m != NULL && g->nmembers == g->capmembers) {
		int32_t cap = g->capmembers ? g->capmembers * 2 : 4;
		mv = realloc(g->members, (size_t)cap * sizeof *mv);
		if (mv != NULL) {
			g->members = mv;
			g->capmembers = cap;
		}
	}
	char *ptype = g->nmembers == 0 ? strdup(req->protocol_type) : NULL;
	if (m == NULL || mv == NULL || (g->nmembers == 0 && ptype == NULL)) {
		member_free(m);
		free(ptype);
		join_error(out, req->tag, member_id, KAFKA_UNKNOWN_SERVER_ERROR);
		return;
	}
	int32_t pi = pending_index(g, member_id);
	if (pi >= 0)
		pending_remove_at(g, pi);
	if (ptype) {
		free(g->protocol_type);
		g->protocol_type = ptype;
	}
	m->session_timeout_ms = req->session_timeout_ms;
	m->rebalance_timeout_ms = rebalance_timeout(req);
	m->is_new = true;
	m->hb_deadline_ms = now + g->cfg.new_member_join_timeout_ms;
	park_join(m, req, out);
	if (g->state == GROUP_PREPARING_REBALANCE && g->initial_delay)
		g->new_member_added = true;
	g->members[g->nmembers++] = m;
	if (g->leader == NULL)
		g->leader = m;
	maybe_prepare_rebalance(g, now, out);
}

/* Kafka's updateMemberAndRebalance. */
static void update_member_and_rebalance(struct group *g, struct group_member *m,
                                        const struct group_join_req *req, int64_t now,
                                        struct group_out *out)
{
	if (member_update(m, req) != 0) {
		join_error(out, req->tag, m->member_id, KAFKA_UNKNOWN_SERVER_ERROR);
		return;
	}
	park_join(m, req, out);
	maybe_prepare_rebalance(g, now, out);
}

/* KIP-345: a known group.instance.id rejoins with an empty member id. The
 * member keeps its place (and assignment) under a new id; the old id is
 * fenced. Stable: no rebalance unless the selected protocol would change.
 * CompletingRebalance: rebalance (the leader may be assigning to the old
 * id). PreparingRebalance: it simply waits with the others. */
static void replace_static(struct group *g, struct group_member *m, char *new_id,
                           const struct group_join_req *req, int64_t now, struct group_out *out)
{
	char *old_leader = g->leader ? strdup(g->leader->member_id) : NULL;
	if (member_update(m, req) != 0 || (g->leader && old_leader == NULL)) {
		free(old_leader);
		free(new_id);
		join_error(out, req->tag, "", KAFKA_UNKNOWN_SERVER_ERROR);
		return;
	}
	log_info("group", "group %s: static member %s rejoined: %s replaces %s", g->group_id,
	         m->group_instance_id, new_id, m->member_id);
	if (m->awaiting_join)
		join_error(out, m->join_tag, m->member_id, KAFKA_FENCED_INSTANCE_ID);
	if (m->awaiting_sync)
		sync_error(out, m->sync_tag, KAFKA_FENCED_INSTANCE_ID);
	m->awaiting_join = m->awaiting_sync = false;
	free(m->member_id);
	m->member_id = new_id;
	free(m->client_id);
	m->client_id = strdup(req->client_id ? req->client_id : "");
	if (m->client_id == NULL)
		m->client_id = calloc(1, 1);
	m->hb_deadline_ms = now + m->session_timeout_ms;
	switch (g->state) {
	case GROUP_STABLE: {
		const char *next = select_protocol(g);
		if (next && g->protocol_name && strcmp(next, g->protocol_name) == 0) {
			/* The leader is told it leads only from v9 (KIP-814), with
			 * skip_assignment; before, the old leader id is returned so a
			 * rejoining leader does not compute an assignment the Stable
			 * group would never distribute. */
			bool lead = g->leader == m && req->api_version >= 9;
			join_ok(g, out, m, req->tag, lead ? m->member_id : old_leader, lead, lead);
			out_store(out, g); /* the member id changed without a rebalance */
		} else {
			park_join(m, req, out);
			prepare_rebalance(g, now, out);
		}
		break;
	}
	case GROUP_COMPLETING_REBALANCE:
		park_join(m, req, out);
		prepare_rebalance(g, now, out);
		break;
	default: /* PreparingRebalance: Empty and Dead have no static member */
		park_join(m, req, out);
		break;
	}
	free(old_leader);
}

/* A join with an empty member id (Kafka's doUnknownJoinGroup). */
static void join_unknown(struct group *g, const struct group_join_req *req, int64_t now,
                         struct group_out *out)
{
	const char *instance = req->group_instance_id;
	char *new_id = member_id_generate(g, instance ? instance : (req->client_id ? req->client_id : ""));
	if (new_id == NULL) {
		join_error(out, req->tag, "", KAFKA_UNKNOWN_SERVER_ERROR);
		return;
	}
	struct group_member *s = static_find(g, instance);
	if (s != NULL) {
		replace_static(g, s, new_id, req, now, out);
		return;
	}
	if (req->api_version >= 4 && instance == NULL) {
		/* KIP-394: hand out the id; the member must come back with it
		 * within its session timeout. */
		if (g->npending == g->cappending) {
			int32_t cap = g->cappending ? g->cappending * 2 : 4;
			struct pending *p = realloc(g->pending, (size_t)cap * sizeof *p);
			if (p == NULL) {
				free(new_id);
				join_error(out, req->tag, "", KAFKA_UNKNOWN_SERVER_ERROR);
				return;
			}
			g->pending = p;
			g->cappending = cap;
		}
		g->pending[g->npending].member_id = new_id;
		g->pending[g->npending].deadline_ms = now + req->session_timeout_ms;
		g->npending++;
		join_error(out, req->tag, new_id, KAFKA_MEMBER_ID_REQUIRED);
		return;
	}
	add_member(g, req, new_id, now, out);
	free(new_id);
}

/* A join with a member id (Kafka's doCurrentMemberJoinGroup). */
static void join_known(struct group *g, struct group_member *m, const struct group_join_req *req,
                       int64_t now, struct group_out *out)
{
	const char *id = req->member_id;
	int32_t pi = pending_index(g, id);
	if (pi >= 0) {
		if (req->group_instance_id != NULL) /* ids of pending members are never static */
			join_error(out, req->tag, id, KAFKA_UNKNOWN_MEMBER_ID);
		else
			add_member(g, req, id, now, out);
		return;
	}
	if (static_fenced(g, id, req->group_instance_id)) {
		join_error(out, req->tag, id, KAFKA_FENCED_INSTANCE_ID);
		return;
	}
	if (m == NULL || (req->group_instance_id && static_find(g, req->group_instance_id) == NULL)) {
		join_error(out, req->tag, id, KAFKA_UNKNOWN_MEMBER_ID);
		return;
	}
	switch (g->state) {
	case GROUP_PREPARING_REBALANCE:
		update_member_and_rebalance(g, m, req, now, out);
		break;
	case GROUP_COMPLETING_REBALANCE:
		/* Same metadata: it missed the response; answer it again. */
		if (member_matches(m, req))
			join_ok(g, out, m, req->tag, g->leader->member_id, m == g->leader, false);
		else
			update_member_and_rebalance(g, m, req, now, out);
		break;
	case GROUP_STABLE:
		/* The leader's join always rebalances (it may have seen topic
		 * metadata change); a follower's only when its metadata changed. */
		if (m == g->leader || !member_matches(m, req))
			update_member_and_rebalance(g, m, req, now, out);
		else
			join_ok(g, out, m, req->tag, g->leader->member_id, false, false);
		break;
	default:
		join_error(out, req->tag, id, KAFKA_UNKNOWN_MEMBER_ID);
		break;
	}
}

void group_join(struct group *g, const struct group_join_req *req, int64_t now, struct group_out *out)
{
	if (step_begin(g, now, out) != 0) {
		join_error(out, req->tag, req->member_id, KAFKA_UNKNOWN_SERVER_ERROR);
		return;
	}
	int err = group_join_check(req, &g->cfg);
	bool unknown = req->member_id == NULL || req->member_id[0] == '\0';
	struct group_member *m = unknown ? NULL : member_find(g, req->member_id);
	if (err == KAFKA_INVALID_SESSION_TIMEOUT || err == KAFKA_INVALID_REQUEST) {
		join_error(out, req->tag, req->member_id, err);
	} else if (!accept_joining(g, m)) {
		if (m != NULL)
			remove_member_and_update(g, member_index(g, m->member_id), now, out);
		join_error(out, req->tag, "", KAFKA_GROUP_MAX_SIZE_REACHED);
	} else if (g->state == GROUP_DEAD) {
		/* Removed under us; the client finds the coordinator again. */
		join_error(out, req->tag, unknown ? "" : req->member_id, KAFKA_COORDINATOR_NOT_AVAILABLE);
	} else if (err != KAFKA_NONE || !supports_protocols(g, req)) {
		join_error(out, req->tag, unknown ? "" : req->member_id, KAFKA_INCONSISTENT_GROUP_PROTOCOL);
	} else if (unknown) {
		join_unknown(g, req, now, out);
	} else {
		join_known(g, m, req, now, out);
	}
	step_end(g, now, out);
}

/* ================================================================ SyncGroup */

/* The leader's assignments become the members' (missing ones empty), every
 * parked SyncGroup is answered, and the group is Stable. */
static void sync_leader(struct group *g, const struct group_sync_req *req, int64_t now,
                        struct group_out *out)
{
	uint8_t **a = calloc((size_t)g->nmembers, sizeof *a);
	int32_t *len = calloc((size_t)g->nmembers, sizeof *len);
	bool oom = a == NULL || len == NULL;
	for (int32_t k = 0; k < req->nassignments && !oom; k++) {
		int32_t i = member_index(g, req->assignments[k].member_id);
		if (i < 0)
			continue; /* Kafka ignores assignments for non-members */
		free(a[i]);
		a[i] = dup_bytes(req->assignments[k].assignment, req->assignments[k].assignment_len, &oom);
		len[i] = req->assignments[k].assignment_len;
	}
	if (oom) {
		for (int32_t i = 0; a && i < g->nmembers; i++)
			free(a[i]);
		free(a);
		free(len);
		struct group_member *l = g->leader;
		l->awaiting_sync = false;
		l->pending_sync = true;
		sync_error(out, l->sync_tag, KAFKA_UNKNOWN_SERVER_ERROR);
		return;
	}
	for (int32_t i = 0; i < g->nmembers; i++)
		set_assignment(g->members[i], a[i], len[i]);
	free(a);
	free(len);
	set_state(g, GROUP_STABLE, now);
	log_info("group", "group %s: generation %d is Stable", g->group_id, g->generation_id);
	out_store(out, g); /* the generation and its assignments */
	for (int32_t i = 0; i < g->nmembers; i++) {
		struct group_member *m = g->members[i];
		if (m->awaiting_sync) {
			m->awaiting_sync = false;
			m->hb_deadline_ms = now + m->session_timeout_ms;
			sync_ok(g, out, m->sync_tag, m);
		}
	}
}

static int sync_check(const struct group_sync_req *req)
{
	if (req->nassignments < 0 || (req->nassignments > 0 && req->assignments == NULL))
		return KAFKA_INVALID_REQUEST;
	for (int32_t k = 0; k < req->nassignments; k++) {
		const struct group_assignment *x = &req->assignments[k];
		if (x->member_id == NULL || x->assignment_len < 0 ||
		    x->assignment_len > GROUP_MAX_ASSIGNMENT_BYTES || (x->assignment_len > 0 && x->assignment == NULL))
			return KAFKA_INVALID_REQUEST;
	}
	return KAFKA_NONE;
}

static bool any_pending_sync(const struct group *g)
{
	for (int32_t i = 0; i < g->nmembers; i++)
		if (g->members[i]->pending_sync)
			return true;
	return false;
}

void group_sync(struct group *g, const struct group_sync_req *req, int64_t now, struct group_out *out)
{
	if (step_begin(g, now, out) != 0) {
		sync_error(out, req->tag, KAFKA_UNKNOWN_SERVER_ERROR);
		return;
	}
	struct group_member *m = member_find(g, req->member_id);
	int err = sync_check(req);
	if (err != KAFKA_NONE)
		sync_error(out, req->tag, err);
	else if (g->state == GROUP_DEAD)
		sync_error(out, req->tag, KAFKA_COORDINATOR_NOT_AVAILABLE);
	else if (static_fenced(g, req->member_id, req->group_instance_id))
		sync_error(out, req->tag, KAFKA_FENCED_INSTANCE_ID);
	else if (m == NULL)
		sync_error(out, req->tag, KAFKA_UNKNOWN_MEMBER_ID);
	else if (req->generation_id != g->generation_id)
		sync_error(out, req->tag, KAFKA_ILLEGAL_GENERATION);
	else if ((req->protocol_type && (!g->protocol_type || strcmp(req->protocol_type, g->protocol_type))) ||
	         (req->protocol_name && (!g->protocol_name || strcmp(req->protocol_name, g->protocol_name))))
		sync_error(out, req->tag, KAFKA_INCONSISTENT_GROUP_PROTOCOL);
	else if (g->state == GROUP_EMPTY)
		sync_error(out, req->tag, KAFKA_UNKNOWN_MEMBER_ID);
	else if (g->state == GROUP_PREPARING_REBALANCE)
		sync_error(out, req->tag, KAFKA_REBALANCE_IN_PROGRESS);
	else if (g->state == GROUP_COMPLETING_REBALANCE) {
		if (m->awaiting_sync)
			sync_error(out, m->sync_tag, KAFKA_REBALANCE_IN_PROGRESS);
		m->awaiting_sync = true;
		m->sync_tag = req->tag;
		m->pending_sync = false;
		if (m == g->leader)
			sync_leader(g, req, now, out);
	} else { /* Stable: the assignment is already known */
		m->pending_sync = false;
		sync_ok(g, out, req->tag, m);
	}
	if (g->state == GROUP_STABLE && !any_pending_sync(g))
		g->sync_deadline_ms = NONE;
	step_end(g, now, out);
}

/* ================================================================ Heartbeat, LeaveGroup, OffsetCommit */

int group_heartbeat(struct group *g, const char *member_id, const char *instance_id,
                    int32_t generation_id, int64_t now, struct group_out *out)
{
	if (step_begin(g, now, out) != 0)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	struct group_member *m = member_find(g, member_id);
	int err;
	if (g->state == GROUP_DEAD)
		err = KAFKA_COORDINATOR_NOT_AVAILABLE;
	else if (static_fenced(g, member_id, instance_id))
		err = KAFKA_FENCED_INSTANCE_ID;
	else if (m == NULL)
		err = KAFKA_UNKNOWN_MEMBER_ID;
	else if (generation_id != g->generation_id)
		err = KAFKA_ILLEGAL_GENERATION;
	else if (g->state == GROUP_EMPTY)
		err = KAFKA_UNKNOWN_MEMBER_ID;
	else {
		/* In CompletingRebalance a member may heartbeat between its
		 * JoinGroup response and its SyncGroup: that counts. */
		m->hb_deadline_ms = now + m->session_timeout_ms;
		err = g->state == GROUP_PREPARING_REBALANCE ? KAFKA_REBALANCE_IN_PROGRESS : KAFKA_NONE;
	}
	step_end(g, now, out);
	return err;
}

static int leave_one(struct group *g, const char *member_id, const char *instance_id,
                     int64_t now, struct group_out *out)
{
	const char *id = member_id ? member_id : "";
	if (id[0] == '\0' && instance_id) {
		const struct group_member *s = static_find(g, instance_id);
		if (s == NULL)
			return KAFKA_UNKNOWN_MEMBER_ID;
		id = s->member_id;
	} else if (static_fenced(g, id, instance_id)) {
		return KAFKA_FENCED_INSTANCE_ID;
	}
	int32_t pi = pending_index(g, id);
	if (pi >= 0) {
		pending_remove_at(g, pi);
		return KAFKA_NONE;
	}
	int32_t i = member_index(g, id);
	if (i < 0)
		return KAFKA_UNKNOWN_MEMBER_ID;
	log_info("group", "group %s: member %s leaves", g->group_id, id);
	remove_member_and_update(g, i, now, out);
	return KAFKA_NONE;
}

int group_leave(struct group *g, struct group_leave_member *members, int32_t n, int64_t now,
                struct group_out *out)
{
	if (step_begin(g, now, out) != 0)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	int top = KAFKA_NONE;
	if (g->state == GROUP_DEAD)
		top = KAFKA_COORDINATOR_NOT_AVAILABLE;
	for (int32_t k = 0; k < n; k++)
		members[k].error_code = (int16_t)(top != KAFKA_NONE ? top
		                        : leave_one(g, members[k].member_id, members[k].group_instance_id, now, out));
	step_end(g, now, out);
	return top;
}

/* Kafka's handleCommitOffsets, classic group: the order of the checks is
 * Kafka's (group.h). Unlike Heartbeat, a generation of -1 is let through in
 * an Empty group (assign() and admin tools commit outside the protocol),
 * and a rebalance that is only preparing still takes commits of the current
 * generation: members commit what they processed before rejoining. */
int group_commit_check(struct group *g, const char *member_id, const char *instance_id,
                       int32_t generation_id, int64_t now, struct group_out *out)
{
	if (step_begin(g, now, out) != 0)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	struct group_member *m = member_find(g, member_id);
	int err;
	if (g->state == GROUP_DEAD)
		err = KAFKA_COORDINATOR_NOT_AVAILABLE;
	else if (static_fenced(g, member_id, instance_id))
		err = KAFKA_FENCED_INSTANCE_ID;
	else if (generation_id < 0 && g->state == GROUP_EMPTY)
		err = KAFKA_NONE;
	else if (g->state == GROUP_COMPLETING_REBALANCE)
		err = KAFKA_REBALANCE_IN_PROGRESS;
	else if (m == NULL)
		err = KAFKA_UNKNOWN_MEMBER_ID;
	else if (generation_id != g->generation_id)
		err = KAFKA_ILLEGAL_GENERATION;
	else {
		m->hb_deadline_ms = now + m->session_timeout_ms; /* a commit is a heartbeat */
		err = KAFKA_NONE;
	}
	step_end(g, now, out);
	return err;
}

void group_tick(struct group *g, int64_t now, struct group_out *out)
{
	if (step_begin(g, now, out) != 0)
		return; /* the timers stay due; the next tick retries */
	step_end(g, now, out);
}

/* ================================================================ lifecycle */

void group_cfg_defaults(struct group_cfg *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->initial_rebalance_delay_ms = 3000;
	cfg->min_session_timeout_ms = 6000;
	cfg->max_session_timeout_ms = 1800000;
	cfg->max_size = INT32_MAX;
	cfg->new_member_join_timeout_ms = GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS;
}

const char *group_state_name(enum group_state st)
{
	switch (st) {
	case GROUP_EMPTY:                return "Empty";
	case GROUP_PREPARING_REBALANCE:  return "PreparingRebalance";
	case GROUP_COMPLETING_REBALANCE: return "CompletingRebalance";
	case GROUP_STABLE:               return "Stable";
	case GROUP_DEAD:                 return "Dead";
	}
	return "Unknown";
}

struct group *group_new(const char *group_id, const struct group_cfg *cfg)
{
	struct group *g = calloc(1, sizeof *g);
	if (g == NULL)
		return NULL;
	g->group_id = strdup(group_id);
	if (g->group_id == NULL) {
		free(g);
		return NULL;
	}
	g->cfg = *cfg;
	g->state = GROUP_EMPTY;
	g->join_deadline_ms = NONE;
	g->sync_deadline_ms = NONE;
	g->state_since_ms = -1;  /* no clock yet: the first step stamps it */
	g->last_now_ms = -1;
	return g;
}

void group_free(struct group *g)
{
	if (g == NULL)
		return;
	for (int32_t i = 0; i < g->nmembers; i++)
		member_free(g->members[i]);
	free(g->members);
	for (int32_t i = 0; i < g->npending; i++)
		free(g->pending[i].member_id);
	free(g->pending);
	free(g->protocol_type);
	free(g->protocol_name);
	free(g->group_id);
	free(g);
}

int group_delete(struct group *g)
{
	if (g->state == GROUP_DEAD)
		return KAFKA_GROUP_ID_NOT_FOUND;
	if (g->state != GROUP_EMPTY)
		return KAFKA_NON_EMPTY_GROUP;
	set_state(g, GROUP_DEAD, g->last_now_ms); /* no clock here: the last step's */
	return KAFKA_NONE;
}

void group_unload(struct group *g, struct group_out *out)
{
	(void)out_reserve(out, (size_t)g->nmembers + 1);
	for (int32_t i = 0; i < g->nmembers; i++) {
		struct group_member *m = g->members[i];
		if (m->awaiting_join)
			join_error(out, m->join_tag, m->member_id, KAFKA_NOT_COORDINATOR);
		if (m->awaiting_sync)
			sync_error(out, m->sync_tag, KAFKA_NOT_COORDINATOR);
		m->awaiting_join = m->awaiting_sync = false;
	}
	set_state(g, GROUP_DEAD, g->last_now_ms); /* no clock here: the last step's */
	g->join_deadline_ms = g->sync_deadline_ms = NONE;
}

/* ================================================================ persistence */

int group_snapshot(const struct group *g, struct group_snap *out)
{
	memset(out, 0, sizeof *out);
	out->protocol_type = g->protocol_type;
	out->generation_id = g->generation_id;
	out->state_since_ms = g->state_since_ms;
	/* Any other state is recorded as Empty (see the design note). */
	if (g->state != GROUP_STABLE || g->protocol_name == NULL || g->leader == NULL)
		return 0;
	out->members = calloc((size_t)g->nmembers, sizeof *out->members);
	if (out->members == NULL)
		return -1;
	out->protocol_name = g->protocol_name;
	out->leader = g->leader->member_id;
	out->nmembers = g->nmembers;
	for (int32_t i = 0; i < g->nmembers; i++) {
		const struct group_member *m = g->members[i];
		struct group_snap_member *sm = &out->members[i];
		sm->member_id = m->member_id;
		sm->group_instance_id = m->group_instance_id;
		sm->client_id = m->client_id;
		sm->client_host = m->client_host;
		sm->rebalance_timeout_ms = m->rebalance_timeout_ms;
		sm->session_timeout_ms = m->session_timeout_ms;
		sm->subscription = (const uint8_t *)member_metadata(m, g->protocol_name, &sm->subscription_len);
		sm->assignment = m->assignment;
		sm->assignment_len = m->assignment_len;
	}
	return 0;
}

void group_snap_fini(struct group_snap *s)
{
	free(s->members);
	s->members = NULL;
	s->nmembers = 0;
}

static bool str_ok(const char *s, bool may_be_empty)
{
	return s != NULL && (may_be_empty || s[0] != '\0') && strlen(s) <= GROUP_MAX_STR_LEN;
}

static bool bytes_ok(const uint8_t *p, int32_t len, int32_t max)
{
	return len >= 0 && len <= max && (len == 0 || p != NULL);
}

/* One stored member: NULL when consistent, else what is wrong. */
static const char *snap_member_check(const struct group_snap_member *sm)
{
	if (!str_ok(sm->member_id, false))
		return "a member without an id";
	if (sm->group_instance_id && !str_ok(sm->group_instance_id, false))
		return "an empty or oversized group instance id";
	if ((sm->client_id && !str_ok(sm->client_id, true)) ||
	    (sm->client_host && !str_ok(sm->client_host, true)))
		return "an oversized client id or host";
	if (sm->session_timeout_ms <= 0)
		return "a member without a session timeout";
	if (!bytes_ok(sm->subscription, sm->subscription_len, GROUP_MAX_METADATA_BYTES) ||
	    !bytes_ok(sm->assignment, sm->assignment_len, GROUP_MAX_ASSIGNMENT_BYTES))
		return "a bad subscription or assignment size";
	return NULL;
}

/* Whether s describes a group the steps could have produced: NULL when it
 * does, else what is wrong. An Empty snap's protocol name and leader are
 * ignored (an Empty group has neither). */
static const char *snap_check(const struct group_snap *s)
{
	if (s->generation_id < 0 || s->nmembers < 0 || (s->nmembers > 0 && s->members == NULL))
		return "a negative generation or member count";
	if (s->nmembers == 0)
		return s->protocol_type && !str_ok(s->protocol_type, true) ? "an oversized protocol type" : NULL;
	if (!str_ok(s->protocol_type, false) || !str_ok(s->protocol_name, false))
		return "members without a protocol";
	bool leader_found = false;
	for (int32_t i = 0; i < s->nmembers; i++) {
		const struct group_snap_member *a = &s->members[i];
		const char *why = snap_member_check(a);
		if (why)
			return why;
		leader_found |= s->leader && strcmp(a->member_id, s->leader) == 0;
		for (int32_t j = 0; j < i; j++) {
			const struct group_snap_member *b = &s->members[j];
			if (strcmp(a->member_id, b->member_id) == 0)
				return "a duplicate member id";                 /* invariant 2's lookups */
			if (a->group_instance_id && b->group_instance_id &&
			    strcmp(a->group_instance_id, b->group_instance_id) == 0)
				return "a duplicate group instance id";         /* invariant 5 */
		}
	}
	return leader_found ? NULL : "a leader that is not a member"; /* invariant 2 */
}

/* A member rebuilt from its record, supporting exactly the group's
 * protocol. NULL when out of memory. */
static struct group_member *member_load(const struct group_snap_member *sm, const char *protocol,
                                        int64_t now)
{
	struct group_member *m = calloc(1, sizeof *m);
	if (m == NULL)
		return NULL;
	bool oom = false;
	m->member_id = dup_or_null(sm->member_id, &oom);
	m->group_instance_id = dup_or_null(sm->group_instance_id, &oom);
	m->client_id = dup_or_null(sm->client_id ? sm->client_id : "", &oom);
	m->client_host = dup_or_null(sm->client_host ? sm->client_host : "", &oom);
	m->protocols = calloc(1, sizeof *m->protocols);
	if (m->protocols == NULL) {
		oom = true;
	} else {
		m->nprotocols = 1;
		m->protocols[0].name = dup_or_null(protocol, &oom);
		m->protocols[0].metadata = dup_bytes(sm->subscription, sm->subscription_len, &oom);
		m->protocols[0].metadata_len = sm->subscription_len;
	}
	m->assignment = dup_bytes(sm->assignment, sm->assignment_len, &oom);
	m->assignment_len = m->assignment ? sm->assignment_len : 0;
	m->session_timeout_ms = sm->session_timeout_ms;
	/* GroupMetadataValue v0 has no rebalance timeout: Kafka uses the session's. */
	m->rebalance_timeout_ms = sm->rebalance_timeout_ms > 0 ? sm->rebalance_timeout_ms
	                                                       : sm->session_timeout_ms;
	m->hb_deadline_ms = now + m->session_timeout_ms;
	if (oom) {
		member_free(m);
		return NULL;
	}
	return m;
}

/* Fills g (Empty, generation 0, fresh from group_new) from s. -1 when out
 * of memory (g is then freed by the caller). */
static int group_fill(struct group *g, const struct group_snap *s, int64_t now)
{
	bool oom = false;
	g->generation_id = s->generation_id;
	if (s->protocol_type && s->protocol_type[0] != '\0')
		g->protocol_type = dup_or_null(s->protocol_type, &oom);
	if (s->nmembers == 0)
		return oom ? -1 : 0;
	g->protocol_name = dup_or_null(s->protocol_name, &oom);
	g->members = calloc((size_t)s->nmembers, sizeof *g->members);
	if (oom || g->members == NULL)
		return -1;
	g->capmembers = s->nmembers;
	for (int32_t i = 0; i < s->nmembers; i++) {
		struct group_member *m = member_load(&s->members[i], s->protocol_name, now);
		if (m == NULL)
			return -1;
		g->members[g->nmembers++] = m;
		if (strcmp(m->member_id, s->leader) == 0)
			g->leader = m;
	}
	g->state = GROUP_STABLE;
	return 0;
}

struct group *group_load(const char *group_id, const struct group_cfg *cfg,
                         const struct group_snap *s, int64_t now)
{
	const char *why = snap_check(s);
	if (why != NULL) {
		log_warn("group", "group %s: stored metadata refused: %s", group_id, why);
		return NULL;
	}
	struct group *g = group_new(group_id, cfg);
	if (g == NULL || group_fill(g, s, now) != 0) {
		log_error("group", "group %s: out of memory loading its metadata", group_id);
		group_free(g);
		return NULL;
	}
	g->last_now_ms = now;
	g->state_since_ms = s->state_since_ms >= 0 ? s->state_since_ms : now;
	log_info("group", "group %s: loaded %s, generation %d, %d members", group_id,
	         group_state_name(g->state), g->generation_id, g->nmembers);
	return g;
}

/* ================================================================ accessors */

const char *group_id(const struct group *g) { return g->group_id; }
enum group_state group_state(const struct group *g) { return g->state; }
int32_t group_generation(const struct group *g) { return g->generation_id; }
const char *group_protocol_type(const struct group *g) { return g->protocol_type; }
const char *group_protocol_name(const struct group *g) { return g->protocol_name; }
const char *group_leader(const struct group *g) { return g->leader ? g->leader->member_id : NULL; }
int32_t group_nmembers(const struct group *g) { return g->nmembers; }
int32_t group_npending(const struct group *g) { return g->npending; }
int64_t group_state_since(const struct group *g) { return g->state_since_ms; }

const struct group_member *group_member_at(const struct group *g, int32_t i)
{
	return i >= 0 && i < g->nmembers ? g->members[i] : NULL;
}

const struct group_member *group_member_find(const struct group *g, const char *member_id)
{
	return member_find(g, member_id);
}

bool group_is_vacant(const struct group *g)
{
	return g->state == GROUP_EMPTY && g->generation_id == 0 && g->nmembers == 0 && g->npending == 0;
}
