/*
 * compression.c — gzip, snappy, lz4 and zstd for record batch payloads (compression.h).
 *
 * Formats as Kafka clients write them:
 *
 *   gzip    RFC 1952 member(s); zlib with windowBits 16+15. Concatenated
 *           members are read (Java's GZIPInputStream does); any other bytes
 *           after the last member are CORRUPT_MESSAGE.
 *   snappy  xerial snappy-java framing (what the Java client writes):
 *             +0  magic   "\x82SNAPPY\0"   8 bytes
 *             +8  version int32 BE (1)
 *             +12 compat  int32 BE (1)
 *             +16 [ int32 BE block length | raw snappy block ]*
 *           or, without that magic, one raw snappy block (librdkafka may
 *           send either). Written framed, 32 KiB of input per block as
 *           snappy-java does.
 *   lz4     one LZ4 frame (KIP-57: header checksum over the descriptor
 *           only). Written with 64 KiB independent blocks and no content
 *           checksum, the shape Kafka's own KafkaLZ4BlockOutputStream uses.
 *   zstd    zstd frame(s), content size optional.
 *
 * Bounding (the decompression-bomb rule): the output lives in a `struct
 * outbuf` that grows geometrically but never past limit + 1 bytes; a codec
 * that produces byte limit + 1 has proved the payload too large
 * (RECORD_LIST_TOO_LARGE) and stops at once. Snappy blocks declare their
 * size up front, which is checked before any allocation. zstd's own window
 * buffer is capped by ZSTD_d_windowLogMax (ZSTD_WINDOW_LOG_MAX: frames whose
 * window is larger are refused as CORRUPT_MESSAGE; every level <= 19 of a
 * streaming compressor stays within it).
 *
 * Threads: no shared state; any thread.
 */
#include "record/compression.h"

#include <limits.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "util/err.h"

enum {
	OUTBUF_MIN = 4096,
	SNAPPY_HDR_LEN = 16,
	SNAPPY_BLOCK_IN = 32 * 1024, /* input bytes per written xerial block */
	ZSTD_WINDOW_LOG_MAX = 23,    /* 8 MiB: the decoder's own window buffer */
	GZIP_LEVEL_DEFAULT = Z_DEFAULT_COMPRESSION,
	LZ4_LEVEL_DEFAULT = 9,       /* Kafka's compression.lz4.level default */
	ZSTD_LEVEL_DEFAULT = 3,      /* Kafka's compression.zstd.level default */
};

static const uint8_t snappy_magic[8] = { 0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0 };

/* ================================================================ outbuf */

/* Decompression output. Invariant: len <= cap <= limit + 1; p is malloc'd
 * (owned until outbuf_take) once cap > 0. */
struct outbuf {
	uint8_t *p;
	size_t len, cap, limit;
};

/* Makes room for want more bytes (more when it can: geometric growth up
 * to limit + 1). Returns KAFKA_NONE, RECORD_LIST_TOO_LARGE when want does
 * not fit under limit + 1, or UNKNOWN_SERVER_ERROR (out of memory). */
static int outbuf_room(struct outbuf *o, size_t want)
{
	size_t max = o->limit + 1;
	if (o->len > o->limit || want > max - o->len)
		return KAFKA_RECORD_LIST_TOO_LARGE;
	if (o->cap - o->len >= want)
		return KAFKA_NONE;
	size_t cap = o->cap < OUTBUF_MIN ? OUTBUF_MIN : o->cap;
	while (cap - o->len < want || cap <= o->cap)
		cap = cap > max / 2 ? max : cap * 2;
	if (cap > max)
		cap = max;
	uint8_t *p = realloc(o->p, cap);
	if (p == NULL)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	o->p = p;
	o->cap = cap;
	return KAFKA_NONE;
}

/* Hands the output to the caller (never NULL on success). */
static int outbuf_take(struct outbuf *o, uint8_t **out, size_t *outlen)
{
	if (o->len > o->limit)
		return KAFKA_RECORD_LIST_TOO_LARGE;
	if (o->p == NULL && (o->p = malloc(1)) == NULL)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	*out = o->p;
	*outlen = o->len;
	o->p = NULL;
	return KAFKA_NONE;
}

