// deps: src/util
/*
 * test_config.c — broker keys (defaults, parsing, bounds, synonyms),
 * properties files (comments, separators, continuation, unknown keys,
 * errors) and topic-level keys (validation, effective defaults).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "util/clock.h"
#include "util/config.h"
#include "util/err.h"
#include "util/log.h"

/* ------------------------------------------------------------- fixture */

static char tmp_path[64];

/* Writes text to a fresh temporary file and returns its path. */
static const char *write_props(const char *text)
{
	strcpy(tmp_path, "/tmp/runnel-test-config-XXXXXX");
	int fd = mkstemp(tmp_path);
	CHECK(fd >= 0);
	size_t n = strlen(text);
	CHECK(write(fd, text, n) == (ssize_t)n);
	close(fd);
	return tmp_path;
}

/* Redirects stderr into a temporary file; returns the fd to read back. */
static int capture_stderr(void)
{
	char path[] = "/tmp/runnel-test-stderr-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	CHECK(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	return fd;
}

static void read_captured(int fd, char *out, size_t cap)
{
	ssize_t n = pread(fd, out, cap - 1, 0);
	out[n > 0 ? n : 0] = '\0';
}

static const char *text_of(const struct config *c, const char *key)
{
	static char buf[256];
	const struct config_key *k = config_key_find(key);
	CHECK(k != NULL);
	config_value_text(c, k, buf, sizeof buf);
	return buf;
}

/* ---------------------------------------------------------------- table */

TEST(table_is_consistent)
{
	CHECK(config_nkeys <= sizeof(((struct config *)0)->explicitly_set));
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		CHECK(k->doc != NULL && k->doc[0] != '\0');
		CHECK(config_key_find(k->name) == k); /* names unique */
		if (k->type == CFG_BOOL)
			CHECK_EQ(k->width, sizeof(bool));
		else if (k->type == CFG_INT || k->type == CFG_LONG || k->type == CFG_SHORT)
			CHECK(k->width == 2 || k->width == 4 || k->width == 8);
		else if (k->type == CFG_DOUBLE)
			CHECK_EQ(k->width, sizeof(double));
		else
			CHECK_EQ(k->width, sizeof(char *));
		if (k->width == 2)
			CHECK(k->max <= INT16_MAX);
		if (k->width == 4)
			CHECK(k->max <= INT32_MAX && k->min >= INT32_MIN);
		if (k->overridden_by != NULL)
			CHECK(config_key_find(k->overridden_by) != NULL);
	}
	for (size_t i = 0; i < topic_config_nkeys; i++) {
		const struct topic_config_key *t = &topic_config_keys[i];
		char err[256];
		CHECK(topic_config_key_find(t->name) == t);
		CHECK(t->def != NULL);
		if (topic_config_validate(t->name, t->def, err, sizeof err) != 0) {
			fprintf(stderr, "%s\n", err);
			CHECK(0);
		}
	}
}

/* ------------------------------------------------------------- defaults */

