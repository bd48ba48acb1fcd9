/*
 * crc32c.h — CRC-32C (Castagnoli), as record batch v2 uses over
 * Attributes..end of batch. Uses the SSE4.2 crc32 instruction when the CPU
 * has it (checked once at start), a slicing-by-8 table otherwise.
 */
#ifndef RUNNEL_UTIL_CRC32C_H
#define RUNNEL_UTIL_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/* crc32c(0, p, n) is the checksum of p[0..n); pass a previous result as crc
 * to continue over more bytes. Any thread. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);
/* The table implementation, exposed so tests can check both paths agree. */
uint32_t crc32c_sw(uint32_t crc, const void *p, size_t n);
/* 1 when the hardware path is in use. */
int crc32c_hw_available(void);
#endif
