// deps: src/util src/record
/*
 * test_compression.c — the four codecs of src/record/compression.c (the stem
 * test_codec belongs to the protocol codec's tests).
 *
 * Sections: helpers (inputs, frames written with each library's own
 * streaming API, a resident-memory probe), round trips over sizes and
 * levels, foreign frames, truncated / corrupted / trailing-garbage input,
 * and decompression bombs (100 MB of zeros, limit 1 MB) whose peak
 * memory must stay near the limit.
 */
#include <limits.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zlib.h>
#include <zstd.h>

#include "record/compression.h"
#include "unit.h"
#include "util/err.h"

/* ================================================================ helpers */

static const enum batch_codec codecs[] = { CODEC_GZIP, CODEC_SNAPPY, CODEC_LZ4, CODEC_ZSTD };
enum { NCODECS = 4, BOMB_BYTES = 100 << 20, BOMB_LIMIT = 1 << 20 };

/* Text-like input: compressible, but not trivially so. */
static uint8_t *make_input(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n ? n : 1);
	CHECK(p != NULL);
	static const char words[] = "kafka runnel record batch offset segment key value ";
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (x >> 24) < 200 ? (uint8_t)words[i % (sizeof words - 1)] : (uint8_t)(x >> 16);
	}
	return p;
}

static void check_round_trip(enum batch_codec c, int level, const uint8_t *in, size_t n)
{
	uint8_t *z = NULL, *out = NULL;
	size_t zlen = 0, outlen = 0;
	CHECK_EQ(codec_compress(c, level, in, n, &z, &zlen), KAFKA_NONE);
	CHECK(z != NULL && zlen > 0);
	CHECK_EQ(codec_decompress(c, z, zlen, n, &out, &outlen), KAFKA_NONE);
	CHECK(out != NULL);
	CHECK_EQ(outlen, n);
	CHECK(n == 0 || memcmp(out, in, n) == 0);
	free(out);
	if (n > 0) /* exactly n is allowed, n - 1 is not */
		CHECK_EQ(codec_decompress(c, z, zlen, n - 1, &out, &outlen), KAFKA_RECORD_LIST_TOO_LARGE);
	free(z);
}

static size_t maxrss_bytes(void)
{
	struct rusage ru;
	CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
	return (size_t)ru.ru_maxrss * 1024;
}

/* A growable byte string for frames built in steps. */
struct bytes { uint8_t *p; size_t len, cap; };

