// fuzz-deps: src/util src/record src/log src/txn
/*
 * fuzz_recovery.c — libFuzzer target for the partition log's start-up
 * recovery (src/log/recovery.c, with the segment reader and index code it
 * drives) and for the read path over whatever recovery kept.
 *
 * Input: the bytes of a segment file, 00000000000000000000.log (record
 * batches v2 back to back, as the broker writes them). They are written
 * into partition dir fuzz-0 of an empty log dir: no checkpoint, no
 * clean-shutdown marker, no index files — a full recovery scan. When
 * recomputing the CRC of every batch whose length fits changes the bytes,
 * the repaired copy goes to fuzz-1 as well, so that mutations get past the
 * checksum to the record and offset checks.
 *
 * One log dir per process (a temp dir in $FUZZ_TMPDIR, else /dev/shm,
 * else $TMPDIR or /tmp), opened once: a logdir starts a flusher thread,
 * and creating threads per input would cost more than everything else
 * (ASan). It is opened without a clean-shutdown marker, so every partition
 * open is a full scan whatever recovery point the in-memory checkpoint map
 * holds (one segment: the scan starts at segment 0 either way). The
 * partition dirs are removed before each input, so no state carries over.
 * Per input:
 *  1. logdir_plog_open of each partition (must succeed: the files are
 *     readable, only their content is hostile), then checks:
 *     - start offset 0, LEO >= start, high watermark == recovery point ==
 *       LEO, size == the .log's size on disk, and the file is a prefix of
 *       the input (recovery only cuts);
 *     - reading the log with plog_read from offset 0, one batch per call
 *       (max_bytes 1, min_one), returns each time a non-empty range that
 *       starts where the previous one ended (a batch boundary), whose bytes
 *       are the file's and which holds exactly one batch that passes
 *       batch_validate_opts in stored mode (what recovery keeps: compaction
 *       may leave fewer records than LastOffsetDelta + 1), starts at the
 *       offset asked and ends at or after
 *       it; the walk ends exactly at LEO and at the end of the file;
 *     - one read with a large max_bytes returns the whole file; a read at
 *       any offset inside a batch returns that batch; a read at LEO is
 *       empty; LEO + 1 and -1 are out of range;
 *     - plog_max_timestamp and plog_offset_for_time (a few timestamps taken
 *       from the batches) answer with -1 or an offset in [start, LEO) whose
 *       timestamp is >= the one asked.
 *     Then logdir_plog_close (flush, seal, fsync; the checkpoint map now
 *     holds recovery point = LEO).
 *  2. Reopen as after a clean shutdown (logdir.clean set for the call, as
 *     logdir_open sets it when it finds the marker): the same checks, the
 *     same LEO and size, and the fast path — no segment scanned, no index
 *     rebuilt, nothing truncated (plog__stats). The indexes recovery wrote
 *     must load. plog__stats and logdir.clean (log_int.h) are the only
 *     internals this target touches.
 * A broken invariant aborts (with a line on stderr saying which). Nothing
 * may crash, leak or trip a sanitizer. Diagnostics are silenced;
 * RUNNEL_FUZZ_LOG=info (or warn, debug) shows recovery's WARN/INFO lines
 * when reproducing a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log_int.h"
#include "log/plog.h"
#include "record/batch.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/err.h"
#include "util/log.h"
#include "fuzz_common.h"

/* plog_append calls it; nothing appends here (the real one is src/delay). */
void delay_notify(void) {}

#define SEG_NAME "00000000000000000000.log"
#define TOPIC "fuzz"
enum { MAX_BATCHES_PROBED = 64, MAX_TIMES_PROBED = 8 };

static char root[PATH_MAX];    /* mkdtemp'd, removed at exit */
static char logs[PATH_MAX];    /* root/logs: the log dir */
static struct logdir *ld;      /* open for the whole run */

static const struct plog_config cfg = {
	.segment_bytes = 1 << 30,
	.segment_ms = 7LL * 24 * 3600 * 1000,
	.index_interval_bytes = 128, /* several index entries per input */
	.index_max_bytes = 1 << 20,
	.flush_messages = INT64_MAX,
	.flush_ms = -1,
	.log_append_time = false,
};

#define FAIL(...)                                                   \
	do {                                                        \
		fprintf(stderr, "fuzz_recovery: " __VA_ARGS__);     \
		fputc('\n', stderr);                                \
		abort();                                            \
	} while (0)

