// deps: src/util src/group
/*
 * test_group.c — the classic consumer-group state machine (src/group),
 * driven through gcoord with a fake clock: joins of 1..4 members, rebalances
 * on join, leave and session expiry, MEMBER_ID_REQUIRED, the initial
 * rebalance delay, generation fencing, static membership, protocol
 * selection, group size limit, sync expiry, bad input, Dead groups, the
 * metadata stores a step asks for, snapshot and load (a restart), the
 * OffsetCommit member check, adopting and unloading groups, and a
 * randomised run that checks every parked request is answered exactly once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "group/gcoord.h"
#include "group/group.h"
#include "util/err.h"
#include "util/log.h"

/* ================================================================ fixture */

#define GID "g1"

struct fx {
	struct group_cfg cfg;
	struct gcoord *gc;
	struct group_out out;   /* accumulates; tags are unique per test */
	int64_t now;            /* the fake clock, ms */
	uint64_t next_tag;
};

static void fx_init_cfg(struct fx *f, int32_t initial_delay_ms)
{
	memset(f, 0, sizeof *f);
	log_set_level(LOGL_ERROR);
	group_cfg_defaults(&f->cfg);
	f->cfg.initial_rebalance_delay_ms = initial_delay_ms;
	f->now = 1000000;
	f->next_tag = 1;
	group_out_init(&f->out);
}

static void fx_start(struct fx *f)
{
	f->gc = gcoord_new(&f->cfg);
	CHECK(f->gc != NULL);
}

static void fx_init(struct fx *f, int32_t initial_delay_ms)
{
	fx_init_cfg(f, initial_delay_ms);
	fx_start(f);
}

static void fx_fini(struct fx *f)
{
	gcoord_free(f->gc);
	group_out_fini(&f->out);
}

static struct group *fx_group(struct fx *f)
{
	struct group *g = gcoord_find(f->gc, GID);
	CHECK(g != NULL);
	return g;
}

/* ================================================================ helpers */

/* A join's parameters; protocols are names, metadata "md:<name>". */
struct jp {
	const char *member_id;
	const char *instance;
	const char *client_id;
	int16_t version;
	int32_t session_ms;
	int32_t rebalance_ms;
	const char *protocol_type;
	const char *protos[8];   /* NULL-terminated */
};

static uint64_t join_req(struct fx *f, const char *gid, const struct jp *p)
{
	static char md[8][64];
	struct group_protocol protos[8];
	int32_t n = 0;
	for (; n < 8 && p->protos[n]; n++) {
		snprintf(md[n], sizeof md[n], "md:%s", p->protos[n]);
		protos[n] = (struct group_protocol){ p->protos[n], (const uint8_t *)md[n], (int32_t)strlen(md[n]) };
	}
	struct group_join_req req = {
		.tag = f->next_tag++,
		.api_version = p->version,
		.member_id = p->member_id ? p->member_id : "",
		.group_instance_id = p->instance,
		.client_id = p->client_id ? p->client_id : "client",
		.client_host = "/127.0.0.1",
		.session_timeout_ms = p->session_ms ? p->session_ms : 10000,
		.rebalance_timeout_ms = p->rebalance_ms ? p->rebalance_ms : 20000,
		.protocol_type = p->protocol_type ? p->protocol_type : "consumer",
		.protocols = protos,
		.nprotocols = n,
	};
	gcoord_join(f->gc, gid, &req, f->now, &f->out);
	return req.tag;
}

/* The response for tag, NULL if none; fails if there are two. */
static const struct group_resp *resp(struct fx *f, uint64_t tag)
{
	const struct group_resp *r = NULL;
	for (size_t i = 0; i < f->out.n; i++)
		if (f->out.resps[i].tag == tag) {
			CHECK(r == NULL);
			r = &f->out.resps[i];
		}
	return r;
}

static const struct group_resp *resp_ok(struct fx *f, uint64_t tag)
{
	const struct group_resp *r = resp(f, tag);
	CHECK(r != NULL);
	return r;
}

/* A dynamic v3 join (no MEMBER_ID_REQUIRED) with protocol "range". */
static uint64_t join_new(struct fx *f, const char *client)
{
	struct jp p = { .client_id = client, .version = 3, .protos = { "range" } };
	return join_req(f, GID, &p);
}

/* Rejoin with a known member id (protocol "range"). */
static uint64_t rejoin(struct fx *f, const char *member_id)
{
	struct jp p = { .member_id = member_id, .version = 3, .protos = { "range" } };
	return join_req(f, GID, &p);
}

static uint64_t sync_req(struct fx *f, const char *member_id, const char *instance, int32_t gen,
                         const struct group_assignment *a, int32_t na)
{
	struct group_sync_req req = {
		.tag = f->next_tag++, .member_id = member_id, .group_instance_id = instance,
		.generation_id = gen, .assignments = a, .nassignments = na,
	};
	gcoord_sync(f->gc, GID, &req, f->now, &f->out);
	return req.tag;
}

static int hb(struct fx *f, const char *member_id, const char *instance, int32_t gen)
{
	return gcoord_heartbeat(f->gc, GID, member_id, instance, gen, f->now, &f->out);
}

static void advance(struct fx *f, int64_t ms)
{
	f->now += ms;
	gcoord_tick(f->gc, f->now, &f->out);
}

static int commit(struct fx *f, const char *member_id, const char *instance, int32_t gen)
{
	return gcoord_commit_check(f->gc, GID, member_id, instance, gen, f->now, &f->out);
}

/* How many stores of GID the steps since the last call asked for (every
 * store must be GID's); forgets them. */
static int take_stores(struct fx *f)
{
	int n = 0;
	for (size_t i = 0; i < f->out.nstores; i++) {
		CHECK_STR(f->out.stores[i], GID);
		free(f->out.stores[i]);
		n++;
	}
	f->out.nstores = 0;
	return n;
}

/* A broker restart `later` ms on: GID is rebuilt from its snapshot, the old
 * coordinator unloads everything (parked requests answered NOT_COORDINATOR
 * into f->out), and a new one adopts the rebuilt group. Returns it, or NULL
 * when it was vacant (adopt drops it). */
static struct group *restart(struct fx *f, int64_t later)
{
	struct group_snap snap;
	CHECK_EQ(group_snapshot(fx_group(f), &snap), 0);
	struct group *h = group_load(GID, &f->cfg, &snap, f->now + later);
	group_snap_fini(&snap);
	CHECK(h != NULL);
	gcoord_unload_all(f->gc, &f->out);
	CHECK_EQ(gcoord_count(f->gc), 0);
	gcoord_free(f->gc);
	f->now += later;
	fx_start(f);
	CHECK_EQ(gcoord_adopt(f->gc, h), 0);
	return gcoord_find(f->gc, GID);
}

/* Member ids of n members that became a Stable group of generation gen with
 * assignment "a:<i>" each (leader = ids[0]). */
struct stable { char ids[8][128]; int32_t gen; };

static void make_stable(struct fx *f, int n, struct stable *s)
{
	uint64_t tags[8];
	char client[32];
	for (int i = 0; i < n; i++) {
		snprintf(client, sizeof client, "c%d", i);
		tags[i] = join_new(f, client);
	}
	if (f->cfg.initial_rebalance_delay_ms > 0)
		advance(f, 20000);
	for (int i = 0; i < n; i++) {
		const struct group_resp *r = resp_ok(f, tags[i]);
		CHECK_EQ(r->error_code, KAFKA_NONE);
		snprintf(s->ids[i], sizeof s->ids[i], "%s", r->member_id);
		s->gen = r->generation_id;
	}
	CHECK_EQ(group_state(fx_group(f)), GROUP_COMPLETING_REBALANCE);
	static char abuf[8][16];
	struct group_assignment a[8];
	for (int i = 0; i < n; i++) {
		snprintf(abuf[i], sizeof abuf[i], "a:%d", i);
		a[i] = (struct group_assignment){ s->ids[i], (const uint8_t *)abuf[i], (int32_t)strlen(abuf[i]) };
	}
	uint64_t st[8];
	for (int i = n - 1; i >= 0; i--) /* followers first: they wait */
		st[i] = sync_req(f, s->ids[i], NULL, s->gen, i == 0 ? a : NULL, i == 0 ? n : 0);
	for (int i = 0; i < n; i++) {
		const struct group_resp *r = resp_ok(f, st[i]);
		CHECK_EQ(r->error_code, KAFKA_NONE);
		CHECK_EQ(r->assignment_len, strlen(abuf[i]));
		CHECK(memcmp(r->assignment, abuf[i], (size_t)r->assignment_len) == 0);
	}
	CHECK_EQ(group_state(fx_group(f)), GROUP_STABLE);
}

/* ================================================================ joins */

TEST(one_member_join_sync)
{
	struct fx f;
	fx_init(&f, 0);
	uint64_t t = join_new(&f, "c0");
	const struct group_resp *r = resp_ok(&f, t);
	CHECK_EQ(r->kind, GROUP_RESP_JOIN);
	CHECK_EQ(r->error_code, KAFKA_NONE);
	CHECK_EQ(r->generation_id, 1);
	CHECK_STR(r->protocol_type, "consumer");
	CHECK_STR(r->protocol_name, "range");
	CHECK_STR(r->leader, r->member_id);
	CHECK(strncmp(r->member_id, "c0-", 3) == 0);
	CHECK_EQ(strlen(r->member_id), 3 + 36);
	CHECK_EQ(r->nmembers, 1);
	CHECK_STR(r->members[0].member_id, r->member_id);
	CHECK_EQ(r->members[0].metadata_len, 8);
	CHECK(memcmp(r->members[0].metadata, "md:range", 8) == 0);
	char id[128];
	snprintf(id, sizeof id, "%s", r->member_id);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_COMPLETING_REBALANCE);
	struct group_assignment a = { id, (const uint8_t *)"P0", 2 };
	uint64_t s = sync_req(&f, id, NULL, 1, &a, 1);
	r = resp_ok(&f, s);
	CHECK_EQ(r->kind, GROUP_RESP_SYNC);
	CHECK_EQ(r->error_code, KAFKA_NONE);
	CHECK_EQ(r->assignment_len, 2);
	CHECK(memcmp(r->assignment, "P0", 2) == 0);
	CHECK_STR(r->protocol_name, "range");
	CHECK_EQ(group_state(fx_group(&f)), GROUP_STABLE);
	CHECK_EQ(hb(&f, id, NULL, 1), KAFKA_NONE);
	fx_fini(&f);
}

/* n members join within the initial delay: one generation, the first is the
 * leader and alone receives the member list. */
static void joins_of_n(int n)
{
	struct fx f;
	fx_init(&f, 3000);
	uint64_t tags[4];
	char client[16];
	for (int i = 0; i < n; i++) {
		snprintf(client, sizeof client, "c%d", i);
		tags[i] = join_new(&f, client);
		f.now += 100;
	}
	for (int i = 0; i < n; i++)
		CHECK(resp(&f, tags[i]) == NULL);
	advance(&f, 20000);
	const struct group_resp *first = resp_ok(&f, tags[0]);
	for (int i = 0; i < n; i++) {
		const struct group_resp *r = resp_ok(&f, tags[i]);
		CHECK_EQ(r->error_code, KAFKA_NONE);
		CHECK_EQ(r->generation_id, 1);
		CHECK_STR(r->leader, first->member_id);
		CHECK_STR(r->protocol_name, "range");
		CHECK_EQ(r->nmembers, i == 0 ? n : 0);
	}
	struct group *g = fx_group(&f);
	CHECK_EQ(group_nmembers(g), n);
	CHECK_EQ(group_generation(g), 1);
	CHECK_STR(group_leader(g), first->member_id);
	fx_fini(&f);
}

