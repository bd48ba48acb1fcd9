// deps: src/util src/record src/log src/txn
/*
 * test_log_idem.c — idempotence in the partition log (plog.c, psnap.c,
 * retention.c): a retried batch is answered with its original offsets and
 * not written again; refused batches write nothing; the producer state
 * survives rolls, a clean close (snapshot), a crash (rebuilt by scanning)
 * and compaction of its snapshots by retention; a corrupt snapshot is
 * ignored; idle producers expire.
 */
#include "test_log_fixture.h"
#include "txn/pstate.h"

/* ---------------------------------------------------------------- helpers */

/* A batch of n records stamped ts from producer pid/epoch starting at
 * sequence seq. */
static uint8_t *idem_batch_ts(int64_t pid, int16_t epoch, int32_t seq, int n, int64_t ts,
			      size_t *len)
{
	char tag[40];
	snprintf(tag, sizeof tag, "p%d-e%d-s%d", (int)(pid % 100000), epoch, seq);
	uint8_t *b = fx_batch(n, ts, tag, len);
	uint8_t *q = b + 43;  /* ProducerId, ProducerEpoch, BaseSequence (batch.h) */
	for (int i = 7; i >= 0; i--, pid >>= 8)
		q[i] = (uint8_t)pid;
	q[8] = (uint8_t)((uint16_t)epoch >> 8);
	q[9] = (uint8_t)epoch;
	for (int i = 3; i >= 0; i--)
		q[10 + i] = (uint8_t)((uint32_t)seq >> (8 * (3 - i)));
	uint32_t crc = crc32c(0, b + 21, *len - 21);
	for (int i = 0; i < 4; i++)
		b[17 + i] = (uint8_t)(crc >> (24 - 8 * i));
	CHECK_EQ(batch_validate(b, *len, NULL), KAFKA_NONE);
	return b;
}

static uint8_t *idem_batch(int64_t pid, int16_t epoch, int32_t seq, int n, size_t *len)
{
	return idem_batch_ts(pid, epoch, seq, n, clock_wall_ms(), len);
}

/* Appends it; returns plog_append's code, *res filled. */
static int idem_append(struct plog *pl, int64_t pid, int16_t epoch, int32_t seq, int n,
		       struct plog_append_result *res)
{
	size_t len;
	uint8_t *b = idem_batch(pid, epoch, seq, n, &len);
	int err = plog_append(pl, b, len, clock_wall_ms(), res);
	free(b);
	return err;
}

/* Appends a new batch that must go in; returns its base offset. */
static int64_t idem_new(struct plog *pl, int64_t pid, int16_t epoch, int32_t seq, int n)
{
	struct plog_append_result res;
	CHECK_EQ(idem_append(pl, pid, epoch, seq, n, &res), KAFKA_NONE);
	CHECK(!res.duplicate);
	CHECK_EQ(res.last_offset - res.base_offset + 1, n);
	return res.base_offset;
}

/* A retry that must be found: same offsets, nothing written. */
static void idem_dup(struct plog *pl, int64_t pid, int16_t epoch, int32_t seq, int n, int64_t base)
{
	struct plog_append_result res;
	int64_t leo = plog_end_offset(pl), size = plog_size_bytes(pl);
	CHECK_EQ(idem_append(pl, pid, epoch, seq, n, &res), KAFKA_NONE);
	CHECK(res.duplicate);
	CHECK_EQ(res.base_offset, base);
	CHECK_EQ(res.last_offset, base + n - 1);
	CHECK_EQ(plog_end_offset(pl), leo);
	CHECK_EQ(plog_size_bytes(pl), size);
}

/* A batch that must be refused with err, nothing written. */
static void idem_refused(struct plog *pl, int64_t pid, int16_t epoch, int32_t seq, int n, int err)
{
	struct plog_append_result res;
	int64_t leo = plog_end_offset(pl), size = plog_size_bytes(pl);
	CHECK_EQ(idem_append(pl, pid, epoch, seq, n, &res), err);
	CHECK(!res.duplicate);
	CHECK_EQ(plog_end_offset(pl), leo);
	CHECK_EQ(plog_size_bytes(pl), size);
}

static char part_dir[400];

