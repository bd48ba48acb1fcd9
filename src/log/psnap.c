/*
 * psnap.c — producer state snapshot files, and the producer state's
 * recovery at start-up (src/txn/pstate.h has the rules and the layout).
 *
 * Files in the partition dir (Kafka's names):
 *
 *   00000000000000000042.snapshot      pstate_snapshot bytes: the producer
 *                                      state of every offset below 42
 *   00000000000000000042.snapshot.tmp  being written; recovery removes it
 *                                      (recovery.c step 1, "*.tmp")
 *
 * When one is written (each write: tmp, fsync, rename, fsync of the dir):
 *   - at a roll: plog_roll encodes the state at the new segment's base
 *     under pl->mu (psnap_queue, pl->snap_pending) and kicks the janitor
 *     thread, which writes it (psnap_write_pending): the file I/O and its
 *     fsyncs stay off the append path;
 *   - at a clean close (plog__close_files): the state at the log end (and
 *     the last roll's, if still pending), so a clean restart scans little;
 *     none for an empty log (nothing to scan);
 *   - after a recovery that found no snapshot at all (a log written before
 *     snapshots existed, every file lost, or a crash before the first
 *     roll): queued at the log end and the janitor kicked, which writes it
 *     once it runs, so the next start scans less.
 * A snapshot is only a cache of what the log says: a missing, torn or
 * corrupt file (its CRC-32C fails) costs a longer scan, never a wrong state.
 *
 * Recovery (psnap_recover, after the segments are recovered; LEO known):
 *   1. list the snapshots; remove those above LEO (the log was cut below
 *      them) and make the removal durable before the log can grow again;
 *   2. load the newest one that is valid (pstate_load); remove bad ones;
 *      A snapshot keeps each producer's LAST batch only (Kafka's layout);
 *      the older retained batches come back only by scanning them. So when
 *      the newest snapshot holds producers that wrote within the retry
 *      window (their last batch's timestamp), the scan starts early enough
 *      to cover the retry window: the segments whose largest timestamp
 *      lies within PSNAP_RETRY_WINDOW_MS of the log's largest (the active
 *      one at least, at most PSNAP_WINDOW_MAX_BYTES before it), from the
 *      newest snapshot at or below their first base. A retry in flight
 *      across a crash or restart is then found like any other — Kafka
 *      itself finds only the last batch of a producer after a restart. A
 *      newest snapshot without such producers (a topic without idempotent
 *      producers, or an idle one) needs no scan at all after a clean stop;
 *   3. scan batch HEADERS from its offset (from the first segment when
 *      there is none) to LEO: pstate_update for every batch plog_append
 *      records (ProducerId >= 0, BaseSequence >= 0 or transactional, not
 *      control), its wall time the batch's MaxTimestamp (Kafka's
 *      LastTimestamp; capped at now) for expiry; markers (control batches
 *      with a ProducerId) through txnlog__scan_marker;
 *   4. pstate_truncate_head(first segment's base), and prune (below).
 * Transactions (txnlog.c): before step 2 the `.txnindex` files are loaded
 * (a damaged one moves the scan start down to its segment); step 3 also
 * replays markers (pstate_marker; an ABORT yields its aborted entry) and
 * transactional batches without a sequence; then txnlog__recovered merges
 * the entries and rewrites the files of the scanned segments.
 *
 * Pruning (psnap_prune; retention after it removed segments, and
 * recovery): with F the first segment's base, every snapshot below the
 * newest one at or below F is removed: that one is the base a scan of the
 * whole log starts from, newer ones cut the scan short. Recovery also
 * removes snapshots that are neither a segment's base nor the newest one
 * (Kafka's removeStraySnapshots), so the snapshots of segments the cleaner
 * merged do not pile up on a compacted topic.
 *
 * Invariants:
 *  1. A snapshot named X holds the state of batches below X that are in
 *     the log at those offsets: one above LEO is removed (durably) before
 *     any append can reuse its offsets; the log only loses offsets at its
 *     tail (recovery) or head (retention, which never needs them again).
 *  2. pl->ps always reflects every producer batch in the log that
 *     plog_append records (plog.c invariant 5), minus expired producers and
 *     those wholly below the log start.
 *
 * Threads: psnap_recover runs before the plog is shared. psnap_queue under
 * pl->mu. The writers and psnap_prune take pl->snap_mu (then pl->mu
 * briefly), so one thread at a time creates or removes this dir's
 * snapshot files; lock order snap_mu -> mu (log_int.h).
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
#include "txn/pstate.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/log.h"

#define SNAP_EXT ".snapshot"

/* A snapshot larger than this is not loaded (treated as corrupt): the
 * layout holds 46 bytes per producer, so this is millions of them. */
