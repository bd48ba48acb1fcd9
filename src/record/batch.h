/*
 * batch.h — record batch v2 (magic 2): parse, validate, rewrite.
 *
 * The stored format is the wire format (PROTOCOL.md §4): a batch is kept on
 * disk exactly as the producer sent it, with only BaseOffset (and, for
 * LogAppendTime, MaxTimestamp, which forces a CRC recompute) rewritten.
 *
 *   off  field                 type   notes
 *    0   BaseOffset            int64  set by the broker
 *    8   BatchLength           int32  bytes after this field
 *   12   PartitionLeaderEpoch  int32  set by the broker; not in the CRC
 *   16   Magic                 int8   2
 *   17   CRC                   uint32 CRC-32C over [21, end)
 *   21   Attributes            int16  codec bits 0-2, timestamp type bit 3,
 *                                     transactional bit 4, control bit 5
 *   23   LastOffsetDelta       int32
 *   27   BaseTimestamp         int64
 *   35   MaxTimestamp          int64
 *   43   ProducerId            int64
 *   51   ProducerEpoch         int16
 *   53   BaseSequence          int32
 *   57   RecordsCount          int32
 *   61   Records...
 *
 * A valid batch (batch_validate): length >= 61-12 and consistent with the
 * bytes present; magic 2; CRC matches; RecordsCount >= 0 and
 * LastOffsetDelta == RecordsCount - 1 when count > 0; for uncompressed
 * batches every record parses (varint lengths within the batch, offset
 * deltas 0..count-1 in order) and exactly RecordsCount records fill the
 * payload. Compressed payloads are checked the same way once decompressed
 * when batch_validate_opts asks for it (max_uncompressed > 0), and stored as
 * sent unless the topic's compression.type rebuilds them (batch_assemble).
 */
#ifndef RUNNEL_RECORD_BATCH_H
#define RUNNEL_RECORD_BATCH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	BATCH_LOG_OVERHEAD = 12,     /* BaseOffset + BatchLength */
	BATCH_HEADER_SIZE = 61,      /* RECORD_BATCH_OVERHEAD */
	BATCH_ATTR_CODEC_MASK = 0x07,
	BATCH_ATTR_LOG_APPEND_TIME = 0x08,
	BATCH_ATTR_TRANSACTIONAL = 0x10,
	BATCH_ATTR_CONTROL = 0x20,
};

enum batch_codec { CODEC_NONE = 0, CODEC_GZIP = 1, CODEC_SNAPPY = 2, CODEC_LZ4 = 3, CODEC_ZSTD = 4 };

/* Decoded header fields of one batch (host byte order). */
struct batch_hdr {
	int64_t base_offset;
	int32_t batch_length;        /* bytes after the BatchLength field */
	int32_t partition_leader_epoch;
	int8_t  magic;
	uint32_t crc;
	int16_t attributes;
	int32_t last_offset_delta;
	int64_t base_timestamp;
	int64_t max_timestamp;
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int32_t records_count;
};

static inline size_t batch_total_size(const struct batch_hdr *h) { return (size_t)h->batch_length + BATCH_LOG_OVERHEAD; }
static inline int64_t batch_last_offset(const struct batch_hdr *h) { return h->base_offset + h->last_offset_delta; }

/* Parses the 61-byte header at p (n bytes available). Returns 0, or -1 if
 * n < 61 or magic != 2 (no CRC check). Pure; any thread. */
int batch_parse_header(const uint8_t *p, size_t n, struct batch_hdr *out);

/* Fully validates one batch occupying exactly n bytes at p (see the rule
 * above). Returns a Kafka error code: KAFKA_NONE, KAFKA_CORRUPT_MESSAGE
 * (CRC, lengths, magic), KAFKA_INVALID_RECORD (records that do not parse or
 * do not match the count), KAFKA_UNSUPPORTED_COMPRESSION_TYPE (codec > 4).
 * Fills *out when non-NULL. */
int batch_validate(const uint8_t *p, size_t n, struct batch_hdr *out);

/* Splits a produce request's record set (n bytes) into batches, validating
 * each: calls fn(arg, batch_ptr, batch_len, hdr) per valid batch; stops at
 * the first error and returns it — a batch_validate code, fn's own non-zero
 * return, KAFKA_CORRUPT_MESSAGE for a trailing partial batch, or
 * KAFKA_INVALID_RECORD for an empty record set (Kafka: "must have at least
 * one record batch"). fn may rewrite its batch in place. */
typedef int (*batch_each_fn)(void *arg, uint8_t *p, size_t n, const struct batch_hdr *h);
int batch_foreach(uint8_t *p, size_t n, batch_each_fn fn, void *arg);

/* In-place rewrites. set_base_offset does not touch the CRC (BaseOffset is
 * outside it). set_log_append_time sets the timestamp-type bit and
 * MaxTimestamp and recomputes the CRC. */
void batch_set_base_offset(uint8_t *p, int64_t base_offset);
void batch_set_leader_epoch(uint8_t *p, int32_t epoch);
void batch_set_log_append_time(uint8_t *p, size_t n, int64_t ts_ms);

