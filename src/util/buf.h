/*
 * buf.h — bounds-checked wire reader, chained response writer, request arena.
 *
 * Reader (struct rd): a slice with a cursor. Every read checks what remains;
 * on a short or malformed read the reader latches rd.err = RD_ERR and every
 * later read returns zero values, so decoders can read a whole struct and
 * test the error once. Nothing is ever read past rd.end.
 *
 * Writer (struct wbuf): a response under construction, a chain of pieces in
 * send order. A memory piece is a range of the writer's own growable byte
 * buffer; a file piece is (fileref, offset, length) sent with sendfile().
 * Offsets into the memory buffer stay valid while it grows, so sizes and
 * counts are back-patched by offset (wbuf_patch_i32).
 *
 * Arena: a bump allocator for one request's decoded structures; freed in one
 * call once the response has left the socket. Not thread-safe: owned by the
 * request, used by one thread at a time.
 */
#ifndef RUNNEL_UTIL_BUF_H
#define RUNNEL_UTIL_BUF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- reader */

enum { RD_OK = 0, RD_ERR = 1 };

struct rd {
	const uint8_t *p;   /* cursor; borrowed */
	const uint8_t *end; /* one past the last readable byte */
	int err;            /* RD_OK, or RD_ERR once any read failed (sticky) */
};

static inline struct rd rd_make(const void *p, size_t len)
{
	struct rd r = { (const uint8_t *)p, (const uint8_t *)p + len, RD_OK };
	return r;
}
static inline size_t rd_left(const struct rd *r) { return (size_t)(r->end - r->p); }

int8_t   rd_i8(struct rd *r);
int16_t  rd_i16(struct rd *r);
uint16_t rd_u16(struct rd *r);
int32_t  rd_i32(struct rd *r);
uint32_t rd_u32(struct rd *r);
int64_t  rd_i64(struct rd *r);
double   rd_f64(struct rd *r);
/* Unsigned LEB128 varint, at most 5 bytes for 32 bits / 10 for 64. */
uint32_t rd_uvarint(struct rd *r);
uint64_t rd_uvarlong(struct rd *r);
/* Zig-zag signed varints (record fields). */
int32_t  rd_varint(struct rd *r);
int64_t  rd_varlong(struct rd *r);
/* A Kafka length or count prefix: compact (uvarint length + 1) when flex,
 * else int32 (wide: arrays, bytes) or int16 (strings). Returns -1 for null,
 * else the length (>= 0); -2 after a failure or a classic length below -1. */
int64_t  rd_kafka_len(struct rd *r, bool flex, bool wide);
/* Skips a tagged-field section of a flexible version (uvarint count, then
 * per field uvarint tag, uvarint size, bytes); a count the rest of the
 * input cannot hold sets err. */
void     rd_kafka_skip_tags(struct rd *r);
/* Returns a pointer to n bytes in place and advances, or NULL (and err). */
const uint8_t *rd_take(struct rd *r, size_t n);
/* Splits off the next n bytes as a sub-reader (err on short input). */
struct rd rd_sub(struct rd *r, size_t n);

/* ---------------------------------------------------------------- writer */

/* A reference-counted open file whose byte ranges a response may send.
 * The owner (a log segment) embeds it; the last fileref_unref() calls
 * release(), which closes fd and frees the owner. Any thread. */
struct fileref {
	int fd;
	atomic_int refs;
	void (*release)(struct fileref *f);
};
static inline void fileref_ref(struct fileref *f) { atomic_fetch_add(&f->refs, 1); }
void fileref_unref(struct fileref *f);

struct wpiece {
	struct fileref *file; /* NULL: memory piece [off, off+len) of wbuf.mem */
	uint64_t off;         /* offset in wbuf.mem, or in the file */
	uint64_t len;
};

struct wbuf {
	uint8_t *mem;          /* owned; grows by doubling */
	size_t mem_len, mem_cap;
	struct wpiece *pieces; /* owned; the send order */
	size_t npieces, pieces_cap;
	size_t total;          /* bytes of all pieces */
	bool oom;              /* sticky allocation failure */
};

void   wbuf_init(struct wbuf *w);
void   wbuf_fini(struct wbuf *w); /* unrefs file pieces, frees memory */
void   wbuf_reset(struct wbuf *w);
size_t wbuf_len(const struct wbuf *w); /* == w->total */
void   wbuf_bytes(struct wbuf *w, const void *p, size_t n);
void   wbuf_i8(struct wbuf *w, int8_t v);
void   wbuf_i16(struct wbuf *w, int16_t v);
void   wbuf_u16(struct wbuf *w, uint16_t v);
void   wbuf_i32(struct wbuf *w, int32_t v);
void   wbuf_u32(struct wbuf *w, uint32_t v);
void   wbuf_i64(struct wbuf *w, int64_t v);
void   wbuf_f64(struct wbuf *w, double v);
void   wbuf_uvarint(struct wbuf *w, uint32_t v);
void   wbuf_uvarlong(struct wbuf *w, uint64_t v);
void   wbuf_varint(struct wbuf *w, int32_t v);
void   wbuf_varlong(struct wbuf *w, int64_t v);
/* Appends a file range; takes a new reference on f. */
void   wbuf_file(struct wbuf *w, struct fileref *f, uint64_t off, uint64_t len);
/* Offset in the memory buffer where the next memory byte goes (for patching). */
size_t wbuf_mark(const struct wbuf *w);
void   wbuf_patch_i32(struct wbuf *w, size_t mark, int32_t v);

/* Varint sizes, for callers that must know a length before writing. */
int uvarint_size(uint64_t v);
int varint_size(int64_t v); /* zig-zag */

/* ----------------------------------------------------------------- arena */

struct arena_chunk;
struct arena {
	struct arena_chunk *head; /* owned chain */
	size_t used;              /* bytes handed out, for limits and stats */
};

void  arena_init(struct arena *a);
void  arena_fini(struct arena *a);
/* Zeroed, 8-byte aligned memory valid until arena_fini(); NULL on OOM. */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strndup(struct arena *a, const char *s, size_t n);

#endif
