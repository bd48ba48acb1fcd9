// deps: src/util src/record src/log src/txn
/*
 * test_log.c — the partition log: append and read back across segments,
 * fetch rules (whole batches, max_bytes, min_one, out of range), sparse
 * indexes, rolling, time lookups, clean reopen, group commit and its
 * waiters, sticky errors, checkpoint and deletion.
 * Torn tails and recovery are in test_log_recovery.c.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include "test_log_fixture.h"

/* ---------------------------------------------------------------- helpers */

/* Durability callbacks record (end offset, err) in call order. */
static pthread_mutex_t cb_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t cb_end[512];
static int cb_err[512];
static atomic_int cb_n;

static void on_durable(void *arg, int err)
{
	pthread_mutex_lock(&cb_mu);
	int i = atomic_load(&cb_n);
	cb_end[i] = (int64_t)(intptr_t)arg;
	cb_err[i] = err;
	atomic_store(&cb_n, i + 1);
	pthread_mutex_unlock(&cb_mu);
}

static void wait_callbacks(int n)
{
	for (int i = 0; i < 5000 && atomic_load(&cb_n) < n; i++)
		usleep(1000);
	CHECK_EQ(atomic_load(&cb_n), n);
}

/* A gate in front of fdatasync: syncs block while it is closed. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_closed;
static atomic_int syncs_entered, syncs_fail;

static int gated_sync(int fd)
{
	atomic_fetch_add(&syncs_entered, 1);
	pthread_mutex_lock(&gate_mu);
	while (gate_closed)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
	if (atomic_load(&syncs_fail)) {
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}

static void gate_set(bool closed)
{
	pthread_mutex_lock(&gate_mu);
	gate_closed = closed;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

static void wait_syncs_entered(int n)
{
	for (int i = 0; i < 5000 && atomic_load(&syncs_entered) < n; i++)
		usleep(1000);
	CHECK(atomic_load(&syncs_entered) >= n);
}

static void wait_recovery_point(struct plog *pl, int64_t want, int ms)
{
	for (int i = 0; i < ms && plog_recovery_point(pl) < want; i++)
		usleep(1000);
	CHECK_EQ(plog_recovery_point(pl), want);
}

/* Size of the batch the fixture builds for n records (same tag). */
static size_t batch_size(int n, const char *tag)
{
	size_t len;
	free(fx_batch(n, 1000, tag, &len));
	return len;
}

/* ------------------------------------------------------- append and read */

TEST(append_read_many_segments)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	cfg.segment_bytes = 2048;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "many", &cfg);
	CHECK_EQ(plog_end_offset(pl), 0);
	for (int i = 0; i < 200; i++)
		CHECK_EQ(fx_append(pl, 3, 1000 + i, "m"), 3 * i);
	CHECK_EQ(plog_end_offset(pl), 600);
	CHECK_EQ(plog_high_watermark(pl), 600);
	CHECK(atomic_load(&fx_notified) >= 200);  /* delay_notify after each append */
	char partdir[300];
	snprintf(partdir, sizeof partdir, "%s/many-0", fx_dir);
	int nseg = fx_count_files(partdir, ".log");
	CHECK(nseg >= plog_size_bytes(pl) / 2048);
	CHECK(nseg >= 5);
	CHECK_EQ(fx_count_files(partdir, ".index"), nseg);
	CHECK_EQ(fx_count_files(partdir, ".timeindex"), nseg);
	CHECK_EQ(fx_read_all(pl, 0), 200);
	/* no segment above segment.bytes */
	for (int64_t base = 0; base < 600;) {
		char p[400];
		fx_path(p, sizeof p, "many-0", base, ".log");
		long long sz = fx_file_size(p);
		CHECK(sz > 0 && sz <= 2048);
		base += sz / (long long)batch_size(3, "m") * 3;
	}
	logdir_close(ld);
	fx_done();
}

/* A partition dir the open has just created skips recovery (recovery.c,
 * recovery_empty): its first segment's names are made durable by the
 * first flush, before anything in it is acknowledged, and a crash that
 * loses them leaves an empty dir, which opens as an empty log again. */
TEST(new_partition_dir_synced_by_its_first_flush)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "fresh", &cfg);
	char dir[400];
	snprintf(dir, sizeof dir, "%s/fresh-0", fx_dir);
	CHECK_EQ(fx_count_files(dir, ".log") + fx_count_files(dir, ".index") +
		 fx_count_files(dir, ".timeindex"), 3);
	pthread_mutex_lock(&pl->mu);
	CHECK(pl->dir_dirty);
	pthread_mutex_unlock(&pl->mu);
	CHECK_EQ(fx_append(pl, 2, 1000, "f"), 0);
	CHECK_EQ(plog_flush(pl), KAFKA_NONE);
	pthread_mutex_lock(&pl->mu);
	CHECK(!pl->dir_dirty);
	pthread_mutex_unlock(&pl->mu);
	logdir_close(ld);
	/* What a crash before that flush could leave: the dir, no files. */
	static const char *const exts[] = { ".log", ".index", ".timeindex" };
	for (size_t i = 0; i < 3; i++) {
		char path[400];
		fx_path(path, sizeof path, "fresh-0", 0, exts[i]);
		CHECK_EQ(unlink(path), 0);
	}
	ld = fx_open_dir();
	pl = fx_open_plog(ld, "fresh", &cfg);
	CHECK_EQ(plog_end_offset(pl), 0);
	pthread_mutex_lock(&pl->mu);
	CHECK(!pl->dir_dirty);  /* an existing dir: recovery synced it */
	pthread_mutex_unlock(&pl->mu);
	CHECK_EQ(fx_append(pl, 1, 1000, "g"), 0);
	CHECK_EQ(fx_read_all(pl, 0), 1);
	logdir_close(ld);
	fx_done();
}

/* A clean close syncs only what the close's flush left: a flushed
 * partition's .log is not fdatasync'd again, an empty log gets no producer
 * snapshot; the next start still finds both logs clean (no scan). */