static const char *pdir(const char *topic)
{
	snprintf(part_dir, sizeof part_dir, "%s/%s-0", fx_dir, topic);
	return part_dir;
}

static bool snapshot_at(const char *part, int64_t off)
{
	char path[512];
	fx_path(path, sizeof path, part, off, ".snapshot");
	return access(path, F_OK) == 0;
}

/* Polls (5 s) for the janitor to write the snapshot at off. */
static void wait_snapshot(const char *part, int64_t off)
{
	for (int i = 0; i < 5000 && !snapshot_at(part, off); i++)
		usleep(1000);
	CHECK(snapshot_at(part, off));
}

/* Batches of 3 records, one segment each (segment.bytes below two of them). */
static struct plog_config small_segments(void)
{
	struct plog_config c = fx_cfg();
	size_t len;
	uint8_t *b = idem_batch(1, 0, 0, 3, &len);
	free(b);
	c.segment_bytes = (int64_t)len + 10;
	return c;
}

/* Writes seven batches of 3 records from producer 7 (sequences 0, 3, ...
 * 18) with another producer's and plain batches between them. Returns the
 * base offsets of producer 7's batches in bases[7]. */
static void seven_batches(struct plog *pl, int64_t *bases)
{
	for (int i = 0; i < 7; i++) {
		bases[i] = idem_new(pl, 7, 0, 3 * i, 3);
		idem_new(pl, 8, 2, i, 1);
		fx_append(pl, 1, clock_wall_ms(), "plain");
	}
}

/* The last five of seven_batches' batches are found, the older two are
 * out of sequence, the next sequence goes in. */
static void check_last_five(struct plog *pl, const int64_t *bases)
{
	for (int i = 2; i < 7; i++)
		idem_dup(pl, 7, 0, 3 * i, 3, bases[i]);
	idem_refused(pl, 7, 0, 0, 3, KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
	idem_refused(pl, 7, 0, 3, 3, KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
	idem_dup(pl, 8, 2, 6, 1, bases[6] + 3);
	int64_t leo = plog_end_offset(pl);
	CHECK_EQ(idem_new(pl, 7, 0, 21, 3), leo);
}

/* ------------------------------------------------------------------ tests */

TEST(duplicate_returns_original_offsets_and_writes_nothing)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog_config cfg = fx_cfg();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	fx_append(pl, 2, clock_wall_ms(), "plain");
	CHECK_EQ(idem_new(pl, 42, 0, 0, 3), 2);
	CHECK_EQ(fx_append(pl, 1, clock_wall_ms(), "plain"), 5);
	idem_dup(pl, 42, 0, 0, 3, 2);
	CHECK_EQ(idem_new(pl, 42, 0, 3, 2), 6);
	idem_dup(pl, 42, 0, 0, 3, 2);
	idem_dup(pl, 42, 0, 3, 2, 6);
	/* A duplicate is durable when its original is. */
	CHECK_EQ(plog_flush(pl), KAFKA_NONE);
	CHECK_EQ(fx_read_all(pl, 0), 4);
	logdir_close(ld);
	fx_done();
}

TEST(refused_batches_write_nothing)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog_config cfg = fx_cfg();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	CHECK_EQ(idem_new(pl, 5, 3, 0, 2), 0);
	idem_refused(pl, 5, 3, 5, 1, KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);   /* gap */
	idem_refused(pl, 5, 3, 1, 1, KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);   /* overlap */
	idem_refused(pl, 5, 2, 2, 1, KAFKA_INVALID_PRODUCER_EPOCH);         /* stale epoch */
	idem_refused(pl, 5, 4, 7, 1, KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);   /* new epoch, seq != 0 */
	idem_refused(pl, 6, 0, 5, 1, KAFKA_UNKNOWN_PRODUCER_ID);            /* unknown producer */

	/* Two batches in one set, one of them idempotent: INVALID_RECORD. */
	size_t a, b;
	uint8_t *x = idem_batch(5, 3, 2, 1, &a);
	uint8_t *y = fx_batch(1, clock_wall_ms(), "plain", &b);
	uint8_t *set = malloc(2 * a + b);
	memcpy(set, y, b);
	memcpy(set + b, x, a);
	struct plog_append_result res;
	CHECK_EQ(plog_append(pl, set, a + b, clock_wall_ms(), &res), KAFKA_INVALID_RECORD);
	memcpy(set, x, a);
	memcpy(set + a, x, a);
	CHECK_EQ(plog_append(pl, set, 2 * a, clock_wall_ms(), &res), KAFKA_INVALID_RECORD);
	CHECK_EQ(plog_end_offset(pl), 2);
	free(set);
	free(x);
	free(y);

	/* Nothing of it reached the state: the next sequence still fits, and
	 * a new epoch restarting at 0 fences the old one. */
	CHECK_EQ(idem_new(pl, 5, 3, 2, 1), 2);
	CHECK_EQ(idem_new(pl, 5, 4, 0, 1), 3);
	idem_refused(pl, 5, 3, 3, 1, KAFKA_INVALID_PRODUCER_EPOCH);
	CHECK_EQ(idem_new(pl, 6, 0, 0, 1), 4);
	CHECK_EQ(fx_read_all(pl, 0), 4);
	logdir_close(ld);
	fx_done();
}

