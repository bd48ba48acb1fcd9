/*
 * coord_txn.c — the transaction coordinator's driver: runs the state
 * machines of src/txn/tcoord.h on the coordinator thread and does their
 * I/O — records in __transaction_state, COMMIT/ABORT markers in the data
 * partitions, the KIP-890 registry (src/txn/treg.h), timers.
 *
 * One transaction's life, and who moves it on:
 *
 *   request (AddPartitions, EndTxn, ...) --tcoord_*--> pending transition
 *     --txn_write: record appended, waits for fdatasync--> tcoord_written
 *     --> answer the request (done)
 *   PREPARE_x applied --markers_start--> treg_end(pid), one marker per
 *     partition (plog_append_marker), each waits for fdatasync;
 *     __consumer_offsets partitions then commit/drop their pending offsets
 *   every marker durable --tcoord_markers_done--> COMPLETE_x record
 *     --txn_write--> tcoord_written (nobody to answer)
 *
 * Durability: a request is answered only after its record is on stable
 * storage (as acks=all). EndTxn is answered once PREPARE_x is durable,
 * before the markers (Kafka does the same): from then on the outcome is
 * decided and survives a crash — at start-up every transaction found in
 * PREPARE_x gets its markers again (a second marker for a partition that
 * already has one closes nothing and is harmless) and completes.
 *
 * Failures: a record write that fails leaves the state as it was and the
 * request gets the error; a marker that cannot be written (storage error)
 * makes the whole round retry after MARKER_RETRY_MS, forever, as Kafka's
 * marker channel does; a partition deleted meanwhile is skipped.
 *
 * Threads: everything here runs on the coordinator thread, except the
 * durability callbacks (flusher thread), which only post back to it.
 * Ownership: a call (struct txn_call) and a marker round (struct mk_run)
 * are malloc'd and freed by their last callback.
 */
#include "coord/coord_int.h"

#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "broker.h"
#include "log/plog.h"
#include "meta/meta.h"
#include "record/batch.h"
#include "txn/tcoord.h"
#include "txn/tmsg.h"
#include "txn/treg.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"

#define MARKER_RETRY_MS 1000

static struct {
	struct tcoord *tc;
	struct evtimer *abort_timer;   /* transaction.abort.timed.out... interval */
	struct evtimer *expire_timer;  /* transaction.remove.expired... interval */
	bool closed;                   /* shutting down: no timer re-arms */
} g_txn;

struct tcoord *coord_txns(void) { return g_txn.tc; }

int coord_txn_ensure_topic(void)
{
	return coord_topic_ensure(TXN_TOPIC, g_broker->cfg.transaction_state_log_num_partitions,
				  g_broker->cfg.transaction_state_log_segment_bytes);
}

/* ------------------------------------------------------- record writes */

/* Appends tid's record (a tombstone for DEAD) to its __transaction_state
 * partition. Returns a Kafka code; on success *pl / *end say what to wait
 * for (pl valid while *t is held). */
static int txn_append(const char *tid, const struct txn_rec *rec, struct topic **t, struct plog **pl,
		      int64_t *end)
{
	*t = NULL;
	if (coord_txn_ensure_topic() != KAFKA_NONE)
		return KAFKA_COORDINATOR_NOT_AVAILABLE;
	struct wbuf w;
	wbuf_init(&w);
	tmsg_key(&w, tid);
	size_t klen = wbuf_len(&w);
	bool tomb = rec->state == TXN_DEAD;
	if (!tomb)
		tmsg_value(&w, rec);
	struct batch_kv kv = { w.mem, klen, tomb ? NULL : w.mem + klen, wbuf_len(&w) - klen };
	*t = w.oom ? NULL : meta_topic_find(g_broker->meta, TXN_TOPIC, strlen(TXN_TOPIC));
	int rc = w.oom ? KAFKA_UNKNOWN_SERVER_ERROR : KAFKA_COORDINATOR_NOT_AVAILABLE;
	if (*t) {
		*pl = (*t)->parts[tmsg_partition_for(tid, (*t)->npartitions)]->log;
		int64_t base;
		rc = coord_append(*pl, &kv, 1, NULL, &base, end);
	}
	wbuf_fini(&w);
	return rc;
}