TEST(defaults_match_kafka)
{
	struct config c;
	config_defaults(&c);
	CHECK_STR(c.listeners, "PLAINTEXT://localhost:9092");
	CHECK(c.advertised_listeners == NULL);
	CHECK(c.cluster_id == NULL);
	CHECK_EQ(c.node_id, 1);
	CHECK_STR(c.log_dirs, "./data");
	CHECK_EQ(c.log_segment_bytes, 1073741824);
	CHECK_EQ(c.log_roll_ms, 604800000);
	CHECK_EQ(c.log_index_interval_bytes, 4096);
	CHECK_EQ(c.log_index_size_max_bytes, 10485760);
	CHECK(c.log_flush_interval_messages == INT64_MAX);
	CHECK_EQ(c.log_flush_interval_ms, -1);
	CHECK_EQ(c.log_flush_scheduler_interval_ms, 1000);
	CHECK_EQ(c.log_retention_ms, 604800000);
	CHECK_EQ(c.log_retention_bytes, -1);
	CHECK_EQ(c.log_retention_check_interval_ms, 300000);
	CHECK_STR(c.log_cleanup_policy, "delete");
	CHECK_STR(c.log_message_timestamp_type, "CreateTime");
	CHECK_STR(c.compression_type, "producer");
	CHECK_EQ(c.message_max_bytes, 1048588);
	CHECK_EQ(c.num_partitions, 1);
	CHECK_EQ(c.default_replication_factor, 1);
	CHECK(c.auto_create_topics_enable);
	CHECK(c.delete_topic_enable);
	CHECK_EQ(c.num_network_threads, 0);
	CHECK_EQ(c.socket_request_max_bytes, 104857600);
	CHECK_EQ(c.connections_max_idle_ms, 600000);
	CHECK_EQ(c.socket_send_buffer_bytes, 102400);
	CHECK_EQ(c.socket_receive_buffer_bytes, 102400);
	CHECK_EQ(c.fetch_max_bytes, 57671680);
	CHECK_EQ(c.metadata_log_max_snapshot_interval_bytes, 20971520);
	CHECK_EQ(c.offsets_topic_num_partitions, 50);
	CHECK_EQ(c.group_initial_rebalance_delay_ms, 3000);
	CHECK_EQ(c.group_min_session_timeout_ms, 6000);
	CHECK_EQ(c.group_max_session_timeout_ms, 1800000);
	CHECK_STR(c.log_level, "info");
	config_fini(&c);
}

TEST(default_text_round_trips)
{
	struct config c;
	config_defaults(&c);
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		char buf[256];
		config_value_text(&c, k, buf, sizeof buf);
		CHECK_EQ(config_source_of(&c, k), CFG_SRC_DEFAULT);
		if (k->def == NULL) {
			CHECK(config_value_is_null(&c, k));
			CHECK_STR(buf, "");
		} else {
			CHECK(!config_value_is_null(&c, k));
			CHECK_STR(buf, k->def);
		}
	}
	config_fini(&c);
}

/* ---------------------------------------------------------------- set */

TEST(set_values_and_sources)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	CHECK_EQ(config_set(&c, "log.segment.bytes", " 1048576 ", err, sizeof err), 0);
	CHECK_EQ(c.log_segment_bytes, 1048576);
	CHECK_EQ(config_source_of(&c, config_key_find("log.segment.bytes")), CFG_SRC_STATIC_BROKER);
	CHECK_EQ(config_source_of(&c, config_key_find("log.roll.ms")), CFG_SRC_DEFAULT);
	CHECK_EQ(config_set(&c, "auto.create.topics.enable", "FALSE", err, sizeof err), 0);
	CHECK(!c.auto_create_topics_enable);
	CHECK_STR(text_of(&c, "auto.create.topics.enable"), "false");
	CHECK_EQ(config_set(&c, "default.replication.factor", "3", err, sizeof err), 0);
	CHECK_EQ(c.default_replication_factor, 3);
	CHECK_EQ(config_set(&c, "log.flush.interval.ms", "50", err, sizeof err), 0);
	CHECK_EQ(c.log_flush_interval_ms, 50);
	CHECK(!config_value_is_null(&c, config_key_find("log.flush.interval.ms")));
	CHECK_EQ(config_set(&c, "log.cleanup.policy", " compact , delete", err, sizeof err), 0);
	CHECK_STR(c.log_cleanup_policy, "compact,delete");
	CHECK_EQ(config_set(&c, "log.message.timestamp.type", "LogAppendTime", err, sizeof err), 0);
	CHECK_STR(c.log_message_timestamp_type, "LogAppendTime");
	CHECK_EQ(config_set(&c, "listeners", "PLAINTEXT://:9093,INTERNAL://[::1]:19092", err, sizeof err), 0);
	CHECK_STR(c.listeners, "PLAINTEXT://:9093,INTERNAL://[::1]:19092");
	CHECK_EQ(config_set(&c, "advertised.listeners", "PLAINTEXT://broker1:9093", err, sizeof err), 0);
	CHECK_STR(c.advertised_listeners, "PLAINTEXT://broker1:9093");
	CHECK_EQ(config_set(&c, "log.level", "debug", err, sizeof err), 0);
	CHECK_STR(c.log_level, "debug");
	CHECK_EQ(config_set(&c, "cluster.id", "abc", err, sizeof err), 0);
	CHECK_STR(c.cluster_id, "abc");
	config_fini(&c);
}

