/*
 * log_int.h — internals of the partition log (src/log/), shared by
 * index.c, segment.c, plog.c, recovery.c, flusher.c and logdir.c. Nothing
 * outside src/log/ includes this header except the log's unit tests.
 *
 * Locks, in the only order they may be taken:
 *   logdir.ckpt_mu  ->  plog.flush_mu  ->  plog.mu  ->  logdir.mu
 *   logdir.lso.mu   ->  plog.mu  ->  logdir.mu    (never with ckpt_mu)
 *   plog.snap_mu    ->  plog.mu                   (psnap.c; never with the others)
 *   cleaner.file_mu ->  cleaner.mu                (cleaner.c; cleaner.mu is a
 *                                                  leaf, neither is taken with
 *                                                  a log lock held)
 * logdir.mu is a leaf: nobody takes a plog lock while holding it; so is
 * plog.dir_mu (plog__dir_get/put, taken under any of the others). No lock is
 * held across an fsync/fdatasync except plog.flush_mu (which only orders
 * flushes of one partition, never appends or reads) and logdir.ckpt_mu.
 */
#ifndef RUNNEL_LOG_LOG_INT_H
#define RUNNEL_LOG_LOG_INT_H
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/plog.h"
#include "record/batch.h"
#include "util/buf.h"

struct pstate;  /* src/txn/pstate.h */

/* ================================================================ index.c */

enum index_kind { INDEX_OFFSET = 0, INDEX_TIME = 1 };
enum { INDEX_OFFSET_ENTRY = 8, INDEX_TIME_ENTRY = 12 };

/* One sparse index of a segment, in memory as on disk (big-endian
 * entries); the file is written by index_store / index_tail_write and
 * holds no descriptor between writes (index.c). Guarded by the owning
 * plog's mutex. */
struct index {
	enum index_kind kind;
	int64_t base_offset;    /* the segment's base offset (relative offsets) */
	uint8_t *buf;           /* owned: n entries, big-endian as on disk */
	size_t n;               /* entries in buf */
	size_t cap;             /* bytes allocated for buf */
	size_t max_entries;     /* index_max_bytes / entry size, >= 1 */
	size_t stored;          /* the file holds buf's first `stored` entries */
	bool rewrite;           /* the file may differ from buf: truncate, write all */
	bool unsynced;          /* written since its last fsync */
};

/* The part of an index its file lacks, copied under the plog mutex so it
 * can be written without it. */
struct index_tail {
	uint8_t *bytes;         /* owned copy, len bytes; NULL when len is 0 */
	size_t from, len;       /* file position and length */
	size_t n;               /* entries the file holds once written */
	bool trunc;             /* truncate first (and create when missing) */
	bool sync;              /* fsync after writing */
};

/* A decoded entry. Offset index: key = absolute offset, val = file position.
 * Time index: key = timestamp (ms), val = absolute offset. */
struct index_entry {
	int64_t key;
	int64_t val;
};

/* An empty index (no file touched). */
void index_init(struct index *ix, enum index_kind kind, int64_t base_offset,
		int32_t index_max_bytes);
/* Loads <dirfd>/<base>.index (.timeindex) into memory and checks it: whole
 * entries, keys and values strictly increasing, relative offsets >= 0,
 * offset-index positions below log_size, offsets below next_offset (pass
 * INT64_MAX when unknown). Returns 0, 1 when missing or inconsistent
 * (caller rebuilds), -1 on I/O error. */
int index_load(struct index *ix, int dirfd, uint64_t log_size, int64_t next_offset);
void index_close(struct index *ix);
/* Forgets every entry (the next store rewrites the file). */
void index_reset(struct index *ix);
/* Keeps the first n entries only (the next store rewrites the file). */
void index_forget_after(struct index *ix, size_t n);
bool index_full(const struct index *ix);
size_t index_count(const struct index *ix);
/* Adds an entry in memory; skipped (returns false) when the index is
 * full, out of memory, not strictly increasing, or the relative offset or
 * position does not fit 32 bits — a sparse index may miss entries. */
bool index_push(struct index *ix, int64_t key, int64_t val);
/* Whether the file lacks anything (0: nothing to store). */
size_t index_unstored(const struct index *ix);
/* Offset index: log bytes between the last stored entry's batch and the
 * last entry's (what a recovery from the file would rescan). 0 otherwise. */
int64_t index_unstored_span(const struct index *ix);
/* "<base>.index" or "<base>.timeindex". */
void index_file_name(const struct index *ix, char *out, size_t len);
/* Copies what the file lacks into t (mu); sync: the write fsyncs too.
 * false: out of memory. */
bool index_take(const struct index *ix, struct index_tail *t, bool sync);
/* Writes t into <dirfd>/name (NULL: index_file_name); no lock. 0 (also
 * when an appended-to file is gone) or -1 with errno. */
int index_tail_write(const struct index *ix, const struct index_tail *t, int dirfd,
		     const char *name);
