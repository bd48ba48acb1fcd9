/*
 * compression.h — Kafka's four compression codecs, on Debian's libraries:
 *   gzip    zlib, a gzip stream (RFC 1952)
 *   snappy  libsnappy; written with the xerial "snappy-java" framing the
 *           Java client reads and writes; read in both that framing and
 *           raw snappy blocks (librdkafka may send either)
 *   lz4     liblz4, the LZ4 frame format (KIP-57: correct header checksum)
 *   zstd    libzstd, a zstd frame (content size optional: streamed)
 *
 * Every decompression is bounded: output is produced in steps and stops
 * with KAFKA_RECORD_LIST_TOO_LARGE as soon as it would pass `limit`, so a
 * decompression bomb costs at most limit bytes of memory.
 *
 * Threads: pure functions, any thread.
 */
#ifndef RUNNEL_RECORD_COMPRESSION_H
#define RUNNEL_RECORD_COMPRESSION_H
#include <stddef.h>
#include <stdint.h>

#include "record/batch.h"

/* Decompresses n bytes of codec c. Returns KAFKA_NONE with *out (malloc'd,
 * caller frees; non-NULL even when *outlen is 0), KAFKA_CORRUPT_MESSAGE
 * (not valid data of that codec, or trailing garbage),
 * KAFKA_RECORD_LIST_TOO_LARGE (more than limit bytes),
 * KAFKA_UNSUPPORTED_COMPRESSION_TYPE (c not 1..4), or
 * KAFKA_UNKNOWN_SERVER_ERROR (out of memory). */
int codec_decompress(enum batch_codec c, const uint8_t *in, size_t n, size_t limit,
		     uint8_t **out, size_t *outlen);

/* Compresses n bytes with codec c at level (INT32_MIN: the codec's default;
 * Kafka's ranges: gzip 1..9, lz4 1..17, zstd -131072..22). Returns
 * KAFKA_NONE with *out (malloc'd), or KAFKA_UNSUPPORTED_COMPRESSION_TYPE /
 * KAFKA_UNKNOWN_SERVER_ERROR. */
int codec_compress(enum batch_codec c, int level, const uint8_t *in, size_t n,
		   uint8_t **out, size_t *outlen);

/* Kafka's name of a codec ("none", "gzip", "snappy", "lz4", "zstd"). */
const char *codec_name(enum batch_codec c);
#endif
