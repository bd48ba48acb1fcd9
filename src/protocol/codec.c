/*
 * codec.c — the table-driven Kafka codec (see codec.h for the names and the
 * value types, docs/protocol-defs.md for the definition format).
 *
 * Wire format, per version v of a message (Kafka protocol guide, KIP-482):
 *
 *   type          non-flexible v              flexible v (v >= flex_min)
 *   ------------  --------------------------  ---------------------------
 *   bool/intN     big-endian, fixed width     same
 *   string        int16 len (-1 null) + bytes uvarint(len+1) (0 null) + bytes
 *   bytes,records int32 len (-1 null) + bytes uvarint(len+1) (0 null) + bytes
 *   uuid          16 bytes                    same
 *   [] array      int32 count (-1 null)       uvarint(count+1) (0 null)
 *   struct        its fields in order         its fields, then tagged fields
 *
 *   tagged-field section (flexible structs and message bodies, at the end):
 *   +----------------+------------+-------------+-------+----
 *   | uvarint ntags  | uvarint tag| uvarint size| value | ... (ascending tags)
 *   +----------------+------------+-------------+-------+----
 *
 * A field exists in v when vmin <= v <= vmax; it is a tagged field in v when
 * tag >= 0 and tag_vmin <= v <= tag_vmax, and then lives only in the
 * section, not in the regular sequence.
 *
 * Decoding faces the network, so it is strict and bounded:
 *  1. Every read goes through the bounded reader; nothing is read past
 *     r->end, and any length or count beyond the bytes left is an error.
 *  2. An array count is checked against the bytes left divided by the
 *     smallest wire size of one element before anything is allocated, so
 *     a 4-byte count can never make us allocate more than the frame could
 *     describe (the amplification is at most element C size / wire size).
 *  3. Null where the field is not nullable in v is an error.
 *  4. A known tagged field is decoded from its own sub-slice (it cannot
 *     read past its size; bytes it leaves are ignored); unknown tags are
 *     skipped, as KIP-482 requires.
 *  5. Nesting is bounded by the definitions, and checked (PROTO_MAX_DEPTH).
 *  6. Trailing bytes after the body are ignored (Kafka does the same).
 *
 * Decoded strings, bytes and records point into the frame. krecords.ptr is
 * not const: the frame buffer is writable and owned by the request, and
 * produce rewrites base offsets in place, so the const of the reader is cast
 * away here on purpose.
 *
 * Defaults (applied by decode before reading, and by proto_new): numbers
 * and bools get def_int; strings, bytes, records and arrays are null when
 * the field is nullable in any version, else empty (strings and bytes
 * point at a static "" so handlers may pass them to memcmp); uuids are
 * zero; nested structs get their own defaults.
 *
 * Encoding writes what the struct holds for the fields of v. A tagged field
 * is written only when it differs from its default (for a nested struct:
 * when any of its fields does), in ascending tag order. Our own mistakes do
 * not produce a broken frame: a null where v does not allow null is written
 * empty, as is a non-empty string or array whose pointer is NULL; a
 * non-flexible string longer than 32767 bytes is cut. Tagged values are
 * encoded into a scratch writer first to learn their size.
 */
#include "protocol/codec.h"

#include <stddef.h>
#include <string.h>

#define PROTO_MAX_DEPTH 16

/* The layout every generated array field has: struct { int32_t count; T *items; }. */
struct proto_array {
	int32_t count;
	void *items;
};

struct ctx {
	int16_t v;
	bool flex;
	struct arena *a; /* decode only */
};

/* ================================================================ fields */

static bool in_range(int16_t v, int16_t lo, int16_t hi) { return lo >= 0 && v >= lo && v <= hi; }
static bool present(const struct proto_field *f, int16_t v) { return in_range(v, f->vmin, f->vmax); }
static bool tagged(const struct proto_field *f, int16_t v) { return f->tag >= 0 && in_range(v, f->tag_vmin, f->tag_vmax); }
static bool nullable(const struct proto_field *f, int16_t v) { return in_range(v, f->null_min, f->null_max); }
static bool nullable_ever(const struct proto_field *f) { return f->null_min >= 0; }

static struct proto_array arr_get(const void *p)
{
	struct proto_array a;
	memcpy(&a.count, p, sizeof a.count);
	memcpy(&a.items, (const char *)p + offsetof(struct proto_array, items), sizeof a.items);
	return a;
}