/* ------------------------------------------------------------ files */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

static void rm_tree(const char *p)
{
	nftw(p, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
	if (ld != NULL)
		logdir_close(ld);
	ld = NULL;
	if (root[0] != '\0')
		rm_tree(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_logs();
	fuzz_make_root(root, sizeof root, "recovery");
	snprintf(logs, sizeof logs, "%s/logs", root);
	char err[512];
	ld = logdir_open(logs, 3600 * 1000, err, sizeof err);
	if (ld == NULL || ld->clean)
		FAIL("logdir_open: %s", ld ? "clean?" : err);
	atexit(cleanup);
	return 0;
}

static void part_path(char *out, size_t cap, int part, const char *file)
{
	snprintf(out, cap, "%s/" TOPIC "-%d%s%s", logs, part, file ? "/" : "", file ? file : "");
}

static void write_segment(int part, const uint8_t *p, size_t n)
{
	char path[PATH_MAX + 64];
	part_path(path, sizeof path, part, NULL);
	if (mkdir(path, 0755) != 0)
		FAIL("mkdir %s: %s", path, strerror(errno));
	part_path(path, sizeof path, part, SEG_NAME);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		FAIL("create %s: %s", path, strerror(errno));
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			FAIL("write %s: %s", path, strerror(errno));
		p += w;
		n -= (size_t)w;
	}
	close(fd);
}

/* Recomputes the CRC of every batch whose BatchLength fits in the input. */
static void repair(uint8_t *p, size_t n)
{
	size_t off = 0;
	while (n - off >= BATCH_HEADER_SIZE) {
		const uint8_t *q = p + off + 8;
		int32_t len = (int32_t)((uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3]);
		if (len < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD || (size_t)len > n - off - BATCH_LOG_OVERHEAD)
			break;
		size_t total = (size_t)len + BATCH_LOG_OVERHEAD;
		uint32_t crc = crc32c(0, p + off + 21, total - 21);
		p[off + 17] = (uint8_t)(crc >> 24);
		p[off + 18] = (uint8_t)(crc >> 16);
		p[off + 19] = (uint8_t)(crc >> 8);
		p[off + 20] = (uint8_t)crc;
		off += total;
	}
}

/* ------------------------------------------------------------ checks */

struct batch_pos {
	uint64_t pos, len;
	int64_t base, last;
	int64_t base_ts, max_ts;
};

struct outcome {
	int64_t leo, size;
	uint64_t nbatches;
};

/* The recovered .log must be the input cut at size. */
static void check_file(int part, const uint8_t *in, size_t n, int64_t size)
{
	char path[PATH_MAX + 64];
	struct stat st;
	part_path(path, sizeof path, part, SEG_NAME);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0)
		FAIL("%s: %s", path, strerror(errno));
	if (st.st_size != size)
		FAIL("%s: %lld bytes on disk, plog_size_bytes %lld", path, (long long)st.st_size, (long long)size);
	if ((uint64_t)size > n)
		FAIL("%s: recovered %lld bytes out of %zu", path, (long long)size, n);
	uint8_t *buf = malloc(size ? (size_t)size : 1);
	if (buf == NULL || pread(fd, buf, (size_t)size, 0) != size)
		FAIL("%s: read: %s", path, strerror(errno));
	if (size > 0 && memcmp(buf, in, (size_t)size) != 0)
		FAIL("%s: recovered bytes are not a prefix of the input", path);
	free(buf);
	close(fd);
}

/* Reads [s->pos, s->pos + s->len) through the slice's file. */
static uint8_t *slice_bytes(const struct plog_slice *s)
{
	uint8_t *buf = malloc(s->len ? s->len : 1);
	if (buf == NULL)
		abort();
	if (pread(s->file->fd, buf, s->len, (off_t)s->pos) != (ssize_t)s->len)
		FAIL("slice at %llu+%llu: short read", (unsigned long long)s->pos, (unsigned long long)s->len);
	return buf;
}

/* A read at offset that must return exactly batch b. */
static void check_read_at(struct plog *pl, int64_t offset, const struct batch_pos *b)
{
	struct plog_slice s;
	int rc = plog_read(pl, offset, plog_end_offset(pl), 1, true, &s);
	if (rc != KAFKA_NONE || s.file == NULL || s.pos != b->pos || s.len != b->len)
		FAIL("read at %lld (in batch %lld..%lld at %llu): rc %d, %llu+%llu", (long long)offset,
		     (long long)b->base, (long long)b->last, (unsigned long long)b->pos, rc,
		     (unsigned long long)s.pos, (unsigned long long)s.len);
	fileref_unref(s.file);
}