struct bad_case { const char *key, *val, *msg; };

TEST(bad_values_rejected_with_message)
{
	static const struct bad_case bad[] = {
		{ "log.segment.bytes", "abc", "log.segment.bytes: not an integer: 'abc'" },
		{ "log.segment.bytes", "13", "log.segment.bytes: 13 is below the minimum 14" },
		{ "log.segment.bytes", "2147483648", "log.segment.bytes: 2147483648 is above the maximum 2147483647" },
		{ "log.retention.ms", "-2", "log.retention.ms: -2 is below the minimum -1" },
		{ "log.retention.ms", "99999999999999999999", "log.retention.ms: not an integer" },
		{ "num.partitions", "0", "num.partitions: 0 is below the minimum 1" },
		{ "num.partitions", "1.5", "num.partitions: not an integer" },
		{ "num.partitions", "", "num.partitions: not an integer" },
		{ "default.replication.factor", "40000", "default.replication.factor: 40000 is above" },
		{ "delete.topic.enable", "yes", "delete.topic.enable: not a boolean" },
		{ "compression.type", "brotli", "compression.type: 'brotli' is not one of uncompressed" },
		{ "log.cleanup.policy", "delete,", "log.cleanup.policy: 'delete,' is not one of" },
		{ "log.message.timestamp.type", "createtime", "log.message.timestamp.type:" },
		{ "listeners", "localhost:9092", "listeners: not a listener list" },
		{ "listeners", "PLAINTEXT://host:99999", "listeners: not a listener list" },
		{ "listeners", "://host:1", "listeners: not a listener list" },
		{ "log.dirs", "  ", "log.dirs: must not be empty" },
		{ "log.level", "trace", "log.level: 'trace' is not one of error" },
		{ "log.retention.hours", "x", "log.retention.hours: not an integer" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct config c;
		char err[256] = "";
		config_defaults(&c);
		char before[256];
		snprintf(before, sizeof before, "%s", text_of(&c, bad[i].key));
		CHECK_EQ(config_set(&c, bad[i].key, bad[i].val, err, sizeof err), -1);
		if (strncmp(err, bad[i].msg, strlen(bad[i].msg)) != 0) {
			fprintf(stderr, "got \"%s\", want \"%s...\"\n", err, bad[i].msg);
			CHECK(0);
		}
		CHECK_STR(text_of(&c, bad[i].key), before); /* unchanged */
		CHECK_EQ(config_source_of(&c, config_key_find(bad[i].key)), CFG_SRC_DEFAULT);
		config_fini(&c);
	}
}

TEST(unknown_key_returns_1)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	CHECK_EQ(config_set(&c, "no.such.key", "1", err, sizeof err), 1);
	CHECK(strstr(err, "no.such.key") != NULL);
	CHECK(config_key_find("no.such.key") == NULL);
	config_fini(&c);
}

/* ------------------------------------------------------------- synonyms */

