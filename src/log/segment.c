/*
 * segment.c — one log segment: <base>.log, <base>.index, <base>.timeindex.
 *
 * <base> is the segment's base offset, 20 decimal digits, zero-padded
 * (Kafka's LogFileUtils): 00000000000000368769.log.
 *
 * The .log file is record batches v2 back to back, exactly as they went on
 * the wire (PROTOCOL.md §4), BaseOffset rewritten by the broker:
 *
 *   pos 0                    pos p                         size
 *   +------------------------+-----------+---------+ ... --+
 *   | batch (base = <base>)  | batch     | batch   |       |  then nothing
 *   +------------------------+-----------+---------+ ... --+
 *   each batch: BaseOffset i64 | BatchLength i32 | ... BatchLength bytes
 *
 * The index files are described in index.c.
 *
 * Invariants:
 *  1. Bytes [0, size) are whole batches, offsets strictly increasing
 *     (contiguous as appended; a cleaned segment has gaps, and its first
 *     batch may start past the base offset); bytes past size (a failed write, or a
 *     torn tail before recovery) are never read.
 *  2. size only grows while the segment is live, and is published (under
 *     the plog mutex) only after the bytes were written; readers snapshot
 *     it, so they never see a half-written batch.
 *  3. A segment is freed, and its files closed, when its last reference
 *     goes (struct fileref): the plog's list holds one, every read slice
 *     one. Deleting the files does not disturb a reader holding a ref.
 *
 * Thread: mutators run under the plog mutex (or on the single thread that
 * opens the partition). segment_reader_* run on the reading thread without
 * the mutex, over a size snapshot and a reference.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log_int.h"
#include "util/log.h"
#include "util/fileio.h"

void segment_name(char *out, size_t outlen, int64_t base_offset, const char *ext)
{
	snprintf(out, outlen, "%020lld%s", (long long)base_offset, ext);
}

static void segment_release(struct fileref *f)
{
	struct segment *seg = (struct segment *)f;  /* ref is the first member */
	if (f->fd >= 0)
		close(f->fd);
	index_close(&seg->oidx);
	index_close(&seg->tidx);
	if (atomic_load(&seg->txn_fd) >= 0)
		close(atomic_load(&seg->txn_fd));
	free(seg);
}

void segment_unref(struct segment *seg)
{
	if (seg != NULL)
		fileref_unref(&seg->ref);
}

static struct segment *segment_alloc(int64_t base_offset)
{
	struct segment *seg = calloc(1, sizeof *seg);
	if (seg == NULL)
		return NULL;
	seg->ref.fd = -1;
	seg->ref.release = segment_release;
	atomic_init(&seg->ref.refs, 1);
	atomic_init(&seg->txn_fd, -1);
	seg->base_offset = base_offset;
	seg->next_offset = base_offset;
	seg->max_ts = seg->max_ts_offset = -1;
	return seg;
}

struct segment *segment_new(int64_t base_offset)
{
	return segment_alloc(base_offset);
}

/* Both indexes empty in memory; their files are read by recovery
 * (index_load) and written by the flusher (index.c). */
static void segment_init_indexes(struct segment *seg, const struct plog_config *cfg)
{
	index_init(&seg->oidx, INDEX_OFFSET, seg->base_offset, cfg->index_max_bytes);
	index_init(&seg->tidx, INDEX_TIME, seg->base_offset, cfg->index_max_bytes);
}

struct segment *segment_create(int dirfd, const char *part, int64_t base_offset,
			       const struct plog_config *cfg, int64_t now_ms)
{
	char name[64];
	struct segment *seg = segment_alloc(base_offset);
	if (seg == NULL)
		return NULL;
	segment_name(name, sizeof name, base_offset, ".log");
	/* O_EXCL: recovery removed every segment at or past the log end, so a
	 * file already there means two writers or a bug — never overwrite. */
	seg->ref.fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (seg->ref.fd < 0) {
		int e = errno;
		log_error("log", "%s: cannot create %s: %s", part, name, strerror(e));
		free(seg);
		errno = e;
		return NULL;
	}
	segment_init_indexes(seg, cfg);
	/* Empty index files from the start, as Kafka lays a segment out (its
	 * tools expect all three); later stores only append to them. */
	if (segment_store_indexes(seg, dirfd, false) != 0) {
		int e = errno;
		log_error("log", "%s: cannot create the index files of segment %020lld: %s", part,
			  (long long)base_offset, strerror(e));
		unlinkat(dirfd, name, 0);
		segment_unref(seg);
		errno = e;
		return NULL;
	}
	seg->created_ms = now_ms;
	return seg;
}

