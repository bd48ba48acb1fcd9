/*
 * plog.c — the partition log: append, read, time lookups, durability
 * waiters (plog.h has the on-disk layout and the contract).
 *
 * A partition is a list of segments sorted by base offset; the last one is
 * active and takes every append:
 *
 *   segs[0]          segs[1]                 segs[n-1] (active)
 *   [0 .. 368768]    [368769 .. 737537]      [737538 .. leo)
 *    base 0           base 368769             base 737538
 *
 * Offsets published to readers without the mutex (atomics):
 *   start <= flushed <= leo      (flushed: the recovery point)
 *
 * State of one appended batch, and who moves it on:
 *   written (page cache)  --plog_append-->  visible: leo covers it
 *   visible               --flusher_flush-->  durable: flushed covers it,
 *                                             its waiters are called
 *   any                   --write/fsync error-->  partition failed (sticky
 *                                             err; no more appends or acks)
 *
 * Invariants:
 *  1. Offsets are contiguous: an append assigns base offsets from leo and
 *     the active segment's next_offset == leo.
 *  2. leo and segment sizes move only after the bytes (and their index
 *     entries) were written, under mu; a reader snapshots (segment, size)
 *     under mu and reads below that size without the lock.
 *  3. waiters are sorted by end_offset; a waiter is called exactly once:
 *     by the flush that covers it, with the sticky error, or at close.
 *  4. Once err is set it stays set until the partition is reopened.
 *  5. Idempotence: ps (src/txn/pstate.h) holds every appended producer
 *     batch (plog_is_idempotent: ProducerId >= 0 and BaseSequence >= 0
 *     or transactional, not a control batch — markers are recorded by
 *     plog_append_marker), minus expired producers and those below the log
 *     start. Such a batch is checked and, once written, recorded under one
 *     hold of mu, so two retries of one batch can never both be appended.
 *     When recording fails (out of memory) the partition fails (invariant
 *     4) rather than forget the batch; recovery rebuilds ps from the log.
 *     A roll queues a snapshot of ps at the new base (psnap.c).
 *  6. Transactions (txnlog.c): a transactional batch of a producer goes
 *     through ps like an idempotent one (with or without a sequence); the
 *     first one of a transaction is verified (KIP-890 hook) under the same
 *     hold of mu, and moves the LSO bound (unstable) down before leo
 *     covers it. A plain set pays one attributes test per batch in the
 *     walk plog_plan does anyway, nothing more.
 *
 * Threads: any thread; see log_int.h for the lock order.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "delay/delay.h"
#include "log/log_int.h"
#include "txn/pstate.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

struct plog_stats plog__stats;
int (*plog__fdatasync)(int fd) = fdatasync;
int (*plog__syncfs)(int fd) = syncfs;

/* Is the partition dir on the same file system as its log dir's? Then a
 * syncfs of the log dir makes its files durable too (flusher.c). */
static bool plog_on_ld_fs(const struct logdir *ld, const char *dir_name)
{
	struct stat a, b;
	return ld != NULL && fstat(ld->dirfd, &a) == 0 && fstatat(ld->dirfd, dir_name, &b, 0) == 0 &&
	       a.st_dev == b.st_dev;
}

/* ============================================================ lifecycle */

struct plog *plog__new(struct logdir *ld, const char *topic, int32_t partition, const char *dir,
		       const struct plog_config *cfg)
{
	struct plog *pl = calloc(1, sizeof *pl);
	if (pl == NULL)
		return NULL;
	size_t nlen = strlen(topic) + 16;
	pl->topic = strdup(topic);
	pl->dir = strdup(dir);
	pl->name = malloc(nlen);
	pl->ps = pstate_new();
	if (pl->topic == NULL || pl->dir == NULL || pl->name == NULL || pl->ps == NULL) {
		pstate_free(pl->ps);
		free(pl->topic);
		free(pl->dir);
		free(pl->name);
		free(pl);
		return NULL;
	}
	snprintf(pl->name, nlen, "%s-%d", topic, partition);
	pl->partition = partition;
	pl->dir_name = pl->name;  /* the dir is "<topic>-<partition>" under the log dir */
	pl->dirfd = -1;
	pl->ld = ld;
	pl->on_ld_fs = plog_on_ld_fs(ld, pl->dir_name);
	pl->cfg = *cfg;
	pl->oldest_unflushed_ms = -1;
	pl->snap_pending_off = -1;
	atomic_init(&pl->unstable, INT64_MAX);
	pthread_mutex_init(&pl->mu, NULL);
	pthread_mutex_init(&pl->flush_mu, NULL);
	pthread_mutex_init(&pl->snap_mu, NULL);
	pthread_mutex_init(&pl->dir_mu, NULL);
	atomic_init(&pl->refs, 1);
	atomic_init(&pl->err, KAFKA_NONE);
	atomic_init(&pl->dirty, false);
	return pl;
}

void plog__ref(struct plog *pl) { atomic_fetch_add(&pl->refs, 1); }

