// deps: src/util src/record src/txn
/*
 * test_pstate.c — per-partition producer state (src/txn/pstate.c): each of
 * Kafka's sequence rules (first batch at 0, next sequence, duplicates of the
 * last five answered with their offsets, the sixth-oldest out of order,
 * epoch bump, stale epoch, unknown producer, int32 wrap-around), expiry with
 * a fake clock, truncate_head, the snapshot layout byte by byte, round
 * trips, every truncation and bit flip of a snapshot, the hash map under
 * many inserts and removals, and a randomized run against a plain model.
 * Transactions: transactional batches open one, plain ones of the same
 * producer are refused meanwhile (INVALID_TXN_STATE), unsequenced ones
 * are checked by epoch only, markers close them and may bump the epoch,
 * open ones neither expire nor truncate and survive a snapshot.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "txn/pstate.h"
#include "util/crc32c.h"
#include "util/err.h"

/* ------------------------------------------------------------- helpers */

/* A header as the produce path sees it: count records from sequence seq,
 * already given base offset off. */
static struct batch_hdr hdr(int64_t pid, int16_t epoch, int32_t seq, int32_t count, int64_t off)
{
	struct batch_hdr h;
	memset(&h, 0, sizeof h);
	h.magic = 2;
	h.producer_id = pid;
	h.producer_epoch = epoch;
	h.base_sequence = seq;
	h.records_count = count;
	h.last_offset_delta = count - 1;
	h.base_offset = off;
	h.base_timestamp = 1000 + off;
	h.max_timestamp = 1000 + off + count - 1;
	return h;
}

static int check(const struct pstate *ps, int64_t pid, int16_t epoch, int32_t seq, int32_t count,
		 struct pstate_batch *dup)
{
	struct batch_hdr h = hdr(pid, epoch, seq, count, -1);
	return pstate_check(ps, &h, dup);
}

/* Checks then records a batch that must be accepted. */
static void append(struct pstate *ps, int64_t pid, int16_t epoch, int32_t seq, int32_t count,
		   int64_t off, int64_t now)
{
	struct batch_hdr h = hdr(pid, epoch, seq, count, off);
	CHECK_EQ(pstate_check(ps, &h, NULL), KAFKA_NONE);
	CHECK_EQ(pstate_update(ps, &h, now), 0);
}

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t rnd_below(uint64_t n) { return rnd() % n; }

/* -------------------------------------------------------------- rules */

TEST(first_batch_must_start_at_zero)
{
	struct pstate *ps = pstate_new();
	CHECK_EQ(check(ps, 7, 0, 0, 3, NULL), KAFKA_NONE);
	CHECK_EQ(check(ps, 7, 0, 1, 3, NULL), KAFKA_UNKNOWN_PRODUCER_ID);
	CHECK_EQ(check(ps, 7, 3, 42, 1, NULL), KAFKA_UNKNOWN_PRODUCER_ID);
	CHECK_EQ(pstate_count(ps), 0);
	CHECK(pstate_find(ps, 7) == NULL);
	append(ps, 7, 0, 0, 3, 100, 5000);
	CHECK_EQ(pstate_count(ps), 1);
	const struct pstate_entry *e = pstate_find(ps, 7);
	CHECK(e != NULL);
	CHECK_EQ(e->pid, 7);
	CHECK_EQ(e->epoch, 0);
	CHECK_EQ(e->nbatches, 1);
	CHECK_EQ(e->b[0].first_seq, 0);
	CHECK_EQ(e->b[0].last_seq, 2);
	CHECK_EQ(e->b[0].first_offset, 100);
	CHECK_EQ(e->b[0].last_offset, 102);
	CHECK_EQ(e->b[0].max_ts, 1102);
	CHECK_EQ(e->last_ts, 1102);
	CHECK_EQ(e->last_append_ms, 5000);
	CHECK_EQ(e->coordinator_epoch, -1);
	CHECK_EQ(e->txn_first_offset, -1);
	/* Another producer is still unknown. */
	CHECK_EQ(check(ps, 8, 0, 3, 1, NULL), KAFKA_UNKNOWN_PRODUCER_ID);
	pstate_free(ps);
}

