/*
 * pstate.h — per-partition producer state: what idempotence needs to
 * deduplicate retried batches (Kafka's ProducerStateManager).
 *
 * For every producer id that appended to the partition: its epoch and the
 * metadata of its last PSTATE_BATCHES batches (sequence range, offset
 * range, max timestamp) — clients keep at most 5 requests in flight, so a
 * retry is always one of these. A batch with ProducerId >= 0 is checked
 * before it is appended (pstate_check) and recorded after (pstate_update),
 * both under the partition's mutex, so check and append are one step.
 *
 * Rules (Kafka's, ProducerStateManager / ProducerAppendInfo):
 *  - epoch < current: INVALID_PRODUCER_EPOCH (a fenced or stale producer);
 *  - epoch > current: the sequence must restart at 0, else
 *    OUT_OF_ORDER_SEQUENCE_NUMBER;
 *  - same epoch: a batch whose (first, last) sequence equals a retained
 *    batch's is a duplicate: answered with the original offsets, not
 *    appended; otherwise first seq must be last retained seq + 1 (int32
 *    wrap-around to 0 allowed), else OUT_OF_ORDER_SEQUENCE_NUMBER;
 *  - unknown producer: first seq must be 0, else UNKNOWN_PRODUCER_ID
 *    (KIP-360: the client then bumps its epoch / resets).
 *
 * Snapshots (pstate_snapshot / pstate_load) use Kafka's producer snapshot
 * file layout (version 1: int16 version, uint32 CRC-32C of the rest, then
 * an array of entries: ProducerId int64, Epoch int16, LastSequence int32,
 * LastOffset int64, OffsetDelta int32, Timestamp int64, CoordinatorEpoch
 * int32, CurrentTxnFirstOffset int64), written as "<offset>.snapshot" in
 * the partition dir: the state of every offset below <offset>. As in
 * Kafka, a snapshot keeps each producer's LAST batch only; the older ones
 * come back from scanning the log after it.
 *
 * Threads: none of its own; the owner (the partition log) serializes every
 * call with its mutex. Pure: no I/O, the clock is passed in.
 */
#ifndef RUNNEL_TXN_PSTATE_H
#define RUNNEL_TXN_PSTATE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record/batch.h"

enum { PSTATE_BATCHES = 5 };

/* One retained batch of a producer. */
struct pstate_batch {
	int32_t first_seq, last_seq;
	int64_t first_offset, last_offset;
	int64_t max_ts;
};

/* One producer's state in this partition (read-only view). */
struct pstate_entry {
	int64_t pid;
	int16_t epoch;
	int nbatches;                           /* retained, oldest first */
	struct pstate_batch b[PSTATE_BATCHES];
	int64_t last_ts;                        /* max timestamp of its last batch (Kafka's
						 * LastTimestamp; expiry and DescribeProducers) */
	int64_t last_append_ms;                 /* wall ms of its last append (expiry) */
	int32_t coordinator_epoch;              /* of its last marker; -1 none */
	int64_t txn_first_offset;               /* first offset of its open transaction; -1 none */
};

struct pstate;

struct pstate *pstate_new(void);
void pstate_free(struct pstate *ps);
size_t pstate_count(const struct pstate *ps);

/* Checks batch h (h->producer_id >= 0; offsets not yet assigned) against
 * the state. Returns KAFKA_NONE (append it), KAFKA_DUPLICATE_SEQUENCE_NUMBER
 * with *dup = the retained batch it repeats (answer with its offsets, do not
 * append), or KAFKA_INVALID_PRODUCER_EPOCH / KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER
 * / KAFKA_UNKNOWN_PRODUCER_ID. Does not change the state. */
int pstate_check(const struct pstate *ps, const struct batch_hdr *h, struct pstate_batch *dup);

/* Records an appended batch h (BaseOffset assigned). now_ms: wall clock.
 * Returns 0, or -1 when out of memory (the state then misses this batch:
 * a retry of it would be appended twice — callers fail the partition's
 * produce instead, see plog.c). Also used to rebuild the state from the
 * log at start-up (then h comes from the scan). */
int pstate_update(struct pstate *ps, const struct batch_hdr *h, int64_t now_ms);

/* ---- transactions (issue 4 part 2)
 * A transactional batch (attributes bit 4, not control) opens the
 * producer's transaction in this partition when none is open
 * (txn_first_offset = its base offset), in pstate_update. Rules checked by
 * pstate_check for producer batches (Kafka's ProducerAppendInfo):
 *  - a NON-transactional batch while the producer has an open transaction:
 *    INVALID_TXN_STATE;
 *  - a transactional batch without a sequence (BaseSequence -1: the
 *    coordinator's own offset commits in __consumer_offsets) is checked for
 *    its epoch only (epoch < current: INVALID_PRODUCER_EPOCH) and recorded
 *    as opening the transaction; it keeps no sequence state.
 * A marker (control batch) closes it: pstate_marker. Producers with an
 * open transaction never expire (pstate_expire skips them). */

/* Checks a marker of (pid, epoch) before it is appended: epoch < the
 * producer's current epoch is INVALID_PRODUCER_EPOCH (a stale marker);
 * otherwise KAFKA_NONE (also for an unknown producer: markers go to every
 * partition of a transaction, written to or not). */
int pstate_marker_check(const struct pstate *ps, int64_t pid, int16_t epoch);
/* Records a marker appended at `offset`: the producer's epoch becomes
 * `epoch` (a bump resets its sequence state, as Kafka's), its coordinator
 * epoch `coordinator_epoch`, and its open transaction, if any, ends.
 * Returns 1 with *first_offset = the transaction's first offset when one
 * was open, 0 when none was, -1 when out of memory (an unknown producer's
 * entry could not be created). */
int pstate_marker(struct pstate *ps, int64_t pid, int16_t epoch, int32_t coordinator_epoch,
		  int64_t offset, int64_t now_ms, int64_t *first_offset);
/* The first offset of the oldest open transaction (the last stable offset's
 * bound); INT64_MAX when none is open. */
int64_t pstate_first_unstable(const struct pstate *ps);

/* Drops producers whose last append is older than now_ms - expiration_ms
 * (producer.id.expiration.ms). Returns how many were dropped. */
size_t pstate_expire(struct pstate *ps, int64_t now_ms, int64_t expiration_ms);

/* Drops producers whose every retained batch lies below log_start (after
 * retention or DeleteRecords removed their data, as Kafka does). */
size_t pstate_truncate_head(struct pstate *ps, int64_t log_start);

/* Calls fn for every producer (DescribeProducers, snapshots); order is
 * unspecified. fn must not change ps. */
void pstate_foreach(const struct pstate *ps, void (*fn)(void *arg, const struct pstate_entry *e),
		    void *arg);
/* The entry of pid, or NULL. Valid until the next change of ps. */
const struct pstate_entry *pstate_find(const struct pstate *ps, int64_t pid);

/* Encodes the whole state as a snapshot file's bytes (layout above).
 * Returns malloc'd bytes with *len set, or NULL when out of memory. */
uint8_t *pstate_snapshot(const struct pstate *ps, size_t *len);
/* Replaces ps's content by a snapshot's. Returns 0, or -1 when the bytes
 * are not a valid snapshot (version, CRC, lengths) — ps is then empty. */
int pstate_load(struct pstate *ps, const uint8_t *p, size_t n, int64_t now_ms);
#endif
