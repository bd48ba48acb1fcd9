/*
 * plog.h — the partition log: durable append, zero-copy read, recovery.
 *
 * On disk (Kafka's layout, so Kafka people can read it):
 *   <log.dirs>/<topic>-<partition>/
 *     00000000000000000000.log        record batches v2, as sent, base offsets rewritten
 *     00000000000000000000.index      8-byte entries: relative offset int32, file position int32 (big-endian)
 *     00000000000000000000.timeindex  12-byte entries: timestamp int64, relative offset int32
 *     00000000000000368769.log ...    next segment, named by its base offset (20 digits)
 *   <log.dirs>/recovery-point-offset-checkpoint   Kafka's text format:
 *     "0\n<count>\n<topic> <partition> <offset>\n..."
 *   <log.dirs>/.clean-shutdown       present only after a clean stop
 *
 * Invariants:
 *  1. Batches in a partition have strictly increasing offsets, contiguous
 *     as appended (next batch's base offset == previous batch's last
 *     offset + 1); compaction (cleaner_pass.c) removes records and batches
 *     below the active segment, leaving gaps, never moving an offset.
 *  2. Every byte below the recovery point is on stable storage and valid;
 *     recovery scans the segment holding it and every later one (all of
 *     them without a checkpoint entry). After a clean stop only the active
 *     segment's tail past its last index entry is CRC-checked (recovery.c).
 *  3. An acks=all waiter is called only after fdatasync covered its batch
 *     (and, for a new segment, the directory entry) — group commit: one
 *     fdatasync per partition per flusher round serves every waiter.
 *  4. Index entries are sparse (one per log.index.interval.bytes), point at
 *     batch starts, and are strictly increasing in both columns. Indexes are
 *     rebuilt from the log for every recovered segment.
 *  5. high watermark == log end offset on a single node (Kafka semantics:
 *     readers see appended data before it is flushed; acks=all answers wait
 *     for the flush).
 *
 * Threads: every function is safe from any thread. A per-partition mutex
 * guards append and the segment list; offsets readers need (start, end,
 * high watermark) are atomics. plog_read returns a referenced fileref so a
 * segment stays open while its range is being sent, even if the segment is
 * deleted meanwhile.
 */
#ifndef RUNNEL_LOG_PLOG_H
#define RUNNEL_LOG_PLOG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "util/buf.h"

struct plog;
struct logdir;

/* Per-partition settings (topic config over broker defaults). */
struct plog_config {
	int64_t segment_bytes;          /* roll when the active segment would exceed this */
	int64_t segment_ms;             /* roll when the active segment is older (first batch's wall time) */
	int32_t index_interval_bytes;   /* bytes between index entries */
	int32_t index_max_bytes;        /* roll when an index would exceed this */
	int64_t flush_messages;         /* flush after this many unflushed records (INT64_MAX: never) */
	int64_t flush_ms;               /* flush data older than this (-1: never by time) */
	bool log_append_time;           /* message.timestamp.type=LogAppendTime */
	/* ---- lifecycle (retention.c, cleaner.c); Kafka's topic keys in comments */
	bool cleanup_delete;            /* cleanup.policy contains "delete" */
	bool cleanup_compact;           /* cleanup.policy contains "compact" */
	int64_t retention_ms;           /* retention.ms; -1: no time limit */
	int64_t retention_bytes;        /* retention.bytes; -1: no size limit */
	int64_t file_delete_delay_ms;   /* file.delete.delay.ms */
	int64_t delete_retention_ms;    /* delete.retention.ms (tombstones kept this long) */
	int64_t min_compaction_lag_ms;  /* min.compaction.lag.ms */
	int64_t max_compaction_lag_ms;  /* max.compaction.lag.ms (INT64_MAX: none) */
	double min_cleanable_dirty_ratio; /* min.cleanable.dirty.ratio */
	/* ---- idempotence (src/txn/pstate.h); a broker key, the same for all */
	int64_t producer_id_expiration_ms; /* producer.id.expiration.ms */
};

struct plog_append_result {
	int64_t base_offset;       /* offset of the first record appended */
	int64_t last_offset;       /* offset of the last record appended */
	bool duplicate;            /* an idempotent retry: nothing appended; the offsets
				    * are the original batch's */
	int64_t log_append_time;   /* -1 unless LogAppendTime */
	int64_t log_start_offset;
};

