/*
 * config.c — broker and topic configuration keys (config.h).
 *
 * One table, config_keys[], describes every broker key: Kafka's name and
 * type, the default as text, where the value lives in struct config and
 * how wide it is, numeric bounds, allowed values, and a one-line doc.
 * Defaults, parsing, validation, DescribeConfigs text and --help all read
 * it, so adding a key is adding a row (and a field).
 *
 * Synonyms. Kafka accepts several keys for one setting and resolves them by
 * precedence, not by order: log.retention.ms > log.retention.minutes >
 * log.retention.hours, log.roll.ms > log.roll.hours, node.id > broker.id,
 * log.dirs > log.dir. A lower key names the next higher one in
 * overridden_by and stores into the same field (times scale). Setting it
 * stores only while no higher key in its chain has been explicitly set, and
 * setting a higher key always stores, so the result is the same in any
 * order. Negative hours/minutes mean "forever" and store -1, as Kafka does.
 * A synonym reads back as the shared field in its own unit, so its default
 * text is the primary default converted (log.retention.minutes = 10080,
 * where Kafka shows null).
 *
 * Sources: config_defaults() applies the defaults of primary keys;
 * config_set() (from a file line or an --override) validates, stores and
 * marks explicitly_set[i]. A rejected value leaves the field unchanged.
 *
 * Properties files: lines of `key=value`, `key: value` or `key value`;
 * blank lines and lines starting with # or ! are comments; whitespace
 * around key and value is trimmed; a line ending in an odd number of
 * backslashes continues on the next line (leading whitespace dropped).
 * Escapes other than continuation are not interpreted.
 *
 * Topic keys: topic_config_keys[] lists the topic-level keys with their
 * broker synonym; topic_config_default() reads the synonym's current value
 * from struct config when the synonym is stored there and not null, and
 * the row's built-in Kafka default otherwise.
 *
 * Threads: the table is immutable. A struct config is built on one thread
 * at start-up and read-only afterwards.
 */
#include "util/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

/* ========================================================= allowed values */

static const char *const v_cleanup[] = { "delete", "compact", NULL };
static const char *const v_ts_type[] = { "CreateTime", "LogAppendTime", NULL };
static const char *const v_compression[] = {
	"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer", NULL
};
static const char *const v_log_level[] = { "error", "warn", "info", "debug", NULL };

/* ================================================================ the table */

#define AT(f) .offset = offsetof(struct config, f), .width = sizeof(((struct config *)0)->f)
#define K(n, t, d) .name = (n), .type = (t), .def = (d)
#define I32 .min = INT32_MIN, .max = INT32_MAX
#define I64 .min = INT64_MIN, .max = INT64_MAX
#define HOUR_MS 3600000
#define TMAX "9223372036854775807"
#define MINUTE_MS 60000

