// fuzz-deps: src/util src/record src/txn
/*
 * fuzz_pstate.c — libFuzzer target for producer snapshot loading
 * (pstate_load in src/txn/pstate.c), which reads "<offset>.snapshot" files
 * from the partition directory at start-up: a damaged disk or a file left
 * by another broker must be refused, never crash or load nonsense.
 *
 * Each input is loaded twice:
 *  1. as it is (mutations mostly stop at the CRC);
 *  2. with its CRC repaired (when at least 6 bytes long), so mutations
 *     reach the entry parsing.
 * A failed load must leave the state empty. A state that loads must
 * satisfy the module's invariants (at most one retained batch per producer,
 * pid >= 0, offsets >= 0 and ordered, the sequence range as long as the
 * offset range, modulo the int32 wrap), re-encode (pstate_snapshot) and
 * reload to the same state field by field, and survive the operations the
 * partition log runs on it next (check, update, truncate_head, expire,
 * and markers closing every open transaction, oldest first, with
 * pstate_first_unstable agreeing with the entries at each step).
 * A broken invariant aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "txn/pstate.h"
#include "util/crc32c.h"
#include "util/err.h"

static const int64_t NOW = INT64_C(1700000000000);
static const int64_t START = INT64_C(1) << 32; /* truncate_head's log start */

/* The last sequence of a range of delta+1 from first (Kafka's wrap). */
static int32_t seq_after(int32_t first, int64_t delta)
{
	return (int32_t)(((int64_t)first + delta) % ((int64_t)INT32_MAX + 1));
}

static void check_entry(void *arg, const struct pstate_entry *e)
{
	size_t *n = arg;
	(*n)++;
	if (e->pid < 0 || e->nbatches < 0 || e->nbatches > 1 || e->last_append_ms != NOW)
		abort();
	if (e->nbatches == 1) {
		const struct pstate_batch *b = &e->b[0];
		if (b->first_offset < 0 || b->last_offset < b->first_offset || b->first_seq < 0 ||
		    b->last_seq < 0 || b->max_ts != e->last_ts ||
		    seq_after(b->first_seq, b->last_offset - b->first_offset) != b->last_seq)
			abort();
	}
}

/* After truncate_head(START): every producer kept has its last batch at or
 * above START, or an open transaction (which Kafka keeps too). */
static void check_kept(void *arg, const struct pstate_entry *e)
{
	(void)arg;
	if (e->txn_first_offset < 0 && (e->nbatches < 1 || e->b[e->nbatches - 1].last_offset < START))
		abort();
}

/* After expire(): only producers with an open transaction remain. */
static void check_open_txn(void *arg, const struct pstate_entry *e)
{
	(void)arg;
	if (e->txn_first_offset < 0)
		abort();
}

static bool same_entry(const struct pstate_entry *a, const struct pstate_entry *b)
{
	if (a->pid != b->pid || a->epoch != b->epoch || a->nbatches != b->nbatches ||
	    a->last_ts != b->last_ts || a->last_append_ms != b->last_append_ms ||
	    a->coordinator_epoch != b->coordinator_epoch || a->txn_first_offset != b->txn_first_offset)
		return false;
	for (int i = 0; i < a->nbatches; i++)
		if (memcmp(&a->b[i], &b->b[i], sizeof a->b[i]) != 0)
			return false;
	return true;
}

static void compare_with(void *arg, const struct pstate_entry *e)
{
	const struct pstate_entry *o = pstate_find(arg, e->pid);
	if (o == NULL || !same_entry(e, o))
		abort();
}

static void min_open(void *arg, const struct pstate_entry *e)
{
	int64_t *min = arg;
	if (e->txn_first_offset >= 0 && e->txn_first_offset < *min)
		*min = e->txn_first_offset;
}

/* The producer whose open transaction starts at off. */
struct opener {
	int64_t off, pid;
	int16_t epoch;
};

static void find_opener(void *arg, const struct pstate_entry *e)
{
	struct opener *w = arg;
	if (w->pid < 0 && e->txn_first_offset == w->off) {
		w->pid = e->pid;
		w->epoch = e->epoch;
	}
}

