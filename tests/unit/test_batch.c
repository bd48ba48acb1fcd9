// deps: src/util src/record
/*
 * test_batch.c — record batch v2: built batches validate and read back;
 * every single-byte corruption, truncation and count mismatch is caught
 * with the right code; rewrites keep the CRC valid; record sets split.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record/batch.h"
#include "unit.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/err.h"

/* ------------------------------------------------------------- fixture */

static const char *const keys3[] = { "k0", NULL, "key-two" };
static const char *const vals3[] = { "v0", "value-one", NULL };

static uint8_t *build3(size_t *n)
{
	uint8_t *b = batch_build(0, 1700000000000, 3, keys3, vals3, n);
	CHECK(b != NULL);
	return b;
}

/* ------------------------------------------------------------- helpers */

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* Recomputes the CRC so a deliberate edit reaches the later checks. */
static void recrc(uint8_t *b, size_t n)
{
	put_be(b + 17, crc32c(0, b + 21, n - 21), 4);
}

/* Wraps a raw records payload in a batch header with a valid CRC. */
static uint8_t *wrap(const uint8_t *payload, size_t plen, int32_t count, int16_t attrs, size_t *n)
{
	*n = BATCH_HEADER_SIZE + plen;
	uint8_t *b = calloc(1, *n);
	CHECK(b != NULL);
	put_be(b + 8, *n - 12, 4);
	b[16] = 2;
	put_be(b + 21, (uint16_t)attrs, 2);
	put_be(b + 23, (uint32_t)(count - 1), 4);
	put_be(b + 43, (uint64_t)-1, 8);
	put_be(b + 57, (uint32_t)count, 4);
	memcpy(b + BATCH_HEADER_SIZE, payload, plen);
	recrc(b, *n);
	return b;
}

/* One record with explicit fields, headers given as raw pairs. */
static void put_record(struct wbuf *w, int32_t off_delta, int32_t klen, int32_t vlen,
		       int32_t nhdr, int32_t hklen, int32_t hvlen)
{
	struct wbuf body;
	wbuf_init(&body);
	wbuf_i8(&body, 0);
	wbuf_varlong(&body, 5);
	wbuf_varint(&body, off_delta);
	wbuf_varint(&body, klen);
	for (int i = 0; i < klen; i++)
		wbuf_i8(&body, 'k');
	wbuf_varint(&body, vlen);
	for (int i = 0; i < vlen; i++)
		wbuf_i8(&body, 'v');
	wbuf_varint(&body, nhdr);
	for (int h = 0; h < nhdr; h++) {
		wbuf_varint(&body, hklen);
		for (int i = 0; i < hklen; i++)
			wbuf_i8(&body, 'h');
		wbuf_varint(&body, hvlen);
		for (int i = 0; i < hvlen; i++)
			wbuf_i8(&body, 'x');
	}
	wbuf_varint(w, (int32_t)body.mem_len);
	wbuf_bytes(w, body.mem, body.mem_len);
	wbuf_fini(&body);
}

struct seen { int calls; size_t sizes[8]; int64_t bases[8]; int fail_at; };

static int collect(void *arg, uint8_t *p, size_t n, const struct batch_hdr *h)
{
	struct seen *s = arg;
	(void)p;
	if (s->calls < 8) {
		s->sizes[s->calls] = n;
		s->bases[s->calls] = h->base_offset;
	}
	s->calls++;
	return s->calls == s->fail_at ? KAFKA_MESSAGE_TOO_LARGE : KAFKA_NONE;
}

/* --------------------------------------------------------- valid batches */