const struct config_key config_keys[] = {
	/* ---- listeners and identity */
	{ K("listeners", CFG_STRING, "PLAINTEXT://localhost:9092"), AT(listeners), .read_only = true,
	  .doc = "Comma-separated listeners NAME://host:port the broker binds" },
	{ K("advertised.listeners", CFG_STRING, NULL), AT(advertised_listeners), .read_only = true,
	  .doc = "Listeners given to clients in metadata; null = listeners" },
	{ K("node.id", CFG_INT, "1"), AT(node_id), .min = 0, .max = INT32_MAX, .read_only = true,
	  .doc = "This broker's id" },
	{ K("broker.id", CFG_INT, "1"), AT(node_id), .min = 0, .max = INT32_MAX, .read_only = true,
	  .overridden_by = "node.id", .doc = "Older name of node.id" },
	{ K("cluster.id", CFG_STRING, NULL), AT(cluster_id), .read_only = true,
	  .doc = "runnel: cluster id; generated at first start when null" },
	/* ---- storage */
	{ K("log.dirs", CFG_STRING, "./data"), AT(log_dirs), .read_only = true,
	  .doc = "Directory holding the partition logs (first entry used)" },
	{ K("log.dir", CFG_STRING, "./data"), AT(log_dirs), .read_only = true,
	  .overridden_by = "log.dirs", .doc = "Single-directory form of log.dirs" },
	{ K("log.segment.bytes", CFG_INT, "1073741824"), AT(log_segment_bytes), .min = 14, .max = INT32_MAX,
	  .doc = "Maximum size of a log segment file" },
	{ K("log.roll.ms", CFG_LONG, "604800000"), AT(log_roll_ms), .min = 1, .max = INT64_MAX,
	  .doc = "Roll a segment older than this (ms)" },
	{ K("log.roll.hours", CFG_INT, "168"), AT(log_roll_ms), .min = 1, .max = INT32_MAX,
	  .overridden_by = "log.roll.ms", .scale = HOUR_MS, .read_only = true, .doc = "log.roll.ms in hours" },
	{ K("log.index.interval.bytes", CFG_INT, "4096"), AT(log_index_interval_bytes), .min = 0, .max = INT32_MAX,
	  .doc = "Bytes between offset index entries" },
	{ K("log.index.size.max.bytes", CFG_INT, "10485760"), AT(log_index_size_max_bytes), .min = 4, .max = INT32_MAX,
	  .doc = "Maximum size of an offset or time index" },
	{ K("log.flush.interval.messages", CFG_LONG, "9223372036854775807"), AT(log_flush_interval_messages),
	  .min = 1, .max = INT64_MAX, .doc = "Flush after this many unflushed messages" },
	{ K("log.flush.interval.ms", CFG_LONG, NULL), AT(log_flush_interval_ms), .min = -1, .max = INT64_MAX,
	  .doc = "Flush data older than this (ms); null = only acks=all flushes" },
	{ K("log.flush.scheduler.interval.ms", CFG_LONG, "1000"), AT(log_flush_scheduler_interval_ms),
	  .min = 1, .max = INT64_MAX, .read_only = true, .doc = "How often the flusher checks time-based flushes (ms)" },
	{ K("log.retention.ms", CFG_LONG, "604800000"), AT(log_retention_ms), .min = -1, .max = INT64_MAX,
	  .doc = "Delete segments older than this (ms); -1 = forever" },
	{ K("log.retention.minutes", CFG_INT, "10080"), AT(log_retention_ms), I32,
	  .overridden_by = "log.retention.ms", .scale = MINUTE_MS, .read_only = true, .doc = "log.retention.ms in minutes" },
	{ K("log.retention.hours", CFG_INT, "168"), AT(log_retention_ms), I32,
	  .overridden_by = "log.retention.minutes", .scale = HOUR_MS, .read_only = true, .doc = "log.retention.ms in hours" },
	{ K("log.retention.bytes", CFG_LONG, "-1"), AT(log_retention_bytes), I64,
	  .doc = "Delete old segments beyond this partition size; -1 = no limit" },
	{ K("log.retention.check.interval.ms", CFG_LONG, "300000"), AT(log_retention_check_interval_ms),
	  .min = 1, .max = INT64_MAX, .read_only = true, .doc = "How often retention is checked (ms)" },
	{ K("log.cleanup.policy", CFG_LIST, "delete"), AT(log_cleanup_policy), .allowed = v_cleanup,
	  .doc = "delete, compact, or both" },
	{ K("log.message.timestamp.type", CFG_STRING, "CreateTime"), AT(log_message_timestamp_type),
	  .allowed = v_ts_type, .doc = "CreateTime or LogAppendTime" },
	{ K("compression.type", CFG_STRING, "producer"), AT(compression_type), .allowed = v_compression,
	  .doc = "Stored compression; producer = as sent" },
	{ K("compression.gzip.level", CFG_INT, "-1"), AT(compression_gzip_level), .min = -1, .max = 9,
	  .doc = "gzip level of recompressed batches: 1..9, or -1 for zlib's default" },
	{ K("compression.lz4.level", CFG_INT, "9"), AT(compression_lz4_level), .min = 1, .max = 17,
	  .doc = "lz4 level of recompressed batches (1..17)" },
	{ K("compression.zstd.level", CFG_INT, "3"), AT(compression_zstd_level), .min = -131072, .max = 22,
	  .doc = "zstd level of recompressed batches (-131072..22)" },
	{ K("message.max.bytes", CFG_INT, "1048588"), AT(message_max_bytes), .min = 0, .max = INT32_MAX,
	  .doc = "Largest record batch accepted" },
	{ K("log.message.timestamp.before.max.ms", CFG_LONG, TMAX), AT(log_message_timestamp_before_max_ms),
	  .min = 0, .max = INT64_MAX, .doc = "Largest allowed lag of a CreateTime timestamp behind the broker's clock (ms)" },
	{ K("log.message.timestamp.after.max.ms", CFG_LONG, TMAX), AT(log_message_timestamp_after_max_ms),
	  .min = 0, .max = INT64_MAX, .doc = "Largest allowed lead of a CreateTime timestamp over the broker's clock (ms)" },
	{ K("log.segment.delete.delay.ms", CFG_LONG, "60000"), AT(log_segment_delete_delay_ms), .min = 0, .max = INT64_MAX,
	  .doc = "Delay before a deleted segment's files are removed (ms)" },
	{ K("log.preallocate", CFG_BOOL, "false"), AT(log_preallocate),
	  .doc = "Preallocate segment files (accepted; runnel does not preallocate)" },
	{ K("min.insync.replicas", CFG_INT, "1"), AT(min_insync_replicas), .min = 1, .max = INT32_MAX,
	  .doc = "Replicas that must acknowledge an acks=all write (one node: always met)" },
	{ K("unclean.leader.election.enable", CFG_BOOL, "false"), AT(unclean_leader_election_enable),
	  .doc = "Allow an out-of-sync replica to become leader (one node: no elections)" },
	/* ---- log cleaner */
	{ K("log.cleaner.enable", CFG_BOOL, "true"), AT(log_cleaner_enable),
	  .read_only = true, .doc = "Run the log cleaner (compaction of cleanup.policy=compact topics)" },
	{ K("log.cleaner.threads", CFG_INT, "1"), AT(log_cleaner_threads), .min = 0, .max = 1024,
	  .doc = "Log cleaner threads" },
	{ K("log.cleaner.dedupe.buffer.size", CFG_LONG, "134217728"), AT(log_cleaner_dedupe_buffer_size),
	  .min = 0, .max = INT64_MAX, .doc = "Offset map memory of all cleaner threads together (bytes)" },
	{ K("log.cleaner.io.buffer.size", CFG_INT, "524288"), AT(log_cleaner_io_buffer_size),
	  .min = 0, .max = INT32_MAX, .doc = "Read and write buffer of each cleaner thread (bytes)" },
	{ K("log.cleaner.io.max.bytes.per.second", CFG_DOUBLE, "1.7976931348623157E308"),
	  AT(log_cleaner_io_max_bytes_per_second), .min = 0, .max = INT64_MAX,
	  .doc = "Cleaner I/O throttle, read plus write (bytes/s)" },
	{ K("log.cleaner.backoff.ms", CFG_LONG, "15000"), AT(log_cleaner_backoff_ms), .min = 0, .max = INT64_MAX,
	  .doc = "Cleaner sleep when there is nothing to clean (ms)" },
	{ K("log.cleaner.min.cleanable.ratio", CFG_DOUBLE, "0.5"), AT(log_cleaner_min_cleanable_ratio),
	  .min = 0, .max = 1, .doc = "Share of uncleaned log that makes a partition cleanable" },
	{ K("log.cleaner.delete.retention.ms", CFG_LONG, "86400000"), AT(log_cleaner_delete_retention_ms),
	  .min = 0, .max = INT64_MAX, .doc = "How long tombstones are kept after cleaning (ms)" },
	{ K("log.cleaner.min.compaction.lag.ms", CFG_LONG, "0"), AT(log_cleaner_min_compaction_lag_ms),
	  .min = 0, .max = INT64_MAX, .doc = "Shortest time a record stays uncompacted (ms)" },
	{ K("log.cleaner.max.compaction.lag.ms", CFG_LONG, TMAX), AT(log_cleaner_max_compaction_lag_ms),
	  .min = 1, .max = INT64_MAX, .doc = "Longest a record stays ineligible for compaction (ms)" },
	/* ---- topics */
	{ K("num.partitions", CFG_INT, "1"), AT(num_partitions), .min = 1, .max = INT32_MAX,
	  .read_only = true, .doc = "Partitions of an auto-created topic" },
	{ K("default.replication.factor", CFG_INT, "1"), AT(default_replication_factor), .min = 1, .max = INT16_MAX,
	  .read_only = true, .doc = "Replication factor of an auto-created topic" },
	{ K("auto.create.topics.enable", CFG_BOOL, "true"), AT(auto_create_topics_enable),
	  .read_only = true, .doc = "Create unknown topics on metadata or produce" },
	{ K("delete.topic.enable", CFG_BOOL, "true"), AT(delete_topic_enable),
	  .read_only = true, .doc = "Allow DeleteTopics" },
	/* ---- network */
	{ K("num.network.threads", CFG_INT, "0"), AT(num_network_threads), .min = 0, .max = 1024,
	  .read_only = true, .doc = "Event-loop threads; 0 = one per core (Kafka's default is 3)" },
	{ K("socket.request.max.bytes", CFG_INT, "104857600"), AT(socket_request_max_bytes), .min = 1, .max = INT32_MAX,
	  .read_only = true, .doc = "Largest request frame accepted" },
	{ K("connections.max.idle.ms", CFG_LONG, "600000"), AT(connections_max_idle_ms), I64,
	  .read_only = true, .doc = "Close connections idle longer than this (ms)" },
	{ K("socket.send.buffer.bytes", CFG_INT, "102400"), AT(socket_send_buffer_bytes), .min = -1, .max = INT32_MAX,
	  .read_only = true, .doc = "SO_SNDBUF; -1 = OS default" },
	{ K("socket.receive.buffer.bytes", CFG_INT, "102400"), AT(socket_receive_buffer_bytes), .min = -1, .max = INT32_MAX,
	  .read_only = true, .doc = "SO_RCVBUF; -1 = OS default" },
	{ K("fetch.max.bytes", CFG_INT, "57671680"), AT(fetch_max_bytes), .min = 1024, .max = INT32_MAX,
	  .read_only = true, .doc = "Most bytes returned by one fetch" },
	/* ---- metadata log */
	{ K("metadata.log.max.snapshot.interval.bytes", CFG_LONG, "20971520"),
	  AT(metadata_log_max_snapshot_interval_bytes), .min = 1, .max = INT64_MAX,
	  .read_only = true, .doc = "Snapshot the metadata log after this many bytes" },
	/* ---- groups */
	{ K("offsets.topic.num.partitions", CFG_INT, "50"), AT(offsets_topic_num_partitions), .min = 1, .max = INT32_MAX,
	  .read_only = true, .doc = "Partitions of __consumer_offsets" },
	{ K("group.initial.rebalance.delay.ms", CFG_INT, "3000"), AT(group_initial_rebalance_delay_ms),
	  .min = 0, .max = INT32_MAX, .read_only = true, .doc = "Wait for more members before the first rebalance (ms)" },
	{ K("group.min.session.timeout.ms", CFG_INT, "6000"), AT(group_min_session_timeout_ms), .min = 0, .max = INT32_MAX,
	  .read_only = true, .doc = "Smallest session timeout a member may ask for (ms)" },
	{ K("group.max.session.timeout.ms", CFG_INT, "1800000"), AT(group_max_session_timeout_ms), .min = 0, .max = INT32_MAX,
	  .read_only = true, .doc = "Largest session timeout a member may ask for (ms)" },
	{ K("group.max.size", CFG_INT, "2147483647"), AT(group_max_size), .min = 1, .max = INT32_MAX,
	  .read_only = true, .doc = "Most members one consumer group may have" },
	{ K("offsets.retention.minutes", CFG_INT, "10080"), AT(offsets_retention_minutes), .min = 1, .max = INT32_MAX,
	  .read_only = true, .doc = "Committed offsets of an empty group are dropped after this long (minutes)" },
	{ K("offsets.retention.check.interval.ms", CFG_LONG, "600000"), AT(offsets_retention_check_interval_ms),
	  .min = 1, .max = INT64_MAX, .read_only = true, .doc = "How often expired offsets are looked for (ms)" },
	{ K("offsets.topic.segment.bytes", CFG_INT, "104857600"), AT(offsets_topic_segment_bytes),
	  .min = 14, .max = INT32_MAX, .read_only = true, .doc = "segment.bytes of __consumer_offsets" },
	{ K("offset.metadata.max.bytes", CFG_INT, "4096"), AT(offset_metadata_max_bytes), .min = 0, .max = INT32_MAX,
	  .read_only = true, .doc = "Largest metadata string an offset commit may carry" },
	/* ---- producer ids and transactions */
	{ K("producer.id.expiration.ms", CFG_INT, "86400000"), AT(producer_id_expiration_ms), .min = 1,
	  .max = INT32_MAX, .read_only = true,
	  .doc = "Producer state of an idle producer id is dropped after this long without a write (ms)" },
	{ K("producer.id.expiration.check.interval.ms", CFG_INT, "600000"),
	  AT(producer_id_expiration_check_interval_ms), .min = 1, .max = INT32_MAX, .read_only = true,
	  .doc = "How often expired producer ids are looked for (ms)" },
	{ K("transactional.id.expiration.ms", CFG_INT, "604800000"), AT(transactional_id_expiration_ms),
	  .min = 1, .max = INT32_MAX, .read_only = true,
	  .doc = "A transactional id idle this long (no transaction) is forgotten (ms)" },
	{ K("transaction.max.timeout.ms", CFG_INT, "900000"), AT(transaction_max_timeout_ms), .min = 1,
	  .max = INT32_MAX, .read_only = true,
	  .doc = "Largest transaction timeout a producer may ask for (ms)" },
	{ K("transaction.state.log.num.partitions", CFG_INT, "50"), AT(transaction_state_log_num_partitions),
	  .min = 1, .max = INT32_MAX, .read_only = true,
	  .doc = "Partitions of __transaction_state (when it is created)" },
	{ K("transaction.state.log.segment.bytes", CFG_INT, "104857600"),
	  AT(transaction_state_log_segment_bytes), .min = 14, .max = INT32_MAX, .read_only = true,
	  .doc = "segment.bytes of __transaction_state" },
	{ K("transaction.abort.timed.out.transaction.cleanup.interval.ms", CFG_INT, "10000"),
	  AT(transaction_abort_timed_out_transaction_cleanup_interval_ms), .min = 1, .max = INT32_MAX,
	  .read_only = true, .doc = "How often transactions past their timeout are looked for and aborted (ms)" },
	{ K("transaction.remove.expired.transaction.cleanup.interval.ms", CFG_INT, "3600000"),
	  AT(transaction_remove_expired_transaction_cleanup_interval_ms), .min = 1, .max = INT32_MAX,
	  .read_only = true, .doc = "How often transactional ids past transactional.id.expiration.ms are removed (ms)" },
	/* ---- logging */
	{ K("log.level", CFG_STRING, "info"), AT(log_level), .allowed = v_log_level,
	  .read_only = true, .doc = "runnel: error, warn, info or debug" },
};

