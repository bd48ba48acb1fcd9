/*
 * tcoord.h — the transaction coordinator's state machines (Kafka's
 * TransactionCoordinator + TransactionMetadata + TransactionStateManager's
 * in-memory part), pure: requests and a clock in, decisions out. No I/O, no
 * threads, no locks: src/coord/coord_txn.c drives it on the coordinator
 * thread and does the writes (to __transaction_state and the markers).
 *
 * One entry per transactional id. Its durable image is a struct txn_rec (a
 * __transaction_state value, src/txn/tmsg.h). A change is two-phase, as in
 * Kafka (prepareTransitionTo / completeTransitionTo):
 *
 *   tcoord_<request>(...)  -> struct txn_step:
 *       .write == false: answer .err now; nothing changed;
 *       .write == true:  the entry now has a PENDING transition to .rec; the
 *                        driver writes .rec durably, then calls
 *                        tcoord_written(ok) which applies it (ok) or drops
 *                        it (!ok) and says what to answer and whether
 *                        markers must be written next.
 *   While a transition is pending, or markers are being written (state
 *   PREPARE_COMMIT / PREPARE_ABORT), every request of that id answers
 *   CONCURRENT_TRANSACTIONS (retriable; clients back off and retry).
 *
 * States and transitions (Kafka's TransactionState, codes as stored):
 *
 *   EMPTY(0) / COMPLETE_COMMIT(4) / COMPLETE_ABORT(5)
 *        --AddPartitions/AddOffsets-->  ONGOING(1)   (start_ms = now)
 *        --InitProducerId-->            EMPTY        (epoch + 1; pid changes
 *                                                     when epoch would pass
 *                                                     INT16_MAX - 1)
 *   ONGOING --AddPartitions-->          ONGOING      (more partitions)
 *   ONGOING --EndTxn(commit)-->         PREPARE_COMMIT(2)
 *   ONGOING --EndTxn(abort)-->          PREPARE_ABORT(3)
 *   ONGOING --timeout / InitProducerId of a new instance-->
 *                                       PREPARE_ABORT with epoch + 1 (the
 *                                       fence: the old producer's epoch is
 *                                       dead in every partition once the
 *                                       markers carry the new one; Kafka's
 *                                       PREPARE_EPOCH_FENCE is only an
 *                                       in-memory step of this, never stored)
 *   PREPARE_x --markers durable on every partition--> COMPLETE_x
 *                                       (partitions cleared)
 *   EMPTY/COMPLETE_x idle > transactional.id.expiration.ms --> DEAD(6):
 *                                       a tombstone, the entry is removed.
 *
 * Request rules (Kafka 3.9 TransactionCoordinator, in its order):
 *  InitProducerId(tid, timeout, pid, epoch)   [pid/epoch -1/-1 unless v3+]
 *    - unknown tid: allocate a pid (tcoord's alloc callback), epoch 0,
 *      write EMPTY.
 *    - (pid, epoch) given and neither the current (pid, epoch) nor the
 *      previous one (a retry of a bump that succeeded): PRODUCER_FENCED
 *      when the client understands it (v4+, `fenced_ok`) else
 *      INVALID_PRODUCER_EPOCH.
 *    - (pid, epoch) given and equal to the previous one: answer the current
 *      (pid, epoch), nothing written (the retry of a completed bump).
 *    - pending transition or PREPARE_x: CONCURRENT_TRANSACTIONS (Kafka
 *      checks the caller's (pid, epoch) first, so a fenced producer learns
 *      it at once).
 *    - ONGOING: fence-and-abort (see above), answer CONCURRENT_TRANSACTIONS
 *      once PREPARE_ABORT is durable (the client retries and then gets the
 *      next epoch after the markers).
 *    - EMPTY/COMPLETE_x: epoch + 1 (or a new pid with epoch 0 when the
 *      epoch is exhausted), timeout updated, write EMPTY; answer the new
 *      (pid, epoch).
 *  AddPartitions(tid, pid, epoch, tps) / AddOffsets (the group's
 *  __consumer_offsets partition, as a tp):
 *    - unknown tid: INVALID_PRODUCER_ID_MAPPING; pid differs: same;
 *    - epoch differs: PRODUCER_FENCED (fenced_ok) / INVALID_PRODUCER_EPOCH;
 *    - pending or PREPARE_x: CONCURRENT_TRANSACTIONS;
 *    - ONGOING/EMPTY/COMPLETE_x: if every tp is already in the set and the
 *      state is ONGOING, NONE with nothing written; else write ONGOING with
 *      the union (start_ms = now when the state was not ONGOING).
 *  EndTxn(tid, pid, epoch, commit):
 *    - unknown tid / pid differs: INVALID_PRODUCER_ID_MAPPING;
 *    - epoch differs: PRODUCER_FENCED / INVALID_PRODUCER_EPOCH;
 *    - pending: CONCURRENT_TRANSACTIONS;
 *    - ONGOING: write PREPARE_COMMIT / PREPARE_ABORT; answer NONE when it is
 *      durable (markers follow, Kafka answers before they are written);
 *    - PREPARE_COMMIT (commit) / PREPARE_ABORT (abort): CONCURRENT_TRANSACTIONS;
 *    - COMPLETE_COMMIT + commit, COMPLETE_ABORT + abort: NONE (a retry);
 *    - anything else (commit after abort, commit or abort of EMPTY, ...):
 *      INVALID_TXN_STATE (Kafka 3.x; clients end a transaction without
 *      partitions locally and never send these).
 *  Timeouts (tcoord_tick): an ONGOING id (not pending) whose start_ms +
 *  timeout_ms <= now is fenced-and-aborted (Kafka's
 *  abortTimedOutTransactions; it bumps the epoch, so the producer that
 *  timed out gets INVALID_PRODUCER_EPOCH / PRODUCER_FENCED afterwards).
 *
 * Clocks: all times are wall ms (stored in records); the driver passes now.
 *
 * Memory: a txn_rec handed out (.rec, tcoord_find) is borrowed: valid until
 * the next tcoord call that changes that id. Strings passed in are copied.
 */