enum { PSNAP_MAX_BYTES = 256 << 20 };

/* The retry window (file comment, step 2): a producer stops retrying a
 * batch delivery.timeout.ms after creating it (Kafka's default: 2 min),
 * so batches more than that older than the log's newest one are never
 * retried after a restart. The scan back is capped in bytes too, so a busy
 * partition's start stays quick; beyond it a producer keeps only its last
 * batch, as in Kafka. */
#define PSNAP_RETRY_WINDOW_MS (120 * 1000LL)
#define PSNAP_WINDOW_MAX_BYTES (256ULL << 20)

struct offsets {
	int64_t *v;                 /* owned, ascending */
	size_t n, cap;
};

/* ============================================================== listing */

/* The snapshot offsets in pl's dir, ascending. 0 or -1 (errno). The
 * functions here that use pl->dirfd are called with a dir reference held
 * (plog__dir_get): by recovery, psnap_prune or psnap_write_file. */
static int psnap_list(struct plog *pl, struct offsets *out)
{
	DIR *d = segment_dir_list(pl->dirfd);
	if (d == NULL)
		return -1;
	int rc = 0;
	for (struct dirent *e; rc == 0 && (e = readdir(d)) != NULL;) {
		int64_t off = segment_parse_name(e->d_name, SNAP_EXT);
		if (off < 0)
			continue;
		if (out->n == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 16;
			int64_t *v = realloc(out->v, cap * sizeof *v);
			if (v == NULL) {
				errno = ENOMEM;
				rc = -1;
				break;
			}
			out->v = v;
			out->cap = cap;
		}
		out->v[out->n++] = off;
	}
	closedir(d);
	if (rc == 0 && out->n > 1)
		qsort(out->v, out->n, sizeof *out->v, segment_cmp_offsets);
	return rc;
}

static void psnap_remove(struct plog *pl, int64_t off, const char *why)
{
	char name[64];
	segment_name(name, sizeof name, off, SNAP_EXT);
	if (unlinkat(pl->dirfd, name, 0) != 0 && errno != ENOENT)
		log_warn("log", "%s: cannot remove %s: %s", pl->name, name, strerror(errno));
	else
		log_info("log", "%s: removed %s (%s)", pl->name, name, why);
}

/* ============================================================== writing */

/* Writes <off>.snapshot durably: tmp, fsync, rename, fsync dir. snap_mu
 * held. Returns 0 or an errno value. */
static int psnap_write_file(struct plog *pl, int64_t off, const uint8_t *p, size_t n)
{
	char name[64], tmp[80];
	segment_name(name, sizeof name, off, SNAP_EXT);
	snprintf(tmp, sizeof tmp, "%s.tmp", name);
	if (plog__dir_get(pl) < 0)
		return errno;
	int fd = openat(pl->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		plog__dir_put(pl);
		return e;
	}
	int e = fio_write_all(fd, p, n) == 0 && fsync(fd) == 0 ? 0 : errno;
	close(fd);
	if (e == 0 && renameat(pl->dirfd, tmp, pl->dirfd, name) != 0)
		e = errno;
	if (e == 0)
		e = plog__sync_dir(pl->dirfd);
	if (e != 0) {
		unlinkat(pl->dirfd, tmp, 0);
		log_warn("log", "%s: cannot write %s: %s (recovery will scan more of the log)",
			 pl->name, name, strerror(e));
	}
	plog__dir_put(pl);
	return e;
}

void psnap_queue(struct plog *pl, int64_t off)
{
	size_t len = 0;
	uint8_t *p = pstate_snapshot(pl->ps, &len);
	if (p == NULL)
		return;  /* out of memory: no snapshot here; recovery scans more */
	free(pl->snap_pending);
	pl->snap_pending = p;
	pl->snap_pending_len = len;
	pl->snap_pending_off = off;
}

/* Takes the pending snapshot (NULL: none) out of pl. mu held. */
static uint8_t *psnap_take_pending(struct plog *pl, size_t *len, int64_t *off)
{
	uint8_t *p = pl->snap_pending;
	*len = pl->snap_pending_len;
	*off = pl->snap_pending_off;
	pl->snap_pending = NULL;
	return p;
}