TEST(clean_close_of_flushed_partitions_syncs_nothing_more)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *full = fx_open_plog(ld, "full", &cfg);
	fx_open_plog(ld, "empty", &cfg);
	CHECK_EQ(fx_append(full, 3, 1000, "c"), 0);
	CHECK_EQ(plog_flush(full), KAFKA_NONE);
	long before = atomic_load(&plog__stats.data_syncs);
	logdir_close(ld);
	CHECK_EQ(atomic_load(&plog__stats.data_syncs) - before, 0);
	char dir[400];
	snprintf(dir, sizeof dir, "%s/empty-0", fx_dir);
	CHECK_EQ(fx_count_files(dir, ".snapshot"), 0);
	snprintf(dir, sizeof dir, "%s/full-0", fx_dir);
	CHECK_EQ(fx_count_files(dir, ".snapshot"), 1);
	fx_capture_begin();
	ld = fx_open_dir();
	full = fx_open_plog(ld, "full", &cfg);
	struct plog *empty = fx_open_plog(ld, "empty", &cfg);
	char *text = fx_capture_end();
	CHECK(strstr(text, "recovering") == NULL);
	free(text);
	CHECK_EQ(fx_read_all(full, 0), 1);
	CHECK_EQ(plog_end_offset(empty), 0);
	logdir_close(ld);
	fx_done();
}

TEST(read_from_middle_of_batch_returns_whole_batch)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "mid", &cfg);
	fx_append(pl, 10, 1000, "a");  /* 0..9 */
	fx_append(pl, 10, 1000, "b");  /* 10..19 */
	fx_append(pl, 10, 1000, "c");  /* 20..29 */
	struct plog_slice sl;
	CHECK_EQ(plog_read(pl, 15, 30, 1 << 20, false, &sl), KAFKA_NONE);
	size_t len = sl.len;
	CHECK_EQ(sl.pos, batch_size(10, "a"));
	uint8_t *p = fx_slice_bytes(&sl);
	struct batch_hdr h;
	CHECK_EQ(batch_parse_header(p, len, &h), 0);
	CHECK_EQ(h.base_offset, 10);
	CHECK_EQ(len, 2 * batch_size(10, "b"));
	free(p);
	/* max_offset (the high watermark) is exclusive: stop before batch c */
	CHECK_EQ(plog_read(pl, 15, 20, 1 << 20, false, &sl), KAFKA_NONE);
	CHECK_EQ(sl.len, batch_size(10, "b"));
	fileref_unref(sl.file);
	logdir_close(ld);
	fx_done();
}

TEST(read_max_bytes_and_min_one)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "sizes", &cfg);
	for (int i = 0; i < 4; i++)
		fx_append(pl, 5, 1000, "s");
	size_t one = batch_size(5, "s");
	struct plog_slice sl;
	CHECK_EQ(plog_read(pl, 0, 20, one * 2 + one / 2, false, &sl), KAFKA_NONE);
	CHECK_EQ(sl.len, 2 * one);
	fileref_unref(sl.file);
	CHECK_EQ(plog_read(pl, 0, 20, one * 2, false, &sl), KAFKA_NONE);
	CHECK_EQ(sl.len, 2 * one);
	fileref_unref(sl.file);
	/* smaller than one batch: nothing, unless min_one (KIP-74) */
	CHECK_EQ(plog_read(pl, 5, 20, one / 2, false, &sl), KAFKA_NONE);
	CHECK_EQ(sl.len, 0);
	CHECK(sl.file == NULL);
	CHECK_EQ(plog_read(pl, 5, 20, one / 2, true, &sl), KAFKA_NONE);
	CHECK_EQ(sl.len, one);
	CHECK_EQ(sl.pos, one);
	fileref_unref(sl.file);
	CHECK_EQ(plog_read(pl, 5, 20, 0, true, &sl), KAFKA_NONE);
	CHECK_EQ(sl.len, one);
	fileref_unref(sl.file);
	logdir_close(ld);
	fx_done();
}

/* The model of a read: batches in file order with their segment. */
struct rd_batch { int64_t base, last, seg; uint64_t pos, len; };

static void model_read(const struct rd_batch *b, int nb, int64_t offset, int64_t max_offset,
		       size_t max_bytes, bool min_one, struct plog_slice *want)
{
	int k = 0;
	while (k < nb && b[k].last < offset)
		k++;
	*want = (struct plog_slice){ .next_offset = offset };
	for (int i = k; i < nb && b[i].seg == b[k].seg && b[i].last < max_offset; i++) {
		if (want->len + b[i].len > max_bytes && !(want->len == 0 && min_one))
			break;
		if (want->len == 0)
			want->pos = b[i].pos;
		want->len += b[i].len;
		want->next_offset = b[i].last + 1;
	}
}

/* plog_read gives what the model says (the first nb batches of b). */
static void check_read(struct plog *pl, const struct rd_batch *b, int nb, int64_t offset,
		       int64_t max_offset, size_t max_bytes, bool min_one)
{
	struct plog_slice sl, want;
	model_read(b, nb, offset, max_offset, max_bytes, min_one, &want);
	CHECK_EQ(plog_read(pl, offset, max_offset, max_bytes, min_one, &sl), KAFKA_NONE);
	if (want.len > 0)  /* else pos says nothing */
		CHECK_EQ(sl.pos, want.pos);
	CHECK_EQ(sl.len, want.len);
	CHECK_EQ(sl.next_offset, want.next_offset);
	CHECK_EQ(sl.file == NULL, want.len == 0);
	if (sl.file)
		fileref_unref(sl.file);
}

/* Every offset, with and without the high watermark and byte limits,
 * across rolls: the reads that find their start among the recently
 * appended batches (and the tail fetch that reads nothing from the file)
 * give what the index-and-scan path gives, which this model spells out. */
