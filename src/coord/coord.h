/*
 * coord.h — the group coordinator service (layer above src/group, which
 * holds the pure state machines and stores): one thread with its own event
 * loop owns every classic group (gcoord), the committed offsets (offstore)
 * and the writes to the internal topic __consumer_offsets. API handlers
 * (the group and offset handlers in src/api/) decode a request on
 * their network loop, hand the coordinator a job, and get it back on that
 * loop to encode the answer.
 *
 *   network loop                 coordinator thread
 *   ------------                 ------------------
 *   decode, coord_submit(job) -> job->run(job)
 *                                  gcoord_* / offstore_* / coord_commit ...
 *                                  coord_finish(job) (now, or when a parked
 *                                  JoinGroup/SyncGroup completes, or when a
 *                                  commit is durable)
 *   job->reply(job)           <-
 *   encode, api_respond
 *
 * Why one thread: groups are pure state machines without locks (group.h);
 * putting all of them on one thread keeps every event of a group in order
 * and needs no locking at all. Coordinator work is small (a join, a commit)
 * next to the data path, which never touches this thread.
 *
 * Ownership: a job lives in its request's arena (the net layer keeps the
 * request alive until api_respond, even when the connection dies). While
 * the job is on the coordinator thread, the coordinator thread owns the
 * request and may allocate from req->arena; the network loop touches
 * neither until job->reply runs.
 *
 * Durability: OffsetCommit, OffsetDelete and DeleteGroups answer only after
 * their records are on stable storage (fdatasync through the partition
 * log's group commit, as acks=all). Group metadata (members, assignments)
 * is appended when a generation completes and when a group empties, without
 * waiting for the flush (see coord.c for why that is safe).
 *
 * Start-up: coord_start() creates nothing; it replays __consumer_offsets if
 * it exists, rebuilding offsets and groups, before the listeners open. The
 * topic itself (offsets.topic.num.partitions partitions, cleanup.policy
 * compact) is created on first need: FindCoordinator for a group, or any
 * group request (coord_ensure_topic), as Kafka creates it.
 */
#ifndef RUNNEL_COORD_COORD_H
#define RUNNEL_COORD_COORD_H
#include <stddef.h>
#include <stdint.h>

#include "group/gcoord.h"
#include "group/group.h"
#include "group/offstore.h"

struct req;
struct coord_job;
typedef void (*coord_job_fn)(struct coord_job *job);

/* Embed first in the handler's own job struct (allocated in req->arena). */
struct coord_job {
	struct req *req;
	coord_job_fn run;    /* coordinator thread: the work; ends with coord_finish()
	                      * now or later (exactly once) */
	coord_job_fn reply;  /* req->loop: encode the answer and api_respond() */
	/* JoinGroup/SyncGroup jobs only: called on the coordinator thread with
	 * the group's answer for tag coord_tag(job). It copies what it needs
	 * (into req->arena); coord_step then calls coord_finish(job). */
	void (*on_group_resp)(struct coord_job *job, const struct group_resp *resp);
	/* private to coord.c */
	struct coord_job *next;
};

/* ---- lifecycle (main.c) ---- */

/* Replays __consumer_offsets (when it exists) into groups and offsets and
 * starts the coordinator thread. Call after meta and logdir are open and
 * before the listeners accept. Returns 0, or -1 (logged). */
int coord_start(void);
/* Stops the thread: parked JoinGroup/SyncGroup requests are answered
 * NOT_COORDINATOR (group_unload), in-flight commits are waited for. Call
 * before the network loops stop. Safe when coord_start failed or was not
 * called. */
void coord_stop(void);

/* ---- any network loop ---- */

/* Runs job->run on the coordinator thread. Returns 0, or -1 when the
 * coordinator is not running (stopping, or out of memory): the handler then
 * answers COORDINATOR_NOT_AVAILABLE itself. */
int coord_submit(struct coord_job *job);

/* Creates __consumer_offsets when it does not exist yet. Any thread (blocks
 * for one metadata-log fdatasync the first time). Returns a Kafka code:
 * NONE, or COORDINATOR_NOT_AVAILABLE when it cannot be created. */
int coord_ensure_topic(void);

/* ---- coordinator thread only (inside job->run and callbacks) ---- */

/* Hands the job back: job->reply will run on req->loop. Exactly once. */
void coord_finish(struct coord_job *job);
/* The tag a JoinGroup/SyncGroup request carries into gcoord (identifies
 * the job when its answer comes out of a later step). */
static inline uint64_t coord_tag(struct coord_job *job) { return (uint64_t)(uintptr_t)job; }

struct gcoord *coord_groups(void);
struct offstore *coord_offsets(void);
int64_t coord_now_ms(void);   /* monotonic: the clock of the group state machines */
int64_t coord_wall_ms(void);  /* wall clock: commit timestamps */

/* A cleared group_out for one step (reused; do not fini). */
struct group_out *coord_out(void);
/* Delivers a step's output: each response to its job's on_group_resp then
 * coord_finish; the group metadata writes the step asks for (out->stores);
 * re-arms the group timer at out->next_deadline_ms. Resets out. Call after
 * every gcoord_* call that took out. */
void coord_step(struct group_out *out);

