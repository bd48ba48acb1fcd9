/*
 * buf.c — bounds-checked reader, chained writer, request arena (buf.h).
 *
 * Reader invariants:
 *  1. r->p never moves past r->end; a read that does not fit latches
 *     RD_ERR, moves the cursor to the end (so "while (rd_left(r))" loops end)
 *     and returns a zero value.
 *  2. Once r->err is set every read returns zero and consumes nothing.
 *  3. Varints: an unsigned 32-bit varint is at most 5 bytes and its fifth
 *     byte carries at most 4 value bits; a 64-bit one is at most 10 bytes and
 *     its tenth byte at most 1 bit. Anything longer or wider is malformed
 *     (a peer cannot make us loop or silently truncate a length).
 *
 * Writer: wbuf.mem is one growable byte array; memory pieces are ranges of
 * it in send order. Because memory is only ever appended, a new memory
 * write either extends the last piece (when that piece ends at mem_len) or
 * starts a new one after a file piece. File pieces hold one reference on
 * their fileref each; a file range that continues the previous file piece
 * is merged into it and takes no extra reference.
 *
 * Arena: a singly linked list of calloc'd chunks; the head is the chunk
 * being bumped. A request bigger than a quarter of a standard chunk gets a
 * chunk of its own, linked behind the head so the head keeps its free space.
 */
#include "util/buf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ================================================================ reader */

/* Latches the error and parks the cursor at the end (invariant 1). */
static void rd_fail(struct rd *r)
{
	r->err = RD_ERR;
	r->p = r->end;
}

/* Returns the next n bytes and advances, or NULL after latching the error. */
static const uint8_t *rd_need(struct rd *r, size_t n)
{
	if (r->err != RD_OK)
		return NULL;
	if (rd_left(r) < n) {
		rd_fail(r);
		return NULL;
	}
	const uint8_t *q = r->p;
	r->p += n;
	return q;
}

static uint64_t be_load(const uint8_t *q, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = (v << 8) | q[i];
	return v;
}

int8_t rd_i8(struct rd *r)
{
	const uint8_t *q = rd_need(r, 1);
	return q ? (int8_t)q[0] : 0;
}

uint16_t rd_u16(struct rd *r)
{
	const uint8_t *q = rd_need(r, 2);
	return q ? (uint16_t)be_load(q, 2) : 0;
}

int16_t rd_i16(struct rd *r) { return (int16_t)rd_u16(r); }

uint32_t rd_u32(struct rd *r)
{
	const uint8_t *q = rd_need(r, 4);
	return q ? (uint32_t)be_load(q, 4) : 0;
}

int32_t rd_i32(struct rd *r) { return (int32_t)rd_u32(r); }

int64_t rd_i64(struct rd *r)
{
	const uint8_t *q = rd_need(r, 8);
	return q ? (int64_t)be_load(q, 8) : 0;
}

double rd_f64(struct rd *r)
{
	uint64_t bits = (uint64_t)rd_i64(r);
	double d;
	memcpy(&d, &bits, sizeof d);
	return d;
}

/* Decodes an unsigned LEB128 varint of at most maxbytes bytes whose last
 * byte may carry at most lastbits value bits (invariant 3). */
static uint64_t rd_leb128(struct rd *r, int maxbytes, int lastbits)
{
	if (r->err != RD_OK)
		return 0;
	uint64_t v = 0;
	for (int i = 0; i < maxbytes; i++) {
		if (r->p >= r->end)
			break;
		uint8_t b = *r->p++;
		if (i == maxbytes - 1 && (b >> lastbits) != 0)
			break; /* continuation bit or value bits beyond the width */
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			return v;
	}
	rd_fail(r);
	return 0;
}

uint32_t rd_uvarint(struct rd *r) { return (uint32_t)rd_leb128(r, 5, 4); }
uint64_t rd_uvarlong(struct rd *r) { return rd_leb128(r, 10, 1); }

int32_t rd_varint(struct rd *r)
{
	uint32_t u = rd_uvarint(r);
	return (int32_t)((u >> 1) ^ (0u - (u & 1)));
}

int64_t rd_varlong(struct rd *r)
{
	uint64_t u = rd_uvarlong(r);
	return (int64_t)((u >> 1) ^ (0ull - (u & 1)));
}

const uint8_t *rd_take(struct rd *r, size_t n)
{
	const uint8_t *q = rd_need(r, n);
	/* A zero-length take from an empty (NULL) slice is still a success. */
	if (q == NULL && r->err == RD_OK)
		return (const uint8_t *)"";
	return q;
}