TEST(joins_of_1_member) { joins_of_n(1); }
TEST(joins_of_2_members) { joins_of_n(2); }
TEST(joins_of_3_members) { joins_of_n(3); }
TEST(joins_of_4_members) { joins_of_n(4); }

TEST(stable_group_of_3_distributes_assignments)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 3, &s);
	CHECK_EQ(s.gen, 1);
	const struct group_member *m = group_member_find(fx_group(&f), s.ids[2]);
	CHECK(m != NULL);
	CHECK_EQ(m->assignment_len, 3);
	fx_fini(&f);
}

TEST(fourth_member_triggers_rebalance)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 3, &s);
	uint64_t t4 = join_new(&f, "c3");
	CHECK(resp(&f, t4) == NULL);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_PREPARING_REBALANCE);
	/* Everyone learns of the rebalance from a heartbeat and rejoins. */
	uint64_t tr[3];
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(hb(&f, s.ids[i], NULL, 1), KAFKA_REBALANCE_IN_PROGRESS);
		tr[i] = rejoin(&f, s.ids[i]);
		if (i < 2)
			CHECK(resp(&f, tr[i]) == NULL);
	}
	/* The last rejoin completes the rebalance at once (no initial delay:
	 * the group was not Empty). */
	const struct group_resp *r4 = resp_ok(&f, t4);
	CHECK_EQ(r4->error_code, KAFKA_NONE);
	CHECK_EQ(r4->generation_id, 2);
	CHECK_STR(r4->leader, s.ids[0]);
	for (int i = 0; i < 3; i++) {
		const struct group_resp *r = resp_ok(&f, tr[i]);
		CHECK_EQ(r->generation_id, 2);
		CHECK_EQ(r->nmembers, i == 0 ? 4 : 0);
	}
	CHECK_EQ(group_nmembers(fx_group(&f)), 4);
	/* The old generation is fenced. */
	CHECK_EQ(hb(&f, s.ids[1], NULL, 1), KAFKA_ILLEGAL_GENERATION);
	uint64_t st = sync_req(&f, s.ids[1], NULL, 1, NULL, 0);
	CHECK_EQ(resp_ok(&f, st)->error_code, KAFKA_ILLEGAL_GENERATION);
	fx_fini(&f);
}

TEST(member_that_does_not_rejoin_is_dropped_at_rebalance_timeout)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 3, &s);
	uint64_t t4 = join_new(&f, "c3"); /* rebalance timeout 20000 */
	uint64_t t0 = rejoin(&f, s.ids[0]);
	for (int i = 0; i < 4; i++) {  /* 1 and 2 stay alive but do not rejoin */
		advance(&f, 4999);
		CHECK_EQ(hb(&f, s.ids[1], NULL, 1), KAFKA_REBALANCE_IN_PROGRESS);
		CHECK_EQ(hb(&f, s.ids[2], NULL, 1), KAFKA_REBALANCE_IN_PROGRESS);
	}
	advance(&f, 3);
	CHECK(resp(&f, t4) == NULL);
	CHECK_EQ(group_next_deadline(fx_group(&f)), f.now + 1);
	advance(&f, 1);
	CHECK_EQ(resp_ok(&f, t4)->generation_id, 2);
	CHECK_EQ(resp_ok(&f, t0)->nmembers, 2);
	CHECK_EQ(group_nmembers(fx_group(&f)), 2);
	CHECK_EQ(hb(&f, s.ids[1], NULL, 1), KAFKA_UNKNOWN_MEMBER_ID);
	fx_fini(&f);
}

TEST(completing_rebalance_rejoin_with_same_metadata_gets_same_generation)
{
	struct fx f;
	fx_init(&f, 0);
	uint64_t t = join_new(&f, "c0");
	char id[128];
	snprintf(id, sizeof id, "%s", resp_ok(&f, t)->member_id);
	uint64_t t2 = rejoin(&f, id);
	const struct group_resp *r = resp_ok(&f, t2);
	CHECK_EQ(r->generation_id, 1);
	CHECK_EQ(r->nmembers, 1); /* the leader again gets the list */
	CHECK_EQ(group_state(fx_group(&f)), GROUP_COMPLETING_REBALANCE);
	/* Changed metadata forces a rebalance (range stays listed: a lone
	 * member's new list must still share a protocol with the group). */
	struct jp p = { .member_id = id, .version = 3, .protos = { "roundrobin", "range" } };
	uint64_t t3 = join_req(&f, GID, &p);
	r = resp_ok(&f, t3);
	CHECK_EQ(r->generation_id, 2);
	CHECK_STR(r->protocol_name, "roundrobin");
	fx_fini(&f);
}

TEST(leader_join_in_stable_rebalances_follower_join_does_not)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 2, &s);
	uint64_t tf = rejoin(&f, s.ids[1]);
	const struct group_resp *r = resp_ok(&f, tf);
	CHECK_EQ(r->generation_id, 1);
	CHECK_STR(r->leader, s.ids[0]);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_STABLE);
	uint64_t tl = rejoin(&f, s.ids[0]);
	CHECK(resp(&f, tl) == NULL);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_PREPARING_REBALANCE);
	fx_fini(&f);
}

/* ================================================================ leave, expiry */

TEST(leave_triggers_rebalance_and_leader_moves)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 3, &s);
	struct group_leave_member lm[] = { { s.ids[0], NULL, -1 } };
	CHECK_EQ(gcoord_leave(f.gc, GID, lm, 1, f.now, &f.out), KAFKA_NONE);
	CHECK_EQ(lm[0].error_code, KAFKA_NONE);
	struct group *g = fx_group(&f);
	CHECK_EQ(group_state(g), GROUP_PREPARING_REBALANCE);
	CHECK_STR(group_leader(g), s.ids[1]); /* the earliest remaining member */
	uint64_t t1 = rejoin(&f, s.ids[1]);
	uint64_t t2 = rejoin(&f, s.ids[2]);
	const struct group_resp *r = resp_ok(&f, t1);
	CHECK_EQ(r->generation_id, 2);
	CHECK_STR(r->leader, s.ids[1]);
	CHECK_EQ(r->nmembers, 2);
	CHECK_EQ(resp_ok(&f, t2)->nmembers, 0);
	/* Leaving twice: unknown. */
	CHECK_EQ(gcoord_leave(f.gc, GID, lm, 1, f.now, &f.out), KAFKA_NONE);
	CHECK_EQ(lm[0].error_code, KAFKA_UNKNOWN_MEMBER_ID);
	fx_fini(&f);
}

TEST(last_member_leaving_empties_the_group)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 1, &s);
	struct group_leave_member lm[] = { { s.ids[0], NULL, -1 } };
	gcoord_leave(f.gc, GID, lm, 1, f.now, &f.out);
	struct group *g = fx_group(&f);
	CHECK_EQ(group_state(g), GROUP_EMPTY);
	CHECK_EQ(group_generation(g), 2);
	CHECK(group_protocol_name(g) == NULL);
	CHECK(group_leader(g) == NULL);
	CHECK_EQ(group_next_deadline(g), INT64_MAX);
	fx_fini(&f);
}

TEST(session_timeout_expiry_via_fake_clock)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 2, &s); /* session 10000 */
	struct group *g = fx_group(&f);
	int64_t t0 = f.now;
	CHECK(group_next_deadline(g) > t0);
	for (int i = 0; i < 3; i++) {   /* member 0 heartbeats, member 1 is silent */
		advance(&f, 3000);
		CHECK_EQ(hb(&f, s.ids[0], NULL, 1), KAFKA_NONE);
	}
	CHECK_EQ(group_state(g), GROUP_STABLE);
	/* make_stable's join responses set both deadlines; member 1's is due
	 * 10000 after the join completed, and the sync made it Stable. */
	const struct group_member *m1 = group_member_find(g, s.ids[1]);
	CHECK(m1 != NULL);
	int64_t due = m1->hb_deadline_ms;
	CHECK_EQ(group_next_deadline(g), due);
	advance(&f, due - 1 - f.now);
	CHECK_EQ(group_nmembers(g), 2);
	advance(&f, 1);
	CHECK_EQ(group_nmembers(g), 1);
	CHECK_EQ(group_state(g), GROUP_PREPARING_REBALANCE);
	CHECK_EQ(hb(&f, s.ids[0], NULL, 1), KAFKA_REBALANCE_IN_PROGRESS);
	CHECK_EQ(hb(&f, s.ids[1], NULL, 1), KAFKA_UNKNOWN_MEMBER_ID);
	uint64_t t = rejoin(&f, s.ids[0]);
	CHECK_EQ(resp_ok(&f, t)->generation_id, 2);
	fx_fini(&f);
}

TEST(expiry_is_applied_before_a_late_event)
{
	/* The caller ticked late: a heartbeat after the session ended is
	 * UNKNOWN_MEMBER_ID even without a tick in between. */
	struct fx f;
	fx_init(&f, 0);
	struct stable s;
	make_stable(&f, 1, &s);
	f.now += 10000;
	CHECK_EQ(hb(&f, s.ids[0], NULL, 1), KAFKA_UNKNOWN_MEMBER_ID);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_EMPTY);
	fx_fini(&f);
}

/* ================================================================ MEMBER_ID_REQUIRED */

TEST(member_id_required_flow)
{
	struct fx f;
	fx_init(&f, 0);
	struct jp p = { .client_id = "rdkafka", .version = 4, .protos = { "range" } };
	uint64_t t = join_req(&f, GID, &p);
	const struct group_resp *r = resp_ok(&f, t);
	CHECK_EQ(r->error_code, KAFKA_MEMBER_ID_REQUIRED);
	CHECK(strncmp(r->member_id, "rdkafka-", 8) == 0);
	CHECK_EQ(strlen(r->member_id), 8 + 36);
	CHECK_EQ(r->member_id[8 + 14], '4'); /* UUID version 4 */
	char id[128];
	snprintf(id, sizeof id, "%s", r->member_id);
	struct group *g = fx_group(&f);
	CHECK_EQ(group_npending(g), 1);
	CHECK_EQ(group_nmembers(g), 0);
	CHECK_EQ(group_state(g), GROUP_EMPTY);
	/* A made-up id is not accepted. */
	p.member_id = "rdkafka-made-up";
	CHECK_EQ(resp_ok(&f, join_req(&f, GID, &p))->error_code, KAFKA_UNKNOWN_MEMBER_ID);
	/* Rejoining with the given id joins. */
	p.member_id = id;
	r = resp_ok(&f, join_req(&f, GID, &p));
	CHECK_EQ(r->error_code, KAFKA_NONE);
	CHECK_STR(r->member_id, id);
	CHECK_EQ(r->generation_id, 1);
	CHECK_EQ(group_npending(g), 0);
	fx_fini(&f);
}

TEST(pending_member_expires_after_session_timeout)
{
	struct fx f;
	fx_init(&f, 0);
	struct jp p = { .version = 5, .session_ms = 8000, .protos = { "range" } };
	uint64_t t = join_req(&f, GID, &p);
	char id[128];
	snprintf(id, sizeof id, "%s", resp_ok(&f, t)->member_id);
	CHECK_EQ(gcoord_next_deadline(f.gc), f.now + 8000);
	advance(&f, 7999);
	CHECK_EQ(group_npending(fx_group(&f)), 1);
	advance(&f, 1);
	/* Nothing left: the vacant group is dropped; the id no longer works. */
	CHECK(gcoord_find(f.gc, GID) == NULL);
	p.member_id = id;
	CHECK_EQ(resp_ok(&f, join_req(&f, GID, &p))->error_code, KAFKA_UNKNOWN_MEMBER_ID);
	fx_fini(&f);
}