/* Writes rec durably; fn(arg, code) runs later on this thread, never
 * inside the call — except when even the wait cannot be set up (out of
 * memory): then fn runs at once with UNKNOWN_SERVER_ERROR. */
static void txn_write(const char *tid, const struct txn_rec *rec, coord_durable_fn fn, void *arg)
{
	struct topic *t;
	struct plog *pl = NULL;
	int64_t end = 0;
	int err = txn_append(tid, rec, &t, &pl, &end);
	if (coord_when_durable(pl, end, err, fn, arg) != 0) {
		log_error("coord", "transaction %s: out of memory waiting for its state", tid);
		fn(arg, KAFKA_UNKNOWN_SERVER_ERROR);
	}
	if (t)
		topic_unref(t);
}

/* ---------------------------------------------------- the KIP-890 view */

/* Publishes tid's applied state to the data path: ONGOING transactions
 * with their partitions; anything else withdrawn. */
static void txn_publish(const char *tid, int64_t old_pid)
{
	bool pending;
	const struct txn_rec *r = tcoord_find(g_txn.tc, tid, &pending);
	if (old_pid >= 0 && (!r || r->pid != old_pid))
		treg_end(old_pid);
	if (!r)
		return;
	if (r->state != TXN_ONGOING) {
		treg_end(r->pid);
		return;
	}
	if (treg_set(r->pid, r->epoch, r->tps, r->ntps) != 0)
		log_error("coord", "transaction %s: out of memory publishing its partitions; "
			  "its produce requests are refused until the next AddPartitionsToTxn", tid);
}

/* ------------------------------------------------------------- markers */

struct mk_run {
	char *tid;
	int64_t pid;
	int16_t epoch;
	bool commit;
	struct txn_tp *tps;     /* copies */
	size_t n;
	size_t pending;         /* markers appended, not yet durable */
	bool failed;            /* some marker failed: the round is retried */
	bool writing;           /* inside the append loop (no finish yet) */
};

struct mk_one {
	struct mk_run *run;
	int32_t partition;
	bool offsets;           /* a __consumer_offsets partition */
};

static void markers_round(struct mk_run *run);

static void mk_free(struct mk_run *run)
{
	for (size_t i = 0; i < run->n; i++)
		free(run->tps[i].topic);
	free(run->tps);
	free(run->tid);
	free(run);
}

static void mk_retry(void *arg)
{
	struct mk_run *run = arg;
	if (g_txn.closed) {
		mk_free(run);
		return;
	}
	markers_round(run);
}

static void complete_written(void *arg, int err);
static void unpark(const char *tid);

/* Every marker of the round is durable (or the round failed). */
static void markers_finish(struct mk_run *run)
{
	if (run->failed) {
		log_warn("coord", "transaction %s: markers not all written; retrying in %d ms", run->tid,
			 MARKER_RETRY_MS);
		run->failed = false;
		if (!evtimer_add(g_coord.loop, clock_mono_ms() + MARKER_RETRY_MS, mk_retry, run))
			mk_free(run);
		return;
	}
	struct txn_step st;
	tcoord_markers_done(g_txn.tc, run->tid, clock_wall_ms(), &st);
	if (!st.write) {
		mk_free(run);
		return;
	}
	txn_write(run->tid, st.rec, complete_written, run);
}

/* COMPLETE_x written (or not: then the markers' outcome is written again
 * later — the state stays PREPARE_x, which restart also finishes). */
static void complete_written(void *arg, int err)
{
	struct mk_run *run = arg;
	struct txn_after after;
	tcoord_written(g_txn.tc, run->tid, err, clock_wall_ms(), &after);
	if (err != KAFKA_NONE) {
		run->failed = true;
		markers_finish(run);
		return;
	}
	txn_publish(run->tid, -1);
	log_debug("coord", "transaction %s: %s complete (%zu partitions)", run->tid,
		  run->commit ? "commit" : "abort", run->n);
	unpark(run->tid);
	mk_free(run);
}

static void mk_done(void *arg, int err)
{
	struct mk_one *one = arg;
	struct mk_run *run = one->run;
	if (err != KAFKA_NONE)
		run->failed = true;
	else if (one->offsets)
		coord_store_txn_end(one->partition, run->pid, run->commit);
	free(one);
	if (--run->pending == 0 && !run->writing)
		markers_finish(run);
}

