/*
 * delay.c — parked operations completed by an event or a deadline (delay.h).
 *
 * State:
 *
 *   delay_version   global atomic counter; delay_notify() increments it.
 *   delay_slots[]   one slot per registered loop: the loop pointer, an
 *                   atomic count of parked ops, an atomic "post pending"
 *                   flag, and the list of parked ops (loop thread only).
 *
 * delay_notify (any thread): version++, then for each slot whose count is
 * non-zero and whose post flag was clear, post delay_on_notify to the loop.
 * So a notify costs one atomic add plus a read per loop when nothing is
 * parked, and at most one post per loop is queued however often data
 * arrives. delay_on_notify clears the flag, reads the version, and runs
 * try_complete(op, false) on every op that has not yet been checked at that
 * version (op->seen_version).
 *
 * Lost wake-ups. An append makes data visible, then increments the version,
 * then reads the counts. A park increments its loop's count, then (at the
 * end of the turn, delay_on_recheck) reads the version and re-checks the op.
 * With sequentially consistent atomics either the notify sees the count
 * (and posts), or the re-check reads the version after the increment and
 * so sees the data. Likewise a scan clears the post flag before it reads
 * the version. Hence each park costs one extra check at the end of its turn.
 *
 * Invariants:
 *   1. An op is parked iff op->loop != NULL; then it is on its slot's list
 *      (or on a scan's private list) and counted in nparked, and op->timer
 *      is its deadline timer.
 *   2. While try_complete runs, op->loop and op->timer are cleared (so a
 *      handler's delay_cancel on it is a no-op), and restored if it returns
 *      false.
 *   3. A slot's loop pointer changes only under delay_mu, and a post to it
 *      happens only under delay_mu, so no post reaches an unregistered loop.
 */
#include "delay/delay.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "util/evloop.h"
#include "util/log.h"

#define DELAY_MAX_LOOPS 256

struct delay_slot {
	_Atomic(struct evloop *) loop; /* NULL: free slot */
	atomic_int nparked;            /* ops parked on this loop */
	atomic_bool post_pending;      /* a delay_on_notify is queued */
	bool recheck_pending;          /* an end-of-turn re-check is deferred; loop thread */
	struct delayed_op head;        /* list sentinel; loop thread */
};

static struct delay_slot delay_slots[DELAY_MAX_LOOPS];
static atomic_int delay_nslots;            /* slots ever used */
static atomic_uint_least64_t delay_version = 1;
static pthread_mutex_t delay_mu = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local struct delay_slot *delay_tls; /* this thread's loop's slot */

/* --------------------------------------------------------------- lists */

static void dlist_init(struct delayed_op *h) { h->prev = h->next = h; }
static bool dlist_empty(const struct delayed_op *h) { return h->next == h; }

static void dlist_push(struct delayed_op *h, struct delayed_op *op)
{
	op->prev = h->prev;
	op->next = h;
	h->prev->next = op;
	h->prev = op;
}

static void dlist_unlink(struct delayed_op *op)
{
	op->prev->next = op->next;
	op->next->prev = op->prev;
	op->prev = op->next = NULL;
}

/* Moves every op of from onto the (empty) list to. */
static void dlist_splice(struct delayed_op *from, struct delayed_op *to)
{
	if (dlist_empty(from))
		return;
	to->next = from->next;
	to->prev = from->prev;
	to->next->prev = to;
	to->prev->next = to;
	dlist_init(from);
}

/* --------------------------------------------------------------- slots */

static struct delay_slot *delay_slot_find(struct evloop *loop)
{
	if (delay_tls && atomic_load(&delay_tls->loop) == loop)
		return delay_tls;
	int n = atomic_load(&delay_nslots);
	for (int i = 0; i < n; i++) {
		if (atomic_load(&delay_slots[i].loop) == loop) {
			if (evloop_current() == loop)
				delay_tls = &delay_slots[i];
			return &delay_slots[i];
		}
	}
	return NULL;
}

void delay_register_loop(struct evloop *loop)
{
	pthread_mutex_lock(&delay_mu);
	int n = atomic_load(&delay_nslots);
	int i = 0;
	if (delay_slot_find(loop))
		goto out;
	while (i < n && atomic_load(&delay_slots[i].loop) != NULL)
		i++;
	if (i == DELAY_MAX_LOOPS) {
		log_error("delay", "more than %d event loops: loop %d cannot park operations",
			  DELAY_MAX_LOOPS, evloop_index(loop));
		goto out;
	}
	struct delay_slot *s = &delay_slots[i];
	atomic_store(&s->nparked, 0);
	atomic_store(&s->post_pending, false);
	s->recheck_pending = false;
	dlist_init(&s->head);
	atomic_store(&s->loop, loop);
	if (i == n)
		atomic_store(&delay_nslots, n + 1);
out:
	pthread_mutex_unlock(&delay_mu);
}

