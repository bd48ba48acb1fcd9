// deps: src/util src/record src/log src/txn src/meta
/*
 * test_pids.c — producer-id allocation in blocks (src/meta/pids.c) with a
 * fake reserve callback standing in for the metadata log: one reservation
 * per 1000 ids, a failed reservation hands out nothing, replay resumes above
 * the highest block, impossible records and exhaustion are refused, and
 * concurrent callers never get the same id.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "meta/pids.h"
#include "unit.h"
#include "util/err.h"
#include "util/log.h"

/* plog_append (linked with src/log) calls delay_notify(); it lives in src/delay. */
void delay_notify(void) {}

/* The fake metadata log: every end it was asked to make durable. */
struct fake {
	int64_t ends[64];
	int n;
	int fail_next;     /* > 0: that many reservations fail first */
};

static int fake_reserve(void *arg, struct pids *p, int64_t end)
{
	struct fake *f = arg;
	if (f->fail_next > 0) {
		f->fail_next--;
		return KAFKA_COORDINATOR_LOAD_IN_PROGRESS;
	}
	CHECK(end == p->reserved + PIDS_BLOCK);   /* blocks follow each other */
	if (f->n < 64)
		f->ends[f->n] = end;
	f->n++;
	p->reserved = end;
	return KAFKA_NONE;
}

static int64_t next_id(struct pids *p, struct fake *f)
{
	int64_t pid = -7;
	CHECK_EQ(pids_next(p, &pid, fake_reserve, f), KAFKA_NONE);
	return pid;
}

TEST(ids_in_order_one_reservation_per_block)
{
	struct pids p;
	struct fake f = { .n = 0 };
	log_set_level(LOGL_WARN);
	CHECK_EQ(pids_init(&p), 0);
	for (int64_t i = 0; i < 2500; i++)
		CHECK_EQ(next_id(&p, &f), i);
	CHECK_EQ(f.n, 3);
	CHECK_EQ(f.ends[0], 1000);
	CHECK_EQ(f.ends[1], 2000);
	CHECK_EQ(f.ends[2], 3000);
	pids_fini(&p);
}

TEST(failed_reservation_hands_out_nothing)
{
	struct pids p;
	struct fake f = { .fail_next = 2 };
	int64_t pid = -7;
	log_set_level(LOGL_WARN);
	CHECK_EQ(pids_init(&p), 0);
	CHECK_EQ(pids_next(&p, &pid, fake_reserve, &f), KAFKA_COORDINATOR_LOAD_IN_PROGRESS);
	CHECK_EQ(pids_next(&p, &pid, fake_reserve, &f), KAFKA_COORDINATOR_LOAD_IN_PROGRESS);
	CHECK_EQ(pid, -7);
	CHECK_EQ(p.reserved, 0);
	CHECK_EQ(next_id(&p, &f), 0);              /* the retry takes the same block */
	CHECK_EQ(f.n, 1);
	pids_fini(&p);
}

TEST(replay_keeps_the_highest_and_resumes_above_it)
{
	struct pids p;
	struct fake f = { .n = 0 };
	log_set_level(LOGL_WARN);
	CHECK_EQ(pids_init(&p), 0);
	CHECK_EQ(pids_replay(&p, 1000), 0);
	CHECK_EQ(pids_replay(&p, 5000), 0);
	CHECK_EQ(pids_replay(&p, 3000), 0);        /* older record after a newer one */
	CHECK_EQ(next_id(&p, &f), 5000);
	CHECK_EQ(next_id(&p, &f), 5001);
	CHECK_EQ(f.n, 1);
	CHECK_EQ(f.ends[0], 6000);
	pids_fini(&p);
}

TEST(impossible_records_and_exhaustion)
{
	struct pids p;
	struct fake f = { .n = 0 };
	int64_t pid = -7;
	log_set_level(LOGL_ERROR);
	CHECK_EQ(pids_init(&p), 0);
	CHECK_EQ(pids_replay(&p, -1), -1);
	CHECK_EQ(pids_replay(&p, INT64_MAX), -1);
	CHECK_EQ(pids_replay(&p, INT64_MAX - PIDS_BLOCK + 1), -1);
	CHECK_EQ(pids_replay(&p, INT64_MAX - PIDS_BLOCK), 0);  /* room for one last block */
	for (int i = 0; i < PIDS_BLOCK; i++)
		CHECK_EQ(next_id(&p, &f), INT64_MAX - PIDS_BLOCK + i);
	CHECK_EQ(pids_next(&p, &pid, fake_reserve, &f), KAFKA_UNKNOWN_SERVER_ERROR);
	CHECK_EQ(pid, -7);
	pids_fini(&p);
}

#define THREADS 4
#define PER_THREAD 5000

struct worker { struct pids *p; struct fake *f; int64_t got[PER_THREAD]; };

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < PER_THREAD; i++)
		w->got[i] = next_id(w->p, w->f);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

TEST(concurrent_callers_never_share_an_id)
{
	struct pids p;
	struct fake f = { .n = 0 };
	static struct worker w[THREADS];
	static int64_t all[THREADS * PER_THREAD];
	pthread_t th[THREADS];
	log_set_level(LOGL_WARN);
	CHECK_EQ(pids_init(&p), 0);
	for (int t = 0; t < THREADS; t++) {
		w[t].p = &p;
		w[t].f = &f;
		CHECK_EQ(pthread_create(&th[t], NULL, work, &w[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		CHECK_EQ(pthread_join(th[t], NULL), 0);
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THREAD; i++) {
			if (i > 0)
				CHECK(w[t].got[i] > w[t].got[i - 1]);  /* each caller sees them grow */
			all[t * PER_THREAD + i] = w[t].got[i];
		}
	qsort(all, THREADS * PER_THREAD, sizeof all[0], cmp_i64);
	for (int i = 0; i < THREADS * PER_THREAD; i++)
		CHECK_EQ(all[i], i);                   /* every id once, none skipped */
	CHECK_EQ(f.n, THREADS * PER_THREAD / PIDS_BLOCK);
	pids_fini(&p);
}

UNIT_MAIN()
