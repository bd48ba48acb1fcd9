/*
 * batch.c — record batch v2: parse, validate, rewrite, build (batch.h).
 *
 * Batch layout (big-endian; PROTOCOL.md §4):
 *
 *   +0  BaseOffset int64 | +8  BatchLength int32 | +12 PartitionLeaderEpoch int32
 *   +16 Magic int8 | +17 CRC uint32 --------- covers [21, end) ---------------+
 *   +21 Attributes int16 | +23 LastOffsetDelta int32 | +27 BaseTimestamp int64 |
 *   +35 MaxTimestamp int64 | +43 ProducerId int64 | +51 ProducerEpoch int16    |
 *   +53 BaseSequence int32 | +57 RecordsCount int32 | +61 Records ... <--------+
 *
 * Record layout (varints are zig-zag):
 *
 *   Length varint       bytes of the rest of this record
 *   Attributes int8     unused
 *   TimestampDelta varlong
 *   OffsetDelta varint
 *   KeyLen varint, Key  (-1 = null)
 *   ValueLen varint, Value (-1 = null)
 *   HeadersCount varint, then per header:
 *     HeaderKeyLen varint (>= 0), HeaderKey, HeaderValueLen varint (-1 = null), HeaderValue
 *
 * Validation order, and the code each failure gets:
 *  1. n >= 61, BatchLength + 12 == n, magic == 2        -> CORRUPT_MESSAGE
 *  2. CRC-32C of [21, n) == CRC                          -> CORRUPT_MESSAGE
 *  3. codec <= 4                                         -> UNSUPPORTED_COMPRESSION_TYPE
 *  4. RecordsCount >= 0; LastOffsetDelta == RecordsCount - 1 when
 *     RecordsCount > 0                                   -> INVALID_RECORD
 *     (stored: RecordsCount <= LastOffsetDelta + 1)
 *  5. the records — of an uncompressed payload always, of a compressed one
 *     when batch_check_opts.max_uncompressed > 0 (decompressed by codec.c:
 *     CORRUPT_MESSAGE if it does not decompress, RECORD_LIST_TOO_LARGE past
 *     the limit): exactly RecordsCount records, each parsing to exactly its
 *     Length with OffsetDelta == its index, fill the payload
 *     (stored: offset deltas strictly increasing within [0, LastOffsetDelta],
 *     since compaction removes records but keeps offsets) -> INVALID_RECORD
 * The CRC is checked before anything inside its range is trusted, so a
 * single corrupted byte in [17, end) is always reported as CORRUPT_MESSAGE;
 * one in [8, 17) breaks the length or magic check. Every length read from
 * the input is checked against the bytes that remain before it is used
 * (this parser is fed by the network and by the fuzzer).
 *
 * All functions are pure over the bytes they are given: any thread.
 */
#include "record/batch.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "record/compression.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/err.h"

enum {
	OFF_BASE_OFFSET = 0,
	OFF_LENGTH = 8,
	OFF_LEADER_EPOCH = 12,
	OFF_MAGIC = 16,
	OFF_CRC = 17,
	OFF_ATTRIBUTES = 21,
	OFF_MAX_TIMESTAMP = 35,
	MIN_BATCH_LENGTH = BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD, /* 49 */
	MIN_RECORD_SIZE = 7, /* 1-byte Length + six 1-byte fields */
};

