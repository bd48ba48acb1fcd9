/*
 * group — `rnl group list|describe|delete|seek`: what the group files share.
 *
 *   group.c           group_main: usage, verb dispatch, delete; the admin
 *                     plumbing every verb uses: the handle, waiting for a
 *                     result, error lines, DescribeConsumerGroups look-ups
 *   group_offsets.c   committed offsets (OffsetFetch) and partition lists
 *   group_out.c       text tables and JSON values
 *   group_list.c      list (group_list)
 *   group_describe.c  describe: members, offsets and lag (group_describe)
 *   group_seek_args.c seek's command line, --to-datetime parsing
 *   group_seek.c      seek: new offsets computed and committed (group_seek)
 *
 * Which API each verb uses (all through librdkafka's admin API, on one
 * consumer-type handle that joins nothing):
 *
 *   list      ListConsumerGroups (ListGroups, every broker), with the state
 *             filter when --state is given. A broker older than ListGroups
 *             v4 sends no state and ignores the filter: those groups are
 *             described (DescribeGroups) to learn it, and the filter is
 *             applied here as well.
 *   describe  DescribeConsumerGroups (FindCoordinator + DescribeGroups; the
 *             consumer-protocol assignment arrives decoded), committed
 *             offsets from ListConsumerGroupOffsets (OffsetFetch), log-end
 *             offsets from ListOffsets (rd_kafka_query_watermark_offsets).
 *   delete    DeleteGroups.
 *   seek      DescribeConsumerGroups (the state check), OffsetFetch (the
 *             OLD column and --all-topics), ListOffsets (watermarks),
 *             OffsetsForTimes (--to-datetime), AlterConsumerGroupOffsets
 *             (OffsetCommit as an admin: generation -1, no member id).
 *
 * Text output is tables with columns two spaces apart ("-" for an empty
 * or unknown value); --json prints one object on one line with the same
 * facts (null for "-", numbers as numbers). Errors are one line each on
 * stderr, `rnl: VERB group "G": KAFKA_ERROR_NAME (description)`.
 *
 * Everything runs on the main thread. Names and topics in the results are
 * borrowed from librdkafka's result events unless a function says else.
 */
#ifndef RNL_GROUP_H
#define RNL_GROUP_H

#include "client.h"

/* ---- group.c: usage, errors, admin requests ---- */

/* The usage text of `rnl group` (static storage). */
const char *group_usage_text(void);

/* A Kafka error's description without librdkafka's "Broker: " prefix;
 * for a local error, msg (more precise) when there is one. */
const char *group_err_text(rd_kafka_resp_err_t err, const char *msg);

/* Prints `rnl: WHAT group "GROUP": NAME (description)`, or with group NULL
 * `rnl: WHAT groups: ...`; a timeout as "no answer from the broker". */
void group_report(client_t *cl, const char *what, const char *group, rd_kafka_resp_err_t err,
		  const char *msg);

/* Waits on q for an admin call's result event, serving the handle's
 * callbacks meanwhile. Returns the event (caller destroys it) or NULL
 * after printing the error of the whole request (group_report). */
rd_kafka_event_t *group_wait(client_t *cl, rd_kafka_queue_t *q, const char *what,
			     const char *group);

/* Opens the consumer-type handle every verb uses into cl; under --mock
 * refuses instead (the mock cluster has no group APIs), naming `verb`.
 * Returns RNL_EXIT_OK or the exit code to return after printing the error.
 * Close cl with client_close() either way. */
int group_open(client_t *cl, rnl_ctx_t *ctx, const char *verb);

/* group_open() for the verbs that take group names after their options
 * (argv[optind..argc), as left by rnl_getopt): a usage error if there are
 * none; repeats are removed in place (librdkafka rejects duplicates),
 * keeping the first of each, and *cnt is set to the count left. */
int group_open_names(client_t *cl, rnl_ctx_t *ctx, int argc, char **argv, const char *verb,
		     int *cnt);

/* librdkafka's name of state, "Unknown" for one it has no name for. */
const char *group_state_name(rd_kafka_consumer_group_state_t state);

