/*
 * offstore.c — committed offsets in memory (offstore.h).
 *
 * Two levels of the same small open-addressing hash table (struct otab):
 *
 *   offstore.groups   ogroup by group id
 *     ogroup.offsets  oentry by (topic, partition); the entry holds the
 *                     off_value, its metadata copy and the topic copy
 *
 * A table is an array of cap slots (cap 0, or a power of two >= 8), each
 * NULL or a pointer to a node whose first member is `struct onode` (its
 * hash). Linear probing from the home slot, hash & (cap - 1).
 *
 * Invariants:
 *  1. n * 4 <= cap * 3: a probe always ends at an empty slot.
 *  2. No tombstones. Removal shifts the rest of the probe run back
 *     (otab_remove_at), so every node lies between its home slot and the
 *     first empty slot after it — the property lookups stop on.
 *  3. A group is in the store exactly when it has at least one offset
 *     (offstore_del forgets a group whose last offset goes).
 *  4. A node owns its strings: the group id and the topic live in the
 *     node's own allocation; metadata is allocated apart because a replace
 *     changes it, and v.metadata always points at it.
 *
 * Hashing: FNV-1a started from a per-store random seed, then a 64-bit
 * finaliser so the slot index depends on every byte. Group ids and topics
 * come from clients; without the seed a client could pick ids that all land
 * in one probe run and turn O(1) into O(n).
 *
 * Out of memory: offstore_put allocates (and grows tables) before it links
 * anything in, and frees what it got when a later step fails, so the
 * contents are unchanged (a table may have grown; that is capacity only).
 *
 * Order: offstore_foreach sorts an array of entry pointers with qsort. A
 * small group (ORDER_SMALL entries or fewer), or any group when that array
 * cannot be allocated, is walked by repeated selection of the next larger
 * entry instead: O(n^2) compares but no memory, so iteration never fails.
 *
 * Tables never shrink except by a group going away (its table with it).
 *
 * Pending transactional offsets (offstore.h) live apart, in one singly
 * linked list of struct opending (each owns its group, topic and metadata
 * copies). They are few — offsets of transactions in flight — and each
 * lives only until its transaction's marker, so a list scan is cheaper than
 * keeping a second index; they never touch the tables above (invariant 3
 * counts committed offsets only).
 *
 * Threads: none of its own; the coordinator thread alone calls in.
 */
#include "group/offstore.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

enum {
	OTAB_MIN_CAP = 8,
	ORDER_SMALL = 16, /* groups this small are ordered without allocating */
};

/* ================================================================= table */

struct onode {
	uint64_t hash; /* of the node's key; the table's only view of it */
};

struct otab {
	struct onode **slot; /* owned array of cap pointers; NULL: empty */
	size_t cap;          /* 0 or a power of two */
	size_t n;            /* nodes held */
};

typedef bool (*otab_eq_fn)(const struct onode *node, const void *key);

/* Slot index of the node with this hash and key, or SIZE_MAX. */
static size_t otab_find(const struct otab *t, uint64_t hash, otab_eq_fn eq, const void *key)
{
	if (t->cap == 0)
		return SIZE_MAX;
	size_t mask = t->cap - 1;
	for (size_t i = hash & mask; t->slot[i] != NULL; i = (i + 1) & mask) {
		if (t->slot[i]->hash == hash && eq(t->slot[i], key))
			return i;
	}
	return SIZE_MAX;
}

/* Puts a node whose key is not in the table into the first empty slot of
 * its probe run. The caller has made room (otab_reserve). */
static void otab_add(struct otab *t, struct onode *node)
{
	size_t mask = t->cap - 1, i = node->hash & mask;
	while (t->slot[i] != NULL)
		i = (i + 1) & mask;
	t->slot[i] = node;
	t->n++;
}

/* Makes room for one more node (invariant 1), doubling and rehashing when
 * needed. Returns false when out of memory; the table is then unchanged. */
