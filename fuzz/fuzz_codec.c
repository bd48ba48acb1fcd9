// fuzz-deps: src/util src/record
/*
 * fuzz_codec.c — libFuzzer target for the decompressors of
 * src/record/compression.c, which read producer-supplied payloads.
 *
 * Input: byte 0 picks the codec (1 + b % 4: gzip, snappy, lz4, zstd),
 * byte 1 the output limit (1 << (b % 21): 1 B .. 1 MiB), the rest is the
 * compressed data. Checks beyond "no crash, no sanitizer report":
 *  - a result is one of the documented codes;
 *  - a success returns a non-NULL buffer of at most limit bytes, and the
 *    same data decompresses identically with a limit of exactly its size,
 *    and is refused (RECORD_LIST_TOO_LARGE) with one byte less;
 *  - the data itself round-trips through codec_compress/codec_decompress.
 * The seeds (fuzz/corpus/fuzz_codec/) hold valid frames of every codec,
 * both snappy framings included.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record/compression.h"
#include "util/err.h"

static void check_limit_exact(enum batch_codec c, const uint8_t *in, size_t n,
			      const uint8_t *want, size_t wlen)
{
	uint8_t *out = NULL;
	size_t outlen = 0;
	if (codec_decompress(c, in, n, wlen, &out, &outlen) != KAFKA_NONE || outlen != wlen ||
	    (wlen > 0 && memcmp(out, want, wlen) != 0))
		abort();
	free(out);
	if (wlen > 0 && codec_decompress(c, in, n, wlen - 1, &out, &outlen) != KAFKA_RECORD_LIST_TOO_LARGE)
		abort();
}

static void check_round_trip(enum batch_codec c, const uint8_t *in, size_t n)
{
	uint8_t *z = NULL, *out = NULL;
	size_t zlen = 0, outlen = 0;
	if (codec_compress(c, INT32_MIN, in, n, &z, &zlen) != KAFKA_NONE)
		abort();
	if (codec_decompress(c, z, zlen, n, &out, &outlen) != KAFKA_NONE || outlen != n ||
	    (n > 0 && memcmp(out, in, n) != 0))
		abort();
	free(out);
	free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	enum batch_codec c = (enum batch_codec)(1 + data[0] % 4);
	size_t limit = (size_t)1 << (data[1] % 21);
	const uint8_t *in = data + 2;
	size_t n = size - 2;

	uint8_t *out = NULL;
	size_t outlen = 0;
	int rc = codec_decompress(c, in, n, limit, &out, &outlen);
	if (rc == KAFKA_NONE) {
		if (out == NULL || outlen > limit)
			abort();
		check_limit_exact(c, in, n, out, outlen);
		free(out);
	} else if (rc != KAFKA_CORRUPT_MESSAGE && rc != KAFKA_RECORD_LIST_TOO_LARGE) {
		abort();
	}
	check_round_trip(c, in, n);
	return 0;
}
