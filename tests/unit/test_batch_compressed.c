// deps: src/util src/record
/*
 * test_batch_compressed.c — batches in any codec: batch_assemble and
 * batch_records round trips, batch_validate_opts on compressed payloads
 * (record counts, corrupt payloads, bombs) and its `stored` relaxation for
 * compacted batches.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record/batch.h"
#include "record/compression.h"
#include "unit.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/err.h"

/* ================================================================ fixture */

static const enum batch_codec all_codecs[] = { CODEC_NONE, CODEC_GZIP, CODEC_SNAPPY, CODEC_LZ4,
					       CODEC_ZSTD };

/* One record: timestamp delta ts, offset delta od, key/value (NULL: null),
 * and one header "h" = "hv" when with_hdr. */
static void put_rec(struct wbuf *w, int64_t ts, int32_t od, const char *k, const char *v,
		    bool with_hdr)
{
	struct wbuf b;
	wbuf_init(&b);
	wbuf_i8(&b, 0);
	wbuf_varlong(&b, ts);
	wbuf_varint(&b, od);
	wbuf_varint(&b, k ? (int32_t)strlen(k) : -1);
	if (k)
		wbuf_bytes(&b, k, strlen(k));
	wbuf_varint(&b, v ? (int32_t)strlen(v) : -1);
	if (v)
		wbuf_bytes(&b, v, strlen(v));
	wbuf_varint(&b, with_hdr ? 1 : 0);
	if (with_hdr) {
		wbuf_varint(&b, 1);
		wbuf_bytes(&b, "h", 1);
		wbuf_varint(&b, 2);
		wbuf_bytes(&b, "hv", 2);
	}
	wbuf_varint(w, (int32_t)b.mem_len);
	wbuf_bytes(w, b.mem, b.mem_len);
	wbuf_fini(&b);
}

/* n records with offset deltas `step` apart (1: a produced batch). */
static void put_recs(struct wbuf *w, int n, int step)
{
	char k[32], v[64];
	for (int i = 0; i < n; i++) {
		snprintf(k, sizeof k, "key-%d", i % 7);
		snprintf(v, sizeof v, "value-%d-some-repeated-text-some-repeated-text", i);
		put_rec(w, i * 3, i * step, i % 5 == 4 ? NULL : k, i % 9 == 8 ? NULL : v, i % 2 == 0);
	}
}

static struct batch_hdr tmpl_of(int32_t count, int32_t last_delta)
{
	struct batch_hdr t;
	memset(&t, 0, sizeof t);
	t.base_offset = 1000;
	t.partition_leader_epoch = 4;
	t.attributes = BATCH_ATTR_TRANSACTIONAL | BATCH_ATTR_LOG_APPEND_TIME | CODEC_GZIP;
	t.last_offset_delta = last_delta;
	t.base_timestamp = 1700000000000;
	t.max_timestamp = 1700000000000 + 3 * (count > 0 ? count - 1 : 0);
	t.producer_id = 77;
	t.producer_epoch = 3;
	t.base_sequence = 12;
	return t;
}

static uint8_t *assemble(enum batch_codec c, const struct batch_hdr *t, const struct wbuf *w,
			 int32_t count, size_t *n)
{
	int err = -99;
	uint8_t *b = batch_assemble(t, c, INT32_MIN, w->mem, w->mem_len, count, n, &err);
	CHECK(b != NULL);
	CHECK_EQ(err, KAFKA_NONE);
	return b;
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* Wraps an arbitrary (compressed) payload in a batch with a valid CRC. */
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
	put_be(b + 17, crc32c(0, b + 21, *n - 21), 4);
	return b;
}

static const struct batch_check_opts deep = { 1 << 20, false };

/* ================================================================ assemble */

