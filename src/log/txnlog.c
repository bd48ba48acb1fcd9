/*
 * txnlog.c — the partition log's side of transactions: markers, the last
 * stable offset, the aborted-transaction list and its `.txnindex` files,
 * the KIP-890 verify hook (plog.h, "transactions", has the contract).
 *
 * A marker is a control batch the coordinator has this module write:
 *
 *   batch: attributes TRANSACTIONAL | CONTROL, ProducerId/Epoch of the
 *          transaction, BaseSequence -1, one record:
 *   key   +---------------+---------------+   value +---------------+--------------------+
 *         | version int16 | type int16    |         | version int16 | CoordinatorEpoch   |
 *         | 0             | 0 ABORT 1 COMMIT        | 0             | int32              |
 *         +---------------+---------------+         +---------------+--------------------+
 *
 * `.txnindex` (one per segment, "<base>.txnindex", only when the segment
 * holds an ABORT marker of an open transaction; Kafka's TransactionIndex):
 *
 *   +---------+------------+-------------+------------+----------------+
 *   | Version | ProducerId | FirstOffset | LastOffset | LastStableOffset|  34 bytes,
 *   | int16=0 | int64      | int64       | int64      | int64           |  big-endian
 *   +---------+------------+-------------+------------+----------------+
 *   LastOffset: the ABORT marker's offset, in the segment's range;
 *   LastStableOffset: the LSO right after the marker.
 *
 * State and who moves it (all under pl->mu):
 *   pl->ps (pstate)   open transactions: pstate_update opens (plog.c),
 *                     pstate_marker closes (plog_append_marker);
 *   pl->unstable      = pstate_first_unstable(ps): lowered BEFORE leo covers
 *                     a batch that opens a transaction (plog__write_locked),
 *                     raised after a marker closes one, once its aborted
 *                     entry is in the list; so any reader that sees an
 *                     offset as stable also finds its aborted entry;
 *   pl->aborted       sorted by last offset, appended by ABORT markers,
 *                     cut at the head by retention / DeleteRecords.
 *
 * LSO = max(log start, min(unstable, leo)) — lock-free: leo is loaded
 * first, so the bound stored before it is seen with it.
 *
 * Durability: an entry is appended to its segment's file under mu, in the
 * same hold as its marker; the file stays open (segment.txn_fd) and
 * segment_sync syncs it with the .log, so the flush that moves the
 * recovery point past a marker has made its entry durable too (Kafka
 * flushes a segment's transaction index with it likewise). Recovery
 * (psnap_recover drives it):
 *   1. txnlog__load: every segment's file is read and checked (whole
 *      entries, version 0, producer id >= 0, 0 <= first <= last, last in
 *      the segment's offsets and above the previous entry's). A damaged
 *      file is REBUILT, never trusted nor dropped silently: its segment's
 *      base bounds where the producer-state scan starts (a snapshot at or
 *      below it, else the log start), and step 2 rewrites it;
 *   2. the producer-state scan replays markers (txnlog__scan_marker): an
 *      ABORT closing an open transaction yields its entry, exactly as at
 *      append time; txnlog__recovered keeps the loaded entries below the
 *      scan start, adds the scanned ones and rewrites the files of the
 *      scanned segments (tmp, fsync, rename, fsync of the dir). For a
 *      marker that both the scan and a valid file know, the file's entry
 *      is kept: it was made with the whole history, while a scan without
 *      a snapshot below the transaction's start (data gone with
 *      retention) sees it begin at its first remaining batch — which is
 *      all a reader can fetch of it anyway, so even a rebuilt entry
 *      filters the same records.
 *
 * Threads: every plog_* function here is safe from any thread. The verify
 * hook is called with pl->mu held (plog.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log_int.h"
#include "txn/pstate.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/log.h"

#define TXNIDX_EXT ".txnindex"

enum {
	MARKER_ABORT = 0,
	MARKER_COMMIT = 1,
	TXNIDX_MAX_BYTES = 64 << 20,    /* a larger file is damaged: ~2M aborts in one segment */
};

/* Process-wide; set by main.c before the listeners open, read under any
 * partition's mu afterwards (no concurrent writer). */
static plog_txn_verify_fn txn_verify;

void plog_set_txn_verify(plog_txn_verify_fn fn)
{
	txn_verify = fn;
}

int txnlog__verify(struct plog *pl, const struct batch_hdr *h)
{
	if (txn_verify == NULL)
		return KAFKA_NONE;
	const struct pstate_entry *e = pstate_find(pl->ps, h->producer_id);
	if (e != NULL && e->txn_first_offset >= 0)
		return KAFKA_NONE;      /* verified when the transaction began here */
	return txn_verify(h->producer_id, h->producer_epoch, pl->topic, pl->partition);
}

