// deps: src/util src/record src/log src/txn src/meta
/*
 * test_meta_configs.c — topic and broker config changes in the metadata:
 * effective settings in Kafka's precedence (topic override > dynamic node
 * > dynamic cluster default > static > default), alters as one unit
 * (validated first, one record, torn record = no change), APPEND and
 * SUBTRACT, validate_only, dynamic broker configs replayed from the log
 * and from a snapshot, and new settings reaching the open partition logs
 * at once.
 *
 * Fixture as in test_meta.c: a fresh mkdtemp dir, the real log dir, a
 * "start" is logdir_open + meta_open.
 */
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "log/log_int.h"
#include "log/plog.h"
#include "meta/meta.h"
#include "record/batch.h"
#include "util/config.h"
#include "util/err.h"
#include "util/log.h"

/* ================================================================ fixture */

void delay_notify(void) {}

struct fx {
	char dir[64];
	struct config cfg;
	struct logdir *ld;
	struct meta *m;
};

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof *f);
	log_set_level(LOGL_ERROR);
	strcpy(f->dir, "/tmp/runnel-test-mcfg-XXXXXX");
	CHECK(mkdtemp(f->dir) != NULL);
	config_defaults(&f->cfg);
}

static void fx_open(struct fx *f)
{
	char err[512] = "";
	f->ld = logdir_open(f->dir, 1000, err, sizeof err);
	CHECK(f->ld != NULL);
	f->m = meta_open(&f->cfg, f->ld, err, sizeof err);
	if (f->m == NULL)
		fprintf(stderr, "meta_open: %s\n", err);
	CHECK(f->m != NULL);
}