/* After index_tail_write (mu): records what the file holds when written,
 * frees t. */
void index_tail_done(struct index *ix, struct index_tail *t, bool written);
/* take + write + done when the file lacks anything (or, with sync, was
 * written without an fsync since), for a thread that owns the index alone
 * (opening, cleaning, closing, a rolled segment's flush). 0 or -1 errno. */
int index_store(struct index *ix, int dirfd, const char *name, bool sync);
/* Entry i (0 <= i < n). */
struct index_entry index_at(const struct index *ix, size_t i);
/* The last entry whose key is <= key (< key when strict). false: none. */
bool index_floor(const struct index *ix, int64_t key, bool strict, struct index_entry *out);
bool index_last(const struct index *ix, struct index_entry *out);

/* ============================================================== segment.c */

/* One segment: <base>.log with its two indexes. The plog holds one
 * reference while the segment is in its list; every read slice holds one
 * more (struct fileref): the files are closed and the memory freed when the
 * last reference goes, so a sendfile in flight survives deletion. */
enum { SEG_RECENT = 32 };

struct segment {
	struct fileref ref;         /* ref.fd: the .log, owned */
	int64_t base_offset;
	struct index oidx, tidx;    /* plog mutex */
	uint64_t size;              /* bytes of whole, valid batches; plog mutex */
	int64_t next_offset;        /* offset after the last batch (base when empty); plog mutex */
	int64_t max_ts;             /* largest batch MaxTimestamp, -1 none; plog mutex */
	int64_t max_ts_offset;      /* last offset of the batch holding max_ts, -1 none */
	int64_t created_ms;         /* wall ms of its first append (time-based roll) */
	uint64_t bytes_since_index; /* log bytes appended since the last index entry */
	bool unsynced;              /* rolled, its files not yet fsync'd (plog mutex) */
	atomic_int txn_fd;          /* its .txnindex, owned, open once an aborted entry was
				     * appended (txnlog.c, under the plog mutex); -1 none.
				     * segment_sync syncs it with the .log */
	/* Where the last SEG_RECENT batches appended here start (plog.c): a
	 * consumer at the tail fetches from the end of its last fetch, a
	 * batch boundary appended a moment ago, so plog_read finds it here
	 * instead of reading the file from the index entry before it.
	 * Entries are exact and a segment's bytes never change under them
	 * (the cleaner writes new segments), so they need no invalidation.
	 * plog mutex. */
	int64_t recent_base[SEG_RECENT];
	uint64_t recent_pos[SEG_RECENT];
	unsigned recent_next;       /* slot of the next entry */
	unsigned recent_n;          /* valid entries, <= SEG_RECENT */
	/* The range last asked to be read ahead and when (mono ms)
	 * (prefetch.c; the log dir's prefetcher mutex): the next request of
	 * the same reader starts where it ended. */
	uint64_t pf_from, pf_to;
	int64_t pf_ms;
	uint32_t pf_epoch;          /* the prefetcher's epoch in which it was last counted */
};

/* Incremental reader over a segment's .log with read-ahead. Not shared:
 * one per scan, on the scanning thread. */
struct segment_reader {
	int fd;                     /* borrowed from the segment */
	uint64_t end;               /* bytes that may be read */
	uint8_t *buf;               /* owned */
	size_t cap;
	uint64_t off;               /* file position of buf[0] */
	size_t len;                 /* valid bytes in buf */
	size_t readahead;
};

void segment_name(char *out, size_t outlen, int64_t base_offset, const char *ext);
/* Creates the files of a new, empty segment (O_EXCL for the .log: an
 * existing one is an error; the index files empty). Returns the
 * segment with one reference, or NULL with errno set and a message
 * logged. Any thread holding the plog mutex. */
struct segment *segment_create(int dirfd, const char *part, int64_t base_offset,
			       const struct plog_config *cfg, int64_t now_ms);
/* Opens an existing segment's .log (its indexes stay empty until
 * index_load). size = the .log's file size. Returns NULL with errno
 * (message logged). */
struct segment *segment_open(int dirfd, const char *part, int64_t base_offset,
			     const struct plog_config *cfg);
/* An in-memory segment with no files yet (fd -1), one reference: for the
 * cleaner, which creates its output files under temporary names
 * (cleaner_swap.c) and sets up its indexes (index_init). NULL on OOM. */
struct segment *segment_new(int64_t base_offset);
void segment_unref(struct segment *seg);
/* Writes n bytes at seg->size (loops on short writes); does not move size.
 * Returns 0 or an errno value. Plog mutex. */
int segment_write(struct segment *seg, const uint8_t *p, size_t n);
/* Accounts one batch (already in the file at pos) in the segment's max
 * timestamp and indexes (in memory): an index entry when more than
 * interval bytes were appended since the last one (Kafka's rule). Plog
 * mutex. */
