/*
 * pstate.c — per-partition producer state (see pstate.h for Kafka's rules
 * and the snapshot layout).
 *
 * The map: open addressing with linear probing over a power-of-two array of
 * struct pstate_entry, keyed by pid. A slot with pid < 0 is empty (producer
 * ids are >= 0: pstate_update ignores batches without one, pstate_load
 * rejects them). Invariants:
 *  1. count <= cap / 2 (so a probe always meets an empty slot, and a
 *     deletion's backward shift ends before it wraps back to its start);
 *  2. every entry sits in the probe run that starts at its home slot: no
 *     empty slot between home and the entry (deletion shifts later entries
 *     back instead of leaving tombstones, so there are none);
 *  3. 0 <= nbatches <= PSTATE_BATCHES, b[] oldest first, all of one epoch
 *     (a new epoch clears them, as Kafka's maybeUpdateProducerEpoch);
 *  4. nopen == the number of entries with an open transaction
 *     (txn_first_offset >= 0); such entries are never removed by expiry or
 *     head truncation, so only pstate_update / pstate_marker / pstate_load
 *     move it.
 * pstate_check therefore costs one probe and no allocation; only a new
 * producer can grow the table (pstate_update's only failure).
 *
 * Sequence arithmetic wraps as Kafka's DefaultRecordBatch does: after
 * INT32_MAX comes 0, so the batch starting at s with last_offset_delta d
 * ends at s + d, or at d - (INT32_MAX - s) - 1 when that overflows.
 *
 * Snapshot file (all big-endian, Kafka's ProducerStateManager version 1):
 *
 *   +---------+-------------+--------------+----------------------+
 *   | Version | Crc         | Count        | Count x entry (46 B) |
 *   | int16=1 | uint32      | int32 >= 0   |                      |
 *   +---------+-------------+--------------+----------------------+
 *             CRC-32C covers everything after itself (Count..end).
 *   entry: ProducerId int64 | Epoch int16 | LastSequence int32 |
 *          LastOffset int64 | OffsetDelta int32 | Timestamp int64 |
 *          CoordinatorEpoch int32 | CurrentTxnFirstOffset int64
 *
 * An entry describes the producer's last batch only: LastOffset, LastSequence
 * and OffsetDelta (last minus first, for offsets and sequences alike);
 * LastOffset < 0 means no batch (Kafka writes -1, -1, 0 then). Loading
 * rejects what this module never writes: a negative ProducerId, trailing
 * bytes, or a batch whose delta is negative or reaches below offset 0.
 * Duplicate producer ids are accepted, the later entry wins (as Kafka's
 * map does).
 *
 * Threads: none; the owner serializes every call (pstate.h).
 */
#include "txn/pstate.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/crc32c.h"
#include "util/err.h"

enum {
	SNAP_VERSION = 1,
	SNAP_HDR = 2 + 4 + 4,           /* Version, Crc, Count */
	SNAP_CRC_FROM = 2 + 4,          /* CRC covers Count..end */
	SNAP_ENTRY = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8,
	MIN_CAP = 16,
};

struct pstate {
	struct pstate_entry *slot;      /* cap slots, owned; pid < 0 = empty */
	size_t cap;                     /* 0 or a power of two */
	size_t count;                   /* occupied slots; <= cap / 2 */
	size_t nopen;                   /* entries with txn_first_offset >= 0 (invariant 4) */
};

/* ------------------------------------------------------- sequence numbers */

/* Kafka's incrementSequence: seq + inc, wrapping past INT32_MAX to 0. */
static int32_t seq_add(int32_t seq, int32_t inc)
{
	int64_t s = (int64_t)seq + inc;
	return (int32_t)(s > INT32_MAX ? s - INT32_MAX - 1 : s);
}

/* Kafka's decrementSequence: the inverse of seq_add. */
static int32_t seq_sub(int32_t seq, int32_t dec)
{
	int64_t s = (int64_t)seq - dec;
	return (int32_t)(s < 0 && seq >= 0 ? s + INT32_MAX + 1 : s);
}