TEST(pending_member_holds_the_rebalance_until_it_rejoins)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 1, &s);
	struct jp p = { .client_id = "late", .version = 4, .protos = { "range" } };
	uint64_t t = join_req(&f, GID, &p);
	char id[128];
	snprintf(id, sizeof id, "%s", resp_ok(&f, t)->member_id);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_STABLE); /* an id alone changes nothing */
	uint64_t t0 = rejoin(&f, s.ids[0]);                /* the leader starts a rebalance */
	CHECK(resp(&f, t0) == NULL);                        /* ... and waits for the pending id */
	p.member_id = id;
	uint64_t t1 = join_req(&f, GID, &p);
	CHECK_EQ(resp_ok(&f, t0)->generation_id, 2);
	CHECK_EQ(resp_ok(&f, t1)->generation_id, 2);
	CHECK_EQ(resp_ok(&f, t0)->nmembers, 2);
	fx_fini(&f);
}

/* ================================================================ initial delay */

TEST(initial_rebalance_delay_extends_while_members_join)
{
	struct fx f;
	fx_init(&f, 3000);
	int64_t t0 = f.now;
	uint64_t a = join_new(&f, "a");
	CHECK_EQ(gcoord_next_deadline(f.gc), t0 + 3000);
	advance(&f, 1000);
	uint64_t b = join_new(&f, "b");
	advance(&f, 1999);
	CHECK(resp(&f, a) == NULL);
	advance(&f, 1);            /* t0+3000: b joined during the delay: +3000 */
	CHECK(resp(&f, a) == NULL);
	CHECK_EQ(gcoord_next_deadline(f.gc), t0 + 6000);
	advance(&f, 2999);
	CHECK(resp(&f, b) == NULL);
	advance(&f, 1);            /* t0+6000: nobody new: complete */
	CHECK_EQ(resp_ok(&f, a)->generation_id, 1);
	CHECK_EQ(resp_ok(&f, a)->nmembers, 2);
	CHECK_EQ(resp_ok(&f, b)->generation_id, 1);
	fx_fini(&f);
}

TEST(initial_rebalance_delay_is_capped_by_rebalance_timeout)
{
	/* delay 3000, rebalance timeout 10000; a join every 2000 ms keeps
	 * extending, but the whole wait stops at 10000. */
	struct fx f;
	fx_init(&f, 3000);
	int64_t t0 = f.now;
	uint64_t first = 0;
	for (int i = 0; i < 5; i++) {
		char c[8];
		snprintf(c, sizeof c, "m%d", i);
		struct jp p = { .client_id = c, .version = 3, .rebalance_ms = 10000, .protos = { "range" } };
		uint64_t t = join_req(&f, GID, &p);
		if (i == 0)
			first = t;
		f.now = t0 + 2000 * (i + 1) - (i == 4 ? 500 : 0); /* the last at 9500 */
		gcoord_tick(f.gc, f.now, &f.out);
		CHECK(resp(&f, first) == NULL);
	}
	CHECK_EQ(gcoord_next_deadline(f.gc), t0 + 10000);
	advance(&f, t0 + 10000 - f.now);
	CHECK_EQ(resp_ok(&f, first)->nmembers, 5);
	fx_fini(&f);
}

TEST(no_initial_delay_for_a_group_that_is_not_empty)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 1, &s);
	uint64_t t = join_new(&f, "b");
	uint64_t t0 = rejoin(&f, s.ids[0]);
	CHECK_EQ(resp_ok(&f, t)->generation_id, 2);
	CHECK_EQ(resp_ok(&f, t0)->generation_id, 2);
	fx_fini(&f);
}

/* ================================================================ fencing */

TEST(heartbeat_and_sync_errors)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 2, &s);
	CHECK_EQ(hb(&f, "nobody", NULL, 1), KAFKA_UNKNOWN_MEMBER_ID);
	CHECK_EQ(hb(&f, "", NULL, 1), KAFKA_UNKNOWN_MEMBER_ID);
	CHECK_EQ(hb(&f, s.ids[0], NULL, 0), KAFKA_ILLEGAL_GENERATION);
	CHECK_EQ(hb(&f, s.ids[0], NULL, 2), KAFKA_ILLEGAL_GENERATION);
	CHECK_EQ(gcoord_heartbeat(f.gc, "other", s.ids[0], NULL, 1, f.now, &f.out), KAFKA_UNKNOWN_MEMBER_ID);
	CHECK_EQ(resp_ok(&f, sync_req(&f, "nobody", NULL, 1, NULL, 0))->error_code, KAFKA_UNKNOWN_MEMBER_ID);
	CHECK_EQ(resp_ok(&f, sync_req(&f, s.ids[1], NULL, 7, NULL, 0))->error_code, KAFKA_ILLEGAL_GENERATION);
	/* Stable: a repeated sync returns the stored assignment. */
	const struct group_resp *r = resp_ok(&f, sync_req(&f, s.ids[1], NULL, 1, NULL, 0));
	CHECK_EQ(r->error_code, KAFKA_NONE);
	CHECK(r->assignment_len == 3 && memcmp(r->assignment, "a:1", 3) == 0);
	/* Sync naming another protocol (v5+). */
	struct group_sync_req sr = { .tag = f.next_tag++, .member_id = s.ids[1], .generation_id = 1,
	                             .protocol_type = "consumer", .protocol_name = "roundrobin" };
	gcoord_sync(f.gc, GID, &sr, f.now, &f.out);
	CHECK_EQ(resp_ok(&f, sr.tag)->error_code, KAFKA_INCONSISTENT_GROUP_PROTOCOL);
	/* During a rebalance. */
	rejoin(&f, s.ids[0]);
	CHECK_EQ(hb(&f, s.ids[1], NULL, 1), KAFKA_REBALANCE_IN_PROGRESS);
	CHECK_EQ(resp_ok(&f, sync_req(&f, s.ids[1], NULL, 1, NULL, 0))->error_code, KAFKA_REBALANCE_IN_PROGRESS);
	fx_fini(&f);
}

TEST(followers_wait_for_leader_sync_and_rebalance_answers_them)
{
	struct fx f;
	fx_init(&f, 3000);
	uint64_t a = join_new(&f, "a"), b = join_new(&f, "b");
	advance(&f, 20000);
	char ida[128], idb[128];
	snprintf(ida, sizeof ida, "%s", resp_ok(&f, a)->member_id);
	snprintf(idb, sizeof idb, "%s", resp_ok(&f, b)->member_id);
	uint64_t sb = sync_req(&f, idb, NULL, 1, NULL, 0);
	CHECK(resp(&f, sb) == NULL);
	/* A new member arrives before the leader syncs: the waiting follower is
	 * told to rejoin. */
	join_new(&f, "c");
	CHECK_EQ(resp_ok(&f, sb)->error_code, KAFKA_REBALANCE_IN_PROGRESS);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_PREPARING_REBALANCE);
	fx_fini(&f);
}

TEST(sync_expiry_removes_members_that_never_synced)
{
	struct fx f;
	fx_init(&f, 3000);
	uint64_t a = join_new(&f, "a"), b = join_new(&f, "b");
	advance(&f, 20000);
	char ida[128], idb[128];
	snprintf(ida, sizeof ida, "%s", resp_ok(&f, a)->member_id);
	snprintf(idb, sizeof idb, "%s", resp_ok(&f, b)->member_id);
	uint64_t sb = sync_req(&f, idb, NULL, 1, NULL, 0);
	/* rebalance timeout 20000; b's parked sync keeps it alive, a heartbeats
	 * (NONE in CompletingRebalance) but never syncs */
	for (int i = 0; i < 4; i++) {
		advance(&f, 4000);
		CHECK_EQ(hb(&f, ida, NULL, 1), KAFKA_NONE);
	}
	advance(&f, 3999);
	CHECK(resp(&f, sb) == NULL);
	advance(&f, 1);
	CHECK_EQ(resp_ok(&f, sb)->error_code, KAFKA_REBALANCE_IN_PROGRESS);
	struct group *g = fx_group(&f);
	CHECK(group_member_find(g, ida) == NULL);
	CHECK_STR(group_leader(g), idb);
	uint64_t tb = rejoin(&f, idb);
	CHECK_EQ(resp_ok(&f, tb)->generation_id, 2);
	fx_fini(&f);
}

/* ================================================================ static membership */

static uint64_t join_static(struct fx *f, const char *member_id, const char *instance, int16_t version,
                            const char *proto0, const char *proto1)
{
	struct jp p = { .member_id = member_id, .instance = instance, .client_id = "java", .version = version,
	                .protos = { proto0, proto1 } };
	return join_req(f, GID, &p);
}

/* Two static members, Stable at generation 1, assignments "A"/"B". */
static void make_static_pair(struct fx *f, char ida[128], char idb[128])
{
	uint64_t a = join_static(f, "", "inst-a", 5, "range", NULL);
	uint64_t b = join_static(f, "", "inst-b", 5, "range", NULL);
	/* Static members get their id at once, no MEMBER_ID_REQUIRED. */
	CHECK(resp(f, a) == NULL);
	advance(f, 20000);
	snprintf(ida, 128, "%s", resp_ok(f, a)->member_id);
	snprintf(idb, 128, "%s", resp_ok(f, b)->member_id);
	CHECK(strncmp(ida, "inst-a-", 7) == 0);
	struct group_assignment as[] = { { ida, (const uint8_t *)"A", 1 }, { idb, (const uint8_t *)"B", 1 } };
	sync_req(f, idb, "inst-b", 1, NULL, 0);
	sync_req(f, ida, "inst-a", 1, as, 2);
	CHECK_EQ(group_state(fx_group(f)), GROUP_STABLE);
}

TEST(static_member_rejoin_without_rebalance_and_old_id_fenced)
{
	struct fx f;
	fx_init(&f, 3000);
	char ida[128], idb[128];
	make_static_pair(&f, ida, idb);
	/* inst-b restarts: empty member id, same instance id and protocols. */
	uint64_t t = join_static(&f, "", "inst-b", 5, "range", NULL);
	const struct group_resp *r = resp_ok(&f, t);
	CHECK_EQ(r->error_code, KAFKA_NONE);
	CHECK_EQ(r->generation_id, 1);
	CHECK(strcmp(r->member_id, idb) != 0);
	CHECK(strncmp(r->member_id, "inst-b-", 7) == 0);
	CHECK_STR(r->leader, ida);
	CHECK_EQ(r->nmembers, 0);
	char idb2[128];
	snprintf(idb2, sizeof idb2, "%s", r->member_id);
	struct group *g = fx_group(&f);
	CHECK_EQ(group_state(g), GROUP_STABLE);
	CHECK_EQ(group_generation(g), 1);
	CHECK_EQ(group_nmembers(g), 2);
	/* Its old assignment is kept for the new id. */
	r = resp_ok(&f, sync_req(&f, idb2, "inst-b", 1, NULL, 0));
	CHECK_EQ(r->error_code, KAFKA_NONE);
	CHECK(r->assignment_len == 1 && r->assignment[0] == 'B');
	CHECK_EQ(hb(&f, idb2, "inst-b", 1), KAFKA_NONE);
	/* The old id is fenced everywhere. */
	CHECK_EQ(hb(&f, idb, "inst-b", 1), KAFKA_FENCED_INSTANCE_ID);
	CHECK_EQ(resp_ok(&f, sync_req(&f, idb, "inst-b", 1, NULL, 0))->error_code, KAFKA_FENCED_INSTANCE_ID);
	CHECK_EQ(resp_ok(&f, join_static(&f, idb, "inst-b", 5, "range", NULL))->error_code,
	         KAFKA_FENCED_INSTANCE_ID);
	struct group_leave_member lm[] = { { idb, "inst-b", -1 } };
	gcoord_leave(f.gc, GID, lm, 1, f.now, &f.out);
	CHECK_EQ(lm[0].error_code, KAFKA_FENCED_INSTANCE_ID);
	/* A known member id with an unknown instance id. */
	CHECK_EQ(resp_ok(&f, join_static(&f, ida, "inst-zzz", 5, "range", NULL))->error_code,
	         KAFKA_UNKNOWN_MEMBER_ID);
	CHECK_EQ(group_state(g), GROUP_STABLE);
	fx_fini(&f);
}

