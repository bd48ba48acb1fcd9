// deps: src/group src/util
/*
 * test_txnoff.c — pending transactional offsets in the offset store
 * (offstore.h, "pending"; TxnOffsetCommit): invisible until COMMIT, gone on
 * ABORT; Kafka's mixing rule (the record written later wins, whatever order
 * the marker comes in); two producers on one key; a producer's later commit
 * of a key replaces its earlier one; the marker ends only the groups of its
 * partition; tombstones drop pending offsets written before them only; a
 * failed write is forgotten by its log offset; and a randomised run against
 * a plain array model of the same rules.
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

/* The committed offset of a key, -1 when none. */
static int64_t committed(const struct offstore *s, const char *g, const char *t, int32_t p)
{
	const struct off_value *v = offstore_get(s, g, t, p);
	return v ? v->offset : -1;
}

static int txn_put(struct offstore *s, int64_t pid, const char *g, int32_t p, int64_t offset,
		   int64_t at)
{
	struct off_value v = val(offset, "txn");
	return offstore_txn_put(s, pid, g, "t", p, &v, at);
}

static int put(struct offstore *s, const char *g, int32_t p, int64_t offset, int64_t at)
{
	struct off_value v = val(offset, "plain");
	return offstore_put_at(s, g, "t", p, &v, at);
}

static bool only_group_a(void *arg, const char *group)
{
	(void)arg;
	return strcmp(group, "a") == 0;
}

struct seen { int n; int64_t sum; };

static void on_pending(void *arg, const char *topic, int32_t partition, const struct off_value *v)
{
	struct seen *s = arg;
	(void)topic;
	(void)partition;
	s->n++;
	s->sum += v->offset;
}

/* --------------------------------------------------------------- tests */

TEST(pending_is_invisible_until_commit)
{
	struct offstore *s = store_new();
	CHECK_EQ(txn_put(s, 7, "g", 0, 100, 10), 0);
	CHECK(offstore_get(s, "g", "t", 0) == NULL);
	CHECK_EQ(offstore_group_count(s, "g"), 0);
	CHECK_EQ(offstore_ngroups(s), 0);
	CHECK(offstore_txn_pending(s, "g", "t", 0));
	CHECK(!offstore_txn_pending(s, "g", "t", 1));
	CHECK(!offstore_txn_pending(s, "h", "t", 0));
	CHECK_EQ(offstore_txn_count(s, "g"), 1);
	CHECK_EQ(offstore_txn_end(s, 8, NULL, NULL, true), 0); /* another producer's marker */
	CHECK(offstore_txn_pending(s, "g", "t", 0));
	CHECK_EQ(offstore_txn_end(s, 7, NULL, NULL, true), 1);
	CHECK(!offstore_txn_pending(s, "g", "t", 0));
	CHECK_EQ(committed(s, "g", "t", 0), 100);
	CHECK_STR(offstore_get(s, "g", "t", 0)->metadata, "txn");
	CHECK_EQ(offstore_log_offset(s, "g", "t", 0), 10);
	CHECK_EQ(offstore_txn_count(s, "g"), 0);
	offstore_free(s);
}

TEST(abort_drops_and_keeps_the_committed_offset)
{
	struct offstore *s = store_new();
	CHECK_EQ(put(s, "g", 0, 50, 5), 0);
	CHECK_EQ(txn_put(s, 7, "g", 0, 100, 10), 0);
	CHECK_EQ(committed(s, "g", "t", 0), 50); /* the last committed value meanwhile */
	CHECK_EQ(offstore_txn_end(s, 7, NULL, NULL, false), 1);
	CHECK_EQ(committed(s, "g", "t", 0), 50);
	CHECK(!offstore_txn_pending(s, "g", "t", 0));
	CHECK_EQ(offstore_txn_end(s, 7, NULL, NULL, true), 0); /* nothing left */
	CHECK_EQ(committed(s, "g", "t", 0), 50);
	offstore_free(s);
}

/* Kafka: "we always keep the most recent committed offset when we have a
 * mix of transactional and regular offset commits". */
TEST(regular_commit_written_later_wins_over_the_transaction)
{
	struct offstore *s = store_new();
	CHECK_EQ(txn_put(s, 7, "g", 0, 100, 10), 0);
	CHECK_EQ(put(s, "g", 0, 60, 11), 0);
	CHECK_EQ(offstore_txn_end(s, 7, NULL, NULL, true), 1);
	CHECK_EQ(committed(s, "g", "t", 0), 60);
	CHECK_EQ(offstore_log_offset(s, "g", "t", 0), 11);
	offstore_free(s);
}

