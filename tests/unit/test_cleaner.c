// deps: src/util src/record src/log src/txn
/*
 * test_cleaner.c — the log cleaner (compaction): one pass through
 * cleaner__clean against a reference model (key -> latest offset and
 * value), tombstones and their delay, a map too small for the dirty
 * section, producer and control batches, compressed batches, a reader
 * across a swap, reopening, and every crash point of the swap protocol
 * (cleaner_swap.c) rebuilt on disk by hand from a copy of the old files.
 * Transactions (markers through plog_append_marker, no verify hook):
 * aborted records never enter the map nor the output, the committed older
 * value of a key they touched survives, markers and the aborted list
 * (memory and `.txnindex`) stay, nothing at or past an open transaction's
 * segment is cleaned, and the crash points keep each segment's `.txnindex`.
 */
#include "test_log_fixture.h"

#include "log/cleaner_int.h"
#include "record/compression.h"

/* ---------------------------------------------------------------- fixture */

enum { NKEYS_MAX = 2000, TS = 1000 };

#define TOPIC "cmp"
#define PART "cmp-0"

/* The model: what a full read must return after cleaning everything. */
struct model {
	int64_t off[NKEYS_MAX];     /* latest offset of key i, -1 never written */
	int val[NKEYS_MAX];         /* its value number, -1 tombstone */
	int nkeys;
};

static struct plog_config cfg_compact(void)
{
	struct plog_config c = fx_cfg();
	c.segment_bytes = 8192;
	c.index_interval_bytes = 256;
	c.cleanup_compact = true;
	c.delete_retention_ms = 10000;
	c.min_cleanable_dirty_ratio = 0.5;
	c.max_compaction_lag_ms = INT64_MAX;
	return c;
}

/* Appends one batch of n records: keys[i] (-1: null key) with value vals[i]
 * (-1: tombstone). Returns the base offset. */
static int64_t append_kv(struct plog *pl, int n, const int *keys, const int *vals, int64_t ts)
{
	struct batch_kv kv[64];
	char kb[64][16], vb[64][24];
	CHECK(n <= 64);
	for (int i = 0; i < n; i++) {
		snprintf(kb[i], sizeof kb[i], "k%d", keys[i]);
		snprintf(vb[i], sizeof vb[i], "v%d", vals[i]);
		kv[i] = (struct batch_kv){ keys[i] < 0 ? NULL : (const uint8_t *)kb[i], strlen(kb[i]),
					   vals[i] < 0 ? NULL : (const uint8_t *)vb[i], strlen(vb[i]) };
	}
	size_t len;
	uint8_t *b = batch_build_kv(0, ts, n, kv, &len);
	CHECK(b != NULL);
	struct plog_append_result res;
	CHECK_EQ(plog_append(pl, b, len, ts, &res), KAFKA_NONE);
	free(b);
	return res.base_offset;
}

/* Writes `updates` records over nkeys keys (a fixed pseudo-random order),
 * 10 a batch, then a tombstone for every 10th key, updating m. */
static void write_updates(struct plog *pl, struct model *m, int nkeys, int updates, uint32_t seed)
{
	int keys[10], vals[10];
	m->nkeys = nkeys;
	for (int u = 0; u < updates; u += 10) {
		for (int i = 0; i < 10; i++) {
			seed = seed * 1103515245u + 12345u;
			keys[i] = (int)((seed >> 8) % (uint32_t)nkeys);
			vals[i] = u + i;
		}
		int64_t base = append_kv(pl, 10, keys, vals, TS);
		for (int i = 0; i < 10; i++) {
			m->off[keys[i]] = base + i;
			m->val[keys[i]] = vals[i];
		}
	}
	for (int k = 0; k < nkeys; k += 10) {
		int key = k, val = -1;
		m->off[k] = append_kv(pl, 1, &key, &val, TS);
		m->val[k] = -1;
	}
}

/* A record larger than a segment: the active segment then holds only it,
 * so everything before is cleanable. Its key is outside the model. */
static void roll_past(struct plog *pl)
{
	static char big[10000];
	memset(big, 'x', sizeof big - 1);
	struct batch_kv kv = { (const uint8_t *)"roller", 6, (const uint8_t *)big, sizeof big - 1 };
	size_t len;
	uint8_t *b = batch_build_kv(0, TS, 1, &kv, &len);
	struct plog_append_result res;
	CHECK_EQ(plog_append(pl, b, len, TS, &res), KAFKA_NONE);
	free(b);
	CHECK_EQ(plog_flush(pl), KAFKA_NONE);  /* rolled segments count once synced */
}

static void model_init(struct model *m)
{
	memset(m, 0, sizeof *m);
	for (int i = 0; i < NKEYS_MAX; i++)
		m->off[i] = -1;
}

/* ---------------------------------------------------------- transactions */

enum { TXN_PIDS = 4096 };
static int32_t txn_seq[TXN_PIDS];  /* next BaseSequence of each test producer */

/* Appends one transactional batch of producer pid (epoch 0, sequenced as a
 * client does): keys[i] with values vals[i]. Returns the base offset. */
static int64_t append_txn(struct plog *pl, int64_t pid, int n, const int *keys, const int *vals)
{
	struct batch_kv kv[16];
	char kb[16][16], vb[16][24];
	CHECK(n <= 16 && pid >= 0 && pid < TXN_PIDS);
	for (int i = 0; i < n; i++) {
		snprintf(kb[i], sizeof kb[i], "k%d", keys[i]);
		snprintf(vb[i], sizeof vb[i], "v%d", vals[i]);
		kv[i] = (struct batch_kv){ (const uint8_t *)kb[i], strlen(kb[i]),
					   (const uint8_t *)vb[i], strlen(vb[i]) };
	}
	struct batch_producer prod = { .producer_id = pid, .producer_epoch = 0,
				       .base_sequence = txn_seq[pid],
				       .attributes = BATCH_ATTR_TRANSACTIONAL };
	size_t len;
	uint8_t *b = batch_build_kv_producer(0, TS, n, kv, &prod, &len);
	CHECK(b != NULL);
	struct plog_append_result res;
	CHECK_EQ(plog_append(pl, b, len, TS, &res), KAFKA_NONE);
	free(b);
	txn_seq[pid] += n;
	return res.base_offset;
}

