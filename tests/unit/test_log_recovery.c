// deps: src/util src/record src/log src/txn
/*
 * test_log_recovery.c — start-up recovery of the partition log: every
 * torn-tail and corruption case is a named test. A "crash" is a forked
 * child that appends and flushes, then _exit()s without closing (no
 * clean-shutdown marker; the page cache keeps its writes, as after kill -9).
 * The parent then damages the files, reopens, and checks: the log end
 * offset, the file cut exactly where the valid data ends, the WARN line
 * naming file and position, reads of what survived, and appends resuming at
 * the next offset.
 */
#include "test_log_fixture.h"

/* ---------------------------------------------------------------- fixture */

enum { PER = 10 };  /* records per batch */

static size_t bsize(void)
{
	size_t len;
	free(fx_batch(PER, 1000, "b", &len));
	return len;
}

/* Appends nbatches batches of PER records in a child that then dies
 * without closing. checkpoint: the child writes the checkpoint after its
 * last flush; otherwise the checkpoint file is removed (recovery point
 * unknown). */
static void crash_after_writes(const char *topic, const struct plog_config *cfg, int nbatches,
			       bool checkpoint)
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct logdir *ld = fx_open_dir();
		struct plog *pl = fx_open_plog(ld, topic, cfg);
		for (int i = 0; i < nbatches; i++)
			fx_append(pl, PER, 1000 + i, "b");
		CHECK_EQ(plog_flush(pl), KAFKA_NONE);
		if (checkpoint)
			CHECK_EQ(logdir_checkpoint(ld), KAFKA_NONE);
		_exit(0);
	}
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (!checkpoint) {
		char p[300];
		snprintf(p, sizeof p, "%s/recovery-point-offset-checkpoint", fx_dir);
		unlink(p);
	}
}

/* Writes and closes cleanly (marker and checkpoint written). */
static void clean_writes(const char *topic, const struct plog_config *cfg, int nbatches)
{
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, topic, cfg);
	for (int i = 0; i < nbatches; i++)
		fx_append(pl, PER, 1000 + i, "b");
	logdir_close(ld);
}

/* Reopens with stderr captured; returns the log text (caller frees). */
static char *reopen(struct logdir **ld, struct plog **pl, const char *topic,
		    const struct plog_config *cfg)
{
	fx_capture_begin();
	*ld = fx_open_dir();
	*pl = fx_open_plog(*ld, topic, cfg);
	return fx_capture_end();
}

/* ---------------------------------------------------------------- damage */

static void seg_path(char *out, size_t len, const char *topic, int64_t base, const char *ext)
{
	char part[100];
	snprintf(part, sizeof part, "%.60s-0", topic);
	fx_path(out, len, part, base, ext);
}

static void flip_byte(const char *path, long long at)
{
	int fd = open(path, O_RDWR);
	uint8_t c;
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, &c, 1, at), 1);
	c ^= 0x55;
	CHECK_EQ(pwrite(fd, &c, 1, at), 1);
	close(fd);
}

static void write_at(const char *path, long long at, const void *p, size_t n)
{
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, p, n, at), (ssize_t)n);
	close(fd);
}

static void append_bytes(const char *path, const uint8_t *p, size_t n)
{
	write_at(path, fx_file_size(path), p, n);
}

/* The WARN line names the file and the position where valid data ends. */
static void check_warn(const char *text, const char *file, long long pos, const char *why)
{
	char want[200];
	snprintf(want, sizeof want, "truncated %s at position %lld ", file, pos);
	const char *w = strstr(text, want);
	if (w == NULL)
		fprintf(stderr, "no WARN line with \"%s\"\n", want);
	CHECK(w != NULL);
	const char *line = w;
	while (line > text && line[-1] != '\n')
		line--;
	CHECK(strstr(line, "WARN") != NULL && strstr(line, "WARN") < w);
	if (why != NULL) {
		const char *eol = strchr(w, '\n');
		const char *r = strstr(w, why);
		CHECK(r != NULL && (eol == NULL || r < eol));
	}
}