/* Appends the marker for tps[i]. A partition that no longer exists (its
 * topic deleted) is skipped, as Kafka's marker channel does. */
static void mk_write(struct mk_run *run, size_t i)
{
	const struct txn_tp *tp = &run->tps[i];
	struct topic *t = meta_topic_find(g_broker->meta, tp->topic, strlen(tp->topic));
	if (!t || tp->partition < 0 || tp->partition >= t->npartitions) {
		if (t)
			topic_unref(t);
		return;
	}
	struct plog *pl = t->parts[tp->partition]->log;
	int64_t off;
	int rc = plog_append_marker(pl, run->pid, run->epoch, 0, run->commit, clock_wall_ms(), &off);
	struct mk_one *one = rc == KAFKA_NONE ? malloc(sizeof(*one)) : NULL;
	if (rc == KAFKA_INVALID_PRODUCER_EPOCH) {
		/* The partition knows a newer epoch of this producer: a later
		 * transaction already closed whatever this one had there. */
		log_warn("coord", "transaction %s: marker for %s-%d refused (stale epoch %d); skipped",
			 run->tid, tp->topic, tp->partition, run->epoch);
	} else if (!one) {
		run->failed = true;
	} else {
		*one = (struct mk_one){ run, tp->partition, strcmp(tp->topic, COORD_TOPIC) == 0 };
		if (coord_when_durable(pl, off + 1, KAFKA_NONE, mk_done, one) == 0) {
			run->pending++;
		} else {
			free(one);
			run->failed = true;
		}
	}
	topic_unref(t);
}

static void markers_round(struct mk_run *run)
{
	run->writing = true;
	for (size_t i = 0; i < run->n; i++)
		mk_write(run, i);
	run->writing = false;
	if (run->pending == 0)
		markers_finish(run);
}

/* Starts the markers of tid's PREPARE_x transaction (pid, epoch). */
static void markers_start(const char *tid, int64_t pid, int16_t epoch, bool commit)
{
	bool pending;
	const struct txn_rec *r = tcoord_find(g_txn.tc, tid, &pending);
	struct mk_run *run = calloc(1, sizeof(*run));
	if (run) {
		run->tid = strdup(tid);
		run->tps = calloc(r && r->ntps ? r->ntps : 1, sizeof(*run->tps));
	}
	for (size_t i = 0; run && run->tps && r && i < r->ntps; i++) {
		run->tps[i].partition = r->tps[i].partition;
		if (!(run->tps[i].topic = strdup(r->tps[i].topic)))
			break;
		run->n++;
	}
	if (!run || !run->tid || !run->tps || (r && run->n != r->ntps)) {
		/* Stays PREPARE_x: a restart finishes it. */
		log_error("coord", "transaction %s: out of memory starting its markers", tid);
		if (run)
			mk_free(run);
		return;
	}
	run->pid = pid;
	run->epoch = epoch;
	run->commit = commit;
	/* Withdrawn before the first marker: see treg.h for why. */
	treg_end(pid);
	markers_round(run);
}

/* ------------------------------------------------------------- requests */

/* The requests a call can be. */
enum call_kind { CALL_INIT, CALL_ADD, CALL_END, CALL_OWN };

/* One transition in flight: a request's (job set) or the coordinator's own
 * (timeouts, expiry: job NULL, kind CALL_OWN, st given). */
struct txn_call {
	struct coord_job *job;
	coord_txn_done_fn done;
	char *tid;
	int64_t old_pid;        /* the pid before the transition (its registry entry) */
	struct txn_step st;     /* !st.write: the answer */
	/* the request, to run it again after parking */
	enum call_kind kind;
	int64_t pid;
	int16_t epoch;
	int32_t timeout_ms;     /* CALL_INIT */
	bool commit;            /* CALL_END */
	bool fenced_ok;
	struct txn_tp *tps;     /* CALL_ADD: in the job's arena */
	size_t ntps;
	int64_t parked_ms;      /* mono ms it was first parked; -1 never */
	struct txn_call *next_parked;
};