static int64_t end_txn(struct plog *pl, int64_t pid, bool commit)
{
	int64_t off = -1;
	CHECK_EQ(plog_append_marker(pl, pid, 0, 0, commit, TS, &off), KAFKA_NONE);
	return off;
}

/* One transaction of pid over n keys from first (values val + i), committed
 * (the model follows) or aborted (it must not). */
static void txn_write(struct plog *pl, struct model *m, int64_t pid, int first, int n, int val,
		      bool commit)
{
	int keys[16] = { 0 }, vals[16] = { 0 };
	CHECK(n > 0 && n <= 16);
	for (int i = 0; i < n; i++) {
		keys[i] = first + i;
		vals[i] = val + i;
	}
	int64_t base = append_txn(pl, pid, n, keys, vals);
	end_txn(pl, pid, commit);
	for (int i = 0; commit && i < n; i++) {
		m->off[keys[i]] = base + i;
		m->val[keys[i]] = vals[i];
	}
}

/* Every aborted transaction of the log. */
static ssize_t aborted_all(struct plog *pl, struct plog_aborted **out)
{
	ssize_t n = plog_aborted_txns(pl, 0, INT64_MAX, out);
	CHECK(n >= 0);
	return n;
}

static void check_aborted_same(struct plog *pl, const struct plog_aborted *want, ssize_t nwant)
{
	struct plog_aborted *got;
	ssize_t n = aborted_all(pl, &got);
	CHECK_EQ(n, nwant);
	for (ssize_t i = 0; i < n; i++) {
		CHECK_EQ(got[i].producer_id, want[i].producer_id);
		CHECK_EQ(got[i].first_offset, want[i].first_offset);
		CHECK_EQ(got[i].last_offset, want[i].last_offset);
	}
	free(got);
}

/* Sum of the sizes of the partition's .txnindex files. */
static long long txnindex_bytes(void)
{
	char dir[400];
	snprintf(dir, sizeof dir, "%s/%s", fx_dir, PART);
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	long long total = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t l = strlen(e->d_name);
		if (l == 29 && strcmp(e->d_name + 20, ".txnindex") == 0) {
			char path[700];
			snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
			total += fx_file_size(path);
		}
	}
	closedir(d);
	return total;
}

/* ---------------------------------------------------------------- reading */

struct rec_out {
	int64_t off;
	int key;                    /* -1 null, -2 "roller" */
	int val;                    /* -1 tombstone */
};

static int parse_num(const uint8_t *p, int32_t len, char prefix)
{
	char buf[32];
	if (len <= 1 || len >= 31 || p[0] != (uint8_t)prefix)
		return -2;
	memcpy(buf, p + 1, (size_t)len - 1);
	buf[len - 1] = '\0';
	return atoi(buf);
}

/* Collects the records of one stored batch into out (checks it as
 * recovery does, and that offsets increase). */
static size_t read_batch(const uint8_t *p, size_t n, struct rec_out *out, size_t cap, int64_t *prev)
{
	struct batch_hdr h;
	static const struct batch_check_opts stored = { .max_uncompressed = 1 << 24, .stored = true };
	CHECK_EQ(batch_validate_opts(p, n, &stored, &h), KAFKA_NONE);
	CHECK(h.base_offset > *prev);
	const uint8_t *recs;
	size_t len, pos = 0, got = 0;
	uint8_t *owned = NULL;
	CHECK_EQ(batch_records(p, n, 1 << 24, &recs, &len, &owned), KAFKA_NONE);
	struct record_view rv;
	while (batch_next_record(recs, len, &pos, &rv) == 0) {
		CHECK(got < cap);
		int64_t off = h.base_offset + rv.offset_delta;
		CHECK(off > *prev);
		*prev = off;
		out[got].off = off;
		out[got].key = rv.key_len < 0 ? -1 : rv.key_len == 6 && memcmp(rv.key, "roller", 6) == 0
			? -2 : parse_num(rv.key, rv.key_len, 'k');
		out[got].val = rv.value_len < 0 ? -1 : out[got].key == -2 ? 0 : parse_num(rv.value, rv.value_len, 'v');
		got++;
	}
	free(owned);
	*prev = batch_last_offset(&h);
	return got;
}

/* Reads the whole log through plog_read. Returns the record count. */
static size_t read_all(struct plog *pl, struct rec_out *out, size_t cap)
{
	int64_t offset = plog_start_offset(pl), leo = plog_end_offset(pl), prev = -1;
	size_t n = 0;
	while (offset < leo) {
		struct plog_slice sl;
		CHECK_EQ(plog_read(pl, offset, leo, 64 * 1024, true, &sl), KAFKA_NONE);
		if (sl.len == 0)
			break;
		size_t len = sl.len;
		uint8_t *p = fx_slice_bytes(&sl);
		struct batch_hdr h;
		for (size_t at = 0; at < len; at += batch_total_size(&h)) {
			CHECK_EQ(batch_parse_header(p + at, len - at, &h), 0);
			n += read_batch(p + at, batch_total_size(&h), out + n, cap - n, &prev);
		}
		free(p);
		offset = prev + 1;
	}
	return n;
}

/* The model's records (and the roller) must be exactly what is read. */
static void check_model(struct plog *pl, const struct model *m, bool tombstones_kept)
{
	static struct rec_out recs[200000];
	size_t n = read_all(pl, recs, sizeof recs / sizeof *recs);
	int seen[NKEYS_MAX] = { 0 };
	for (size_t i = 0; i < n; i++) {
		if (recs[i].key == -2)
			continue;
		int k = recs[i].key;
		CHECK(k >= 0 && k < m->nkeys);
		CHECK_EQ(seen[k], 0);  /* exactly one record per key */
		seen[k] = 1;
		CHECK_EQ(recs[i].off, m->off[k]);  /* offsets preserved */
		CHECK_EQ(recs[i].val, m->val[k]);
	}
	for (int k = 0; k < m->nkeys; k++) {
		if (m->off[k] < 0)
			continue;
		bool want = m->val[k] >= 0 || tombstones_kept;
		if (seen[k] != (int)want)
			fprintf(stderr, "key %d: seen %d, want %d\n", k, seen[k], (int)want);
		CHECK_EQ(seen[k], (int)want);
	}
}

/* plog_read at every offset that survived returns a batch holding it;
 * at a removed offset, the next batch after it. */