TEST(read_matches_model_at_every_offset)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	cfg.segment_bytes = 3000;
	cfg.index_interval_bytes = 500;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "model", &cfg);
	static struct rd_batch b[160];
	int nb = 0;
	uint64_t seed = 12345;
	for (; nb < 160; nb++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		int n = 1 + (int)((seed >> 33) % 6);
		size_t len = batch_size(n, nb % 3 ? "x" : "longer-tag");
		int64_t base = fx_append(pl, n, 1000 + nb, nb % 3 ? "x" : "longer-tag");
		int64_t seg = pl->segs[pl->nsegs - 1]->base_offset;
		uint64_t pos = nb > 0 && b[nb - 1].seg == seg ? b[nb - 1].pos + b[nb - 1].len : 0;
		b[nb] = (struct rd_batch){ base, base + n - 1, seg, pos, len };
		/* Read at the tail after every append too (the common case),
		 * bound by the log end and by the end before this append (a
		 * high watermark read just before it). */
		for (int j = nb; j >= 0 && j > nb - 3; j--) {
			check_read(pl, b, nb + 1, b[j].base, plog_end_offset(pl), 1 << 20, true);
			check_read(pl, b, nb + 1, b[j].base, b[nb].base, 1 << 20, true);
		}
	}
	CHECK(pl->nsegs >= 4);
	int64_t leo = plog_end_offset(pl);
	size_t limits[] = { 1 << 20, 700, 50 };
	for (int64_t off = 0; off < leo; off++) {
		for (int m = 0; m < 3; m++) {
			int64_t max_offset = m == 0 ? leo : m == 1 ? leo - 4 : b[nb - 2].base;
			for (size_t l = 0; l < 3; l++) {
				check_read(pl, b, nb, off, max_offset, limits[l], false);
				check_read(pl, b, nb, off, max_offset, limits[l], true);
			}
		}
	}
	logdir_close(ld);
	fx_done();
}

TEST(read_offset_out_of_range)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "oor", &cfg);
	struct plog_slice sl;
	CHECK_EQ(plog_read(pl, 0, 0, 1000, true, &sl), KAFKA_NONE);  /* empty log, offset == end */
	CHECK_EQ(sl.len, 0);
	CHECK_EQ(plog_read(pl, 1, 0, 1000, true, &sl), KAFKA_OFFSET_OUT_OF_RANGE);
	fx_append(pl, 4, 1000, "o");
	CHECK_EQ(plog_read(pl, 4, 4, 1000, true, &sl), KAFKA_NONE);
	CHECK_EQ(sl.len, 0);
	CHECK(sl.file == NULL);
	CHECK_EQ(plog_read(pl, 5, 4, 1000, true, &sl), KAFKA_OFFSET_OUT_OF_RANGE);
	CHECK_EQ(plog_read(pl, -1, 4, 1000, true, &sl), KAFKA_OFFSET_OUT_OF_RANGE);
	CHECK_EQ(plog_read(pl, 3, 4, 1000, true, &sl), KAFKA_NONE);
	CHECK(sl.len > 0);
	fileref_unref(sl.file);
	logdir_close(ld);
	fx_done();
}

TEST(append_refuses_bad_record_sets)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "bad", &cfg);
	struct plog_append_result res;
	size_t len;
	uint8_t *b = fx_batch(3, 1000, "x", &len);
	CHECK_EQ(plog_append(pl, b, len - 1, 1000, &res), KAFKA_CORRUPT_MESSAGE);  /* cut short */
	CHECK_EQ(plog_append(pl, b, 0, 1000, &res), KAFKA_INVALID_RECORD);
	uint8_t *e = batch_build(0, 1000, 0, NULL, NULL, &len);
	memset(e + 23, 0xff, 4);  /* LastOffsetDelta -1: would take no offset */
	CHECK_EQ(plog_append(pl, e, len, 1000, &res), KAFKA_INVALID_RECORD);
	CHECK_EQ(plog_end_offset(pl), 0);
	free(e);
	free(b);
	logdir_close(ld);
	fx_done();
}

TEST(append_record_set_of_several_batches)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "multi", &cfg);
	fx_append(pl, 2, 1000, "p");
	size_t l1, l2;
	uint8_t *a = fx_batch(3, 1000, "a", &l1), *b = fx_batch(4, 1000, "b", &l2);
	uint8_t *set = malloc(l1 + l2);
	memcpy(set, a, l1);
	memcpy(set + l1, b, l2);
	struct plog_append_result res;
	CHECK_EQ(plog_append(pl, set, l1 + l2, 1000, &res), KAFKA_NONE);
	CHECK_EQ(res.base_offset, 2);
	CHECK_EQ(res.last_offset, 8);
	CHECK_EQ(res.log_append_time, -1);
	/* offsets were rewritten in the caller's buffer, CRCs still valid */
	struct batch_hdr h;
	CHECK_EQ(batch_validate(set + l1, l2, &h), KAFKA_NONE);
	CHECK_EQ(h.base_offset, 5);
	CHECK_EQ(fx_read_all(pl, 0), 3);
	free(a);
	free(b);
	free(set);
	logdir_close(ld);
	fx_done();
}

TEST(log_append_time_rewrites_timestamp)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	cfg.log_append_time = true;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "lat", &cfg);
	size_t len;
	uint8_t *b = fx_batch(3, 1000, "t", &len);
	struct plog_append_result res;
	CHECK_EQ(plog_append(pl, b, len, 1700000000123, &res), KAFKA_NONE);
	CHECK_EQ(res.log_append_time, 1700000000123);
	struct plog_slice sl;
	CHECK_EQ(plog_read(pl, 0, 3, 1 << 20, true, &sl), KAFKA_NONE);
	uint8_t *p = fx_slice_bytes(&sl);
	struct batch_hdr h;
	CHECK_EQ(batch_validate(p, len, &h), KAFKA_NONE);
	CHECK_EQ(h.max_timestamp, 1700000000123);
	CHECK(h.attributes & BATCH_ATTR_LOG_APPEND_TIME);
	int64_t off, ts;
	CHECK_EQ(plog_offset_for_time(pl, 1700000000000, &off, &ts), KAFKA_NONE);
	CHECK_EQ(off, 0);
	CHECK_EQ(ts, 1700000000123);
	free(p);
	free(b);
	logdir_close(ld);
	fx_done();
}

/* ------------------------------------------------------- indexes, rolls */

/* Checks an .index file: 8-byte entries, strictly increasing, each one the
 * last offset of the batch starting at its position. Returns entries. */
