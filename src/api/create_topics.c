/*
 * create_topics.c — CreateTopics (key 19).
 *
 * Per topic, in the order Kafka's controller checks (ReplicationControl-
 * Manager.createTopics), the first failure wins:
 *   1. the name appears more than once in the request -> INVALID_REQUEST
 *      "Duplicate topic name." (one result for that name)
 *   2. the name is not a legal topic name             -> INVALID_TOPIC_EXCEPTION
 *   3. the topic exists                               -> TOPIC_ALREADY_EXISTS
 *   4. a config value is null                         -> INVALID_CONFIG
 *   5. a config key or value is invalid               -> INVALID_CONFIG
 *   6. placement: manual Assignments, or NumPartitions / ReplicationFactor
 *      (-1 = the broker's num.partitions / default.replication.factor)
 * then meta_topic_create, which appends the TOPIC record durably (it
 * re-checks everything, so a concurrent creator still gets a clean error).
 *
 * Manual assignments are accepted when they are what Kafka would accept on
 * a cluster of one broker: partitions 0..n-1 each listed once, each on the
 * replica list [our node id], with NumPartitions and ReplicationFactor -1.
 * Any other list names a broker that is not registered, which Kafka refuses
 * with INVALID_REPLICA_ASSIGNMENT, and so do we, with Kafka's messages.
 *
 * -1 for NumPartitions/ReplicationFactor is documented as v4+ (KIP-464);
 * Kafka's KRaft controller accepts it from every version, and so do we.
 * A replication factor above 1 cannot be met by one broker:
 * INVALID_REPLICATION_FACTOR with Kafka's "Unable to replicate" message.
 *
 * Creation is synchronous (one fdatasync of the metadata log), so TimeoutMs
 * is honoured trivially. ValidateOnly runs every check and creates nothing.
 *
 * Response: v5+ also returns the effective topic configs (override, else
 * the broker's value; ConfigSource as DescribeConfigs reports it) and the
 * partition count and replication factor; on error those are -1 and the
 * configs empty. v7 adds the TopicId (zero for validate-only and errors).
 *
 * Threads: the connection's loop thread; meta_topic_create blocks it for
 * one metadata-log flush (admin requests are rare).
 */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/config.h"
#include "util/err.h"
#include "util/log.h"

typedef struct create_topics_request_creatable_topic topic_req;
typedef struct create_topics_request_creatable_replica_assignment assign_req;
typedef struct create_topics_response_creatable_topic_result topic_resp;
typedef struct create_topics_response_creatable_topic_configs config_resp;

#define MSG_LEN 512

/* What one topic will be created as, once the checks pass. */
struct plan {
	int32_t partitions;      /* resolved: never -1 */
	int32_t rf;              /* resolved: never -1 */
	struct kv *configs;      /* arena; last value wins for a repeated key */
	size_t nconfigs;
};

/* ------------------------------------------------------------ name checks */