static void fx_close(struct fx *f)
{
	meta_close(f->m);
	logdir_close(f->ld);
	f->m = NULL;
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
	config_fini(&f->cfg);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ================================================================ helpers */

static struct topic *topic_new(struct fx *f, const char *name)
{
	char err[256];
	struct topic *t = NULL;
	CHECK_EQ(meta_topic_create(f->m, name, 2, 1, NULL, 0, false, &t, err, sizeof err), KAFKA_NONE);
	return t;
}

static struct topic *find(struct fx *f, const char *name)
{
	struct topic *t = meta_topic_find(f->m, name, strlen(name));
	CHECK(t != NULL);
	return t;
}

/* The effective value of key in the newest version of topic name. */
static const char *value_of(struct fx *f, const char *name, const char *key, bool *is_default)
{
	static char out[CFG_VALUE_MAX];
	struct topic *t = find(f, name);
	meta_topic_config_get(f->m, t, key, out, sizeof out, is_default);
	topic_unref(t);
	return out;
}

static int alter(struct fx *f, const char *name, const struct cfg_change *ch, size_t n, bool replace_all,
		 bool validate_only, char *err)
{
	struct topic *t = find(f, name);
	int rc = meta_topic_configs_alter(f->m, t, ch, n, replace_all, validate_only, err, 256);
	topic_unref(t);
	return rc;
}

static int64_t plog_segment_bytes(struct plog *pl)
{
	struct plog_config pc;
	plog_get_config(pl, &pc);
	return pc.segment_bytes;
}

/* ================================================================ tests */

TEST(alter_reaches_open_plogs_at_once)
{
	struct fx f;
	char err[256];
	fx_init(&f);
	fx_open(&f);
	struct topic *t0 = topic_new(&f, "a");
	struct cfg_change ch[] = { { "segment.bytes", "100000", CFG_OP_SET },
				   { "retention.ms", "5000", CFG_OP_SET } };
	CHECK_EQ(alter(&f, "a", ch, 2, false, false, err), KAFKA_NONE);
	struct topic *t = find(&f, "a");
	CHECK_EQ(t->cfg.log.segment_bytes, 100000);
	CHECK_EQ(t->cfg.log.retention_ms, 5000);
	CHECK_EQ(plog_segment_bytes(t->parts[1]->log), 100000);
	CHECK_EQ(t0->cfg.log.segment_bytes, 1073741824); /* the old version never changes */
	topic_unref(t);
	struct cfg_change del[] = { { "segment.bytes", NULL, CFG_OP_DELETE } };
	CHECK_EQ(alter(&f, "a", del, 1, false, false, err), KAFKA_NONE);
	bool is_default;
	CHECK_STR(value_of(&f, "a", "segment.bytes", &is_default), "1073741824");
	CHECK(is_default);
	CHECK_STR(value_of(&f, "a", "retention.ms", &is_default), "5000");
	CHECK(!is_default);
	CHECK_EQ(plog_segment_bytes(t0->parts[0]->log), 1073741824);
	topic_unref(t0);
	fx_fini(&f);
}

TEST(alter_is_all_or_nothing)
{
	struct fx f;
	char err[256];
	fx_init(&f);
	fx_open(&f);
	topic_unref(topic_new(&f, "a"));
	struct cfg_change ch[] = { { "retention.ms", "5000", CFG_OP_SET },
				   { "segment.bytes", "abc", CFG_OP_SET } };
	CHECK_EQ(alter(&f, "a", ch, 2, false, false, err), KAFKA_INVALID_CONFIG);
	CHECK_STR(err, "Invalid value abc for configuration segment.bytes: Not a number of type INT");
	bool is_default;
	value_of(&f, "a", "retention.ms", &is_default);
	CHECK(is_default);
	struct cfg_change unknown[] = { { "retention.ms", "5000", CFG_OP_SET }, { "bogus", "1", CFG_OP_SET } };
	CHECK_EQ(alter(&f, "a", unknown, 2, false, false, err), KAFKA_INVALID_CONFIG);
	CHECK_STR(err, "Unknown topic config name: bogus");
	struct cfg_change twice[] = { { "retention.ms", "5000", CFG_OP_SET }, { "retention.ms", "1", CFG_OP_SET } };
	CHECK_EQ(alter(&f, "a", twice, 2, false, false, err), KAFKA_INVALID_REQUEST);
	struct cfg_change null_set[] = { { "retention.ms", NULL, CFG_OP_SET } };
	CHECK_EQ(alter(&f, "a", null_set, 1, false, false, err), KAFKA_INVALID_REQUEST);
	struct cfg_change bad_op[] = { { "retention.ms", "1", 7 } };
	CHECK_EQ(alter(&f, "a", bad_op, 1, false, false, err), KAFKA_INVALID_REQUEST);
	struct cfg_change below[] = { { "segment.bytes", "13", CFG_OP_SET } };
	CHECK_EQ(alter(&f, "a", below, 1, false, false, err), KAFKA_INVALID_CONFIG);
	CHECK_STR(err, "Invalid value 13 for configuration segment.bytes: Value must be at least 14");
	value_of(&f, "a", "retention.ms", &is_default);
	CHECK(is_default);
	/* validate_only: accepted, nothing changes */
	CHECK_EQ(alter(&f, "a", ch, 1, false, true, err), KAFKA_NONE);
	value_of(&f, "a", "retention.ms", &is_default);
	CHECK(is_default);
	fx_fini(&f);
}

TEST(append_and_subtract_on_lists_only)
{
	struct fx f;
	char err[256];
	bool d;
	fx_init(&f);
	fx_open(&f);
	topic_unref(topic_new(&f, "a"));
	struct cfg_change app[] = { { "cleanup.policy", "compact", CFG_OP_APPEND } };
	CHECK_EQ(alter(&f, "a", app, 1, false, false, err), KAFKA_NONE);
	CHECK_STR(value_of(&f, "a", "cleanup.policy", &d), "delete,compact");
	struct topic *t = find(&f, "a");
	CHECK(t->cfg.log.cleanup_delete && t->cfg.log.cleanup_compact);
	topic_unref(t);
	CHECK_EQ(alter(&f, "a", app, 1, false, false, err), KAFKA_NONE); /* already there */
	CHECK_STR(value_of(&f, "a", "cleanup.policy", &d), "delete,compact");
	struct cfg_change sub[] = { { "cleanup.policy", "delete", CFG_OP_SUBTRACT } };
	CHECK_EQ(alter(&f, "a", sub, 1, false, false, err), KAFKA_NONE);
	CHECK_STR(value_of(&f, "a", "cleanup.policy", &d), "compact");
	struct cfg_change all[] = { { "cleanup.policy", "compact", CFG_OP_SUBTRACT } };
	CHECK_EQ(alter(&f, "a", all, 1, false, false, err), KAFKA_INVALID_CONFIG); /* empty list */
	CHECK(strstr(err, "cleanup.policy") != NULL);
	struct cfg_change num[] = { { "retention.ms", "5", CFG_OP_APPEND } };
	CHECK_EQ(alter(&f, "a", num, 1, false, false, err), KAFKA_INVALID_REQUEST);
	CHECK(strstr(err, "only for list type") != NULL);
	struct cfg_change dup[] = { { "cleanup.policy", "compact,compact", CFG_OP_SET } };
	CHECK_EQ(alter(&f, "a", dup, 1, false, false, err), KAFKA_INVALID_CONFIG);
	fx_fini(&f);
}

TEST(replace_all_removes_other_overrides)
{
	struct fx f;
	char err[256];
	bool d;
	fx_init(&f);
	fx_open(&f);
	topic_unref(topic_new(&f, "a"));
	struct cfg_change two[] = { { "retention.ms", "5000", CFG_OP_SET }, { "flush.ms", "10", CFG_OP_SET } };
	CHECK_EQ(alter(&f, "a", two, 2, false, false, err), KAFKA_NONE);
	struct cfg_change one[] = { { "segment.ms", "60000", CFG_OP_SET } };
	CHECK_EQ(alter(&f, "a", one, 1, true, false, err), KAFKA_NONE);
	struct topic *t = find(&f, "a");
	CHECK_EQ(t->nconfigs, 1);
	CHECK_EQ(t->cfg.log.segment_ms, 60000);
	CHECK_EQ(t->cfg.log.flush_ms, -1);
	topic_unref(t);
	value_of(&f, "a", "retention.ms", &d);
	CHECK(d);
	fx_fini(&f);
}

/* Sets the dynamic broker config key=value in one scope. */
static void broker_set(struct fx *f, bool dflt, const char *key, const char *value)
{
	char err[256];
	struct cfg_change ch = { key, value, value ? CFG_OP_SET : CFG_OP_DELETE };
	int rc = meta_broker_configs_alter(f->m, dflt, &ch, 1, false, false, err, sizeof err);
	if (rc != KAFKA_NONE)
		fprintf(stderr, "%s\n", err);
	CHECK_EQ(rc, KAFKA_NONE);
}

/* Checks the synonyms of retention.ms on topic a: name/source pairs. */
static void check_synonyms(struct fx *f, const char *want)
{
	struct cfg_syn syn[16];
	char got[512] = "";
	struct topic *t = find(f, "a");
	size_t n = meta_config_synonyms(f->m, t, "retention.ms", syn, 16);
	topic_unref(t);
	for (size_t i = 0; i < n; i++)
		snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s=%s/%d", i ? " " : "",
			 syn[i].name, syn[i].value, syn[i].source);
	CHECK_STR(got, want);
}

