/*
 * image.c — the in-memory metadata image: topic versions and their maps.
 *
 * Topic versions. A struct topic handed out by a lookup never changes. A
 * mutation of an existing topic (more partitions, a config override) builds
 * a new version — same name and id, its own partition structs pointing at
 * the same plogs — and swaps it into the maps. So request handlers read
 * t->npartitions, t->parts and t->configs without any lock and see one
 * consistent topic for the whole request, even while it is being changed.
 *
 *   image -> A            image_replace(A, B)        image -> B
 *                         A.successor = B (ref)      A (held by a reader) -> B
 *
 * Invariants:
 *  1. The maps hold exactly the newest version of every live topic, and the
 *     image holds one reference on each.
 *  2. A replaced version holds a reference on its successor, so a chain is
 *     freed oldest first and the newest version is freed last.
 *  3. The plogs belong to the newest version; only its free touches them:
 *     logdir_plog_delete when the topic was deleted, logdir_plog_close
 *     otherwise (meta_close). Older versions borrow them, and may because of 2.
 *  4. A deleted topic's newest version is on the pending list from
 *     image_remove until its free has deleted (renamed away) its partition
 *     dirs; a topic of the same name is created only after that
 *     (image_pending_wait), so it never opens the old one's files.
 *  5. Map slots: linear probing, capacity a power of two, load <= 1/2, so
 *     every probe ends at an empty slot; deletion shifts back (no
 *     tombstones).
 *
 * Locks: im->lock (rwlock) guards the maps: shared for lookups, exclusive
 * for insert/replace/remove (called by meta.c with its mutation mutex held,
 * so the writer side never contends with another writer). del_mu guards
 * the pending list and is never held with another lock.
 */
#include "meta/image.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log/plog.h"
#include "meta/meta.h"
#include "util/log.h"
#include "util/par.h"

enum { K_NAME, K_NORM, K_ID };

struct tver {
	struct topic pub;           /* what lookups hand out; first member */
	struct partition *pblock;   /* owned: the pub.npartitions partition structs */
	size_t name_len;
	char *norm;                 /* owned: name with '.' mapped to '_' */
	struct tver *successor;     /* referenced newer version; NULL while newest */
	struct image *im;           /* borrowed: the ld and the pending list */
	atomic_bool deleted;        /* set by image_remove */
	struct tver *next_pending;  /* link in im->pending, under del_mu */
};

struct tslot {
	struct tver *v;             /* NULL: empty */
	uint64_t h;                 /* hash of v's key for this map */
};

static struct tver *tv(struct topic *t) { return (struct tver *)t; }

/* ============================================================== versions */

static void kvs_free(struct kv *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].value);
	}
	free(v);
}

/* Sets key to a copy of value in the array (NULL value: removes key).
 * Returns 0 or -1 (out of memory, array unchanged). */
static int kvs_put(struct kv **v, size_t *n, const char *key, const char *value)
{
	size_t i = 0;
	while (i < *n && strcmp((*v)[i].key, key) != 0)
		i++;
	if (value == NULL) {
		if (i < *n) {
			free((*v)[i].key);
			free((*v)[i].value);
			(*v)[i] = (*v)[--*n];
		}
		return 0;
	}
	char *val = strdup(value);
	if (val == NULL)
		return -1;
	if (i < *n) {
		free((*v)[i].value);
		(*v)[i].value = val;
		return 0;
	}
	struct kv *nv = realloc(*v, (*n + 1) * sizeof **v);
	char *k = strdup(key);
	if (nv != NULL)
		*v = nv;
	if (nv == NULL || k == NULL) {
		free(val);
		free(k);
		return -1;
	}
	(*v)[(*n)++] = (struct kv){ k, val };
	return 0;
}

static void ver_free_mem(struct tver *v)
{
	free(v->pub.name);
	free(v->norm);
	free(v->pub.parts);
	free(v->pblock);
	kvs_free(v->pub.configs, v->pub.nconfigs);
	free(v);
}

/* Allocates a version with nparts partitions (plogs NULL) and copies of
 * name; no configs yet. */
static struct tver *ver_alloc(struct image *im, const char *name, const uint8_t id[16], int32_t nparts)
{
	struct tver *v = calloc(1, sizeof *v);
	if (v == NULL)
		return NULL;
	v->im = im;
	v->name_len = strlen(name);
	v->pub.name = strdup(name);
	v->norm = strdup(name);
	v->pub.parts = calloc((size_t)nparts, sizeof *v->pub.parts);
	v->pblock = calloc((size_t)nparts, sizeof *v->pblock);
	if (v->pub.name == NULL || v->norm == NULL || (nparts > 0 && (!v->pub.parts || !v->pblock))) {
		ver_free_mem(v);
		return NULL;
	}
	for (char *c = v->norm; *c; c++)
		if (*c == '.')
			*c = '_';
	memcpy(v->pub.id, id, 16);
	v->pub.npartitions = nparts;
	v->pub.internal = strncmp(name, "__", 2) == 0;
	atomic_init(&v->pub.refs, 1);
	atomic_init(&v->deleted, false);
	for (int32_t i = 0; i < nparts; i++) {
		v->pblock[i] = (struct partition){ .topic = &v->pub, .index = i };
		v->pub.parts[i] = &v->pblock[i];
	}
	return v;
}