static void be_store(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/* ================================================================ header */

int batch_parse_header(const uint8_t *p, size_t n, struct batch_hdr *out)
{
	if (p == NULL || n < BATCH_HEADER_SIZE)
		return -1;
	struct rd r = rd_make(p, BATCH_HEADER_SIZE);
	struct batch_hdr h;
	h.base_offset = rd_i64(&r);
	h.batch_length = rd_i32(&r);
	h.partition_leader_epoch = rd_i32(&r);
	h.magic = rd_i8(&r);
	h.crc = rd_u32(&r);
	h.attributes = rd_i16(&r);
	h.last_offset_delta = rd_i32(&r);
	h.base_timestamp = rd_i64(&r);
	h.max_timestamp = rd_i64(&r);
	h.producer_id = rd_i64(&r);
	h.producer_epoch = rd_i16(&r);
	h.base_sequence = rd_i32(&r);
	h.records_count = rd_i32(&r);
	if (r.err != RD_OK || h.magic != 2)
		return -1;
	if (out != NULL)
		*out = h;
	return 0;
}

/* =============================================================== records */

/* Reads a length-prefixed byte string whose length may be -1 (null) when
 * nullable. Returns false on a bad length or short input. */
static bool rec_bytes(struct rd *r, bool nullable, int32_t *len, const uint8_t **ptr)
{
	*len = rd_varint(r);
	*ptr = NULL;
	if (r->err != RD_OK || *len < (nullable ? -1 : 0))
		return false;
	if (*len == -1)
		return true;
	*ptr = rd_take(r, (size_t)*len);
	return *ptr != NULL;
}

/* Walks the headers of one record; count is checked against the bytes
 * left (each header takes at least 2) before looping. */
static bool rec_headers(struct rd *r, int32_t count)
{
	if (count < 0 || (size_t)count > rd_left(r) / 2)
		return false;
	for (int32_t i = 0; i < count; i++) {
		int32_t len;
		const uint8_t *ptr;
		if (!rec_bytes(r, false, &len, &ptr) || !rec_bytes(r, true, &len, &ptr))
			return false;
	}
	return true;
}

/* Parses one record body (everything after Length) that must be consumed
 * exactly. */
static bool rec_body(struct rd *body, struct record_view *rec)
{
	(void)rd_i8(body); /* Attributes: unused in v2 */
	rec->timestamp_delta = rd_varlong(body);
	rec->offset_delta = rd_varint(body);
	if (!rec_bytes(body, true, &rec->key_len, &rec->key) ||
	    !rec_bytes(body, true, &rec->value_len, &rec->value))
		return false;
	rec->headers_count = rd_varint(body);
	rec->headers = body->p;
	if (body->err != RD_OK || !rec_headers(body, rec->headers_count))
		return false;
	rec->headers_len = (size_t)(body->p - rec->headers);
	return body->err == RD_OK && rd_left(body) == 0;
}

int batch_next_record(const uint8_t *payload, size_t len, size_t *pos, struct record_view *rec)
{
	if (*pos == len)
		return 1;
	if (*pos > len || payload == NULL)
		return -1;
	struct rd r = rd_make(payload + *pos, len - *pos);
	int32_t rec_len = rd_varint(&r);
	if (r.err != RD_OK || rec_len < 0 || (size_t)rec_len > rd_left(&r))
		return -1;
	struct rd body = rd_sub(&r, (size_t)rec_len);
	struct record_view tmp;
	if (rec == NULL)
		rec = &tmp;
	if (!rec_body(&body, rec))
		return -1;
	rec->raw = payload + *pos;
	rec->raw_len = (size_t)(r.p - payload) - *pos;
	*pos = (size_t)(r.p - payload);
	return 0;
}

/* Walks an uncompressed payload: exactly count records with offset deltas
 * 0..count-1 must fill it. */
static int batch_check_records(const uint8_t *payload, size_t len, int32_t count)
{
	if ((size_t)count > len / MIN_RECORD_SIZE)
		return KAFKA_INVALID_RECORD; /* cannot hold that many records */
	size_t pos = 0;
	struct record_view rec;
	for (int32_t i = 0; i < count; i++) {
		if (batch_next_record(payload, len, &pos, &rec) != 0 || rec.offset_delta != i)
			return KAFKA_INVALID_RECORD;
	}
	return pos == len ? KAFKA_NONE : KAFKA_INVALID_RECORD;
}

/* A stored batch (compaction leftover): count records with strictly
 * increasing offset deltas within [0, last_delta] fill the payload. */
static int batch_check_stored_records(const uint8_t *payload, size_t len, int32_t count,
				      int32_t last_delta)
{
	if ((size_t)count > len / MIN_RECORD_SIZE)
		return KAFKA_INVALID_RECORD;
	size_t pos = 0;
	int64_t prev = -1;
	struct record_view rec;
	for (int32_t i = 0; i < count; i++) {
		if (batch_next_record(payload, len, &pos, &rec) != 0 || rec.offset_delta <= prev ||
		    rec.offset_delta > last_delta)
			return KAFKA_INVALID_RECORD;
		prev = rec.offset_delta;
	}
	return pos == len ? KAFKA_NONE : KAFKA_INVALID_RECORD;
}

/* Rule 4, relaxed for stored batches: a negative delta would move the next
 * offset backwards; an empty batch (count 0, kept by compaction) still
 * covers [base, base + delta]; compaction may leave count < delta + 1. */
static bool batch_count_ok(const struct batch_hdr *h, bool stored)
{
	if (h->records_count < 0 || h->last_offset_delta < 0)
		return false;
	if (stored)
		return (int64_t)h->records_count <= (int64_t)h->last_offset_delta + 1;
	return h->records_count == 0 || h->last_offset_delta == h->records_count - 1;
}

/* Rule 5 for any codec: the records (decompressed when o asks for it). */
static int batch_check_payload(const uint8_t *p, size_t n, const struct batch_hdr *h,
			       const struct batch_check_opts *o)
{
	int codec = h->attributes & BATCH_ATTR_CODEC_MASK;
	if (codec != CODEC_NONE && o->max_uncompressed == 0)
		return KAFKA_NONE; /* header and CRC only */
	const uint8_t *recs;
	size_t len;
	uint8_t *owned = NULL;
	int err = batch_records(p, n, o->max_uncompressed, &recs, &len, &owned);
	if (err == KAFKA_NONE) {
		err = o->stored ? batch_check_stored_records(recs, len, h->records_count,
							     h->last_offset_delta)
				: batch_check_records(recs, len, h->records_count);
	}
	free(owned);
	return err;
}

int batch_validate_opts(const uint8_t *p, size_t n, const struct batch_check_opts *o,
			struct batch_hdr *out)
{
	static const struct batch_check_opts none = { 0, false };
	if (o == NULL)
		o = &none;
	struct batch_hdr h;
	if (batch_parse_header(p, n, &h) != 0)
		return KAFKA_CORRUPT_MESSAGE;
	if (h.batch_length < MIN_BATCH_LENGTH || batch_total_size(&h) != n)
		return KAFKA_CORRUPT_MESSAGE;
	if (crc32c(0, p + OFF_ATTRIBUTES, n - OFF_ATTRIBUTES) != h.crc)
		return KAFKA_CORRUPT_MESSAGE;
	if ((h.attributes & BATCH_ATTR_CODEC_MASK) > CODEC_ZSTD)
		return KAFKA_UNSUPPORTED_COMPRESSION_TYPE;
	if (!batch_count_ok(&h, o->stored))
		return KAFKA_INVALID_RECORD;
	/* A stored batch's BaseOffset was set by a broker: it is an offset,
	 * and its last offset fits int64 (BaseOffset is outside the CRC, so
	 * damage on disk can make it anything; readers compute
	 * batch_last_offset from it). */
	if (o->stored && (h.base_offset < 0 || h.base_offset > INT64_MAX - h.last_offset_delta))
		return KAFKA_CORRUPT_MESSAGE;
	int err = batch_check_payload(p, n, &h, o);
	if (err != KAFKA_NONE)
		return err;
	if (out != NULL)
		*out = h;
	return KAFKA_NONE;
}

int batch_validate(const uint8_t *p, size_t n, struct batch_hdr *out)
{
	return batch_validate_opts(p, n, NULL, out);
}

int batch_records(const uint8_t *p, size_t n, size_t limit, const uint8_t **recs, size_t *len,
		  uint8_t **owned)
{
	*owned = NULL;
	if (p == NULL || n < BATCH_HEADER_SIZE)
		return KAFKA_CORRUPT_MESSAGE;
	int codec = (p[OFF_ATTRIBUTES + 1] & BATCH_ATTR_CODEC_MASK);
	if (codec == CODEC_NONE) {
		*recs = p + BATCH_HEADER_SIZE;
		*len = n - BATCH_HEADER_SIZE;
		return KAFKA_NONE;
	}
	int err = codec_decompress((enum batch_codec)codec, p + BATCH_HEADER_SIZE,
				   n - BATCH_HEADER_SIZE, limit, owned, len);
	if (err != KAFKA_NONE) {
		free(*owned);
		*owned = NULL;
		return err;
	}
	*recs = *owned;
	return KAFKA_NONE;
}

int batch_foreach(uint8_t *p, size_t n, batch_each_fn fn, void *arg)
{
	if (p == NULL || n == 0)
		return KAFKA_INVALID_RECORD; /* Kafka: "must have at least one record batch" */
	size_t off = 0;
	while (off < n) {
		if (n - off < BATCH_LOG_OVERHEAD)
			return KAFKA_CORRUPT_MESSAGE; /* trailing partial batch */
		struct rd r = rd_make(p + off + OFF_LENGTH, 4);
		int32_t blen = rd_i32(&r);
		if (blen < MIN_BATCH_LENGTH || (size_t)blen > n - off - BATCH_LOG_OVERHEAD)
			return KAFKA_CORRUPT_MESSAGE; /* torn or trailing partial batch */
		size_t size = (size_t)blen + BATCH_LOG_OVERHEAD;
		struct batch_hdr h;
		int err = batch_validate(p + off, size, &h);
		if (err == KAFKA_NONE && fn != NULL)
			err = fn(arg, p + off, size, &h);
		if (err != KAFKA_NONE)
			return err;
		off += size;
	}
	return KAFKA_NONE;
}

/* ============================================================== rewrites */

void batch_set_base_offset(uint8_t *p, int64_t base_offset)
{
	be_store(p + OFF_BASE_OFFSET, (uint64_t)base_offset, 8);
}

void batch_set_leader_epoch(uint8_t *p, int32_t epoch)
{
	be_store(p + OFF_LEADER_EPOCH, (uint32_t)epoch, 4);
}

void batch_set_log_append_time(uint8_t *p, size_t n, int64_t ts_ms)
{
	assert(n >= BATCH_HEADER_SIZE); /* callers pass validated batches */
	p[OFF_ATTRIBUTES + 1] |= BATCH_ATTR_LOG_APPEND_TIME;
	be_store(p + OFF_MAX_TIMESTAMP, (uint64_t)ts_ms, 8);
	be_store(p + OFF_CRC, crc32c(0, p + OFF_ATTRIBUTES, n - OFF_ATTRIBUTES), 4);
}

/* ================================================================= build */

/* Appends a record field of len bytes, or a null one (-1) when p is NULL. */
static void build_nullable(struct wbuf *w, const uint8_t *p, size_t len)
{
	if (p == NULL) {
		wbuf_varint(w, -1);
		return;
	}
	wbuf_varint(w, (int32_t)len);
	wbuf_bytes(w, p, len);
}

/* Appends record i: timestamp delta 0, offset delta i, no headers. Marks w
 * out of memory when a field or the record is too long for its varint. */
static void build_record(struct wbuf *w, int i, const struct batch_kv *kv)
{
	if ((kv->key != NULL && kv->key_len > INT32_MAX) ||
	    (kv->value != NULL && kv->value_len > INT32_MAX)) {
		w->oom = true;
		return;
	}
	struct wbuf body;
	wbuf_init(&body);
	wbuf_i8(&body, 0);
	wbuf_varlong(&body, 0);
	wbuf_varint(&body, i);
	build_nullable(&body, kv->key, kv->key_len);
	build_nullable(&body, kv->value, kv->value_len);
	wbuf_varint(&body, 0);
	if (body.oom || body.mem_len > INT32_MAX)
		w->oom = true;
	wbuf_varint(w, (int32_t)body.mem_len);
	wbuf_bytes(w, body.mem, body.mem_len);
	wbuf_fini(&body);
}

uint8_t *batch_build_kv(int64_t base_offset, int64_t base_ts, int n,
			const struct batch_kv *recs, size_t *len)
{
	static const struct batch_producer none = { -1, -1, -1, 0 };
	return batch_build_kv_producer(base_offset, base_ts, n, recs, &none, len);
}

uint8_t *batch_build_kv_producer(int64_t base_offset, int64_t base_ts, int n,
				 const struct batch_kv *recs, const struct batch_producer *prod,
				 size_t *len)
{
	static const struct batch_kv null_kv = { NULL, 0, NULL, 0 };
	uint8_t *out = NULL;
	struct wbuf w;
	wbuf_init(&w);
	if (n < 0)
		goto done;
	wbuf_i64(&w, base_offset);
	size_t len_mark = wbuf_mark(&w);
	wbuf_i32(&w, 0);           /* BatchLength, patched */
	wbuf_i32(&w, -1);          /* PartitionLeaderEpoch: the broker sets it */
	wbuf_i8(&w, 2);            /* Magic */
	wbuf_u32(&w, 0);           /* CRC, patched */
	wbuf_i16(&w, prod->attributes); /* no codec, CreateTime; transactional/control bits */
	wbuf_i32(&w, n > 0 ? n - 1 : 0); /* LastOffsetDelta; an empty batch still covers its base offset */
	wbuf_i64(&w, base_ts);     /* BaseTimestamp */
	wbuf_i64(&w, base_ts);     /* MaxTimestamp: every delta is 0 */
	wbuf_i64(&w, prod->producer_id);
	wbuf_i16(&w, prod->producer_epoch);
	wbuf_i32(&w, prod->base_sequence);
	wbuf_i32(&w, n);           /* RecordsCount */
	for (int i = 0; i < n && !w.oom; i++)
		build_record(&w, i, recs != NULL ? &recs[i] : &null_kv);
	if (w.oom || w.mem_len > INT32_MAX)
		goto done;
	wbuf_patch_i32(&w, len_mark, (int32_t)(w.mem_len - BATCH_LOG_OVERHEAD));
	be_store(w.mem + OFF_CRC, crc32c(0, w.mem + OFF_ATTRIBUTES, w.mem_len - OFF_ATTRIBUTES), 4);
	out = malloc(w.mem_len);
	if (out == NULL)
		goto done;
	memcpy(out, w.mem, w.mem_len);
	*len = w.mem_len;
done:
	wbuf_fini(&w);
	return out;
}

/* Writes the 61-byte header of a batch whose payload (plen bytes) already
 * follows it at p, then the CRC over [21, end). */
static void assemble_header(uint8_t *p, const struct batch_hdr *t, enum batch_codec codec,
			    size_t plen, int32_t count)
{
	int16_t attrs = (int16_t)((t->attributes & ~BATCH_ATTR_CODEC_MASK) | (int16_t)codec);
	be_store(p + 0, (uint64_t)t->base_offset, 8);
	be_store(p + 8, (uint32_t)(plen + BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD), 4);
	be_store(p + 12, (uint32_t)t->partition_leader_epoch, 4);
	p[16] = 2;
	be_store(p + 21, (uint16_t)attrs, 2);
	be_store(p + 23, (uint32_t)t->last_offset_delta, 4);
	be_store(p + 27, (uint64_t)t->base_timestamp, 8);
	be_store(p + 35, (uint64_t)t->max_timestamp, 8);
	be_store(p + 43, (uint64_t)t->producer_id, 8);
	be_store(p + 51, (uint16_t)t->producer_epoch, 2);
	be_store(p + 53, (uint32_t)t->base_sequence, 4);
	be_store(p + 57, (uint32_t)count, 4);
	size_t n = plen + BATCH_HEADER_SIZE;
	be_store(p + OFF_CRC, crc32c(0, p + OFF_ATTRIBUTES, n - OFF_ATTRIBUTES), 4);
}

uint8_t *batch_assemble(const struct batch_hdr *tmpl, enum batch_codec codec, int level,
			const uint8_t *recs, size_t len, int32_t count, size_t *outlen, int *err)
{
	if ((unsigned)codec > CODEC_ZSTD) {
		*err = KAFKA_UNSUPPORTED_COMPRESSION_TYPE;
		return NULL;
	}
	uint8_t *z = NULL;
	size_t zlen = len;
	if (codec != CODEC_NONE) {
		*err = codec_compress(codec, level, recs, len, &z, &zlen);
		if (*err != KAFKA_NONE)
			return NULL;
	}
	uint8_t *out = NULL;
	*err = KAFKA_UNKNOWN_SERVER_ERROR;
	if (zlen <= (size_t)INT32_MAX - BATCH_HEADER_SIZE)
		out = malloc(BATCH_HEADER_SIZE + zlen);
	if (out != NULL) {
		if (zlen > 0)
			memcpy(out + BATCH_HEADER_SIZE, z != NULL ? z : recs, zlen);
		assemble_header(out, tmpl, codec, zlen, count);
		*outlen = BATCH_HEADER_SIZE + zlen;
		*err = KAFKA_NONE;
	}
	free(z);
	return out;
}

/* Text keys and values: the same records with strlen lengths. */
uint8_t *batch_build(int64_t base_offset, int64_t base_ts, int n,
		     const char *const *keys, const char *const *values, size_t *len)
{
	if (n < 0)
		return NULL;
	struct batch_kv *recs = calloc(n > 0 ? (size_t)n : 1, sizeof *recs);
	if (recs == NULL)
		return NULL;
	for (int i = 0; i < n; i++) {
		const char *k = keys ? keys[i] : NULL, *v = values ? values[i] : NULL;
		recs[i].key = (const uint8_t *)k;
		recs[i].key_len = k ? strlen(k) : 0;
		recs[i].value = (const uint8_t *)v;
		recs[i].value_len = v ? strlen(v) : 0;
	}
	uint8_t *out = batch_build_kv(base_offset, base_ts, n, recs, len);
	free(recs);
	return out;
}
