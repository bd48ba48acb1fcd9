/*
 * index.c — a segment's sparse offset index and time index, in memory and
 * on disk (Kafka's OffsetIndex / TimeIndex file formats).
 *
 * Files (big-endian, no header, entries back to back):
 *
 *   <base>.index       +----------------------+----------------------+
 *                      | relative offset i32  | file position i32    |   8 bytes
 *                      +----------------------+----------------------+
 *   <base>.timeindex   +------------------------------+---------------+
 *                      | timestamp i64 (ms)           | rel offset i32|  12 bytes
 *                      +------------------------------+---------------+
 *
 *   relative offset = absolute offset - the segment's base offset.
 *   Offset index entry: the last offset of a batch and the position where
 *   that batch starts (Kafka's convention, so kafka-dump-log's index check
 *   agrees). Time index entry: the largest batch MaxTimestamp seen so far
 *   in the segment and the last offset of the batch that carried it.
 *
 * Invariants (index_load checks them; an index failing one is rebuilt):
 *  1. The file holds whole entries only; memory holds exactly the file's
 *     bytes (buf is the file) — an entry is pushed in memory, then written.
 *  2. Keys and values are strictly increasing in both files; relative
 *     offsets are >= 0 and fit int32; positions fit int32 and lie below the
 *     segment's log size.
 *  3. Entries are a hint: a lookup returns an entry at or before the
 *     target, and the caller scans batch headers forward from it. So an
 *     entry may be skipped (full index, no memory) without harm.
 *
 * Thread: every function runs under the owning plog's mutex, or on the one
 * thread that opens the partition.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log_int.h"
#include "util/fileio.h"

static size_t entry_size(const struct index *ix)
{
	return ix->kind == INDEX_OFFSET ? INDEX_OFFSET_ENTRY : INDEX_TIME_ENTRY;
}

static uint64_t be_get(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static void be_put(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

int index_open(struct index *ix, int dirfd, const char *name, enum index_kind kind,
	       int64_t base_offset, int32_t index_max_bytes)
{
	memset(ix, 0, sizeof *ix);
	ix->kind = kind;
	ix->base_offset = base_offset;
	size_t max = index_max_bytes > 0 ? (size_t)index_max_bytes / entry_size(ix) : 1;
	ix->max_entries = max > 0 ? max : 1;
	int created = 0;
	ix->fd = openat(dirfd, name, O_RDWR | O_CLOEXEC);
	if (ix->fd < 0 && errno == ENOENT) {
		ix->fd = openat(dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		created = 1;
	}
	return ix->fd < 0 ? -1 : created;
}

void index_close(struct index *ix)
{
	if (ix->fd >= 0)
		close(ix->fd);
	ix->fd = -1;
	free(ix->buf);
	ix->buf = NULL;
	ix->n = ix->cap = 0;
}

void index_reset(struct index *ix) { ix->n = 0; }
bool index_full(const struct index *ix) { return ix->n >= ix->max_entries; }
size_t index_count(const struct index *ix) { return ix->n; }

struct index_entry index_at(const struct index *ix, size_t i)
{
	const uint8_t *p = ix->buf + i * entry_size(ix);
	struct index_entry e;
	if (ix->kind == INDEX_OFFSET) {
		e.key = ix->base_offset + (int32_t)be_get(p, 4);
		e.val = (int32_t)be_get(p + 4, 4);
	} else {
		e.key = (int64_t)be_get(p, 8);
		e.val = ix->base_offset + (int32_t)be_get(p + 8, 4);
	}
	return e;
}

/* Grows buf to hold one more entry. */
static bool index_grow(struct index *ix)
{
	size_t need = (ix->n + 1) * entry_size(ix);
	if (need <= ix->cap)
		return true;
	size_t cap = ix->cap ? ix->cap * 2 : 64 * entry_size(ix);
	size_t max = ix->max_entries * entry_size(ix);
	if (cap > max)
		cap = max;
	if (cap < need)
		return false;
	uint8_t *p = realloc(ix->buf, cap);
	if (p == NULL)
		return false;
	ix->buf = p;
	ix->cap = cap;
	return true;
}

