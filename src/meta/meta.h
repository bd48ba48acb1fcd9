/*
 * meta.h — cluster metadata: topics, partitions, topic configs, cluster id.
 *
 * The metadata is a log (DESIGN.md "Metadata is a log"): every change is a
 * metadata record appended durably (fdatasync) to the metadata log
 * <log.dirs>/__cluster_metadata-0/ and only then applied to the in-memory
 * image. Start-up loads the latest snapshot, then replays the records after
 * it. When the log grows past metadata.log.max.snapshot.interval.bytes a
 * snapshot of the whole image is written (tmp, fsync, rename) and the log
 * restarts after it. Clustering will replicate this same log with Raft.
 *
 * Record types (each versioned, own binary layout documented in metalog.c):
 *   TOPIC           name, topic id (UUID v4), partition count, initial configs
 *   PARTITIONS      topic id, new partition count (CreatePartitions)
 *   TOPIC_CONFIG    topic id, key, value (NULL value = delete override)
 *   REMOVE_TOPIC    topic id
 *   CLUSTER         cluster id (first start)
 *   TOPIC_CONFIGS   topic id, the topic's whole new override set (an alter)
 *   BROKER_CONFIGS  scope (node id, or -1 = cluster default), the scope's
 *                   whole new set of dynamic broker configs
 *   PRODUCER_IDS    node id, end of the highest producer-id block reserved
 *
 * Threads: lookups are safe from any thread (a rwlock around the image;
 * returned topics are reference-counted so a concurrent delete cannot free
 * them). Mutations are serialized by a mutex and block the caller for one
 * fdatasync of the metadata log (admin requests are rare).
 *
 * A struct topic from a lookup is an immutable version: CreatePartitions
 * and config changes publish a new version (same name and id, the same
 * plogs) instead of editing the one readers hold, so npartitions, parts and
 * configs may be read without locks and stay consistent for the whole
 * request. A deleted topic's plogs stay valid until its last reference is
 * dropped; only then are its partition directories deleted (src/meta/image.c).
 *
 * Implementation: meta.c (open, validation, mutations), image.c (versions,
 * maps), metalog.c (the record format, replay, snapshots), uuid.c.
 */
#ifndef RUNNEL_META_META_H
#define RUNNEL_META_META_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/plog.h"

struct config;
struct logdir;

/* The effective settings of one topic version, parsed once when the
 * version is made: for each key the topic override, else the dynamic broker
 * config (this node), else the dynamic cluster-wide default, else the
 * static broker config (file, --override), else Kafka's default. A change of
 * any of those publishes new versions, so readers never parse strings on
 * the hot path and a request sees one consistent set. */
struct topic_cfg {
	struct plog_config log;      /* everything the partition log uses */
	int32_t max_message_bytes;   /* max.message.bytes */
	int8_t compression;          /* compression.type: -1 producer, else enum
				      * batch_codec (0 = uncompressed) */
	int32_t compression_level;   /* compression.<codec>.level of that codec;
				      * INT32_MIN: the codec's default */
	int64_t ts_before_max_ms;    /* message.timestamp.before.max.ms (INT64_MAX: none) */
	int64_t ts_after_max_ms;     /* message.timestamp.after.max.ms (INT64_MAX: none) */
};

struct kv { char *key; char *value; };  /* value NULL = null */

/* One place a config value comes from (DescribeConfigs' synonyms). */
#define CFG_VALUE_MAX 1024
struct cfg_syn {
	const char *name;           /* borrowed from the static config tables */
	char value[CFG_VALUE_MAX];  /* "" when null */
	bool null;                  /* null value (or sensitive) */
	int8_t source;              /* enum config_source (util/config.h) */
};

struct partition {
	struct topic *topic;     /* borrowed: the topic owns its partitions */
	int32_t index;
	int32_t leader_epoch;    /* 0 on a single node */
	struct plog *log;        /* shared by the topic's versions; closed (or, after a
				  * delete, deleted) when the newest one is freed */
};