/* Requests that found their id busy with something that ends by itself —
 * its state write in flight, or the previous transaction's markers — wait
 * here and run again once that id's next transition is applied, instead of
 * answering CONCURRENT_TRANSACTIONS at once: clients back off 20-100 ms on
 * that code, which capped back-to-back transactions over several
 * partitions at ~40/s (librdkafka registers a transaction's partitions in
 * more than one AddPartitionsToTxn while the first one's write waits for
 * its fdatasync). A request waits at most PARK_MAX_MS, then gets the code. */
#define PARK_MAX_MS 1000
static struct txn_call *g_parked;          /* coordinator thread */
static struct evtimer *g_park_timer;

static void call_free(struct txn_call *c)
{
	free(c->tid);
	free(c);
}

static void call_answer(struct txn_call *c, int err, int64_t pid, int16_t epoch)
{
	if (c->job)
		c->done(c->job, err, pid, epoch);
	call_free(c);
}

static void unpark(const char *tid);

static void call_written(void *arg, int err)
{
	struct txn_call *c = arg;
	struct txn_after after;
	tcoord_written(g_txn.tc, c->tid, err, clock_wall_ms(), &after);
	if (err == KAFKA_NONE)
		txn_publish(c->tid, c->old_pid);
	char *tid = c->tid;
	c->tid = NULL;
	call_answer(c, after.err, after.pid, after.epoch);
	if (after.markers)
		markers_start(tid, after.pid, after.epoch, after.commit);
	unpark(tid);
	free(tid);
}

static void call_now(void *arg)
{
	struct txn_call *c = arg;
	call_answer(c, c->st.err, c->st.pid, c->st.epoch);
}

static struct txn_call *call_new(struct coord_job *job, const char *tid, coord_txn_done_fn done,
				 enum call_kind kind)
{
	struct txn_call *c = calloc(1, sizeof(*c));
	if (c && !(c->tid = strdup(tid))) {
		free(c);
		c = NULL;
	}
	if (!c) {
		log_error("coord", "out of memory: transactional request of %s dropped",
			  job ? job->req->peer : "coordinator");
		return NULL;
	}
	c->job = job;
	c->done = done;
	c->kind = kind;
	c->parked_ms = -1;
	bool pending;
	const struct txn_rec *r = tcoord_find(g_txn.tc, tid, &pending);
	c->old_pid = r ? r->pid : -1;
	return c;
}

/* Asks the state machines (again, after parking) what the request leads to. */
static void call_decide(struct txn_call *c)
{
	bool pending;
	const struct txn_rec *r = tcoord_find(g_txn.tc, c->tid, &pending);
	c->old_pid = r ? r->pid : -1;
	int64_t now = clock_wall_ms();
	switch (c->kind) {
	case CALL_INIT:
		tcoord_init_pid(g_txn.tc, c->tid, c->timeout_ms, c->pid, c->epoch, c->fenced_ok, now, &c->st);
		break;
	case CALL_ADD:
		tcoord_add_partitions(g_txn.tc, c->tid, c->pid, c->epoch, c->tps, c->ntps, c->fenced_ok, now,
				      &c->st);
		break;
	case CALL_END:
		tcoord_end_txn(g_txn.tc, c->tid, c->pid, c->epoch, c->commit, c->fenced_ok, now, &c->st);
		break;
	case CALL_OWN:
		break;
	}
}

/* Is tid busy with something that ends without a request: a write in
 * flight, or markers (PREPARE_x)? */
static bool busy_by_itself(const char *tid)
{
	bool pending;
	const struct txn_rec *r = tcoord_find(g_txn.tc, tid, &pending);
	return r && (pending || r->state == TXN_PREPARE_COMMIT || r->state == TXN_PREPARE_ABORT);
}

static void park_sweep(void *arg);

static bool park(struct txn_call *c)
{
	int64_t now = clock_mono_ms();
	if (g_txn.closed || !c->job || c->st.write || c->st.err != KAFKA_CONCURRENT_TRANSACTIONS ||
	    !busy_by_itself(c->tid) || (c->parked_ms >= 0 && now - c->parked_ms >= PARK_MAX_MS))
		return false;
	if (!g_park_timer &&
	    !(g_park_timer = evtimer_add(g_coord.loop, now + PARK_MAX_MS / 4, park_sweep, NULL)))
		return false;
	if (c->parked_ms < 0)
		c->parked_ms = now;
	c->next_parked = g_parked;
	g_parked = c;
	return true;
}