static void arr_set(void *p, int32_t count, void *items)
{
	memcpy(p, &count, sizeof count);
	memcpy((char *)p + offsetof(struct proto_array, items), &items, sizeof items);
}

/* C size of one value of a field's type (an array element, for arrays). */
static size_t value_size(const struct proto_field *f)
{
	switch (f->type) {
	case PT_BOOL: return sizeof(bool);
	case PT_INT8: return 1;
	case PT_INT16: case PT_UINT16: return 2;
	case PT_INT32: case PT_UINT32: return 4;
	case PT_INT64: return 8;
	case PT_FLOAT64: return sizeof(double);
	case PT_STRING: return sizeof(kstr);
	case PT_BYTES: return sizeof(kbytes);
	case PT_UUID: return sizeof(kuuid);
	case PT_RECORDS: return sizeof(krecords);
	case PT_STRUCT: return f->sub->size;
	}
	return 0;
}

/* ============================================================== defaults */

static void defaults_struct(const struct proto_struct *st, void *out);

static void default_value(const struct proto_field *f, void *p)
{
	int64_t d = f->def_int;
	bool null = nullable_ever(f);
	switch (f->type) {
	case PT_BOOL: *(bool *)p = d != 0; break;
	case PT_INT8: *(int8_t *)p = (int8_t)d; break;
	case PT_INT16: *(int16_t *)p = (int16_t)d; break;
	case PT_UINT16: *(uint16_t *)p = (uint16_t)d; break;
	case PT_INT32: *(int32_t *)p = (int32_t)d; break;
	case PT_UINT32: *(uint32_t *)p = (uint32_t)d; break;
	case PT_INT64: *(int64_t *)p = d; break;
	case PT_FLOAT64: *(double *)p = (double)d; break;
	case PT_STRING: *(kstr *)p = null ? kstr_null() : kstr_c(""); break;
	case PT_BYTES: *(kbytes *)p = (kbytes){ null ? NULL : (const uint8_t *)"", null ? -1 : 0 }; break;
	case PT_RECORDS: ((krecords *)p)->len = null ? -1 : 0; break;
	case PT_UUID: break;
	case PT_STRUCT: defaults_struct(f->sub, p); break;
	}
}

/* Sets every field of st in out to its default (the memory may be dirty). */
static void defaults_struct(const struct proto_struct *st, void *out)
{
	memset(out, 0, st->size);
	for (uint16_t i = 0; i < st->nfields; i++) {
		const struct proto_field *f = &st->fields[i];
		char *p = (char *)out + f->offset;
		if (f->array)
			arr_set(p, nullable_ever(f) ? -1 : 0, NULL);
		else
			default_value(f, p);
	}
}

void *proto_new(const struct proto_msg *m, int16_t v, struct arena *a)
{
	(void)v; /* defaults do not depend on the version (see the note above) */
	void *p = arena_alloc(a, m->body.size ? m->body.size : 1);
	if (p)
		defaults_struct(&m->body, p);
	return p;
}

void *proto_new_array(const struct proto_struct *st, int16_t v, int32_t n, struct arena *a)
{
	(void)v;
	if (n < 0)
		return NULL;
	size_t cnt = n ? (size_t)n : 1;
	char *p = arena_alloc(a, cnt * st->size);
	for (size_t i = 0; p && i < cnt; i++)
		defaults_struct(st, p + i * st->size);
	return p;
}

/* ============================================================== decoding */

static int dec_struct(const struct proto_struct *st, const struct ctx *c, struct rd *r,
		      void *out, int depth);

/* Smallest number of wire bytes one value of st can take in c's version
 * (for the array-count check, invariant 2). */
static size_t min_wire_struct(const struct proto_struct *st, const struct ctx *c, int depth);

static size_t min_wire_value(const struct proto_field *f, const struct ctx *c, int depth)
{
	switch (f->type) {
	case PT_BOOL: case PT_INT8: return 1;
	case PT_INT16: case PT_UINT16: return 2;
	case PT_INT32: case PT_UINT32: return 4;
	case PT_INT64: case PT_FLOAT64: return 8;
	case PT_UUID: return 16;
	case PT_STRING: return c->flex ? 1 : 2;
	case PT_BYTES: case PT_RECORDS: return c->flex ? 1 : 4;
	case PT_STRUCT: return min_wire_struct(f->sub, c, depth + 1);
	}
	return 1;
}

