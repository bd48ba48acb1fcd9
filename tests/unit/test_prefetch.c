// deps: src/util src/record src/log src/txn
/*
 * test_prefetch.c — reading ahead of readers behind the log end
 * (src/log/prefetch.c): the chunk rule, the pages it brings into the page
 * cache for a real read, and the tail reader that must cost nothing.
 */
#include <sys/mman.h>

#include "test_log_fixture.h"

#define MiB (1ULL << 20)

TEST(rule_asks_for_the_chunks_ahead_once_per_boundary)
{
	const uint64_t C = PREFETCH_CHUNK, A = PREFETCH_AHEAD;
	uint64_t pos, len;
	/* inside one chunk: nothing (the boundary was crossed earlier) */
	CHECK(!prefetch_range(C + 1, 2 * C - 1, 100 * C, A, &pos, &len));
	CHECK(!prefetch_range(5, 5, 100 * C, A, &pos, &len));
	/* crossing into chunk 2 asks for chunks 3 .. 2 + A */
	CHECK(prefetch_range(2 * C - 10, 2 * C + 10, 100 * C, A, &pos, &len));
	CHECK_EQ(pos, 3 * C);
	CHECK_EQ(len, A * C);
	/* a read at a segment's start (a reader moving on from the previous
	 * segment, or from the beginning) counts as entering chunk 0 */
	CHECK(prefetch_range(0, 1000, 100 * C, A, &pos, &len));
	CHECK_EQ(pos, C);
	CHECK_EQ(len, A * C);
	/* clipped to the bytes written; nothing when none lie ahead */
	CHECK(prefetch_range(2 * C - 10, 2 * C + 10, 3 * C + 7, A, &pos, &len));
	CHECK_EQ(pos, 3 * C);
	CHECK_EQ(len, 7);
	CHECK(!prefetch_range(2 * C - 10, 2 * C + 10, 3 * C, A, &pos, &len));
	CHECK(!prefetch_range(0, 1000, 1000, A, &pos, &len));
}

TEST(rule_keeps_a_sequential_reader_covered)
{
	/* Reads of 1 MiB minus a little (batch boundaries never line up with
	 * chunks) over 200 MiB: one request per chunk, and every byte past
	 * the first chunk was asked for before a read reached it. */
	const uint64_t size = 200 * MiB, step = MiB - 4321;
	uint64_t covered = PREFETCH_CHUNK, requests = 0;  /* chunk 0: the kernel's */
	for (uint64_t from = 0; from < size; from += step) {
		uint64_t to = from + step < size ? from + step : size;
		CHECK(to <= covered);
		uint64_t pos, len;
		if (prefetch_range(from, to, size, PREFETCH_AHEAD, &pos, &len)) {
			requests++;
			CHECK(pos <= covered);
			if (pos + len > covered)
				covered = pos + len;
		}
	}
	/* one per chunk entered, except the last: nothing lies past it */
	CHECK_EQ(requests, (size + PREFETCH_CHUNK - 1) / PREFETCH_CHUNK - 1);
	CHECK_EQ(covered, size);
}

/* Appends copies of one big batch until the log holds at least bytes. */
static void fill(struct plog *pl, uint64_t bytes)
{
	size_t len;
	uint8_t *b = fx_batch(4000, 1000, "prefetch", &len);
	uint8_t *copy = malloc(len);
	CHECK(copy != NULL);
	while ((uint64_t)plog_size_bytes(pl) < bytes) {
		memcpy(copy, b, len);
		struct plog_append_result res;
		CHECK_EQ(plog_append(pl, copy, len, 1000, &res), KAFKA_NONE);
	}
	free(copy);
	free(b);
}

/* Fraction (0..1) of the pages of [off, off + len) in the page cache. */
static double resident(int fd, uint64_t off, uint64_t len)
{
	long pg = sysconf(_SC_PAGESIZE);
	void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);
	CHECK(m != MAP_FAILED);
	size_t n = (len + (uint64_t)pg - 1) / (uint64_t)pg, in = 0;
	unsigned char *v = malloc(n);
	CHECK(v != NULL);
	CHECK_EQ(mincore(m, len, v), 0);
	for (size_t i = 0; i < n; i++)
		in += v[i] & 1;
	free(v);
	munmap(m, len);
	return (double)in / (double)n;
}