void segment_track(struct segment *seg, const struct batch_hdr *h, uint64_t pos, int32_t interval);
/* Makes the time index end with the segment's max timestamp (Kafka does
 * this when a segment stops being active, so a reopened segment learns its
 * max timestamp from the file). In memory; stored with the rest. */
void segment_seal(struct segment *seg);
/* Writes what both index files lack and, with sync, fsyncs them
 * (index_store: the caller owns the indexes). 0 or errno. */
int segment_store_indexes(struct segment *seg, int dirfd, bool sync);
/* What both index files lack, for a store without the plog mutex: taken
 * under it (false: out of memory), written without it (0 or errno),
 * recorded under it again (written: the write succeeded; frees st). One
 * store per segment at a time (the plog's flush_mu). */
struct seg_tails {
	struct index_tail o, t;
};
bool segment_take_tails(struct segment *seg, struct seg_tails *st, bool sync);
/* Whether a store with an fsync would change anything on disk: entries
 * the files lack, or entries written without an fsync (an empty index file
 * needs none: recovery rebuilds it from nothing). Plog mutex. */
bool segment_indexes_dirty(const struct segment *seg);
int segment_write_tails(const struct segment *seg, const struct seg_tails *st, int dirfd);
void segment_tails_done(struct segment *seg, struct seg_tails *st, bool written);
/* fdatasync the .log (and the .txnindex when open). 0 or errno. */
int segment_sync(struct segment *seg);
int segment_truncate(struct segment *seg, uint64_t size);
/* Removes the files of a segment (.log, .index, .timeindex, .txnindex;
 * ENOENT ignored). 0 or errno. */
int segment_unlink(int dirfd, int64_t base_offset);
/* Scans batch headers from pos to the segment end (no CRC), rebuilding the
 * indexes in memory (files untouched) and next_offset / max_ts. Returns 0,
 * or 1 when the headers do not chain up to exactly `end` (then *bad_pos is
 * where they stop), -1 on I/O error. */
int segment_rebuild(struct segment *seg, int32_t interval, uint64_t *bad_pos);

/* Parses a file name "<20-digit offset><ext>" (".log", ".snapshot", ...):
 * the offset, or -1 when name is not one. */
int64_t segment_parse_name(const char *name, const char *ext);
/* qsort comparison of int64_t offsets, ascending. */
int segment_cmp_offsets(const void *a, const void *b);

/* A listing of the partition directory dirfd (through a dup of it,
 * rewound: a dup shares its file offset with every other listing of the
 * same fd). NULL with errno. Caller closedir()s. */
DIR *segment_dir_list(int dirfd);

void segment_reader_init(struct segment_reader *r, const struct segment *seg, uint64_t end,
			 size_t readahead);
void segment_reader_fini(struct segment_reader *r);
/* n bytes at file position pos, valid until the next call; NULL when
 * pos + n > end (errno 0) or on a read error (errno set). */
const uint8_t *segment_reader_peek(struct segment_reader *r, uint64_t pos, size_t n);
/* Parses the batch header at pos: 1 and *h, 0 at end (pos == end), -1 when
 * the bytes at pos are not a plausible batch header lying inside [pos, end)
 * (magic 2, length >= 49, LastOffsetDelta >= 0), -2 on a read error (errno). */
int segment_reader_header(struct segment_reader *r, uint64_t pos, struct batch_hdr *h);

/* ============================================================= txnlog.c */

/* One aborted transaction as in a `.txnindex` file (plog.h, "transactions";
 * Kafka's AbortedTxn: 34 bytes on disk, int16 version 0 first). */
enum { TXNIDX_ENTRY = 34 };
struct txn_entry {
	int64_t pid;
	int64_t first_offset;       /* the transaction's first offset in this partition */
	int64_t last_offset;        /* its ABORT marker's offset */
	int64_t lso;                /* the last stable offset right after the marker */
};
/* Entries sorted by strictly increasing last_offset (each marker has its
 * own offset). */
struct txn_list {
	struct txn_entry *v;        /* owned */
	size_t n, cap;
};

/* =============================================================== plog.c */

struct plog_waiter {
	int64_t end_offset;         /* call once flushed >= this */
	plog_durable_fn cb;
	void *arg;                  /* borrowed until cb */
};

struct plog {
	char *topic;                /* owned */
	int32_t partition;
	char *name;                 /* owned: "<topic>-<partition>", for logs */
	char *dir;                  /* owned: path of the partition dir at open, for
				     * messages (a delete's rename does not change it) */
	struct logdir *ld;          /* borrowed: the owning log dir */
	/* The partition dir is open only while someone uses it (plog__dir_get):
	 * a descriptor per partition held for its lifetime would cap a broker
	 * at RLIMIT_NOFILE / 4 partitions (dir, .log and two indexes). */
	pthread_mutex_t dir_mu;     /* leaf: the three fields below */
	char *dir_name;             /* the dir's name under ld's dir: == name, or owned
				     * after a delete's rename (plog__dir_rename) */
	int dirfd;                  /* open while dir_refs > 0, else -1; read without
				     * dir_mu by a holder of a reference */
	int dir_refs;
	atomic_int refs;            /* registry 1, flusher round 1 each */