/* ========================================================= the list */

static int list_push(struct txn_list *l, const struct txn_entry *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct txn_entry *v = realloc(l->v, cap * sizeof *v);
		if (v == NULL)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *e;
	return 0;
}

static void list_free(struct txn_list *l)
{
	free(l->v);
	*l = (struct txn_list){ 0 };
}

/* Index of the first entry whose last offset is >= off. */
static size_t list_lower(const struct txn_list *l, int64_t off)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->v[mid].last_offset < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void txnlog__free(struct plog *pl)
{
	list_free(&pl->aborted);
}

void txnlog__truncate_head(struct plog *pl, int64_t start)
{
	struct txn_list *l = &pl->aborted;
	size_t k = list_lower(l, start);
	if (k > 0) {
		memmove(l->v, l->v + k, (l->n - k) * sizeof *l->v);
		l->n -= k;
	}
}

ssize_t txnlog__entries(struct plog *pl, int64_t from, int64_t to, struct txn_entry **out)
{
	*out = NULL;
	pthread_mutex_lock(&pl->mu);
	size_t i = list_lower(&pl->aborted, from), j = list_lower(&pl->aborted, to);
	size_t n = j > i ? j - i : 0;
	if (n > 0 && (*out = malloc(n * sizeof **out)) != NULL)
		memcpy(*out, pl->aborted.v + i, n * sizeof **out);
	pthread_mutex_unlock(&pl->mu);
	return n > 0 && *out == NULL ? -1 : (ssize_t)n;
}

ssize_t plog_aborted_txns(struct plog *pl, int64_t from, int64_t to, struct plog_aborted **out)
{
	*out = NULL;
	pthread_mutex_lock(&pl->mu);
	const struct txn_list *l = &pl->aborted;
	size_t i = list_lower(l, from), end = i;
	/* Kafka's collectAbortedTxns: an entry whose LSO is >= to is the
	 * last that can matter — every later one began at or after it. */
	while (end < l->n && (end == i || l->v[end - 1].lso < to))
		end++;
	struct plog_aborted *v = end > i ? malloc((end - i) * sizeof *v) : NULL;
	size_t n = 0;
	for (size_t k = i; v != NULL && k < end; k++)
		if (l->v[k].first_offset < to)
			v[n++] = (struct plog_aborted){ l->v[k].pid, l->v[k].first_offset,
							l->v[k].last_offset };
	pthread_mutex_unlock(&pl->mu);
	if (end > i && v == NULL)
		return -1;
	if (n == 0) {
		free(v);
		return 0;
	}
	*out = v;
	return (ssize_t)n;
}

/* ================================================================ LSO */

int64_t plog_last_stable_offset(const struct plog *pl)
{
	int64_t leo = atomic_load(&pl->leo);       /* first: see the file comment */
	int64_t lso = atomic_load(&pl->unstable);
	int64_t start = atomic_load(&pl->start);
	if (lso > leo)
		lso = leo;
	return lso > start ? lso : start;
}

/* ============================================================= markers */

static void be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void be32(uint8_t *p, uint32_t v) { be16(p, (uint16_t)(v >> 16)); be16(p + 2, (uint16_t)v); }
static void be64(uint8_t *p, uint64_t v) { be32(p, (uint32_t)(v >> 32)); be32(p + 4, (uint32_t)v); }

/* The marker batch (file comment). malloc'd; NULL when out of memory. */
static uint8_t *marker_build(int64_t pid, int16_t epoch, int32_t coordinator_epoch, bool commit,
			     int64_t now_ms, size_t *len)
{
	uint8_t key[4], value[6];
	be16(key, 0);
	be16(key + 2, commit ? MARKER_COMMIT : MARKER_ABORT);
	be16(value, 0);
	be32(value + 2, (uint32_t)coordinator_epoch);
	struct batch_kv kv = { key, sizeof key, value, sizeof value };
	struct batch_producer prod = {
		.producer_id = pid, .producer_epoch = epoch, .base_sequence = -1,
		.attributes = BATCH_ATTR_TRANSACTIONAL | BATCH_ATTR_CONTROL,
	};
	return batch_build_kv_producer(0, now_ms, 1, &kv, &prod, len);
}

