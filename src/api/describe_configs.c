/*
 * describe_configs.c — DescribeConfigs (key 32).
 *
 * Resources (ResourceType), as Kafka's ConfigHelper answers them:
 *   2 TOPIC          every topic-level key (topic_config_keys[]) with its
 *                    effective value and where it comes from, in Kafka's
 *                    precedence: the topic's override (DYNAMIC_TOPIC_CONFIG
 *                    1), the broker synonym's dynamic config of this node
 *                    (DYNAMIC_BROKER_CONFIG 2), its dynamic cluster default
 *                    (DYNAMIC_DEFAULT_BROKER_CONFIG 3), the static broker
 *                    config (STATIC_BROKER_CONFIG 4: file or --override), or
 *                    the default (DEFAULT_CONFIG 5). Unknown topic:
 *                    UNKNOWN_TOPIC_OR_PARTITION; illegal name:
 *                    INVALID_TOPIC_EXCEPTION.
 *   4 BROKER         name = our node id: every broker key (config_keys[])
 *                    with its current value, sources as above without the
 *                    topic's; read_only is false exactly for the keys that
 *                    change at run time. Name "": the dynamic cluster-wide
 *                    defaults that are set (DYNAMIC_DEFAULT_BROKER_CONFIG).
 *                    Other ids: INVALID_REQUEST.
 *   8 BROKER_LOGGER  name = our node id: one logger, "root", at runnel's
 *                    log level (DYNAMIC_BROKER_LOGGER_CONFIG).
 *   other            INVALID_REQUEST "Unsupported resource type: N".
 * Errors are per resource; the others are still answered.
 *
 * ConfigurationKeys null or empty = every key; names we do not know are
 * left out silently (Kafka filters the same way).
 *
 * Synonyms (v1+, when IncludeSynonyms), in precedence order
 * (meta_config_synonyms): the topic override; the broker synonym's dynamic
 * node and dynamic default entries; each broker alias that was set
 * explicitly (STATIC_BROKER_CONFIG), highest precedence first
 * (log.retention.ms, .minutes, .hours); then the built-in default
 * (DEFAULT_CONFIG) of the lowest alias (log.retention.hours), as Kafka.
 * ConfigSource is the first synonym's source. Sensitive values are null.
 * v0 has IsDefault instead of ConfigSource: the Java client maps it back to
 * DEFAULT_CONFIG, else STATIC_BROKER_CONFIG (broker) / TOPIC_CONFIG (topic),
 * so IsDefault is "no override" for a topic and "source is DEFAULT_CONFIG"
 * for a broker. ConfigType (v3+) uses Kafka's numbering.
 *
 * Threads: the connection's loop thread; reads the immutable broker config
 * and the metadata image (under its own lock).
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

typedef struct describe_configs_request_describe_configs_resource res_req;
typedef struct describe_configs_response_describe_configs_result res_resp;
typedef struct describe_configs_response_describe_configs_resource_result entry;
typedef struct describe_configs_response_describe_configs_synonym synonym;

enum { RES_TOPIC = 2, RES_BROKER = 4, RES_BROKER_LOGGER = 8 };
enum {
	SRC_TOPIC = 1, SRC_DYNAMIC_DEFAULT = 3, SRC_DEFAULT = 5, SRC_BROKER_LOGGER = 6,
};
#define SYN_MAX 16
/* DescribeConfigsResponse.ConfigType */
enum {
	CT_UNKNOWN = 0, CT_BOOLEAN = 1, CT_STRING = 2, CT_INT = 3, CT_SHORT = 4, CT_LONG = 5,
	CT_DOUBLE = 6, CT_LIST = 7, CT_CLASS = 8, CT_PASSWORD = 9,
};

#define MSG_LEN 256
#define VAL_LEN 1024

/* What the request asks of every entry. */
struct ask {
	const res_req *res;
	bool synonyms;
	bool docs;
};

