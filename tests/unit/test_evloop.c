// deps: src/util src/delay
/*
 * test_evloop.c — event loop (posting from other threads, timers in order,
 * cancel, end-of-turn defers, fd watchers, stop from another thread) and
 * delayed operations (completion by notify, by deadline, cancel,
 * coalescing, expire-all).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "delay/delay.h"
#include "unit.h"
#include "util/clock.h"
#include "util/evloop.h"

/* ------------------------------------------------------------- fixture */

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
/* Tests end with _exit (unit.h), which skips LeakSanitizer's own check. */
static void check_leaks(void) { CHECK(__lsan_do_recoverable_leak_check() == 0); }
#else
static void check_leaks(void) {}
#endif

static void *run_loop_thread(void *arg)
{
	evloop_run(arg);
	return NULL;
}

static pthread_t start_loop(struct evloop *l)
{
	pthread_t t;
	CHECK(pthread_create(&t, NULL, run_loop_thread, l) == 0);
	return t;
}

static void stop_cb(void *arg) { evloop_stop(arg); }

/* Records the order callbacks ran in. */
static int order[64];
static int norder;
static void record(int v) { order[norder++] = v; }

/* ------------------------------------------------------------- posting */

#define POSTERS 4
#define POSTS 2000

struct poster {
	struct evloop *loop;
	int id;
};
static int last_seq[POSTERS]; /* loop thread only */
static int nposted_run;       /* loop thread only */
static atomic_int wrong_thread;
static atomic_int out_of_order;
static struct evloop *the_loop;

struct post_msg { int id, seq; };
static struct post_msg msgs[POSTERS][POSTS];

static void on_post(void *arg)
{
	struct post_msg *m = arg;
	if (evloop_current() != the_loop)
		atomic_fetch_add(&wrong_thread, 1);
	if (m->seq != last_seq[m->id] + 1)
		atomic_fetch_add(&out_of_order, 1);
	last_seq[m->id] = m->seq;
	if (++nposted_run == POSTERS * POSTS)
		evloop_stop(the_loop);
}

static void *poster_thread(void *arg)
{
	struct poster *p = arg;
	for (int i = 0; i < POSTS; i++) {
		msgs[p->id][i].id = p->id;
		msgs[p->id][i].seq = i + 1;
		CHECK(evloop_post(p->loop, on_post, &msgs[p->id][i]) == 0);
		if (i % 97 == 0)
			usleep(100);
	}
	return NULL;
}

TEST(post_from_threads_runs_all_in_order_on_loop)
{
	struct evloop *l = evloop_new(0);
	CHECK(l);
	the_loop = l;
	pthread_t lt = start_loop(l);
	pthread_t th[POSTERS];
	struct poster ps[POSTERS];
	for (int i = 0; i < POSTERS; i++) {
		ps[i].loop = l;
		ps[i].id = i;
		CHECK(pthread_create(&th[i], NULL, poster_thread, &ps[i]) == 0);
	}
	for (int i = 0; i < POSTERS; i++)
		pthread_join(th[i], NULL);
	pthread_join(lt, NULL);
	CHECK_EQ(nposted_run, POSTERS * POSTS);
	CHECK_EQ(atomic_load(&wrong_thread), 0);
	CHECK_EQ(atomic_load(&out_of_order), 0);
	CHECK(evloop_current() == NULL);
	evloop_free(l);
	check_leaks();
}

static int ran_after_stop;
static void mark_ran(void *arg) { ran_after_stop++; }

TEST(post_before_run_runs_post_after_run_refused)
{
	struct evloop *l = evloop_new(0);
	evloop_stop(l);
	CHECK(evloop_post(l, mark_ran, NULL) == 0);
	evloop_run(l); /* stopped already: returns, but runs what was accepted */
	CHECK_EQ(ran_after_stop, 1);
	CHECK(evloop_post(l, mark_ran, NULL) == -1);
	CHECK_EQ(ran_after_stop, 1);
	evloop_free(l);
	check_leaks();
}

/* --------------------------------------------------------------- timers */

struct tmark { struct evloop *loop; int id; };

static void on_timer(void *arg)
{
	struct tmark *m = arg;
	record(m->id);
	if (m->id == 99)
		evloop_stop(m->loop);
}

