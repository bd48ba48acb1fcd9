// deps: src/util src/record src/log src/txn src/meta
/*
 * test_meta.c — cluster metadata: the image (create, find, list, delete,
 * versions), replay after reopen, snapshots, torn and corrupt log tails,
 * every validation error, storage errors, concurrent lookups during
 * mutations, the cluster id.
 *
 * The partition logs are the real log dir (src/log); the tests read its
 * registry and each plog's settings through log/log_int.h, to check that
 * meta opens, closes and deletes each plog exactly once and with the
 * topic's settings. Each test gets a fresh mkdtemp directory; a "start" is
 * logdir_open + meta_open, a clean stop meta_close + logdir_close.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "log/log_int.h"
#include "log/plog.h"
#include "meta/meta.h"
#include "meta/uuid.h"
#include "util/config.h"
#include "util/crc32c.h"
#include "util/err.h"
#include "util/log.h"

/* ================================================================ fixture */

/* plog_append calls delay_notify(); the real one lives in src/delay. */
void delay_notify(void) {}

struct fx {
	char dir[64];
	char mdir[128];         /* the metadata dir */
	struct config cfg;
	struct logdir *ld;      /* the real log dir, open while the meta is */
	struct meta *m;
};

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof *f);
	log_set_level(LOGL_ERROR);
	strcpy(f->dir, "/tmp/runnel-test-meta-XXXXXX");
	CHECK(mkdtemp(f->dir) != NULL);
	snprintf(f->mdir, sizeof f->mdir, "%s/__cluster_metadata-0", f->dir);
	config_defaults(&f->cfg);
}

/* Partitions open in the log dir (its registry, log/log_int.h). */
static int open_plogs(struct fx *f)
{
	pthread_mutex_lock(&f->ld->mu);
	int n = (int)f->ld->nparts;
	pthread_mutex_unlock(&f->ld->mu);
	return n;
}

/* A start: opens the log dir, then the meta. NULL (err) when meta_open
 * fails; the log dir stays open then. */
static struct meta *fx_try_open(struct fx *f, char *err, size_t errlen)
{
	if (f->ld == NULL) {
		f->ld = logdir_open(f->dir, 1000, err, errlen);
		CHECK(f->ld != NULL);
	}
	f->m = meta_open(&f->cfg, f->ld, err, errlen);
	return f->m;
}

static struct meta *fx_open(struct fx *f)
{
	char err[512] = "";
	if (fx_try_open(f, err, sizeof err) == NULL)
		fprintf(stderr, "meta_open: %s\n", err);
	CHECK(f->m != NULL);
	return f->m;
}

/* A clean stop: every plog must be closed or deleted by meta_close. */
static void fx_close(struct fx *f)
{
	meta_close(f->m);
	f->m = NULL;
	CHECK_EQ(open_plogs(f), 0);
	logdir_close(f->ld);
	f->ld = NULL;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

static void fx_fini(struct fx *f)
{
	if (f->m != NULL)
		fx_close(f);
	if (f->ld != NULL)
		logdir_close(f->ld);
	config_fini(&f->cfg);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int create(struct fx *f, const char *name, int32_t parts, struct topic **out)
{
	char err[512];
	return meta_topic_create(f->m, name, parts, 1, NULL, 0, false, out, err, sizeof err);
}

static struct topic *find(struct fx *f, const char *name)
{
	return meta_topic_find(f->m, name, strlen(name));
}

static bool exists(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return stat(p, &st) == 0;
}

static off_t file_size(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", dir, name);
	CHECK(stat(p, &st) == 0);
	return st.st_size;
}

/* Counts entries of dir whose name contains sub. */
static int count_entries(const char *dir, const char *sub)
{
	DIR *d = opendir(dir);
	int n = 0;
	CHECK(d != NULL);
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		if (strstr(e->d_name, sub) != NULL)
			n++;
	closedir(d);
	return n;
}

static const char *config_of(const struct topic *t, const char *key)
{
	for (size_t i = 0; i < t->nconfigs; i++)
		if (strcmp(t->configs[i].key, key) == 0)
			return t->configs[i].value;
	return NULL;
}

/* ============================================================ the image */

TEST(create_find_list_delete)
{
	struct fx f;
	struct topic *t = NULL, *t2;
	fx_init(&f);
	fx_open(&f);
	CHECK_EQ(create(&f, "orders", 3, &t), KAFKA_NONE);
	CHECK(t != NULL);
	CHECK_STR(t->name, "orders");
	CHECK_EQ(t->npartitions, 3);
	CHECK(!t->internal);
	CHECK_EQ(t->id[6] >> 4, 4); /* UUID v4 */
	for (int i = 0; i < 3; i++) {
		CHECK(t->parts[i]->log != NULL);
		CHECK_EQ(t->parts[i]->index, i);
		CHECK(t->parts[i]->topic == t);
	}
	CHECK(exists(f.dir, "orders-2"));
	CHECK_EQ(open_plogs(&f), 3);

	t2 = find(&f, "orders");
	CHECK(t2 == t);
	topic_unref(t2);
	t2 = meta_topic_find_id(f.m, t->id);
	CHECK(t2 == t);
	topic_unref(t2);
	CHECK(meta_topic_find(f.m, "order", 5) == NULL);
	CHECK(meta_topic_find(f.m, "ordersX", 6) == t); /* length-bounded name */
	topic_unref(t);
	static const uint8_t zero[16];
	CHECK(meta_topic_find_id(f.m, zero) == NULL);

	CHECK_EQ(create(&f, "__internal", 1, &t2), KAFKA_NONE);
	CHECK(t2->internal);
	topic_unref(t2);
	CHECK_EQ(create(&f, "alpha", 1, NULL), KAFKA_NONE);
	size_t n = 0;
	struct topic **v = meta_topics_list(f.m, &n);
	CHECK_EQ(n, 3);
	CHECK_STR(v[0]->name, "__internal");
	CHECK_STR(v[1]->name, "alpha");
	CHECK_STR(v[2]->name, "orders");
	meta_topics_free(v, n);

	CHECK_EQ(meta_topic_delete(f.m, t), KAFKA_NONE);
	CHECK(find(&f, "orders") == NULL);
	CHECK(meta_topic_find_id(f.m, t->id) == NULL);
	/* we still hold a reference: the plogs live until we drop it */
	CHECK_EQ(open_plogs(&f), 5);
	CHECK(t->parts[2]->log != NULL);
	CHECK(exists(f.dir, "orders-0"));
	CHECK_EQ(meta_topic_delete(f.m, t), KAFKA_UNKNOWN_TOPIC_OR_PARTITION);
	topic_unref(t);
	CHECK_EQ(open_plogs(&f), 2);
	CHECK(!exists(f.dir, "orders-0"));
	CHECK(!exists(f.dir, "orders-2"));
	v = meta_topics_list(f.m, &n);
	CHECK_EQ(n, 2);
	meta_topics_free(v, n);
	fx_fini(&f);
}

TEST(many_topics_lookup_after_deletes)
{
	/* exercises map growth and back-shift deletion */
	struct fx f;
	char name[32];
	fx_init(&f);
	fx_open(&f);
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof name, "t%d", i);
		CHECK_EQ(create(&f, name, 1, NULL), KAFKA_NONE);
	}
	for (int i = 0; i < 300; i += 3) {
		snprintf(name, sizeof name, "t%d", i);
		struct topic *t = find(&f, name);
		CHECK(t != NULL);
		CHECK_EQ(meta_topic_delete(f.m, t), KAFKA_NONE);
		topic_unref(t);
	}
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof name, "t%d", i);
		struct topic *t = find(&f, name);
		CHECK((t == NULL) == (i % 3 == 0));
		if (t != NULL) {
			struct topic *u = meta_topic_find_id(f.m, t->id);
			CHECK(u == t);
			topic_unref(u);
		}
		topic_unref(t);
	}
	size_t n;
	struct topic **v = meta_topics_list(f.m, &n);
	CHECK_EQ(n, 200);
	meta_topics_free(v, n);
	fx_fini(&f);
}