/* One-line documentation of the topic-level keys (IncludeDocumentation). */
static const struct { const char *name, *doc; } topic_docs[] = {
	{ "cleanup.policy", "delete (by retention), compact (latest value per key), or both" },
	{ "compression.gzip.level", "gzip level when the broker compresses: 1..9, or -1 for zlib's default" },
	{ "compression.lz4.level", "lz4 level when the broker compresses (1..17)" },
	{ "compression.type", "Compression of stored batches; producer = as the producer sent them" },
	{ "compression.zstd.level", "zstd level when the broker compresses (-131072..22)" },
	{ "delete.retention.ms", "How long delete tombstones are kept in a compacted topic (ms)" },
	{ "file.delete.delay.ms", "Delay before a deleted segment's files are removed (ms)" },
	{ "flush.messages", "Force an fsync after this many unflushed messages" },
	{ "flush.ms", "Force an fsync when unflushed data is older than this (ms)" },
	{ "index.interval.bytes", "Bytes of log between offset index entries" },
	{ "max.compaction.lag.ms", "Longest a message stays ineligible for compaction (ms)" },
	{ "max.message.bytes", "Largest record batch accepted" },
	{ "message.timestamp.after.max.ms", "Largest allowed lead of a message timestamp over the broker's clock (ms)" },
	{ "message.timestamp.before.max.ms", "Largest allowed lag of a message timestamp behind the broker's clock (ms)" },
	{ "message.timestamp.type", "CreateTime (producer's) or LogAppendTime (broker's)" },
	{ "min.cleanable.dirty.ratio", "Share of uncompacted log that triggers compaction" },
	{ "min.compaction.lag.ms", "Shortest time a message stays uncompacted (ms)" },
	{ "min.insync.replicas", "Replicas that must acknowledge an acks=all write" },
	{ "preallocate", "Preallocate segment files" },
	{ "retention.bytes", "Delete old segments beyond this partition size; -1 = no limit" },
	{ "retention.ms", "Delete segments older than this (ms); -1 = forever" },
	{ "segment.bytes", "Maximum size of a log segment file" },
	{ "segment.index.bytes", "Maximum size of a segment's offset or time index" },
	{ "segment.ms", "Roll a segment older than this (ms)" },
	{ "unclean.leader.election.enable", "Allow an out-of-sync replica to become leader" },
};

/* ---------------------------------------------------------------- helpers */

static int8_t config_type_id(enum config_type t, bool sensitive)
{
	if (sensitive)
		return CT_PASSWORD;
	switch (t) {
	case CFG_BOOL: return CT_BOOLEAN;
	case CFG_STRING: return CT_STRING;
	case CFG_INT: return CT_INT;
	case CFG_SHORT: return CT_SHORT;
	case CFG_LONG: return CT_LONG;
	case CFG_DOUBLE: return CT_DOUBLE;
	case CFG_LIST: return CT_LIST;
	case CFG_CLASS: return CT_CLASS;
	}
	return CT_UNKNOWN;
}

static const char *topic_doc(const char *name)
{
	for (size_t i = 0; i < sizeof(topic_docs) / sizeof(topic_docs[0]); i++)
		if (strcmp(topic_docs[i].name, name) == 0)
			return topic_docs[i].doc;
	return NULL;
}

static bool wanted(const res_req *res, const char *name)
{
	if (res->configuration_keys.count <= 0) /* null or empty: all */
		return true;
	size_t len = strlen(name);
	for (int32_t i = 0; i < res->configuration_keys.count; i++) {
		kstr k = res->configuration_keys.items[i];
		if (k.len == (int32_t)len && memcmp(k.ptr, name, len) == 0)
			return true;
	}
	return false;
}

