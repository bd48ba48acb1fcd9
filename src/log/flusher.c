/*
 * flusher.c — group commit: one thread per log dir makes appended data
 * durable and answers the durability waiters (plog_when_durable).
 *
 * A round (flusher_main):
 *
 *   sleep on ld->cond until woken (a waiter, a roll, flush.messages
 *   reached) or flush_scheduler_ms passed
 *        |
 *   take the dirty list (partitions appended to since they were last
 *   flushed, or with waiters); for each one that is due:
 *        |
 *   flusher_flush:  under mu   target = leo; note the active segment, the
 *                              segments rolled since the last flush, and
 *                              whether the dir gained a file; copy the
 *                              index entries their files lack (all of a
 *                              rolled segment's; the active one's every
 *                              FLUSHER_INDEX_LAG bytes of log)
 *                   no lock    write those entries, fsync rolled segments
 *                              (.log, .index, .timeindex); fdatasync the
 *                              active .log; fsync the partition dir if it
 *                              gained a file
 *                   under mu   flushed = target; take the waiters with
 *                              end_offset <= flushed
 *                   no lock    call them, in offset order, KAFKA_NONE
 *        |
 *   requeue partitions that still hold unflushed data; have the
 *   checkpoint written after rolls or every CKPT_INTERVAL_MS; remove
 *   deleted dirs
 *
 * A partition is due when it has waiters, an error to report, rolled
 * segments to sync, flush.messages unflushed records, or data older than
 * flush.ms.
 *
 * Invariants:
 *  1. A waiter is called with KAFKA_NONE only after an fdatasync that
 *     started after its data was written (target is read under mu after
 *     the append published it) — and, for data in a new segment, after the
 *     directory fsync that made the file's name durable.
 *  2. Appends and reads never wait for a flush: no plog mutex is held
 *     across a sync. Requests arriving during a flush are served by the
 *     next round — many produce requests share one fdatasync.
 *  3. Waiters are called in offset order: flushes of one partition are
 *     serialized by flush_mu, and waiters leave the sorted list in order.
 *  4. After a failed sync the partition's error is sticky: the waiters then
 *     pending and every later one get KAFKA_KAFKA_STORAGE_ERROR.
 *
 * Threads: flusher_main is the log dir's thread; flusher_flush may also
 * run on any thread (plog_flush, close).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/log_int.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

/* The recovery-point checkpoint is rewritten (when it changed) at most
 * this often and after every roll. A restart after a crash scans each
 * partition from its checkpointed recovery point, so the interval bounds
 * what it rescans beyond the unflushed tail: Kafka's default for
 * log.flush.offset.checkpoint.interval.ms is 60 s, which at 500 MB/s is
 * 30 GB to rescan; 1 s keeps it to what one second writes. The janitor
 * thread writes the file (logdir__checkpoint_soon), so its three syncs
 * never delay a flush round. */
enum { CKPT_INTERVAL_MS = 1000 };

/* The active segment's index files are written when the entries they lack
 * cover this many bytes of log: a write (open, pwrite, close of each file)
 * per 4 MiB keeps them off the append path and costs the flusher little,
 * and a recovery that resumes from the file's last entry (recovery.c)
 * rescans at most this much more than the unflushed tail. */
#define FLUSHER_INDEX_LAG (4 << 20)
int64_t flusher__index_lag = FLUSHER_INDEX_LAG;

void flusher_mark_dirty(struct plog *pl, bool wake)
{
	struct logdir *ld = pl->ld;
	if (ld == NULL)
		return;
	bool queued = atomic_exchange(&pl->dirty, true);
	if (queued && !wake)
		return;
	pthread_mutex_lock(&ld->mu);
	if (!queued) {
		plog__ref(pl);  /* the dirty list's reference */
		pl->dirty_next = ld->dirty;
		ld->dirty = pl;
	}
	if (wake) {
		ld->wake = true;
		pthread_cond_signal(&ld->cond);
	}
	pthread_mutex_unlock(&ld->mu);
}

/* ========================================================= one partition */