static void bytes_put(struct bytes *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (b->cap - b->len < n) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
		CHECK(b->p != NULL);
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* ---- frames from each library's streaming API (not codec_compress) ---- */

/* gzip by deflate in steps; `total` bytes of `chunk` repeated. */
static struct bytes gzip_stream(const uint8_t *chunk, size_t clen, size_t total, int level)
{
	struct bytes b = { 0 };
	z_stream z;
	memset(&z, 0, sizeof z);
	CHECK(deflateInit2(&z, level, Z_DEFLATED, 16 + 15, 9, Z_DEFAULT_STRATEGY) == Z_OK);
	uint8_t out[65536];
	for (size_t done = 0; done < total || z.avail_in > 0;) {
		if (z.avail_in == 0) {
			size_t k = total - done < clen ? total - done : clen;
			z.next_in = (Bytef *)chunk;
			z.avail_in = (uInt)k;
			done += k;
		}
		z.next_out = out;
		z.avail_out = sizeof out;
		CHECK(deflate(&z, Z_NO_FLUSH) == Z_OK);
		bytes_put(&b, out, sizeof out - z.avail_out);
	}
	int rc;
	do {
		z.next_out = out;
		z.avail_out = sizeof out;
		rc = deflate(&z, Z_FINISH);
		bytes_put(&b, out, sizeof out - z.avail_out);
	} while (rc == Z_OK);
	CHECK(rc == Z_STREAM_END);
	deflateEnd(&z);
	return b;
}

/* lz4 by LZ4F_compressBegin/Update/End: linked 256 KiB blocks, content and
 * block checksums — every optional feature Kafka's writer leaves off. */
static struct bytes lz4_stream(const uint8_t *chunk, size_t clen, size_t total)
{
	struct bytes b = { 0 };
	LZ4F_cctx *cctx;
	CHECK(!LZ4F_isError(LZ4F_createCompressionContext(&cctx, LZ4F_VERSION)));
	LZ4F_preferences_t prefs;
	memset(&prefs, 0, sizeof prefs);
	prefs.frameInfo.blockSizeID = LZ4F_max256KB;
	prefs.frameInfo.blockMode = LZ4F_blockLinked;
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
	size_t cap = LZ4F_compressBound(clen, &prefs) + 64;
	uint8_t *out = malloc(cap);
	CHECK(out != NULL);
	size_t r = LZ4F_compressBegin(cctx, out, cap, &prefs);
	CHECK(!LZ4F_isError(r));
	bytes_put(&b, out, r);
	for (size_t done = 0; done < total;) {
		size_t k = total - done < clen ? total - done : clen;
		r = LZ4F_compressUpdate(cctx, out, cap, chunk, k, NULL);
		CHECK(!LZ4F_isError(r));
		bytes_put(&b, out, r);
		done += k;
	}
	r = LZ4F_compressEnd(cctx, out, cap, NULL);
	CHECK(!LZ4F_isError(r));
	bytes_put(&b, out, r);
	free(out);
	LZ4F_freeCompressionContext(cctx);
	return b;
}

/* zstd by ZSTD_compressStream2: no content size in the frame header, as a
 * streaming producer (zstd-jni) writes it. */
static struct bytes zstd_stream(const uint8_t *chunk, size_t clen, size_t total, int level)
{
	struct bytes b = { 0 };
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	CHECK(cctx != NULL);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	uint8_t out[65536];
	for (size_t done = 0; done < total;) {
		size_t k = total - done < clen ? total - done : clen;
		ZSTD_inBuffer ib = { chunk, k, 0 };
		while (ib.pos < ib.size) {
			ZSTD_outBuffer ob = { out, sizeof out, 0 };
			CHECK(!ZSTD_isError(ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_continue)));
			bytes_put(&b, out, ob.pos);
		}
		done += k;
	}
	size_t left;
	do {
		ZSTD_inBuffer ib = { NULL, 0, 0 };
		ZSTD_outBuffer ob = { out, sizeof out, 0 };
		left = ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_end);
		CHECK(!ZSTD_isError(left));
		bytes_put(&b, out, ob.pos);
	} while (left != 0);
	ZSTD_freeCCtx(cctx);
	return b;
}

/* xerial framing built by hand: header, then one raw block per chunk. */
static struct bytes snappy_xerial_stream(const uint8_t *chunk, size_t clen, size_t total)
{
	struct bytes b = { 0 };
	bytes_put(&b, "\x82SNAPPY\0\0\0\0\1\0\0\0\1", 16);
	size_t cap = snappy_max_compressed_length(clen);
	char *blk = malloc(cap);
	CHECK(blk != NULL);
	for (size_t done = 0; done < total;) {
		size_t k = total - done < clen ? total - done : clen, zl = cap;
		CHECK(snappy_compress((const char *)chunk, k, blk, &zl) == SNAPPY_OK);
		uint8_t hdr[4] = { (uint8_t)(zl >> 24), (uint8_t)(zl >> 16), (uint8_t)(zl >> 8), (uint8_t)zl };
		bytes_put(&b, hdr, 4);
		bytes_put(&b, blk, zl);
		done += k;
	}
	free(blk);
	return b;
}

static struct bytes snappy_raw(const uint8_t *in, size_t n)
{
	struct bytes b = { 0 };
	b.cap = snappy_max_compressed_length(n);
	b.p = malloc(b.cap);
	CHECK(b.p != NULL);
	b.len = b.cap;
	CHECK(snappy_compress((const char *)in, n, (char *)b.p, &b.len) == SNAPPY_OK);
	return b;
}

/* A foreign frame of `total` bytes of input for codec c (by another path
 * than codec_compress). */
static struct bytes foreign(enum batch_codec c, const uint8_t *chunk, size_t clen, size_t total)
{
	switch (c) {
	case CODEC_GZIP:   return gzip_stream(chunk, clen, total, 9);
	case CODEC_SNAPPY: return snappy_xerial_stream(chunk, clen, total);
	case CODEC_LZ4:    return lz4_stream(chunk, clen, total);
	default:           return zstd_stream(chunk, clen, total, 1);
	}
}