TEST(versions_are_immutable)
{
	struct fx f;
	char err[256];
	struct topic *v1, *v2, *v3;
	fx_init(&f);
	fx_open(&f);
	CHECK_EQ(create(&f, "grow", 3, &v1), KAFKA_NONE);
	CHECK_EQ(meta_partitions_create(f.m, v1, 5, false, err, sizeof err), KAFKA_NONE);
	/* the version we hold did not change */
	CHECK_EQ(v1->npartitions, 3);
	v2 = find(&f, "grow");
	CHECK(v2 != v1);
	CHECK_EQ(v2->npartitions, 5);
	CHECK(memcmp(v1->id, v2->id, 16) == 0);
	for (int i = 0; i < 3; i++)
		CHECK(v2->parts[i]->log == v1->parts[i]->log);
	CHECK(v2->parts[4]->log != NULL);
	CHECK(v2->parts[4]->topic == v2);
	CHECK_EQ(open_plogs(&f), 5);

	/* a config change through an old version */
	CHECK_EQ(meta_topic_config_set(f.m, v1, "retention.ms", "1000", err, sizeof err), KAFKA_NONE);
	CHECK(config_of(v2, "retention.ms") == NULL);
	v3 = find(&f, "grow");
	CHECK_STR(config_of(v3, "retention.ms"), "1000");
	CHECK_EQ(v3->npartitions, 5);
	char val[64];
	bool is_default;
	meta_topic_config_get(f.m, v3, "retention.ms", val, sizeof val, &is_default);
	CHECK_STR(val, "1000");
	CHECK(!is_default);
	meta_topic_config_get(f.m, v2, "retention.ms", val, sizeof val, &is_default);
	CHECK_STR(val, "604800000");
	CHECK(is_default);
	CHECK_EQ(meta_topic_config_set(f.m, v3, "retention.ms", NULL, err, sizeof err), KAFKA_NONE);
	struct topic *v4 = find(&f, "grow");
	CHECK_EQ(v4->nconfigs, 0);
	/* removing an absent override or setting the same value changes nothing */
	CHECK_EQ(meta_topic_config_set(f.m, v4, "retention.ms", NULL, err, sizeof err), KAFKA_NONE);
	struct topic *v5 = find(&f, "grow");
	CHECK(v5 == v4);
	topic_unref(v5);

	/* delete through the oldest version; plogs outlive every holder */
	CHECK_EQ(meta_topic_delete(f.m, v1), KAFKA_NONE);
	CHECK(find(&f, "grow") == NULL);
	topic_unref(v4);
	topic_unref(v2);
	topic_unref(v3);
	CHECK_EQ(open_plogs(&f), 5);
	CHECK(v1->parts[0]->log != NULL);
	topic_unref(v1);
	CHECK_EQ(open_plogs(&f), 0);
	CHECK(!exists(f.dir, "grow-0"));
	CHECK(!exists(f.dir, "grow-4"));
	fx_fini(&f);
}

/* ============================================================ replay */