TEST(assemble_and_read_back_every_codec)
{
	struct wbuf w;
	wbuf_init(&w);
	put_recs(&w, 200, 1);
	struct batch_hdr t = tmpl_of(200, 199);
	for (size_t c = 0; c < sizeof all_codecs / sizeof all_codecs[0]; c++) {
		size_t n;
		uint8_t *b = assemble(all_codecs[c], &t, &w, 200, &n);
		struct batch_hdr h;
		CHECK_EQ(batch_validate_opts(b, n, &deep, &h), KAFKA_NONE);
		CHECK_EQ(h.base_offset, 1000);
		CHECK_EQ(h.partition_leader_epoch, 4);
		CHECK_EQ(h.attributes & BATCH_ATTR_CODEC_MASK, all_codecs[c]);
		CHECK_EQ(h.attributes & ~BATCH_ATTR_CODEC_MASK,
			 BATCH_ATTR_TRANSACTIONAL | BATCH_ATTR_LOG_APPEND_TIME);
		CHECK_EQ(h.last_offset_delta, 199);
		CHECK_EQ(h.records_count, 200);
		CHECK_EQ(h.base_timestamp, t.base_timestamp);
		CHECK_EQ(h.max_timestamp, t.max_timestamp);
		CHECK_EQ(h.producer_id, 77);
		CHECK_EQ(h.producer_epoch, 3);
		CHECK_EQ(h.base_sequence, 12);
		CHECK_EQ(batch_total_size(&h), n);
		if (all_codecs[c] != CODEC_NONE)
			CHECK(n < w.mem_len); /* it did compress */
		const uint8_t *recs;
		size_t len;
		uint8_t *owned;
		CHECK_EQ(batch_records(b, n, 1 << 20, &recs, &len, &owned), KAFKA_NONE);
		CHECK((owned == NULL) == (all_codecs[c] == CODEC_NONE));
		CHECK_EQ(len, w.mem_len);
		CHECK(memcmp(recs, w.mem, len) == 0);
		/* records walk with their headers and timestamps intact */
		size_t pos = 0;
		struct record_view rec;
		for (int i = 0; i < 200; i++) {
			CHECK_EQ(batch_next_record(recs, len, &pos, &rec), 0);
			CHECK_EQ(rec.offset_delta, i);
			CHECK_EQ(rec.timestamp_delta, i * 3);
			CHECK_EQ(rec.headers_count, i % 2 == 0 ? 1 : 0);
		}
		free(owned);
		/* the limit applies to compressed batches only */
		int rc = batch_records(b, n, 100, &recs, &len, &owned);
		CHECK_EQ(rc, all_codecs[c] == CODEC_NONE ? KAFKA_NONE : KAFKA_RECORD_LIST_TOO_LARGE);
		if (rc == KAFKA_NONE)
			CHECK(owned == NULL);
		free(b);
	}
	wbuf_fini(&w);
}

TEST(assemble_levels_and_errors)
{
	struct wbuf w;
	wbuf_init(&w);
	put_recs(&w, 50, 1);
	struct batch_hdr t = tmpl_of(50, 49);
	size_t n1, n9;
	int err;
	uint8_t *b1 = batch_assemble(&t, CODEC_ZSTD, 1, w.mem, w.mem_len, 50, &n1, &err);
	uint8_t *b9 = batch_assemble(&t, CODEC_ZSTD, 19, w.mem, w.mem_len, 50, &n9, &err);
	CHECK(b1 != NULL && b9 != NULL);
	CHECK_EQ(batch_validate_opts(b1, n1, &deep, NULL), KAFKA_NONE);
	CHECK_EQ(batch_validate_opts(b9, n9, &deep, NULL), KAFKA_NONE);
	CHECK(n9 <= n1);
	free(b1);
	free(b9);
	CHECK(batch_assemble(&t, (enum batch_codec)5, INT32_MIN, w.mem, w.mem_len, 50, &n1, &err) == NULL);
	CHECK_EQ(err, KAFKA_UNSUPPORTED_COMPRESSION_TYPE);
	wbuf_fini(&w);
}

/* ================================================================ validation */