static bool in_sequence(int32_t last, int32_t next)
{
	return (int64_t)next == (int64_t)last + 1 || (next == 0 && last == INT32_MAX);
}

static int32_t hdr_last_seq(const struct batch_hdr *h)
{
	return seq_add(h->base_sequence, h->last_offset_delta);
}

/* -------------------------------------------------------------- the map */

static size_t home_of(int64_t pid, size_t cap)
{
	uint64_t x = (uint64_t)pid * 0x9E3779B97F4A7C15ull;
	return (size_t)(x ^ (x >> 29)) & (cap - 1);
}

/* The slot holding pid, or the empty slot where it would go (cap > 0). */
static size_t probe(const struct pstate *ps, int64_t pid)
{
	size_t i = home_of(pid, ps->cap);
	while (ps->slot[i].pid >= 0 && ps->slot[i].pid != pid)
		i = (i + 1) & (ps->cap - 1);
	return i;
}

static struct pstate_entry *alloc_slots(size_t cap)
{
	struct pstate_entry *s = malloc(cap * sizeof *s);
	if (s != NULL)
		for (size_t i = 0; i < cap; i++)
			s[i].pid = -1;
	return s;
}

/* Doubles the table (or creates it). Returns 0, or -1 when out of memory
 * (the table is unchanged then). */
static int grow(struct pstate *ps)
{
	size_t ncap = ps->cap ? ps->cap * 2 : MIN_CAP;
	struct pstate_entry *ns = alloc_slots(ncap);
	if (ns == NULL)
		return -1;
	struct pstate old = *ps;
	ps->slot = ns;
	ps->cap = ncap;
	for (size_t i = 0; i < old.cap; i++)
		if (old.slot[i].pid >= 0)
			ps->slot[probe(ps, old.slot[i].pid)] = old.slot[i];
	free(old.slot);
	return 0;
}

/* The entry of pid, created empty (epoch -1, no batches) when absent.
 * NULL when out of memory. */
static struct pstate_entry *entry_get(struct pstate *ps, int64_t pid)
{
	if (ps->cap > 0) {
		size_t i = probe(ps, pid);
		if (ps->slot[i].pid == pid)
			return &ps->slot[i];
	}
	if ((ps->count + 1) * 2 > ps->cap && grow(ps) != 0)
		return NULL;
	struct pstate_entry *e = &ps->slot[probe(ps, pid)];
	memset(e, 0, sizeof *e);
	e->pid = pid;
	e->epoch = -1;
	e->last_ts = -1;
	e->coordinator_epoch = -1;
	e->txn_first_offset = -1;
	ps->count++;
	return e;
}

/* Empties slot i and shifts the entries of its probe run back so that
 * invariant 2 holds again: each moved entry goes to an earlier slot of the
 * run (cyclically: one from the table's start may move to its end). */
static void slot_remove(struct pstate *ps, size_t i)
{
	size_t mask = ps->cap - 1;
	size_t j = i;
	for (;;) {
		ps->slot[i].pid = -1;
		for (;;) {
			j = (j + 1) & mask;
			if (ps->slot[j].pid < 0) {
				ps->count--;
				return;
			}
			size_t h = home_of(ps->slot[j].pid, ps->cap);
			/* The entry at j may fill the hole at i unless its home lies
			 * cyclically in (i, j]. */
			bool home_between = i <= j ? (i < h && h <= j) : (i < h || h <= j);
			if (!home_between)
				break;
		}
		ps->slot[i] = ps->slot[j];
		i = j;
	}
}

/* Removes every entry for which drop(e, arg) is true. Returns how many.
 * Re-examines a slot after a removal since the shift may have moved an
 * unvisited entry into it; entries moved from the table's start to its end
 * may be examined twice, which the predicate tolerates (it is pure). */
static size_t remove_if(struct pstate *ps, bool (*drop)(const struct pstate_entry *, const void *),
			const void *arg)
{
	size_t n = 0;
	for (size_t i = 0; i < ps->cap; i++) {
		while (ps->slot[i].pid >= 0 && drop(&ps->slot[i], arg)) {
			slot_remove(ps, i);
			n++;
		}
	}
	return n;
}