TEST(reopen_replays_ids_and_configs)
{
	struct fx f;
	char err[256];
	uint8_t id_a[16], id_b[16];
	struct kv cfgs[] = { { "segment.bytes", "1048576" }, { "cleanup.policy", "compact" },
			     { "message.timestamp.type", "LogAppendTime" } };
	struct topic *t;
	fx_init(&f);
	fx_open(&f);
	char cid[64];
	snprintf(cid, sizeof cid, "%s", meta_cluster_id(f.m));
	CHECK_EQ(meta_topic_create(f.m, "a", 2, -1, cfgs, 3, false, &t, err, sizeof err), KAFKA_NONE);
	memcpy(id_a, t->id, 16);
	CHECK_EQ(meta_partitions_create(f.m, t, 4, false, err, sizeof err), KAFKA_NONE);
	CHECK_EQ(meta_topic_config_set(f.m, t, "retention.ms", "5000", err, sizeof err), KAFKA_NONE);
	CHECK_EQ(meta_topic_config_set(f.m, t, "cleanup.policy", NULL, err, sizeof err), KAFKA_NONE);
	topic_unref(t);
	CHECK_EQ(create(&f, "b", 1, &t), KAFKA_NONE);
	memcpy(id_b, t->id, 16);
	topic_unref(t);
	CHECK_EQ(create(&f, "gone", 1, &t), KAFKA_NONE);
	CHECK_EQ(meta_topic_delete(f.m, t), KAFKA_NONE);
	topic_unref(t);
	fx_close(&f);

	fx_open(&f);
	CHECK_STR(meta_cluster_id(f.m), cid);
	t = find(&f, "a");
	CHECK(t != NULL);
	CHECK(memcmp(t->id, id_a, 16) == 0);
	CHECK_EQ(t->npartitions, 4);
	CHECK_EQ(t->nconfigs, 3);
	CHECK_STR(config_of(t, "segment.bytes"), "1048576");
	CHECK_STR(config_of(t, "retention.ms"), "5000");
	CHECK(config_of(t, "cleanup.policy") == NULL);
	/* the partition logs were opened with the topic's settings */
	const struct plog *pl = t->parts[3]->log;
	CHECK(pl != NULL);
	CHECK_EQ(pl->cfg.segment_bytes, 1048576);
	CHECK(pl->cfg.log_append_time);
	CHECK_EQ(pl->cfg.flush_ms, -1);
	CHECK_EQ(pl->cfg.flush_messages, INT64_MAX);
	CHECK_EQ(pl->cfg.index_interval_bytes, 4096);
	CHECK_EQ(pl->cfg.segment_ms, 604800000);
	topic_unref(t);
	t = meta_topic_find_id(f.m, id_b);
	CHECK(t != NULL);
	CHECK_STR(t->name, "b");
	CHECK(!t->parts[0]->log->cfg.log_append_time);
	topic_unref(t);
	CHECK(find(&f, "gone") == NULL);
	CHECK_EQ(open_plogs(&f), 5);
	fx_fini(&f);
}

TEST(broker_defaults_reach_plogs)
{
	struct fx f;
	struct topic *t;
	fx_init(&f);
	char err[256];
	CHECK_EQ(config_set(&f.cfg, "log.segment.bytes", "2000000", err, sizeof err), 0);
	CHECK_EQ(config_set(&f.cfg, "log.flush.interval.ms", "250", err, sizeof err), 0);
	CHECK_EQ(config_set(&f.cfg, "num.partitions", "4", err, sizeof err), 0);
	fx_open(&f);
	CHECK_EQ(create(&f, "d", -1, &t), KAFKA_NONE);
	CHECK_EQ(t->npartitions, 4);
	CHECK_EQ(t->parts[0]->log->cfg.segment_bytes, 2000000);
	CHECK_EQ(t->parts[0]->log->cfg.flush_ms, 250);
	topic_unref(t);
	fx_fini(&f);
}

/* ============================================================ snapshots */

TEST(snapshot_then_tail_then_reopen)
{
	struct fx f;
	char name[32];
	fx_init(&f);
	f.cfg.metadata_log_max_snapshot_interval_bytes = 300;
	fx_open(&f);
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof name, "snap%02d", i);
		CHECK_EQ(create(&f, name, 2, NULL), KAFKA_NONE);
	}
	CHECK(count_entries(f.mdir, "snapshot-") >= 1);
	CHECK_EQ(count_entries(f.mdir, "snapshot-"), 1); /* older ones pruned */
	CHECK(file_size(f.mdir, "metadata.log") <= 300 + 100);
	/* a tail after the snapshot: a delete and a config change */
	struct topic *t = find(&f, "snap03");
	CHECK_EQ(meta_topic_delete(f.m, t), KAFKA_NONE);
	topic_unref(t);
	t = find(&f, "snap04");
	char err[256];
	CHECK_EQ(meta_topic_config_set(f.m, t, "retention.ms", "77", err, sizeof err), KAFKA_NONE);
	uint8_t id4[16];
	memcpy(id4, t->id, 16);
	topic_unref(t);
	char cid[64];
	snprintf(cid, sizeof cid, "%s", meta_cluster_id(f.m));
	fx_close(&f);

	f.cfg.metadata_log_max_snapshot_interval_bytes = 1 << 20;
	fx_open(&f);
	CHECK_STR(meta_cluster_id(f.m), cid);
	size_t n;
	struct topic **v = meta_topics_list(f.m, &n);
	CHECK_EQ(n, 19);
	meta_topics_free(v, n);
	CHECK(find(&f, "snap03") == NULL);
	t = find(&f, "snap04");
	CHECK(memcmp(t->id, id4, 16) == 0);
	CHECK_STR(config_of(t, "retention.ms"), "77");
	CHECK_EQ(t->npartitions, 2);
	topic_unref(t);
	CHECK_EQ(open_plogs(&f), 38);
	fx_fini(&f);
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(in >= 0 && out >= 0);
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		CHECK(write(out, buf, (size_t)n) == n);
	close(in);
	close(out);
}

TEST(log_older_than_snapshot_is_replaced)
{
	/* a crash after the snapshot's rename and before the new log's */
	struct fx f;
	char path[PATH_MAX], saved[PATH_MAX];
	fx_init(&f);
	fx_open(&f);
	CHECK_EQ(create(&f, "one", 1, NULL), KAFKA_NONE);
	CHECK_EQ(create(&f, "two", 1, NULL), KAFKA_NONE);
	fx_close(&f);
	snprintf(path, sizeof path, "%s/metadata.log", f.mdir);
	snprintf(saved, sizeof saved, "%s/saved.log", f.dir);
	copy_file(path, saved);

	f.cfg.metadata_log_max_snapshot_interval_bytes = 1;
	fx_open(&f);
	CHECK_EQ(create(&f, "three", 1, NULL), KAFKA_NONE); /* snapshot covers all */
	fx_close(&f);
	CHECK_EQ(count_entries(f.mdir, "snapshot-"), 1);
	copy_file(saved, path);  /* the old log is back */

	f.cfg.metadata_log_max_snapshot_interval_bytes = 1 << 20;
	fx_open(&f);
	size_t n;
	struct topic **v = meta_topics_list(f.m, &n);
	CHECK_EQ(n, 3);
	meta_topics_free(v, n);
	CHECK(file_size(f.mdir, "metadata.log") == 20); /* replaced: header only */
	CHECK_EQ(create(&f, "four", 1, NULL), KAFKA_NONE);
	fx_close(&f);
	fx_open(&f);
	v = meta_topics_list(f.m, &n);
	CHECK_EQ(n, 4);
	meta_topics_free(v, n);
	fx_fini(&f);
}

