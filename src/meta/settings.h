/*
 * settings.h — effective configuration values (private to src/meta).
 *
 * Holds the dynamic broker configs (this node's and the cluster-wide
 * defaults, as replayed from the metadata log) next to the static broker
 * config, and resolves a key's value and its synonyms in Kafka's
 * precedence order:
 *
 *   topic override (DYNAMIC_TOPIC_CONFIG)
 *   > dynamic broker config of this node (DYNAMIC_BROKER_CONFIG)
 *   > dynamic cluster-wide default (DYNAMIC_DEFAULT_BROKER_CONFIG)
 *   > static broker config: file or --override (STATIC_BROKER_CONFIG)
 *   > Kafka's default (DEFAULT_CONFIG)
 *
 * Only a primary broker key (log.retention.ms, not log.retention.hours)
 * can be set dynamically, so a dynamic value is always in the unit of the
 * topic key it stands for.
 *
 * Threads: readers from any thread (a rwlock around the two sets);
 * settings_replace is called by meta.c with its mutation mutex held.
 */
#ifndef RUNNEL_META_SETTINGS_H
#define RUNNEL_META_SETTINGS_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "meta/meta.h"

struct config;
struct config_key;
struct topic_config_key;

struct settings {
	const struct config *cfg;   /* borrowed: the static broker config */
	pthread_rwlock_t lock;      /* guards the two sets */
	struct kv *node;            /* owned: this node's dynamic broker configs */
	size_t nnode;
	struct kv *dflt;            /* owned: the cluster-wide dynamic defaults */
	size_t ndflt;
};

/* Returns 0, or -1 (lock init failed). */
int settings_init(struct settings *s, const struct config *cfg);
void settings_fini(struct settings *s);

/* Replaces one set with v (takes ownership of v and its strings; values
 * non-NULL). meta's mutation mutex held. */
void settings_replace(struct settings *s, bool cluster_default, struct kv *v, size_t n);
/* A copy of one set into *out (NULL when empty; free each key and value,
 * then the array). Returns 0, or -1 when out of memory. */
int settings_copy(struct settings *s, bool cluster_default, struct kv **out, size_t *n);

/* The effective value of topic key `key` given the topic's overrides ov
 * (ov may be NULL): written to out; returns the source (enum
 * config_source). Unknown key: "" and CFG_SRC_UNKNOWN. */
int settings_topic_value(struct settings *s, const struct kv *ov, size_t nov, const char *key,
			 char *out, size_t outlen);
/* Synonyms of a topic key (override first), in Kafka's precedence order.
 * Returns how many were written (at most max). */
size_t settings_topic_synonyms(struct settings *s, const struct kv *ov, size_t nov,
			       const struct topic_config_key *tk, struct cfg_syn *out, size_t max);
/* Synonyms of a broker key: dynamic node, dynamic default, the static
 * entries of k and its lower aliases, then one default. */
size_t settings_broker_synonyms(struct settings *s, const struct config_key *k,
				struct cfg_syn *out, size_t max);
/* Parses the effective settings of a topic with overrides ov. */
void settings_topic_cfg(struct settings *s, const struct kv *ov, size_t nov, struct topic_cfg *out);
#endif
