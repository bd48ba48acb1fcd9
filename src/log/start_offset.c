/*
 * start_offset.c — the log start offset: DeleteRecords
 * (plog_delete_records) and the file that makes it survive restarts.
 *
 * <log.dirs>/log-start-offset-checkpoint, Kafka's name and text format
 * (the same as recovery-point-offset-checkpoint, logdir.c):
 *
 *       0                       version
 *       1                       number of entries
 *       orders 0 1500           topic, partition, log start offset
 *
 * Only partitions whose start lies above their first segment's base need
 * an entry (DeleteRecords inside a segment, or past segments the janitor
 * has not removed yet); everywhere else the start is the first segment's
 * base, which the segment files already say. An entry <= that base is
 * stale and harmless: opening takes max(first base, entry).
 *
 * Invariants:
 *  1. plog_delete_records answers only after the file holding the new
 *     start was written durably (tmp, fsync, rename, dir fsync), and it
 *     publishes the new start in memory only after that write.
 *  2. Every offset below a checkpointed start was durable before the entry
 *     was written (the partition is flushed first), so after a crash the
 *     log ends at or above its start unless the disk lost acknowledged data
 *     (then logdir__start_offset_apply restarts the log at the start).
 *  3. A deleted partition's entry is removed from the file before its dir
 *     is renamed, so a topic created again under the name starts at 0.
 *
 * Threads: any thread. ld->lso.mu serializes writers of the file (and
 * DeleteRecords calls, so starts are published in order); the map is under
 * ld->mu. Lock order: lso.mu -> plog.mu -> logdir.mu (log_int.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log_int.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

#define LSO_FILE "log-start-offset-checkpoint"
#define LSO_TMP LSO_FILE ".tmp"

/* ================================================================== map */

/* ld->mu (or single-threaded). */
static struct ckpt_entry *lso_find(struct logdir *ld, const char *topic, int32_t partition)
{
	return ckpt_find(&ld->lso.map, topic, partition);
}

void start_offset__fini(struct logdir *ld)
{
	ckpt_clear(&ld->lso.map);
	free(ld->lso.last);
	ld->lso.last = NULL;
}

/* ================================================================= file */

void logdir__start_offsets_load(struct logdir *ld)
{
	unlinkat(ld->dirfd, LSO_TMP, 0);
	int bad = 0;
	int rc = ckpt_load(&ld->lso.map, ld->dirfd, LSO_FILE, &bad);
	if (rc == CKPT_UNREADABLE)
		log_warn("log", "%s/%s: unreadable; log start offsets fall back to the first segments",
			 ld->path, LSO_FILE);
	else if (rc == CKPT_MALFORMED)
		log_warn("log", "%s/%s: malformed at line %d; log start offsets fall back to the first "
			 "segments", ld->path, LSO_FILE, bad);
	/* What the file says now: a write of the same text is skipped. */
	ld->lso.last = rc == CKPT_OK ? ckpt_format(&ld->lso.map, NULL) : NULL;
}

/* Writes the map to the file unless it says that already. lso.mu held.
 * Returns 0 or -1 (errno, logged). */
static int lso_write_locked(struct logdir *ld)
{
	pthread_mutex_lock(&ld->mu);
	char *text = ckpt_format(&ld->lso.map, NULL);
	pthread_mutex_unlock(&ld->mu);
	if (text == NULL) {
		log_error("log", "%s/%s: out of memory", ld->path, LSO_FILE);
		errno = ENOMEM;
		return -1;
	}
	if (ld->lso.last != NULL && strcmp(text, ld->lso.last) == 0) {
		free(text);
		return 0;
	}
	if (logdir__write_durably(ld, LSO_FILE, LSO_TMP, text, strlen(text)) != 0) {
		int e = errno;
		log_error("log", "%s/%s: cannot write: %s", ld->path, LSO_FILE, strerror(e));
		free(text);
		errno = e;
		return -1;
	}
	free(ld->lso.last);
	ld->lso.last = text;
	return 0;
}

/* ======================================================= partition hooks */

/* start_offset_restart with the dir reference held. */
static int start_offset_restart_in(struct plog *pl, int64_t start)
{
	for (size_t i = 0; i < pl->nsegs; i++) {
		segment_unlink(pl->dirfd, pl->segs[i]->base_offset);
		segment_unref(pl->segs[i]);
	}
	pl->nsegs = 0;
	struct segment *seg = segment_create(pl->dirfd, pl->name, start, &pl->cfg, clock_wall_ms());
	if (seg == NULL || plog__push_segment(pl, seg) != 0 || plog__sync_dir(pl->dirfd) != 0) {
		log_error("log", "%s: cannot restart the log at offset %lld: %s", pl->name,
			  (long long)start, seg == NULL ? strerror(errno) : "I/O error");
		if (seg != NULL && pl->nsegs == 0)
			segment_unref(seg);
		return KAFKA_KAFKA_STORAGE_ERROR;
	}
	atomic_store(&pl->leo, start);
	atomic_store(&pl->flushed, start);
	atomic_store(&pl->size_bytes, 0);
	return KAFKA_NONE;
}

/* Empties the log and starts it again at `start` (Kafka's LogLoader does
 * this when the checkpointed start lies past the recovered log end).
 * Before the plog is shared. */
static int start_offset_restart(struct plog *pl, int64_t start)
{
	if (plog__dir_get(pl) < 0) {
		log_error("log", "%s: cannot open %s: %s", pl->name, pl->dir, strerror(errno));
		return KAFKA_KAFKA_STORAGE_ERROR;
	}
	int rc = start_offset_restart_in(pl, start);
	plog__dir_put(pl);
	return rc;
}

