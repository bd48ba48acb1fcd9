/*
 * recovery.c — loading a partition at start-up: "crash recovery is a scan,
 * not a hope" (DESIGN.md).
 *
 * Input: the partition dir (segment files, see segment.c and index.c), the
 * partition's recovery point RP from the log dir's checkpoint (-1 when
 * absent) and whether the log dir was shut down cleanly.
 *
 * Steps:
 *  0. Complete the cleaner's committed swaps: each <B>.<E>.log.swap
 *     replaces the segments based in [B, E) (cleaner_swap.c).
 *  1. List the dir: remove leftover temp files (*.deleted, *.cleaned,
 *     *.swap, *.tmp) and index files whose .log is gone; collect the base
 *     offsets of the .log files, sorted.
 *  2. No segment: create 00000000000000000000.* (empty log).
 *  3. Choose the first segment to scan, S = the segment holding RP (the
 *     last one whose base <= RP; the first one when RP is unknown). Data
 *     below RP was fsync'd before the checkpoint named it, but the segment
 *     holding RP may have an unflushed — possibly torn — tail after RP.
 *  4. Segments before S: load both indexes from their files; rebuild an
 *     index from the log when it is missing or inconsistent (index.c).
 *  5. Clean shutdown and S is the last segment: load its indexes and check
 *     only its tail — every batch from the last offset-index entry to the
 *     end, CRC included (at most ~index.interval.bytes plus one batch). If
 *     the tail is sound and ends exactly at RP, nothing is scanned.
 *     Otherwise (or after an unclean stop) continue with 6.
 *  6. Scan S from RP's batch and every later segment batch by batch.
 *     In S the scan starts at the last offset-index entry whose batch
 *     ends below RP (everything before it was fsync'd before the
 *     checkpoint named RP, like the segments before S), once that batch
 *     checks out at the indexed position; otherwise, or when the index
 *     does not load, at the start of S. Each batch: the 12-byte prefix,
 *     the length within the file, batch_validate_opts with .stored (CRC-32C,
 *     records; a cleaned batch may hold fewer records than its offsets),
 *     and the base offset above the previous batch's last offset (offsets
 *     strictly increase; compaction leaves gaps) — right after it in the
 *     last segment, the active one, which is never compacted. The first batch failing any check and
 *     everything after it is cut off (ftruncate; later segments removed),
 *     with one WARN line naming the file, position, offset and reason.
 *     Indexes of scanned segments are rebuilt and rewritten.
 *  7. fsync what was scanned, truncated or rewritten, and the dir (not
 *     needed, and skipped, when nothing was cut and the log ends at RP);
 *     then LEO = next offset of the last segment, recovery point = LEO.
 *  8. The producer state (idempotence, open transactions): the newest
 *     valid snapshot at or below LEO plus a scan of the batch headers
 *     after it (psnap.c); the aborted transactions: the `.txnindex` files
 *     below the scan, rebuilt from the markers it replays (txnlog.c). Step
 *     1 treats a `.txnindex` without its .log like an orphan index.
 *
 * Invariants after recovery_run returns KAFKA_NONE:
 *  1. Every segment holds whole, valid batches with strictly increasing
 *     offsets (scanned ones proven so; older ones trusted as below the old
 *     RP); a segment's base is at or above the previous one's next offset.
 *  2. The last segment's next_offset == LEO; no segment file exists at or
 *     beyond LEO other than the (possibly empty) active segment.
 *  3. Everything below LEO is on stable storage (recovery point = LEO).
 *
 * Thread: the opening thread, before the plog is shared.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log/log_int.h"
#include "util/clock.h"
#include "util/crc32c.h"
#include "util/err.h"
#include "util/log.h"

struct bases {
	int64_t *v;                 /* owned, sorted */
	size_t n, cap;
};

/* Why a scan stopped before the end of the file. */
struct scan {
	uint64_t pos;               /* end of the valid data */
	char why[160];              /* "" when the whole file is valid */
};

/* ============================================================== listing */

static bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

static int bases_push(struct bases *b, int64_t v)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		int64_t *p = realloc(b->v, cap * sizeof *p);
		if (p == NULL)
			return -1;
		b->v = p;
		b->cap = cap;
	}
	b->v[b->n++] = v;
	return 0;
}

static bool is_temp_file(const char *name)
{
	return has_suffix(name, ".deleted") || has_suffix(name, ".cleaned") ||
	       has_suffix(name, ".swap") || has_suffix(name, ".tmp");
}