int psnap_write_pending(struct plog *pl)
{
	size_t len;
	int64_t off;
	pthread_mutex_lock(&pl->snap_mu);
	pthread_mutex_lock(&pl->mu);
	uint8_t *p = psnap_take_pending(pl, &len, &off);
	if (pl->closed) {
		/* Closed (its close wrote a newer one) or deleted (its dir is
		 * being removed): nothing to write. */
		free(p);
		p = NULL;
	}
	pthread_mutex_unlock(&pl->mu);
	int e = p != NULL ? psnap_write_file(pl, off, p, len) : 0;
	pthread_mutex_unlock(&pl->snap_mu);
	free(p);
	return e == 0 ? 0 : -1;
}

int psnap_write_now(struct plog *pl)
{
	size_t len = 0, plen;
	int64_t poff;
	pthread_mutex_lock(&pl->snap_mu);
	pthread_mutex_lock(&pl->mu);
	int64_t off = atomic_load(&pl->leo);
	/* An empty log has nothing for a restart to scan: no snapshot needed
	 * (two fsyncs saved per idle partition at a clean stop). */
	bool empty = off == atomic_load(&pl->start);
	uint8_t *p = empty ? NULL : pstate_snapshot(pl->ps, &len);
	/* The last roll's too, if the janitor has not written it: the next
	 * start may need it as the base of its scan (file comment, step 2). */
	uint8_t *pending = psnap_take_pending(pl, &plen, &poff);
	pthread_mutex_unlock(&pl->mu);
	if (pending != NULL && poff < off)
		psnap_write_file(pl, poff, pending, plen);
	int e = empty ? 0 : p != NULL ? psnap_write_file(pl, off, p, len) : ENOMEM;
	pthread_mutex_unlock(&pl->snap_mu);
	free(pending);
	free(p);
	return e == 0 ? 0 : -1;
}

/* Removes the snapshots below the newest one at or below first (file
 * comment). snap_mu held. */
static void psnap_prune_locked(struct plog *pl, int64_t first)
{
	struct offsets o = { 0 };
	if (plog__dir_get(pl) < 0)
		return;  /* nothing lost: the next prune retries */
	if (psnap_list(pl, &o) == 0) {
		size_t keep = o.n;
		for (size_t i = 0; i < o.n && o.v[i] <= first; i++)
			keep = i;
		for (size_t i = 0; keep < o.n && i < keep; i++)
			psnap_remove(pl, o.v[i], "below the log start");
	}
	plog__dir_put(pl);
	free(o.v);
}