TEST(static_leader_rejoin_skip_assignment_from_v9)
{
	struct fx f;
	fx_init(&f, 3000);
	char ida[128], idb[128];
	make_static_pair(&f, ida, idb);
	/* v5: the old leader id comes back, so the new id does not think it leads. */
	const struct group_resp *r = resp_ok(&f, join_static(&f, "", "inst-a", 5, "range", NULL));
	CHECK_EQ(r->error_code, KAFKA_NONE);
	CHECK_STR(r->leader, ida);
	CHECK(strcmp(r->member_id, ida) != 0);
	CHECK_EQ(r->skip_assignment, false);
	CHECK_EQ(r->nmembers, 0);
	char ida2[128];
	snprintf(ida2, sizeof ida2, "%s", r->member_id);
	CHECK_STR(group_leader(fx_group(&f)), ida2);
	/* v9 (KIP-814): told it leads, with the members, and to skip assigning. */
	r = resp_ok(&f, join_static(&f, "", "inst-a", 9, "range", NULL));
	CHECK_EQ(r->error_code, KAFKA_NONE);
	CHECK_STR(r->leader, r->member_id);
	CHECK_EQ(r->skip_assignment, true);
	CHECK_EQ(r->nmembers, 2);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_STABLE);
	fx_fini(&f);
}

TEST(static_rejoin_that_changes_the_protocol_rebalances)
{
	struct fx f;
	fx_init(&f, 3000);
	char ida[128], idb[128];
	make_static_pair(&f, ida, idb);
	/* b now prefers roundrobin, but a supports only range: the selection
	 * stays range, so no rebalance. */
	uint64_t t = join_static(&f, "", "inst-b", 5, "roundrobin", "range");
	CHECK_EQ(resp_ok(&f, t)->error_code, KAFKA_NONE);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_STABLE);
	/* b no longer supports range at all: the selection would change. */
	t = join_static(&f, "", "inst-b", 5, "roundrobin", NULL);
	CHECK_EQ(resp_ok(&f, t)->error_code, KAFKA_INCONSISTENT_GROUP_PROTOCOL);
	/* a moves to roundrobin first while still supporting range: the vote
	 * (a: roundrobin, b: roundrobin) changes the selection: rebalance. */
	t = join_static(&f, "", "inst-a", 5, "roundrobin", "range");
	CHECK(resp(&f, t) == NULL);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_PREPARING_REBALANCE);
	fx_fini(&f);
}

TEST(static_member_replaced_while_waiting_is_fenced)
{
	struct fx f;
	fx_init(&f, 3000);
	uint64_t a = join_static(&f, "", "inst-a", 5, "range", NULL);
	uint64_t b = join_static(&f, "", "inst-b", 5, "range", NULL);
	advance(&f, 20000);
	char ida[128], idb[128];
	snprintf(ida, sizeof ida, "%s", resp_ok(&f, a)->member_id);
	snprintf(idb, sizeof idb, "%s", resp_ok(&f, b)->member_id);
	uint64_t sb = sync_req(&f, idb, "inst-b", 1, NULL, 0); /* waits for the leader */
	uint64_t t = join_static(&f, "", "inst-b", 5, "range", NULL);
	CHECK_EQ(resp_ok(&f, sb)->error_code, KAFKA_FENCED_INSTANCE_ID);
	/* CompletingRebalance: the leader may be assigning to the old id. */
	CHECK(resp(&f, t) == NULL);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_PREPARING_REBALANCE);
	CHECK_EQ(take_stores(&f), 0); /* no generation was ever Stable */
	fx_fini(&f);
}

TEST(static_member_not_rejoining_is_kept_until_session_expiry)
{
	struct fx f;
	fx_init(&f, 3000);
	char ida[128], idb[128];
	make_static_pair(&f, ida, idb);
	uint64_t t = join_static(&f, ida, "inst-a", 5, "range", NULL); /* leader: rebalance */
	CHECK(resp(&f, t) == NULL);
	/* inst-b heartbeats only. At the rebalance timeout the join completes
	 * with b still a member (KIP-345). */
	for (int i = 0; i < 5; i++) {
		advance(&f, 4000);
		hb(&f, idb, "inst-b", 1);
	}
	const struct group_resp *r = resp_ok(&f, t);
	CHECK_EQ(r->generation_id, 2);
	CHECK_EQ(r->nmembers, 2);
	CHECK(group_member_find(fx_group(&f), idb) != NULL);
	fx_fini(&f);
}

TEST(batched_leave_by_instance_id)
{
	struct fx f;
	fx_init(&f, 3000);
	char ida[128], idb[128];
	make_static_pair(&f, ida, idb);
	struct group_leave_member lm[] = {
		{ "", "inst-a", -1 }, { "", "inst-nope", -1 }, { idb, "inst-b", -1 },
	};
	CHECK_EQ(gcoord_leave(f.gc, GID, lm, 3, f.now, &f.out), KAFKA_NONE);
	CHECK_EQ(lm[0].error_code, KAFKA_NONE);
	CHECK_EQ(lm[1].error_code, KAFKA_UNKNOWN_MEMBER_ID);
	CHECK_EQ(lm[2].error_code, KAFKA_NONE);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_EMPTY);
	CHECK_EQ(group_generation(fx_group(&f)), 2);
	struct group_leave_member u[] = { { "x", NULL, -1 } };
	CHECK_EQ(gcoord_leave(f.gc, "unknown-group", u, 1, f.now, &f.out), KAFKA_NONE);
	CHECK_EQ(u[0].error_code, KAFKA_UNKNOWN_MEMBER_ID);
	fx_fini(&f);
}

/* ================================================================ protocols */

/* Joins members with the given protocol lists within one initial delay and
 * returns the selected protocol (copied into sel). */
static void select_of(const char *const lists[][3], int n, char sel[64])
{
	struct fx f;
	fx_init(&f, 3000);
	uint64_t first = 0;
	for (int i = 0; i < n; i++) {
		struct jp p = { .version = 3, .protos = { lists[i][0], lists[i][1], lists[i][2] } };
		uint64_t t = join_req(&f, GID, &p);
		if (i == 0)
			first = t;
		CHECK(resp(&f, t) == NULL);
	}
	advance(&f, 20000);
	const struct group_resp *r = resp_ok(&f, first);
	CHECK_EQ(r->error_code, KAFKA_NONE);
	snprintf(sel, 64, "%s", r->protocol_name);
	/* The leader sees each member's metadata for the chosen protocol. */
	char want[80];
	snprintf(want, sizeof want, "md:%s", sel);
	for (int i = 0; i < r->nmembers; i++)
		CHECK(r->members[i].metadata_len == (int32_t)strlen(want) &&
		      memcmp(r->members[i].metadata, want, strlen(want)) == 0);
	fx_fini(&f);
}

TEST(protocol_selection_by_votes_among_common_protocols)
{
	char sel[64];
	const char *const common[][3] = { { "range", "roundrobin" }, { "roundrobin", "range" }, { "roundrobin" } };
	select_of(common, 3, sel);
	CHECK_STR(sel, "roundrobin"); /* the only common one */
	const char *const votes[][3] = { { "a", "b" }, { "b", "a" }, { "b", "a" } };
	select_of(votes, 3, sel);
	CHECK_STR(sel, "b");          /* 2 votes to 1 */
	const char *const tie[][3] = { { "a", "b" }, { "b", "a" } };
	select_of(tie, 2, sel);
	CHECK_STR(sel, "a");          /* tie: the earliest member's preference */
	const char *const three[][3] = { { "x", "y", "z" }, { "z", "y" }, { "y", "z" }, { "y", "z" } };
	select_of(three, 4, sel);
	CHECK_STR(sel, "y");
}

TEST(inconsistent_protocols_are_refused)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 1, &s);
	struct jp none_common = { .version = 3, .protos = { "roundrobin" } };
	CHECK_EQ(resp_ok(&f, join_req(&f, GID, &none_common))->error_code, KAFKA_INCONSISTENT_GROUP_PROTOCOL);
	struct jp other_type = { .version = 3, .protocol_type = "connect", .protos = { "range" } };
	CHECK_EQ(resp_ok(&f, join_req(&f, GID, &other_type))->error_code, KAFKA_INCONSISTENT_GROUP_PROTOCOL);
	CHECK_EQ(group_nmembers(fx_group(&f)), 1);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_STABLE);
	fx_fini(&f);
}

/* ================================================================ limits, bad input */

TEST(group_max_size_reached)
{
	struct fx f;
	fx_init_cfg(&f, 3000);
	f.cfg.max_size = 2;
	fx_start(&f);
	struct stable s;
	make_stable(&f, 2, &s);
	const struct group_resp *r = resp_ok(&f, join_new(&f, "third"));
	CHECK_EQ(r->error_code, KAFKA_GROUP_MAX_SIZE_REACHED);
	CHECK_STR(r->member_id, "");
	CHECK_EQ(group_nmembers(fx_group(&f)), 2);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_STABLE);
	/* Members already in are accepted. */
	CHECK_EQ(resp_ok(&f, rejoin(&f, s.ids[1]))->error_code, KAFKA_NONE);
	fx_fini(&f);
}