struct pstate *pstate_new(void)
{
	return calloc(1, sizeof(struct pstate));
}

void pstate_free(struct pstate *ps)
{
	if (ps == NULL)
		return;
	free(ps->slot);
	free(ps);
}

size_t pstate_count(const struct pstate *ps)
{
	return ps->count;
}

const struct pstate_entry *pstate_find(const struct pstate *ps, int64_t pid)
{
	if (ps->cap == 0 || pid < 0)
		return NULL;
	const struct pstate_entry *e = &ps->slot[probe(ps, pid)];
	return e->pid == pid ? e : NULL;
}

void pstate_foreach(const struct pstate *ps, void (*fn)(void *arg, const struct pstate_entry *e),
		    void *arg)
{
	for (size_t i = 0; i < ps->cap; i++)
		if (ps->slot[i].pid >= 0)
			fn(arg, &ps->slot[i]);
}

/* ------------------------------------------------------ check and update */

/* The retained batch of e with sequence range [first, last], or NULL. */
static const struct pstate_batch *find_dup(const struct pstate_entry *e, int32_t first, int32_t last)
{
	for (int i = 0; i < e->nbatches; i++)
		if (e->b[i].first_seq == first && e->b[i].last_seq == last)
			return &e->b[i];
	return NULL;
}

static bool is_txn(const struct batch_hdr *h)
{
	return (h->attributes & BATCH_ATTR_TRANSACTIONAL) != 0;
}

/* The order of Kafka's checks: the epoch (a fenced producer learns it
 * first), a retry of a retained batch (answered even when the transaction
 * ended since: the client only resends what it has not heard about), then
 * the transaction state, then the sequence. */
int pstate_check(const struct pstate *ps, const struct batch_hdr *h, struct pstate_batch *dup)
{
	const struct pstate_entry *e = pstate_find(ps, h->producer_id);
	int32_t first = h->base_sequence;
	if (first < 0 && is_txn(h))
		/* The coordinator's own transactional offset commits: epoch only. */
		return e != NULL && h->producer_epoch < e->epoch ? KAFKA_INVALID_PRODUCER_EPOCH
								 : KAFKA_NONE;
	if (e == NULL)
		return first == 0 ? KAFKA_NONE : KAFKA_UNKNOWN_PRODUCER_ID;
	if (h->producer_epoch < e->epoch)
		return KAFKA_INVALID_PRODUCER_EPOCH;
	if (h->producer_epoch == e->epoch) {
		const struct pstate_batch *d = find_dup(e, first, hdr_last_seq(h));
		if (d != NULL) {
			if (dup != NULL)
				*dup = *d;
			return KAFKA_DUPLICATE_SEQUENCE_NUMBER;
		}
	}
	/* Kafka's "Expected transactional write from producer": a plain
	 * batch cannot join (or slip into) an open transaction. */
	if (!is_txn(h) && e->txn_first_offset >= 0)
		return KAFKA_INVALID_TXN_STATE;
	if (h->producer_epoch > e->epoch)
		return first == 0 ? KAFKA_NONE : KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER;
	/* No retained batch (a snapshot entry without one): like Kafka's
	 * NO_SEQUENCE, only 0 follows. */
	int32_t last = e->nbatches > 0 ? e->b[e->nbatches - 1].last_seq : -1;
	return in_sequence(last, first) ? KAFKA_NONE : KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER;
}

static void push_batch(struct pstate_entry *e, const struct pstate_batch *b)
{
	if (e->nbatches == PSTATE_BATCHES) {
		memmove(&e->b[0], &e->b[1], (PSTATE_BATCHES - 1) * sizeof e->b[0]);
		e->nbatches--;
	}
	e->b[e->nbatches++] = *b;
}

/* A new epoch forgets the sequence state (Kafka's maybeUpdateProducerEpoch). */
static void set_epoch(struct pstate_entry *e, int16_t epoch)
{
	if (epoch != e->epoch) {
		e->epoch = epoch;
		e->nbatches = 0;
	}
}

