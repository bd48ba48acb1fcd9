// deps: src/util src/txn
/*
 * test_tmsg.c — __transaction_state records (src/txn/tmsg.c): exact bytes
 * of what we write (key v0, value v0, null partitions for EMPTY), round
 * trips, a hand-built flexible v1 value with tagged fields, every
 * truncation and a trailing byte of each (-1), malformed versions,
 * statuses, lengths and counts, every single-byte corruption (no crash),
 * Kafka's partition for a transactional id, and the fuzz seeds.
 *
 * The byte strings are written field by field from Kafka's schemas
 * (TransactionLogKey.json, TransactionLogValue.json: tmsg.c's design
 * note), not produced by our encoder, so an encoder mistake cannot hide in
 * a matching mistake here.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/jhash.h"
#include "txn/tmsg.h"
#include "unit.h"
#include "util/buf.h"
#include "util/err.h"

/* ------------------------------------------------------------- fixture */

/* 1700000000000 ms = 0x0000018BCFE56800; 1000 ms earlier: ...E56418 */
#define TS_BYTES 0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00
#define TS 1700000000000LL
#define TS0_BYTES 0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x64, 0x18
#define TS0 (TS - 1000)

/* Key v0 of "app". */
static const uint8_t key_app[] = { 0x00, 0x00, 0x00, 0x03, 'a', 'p', 'p' };

/* Value v0: pid 1000, epoch 5, timeout 60000, Ongoing, partitions
 * [{ab: [0, 2]}, {c: [1]}], last update TS, start TS0. */
static const uint8_t value_v0[] = {
	0x00, 0x00,                                     /* version 0 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xE8, /* ProducerId 1000 */
	0x00, 0x05,                                     /* ProducerEpoch 5 */
	0x00, 0x00, 0xEA, 0x60,                         /* TransactionTimeoutMs 60000 */
	0x01,                                           /* TransactionStatus Ongoing */
	0x00, 0x00, 0x00, 0x02,                         /* 2 topics */
	0x00, 0x02, 'a', 'b',                           /*   Topic "ab" */
	0x00, 0x00, 0x00, 0x02,                         /*   2 partition ids */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, /*   0, 2 */
	0x00, 0x01, 'c',                                /*   Topic "c" */
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, /*   [1] */
	TS_BYTES,                                       /* LastUpdateTimestampMs */
	TS0_BYTES,                                      /* StartTimestampMs */
};

/* Value v0 of an Empty id: partitions null, start -1. */
static const uint8_t value_v0_empty[] = {
	0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, /* pid 7 */
	0x00, 0x00,                                     /* epoch 0 */
	0x00, 0x00, 0x03, 0xE8,                         /* timeout 1000 */
	0x00,                                           /* Empty */
	0xFF, 0xFF, 0xFF, 0xFF,                         /* null partitions */
	TS_BYTES,
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, /* start -1 */
};

/* Value v1 (flexible): pid 1000, epoch 5, timeout 60000, PrepareCommit,
 * [{ab: [7, 3]}] with an empty tag section, then the value's tags:
 * PreviousProducerId (0) = 999 and ClientTransactionVersion (2) = 2. */
static const uint8_t value_v1[] = {
	0x00, 0x01,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xE8,
	0x00, 0x05,
	0x00, 0x00, 0xEA, 0x60,
	0x02,                                           /* PrepareCommit */
	0x02,                                           /* compact: 1 topic */
	0x03, 'a', 'b',                                 /*   compact "ab" */
	0x03,                                           /*   compact: 2 ids */
	0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x03,
	0x00,                                           /*   no tags */
	TS_BYTES,
	TS0_BYTES,
	0x02,                                           /* 2 tagged fields */
	0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xE7, /* tag 0: 999 */
	0x02, 0x02, 0x00, 0x02,                         /* tag 2: int16 2 */
};

/* ------------------------------------------------------------- helpers */

