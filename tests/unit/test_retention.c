// deps: src/util src/record src/log src/txn
/*
 * test_retention.c — retention and the log start offset: time and size
 * retention with a fake clock, the active segment never deleted, the start
 * offset moving with them, reads below it refused, .deleted files removed
 * after file.delete.delay.ms (by hand and by the janitor thread), a reader
 * holding a slice of a deleted segment, DeleteRecords and its checkpoint
 * surviving a reopen, and partition deletion forgetting the start.
 *
 * Layout used by most tests: batch j holds one record, offset j, timestamp
 * 10000 + 1000*j; segment.bytes fits exactly four batches, so segment k
 * holds offsets 4k..4k+3 (largest timestamp 13000 + 4000*k) and 20 batches
 * make five segments, the last one (base 16) active.
 */
#include "test_log_fixture.h"

enum { NBATCH = 20, PER_SEG = 4 };

static size_t one_batch_size(void)
{
	size_t len;
	free(fx_batch(1, 1000, "r", &len));
	return len;
}

static struct plog_config ret_cfg(void)
{
	struct plog_config c = fx_cfg();
	c.segment_bytes = (int64_t)(PER_SEG * one_batch_size());
	c.index_interval_bytes = 1;
	c.cleanup_delete = true;
	c.retention_ms = -1;
	c.retention_bytes = -1;
	c.file_delete_delay_ms = 60000;
	return c;
}

static struct plog *ret_open(struct logdir *ld, const char *topic, const struct plog_config *cfg)
{
	struct plog *pl = fx_open_plog(ld, topic, cfg);
	for (int j = 0; j < NBATCH; j++)
		CHECK_EQ(fx_append(pl, 1, 10000 + 1000 * j, "r"), j);
	return pl;
}

static const char *partdir(const char *topic)
{
	static char p[400];
	snprintf(p, sizeof p, "%s/%s-0", fx_dir, topic);
	return p;
}

static int read_err(struct plog *pl, int64_t offset)
{
	struct plog_slice sl;
	int err = plog_read(pl, offset, plog_high_watermark(pl), 1 << 20, true, &sl);
	if (sl.file)
		fileref_unref(sl.file);
	return err;
}

