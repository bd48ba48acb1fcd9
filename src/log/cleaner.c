/*
 * cleaner.c — the log cleaner's threads: which partition to clean next,
 * the cleaner-offset-checkpoint, statistics. One cleaning is
 * cleaner_pass.c; the swap of cleaned segments is cleaner_swap.c;
 * docs/compaction.md has the whole picture.
 *
 * File in <log.dirs> (Kafka's name and text format, as the recovery-point
 * checkpoint in logdir.c):
 *
 *   cleaner-offset-checkpoint      written tmp + fsync + rename + fsync(dir)
 *       0                          version
 *       1                          number of entries
 *       __consumer_offsets 7 1234  topic, partition, first dirty offset
 *
 * First dirty offset: everything below it was cleaned by an earlier pass;
 * the dirty section runs from it to the cleanable end (cleaner_pass.c).
 * A missing entry (or one outside the log) means the log start.
 *
 * Choosing (cleaner_pick), each time a thread is free: among the open
 * partitions whose cleanup.policy holds compact, not being cleaned by
 * another thread and not backing off after a failure, measure
 *   dirty ratio = dirty bytes / (clean bytes + dirty bytes)
 * over the cleanable range (cpass_measure); a partition is due when the
 * ratio is >= min.cleanable.dirty.ratio, or when the first batch of its
 * first dirty segment is older than max.compaction.lag.ms. The due
 * partition with the highest ratio is cleaned (an overdue one first).
 * When none is due the thread sleeps log.cleaner.backoff.ms (a stop wakes
 * it at once).
 *
 * Invariants:
 *  1. A partition is cleaned by at most one thread at a time (busy list).
 *  2. An entry is advanced only after its pass swapped in every group, so
 *     a crash leaves at worst a stale entry: the next pass cleans again.
 *
 * Locks: cleaner.mu guards everything in struct cleaner below it and is a
 * leaf (no other lock is taken while holding it); cleaner.file_mu orders
 * checkpoint writers and is taken before cleaner.mu, never under any log
 * lock. Threads hold a plog reference while they use a partition.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/cleaner_int.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

#define CLEANER_CKPT "cleaner-offset-checkpoint"
#define CLEANER_CKPT_TMP CLEANER_CKPT ".tmp"

enum {
	RETRY_AFTER_ERROR_MS = 60 * 1000,       /* a failed pass: leave the partition alone */
	RETRY_MAP_TOO_SMALL_MS = 10 * 60 * 1000,
	MIN_IO_BUFFER = 64 * 1024,
};

struct cleaner {
	pthread_mutex_t mu;         /* leaf; everything below */
	pthread_cond_t cond;        /* backoff and throttle sleeps (CLOCK_MONOTONIC) */
	atomic_bool stop;
	struct cleaner_config cc;
	bool started, loaded;
	pthread_t *threads;         /* owned, cc.threads of them when started */
	struct cleaner_ctx *ctxs;   /* owned, one per thread */
	size_t nthreads;
	struct ckpt_map dirty;      /* first dirty offset per log, as in the checkpoint */
	struct ckpt_map retry;      /* mono ms before which a log is not picked (after a
				     * failed or too-big pass) */
	struct plog **busy;         /* borrowed (the thread holds a ref); NULL slots free */
	size_t nbusy, busy_cap;
	struct cleaner_stats st;    /* sums of finished passes */
	pthread_mutex_t file_mu;    /* one checkpoint writer at a time; guards last */
	char *last;                 /* owned: text last written */
	struct logdir *ld;          /* borrowed: the owner */
};

/* ========================================================== entries */

/* The first dirty offset of a log, -1 when unknown (its start). cl->mu. */
static int64_t first_dirty_of(struct cleaner *cl, const char *topic, int32_t partition)
{
	struct ckpt_entry *e = ckpt_find(&cl->dirty, topic, partition);
	return e != NULL ? e->offset : -1;
}

/* ======================================================= checkpoint */

/* Reads the checkpoint once (cl->mu). A bad file is a warning: every
 * partition is then dirty from its start, which costs one extra pass. */
