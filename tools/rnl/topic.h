/*
 * topic — what topic.c shares with describe.c (the rest of `rnl topic`).
 */
#ifndef RNL_TOPIC_H
#define RNL_TOPIC_H

#include "client.h"

/* The usage text of `rnl topic` (static storage). */
const char *topic_usage_text(void);

/* Opens the admin (producer-type) client the topic verbs use. Returns
 * RNL_EXIT_OK, or the exit code to return after printing the error. */
int topic_open_admin(client_t *cl, rnl_ctx_t *ctx);

/* describe.c: prints the "topic ...: N partitions" line and the partition
 * table (leaders, replicas, ISR, watermarks) of t. */
void describe_partitions(client_t *cl, const rd_kafka_metadata_topic_t *t);

/* ---- topic_config*.c: configs of one resource (DescribeConfigs, AlterConfigs) ---- */

/* One DescribeConfigs answer. The entries are borrowed from ev and live
 * until topic_config_desc_free(). */
typedef struct topic_config_desc {
	rd_kafka_event_t *ev;                /* owned; NULL if nothing was fetched */
	const rd_kafka_ConfigEntry_t **es;   /* borrowed from ev, in the broker's order */
	size_t cnt;
} topic_config_desc_t;

/* Describes one resource (TOPIC or BROKER) into d. Returns false after
 * printing "rnl: describe configs: <broker's message>"; d is then empty. */
bool topic_config_fetch(client_t *cl, rd_kafka_ResourceType_t type, const char *name,
			topic_config_desc_t *d);
void topic_config_desc_free(topic_config_desc_t *d);

/* The entry named key in d, or NULL. */
const rd_kafka_ConfigEntry_t *topic_config_find(const topic_config_desc_t *d, const char *key);

/* True if e is set on the resource of type `type` itself: for a TOPIC
 * DYNAMIC_TOPIC_CONFIG, for a BROKER DYNAMIC_BROKER_CONFIG, or from a
 * DescribeConfigs v0 broker, which sends no source: not default. */
bool topic_config_is_own(const rd_kafka_ConfigEntry_t *e, rd_kafka_ResourceType_t type);

/* What e would fall back to without the resource's own setting: the first
 * synonym from another source, or NULL if the broker sent no such synonym. */
const rd_kafka_ConfigEntry_t *topic_config_fallback(const rd_kafka_ConfigEntry_t *e,
						    rd_kafka_ResourceType_t type);

/* e's value as printed in tables: "(sensitive)" for a hidden value,
 * "(null)" for none, `""` for the empty string. */
const char *topic_config_value_text(const rd_kafka_ConfigEntry_t *e);

/* Kafka's source name without librdkafka's quirks ("DYNAMIC_TOPIC_CONFIG"). */
const char *topic_config_source_name(const rd_kafka_ConfigEntry_t *e);

/* Prints the entries of d, sorted by name: all, or only the resource's own
 * settings (topic_config_is_own); as a table (with synonym rows) or as a
 * JSON array. Returns false after printing an error (out of memory). */
bool topic_config_print(const topic_config_desc_t *d, rd_kafka_ResourceType_t type, bool all,
			bool synonyms, bool json);

/* topic_config_out.c: the config entries es (sorted by name by the
 * caller) as a table CONFIG VALUE SOURCE FLAGS, each followed by its
 * synonyms (indented) if `synonyms`; or as a JSON array. */
void topic_config_print_table(const rd_kafka_ConfigEntry_t **es, size_t cnt, bool synonyms);
void topic_config_print_json(const rd_kafka_ConfigEntry_t **es, size_t cnt, bool synonyms);
/* The partitions of t as a JSON array (watermarks queried per partition;
 * null where unknown). */
void topic_config_print_partitions_json(client_t *cl, const rd_kafka_metadata_topic_t *t);

/* A small text table: rows of `cols` borrowed strings, the first column
 * indented by `indent` spaces; printed at once since each column is as wide
 * as its widest cell; an empty last cell leaves no trailing blanks. */
typedef struct topic_config_table {
	size_t cols;
	size_t rows, cap;
	const char **cell;   /* rows x cols, borrowed */
	int *indent;         /* per row */
	bool oom;
} topic_config_table_t;
void topic_config_table_add(topic_config_table_t *t, int indent, const char *const *cells);
bool topic_config_table_print(const topic_config_table_t *t);
void topic_config_table_free(topic_config_table_t *t);

/* The resource a config command works on. */
typedef struct topic_config_target {
	rd_kafka_ResourceType_t type;   /* TOPIC or BROKER */
	const char *name;               /* topic name or broker id; borrowed */
	char label[300];                /* `topic "orders"`, `broker 1`, for messages */
} topic_config_target_t;

/* topic_config_alter.c: alter-config's options and its read-modify-write.
 * _parse reads --set/--delete/--dry-run from argv into *out (allocated even
 * on failure; free with _free) and leaves the positional arguments from
 * argv[*name_at] on to the caller. Returns RNL_EXIT_OK, -1 after --help
 * (not printed: the caller prints its usage), or RNL_EXIT_USAGE after
 * printing the error with usage_of ("topic " / "broker ").
 * _run alters target (which the caller has checked exists) and prints the
 * outcome. Returns an RNL_EXIT_* code. */
typedef struct topic_config_alter_args topic_config_alter_args_t;
int topic_config_alter_parse(rnl_ctx_t *ctx, int argc, char **argv, const char *usage_of,
			     topic_config_alter_args_t **out, int *name_at);
int topic_config_alter_run(client_t *cl, const topic_config_alter_args_t *a,
			   const topic_config_target_t *target);
int topic_config_alter_count(const topic_config_alter_args_t *a); /* --set + --delete */
void topic_config_alter_args_free(topic_config_alter_args_t *a);

/* Verbs: `topic describe` (the --configs/--synonyms/--json forms; plain
 * describe goes on to describe.c), `topic alter-config`, and the noun
 * `broker` (describe, alter-config; broker.c). */
int topic_config_describe(rnl_ctx_t *ctx, int argc, char **argv);
int topic_config_alter(rnl_ctx_t *ctx, int argc, char **argv);
int broker_main(rnl_ctx_t *ctx, int argc, char **argv);

/* topic_trim.c: `topic trim` (DeleteRecords). */
int topic_trim(rnl_ctx_t *ctx, int argc, char **argv);

/* topic_producers.c: `topic describe NAME --producers [--json]`
 * (DescribeProducers over wire.c). _wanted: argv (up to "--") holds
 * --producers, so topic_config_describe hands the command over. */
bool topic_producers_wanted(int argc, char **argv);
int topic_producers(rnl_ctx_t *ctx, int argc, char **argv);

#endif