static void check_precedence(struct fx *f)
{
	bool d;
	struct topic *t = find(f, "a");
	CHECK_EQ(t->cfg.log.retention_ms, 4000);
	CHECK_EQ(t->cfg.log.segment_bytes, 500000);
	topic_unref(t);
	CHECK_STR(value_of(f, "a", "retention.ms", &d), "4000");
	check_synonyms(f, "retention.ms=4000/1 log.retention.ms=3000/2 log.retention.ms=2000/3 "
			  "log.retention.ms=1000/4 log.retention.hours=168/5");
	t = find(f, "b");
	CHECK_EQ(t->cfg.log.retention_ms, 3000); /* no override: this node's dynamic value */
	CHECK_EQ(plog_segment_bytes(t->parts[0]->log), 500000);
	topic_unref(t);
}

TEST(broker_dynamic_precedence_replay_and_snapshot)
{
	struct fx f;
	char err[256];
	fx_init(&f);
	CHECK_EQ(config_set(&f.cfg, "log.retention.ms", "1000", err, sizeof err), 0);
	fx_open(&f);
	topic_unref(topic_new(&f, "a"));
	topic_unref(topic_new(&f, "b"));
	struct topic *b0 = find(&f, "b");
	broker_set(&f, true, "log.retention.ms", "2000");
	broker_set(&f, true, "log.segment.bytes", "500000");
	CHECK_EQ(plog_segment_bytes(b0->parts[1]->log), 500000); /* at once, on the open plog */
	topic_unref(b0);
	broker_set(&f, false, "log.retention.ms", "3000");
	struct cfg_change ov = { "retention.ms", "4000", CFG_OP_SET };
	CHECK_EQ(alter(&f, "a", &ov, 1, false, false, err), KAFKA_NONE);
	check_precedence(&f);
	size_t n;
	struct kv *kv = meta_broker_configs(f.m, true, &n);
	CHECK_EQ(n, 2);
	meta_kv_free(kv, n);
	fx_close(&f);

	fx_open(&f); /* replayed from the log */
	check_precedence(&f);
	fx_close(&f);

	f.cfg.metadata_log_max_snapshot_interval_bytes = 1;
	fx_open(&f);
	broker_set(&f, false, "log.flush.interval.messages", "7"); /* forces a snapshot */
	fx_close(&f);
	fx_open(&f); /* from the snapshot */
	check_precedence(&f);
	struct topic *t = find(&f, "b");
	CHECK_EQ(t->cfg.log.flush_messages, 7);
	topic_unref(t);
	broker_set(&f, false, "log.retention.ms", NULL); /* delete: the default scope shows */
	t = find(&f, "b");
	CHECK_EQ(t->cfg.log.retention_ms, 2000);
	topic_unref(t);
	fx_fini(&f);
}