static size_t min_wire_struct(const struct proto_struct *st, const struct ctx *c, int depth)
{
	size_t n = c->flex ? 1 : 0; /* the tagged-field count */
	if (depth > PROTO_MAX_DEPTH)
		return n;
	for (uint16_t i = 0; i < st->nfields; i++) {
		const struct proto_field *f = &st->fields[i];
		if (!present(f, c->v) || tagged(f, c->v))
			continue;
		n += f->array ? (c->flex ? 1 : 4) : min_wire_value(f, c, depth);
	}
	return n;
}

/* Reads a length or count: >= 0, -1 for null, or -2 when malformed. */
static int64_t dec_len(struct rd *r, bool flex, bool wide)
{
	int64_t n;
	if (flex)
		n = (int64_t)rd_uvarint(r) - 1;
	else
		n = wide ? rd_i32(r) : rd_i16(r);
	if (r->err != RD_OK || n < -1)
		return -2;
	return n;
}

/* Reads the bytes of a string/bytes/records value: sets *ptr and *len. */
static int dec_blob(const struct proto_field *f, const struct ctx *c, struct rd *r, bool wide,
		    const uint8_t **ptr, int32_t *len)
{
	int64_t n = dec_len(r, c->flex, wide);
	if (n == -2 || (n == -1 && !nullable(f, c->v)) || (n > 0 && (uint64_t)n > rd_left(r)))
		return -1;
	*len = (int32_t)n;
	*ptr = n < 0 ? NULL : rd_take(r, (size_t)n);
	return r->err != RD_OK ? -1 : 0;
}

/* Decodes one non-array value of f's type into p. For array elements the
 * field's nullability does not apply (elements are never null). */
static int dec_value(const struct proto_field *f, const struct ctx *c, struct rd *r, void *p, int depth)
{
	const uint8_t *ptr;
	int32_t len;
	switch (f->type) {
	case PT_BOOL: *(bool *)p = rd_i8(r) != 0; break;
	case PT_INT8: *(int8_t *)p = rd_i8(r); break;
	case PT_INT16: *(int16_t *)p = rd_i16(r); break;
	case PT_UINT16: *(uint16_t *)p = rd_u16(r); break;
	case PT_INT32: *(int32_t *)p = rd_i32(r); break;
	case PT_UINT32: *(uint32_t *)p = rd_u32(r); break;
	case PT_INT64: *(int64_t *)p = rd_i64(r); break;
	case PT_FLOAT64: *(double *)p = rd_f64(r); break;
	case PT_UUID:
		ptr = rd_take(r, 16);
		if (ptr)
			memcpy(p, ptr, 16);
		break;
	case PT_STRING:
		if (dec_blob(f, c, r, false, &ptr, &len))
			return -1;
		*(kstr *)p = (kstr){ (const char *)ptr, len };
		break;
	case PT_BYTES:
		if (dec_blob(f, c, r, true, &ptr, &len))
			return -1;
		*(kbytes *)p = (kbytes){ ptr, len };
		break;
	case PT_RECORDS:
		if (dec_blob(f, c, r, true, &ptr, &len))
			return -1;
		/* The frame is writable and ours (see the note at the top). */
		*(krecords *)p = (krecords){ (uint8_t *)(uintptr_t)ptr, len, NULL, 0 };
		break;
	case PT_STRUCT:
		return dec_struct(f->sub, c, r, p, depth + 1);
	}
	return r->err != RD_OK ? -1 : 0;
}

static int dec_array(const struct proto_field *f, const struct ctx *c, struct rd *r, void *p, int depth)
{
	int64_t n = dec_len(r, c->flex, true);
	if (n == -2 || (n == -1 && !nullable(f, c->v)))
		return -1;
	if (n <= 0) {
		arr_set(p, (int32_t)n, NULL);
		return 0;
	}
	size_t min = f->type == PT_STRUCT ? min_wire_struct(f->sub, c, depth + 1) : min_wire_value(f, c, depth);
	if ((uint64_t)n > rd_left(r) / (min ? min : 1))
		return -1;
	size_t esz = value_size(f);
	char *items = arena_alloc(c->a, (size_t)n * esz);
	if (!items)
		return -1;
	/* Elements are never null; a nullable flag on the array field is about
	 * the array, so elements decode with a field copy that allows no null. */
	struct proto_field ef = *f;
	ef.null_min = ef.null_max = -1;
	for (int64_t i = 0; i < n; i++) {
		if (dec_value(&ef, c, r, items + (size_t)i * esz, depth))
			return -1;
	}
	arr_set(p, (int32_t)n, items);
	return 0;
}