TEST(compressed_batch_checked_only_when_asked)
{
	struct wbuf w;
	wbuf_init(&w);
	put_recs(&w, 10, 1);
	struct batch_hdr t = tmpl_of(11, 10); /* header claims 11 records */
	size_t n;
	uint8_t *b = assemble(CODEC_LZ4, &t, &w, 11, &n);
	CHECK_EQ(batch_validate(b, n, NULL), KAFKA_NONE);          /* header and CRC only */
	CHECK_EQ(batch_validate_opts(b, n, NULL, NULL), KAFKA_NONE);
	CHECK_EQ(batch_validate_opts(b, n, &deep, NULL), KAFKA_INVALID_RECORD);
	free(b);
	/* fewer claimed than present */
	t = tmpl_of(9, 8);
	b = assemble(CODEC_SNAPPY, &t, &w, 9, &n);
	CHECK_EQ(batch_validate_opts(b, n, &deep, NULL), KAFKA_INVALID_RECORD);
	free(b);
	wbuf_fini(&w);
}

TEST(compressed_batch_with_bad_offset_deltas_is_invalid)
{
	struct wbuf w;
	wbuf_init(&w);
	put_recs(&w, 10, 2); /* deltas 0, 2, 4, ...: not 0..9 */
	struct batch_hdr t = tmpl_of(10, 9);
	size_t n;
	uint8_t *b = assemble(CODEC_ZSTD, &t, &w, 10, &n);
	CHECK_EQ(batch_validate_opts(b, n, &deep, NULL), KAFKA_INVALID_RECORD);
	free(b);
	wbuf_fini(&w);
}

TEST(corrupt_compressed_payload_is_corrupt_message)
{
	static const uint8_t junk[] = "this is not compressed data at all, no codec reads it";
	for (int c = CODEC_GZIP; c <= CODEC_ZSTD; c++) {
		size_t n;
		uint8_t *b = wrap(junk, sizeof junk, 3, (int16_t)c, &n);
		CHECK_EQ(batch_validate(b, n, NULL), KAFKA_NONE);
		CHECK_EQ(batch_validate_opts(b, n, &deep, NULL), KAFKA_CORRUPT_MESSAGE);
		free(b);
	}
	size_t n;
	uint8_t *b = wrap(junk, sizeof junk, 3, 6, &n);
	CHECK_EQ(batch_validate_opts(b, n, &deep, NULL), KAFKA_UNSUPPORTED_COMPRESSION_TYPE);
	const uint8_t *recs;
	size_t len;
	uint8_t *owned;
	CHECK_EQ(batch_records(b, n, 100, &recs, &len, &owned), KAFKA_UNSUPPORTED_COMPRESSION_TYPE);
	CHECK(owned == NULL);
	CHECK_EQ(batch_records(b, 60, 100, &recs, &len, &owned), KAFKA_CORRUPT_MESSAGE);
	free(b);
}

TEST(compressed_records_that_do_not_parse_are_invalid)
{
	static const uint8_t garbage[64] = { 0x7f, 1, 2, 3 };
	for (int c = CODEC_GZIP; c <= CODEC_ZSTD; c++) {
		uint8_t *z;
		size_t zlen, n;
		CHECK_EQ(codec_compress((enum batch_codec)c, INT32_MIN, garbage, sizeof garbage, &z, &zlen),
			 KAFKA_NONE);
		uint8_t *b = wrap(z, zlen, 1, (int16_t)c, &n);
		CHECK_EQ(batch_validate_opts(b, n, &deep, NULL), KAFKA_INVALID_RECORD);
		free(b);
		free(z);
	}
}

TEST(bomb_batch_is_record_list_too_large)
{
	uint8_t *zeros = calloc(1, 8 << 20);
	for (int c = CODEC_GZIP; c <= CODEC_ZSTD; c++) {
		uint8_t *z;
		size_t zlen, n;
		CHECK_EQ(codec_compress((enum batch_codec)c, INT32_MIN, zeros, 8 << 20, &z, &zlen),
			 KAFKA_NONE);
		uint8_t *b = wrap(z, zlen, 1, (int16_t)c, &n);
		CHECK(n < (1 << 20));
		CHECK_EQ(batch_validate_opts(b, n, &deep, NULL), KAFKA_RECORD_LIST_TOO_LARGE);
		free(b);
		free(z);
	}
	free(zeros);
}

/* ================================================================ stored mode */