static void check_v0_fields(const struct txn_rec *r)
{
	CHECK_EQ(r->pid, 1000);
	CHECK_EQ(r->epoch, 5);
	CHECK_EQ(r->timeout_ms, 60000);
	CHECK_EQ(r->state, TXN_ONGOING);
	CHECK_EQ(r->ntps, 3);
	CHECK_STR(r->tps[0].topic, "ab");
	CHECK_EQ(r->tps[0].partition, 0);
	CHECK_STR(r->tps[1].topic, "ab");
	CHECK_EQ(r->tps[1].partition, 2);
	CHECK_STR(r->tps[2].topic, "c");
	CHECK_EQ(r->tps[2].partition, 1);
	CHECK_EQ(r->update_ms, TS);
	CHECK_EQ(r->start_ms, TS0);
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

/* Every proper prefix of p fails to decode (and leaves r empty). */
static void check_truncations(const uint8_t *p, size_t n)
{
	for (size_t len = 0; len < n; len++) {
		struct txn_rec r;
		memset(&r, 0x5a, sizeof r);
		CHECK_EQ(tmsg_decode_value(p, len, &r), -1);
		CHECK(r.tps == NULL);
		CHECK_EQ(r.ntps, 0);
	}
	uint8_t *longer = malloc(n + 1);
	CHECK(longer != NULL);
	memcpy(longer, p, n);
	longer[n] = 0;
	struct txn_rec r;
	CHECK_EQ(tmsg_decode_value(longer, n + 1, &r), -1);
	free(longer);
}

/* ------------------------------------------------------------- encoders */

TEST(key_bytes)
{
	struct wbuf w;
	wbuf_init(&w);
	tmsg_key(&w, "app");
	CHECK(!w.oom);
	CHECK_EQ(w.mem_len, sizeof key_app);
	CHECK(memcmp(w.mem, key_app, sizeof key_app) == 0);
	wbuf_fini(&w);
}

TEST(value_v0_bytes)
{
	struct txn_tp tps[] = { { "ab", 0 }, { "ab", 2 }, { "c", 1 } };
	struct txn_rec r = { .pid = 1000, .epoch = 5, .timeout_ms = 60000, .state = TXN_ONGOING,
			     .tps = tps, .ntps = 3, .update_ms = TS, .start_ms = TS0 };
	struct wbuf w;
	wbuf_init(&w);
	tmsg_value(&w, &r);
	CHECK(!w.oom);
	CHECK_EQ(w.mem_len, sizeof value_v0);
	CHECK(memcmp(w.mem, value_v0, sizeof value_v0) == 0);
	wbuf_fini(&w);
}

TEST(value_v0_empty_bytes)
{
	struct txn_rec r = { .pid = 7, .epoch = 0, .timeout_ms = 1000, .state = TXN_EMPTY,
			     .update_ms = TS, .start_ms = -1 };
	struct wbuf w;
	wbuf_init(&w);
	tmsg_value(&w, &r);
	CHECK_EQ(w.mem_len, sizeof value_v0_empty);
	CHECK(memcmp(w.mem, value_v0_empty, sizeof value_v0_empty) == 0);
	wbuf_fini(&w);
}

TEST(complete_state_writes_an_empty_array)
{
	struct txn_rec r = { .pid = 7, .state = TXN_COMPLETE_COMMIT, .update_ms = TS, .start_ms = TS0 };
	struct wbuf w;
	wbuf_init(&w);
	tmsg_value(&w, &r);
	/* version 2 + pid 8 + epoch 2 + timeout 4 + status 1 = offset 17 */
	CHECK_EQ(w.mem_len, 17 + 4 + 16);
	static const uint8_t zero[4] = { 0, 0, 0, 0 };
	CHECK(memcmp(w.mem + 17, zero, 4) == 0);
	struct txn_rec d;
	CHECK_EQ(tmsg_decode_value(w.mem, w.mem_len, &d), 0);
	CHECK(rec_eq(&r, &d));
	txn_rec_fini(&d);
	wbuf_fini(&w);
}

TEST(overlong_strings_fail_the_writer)
{
	char *big = malloc(40000);
	CHECK(big != NULL);
	memset(big, 'x', 39999);
	big[39999] = 0;
	struct wbuf w;
	wbuf_init(&w);
	tmsg_key(&w, big);
	CHECK(w.oom);
	wbuf_fini(&w);
	struct txn_tp tp = { big, 0 };
	struct txn_rec r = { .state = TXN_ONGOING, .tps = &tp, .ntps = 1 };
	wbuf_init(&w);
	tmsg_value(&w, &r);
	CHECK(w.oom);
	wbuf_fini(&w);
	/* 32767 bytes is the most a key can hold, and it round-trips. */
	big[32767] = 0;
	wbuf_init(&w);
	tmsg_key(&w, big);
	CHECK(!w.oom);
	char *tid = tmsg_decode_key(w.mem, w.mem_len);
	CHECK(tid != NULL);
	CHECK_EQ(strlen(tid), 32767);
	free(tid);
	wbuf_fini(&w);
	free(big);
}

/* ------------------------------------------------------------- decoders */

TEST(decode_key)
{
	char *tid = tmsg_decode_key(key_app, sizeof key_app);
	CHECK(tid != NULL);
	CHECK_STR(tid, "app");
	free(tid);
	for (size_t len = 0; len < sizeof key_app; len++)
		CHECK(tmsg_decode_key(key_app, len) == NULL);
	static const uint8_t trailing[] = { 0x00, 0x00, 0x00, 0x01, 'a', 'b' };
	CHECK(tmsg_decode_key(trailing, sizeof trailing) == NULL);
	static const uint8_t v1[] = { 0x00, 0x01, 0x00, 0x01, 'a' };
	CHECK(tmsg_decode_key(v1, sizeof v1) == NULL);
	static const uint8_t null_id[] = { 0x00, 0x00, 0xFF, 0xFF };
	CHECK(tmsg_decode_key(null_id, sizeof null_id) == NULL);
	static const uint8_t nul_in_id[] = { 0x00, 0x00, 0x00, 0x02, 'a', 0x00 };
	CHECK(tmsg_decode_key(nul_in_id, sizeof nul_in_id) == NULL);
	static const uint8_t empty_id[] = { 0x00, 0x00, 0x00, 0x00 };
	tid = tmsg_decode_key(empty_id, sizeof empty_id);
	CHECK(tid != NULL);
	CHECK_STR(tid, "");
	free(tid);
}

TEST(decode_value_v0)
{
	struct txn_rec r;
	CHECK_EQ(tmsg_decode_value(value_v0, sizeof value_v0, &r), 0);
	check_v0_fields(&r);
	txn_rec_fini(&r);
	CHECK(r.tps == NULL);
	CHECK_EQ(tmsg_decode_value(value_v0_empty, sizeof value_v0_empty, &r), 0);
	CHECK_EQ(r.pid, 7);
	CHECK_EQ(r.state, TXN_EMPTY);
	CHECK_EQ(r.ntps, 0);
	CHECK_EQ(r.start_ms, -1);
	txn_rec_fini(&r);
}

TEST(decode_value_v1_flexible)
{
	struct txn_rec r;
	CHECK_EQ(tmsg_decode_value(value_v1, sizeof value_v1, &r), 0);
	CHECK_EQ(r.pid, 1000);
	CHECK_EQ(r.epoch, 5);
	CHECK_EQ(r.timeout_ms, 60000);
	CHECK_EQ(r.state, TXN_PREPARE_COMMIT);
	CHECK_EQ(r.ntps, 2);
	CHECK_STR(r.tps[0].topic, "ab");
	CHECK_EQ(r.tps[0].partition, 3); /* sorted */
	CHECK_EQ(r.tps[1].partition, 7);
	CHECK_EQ(r.update_ms, TS);
	CHECK_EQ(r.start_ms, TS0);
	txn_rec_fini(&r);
	check_truncations(value_v1, sizeof value_v1);
}

TEST(decode_value_v1_null_partitions)
{
	static const uint8_t v[] = {
		0x00, 0x01,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
		0x00, 0x01,
		0x00, 0x00, 0x03, 0xE8,
		0x00,       /* Empty */
		0x00,       /* compact null */
		TS_BYTES,
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
		0x00,       /* no tags */
	};
	struct txn_rec r;
	CHECK_EQ(tmsg_decode_value(v, sizeof v, &r), 0);
	CHECK_EQ(r.pid, 7);
	CHECK_EQ(r.epoch, 1);
	CHECK_EQ(r.ntps, 0);
	txn_rec_fini(&r);
	check_truncations(v, sizeof v);
}

TEST(decode_merges_repeated_topics)
{
	static const uint8_t v[] = {
		0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
		0x00, 0x00,
		0x00, 0x00, 0x00, 0x01,
		0x01,
		0x00, 0x00, 0x00, 0x03,                         /* 3 topics */
		0x00, 0x01, 'z', 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05,
		0x00, 0x01, 'a', 0x00, 0x00, 0x00, 0x00,        /* no ids */
		0x00, 0x01, 'z', 0x00, 0x00, 0x00, 0x02,
		0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x04,
		TS_BYTES, TS_BYTES,
	};
	struct txn_rec r;
	CHECK_EQ(tmsg_decode_value(v, sizeof v, &r), 0);
	CHECK_EQ(r.ntps, 2);
	CHECK_STR(r.tps[0].topic, "z");
	CHECK_EQ(r.tps[0].partition, 4);
	CHECK_EQ(r.tps[1].partition, 5);
	txn_rec_fini(&r);
}

TEST(truncated_values_are_refused)
{
	check_truncations(value_v0, sizeof value_v0);
	check_truncations(value_v0_empty, sizeof value_v0_empty);
}

/* A copy of value_v0 with byte i set to b decodes to want. */
static void check_patched(size_t i, uint8_t b, int want)
{
	uint8_t v[sizeof value_v0];
	memcpy(v, value_v0, sizeof v);
	v[i] = b;
	struct txn_rec r;
	CHECK_EQ(tmsg_decode_value(v, sizeof v, &r), want);
	txn_rec_fini(&r);
}

TEST(malformed_values_are_refused)
{
	check_patched(1, 0x02, -1);       /* version 2 */
	check_patched(0, 0xFF, -1);       /* version -1xx */
	check_patched(16, 0x08, -1);      /* status 8 */
	check_patched(16, 0xFF, -1);      /* status -1 */
	check_patched(16, 0x07, 0);       /* PrepareEpochFence is a known code */
	check_patched(20, 0x03, -1);      /* 3 topics: runs out */
	check_patched(17, 0x7F, -1);      /* a huge topic count */
	check_patched(17, 0xFF, -1);      /* count 0xFF000002: below -1 */
	check_patched(21, 0xFF, -1);      /* topic length 0xFF02 (negative) */
	check_patched(22, 0xFF, -1);      /* topic length 255: runs out */
	check_patched(22, 0x01, -1);      /* topic "a": the count misread */
	check_patched(24, 0x00, -1);      /* NUL in the topic */
	check_patched(25, 0xFF, -1);      /* id count negative */
	check_patched(28, 0x09, -1);      /* id count 9: runs out */
	check_patched(23, 'x', 0);        /* (control: another name is fine) */
	/* A null topic and a null id array. */
	uint8_t v[sizeof value_v0];
	memcpy(v, value_v0, sizeof v);
	v[21] = 0xFF, v[22] = 0xFF;
	struct txn_rec r;
	CHECK_EQ(tmsg_decode_value(v, sizeof v, &r), -1);
	memcpy(v, value_v0, sizeof v);
	memset(v + 25, 0xFF, 4);
	CHECK_EQ(tmsg_decode_value(v, sizeof v, &r), -1);
	CHECK_EQ(tmsg_decode_value(NULL, 0, &r), -1);
}

TEST(every_single_byte_corruption_is_safe)
{
	/* No crash, no leak (ASan), and whatever decodes re-encodes. */
	const uint8_t *inputs[] = { value_v0, value_v0_empty, value_v1 };
	size_t lens[] = { sizeof value_v0, sizeof value_v0_empty, sizeof value_v1 };
	for (size_t k = 0; k < 3; k++) {
		uint8_t *v = malloc(lens[k]);
		CHECK(v != NULL);
		for (size_t i = 0; i < lens[k]; i++) {
			static const uint8_t vals[] = { 0x00, 0x01, 0x7F, 0x80, 0xFF };
			for (size_t j = 0; j < sizeof vals; j++) {
				memcpy(v, inputs[k], lens[k]);
				v[i] = vals[j];
				struct txn_rec r, r2;
				if (tmsg_decode_value(v, lens[k], &r) != 0)
					continue;
				struct wbuf w;
				wbuf_init(&w);
				tmsg_value(&w, &r);
				CHECK(!w.oom);
				CHECK_EQ(tmsg_decode_value(w.mem, w.mem_len, &r2), 0);
				CHECK(rec_eq(&r, &r2));
				txn_rec_fini(&r);
				txn_rec_fini(&r2);
				wbuf_fini(&w);
			}
		}
		free(v);
	}
}

/* ---------------------------------------------------------- round trips */

TEST(round_trips)
{
	struct txn_tp tps[] = { { "orders", 0 }, { "orders", 11 }, { "__consumer_offsets", 42 },
				{ "x", 2147483647 } };
	/* tmsg.h: partitions come back sorted: give them sorted. */
	struct txn_tp sorted[] = { tps[2], tps[0], tps[1], tps[3] };
	struct txn_rec recs[] = {
		{ .pid = 0, .epoch = 0, .timeout_ms = 0, .state = TXN_EMPTY, .update_ms = 0, .start_ms = -1 },
		{ .pid = INT64_MAX, .epoch = INT16_MAX, .timeout_ms = INT32_MAX, .state = TXN_ONGOING,
		  .tps = sorted, .ntps = 4, .update_ms = TS, .start_ms = TS0 },
		{ .pid = 5, .epoch = 1, .timeout_ms = 900000, .state = TXN_PREPARE_ABORT,
		  .tps = sorted + 1, .ntps = 2, .update_ms = TS, .start_ms = TS0 },
		{ .pid = 5, .epoch = 1, .timeout_ms = 900000, .state = TXN_COMPLETE_ABORT,
		  .update_ms = TS, .start_ms = TS0 },
		{ .pid = -1, .epoch = -1, .timeout_ms = -1, .state = TXN_DEAD, .update_ms = -1, .start_ms = -1 },
	};
	for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
		struct wbuf w;
		wbuf_init(&w);
		tmsg_value(&w, &recs[i]);
		CHECK(!w.oom);
		struct txn_rec d;
		CHECK_EQ(tmsg_decode_value(w.mem, w.mem_len, &d), 0);
		CHECK(rec_eq(&recs[i], &d));
		txn_rec_fini(&d);
		check_truncations(w.mem, w.mem_len);
		wbuf_fini(&w);
	}
	static const char *ids[] = { "a", "transactional-id-42", "ünïcode", "" };
	for (size_t i = 0; i < 4; i++) {
		struct wbuf w;
		wbuf_init(&w);
		tmsg_key(&w, ids[i]);
		char *tid = tmsg_decode_key(w.mem, w.mem_len);
		CHECK(tid != NULL);
		CHECK_STR(tid, ids[i]);
		free(tid);
		wbuf_fini(&w);
	}
}

