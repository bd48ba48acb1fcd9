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

enum { LSO_MAX_TOPIC = 249, LSO_MAX_BYTES = 64 << 20 };

/* ================================================================== map */

static struct ckpt_entry *lso_find(struct logdir *ld, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < ld->lso.n; i++)
		if (ld->lso.v[i].partition == partition && strcmp(ld->lso.v[i].topic, topic) == 0)
			return &ld->lso.v[i];
	return NULL;
}

/* ld->mu (or single-threaded). Returns 0 or -1 when out of memory. */
static int lso_set(struct logdir *ld, const char *topic, int32_t partition, int64_t offset)
{
	struct ckpt_entry *e = lso_find(ld, topic, partition);
	if (e != NULL) {
		e->offset = offset;
		return 0;
	}
	if (ld->lso.n == ld->lso.cap) {
		size_t cap = ld->lso.cap ? ld->lso.cap * 2 : 8;
		struct ckpt_entry *v = realloc(ld->lso.v, cap * sizeof *v);
		if (v == NULL)
			return -1;
		ld->lso.v = v;
		ld->lso.cap = cap;
	}
	char *t = strdup(topic);
	if (t == NULL)
		return -1;
	ld->lso.v[ld->lso.n++] = (struct ckpt_entry){ t, partition, offset };
	return 0;
}

static void lso_remove(struct logdir *ld, const char *topic, int32_t partition)
{
	struct ckpt_entry *e = lso_find(ld, topic, partition);
	if (e == NULL)
		return;
	free(e->topic);
	*e = ld->lso.v[--ld->lso.n];
}

void start_offset__fini(struct logdir *ld)
{
	for (size_t i = 0; i < ld->lso.n; i++)
		free(ld->lso.v[i].topic);
	free(ld->lso.v);
	free(ld->lso.last);
	ld->lso.v = NULL;
	ld->lso.n = ld->lso.cap = 0;
	ld->lso.last = NULL;
}

/* ================================================================= file */

/* The map as the file's text (ld->mu held). malloc'd, or NULL. */
static char *lso_format(struct logdir *ld)
{
	size_t cap = 32;
	for (size_t i = 0; i < ld->lso.n; i++)
		cap += strlen(ld->lso.v[i].topic) + 40;
	char *out = malloc(cap);
	if (out == NULL)
		return NULL;
	size_t n = (size_t)snprintf(out, cap, "0\n%zu\n", ld->lso.n);
	for (size_t i = 0; i < ld->lso.n; i++)
		n += (size_t)snprintf(out + n, cap - n, "%s %d %lld\n", ld->lso.v[i].topic,
				      ld->lso.v[i].partition, (long long)ld->lso.v[i].offset);
	return out;
}

/* Parses the file's text into the map. Returns 0 or the bad line number. */
static int lso_parse(struct logdir *ld, char *text)
{
	char *save = NULL, *line = strtok_r(text, "\n", &save);
	long long version = -1, count = -1;
	if (line == NULL || sscanf(line, "%lld", &version) != 1 || version != 0)
		return 1;
	if ((line = strtok_r(NULL, "\n", &save)) == NULL || sscanf(line, "%lld", &count) != 1 ||
	    count < 0)
		return 2;
	for (long long i = 0; i < count; i++) {
		char topic[LSO_MAX_TOPIC + 2], extra;
		long long part, off;
		line = strtok_r(NULL, "\n", &save);
		if (line == NULL || strlen(line) > LSO_MAX_TOPIC + 48 ||
		    sscanf(line, "%250s %lld %lld %c", topic, &part, &off, &extra) != 3 ||
		    strlen(topic) > LSO_MAX_TOPIC || part < 0 || part > INT32_MAX || off < 0 ||
		    lso_set(ld, topic, (int32_t)part, off) != 0)
			return (int)(i + 3);
	}
	return strtok_r(NULL, "\n", &save) == NULL ? 0 : (int)(count + 3);
}

/* Reads the whole file into a NUL-terminated malloc'd string. NULL with
 * errno (ENOENT: no file). */
static char *lso_slurp(struct logdir *ld)
{
	int fd = openat(ld->dirfd, LSO_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st = { 0 };
	char *text = NULL;
	ssize_t got = -1;
	if (fstat(fd, &st) == 0 && st.st_size < LSO_MAX_BYTES &&
	    (text = malloc((size_t)st.st_size + 1)) != NULL)
		got = pread(fd, text, (size_t)st.st_size, 0);
	close(fd);
	if (text == NULL || got != st.st_size || memchr(text, '\0', (size_t)got) != NULL) {
		free(text);
		errno = EIO;
		return NULL;
	}
	text[got] = '\0';
	return text;
}

void logdir__start_offsets_load(struct logdir *ld)
{
	unlinkat(ld->dirfd, LSO_TMP, 0);
	char *text = lso_slurp(ld);
	if (text == NULL && errno != ENOENT)
		log_warn("log", "%s/%s: unreadable; log start offsets fall back to the first segments",
			 ld->path, LSO_FILE);
	int bad = text != NULL ? lso_parse(ld, text) : 0;
	if (bad != 0) {
		start_offset__fini(ld);
		log_warn("log", "%s/%s: malformed at line %d; log start offsets fall back to the first "
			 "segments", ld->path, LSO_FILE, bad);
	}
	/* What the file says now: a write of the same text is skipped. */
	ld->lso.last = text != NULL && bad == 0 ? lso_format(ld) : NULL;
	free(text);
}

/* Writes the map to the file unless it says that already. lso.mu held.
 * Returns 0 or -1 (errno, logged). */
static int lso_write_locked(struct logdir *ld)
{
	pthread_mutex_lock(&ld->mu);
	char *text = lso_format(ld);
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

/* Empties the log and starts it again at `start` (Kafka's LogLoader does
 * this when the checkpointed start lies past the recovered log end).
 * Before the plog is shared. */
static int start_offset_restart(struct plog *pl, int64_t start)
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
	log_info("log", "%s: log start offset %lld (from %s)", pl->name, (long long)ck, LSO_FILE);
	return KAFKA_NONE;
}

void logdir__start_offset_forget(struct logdir *ld, const char *topic, int32_t partition)
{
	pthread_mutex_lock(&ld->lso.mu);
	pthread_mutex_lock(&ld->mu);
	lso_remove(ld, topic, partition);
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
		lso_remove(ld, pl->topic, pl->partition);
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
	int rc = lso_set(ld, pl->topic, pl->partition, start);
	pthread_mutex_unlock(&ld->mu);
	if (rc == 0)
		rc = lso_write_locked(ld);
	if (rc != 0) {
		/* Not acknowledged: the next write must not persist it either. */
		pthread_mutex_lock(&ld->mu);
		if (old >= 0)
			lso_set(ld, pl->topic, pl->partition, old);
		else
			lso_remove(ld, pl->topic, pl->partition);
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