TEST(bad_input_gets_kafka_codes_and_others_keep_working)
{
	struct fx f;
	fx_init(&f, 3000);
	/* empty protocol list: no group is created for it */
	struct jp empty = { .version = 4 };
	CHECK_EQ(resp_ok(&f, join_req(&f, GID, &empty))->error_code, KAFKA_INCONSISTENT_GROUP_PROTOCOL);
	CHECK(gcoord_find(f.gc, GID) == NULL);
	struct jp no_type = { .version = 4, .protocol_type = "", .protos = { "range" } };
	CHECK_EQ(resp_ok(&f, join_req(&f, GID, &no_type))->error_code, KAFKA_INCONSISTENT_GROUP_PROTOCOL);
	/* absurd protocol count */
	static struct group_protocol many[GROUP_MAX_PROTOCOLS + 1];
	for (int i = 0; i <= GROUP_MAX_PROTOCOLS; i++)
		many[i] = (struct group_protocol){ "p", NULL, 0 };
	struct group_join_req req = { .tag = 9001, .api_version = 5, .member_id = "", .client_id = "c",
	                              .session_timeout_ms = 10000, .rebalance_timeout_ms = 10000,
	                              .protocol_type = "consumer", .protocols = many,
	                              .nprotocols = GROUP_MAX_PROTOCOLS + 1 };
	gcoord_join(f.gc, GID, &req, f.now, &f.out);
	CHECK_EQ(resp_ok(&f, 9001)->error_code, KAFKA_INVALID_REQUEST);
	req.tag = 9002;
	req.nprotocols = -1;
	gcoord_join(f.gc, GID, &req, f.now, &f.out);
	CHECK_EQ(resp_ok(&f, 9002)->error_code, KAFKA_INVALID_REQUEST);
	/* huge metadata blob */
	uint8_t *big = calloc(1, GROUP_MAX_METADATA_BYTES + 1);
	CHECK(big != NULL);
	struct group_protocol huge = { "range", big, GROUP_MAX_METADATA_BYTES + 1 };
	req.tag = 9003;
	req.protocols = &huge;
	req.nprotocols = 1;
	gcoord_join(f.gc, GID, &req, f.now, &f.out);
	CHECK_EQ(resp_ok(&f, 9003)->error_code, KAFKA_INVALID_REQUEST);
	huge.metadata_len = -5;
	req.tag = 9004;
	gcoord_join(f.gc, GID, &req, f.now, &f.out);
	CHECK_EQ(resp_ok(&f, 9004)->error_code, KAFKA_INVALID_REQUEST);
	free(big);
	CHECK(gcoord_find(f.gc, GID) == NULL);
	/* session timeouts outside group.min/max.session.timeout.ms */
	struct jp short_s = { .version = 4, .session_ms = 5999, .protos = { "range" } };
	CHECK_EQ(resp_ok(&f, join_req(&f, GID, &short_s))->error_code, KAFKA_INVALID_SESSION_TIMEOUT);
	struct jp long_s = { .version = 4, .session_ms = 1800001, .protos = { "range" } };
	CHECK_EQ(resp_ok(&f, join_req(&f, GID, &long_s))->error_code, KAFKA_INVALID_SESSION_TIMEOUT);
	/* empty group id */
	struct jp ok = { .version = 3, .protos = { "range" } };
	CHECK_EQ(resp_ok(&f, join_req(&f, "", &ok))->error_code, KAFKA_INVALID_GROUP_ID);
	CHECK_EQ(resp_ok(&f, join_req(&f, NULL, &ok))->error_code, KAFKA_INVALID_GROUP_ID);
	CHECK_EQ(gcoord_heartbeat(f.gc, "", "m", NULL, 1, f.now, &f.out), KAFKA_INVALID_GROUP_ID);
	struct group_leave_member lm[] = { { "m", NULL, -1 } };
	CHECK_EQ(gcoord_leave(f.gc, "", lm, 1, f.now, &f.out), KAFKA_INVALID_GROUP_ID);
	struct group_sync_req sr = { .tag = 9005, .member_id = "m", .generation_id = 1 };
	gcoord_sync(f.gc, "", &sr, f.now, &f.out);
	CHECK_EQ(resp_ok(&f, 9005)->error_code, KAFKA_INVALID_GROUP_ID);
	/* a known member id for a group that does not exist */
	struct jp ghost = { .member_id = "ghost", .version = 4, .protos = { "range" } };
	CHECK_EQ(resp_ok(&f, join_req(&f, GID, &ghost))->error_code, KAFKA_UNKNOWN_MEMBER_ID);
	CHECK_EQ(gcoord_count(f.gc), 0);
	/* the coordinator still serves a well-formed group */
	struct stable s;
	make_stable(&f, 2, &s);
	/* an oversized assignment from the leader */
	uint8_t *ba = calloc(1, GROUP_MAX_ASSIGNMENT_BYTES + 1);
	CHECK(ba != NULL);
	struct group_assignment a = { s.ids[0], ba, GROUP_MAX_ASSIGNMENT_BYTES + 1 };
	CHECK_EQ(resp_ok(&f, sync_req(&f, s.ids[0], NULL, 1, &a, 1))->error_code, KAFKA_INVALID_REQUEST);
	free(ba);
	CHECK_EQ(hb(&f, s.ids[1], NULL, 1), KAFKA_NONE);
	fx_fini(&f);
}

/* ================================================================ Dead */

TEST(delete_only_an_empty_group)
{
	struct fx f;
	fx_init(&f, 0);
	struct stable s;
	make_stable(&f, 1, &s);
	CHECK_EQ(gcoord_delete(f.gc, GID), KAFKA_NON_EMPTY_GROUP);
	struct group_leave_member lm[] = { { s.ids[0], NULL, -1 } };
	gcoord_leave(f.gc, GID, lm, 1, f.now, &f.out);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_EMPTY);
	CHECK_EQ(gcoord_delete(f.gc, GID), KAFKA_NONE);
	CHECK(gcoord_find(f.gc, GID) == NULL);
	CHECK_EQ(gcoord_delete(f.gc, GID), KAFKA_GROUP_ID_NOT_FOUND);
	/* A later join starts a new group from generation 0. */
	uint64_t t = join_new(&f, "again");
	CHECK_EQ(resp_ok(&f, t)->generation_id, 1);
	fx_fini(&f);
}

TEST(dead_group_answers_coordinator_not_available)
{
	struct group_cfg cfg;
	group_cfg_defaults(&cfg);
	cfg.initial_rebalance_delay_ms = 3000;
	log_set_level(LOGL_ERROR);
	struct group *g = group_new("dead", &cfg);
	CHECK(g != NULL);
	struct group_out out;
	group_out_init(&out);
	struct group_protocol pr = { "range", (const uint8_t *)"x", 1 };
	struct group_join_req req = { .tag = 1, .api_version = 3, .member_id = "", .client_id = "c",
	                              .session_timeout_ms = 10000, .rebalance_timeout_ms = 10000,
	                              .protocol_type = "consumer", .protocols = &pr, .nprotocols = 1 };
	group_join(g, &req, 0, &out);
	CHECK_EQ(out.n, 0);               /* waiting in the initial delay */
	CHECK_EQ(group_delete(g), KAFKA_NON_EMPTY_GROUP);
	group_unload(g, &out);            /* the coordinator moved away */
	CHECK_EQ(out.n, 1);
	CHECK_EQ(out.resps[0].tag, 1);
	CHECK_EQ(out.resps[0].error_code, KAFKA_NOT_COORDINATOR);
	CHECK_EQ(group_state(g), GROUP_DEAD);
	CHECK_STR(group_state_name(group_state(g)), "Dead");
	CHECK_EQ(group_next_deadline(g), INT64_MAX);
	group_out_reset(&out);
	const char *id = group_member_at(g, 0)->member_id;
	req.tag = 2;
	group_join(g, &req, 10, &out);
	CHECK_EQ(out.resps[0].error_code, KAFKA_COORDINATOR_NOT_AVAILABLE);
	CHECK_EQ(group_heartbeat(g, id, NULL, 0, 10, &out), KAFKA_COORDINATOR_NOT_AVAILABLE);
	struct group_sync_req sr = { .tag = 3, .member_id = id, .generation_id = 0 };
	group_sync(g, &sr, 10, &out);
	CHECK_EQ(out.resps[1].tag, 3);
	CHECK_EQ(out.resps[1].error_code, KAFKA_COORDINATOR_NOT_AVAILABLE);
	struct group_leave_member lm[] = { { id, NULL, -1 } };
	CHECK_EQ(group_leave(g, lm, 1, 10, &out), KAFKA_COORDINATOR_NOT_AVAILABLE);
	CHECK_EQ(lm[0].error_code, KAFKA_COORDINATOR_NOT_AVAILABLE);
	CHECK_EQ(group_delete(g), KAFKA_GROUP_ID_NOT_FOUND);
	/* A ticked Dead group does nothing (timers were cancelled). */
	group_tick(g, 1000000, &out);
	CHECK_EQ(out.n, 2);
	group_out_fini(&out);
	group_free(g);
}

/* ================================================================ stores */

TEST(store_when_the_leader_sync_completes_a_generation)
{
	struct fx f;
	fx_init(&f, 3000);
	uint64_t a = join_new(&f, "a"), b = join_new(&f, "b");
	advance(&f, 20000);
	CHECK_EQ(take_stores(&f), 0); /* joins and the end of the join phase */
	char ida[128], idb[128];
	snprintf(ida, sizeof ida, "%s", resp_ok(&f, a)->member_id);
	snprintf(idb, sizeof idb, "%s", resp_ok(&f, b)->member_id);
	sync_req(&f, idb, NULL, 1, NULL, 0);
	CHECK_EQ(take_stores(&f), 0); /* a follower waits */
	struct group_assignment as[] = { { ida, (const uint8_t *)"A", 1 }, { idb, (const uint8_t *)"B", 1 } };
	sync_req(&f, ida, NULL, 1, as, 2);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_STABLE);
	CHECK_EQ(take_stores(&f), 1);
	/* Nothing a Stable group does stores: heartbeats, commits, a repeated
	 * sync, a follower's rejoin, ticks. */
	for (int i = 0; i < 3; i++) {
		advance(&f, 3000);
		CHECK_EQ(hb(&f, ida, NULL, 1), KAFKA_NONE);
		CHECK_EQ(commit(&f, idb, NULL, 1), KAFKA_NONE);
	}
	CHECK_EQ(resp_ok(&f, sync_req(&f, idb, NULL, 1, NULL, 0))->error_code, KAFKA_NONE);
	CHECK_EQ(resp_ok(&f, rejoin(&f, idb))->generation_id, 1);
	CHECK_EQ(take_stores(&f), 0);
	/* The next generation stores once, at the leader's sync again. */
	rejoin(&f, ida);
	rejoin(&f, idb);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_COMPLETING_REBALANCE);
	sync_req(&f, idb, NULL, 2, NULL, 0);
	CHECK_EQ(take_stores(&f), 0);
	sync_req(&f, ida, NULL, 2, as, 2);
	CHECK_EQ(take_stores(&f), 1);
	fx_fini(&f);
}

TEST(store_when_a_static_member_is_replaced_in_stable)
{
	struct fx f;
	fx_init(&f, 3000);
	char ida[128], idb[128];
	make_static_pair(&f, ida, idb);
	CHECK_EQ(take_stores(&f), 1); /* the leader's sync */
	/* b restarts preferring roundrobin; a knows only range: the selection
	 * stays range. */
	const struct group_resp *r = resp_ok(&f, join_static(&f, "", "inst-b", 5, "roundrobin", "range"));
	CHECK_EQ(r->error_code, KAFKA_NONE);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_STABLE);
	CHECK_EQ(take_stores(&f), 1); /* the new member id, no rebalance */
	char idb2[128];
	snprintf(idb2, sizeof idb2, "%s", r->member_id);
	CHECK_EQ(hb(&f, idb2, "inst-b", 1), KAFKA_NONE);
	CHECK_EQ(hb(&f, idb, "inst-b", 1), KAFKA_FENCED_INSTANCE_ID);
	CHECK_EQ(take_stores(&f), 0);
	/* A replacement that changes the selection (both now prefer
	 * roundrobin) rebalances instead. */
	uint64_t t = join_static(&f, "", "inst-a", 5, "roundrobin", "range");
	CHECK(resp(&f, t) == NULL);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_PREPARING_REBALANCE);
	CHECK_EQ(take_stores(&f), 0);
	fx_fini(&f);
}

