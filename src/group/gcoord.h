/*
 * gcoord.h — the group coordinator's set of classic groups, keyed by group
 * id: validates the group id, creates a group on its first JoinGroup, routes
 * each event to its group (group.h) and drops groups that hold nothing.
 * Pure like group.c: events and a clock in, responses and a deadline out.
 *
 * Threads: not locked; one thread calls every function of one gcoord.
 */
#ifndef RUNNEL_GROUP_GCOORD_H
#define RUNNEL_GROUP_GCOORD_H
#include <stddef.h>
#include <stdint.h>

#include "group/group.h"

struct gcoord;

/* An empty coordinator; copies cfg. NULL when out of memory. */
struct gcoord *gcoord_new(const struct group_cfg *cfg);
/* Frees every group (parked requests are dropped: see group_free). */
void gcoord_free(struct gcoord *gc);

/* The group, or NULL. Borrowed until the next gcoord call. */
struct group *gcoord_find(const struct gcoord *gc, const char *group_id);
size_t gcoord_count(const struct gcoord *gc);

/* JoinGroup. An empty or NULL group id is INVALID_GROUP_ID; an unknown group
 * is created only for a join without member id that passes
 * group_join_check() (else UNKNOWN_MEMBER_ID, or the check's code). The
 * response reaches out now or later (group_join). */
void gcoord_join(struct gcoord *gc, const char *group_id, const struct group_join_req *req,
                 int64_t now_ms, struct group_out *out);
/* SyncGroup: INVALID_GROUP_ID, UNKNOWN_MEMBER_ID for an unknown group, else
 * group_sync. */
void gcoord_sync(struct gcoord *gc, const char *group_id, const struct group_sync_req *req,
                 int64_t now_ms, struct group_out *out);
/* Heartbeat: INVALID_GROUP_ID, UNKNOWN_MEMBER_ID for an unknown group, else
 * group_heartbeat's code. */
int gcoord_heartbeat(struct gcoord *gc, const char *group_id, const char *member_id,
                     const char *group_instance_id, int32_t generation_id, int64_t now_ms,
                     struct group_out *out);
/* LeaveGroup: INVALID_GROUP_ID (top level); an unknown group answers NONE at
 * the top and UNKNOWN_MEMBER_ID per member; else group_leave. */
int gcoord_leave(struct gcoord *gc, const char *group_id, struct group_leave_member *members,
                 int32_t n, int64_t now_ms, struct group_out *out);
/* OffsetCommit's check (group_commit_check). An empty or NULL group id is
 * INVALID_GROUP_ID. An unknown group accepts generation_id < 0 (NONE: the
 * offsets are kept without a group) and answers UNKNOWN_MEMBER_ID
 * otherwise. */
int gcoord_commit_check(struct gcoord *gc, const char *group_id, const char *member_id,
                        const char *group_instance_id, int32_t generation_id, int64_t now_ms,
                        struct group_out *out);
/* Adds a group rebuilt by group_load() at start-up (replacing a group of
 * the same id). Takes ownership. Returns 0, or -1 when out of memory (g is
 * freed). */
int gcoord_adopt(struct gcoord *gc, struct group *g);
/* Calls fn for every group (ListGroups, DescribeGroups, expiry). fn must
 * not add or remove groups. */
void gcoord_foreach(const struct gcoord *gc, void (*fn)(void *arg, struct group *g), void *arg);
/* Shutdown: group_unload on every group (parked requests answered
 * NOT_COORDINATOR into out), then frees them all. */
void gcoord_unload_all(struct gcoord *gc, struct group_out *out);
/* Ticks every group whose deadline is due; out->next_deadline_ms becomes the
 * earliest deadline of all groups. */
void gcoord_tick(struct gcoord *gc, int64_t now_ms, struct group_out *out);
/* The earliest deadline of all groups; INT64_MAX: none. O(groups). */
int64_t gcoord_next_deadline(const struct gcoord *gc);
/* DeleteGroups for one id: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, or NONE
 * (the group went Dead and is freed). */
int gcoord_delete(struct gcoord *gc, const char *group_id);
#endif
