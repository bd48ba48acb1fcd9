// deps: src/util src/txn
/*
 * test_tcoord.c — the transaction coordinator's state machines
 * (src/txn/tcoord.c), driven with a fake clock (every call passes its own
 * `now`) and a fake producer-id allocator: every request rule of tcoord.h
 * (InitProducerId first/again/while ONGOING/while PREPARE_x, KIP-360
 * retries and fencing; AddPartitions new/repeat/union; EndTxn commit,
 * abort, retries, invalid), CONCURRENT_TRANSACTIONS while a transition is
 * pending, failed writes leaving the state as it was, markers -> COMPLETE_x,
 * timeouts (fence + abort, the old producer fenced after), expiry of idle
 * ids, epoch exhaustion, and the start-up replay (tcoord_load with
 * tombstones, tcoord_foreach_preparing, tid order).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txn/tcoord.h"
#include "unit.h"
#include "util/err.h"

/* ------------------------------------------------------------- fixture */

struct fake_alloc {
	int64_t next;   /* the next pid handed out */
	int fail;       /* != 0: the error every call returns */
	int calls;
};

static struct fake_alloc fa;
static struct tcoord *tc;

static int fake_alloc_pid(void *arg, int64_t *pid)
{
	struct fake_alloc *a = arg;
	a->calls++;
	if (a->fail)
		return a->fail;
	*pid = a->next++;
	return KAFKA_NONE;
}

static void fixture(void)
{
	fa = (struct fake_alloc){ .next = 1000 };
	tc = tcoord_new(fake_alloc_pid, &fa);
	CHECK(tc != NULL);
}

#define TIMEOUT 60000
#define T0 1700000000000LL

/* ------------------------------------------------------------- helpers */

/* Applies tid's pending transition with err; returns the after. */
static struct txn_after written(const char *tid, int err, int64_t now)
{
	struct txn_after a;
	memset(&a, 0x5a, sizeof a);
	tcoord_written(tc, tid, err, now, &a);
	return a;
}

/* InitProducerId that must write and succeed; returns the answer. */
static struct txn_after init_ok(const char *tid, int64_t pid, int16_t epoch, int64_t now)
{
	struct txn_step st;
	tcoord_init_pid(tc, tid, TIMEOUT, pid, epoch, true, now, &st);
	CHECK(st.write);
	CHECK_EQ(st.rec->state, TXN_EMPTY);
	int64_t want_pid = st.rec->pid; /* st.rec is borrowed until written */
	int16_t want_epoch = st.rec->epoch;
	struct txn_after a = written(tid, KAFKA_NONE, now);
	CHECK_EQ(a.err, KAFKA_NONE);
	CHECK(!a.markers);
	CHECK_EQ(a.pid, want_pid);
	CHECK_EQ(a.epoch, want_epoch);
	return a;
}

static void add_ok(const char *tid, int64_t pid, int16_t epoch, const char *topic, int32_t part,
		   int64_t now)
{
	struct txn_tp tp = { (char *)topic, part };
	struct txn_step st;
	tcoord_add_partitions(tc, tid, pid, epoch, &tp, 1, true, now, &st);
	CHECK(st.write);
	CHECK_EQ(st.rec->state, TXN_ONGOING);
	struct txn_after a = written(tid, KAFKA_NONE, now);
	CHECK_EQ(a.err, KAFKA_NONE);
	CHECK(!a.markers);
}

static int add_err(const char *tid, int64_t pid, int16_t epoch, bool fenced_ok)
{
	struct txn_tp tp = { "t", 0 };
	struct txn_step st;
	tcoord_add_partitions(tc, tid, pid, epoch, &tp, 1, fenced_ok, T0, &st);
	CHECK(!st.write);
	return st.err;
}

static int end_err(const char *tid, int64_t pid, int16_t epoch, bool commit, bool fenced_ok)
{
	struct txn_step st;
	tcoord_end_txn(tc, tid, pid, epoch, commit, fenced_ok, T0, &st);
	CHECK(!st.write);
	return st.err;
}

static int init_err(const char *tid, int64_t pid, int16_t epoch, bool fenced_ok)
{
	struct txn_step st;
	tcoord_init_pid(tc, tid, TIMEOUT, pid, epoch, fenced_ok, T0, &st);
	CHECK(!st.write);
	return st.err;
}

/* EndTxn that writes PREPARE_x; returns the after of that write. */
static struct txn_after end_ok(const char *tid, int64_t pid, int16_t epoch, bool commit, int64_t now)
{
	struct txn_step st;
	tcoord_end_txn(tc, tid, pid, epoch, commit, true, now, &st);
	CHECK(st.write);
	CHECK_EQ(st.rec->state, commit ? TXN_PREPARE_COMMIT : TXN_PREPARE_ABORT);
	return written(tid, KAFKA_NONE, now);
}

/* Markers done, COMPLETE_x written. */
static void complete_ok(const char *tid, int64_t now)
{
	struct txn_step st;
	tcoord_markers_done(tc, tid, now, &st);
	CHECK(st.write);
	CHECK(st.rec->state == TXN_COMPLETE_COMMIT || st.rec->state == TXN_COMPLETE_ABORT);
	CHECK_EQ(st.rec->ntps, 0);
	struct txn_after a = written(tid, KAFKA_NONE, now);
	CHECK_EQ(a.err, KAFKA_NONE);
	CHECK(!a.markers);
}

static const struct txn_rec *find(const char *tid)
{
	bool pending;
	return tcoord_find(tc, tid, &pending);
}

static bool pending_of(const char *tid)
{
	bool pending = false;
	(void)tcoord_find(tc, tid, &pending);
	return pending;
}

/* ------------------------------------------------------------- names */

TEST(state_names_round_trip)
{
	static const char *names[] = { "Empty", "Ongoing", "PrepareCommit", "PrepareAbort",
				       "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence" };
	for (int i = 0; i < 8; i++) {
		CHECK_STR(txn_state_name((enum txn_state)i), names[i]);
		CHECK_EQ(txn_state_parse(names[i]), i);
	}
	CHECK_STR(txn_state_name((enum txn_state)8), "Unknown");
	CHECK_STR(txn_state_name((enum txn_state)-1), "Unknown");
	CHECK_EQ(txn_state_parse("ongoing"), -1);
	CHECK_EQ(txn_state_parse(""), -1);
	CHECK_EQ(txn_state_parse(NULL), -1);
}

