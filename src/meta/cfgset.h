/*
 * cfgset.h — a config override set being altered (private to src/meta).
 *
 * meta.c copies a topic's overrides (or a scope's dynamic broker configs)
 * into a cfgset, applies an AlterConfigs / IncrementalAlterConfigs request
 * to it here, and, when everything validated, writes the whole resulting
 * set as one metadata record. Nothing here touches the image or the log:
 * pure functions on the caller's memory, any thread.
 */
#ifndef RUNNEL_META_CFGSET_H
#define RUNNEL_META_CFGSET_H
#include <stdbool.h>
#include <stddef.h>

#include "meta/meta.h"

struct cfgset {
	struct kv *v;   /* owned keys and values (values non-NULL) */
	size_t n;
};

/* Fills s with copies of v[0, n). Returns 0, or -1 (out of memory; s empty). */
int cfgset_init(struct cfgset *s, const struct kv *v, size_t n);
void cfgset_fini(struct cfgset *s);

/* The value APPEND and SUBTRACT start from when s has no entry for key
 * (the effective value without this set). Writes text to out. */
typedef void (*cfgset_base_fn)(void *arg, const char *key, char *out, size_t outlen);

/* Applies the changes ch[0, n) to s: keys are topic keys (broker false) or
 * dynamically alterable broker keys (broker true). On failure s is left
 * partly changed: the caller discards it. Returns KAFKA_NONE, KAFKA_INVALID_REQUEST (bad op, a key
 * twice, SET with a null value, APPEND/SUBTRACT on a key that is not a
 * list) or KAFKA_INVALID_CONFIG (unknown key, a broker key that cannot
 * change at run time, a bad resulting value), with Kafka's message in err. */
int cfgset_apply(struct cfgset *s, bool broker, const struct cfg_change *ch, size_t n,
		 cfgset_base_fn base, void *arg, char *err, size_t errlen);

/* True when the two sets hold the same keys with the same values. */
bool cfgset_same(const struct kv *a, size_t na, const struct kv *b, size_t nb);
#endif