static void cleaner_ckpt_load(struct cleaner *cl)
{
	int bad = 0;
	int rc = ckpt_load(&cl->dirty, cl->ld->dirfd, CLEANER_CKPT, &bad);
	if (rc == CKPT_UNREADABLE || rc == CKPT_MALFORMED)
		log_warn("log", "%s/%s: %s %d; compacted partitions are cleaned from their start",
			 cl->ld->path, CLEANER_CKPT, rc == CKPT_UNREADABLE ? "unreadable" : "malformed at line",
			 bad);
}

static void ckpt_write(struct cleaner *cl)
{
	size_t len = 0;
	pthread_mutex_lock(&cl->file_mu);
	pthread_mutex_lock(&cl->mu);
	char *text = ckpt_format(&cl->dirty, &len);
	pthread_mutex_unlock(&cl->mu);
	if (text != NULL && (cl->last == NULL || strcmp(text, cl->last) != 0)) {
		if (logdir__write_durably(cl->ld, CLEANER_CKPT, CLEANER_CKPT_TMP, text, len) == 0) {
			free(cl->last);
			cl->last = text;
			text = NULL;
		} else {
			log_error("log", "%s/%s: cannot write: %s", cl->ld->path, CLEANER_CKPT,
				  strerror(errno));
		}
	}
	pthread_mutex_unlock(&cl->file_mu);
	free(text);
}

/* ========================================================== the state */

static struct cleaner *cleaner_new(struct logdir *ld)
{
	struct cleaner *cl = calloc(1, sizeof *cl);
	if (cl == NULL)
		return NULL;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cl->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&cl->mu, NULL);
	pthread_mutex_init(&cl->file_mu, NULL);
	atomic_init(&cl->stop, false);
	cl->st.last_pass_ms = -1;
	cl->ld = ld;
	return cl;
}

/* ld's cleaner state, created and loaded on first use. NULL on OOM. */
static struct cleaner *cleaner_get(struct logdir *ld)
{
	pthread_mutex_lock(&ld->mu);
	if (ld->cleaner == NULL)
		ld->cleaner = cleaner_new(ld);
	struct cleaner *cl = ld->cleaner;
	pthread_mutex_unlock(&ld->mu);
	if (cl != NULL) {
		pthread_mutex_lock(&cl->mu);
		if (!cl->loaded)
			cleaner_ckpt_load(cl);
		cl->loaded = true;
		pthread_mutex_unlock(&cl->mu);
	}
	return cl;
}

/* ld's cleaner state if it exists (no creation). */
static struct cleaner *cleaner_peek(struct logdir *ld)
{
	pthread_mutex_lock(&ld->mu);
	struct cleaner *cl = ld->cleaner;
	pthread_mutex_unlock(&ld->mu);
	return cl;
}

/* Marks pl busy (cl->mu). false when another thread has it, or OOM. */
static bool busy_take(struct cleaner *cl, struct plog *pl)
{
	size_t free_slot = cl->nbusy;
	for (size_t i = 0; i < cl->nbusy; i++) {
		if (cl->busy[i] == pl)
			return false;
		if (cl->busy[i] == NULL)
			free_slot = i;
	}
	if (free_slot == cl->nbusy) {
		if (cl->nbusy == cl->busy_cap) {
			size_t cap = cl->busy_cap ? cl->busy_cap * 2 : 8;
			struct plog **v = realloc(cl->busy, cap * sizeof *v);
			if (v == NULL)
				return false;
			cl->busy = v;
			cl->busy_cap = cap;
		}
		cl->nbusy++;
	}
	cl->busy[free_slot] = pl;
	return true;
}

static void busy_drop(struct cleaner *cl, struct plog *pl)
{
	pthread_mutex_lock(&cl->mu);
	for (size_t i = 0; i < cl->nbusy; i++)
		if (cl->busy[i] == pl)
			cl->busy[i] = NULL;
	pthread_mutex_unlock(&cl->mu);
}

/* =========================================================== cleaning */

static void stats_add(struct cleaner_stats *to, const struct cleaner_stats *a,
		      const struct cleaner_stats *b)
{
	to->passes += a->passes - b->passes;
	to->bytes_read += a->bytes_read - b->bytes_read;
	to->bytes_written += a->bytes_written - b->bytes_written;
	to->records_removed += a->records_removed - b->records_removed;
	if (a->last_pass_ms > to->last_pass_ms)
		to->last_pass_ms = a->last_pass_ms;
}