/* Step 1. Returns 0 or -1 (errno). */
static int recovery_list(struct plog *pl, struct bases *logs)
{
	DIR *d = segment_dir_list(pl->dirfd);
	if (d == NULL)
		return -1;
	struct bases idx = { 0 };
	int rc = 0;
	for (struct dirent *e; rc == 0 && (e = readdir(d)) != NULL;) {
		int64_t b;
		if (is_temp_file(e->d_name)) {
			log_info("log", "%s: removing leftover %s", pl->name, e->d_name);
			unlinkat(pl->dirfd, e->d_name, 0);
		} else if ((b = segment_parse_name(e->d_name, ".log")) >= 0) {
			rc = bases_push(logs, b);
		} else if ((b = segment_parse_name(e->d_name, ".index")) >= 0 ||
			   (b = segment_parse_name(e->d_name, ".timeindex")) >= 0 ||
			   (b = segment_parse_name(e->d_name, ".txnindex")) >= 0) {
			rc = bases_push(&idx, b);
		}
	}
	closedir(d);
	if (rc == 0 && logs->n > 0)
		qsort(logs->v, logs->n, sizeof *logs->v, segment_cmp_offsets);
	/* An index without its .log is an orphan of an interrupted delete. */
	for (size_t i = 0; rc == 0 && i < idx.n; i++) {
		if (logs->n > 0 && bsearch(&idx.v[i], logs->v, logs->n, sizeof *logs->v, segment_cmp_offsets))
			continue;
		log_info("log", "%s: removing index files of missing segment %020lld", pl->name,
			 (long long)idx.v[i]);
		segment_unlink(pl->dirfd, idx.v[i]);
	}
	free(idx.v);
	if (rc != 0)
		errno = ENOMEM;
	return rc;
}

/* ====================================================== validating scan */

/* Describes why the batch at p (n bytes, failed batch_validate with err)
 * is bad, for the WARN line. */
static void describe_bad(const uint8_t *p, size_t n, int err, char *out, size_t outlen)
{
	uint32_t stored = (uint32_t)p[17] << 24 | (uint32_t)p[18] << 16 | (uint32_t)p[19] << 8 | p[20];
	if (p[16] != 2)
		snprintf(out, outlen, "bad magic %d", p[16]);
	else if (crc32c(0, p + 21, n - 21) != stored)
		snprintf(out, outlen, "CRC mismatch");
	else
		snprintf(out, outlen, "invalid batch (%s)", kafka_err_name(err));
}

/* Checks the batch at pos: its prefix, length within the file, full
 * validation, and offsets following on (first_last >= 0: the batch must
 * end at that offset; else start at seg->next_offset, or above it unless
 * contiguous: the last segment is the active one, which the cleaner never
 * rewrites, so a gap there is damage — BaseOffset is outside the CRC).
 * Returns 1 (valid, *h filled), 0 (invalid: sc->why set), -1 on a read
 * error. */
static int recovery_check_batch(struct segment *seg, struct segment_reader *r, uint64_t pos,
				int64_t first_last, bool contiguous, struct batch_hdr *h,
				struct scan *sc)
{
	uint64_t left = seg->size - pos;
	const uint8_t *p = segment_reader_peek(r, pos, left < BATCH_LOG_OVERHEAD ? (size_t)left : BATCH_LOG_OVERHEAD);
	if (p == NULL)
		return -1;
	if (left < BATCH_LOG_OVERHEAD) {
		snprintf(sc->why, sizeof sc->why, "torn batch: %llu bytes left", (unsigned long long)left);
		return 0;
	}
	int32_t len = (int32_t)((uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11]);
	if (len < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD) {
		snprintf(sc->why, sizeof sc->why, "invalid batch length %d", len);
		return 0;
	}
	if ((uint64_t)len > left - BATCH_LOG_OVERHEAD) {
		snprintf(sc->why, sizeof sc->why, "torn batch: length %d runs past the end of the file", len);
		return 0;
	}
	size_t n = (size_t)len + BATCH_LOG_OVERHEAD;
	if ((p = segment_reader_peek(r, pos, n)) == NULL)
		return -1;
	static const struct batch_check_opts stored = { .stored = true };
	int err = batch_validate_opts(p, n, &stored, h);
	if (err != KAFKA_NONE) {
		describe_bad(p, n, err, sc->why, sizeof sc->why);
		return 0;
	}
	bool follows = first_last >= 0 ? batch_last_offset(h) == first_last
					: contiguous ? h->base_offset == seg->next_offset
						     : h->base_offset >= seg->next_offset;
	if (!follows) {
		snprintf(sc->why, sizeof sc->why, "batch offsets %lld..%lld do not follow on",
			 (long long)h->base_offset, (long long)batch_last_offset(h));
		return 0;
	}
	return 1;
}