static void check_reads_everywhere(struct plog *pl)
{
	static struct rec_out recs[200000];
	size_t n = read_all(pl, recs, sizeof recs / sizeof *recs);
	int64_t leo = plog_end_offset(pl);
	for (size_t i = 0; i < n; i++) {
		int64_t want = recs[i].off, ask = i > 0 && recs[i - 1].off + 1 < want ? want - 1 : want;
		for (int64_t o = ask; o <= want; o++) {
			struct plog_slice sl;
			CHECK_EQ(plog_read(pl, o, leo, 1, true, &sl), KAFKA_NONE);
			CHECK(sl.len > 0);
			uint8_t *p = fx_slice_bytes(&sl);
			struct batch_hdr h;
			CHECK_EQ(batch_parse_header(p, sl.len ? sl.len : 61, &h), 0);
			/* A removed offset may still lie inside its batch's
			 * range (LastOffsetDelta is kept); then that batch. */
			CHECK(h.base_offset <= want && batch_last_offset(&h) >= o);
			if (o == want)
				CHECK(batch_last_offset(&h) >= want);
			free(p);
		}
	}
}

static void copy_file(const char *from, const char *to)
{
	int a = open(from, O_RDONLY), b = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(a >= 0 && b >= 0);
	char buf[65536];
	ssize_t n;
	while ((n = read(a, buf, sizeof buf)) > 0)
		CHECK_EQ(write(b, buf, (size_t)n), n);
	close(a);
	close(b);
}

/* Copies every segment file of the partition into dir/<sub>. */
static void backup(const char *sub)
{
	char from[512], to[512];
	snprintf(to, sizeof to, "%s/%s", fx_dir, sub);
	CHECK_EQ(mkdir(to, 0755), 0);
	snprintf(from, sizeof from, "%s/%s", fx_dir, PART);
	DIR *d = opendir(from);
	CHECK(d != NULL);
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.')
			continue;
		char a[1100], b[1100];
		snprintf(a, sizeof a, "%s/%s", from, e->d_name);
		snprintf(b, sizeof b, "%s/%s", to, e->d_name);
		copy_file(a, b);
	}
	closedir(d);
}

/* Copies a file of the backup back; a .txnindex the segment never had is
 * skipped. */
static void restore(const char *sub, int64_t base, const char *ext)
{
	char a[600], b[600];
	snprintf(a, sizeof a, "%s/%s/%020lld%s", fx_dir, sub, (long long)base, ext);
	fx_path(b, sizeof b, PART, base, ext);
	if (strcmp(ext, ".txnindex") == 0 && access(a, F_OK) != 0)
		return;
	copy_file(a, b);
}

static void rename_in_part(const char *from, const char *to)
{
	char a[600], b[600];
	snprintf(a, sizeof a, "%s/%s/%s", fx_dir, PART, from);
	snprintf(b, sizeof b, "%s/%s/%s", fx_dir, PART, to);
	CHECK_EQ(rename(a, b), 0);
}

static void drop_marker(void)
{
	char p[300];
	snprintf(p, sizeof p, "%s/.clean-shutdown", fx_dir);
	unlink(p);
}

/* Base offsets of the .log files of the partition, sorted; returns count. */
static int list_bases(int64_t *out, int cap)
{
	char dir[400];
	snprintf(dir, sizeof dir, "%s/%s", fx_dir, PART);
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	int n = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t l = strlen(e->d_name);
		if (l == 24 && strcmp(e->d_name + 20, ".log") == 0 && n < cap)
			out[n++] = atoll(e->d_name);
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (out[j] < out[i]) {
				int64_t t = out[i];
				out[i] = out[j];
				out[j] = t;
			}
	return n;
}

static const size_t BIG_MAP = 16 << 20;

/* ------------------------------------------------------------------ tests */

TEST(clean_keeps_latest_per_key_and_offsets)
{
	fx_mkdir();
	struct plog_config cfg = cfg_compact();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, TOPIC, &cfg);
	static struct model m;
	model_init(&m);
	write_updates(pl, &m, 300, 6000, 7);
	roll_past(pl);
	int64_t before = plog_size_bytes(pl), leo = plog_end_offset(pl);
	CHECK_EQ(cleaner__clean(pl, 20000, BIG_MAP), 0);
	CHECK(plog_size_bytes(pl) < before / 5);
	CHECK_EQ(plog_end_offset(pl), leo);
	CHECK_EQ(plog_start_offset(pl), 0);
	check_model(pl, &m, true);
	check_reads_everywhere(pl);
	struct cleaner_stats st;
	logdir_cleaner_stats(ld, &st);
	CHECK_EQ(st.passes, 1);
	CHECK(st.records_removed > 5000);
	CHECK(st.bytes_written < st.bytes_read);
	/* Nothing dirty left: a second pass has nothing to do. */
	CHECK_EQ(cleaner__clean(pl, 20000, BIG_MAP), 1);
	int64_t first_dirty = cleaner__first_dirty(ld, TOPIC, 0);
	logdir_close(ld);

	/* Clean reopen: indexes loaded; the checkpoint was kept. */
	ld = fx_open_dir();
	pl = fx_open_plog(ld, TOPIC, &cfg);
	CHECK_EQ(plog_end_offset(pl), leo);
	CHECK_EQ(cleaner__first_dirty(ld, TOPIC, 0), first_dirty);
	check_model(pl, &m, true);
	check_reads_everywhere(pl);
	logdir_close(ld);

	/* Unclean reopen without recovery points: every cleaned segment is
	 * scanned with the stored-batch rules and accepted whole. */
	drop_marker();
	char p[300];
	snprintf(p, sizeof p, "%s/recovery-point-offset-checkpoint", fx_dir);
	unlink(p);
	fx_capture_begin();
	ld = fx_open_dir();
	pl = fx_open_plog(ld, TOPIC, &cfg);
	char *text = fx_capture_end();
	CHECK(strstr(text, "truncated") == NULL);
	free(text);
	CHECK_EQ(plog_end_offset(pl), leo);
	check_model(pl, &m, true);
	/* Appends go on at the log end. */
	int key = 1, val = 99999;
	CHECK_EQ(append_kv(pl, 1, &key, &val, TS), leo);
	logdir_close(ld);
	fx_done();
}