struct flush_plan {
	int64_t target;             /* leo when the flush began */
	struct segment *active;     /* referenced */
	struct segment **rolled;    /* referenced; owned array */
	struct seg_tails *rtails;   /* owned: rolled[i]'s index entries to store */
	size_t nrolled;
	struct seg_tails atail;     /* the active segment's, when store_active */
	bool store_active;
	bool stored;                /* the tails were written */
	bool data;                  /* records since the last flush: fdatasync the active .log */
	bool dir;                   /* fsync the partition dir */
};

/* Records which index entries the flush stored (mu). */
static void flusher_plan_record(struct flush_plan *fp)
{
	for (size_t i = 0; i < fp->nrolled; i++)
		segment_tails_done(fp->rolled[i], &fp->rtails[i], fp->stored);
	if (fp->store_active)
		segment_tails_done(fp->active, &fp->atail, fp->stored);
}

/* Drops the plan's references (after flusher_plan_record). */
static void flusher_plan_free(struct flush_plan *fp)
{
	for (size_t i = 0; i < fp->nrolled; i++)
		segment_unref(fp->rolled[i]);
	free(fp->rolled);
	free(fp->rtails);
	segment_unref(fp->active);
}

/* Under mu: what this flush covers. Returns false when out of memory. */
static bool flusher_plan(struct plog *pl, struct flush_plan *fp)
{
	memset(fp, 0, sizeof *fp);
	size_t n = 0;
	for (size_t i = 0; i < pl->nsegs; i++)
		n += pl->segs[i]->unsynced;
	if (n > 0 && ((fp->rolled = malloc(n * sizeof *fp->rolled)) == NULL ||
		      (fp->rtails = malloc(n * sizeof *fp->rtails)) == NULL)) {
		free(fp->rolled);
		return false;
	}
	for (size_t i = 0; i < pl->nsegs; i++) {
		struct segment *seg = pl->segs[i];
		if (seg->unsynced && segment_take_tails(seg, &fp->rtails[fp->nrolled], true)) {
			fileref_ref(&seg->ref);
			fp->rolled[fp->nrolled++] = seg;
		} else if (seg->unsynced) {
			flusher_plan_record(fp);
			flusher_plan_free(fp);
			return false;
		}
	}
	fp->active = pl->segs[pl->nsegs - 1];
	fileref_ref(&fp->active->ref);
	if (index_unstored(&fp->active->oidx) > 0 &&
	    index_unstored_span(&fp->active->oidx) >= flusher__index_lag)
		fp->store_active = segment_take_tails(fp->active, &fp->atail, false);
	fp->target = atomic_load(&pl->leo);
	fp->data = fp->target > atomic_load(&pl->flushed);
	fp->dir = pl->dir_dirty;
	pl->dir_dirty = false;
	pl->unflushed_msgs = 0;
	pl->oldest_unflushed_ms = -1;
	return true;
}

/* Does the plan write files in the partition dir? */
static bool flusher_needs_dir(const struct flush_plan *fp)
{
	return fp->nrolled > 0 || fp->store_active || fp->dir;
}

/* Writes the index entries the plan took, into dirfd (rolled segments'
 * fsync'd when sync_rolled). 0 or an errno value with the file named. */
static int flusher_store(struct flush_plan *fp, int dirfd, bool sync_rolled, char *name,
			 size_t len)
{
	int e = 0;
	for (size_t i = 0; i < fp->nrolled && e == 0; i++) {
		fp->rtails[i].o.sync = fp->rtails[i].t.sync = sync_rolled;
		segment_name(name, len, fp->rolled[i]->base_offset, ".index");
		e = segment_write_tails(fp->rolled[i], &fp->rtails[i], dirfd);
	}
	if (e == 0 && fp->store_active) {
		segment_name(name, len, fp->active->base_offset, ".index");
		e = segment_write_tails(fp->active, &fp->atail, dirfd);
	}
	fp->stored = e == 0;
	return e;
}

/* The index writes and syncs, without locks (a dir reference while they
 * need the dir). Returns 0, or an errno value with the failing file's
 * name written into name. */
