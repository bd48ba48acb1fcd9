/*
 * tcoord.c — the transaction coordinator's state machines (tcoord.h has the
 * states, transitions and request rules; this note says how they are kept
 * and where we differ from Kafka 3.9).
 *
 * Storage: a growable array of entry pointers sorted by transactional id
 * (strcmp), searched by bisection. Lookups are O(log n); an insertion or a
 * removal moves pointers only (a few thousand ids cost microseconds), and
 * tcoord_foreach walks the array in tid order with no sorting.
 *
 * An entry (struct tentry):
 *   cur      the applied record (what __transaction_state holds for the id);
 *            meaningless while `fresh` (the first write is still pending).
 *   pend     the pending transition's record, valid while has_pend; the
 *            txn_step handed out points at it.
 *   ans_err  what tcoord_written answers when pend is applied: NONE, or
 *            CONCURRENT_TRANSACTIONS for the fence-and-abort an
 *            InitProducerId started (Kafka's PrepareEpochFence path).
 *   pend_prev_pid/epoch  the previous (pid, epoch) the transition leaves
 *            behind (KIP-360 retries); applied with pend.
 *   prev_pid/epoch  the previous (pid, epoch), or -1/-1. In memory only, as
 *            in Kafka 3.x (its record v0 has no such field; the loader
 *            sets lastProducerEpoch -1): after a restart a retry of a
 *            completed bump is answered PRODUCER_FENCED.
 *   markers  the state is PREPARE_x and its markers are (being) written.
 *
 * Invariants:
 *  1. cur.tps and pend.tps are sorted by (topic, partition) and unique.
 *  2. At most one transition is pending per id; while has_pend or the state
 *     is PREPARE_x, requests answer CONCURRENT_TRANSACTIONS.
 *  3. fresh implies has_pend: a fresh entry whose first write fails is
 *     removed (Kafka keeps an epoch -1 entry in its cache instead; no
 *     client can tell the difference except by a new pid on its retry).
 *  4. A written DEAD record removes the entry.
 *
 * Differences from Kafka 3.9 (TransactionCoordinator.scala,
 * TransactionMetadata.scala), all deliberate:
 *  - A retry of a completed bump (the previous (pid, epoch)) is answered
 *    with the current (pid, epoch) and nothing is written; Kafka writes the
 *    same record again.
 *  - InitProducerId with (pid, epoch) checks the epoch in every state (the
 *    current or the previous pair); Kafka checks only the pid when the
 *    state is Ongoing, so a stale epoch of the same pid aborts the ongoing
 *    transaction there. Refusing it (PRODUCER_FENCED) is the safer answer.
 *  - Timeouts fire at start_ms + timeout_ms <= now (Kafka: <), so
 *    tcoord_next_deadline is exactly the first moment one is due.
 *  - A stored PREPARE_EPOCH_FENCE (Kafka never writes one) loads as
 *    ONGOING, so the timeout aborts it instead of it hanging forever.
 *  - InitProducerId checks (pid, epoch) before PREPARE_x, as Kafka does
 *    (tcoord.h lists PREPARE_x first): a fenced producer learns it at once.
 * And one rule of tcoord.h corrected to Kafka's: EndTxn on EMPTY answers
 * INVALID_TXN_STATE for abort too (TransactionCoordinator.endTransaction,
 * `case Empty => logInvalidStateTransitionAndReturnError`; only Kafka 4's
 * transactions V2 accepts an abort there). Clients never send it: they end
 * a transaction with no partitions locally.
 *
 * fenced_ok — which request versions understand PRODUCER_FENCED (90)
 * (KIP-588; Kafka's request JSONs: "Version N adds the support for new
 * error code PRODUCER_FENCED"). Older versions get INVALID_PRODUCER_EPOCH
 * (47), which KafkaApis substitutes for them:
 *     InitProducerId     v4+
 *     AddPartitionsToTxn v2+
 *     AddOffsetsToTxn    v2+
 *     EndTxn             v2+
 *     TxnOffsetCommit    never (no version lists it; a stale epoch there is
 *                        the log's producer-epoch check: INVALID_PRODUCER_EPOCH)
 * The handlers compute the flag; this file only picks the code.
 *
 * tcoord_count counts every entry, including one whose first InitProducerId
 * is still being written (which tcoord_find and tcoord_foreach skip).
 *
 * Pure: no I/O, no clock reads, no threads. One thread (the coordinator's)
 * calls everything.
 */
