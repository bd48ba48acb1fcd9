/*
 * tmsg.c — __transaction_state keys and values in Kafka's format (tmsg.h).
 *
 * Schemas: apache/kafka, transaction-coordinator/src/main/resources/common/
 * message/{TransactionLogKey,TransactionLogValue}.json. Field lists (name,
 * type, versions):
 *
 *   TransactionLogKey    validVersions 0, never flexible
 *     TransactionalId string
 *   TransactionLogValue  validVersions 0-1, flexibleVersions 1+
 *     ProducerId int64 | ProducerEpoch int16 | TransactionTimeoutMs int32
 *     | TransactionStatus int8 | TransactionPartitions []PartitionsSchema,
 *     nullable | TransactionLastUpdateTimestampMs int64
 *     | TransactionStartTimestampMs int64
 *     tagged (1+): PreviousProducerId int64 tag 0, NextProducerId int64
 *     tag 1, ClientTransactionVersion int16 tag 2
 *   PartitionsSchema
 *     Topic string | PartitionIds []int32
 *
 *   +----------------+----------------------------------------------------+
 *   | int16 version  | the fields above; v1: compact strings and arrays   |
 *   |                | (uvarint len+1 / count+1, 0 null), a tagged-field  |
 *   |                | section (uvarint n, n x (uvarint tag, uvarint size,|
 *   |                | size bytes)) after each PartitionsSchema and after |
 *   |                | the value                                          |
 *   +----------------+----------------------------------------------------+
 *
 * What we write: key v0, value v0 (what Kafka 3.9 writes). The partitions
 * are null when the state is EMPTY and has none (Kafka writes null for
 * Empty), else an array, one element per topic in the order given (tcoord
 * keeps them sorted, so each topic appears once). A string longer than
 * 32767 bytes fails the writer (w->oom): no unreadable record is written.
 *
 * A record decodes (0) only when:
 *  1. every length and count fits in the bytes that remain, checked before
 *     it is used — a count before anything is allocated for it;
 *  2. every string is at most 32767 bytes and holds no NUL byte (ours are C
 *     strings: a NUL would silently shorten an id);
 *  3. the key, topics and partition-id arrays are not null;
 *  4. the key version is 0, the value version 0 or 1, the status 0..7;
 *  5. the record ends exactly where its last field ends (trailing bytes
 *     mean a misread version; no writer adds any).
 * Otherwise -1. The v1 tagged fields are skipped: we keep no previous or
 * next producer id on disk. Decoded partitions are sorted by (topic,
 * partition) and unique (a topic repeated in the record is merged).
 *
 * All functions are pure over their arguments: any thread.
 */
#include "txn/tmsg.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/jhash.h"

enum {
	KEY_VERSION = 0,
	VALUE_MAX_VERSION = 1,
	VALUE_FIRST_FLEXIBLE = 1,
	STR_MAX = 32767,
	STATUS_MAX = TXN_PREPARE_EPOCH_FENCE,
	/* Fewest bytes a PartitionsSchema takes: a string length and an
	 * array count (classic: 2 + 4; compact: 1 + 1 + 1 tag count). */
	TOPIC_MIN_BYTES = 3,
};

/* ============================================================== encoders */

static void put_str(struct wbuf *w, const char *s)
{
	size_t len = strlen(s);
	if (len > STR_MAX) {
		w->oom = true; /* not representable: write nothing readable */
		return;
	}
	wbuf_i16(w, (int16_t)len);
	wbuf_bytes(w, s, len);
}

void tmsg_key(struct wbuf *w, const char *tid)
{
	wbuf_i16(w, KEY_VERSION);
	put_str(w, tid);
}

/* Number of partitions from tps[i] on that share its topic. */
static size_t topic_run(const struct txn_rec *r, size_t i)
{
	size_t j = i + 1;
	while (j < r->ntps && strcmp(r->tps[j].topic, r->tps[i].topic) == 0)
		j++;
	return j - i;
}

static void put_partitions(struct wbuf *w, const struct txn_rec *r)
{
	if (r->state == TXN_EMPTY && r->ntps == 0) {
		wbuf_i32(w, -1);
		return;
	}
	int32_t ntopics = 0;
	for (size_t i = 0; i < r->ntps; i += topic_run(r, i))
		ntopics++;
	wbuf_i32(w, ntopics);
	for (size_t i = 0; i < r->ntps;) {
		size_t k = topic_run(r, i);
		put_str(w, r->tps[i].topic);
		wbuf_i32(w, (int32_t)k);
		for (size_t j = i; j < i + k; j++)
			wbuf_i32(w, r->tps[j].partition);
		i += k;
	}
}