static bool otab_reserve(struct otab *t)
{
	if ((t->n + 1) * 4 <= t->cap * 3)
		return true;
	struct otab bigger = { NULL, t->cap ? t->cap * 2 : OTAB_MIN_CAP, 0 };
	bigger.slot = calloc(bigger.cap, sizeof *bigger.slot);
	if (bigger.slot == NULL)
		return false;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slot[i] != NULL)
			otab_add(&bigger, t->slot[i]);
	free(t->slot);
	*t = bigger;
	return true;
}

/* Empties slot i and moves later members of its probe run back into the
 * hole when their home slot is not between the hole and them (invariant 2). */
static void otab_remove_at(struct otab *t, size_t i)
{
	size_t mask = t->cap - 1, hole = i;
	for (size_t j = (i + 1) & mask; t->slot[j] != NULL; j = (j + 1) & mask) {
		size_t home = t->slot[j]->hash & mask;
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			t->slot[hole] = t->slot[j];
			hole = j;
		}
	}
	t->slot[hole] = NULL;
	t->n--;
}

/* ================================================================= nodes */

struct oentry {
	struct onode node;     /* first: what the table points at */
	int32_t partition;
	char *metadata;        /* owned; v.metadata == metadata */
	struct off_value v;
	int64_t log_offset;    /* of its record; -1: unknown */
	char topic[];          /* owned with the entry */
};

struct ogroup {
	struct onode node;     /* first: what the table points at */
	struct otab offsets;   /* of struct oentry */
	char id[];             /* owned with the group */
};

/* One pending transactional offset (offstore.h, "pending"). */
struct opending {
	struct opending *next; /* in offstore.pending */
	int64_t pid;
	int32_t partition;
	char *metadata;        /* owned; v.metadata == metadata */
	struct off_value v;
	int64_t log_offset;    /* of its record */
	const char *topic;     /* into name[], after the group's NUL */
	char name[];           /* "<group>\0<topic>\0", owned with the entry */
};

struct offstore {
	struct otab groups;    /* of struct ogroup */
	uint64_t seed;         /* random per store: see "Hashing" */
	struct opending *pending; /* list, newest first; see offstore.h */
};

