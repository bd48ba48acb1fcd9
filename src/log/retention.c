/*
 * retention.c — deleting old data: time and size retention, segments
 * below the log start offset, the asynchronous removal of deleted segment
 * files, and the janitor thread that runs both (plog.h has the contract;
 * the log start offset checkpoint and DeleteRecords are in start_offset.c).
 *
 * A deleted segment goes through three states (Kafka's, file names too):
 *
 *   live: 00000000000000000042.log  --logdir__delete_segment_later-->
 *   trash: 00000000000000000042.log.deleted (+ .index/.timeindex.deleted),
 *          queued with due = now + file.delete.delay.ms
 *          --logdir__reap_segments (janitor, once due)-->  unlinked
 *
 * The rename happens before the caller answers anyone, and is made durable
 * (dir fsync), so a restart never brings a deleted segment back; recovery
 * removes ".deleted" leftovers of a crash or stop (recovery.c step 1).
 * Readers that hold a fileref keep reading the open file whatever happens
 * to its name (segment.c invariant 3), so the delay is only Kafka's grace
 * period for tools looking at the directory.
 *
 * Retention rules (Kafka's UnifiedLog.deleteOldSegments), over the head of
 * the segment list, never the active (last) segment, stopping at the first
 * segment no rule deletes:
 *  - log start offset: the whole segment lies below the log start offset
 *    (next segment's base <= start) — DeleteRecords moved the start;
 *  - retention.ms (cleanup.policy contains delete, retention.ms >= 0):
 *    now - largest timestamp > retention.ms. The largest timestamp is the
 *    segment's largest batch MaxTimestamp; a segment whose batches carry no
 *    timestamp (all -1) uses its .log file's mtime, as Kafka does;
 *  - retention.bytes (delete policy, retention.bytes >= 0): while the log
 *    size minus the segment is still >= retention.bytes.
 * After a pass the log start offset is at least the new first segment's
 * base (it never moves back).
 *
 * Producer state (idempotence, src/txn/pstate.h) follows the log: every
 * pass drops producers whose retained batches all lie below the log start
 * (pstate_truncate_head) and, by policy passes, producers idle longer than
 * producer.id.expiration.ms (pstate_expire; Kafka checks every
 * producer.id.expiration.check.interval.ms, here every retention check);
 * removed segments take the snapshots below them along (psnap_prune). The
 * janitor also writes the snapshots that rolls queued (psnap.c), woken by
 * the roll (logdir__snapshot_wanted) and again at each pass.
 *
 * Not done (Kafka 3.x does): rolling an expired, non-empty active segment
 * so that it can be deleted too. Here the active segment always stays, so
 * a quiet partition keeps its last segment until it rolls (segment.ms).
 *
 * Threads: any thread. Segment list edits happen under plog.mu; renames,
 * fsyncs and unlinks without it. The trash queue is under logdir.mu (a
 * leaf: no plog lock is taken while holding it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log/log_int.h"
#include "txn/pstate.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

enum { DEFAULT_CHECK_INTERVAL_MS = 300000 };

/* .txnindex last: it has no open fd to compare (logdir__delete_segment_later). */
static const char *const seg_exts[] = { ".log", ".index", ".timeindex", ".txnindex" };

/* ================================================================ trash */

/* Renames <base><ext> to <base><ext>.deleted if that name still refers to
 * the file fd has open (fd < 0: whatever is there): a cleaner may already
 * have swapped a replacement in under the same name, which must stay.
 * Returns 0 (also when the name is gone) or an errno value. */
static int trash_rename(int dirfd, int64_t base, const char *ext, int fd)
{
	char from[64], to[80];
	struct stat named, open_st;
	segment_name(from, sizeof from, base, ext);
	snprintf(to, sizeof to, "%s.deleted", from);
	if (fstatat(dirfd, from, &named, 0) != 0)
		return errno == ENOENT ? 0 : errno;
	if (fd >= 0 && (fstat(fd, &open_st) != 0 || open_st.st_ino != named.st_ino ||
			open_st.st_dev != named.st_dev))
		return 0;
	return renameat(dirfd, from, dirfd, to) == 0 ? 0 : errno;
}