/* ------------------------------------------------------------ partition */

TEST(partition_for_is_kafkas)
{
	/* abs(String.hashCode) % 50, worked out by hand:
	 * "my-txn".hashCode() = -1061187895 -> 45;
	 * "transactional-id-42" = -1774587604 -> 4; "app" = 96801 -> 1. */
	CHECK_EQ(tmsg_partition_for("my-txn", 50), 45);
	CHECK_EQ(tmsg_partition_for("transactional-id-42", 50), 4);
	CHECK_EQ(tmsg_partition_for("app", 50), 1);
	CHECK_EQ(tmsg_partition_for("app", 1), 0);
	CHECK_EQ(tmsg_partition_for("my-txn", 7), jhash_partition_for("my-txn", 7));
}

/* -------------------------------------------------------- fuzz seeds */

TEST(fuzz_seed_corpus_decodes)
{
	DIR *d = opendir("fuzz/corpus/fuzz_tmsg");
	if (d == NULL)
		return; /* not run from the repository root */
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[512];
		static uint8_t buf[65536];
		snprintf(path, sizeof path, "fuzz/corpus/fuzz_tmsg/%s", e->d_name);
		FILE *f = fopen(path, "rb");
		CHECK(f != NULL);
		size_t n = fread(buf, 1, sizeof buf, f);
		fclose(f);
		bool ok;
		if (strncmp(e->d_name, "key_", 4) == 0) {
			char *tid = tmsg_decode_key(buf, n);
			ok = tid != NULL;
			free(tid);
		} else {
			struct txn_rec r;
			ok = tmsg_decode_value(buf, n, &r) == 0;
			if (ok)
				txn_rec_fini(&r);
		}
		if (!ok) {
			fprintf(stderr, "%s does not decode\n", path);
			CHECK(0);
		}
		files++;
	}
	closedir(d);
	CHECK(files >= 10);
}

UNIT_MAIN()