TEST(broker_keys_checked)
{
	struct fx f;
	char err[256];
	fx_init(&f);
	fx_open(&f);
	struct cfg_change ro = { "listeners", "PLAINTEXT://:1", CFG_OP_SET };
	CHECK_EQ(meta_broker_configs_alter(f.m, false, &ro, 1, false, false, err, sizeof err),
		 KAFKA_INVALID_CONFIG);
	CHECK_STR(err, "Cannot update these configs dynamically: [listeners]");
	struct cfg_change bad = { "log.retention.ms", "soon", CFG_OP_SET };
	CHECK_EQ(meta_broker_configs_alter(f.m, true, &bad, 1, false, false, err, sizeof err),
		 KAFKA_INVALID_CONFIG);
	CHECK_STR(err, "Invalid value soon for configuration log.retention.ms: Not a number of type LONG");
	struct cfg_change unk = { "no.such.key", "1", CFG_OP_SET };
	CHECK_EQ(meta_broker_configs_alter(f.m, true, &unk, 1, false, false, err, sizeof err),
		 KAFKA_INVALID_CONFIG);
	struct cfg_change ratio = { "log.cleaner.min.cleanable.ratio", "1.5", CFG_OP_SET };
	CHECK_EQ(meta_broker_configs_alter(f.m, true, &ratio, 1, false, false, err, sizeof err),
		 KAFKA_INVALID_CONFIG);
	size_t n;
	struct kv *kv = meta_broker_configs(f.m, true, &n);
	CHECK_EQ(n, 0);
	meta_kv_free(kv, n);
	fx_fini(&f);
}

TEST(torn_alter_record_applies_nothing)
{
	struct fx f;
	char err[256], path[PATH_MAX];
	bool d;
	struct stat st;
	fx_init(&f);
	fx_open(&f);
	topic_unref(topic_new(&f, "a"));
	struct cfg_change ch[] = { { "retention.ms", "5000", CFG_OP_SET }, { "segment.ms", "70000", CFG_OP_SET } };
	CHECK_EQ(alter(&f, "a", ch, 2, false, false, err), KAFKA_NONE);
	fx_close(&f);
	snprintf(path, sizeof path, "%s/__cluster_metadata-0/metadata.log", f.dir);
	CHECK(stat(path, &st) == 0);
	CHECK(truncate(path, st.st_size - 1) == 0); /* the alter's record is torn */
	fx_open(&f);
	value_of(&f, "a", "retention.ms", &d);
	CHECK(d);
	value_of(&f, "a", "segment.ms", &d);
	CHECK(d);
	fx_fini(&f);
}