void tmsg_value(struct wbuf *w, const struct txn_rec *r)
{
	wbuf_i16(w, 0);
	wbuf_i64(w, r->pid);
	wbuf_i16(w, r->epoch);
	wbuf_i32(w, r->timeout_ms);
	wbuf_i8(w, (int8_t)r->state);
	put_partitions(w, r);
	wbuf_i64(w, r->update_ms);
	wbuf_i64(w, r->start_ms);
}

/* ============================================================== decoders */

/* A reader of one record; any failure latches r.err (struct rd) and the
 * caller tests it once. */
struct trd {
	struct rd r;
	bool flex;      /* compact encodings and tagged fields (value v1) */
};

static void trd_fail(struct trd *t)
{
	t->r.err = RD_ERR;
}

/* A length or count prefix: -1 null, else >= 0; -2 after a failure. */
static int64_t get_len(struct trd *t, bool wide)
{
	return rd_kafka_len(&t->r, t->flex, wide);
}

/* A non-nullable string, malloc'd; NULL after a failure (latched). */
static char *get_str(struct trd *t)
{
	int64_t len = get_len(t, false);
	if (len < 0 || len > STR_MAX) {
		trd_fail(t);
		return NULL;
	}
	const uint8_t *p = rd_take(&t->r, (size_t)len);
	if (p == NULL)
		return NULL;
	char *s = memchr(p, 0, (size_t)len) ? NULL : strndup((const char *)p, (size_t)len);
	if (s == NULL)
		trd_fail(t);
	return s;
}

/* An array count (null allowed when nullable: -1), each element taking at
 * least min_each bytes; -2 after a failure (latched). */
static int64_t get_count(struct trd *t, bool nullable, size_t min_each)
{
	int64_t n = get_len(t, true);
	if (n == -1 && nullable)
		return -1;
	if (n < 0 || (uint64_t)n > rd_left(&t->r) / min_each) {
		trd_fail(t);
		return -2;
	}
	return n;
}

static void skip_tags(struct trd *t)
{
	if (t->flex)
		rd_kafka_skip_tags(&t->r);
}

char *tmsg_decode_key(const uint8_t *p, size_t n)
{
	struct trd t = { rd_make(p, n), false };
	if (rd_i16(&t.r) != KEY_VERSION || t.r.err != RD_OK)
		return NULL;
	char *tid = get_str(&t);
	if (t.r.err != RD_OK || rd_left(&t.r) != 0) {
		free(tid);
		return NULL;
	}
	return tid;
}

/* One PartitionsSchema appended to r->tps (grown to hold it). */
static void get_topic(struct trd *t, struct txn_rec *r)
{
	char *topic = get_str(t);
	int64_t k = get_count(t, false, sizeof(int32_t));
	if (t->r.err != RD_OK) {
		free(topic);
		return;
	}
	struct txn_tp *v = realloc(r->tps, (r->ntps + (size_t)k + 1) * sizeof(*v));
	if (!v) {
		free(topic);
		trd_fail(t);
		return;
	}
	r->tps = v;
	for (int64_t i = 0; i < k && t->r.err == RD_OK; i++) {
		char *c = i == 0 ? topic : strdup(topic);
		if (!c) {
			trd_fail(t);
			break;
		}
		r->tps[r->ntps++] = (struct txn_tp){ c, rd_i32(&t->r) };
	}
	if (k == 0)
		free(topic);
	skip_tags(t);
}

int tmsg_decode_value(const uint8_t *p, size_t n, struct txn_rec *r)
{
	struct trd t = { rd_make(p, n), false };
	*r = (struct txn_rec){ .start_ms = -1 };
	int16_t version = rd_i16(&t.r);
	if (t.r.err != RD_OK || version < 0 || version > VALUE_MAX_VERSION)
		return -1;
	t.flex = version >= VALUE_FIRST_FLEXIBLE;
	r->pid = rd_i64(&t.r);
	r->epoch = rd_i16(&t.r);
	r->timeout_ms = rd_i32(&t.r);
	int8_t status = rd_i8(&t.r);
	if (status < 0 || status > STATUS_MAX)
		trd_fail(&t);
	r->state = (enum txn_state)status;
	int64_t ntopics = get_count(&t, true, TOPIC_MIN_BYTES);
	for (int64_t i = 0; i < ntopics && t.r.err == RD_OK; i++)
		get_topic(&t, r);
	r->update_ms = rd_i64(&t.r);
	r->start_ms = rd_i64(&t.r);
	skip_tags(&t);
	if (t.r.err != RD_OK || rd_left(&t.r) != 0) {
		txn_rec_fini(r);
		*r = (struct txn_rec){ .start_ms = -1 };
		return -1;
	}
	txn_tps_normalize(r->tps, &r->ntps);
	return 0;
}

int32_t tmsg_partition_for(const char *tid, int32_t n)
{
	return jhash_partition_for(tid, n);
}