static int dec_field(const struct proto_field *f, const struct ctx *c, struct rd *r, void *out, int depth)
{
	void *p = (char *)out + f->offset;
	return f->array ? dec_array(f, c, r, p, depth) : dec_value(f, c, r, p, depth);
}

static const struct proto_field *find_tag(const struct proto_struct *st, int16_t v, uint32_t tag)
{
	for (uint16_t i = 0; i < st->nfields; i++)
		if (tagged(&st->fields[i], v) && (uint32_t)st->fields[i].tag == tag)
			return &st->fields[i];
	return NULL;
}

/* Reads a tagged-field section (invariant 4). st NULL: skip every field. */
static int dec_tags(const struct proto_struct *st, const struct ctx *c, struct rd *r, void *out, int depth)
{
	uint32_t n = rd_uvarint(r);
	if (r->err != RD_OK || n > rd_left(r))
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t tag = rd_uvarint(r);
		uint32_t size = rd_uvarint(r);
		if (r->err != RD_OK || size > rd_left(r))
			return -1;
		struct rd sub = rd_sub(r, size);
		const struct proto_field *f = st ? find_tag(st, c->v, tag) : NULL;
		if (f && dec_field(f, c, &sub, out, depth))
			return -1;
	}
	return 0;
}

static int dec_struct(const struct proto_struct *st, const struct ctx *c, struct rd *r,
		      void *out, int depth)
{
	if (depth > PROTO_MAX_DEPTH)
		return -1;
	defaults_struct(st, out);
	for (uint16_t i = 0; i < st->nfields; i++) {
		const struct proto_field *f = &st->fields[i];
		if (present(f, c->v) && !tagged(f, c->v) && dec_field(f, c, r, out, depth))
			return -1;
	}
	if (c->flex && dec_tags(st, c, r, out, depth))
		return -1;
	return r->err != RD_OK ? -1 : 0;
}

int proto_decode(const struct proto_msg *m, int16_t v, struct rd *r, struct arena *a, void *out)
{
	if (v < m->vmin || v > m->vmax)
		return -1;
	struct ctx c = { v, proto_flexible(m, v), a };
	return dec_struct(&m->body, &c, r, out, 0);
}

/* ============================================================== encoding */

static void enc_struct(const struct proto_struct *st, const struct ctx *c, struct wbuf *w, const void *in);

static void enc_len(struct wbuf *w, bool flex, bool wide, int32_t n)
{
	if (flex)
		wbuf_uvarint(w, (uint32_t)n + 1u); /* -1 (null) -> 0 */
	else if (wide)
		wbuf_i32(w, n);
	else
		wbuf_i16(w, (int16_t)n);
}

/* Writes a string/bytes value; a null where v allows none goes out empty. */
static void enc_blob(const struct proto_field *f, const struct ctx *c, struct wbuf *w, bool wide,
		     const void *ptr, int32_t len)
{
	if (len < 0 && nullable(f, c->v)) {
		enc_len(w, c->flex, wide, -1);
		return;
	}
	if (len < 0 || !ptr)
		len = 0;
	if (!wide && !c->flex && len > INT16_MAX)
		len = INT16_MAX;
	enc_len(w, c->flex, wide, len);
	wbuf_bytes(w, ptr, (size_t)len);
}

static void enc_records(const struct proto_field *f, const struct ctx *c, struct wbuf *w, const krecords *rec)
{
	if (!rec->file) {
		enc_blob(f, c, w, true, rec->ptr, rec->len);
		return;
	}
	int32_t len = rec->len < 0 ? 0 : rec->len;
	enc_len(w, c->flex, true, len);
	wbuf_file(w, rec->file, rec->file_pos, (uint64_t)len);
}