struct topic *image_topic_new(struct image *im, const char *name, const uint8_t id[16],
			      int32_t nparts, const struct kv *configs, size_t nconfigs)
{
	struct tver *v = ver_alloc(im, name, id, nparts);
	for (size_t i = 0; v != NULL && i < nconfigs; i++) {
		if (configs[i].key != NULL && configs[i].value != NULL &&
		    kvs_put(&v->pub.configs, &v->pub.nconfigs, configs[i].key, configs[i].value) != 0) {
			ver_free_mem(v);
			v = NULL;
		}
	}
	return v ? &v->pub : NULL;
}

struct topic *image_topic_derive(const struct topic *old, int32_t nparts, const char *key,
				 const char *value)
{
	struct tver *o = tv((struct topic *)old);
	struct topic *nt = image_topic_new(o->im, old->name, old->id, nparts, old->configs, old->nconfigs);
	if (nt == NULL)
		return NULL;
	if (key != NULL && kvs_put(&nt->configs, &nt->nconfigs, key, value) != 0) {
		ver_free_mem(tv(nt));
		return NULL;
	}
	for (int32_t i = 0; i < old->npartitions && i < nparts; i++) {
		nt->parts[i]->log = old->parts[i]->log;
		nt->parts[i]->leader_epoch = old->parts[i]->leader_epoch;
	}
	return nt;
}

struct topic *image_topic_derive_set(const struct topic *old, const struct kv *configs, size_t n)
{
	struct tver *o = tv((struct topic *)old);
	struct topic *nt = image_topic_new(o->im, old->name, old->id, old->npartitions, configs, n);
	for (int32_t i = 0; nt != NULL && i < old->npartitions; i++) {
		nt->parts[i]->log = old->parts[i]->log;
		nt->parts[i]->leader_epoch = old->parts[i]->leader_epoch;
	}
	return nt;
}

void image_topic_discard(struct topic *t, int32_t from)
{
	struct tver *v = tv(t);
	for (int32_t i = from; i < t->npartitions; i++)
		if (t->parts[i]->log != NULL)
			logdir_plog_delete(v->im->ld, t->parts[i]->log);
	ver_free_mem(v);
}

/* Takes v off the pending list and wakes creators waiting for its name. */
static void pending_done(struct tver *v)
{
	struct image *im = v->im;
	pthread_mutex_lock(&im->del_mu);
	for (struct tver **pp = &im->pending; *pp; pp = &(*pp)->next_pending) {
		if (*pp == v) {
			*pp = v->next_pending;
			break;
		}
	}
	pthread_cond_broadcast(&im->del_cv);
	pthread_mutex_unlock(&im->del_mu);
}

/* Closing (or deleting) a partition log waits for its fsyncs: with
 * thousands of partitions one at a time, a clean stop took 12-30 s
 * (4,000 partitions, bench/scale), so up to RELEASE_THREADS threads share
 * the work (par_for). */
enum { RELEASE_THREADS = 8 };

struct release_job {
	struct tver *v;
	bool deleted;
};

/* par_fn: closes or deletes partition i's log. */
static bool release_index(void *arg, int32_t i)
{
	struct release_job *j = arg;
	struct plog *pl = j->v->pub.parts[i]->log;
	if (pl != NULL && j->deleted)
		logdir_plog_delete(j->v->im->ld, pl);
	else if (pl != NULL)
		logdir_plog_close(j->v->im->ld, pl);
	return true;
}

/* The newest version's end (invariant 3). */
static void ver_release_logs(struct tver *v)
{
	struct release_job j = { .v = v, .deleted = atomic_load(&v->deleted) };
	par_for(0, v->pub.npartitions, RELEASE_THREADS, release_index, &j);
	if (j.deleted)
		pending_done(v);
}

/* Frees v and every successor whose last reference v held (invariant 2),
 * iteratively so a long chain cannot exhaust the stack. */
static void ver_free(struct tver *v)
{
	while (v != NULL) {
		struct tver *next = v->successor;
		if (next == NULL)
			ver_release_logs(v);
		ver_free_mem(v);
		if (next == NULL || atomic_fetch_sub_explicit(&next->pub.refs, 1, memory_order_acq_rel) != 1)
			break;
		v = next;
	}
}