static void check_time(struct plog *pl, int64_t ts, int64_t start, int64_t leo)
{
	int64_t o, t;
	int rc = plog_offset_for_time(pl, ts, &o, &t);
	if (rc != KAFKA_NONE)
		FAIL("offset_for_time(%lld): rc %d", (long long)ts, rc);
	if (o == -1 ? t != -1 : (o < start || o >= leo || t < ts))
		FAIL("offset_for_time(%lld): offset %lld timestamp %lld (log %lld..%lld)", (long long)ts,
		     (long long)o, (long long)t, (long long)start, (long long)leo);
}

static void check_partition(struct plog *pl, int part, const uint8_t *in, size_t n, struct outcome *out)
{
	int64_t start = plog_start_offset(pl), leo = plog_end_offset(pl), size = plog_size_bytes(pl);
	if (start != 0 || leo < start)
		FAIL("part %d: log %lld..%lld", part, (long long)start, (long long)leo);
	if (plog_high_watermark(pl) != leo || plog_recovery_point(pl) != leo)
		FAIL("part %d: LEO %lld, high watermark %lld, recovery point %lld", part, (long long)leo,
		     (long long)plog_high_watermark(pl), (long long)plog_recovery_point(pl));
	check_file(part, in, n, size);

	/* batch by batch */
	struct batch_pos *bs = NULL;
	size_t nb = 0, cap = 0;
	int64_t off = start;
	uint64_t pos = 0;
	while (off < leo) {
		struct plog_slice s;
		int rc = plog_read(pl, off, leo, 1, true, &s);
		if (rc != KAFKA_NONE || s.len == 0 || s.file == NULL)
			FAIL("part %d: read at %lld (LEO %lld, byte %llu): rc %d, %llu bytes", part,
			     (long long)off, (long long)leo, (unsigned long long)pos, rc,
			     (unsigned long long)s.len);
		if (s.pos != pos || s.len > (uint64_t)size - pos)
			FAIL("part %d: read at %lld returned %llu+%llu, expected a range from %llu", part,
			     (long long)off, (unsigned long long)s.pos, (unsigned long long)s.len,
			     (unsigned long long)pos);
		uint8_t *p = slice_bytes(&s);
		struct batch_hdr h;
		if (memcmp(p, in + s.pos, s.len) != 0)
			FAIL("part %d: slice bytes differ from the file", part);
		static const struct batch_check_opts stored = { .stored = true };
		if (s.len < BATCH_LOG_OVERHEAD || batch_validate_opts(p, s.len, &stored, &h) != KAFKA_NONE)
			FAIL("part %d: slice %llu+%llu is not exactly one valid batch", part,
			     (unsigned long long)s.pos, (unsigned long long)s.len);
		if (h.base_offset != off || batch_last_offset(&h) < off)
			FAIL("part %d: read at %lld returned batch %lld..%lld", part, (long long)off,
			     (long long)h.base_offset, (long long)batch_last_offset(&h));
		if (nb == cap) {
			cap = cap ? cap * 2 : 16;
			bs = realloc(bs, cap * sizeof *bs);
			if (bs == NULL)
				abort();
		}
		bs[nb++] = (struct batch_pos){ s.pos, s.len, h.base_offset, batch_last_offset(&h),
					       h.base_timestamp, h.max_timestamp };
		free(p);
		fileref_unref(s.file);
		off = batch_last_offset(&h) + 1;
		pos += s.len;
	}
	if (off != leo || pos != (uint64_t)size)
		FAIL("part %d: the batches end at offset %lld, byte %llu; LEO %lld, size %lld", part,
		     (long long)off, (unsigned long long)pos, (long long)leo, (long long)size);

	/* everything at once */
	struct plog_slice s;
	int rc = plog_read(pl, start, leo, SIZE_MAX, false, &s);
	if (rc != KAFKA_NONE || s.pos != 0 || s.len != (leo > start ? (uint64_t)size : 0))
		FAIL("part %d: whole read: rc %d, %llu+%llu of %lld", part, rc, (unsigned long long)s.pos,
		     (unsigned long long)s.len, (long long)size);
	if (s.file != NULL)
		fileref_unref(s.file);

	/* inside batches, at the end, out of range */
	for (size_t i = 0; i < nb && i < MAX_BATCHES_PROBED; i++) {
		check_read_at(pl, bs[i].last, &bs[i]);
		check_read_at(pl, bs[i].base + (bs[i].last - bs[i].base) / 2, &bs[i]);
	}
	if ((rc = plog_read(pl, leo, leo, 1000, true, &s)) != KAFKA_NONE || s.len != 0 || s.file != NULL)
		FAIL("part %d: read at LEO: rc %d, %llu bytes", part, rc, (unsigned long long)s.len);
	if (leo < INT64_MAX && plog_read(pl, leo + 1, INT64_MAX, 1000, true, &s) != KAFKA_OFFSET_OUT_OF_RANGE)
		FAIL("part %d: read past LEO is not out of range", part);
	if (plog_read(pl, -1, INT64_MAX, 1000, true, &s) != KAFKA_OFFSET_OUT_OF_RANGE)
		FAIL("part %d: read at -1 is not out of range", part);

	/* timestamps */
	int64_t o, t;
	if ((rc = plog_max_timestamp(pl, &o, &t)) != KAFKA_NONE)
		FAIL("part %d: max_timestamp: rc %d", part, rc);
	if (o != -1 && (o < start || o >= leo || t < 0))
		FAIL("part %d: max_timestamp: offset %lld timestamp %lld", part, (long long)o, (long long)t);
	check_time(pl, INT64_MIN, start, leo);
	check_time(pl, 0, start, leo);
	for (size_t i = 0; i < nb && i < MAX_TIMES_PROBED; i++) {
		check_time(pl, bs[i].base_ts, start, leo);
		check_time(pl, bs[i].max_ts, start, leo);
	}
	free(bs);
	out->leo = leo;
	out->size = size;
	out->nbatches = nb;
}