struct topic {
	char *name;              /* owned */
	uint8_t id[16];          /* topic id (UUID) */
	int32_t npartitions;
	struct partition **parts;/* owned array of owned partitions */
	struct kv *configs;      /* owned topic-level overrides */
	size_t nconfigs;
	struct topic_cfg cfg;    /* effective settings of this version (above) */
	bool internal;           /* name starts with "__" */
	atomic_int refs;         /* image holds one (on the newest version); lookups add
				  * one each; a replaced version holds one on its successor */
};

struct meta;

/* Opens the metadata log in <logdir_path(ld)>/__cluster_metadata-0/,
 * replays it, creates the cluster id on the first start (cfg->cluster_id or
 * a random one; also written to <log dir>/meta.properties), opens every
 * partition's log through ld. Returns NULL with a message in err. cfg and ld
 * are borrowed for the meta's lifetime. Call once, before the loops start. */
struct meta *meta_open(const struct config *cfg, struct logdir *ld, char *err, size_t errlen);
/* Closes partitions (not their files) and the metadata log. Every topic
 * reference must have been released (loops stopped), and ld must still be
 * open: close meta before the logdir. */
void meta_close(struct meta *m);

const char *meta_cluster_id(const struct meta *m);

/* Lookups: a referenced topic or NULL (an all-zero id finds nothing).
 * Release with topic_unref (NULL is a no-op). Any thread; O(1). */
struct topic *meta_topic_find(struct meta *m, const char *name, size_t len);
struct topic *meta_topic_find_id(struct meta *m, const uint8_t id[16]);
void topic_ref(struct topic *t);
void topic_unref(struct topic *t);
/* All topics, referenced, sorted by name. Caller frees with meta_topics_free. */
struct topic **meta_topics_list(struct meta *m, size_t *n);
void meta_topics_free(struct topic **v, size_t n);

/* Topic name rules (Kafka's): 1..249 chars of [a-zA-Z0-9._-], not "." or "..".
 * Returns 0 or -1 with the reason in err. */
int meta_topic_name_valid(const char *name, size_t len, char *err, size_t errlen);

/* Creates a topic. partitions -1 / rf -1 mean the broker defaults. rf other
 * than 1 fails with KAFKA_INVALID_REPLICATION_FACTOR until clustering.
 * configs are validated (topic_config_validate). validate_only: check only.
 * Returns a Kafka code (NONE, TOPIC_ALREADY_EXISTS, INVALID_TOPIC_EXCEPTION,
 * INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_CONFIG,
 * KAFKA_STORAGE_ERROR) with a message in err; *out (if non-NULL) gets a
 * referenced topic on success (NULL when validate_only). A name equal to an
 * existing one after mapping '.' to '_' is INVALID_TOPIC_EXCEPTION ("collides
 * with existing topic"). When a deleted topic of the same name is still
 * referenced, waits up to 5 s for it to go, else TOPIC_ALREADY_EXISTS
 * ("marked for deletion"). Any thread; blocks for one fdatasync. */
int meta_topic_create(struct meta *m, const char *name, int32_t partitions, int32_t rf,
		      const struct kv *configs, size_t nconfigs, bool validate_only,
		      struct topic **out, char *err, size_t errlen);
/* Deletes a topic (t may be any version of it) and, once the last
 * reference is dropped, its partitions' data. Returns NONE,
 * UNKNOWN_TOPIC_OR_PARTITION, TOPIC_DELETION_DISABLED, INVALID_TOPIC_EXCEPTION
 * (internal topics), KAFKA_STORAGE_ERROR. */
int meta_topic_delete(struct meta *m, struct topic *t);
/* Raises the partition count to total. Returns NONE, INVALID_PARTITIONS
 * (total <= current or > 1e6), UNKNOWN_TOPIC_OR_PARTITION, KAFKA_STORAGE_ERROR. */
int meta_partitions_create(struct meta *m, struct topic *t, int32_t total, bool validate_only,
			   char *err, size_t errlen);
/* Sets (value non-NULL) or removes a topic config override (a new topic
 * version; t may be any version of the topic). Returns NONE (also when
 * nothing changes), INVALID_CONFIG (unknown key or bad value, message in
 * err), UNKNOWN_TOPIC_OR_PARTITION, KAFKA_STORAGE_ERROR. The new settings
 * reach the open partition logs at once (plog_set_config). Writes one
 * TOPIC_CONFIG record; meta_topic_configs_alter is the general form. */
