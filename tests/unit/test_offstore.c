// deps: src/group src/util
/*
 * test_offstore.c — committed offsets in memory: put, get, replace, delete
 * one and a whole group, counts, (topic, partition) order for small and
 * large groups, and a randomised run against a plain array model with
 * enough groups and partitions to make every table grow many times and
 * exercise removal inside long probe runs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group/offstore.h"
#include "unit.h"

/* ------------------------------------------------------------- fixture */

static struct off_value val(int64_t offset, const char *meta)
{
	struct off_value v = { offset, -1, meta, 1700000000000, -1 };
	return v;
}

static struct offstore *store_new(void)
{
	struct offstore *s = offstore_new();
	CHECK(s != NULL);
	return s;
}

/* ------------------------------------------------------------- helpers */

struct walk {
	int n;
	char topics[64][16];
	int32_t parts[64];
	int64_t offsets[64];
	char prev_topic[64];
	int32_t prev_part;
	int out_of_order;
};

static void on_offset(void *arg, const char *topic, int32_t partition, const struct off_value *v)
{
	struct walk *w = arg;
	if (w->n > 0) {
		int c = strcmp(w->prev_topic, topic);
		if (c > 0 || (c == 0 && w->prev_part >= partition))
			w->out_of_order++;
	}
	snprintf(w->prev_topic, sizeof w->prev_topic, "%s", topic);
	w->prev_part = partition;
	if (w->n < 64) {
		snprintf(w->topics[w->n], sizeof w->topics[0], "%s", topic);
		w->parts[w->n] = partition;
		w->offsets[w->n] = v->offset;
	}
	w->n++;
}

struct gwalk { int n; int seen_a, seen_b; };

static void on_group(void *arg, const char *group)
{
	struct gwalk *w = arg;
	w->n++;
	w->seen_a += strcmp(group, "a") == 0;
	w->seen_b += strcmp(group, "b") == 0;
}

/* --------------------------------------------------------- basic calls */

TEST(put_get_copies_strings)
{
	struct offstore *s = store_new();
	char group[] = "g1", topic[] = "t", meta[] = "m1";
	struct off_value v = { 42, 7, meta, 1234, 5678 };
	CHECK_EQ(offstore_put(s, group, topic, 3, &v), 0);
	group[0] = topic[0] = meta[0] = 'X'; /* the store holds its own copies */
	const struct off_value *got = offstore_get(s, "g1", "t", 3);
	CHECK(got != NULL);
	CHECK_EQ(got->offset, 42);
	CHECK_EQ(got->leader_epoch, 7);
	CHECK_STR(got->metadata, "m1");
	CHECK_EQ(got->commit_ts_ms, 1234);
	CHECK_EQ(got->expire_ts_ms, 5678);
	CHECK(offstore_get(s, "g1", "t", 4) == NULL);
	CHECK(offstore_get(s, "g1", "u", 3) == NULL);
	CHECK(offstore_get(s, "g2", "t", 3) == NULL);
	CHECK_EQ(offstore_group_count(s, "g1"), 1);
	CHECK_EQ(offstore_group_count(s, "nope"), 0);
	CHECK_EQ(offstore_ngroups(s), 1);
	offstore_free(s);
}

TEST(null_metadata_is_stored_as_empty)
{
	struct offstore *s = store_new();
	struct off_value v = val(1, NULL);
	CHECK_EQ(offstore_put(s, "g", "t", 0, &v), 0);
	CHECK_STR(offstore_get(s, "g", "t", 0)->metadata, "");
	offstore_free(s);
}

TEST(put_replaces)
{
	struct offstore *s = store_new();
	struct off_value v = val(1, "first");
	CHECK_EQ(offstore_put(s, "g", "t", 0, &v), 0);
	v = val(2, "second, longer metadata");
	CHECK_EQ(offstore_put(s, "g", "t", 0, &v), 0);
	const struct off_value *got = offstore_get(s, "g", "t", 0);
	CHECK_EQ(got->offset, 2);
	CHECK_STR(got->metadata, "second, longer metadata");
	CHECK_EQ(offstore_group_count(s, "g"), 1);
	offstore_free(s);
}