const size_t config_nkeys = sizeof config_keys / sizeof config_keys[0];

_Static_assert(sizeof config_keys / sizeof config_keys[0] <=
		       sizeof(((struct config *)0)->explicitly_set),
	       "explicitly_set[] too small for config_keys[]");

/* ================================================================ helpers */

/* Copies s[0..n) without surrounding whitespace into out (NUL-terminated). */
static void trim_into(const char *s, size_t n, char *out, size_t cap)
{
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, s, n);
	out[n] = '\0';
}

static bool parse_i64(const char *s, int64_t *out)
{
	char buf[64];
	trim_into(s, strlen(s), buf, sizeof buf);
	if (buf[0] == '\0' || strlen(s) >= sizeof buf)
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	char buf[16];
	trim_into(s, strlen(s), buf, sizeof buf);
	if (strcasecmp(buf, "true") == 0 && strlen(s) < sizeof buf)
		*out = true;
	else if (strcasecmp(buf, "false") == 0 && strlen(s) < sizeof buf)
		*out = false;
	else
		return false;
	return true;
}

static bool in_allowed(const char *const *allowed, const char *s, size_t n)
{
	for (; *allowed != NULL; allowed++)
		if (strlen(*allowed) == n && strncmp(*allowed, s, n) == 0)
			return true;
	return false;
}