/* ------------------------------------------------------- InitProducerId */

TEST(first_init_allocates_a_pid_at_epoch_0)
{
	fixture();
	struct txn_step st;
	tcoord_init_pid(tc, "app", 30000, -1, -1, true, T0, &st);
	CHECK(st.write);
	CHECK_EQ(st.err, KAFKA_NONE);
	CHECK_EQ(st.rec->pid, 1000);
	CHECK_EQ(st.rec->epoch, 0);
	CHECK_EQ(st.rec->timeout_ms, 30000);
	CHECK_EQ(st.rec->state, TXN_EMPTY);
	CHECK_EQ(st.rec->ntps, 0);
	CHECK_EQ(st.rec->update_ms, T0);
	CHECK_EQ(st.rec->start_ms, -1);
	/* Not applied yet: nothing to describe, but a transition is in flight. */
	CHECK(find("app") == NULL);
	CHECK(pending_of("app"));
	CHECK_EQ(init_err("app", -1, -1, true), KAFKA_CONCURRENT_TRANSACTIONS);
	struct txn_after a = written("app", KAFKA_NONE, T0);
	CHECK_EQ(a.err, KAFKA_NONE);
	CHECK_EQ(a.pid, 1000);
	CHECK_EQ(a.epoch, 0);
	CHECK(!a.markers);
	const struct txn_rec *r = find("app");
	CHECK(r != NULL);
	CHECK_EQ(r->pid, 1000);
	CHECK_EQ(r->epoch, 0);
	CHECK_EQ(r->state, TXN_EMPTY);
	CHECK(!pending_of("app"));
	CHECK_EQ(tcoord_count(tc), 1);
	tcoord_free(tc);
}

TEST(first_init_given_a_pid_epoch_still_allocates)
{
	/* Kafka: an unknown id has epoch -1, so any (pid, epoch) is valid. */
	fixture();
	struct txn_after a = init_ok("app", 77, 3, T0);
	CHECK_EQ(a.pid, 1000);
	CHECK_EQ(a.epoch, 0);
	tcoord_free(tc);
}

TEST(first_init_write_failure_forgets_the_id)
{
	fixture();
	struct txn_step st;
	tcoord_init_pid(tc, "app", TIMEOUT, -1, -1, true, T0, &st);
	CHECK(st.write);
	struct txn_after a = written("app", KAFKA_NOT_COORDINATOR, T0);
	CHECK_EQ(a.err, KAFKA_NOT_COORDINATOR);
	CHECK(!a.markers);
	CHECK(find("app") == NULL);
	CHECK(!pending_of("app"));
	CHECK_EQ(tcoord_count(tc), 0);
	a = init_ok("app", -1, -1, T0 + 1);
	CHECK_EQ(a.pid, 1001); /* a fresh pid: the first was never durable */
	CHECK_EQ(a.epoch, 0);
	tcoord_free(tc);
}

TEST(first_init_allocation_failure_is_the_answer)
{
	fixture();
	fa.fail = KAFKA_COORDINATOR_NOT_AVAILABLE;
	CHECK_EQ(init_err("app", -1, -1, true), KAFKA_COORDINATOR_NOT_AVAILABLE);
	CHECK_EQ(tcoord_count(tc), 0);
	tcoord_free(tc);
}

TEST(reinit_bumps_the_epoch_and_updates_the_timeout)
{
	fixture();
	init_ok("app", -1, -1, T0);
	struct txn_step st;
	tcoord_init_pid(tc, "app", 5000, -1, -1, true, T0 + 10, &st);
	CHECK(st.write);
	CHECK_EQ(st.rec->pid, 1000);
	CHECK_EQ(st.rec->epoch, 1);
	CHECK_EQ(st.rec->timeout_ms, 5000);
	CHECK_EQ(st.rec->update_ms, T0 + 10);
	/* The applied record is unchanged until the write is durable. */
	CHECK_EQ(find("app")->epoch, 0);
	struct txn_after a = written("app", KAFKA_NONE, T0 + 10);
	CHECK_EQ(a.pid, 1000);
	CHECK_EQ(a.epoch, 1);
	CHECK_EQ(find("app")->timeout_ms, 5000);
	CHECK_EQ(fa.calls, 1);
	tcoord_free(tc);
}

TEST(reinit_after_complete_commit_bumps)
{
	fixture();
	init_ok("app", -1, -1, T0);
	add_ok("app", 1000, 0, "t", 0, T0);
	end_ok("app", 1000, 0, true, T0);
	complete_ok("app", T0);
	CHECK_EQ(find("app")->state, TXN_COMPLETE_COMMIT);
	struct txn_after a = init_ok("app", -1, -1, T0);
	CHECK_EQ(a.epoch, 1);
	CHECK_EQ(find("app")->start_ms, -1);
	tcoord_free(tc);
}

TEST(init_while_ongoing_fences_and_aborts)
{
	fixture();
	init_ok("app", -1, -1, T0);
	add_ok("app", 1000, 0, "t", 1, T0);
	add_ok("app", 1000, 0, "s", 0, T0 + 5);
	struct txn_step st;
	tcoord_init_pid(tc, "app", TIMEOUT, -1, -1, true, T0 + 100, &st);
	CHECK(st.write);
	CHECK_EQ(st.rec->state, TXN_PREPARE_ABORT);
	CHECK_EQ(st.rec->pid, 1000);
	CHECK_EQ(st.rec->epoch, 1);  /* the fence */
	CHECK_EQ(st.rec->ntps, 2);   /* the markers go to every partition */
	CHECK_EQ(st.rec->start_ms, T0);
	CHECK_EQ(st.rec->update_ms, T0 + 100);
	/* Pending: the old producer still sees CONCURRENT_TRANSACTIONS. */
	CHECK_EQ(find("app")->state, TXN_ONGOING);
	CHECK_EQ(end_err("app", 1000, 0, true, true), KAFKA_CONCURRENT_TRANSACTIONS);
	struct txn_after a = written("app", KAFKA_NONE, T0 + 100);
	CHECK_EQ(a.err, KAFKA_CONCURRENT_TRANSACTIONS); /* the client retries */
	CHECK(a.markers);
	CHECK(!a.commit);
	CHECK_EQ(a.pid, 1000);
	CHECK_EQ(a.epoch, 1);
	/* While the markers are written: retry again. */
	CHECK_EQ(init_err("app", -1, -1, true), KAFKA_CONCURRENT_TRANSACTIONS);
	/* The old producer's epoch is dead. */
	CHECK_EQ(end_err("app", 1000, 0, true, true), KAFKA_PRODUCER_FENCED);
	CHECK_EQ(end_err("app", 1000, 0, true, false), KAFKA_INVALID_PRODUCER_EPOCH);
	complete_ok("app", T0 + 200);
	CHECK_EQ(find("app")->state, TXN_COMPLETE_ABORT);
	a = init_ok("app", -1, -1, T0 + 300);
	CHECK_EQ(a.pid, 1000);
	CHECK_EQ(a.epoch, 2);
	CHECK_EQ(add_err("app", 1000, 1, true), KAFKA_PRODUCER_FENCED);
	tcoord_free(tc);
}