int8_t api_topic_config_source(const struct topic_config_key *tk, bool overridden)
{
	struct cfg_syn syn[SYN_MAX];
	if (overridden)
		return SRC_TOPIC;
	size_t n = tk->broker_synonym ? meta_config_synonyms(g_broker->meta, NULL, tk->broker_synonym,
							     syn, SYN_MAX) : 0;
	return n > 0 ? syn[0].source : SRC_DEFAULT;
}

/* ---------------------------------------------------------------- synonyms */

/* Copies n synonyms into an arena array on e (when asked). */
static int syn_attach(struct req *req, const struct ask *a, entry *e, const struct cfg_syn *syn, size_t n)
{
	if (!a->synonyms || n == 0)
		return KAFKA_NONE;
	synonym *v = arena_alloc(&req->arena, n * sizeof(*v));
	if (!v)
		return LOCAL_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i].name = kstr_c(syn[i].name); /* names come from static tables */
		v[i].value = syn[i].null ? kstr_null() : api_kstr(req, syn[i].value);
		v[i].source = syn[i].source;
	}
	e->synonyms.items = v;
	e->synonyms.count = (int32_t)n;
	return KAFKA_NONE;
}

/* ---------------------------------------------------------------- entries */

/* Fills the parts every entry shares; value is copied. */
static void entry_fill(struct req *req, entry *e, const char *name, const char *value,
		       bool sensitive, int8_t source)
{
	e->name = kstr_c(name);
	e->value = sensitive ? kstr_null() : api_kstr(req, value);
	e->is_sensitive = sensitive;
	e->config_source = source;
	e->synonyms.count = 0;
	e->synonyms.items = NULL;
	e->documentation = kstr_null();
}

static int broker_entry(struct req *req, const struct ask *a, entry *e, const struct config_key *k)
{
	struct cfg_syn syn[SYN_MAX];
	char val[VAL_LEN];
	size_t n = meta_config_synonyms(g_broker->meta, NULL, k->name, syn, SYN_MAX);
	int8_t source = n > 0 ? syn[0].source : SRC_DEFAULT;
	bool dynamic = source == CFG_SRC_DYNAMIC_BROKER || source == CFG_SRC_DYNAMIC_DEFAULT_BROKER;
	config_value_text(&g_broker->cfg, k, val, sizeof(val));
	bool null = config_value_is_null(&g_broker->cfg, k);
	if (dynamic) /* the dynamic value wins over the static one */
		entry_fill(req, e, k->name, syn[0].null ? NULL : syn[0].value, k->sensitive, source);
	else
		entry_fill(req, e, k->name, null ? NULL : val, k->sensitive, source);
	e->read_only = k->read_only;
	e->is_default = source == SRC_DEFAULT;
	e->config_type = config_type_id(k->type, k->sensitive);
	if (a->docs && k->doc)
		e->documentation = kstr_c(k->doc);
	return syn_attach(req, a, e, syn, n);
}

static int topic_entry(struct req *req, const struct ask *a, entry *e, const struct topic *t,
		       const struct topic_config_key *tk)
{
	struct cfg_syn syn[SYN_MAX];
	char val[VAL_LEN];
	bool is_default = true;
	meta_topic_config_get(g_broker->meta, t, tk->name, val, sizeof(val), &is_default);
	size_t n = meta_config_synonyms(g_broker->meta, t, tk->name, syn, SYN_MAX);
	entry_fill(req, e, tk->name, val, false, n > 0 ? syn[0].source : SRC_DEFAULT);
	e->read_only = false; /* as Kafka: topic configs are alterable there */
	e->is_default = is_default;
	e->config_type = config_type_id(tk->type, false);
	if (a->docs)
		e->documentation = kstr_c(topic_doc(tk->name));
	return syn_attach(req, a, e, syn, n);
}

/* The dynamic cluster-wide defaults (resource name ""), as Kafka lists
 * them: only the keys that are set. */