TEST(retry_after_a_roll_is_found)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog_config cfg = small_segments();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	int64_t bases[5];
	for (int i = 0; i < 5; i++)
		bases[i] = idem_new(pl, 9, 1, 3 * i, 3);
	CHECK_EQ(fx_count_files(pdir("t"), ".log"), 5);
	for (int i = 0; i < 5; i++)
		idem_dup(pl, 9, 1, 3 * i, 3, bases[i]);
	CHECK_EQ(idem_new(pl, 9, 1, 15, 3), 15);
	/* Only the last five are kept: the first one is now out of sequence. */
	idem_refused(pl, 9, 1, 0, 3, KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
	idem_dup(pl, 9, 1, 3, 3, bases[1]);
	logdir_close(ld);
	fx_done();
}

TEST(reopen_after_clean_close)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog_config cfg = fx_cfg();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	int64_t bases[7];
	seven_batches(pl, bases);
	int64_t leo = plog_end_offset(pl);
	logdir_close(ld);
	CHECK(snapshot_at("t-0", leo));
	/* A valid snapshot at an offset that is no segment's base (the
	 * cleaner merged its segment away): removed at the next start. */
	char from[512], to[512], cmd[1100];
	fx_path(from, sizeof from, "t-0", leo, ".snapshot");
	fx_path(to, sizeof to, "t-0", 5, ".snapshot");
	snprintf(cmd, sizeof cmd, "cp %s %s", from, to);
	CHECK_EQ(system(cmd), 0);

	ld = fx_open_dir();
	pl = fx_open_plog(ld, "t", &cfg);
	CHECK(!snapshot_at("t-0", 5));
	CHECK(snapshot_at("t-0", leo));
	check_last_five(pl, bases);
	logdir_close(ld);

	/* A topic without idempotent producers: the snapshot at the end is
	 * empty and a clean start scans nothing. */
	ld = fx_open_dir();
	pl = fx_open_plog(ld, "plain", &cfg);
	for (int i = 0; i < 20; i++)
		fx_append(pl, 2, clock_wall_ms(), "plain");
	logdir_close(ld);
	CHECK(snapshot_at("plain-0", 40));
	fx_capture_begin();
	ld = fx_open_dir();
	pl = fx_open_plog(ld, "plain", &cfg);
	char *logged = fx_capture_end();
	CHECK(strstr(logged, "producer state") == NULL);
	free(logged);
	logdir_close(ld);
	fx_done();
}

/* A crash: nothing written at close; every snapshot the rolls queued was
 * written (janitor) or not — the state comes back from the log either
 * way. */
