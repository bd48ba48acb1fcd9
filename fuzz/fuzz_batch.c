// fuzz-deps: src/util src/record
/*
 * fuzz_batch.c — libFuzzer target for the record batch v2 parser
 * (src/record/batch.c), which reads produce requests from the network and
 * segments from disk.
 *
 * Each input is used three ways:
 *  1. as a produce record set: batch_foreach on a writable copy, walking
 *     the records of every uncompressed batch it accepts and re-validating
 *     after the broker's in-place rewrites (offset, epoch, LogAppendTime);
 *  2. as one batch whose BatchLength and CRC are repaired first, so that
 *     mutations reach the record walk instead of stopping at the CRC;
 *  3. as a bare records payload for batch_next_record;
 *  4. the repaired batch through batch_validate_opts with decompression
 *     (limit 1 MiB) and in stored mode.
 * Beyond "no crash, no sanitizer report", it checks invariants and aborts
 * when one breaks: an accepted batch stays valid after the rewrites, and
 * an accepted uncompressed batch yields exactly RecordsCount records; a
 * batch accepted with decompression yields exactly RecordsCount records
 * too, and rebuilt in another codec (batch_assemble) is accepted again
 * with the same records; whatever the deep check accepts, the stored mode
 * accepts — unless its BaseOffset is negative or its last offset passes
 * int64, which only the stored mode checks (CORRUPT_MESSAGE).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record/batch.h"
#include "util/crc32c.h"
#include "util/err.h"

/* Walks an uncompressed payload; returns the number of records, or -1. */
static long walk_records(const uint8_t *payload, size_t len)
{
	size_t pos = 0, prev = 0;
	long count = 0;
	struct record_view rec;
	int r;
	while ((r = batch_next_record(payload, len, &pos, &rec)) == 0) {
		if (pos <= prev)
			abort(); /* no progress */
		if (pos > len)
			abort();
		if (rec.key_len >= 0 && (rec.key < payload || rec.key + rec.key_len > payload + len))
			abort();
		if (rec.value_len >= 0 && (rec.value < payload || rec.value + rec.value_len > payload + len))
			abort();
		if (rec.headers + rec.headers_len > payload + len)
			abort();
		prev = pos;
		count++;
	}
	return r == 1 ? count : -1;
}

static void check_accepted(const uint8_t *p, size_t n, const struct batch_hdr *h)
{
	if (batch_total_size(h) != n)
		abort();
	if ((h->attributes & BATCH_ATTR_CODEC_MASK) == CODEC_NONE &&
	    walk_records(p + BATCH_HEADER_SIZE, n - BATCH_HEADER_SIZE) != h->records_count)
		abort();
}

static int on_batch(void *arg, uint8_t *p, size_t n, const struct batch_hdr *h)
{
	(void)arg;
	check_accepted(p, n, h);
	batch_set_base_offset(p, 1000);
	batch_set_leader_epoch(p, 3);
	batch_set_log_append_time(p, n, 1700000000000);
	struct batch_hdr h2;
	if (batch_validate(p, n, &h2) != KAFKA_NONE || h2.base_offset != 1000 ||
	    h2.max_timestamp != 1700000000000 || h2.records_count != h->records_count)
		abort();
	return KAFKA_NONE;
}

/* Deep validation (4): decompress, count, rebuild in another codec. */
static void check_deep(const uint8_t *p, size_t n)
{
	static const struct batch_check_opts deep = { 1 << 20, false }, stored = { 1 << 20, true };
	struct batch_hdr h;
	int rc = batch_validate_opts(p, n, &deep, &h);
	int rs = batch_validate_opts(p, n, &stored, NULL);
	if (rc != KAFKA_NONE)
		return;
	/* Stored mode only relaxes the record rules; it adds one check, on
	 * BaseOffset (a broker-set offset: >= 0, last offset within int64).
	 * rc == NONE: LastOffsetDelta >= 0, so the subtraction cannot overflow. */
	bool offsets_ok = h.base_offset >= 0 && h.base_offset <= INT64_MAX - h.last_offset_delta;
	if (rs != (offsets_ok ? KAFKA_NONE : KAFKA_CORRUPT_MESSAGE))
		abort();
	const uint8_t *recs;
	size_t len;
	uint8_t *owned;
	if (batch_records(p, n, 1 << 20, &recs, &len, &owned) != KAFKA_NONE ||
	    walk_records(recs, len) != h.records_count)
		abort();
	int codec = h.attributes & BATCH_ATTR_CODEC_MASK;
	enum batch_codec other = (enum batch_codec)((codec + 1 + n % 4) % 5);
	size_t blen;
	int err;
	uint8_t *b = batch_assemble(&h, other, INT32_MIN, recs, len, h.records_count, &blen, &err);
	struct batch_hdr h2;
	const uint8_t *recs2;
	size_t len2;
	uint8_t *owned2;
	if (b == NULL || batch_validate_opts(b, blen, &deep, &h2) != KAFKA_NONE ||
	    h2.records_count != h.records_count || h2.max_timestamp != h.max_timestamp ||
	    (h2.attributes & BATCH_ATTR_CODEC_MASK) != (int)other ||
	    batch_records(b, blen, 1 << 20, &recs2, &len2, &owned2) != KAFKA_NONE ||
	    len2 != len || memcmp(recs2, recs, len) != 0)
		abort();
	free(owned2);
	free(b);
	free(owned);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	if (copy == NULL)
		return 0;

	/* 1. produce path */
	memcpy(copy, data, size);
	(void)batch_foreach(copy, size, on_batch, NULL);

	/* 2. one batch with a repaired length and CRC */
	if (size >= BATCH_HEADER_SIZE && size - BATCH_LOG_OVERHEAD <= INT32_MAX) {
		memcpy(copy, data, size);
		copy[16] = 2;
		put_be32(copy + 8, (uint32_t)(size - BATCH_LOG_OVERHEAD));
		put_be32(copy + 17, crc32c(0, copy + 21, size - 21));
		struct batch_hdr h;
		if (batch_validate(copy, size, &h) == KAFKA_NONE)
			check_accepted(copy, size, &h);
		check_deep(copy, size);
	}
	(void)batch_validate(data, size, NULL);

	/* 3. bare records payload */
	memcpy(copy, data, size);
	(void)walk_records(copy, size);

	free(copy);
	return 0;
}