/* pstate_first_unstable agrees with the entries; a marker closes each open
 * transaction, oldest first, answering its first offset, until none is
 * open. */
static void exercise_txns(struct pstate *ps)
{
	int64_t min = INT64_MAX;
	pstate_foreach(ps, min_open, &min);
	while (min != INT64_MAX) {
		if (pstate_first_unstable(ps) != min)
			abort();
		struct opener w = { min, -1, 0 };
		pstate_foreach(ps, find_opener, &w);
		int64_t first = -1;
		if (w.pid < 0 || pstate_marker_check(ps, w.pid, w.epoch) != KAFKA_NONE ||
		    pstate_marker(ps, w.pid, w.epoch, 0, START << 9, NOW, &first) != 1 ||
		    first != min)
			abort();
		min = INT64_MAX;
		pstate_foreach(ps, min_open, &min);
	}
	if (pstate_first_unstable(ps) != INT64_MAX)
		abort();
}

/* The next batch, a retry of the last one, and a stale epoch: checked,
 * and the first one recorded (transactional when the producer's
 * transaction is open). */
static void exercise(struct pstate *ps)
{
	const struct pstate_entry *e;
	size_t n = 0;
	pstate_foreach(ps, check_entry, &n);
	if (n != pstate_count(ps))
		abort();
	struct batch_hdr h = { .magic = 2, .producer_id = 0, .records_count = 1 };
	for (int64_t pid = 0; pid < 4; pid++) {
		if ((e = pstate_find(ps, pid)) == NULL)
			continue;
		h.producer_id = pid;
		h.producer_epoch = e->epoch;
		/* In an open transaction only transactional batches may follow. */
		h.attributes = e->txn_first_offset >= 0 ? BATCH_ATTR_TRANSACTIONAL : 0;
		if (e->nbatches == 1) {
			const struct pstate_batch *b = &e->b[0];
			h.base_sequence = b->first_seq;
			h.last_offset_delta = (int32_t)(b->last_offset - b->first_offset);
			struct pstate_batch d;
			if (pstate_check(ps, &h, &d) != KAFKA_DUPLICATE_SEQUENCE_NUMBER ||
			    memcmp(&d, b, sizeof d) != 0)
				abort();
			h.base_sequence = seq_after(b->last_seq, 1);
		} else {
			h.base_sequence = 0;
		}
		h.last_offset_delta = 0;
		if (pstate_check(ps, &h, NULL) != KAFKA_NONE)
			abort();
		h.base_offset = START << 8;
		if (pstate_update(ps, &h, NOW) != 0)
			abort();
	}
	pstate_truncate_head(ps, START);
	pstate_foreach(ps, check_kept, NULL);
	pstate_expire(ps, NOW + 1, 1);
	pstate_foreach(ps, check_open_txn, NULL);
	exercise_txns(ps);
}

static void load_and_check(const uint8_t *data, size_t size)
{
	struct pstate *ps = pstate_new(), *back = pstate_new();
	if (ps == NULL || back == NULL)
		abort();
	if (pstate_load(ps, data, size, NOW) != 0) {
		if (pstate_count(ps) != 0)
			abort();
		goto out;
	}
	size_t n = 0;
	uint8_t *snap = pstate_snapshot(ps, &n);
	if (snap == NULL || pstate_load(back, snap, n, NOW) != 0 ||
	    pstate_count(back) != pstate_count(ps))
		abort();
	free(snap);
	pstate_foreach(ps, compare_with, back);
	exercise(back);
out:
	pstate_free(back);
	pstate_free(ps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	load_and_check(data, size);
	if (size < 6)
		return 0;
	uint8_t *fixed = malloc(size);
	if (fixed == NULL)
		return 0;
	memcpy(fixed, data, size);
	uint32_t crc = crc32c(0, fixed + 6, size - 6);
	for (int i = 0; i < 4; i++)
		fixed[2 + i] = (uint8_t)(crc >> (24 - 8 * i));
	load_and_check(fixed, size);
	free(fixed);
	return 0;
}
