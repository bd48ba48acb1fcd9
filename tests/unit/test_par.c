// deps: src/util
/*
 * test_par.c — par_for: every index once across threads, a false return
 * stops the handing out, small ranges stay on the caller's thread.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "unit.h"
#include "util/par.h"

struct visit {
	atomic_int seen[5000];
	atomic_int calls;
	int32_t stop_at;            /* return false here; -1 never */
	pthread_t caller;
	atomic_bool other_thread;   /* some call ran off the caller's thread */
};

static bool visit(void *arg, int32_t i)
{
	struct visit *v = arg;
	atomic_fetch_add(&v->seen[i], 1);
	atomic_fetch_add(&v->calls, 1);
	if (!pthread_equal(pthread_self(), v->caller))
		atomic_store(&v->other_thread, true);
	return i != v->stop_at;
}

TEST(every_index_once)
{
	static struct visit v;
	v.stop_at = -1;
	v.caller = pthread_self();
	par_for(100, 5000, 8, visit, &v);
	CHECK_EQ(atomic_load(&v.calls), 4900);
	for (int i = 0; i < 5000; i++)
		CHECK_EQ(atomic_load(&v.seen[i]), i >= 100 ? 1 : 0);
}

TEST(false_stops_the_loop)
{
	static struct visit v;
	v.stop_at = 10;
	v.caller = pthread_self();
	par_for(0, 5000, 1, visit, &v);  /* one thread: exactly 0..10 */
	CHECK_EQ(atomic_load(&v.calls), 11);
	CHECK_EQ(atomic_load(&v.seen[11]), 0);
}

TEST(small_range_on_the_callers_thread)
{
	static struct visit v;
	v.stop_at = -1;
	v.caller = pthread_self();
	par_for(0, PAR_MIN - 1, 8, visit, &v);
	CHECK_EQ(atomic_load(&v.calls), PAR_MIN - 1);
	CHECK(!atomic_load(&v.other_thread));
}

UNIT_MAIN()