TEST(built_batch_validates_and_reads_back)
{
	size_t n;
	uint8_t *b = build3(&n);
	struct batch_hdr h;
	CHECK_EQ(batch_validate(b, n, &h), KAFKA_NONE);
	CHECK_EQ(h.magic, 2);
	CHECK_EQ(h.records_count, 3);
	CHECK_EQ(h.last_offset_delta, 2);
	CHECK_EQ(batch_total_size(&h), n);
	CHECK_EQ(h.base_timestamp, 1700000000000);
	CHECK_EQ(h.max_timestamp, 1700000000000);
	CHECK_EQ(h.producer_id, -1);
	CHECK_EQ(h.attributes, 0);
	size_t pos = 0;
	struct record_view rec;
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(batch_next_record(b + 61, n - 61, &pos, &rec), 0);
		CHECK_EQ(rec.offset_delta, i);
		CHECK_EQ(rec.headers_count, 0);
		if (keys3[i]) {
			CHECK_EQ(rec.key_len, (int)strlen(keys3[i]));
			CHECK(memcmp(rec.key, keys3[i], (size_t)rec.key_len) == 0);
		} else {
			CHECK_EQ(rec.key_len, -1);
			CHECK(rec.key == NULL);
		}
		if (vals3[i]) {
			CHECK_EQ(rec.value_len, (int)strlen(vals3[i]));
			CHECK(memcmp(rec.value, vals3[i], (size_t)rec.value_len) == 0);
		} else {
			CHECK_EQ(rec.value_len, -1);
		}
	}
	CHECK_EQ(batch_next_record(b + 61, n - 61, &pos, &rec), 1);
	free(b);
}

TEST(built_batches_of_many_sizes)
{
	static const int counts[] = { 0, 1, 2, 100, 5000 };
	for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
		size_t n;
		uint8_t *b = batch_build(42, 7, counts[c], NULL, NULL, &n);
		CHECK(b != NULL);
		struct batch_hdr h;
		CHECK_EQ(batch_validate(b, n, &h), KAFKA_NONE);
		CHECK_EQ(h.records_count, counts[c]);
		CHECK_EQ(h.base_offset, 42);
		CHECK_EQ(batch_last_offset(&h), 42 + (counts[c] > 0 ? counts[c] - 1 : 0));
		free(b);
	}
	size_t n;
	CHECK(batch_build(0, 0, -1, NULL, NULL, &n) == NULL);
}

TEST(parse_header_rejects_short_and_bad_magic)
{
	size_t n;
	uint8_t *b = build3(&n);
	struct batch_hdr h;
	CHECK_EQ(batch_parse_header(b, 60, &h), -1);
	CHECK_EQ(batch_parse_header(b, 61, &h), 0);
	b[16] = 1;
	CHECK_EQ(batch_parse_header(b, n, &h), -1);
	CHECK_EQ(batch_validate(b, n, &h), KAFKA_CORRUPT_MESSAGE);
	free(b);
}

TEST(records_with_headers_parse)
{
	struct wbuf w;
	wbuf_init(&w);
	put_record(&w, 0, 3, 4, 2, 5, -1);
	put_record(&w, 1, -1, 0, 1, 0, 3);
	size_t n;
	uint8_t *b = wrap(w.mem, w.mem_len, 2, 0, &n);
	CHECK_EQ(batch_validate(b, n, NULL), KAFKA_NONE);
	size_t pos = 0;
	struct record_view rec;
	CHECK_EQ(batch_next_record(b + 61, n - 61, &pos, &rec), 0);
	CHECK_EQ(rec.timestamp_delta, 5);
	CHECK_EQ(rec.headers_count, 2);
	CHECK_EQ(rec.headers_len, 2 * (1 + 5 + 1));
	CHECK_EQ(rec.headers[0], 10); /* zig-zag 5 */
	CHECK_EQ(batch_next_record(b + 61, n - 61, &pos, &rec), 0);
	CHECK_EQ(rec.key_len, -1);
	CHECK_EQ(rec.value_len, 0);
	CHECK(rec.value != NULL);
	CHECK_EQ(batch_next_record(b + 61, n - 61, &pos, &rec), 1);
	wbuf_fini(&w);
	free(b);
}

/* ------------------------------------------------------------ corruption */

