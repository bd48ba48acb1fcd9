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
#include <sys/types.h>

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
/* offstore_put that also records where the offset's record lies in
 * __consumer_offsets (log_offset; offstore_put records -1): of a regular
 * and a transactional commit of one key, the later record wins (see
 * "pending" below). */
int offstore_put_at(struct offstore *s, const char *group, const char *topic, int32_t partition,
                    const struct off_value *v, int64_t log_offset);
/* The offset, or NULL. */
const struct off_value *offstore_get(const struct offstore *s, const char *group,
                                     const char *topic, int32_t partition);
/* The offset's record's log offset (offstore_put_at); -1 when absent or
 * unknown. */
int64_t offstore_log_offset(const struct offstore *s, const char *group, const char *topic,
                            int32_t partition);
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

/* ---- pending transactional offsets (TxnOffsetCommit, KIP-98)
 *
 * An offset committed inside a transaction is PENDING for its producer id
 * from its write until the transaction's marker: invisible to get/foreach
 * above (OffsetFetch answers the last committed value, or
 * UNSTABLE_OFFSET_COMMIT with RequireStable). At the marker, COMMIT moves
 * the producer's pending offsets into the committed store and ABORT drops
 * them (offstore_txn_end). Kafka's rules for mixing
 * (OffsetMetadataManager.replayEndTransactionMarker and .replay):
 *  - a pending offset becomes committed only when the key has no committed
 *    offset or its record lies earlier in the log (log_offset): a regular
 *    commit written after the transactional one wins, whenever the marker
 *    comes;
 *  - a tombstone of a key (OffsetDelete, DeleteGroups) drops the
 *    pending offsets of that key written before it, of every producer;
 *  - one producer has at most one pending offset per key (a later one
 *    replaces it).
 * Cost: the pending set is a list, O(pending offsets) per call — it holds
 * only the offsets of transactions in flight. */

/* Records v, whose record lies at log_offset, as pending for pid. Returns
 * 0, -1 when out of memory (the set is unchanged). */
int offstore_txn_put(struct offstore *s, int64_t pid, const char *group, const char *topic,
                     int32_t partition, const struct off_value *v, int64_t log_offset);
/* Does any producer have a pending offset for (group, topic, partition)? */
bool offstore_txn_pending(const struct offstore *s, const char *group, const char *topic,
                          int32_t partition);
/* Number of pending offsets of a group (all producers). */
size_t offstore_txn_count(const struct offstore *s, const char *group);
/* Ends pid's pending offsets of the groups for which in(arg, group) is true
 * (NULL: all): commit moves them into the store under the rule above,
 * !commit drops them. Returns how many ended, or -1 when an offset could
 * not be stored for want of memory (that one is lost from memory; it is in
 * the log and comes back at the next start). */
typedef bool (*offstore_group_fn)(void *arg, const char *group);
ssize_t offstore_txn_end(struct offstore *s, int64_t pid, offstore_group_fn in, void *arg,
                         bool commit);
/* A tombstone at log offset `before` for (group, topic, partition), or with
 * topic NULL for every key of the group: drops pending offsets of the key(s)
 * whose log_offset < before, of every producer. Returns how many. */
size_t offstore_txn_drop(struct offstore *s, const char *group, const char *topic,
                         int32_t partition, int64_t before);
/* Removes pid's pending offset of the key if its log_offset is `log_offset`
 * (its write failed). Returns true when it did. */
bool offstore_txn_forget(struct offstore *s, int64_t pid, const char *group, const char *topic,
                         int32_t partition, int64_t log_offset);
/* Calls fn for each pending offset of a group (any order; a key pending in
 * two producers comes twice). fn must not change the store. */
void offstore_txn_foreach(const struct offstore *s, const char *group, offstore_each_fn fn,
                          void *arg);
#endif