static void allowed_text(const char *const *allowed, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	for (; *allowed != NULL && n < cap; allowed++) {
		int k = snprintf(out + n, cap - n, "%s%s", n ? ", " : "", *allowed);
		n += k > 0 ? (size_t)k : 0;
	}
}

/* True when the ','-joined list norm already holds item. */
static bool list_item_dup(const char *norm, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = norm; *p != '\0';) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && strncmp(p, item, n) == 0)
			return true;
		p += len + (comma ? 1 : 0);
	}
	return false;
}

/* Checks a comma-separated list (or a single value when !list) against
 * allowed and writes it normalised (items trimmed, joined by ','). */
static int check_enum(const char *name, const char *const *allowed, bool list, const char *val,
		      char *norm, size_t cap, char *err, size_t errlen)
{
	size_t n = 0;
	const char *p = val;
	norm[0] = '\0';
	do {
		const char *comma = list ? strchr(p, ',') : NULL;
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char item[64];
		trim_into(p, len, item, sizeof item);
		if (!in_allowed(allowed, item, strlen(item)) || len >= sizeof item) {
			char choices[160];
			allowed_text(allowed, choices, sizeof choices);
			snprintf(err, errlen, "%s: '%s' is not one of %s", name, val, choices);
			return -1;
		}
		if (list && list_item_dup(norm, item)) {
			snprintf(err, errlen, "%s: '%s' lists %s twice", name, val, item);
			return -1;
		}
		int k = snprintf(norm + n, cap - n, "%s%s", n ? "," : "", item);
		n += k > 0 ? (size_t)k : 0;
		if (n >= cap) {
			snprintf(err, errlen, "%s: value too long", name);
			return -1;
		}
		p = comma ? comma + 1 : NULL;
	} while (p != NULL);
	return 0;
}

