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
#include <stdlib.h>
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

struct keyed { kstr key; int32_t idx; };

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int32_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
	int c = n > 0 ? memcmp(x->key.ptr, y->key.ptr, (size_t)n) : 0;
	if (c == 0)
		c = (x->key.len > y->key.len) - (x->key.len < y->key.len);
	if (c == 0)
		c = (x->idx > y->idx) - (x->idx < y->idx);
	return c;
}

/* Marks repeated keys in O(n log n) (requests may name many topics):
 * flags[i] = API_DUP_NONE, API_DUP_FIRST (first of a repeated key) or
 * API_DUP_LATER. Null keys (len < 0) are never duplicates. Returns an arena
 * array of n flags, or NULL when out of memory. */
uint8_t *api_dup_flags(struct req *req, const kstr *keys, int32_t n)
{
	uint8_t *flags = arena_alloc(&req->arena, (size_t)(n ? n : 1));
	struct keyed *v = arena_alloc(&req->arena, (size_t)(n ? n : 1) * sizeof(*v));
	if (!flags || !v)
		return NULL;
	for (int32_t i = 0; i < n; i++) {
		v[i].key = keys[i];
		v[i].idx = i;
	}
	qsort(v, (size_t)n, sizeof(*v), keyed_cmp);
	for (int32_t i = 1; i < n; i++) {
		if (v[i].key.len < 0 || v[i].key.len != v[i - 1].key.len ||
		    (v[i].key.len > 0 && memcmp(v[i].key.ptr, v[i - 1].key.ptr, (size_t)v[i].key.len) != 0))
			continue;
		if (flags[v[i - 1].idx] == API_DUP_NONE)
			flags[v[i - 1].idx] = API_DUP_FIRST;
		flags[v[i].idx] = API_DUP_LATER;
	}
	return flags;
}

/* Legal name (checked on the wire bytes, so an embedded NUL cannot hide a
 * suffix) and not taken. */
static int check_name(kstr name, char *msg)
{
	if (meta_topic_name_valid(name.ptr, (size_t)name.len, msg, MSG_LEN) != 0)
		return KAFKA_INVALID_TOPIC_EXCEPTION;
	struct topic *t = meta_topic_find(g_broker->meta, name.ptr, (size_t)name.len);
	if (!t)
		return KAFKA_NONE;
	topic_unref(t);
	snprintf(msg, MSG_LEN, "Topic '%.*s' already exists.", (int)name.len, name.ptr);
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
					c->name.len > 0 ? (int)c->name.len : 0, c->name.len > 0 ? c->name.ptr : "");
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
int api_check_replicas(const int32_t *ids, int32_t n, char *msg)
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
		int err = api_check_replicas(a->broker_ids.items, a->broker_ids.count, msg);
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

static const char *override_of(const struct plan *p, const char *key)
{
	for (size_t i = 0; i < p->nconfigs; i++)
		if (strcmp(p->configs[i].key, key) == 0)
			return p->configs[i].value;
	return NULL;
}

/* The effective configs of a topic created with p's overrides (KIP-525):
 * every topic-level key, its override or else the broker's value. */
static int fill_configs(struct req *req, topic_resp *tr, const struct plan *p)
{
	size_t n = topic_config_nkeys;
	config_resp *v = arena_alloc(&req->arena, n * sizeof(*v));
	if (!v)
		return LOCAL_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct topic_config_key *tk = &topic_config_keys[i];
		const char *ov = override_of(p, tk->name);
		char def[256];
		bool is_default;
		/* no topic yet: the broker's value, dynamic configs included */
		if (!ov)
			meta_topic_config_get(g_broker->meta, NULL, tk->name, def, sizeof(def), &is_default);
		v[i].name = kstr_c(tk->name); /* static table: outlives the request */
		v[i].value = api_kstr(req, ov ? ov : def);
		v[i].read_only = false;
		v[i].config_source = api_topic_config_source(tk, ov != NULL);
		v[i].is_sensitive = false;
	}
	tr->configs.items = v;
	tr->configs.count = (int32_t)n;
	return KAFKA_NONE;
}

