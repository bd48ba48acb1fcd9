// fuzz-deps: src/util src/txn
/*
 * fuzz_tmsg.c — libFuzzer target for the __transaction_state record
 * decoders (src/txn/tmsg.c), which the transaction coordinator reads back
 * at start-up, and for the coordinator's replay of what they return
 * (tcoord_load and the first steps after it, src/txn/tcoord.c).
 *
 * Each input is decoded as a key and as a value. A key that decodes must
 * re-encode and decode to the same id, and map to a partition in [0, n).
 * A value that decodes must have a known status and sorted, unique
 * partitions; it must re-encode (v0) without failing the writer, decode
 * again to the same fields, and re-encode to the very same bytes
 * (decode(encode(decode(x))) is stable). It is then loaded into a fresh
 * coordinator, which must survive its timeout and expiry scans, the
 * completion of a PREPARE_x, an InitProducerId and an EndTxn against it.
 * An invariant that breaks prints "fuzz_tmsg: ..." and aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "txn/tcoord.h"
#include "txn/tmsg.h"
#include "util/buf.h"
#include "util/err.h"

#define FAIL(what) do { fprintf(stderr, "fuzz_tmsg: %s\n", what); abort(); } while (0)

static void check_partition(const char *tid)
{
	static const int32_t ns[] = { 1, 7, 50, INT32_MAX };
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		int32_t p = tmsg_partition_for(tid, ns[i]);
		if (p < 0 || p >= ns[i])
			FAIL("partition out of range");
	}
}

static void fuzz_key(const uint8_t *data, size_t size)
{
	char *tid = tmsg_decode_key(data, size);
	if (!tid)
		return;
	struct wbuf w;
	wbuf_init(&w);
	tmsg_key(&w, tid);
	if (w.oom)
		FAIL("key: re-encoding failed");
	char *again = tmsg_decode_key(w.mem, w.mem_len);
	if (!again || strcmp(again, tid) != 0)
		FAIL("key: round trip changed the id");
	check_partition(tid);
	free(again);
	free(tid);
	wbuf_fini(&w);
}

static bool rec_eq(const struct txn_rec *a, const struct txn_rec *b)
{
	if (a->pid != b->pid || a->epoch != b->epoch || a->timeout_ms != b->timeout_ms ||
	    a->state != b->state || a->ntps != b->ntps || a->update_ms != b->update_ms ||
	    a->start_ms != b->start_ms)
		return false;
	for (size_t i = 0; i < a->ntps; i++)
		if (strcmp(a->tps[i].topic, b->tps[i].topic) != 0 || a->tps[i].partition != b->tps[i].partition)
			return false;
	return true;
}

static void check_rec(const struct txn_rec *r)
{
	if ((int)r->state < TXN_EMPTY || (int)r->state > TXN_PREPARE_EPOCH_FENCE)
		FAIL("value: unknown status");
	for (size_t i = 1; i < r->ntps; i++) {
		int c = strcmp(r->tps[i - 1].topic, r->tps[i].topic);
		if (c > 0 || (c == 0 && r->tps[i - 1].partition >= r->tps[i].partition))
			FAIL("value: partitions not sorted and unique");
	}
}

static int fake_alloc(void *arg, int64_t *pid)
{
	(void)arg;
	*pid = 4242;
	return KAFKA_NONE;
}

/* Applies a step that writes, as if the write succeeded. */
static void apply(struct tcoord *tc, const char *tid, const struct txn_step *st)
{
	if (!st->write)
		return;
	struct txn_after a;
	tcoord_written(tc, tid, KAFKA_NONE, 0, &a);
}

/* The coordinator replaying r, then driven a few steps. */
static void fuzz_replay(const struct txn_rec *r)
{
	struct tcoord *tc = tcoord_new(fake_alloc, NULL);
	if (!tc)
		return;
	if (tcoord_load(tc, "t", r) != 0)
		FAIL("replay: a decoded record did not load");
	bool pending;
	const struct txn_rec *cur = tcoord_find(tc, "t", &pending);
	if (r->state == TXN_DEAD ? cur != NULL : (cur == NULL || pending))
		FAIL("replay: wrong entry after the load");
	int64_t now = r->update_ms;
	(void)tcoord_next_deadline(tc);
	const char *tid;
	struct txn_step st;
	while (tcoord_next_timeout(tc, INT64_MAX, &tid, &st))
		apply(tc, "t", &st);
	tcoord_markers_done(tc, "t", now, &st);
	apply(tc, "t", &st);
	tcoord_init_pid(tc, "t", 1000, -1, -1, true, now, &st);
	apply(tc, "t", &st);
	if ((cur = tcoord_find(tc, "t", &pending)) != NULL) {
		tcoord_end_txn(tc, "t", cur->pid, cur->epoch, true, true, now, &st);
		apply(tc, "t", &st);
	}
	while (tcoord_next_expired(tc, INT64_MAX, 0, &tid, &st))
		apply(tc, "t", &st);
	if (tcoord_count(tc) > 1)
		FAIL("replay: more than one id");
	tcoord_free(tc);
}

static void fuzz_value(const uint8_t *data, size_t size)
{
	struct txn_rec r, r2;
	if (tmsg_decode_value(data, size, &r) != 0) {
		if (r.tps != NULL || r.ntps != 0)
			FAIL("value: a failed decode left partitions");
		return;
	}
	check_rec(&r);
	struct wbuf w, w2;
	wbuf_init(&w);
	wbuf_init(&w2);
	tmsg_value(&w, &r);
	if (w.oom)
		FAIL("value: re-encoding failed");
	if (tmsg_decode_value(w.mem, w.mem_len, &r2) != 0)
		FAIL("value: re-encoded value does not decode");
	if (!rec_eq(&r, &r2))
		FAIL("value: round trip changed a field");
	tmsg_value(&w2, &r2);
	if (w2.mem_len != w.mem_len || memcmp(w.mem, w2.mem, w.mem_len) != 0)
		FAIL("value: second encoding differs");
	fuzz_replay(&r);
	txn_rec_fini(&r);
	txn_rec_fini(&r2);
	wbuf_fini(&w);
	wbuf_fini(&w2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_key(data, size);
	fuzz_value(data, size);
	char *id = malloc(size + 1); /* the input as a transactional id */
	if (id != NULL) {
		memcpy(id, data, size);
		id[size] = '\0';
		check_partition(id);
		free(id);
	}
	return 0;
}