/* Validates the batches of seg from pos to its end. track: the indexes
 * were reset and are rebuilt in memory; otherwise only next_offset and the
 * max timestamp move. Returns 0 (sc filled) or -1 on a read error. */
static int recovery_validate(struct plog *pl, struct segment *seg, uint64_t pos,
			     int64_t first_last, bool track, struct scan *sc)
{
	struct segment_reader r;
	struct batch_hdr h;
	int rc = 1;
	bool contiguous = seg == pl->segs[pl->nsegs - 1];
	sc->why[0] = '\0';
	segment_reader_init(&r, seg, seg->size, 1 << 20);
	while (pos < seg->size &&
	       (rc = recovery_check_batch(seg, &r, pos, first_last, contiguous, &h, sc)) == 1) {
		if (track) {
			segment_track(seg, &h, pos, pl->cfg.index_interval_bytes);
		} else {
			if (h.max_timestamp > seg->max_ts) {
				seg->max_ts = h.max_timestamp;
				seg->max_ts_offset = batch_last_offset(&h);
			}
			seg->next_offset = batch_last_offset(&h) + 1;
		}
		first_last = -1;
		pos += batch_total_size(&h);
	}
	segment_reader_fini(&r);
	sc->pos = pos;
	return rc < 0 ? -1 : 0;
}

/* ============================================================ segments */

static void recovery_drop_from(struct plog *pl, size_t from)
{
	for (size_t i = from; i < pl->nsegs; i++) {
		segment_unlink(pl->dirfd, pl->segs[i]->base_offset);
		segment_unref(pl->segs[i]);
	}
	pl->nsegs = from;
}

static void recovery_io_error(struct plog *pl, int64_t base, const char *ext, int errnum)
{
	char name[64];
	segment_name(name, sizeof name, base, ext);
	log_error("log", "%s: recovery: reading %s failed: %s", pl->name, name, strerror(errnum));
}

/* Rebuilds seg's indexes from its batch headers and rewrites the files.
 * Returns 0, 1 when the headers do not chain up (the segment needs a full
 * scan), -1 on I/O error. */
static int recovery_rebuild(struct plog *pl, struct segment *seg)
{
	uint64_t bad;
	int rc = segment_rebuild(seg, pl->cfg.index_interval_bytes, &bad);
	if (rc != 0)
		return rc;
	log_info("log", "%s: rebuilt the indexes of segment %020lld", pl->name,
		 (long long)seg->base_offset);
	return segment_store_indexes(seg, pl->dirfd, false) == 0 ? 0 : -1;
}

/* Step 4 for segment i (not scanned): load or rebuild its indexes. Returns
 * 0, 1 when it must be scanned after all, -1 on I/O error. */
static int recovery_load(struct plog *pl, size_t i)
{
	struct segment *seg = pl->segs[i];
	int64_t next = i + 1 < pl->nsegs ? pl->segs[i + 1]->base_offset : INT64_MAX;
	int a = index_load(&seg->oidx, pl->dirfd, seg->size, next);
	int b = a < 0 ? a : index_load(&seg->tidx, pl->dirfd, seg->size, next);
	if (a < 0 || b < 0)
		return -1;
	if (a == 1 || b == 1)
		return recovery_rebuild(pl, seg);
	struct index_entry e;
	if (index_last(&seg->tidx, &e)) {
		seg->max_ts = e.key;
		seg->max_ts_offset = e.val;
	}
	seg->next_offset = next;
	return 0;
}

/* Step 5: the clean-shutdown check of the last segment. Returns true when
 * its indexes load, its tail is sound and it ends at rp. */
