/*
 * metalog.h — the durable metadata record log and its snapshots (private to
 * src/meta; the format is documented at the top of metalog.c).
 *
 * The metalog knows records, files and fsync; it knows nothing about topics.
 * meta.c turns mutations into records, appends them here, and applies the
 * records this module replays at open.
 *
 * Threads: a metalog is used by one thread at a time — meta.c calls it only
 * at open and with its mutation mutex held.
 */
#ifndef RUNNEL_META_METALOG_H
#define RUNNEL_META_METALOG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv;
struct wbuf;

enum mrec_type {
	MREC_CLUSTER = 1,       /* cluster id, formatting node id */
	MREC_TOPIC = 2,         /* topic id, name, partition count, configs */
	MREC_PARTITIONS = 3,    /* topic id, new partition count */
	MREC_TOPIC_CONFIG = 4,  /* topic id, key, value (NULL: remove override) */
	MREC_REMOVE_TOPIC = 5,  /* topic id */
	MREC_SNAPSHOT_END = 6,  /* snapshot files only: seq covered, record count */
	MREC_TOPIC_CONFIGS = 7, /* topic id, the whole new override set */
	MREC_BROKER_CONFIGS = 8,/* scope (node id, -1 cluster default), the whole new set */
	MREC_PRODUCER_IDS = 9,  /* node id, end of the highest producer-id block handed out */
};

/* One metadata record. Decoded records own their strings (mrec_fini frees
 * them); records built for encoding only borrow theirs. */
struct mrec {
	uint8_t type;           /* enum mrec_type */
	uint8_t version;        /* layout version of this type; all are 0 today */
	uint8_t id[16];         /* topic id: TOPIC, PARTITIONS, TOPIC_CONFIG(S), REMOVE_TOPIC */
	char *name;             /* TOPIC: topic name */
	int32_t count;          /* TOPIC, PARTITIONS: partition count */
	struct kv *configs;     /* TOPIC, TOPIC_CONFIGS: topic-level overrides;
				 * BROKER_CONFIGS: dynamic broker configs (values non-NULL) */
	size_t nconfigs;
	char *key;              /* TOPIC_CONFIG */
	char *value;            /* TOPIC_CONFIG; NULL removes the override */
	char *cluster_id;       /* CLUSTER */
	int32_t node_id;        /* CLUSTER: the node that formatted the log;
				 * BROKER_CONFIGS: the scope, -1 = cluster default */
	uint64_t seq;           /* SNAPSHOT_END: records [0, seq) are covered */
	uint32_t nrecords;      /* SNAPSHOT_END: records before it in the file */
	int64_t next_pid;       /* PRODUCER_IDS: first producer id not yet handed out in any
				 * block (node_id: the broker the last block went to) */
};

#define MREC_STR_MAX 65534u  /* longest string a record can carry */

/* Frees the strings and config array of a decoded record. */
void mrec_fini(struct mrec *r);

/* Appends the framed record r to w. Returns 0, or -1 when a string is
 * longer than MREC_STR_MAX or memory ran out (w->oom). Any thread. */
int metalog_encode(struct wbuf *w, const struct mrec *r);

/* Called once per replayed record, in order; r and its strings are only
 * borrowed for the call. Return 0, or -1 with a message in err to abort
 * the open. */
typedef int (*metalog_apply_fn)(void *arg, const struct mrec *r, char *err, size_t errlen);

struct metalog;

/* Opens (creating when absent) the metadata directory dir and replays it
 * into apply: the newest valid snapshot's records, then the log's records
 * after it. A torn or corrupt tail is cut off (WARN). Returns 0 with *out
 * set, or -1 with a message in err (unreadable files, a record whose
 * checksum is right but whose type or layout is unknown, a gap between the
 * snapshot and the log, an apply failure). Caller closes with metalog_close. */
int metalog_open(const char *dir, metalog_apply_fn apply, void *arg, struct metalog **out,
		 char *err, size_t errlen);
void metalog_close(struct metalog *ml);

/* Appends one record and makes it durable (write, then fdatasync) before
 * returning. Returns KAFKA_NONE, or KAFKA_KAFKA_STORAGE_ERROR (logged):
 * the record is then not part of the log. After an fdatasync failure the
 * log refuses every later append until it is reopened (sticky, as sqlite's
 * pager: the page cache may have dropped what it failed to write). */
int metalog_append(struct metalog *ml, const struct mrec *r);

/* Bytes in metadata.log (header included). */
int64_t metalog_size(const struct metalog *ml);
/* Sequence number the next appended record gets. */
uint64_t metalog_next_seq(const struct metalog *ml);

/* Writes a snapshot covering every record so far: recs holds nrecs framed
 * records (metalog_encode) that rebuild the whole image. Then starts a new
 * empty metadata.log after it and removes older snapshots. Returns 0, or -1
 * (logged) when something failed; the log stays consistent either way and
 * a later call simply tries again. */
int metalog_snapshot(struct metalog *ml, const uint8_t *recs, size_t len, uint32_t nrecs);
#endif
