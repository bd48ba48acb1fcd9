/*
 * cleaner_pass.c — one cleaning (compaction) of a partition: keep the
 * latest record of every key, drop old tombstones, preserve offsets.
 *
 * The log as the cleaner sees it (offsets grow to the right):
 *
 *   log start        first dirty            cleanable end       active base   LEO
 *   |---- clean ------|------- dirty --------|---- uncleanable ----|-- active --|
 *                     |--- offset map ---|map end
 *   |------- rewritten this pass ---------->| (whole segments up to map end)
 *
 *  - clean: cleaned by an earlier pass (first dirty comes from the
 *    cleaner-offset-checkpoint, cleaner.c);
 *  - cleanable end: the base of the active segment, or of the first segment
 *    not yet fsync'd, or whose largest timestamp is newer than
 *    now - min.compaction.lag.ms, or that holds the last stable offset
 *    (cpass_measure): never past an open transaction, whose records may
 *    still be aborted (Kafka's firstUncleanableDirtyOffset);
 *  - map end: where the offset map filled up (Kafka stops there too); the
 *    next pass goes on from it.
 *
 * Steps of cpass_run:
 *  1. Snapshot the segment list under pl->mu (a reference on each segment;
 *     non-active segments never change, so they are read without the lock).
 *  2. Producer ids: walk every batch header of the log and note each
 *     producer id's last batch (kept even when emptied: an empty batch
 *     keeps the producer's last sequence, Kafka's rule).
 *  3. Offset map: for every record with a key in [first dirty, cleanable
 *     end), map[hash(key)] = offset; control batches and batches of aborted
 *     transactions are skipped (an aborted value in the map would make step
 *     4 drop the committed older value of its key). Before a batch, if its
 *     RecordsCount might not fit, the map ends at its base.
 *  4. Rewrite the segments below the map end in groups of consecutive
 *     segments whose summed size fits segment.bytes (and offsets relative
 *     to the group's base fit int32). A record is kept iff it has no key,
 *     or its offset >= map[key] (or the key is not in the map); a kept
 *     tombstone (null value) is dropped when its segment was cleaned
 *     before (it lies below first dirty) and that segment's largest
 *     timestamp is older than now - delete.retention.ms.
 *     Per batch: control batches are copied as they are (markers stay:
 *     readers and the aborted index need them; Kafka's removal of old
 *     markers after delete.retention.ms is not done); a batch of an aborted
 *     transaction keeps no record; a batch keeping
 *     all its records is copied byte for byte; one keeping some is rebuilt
 *     with the same header (BaseOffset, LastOffsetDelta, timestamps,
 *     producer fields, codec), only RecordsCount, the records, the length
 *     and the CRC change; one keeping none disappears, unless it is its
 *     producer's last batch (then a header-only batch, RecordsCount 0, no
 *     codec). Each group's output is swapped in by cleaner_swap.c, with a
 *     `.txnindex` holding the aborted transactions whose markers lie in the
 *     group (all of them: markers are kept).
 *  5. The new first dirty offset is the map end.
 *
 * Aborted transactions: the partition's aborted list (txnlog.c) from the
 * log start, read once after the snapshot, sorted by (producer id, first
 * offset). A transactional data batch is aborted when its producer has an
 * entry with first offset <= its base <= last offset (a producer has one
 * open transaction at a time in a partition, so its entries do not
 * overlap). The list cannot miss a transaction that matters: everything
 * below the cleanable end was stable when it was measured, and a
 * transaction aborted later started at or above that LSO.
 *
 * The tombstone clock: Kafka (before KIP-534) uses the last-modified time
 * of the last cleaned segment; KIP-534 stamps a delete horizon into the
 * batch. Here a tombstone survives at least one cleaning (it must first be
 * below first dirty) and then until the largest record timestamp of its
 * segment is delete.retention.ms old. Record timestamps, not file times,
 * so a copied or restored log behaves the same.
 *
 * Thread: a cleaner thread (or a test), one pass per partition at a time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/cleaner_int.h"
#include "util/clock.h"
#include "util/crc32c.h"
#include "util/err.h"
#include "util/log.h"

/* Largest decompressed batch the cleaner handles: the broker refused larger
 * ones at produce time (max.message.bytes), so this only bounds damage. */
enum { RECORDS_LIMIT = 1 << 28, READAHEAD = 1 << 20 };