bool index_push(struct index *ix, int64_t key, int64_t val)
{
	struct index_entry last;
	if (index_last(ix, &last) && (key <= last.key || val <= last.val))
		return false;
	int64_t rel = (ix->kind == INDEX_OFFSET ? key : val) - ix->base_offset;
	if (rel < 0 || rel > INT32_MAX)
		return false;
	if (ix->kind == INDEX_OFFSET && (val < 0 || val > INT32_MAX))
		return false;
	if (index_full(ix) || !index_grow(ix))
		return false;
	uint8_t *p = ix->buf + ix->n * entry_size(ix);
	if (ix->kind == INDEX_OFFSET) {
		be_put(p, (uint64_t)rel, 4);
		be_put(p + 4, (uint64_t)val, 4);
	} else {
		be_put(p, (uint64_t)key, 8);
		be_put(p + 8, (uint64_t)rel, 4);
	}
	ix->n++;
	return true;
}

int index_append(struct index *ix, int64_t key, int64_t val)
{
	if (!index_push(ix, key, val))
		return 0;
	size_t es = entry_size(ix);
	return fio_pwrite_all(ix->fd, ix->buf + (ix->n - 1) * es, es, (off_t)((ix->n - 1) * es));
}

int index_rewrite(struct index *ix)
{
	size_t len = ix->n * entry_size(ix);
	if (ftruncate(ix->fd, 0) != 0)
		return -1;
	return len ? fio_pwrite_all(ix->fd, ix->buf, len, 0) : 0;
}

int index_sync(struct index *ix)
{
	return fsync(ix->fd) == 0 ? 0 : -1;
}

/* Checks invariant 2 over the loaded entries. */
static bool index_consistent(const struct index *ix, uint64_t log_size, int64_t next_offset)
{
	for (size_t i = 0; i < ix->n; i++) {
		const uint8_t *p = ix->buf + i * entry_size(ix);
		int32_t rel = (int32_t)be_get(p + (ix->kind == INDEX_OFFSET ? 0 : 8), 4);
		struct index_entry e = index_at(ix, i);
		if (rel < 0)
			return false;
		int64_t off = ix->kind == INDEX_OFFSET ? e.key : e.val;
		if (off >= next_offset)
			return false;
		if (ix->kind == INDEX_OFFSET && (e.val < 0 || (uint64_t)e.val >= log_size))
			return false;
		if (i > 0) {
			struct index_entry prev = index_at(ix, i - 1);
			if (e.key <= prev.key || e.val <= prev.val)
				return false;
		}
	}
	return true;
}

int index_load(struct index *ix, uint64_t log_size, int64_t next_offset)
{
	struct stat st;
	if (fstat(ix->fd, &st) != 0)
		return -1;
	size_t es = entry_size(ix);
	size_t len = (size_t)st.st_size;
	ix->n = 0;
	if (len % es != 0 || len / es > ix->max_entries)
		return 1;
	if (len == 0)
		return 0;
	uint8_t *p = malloc(len);
	if (p == NULL)
		return -1;
	size_t got = 0;
	while (got < len) {
		ssize_t r = pread(ix->fd, p + got, len - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(p);
			if (r == 0)
				errno = EIO;
			return -1;
		}
		got += (size_t)r;
	}
	free(ix->buf);
	ix->buf = p;
	ix->cap = len;
	ix->n = len / es;
	if (!index_consistent(ix, log_size, next_offset)) {
		ix->n = 0;
		return 1;
	}
	return 0;
}

bool index_floor(const struct index *ix, int64_t key, bool strict, struct index_entry *out)
{
	/* Binary search for the first entry whose key is > key (>= when
	 * strict); the answer is the one before it. */
	size_t lo = 0, hi = ix->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int64_t k = index_at(ix, mid).key;
		if (strict ? k < key : k <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return false;
	*out = index_at(ix, lo - 1);
	return true;
}

bool index_last(const struct index *ix, struct index_entry *out)
{
	if (ix->n == 0)
		return false;
	*out = index_at(ix, ix->n - 1);
	return true;
}