TEST(store_when_the_group_becomes_empty)
{
	struct fx f;
	fx_init(&f, 3000);
	/* A MEMBER_ID_REQUIRED id that never comes back: nothing to store. */
	struct jp p = { .version = 4, .session_ms = 8000, .protos = { "range" } };
	join_req(&f, GID, &p);
	advance(&f, 8000);
	CHECK(gcoord_find(f.gc, GID) == NULL);
	CHECK_EQ(take_stores(&f), 0);
	/* The last member leaves. */
	struct stable s;
	make_stable(&f, 1, &s);
	CHECK_EQ(take_stores(&f), 1);
	struct group_leave_member lm[] = { { s.ids[0], NULL, -1 } };
	gcoord_leave(f.gc, GID, lm, 1, f.now, &f.out);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_EMPTY);
	CHECK_EQ(group_generation(fx_group(&f)), 2);
	CHECK_EQ(take_stores(&f), 1);
	/* A join, its initial delay and the join phase do not store... */
	uint64_t t = join_new(&f, "again");
	advance(&f, 3000);
	CHECK_EQ(resp_ok(&f, t)->generation_id, 3);
	CHECK_EQ(take_stores(&f), 0);
	/* ... but a member that never syncs and whose session ends leaves an
	 * Empty group behind, which is stored. */
	CHECK_EQ(group_state(fx_group(&f)), GROUP_COMPLETING_REBALANCE);
	advance(&f, 9999);
	CHECK_EQ(take_stores(&f), 0);
	advance(&f, 1);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_EMPTY);
	CHECK_EQ(group_generation(fx_group(&f)), 4);
	CHECK_EQ(take_stores(&f), 1);
	fx_fini(&f);
}

/* ================================================================ snapshot, load */

TEST(state_since_follows_transitions)
{
	struct group_cfg cfg;
	group_cfg_defaults(&cfg);
	log_set_level(LOGL_ERROR);
	struct group *g = group_new("x", &cfg);
	CHECK(g != NULL);
	CHECK_EQ(group_state_since(g), -1); /* no clock yet */
	struct group_out out;
	group_out_init(&out);
	group_tick(g, 500, &out);           /* the first step: created "now" */
	CHECK_EQ(group_state_since(g), 500);
	group_tick(g, 900, &out);
	CHECK_EQ(group_state_since(g), 500);
	CHECK_EQ(group_delete(g), KAFKA_NONE);
	CHECK_EQ(group_state_since(g), 900); /* Dead at the last step's clock */
	group_out_fini(&out);
	group_free(g);

	struct fx f;
	fx_init(&f, 3000);
	int64_t t0 = f.now;
	uint64_t a = join_new(&f, "a");
	CHECK_EQ(group_state_since(fx_group(&f)), t0);       /* PreparingRebalance */
	advance(&f, 3000);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_COMPLETING_REBALANCE);
	CHECK_EQ(group_state_since(fx_group(&f)), t0 + 3000);
	char id[128];
	snprintf(id, sizeof id, "%s", resp_ok(&f, a)->member_id);
	f.now += 500;
	sync_req(&f, id, NULL, 1, NULL, 0);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_STABLE);
	CHECK_EQ(group_state_since(fx_group(&f)), t0 + 3500);
	advance(&f, 2000);
	CHECK_EQ(hb(&f, id, NULL, 1), KAFKA_NONE);
	CHECK_EQ(group_state_since(fx_group(&f)), t0 + 3500); /* no transition */
	struct group_leave_member lm[] = { { id, NULL, -1 } };
	gcoord_leave(f.gc, GID, lm, 1, f.now, &f.out);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_EMPTY);
	CHECK_EQ(group_state_since(fx_group(&f)), t0 + 5500);
	struct group_snap snap;
	CHECK_EQ(group_snapshot(fx_group(&f), &snap), 0);
	CHECK_EQ(snap.state_since_ms, t0 + 5500);
	group_snap_fini(&snap);
	fx_fini(&f);
}

TEST(snapshot_and_load_keep_a_stable_generation)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 3, &s);
	struct group *g = fx_group(&f);
	int64_t since = group_state_since(g);
	struct group_snap snap;
	CHECK_EQ(group_snapshot(g, &snap), 0);
	CHECK_STR(snap.protocol_type, "consumer");
	CHECK_EQ(snap.generation_id, 1);
	CHECK_STR(snap.protocol_name, "range");
	CHECK_STR(snap.leader, s.ids[0]);
	CHECK_EQ(snap.state_since_ms, since);
	CHECK_EQ(snap.nmembers, 3);
	for (int i = 0; i < 3; i++) {
		const struct group_snap_member *sm = &snap.members[i];
		char want[16];
		CHECK_STR(sm->member_id, s.ids[i]);
		CHECK(sm->group_instance_id == NULL);
		snprintf(want, sizeof want, "c%d", i);
		CHECK_STR(sm->client_id, want);
		CHECK_STR(sm->client_host, "/127.0.0.1");
		CHECK_EQ(sm->session_timeout_ms, 10000);
		CHECK_EQ(sm->rebalance_timeout_ms, 20000);
		CHECK(sm->subscription_len == 8 && memcmp(sm->subscription, "md:range", 8) == 0);
		snprintf(want, sizeof want, "a:%d", i);
		CHECK(sm->assignment_len == 3 && memcmp(sm->assignment, want, 3) == 0);
	}
	group_snap_fini(&snap);
	CHECK(snap.members == NULL && snap.nmembers == 0);
	take_stores(&f);

	struct group *h = restart(&f, 60000);
	CHECK(h != NULL);
	CHECK_EQ(group_state(h), GROUP_STABLE);
	CHECK_EQ(group_generation(h), 1);
	CHECK_STR(group_protocol_type(h), "consumer");
	CHECK_STR(group_protocol_name(h), "range");
	CHECK_STR(group_leader(h), s.ids[0]);
	CHECK_EQ(group_state_since(h), since);
	CHECK_EQ(group_nmembers(h), 3);
	for (int i = 0; i < 3; i++) {
		const struct group_member *m = group_member_at(h, i);
		CHECK_STR(m->member_id, s.ids[i]);
		CHECK_EQ(m->nprotocols, 1);
		CHECK_STR(m->protocols[0].name, "range");
		CHECK(m->protocols[0].metadata_len == 8 && memcmp(m->protocols[0].metadata, "md:range", 8) == 0);
		CHECK_EQ(m->hb_deadline_ms, f.now + 10000);
		CHECK(!m->is_new && !m->pending_sync && !m->awaiting_join && !m->awaiting_sync);
	}
	CHECK_EQ(group_next_deadline(h), f.now + 10000);
	CHECK_EQ(take_stores(&f), 0); /* loading stores nothing */
	/* Clients that kept heartbeating across the restart carry on. */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(hb(&f, s.ids[i], NULL, 1), KAFKA_NONE);
	const struct group_resp *r = resp_ok(&f, sync_req(&f, s.ids[2], NULL, 1, NULL, 0));
	CHECK_EQ(r->error_code, KAFKA_NONE);
	CHECK(r->assignment_len == 3 && memcmp(r->assignment, "a:2", 3) == 0);
	CHECK_EQ(commit(&f, s.ids[1], NULL, 1), KAFKA_NONE);
	CHECK_EQ(resp_ok(&f, rejoin(&f, s.ids[1]))->generation_id, 1); /* a follower, same metadata */
	CHECK_EQ(group_state(h), GROUP_STABLE);
	/* A new member's join rebalances; everyone rejoins into generation 2. */
	uint64_t t3 = join_new(&f, "c3");
	CHECK_EQ(group_state(h), GROUP_PREPARING_REBALANCE);
	uint64_t tr[3];
	for (int i = 0; i < 3; i++)
		tr[i] = rejoin(&f, s.ids[i]);
	CHECK_EQ(resp_ok(&f, t3)->generation_id, 2);
	CHECK_EQ(resp_ok(&f, tr[0])->nmembers, 4);
	CHECK_STR(resp_ok(&f, tr[0])->leader, s.ids[0]);
	CHECK_EQ(take_stores(&f), 0);
	fx_fini(&f);
}

TEST(loaded_member_that_never_heartbeats_is_expired)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 2, &s);
	CHECK(restart(&f, 60000) != NULL);
	take_stores(&f);
	int64_t t0 = f.now;
	for (int i = 0; i < 3; i++) { /* member 0 heartbeats; member 1 died with the broker */
		advance(&f, 3000);
		CHECK_EQ(hb(&f, s.ids[0], NULL, 1), KAFKA_NONE);
	}
	advance(&f, t0 + 10000 - 1 - f.now);
	CHECK_EQ(group_nmembers(fx_group(&f)), 2);
	advance(&f, 1);
	CHECK_EQ(group_nmembers(fx_group(&f)), 1);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_PREPARING_REBALANCE);
	CHECK_EQ(hb(&f, s.ids[0], NULL, 1), KAFKA_REBALANCE_IN_PROGRESS);
	const struct group_resp *r = resp_ok(&f, rejoin(&f, s.ids[0]));
	CHECK_EQ(r->generation_id, 2);
	CHECK_EQ(r->nmembers, 1);
	CHECK_EQ(take_stores(&f), 0);
	fx_fini(&f);
}

TEST(loaded_group_whose_members_are_all_gone_empties)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 2, &s);
	CHECK(restart(&f, 60000) != NULL);
	take_stores(&f);
	advance(&f, 9999);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_STABLE);
	advance(&f, 1);
	struct group *g = fx_group(&f);
	CHECK_EQ(group_state(g), GROUP_EMPTY);
	CHECK_EQ(group_generation(g), 2);
	CHECK_EQ(take_stores(&f), 1);
	CHECK_EQ(hb(&f, s.ids[0], NULL, 1), KAFKA_UNKNOWN_MEMBER_ID);
	fx_fini(&f);
}

TEST(load_of_an_empty_snapshot)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 1, &s);
	struct group_leave_member lm[] = { { s.ids[0], NULL, -1 } };
	gcoord_leave(f.gc, GID, lm, 1, f.now, &f.out);
	int64_t left = f.now;
	struct group_snap snap;
	CHECK_EQ(group_snapshot(fx_group(&f), &snap), 0);
	CHECK_STR(snap.protocol_type, "consumer");
	CHECK_EQ(snap.generation_id, 2);
	CHECK(snap.protocol_name == NULL && snap.leader == NULL);
	CHECK(snap.members == NULL && snap.nmembers == 0);
	CHECK_EQ(snap.state_since_ms, left);
	group_snap_fini(&snap);
	struct group *h = restart(&f, 5000);
	CHECK(h != NULL);
	CHECK_EQ(group_state(h), GROUP_EMPTY);
	CHECK_EQ(group_generation(h), 2);
	CHECK_STR(group_protocol_type(h), "consumer");
	CHECK(group_protocol_name(h) == NULL && group_leader(h) == NULL);
	CHECK_EQ(group_nmembers(h), 0);
	CHECK_EQ(group_state_since(h), left);
	CHECK_EQ(group_next_deadline(h), INT64_MAX);
	CHECK(!group_is_vacant(h));
	CHECK_EQ(hb(&f, s.ids[0], NULL, 2), KAFKA_UNKNOWN_MEMBER_ID);
	CHECK_EQ(commit(&f, "", NULL, -1), KAFKA_NONE);
	/* From Empty a join waits the initial delay, then generation 3. */
	uint64_t t = join_new(&f, "back");
	CHECK(resp(&f, t) == NULL);
	advance(&f, 3000);
	CHECK_EQ(resp_ok(&f, t)->generation_id, 3);
	/* A record without protocol type or time. */
	struct group_snap e = { .protocol_type = "", .generation_id = 7, .state_since_ms = -1 };
	h = group_load("g2", &f.cfg, &e, 123);
	CHECK(h != NULL);
	CHECK_EQ(group_state(h), GROUP_EMPTY);
	CHECK_EQ(group_generation(h), 7);
	CHECK(group_protocol_type(h) == NULL);
	CHECK_EQ(group_state_since(h), 123);
	group_free(h);
	/* Generation 0 and Empty is vacant: adopting it drops it, and as the
	 * latest record it replaces the group of its id. */
	e.generation_id = 0;
	h = group_load(GID, &f.cfg, &e, f.now);
	CHECK(h != NULL && group_is_vacant(h));
	CHECK_EQ(gcoord_adopt(f.gc, h), 0);
	CHECK(gcoord_find(f.gc, GID) == NULL);
	CHECK_EQ(gcoord_count(f.gc), 0);
	fx_fini(&f);
}