TEST(init_while_prepare_is_concurrent)
{
	fixture();
	init_ok("app", -1, -1, T0);
	add_ok("app", 1000, 0, "t", 0, T0);
	struct txn_after a = end_ok("app", 1000, 0, true, T0);
	CHECK(a.markers);
	CHECK(a.commit);
	CHECK_EQ(init_err("app", -1, -1, true), KAFKA_CONCURRENT_TRANSACTIONS);
	CHECK_EQ(init_err("app", 1000, 0, true), KAFKA_CONCURRENT_TRANSACTIONS);
	/* A fenced pair is told so even now (Kafka checks it first). */
	CHECK_EQ(init_err("app", 1000, 7, true), KAFKA_PRODUCER_FENCED);
	complete_ok("app", T0);
	CHECK_EQ(init_ok("app", -1, -1, T0).epoch, 1);
	tcoord_free(tc);
}

TEST(kip360_retry_and_fencing)
{
	fixture();
	init_ok("app", -1, -1, T0);                  /* (1000, 0) */
	struct txn_after a = init_ok("app", 1000, 0, T0); /* a bump with the current pair */
	CHECK_EQ(a.pid, 1000);
	CHECK_EQ(a.epoch, 1);
	/* The response was lost: the retry carries (1000, 0) again. */
	struct txn_step st;
	tcoord_init_pid(tc, "app", TIMEOUT, 1000, 0, true, T0, &st);
	CHECK(!st.write);
	CHECK_EQ(st.err, KAFKA_NONE);
	CHECK_EQ(st.pid, 1000);
	CHECK_EQ(st.epoch, 1);
	/* Neither current nor previous. */
	CHECK_EQ(init_err("app", 1000, 5, true), KAFKA_PRODUCER_FENCED);
	CHECK_EQ(init_err("app", 1000, 5, false), KAFKA_INVALID_PRODUCER_EPOCH);
	CHECK_EQ(init_err("app", 999, 1, true), KAFKA_PRODUCER_FENCED);
	/* The current pair bumps again; (1000, 0) is now too old. */
	a = init_ok("app", 1000, 1, T0);
	CHECK_EQ(a.epoch, 2);
	CHECK_EQ(init_err("app", 1000, 0, true), KAFKA_PRODUCER_FENCED);
	/* A new instance (-1, -1) clears the previous pair. */
	a = init_ok("app", -1, -1, T0);
	CHECK_EQ(a.epoch, 3);
	CHECK_EQ(init_err("app", 1000, 2, true), KAFKA_PRODUCER_FENCED);
	tcoord_free(tc);
}

TEST(kip360_pair_in_ongoing_fences_and_aborts)
{
	fixture();
	init_ok("app", -1, -1, T0);
	add_ok("app", 1000, 0, "t", 0, T0);
	struct txn_step st;
	tcoord_init_pid(tc, "app", TIMEOUT, 1000, 0, true, T0, &st);
	CHECK(st.write);
	CHECK_EQ(st.rec->state, TXN_PREPARE_ABORT);
	CHECK_EQ(st.rec->epoch, 1);
	CHECK_EQ(written("app", KAFKA_NONE, T0).err, KAFKA_CONCURRENT_TRANSACTIONS);
	complete_ok("app", T0);
	/* The fence cleared the previous pair: (1000, 0) is fenced now. */
	CHECK_EQ(init_err("app", 1000, 0, true), KAFKA_PRODUCER_FENCED);
	CHECK_EQ(init_ok("app", 1000, 1, T0).epoch, 2);
	tcoord_free(tc);
}

/* ------------------------------------------------------- AddPartitions */

TEST(add_partitions_checks_in_kafkas_order)
{
	fixture();
	CHECK_EQ(add_err("nobody", 1, 0, true), KAFKA_INVALID_PRODUCER_ID_MAPPING);
	init_ok("app", -1, -1, T0);
	CHECK_EQ(add_err("app", 1001, 0, true), KAFKA_INVALID_PRODUCER_ID_MAPPING);
	CHECK_EQ(add_err("app", 1000, 1, true), KAFKA_PRODUCER_FENCED);
	CHECK_EQ(add_err("app", 1000, -1, false), KAFKA_INVALID_PRODUCER_EPOCH);
	/* Not yet durable: the id has no pid to match. */
	struct txn_step st;
	tcoord_init_pid(tc, "new", TIMEOUT, -1, -1, true, T0, &st);
	CHECK(st.write);
	CHECK_EQ(add_err("new", st.rec->pid, 0, true), KAFKA_INVALID_PRODUCER_ID_MAPPING);
	tcoord_free(tc);
}

