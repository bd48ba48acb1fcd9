/*
 * config.h — broker configuration with Kafka's key names and defaults.
 *
 * Sources, later wins: built-in default < properties file < --override
 * key=value (as kafka-server-start.sh takes them). Every key is described
 * once in the table in config.c (name, type, default, doc, field offset);
 * parsing, validation, DescribeConfigs and `runnel --help` all read that
 * table. Unknown keys in a file are reported at start-up (warning) and kept
 * out of the struct.
 *
 * Topic-level keys (retention.ms, segment.bytes, ...) have a broker-level
 * synonym (log.retention.ms, log.segment.bytes, ...); topic_config_keys[]
 * lists them with that synonym, for CreateTopics validation and
 * DescribeConfigs on a topic.
 */
#ifndef RUNNEL_UTIL_CONFIG_H
#define RUNNEL_UTIL_CONFIG_H
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

struct config {
	/* listeners */
	char *listeners;            /* "PLAINTEXT://localhost:9092" */
	char *advertised_listeners; /* NULL: same as listeners */
	int32_t node_id;            /* node.id / broker.id, default 1 */
	char *cluster_id;           /* generated at first start if NULL; stored in meta.properties */
	/* storage */
	char *log_dirs;             /* "./data" (log.dirs, first dir only for now) */
	int64_t log_segment_bytes;  /* 1 GiB */
	int64_t log_roll_ms;        /* 7 days */
	int32_t log_index_interval_bytes;  /* 4096 */
	int32_t log_index_size_max_bytes;  /* 10 MiB */
	int64_t log_flush_interval_messages; /* INT64_MAX: no count-based flush */
	int64_t log_flush_interval_ms;       /* -1: unset (acks=all still flushes) */
	int64_t log_flush_scheduler_interval_ms; /* how often the flusher checks time-based flush */
	int64_t log_retention_ms;    /* 7 days; enforced by the log-lifecycle issue */
	int64_t log_retention_bytes; /* -1 */
	int64_t log_retention_check_interval_ms;
	char *log_cleanup_policy;    /* "delete" */
	char *log_message_timestamp_type; /* "CreateTime" | "LogAppendTime" */
	char *compression_type;      /* "producer" */
	int32_t compression_gzip_level; /* -1: zlib's default */
	int32_t compression_lz4_level;  /* 9 */
	int32_t compression_zstd_level; /* 3 */
	int32_t message_max_bytes;   /* 1048588 */
	int64_t log_message_timestamp_before_max_ms; /* INT64_MAX: no limit */
	int64_t log_message_timestamp_after_max_ms;  /* INT64_MAX: no limit */
	int64_t log_segment_delete_delay_ms; /* 60000: a deleted segment's files linger this long */
	bool log_preallocate;        /* false (accepted, not used) */
	int32_t min_insync_replicas; /* 1 (one node: always met) */
	bool unclean_leader_election_enable; /* false (one node: no election) */
	/* log cleaner (compaction); main.c fills struct cleaner_config from these */
	bool log_cleaner_enable;             /* true */
	int32_t log_cleaner_threads;         /* 1 */
	int64_t log_cleaner_dedupe_buffer_size; /* 128 MiB offset map, all threads */
	int32_t log_cleaner_io_buffer_size;  /* 512 KiB */
	double log_cleaner_io_max_bytes_per_second; /* DBL_MAX: no throttle */
	int64_t log_cleaner_backoff_ms;      /* 15000 */
	double log_cleaner_min_cleanable_ratio; /* 0.5 */
	int64_t log_cleaner_delete_retention_ms;  /* 86400000: tombstones kept a day */
	int64_t log_cleaner_min_compaction_lag_ms; /* 0 */
	int64_t log_cleaner_max_compaction_lag_ms; /* INT64_MAX */
	/* topics */
	int32_t num_partitions;           /* 1 */
	int16_t default_replication_factor; /* 1 */
	bool auto_create_topics_enable;   /* true */
	bool delete_topic_enable;         /* true */
	/* network */
	int32_t num_network_threads;      /* event loops; 0 = one per core */
	int32_t socket_request_max_bytes; /* 104857600 */
	int64_t connections_max_idle_ms;  /* 600000 */
	int32_t socket_send_buffer_bytes; /* -1: OS default */
	int32_t socket_receive_buffer_bytes;
	int32_t fetch_max_bytes;          /* 57671680 */
	/* metadata log */
	int64_t metadata_log_max_snapshot_interval_bytes; /* snapshot when the metadata log grows past this */
	/* groups (used by the consumer-group issue) */
	int32_t offsets_topic_num_partitions; /* 50 */
	int32_t group_initial_rebalance_delay_ms; /* 3000 */
	int32_t group_min_session_timeout_ms;     /* 6000 */
	int32_t group_max_session_timeout_ms;     /* 1800000 */
	int32_t group_max_size;                   /* INT32_MAX */
	int32_t offsets_retention_minutes;        /* 10080 (7 days) */
	int64_t offsets_retention_check_interval_ms; /* 600000 */
	int32_t offsets_topic_segment_bytes;      /* 104857600 */
	int32_t offset_metadata_max_bytes;        /* 4096 */
	/* producer ids and transactions (issue 4) */
	int32_t producer_id_expiration_ms;        /* 86400000: producer state kept a day after its last write */
	int32_t producer_id_expiration_check_interval_ms; /* 600000 */
	int32_t transactional_id_expiration_ms;   /* 604800000 */
	int32_t transaction_max_timeout_ms;       /* 900000 */
	int32_t transaction_state_log_num_partitions; /* 50 */
	int32_t transaction_state_log_segment_bytes;  /* 104857600 */
	int32_t transaction_abort_timed_out_transaction_cleanup_interval_ms; /* 10000 */
	int32_t transaction_remove_expired_transaction_cleanup_interval_ms;  /* 3600000 */
	/* logging */
	char *log_level;                  /* runnel's own: "info" */
	/* bookkeeping: explicitly_set[i] != 0 when config_keys[i] came from a file or override */
	unsigned char explicitly_set[128];
};