int meta_topic_config_set(struct meta *m, struct topic *t, const char *key, const char *value,
			  char *err, size_t errlen);
/* Config changes (AlterConfigs, IncrementalAlterConfigs). op is Kafka's
 * IncrementalAlterConfigs OpType. APPEND/SUBTRACT apply to list keys only
 * (cleanup.policy); SET with a NULL value is refused. */
enum cfg_op { CFG_OP_SET = 0, CFG_OP_DELETE = 1, CFG_OP_APPEND = 2, CFG_OP_SUBTRACT = 3 };
struct cfg_change { const char *key; const char *value; int op; };

/* Applies changes to a topic's overrides as one unit: all are validated
 * first (INVALID_CONFIG naming the key and the reason; nothing applied),
 * then written to the metadata log and published as one new version whose
 * settings reach the partition logs at once (plog_set_config). replace_all
 * (AlterConfigs): every override not SET by ch is removed. validate_only:
 * check only. Returns NONE, INVALID_CONFIG, INVALID_REQUEST (bad op, a key
 * twice), UNKNOWN_TOPIC_OR_PARTITION, KAFKA_STORAGE_ERROR. Any thread;
 * blocks for one fdatasync. */
int meta_topic_configs_alter(struct meta *m, struct topic *t, const struct cfg_change *ch, size_t n,
			     bool replace_all, bool validate_only, char *err, size_t errlen);
/* The same for dynamic broker configs: of this node (cluster_default false,
 * resource name = our node id) or the cluster-wide default (resource name
 * ""). Only keys Kafka lets change at run time are accepted (the broker
 * synonyms of topic keys and the log cleaner's); others get INVALID_CONFIG
 * "Cannot update these configs dynamically". Every topic without its own
 * override follows at once. */
int meta_broker_configs_alter(struct meta *m, bool cluster_default, const struct cfg_change *ch,
			      size_t n, bool replace_all, bool validate_only, char *err, size_t errlen);
/* The log cleaner's settings as they are now: each log.cleaner.* key's
 * dynamic value (this node, then the cluster default) over the static
 * config. For main.c at start-up, after meta_open, so that dynamic cleaner
 * configs set earlier apply (the cleaner reads them only when it starts).
 * Any thread. */
void meta_cleaner_config(struct meta *m, struct cleaner_config *out);
/* A copy of the dynamic broker overrides (caller frees with meta_kv_free). */
struct kv *meta_broker_configs(struct meta *m, bool cluster_default, size_t *n);
void meta_kv_free(struct kv *v, size_t n);

/* The effective value of a topic config key (override, dynamic broker
 * config, static broker config or default), written to out; *is_default
 * set when no override exists. Any thread (the dynamic broker configs are
 * read under their own lock). */
void meta_topic_config_get(struct meta *m, const struct topic *t, const char *key,
			   char *out, size_t outlen, bool *is_default);
/* Where the value of key comes from, in Kafka's precedence order (the
 * first entry is the effective value): for topic t (a topic key), its
 * override, then its broker synonym's dynamic node, dynamic default,
 * static and default entries; for t NULL (a broker key of this node), the
 * same without the override. Returns the number written (at most max; 0
 * for an unknown key or a broker key that is null and never set). Any
 * thread. */
size_t meta_config_synonyms(struct meta *m, const struct topic *t, const char *key,
			    struct cfg_syn *out, size_t max);

/* A fresh producer id (InitProducerId), never handed out before by this
 * cluster, not even before a crash (src/meta/pids.c: blocks of 1000 ids,
 * each reserved by one durable PRODUCER_IDS record before use). Returns
 * KAFKA_NONE with *pid set, or COORDINATOR_LOAD_IN_PROGRESS when a new
 * block could not be made durable (retriable, as Kafka answers while its
 * controller cannot hand out a block), or UNKNOWN_SERVER_ERROR when the id
 * space is exhausted. Any thread; blocks for one fdatasync once per block. */
int meta_producer_id_next(struct meta *m, int64_t *pid);
#endif
