/*
 * coord_int.h — private to src/coord: the coordinator's state and the
 * split between coord.c (thread, jobs, steps, timers) and coord_store.c
 * (__consumer_offsets: appends, durability waits, start-up replay, offset
 * expiry).
 */
#ifndef RUNNEL_COORD_COORD_INT_H
#define RUNNEL_COORD_COORD_INT_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "coord/coord.h"

#define COORD_TOPIC "__consumer_offsets"

struct evloop;
struct evtimer;

/* The one coordinator. Fields below `loop` are touched by the coordinator
 * thread only (or by coord_start/coord_stop while that thread is not
 * running). */
struct coord {
	atomic_bool running;         /* coord_submit accepts jobs */
	atomic_int inflight;         /* appends waiting for their durability callback */
	pthread_t thread;
	bool thread_started;
	struct evloop *loop;
	struct gcoord *gc;
	struct offstore *os;
	struct group_cfg gcfg;
	struct group_out out;
	bool closed;                 /* unloaded for shutdown: no group may park again */
	struct evtimer *tick_timer;  /* group deadlines */
	int64_t tick_at;             /* its deadline; INT64_MAX: none */
	struct evtimer *expiry_timer;/* offsets.retention.check.interval.ms */
	pthread_mutex_t topic_lock;  /* serialises coord_ensure_topic */
};

extern struct coord g_coord;

/* coord_store.c */

/* Replays __consumer_offsets (if it exists) into g_coord.gc and .os.
 * Start-up only (before the thread runs). Returns 0, or -1 (logged). */
int coord_store_load(void);
/* Appends the group's metadata record (or, with snap NULL, its tombstone)
 * without waiting for the flush. Coordinator thread. */
void coord_store_group(const char *group_id, const struct group_snap *snap);
/* Finds offsets past their retention and removes them (tombstones); then
 * drops Empty groups left without offsets (Kafka's cleanupGroupMetadata).
 * Coordinator thread. */
void coord_store_expire(void);

/* Monotonic <-> wall conversions of a past instant (group state times). */
int64_t coord_mono_to_wall(int64_t mono_ms);
int64_t coord_wall_to_mono(int64_t wall_ms);
/* Transactions: the marker of pid's transaction is durable in the
 * __consumer_offsets partition `partition`: its pending offsets (written by
 * coord_txn_commit_offsets, or found by the replay) become committed
 * (commit) or are dropped. Coordinator thread. */
void coord_store_txn_end(int32_t partition, int64_t pid, bool commit);
/* Does any group have pending transactional offsets for (group, topic,
 * partition)? (OffsetFetch RequireStable: UNSTABLE_OFFSET_COMMIT.) */
bool coord_store_txn_pending(const char *group, const char *topic, int32_t partition);
/* coord_commit's write (coord_store.c); with prod, TxnOffsetCommit's
 * transactional batch, whose offsets go pending for prod->producer_id once
 * appended (coord_txn_commit_offsets). */
struct batch_producer;
void coord_store_commit(struct coord_job *job, const char *group, const struct coord_offset *offs,
			size_t n, const struct batch_producer *prod, coord_done_fn done);
/* Start-up replay (coord_store_load): a marker of pid in partition
 * `partition` of __consumer_offsets (npartitions partitions): as
 * coord_store_txn_end (coord_txnoff.c). */
void coord_txnoff_marker(int32_t partition, int32_t npartitions, int64_t pid, bool commit);

/* coord_txn.c: replays __transaction_state (start-up, before the thread
 * runs); starts the markers of transactions left in PREPARE_x once the
 * thread runs (coord_txn_resume, on the thread); timers. */
int coord_txn_load(void);
void coord_txn_resume(void);
void coord_txn_stop(void);
/* Frees the state machines and the registry (coord_stop, thread joined). */
void coord_txn_free(void);
/* coord_topics.c: the internal topics. */
/* Creates a compacted internal topic when missing (serialised by
 * topic_lock). Any thread. NONE or COORDINATOR_NOT_AVAILABLE. */
int coord_topic_ensure(const char *name, int32_t partitions, int32_t segment_bytes);
/* Calls fn for every batch of pl from its start to its end, in order
 * (start-up replay). Returns 0, or -1 on a read error. */
struct plog;
struct batch_hdr;
typedef void (*coord_batch_fn)(void *arg, uint8_t *p, size_t n, const struct batch_hdr *h);
int coord_log_scan(struct plog *pl, coord_batch_fn fn, void *arg);
/* Builds one batch of the n records (with prod: that producer's batch, e.g.
 * transactional) and appends it to pl. Returns a Kafka code; on success
 * *base is the first record's offset and *end the offset after the batch. */
struct batch_kv;
int coord_append(struct plog *pl, const struct batch_kv *kv, int n, const struct batch_producer *prod,
		 int64_t *base, int64_t *end);
/* Calls fn(arg, code) on the coordinator thread — never inside this call —
 * once every offset of pl below end is on stable storage (NONE) or the
 * partition failed; with err != NONE (or pl NULL), just as soon as possible
 * with err. Counted in g_coord.inflight meanwhile (coord_stop waits).
 * Returns 0, or -1 when out of memory (fn is then never called). */
typedef void (*coord_durable_fn)(void *arg, int err);
int coord_when_durable(struct plog *pl, int64_t end, int err, coord_durable_fn fn, void *arg);
#endif