/* The first offset whose batch starts at or after byte pos. */
static int64_t offset_at(struct plog *pl, uint64_t pos)
{
	int64_t leo = plog_end_offset(pl);
	for (int64_t off = 0; off < leo;) {
		struct plog_slice sl;
		CHECK_EQ(plog_read(pl, off, leo, 1, true, &sl), KAFKA_NONE);
		uint64_t at = sl.pos;
		off = sl.next_offset;
		fileref_unref(sl.file);
		if (at >= pos)
			return off;
	}
	CHECK(!"no batch at that position");
	return -1;
}

TEST(read_behind_the_end_brings_the_chunks_ahead_into_the_cache)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	cfg.segment_bytes = 1 << 30;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "ahead", &cfg);
	const uint64_t C = PREFETCH_CHUNK, A = PREFETCH_AHEAD;
	fill(pl, (A + 4) * C);
	uint64_t size = (uint64_t)plog_size_bytes(pl);
	/* the read that crosses into chunk 1: find its offset first */
	int64_t from = offset_at(pl, C - 200 * 1024);  /* (its reads ask for chunks too) */
	CHECK_EQ(plog_flush(pl), KAFKA_NONE);  /* clean pages can be dropped */
	prefetch_wait_idle(&ld->pf);
	char path[400];
	fx_path(path, sizeof path, "ahead-0", 0, ".log");
	int fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	/* Pages still under a read started by the kernel are not dropped:
	 * retry a while. They stay on tmpfs: then residency is not checked. */
	bool evictable = false;
	for (int i = 0; i < 100 && !evictable; i++) {
		CHECK_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
		evictable = resident(fd, 0, size) < 0.05;
		if (!evictable)
			usleep(10 * 1000);
	}
	if (!evictable)
		fprintf(stderr, "note: %s stays in memory; residency not checked\n", path);

	/* The reads that found `from` asked for chunks too; this read comes
	 * "later" (the segment's mark is aged), after the pages were dropped. */
	pl->segs[0]->pf_ms -= PREFETCH_MARK_MS;
	uint64_t queued = ld->pf.queued;
	struct plog_slice sl;
	CHECK_EQ(plog_read(pl, from, plog_end_offset(pl), MiB, true, &sl), KAFKA_NONE);
	CHECK(sl.pos < C && sl.pos + sl.len > C);
	fileref_unref(sl.file);
	CHECK_EQ(ld->pf.queued, queued + 1);
	prefetch_wait_idle(&ld->pf);
	if (evictable) {
		/* chunks 2 .. 1 + A were asked for; the kernel reads them */
		double ahead = 0;
		for (int i = 0; i < 200 && (ahead = resident(fd, 2 * C, A * C)) < 0.95; i++)
			usleep(10 * 1000);
		CHECK(ahead >= 0.95);
		CHECK(resident(fd, (2 + A) * C + C / 2, size - (2 + A) * C - C / 2) < 0.05);
	}
	/* a second read inside the same chunk asks for nothing more */
	CHECK_EQ(plog_read(pl, sl.next_offset, plog_end_offset(pl), 64 * 1024, true, &sl),
		 KAFKA_NONE);
	fileref_unref(sl.file);
	CHECK_EQ(ld->pf.queued, queued + 1);
	close(fd);
	logdir_close(ld);
	fx_done();
}

TEST(reader_at_the_log_end_starts_no_thread)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	cfg.segment_bytes = 64 << 20;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "tail", &cfg);
	/* A consumer following the producer: each fetch reads what was just
	 * appended, across several chunks of the segment. */
	int64_t next = 0;
	for (int i = 0; i < 400; i++) {
		fill(pl, (uint64_t)plog_size_bytes(pl) + 1);
		struct plog_slice sl;
		CHECK_EQ(plog_read(pl, next, plog_end_offset(pl), MiB, true, &sl), KAFKA_NONE);
		CHECK(sl.len > 0);
		next = sl.next_offset;
		fileref_unref(sl.file);
	}
	CHECK(plog_size_bytes(pl) > 2 * PREFETCH_CHUNK);
	CHECK_EQ(next, plog_end_offset(pl));
	CHECK_EQ(ld->pf.queued, 0);
	CHECK(!ld->pf.started);
	logdir_close(ld);
	fx_done();
}

/* A prefetcher and an in-memory segment (no file: the kernel calls fail
 * with EBADF, which the thread ignores) for the queue's bookkeeping. */
static struct segment *fake_segment(struct prefetcher *pf)
{
	prefetch_init(pf);
	pf->step = PREFETCH_STEP_MIN;
	struct segment *seg = segment_new(0);
	CHECK(seg != NULL);
	return seg;
}