static long check_index_file(const char *part, int64_t base)
{
	char ipath[400], lpath[400];
	fx_path(ipath, sizeof ipath, part, base, ".index");
	fx_path(lpath, sizeof lpath, part, base, ".log");
	long long isz = fx_file_size(ipath);
	CHECK(isz >= 0 && isz % 8 == 0);
	int ifd = open(ipath, O_RDONLY), lfd = open(lpath, O_RDONLY);
	CHECK(ifd >= 0 && lfd >= 0);
	int64_t prev_off = -1, prev_pos = -1;
	for (long i = 0; i < isz / 8; i++) {
		uint8_t e[8], hdr[BATCH_HEADER_SIZE];
		CHECK_EQ(pread(ifd, e, 8, i * 8), 8);
		int64_t rel = (int32_t)((uint32_t)e[0] << 24 | e[1] << 16 | e[2] << 8 | e[3]);
		int64_t pos = (int32_t)((uint32_t)e[4] << 24 | e[5] << 16 | e[6] << 8 | e[7]);
		CHECK(base + rel > prev_off && pos > prev_pos);
		CHECK_EQ(pread(lfd, hdr, sizeof hdr, pos), (ssize_t)sizeof hdr);
		struct batch_hdr h;
		CHECK_EQ(batch_parse_header(hdr, sizeof hdr, &h), 0);
		CHECK_EQ(batch_last_offset(&h), base + rel);
		prev_off = base + rel;
		prev_pos = pos;
	}
	close(ifd);
	close(lfd);
	return (long)(isz / 8);
}

/* Open descriptors of this process. */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	CHECK(d != NULL);
	int n = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;  /* the listing's own */
}

/* A partition holds one descriptor per segment (its .log, for reads and
 * sendfile) and nothing else between operations: its dir and index files
 * are opened for a write and closed after it (plog.c, index.c), so 10,000
 * partitions fit a 20,000-descriptor limit. Data and indexes are still all
 * there after a restart. */
TEST(partition_holds_one_descriptor_per_segment)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	cfg.segment_bytes = 1024;
	cfg.index_interval_bytes = 1;
	struct logdir *ld = fx_open_dir();
	enum { NP = 40 };
	struct plog *pl[NP];
	int before = open_fds();
	for (int p = 0; p < NP; p++) {
		char topic[32];
		snprintf(topic, sizeof topic, "fd%d", p);
		pl[p] = fx_open_plog(ld, topic, &cfg);
	}
	CHECK_EQ(open_fds() - before, NP);
	for (int i = 0; i < 30; i++)
		for (int p = 0; p < NP; p++)
			fx_append(pl[p], 3, 1000 + i, "fd");
	for (int p = 0; p < NP; p++)
		CHECK_EQ(plog_flush(pl[p]), KAFKA_NONE);
	int segs = 0;
	for (int p = 0; p < NP; p++) {
		char dir[400];
		snprintf(dir, sizeof dir, "%s/fd%d-0", fx_dir, p);
		segs += fx_count_files(dir, ".log");
	}
	CHECK(segs >= 2 * NP);
	CHECK_EQ(open_fds() - before, segs);
	logdir_close(ld);
	ld = fx_open_dir();
	for (int p = 0; p < NP; p++) {
		char topic[32], part[40];
		snprintf(topic, sizeof topic, "fd%d", p);
		snprintf(part, sizeof part, "fd%d-0", p);
		pl[p] = fx_open_plog(ld, topic, &cfg);
		CHECK_EQ(fx_read_all(pl[p], 0), 30);
		CHECK_EQ(check_index_file(part, 0) > 0, 1);
	}
	logdir_close(ld);
	fx_done();
}

TEST(index_is_sparse)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	cfg.index_interval_bytes = 1024;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "sparse", &cfg);
	for (int i = 0; i < 500; i++)
		fx_append(pl, 10, 1000 + i, "s");
	flusher__index_lag = 0;  /* this flush writes every entry */
	CHECK_EQ(plog_flush(pl), KAFKA_NONE);
	flusher__index_lag = 4 << 20;
	long long size = plog_size_bytes(pl);
	long bsz = (long)batch_size(10, "s");
	long n = check_index_file("sparse-0", 0);
	/* Kafka's rule: an entry after more than interval bytes, so each
	 * entry covers (interval, interval + one batch] bytes. */
	CHECK(n <= size / 1024);
	CHECK(n >= size / (1024 + bsz) - 1);
	/* the time index has one entry per offset entry (timestamps grow) */
	char tpath[400];
	fx_path(tpath, sizeof tpath, "sparse-0", 0, ".timeindex");
	CHECK_EQ(fx_file_size(tpath), n * 12);
	CHECK_EQ(fx_read_all(pl, 0), 500);
	logdir_close(ld);
	fx_done();
}

TEST(roll_when_index_full)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	cfg.index_interval_bytes = 0;  /* an entry for every batch but the first */
	cfg.index_max_bytes = 32;      /* 4 offset entries */
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "ixfull", &cfg);
	for (int i = 0; i < 20; i++)
		fx_append(pl, 1, 1000 + i, "i");
	char partdir[300];
	snprintf(partdir, sizeof partdir, "%s/ixfull-0", fx_dir);
	CHECK(fx_count_files(partdir, ".log") >= 4);
	CHECK(check_index_file("ixfull-0", 0) <= 4);
	CHECK_EQ(fx_read_all(pl, 0), 20);
	logdir_close(ld);
	fx_done();
}

TEST(roll_by_age_and_big_batch_gets_own_segment)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	cfg.segment_ms = 1000;
	cfg.segment_bytes = 500;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "age", &cfg);
	int64_t t = 1700000000000;
	size_t len;
	uint8_t *b = fx_batch(2, t, "a", &len);
	struct plog_append_result res;
	CHECK_EQ(plog_append(pl, b, len, t, &res), KAFKA_NONE);
	free(b);
	b = fx_batch(2, t, "a", &len);
	CHECK_EQ(plog_append(pl, b, len, t + 500, &res), KAFKA_NONE);  /* same segment */
	free(b);
	char partdir[300], p[400];
	snprintf(partdir, sizeof partdir, "%s/age-0", fx_dir);
	CHECK_EQ(fx_count_files(partdir, ".log"), 1);
	b = fx_batch(2, t, "a", &len);
	CHECK_EQ(plog_append(pl, b, len, t + 2500, &res), KAFKA_NONE);  /* older than 1 s: roll */
	free(b);
	CHECK_EQ(fx_count_files(partdir, ".log"), 2);
	fx_path(p, sizeof p, "age-0", 4, ".log");
	CHECK(fx_file_size(p) > 0);
	/* a batch larger than segment.bytes goes into a segment of its own */
	b = fx_batch(100, t, "big", &len);
	CHECK(len > 500);
	CHECK_EQ(plog_append(pl, b, len, t + 2600, &res), KAFKA_NONE);
	CHECK_EQ(res.base_offset, 6);
	free(b);
	fx_path(p, sizeof p, "age-0", 6, ".log");
	CHECK_EQ(fx_file_size(p), (long long)len);
	fx_append(pl, 1, t, "after");
	fx_path(p, sizeof p, "age-0", 106, ".log");
	CHECK(fx_file_size(p) > 0);
	CHECK_EQ(fx_read_all(pl, 0), 5);
	logdir_close(ld);
	fx_done();
}