/* After recovery: end offset, file size, reads, and appends resuming. */
static void check_recovered(struct logdir *ld, struct plog *pl, int kept, const char *logfile,
			    long long size)
{
	CHECK_EQ(plog_end_offset(pl), (int64_t)kept * PER);
	CHECK_EQ(plog_recovery_point(pl), (int64_t)kept * PER);
	if (logfile != NULL)
		CHECK_EQ(fx_file_size(logfile), size);
	CHECK_EQ(fx_read_all(pl, 0), kept);
	CHECK_EQ(fx_append(pl, 3, 9000, "new"), (int64_t)kept * PER);
	CHECK_EQ(fx_read_all(pl, 0), kept + 1);
	logdir_close(ld);
}

/* ------------------------------------------------------ torn tails (kill) */

TEST(torn_truncated_last_batch)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	crash_after_writes("torn", &cfg, 5, false);
	char log[400];
	seg_path(log, sizeof log, "torn", 0, ".log");
	long long s = (long long)bsize();
	CHECK_EQ(fx_file_size(log), 5 * s);
	CHECK_EQ(truncate(log, 4 * s + s / 2), 0);
	struct logdir *ld;
	struct plog *pl;
	char *text = reopen(&ld, &pl, "torn", &cfg);
	check_warn(text, "00000000000000000000.log", 4 * s, "torn batch");
	CHECK(strstr(text, "recovering") != NULL);
	free(text);
	check_recovered(ld, pl, 4, log, 4 * s);
	fx_done();
}

TEST(torn_cut_inside_batch_header)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	crash_after_writes("hdr", &cfg, 5, false);
	char log[400];
	seg_path(log, sizeof log, "hdr", 0, ".log");
	long long s = (long long)bsize();
	CHECK_EQ(truncate(log, 4 * s + 30), 0);
	struct logdir *ld;
	struct plog *pl;
	char *text = reopen(&ld, &pl, "hdr", &cfg);
	check_warn(text, "00000000000000000000.log", 4 * s, NULL);
	free(text);
	check_recovered(ld, pl, 4, log, 4 * s);
	fx_done();
}

TEST(torn_garbage_after_last_batch)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	crash_after_writes("garbage", &cfg, 5, false);
	char log[400];
	seg_path(log, sizeof log, "garbage", 0, ".log");
	long long s = (long long)bsize();
	uint8_t junk[100];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof junk; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		junk[i] = (uint8_t)x;
	}
	append_bytes(log, junk, sizeof junk);
	struct logdir *ld;
	struct plog *pl;
	char *text = reopen(&ld, &pl, "garbage", &cfg);
	check_warn(text, "00000000000000000000.log", 5 * s, NULL);
	free(text);
	check_recovered(ld, pl, 5, log, 5 * s);
	fx_done();
}

TEST(torn_flipped_byte_in_last_batch_crc)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	crash_after_writes("flip", &cfg, 5, false);
	char log[400];
	seg_path(log, sizeof log, "flip", 0, ".log");
	long long s = (long long)bsize();
	flip_byte(log, 4 * s + s / 2);
	struct logdir *ld;
	struct plog *pl;
	char *text = reopen(&ld, &pl, "flip", &cfg);
	check_warn(text, "00000000000000000000.log", 4 * s, "CRC mismatch");
	free(text);
	check_recovered(ld, pl, 4, log, 4 * s);
	fx_done();
}

TEST(torn_flipped_crc_field)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	crash_after_writes("crcf", &cfg, 5, false);
	char log[400];
	seg_path(log, sizeof log, "crcf", 0, ".log");
	long long s = (long long)bsize();
	flip_byte(log, 4 * s + 18);
	struct logdir *ld;
	struct plog *pl;
	char *text = reopen(&ld, &pl, "crcf", &cfg);
	check_warn(text, "00000000000000000000.log", 4 * s, "CRC mismatch");
	free(text);
	check_recovered(ld, pl, 4, log, 4 * s);
	fx_done();
}

