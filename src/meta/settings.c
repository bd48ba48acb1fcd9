/*
 * settings.c — effective configuration values and their synonyms
 * (settings.h).
 *
 * A topic key's value is looked up in this order; the first that has one
 * wins (Kafka's precedence, as its DescribeConfigs lists the synonyms):
 *   1. the topic's override                       DYNAMIC_TOPIC_CONFIG
 *   2. the primary broker synonym in node         DYNAMIC_BROKER_CONFIG
 *   3. the primary broker synonym in dflt         DYNAMIC_DEFAULT_BROKER_CONFIG
 *   4. the static broker config (topic_config_default: the synonym's field
 *      in struct config, whichever alias set it)  STATIC_BROKER_CONFIG
 *   5. Kafka's default                            DEFAULT_CONFIG
 * Steps 4 and 5 are one text (the struct config field holds the default
 * until a file or --override sets it); the source tells them apart.
 *
 * Invariant: every value in node and dflt was validated for its key when
 * it was set (meta.c), so parsing here falls back to Kafka's default only
 * for a record written by a newer version.
 */
#include "meta/settings.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record/batch.h"
#include "util/config.h"

static void kvs_free(struct kv *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].value);
	}
	free(v);
}

int settings_init(struct settings *s, const struct config *cfg)
{
	memset(s, 0, sizeof *s);
	s->cfg = cfg;
	return pthread_rwlock_init(&s->lock, NULL) == 0 ? 0 : -1;
}

void settings_fini(struct settings *s)
{
	kvs_free(s->node, s->nnode);
	kvs_free(s->dflt, s->ndflt);
	pthread_rwlock_destroy(&s->lock);
	memset(s, 0, sizeof *s);
}

void settings_replace(struct settings *s, bool cluster_default, struct kv *v, size_t n)
{
	struct kv *old;
	size_t nold;
	pthread_rwlock_wrlock(&s->lock);
	if (cluster_default) {
		old = s->dflt, nold = s->ndflt;
		s->dflt = v, s->ndflt = n;
	} else {
		old = s->node, nold = s->nnode;
		s->node = v, s->nnode = n;
	}
	pthread_rwlock_unlock(&s->lock);
	kvs_free(old, nold);
}

int settings_copy(struct settings *s, bool cluster_default, struct kv **out, size_t *n)
{
	pthread_rwlock_rdlock(&s->lock);
	const struct kv *src = cluster_default ? s->dflt : s->node;
	size_t k = cluster_default ? s->ndflt : s->nnode;
	struct kv *v = k ? calloc(k, sizeof *v) : NULL;
	size_t got = 0;
	for (; v != NULL && got < k; got++) {
		v[got].key = strdup(src[got].key);
		v[got].value = strdup(src[got].value);
		if (v[got].key == NULL || v[got].value == NULL) {
			kvs_free(v, got + 1);
			v = NULL;
		}
	}
	pthread_rwlock_unlock(&s->lock);
	*out = v;
	*n = v ? got : 0;
	return v == NULL && k > 0 ? -1 : 0;
}

/* ============================================================== lookups */

static const char *kv_find(const struct kv *v, size_t n, const char *key)
{
	for (size_t i = 0; key != NULL && i < n; i++)
		if (strcmp(v[i].key, key) == 0)
			return v[i].value;
	return NULL;
}

/* The next lower-precedence alias of k (log.retention.minutes for
 * log.retention.ms), or NULL. */
static const struct config_key *alias_below(const struct config_key *k)
{
	for (size_t i = 0; i < config_nkeys; i++)
		if (config_keys[i].overridden_by && strcmp(config_keys[i].overridden_by, k->name) == 0)
			return &config_keys[i];
	return NULL;
}

/* True when k or one of its lower aliases was set in the file or an --override. */
static bool chain_static(const struct config *cfg, const struct config_key *k)
{
	for (; k; k = alias_below(k))
		if (config_source_of(cfg, k) == CFG_SRC_STATIC_BROKER)
			return true;
	return false;
}

/* Steps 2-5 for the broker key bkey (a topic key's synonym); rdlock held. */
static int broker_value_locked(struct settings *s, const struct topic_config_key *tk,
			       char *out, size_t outlen)
{
	const char *v = kv_find(s->node, s->nnode, tk->broker_synonym);
	if (v != NULL) {
		snprintf(out, outlen, "%s", v);
		return CFG_SRC_DYNAMIC_BROKER;
	}
	v = kv_find(s->dflt, s->ndflt, tk->broker_synonym);
	if (v != NULL) {
		snprintf(out, outlen, "%s", v);
		return CFG_SRC_DYNAMIC_DEFAULT_BROKER;
	}
	topic_config_default(s->cfg, tk->name, out, outlen);
	const struct config_key *k = tk->broker_synonym ? config_key_find(tk->broker_synonym) : NULL;
	return k && chain_static(s->cfg, k) ? CFG_SRC_STATIC_BROKER : CFG_SRC_DEFAULT;
}