TEST(tombstones_dropped_after_delete_retention)
{
	fx_mkdir();
	struct plog_config cfg = cfg_compact();  /* delete.retention.ms 10000, records at ts 1000 */
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, TOPIC, &cfg);
	static struct model m;
	model_init(&m);
	write_updates(pl, &m, 100, 1000, 3);
	roll_past(pl);
	/* First cleaning: the tombstones were dirty, so they stay. */
	CHECK_EQ(cleaner__clean(pl, 20000, BIG_MAP), 0);
	check_model(pl, &m, true);
	/* New dirty data; now - 10 s is before the tombstones' time: kept. */
	int keys[10], vals[10];
	for (int i = 0; i < 10; i++) {
		keys[i] = 1 + i * 10 + 1;  /* never tombstoned */
		vals[i] = 50000 + i;
	}
	int64_t base = append_kv(pl, 10, keys, vals, TS);
	for (int i = 0; i < 10; i++) {
		m.off[keys[i]] = base + i;
		m.val[keys[i]] = vals[i];
	}
	roll_past(pl);
	CHECK_EQ(cleaner__clean(pl, 5000, BIG_MAP), 0);
	check_model(pl, &m, true);
	/* Later: their segment was cleaned before and is old enough. */
	base = append_kv(pl, 10, keys, vals, TS);
	for (int i = 0; i < 10; i++)
		m.off[keys[i]] = base + i;
	roll_past(pl);
	CHECK_EQ(cleaner__clean(pl, 20000, BIG_MAP), 0);
	check_model(pl, &m, false);
	check_reads_everywhere(pl);
	logdir_close(ld);
	ld = fx_open_dir();
	pl = fx_open_plog(ld, TOPIC, &cfg);
	check_model(pl, &m, false);
	logdir_close(ld);
	fx_done();
}

TEST(map_too_small_cleans_in_several_passes)
{
	fx_mkdir();
	struct plog_config cfg = cfg_compact();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, TOPIC, &cfg);
	static struct model m;
	model_init(&m);
	write_updates(pl, &m, 1000, 4000, 11);
	roll_past(pl);
	int64_t end = plog_end_offset(pl) - 1;  /* the roller's offset: the cleanable end */
	/* 24-byte slots, 90% load: about 280 keys a pass. */
	size_t map = 24 * 320;
	CHECK_EQ(cleaner__clean(pl, 20000, map), 0);
	int64_t fd1 = cleaner__first_dirty(ld, TOPIC, 0);
	CHECK(fd1 > 0 && fd1 < end);
	int passes = 1, rc;
	while ((rc = cleaner__clean(pl, 20000, map)) == 0) {
		CHECK(cleaner__first_dirty(ld, TOPIC, 0) > fd1);
		fd1 = cleaner__first_dirty(ld, TOPIC, 0);
		passes++;
		CHECK(passes < 100);
	}
	CHECK_EQ(rc, 1);
	CHECK(passes >= 4);
	CHECK_EQ(cleaner__first_dirty(ld, TOPIC, 0), end);
	check_model(pl, &m, true);
	/* A map that cannot hold one batch of 10 keys says so. */
	int keys[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, vals[10] = { 0 };
	append_kv(pl, 10, keys, vals, TS);
	roll_past(pl);
	CHECK_EQ(cleaner__clean(pl, 20000, 24 * 4), 0);  /* the old roller alone fits */
	CHECK_EQ(cleaner__clean(pl, 20000, 24 * 4), 2);
	logdir_close(ld);
	fx_done();
}

/* Sets the producer id (and epoch 0) of a built batch; recomputes the CRC. */
static void set_producer(uint8_t *b, size_t len, int64_t pid)
{
	for (int i = 0; i < 8; i++)
		b[43 + i] = (uint8_t)((uint64_t)pid >> (56 - 8 * i));
	b[51] = b[52] = 0;
	uint32_t c = crc32c(0, b + 21, len - 21);
	for (int i = 0; i < 4; i++)
		b[17 + i] = (uint8_t)(c >> (24 - 8 * i));
}

static int64_t append_raw(struct plog *pl, uint8_t *b, size_t len)
{
	struct plog_append_result res;
	CHECK_EQ(plog_append(pl, b, len, TS, &res), KAFKA_NONE);
	free(b);
	return res.base_offset;
}

static uint8_t *one_kv(const char *k, const char *v, size_t *len)
{
	struct batch_kv kv = { (const uint8_t *)k, strlen(k), (const uint8_t *)v, v ? strlen(v) : 0 };
	uint8_t *b = batch_build_kv(0, TS, 1, &kv, len);
	CHECK(b != NULL);
	return b;
}

TEST(control_and_producer_batches)
{
	fx_mkdir();
	struct plog_config cfg = cfg_compact();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, TOPIC, &cfg);
	size_t len;
	uint8_t *b = one_kv("x", "1", &len);
	set_producer(b, len, 7);
	int64_t a = append_raw(pl, b, len);            /* superseded, pid 7 not last: gone */
	b = one_kv("x", "2", &len);
	set_producer(b, len, 7);
	int64_t a2 = append_raw(pl, b, len);           /* pid 7's last: stays */
	b = one_kv("y", "1", &len);
	set_producer(b, len, 9);
	int64_t c = append_raw(pl, b, len);            /* superseded but pid 9's last: empty batch */
	int64_t ctl = end_txn(pl, 11, true);           /* control (a marker): kept as is */
	b = one_kv("y", "2", &len);
	int64_t y2 = append_raw(pl, b, len);
	b = one_kv("ctl", "d", &len);
	int64_t ctl2 = append_raw(pl, b, len);
	roll_past(pl);
	CHECK_EQ(cleaner__clean(pl, 20000, BIG_MAP), 0);
	/* Walk the batches. */
	int64_t leo = plog_end_offset(pl), seen_bases[16];
	int nb = 0, empty_c = 0;
	struct plog_slice sl;
	CHECK_EQ(plog_read(pl, 0, leo, 1 << 20, true, &sl), KAFKA_NONE);
	size_t n = sl.len;
	uint8_t *p = fx_slice_bytes(&sl);
	struct batch_hdr h;
	static const struct batch_check_opts stored = { .stored = true };
	for (size_t at = 0; at < n && nb < 16; at += batch_total_size(&h)) {
		CHECK_EQ(batch_parse_header(p + at, n - at, &h), 0);
		CHECK_EQ(batch_validate_opts(p + at, batch_total_size(&h), &stored, &h), KAFKA_NONE);
		seen_bases[nb++] = h.base_offset;
		if (h.base_offset == c) {
			CHECK_EQ(h.records_count, 0);
			CHECK_EQ(h.producer_id, 9);
			empty_c = 1;
		}
		if (h.base_offset == ctl)
			CHECK(h.attributes & BATCH_ATTR_CONTROL);
	}
	free(p);
	CHECK(empty_c);
	CHECK(nb >= 5);
	CHECK_EQ(seen_bases[0], a2);
	CHECK(a < a2);
	CHECK_EQ(seen_bases[1], c);
	CHECK_EQ(seen_bases[2], ctl);
	CHECK_EQ(seen_bases[3], y2);
	CHECK_EQ(seen_bases[4], ctl2);
	/* A fetch at the emptied batch's offset returns it (Kafka clients skip
	 * empty batches); at the removed one, the next batch. */
	CHECK_EQ(plog_read(pl, a, leo, 1, true, &sl), KAFKA_NONE);
	p = fx_slice_bytes(&sl);
	CHECK_EQ(batch_parse_header(p, 61, &h), 0);
	CHECK_EQ(h.base_offset, a2);
	free(p);
	logdir_close(ld);
	drop_marker();
	ld = fx_open_dir();
	pl = fx_open_plog(ld, TOPIC, &cfg);
	CHECK_EQ(plog_end_offset(pl), leo);
	logdir_close(ld);
	fx_done();
}