static int flusher_sync(struct plog *pl, struct flush_plan *fp, char *name, size_t len)
{
	int dfd = -1, e = 0;
	if (flusher_needs_dir(fp) && (dfd = plog__dir_get(pl)) < 0) {
		snprintf(name, len, "%s", "the partition directory");
		return errno;
	}
	if (dfd >= 0)
		e = flusher_store(fp, dfd, true, name, len);
	for (size_t i = 0; i < fp->nrolled && e == 0; i++) {
		segment_name(name, len, fp->rolled[i]->base_offset, ".log");
		e = segment_sync(fp->rolled[i]);
	}
	if (e == 0 && fp->data) {
		segment_name(name, len, fp->active->base_offset, ".log");
		e = segment_sync(fp->active);
	}
	if (e == 0 && fp->dir) {
		snprintf(name, len, "%s", "the partition directory");
		e = plog__sync_dir(dfd);
	}
	if (dfd >= 0)
		plog__dir_put(pl);
	return e;
}

/* A group flush's part before the syncfs: writes the index entries (no
 * fsync: the syncfs covers them). 0 or an errno value, file named. */
static int flusher_store_for_group(struct plog *pl, struct flush_plan *fp, char *name,
				   size_t len)
{
	if (fp->nrolled == 0 && !fp->store_active)
		return 0;
	int dfd = plog__dir_get(pl);
	if (dfd < 0) {
		snprintf(name, len, "%s", "the partition directory");
		return errno;
	}
	int e = flusher_store(fp, dfd, false, name, len);
	plog__dir_put(pl);
	return e;
}

/* Nothing to sync: no new data, no rolled segment, no new file. mu. */
static bool flusher_clean(const struct plog *pl)
{
	if (atomic_load(&pl->leo) > atomic_load(&pl->flushed) || pl->dir_dirty)
		return false;
	for (size_t i = 0; i < pl->nsegs; i++)
		if (pl->segs[i]->unsynced)
			return false;
	return true;
}

/* Under mu, when there is nothing to sync: answers the waiters already
 * covered (or all of them with the sticky error). Unlocks mu. */
static int flusher_answer(struct plog *pl, int err)
{
	struct plog_waiter *w;
	size_t nw = plog__take_waiters(pl, err != KAFKA_NONE ? INT64_MAX : atomic_load(&pl->flushed), &w);
	pthread_mutex_unlock(&pl->mu);
	plog__call_waiters(w, nw, err);
	return err;
}

/* First half of a flush: takes flush_mu and plans under mu. Returns true
 * with flush_mu still held when there is something to sync (then
 * flusher_end must follow); false when done here (waiters already covered
 * answered, or *err set: the sticky error, or out of memory — not the
 * disk's fault: the waiters stay queued for the next round). */
static bool flusher_begin(struct plog *pl, struct flush_plan *fp, int *err)
{
	pthread_mutex_lock(&pl->flush_mu);
	pthread_mutex_lock(&pl->mu);
	*err = atomic_load(&pl->err);
	/* Closed: its close flushed it, or it was deleted (its dir may be
	 * gone already) — nothing here is to be made durable any more. */
	if (*err != KAFKA_NONE || pl->closed || flusher_clean(pl)) {
		*err = flusher_answer(pl, *err);
		pthread_mutex_unlock(&pl->flush_mu);
		return false;
	}
	if (!flusher_plan(pl, fp)) {
		pthread_mutex_unlock(&pl->mu);
		pthread_mutex_unlock(&pl->flush_mu);
		*err = KAFKA_KAFKA_STORAGE_ERROR;
		return false;
	}
	pthread_mutex_unlock(&pl->mu);
	return true;
}

/* Second half: records the outcome of the syncs (e: 0 or the errno, with
 * the failing file's name), answers the waiters, drops flush_mu. */
static int flusher_end(struct plog *pl, struct flush_plan *fp, int e, const char *name)
{
	int err = KAFKA_NONE;
	pthread_mutex_lock(&pl->mu);
	flusher_plan_record(fp);
	if (e != 0) {
		plog__fail(pl, "flush of", name, e);
		err = KAFKA_KAFKA_STORAGE_ERROR;
	} else {
		for (size_t i = 0; i < fp->nrolled; i++)
			fp->rolled[i]->unsynced = false;
		if (fp->target > atomic_load(&pl->flushed))
			atomic_store(&pl->flushed, fp->target);
	}
	flusher_answer(pl, err);
	pthread_mutex_unlock(&pl->flush_mu);
	flusher_plan_free(fp);
	return err;
}

