/*
 * gcoord.c — the set of classic groups (gcoord.h).
 *
 * Design note
 * ===========
 * A chained hash table of groups keyed by group id (FNV-1a), doubled when
 * the load passes 1. Lookups are what every request does; the deadline scan
 * over all groups is O(groups) and only gcoord_tick/gcoord_next_deadline do
 * it (the wiring session keeps one timer per group in src/delay instead).
 *
 * Group lifetime:
 *  - created by the first JoinGroup with an empty member id that passes
 *    group_join_check() (Kafka's getOrMaybeCreateGroup; Kafka also creates
 *    it for joins it then rejects, which only leaves an empty group behind);
 *  - or adopted at start-up from its stored record (gcoord_adopt of a
 *    group_load() result), replacing a group of the same id: the latest
 *    record wins;
 *  - dropped when vacant (Empty, generation 0, nobody pending: a join that
 *    failed, or a MEMBER_ID_REQUIRED id that never came back) — it never
 *    existed as far as any client can tell. Between calls gc holds no vacant
 *    group: every step that may leave one ends with maybe_drop(), and
 *    gcoord_adopt() drops a vacant loaded group at once (our records are
 *    never of generation 0: group.c's invariant 6; such a record from
 *    elsewhere says only "nothing here");
 *  - an Empty group of a later generation is kept: its record and committed
 *    offsets outlive its members; it leaves through DeleteGroups
 *    (gcoord_delete), the offsets.retention.minutes expiry (the caller's:
 *    it finds them with gcoord_foreach, then calls gcoord_delete) or
 *    gcoord_unload_all.
 *
 * OffsetCommit never creates a group (Kafka creates an Empty one for a
 * commit with generation -1): the offsets live in the offset store, keyed by
 * group id, whether or not a group exists, and an Empty group created here
 * would hold nothing (it would be vacant).
 *
 * Kafka's group-id rule for the group APIs: null or "" is INVALID_GROUP_ID
 * (isValidGroupId for JoinGroup, SyncGroup, Heartbeat, LeaveGroup).
 */
#include "group/gcoord.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

struct gentry {
	struct group *g;        /* owned */
	uint64_t hash;
	struct gentry *next;
};

struct gcoord {
	struct group_cfg cfg;
	struct gentry **buckets; /* owned; nbuckets, a power of two */
	size_t nbuckets;
	size_t n;
};

static uint64_t hash_id(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

struct gcoord *gcoord_new(const struct group_cfg *cfg)
{
	struct gcoord *gc = calloc(1, sizeof *gc);
	if (gc == NULL)
		return NULL;
	gc->cfg = *cfg;
	gc->nbuckets = 16;
	gc->buckets = calloc(gc->nbuckets, sizeof *gc->buckets);
	if (gc->buckets == NULL) {
		free(gc);
		return NULL;
	}
	return gc;
}

void gcoord_free(struct gcoord *gc)
{
	if (gc == NULL)
		return;
	for (size_t b = 0; b < gc->nbuckets; b++)
		for (struct gentry *e = gc->buckets[b], *next; e; e = next) {
			next = e->next;
			group_free(e->g);
			free(e);
		}
	free(gc->buckets);
	free(gc);
}

static struct gentry **slot_of(const struct gcoord *gc, const char *gid, uint64_t h)
{
	struct gentry **pp = &gc->buckets[h & (gc->nbuckets - 1)];
	while (*pp && ((*pp)->hash != h || strcmp(group_id((*pp)->g), gid) != 0))
		pp = &(*pp)->next;
	return pp;
}

struct group *gcoord_find(const struct gcoord *gc, const char *gid)
{
	if (gid == NULL)
		return NULL;
	struct gentry **pp = slot_of(gc, gid, hash_id(gid));
	return *pp ? (*pp)->g : NULL;
}

size_t gcoord_count(const struct gcoord *gc) { return gc->n; }

static void grow(struct gcoord *gc)
{
	size_t nb = gc->nbuckets * 2;
	struct gentry **b = calloc(nb, sizeof *b);
	if (b == NULL)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < gc->nbuckets; i++)
		for (struct gentry *e = gc->buckets[i], *next; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (nb - 1)];
			b[e->hash & (nb - 1)] = e;
		}
	free(gc->buckets);
	gc->buckets = b;
	gc->nbuckets = nb;
}