TEST(timers_fire_in_deadline_order_ties_fifo_cancel_works)
{
	struct evloop *l = evloop_new(0);
	int64_t t0 = clock_mono_ms();
	struct tmark m30 = { l, 30 }, m10a = { l, 10 }, m10b = { l, 11 }, m20 = { l, 20 }, m5 = { l, 5 },
		     stop = { l, 99 };
	evtimer_add(l, t0 + 30, on_timer, &m30);
	evtimer_add(l, t0 + 10, on_timer, &m10a);
	evtimer_add(l, t0 + 10, on_timer, &m10b);
	struct evtimer *c = evtimer_add(l, t0 + 20, on_timer, &m20);
	evtimer_add(l, t0 + 5, on_timer, &m5);
	evtimer_add(l, t0 + 40, on_timer, &stop);
	evtimer_cancel(l, c);
	evloop_run(l);
	int64_t took = clock_mono_ms() - t0;
	CHECK_EQ(norder, 5);
	CHECK_EQ(order[0], 5);
	CHECK_EQ(order[1], 10);
	CHECK_EQ(order[2], 11);
	CHECK_EQ(order[3], 30);
	CHECK_EQ(order[4], 99);
	CHECK(took >= 40);
	CHECK(took < 900); /* woke by the timer, not the 1 s cap */
	evloop_free(l);
	check_leaks();
}

/* Many timers in random order come out sorted (heap property). */
static int64_t fired_when[500];
static int nfired;
static struct evloop *heap_loop;
static int64_t heap_whens[500];

static void on_heap_timer(void *arg)
{
	int64_t *w = arg;
	fired_when[nfired++] = *w;
	if (nfired == 400)
		evloop_stop(heap_loop);
}

TEST(timer_heap_many_random_with_cancels)
{
	struct evloop *l = evloop_new(0);
	heap_loop = l;
	int64_t t0 = clock_mono_ms();
	struct evtimer *ts[500];
	srand(7);
	for (int i = 0; i < 500; i++) {
		heap_whens[i] = t0 + rand() % 60;
		ts[i] = evtimer_add(l, heap_whens[i], on_heap_timer, &heap_whens[i]);
		CHECK(ts[i]);
	}
	for (int i = 0; i < 500; i += 5) /* cancel 100 of them, scattered */
		evtimer_cancel(l, ts[i]);
	evloop_run(l);
	CHECK_EQ(nfired, 400);
	for (int i = 1; i < nfired; i++)
		CHECK(fired_when[i - 1] <= fired_when[i]);
	evloop_free(l); /* frees nothing left: all fired or cancelled */
	check_leaks();
}

static struct evtimer *victim;
static void cancel_victim(void *arg)
{
	record(1);
	evtimer_cancel(arg, victim);
}

TEST(timer_cancelled_by_earlier_timer_in_same_turn_does_not_fire)
{
	struct evloop *l = evloop_new(0);
	int64_t t0 = clock_mono_ms();
	struct tmark v = { l, 2 }, stop = { l, 99 };
	evtimer_add(l, t0 + 5, cancel_victim, l);
	victim = evtimer_add(l, t0 + 5, on_timer, &v);
	evtimer_add(l, t0 + 20, on_timer, &stop);
	evloop_run(l);
	CHECK_EQ(norder, 2);
	CHECK_EQ(order[0], 1);
	CHECK_EQ(order[1], 99);
	evloop_free(l);
	check_leaks();
}

/* ---------------------------------------------------- defers and turns */

static struct evloop *turn_loop;
static void d2(void *arg) { record(4); evloop_stop(turn_loop); }
static void d1(void *arg) { record(3); evloop_defer(turn_loop, d2, NULL); }
static void t1(void *arg) { record(2); }
static void p1(void *arg)
{
	record(1);
	evloop_defer(turn_loop, d1, NULL);
	evtimer_add(turn_loop, evloop_now(turn_loop) - 1, t1, NULL);
}