struct ekey {
	const char *topic;
	int32_t partition;
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint64_t fnv1a(uint64_t seed, const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;
	for (; *s != '\0'; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t group_hash(const struct offstore *s, const char *id)
{
	return mix64(fnv1a(s->seed, id));
}

/* Partitions of one topic differ before mixing, so they never collide. */
static uint64_t entry_hash(const struct offstore *s, const char *topic, int32_t partition)
{
	return mix64(fnv1a(s->seed, topic) + (uint32_t)partition);
}

static bool group_eq(const struct onode *node, const void *key)
{
	return strcmp(((const struct ogroup *)node)->id, key) == 0;
}

static bool entry_eq(const struct onode *node, const void *key)
{
	const struct oentry *e = (const struct oentry *)node;
	const struct ekey *k = key;
	return e->partition == k->partition && strcmp(e->topic, k->topic) == 0;
}

static void group_destroy(struct ogroup *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->offsets.cap; i++) {
		struct oentry *e = (struct oentry *)g->offsets.slot[i];
		if (e != NULL) {
			free(e->metadata);
			free(e);
		}
	}
	free(g->offsets.slot);
	free(g);
}

static struct ogroup *group_find(const struct offstore *s, const char *id, size_t *slot)
{
	size_t i = otab_find(&s->groups, group_hash(s, id), group_eq, id);
	if (slot != NULL)
		*slot = i;
	return i == SIZE_MAX ? NULL : (struct ogroup *)s->groups.slot[i];
}

static struct oentry *entry_find(const struct offstore *s, const struct ogroup *g,
                                 const char *topic, int32_t partition, size_t *slot)
{
	struct ekey k = { topic, partition };
	size_t i = otab_find(&g->offsets, entry_hash(s, topic, partition), entry_eq, &k);
	if (slot != NULL)
		*slot = i;
	return i == SIZE_MAX ? NULL : (struct oentry *)g->offsets.slot[i];
}

/* Gives the entry value v with the already-copied metadata meta (owned). */
static void entry_set(struct oentry *e, const struct off_value *v, char *meta, int64_t log_offset)
{
	free(e->metadata);
	e->metadata = meta;
	e->v = *v;
	e->v.metadata = meta;
	e->log_offset = log_offset;
}

/* ============================================================ store API */

struct offstore *offstore_new(void)
{
	struct offstore *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	if (getrandom(&s->seed, sizeof s->seed, GRND_NONBLOCK) != (ssize_t)sizeof s->seed)
		s->seed = mix64((uint64_t)(uintptr_t)s ^ (uint64_t)time(NULL)); /* weaker, still varies */
	return s;
}

void offstore_free(struct offstore *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->groups.cap; i++)
		group_destroy((struct ogroup *)s->groups.slot[i]);
	free(s->groups.slot);
	while (s->pending != NULL) {
		struct opending *p = s->pending;
		s->pending = p->next;
		free(p->metadata);
		free(p);
	}
	free(s);
}

/* A new, empty, unlinked group; NULL when out of memory. */
static struct ogroup *group_alloc(const struct offstore *s, const char *id)
{
	size_t len = strlen(id);
	struct ogroup *g = calloc(1, sizeof *g + len + 1);
	if (g == NULL)
		return NULL;
	g->node.hash = group_hash(s, id);
	memcpy(g->id, id, len + 1);
	return g;
}

/* A new entry not yet in any table, value unset; NULL when out of memory. */
static struct oentry *entry_alloc(const struct offstore *s, const char *topic, int32_t partition)
{
	size_t len = strlen(topic);
	struct oentry *e = calloc(1, sizeof *e + len + 1);
	if (e == NULL)
		return NULL;
	e->node.hash = entry_hash(s, topic, partition);
	e->partition = partition;
	memcpy(e->topic, topic, len + 1);
	return e;
}

int offstore_put(struct offstore *s, const char *group, const char *topic, int32_t partition,
                 const struct off_value *v)
{
	return offstore_put_at(s, group, topic, partition, v, -1);
}

int offstore_put_at(struct offstore *s, const char *group, const char *topic, int32_t partition,
                    const struct off_value *v, int64_t log_offset)
{
	struct ogroup *fresh = NULL;
	struct ogroup *g = group_find(s, group, NULL);
	char *meta = strdup(v->metadata != NULL ? v->metadata : "");
	if (meta == NULL)
		return -1;
	if (g == NULL) {
		if (!otab_reserve(&s->groups) || (fresh = g = group_alloc(s, group)) == NULL)
			goto fail;
	}
	struct oentry *e = entry_find(s, g, topic, partition, NULL);
	if (e != NULL) { /* only in a group that was already there */
		entry_set(e, v, meta, log_offset);
		return 0;
	}
	if (!otab_reserve(&g->offsets) || (e = entry_alloc(s, topic, partition)) == NULL)
		goto fail;
	entry_set(e, v, meta, log_offset);
	otab_add(&g->offsets, &e->node);
	if (fresh != NULL)
		otab_add(&s->groups, &fresh->node);
	return 0;
fail:
	free(meta);
	group_destroy(fresh);
	return -1;
}

const struct off_value *offstore_get(const struct offstore *s, const char *group,
                                     const char *topic, int32_t partition)
{
	const struct ogroup *g = group_find(s, group, NULL);
	const struct oentry *e = g ? entry_find(s, g, topic, partition, NULL) : NULL;
	return e ? &e->v : NULL;
}

int64_t offstore_log_offset(const struct offstore *s, const char *group, const char *topic,
                            int32_t partition)
{
	const struct ogroup *g = group_find(s, group, NULL);
	const struct oentry *e = g ? entry_find(s, g, topic, partition, NULL) : NULL;
	return e ? e->log_offset : -1;
}

bool offstore_del(struct offstore *s, const char *group, const char *topic, int32_t partition)
{
	size_t gslot, eslot;
	struct ogroup *g = group_find(s, group, &gslot);
	struct oentry *e = g ? entry_find(s, g, topic, partition, &eslot) : NULL;
	if (e == NULL)
		return false;
	otab_remove_at(&g->offsets, eslot);
	free(e->metadata);
	free(e);
	if (g->offsets.n == 0) { /* invariant 3 */
		otab_remove_at(&s->groups, gslot);
		group_destroy(g);
	}
	return true;
}

size_t offstore_del_group(struct offstore *s, const char *group)
{
	size_t gslot;
	struct ogroup *g = group_find(s, group, &gslot);
	if (g == NULL)
		return 0;
	size_t n = g->offsets.n;
	otab_remove_at(&s->groups, gslot);
	group_destroy(g);
	return n;
}

size_t offstore_group_count(const struct offstore *s, const char *group)
{
	const struct ogroup *g = group_find(s, group, NULL);
	return g ? g->offsets.n : 0;
}

size_t offstore_ngroups(const struct offstore *s)
{
	return s->groups.n;
}

/* ============================================================= iteration */

static int entry_cmp(const struct oentry *a, const struct oentry *b)
{
	int c = strcmp(a->topic, b->topic);
	if (c != 0)
		return c;
	return (a->partition > b->partition) - (a->partition < b->partition);
}

static int entry_qsort_cmp(const void *a, const void *b)
{
	return entry_cmp(*(const struct oentry *const *)a, *(const struct oentry *const *)b);
}

/* The order without memory: each round picks the smallest entry above the
 * previous one (keys are unique, so that is a strict walk). */
static void foreach_select(const struct ogroup *g, offstore_each_fn fn, void *arg)
{
	const struct oentry *last = NULL;
	for (size_t k = 0; k < g->offsets.n; k++) {
		const struct oentry *best = NULL;
		for (size_t i = 0; i < g->offsets.cap; i++) {
			const struct oentry *e = (const struct oentry *)g->offsets.slot[i];
			if (e != NULL && (last == NULL || entry_cmp(e, last) > 0) &&
			    (best == NULL || entry_cmp(e, best) < 0))
				best = e;
		}
		fn(arg, best->topic, best->partition, &best->v);
		last = best;
	}
}

void offstore_foreach(const struct offstore *s, const char *group, offstore_each_fn fn, void *arg)
{
	const struct ogroup *g = group_find(s, group, NULL);
	if (g == NULL)
		return;
	const struct oentry **all = NULL;
	if (g->offsets.n > ORDER_SMALL)
		all = malloc(g->offsets.n * sizeof *all);
	if (all == NULL) {
		foreach_select(g, fn, arg);
		return;
	}
	size_t n = 0;
	for (size_t i = 0; i < g->offsets.cap; i++)
		if (g->offsets.slot[i] != NULL)
			all[n++] = (const struct oentry *)g->offsets.slot[i];
	qsort(all, n, sizeof *all, entry_qsort_cmp);
	for (size_t i = 0; i < n; i++)
		fn(arg, all[i]->topic, all[i]->partition, &all[i]->v);
	free(all);
}

void offstore_foreach_group(const struct offstore *s, void (*fn)(void *arg, const char *group),
                            void *arg)
{
	for (size_t i = 0; i < s->groups.cap; i++)
		if (s->groups.slot[i] != NULL)
			fn(arg, ((const struct ogroup *)s->groups.slot[i])->id);
}

/* ============================================== pending transactional offsets */

static bool pending_is(const struct opending *p, const char *group, const char *topic,
                       int32_t partition)
{
	return p->partition == partition && strcmp(p->name, group) == 0 && strcmp(p->topic, topic) == 0;
}

/* Unlinks *pp (the link pointing at p) and frees p. */
static void pending_remove(struct opending **pp)
{
	struct opending *p = *pp;
	*pp = p->next;
	free(p->metadata);
	free(p);
}

int offstore_txn_put(struct offstore *s, int64_t pid, const char *group, const char *topic,
                     int32_t partition, const struct off_value *v, int64_t log_offset)
{
	char *meta = strdup(v->metadata != NULL ? v->metadata : "");
	if (meta == NULL)
		return -1;
	for (struct opending *p = s->pending; p != NULL; p = p->next) {
		if (p->pid == pid && pending_is(p, group, topic, partition)) {
			free(p->metadata);
			p->metadata = meta;
			p->v = *v;
			p->v.metadata = meta;
			p->log_offset = log_offset;
			return 0;
		}
	}
	size_t glen = strlen(group), tlen = strlen(topic);
	struct opending *p = calloc(1, sizeof *p + glen + tlen + 2);
	if (p == NULL) {
		free(meta);
		return -1;
	}
	memcpy(p->name, group, glen + 1);
	memcpy(p->name + glen + 1, topic, tlen + 1);
	p->topic = p->name + glen + 1;
	p->pid = pid;
	p->partition = partition;
	p->metadata = meta;
	p->v = *v;
	p->v.metadata = meta;
	p->log_offset = log_offset;
	p->next = s->pending;
	s->pending = p;
	return 0;
}

bool offstore_txn_pending(const struct offstore *s, const char *group, const char *topic,
                          int32_t partition)
{
	for (const struct opending *p = s->pending; p != NULL; p = p->next)
		if (pending_is(p, group, topic, partition))
			return true;
	return false;
}

size_t offstore_txn_count(const struct offstore *s, const char *group)
{
	size_t n = 0;
	for (const struct opending *p = s->pending; p != NULL; p = p->next)
		n += strcmp(p->name, group) == 0;
	return n;
}

/* COMMIT of one pending offset: it wins unless the key's committed offset
 * was written later. Returns 0, or -1 when out of memory. */
static int pending_commit(struct offstore *s, const struct opending *p)
{
	if (offstore_log_offset(s, p->name, p->topic, p->partition) > p->log_offset)
		return 0;
	return offstore_put_at(s, p->name, p->topic, p->partition, &p->v, p->log_offset);
}

ssize_t offstore_txn_end(struct offstore *s, int64_t pid, offstore_group_fn in, void *arg,
                         bool commit)
{
	ssize_t n = 0;
	bool oom = false;
	for (struct opending **pp = &s->pending; *pp != NULL;) {
		struct opending *p = *pp;
		if (p->pid != pid || (in != NULL && !in(arg, p->name))) {
			pp = &p->next;
			continue;
		}
		if (commit && pending_commit(s, p) != 0)
			oom = true;
		pending_remove(pp);
		n++;
	}
	return oom ? -1 : n;
}

size_t offstore_txn_drop(struct offstore *s, const char *group, const char *topic,
                         int32_t partition, int64_t before)
{
	size_t n = 0;
	for (struct opending **pp = &s->pending; *pp != NULL;) {
		struct opending *p = *pp;
		bool key = topic != NULL ? pending_is(p, group, topic, partition) : strcmp(p->name, group) == 0;
		if (key && p->log_offset < before) {
			pending_remove(pp);
			n++;
		} else {
			pp = &p->next;
		}
	}
	return n;
}

bool offstore_txn_forget(struct offstore *s, int64_t pid, const char *group, const char *topic,
                         int32_t partition, int64_t log_offset)
{
	for (struct opending **pp = &s->pending; *pp != NULL; pp = &(*pp)->next) {
		struct opending *p = *pp;
		if (p->pid == pid && p->log_offset == log_offset && pending_is(p, group, topic, partition)) {
			pending_remove(pp);
			return true;
		}
	}
	return false;
}

void offstore_txn_foreach(const struct offstore *s, const char *group, offstore_each_fn fn,
                          void *arg)
{
	for (const struct opending *p = s->pending; p != NULL; p = p->next)
		if (strcmp(p->name, group) == 0)
			fn(arg, p->topic, p->partition, &p->v);
}