TEST(compression_settings_parsed)
{
	struct fx f;
	char err[256];
	fx_init(&f);
	fx_open(&f);
	topic_unref(topic_new(&f, "a"));
	struct topic *t = find(&f, "a");
	CHECK_EQ(t->cfg.compression, -1);
	CHECK_EQ(t->cfg.compression_level, INT32_MIN);
	CHECK_EQ(t->cfg.max_message_bytes, 1048588);
	CHECK_EQ(t->cfg.ts_before_max_ms, INT64_MAX);
	topic_unref(t);
	struct cfg_change ch[] = { { "compression.type", "zstd", CFG_OP_SET },
				   { "compression.zstd.level", "7", CFG_OP_SET },
				   { "max.message.bytes", "2000", CFG_OP_SET },
				   { "message.timestamp.after.max.ms", "3600000", CFG_OP_SET } };
	CHECK_EQ(alter(&f, "a", ch, 4, false, false, err), KAFKA_NONE);
	t = find(&f, "a");
	CHECK_EQ(t->cfg.compression, CODEC_ZSTD);
	CHECK_EQ(t->cfg.compression_level, 7);
	CHECK_EQ(t->cfg.max_message_bytes, 2000);
	CHECK_EQ(t->cfg.ts_after_max_ms, 3600000);
	topic_unref(t);
	struct cfg_change gz[] = { { "compression.type", "gzip", CFG_OP_SET } };
	CHECK_EQ(alter(&f, "a", gz, 1, false, false, err), KAFKA_NONE);
	t = find(&f, "a");
	CHECK_EQ(t->cfg.compression, CODEC_GZIP);
	CHECK_EQ(t->cfg.compression_level, INT32_MIN); /* gzip's -1: zlib's default */
	topic_unref(t);
	struct cfg_change lvl0[] = { { "compression.gzip.level", "0", CFG_OP_SET } };
	CHECK_EQ(alter(&f, "a", lvl0, 1, false, false, err), KAFKA_INVALID_CONFIG);
	struct cfg_change none[] = { { "compression.type", "uncompressed", CFG_OP_SET } };
	CHECK_EQ(alter(&f, "a", none, 1, false, false, err), KAFKA_NONE);
	t = find(&f, "a");
	CHECK_EQ(t->cfg.compression, CODEC_NONE);
	topic_unref(t);
	fx_fini(&f);
}

TEST(cleaner_config_dynamic_over_static)
{
	struct fx f;
	char err[256];
	struct cleaner_config cc;
	fx_init(&f);
	CHECK_EQ(config_set(&f.cfg, "log.cleaner.threads", "3", err, sizeof err), 0);
	fx_open(&f);
	meta_cleaner_config(f.m, &cc);
	CHECK(cc.enable);
	CHECK_EQ(cc.threads, 3);
	CHECK_EQ(cc.dedupe_buffer_size, 134217728);
	CHECK(cc.io_max_bytes_per_second > 1e308);
	broker_set(&f, true, "log.cleaner.threads", "2");
	broker_set(&f, false, "log.cleaner.io.max.bytes.per.second", "1048576");
	broker_set(&f, true, "log.cleaner.backoff.ms", "100");
	fx_close(&f);
	fx_open(&f);
	meta_cleaner_config(f.m, &cc);
	CHECK_EQ(cc.threads, 2);
	CHECK(cc.io_max_bytes_per_second == 1048576.0);
	CHECK_EQ(cc.backoff_ms, 100);
	CHECK_EQ(cc.io_buffer_size, 524288);
	fx_fini(&f);
}

UNIT_MAIN()