/* ================================================================== gzip */

/* Inflates every gzip member of in into o. */
static int gzip_inflate_all(z_stream *z, struct outbuf *o)
{
	for (;;) {
		int err = outbuf_room(o, 1);
		if (err != KAFKA_NONE)
			return err;
		z->next_out = o->p + o->len;
		z->avail_out = (uInt)(o->cap - o->len > UINT_MAX ? UINT_MAX : o->cap - o->len);
		size_t before = z->avail_out;
		int rc = inflate(z, Z_NO_FLUSH);
		o->len += before - z->avail_out;
		if (o->len > o->limit)
			return KAFKA_RECORD_LIST_TOO_LARGE;
		if (rc == Z_STREAM_END) {
			if (z->avail_in == 0)
				return KAFKA_NONE;
			if (inflateReset(z) != Z_OK)
				return KAFKA_CORRUPT_MESSAGE; /* trailing garbage below */
			continue;
		}
		if (rc == Z_MEM_ERROR)
			return KAFKA_UNKNOWN_SERVER_ERROR;
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return KAFKA_CORRUPT_MESSAGE;
		if (rc == Z_BUF_ERROR && z->avail_out > 0)
			return KAFKA_CORRUPT_MESSAGE; /* input ended inside a member */
	}
}

static int gzip_decompress(const uint8_t *in, size_t n, struct outbuf *o)
{
	if (n > UINT_MAX)
		return KAFKA_RECORD_LIST_TOO_LARGE;
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	int err = n == 0 ? KAFKA_CORRUPT_MESSAGE : gzip_inflate_all(&z, o);
	inflateEnd(&z);
	return err;
}

static int gzip_compress(int level, const uint8_t *in, size_t n, uint8_t **out, size_t *outlen)
{
	if (level == INT32_MIN)
		level = GZIP_LEVEL_DEFAULT;
	if (n > UINT_MAX)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	size_t cap = deflateBound(&z, (uLong)n) + 32; /* + the gzip header and trailer */
	uint8_t *p = cap <= UINT_MAX ? malloc(cap) : NULL;
	int err = KAFKA_UNKNOWN_SERVER_ERROR;
	if (p != NULL) {
		z.next_in = (Bytef *)in;
		z.avail_in = (uInt)n;
		z.next_out = p;
		z.avail_out = (uInt)cap;
		if (deflate(&z, Z_FINISH) == Z_STREAM_END) {
			*out = p;
			*outlen = cap - z.avail_out;
			p = NULL;
			err = KAFKA_NONE;
		}
	}
	free(p);
	deflateEnd(&z);
	return err;
}

/* ================================================================ snappy */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Appends one raw snappy block: its declared length is checked against
 * the room left under the limit before anything is allocated. */
static int snappy_block(const uint8_t *in, size_t n, struct outbuf *o)
{
	size_t ulen;
	if (snappy_uncompressed_length((const char *)in, n, &ulen) != SNAPPY_OK)
		return KAFKA_CORRUPT_MESSAGE;
	if (ulen > o->limit - o->len)
		return KAFKA_RECORD_LIST_TOO_LARGE;
	if (ulen == 0 && snappy_validate_compressed_buffer((const char *)in, n) != SNAPPY_OK)
		return KAFKA_CORRUPT_MESSAGE;
	if (ulen == 0)
		return KAFKA_NONE;
	int err = outbuf_room(o, ulen);
	if (err != KAFKA_NONE)
		return err;
	size_t got = ulen;
	if (snappy_uncompress((const char *)in, n, (char *)o->p + o->len, &got) != SNAPPY_OK ||
	    got != ulen)
		return KAFKA_CORRUPT_MESSAGE;
	o->len += got;
	return KAFKA_NONE;
}

/* xerial framing: the 16-byte header, then length-prefixed blocks that
 * must end exactly at the end of the input. */