	pthread_mutex_t mu;         /* append, segment list, waiters, config */
	pthread_mutex_t flush_mu;   /* one flush of this partition at a time */
	struct plog_config cfg;     /* mu */
	struct segment **segs;      /* owned refs, ascending base offsets; last = active; mu */
	size_t nsegs, segs_cap;
	struct plog_waiter *waiters;/* owned, sorted by end_offset; mu */
	size_t nwaiters, waiters_cap;
	int64_t unflushed_msgs;     /* records appended since the last flush began; mu */
	int64_t oldest_unflushed_ms;/* mono ms of the first such append, -1 none; mu */
	bool dir_dirty;             /* a segment file was created since the last dir fsync; mu */
	bool closed;                /* mu */
	bool on_ld_fs;              /* its dir is on the log dir's file system, so a group
				     * flush (syncfs of the log dir, flusher.c) covers it;
				     * set at creation */

	_Atomic int64_t start;      /* log start offset */
	_Atomic int64_t leo;        /* log end offset */
	_Atomic int64_t flushed;    /* recovery point: all below is on stable storage */
	_Atomic int64_t size_bytes; /* sum of segment sizes */
	atomic_int err;             /* sticky: KAFKA_NONE or KAFKA_KAFKA_STORAGE_ERROR */

	atomic_bool dirty;          /* queued on ld->dirty */
	struct plog *dirty_next;    /* ld->mu */

	/* ---- idempotence (src/txn/pstate.h; snapshot files in psnap.c) */
	struct pstate *ps;          /* owned: producer state of the log; mu */
	pthread_mutex_t snap_mu;    /* one writer/pruner of snapshot files at a time */
	uint8_t *snap_pending;      /* owned: encoded state at snap_pending_off, for the
				     * janitor to write; NULL none; mu */
	size_t snap_pending_len;    /* mu */
	int64_t snap_pending_off;   /* mu */

	/* ---- transactions (txnlog.c) */
	_Atomic int64_t unstable;   /* first offset of the oldest open transaction
				     * (pstate_first_unstable), INT64_MAX none; stored
				     * under mu, BEFORE leo covers a batch opening one */
	struct txn_list aborted;    /* owned: aborted transactions, by last offset; mu */
};

/* Test-visible counters (process-wide; tests read them). */
struct plog_stats {
	atomic_long data_syncs;       /* fdatasync/fsync calls on segment .log files */
	atomic_long fs_syncs;         /* syncfs calls of group flushes (flusher.c) */
	atomic_long dir_syncs;        /* fsync of directories */
	atomic_long segments_scanned; /* segments fully validated by recovery */
	atomic_long index_rebuilds;   /* indexes rebuilt from the log */
	atomic_long truncations;      /* recovery cut a torn or corrupt tail */
};
extern struct plog_stats plog__stats;
/* The sync primitive for data files; tests may swap it to count calls or
 * inject failures (set before opening anything). */
extern int (*plog__fdatasync)(int fd);
/* The whole-file-system sync of a group flush (flusher.c); swappable too. */
extern int (*plog__syncfs)(int fd);
/* Bytes of log the active segment's index entries may cover before the
 * flusher writes them to the files (flusher.c); tests set 0: every flush. */
extern int64_t flusher__index_lag;

/* Creates the in-memory partition (no files touched). NULL on OOM. */
struct plog *plog__new(struct logdir *ld, const char *topic, int32_t partition, const char *dir,
		       const struct plog_config *cfg);
void plog__ref(struct plog *pl);
/* Drops a reference; the last one frees the plog and its segment refs. */
void plog__unref(struct plog *pl);
/* Marks the partition failed (sticky) and logs why. Any thread. */
void plog__fail(struct plog *pl, const char *what, const char *file, int errnum);
/* Appends seg to the segment list (takes its reference). mu or single-threaded. */
int plog__push_segment(struct plog *pl, struct segment *seg);
/* Takes every waiter with end_offset <= upto (all when upto == INT64_MAX)
 * out of the list, in offset order. Caller frees *out. mu. */
size_t plog__take_waiters(struct plog *pl, int64_t upto, struct plog_waiter **out);
void plog__call_waiters(struct plog_waiter *w, size_t n, int err);
/* Fails every pending waiter with err and forgets them (close/delete). */
void plog__fail_waiters(struct plog *pl, int err);
/* Seals the active segment and fsyncs every file (clean close). */
int plog__close_files(struct plog *pl);
/* Fsync of a directory fd, counted. 0 or errno. */
int plog__sync_dir(int fd);
/* A reference to the partition dir: returns its descriptor (also in
 * pl->dirfd), valid until the matching plog__dir_put; -1 with errno when
 * it cannot be opened. Any thread, any lock held (dir_mu is a leaf). */