int pstate_update(struct pstate *ps, const struct batch_hdr *h, int64_t now_ms)
{
	if (h->producer_id < 0)
		return 0;
	struct pstate_entry *e = entry_get(ps, h->producer_id);
	if (e == NULL)
		return -1;
	set_epoch(e, h->producer_epoch);
	if (is_txn(h) && e->txn_first_offset < 0) {
		e->txn_first_offset = h->base_offset;
		ps->nopen++;
	}
	e->last_append_ms = now_ms;
	if (h->base_sequence < 0)
		return 0;               /* unsequenced (transactional): no sequence state */
	struct pstate_batch b = {
		.first_seq = h->base_sequence,
		.last_seq = hdr_last_seq(h),
		.first_offset = h->base_offset,
		.last_offset = batch_last_offset(h),
		.max_ts = h->max_timestamp,
	};
	push_batch(e, &b);
	e->last_ts = h->max_timestamp;
	return 0;
}

/* ------------------------------------------------------- transactions */

int pstate_marker_check(const struct pstate *ps, int64_t pid, int16_t epoch)
{
	const struct pstate_entry *e = pstate_find(ps, pid);
	return e != NULL && epoch < e->epoch ? KAFKA_INVALID_PRODUCER_EPOCH : KAFKA_NONE;
}

int pstate_marker(struct pstate *ps, int64_t pid, int16_t epoch, int32_t coordinator_epoch,
		  int64_t offset, int64_t now_ms, int64_t *first_offset)
{
	(void)offset;   /* the marker itself is no data batch: nothing retained */
	struct pstate_entry *e = entry_get(ps, pid);
	if (e == NULL)
		return -1;
	set_epoch(e, epoch);
	e->coordinator_epoch = coordinator_epoch;
	e->last_append_ms = now_ms;
	if (e->txn_first_offset < 0)
		return 0;
	*first_offset = e->txn_first_offset;
	e->txn_first_offset = -1;
	ps->nopen--;
	return 1;
}

int64_t pstate_first_unstable(const struct pstate *ps)
{
	int64_t min = INT64_MAX;
	if (ps->nopen == 0)
		return min;             /* the common case costs nothing */
	for (size_t i = 0; i < ps->cap; i++)
		if (ps->slot[i].pid >= 0 && ps->slot[i].txn_first_offset >= 0 &&
		    ps->slot[i].txn_first_offset < min)
			min = ps->slot[i].txn_first_offset;
	return min;
}

/* ------------------------------------------------------------ expiry */

static bool expired(const struct pstate_entry *e, const void *arg)
{
	const int64_t *cut = arg;       /* {now_ms, expiration_ms} */
	/* Kafka's isProducerExpired: now - last >= producer.id.expiration.ms.
	 * An open transaction (part 2) keeps its producer. */
	return e->txn_first_offset < 0 && cut[0] - e->last_append_ms >= cut[1];
}

size_t pstate_expire(struct pstate *ps, int64_t now_ms, int64_t expiration_ms)
{
	int64_t cut[2] = { now_ms, expiration_ms };
	return remove_if(ps, expired, cut);
}

static bool below_start(const struct pstate_entry *e, const void *arg)
{
	const int64_t *log_start = arg;
	/* Kafka's evictUnretainedProducers: the last data offset (-1 without a
	 * batch) below the log start, and no open transaction. */
	int64_t last = e->nbatches > 0 ? e->b[e->nbatches - 1].last_offset : -1;
	return e->txn_first_offset < 0 && last < *log_start;
}

size_t pstate_truncate_head(struct pstate *ps, int64_t log_start)
{
	return remove_if(ps, below_start, &log_start);
}

/* ----------------------------------------------------------- snapshots */

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p = put16(p, (uint16_t)(v >> 16));
	return put16(p, (uint16_t)v);
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
	p = put32(p, (uint32_t)(v >> 32));
	return put32(p, (uint32_t)v);
}