TEST(torn_zero_filled_tail)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	crash_after_writes("zeros", &cfg, 5, false);
	char log[400];
	seg_path(log, sizeof log, "zeros", 0, ".log");
	long long s = (long long)bsize();
	uint8_t zeros[4096] = { 0 };
	append_bytes(log, zeros, sizeof zeros);
	struct logdir *ld;
	struct plog *pl;
	char *text = reopen(&ld, &pl, "zeros", &cfg);
	check_warn(text, "00000000000000000000.log", 5 * s, "invalid batch length 0");
	free(text);
	check_recovered(ld, pl, 5, log, 5 * s);
	fx_done();
}

TEST(torn_huge_length_field)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	crash_after_writes("huge", &cfg, 5, false);
	char log[400];
	seg_path(log, sizeof log, "huge", 0, ".log");
	long long s = (long long)bsize();
	const uint8_t len[4] = { 0x7f, 0xff, 0xff, 0xff };
	write_at(log, 4 * s + 8, len, 4);
	struct logdir *ld;
	struct plog *pl;
	char *text = reopen(&ld, &pl, "huge", &cfg);
	check_warn(text, "00000000000000000000.log", 4 * s, "past the end");
	free(text);
	check_recovered(ld, pl, 4, log, 4 * s);
	fx_done();
}

TEST(torn_wrong_base_offset)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	crash_after_writes("wrongbase", &cfg, 5, false);
	char log[400];
	seg_path(log, sizeof log, "wrongbase", 0, ".log");
	long long s = (long long)bsize();
	const uint8_t base[8] = { 0, 0, 0, 0, 0, 0, 0x03, 0xe8 };  /* 1000: outside the CRC */
	write_at(log, 4 * s, base, 8);
	struct logdir *ld;
	struct plog *pl;
	char *text = reopen(&ld, &pl, "wrongbase", &cfg);
	check_warn(text, "00000000000000000000.log", 4 * s, "do not follow on");
	free(text);
	check_recovered(ld, pl, 4, log, 4 * s);
	fx_done();
}

TEST(corrupt_batch_in_older_segment_recovery_point_zero)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	long long s = (long long)bsize();
	cfg.segment_bytes = 3 * s + 10;  /* 3 batches per segment: bases 0, 30, 60, 90 */
	crash_after_writes("older", &cfg, 12, false);
	char log[400], later[400];
	seg_path(log, sizeof log, "older", 30, ".log");
	CHECK_EQ(fx_file_size(log), 3 * s);
	flip_byte(log, s + s / 2);  /* the batch at offset 40 */
	long scanned = atomic_load(&plog__stats.segments_scanned);
	struct logdir *ld;
	struct plog *pl;
	char *text = reopen(&ld, &pl, "older", &cfg);
	check_warn(text, "00000000000000000030.log", s, "removed 2 later segments");
	CHECK(strstr(text, "(offset 40)") != NULL);
	free(text);
	CHECK_EQ(atomic_load(&plog__stats.segments_scanned), scanned + 2);
	for (int64_t b = 60; b <= 90; b += 30) {
		seg_path(later, sizeof later, "older", b, ".log");
		CHECK(fx_file_size(later) < 0);
		seg_path(later, sizeof later, "older", b, ".index");
		CHECK(fx_file_size(later) < 0);
	}
	check_recovered(ld, pl, 4, log, s);
	fx_done();
}