static bool kstr_eq(kstr a, kstr b)
{
	return a.len == b.len && (a.len <= 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

/* True when topic i's name occurs earlier in the request. */
static bool seen_before(const struct create_topics_request *rq, int32_t i)
{
	for (int32_t j = 0; j < i; j++)
		if (kstr_eq(rq->topics.items[j].name, rq->topics.items[i].name))
			return true;
	return false;
}

static bool seen_after(const struct create_topics_request *rq, int32_t i)
{
	for (int32_t j = i + 1; j < rq->topics.count; j++)
		if (kstr_eq(rq->topics.items[j].name, rq->topics.items[i].name))
			return true;
	return false;
}

static int check_name(const char *name, char *msg)
{
	size_t len = strlen(name);
	if (meta_topic_name_valid(name, len, msg, MSG_LEN) != 0)
		return KAFKA_INVALID_TOPIC_EXCEPTION;
	struct topic *t = meta_topic_find(g_broker->meta, name, len);
	if (!t)
		return KAFKA_NONE;
	topic_unref(t);
	snprintf(msg, MSG_LEN, "Topic '%s' already exists.", name);
	return KAFKA_TOPIC_ALREADY_EXISTS;
}

/* ---------------------------------------------------------------- configs */

/* Copies the requested configs into p (arena), a repeated key keeping its
 * last value as Kafka's map does, and validates them. */
static int collect_configs(struct req *req, const topic_req *tq, struct plan *p, char *msg)
{
	int32_t n = tq->configs.count > 0 ? tq->configs.count : 0;
	size_t nulls = 0, off = 0;
	p->configs = arena_alloc(&req->arena, (size_t)(n ? n : 1) * sizeof(struct kv));
	if (!p->configs)
		return LOCAL_ERR_NOMEM;
	msg[0] = '\0';
	for (int32_t i = 0; i < n; i++) {
		const struct create_topics_request_creatable_topic_config *c = &tq->configs.items[i];
		if (c->value.len >= 0)
			continue;
		/* Kafka: "Null value not supported for topic configs: a,b" */
		off += (size_t)snprintf(msg + off, off < MSG_LEN ? MSG_LEN - off : 0, "%s%.*s",
					nulls++ ? "," : "Null value not supported for topic configs: ",
					c->name.len > 0 ? (int)c->name.len : 0, c->name.ptr);
		if (off >= MSG_LEN)
			off = MSG_LEN - 1;
	}
	if (nulls)
		return KAFKA_INVALID_CONFIG;
	for (int32_t i = 0; i < n; i++) {
		char *key = api_strdup(req, tq->configs.items[i].name);
		char *val = api_strdup(req, tq->configs.items[i].value);
		if (!key || !val)
			return LOCAL_ERR_NOMEM;
		if (topic_config_validate(key, val, msg, MSG_LEN) != 0)
			return KAFKA_INVALID_CONFIG;
		size_t k = 0;
		while (k < p->nconfigs && strcmp(p->configs[k].key, key) != 0)
			k++;
		p->configs[k].key = key;
		p->configs[k].value = val;
		if (k == p->nconfigs)
			p->nconfigs++;
	}
	return KAFKA_NONE;
}

/* -------------------------------------------------------------- placement */

/* Kafka's validateManualPartitionAssignment for a cluster whose only
 * registered broker is us: the list must be exactly [node id]. */
static int check_replicas(const int32_t *ids, int32_t n, char *msg)
{
	int32_t self = g_broker->cfg.node_id;
	if (n <= 0) {
		snprintf(msg, MSG_LEN, "The manual partition assignment includes an empty replica list.");
		return KAFKA_INVALID_REPLICA_ASSIGNMENT;
	}
	for (int32_t i = 0; i < n; i++) {
		if (ids[i] != self) {
			snprintf(msg, MSG_LEN, "The manual partition assignment includes broker %d, "
				 "but no such broker is registered.", ids[i]);
			return KAFKA_INVALID_REPLICA_ASSIGNMENT;
		}
	}
	if (n > 1) {
		snprintf(msg, MSG_LEN, "The manual partition assignment includes the broker %d "
			 "more than once.", self);
		return KAFKA_INVALID_REPLICA_ASSIGNMENT;
	}
	return KAFKA_NONE;
}

static int check_assignments(struct req *req, const topic_req *tq, struct plan *p, char *msg)
{
	int32_t n = tq->assignments.count;
	if (tq->replication_factor != -1) {
		snprintf(msg, MSG_LEN, "A manual partition assignment was specified, but replication "
			 "factor was not set to -1.");
		return KAFKA_INVALID_REQUEST;
	}
	if (tq->num_partitions != -1) {
		snprintf(msg, MSG_LEN, "A manual partition assignment was specified, but numPartitions "
			 "was not set to -1.");
		return KAFKA_INVALID_REQUEST;
	}
	bool *seen = arena_alloc(&req->arena, (size_t)n);
	if (!seen)
		return LOCAL_ERR_NOMEM;
	for (int32_t i = 0; i < n; i++) {
		const assign_req *a = &tq->assignments.items[i];
		int32_t idx = a->partition_index;
		if (idx >= 0 && idx < n && seen[idx]) {
			snprintf(msg, MSG_LEN, "Found multiple manual partition assignments for partition %d", idx);
			return KAFKA_INVALID_REPLICA_ASSIGNMENT;
		}
		int err = check_replicas(a->broker_ids.items, a->broker_ids.count, msg);
		if (err != KAFKA_NONE)
			return err;
		if (idx < 0 || idx >= n) { /* a gap follows, as n entries cannot cover 0..n-1 */
			snprintf(msg, MSG_LEN, "partitions should be a consecutive 0-based integer sequence");
			return KAFKA_INVALID_REPLICA_ASSIGNMENT;
		}
		seen[idx] = true;
	}
	p->partitions = n;
	p->rf = 1;
	return KAFKA_NONE;
}

static int check_placement(struct req *req, const topic_req *tq, struct plan *p, char *msg)
{
	if (tq->assignments.count > 0)
		return check_assignments(req, tq, p, msg);
	if (tq->replication_factor < -1 || tq->replication_factor == 0) {
		snprintf(msg, MSG_LEN, "Replication factor must be larger than 0, or -1 to use the default value.");
		return KAFKA_INVALID_REPLICATION_FACTOR;
	}
	if (tq->num_partitions < -1 || tq->num_partitions == 0) {
		snprintf(msg, MSG_LEN, "Number of partitions was set to an invalid non-positive value.");
		return KAFKA_INVALID_PARTITIONS;
	}
	p->partitions = tq->num_partitions == -1 ? g_broker->cfg.num_partitions : tq->num_partitions;
	p->rf = tq->replication_factor == -1 ? g_broker->cfg.default_replication_factor : tq->replication_factor;
	if (p->rf > 1) {
		snprintf(msg, MSG_LEN, "Unable to replicate the partition %d time(s): The target "
			 "replication factor of %d cannot be reached because only 1 broker(s) are registered.",
			 p->rf, p->rf);
		return KAFKA_INVALID_REPLICATION_FACTOR;
	}
	return KAFKA_NONE;
}

/* ---------------------------------------------------------------- results */

/* The effective configs of a topic being created with p's overrides. */
static void fill_configs(struct req *req, topic_resp *tr, const struct plan *p)
{
	tr->configs.items = proto_new_array(&proto_create_topics_response_creatable_topic_configs.body ?
		NULL : NULL, 0, 0, NULL); /* placeholder, replaced below */
}