int logdir__start_offset_apply(struct logdir *ld, struct plog *pl)
{
	pthread_mutex_lock(&ld->mu);
	struct ckpt_entry *e = lso_find(ld, pl->topic, pl->partition);
	int64_t ck = e != NULL ? e->offset : -1;
	pthread_mutex_unlock(&ld->mu);
	int64_t base = pl->segs[0]->base_offset, leo = atomic_load(&pl->leo);
	if (ck <= base)
		return KAFKA_NONE;
	if (ck > leo) {
		log_warn("log", "%s: the checkpointed log start offset %lld lies past the log end %lld "
			 "(data below it was lost); the log is emptied and restarts at %lld", pl->name,
			 (long long)ck, (long long)leo, (long long)ck);
		int err = start_offset_restart(pl, ck);
		if (err != KAFKA_NONE)
			return err;
	}
	atomic_store(&pl->start, ck);
	txnlog__truncate_head(pl, ck);
	log_info("log", "%s: log start offset %lld (from %s)", pl->name, (long long)ck, LSO_FILE);
	return KAFKA_NONE;
}

void logdir__start_offset_forget(struct logdir *ld, const char *topic, int32_t partition)
{
	pthread_mutex_lock(&ld->lso.mu);
	pthread_mutex_lock(&ld->mu);
	ckpt_remove(&ld->lso.map, topic, partition);
	pthread_mutex_unlock(&ld->mu);
	lso_write_locked(ld);  /* a failure is logged; the entry goes at the next write */
	pthread_mutex_unlock(&ld->lso.mu);
}

void start_offset__settle(struct logdir *ld, struct plog *pl, int64_t first)
{
	pthread_mutex_lock(&ld->mu);
	struct ckpt_entry *e = lso_find(ld, pl->topic, pl->partition);
	/* A DeleteRecords that raced past `first` keeps its entry. */
	if (e != NULL && e->offset <= first)
		ckpt_remove(&ld->lso.map, pl->topic, pl->partition);
	pthread_mutex_unlock(&ld->mu);
}

/* ========================================================= DeleteRecords */

/* Is pl still open in ld (ld->mu held)? */
static bool lso_registered(struct logdir *ld, struct plog *pl)
{
	for (size_t i = 0; i < ld->nparts; i++)
		if (ld->parts[i] == pl)
			return true;
	return false;
}

/* Records `start` for pl durably, then publishes it (invariant 1). lso.mu
 * held. Returns KAFKA_NONE, KAFKA_KAFKA_STORAGE_ERROR, or
 * KAFKA_UNKNOWN_TOPIC_OR_PARTITION when pl was deleted (or closed)
 * meanwhile: logdir_plog_delete forgets the entry under lso.mu after taking
 * pl out of the registry, so checking the registry here keeps a racing
 * DeleteRecords from leaving an entry for a deleted partition (invariant 3). */
static int start_offset_commit(struct logdir *ld, struct plog *pl, int64_t start)
{
	pthread_mutex_lock(&ld->mu);
	if (!lso_registered(ld, pl)) {
		pthread_mutex_unlock(&ld->mu);
		return KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
	}
	struct ckpt_entry *e = lso_find(ld, pl->topic, pl->partition);
	int64_t old = e != NULL ? e->offset : -1;
	int rc = ckpt_set(&ld->lso.map, pl->topic, pl->partition, start);
	pthread_mutex_unlock(&ld->mu);
	if (rc == 0)
		rc = lso_write_locked(ld);
	if (rc != 0) {
		/* Not acknowledged: the next write must not persist it either. */
		pthread_mutex_lock(&ld->mu);
		if (old >= 0)
			ckpt_set(&ld->lso.map, pl->topic, pl->partition, old);
		else
			ckpt_remove(&ld->lso.map, pl->topic, pl->partition);
		pthread_mutex_unlock(&ld->mu);
		return KAFKA_KAFKA_STORAGE_ERROR;
	}
	pthread_mutex_lock(&pl->mu);
	if (atomic_load(&pl->start) < start)
		atomic_store(&pl->start, start);
	pthread_mutex_unlock(&pl->mu);
	return KAFKA_NONE;
}

int plog_delete_records(struct plog *pl, int64_t offset, int64_t *low_watermark)
{
	struct logdir *ld = pl->ld;
	int64_t hw = plog_high_watermark(pl);
	*low_watermark = -1;
	if (offset == -1)
		offset = hw;
	if (offset < 0 || offset > hw)
		return KAFKA_OFFSET_OUT_OF_RANGE;
	if (ld == NULL || atomic_load(&pl->err) != KAFKA_NONE)
		return KAFKA_KAFKA_STORAGE_ERROR;
	if (offset <= plog_start_offset(pl)) {
		*low_watermark = plog_start_offset(pl);
		return KAFKA_NONE;
	}
	/* Invariant 2: what lies below the new start is durable first. */
	if (offset > plog_recovery_point(pl) && flusher_flush(pl) != KAFKA_NONE)
		return KAFKA_KAFKA_STORAGE_ERROR;
	pthread_mutex_lock(&ld->lso.mu);
	int err = offset > plog_start_offset(pl) ? start_offset_commit(ld, pl, offset) : KAFKA_NONE;
	pthread_mutex_unlock(&ld->lso.mu);
	if (err != KAFKA_NONE)
		return err;
	log_info("log", "%s: log start offset moved to %lld (DeleteRecords)", pl->name,
		 (long long)plog_start_offset(pl));
	if (retention__pass(pl, clock_wall_ms(), false) < 0)
		return KAFKA_KAFKA_STORAGE_ERROR;
	*low_watermark = plog_start_offset(pl);
	return KAFKA_NONE;
}