TEST(retention_synonyms_by_precedence_not_order)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	CHECK_EQ(config_set(&c, "log.retention.hours", "24", err, sizeof err), 0);
	CHECK_EQ(c.log_retention_ms, 24ll * 3600000);
	CHECK_STR(text_of(&c, "log.retention.hours"), "24");
	CHECK_EQ(config_set(&c, "log.retention.minutes", "30", err, sizeof err), 0);
	CHECK_EQ(c.log_retention_ms, 30ll * 60000);
	CHECK_EQ(config_set(&c, "log.retention.hours", "48", err, sizeof err), 0); /* loses to minutes */
	CHECK_EQ(c.log_retention_ms, 30ll * 60000);
	CHECK_EQ(config_set(&c, "log.retention.ms", "1234", err, sizeof err), 0);
	CHECK_EQ(c.log_retention_ms, 1234);
	CHECK_EQ(config_set(&c, "log.retention.minutes", "5", err, sizeof err), 0);
	CHECK_EQ(c.log_retention_ms, 1234);
	CHECK_EQ(config_set(&c, "log.retention.minutes", "bad", err, sizeof err), -1);
	config_fini(&c);

	config_defaults(&c);
	CHECK_EQ(config_set(&c, "log.retention.ms", "1000", err, sizeof err), 0);
	CHECK_EQ(config_set(&c, "log.retention.hours", "1", err, sizeof err), 0);
	CHECK_EQ(c.log_retention_ms, 1000);
	config_fini(&c);

	config_defaults(&c);
	CHECK_EQ(config_set(&c, "log.retention.hours", "-1", err, sizeof err), 0);
	CHECK_EQ(c.log_retention_ms, -1);
	config_fini(&c);
}

TEST(other_synonyms)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	CHECK_EQ(config_set(&c, "log.roll.hours", "2", err, sizeof err), 0);
	CHECK_EQ(c.log_roll_ms, 7200000);
	CHECK_EQ(config_set(&c, "log.roll.hours", "0", err, sizeof err), -1);
	CHECK_EQ(config_set(&c, "broker.id", "7", err, sizeof err), 0);
	CHECK_EQ(c.node_id, 7);
	CHECK_EQ(config_set(&c, "node.id", "3", err, sizeof err), 0);
	CHECK_EQ(config_set(&c, "broker.id", "9", err, sizeof err), 0);
	CHECK_EQ(c.node_id, 3);
	CHECK_EQ(config_set(&c, "log.dir", "/var/lib/runnel", err, sizeof err), 0);
	CHECK_STR(c.log_dirs, "/var/lib/runnel");
	CHECK_EQ(config_set(&c, "log.dirs", "/srv/a", err, sizeof err), 0);
	CHECK_EQ(config_set(&c, "log.dir", "/srv/b", err, sizeof err), 0);
	CHECK_STR(c.log_dirs, "/srv/a");
	config_fini(&c);
}

/* ---------------------------------------------------------------- files */

TEST(load_file_formats_and_comments)
{
	const char *path = write_props(
		"# a comment\n"
		"! another comment\n"
		"\n"
		"   \t\n"
		"node.id=4\n"
		"  log.dirs = /tmp/runnel data  \n"
		"num.partitions: 6\n"
		"log.segment.bytes 2000000\r\n"
		"log.retention.check.interval.ms=\\\n"
		"    12345\n"
		"listeners=PLAINTEXT://127.0.0.1:19092,\\\n"
		"          SECOND://127.0.0.1:19093\n"
		"#log.roll.ms=1\n"
		"delete.topic.enable=false");
	struct config c;
	char err[256] = "";
	config_defaults(&c);
	int rc = config_load_file(&c, path, err, sizeof err);
	unlink(path);
	if (rc != 0)
		fprintf(stderr, "%s\n", err);
	CHECK_EQ(rc, 0);
	CHECK_EQ(c.node_id, 4);
	CHECK_STR(c.log_dirs, "/tmp/runnel data");
	CHECK_EQ(c.num_partitions, 6);
	CHECK_EQ(c.log_segment_bytes, 2000000);
	CHECK_EQ(c.log_retention_check_interval_ms, 12345);
	CHECK_STR(c.listeners, "PLAINTEXT://127.0.0.1:19092,SECOND://127.0.0.1:19093");
	CHECK_EQ(c.log_roll_ms, 604800000);
	CHECK(!c.delete_topic_enable);
	CHECK_EQ(config_source_of(&c, config_key_find("num.partitions")), CFG_SRC_STATIC_BROKER);
	CHECK_EQ(config_source_of(&c, config_key_find("log.roll.ms")), CFG_SRC_DEFAULT);
	/* An override after the file wins. */
	CHECK_EQ(config_set(&c, "num.partitions", "8", err, sizeof err), 0);
	CHECK_EQ(c.num_partitions, 8);
	config_fini(&c);
}