struct segment *segment_open(int dirfd, const char *part, int64_t base_offset,
			     const struct plog_config *cfg)
{
	char name[64];
	struct stat st;
	struct segment *seg = segment_alloc(base_offset);
	if (seg == NULL)
		return NULL;
	segment_name(name, sizeof name, base_offset, ".log");
	seg->ref.fd = openat(dirfd, name, O_RDWR | O_CLOEXEC);
	if (seg->ref.fd < 0 || fstat(seg->ref.fd, &st) != 0) {
		int e = errno;
		log_error("log", "%s: cannot open %s: %s", part, name, strerror(e));
		segment_unref(seg);
		errno = e;
		return NULL;
	}
	seg->size = (uint64_t)st.st_size;
	/* The age for time-based rolling: the last write is the best lower
	 * bound the file keeps of when the segment started. */
	seg->created_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	segment_init_indexes(seg, cfg);
	return seg;
}

int segment_write(struct segment *seg, const uint8_t *p, size_t n)
{
	return fio_pwrite_all(seg->ref.fd, p, n, (off_t)seg->size) == 0 ? 0 : errno;
}

void segment_track(struct segment *seg, const struct batch_hdr *h, uint64_t pos, int32_t interval)
{
	int64_t last = batch_last_offset(h);
	if (h->max_timestamp > seg->max_ts) {
		seg->max_ts = h->max_timestamp;
		seg->max_ts_offset = last;
	}
	/* Kafka's rule (LogSegment.append): an entry for the batch being
	 * placed once more than interval bytes went in since the last one. */
	if (seg->bytes_since_index > (uint64_t)(interval > 0 ? interval : 0)) {
		index_push(&seg->oidx, last, (int64_t)pos);
		if (seg->max_ts >= 0)
			index_push(&seg->tidx, seg->max_ts, seg->max_ts_offset);
		seg->bytes_since_index = 0;
	}
	seg->bytes_since_index += batch_total_size(h);
	seg->next_offset = last + 1;
}

void segment_seal(struct segment *seg)
{
	if (seg->max_ts >= 0)
		index_push(&seg->tidx, seg->max_ts, seg->max_ts_offset);
}

int segment_store_indexes(struct segment *seg, int dirfd, bool sync)
{
	if (index_store(&seg->oidx, dirfd, NULL, sync) != 0 ||
	    index_store(&seg->tidx, dirfd, NULL, sync) != 0)
		return errno ? errno : EIO;
	return 0;
}

/* Entries not in the file, or written there without an fsync. */
static bool index_dirty(const struct index *ix)
{
	return index_unstored(ix) > 0 || (ix->unsynced && ix->n > 0);
}

bool segment_indexes_dirty(const struct segment *seg)
{
	return index_dirty(&seg->oidx) || index_dirty(&seg->tidx);
}

bool segment_take_tails(struct segment *seg, struct seg_tails *st, bool sync)
{
	if (!index_take(&seg->oidx, &st->o, sync))
		return false;
	if (!index_take(&seg->tidx, &st->t, sync)) {
		index_tail_done(&seg->oidx, &st->o, false);
		return false;
	}
	return true;
}

int segment_write_tails(const struct segment *seg, const struct seg_tails *st, int dirfd)
{
	if (index_tail_write(&seg->oidx, &st->o, dirfd, NULL) != 0 ||
	    index_tail_write(&seg->tidx, &st->t, dirfd, NULL) != 0)
		return errno ? errno : EIO;
	return 0;
}

void segment_tails_done(struct segment *seg, struct seg_tails *st, bool written)
{
	index_tail_done(&seg->oidx, &st->o, written);
	index_tail_done(&seg->tidx, &st->t, written);
}

int segment_sync(struct segment *seg)
{
	atomic_fetch_add(&plog__stats.data_syncs, 1);
	if (plog__fdatasync(seg->ref.fd) != 0)
		return errno ? errno : EIO;
	/* Aborted-transaction entries are durable with the markers they
	 * describe (txnlog.c): before the recovery point passes them. */
	int tfd = atomic_load(&seg->txn_fd);
	if (tfd >= 0 && plog__fdatasync(tfd) != 0)
		return errno ? errno : EIO;
	return 0;
}