TEST(compressed_batches_rebuilt_with_their_codec)
{
	fx_mkdir();
	struct plog_config cfg = cfg_compact();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, TOPIC, &cfg);
	static const enum batch_codec codecs[] = { CODEC_GZIP, CODEC_SNAPPY, CODEC_LZ4, CODEC_ZSTD };
	static struct model m;
	model_init(&m);
	m.nkeys = 40;
	for (int c = 0; c < 4; c++) {
		for (int r = 0; r < 3; r++) {
			int keys[10], vals[10];
			struct batch_kv kv[10];
			char kb[10][16], vb[10][16];
			for (int i = 0; i < 10; i++) {
				/* round 1 overwrites round 0 whole; round 2 the
				 * even keys of round 1, each twice */
				keys[i] = c * 10 + (r == 2 ? 2 * (i % 5) : i);
				vals[i] = c * 100 + r * 10 + i;
				snprintf(kb[i], 16, "k%d", keys[i]);
				snprintf(vb[i], 16, "v%d", vals[i]);
				kv[i] = (struct batch_kv){ (const uint8_t *)kb[i], strlen(kb[i]),
							   (const uint8_t *)vb[i], strlen(vb[i]) };
			}
			size_t plen;
			uint8_t *plain = batch_build_kv(0, TS, 10, kv, &plen);
			struct batch_hdr h;
			CHECK_EQ(batch_parse_header(plain, plen, &h), 0);
			size_t clen;
			int err;
			uint8_t *b = batch_assemble(&h, codecs[c], INT32_MIN, plain + 61, plen - 61, 10, &clen, &err);
			CHECK(b != NULL);
			free(plain);
			int64_t base = append_raw(pl, b, clen);
			for (int i = 0; i < 10; i++) {
				m.off[keys[i]] = base + i;
				m.val[keys[i]] = vals[i];
			}
		}
	}
	roll_past(pl);
	CHECK_EQ(cleaner__clean(pl, 20000, BIG_MAP), 0);
	check_model(pl, &m, true);
	/* Every surviving batch keeps its codec. */
	struct plog_slice sl;
	int64_t leo = plog_end_offset(pl);
	CHECK_EQ(plog_read(pl, 0, leo, 1 << 20, true, &sl), KAFKA_NONE);
	size_t n = sl.len;
	uint8_t *p = fx_slice_bytes(&sl);
	struct batch_hdr h;
	int partial = 0;
	for (size_t at = 0; at < n; at += batch_total_size(&h)) {
		CHECK_EQ(batch_parse_header(p + at, n - at, &h), 0);
		if (h.records_count == 1 && h.batch_length > 10000)
			continue;  /* the roller */
		CHECK((h.attributes & BATCH_ATTR_CODEC_MASK) != CODEC_NONE);
		partial += h.records_count < h.last_offset_delta + 1;
	}
	free(p);
	CHECK(partial >= 4);
	logdir_close(ld);
	fx_done();
}

TEST(reader_keeps_old_segment_across_swap)
{
	fx_mkdir();
	struct plog_config cfg = cfg_compact();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, TOPIC, &cfg);
	static struct model m;
	model_init(&m);
	write_updates(pl, &m, 50, 2000, 5);
	roll_past(pl);
	struct plog_slice sl;
	CHECK_EQ(plog_read(pl, 0, plog_end_offset(pl), 1 << 20, true, &sl), KAFKA_NONE);
	CHECK(sl.len > 0);
	CHECK_EQ(cleaner__clean(pl, 20000, BIG_MAP), 0);
	/* The slice still reads the old bytes: whole, valid batches from 0. */
	size_t n = sl.len;
	uint8_t *p = fx_slice_bytes(&sl);
	struct batch_hdr h;
	int64_t next = 0;
	for (size_t at = 0; at < n; at += batch_total_size(&h)) {
		CHECK_EQ(batch_parse_header(p + at, n - at, &h), 0);
		CHECK_EQ(batch_validate(p + at, batch_total_size(&h), &h), KAFKA_NONE);
		CHECK_EQ(h.base_offset, next);
		next = batch_last_offset(&h) + 1;
	}
	free(p);
	check_model(pl, &m, true);
	logdir_close(ld);
	fx_done();
}

/* Counts the control batches (markers) of the log and checks each record
 * set is readable. */