/* One offset to commit. */
struct coord_offset {
	const char *topic;
	int32_t partition;
	int64_t offset;
	int32_t leader_epoch;      /* -1: unknown */
	const char *metadata;      /* NULL: "" */
	int64_t expire_ts_ms;      /* -1: none (v1's explicit expiry) */
};
/* job may also be a handler's "sub-job" that was never submitted (one per
 * group of a DeleteGroups): only job->req is used, for its arena. */
typedef void (*coord_done_fn)(struct coord_job *job, int err);

/* Writes n offset commits of group to its __consumer_offsets partition; once
 * they are durable, puts them into the offset store (commit timestamp =
 * coord_wall_ms() at the call) and calls done(job, NONE). On failure the
 * store is unchanged and done gets the Kafka code
 * (COORDINATOR_NOT_AVAILABLE, KAFKA_STORAGE_ERROR...). done runs on the
 * coordinator thread, never inside this call. Strings are copied. n == 0:
 * done(job, NONE) at once (still not inside the call). */
void coord_commit(struct coord_job *job, const char *group, const struct coord_offset *offs,
                  size_t n, coord_done_fn done);
/* OffsetDelete: tombstones for the given partitions of group (those that
 * have an offset), then removes them from the store; done as above. */
struct coord_tp { const char *topic; int32_t partition; };
void coord_delete_offsets(struct coord_job *job, const char *group, const struct coord_tp *tps,
                          size_t n, coord_done_fn done);
/* DeleteGroups for one group: GROUP_ID_NOT_FOUND when there is neither a
 * group nor offsets, NON_EMPTY_GROUP when it has members, else tombstones
 * for the group and all its offsets, then done(job, NONE). The group goes
 * Dead at once (joins arriving meanwhile start a new group). */
void coord_delete_group(struct coord_job *job, const char *group, coord_done_fn done);

/* ---- transactions (coord_txn.c; the state machines are src/txn/tcoord.h)
 *
 * The transaction coordinator runs on this same thread: its jobs come in
 * through coord_submit like the group ones, and its durable state is the
 * compacted topic __transaction_state (transaction.state.log.num.partitions
 * partitions, created on first need), replayed at coord_start. Markers are
 * written by this thread to every partition of a transaction once its
 * PREPARE_x record is durable; the COMPLETE_x record follows when every
 * marker is durable. Transactions left in PREPARE_x by a crash are finished
 * at start-up. Timeouts abort (with an epoch bump) every
 * transaction.abort.timed.out.transaction.cleanup.interval.ms. A request
 * that finds its id busy with a state write or markers is held until that
 * ends (at most 1 s) instead of answering CONCURRENT_TRANSACTIONS at once
 * (coord_txn.c, "parked").
 */
struct tcoord;

/* Creates __transaction_state when missing (FindCoordinator KeyType 1, and
 * every transactional request). Any thread. NONE or
 * COORDINATOR_NOT_AVAILABLE. */
int coord_txn_ensure_topic(void);

/* The answer of a transactional request. done runs on the coordinator
 * thread, never inside the call; then the handler calls coord_finish. */
typedef void (*coord_txn_done_fn)(struct coord_job *job, int err, int64_t pid, int16_t epoch);

/* InitProducerId with a transactional id (tcoord_init_pid's rules). */
void coord_txn_init_pid(struct coord_job *job, const char *tid, int32_t timeout_ms, int64_t pid,
			int16_t epoch, bool fenced_ok, coord_txn_done_fn done);
/* AddPartitionsToTxn (the handler answers UNKNOWN_TOPIC_OR_PARTITION /
 * OPERATION_NOT_ATTEMPTED itself when a partition does not exist) and
 * AddOffsetsToTxn (tps = the group's __consumer_offsets partition). One
 * code for all of tps. */
void coord_txn_add_partitions(struct coord_job *job, const char *tid, int64_t pid, int16_t epoch,
			      const struct coord_tp *tps, size_t n, bool fenced_ok,
			      coord_txn_done_fn done);
/* EndTxn. */
void coord_txn_end(struct coord_job *job, const char *tid, int64_t pid, int16_t epoch, bool commit,
		   bool fenced_ok, coord_txn_done_fn done);
/* The transaction state machines, for DescribeTransactions /
 * ListTransactions (read-only, inside job->run). */
struct tcoord *coord_txns(void);

/* TxnOffsetCommit (coord_store.c): writes the offsets as one transactional
 * batch (ProducerId pid, ProducerEpoch epoch, BaseSequence -1) to the
 * group's __consumer_offsets partition — the partition log's KIP-890 check
 * refuses it unless AddOffsetsToTxn added that partition to the producer's
 * ongoing transaction (INVALID_TXN_STATE), or the epoch is stale
 * (INVALID_PRODUCER_EPOCH) — and once durable keeps them PENDING for pid:
 * invisible to OffsetFetch until the transaction's COMMIT marker lands in
 * that partition (coord_store_txn_end), dropped on ABORT. done(job, code). */
void coord_txn_commit_offsets(struct coord_job *job, const char *group, int64_t pid, int16_t epoch,
			      const struct coord_offset *offs, size_t n, coord_done_fn done);
#endif