int segment_truncate(struct segment *seg, uint64_t size)
{
	if (ftruncate(seg->ref.fd, (off_t)size) != 0)
		return errno;
	seg->size = size;
	return 0;
}

int segment_unlink(int dirfd, int64_t base_offset)
{
	static const char *const exts[] = { ".log", ".index", ".timeindex", ".txnindex" };
	int rc = 0;
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		char name[64];
		segment_name(name, sizeof name, base_offset, exts[i]);
		if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT && rc == 0)
			rc = errno;
	}
	return rc;
}

/* ================================================================ reader */

void segment_reader_init(struct segment_reader *r, const struct segment *seg, uint64_t end,
			 size_t readahead)
{
	memset(r, 0, sizeof *r);
	r->fd = seg->ref.fd;
	r->end = end;
	r->readahead = readahead > 0 ? readahead : 4096;
}

void segment_reader_fini(struct segment_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->len = 0;
}

/* Reads want bytes at pos into buf; returns the count (short only at EOF)
 * or -1 (errno). */
static ssize_t segment_reader_fill(struct segment_reader *r, uint64_t pos, size_t want)
{
	size_t got = 0;
	while (got < want) {
		ssize_t n = pread(r->fd, r->buf + got, want - got, (off_t)(pos + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

const uint8_t *segment_reader_peek(struct segment_reader *r, uint64_t pos, size_t n)
{
	if (pos > r->end || n > r->end - pos) {
		errno = 0;
		return NULL;
	}
	if (pos >= r->off && pos + n <= r->off + r->len)
		return r->buf + (pos - r->off);
	size_t want = n > r->readahead ? n : r->readahead;
	if (want > r->end - pos)
		want = (size_t)(r->end - pos);
	if (want > r->cap) {
		uint8_t *p = realloc(r->buf, want);
		if (p == NULL) {
			errno = ENOMEM;
			return NULL;
		}
		r->buf = p;
		r->cap = want;
	}
	r->len = 0;
	ssize_t got = segment_reader_fill(r, pos, want);
	if (got < 0)
		return NULL;
	r->off = pos;
	r->len = (size_t)got;
	if ((size_t)got < n) {
		errno = EIO;  /* the file is shorter than the size we trusted */
		return NULL;
	}
	return r->buf;
}

int segment_reader_header(struct segment_reader *r, uint64_t pos, struct batch_hdr *h)
{
	if (pos == r->end)
		return 0;
	const uint8_t *p = segment_reader_peek(r, pos, BATCH_HEADER_SIZE);
	if (p == NULL)
		return errno ? -2 : -1;
	if (batch_parse_header(p, BATCH_HEADER_SIZE, h) != 0)
		return -1;
	if (h->batch_length < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD ||
	    batch_total_size(h) > r->end - pos || h->last_offset_delta < 0)
		return -1;
	return 1;
}

int segment_rebuild(struct segment *seg, int32_t interval, uint64_t *bad_pos)
{
	struct segment_reader r;
	struct batch_hdr h;
	uint64_t pos = 0;
	int rc;
	index_reset(&seg->oidx);
	index_reset(&seg->tidx);
	seg->max_ts = seg->max_ts_offset = -1;
	seg->bytes_since_index = 0;
	seg->next_offset = seg->base_offset;
	segment_reader_init(&r, seg, seg->size, 64 * 1024);
	/* Offsets only increase: compaction leaves gaps (cleaner_pass.c). */
	while ((rc = segment_reader_header(&r, pos, &h)) == 1 && h.base_offset >= seg->next_offset) {
		segment_track(seg, &h, pos, interval);
		pos += batch_total_size(&h);
	}
	segment_reader_fini(&r);
	atomic_fetch_add(&plog__stats.index_rebuilds, 1);
	*bad_pos = pos;
	if (rc == -2)
		return -1;
	return rc == 0 ? 0 : 1;
}

DIR *segment_dir_list(int dirfd)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		return NULL;
	}
	rewinddir(d);
	return d;
}

int64_t segment_parse_name(const char *name, const char *ext)
{
	size_t len = strlen(name), elen = strlen(ext);
	if (len != 20 + elen || strcmp(name + 20, ext) != 0)
		return -1;
	int64_t v = 0;
	for (int i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9' || v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	return v;
}

int segment_cmp_offsets(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}