int plog__dir_get(struct plog *pl);
void plog__dir_put(struct plog *pl);
/* Renames the partition dir to `to` (under ld's dir); later references
 * open it there. 0 or errno. */
int plog__dir_rename(struct plog *pl, const char *to);

/* The append steps shared by plog_append and plog_append_marker (txnlog.c).
 * plog__write_locked: rolls when needed, assigns offsets from leo, writes
 * and indexes the set (records, span: its record count and offset span,
 * as plog_plan counts them), then publishes it (leo, size, flush
 * accounting) and fills res. opens_txn: the set is a transactional batch;
 * the LSO bound moves down to its base BEFORE leo covers it, so a
 * read_committed reader never sees it as stable. Returns 0, or -1 when the
 * partition failed (sticky error set). mu held, not closed, no error. */
struct plog_done {
	bool rolled, wake;
	struct segment *seg;        /* the segment written to (borrowed, mu) */
};
int plog__write_locked(struct plog *pl, uint8_t *p, size_t n, int64_t records, int64_t span,
		       bool opens_txn, int64_t now_ms, struct plog_append_result *res,
		       struct plog_done *done);
/* After mu is released: wakes the flusher, readers and the janitor. */
void plog__appended(struct plog *pl, const struct plog_done *done);

/* ---- txnlog.c, called from plog.c, psnap.c, recovery.c, retention.c,
 * start_offset.c and the cleaner */
/* The KIP-890 check of transactional batch h before its append (plog.h):
 * KAFKA_NONE when its producer already has an open transaction here or no
 * hook is installed, else the hook's answer. mu held. */
int txnlog__verify(struct plog *pl, const struct batch_hdr *h);
/* Frees pl's aborted list (plog__unref). */
void txnlog__free(struct plog *pl);
/* Drops the aborted entries whose last offset is below start (retention,
 * DeleteRecords, recovery). mu held (or before the plog is shared). */
void txnlog__truncate_head(struct plog *pl, int64_t start);
/* The aborted entries whose last offset lies in [from, to), in order.
 * Returns the count (*out malloc'd, caller frees; NULL when 0) or -1 when
 * out of memory. Takes mu: the caller must not hold it. (The cleaner: the
 * entries of the segments it merges.) */
ssize_t txnlog__entries(struct plog *pl, int64_t from, int64_t to, struct txn_entry **out);
/* Writes a `.txnindex`-format file <dirfd>/name holding v[0..n) (created or
 * truncated; fsync'd; an empty list gives an empty file). The cleaner
 * writes its output segment's index under a temporary name and renames it
 * in its swap. Returns 0 or an errno value. Any thread, no lock needed. */
int txnlog__write_file(int dirfd, const char *name, const struct txn_entry *v, size_t n);
/* Decodes a marker's record (control batch p, n bytes, validated): 0 with
 * *commit and *coordinator_epoch, -1 when it is not a well-formed marker. */
int txnlog__parse_marker(const uint8_t *p, size_t n, bool *commit, int32_t *coordinator_epoch);

/* Recovery (psnap.c drives it; txnlog.c has the design): */
/* Loads the `.txnindex` file of every segment into pl->aborted (each
 * checked against its segment's offsets). *bad = the base of the first
 * segment whose file is damaged (its entries and every later file's are
 * not trusted: recovery rebuilds them from the log), INT64_MAX when none.
 * Returns 0, or -1 out of memory / read error (logged). */
int txnlog__load(struct plog *pl, int64_t *bad);
/* The producer-state scan met marker h (at file bytes p, n) at its offset:
 * updates pl->ps (pstate_marker) and, for an ABORT of an open
 * transaction, appends the entry to *scanned. Returns 0, -1 out of memory,
 * 1 when the control batch is not a marker (ignored, logged). */
int txnlog__scan_marker(struct plog *pl, const struct batch_hdr *h, const uint8_t *p, size_t n,
			int64_t now_ms, struct txn_list *scanned);
/* The scan from offset `from` is done: keeps the loaded entries below
 * from, adds the scanned ones, rewrites the `.txnindex` files of the
 * segments at or after from's, sets the LSO bound from pl->ps. Takes
 * scanned's memory. 0, or -1 on a write error / out of memory (logged). */
int txnlog__recovered(struct plog *pl, int64_t from, struct txn_list *scanned);

/* =========================================================== recovery.c */

/* Loads the partition's segments from its directory (plog.h "Recovery").
 * rp: the recovery point from the checkpoint, -1 when unknown; clean: the
 * log dir had a clean-shutdown marker; fresh: the open has just created
 * the directory (an empty log, nothing read). Returns KAFKA_NONE or
 * KAFKA_KAFKA_STORAGE_ERROR. Called once, before the plog is shared. */