void topic_ref(struct topic *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

void topic_unref(struct topic *t)
{
	if (t != NULL && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		ver_free(tv(t));
}

/* ================================================================== maps */

static uint64_t hash_bytes(const void *p, size_t n)
{
	const uint8_t *q = p;
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= q[i];
		h *= 1099511628211ull;
	}
	return h ^ (h >> 29);
}

static const void *tv_key(int kind, const struct tver *v, size_t *len)
{
	if (kind == K_ID) {
		*len = 16;
		return v->pub.id;
	}
	*len = v->name_len;
	return kind == K_NAME ? v->pub.name : v->norm;
}

static uint64_t tv_hash(int kind, const struct tver *v)
{
	size_t len;
	const void *k = tv_key(kind, v, &len);
	return hash_bytes(k, len);
}

/* Index of the slot holding key, or SIZE_MAX. */
static size_t tmap_find(const struct tmap *mp, const void *key, size_t len)
{
	if (mp->cap == 0)
		return SIZE_MAX;
	uint64_t h = hash_bytes(key, len);
	size_t mask = mp->cap - 1;
	for (size_t i = h & mask; mp->s[i].v != NULL; i = (i + 1) & mask) {
		size_t kl;
		const void *k = tv_key(mp->kind, mp->s[i].v, &kl);
		if (mp->s[i].h == h && kl == len && memcmp(k, key, len) == 0)
			return i;
	}
	return SIZE_MAX;
}

/* Index of the slot holding exactly v (which must be present). */
static size_t tmap_slot_of(const struct tmap *mp, const struct tver *v)
{
	size_t mask = mp->cap - 1;
	size_t i = tv_hash(mp->kind, v) & mask;
	while (mp->s[i].v != v)
		i = (i + 1) & mask;
	return i;
}

static void tmap_place(struct tslot *s, size_t cap, struct tver *v, uint64_t h)
{
	size_t i = h & (cap - 1);
	while (s[i].v != NULL)
		i = (i + 1) & (cap - 1);
	s[i] = (struct tslot){ v, h };
}

/* Grows so that one more entry keeps the load <= 1/2. Returns 0 or -1. */
static int tmap_reserve(struct tmap *mp)
{
	if ((mp->n + 1) * 2 <= mp->cap)
		return 0;
	size_t cap = mp->cap ? mp->cap * 2 : 16;
	struct tslot *s = calloc(cap, sizeof *s);
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < mp->cap; i++)
		if (mp->s[i].v != NULL)
			tmap_place(s, cap, mp->s[i].v, mp->s[i].h);
	free(mp->s);
	mp->s = s;
	mp->cap = cap;
	return 0;
}

static void tmap_put(struct tmap *mp, struct tver *v)
{
	tmap_place(mp->s, mp->cap, v, tv_hash(mp->kind, v));
	mp->n++;
}

/* Removes v, shifting later entries of the run back (invariant 5). */
static void tmap_del(struct tmap *mp, struct tver *v)
{
	size_t mask = mp->cap - 1, i = tmap_slot_of(mp, v), j = i;
	for (;;) {
		j = (j + 1) & mask;
		if (mp->s[j].v == NULL)
			break;
		size_t home = mp->s[j].h & mask;
		/* s[j] may fill the hole at i unless its home lies in (i, j] */
		bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			mp->s[i] = mp->s[j];
			i = j;
		}
	}
	mp->s[i].v = NULL;
	mp->n--;
}

static void tmap_swap(struct tmap *mp, struct tver *old, struct tver *nv)
{
	mp->s[tmap_slot_of(mp, old)].v = nv;
}

/* ================================================================= image */

int image_init(struct image *im, struct logdir *ld)
{
	pthread_condattr_t ca;
	memset(im, 0, sizeof *im);
	im->ld = ld;
	im->by_name.kind = K_NAME;
	im->by_norm.kind = K_NORM;
	im->by_id.kind = K_ID;
	if (pthread_condattr_init(&ca) != 0)
		return -1;
	/* deadlines on the monotonic clock: a wall-clock step cannot stretch a wait */
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_rwlock_init(&im->lock, NULL) | pthread_mutex_init(&im->del_mu, NULL) |
		 pthread_cond_init(&im->del_cv, &ca);
	pthread_condattr_destroy(&ca);
	return rc ? -1 : 0;
}

void image_fini(struct image *im)
{
	struct tmap *mp = &im->by_name;
	struct tslot *slots = mp->s;
	size_t cap = mp->cap;
	if (im->pending != NULL)
		log_warn("meta", "closing while topic %s is still referenced after its deletion",
			 im->pending->pub.name);
	free(im->by_norm.s);
	free(im->by_id.s);
	memset(&im->by_name, 0, sizeof im->by_name);
	memset(&im->by_norm, 0, sizeof im->by_norm);
	memset(&im->by_id, 0, sizeof im->by_id);
	for (size_t i = 0; i < cap; i++)
		if (slots[i].v != NULL)
			topic_unref(&slots[i].v->pub);
	free(slots);
	pthread_rwlock_destroy(&im->lock);
	pthread_cond_destroy(&im->del_cv);
	pthread_mutex_destroy(&im->del_mu);
}