int txnlog__parse_marker(const uint8_t *p, size_t n, bool *commit, int32_t *coordinator_epoch)
{
	const uint8_t *recs;
	uint8_t *owned = NULL;
	size_t len, pos = 0;
	struct record_view rec;
	int rc = -1;
	if (batch_records(p, n, 1 << 20, &recs, &len, &owned) != KAFKA_NONE)
		return -1;
	if (batch_next_record(recs, len, &pos, &rec) == 0 && rec.key_len == 4 &&
	    rec.value_len >= 6) {
		int type = rec.key[2] << 8 | rec.key[3];
		*commit = type == MARKER_COMMIT;
		*coordinator_epoch = (int32_t)((uint32_t)rec.value[2] << 24 | (uint32_t)rec.value[3] << 16 |
					       (uint32_t)rec.value[4] << 8 | rec.value[5]);
		rc = type == MARKER_COMMIT || type == MARKER_ABORT ? 0 : -1;
	}
	free(owned);
	return rc;
}

/* ========================================================= the files */

static void entry_encode(uint8_t *p, const struct txn_entry *e)
{
	be16(p, 0);
	be64(p + 2, (uint64_t)e->pid);
	be64(p + 10, (uint64_t)e->first_offset);
	be64(p + 18, (uint64_t)e->last_offset);
	be64(p + 26, (uint64_t)e->lso);
}

int txnlog__write_file(int dirfd, const char *name, const struct txn_entry *v, size_t n)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno;
	uint8_t buf[64 * TXNIDX_ENTRY];
	int e = 0;
	for (size_t i = 0; e == 0 && i < n;) {
		size_t k = 0;
		for (; k < 64 && i < n; k++, i++)
			entry_encode(buf + k * TXNIDX_ENTRY, &v[i]);
		e = fio_write_all(fd, buf, k * TXNIDX_ENTRY) == 0 ? 0 : errno;
	}
	if (e == 0 && fsync(fd) != 0)
		e = errno;
	close(fd);
	return e;
}

/* Appends e to seg's file (opened, or created, on its first entry and
 * kept open in seg->txn_fd for segment_sync). 0, or -1 with errno. mu. */