#include "txn/tcoord.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

/* Kafka's TransactionMetadata.isEpochExhausted: the epoch must stay below
 * Short.MaxValue so one fence (epoch + 1) always fits. */
#define EPOCH_EXHAUSTED (INT16_MAX - 1)

struct tentry {
	char *tid;              /* owned */
	struct txn_rec cur;     /* applied; tps owned */
	struct txn_rec pend;    /* has_pend: the pending transition; tps owned */
	bool has_pend;
	bool fresh;             /* no applied record yet (first write pending) */
	bool markers;           /* PREPARE_x: markers being written */
	int16_t ans_err;        /* tcoord_written's answer when pend applies */
	int64_t pend_prev_pid;  /* prev_* once pend applies */
	int16_t pend_prev_epoch;
	int64_t prev_pid;       /* KIP-360: the (pid, epoch) before the last bump */
	int16_t prev_epoch;
};

struct tcoord {
	struct tentry **v;      /* owned; sorted by tid */
	size_t n, cap;
	tcoord_alloc_fn alloc;
	void *alloc_arg;
};

/* ================================================================ names */

static const char *const state_names[] = {
	[TXN_EMPTY] = "Empty",
	[TXN_ONGOING] = "Ongoing",
	[TXN_PREPARE_COMMIT] = "PrepareCommit",
	[TXN_PREPARE_ABORT] = "PrepareAbort",
	[TXN_COMPLETE_COMMIT] = "CompleteCommit",
	[TXN_COMPLETE_ABORT] = "CompleteAbort",
	[TXN_DEAD] = "Dead",
	[TXN_PREPARE_EPOCH_FENCE] = "PrepareEpochFence",
};
#define NSTATES ((int)(sizeof(state_names) / sizeof(state_names[0])))

const char *txn_state_name(enum txn_state s)
{
	return (int)s >= 0 && (int)s < NSTATES ? state_names[s] : "Unknown";
}

int txn_state_parse(const char *name)
{
	for (int i = 0; name && i < NSTATES; i++)
		if (strcmp(name, state_names[i]) == 0)
			return i;
	return -1;
}

/* ============================================================ records */

static void tps_free(struct txn_tp *tps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(tps[i].topic);
	free(tps);
}

void txn_rec_fini(struct txn_rec *r)
{
	tps_free(r->tps, r->ntps);
	r->tps = NULL;
	r->ntps = 0;
}

int txn_tp_cmp(const void *a, const void *b)
{
	const struct txn_tp *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);
	if (c != 0)
		return c;
	return (x->partition > y->partition) - (x->partition < y->partition);
}

/* Deep copy of n partitions (owned by the result); NULL on OOM. */
static struct txn_tp *tps_copy(const struct txn_tp *tps, size_t n)
{
	struct txn_tp *c = calloc(n ? n : 1, sizeof(*c));
	for (size_t i = 0; c && i < n; i++) {
		c[i].partition = tps[i].partition;
		if (!(c[i].topic = strdup(tps[i].topic))) {
			tps_free(c, i);
			return NULL;
		}
	}
	return c;
}

/* dst = src with copied partitions; -1 on OOM (dst then has none). */
static int rec_copy(struct txn_rec *dst, const struct txn_rec *src)
{
	*dst = *src;
	dst->tps = NULL;
	dst->ntps = 0;
	if (src->ntps == 0)
		return 0;
	if (!(dst->tps = tps_copy(src->tps, src->ntps)))
		return -1;
	dst->ntps = src->ntps;
	return 0;
}

void txn_tps_normalize(struct txn_tp *tps, size_t *n)
{
	if (*n == 0)
		return;
	qsort(tps, *n, sizeof(*tps), txn_tp_cmp);
	size_t k = 1;
	for (size_t i = 1; i < *n; i++) {
		if (txn_tp_cmp(&tps[i], &tps[k - 1]) == 0)
			free(tps[i].topic);
		else
			tps[k++] = tps[i];
	}
	*n = k;
}

static bool tps_has(const struct txn_rec *r, const struct txn_tp *tp)
{
	return r->ntps > 0 && bsearch(tp, r->tps, r->ntps, sizeof(*tp), txn_tp_cmp) != NULL;
}