static int default_entries(struct req *req, const struct ask *a, res_resp *r, entry *v)
{
	size_t n = 0;
	struct kv *kv = meta_broker_configs(g_broker->meta, true, &n);
	int err = KAFKA_NONE;
	/* v holds config_nkeys entries: a replayed set could repeat a key */
	for (size_t i = 0; err == KAFKA_NONE && i < n && (size_t)r->configs.count < config_nkeys; i++) {
		const struct config_key *k = config_key_find(kv[i].key);
		if (!k || !wanted(a->res, k->name))
			continue;
		struct cfg_syn syn = { .name = k->name, .null = false, .source = SRC_DYNAMIC_DEFAULT };
		snprintf(syn.value, sizeof(syn.value), "%s", kv[i].value);
		entry *e = &v[r->configs.count++];
		entry_fill(req, e, k->name, kv[i].value, k->sensitive, SRC_DYNAMIC_DEFAULT);
		e->read_only = k->read_only;
		e->config_type = config_type_id(k->type, k->sensitive);
		if (a->docs && k->doc)
			e->documentation = kstr_c(k->doc);
		err = syn_attach(req, a, e, &syn, 1);
	}
	meta_kv_free(kv, n);
	return err;
}

/* --------------------------------------------------------------- resources */

static void res_error(struct req *req, res_resp *r, int err, const char *msg)
{
	r->error_code = (int16_t)err;
	r->error_message = api_kstr(req, msg);
}

static entry *entries_new(struct req *req, res_resp *r, size_t max)
{
	r->configs.count = 0;
	r->configs.items = arena_alloc(&req->arena, (max ? max : 1) * sizeof(entry));
	return r->configs.items;
}

static int describe_topic(struct req *req, const struct ask *a, res_resp *r)
{
	char msg[MSG_LEN];
	kstr name = a->res->resource_name;
	if (name.len < 0 || meta_topic_name_valid(name.ptr, (size_t)name.len, msg, sizeof(msg)) != 0) {
		res_error(req, r, KAFKA_INVALID_TOPIC_EXCEPTION, name.len < 0 ? "Topic name is null" : msg);
		return KAFKA_NONE;
	}
	struct topic *t = meta_topic_find(g_broker->meta, name.ptr, (size_t)name.len);
	if (!t) { /* Kafka sends no message with this one */
		res_error(req, r, KAFKA_UNKNOWN_TOPIC_OR_PARTITION, NULL);
		return KAFKA_NONE;
	}
	int err = KAFKA_NONE;
	entry *v = entries_new(req, r, topic_config_nkeys);
	for (size_t i = 0; v && err == KAFKA_NONE && i < topic_config_nkeys; i++) {
		if (wanted(a->res, topic_config_keys[i].name))
			err = topic_entry(req, a, &v[r->configs.count++], t, &topic_config_keys[i]);
	}
	topic_unref(t);
	return v ? err : LOCAL_ERR_NOMEM;
}

/* Parses a BROKER / BROKER_LOGGER resource name as a broker id. Returns 0
 * when it names us; else sets the error on r (Kafka's messages). */
static int check_broker_id(struct req *req, res_resp *r, kstr name, bool logger)
{
	char buf[32], msg[MSG_LEN], *end;
	int32_t self = g_broker->cfg.node_id;
	int n = name.len > 0 && name.len < (int32_t)sizeof(buf) ? (int)name.len : 0;
	memcpy(buf, name.ptr ? name.ptr : "", (size_t)n);
	buf[n] = '\0';
	long id = strtol(buf, &end, 10);
	if (n == 0 || *end != '\0' || name.len != n) {
		snprintf(msg, sizeof(msg), "Broker id must be an integer, but it is: %.*s",
			 name.len > 0 ? (int)name.len : 0, name.ptr ? name.ptr : "");
		res_error(req, r, KAFKA_INVALID_REQUEST, msg);
		return -1;
	}
	if (id != self) {
		snprintf(msg, sizeof(msg), logger ? "Unexpected broker id, expected %d but received %s"
			 : "Unexpected broker id, expected %d or empty string, but received %s", self, buf);
		res_error(req, r, KAFKA_INVALID_REQUEST, msg);
		return -1;
	}
	return 0;
}