/* Kafka's ConfigType names (DescribeConfigs reports them); CFG_DOUBLE was
 * added at the end for min.cleanable.dirty.ratio. The stored width of a
 * numeric field is config_key.width, not implied by the type. */
enum config_type { CFG_STRING, CFG_INT, CFG_LONG, CFG_SHORT, CFG_BOOL, CFG_LIST, CFG_CLASS, CFG_DOUBLE };

/* Where a value came from, numbered as DescribeConfigs' ConfigSource. */
enum config_source {
	CFG_SRC_UNKNOWN = 0,
	CFG_SRC_DYNAMIC_TOPIC = 1,
	CFG_SRC_DYNAMIC_BROKER = 2,
	CFG_SRC_DYNAMIC_DEFAULT_BROKER = 3,
	CFG_SRC_STATIC_BROKER = 4,
	CFG_SRC_DEFAULT = 5,
};

struct config_key {
	const char *name;        /* Kafka's key, "log.segment.bytes" */
	enum config_type type;
	const char *def;         /* default as text, NULL = null */
	size_t offset;           /* in struct config; SIZE_MAX = accepted, not stored */
	int64_t min, max;        /* numeric bounds (inclusive) */
	bool read_only;          /* as DescribeConfigs reports it: false exactly for
				  * the keys that can be changed at run time (dynamic
				  * broker configs, AlterConfigs on a BROKER) */
	bool sensitive;
	const char *doc;         /* one line, for --help */
	/* added by the config module (compatible additions) */
	unsigned char width;     /* sizeof the field at offset; strings (STRING, LIST,
				  * CLASS) are a heap-owned char * */
	const char *const *allowed; /* NULL-terminated enum values (each list item for CFG_LIST), or NULL */
	const char *overridden_by;  /* synonym that wins when explicitly set ("log.retention.ms"
				     * for log.retention.minutes); NULL for primary keys */
	int64_t scale;           /* stored value = given value * scale (hours -> ms); 0 = 1 */
};

extern const struct config_key config_keys[];
extern const size_t config_nkeys;

/* Fills c with defaults. Strings are heap-owned by c; config_fini frees. */
void config_defaults(struct config *c);
void config_fini(struct config *c);
/* Sets one key from text. Returns 0, or -1 with a message in err
 * ("log.segment.bytes: not an integer: 'abc'"). Unknown key: returns 1. */
int config_set(struct config *c, const char *key, const char *val, char *err, size_t errlen);
/* Reads a properties file (# and ! comments, key=value or key: value,
 * trimmed). Unknown keys are logged as warnings. Returns 0 or -1 (err). */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);
/* Finds the table entry for key, or NULL. */
const struct config_key *config_key_find(const char *key);
/* Formats the current value of k in c as text (for DescribeConfigs). */
void config_value_text(const struct config *c, const struct config_key *k, char *out, size_t outlen);
/* True when k's current value is null (a NULL string, or a number whose
 * default is null and that was never set, such as log.flush.interval.ms);
 * config_value_text then writes "". */
bool config_value_is_null(const struct config *c, const struct config_key *k);
/* STATIC_BROKER_CONFIG when k was set in the file or an --override, else
 * DEFAULT_CONFIG. */
enum config_source config_source_of(const struct config *c, const struct config_key *k);
/* Validates a value for broker key k as a dynamic config would be (no
 * store). Returns 0, or -1 with Kafka's message in err: "Invalid value abc
 * for configuration log.retention.ms: Not a number of type LONG". */
int config_value_check(const struct config_key *k, const char *val, char *err, size_t errlen);

/* ---- topic-level keys ---- */
struct topic_config_key {
	const char *name;          /* "retention.ms" */
	const char *broker_synonym;/* "log.retention.ms", or NULL */
	enum config_type type;
	int64_t min, max;          /* numeric bounds */
	const char *const *allowed;/* NULL-terminated list for enums, or NULL */
	const char *def;           /* Kafka's default as text, used when the broker
				    * synonym is not in struct config or is null */
};
extern const struct topic_config_key topic_config_keys[];
extern const size_t topic_config_nkeys;
const struct topic_config_key *topic_config_key_find(const char *name);
/* Validates a topic-level value. Returns 0, or -1 with Kafka's message in
 * err ("Invalid value abc for configuration retention.ms: Not a number of
 * type LONG"; "Unknown topic config name: x"). */
int topic_config_validate(const char *key, const char *val, char *err, size_t errlen);
/* The effective default of a topic key: its broker synonym's value in c, or a
 * built-in default when there is no synonym. Writes text into out. */
void topic_config_default(const struct config *c, const char *key, char *out, size_t outlen);

#endif