static void check_decodes_to(enum batch_codec c, const struct bytes *z, const uint8_t *want,
			     size_t n)
{
	uint8_t *out = NULL;
	size_t outlen = 0;
	CHECK_EQ(codec_decompress(c, z->p, z->len, n + 10, &out, &outlen), KAFKA_NONE);
	CHECK_EQ(outlen, n);
	CHECK(n == 0 || memcmp(out, want, n) == 0);
	free(out);
}

/* ================================================================ round trips */

TEST(round_trip_every_codec_size_and_level)
{
	static const size_t sizes[] = { 0, 1, 61, 4095, 4097, 32768, 32769, 200000, 1 << 20 };
	static const int gz[] = { INT32_MIN, 1, 6, 9 };
	static const int lz[] = { INT32_MIN, 1, 3, 12, 17 };
	static const int zs[] = { INT32_MIN, -5, 1, 3, 19 };
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		uint8_t *in = make_input(sizes[s], (unsigned)s);
		for (size_t i = 0; i < sizeof gz / sizeof gz[0]; i++)
			check_round_trip(CODEC_GZIP, gz[i], in, sizes[s]);
		check_round_trip(CODEC_SNAPPY, INT32_MIN, in, sizes[s]);
		for (size_t i = 0; i < sizeof lz / sizeof lz[0]; i++)
			check_round_trip(CODEC_LZ4, lz[i], in, sizes[s]);
		for (size_t i = 0; i < sizeof zs / sizeof zs[0]; i++)
			if (zs[i] < 19 || sizes[s] <= 200000) /* level 19 on 1 MiB is slow */
				check_round_trip(CODEC_ZSTD, zs[i], in, sizes[s]);
		free(in);
	}
}

TEST(written_snappy_is_xerial_framed)
{
	uint8_t *in = make_input(100000, 7);
	uint8_t *z;
	size_t zlen;
	CHECK_EQ(codec_compress(CODEC_SNAPPY, INT32_MIN, in, 100000, &z, &zlen), KAFKA_NONE);
	CHECK(memcmp(z, "\x82SNAPPY\0\0\0\0\1\0\0\0\1", 16) == 0);
	/* 100000 bytes in 32 KiB blocks: 4 blocks that tile the rest exactly */
	size_t off = 16;
	int blocks = 0;
	while (off < zlen) {
		size_t blen = (size_t)z[off] << 24 | (size_t)z[off + 1] << 16 | (size_t)z[off + 2] << 8 | z[off + 3];
		size_t ulen;
		CHECK(snappy_uncompressed_length((const char *)z + off + 4, blen, &ulen) == SNAPPY_OK);
		CHECK(ulen == 32768 || (blocks == 3 && ulen == 100000 - 3 * 32768));
		off += 4 + blen;
		blocks++;
	}
	CHECK_EQ(off, zlen);
	CHECK_EQ(blocks, 4);
	free(z);
	free(in);
}

TEST(written_lz4_and_gzip_frames_are_standard)
{
	uint8_t *in = make_input(300000, 3);
	uint8_t *z;
	size_t zlen;
	/* lz4: magic, then FLG version 01 with independent blocks, BD 64 KiB */
	CHECK_EQ(codec_compress(CODEC_LZ4, INT32_MIN, in, 300000, &z, &zlen), KAFKA_NONE);
	CHECK(z[0] == 0x04 && z[1] == 0x22 && z[2] == 0x4d && z[3] == 0x18);
	CHECK_EQ(z[4] & 0xc0, 0x40);
	CHECK(z[4] & 0x20);
	CHECK_EQ((z[5] >> 4) & 7, 4);
	free(z);
	/* gzip: RFC 1952 magic, inflatable by zlib's own uncompress-with-header */
	CHECK_EQ(codec_compress(CODEC_GZIP, 5, in, 300000, &z, &zlen), KAFKA_NONE);
	CHECK(z[0] == 0x1f && z[1] == 0x8b);
	z_stream s;
	memset(&s, 0, sizeof s);
	CHECK(inflateInit2(&s, 16 + 15) == Z_OK);
	uint8_t *out = malloc(300000);
	s.next_in = z;
	s.avail_in = (uInt)zlen;
	s.next_out = out;
	s.avail_out = 300000;
	CHECK(inflate(&s, Z_FINISH) == Z_STREAM_END);
	CHECK(memcmp(out, in, 300000) == 0);
	inflateEnd(&s);
	free(out);
	free(z);
	free(in);
}