int recovery_run(struct plog *pl, int64_t rp, bool clean, bool fresh);

/* ============================================================== psnap.c */

/* Producer state snapshots "<offset>.snapshot" (psnap.c has the design). */
/* Restores pl->ps from the newest valid snapshot at or below the log end
 * plus a scan of the batch headers after it; removes snapshots above the
 * end and invalid ones. KAFKA_NONE or KAFKA_KAFKA_STORAGE_ERROR (read
 * error, out of memory). recovery_run, before the plog is shared. */
int psnap_recover(struct plog *pl, int64_t now_ms);
/* Encodes pl->ps as the snapshot at off (a roll: the new base) for the
 * janitor to write, replacing an older pending one. Out of memory: none.
 * mu. */
void psnap_queue(struct plog *pl, int64_t off);
/* Writes the pending snapshot, if any (janitor). 0, or -1 (logged; a
 * snapshot is only a cache). Any thread holding no plog lock. */
int psnap_write_pending(struct plog *pl);
/* Writes the state at the log end now (clean close). 0 or -1 (logged). */
int psnap_write_now(struct plog *pl);
/* Removes the snapshots below the newest one at or below first (the first
 * segment's base) after retention. Any thread holding no plog lock. */
void psnap_prune(struct plog *pl, int64_t first);

/* ============================================================ flusher.c */

/* Queues pl for the flusher (cheap when already queued); wake: the flusher
 * runs a round now rather than at its next tick. Any thread, no plog lock. */
void flusher_mark_dirty(struct plog *pl, bool wake);
/* Flushes one partition now (group commit: everything appended so far),
 * then answers its waiters. Returns KAFKA_NONE or KAFKA_KAFKA_STORAGE_ERROR.
 * Any thread; holds flush_mu. */
int flusher_flush(struct plog *pl);
int flusher_start(struct logdir *ld);
void flusher_stop(struct logdir *ld);

/* =========================================================== ckptfile.c */

/* Kafka's offset checkpoint files ("0\n<count>\n<topic> <partition>
 * <offset>\n..."): recovery points (logdir.c), log start offsets
 * (start_offset.c), first dirty offsets (cleaner.c). The map is guarded by
 * its owner's lock. */
struct ckpt_entry {
	char *topic;                /* owned */
	int32_t partition;
	int64_t offset;
};
struct ckpt_map {
	struct ckpt_entry *v;       /* owned */
	size_t n, cap;
};
enum { CKPT_OK, CKPT_MISSING, CKPT_UNREADABLE, CKPT_MALFORMED };

struct ckpt_entry *ckpt_find(const struct ckpt_map *m, const char *topic, int32_t partition);
/* Adds or updates. 0, or -1 when out of memory (m unchanged). */
int ckpt_set(struct ckpt_map *m, const char *topic, int32_t partition, int64_t offset);
void ckpt_remove(struct ckpt_map *m, const char *topic, int32_t partition);
/* Frees every entry and the array; m is then empty and reusable. */
void ckpt_clear(struct ckpt_map *m);
/* The file's text for the entries whose offset is >= 0. malloc'd (NULL when
 * out of memory); *len (if non-NULL) set. */
char *ckpt_format(const struct ckpt_map *m, size_t *len);
/* Replaces m by the content of <dirfd>/name. Returns CKPT_OK,
 * CKPT_MISSING, CKPT_UNREADABLE (errno), or CKPT_MALFORMED with the first
 * wrong line in *bad_line; m is empty unless CKPT_OK. */
int ckpt_load(struct ckpt_map *m, int dirfd, const char *name, int *bad_line);

/* ============================================================= logdir.c */

/* Segment files renamed "<name>.deleted", waiting for file.delete.delay.ms
 * (retention.c). */
struct trash_entry {
	struct plog *pl;            /* referenced: its dirfd holds the files */
	int64_t base_offset;        /* the segment's base: names its three files */
	int64_t due_ms;             /* mono ms after which the files are unlinked */
};

/* The janitor thread (retention.c): retention passes and trash removal. */
struct janitor {
	pthread_cond_t cond;        /* wake-up (CLOCK_MONOTONIC), with logdir.mu */
	pthread_t thread;
	bool started, stop;         /* logdir.mu */
	bool kick;                  /* trash was queued since the thread last looked; logdir.mu */
	bool snap_kick;             /* a roll queued a producer snapshot; logdir.mu */
	bool ckpt_kick;             /* the flusher wants the checkpoint written; logdir.mu */
	int64_t interval_ms;        /* log.retention.check.interval.ms */
	struct trash_entry *trash;  /* owned; logdir.mu */
	size_t ntrash, trash_cap;
};

/* Log start offsets that differ from their partition's first segment base,
 * mirrored in <log.dirs>/log-start-offset-checkpoint (start_offset.c). */