TEST(every_single_byte_corruption_detected)
{
	size_t n;
	uint8_t *b = build3(&n);
	for (size_t i = 8; i < n; i++) {
		if (i >= 12 && i < 16)
			continue; /* PartitionLeaderEpoch: outside the CRC by design */
		for (int x = 1; x < 256; x++) {
			b[i] ^= (uint8_t)x;
			int err = batch_validate(b, n, NULL);
			if (err != KAFKA_CORRUPT_MESSAGE) {
				fprintf(stderr, "byte %zu ^ 0x%02x: %s\n", i, x, kafka_err_name(err));
				CHECK(0);
			}
			b[i] ^= (uint8_t)x;
		}
	}
	CHECK_EQ(batch_validate(b, n, NULL), KAFKA_NONE);
	free(b);
}

TEST(base_offset_and_leader_epoch_are_outside_the_crc)
{
	size_t n;
	uint8_t *b = build3(&n);
	batch_set_base_offset(b, 123456789012);
	batch_set_leader_epoch(b, 77);
	struct batch_hdr h;
	CHECK_EQ(batch_validate(b, n, &h), KAFKA_NONE);
	CHECK_EQ(h.base_offset, 123456789012);
	CHECK_EQ(h.partition_leader_epoch, 77);
	CHECK_EQ(batch_last_offset(&h), 123456789014);
	free(b);
}

TEST(truncations_and_extra_bytes_rejected)
{
	size_t n;
	uint8_t *b = build3(&n);
	uint8_t *big = calloc(1, n + 8);
	memcpy(big, b, n);
	for (size_t k = 0; k < n; k++)
		CHECK_EQ(batch_validate(b, k, NULL), KAFKA_CORRUPT_MESSAGE);
	CHECK_EQ(batch_validate(big, n + 1, NULL), KAFKA_CORRUPT_MESSAGE);
	CHECK_EQ(batch_validate(NULL, 0, NULL), KAFKA_CORRUPT_MESSAGE);
	/* A shorter batch length with a CRC matching the shorter range. */
	put_be(big + 8, n - 12 - 1, 4);
	recrc(big, n - 1);
	CHECK_EQ(batch_validate(big, n - 1, NULL), KAFKA_INVALID_RECORD);
	/* Lengths below the header size. */
	put_be(b + 8, 48, 4);
	CHECK_EQ(batch_validate(b, 60, NULL), KAFKA_CORRUPT_MESSAGE);
	put_be(b + 8, (uint32_t)-1, 4);
	CHECK_EQ(batch_validate(b, n, NULL), KAFKA_CORRUPT_MESSAGE);
	free(big);
	free(b);
}

TEST(record_count_mismatches)
{
	size_t n;
	uint8_t *b = build3(&n);
	struct { int32_t count, lod; int want; } c[] = {
		{ 2, 1, KAFKA_INVALID_RECORD },  /* fewer than present */
		{ 4, 3, KAFKA_INVALID_RECORD },  /* more than present */
		{ 3, 3, KAFKA_INVALID_RECORD },  /* LastOffsetDelta disagrees */
		{ 3, 1, KAFKA_INVALID_RECORD },
		{ -1, -2, KAFKA_INVALID_RECORD },
		{ INT32_MAX, INT32_MAX - 1, KAFKA_INVALID_RECORD },
		{ 0, -1, KAFKA_INVALID_RECORD }, /* records present but none counted */
		{ 3, 2, KAFKA_NONE },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		put_be(b + 57, (uint32_t)c[i].count, 4);
		put_be(b + 23, (uint32_t)c[i].lod, 4);
		recrc(b, n);
		CHECK_EQ(batch_validate(b, n, NULL), c[i].want);
	}
	free(b);
}