static void enc_value(const struct proto_field *f, const struct ctx *c, struct wbuf *w, const void *p)
{
	switch (f->type) {
	case PT_BOOL: wbuf_i8(w, *(const bool *)p ? 1 : 0); break;
	case PT_INT8: wbuf_i8(w, *(const int8_t *)p); break;
	case PT_INT16: wbuf_i16(w, *(const int16_t *)p); break;
	case PT_UINT16: wbuf_u16(w, *(const uint16_t *)p); break;
	case PT_INT32: wbuf_i32(w, *(const int32_t *)p); break;
	case PT_UINT32: wbuf_u32(w, *(const uint32_t *)p); break;
	case PT_INT64: wbuf_i64(w, *(const int64_t *)p); break;
	case PT_FLOAT64: wbuf_f64(w, *(const double *)p); break;
	case PT_UUID: wbuf_bytes(w, p, 16); break;
	case PT_STRING: enc_blob(f, c, w, false, ((const kstr *)p)->ptr, ((const kstr *)p)->len); break;
	case PT_BYTES: enc_blob(f, c, w, true, ((const kbytes *)p)->ptr, ((const kbytes *)p)->len); break;
	case PT_RECORDS: enc_records(f, c, w, p); break;
	case PT_STRUCT: enc_struct(f->sub, c, w, p); break;
	}
}

static void enc_array(const struct proto_field *f, const struct ctx *c, struct wbuf *w, const void *p)
{
	struct proto_array a = arr_get(p);
	if (a.count < 0 && nullable(f, c->v)) {
		enc_len(w, c->flex, true, -1);
		return;
	}
	if (a.count < 0 || !a.items)
		a.count = 0;
	enc_len(w, c->flex, true, a.count);
	struct proto_field ef = *f;
	ef.null_min = ef.null_max = -1; /* elements are never null */
	size_t esz = value_size(f);
	for (int32_t i = 0; i < a.count; i++)
		enc_value(&ef, c, w, (const char *)a.items + (size_t)i * esz);
}

static void enc_field(const struct proto_field *f, const struct ctx *c, struct wbuf *w, const void *in)
{
	const void *p = (const char *)in + f->offset;
	if (f->array)
		enc_array(f, c, w, p);
	else
		enc_value(f, c, w, p);
}

static bool is_default_struct(const struct proto_struct *st, int16_t v, const void *in);

/* True when the value of f at p equals its default (tagged fields are
 * written only otherwise). */
static bool is_default(const struct proto_field *f, int16_t v, const void *p)
{
	static const kuuid zero;
	int64_t d = f->def_int;
	if (f->array) {
		int32_t n = arr_get(p).count;
		return nullable_ever(f) ? n == -1 : n <= 0;
	}
	switch (f->type) {
	case PT_BOOL: return *(const bool *)p == (d != 0);
	case PT_INT8: return *(const int8_t *)p == d;
	case PT_INT16: return *(const int16_t *)p == d;
	case PT_UINT16: return *(const uint16_t *)p == d;
	case PT_INT32: return *(const int32_t *)p == d;
	case PT_UINT32: return *(const uint32_t *)p == d;
	case PT_INT64: return *(const int64_t *)p == d;
	case PT_FLOAT64: return *(const double *)p == (double)d;
	case PT_UUID: return memcmp(p, &zero, sizeof zero) == 0;
	case PT_STRING: return nullable_ever(f) ? ((const kstr *)p)->len == -1 : ((const kstr *)p)->len <= 0;
	case PT_BYTES: return nullable_ever(f) ? ((const kbytes *)p)->len == -1 : ((const kbytes *)p)->len <= 0;
	case PT_RECORDS: return nullable_ever(f) ? ((const krecords *)p)->len == -1 : ((const krecords *)p)->len <= 0;
	case PT_STRUCT: return is_default_struct(f->sub, v, p);
	}
	return true;
}

static bool is_default_struct(const struct proto_struct *st, int16_t v, const void *in)
{
	for (uint16_t i = 0; i < st->nfields; i++) {
		const struct proto_field *f = &st->fields[i];
		if (present(f, v) && !is_default(f, v, (const char *)in + f->offset))
			return false;
	}
	return true;
}

/* Appends everything written to src (memory and file pieces) to w. */
static void wbuf_append(struct wbuf *w, const struct wbuf *src)
{
	for (size_t i = 0; i < src->npieces; i++) {
		const struct wpiece *pc = &src->pieces[i];
		if (pc->file)
			wbuf_file(w, pc->file, pc->off, pc->len);
		else
			wbuf_bytes(w, src->mem + pc->off, pc->len);
	}
}

