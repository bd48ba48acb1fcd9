/*
 * test_log_fixture.h — fixture and helpers shared by test_log.c and
 * test_log_recovery.c (the partition log's unit tests). Included once per
 * test binary: it defines the test-local delay_notify() that plog_append
 * calls (the real one lives in src/delay, not linked here).
 *
 * Every test runs in its own forked process (unit.h) and gets a fresh
 * mkdtemp directory, removed when the test passes (kept for a look when it
 * fails: its path is printed).
 */
#ifndef RUNNEL_TESTS_TEST_LOG_FIXTURE_H
#define RUNNEL_TESTS_TEST_LOG_FIXTURE_H
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log/log_int.h"
#include "log/plog.h"
#include "record/batch.h"
#include "unit.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/crc32c.h"
#include "util/err.h"
#include "util/log.h"

/* ---------------------------------------------------------------- fixture */

static atomic_int fx_notified;
void delay_notify(void) { atomic_fetch_add(&fx_notified, 1); }

static char fx_dir[256];

static inline int fx_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

static inline void fx_cleanup(void)
{
	if (fx_dir[0] != '\0')
		nftw(fx_dir, fx_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory for this test; removed when the test ends well. */
static inline const char *fx_mkdir(void)
{
	snprintf(fx_dir, sizeof fx_dir, "/tmp/runnel-test-log-XXXXXX");
	CHECK(mkdtemp(fx_dir) != NULL);
	return fx_dir;
}

static inline void fx_done(void) { fx_cleanup(); }

static inline struct plog_config fx_cfg(void)
{
	struct plog_config c = {
		.segment_bytes = 1 << 20,
		.segment_ms = 7LL * 24 * 3600 * 1000,
		.index_interval_bytes = 4096,
		.index_max_bytes = 10 << 20,
		.flush_messages = INT64_MAX,
		.flush_ms = -1,
		.log_append_time = false,
	};
	return c;
}

static inline struct logdir *fx_open_dir(void)
{
	char err[256] = "";
	struct logdir *ld = logdir_open(fx_dir, 1000, err, sizeof err);
	if (ld == NULL)
		fprintf(stderr, "logdir_open: %s\n", err);
	CHECK(ld != NULL);
	return ld;
}

static inline struct plog *fx_open_plog(struct logdir *ld, const char *topic, const struct plog_config *cfg)
{
	struct plog *pl = NULL;
	CHECK_EQ(logdir_plog_open(ld, topic, 0, cfg, &pl), KAFKA_NONE);
	CHECK(pl != NULL);
	return pl;
}

/* -------------------------------------------------------------- batches */

/* A batch of n records with values "<tag>-<i>" (tag may be NULL: "r"). */
static inline uint8_t *fx_batch(int n, int64_t ts, const char *tag, size_t *len)
{
	char **vals = calloc((size_t)n, sizeof *vals);
	CHECK(vals != NULL);
	for (int i = 0; i < n; i++) {
		vals[i] = malloc(64);
		snprintf(vals[i], 64, "%s-%d", tag ? tag : "r", i);
	}
	uint8_t *b = batch_build(0, ts, n, NULL, (const char *const *)vals, len);
	for (int i = 0; i < n; i++)
		free(vals[i]);
	free(vals);
	CHECK(b != NULL);
	return b;
}

/* A batch whose record i has timestamp base_ts + deltas[i]. */
static inline uint8_t *fx_batch_ts(int64_t base_ts, int n, const int64_t *deltas, size_t *len)
{
	struct wbuf w;
	int64_t max = base_ts;
	for (int i = 0; i < n; i++)
		if (base_ts + deltas[i] > max)
			max = base_ts + deltas[i];
	wbuf_init(&w);
	wbuf_i64(&w, 0);
	size_t len_mark = wbuf_mark(&w);
	wbuf_i32(&w, 0);
	wbuf_i32(&w, -1);
	wbuf_i8(&w, 2);
	size_t crc_mark = wbuf_mark(&w);
	wbuf_u32(&w, 0);
	wbuf_i16(&w, 0);
	wbuf_i32(&w, n - 1);
	wbuf_i64(&w, base_ts);
	wbuf_i64(&w, max);
	wbuf_i64(&w, -1);
	wbuf_i16(&w, -1);
	wbuf_i32(&w, -1);
	wbuf_i32(&w, n);
	for (int i = 0; i < n; i++) {
		char v[32];
		int vl = snprintf(v, sizeof v, "t%d", i);
		int body = 1 + varint_size(deltas[i]) + varint_size(i) + 1 + varint_size(vl) + vl + 1;
		wbuf_varint(&w, body);
		wbuf_i8(&w, 0);
		wbuf_varlong(&w, deltas[i]);
		wbuf_varint(&w, i);
		wbuf_varint(&w, -1);
		wbuf_varint(&w, vl);
		wbuf_bytes(&w, v, (size_t)vl);
		wbuf_varint(&w, 0);
	}
	CHECK(!w.oom);
	wbuf_patch_i32(&w, len_mark, (int32_t)(w.mem_len - BATCH_LOG_OVERHEAD));
	wbuf_patch_i32(&w, crc_mark, (int32_t)crc32c(0, w.mem + 21, w.mem_len - 21));
	uint8_t *out = malloc(w.mem_len);
	CHECK(out != NULL);
	memcpy(out, w.mem, w.mem_len);
	*len = w.mem_len;
	wbuf_fini(&w);
	CHECK_EQ(batch_validate(out, *len, NULL), KAFKA_NONE);
	return out;
}

/* Appends one batch of n records; returns its base offset. */
static inline int64_t fx_append(struct plog *pl, int n, int64_t ts, const char *tag)
{
	size_t len;
	uint8_t *b = fx_batch(n, ts, tag, &len);
	struct plog_append_result res;
	CHECK_EQ(plog_append(pl, b, len, ts, &res), KAFKA_NONE);
	CHECK_EQ(res.last_offset - res.base_offset + 1, n);
	free(b);
	return res.base_offset;
}

/* -------------------------------------------------------------- reading */

/* Reads the slice's bytes (caller frees) and releases the slice. */
static inline uint8_t *fx_slice_bytes(struct plog_slice *sl)
{
	uint8_t *p = malloc(sl->len ? sl->len : 1);
	CHECK(p != NULL);
	if (sl->len > 0)
		CHECK_EQ(pread(sl->file->fd, p, sl->len, (off_t)sl->pos), (ssize_t)sl->len);
	if (sl->file)
		fileref_unref(sl->file);
	sl->file = NULL;
	return p;
}

struct fx_seen {
	int64_t next;      /* next offset expected */
	int64_t nbatches;
	int64_t first_base;
};

static inline int fx_check_batch(void *arg, uint8_t *p, size_t n, const struct batch_hdr *h)
{
	struct fx_seen *s = arg;
	(void)p; (void)n;
	if (s->nbatches == 0)
		s->first_base = h->base_offset;
	else if (h->base_offset != s->next)
		return -1;
	CHECK_EQ(h->partition_leader_epoch, 0);
	s->next = batch_last_offset(h) + 1;
	s->nbatches++;
	return 0;
}

/* Reads the whole log from `from` to the end, checking each batch is valid
 * and offsets are contiguous. Returns the number of batches read. */
static inline int64_t fx_read_all(struct plog *pl, int64_t from)
{
	int64_t offset = from, batches = 0;
	int64_t leo = plog_end_offset(pl);
	while (offset < leo) {
		struct plog_slice sl;
		CHECK_EQ(plog_read(pl, offset, leo, 64 * 1024, true, &sl), KAFKA_NONE);
		CHECK(sl.len > 0);
		size_t len = sl.len;
		uint8_t *p = fx_slice_bytes(&sl);
		struct fx_seen s = { 0, 0, 0 };
		CHECK_EQ(batch_foreach(p, len, fx_check_batch, &s), KAFKA_NONE);
		CHECK(s.first_base <= offset);
		CHECK(s.next > offset);
		offset = s.next;
		batches += s.nbatches;
		free(p);
	}
	CHECK_EQ(offset, leo);
	return batches;
}

/* Number of files in the partition dir with this extension. */
static inline int fx_count_files(const char *partdir, const char *ext)
{
	int n = 0;
	DIR *d = opendir(partdir);
	CHECK(d != NULL);
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t a = strlen(e->d_name), b = strlen(ext);
		if (a > b && strcmp(e->d_name + a - b, ext) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static inline void fx_path(char *out, size_t len, const char *part, int64_t base, const char *ext)
{
	snprintf(out, len, "%s/%s/%020lld%s", fx_dir, part, (long long)base, ext);
}

static inline long long fx_file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* The whole file (caller frees; *n its size). */
static inline uint8_t *fx_slurp(const char *path, long long *n)
{
	*n = fx_file_size(path);
	CHECK(*n >= 0);
	uint8_t *p = malloc((size_t)*n + 1);
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(read(fd, p, (size_t)*n), *n);
	close(fd);
	return p;
}

/* ------------------------------------------------------ stderr capture */

static int fx_saved_stderr = -1;
static char fx_capture_path[300];

static inline void fx_capture_begin(void)
{
	snprintf(fx_capture_path, sizeof fx_capture_path, "%s/stderr.txt", fx_dir);
	int fd = open(fx_capture_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	fflush(stderr);
	fx_saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

/* Restores stderr and returns what was logged (caller frees). */
static inline char *fx_capture_end(void)
{
	fflush(stderr);
	dup2(fx_saved_stderr, 2);
	close(fx_saved_stderr);
	FILE *f = fopen(fx_capture_path, "r");
	CHECK(f != NULL);
	char *buf = calloc(1, 1 << 16);
	size_t n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(fx_capture_path);
	fputs(buf, stderr);  /* still visible when the test fails */
	return buf;
}

#endif