/* Parses an integer and checks it against [min, max]. */
static int check_int(const char *name, const char *val, int64_t min, int64_t max,
		     int64_t *out, char *err, size_t errlen)
{
	int64_t v;
	if (!parse_i64(val, &v)) {
		snprintf(err, errlen, "%s: not an integer: '%s'", name, val);
		return -1;
	}
	if (v < min) {
		snprintf(err, errlen, "%s: %lld is below the minimum %lld", name, (long long)v, (long long)min);
		return -1;
	}
	if (v > max) {
		snprintf(err, errlen, "%s: %lld is above the maximum %lld", name, (long long)v, (long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

static bool parse_double(const char *s, double *out)
{
	char buf[64], *end;
	trim_into(s, strlen(s), buf, sizeof buf);
	if (buf[0] == '\0' || strlen(s) >= sizeof buf)
		return false;
	errno = 0;
	double d = strtod(buf, &end);
	if (*end != '\0' || d != d) /* NaN never compares equal */
		return false;
	*out = d;
	return true;
}

/* Parses a double and checks it against [min, max] (max INT64_MAX: none). */
static int check_double(const char *name, const char *val, int64_t min, int64_t max,
			double *out, char *err, size_t errlen)
{
	double d;
	if (!parse_double(val, &d)) {
		snprintf(err, errlen, "%s: not a number: '%s'", name, val);
		return -1;
	}
	if (d < (double)min || (max != INT64_MAX && d > (double)max)) {
		snprintf(err, errlen, "%s: %s is outside [%lld, %lld]", name, val, (long long)min, (long long)max);
		return -1;
	}
	*out = d;
	return 0;
}

/* Java's Double.toString shape, which DescribeConfigs shows: the shortest
 * text that reads back as d, "1.0" not "1", "1.7976931348623157E308". */
static void double_text(double d, char *out, size_t outlen)
{
	char buf[64], *e;
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	e = strchr(buf, 'e');
	char mant[40], exp[16] = "";
	snprintf(mant, sizeof mant, "%.*s", e ? (int)(e - buf) : (int)strlen(buf), buf);
	if (strchr(mant, '.') == NULL && strstr(mant, "inf") == NULL)
		strcat(mant, ".0");
	if (e != NULL)
		snprintf(exp, sizeof exp, "E%d", atoi(e + 1));
	snprintf(out, outlen, "%s%s", mant, exp);
}

/* "NAME://host:port[,...]" with port 0..65535; host may be empty or [v6]. */
static int check_listeners(const char *name, const char *val, char *err, size_t errlen)
{
	const char *p = val;
	do {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char item[300];
		trim_into(p, len, item, sizeof item);
		const char *sep = strstr(item, "://");
		const char *colon = sep ? strrchr(sep + 3, ':') : NULL;
		int64_t port;
		bool ok = sep != NULL && sep > item && colon != NULL && len < sizeof item &&
			  parse_i64(colon + 1, &port) && port >= 0 && port <= 65535;
		for (const char *q = item; ok && q < sep; q++)
			ok = isalnum((unsigned char)*q) || *q == '_' || *q == '-';
		if (!ok) {
			snprintf(err, errlen, "%s: not a listener list NAME://host:port[,...]: '%s'", name, val);
			return -1;
		}
		p = comma ? comma + 1 : NULL;
	} while (p != NULL);
	return 0;
}

/* ================================================================ storage */

static void *field(struct config *c, const struct config_key *k)
{
	return (char *)c + k->offset;
}

static const void *cfield(const struct config *c, const struct config_key *k)
{
	return (const char *)c + k->offset;
}

static int64_t load_num(const struct config *c, const struct config_key *k)
{
	const void *f = cfield(c, k);
	switch (k->width) {
	case 1: return k->type == CFG_BOOL ? (int64_t)*(const bool *)f : (int64_t)*(const int8_t *)f;
	case 2: return *(const int16_t *)f;
	case 4: return *(const int32_t *)f;
	default: return *(const int64_t *)f;
	}
}

/* v has been checked against k's bounds, which fit k's width. */
static void store_num(struct config *c, const struct config_key *k, int64_t v)
{
	void *f = field(c, k);
	switch (k->width) {
	case 1:
		if (k->type == CFG_BOOL)
			*(bool *)f = v != 0;
		else
			*(int8_t *)f = (int8_t)v;
		break;
	case 2: *(int16_t *)f = (int16_t)v; break;
	case 4: *(int32_t *)f = (int32_t)v; break;
	default: *(int64_t *)f = v; break;
	}
}

static int store_str(struct config *c, const struct config_key *k, const char *v,
		     char *err, size_t errlen)
{
	char *dup = NULL;
	if (v != NULL && (dup = strdup(v)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", k->name);
		return -1;
	}
	char **f = field(c, k);
	free(*f);
	*f = dup;
	return 0;
}

static size_t key_index(const struct config_key *k) { return (size_t)(k - config_keys); }

/* String-valued keys hold a heap-owned char * (width is the pointer's). */
static bool key_is_str(const struct config_key *k)
{
	return k->type == CFG_STRING || k->type == CFG_LIST || k->type == CFG_CLASS;
}

/* True when a key above k in its synonym chain was explicitly set. */
static bool key_overridden(const struct config *c, const struct config_key *k)
{
	for (const char *s = k->overridden_by; s != NULL;) {
		const struct config_key *hk = config_key_find(s);
		if (hk == NULL)
			return false;
		if (c->explicitly_set[key_index(hk)])
			return true;
		s = hk->overridden_by;
	}
	return false;
}

/* Validates val for k and computes what to store: a number in *num (a
 * double in *dbl) or a normalised string in str. Returns 0 or -1 (err). */
static int key_parse(const struct config_key *k, const char *val, int64_t *num, double *dbl,
		     char *str, size_t cap, char *err, size_t errlen)
{
	bool b;
	switch (k->type) {
	case CFG_BOOL:
		if (!parse_bool(val, &b)) {
			snprintf(err, errlen, "%s: not a boolean (true|false): '%s'", k->name, val);
			return -1;
		}
		*num = b;
		return 0;
	case CFG_DOUBLE:
		return check_double(k->name, val, k->min, k->max, dbl, err, errlen);
	case CFG_INT: case CFG_LONG: case CFG_SHORT:
		if (check_int(k->name, val, k->min, k->max, num, err, errlen) != 0)
			return -1;
		if (k->scale > 1)
			*num = *num < 0 ? -1 : *num * k->scale; /* bounds keep this in range */
		return 0;
	default:
		if (k->allowed != NULL)
			return check_enum(k->name, k->allowed, k->type == CFG_LIST, val, str, cap, err, errlen);
		trim_into(val, strlen(val), str, cap);
		if (strlen(val) >= cap) {
			snprintf(err, errlen, "%s: value too long", k->name);
			return -1;
		}
		if (str[0] == '\0' && k->def != NULL) {
			snprintf(err, errlen, "%s: must not be empty", k->name);
			return -1;
		}
		if (k->offset == offsetof(struct config, listeners) ||
		    (k->offset == offsetof(struct config, advertised_listeners) && str[0] != '\0'))
			return check_listeners(k->name, str, err, errlen);
		return 0;
	}
}

/* Parses and stores val (NULL: the null default). Does not mark. */
static int key_apply(struct config *c, const struct config_key *k, const char *val,
		     char *err, size_t errlen)
{
	char str[1024];
	int64_t num = 0;
	double dbl = 0;
	bool is_str = key_is_str(k);
	if (val == NULL) {
		if (is_str)
			return store_str(c, k, NULL, err, errlen);
		store_num(c, k, -1); /* numeric null: -1 = unset */
		return 0;
	}
	if (key_parse(k, val, &num, &dbl, str, sizeof str, err, errlen) != 0)
		return -1;
	if (k->type == CFG_DOUBLE) {
		memcpy(field(c, k), &dbl, sizeof dbl);
		return 0;
	}
	if (is_str) /* an empty value for a null-default string means null */
		return store_str(c, k, str[0] == '\0' && k->def == NULL ? NULL : str, err, errlen);
	store_num(c, k, num);
	return 0;
}

/* ================================================================ exported */

/* Fills c with defaults. Heap strings owned by c. One thread. */
void config_defaults(struct config *c)
{
	char err[256];
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		if (k->overridden_by != NULL)
			continue; /* a synonym's default is its primary key's */
		if (key_apply(c, k, k->def, err, sizeof err) != 0)
			log_error("config", "built-in default: %s", err); /* our bug */
	}
}

void config_fini(struct config *c)
{
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];
		if (key_is_str(k)) {
			char **f = field(c, k);
			free(*f);
			*f = NULL;
		}
	}
}

const struct config_key *config_key_find(const char *key)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (strcmp(config_keys[i].name, key) == 0)
			return &config_keys[i];
	return NULL;
}

/* Validates and stores one key, marking it explicitly set. Returns 0,
 * 1 for an unknown key, -1 (err) for a bad value (field unchanged). */
int config_set(struct config *c, const char *key, const char *val, char *err, size_t errlen)
{
	const struct config_key *k = config_key_find(key);
	if (k == NULL) {
		snprintf(err, errlen, "%s: unknown configuration key", key);
		return 1;
	}
	if (val == NULL)
		val = "";
	if (key_overridden(c, k)) {
		/* A higher synonym wins; still reject a malformed value. */
		char str[1024];
		int64_t num;
		double dbl;
		if (key_parse(k, val, &num, &dbl, str, sizeof str, err, errlen) != 0)
			return -1;
	} else if (key_apply(c, k, val, err, errlen) != 0) {
		return -1;
	}
	c->explicitly_set[key_index(k)] = 1;
	return 0;
}

bool config_value_is_null(const struct config *c, const struct config_key *k)
{
	if (key_is_str(k))
		return *(char *const *)cfield(c, k) == NULL;
	if (k->def != NULL || k->overridden_by != NULL || c->explicitly_set[key_index(k)])
		return false;
	return load_num(c, k) == -1;
}

/* Writes k's current value as text ("" when null). Synonyms report the
 * shared field in their own unit (log.retention.hours = ms / 3600000). */
void config_value_text(const struct config *c, const struct config_key *k, char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	out[0] = '\0';
	if (config_value_is_null(c, k))
		return;
	if (key_is_str(k)) {
		snprintf(out, outlen, "%s", *(char *const *)cfield(c, k));
		return;
	}
	if (k->type == CFG_DOUBLE) {
		double d;
		memcpy(&d, cfield(c, k), sizeof d);
		double_text(d, out, outlen);
		return;
	}
	int64_t v = load_num(c, k);
	if (k->type == CFG_BOOL)
		snprintf(out, outlen, "%s", v ? "true" : "false");
	else if (k->scale > 1 && v >= 0)
		snprintf(out, outlen, "%lld", (long long)(v / k->scale));
	else
		snprintf(out, outlen, "%lld", (long long)v);
}

enum config_source config_source_of(const struct config *c, const struct config_key *k)
{
	return c->explicitly_set[key_index(k)] ? CFG_SRC_STATIC_BROKER : CFG_SRC_DEFAULT;
}

/* ========================================================= properties file */

/* Splits one logical line into key and value. Returns false for a comment
 * or blank line. */
static bool prop_split(char *line, char **key, char **val)
{
	char *p = line;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#' || *p == '!')
		return false;
	*key = p;
	while (*p != '\0' && *p != '=' && *p != ':' && !isspace((unsigned char)*p))
		p++;
	char *kend = p;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '=' || *p == ':')
		p++;
	*kend = '\0';
	while (isspace((unsigned char)*p))
		p++;
	char *e = p + strlen(p);
	while (e > p && isspace((unsigned char)e[-1]))
		e--;
	*e = '\0';
	*val = p;
	return true;
}

