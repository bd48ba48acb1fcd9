/*
 * jhash.c — Kafka's partition of a coordinator key (jhash.h).
 */
#include "util/jhash.h"

#include <assert.h>
#include <stddef.h>

/* Decodes one UTF-8 sequence at s (NUL-terminated, s[0] != 0) into *len
 * bytes (>= 1) and returns its code point. An ill-formed sequence is
 * U+FFFD covering its maximal subpart — the lead byte and the continuation
 * bytes that were still valid — the practice Unicode recommends (ch. 3,
 * "U+FFFD Substitution of Maximal Subparts") and Java's decoder follows.
 * The terminating NUL is never a continuation byte, so nothing past it is
 * read. */
static uint32_t utf8_next(const uint8_t *s, size_t *len)
{
	uint8_t b = s[0], lo = 0x80, hi = 0xBF;
	uint32_t cp;
	int need;
	*len = 1;
	if (b < 0x80)
		return b;
	if (b >= 0xC2 && b <= 0xDF) {
		need = 1, cp = b & 0x1F;
	} else if (b >= 0xE0 && b <= 0xEF) {
		need = 2, cp = b & 0x0F;
		lo = b == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
		hi = b == 0xED ? 0x9F : 0xBF; /* no surrogates */
	} else if (b >= 0xF0 && b <= 0xF4) {
		need = 3, cp = b & 0x07;
		lo = b == 0xF0 ? 0x90 : 0x80; /* no overlong forms */
		hi = b == 0xF4 ? 0x8F : 0xBF; /* nothing above U+10FFFF */
	} else {
		return 0xFFFD; /* a stray continuation byte, C0, C1, F5-FF */
	}
	for (int i = 1; i <= need; i++) {
		if (s[i] < lo || s[i] > hi)
			return 0xFFFD; /* *len == i: the valid prefix */
		cp = (cp << 6) | (s[i] & 0x3F);
		*len = (size_t)i + 1;
		lo = 0x80, hi = 0xBF;
	}
	return cp;
}

int32_t jhash_partition_for(const char *key, int32_t n)
{
	assert(n > 0);
	if (n <= 0)
		return 0;
	/* java.lang.String.hashCode: h = 31 * h + c over UTF-16 code units,
	 * in int arithmetic (wraps; done in uint32_t to stay defined). */
	uint32_t h = 0;
	const uint8_t *s = (const uint8_t *)key;
	while (*s != '\0') {
		size_t len;
		uint32_t cp = utf8_next(s, &len);
		s += len;
		if (cp >= 0x10000) { /* a surrogate pair */
			cp -= 0x10000;
			h = h * 31 + (0xD800 + (cp >> 10));
			h = h * 31 + (0xDC00 + (cp & 0x3FF));
		} else {
			h = h * 31 + cp;
		}
	}
	/* Kafka's Utils.abs: INT32_MIN maps to 0 (Math.abs would keep it
	 * negative). */
	int64_t signed_h = h >= 0x80000000u ? (int64_t)h - 0x100000000LL : (int64_t)h;
	int64_t abs_h = signed_h == INT32_MIN ? 0 : (signed_h < 0 ? -signed_h : signed_h);
	return (int32_t)(abs_h % n);
}