/* One source segment: its range and size, snapshot under pl->mu. */
struct cseg {
	struct segment *seg;        /* referenced for the pass */
	int64_t base, end;          /* offsets [base, end): end = the next segment's base */
	uint64_t size;              /* bytes to read */
	int64_t max_ts;             /* largest batch MaxTimestamp, -1 none */
};

/* Producer id -> base offset of its last batch (open addressing). */
struct pidmap {
	int64_t *v;                 /* owned: 2 words a slot: pid + 1 (0: empty), base offset */
	size_t cap, n;
};

struct pass {
	struct plog *pl;            /* borrowed (the caller holds a reference) */
	struct cleaner_ctx *cx;
	struct plog_config cfg;     /* snapshot at the start of the pass */
	int64_t now_ms;
	int64_t first_dirty, cleanable_end, map_end;
	struct cseg *segs;          /* owned: every segment at the snapshot, active last */
	size_t nsegs, ncleanable;   /* segs[0..ncleanable) lie below cleanable_end */
	size_t first_dirty_seg;
	struct cmap map;
	struct pidmap pids;
	uint8_t *wbuf;              /* owned: output not yet written */
	size_t wlen, wcap;
	uint8_t *kept;              /* owned: kept records of the batch at hand */
	size_t klen, kcap;
	uint8_t *built;             /* owned: a rebuilt uncompressed batch */
	size_t bcap;
	struct txn_entry *aborted;  /* owned: aborted transactions with a marker at or after
				     * the first segment, by (pid, first offset) */
	size_t naborted;
	struct segment *out;        /* the group's output being written */
	bool drop_tombstones;       /* the source segment at hand allows it (step 4) */
	int64_t bytes_in, bytes_out, removed;
};

/* ============================================================ helpers */

static bool stopped(const struct cleaner_ctx *cx)
{
	return cx->stop != NULL && atomic_load(cx->stop);
}

