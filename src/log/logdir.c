/*
 * logdir.c — the log directory: registry of open partitions, the
 * recovery-point checkpoint, the clean-shutdown marker, deletion of
 * partition dirs, and the flusher thread's lifetime (flusher.c).
 *
 * Files in <log.dirs> (Kafka's names and formats):
 *
 *   recovery-point-offset-checkpoint   text, written tmp + fsync + rename
 *                                      + fsync(dir):
 *       0                              version
 *       2                              number of entries
 *       orders 0 1234                  topic, partition, recovery point
 *       my-topic.v2 3 0
 *   .clean-shutdown                    empty; present only after a clean
 *                                      stop; removed (and the removal made
 *                                      durable) at open
 *   <topic>-<partition>/               a partition (plog.h). The name
 *                                      splits at the LAST '-': topic names
 *                                      may hold '-' and '.', partition
 *                                      numbers never do
 *   <topic>-<partition>.<hex>-delete/  a deleted partition, its files being
 *                                      removed in the background
 *
 * Invariants:
 *  1. A recovery point written to the checkpoint is a flushed offset: every
 *     byte below it was fsync'd before the checkpoint was written.
 *  2. The checkpoint on disk is always a complete file (rename is atomic;
 *     the tmp is fsync'd first, the dir after).
 *  3. .clean-shutdown exists only between a clean logdir_close (after every
 *     partition was flushed and sealed and the checkpoint written) and the
 *     next logdir_open, which removes it before any partition is opened.
 *  4. A partition dir is renamed to its "-delete" name (and the rename made
 *     durable) before its partition is closed, so a crash never brings a
 *     deleted partition back under its live name.
 *
 * State of a partition in the registry:
 *   absent --logdir_plog_open--> open --logdir_plog_close--> absent
 *   open --logdir_plog_delete--> renamed "-delete" --logdir__reap--> gone
 *
 * Threads: every function is safe from any thread (ld->mu guards the
 * registry, the checkpoint map and the deletion queue).
 */
#include <dirent.h>
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
#include "util/fileio.h"

#define CKPT_FILE "recovery-point-offset-checkpoint"
#define CKPT_TMP CKPT_FILE ".tmp"
#define CLEAN_FILE ".clean-shutdown"

enum { MAX_TOPIC_LEN = 249 };

/* ========================================================== names */

int logdir__parse_name(const char *name, char *topic, size_t topiclen, int32_t *partition)
{
	const char *dash = strrchr(name, '-');
	if (dash == NULL || dash == name || dash[1] == '\0' || (size_t)(dash - name) >= topiclen)
		return -1;
	int64_t p = 0;
	for (const char *c = dash + 1; *c; c++) {
		if (*c < '0' || *c > '9' || p > INT32_MAX / 10)
			return -1;
		p = p * 10 + (*c - '0');
	}
	if (p > INT32_MAX)
		return -1;
	memcpy(topic, name, (size_t)(dash - name));
	topic[dash - name] = '\0';
	*partition = (int32_t)p;
	return 0;
}