struct rd rd_sub(struct rd *r, size_t n)
{
	const uint8_t *q = rd_need(r, n);
	if (q == NULL && r->err != RD_OK) {
		struct rd bad = { r->end, r->end, RD_ERR };
		return bad;
	}
	return rd_make(q, n);
}

/* ================================================================ writer */

void fileref_unref(struct fileref *f)
{
	if (f == NULL)
		return;
	if (atomic_fetch_sub(&f->refs, 1) == 1)
		f->release(f);
}

void wbuf_init(struct wbuf *w)
{
	memset(w, 0, sizeof *w);
}

static void wbuf_unref_files(struct wbuf *w)
{
	for (size_t i = 0; i < w->npieces; i++)
		if (w->pieces[i].file != NULL)
			fileref_unref(w->pieces[i].file);
}

void wbuf_fini(struct wbuf *w)
{
	wbuf_unref_files(w);
	free(w->mem);
	free(w->pieces);
	memset(w, 0, sizeof *w);
}

void wbuf_reset(struct wbuf *w)
{
	wbuf_unref_files(w);
	w->mem_len = 0;
	w->npieces = 0;
	w->total = 0;
	w->oom = false;
}

size_t wbuf_len(const struct wbuf *w) { return w->total; }
size_t wbuf_mark(const struct wbuf *w) { return w->mem_len; }

/* Makes room for one more piece. Returns false (and latches oom) on failure. */
static bool wbuf_piece_room(struct wbuf *w)
{
	if (w->npieces < w->pieces_cap)
		return true;
	size_t cap = w->pieces_cap ? w->pieces_cap * 2 : 8;
	struct wpiece *np = realloc(w->pieces, cap * sizeof *np);
	if (np == NULL) {
		w->oom = true;
		return false;
	}
	w->pieces = np;
	w->pieces_cap = cap;
	return true;
}

static bool wbuf_mem_room(struct wbuf *w, size_t n)
{
	if (w->mem_cap - w->mem_len >= n)
		return true;
	if (n > SIZE_MAX / 2 - w->mem_len) {
		w->oom = true;
		return false;
	}
	size_t cap = w->mem_cap ? w->mem_cap : 256;
	while (cap - w->mem_len < n)
		cap *= 2;
	uint8_t *nm = realloc(w->mem, cap);
	if (nm == NULL) {
		w->oom = true;
		return false;
	}
	w->mem = nm;
	w->mem_cap = cap;
	return true;
}

void wbuf_bytes(struct wbuf *w, const void *p, size_t n)
{
	if (w->oom || n == 0)
		return;
	struct wpiece *last = w->npieces ? &w->pieces[w->npieces - 1] : NULL;
	bool extend = last && last->file == NULL && last->off + last->len == w->mem_len;
	if (!extend && !wbuf_piece_room(w))
		return;
	if (!wbuf_mem_room(w, n))
		return;
	memcpy(w->mem + w->mem_len, p, n);
	if (extend) {
		w->pieces[w->npieces - 1].len += n;
	} else {
		w->pieces[w->npieces++] = (struct wpiece){ NULL, w->mem_len, n };
	}
	w->mem_len += n;
	w->total += n;
}

static void wbuf_be(struct wbuf *w, uint64_t v, int n)
{
	uint8_t b[8];
	for (int i = n - 1; i >= 0; i--) {
		b[i] = (uint8_t)v;
		v >>= 8;
	}
	wbuf_bytes(w, b, (size_t)n);
}

void wbuf_i8(struct wbuf *w, int8_t v) { wbuf_be(w, (uint8_t)v, 1); }
void wbuf_i16(struct wbuf *w, int16_t v) { wbuf_be(w, (uint16_t)v, 2); }
void wbuf_u16(struct wbuf *w, uint16_t v) { wbuf_be(w, v, 2); }
void wbuf_i32(struct wbuf *w, int32_t v) { wbuf_be(w, (uint32_t)v, 4); }
void wbuf_u32(struct wbuf *w, uint32_t v) { wbuf_be(w, v, 4); }
void wbuf_i64(struct wbuf *w, int64_t v) { wbuf_be(w, (uint64_t)v, 8); }

void wbuf_f64(struct wbuf *w, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof bits);
	wbuf_be(w, bits, 8);
}