static bool recovery_tail_ok(struct plog *pl, struct segment *seg, int64_t rp)
{
	if (index_load(&seg->oidx, pl->dirfd, seg->size, INT64_MAX) != 0 ||
	    index_load(&seg->tidx, pl->dirfd, seg->size, INT64_MAX) != 0)
		return false;
	struct index_entry e;
	if (index_last(&seg->tidx, &e)) {
		seg->max_ts = e.key;
		seg->max_ts_offset = e.val;
	}
	bool has = index_last(&seg->oidx, &e);
	uint64_t pos = has ? (uint64_t)e.val : 0;
	struct scan sc;
	if (recovery_validate(pl, seg, pos, has ? e.key : -1, false, &sc) != 0 || sc.why[0] != '\0')
		return false;
	if (seg->next_offset != rp)
		return false;
	/* Kafka's rule counts bytes since the last entry's batch began. */
	seg->bytes_since_index = seg->size - pos;
	return true;
}

/* Entries of ix (sorted by key, or by val when by_val) whose key (val) is
 * <= x. */
static size_t recovery_count_le(const struct index *ix, int64_t x, bool by_val)
{
	size_t lo = 0, hi = index_count(ix);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct index_entry e = index_at(ix, mid);
		if ((by_val ? e.val : e.key) <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Step 6's start in S (seg, holding rp): loads its indexes and takes the
 * last offset-index entry whose batch ends below rp, if that batch is
 * whole and valid at the indexed position (an index is written after its
 * log and not fsync'd with the active segment, so it is checked, never
 * trusted). Keeps the index entries up to it and the time-index entries
 * up to its offset — both describe bytes below rp, which were fsync'd —
 * so the scan rebuilds only what follows. Returns true with the segment's
 * state set as after tracking the batches before it (*pos: where that
 * batch starts, *last: its last offset), or false: scan S from its start. */
static bool recovery_resume(struct segment *seg, int dirfd, int64_t rp, uint64_t *pos,
			    int64_t *last)
{
	if (rp <= seg->base_offset || index_load(&seg->oidx, dirfd, seg->size, INT64_MAX) != 0 ||
	    index_load(&seg->tidx, dirfd, seg->size, INT64_MAX) != 0)
		return false;
	size_t n = recovery_count_le(&seg->oidx, rp - 1, false);
	if (n == 0)
		return false;
	struct index_entry e = index_at(&seg->oidx, n - 1);
	struct segment_reader r;
	struct batch_hdr h;
	struct scan sc;
	segment_reader_init(&r, seg, seg->size, 256 << 10);
	int ok = recovery_check_batch(seg, &r, (uint64_t)e.val, e.key, false, &h, &sc);
	segment_reader_fini(&r);
	if (ok != 1)
		return false;
	/* The entries after n are forgotten; the files are rewritten after
	 * the scan. */
	index_forget_after(&seg->oidx, n);
	index_forget_after(&seg->tidx, recovery_count_le(&seg->tidx, e.key, true));
	struct index_entry t;
	seg->max_ts = seg->max_ts_offset = -1;
	if (index_last(&seg->tidx, &t)) {
		seg->max_ts = t.key;
		seg->max_ts_offset = t.val;
	}
	/* The entry was made for this batch: nothing since (segment_track). */
	seg->bytes_since_index = 0;
	seg->next_offset = seg->base_offset;
	*pos = (uint64_t)e.val;
	*last = e.key;
	return true;
}

/* Step 6 for segment i: scan it (from rp's batch when rp >= 0 and the
 * index allows, else in full); on damage cut it and drop the rest. Adds
 * the bytes looked at to *scanned. Returns 0 (*stop set when the log was
 * cut), -1 on I/O error. */
static int recovery_scan(struct plog *pl, size_t i, int64_t rp, bool *stop, uint64_t *scanned)
{
	struct segment *seg = pl->segs[i];
	uint64_t pos = 0;
	int64_t first_last = -1;
	if (rp < 0 || !recovery_resume(seg, pl->dirfd, rp, &pos, &first_last)) {
		pos = 0;
		first_last = -1;
		index_reset(&seg->oidx);
		index_reset(&seg->tidx);
		seg->max_ts = seg->max_ts_offset = -1;
		seg->bytes_since_index = 0;
		seg->next_offset = seg->base_offset;
	}
	atomic_fetch_add(&plog__stats.segments_scanned, 1);
	*scanned += seg->size - pos;
	struct scan sc;
	if (recovery_validate(pl, seg, pos, first_last, true, &sc) != 0)
		return -1;
	*stop = sc.why[0] != '\0';
	if (*stop) {
		char name[64];
		size_t later = pl->nsegs - i - 1;
		segment_name(name, sizeof name, seg->base_offset, ".log");
		if (segment_truncate(seg, sc.pos) != 0)
			return -1;
		recovery_drop_from(pl, i + 1);
		atomic_fetch_add(&plog__stats.truncations, 1);
		log_warn("log", "%s: truncated %s at position %llu (offset %lld): %s; removed %zu later segment%s",
			 pl->name, name, (unsigned long long)sc.pos, (long long)seg->next_offset, sc.why,
			 later, later == 1 ? "" : "s");
	}
	return segment_store_indexes(seg, pl->dirfd, false) == 0 ? 0 : -1;
}

/* Segments i >= from: scan each (the first from rp's batch, see
 * recovery_resume), checking that each segment starts where the previous
 * one ended. Returns 0 or -1 (I/O error). */
static int recovery_scan_from(struct plog *pl, size_t from, int64_t rp, uint64_t *scanned,
			      bool *cut)
{
	bool stop = false;
	*cut = false;
	for (size_t i = from; i < pl->nsegs && !stop; i++) {
		if (i > from && pl->segs[i]->base_offset < pl->segs[i - 1]->next_offset) {
			char name[64];
			segment_name(name, sizeof name, pl->segs[i]->base_offset, ".log");
			log_warn("log", "%s: removed %s and %zu later segment(s): base offset %lld does not "
				 "follow offset %lld", pl->name, name, pl->nsegs - i - 1,
				 (long long)pl->segs[i]->base_offset, (long long)pl->segs[i - 1]->next_offset);
			recovery_drop_from(pl, i);
			*cut = true;
			break;
		}
		if (recovery_scan(pl, i, i == from ? rp : -1, &stop, scanned) != 0) {
			recovery_io_error(pl, pl->segs[i]->base_offset, ".log", errno);
			return -1;
		}
		*cut |= stop;
	}
	return 0;
}

/* Step 7: make the recovered state durable. */
static int recovery_sync(struct plog *pl, size_t from)
{
	for (size_t i = from; i < pl->nsegs; i++) {
		int e = segment_sync(pl->segs[i]);
		if (e == 0)
			e = segment_store_indexes(pl->segs[i], pl->dirfd, true);
		if (e != 0) {
			errno = e;
			return -1;
		}
	}
	int e = plog__sync_dir(pl->dirfd);
	errno = e;
	return e == 0 ? 0 : -1;
}

/* ================================================================ entry */

/* Starts an empty log: its first segment. fresh: the open has just
 * created the directory — nothing to recover, list or load — and its
 * names are made durable by the partition's first flush (dir_dirty),
 * which comes before any record in it is acknowledged; a crash before that
 * leaves an empty directory, which the next open fills the same way (this
 * saves ~40 syscalls and an fsync per new partition: 5 listings of the
 * empty directory). Otherwise the directory is fsync'd now. */
static int recovery_empty(struct plog *pl, bool fresh)
{
	struct segment *seg = segment_create(pl->dirfd, pl->name, 0, &pl->cfg, clock_wall_ms());
	if (seg == NULL)
		return -1;
	if (plog__push_segment(pl, seg) != 0) {
		segment_unref(seg);
		errno = ENOMEM;
		return -1;
	}
	if (fresh) {
		pl->dir_dirty = true;
		return 0;
	}
	return plog__sync_dir(pl->dirfd) == 0 ? 0 : -1;
}

/* Opens every listed segment. */
static int recovery_open_all(struct plog *pl, const struct bases *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct segment *seg = segment_open(pl->dirfd, pl->name, b->v[i], &pl->cfg);
		if (seg == NULL)
			return -1;
		if (plog__push_segment(pl, seg) != 0) {
			segment_unref(seg);
			errno = ENOMEM;
			return -1;
		}
	}
	return 0;
}

/* The segment holding rp: the last one whose base <= rp. */
static size_t recovery_first_to_scan(const struct plog *pl, int64_t rp)
{
	size_t s = 0;
	while (s + 1 < pl->nsegs && pl->segs[s + 1]->base_offset <= rp)
		s++;
	return rp < 0 ? 0 : s;
}

/* Steps 3-7 once the segments are open. */
static int recovery_segments(struct plog *pl, int64_t rp, bool clean)
{
	size_t from = recovery_first_to_scan(pl, rp);
	for (size_t i = 0; i < from; i++) {
		int rc = recovery_load(pl, i);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			log_warn("log", "%s: segment %020lld below the recovery point is damaged; scanning "
				 "from it", pl->name, (long long)pl->segs[i]->base_offset);
			from = i;
		}
	}
	struct segment *last = pl->segs[pl->nsegs - 1];
	if (clean && rp >= 0 && from == pl->nsegs - 1 && recovery_tail_ok(pl, last, rp))
		return 0;
	log_info("log", "%s: recovering from offset %lld (%s): scanning %zu segment(s) from %020lld",
		 pl->name, (long long)(rp > 0 ? rp : 0),
		 !clean ? "unclean shutdown" : rp < 0 ? "no recovery point" : "tail check failed",
		 pl->nsegs - from, (long long)pl->segs[from]->base_offset);
	int64_t t0 = clock_mono_us();
	uint64_t scanned = 0;
	bool cut;
	/* Only S itself starts at rp's batch: a damaged segment below S
	 * (step 4 moved from down to it) is scanned in full. */
	int64_t resume = from == recovery_first_to_scan(pl, rp) ? rp : -1;
	if (recovery_scan_from(pl, from, resume, &scanned, &cut) != 0)
		return -1;
	/* Step 7 is moot when the log ends exactly at rp and nothing was cut:
	 * every byte was fsync'd before the checkpoint named rp (an idle
	 * partition, e.g. most of __consumer_offsets after a crash). The
	 * rewritten indexes are checked caches, like the active segment's. */
	bool durable = !cut && pl->segs[pl->nsegs - 1]->next_offset == rp;
	if (!durable && recovery_sync(pl, from) != 0)
		return -1;
	/* bench/restart reads this line: keep its wording. */
	log_info("log", "%s: recovered: log end offset %lld in %zu segment(s); scanned %llu bytes "
		 "in %.1f ms", pl->name, (long long)pl->segs[pl->nsegs - 1]->next_offset, pl->nsegs,
		 (unsigned long long)scanned, (double)(clock_mono_us() - t0) / 1000.0);
	return 0;
}