struct start_ckpt {
	pthread_mutex_t mu;         /* serializes writers of the file; guards last */
	struct ckpt_map map;        /* logdir.mu */
	char *last;                 /* owned: the text last written, to skip rewrites */
};

/* Reading ahead of readers behind the log end (prefetch.c). */
enum {
	PREFETCH_CHUNK = 4 << 20,   /* bytes; a read crossing into a chunk asks for the next */
	PREFETCH_AHEAD = 8,         /* chunks asked for ahead of a reader */
	PREFETCH_STEP_MIN = 128 << 10, /* bytes per kernel call when the device's are unknown */
	PREFETCH_MARK_MS = 1000,    /* a segment's last request trims the next one this long;
				     * also the epoch over which readers are counted */
	PREFETCH_QUEUE = 64,        /* requests waiting; more are dropped */
};
#define PREFETCH_BUDGET_MAX (512ULL << 20) /* page cache asked for ahead of all readers */
struct prefetch_req {
	struct segment *seg;        /* referenced while queued */
	uint64_t pos, len;
};
struct prefetcher {
	pthread_mutex_t mu;         /* leaf: everything below */
	pthread_cond_t cond;        /* work arrived, stop, or a request finished */
	pthread_t thread;
	bool started, failed, stop, busy;   /* busy: the thread runs a request */
	struct prefetch_req q[PREFETCH_QUEUE];  /* ring: head, n */
	unsigned head, n;
	uint64_t step;              /* bytes per kernel call: the device's readahead size,
				     * the most one call is sure to read (prefetch_set_device) */
	uint64_t budget;            /* bytes ahead of all readers together: min(RAM / 8,
				     * PREFETCH_BUDGET_MAX); shared by the readers counted */
	int64_t epoch_ms;           /* start of the current epoch (mono ms) */
	uint32_t epoch;             /* its number, from 1 */
	unsigned readers, readers_before;  /* segments read ahead in this / the last epoch */
	uint64_t queued, dropped;   /* requests accepted / dropped (queue full, no thread) */
	uint64_t bytes;             /* bytes asked for by accepted requests */
};

struct logdir {
	char *path;                 /* owned */
	int dirfd;                  /* owned */
	int64_t flush_scheduler_ms;
	bool clean;                 /* .clean-shutdown was present at open */

	pthread_mutex_t mu;         /* everything below; a leaf lock */
	pthread_cond_t cond;        /* flusher wake-up (CLOCK_MONOTONIC) */
	bool stop;
	bool wake;                  /* a round is wanted now */
	struct plog **parts;        /* registry of open partitions (each holds a ref) */
	size_t nparts, parts_cap;
	struct plog *dirty;         /* partitions with unflushed data or waiters */
	struct ckpt_map ckpt;       /* recovery points: loaded, then kept current */
	char **doomed;              /* owned paths of "-delete" dirs to remove */
	size_t ndoomed, doomed_cap;

	pthread_mutex_t ckpt_mu;    /* serializes checkpoint writers; guards ckpt_last */
	char *ckpt_last;            /* owned: the text last written, to skip rewrites */
	atomic_bool ckpt_wanted;    /* a segment rolled: write a checkpoint soon */
	pthread_t thread;
	bool thread_started;
	bool any_failed;            /* a partition closed with a sticky error; mu */
	struct cleaner *cleaner;    /* cleaner.c: created on first use (under mu), freed by
				     * logdir_free */
	struct janitor jan;         /* retention.c */
	struct start_ckpt lso;      /* retention.c */
	struct prefetcher pf;       /* prefetch.c */
};

/* Segment deletion shared by retention (retention.c) and the cleaner
 * (cleaner.c): the caller has already taken seg out of pl->segs under
 * pl->mu and hands over that reference. Renames the segment's three files
 * to "<name>.deleted" at once (so a restart never sees them as live; recovery
 * removes ".deleted" leftovers) and queues them for unlinking by the janitor
 * once delay_ms (file.delete.delay.ms) has passed. In-flight reads keep
 * working through their filerefs. Implemented in retention.c. Any thread;
 * must not hold pl->mu (takes logdir.mu). */
void logdir__delete_segment_later(struct logdir *ld, struct plog *pl, struct segment *seg,
				  int64_t delay_ms);

/* A roll queued a producer snapshot: the janitor writes pending snapshots
 * now (retention.c). Takes logdir.mu; no plog lock held. */
void logdir__snapshot_wanted(struct logdir *ld);
/* The flusher's periodic checkpoint: the janitor writes it (so the flush
 * thread never waits for its syncs); without a running janitor, written
 * here. Any thread not holding logdir.mu. Implemented in retention.c. */
void logdir__checkpoint_soon(struct logdir *ld);

/* ---- retention.c and start_offset.c */
/* A retention pass; by_policy false applies only the log start offset rule
 * (DeleteRecords). Returns segments removed, or -1 (partition failed). */