/* Carries out a step: write and answer later, park, or answer (later) now. */
static void call_go(struct txn_call *c)
{
	if (c->st.write) {
		txn_write(c->tid, c->st.rec, call_written, c);
		return;
	}
	if (park(c))
		return;
	if (evloop_post(g_coord.loop, call_now, c) != 0) {
		log_warn("coord", "coordinator stopping: transactional request unanswered");
		call_free(c);
	}
}

/* Takes the parked calls matching (tid, or all when NULL; overdue only
 * when overdue) off the list, in parking order. */
static struct txn_call *unpark_take(const char *tid, bool overdue)
{
	struct txn_call *taken = NULL, **pp = &g_parked;
	int64_t now = clock_mono_ms();
	while (*pp) {
		struct txn_call *c = *pp;
		bool match = (!tid || strcmp(c->tid, tid) == 0) &&
			     (!overdue || now - c->parked_ms >= PARK_MAX_MS);
		if (!match) {
			pp = &c->next_parked;
			continue;
		}
		*pp = c->next_parked;
		/* The list is newest first; prepending makes taken oldest first. */
		c->next_parked = taken;
		taken = c;
	}
	return taken;
}

/* tid's transition was applied: its parked requests run again. */
static void unpark(const char *tid)
{
	struct txn_call *c = unpark_take(tid, false);
	while (c) {
		struct txn_call *next = c->next_parked;
		call_decide(c);
		call_go(c);
		c = next;
	}
}

static void park_sweep(void *arg)
{
	(void)arg;
	g_park_timer = NULL;
	for (struct txn_call *c = unpark_take(NULL, true), *next; c; c = next) {
		next = c->next_parked;
		call_go(c);   /* overdue: park() refuses, the code goes out */
	}
	if (g_parked && !g_txn.closed)
		g_park_timer = evtimer_add(g_coord.loop, clock_mono_ms() + PARK_MAX_MS / 4, park_sweep, NULL);
}

/* Out of memory for the call itself: answer through a minimal post. */
struct oom_answer { struct coord_job *job; coord_txn_done_fn done; };

static void oom_now(void *arg)
{
	struct oom_answer *o = arg;
	o->done(o->job, KAFKA_UNKNOWN_SERVER_ERROR, -1, -1);
}

static void call_oom(struct coord_job *job, coord_txn_done_fn done)
{
	struct oom_answer *o = arena_alloc(&job->req->arena, sizeof(*o));
	if (o) {
		*o = (struct oom_answer){ job, done };
		if (evloop_post(g_coord.loop, oom_now, o) == 0)
			return;
	}
	done(job, KAFKA_UNKNOWN_SERVER_ERROR, -1, -1);
}

void coord_txn_init_pid(struct coord_job *job, const char *tid, int32_t timeout_ms, int64_t pid,
			int16_t epoch, bool fenced_ok, coord_txn_done_fn done)
{
	struct txn_call *c = call_new(job, tid, done, CALL_INIT);
	if (!c) {
		call_oom(job, done);
		return;
	}
	c->timeout_ms = timeout_ms;
	c->pid = pid;
	c->epoch = epoch;
	c->fenced_ok = fenced_ok;
	call_decide(c);
	call_go(c);
}