static int txnidx_append(struct plog *pl, struct segment *seg, const struct txn_entry *e)
{
	uint8_t buf[TXNIDX_ENTRY];
	int fd = atomic_load(&seg->txn_fd);
	if (fd < 0) {
		char name[64];
		segment_name(name, sizeof name, seg->base_offset, TXNIDX_EXT);
		if (plog__dir_get(pl) < 0)
			return -1;
		fd = openat(pl->dirfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		int oe = errno;
		plog__dir_put(pl);
		if (fd < 0) {
			errno = oe;
			return -1;
		}
		atomic_store(&seg->txn_fd, fd);
		pl->dir_dirty = true;   /* the name may be new: the flusher fsyncs the dir */
	}
	entry_encode(buf, e);
	return fio_write_all(fd, buf, sizeof buf);
}

/* ======================================================= the marker path */

/* Closes pid's transaction after its marker landed at off in seg:
 * pstate, the aborted list and file, the LSO bound. Returns 0, or -1 with
 * *what set (the partition fails). mu. */
static int marker_record(struct plog *pl, int64_t pid, int16_t epoch, int32_t coordinator_epoch,
			 bool commit, int64_t off, int64_t now_ms, struct segment *seg,
			 const char **what)
{
	int64_t first;
	int rc = pstate_marker(pl->ps, pid, epoch, coordinator_epoch, off, now_ms, &first);
	if (rc < 0) {
		*what = "producer state update (out of memory) for a marker of";
		return -1;
	}
	if (rc == 0)
		return 0;               /* nothing was open here */
	int64_t unstable = pstate_first_unstable(pl->ps);
	if (!commit) {
		struct txn_entry e = { pid, first, off, unstable < off + 1 ? unstable : off + 1 };
		if (list_push(&pl->aborted, &e) != 0) {
			*what = "aborted transaction list (out of memory) for a marker of";
			return -1;
		}
		if (txnidx_append(pl, seg, &e) != 0) {
			*what = "write of the .txnindex of";
			return -1;
		}
	}
	/* After the entry is in the list: whoever sees the LSO move finds it. */
	atomic_store(&pl->unstable, unstable);
	return 0;
}

int plog_append_marker(struct plog *pl, int64_t pid, int16_t epoch, int32_t coordinator_epoch,
		       bool commit, int64_t now_ms, int64_t *offset)
{
	size_t len;
	uint8_t *b = marker_build(pid, epoch, coordinator_epoch, commit, now_ms, &len);
	if (b == NULL)
		return KAFKA_KAFKA_STORAGE_ERROR;
	struct plog_append_result res;
	struct plog_done done;
	const char *what = NULL;
	int err = KAFKA_KAFKA_STORAGE_ERROR, errnum = 0;
	pthread_mutex_lock(&pl->mu);
	if (pl->closed || atomic_load(&pl->err) != KAFKA_NONE)
		goto out;
	if ((err = pstate_marker_check(pl->ps, pid, epoch)) != KAFKA_NONE)
		goto out;
	err = KAFKA_KAFKA_STORAGE_ERROR;
	if (plog__write_locked(pl, b, len, 1, 1, false, now_ms, &res, &done) != 0)
		goto out;
	*offset = res.base_offset;
	if (marker_record(pl, pid, epoch, coordinator_epoch, commit, res.base_offset, now_ms,
			  done.seg, &what) != 0)
		errnum = what[0] == 'w' ? errno : ENOMEM;
	int64_t seg_base = done.seg->base_offset;
	pthread_mutex_unlock(&pl->mu);
	free(b);
	if (what != NULL) {
		/* The marker is in the log but its bookkeeping is not: fail
		 * safe, reopening rebuilds it from the log (recovery). */
		char name[64];
		segment_name(name, sizeof name, seg_base, ".log");
		plog__fail(pl, what, name, errnum);
	}
	plog__appended(pl, &done);
	return what == NULL ? KAFKA_NONE : KAFKA_KAFKA_STORAGE_ERROR;
out:
	pthread_mutex_unlock(&pl->mu);
	free(b);
	return err;
}

/* ============================================================= recovery */

static int64_t rd64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

/* Reads seg's file: 0 (entries pushed to l, or no file), 1 damaged (why
 * set; nothing pushed), -1 out of memory or read error (errno). Here and in
 * txnidx_rewrite / txnlog__recovered: recovery's dir reference is held. */
static int txnidx_read(struct plog *pl, const struct segment *seg, struct txn_list *l,
		       char *why, size_t whylen)
{
	char name[64];
	segment_name(name, sizeof name, seg->base_offset, TXNIDX_EXT);
	int fd = openat(pl->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	struct stat st;
	uint8_t *p = NULL;
	int rc = -1;
	size_t mark = l->n;
	if (fstat(fd, &st) != 0)
		goto out;
	size_t n = (size_t)st.st_size;
	if (st.st_size > TXNIDX_MAX_BYTES || n % TXNIDX_ENTRY != 0) {
		snprintf(why, whylen, "size %lld is not a whole number of entries",
			 (long long)st.st_size);
		rc = 1;
		goto out;
	}
	if (n > 0 && ((p = malloc(n)) == NULL || pread(fd, p, n, 0) != (ssize_t)n)) {
		if (p != NULL)
			errno = EIO;
		goto out;
	}
	rc = 0;
	for (size_t off = 0; rc == 0 && off < n; off += TXNIDX_ENTRY) {
		const uint8_t *q = p + off;
		struct txn_entry e = { rd64(q + 2), rd64(q + 10), rd64(q + 18), rd64(q + 26) };
		int64_t prev = l->n > 0 ? l->v[l->n - 1].last_offset : -1;
		if (q[0] != 0 || q[1] != 0 || e.pid < 0 || e.first_offset < 0 ||
		    e.first_offset > e.last_offset || e.last_offset < seg->base_offset ||
		    e.last_offset >= seg->next_offset || e.last_offset <= prev) {
			snprintf(why, whylen, "entry %zu is invalid", off / TXNIDX_ENTRY);
			rc = 1;
		} else if (list_push(l, &e) != 0) {
			errno = ENOMEM;
			rc = -1;
		}
	}
out:
	if (rc != 0)
		l->n = mark;
	free(p);
	close(fd);
	return rc;
}

int txnlog__load(struct plog *pl, int64_t *bad)
{
	*bad = INT64_MAX;
	list_free(&pl->aborted);
	for (size_t i = 0; i < pl->nsegs; i++) {
		char why[96];
		int rc = txnidx_read(pl, pl->segs[i], &pl->aborted, why, sizeof why);
		if (rc < 0) {
			log_error("log", "%s: cannot read the .txnindex of segment %020lld: %s", pl->name,
				  (long long)pl->segs[i]->base_offset, strerror(errno));
			return -1;
		}
		if (rc == 1 && *bad == INT64_MAX) {
			*bad = pl->segs[i]->base_offset;
			log_warn("log", "%s: %020lld%s is damaged (%s): rebuilding the aborted "
				 "transactions from the log", pl->name, (long long)*bad, TXNIDX_EXT, why);
		}
	}
	return 0;
}

int txnlog__scan_marker(struct plog *pl, const struct batch_hdr *h, const uint8_t *p, size_t n,
			int64_t now_ms, struct txn_list *scanned)
{
	bool commit;
	int32_t cepoch;
	if (txnlog__parse_marker(p, n, &commit, &cepoch) != 0) {
		log_warn("log", "%s: control batch at offset %lld is no transaction marker; ignored",
			 pl->name, (long long)h->base_offset);
		return 1;
	}
	int64_t first = -1;
	int rc = pstate_marker(pl->ps, h->producer_id, h->producer_epoch, cepoch, h->base_offset,
			       now_ms, &first);
	if (rc < 0)
		return -1;
	if (commit)
		return 0;
	/* rc 0: an ABORT whose transaction began before what the scan knows
	 * (first -1): txnlog__recovered takes the loaded file's entry for it. */
	int64_t unstable = pstate_first_unstable(pl->ps);
	int64_t off = h->base_offset;
	struct txn_entry e = { h->producer_id, rc == 1 ? first : -1, off,
			       unstable < off + 1 ? unstable : off + 1 };
	return list_push(scanned, &e) == 0 ? 0 : -1;
}

/* The loaded entry for (pid, last) among l[from_i..], or NULL. */
static const struct txn_entry *loaded_find(const struct txn_list *l, size_t from_i, int64_t pid,
					   int64_t last)
{
	size_t i = list_lower(l, last);
	return i >= from_i && i < l->n && l->v[i].last_offset == last && l->v[i].pid == pid
		? &l->v[i] : NULL;
}

/* Rewrites the file of seg from pl->aborted (tmp, fsync, rename; removed
 * when seg has no entry). 0 unchanged (no entry, no file), 1 rewritten or
 * removed, or a negated errno value. */
static int txnidx_rewrite(struct plog *pl, const struct segment *seg)
{
	char name[64], tmp[80];
	segment_name(name, sizeof name, seg->base_offset, TXNIDX_EXT);
	size_t i = list_lower(&pl->aborted, seg->base_offset);
	size_t j = list_lower(&pl->aborted, seg->next_offset);
	if (i == j)
		return unlinkat(pl->dirfd, name, 0) == 0 ? 1 : errno == ENOENT ? 0 : -errno;
	snprintf(tmp, sizeof tmp, "%s.tmp", name);
	int e = txnlog__write_file(pl->dirfd, tmp, pl->aborted.v + i, j - i);
	if (e == 0 && renameat(pl->dirfd, tmp, pl->dirfd, name) != 0)
		e = errno;
	if (e != 0)
		unlinkat(pl->dirfd, tmp, 0);
	return e == 0 ? 1 : -e;
}

int txnlog__recovered(struct plog *pl, int64_t from, struct txn_list *scanned)
{
	struct txn_list *l = &pl->aborted;
	size_t keep = list_lower(l, from);
	struct txn_list out = { 0 };
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < keep; i++)
		rc = list_push(&out, &l->v[i]);
	for (size_t i = 0; rc == 0 && i < scanned->n; i++) {
		/* A valid file's entry for the same marker was computed at append
		 * time, with the whole history: it wins over the scan's, which
		 * may start without the transaction's beginning (no snapshot,
		 * data gone with retention). Without one, the scan's entry. */
		const struct txn_entry *e = &scanned->v[i];
		const struct txn_entry *f = loaded_find(l, keep, e->pid, e->last_offset);
		if (f != NULL)
			e = f;
		else if (e->first_offset < 0)
			continue;       /* no open transaction known: nothing to skip */
		rc = list_push(&out, e);
	}
	list_free(scanned);
	if (rc != 0) {
		list_free(&out);
		log_error("log", "%s: out of memory rebuilding the aborted transactions", pl->name);
		return -1;
	}
	list_free(l);
	*l = out;
	bool rewrote = false;
	for (size_t i = 0; i < pl->nsegs; i++) {
		const struct segment *seg = pl->segs[i];
		if (seg->next_offset <= from && seg->base_offset < from)
			continue;       /* wholly below the scan: its file was loaded as is */
		int e = txnidx_rewrite(pl, seg);
		if (e < 0) {
			log_error("log", "%s: cannot rewrite %020lld%s: %s", pl->name,
				  (long long)seg->base_offset, TXNIDX_EXT, strerror(-e));
			return -1;
		}
		rewrote |= e == 1;
	}
	if (rewrote && plog__sync_dir(pl->dirfd) != 0)
		return -1;
	atomic_store(&pl->unstable, pstate_first_unstable(pl->ps));
	return 0;
}