/* ------------------------------------------------------------ time */

TEST(offset_for_time_finds_first_record)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "time", &cfg);
	const int64_t d1[] = { 0, 10, 20 }, d2[] = { 0, 5, 50 }, d3[] = { 0, 0, 0 };
	const int64_t *ds[] = { d1, d2, d3 };
	for (int i = 0; i < 3; i++) {
		size_t len;
		uint8_t *b = fx_batch_ts(1000 * (i + 1), 3, ds[i], &len);
		struct plog_append_result res;
		CHECK_EQ(plog_append(pl, b, len, 5000, &res), KAFKA_NONE);
		free(b);
	}
	static const struct { int64_t ts, off, found; } cases[] = {
		{ 0, 0, 1000 }, { 1000, 0, 1000 }, { 1015, 2, 1020 }, { 1021, 3, 2000 },
		{ 2004, 4, 2005 }, { 2006, 5, 2050 }, { 2051, 6, 3000 }, { 3000, 6, 3000 },
		{ 3001, -1, -1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int64_t off, ts;
		CHECK_EQ(plog_offset_for_time(pl, cases[i].ts, &off, &ts), KAFKA_NONE);
		CHECK_EQ(off, cases[i].off);
		CHECK_EQ(ts, cases[i].found);
	}
	logdir_close(ld);
	fx_done();
}

TEST(offset_for_time_across_segments_and_reopen)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	cfg.segment_bytes = 4096;
	cfg.index_interval_bytes = 256;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "times", &cfg);
	for (int i = 0; i < 300; i++)
		fx_append(pl, 3, 1000LL * (i + 1), "t");
	for (int round = 0; round < 2; round++) {
		for (int64_t t = 1; t <= 300000; t += 997) {
			int64_t off, ts, i = (t + 999) / 1000;  /* first batch with 1000*i >= t */
			CHECK_EQ(plog_offset_for_time(pl, t, &off, &ts), KAFKA_NONE);
			CHECK_EQ(off, 3 * (i - 1));
			CHECK_EQ(ts, 1000 * i);
		}
		int64_t off, ts;
		CHECK_EQ(plog_max_timestamp(pl, &off, &ts), KAFKA_NONE);
		CHECK_EQ(ts, 300000);
		CHECK_EQ(off, 897);
		/* again after a clean close: timestamps come from the index files */
		logdir_close(ld);
		ld = fx_open_dir();
		pl = fx_open_plog(ld, "times", &cfg);
	}
	logdir_close(ld);
	fx_done();
}

TEST(max_timestamp_is_first_record_with_largest)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "maxts", &cfg);
	int64_t off, ts;
	CHECK_EQ(plog_max_timestamp(pl, &off, &ts), KAFKA_NONE);
	CHECK_EQ(off, -1);
	CHECK_EQ(ts, -1);
	const int64_t d1[] = { 0, 100, 50 }, d2[] = { 0, 0 }, d3[] = { 0, 100 };
	struct { int64_t base; int n; const int64_t *d; } bs[] = { { 5000, 3, d1 }, { 4000, 2, d2 }, { 5000, 2, d3 } };
	for (int i = 0; i < 3; i++) {
		size_t len;
		uint8_t *b = fx_batch_ts(bs[i].base, bs[i].n, bs[i].d, &len);
		struct plog_append_result res;
		CHECK_EQ(plog_append(pl, b, len, 9000, &res), KAFKA_NONE);
		free(b);
	}
	CHECK_EQ(plog_max_timestamp(pl, &off, &ts), KAFKA_NONE);
	CHECK_EQ(ts, 5100);
	CHECK_EQ(off, 1);
	logdir_close(ld);
	fx_done();
}

/* ------------------------------------------------------------ reopen */

TEST(reopen_after_clean_close_does_not_scan)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	cfg.segment_bytes = 4096;
	cfg.index_interval_bytes = 512;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "reopen", &cfg);
	for (int i = 0; i < 100; i++)
		fx_append(pl, 5, 1000 + i, "r");
	int64_t leo = plog_end_offset(pl), size = plog_size_bytes(pl);
	logdir_close(ld);
	char marker[300];
	snprintf(marker, sizeof marker, "%s/.clean-shutdown", fx_dir);
	CHECK(fx_file_size(marker) == 0);

	long scanned = atomic_load(&plog__stats.segments_scanned);
	long rebuilt = atomic_load(&plog__stats.index_rebuilds);
	ld = fx_open_dir();
	CHECK(fx_file_size(marker) < 0);  /* removed: a crash from now on is unclean */
	pl = fx_open_plog(ld, "reopen", &cfg);
	CHECK_EQ(atomic_load(&plog__stats.segments_scanned), scanned);
	CHECK_EQ(atomic_load(&plog__stats.index_rebuilds), rebuilt);
	CHECK_EQ(plog_end_offset(pl), leo);
	CHECK_EQ(plog_size_bytes(pl), size);
	CHECK_EQ(plog_recovery_point(pl), leo);
	CHECK_EQ(fx_read_all(pl, 0), 100);
	CHECK_EQ(fx_append(pl, 2, 5000, "more"), leo);
	CHECK_EQ(fx_read_all(pl, 0), 101);
	logdir_close(ld);
	fx_done();
}

/* ------------------------------------------------------------ durability */