TEST(del_one_and_group_forgotten_with_its_last_offset)
{
	struct offstore *s = store_new();
	struct off_value v = val(5, "");
	CHECK_EQ(offstore_put(s, "g", "t", 0, &v), 0);
	CHECK_EQ(offstore_put(s, "g", "t", 1, &v), 0);
	CHECK_EQ(offstore_put(s, "h", "t", 0, &v), 0);
	CHECK(!offstore_del(s, "g", "t", 2));
	CHECK(!offstore_del(s, "x", "t", 0));
	CHECK(offstore_del(s, "g", "t", 0));
	CHECK(!offstore_del(s, "g", "t", 0));
	CHECK(offstore_get(s, "g", "t", 0) == NULL);
	CHECK(offstore_get(s, "g", "t", 1) != NULL);
	CHECK_EQ(offstore_ngroups(s), 2);
	CHECK(offstore_del(s, "g", "t", 1));
	CHECK_EQ(offstore_ngroups(s), 1);
	CHECK_EQ(offstore_group_count(s, "g"), 0);
	/* A forgotten group comes back on the next put. */
	CHECK_EQ(offstore_put(s, "g", "t", 9, &v), 0);
	CHECK_EQ(offstore_group_count(s, "g"), 1);
	offstore_free(s);
}

TEST(del_group_removes_all_and_counts)
{
	struct offstore *s = store_new();
	struct off_value v = val(5, "meta");
	for (int p = 0; p < 40; p++) {
		CHECK_EQ(offstore_put(s, "big", "t", p, &v), 0);
		CHECK_EQ(offstore_put(s, "other", "t", p, &v), 0);
	}
	CHECK_EQ(offstore_del_group(s, "big"), 40);
	CHECK_EQ(offstore_del_group(s, "big"), 0);
	CHECK_EQ(offstore_del_group(s, "never"), 0);
	CHECK_EQ(offstore_ngroups(s), 1);
	CHECK(offstore_get(s, "big", "t", 3) == NULL);
	CHECK_EQ(offstore_group_count(s, "other"), 40);
	offstore_free(s);
}

TEST(empty_strings_are_keys_too)
{
	struct offstore *s = store_new();
	struct off_value v = val(1, "");
	CHECK_EQ(offstore_put(s, "", "", 0, &v), 0);
	CHECK_EQ(offstore_put(s, "", "t", 0, &v), 0);
	CHECK(offstore_get(s, "", "", 0) != NULL);
	CHECK_EQ(offstore_group_count(s, ""), 2);
	offstore_free(s);
}

/* ------------------------------------------------------------ iteration */

/* A small group (ordered without allocating) and a large one (sorted),
 * inserted in a scrambled order, come out by topic strcmp then partition;
 * negative partitions sort first. */
TEST(foreach_orders_by_topic_then_partition)
{
	static const int sizes[] = { 1, 5, 16, 17, 60 };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		struct offstore *s = store_new();
		static const char *const topics[] = { "b", "a", "ab", "B", "a-" };
		int n = sizes[k];
		for (int i = 0; i < n; i++) {
			int j = (i * 7 + 3) % n; /* a permutation of 0..n-1 (7 is coprime to every n above) */
			char topic[8];
			snprintf(topic, sizeof topic, "%s", topics[j % 5]);
			struct off_value v = val(j, "");
			CHECK_EQ(offstore_put(s, "g", topic, (int32_t)(j / 5) - 2, &v), 0);
		}
		struct walk w = { 0 };
		offstore_foreach(s, "g", on_offset, &w);
		CHECK_EQ(w.n, n);
		CHECK_EQ(w.out_of_order, 0);
		if (n == 60) {
			CHECK_STR(w.topics[0], "B");
			CHECK_EQ(w.parts[0], -2);
			CHECK_STR(w.topics[59], "b");
			CHECK_EQ(w.parts[59], 9);
		}
		offstore_free(s);
	}
}

TEST(foreach_of_unknown_group_calls_nothing)
{
	struct offstore *s = store_new();
	struct walk w = { 0 };
	offstore_foreach(s, "none", on_offset, &w);
	CHECK_EQ(w.n, 0);
	offstore_free(s);
}