/* Steps 1-7 over an existing directory: completes a cleaner swap, lists
 * the segments and recovers them (or starts an empty log). 0 or -1
 * (logged). */
static int recovery_dir(struct plog *pl, int64_t rp, bool clean)
{
	struct bases b = { 0 };
	int rc = -1;
	if (cleaner__recover_swaps(pl) != 0)
		log_error("log", "%s: cannot complete an interrupted cleaner swap in %s: %s", pl->name,
			  pl->dir, strerror(errno));
	else if (recovery_list(pl, &b) != 0)
		log_error("log", "%s: cannot list %s: %s", pl->name, pl->dir, strerror(errno));
	else if (b.n == 0 && recovery_empty(pl, false) != 0)
		log_error("log", "%s: cannot create the first segment: %s", pl->name, strerror(errno));
	else if (b.n > 0 && (recovery_open_all(pl, &b) != 0 || recovery_segments(pl, rp, clean) != 0))
		log_error("log", "%s: recovery failed: %s", pl->name, strerror(errno));
	else
		rc = 0;
	free(b.v);
	return rc;
}

int recovery_run(struct plog *pl, int64_t rp, bool clean, bool fresh)
{
	int rc = KAFKA_KAFKA_STORAGE_ERROR;
	/* One reference to the dir for the whole open: pl->dirfd below. */
	if (plog__dir_get(pl) < 0) {
		log_error("log", "%s: cannot open %s: %s", pl->name, pl->dir, strerror(errno));
		return rc;
	}
	if (fresh && recovery_empty(pl, true) != 0) {
		log_error("log", "%s: cannot create the first segment: %s", pl->name, strerror(errno));
		goto out;
	}
	if (!fresh && recovery_dir(pl, rp, clean) != 0)
		goto out;
	int64_t size = 0;
	for (size_t i = 0; i < pl->nsegs; i++)
		size += (int64_t)pl->segs[i]->size;
	int64_t leo = pl->segs[pl->nsegs - 1]->next_offset;
	atomic_store(&pl->start, pl->segs[0]->base_offset);
	atomic_store(&pl->leo, leo);
	atomic_store(&pl->flushed, leo);
	atomic_store(&pl->size_bytes, size);
	rc = fresh ? KAFKA_NONE : psnap_recover(pl, clock_wall_ms());
out:
	plog__dir_put(pl);
	return rc;
}
