/*
 * prefetch.c — reading ahead of consumers that read from the disk.
 *
 * Why: a fetch of data no longer in the page cache makes the network
 * thread wait for the disk twice — its pread of batch headers
 * (plog_read_segment) and its sendfile — and the kernel's own readahead
 * helps little: every reader of a segment shares one open file, whose
 * readahead state the header reads and the sendfiles of each consumer
 * keep resetting. Measured on the project machine (docs/performance.md):
 * a cold consume read 440-900 MB/s, the same records after the segment
 * was read ahead 1,100-2,050 MB/s.
 *
 * What: the log dir's prefetch thread asks the kernel to read the chunks
 * ahead of each reader that is behind the log end (posix_fadvise
 * WILLNEED: the kernel starts the reads and returns; no bytes are copied
 * to user space). The thread exists because even that call costs ~1 ms per
 * 4 MiB of cold file here, too long for the network thread.
 *
 * The rule: a segment is cut in PREFETCH_CHUNK-sized chunks; a read whose
 * bytes cross into chunk k (or start at the segment's first byte: a reader
 * moving on from the previous segment, or starting at the beginning) asks
 * for chunks k+1 .. k+PREFETCH_AHEAD, clipped to the bytes written.
 * Consecutive reads cross each boundary once, so a reader makes one
 * request per chunk it reads. The segment remembers its last request
 * (pf_from, pf_to): a request overlapping it within PREFETCH_MARK_MS
 * starts where it ended, so a lone sequential reader asks for each chunk
 * once (a reader arriving later, when the kernel may have dropped those
 * pages again, asks for its whole window). Readers far apart in
 * one segment each get their own lead (their windows do not overlap, so
 * nothing is trimmed; the pages one of them already asked for cost the
 * kernel a lookup only, ~25 µs per chunk here). A reader at the log end
 * reads inside the last chunk with nothing written past it: it asks for
 * nothing and wakes nobody (the usual tail fetch does not even get here,
 * see plog_read).
 *
 * The kernel reads at most max(device I/O size, readahead size) per
 * WILLNEED call and silently drops the rest, so the thread asks in steps
 * of the device's read_ahead_kb (/sys/class/bdi/<dev>/read_ahead_kb; 128
 * KiB when unknown).
 *
 * Memory: up to PREFETCH_AHEAD chunks (32 MiB) of page cache ahead of a
 * reader, and a budget for all of them together — min(RAM / 8, 512 MiB),
 * shared by the segments read ahead in the last second (counted per
 * epoch of PREFETCH_MARK_MS: O(1), no list to sweep): with many readers
 * each window shrinks, down to one chunk. Pages read ahead and then
 * dropped by the kernel before their reader came cost a second read, so
 * asking for more than memory holds would only waste the disk.
 *
 * Threads and ownership: prefetch_after_read runs on any reader's thread;
 * a queued request holds a segment reference (the file stays open even if
 * the segment is deleted meanwhile), dropped by the thread after the call,
 * or by prefetch_stop for requests never run. A full queue drops the new
 * request (the reader then reads as without this module).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log/log_int.h"
#include "util/clock.h"
#include "util/log.h"

void prefetch_init(struct prefetcher *pf)
{
	memset(pf, 0, sizeof *pf);
	pthread_mutex_init(&pf->mu, NULL);
	pthread_cond_init(&pf->cond, NULL);
	pf->step = PREFETCH_STEP_MIN;
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	uint64_t ram = pages > 0 && psize > 0 ? (uint64_t)pages * (uint64_t)psize : 0;
	pf->budget = ram > 0 && ram / 8 < PREFETCH_BUDGET_MAX ? ram / 8 : PREFETCH_BUDGET_MAX;
	pf->epoch = 1;
}

void prefetch_set_device(struct prefetcher *pf, int dirfd)
{
	struct stat st;
	char path[96];
	if (fstat(dirfd, &st) != 0)
		return;
	snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev),
		 minor(st.st_dev));
	FILE *f = fopen(path, "re");
	unsigned long kb = 0;
	if (f != NULL) {
		if (fscanf(f, "%lu", &kb) == 1 && kb * 1024 > pf->step)
			pf->step = kb * 1024 < PREFETCH_CHUNK ? kb * 1024 : PREFETCH_CHUNK;
		fclose(f);
	}
}

void prefetch_fini(struct prefetcher *pf)
{
	pthread_mutex_destroy(&pf->mu);
	pthread_cond_destroy(&pf->cond);
}

static void *prefetch_main(void *arg)
{
	struct prefetcher *pf = arg;
	pthread_setname_np(pthread_self(), "runnel-prefetch");
	pthread_mutex_lock(&pf->mu);
	for (;;) {
		while (pf->n == 0 && !pf->stop)
			pthread_cond_wait(&pf->cond, &pf->mu);
		if (pf->stop)
			break;
		struct prefetch_req r = pf->q[pf->head];
		pf->head = (pf->head + 1) % PREFETCH_QUEUE;
		pf->n--;
		pf->busy = true;
		pthread_mutex_unlock(&pf->mu);
		/* Advice only: a failure costs the reader nothing it would not
		 * pay anyway, so it is not reported. */
		for (uint64_t at = r.pos; at < r.pos + r.len; at += pf->step) {
			uint64_t n = r.pos + r.len - at < pf->step ? r.pos + r.len - at : pf->step;
			(void)posix_fadvise(r.seg->ref.fd, (off_t)at, (off_t)n, POSIX_FADV_WILLNEED);
		}
		segment_unref(r.seg);
		pthread_mutex_lock(&pf->mu);
		pf->busy = false;
		pthread_cond_broadcast(&pf->cond);  /* prefetch_wait_idle */
	}
	pthread_mutex_unlock(&pf->mu);
	return NULL;
}