TEST(unclean_stop_scans_only_from_recovery_point)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	long long s = (long long)bsize();
	cfg.segment_bytes = 3 * s + 10;
	crash_after_writes("rp", &cfg, 12, true);  /* checkpoint: RP = 120 */
	long scanned = atomic_load(&plog__stats.segments_scanned);
	struct logdir *ld;
	struct plog *pl;
	char *text = reopen(&ld, &pl, "rp", &cfg);
	CHECK(strstr(text, "recovering from offset 120") != NULL);
	free(text);
	/* only the segment holding the recovery point (its tail may be torn) */
	CHECK_EQ(atomic_load(&plog__stats.segments_scanned), scanned + 1);
	check_recovered(ld, pl, 12, NULL, 0);
	fx_done();
}

TEST(damage_below_recovery_point_in_segment_holding_it)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	long long s = (long long)bsize();
	cfg.segment_bytes = 3 * s + 10;
	crash_after_writes("rpseg", &cfg, 11, true);  /* segments 0, 30, 60, 90 (2 batches) */
	char log[400];
	seg_path(log, sizeof log, "rpseg", 90, ".log");
	flip_byte(log, s / 2);  /* the first batch of the last segment */
	struct logdir *ld;
	struct plog *pl;
	char *text = reopen(&ld, &pl, "rpseg", &cfg);
	check_warn(text, "00000000000000000090.log", 0, "CRC mismatch");
	free(text);
	/* the active segment is now empty, based at 90 */
	check_recovered(ld, pl, 9, log, 0);
	fx_done();
}

/* ------------------------------------------------------ after a clean stop */

TEST(damage_after_clean_stop_is_cut_by_tail_check)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	clean_writes("cleanflip", &cfg, 5);
	char log[400];
	seg_path(log, sizeof log, "cleanflip", 0, ".log");
	long long s = (long long)bsize();
	flip_byte(log, 4 * s + s / 2);
	struct logdir *ld;
	struct plog *pl;
	char *text = reopen(&ld, &pl, "cleanflip", &cfg);
	CHECK(strstr(text, "tail check failed") != NULL);
	check_warn(text, "00000000000000000000.log", 4 * s, "CRC mismatch");
	free(text);
	check_recovered(ld, pl, 4, log, 4 * s);
	fx_done();
}

TEST(garbage_after_clean_stop_is_cut)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	clean_writes("cleangarbage", &cfg, 5);
	char log[400];
	seg_path(log, sizeof log, "cleangarbage", 0, ".log");
	long long s = (long long)bsize();
	uint8_t junk[64];
	memset(junk, 0xab, sizeof junk);
	append_bytes(log, junk, sizeof junk);
	struct logdir *ld;
	struct plog *pl;
	char *text = reopen(&ld, &pl, "cleangarbage", &cfg);
	check_warn(text, "00000000000000000000.log", 5 * s, NULL);
	free(text);
	check_recovered(ld, pl, 5, log, 5 * s);
	fx_done();
}

/* ------------------------------------------------------------- indexes */

/* Closes cleanly with several segments, damages segment 0's .index with
 * fn, reopens: the index is rebuilt, byte for byte as it was. */
static void index_case(const char *topic, void (*damage)(const char *path))
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	cfg.index_interval_bytes = 300;
	cfg.segment_bytes = 4096;
	clean_writes(topic, &cfg, 60);
	char ix[400];
	seg_path(ix, sizeof ix, topic, 0, ".index");
	long long n0, n1;
	uint8_t *before = fx_slurp(ix, &n0);
	CHECK(n0 >= 16);
	damage(ix);
	long rebuilt = atomic_load(&plog__stats.index_rebuilds);
	struct logdir *ld;
	struct plog *pl;
	free(reopen(&ld, &pl, topic, &cfg));
	CHECK_EQ(atomic_load(&plog__stats.index_rebuilds), rebuilt + 1);
	uint8_t *after = fx_slurp(ix, &n1);
	CHECK_EQ(n1, n0);
	CHECK(memcmp(before, after, (size_t)n0) == 0);
	free(before);
	free(after);
	int64_t off, ts;
	CHECK_EQ(plog_offset_for_time(pl, 1003, &off, &ts), KAFKA_NONE);
	CHECK_EQ(off, 30);
	check_recovered(ld, pl, 60, NULL, 0);
	fx_done();
}