TEST(names_and_unknown_codecs)
{
	CHECK_STR(codec_name(CODEC_NONE), "none");
	CHECK_STR(codec_name(CODEC_GZIP), "gzip");
	CHECK_STR(codec_name(CODEC_SNAPPY), "snappy");
	CHECK_STR(codec_name(CODEC_LZ4), "lz4");
	CHECK_STR(codec_name(CODEC_ZSTD), "zstd");
	uint8_t *out;
	size_t outlen;
	CHECK_EQ(codec_decompress((enum batch_codec)5, (const uint8_t *)"x", 1, 10, &out, &outlen),
		 KAFKA_UNSUPPORTED_COMPRESSION_TYPE);
	CHECK_EQ(codec_decompress(CODEC_NONE, (const uint8_t *)"x", 1, 10, &out, &outlen),
		 KAFKA_UNSUPPORTED_COMPRESSION_TYPE);
	CHECK_EQ(codec_compress((enum batch_codec)7, 0, (const uint8_t *)"x", 1, &out, &outlen),
		 KAFKA_UNSUPPORTED_COMPRESSION_TYPE);
}

/* ================================================================ foreign frames */

TEST(foreign_streaming_frames_decode)
{
	uint8_t *chunk = make_input(70000, 11);
	static const size_t totals[] = { 1, 70000, 500000 };
	for (int c = 0; c < NCODECS; c++) {
		for (size_t t = 0; t < 3; t++) {
			size_t total = totals[t];
			struct bytes z = foreign(codecs[c], chunk, 70000, total);
			uint8_t *want = malloc(total);
			for (size_t i = 0; i < total; i += 70000)
				memcpy(want + i, chunk, total - i < 70000 ? total - i : 70000);
			check_decodes_to(codecs[c], &z, want, total);
			free(want);
			free(z.p);
		}
	}
	free(chunk);
}

TEST(raw_snappy_block_decodes)
{
	uint8_t *in = make_input(50000, 5);
	struct bytes z = snappy_raw(in, 50000);
	check_decodes_to(CODEC_SNAPPY, &z, in, 50000);
	free(z.p);
	z = snappy_raw(in, 0);
	check_decodes_to(CODEC_SNAPPY, &z, in, 0);
	free(z.p);
	free(in);
}

TEST(concatenated_gzip_members_and_zstd_frames_decode)
{
	uint8_t *in = make_input(20000, 9);
	for (int c = 0; c < 2; c++) {
		enum batch_codec codec = c == 0 ? CODEC_GZIP : CODEC_ZSTD;
		uint8_t *z;
		size_t zlen;
		CHECK_EQ(codec_compress(codec, INT32_MIN, in, 10000, &z, &zlen), KAFKA_NONE);
		struct bytes b = { 0 };
		bytes_put(&b, z, zlen);
		free(z);
		CHECK_EQ(codec_compress(codec, INT32_MIN, in + 10000, 10000, &z, &zlen), KAFKA_NONE);
		bytes_put(&b, z, zlen);
		free(z);
		check_decodes_to(codec, &b, in, 20000);
		free(b.p);
	}
	free(in);
}

TEST(different_levels_decode_alike)
{
	uint8_t *in = make_input(100000, 13);
	struct bytes a = gzip_stream(in, 100000, 100000, 1);
	struct bytes b = zstd_stream(in, 100000, 100000, 15);
	check_decodes_to(CODEC_GZIP, &a, in, 100000);
	check_decodes_to(CODEC_ZSTD, &b, in, 100000);
	free(a.p);
	free(b.p);
	free(in);
}

/* ================================================================ bad input */