TEST(add_partitions_new_repeat_union)
{
	fixture();
	init_ok("app", -1, -1, T0);
	struct txn_tp in[] = { { "b", 2 }, { "a", 7 }, { "b", 1 }, { "a", 7 } };
	struct txn_step st;
	tcoord_add_partitions(tc, "app", 1000, 0, in, 4, true, T0 + 1, &st);
	CHECK(st.write);
	CHECK_EQ(st.rec->state, TXN_ONGOING);
	CHECK_EQ(st.rec->start_ms, T0 + 1);
	CHECK_EQ(st.rec->update_ms, T0 + 1);
	CHECK_EQ(st.rec->ntps, 3); /* sorted, unique */
	CHECK_STR(st.rec->tps[0].topic, "a");
	CHECK_EQ(st.rec->tps[0].partition, 7);
	CHECK_STR(st.rec->tps[1].topic, "b");
	CHECK_EQ(st.rec->tps[1].partition, 1);
	CHECK_STR(st.rec->tps[2].topic, "b");
	CHECK_EQ(st.rec->tps[2].partition, 2);
	CHECK_EQ(written("app", KAFKA_NONE, T0 + 1).err, KAFKA_NONE);

	/* Every partition already in: NONE, nothing written. */
	struct txn_tp again[] = { { "b", 1 }, { "a", 7 } };
	tcoord_add_partitions(tc, "app", 1000, 0, again, 2, true, T0 + 2, &st);
	CHECK(!st.write);
	CHECK_EQ(st.err, KAFKA_NONE);
	CHECK(!pending_of("app"));
	CHECK_EQ(find("app")->update_ms, T0 + 1);

	/* One new: the union, start time kept. */
	struct txn_tp more[] = { { "a", 7 }, { "a", 0 } };
	tcoord_add_partitions(tc, "app", 1000, 0, more, 2, true, T0 + 3, &st);
	CHECK(st.write);
	CHECK_EQ(st.rec->ntps, 4);
	CHECK_STR(st.rec->tps[0].topic, "a");
	CHECK_EQ(st.rec->tps[0].partition, 0);
	CHECK_EQ(st.rec->start_ms, T0 + 1);
	CHECK_EQ(st.rec->update_ms, T0 + 3);
	CHECK_EQ(written("app", KAFKA_NONE, T0 + 3).err, KAFKA_NONE);
	CHECK_EQ(find("app")->ntps, 4);
	tcoord_free(tc);
}

TEST(add_partitions_after_complete_starts_a_new_transaction)
{
	fixture();
	init_ok("app", -1, -1, T0);
	add_ok("app", 1000, 0, "t", 0, T0);
	end_ok("app", 1000, 0, false, T0 + 1);
	complete_ok("app", T0 + 2);
	CHECK_EQ(find("app")->start_ms, T0); /* Kafka keeps it in COMPLETE_x */
	add_ok("app", 1000, 0, "u", 3, T0 + 50);
	const struct txn_rec *r = find("app");
	CHECK_EQ(r->state, TXN_ONGOING);
	CHECK_EQ(r->start_ms, T0 + 50);
	CHECK_EQ(r->ntps, 1);
	CHECK_STR(r->tps[0].topic, "u");
	tcoord_free(tc);
}

TEST(add_partitions_while_prepare_is_concurrent)
{
	fixture();
	init_ok("app", -1, -1, T0);
	add_ok("app", 1000, 0, "t", 0, T0);
	end_ok("app", 1000, 0, true, T0);
	CHECK_EQ(add_err("app", 1000, 0, true), KAFKA_CONCURRENT_TRANSACTIONS);
	tcoord_free(tc);
}

/* --------------------------------------------------------------- EndTxn */

TEST(end_txn_commit_flow_and_retries)
{
	fixture();
	init_ok("app", -1, -1, T0);
	add_ok("app", 1000, 0, "t", 0, T0);
	add_ok("app", 1000, 0, "t", 1, T0);
	struct txn_after a = end_ok("app", 1000, 0, true, T0 + 9);
	CHECK_EQ(a.err, KAFKA_NONE); /* answered before the markers */
	CHECK(a.markers);
	CHECK(a.commit);
	CHECK_EQ(a.pid, 1000);
	CHECK_EQ(a.epoch, 0);
	const struct txn_rec *r = find("app");
	CHECK_EQ(r->state, TXN_PREPARE_COMMIT);
	CHECK_EQ(r->ntps, 2); /* the driver reads the partitions from here */
	CHECK_EQ(end_err("app", 1000, 0, true, true), KAFKA_CONCURRENT_TRANSACTIONS);
	CHECK_EQ(end_err("app", 1000, 0, false, true), KAFKA_INVALID_TXN_STATE);
	complete_ok("app", T0 + 10);
	r = find("app");
	CHECK_EQ(r->state, TXN_COMPLETE_COMMIT);
	CHECK_EQ(r->ntps, 0);
	CHECK_EQ(r->update_ms, T0 + 10);
	CHECK_EQ(end_err("app", 1000, 0, true, true), KAFKA_NONE); /* a retry */
	CHECK_EQ(end_err("app", 1000, 0, false, true), KAFKA_INVALID_TXN_STATE);
	tcoord_free(tc);
}

TEST(end_txn_abort_flow_and_retries)
{
	fixture();
	init_ok("app", -1, -1, T0);
	add_ok("app", 1000, 0, "t", 0, T0);
	struct txn_after a = end_ok("app", 1000, 0, false, T0);
	CHECK(a.markers);
	CHECK(!a.commit);
	CHECK_EQ(end_err("app", 1000, 0, false, true), KAFKA_CONCURRENT_TRANSACTIONS);
	CHECK_EQ(end_err("app", 1000, 0, true, true), KAFKA_INVALID_TXN_STATE);
	complete_ok("app", T0);
	CHECK_EQ(find("app")->state, TXN_COMPLETE_ABORT);
	CHECK_EQ(end_err("app", 1000, 0, false, true), KAFKA_NONE);
	CHECK_EQ(end_err("app", 1000, 0, true, true), KAFKA_INVALID_TXN_STATE);
	tcoord_free(tc);
}

TEST(end_txn_invalid)
{
	fixture();
	CHECK_EQ(end_err("nobody", 1, 0, true, true), KAFKA_INVALID_PRODUCER_ID_MAPPING);
	init_ok("app", -1, -1, T0);
	CHECK_EQ(end_err("app", 5, 0, true, true), KAFKA_INVALID_PRODUCER_ID_MAPPING);
	CHECK_EQ(end_err("app", 1000, 1, true, true), KAFKA_PRODUCER_FENCED);
	CHECK_EQ(end_err("app", 1000, 1, false, false), KAFKA_INVALID_PRODUCER_EPOCH);
	/* EMPTY: nothing was begun (Kafka 3.9 answers both this way). */
	CHECK_EQ(end_err("app", 1000, 0, true, true), KAFKA_INVALID_TXN_STATE);
	CHECK_EQ(end_err("app", 1000, 0, false, true), KAFKA_INVALID_TXN_STATE);
	tcoord_free(tc);
}