TEST(load_file_reports_unknown_keys_with_line)
{
	const char *path = write_props("node.id=2\n# x\nfoo.bar=1\nnum.partitions=3\n");
	char ppath[64];
	snprintf(ppath, sizeof ppath, "%s", path);
	int fd = capture_stderr();
	struct config c;
	char err[256] = "";
	config_defaults(&c);
	CHECK_EQ(config_load_file(&c, path, err, sizeof err), 0);
	unlink(path);
	CHECK_EQ(c.node_id, 2);
	CHECK_EQ(c.num_partitions, 3);
	char out[1024], want[128];
	read_captured(fd, out, sizeof out);
	snprintf(want, sizeof want, "%s:3: unknown key 'foo.bar'", ppath);
	if (strstr(out, want) == NULL || strstr(out, " WARN  config: ") == NULL) {
		fprintf(stdout, "stderr was: %s\n", out);
		CHECK(0);
	}
	config_fini(&c);
}

TEST(load_file_bad_value_names_file_line_and_key)
{
	const char *path = write_props("node.id=2\n\nmessage.max.bytes=-5\nnum.partitions=3\n");
	char want[128];
	snprintf(want, sizeof want, "%s:3: message.max.bytes: -5 is below the minimum 0", path);
	struct config c;
	char err[256] = "";
	config_defaults(&c);
	CHECK_EQ(config_load_file(&c, path, err, sizeof err), -1);
	unlink(path);
	CHECK_STR(err, want);
	CHECK_EQ(c.num_partitions, 1); /* stopped at the bad line */
	CHECK_EQ(config_load_file(&c, "/nonexistent/runnel.properties", err, sizeof err), -1);
	CHECK(strstr(err, "/nonexistent/runnel.properties") != NULL);
	config_fini(&c);
}

/* ------------------------------------------------------------ topic keys */

struct tcase { const char *key, *val; int ok; };

TEST(topic_config_validation)
{
	static const struct tcase c[] = {
		{ "cleanup.policy", "compact", 1 }, { "cleanup.policy", "compact,delete", 1 },
		{ "cleanup.policy", "delete, compact", 1 }, { "cleanup.policy", "remove", 0 },
		{ "cleanup.policy", "", 0 },
		{ "compression.type", "zstd", 1 }, { "compression.type", "uncompressed", 1 },
		{ "compression.type", "none", 0 },
		{ "retention.ms", "-1", 1 }, { "retention.ms", "-2", 0 }, { "retention.ms", "x", 0 },
		{ "retention.bytes", "-1", 1 },
		{ "segment.bytes", "14", 1 }, { "segment.bytes", "13", 0 },
		{ "segment.bytes", "3000000000", 0 },
		{ "segment.ms", "0", 0 }, { "segment.index.bytes", "3", 0 },
		{ "min.cleanable.dirty.ratio", "0.5", 1 }, { "min.cleanable.dirty.ratio", "1", 1 },
		{ "min.cleanable.dirty.ratio", "1.01", 0 }, { "min.cleanable.dirty.ratio", "nan", 0 },
		{ "min.cleanable.dirty.ratio", "0.5x", 0 },
		{ "message.timestamp.type", "LogAppendTime", 1 },
		{ "message.timestamp.type", "Now", 0 },
		{ "preallocate", "true", 1 }, { "preallocate", "1", 0 },
		{ "unclean.leader.election.enable", "false", 1 },
		{ "min.insync.replicas", "0", 0 }, { "max.compaction.lag.ms", "0", 0 },
		{ "flush.messages", "1", 1 }, { "flush.ms", "0", 1 }, { "max.message.bytes", "-1", 0 },
		{ "delete.retention.ms", "0", 1 }, { "file.delete.delay.ms", "-1", 0 },
		{ "index.interval.bytes", "0", 1 }, { "min.compaction.lag.ms", "0", 1 },
		{ "message.timestamp.before.max.ms", "0", 1 }, { "message.timestamp.after.max.ms", "-1", 0 },
		{ "no.such.topic.key", "1", 0 },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		char err[256] = "";
		int rc = topic_config_validate(c[i].key, c[i].val, err, sizeof err);
		if ((rc == 0) != c[i].ok) {
			fprintf(stderr, "%s=%s: rc %d (%s)\n", c[i].key, c[i].val, rc, err);
			CHECK(0);
		}
		if (rc != 0) /* Kafka's words: "Invalid value V for configuration K: why" */
			CHECK(strstr(err, c[i].key) != NULL);
	}
}

