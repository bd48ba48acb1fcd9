/*
 * image.h — the in-memory metadata image (private to src/meta): topic
 * versions, the maps that find them, and the pending-deletion list. meta.c
 * decides what changes; this module keeps the structures consistent and
 * safe for concurrent readers. The rules are in image.c's design note.
 */
#ifndef RUNNEL_META_IMAGE_H
#define RUNNEL_META_IMAGE_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kv;
struct logdir;
struct topic;
struct tver;
struct tslot;

enum { META_MAX_PARTITIONS = 1000000 };

/* Open-addressing hash map of topic versions (linear probing, load <= 1/2). */
struct tmap {
	struct tslot *s;   /* owned; cap slots */
	size_t cap;        /* 0 or a power of two */
	size_t n;          /* occupied slots */
	int kind;          /* which key: name, normalised name, id */
};

struct image {
	pthread_rwlock_t lock;     /* guards the three maps */
	struct tmap by_name;       /* newest version of each live topic, by name */
	struct tmap by_norm;       /* ... by name with '.' mapped to '_' */
	struct tmap by_id;         /* ... by topic id */
	struct logdir *ld;         /* borrowed: plogs are closed/deleted through it */
	pthread_mutex_t del_mu;    /* guards pending */
	pthread_cond_t del_cv;     /* broadcast when a pending deletion finishes */
	struct tver *pending;      /* deleted topics not yet freed (their dirs not yet renamed) */
};

/* Returns 0, or -1 (pthread init failed). */
int image_init(struct image *im, struct logdir *ld);
/* Drops the image's references (the newest versions close their plogs when
 * nobody else holds them). Every other reference must be gone first. */
void image_fini(struct image *im);

/* Lookups (any thread): the newest version, referenced, or NULL. */
struct topic *image_find(struct image *im, const char *name, size_t len);
struct topic *image_find_norm(struct image *im, const char *name, size_t len);
struct topic *image_find_id(struct image *im, const uint8_t id[16]);
/* Every live topic, referenced, sorted by name; NULL with *n = 0 when
 * empty or out of memory. */
struct topic **image_list(struct image *im, size_t *n);

/* A new unpublished version (refs 1, plogs NULL) with copies of name and
 * configs (a repeated key: the last wins; NULL values are skipped).
 * NULL when out of memory. */
struct topic *image_topic_new(struct image *im, const char *name, const uint8_t id[16],
			      int32_t nparts, const struct kv *configs, size_t nconfigs);
/* A new unpublished version of old with nparts (>= old's) partitions,
 * sharing old's plogs (new partitions' plogs NULL), and, when key is
 * non-NULL, the override key set to value (NULL: removed). */
struct topic *image_topic_derive(const struct topic *old, int32_t nparts, const char *key,
				 const char *value);
/* A new unpublished version of old (same partitions, sharing its plogs)
 * whose overrides are exactly configs[0, n). NULL when out of memory. */
struct topic *image_topic_derive_set(const struct topic *old, const struct kv *configs, size_t n);
/* Frees an unpublished version, deleting the plogs of partitions >= from
 * (the ones opened for it; lower ones are borrowed from its predecessor). */
void image_topic_discard(struct topic *t, int32_t from);

/* Mutations: call with meta's mutation mutex held. image_reserve makes room
 * for one more topic so that image_insert cannot fail (call it before the
 * record is written). */
int image_reserve(struct image *im);
/* Publishes t (takes over the caller's reference). */
void image_insert(struct image *im, struct topic *t);
/* Publishes nt in old's place (takes over the caller's reference to nt;
 * drops the image's reference to old, which then keeps nt alive). */
void image_replace(struct image *im, struct topic *old, struct topic *nt);
/* Unpublishes t and marks it deleted: when its last reference goes, its
 * plogs are deleted and its name leaves the pending list. */
void image_remove(struct image *im, struct topic *t);
/* Waits until no deletion of a topic called name is pending. Returns true,
 * or false after timeout_ms. */
bool image_pending_wait(struct image *im, const char *name, int64_t timeout_ms);
#endif