/* Runs the checks and, unless validate_only, creates the topic. Returns a
 * Kafka code (or LOCAL_ERR_NOMEM) with Kafka's message in msg. */
static int create_one(struct req *req, const topic_req *tq, bool validate_only, struct plan *p,
		      uint8_t id[16], char *msg)
{
	char *name = api_strdup(req, tq->name);
	if (!name)
		return LOCAL_ERR_NOMEM;
	int err = check_name(tq->name, msg);
	if (err == KAFKA_NONE)
		err = collect_configs(req, tq, p, msg);
	if (err == KAFKA_NONE)
		err = check_placement(req, tq, p, msg);
	if (err != KAFKA_NONE)
		return err;
	struct topic *t = NULL;
	err = meta_topic_create(g_broker->meta, name, p->partitions, p->rf, p->configs, p->nconfigs,
				validate_only, validate_only ? NULL : &t, msg, MSG_LEN);
	if (err != KAFKA_NONE)
		return err;
	if (t) {
		memcpy(id, t->id, 16);
		p->partitions = t->npartitions;
		topic_unref(t);
		log_info("api", "created topic %s: %d partition(s), %zu config override(s) (requested by %s)",
			 name, p->partitions, p->nconfigs, req->peer);
	}
	return KAFKA_NONE;
}

static int answer_topic(struct req *req, const struct create_topics_request *rq, int32_t i, bool dup,
			topic_resp *tr)
{
	const topic_req *tq = &rq->topics.items[i];
	struct plan p = { 0 };
	uint8_t id[16] = { 0 };
	char msg[MSG_LEN] = "";
	int err;

	if (dup) {
		snprintf(msg, sizeof(msg), "Duplicate topic name.");
		err = KAFKA_INVALID_REQUEST;
	} else {
		err = create_one(req, tq, rq->validate_only, &p, id, msg);
	}
	if (err == LOCAL_ERR_NOMEM)
		return err;
	tr->name = tq->name;
	tr->error_code = (int16_t)api_storage_err(err);
	tr->error_message = err == KAFKA_NONE ? kstr_null() : api_kstr(req, msg[0] ? msg : NULL);
	memcpy(tr->topic_id.b, id, 16);
	tr->topic_config_error_code = KAFKA_NONE;
	tr->num_partitions = err == KAFKA_NONE ? p.partitions : -1;
	tr->replication_factor = err == KAFKA_NONE ? (int16_t)p.rf : -1;
	tr->configs.count = 0;
	tr->configs.items = NULL;
	if (err == KAFKA_NONE && req->hdr.api_version >= 5)
		return fill_configs(req, tr, &p);
	return KAFKA_NONE;
}

void api_create_topics(struct req *req)
{
	struct create_topics_request *rq = api_decode(req, &proto_create_topics_request);
	if (!rq)
		return;
	struct create_topics_response *resp = proto_new(&proto_create_topics_response, req->hdr.api_version,
							 &req->arena);
	int32_t n = rq->topics.count > 0 ? rq->topics.count : 0;
	topic_resp *v = resp ? arena_alloc(&req->arena, (size_t)(n ? n : 1) * sizeof(*v)) : NULL;
	if (!v)
		goto oom;
	kstr *names = arena_alloc(&req->arena, (size_t)(n ? n : 1) * sizeof(kstr));
	if (!names)
		goto oom;
	for (int32_t i = 0; i < n; i++)
		names[i] = rq->topics.items[i].name;
	uint8_t *dup = api_dup_flags(req, names, n);
	if (!dup)
		goto oom;
	resp->throttle_time_ms = 0;
	resp->topics.items = v;
	resp->topics.count = 0;
	/* One result per distinct name (Kafka's results are keyed by name); a
	 * repeated name is answered once, at its first occurrence. */
	for (int32_t i = 0; i < n; i++) {
		if (dup[i] == API_DUP_LATER)
			continue;
		if (answer_topic(req, rq, i, dup[i] == API_DUP_FIRST, &v[resp->topics.count]) != KAFKA_NONE)
			goto oom;
		resp->topics.count++;
	}
	api_respond(req, &proto_create_topics_response, resp);
	return;
oom:
	api_respond_close(req, "out of memory");
}