TEST(topic_defaults_follow_broker_synonyms)
{
	struct config c;
	char err[256], out[64];
	config_defaults(&c);
	topic_config_default(&c, "retention.ms", out, sizeof out);
	CHECK_STR(out, "604800000");
	topic_config_default(&c, "segment.bytes", out, sizeof out);
	CHECK_STR(out, "1073741824");
	topic_config_default(&c, "flush.ms", out, sizeof out);
	CHECK_STR(out, "9223372036854775807"); /* broker value null */
	topic_config_default(&c, "delete.retention.ms", out, sizeof out);
	CHECK_STR(out, "86400000");            /* synonym not in struct config */
	topic_config_default(&c, "min.insync.replicas", out, sizeof out);
	CHECK_STR(out, "1");
	CHECK_EQ(config_set(&c, "log.retention.hours", "1", err, sizeof err), 0);
	CHECK_EQ(config_set(&c, "log.segment.bytes", "1000", err, sizeof err), 0);
	CHECK_EQ(config_set(&c, "log.flush.interval.ms", "10", err, sizeof err), 0);
	CHECK_EQ(config_set(&c, "log.cleanup.policy", "compact", err, sizeof err), 0);
	CHECK_EQ(config_set(&c, "message.max.bytes", "5000", err, sizeof err), 0);
	topic_config_default(&c, "retention.ms", out, sizeof out);
	CHECK_STR(out, "3600000");
	topic_config_default(&c, "segment.bytes", out, sizeof out);
	CHECK_STR(out, "1000");
	topic_config_default(&c, "flush.ms", out, sizeof out);
	CHECK_STR(out, "10");
	topic_config_default(&c, "cleanup.policy", out, sizeof out);
	CHECK_STR(out, "compact");
	topic_config_default(&c, "max.message.bytes", out, sizeof out);
	CHECK_STR(out, "5000");
	topic_config_default(&c, "no.such", out, sizeof out);
	CHECK_STR(out, "");
	config_fini(&c);
}

/* ---------------------------------------------- log, err, clock (util) */

TEST(log_line_format_and_threshold)
{
	int fd = capture_stderr();
	CHECK_EQ(log_threshold, LOGL_INFO);
	log_info("net", "listening on %s:%d", "127.0.0.1", 9092);
	log_debug("net", "not shown");
	log_warn("api", "bad\nline\rhere");
	log_set_level(LOGL_DEBUG);
	log_debug("x", "shown");
	char out[1024];
	read_captured(fd, out, sizeof out);
	/* 2026-11-23T09:40:01.123Z INFO  net: listening on 127.0.0.1:9092 */
	const char *l = out;
	for (int i = 0; i < 24; i++) {
		const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
		if (shape[i] == 'd')
			CHECK(l[i] >= '0' && l[i] <= '9');
		else
			CHECK_EQ(l[i], shape[i]);
	}
	CHECK(strncmp(l + 24, " INFO  net: listening on 127.0.0.1:9092\n", 40) == 0);
	const char *l2 = strchr(l, '\n') + 1;
	CHECK(strncmp(l2 + 24, " WARN  api: bad?line?here\n", 26) == 0);
	const char *l3 = strchr(l2, '\n') + 1;
	CHECK(strncmp(l3 + 24, " DEBUG x: shown\n", 16) == 0);
	CHECK(strstr(out, "not shown") == NULL);
	CHECK_EQ(log_parse_level("warn"), LOGL_WARN);
	CHECK_EQ(log_parse_level("DEBUG"), LOGL_DEBUG);
	CHECK_EQ(log_parse_level("trace"), -1);
}