TEST(foreach_group_visits_each_once)
{
	struct offstore *s = store_new();
	struct off_value v = val(1, "");
	CHECK_EQ(offstore_put(s, "a", "t", 0, &v), 0);
	CHECK_EQ(offstore_put(s, "a", "t", 1, &v), 0);
	CHECK_EQ(offstore_put(s, "b", "t", 0, &v), 0);
	struct gwalk w = { 0 };
	offstore_foreach_group(s, on_group, &w);
	CHECK_EQ(w.n, 2);
	CHECK_EQ(w.seen_a, 1);
	CHECK_EQ(w.seen_b, 1);
	offstore_free(s);
}

/* ------------------------------------------------------- randomised model */

enum { NG = 300, NT = 4, NP = 40 }; /* 48 000 possible offsets */

struct model {
	int64_t off[NG][NT][NP]; /* -1: absent */
	size_t count[NG];
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static void names(int g, int t, char *group, char *topic)
{
	sprintf(group, "group-%d", g);
	sprintf(topic, "topic.%d", t);
}

static void check_model(const struct offstore *s, const struct model *m)
{
	size_t groups = 0;
	for (int g = 0; g < NG; g++) {
		char group[32], topic[32];
		names(g, 0, group, topic);
		CHECK_EQ(offstore_group_count(s, group), m->count[g]);
		groups += m->count[g] > 0;
		for (int t = 0; t < NT; t++) {
			names(g, t, group, topic);
			for (int p = 0; p < NP; p++) {
				const struct off_value *v = offstore_get(s, group, topic, p);
				if (m->off[g][t][p] < 0) {
					CHECK(v == NULL);
				} else {
					CHECK(v != NULL);
					CHECK_EQ(v->offset, m->off[g][t][p]);
				}
			}
		}
	}
	CHECK_EQ(offstore_ngroups(s), groups);
}

TEST(random_ops_match_a_model)
{
	static struct model m;
	memset(m.off, 0xff, sizeof m.off); /* every offset -1 */
	struct offstore *s = store_new();
	for (int step = 0; step < 200000; step++) {
		int g = (int)rnd(NG), t = (int)rnd(NT), p = (int)rnd(NP);
		char group[32], topic[32];
		names(g, t, group, topic);
		uint32_t op = rnd(100);
		if (op < 70) {
			char meta[32];
			snprintf(meta, sizeof meta, "m%d", step);
			struct off_value v = val(step, meta);
			CHECK_EQ(offstore_put(s, group, topic, p, &v), 0);
			m.count[g] += m.off[g][t][p] < 0;
			m.off[g][t][p] = step;
		} else if (op < 98) {
			CHECK_EQ(offstore_del(s, group, topic, p), m.off[g][t][p] >= 0);
			m.count[g] -= m.off[g][t][p] >= 0;
			m.off[g][t][p] = -1;
		} else if (op < 99) {
			CHECK_EQ(offstore_del_group(s, group), m.count[g]);
			memset(m.off[g], 0xff, sizeof m.off[g]);
			m.count[g] = 0;
		} else {
			const struct off_value *v = offstore_get(s, group, topic, p);
			CHECK_EQ(v != NULL, m.off[g][t][p] >= 0);
		}
		if (step % 50000 == 49999)
			check_model(s, &m);
	}
	check_model(s, &m);
	offstore_free(s);
}

/* Fill far past several doublings, then empty it again in another order. */
TEST(grow_then_drain)
{
	struct offstore *s = store_new();
	enum { N = 5000 };
	char group[32], topic[32];
	for (int i = 0; i < N; i++) {
		names(i, i % 3, group, topic);
		struct off_value v = val(i, "x");
		for (int p = 0; p < 3; p++)
			CHECK_EQ(offstore_put(s, group, topic, p, &v), 0);
	}
	CHECK_EQ(offstore_ngroups(s), N);
	for (int i = N - 1; i >= 0; i -= 2) {
		names(i, i % 3, group, topic);
		for (int p = 0; p < 3; p++)
			CHECK(offstore_del(s, group, topic, p));
	}
	CHECK_EQ(offstore_ngroups(s), N / 2);
	for (int i = 0; i < N; i++) {
		names(i, i % 3, group, topic);
		const struct off_value *v = offstore_get(s, group, topic, 2);
		if (i % 2 == 0) {
			CHECK(v != NULL);
			CHECK_EQ(v->offset, i);
			CHECK_EQ(offstore_del_group(s, group), 3);
		} else {
			CHECK(v == NULL);
		}
	}
	CHECK_EQ(offstore_ngroups(s), 0);
	offstore_free(s);
}

UNIT_MAIN()