TEST(transaction_written_later_wins_over_a_regular_commit)
{
	struct offstore *s = store_new();
	CHECK_EQ(put(s, "g", 0, 60, 9), 0);
	CHECK_EQ(txn_put(s, 7, "g", 0, 100, 10), 0);
	CHECK_EQ(offstore_txn_end(s, 7, NULL, NULL, true), 1);
	CHECK_EQ(committed(s, "g", "t", 0), 100);
	/* A regular commit without a known position (offstore_put) never
	 * beats a transactional one. */
	struct offstore *u = store_new();
	struct off_value v = val(1, "");
	CHECK_EQ(offstore_put(u, "g", "t", 0, &v), 0);
	CHECK_EQ(offstore_log_offset(u, "g", "t", 0), -1);
	CHECK_EQ(txn_put(u, 7, "g", 0, 100, 0), 0);
	CHECK_EQ(offstore_txn_end(u, 7, NULL, NULL, true), 1);
	CHECK_EQ(committed(u, "g", "t", 0), 100);
	offstore_free(u);
	offstore_free(s);
}

TEST(two_producers_on_one_key_later_record_wins_in_any_marker_order)
{
	for (int order = 0; order < 2; order++) {
		struct offstore *s = store_new();
		CHECK_EQ(txn_put(s, 1, "g", 0, 111, 10), 0);
		CHECK_EQ(txn_put(s, 2, "g", 0, 222, 20), 0);
		CHECK_EQ(offstore_txn_count(s, "g"), 2);
		int64_t first = order ? 2 : 1, second = order ? 1 : 2;
		CHECK_EQ(offstore_txn_end(s, first, NULL, NULL, true), 1);
		CHECK(offstore_txn_pending(s, "g", "t", 0)); /* the other one still is */
		CHECK_EQ(offstore_txn_end(s, second, NULL, NULL, true), 1);
		CHECK_EQ(committed(s, "g", "t", 0), 222);
		offstore_free(s);
	}
}

TEST(a_producer_replaces_its_own_pending_offset)
{
	struct offstore *s = store_new();
	CHECK_EQ(txn_put(s, 7, "g", 0, 100, 10), 0);
	CHECK_EQ(txn_put(s, 7, "g", 0, 150, 12), 0);
	CHECK_EQ(txn_put(s, 7, "g", 1, 5, 12), 0);
	CHECK_EQ(offstore_txn_count(s, "g"), 2);
	CHECK_EQ(offstore_txn_end(s, 7, NULL, NULL, true), 2);
	CHECK_EQ(committed(s, "g", "t", 0), 150);
	CHECK_EQ(committed(s, "g", "t", 1), 5);
	offstore_free(s);
}

/* A marker lands in one __consumer_offsets partition: it ends only the
 * producer's offsets of the groups stored there. */
TEST(end_only_touches_the_groups_it_is_asked_for)
{
	struct offstore *s = store_new();
	CHECK_EQ(txn_put(s, 7, "a", 0, 1, 10), 0);
	CHECK_EQ(txn_put(s, 7, "b", 0, 2, 11), 0);
	CHECK_EQ(offstore_txn_end(s, 7, only_group_a, NULL, true), 1);
	CHECK_EQ(committed(s, "a", "t", 0), 1);
	CHECK_EQ(committed(s, "b", "t", 0), -1);
	CHECK(offstore_txn_pending(s, "b", "t", 0));
	CHECK_EQ(offstore_txn_end(s, 7, NULL, NULL, false), 1);
	CHECK(!offstore_txn_pending(s, "b", "t", 0));
	offstore_free(s);
}

TEST(tombstone_drops_only_pending_offsets_written_before_it)
{
	struct offstore *s = store_new();
	CHECK_EQ(txn_put(s, 1, "g", 0, 1, 10), 0);
	CHECK_EQ(txn_put(s, 2, "g", 0, 2, 30), 0);
	CHECK_EQ(txn_put(s, 3, "g", 1, 3, 5), 0);
	CHECK_EQ(txn_put(s, 4, "h", 0, 4, 5), 0);
	CHECK_EQ(offstore_txn_drop(s, "g", "t", 0, 20), 1); /* producer 1's, not 2's */
	CHECK_EQ(offstore_txn_count(s, "g"), 2);
	CHECK_EQ(offstore_txn_end(s, 1, NULL, NULL, true), 0);
	CHECK_EQ(committed(s, "g", "t", 0), -1);
	/* The whole group. */
	CHECK_EQ(offstore_txn_drop(s, "g", NULL, 0, 100), 2);
	CHECK_EQ(offstore_txn_count(s, "g"), 0);
	CHECK_EQ(offstore_txn_count(s, "h"), 1);
	offstore_free(s);
}