int flusher_flush(struct plog *pl)
{
	struct flush_plan fp;
	char name[80];
	int err;
	if (!flusher_begin(pl, &fp, &err))
		return err;
	int e = flusher_sync(pl, &fp, name, sizeof name);
	return flusher_end(pl, &fp, e, name);
}

/* A group flush: one syncfs of the log dir's file system instead of one
 * fdatasync (or several fsyncs) per partition. On the project's VM one
 * fdatasync took ~0.6 ms and syncfs ~1-2 ms whatever the number of dirty
 * files (64 files: 44 ms one by one, 2.3 ms at once), so producing across
 * thousands of partitions was bound by the serial fdatasyncs of the flusher
 * thread. syncfs writes every dirty page, inode and directory entry of the
 * file system and flushes the disk cache, so it covers everything
 * flusher_sync would (a partition dir on another file system is left out:
 * on_ld_fs); it also writes other processes' dirty data on that file
 * system, hence used only for rounds with FLUSHER_GROUP_MIN partitions.
 * syncfs reports a write-back error of any file of the file system (since
 * Linux 5.8), not which: on failure every partition is synced on its own,
 * which names the failing file and fails only its partition. */
enum { FLUSHER_GROUP_MIN = 4 };

struct group_item {
	struct flush_plan fp;
	bool planned;               /* flusher_begin said there is work */
	int e;                      /* 0 or the errno of its part of the flush */
	char name[80];              /* the file e is about */
};

static void flusher_flush_group(struct logdir *ld, struct plog **pls, size_t n)
{
	struct group_item *g = calloc(n, sizeof *g);
	if (g == NULL) {
		for (size_t i = 0; i < n; i++)
			flusher_flush(pls[i]);
		return;
	}
	int err;
	for (size_t i = 0; i < n; i++) {
		g[i].planned = flusher_begin(pls[i], &g[i].fp, &err);
		if (g[i].planned)
			g[i].e = flusher_store_for_group(pls[i], &g[i].fp, g[i].name, sizeof g[i].name);
	}
	atomic_fetch_add(&plog__stats.fs_syncs, 1);
	int group_e = plog__syncfs(ld->dirfd) == 0 ? 0 : errno;
	for (size_t i = 0; i < n; i++) {
		if (!g[i].planned)
			continue;
		if (g[i].e == 0 && group_e != 0)
			g[i].e = flusher_sync(pls[i], &g[i].fp, g[i].name, sizeof g[i].name);
		flusher_end(pls[i], &g[i].fp, g[i].e, g[i].name);
	}
	free(g);
}

/* ================================================================ rounds */

/* Is pl due for a flush now (mono ms)? Sets *pending when it holds data or
 * waiters that a later round must see. */
static bool flusher_due(struct plog *pl, int64_t now, bool *pending)
{
	pthread_mutex_lock(&pl->mu);
	bool rolled = false;
	for (size_t i = 0; i < pl->nsegs && !rolled; i++)
		rolled = pl->segs[i]->unsynced;
	bool due = !pl->closed &&
		   (pl->nwaiters > 0 || atomic_load(&pl->err) != KAFKA_NONE || rolled || pl->dir_dirty ||
		    pl->unflushed_msgs >= pl->cfg.flush_messages ||
		    (pl->cfg.flush_ms >= 0 && pl->oldest_unflushed_ms >= 0 &&
		     now - pl->oldest_unflushed_ms >= pl->cfg.flush_ms));
	*pending = !pl->closed && atomic_load(&pl->err) == KAFKA_NONE &&
		   (atomic_load(&pl->leo) > atomic_load(&pl->flushed) || pl->nwaiters > 0);
	pthread_mutex_unlock(&pl->mu);
	return due;
}

/* Takes the dirty list into an array (ld->mu held). Partitions that do not
 * fit (out of memory) stay queued for the next round. */