/* True when line (without its newline) ends in an odd number of '\'. */
static bool prop_continues(const char *line, size_t len)
{
	size_t n = 0;
	while (n < len && line[len - 1 - n] == '\\')
		n++;
	return n % 2 == 1;
}

/* Reads the next logical line (continuations joined) into *buf. Returns
 * its length, or -1 at end of file; *lineno advances per physical line. */
static ssize_t prop_read(FILE *f, char **buf, size_t *cap, int *lineno)
{
	char *part = NULL;
	size_t pcap = 0;
	size_t len = 0;
	ssize_t n;
	bool first = true;
	while ((n = getline(&part, &pcap, f)) >= 0) {
		(*lineno)++;
		while (n > 0 && (part[n - 1] == '\n' || part[n - 1] == '\r'))
			part[--n] = '\0';
		const char *s = part;
		if (!first) /* a continuation's leading whitespace is dropped */
			while (isspace((unsigned char)*s))
				s++;
		size_t sl = strlen(s);
		bool more = prop_continues(s, sl);
		if (more)
			sl--;
		if (len + sl + 1 > *cap) {
			size_t ncap = (len + sl + 1) * 2;
			char *nb = realloc(*buf, ncap);
			if (nb == NULL)
				break;
			*buf = nb;
			*cap = ncap;
		}
		memcpy(*buf + len, s, sl);
		len += sl;
		(*buf)[len] = '\0';
		first = false;
		if (!more)
			break;
	}
	free(part);
	return first ? -1 : (ssize_t)len;
}