/* Appends a record set of one or more already-validated batches (n bytes,
 * writable: BaseOffset, PartitionLeaderEpoch and for LogAppendTime the
 * timestamps are rewritten in place). Rolls segments as configured. The data
 * is written (page cache) but not necessarily durable when this returns.
 * Returns KAFKA_NONE, or KAFKA_KAFKA_STORAGE_ERROR after an I/O error (the
 * partition then refuses appends until reopened: sticky, as sqlite's
 * pager). Calls delay_notify() on success.
 * Idempotence: a producer batch — ProducerId >= 0 and BaseSequence >= 0,
 * not a control batch; the set must then be that one batch — is checked against the partition's producer state under the same
 * lock as the append (src/txn/pstate.h): a retry of one of the producer's
 * last 5 batches returns KAFKA_NONE with res->duplicate and the original
 * offsets; INVALID_PRODUCER_EPOCH, OUT_OF_ORDER_SEQUENCE_NUMBER and
 * UNKNOWN_PRODUCER_ID refuse it with nothing written. */
int plog_append(struct plog *pl, uint8_t *batches, size_t n, int64_t now_ms,
		struct plog_append_result *res);

/* Calls cb(arg, err) once every offset < end_offset is on stable storage
 * (err KAFKA_NONE), or the partition failed (KAFKA_KAFKA_STORAGE_ERROR; also
 * for waiters still pending when the partition is closed), or was deleted
 * (KAFKA_UNKNOWN_TOPIC_OR_PARTITION). cb runs on the flusher thread, or
 * inline (on the caller's thread) when already durable or failed; it must be
 * quick (post to a loop). Waiters of one partition are called in offset
 * order. Returns 0. */
typedef void (*plog_durable_fn)(void *arg, int err);
int plog_when_durable(struct plog *pl, int64_t end_offset, plog_durable_fn cb, void *arg);

/* A range of stored bytes for a fetch: whole batches from one segment. */
struct plog_slice {
	struct fileref *file;  /* referenced: caller unrefs (or hands to wbuf_file) */
	uint64_t pos;          /* file position of the first batch */
	int64_t next_offset;   /* the offset after the last batch returned (the
				* read offset when len is 0) */
	uint64_t len;          /* 0 when nothing to return */
};

/* Reads from `offset`: the first batch returned is the one containing
 * offset (a fetch inside a batch returns that whole batch; the client skips
 * the records it does not want). Returns batches that end at or below
 * max_offset (exclusive: pass the high watermark), whole batches only, at
 * most max_bytes — except that when min_one is true the first batch is
 * returned even if larger (KIP-74). One segment per call. Returns KAFKA_NONE
 * (slice may be empty at the end of the log; then out->file is NULL),
 * KAFKA_OFFSET_OUT_OF_RANGE (offset < start or > end), or
 * KAFKA_KAFKA_STORAGE_ERROR when the segment cannot be read. A read from
 * the file (not a tail read of batches just appended) that crosses into a
 * new 4 MiB chunk of its segment has the log dir's prefetch thread read
 * the next chunks into the page cache (prefetch.c). */
int plog_read(struct plog *pl, int64_t offset, int64_t max_offset, size_t max_bytes,
	      bool min_one, struct plog_slice *out);

int64_t plog_start_offset(const struct plog *pl);   /* log start offset */
int64_t plog_end_offset(const struct plog *pl);     /* log end offset (next offset) */
int64_t plog_high_watermark(const struct plog *pl); /* == end offset on one node */
int64_t plog_size_bytes(const struct plog *pl);     /* sum of segment sizes */

/* ListOffsets by timestamp: the offset and timestamp of the first record
 * whose timestamp is >= ts (time index, offset index, then a scan of batch
 * headers; the records of an uncompressed CreateTime batch are walked, a
 * compressed or LogAppendTime batch answers with its base offset and max
 * timestamp). Returns KAFKA_NONE and sets *offset and *timestamp (both -1
 * when no such record), or KAFKA_KAFKA_STORAGE_ERROR on a read error. */
int plog_offset_for_time(struct plog *pl, int64_t ts, int64_t *offset, int64_t *timestamp);
/* ListOffsets MAX_TIMESTAMP (-3): the offset and timestamp of the record
 * with the largest timestamp; *offset = -1 on an empty log. */
int plog_max_timestamp(struct plog *pl, int64_t *offset, int64_t *timestamp);

/* Replaces the partition's settings (a topic config change). Applies at
 * once: to later appends and rolls, and to the next retention check and
 * cleaner pass; existing index files keep their size limit. */
void plog_set_config(struct plog *pl, const struct plog_config *cfg);
/* A copy of the partition's current settings. */
void plog_get_config(struct plog *pl, struct plog_config *out);

/* ----------------------------- lifecycle (retention.c, start_offset.c) */