#ifndef RUNNEL_TXN_TCOORD_H
#define RUNNEL_TXN_TCOORD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum txn_state {
	TXN_EMPTY = 0,
	TXN_ONGOING = 1,
	TXN_PREPARE_COMMIT = 2,
	TXN_PREPARE_ABORT = 3,
	TXN_COMPLETE_COMMIT = 4,
	TXN_COMPLETE_ABORT = 5,
	TXN_DEAD = 6,
	TXN_PREPARE_EPOCH_FENCE = 7,
};

/* Kafka's state names ("Empty", "Ongoing", "PrepareCommit", ...; as
 * DescribeTransactions/ListTransactions answer them). "Unknown" otherwise. */
const char *txn_state_name(enum txn_state s);
/* The state for a name (ListTransactions' StateFilters); -1 when unknown. */
int txn_state_parse(const char *name);

/* One partition of a transaction. */
struct txn_tp {
	char *topic;
	int32_t partition;
};

/* One transactional id's durable state (Kafka's TransactionLogValue v0). */
struct txn_rec {
	int64_t pid;
	int16_t epoch;
	int32_t timeout_ms;
	enum txn_state state;
	struct txn_tp *tps;     /* sorted by (topic strcmp, partition), unique */
	size_t ntps;
	int64_t update_ms;      /* wall ms of this record */
	int64_t start_ms;       /* wall ms the transaction started; -1 when none */
};

/* What a request leads to. */
struct txn_step {
	int16_t err;            /* !write: the answer */
	bool write;             /* a pending transition: write *rec, then tcoord_written */
	const struct txn_rec *rec; /* write: the record to write (borrowed, see above) */
	int64_t pid;            /* !write, err NONE: the answer's (pid, epoch) (InitProducerId) */
	int16_t epoch;
};

/* What to do once a pending transition's write finished. */
struct txn_after {
	int16_t err;            /* the answer to the request that caused it (NONE,
				 * CONCURRENT_TRANSACTIONS for a fence-and-abort, or
				 * the write's failure code passed to tcoord_written) */
	int64_t pid;            /* the answer's (pid, epoch) (InitProducerId) */
	int16_t epoch;
	bool markers;           /* the state is now PREPARE_x: write markers with
				 * (.pid, .epoch, commit) to every partition of the
				 * entry (tcoord_find), then tcoord_markers_done */
	bool commit;            /* markers: COMMIT (true) or ABORT */
};

/* Allocates a fresh producer id (src/meta/pids.c through the driver).
 * Returns a Kafka code. */