static int count_markers(struct plog *pl)
{
	int64_t offset = plog_start_offset(pl), leo = plog_end_offset(pl);
	int markers = 0;
	while (offset < leo) {
		struct plog_slice sl;
		CHECK_EQ(plog_read(pl, offset, leo, 1 << 20, true, &sl), KAFKA_NONE);
		if (sl.len == 0)
			break;
		size_t n = sl.len;
		uint8_t *p = fx_slice_bytes(&sl);
		struct batch_hdr h;
		for (size_t at = 0; at < n; at += batch_total_size(&h)) {
			CHECK_EQ(batch_parse_header(p + at, n - at, &h), 0);
			markers += (h.attributes & BATCH_ATTR_CONTROL) != 0;
			offset = batch_last_offset(&h) + 1;
		}
		free(p);
	}
	return markers;
}

TEST(txn_aborted_records_leave_committed_values)
{
	fx_mkdir();
	struct plog_config cfg = cfg_compact();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, TOPIC, &cfg);
	static struct model m;
	model_init(&m);
	write_updates(pl, &m, 60, 600, 23);              /* plain values for keys 0..59 */
	txn_write(pl, &m, 100, 0, 10, 1000, true);       /* committed: keys 0..9 */
	txn_write(pl, &m, 200, 10, 12, 2000, false);     /* aborted: keys 10..21 keep theirs */
	/* Interleaved: an aborted transaction around plain updates. */
	int keys[5] = { 30, 31, 32, 33, 34 }, vals[5] = { 3000, 3001, 3002, 3003, 3004 };
	append_txn(pl, 300, 5, keys, vals);
	int pk[5] = { 40, 41, 42, 43, 44 }, pv[5] = { 4000, 4001, 4002, 4003, 4004 };
	int64_t base = append_kv(pl, 5, pk, pv, TS);
	for (int i = 0; i < 5; i++) {
		m.off[pk[i]] = base + i;
		m.val[pk[i]] = pv[i];
	}
	int more[4] = { 30, 31, 45, 46 }, mv[4] = { 3100, 3101, 3102, 3103 };
	append_txn(pl, 300, 4, more, mv);                /* a second batch of the same txn */
	end_txn(pl, 300, false);
	txn_write(pl, &m, 100, 50, 5, 5000, true);       /* pid 100 again, committed */
	roll_past(pl);
	struct plog_aborted *want;
	ssize_t nwant = aborted_all(pl, &want);
	CHECK_EQ(nwant, 2);
	CHECK_EQ(want[0].producer_id, 200);
	CHECK_EQ(want[1].producer_id, 300);
	int64_t leo = plog_end_offset(pl);
	CHECK_EQ(plog_last_stable_offset(pl), leo);
	CHECK_EQ(txnindex_bytes(), 2 * 34);
	CHECK_EQ(count_markers(pl), 4);

	CHECK_EQ(cleaner__clean(pl, 20000, BIG_MAP), 0);
	check_model(pl, &m, true);                       /* no aborted value anywhere */
	CHECK_EQ(count_markers(pl), 4);                  /* markers stay */
	check_aborted_same(pl, want, nwant);
	CHECK_EQ(txnindex_bytes(), 2 * 34);              /* the output segment's index */
	CHECK_EQ(plog_end_offset(pl), leo);
	CHECK_EQ(plog_last_stable_offset(pl), leo);
	check_reads_everywhere(pl);
	logdir_close(ld);

	/* Clean reopen: the aborted list comes back from the .txnindex. */
	ld = fx_open_dir();
	pl = fx_open_plog(ld, TOPIC, &cfg);
	check_aborted_same(pl, want, nwant);
	check_model(pl, &m, true);
	CHECK_EQ(plog_last_stable_offset(pl), leo);
	logdir_close(ld);
	/* Unclean, no recovery points: the whole log is scanned again; the
	 * aborted data is gone, the entries are not. */
	drop_marker();
	char path[300];
	snprintf(path, sizeof path, "%s/recovery-point-offset-checkpoint", fx_dir);
	unlink(path);
	ld = fx_open_dir();
	pl = fx_open_plog(ld, TOPIC, &cfg);
	check_aborted_same(pl, want, nwant);
	check_model(pl, &m, true);
	CHECK_EQ(plog_last_stable_offset(pl), leo);
	free(want);
	logdir_close(ld);
	fx_done();
}

/* The cleaner stops at the segment holding the LSO: an open transaction's
 * records, and everything after them, stay until it ends. */
TEST(txn_open_transaction_bounds_cleaning)
{
	fx_mkdir();
	struct plog_config cfg = cfg_compact();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, TOPIC, &cfg);
	static struct model m;
	model_init(&m);
	write_updates(pl, &m, 100, 2000, 29);
	int key = 7, val = 7000;
	int64_t open_at = append_txn(pl, 400, 1, &key, &val);
	static struct model after;
	model_init(&after);
	write_updates(pl, &after, 100, 2000, 31);
	roll_past(pl);
	CHECK_EQ(plog_last_stable_offset(pl), open_at);
	int64_t leo = plog_end_offset(pl);
	int64_t bases[64];
	int nb = list_bases(bases, 64);
	int64_t lso_seg = 0;
	for (int i = 0; i < nb; i++)
		if (bases[i] <= open_at)
			lso_seg = bases[i];
	/* What lies at or past the LSO's segment, byte for byte. */
	struct plog_slice sl;
	CHECK_EQ(plog_read(pl, lso_seg, leo, 1 << 20, true, &sl), KAFKA_NONE);
	size_t tail_len = sl.len;
	uint8_t *tail = fx_slice_bytes(&sl);
	CHECK_EQ(cleaner__clean(pl, 20000, BIG_MAP), 0);
	CHECK(cleaner__first_dirty(ld, TOPIC, 0) <= open_at);
	CHECK_EQ(cleaner__first_dirty(ld, TOPIC, 0), lso_seg);
	CHECK_EQ(plog_read(pl, lso_seg, leo, 1 << 20, true, &sl), KAFKA_NONE);
	CHECK_EQ(sl.len, tail_len);
	uint8_t *now = fx_slice_bytes(&sl);
	CHECK(memcmp(now, tail, tail_len) == 0);
	free(now);
	free(tail);
	/* Nothing more while it is open. */
	CHECK_EQ(cleaner__clean(pl, 20000, BIG_MAP), 1);
	/* Aborted: the cleaner goes on, and key 7's aborted value never
	 * shadows (nor replaces) the plain values written around it. */
	end_txn(pl, 400, false);
	roll_past(pl);
	CHECK_EQ(plog_last_stable_offset(pl), plog_end_offset(pl));
	CHECK_EQ(cleaner__clean(pl, 20000, BIG_MAP), 0);
	for (int k = 0; k < 100; k++)
		if (after.off[k] >= 0) {
			m.off[k] = after.off[k];
			m.val[k] = after.val[k];
		}
	check_model(pl, &m, true);
	logdir_close(ld);
	fx_done();
}