/* Links e (holding a group whose id is not in gc yet) into its bucket. */
static void insert_entry(struct gcoord *gc, struct gentry *e)
{
	if (gc->n >= gc->nbuckets)
		grow(gc);
	e->hash = hash_id(group_id(e->g));
	struct gentry **head = &gc->buckets[e->hash & (gc->nbuckets - 1)];
	e->next = *head;
	*head = e;
	gc->n++;
}

/* Adds a new Empty group; NULL when out of memory. */
static struct group *add_group(struct gcoord *gc, const char *gid)
{
	struct gentry *e = calloc(1, sizeof *e);
	struct group *g = group_new(gid, &gc->cfg);
	if (e == NULL || g == NULL) {
		free(e);
		group_free(g);
		return NULL;
	}
	e->g = g;
	insert_entry(gc, e);
	return g;
}

/* Frees a group the coordinator gives up outside any request (a replaced
 * or discarded loaded group): its parked requests, if any, are answered
 * into a scratch out that nobody reads; at start-up there are none. */
static void discard_group(struct group *g)
{
	struct group_out scratch;
	group_out_init(&scratch);
	group_unload(g, &scratch);
	group_out_fini(&scratch);
	group_free(g);
}

static void remove_group(struct gcoord *gc, const char *gid)
{
	struct gentry **pp = slot_of(gc, gid, hash_id(gid));
	struct gentry *e = *pp;
	if (e == NULL)
		return;
	*pp = e->next;
	group_free(e->g);
	free(e);
	gc->n--;
}

/* Drops g when it holds nothing (see the design note). */
static void maybe_drop(struct gcoord *gc, struct group *g)
{
	if (group_is_vacant(g))
		remove_group(gc, group_id(g));
}

static bool valid_group_id(const char *gid)
{
	return gid != NULL && gid[0] != '\0' && strlen(gid) <= GROUP_MAX_STR_LEN;
}

void gcoord_join(struct gcoord *gc, const char *gid, const struct group_join_req *req,
                 int64_t now, struct group_out *out)
{
	if (!valid_group_id(gid)) {
		group_out_join_error(out, req->tag, req->member_id, KAFKA_INVALID_GROUP_ID);
		return;
	}
	struct group *g = gcoord_find(gc, gid);
	if (g == NULL) {
		int err = group_join_check(req, &gc->cfg);
		if (err == KAFKA_NONE && req->member_id && req->member_id[0] != '\0')
			err = KAFKA_UNKNOWN_MEMBER_ID; /* only an unknown member creates */
		if (err == KAFKA_NONE && (g = add_group(gc, gid)) == NULL)
			err = KAFKA_UNKNOWN_SERVER_ERROR;
		if (err != KAFKA_NONE) {
			group_out_join_error(out, req->tag, req->member_id, err);
			return;
		}
	}
	group_join(g, req, now, out);
	maybe_drop(gc, g);
}

void gcoord_sync(struct gcoord *gc, const char *gid, const struct group_sync_req *req,
                 int64_t now, struct group_out *out)
{
	struct group *g = valid_group_id(gid) ? gcoord_find(gc, gid) : NULL;
	if (g == NULL) {
		group_out_sync_error(out, req->tag,
		                     valid_group_id(gid) ? KAFKA_UNKNOWN_MEMBER_ID : KAFKA_INVALID_GROUP_ID);
		return;
	}
	group_sync(g, req, now, out);
	maybe_drop(gc, g);
}

int gcoord_heartbeat(struct gcoord *gc, const char *gid, const char *member_id,
                     const char *group_instance_id, int32_t generation_id, int64_t now,
                     struct group_out *out)
{
	if (!valid_group_id(gid))
		return KAFKA_INVALID_GROUP_ID;
	struct group *g = gcoord_find(gc, gid);
	if (g == NULL)
		return KAFKA_UNKNOWN_MEMBER_ID;
	int err = group_heartbeat(g, member_id, group_instance_id, generation_id, now, out);
	maybe_drop(gc, g);
	return err;
}

