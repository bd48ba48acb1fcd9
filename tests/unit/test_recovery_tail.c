// deps: src/util src/record src/log src/txn
/*
 * test_recovery_tail.c — after an unclean stop, recovery scans the segment
 * holding the recovery point only from the batch the offset index names
 * just below it (recovery.c, recovery_resume), and falls back to a full
 * scan of that segment when the index entry does not check out; and after
 * such a start the recovered log end reaches the checkpoint within
 * seconds (logdir.c), so a second crash does not scan it all again; index
 * files behind the log (written lazily, flusher.c) only lengthen the scan.
 *
 * Layout used throughout: one segment of 10 batches of PER records (batch
 * i at position i*s, offsets 10i..10i+9), index.interval.bytes = 1, so the
 * offset index holds an entry for every batch but the first: (10i+9, i*s)
 * for i = 1..9. The child flushes and checkpoints after 6 batches (RP =
 * 60), appends and flushes 4 more, and dies without closing. The last
 * entry whose batch ends below RP is (59, 5s): the scan covers 5s bytes.
 */
#include "test_log_fixture.h"

enum { PER = 10, NB = 10, AT_RP = 6 };

static size_t bsize(void)
{
	size_t len;
	free(fx_batch(PER, 1000, "b", &len));
	return len;
}

static struct plog_config cfg_tail(void)
{
	struct plog_config cfg = fx_cfg();
	cfg.index_interval_bytes = 1;
	flusher__index_lag = 0;  /* every flush writes the index files */
	return cfg;
}

/* The crash described above. */
static void crash_with_rp(const char *topic, const struct plog_config *cfg)
{
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct logdir *ld = fx_open_dir();
		struct plog *pl = fx_open_plog(ld, topic, cfg);
		for (int i = 0; i < NB; i++) {
			fx_append(pl, PER, 1000 + i, "b");
			if (i + 1 == AT_RP) {
				CHECK_EQ(plog_flush(pl), KAFKA_NONE);
				CHECK_EQ(logdir_checkpoint(ld), KAFKA_NONE);
			}
		}
		CHECK_EQ(plog_flush(pl), KAFKA_NONE);
		_exit(0);
	}
	int st;
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void seg_path(char *out, size_t len, const char *topic, const char *ext)
{
	char part[100];
	snprintf(part, sizeof part, "%.60s-0", topic);
	fx_path(out, len, part, 0, ext);
}

/* The crash, then both index files as it left them (caller frees); every
 * batch but the first has its offset-index entry. */
static void crash_and_read_indexes(const char *topic, const struct plog_config *cfg,
				   uint8_t **oidx, long long *on, uint8_t **tidx, long long *tn)
{
	char path[400];
	crash_with_rp(topic, cfg);
	seg_path(path, sizeof path, topic, ".index");
	*oidx = fx_slurp(path, on);
	CHECK_EQ(*on, (NB - 1) * INDEX_OFFSET_ENTRY);
	seg_path(path, sizeof path, topic, ".timeindex");
	*tidx = fx_slurp(path, tn);
}

/* The "scanned N bytes" figure of the recovery line in text. */
static long long scanned_bytes(const char *text)
{
	const char *w = strstr(text, "; scanned ");
	CHECK(w != NULL);
	return atoll(w + strlen("; scanned "));
}

/* Reopens (stderr captured), checks the recovered log: every record, the
 * max timestamp, both index files byte for byte as before the crash, and
 * appends resuming. Returns the bytes the recovery scanned. */
static long long reopen_and_check(const char *topic, const struct plog_config *cfg,
				  const uint8_t *oidx, long long on, const uint8_t *tidx, long long tn)
{
	fx_capture_begin();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, topic, cfg);
	char *text = fx_capture_end();
	CHECK(strstr(text, "recovering from offset 60 (unclean shutdown)") != NULL);
	CHECK(strstr(text, "truncated") == NULL);
	long long scanned = scanned_bytes(text);
	free(text);
	CHECK_EQ(plog_end_offset(pl), NB * PER);
	CHECK_EQ(fx_read_all(pl, 0), NB);
	int64_t off, ts;
	CHECK_EQ(plog_max_timestamp(pl, &off, &ts), KAFKA_NONE);
	CHECK_EQ(ts, 1000 + NB - 1);
	CHECK_EQ(off, (NB - 1) * PER);
	CHECK_EQ(plog_offset_for_time(pl, 1003, &off, &ts), KAFKA_NONE);
	CHECK_EQ(off, 30);
	char path[400];
	long long n;
	seg_path(path, sizeof path, topic, ".index");
	uint8_t *now = fx_slurp(path, &n);
	CHECK_EQ(n, on);
	CHECK(memcmp(now, oidx, (size_t)n) == 0);
	free(now);
	seg_path(path, sizeof path, topic, ".timeindex");
	now = fx_slurp(path, &n);
	CHECK_EQ(n, tn);
	CHECK(memcmp(now, tidx, (size_t)n) == 0);
	free(now);
	CHECK_EQ(fx_append(pl, 3, 9000, "new"), NB * PER);
	CHECK_EQ(fx_read_all(pl, 0), NB + 1);
	logdir_close(ld);
	return scanned;
}