TEST(corrupt_snapshot_is_an_error_not_a_crash)
{
	struct fx f;
	fx_init(&f);
	f.cfg.metadata_log_max_snapshot_interval_bytes = 1;
	fx_open(&f);
	CHECK_EQ(create(&f, "x", 1, NULL), KAFKA_NONE);
	fx_close(&f);
	DIR *d = opendir(f.mdir);
	char snap[PATH_MAX] = "";
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		if (strncmp(e->d_name, "snapshot-", 9) == 0)
			snprintf(snap, sizeof snap, "%s/%s", f.mdir, e->d_name);
	closedir(d);
	CHECK(snap[0] != '\0');
	int fd = open(snap, O_RDWR);
	uint8_t b;
	CHECK(pread(fd, &b, 1, 40) == 1);
	b ^= 0x40;
	CHECK(pwrite(fd, &b, 1, 40) == 1);
	close(fd);
	/* the log starts after the snapshot: without it records are missing */
	char err[512] = "";
	CHECK(fx_try_open(&f, err, sizeof err) == NULL);
	CHECK(strstr(err, "missing") != NULL);
	CHECK_EQ(count_entries(f.mdir, ".corrupt"), 1);
	CHECK_EQ(open_plogs(&f), 0);
	fx_fini(&f);
}

/* ============================================================ torn tails */

/* Makes a log with topics "first" and "second", closed. Returns the log
 * size after "first". */
static off_t two_topics(struct fx *f)
{
	fx_open(f);
	CHECK_EQ(create(f, "first", 1, NULL), KAFKA_NONE);
	off_t after_first = file_size(f->mdir, "metadata.log");
	CHECK_EQ(create(f, "second", 1, NULL), KAFKA_NONE);
	fx_close(f);
	return after_first;
}

static void log_edit(struct fx *f, void (*edit)(int fd, off_t size))
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/metadata.log", f->mdir);
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	edit(fd, lseek(fd, 0, SEEK_END));
	close(fd);
}

static void add_garbage(int fd, off_t size)
{
	CHECK(pwrite(fd, "\x00\x00\x01\x00garbage", 11, size) == 11);
}

static void cut_bytes(int fd, off_t size) { CHECK(ftruncate(fd, size - 3) == 0); }

static void flip_byte(int fd, off_t size)
{
	uint8_t b;
	CHECK(pread(fd, &b, 1, size - 2) == 1);
	b ^= 1;
	CHECK(pwrite(fd, &b, 1, size - 2) == 1);
}

static void zero_tail(int fd, off_t size)
{
	static const uint8_t z[4096];
	CHECK(pwrite(fd, z, sizeof z, size) == (ssize_t)sizeof z);
}

/* After edit, reopening keeps "first", keeps "second" iff keep_second, and
 * cuts the file to the last good record; new records then survive. */
static void torn_case(void (*edit)(int, off_t), bool keep_second)
{
	struct fx f;
	fx_init(&f);
	off_t after_first = two_topics(&f);
	off_t full = file_size(f.mdir, "metadata.log");
	log_edit(&f, edit);
	fx_open(&f);
	struct topic *t = find(&f, "first");
	CHECK(t != NULL);
	topic_unref(t);
	t = find(&f, "second");
	CHECK((t != NULL) == keep_second);
	topic_unref(t);
	CHECK_EQ(file_size(f.mdir, "metadata.log"), keep_second ? full : after_first);
	CHECK_EQ(create(&f, "third", 1, NULL), KAFKA_NONE);
	fx_close(&f);
	fx_open(&f);
	t = find(&f, "third");
	CHECK(t != NULL);
	topic_unref(t);
	fx_fini(&f);
}

TEST(torn_garbage_appended) { torn_case(add_garbage, true); }
TEST(torn_zeroes_appended) { torn_case(zero_tail, true); }
TEST(torn_last_record_cut) { torn_case(cut_bytes, false); }
TEST(torn_last_record_flipped) { torn_case(flip_byte, false); }

TEST(unknown_record_type_with_valid_crc_fails_open)
{
	struct fx f;
	fx_init(&f);
	two_topics(&f);
	uint8_t rec[8 + 3] = { 0, 0, 0, 3, 0, 0, 0, 0, 99, 0, 7 };
	uint32_t crc = crc32c(0, rec + 8, 3);
	rec[4] = (uint8_t)(crc >> 24);
	rec[5] = (uint8_t)(crc >> 16);
	rec[6] = (uint8_t)(crc >> 8);
	rec[7] = (uint8_t)crc;
	char path[PATH_MAX], err[512] = "";
	snprintf(path, sizeof path, "%s/metadata.log", f.mdir);
	int fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, rec, sizeof rec) == (ssize_t)sizeof rec);
	close(fd);
	off_t size = file_size(f.mdir, "metadata.log");
	CHECK(fx_try_open(&f, err, sizeof err) == NULL);
	CHECK(strstr(err, "unknown type 99") != NULL);
	CHECK_EQ(file_size(f.mdir, "metadata.log"), size); /* nothing cut */
	CHECK_EQ(open_plogs(&f), 0);
	fx_fini(&f);
}

TEST(bad_log_header_fails_open)
{
	struct fx f;
	char path[PATH_MAX], err[512] = "";
	fx_init(&f);
	two_topics(&f);
	snprintf(path, sizeof path, "%s/metadata.log", f.mdir);
	int fd = open(path, O_WRONLY);
	CHECK(pwrite(fd, "X", 1, 0) == 1);
	close(fd);
	CHECK(fx_try_open(&f, err, sizeof err) == NULL);
	CHECK(strstr(err, "header") != NULL);
	fx_fini(&f);
}

/* ============================================================ validation */