/* One pass over pl (busy, referenced by the caller); records its outcome
 * in the entry and the checkpoint. Returns a CPASS_* code. */
static int cleaner_once(struct cleaner *cl, struct plog *pl, struct cleaner_ctx *cx, int64_t now_ms)
{
	pthread_mutex_lock(&cl->mu);
	int64_t first_dirty = first_dirty_of(cl, pl->topic, pl->partition);
	pthread_mutex_unlock(&cl->mu);
	struct cleaner_stats before = cx->st;
	int64_t next = -1;
	int rc = CPASS_ERROR;
	/* The pass's files are made under pl->dirfd (cleaner_swap.c). */
	if (plog__dir_get(pl) >= 0) {
		rc = cpass_run(pl, cx, now_ms, first_dirty, &next);
		plog__dir_put(pl);
	}
	pthread_mutex_lock(&cl->mu);
	stats_add(&cl->st, &cx->st, &before);
	/* Out of memory: the pass is redone from the old first dirty offset,
	 * or the log is retried at once; both are only extra work. */
	if (rc == CPASS_DONE)
		(void)ckpt_set(&cl->dirty, pl->topic, pl->partition, next);
	else if (rc == CPASS_ERROR || rc == CPASS_MAP_TOO_SMALL)
		(void)ckpt_set(&cl->retry, pl->topic, pl->partition, clock_mono_ms() +
			       (rc == CPASS_ERROR ? RETRY_AFTER_ERROR_MS : RETRY_MAP_TOO_SMALL_MS));
	pthread_mutex_unlock(&cl->mu);
	if (rc == CPASS_DONE)
		ckpt_write(cl);
	return rc;
}

int cleaner__clean(struct plog *pl, int64_t now_ms, size_t map_bytes)
{
	struct cleaner *cl = cleaner_get(pl->ld);
	if (cl == NULL)
		return -1;
	pthread_mutex_lock(&cl->mu);
	bool mine = busy_take(cl, pl);
	pthread_mutex_unlock(&cl->mu);
	if (!mine)
		return 1;
	struct cleaner_ctx cx = { .map_bytes = map_bytes, .io_buffer = 512 * 1024 };
	int rc = cleaner_once(cl, pl, &cx, now_ms);
	busy_drop(cl, pl);
	return rc == CPASS_DONE ? 0 : rc == CPASS_NOTHING ? 1 : rc == CPASS_MAP_TOO_SMALL ? 2 : -1;
}

int64_t cleaner__first_dirty(struct logdir *ld, const char *topic, int32_t partition)
{
	struct cleaner *cl = cleaner_get(ld);
	if (cl == NULL)
		return -1;
	pthread_mutex_lock(&cl->mu);
	int64_t v = first_dirty_of(cl, topic, partition);
	pthread_mutex_unlock(&cl->mu);
	return v;
}

/* ============================================================ choosing */

/* Whether the first batch of segment i is older than max.compaction.lag.ms. */
static bool cleaner_overdue(struct plog *pl, size_t i, int64_t now_ms, int64_t lag)
{
	if (lag <= 0 || lag >= INT64_MAX / 2)
		return false;
	pthread_mutex_lock(&pl->mu);
	struct segment *seg = i < pl->nsegs ? pl->segs[i] : NULL;
	uint64_t size = seg != NULL ? seg->size : 0;
	if (seg != NULL)
		fileref_ref(&seg->ref);
	pthread_mutex_unlock(&pl->mu);
	if (seg == NULL)
		return false;
	struct segment_reader r;
	struct batch_hdr h;
	segment_reader_init(&r, seg, size, BATCH_HEADER_SIZE);
	bool overdue = segment_reader_header(&r, 0, &h) == 1 && h.max_timestamp >= 0 &&
		       h.max_timestamp < now_ms - lag;
	segment_reader_fini(&r);
	segment_unref(seg);
	return overdue;
}

/* How much pl needs cleaning: < 0 not due, else its dirty ratio (+1 when
 * overdue, so those come first). */