/* Reads the whole log-start-offset-checkpoint (caller frees). */
static char *lso_text(void)
{
	char path[400];
	snprintf(path, sizeof path, "%s/log-start-offset-checkpoint", fx_dir);
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 4096);
	CHECK(buf != NULL);
	if (f != NULL) {
		size_t n = fread(buf, 1, 4095, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

/* ------------------------------------------------------------ retention */

TEST(time_retention_deletes_expired_segments_never_the_active_one)
{
	fx_mkdir();
	struct plog_config cfg = ret_cfg();
	cfg.retention_ms = 5000;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = ret_open(ld, "t", &cfg);
	CHECK_EQ(fx_count_files(partdir("t"), ".log"), 5);
	/* Cut-off 18500: segments 0 (max 13000) and 1 (max 17000) expired,
	 * segment 2 (max 21000) not. */
	CHECK_EQ(plog_retention_run(pl, 23500), 2);
	CHECK_EQ(plog_start_offset(pl), 8);
	CHECK_EQ(fx_count_files(partdir("t"), ".log"), 3);
	CHECK_EQ(fx_count_files(partdir("t"), ".log.deleted"), 2);
	CHECK_EQ(fx_count_files(partdir("t"), ".index.deleted"), 2);
	CHECK_EQ(fx_count_files(partdir("t"), ".timeindex.deleted"), 2);
	CHECK_EQ(plog_size_bytes(pl), 12 * (int64_t)one_batch_size());
	CHECK_EQ(plog_retention_run(pl, 23500), 0);  /* nothing more due */
	/* Far in the future: everything but the active segment goes. */
	CHECK_EQ(plog_retention_run(pl, INT64_MAX / 2), 2);
	CHECK_EQ(plog_start_offset(pl), 16);
	CHECK_EQ(fx_count_files(partdir("t"), ".log"), 1);
	CHECK_EQ(plog_retention_run(pl, INT64_MAX / 2), 0);
	CHECK_EQ(plog_end_offset(pl), NBATCH);
	CHECK_EQ(fx_read_all(pl, 16), 4);
	CHECK_EQ(read_err(pl, 15), KAFKA_OFFSET_OUT_OF_RANGE);
	CHECK_EQ(read_err(pl, 0), KAFKA_OFFSET_OUT_OF_RANGE);
	CHECK_EQ(read_err(pl, 16), KAFKA_NONE);
	/* Appends go on at the end. */
	CHECK_EQ(fx_append(pl, 1, 99000, "r"), NBATCH);
	logdir_close(ld);
	fx_done();
}

TEST(size_retention_keeps_at_least_retention_bytes)
{
	fx_mkdir();
	struct plog_config cfg = ret_cfg();
	int64_t bs = (int64_t)one_batch_size();
	cfg.retention_bytes = 9 * bs;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = ret_open(ld, "s", &cfg);
	/* 20 batches: deleting segment 0 leaves 16 >= 9, segment 1 leaves
	 * 12 >= 9, segment 2 would leave 8 < 9. */
	CHECK_EQ(plog_retention_run(pl, 0), 2);
	CHECK_EQ(plog_size_bytes(pl), 12 * bs);
	CHECK_EQ(plog_start_offset(pl), 8);
	CHECK_EQ(plog_retention_run(pl, 0), 0);
	/* A config change applies at the next pass. */
	cfg.retention_bytes = 0;
	plog_set_config(pl, &cfg);
	CHECK_EQ(plog_retention_run(pl, 0), 2);
	CHECK_EQ(plog_start_offset(pl), 16);
	CHECK_EQ(plog_size_bytes(pl), 4 * bs);
	logdir_close(ld);
	fx_done();
}

TEST(no_delete_policy_keeps_everything)
{
	fx_mkdir();
	struct plog_config cfg = ret_cfg();
	cfg.cleanup_delete = false;
	cfg.cleanup_compact = true;
	cfg.retention_ms = 1;
	cfg.retention_bytes = 0;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = ret_open(ld, "c", &cfg);
	CHECK_EQ(plog_retention_run(pl, INT64_MAX / 2), 0);
	CHECK_EQ(plog_start_offset(pl), 0);
	CHECK_EQ(fx_count_files(partdir("c"), ".log"), 5);
	/* ... but the log start offset rule applies whatever the policy. */
	int64_t low;
	CHECK_EQ(plog_delete_records(pl, 9, &low), KAFKA_NONE);
	CHECK_EQ(low, 9);
	CHECK_EQ(fx_count_files(partdir("c"), ".log"), 3);  /* 0-3 and 4-7 went */
	logdir_close(ld);
	fx_done();
}

TEST(segment_without_timestamps_uses_file_mtime)
{
	fx_mkdir();
	struct plog_config cfg = ret_cfg();
	cfg.retention_ms = 60000;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "m", &cfg);
	for (int j = 0; j < 8; j++)
		fx_append(pl, 1, -1, "r");  /* no timestamps: max_ts stays -1 */
	CHECK_EQ(fx_count_files(partdir("m"), ".log"), 2);
	int64_t now = clock_wall_ms();
	CHECK_EQ(plog_retention_run(pl, now), 0);  /* written just now */
	CHECK_EQ(plog_retention_run(pl, now + 61000), 1);
	CHECK_EQ(plog_start_offset(pl), 4);
	logdir_close(ld);
	fx_done();
}

/* ---------------------------------------------------------- trash files */

TEST(deleted_files_removed_after_the_delay)
{
	fx_mkdir();
	struct plog_config cfg = ret_cfg();
	cfg.retention_bytes = 0;
	cfg.file_delete_delay_ms = 100000;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = ret_open(ld, "d", &cfg);
	CHECK_EQ(plog_retention_run(pl, 0), 4);
	CHECK_EQ(fx_count_files(partdir("d"), ".deleted"), 12);
	int64_t next = logdir__reap_segments(ld, clock_mono_ms());
	CHECK(next > clock_mono_ms() + 90000);  /* not yet due: kept */
	CHECK_EQ(fx_count_files(partdir("d"), ".deleted"), 12);
	CHECK_EQ(logdir__reap_segments(ld, next + 1000), INT64_MAX);
	CHECK_EQ(fx_count_files(partdir("d"), ".deleted"), 0);
	CHECK_EQ(fx_count_files(partdir("d"), ".log"), 1);
	logdir_close(ld);
	fx_done();
}

TEST(janitor_thread_applies_retention_and_removes_files)
{
	fx_mkdir();
	struct plog_config cfg = ret_cfg();
	cfg.retention_ms = 1000;  /* timestamps of 1970: all expired */
	cfg.file_delete_delay_ms = 50;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = ret_open(ld, "j", &cfg);
	CHECK_EQ(logdir_start_janitor(ld, 20), 0);
	int i;
	for (i = 0; i < 5000; i++) {
		if (fx_count_files(partdir("j"), ".log") == 1 &&
		    fx_count_files(partdir("j"), ".deleted") == 0)
			break;
		usleep(1000);
	}
	CHECK(i < 5000);
	CHECK_EQ(plog_start_offset(pl), 16);
	logdir_close(ld);  /* stops the janitor first */
	fx_done();
}

TEST(close_removes_pending_deleted_files)
{
	fx_mkdir();
	struct plog_config cfg = ret_cfg();
	cfg.retention_bytes = 0;
	cfg.file_delete_delay_ms = 1000000;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = ret_open(ld, "p", &cfg);
	CHECK_EQ(plog_retention_run(pl, 0), 4);
	CHECK_EQ(fx_count_files(partdir("p"), ".deleted"), 12);
	logdir_close(ld);
	CHECK_EQ(fx_count_files(partdir("p"), ".deleted"), 0);
	/* Reopened: only the active segment, start at its base. */
	ld = fx_open_dir();
	pl = fx_open_plog(ld, "p", &cfg);
	CHECK_EQ(plog_start_offset(pl), 16);
	CHECK_EQ(plog_end_offset(pl), NBATCH);
	logdir_close(ld);
	fx_done();
}

TEST(reader_holding_a_slice_of_a_deleted_segment_still_reads_it)
{
	fx_mkdir();
	struct plog_config cfg = ret_cfg();
	cfg.retention_bytes = 0;
	cfg.file_delete_delay_ms = 0;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = ret_open(ld, "r", &cfg);
	struct plog_slice sl;
	CHECK_EQ(plog_read(pl, 0, plog_high_watermark(pl), 1 << 20, true, &sl), KAFKA_NONE);
	CHECK(sl.len == (uint64_t)(PER_SEG * one_batch_size()));
	CHECK_EQ(plog_retention_run(pl, 0), 4);
	logdir__reap_segments(ld, clock_mono_ms());
	CHECK_EQ(fx_count_files(partdir("r"), ".deleted"), 0);
	char p[400];
	fx_path(p, sizeof p, "r-0", 0, ".log");
	CHECK_EQ(fx_file_size(p), -1);  /* gone from the directory */
	size_t len = sl.len;
	uint8_t *bytes = fx_slice_bytes(&sl);  /* still readable through the ref */
	struct fx_seen seen = { 0, 0, 0 };
	CHECK_EQ(batch_foreach(bytes, len, fx_check_batch, &seen), KAFKA_NONE);
	CHECK_EQ(seen.nbatches, PER_SEG);
	CHECK_EQ(seen.first_base, 0);
	free(bytes);
	CHECK_EQ(read_err(pl, 0), KAFKA_OFFSET_OUT_OF_RANGE);
	logdir_close(ld);
	fx_done();
}

/* -------------------------------------------------------- DeleteRecords */

TEST(delete_records_rules)
{
	fx_mkdir();
	struct plog_config cfg = ret_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = ret_open(ld, "x", &cfg);
	int64_t low = 123;
	CHECK_EQ(plog_delete_records(pl, NBATCH + 1, &low), KAFKA_OFFSET_OUT_OF_RANGE);
	CHECK_EQ(low, -1);
	CHECK_EQ(plog_delete_records(pl, -2, &low), KAFKA_OFFSET_OUT_OF_RANGE);
	CHECK_EQ(plog_delete_records(pl, 6, &low), KAFKA_NONE);
	CHECK_EQ(low, 6);
	CHECK_EQ(plog_start_offset(pl), 6);
	/* Segment 0 (offsets 0-3) went, segment 1 (4-7) holds the start. */
	CHECK_EQ(fx_count_files(partdir("x"), ".log"), 4);
	CHECK_EQ(fx_count_files(partdir("x"), ".log.deleted"), 1);
	CHECK_EQ(read_err(pl, 5), KAFKA_OFFSET_OUT_OF_RANGE);
	CHECK_EQ(read_err(pl, 6), KAFKA_NONE);
	/* Lower than the start: no-op, answers the start. */
	CHECK_EQ(plog_delete_records(pl, 2, &low), KAFKA_NONE);
	CHECK_EQ(low, 6);
	/* -1: the high watermark; the active segment stays, empty of readable
	 * records. */
	CHECK_EQ(plog_delete_records(pl, -1, &low), KAFKA_NONE);
	CHECK_EQ(low, NBATCH);
	CHECK_EQ(fx_count_files(partdir("x"), ".log"), 1);
	CHECK_EQ(read_err(pl, NBATCH), KAFKA_NONE);
	CHECK_EQ(read_err(pl, NBATCH - 1), KAFKA_OFFSET_OUT_OF_RANGE);
	CHECK_EQ(fx_append(pl, 1, 99000, "r"), NBATCH);
	logdir_close(ld);
	fx_done();
}

TEST(delete_records_mid_segment_survives_reopen)
{
	fx_mkdir();
	struct plog_config cfg = ret_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = ret_open(ld, "k", &cfg);
	int64_t low;
	CHECK_EQ(plog_delete_records(pl, 10, &low), KAFKA_NONE);
	CHECK_EQ(low, 10);
	char *text = lso_text();
	CHECK_STR(text, "0\n1\nk 0 10\n");
	free(text);
	logdir_close(ld);

	ld = fx_open_dir();
	pl = fx_open_plog(ld, "k", &cfg);
	CHECK_EQ(plog_start_offset(pl), 10);
	CHECK_EQ(plog_end_offset(pl), NBATCH);
	CHECK_EQ(read_err(pl, 9), KAFKA_OFFSET_OUT_OF_RANGE);
	CHECK_EQ(fx_read_all(pl, 10), NBATCH - 10);
	/* Retention past the start makes the entry unnecessary: the next
	 * write of the file drops it. */
	cfg.retention_bytes = 0;
	plog_set_config(pl, &cfg);
	CHECK_EQ(plog_retention_run(pl, 0), 2);
	CHECK_EQ(plog_start_offset(pl), 16);
	logdir_plog_delete(ld, pl);  /* rewrites the file without it */
	text = lso_text();
	CHECK_STR(text, "0\n0\n");
	free(text);
	logdir_close(ld);
	fx_done();
}

TEST(partition_delete_forgets_the_start)
{
	fx_mkdir();
	struct plog_config cfg = ret_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = ret_open(ld, "g", &cfg);
	struct plog *other = ret_open(ld, "h", &cfg);
	int64_t low;
	CHECK_EQ(plog_delete_records(pl, 5, &low), KAFKA_NONE);
	CHECK_EQ(plog_delete_records(other, 7, &low), KAFKA_NONE);
	logdir_plog_delete(ld, pl);
	char *text = lso_text();
	CHECK_STR(text, "0\n1\nh 0 7\n");
	free(text);
	/* The same name again: a new, empty log from offset 0. */
	pl = fx_open_plog(ld, "g", &cfg);
	CHECK_EQ(plog_start_offset(pl), 0);
	CHECK_EQ(plog_end_offset(pl), 0);
	logdir_close(ld);
	ld = fx_open_dir();
	pl = fx_open_plog(ld, "g", &cfg);
	other = fx_open_plog(ld, "h", &cfg);
	CHECK_EQ(plog_start_offset(pl), 0);
	CHECK_EQ(plog_start_offset(other), 7);
	logdir_close(ld);
	fx_done();
}

TEST(delete_records_racing_a_partition_delete_leaves_no_entry)
{
	fx_mkdir();
	struct plog_config cfg = ret_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = ret_open(ld, "w", &cfg);
	plog__ref(pl);  /* a request still holding the partition */
	logdir_plog_delete(ld, pl);
	int64_t low = 0;
	CHECK_EQ(plog_delete_records(pl, 5, &low), KAFKA_UNKNOWN_TOPIC_OR_PARTITION);
	CHECK_EQ(low, -1);
	plog__unref(pl);
	char *text = lso_text();
	CHECK(strstr(text, "w 0") == NULL);
	free(text);
	pl = fx_open_plog(ld, "w", &cfg);  /* created again: from 0 */
	CHECK_EQ(plog_start_offset(pl), 0);
	CHECK_EQ(plog_end_offset(pl), 0);
	logdir_close(ld);
	fx_done();
}

TEST(checkpointed_start_past_the_log_end_restarts_the_log)
{
	fx_mkdir();
	struct plog_config cfg = ret_cfg();
	struct logdir *ld = fx_open_dir();
	ret_open(ld, "z", &cfg);
	logdir_close(ld);
	/* As if the tail below a checkpointed start had been lost. */
	char path[400];
	snprintf(path, sizeof path, "%s/log-start-offset-checkpoint", fx_dir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("0\n1\nz 0 500\n", f);
	fclose(f);
	ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "z", &cfg);
	CHECK_EQ(plog_start_offset(pl), 500);
	CHECK_EQ(plog_end_offset(pl), 500);
	CHECK_EQ(fx_count_files(partdir("z"), ".log"), 1);
	CHECK_EQ(fx_append(pl, 1, 1000, "r"), 500);
	CHECK_EQ(fx_read_all(pl, 500), 1);
	logdir_close(ld);
	fx_done();
}

TEST(malformed_checkpoint_falls_back_to_first_segment)
{
	fx_mkdir();
	struct plog_config cfg = ret_cfg();
	char path[400];
	snprintf(path, sizeof path, "%s/log-start-offset-checkpoint", fx_dir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("0\n2\nq 0 5\n", f);  /* says two entries, holds one */
	fclose(f);
	fx_capture_begin();
	struct logdir *ld = fx_open_dir();
	char *logged = fx_capture_end();
	CHECK(strstr(logged, "malformed at line 4") != NULL);
	free(logged);
	struct plog *pl = ret_open(ld, "q", &cfg);
	CHECK_EQ(plog_start_offset(pl), 0);
	logdir_close(ld);
	fx_done();
}

UNIT_MAIN()