TEST(same_reader_asks_for_each_chunk_once)
{
	struct prefetcher pf;
	struct segment *seg = fake_segment(&pf);
	const uint64_t C = PREFETCH_CHUNK, A = PREFETCH_AHEAD, size = 1000 * C;
	prefetch_after_read(&pf, seg, 0, MiB, size);              /* the window: chunks 1..A */
	CHECK_EQ(pf.bytes, A * C);
	prefetch_after_read(&pf, seg, C - 10, C + 10, size);      /* only chunk A + 1 is new */
	CHECK_EQ(pf.bytes, (A + 1) * C);
	prefetch_after_read(&pf, seg, 500 * C - 1, 500 * C + 1, size);  /* another reader */
	CHECK_EQ(pf.bytes, (2 * A + 1) * C);
	prefetch_after_read(&pf, seg, 501 * C - 1, 501 * C + 1, size);
	CHECK_EQ(pf.bytes, (2 * A + 2) * C);
	seg->pf_ms -= PREFETCH_MARK_MS;                           /* a second later: all again */
	prefetch_after_read(&pf, seg, 502 * C - 1, 502 * C + 1, size);
	CHECK_EQ(pf.bytes, (3 * A + 2) * C);
	CHECK_EQ(pf.queued, 5);
	prefetch_stop(&pf);
	CHECK_EQ(atomic_load(&seg->ref.refs), 1);
	segment_unref(seg);
	prefetch_fini(&pf);
}

TEST(many_readers_share_the_budget)
{
	struct prefetcher pf;
	struct segment *segs[20];
	segs[0] = fake_segment(&pf);
	for (int i = 1; i < 20; i++)
		CHECK((segs[i] = segment_new(0)) != NULL);
	const uint64_t C = PREFETCH_CHUNK;
	pf.budget = 16 * C;
	/* Readers arriving one after another in the same second: the window
	 * each gets is the budget over the readers counted so far, between
	 * one chunk and PREFETCH_AHEAD. */
	uint64_t before = 0;
	for (int i = 0; i < 20; i++) {
		prefetch_after_read(&pf, segs[i], 0, MiB, 1000 * C);
		uint64_t want = 16 / (uint64_t)(i + 1);
		want = want < 1 ? 1 : want > PREFETCH_AHEAD ? PREFETCH_AHEAD : want;
		CHECK_EQ(pf.bytes - before, want * C);
		before = pf.bytes;
	}
	/* Two epochs later only the readers still reading count: one alone
	 * gets the whole window again. */
	pf.epoch_ms -= 2 * PREFETCH_MARK_MS;
	prefetch_after_read(&pf, segs[0], 500 * C - 1, 500 * C + 1, 1000 * C);
	CHECK_EQ(pf.bytes - before, PREFETCH_AHEAD * C);
	prefetch_stop(&pf);
	for (int i = 0; i < 20; i++) {
		CHECK_EQ(atomic_load(&segs[i]->ref.refs), 1);
		segment_unref(segs[i]);
	}
	prefetch_fini(&pf);
}

TEST(stop_releases_queued_segments_and_drops_later_requests)
{
	struct prefetcher pf;
	struct segment *seg = fake_segment(&pf);
	/* More requests than the queue holds: those that find it full are
	 * dropped (how many depends on the thread's pace); at stop the
	 * queued ones release their segment references. */
	for (int i = 0; i < PREFETCH_QUEUE * 4; i++) {
		seg->pf_to = 0;  /* each a new reader */
		prefetch_after_read(&pf, seg, 0, MiB, 100 * PREFETCH_CHUNK);
	}
	CHECK_EQ(pf.queued + pf.dropped, PREFETCH_QUEUE * 4);
	CHECK(pf.queued >= PREFETCH_QUEUE);
	prefetch_stop(&pf);
	CHECK_EQ(pf.n, 0);
	CHECK_EQ(atomic_load(&seg->ref.refs), 1);
	uint64_t dropped = pf.dropped;
	seg->pf_to = 0;
	prefetch_after_read(&pf, seg, 0, MiB, 100 * PREFETCH_CHUNK);  /* after stop */
	CHECK_EQ(pf.dropped, dropped + 1);
	CHECK_EQ(atomic_load(&seg->ref.refs), 1);
	segment_unref(seg);
	prefetch_fini(&pf);
}

UNIT_MAIN()