static int grow(uint8_t **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 4096;
	while (c < need)
		c *= 2;
	uint8_t *q = realloc(*p, c);
	if (q == NULL)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void cleaner_throttle(struct cleaner_ctx *cx, int64_t n)
{
	if (cx->rate <= 0 || cx->rate >= 1e300)
		return;
	int64_t now = clock_mono_ms();
	if (cx->win_start_ms == 0 || now - cx->win_start_ms > 1000 * 60) {
		cx->win_start_ms = now;  /* a fresh window after a long pause */
		cx->win_bytes = 0;
	}
	cx->win_bytes += n;
	int64_t due = cx->win_start_ms + (int64_t)((double)cx->win_bytes * 1000.0 / cx->rate);
	if (due <= now || stopped(cx))
		return;
	if (cx->sleep_mu == NULL) {
		struct timespec ts = { (due - now) / 1000, (long)((due - now) % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t ns = (int64_t)ts.tv_nsec + (due - now) * 1000000LL;
	ts.tv_sec += (time_t)(ns / 1000000000LL);
	ts.tv_nsec = (long)(ns % 1000000000LL);
	pthread_mutex_lock(cx->sleep_mu);
	if (!stopped(cx))
		pthread_cond_timedwait(cx->sleep_cond, cx->sleep_mu, &ts);
	pthread_mutex_unlock(cx->sleep_mu);
}

/* ============================================================ pid map */

static int pidmap_set(struct pidmap *m, int64_t pid, int64_t base)
{
	if (2 * (m->n + 1) > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		int64_t *v = calloc(cap, 2 * sizeof *v);
		if (v == NULL)
			return -1;
		struct pidmap bigger = { v, cap, 0 };
		for (size_t i = 0; i < m->cap; i++)
			if (m->v[2 * i] != 0)
				pidmap_set(&bigger, m->v[2 * i] - 1, m->v[2 * i + 1]);
		free(m->v);
		*m = bigger;
	}
	size_t i = (size_t)((uint64_t)pid * 0x9e3779b97f4a7c15ULL >> 20) % m->cap;
	while (m->v[2 * i] != 0 && m->v[2 * i] != pid + 1)
		i = (i + 1) % m->cap;
	if (m->v[2 * i] == 0)
		m->n++;
	m->v[2 * i] = pid + 1;
	m->v[2 * i + 1] = base;
	return 0;
}

/* The base offset of pid's last batch, -1 when unknown. */
static int64_t pidmap_get(const struct pidmap *m, int64_t pid)
{
	if (m->cap == 0)
		return -1;
	size_t i = (size_t)((uint64_t)pid * 0x9e3779b97f4a7c15ULL >> 20) % m->cap;
	while (m->v[2 * i] != 0) {
		if (m->v[2 * i] == pid + 1)
			return m->v[2 * i + 1];
		i = (i + 1) % m->cap;
	}
	return -1;
}

/* ================================================= aborted transactions */

static int txn_cmp(const void *a, const void *b)
{
	const struct txn_entry *x = a, *y = b;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->first_offset < y->first_offset ? -1 : x->first_offset > y->first_offset;
}

/* Loads the aborted list (see the header) after the snapshot. 0 or
 * CPASS_ERROR (out of memory). Takes pl->mu (inside txnlog__entries). */
static int pass_aborted(struct pass *ps)
{
	ssize_t n = txnlog__entries(ps->pl, ps->segs[0].base, INT64_MAX, &ps->aborted);
	if (n < 0)
		return CPASS_ERROR;
	ps->naborted = (size_t)n;
	if (n > 1)
		qsort(ps->aborted, ps->naborted, sizeof *ps->aborted, txn_cmp);
	return 0;
}

/* Whether data batch h belongs to an aborted transaction. */
static bool batch_aborted(const struct pass *ps, const struct batch_hdr *h)
{
	if (!(h->attributes & BATCH_ATTR_TRANSACTIONAL) || (h->attributes & BATCH_ATTR_CONTROL) ||
	    h->producer_id < 0 || ps->naborted == 0)
		return false;
	/* The last entry of the producer starting at or below the base. */
	size_t lo = 0, hi = ps->naborted;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct txn_entry *e = &ps->aborted[mid];
		if (e->pid < h->producer_id ||
		    (e->pid == h->producer_id && e->first_offset <= h->base_offset))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return false;
	const struct txn_entry *e = &ps->aborted[lo - 1];
	return e->pid == h->producer_id && h->base_offset <= e->last_offset;
}

/* ========================================================== measuring */

void cpass_measure(struct plog *pl, int64_t now_ms, int64_t *first_dirty, int64_t *end,
		   int64_t *clean, int64_t *dirty, size_t *first_dirty_seg)
{
	size_t n = pl->nsegs, stop = n - 1;
	int64_t lag = pl->cfg.min_compaction_lag_ms, lso = plog_last_stable_offset(pl);
	for (size_t i = 0; i + 1 < n; i++) {
		const struct segment *seg = pl->segs[i];
		if (seg->unsynced || (lag > 0 && seg->max_ts > now_ms - lag) ||
		    pl->segs[i + 1]->base_offset > lso) {
			stop = i;
			break;
		}
	}
	*end = pl->segs[stop]->base_offset;
	int64_t fd = *first_dirty, first = pl->segs[0]->base_offset;
	/* A checkpoint below the log, or past its end (the log was recreated
	 * or cut), restarts from the log's first offset, as Kafka does. */
	if (fd < first || fd > atomic_load(&pl->leo))
		fd = first;
	*first_dirty = fd;
	*clean = *dirty = 0;
	*first_dirty_seg = n;
	for (size_t i = 0; i < stop; i++) {
		int64_t next = pl->segs[i + 1]->base_offset;
		if (next <= fd) {
			*clean += (int64_t)pl->segs[i]->size;
		} else {
			if (*first_dirty_seg == n)
				*first_dirty_seg = i;
			*dirty += (int64_t)pl->segs[i]->size;
		}
	}
}

/* Step 1. Returns 0, CPASS_NOTHING, or CPASS_ERROR (OOM). */
static int pass_snapshot(struct pass *ps)
{
	struct plog *pl = ps->pl;
	int64_t clean, dirty;
	pthread_mutex_lock(&pl->mu);
	if (pl->closed || atomic_load(&pl->err) != KAFKA_NONE) {
		pthread_mutex_unlock(&pl->mu);
		return CPASS_NOTHING;
	}
	ps->cfg = pl->cfg;
	cpass_measure(pl, ps->now_ms, &ps->first_dirty, &ps->cleanable_end, &clean, &dirty,
		      &ps->first_dirty_seg);
	ps->segs = calloc(pl->nsegs, sizeof *ps->segs);
	if (ps->segs == NULL || dirty == 0) {
		pthread_mutex_unlock(&pl->mu);
		return ps->segs == NULL ? CPASS_ERROR : CPASS_NOTHING;
	}
	for (size_t i = 0; i < pl->nsegs; i++) {
		struct segment *seg = pl->segs[i];
		fileref_ref(&seg->ref);
		ps->segs[i] = (struct cseg){ seg, seg->base_offset,
			i + 1 < pl->nsegs ? pl->segs[i + 1]->base_offset : seg->next_offset,
			seg->size, seg->max_ts };
		if (seg->base_offset < ps->cleanable_end)
			ps->ncleanable = i + 1;
	}
	ps->nsegs = pl->nsegs;
	pthread_mutex_unlock(&pl->mu);
	return 0;
}

/* ============================================================ reading */

/* Reads segment s batch by batch: fn(ps, s, p, n, h) for each; with
 * headers_only, p is NULL. Returns 0, fn's non-zero result, or CPASS_ERROR
 * on an unreadable batch. */
typedef int (*batch_fn)(struct pass *ps, const struct cseg *s, const uint8_t *p, size_t n,
			const struct batch_hdr *h);

static int pass_read(struct pass *ps, const struct cseg *s, bool headers_only, batch_fn fn)
{
	struct segment_reader r;
	struct batch_hdr h;
	uint64_t pos = 0;
	int rc = 0, hr = 0;
	segment_reader_init(&r, s->seg, s->size, headers_only ? 64 * 1024 : READAHEAD);
	while (rc == 0 && (hr = segment_reader_header(&r, pos, &h)) == 1) {
		size_t n = batch_total_size(&h);
		const uint8_t *p = NULL;
		if (!headers_only && (p = segment_reader_peek(&r, pos, n)) == NULL) {
			hr = -2;
			break;
		}
		if (stopped(ps->cx))
			rc = CPASS_STOPPED;
		else
			rc = fn(ps, s, p, n, &h);
		pos += n;
	}
	segment_reader_fini(&r);
	if (rc == 0 && hr != 0) {
		log_error("log", "%s: cleaner: segment %020lld: unreadable batch at position %llu: %s",
			  ps->pl->name, (long long)s->base, (unsigned long long)pos,
			  hr == -2 ? strerror(errno) : "bad header");
		return CPASS_ERROR;
	}
	if (!headers_only)
		cleaner_throttle(ps->cx, (int64_t)s->size);
	return rc;
}

/* The records of a batch (decompressed when needed). A batch that does not
 * decode is kept whole by the caller: the cleaner never loses data it
 * cannot read. */
static int pass_records(struct pass *ps, const uint8_t *p, size_t n, const struct batch_hdr *h,
			const uint8_t **recs, size_t *len, uint8_t **owned)
{
	int err = batch_records(p, n, RECORDS_LIMIT, recs, len, owned);
	if (err != KAFKA_NONE)
		log_warn("log", "%s: cleaner: batch at offset %lld does not decode (%s); kept as is",
			 ps->pl->name, (long long)h->base_offset, kafka_err_name(err));
	return err;
}

/* ============================================================ step 2 */

static int pid_batch(struct pass *ps, const struct cseg *s, const uint8_t *p, size_t n,
		     const struct batch_hdr *h)
{
	(void)s; (void)p; (void)n;
	if (h->producer_id >= 0 && pidmap_set(&ps->pids, h->producer_id, h->base_offset) != 0)
		return CPASS_ERROR;
	return 0;
}

/* ============================================================ step 3 */

static int map_batch(struct pass *ps, const struct cseg *s, const uint8_t *p, size_t n,
		     const struct batch_hdr *h)
{
	(void)s;
	if (batch_last_offset(h) < ps->first_dirty)
		return 0;
	if (h->base_offset >= ps->cleanable_end)
		return 1;
	if (!cmap_room(&ps->map, (size_t)(h->records_count > 0 ? h->records_count : 0))) {
		ps->map_end = h->base_offset > ps->first_dirty ? h->base_offset : ps->first_dirty;
		return 1;  /* full: the map ends here */
	}
	if ((h->attributes & BATCH_ATTR_CONTROL) || batch_aborted(ps, h))
		return 0;
	const uint8_t *recs;
	size_t len, pos = 0;
	uint8_t *owned = NULL;
	if (pass_records(ps, p, n, h, &recs, &len, &owned) != KAFKA_NONE)
		return 0;
	struct record_view rec;
	while (batch_next_record(recs, len, &pos, &rec) == 0) {
		int64_t off = h->base_offset + rec.offset_delta;
		if (rec.key_len < 0 || off < ps->first_dirty)
			continue;
		uint64_t hash[2];
		cmap_hash(rec.key, (size_t)rec.key_len, hash);
		cmap_put(&ps->map, hash, off);
	}
	free(owned);
	return 0;
}

static int pass_build_map(struct pass *ps)
{
	uint64_t want = (uint64_t)(ps->cleanable_end - ps->first_dirty);
	if (cmap_init(&ps->map, ps->cx->map_bytes, want) != 0)
		return CPASS_ERROR;
	ps->map_end = ps->cleanable_end;
	for (size_t i = ps->first_dirty_seg; i < ps->ncleanable; i++) {
		int rc = pass_read(ps, &ps->segs[i], false, map_batch);
		if (rc == 1)
			break;
		if (rc != 0)
			return rc;
	}
	if (ps->map_end <= ps->first_dirty) {
		log_warn("log", "%s: cleaner: the offset map (%zu bytes) cannot hold the batch at "
			 "offset %lld; raise log.cleaner.dedupe.buffer.size", ps->pl->name,
			 ps->cx->map_bytes, (long long)ps->first_dirty);
		return CPASS_MAP_TOO_SMALL;
	}
	return 0;
}

/* ============================================================ step 4 */

/* Writes the buffered output bytes to out (throttled). 0, or -1 with errno. */
static int write_pending(struct pass *ps, struct segment *out)
{
	if (ps->wlen == 0)
		return 0;
	int e = segment_write(out, ps->wbuf, ps->wlen);
	if (e != 0) {
		errno = e;
		return -1;
	}
	out->size += ps->wlen;
	cleaner_throttle(ps->cx, (int64_t)ps->wlen);
	ps->wlen = 0;
	return 0;
}

/* Appends one output batch (whole bytes, header h) to the group's output,
 * indexing it. */
static int emit(struct pass *ps, struct segment *out, const uint8_t *p, size_t n,
		const struct batch_hdr *h)
{
	if (ps->wlen > 0 && ps->wlen + n > ps->cx->io_buffer && write_pending(ps, out) != 0)
		return CPASS_ERROR;
	if (grow(&ps->wbuf, &ps->wcap, ps->wlen + n) != 0)
		return CPASS_ERROR;
	memcpy(ps->wbuf + ps->wlen, p, n);
	segment_track(out, h, out->size + ps->wlen, ps->cfg.index_interval_bytes);
	ps->wlen += n;
	ps->bytes_out += (int64_t)n;
	return 0;
}

/* Rebuilds an uncompressed batch from its header and the kept records, or
 * a header-only one when count is 0 (codec bits cleared, as Kafka writes
 * a retained empty batch). Into ps->built. */
static int build_plain(struct pass *ps, const uint8_t *hdr, int32_t count, size_t *outlen)
{
	size_t n = BATCH_HEADER_SIZE + (count > 0 ? ps->klen : 0);
	if (grow(&ps->built, &ps->bcap, n) != 0)
		return -1;
	memcpy(ps->built, hdr, BATCH_HEADER_SIZE);
	if (count > 0)
		memcpy(ps->built + BATCH_HEADER_SIZE, ps->kept, ps->klen);
	else
		ps->built[22] &= (uint8_t)~BATCH_ATTR_CODEC_MASK;  /* Attributes low byte */
	put_be32(ps->built + 8, (uint32_t)(n - BATCH_LOG_OVERHEAD));
	put_be32(ps->built + 57, (uint32_t)count);
	put_be32(ps->built + 17, crc32c(0, ps->built + 21, n - 21));
	*outlen = n;
	return 0;
}

/* Emits what is left of a batch that lost records: kept of them remain in
 * ps->kept. */
static int emit_rebuilt(struct pass *ps, struct segment *out, const uint8_t *p,
			const struct batch_hdr *h, int32_t kept)
{
	int codec = h->attributes & BATCH_ATTR_CODEC_MASK;
	size_t n;
	struct batch_hdr oh;
	if (codec == CODEC_NONE || kept == 0) {
		if (build_plain(ps, p, kept, &n) != 0)
			return CPASS_ERROR;
		batch_parse_header(ps->built, n, &oh);
		return emit(ps, out, ps->built, n, &oh);
	}
	int err;
	uint8_t *b = batch_assemble(h, (enum batch_codec)codec, INT32_MIN, ps->kept, ps->klen, kept,
				    &n, &err);
	if (b == NULL) {
		log_error("log", "%s: cleaner: cannot rebuild the batch at offset %lld: %s", ps->pl->name,
			  (long long)h->base_offset, kafka_err_name(err));
		return CPASS_ERROR;
	}
	batch_parse_header(b, n, &oh);
	int rc = emit(ps, out, b, n, &oh);
	free(b);
	return rc;
}

/* Whether record rec of batch h stays (step 4's rule). */
static bool keep_record(struct pass *ps, const struct batch_hdr *h, const struct record_view *rec,
			bool drop_tombstones)
{
	if (rec->key_len < 0)
		return true;  /* no key: nothing supersedes it (Kafka refuses them at produce) */
	int64_t off = h->base_offset + rec->offset_delta;
	uint64_t hash[2];
	cmap_hash(rec->key, (size_t)rec->key_len, hash);
	int64_t latest = cmap_get(&ps->map, hash);
	if (latest >= 0 && off < latest)
		return false;
	return !(rec->value_len < 0 && drop_tombstones);
}

/* Whether the batch is the last one of its producer (step 2): such a batch
 * stays, emptied if need be, so the producer state rebuilt from the log
 * keeps the producer's last sequence and epoch (Kafka's rule). */
static bool producer_last(const struct pass *ps, const struct batch_hdr *h)
{
	return h->producer_id >= 0 && pidmap_get(&ps->pids, h->producer_id) == h->base_offset;
}

/* The per-batch work of step 4 for source segment s. */
static int clean_batch(struct pass *ps, struct segment *out, const uint8_t *p, size_t n,
		       const struct batch_hdr *h, bool drop_tombstones)
{
	ps->bytes_in += (int64_t)n;
	if (h->attributes & BATCH_ATTR_CONTROL)
		return emit(ps, out, p, n, h);
	if (batch_aborted(ps, h)) {
		/* No record of an aborted transaction survives (the read_committed
		 * readers skip them anyway; read_uncommitted ones lose what was
		 * never committed, as with Kafka's cleaner). */
		ps->removed += h->records_count > 0 ? h->records_count : 0;
		return producer_last(ps, h) ? emit_rebuilt(ps, out, p, h, 0) : 0;
	}
	const uint8_t *recs;
	size_t len, pos = 0;
	uint8_t *owned = NULL;
	if (pass_records(ps, p, n, h, &recs, &len, &owned) != KAFKA_NONE)
		return emit(ps, out, p, n, h);
	struct record_view rec;
	int32_t total = 0, kept = 0;
	ps->klen = 0;
	while (batch_next_record(recs, len, &pos, &rec) == 0) {
		total++;
		if (!keep_record(ps, h, &rec, drop_tombstones))
			continue;
		if (grow(&ps->kept, &ps->kcap, ps->klen + rec.raw_len) != 0) {
			free(owned);
			return CPASS_ERROR;
		}
		memcpy(ps->kept + ps->klen, rec.raw, rec.raw_len);
		ps->klen += rec.raw_len;
		kept++;
	}
	free(owned);
	ps->removed += total - kept;
	if (kept == total)
		return emit(ps, out, p, n, h);
	if (kept == 0 && !producer_last(ps, h))
		return 0;  /* the batch disappears; its offsets become a gap */
	return emit_rebuilt(ps, out, p, h, kept);
}

static int group_batch(struct pass *ps, const struct cseg *s, const uint8_t *p, size_t n,
		       const struct batch_hdr *h)
{
	(void)s;
	return clean_batch(ps, ps->out, p, n, h, ps->drop_tombstones);
}

static int flush_out(struct pass *ps, struct segment *out, int64_t end)
{
	if (write_pending(ps, out) != 0)
		return CPASS_ERROR;
	/* Seal: the time index ends with the largest timestamp (segment.c). */
	if (out->max_ts >= 0)
		index_push(&out->tidx, out->max_ts, out->max_ts_offset);
	if (cswap_store_indexes(ps->pl, out, end) != 0)
		return CPASS_ERROR;
	return 0;
}

/* Cleans segments [from, to) into one new segment and swaps it in. */
static int pass_group(struct pass *ps, size_t from, size_t to)
{
	int64_t base = ps->segs[from].base, end = ps->segs[to - 1].end;
	struct segment *out = cswap_create(ps->pl, &ps->cfg, base, end);
	if (out == NULL)
		return CPASS_ERROR;
	int64_t horizon = ps->now_ms - ps->cfg.delete_retention_ms;
	if (ps->cfg.delete_retention_ms < 0 || horizon > ps->now_ms)
		horizon = INT64_MIN;  /* overflow: never */
	ps->wlen = 0;
	int rc = 0;
	for (size_t i = from; i < to && rc == 0; i++) {
		const struct cseg *s = &ps->segs[i];
		ps->out = out;
		ps->drop_tombstones = s->end <= ps->first_dirty && s->max_ts < horizon;
		rc = pass_read(ps, s, false, group_batch);
	}
	if (rc == 0)
		rc = flush_out(ps, out, end);
	if (rc != 0) {
		if (rc == CPASS_ERROR)
			log_error("log", "%s: cleaner: writing the cleaned segment %020lld failed: %s",
				  ps->pl->name, (long long)base, strerror(errno));
		cswap_discard(ps->pl, out, end);
		return rc;
	}
	out->next_offset = end;
	struct segment **olds = malloc((to - from) * sizeof *olds);
	if (olds == NULL) {
		cswap_discard(ps->pl, out, end);
		return CPASS_ERROR;
	}
	for (size_t i = from; i < to; i++)
		olds[i - from] = ps->segs[i].seg;
	rc = cswap_commit(ps->pl, out, end, olds, to - from);
	free(olds);
	return rc < 0 ? CPASS_ERROR : 0;
}

/* The end (exclusive index) of the group starting at i. */
static size_t group_end(const struct pass *ps, size_t i, size_t last)
{
	uint64_t max = ps->cfg.segment_bytes > 0 && ps->cfg.segment_bytes < INT32_MAX
		? (uint64_t)ps->cfg.segment_bytes : INT32_MAX;
	uint64_t total = ps->segs[i].size;
	size_t j = i + 1;
	while (j < last && total + ps->segs[j].size <= max &&
	       ps->segs[j].end - 1 - ps->segs[i].base <= INT32_MAX) {
		total += ps->segs[j].size;
		j++;
	}
	return j;
}

static int pass_rewrite(struct pass *ps)
{
	size_t last = 0;
	while (last < ps->ncleanable && ps->segs[last].base < ps->map_end)
		last++;
	for (size_t i = 0; i < last;) {
		size_t j = group_end(ps, i, last);
		int rc = pass_group(ps, i, j);
		if (rc != 0)
			return rc;
		i = j;
	}
	return 0;
}

/* ============================================================== entry */

static void pass_fini(struct pass *ps)
{
	for (size_t i = 0; i < ps->nsegs; i++)
		segment_unref(ps->segs[i].seg);
	free(ps->segs);
	cmap_fini(&ps->map);
	free(ps->pids.v);
	free(ps->wbuf);
	free(ps->kept);
	free(ps->built);
	free(ps->aborted);
}

static int pass_steps(struct pass *ps)
{
	int rc = pass_snapshot(ps);
	if (rc == 0)
		rc = pass_aborted(ps);
	for (size_t i = 0; rc == 0 && i < ps->nsegs; i++)
		rc = pass_read(ps, &ps->segs[i], true, pid_batch);
	if (rc == 0)
		rc = pass_build_map(ps);
	if (rc == 0)
		rc = pass_rewrite(ps);
	return rc;
}

int cpass_run(struct plog *pl, struct cleaner_ctx *cx, int64_t now_ms, int64_t first_dirty,
	      int64_t *next_dirty)
{
	struct pass ps = { .pl = pl, .cx = cx, .now_ms = now_ms, .first_dirty = first_dirty };
	int64_t t0 = clock_mono_ms();
	int rc = pass_steps(&ps);
	if (rc == 0) {
		*next_dirty = ps.map_end;
		int64_t ms = clock_mono_ms() - t0;
		cx->st.passes++;
		cx->st.bytes_read += ps.bytes_in;
		cx->st.bytes_written += ps.bytes_out;
		cx->st.records_removed += ps.removed;
		cx->st.last_pass_ms = clock_wall_ms();
		log_info("log", "%s: cleaned offsets [%lld, %lld): %lld -> %lld bytes, %lld record(s) "
			 "removed, %lld ms", pl->name, (long long)ps.segs[0].base, (long long)ps.map_end,
			 (long long)ps.bytes_in, (long long)ps.bytes_out, (long long)ps.removed,
			 (long long)ms);
	}
	pass_fini(&ps);
	return rc;
}
