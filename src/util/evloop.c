/*
 * evloop.c — epoll event loop with an eventfd wake-up, a posted-callback
 * queue, a timer heap and end-of-turn deferred callbacks (evloop.h).
 *
 * One turn (evloop_turn):
 *
 *   1. epoll_wait, timeout = nearest timer (0 if callbacks are already
 *      posted, at most EVLOOP_MAX_WAIT_MS so a lost wake-up costs a second,
 *      not forever);
 *   2. I/O callbacks, in the order epoll returned them;
 *   3. posted callbacks: the whole queue is taken under the mutex, then run
 *      without it (a callback may post again: it runs next turn);
 *   4. due timers, earliest first (timers added while this phase runs wait
 *      for the next turn, so a timer that re-arms itself at "now" cannot
 *      starve the loop);
 *   5. deferred callbacks, including those deferred by deferred callbacks.
 *
 * Invariants:
 *   1. Only the loop's thread touches the heap, the defer list and epoll
 *      registrations (before evloop_run starts, the creating thread may set
 *      them up: pthread_create orders it before the loop's first turn).
 *   2. The post queue and `closed` are guarded by `mu`. A post accepted
 *      (returned 0) always runs: evloop_run drains the queue once more after
 *      it stops, and closes it in the same critical section.
 *   3. The eventfd is written only when the queue goes from empty to
 *      non-empty, or by evloop_stop; the loop reads it empty each time it
 *      reports readable.
 *   4. evio_del clears io->loop; events for an io already in the current
 *      epoll batch are dropped when io->loop no longer points at this loop.
 *      Owners free an evio no earlier than the end of the turn that deleted
 *      it (evloop_defer), so the batch never points at freed memory.
 */
#include "util/evloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"

#define EVLOOP_MAX_WAIT_MS 1000
#define EVLOOP_MAX_EVENTS 128

struct evtimer {
	int64_t when;     /* monotonic ms */
	uint64_t seq;     /* insertion order: ties fire first-in first-out */
	size_t idx;       /* position in the heap */
	evloop_fn fn;
	void *arg;
};

struct evpost {
	evloop_fn fn;
	void *arg;
	struct evpost *next;
};

struct evdefer {
	evloop_fn fn;
	void *arg;
};

struct evloop {
	int index;
	int epfd;
	int wakefd;
	struct evio wake_io;
	atomic_bool stop;          /* set by evloop_stop, any thread */
	int64_t now;               /* cached monotonic ms, loop thread */

	pthread_mutex_t mu;        /* guards the post queue and closed */
	struct evpost *post_head, *post_tail;
	bool closed;               /* no more posts accepted */

	struct evtimer **heap;     /* owned; min-heap on (when, seq) */
	size_t nheap, heap_cap;
	uint64_t timer_seq;

	struct evdefer *defer;     /* owned; FIFO of end-of-turn callbacks */
	size_t ndefer, defer_cap;
};

static _Thread_local struct evloop *evloop_tls;

/* ------------------------------------------------------------- timers */

static bool evtimer_before(const struct evtimer *a, const struct evtimer *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void evheap_set(struct evloop *l, size_t i, struct evtimer *t)
{
	l->heap[i] = t;
	t->idx = i;
}

static void evheap_up(struct evloop *l, size_t i)
{
	struct evtimer *t = l->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!evtimer_before(t, l->heap[parent]))
			break;
		evheap_set(l, i, l->heap[parent]);
		i = parent;
	}
	evheap_set(l, i, t);
}

static void evheap_down(struct evloop *l, size_t i)
{
	struct evtimer *t = l->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && evtimer_before(l->heap[c + 1], l->heap[c]))
			c++;
		if (!evtimer_before(l->heap[c], t))
			break;
		evheap_set(l, i, l->heap[c]);
		i = c;
	}
	evheap_set(l, i, t);
}

/* Removes heap[i] and restores the heap. */
static void evheap_remove(struct evloop *l, size_t i)
{
	struct evtimer *last = l->heap[--l->nheap];
	if (i == l->nheap)
		return;
	evheap_set(l, i, last);
	evheap_down(l, i);
	evheap_up(l, last->idx);
}