/* Loads path into c. A bad value stops with "path:line: message"; an
 * unknown key is a warning. Startup thread. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	int rc = 0;
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0;
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		int at = lineno + 1;
		if (prop_read(f, &line, &cap, &lineno) < 0)
			break;
		char *key, *val;
		if (!prop_split(line, &key, &val))
			continue;
		char msg[512];
		int r = config_set(c, key, val, msg, sizeof msg);
		if (r == 1) {
			log_warn("config", "%s:%d: unknown key '%s' ignored", path, at, key);
		} else if (r != 0) {
			snprintf(err, errlen, "%s:%d: %s", path, at, msg);
			rc = -1;
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		rc = -1;
	}
out:
	free(line);
	fclose(f);
	return rc;
}

/* ============================================================== topic keys */

const struct topic_config_key topic_config_keys[] = {
	{ "cleanup.policy", "log.cleanup.policy", CFG_LIST, 0, 0, v_cleanup, "delete" },
	{ "compression.gzip.level", "compression.gzip.level", CFG_INT, -1, 9, NULL, "-1" },
	{ "compression.lz4.level", "compression.lz4.level", CFG_INT, 1, 17, NULL, "9" },
	{ "compression.type", "compression.type", CFG_STRING, 0, 0, v_compression, "producer" },
	{ "compression.zstd.level", "compression.zstd.level", CFG_INT, -131072, 22, NULL, "3" },
	{ "delete.retention.ms", "log.cleaner.delete.retention.ms", CFG_LONG, 0, INT64_MAX, NULL, "86400000" },
	{ "file.delete.delay.ms", "log.segment.delete.delay.ms", CFG_LONG, 0, INT64_MAX, NULL, "60000" },
	{ "flush.messages", "log.flush.interval.messages", CFG_LONG, 1, INT64_MAX, NULL, TMAX },
	{ "flush.ms", "log.flush.interval.ms", CFG_LONG, 0, INT64_MAX, NULL, TMAX },
	{ "index.interval.bytes", "log.index.interval.bytes", CFG_INT, 0, INT32_MAX, NULL, "4096" },
	{ "max.compaction.lag.ms", "log.cleaner.max.compaction.lag.ms", CFG_LONG, 1, INT64_MAX, NULL, TMAX },
	{ "max.message.bytes", "message.max.bytes", CFG_INT, 0, INT32_MAX, NULL, "1048588" },
	{ "message.timestamp.after.max.ms", "log.message.timestamp.after.max.ms", CFG_LONG, 0, INT64_MAX, NULL, TMAX },
	{ "message.timestamp.before.max.ms", "log.message.timestamp.before.max.ms", CFG_LONG, 0, INT64_MAX, NULL, TMAX },
	{ "message.timestamp.type", "log.message.timestamp.type", CFG_STRING, 0, 0, v_ts_type, "CreateTime" },
	{ "min.cleanable.dirty.ratio", "log.cleaner.min.cleanable.ratio", CFG_DOUBLE, 0, 1, NULL, "0.5" },
	{ "min.compaction.lag.ms", "log.cleaner.min.compaction.lag.ms", CFG_LONG, 0, INT64_MAX, NULL, "0" },
	{ "min.insync.replicas", "min.insync.replicas", CFG_INT, 1, INT32_MAX, NULL, "1" },
	{ "preallocate", "log.preallocate", CFG_BOOL, 0, 0, NULL, "false" },
	{ "retention.bytes", "log.retention.bytes", CFG_LONG, INT64_MIN, INT64_MAX, NULL, "-1" },
	{ "retention.ms", "log.retention.ms", CFG_LONG, -1, INT64_MAX, NULL, "604800000" },
	{ "segment.bytes", "log.segment.bytes", CFG_INT, 14, INT32_MAX, NULL, "1073741824" },
	{ "segment.index.bytes", "log.index.size.max.bytes", CFG_INT, 4, INT32_MAX, NULL, "10485760" },
	{ "segment.ms", "log.roll.ms", CFG_LONG, 1, INT64_MAX, NULL, "604800000" },
	{ "unclean.leader.election.enable", "unclean.leader.election.enable", CFG_BOOL, 0, 0, NULL, "false" },
};

const size_t topic_config_nkeys = sizeof topic_config_keys / sizeof topic_config_keys[0];