/* ------------------------------------------------------------ the target */

/* Opens, checks and closes every partition. */
static void session(int nparts, const uint8_t *const *bytes, size_t n, struct outcome *res)
{
	for (int part = 0; part < nparts; part++) {
		struct plog *pl;
		int rc = logdir_plog_open(ld, TOPIC, part, &cfg, &pl);
		if (rc != KAFKA_NONE)
			FAIL("part %d: logdir_plog_open: %d", part, rc);
		check_partition(pl, part, bytes[part], n, &res[part]);
		logdir_plog_close(ld, pl);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *raw = malloc(size ? size : 1), *fixed = malloc(size ? size : 1);
	if (raw == NULL || fixed == NULL)
		abort();
	if (size) {
		memcpy(raw, data, size);
		memcpy(fixed, data, size);
	}
	repair(fixed, size);
	int nparts = size > 0 && memcmp(raw, fixed, size) != 0 ? 2 : 1;
	const uint8_t *bytes[2] = { raw, fixed };

	for (int part = 0; part < 2; part++) {
		char path[PATH_MAX + 64];
		part_path(path, sizeof path, part, NULL);
		rm_tree(path);
	}
	for (int part = 0; part < nparts; part++)
		write_segment(part, bytes[part], size);

	/* 1. full recovery */
	struct outcome first[2], again[2];
	session(nparts, bytes, size, first);

	/* 2. clean restart: the fast path, same log */
	long scanned = atomic_load(&plog__stats.segments_scanned);
	long rebuilt = atomic_load(&plog__stats.index_rebuilds);
	long cut = atomic_load(&plog__stats.truncations);
	ld->clean = true;
	session(nparts, bytes, size, again);
	ld->clean = false;
	for (int part = 0; part < nparts; part++)
		if (again[part].leo != first[part].leo || again[part].size != first[part].size ||
		    again[part].nbatches != first[part].nbatches)
			FAIL("part %d: after a clean restart LEO %lld size %lld, before LEO %lld size %lld", part,
			     (long long)again[part].leo, (long long)again[part].size,
			     (long long)first[part].leo, (long long)first[part].size);
	if (atomic_load(&plog__stats.segments_scanned) != scanned ||
	    atomic_load(&plog__stats.index_rebuilds) != rebuilt ||
	    atomic_load(&plog__stats.truncations) != cut)
		FAIL("a clean restart scanned %ld segment(s), rebuilt %ld index(es), truncated %ld",
		     atomic_load(&plog__stats.segments_scanned) - scanned,
		     atomic_load(&plog__stats.index_rebuilds) - rebuilt,
		     atomic_load(&plog__stats.truncations) - cut);
	free(raw);
	free(fixed);
	return 0;
}