TEST(unclean_stop_scans_from_the_batch_below_the_recovery_point)
{
	fx_mkdir();
	struct plog_config cfg = cfg_tail();
	long long s = (long long)bsize(), on, tn;
	uint8_t *oidx, *tidx;
	crash_and_read_indexes("tail", &cfg, &oidx, &on, &tidx, &tn);
	CHECK_EQ(reopen_and_check("tail", &cfg, oidx, on, tidx, tn), (NB - 5) * s);
	free(oidx);
	free(tidx);
	fx_done();
}

TEST(torn_tail_after_the_recovery_point_is_cut)
{
	fx_mkdir();
	struct plog_config cfg = cfg_tail();
	crash_with_rp("torn", &cfg);
	long long s = (long long)bsize();
	char path[400];
	seg_path(path, sizeof path, "torn", ".log");
	CHECK_EQ(truncate(path, (NB - 1) * s + s / 2), 0);
	fx_capture_begin();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "torn", &cfg);
	char *text = fx_capture_end();
	char want[120];
	snprintf(want, sizeof want, "truncated 00000000000000000000.log at position %lld ",
		 (NB - 1) * s);
	CHECK(strstr(text, want) != NULL);
	CHECK_EQ(scanned_bytes(text), (NB - 1) * s + s / 2 - 5 * s);
	free(text);
	CHECK_EQ(plog_end_offset(pl), (NB - 1) * PER);
	CHECK_EQ(fx_file_size(path), (NB - 1) * s);
	CHECK_EQ(fx_read_all(pl, 0), NB - 1);
	CHECK_EQ(fx_append(pl, 3, 9000, "new"), (NB - 1) * PER);
	logdir_close(ld);
	fx_done();
}

/* The index entry the scan would start from points inside a batch (still
 * sorted and below the log size, so the index loads): that segment is
 * scanned in full and its indexes come out as they were. */
TEST(bad_index_entry_below_the_recovery_point_means_a_full_scan)
{
	fx_mkdir();
	struct plog_config cfg = cfg_tail();
	long long s = (long long)bsize(), on, tn;
	uint8_t *oidx, *tidx;
	crash_and_read_indexes("badentry", &cfg, &oidx, &on, &tidx, &tn);
	char path[400];
	seg_path(path, sizeof path, "badentry", ".index");
	/* entry 4 = (59, 5s): move its position one byte back */
	uint8_t pos[4];
	uint32_t bad = (uint32_t)(5 * s - 1);
	pos[0] = (uint8_t)(bad >> 24), pos[1] = (uint8_t)(bad >> 16);
	pos[2] = (uint8_t)(bad >> 8), pos[3] = (uint8_t)bad;
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, pos, 4, 4 * INDEX_OFFSET_ENTRY + 4), 4);
	close(fd);
	CHECK_EQ(reopen_and_check("badentry", &cfg, oidx, on, tidx, tn), NB * s);
	free(oidx);
	free(tidx);
	fx_done();
}

/* The flusher writes the active segment's index entries only every
 * flusher__index_lag bytes of log (flusher.c): here never, so the crash
 * leaves the index files empty. Recovery then scans the whole segment and
 * writes indexes byte for byte equal to those of a log whose entries were
 * all stored before the same crash. */
TEST(index_files_behind_the_log_cost_a_longer_scan_only)
{
	fx_mkdir();
	struct plog_config cfg = cfg_tail();
	long long s = (long long)bsize(), on, tn;
	uint8_t *oidx, *tidx;
	crash_and_read_indexes("ref", &cfg, &oidx, &on, &tidx, &tn);
	char path[400];
	flusher__index_lag = INT64_MAX;
	crash_with_rp("lag", &cfg);
	seg_path(path, sizeof path, "lag", ".index");
	CHECK_EQ(fx_file_size(path), 0);
	CHECK_EQ(reopen_and_check("lag", &cfg, oidx, on, tidx, tn), NB * s);
	flusher__index_lag = 0;
	free(oidx);
	free(tidx);
	fx_done();
}

/* After an unclean start the recovered log end is durable; the flusher
 * writes it to the checkpoint soon (logdir.c), not 60 s later, so a
 * second crash scans only what came after. */
TEST(checkpoint_written_soon_after_an_unclean_start)
{
	fx_mkdir();
	struct plog_config cfg = cfg_tail();
	crash_with_rp("again", &cfg);
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "again", &cfg);
	CHECK_EQ(plog_end_offset(pl), NB * PER);
	char path[300], text[256] = "";
	snprintf(path, sizeof path, "%s/recovery-point-offset-checkpoint", fx_dir);
	bool found = false;
	for (int i = 0; i < 100 && !found; i++) {  /* 5 s; the flusher ticks every 1 s */
		int fd = open(path, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
		if (fd >= 0)
			close(fd);
		text[n > 0 ? n : 0] = '\0';
		found = strstr(text, "again 0 100\n") != NULL;
		if (!found)
			usleep(50 * 1000);
	}
	CHECK(found);
	logdir_close(ld);
	fx_done();
}

UNIT_MAIN()