/* Looks key up in mp under the read lock; returns a referenced topic. */
static struct topic *image_lookup(struct image *im, struct tmap *mp, const void *key, size_t len)
{
	struct topic *t = NULL;
	pthread_rwlock_rdlock(&im->lock);
	size_t i = tmap_find(mp, key, len);
	if (i != SIZE_MAX) {
		t = &mp->s[i].v->pub;
		topic_ref(t);
	}
	pthread_rwlock_unlock(&im->lock);
	return t;
}

struct topic *image_find(struct image *im, const char *name, size_t len)
{
	return name != NULL && len > 0 ? image_lookup(im, &im->by_name, name, len) : NULL;
}

struct topic *image_find_norm(struct image *im, const char *name, size_t len)
{
	char norm[256];
	if (name == NULL || len == 0 || len >= sizeof norm)
		return NULL;
	for (size_t i = 0; i < len; i++)
		norm[i] = name[i] == '.' ? '_' : name[i];
	return image_lookup(im, &im->by_norm, norm, len);
}

struct topic *image_find_id(struct image *im, const uint8_t id[16])
{
	return image_lookup(im, &im->by_id, id, 16);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp((*(struct topic *const *)a)->name, (*(struct topic *const *)b)->name);
}

struct topic **image_list(struct image *im, size_t *n)
{
	struct topic **v = NULL;
	size_t k = 0;
	pthread_rwlock_rdlock(&im->lock);
	if (im->by_name.n > 0)
		v = malloc(im->by_name.n * sizeof *v);
	for (size_t i = 0; v != NULL && i < im->by_name.cap; i++) {
		if (im->by_name.s[i].v != NULL) {
			v[k] = &im->by_name.s[i].v->pub;
			topic_ref(v[k++]);
		}
	}
	pthread_rwlock_unlock(&im->lock);
	if (k > 1)
		qsort(v, k, sizeof *v, cmp_name);
	*n = k;
	return v;
}

int image_reserve(struct image *im)
{
	pthread_rwlock_wrlock(&im->lock);
	int rc = tmap_reserve(&im->by_name) | tmap_reserve(&im->by_norm) | tmap_reserve(&im->by_id);
	pthread_rwlock_unlock(&im->lock);
	return rc ? -1 : 0;
}

void image_insert(struct image *im, struct topic *t)
{
	pthread_rwlock_wrlock(&im->lock);
	tmap_put(&im->by_name, tv(t));
	tmap_put(&im->by_norm, tv(t));
	tmap_put(&im->by_id, tv(t));
	pthread_rwlock_unlock(&im->lock);
}

void image_replace(struct image *im, struct topic *old, struct topic *nt)
{
	pthread_rwlock_wrlock(&im->lock);
	tmap_swap(&im->by_name, tv(old), tv(nt));
	tmap_swap(&im->by_norm, tv(old), tv(nt));
	tmap_swap(&im->by_id, tv(old), tv(nt));
	pthread_rwlock_unlock(&im->lock);
	/* invariant 2: old keeps nt alive, so nt's plogs outlive old's readers */
	tv(old)->successor = tv(nt);
	topic_ref(nt);
	topic_unref(old);
}

void image_remove(struct image *im, struct topic *t)
{
	struct tver *v = tv(t);
	pthread_mutex_lock(&im->del_mu);
	v->next_pending = im->pending;
	im->pending = v;
	pthread_mutex_unlock(&im->del_mu);
	pthread_rwlock_wrlock(&im->lock);
	tmap_del(&im->by_name, v);
	tmap_del(&im->by_norm, v);
	tmap_del(&im->by_id, v);
	pthread_rwlock_unlock(&im->lock);
	atomic_store(&v->deleted, true);
	topic_unref(t);
}

/* True when a deletion of name is pending; call with del_mu held. */
static bool pending_has(const struct image *im, const char *name)
{
	for (const struct tver *p = im->pending; p; p = p->next_pending)
		if (strcmp(p->pub.name, name) == 0)
			return true;
	return false;
}

bool image_pending_wait(struct image *im, const char *name, int64_t timeout_ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (timeout_ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&im->del_mu);
	bool busy = pending_has(im, name);
	while (busy && pthread_cond_timedwait(&im->del_cv, &im->del_mu, &dl) == 0)
		busy = pending_has(im, name);
	busy = busy && pending_has(im, name);
	pthread_mutex_unlock(&im->del_mu);
	return !busy;
}