TEST(waiters_fire_after_flush_in_offset_order)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "durable", &cfg);
	plog__fdatasync = gated_sync;
	gate_set(true);
	fx_append(pl, 3, 1000, "a");
	plog_when_durable(pl, 3, on_durable, (void *)(intptr_t)3);
	wait_syncs_entered(1);  /* the flusher is inside fdatasync for [0, 3) */
	fx_append(pl, 3, 1000, "b");
	fx_append(pl, 3, 1000, "c");
	plog_when_durable(pl, 9, on_durable, (void *)(intptr_t)9);
	plog_when_durable(pl, 6, on_durable, (void *)(intptr_t)6);
	usleep(50 * 1000);
	CHECK_EQ(atomic_load(&cb_n), 0);  /* nothing before the flush returns */
	CHECK_EQ(plog_recovery_point(pl), 0);
	gate_set(false);
	wait_callbacks(3);
	CHECK_EQ(cb_end[0], 3);
	CHECK_EQ(cb_end[1], 6);
	CHECK_EQ(cb_end[2], 9);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(cb_err[i], KAFKA_NONE);
	CHECK_EQ(plog_recovery_point(pl), 9);
	CHECK_EQ(atomic_load(&syncs_entered), 2);  /* the two later waiters shared one */
	/* already durable: the callback runs inline */
	plog_when_durable(pl, 9, on_durable, (void *)(intptr_t)99);
	CHECK_EQ(atomic_load(&cb_n), 4);
	CHECK_EQ(cb_end[3], 99);
	logdir_close(ld);
	fx_done();
}

TEST(group_commit_many_waiters_share_one_fdatasync)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "group", &cfg);
	plog__fdatasync = gated_sync;
	gate_set(true);
	fx_append(pl, 1, 1000, "first");
	plog_when_durable(pl, 1, on_durable, (void *)(intptr_t)1);
	wait_syncs_entered(1);
	long before = atomic_load(&plog__stats.data_syncs);
	for (int i = 0; i < 100; i++) {
		int64_t base = fx_append(pl, 2, 1000, "g");
		plog_when_durable(pl, base + 2, on_durable, (void *)(intptr_t)(base + 2));
	}
	gate_set(false);
	wait_callbacks(101);
	for (int i = 0; i < 101; i++) {
		CHECK_EQ(cb_err[i], KAFKA_NONE);
		CHECK(i == 0 || cb_end[i] > cb_end[i - 1]);
	}
	/* 100 acknowledgements, one more fdatasync */
	CHECK_EQ(atomic_load(&syncs_entered), 2);
	CHECK_EQ(atomic_load(&plog__stats.data_syncs) - before, 1);
	logdir_close(ld);
	fx_done();
}

TEST(flush_by_message_count)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	cfg.flush_messages = 10;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "count", &cfg);
	fx_append(pl, 5, 1000, "c");
	usleep(300 * 1000);
	CHECK_EQ(plog_recovery_point(pl), 0);  /* below the count, no time policy */
	fx_append(pl, 5, 1000, "c");
	wait_recovery_point(pl, 10, 3000);
	logdir_close(ld);
	fx_done();
}

TEST(flush_by_age)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	cfg.flush_ms = 50;
	char err[200];
	struct logdir *ld = logdir_open(fx_dir, 20, err, sizeof err);
	CHECK(ld != NULL);
	struct plog *pl = fx_open_plog(ld, "age", &cfg);
	fx_append(pl, 3, 1000, "a");
	wait_recovery_point(pl, 3, 3000);
	logdir_close(ld);
	fx_done();
}

/* syncfs stand-ins: counted; fail when told to. */
static atomic_int fs_syncs_called, fs_syncs_fail;

static int counted_syncfs(int fd)
{
	atomic_fetch_add(&fs_syncs_called, 1);
	if (atomic_load(&fs_syncs_fail)) {
		errno = EIO;
		return -1;
	}
	return syncfs(fd);
}

/* While partition "hold" is in its fdatasync (gate closed), six more get
 * data and a waiter; the next round takes them together. Returns the
 * partitions (pls[0] is "hold"); *data_before: data_syncs at that point. */
static void group_setup(struct logdir *ld, struct plog **pls, long *data_before)
{
	struct plog_config cfg = fx_cfg();
	plog__fdatasync = gated_sync;
	plog__syncfs = counted_syncfs;
	for (int i = 0; i < 7; i++) {
		char name[16];
		snprintf(name, sizeof name, i ? "grp%d" : "hold", i);
		pls[i] = fx_open_plog(ld, name, &cfg);
	}
	gate_set(true);
	fx_append(pls[0], 1, 1000, "h");
	plog_when_durable(pls[0], 1, on_durable, (void *)(intptr_t)1);
	wait_syncs_entered(1);
	*data_before = atomic_load(&plog__stats.data_syncs);
	for (int i = 1; i < 7; i++) {
		fx_append(pls[i], 2 + i, 1000, "g");
		plog_when_durable(pls[i], 2 + i, on_durable, (void *)(intptr_t)(2 + i));
	}
	gate_set(false);
	wait_callbacks(7);
}

TEST(group_flush_one_syncfs_for_many_partitions)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog *pls[7];
	long before;
	group_setup(ld, pls, &before);
	for (int i = 0; i < 7; i++)
		CHECK_EQ(cb_err[i], KAFKA_NONE);
	/* six partitions made durable by one syncfs, not six fdatasyncs */
	CHECK_EQ(atomic_load(&fs_syncs_called), 1);
	CHECK_EQ(atomic_load(&plog__stats.data_syncs) - before, 0);
	for (int i = 1; i < 7; i++)
		CHECK_EQ(plog_recovery_point(pls[i]), plog_end_offset(pls[i]));
	logdir_close(ld);
	fx_done();
}

TEST(group_flush_failure_falls_back_to_each_partition)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog *pls[7];
	long before;
	atomic_store(&fs_syncs_fail, 1);
	group_setup(ld, pls, &before);
	/* syncfs said "some file failed": each partition synced on its own,
	 * all of which succeeded here, so every waiter is answered well */
	for (int i = 0; i < 7; i++)
		CHECK_EQ(cb_err[i], KAFKA_NONE);
	CHECK_EQ(atomic_load(&fs_syncs_called), 1);
	CHECK_EQ(atomic_load(&plog__stats.data_syncs) - before, 6);
	for (int i = 1; i < 7; i++)
		CHECK_EQ(plog_recovery_point(pls[i]), plog_end_offset(pls[i]));
	logdir_close(ld);
	fx_done();
}