struct evtimer *evtimer_add(struct evloop *l, int64_t when_ms, evloop_fn fn, void *arg)
{
	if (l->nheap == l->heap_cap) {
		size_t cap = l->heap_cap ? l->heap_cap * 2 : 64;
		struct evtimer **h = realloc(l->heap, cap * sizeof(*h));
		if (!h)
			return NULL;
		l->heap = h;
		l->heap_cap = cap;
	}
	struct evtimer *t = malloc(sizeof(*t));
	if (!t)
		return NULL;
	t->when = when_ms;
	t->seq = l->timer_seq++;
	t->fn = fn;
	t->arg = arg;
	l->heap[l->nheap] = t;
	t->idx = l->nheap++;
	evheap_up(l, t->idx);
	return t;
}

void evtimer_cancel(struct evloop *l, struct evtimer *t)
{
	if (!t)
		return;
	evheap_remove(l, t->idx);
	free(t);
}

/* Runs timers due at l->now that existed when the phase began. */
static void evloop_run_timers(struct evloop *l)
{
	uint64_t limit = l->timer_seq;
	while (l->nheap > 0) {
		struct evtimer *t = l->heap[0];
		if (t->when > l->now || t->seq >= limit)
			break;
		evheap_remove(l, 0);
		evloop_fn fn = t->fn;
		void *arg = t->arg;
		free(t); /* the handle dies when its callback starts (evloop.h) */
		fn(arg);
	}
}

/* ------------------------------------------------------------- posting */