/* Is off the base offset of one of pl's segments? */
static bool psnap_is_base(const struct plog *pl, int64_t off)
{
	size_t lo = 0, hi = pl->nsegs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (pl->segs[mid]->base_offset == off)
			return true;
		if (pl->segs[mid]->base_offset < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Recovery: removes the snapshots that are neither a segment's base nor
 * the newest (Kafka's removeStraySnapshots): the cleaner merges segments
 * and leaves the snapshots at the merged bases behind. Before the plog is
 * shared. */
static void psnap_prune_stray(struct plog *pl)
{
	struct offsets o = { 0 };
	if (psnap_list(pl, &o) == 0)
		for (size_t i = 0; i + 1 < o.n; i++)
			if (!psnap_is_base(pl, o.v[i]))
				psnap_remove(pl, o.v[i], "not a segment base");
	free(o.v);
}

void psnap_prune(struct plog *pl, int64_t first)
{
	pthread_mutex_lock(&pl->snap_mu);
	psnap_prune_locked(pl, first);
	pthread_mutex_unlock(&pl->snap_mu);
}

/* ============================================================= recovery */

/* Loads <off>.snapshot into pl->ps. Returns 0, or -1 when it cannot be
 * read or is not a valid snapshot (ps is then empty). */
static int psnap_load(struct plog *pl, int64_t off, int64_t now_ms)
{
	char name[64];
	segment_name(name, sizeof name, off, SNAP_EXT);
	int fd = openat(pl->dirfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *p = NULL;
	const char *why = "not a valid producer snapshot";
	int rc = -1;
	if (fd < 0 || fstat(fd, &st) != 0) {
		why = strerror(errno);
		goto out;
	}
	size_t n = st.st_size <= PSNAP_MAX_BYTES ? (size_t)st.st_size : 0;
	if (n == 0 || (p = malloc(n)) == NULL || pread(fd, p, n, 0) != (ssize_t)n) {
		why = n == 0 ? "empty or too large" : p == NULL ? "out of memory" : "short read";
		goto out;
	}
	rc = pstate_load(pl->ps, p, n, now_ms);
out:
	if (rc != 0)
		log_warn("log", "%s: %s: %s; ignoring it", pl->name, name, why);
	if (fd >= 0)
		close(fd);
	free(p);
	return rc;
}

/* One scanned batch h at pos: what plog_append and plog_append_marker
 * recorded for it. 0, -1 read error, -3 out of memory. */
static int psnap_scan_batch(struct plog *pl, struct segment_reader *r, uint64_t pos,
			    const struct batch_hdr *h, int64_t ts, struct txn_list *scanned)
{
	if (h->producer_id < 0)
		return 0;
	if (!(h->attributes & BATCH_ATTR_CONTROL)) {
		/* plog.c's plog_is_idempotent: sequenced, or transactional */
		if (h->base_sequence < 0 && !(h->attributes & BATCH_ATTR_TRANSACTIONAL))
			return 0;
		return pstate_update(pl->ps, h, ts) == 0 ? 0 : -3;
	}
	const uint8_t *p = segment_reader_peek(r, pos, batch_total_size(h));
	if (p == NULL)
		return -1;
	int rc = txnlog__scan_marker(pl, h, p, batch_total_size(h), ts, scanned);
	return rc < 0 ? -3 : 0;
}

/* Step 3: replays every producer batch and marker of seg whose base
 * offset is >= from. Returns 0, -1 on a read error or a bad header
 * (recovery proved or trusted these bytes: the disk changed under us), -2
 * out of memory. */
static int psnap_scan_segment(struct plog *pl, struct segment *seg, int64_t from, int64_t now_ms,
			      struct txn_list *scanned)
{
	struct segment_reader r;
	struct batch_hdr h;
	struct index_entry e;
	uint64_t pos = index_floor(&seg->oidx, from, false, &e) ? (uint64_t)e.val : 0;
	int rc;
	segment_reader_init(&r, seg, seg->size, 8 * 1024);
	while ((rc = segment_reader_header(&r, pos, &h)) == 1) {
		int64_t ts = h.max_timestamp >= 0 && h.max_timestamp < now_ms ? h.max_timestamp : now_ms;
		int brc = h.base_offset >= from ? psnap_scan_batch(pl, &r, pos, &h, ts, scanned) : 0;
		if (brc != 0) {
			rc = brc == -1 ? -2 : brc;
			break;
		}
		pos += batch_total_size(&h);
	}
	segment_reader_fini(&r);
	if (rc == 0)
		return 0;
	char name[64];
	segment_name(name, sizeof name, seg->base_offset, ".log");
	log_error("log", "%s: rebuilding the producer state: %s at position %llu of %s", pl->name,
		  rc == -3 ? "out of memory" : rc == -2 ? strerror(errno) : "bad batch header",
		  (unsigned long long)pos, name);
	return rc == -3 ? -2 : -1;
}

/* Steps 1-2: removes snapshots above leo and bad ones (their entries in o
 * become -1); loads the newest good one at or below bound. Returns its
 * offset, or -1 when none was loaded (pl->ps is then empty). */
static int64_t psnap_pick(struct plog *pl, struct offsets *o, int64_t leo, int64_t bound,
			  int64_t now_ms)
{
	bool removed = false;
	int64_t found = -1;
	for (size_t i = o->n; found < 0 && i-- > 0;) {
		if (o->v[i] < 0 || (o->v[i] <= leo && o->v[i] > bound))
			continue;
		if (o->v[i] <= leo && psnap_load(pl, o->v[i], now_ms) == 0) {
			found = o->v[i];
			break;
		}
		psnap_remove(pl, o->v[i], o->v[i] > leo ? "above the log end" : "invalid");
		o->v[i] = -1;
		removed = true;
	}
	if (removed)
		plog__sync_dir(pl->dirfd);  /* invariant 1: before the log can grow */
	return found;
}

/* The retry window (file comment): *since = the log's largest timestamp
 * minus PSNAP_RETRY_WINDOW_MS (INT64_MAX when no batch has one); returns
 * the base of the oldest segment it reaches, walking back from the active
 * segment over segments whose largest timestamp is >= *since, at most
 * PSNAP_WINDOW_MAX_BYTES of them. */
static int64_t psnap_window(const struct plog *pl, int64_t *since)
{
	int64_t ref = -1;
	for (size_t i = 0; i < pl->nsegs; i++)
		if (pl->segs[i]->max_ts > ref)
			ref = pl->segs[i]->max_ts;
	*since = ref >= 0 ? ref - PSNAP_RETRY_WINDOW_MS : INT64_MAX;
	size_t i = pl->nsegs - 1;
	uint64_t bytes = 0;
	while (i > 0 && pl->segs[i - 1]->max_ts >= *since &&
	       (bytes += pl->segs[i - 1]->size) <= PSNAP_WINDOW_MAX_BYTES)
		i--;
	return pl->segs[i]->base_offset;
}

static void note_recent(void *arg, const struct pstate_entry *e)
{
	int64_t *since = arg;
	if (e->last_ts >= since[0])
		since[1] = 1;
}

/* Does a producer of ps have its last batch within the window? */
static bool psnap_any_recent(const struct pstate *ps, int64_t since)
{
	int64_t v[2] = { since, 0 };
	pstate_foreach(ps, note_recent, v);
	return v[1] != 0;
}

/* Steps 2-3 (file comment): the state from the newest snapshot, or, when
 * that one holds producers that wrote within the retry window and lies
 * past the window's start, from the newest one at or below that start;
 * and never from above bad (a damaged `.txnindex`, txnlog.c: the scan
 * rebuilds it). Returns the offset the scan starts from, -1 when none was
 * loaded, or -2 out of memory. *newest: the newest valid snapshot, -1
 * none. */
static int64_t psnap_base(struct plog *pl, struct offsets *o, int64_t leo, int64_t now_ms,
			  int64_t bad, int64_t *newest)
{
	int64_t since, start = psnap_window(pl, &since);
	int64_t from = *newest = psnap_pick(pl, o, leo, leo, now_ms);
	int64_t bound = from > start && psnap_any_recent(pl->ps, since) ? start : from;
	if (from > bad && bad < bound)
		bound = bad;
	if (bound == from)
		return from;
	pstate_free(pl->ps);
	if ((pl->ps = pstate_new()) == NULL)
		return -2;
	return psnap_pick(pl, o, leo, bound, now_ms);
}

int psnap_recover(struct plog *pl, int64_t now_ms)
{
	struct offsets o = { 0 };
	int64_t leo = pl->segs[pl->nsegs - 1]->next_offset;
	int64_t first = pl->segs[0]->base_offset;
	if (psnap_list(pl, &o) != 0) {
		log_error("log", "%s: cannot list the producer snapshots: %s", pl->name, strerror(errno));
		free(o.v);
		return KAFKA_KAFKA_STORAGE_ERROR;
	}
	int64_t newest, bad;
	if (txnlog__load(pl, &bad) != 0) {
		free(o.v);
		return KAFKA_KAFKA_STORAGE_ERROR;
	}
	int64_t from = psnap_base(pl, &o, leo, now_ms, bad, &newest);
	free(o.v);
	if (from == -2) {
		log_error("log", "%s: out of memory loading the producer state", pl->name);
		return KAFKA_KAFKA_STORAGE_ERROR;
	}
	bool found = from >= 0;
	if (from < first)
		from = first;
	int rc = 0;
	struct txn_list scanned = { 0 };
	for (size_t i = 0; rc == 0 && i < pl->nsegs; i++)
		if (from < leo && pl->segs[i]->next_offset > from)
			rc = psnap_scan_segment(pl, pl->segs[i], from, now_ms, &scanned);
	if (rc != 0) {
		free(scanned.v);
		return KAFKA_KAFKA_STORAGE_ERROR;
	}
	pstate_truncate_head(pl->ps, first);
	if (txnlog__recovered(pl, from, &scanned) != 0)
		return KAFKA_KAFKA_STORAGE_ERROR;
	if (from < leo)
		log_info("log", "%s: producer state: %zu producer(s), from the %s at %lld and the log "
			 "up to %lld", pl->name, pstate_count(pl->ps), found ? "snapshot" : "log start",
			 (long long)from, (long long)leo);
	if (newest < 0 && leo > first) {
		psnap_queue(pl, leo);  /* the janitor writes it: a later start scans less */
		/* Now, not at its next pass (log.retention.check.interval.ms):
		 * a second crash soon after would scan every header again. A
		 * janitor not yet started finds the kick at its first round. */
		if (pl->ld != NULL)
			logdir__snapshot_wanted(pl->ld);
	}
	psnap_prune_locked(pl, first);
	psnap_prune_stray(pl);
	return KAFKA_NONE;
}