/* DeleteRecords: moves the log start offset up to offset (-1 = the high
 * watermark, as Kafka). Whole segments below the new start are deleted
 * (asynchronously, after file.delete.delay.ms); the start offset is made
 * durable (log-start-offset-checkpoint) before this returns. Returns
 * KAFKA_NONE with *low_watermark = the new log start offset,
 * KAFKA_OFFSET_OUT_OF_RANGE when offset > high watermark or < -1,
 * KAFKA_UNKNOWN_TOPIC_OR_PARTITION when the partition was deleted or
 * closed meanwhile, or KAFKA_KAFKA_STORAGE_ERROR. A lower offset than the
 * current start is a no-op (answers the current start). Any thread; blocks
 * for an fsync. */
int plog_delete_records(struct plog *pl, int64_t offset, int64_t *low_watermark);

/* One retention pass over pl (the janitor calls it every
 * log.retention.check.interval.ms): with cleanup.policy containing delete,
 * removes whole non-active segments from the head while retention.ms
 * (segment's largest timestamp older than now_ms - retention.ms) or
 * retention.bytes (log size minus the segment still over the limit) says
 * so; also removes segments wholly below the log start offset. Returns the
 * number of segments removed, or -1 on an I/O error (partition failed). */
int plog_retention_run(struct plog *pl, int64_t now_ms);

/* ------------------------------------------------- producers (DescribeProducers) */

/* One active producer of the partition (its last retained batch). */
struct plog_producer {
	int64_t producer_id;
	int16_t epoch;
	int32_t last_sequence;          /* -1 when no batch is retained */
	int64_t last_timestamp;         /* max timestamp of its last batch, -1 none */
	int32_t coordinator_epoch;      /* -1 until transactions */
	int64_t txn_start_offset;       /* first offset of its open transaction, -1 none */
};
/* A copy of the partition's producer state, sorted by producer id.
 * Returns the count (*out malloc'd, caller frees; NULL when 0), or -1 when
 * out of memory. Any thread; holds the partition mutex for the copy. */
ssize_t plog_producers(struct plog *pl, struct plog_producer **out);

/* ------------------------------------------------ transactions (txnlog.c) */
/*
 * Transactions in the partition (issue 4 part 2; Kafka's layout and rules):
 *  - a transactional batch (attributes bit 4) opens its producer's
 *    transaction here (src/txn/pstate.h); a marker — a control batch
 *    written by plog_append_marker, never by a client — closes it;
 *  - last stable offset (LSO) = min(first offset of the oldest open
 *    transaction, high watermark): read_committed readers see only below it;
 *  - every aborted transaction is remembered as (producer id, first offset,
 *    last offset = its ABORT marker's offset) in memory, sorted by last
 *    offset, and on disk in the `.txnindex` file of the segment the marker
 *    landed in (Kafka's format: 34-byte entries, int16 version 0, int64
 *    producer id, int64 first offset, int64 last offset, int64 last stable
 *    offset after the marker). Recovery rebuilds the entries of the scanned
 *    tail from the log and loads the older segments' files; retention and
 *    DeleteRecords drop entries whose last offset falls below the log start.
 *  - KIP-890 part 1 (server-side defence against hanging transactions and
 *    late writes): a transactional batch for a producer that has no open
 *    transaction in this partition is appended only when the verify hook
 *    says the coordinator has added this partition to the producer's
 *    ongoing transaction with this epoch (checked under the partition mutex,
 *    so a marker cannot slip between the check and the append).
 */

/* The KIP-890 check: KAFKA_NONE when (pid, epoch) has an ongoing
 * transaction holding (topic, partition); else the Kafka code to answer
 * (INVALID_TXN_STATE, INVALID_PRODUCER_EPOCH, ...). Called with the
 * partition mutex held: it must take only leaf locks and not block. */
typedef int (*plog_txn_verify_fn)(int64_t pid, int16_t epoch, const char *topic, int32_t partition);
/* Installs the hook (process-wide; main.c, before the listeners open). NULL
 * (the default): transactional batches are appended unverified (unit tests). */
void plog_set_txn_verify(plog_txn_verify_fn fn);

/* Appends a transaction marker: a control batch (attributes transactional +
 * control, ProducerId pid, ProducerEpoch epoch, BaseSequence -1, one record
 * with key {int16 0, int16 type: 0 ABORT / 1 COMMIT} and value {int16 0,
 * int32 coordinator_epoch}), closing pid's open transaction in this
 * partition (an ABORT records an aborted-transaction entry) and moving the
 * LSO. *offset = the marker's offset. Returns KAFKA_NONE,
 * INVALID_PRODUCER_EPOCH (epoch older than the partition's producer state
 * knows), or KAFKA_KAFKA_STORAGE_ERROR. Durability as plog_append
 * (plog_when_durable). Any thread. */
int plog_append_marker(struct plog *pl, int64_t pid, int16_t epoch, int32_t coordinator_epoch,
		       bool commit, int64_t now_ms, int64_t *offset);