TEST(topic_names)
{
	char err[512], long_name[300];
	CHECK_EQ(meta_topic_name_valid("ok.Name_-9", 10, err, sizeof err), 0);
	CHECK_EQ(meta_topic_name_valid("", 0, err, sizeof err), -1);
	CHECK(strstr(err, "empty") != NULL);
	CHECK_EQ(meta_topic_name_valid(".", 1, err, sizeof err), -1);
	CHECK_EQ(meta_topic_name_valid("..", 2, err, sizeof err), -1);
	CHECK_EQ(meta_topic_name_valid("...", 3, err, sizeof err), 0);
	CHECK_EQ(meta_topic_name_valid("a b", 3, err, sizeof err), -1);
	CHECK(strstr(err, "a b") != NULL);
	CHECK_EQ(meta_topic_name_valid("a/b", 3, err, sizeof err), -1);
	CHECK_EQ(meta_topic_name_valid("a\nb", 3, err, sizeof err), -1);
	CHECK(strchr(err, '\n') == NULL); /* sanitised */
	CHECK_EQ(meta_topic_name_valid("a\0b", 3, err, sizeof err), -1);
	memset(long_name, 'x', sizeof long_name);
	CHECK_EQ(meta_topic_name_valid(long_name, 249, err, sizeof err), 0);
	CHECK_EQ(meta_topic_name_valid(long_name, 250, err, sizeof err), -1);
	CHECK(strstr(err, "249") != NULL);
}

TEST(create_validation_errors)
{
	struct fx f;
	char err[512];
	struct topic *t = (struct topic *)1;
	fx_init(&f);
	f.cfg.num_partitions = 3;
	fx_open(&f);
#define CREATE(name, p, rf, c, n) meta_topic_create(f.m, name, p, rf, c, n, false, &t, err, sizeof err)
	CHECK_EQ(CREATE("bad name", 1, 1, NULL, 0), KAFKA_INVALID_TOPIC_EXCEPTION);
	CHECK(t == NULL);
	CHECK_EQ(CREATE("", 1, 1, NULL, 0), KAFKA_INVALID_TOPIC_EXCEPTION);
	CHECK_EQ(CREATE(NULL, 1, 1, NULL, 0), KAFKA_INVALID_TOPIC_EXCEPTION);
	CHECK_EQ(CREATE("p", 0, 1, NULL, 0), KAFKA_INVALID_PARTITIONS);
	CHECK_EQ(CREATE("p", -2, 1, NULL, 0), KAFKA_INVALID_PARTITIONS);
	CHECK_EQ(CREATE("p", 1000001, 1, NULL, 0), KAFKA_INVALID_PARTITIONS);
	CHECK_EQ(CREATE("p", 1, 3, NULL, 0), KAFKA_INVALID_REPLICATION_FACTOR);
	CHECK_STR(err, "replication factor 3 is larger than the number of brokers (1)");
	CHECK_EQ(CREATE("p", 1, 0, NULL, 0), KAFKA_INVALID_REPLICATION_FACTOR);
	CHECK_EQ(CREATE("p", 1, -2, NULL, 0), KAFKA_INVALID_REPLICATION_FACTOR);
	struct kv unknown[] = { { "retention.ms", "10" }, { "no.such.key", "1" } };
	CHECK_EQ(CREATE("p", 1, 1, unknown, 2), KAFKA_INVALID_CONFIG);
	CHECK(strstr(err, "no.such.key") != NULL);
	struct kv bad[] = { { "retention.ms", "soon" } };
	CHECK_EQ(CREATE("p", 1, 1, bad, 1), KAFKA_INVALID_CONFIG);
	CHECK(strstr(err, "retention.ms") != NULL);
	struct kv null_val[] = { { "retention.ms", NULL } };
	CHECK_EQ(CREATE("p", 1, 1, null_val, 1), KAFKA_INVALID_CONFIG);
	CHECK(find(&f, "p") == NULL);
	CHECK_EQ(open_plogs(&f), 0);

	/* validate_only: every check, nothing created */
	CHECK_EQ(meta_topic_create(f.m, "p", -1, -1, NULL, 0, true, &t, err, sizeof err), KAFKA_NONE);
	CHECK(t == NULL);
	CHECK(find(&f, "p") == NULL);
	CHECK(!exists(f.dir, "p-0"));

	/* defaults: -1 partitions = num.partitions, -1 rf = 1 */
	CHECK_EQ(CREATE("p", -1, -1, NULL, 0), KAFKA_NONE);
	CHECK_EQ(t->npartitions, 3);
	topic_unref(t);
	CHECK_EQ(CREATE("p", 1, 1, NULL, 0), KAFKA_TOPIC_ALREADY_EXISTS);
	CHECK(strstr(err, "already exists") != NULL);
	CHECK_EQ(meta_topic_create(f.m, "p", 1, 1, NULL, 0, true, NULL, err, sizeof err),
		 KAFKA_TOPIC_ALREADY_EXISTS);

	/* '.' and '_' collide, both ways */
	CHECK_EQ(CREATE("a.b", 1, 1, NULL, 0), KAFKA_NONE);
	topic_unref(t);
	CHECK_EQ(CREATE("a_b", 1, 1, NULL, 0), KAFKA_INVALID_TOPIC_EXCEPTION);
	CHECK(strstr(err, "collides") != NULL);
	CHECK(strstr(err, "a.b") != NULL);
	CHECK_EQ(CREATE("x_y", 1, 1, NULL, 0), KAFKA_NONE);
	topic_unref(t);
	CHECK_EQ(CREATE("x.y", 1, 1, NULL, 0), KAFKA_INVALID_TOPIC_EXCEPTION);
	/* after a delete the name is free again */
	t = find(&f, "a.b");
	CHECK_EQ(meta_topic_delete(f.m, t), KAFKA_NONE);
	topic_unref(t);
	CHECK_EQ(CREATE("a_b", 1, 1, NULL, 0), KAFKA_NONE);
	topic_unref(t);
#undef CREATE
	fx_fini(&f);
}

