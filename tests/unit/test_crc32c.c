// deps: src/util
/*
 * test_crc32c.c — CRC-32C: published check values, hardware == software
 * on every length 0..1024 from every alignment, incremental == one-shot.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "util/crc32c.h"

/* ------------------------------------------------------------- helpers */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint8_t rng_byte(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint8_t)(rng_state >> 24);
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = rng_byte();
}

/* --------------------------------------------------------------- tests */

struct vector { const char *name; uint8_t byte; size_t len; uint32_t crc; };

TEST(check_value_123456789)
{
	CHECK_EQ(crc32c(0, "123456789", 9), 0xE3069283u);
	CHECK_EQ(crc32c_sw(0, "123456789", 9), 0xE3069283u);
}

/* RFC 3720 (iSCSI) appendix B.4 test patterns. */
TEST(rfc3720_vectors)
{
	static const struct vector v[] = {
		{ "32 zero bytes", 0x00, 32, 0x8A9136AAu },
		{ "32 0xFF bytes", 0xFF, 32, 0x62A8AB43u },
	};
	uint8_t buf[32];
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		memset(buf, v[i].byte, v[i].len);
		CHECK_EQ(crc32c(0, buf, v[i].len), v[i].crc);
		CHECK_EQ(crc32c_sw(0, buf, v[i].len), v[i].crc);
	}
	uint8_t inc[32], dec[32];
	for (int i = 0; i < 32; i++) {
		inc[i] = (uint8_t)i;
		dec[i] = (uint8_t)(31 - i);
	}
	CHECK_EQ(crc32c(0, inc, 32), 0x46DD794Eu);
	CHECK_EQ(crc32c(0, dec, 32), 0x113FDB5Cu);
	CHECK_EQ(crc32c_sw(0, inc, 32), 0x46DD794Eu);
	CHECK_EQ(crc32c_sw(0, dec, 32), 0x113FDB5Cu);
}

TEST(empty_input_keeps_crc)
{
	CHECK_EQ(crc32c(0, NULL, 0), 0);
	CHECK_EQ(crc32c(0x12345678u, "", 0), 0x12345678u);
	CHECK_EQ(crc32c_sw(0xE3069283u, "", 0), 0xE3069283u);
}

TEST(hw_equals_sw_all_lengths_and_alignments)
{
	enum { MAX = 1024 };
	uint8_t *buf = malloc(MAX + 16);
	CHECK(buf != NULL);
	fill_random(buf, MAX + 16);
	for (size_t start = 0; start < 8; start++)
		for (size_t len = 0; len <= MAX; len++)
			CHECK_EQ(crc32c(0, buf + start, len), crc32c_sw(0, buf + start, len));
	free(buf);
}

TEST(hw_path_reported)
{
	/* This CI machine class has SSE4.2; elsewhere only the sw path runs. */
	int hw = crc32c_hw_available();
	CHECK(hw == 0 || hw == 1);
}

TEST(incremental_equals_one_shot)
{
	enum { MAX = 700 };
	uint8_t buf[MAX];
	fill_random(buf, MAX);
	uint32_t whole = crc32c(0, buf, MAX);
	for (size_t cut = 0; cut <= MAX; cut += 7) {
		CHECK_EQ(crc32c(crc32c(0, buf, cut), buf + cut, MAX - cut), whole);
		CHECK_EQ(crc32c_sw(crc32c_sw(0, buf, cut), buf + cut, MAX - cut), whole);
		CHECK_EQ(crc32c_sw(crc32c(0, buf, cut), buf + cut, MAX - cut), whole);
	}
	/* Byte at a time. */
	uint32_t c = 0;
	for (size_t i = 0; i < MAX; i++)
		c = crc32c(c, buf + i, 1);
	CHECK_EQ(c, whole);
}

TEST(detects_single_bit_flips)
{
	uint8_t buf[256];
	fill_random(buf, sizeof buf);
	uint32_t good = crc32c(0, buf, sizeof buf);
	for (size_t i = 0; i < sizeof buf; i++)
		for (int b = 0; b < 8; b++) {
			buf[i] ^= (uint8_t)(1u << b);
			CHECK(crc32c(0, buf, sizeof buf) != good);
			buf[i] ^= (uint8_t)(1u << b);
		}
}

UNIT_MAIN()