TEST(stored_mode_accepts_compaction_leftovers)
{
	/* records at deltas 0, 2, 4 of a batch that covered 0..9 */
	struct wbuf w;
	wbuf_init(&w);
	put_recs(&w, 3, 2);
	for (size_t c = 0; c < sizeof all_codecs / sizeof all_codecs[0]; c++) {
		struct batch_hdr t = tmpl_of(3, 9);
		size_t n;
		uint8_t *b = assemble(all_codecs[c], &t, &w, 3, &n);
		struct batch_check_opts stored = { 1 << 20, true };
		CHECK_EQ(batch_validate_opts(b, n, &stored, NULL), KAFKA_NONE);
		CHECK_EQ(batch_validate_opts(b, n, &deep, NULL), KAFKA_INVALID_RECORD);
		free(b);
		/* LastOffsetDelta 3 < the record at delta 4 */
		t = tmpl_of(3, 3);
		b = assemble(all_codecs[c], &t, &w, 3, &n);
		CHECK_EQ(batch_validate_opts(b, n, &stored, NULL), KAFKA_INVALID_RECORD);
		free(b);
		/* count > LastOffsetDelta + 1 */
		t = tmpl_of(3, 1);
		b = assemble(all_codecs[c], &t, &w, 3, &n);
		CHECK_EQ(batch_validate_opts(b, n, &stored, NULL), KAFKA_INVALID_RECORD);
		free(b);
	}
	wbuf_fini(&w);
}

TEST(stored_mode_rejects_unordered_deltas_and_accepts_empty)
{
	struct wbuf w;
	wbuf_init(&w);
	put_rec(&w, 0, 5, "a", "1", false);
	put_rec(&w, 0, 5, "b", "2", false); /* repeated delta */
	struct batch_hdr t = tmpl_of(2, 9);
	struct batch_check_opts stored = { 1 << 20, true };
	size_t n;
	uint8_t *b = assemble(CODEC_NONE, &t, &w, 2, &n);
	CHECK_EQ(batch_validate_opts(b, n, &stored, NULL), KAFKA_INVALID_RECORD);
	free(b);
	wbuf_fini(&w);
	wbuf_init(&w);
	put_rec(&w, 0, 6, "a", "1", false);
	put_rec(&w, 0, 2, "b", "2", false); /* decreasing */
	b = assemble(CODEC_GZIP, &t, &w, 2, &n);
	CHECK_EQ(batch_validate_opts(b, n, &stored, NULL), KAFKA_INVALID_RECORD);
	free(b);
	wbuf_fini(&w);
	/* an empty batch (every record cleaned away) still covers its range */
	wbuf_init(&w);
	t = tmpl_of(0, 9);
	b = assemble(CODEC_NONE, &t, &w, 0, &n);
	CHECK_EQ(batch_validate_opts(b, n, &stored, NULL), KAFKA_NONE);
	CHECK_EQ(batch_validate(b, n, NULL), KAFKA_NONE);
	free(b);
	b = assemble(CODEC_ZSTD, &t, &w, 0, &n);
	CHECK_EQ(batch_validate_opts(b, n, &stored, NULL), KAFKA_NONE);
	free(b);
	wbuf_fini(&w);
}

TEST(stored_mode_refuses_base_offsets_out_of_range)
{
	/* BaseOffset is outside the CRC: a damaged one must not make
	 * BaseOffset + LastOffsetDelta overflow in readers (fuzz_recovery). */
	struct wbuf w;
	wbuf_init(&w);
	struct batch_hdr t = tmpl_of(0, 2);
	struct batch_check_opts stored = { 1 << 20, true };
	size_t n;
	uint8_t *b = assemble(CODEC_NONE, &t, &w, 0, &n);
	const int64_t bases[] = { INT64_MAX, INT64_MAX - 1, -1, INT64_MIN };
	for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
		batch_set_base_offset(b, bases[i]);
		CHECK_EQ(batch_validate_opts(b, n, &stored, NULL), KAFKA_CORRUPT_MESSAGE);
		CHECK_EQ(batch_validate(b, n, NULL), KAFKA_NONE); /* a producer's is ignored */
	}
	batch_set_base_offset(b, INT64_MAX - 2);
	CHECK_EQ(batch_validate_opts(b, n, &stored, NULL), KAFKA_NONE);
	free(b);
	wbuf_fini(&w);
}

UNIT_MAIN()