static int snappy_xerial(const uint8_t *in, size_t n, struct outbuf *o)
{
	size_t off = SNAPPY_HDR_LEN;
	while (off < n) {
		if (n - off < 4)
			return KAFKA_CORRUPT_MESSAGE;
		uint32_t blen = be32(in + off);
		off += 4;
		if (blen > n - off)
			return KAFKA_CORRUPT_MESSAGE;
		int err = snappy_block(in + off, blen, o);
		if (err != KAFKA_NONE)
			return err;
		off += blen;
	}
	return KAFKA_NONE;
}

static int snappy_decompress(const uint8_t *in, size_t n, struct outbuf *o)
{
	if (n >= SNAPPY_HDR_LEN && memcmp(in, snappy_magic, sizeof(snappy_magic)) == 0)
		return snappy_xerial(in, n, o);
	return snappy_block(in, n, o);
}

static int snappy_compress_framed(const uint8_t *in, size_t n, uint8_t **out, size_t *outlen)
{
	size_t nblocks = n / SNAPPY_BLOCK_IN + 1;
	size_t cap = SNAPPY_HDR_LEN + nblocks * (4 + snappy_max_compressed_length(SNAPPY_BLOCK_IN));
	uint8_t *p = malloc(cap);
	if (p == NULL)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	memcpy(p, snappy_magic, sizeof(snappy_magic));
	memcpy(p + 8, "\0\0\0\1\0\0\0\1", 8); /* version 1, compatible version 1 */
	size_t off = SNAPPY_HDR_LEN;
	for (size_t i = 0; i < n; i += SNAPPY_BLOCK_IN) {
		size_t chunk = n - i < SNAPPY_BLOCK_IN ? n - i : SNAPPY_BLOCK_IN;
		size_t clen = cap - off - 4;
		if (snappy_compress((const char *)in + i, chunk, (char *)p + off + 4, &clen) != SNAPPY_OK) {
			free(p);
			return KAFKA_UNKNOWN_SERVER_ERROR;
		}
		uint32_t b = (uint32_t)clen;
		uint8_t hdr[4] = { (uint8_t)(b >> 24), (uint8_t)(b >> 16), (uint8_t)(b >> 8), (uint8_t)b };
		memcpy(p + off, hdr, 4);
		off += 4 + clen;
	}
	*out = p;
	*outlen = off;
	return KAFKA_NONE;
}

/* =================================================================== lz4 */

/* One frame, decoded in steps into o. A call that neither consumes input
 * nor produces output while the frame is unfinished means the input ended
 * inside the frame (truncated). */
static int lz4_decompress(const uint8_t *in, size_t n, struct outbuf *o)
{
	LZ4F_dctx *dctx;
	if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
		return KAFKA_UNKNOWN_SERVER_ERROR;
	size_t off = 0;
	int err = KAFKA_NONE;
	for (;;) {
		if ((err = outbuf_room(o, 1)) != KAFKA_NONE)
			break;
		size_t dst = o->cap - o->len, src = n - off;
		size_t hint = LZ4F_decompress(dctx, o->p + o->len, &dst, in + off, &src, NULL);
		off += src;
		o->len += dst;
		if (LZ4F_isError(hint))
			err = KAFKA_CORRUPT_MESSAGE;
		else if (o->len > o->limit)
			err = KAFKA_RECORD_LIST_TOO_LARGE;
		else if (hint != 0 && src == 0 && dst == 0)
			err = KAFKA_CORRUPT_MESSAGE; /* truncated frame */
		else if (hint == 0 && off != n)
			err = KAFKA_CORRUPT_MESSAGE; /* trailing bytes after the frame */
		if (err != KAFKA_NONE || hint == 0)
			break;
	}
	LZ4F_freeDecompressionContext(dctx);
	return err;
}

static int lz4_compress(int level, const uint8_t *in, size_t n, uint8_t **out, size_t *outlen)
{
	LZ4F_preferences_t prefs;
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = LZ4F_max64KB;
	prefs.frameInfo.blockMode = LZ4F_blockIndependent;
	prefs.compressionLevel = level == INT32_MIN ? LZ4_LEVEL_DEFAULT : level;
	size_t cap = LZ4F_compressFrameBound(n, &prefs);
	uint8_t *p = malloc(cap);
	if (p == NULL)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	size_t r = LZ4F_compressFrame(p, cap, in, n, &prefs);
	if (LZ4F_isError(r)) {
		free(p);
		return KAFKA_UNKNOWN_SERVER_ERROR;
	}
	*out = p;
	*outlen = r;
	return KAFKA_NONE;
}

