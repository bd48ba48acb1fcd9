/*
 * evloop.h — one epoll event loop per thread, with cross-thread posting and
 * timers. The net layer runs connections on these loops; delayed operations
 * (long-poll fetch, acks=all waits) complete on them.
 *
 * Ownership and threads: a loop and everything registered on it belong to
 * the loop's thread. Other threads reach a loop only through evloop_post(),
 * which queues a callback and wakes the loop through its eventfd. Timers are
 * per loop (a binary heap on monotonic ms); callbacks run on the loop thread.
 *
 * One turn of a loop: wait for I/O (timeout = nearest timer), run I/O
 * callbacks, run posted callbacks, run due timers, run end-of-turn hooks
 * (deferred frees). evloop_stop() from any thread ends evloop_run().
 */
#ifndef RUNNEL_UTIL_EVLOOP_H
#define RUNNEL_UTIL_EVLOOP_H
#include <stdbool.h>
#include <stdint.h>

struct evloop;

/* An fd watcher. The owner embeds it; fn runs on the loop thread with the
 * epoll event bits (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP). */
struct evio {
	int fd;
	uint32_t events;          /* currently registered EPOLL* bits */
	void (*fn)(struct evio *io, uint32_t events);
	struct evloop *loop;
};

struct evtimer;  /* opaque handle */
typedef void (*evloop_fn)(void *arg);

struct evloop *evloop_new(int index);        /* index: for logs and thread names */
void evloop_free(struct evloop *l);          /* after evloop_run returned */
int  evloop_index(const struct evloop *l);
/* Runs turns until evloop_stop(). Call on the loop's own thread, once per
 * loop. Before returning it runs every callback already posted and closes
 * the post queue (later evloop_post calls return -1). */
void evloop_run(struct evloop *l);
void evloop_stop(struct evloop *l);          /* any thread; before or during run */

/* fd registration, loop thread only (or the creating thread before the
 * loop runs). events: EPOLLIN/EPOLLOUT (+EPOLLEXCLUSIVE on add; such an io
 * cannot be evio_mod'ed). Level-triggered. evio_del clears io->loop and
 * drops events still pending for io in the current turn; the owner closes
 * the fd and frees io no earlier than the end of the turn (evloop_defer). */
int  evio_add(struct evloop *l, struct evio *io, uint32_t events);
int  evio_mod(struct evio *io, uint32_t events);
void evio_del(struct evio *io);

/* Queues fn(arg) to run on loop l's thread. Any thread, never blocks for
 * long (a mutex around a list). Returns 0 (fn will run, in posting order),
 * or -1 if the loop has stopped or memory ran out (fn will not run; the
 * caller keeps ownership of arg). */
int  evloop_post(struct evloop *l, evloop_fn fn, void *arg);

/* One-shot timer at monotonic ms `when`. Loop thread only. The handle is
 * valid until the callback has started or evtimer_cancel returned. Returns
 * NULL when out of memory (fn will not run). Equal deadlines fire in the
 * order they were added. */
struct evtimer *evtimer_add(struct evloop *l, int64_t when_ms, evloop_fn fn, void *arg);
void evtimer_cancel(struct evloop *l, struct evtimer *t);

/* Runs fn(arg) at the end of the current turn (deferred frees). Loop thread. */
void evloop_defer(struct evloop *l, evloop_fn fn, void *arg);

/* The loop the calling thread runs, or NULL off-loop. */
struct evloop *evloop_current(void);
/* Cached monotonic ms at the start of this turn (cheap "now"). */
int64_t evloop_now(const struct evloop *l);
#endif