static double cleaner_need(struct cleaner *cl, struct plog *pl, int64_t now_ms)
{
	struct plog_config cfg;
	plog_get_config(pl, &cfg);
	if (!cfg.cleanup_compact)
		return -1;
	int64_t mono = clock_mono_ms(), first_dirty = -1, end, clean, dirty;
	size_t fds;
	pthread_mutex_lock(&cl->mu);
	struct ckpt_entry *r = ckpt_find(&cl->retry, pl->topic, pl->partition);
	bool skip = r != NULL && r->offset > mono;
	for (size_t i = 0; i < cl->nbusy && !skip; i++)
		skip = cl->busy[i] == pl;
	first_dirty = first_dirty_of(cl, pl->topic, pl->partition);
	pthread_mutex_unlock(&cl->mu);
	if (skip)
		return -1;
	pthread_mutex_lock(&pl->mu);
	bool closed = pl->closed;
	if (!closed)
		cpass_measure(pl, now_ms, &first_dirty, &end, &clean, &dirty, &fds);
	pthread_mutex_unlock(&pl->mu);
	if (closed || dirty <= 0)
		return -1;
	double ratio = (double)dirty / (double)(clean + dirty);
	if (cleaner_overdue(pl, fds, now_ms, cfg.max_compaction_lag_ms))
		return ratio + 1;
	return ratio >= cfg.min_cleanable_dirty_ratio ? ratio : -1;
}