static void evloop_wake(struct evloop *l)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is already non-zero: the loop will wake. */
	while (write(l->wakefd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

int evloop_post(struct evloop *l, evloop_fn fn, void *arg)
{
	struct evpost *p = malloc(sizeof(*p));
	if (!p)
		return -1;
	p->fn = fn;
	p->arg = arg;
	p->next = NULL;
	pthread_mutex_lock(&l->mu);
	if (l->closed) {
		pthread_mutex_unlock(&l->mu);
		free(p);
		return -1;
	}
	bool was_empty = l->post_head == NULL;
	if (l->post_tail)
		l->post_tail->next = p;
	else
		l->post_head = p;
	l->post_tail = p;
	pthread_mutex_unlock(&l->mu);
	if (was_empty)
		evloop_wake(l);
	return 0;
}

/* Takes the queue (and closes it when `close`), then runs it unlocked. */
static void evloop_run_posted(struct evloop *l, bool close)
{
	pthread_mutex_lock(&l->mu);
	struct evpost *p = l->post_head;
	l->post_head = l->post_tail = NULL;
	if (close)
		l->closed = true;
	pthread_mutex_unlock(&l->mu);
	while (p) {
		struct evpost *next = p->next;
		p->fn(p->arg);
		free(p);
		p = next;
	}
}

static bool evloop_has_posted(struct evloop *l)
{
	pthread_mutex_lock(&l->mu);
	bool any = l->post_head != NULL;
	pthread_mutex_unlock(&l->mu);
	return any;
}

static void evloop_on_wake(struct evio *io, uint32_t events)
{
	uint64_t v;
	while (read(io->fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

/* -------------------------------------------------------------- defers */

void evloop_defer(struct evloop *l, evloop_fn fn, void *arg)
{
	if (l->ndefer == l->defer_cap) {
		size_t cap = l->defer_cap ? l->defer_cap * 2 : 64;
		struct evdefer *d = realloc(l->defer, cap * sizeof(*d));
		if (!d) {
			/* A deferred free cannot be dropped (a leak) nor run now
			 * (its caller is still using the object). */
			log_error("evloop", "loop %d: out of memory deferring a callback", l->index);
			abort();
		}
		l->defer = d;
		l->defer_cap = cap;
	}
	l->defer[l->ndefer].fn = fn;
	l->defer[l->ndefer].arg = arg;
	l->ndefer++;
}

static void evloop_run_defers(struct evloop *l)
{
	/* Index loop: callbacks may append (and realloc) while we iterate. */
	for (size_t i = 0; i < l->ndefer; i++) {
		struct evdefer d = l->defer[i];
		d.fn(d.arg);
	}
	l->ndefer = 0;
}

/* ---------------------------------------------------------------- fds */

int evio_add(struct evloop *l, struct evio *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };
	io->loop = l;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, io->fd, &ev) != 0) {
		io->loop = NULL;
		return -1;
	}
	io->events = events;
	return 0;
}

int evio_mod(struct evio *io, uint32_t events)
{
	if (!io->loop)
		return -1;
	if (io->events == events)
		return 0;
	struct epoll_event ev = { .events = events, .data.ptr = io };
	if (epoll_ctl(io->loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) != 0)
		return -1;
	io->events = events;
	return 0;
}

void evio_del(struct evio *io)
{
	if (!io->loop)
		return;
	epoll_ctl(io->loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->loop = NULL;
	io->events = 0;
}

/* ---------------------------------------------------------------- loop */

struct evloop *evloop_new(int index)
{
	struct evloop *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->index = index;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&l->mu, NULL);
	atomic_init(&l->stop, false);
	l->now = clock_mono_ms();
	if (l->epfd < 0 || l->wakefd < 0)
		goto fail;
	l->wake_io.fd = l->wakefd;
	l->wake_io.fn = evloop_on_wake;
	if (evio_add(l, &l->wake_io, EPOLLIN) != 0)
		goto fail;
	return l;
fail:
	log_error("evloop", "loop %d: cannot create epoll/eventfd: %s", index, strerror(errno));
	evloop_free(l);
	return NULL;
}

void evloop_free(struct evloop *l)
{
	if (!l)
		return;
	/* Posts that never ran: their args belong to callers that were told
	 * 0; nothing sensible can run them now. evloop_run drains, so this
	 * only happens for a loop that never ran. */
	struct evpost *p = l->post_head;
	while (p) {
		struct evpost *next = p->next;
		free(p);
		p = next;
	}
	for (size_t i = 0; i < l->nheap; i++)
		free(l->heap[i]);
	free(l->heap);
	free(l->defer);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wakefd >= 0)
		close(l->wakefd);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

int evloop_index(const struct evloop *l) { return l->index; }
int64_t evloop_now(const struct evloop *l) { return l->now; }
struct evloop *evloop_current(void) { return evloop_tls; }

void evloop_stop(struct evloop *l)
{
	atomic_store(&l->stop, true);
	evloop_wake(l);
}

static int evloop_timeout(struct evloop *l)
{
	if (l->ndefer > 0 || evloop_has_posted(l))
		return 0;
	if (l->nheap == 0)
		return EVLOOP_MAX_WAIT_MS;
	int64_t d = l->heap[0]->when - clock_mono_ms();
	if (d <= 0)
		return 0;
	return d > EVLOOP_MAX_WAIT_MS ? EVLOOP_MAX_WAIT_MS : (int)d;
}

static void evloop_turn(struct evloop *l)
{
	struct epoll_event evs[EVLOOP_MAX_EVENTS];
	int n = epoll_wait(l->epfd, evs, EVLOOP_MAX_EVENTS, evloop_timeout(l));
	if (n < 0 && errno != EINTR)
		log_error("evloop", "loop %d: epoll_wait: %s", l->index, strerror(errno));
	l->now = clock_mono_ms();
	for (int i = 0; i < n; i++) {
		struct evio *io = evs[i].data.ptr;
		if (io->loop == l) /* invariant 4: deleted earlier in this batch */
			io->fn(io, evs[i].events);
	}
	evloop_run_posted(l, false);
	evloop_run_timers(l);
	evloop_run_defers(l);
}

void evloop_run(struct evloop *l)
{
	evloop_tls = l;
	while (!atomic_load(&l->stop))
		evloop_turn(l);
	/* Invariant 2: whatever was accepted runs, then the queue closes. */
	evloop_run_posted(l, true);
	evloop_run_defers(l);
	evloop_tls = NULL;
}