TEST(truncated_input_is_corrupt)
{
	uint8_t *in = make_input(100000, 17);
	for (int c = 0; c < NCODECS; c++) {
		uint8_t *z;
		size_t zlen;
		CHECK_EQ(codec_compress(codecs[c], INT32_MIN, in, 100000, &z, &zlen), KAFKA_NONE);
		/* every cut in the first 64 bytes, then a spread over the rest */
		for (size_t cut = 0; cut < zlen; cut += cut < 64 ? 1 : zlen / 97 + 1) {
			uint8_t *out = NULL;
			size_t outlen;
			int rc = codec_decompress(codecs[c], z, cut, 200000, &out, &outlen);
			/* xerial framing has no end marker: a cut between blocks is a
			 * shorter valid stream (the batch's record count catches it) */
			if (rc == KAFKA_NONE && codecs[c] == CODEC_SNAPPY && outlen % 32768 == 0 &&
			    outlen < 100000 && memcmp(out, in, outlen) == 0) {
				free(out);
				continue;
			}
			if (rc != KAFKA_CORRUPT_MESSAGE) {
				fprintf(stderr, "%s cut at %zu of %zu: %d\n", codec_name(codecs[c]), cut, zlen, rc);
				CHECK(0);
			}
		}
		free(z);
	}
	free(in);
}

TEST(trailing_garbage_is_corrupt)
{
	uint8_t *in = make_input(5000, 19);
	static const uint8_t junk[][5] = { { 0 }, { 0xff }, { 1, 2, 3, 4, 5 } };
	for (int c = 0; c < NCODECS; c++) {
		uint8_t *z;
		size_t zlen;
		CHECK_EQ(codec_compress(codecs[c], INT32_MIN, in, 5000, &z, &zlen), KAFKA_NONE);
		for (size_t j = 0; j < 3; j++) {
			size_t jl = j == 2 ? 5 : 1;
			uint8_t *g = malloc(zlen + jl);
			memcpy(g, z, zlen);
			memcpy(g + zlen, junk[j], jl);
			uint8_t *out = NULL;
			size_t outlen;
			int rc = codec_decompress(codecs[c], g, zlen + jl, 200000, &out, &outlen);
			if (rc != KAFKA_CORRUPT_MESSAGE) {
				fprintf(stderr, "%s junk %zu: %d\n", codec_name(codecs[c]), j, rc);
				CHECK(0);
			}
			free(g);
		}
		free(z);
	}
	free(in);
}

TEST(corrupted_headers_are_corrupt)
{
	uint8_t *in = make_input(5000, 23);
	/* byte 0 breaks every codec's magic (raw snappy: the length varint
	 * then disagrees with the data) */
	for (int c = 0; c < NCODECS; c++) {
		uint8_t *z;
		size_t zlen;
		CHECK_EQ(codec_compress(codecs[c], INT32_MIN, in, 5000, &z, &zlen), KAFKA_NONE);
		z[0] ^= 0x55;
		uint8_t *out = NULL;
		size_t outlen;
		CHECK_EQ(codec_decompress(codecs[c], z, zlen, 200000, &out, &outlen), KAFKA_CORRUPT_MESSAGE);
		free(z);
	}
	/* gzip's CRC-32 trailer catches a flipped byte anywhere */
	uint8_t *z;
	size_t zlen;
	CHECK_EQ(codec_compress(CODEC_GZIP, INT32_MIN, in, 5000, &z, &zlen), KAFKA_NONE);
	for (size_t i = 10; i < zlen; i += 7) {
		z[i] ^= 0x01;
		uint8_t *out = NULL;
		size_t outlen;
		CHECK_EQ(codec_decompress(CODEC_GZIP, z, zlen, 200000, &out, &outlen), KAFKA_CORRUPT_MESSAGE);
		z[i] ^= 0x01;
	}
	free(z);
	CHECK_EQ(codec_decompress(CODEC_GZIP, in, 0, 10, &z, &zlen), KAFKA_CORRUPT_MESSAGE);
	CHECK_EQ(codec_decompress(CODEC_ZSTD, in, 0, 10, &z, &zlen), KAFKA_CORRUPT_MESSAGE);
	CHECK_EQ(codec_decompress(CODEC_LZ4, in, 0, 10, &z, &zlen), KAFKA_CORRUPT_MESSAGE);
	free(in);
}

/* Random single-byte corruption anywhere: the answer is a code, never a
 * crash, and a success never returns more than the limit. */