TEST(sticky_error_after_failed_fdatasync)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "syncfail", &cfg);
	plog__fdatasync = gated_sync;
	atomic_store(&syncs_fail, 1);
	fx_append(pl, 3, 1000, "a");
	fx_capture_begin();
	plog_when_durable(pl, 3, on_durable, (void *)(intptr_t)3);
	wait_callbacks(1);
	char *text = fx_capture_end();
	CHECK(strstr(text, "syncfail-0") && strstr(text, "00000000000000000000.log"));
	free(text);
	CHECK_EQ(cb_err[0], KAFKA_KAFKA_STORAGE_ERROR);
	CHECK_EQ(plog_recovery_point(pl), 0);
	/* sticky: no more appends, no more acknowledgements */
	atomic_store(&syncs_fail, 0);
	size_t len;
	uint8_t *b = fx_batch(1, 1000, "x", &len);
	struct plog_append_result res;
	CHECK_EQ(plog_append(pl, b, len, 1000, &res), KAFKA_KAFKA_STORAGE_ERROR);
	free(b);
	plog_when_durable(pl, 3, on_durable, (void *)(intptr_t)3);
	CHECK_EQ(atomic_load(&cb_n), 2);
	CHECK_EQ(cb_err[1], KAFKA_KAFKA_STORAGE_ERROR);
	CHECK_EQ(plog_flush(pl), KAFKA_KAFKA_STORAGE_ERROR);
	logdir_close(ld);
	char marker[300];
	snprintf(marker, sizeof marker, "%s/.clean-shutdown", fx_dir);
	CHECK(fx_file_size(marker) < 0);  /* not a clean stop */
	fx_done();
}

TEST(sticky_error_after_failed_write)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "wfail", &cfg);
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit rl;
	CHECK_EQ(getrlimit(RLIMIT_FSIZE, &rl), 0);
	struct rlimit small = { 16384, rl.rlim_max };
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
	fx_capture_begin();
	int64_t good = 0;
	int err = KAFKA_NONE;
	for (int i = 0; i < 100 && err == KAFKA_NONE; i++) {
		size_t len;
		uint8_t *b = fx_batch(50, 1000, "w", &len);
		struct plog_append_result res;
		err = plog_append(pl, b, len, 1000, &res);
		if (err == KAFKA_NONE)
			good = res.last_offset + 1;
		free(b);
	}
	char *text = fx_capture_end();
	CHECK_EQ(err, KAFKA_KAFKA_STORAGE_ERROR);
	CHECK(strstr(text, "wfail-0") && strstr(text, ".log"));
	free(text);
	CHECK(good > 0);
	CHECK_EQ(plog_end_offset(pl), good);
	size_t len;
	uint8_t *b = fx_batch(1, 1000, "tiny", &len);
	struct plog_append_result res;
	CHECK_EQ(plog_append(pl, b, len, 1000, &res), KAFKA_KAFKA_STORAGE_ERROR);  /* sticky */
	free(b);
	plog_when_durable(pl, good, on_durable, (void *)(intptr_t)good);
	wait_callbacks(1);
	CHECK_EQ(cb_err[0], KAFKA_KAFKA_STORAGE_ERROR);
	CHECK_EQ(fx_read_all(pl, 0), good / 50);  /* what was appended still reads */
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &rl), 0);
	logdir_close(ld);
	fx_done();
}

/* ------------------------------------------------ checkpoint, names, delete */

TEST(checkpoint_file_and_partition_names)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = NULL;
	CHECK_EQ(logdir_plog_open(ld, "my-topic.v2", 3, &cfg, &pl), KAFKA_NONE);
	CHECK_STR(plog_dir(pl) + strlen(fx_dir), "/my-topic.v2-3");
	struct plog *bad = NULL;
	CHECK_EQ(logdir_plog_open(ld, "../evil", 0, &cfg, &bad), KAFKA_INVALID_TOPIC_EXCEPTION);
	CHECK_EQ(logdir_plog_open(ld, "", 0, &cfg, &bad), KAFKA_INVALID_TOPIC_EXCEPTION);
	CHECK(bad == NULL);
	fx_append(pl, 5, 1000, "k");
	CHECK_EQ(plog_flush(pl), KAFKA_NONE);
	CHECK_EQ(plog_recovery_point(pl), 5);
	CHECK_EQ(logdir_checkpoint(ld), KAFKA_NONE);
	char path[300], text[200] = "";
	snprintf(path, sizeof path, "%s/recovery-point-offset-checkpoint", fx_dir);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	text[fread(text, 1, sizeof text - 1, f)] = '\0';
	fclose(f);
	CHECK_STR(text, "0\n1\nmy-topic.v2 3 5\n");

	char topic[300];
	int32_t part;
	CHECK_EQ(logdir__parse_name("my-topic.v2-3", topic, sizeof topic, &part), 0);
	CHECK_STR(topic, "my-topic.v2");
	CHECK_EQ(part, 3);
	CHECK_EQ(logdir__parse_name("a-b-c-17", topic, sizeof topic, &part), 0);
	CHECK_STR(topic, "a-b-c");
	CHECK_EQ(part, 17);
	CHECK_EQ(logdir__parse_name("nodash", topic, sizeof topic, &part), -1);
	CHECK_EQ(logdir__parse_name("t-", topic, sizeof topic, &part), -1);
	CHECK_EQ(logdir__parse_name("-1", topic, sizeof topic, &part), -1);
	CHECK_EQ(logdir__parse_name("t-1x", topic, sizeof topic, &part), -1);
	logdir_close(ld);
	fx_done();
}

/* Without a roll or a close, the recovery point reaches the checkpoint
 * file within about a second (written by the janitor): a crash then
 * rescans only what the last second wrote, not the last minute's. */
TEST(checkpoint_follows_flushes_within_seconds)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	CHECK_EQ(logdir_start_janitor(ld, 3600 * 1000), 0);
	struct plog *pl = fx_open_plog(ld, "ck", &cfg);
	char path[300], want[64], text[200] = "";
	snprintf(path, sizeof path, "%s/recovery-point-offset-checkpoint", fx_dir);
	for (int round = 1; round <= 2; round++) {
		fx_append(pl, 7, 1000, "c");
		plog_when_durable(pl, 7 * round, on_durable, (void *)(intptr_t)(7 * round));
		wait_callbacks(round);
		snprintf(want, sizeof want, "ck 0 %d\n", 7 * round);
		for (int i = 0; i < 3000 && !strstr(text, want); i++) {
			usleep(1000);
			FILE *f = fopen(path, "r");
			text[0] = '\0';
			if (f != NULL) {
				text[fread(text, 1, sizeof text - 1, f)] = '\0';
				fclose(f);
			}
		}
		CHECK(strstr(text, want) != NULL);
	}
	logdir_close(ld);
	fx_done();
}