/* ------------------------------------------------ pending and failures */

TEST(concurrent_while_pending)
{
	fixture();
	init_ok("app", -1, -1, T0);
	struct txn_tp tp = { "t", 0 };
	struct txn_step st;
	tcoord_add_partitions(tc, "app", 1000, 0, &tp, 1, true, T0, &st);
	CHECK(st.write);
	CHECK(pending_of("app"));
	CHECK_EQ(find("app")->state, TXN_EMPTY);
	CHECK_EQ(add_err("app", 1000, 0, true), KAFKA_CONCURRENT_TRANSACTIONS);
	CHECK_EQ(end_err("app", 1000, 0, true, true), KAFKA_CONCURRENT_TRANSACTIONS);
	CHECK_EQ(init_err("app", -1, -1, true), KAFKA_CONCURRENT_TRANSACTIONS);
	/* Identity checks come first, as in Kafka. */
	CHECK_EQ(add_err("app", 1000, 3, true), KAFKA_PRODUCER_FENCED);
	CHECK_EQ(end_err("app", 2000, 0, true, true), KAFKA_INVALID_PRODUCER_ID_MAPPING);
	/* Nothing is due either. */
	const char *tid;
	CHECK(!tcoord_next_timeout(tc, T0 + 10 * TIMEOUT, &tid, &st));
	CHECK(!tcoord_next_expired(tc, T0 + 10 * TIMEOUT, 1, &tid, &st));
	CHECK_EQ(written("app", KAFKA_NONE, T0).err, KAFKA_NONE);
	CHECK_EQ(find("app")->state, TXN_ONGOING);
	tcoord_free(tc);
}

TEST(failed_writes_leave_the_state_unchanged)
{
	fixture();
	init_ok("app", -1, -1, T0);
	/* AddPartitions */
	struct txn_tp tp = { "t", 0 };
	struct txn_step st;
	tcoord_add_partitions(tc, "app", 1000, 0, &tp, 1, true, T0 + 1, &st);
	CHECK(st.write);
	struct txn_after a = written("app", KAFKA_REQUEST_TIMED_OUT, T0 + 1);
	CHECK_EQ(a.err, KAFKA_REQUEST_TIMED_OUT);
	CHECK(!a.markers);
	const struct txn_rec *r = find("app");
	CHECK_EQ(r->state, TXN_EMPTY);
	CHECK_EQ(r->ntps, 0);
	CHECK_EQ(r->update_ms, T0);
	CHECK(!pending_of("app"));
	/* InitProducerId bump */
	tcoord_init_pid(tc, "app", TIMEOUT, -1, -1, true, T0 + 2, &st);
	CHECK(st.write);
	CHECK_EQ(written("app", KAFKA_NOT_COORDINATOR, T0 + 2).err, KAFKA_NOT_COORDINATOR);
	CHECK_EQ(find("app")->epoch, 0);
	/* EndTxn */
	add_ok("app", 1000, 0, "t", 0, T0 + 3);
	tcoord_end_txn(tc, "app", 1000, 0, true, true, T0 + 4, &st);
	CHECK(st.write);
	a = written("app", KAFKA_NOT_COORDINATOR, T0 + 4);
	CHECK_EQ(a.err, KAFKA_NOT_COORDINATOR);
	CHECK(!a.markers);
	CHECK_EQ(find("app")->state, TXN_ONGOING);
	/* The fence of a timeout: the epoch is not bumped twice on retry. */
	const char *tid;
	CHECK(tcoord_next_timeout(tc, T0 + 3 + TIMEOUT, &tid, &st));
	CHECK_EQ(st.rec->epoch, 1);
	CHECK_EQ(written("app", KAFKA_NOT_COORDINATOR, T0).err, KAFKA_NOT_COORDINATOR);
	CHECK_EQ(find("app")->epoch, 0);
	CHECK(tcoord_next_timeout(tc, T0 + 3 + TIMEOUT, &tid, &st));
	CHECK_EQ(st.rec->epoch, 1);
	a = written("app", KAFKA_NONE, T0);
	CHECK(a.markers);
	/* COMPLETE_x: stays PREPARE_x, markers_done may be asked again. */
	tcoord_markers_done(tc, "app", T0 + 5, &st);
	CHECK(st.write);
	CHECK_EQ(written("app", KAFKA_NOT_COORDINATOR, T0 + 5).err, KAFKA_NOT_COORDINATOR);
	CHECK_EQ(find("app")->state, TXN_PREPARE_ABORT);
	CHECK_EQ(find("app")->ntps, 1);
	complete_ok("app", T0 + 6);
	tcoord_free(tc);
}

TEST(written_without_a_pending_transition)
{
	fixture();
	struct txn_after a = written("nobody", KAFKA_NONE, T0);
	CHECK(a.err != KAFKA_NONE);
	CHECK(!a.markers);
	init_ok("app", -1, -1, T0);
	a = written("app", KAFKA_NONE, T0);
	CHECK(a.err != KAFKA_NONE);
	CHECK_EQ(find("app")->epoch, 0);
	tcoord_free(tc);
}

TEST(markers_done_only_in_prepare)
{
	fixture();
	struct txn_step st;
	tcoord_markers_done(tc, "nobody", T0, &st);
	CHECK(!st.write);
	CHECK_EQ(st.err, KAFKA_INVALID_TXN_STATE);
	init_ok("app", -1, -1, T0);
	add_ok("app", 1000, 0, "t", 0, T0);
	tcoord_markers_done(tc, "app", T0, &st);
	CHECK(!st.write);
	CHECK_EQ(st.err, KAFKA_INVALID_TXN_STATE);
	end_ok("app", 1000, 0, true, T0);
	tcoord_markers_done(tc, "app", T0 + 1, &st);
	CHECK(st.write);
	CHECK_EQ(st.rec->state, TXN_COMPLETE_COMMIT);
	CHECK_EQ(st.rec->update_ms, T0 + 1);
	CHECK_EQ(st.rec->start_ms, T0);
	CHECK_EQ(st.rec->pid, 1000);
	CHECK_EQ(st.rec->epoch, 0);
	/* A second call while the first is pending. */
	struct txn_step st2;
	tcoord_markers_done(tc, "app", T0 + 1, &st2);
	CHECK(!st2.write);
	CHECK_EQ(st2.err, KAFKA_CONCURRENT_TRANSACTIONS);
	tcoord_free(tc);
}