TEST(change_validation_errors)
{
	struct fx f;
	char err[512];
	struct topic *t, *internal;
	fx_init(&f);
	fx_open(&f);
	CHECK_EQ(create(&f, "c", 3, &t), KAFKA_NONE);
	CHECK_EQ(meta_partitions_create(f.m, t, 2, false, err, sizeof err), KAFKA_INVALID_PARTITIONS);
	CHECK_STR(err, "Topic currently has 3 partitions, which is higher than the requested 2.");
	CHECK_EQ(meta_partitions_create(f.m, t, 3, false, err, sizeof err), KAFKA_INVALID_PARTITIONS);
	CHECK_EQ(meta_partitions_create(f.m, t, 1000001, false, err, sizeof err), KAFKA_INVALID_PARTITIONS);
	CHECK_EQ(meta_partitions_create(f.m, t, 6, true, err, sizeof err), KAFKA_NONE);
	struct topic *cur = find(&f, "c");
	CHECK_EQ(cur->npartitions, 3); /* validate only */
	topic_unref(cur);
	CHECK_EQ(meta_partitions_create(f.m, NULL, 6, false, err, sizeof err),
		 KAFKA_UNKNOWN_TOPIC_OR_PARTITION);

	CHECK_EQ(meta_topic_config_set(f.m, t, "bogus", "1", err, sizeof err), KAFKA_INVALID_CONFIG);
	CHECK(strstr(err, "bogus") != NULL);
	CHECK_EQ(meta_topic_config_set(f.m, t, "retention.ms", "x", err, sizeof err), KAFKA_INVALID_CONFIG);

	CHECK_EQ(create(&f, "__consumer_offsets", 1, &internal), KAFKA_NONE);
	CHECK_EQ(meta_topic_delete(f.m, internal), KAFKA_INVALID_TOPIC_EXCEPTION);
	topic_unref(internal);
	f.cfg.delete_topic_enable = false;
	CHECK_EQ(meta_topic_delete(f.m, t), KAFKA_TOPIC_DELETION_DISABLED);
	f.cfg.delete_topic_enable = true;
	CHECK_EQ(meta_topic_delete(f.m, t), KAFKA_NONE);
	/* every change to a deleted topic: unknown */
	CHECK_EQ(meta_partitions_create(f.m, t, 6, false, err, sizeof err), KAFKA_UNKNOWN_TOPIC_OR_PARTITION);
	CHECK_EQ(meta_topic_config_set(f.m, t, "retention.ms", "1", err, sizeof err),
		 KAFKA_UNKNOWN_TOPIC_OR_PARTITION);
	CHECK_EQ(meta_topic_delete(f.m, t), KAFKA_UNKNOWN_TOPIC_OR_PARTITION);
	topic_unref(t);
	fx_fini(&f);
}

/* ============================================================ storage errors */

TEST(metadata_write_failure_leaves_image_unchanged)
{
	struct fx f;
	char err[512];
	struct topic *t;
	struct rlimit rl;
	signal(SIGXFSZ, SIG_IGN);
	fx_init(&f);
	fx_open(&f);
	CHECK_EQ(create(&f, "before", 2, &t), KAFKA_NONE);
	off_t size = file_size(f.mdir, "metadata.log");
	getrlimit(RLIMIT_FSIZE, &rl);
	rlim_t saved = rl.rlim_cur;
	rl.rlim_cur = (rlim_t)size; /* the next append cannot grow the file */
	CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);

	CHECK_EQ(create(&f, "after", 2, NULL), KAFKA_KAFKA_STORAGE_ERROR);
	CHECK(find(&f, "after") == NULL);
	CHECK(!exists(f.dir, "after-0")); /* its partition logs were deleted */
	CHECK_EQ(meta_partitions_create(f.m, t, 4, false, err, sizeof err), KAFKA_KAFKA_STORAGE_ERROR);
	struct topic *cur = find(&f, "before");
	CHECK_EQ(cur->npartitions, 2);
	topic_unref(cur);
	CHECK(!exists(f.dir, "before-2"));
	CHECK_EQ(meta_topic_config_set(f.m, t, "retention.ms", "1", err, sizeof err), KAFKA_KAFKA_STORAGE_ERROR);
	CHECK_EQ(meta_topic_delete(f.m, t), KAFKA_KAFKA_STORAGE_ERROR);
	cur = find(&f, "before");
	CHECK(cur != NULL);
	CHECK_EQ(cur->nconfigs, 0);
	topic_unref(cur);
	CHECK_EQ(file_size(f.mdir, "metadata.log"), size);
	CHECK_EQ(open_plogs(&f), 2);

	rl.rlim_cur = saved; /* the disk has room again: not sticky after a failed write */
	CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
	CHECK_EQ(create(&f, "after", 2, NULL), KAFKA_NONE);
	topic_unref(t);
	fx_close(&f);
	fx_open(&f);
	size_t n;
	struct topic **v = meta_topics_list(f.m, &n);
	CHECK_EQ(n, 2);
	meta_topics_free(v, n);
	fx_fini(&f);
}

TEST(snapshot_failure_is_retried)
{
	struct fx f;
	struct rlimit rl;
	signal(SIGXFSZ, SIG_IGN);
	fx_init(&f);
	const char *big = "s2-with-a-long-name-to-pass-the-threshold";
	f.cfg.metadata_log_max_snapshot_interval_bytes = 150;
	fx_open(&f);
	CHECK_EQ(create(&f, "s1", 1, NULL), KAFKA_NONE);
	CHECK(file_size(f.mdir, "metadata.log") < 150);
	getrlimit(RLIMIT_FSIZE, &rl);
	rlim_t saved = rl.rlim_cur;
	/* room for exactly the next TOPIC record (36 bytes + name); the snapshot
	 * (header, CLUSTER, both topics, end record) is bigger */
	rl.rlim_cur = (rlim_t)file_size(f.mdir, "metadata.log") + 36 + strlen(big);
	CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
	CHECK_EQ(create(&f, big, 1, NULL), KAFKA_NONE);
	CHECK(file_size(f.mdir, "metadata.log") > 150);
	CHECK_EQ(count_entries(f.mdir, "snapshot-"), 0);
	CHECK_EQ(count_entries(f.mdir, ".tmp"), 0);
	rl.rlim_cur = saved;
	CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
	CHECK_EQ(create(&f, "s3", 1, NULL), KAFKA_NONE);
	CHECK_EQ(count_entries(f.mdir, "snapshot-"), 1);
	CHECK(file_size(f.mdir, "metadata.log") == 20);
	fx_close(&f);
	fx_open(&f);
	size_t n;
	struct topic **v = meta_topics_list(f.m, &n);
	CHECK_EQ(n, 3);
	meta_topics_free(v, n);
	fx_fini(&f);
}

/* Opens <topic>-<index> behind meta's back, so that meta's own open of
 * that partition fails (the log dir refuses a partition opened twice). */