TEST(forget_matches_the_failed_write_only)
{
	struct offstore *s = store_new();
	CHECK_EQ(txn_put(s, 7, "g", 0, 1, 10), 0);
	CHECK(!offstore_txn_forget(s, 7, "g", "t", 0, 11)); /* another write of the key */
	CHECK(!offstore_txn_forget(s, 8, "g", "t", 0, 10));
	CHECK(!offstore_txn_forget(s, 7, "g", "t", 1, 10));
	CHECK(offstore_txn_forget(s, 7, "g", "t", 0, 10));
	CHECK(!offstore_txn_pending(s, "g", "t", 0));
	offstore_free(s);
}

TEST(foreach_lists_a_groups_pending_offsets)
{
	struct offstore *s = store_new();
	CHECK_EQ(txn_put(s, 1, "g", 0, 1, 10), 0);
	CHECK_EQ(txn_put(s, 2, "g", 0, 2, 11), 0);
	CHECK_EQ(txn_put(s, 2, "g", 3, 4, 11), 0);
	CHECK_EQ(txn_put(s, 2, "h", 3, 8, 11), 0);
	struct seen w = { 0, 0 };
	offstore_txn_foreach(s, "g", on_pending, &w);
	CHECK_EQ(w.n, 3);
	CHECK_EQ(w.sum, 7);
	offstore_free(s); /* frees pending offsets too (ASan build checks) */
}

/* ------------------------------------------------- randomised vs model */

enum { NG = 2, NP = 3, NPID = 3, STEPS = 20000 };

struct slot { bool set; int64_t offset, at; };
struct model {
	struct slot committed[NG][NP];
	struct slot pending[NPID][NG][NP];
};

static const char *const groups[NG] = { "a", "b" };

static void model_end(struct model *m, int pid, bool commit)
{
	for (int g = 0; g < NG; g++) {
		for (int p = 0; p < NP; p++) {
			struct slot *pe = &m->pending[pid][g][p], *c = &m->committed[g][p];
			if (pe->set && commit && (!c->set || c->at < pe->at))
				*c = *pe;
			pe->set = false;
		}
	}
}

static void check_model(const struct offstore *s, const struct model *m)
{
	for (int g = 0; g < NG; g++) {
		for (int p = 0; p < NP; p++) {
			const struct slot *c = &m->committed[g][p];
			CHECK_EQ(committed(s, groups[g], "t", p), c->set ? c->offset : -1);
			bool pend = false;
			for (int i = 0; i < NPID; i++)
				pend = pend || m->pending[i][g][p].set;
			CHECK_EQ(offstore_txn_pending(s, groups[g], "t", p), pend);
		}
	}
}

TEST(random_operations_match_the_model)
{
	struct offstore *s = store_new();
	struct model m;
	memset(&m, 0, sizeof m);
	srand(4242);
	int64_t at = 0;
	for (int step = 0; step < STEPS; step++) {
		int g = rand() % NG, p = rand() % NP, pid = rand() % NPID, op = rand() % 10;
		int64_t off = rand() % 1000;
		at++;
		if (op < 3) {
			CHECK_EQ(put(s, groups[g], p, off, at), 0);
			m.committed[g][p] = (struct slot){ true, off, at };
		} else if (op < 7) {
			CHECK_EQ(txn_put(s, pid, groups[g], p, off, at), 0);
			m.pending[pid][g][p] = (struct slot){ true, off, at };
		} else if (op < 9) {
			CHECK(offstore_txn_end(s, pid, NULL, NULL, op == 7) >= 0);
			model_end(&m, pid, op == 7);
		} else {
			offstore_del(s, groups[g], "t", p);
			offstore_txn_drop(s, groups[g], "t", p, at);
			m.committed[g][p].set = false;
			for (int i = 0; i < NPID; i++)
				m.pending[i][g][p].set = false;
		}
		check_model(s, &m);
	}
	offstore_free(s);
}

UNIT_MAIN()