/* The last stable offset (see above). Lock-free (an atomic). */
int64_t plog_last_stable_offset(const struct plog *pl);

/* One aborted transaction. */
struct plog_aborted {
	int64_t producer_id;
	int64_t first_offset;
	int64_t last_offset;       /* its ABORT marker */
};
/* The aborted transactions a read_committed fetch of [from, to) needs:
 * those with last_offset >= from and first_offset < to, in last-offset
 * order. Returns the count (*out malloc'd, caller frees; NULL when 0), or
 * -1 when out of memory. Any thread (partition mutex held for the copy;
 * O(log n + answer)). */
ssize_t plog_aborted_txns(struct plog *pl, int64_t from, int64_t to, struct plog_aborted **out);

/* ------------------------------------------------------ compaction (cleaner.c) */

/* Cleaner settings (broker-wide, Kafka's log.cleaner.* keys). */
struct cleaner_config {
	bool enable;                    /* log.cleaner.enable */
	int32_t threads;                /* log.cleaner.threads */
	int64_t dedupe_buffer_size;     /* log.cleaner.dedupe.buffer.size: offset map bytes, all threads */
	int32_t io_buffer_size;         /* log.cleaner.io.buffer.size */
	double io_max_bytes_per_second; /* log.cleaner.io.max.bytes.per.second (throttle) */
	int64_t backoff_ms;             /* log.cleaner.backoff.ms: sleep when nothing to clean */
};
/* Cleaner statistics, for tests and logs. */
struct cleaner_stats {
	int64_t passes;                 /* completed cleanings of a partition */
	int64_t bytes_read, bytes_written;
	int64_t records_removed;
	int64_t last_pass_ms;           /* wall ms of the last completed pass, -1 none */
};

/* Flushes everything now (fdatasync), on the calling thread. */
int plog_flush(struct plog *pl);
/* The partition's recovery point: every offset below it is durable. */
int64_t plog_recovery_point(const struct plog *pl);
const char *plog_dir(const struct plog *pl);

/* ------------------------------------------------------------ the log dir */

/* The log directory: owns the flusher thread (group commit), the
 * prefetch thread (reading ahead of readers behind the log end; started on
 * first need), the recovery-point checkpoint and the registry of open
 * partitions. */
/* Opens (creating if needed) the log dir. Reads the recovery-point
 * checkpoint and the clean-shutdown marker (then removes the marker, so a
 * crash from now on is seen as unclean). Starts the flusher thread.
 * flush_scheduler_ms: how often the flusher wakes for time-based flushes.
 * Returns NULL with a message in err. */
struct logdir *logdir_open(const char *path, int64_t flush_scheduler_ms, char *err, size_t errlen);
/* Opens (recovering) or creates the partition dir <topic>-<partition>. */
int logdir_plog_open(struct logdir *ld, const char *topic, int32_t partition,
		     const struct plog_config *cfg, struct plog **out);
/* Closes a partition (flushes, seals the active segment's time index,
 * fsyncs; it leaves the registry). pl is invalid afterwards. */
void logdir_plog_close(struct logdir *ld, struct plog *pl);
/* Deletes a partition: renames its dir to <topic>-<partition>.<suffix>-delete
 * at once, closes it, removes the files asynchronously. In-flight reads keep
 * working through their filerefs. */
void logdir_plog_delete(struct logdir *ld, struct plog *pl);
/* Writes recovery-point-offset-checkpoint for every open partition (tmp,
 * fsync, rename, fsync dir). */
int logdir_checkpoint(struct logdir *ld);
/* Flushes and closes every partition still open (their plog pointers are
 * invalid afterwards: close the layers holding them first), stops the
 * prefetch thread and the flusher, writes the checkpoint and — when no partition failed — the
 * clean-shutdown marker. */
void logdir_close(struct logdir *ld);
/* Starts the janitor thread: a retention pass over every open partition each
 * check_interval_ms (log.retention.check.interval.ms), and removal of
 * deleted segment files once their file.delete.delay.ms has passed.
 * Stopped by logdir_close. Returns 0 or -1 (errno). */
int logdir_start_janitor(struct logdir *ld, int64_t check_interval_ms);
/* Starts the log cleaner threads (compaction of partitions whose
 * cleanup.policy contains compact). Stopped by logdir_close. Returns 0 or
 * -1 (errno); does nothing when cc->enable is false. */
int logdir_start_cleaner(struct logdir *ld, const struct cleaner_config *cc);
/* Sum of the cleaner statistics so far. */
void logdir_cleaner_stats(struct logdir *ld, struct cleaner_stats *out);
const char *logdir_path(const struct logdir *ld);
#endif