/* ---- records inside an uncompressed batch (tests, tools, fuzzing) ---- */
struct record_view {
	int64_t timestamp_delta;
	int32_t offset_delta;
	int32_t key_len;   const uint8_t *key;   /* key_len -1: null */
	int32_t value_len; const uint8_t *value; /* value_len -1: null */
	int32_t headers_count;
	const uint8_t *headers; size_t headers_len; /* raw header bytes */
	const uint8_t *raw; size_t raw_len;   /* the whole record, its Length varint included:
					       * copying raw spans rebuilds a payload */
};
/* Iterates the records of an uncompressed batch's payload. Returns 0 and
 * fills *rec, 1 at the end, -1 on malformed input. *pos starts at 0. */
int batch_next_record(const uint8_t *payload, size_t len, size_t *pos, struct record_view *rec);

/* ---- any codec (record/compression.c does the compression) ---- */

/* Validation options. batch_validate(p, n, out) is batch_validate_opts with
 * all of them zero. */
struct batch_check_opts {
	size_t max_uncompressed;  /* > 0: decompress a compressed batch (at most
				   * this many bytes, else RECORD_LIST_TOO_LARGE,
				   * without allocating more) and check its records
				   * as an uncompressed batch's; 0: header and CRC only */
	bool stored;              /* a batch read back from a log: compaction may have
				   * left fewer records than LastOffsetDelta + 1
				   * (count <= delta + 1, offset deltas increasing,
				   * within [0, delta]); BaseOffset must be >= 0 with
				   * BaseOffset + LastOffsetDelta within int64
				   * (else CORRUPT_MESSAGE) */
};
int batch_validate_opts(const uint8_t *p, size_t n, const struct batch_check_opts *o,
			struct batch_hdr *out);

/* The records of the batch at p (n bytes, CRC already checked): for an
 * uncompressed batch *recs points into p and *owned is NULL; for a
 * compressed one they are decompressed into *owned (malloc'd, caller
 * frees), at most limit bytes. Returns KAFKA_NONE, KAFKA_CORRUPT_MESSAGE
 * (payload does not decompress), KAFKA_RECORD_LIST_TOO_LARGE (past limit),
 * KAFKA_UNSUPPORTED_COMPRESSION_TYPE. Walk them with batch_next_record. */
int batch_records(const uint8_t *p, size_t n, size_t limit, const uint8_t **recs, size_t *len,
		  uint8_t **owned);

/* Builds a batch from a header template and a records payload (count
 * records, concatenated raw records as batch_next_record walks them),
 * compressed with codec at level (INT32_MIN: the codec's default). Taken
 * from tmpl: BaseOffset, PartitionLeaderEpoch, the attribute bits other
 * than the codec, LastOffsetDelta, BaseTimestamp, MaxTimestamp, ProducerId,
 * ProducerEpoch, BaseSequence. Set here: BatchLength, Magic 2, the codec
 * bits, RecordsCount, CRC. Returns malloc'd bytes (*outlen set), or NULL
 * with *err = KAFKA_UNSUPPORTED_COMPRESSION_TYPE / KAFKA_UNKNOWN_SERVER_ERROR
 * (out of memory). Any thread. */
uint8_t *batch_assemble(const struct batch_hdr *tmpl, enum batch_codec codec, int level,
			const uint8_t *recs, size_t len, int32_t count, size_t *outlen, int *err);

/* Builds an uncompressed batch with the given records (keys/values may be
 * NULL, or hold NULL entries: null key/value), for tests and internal
 * writers. Every record has timestamp delta 0 and offset delta i, no
 * headers; BaseTimestamp == MaxTimestamp == base_ts; PartitionLeaderEpoch,
 * ProducerId, ProducerEpoch and BaseSequence are -1; CreateTime. n == 0
 * gives an empty batch (LastOffsetDelta 0: it still covers its base
 * offset). Returns malloc'd bytes (caller frees) with *len set, or NULL for n < 0 or out of memory. Any thread. */
uint8_t *batch_build(int64_t base_offset, int64_t base_ts, int n,
		     const char *const *keys, const char *const *values, size_t *len);
/* The same with binary keys and values (internal writers such as the group
 * coordinator's __consumer_offsets records). A NULL key or value is a null
 * one (a NULL value is a tombstone). batch_build is a wrapper of this. */
struct batch_kv {
	const uint8_t *key; size_t key_len;
	const uint8_t *value; size_t value_len;
};
uint8_t *batch_build_kv(int64_t base_offset, int64_t base_ts, int n,
			const struct batch_kv *recs, size_t *len);
/* The producer fields of a built batch (batch_build_kv has none: -1s, 0). */
struct batch_producer {
	int64_t producer_id;
	int16_t producer_epoch;
	int32_t base_sequence;
	int16_t attributes;        /* BATCH_ATTR_TRANSACTIONAL / _CONTROL only (no codec) */
};
/* batch_build_kv with producer fields: the coordinator's transactional
 * offset commits and transaction markers (control batches). */
uint8_t *batch_build_kv_producer(int64_t base_offset, int64_t base_ts, int n,
				 const struct batch_kv *recs, const struct batch_producer *prod,
				 size_t *len);
#endif