TEST(random_corruption_never_crashes)
{
	uint8_t *in = make_input(20000, 29);
	uint32_t x = 12345;
	for (int c = 0; c < NCODECS; c++) {
		uint8_t *z;
		size_t zlen;
		CHECK_EQ(codec_compress(codecs[c], INT32_MIN, in, 20000, &z, &zlen), KAFKA_NONE);
		for (int k = 0; k < 300; k++) {
			x = x * 1103515245u + 12345u;
			size_t i = (x >> 8) % zlen;
			uint8_t flip = (uint8_t)(1u << (x & 7));
			z[i] ^= flip;
			uint8_t *out = NULL;
			size_t outlen = 0;
			int rc = codec_decompress(codecs[c], z, zlen, 30000, &out, &outlen);
			CHECK(rc == KAFKA_NONE || rc == KAFKA_CORRUPT_MESSAGE ||
			      rc == KAFKA_RECORD_LIST_TOO_LARGE);
			if (rc == KAFKA_NONE) {
				CHECK(outlen <= 30000);
				free(out);
			}
			z[i] ^= flip;
		}
		free(z);
	}
	free(in);
}

/* ================================================================ bombs */

/* 100 MB of zeros compressed by each codec's streaming writer (a few
 * hundred KB of input), decompressed with a 1 MB limit: refused, and the
 * process's peak resident memory grows by at most a few limits (zstd's
 * window of at most 8 MiB included). Each test runs in its own process. */
static void check_bomb(enum batch_codec c)
{
	static uint8_t zeros[1 << 16];
	struct bytes z = foreign(c, zeros, sizeof zeros, BOMB_BYTES);
	CHECK(z.len < BOMB_BYTES / 16); /* snappy's best ratio is about 21:1 */
	size_t before = maxrss_bytes();
	uint8_t *out = NULL;
	size_t outlen;
	CHECK_EQ(codec_decompress(c, z.p, z.len, BOMB_LIMIT, &out, &outlen), KAFKA_RECORD_LIST_TOO_LARGE);
	size_t grew = maxrss_bytes() - before;
	if (getenv("UNIT_VERBOSE"))
		fprintf(stderr, "%s bomb: %zu bytes compressed, peak RSS +%zu KiB\n", codec_name(c),
			z.len, grew / 1024);
	if (grew > 12u * BOMB_LIMIT) {
		fprintf(stderr, "%s bomb: peak RSS grew by %zu bytes\n", codec_name(c), grew);
		CHECK(0);
	}
	free(z.p);
}

TEST(bomb_gzip) { check_bomb(CODEC_GZIP); }
TEST(bomb_snappy_xerial) { check_bomb(CODEC_SNAPPY); }
TEST(bomb_lz4) { check_bomb(CODEC_LZ4); }
TEST(bomb_zstd) { check_bomb(CODEC_ZSTD); }

/* A raw snappy block declares its length first: refused before any output
 * buffer exists. A zstd frame asking for a 1 GiB window is refused too. */
TEST(bomb_raw_snappy_and_huge_zstd_window)
{
	uint8_t *zeros = calloc(1, 4 << 20);
	struct bytes z = snappy_raw(zeros, 4 << 20);
	size_t before = maxrss_bytes();
	uint8_t *out;
	size_t outlen;
	CHECK_EQ(codec_decompress(CODEC_SNAPPY, z.p, z.len, BOMB_LIMIT, &out, &outlen),
		 KAFKA_RECORD_LIST_TOO_LARGE);
	CHECK(maxrss_bytes() - before < (size_t)BOMB_LIMIT);
	free(z.p);

	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, 30);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
	uint8_t buf[4096];
	ZSTD_inBuffer ib = { zeros, 100, 0 };
	ZSTD_outBuffer ob = { buf, sizeof buf, 0 };
	/* continue first: the size is unknown, so the window stays 1 GiB */
	CHECK(!ZSTD_isError(ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_continue)));
	CHECK(ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_end) == 0);
	ZSTD_freeCCtx(cctx);
	CHECK_EQ(codec_decompress(CODEC_ZSTD, buf, ob.pos, BOMB_LIMIT, &out, &outlen),
		 KAFKA_CORRUPT_MESSAGE);
	free(zeros);
}

UNIT_MAIN()
