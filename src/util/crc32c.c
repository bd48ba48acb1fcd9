/*
 * crc32c.c — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of record batch v2 (crc32c.h).
 *
 * Convention: the register starts at ~0 and the result is inverted, so
 * crc32c(0, p, n) is the standard CRC-32C and passing a previous result back
 * in continues it (crc32c(crc32c(0, a), b) == crc32c(0, a||b)).
 *
 * Two implementations with identical results:
 *  - hardware: the SSE4.2 crc32 instruction, 8 bytes per step, compiled for
 *    that target only in crc32c_hw() so the rest of the file stays portable;
 *    chosen once at first use with __builtin_cpu_supports("sse4.2");
 *  - software: slicing-by-8, eight 256-entry tables built once from the
 *    polynomial (table[k][b] is the CRC of byte b followed by k zero bytes).
 * Both the table and the choice are set up under pthread_once: any thread.
 */
#include "util/crc32c.h"

#include <pthread.h>
#include <string.h>

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_table[8][256];
static int crc_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc32c_build_tables(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1)));
		crc_table[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++)
		for (int t = 1; t < 8; t++)
			crc_table[t][b] = (crc_table[t - 1][b] >> 8) ^
					  crc_table[0][crc_table[t - 1][b] & 0xff];
}

static void crc32c_setup(void)
{
	crc32c_build_tables();
#if defined(__x86_64__)
	__builtin_cpu_init();
	crc_hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

static uint32_t sw_bytes(uint32_t c, const uint8_t *p, size_t n)
{
	while (n--)
		c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
	return c;
}

uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t n)
{
	pthread_once(&crc_once, crc32c_setup);
	const uint8_t *p = buf;
	uint32_t c = ~crc;
	/* Slices read 8 bytes as two little-endian words, byte by byte so that
	 * the code is independent of host endianness and alignment. */
	while (n >= 8) {
		uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
				   (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		    crc_table[3][p[4]] ^ crc_table[2][p[5]] ^
		    crc_table[1][p[6]] ^ crc_table[0][p[7]];
		p += 8;
		n -= 8;
	}
	return ~sw_bytes(c, p, n);
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t n)
{
	uint64_t c = ~crc;
	/* Align to 8 so the 8-byte loads below never straddle a cache line. */
	while (n > 0 && ((uintptr_t)p & 7) != 0) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		n--;
	}
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		n -= 8;
	}
	if (n >= 4) {
		uint32_t w;
		memcpy(&w, p, 4);
		c = __builtin_ia32_crc32si((uint32_t)c, w);
		p += 4;
		n -= 4;
	}
	while (n--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}
#endif

uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
	pthread_once(&crc_once, crc32c_setup);
#if defined(__x86_64__)
	if (crc_hw)
		return crc32c_hw(crc, p, n);
#endif
	return crc32c_sw(crc, p, n);
}

int crc32c_hw_available(void)
{
	pthread_once(&crc_once, crc32c_setup);
	return crc_hw;
}