/* Loads of snaps that no step could have produced. */
TEST(inconsistent_snapshots_are_refused)
{
	struct group_cfg cfg;
	group_cfg_defaults(&cfg);
	log_set_level(LOGL_ERROR);
	const uint8_t *sub = (const uint8_t *)"s", *asg = (const uint8_t *)"a";
	const struct group_snap_member mm[2] = {
		{ "m1", NULL, "c", "h", 20000, 10000, sub, 1, asg, 1 },
		{ "m2", "i2", "c", "h", 0, 10000, sub, 1, NULL, 0 }, /* v0: no rebalance timeout */
	};
	struct group_snap_member bm[2];
	memcpy(bm, mm, sizeof bm);
	const struct group_snap base = { "consumer", 3, "range", "m2", 5, bm, 2 };
	struct group *h = group_load(GID, &cfg, &base, 100);
	CHECK(h != NULL);
	CHECK_EQ(group_state(h), GROUP_STABLE);
	CHECK_STR(group_leader(h), "m2");
	CHECK_EQ(group_member_at(h, 1)->rebalance_timeout_ms, 10000);
	CHECK(group_member_at(h, 1)->assignment == NULL);
	group_free(h);
	for (int c = 0; c < 15; c++) {
		struct group_snap b = base;
		memcpy(bm, mm, sizeof bm);
		switch (c) {
		case 0: b.leader = "m9"; break;                       /* leader not a member */
		case 1: b.leader = NULL; break;
		case 2: b.protocol_name = NULL; break;                /* members, no protocol */
		case 3: b.protocol_name = ""; break;
		case 4: b.protocol_type = NULL; break;
		case 5: bm[1].member_id = "m1"; b.leader = "m1"; break; /* duplicate member id */
		case 6: bm[0].group_instance_id = "i2"; break;        /* duplicate instance id */
		case 7: b.generation_id = -1; break;
		case 8: b.members = NULL; break;
		case 9: bm[0].member_id = ""; break;
		case 10: bm[0].session_timeout_ms = 0; break;
		case 11: bm[0].subscription_len = -1; break;
		case 12: bm[1].assignment_len = 4; break;             /* bytes missing */
		case 13: bm[1].group_instance_id = ""; break;
		default: b.nmembers = -1; break;
		}
		if (group_load(GID, &cfg, &b, 100) != NULL)
			fprintf(stderr, "case %d was loaded\n", c);
		CHECK(group_load(GID, &cfg, &b, 100) == NULL);
	}
}

/* ================================================================ OffsetCommit */

/* Kafka's order: Dead, fenced instance, generation -1 on Empty,
 * CompletingRebalance, unknown member, generation. Each case is set up so
 * that a later check would answer differently. */
TEST(commit_check_follows_kafkas_order)
{
	struct fx f;
	fx_init(&f, 3000);
	char ida[128], idb[128], idb2[128];
	make_static_pair(&f, ida, idb);
	take_stores(&f);
	CHECK_EQ(commit(&f, ida, "inst-a", 1), KAFKA_NONE);                      /* 7, Stable */
	CHECK_EQ(commit(&f, ida, "inst-a", 0), KAFKA_ILLEGAL_GENERATION);        /* 6 */
	CHECK_EQ(commit(&f, ida, "inst-a", 2), KAFKA_ILLEGAL_GENERATION);
	CHECK_EQ(commit(&f, ida, NULL, -1), KAFKA_ILLEGAL_GENERATION);           /* -1: only Empty */
	CHECK_EQ(commit(&f, "nobody", NULL, 1), KAFKA_UNKNOWN_MEMBER_ID);        /* 5 */
	CHECK_EQ(commit(&f, "", NULL, -1), KAFKA_UNKNOWN_MEMBER_ID);
	const struct group_resp *r = resp_ok(&f, join_static(&f, "", "inst-b", 5, "range", NULL));
	snprintf(idb2, sizeof idb2, "%s", r->member_id);
	CHECK_EQ(commit(&f, idb, "inst-b", 1), KAFKA_FENCED_INSTANCE_ID);        /* 2 before 5 */
	CHECK_EQ(commit(&f, idb2, "inst-b", 1), KAFKA_NONE);
	/* PreparingRebalance: the current generation may still commit. */
	uint64_t ta = join_static(&f, ida, "inst-a", 5, "range", NULL);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_PREPARING_REBALANCE);
	CHECK_EQ(commit(&f, idb2, "inst-b", 1), KAFKA_NONE);                     /* 7 */
	CHECK_EQ(commit(&f, idb2, "inst-b", 2), KAFKA_ILLEGAL_GENERATION);
	CHECK_EQ(commit(&f, "nobody", NULL, 1), KAFKA_UNKNOWN_MEMBER_ID);
	/* CompletingRebalance: before the member and generation checks, after
	 * fencing. */
	uint64_t tb = join_static(&f, idb2, "inst-b", 5, "range", NULL);
	CHECK_EQ(resp_ok(&f, ta)->generation_id, 2);
	CHECK_EQ(resp_ok(&f, tb)->generation_id, 2);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_COMPLETING_REBALANCE);
	CHECK_EQ(commit(&f, idb2, "inst-b", 2), KAFKA_REBALANCE_IN_PROGRESS);    /* 4 */
	CHECK_EQ(commit(&f, "nobody", NULL, 7), KAFKA_REBALANCE_IN_PROGRESS);
	CHECK_EQ(commit(&f, idb, "inst-b", 2), KAFKA_FENCED_INSTANCE_ID);        /* 2 before 4 */
	/* Empty: generation -1 commits from outside the group are accepted. */
	struct group_leave_member lm[] = { { "", "inst-a", -1 }, { "", "inst-b", -1 } };
	gcoord_leave(f.gc, GID, lm, 2, f.now, &f.out);
	CHECK_EQ(group_state(fx_group(&f)), GROUP_EMPTY);
	CHECK_EQ(group_generation(fx_group(&f)), 3);
	CHECK_EQ(commit(&f, "", NULL, -1), KAFKA_NONE);                          /* 3 */
	CHECK_EQ(commit(&f, "whoever", NULL, -1), KAFKA_NONE);
	CHECK_EQ(commit(&f, "", NULL, 3), KAFKA_UNKNOWN_MEMBER_ID);
	CHECK_EQ(commit(&f, idb2, "inst-b", 3), KAFKA_UNKNOWN_MEMBER_ID);
	take_stores(&f);
	fx_fini(&f);

	/* Dead comes first, even for a fenced id (group_unload keeps members). */
	fx_init(&f, 3000);
	make_static_pair(&f, ida, idb);
	join_static(&f, "", "inst-b", 5, "range", NULL);
	CHECK_EQ(commit(&f, idb, "inst-b", 1), KAFKA_FENCED_INSTANCE_ID);
	group_unload(fx_group(&f), &f.out);
	CHECK_EQ(commit(&f, idb, "inst-b", 1), KAFKA_COORDINATOR_NOT_AVAILABLE); /* 1 */
	CHECK_EQ(commit(&f, "", NULL, -1), KAFKA_COORDINATOR_NOT_AVAILABLE);
	CHECK_EQ(commit(&f, ida, "inst-a", 1), KAFKA_COORDINATOR_NOT_AVAILABLE);
	fx_fini(&f);
}

TEST(commit_keeps_a_member_alive)
{
	struct fx f;
	fx_init(&f, 3000);
	struct stable s;
	make_stable(&f, 1, &s); /* session 10000 */
	struct group *g = fx_group(&f);
	int64_t first_deadline = group_member_find(g, s.ids[0])->hb_deadline_ms;
	for (int i = 0; i < 5; i++) { /* commits only, no heartbeat */
		advance(&f, 6000);
		CHECK_EQ(commit(&f, s.ids[0], NULL, 1), KAFKA_NONE);
	}
	CHECK(f.now > first_deadline);
	CHECK_EQ(group_state(g), GROUP_STABLE);
	CHECK_EQ(group_next_deadline(g), f.now + 10000);
	advance(&f, 9999);
	CHECK_EQ(group_nmembers(g), 1);
	advance(&f, 1);
	CHECK_EQ(group_nmembers(g), 0);
	CHECK_EQ(group_state(g), GROUP_EMPTY);
	/* A failed check is no heartbeat. */
	make_stable(&f, 1, &s);
	first_deadline = group_member_find(g, s.ids[0])->hb_deadline_ms;
	advance(&f, 6000);
	CHECK_EQ(commit(&f, s.ids[0], NULL, 99), KAFKA_ILLEGAL_GENERATION);
	CHECK_EQ(group_member_find(g, s.ids[0])->hb_deadline_ms, first_deadline);
	fx_fini(&f);
}

/* ================================================================ gcoord */

TEST(gcoord_commit_check_without_a_group)
{
	struct fx f;
	fx_init(&f, 3000);
	CHECK_EQ(gcoord_commit_check(f.gc, "", "m", NULL, -1, f.now, &f.out), KAFKA_INVALID_GROUP_ID);
	CHECK_EQ(gcoord_commit_check(f.gc, NULL, "m", NULL, 1, f.now, &f.out), KAFKA_INVALID_GROUP_ID);
	CHECK_EQ(commit(&f, "", NULL, -1), KAFKA_NONE);      /* offsets kept without a group */
	CHECK_EQ(commit(&f, "m", "inst", -1), KAFKA_NONE);
	CHECK_EQ(commit(&f, "m", NULL, 0), KAFKA_UNKNOWN_MEMBER_ID);
	CHECK_EQ(commit(&f, "m", NULL, 5), KAFKA_UNKNOWN_MEMBER_ID);
	CHECK_EQ(gcoord_count(f.gc), 0);                      /* and none was created */
	/* A group that holds only a MEMBER_ID_REQUIRED id is dropped when the
	 * id expires during a commit check. */
	struct jp p = { .version = 4, .session_ms = 8000, .protos = { "range" } };
	char id[128];
	snprintf(id, sizeof id, "%s", resp_ok(&f, join_req(&f, GID, &p))->member_id);
	CHECK_EQ(gcoord_count(f.gc), 1);
	CHECK_EQ(commit(&f, id, NULL, 0), KAFKA_UNKNOWN_MEMBER_ID);
	f.now += 8000;
	CHECK_EQ(commit(&f, id, NULL, 0), KAFKA_UNKNOWN_MEMBER_ID);
	CHECK_EQ(gcoord_count(f.gc), 0);
	fx_fini(&f);
}

