/*
 * coord.c — the coordinator thread: jobs in, answers out, group timers.
 *
 * Threads (see coord.h for the picture): network loops call coord_submit,
 * which posts the job to the coordinator's own evloop; everything that
 * touches a group or the offset store runs there. Answers go back with
 * evloop_post to the request's loop. The flusher thread's durability
 * callbacks (coord_store.c) are likewise posted back here.
 *
 * Timers: one evtimer for all groups. After each step it is moved earlier
 * when the step's groups need a tick sooner; when it fires, gcoord_tick runs
 * every due group and reports the earliest deadline of all groups, which
 * re-arms it. A deadline that moved later only makes the timer fire early
 * and tick nothing, so the timer is never late and the bookkeeping is O(1)
 * per step.
 *
 * Shutdown (coord_stop): refuse new jobs, unload every group (parked joins
 * and syncs answer NOT_COORDINATOR), let appends in flight finish their
 * durability wait, then stop the loop. A job that was already queued runs
 * against the unloaded coordinator; whatever it parks is unloaded again at
 * once (closed mode), so every request is still answered exactly once.
 */
#include "coord/coord_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "broker.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"

struct coord g_coord = { .topic_lock = PTHREAD_MUTEX_INITIALIZER };

/* ------------------------------------------------------------- clocks */

int64_t coord_now_ms(void) { return clock_mono_ms(); }
int64_t coord_wall_ms(void) { return clock_wall_ms(); }
int64_t coord_mono_to_wall(int64_t mono_ms) { return clock_wall_ms() - (clock_mono_ms() - mono_ms); }
int64_t coord_wall_to_mono(int64_t wall_ms) { return clock_mono_ms() - (clock_wall_ms() - wall_ms); }

struct gcoord *coord_groups(void) { return g_coord.gc; }
struct offstore *coord_offsets(void) { return g_coord.os; }

struct group_out *coord_out(void)
{
	group_out_reset(&g_coord.out);
	return &g_coord.out;
}

/* ------------------------------------------------------------- timers */

static void on_tick(void *arg);

static void arm_tick(int64_t when)
{
	struct coord *c = &g_coord;
	if (when == INT64_MAX || when >= c->tick_at)
		return;
	if (c->tick_timer)
		evtimer_cancel(c->loop, c->tick_timer);
	c->tick_timer = evtimer_add(c->loop, when, on_tick, NULL);
	c->tick_at = c->tick_timer ? when : INT64_MAX;
	if (!c->tick_timer)
		log_error("coord", "out of memory arming the group timer");
}

static void on_tick(void *arg)
{
	(void)arg;
	struct coord *c = &g_coord;
	c->tick_timer = NULL;
	c->tick_at = INT64_MAX;
	struct group_out *out = coord_out();
	gcoord_tick(c->gc, coord_now_ms(), out);
	coord_step(out);
}

static void on_expiry(void *arg)
{
	(void)arg;
	struct coord *c = &g_coord;
	c->expiry_timer = NULL;
	coord_store_expire();
	c->expiry_timer = evtimer_add(c->loop, clock_mono_ms() + g_broker->cfg.offsets_retention_check_interval_ms,
				      on_expiry, NULL);
}

/* ------------------------------------------------------------- jobs */

static void reply_job(void *arg)
{
	struct coord_job *job = arg;
	job->reply(job);
}

void coord_finish(struct coord_job *job)
{
	if (evloop_post(job->req->loop, reply_job, job) != 0)
		log_warn("coord", "network loop stopping: answer to %s dropped", job->req->peer);
}

void coord_step(struct group_out *out)
{
	for (size_t i = 0; i < out->n; i++) {
		struct coord_job *job = (struct coord_job *)(uintptr_t)out->resps[i].tag;
		job->on_group_resp(job, &out->resps[i]);
		coord_finish(job);
	}
	for (size_t i = 0; i < out->nstores; i++) {
		struct group *g = gcoord_find(g_coord.gc, out->stores[i]);
		struct group_snap snap;
		if (!g || group_snapshot(g, &snap) != 0) {
			log_warn("coord", "group %s: metadata not written (%s)", out->stores[i],
				 g ? "out of memory" : "group gone");
			continue;
		}
		coord_store_group(out->stores[i], &snap);
		group_snap_fini(&snap);
	}
	int64_t next = out->next_deadline_ms;
	group_out_reset(out);
	arm_tick(next);
}