/* A topic name that is safe as a path component and in the checkpoint. */
static bool topic_ok(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > MAX_TOPIC_LEN || strcmp(t, ".") == 0 || strcmp(t, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (t[i] == '/' || t[i] == ' ' || t[i] == '\n' || t[i] == '\0')
			return false;
	return true;
}

/* ===================================================== checkpoint */

/* Reads the recovery-point checkpoint. A bad one is a warning and means
 * full recovery for every partition; a missing one too unless the dir
 * holds no partitions yet (logdir_scan). Returns false when the file is
 * missing. */
static bool ckpt_read(struct logdir *ld)
{
	int bad_line = 0;
	int rc = ckpt_load(&ld->ckpt, ld->dirfd, CKPT_FILE, &bad_line);
	if (rc == CKPT_UNREADABLE)
		log_warn("log", "%s/%s: unreadable (%s); every partition will be recovered in full",
			 ld->path, CKPT_FILE, strerror(errno));
	else if (rc == CKPT_MALFORMED)
		log_warn("log", "%s/%s: malformed at line %d; every partition will be recovered in full",
			 ld->path, CKPT_FILE, bad_line);
	return rc != CKPT_MISSING;
}

/* ld->mu (or single-threaded). Out of memory: the entry is left out, which
 * only means a full recovery of that partition next time. */
static void ckpt_note(struct logdir *ld, const struct plog *pl)
{
	if (ckpt_set(&ld->ckpt, pl->topic, pl->partition, plog_recovery_point(pl)) != 0)
		log_warn("log", "%s: out of memory noting its recovery point", pl->name);
}

/* Writes name durably: tmp, fsync, rename, fsync dir. 0 or -1 (errno). */
static int write_durably(struct logdir *ld, const char *name, const char *tmp, const char *p, size_t n)
{
	int fd = openat(ld->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (fio_write_all(fd, p, n) != 0 || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	if (renameat(ld->dirfd, tmp, ld->dirfd, name) != 0)
		return -1;
	int e = plog__sync_dir(ld->dirfd);
	errno = e;
	return e == 0 ? 0 : -1;
}

int logdir__write_durably(struct logdir *ld, const char *name, const char *tmp, const char *p,
			  size_t n)
{
	return write_durably(ld, name, tmp, p, n);
}

int logdir_checkpoint(struct logdir *ld)
{
	size_t len = 0;
	pthread_mutex_lock(&ld->ckpt_mu);
	pthread_mutex_lock(&ld->mu);
	for (size_t i = 0; i < ld->nparts; i++)
		ckpt_note(ld, ld->parts[i]);
	char *text = ckpt_format(&ld->ckpt, &len);
	pthread_mutex_unlock(&ld->mu);
	int rc = 0;
	/* Unchanged since the last write: the file already says this (an
	 * idle broker then costs no fsyncs). */
	if (text == NULL || ld->ckpt_last == NULL || strcmp(text, ld->ckpt_last) != 0) {
		rc = text != NULL ? write_durably(ld, CKPT_FILE, CKPT_TMP, text, len) : -1;
		if (rc != 0)
			log_error("log", "%s/%s: cannot write the checkpoint: %s", ld->path, CKPT_FILE,
				  text != NULL ? strerror(errno) : "out of memory");
	}
	if (rc == 0) {
		free(ld->ckpt_last);
		ld->ckpt_last = text;
		text = NULL;
	}
	pthread_mutex_unlock(&ld->ckpt_mu);
	free(text);
	return rc == 0 ? KAFKA_NONE : KAFKA_KAFKA_STORAGE_ERROR;
}

/* ========================================================== deletion */

static void doomed_push(struct logdir *ld, const char *name)
{
	if (ld->ndoomed == ld->doomed_cap) {
		size_t cap = ld->doomed_cap ? ld->doomed_cap * 2 : 8;
		char **v = realloc(ld->doomed, cap * sizeof *v);
		if (v == NULL)
			return;  /* removed at the next start instead */
		ld->doomed = v;
		ld->doomed_cap = cap;
	}
	char *s = strdup(name);
	if (s != NULL)
		ld->doomed[ld->ndoomed++] = s;
}

/* Removes the files of dir `name` (relative to the log dir), then the dir. */
static void remove_dir(struct logdir *ld, const char *name)
{
	int fd = openat(ld->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
	} else {
		for (struct dirent *e; (e = readdir(d)) != NULL;)
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	if (unlinkat(ld->dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		log_warn("log", "%s/%s: cannot remove: %s", ld->path, name, strerror(errno));
	else
		log_info("log", "removed deleted partition dir %s", name);
}

void logdir__reap(struct logdir *ld)
{
	pthread_mutex_lock(&ld->mu);
	char **v = ld->doomed;
	size_t n = ld->ndoomed;
	ld->doomed = NULL;
	ld->ndoomed = ld->doomed_cap = 0;
	pthread_mutex_unlock(&ld->mu);
	for (size_t i = 0; i < n; i++) {
		remove_dir(ld, v[i]);
		free(v[i]);
	}
	if (n > 0)
		plog__sync_dir(ld->dirfd);
	free(v);
}

/* At open: queue leftover "-delete" dirs, drop a stale checkpoint tmp.
 * Returns the number of partition dirs (the metadata log's excluded). */
static size_t logdir_scan(struct logdir *ld)
{
	int fd = dup(ld->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	size_t parts = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		char topic[MAX_TOPIC_LEN + 1];
		int32_t p;
		size_t n = strlen(e->d_name);
		if (n > 7 && strcmp(e->d_name + n - 7, "-delete") == 0)
			doomed_push(ld, e->d_name);
		else if (strcmp(e->d_name, CKPT_TMP) == 0)
			unlinkat(ld->dirfd, e->d_name, 0);
		else if (logdir__parse_name(e->d_name, topic, sizeof topic, &p) == 0 &&
			 strcmp(topic, "__cluster_metadata") != 0)
			parts++;
	}
	closedir(d);
	log_debug("log", "%s: %zu partition dir(s), %zu deleted dir(s) to remove", ld->path, parts,
		  ld->ndoomed);
	return parts;
}

/* =========================================================== open/close */

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		buf[i] = c;
	}
	return 0;
}

/* Reads and removes the clean-shutdown marker (durably: a crash from now
 * on must look unclean). */
static bool logdir_take_marker(struct logdir *ld)
{
	if (faccessat(ld->dirfd, CLEAN_FILE, F_OK, 0) != 0)
		return false;
	if (unlinkat(ld->dirfd, CLEAN_FILE, 0) != 0 || plog__sync_dir(ld->dirfd) != 0) {
		log_warn("log", "%s: cannot remove %s: %s; treating the shutdown as unclean", ld->path,
			 CLEAN_FILE, strerror(errno));
		return false;
	}
	return true;
}

static void logdir_free(struct logdir *ld)
{
	ckpt_clear(&ld->ckpt);
	free(ld->ckpt_last);
	for (size_t i = 0; i < ld->ndoomed; i++)
		free(ld->doomed[i]);
	free(ld->doomed);
	free(ld->parts);
	logdir__janitor_fini(ld);
	prefetch_fini(&ld->pf);
	cleaner__free(ld);
	if (ld->dirfd >= 0)
		close(ld->dirfd);
	pthread_mutex_destroy(&ld->mu);
	pthread_mutex_destroy(&ld->ckpt_mu);
	pthread_cond_destroy(&ld->cond);
	free(ld->path);
	free(ld);
}

static struct logdir *logdir_alloc(const char *path, int64_t flush_scheduler_ms)
{
	struct logdir *ld = calloc(1, sizeof *ld);
	if (ld == NULL || (ld->path = strdup(path)) == NULL) {
		free(ld);
		return NULL;
	}
	ld->dirfd = -1;
	ld->flush_scheduler_ms = flush_scheduler_ms;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ld->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&ld->mu, NULL);
	pthread_mutex_init(&ld->ckpt_mu, NULL);
	atomic_init(&ld->ckpt_wanted, false);
	logdir__janitor_init(ld);
	prefetch_init(&ld->pf);
	return ld;
}

struct logdir *logdir_open(const char *path, int64_t flush_scheduler_ms, char *err, size_t errlen)
{
	struct logdir *ld = logdir_alloc(path, flush_scheduler_ms);
	if (ld == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if (mkdir_p(path) != 0 ||
	    (ld->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	prefetch_set_device(&ld->pf, ld->dirfd);
	bool have_ckpt = ckpt_read(ld);
	logdir__start_offsets_load(ld);
	ld->clean = logdir_take_marker(ld);
	size_t parts = logdir_scan(ld);
	if (!have_ckpt && parts > 0)
		log_warn("log", "%s: no %s; %zu partition dir(s) will be recovered in full", path,
			 CKPT_FILE, parts);
	if (flusher_start(ld) != 0) {
		snprintf(err, errlen, "%s: cannot start the flusher thread: %s", path, strerror(errno));
		goto fail;
	}
	log_info("log", "opened log dir %s (%s, %zu recovery point(s))", path,
		 ld->clean ? "clean shutdown" : "no clean-shutdown marker", ld->ckpt.n);
	return ld;
fail:
	logdir_free(ld);
	return NULL;
}

const char *logdir_path(const struct logdir *ld) { return ld->path; }

/* ====================================================== the registry */

static bool registry_has(struct logdir *ld, const char *topic, int32_t partition)
{
	for (size_t i = 0; i < ld->nparts; i++)
		if (ld->parts[i]->partition == partition && strcmp(ld->parts[i]->topic, topic) == 0)
			return true;
	return false;
}

static int registry_add(struct logdir *ld, struct plog *pl)
{
	if (ld->nparts == ld->parts_cap) {
		size_t cap = ld->parts_cap ? ld->parts_cap * 2 : 16;
		struct plog **v = realloc(ld->parts, cap * sizeof *v);
		if (v == NULL)
			return -1;
		ld->parts = v;
		ld->parts_cap = cap;
	}
	ld->parts[ld->nparts++] = pl;
	return 0;
}

/* Removes pl; returns false when it was not registered. ld->mu. */
static bool registry_remove(struct logdir *ld, struct plog *pl)
{
	for (size_t i = 0; i < ld->nparts; i++) {
		if (ld->parts[i] == pl) {
			ld->parts[i] = ld->parts[--ld->nparts];
			return true;
		}
	}
	return false;
}

/* Creates <name> under the log dir if needed (durably). 1 when this call
 * created it, 0 when it existed, -1 (errno). */
static int logdir_part_dir(struct logdir *ld, const char *name)
{
	if (mkdirat(ld->dirfd, name, 0755) == 0) {
		/* The new dir's name must be durable before any of its data
		 * is acknowledged. */
		return plog__sync_dir(ld->dirfd) == 0 ? 1 : -1;
	}
	return errno == EEXIST ? 0 : -1;
}

/* Recovers the partition and registers it. */
static int logdir_plog_load(struct logdir *ld, struct plog *pl, int64_t rp, bool fresh,
			    struct plog **out)
{
	if (recovery_run(pl, rp, ld->clean, fresh) != KAFKA_NONE ||
	    logdir__start_offset_apply(ld, pl) != KAFKA_NONE) {
		plog__unref(pl);
		return KAFKA_KAFKA_STORAGE_ERROR;
	}
	pthread_mutex_lock(&ld->mu);
	bool dup = registry_has(ld, pl->topic, pl->partition);
	if (dup || registry_add(ld, pl) != 0) {
		pthread_mutex_unlock(&ld->mu);
		log_error("log", "%s: %s", pl->name, dup ? "opened twice" : "out of memory");
		plog__unref(pl);
		return KAFKA_UNKNOWN_SERVER_ERROR;
	}
	ckpt_note(ld, pl);
	pthread_mutex_unlock(&ld->mu);
	/* After a crash, recovery made everything up to the log end durable:
	 * have the flusher write that soon, so a second crash does not scan
	 * the same bytes again (the 60 s checkpoint may be far off). */
	if (!ld->clean)
		atomic_store(&ld->ckpt_wanted, true);
	*out = pl;
	return KAFKA_NONE;
}

int logdir_plog_open(struct logdir *ld, const char *topic, int32_t partition,
		     const struct plog_config *cfg, struct plog **out)
{
	char name[MAX_TOPIC_LEN + 16], path[4096 + 320];
	*out = NULL;
	if (!topic_ok(topic))
		return KAFKA_INVALID_TOPIC_EXCEPTION;
	if (partition < 0)
		return KAFKA_INVALID_PARTITIONS;
	snprintf(name, sizeof name, "%s-%d", topic, partition);
	snprintf(path, sizeof path, "%s/%s", ld->path, name);
	pthread_mutex_lock(&ld->mu);
	bool dup = registry_has(ld, topic, partition);
	struct ckpt_entry *e = ckpt_find(&ld->ckpt, topic, partition);
	int64_t rp = e != NULL ? e->offset : -1;
	pthread_mutex_unlock(&ld->mu);
	if (dup) {
		log_error("log", "%s: already open", name);
		return KAFKA_UNKNOWN_SERVER_ERROR;
	}
	int fresh = logdir_part_dir(ld, name);
	if (fresh < 0) {
		log_error("log", "%s: cannot create the partition dir: %s", path, strerror(errno));
		return KAFKA_KAFKA_STORAGE_ERROR;
	}
	struct plog *pl = plog__new(ld, topic, partition, path, cfg);
	if (pl == NULL)
		return KAFKA_KAFKA_STORAGE_ERROR;
	return logdir_plog_load(ld, pl, rp, fresh == 1, out);
}

void logdir_plog_close(struct logdir *ld, struct plog *pl)
{
	pthread_mutex_lock(&ld->mu);
	bool found = registry_remove(ld, pl);
	pthread_mutex_unlock(&ld->mu);
	if (!found)
		return;
	flusher_flush(pl);
	plog__close_files(pl);
	pthread_mutex_lock(&pl->mu);
	pl->closed = true;
	pthread_mutex_unlock(&pl->mu);
	/* Whatever is still waiting asked beyond the end, or the partition
	 * failed: it will never be durable through this plog. */
	plog__fail_waiters(pl, KAFKA_KAFKA_STORAGE_ERROR);
	pthread_mutex_lock(&ld->mu);
	ckpt_note(ld, pl);
	if (atomic_load(&pl->err) != KAFKA_NONE)
		ld->any_failed = true;
	pthread_mutex_unlock(&ld->mu);
	plog__unref(pl);
}

void logdir_plog_delete(struct logdir *ld, struct plog *pl)
{
	char old[MAX_TOPIC_LEN + 16], doomed[MAX_TOPIC_LEN + 64];
	static atomic_uint seq;
	pthread_mutex_lock(&ld->mu);
	bool found = registry_remove(ld, pl);
	if (found)
		ckpt_remove(&ld->ckpt, pl->topic, pl->partition);
	pthread_mutex_unlock(&ld->mu);
	if (!found)
		return;
	logdir__start_offset_forget(ld, pl->topic, pl->partition);
	cleaner__forget(ld, pl->topic, pl->partition);
	snprintf(old, sizeof old, "%s-%d", pl->topic, pl->partition);
	snprintf(doomed, sizeof doomed, "%s.%016llx%08x-delete", old, (unsigned long long)clock_mono_us(),
		 atomic_fetch_add(&seq, 1));
	int e = plog__dir_rename(pl, doomed);
	/* ENOENT: the dir is no longer under its name (moved aside or removed
	 * by someone else), so there is nothing to remove — and removing "old"
	 * in place later could hit a new partition of the same name. */
	bool gone = e == ENOENT;
	if (e == 0)
		e = plog__sync_dir(ld->dirfd);
	if (gone) {
		log_warn("log", "%s/%s: deleted, but its directory was already gone", ld->path, old);
	} else if (e != 0) {
		log_error("log", "%s/%s: cannot rename to %s: %s; removing it in place", ld->path, old,
			  doomed, strerror(e));
		snprintf(doomed, sizeof doomed, "%s", old);
	}
	pthread_mutex_lock(&pl->mu);
	pl->closed = true;
	pthread_mutex_unlock(&pl->mu);
	plog__fail_waiters(pl, KAFKA_UNKNOWN_TOPIC_OR_PARTITION);
	plog__unref(pl);
	if (gone)
		return;
	pthread_mutex_lock(&ld->mu);
	doomed_push(ld, doomed);
	ld->wake = true;
	pthread_cond_signal(&ld->cond);
	pthread_mutex_unlock(&ld->mu);
	log_info("log", "%s: deleted; files go with %s", old, doomed);
}

/* Writes the clean-shutdown marker durably. */
static void logdir_mark_clean(struct logdir *ld)
{
	int fd = openat(ld->dirfd, CLEAN_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || fsync(fd) != 0 || plog__sync_dir(ld->dirfd) != 0)
		log_error("log", "%s/%s: cannot write: %s", ld->path, CLEAN_FILE, strerror(errno));
	if (fd >= 0)
		close(fd);
}

void logdir_close(struct logdir *ld)
{
	if (ld == NULL)
		return;
	prefetch_stop(&ld->pf);    /* its queue holds segments */
	logdir__janitor_stop(ld);  /* its passes hold partitions */
	cleaner__stop(ld);         /* so do the cleaner's */
	for (;;) {
		pthread_mutex_lock(&ld->mu);
		struct plog *pl = ld->nparts > 0 ? ld->parts[ld->nparts - 1] : NULL;
		pthread_mutex_unlock(&ld->mu);
		if (pl == NULL)
			break;
		logdir_plog_close(ld, pl);
	}
	flusher_stop(ld);
	logdir__reap(ld);
	int rc = logdir_checkpoint(ld);
	if (rc == KAFKA_NONE && !ld->any_failed)
		logdir_mark_clean(ld);
	log_info("log", "closed log dir %s (%s)", ld->path,
		 rc == KAFKA_NONE && !ld->any_failed ? "clean" : "not clean: errors above");
	logdir_free(ld);
}
