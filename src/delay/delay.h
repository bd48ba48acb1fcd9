/*
 * delay.h — delayed operations: a request that cannot be answered yet
 * (a long-poll fetch waiting for min_bytes, later join-group waits) parks
 * here and completes on an event or at its deadline, never blocking a loop.
 *
 * Model: each op belongs to one evloop. delay_notify() (any thread: called
 * after every append that moves a high watermark) wakes every loop that has
 * parked ops; each loop then calls try_complete(op, false) on its ops. At the
 * deadline try_complete(op, true) is called and must complete the op.
 * try_complete returns true when the op is finished; delay then forgets it
 * (the op's owner frees it inside try_complete or later).
 *
 * Invariant: an op is either parked on exactly one loop or completed; it is
 * never run on two threads.
 */
#ifndef RUNNEL_DELAY_DELAY_H
#define RUNNEL_DELAY_DELAY_H
#include <stdbool.h>
#include <stdint.h>

struct evloop;
struct evtimer;

struct delayed_op {
	bool (*try_complete)(struct delayed_op *op, bool expired);
	/* private to delay.c */
	struct evloop *loop;
	struct evtimer *timer;
	struct delayed_op *prev, *next;
	uint64_t seen_version;
};

/* Parks op on the calling loop (loop thread only) until try_complete says
 * done or deadline_ms (monotonic) passes. The caller has just found op not
 * ready; delay re-checks it once at the end of this turn anyway, so data
 * that arrived between that check and the park is not missed. The op is
 * borrowed until try_complete returns true or delay_cancel. try_complete
 * must not delay_park or delay_cancel its own op. */
void delay_park(struct evloop *loop, struct delayed_op *op, int64_t deadline_ms);
/* Forgets op without calling it (e.g. its connection died). Loop thread. */
void delay_cancel(struct delayed_op *op);
/* Some partition got new data. Any thread; cheap when nothing is parked. */
void delay_notify(void);
/* Registers a loop so delay_notify can reach it. Called once per loop at
 * start (loop thread, or the creating thread before the loop runs). */
void delay_register_loop(struct evloop *loop);
/* Forgets a loop (before it is freed). Its parked ops must be gone
 * (delay_expire_all). Any thread. */
void delay_unregister_loop(struct evloop *loop);
/* Completes every op parked on loop now, with try_complete(op, true)
 * (shutdown). Loop thread. */
void delay_expire_all(struct evloop *loop);
#endif