void plog__unref(struct plog *pl)
{
	if (pl == NULL || atomic_fetch_sub(&pl->refs, 1) != 1)
		return;
	for (size_t i = 0; i < pl->nsegs; i++)
		segment_unref(pl->segs[i]);
	free(pl->segs);
	free(pl->waiters);
	if (pl->dirfd >= 0)  /* only when a dir reference was leaked */
		close(pl->dirfd);
	if (pl->dir_name != pl->name)
		free(pl->dir_name);
	pthread_mutex_destroy(&pl->dir_mu);
	pthread_mutex_destroy(&pl->mu);
	pthread_mutex_destroy(&pl->flush_mu);
	pthread_mutex_destroy(&pl->snap_mu);
	pstate_free(pl->ps);
	txnlog__free(pl);
	free(pl->snap_pending);
	free(pl->topic);
	free(pl->name);
	free(pl->dir);
	free(pl);
}

void plog__fail(struct plog *pl, const char *what, const char *file, int errnum)
{
	int expected = KAFKA_NONE;
	if (atomic_compare_exchange_strong(&pl->err, &expected, KAFKA_KAFKA_STORAGE_ERROR))
		log_error("log", "%s: %s %s failed: %s; the partition refuses appends and "
			  "acknowledgements until reopened (KAFKA_STORAGE_ERROR)",
			  pl->name, what, file, strerror(errnum));
	/* The flusher answers the pending waiters with the error. */
	flusher_mark_dirty(pl, true);
}

int plog__push_segment(struct plog *pl, struct segment *seg)
{
	if (pl->nsegs == pl->segs_cap) {
		size_t cap = pl->segs_cap ? pl->segs_cap * 2 : 8;
		struct segment **v = realloc(pl->segs, cap * sizeof *v);
		if (v == NULL)
			return -1;
		pl->segs = v;
		pl->segs_cap = cap;
	}
	pl->segs[pl->nsegs++] = seg;
	return 0;
}

int plog__sync_dir(int fd)
{
	atomic_fetch_add(&plog__stats.dir_syncs, 1);
	return fsync(fd) == 0 ? 0 : errno;
}

int plog__dir_get(struct plog *pl)
{
	pthread_mutex_lock(&pl->dir_mu);
	if (pl->dir_refs == 0) {
		pl->dirfd = openat(pl->ld->dirfd, pl->dir_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pl->dirfd < 0) {
			int e = errno;
			pthread_mutex_unlock(&pl->dir_mu);
			errno = e;
			return -1;
		}
	}
	pl->dir_refs++;
	int fd = pl->dirfd;
	pthread_mutex_unlock(&pl->dir_mu);
	return fd;
}

void plog__dir_put(struct plog *pl)
{
	pthread_mutex_lock(&pl->dir_mu);
	if (--pl->dir_refs == 0) {
		close(pl->dirfd);
		pl->dirfd = -1;
	}
	pthread_mutex_unlock(&pl->dir_mu);
}

int plog__dir_rename(struct plog *pl, const char *to)
{
	char *copy = strdup(to);
	if (copy == NULL)
		return ENOMEM;
	pthread_mutex_lock(&pl->dir_mu);
	int e = renameat(pl->ld->dirfd, pl->dir_name, pl->ld->dirfd, to) == 0 ? 0 : errno;
	if (e == 0) {
		if (pl->dir_name != pl->name)
			free(pl->dir_name);
		pl->dir_name = copy;
		copy = NULL;
	}
	pthread_mutex_unlock(&pl->dir_mu);
	free(copy);
	return e;
}

static struct segment *plog_active(const struct plog *pl) { return pl->segs[pl->nsegs - 1]; }

