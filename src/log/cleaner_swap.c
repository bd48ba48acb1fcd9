/*
 * cleaner_swap.c — replacing a group of segments by their cleaned copy so
 * that a crash at any point leaves a valid log with the same content, and
 * readers never see a torn view.
 *
 * A group is consecutive segments covering offsets [B, E): B is the base of
 * its first segment, E the base of the segment after it. Its replacement
 * is one segment based at B. The file names carry E, because the output's
 * last batch may end well before E (or the output may be empty) and
 * recovery must still know which old segments it replaces:
 *
 *   <B>.<E>.log.cleaned  <B>.<E>.index.cleaned  <B>.<E>.timeindex.cleaned
 *                        <B>.<E>.txnindex.cleaned
 *        being written; never trusted (recovery deletes them)
 *   <B>.<E>.log.swap     <B>.<E>.index.swap     <B>.<E>.timeindex.swap
 *                        <B>.<E>.txnindex.swap
 *        committed: replaces every segment whose base is in [B, E)
 *   <B>.log              <B>.index              <B>.timeindex
 *                        <B>.txnindex
 *        the final names (B and E are 20-digit offsets, as segment names)
 *
 * The `.txnindex` (aborted transactions, txnlog.c) is written only when
 * the group holds at least one ABORT marker, as a segment has one only
 * then: it holds the aborted entries whose marker lies in [B, E), taken
 * from the partition's list at step 1 (the cleaner keeps every marker, so
 * the entries of the replaced segments are exactly these). Every rename
 * below treats a missing `.txnindex` as "none written".
 *
 * Protocol (cswap_commit), each step's crash outcome in brackets:
 *  1. write the .cleaned files (the .txnindex from the aborted list), fsync
 *     all of them                                    [recovery deletes them]
 *  2. under pl->mu: check the group's segments are still pl's, in a row
 *     (retention may have deleted some; then discard); rename the index
 *     files .cleaned -> .swap, then the log: THE COMMIT POINT
 *                                 [before: deleted; after: swap completed]
 *     and replace the group by the new segment in pl->segs (readers that
 *     hold a fileref of an old segment go on reading it; new readers get
 *     the new one: never a mix within one slice)
 *  3. fsync the dir (the commit is durable)
 *  4. hand the old segments to logdir__delete_segment_later (renamed
 *     *.deleted, unlinked after file.delete.delay.ms)
 *                                 [recovery completes the swap]
 *  5. under pl->mu: rename .swap -> final names, indexes first, log last
 *     (if retention took the new segment meanwhile, unlink the .swap
 *     files instead)              [recovery completes the swap]
 *
 * Recovery (cleaner__recover_swaps, before the dir is listed): for each
 * <B>.<E>.log.swap, unlink every segment whose base is in [B, E) (its
 * .log and indexes, its .txnindex too), rename the .swap indexes (when
 * present) and the log to their final names, fsync the dir. Then the
 * normal listing deletes what is left: .cleaned files, index .swap files
 * without their log, .deleted files. A crash thus leaves either the old
 * segments with their `.txnindex` files or the new one with its own.
 *
 * Invariants:
 *  1. At most one group of a partition is between steps 1 and 5 at a time
 *     (one pass per partition, groups one after another).
 *  2. A <B>.<E>.log.swap file is complete and fsync'd: its batches are a
 *     valid replacement for [B, E).
 *
 * Thread: the cleaning thread; pl->mu is taken for steps 2 and 5 (renames
 * only: no fsync under it).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log/cleaner_int.h"
#include "util/err.h"
#include "util/log.h"

/* The log last: its rename is the commit (step 2) and the end (step 5). */
static const char *const kinds[] = { ".index", ".timeindex", ".txnindex", ".log" };
enum { NKINDS = 4, KIND_TXN = 2, KIND_LOG = 3 };

/* "<B>.<E><kind><state>"; state "" gives the final name "<B><kind>". */
static void cswap_name(char *out, size_t len, int64_t base, int64_t end, const char *kind,
		       const char *state)
{
	if (state[0] == '\0')
		snprintf(out, len, "%020lld%s", (long long)base, kind);
	else
		snprintf(out, len, "%020lld.%020lld%s%s", (long long)base, (long long)end, kind, state);
}

