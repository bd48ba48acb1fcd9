/*
 * cfgset.c — applying config alterations to an override set (cfgset.h).
 *
 * Order of checks, as Kafka's admin manager makes them, so one request gets
 * the same error whatever the order of its entries:
 *   1. every change: a known op, a key, not a key twice   INVALID_REQUEST
 *   2. every change: a known key that may change           INVALID_CONFIG
 *   3. every change: SET has a value, APPEND/SUBTRACT are
 *      on list keys                                        INVALID_REQUEST
 *   4. apply in order to the set; then every key touched
 *      must hold a valid value                             INVALID_CONFIG
 * Lists (cleanup.policy) are comma-separated; APPEND adds the items not yet
 * present, SUBTRACT removes the items given, both starting from the set's
 * entry or, without one, the effective value (cfgset_base_fn), and both
 * leave an override behind (as Kafka does).
 */
#include "meta/cfgset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/metalog.h"
#include "util/config.h"
#include "util/err.h"

#define LIST_MAX 1024

int cfgset_init(struct cfgset *s, const struct kv *v, size_t n)
{
	s->v = n ? calloc(n, sizeof *s->v) : NULL;
	s->n = 0;
	if (n && s->v == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		s->v[i].key = strdup(v[i].key);
		s->v[i].value = strdup(v[i].value);
		s->n++;
		if (s->v[i].key == NULL || s->v[i].value == NULL) {
			cfgset_fini(s);
			return -1;
		}
	}
	return 0;
}

void cfgset_fini(struct cfgset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].key);
		free(s->v[i].value);
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static struct kv *find(struct cfgset *s, const char *key)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].key, key) == 0)
			return &s->v[i];
	return NULL;
}

/* Sets key to a copy of value (NULL removes it). Returns 0 or -1 (memory). */
static int put(struct cfgset *s, const char *key, const char *value)
{
	struct kv *e = find(s, key);
	if (value == NULL) {
		if (e != NULL) {
			free(e->key);
			free(e->value);
			*e = s->v[--s->n];
		}
		return 0;
	}
	char *val = strdup(value);
	if (val == NULL)
		return -1;
	if (e != NULL) {
		free(e->value);
		e->value = val;
		return 0;
	}
	struct kv *nv = realloc(s->v, (s->n + 1) * sizeof *nv);
	char *k = strdup(key);
	if (nv != NULL)
		s->v = nv;
	if (nv == NULL || k == NULL) {
		free(val);
		free(k);
		return -1;
	}
	s->v[s->n++] = (struct kv){ k, val };
	return 0;
}

bool cfgset_same(const struct kv *a, size_t na, const struct kv *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++) {
		size_t j = 0;
		while (j < nb && strcmp(a[i].key, b[j].key) != 0)
			j++;
		if (j == nb || strcmp(a[i].value, b[j].value) != 0)
			return false;
	}
	return true;
}

/* ================================================================ lists */

/* Copies the next trimmed item of a comma list into item; returns the rest
 * (NULL at the end). */
static const char *next_item(const char *p, char *item, size_t cap)
{
	const char *comma = strchr(p, ',');
	size_t len = comma ? (size_t)(comma - p) : strlen(p);
	while (len > 0 && (*p == ' ' || *p == '\t'))
		p++, len--;
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	snprintf(item, cap, "%.*s", (int)(len < cap ? len : cap - 1), p);
	return comma ? comma + 1 : NULL;
}

static bool list_contains(const char *list, const char *item)
{
	char it[LIST_MAX];
	for (const char *p = list; p != NULL;) {
		p = next_item(p, it, sizeof it);
		if (it[0] != '\0' && strcmp(it, item) == 0)
			return true;
	}
	return false;
}

/* Appends item to the ','-joined list out (cap bytes, *n used); an item
 * that does not fit is dropped (values are at most LIST_MAX; the result is
 * validated afterwards). */
static void list_add(char *out, size_t cap, size_t *n, const char *item)
{
	size_t len = strlen(item) + (*n ? 1 : 0);
	if (*n + len >= cap)
		return;
	snprintf(out + *n, cap - *n, "%s%s", *n ? "," : "", item);
	*n += len;
}

/* out = base with the items of arg added (append) or removed. */
static void list_edit(const char *base, const char *arg, bool append, char *out, size_t cap)
{
	char it[LIST_MAX];
	size_t n = 0;
	out[0] = '\0';
	for (const char *p = base; p != NULL;) {
		p = next_item(p, it, sizeof it);
		if (it[0] != '\0' && (append || !list_contains(arg, it)))
			list_add(out, cap, &n, it);
	}
	for (const char *p = arg; append && p != NULL;) {
		p = next_item(p, it, sizeof it);
		if (it[0] != '\0' && !list_contains(out, it))
			list_add(out, cap, &n, it);
	}
}

/* ================================================================ checks */