/* Index of the last segment whose base offset is <= offset (0 if none). mu. */
static size_t plog_find_segment(const struct plog *pl, int64_t offset)
{
	size_t lo = 0, hi = pl->nsegs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (pl->segs[mid]->base_offset <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 ? lo - 1 : 0;
}

/* ============================================================== waiters */

size_t plog__take_waiters(struct plog *pl, int64_t upto, struct plog_waiter **out)
{
	size_t n = 0;
	while (n < pl->nwaiters && (upto == INT64_MAX || pl->waiters[n].end_offset <= upto))
		n++;
	*out = NULL;
	if (n == 0)
		return 0;
	struct plog_waiter *w = malloc(n * sizeof *w);
	if (w == NULL)
		return 0;  /* they stay queued; the next flush round retries */
	memcpy(w, pl->waiters, n * sizeof *w);
	memmove(pl->waiters, pl->waiters + n, (pl->nwaiters - n) * sizeof *w);
	pl->nwaiters -= n;
	*out = w;
	return n;
}

void plog__call_waiters(struct plog_waiter *w, size_t n, int err)
{
	for (size_t i = 0; i < n; i++)
		w[i].cb(w[i].arg, err);
	free(w);
}

void plog__fail_waiters(struct plog *pl, int err)
{
	struct plog_waiter *w;
	pthread_mutex_lock(&pl->mu);
	size_t n = plog__take_waiters(pl, INT64_MAX, &w);
	pthread_mutex_unlock(&pl->mu);
	plog__call_waiters(w, n, err);
}

/* Inserts keeping the list sorted; appends come in offset order, so the
 * place is almost always the end. mu. */
static int plog_add_waiter(struct plog *pl, int64_t end_offset, plog_durable_fn cb, void *arg)
{
	if (pl->nwaiters == pl->waiters_cap) {
		size_t cap = pl->waiters_cap ? pl->waiters_cap * 2 : 16;
		struct plog_waiter *v = realloc(pl->waiters, cap * sizeof *v);
		if (v == NULL)
			return -1;
		pl->waiters = v;
		pl->waiters_cap = cap;
	}
	size_t i = pl->nwaiters;
	while (i > 0 && pl->waiters[i - 1].end_offset > end_offset) {
		pl->waiters[i] = pl->waiters[i - 1];
		i--;
	}
	pl->waiters[i] = (struct plog_waiter){ end_offset, cb, arg };
	pl->nwaiters++;
	return 0;
}

int plog_when_durable(struct plog *pl, int64_t end_offset, plog_durable_fn cb, void *arg)
{
	pthread_mutex_lock(&pl->mu);
	int err = atomic_load(&pl->err);
	if (err == KAFKA_NONE && end_offset > atomic_load(&pl->flushed)) {
		if (plog_add_waiter(pl, end_offset, cb, arg) == 0) {
			pthread_mutex_unlock(&pl->mu);
			flusher_mark_dirty(pl, true);
			return 0;
		}
		err = KAFKA_KAFKA_STORAGE_ERROR;  /* out of memory: cannot wait */
	}
	pthread_mutex_unlock(&pl->mu);
	cb(arg, err);
	return 0;
}

/* =============================================================== append */

/* A producer's batch that the producer state checks and records: a
 * ProducerId and a BaseSequence (a client's batch; produce.c refuses a
 * client batch with a ProducerId but no sequence, Kafka's "Invalid sequence
 * number"), or a ProducerId and the transactional bit (the coordinator's
 * transactional offset commits carry no sequence: pstate checks their
 * epoch only); never a control batch (markers come from
 * plog_append_marker, txnlog.c, which does its own bookkeeping). */
static bool plog_is_idempotent(const struct batch_hdr *h)
{
	return h->producer_id >= 0 && !(h->attributes & BATCH_ATTR_CONTROL) &&
	       (h->base_sequence >= 0 || (h->attributes & BATCH_ATTR_TRANSACTIONAL));
}

/* What plog_plan learnt about a set. */
struct plog_plan {
	int64_t records, span;      /* record count, offsets taken */
	bool idem;                  /* holds a producer batch (then it is the only one) */
	bool txn;                   /* ... and that batch is transactional */
};

/* Walks the record set's headers before anything is written, so a bad set
 * is refused whole. Counts records and offsets. A set holding a producer
 * batch must be that one batch (its sequence check, its retry answer and
 * its transaction verification cover exactly one batch). */
static int plog_plan(const uint8_t *p, size_t n, struct plog_plan *pp)
{
	struct batch_hdr h;
	size_t off = 0, nbatches = 0;
	*pp = (struct plog_plan){ 0 };
	if (n == 0)
		return KAFKA_INVALID_RECORD;
	while (off < n) {
		if (batch_parse_header(p + off, n - off, &h) != 0 ||
		    h.batch_length < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD ||
		    batch_total_size(&h) > n - off)
			return KAFKA_CORRUPT_MESSAGE;
		if (h.last_offset_delta < 0)
			return KAFKA_INVALID_RECORD;  /* an empty batch takes no offset */
		pp->records += h.records_count;
		pp->span += (int64_t)h.last_offset_delta + 1;
		off += batch_total_size(&h);
		if (plog_is_idempotent(&h)) {
			pp->idem = true;
			pp->txn = (h.attributes & BATCH_ATTR_TRANSACTIONAL) != 0;
		}
		nbatches++;
	}
	return pp->idem && nbatches > 1 ? KAFKA_INVALID_RECORD : KAFKA_NONE;
}

static bool plog_should_roll(const struct plog *pl, const struct segment *seg, size_t n,
			     int64_t span, int64_t now_ms)
{
	if (seg->size == 0)
		return false;  /* a batch larger than a segment still gets one */
	/* Positions are int32 in the index: a segment never passes 2 GiB. */
	uint64_t limit = pl->cfg.segment_bytes > 0 && pl->cfg.segment_bytes < INT32_MAX
		? (uint64_t)pl->cfg.segment_bytes : INT32_MAX;
	if (seg->size + n > limit)
		return true;
	if (pl->cfg.segment_ms > 0 && now_ms - seg->created_ms > pl->cfg.segment_ms)
		return true;
	/* KIP-354: the active segment is never cleaned, so a compacted log
	 * rolls by max.compaction.lag.ms too, or the lag could not be kept. */
	if (pl->cfg.cleanup_compact && pl->cfg.max_compaction_lag_ms > 0 &&
	    pl->cfg.max_compaction_lag_ms < INT64_MAX &&
	    now_ms - seg->created_ms > pl->cfg.max_compaction_lag_ms)
		return true;
	if (index_full(&seg->oidx) || index_full(&seg->tidx))
		return true;
	/* Relative offsets are int32 too. */
	return atomic_load(&pl->leo) + span - 1 - seg->base_offset > INT32_MAX;
}

/* Starts a new active segment at leo. mu. Returns 0, or -1 (partition
 * failed). */
static int plog_roll(struct plog *pl, int64_t now_ms)
{
	struct segment *old = plog_active(pl);
	char name[64];
	segment_seal(old);
	int64_t base = atomic_load(&pl->leo);
	int dfd = plog__dir_get(pl);
	struct segment *seg = dfd < 0 ? NULL : segment_create(dfd, pl->name, base, &pl->cfg, now_ms);
	if (seg != NULL && plog__push_segment(pl, seg) != 0) {
		segment_unref(seg);
		segment_unlink(dfd, base);
		seg = NULL;
		errno = ENOMEM;
	}
	if (dfd >= 0)
		plog__dir_put(pl);
	if (seg == NULL) {
		segment_name(name, sizeof name, base, ".log");
		plog__fail(pl, "create", name, errno);
		return -1;
	}
	old->unsynced = true;
	pl->dir_dirty = true;
	/* The producer state at the new base, for the janitor to write
	 * (psnap.c): a restart then scans from here, not from the log start. */
	psnap_queue(pl, base);
	if (pl->ld != NULL)
		atomic_store(&pl->ld->ckpt_wanted, true);
	log_debug("log", "%s: rolled to segment %020lld", pl->name, (long long)base);
	return 0;
}

/* Rewrites offsets (and LogAppendTime) of every batch, starting at leo. */
static void plog_assign(struct plog *pl, uint8_t *p, size_t n, int64_t now_ms)
{
	int64_t next = atomic_load(&pl->leo);
	struct batch_hdr h;
	for (size_t off = 0; off < n; off += batch_total_size(&h)) {
		batch_parse_header(p + off, n - off, &h);
		batch_set_base_offset(p + off, next);
		batch_set_leader_epoch(p + off, 0);
		if (pl->cfg.log_append_time)
			batch_set_log_append_time(p + off, batch_total_size(&h), now_ms);
		next += (int64_t)h.last_offset_delta + 1;
	}
}

/* Notes where a batch starts (struct segment, recent_*). mu. */
static void plog_remember(struct segment *seg, int64_t base, uint64_t pos)
{
	seg->recent_base[seg->recent_next] = base;
	seg->recent_pos[seg->recent_next] = pos;
	seg->recent_next = (seg->recent_next + 1) % SEG_RECENT;
	if (seg->recent_n < SEG_RECENT)
		seg->recent_n++;
}

/* Is a batch starting at offset among those appended lately? mu. */
static bool plog_recent(const struct segment *seg, int64_t offset, uint64_t *pos)
{
	for (unsigned i = 0; i < seg->recent_n; i++) {
		if (seg->recent_base[i] == offset) {
			*pos = seg->recent_pos[i];
			return true;
		}
	}
	return false;
}

/* Where a read in one segment must end, when known without reading. */
struct read_end {
	uint64_t pos;               /* file position; 0: not known */
	int64_t next;               /* the offset there */
};

/* The log end, if the read may go there (this segment's end when it is
 * the active one, both read under mu), or max_offset where a recent batch
 * starts (a high watermark or LSO the caller read a moment before an
 * append). mu. */
static struct read_end plog_known_end(const struct plog *pl, const struct segment *seg,
				      int64_t max_offset, int64_t leo)
{
	struct read_end re = { 0, max_offset };
	if (max_offset >= leo && seg == plog_active(pl))
		re = (struct read_end){ seg->size, leo };
	else if (!plog_recent(seg, max_offset, &re.pos))
		re.pos = 0;
	return re;
}

/* Writes the set into the active segment and indexes it. mu. */
static int plog_write(struct plog *pl, struct segment *seg, const uint8_t *p, size_t n)
{
	char name[64];
	int e = segment_write(seg, p, n);
	if (e != 0) {
		/* Best effort: drop the partial bytes; recovery would anyway. */
		if (ftruncate(seg->ref.fd, (off_t)seg->size) != 0) {
			/* nothing more to do: the partition is failed below */
		}
		/* Named here only: an snprintf per append cost ~18% of the
		 * append path's instructions. */
		segment_name(name, sizeof name, seg->base_offset, ".log");
		plog__fail(pl, "write", name, e);
		return -1;
	}
	struct batch_hdr h;
	uint64_t pos = seg->size;
	for (size_t off = 0; off < n; off += batch_total_size(&h)) {
		batch_parse_header(p + off, n - off, &h);
		plog_remember(seg, h.base_offset, pos + off);
		segment_track(seg, &h, pos + off, pl->cfg.index_interval_bytes);
	}
	return 0;
}

/* Idempotence and transactions (src/txn/pstate.h): checks the set's one
 * batch against the producer state before anything is written, then, for
 * the first batch of a transaction here, asks the KIP-890 hook.
 * KAFKA_NONE: append it; KAFKA_NONE with res->duplicate: a retry of a
 * retained batch, answered with that batch's offsets and not appended;
 * otherwise Kafka's error. mu. */
static int plog_idem_check(struct plog *pl, const uint8_t *p, size_t n, bool txn,
			   struct plog_append_result *res)
{
	struct batch_hdr h;
	struct pstate_batch dup;
	batch_parse_header(p, n, &h);
	int err = pstate_check(pl->ps, &h, &dup);
	if (err == KAFKA_NONE && txn)
		return txnlog__verify(pl, &h);
	if (err != KAFKA_DUPLICATE_SEQUENCE_NUMBER)
		return err;
	res->base_offset = dup.first_offset;
	res->last_offset = dup.last_offset;
	res->duplicate = true;
	/* Kafka answers NO_TIMESTAMP here; the original append time is what
	 * the first answer carried, so a retry learns the same. */
	res->log_append_time = pl->cfg.log_append_time ? dup.max_ts : -1;
	res->log_start_offset = atomic_load(&pl->start);
	return KAFKA_NONE;
}

int plog__write_locked(struct plog *pl, uint8_t *p, size_t n, int64_t records, int64_t span,
		       bool opens_txn, int64_t now_ms, struct plog_append_result *res,
		       struct plog_done *done)
{
	done->rolled = false;
	if (plog_should_roll(pl, plog_active(pl), n, span, now_ms)) {
		if (plog_roll(pl, now_ms) != 0)
			return -1;
		done->rolled = true;
	}
	struct segment *seg = done->seg = plog_active(pl);
	if (seg->size == 0)
		seg->created_ms = now_ms;
	int64_t base = atomic_load(&pl->leo);
	plog_assign(pl, p, n, now_ms);
	if (plog_write(pl, seg, p, n) != 0)
		return -1;
	seg->size += n;
	/* Invariant 6: a reader that sees the new leo sees the bound too. */
	if (opens_txn && atomic_load(&pl->unstable) > base)
		atomic_store(&pl->unstable, base);
	atomic_store(&pl->leo, base + span);
	atomic_fetch_add(&pl->size_bytes, (int64_t)n);
	if (pl->unflushed_msgs == 0 && pl->oldest_unflushed_ms < 0)
		pl->oldest_unflushed_ms = clock_mono_ms();
	pl->unflushed_msgs += records;
	done->wake = done->rolled || pl->unflushed_msgs >= pl->cfg.flush_messages;
	res->base_offset = base;
	res->last_offset = base + span - 1;
	res->log_append_time = pl->cfg.log_append_time ? now_ms : -1;
	res->log_start_offset = atomic_load(&pl->start);
	return 0;
}

void plog__appended(struct plog *pl, const struct plog_done *done)
{
	flusher_mark_dirty(pl, done->wake);
	delay_notify();
	if (done->rolled && pl->ld != NULL)
		logdir__snapshot_wanted(pl->ld);
}

int plog_append(struct plog *pl, uint8_t *batches, size_t n, int64_t now_ms,
		struct plog_append_result *res)
{
	struct plog_plan pp;
	struct plog_done done;
	res->duplicate = false;
	int err = plog_plan(batches, n, &pp);
	if (err != KAFKA_NONE)
		return err;
	pthread_mutex_lock(&pl->mu);
	if (pl->closed || atomic_load(&pl->err) != KAFKA_NONE) {
		pthread_mutex_unlock(&pl->mu);
		return KAFKA_KAFKA_STORAGE_ERROR;
	}
	if (pp.idem && ((err = plog_idem_check(pl, batches, n, pp.txn, res)) != KAFKA_NONE ||
			res->duplicate)) {
		pthread_mutex_unlock(&pl->mu);
		return err;
	}
	if (plog__write_locked(pl, batches, n, pp.records, pp.span, pp.txn, now_ms, res, &done) != 0) {
		pthread_mutex_unlock(&pl->mu);
		return KAFKA_KAFKA_STORAGE_ERROR;
	}
	/* Recorded after the write, still under mu: check and append are one
	 * step for every producer. */
	struct batch_hdr h;
	bool state_lost = pp.idem && (batch_parse_header(batches, n, &h) != 0 ||
				      pstate_update(pl->ps, &h, now_ms) != 0);
	pthread_mutex_unlock(&pl->mu);
	if (state_lost) {
		/* Out of memory: the state misses a batch that is in the log, so
		 * a retry of it would be appended twice. Fail safe: the partition
		 * refuses appends until reopened, and reopening rebuilds the state
		 * from the log, where the retry is then found. (A transaction it
		 * opened keeps the LSO bound where plog__write_locked put it.) */
		char name[64];
		segment_name(name, sizeof name, done.seg->base_offset, ".log");
		plog__fail(pl, "producer state update (out of memory) for a batch of", name, ENOMEM);
	}
	plog__appended(pl, &done);
	return state_lost ? KAFKA_KAFKA_STORAGE_ERROR : KAFKA_NONE;
}

/* ================================================================= read */

/* Finds, from pos, the batch holding offset and extends over whole batches
 * (plog_read's rules). Returns 1 (out filled, possibly empty), 0 when the
 * segment ends before offset, or KAFKA_KAFKA_STORAGE_ERROR. */
static int plog_read_segment(struct plog *pl, struct segment *seg, uint64_t pos, uint64_t end,
			     int64_t offset, int64_t max_offset, size_t max_bytes, bool min_one,
			     struct read_end known, struct plog_slice *out)
{
	struct segment_reader r;
	struct batch_hdr h;
	int rc;
	segment_reader_init(&r, seg, end, 4096);
	while ((rc = segment_reader_header(&r, pos, &h)) == 1 && batch_last_offset(&h) < offset)
		pos += batch_total_size(&h);
	if (rc != 1) {
		segment_reader_fini(&r);
		if (rc == 0)
			return 0;
		log_error("log", "%s: segment %020lld: unreadable batch at position %llu: %s", pl->name,
			  (long long)seg->base_offset, (unsigned long long)pos,
			  rc == -2 ? strerror(errno) : "bad header");
		return KAFKA_KAFKA_STORAGE_ERROR;
	}
	uint64_t first = pos, total = 0;
	int64_t next = offset;
	if (known.pos > first && known.pos - first <= max_bytes && batch_last_offset(&h) < max_offset) {
		/* Every batch from here to the known end fits: no more reading. */
		total = known.pos - first;
		next = known.next;
		rc = 0;
	}
	while (rc == 1 && batch_last_offset(&h) < max_offset &&
	       (total + batch_total_size(&h) <= max_bytes || (total == 0 && min_one))) {
		total += batch_total_size(&h);
		pos += batch_total_size(&h);
		next = batch_last_offset(&h) + 1;
		rc = segment_reader_header(&r, pos, &h);
	}
	segment_reader_fini(&r);
	out->pos = first;
	out->len = total;
	out->next_offset = next;
	return 1;
}

int plog_read(struct plog *pl, int64_t offset, int64_t max_offset, size_t max_bytes,
	      bool min_one, struct plog_slice *out)
{
	out->file = NULL;
	out->pos = out->len = 0;
	out->next_offset = offset;
	pthread_mutex_lock(&pl->mu);
	int64_t leo = atomic_load(&pl->leo);
	if (offset < atomic_load(&pl->start) || offset > leo) {
		pthread_mutex_unlock(&pl->mu);
		return KAFKA_OFFSET_OUT_OF_RANGE;
	}
	size_t i = plog_find_segment(pl, offset);
	for (;;) {
		if (offset >= leo || offset >= max_offset || i >= pl->nsegs) {
			pthread_mutex_unlock(&pl->mu);
			return KAFKA_NONE;
		}
		struct segment *seg = pl->segs[i];
		struct read_end known = plog_known_end(pl, seg, max_offset, leo);
		uint64_t pos;
		fileref_ref(&seg->ref);
		if (known.pos > 0 && plog_recent(seg, offset, &pos) && known.pos > pos &&
		    known.pos - pos <= max_bytes) {
			/* The common tail fetch, from a batch appended lately:
			 * nothing to read from the file. */
			pthread_mutex_unlock(&pl->mu);
			*out = (struct plog_slice){ .file = &seg->ref, .pos = pos,
						    .len = known.pos - pos, .next_offset = known.next };
			return KAFKA_NONE;
		}
		struct index_entry e;
		pos = index_floor(&seg->oidx, offset, false, &e) ? (uint64_t)e.val : 0;
		uint64_t end = seg->size;
		pthread_mutex_unlock(&pl->mu);

		int rc = plog_read_segment(pl, seg, pos, end, offset, max_offset, max_bytes, min_one,
					   known, out);
		if (rc == 1 && out->len > 0) {
			if (pl->ld != NULL)
				prefetch_after_read(&pl->ld->pf, seg, out->pos, out->pos + out->len, end);
			out->file = &seg->ref;  /* the caller now owns this reference */
			return KAFKA_NONE;
		}
		if (rc != 0) {
			segment_unref(seg);
			return rc == 1 ? KAFKA_NONE : rc;
		}
		/* offset lies past this segment's last batch: the next one. The
		 * cleaner may have merged this segment with later ones meanwhile
		 * (cleaner_swap.c): then read the segment that replaced it, which
		 * holds its base (seg is held until compared, so its address
		 * cannot have been reused). */
		pthread_mutex_lock(&pl->mu);
		leo = atomic_load(&pl->leo);
		i = plog_find_segment(pl, seg->base_offset);
		if (pl->segs[i] == seg)
			i++;
		segment_unref(seg);
	}
}

/* ============================================================ offsets */

int64_t plog_start_offset(const struct plog *pl) { return atomic_load(&pl->start); }
int64_t plog_end_offset(const struct plog *pl) { return atomic_load(&pl->leo); }
int64_t plog_high_watermark(const struct plog *pl) { return atomic_load(&pl->leo); }
int64_t plog_size_bytes(const struct plog *pl) { return atomic_load(&pl->size_bytes); }
int64_t plog_recovery_point(const struct plog *pl) { return atomic_load(&pl->flushed); }
const char *plog_dir(const struct plog *pl) { return pl->dir; }

void plog_set_config(struct plog *pl, const struct plog_config *cfg)
{
	pthread_mutex_lock(&pl->mu);
	pl->cfg = *cfg;
	pthread_mutex_unlock(&pl->mu);
}

void plog_get_config(struct plog *pl, struct plog_config *out)
{
	pthread_mutex_lock(&pl->mu);
	*out = pl->cfg;
	pthread_mutex_unlock(&pl->mu);
}

/* ========================================================= time lookups */

/* Decompressing a stored batch for a time lookup allocates at most this
 * much; a larger (or undecodable) one answers with the batch itself. */
enum { PLOG_TIME_DECOMPRESS_MAX = 64 << 20 };

/* The first record of batch h (at pos) with timestamp >= ts: 1 and the
 * offset/timestamp, 0 when none (a producer may claim a MaxTimestamp no
 * record has), -1 on a read error. Compressed batches are decompressed
 * (batch_records) to find the exact record; LogAppendTime batches answer
 * with the batch (every record has its MaxTimestamp). */
static int plog_first_record_at(struct segment_reader *r, uint64_t pos, const struct batch_hdr *h,
				int64_t ts, int64_t *offset, int64_t *timestamp)
{
	size_t size = batch_total_size(h);
	const uint8_t *p = NULL, *recs = NULL;
	uint8_t *owned = NULL;
	size_t len = 0;
	if (!(h->attributes & BATCH_ATTR_LOG_APPEND_TIME)) {
		if ((p = segment_reader_peek(r, pos, size)) == NULL)
			return -1;
		if (batch_records(p, size, PLOG_TIME_DECOMPRESS_MAX, &recs, &len, &owned) != KAFKA_NONE)
			recs = NULL;
	}
	if (recs == NULL) {
		*offset = h->base_offset;
		*timestamp = h->max_timestamp;
		return 1;
	}
	struct record_view rec;
	size_t rpos = 0;
	int found = 0;
	while (found == 0 && batch_next_record(recs, len, &rpos, &rec) == 0) {
		/* Stored timestamps come from producers: saturate instead of
		 * overflowing on absurd deltas. */
		int64_t rts;
		if (__builtin_add_overflow(h->base_timestamp, rec.timestamp_delta, &rts))
			rts = rec.timestamp_delta > 0 ? INT64_MAX : INT64_MIN;
		if (rts >= ts) {
			*offset = h->base_offset + rec.offset_delta;
			*timestamp = rts;
			found = 1;
		}
	}
	free(owned);
	return found;
}

/* Scans seg from pos for the first record with timestamp >= ts. Returns 1
 * found, 0 not in this segment, or KAFKA_KAFKA_STORAGE_ERROR. */
static int plog_time_in_segment(struct plog *pl, struct segment *seg, uint64_t pos, uint64_t end,
				int64_t ts, int64_t *offset, int64_t *timestamp)
{
	struct segment_reader r;
	struct batch_hdr h;
	int rc = 0, found = 0;
	segment_reader_init(&r, seg, end, 64 * 1024);
	while (found == 0 && (rc = segment_reader_header(&r, pos, &h)) == 1) {
		if (h.max_timestamp >= ts)
			found = plog_first_record_at(&r, pos, &h, ts, offset, timestamp);
		pos += batch_total_size(&h);
	}
	segment_reader_fini(&r);
	if (found < 0 || (found == 0 && rc < 0)) {
		log_error("log", "%s: segment %020lld: unreadable batch at position %llu", pl->name,
			  (long long)seg->base_offset, (unsigned long long)pos);
		return KAFKA_KAFKA_STORAGE_ERROR;
	}
	return found;
}

int plog_offset_for_time(struct plog *pl, int64_t ts, int64_t *offset, int64_t *timestamp)
{
	*offset = *timestamp = -1;
	pthread_mutex_lock(&pl->mu);
	size_t i = 0;
	while (i < pl->nsegs) {
		struct segment *seg = pl->segs[i];
		if (seg->max_ts < ts) {
			i++;
			continue;
		}
		/* Every batch before the last time-index entry below ts has
		 * timestamps < ts: start the scan at that entry's batch. */
		struct index_entry e;
		int64_t from = index_floor(&seg->tidx, ts, true, &e) ? e.val : seg->base_offset;
		uint64_t pos = index_floor(&seg->oidx, from, false, &e) ? (uint64_t)e.val : 0;
		uint64_t end = seg->size;
		fileref_ref(&seg->ref);
		pthread_mutex_unlock(&pl->mu);
		int rc = plog_time_in_segment(pl, seg, pos, end, ts, offset, timestamp);
		if (rc != 0) {
			segment_unref(seg);
			return rc == 1 ? KAFKA_NONE : rc;
		}
		/* Not in seg: go on after it. Retention or the cleaner may have
		 * changed the list meanwhile (as in plog_read): when seg is gone,
		 * the segment now holding its base (or the new first one) comes
		 * next; seg is held until compared, so its address is not reused. */
		pthread_mutex_lock(&pl->mu);
		i = plog_find_segment(pl, seg->base_offset);
		if (i < pl->nsegs && pl->segs[i] == seg)
			i++;
		segment_unref(seg);
	}
	pthread_mutex_unlock(&pl->mu);
	return KAFKA_NONE;
}

int plog_max_timestamp(struct plog *pl, int64_t *offset, int64_t *timestamp)
{
	int64_t max = -1;
	pthread_mutex_lock(&pl->mu);
	for (size_t i = 0; i < pl->nsegs; i++)
		if (pl->segs[i]->max_ts > max)
			max = pl->segs[i]->max_ts;
	pthread_mutex_unlock(&pl->mu);
	*offset = *timestamp = -1;
	if (max < 0)
		return KAFKA_NONE;
	/* The first record carrying the largest timestamp is the first one
	 * whose timestamp is >= it. */
	return plog_offset_for_time(pl, max, offset, timestamp);
}

/* ============================================================ producers */

struct producers_copy {
	struct plog_producer *v;
	size_t n;
};

static void producer_copy_one(void *arg, const struct pstate_entry *e)
{
	struct producers_copy *c = arg;
	const struct pstate_batch *last = e->nbatches > 0 ? &e->b[e->nbatches - 1] : NULL;
	c->v[c->n++] = (struct plog_producer){
		.producer_id = e->pid, .epoch = e->epoch,
		.last_sequence = last ? last->last_seq : -1,
		.last_timestamp = last ? e->last_ts : -1,
		.coordinator_epoch = e->coordinator_epoch,
		.txn_start_offset = e->txn_first_offset,
	};
}

static int producer_cmp(const void *a, const void *b)
{
	int64_t x = ((const struct plog_producer *)a)->producer_id;
	int64_t y = ((const struct plog_producer *)b)->producer_id;
	return x < y ? -1 : x > y;
}

ssize_t plog_producers(struct plog *pl, struct plog_producer **out)
{
	*out = NULL;
	pthread_mutex_lock(&pl->mu);
	size_t n = pstate_count(pl->ps);
	struct producers_copy c = { n > 0 ? malloc(n * sizeof *c.v) : NULL, 0 };
	if (n > 0 && c.v == NULL) {
		pthread_mutex_unlock(&pl->mu);
		return -1;
	}
	if (n > 0)
		pstate_foreach(pl->ps, producer_copy_one, &c);
	pthread_mutex_unlock(&pl->mu);
	if (c.n > 1)
		qsort(c.v, c.n, sizeof *c.v, producer_cmp);
	*out = c.v;
	return (ssize_t)c.n;
}

/* ================================================================ flush */

int plog_flush(struct plog *pl)
{
	return flusher_flush(pl);
}

int plog__close_files(struct plog *pl)
{
	char name[64];
	struct seg_tails st;
	/* The producer state at the log end: a clean restart scans nothing.
	 * A failed write is logged and only costs a longer scan. Not for a
	 * failed partition: its state may miss a batch (plog_append). */
	if (atomic_load(&pl->err) == KAFKA_NONE)
		psnap_write_now(pl);
	pthread_mutex_lock(&pl->flush_mu);  /* the indexes' one store at a time */
	pthread_mutex_lock(&pl->mu);
	struct segment *seg = plog_active(pl);
	fileref_ref(&seg->ref);
	segment_seal(seg);
	/* Only what the close's flush left: an idle partition costs no sync. */
	bool store = segment_indexes_dirty(seg);
	bool data = atomic_load(&pl->leo) > atomic_load(&pl->flushed);
	bool taken = store && segment_take_tails(seg, &st, true);
	pthread_mutex_unlock(&pl->mu);
	int rc = 0, dfd = -1;
	if (store && !taken)
		rc = ENOMEM;
	else if (taken && (dfd = plog__dir_get(pl)) < 0)
		rc = errno;
	else if (taken)
		rc = segment_write_tails(seg, &st, dfd);
	segment_name(name, sizeof name, seg->base_offset, rc == 0 ? ".log" : ".index");
	if (rc == 0 && data)
		rc = segment_sync(seg);
	if (dfd >= 0)
		plog__dir_put(pl);
	if (taken) {
		pthread_mutex_lock(&pl->mu);
		segment_tails_done(seg, &st, rc == 0);
		pthread_mutex_unlock(&pl->mu);
	}
	pthread_mutex_unlock(&pl->flush_mu);
	segment_unref(seg);
	if (rc != 0) {
		plog__fail(pl, "close", name, rc);
		return KAFKA_KAFKA_STORAGE_ERROR;
	}
	return KAFKA_NONE;
}