TEST(malformed_records_are_invalid_record)
{
	size_t n;
	uint8_t *b = build3(&n);
	/* Record 0 starts at 61: Length, Attributes, TimestampDelta, OffsetDelta. */
	uint8_t save = b[64];
	b[64] = 2; /* offset delta 1 for the first record */
	recrc(b, n);
	CHECK_EQ(batch_validate(b, n, NULL), KAFKA_INVALID_RECORD);
	b[64] = save;
	b[61] += 2; /* record length one more than its body */
	recrc(b, n);
	CHECK_EQ(batch_validate(b, n, NULL), KAFKA_INVALID_RECORD);
	b[61] -= 4; /* one less */
	recrc(b, n);
	CHECK_EQ(batch_validate(b, n, NULL), KAFKA_INVALID_RECORD);
	b[61] = 1; /* zig-zag -1: negative length */
	recrc(b, n);
	CHECK_EQ(batch_validate(b, n, NULL), KAFKA_INVALID_RECORD);
	free(b);

	/* Header key length may not be null; key length below -1 is invalid. */
	struct { int32_t klen, nhdr, hklen; } bad[] = { { -2, 0, 0 }, { 0, 1, -1 }, { 0, -1, 0 } };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct wbuf w;
		wbuf_init(&w);
		put_record(&w, 0, bad[i].klen, 1, bad[i].nhdr, bad[i].hklen, 1);
		b = wrap(w.mem, w.mem_len, 1, 0, &n);
		CHECK_EQ(batch_validate(b, n, NULL), KAFKA_INVALID_RECORD);
		size_t pos = 0;
		struct record_view rec;
		CHECK_EQ(batch_next_record(b + 61, n - 61, &pos, &rec), -1);
		wbuf_fini(&w);
		free(b);
	}
}