static void remove_file(const char *path) { CHECK_EQ(unlink(path), 0); }

static void unsort_entries(const char *path)
{
	uint8_t a[8], b[8];
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, a, 8, 0), 8);
	CHECK_EQ(pread(fd, b, 8, 8), 8);
	CHECK_EQ(pwrite(fd, b, 8, 0), 8);
	CHECK_EQ(pwrite(fd, a, 8, 8), 8);
	close(fd);
}

static void point_past_end(const char *path)
{
	const uint8_t e[8] = { 0, 0, 0, 1, 0x7f, 0, 0, 0 };
	write_at(path, 0, e, 8);
}

static void half_entry(const char *path)
{
	CHECK_EQ(truncate(path, fx_file_size(path) - 3), 0);
}

TEST(missing_index_is_rebuilt) { index_case("noindex", remove_file); }
TEST(unsorted_index_is_rebuilt) { index_case("unsorted", unsort_entries); }
TEST(index_pointing_past_log_end_is_rebuilt) { index_case("pastend", point_past_end); }
TEST(index_with_partial_entry_is_rebuilt) { index_case("partial", half_entry); }

/* ------------------------------------------------------------ leftovers */

TEST(leftover_temp_and_orphan_files_removed)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	clean_writes("left", &cfg, 2);
	static const char *const junk[] = {
		"00000000000000000000.log.deleted", "00000000000000000000.index.swap",
		"00000000000000000000.log.cleaned", "00000000000000009999.index",
		"00000000000000009999.timeindex",
	};
	char p[400];
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		snprintf(p, sizeof p, "%s/left-0/%s", fx_dir, junk[i]);
		FILE *f = fopen(p, "w");
		CHECK(f != NULL);
		fputs("junk", f);
		fclose(f);
	}
	snprintf(p, sizeof p, "%s/old-0.0123abcd-delete", fx_dir);
	CHECK_EQ(mkdir(p, 0755), 0);
	snprintf(p, sizeof p, "%s/old-0.0123abcd-delete/00000000000000000000.log", fx_dir);
	fclose(fopen(p, "w"));
	struct logdir *ld;
	struct plog *pl;
	free(reopen(&ld, &pl, "left", &cfg));
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		snprintf(p, sizeof p, "%s/left-0/%s", fx_dir, junk[i]);
		CHECK(fx_file_size(p) < 0);
	}
	CHECK_EQ(plog_end_offset(pl), 20);
	snprintf(p, sizeof p, "%s/old-0.0123abcd-delete", fx_dir);
	for (int i = 0; i < 3000 && fx_file_size(p) >= 0; i++)
		usleep(1000);
	CHECK(fx_file_size(p) < 0);  /* removed by the flusher thread */
	check_recovered(ld, pl, 2, NULL, 0);
	fx_done();
}

TEST(unclean_stop_without_damage_keeps_everything)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	long long s = (long long)bsize();
	cfg.segment_bytes = 3 * s + 10;
	crash_after_writes("intact", &cfg, 10, false);
	long truncs = atomic_load(&plog__stats.truncations);
	struct logdir *ld;
	struct plog *pl;
	char *text = reopen(&ld, &pl, "intact", &cfg);
	CHECK(strstr(text, "recovered: log end offset 100") != NULL);
	CHECK(strstr(text, "will be recovered in full") != NULL);  /* no checkpoint */
	CHECK(strstr(text, "truncated") == NULL);
	free(text);
	CHECK_EQ(atomic_load(&plog__stats.truncations), truncs);
	int64_t off, ts;
	CHECK_EQ(plog_max_timestamp(pl, &off, &ts), KAFKA_NONE);
	CHECK_EQ(ts, 1009);
	CHECK_EQ(off, 90);
	check_recovered(ld, pl, 10, NULL, 0);
	fx_done();
}

UNIT_MAIN()