/* Step 1 for all changes. */
static int check_shape(const struct cfg_change *ch, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		if (ch[i].op < CFG_OP_SET || ch[i].op > CFG_OP_SUBTRACT) {
			snprintf(err, errlen, "Unknown config operation type %d for %s", ch[i].op,
				 ch[i].key ? ch[i].key : "null");
			return KAFKA_INVALID_REQUEST;
		}
		if (ch[i].key == NULL) {
			snprintf(err, errlen, "Config name must not be null");
			return KAFKA_INVALID_REQUEST;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(ch[i].key, ch[j].key) == 0) {
				snprintf(err, errlen, "Error due to duplicate config keys: %s", ch[i].key);
				return KAFKA_INVALID_REQUEST;
			}
		}
	}
	return KAFKA_NONE;
}

/* Steps 2 and 3 for one change. */
static int check_key(bool broker, const struct cfg_change *c, char *err, size_t errlen)
{
	const struct topic_config_key *tk = broker ? NULL : topic_config_key_find(c->key);
	const struct config_key *k = broker ? config_key_find(c->key) : NULL;
	if (!broker && tk == NULL) {
		snprintf(err, errlen, "Unknown topic config name: %s", c->key);
		return KAFKA_INVALID_CONFIG;
	}
	if (broker && k == NULL) {
		snprintf(err, errlen, "Unknown broker config name: %s", c->key);
		return KAFKA_INVALID_CONFIG;
	}
	if (broker && k->read_only) {
		snprintf(err, errlen, "Cannot update these configs dynamically: [%s]", c->key);
		return KAFKA_INVALID_CONFIG;
	}
	bool list = (broker ? k->type : tk->type) == CFG_LIST;
	if (c->op == CFG_OP_SET && c->value == NULL) {
		snprintf(err, errlen, "Null value not supported for : %s", c->key);
		return KAFKA_INVALID_REQUEST;
	}
	if ((c->op == CFG_OP_APPEND || c->op == CFG_OP_SUBTRACT) && !list) {
		snprintf(err, errlen, "Config value %s is not allowed for config key: %s (only for list type "
			 "configs)", c->op == CFG_OP_APPEND ? "append" : "subtract", c->key);
		return KAFKA_INVALID_REQUEST;
	}
	if ((c->op == CFG_OP_APPEND || c->op == CFG_OP_SUBTRACT) && c->value == NULL) {
		snprintf(err, errlen, "Null value not supported for : %s", c->key);
		return KAFKA_INVALID_REQUEST;
	}
	if (c->value != NULL && strlen(c->value) > MREC_STR_MAX) {
		snprintf(err, errlen, "Invalid value for configuration %s: longer than %u bytes", c->key,
			 MREC_STR_MAX);
		return KAFKA_INVALID_CONFIG;
	}
	return KAFKA_NONE;
}

/* Step 4 for one key after the changes. */
static int check_value(bool broker, struct cfgset *s, const char *key, char *err, size_t errlen)
{
	struct kv *e = find(s, key);
	if (e == NULL)
		return KAFKA_NONE;
	int rc = broker ? config_value_check(config_key_find(key), e->value, err, errlen)
			: topic_config_validate(key, e->value, err, errlen);
	return rc == 0 ? KAFKA_NONE : KAFKA_INVALID_CONFIG;
}

/* Applies one checked change. Returns 0 or -1 (out of memory). */
static int apply_one(struct cfgset *s, const struct cfg_change *c, cfgset_base_fn base, void *arg)
{
	char cur[LIST_MAX], out[LIST_MAX];
	if (c->op == CFG_OP_SET || c->op == CFG_OP_DELETE)
		return put(s, c->key, c->op == CFG_OP_SET ? c->value : NULL);
	struct kv *e = find(s, c->key);
	if (e != NULL)
		snprintf(cur, sizeof cur, "%s", e->value);
	else
		base(arg, c->key, cur, sizeof cur);
	list_edit(cur, c->value, c->op == CFG_OP_APPEND, out, sizeof out);
	return put(s, c->key, out);
}

int cfgset_apply(struct cfgset *s, bool broker, const struct cfg_change *ch, size_t n,
		 cfgset_base_fn base, void *arg, char *err, size_t errlen)
{
	int rc = check_shape(ch, n, err, errlen);
	for (size_t i = 0; rc == KAFKA_NONE && i < n; i++)
		rc = check_key(broker, &ch[i], err, errlen);
	for (size_t i = 0; rc == KAFKA_NONE && i < n; i++) {
		if (apply_one(s, &ch[i], base, arg) != 0) {
			snprintf(err, errlen, "out of memory");
			rc = KAFKA_UNKNOWN_SERVER_ERROR;
		}
	}
	for (size_t i = 0; rc == KAFKA_NONE && i < n; i++)
		rc = check_value(broker, s, ch[i].key, err, errlen);
	return rc;
}