int retention__pass(struct plog *pl, int64_t now_ms, bool by_policy);
/* After retention made `first` the first segment's base: forgets pl's
 * checkpointed start when it is <= first (in memory; the file follows at
 * its next write). Takes logdir.mu. */
void start_offset__settle(struct logdir *ld, struct plog *pl, int64_t first);
/* Frees ld->lso's memory (logdir__janitor_fini). */
void start_offset__fini(struct logdir *ld);
/* ---- prefetch.c: reading ahead of readers behind the log end */
void prefetch_init(struct prefetcher *pf);
void prefetch_fini(struct prefetcher *pf);
/* Sizes the kernel calls for the device under dirfd (logdir_open). */
void prefetch_set_device(struct prefetcher *pf, int dirfd);
/* After a read of bytes [from, to) of seg, whose written bytes end at
 * size: when the read crossed a chunk boundary, queues the read-ahead of
 * the chunks after it. Any thread; no plog lock needed (seg is referenced
 * by the caller). */
void prefetch_after_read(struct prefetcher *pf, struct segment *seg, uint64_t from, uint64_t to,
			 uint64_t size);
/* The rule alone: true and the range [*pos, *pos + *len) to read ahead,
 * `ahead` chunks, after a read of [from, to) in a segment of size bytes
 * (before the trim of what the segment's last request already asked for). */
bool prefetch_range(uint64_t from, uint64_t to, uint64_t size, unsigned ahead, uint64_t *pos,
		    uint64_t *len);
/* Returns once the queue is empty and the thread idle (tests). */
void prefetch_wait_idle(struct prefetcher *pf);
/* Stops the thread and drops the queued requests' references. */
void prefetch_stop(struct prefetcher *pf);

/* ---- called from logdir.c */
/* Initializes / frees ld->jan and ld->lso (logdir_alloc / logdir_free). */
void logdir__janitor_init(struct logdir *ld);
void logdir__janitor_fini(struct logdir *ld);
/* Stops the janitor thread (if started) and unlinks every queued .deleted
 * file at once: no reader is left. logdir_close, before partitions close. */
void logdir__janitor_stop(struct logdir *ld);
/* Unlinks the queued .deleted files due at now_ms (mono ms; INT64_MAX: all).
 * Returns the mono ms when the next one is due, INT64_MAX when none. */
int64_t logdir__reap_segments(struct logdir *ld, int64_t now_ms);
/* Reads log-start-offset-checkpoint (logdir_open; a bad file is a warning). */
void logdir__start_offsets_load(struct logdir *ld);
/* After recovery: start = max(first segment base, checkpointed start). A
 * checkpointed start past the log end (the tail below it was lost) empties
 * the log and restarts it there, as Kafka does. KAFKA_NONE or
 * KAFKA_KAFKA_STORAGE_ERROR. Before the plog is shared. */
int logdir__start_offset_apply(struct logdir *ld, struct plog *pl);
/* Partition delete: forgets its entry, durably, before the dir is renamed. */
void logdir__start_offset_forget(struct logdir *ld, const char *topic, int32_t partition);
/* Writes name durably: tmp, fsync, rename, fsync dir. 0 or -1 (errno). */
int logdir__write_durably(struct logdir *ld, const char *name, const char *tmp, const char *p,
			  size_t n);

/* ---- cleaner*.c (compaction), called from logdir.c, recovery.c and tests */
/* Stops the cleaner threads (if started) and joins them; a pass in
 * progress gives up without swapping in anything more. logdir_close,
 * before partitions close. */
void cleaner__stop(struct logdir *ld);
/* Frees ld->cleaner (logdir_free; threads already stopped). */
void cleaner__free(struct logdir *ld);
/* Partition delete: forgets its cleaner-offset-checkpoint entry. */
void cleaner__forget(struct logdir *ld, const char *topic, int32_t partition);
/* Recovery, before the dir is listed: completes every swap a crash
 * interrupted after its commit point (cleaner_swap.c). 0 or -1 (errno). */
int cleaner__recover_swaps(struct plog *pl);
/* One cleaning of pl now, on the calling thread, whatever its dirty ratio
 * (tests; the threads use the same code): map_bytes of offset map, the
 * first dirty offset from the cleaner checkpoint, which is then updated.
 * Returns 0 cleaned, 1 nothing to clean, 2 the map cannot hold one batch,
 * -1 on error. */
int cleaner__clean(struct plog *pl, int64_t now_ms, size_t map_bytes);
/* The partition's first dirty offset as the cleaner knows it (-1: none). */
int64_t cleaner__first_dirty(struct logdir *ld, const char *topic, int32_t partition);

/* Removes the doomed directories queued so far (flusher thread). */
void logdir__reap(struct logdir *ld);
/* Splits a partition dir name "<topic>-<partition>" at the last '-' (topic
 * names may hold '-' and '.'). Returns 0, or -1 when it is not one. */
int logdir__parse_name(const char *name, char *topic, size_t topiclen, int32_t *partition);
#endif