/* Starts the thread on first use (pf->mu held): a broker whose consumers
 * all read at the log end never has one. False when it cannot start (then
 * logged once and never tried again). */
static bool prefetch_running(struct prefetcher *pf)
{
	if (pf->started || pf->failed || pf->stop)
		return pf->started && !pf->stop;
	int e = pthread_create(&pf->thread, NULL, prefetch_main, pf);
	if (e != 0) {
		pf->failed = true;
		log_warn("log", "cannot start the prefetch thread (%s): reads behind the log end "
			 "rely on the kernel's readahead alone", strerror(e));
		return false;
	}
	pf->started = true;
	return true;
}

bool prefetch_range(uint64_t from, uint64_t to, uint64_t size, unsigned ahead, uint64_t *pos,
		    uint64_t *len)
{
	if (to <= from)
		return false;
	uint64_t k = (to - 1) / PREFETCH_CHUNK;  /* chunk of the last byte read */
	if (from / PREFETCH_CHUNK == k && from != 0)
		return false;                    /* no boundary crossed */
	uint64_t start = (k + 1) * PREFETCH_CHUNK;
	uint64_t end = start + (uint64_t)ahead * PREFETCH_CHUNK;
	if (end > size)
		end = size;
	if (start >= end)
		return false;                    /* nothing written ahead: a tail reader */
	*pos = start;
	*len = end - start;
	return true;
}

/* The chunks each reader may have read ahead now: the budget shared by
 * the segments counted in this epoch or the last (the larger count), so
 * a reader that went quiet leaves the count within two epochs. pf->mu. */
static unsigned prefetch_ahead(struct prefetcher *pf, struct segment *seg, int64_t now)
{
	if (now - pf->epoch_ms >= PREFETCH_MARK_MS) {
		pf->readers_before = now - pf->epoch_ms < 2 * PREFETCH_MARK_MS ? pf->readers : 0;
		pf->readers = 0;
		pf->epoch++;
		pf->epoch_ms = now;
	}
	if (seg->pf_epoch != pf->epoch) {
		seg->pf_epoch = pf->epoch;
		pf->readers++;
	}
	uint64_t n = pf->readers > pf->readers_before ? pf->readers : pf->readers_before;
	uint64_t chunks = pf->budget / (n * PREFETCH_CHUNK);
	return chunks < 1 ? 1 : chunks > PREFETCH_AHEAD ? PREFETCH_AHEAD : (unsigned)chunks;
}

void prefetch_after_read(struct prefetcher *pf, struct segment *seg, uint64_t from, uint64_t to,
			 uint64_t size)
{
	uint64_t pos, len;
	if (!prefetch_range(from, to, size, 1, &pos, &len))
		return;  /* the common case, without a lock */
	int64_t now = clock_mono_ms();
	pthread_mutex_lock(&pf->mu);
	/* Crossed, with bytes ahead: true for any window of >= 1 chunk. */
	(void)prefetch_range(from, to, size, prefetch_ahead(pf, seg, now), &pos, &len);
	uint64_t end = pos + len;
	uint64_t start = pos;
	if (seg->pf_from <= pos && pos < seg->pf_to && now - seg->pf_ms < PREFETCH_MARK_MS)
		start = seg->pf_to;  /* the same reader's last request covers the head */
	if (start >= end) {
		pthread_mutex_unlock(&pf->mu);
		return;
	}
	if (pf->n == PREFETCH_QUEUE || !prefetch_running(pf)) {
		pf->dropped++;
		pthread_mutex_unlock(&pf->mu);
		return;
	}
	seg->pf_from = pos;
	seg->pf_to = end;
	seg->pf_ms = now;
	fileref_ref(&seg->ref);
	pf->q[(pf->head + pf->n) % PREFETCH_QUEUE] = (struct prefetch_req){ seg, start, end - start };
	pf->n++;
	pf->queued++;
	pf->bytes += end - start;
	pthread_cond_broadcast(&pf->cond);
	pthread_mutex_unlock(&pf->mu);
}

void prefetch_wait_idle(struct prefetcher *pf)
{
	pthread_mutex_lock(&pf->mu);
	while ((pf->n > 0 || pf->busy) && pf->started && !pf->stop)
		pthread_cond_wait(&pf->cond, &pf->mu);
	pthread_mutex_unlock(&pf->mu);
}

void prefetch_stop(struct prefetcher *pf)
{
	pthread_mutex_lock(&pf->mu);
	pf->stop = true;
	pthread_cond_broadcast(&pf->cond);
	bool started = pf->started;
	pthread_mutex_unlock(&pf->mu);
	if (started)
		pthread_join(pf->thread, NULL);
	pf->started = false;
	while (pf->n > 0) {              /* the thread is gone: no lock needed */
		segment_unref(pf->q[pf->head].seg);
		pf->head = (pf->head + 1) % PREFETCH_QUEUE;
		pf->n--;
	}
}