/* ----------------------------------------------------------------- time */

TEST(timeout_fences_and_aborts)
{
	fixture();
	struct txn_step st;
	tcoord_init_pid(tc, "app", 500, -1, -1, true, T0, &st);
	CHECK_EQ(written("app", KAFKA_NONE, T0).err, KAFKA_NONE);
	init_ok("other", -1, -1, T0); /* EMPTY: never times out */
	CHECK_EQ(tcoord_next_deadline(tc), INT64_MAX);
	add_ok("app", 1000, 0, "t", 0, T0 + 1000);
	CHECK_EQ(tcoord_next_deadline(tc), T0 + 1500);
	add_ok("app", 1000, 0, "t", 1, T0 + 1400); /* more partitions: same deadline */
	CHECK_EQ(tcoord_next_deadline(tc), T0 + 1500);
	const char *tid = NULL;
	CHECK(!tcoord_next_timeout(tc, T0 + 1499, &tid, &st));
	CHECK(tcoord_next_timeout(tc, T0 + 1500, &tid, &st));
	CHECK_STR(tid, "app");
	CHECK(st.write);
	CHECK_EQ(st.rec->state, TXN_PREPARE_ABORT);
	CHECK_EQ(st.rec->epoch, 1);
	CHECK_EQ(st.rec->ntps, 2);
	CHECK(!tcoord_next_timeout(tc, T0 + 1500, &tid, &st)); /* pending */
	CHECK_EQ(tcoord_next_deadline(tc), INT64_MAX);
	struct txn_after a = written("app", KAFKA_NONE, T0 + 1500);
	CHECK_EQ(a.err, KAFKA_NONE); /* nobody to answer */
	CHECK(a.markers);
	CHECK(!a.commit);
	CHECK_EQ(a.epoch, 1);
	/* The producer that timed out cannot commit. */
	CHECK_EQ(end_err("app", 1000, 0, true, true), KAFKA_PRODUCER_FENCED);
	CHECK_EQ(end_err("app", 1000, 0, true, false), KAFKA_INVALID_PRODUCER_EPOCH);
	CHECK_EQ(add_err("app", 1000, 0, false), KAFKA_INVALID_PRODUCER_EPOCH);
	complete_ok("app", T0 + 1600);
	CHECK_EQ(end_err("app", 1000, 0, true, true), KAFKA_PRODUCER_FENCED);
	CHECK_EQ(init_ok("app", -1, -1, T0 + 1700).epoch, 2);
	tcoord_free(tc);
}

TEST(timeout_visits_every_due_id)
{
	fixture();
	char tid[16];
	for (int i = 0; i < 5; i++) {
		snprintf(tid, sizeof tid, "id%d", i);
		init_ok(tid, -1, -1, T0);
		add_ok(tid, 1000 + i, 0, "t", i, T0 + i * 100);
	}
	CHECK_EQ(tcoord_next_deadline(tc), T0 + TIMEOUT);
	const char *got;
	struct txn_step st;
	int n = 0;
	while (tcoord_next_timeout(tc, T0 + TIMEOUT + 250, &got, &st)) {
		char copy[16];
		snprintf(copy, sizeof copy, "%s", got);
		CHECK_EQ(written(copy, KAFKA_NONE, T0).err, KAFKA_NONE);
		n++;
	}
	CHECK_EQ(n, 3); /* id0..id2 are due at +0, +100, +200 */
	CHECK_EQ(tcoord_next_deadline(tc), T0 + 300 + TIMEOUT);
	tcoord_free(tc);
}

TEST(expiry_of_idle_ids)
{
	fixture();
	init_ok("empty", -1, -1, T0);
	init_ok("ongoing", -1, -1, T0);
	add_ok("ongoing", 1001, 0, "t", 0, T0);
	init_ok("done", -1, -1, T0);
	add_ok("done", 1002, 0, "t", 0, T0);
	end_ok("done", 1002, 0, true, T0);
	complete_ok("done", T0 + 100);
	init_ok("prepare", -1, -1, T0);
	add_ok("prepare", 1003, 0, "t", 0, T0);
	end_ok("prepare", 1003, 0, false, T0);
	CHECK_EQ(tcoord_count(tc), 4);

	const char *tid;
	struct txn_step st;
	int64_t exp = 1000;
	CHECK(!tcoord_next_expired(tc, T0 + exp - 1, exp, &tid, &st));
	CHECK(tcoord_next_expired(tc, T0 + exp, exp, &tid, &st));
	CHECK_STR(tid, "empty");
	CHECK(st.write);
	CHECK_EQ(st.rec->state, TXN_DEAD);
	CHECK_EQ(st.rec->pid, 1000);
	/* "done" was updated 100 ms later. */
	CHECK(!tcoord_next_expired(tc, T0 + exp, exp, &tid, &st));
	/* A failed tombstone keeps the id. */
	CHECK_EQ(written("empty", KAFKA_NOT_COORDINATOR, T0).err, KAFKA_NOT_COORDINATOR);
	CHECK(find("empty") != NULL);
	CHECK(tcoord_next_expired(tc, T0 + exp + 100, exp, &tid, &st));
	CHECK_STR(tid, "done");
	CHECK(tcoord_next_expired(tc, T0 + exp + 100, exp, &tid, &st));
	CHECK_STR(tid, "empty");
	CHECK(!tcoord_next_expired(tc, T0 + 100 * exp, exp, &tid, &st)); /* ONGOING, PREPARE */
	CHECK_EQ(written("done", KAFKA_NONE, T0).err, KAFKA_NONE);
	CHECK_EQ(written("empty", KAFKA_NONE, T0).err, KAFKA_NONE);
	CHECK(find("empty") == NULL);
	CHECK(find("done") == NULL);
	CHECK_EQ(tcoord_count(tc), 2);
	/* Gone: a new InitProducerId starts over with a new pid. */
	CHECK_EQ(init_ok("empty", -1, -1, T0).pid, 1004);
	tcoord_free(tc);
}

