/*
 * api_int.h — helpers shared by the handlers in src/api/ (private to the
 * api layer).
 */
#ifndef RUNNEL_API_INT_H
#define RUNNEL_API_INT_H
#include <stddef.h>
#include <stdint.h>
#include "api/api.h"

/* Decodes req's body as msg at the request's version into an arena struct.
 * On malformed input logs, finishes the request with REQ_CLOSE and returns
 * NULL (the handler must then return at once). */
void *api_decode(struct req *req, const struct proto_msg *msg);

/* Encodes with an explicit body version and header version (ApiVersions'
 * v0 fallback and its always-v0 header). */
void api_respond_version(struct req *req, const struct proto_msg *msg, int16_t version,
			 int hdr_version, const void *body);

/* The served API table, for ApiVersions. */
size_t api_supported_count(void);
void api_supported_at(size_t i, int16_t *key, int16_t *min, int16_t *max);

/* Arena copies: a NUL-terminated copy of a wire string (NULL for null), and
 * a kstr copy of a C string (null kstr for NULL). */
char *api_strdup(struct req *req, kstr s);
kstr api_kstr(struct req *req, const char *s);

/* Arena copies for answers built from coordinator state (freed or changed
 * after the call): a C string as a wire string (s NULL: null when nullable,
 * else ""), and bytes (NULL or empty: empty, never null). They set *oom
 * when a copy fails and the caller answers an error. */
kstr api_kstr_copy(struct req *req, const char *s, bool nullable, bool *oom);
kbytes api_kbytes_copy(struct req *req, const uint8_t *p, int32_t len, bool *oom);

/* Maps a core error (Kafka code or LOCAL_ERR_*) to a Kafka code for the wire. */
int api_storage_err(int err);

/* The advertised endpoint of this broker for the listener the request came
 * in on (first advertised listener for now). */
const struct listener_addr *api_advertised(struct req *req);

/* ---- admin helpers (create_topics.c, describe_configs.c) ---- */

enum { API_DUP_NONE = 0, API_DUP_FIRST = 1, API_DUP_LATER = 2 };
/* Marks repeated keys among n (topic names, or ids as 16-byte kstrs) in
 * O(n log n): an arena array of n API_DUP_* flags, NULL when out of
 * memory. Null keys are never duplicates. (create_topics.c) */
uint8_t *api_dup_flags(struct req *req, const kstr *keys, int32_t n);

struct topic_config_key;
/* DescribeConfigs' ConfigSource of a topic-level key: 1 TOPIC_CONFIG when
 * the topic overrides it, else 4 STATIC_BROKER_CONFIG when its broker
 * synonym (or an alias such as log.retention.hours) was set in the broker
 * configuration, else 5 DEFAULT_CONFIG. (describe_configs.c) */
int8_t api_topic_config_source(const struct topic_config_key *tk, bool overridden);
/* Kafka's validateManualPartitionAssignment for a cluster whose only broker
 * is us: a partition's replica list must be exactly [node.id]. Writes the
 * reason (at most API_MSG_LEN bytes) into msg. Returns NONE or
 * INVALID_REPLICA_ASSIGNMENT. (create_topics.c) */
#define API_MSG_LEN 512
int api_check_replicas(const int32_t *ids, int32_t n, char *msg);
#endif