/* ============================================================ the map */

/* Index of tid, or where it would go (*found false). */
static size_t find_at(const struct tcoord *tc, const char *tid, bool *found)
{
	size_t lo = 0, hi = tc->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(tc->v[mid]->tid, tid) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < tc->n && strcmp(tc->v[lo]->tid, tid) == 0;
	return lo;
}

static struct tentry *entry_find(const struct tcoord *tc, const char *tid)
{
	bool found;
	size_t i = find_at(tc, tid, &found);
	return found ? tc->v[i] : NULL;
}

static void entry_free(struct tentry *e)
{
	txn_rec_fini(&e->cur);
	txn_rec_fini(&e->pend);
	free(e->tid);
	free(e);
}

/* A new empty entry for tid inserted in order; NULL on OOM. */
static struct tentry *entry_add(struct tcoord *tc, const char *tid)
{
	bool found;
	size_t i = find_at(tc, tid, &found);
	assert(!found);
	if (tc->n == tc->cap) {
		size_t cap = tc->cap ? tc->cap * 2 : 16;
		struct tentry **v = realloc(tc->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		tc->v = v;
		tc->cap = cap;
	}
	struct tentry *e = calloc(1, sizeof(*e));
	if (e && !(e->tid = strdup(tid))) {
		free(e);
		e = NULL;
	}
	if (!e)
		return NULL;
	e->prev_pid = -1;
	e->prev_epoch = -1;
	e->cur.start_ms = -1;
	memmove(&tc->v[i + 1], &tc->v[i], (tc->n - i) * sizeof(*tc->v));
	tc->v[i] = e;
	tc->n++;
	return e;
}

static void entry_remove(struct tcoord *tc, const char *tid)
{
	bool found;
	size_t i = find_at(tc, tid, &found);
	if (!found)
		return;
	entry_free(tc->v[i]);
	memmove(&tc->v[i], &tc->v[i + 1], (tc->n - i - 1) * sizeof(*tc->v));
	tc->n--;
}

struct tcoord *tcoord_new(tcoord_alloc_fn alloc, void *alloc_arg)
{
	struct tcoord *tc = calloc(1, sizeof(*tc));
	if (tc) {
		tc->alloc = alloc;
		tc->alloc_arg = alloc_arg;
	}
	return tc;
}

void tcoord_free(struct tcoord *tc)
{
	if (!tc)
		return;
	for (size_t i = 0; i < tc->n; i++)
		entry_free(tc->v[i]);
	free(tc->v);
	free(tc);
}

size_t tcoord_count(const struct tcoord *tc)
{
	return tc->n;
}

/* ====================================================== transitions */

static void step_answer(struct txn_step *out, int err)
{
	*out = (struct txn_step){ .err = (int16_t)err, .pid = -1, .epoch = -1 };
}

static void step_ok(struct txn_step *out, int64_t pid, int16_t epoch)
{
	*out = (struct txn_step){ .err = KAFKA_NONE, .pid = pid, .epoch = epoch };
}

static int fenced_err(bool fenced_ok)
{
	return fenced_ok ? KAFKA_PRODUCER_FENCED : KAFKA_INVALID_PRODUCER_EPOCH;
}

static bool is_prepare(enum txn_state s)
{
	return s == TXN_PREPARE_COMMIT || s == TXN_PREPARE_ABORT;
}

static bool is_idle(enum txn_state s)
{
	return s == TXN_EMPTY || s == TXN_COMPLETE_COMMIT || s == TXN_COMPLETE_ABORT;
}

/* Makes e->pend (already filled, owning its tps) the pending transition
 * and points out at it. The previous pair stays unless changed by the
 * caller after this call. */
static void pend_start(struct tentry *e, int ans_err, struct txn_step *out)
{
	e->has_pend = true;
	e->ans_err = (int16_t)ans_err;
	e->pend_prev_pid = e->prev_pid;
	e->pend_prev_epoch = e->prev_epoch;
	*out = (struct txn_step){ .err = KAFKA_NONE, .write = true, .rec = &e->pend,
				  .pid = e->pend.pid, .epoch = e->pend.epoch };
}

/* Pending: cur with a new state and no partitions (copying none). */
static void pend_bare(struct tentry *e, enum txn_state st, int64_t now_ms)
{
	txn_rec_fini(&e->pend);
	e->pend = e->cur;
	e->pend.tps = NULL;
	e->pend.ntps = 0;
	e->pend.state = st;
	e->pend.update_ms = now_ms;
}

/* Pending: cur with a new state and cur's partitions; -1 on OOM. */
static int pend_with_tps(struct tentry *e, enum txn_state st, int64_t now_ms)
{
	txn_rec_fini(&e->pend);
	if (rec_copy(&e->pend, &e->cur) != 0)
		return -1;
	e->pend.state = st;
	e->pend.update_ms = now_ms;
	return 0;
}

/* ONGOING -> PREPARE_ABORT with epoch + 1 (Kafka's prepareFenceProducerEpoch
 * followed by endTransaction(ABORT, isFromClient = false)). The old
 * producer's epoch is then dead: previous pair -1/-1, as in Kafka. */
static int fence_and_abort(struct tentry *e, int ans_err, int64_t now_ms, struct txn_step *out)
{
	assert(e->cur.state == TXN_ONGOING);
	if (pend_with_tps(e, TXN_PREPARE_ABORT, now_ms) != 0)
		return -1;
	/* Epochs handed out stay below INT16_MAX (EPOCH_EXHAUSTED), so the
	 * fence fits; a loaded record at INT16_MAX (never written by us or
	 * Kafka, which throws there) is aborted without it. */
	if (e->cur.epoch < INT16_MAX)
		e->pend.epoch = (int16_t)(e->cur.epoch + 1);
	pend_start(e, ans_err, out);
	e->pend_prev_pid = -1;
	e->pend_prev_epoch = -1;
	return 0;
}

/* ========================================================= InitProducerId */

/* The first InitProducerId of tid: a new pid, epoch 0, EMPTY. */
static void init_new(struct tcoord *tc, const char *tid, int32_t timeout_ms, int64_t now_ms,
		     struct txn_step *out)
{
	int64_t pid = -1;
	int rc = tc->alloc(tc->alloc_arg, &pid);
	if (rc != KAFKA_NONE) {
		step_answer(out, rc);
		return;
	}
	struct tentry *e = entry_add(tc, tid);
	if (!e) {
		step_answer(out, KAFKA_UNKNOWN_SERVER_ERROR);
		return;
	}
	e->fresh = true;
	e->pend = (struct txn_rec){ .pid = pid, .epoch = 0, .timeout_ms = timeout_ms,
				    .state = TXN_EMPTY, .update_ms = now_ms, .start_ms = -1 };
	pend_start(e, KAFKA_NONE, out);
}

/* EMPTY/COMPLETE_x -> EMPTY with the next epoch, or a new pid at epoch 0
 * when the epoch is exhausted (Kafka's prepareIncrementProducerEpoch and
 * prepareProducerIdRotation). given: the request carried (pid, epoch),
 * which then becomes the previous pair (a retry of this bump is answered
 * with its result); without one the previous pair is cleared. */
static void init_bump(struct tcoord *tc, struct tentry *e, int32_t timeout_ms, bool given,
		      int64_t now_ms, struct txn_step *out)
{
	int64_t pid = e->cur.pid;
	int16_t epoch = (int16_t)(e->cur.epoch + 1);
	if (e->cur.epoch >= EPOCH_EXHAUSTED) {
		int rc = tc->alloc(tc->alloc_arg, &pid);
		if (rc != KAFKA_NONE) {
			step_answer(out, rc);
			return;
		}
		epoch = 0;
	}
	pend_bare(e, TXN_EMPTY, now_ms);
	e->pend.pid = pid;
	e->pend.epoch = epoch;
	e->pend.timeout_ms = timeout_ms;
	e->pend.start_ms = -1;
	int64_t prev_pid = given ? e->cur.pid : -1;
	int16_t prev_epoch = given ? e->cur.epoch : -1;
	pend_start(e, KAFKA_NONE, out);
	e->pend_prev_pid = prev_pid;
	e->pend_prev_epoch = prev_epoch;
}

void tcoord_init_pid(struct tcoord *tc, const char *tid, int32_t timeout_ms, int64_t pid,
		     int16_t epoch, bool fenced_ok, int64_t now_ms, struct txn_step *out)
{
	struct tentry *e = entry_find(tc, tid);
	if (!e) {
		init_new(tc, tid, timeout_ms, now_ms, out);
		return;
	}
	if (e->has_pend) {
		step_answer(out, KAFKA_CONCURRENT_TRANSACTIONS);
		return;
	}
	bool given = !(pid == -1 && epoch == -1);
	bool is_cur = pid == e->cur.pid && epoch == e->cur.epoch;
	bool is_prev = e->prev_pid >= 0 && pid == e->prev_pid && epoch == e->prev_epoch;
	if (given && !is_cur && !is_prev) {
		step_answer(out, fenced_err(fenced_ok));
		return;
	}
	if (is_prepare(e->cur.state)) {
		step_answer(out, KAFKA_CONCURRENT_TRANSACTIONS);
		return;
	}
	if (given && is_prev && !is_cur) {
		step_ok(out, e->cur.pid, e->cur.epoch);
		return;
	}
	if (e->cur.state == TXN_ONGOING) {
		if (fence_and_abort(e, KAFKA_CONCURRENT_TRANSACTIONS, now_ms, out) != 0)
			step_answer(out, KAFKA_UNKNOWN_SERVER_ERROR);
		return;
	}
	assert(is_idle(e->cur.state));
	init_bump(tc, e, timeout_ms, given, now_ms, out);
}

/* ================================================ AddPartitions/AddOffsets */

/* The checks AddPartitions and EndTxn share, in Kafka's order: 0 when the
 * request may go on, else the answer. */
static int check_producer(const struct tentry *e, int64_t pid, int16_t epoch, bool fenced_ok)
{
	if (!e || e->fresh || e->cur.pid != pid)
		return KAFKA_INVALID_PRODUCER_ID_MAPPING;
	if (e->cur.epoch != epoch)
		return fenced_err(fenced_ok);
	if (e->has_pend)
		return KAFKA_CONCURRENT_TRANSACTIONS;
	return KAFKA_NONE;
}

/* pend = ONGOING with cur's partitions plus tps[0..n). -1 on OOM. */
static int pend_union(struct tentry *e, const struct txn_tp *tps, size_t n, int64_t now_ms)
{
	txn_rec_fini(&e->pend);
	struct txn_tp *u = calloc(e->cur.ntps + n ? e->cur.ntps + n : 1, sizeof(*u));
	if (!u)
		return -1;
	size_t k = 0;
	for (size_t i = 0; i < e->cur.ntps + n; i++) {
		const struct txn_tp *src = i < e->cur.ntps ? &e->cur.tps[i] : &tps[i - e->cur.ntps];
		u[k].partition = src->partition;
		if (!(u[k].topic = strdup(src->topic))) {
			tps_free(u, k);
			return -1;
		}
		k++;
	}
	txn_tps_normalize(u, &k);
	e->pend = e->cur;
	e->pend.tps = u;
	e->pend.ntps = k;
	e->pend.state = TXN_ONGOING;
	e->pend.update_ms = now_ms;
	if (e->cur.state != TXN_ONGOING)
		e->pend.start_ms = now_ms;
	return 0;
}

void tcoord_add_partitions(struct tcoord *tc, const char *tid, int64_t pid, int16_t epoch,
			   const struct txn_tp *tps, size_t n, bool fenced_ok, int64_t now_ms,
			   struct txn_step *out)
{
	struct tentry *e = entry_find(tc, tid);
	int err = check_producer(e, pid, epoch, fenced_ok);
	if (err == KAFKA_NONE && is_prepare(e->cur.state))
		err = KAFKA_CONCURRENT_TRANSACTIONS;
	if (err != KAFKA_NONE) {
		step_answer(out, err);
		return;
	}
	bool all_in = e->cur.state == TXN_ONGOING;
	for (size_t i = 0; all_in && i < n; i++)
		all_in = tps_has(&e->cur, &tps[i]);
	if (all_in) {
		step_ok(out, e->cur.pid, e->cur.epoch);
		return;
	}
	if (pend_union(e, tps, n, now_ms) != 0) {
		step_answer(out, KAFKA_UNKNOWN_SERVER_ERROR);
		return;
	}
	pend_start(e, KAFKA_NONE, out);
}

/* ================================================================ EndTxn */

void tcoord_end_txn(struct tcoord *tc, const char *tid, int64_t pid, int16_t epoch, bool commit,
		    bool fenced_ok, int64_t now_ms, struct txn_step *out)
{
	struct tentry *e = entry_find(tc, tid);
	int err = check_producer(e, pid, epoch, fenced_ok);
	if (err != KAFKA_NONE) {
		step_answer(out, err);
		return;
	}
	switch (e->cur.state) {
	case TXN_ONGOING:
		if (pend_with_tps(e, commit ? TXN_PREPARE_COMMIT : TXN_PREPARE_ABORT, now_ms) != 0) {
			step_answer(out, KAFKA_UNKNOWN_SERVER_ERROR);
			return;
		}
		pend_start(e, KAFKA_NONE, out);
		return;
	case TXN_PREPARE_COMMIT:
		err = commit ? KAFKA_CONCURRENT_TRANSACTIONS : KAFKA_INVALID_TXN_STATE;
		break;
	case TXN_PREPARE_ABORT:
		err = commit ? KAFKA_INVALID_TXN_STATE : KAFKA_CONCURRENT_TRANSACTIONS;
		break;
	case TXN_COMPLETE_COMMIT:
		err = commit ? KAFKA_NONE : KAFKA_INVALID_TXN_STATE;
		break;
	case TXN_COMPLETE_ABORT:
		err = commit ? KAFKA_INVALID_TXN_STATE : KAFKA_NONE;
		break;
	default: /* EMPTY (either outcome, as Kafka 3.9: nothing was begun) */
		err = KAFKA_INVALID_TXN_STATE;
		break;
	}
	if (err == KAFKA_NONE)
		step_ok(out, e->cur.pid, e->cur.epoch);
	else
		step_answer(out, err);
}

/* ================================================= completing a transition */

void tcoord_written(struct tcoord *tc, const char *tid, int err, int64_t now_ms,
		    struct txn_after *out)
{
	(void)now_ms;
	struct tentry *e = entry_find(tc, tid);
	*out = (struct txn_after){ .err = (int16_t)err, .pid = -1, .epoch = -1 };
	if (!e || !e->has_pend) {
		if (err == KAFKA_NONE)
			out->err = KAFKA_UNKNOWN_SERVER_ERROR; /* a driver bug */
		return;
	}
	e->has_pend = false;
	if (err != KAFKA_NONE) {
		txn_rec_fini(&e->pend);
		if (e->fresh)
			entry_remove(tc, tid); /* invariant 3 */
		return;
	}
	if (e->pend.state == TXN_DEAD) {
		entry_remove(tc, tid); /* invariant 4 */
		return;
	}
	txn_rec_fini(&e->cur);
	e->cur = e->pend;
	e->pend = (struct txn_rec){ .start_ms = -1 };
	e->fresh = false;
	e->prev_pid = e->pend_prev_pid;
	e->prev_epoch = e->pend_prev_epoch;
	bool into_prepare = is_prepare(e->cur.state) && !e->markers;
	e->markers = is_prepare(e->cur.state);
	out->err = e->ans_err;
	out->pid = e->cur.pid;
	out->epoch = e->cur.epoch;
	out->markers = into_prepare;
	out->commit = e->cur.state == TXN_PREPARE_COMMIT;
}

void tcoord_markers_done(struct tcoord *tc, const char *tid, int64_t now_ms, struct txn_step *out)
{
	struct tentry *e = entry_find(tc, tid);
	if (!e || e->fresh || !is_prepare(e->cur.state)) {
		step_answer(out, KAFKA_INVALID_TXN_STATE);
		return;
	}
	if (e->has_pend) {
		step_answer(out, KAFKA_CONCURRENT_TRANSACTIONS);
		return;
	}
	/* Kafka's prepareComplete: partitions cleared, start time kept. */
	pend_bare(e, e->cur.state == TXN_PREPARE_COMMIT ? TXN_COMPLETE_COMMIT : TXN_COMPLETE_ABORT,
		  now_ms);
	pend_start(e, KAFKA_NONE, out);
}

/* ================================================================= time */

/* start_ms + timeout_ms, saturated (a loaded record may hold anything). */
static int64_t deadline_of(const struct txn_rec *r)
{
	int64_t d;
	if (__builtin_add_overflow(r->start_ms, (int64_t)r->timeout_ms, &d))
		return r->timeout_ms > 0 ? INT64_MAX : INT64_MIN;
	return d;
}

bool tcoord_next_timeout(struct tcoord *tc, int64_t now_ms, const char **tid, struct txn_step *out)
{
	for (size_t i = 0; i < tc->n; i++) {
		struct tentry *e = tc->v[i];
		if (e->fresh || e->has_pend || e->cur.state != TXN_ONGOING)
			continue;
		if (deadline_of(&e->cur) > now_ms)
			continue;
		if (fence_and_abort(e, KAFKA_NONE, now_ms, out) != 0)
			continue; /* out of memory: tried again next tick */
		*tid = e->tid;
		return true;
	}
	return false;
}

bool tcoord_next_expired(struct tcoord *tc, int64_t now_ms, int64_t expiration_ms,
			 const char **tid, struct txn_step *out)
{
	for (size_t i = 0; i < tc->n; i++) {
		struct tentry *e = tc->v[i];
		if (e->fresh || e->has_pend || !is_idle(e->cur.state))
			continue;
		int64_t idle_since; /* Kafka: update_ms <= now - expiration */
		if (__builtin_sub_overflow(now_ms, expiration_ms, &idle_since) ||
		    e->cur.update_ms > idle_since)
			continue;
		pend_bare(e, TXN_DEAD, now_ms);
		pend_start(e, KAFKA_NONE, out);
		*tid = e->tid;
		return true;
	}
	return false;
}

int64_t tcoord_next_deadline(const struct tcoord *tc)
{
	int64_t best = INT64_MAX;
	for (size_t i = 0; i < tc->n; i++) {
		const struct tentry *e = tc->v[i];
		if (e->fresh || e->has_pend || e->cur.state != TXN_ONGOING)
			continue;
		int64_t d = deadline_of(&e->cur);
		if (d < best)
			best = d;
	}
	return best;
}

/* ============================================================== start-up */

/* Besides tcoord.h's -1 for out of memory: -1 for a state outside enum
 * txn_state (tmsg_decode_value never returns one), the entry unchanged. */
int tcoord_load(struct tcoord *tc, const char *tid, const struct txn_rec *rec)
{
	if (rec && ((int)rec->state < TXN_EMPTY || (int)rec->state > TXN_PREPARE_EPOCH_FENCE))
		return -1;
	if (!rec || rec->state == TXN_DEAD) {
		entry_remove(tc, tid);
		return 0;
	}
	struct txn_rec copy;
	if (rec_copy(&copy, rec) != 0)
		return -1;
	txn_tps_normalize(copy.tps, &copy.ntps);
	if (copy.state == TXN_PREPARE_EPOCH_FENCE)
		copy.state = TXN_ONGOING; /* never stored by Kafka: see the note */
	struct tentry *e = entry_find(tc, tid);
	if (!e && !(e = entry_add(tc, tid))) {
		txn_rec_fini(&copy);
		return -1;
	}
	txn_rec_fini(&e->cur);
	txn_rec_fini(&e->pend);
	e->cur = copy;
	e->has_pend = false;
	e->fresh = false;
	e->markers = is_prepare(copy.state);
	e->prev_pid = -1;
	e->prev_epoch = -1;
	return 0;
}

void tcoord_foreach_preparing(struct tcoord *tc, void (*fn)(void *arg, const char *tid,
							    const struct txn_rec *rec),
			      void *arg)
{
	for (size_t i = 0; i < tc->n; i++) {
		const struct tentry *e = tc->v[i];
		if (!e->fresh && is_prepare(e->cur.state))
			fn(arg, e->tid, &e->cur);
	}
}

/* ============================================================== reading */

const struct txn_rec *tcoord_find(const struct tcoord *tc, const char *tid, bool *pending)
{
	const struct tentry *e = entry_find(tc, tid);
	if (pending)
		*pending = e && e->has_pend;
	return e && !e->fresh ? &e->cur : NULL;
}

void tcoord_foreach(const struct tcoord *tc,
		    void (*fn)(void *arg, const char *tid, const struct txn_rec *rec), void *arg)
{
	for (size_t i = 0; i < tc->n; i++)
		if (!tc->v[i]->fresh)
			fn(arg, tc->v[i]->tid, &tc->v[i]->cur);
}