static struct plog *block_partition(struct fx *f, const char *topic, int32_t index)
{
	struct plog_config pc = { .segment_bytes = 1 << 20, .segment_ms = 1000000, .index_interval_bytes = 4096,
				  .index_max_bytes = 1 << 20, .flush_messages = INT64_MAX, .flush_ms = -1 };
	struct plog *pl = NULL;
	CHECK_EQ(logdir_plog_open(f->ld, topic, index, &pc, &pl), KAFKA_NONE);
	return pl;
}

TEST(partition_open_failure)
{
	struct fx f;
	char err[512];
	struct topic *t;
	fx_init(&f);
	fx_open(&f);
	struct plog *blocker = block_partition(&f, "failing", 2);
	CHECK_EQ(meta_topic_create(f.m, "failing", 4, 1, NULL, 0, false, &t, err, sizeof err),
		 KAFKA_KAFKA_STORAGE_ERROR);
	CHECK(strstr(err, "failing-2") != NULL);
	CHECK(find(&f, "failing") == NULL);
	CHECK(!exists(f.dir, "failing-0"));   /* the ones it had opened are deleted */
	CHECK(!exists(f.dir, "failing-1"));
	CHECK_EQ(open_plogs(&f), 1);           /* only the blocker */
	logdir_plog_close(f.ld, blocker);
	/* growing into a failing partition: the new ones go, the old stay */
	CHECK_EQ(create(&f, "failing", 2, &t), KAFKA_NONE);
	blocker = block_partition(&f, "failing", 3);
	CHECK_EQ(meta_partitions_create(f.m, t, 5, false, err, sizeof err), KAFKA_KAFKA_STORAGE_ERROR);
	CHECK(!exists(f.dir, "failing-2"));
	CHECK(exists(f.dir, "failing-1"));
	CHECK_EQ(open_plogs(&f), 3);
	logdir_plog_close(f.ld, blocker);
	struct topic *cur = find(&f, "failing");
	CHECK(cur == t);
	topic_unref(cur);
	topic_unref(t);
	fx_close(&f);
	fx_open(&f);
	t = find(&f, "failing");
	CHECK_EQ(t->npartitions, 2);
	topic_unref(t);
	fx_fini(&f);
}

/* Many partitions are opened, closed and deleted by several threads
 * (meta.c parts_open, image.c ver_release_logs); the outcome is the same
 * as one at a time. */
TEST(many_partitions_in_parallel)
{
	struct fx f;
	char err[512], name[32];
	struct topic *t;
	fx_init(&f);
	fx_open(&f);
	struct plog *blocker = block_partition(&f, "wide", 57);
	CHECK_EQ(meta_topic_create(f.m, "wide", 100, 1, NULL, 0, false, &t, err, sizeof err),
		 KAFKA_KAFKA_STORAGE_ERROR);
	CHECK(strstr(err, "wide-57") != NULL);
	CHECK(find(&f, "wide") == NULL);
	for (int32_t i = 0; i < 100; i++) {  /* the ones it had opened are deleted */
		snprintf(name, sizeof name, "wide-%d", i);
		CHECK(i == 57 || !exists(f.dir, name));
	}
	CHECK_EQ(open_plogs(&f), 1);
	logdir_plog_delete(f.ld, blocker);
	CHECK_EQ(create(&f, "wide", 100, &t), KAFKA_NONE);
	CHECK_EQ(open_plogs(&f), 100);
	for (int32_t i = 0; i < 100; i++)
		CHECK(t->parts[i]->log != NULL);
	topic_unref(t);
	fx_close(&f);                     /* closes the 100 (and checks) */
	fx_open(&f);                      /* opens them again */
	CHECK_EQ(open_plogs(&f), 100);
	t = find(&f, "wide");
	CHECK(t != NULL);
	CHECK_EQ(meta_topic_delete(f.m, t), KAFKA_NONE);
	topic_unref(t);
	CHECK_EQ(open_plogs(&f), 0);
	for (int32_t i = 0; i < 100; i++) {
		snprintf(name, sizeof name, "wide-%d", i);
		CHECK(!exists(f.dir, name));
	}
	fx_fini(&f);
}

/* ============================================================ deletion races */

struct creator {
	struct fx *f;
	const char *name;
	atomic_int done;
	int rc;
};

static void *create_thread(void *arg)
{
	struct creator *c = arg;
	char err[256];
	c->rc = meta_topic_create(c->f->m, c->name, 1, 1, NULL, 0, false, NULL, err, sizeof err);
	atomic_store(&c->done, 1);
	return NULL;
}

TEST(recreate_waits_for_pending_delete)
{
	struct fx f;
	struct topic *t;
	pthread_t th;
	fx_init(&f);
	fx_open(&f);
	uint8_t old_id[16];
	CHECK_EQ(create(&f, "again", 1, &t), KAFKA_NONE);
	memcpy(old_id, t->id, 16);
	CHECK_EQ(meta_topic_delete(f.m, t), KAFKA_NONE);
	struct creator c = { &f, "again", 0, -99 };
	CHECK(pthread_create(&th, NULL, create_thread, &c) == 0);
	usleep(200 * 1000);
	CHECK_EQ(atomic_load(&c.done), 0); /* the old topic's files are still in use */
	/* the waiting creator does not block other mutations */
	CHECK_EQ(create(&f, "other", 1, NULL), KAFKA_NONE);
	CHECK_EQ(atomic_load(&c.done), 0);
	topic_unref(t);
	pthread_join(th, NULL);
	CHECK_EQ(c.rc, KAFKA_NONE);
	struct topic *n = find(&f, "again");
	CHECK(n != NULL);
	CHECK(memcmp(n->id, old_id, 16) != 0);
	topic_unref(n);
	fx_fini(&f);
}

TEST(orphan_dirs_left_then_renamed_on_create)
{
	struct fx f;
	char p[PATH_MAX];
	fx_init(&f);
	snprintf(p, sizeof p, "%s/ghost-0", f.dir);
	CHECK(mkdir(p, 0755) == 0);
	snprintf(p, sizeof p, "%s/ghost-0/stray", f.dir);
	int fd = open(p, O_CREAT | O_WRONLY, 0644);
	CHECK(fd >= 0);
	close(fd);
	fx_open(&f);
	CHECK(exists(f.dir, "ghost-0/stray")); /* left in place */
	CHECK_EQ(create(&f, "ghost", 1, NULL), KAFKA_NONE);
	CHECK(exists(f.dir, "ghost-0"));
	CHECK(!exists(f.dir, "ghost-0/stray")); /* a fresh dir */
	fx_fini(&f);
}