/* Records of committed transactions compact like plain ones; an aborted
 * transaction's data batches go whole (its producer's last batch is its
 * marker, which stays). */
TEST(txn_committed_records_compact_like_plain_ones)
{
	fx_mkdir();
	struct plog_config cfg = cfg_compact();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, TOPIC, &cfg);
	static struct model m;
	model_init(&m);
	m.nkeys = 20;
	for (int r = 0; r < 5; r++)
		txn_write(pl, &m, 10 + r % 2, 0, 10, 100 * r, true);
	txn_write(pl, &m, 12, 10, 10, 900, false);
	roll_past(pl);
	CHECK_EQ(cleaner__clean(pl, 20000, BIG_MAP), 0);
	check_model(pl, &m, true);
	CHECK_EQ(count_markers(pl), 6);
	struct cleaner_stats st;
	logdir_cleaner_stats(ld, &st);
	CHECK_EQ(st.records_removed, 40 + 10);  /* 4 superseded rounds + the aborted one */
	logdir_close(ld);
	fx_done();
}

/* The aborted transactions of the log clean_with_backup wrote. */
static struct plog_aborted *cw_aborted;
static ssize_t cw_naborted;

/* Cleans a log after copying its files to <dir>/old; returns the bases of
 * the cleaned segments in out (count returned) and the log end. The log
 * holds committed and aborted transactions between plain updates, so the
 * old segments and the cleaned one have `.txnindex` files. */
static int clean_with_backup(struct model *m, int64_t *out, int64_t *leo)
{
	struct plog_config cfg = cfg_compact();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, TOPIC, &cfg);
	model_init(m);
	write_updates(pl, m, 200, 3000, 9);
	for (int t = 0; t < 6; t++) {
		txn_write(pl, m, 500 + t, 1 + t * 20, 10, 7000 + t * 100, t % 2 == 0);
		write_updates(pl, m, 200, 500, 40 + (uint32_t)t);
	}
	roll_past(pl);
	*leo = plog_end_offset(pl);
	cw_naborted = aborted_all(pl, &cw_aborted);
	CHECK_EQ(cw_naborted, 3);
	CHECK(txnindex_bytes() == 3 * 34);
	logdir_close(ld);
	backup("old");
	/* Larger segments from now on: the cleaner merges the small ones into
	 * one group, so a swap replaces many segments. */
	cfg.segment_bytes = 1 << 20;
	ld = fx_open_dir();
	pl = fx_open_plog(ld, TOPIC, &cfg);
	CHECK_EQ(cleaner__clean(pl, 20000, BIG_MAP), 0);
	logdir_close(ld);
	return list_bases(out, 64);
}

static void reopen_and_check(const struct model *m, int64_t leo, bool clean)
{
	struct plog_config cfg = cfg_compact();
	if (!clean)
		drop_marker();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, TOPIC, &cfg);
	CHECK_EQ(plog_end_offset(pl), leo);
	check_model(pl, m, true);
	check_reads_everywhere(pl);
	check_aborted_same(pl, cw_aborted, cw_naborted);
	CHECK_EQ(plog_last_stable_offset(pl), leo);
	logdir_close(ld);
	char dir[400];
	snprintf(dir, sizeof dir, "%s/%s", fx_dir, PART);
	CHECK_EQ(fx_count_files(dir, ".swap"), 0);
	CHECK_EQ(fx_count_files(dir, ".cleaned"), 0);
	CHECK_EQ(txnindex_bytes(), 3 * 34);  /* the old segments' files went with them */
}

TEST(crash_leaves_cleaned_files)
{
	fx_mkdir();
	static struct model m;
	int64_t bases[64], leo;
	clean_with_backup(&m, bases, &leo);
	/* A pass died while writing: .cleaned files next to the live ones. */
	char a[600];
	fx_path(a, sizeof a, PART, 0, ".log");
	char b[600];
	snprintf(b, sizeof b, "%s/%s/%020d.%020d.log.cleaned", fx_dir, PART, 0, 5);
	copy_file(a, b);
	snprintf(b, sizeof b, "%s/%s/%020d.%020d.index.cleaned", fx_dir, PART, 0, 5);
	copy_file(a, b);
	snprintf(b, sizeof b, "%s/%s/%020d.%020d.txnindex.cleaned", fx_dir, PART, 0, 5);
	copy_file(a, b);
	reopen_and_check(&m, leo, false);
	fx_done();
}

/* Which of the replaced segments a crash left in place, and where the new
 * segment's index files were. */
enum old_left { OLD_ALL, OLD_HALF, OLD_NONE };
enum idx_state { IDX_SWAP, IDX_NONE, IDX_FINAL };

/* A committed swap of group [B, E) found by recovery with the old
 * segments still there (all, some, or none), its index files (with its
 * `.txnindex`) still .swap, missing (the `.txnindex` then stays .swap),
 * or already renamed to their final names (step 5 cut short before the
 * log: the old segments are then gone). */