static size_t flusher_take(struct logdir *ld, struct plog ***vec, size_t *cap)
{
	size_t n = 0;
	while (ld->dirty != NULL) {
		if (n == *cap) {
			size_t c = *cap ? *cap * 2 : 64;
			struct plog **v = realloc(*vec, c * sizeof *v);
			if (v == NULL)
				break;
			*vec = v;
			*cap = c;
		}
		struct plog *pl = ld->dirty;
		ld->dirty = pl->dirty_next;
		pl->dirty_next = NULL;
		atomic_store(&pl->dirty, false);
		(*vec)[n++] = pl;
	}
	return n;
}

/* Flushes the due partitions of v: together (flusher_flush_group) when
 * there are FLUSHER_GROUP_MIN or more on the log dir's file system, else
 * one by one; then requeues what still holds data and drops the list's
 * references. */
static void flusher_round(struct logdir *ld, struct plog **v, size_t n)
{
	int64_t now = clock_mono_ms();
	struct plog **due = n >= FLUSHER_GROUP_MIN ? malloc(n * sizeof *due) : NULL;
	size_t ndue = 0;
	bool pending;
	for (size_t i = 0; i < n; i++) {
		if (!flusher_due(v[i], now, &pending))
			continue;
		if (due != NULL && v[i]->on_ld_fs)
			due[ndue++] = v[i];
		else
			flusher_flush(v[i]);
	}
	if (ndue >= FLUSHER_GROUP_MIN) {
		flusher_flush_group(ld, due, ndue);
	} else {
		for (size_t i = 0; i < ndue; i++)
			flusher_flush(due[i]);
	}
	free(due);
	for (size_t i = 0; i < n; i++) {
		flusher_due(v[i], now, &pending);
		if (pending)
			flusher_mark_dirty(v[i], false);
		plog__unref(v[i]);
	}
}

static void flusher_wait(struct logdir *ld, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&ld->cond, &ld->mu, &ts);
}

static void *flusher_main(void *arg)
{
	struct logdir *ld = arg;
	struct plog **v = NULL;
	size_t cap = 0;
	int64_t last_ckpt = clock_mono_ms();
	int64_t tick = ld->flush_scheduler_ms > 0 ? ld->flush_scheduler_ms : 1000;
	if (tick > CKPT_INTERVAL_MS)
		tick = CKPT_INTERVAL_MS;
	pthread_mutex_lock(&ld->mu);
	while (!ld->stop) {
		if (!ld->wake)
			flusher_wait(ld, tick);
		if (ld->stop)
			break;
		ld->wake = false;
		size_t n = flusher_take(ld, &v, &cap);
		pthread_mutex_unlock(&ld->mu);
		flusher_round(ld, v, n);
		int64_t now = clock_mono_ms();
		if (atomic_exchange(&ld->ckpt_wanted, false) || now - last_ckpt >= CKPT_INTERVAL_MS) {
			logdir__checkpoint_soon(ld);
			last_ckpt = now;
		}
		logdir__reap(ld);
		pthread_mutex_lock(&ld->mu);
	}
	pthread_mutex_unlock(&ld->mu);
	free(v);
	return NULL;
}

int flusher_start(struct logdir *ld)
{
	int e = pthread_create(&ld->thread, NULL, flusher_main, ld);
	if (e != 0) {
		errno = e;
		return -1;
	}
	ld->thread_started = true;
	return 0;
}

void flusher_stop(struct logdir *ld)
{
	if (!ld->thread_started)
		return;
	pthread_mutex_lock(&ld->mu);
	ld->stop = true;
	pthread_cond_signal(&ld->cond);
	pthread_mutex_unlock(&ld->mu);
	pthread_join(ld->thread, NULL);
	ld->thread_started = false;
	/* Drop the dirty list's references; close flushes what matters. */
	pthread_mutex_lock(&ld->mu);
	struct plog *pl = ld->dirty;
	ld->dirty = NULL;
	pthread_mutex_unlock(&ld->mu);
	while (pl != NULL) {
		struct plog *next = pl->dirty_next;
		atomic_store(&pl->dirty, false);
		plog__unref(pl);
		pl = next;
	}
}