/* Writes e as one snapshot entry (its last batch, or none). */
static uint8_t *put_entry(uint8_t *p, const struct pstate_entry *e)
{
	const struct pstate_batch *b = e->nbatches > 0 ? &e->b[e->nbatches - 1] : NULL;
	p = put64(p, (uint64_t)e->pid);
	p = put16(p, (uint16_t)e->epoch);
	p = put32(p, (uint32_t)(b ? b->last_seq : -1));
	p = put64(p, (uint64_t)(b ? b->last_offset : -1));
	p = put32(p, (uint32_t)(b ? (int32_t)(b->last_offset - b->first_offset) : 0));
	p = put64(p, (uint64_t)e->last_ts);
	p = put32(p, (uint32_t)e->coordinator_epoch);
	return put64(p, (uint64_t)e->txn_first_offset);
}

uint8_t *pstate_snapshot(const struct pstate *ps, size_t *len)
{
	size_t n = SNAP_HDR + ps->count * SNAP_ENTRY;
	uint8_t *buf = malloc(n);
	if (buf == NULL)
		return NULL;
	uint8_t *p = put16(buf, SNAP_VERSION);
	p = put32(p, 0);                /* CRC, filled in below */
	p = put32(p, (uint32_t)ps->count);
	for (size_t i = 0; i < ps->cap; i++)
		if (ps->slot[i].pid >= 0)
			p = put_entry(p, &ps->slot[i]);
	put32(buf + 2, crc32c(0, buf + SNAP_CRC_FROM, n - SNAP_CRC_FROM));
	*len = n;
	return buf;
}

/* Reads one entry into e (not yet in the map). Returns 0, or -1 when the
 * entry is one this module could not have written (see the top note). */
static int read_entry(struct rd *r, struct pstate_entry *e, int64_t now_ms)
{
	memset(e, 0, sizeof *e);
	e->pid = rd_i64(r);
	e->epoch = rd_i16(r);
	int32_t last_seq = rd_i32(r);
	int64_t last_offset = rd_i64(r);
	int32_t delta = rd_i32(r);
	e->last_ts = rd_i64(r);
	e->coordinator_epoch = rd_i32(r);
	e->txn_first_offset = rd_i64(r);
	e->last_append_ms = now_ms;     /* restart the expiry clock: no wall time is stored */
	if (e->pid < 0 || e->txn_first_offset < -1)
		return -1;
	if (last_offset < 0)
		return 0;               /* no batch */
	if (delta < 0 || delta > last_offset || last_seq < 0)
		return -1;
	e->nbatches = 1;
	e->b[0] = (struct pstate_batch){
		.first_seq = seq_sub(last_seq, delta),
		.last_seq = last_seq,
		.first_offset = last_offset - delta,
		.last_offset = last_offset,
		.max_ts = e->last_ts,
	};
	return 0;
}

static void clear(struct pstate *ps)
{
	free(ps->slot);
	ps->slot = NULL;
	ps->cap = 0;
	ps->count = 0;
	ps->nopen = 0;
}

int pstate_load(struct pstate *ps, const uint8_t *p, size_t n, int64_t now_ms)
{
	clear(ps);
	struct rd r = rd_make(p, n);
	int16_t version = rd_i16(&r);
	uint32_t crc = rd_u32(&r);
	int32_t count = rd_i32(&r);
	if (r.err || version != SNAP_VERSION || count < 0 ||
	    rd_left(&r) != (size_t)count * SNAP_ENTRY ||
	    crc != crc32c(0, p + SNAP_CRC_FROM, n - SNAP_CRC_FROM))
		return -1;
	for (int32_t i = 0; i < count; i++) {
		struct pstate_entry in, *e;
		if (read_entry(&r, &in, now_ms) != 0 || (e = entry_get(ps, in.pid)) == NULL) {
			clear(ps);
			return -1;
		}
		*e = in;
	}
	for (size_t i = 0; i < ps->cap; i++)
		ps->nopen += ps->slot[i].pid >= 0 && ps->slot[i].txn_first_offset >= 0;
	return 0;
}