void delay_unregister_loop(struct evloop *loop)
{
	pthread_mutex_lock(&delay_mu);
	struct delay_slot *s = delay_slot_find(loop);
	if (s) {
		if (atomic_load(&s->nparked) != 0)
			log_error("delay", "loop %d unregistered with %d parked operations",
				  evloop_index(loop), atomic_load(&s->nparked));
		atomic_store(&s->loop, NULL);
	}
	if (delay_tls == s)
		delay_tls = NULL;
	pthread_mutex_unlock(&delay_mu);
}

/* ---------------------------------------------------------- completing */

/* Runs try_complete on op (already off every list). Returns true when the
 * op is finished (and then possibly freed by its owner). */
static bool delay_try(struct delay_slot *s, struct delayed_op *op, bool expired)
{
	struct evloop *loop = op->loop;
	struct evtimer *t = op->timer;
	op->loop = NULL; /* invariant 2 */
	op->timer = NULL;
	if (op->try_complete(op, expired)) {
		atomic_fetch_sub(&s->nparked, 1);
		evtimer_cancel(loop, t);
		return true;
	}
	op->loop = loop;
	op->timer = t;
	return false;
}

/* Checks every op not yet checked at the current version. */
static void delay_scan(struct delay_slot *s)
{
	uint64_t v = atomic_load(&delay_version);
	struct delayed_op todo;
	dlist_init(&todo);
	dlist_splice(&s->head, &todo);
	while (!dlist_empty(&todo)) {
		struct delayed_op *op = todo.next;
		dlist_unlink(op);
		if (op->seen_version >= v) {
			dlist_push(&s->head, op);
			continue;
		}
		op->seen_version = v;
		if (!delay_try(s, op, false))
			dlist_push(&s->head, op);
	}
}

static void delay_on_notify(void *arg)
{
	struct delay_slot *s = arg;
	atomic_store(&s->post_pending, false); /* before the scan reads the version */
	delay_scan(s);
}

static void delay_on_recheck(void *arg)
{
	struct delay_slot *s = arg;
	s->recheck_pending = false;
	delay_scan(s);
}

static void delay_on_deadline(void *arg)
{
	struct delayed_op *op = arg;
	struct delay_slot *s = delay_slot_find(op->loop);
	op->timer = NULL; /* the timer handle died when this callback started */
	dlist_unlink(op);
	atomic_fetch_sub(&s->nparked, 1);
	op->loop = NULL;
	if (!op->try_complete(op, true))
		log_error("delay", "an expired operation did not complete (a handler bug)");
}

/* ------------------------------------------------------------- exported */

void delay_park(struct evloop *loop, struct delayed_op *op, int64_t deadline_ms)
{
	struct delay_slot *s = delay_slot_find(loop);
	if (!s) {
		delay_register_loop(loop);
		s = delay_slot_find(loop);
	}
	op->timer = s ? evtimer_add(loop, deadline_ms, delay_on_deadline, op) : NULL;
	if (!op->timer) {
		log_error("delay", "cannot park an operation (out of memory or loops): completing it now");
		op->loop = NULL;
		op->try_complete(op, true);
		return;
	}
	op->loop = loop;
	op->seen_version = 0;
	dlist_push(&s->head, op);
	atomic_fetch_add(&s->nparked, 1);
	if (!s->recheck_pending) {
		s->recheck_pending = true;
		evloop_defer(loop, delay_on_recheck, s);
	}
}

void delay_cancel(struct delayed_op *op)
{
	if (!op->loop)
		return;
	struct delay_slot *s = delay_slot_find(op->loop);
	evtimer_cancel(op->loop, op->timer);
	op->timer = NULL;
	dlist_unlink(op);
	atomic_fetch_sub(&s->nparked, 1);
	op->loop = NULL;
}

void delay_notify(void)
{
	atomic_fetch_add(&delay_version, 1);
	int n = atomic_load(&delay_nslots);
	for (int i = 0; i < n; i++) {
		struct delay_slot *s = &delay_slots[i];
		if (atomic_load(&s->nparked) == 0 || atomic_exchange(&s->post_pending, true))
			continue;
		pthread_mutex_lock(&delay_mu); /* invariant 3 */
		struct evloop *loop = atomic_load(&s->loop);
		if (!loop || evloop_post(loop, delay_on_notify, s) != 0)
			atomic_store(&s->post_pending, false);
		pthread_mutex_unlock(&delay_mu);
	}
}

void delay_expire_all(struct evloop *loop)
{
	struct delay_slot *s = delay_slot_find(loop);
	if (!s)
		return;
	while (!dlist_empty(&s->head)) {
		struct delayed_op *op = s->head.next;
		dlist_unlink(op);
		if (!delay_try(s, op, true)) {
			log_error("delay", "an expired operation did not complete (a handler bug)");
			evtimer_cancel(loop, op->timer);
			op->timer = NULL;
			op->loop = NULL;
			atomic_fetch_sub(&s->nparked, 1);
		}
	}
}