/* ================================================================== zstd */

static int zstd_decompress(const uint8_t *in, size_t n, struct outbuf *o)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	if (dctx == NULL)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX);
	ZSTD_inBuffer ib = { in, n, 0 };
	size_t hint = 1;
	int err = n == 0 ? KAFKA_CORRUPT_MESSAGE : KAFKA_NONE;
	/* Loop until every frame is decoded (hint 0) and the input is used up;
	 * input that ends with hint != 0 is a truncated frame. */
	while (err == KAFKA_NONE && (ib.pos < ib.size || hint != 0)) {
		if ((err = outbuf_room(o, 1)) != KAFKA_NONE)
			break;
		ZSTD_outBuffer ob = { o->p + o->len, o->cap - o->len, 0 };
		size_t in_before = ib.pos;
		hint = ZSTD_decompressStream(dctx, &ob, &ib);
		o->len += ob.pos;
		if (ZSTD_isError(hint))
			err = ZSTD_getErrorCode(hint) == ZSTD_error_memory_allocation
				? KAFKA_UNKNOWN_SERVER_ERROR : KAFKA_CORRUPT_MESSAGE;
		else if (o->len > o->limit)
			err = KAFKA_RECORD_LIST_TOO_LARGE;
		else if (hint != 0 && ib.pos == ib.size && ib.pos == in_before && ob.pos < ob.size)
			err = KAFKA_CORRUPT_MESSAGE; /* no progress, input used up: truncated */
	}
	ZSTD_freeDCtx(dctx);
	return err;
}

static int zstd_compress_all(int level, const uint8_t *in, size_t n, uint8_t **out, size_t *outlen)
{
	size_t cap = ZSTD_compressBound(n);
	uint8_t *p = malloc(cap);
	if (p == NULL)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	size_t r = ZSTD_compress(p, cap, in, n, level == INT32_MIN ? ZSTD_LEVEL_DEFAULT : level);
	if (ZSTD_isError(r)) {
		free(p);
		return KAFKA_UNKNOWN_SERVER_ERROR;
	}
	*out = p;
	*outlen = r;
	return KAFKA_NONE;
}

/* ================================================================== API */

int codec_decompress(enum batch_codec c, const uint8_t *in, size_t n, size_t limit,
		     uint8_t **out, size_t *outlen)
{
	struct outbuf o = { NULL, 0, 0, limit < SIZE_MAX ? limit : SIZE_MAX - 1 };
	int err;
	switch (c) {
	case CODEC_GZIP:   err = gzip_decompress(in, n, &o); break;
	case CODEC_SNAPPY: err = snappy_decompress(in, n, &o); break;
	case CODEC_LZ4:    err = lz4_decompress(in, n, &o); break;
	case CODEC_ZSTD:   err = zstd_decompress(in, n, &o); break;
	default:           return KAFKA_UNSUPPORTED_COMPRESSION_TYPE;
	}
	if (err == KAFKA_NONE)
		err = outbuf_take(&o, out, outlen);
	free(o.p);
	return err;
}

int codec_compress(enum batch_codec c, int level, const uint8_t *in, size_t n,
		   uint8_t **out, size_t *outlen)
{
	switch (c) {
	case CODEC_GZIP:   return gzip_compress(level, in, n, out, outlen);
	case CODEC_SNAPPY: return snappy_compress_framed(in, n, out, outlen);
	case CODEC_LZ4:    return lz4_compress(level, in, n, out, outlen);
	case CODEC_ZSTD:   return zstd_compress_all(level, in, n, out, outlen);
	default:           return KAFKA_UNSUPPORTED_COMPRESSION_TYPE;
	}
}

const char *codec_name(enum batch_codec c)
{
	static const char *const names[] = { "none", "gzip", "snappy", "lz4", "zstd" };
	return (unsigned)c <= CODEC_ZSTD ? names[c] : "unknown";
}