TEST(log_long_line_is_cut_not_overflowed)
{
	int fd = capture_stderr();
	char big[6000];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	log_error("m", "%s", big);
	char out[8192];
	read_captured(fd, out, sizeof out);
	size_t n = strlen(out);
	CHECK(n > 1000 && n <= 4096);
	CHECK(strcmp(out + n - 4, "...\n") == 0);
}

TEST(error_names)
{
	CHECK_STR(kafka_err_name(KAFKA_NONE), "NONE");
	CHECK_STR(kafka_err_name(-1), "UNKNOWN_SERVER_ERROR");
	CHECK_STR(kafka_err_name(KAFKA_CORRUPT_MESSAGE), "CORRUPT_MESSAGE");
	CHECK_STR(kafka_err_name(KAFKA_KAFKA_STORAGE_ERROR), "KAFKA_STORAGE_ERROR");
	CHECK_STR(kafka_err_name(KAFKA_NOT_LEADER_OR_FOLLOWER), "NOT_LEADER_OR_FOLLOWER");
	CHECK_STR(kafka_err_name(KAFKA_TRANSACTION_ABORTABLE), "TRANSACTION_ABORTABLE");
	CHECK_STR(kafka_err_name(LOCAL_ERR_IO), "LOCAL_ERR_IO");
	CHECK_STR(kafka_err_name(121), "UNKNOWN_ERROR_CODE");
	CHECK_STR(kafka_err_name(-5), "UNKNOWN_ERROR_CODE");
	for (int code = 0; code <= KAFKA_TRANSACTION_ABORTABLE; code++)
		CHECK(strcmp(kafka_err_name(code), "UNKNOWN_ERROR_CODE") != 0);
}

TEST(clocks)
{
	int64_t wall = clock_wall_ms();
	CHECK(wall > 1700000000000 && wall < 4102444800000); /* 2023..2100 */
	int64_t m1 = clock_mono_ms(), u1 = clock_mono_us();
	usleep(20000);
	int64_t m2 = clock_mono_ms(), u2 = clock_mono_us();
	CHECK(m2 - m1 >= 19 && m2 - m1 < 5000);
	CHECK(u2 - u1 >= 19000);
}

TEST(kafka_style_messages)
{
	static const struct { const char *key, *val, *want; } c[] = {
		{ "retention.ms", "abc", "Invalid value abc for configuration retention.ms: Not a number of type LONG" },
		{ "segment.bytes", "3000000000", "Invalid value 3000000000 for configuration segment.bytes: "
		  "Not a number of type INT" },
		{ "segment.bytes", "13", "Invalid value 13 for configuration segment.bytes: Value must be at least 14" },
		{ "compression.lz4.level", "18", "Invalid value 18 for configuration compression.lz4.level: "
		  "Value must be no more than 17" },
		{ "compression.gzip.level", "0", "Invalid value 0 for configuration compression.gzip.level: "
		  "Value must be between 1 and 9, or -1 for the default" },
		{ "preallocate", "yes", "Invalid value yes for configuration preallocate: Expected value to be "
		  "either true or false" },
		{ "min.cleanable.dirty.ratio", "x", "Invalid value x for configuration min.cleanable.dirty.ratio: "
		  "Not a number of type DOUBLE" },
		{ "cleanup.policy", "", "Invalid value  for configuration cleanup.policy: Empty list is not allowed" },
		{ "cleanup.policy", "delete,delete", "Invalid value delete,delete for configuration cleanup.policy: "
		  "Values must not repeat" },
		{ "compression.type", "brotli", "Invalid value brotli for configuration compression.type: String "
		  "must be one of: uncompressed, zstd, lz4, snappy, gzip, producer" },
		{ "no.such", "1", "Unknown topic config name: no.such" },
	};
	char err[256];
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		CHECK_EQ(topic_config_validate(c[i].key, c[i].val, err, sizeof err), -1);
		CHECK_STR(err, c[i].want);
	}
	CHECK_EQ(topic_config_validate("cleanup.policy", "compact, delete", err, sizeof err), 0);
	CHECK_EQ(topic_config_validate("compression.zstd.level", "-131072", err, sizeof err), 0);
	CHECK_EQ(topic_config_validate("compression.gzip.level", "-1", err, sizeof err), 0);
	const struct config_key *k = config_key_find("log.cleaner.io.max.bytes.per.second");
	CHECK(k != NULL && !k->read_only);
	CHECK_EQ(config_value_check(k, "1e6", err, sizeof err), 0);
	CHECK_EQ(config_value_check(k, "fast", err, sizeof err), -1);
	CHECK_STR(err, "Invalid value fast for configuration log.cleaner.io.max.bytes.per.second: "
		  "Not a number of type DOUBLE");
	k = config_key_find("log.retention.ms");
	CHECK_EQ(config_value_check(k, "-2", err, sizeof err), -1);
	CHECK_STR(err, "Invalid value -2 for configuration log.retention.ms: Value must be at least -1");
}

