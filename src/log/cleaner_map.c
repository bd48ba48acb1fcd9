/*
 * cleaner_map.c — the cleaner's offset map: key -> latest offset, in a
 * fixed amount of memory (log.cleaner.dedupe.buffer.size / threads).
 *
 * A slot is three 64-bit words:
 *
 *   +----------------+----------------+----------------+
 *   | hash[0]        | hash[1]        | offset + 1     |   0 in the last word: empty
 *   +----------------+----------------+----------------+
 *
 * Keys are not stored, only a 128-bit hash of them: a 10-byte or a 10 KiB
 * key costs the same 24 bytes, and the map's capacity is known before the
 * pass starts (Kafka's SkimpyOffsetMap stores an MD5 the same way).
 * Collisions of 128-bit hashes are negligible for any real key set; the
 * hash is not meant to resist someone crafting keys on purpose (Kafka's MD5
 * does not either).
 *
 * Invariants:
 *  1. count <= limit = 90% of nslots, so a probe always meets an empty
 *     slot and probe sequences stay short.
 *  2. A slot's hash never changes once set; only its offset grows.
 *
 * Thread: one map per pass, used by the pass's thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "log/cleaner_int.h"

enum { SLOT_WORDS = 3, SLOT_BYTES = SLOT_WORDS * 8 };

static inline uint64_t rotl(uint64_t x, int r) { return x << r | x >> (64 - r); }

/* A 64-bit finalizer: every input bit affects every output bit. */
static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 31;
	x *= 0x7fb5d329728ea185ULL;
	x ^= x >> 27;
	x *= 0x81dadef4bc2dd44dULL;
	x ^= x >> 33;
	return x;
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* Two lanes with different multipliers and seeds consume the key 8 bytes
 * at a time and feed each other, so the 128 bits are not two copies of the
 * same 64-bit function. */
void cmap_hash(const uint8_t *key, size_t n, uint64_t h[2])
{
	uint64_t a = 0x243f6a8885a308d3ULL ^ (n * 0x9e3779b97f4a7c15ULL);
	uint64_t b = 0x13198a2e03707344ULL ^ rotl(n * 0xc2b2ae3d27d4eb4fULL, 17);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w = load64(key + i);
		a = rotl(a ^ (w * 0x87c37b91114253d5ULL), 29) * 0x9e3779b97f4a7c15ULL + b;
		b = rotl(b ^ (rotl(w, 31) * 0x4cf5ad432745937fULL), 37) * 0xc2b2ae3d27d4eb4fULL + a;
	}
	uint64_t t = 0;
	for (size_t j = 0; i + j < n; j++)
		t |= (uint64_t)key[i + j] << (8 * j);
	a ^= mix64(t ^ 0xa4093822299f31d0ULL);
	b ^= mix64(t + 0x082efa98ec4e6c89ULL);
	a = mix64(a + b);
	b = mix64(b + a);
	h[0] = a;
	h[1] = b;
}

int cmap_init(struct cmap *m, size_t max_bytes, uint64_t want_keys)
{
	memset(m, 0, sizeof *m);
	size_t n = max_bytes / SLOT_BYTES;
	/* No more slots than the dirty section could need at 90% load: a
	 * small partition (__consumer_offsets) does not take the whole
	 * buffer, and clearing it stays cheap. */
	uint64_t need = want_keys + want_keys / 9 + 16;
	if (need < n)
		n = (size_t)need;
	if (n < 2)
		n = 2;
	m->slots = calloc(n, SLOT_BYTES);
	if (m->slots == NULL)
		return -1;
	m->nslots = n;
	m->limit = n - n / 10 - 1;
	return 0;
}

void cmap_fini(struct cmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof *m);
}

bool cmap_room(const struct cmap *m, size_t n) { return n <= m->limit - m->count; }

/* The first slot to probe: hash[0] scaled onto [0, nslots) without a
 * division. */
static inline size_t cmap_home(const struct cmap *m, const uint64_t h[2])
{
	return (size_t)(((unsigned __int128)h[0] * m->nslots) >> 64);
}

void cmap_put(struct cmap *m, const uint64_t h[2], int64_t offset)
{
	size_t i = cmap_home(m, h);
	for (;;) {
		uint64_t *s = m->slots + i * SLOT_WORDS;
		if (s[2] == 0) {
			s[0] = h[0];
			s[1] = h[1];
			s[2] = (uint64_t)offset + 1;
			m->count++;
			return;
		}
		if (s[0] == h[0] && s[1] == h[1]) {
			if ((uint64_t)offset + 1 > s[2])
				s[2] = (uint64_t)offset + 1;
			return;
		}
		if (++i == m->nslots)
			i = 0;
	}
}

int64_t cmap_get(const struct cmap *m, const uint64_t h[2])
{
	if (m->nslots == 0)
		return -1;
	size_t i = cmap_home(m, h);
	for (;;) {
		const uint64_t *s = m->slots + i * SLOT_WORDS;
		if (s[2] == 0)
			return -1;
		if (s[0] == h[0] && s[1] == h[1])
			return (int64_t)s[2] - 1;
		if (++i == m->nslots)
			i = 0;
	}
}