struct segment *cswap_create(struct plog *pl, const struct plog_config *cfg, int64_t base,
			     int64_t end)
{
	char name[96];
	struct segment *seg = segment_new(base);
	if (seg == NULL)
		return NULL;
	/* A leftover .txnindex of an abandoned pass would be renamed in
	 * with this output when it writes none. */
	cswap_name(name, sizeof name, base, end, ".txnindex", ".cleaned");
	unlinkat(pl->dirfd, name, 0);
	cswap_name(name, sizeof name, base, end, ".log", ".cleaned");
	/* A leftover of an abandoned pass may hold the name: start over. */
	seg->ref.fd = openat(pl->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (seg->ref.fd < 0) {
		log_error("log", "%s: cleaner: cannot create %s: %s", pl->name, name, strerror(errno));
		cswap_discard(pl, seg, end);
		return NULL;
	}
	/* Its index files are written at the end of the pass (cleaner_pass.c). */
	index_init(&seg->oidx, INDEX_OFFSET, base, cfg->index_max_bytes);
	index_init(&seg->tidx, INDEX_TIME, base, cfg->index_max_bytes);
	seg->created_ms = -1;
	return seg;
}

int cswap_store_indexes(struct plog *pl, struct segment *out, int64_t end)
{
	char oname[96], tname[96];
	cswap_name(oname, sizeof oname, out->base_offset, end, ".index", ".cleaned");
	cswap_name(tname, sizeof tname, out->base_offset, end, ".timeindex", ".cleaned");
	if (index_store(&out->oidx, pl->dirfd, oname, true) == 0 &&
	    index_store(&out->tidx, pl->dirfd, tname, true) == 0)
		return 0;
	log_error("log", "%s: cleaner: cannot write the indexes of cleaned segment %020lld: %s",
		  pl->name, (long long)out->base_offset, strerror(errno));
	return -1;
}

/* Unlinks the output's files in every temporary state (ENOENT ignored). */
static void cswap_unlink(struct plog *pl, int64_t base, int64_t end)
{
	static const char *const states[] = { ".cleaned", ".swap" };
	for (size_t s = 0; s < 2; s++) {
		for (size_t k = 0; k < NKINDS; k++) {
			char name[96];
			cswap_name(name, sizeof name, base, end, kinds[k], states[s]);
			unlinkat(pl->dirfd, name, 0);
		}
	}
}

void cswap_discard(struct plog *pl, struct segment *out, int64_t end)
{
	cswap_unlink(pl, out->base_offset, end);
	segment_unref(out);
}

/* Renames the files from state `from` to state `to` (log last). An absent
 * .txnindex is never an error (none written); missing_ok: nor is an absent
 * offset or time index. Returns 0 or errno. */
static int cswap_rename(int dirfd, int64_t base, int64_t end, const char *from, const char *to,
			bool missing_ok)
{
	for (size_t k = 0; k < NKINDS; k++) {
		char a[96], b[96];
		cswap_name(a, sizeof a, base, end, kinds[k], from);
		cswap_name(b, sizeof b, base, end, kinds[k], to);
		if (renameat(dirfd, a, dirfd, b) != 0 &&
		    !(errno == ENOENT && (k == KIND_TXN || (missing_ok && k != KIND_LOG))))
			return errno;
	}
	return 0;
}

/* Step 1 for the aborted index: <B>.<E>.txnindex.cleaned with the entries
 * whose marker lies in [B, E), fsync'd; nothing when there are none.
 * Returns 0, or -1 (logged). */
static int cswap_txnindex(struct plog *pl, int64_t base, int64_t end)
{
	struct txn_entry *v = NULL;
	ssize_t n = txnlog__entries(pl, base, end, &v);
	if (n <= 0) {
		if (n < 0)
			log_error("log", "%s: cleaner: out of memory for the aborted index of %020lld",
				  pl->name, (long long)base);
		return n < 0 ? -1 : 0;
	}
	char name[96];
	cswap_name(name, sizeof name, base, end, ".txnindex", ".cleaned");
	int e = txnlog__write_file(pl->dirfd, name, v, (size_t)n);
	free(v);
	if (e != 0)
		log_error("log", "%s: cleaner: cannot write %s: %s", pl->name, name, strerror(e));
	return e != 0 ? -1 : 0;
}

/* Where olds sit in pl->segs, or -1 when they are no longer all there in a
 * row (never the active segment). pl->mu. */
static ssize_t cswap_find(const struct plog *pl, struct segment **olds, size_t nold)
{
	for (size_t k = 0; k + nold < pl->nsegs; k++) {
		if (pl->segs[k] != olds[0])
			continue;
		for (size_t i = 1; i < nold; i++)
			if (pl->segs[k + i] != olds[i])
				return -1;
		return (ssize_t)k;
	}
	return -1;
}

static bool cswap_listed(const struct plog *pl, const struct segment *seg)
{
	for (size_t i = 0; i < pl->nsegs; i++)
		if (pl->segs[i] == seg)
			return true;
	return false;
}

/* Step 2: commit and replace under pl->mu. Returns 1, 0 (discarded), or
 * -1 (errno set). *delay: file.delete.delay.ms now. */
static int cswap_replace(struct plog *pl, struct segment *out, int64_t end, struct segment **olds,
			 size_t nold, int64_t *delay)
{
	pthread_mutex_lock(&pl->mu);
	ssize_t k = pl->closed || atomic_load(&pl->err) != KAFKA_NONE ? -1 : cswap_find(pl, olds, nold);
	if (k < 0) {
		pthread_mutex_unlock(&pl->mu);
		return 0;
	}
	int e = cswap_rename(pl->dirfd, out->base_offset, end, ".cleaned", ".swap", false);
	if (e != 0) {
		pthread_mutex_unlock(&pl->mu);
		errno = e;
		return -1;
	}
	int64_t old_size = 0;
	for (size_t i = 0; i < nold; i++)
		old_size += (int64_t)olds[i]->size;
	pl->segs[k] = out;
	memmove(pl->segs + k + 1, pl->segs + k + nold, (pl->nsegs - (size_t)k - nold) * sizeof *pl->segs);
	pl->nsegs -= nold - 1;
	atomic_fetch_add(&pl->size_bytes, (int64_t)out->size - old_size);
	*delay = pl->cfg.file_delete_delay_ms;
	pthread_mutex_unlock(&pl->mu);
	return 1;
}

/* Step 5. */
static void cswap_finish(struct plog *pl, struct segment *out, int64_t end)
{
	pthread_mutex_lock(&pl->mu);
	int e = 0;
	if (cswap_listed(pl, out))
		e = cswap_rename(pl->dirfd, out->base_offset, end, ".swap", "", false);
	else
		cswap_unlink(pl, out->base_offset, end);  /* retention took it meanwhile */
	pthread_mutex_unlock(&pl->mu);
	if (e != 0)
		log_warn("log", "%s: cleaner: cannot rename segment %020lld into place: %s; the next "
			 "start completes it", pl->name, (long long)out->base_offset, strerror(e));
}

int cswap_commit(struct plog *pl, struct segment *out, int64_t end, struct segment **olds,
		 size_t nold)
{
	int64_t base = out->base_offset, delay = 0;
	if (cswap_txnindex(pl, base, end) != 0) {
		cswap_discard(pl, out, end);
		return -1;
	}
	/* Its index files were written and fsync'd by the pass. */
	int e = segment_sync(out);
	if (e != 0) {
		log_error("log", "%s: cleaner: fsync of cleaned segment %020lld failed: %s", pl->name,
			  (long long)base, strerror(e));
		cswap_discard(pl, out, end);
		return -1;
	}
	int rc = cswap_replace(pl, out, end, olds, nold, &delay);
	if (rc <= 0) {
		if (rc < 0)
			log_error("log", "%s: cleaner: cannot commit cleaned segment %020lld: %s", pl->name,
				  (long long)base, strerror(errno));
		cswap_discard(pl, out, end);
		return rc;
	}
	/* out's reference now belongs to pl->segs; the old list references
	 * go to the trash. */
	if ((e = plog__sync_dir(pl->dirfd)) != 0)
		log_warn("log", "%s: cleaner: fsync of the partition dir failed: %s", pl->name, strerror(e));
	for (size_t i = 0; i < nold; i++)
		logdir__delete_segment_later(pl->ld, pl, olds[i], delay);
	cswap_finish(pl, out, end);
	return 1;
}

/* ============================================================ recovery */

/* Parses "<20 digits>.<20 digits>.log.swap". */
static bool parse_swap(const char *name, int64_t *base, int64_t *end)
{
	if (strlen(name) != 41 + strlen(".log.swap") || strcmp(name + 41, ".log.swap") != 0 ||
	    name[20] != '.')
		return false;
	int64_t v[2] = { 0, 0 };
	for (int f = 0; f < 2; f++) {
		for (int i = 0; i < 20; i++) {
			char c = name[f * 21 + i];
			if (c < '0' || c > '9' || v[f] > (INT64_MAX - 9) / 10)
				return false;
			v[f] = v[f] * 10 + (c - '0');
		}
	}
	*base = v[0];
	*end = v[1];
	return *base < *end;
}

/* Unlinks every live segment whose base is in [base, end). */
static int recover_unlink_replaced(struct plog *pl, int64_t base, int64_t end)
{
	DIR *d = segment_dir_list(pl->dirfd);
	if (d == NULL)
		return -1;
	int64_t *v = NULL;
	size_t n = 0, cap = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		long long b;
		char tail[8];
		if (strlen(e->d_name) != 24 || sscanf(e->d_name, "%20lld%7s", &b, tail) != 2 ||
		    strcmp(tail, ".log") != 0 || b < base || b >= end)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			int64_t *nv = realloc(v, cap * sizeof *v);
			if (nv == NULL)
				break;
			v = nv;
		}
		v[n++] = b;
	}
	closedir(d);
	for (size_t i = 0; i < n; i++)
		segment_unlink(pl->dirfd, v[i]);  /* its .txnindex too */
	free(v);
	return 0;
}

int cleaner__recover_swaps(struct plog *pl)
{
	DIR *d = segment_dir_list(pl->dirfd);
	if (d == NULL)
		return -1;
	int64_t swaps[8][2];
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL && n < 8;)
		if (parse_swap(e->d_name, &swaps[n][0], &swaps[n][1]))
			n++;
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		int64_t base = swaps[i][0], end = swaps[i][1];
		if (recover_unlink_replaced(pl, base, end) != 0)
			return -1;
		int e = cswap_rename(pl->dirfd, base, end, ".swap", "", true);
		if (e != 0) {
			errno = e;
			return -1;
		}
		log_info("log", "%s: completed an interrupted cleaner swap: segment %020lld replaces "
			 "offsets [%lld, %lld)", pl->name, (long long)base, (long long)base, (long long)end);
	}
	if (n > 0) {
		int e = plog__sync_dir(pl->dirfd);
		errno = e;
		return e == 0 ? 0 : -1;
	}
	return 0;
}