/* The non-default tagged field of st with the smallest tag above `after`
 * (after = -1 to start), or NULL. */
static const struct proto_field *next_tag(const struct proto_struct *st, int16_t v, const void *in, int64_t after)
{
	const struct proto_field *best = NULL;
	for (uint16_t i = 0; i < st->nfields; i++) {
		const struct proto_field *f = &st->fields[i];
		if (!tagged(f, v) || f->tag <= after || (best && f->tag >= best->tag))
			continue;
		if (!is_default(f, v, (const char *)in + f->offset))
			best = f;
	}
	return best;
}

static void enc_tags(const struct proto_struct *st, const struct ctx *c, struct wbuf *w, const void *in)
{
	uint32_t n = 0;
	for (const struct proto_field *f = next_tag(st, c->v, in, -1); f; f = next_tag(st, c->v, in, f->tag))
		n++;
	wbuf_uvarint(w, n);
	for (const struct proto_field *f = next_tag(st, c->v, in, -1); f; f = next_tag(st, c->v, in, f->tag)) {
		struct wbuf tmp;
		wbuf_init(&tmp);
		enc_field(f, c, &tmp, in);
		if (tmp.oom)
			w->oom = true;
		wbuf_uvarint(w, (uint32_t)f->tag);
		wbuf_uvarint(w, (uint32_t)tmp.total);
		wbuf_append(w, &tmp);
		wbuf_fini(&tmp);
	}
}

static void enc_struct(const struct proto_struct *st, const struct ctx *c, struct wbuf *w, const void *in)
{
	for (uint16_t i = 0; i < st->nfields; i++) {
		const struct proto_field *f = &st->fields[i];
		if (present(f, c->v) && !tagged(f, c->v))
			enc_field(f, c, w, in);
	}
	if (c->flex)
		enc_tags(st, c, w, in);
}

int proto_encode(const struct proto_msg *m, int16_t v, struct wbuf *w, const void *in)
{
	if (v < m->vmin || v > m->vmax)
		return -1;
	struct ctx c = { v, proto_flexible(m, v), NULL };
	enc_struct(&m->body, &c, w, in);
	return w->oom ? -1 : 0;
}

/* =============================================================== headers */

/* The version whose header rules apply to (key, v): v clamped to the
 * message's known range, so a newer client's ApiVersions v9 still gets the
 * header of our v4. NULL m: unknown API. */
static int16_t clamp_version(const struct proto_msg *m, int16_t v)
{
	return v > m->vmax ? m->vmax : v < m->vmin ? m->vmin : v;
}

int proto_request_header_version(int16_t key, int16_t v)
{
	const struct proto_api *api = proto_api_find(key);
	if (!api)
		return 1;
	return proto_flexible(api->request, clamp_version(api->request, v)) ? 2 : 1;
}

int proto_response_header_version(int16_t key, int16_t v)
{
	const struct proto_api *api = proto_api_find(key);
	/* ApiVersionsResponse.json: the response header is always v0, since the
	 * client cannot know our versions before it has read this response. */
	if (!api || key == 18)
		return 0;
	return proto_flexible(api->response, clamp_version(api->response, v)) ? 1 : 0;
}

int proto_decode_req_header(struct rd *r, struct req_header *h)
{
	h->api_key = rd_i16(r);
	h->api_version = rd_i16(r);
	h->correlation_id = rd_i32(r);
	/* RequestHeader.json: ClientId keeps its int16 length in header v2 too. */
	int64_t n = dec_len(r, false, false);
	if (n == -2 || (n > 0 && (uint64_t)n > rd_left(r)))
		return -1;
	h->client_id = n < 0 ? kstr_null() : (kstr){ (const char *)rd_take(r, (size_t)n), (int32_t)n };
	if (proto_request_header_version(h->api_key, h->api_version) >= 2 &&
	    dec_tags(NULL, NULL, r, NULL, 0))
		return -1;
	return r->err != RD_OK ? -1 : 0;
}

void proto_encode_resp_header(struct wbuf *w, int hdr_version, int32_t correlation_id)
{
	wbuf_i32(w, correlation_id);
	if (hdr_version >= 1)
		wbuf_uvarint(w, 0); /* no tagged fields */
}