TEST(malformed_checkpoint_means_full_recovery)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "ck", &cfg);
	fx_append(pl, 5, 1000, "k");
	logdir_close(ld);
	char path[300];
	snprintf(path, sizeof path, "%s/recovery-point-offset-checkpoint", fx_dir);
	FILE *f = fopen(path, "w");
	fputs("0\n3\nck 0 5\n", f);  /* count says 3, one line */
	fclose(f);
	long scanned = atomic_load(&plog__stats.segments_scanned);
	fx_capture_begin();
	ld = fx_open_dir();
	pl = fx_open_plog(ld, "ck", &cfg);
	char *text = fx_capture_end();
	CHECK(strstr(text, "WARN") && strstr(text, "malformed"));
	free(text);
	CHECK_EQ(atomic_load(&plog__stats.segments_scanned), scanned + 1);
	CHECK_EQ(plog_end_offset(pl), 5);
	logdir_close(ld);
	fx_done();
}

TEST(delete_renames_at_once_and_keeps_slices_readable)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	char err[200];
	struct logdir *ld = logdir_open(fx_dir, 20, err, sizeof err);
	CHECK(ld != NULL);
	struct plog *pl = fx_open_plog(ld, "gone-topic", &cfg);
	fx_append(pl, 4, 1000, "d");
	struct plog_slice sl;
	CHECK_EQ(plog_read(pl, 0, 4, 1 << 20, true, &sl), KAFKA_NONE);
	plog_when_durable(pl, 100, on_durable, (void *)(intptr_t)100);  /* never reachable */
	logdir_plog_delete(ld, pl);
	wait_callbacks(1);
	CHECK_EQ(cb_err[0], KAFKA_UNKNOWN_TOPIC_OR_PARTITION);
	char path[300];
	snprintf(path, sizeof path, "%s/gone-topic-0", fx_dir);
	CHECK(fx_file_size(path) < 0);
	/* an in-flight read still has its bytes */
	size_t len = sl.len;
	uint8_t *p = fx_slice_bytes(&sl);
	CHECK_EQ(batch_validate(p, len, NULL), KAFKA_NONE);
	free(p);
	/* the renamed dir goes away in the background */
	bool left = true;
	for (int i = 0; i < 3000 && left; i++) {
		left = false;
		DIR *d = opendir(fx_dir);
		for (struct dirent *e; (e = readdir(d)) != NULL;)
			left |= strstr(e->d_name, "-delete") != NULL;
		closedir(d);
		if (left)
			usleep(1000);
	}
	CHECK(!left);
	/* the same name starts empty */
	pl = fx_open_plog(ld, "gone-topic", &cfg);
	CHECK_EQ(plog_end_offset(pl), 0);
	logdir_close(ld);
	fx_done();
}

struct conc_reader {
	struct plog *pl;
	atomic_int stop;
	atomic_long batches;
};

/* Reads from random offsets below the high watermark while appends roll
 * segments; every slice must be whole valid batches holding the offset. */
static void *conc_reader_main(void *arg)
{
	struct conc_reader *r = arg;
	while (!atomic_load(&r->stop)) {
		int64_t hw = plog_high_watermark(r->pl);
		if (hw == 0)
			continue;
		int64_t off = (hw * 7919) % hw;
		struct plog_slice sl;
		CHECK_EQ(plog_read(r->pl, off, hw, 4096, true, &sl), KAFKA_NONE);
		CHECK(sl.len > 0);
		size_t len = sl.len;
		uint8_t *p = fx_slice_bytes(&sl);
		struct fx_seen s = { 0, 0, 0 };
		CHECK_EQ(batch_foreach(p, len, fx_check_batch, &s), KAFKA_NONE);
		CHECK(s.first_base <= off && s.next > off && s.next <= hw);
		atomic_fetch_add(&r->batches, s.nbatches);
		free(p);
	}
	return NULL;
}

/* A partition whose dir vanished from under its name (here moved aside
 * by hand; in the broker, a create renaming a dir it took for stale) is
 * deleted without touching that name again: a new partition created
 * under it at once keeps its files after the flusher's reap. */
TEST(delete_of_a_partition_whose_dir_is_gone_leaves_its_name_alone)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "again", &cfg);
	fx_append(pl, 3, 1000, "old");
	char path[300], aside[320];
	snprintf(path, sizeof path, "%s/again-0", fx_dir);
	snprintf(aside, sizeof aside, "%s/again-0.aside", fx_dir);
	CHECK_EQ(rename(path, aside), 0);
	logdir_plog_delete(ld, pl);
	pl = fx_open_plog(ld, "again", &cfg);
	fx_append(pl, 5, 2000, "new");
	CHECK_EQ(plog_flush(pl), KAFKA_NONE);
	logdir__reap(ld);
	CHECK_EQ(fx_read_all(pl, 0), 1);
	logdir_close(ld);
	ld = fx_open_dir();
	pl = fx_open_plog(ld, "again", &cfg);
	CHECK_EQ(plog_end_offset(pl), 5);
	CHECK_EQ(fx_read_all(pl, 0), 1);
	logdir_close(ld);
	fx_done();
}

TEST(concurrent_appends_reads_and_waiters)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	cfg.segment_bytes = 8192;
	cfg.index_interval_bytes = 512;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "conc", &cfg);
	struct conc_reader r = { .pl = pl };
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, conc_reader_main, &r), 0);
	for (int i = 0; i < 2000; i++) {
		int64_t base = fx_append(pl, 2, 1000 + i, "c");
		if (i % 50 == 0)
			plog_when_durable(pl, base + 2, on_durable, (void *)(intptr_t)(base + 2));
	}
	atomic_store(&r.stop, 1);
	pthread_join(th, NULL);
	wait_callbacks(40);
	for (int i = 0; i < 40; i++) {
		CHECK_EQ(cb_err[i], KAFKA_NONE);
		CHECK(i == 0 || cb_end[i] > cb_end[i - 1]);
	}
	CHECK(atomic_load(&r.batches) > 0);
	CHECK_EQ(fx_read_all(pl, 0), 2000);
	logdir_close(ld);
	fx_done();
}

UNIT_MAIN()