struct visit { int n; int seen[64]; };

/* Counts visits of the groups "g<i>" (GID is "g1"). */
static void visit_group(void *arg, struct group *g)
{
	struct visit *v = arg;
	int i = -1;
	CHECK(sscanf(group_id(g), "g%d", &i) == 1 && i > 0 && i < 64);
	v->seen[i]++;
	v->n++;
}

/* An Empty group of generation gen rebuilt from a record. */
static struct group *load_empty(struct fx *f, const char *gid, int32_t gen)
{
	struct group_snap e = { .protocol_type = "consumer", .generation_id = gen, .state_since_ms = 1 };
	struct group *h = group_load(gid, &f->cfg, &e, f->now);
	CHECK(h != NULL);
	return h;
}

TEST(gcoord_adopt_foreach_and_unload_all)
{
	struct fx f;
	fx_init(&f, 3000);
	/* GID (g1): a follower's SyncGroup waits for its leader; g50: a
	 * JoinGroup waits in the initial delay. */
	uint64_t a = join_new(&f, "a"), b = join_new(&f, "b");
	advance(&f, 20000);
	char idb[128];
	snprintf(idb, sizeof idb, "%s", resp_ok(&f, b)->member_id);
	CHECK_EQ(resp_ok(&f, a)->generation_id, 1);
	uint64_t sb = sync_req(&f, idb, NULL, 1, NULL, 0);
	CHECK(resp(&f, sb) == NULL);
	struct jp p = { .version = 3, .protos = { "range" } };
	uint64_t tj = join_req(&f, "g50", &p);
	CHECK(resp(&f, tj) == NULL);
	/* Loaded groups: many (the table grows), one replaced by a later record. */
	for (int i = 2; i < 40; i++) {
		char gid[16];
		snprintf(gid, sizeof gid, "g%d", i);
		CHECK_EQ(gcoord_adopt(f.gc, load_empty(&f, gid, i)), 0);
	}
	CHECK_EQ(gcoord_count(f.gc), 40);
	struct group *h = load_empty(&f, "g7", 70);
	CHECK_EQ(gcoord_adopt(f.gc, h), 0);
	CHECK(gcoord_find(f.gc, "g7") == h);
	CHECK_EQ(group_generation(gcoord_find(f.gc, "g7")), 70);
	CHECK_EQ(gcoord_count(f.gc), 40);
	/* A vacant record removes what it replaces. */
	CHECK_EQ(gcoord_adopt(f.gc, load_empty(&f, "g8", 0)), 0);
	CHECK(gcoord_find(f.gc, "g8") == NULL);
	CHECK_EQ(gcoord_count(f.gc), 39);
	struct visit v = { 0, { 0 } };
	gcoord_foreach(f.gc, visit_group, &v);
	CHECK_EQ(v.n, 39);
	for (int i = 0; i < 64; i++)
		CHECK_EQ(v.seen[i], (i >= 1 && i < 40 && i != 8) || i == 50);
	/* Shutdown: every parked request is answered NOT_COORDINATOR. */
	gcoord_unload_all(f.gc, &f.out);
	CHECK_EQ(resp_ok(&f, sb)->error_code, KAFKA_NOT_COORDINATOR);
	CHECK_EQ(resp_ok(&f, tj)->error_code, KAFKA_NOT_COORDINATOR);
	CHECK_EQ(gcoord_count(f.gc), 0);
	CHECK(gcoord_find(f.gc, GID) == NULL && gcoord_find(f.gc, "g7") == NULL);
	v.n = 0;
	gcoord_foreach(f.gc, visit_group, &v);
	CHECK_EQ(v.n, 0);
	CHECK_EQ(gcoord_next_deadline(f.gc), INT64_MAX);
	/* The coordinator still works afterwards. */
	uint64_t t = join_new(&f, "later");
	advance(&f, 3000);
	CHECK_EQ(resp_ok(&f, t)->generation_id, 1);
	fx_fini(&f);
}

/* ================================================================ randomised */

/* A small deterministic PRNG (xorshift64*). */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* The snapshot of g, whatever its state, loads into a group that agrees
 * with it and keeps the invariants. */
static void check_snapshot_loads(struct fx *f, const struct group *g)
{
	struct group_snap snap;
	CHECK_EQ(group_snapshot(g, &snap), 0);
	struct group *h = group_load(GID, &f->cfg, &snap, f->now);
	CHECK(h != NULL);
	bool stable = group_state(g) == GROUP_STABLE;
	CHECK_EQ(group_state(h), stable ? GROUP_STABLE : GROUP_EMPTY);
	CHECK_EQ(group_generation(h), group_generation(g));
	CHECK_EQ(group_nmembers(h), stable ? group_nmembers(g) : 0);
	CHECK((group_leader(h) == NULL) == (group_nmembers(h) == 0));
	if (stable)
		CHECK_STR(group_leader(h), group_leader(g));
	CHECK_EQ(group_state_since(h), group_state_since(g));
	CHECK(group_next_deadline(h) > f->now);
	group_free(h);
	group_snap_fini(&snap);
}

/* Random joins, rejoins, syncs, heartbeats, commits, leaves, clock jumps
 * and restarts (snapshot, unload, load) by up to 8 clients (some static):
 * every request that waits is answered exactly once (at the latest at
 * unload), generations never go backwards, the leader is always a member,
 * a step asks for at most one store, and every snapshot loads. */
TEST(randomised_every_parked_request_answered_once)
{
	/* coverage across all seeds: the run must reach the interesting cases */
	int seen_stable = 0, seen_gen3 = 0, seen_fenced = 0, seen_required = 0, seen_sync_ok = 0;
	int seen_store = 0, seen_restart = 0, seen_commit_ok = 0;
	for (uint64_t seed = 1; seed <= 40; seed++) {
		struct fx f;
		fx_init(&f, (int32_t)(seed % 3) * 1000);
		uint64_t rs = seed * 0x9E3779B97F4A7C15ULL;
		char ids[8][128] = { { 0 } };
		int32_t gens[8] = { 0 };
		uint64_t last_tag[8] = { 0 };
		int32_t maxgen = 0;
		uint64_t first_tag = f.next_tag;
		for (int step = 0; step < 400; step++) {
			int c = (int)(rng_next(&rs) % 8);
			const char *inst = (c % 3 == 0) ? (c == 0 ? "s0" : c == 3 ? "s3" : "s6") : NULL;
			/* pick up answers addressed to c */
			if (last_tag[c]) {
				const struct group_resp *r = resp(&f, last_tag[c]);
				if (r && r->kind == GROUP_RESP_JOIN) {
					if (r->error_code == KAFKA_NONE || r->error_code == KAFKA_MEMBER_ID_REQUIRED)
						snprintf(ids[c], sizeof ids[c], "%s", r->member_id);
					else if (r->error_code == KAFKA_UNKNOWN_MEMBER_ID || r->error_code == KAFKA_FENCED_INSTANCE_ID)
						ids[c][0] = '\0';
					if (r->error_code == KAFKA_NONE)
						gens[c] = r->generation_id;
				}
			}
			size_t stores_before = f.out.nstores;
			switch (rng_next(&rs) % 6) {
			case 0:
			case 1: {
				struct jp p = { .member_id = ids[c], .instance = inst, .version = (int16_t)(4 + rng_next(&rs) % 6),
				                .session_ms = 6000 + (int32_t)(rng_next(&rs) % 3) * 2000,
				                .rebalance_ms = 8000, .protos = { rng_next(&rs) % 4 ? "range" : "rr", "range" } };
				last_tag[c] = join_req(&f, GID, &p);
				break;
			}
			case 2:
				last_tag[c] = sync_req(&f, ids[c], inst, gens[c], NULL, 0);
				if (gcoord_find(f.gc, GID) && group_leader(gcoord_find(f.gc, GID)) &&
				    strcmp(group_leader(gcoord_find(f.gc, GID)), ids[c]) == 0) {
					struct group_assignment a = { ids[c], (const uint8_t *)"z", 1 };
					last_tag[c] = sync_req(&f, ids[c], inst, gens[c], &a, 1);
				}
				break;
			case 3:
				if (rng_next(&rs) % 2)
					hb(&f, ids[c], inst, gens[c]);
				else
					seen_commit_ok += commit(&f, ids[c], inst, rng_next(&rs) % 8 ? gens[c] : -1) == KAFKA_NONE;
				break;
			case 4:
				if (rng_next(&rs) % 4 == 0) {
					struct group_leave_member lm[] = { { ids[c], inst, -1 } };
					gcoord_leave(f.gc, GID, lm, 1, f.now, &f.out);
				}
				break;
			default:
				if (rng_next(&rs) % 8 == 0 && gcoord_find(f.gc, GID)) {
					restart(&f, (int64_t)(rng_next(&rs) % 3000));
					seen_restart++;
				} else {
					advance(&f, (int64_t)(rng_next(&rs) % 5000));
				}
				break;
			}
			/* Each event above is one step on GID, except a leader's
			 * sync with assignments (two), whose second finds the group
			 * Stable already: at most one store either way. */
			CHECK(f.out.nstores - stores_before <= 1);
			for (size_t i = stores_before; i < f.out.nstores; i++)
				CHECK_STR(f.out.stores[i], GID);
			seen_store += (int)(f.out.nstores - stores_before);
			struct group *g = gcoord_find(f.gc, GID);
			if (g) {
				check_snapshot_loads(&f, g);
				seen_stable += group_state(g) == GROUP_STABLE;
				seen_gen3 += group_generation(g) >= 3;
				CHECK(group_generation(g) >= maxgen);
				maxgen = group_generation(g);
				CHECK((group_leader(g) == NULL) == (group_nmembers(g) == 0));
				if (group_leader(g))
					CHECK(group_member_find(g, group_leader(g)) != NULL);
				CHECK(group_next_deadline(g) > f.now);
			}
		}
		struct group *g = gcoord_find(f.gc, GID);
		if (g)
			group_unload(g, &f.out);
		for (size_t i = 0; i < f.out.n; i++) {
			const struct group_resp *r = &f.out.resps[i];
			seen_fenced += r->error_code == KAFKA_FENCED_INSTANCE_ID;
			seen_required += r->error_code == KAFKA_MEMBER_ID_REQUIRED;
			seen_sync_ok += r->kind == GROUP_RESP_SYNC && r->error_code == KAFKA_NONE;
		}
		/* Every join and sync tag has exactly one response. Heartbeats
		 * and leaves take no tag. */
		for (uint64_t t = first_tag; t < f.next_tag; t++) {
			int n = 0;
			for (size_t i = 0; i < f.out.n; i++)
				n += f.out.resps[i].tag == t;
			if (n != 1)
				fprintf(stderr, "seed %llu: tag %llu answered %d times\n",
				        (unsigned long long)seed, (unsigned long long)t, n);
			CHECK_EQ(n, 1);
		}
		fx_fini(&f);
	}
	fprintf(stderr, "coverage: stable %d, gen>=3 %d, fenced %d, member_id_required %d, sync ok %d, "
	        "stores %d, restarts %d, commits ok %d\n", seen_stable, seen_gen3, seen_fenced, seen_required,
	        seen_sync_ok, seen_store, seen_restart, seen_commit_ok);
	CHECK(seen_stable > 0 && seen_gen3 > 0 && seen_fenced > 0 && seen_required > 0 && seen_sync_ok > 0);
	CHECK(seen_store > 0 && seen_restart > 0 && seen_commit_ok > 0);
}

UNIT_MAIN()