static void run_job(void *arg)
{
	struct coord_job *job = arg;
	job->run(job);
	if (g_coord.closed) {
		/* Shutting down: nothing may stay parked. */
		struct group_out *out = coord_out();
		gcoord_unload_all(g_coord.gc, out);
		coord_step(out);
	}
}

int coord_submit(struct coord_job *job)
{
	if (!atomic_load(&g_coord.running))
		return -1;
	return evloop_post(g_coord.loop, run_job, job);
}

/* ------------------------------------------------------------- lifecycle */

static void *coord_main(void *arg)
{
	(void)arg;
	evloop_run(g_coord.loop);
	return NULL;
}

static void group_cfg_from_broker(struct group_cfg *gc, const struct config *cfg)
{
	group_cfg_defaults(gc);
	gc->initial_rebalance_delay_ms = cfg->group_initial_rebalance_delay_ms;
	gc->min_session_timeout_ms = cfg->group_min_session_timeout_ms;
	gc->max_session_timeout_ms = cfg->group_max_session_timeout_ms;
	gc->max_size = cfg->group_max_size;
}

static void start_timers(void *arg)
{
	(void)arg;
	struct coord *c = &g_coord;
	c->expiry_timer = evtimer_add(c->loop, clock_mono_ms() + g_broker->cfg.offsets_retention_check_interval_ms,
				      on_expiry, NULL);
	/* Loaded groups have session deadlines: start ticking them. */
	arm_tick(gcoord_next_deadline(c->gc));
	/* Transactions a crash left in PREPARE_x get their markers now. */
	coord_txn_resume();
}

int coord_start(void)
{
	struct coord *c = &g_coord;
	c->tick_at = INT64_MAX;
	group_cfg_from_broker(&c->gcfg, &g_broker->cfg);
	group_out_init(&c->out);
	c->gc = gcoord_new(&c->gcfg);
	c->os = offstore_new();
	c->loop = evloop_new(99); /* index only names the thread in logs */
	if (!c->gc || !c->os || !c->loop) {
		log_error("coord", "out of memory starting the group coordinator");
		return -1;
	}
	int64_t t0 = clock_mono_ms();
	if (coord_store_load() != 0 || coord_txn_load() != 0)
		return -1;
	log_info("coord", "group coordinator loaded %zu groups and offsets of %zu groups in %lld ms",
		 gcoord_count(c->gc), offstore_ngroups(c->os), (long long)(clock_mono_ms() - t0));
	if (evloop_post(c->loop, start_timers, NULL) != 0 ||
	    pthread_create(&c->thread, NULL, coord_main, NULL) != 0) {
		log_error("coord", "cannot start the coordinator thread");
		return -1;
	}
	c->thread_started = true;
	atomic_store(&c->running, true);
	return 0;
}

static void unload_all(void *arg)
{
	(void)arg;
	struct coord *c = &g_coord;
	c->closed = true;
	coord_txn_stop();
	struct group_out *out = coord_out();
	gcoord_unload_all(c->gc, out);
	coord_step(out);
	if (c->tick_timer)
		evtimer_cancel(c->loop, c->tick_timer);
	if (c->expiry_timer)
		evtimer_cancel(c->loop, c->expiry_timer);
	c->tick_timer = c->expiry_timer = NULL;
	c->tick_at = INT64_MIN; /* arm_tick never arms again */
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

void coord_stop(void)
{
	struct coord *c = &g_coord;
	atomic_store(&c->running, false);
	if (c->thread_started) {
		if (evloop_post(c->loop, unload_all, NULL) != 0)
			log_warn("coord", "cannot post the unload");
		/* Appends in flight end with a flush (the flusher still runs). */
		for (int i = 0; i < 10000 && atomic_load(&c->inflight) > 0; i++)
			sleep_ms(1);
		if (atomic_load(&c->inflight) > 0)
			log_warn("coord", "%d offset writes still unanswered at shutdown", atomic_load(&c->inflight));
		evloop_stop(c->loop);
		pthread_join(c->thread, NULL);
		c->thread_started = false;
	}
	if (c->gc)
		gcoord_free(c->gc);
	if (c->os)
		offstore_free(c->os);
	if (c->loop)
		evloop_free(c->loop);
	coord_txn_free();
	group_out_fini(&c->out);
	c->gc = NULL;
	c->os = NULL;
	c->loop = NULL;
}