/* ------------------------------------------------------ epoch exhaustion */

static void load_rec(const char *tid, int64_t pid, int16_t epoch, enum txn_state state)
{
	struct txn_tp tp = { "t", 0 };
	struct txn_rec r = { .pid = pid, .epoch = epoch, .timeout_ms = TIMEOUT, .state = state,
			     .tps = state == TXN_EMPTY ? NULL : &tp, .ntps = state == TXN_EMPTY ? 0 : 1,
			     .update_ms = T0, .start_ms = state == TXN_EMPTY ? -1 : T0 };
	CHECK_EQ(tcoord_load(tc, tid, &r), 0);
}

TEST(epoch_exhaustion_rotates_the_pid)
{
	fixture();
	load_rec("app", 55, INT16_MAX - 3, TXN_EMPTY);
	struct txn_after a = init_ok("app", -1, -1, T0);
	CHECK_EQ(a.pid, 55);
	CHECK_EQ(a.epoch, INT16_MAX - 2);
	a = init_ok("app", -1, -1, T0);
	CHECK_EQ(a.pid, 55);
	CHECK_EQ(a.epoch, INT16_MAX - 1); /* the last epoch handed out */
	CHECK_EQ(fa.calls, 0);
	a = init_ok("app", -1, -1, T0);
	CHECK_EQ(a.pid, 1000);
	CHECK_EQ(a.epoch, 0);
	CHECK_EQ(fa.calls, 1);
	CHECK_EQ(add_err("app", 55, INT16_MAX - 1, true), KAFKA_INVALID_PRODUCER_ID_MAPPING);
	tcoord_free(tc);
}

TEST(epoch_exhaustion_with_kip360_retry)
{
	fixture();
	load_rec("app", 55, INT16_MAX - 1, TXN_COMPLETE_ABORT);
	struct txn_after a = init_ok("app", 55, INT16_MAX - 1, T0);
	CHECK_EQ(a.pid, 1000);
	CHECK_EQ(a.epoch, 0);
	/* The retry of that rotation gets its result. */
	struct txn_step st;
	tcoord_init_pid(tc, "app", TIMEOUT, 55, INT16_MAX - 1, true, T0, &st);
	CHECK(!st.write);
	CHECK_EQ(st.err, KAFKA_NONE);
	CHECK_EQ(st.pid, 1000);
	CHECK_EQ(st.epoch, 0);
	tcoord_free(tc);
}

TEST(epoch_exhaustion_allocation_failure)
{
	fixture();
	load_rec("app", 55, INT16_MAX - 1, TXN_EMPTY);
	fa.fail = KAFKA_COORDINATOR_NOT_AVAILABLE;
	CHECK_EQ(init_err("app", -1, -1, true), KAFKA_COORDINATOR_NOT_AVAILABLE);
	CHECK_EQ(find("app")->pid, 55);
	CHECK(!pending_of("app"));
	tcoord_free(tc);
}

TEST(fence_of_the_last_epoch_then_a_new_pid)
{
	fixture();
	load_rec("app", 55, INT16_MAX - 1, TXN_ONGOING);
	const char *tid;
	struct txn_step st;
	CHECK(tcoord_next_timeout(tc, T0 + TIMEOUT, &tid, &st));
	CHECK_EQ(st.rec->epoch, INT16_MAX); /* Kafka fences to Short.MaxValue */
	CHECK(written("app", KAFKA_NONE, T0).markers);
	complete_ok("app", T0);
	struct txn_after a = init_ok("app", -1, -1, T0);
	CHECK_EQ(a.pid, 1000);
	CHECK_EQ(a.epoch, 0);
	tcoord_free(tc);
}

/* --------------------------------------------------------------- replay */

struct seen {
	char tids[8][16];
	int states[8];
	int n;
};

static void collect(void *arg, const char *tid, const struct txn_rec *rec)
{
	struct seen *s = arg;
	CHECK(s->n < 8);
	snprintf(s->tids[s->n], sizeof s->tids[0], "%s", tid);
	s->states[s->n++] = rec->state;
}

TEST(replay_with_tombstones)
{
	fixture();
	load_rec("c", 3, 0, TXN_ONGOING);
	load_rec("a", 1, 0, TXN_EMPTY);
	load_rec("b", 2, 0, TXN_PREPARE_COMMIT);
	load_rec("d", 4, 0, TXN_PREPARE_ABORT);
	load_rec("a", 1, 1, TXN_ONGOING);     /* the last record wins */
	CHECK_EQ(tcoord_load(tc, "c", NULL), 0); /* a tombstone */
	CHECK_EQ(tcoord_load(tc, "zz", NULL), 0); /* of an unknown id */
	load_rec("e", 5, 0, TXN_COMPLETE_COMMIT);
	load_rec("e", 5, 0, TXN_DEAD);          /* as a tombstone */
	load_rec("f", 6, 2, TXN_PREPARE_EPOCH_FENCE);
	CHECK_EQ(tcoord_count(tc), 4);

	struct seen all = { 0 };
	tcoord_foreach(tc, collect, &all);
	CHECK_EQ(all.n, 4);
	CHECK_STR(all.tids[0], "a");
	CHECK_EQ(all.states[0], TXN_ONGOING);
	CHECK_STR(all.tids[1], "b");
	CHECK_STR(all.tids[2], "d");
	CHECK_STR(all.tids[3], "f");
	CHECK_EQ(all.states[3], TXN_ONGOING); /* never stored by Kafka: aborted by timeout */
	CHECK_EQ(find("a")->epoch, 1);

	struct seen prep = { 0 };
	tcoord_foreach_preparing(tc, collect, &prep);
	CHECK_EQ(prep.n, 2);
	CHECK_STR(prep.tids[0], "b");
	CHECK_EQ(prep.states[0], TXN_PREPARE_COMMIT);
	CHECK_STR(prep.tids[1], "d");
	CHECK_EQ(prep.states[1], TXN_PREPARE_ABORT);

	/* The driver writes their markers again, then completes them. */
	complete_ok("b", T0 + 1);
	CHECK_EQ(find("b")->state, TXN_COMPLETE_COMMIT);
	complete_ok("d", T0 + 1);
	CHECK_EQ(find("d")->state, TXN_COMPLETE_ABORT);
	/* The loaded ONGOING transaction continues and can be committed. */
	struct txn_after a = end_ok("a", 1, 1, true, T0 + 2);
	CHECK(a.markers);
	/* Previous pairs are in memory only: a retry of a bump is answered
	 * before a restart, fenced after one (the replay of the same record). */
	CHECK_EQ(init_ok("b", 2, 0, T0 + 3).epoch, 1);
	struct txn_step st;
	tcoord_init_pid(tc, "b", TIMEOUT, 2, 0, true, T0 + 4, &st);
	CHECK(!st.write);
	CHECK_EQ(st.err, KAFKA_NONE);
	CHECK_EQ(st.epoch, 1);
	load_rec("b", 2, 1, TXN_EMPTY);
	CHECK_EQ(init_err("b", 2, 0, true), KAFKA_PRODUCER_FENCED);
	tcoord_free(tc);
}