/* Unlinks the "<base><ext>.deleted" files (ENOENT ignored). */
static void trash_unlink(struct plog *pl, int64_t base)
{
	if (plog__dir_get(pl) < 0) {
		if (errno != ENOENT)  /* gone: the partition was deleted, its files with it */
			log_warn("log", "%s: cannot open %s to remove deleted segment %020lld: %s",
				 pl->name, pl->dir, (long long)base, strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof seg_exts / sizeof *seg_exts; i++) {
		char name[80];
		segment_name(name, sizeof name, base, seg_exts[i]);
		strcat(name, ".deleted");
		if (unlinkat(pl->dirfd, name, 0) != 0 && errno != ENOENT)
			log_warn("log", "%s: cannot remove %s: %s", pl->name, name, strerror(errno));
	}
	plog__dir_put(pl);
	log_debug("log", "%s: removed the files of deleted segment %020lld", pl->name, (long long)base);
}

/* Queues the entry (ld->mu held). false when out of memory. */
static bool trash_push(struct logdir *ld, struct plog *pl, int64_t base, int64_t due_ms)
{
	struct janitor *j = &ld->jan;
	if (j->ntrash == j->trash_cap) {
		size_t cap = j->trash_cap ? j->trash_cap * 2 : 16;
		struct trash_entry *v = realloc(j->trash, cap * sizeof *v);
		if (v == NULL)
			return false;
		j->trash = v;
		j->trash_cap = cap;
	}
	plog__ref(pl);
	j->trash[j->ntrash++] = (struct trash_entry){ pl, base, due_ms };
	j->kick = true;
	pthread_cond_signal(&j->cond);
	return true;
}

void logdir__delete_segment_later(struct logdir *ld, struct plog *pl, struct segment *seg,
				  int64_t delay_ms)
{
	int64_t base = seg->base_offset;
	/* Only the .log is held open: the other files are this segment's only
	 * while the .log name is (a cleaner's swap may have put a
	 * replacement's there). */
	char lname[64];
	struct stat named, open_st;
	segment_name(lname, sizeof lname, base, ".log");
	int e = plog__dir_get(pl) < 0 ? errno : 0;
	if (e == 0) {
		bool own = fstatat(pl->dirfd, lname, &named, 0) == 0 &&
			   fstat(seg->ref.fd, &open_st) == 0 && named.st_ino == open_st.st_ino &&
			   named.st_dev == open_st.st_dev;
		e = trash_rename(pl->dirfd, base, seg_exts[0], seg->ref.fd);
		for (size_t i = 1; i < 4 && e == 0 && own; i++)
			e = trash_rename(pl->dirfd, base, seg_exts[i], -1);
		if (e == 0)
			e = plog__sync_dir(pl->dirfd);
		plog__dir_put(pl);
	}
	/* The plog's reference goes; readers holding slices keep theirs. */
	segment_unref(seg);
	if (e != 0) {
		char name[64];
		segment_name(name, sizeof name, base, ".log");
		plog__fail(pl, "rename to .deleted of", name, e);
		return;
	}
	bool queued = false;
	if (ld != NULL) {
		pthread_mutex_lock(&ld->mu);
		queued = trash_push(ld, pl, base, clock_mono_ms() + (delay_ms > 0 ? delay_ms : 0));
		pthread_mutex_unlock(&ld->mu);
	}
	if (!queued)
		trash_unlink(pl, base);  /* no queue (out of memory): now rather than never */
}

int64_t logdir__reap_segments(struct logdir *ld, int64_t now_ms)
{
	struct janitor *j = &ld->jan;
	int64_t next = INT64_MAX;
	pthread_mutex_lock(&ld->mu);
	struct trash_entry *due = j->ntrash > 0 ? malloc(j->ntrash * sizeof *due) : NULL;
	size_t ndue = 0, keep = 0;
	for (size_t i = 0; i < j->ntrash; i++) {
		if (due != NULL && j->trash[i].due_ms <= now_ms) {
			due[ndue++] = j->trash[i];
			continue;
		}
		if (j->trash[i].due_ms < next)
			next = j->trash[i].due_ms;
		j->trash[keep++] = j->trash[i];
	}
	j->ntrash = keep;
	pthread_mutex_unlock(&ld->mu);
	for (size_t i = 0; i < ndue; i++) {
		trash_unlink(due[i].pl, due[i].base_offset);
		plog__unref(due[i].pl);
	}
	free(due);
	return next;
}

/* ============================================================ retention */

/* Kafka's LogSegment.largestTimestamp: the largest batch timestamp, or
 * the file's mtime when no batch carried one. INT64_MAX (keep) when even
 * that is unknown. */
static int64_t segment_largest_ts(const struct segment *seg)
{
	struct stat st;
	if (seg->max_ts >= 0)
		return seg->max_ts;
	if (fstat(seg->ref.fd, &st) != 0)
		return INT64_MAX;
	return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

/* Under mu: the number of head segments the rules delete (file comment);
 * *why names the rule that took the last one. by_policy false: only the
 * log start offset rule (DeleteRecords). */
static size_t retention_plan(struct plog *pl, int64_t now_ms, bool by_policy, const char **why)
{
	const struct plog_config *c = &pl->cfg;
	int64_t start = atomic_load(&pl->start);
	bool del = by_policy && c->cleanup_delete;
	int64_t over = del && c->retention_bytes >= 0
		? atomic_load(&pl->size_bytes) - c->retention_bytes : -1;
	size_t k = 0;
	for (; k + 1 < pl->nsegs; k++) {
		const struct segment *seg = pl->segs[k];
		if (pl->segs[k + 1]->base_offset <= start)
			*why = "below the log start offset";
		else if (del && c->retention_ms >= 0 && now_ms - segment_largest_ts(seg) > c->retention_ms)
			*why = "retention.ms";
		else if (del && over >= 0 && over - (int64_t)seg->size >= 0)
			*why = "retention.bytes";
		else
			break;
		over -= (int64_t)seg->size;
	}
	return k;
}

/* Under mu: takes the first k segments out of the list (the caller gets
 * their references) and moves the log start offset up to the new first
 * segment's base. */
static void retention_take(struct plog *pl, size_t k, struct segment **out)
{
	int64_t bytes = 0;
	for (size_t i = 0; i < k; i++) {
		out[i] = pl->segs[i];
		bytes += (int64_t)pl->segs[i]->size;
	}
	memmove(pl->segs, pl->segs + k, (pl->nsegs - k) * sizeof *pl->segs);
	pl->nsegs -= k;
	atomic_fetch_sub(&pl->size_bytes, bytes);
	int64_t base = pl->segs[0]->base_offset;
	if (atomic_load(&pl->start) < base)
		atomic_store(&pl->start, base);
}

/* Under mu, after the segments were taken: the producer state forgets
 * producers wholly below the log start and, by policy, idle ones
 * (producer.id.expiration.ms; <= 0 means not configured: none expire). */
static void retention_producers(struct plog *pl, int64_t now_ms, bool by_policy)
{
	size_t gone = pstate_truncate_head(pl->ps, atomic_load(&pl->start));
	txnlog__truncate_head(pl, atomic_load(&pl->start));  /* aborted entries below it */
	if (by_policy && pl->cfg.producer_id_expiration_ms > 0)
		gone += pstate_expire(pl->ps, now_ms, pl->cfg.producer_id_expiration_ms);
	if (gone > 0)
		log_info("log", "%s: forgot %zu producer id(s) (log start %lld, expiration %lld ms)",
			 pl->name, gone, (long long)atomic_load(&pl->start),
			 (long long)pl->cfg.producer_id_expiration_ms);
}

/* One pass (plog_retention_run; by_policy false: DeleteRecords' removal of
 * the segments below the new start). Returns segments removed or -1. */
int retention__pass(struct plog *pl, int64_t now_ms, bool by_policy)
{
	const char *why = "";
	pthread_mutex_lock(&pl->mu);
	if (pl->closed || atomic_load(&pl->err) != KAFKA_NONE) {
		pthread_mutex_unlock(&pl->mu);
		return pl->closed ? 0 : -1;
	}
	size_t k = retention_plan(pl, now_ms, by_policy, &why);
	struct segment **gone = k > 0 ? malloc(k * sizeof *gone) : NULL;
	if (gone != NULL)
		retention_take(pl, k, gone);
	retention_producers(pl, now_ms, by_policy);
	if (gone == NULL) {
		pthread_mutex_unlock(&pl->mu);
		return 0;  /* nothing to do, or out of memory: the next pass retries */
	}
	int64_t delay = pl->cfg.file_delete_delay_ms;
	int64_t first = pl->segs[0]->base_offset;
	pthread_mutex_unlock(&pl->mu);

	log_info("log", "%s: deleting %zu segment(s) %020lld..%020lld (%s); log start offset %lld",
		 pl->name, k, (long long)gone[0]->base_offset, (long long)gone[k - 1]->base_offset, why,
		 (long long)plog_start_offset(pl));
	for (size_t i = 0; i < k; i++)
		logdir__delete_segment_later(pl->ld, pl, gone[i], delay);
	free(gone);
	psnap_prune(pl, first);
	if (pl->ld != NULL)
		start_offset__settle(pl->ld, pl, first);
	return atomic_load(&pl->err) == KAFKA_NONE ? (int)k : -1;
}

int plog_retention_run(struct plog *pl, int64_t now_ms)
{
	return retention__pass(pl, now_ms, true);
}

/* =============================================================== janitor */

void logdir__checkpoint_soon(struct logdir *ld)
{
	pthread_mutex_lock(&ld->mu);
	bool started = ld->jan.started && !ld->jan.stop;
	if (started) {
		ld->jan.ckpt_kick = true;
		pthread_cond_signal(&ld->jan.cond);
	}
	pthread_mutex_unlock(&ld->mu);
	if (!started)
		logdir_checkpoint(ld);  /* no janitor (tests, start-up): here */
}

void logdir__snapshot_wanted(struct logdir *ld)
{
	pthread_mutex_lock(&ld->mu);
	ld->jan.snap_kick = true;
	pthread_cond_signal(&ld->jan.cond);
	pthread_mutex_unlock(&ld->mu);
}

/* A retention pass over every open partition (refs taken under ld->mu,
 * the passes run without it), after writing the partition's pending
 * producer snapshot; retention false: only the snapshots. */
static void janitor_retention(struct logdir *ld, bool retention)
{
	pthread_mutex_lock(&ld->mu);
	size_t n = ld->nparts;
	struct plog **v = n > 0 ? malloc(n * sizeof *v) : NULL;
	if (v == NULL)
		n = 0;
	for (size_t i = 0; i < n; i++) {
		v[i] = ld->parts[i];
		plog__ref(v[i]);
	}
	pthread_mutex_unlock(&ld->mu);
	int64_t now = clock_wall_ms();
	for (size_t i = 0; i < n; i++) {
		psnap_write_pending(v[i]);
		if (retention)
			plog_retention_run(v[i], now);
		plog__unref(v[i]);
	}
	free(v);
}

/* Sleeps on the janitor's cond until mono ms `until`, a kick or stop.
 * ld->mu held. */
static void janitor_wait(struct logdir *ld, int64_t until)
{
	if (ld->jan.kick || ld->jan.snap_kick || ld->jan.ckpt_kick || ld->jan.stop)
		return;
	if (until == INT64_MAX)
		until = clock_mono_ms() + DEFAULT_CHECK_INTERVAL_MS;
	struct timespec ts = { .tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000 };
	pthread_cond_timedwait(&ld->jan.cond, &ld->mu, &ts);
}

static void *janitor_main(void *arg)
{
	struct logdir *ld = arg;
	int64_t next_run = clock_mono_ms() + ld->jan.interval_ms;
	pthread_mutex_lock(&ld->mu);
	while (!ld->jan.stop) {
		bool snaps = ld->jan.snap_kick, ckpt = ld->jan.ckpt_kick;
		ld->jan.kick = ld->jan.snap_kick = ld->jan.ckpt_kick = false;
		pthread_mutex_unlock(&ld->mu);
		if (ckpt)
			logdir_checkpoint(ld);
		if (clock_mono_ms() >= next_run) {
			janitor_retention(ld, true);
			next_run = clock_mono_ms() + ld->jan.interval_ms;
		} else if (snaps) {
			janitor_retention(ld, false);
		}
		int64_t next_trash = logdir__reap_segments(ld, clock_mono_ms());
		pthread_mutex_lock(&ld->mu);
		janitor_wait(ld, next_trash < next_run ? next_trash : next_run);
	}
	pthread_mutex_unlock(&ld->mu);
	return NULL;
}

int logdir_start_janitor(struct logdir *ld, int64_t check_interval_ms)
{
	if (ld->jan.started)
		return 0;
	ld->jan.interval_ms = check_interval_ms > 0 ? check_interval_ms : DEFAULT_CHECK_INTERVAL_MS;
	int e = pthread_create(&ld->jan.thread, NULL, janitor_main, ld);
	if (e != 0) {
		errno = e;
		return -1;
	}
	ld->jan.started = true;
	log_info("log", "%s: retention checks every %lld ms", ld->path, (long long)ld->jan.interval_ms);
	return 0;
}

void logdir__janitor_stop(struct logdir *ld)
{
	if (ld->jan.started) {
		pthread_mutex_lock(&ld->mu);
		ld->jan.stop = true;
		pthread_cond_signal(&ld->jan.cond);
		pthread_mutex_unlock(&ld->mu);
		pthread_join(ld->jan.thread, NULL);
		ld->jan.started = false;
	}
	logdir__reap_segments(ld, INT64_MAX);
}

void logdir__janitor_init(struct logdir *ld)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ld->jan.cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&ld->lso.mu, NULL);
}

void logdir__janitor_fini(struct logdir *ld)
{
	for (size_t i = 0; i < ld->jan.ntrash; i++)
		plog__unref(ld->jan.trash[i].pl);
	free(ld->jan.trash);
	pthread_cond_destroy(&ld->jan.cond);
	start_offset__fini(ld);
	pthread_mutex_destroy(&ld->lso.mu);
}