TEST(codecs)
{
	static const uint8_t junk[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	size_t n;
	for (int codec = 1; codec <= 4; codec++) {
		uint8_t *b = wrap(junk, sizeof junk, 3, (int16_t)codec, &n);
		CHECK_EQ(batch_validate(b, n, NULL), KAFKA_NONE); /* header-level only */
		free(b);
	}
	for (int codec = 5; codec <= 7; codec++) {
		uint8_t *b = wrap(junk, sizeof junk, 3, (int16_t)codec, &n);
		CHECK_EQ(batch_validate(b, n, NULL), KAFKA_UNSUPPORTED_COMPRESSION_TYPE);
		free(b);
	}
	uint8_t *b = wrap(junk, sizeof junk, 3, CODEC_NONE, &n);
	CHECK_EQ(batch_validate(b, n, NULL), KAFKA_INVALID_RECORD);
	free(b);
}

/* -------------------------------------------------------------- rewrites */

TEST(log_append_time_rewrite_keeps_crc_valid)
{
	size_t n;
	uint8_t *b = build3(&n);
	uint32_t before;
	struct batch_hdr h;
	CHECK_EQ(batch_validate(b, n, &h), KAFKA_NONE);
	before = h.crc;
	batch_set_log_append_time(b, n, 1800000000123);
	CHECK_EQ(batch_validate(b, n, &h), KAFKA_NONE);
	CHECK(h.crc != before);
	CHECK(h.attributes & BATCH_ATTR_LOG_APPEND_TIME);
	CHECK_EQ(h.attributes & BATCH_ATTR_CODEC_MASK, CODEC_NONE);
	CHECK_EQ(h.max_timestamp, 1800000000123);
	CHECK_EQ(h.base_timestamp, 1700000000000);
	/* Idempotent, and a second time changes only the timestamp. */
	batch_set_log_append_time(b, n, 5);
	CHECK_EQ(batch_validate(b, n, &h), KAFKA_NONE);
	CHECK_EQ(h.max_timestamp, 5);
	free(b);
}

/* ------------------------------------------------------------ record sets */

TEST(foreach_splits_record_sets)
{
	size_t n1, n2, n3;
	uint8_t *b1 = batch_build(0, 1, 1, NULL, NULL, &n1);
	uint8_t *b2 = build3(&n2);
	uint8_t *b3 = batch_build(9, 1, 10, NULL, NULL, &n3);
	size_t n = n1 + n2 + n3;
	uint8_t *set = malloc(n + 16);
	memcpy(set, b1, n1);
	memcpy(set + n1, b2, n2);
	memcpy(set + n1 + n2, b3, n3);
	struct seen s = { 0 };
	CHECK_EQ(batch_foreach(set, n, collect, &s), KAFKA_NONE);
	CHECK_EQ(s.calls, 3);
	CHECK_EQ(s.sizes[0], n1);
	CHECK_EQ(s.sizes[1], n2);
	CHECK_EQ(s.sizes[2], n3);
	CHECK_EQ(s.bases[2], 9);
	/* The callback's error stops the walk. */
	s = (struct seen){ .fail_at = 2 };
	CHECK_EQ(batch_foreach(set, n, collect, &s), KAFKA_MESSAGE_TOO_LARGE);
	CHECK_EQ(s.calls, 2);
	/* Trailing partial batch: every cut inside the last batch. */
	for (size_t cut = 1; cut < n3; cut++) {
		s = (struct seen){ 0 };
		CHECK_EQ(batch_foreach(set, n - cut, collect, &s), KAFKA_CORRUPT_MESSAGE);
		CHECK_EQ(s.calls, 2);
	}
	/* Trailing garbage after whole batches. */
	memset(set + n, 0, 16);
	CHECK_EQ(batch_foreach(set, n + 5, NULL, NULL), KAFKA_CORRUPT_MESSAGE);
	/* A corrupt middle batch stops before the callback for it. */
	set[n1 + 30] ^= 1;
	s = (struct seen){ 0 };
	CHECK_EQ(batch_foreach(set, n, collect, &s), KAFKA_CORRUPT_MESSAGE);
	CHECK_EQ(s.calls, 1);
	/* Empty record set. */
	CHECK_EQ(batch_foreach(set, 0, collect, &s), KAFKA_INVALID_RECORD);
	free(set);
	free(b1);
	free(b2);
	free(b3);
}

TEST(random_garbage_never_crashes)
{
	uint64_t x = 88172645463325252ull;
	size_t n;
	uint8_t *good = build3(&n);
	uint8_t *b = malloc(n);
	for (int iter = 0; iter < 20000; iter++) {
		memcpy(b, good, n);
		int flips = 1 + iter % 8;
		for (int f = 0; f < flips; f++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			b[61 + x % (n - 61)] = (uint8_t)(x >> 32);
		}
		recrc(b, n); /* reach the record walk, not just the CRC */
		int err = batch_validate(b, n, NULL);
		CHECK(err == KAFKA_NONE || err == KAFKA_INVALID_RECORD);
		size_t pos = 0;
		struct record_view rec;
		int r, guard = 0;
		while ((r = batch_next_record(b + 61, n - 61, &pos, &rec)) == 0 && guard++ < 100)
			CHECK(pos <= n - 61);
		CHECK(r == 1 || r == -1);
	}
	free(b);
	free(good);
}

/* The fuzz seeds were written by an independent (Python) encoder: they
 * cross-check the layout and CRC. Runs from the repository root. */
TEST(fuzz_seed_corpus_validates)
{
	DIR *d = opendir("fuzz/corpus/fuzz_batch");
	if (d == NULL)
		return; /* not run from the repository root */
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[512];
		uint8_t buf[65536];
		snprintf(path, sizeof path, "fuzz/corpus/fuzz_batch/%s", e->d_name);
		FILE *f = fopen(path, "rb");
		CHECK(f != NULL);
		size_t n = fread(buf, 1, sizeof buf, f);
		fclose(f);
		struct seen s = { 0 };
		int err = batch_foreach(buf, n, collect, &s);
		if (err != KAFKA_NONE) {
			fprintf(stderr, "%s: %s\n", path, kafka_err_name(err));
			CHECK(0);
		}
		CHECK(s.calls >= 1);
		files++;
	}
	closedir(d);
	CHECK(files >= 5);
}

UNIT_MAIN()