TEST(replay_normalizes_partitions)
{
	fixture();
	struct txn_tp tps[] = { { "z", 1 }, { "a", 2 }, { "z", 1 }, { "a", 0 } };
	struct txn_rec r = { .pid = 9, .epoch = 3, .timeout_ms = 100, .state = TXN_ONGOING,
			     .tps = tps, .ntps = 4, .update_ms = T0, .start_ms = T0 };
	CHECK_EQ(tcoord_load(tc, "x", &r), 0);
	tps[0].topic = "changed"; /* the load copied them */
	const struct txn_rec *got = find("x");
	CHECK_EQ(got->ntps, 3);
	CHECK_STR(got->tps[0].topic, "a");
	CHECK_EQ(got->tps[0].partition, 0);
	CHECK_STR(got->tps[2].topic, "z");
	CHECK_EQ(tcoord_next_deadline(tc), T0 + 100);
	/* The subset test works on the normalized set. */
	struct txn_tp sub = { "z", 1 };
	struct txn_step st;
	tcoord_add_partitions(tc, "x", 9, 3, &sub, 1, true, T0, &st);
	CHECK(!st.write);
	CHECK_EQ(st.err, KAFKA_NONE);
	tcoord_free(tc);
}

TEST(replay_of_records_we_never_write)
{
	fixture();
	/* An unknown state is refused, the id left as it was. */
	struct txn_rec bad = { .pid = 1, .state = (enum txn_state)9, .start_ms = -1 };
	CHECK_EQ(tcoord_load(tc, "x", &bad), -1);
	CHECK(find("x") == NULL);
	/* ONGOING at INT16_MAX: aborted without a fence (no epoch beyond it). */
	load_rec("max", 8, INT16_MAX, TXN_ONGOING);
	const char *tid;
	struct txn_step st;
	CHECK(tcoord_next_timeout(tc, T0 + TIMEOUT, &tid, &st));
	CHECK_EQ(st.rec->state, TXN_PREPARE_ABORT);
	CHECK_EQ(st.rec->epoch, INT16_MAX);
	CHECK(written("max", KAFKA_NONE, T0).markers);
	complete_ok("max", T0);
	CHECK_EQ(init_ok("max", -1, -1, T0).pid, 1000);
	/* Deadlines that overflow saturate instead. */
	struct txn_tp tp = { "t", 0 };
	struct txn_rec late = { .pid = 2, .timeout_ms = INT32_MAX, .state = TXN_ONGOING,
				.tps = &tp, .ntps = 1, .update_ms = T0, .start_ms = INT64_MAX - 5 };
	CHECK_EQ(tcoord_load(tc, "late", &late), 0);
	CHECK_EQ(tcoord_next_deadline(tc), INT64_MAX);
	CHECK(!tcoord_next_timeout(tc, INT64_MAX - 1, &tid, &st));
	struct txn_rec early = late;
	early.start_ms = INT64_MIN + 5;
	early.timeout_ms = -100;
	CHECK_EQ(tcoord_load(tc, "early", &early), 0);
	CHECK_EQ(tcoord_next_deadline(tc), INT64_MIN);
	CHECK(tcoord_next_timeout(tc, T0, &tid, &st));
	CHECK_STR(tid, "early");
	/* An expiry scan at the start of time does not overflow. */
	CHECK(!tcoord_next_expired(tc, INT64_MIN + 1, 1000, &tid, &st));
	tcoord_free(tc);
}

/* ------------------------------------------------------------ many ids */

struct order {
	char last[32];
	int n;
	bool sorted;
};

static void check_order(void *arg, const char *tid, const struct txn_rec *rec)
{
	struct order *o = arg;
	(void)rec;
	if (o->n > 0 && strcmp(o->last, tid) >= 0)
		o->sorted = false;
	snprintf(o->last, sizeof o->last, "%s", tid);
	o->n++;
}

TEST(thousands_of_ids_in_order)
{
	fixture();
	enum { N = 5000 };
	char tid[32];
	for (int i = 0; i < N; i++) {
		/* A scrambled insertion order. */
		snprintf(tid, sizeof tid, "tx-%05d", (i * 7919) % N);
		init_ok(tid, -1, -1, T0);
	}
	CHECK_EQ(tcoord_count(tc), N);
	struct order o = { .sorted = true };
	tcoord_foreach(tc, check_order, &o);
	CHECK_EQ(o.n, N);
	CHECK(o.sorted);
	for (int i = 0; i < N; i += 97) {
		snprintf(tid, sizeof tid, "tx-%05d", i);
		const struct txn_rec *r = find(tid);
		CHECK(r != NULL);
		CHECK_EQ(r->epoch, 0);
	}
	/* Expire them all. */
	const char *got;
	struct txn_step st;
	int n = 0;
	while (tcoord_next_expired(tc, T0 + 10, 10, &got, &st)) {
		char copy[32];
		snprintf(copy, sizeof copy, "%s", got);
		CHECK_EQ(written(copy, KAFKA_NONE, T0).err, KAFKA_NONE);
		n++;
	}
	CHECK_EQ(n, N);
	CHECK_EQ(tcoord_count(tc), 0);
	tcoord_free(tc);
}

UNIT_MAIN()