typedef int (*tcoord_alloc_fn)(void *arg, int64_t *pid);

struct tcoord;

struct tcoord *tcoord_new(tcoord_alloc_fn alloc, void *alloc_arg);
void tcoord_free(struct tcoord *tc);
size_t tcoord_count(const struct tcoord *tc);

/* ---- requests (rules above); fenced_ok: the request version knows
 * PRODUCER_FENCED (InitProducerId v4+, AddPartitions/AddOffsets/EndTxn v2+
 * with Kafka 3.x semantics: see the .c for the exact table) */
void tcoord_init_pid(struct tcoord *tc, const char *tid, int32_t timeout_ms, int64_t pid,
		     int16_t epoch, bool fenced_ok, int64_t now_ms, struct txn_step *out);
void tcoord_add_partitions(struct tcoord *tc, const char *tid, int64_t pid, int16_t epoch,
			   const struct txn_tp *tps, size_t n, bool fenced_ok, int64_t now_ms,
			   struct txn_step *out);
void tcoord_end_txn(struct tcoord *tc, const char *tid, int64_t pid, int16_t epoch, bool commit,
		    bool fenced_ok, int64_t now_ms, struct txn_step *out);

/* The write of tid's pending transition finished: err KAFKA_NONE applies
 * it; any other code drops it (the state stays as before) and is the
 * answer. */
void tcoord_written(struct tcoord *tc, const char *tid, int err, int64_t now_ms,
		    struct txn_after *out);

/* Every marker of tid's PREPARE_x transaction is durable: out asks to write
 * COMPLETE_x (out->write; then tcoord_written as usual, whose answer goes
 * to nobody). */
void tcoord_markers_done(struct tcoord *tc, const char *tid, int64_t now_ms, struct txn_step *out);

/* ---- time */
/* Starts fence-and-abort for the first ONGOING, not pending id whose
 * timeout has passed: returns true with its id in *tid (borrowed) and the
 * PREPARE_ABORT write in *out; false when none is due. Call repeatedly
 * until false. */
bool tcoord_next_timeout(struct tcoord *tc, int64_t now_ms, const char **tid, struct txn_step *out);
/* Removes the first EMPTY/COMPLETE_x, not pending id idle (update_ms) for
 * longer than expiration_ms: true with *tid (copy into caller storage
 * before the next call; valid until then) and *out a DEAD tombstone write
 * (the entry leaves once tcoord_written(NONE)). */
bool tcoord_next_expired(struct tcoord *tc, int64_t now_ms, int64_t expiration_ms,
			 const char **tid, struct txn_step *out);
/* The earliest transaction deadline (start_ms + timeout_ms of ONGOING
 * ids); INT64_MAX when none. */
int64_t tcoord_next_deadline(const struct tcoord *tc);

/* ---- start-up: replay of __transaction_state */
/* rec NULL: a tombstone (the id is removed). The last record per id wins.
 * Returns 0, or -1 when out of memory. */
int tcoord_load(struct tcoord *tc, const char *tid, const struct txn_rec *rec);
/* After the replay: calls fn for every id left in PREPARE_COMMIT /
 * PREPARE_ABORT (their markers may not all be written: the driver writes
 * them again — markers are idempotent for the partitions — then
 * tcoord_markers_done). */
void tcoord_foreach_preparing(struct tcoord *tc, void (*fn)(void *arg, const char *tid,
							    const struct txn_rec *rec),
			      void *arg);

/* ---- reading (DescribeTransactions, ListTransactions, rnl txn) */
/* The entry's current (applied) record, or NULL. pending: a transition is
 * in flight. */
const struct txn_rec *tcoord_find(const struct tcoord *tc, const char *tid, bool *pending);
/* Every id, in tid (strcmp) order. fn must not change tc. */
void tcoord_foreach(const struct tcoord *tc,
		    void (*fn)(void *arg, const char *tid, const struct txn_rec *rec), void *arg);

/* Frees a record's partitions (for records built by tmsg_decode_value). */
void txn_rec_fini(struct txn_rec *r);
/* qsort/bsearch order of partitions: topic (strcmp), then partition. */
int txn_tp_cmp(const void *a, const void *b);
/* Sorts tps[0..*n) and drops repeats (freeing their topic strings), in
 * place: the form every txn_rec keeps. */
void txn_tps_normalize(struct txn_tp *tps, size_t *n);
#endif
