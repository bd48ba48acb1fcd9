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
 * The entries live in memory (buf, the file's bytes); the file is written
 * in pieces, through a descriptor opened for the write and closed after it
 * (no descriptor is held: 10,000 partitions must fit a 20,000-file limit):
 * the flusher stores what accumulated every few MiB of log and the whole
 * index when its segment rolls or the partition closes (segment.c,
 * flusher.c). So after a crash the active segment's file may lack the last
 * entries or hold entries past the recovery point; recovery checks and
 * rebuilds what it uses (recovery.c).
 *
 * Invariants (index_load checks 2 and 3; an index failing one is rebuilt):
 *  1. The file holds whole entries; unless ix->rewrite, its first
 *     ix->stored entries are memory's first ix->stored (what lies past
 *     them is overwritten by the next store); with ix->rewrite the next
 *     store truncates and writes everything.
 *  2. Keys and values are strictly increasing in both files; relative
 *     offsets are >= 0 and fit int32; positions fit int32 and lie below the
 *     segment's log size.
 *  3. Entries are a hint: a lookup returns an entry at or before the
 *     target, and the caller scans batch headers forward from it. So an
 *     entry may be skipped (full index, no memory) without harm.
 *
 * Thread: every function runs under the owning plog's mutex, or on the one
 * thread that opens the partition, except index_tail_write (no lock: it
 * reads only the tail it was given and the immutable base/kind). One
 * store of an index at a time: its plog's flush_mu, or the opening thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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

void index_init(struct index *ix, enum index_kind kind, int64_t base_offset,
		int32_t index_max_bytes)
{
	memset(ix, 0, sizeof *ix);
	ix->kind = kind;
	ix->base_offset = base_offset;
	size_t max = index_max_bytes > 0 ? (size_t)index_max_bytes / entry_size(ix) : 1;
	ix->max_entries = max > 0 ? max : 1;
	ix->rewrite = true;  /* nothing of the file is known to match memory yet */
}

void index_close(struct index *ix)
{
	free(ix->buf);
	ix->buf = NULL;
	ix->n = ix->cap = 0;
}

void index_reset(struct index *ix)
{
	ix->n = 0;
	ix->stored = 0;
	ix->rewrite = true;
}

void index_forget_after(struct index *ix, size_t n)
{
	if (n >= ix->n)
		return;
	ix->n = n;
	ix->stored = 0;
	ix->rewrite = true;
}
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

size_t index_unstored(const struct index *ix)
{
	return ix->rewrite ? ix->n + 1 : ix->n - ix->stored;
}

int64_t index_unstored_span(const struct index *ix)
{
	if (ix->kind != INDEX_OFFSET || ix->n == 0 || (!ix->rewrite && ix->stored == ix->n))
		return 0;
	int64_t from = ix->rewrite || ix->stored == 0 ? 0 : index_at(ix, ix->stored - 1).val;
	return index_at(ix, ix->n - 1).val - from;
}

void index_file_name(const struct index *ix, char *out, size_t len)
{
	snprintf(out, len, "%020lld%s", (long long)ix->base_offset,
		 ix->kind == INDEX_OFFSET ? ".index" : ".timeindex");
}

bool index_take(const struct index *ix, struct index_tail *t, bool sync)
{
	size_t es = entry_size(ix);
	memset(t, 0, sizeof *t);
	t->sync = sync;
	t->trunc = ix->rewrite;
	t->from = t->trunc ? 0 : ix->stored * es;
	t->len = ix->n * es - t->from;
	t->n = ix->n;
	if (t->len > 0 && (t->bytes = malloc(t->len)) == NULL)
		return false;
	if (t->len > 0)
		memcpy(t->bytes, ix->buf + t->from, t->len);
	return true;
}

int index_tail_write(const struct index *ix, const struct index_tail *t, int dirfd,
		     const char *name)
{
	char own[64];
	if (name == NULL) {
		index_file_name(ix, own, sizeof own);
		name = own;
	}
	/* A file that already holds a prefix is only appended to, never
	 * created: when it is gone, its segment was deleted meanwhile (the
	 * name may even belong to a successor), and there is nothing to keep. */
	int fd = t->trunc ? openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
			  : openat(dirfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return !t->trunc && errno == ENOENT ? 0 : -1;
	int rc = t->len ? fio_pwrite_all(fd, t->bytes, t->len, (off_t)t->from) : 0;
	if (rc == 0 && t->sync && fsync(fd) != 0)
		rc = -1;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

void index_tail_done(struct index *ix, struct index_tail *t, bool written)
{
	/* Entries only grow while the partition is live (index_reset and
	 * index_forget_after run only while it opens), so the file now holds
	 * the first t->n entries of memory. */
	if (written && t->n <= ix->n && (t->trunc || !ix->rewrite)) {
		ix->stored = t->n;
		ix->rewrite = false;
		ix->unsynced = !t->sync;
	}
	free(t->bytes);
	t->bytes = NULL;
}

int index_store(struct index *ix, int dirfd, const char *name, bool sync)
{
	struct index_tail t;
	if (index_unstored(ix) == 0 && !(sync && ix->unsynced))
		return 0;
	if (!index_take(ix, &t, sync))
		return -1;
	int rc = index_tail_write(ix, &t, dirfd, name);
	index_tail_done(ix, &t, rc == 0);
	return rc;
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

/* Reads the whole file fd into a new buffer (*out, *len). 0, 1 when its
 * size is not whole entries within max_entries, -1 on I/O error. */
static int index_slurp(const struct index *ix, int fd, uint8_t **out, size_t *len)
{
	struct stat st;
	size_t es = entry_size(ix);
	*out = NULL;
	if (fstat(fd, &st) != 0)
		return -1;
	*len = (size_t)st.st_size;
	if (*len % es != 0 || *len / es > ix->max_entries)
		return 1;
	if (*len == 0)
		return 0;
	uint8_t *p = malloc(*len);
	if (p == NULL)
		return -1;
	for (size_t got = 0; got < *len;) {
		ssize_t r = pread(fd, p + got, *len - got, (off_t)got);
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
	*out = p;
	return 0;
}

int index_load(struct index *ix, int dirfd, uint64_t log_size, int64_t next_offset)
{
	char name[64];
	index_file_name(ix, name, sizeof name);
	ix->n = 0;
	ix->stored = 0;
	ix->rewrite = true;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	uint8_t *p;
	size_t len;
	int rc = index_slurp(ix, fd, &p, &len);
	int e = errno;
	close(fd);
	errno = e;
	if (rc != 0 || len == 0) {
		ix->rewrite = rc != 0;
		return rc;
	}
	free(ix->buf);
	ix->buf = p;
	ix->cap = len;
	ix->n = len / entry_size(ix);
	if (!index_consistent(ix, log_size, next_offset)) {
		ix->n = 0;
		return 1;
	}
	ix->stored = ix->n;
	ix->rewrite = false;
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