/* The partition to clean now, referenced and marked busy; NULL when none. */
static struct plog *cleaner_pick(struct logdir *ld, struct cleaner *cl, int64_t now_ms)
{
	pthread_mutex_lock(&ld->mu);
	size_t n = ld->nparts;
	struct plog **v = malloc((n ? n : 1) * sizeof *v);
	for (size_t i = 0; v != NULL && i < n; i++) {
		v[i] = ld->parts[i];
		plog__ref(v[i]);
	}
	pthread_mutex_unlock(&ld->mu);
	if (v == NULL)
		return NULL;
	struct plog *best = NULL;
	double best_need = -1;
	for (size_t i = 0; i < n && !atomic_load(&cl->stop); i++) {
		double need = cleaner_need(cl, v[i], now_ms);
		if (need >= 0 && need > best_need) {
			best = v[i];
			best_need = need;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (v[i] != best)
			plog__unref(v[i]);
	free(v);
	if (best == NULL)
		return NULL;
	pthread_mutex_lock(&cl->mu);
	bool mine = busy_take(cl, best);
	pthread_mutex_unlock(&cl->mu);
	if (!mine) {
		plog__unref(best);
		return NULL;
	}
	return best;
}

/* ============================================================= threads */

static void cleaner_sleep(struct cleaner *cl, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t ns = (int64_t)ts.tv_nsec + ms * 1000000LL;
	ts.tv_sec += (time_t)(ns / 1000000000LL);
	ts.tv_nsec = (long)(ns % 1000000000LL);
	pthread_mutex_lock(&cl->mu);
	if (!atomic_load(&cl->stop))
		pthread_cond_timedwait(&cl->cond, &cl->mu, &ts);
	pthread_mutex_unlock(&cl->mu);
}

struct cleaner_arg {
	struct cleaner *cl;
	struct cleaner_ctx *cx;
};

static void *cleaner_main(void *arg)
{
	struct cleaner *cl = ((struct cleaner_arg *)arg)->cl;
	struct cleaner_ctx *cx = ((struct cleaner_arg *)arg)->cx;
	free(arg);
	int64_t backoff = cl->cc.backoff_ms > 0 ? cl->cc.backoff_ms : 15000;
	while (!atomic_load(&cl->stop)) {
		struct plog *pl = cleaner_pick(cl->ld, cl, clock_wall_ms());
		if (pl == NULL) {
			cleaner_sleep(cl, backoff);
			continue;
		}
		cleaner_once(cl, pl, cx, clock_wall_ms());
		busy_drop(cl, pl);
		plog__unref(pl);
	}
	return NULL;
}

/* Sets up the per-thread contexts (before any thread runs). */
static int cleaner_contexts(struct cleaner *cl, const struct cleaner_config *cc)
{
	size_t n = cc->threads > 0 ? (size_t)cc->threads : 1;
	cl->threads = calloc(n, sizeof *cl->threads);
	cl->ctxs = calloc(n, sizeof *cl->ctxs);
	if (cl->threads == NULL || cl->ctxs == NULL)
		return -1;
	int64_t per = cc->dedupe_buffer_size > 0 ? cc->dedupe_buffer_size / (int64_t)n : 128 << 20;
	for (size_t i = 0; i < n; i++) {
		struct cleaner_ctx *cx = &cl->ctxs[i];
		cx->stop = &cl->stop;
		cx->rate = cc->io_max_bytes_per_second;
		cx->sleep_mu = &cl->mu;
		cx->sleep_cond = &cl->cond;
		cx->map_bytes = (size_t)(per > 4096 ? per : 4096);
		cx->io_buffer = cc->io_buffer_size > MIN_IO_BUFFER ? (size_t)cc->io_buffer_size : MIN_IO_BUFFER;
		cx->st.last_pass_ms = -1;
	}
	return 0;
}

int logdir_start_cleaner(struct logdir *ld, const struct cleaner_config *cc)
{
	if (!cc->enable)
		return 0;
	struct cleaner *cl = cleaner_get(ld);
	if (cl == NULL || cl->started) {
		errno = cl == NULL ? ENOMEM : EALREADY;
		return -1;
	}
	cl->cc = *cc;
	if (cleaner_contexts(cl, cc) != 0) {
		errno = ENOMEM;
		return -1;
	}
	size_t want = cc->threads > 0 ? (size_t)cc->threads : 1;
	for (size_t i = 0; i < want; i++) {
		struct cleaner_arg *a = malloc(sizeof *a);
		int e = a == NULL ? ENOMEM : 0;
		if (a != NULL) {
			*a = (struct cleaner_arg){ cl, &cl->ctxs[i] };
			e = pthread_create(&cl->threads[i], NULL, cleaner_main, a);
		}
		if (e != 0) {
			free(a);
			cl->started = cl->nthreads > 0;
			cleaner__stop(ld);
			errno = e;
			return -1;
		}
		cl->nthreads++;
	}
	cl->started = true;
	log_info("log", "log cleaner running: %zu thread(s), %lld-byte offset map each", cl->nthreads,
		 (long long)cl->ctxs[0].map_bytes);
	return 0;
}

void cleaner__stop(struct logdir *ld)
{
	struct cleaner *cl = cleaner_peek(ld);
	if (cl == NULL || !cl->started)
		return;
	pthread_mutex_lock(&cl->mu);
	atomic_store(&cl->stop, true);
	pthread_cond_broadcast(&cl->cond);
	pthread_mutex_unlock(&cl->mu);
	for (size_t i = 0; i < cl->nthreads; i++)
		pthread_join(cl->threads[i], NULL);
	cl->nthreads = 0;
	cl->started = false;
}

void cleaner__free(struct logdir *ld)
{
	struct cleaner *cl = ld->cleaner;
	if (cl == NULL)
		return;
	cleaner__stop(ld);
	ckpt_clear(&cl->dirty);
	ckpt_clear(&cl->retry);
	free(cl->busy);
	free(cl->threads);
	free(cl->ctxs);
	free(cl->last);
	pthread_mutex_destroy(&cl->mu);
	pthread_mutex_destroy(&cl->file_mu);
	pthread_cond_destroy(&cl->cond);
	free(cl);
	ld->cleaner = NULL;
}

void cleaner__forget(struct logdir *ld, const char *topic, int32_t partition)
{
	struct cleaner *cl = cleaner_peek(ld);
	if (cl == NULL)
		return;
	pthread_mutex_lock(&cl->mu);
	bool had = first_dirty_of(cl, topic, partition) >= 0;
	ckpt_remove(&cl->dirty, topic, partition);
	ckpt_remove(&cl->retry, topic, partition);
	pthread_mutex_unlock(&cl->mu);
	if (had)
		ckpt_write(cl);
}

void logdir_cleaner_stats(struct logdir *ld, struct cleaner_stats *out)
{
	memset(out, 0, sizeof *out);
	out->last_pass_ms = -1;
	struct cleaner *cl = cleaner_peek(ld);
	if (cl == NULL)
		return;
	pthread_mutex_lock(&cl->mu);
	*out = cl->st;
	pthread_mutex_unlock(&cl->mu);
}