static int describe_broker(struct req *req, const struct ask *a, res_resp *r)
{
	kstr name = a->res->resource_name;
	entry *v = entries_new(req, r, config_nkeys);
	if (!v)
		return LOCAL_ERR_NOMEM;
	if (name.len <= 0) /* the cluster-wide dynamic defaults */
		return default_entries(req, a, r, v);
	if (check_broker_id(req, r, name, false) != 0)
		return KAFKA_NONE;
	int err = KAFKA_NONE;
	for (size_t i = 0; err == KAFKA_NONE && i < config_nkeys; i++)
		if (wanted(a->res, config_keys[i].name))
			err = broker_entry(req, a, &v[r->configs.count++], &config_keys[i]);
	return err;
}

static int describe_logger(struct req *req, const struct ask *a, res_resp *r)
{
	static const char *const levels[] = { "ERROR", "WARN", "INFO", "DEBUG" };
	kstr name = a->res->resource_name;
	entry *v = entries_new(req, r, 1);
	if (!v)
		return LOCAL_ERR_NOMEM;
	if (name.len <= 0) {
		res_error(req, r, KAFKA_INVALID_REQUEST, "Broker id must not be empty");
		return KAFKA_NONE;
	}
	if (check_broker_id(req, r, name, true) != 0 || !wanted(a->res, "root"))
		return KAFKA_NONE;
	int lvl = (int)log_threshold;
	if (lvl < 0 || lvl > 3)
		lvl = LOGL_INFO;
	entry_fill(req, v, "root", levels[lvl], false, SRC_BROKER_LOGGER);
	v->read_only = false; /* IncrementalAlterConfigs sets it */
	v->config_type = CT_STRING;
	r->configs.count = 1;
	return KAFKA_NONE;
}

static int describe_one(struct req *req, const struct ask *a, res_resp *r)
{
	char msg[MSG_LEN];
	r->error_code = KAFKA_NONE;
	r->error_message = kstr_null();
	r->resource_type = a->res->resource_type;
	r->resource_name = a->res->resource_name.len >= 0 ? a->res->resource_name : kstr_c("");
	r->configs.count = 0;
	r->configs.items = NULL;
	switch (a->res->resource_type) {
	case RES_TOPIC:
		return describe_topic(req, a, r);
	case RES_BROKER:
		return describe_broker(req, a, r);
	case RES_BROKER_LOGGER:
		return describe_logger(req, a, r);
	default:
		snprintf(msg, sizeof(msg), "Unsupported resource type: %d", a->res->resource_type);
		res_error(req, r, KAFKA_INVALID_REQUEST, msg);
		return KAFKA_NONE;
	}
}

void api_describe_configs(struct req *req)
{
	struct describe_configs_request *rq = api_decode(req, &proto_describe_configs_request);
	if (!rq)
		return;
	int16_t v = req->hdr.api_version;
	struct describe_configs_response *resp = proto_new(&proto_describe_configs_response, v, &req->arena);
	int32_t n = rq->resources.count > 0 ? rq->resources.count : 0;
	res_resp *out = resp ? arena_alloc(&req->arena, (size_t)(n ? n : 1) * sizeof(*out)) : NULL;
	if (!out)
		goto oom;
	resp->throttle_time_ms = 0;
	resp->results.items = out;
	resp->results.count = n;
	for (int32_t i = 0; i < n; i++) {
		struct ask a = { &rq->resources.items[i], v >= 1 && rq->include_synonyms,
				 v >= 3 && rq->include_documentation };
		if (describe_one(req, &a, &out[i]) != KAFKA_NONE)
			goto oom;
	}
	api_respond(req, &proto_describe_configs_response, resp);
	return;
oom:
	api_respond_close(req, "out of memory");
}