int settings_topic_value(struct settings *s, const struct kv *ov, size_t nov, const char *key,
			 char *out, size_t outlen)
{
	const struct topic_config_key *tk = topic_config_key_find(key);
	const char *v = kv_find(ov, nov, key);
	if (outlen > 0)
		out[0] = '\0';
	if (tk == NULL)
		return CFG_SRC_UNKNOWN;
	if (v != NULL) {
		snprintf(out, outlen, "%s", v);
		return CFG_SRC_DYNAMIC_TOPIC;
	}
	pthread_rwlock_rdlock(&s->lock);
	int src = broker_value_locked(s, tk, out, outlen);
	pthread_rwlock_unlock(&s->lock);
	return src;
}

/* ============================================================= synonyms */

struct syn_out {
	struct cfg_syn *v;
	size_t n, max;
};

static void syn_add(struct syn_out *o, const char *name, const char *value, int source)
{
	if (o->n >= o->max)
		return;
	struct cfg_syn *e = &o->v[o->n++];
	e->name = name;
	e->null = value == NULL;
	snprintf(e->value, sizeof e->value, "%s", value ? value : "");
	e->source = (int8_t)source;
}

/* Kafka's configSynonyms for k: dynamic node, dynamic default (k itself:
 * only primary keys are dynamic), then each explicitly set alias from k
 * down, then one default: that of the lowest alias (log.retention.hours
 * 168). Kafka lists every alias whose default is not null, and in its
 * table only the lowest (original) key of a chain has one; ours gives
 * every alias the same default in its own unit, so the lowest alone
 * answers as Kafka does. rdlock held. */
static void syn_broker_locked(struct settings *s, struct syn_out *o, const struct config_key *k)
{
	char val[CFG_VALUE_MAX];
	const char *v = kv_find(s->node, s->nnode, k->name);
	if (v != NULL)
		syn_add(o, k->name, k->sensitive ? NULL : v, CFG_SRC_DYNAMIC_BROKER);
	v = kv_find(s->dflt, s->ndflt, k->name);
	if (v != NULL)
		syn_add(o, k->name, k->sensitive ? NULL : v, CFG_SRC_DYNAMIC_DEFAULT_BROKER);
	for (const struct config_key *j = k; j; j = alias_below(j)) {
		if (config_source_of(s->cfg, j) != CFG_SRC_STATIC_BROKER)
			continue;
		config_value_text(s->cfg, j, val, sizeof val);
		bool null = j->sensitive || config_value_is_null(s->cfg, j);
		syn_add(o, j->name, null ? NULL : val, CFG_SRC_STATIC_BROKER);
	}
	const struct config_key *low = NULL;
	for (const struct config_key *j = k; j; j = alias_below(j))
		if (j->def)
			low = j;
	if (low != NULL)
		syn_add(o, low->name, low->sensitive ? NULL : low->def, CFG_SRC_DEFAULT);
}

size_t settings_broker_synonyms(struct settings *s, const struct config_key *k,
				struct cfg_syn *out, size_t max)
{
	struct syn_out o = { out, 0, max };
	pthread_rwlock_rdlock(&s->lock);
	syn_broker_locked(s, &o, k);
	pthread_rwlock_unlock(&s->lock);
	return o.n;
}

size_t settings_topic_synonyms(struct settings *s, const struct kv *ov, size_t nov,
			       const struct topic_config_key *tk, struct cfg_syn *out, size_t max)
{
	struct syn_out o = { out, 0, max };
	const char *v = kv_find(ov, nov, tk->name);
	if (v != NULL)
		syn_add(&o, tk->name, v, CFG_SRC_DYNAMIC_TOPIC);
	const struct config_key *k = tk->broker_synonym ? config_key_find(tk->broker_synonym) : NULL;
	pthread_rwlock_rdlock(&s->lock);
	if (k != NULL)
		syn_broker_locked(s, &o, k);
	else if (tk->broker_synonym != NULL) /* a broker key we do not store: its default */
		syn_add(&o, tk->broker_synonym, tk->def, CFG_SRC_DEFAULT);
	pthread_rwlock_unlock(&s->lock);
	return o.n;
}

/* ======================================================= parsed settings */

/* An integer setting; a value that does not parse (only a record from a
 * newer version can hold one) gives Kafka's default. */
