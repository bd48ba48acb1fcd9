/*
 * offstore.h — committed offsets in memory: group id -> (topic, partition)
 * -> the last committed offset. The coordinator (coord.c) is its only user;
 * __consumer_offsets is the durable copy and this is rebuilt from it at
 * start-up.
 *
 * Threads: not locked; the coordinator thread alone uses it.
 * Memory: every string passed in is copied; values handed out are borrowed
 * until the next call that changes the store.
 * Cost: O(1) expected per put/get/del (hash maps keyed by group, then by
 * topic and partition); iteration of one group is in (topic, partition)
 * order so that OffsetFetch answers and `rnl group describe` are stable.
 */
#ifndef RUNNEL_GROUP_OFFSTORE_H
#define RUNNEL_GROUP_OFFSTORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One committed offset (Kafka's OffsetCommitValue). */
struct off_value {
	int64_t offset;
	int32_t leader_epoch;      /* -1: unknown */
	const char *metadata;      /* never NULL ("" when none); copied by put */
	int64_t commit_ts_ms;      /* wall clock of the commit */
	int64_t expire_ts_ms;      /* OffsetCommit v1's explicit expiry; -1: none */
};

struct offstore;

struct offstore *offstore_new(void);           /* NULL when out of memory */
void offstore_free(struct offstore *s);

/* Sets (or replaces) one offset. Returns 0, -1 when out of memory (the
 * store is unchanged). */
int offstore_put(struct offstore *s, const char *group, const char *topic, int32_t partition,
                 const struct off_value *v);
/* The offset, or NULL. */
const struct off_value *offstore_get(const struct offstore *s, const char *group,
                                     const char *topic, int32_t partition);
/* Removes one offset; true when it existed. A group whose last offset goes
 * is forgotten. */
bool offstore_del(struct offstore *s, const char *group, const char *topic, int32_t partition);
/* Removes every offset of a group; returns how many. */
size_t offstore_del_group(struct offstore *s, const char *group);

/* Number of offsets a group has (0 for an unknown group); number of groups. */
size_t offstore_group_count(const struct offstore *s, const char *group);
size_t offstore_ngroups(const struct offstore *s);

/* Calls fn for each offset of a group in (topic, partition) order (topic by
 * strcmp). fn must not change the store. */
typedef void (*offstore_each_fn)(void *arg, const char *topic, int32_t partition,
                                 const struct off_value *v);
void offstore_foreach(const struct offstore *s, const char *group, offstore_each_fn fn, void *arg);
/* Calls fn for every group id that has offsets (any order). fn must not
 * change the store. */
void offstore_foreach_group(const struct offstore *s, void (*fn)(void *arg, const char *group),
                            void *arg);
#endif