TEST(next_sequence_follows_the_last)
{
	struct pstate *ps = pstate_new();
	append(ps, 1, 2, 0, 5, 0, 0);                   /* seq 0..4 */
	CHECK_EQ(check(ps, 1, 2, 5, 1, NULL), KAFKA_NONE);
	CHECK_EQ(check(ps, 1, 2, 6, 1, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);  /* gap */
	CHECK_EQ(check(ps, 1, 2, 4, 2, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);  /* overlap */
	CHECK_EQ(check(ps, 1, 2, 0, 4, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);  /* same first, other last */
	CHECK_EQ(check(ps, 1, 2, 1, 4, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);  /* same last, other first */
	CHECK_EQ(check(ps, 1, 2, -1, 1, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
	append(ps, 1, 2, 5, 10, 5, 0);                  /* seq 5..14 */
	CHECK_EQ(check(ps, 1, 2, 15, 1, NULL), KAFKA_NONE);
	CHECK_EQ(pstate_find(ps, 1)->nbatches, 2);
	pstate_free(ps);
}

TEST(duplicates_of_the_last_five_answer_their_offsets)
{
	struct pstate *ps = pstate_new();
	/* Six batches of 2 records: seq 2k..2k+1 at offsets 10k+100.. */
	for (int k = 0; k < 6; k++)
		append(ps, 9, 0, 2 * k, 2, 10 * k + 100, 0);
	const struct pstate_entry *e = pstate_find(ps, 9);
	CHECK_EQ(e->nbatches, PSTATE_BATCHES);
	for (int k = 1; k < 6; k++) {
		struct pstate_batch d;
		memset(&d, 0xAB, sizeof d);
		CHECK_EQ(check(ps, 9, 0, 2 * k, 2, &d), KAFKA_DUPLICATE_SEQUENCE_NUMBER);
		CHECK_EQ(d.first_seq, 2 * k);
		CHECK_EQ(d.last_seq, 2 * k + 1);
		CHECK_EQ(d.first_offset, 10 * k + 100);
		CHECK_EQ(d.last_offset, 10 * k + 101);
		CHECK_EQ(d.max_ts, 1000 + 10 * k + 101);
		/* dup may be NULL. */
		CHECK_EQ(check(ps, 9, 0, 2 * k, 2, NULL), KAFKA_DUPLICATE_SEQUENCE_NUMBER);
	}
	/* The sixth-oldest is forgotten: no longer a duplicate, out of order. */
	CHECK_EQ(check(ps, 9, 0, 0, 2, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
	/* A duplicate needs the same epoch too. */
	CHECK_EQ(check(ps, 9, 1, 10, 2, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
	/* The check changed nothing. */
	CHECK_EQ(pstate_count(ps), 1);
	CHECK_EQ(pstate_find(ps, 9)->nbatches, PSTATE_BATCHES);
	CHECK_EQ(check(ps, 9, 0, 12, 1, NULL), KAFKA_NONE);
	pstate_free(ps);
}

TEST(epoch_bump_restarts_at_zero)
{
	struct pstate *ps = pstate_new();
	append(ps, 3, 4, 0, 3, 0, 0);
	append(ps, 3, 4, 3, 3, 3, 0);
	CHECK_EQ(check(ps, 3, 5, 6, 1, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
	CHECK_EQ(check(ps, 3, 5, 1, 1, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
	CHECK_EQ(check(ps, 3, 9, 0, 3, NULL), KAFKA_NONE);   /* any higher epoch */
	/* Same range as the old epoch's first batch: not a duplicate across epochs. */
	CHECK_EQ(check(ps, 3, 5, 0, 3, NULL), KAFKA_NONE);
	append(ps, 3, 5, 0, 3, 6, 0);
	const struct pstate_entry *e = pstate_find(ps, 3);
	CHECK_EQ(e->epoch, 5);
	CHECK_EQ(e->nbatches, 1);                       /* old epoch's batches cleared */
	CHECK_EQ(e->b[0].first_offset, 6);
	CHECK_EQ(check(ps, 3, 5, 3, 1, NULL), KAFKA_NONE);
	CHECK_EQ(check(ps, 3, 5, 0, 3, NULL), KAFKA_DUPLICATE_SEQUENCE_NUMBER);
	pstate_free(ps);
}

TEST(stale_epoch_is_fenced)
{
	struct pstate *ps = pstate_new();
	append(ps, 3, 4, 0, 3, 0, 0);
	CHECK_EQ(check(ps, 3, 3, 0, 3, NULL), KAFKA_INVALID_PRODUCER_EPOCH);  /* even a "duplicate" */
	CHECK_EQ(check(ps, 3, 3, 3, 1, NULL), KAFKA_INVALID_PRODUCER_EPOCH);
	CHECK_EQ(check(ps, 3, 0, 0, 1, NULL), KAFKA_INVALID_PRODUCER_EPOCH);
	CHECK_EQ(check(ps, 3, -1, 0, 1, NULL), KAFKA_INVALID_PRODUCER_EPOCH);
	CHECK_EQ(check(ps, 3, 4, 3, 1, NULL), KAFKA_NONE);
	/* Epochs are int16: the highest still orders above the rest. */
	append(ps, 3, INT16_MAX, 0, 1, 3, 0);
	CHECK_EQ(check(ps, 3, INT16_MAX - 1, 1, 1, NULL), KAFKA_INVALID_PRODUCER_EPOCH);
	CHECK_EQ(check(ps, 3, INT16_MAX, 1, 1, NULL), KAFKA_NONE);
	pstate_free(ps);
}

TEST(sequence_wraps_after_int32_max)
{
	struct pstate *ps = pstate_new();
	/* State rebuilt from a log (update without check): a batch ending at
	 * INT32_MAX - 3. */
	struct batch_hdr h = hdr(5, 1, INT32_MAX - 5, 3, 1000);
	CHECK_EQ(pstate_update(ps, &h, 0), 0);
	/* A batch across the wrap: INT32_MAX-2 .. 0. */
	append(ps, 5, 1, INT32_MAX - 2, 4, 1003, 0);
	const struct pstate_entry *e = pstate_find(ps, 5);
	CHECK_EQ(e->b[1].first_seq, INT32_MAX - 2);
	CHECK_EQ(e->b[1].last_seq, 0);                 /* MAX-2, MAX-1, MAX, 0 */
	CHECK_EQ(e->b[1].last_offset, 1006);
	struct pstate_batch d;
	CHECK_EQ(check(ps, 5, 1, INT32_MAX - 2, 4, &d), KAFKA_DUPLICATE_SEQUENCE_NUMBER);
	CHECK_EQ(d.first_offset, 1003);
	CHECK_EQ(check(ps, 5, 1, INT32_MAX - 2, 5, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
	CHECK_EQ(check(ps, 5, 1, 1, 1, NULL), KAFKA_NONE);
	CHECK_EQ(check(ps, 5, 1, 0, 1, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
	CHECK_EQ(check(ps, 5, 1, 2, 1, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);

	/* A batch ending exactly at INT32_MAX: 0 comes next, not INT32_MAX+1. */
	struct pstate *ps2 = pstate_new();
	h = hdr(6, 0, INT32_MAX - 1, 2, 0);
	CHECK_EQ(pstate_update(ps2, &h, 0), 0);
	CHECK_EQ(pstate_find(ps2, 6)->b[0].last_seq, INT32_MAX);
	CHECK_EQ(check(ps2, 6, 0, 0, 1, NULL), KAFKA_NONE);
	CHECK_EQ(check(ps2, 6, 0, 1, 1, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
	CHECK_EQ(check(ps2, 6, 0, INT32_MIN, 1, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
	append(ps2, 6, 0, 0, 1, 2, 0);
	CHECK_EQ(check(ps2, 6, 0, 1, 1, NULL), KAFKA_NONE);
	pstate_free(ps2);
	pstate_free(ps);
}

TEST(batches_without_producer_id_are_ignored)
{
	struct pstate *ps = pstate_new();
	struct batch_hdr h = hdr(-1, -1, -1, 3, 0);
	CHECK_EQ(pstate_update(ps, &h, 0), 0);
	CHECK_EQ(pstate_count(ps), 0);
	CHECK(pstate_find(ps, -1) == NULL);
	pstate_free(ps);
}

/* ------------------------------------------------- expiry and truncation */

TEST(expire_with_a_fake_clock)
{
	struct pstate *ps = pstate_new();
	append(ps, 1, 0, 0, 1, 0, 1000);
	append(ps, 2, 0, 0, 1, 1, 2000);
	append(ps, 3, 0, 0, 1, 2, 3000);
	CHECK_EQ(pstate_expire(ps, 1999, 1000), 0);     /* 999 ms old: kept */
	CHECK_EQ(pstate_count(ps), 3);
	CHECK_EQ(pstate_expire(ps, 2000, 1000), 1);     /* exactly 1000: gone (Kafka's >=) */
	CHECK(pstate_find(ps, 1) == NULL);
	CHECK(pstate_find(ps, 2) != NULL);
	/* An append restarts the clock. */
	append(ps, 2, 0, 1, 1, 3, 3500);
	CHECK_EQ(pstate_expire(ps, 4200, 1000), 1);
	CHECK(pstate_find(ps, 3) == NULL);
	CHECK(pstate_find(ps, 2) != NULL);
	/* An expired producer is unknown again: seq 2 is refused, 0 accepted. */
	CHECK_EQ(check(ps, 3, 0, 1, 1, NULL), KAFKA_UNKNOWN_PRODUCER_ID);
	CHECK_EQ(pstate_expire(ps, 1000000, 1000), 1);
	CHECK_EQ(pstate_count(ps), 0);
	CHECK_EQ(pstate_expire(ps, 1000000, 1000), 0);
	pstate_free(ps);
}

TEST(truncate_head_drops_producers_entirely_below_start)
{
	struct pstate *ps = pstate_new();
	append(ps, 1, 0, 0, 5, 0, 0);                   /* offsets 0..4 */
	append(ps, 2, 0, 0, 5, 5, 0);                   /* 5..9 */
	append(ps, 1, 0, 5, 1, 10, 0);                  /* producer 1 now ends at 10 */
	append(ps, 3, 0, 0, 2, 11, 0);                  /* 11..12 */
	CHECK_EQ(pstate_truncate_head(ps, 9), 0);       /* 2's last offset 9 is kept */
	CHECK_EQ(pstate_truncate_head(ps, 10), 1);
	CHECK(pstate_find(ps, 2) == NULL);
	CHECK(pstate_find(ps, 1) != NULL);
	/* A producer with a batch below the start but its last one above stays,
	 * batches and all. */
	CHECK_EQ(pstate_find(ps, 1)->nbatches, 2);
	CHECK_EQ(pstate_truncate_head(ps, 13), 2);
	CHECK_EQ(pstate_count(ps), 0);
	pstate_free(ps);
}

/* -------------------------------------------------------- transactions */

/* A transactional batch (seq -1: the coordinator's unsequenced kind). */
static struct batch_hdr txn_hdr(int64_t pid, int16_t epoch, int32_t seq, int32_t count, int64_t off)
{
	struct batch_hdr h = hdr(pid, epoch, seq, count, off);
	h.attributes = BATCH_ATTR_TRANSACTIONAL;
	return h;
}

static void txn_append(struct pstate *ps, int64_t pid, int16_t epoch, int32_t seq, int32_t count,
		       int64_t off, int64_t now)
{
	struct batch_hdr h = txn_hdr(pid, epoch, seq, count, off);
	CHECK_EQ(pstate_check(ps, &h, NULL), KAFKA_NONE);
	CHECK_EQ(pstate_update(ps, &h, now), 0);
}

TEST(transactional_batches_open_a_transaction)
{
	struct pstate *ps = pstate_new();
	CHECK_EQ(pstate_first_unstable(ps), INT64_MAX);
	txn_append(ps, 1, 0, 0, 2, 10, 0);
	txn_append(ps, 1, 0, 2, 1, 12, 0);              /* same transaction: first stays */
	CHECK_EQ(pstate_find(ps, 1)->txn_first_offset, 10);
	txn_append(ps, 2, 0, 0, 1, 13, 0);
	CHECK_EQ(pstate_first_unstable(ps), 10);
	/* A plain batch of a producer with an open transaction: refused
	 * (after the epoch check, and a retry is still answered). */
	struct batch_hdr h = hdr(1, 0, 3, 1, -1);
	CHECK_EQ(pstate_check(ps, &h, NULL), KAFKA_INVALID_TXN_STATE);
	h = hdr(1, 0, 2, 1, -1);
	CHECK_EQ(pstate_check(ps, &h, NULL), KAFKA_DUPLICATE_SEQUENCE_NUMBER);
	h = hdr(2, 0, 1, 1, -1);
	CHECK_EQ(pstate_check(ps, &h, NULL), KAFKA_INVALID_TXN_STATE);
	/* Other producers' plain batches are not concerned. */
	append(ps, 3, 0, 0, 1, 14, 0);
	/* Markers close them. */
	int64_t first = -1;
	CHECK_EQ(pstate_marker_check(ps, 1, 0), KAFKA_NONE);
	CHECK_EQ(pstate_marker(ps, 1, 0, 5, 15, 0, &first), 1);
	CHECK_EQ(first, 10);
	CHECK_EQ(pstate_first_unstable(ps), 13);
	CHECK_EQ(pstate_find(ps, 1)->coordinator_epoch, 5);
	CHECK_EQ(pstate_find(ps, 1)->txn_first_offset, -1);
	CHECK_EQ(pstate_marker(ps, 1, 0, 5, 16, 0, &first), 0);  /* none open any more */
	CHECK_EQ(pstate_marker(ps, 2, 0, 5, 17, 0, &first), 1);
	CHECK_EQ(first, 13);
	CHECK_EQ(pstate_first_unstable(ps), INT64_MAX);
	/* The producer's sequence state went on through its transaction. */
	h = hdr(1, 0, 3, 1, -1);
	CHECK_EQ(pstate_check(ps, &h, NULL), KAFKA_NONE);
	pstate_free(ps);
}

TEST(unsequenced_transactional_batches_check_the_epoch_only)
{
	struct pstate *ps = pstate_new();
	txn_append(ps, 4, 3, -1, 1, 0, 0);              /* unknown producer: fine */
	txn_append(ps, 4, 3, -1, 1, 1, 0);
	const struct pstate_entry *e = pstate_find(ps, 4);
	CHECK_EQ(e->nbatches, 0);
	CHECK_EQ(e->epoch, 3);
	CHECK_EQ(e->txn_first_offset, 0);
	struct batch_hdr h = txn_hdr(4, 2, -1, 1, -1);
	CHECK_EQ(pstate_check(ps, &h, NULL), KAFKA_INVALID_PRODUCER_EPOCH);
	h = txn_hdr(4, 4, -1, 1, -1);
	CHECK_EQ(pstate_check(ps, &h, NULL), KAFKA_NONE);
	pstate_free(ps);
}

TEST(markers_check_and_bump_the_epoch)
{
	struct pstate *ps = pstate_new();
	int64_t first;
	/* Unknown producer: accepted, and remembered with the marker's epoch. */
	CHECK_EQ(pstate_marker_check(ps, 9, 4), KAFKA_NONE);
	CHECK_EQ(pstate_marker(ps, 9, 4, 1, 0, 0, &first), 0);
	CHECK_EQ(pstate_find(ps, 9)->epoch, 4);
	CHECK_EQ(pstate_marker_check(ps, 9, 3), KAFKA_INVALID_PRODUCER_EPOCH);
	/* A bump by a marker resets the sequence state (Transactions V2). */
	txn_append(ps, 9, 4, 0, 3, 1, 0);
	CHECK_EQ(pstate_marker(ps, 9, 5, 1, 4, 0, &first), 1);
	CHECK_EQ(first, 1);
	const struct pstate_entry *e = pstate_find(ps, 9);
	CHECK_EQ(e->epoch, 5);
	CHECK_EQ(e->nbatches, 0);
	struct batch_hdr h = txn_hdr(9, 4, 3, 1, -1);
	CHECK_EQ(pstate_check(ps, &h, NULL), KAFKA_INVALID_PRODUCER_EPOCH);
	h = txn_hdr(9, 5, 3, 1, -1);
	CHECK_EQ(pstate_check(ps, &h, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
	h = txn_hdr(9, 5, 0, 1, -1);
	CHECK_EQ(pstate_check(ps, &h, NULL), KAFKA_NONE);
	pstate_free(ps);
}

TEST(open_transactions_never_expire_nor_truncate)
{
	struct pstate *ps = pstate_new();
	txn_append(ps, 1, 0, 0, 1, 0, 1000);
	append(ps, 2, 0, 0, 1, 1, 1000);
	CHECK_EQ(pstate_expire(ps, 1000000, 1000), 1);
	CHECK(pstate_find(ps, 1) != NULL);
	CHECK_EQ(pstate_truncate_head(ps, 100), 0);
	CHECK_EQ(pstate_first_unstable(ps), 0);
	int64_t first;
	CHECK_EQ(pstate_marker(ps, 1, 0, 0, 2, 1000, &first), 1);
	CHECK_EQ(pstate_expire(ps, 1000000, 1000), 1);
	CHECK_EQ(pstate_count(ps), 0);
	CHECK_EQ(pstate_first_unstable(ps), INT64_MAX);
	pstate_free(ps);
}

TEST(snapshot_keeps_open_transactions)
{
	struct pstate *ps = pstate_new();
	txn_append(ps, 1, 0, 0, 2, 5, 0);
	txn_append(ps, 2, 1, -1, 1, 7, 0);              /* no batch retained */
	append(ps, 3, 0, 0, 1, 8, 0);
	int64_t first;
	CHECK_EQ(pstate_marker(ps, 3, 0, 9, 9, 0, &first), 0);
	size_t n;
	uint8_t *p = pstate_snapshot(ps, &n);
	struct pstate *back = pstate_new();
	CHECK_EQ(pstate_load(back, p, n, 0), 0);
	CHECK_EQ(pstate_first_unstable(back), 5);
	CHECK_EQ(pstate_find(back, 1)->txn_first_offset, 5);
	CHECK_EQ(pstate_find(back, 2)->txn_first_offset, 7);
	CHECK_EQ(pstate_find(back, 2)->epoch, 1);
	CHECK_EQ(pstate_find(back, 3)->coordinator_epoch, 9);
	CHECK_EQ(pstate_find(back, 3)->txn_first_offset, -1);
	/* The rules still apply after a load. */
	struct batch_hdr h = hdr(1, 0, 2, 1, -1);
	CHECK_EQ(pstate_check(back, &h, NULL), KAFKA_INVALID_TXN_STATE);
	CHECK_EQ(pstate_marker(back, 1, 0, 0, 10, 0, &first), 1);
	CHECK_EQ(first, 5);
	CHECK_EQ(pstate_first_unstable(back), 7);
	CHECK_EQ(pstate_marker(back, 2, 1, 0, 11, 0, &first), 1);
	CHECK_EQ(pstate_first_unstable(back), INT64_MAX);
	free(p);
	pstate_free(back);
	pstate_free(ps);
}

/* ------------------------------------------------------------ the map */

struct seen { uint64_t sum; size_t n; };     /* sum wraps: ids are random */

static void count_entry(void *arg, const struct pstate_entry *e)
{
	struct seen *s = arg;
	s->sum += (uint64_t)e->pid;
	s->n++;
}

TEST(many_producers_insert_find_remove)
{
	enum { N = 20000 };
	struct pstate *ps = pstate_new();
	static int64_t pid[N];
	static int64_t when[N];
	rng = 12345;
	for (int i = 0; i < N; i++) {
		/* Half sequential ids (as InitProducerId hands them out), half random. */
		pid[i] = i % 2 ? i : (int64_t)(rnd() >> 1);
		when[i] = (int64_t)rnd_below(1000);
		struct batch_hdr h = hdr(pid[i], 0, 0, 1, i);
		CHECK_EQ(pstate_update(ps, &h, when[i]), 0);
	}
	CHECK_EQ(pstate_count(ps), N);
	struct seen s = { 0, 0 };
	pstate_foreach(ps, count_entry, &s);
	uint64_t sum = 0;
	for (int i = 0; i < N; i++)
		sum += (uint64_t)pid[i];
	CHECK_EQ(s.n, N);
	CHECK(s.sum == sum);
	/* Remove in rounds by age, verifying every id after each round. */
	for (int64_t t = 100; t <= 1100; t += 100) {
		pstate_expire(ps, t, 1);                /* drops when <= t - 1 */
		size_t live = 0;
		for (int i = 0; i < N; i++) {
			const struct pstate_entry *e = pstate_find(ps, pid[i]);
			if (when[i] < t) {
				CHECK(e == NULL);
			} else {
				CHECK(e != NULL && e->pid == pid[i] && e->b[0].first_offset == i);
				live++;
			}
		}
		CHECK_EQ(pstate_count(ps), live);
	}
	CHECK_EQ(pstate_count(ps), 0);
	/* The emptied table still works. */
	append(ps, 77, 0, 0, 1, 0, 0);
	CHECK(pstate_find(ps, 77) != NULL);
	pstate_free(ps);
}

/* ----------------------------------------------------------- snapshots */

static uint64_t be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

TEST(snapshot_layout_is_kafkas_v1)
{
	struct pstate *ps = pstate_new();
	append(ps, 0x0102030405060708ll, 7, 0, 10, 90, 0);
	append(ps, 0x0102030405060708ll, 7, 10, 5, 100, 0);   /* seq 10..14, offsets 100..104 */
	size_t n = 0;
	uint8_t *p = pstate_snapshot(ps, &n);
	CHECK(p != NULL);
	CHECK_EQ(n, 10 + 46);
	CHECK_EQ(be(p, 2), 1);                          /* Version */
	CHECK_EQ(be(p + 2, 4), crc32c_sw(0, p + 6, n - 6));    /* Crc over the rest */
	CHECK_EQ(be(p + 6, 4), 1);                      /* entry count */
	const uint8_t *q = p + 10;
	CHECK_EQ(be(q, 8), 0x0102030405060708ll);      /* ProducerId */
	CHECK_EQ(be(q + 8, 2), 7);                      /* Epoch */
	CHECK_EQ(be(q + 10, 4), 14);                    /* LastSequence */
	CHECK_EQ(be(q + 14, 8), 104);                   /* LastOffset */
	CHECK_EQ(be(q + 22, 4), 4);                     /* OffsetDelta */
	CHECK_EQ(be(q + 26, 8), 1104);                  /* Timestamp */
	CHECK_EQ(be(q + 34, 4), 0xFFFFFFFFu);           /* CoordinatorEpoch -1 */
	CHECK_EQ((int64_t)be(q + 38, 8), -1);           /* CurrentTxnFirstOffset -1 */
	free(p);

	/* The empty state: header and count 0. */
	struct pstate *empty = pstate_new();
	p = pstate_snapshot(empty, &n);
	CHECK_EQ(n, 10);
	CHECK_EQ(be(p, 2), 1);
	CHECK_EQ(be(p + 2, 4), crc32c_sw(0, p + 6, 4));
	CHECK_EQ(be(p + 6, 4), 0);
	CHECK_EQ(pstate_load(ps, p, n, 0), 0);
	CHECK_EQ(pstate_count(ps), 0);
	free(p);
	pstate_free(empty);
	pstate_free(ps);
}

/* Builds a snapshot by hand (the entries as Kafka would write them). */
struct snap_entry { int64_t pid; int16_t epoch; int32_t seq; int64_t off; int32_t delta; int64_t ts; };

static uint8_t *put(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static size_t make_snap(uint8_t *buf, const struct snap_entry *e, int n)
{
	uint8_t *p = put(buf, 1, 2);
	p = put(p, 0, 4);
	p = put(p, (uint64_t)n, 4);
	for (int i = 0; i < n; i++) {
		p = put(p, (uint64_t)e[i].pid, 8);
		p = put(p, (uint64_t)e[i].epoch, 2);
		p = put(p, (uint64_t)e[i].seq, 4);
		p = put(p, (uint64_t)e[i].off, 8);
		p = put(p, (uint64_t)e[i].delta, 4);
		p = put(p, (uint64_t)e[i].ts, 8);
		p = put(p, (uint64_t)-1, 4);
		p = put(p, (uint64_t)-1, 8);
	}
	size_t len = (size_t)(p - buf);
	put(buf + 2, crc32c_sw(0, buf + 6, len - 6), 4);
	return len;
}

TEST(load_hand_built_snapshot)
{
	struct snap_entry in[] = {
		{ 10, 3, 14, 104, 4, 555 },             /* seq 10..14 at 100..104 */
		{ 11, 12, -1, -1, 0, 123456 },          /* no batch (Kafka: marker only) */
		{ 12, 0, 1, 50, 3, 9 },                 /* wrapped: INT32_MAX-1 .. 1 */
		{ 10, 4, 2, 200, 2, 777 },              /* 10 again: the later entry wins */
	};
	uint8_t buf[512];
	size_t n = make_snap(buf, in, 4);
	struct pstate *ps = pstate_new();
	append(ps, 99, 0, 0, 1, 0, 0);                  /* replaced by the load */
	CHECK_EQ(pstate_load(ps, buf, n, 4242), 0);
	CHECK_EQ(pstate_count(ps), 3);
	CHECK(pstate_find(ps, 99) == NULL);
	const struct pstate_entry *e = pstate_find(ps, 10);
	CHECK_EQ(e->epoch, 4);
	CHECK_EQ(e->nbatches, 1);
	CHECK_EQ(e->b[0].first_seq, 0);
	CHECK_EQ(e->b[0].last_seq, 2);
	CHECK_EQ(e->b[0].first_offset, 198);
	CHECK_EQ(e->b[0].last_offset, 200);
	CHECK_EQ(e->b[0].max_ts, 777);
	CHECK_EQ(e->last_ts, 777);
	CHECK_EQ(e->last_append_ms, 4242);
	CHECK_EQ(check(ps, 10, 4, 0, 3, NULL), KAFKA_DUPLICATE_SEQUENCE_NUMBER);
	CHECK_EQ(check(ps, 10, 4, 3, 1, NULL), KAFKA_NONE);
	e = pstate_find(ps, 11);
	CHECK_EQ(e->epoch, 12);
	CHECK_EQ(e->nbatches, 0);
	CHECK_EQ(e->last_ts, 123456);
	/* No batch at the same epoch: only 0 follows; a new epoch as usual. */
	CHECK_EQ(check(ps, 11, 12, 0, 1, NULL), KAFKA_NONE);
	CHECK_EQ(check(ps, 11, 12, 5, 1, NULL), KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);
	CHECK_EQ(check(ps, 11, 11, 0, 1, NULL), KAFKA_INVALID_PRODUCER_EPOCH);
	e = pstate_find(ps, 12);
	CHECK_EQ(e->b[0].first_seq, INT32_MAX - 1);
	CHECK_EQ(e->b[0].last_seq, 1);
	CHECK_EQ(check(ps, 12, 0, INT32_MAX - 1, 4, NULL), KAFKA_DUPLICATE_SEQUENCE_NUMBER);
	CHECK_EQ(check(ps, 12, 0, 2, 1, NULL), KAFKA_NONE);
	/* Re-encoding writes the no-batch entry as Kafka does: -1, -1, 0. */
	size_t m = 0;
	uint8_t *p = pstate_snapshot(ps, &m);
	CHECK_EQ(m, 10 + 3 * 46);
	int found = 0;
	for (size_t i = 10; i < m; i += 46) {
		if (be(p + i, 8) != 11)
			continue;
		found = 1;
		CHECK_EQ(be(p + i + 10, 4), 0xFFFFFFFFu);
		CHECK_EQ((int64_t)be(p + i + 14, 8), -1);
		CHECK_EQ(be(p + i + 22, 4), 0);
		CHECK_EQ(be(p + i + 26, 8), 123456);
	}
	CHECK(found);
	free(p);
	pstate_free(ps);
}

TEST(load_rejects_entries_it_never_writes)
{
	struct snap_entry bad[] = {
		{ -5, 0, 0, 0, 0, 0 },                  /* negative producer id */
		{ 1, 0, 3, 10, -1, 0 },                 /* negative delta */
		{ 1, 0, 3, 2, 3, 0 },                   /* first offset below 0 */
		{ 1, 0, -2, 10, 0, 0 },                 /* batch with no sequence */
	};
	uint8_t buf[256];
	struct pstate *ps = pstate_new();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct snap_entry two[2] = { { 50, 0, 0, 0, 0, 0 }, bad[i] };
		append(ps, 99, 0, 0, 1, 0, 0);
		size_t n = make_snap(buf, two, 2);
		CHECK_EQ(pstate_load(ps, buf, n, 0), -1);
		CHECK_EQ(pstate_count(ps), 0);          /* empty after a failed load */
		CHECK(pstate_find(ps, 50) == NULL);
	}
	/* Other versions and trailing bytes. */
	struct snap_entry ok = { 50, 0, 0, 0, 0, 0 };
	size_t n = make_snap(buf, &ok, 1);
	CHECK_EQ(pstate_load(ps, buf, n, 0), 0);
	buf[1] = 2;
	CHECK_EQ(pstate_load(ps, buf, n, 0), -1);
	n = make_snap(buf, &ok, 1);
	buf[n] = 0;
	put(buf + 2, crc32c_sw(0, buf + 6, n + 1 - 6), 4);   /* CRC valid over the extra byte */
	CHECK_EQ(pstate_load(ps, buf, n + 1, 0), -1);
	/* A negative count. */
	n = make_snap(buf, &ok, 1);
	put(buf + 6, 0xFFFFFFFFu, 4);
	put(buf + 2, crc32c_sw(0, buf + 6, n - 6), 4);
	CHECK_EQ(pstate_load(ps, buf, n, 0), -1);
	CHECK_EQ(pstate_load(ps, buf, 0, 0), -1);
	CHECK_EQ(pstate_load(ps, NULL, 0, 0), -1);
	pstate_free(ps);
}

/* Sequence after a batch of n from seq, computed the long way (mod 2^31). */
static int32_t seq_next(int32_t seq, int32_t n)
{
	return (int32_t)(((int64_t)seq + n) % ((int64_t)INT32_MAX + 1));
}

/* Fills a state with n producers in varied states: 1..7 batches, three
 * epochs, every fifth across the sequence wrap. */
static struct pstate *varied_state(int n)
{
	struct pstate *ps = pstate_new();
	for (int i = 0; i < n; i++) {
		int64_t pid = (int64_t)i * 1000003;
		int nb = 1 + i % 7;
		int32_t seq = i % 5 == 0 ? INT32_MAX - 3 : 0;
		for (int k = 0; k < nb; k++) {
			struct batch_hdr h = hdr(pid, (int16_t)(i % 3), seq, 1 + k % 3, 100 * i + 4 * k);
			CHECK_EQ(pstate_update(ps, &h, i), 0);
			seq = seq_next(seq, 1 + k % 3);
		}
	}
	return ps;
}

/* What a snapshot keeps of a: each producer with its last batch only. */
static void check_loaded(const struct pstate *a, const struct pstate *b, int64_t now)
{
	CHECK_EQ(pstate_count(a), pstate_count(b));
	for (int64_t pid = 0; pid < 1000003ll * 400; pid += 1000003) {
		const struct pstate_entry *x = pstate_find(a, pid), *y = pstate_find(b, pid);
		CHECK((x == NULL) == (y == NULL));
		if (x == NULL)
			continue;
		CHECK_EQ(y->pid, pid);
		CHECK_EQ(y->epoch, x->epoch);
		CHECK_EQ(y->nbatches, x->nbatches > 0 ? 1 : 0);
		CHECK_EQ(y->last_ts, x->last_ts);
		CHECK_EQ(y->coordinator_epoch, x->coordinator_epoch);
		CHECK_EQ(y->txn_first_offset, x->txn_first_offset);
		CHECK_EQ(y->last_append_ms, now);
		if (x->nbatches > 0) {
			const struct pstate_batch *u = &x->b[x->nbatches - 1];
			CHECK(memcmp(u, &y->b[0], sizeof *u) == 0);
		}
	}
}

TEST(snapshot_round_trip)
{
	struct pstate *ps = varied_state(400);
	CHECK_EQ(pstate_count(ps), 400);
	size_t n = 0;
	uint8_t *p = pstate_snapshot(ps, &n);
	CHECK(p != NULL);
	CHECK_EQ(n, 10 + 400 * 46);
	struct pstate *back = pstate_new();
	CHECK_EQ(pstate_load(back, p, n, 777), 0);
	check_loaded(ps, back, 777);
	/* The loaded state answers the next batch and a retry of the last one
	 * as the original does. */
	for (int i = 0; i < 400; i++) {
		const struct pstate_entry *e = pstate_find(ps, (int64_t)i * 1000003);
		const struct pstate_batch *last = &e->b[e->nbatches - 1];
		struct batch_hdr h = hdr(e->pid, e->epoch, seq_next(last->last_seq, 1), 2, -1);
		CHECK_EQ(pstate_check(back, &h, NULL), KAFKA_NONE);
		h = hdr(e->pid, e->epoch, last->first_seq,
			(int32_t)(last->last_offset - last->first_offset + 1), -1);
		struct pstate_batch d;
		CHECK_EQ(pstate_check(back, &h, &d), KAFKA_DUPLICATE_SEQUENCE_NUMBER);
		CHECK(memcmp(&d, last, sizeof d) == 0);
	}
	/* Twice round gives the same state, and the same bytes once both were
	 * loaded. */
	size_t n2 = 0;
	uint8_t *p2 = pstate_snapshot(back, &n2);
	struct pstate *again = pstate_new();
	CHECK_EQ(pstate_load(again, p2, n2, 777), 0);
	check_loaded(back, again, 777);
	size_t n3 = 0;
	uint8_t *p3 = pstate_snapshot(again, &n3);
	CHECK_EQ(n3, n2);
	free(p);
	free(p2);
	free(p3);
	pstate_free(again);
	pstate_free(back);
	pstate_free(ps);
}

TEST(corrupt_snapshots_are_refused)
{
	struct pstate *ps = varied_state(20);
	size_t n = 0;
	uint8_t *p = pstate_snapshot(ps, &n);
	struct pstate *t = pstate_new();
	/* Every truncation, from empty to one byte short. */
	for (size_t len = 0; len < n; len++) {
		uint8_t *cut = malloc(len ? len : 1);   /* exact size: ASan sees any over-read */
		memcpy(cut, p, len);
		append(t, 5, 0, 0, 1, 0, 0);
		CHECK_EQ(pstate_load(t, cut, len, 0), -1);
		CHECK_EQ(pstate_count(t), 0);
		free(cut);
	}
	/* Every single-bit flip, and every byte replaced by its complement. */
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit <= 8; bit++) {
			uint8_t mask = bit < 8 ? (uint8_t)(1u << bit) : 0xFF;
			p[i] ^= mask;
			CHECK_EQ(pstate_load(t, p, n, 0), -1);
			CHECK_EQ(pstate_count(t), 0);
			p[i] ^= mask;
		}
	}
	CHECK_EQ(pstate_load(t, p, n, 0), 0);
	CHECK_EQ(pstate_count(t), 20);
	free(p);
	pstate_free(t);
	pstate_free(ps);
}

/* ------------------------------------------------- randomized vs a model */

/* The model: every producer's batches of its current epoch, newest last,
 * and the rules applied to that plain list. */
enum { MPIDS = 8, MBATCH = 2100, EXPIRE_MS = 1000 };

struct mprod {
	bool live;
	int16_t epoch;
	int n;
	struct pstate_batch b[MBATCH];
	int64_t last_ms;
};

static struct mprod model[MPIDS];
static int64_t mpid[MPIDS];
/* What the run exercised, so that it cannot pass by missing a rule. */
static struct { long code[64], expired, truncated, wrapped; } seen;

static int model_check(const struct mprod *m, int16_t epoch, int32_t first, int32_t count,
		       struct pstate_batch *dup)
{
	if (!m->live)
		return first == 0 ? KAFKA_NONE : KAFKA_UNKNOWN_PRODUCER_ID;
	if (epoch < m->epoch)
		return KAFKA_INVALID_PRODUCER_EPOCH;
	if (epoch > m->epoch)
		return first == 0 ? KAFKA_NONE : KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER;
	int32_t last = seq_next(first, count - 1);
	/* Oldest first, as Kafka's findFirst (two retained batches can share a
	 * range only in a state rebuilt without checks, as below). */
	for (int i = m->n > PSTATE_BATCHES ? m->n - PSTATE_BATCHES : 0; i < m->n; i++) {
		if (m->b[i].first_seq == first && m->b[i].last_seq == last) {
			*dup = m->b[i];
			return KAFKA_DUPLICATE_SEQUENCE_NUMBER;
		}
	}
	int32_t next = m->n > 0 ? seq_next(m->b[m->n - 1].last_seq, 1) : 0;
	return first == next ? KAFKA_NONE : KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER;
}

static void model_update(struct mprod *m, const struct batch_hdr *h, int64_t now)
{
	if (!m->live || h->producer_epoch != m->epoch) {
		m->live = true;
		m->epoch = h->producer_epoch;
		m->n = 0;
	}
	CHECK(m->n < MBATCH);
	m->b[m->n++] = (struct pstate_batch){
		.first_seq = h->base_sequence,
		.last_seq = seq_next(h->base_sequence, h->last_offset_delta),
		.first_offset = h->base_offset,
		.last_offset = h->base_offset + h->last_offset_delta,
		.max_ts = h->max_timestamp,
	};
	m->last_ms = now;
}

static void model_compare(const struct pstate *ps)
{
	size_t live = 0;
	for (int i = 0; i < MPIDS; i++) {
		const struct mprod *m = &model[i];
		const struct pstate_entry *e = pstate_find(ps, mpid[i]);
		CHECK(m->live == (e != NULL));
		if (!m->live)
			continue;
		live++;
		CHECK_EQ(e->epoch, m->epoch);
		int keep = m->n < PSTATE_BATCHES ? m->n : PSTATE_BATCHES;
		CHECK_EQ(e->nbatches, keep);
		for (int k = 0; k < keep; k++)
			CHECK(memcmp(&e->b[k], &m->b[m->n - keep + k], sizeof e->b[k]) == 0);
		CHECK_EQ(e->last_append_ms, m->last_ms);
	}
	CHECK_EQ(pstate_count(ps), live);
}

struct rstate { struct pstate *ps; int64_t now, next_off, log_start; };

/* One produce attempt: both sides must agree; accepted batches are
 * recorded in both. */
static void produce(struct rstate *st, int i, int16_t epoch, int32_t seq, int32_t count)
{
	struct pstate_batch want, got;
	int exp = model_check(&model[i], epoch, seq, count, &want);
	struct batch_hdr h = hdr(mpid[i], epoch, seq, count, -1);
	int rc = pstate_check(st->ps, &h, &got);
	if (rc != exp)
		fprintf(stderr, "pid#%d epoch %d seq %d count %d: got %d want %d\n", i, epoch, seq,
			count, rc, exp);
	CHECK_EQ(rc, exp);
	seen.code[rc]++;
	if (rc == KAFKA_NONE && seq_next(seq, count - 1) < seq)
		seen.wrapped++;
	if (rc == KAFKA_DUPLICATE_SEQUENCE_NUMBER)
		CHECK(memcmp(&got, &want, sizeof got) == 0);
	if (rc != KAFKA_NONE)
		return;
	h = hdr(mpid[i], epoch, seq, count, st->next_off);
	st->next_off += count;
	CHECK_EQ(pstate_update(st->ps, &h, st->now), 0);
	model_update(&model[i], &h, st->now);
}

static int32_t model_next_seq(const struct mprod *m)
{
	return m->live && m->n > 0 ? seq_next(m->b[m->n - 1].last_seq, 1) : 0;
}

static void model_expire(struct rstate *st)
{
	size_t want = 0;
	for (int i = 0; i < MPIDS; i++) {
		if (model[i].live && st->now - model[i].last_ms >= EXPIRE_MS) {
			model[i].live = false;
			want++;
		}
	}
	CHECK_EQ(pstate_expire(st->ps, st->now, EXPIRE_MS), want);
	seen.expired += (long)want;
}

static void model_truncate(struct rstate *st)
{
	int64_t ls = st->next_off - (int64_t)rnd_below(300);
	if (ls > st->log_start)
		st->log_start = ls;
	size_t want = 0;
	for (int i = 0; i < MPIDS; i++) {
		struct mprod *m = &model[i];
		if (m->live && m->b[m->n - 1].last_offset < st->log_start) {
			m->live = false;
			want++;
		}
	}
	CHECK_EQ(pstate_truncate_head(st->ps, st->log_start), want);
	seen.truncated += (long)want;
}

/* Snapshot and reload: the model keeps each producer's last batch. */
static void model_reload(struct rstate *st)
{
	size_t n = 0;
	uint8_t *p = pstate_snapshot(st->ps, &n);
	CHECK(p != NULL);
	CHECK_EQ(pstate_load(st->ps, p, n, st->now), 0);
	free(p);
	for (int i = 0; i < MPIDS; i++) {
		struct mprod *m = &model[i];
		if (!m->live)
			continue;
		m->b[0] = m->b[m->n - 1];
		m->n = 1;
		m->last_ms = st->now;
	}
}

static void random_step(struct rstate *st)
{
	int i = (int)rnd_below(MPIDS);
	struct mprod *m = &model[i];
	int16_t epoch = m->live ? m->epoch : (int16_t)rnd_below(3);
	int32_t next = model_next_seq(m);
	int32_t count = 1 + (int32_t)rnd_below(5);
	unsigned r = (unsigned)rnd_below(100);
	st->now += 1;
	if (r < 45) {
		produce(st, i, epoch, next, count);
	} else if (r < 62) {                            /* a retry of a recent batch */
		if (m->live && m->n > 0) {
			int back = 1 + (int)rnd_below(7);
			const struct pstate_batch *b = &m->b[m->n > back ? m->n - back : 0];
			produce(st, i, epoch, b->first_seq, (int32_t)(b->last_offset - b->first_offset + 1));
		}
	} else if (r < 70) {                            /* near the expected sequence */
		produce(st, i, epoch, seq_next(next, (int32_t)rnd_below(7)) - 3, count);
	} else if (r < 76) {                            /* epoch bump */
		produce(st, i, (int16_t)(epoch + 1 + (int16_t)rnd_below(3)),
			rnd_below(4) ? 0 : 1 + (int32_t)rnd_below(9), count);
	} else if (r < 80) {                            /* stale epoch */
		produce(st, i, (int16_t)(epoch - 1), next, count);
	} else if (r < 83) {                            /* rebuilt from a log, near the wrap */
		struct batch_hdr h = hdr(mpid[i], epoch, INT32_MAX - (int32_t)rnd_below(6), count,
					 st->next_off);
		st->next_off += count;
		CHECK_EQ(pstate_update(st->ps, &h, st->now), 0);
		model_update(m, &h, st->now);
	} else if (r < 88) {
		st->now += (int64_t)rnd_below(400);
		model_expire(st);
	} else if (r < 91) {
		model_truncate(st);
	} else if (r < 94) {
		model_reload(st);
	} else {                                        /* unknown or odd sequences */
		produce(st, i, epoch, (int32_t)rnd_below(3) - 1, count);
	}
}

TEST(randomized_against_a_model)
{
	for (uint64_t seed = 1; seed <= 50; seed++) {
		rng = seed * 0x9E3779B97F4A7C15ull;
		memset(model, 0, sizeof model);
		for (int i = 0; i < MPIDS; i++)
			mpid[i] = i < 4 ? i : (int64_t)(rnd() >> 1);
		struct rstate st = { pstate_new(), 0, 0, 0 };
		for (int step = 0; step < 2000; step++) {
			random_step(&st);
			if (step % 50 == 0)
				model_compare(st.ps);
		}
		model_compare(st.ps);
		pstate_free(st.ps);
	}
	printf("  none %ld dup %ld out-of-order %ld fenced %ld unknown %ld; expired %ld truncated %ld wrapped %ld\n",
	       seen.code[KAFKA_NONE], seen.code[KAFKA_DUPLICATE_SEQUENCE_NUMBER],
	       seen.code[KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER], seen.code[KAFKA_INVALID_PRODUCER_EPOCH],
	       seen.code[KAFKA_UNKNOWN_PRODUCER_ID], seen.expired, seen.truncated, seen.wrapped);
	CHECK(seen.code[KAFKA_NONE] > 1000 && seen.code[KAFKA_DUPLICATE_SEQUENCE_NUMBER] > 1000);
	CHECK(seen.code[KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER] > 1000);
	CHECK(seen.code[KAFKA_INVALID_PRODUCER_EPOCH] > 100 && seen.code[KAFKA_UNKNOWN_PRODUCER_ID] > 100);
	CHECK(seen.expired > 100 && seen.truncated > 100 && seen.wrapped > 100);
}

UNIT_MAIN()