static void crash_case(bool with_rolls)
{
	fx_mkdir();
	struct plog_config cfg = with_rolls ? small_segments() : fx_cfg();
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		struct logdir *ld = fx_open_dir();
		if (with_rolls)
			CHECK_EQ(logdir_start_janitor(ld, 3600 * 1000), 0);
		struct plog *pl = fx_open_plog(ld, "t", &cfg);
		int64_t bases[7];
		seven_batches(pl, bases);
		CHECK_EQ(plog_flush(pl), KAFKA_NONE);
		/* the bases, for the parent */
		char path[300];
		snprintf(path, sizeof path, "%s/bases", fx_dir);
		FILE *out = fopen(path, "w");
		for (int i = 0; i < 7; i++)
			fprintf(out, "%lld\n", (long long)bases[i]);
		fclose(out);
		if (with_rolls) {
			/* The janitor writes the last roll's snapshot (a roll
			 * replaces the pending one of an earlier roll). */
			int64_t active = pl->segs[pl->nsegs - 1]->base_offset;
			CHECK(active > bases[6]);
			wait_snapshot("t-0", active);
		}
		_exit(0);  /* no close: no clean-shutdown marker, no close snapshot */
	}
	int st;
	CHECK_EQ(waitpid(child, &st, 0), child);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	int64_t bases[7];
	char path[300];
	snprintf(path, sizeof path, "%s/bases", fx_dir);
	FILE *in = fopen(path, "r");
	CHECK(in != NULL);
	for (int i = 0; i < 7; i++) {
		long long v;
		CHECK_EQ(fscanf(in, "%lld", &v), 1);
		bases[i] = v;
	}
	fclose(in);
	unlink(path);
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	check_last_five(pl, bases);
	logdir_close(ld);
	fx_done();
}

TEST(reopen_after_a_crash_rebuilds_by_scanning)
{
	crash_case(false);
}

TEST(reopen_after_a_crash_with_roll_snapshots)
{
	crash_case(true);
}

/* The restart scan covers the retry window (psnap.c): batches stamped long
 * before the log's newest are not scanned again; their producer keeps its
 * last batch from the snapshot, as in Kafka. */
TEST(restart_scans_the_retry_window_and_loads_the_snapshot_before_it)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	CHECK_EQ(logdir_start_janitor(ld, 3600 * 1000), 0);
	struct plog_config cfg = small_segments();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	int64_t old = clock_wall_ms() - 3600 * 1000;
	for (int i = 0; i < 6; i++) {
		size_t len;
		uint8_t *b = idem_batch_ts(20, 0, 3 * i, 3, old + i, &len);
		struct plog_append_result res;
		CHECK_EQ(plog_append(pl, b, len, clock_wall_ms(), &res), KAFKA_NONE);
		CHECK_EQ(res.base_offset, 3 * i);
		free(b);
		if (i > 0)
			wait_snapshot("t-0", 3 * i);
	}
	for (int i = 0; i < 6; i++) {
		CHECK_EQ(idem_new(pl, 21, 0, 3 * i, 3), 18 + 3 * i);
		wait_snapshot("t-0", 18 + 3 * i);
	}
	logdir_close(ld);
	CHECK(snapshot_at("t-0", 36));

	fx_capture_begin();
	ld = fx_open_dir();
	pl = fx_open_plog(ld, "t", &cfg);
	char *logged = fx_capture_end();
	CHECK(strstr(logged, "from the snapshot at 18") != NULL);
	free(logged);
	idem_dup(pl, 20, 0, 15, 3, 15);
	idem_refused(pl, 20, 0, 12, 3, KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
	for (int i = 1; i < 6; i++)
		idem_dup(pl, 21, 0, 3 * i, 3, 18 + 3 * i);
	CHECK_EQ(idem_new(pl, 20, 0, 18, 3), 36);
	logdir_close(ld);
	fx_done();
}

TEST(corrupt_or_misplaced_snapshots_are_ignored)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog_config cfg = fx_cfg();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	int64_t bases[7];
	seven_batches(pl, bases);
	int64_t leo = plog_end_offset(pl);
	logdir_close(ld);
	char snap[512], above[512];
	fx_path(snap, sizeof snap, "t-0", leo, ".snapshot");
	CHECK(access(snap, F_OK) == 0);
	/* Flip a byte of the state: its CRC no longer matches. */
	int fd = open(snap, O_RDWR);
	CHECK(fd >= 0);
	uint8_t byte;
	CHECK_EQ(pread(fd, &byte, 1, 12), 1);
	byte ^= 0x40;
	CHECK_EQ(pwrite(fd, &byte, 1, 12), 1);
	close(fd);
	/* A snapshot above the log end (the log lost its tail): removed. */
	fx_path(above, sizeof above, "t-0", leo + 100, ".snapshot");
	fd = open(above, O_WRONLY | O_CREAT, 0644);
	CHECK(fd >= 0);
	close(fd);

	fx_capture_begin();
	ld = fx_open_dir();
	pl = fx_open_plog(ld, "t", &cfg);
	char *logged = fx_capture_end();
	CHECK(strstr(logged, "not a valid producer snapshot") != NULL);
	CHECK(strstr(logged, "above the log end") != NULL);
	free(logged);
	CHECK(access(above, F_OK) != 0);
	check_last_five(pl, bases);
	logdir_close(ld);
	fx_done();
}