void wbuf_uvarlong(struct wbuf *w, uint64_t v)
{
	uint8_t b[10];
	size_t n = 0;
	while (v >= 0x80) {
		b[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8_t)v;
	wbuf_bytes(w, b, n);
}

void wbuf_uvarint(struct wbuf *w, uint32_t v) { wbuf_uvarlong(w, v); }

void wbuf_varint(struct wbuf *w, int32_t v)
{
	uint32_t u = (uint32_t)v;
	wbuf_uvarlong(w, (u << 1) ^ (0u - (u >> 31)));
}

void wbuf_varlong(struct wbuf *w, int64_t v)
{
	uint64_t u = (uint64_t)v;
	wbuf_uvarlong(w, (u << 1) ^ (0ull - (u >> 63)));
}

void wbuf_file(struct wbuf *w, struct fileref *f, uint64_t off, uint64_t len)
{
	if (w->oom || len == 0)
		return;
	struct wpiece *last = w->npieces ? &w->pieces[w->npieces - 1] : NULL;
	if (last && last->file == f && last->off + last->len == off) {
		last->len += len; /* contiguous range of the same file: no new ref */
		w->total += len;
		return;
	}
	if (!wbuf_piece_room(w))
		return;
	fileref_ref(f);
	w->pieces[w->npieces++] = (struct wpiece){ f, off, len };
	w->total += len;
}

void wbuf_patch_i32(struct wbuf *w, size_t mark, int32_t v)
{
	if (w->oom)
		return; /* the bytes may never have been written */
	assert(mark <= w->mem_len && w->mem_len - mark >= 4);
	uint32_t u = (uint32_t)v;
	for (int i = 3; i >= 0; i--) {
		w->mem[mark + (size_t)i] = (uint8_t)u;
		u >>= 8;
	}
}

int uvarint_size(uint64_t v)
{
	int n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

int varint_size(int64_t v)
{
	uint64_t u = (uint64_t)v;
	return uvarint_size((u << 1) ^ (0ull - (u >> 63)));
}

/* ================================================================= arena */

enum { ARENA_CHUNK = 8192, ARENA_ALIGN = 8 };

struct arena_chunk {
	struct arena_chunk *next;
	size_t cap;   /* bytes in data[] */
	size_t used;  /* bytes handed out from data[] */
	uint64_t data[]; /* uint64_t: keeps data 8-byte aligned */
};

void arena_init(struct arena *a)
{
	a->head = NULL;
	a->used = 0;
}

void arena_fini(struct arena *a)
{
	struct arena_chunk *c = a->head;
	while (c != NULL) {
		struct arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	arena_init(a);
}

static struct arena_chunk *arena_chunk_new(size_t cap)
{
	if (cap > SIZE_MAX - sizeof(struct arena_chunk))
		return NULL;
	struct arena_chunk *c = calloc(1, sizeof *c + cap);
	if (c != NULL)
		c->cap = cap;
	return c;
}

void *arena_alloc(struct arena *a, size_t n)
{
	if (n > SIZE_MAX - ARENA_ALIGN)
		return NULL;
	size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	struct arena_chunk *c = a->head;
	if (c == NULL || c->cap - c->used < need) {
		bool own = need > ARENA_CHUNK / 4;
		struct arena_chunk *nc = arena_chunk_new(own ? need : ARENA_CHUNK);
		if (nc == NULL)
			return NULL;
		if (own && c != NULL) { /* keep the head's free space in use */
			nc->next = c->next;
			c->next = nc;
		} else {
			nc->next = c;
			a->head = nc;
		}
		c = nc;
	}
	void *p = (uint8_t *)c->data + c->used;
	c->used += need;
	a->used += n;
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	size_t len = s ? strnlen(s, n) : 0;
	char *d = arena_alloc(a, len + 1);
	if (d == NULL)
		return NULL;
	if (len)
		memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

int64_t rd_kafka_len(struct rd *r, bool flex, bool wide)
{
	int64_t len;
	if (flex)
		len = (int64_t)rd_uvarint(r) - 1;
	else
		len = wide ? rd_i32(r) : rd_i16(r);
	if (r->err != RD_OK || len < -1)
		return -2;
	return len;
}

void rd_kafka_skip_tags(struct rd *r)
{
	uint32_t n = rd_uvarint(r);
	if (n > rd_left(r) / 2) {   /* each field takes at least a tag and a size byte */
		r->err = RD_ERR;
		return;
	}
	for (uint32_t i = 0; i < n && r->err == RD_OK; i++) {
		(void)rd_uvarint(r);    /* the tag: none of these records' tags is used */
		uint32_t size = rd_uvarint(r);
		(void)rd_take(r, size);
	}
}