static void crash_swap_case(enum old_left left, enum idx_state idx, bool clean)
{
	fx_mkdir();
	static struct model m;
	int64_t bases[64], leo;
	int n = clean_with_backup(&m, bases, &leo);
	CHECK(n >= 2);
	int64_t b = bases[0], e = bases[1];
	char from[100], to[100], path[700];
	static const char *const exts[] = { ".log", ".index", ".timeindex", ".txnindex" };
	fx_path(path, sizeof path, PART, b, ".txnindex");
	CHECK(fx_file_size(path) == 3 * 34);  /* the output holds every aborted entry */
	for (int k = 0; k < 4; k++) {
		snprintf(from, sizeof from, "%020lld%s", (long long)b, exts[k]);
		snprintf(to, sizeof to, "%020lld.%020lld%s.swap", (long long)b, (long long)e, exts[k]);
		if (k == 0 || idx == IDX_SWAP || (idx == IDX_NONE && k == 3))
			rename_in_part(from, to);
	}
	/* The old segments the swap replaces: bases in [b, e) in the copy;
	 * with OLD_HALF, the first half was already renamed .deleted and
	 * removed when the crash came. */
	int64_t olds[64];
	int nold = 0;
	char dir[400];
	snprintf(dir, sizeof dir, "%s/old", fx_dir);
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	for (struct dirent *de; (de = readdir(d)) != NULL;) {
		int64_t base = atoll(de->d_name);
		if (strlen(de->d_name) == 24 && strcmp(de->d_name + 20, ".log") == 0 && base >= b &&
		    base < e && nold < 64)
			olds[nold++] = base;
	}
	closedir(d);
	CHECK(nold >= 4);
	int restored = 0, keep_from = left == OLD_ALL ? 0 : left == OLD_HALF ? nold / 2 : nold;
	for (int i = 0; i < nold; i++) {
		int rank = 0;
		for (int j = 0; j < nold; j++)
			rank += olds[j] < olds[i];
		if (rank < keep_from)
			continue;
		for (int k = 0; k < 4; k++)
			restore("old", olds[i], exts[k]);
		restored++;
	}
	CHECK_EQ(restored, nold - keep_from);
	reopen_and_check(&m, leo, clean);
	int64_t after[64];
	CHECK_EQ(list_bases(after, 64), n);  /* the replaced segments are gone */
	free(cw_aborted);
	fx_done();
}

TEST(crash_swap_with_all_old_segments_present) { crash_swap_case(OLD_ALL, IDX_SWAP, false); }
TEST(crash_swap_with_some_old_segments_gone) { crash_swap_case(OLD_HALF, IDX_SWAP, false); }
TEST(crash_swap_log_only_clean_marker) { crash_swap_case(OLD_ALL, IDX_NONE, true); }
TEST(crash_swap_during_final_renames) { crash_swap_case(OLD_NONE, IDX_FINAL, false); }
TEST(crash_swap_during_final_renames_clean_marker) { crash_swap_case(OLD_NONE, IDX_FINAL, true); }

TEST(threads_clean_when_dirty)
{
	fx_mkdir();
	struct plog_config cfg = cfg_compact();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, TOPIC, &cfg);
	static struct model m;
	model_init(&m);
	write_updates(pl, &m, 100, 3000, 13);
	roll_past(pl);
	struct cleaner_config cc = { .enable = true, .threads = 2, .dedupe_buffer_size = 1 << 20,
				     .io_buffer_size = 65536, .io_max_bytes_per_second = 0,
				     .backoff_ms = 50 };
	CHECK_EQ(logdir_start_cleaner(ld, &cc), 0);
	struct cleaner_stats st;
	for (int i = 0; i < 500; i++) {
		logdir_cleaner_stats(ld, &st);
		if (st.passes > 0)
			break;
		usleep(10000);
	}
	CHECK(st.passes >= 1);
	check_model(pl, &m, true);
	logdir_close(ld);  /* stops the threads first */
	fx_done();
}

TEST(min_compaction_lag_holds_new_segments)
{
	fx_mkdir();
	struct plog_config cfg = cfg_compact();
	cfg.min_compaction_lag_ms = 60000;  /* records at ts 1000 */
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, TOPIC, &cfg);
	static struct model m;
	model_init(&m);
	write_updates(pl, &m, 100, 1000, 17);
	roll_past(pl);
	int64_t size = plog_size_bytes(pl);
	CHECK_EQ(cleaner__clean(pl, 30000, BIG_MAP), 1);  /* 1000 > 30000 - 60000: too new */
	CHECK_EQ(plog_size_bytes(pl), size);
	CHECK_EQ(cleaner__clean(pl, 70000, BIG_MAP), 0);
	check_model(pl, &m, true);
	logdir_close(ld);
	fx_done();
}

/* Below min.cleanable.dirty.ratio, a thread still cleans a partition whose
 * first dirty batch is older than max.compaction.lag.ms. */
TEST(threads_clean_overdue_below_ratio)
{
	fx_mkdir();
	struct plog_config cfg = cfg_compact();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, TOPIC, &cfg);
	static struct model m;
	model_init(&m);
	write_updates(pl, &m, 100, 3000, 19);
	roll_past(pl);
	CHECK_EQ(cleaner__clean(pl, 20000, BIG_MAP), 0);
	int keys[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 11 }, vals[10] = { 7, 7, 7, 7, 7, 7, 7, 7, 7, 7 };
	int64_t base = append_kv(pl, 10, keys, vals, TS);
	for (int i = 0; i < 10; i++) {
		m.off[keys[i]] = base + i;
		m.val[keys[i]] = 7;
	}
	roll_past(pl);
	cfg.min_cleanable_dirty_ratio = 0.99;
	cfg.max_compaction_lag_ms = 1000;  /* the records' ts 1000 is decades old */
	plog_set_config(pl, &cfg);
	struct cleaner_config cc = { .enable = true, .threads = 1, .dedupe_buffer_size = 1 << 20,
				     .io_buffer_size = 65536, .backoff_ms = 50 };
	struct cleaner_stats st;
	logdir_cleaner_stats(ld, &st);
	CHECK_EQ(st.passes, 1);  /* the synchronous one */
	CHECK_EQ(logdir_start_cleaner(ld, &cc), 0);
	for (int i = 0; i < 500; i++) {
		logdir_cleaner_stats(ld, &st);
		if (st.passes > 1)
			break;
		usleep(10000);
	}
	CHECK_EQ(st.passes, 2);
	check_model(pl, &m, false);  /* wall-clock now: the tombstones' time is long past */
	logdir_close(ld);
	fx_done();
}

/* log.cleaner.io.max.bytes.per.second: 400 KB at 1 MB/s takes ~400 ms. */
TEST(throttle_paces_io)
{
	struct cleaner_ctx cx = { .rate = 1e6 };
	int64_t t0 = clock_mono_ms();
	cleaner_throttle(&cx, 200000);
	cleaner_throttle(&cx, 200000);
	int64_t ms = clock_mono_ms() - t0;
	CHECK(ms >= 380 && ms < 3000);
	struct cleaner_ctx none = { .rate = 0 };
	t0 = clock_mono_ms();
	cleaner_throttle(&none, 1 << 30);
	CHECK(clock_mono_ms() - t0 < 100);
}

UNIT_MAIN()