TEST(lifecycle_keys_and_doubles)
{
	struct config c;
	char out[64], err[256];
	config_defaults(&c);
	CHECK(c.log_cleaner_enable);
	CHECK_EQ(c.log_cleaner_threads, 1);
	CHECK_EQ(c.log_cleaner_dedupe_buffer_size, 134217728);
	CHECK_EQ(c.log_cleaner_io_buffer_size, 524288);
	CHECK(c.log_cleaner_io_max_bytes_per_second > 1e308);
	CHECK_EQ(c.log_cleaner_backoff_ms, 15000);
	CHECK_EQ(c.log_segment_delete_delay_ms, 60000);
	CHECK_EQ(c.log_message_timestamp_before_max_ms, INT64_MAX);
	CHECK_EQ(c.compression_gzip_level, -1);
	CHECK_EQ(c.compression_lz4_level, 9);
	CHECK_EQ(c.compression_zstd_level, 3);
	config_value_text(&c, config_key_find("log.cleaner.io.max.bytes.per.second"), out, sizeof out);
	CHECK_STR(out, "1.7976931348623157E308");
	config_value_text(&c, config_key_find("log.cleaner.min.cleanable.ratio"), out, sizeof out);
	CHECK_STR(out, "0.5");
	CHECK_EQ(config_set(&c, "log.cleaner.min.cleanable.ratio", "1", err, sizeof err), 0);
	config_value_text(&c, config_key_find("log.cleaner.min.cleanable.ratio"), out, sizeof out);
	CHECK_STR(out, "1.0");
	CHECK_EQ(config_set(&c, "log.cleaner.min.cleanable.ratio", "1.5", err, sizeof err), -1);
	CHECK_EQ(config_set(&c, "log.cleaner.io.max.bytes.per.second", "1048576", err, sizeof err), 0);
	CHECK(c.log_cleaner_io_max_bytes_per_second == 1048576.0);
	topic_config_default(&c, "min.cleanable.dirty.ratio", out, sizeof out);
	CHECK_STR(out, "1.0");
	/* every topic key's broker synonym is a broker key now */
	for (size_t i = 0; i < topic_config_nkeys; i++)
		CHECK(config_key_find(topic_config_keys[i].broker_synonym) != NULL);
	/* dynamic keys are exactly the ones DescribeConfigs shows writable */
	CHECK(config_key_find("listeners")->read_only);
	CHECK(config_key_find("log.retention.hours")->read_only);
	CHECK(!config_key_find("log.retention.ms")->read_only);
	CHECK(!config_key_find("log.cleanup.policy")->read_only);
	config_fini(&c);
}

UNIT_MAIN()