int gcoord_leave(struct gcoord *gc, const char *gid, struct group_leave_member *members,
                 int32_t n, int64_t now, struct group_out *out)
{
	if (!valid_group_id(gid))
		return KAFKA_INVALID_GROUP_ID;
	struct group *g = gcoord_find(gc, gid);
	if (g == NULL) {
		for (int32_t k = 0; k < n; k++)
			members[k].error_code = KAFKA_UNKNOWN_MEMBER_ID;
		return KAFKA_NONE;
	}
	int err = group_leave(g, members, n, now, out);
	maybe_drop(gc, g);
	return err;
}

int gcoord_commit_check(struct gcoord *gc, const char *gid, const char *member_id,
                        const char *group_instance_id, int32_t generation_id, int64_t now,
                        struct group_out *out)
{
	if (!valid_group_id(gid))
		return KAFKA_INVALID_GROUP_ID;
	struct group *g = gcoord_find(gc, gid);
	if (g == NULL) /* Kafka: a commit outside the protocol, or a member of a group we lost */
		return generation_id < 0 ? KAFKA_NONE : KAFKA_UNKNOWN_MEMBER_ID;
	int err = group_commit_check(g, member_id, group_instance_id, generation_id, now, out);
	maybe_drop(gc, g); /* a generation-0 group whose pending ids expired */
	return err;
}

/* Takes ownership of g. A vacant g is not kept (see the design note) but
 * still replaces a group of its id: the latest record wins. */
int gcoord_adopt(struct gcoord *gc, struct group *g)
{
	struct gentry **pp = slot_of(gc, group_id(g), hash_id(group_id(g)));
	if (group_is_vacant(g)) {
		if (*pp)
			remove_group(gc, group_id(g));
		discard_group(g);
		return 0;
	}
	if (*pp) { /* replace in place: no allocation, so no failure */
		discard_group((*pp)->g);
		(*pp)->g = g;
		return 0;
	}
	struct gentry *e = calloc(1, sizeof *e);
	if (e == NULL) {
		group_free(g);
		return -1;
	}
	e->g = g;
	insert_entry(gc, e);
	return 0;
}

void gcoord_foreach(const struct gcoord *gc, void (*fn)(void *arg, struct group *g), void *arg)
{
	for (size_t b = 0; b < gc->nbuckets; b++)
		for (const struct gentry *e = gc->buckets[b]; e; e = e->next)
			fn(arg, e->g);
}

void gcoord_unload_all(struct gcoord *gc, struct group_out *out)
{
	for (size_t b = 0; b < gc->nbuckets; b++) {
		for (struct gentry *e = gc->buckets[b], *next; e; e = next) {
			next = e->next;
			group_unload(e->g, out);
			group_free(e->g);
			free(e);
		}
		gc->buckets[b] = NULL;
	}
	gc->n = 0;
}

void gcoord_tick(struct gcoord *gc, int64_t now, struct group_out *out)
{
	for (size_t b = 0; b < gc->nbuckets; b++)
		for (struct gentry *e = gc->buckets[b], *next; e; e = next) {
			next = e->next;
			if (group_next_deadline(e->g) <= now) {
				group_tick(e->g, now, out);
				maybe_drop(gc, e->g); /* frees e; next was read first */
			}
		}
	out->next_deadline_ms = gcoord_next_deadline(gc);
}

int64_t gcoord_next_deadline(const struct gcoord *gc)
{
	int64_t t = INT64_MAX;
	for (size_t b = 0; b < gc->nbuckets; b++)
		for (const struct gentry *e = gc->buckets[b]; e; e = e->next) {
			int64_t d = group_next_deadline(e->g);
			if (d < t)
				t = d;
		}
	return t;
}

int gcoord_delete(struct gcoord *gc, const char *gid)
{
	if (!valid_group_id(gid))
		return KAFKA_INVALID_GROUP_ID;
	struct group *g = gcoord_find(gc, gid);
	if (g == NULL)
		return KAFKA_GROUP_ID_NOT_FOUND;
	int err = group_delete(g);
	if (err == KAFKA_NONE)
		remove_group(gc, gid);
	return err;
}