static int64_t num_of(struct settings *s, const struct kv *ov, size_t nov, const char *key)
{
	char buf[CFG_VALUE_MAX], *end;
	const struct topic_config_key *tk = topic_config_key_find(key);
	settings_topic_value(s, ov, nov, key, buf, sizeof buf);
	for (int pass = 0; pass < 2; pass++) {
		errno = 0;
		long long v = strtoll(buf, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (errno == 0 && end != buf && *end == '\0')
			return v;
		snprintf(buf, sizeof buf, "%s", tk && tk->def ? tk->def : "-1");
	}
	return -1;
}

static bool list_has(const char *list, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = list; p != NULL;) {
		while (*p == ' ')
			p++;
		if (strncmp(p, item, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			return true;
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
	return false;
}

/* compression.type as a codec: -1 producer, else enum batch_codec. */
static int8_t codec_of(const char *name)
{
	static const struct { const char *name; int8_t codec; } map[] = {
		{ "uncompressed", CODEC_NONE }, { "gzip", CODEC_GZIP }, { "snappy", CODEC_SNAPPY },
		{ "lz4", CODEC_LZ4 }, { "zstd", CODEC_ZSTD },
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(name, map[i].name) == 0)
			return map[i].codec;
	return -1;
}

/* compression.<codec>.level of the chosen codec; INT32_MIN: the codec's
 * own default (gzip's -1, and every codec without a level). */
static int32_t level_of(struct settings *s, const struct kv *ov, size_t nov, int8_t codec)
{
	const char *key = codec == CODEC_GZIP ? "compression.gzip.level" :
			  codec == CODEC_LZ4 ? "compression.lz4.level" :
			  codec == CODEC_ZSTD ? "compression.zstd.level" : NULL;
	if (key == NULL || topic_config_key_find(key) == NULL)
		return INT32_MIN;
	int64_t v = num_of(s, ov, nov, key);
	if (codec == CODEC_GZIP && v == -1)
		return INT32_MIN;
	return v < INT32_MIN + 1 || v > INT32_MAX ? INT32_MIN : (int32_t)v;
}

static void log_cfg_of(struct settings *s, const struct kv *ov, size_t nov, struct plog_config *pc)
{
	char text[CFG_VALUE_MAX];
	int64_t flush_ms = num_of(s, ov, nov, "flush.ms");
	pc->segment_bytes = num_of(s, ov, nov, "segment.bytes");
	pc->segment_ms = num_of(s, ov, nov, "segment.ms");
	pc->index_interval_bytes = (int32_t)num_of(s, ov, nov, "index.interval.bytes");
	pc->index_max_bytes = (int32_t)num_of(s, ov, nov, "segment.index.bytes");
	pc->flush_messages = num_of(s, ov, nov, "flush.messages");
	/* Kafka's "never" is Long.MAX_VALUE; the plog's is -1 */
	pc->flush_ms = flush_ms == INT64_MAX ? -1 : flush_ms;
	settings_topic_value(s, ov, nov, "message.timestamp.type", text, sizeof text);
	pc->log_append_time = strcmp(text, "LogAppendTime") == 0;
	settings_topic_value(s, ov, nov, "cleanup.policy", text, sizeof text);
	pc->cleanup_delete = list_has(text, "delete");
	pc->cleanup_compact = list_has(text, "compact");
	pc->retention_ms = num_of(s, ov, nov, "retention.ms");
	pc->retention_bytes = num_of(s, ov, nov, "retention.bytes");
	pc->file_delete_delay_ms = num_of(s, ov, nov, "file.delete.delay.ms");
	pc->delete_retention_ms = num_of(s, ov, nov, "delete.retention.ms");
	pc->min_compaction_lag_ms = num_of(s, ov, nov, "min.compaction.lag.ms");
	pc->max_compaction_lag_ms = num_of(s, ov, nov, "max.compaction.lag.ms");
	settings_topic_value(s, ov, nov, "min.cleanable.dirty.ratio", text, sizeof text);
	char *end;
	double r = strtod(text, &end);
	pc->min_cleanable_dirty_ratio = end != text && r >= 0.0 && r <= 1.0 ? r : 0.5;
}

void settings_topic_cfg(struct settings *s, const struct kv *ov, size_t nov, struct topic_cfg *out)
{
	char text[CFG_VALUE_MAX];
	memset(out, 0, sizeof *out);
	log_cfg_of(s, ov, nov, &out->log);
	int64_t mmb = num_of(s, ov, nov, "max.message.bytes");
	out->max_message_bytes = mmb < 0 || mmb > INT32_MAX ? 1048588 : (int32_t)mmb;
	settings_topic_value(s, ov, nov, "compression.type", text, sizeof text);
	out->compression = codec_of(text);
	out->compression_level = level_of(s, ov, nov, out->compression);
	out->ts_before_max_ms = num_of(s, ov, nov, "message.timestamp.before.max.ms");
	out->ts_after_max_ms = num_of(s, ov, nov, "message.timestamp.after.max.ms");
}