TEST(turn_order_posted_then_timers_then_defers_chained)
{
	struct evloop *l = evloop_new(0);
	turn_loop = l;
	CHECK(evloop_post(l, p1, NULL) == 0);
	evloop_run(l);
	CHECK_EQ(norder, 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(order[i], i + 1);
	evloop_free(l);
	check_leaks();
}

/* ------------------------------------------------------------------ fds */

static char got_byte;
static void on_pipe(struct evio *io, uint32_t events)
{
	CHECK(events & EPOLLIN);
	CHECK(read(io->fd, &got_byte, 1) == 1);
	evio_del(io);
	CHECK(io->loop == NULL);
	evloop_stop(turn_loop);
}

static int pipe_w;
static void *write_later(void *arg)
{
	usleep(30000);
	CHECK(write(pipe_w, "x", 1) == 1);
	return NULL;
}

TEST(fd_watcher_called_when_readable)
{
	struct evloop *l = evloop_new(0);
	turn_loop = l;
	int p[2];
	CHECK(pipe2(p, O_NONBLOCK) == 0);
	pipe_w = p[1];
	struct evio io = { .fd = p[0], .fn = on_pipe };
	CHECK(evio_add(l, &io, EPOLLIN) == 0);
	pthread_t t;
	pthread_create(&t, NULL, write_later, NULL);
	evloop_run(l);
	pthread_join(t, NULL);
	CHECK_EQ(got_byte, 'x');
	close(p[0]);
	close(p[1]);
	evloop_free(l);
	check_leaks();
}

TEST(stop_from_other_thread_wakes_idle_loop)
{
	struct evloop *l = evloop_new(0);
	pthread_t t = start_loop(l);
	usleep(50000);
	int64_t t0 = clock_mono_ms();
	evloop_stop(l);
	pthread_join(t, NULL);
	CHECK(clock_mono_ms() - t0 < 500); /* the eventfd woke it, not the 1 s cap */
	evloop_free(l);
	check_leaks();
}

/* --------------------------------------------------------------- delay */

struct top {
	struct delayed_op op;
	atomic_int *ready;      /* set by another thread */
	int calls;              /* try_complete calls (loop thread) */
	int completed;          /* 1 = by event, 2 = by deadline */
	int64_t done_ms;
	struct evloop *stop;    /* stop this loop when completed */
};

static bool top_try(struct delayed_op *op, bool expired)
{
	struct top *t = (struct top *)op;
	t->calls++;
	if (!expired && !atomic_load(t->ready))
		return false;
	t->completed = expired ? 2 : 1;
	t->done_ms = clock_mono_ms();
	if (t->stop)
		evloop_stop(t->stop);
	return true;
}

struct park_req { struct evloop *loop; struct top *op; int64_t deadline; };
static void park_cb(void *arg)
{
	struct park_req *p = arg;
	delay_park(p->loop, &p->op->op, p->deadline);
}

TEST(delay_notify_completes_parked_op_from_other_thread)
{
	struct evloop *l = evloop_new(0);
	delay_register_loop(l);
	atomic_int ready = 0;
	struct top t = { .op.try_complete = top_try, .ready = &ready, .stop = l };
	int64_t t0 = clock_mono_ms();
	struct park_req pr = { l, &t, t0 + 5000 };
	pthread_t lt = start_loop(l);
	evloop_post(l, park_cb, &pr);
	usleep(50000);
	delay_notify(); /* not ready yet: checked, stays parked */
	usleep(20000);
	atomic_store(&ready, 1);
	delay_notify();
	pthread_join(lt, NULL);
	CHECK_EQ(t.completed, 1);
	CHECK(t.done_ms - t0 < 2000);
	CHECK(t.calls >= 2); /* the end-of-turn re-check plus the notifications */
	delay_unregister_loop(l);
	evloop_free(l);
	check_leaks();
}

TEST(delay_deadline_expires_op)
{
	struct evloop *l = evloop_new(0);
	delay_register_loop(l);
	atomic_int ready = 0;
	struct top t = { .op.try_complete = top_try, .ready = &ready, .stop = l };
	int64_t t0 = clock_mono_ms();
	struct park_req pr = { l, &t, t0 + 80 };
	evloop_post(l, park_cb, &pr);
	evloop_run(l);
	CHECK_EQ(t.completed, 2);
	CHECK(t.done_ms - t0 >= 80);
	CHECK(t.done_ms - t0 < 1000);
	delay_unregister_loop(l);
	evloop_free(l);
	check_leaks();
}

/* Data that arrived between the handler's check and its park is seen by
 * the end-of-turn re-check, without any notify. */
TEST(delay_park_rechecks_at_end_of_turn)
{
	struct evloop *l = evloop_new(0);
	delay_register_loop(l);
	atomic_int ready = 1;
	struct top t = { .op.try_complete = top_try, .ready = &ready, .stop = l };
	struct park_req pr = { l, &t, clock_mono_ms() + 5000 };
	evloop_post(l, park_cb, &pr);
	evloop_run(l);
	CHECK_EQ(t.completed, 1);
	CHECK_EQ(t.calls, 1);
	delay_unregister_loop(l);
	evloop_free(l);
	check_leaks();
}

static struct top *cancel_me;
static void cancel_cb(void *arg) { delay_cancel(&cancel_me->op); }

TEST(delay_cancel_forgets_op)
{
	struct evloop *l = evloop_new(0);
	delay_register_loop(l);
	atomic_int ready = 0;
	struct top t = { .op.try_complete = top_try, .ready = &ready };
	cancel_me = &t;
	struct park_req pr = { l, &t, clock_mono_ms() + 50 };
	evloop_post(l, park_cb, &pr);
	evloop_post(l, cancel_cb, NULL);
	struct tmark stop = { l, 99 };
	evtimer_add(l, clock_mono_ms() + 150, on_timer, &stop); /* past the deadline */
	atomic_store(&ready, 1);
	evloop_run(l);
	CHECK_EQ(t.completed, 0);
	CHECK(t.calls <= 1); /* at most the re-check ran before the cancel */
	delay_unregister_loop(l);
	evloop_free(l);
	check_leaks();
}

static void expire_all_cb(void *arg)
{
	delay_expire_all(arg);
	evloop_stop(arg);
}

TEST(delay_expire_all_completes_every_op_now)
{
	struct evloop *l = evloop_new(0);
	delay_register_loop(l);
	atomic_int ready = 0;
	struct top t[3];
	struct park_req pr[3];
	for (int i = 0; i < 3; i++) {
		t[i] = (struct top){ .op.try_complete = top_try, .ready = &ready };
		pr[i] = (struct park_req){ l, &t[i], clock_mono_ms() + 60000 };
		evloop_post(l, park_cb, &pr[i]);
	}
	evloop_post(l, expire_all_cb, l);
	evloop_run(l);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(t[i].completed, 2);
	delay_unregister_loop(l);
	evloop_free(l); /* no timers left: each was cancelled */
	check_leaks();
}

/* Many notifies from several threads with ops parked on two loops: every
 * op completes once, and notifies stay coalesced (bounded scans). */
static atomic_int hot_ready;
static struct top hot_ops[2][20];
static struct park_req hot_pr[2][20];
static atomic_int hot_done;

static bool hot_try(struct delayed_op *op, bool expired)
{
	struct top *t = (struct top *)op;
	t->calls++;
	if (!expired && atomic_load(&hot_ready) < 1)
		return false;
	t->completed = expired ? 2 : 1;
	atomic_fetch_add(&hot_done, 1);
	return true;
}

static void *notifier(void *arg)
{
	for (int i = 0; i < 20000; i++)
		delay_notify();
	return NULL;
}

TEST(delay_notify_storm_two_loops)
{
	struct evloop *l[2] = { evloop_new(0), evloop_new(1) };
	pthread_t lt[2];
	for (int k = 0; k < 2; k++) {
		delay_register_loop(l[k]);
		for (int i = 0; i < 20; i++) {
			hot_ops[k][i] = (struct top){ .op.try_complete = hot_try };
			hot_pr[k][i] = (struct park_req){ l[k], &hot_ops[k][i], clock_mono_ms() + 10000 };
			evloop_post(l[k], park_cb, &hot_pr[k][i]);
		}
		lt[k] = start_loop(l[k]);
	}
	pthread_t n[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&n[i], NULL, notifier, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(n[i], NULL);
	atomic_store(&hot_ready, 1);
	delay_notify();
	for (int i = 0; i < 200 && atomic_load(&hot_done) < 40; i++)
		usleep(10000);
	for (int k = 0; k < 2; k++) {
		evloop_post(l[k], stop_cb, l[k]);
		pthread_join(lt[k], NULL);
	}
	CHECK_EQ(atomic_load(&hot_done), 40);
	int calls = 0;
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 20; i++) {
			CHECK_EQ(hot_ops[k][i].completed, 1);
			calls += hot_ops[k][i].calls;
		}
	/* 60000 notifies; coalescing keeps checks far below one per notify. */
	CHECK(calls < 40 * 2000);
	for (int k = 0; k < 2; k++) {
		delay_unregister_loop(l[k]);
		evloop_free(l[k]);
	}
	check_leaks();
}

UNIT_MAIN()