void coord_txn_add_partitions(struct coord_job *job, const char *tid, int64_t pid, int16_t epoch,
			      const struct coord_tp *tps, size_t n, bool fenced_ok,
			      coord_txn_done_fn done)
{
	struct txn_call *c = call_new(job, tid, done, CALL_ADD);
	struct txn_tp *v = c ? arena_alloc(&job->req->arena, (n ? n : 1) * sizeof(*v)) : NULL;
	if (!v) {
		if (c)
			call_free(c);
		call_oom(job, done);
		return;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = (struct txn_tp){ (char *)tps[i].topic, tps[i].partition };
	c->pid = pid;
	c->epoch = epoch;
	c->fenced_ok = fenced_ok;
	c->tps = v;
	c->ntps = n;
	call_decide(c);
	call_go(c);
}

void coord_txn_end(struct coord_job *job, const char *tid, int64_t pid, int16_t epoch, bool commit,
		   bool fenced_ok, coord_txn_done_fn done)
{
	struct txn_call *c = call_new(job, tid, done, CALL_END);
	if (!c) {
		call_oom(job, done);
		return;
	}
	c->pid = pid;
	c->epoch = epoch;
	c->commit = commit;
	c->fenced_ok = fenced_ok;
	call_decide(c);
	call_go(c);
}

/* ------------------------------------------------------------- timers */

static void on_abort_tick(void *arg);
static void on_expire_tick(void *arg);

static struct evtimer *arm(int32_t interval_ms, evloop_fn fn)
{
	if (g_txn.closed)
		return NULL;
	struct evtimer *t = evtimer_add(g_coord.loop, clock_mono_ms() + interval_ms, fn, NULL);
	if (!t)
		log_error("coord", "out of memory arming a transaction timer");
	return t;
}

/* Kafka's abortTimedOutTransactions: fence (epoch + 1) and abort. */
static void on_abort_tick(void *arg)
{
	(void)arg;
	g_txn.abort_timer = NULL;
	const char *tid;
	struct txn_step st;
	int64_t now = clock_wall_ms();
	while (tcoord_next_timeout(g_txn.tc, now, &tid, &st)) {
		log_info("coord", "transaction %s timed out: aborting it", tid);
		struct txn_call *c = call_new(NULL, tid, NULL, CALL_OWN);
		if (!c)
			break;
		c->st = st;
		call_go(c);
	}
	g_txn.abort_timer = arm(g_broker->cfg.transaction_abort_timed_out_transaction_cleanup_interval_ms,
				on_abort_tick);
}

static void on_expire_tick(void *arg)
{
	(void)arg;
	g_txn.expire_timer = NULL;
	const char *tid;
	struct txn_step st;
	int64_t now = clock_wall_ms();
	while (tcoord_next_expired(g_txn.tc, now, g_broker->cfg.transactional_id_expiration_ms, &tid, &st)) {
		log_info("coord", "transactional id %s expired", tid);
		struct txn_call *c = call_new(NULL, tid, NULL, CALL_OWN);
		if (!c)
			break;
		c->st = st;
		call_go(c);
	}
	g_txn.expire_timer = arm(g_broker->cfg.transaction_remove_expired_transaction_cleanup_interval_ms,
				 on_expire_tick);
}

/* ------------------------------------------------------------- lifecycle */

static int alloc_pid(void *arg, int64_t *pid)
{
	(void)arg;
	return meta_producer_id_next(g_broker->meta, pid);
}

struct txn_load {
	size_t records, bad;
};

static void load_record(struct txn_load *ld, const struct record_view *rv)
{
	ld->records++;
	char *tid = rv->key_len > 0 ? tmsg_decode_key(rv->key, (size_t)rv->key_len) : NULL;
	if (!tid) {
		ld->bad++;
		return;
	}
	struct txn_rec rec;
	if (rv->value_len < 0) {
		if (tcoord_load(g_txn.tc, tid, NULL) != 0)
			ld->bad++;
	} else if (tmsg_decode_value(rv->value, (size_t)rv->value_len, &rec) != 0) {
		ld->bad++;
	} else {
		if (tcoord_load(g_txn.tc, tid, &rec) != 0)
			ld->bad++;
		txn_rec_fini(&rec);
	}
	free(tid);
}

static void load_batch(void *arg, uint8_t *p, size_t n, const struct batch_hdr *h)
{
	struct txn_load *ld = arg;
	if ((h->attributes & BATCH_ATTR_CONTROL) || (h->attributes & BATCH_ATTR_CODEC_MASK) != 0)
		return; /* we write neither */
	size_t pos = 0;
	struct record_view rv;
	int rc;
	while ((rc = batch_next_record(p + BATCH_HEADER_SIZE, n - BATCH_HEADER_SIZE, &pos, &rv)) == 0)
		load_record(ld, &rv);
	if (rc < 0)
		ld->bad++;
}

static void publish_one(void *arg, const char *tid, const struct txn_rec *rec)
{
	(void)arg;
	if (rec->state == TXN_ONGOING && treg_set(rec->pid, rec->epoch, rec->tps, rec->ntps) != 0)
		log_error("coord", "transaction %s: out of memory publishing its partitions", tid);
}

int coord_txn_load(void)
{
	g_txn.tc = tcoord_new(alloc_pid, NULL);
	if (!g_txn.tc) {
		log_error("coord", "out of memory starting the transaction coordinator");
		return -1;
	}
	struct topic *t = meta_topic_find(g_broker->meta, TXN_TOPIC, strlen(TXN_TOPIC));
	if (!t)
		return 0;
	int64_t t0 = clock_mono_ms();
	struct txn_load ld = { 0, 0 };
	int rc = 0;
	for (int32_t p = 0; p < t->npartitions && rc == 0; p++) {
		if (coord_log_scan(t->parts[p]->log, load_batch, &ld) != 0) {
			log_error("coord", "cannot read %s-%d", TXN_TOPIC, p);
			rc = -1;
		}
	}
	topic_unref(t);
	if (ld.bad)
		log_warn("coord", "%zu of %zu records in %s could not be used", ld.bad, ld.records, TXN_TOPIC);
	tcoord_foreach(g_txn.tc, publish_one, NULL);
	log_info("coord", "transaction coordinator loaded %zu transactional ids in %lld ms",
		 tcoord_count(g_txn.tc), (long long)(clock_mono_ms() - t0));
	return rc;
}

struct preparing { char **tids; size_t n, cap; };

static void collect_preparing(void *arg, const char *tid, const struct txn_rec *rec)
{
	(void)rec;
	struct preparing *pp = arg;
	if (pp->n == pp->cap) {
		size_t cap = pp->cap ? pp->cap * 2 : 8;
		char **v = realloc(pp->tids, cap * sizeof(*v));
		if (!v)
			return;
		pp->tids = v;
		pp->cap = cap;
	}
	if ((pp->tids[pp->n] = strdup(tid)))
		pp->n++;
}

void coord_txn_resume(void)
{
	/* Collected first: starting markers may change the set. */
	struct preparing pp = { NULL, 0, 0 };
	tcoord_foreach_preparing(g_txn.tc, collect_preparing, &pp);
	for (size_t i = 0; i < pp.n; i++) {
		bool pending;
		const struct txn_rec *r = tcoord_find(g_txn.tc, pp.tids[i], &pending);
		if (r && (r->state == TXN_PREPARE_COMMIT || r->state == TXN_PREPARE_ABORT)) {
			log_info("coord", "transaction %s: completing its %s after restart", pp.tids[i],
				 r->state == TXN_PREPARE_COMMIT ? "commit" : "abort");
			markers_start(pp.tids[i], r->pid, r->epoch, r->state == TXN_PREPARE_COMMIT);
		}
		free(pp.tids[i]);
	}
	free(pp.tids);
	g_txn.abort_timer = arm(g_broker->cfg.transaction_abort_timed_out_transaction_cleanup_interval_ms,
				on_abort_tick);
	g_txn.expire_timer = arm(g_broker->cfg.transaction_remove_expired_transaction_cleanup_interval_ms,
				 on_expire_tick);
}

void coord_txn_stop(void)
{
	g_txn.closed = true;
	/* Parked requests answer now (CONCURRENT_TRANSACTIONS: retriable). */
	for (struct txn_call *c = unpark_take(NULL, false), *next; c; c = next) {
		next = c->next_parked;
		call_answer(c, c->st.err, c->st.pid, c->st.epoch);
	}
	if (g_park_timer)
		evtimer_cancel(g_coord.loop, g_park_timer);
	g_park_timer = NULL;
	if (g_txn.abort_timer)
		evtimer_cancel(g_coord.loop, g_txn.abort_timer);
	if (g_txn.expire_timer)
		evtimer_cancel(g_coord.loop, g_txn.expire_timer);
	g_txn.abort_timer = g_txn.expire_timer = NULL;
}

void coord_txn_free(void)
{
	if (g_txn.tc)
		tcoord_free(g_txn.tc);
	g_txn.tc = NULL;
	treg_clear();
}