TEST(retention_removes_old_snapshots_and_producers_below_the_start)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog_config cfg = small_segments();
	cfg.cleanup_delete = true;
	cfg.retention_ms = -1;
	cfg.retention_bytes = -1;
	cfg.file_delete_delay_ms = 0;
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	CHECK_EQ(logdir_start_janitor(ld, 3600 * 1000), 0);
	/* Producer 1 writes first, then only producer 2: one segment each.
	 * The janitor writes each roll's snapshot (bases 3, 6, ... 18). */
	idem_new(pl, 1, 0, 0, 3);
	for (int i = 0; i < 6; i++) {
		CHECK_EQ(idem_new(pl, 2, 0, 3 * i, 3), 3 * i + 3);
		wait_snapshot("t-0", 3 * i + 3);
	}
	int64_t leo = plog_end_offset(pl);
	CHECK_EQ(leo, 21);

	/* DeleteRecords past producer 1's batch: it is forgotten (its retry
	 * is now an unknown producer's), its segments and snapshots go. */
	int64_t low;
	CHECK_EQ(plog_delete_records(pl, 9, &low), KAFKA_NONE);
	CHECK_EQ(low, 9);
	idem_refused(pl, 1, 0, 3, 1, KAFKA_UNKNOWN_PRODUCER_ID);
	CHECK(!snapshot_at("t-0", 3));
	CHECK(snapshot_at("t-0", 9));
	for (int64_t off = 9; off < leo; off += 3)
		CHECK(snapshot_at("t-0", off));
	CHECK(!snapshot_at("t-0", 6));
	CHECK_EQ(fx_count_files(pdir("t"), ".snapshot"), (int)((leo - 9) / 3));
	idem_dup(pl, 2, 0, 15, 3, 18);
	logdir_close(ld);

	/* Reopened: the state is the same. */
	ld = fx_open_dir();
	pl = fx_open_plog(ld, "t", &cfg);
	idem_refused(pl, 1, 0, 3, 1, KAFKA_UNKNOWN_PRODUCER_ID);
	idem_dup(pl, 2, 0, 15, 3, 18);
	idem_dup(pl, 2, 0, 9, 3, 12);
	logdir_close(ld);
	fx_done();
}

TEST(idle_producers_expire)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog_config cfg = fx_cfg();
	cfg.producer_id_expiration_ms = 60 * 1000;
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	int64_t now = clock_wall_ms();
	idem_new(pl, 3, 0, 0, 2);
	idem_new(pl, 4, 0, 0, 2);
	/* Producer 4 appends again a while later (its clock is now's). */
	CHECK_EQ(plog_retention_run(pl, now + 30 * 1000), 0);
	idem_dup(pl, 3, 0, 0, 2, 0);
	size_t len;
	uint8_t *b = idem_batch(4, 0, 2, 1, &len);
	struct plog_append_result res;
	CHECK_EQ(plog_append(pl, b, len, now + 50 * 1000, &res), KAFKA_NONE);
	free(b);
	/* 70 s on: producer 3 is idle past the limit, producer 4 is not. */
	CHECK_EQ(plog_retention_run(pl, now + 70 * 1000), 0);
	idem_refused(pl, 3, 0, 2, 1, KAFKA_UNKNOWN_PRODUCER_ID);
	idem_dup(pl, 4, 0, 2, 1, 4);
	/* Not configured (0): nothing expires. */
	cfg.producer_id_expiration_ms = 0;
	plog_set_config(pl, &cfg);
	CHECK_EQ(plog_retention_run(pl, now + 1000LL * 1000 * 1000), 0);
	idem_dup(pl, 4, 0, 2, 1, 4);
	logdir_close(ld);
	fx_done();
}

UNIT_MAIN()