/* ============================================================ concurrency */

struct reader {
	struct fx *f;
	atomic_int *stop;
	long lookups;
};

/* Checks that a topic version is internally consistent. */
static void check_version(const struct topic *t)
{
	CHECK(t->npartitions >= 1);
	for (int32_t i = 0; i < t->npartitions; i++) {
		CHECK(t->parts[i]->index == i);
		CHECK(t->parts[i]->topic == t);
		CHECK(t->parts[i]->log != NULL);
		CHECK(plog_dir(t->parts[i]->log) != NULL);
	}
	for (size_t i = 0; i < t->nconfigs; i++)
		CHECK(t->configs[i].key != NULL && t->configs[i].value != NULL);
}

static void *reader_thread(void *arg)
{
	struct reader *r = arg;
	char name[16];
	unsigned seed = (unsigned)(uintptr_t)r;
	while (!atomic_load(r->stop)) {
		snprintf(name, sizeof name, "c%u", rand_r(&seed) % 8);
		struct topic *t = find(r->f, name);
		if (t != NULL) {
			check_version(t);
			struct topic *u = meta_topic_find_id(r->f->m, t->id);
			if (u != NULL)
				check_version(u);
			topic_unref(u);
			char val[64];
			bool d;
			meta_topic_config_get(r->f->m, t, "retention.ms", val, sizeof val, &d);
			CHECK(val[0] != '\0');
			topic_unref(t);
		}
		size_t n;
		struct topic **v = meta_topics_list(r->f->m, &n);
		for (size_t i = 0; i < n; i++)
			check_version(v[i]);
		meta_topics_free(v, n);
		r->lookups++;
	}
	return NULL;
}

TEST(concurrent_lookups_during_mutations)
{
	struct fx f;
	char name[16], err[256], val[16];
	atomic_int stop = 0;
	pthread_t th[3];
	struct reader rd[3];
	fx_init(&f);
	fx_open(&f);
	for (int i = 0; i < 3; i++) {
		rd[i] = (struct reader){ &f, &stop, 0 };
		CHECK(pthread_create(&th[i], NULL, reader_thread, &rd[i]) == 0);
	}
	for (int round = 0; round < 150; round++) {
		snprintf(name, sizeof name, "c%d", round % 8);
		struct topic *t = find(&f, name);
		if (t == NULL) {
			CHECK_EQ(create(&f, name, 1 + round % 3, NULL), KAFKA_NONE);
		} else if (round % 3 == 0) {
			CHECK_EQ(meta_topic_delete(f.m, t), KAFKA_NONE);
		} else if (round % 3 == 1) {
			CHECK_EQ(meta_partitions_create(f.m, t, t->npartitions + 1, false, err, sizeof err),
				 KAFKA_NONE);
		} else {
			snprintf(val, sizeof val, "%d", 1000 + round);
			CHECK_EQ(meta_topic_config_set(f.m, t, "retention.ms", val, err, sizeof err), KAFKA_NONE);
		}
		topic_unref(t);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		CHECK(rd[i].lookups > 0);
	}
	fx_fini(&f);
}

/* ============================================================ cluster id */

TEST(cluster_id_stable_and_kafka_shaped)
{
	struct fx f;
	char cid[64], props[PATH_MAX], buf[512];
	fx_init(&f);
	fx_open(&f);
	snprintf(cid, sizeof cid, "%s", meta_cluster_id(f.m));
	CHECK_EQ(strlen(cid), 22);
	CHECK(cid[0] != '-');
	for (const char *c = cid; *c; c++)
		CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *c) != NULL);
	fx_close(&f);
	fx_open(&f);
	CHECK_STR(meta_cluster_id(f.m), cid);
	fx_close(&f);
	snprintf(props, sizeof props, "%s/meta.properties", f.dir);
	int fd = open(props, O_RDONLY);
	CHECK(fd >= 0);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	CHECK(n > 0);
	buf[n] = '\0';
	CHECK(strstr(buf, "version=1\n") != NULL);
	CHECK(strstr(buf, "node.id=1\n") != NULL);
	char line[128];
	snprintf(line, sizeof line, "cluster.id=%s\n", cid);
	CHECK(strstr(buf, line) != NULL);

	/* a configured id that differs from the stored one is refused */
	char err[512] = "";
	CHECK_EQ(config_set(&f.cfg, "cluster.id", "someOtherCluster", err, sizeof err), 0);
	CHECK(fx_try_open(&f, err, sizeof err) == NULL);
	CHECK(strstr(err, "does not match") != NULL);
	fx_fini(&f);
}

TEST(configured_cluster_id_used_on_first_start)
{
	struct fx f;
	char err[256];
	fx_init(&f);
	CHECK_EQ(config_set(&f.cfg, "cluster.id", "MkU3OEVBNTcwNTJENDM2Qk", err, sizeof err), 0);
	fx_open(&f);
	CHECK_STR(meta_cluster_id(f.m), "MkU3OEVBNTcwNTJENDM2Qk");
	fx_close(&f);
	fx_open(&f);
	CHECK_STR(meta_cluster_id(f.m), "MkU3OEVBNTcwNTJENDM2Qk");
	fx_fini(&f);
}

TEST(uuid_text)
{
	uint8_t id[16], zero[16] = { 0 };
	char s[UUID_STR_LEN + 1];
	uuid_base64(zero, s);
	CHECK_STR(s, "AAAAAAAAAAAAAAAAAAAAAA");
	/* all ones: '_' (63) from the url-safe alphabet, then 0b11 << 4 = 'w' */
	uint8_t ff[16];
	memset(ff, 0xff, sizeof ff);
	uuid_base64(ff, s);
	CHECK_STR(s, "_____________________w");
	for (int i = 0; i < 200; i++) {
		CHECK_EQ(uuid_random(id), 0);
		CHECK(memcmp(id, zero, 16) != 0);
		CHECK_EQ(id[6] >> 4, 4);
		CHECK_EQ(id[8] >> 6, 2);
		uuid_base64(id, s);
		CHECK(s[0] != '-');
		CHECK_EQ(strlen(s), 22);
	}
}

UNIT_MAIN()