/* DescribeConsumerGroups for names[0..cnt). Returns the result event (the
 * descriptions live as long as it; caller destroys it) or NULL after
 * printing the error. */
rd_kafka_event_t *group_descs_fetch(client_t *cl, const char **names, size_t cnt,
				    const char *what);

/* The description of group `name` in a DescribeConsumerGroups result, or
 * NULL (after printing) if it is missing or carries an error. */
const rd_kafka_ConsumerGroupDescription_t *group_desc_find(client_t *cl, rd_kafka_event_t *ev,
							   const char *name, const char *what);

/* ---- group_offsets.c: committed offsets and partition lists ---- */

/* The group's committed offsets for every partition in md (see
 * group_offsets.c). Returns a list the caller destroys: offset >= 0
 * committed, negative none; or NULL after printing the error. */
rd_kafka_topic_partition_list_t *group_committed_fetch(client_t *cl, const char *group,
						       const rd_kafka_metadata_t *md,
						       const char *what);

/* The committed offset of (topic, partition) in l, or -1 if none. */
int64_t group_committed_of(const rd_kafka_topic_partition_list_t *l, const char *topic,
			   int32_t partition);

/* Adds (topic, partition) to l unless it is there already. */
void group_tp_add(rd_kafka_topic_partition_list_t *l, const char *topic, int32_t partition);

/* Adds every partition of the topic named in md (nothing if it is not). */
void group_tp_add_topic(rd_kafka_topic_partition_list_t *l, const rd_kafka_metadata_t *md,
			const char *topic);

/* ---- group_out.c: tables and JSON on stdout ---- */

typedef struct group_table {
	size_t cols;
	size_t rows;
	size_t cap;             /* rows allocated in cell */
	char **cell;            /* rows x cols strings, row-major; owned */
	bool oom;               /* an allocation failed; group_table_print reports it */
} group_table_t;

/* Appends a row of t->cols strings (const char *); NULL or "" shows "-".
 * The strings are copied. */
void group_table_add(group_table_t *t, ...);

/* Prints the table on stdout, left-aligned, columns two spaces apart, the
 * last column unpadded. Returns false after printing "out of memory". */
bool group_table_print(const group_table_t *t);

/* Frees the cells; t is empty (cols 0) afterwards. */
void group_table_free(group_table_t *t);

/* Writes v in decimal, or "-" when v < 0 (unknown / none), into buf.
 * Returns buf. */
const char *group_fmt_i64(int64_t v, char *buf, size_t size);

/* Prints "key":v, or "key":null when v < 0, then sep. */
void group_json_i64(const char *key, int64_t v, const char *sep);

/* ---- seek's command line (group_seek_args.c) ---- */

typedef enum group_seek_to {
	GROUP_SEEK_NONE,
	GROUP_SEEK_EARLIEST,
	GROUP_SEEK_LATEST,
	GROUP_SEEK_OFFSET,
	GROUP_SEEK_DATETIME,
} group_seek_to_t;

typedef struct group_seek_args {
	const char *group;      /* borrowed from argv */
	rd_kafka_topic_partition_list_t *topics; /* --topic: partition -1 = all; owned */
	bool all_topics;
	group_seek_to_t to;
	int64_t value;          /* --to-offset N, or --to-datetime in ms since the epoch */
	bool dry_run;
	bool json;
} group_seek_args_t;

/* Parses seek's arguments into a. Returns RNL_EXIT_OK, -1 after --help,
 * or RNL_EXIT_USAGE. a->topics is allocated in every case (caller
 * destroys). */
int group_seek_parse(rnl_ctx_t *ctx, int argc, char **argv, group_seek_args_t *a);

/* ---- verbs (argv[0] is the verb; return an RNL_EXIT_* code) ---- */
int group_list(rnl_ctx_t *ctx, int argc, char **argv);
int group_describe(rnl_ctx_t *ctx, int argc, char **argv);
int group_seek(rnl_ctx_t *ctx, int argc, char **argv);

#endif