const struct topic_config_key *topic_config_key_find(const char *name)
{
	for (size_t i = 0; i < topic_config_nkeys; i++)
		if (strcmp(topic_config_keys[i].name, name) == 0)
			return &topic_config_keys[i];
	return NULL;
}

/* ====================================================== Kafka's messages */

static const char *type_name(enum config_type t)
{
	switch (t) {
	case CFG_BOOL: return "BOOLEAN";
	case CFG_INT: return "INT";
	case CFG_SHORT: return "SHORT";
	case CFG_LONG: return "LONG";
	case CFG_DOUBLE: return "DOUBLE";
	case CFG_LIST: return "LIST";
	case CFG_CLASS: return "CLASS";
	default: return "STRING";
	}
}

/* Kafka's ConfigException text. Returns -1. */
static int invalid(const char *key, const char *val, const char *why, char *err, size_t errlen)
{
	snprintf(err, errlen, "Invalid value %s for configuration %s: %s", val, key, why);
	return -1;
}

/* A number of the given type within [min, max]; gzip's level also refuses
 * 0 (Kafka: 1..9, or -1 for the codec's default). */
static int kafka_num(const char *key, enum config_type type, int64_t min, int64_t max,
		     const char *val, char *err, size_t errlen)
{
	char why[96];
	int64_t v = 0;
	double d = 0;
	bool ok = type == CFG_DOUBLE ? parse_double(val, &d) : parse_i64(val, &v);
	if (ok && type == CFG_INT)
		ok = v >= INT32_MIN && v <= INT32_MAX;
	if (ok && type == CFG_SHORT)
		ok = v >= INT16_MIN && v <= INT16_MAX;
	if (!ok) {
		snprintf(why, sizeof why, "Not a number of type %s", type_name(type));
		return invalid(key, val, why, err, errlen);
	}
	if (type != CFG_DOUBLE)
		d = (double)v;
	if (strcmp(key, "compression.gzip.level") == 0 && v == 0)
		return invalid(key, val, "Value must be between 1 and 9, or -1 for the default", err, errlen);
	if (type == CFG_DOUBLE ? d < (double)min : v < min) {
		snprintf(why, sizeof why, "Value must be at least %lld", (long long)min);
		return invalid(key, val, why, err, errlen);
	}
	if (type == CFG_DOUBLE ? (max != INT64_MAX && d > (double)max) : v > max) {
		snprintf(why, sizeof why, "Value must be no more than %lld", (long long)max);
		return invalid(key, val, why, err, errlen);
	}
	return 0;
}

/* An enum value or, for a list, items from allowed: not empty, no repeats. */
static int kafka_enum(const char *key, const char *const *allowed, bool list, const char *val,
		      char *err, size_t errlen)
{
	char norm[256], why[256], choices[160];
	if (check_enum(key, allowed, list, val, norm, sizeof norm, why, sizeof why) == 0)
		return 0;
	if (list && norm[0] == '\0' && strspn(val, " \t,") == strlen(val))
		return invalid(key, val, "Empty list is not allowed", err, errlen);
	if (strstr(why, " twice") != NULL)
		return invalid(key, val, "Values must not repeat", err, errlen);
	allowed_text(allowed, choices, sizeof choices);
	snprintf(why, sizeof why, "%s must be one of: %s", list ? "Every item" : "String", choices);
	return invalid(key, val, why, err, errlen);
}

/* Validates val for a key of this shape in Kafka's words. */
static int kafka_check(const char *key, enum config_type type, int64_t min, int64_t max,
		       const char *const *allowed, const char *val, char *err, size_t errlen)
{
	bool b;
	if (val == NULL)
		return invalid(key, "null", "Null is not allowed", err, errlen);
	switch (type) {
	case CFG_BOOL:
		return parse_bool(val, &b) ? 0 : invalid(key, val, "Expected value to be either true or false",
							 err, errlen);
	case CFG_INT: case CFG_LONG: case CFG_SHORT: case CFG_DOUBLE:
		return kafka_num(key, type, min, max, val, err, errlen);
	default:
		if (allowed != NULL)
			return kafka_enum(key, allowed, type == CFG_LIST, val, err, errlen);
		return 0;
	}
}

int config_value_check(const struct config_key *k, const char *val, char *err, size_t errlen)
{
	char str[1024], why[256];
	int64_t num;
	double dbl;
	if (kafka_check(k->name, k->type, k->min, k->max, k->allowed, val, err, errlen) != 0)
		return -1;
	/* the remaining rules (listener syntax, lengths) in the startup wording */
	if (key_parse(k, val, &num, &dbl, str, sizeof str, why, sizeof why) != 0)
		return invalid(k->name, val, why, err, errlen);
	return 0;
}

int topic_config_validate(const char *key, const char *val, char *err, size_t errlen)
{
	const struct topic_config_key *t = topic_config_key_find(key);
	if (t == NULL) {
		snprintf(err, errlen, "Unknown topic config name: %s", key);
		return -1;
	}
	return kafka_check(key, t->type, t->min, t->max, t->allowed, val, err, errlen);
}

/* The effective default of a topic key as text: the broker synonym's
 * current value when it is stored in c and not null, else Kafka's default
 * (flush.ms with log.flush.interval.ms unset is 9223372036854775807). */
void topic_config_default(const struct config *c, const char *key, char *out, size_t outlen)
{
	const struct topic_config_key *t = topic_config_key_find(key);
	if (outlen == 0)
		return;
	out[0] = '\0';
	if (t == NULL)
		return;
	const struct config_key *k = t->broker_synonym ? config_key_find(t->broker_synonym) : NULL;
	if (c != NULL && k != NULL && !config_value_is_null(c, k)) {
		config_value_text(c, k, out, outlen);
		return;
	}
	snprintf(out, outlen, "%s", t->def ? t->def : "");
}
