// deps: src/util
/*
 * test_buf.c — reader (fixed ints, varints, sticky errors, truncation),
 * writer (pieces, merging, file references, patching), arena.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "util/buf.h"

/* ------------------------------------------------------------- fixture */

static int released;

static void count_release(struct fileref *f)
{
	(void)f;
	released++;
}

static struct fileref fake_file(void)
{
	struct fileref f = { .fd = -1, .release = count_release };
	atomic_init(&f.refs, 1);
	return f;
}

/* Encodes v with the writer and returns the bytes in out (max 10). */
static size_t enc_uvarlong(uint64_t v, uint8_t *out)
{
	struct wbuf w;
	wbuf_init(&w);
	wbuf_uvarlong(&w, v);
	size_t n = w.mem_len;
	memcpy(out, w.mem, n);
	wbuf_fini(&w);
	return n;
}

/* ----------------------------------------------------------- reader */

TEST(fixed_width_big_endian)
{
	static const uint8_t b[] = { 0x80, 0x01, 0x02, 0xff, 0xfe, 0x01, 0x02, 0x03, 0x04,
				     0x80, 0, 0, 0, 0, 0, 0, 0x01, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0 };
	struct rd r = rd_make(b, sizeof b);
	CHECK_EQ(rd_i8(&r), -128);
	CHECK_EQ(rd_i16(&r), 0x0102);
	CHECK_EQ(rd_u16(&r), 0xfffe);
	CHECK_EQ(rd_u32(&r), 0x01020304u);
	CHECK(rd_i64(&r) == (int64_t)0x8000000000000001ull);
	CHECK(rd_f64(&r) == 1.0);
	CHECK_EQ(rd_left(&r), 0);
	CHECK_EQ(r.err, RD_OK);
}

TEST(truncated_reads_are_sticky_and_never_pass_end)
{
	static const uint8_t b[] = { 1, 2, 3 };
	struct rd r = rd_make(b, sizeof b);
	CHECK_EQ(rd_i16(&r), 0x0102);
	CHECK_EQ(rd_i32(&r), 0); /* only 1 byte left */
	CHECK_EQ(r.err, RD_ERR);
	CHECK(r.p == r.end);
	CHECK_EQ(rd_i8(&r), 0); /* sticky even though it would not fit anyway */
	CHECK(rd_take(&r, 0) == NULL);
	struct rd sub = rd_sub(&r, 0);
	CHECK_EQ(sub.err, RD_ERR);
	CHECK(r.p <= r.end);
}

TEST(every_read_on_every_truncation)
{
	/* A buffer of 0x80 bytes: a varint never ends, ints never fit after cut. */
	uint8_t b[16];
	memset(b, 0x80, sizeof b);
	for (size_t n = 0; n < sizeof b; n++) {
		for (int kind = 0; kind < 8; kind++) {
			struct rd r = rd_make(b, n);
			switch (kind) {
			case 0: rd_i64(&r); break;
			case 1: rd_i32(&r); rd_i32(&r); rd_i32(&r); rd_i32(&r); break;
			case 2: rd_uvarint(&r); break;
			case 3: rd_uvarlong(&r); break;
			case 4: rd_varint(&r); break;
			case 5: rd_varlong(&r); break;
			case 6: rd_take(&r, n + 1); break;
			case 7: rd_sub(&r, n + 1); break;
			}
			CHECK(r.p >= b && r.p <= b + n);
			if (kind >= 2 || n < 8 || (kind == 1 && n < 16))
				CHECK_EQ(r.err, RD_ERR);
		}
	}
}

TEST(take_and_sub)
{
	static const uint8_t b[] = { 9, 8, 7, 6, 5 };
	struct rd r = rd_make(b, sizeof b);
	const uint8_t *p = rd_take(&r, 2);
	CHECK(p == b);
	struct rd s = rd_sub(&r, 2);
	CHECK_EQ(rd_left(&s), 2);
	CHECK_EQ(rd_i16(&s), 0x0706);
	CHECK_EQ(rd_i8(&s), 0);
	CHECK_EQ(s.err, RD_ERR);
	CHECK_EQ(r.err, RD_OK); /* the parent is unaffected by the sub-reader */
	CHECK_EQ(rd_i8(&r), 5);
	struct rd e = rd_make(NULL, 0);
	CHECK(rd_take(&e, 0) != NULL);
	CHECK_EQ(e.err, RD_OK);
}

struct vcase { uint32_t v; size_t size; };

TEST(uvarint_boundaries_round_trip)
{
	static const struct vcase c[] = {
		{ 0, 1 }, { 1, 1 }, { 127, 1 }, { 128, 2 }, { 16383, 2 }, { 16384, 3 },
		{ 2097151, 3 }, { 2097152, 4 }, { 268435455, 4 }, { 268435456, 5 },
		{ UINT32_MAX, 5 },
	};
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		struct wbuf w;
		wbuf_init(&w);
		wbuf_uvarint(&w, c[i].v);
		CHECK_EQ(w.mem_len, c[i].size);
		CHECK_EQ(uvarint_size(c[i].v), (int)c[i].size);
		struct rd r = rd_make(w.mem, w.mem_len);
		CHECK_EQ(rd_uvarint(&r), c[i].v);
		CHECK_EQ(r.err, RD_OK);
		CHECK_EQ(rd_left(&r), 0);
		wbuf_fini(&w);
	}
	uint8_t b[10];
	CHECK_EQ(enc_uvarlong(0, b), 1);
	CHECK_EQ(b[0], 0);
	CHECK_EQ(enc_uvarlong(300, b), 2);
	CHECK_EQ(b[0], 0xac);
	CHECK_EQ(b[1], 0x02);
	CHECK_EQ(enc_uvarlong(UINT64_MAX, b), 10);
	struct rd r = rd_make(b, 10);
	CHECK(rd_uvarlong(&r) == UINT64_MAX);
	CHECK_EQ(r.err, RD_OK);
}

TEST(zigzag_varint_boundaries)
{
	static const int32_t v[] = { 0, -1, 1, -64, 63, 64, -65, 8191, -8192, 8192,
				     INT32_MAX, INT32_MIN, INT32_MIN + 1, INT32_MAX - 1 };
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
		struct wbuf w;
		wbuf_init(&w);
		wbuf_varint(&w, v[i]);
		CHECK_EQ(varint_size(v[i]), (int)w.mem_len);
		struct rd r = rd_make(w.mem, w.mem_len);
		CHECK_EQ(rd_varint(&r), v[i]);
		CHECK_EQ(r.err, RD_OK);
		wbuf_fini(&w);
	}
	/* Zig-zag mapping itself: 0,-1,1,-2 -> 0,1,2,3. */
	struct wbuf w;
	wbuf_init(&w);
	wbuf_varint(&w, 0);
	wbuf_varint(&w, -1);
	wbuf_varint(&w, 1);
	wbuf_varint(&w, -2);
	CHECK_EQ(w.mem_len, 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(w.mem[i], i);
	wbuf_fini(&w);
	static const int64_t l[] = { 0, -1, 1, INT64_MAX, INT64_MIN, 1ll << 40, -(1ll << 40) };
	for (size_t i = 0; i < sizeof l / sizeof l[0]; i++) {
		wbuf_init(&w);
		wbuf_varlong(&w, l[i]);
		CHECK_EQ(varint_size(l[i]), (int)w.mem_len);
		struct rd r = rd_make(w.mem, w.mem_len);
		CHECK(rd_varlong(&r) == l[i]);
		CHECK_EQ(r.err, RD_OK);
		wbuf_fini(&w);
	}
}

TEST(overlong_varints_rejected)
{
	/* 6 bytes for a 32-bit varint. */
	static const uint8_t six[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x00 };
	struct rd r = rd_make(six, sizeof six);
	CHECK_EQ(rd_uvarint(&r), 0);
	CHECK_EQ(r.err, RD_ERR);
	/* 5 bytes whose last carries bits beyond 32. */
	static const uint8_t wide[] = { 0xff, 0xff, 0xff, 0xff, 0x1f };
	r = rd_make(wide, sizeof wide);
	rd_varint(&r);
	CHECK_EQ(r.err, RD_ERR);
	/* 5 bytes, exactly 32 bits: fine. */
	static const uint8_t max32[] = { 0xff, 0xff, 0xff, 0xff, 0x0f };
	r = rd_make(max32, sizeof max32);
	CHECK_EQ(rd_uvarint(&r), UINT32_MAX);
	CHECK_EQ(r.err, RD_OK);
	/* Non-minimal but within 5 bytes: accepted as Kafka does. */
	static const uint8_t padded[] = { 0x81, 0x80, 0x00 };
	r = rd_make(padded, sizeof padded);
	CHECK_EQ(rd_uvarint(&r), 1);
	CHECK_EQ(r.err, RD_OK);
	/* 11 bytes for a 64-bit varint, and 10 with bits beyond 64. */
	uint8_t eleven[11];
	memset(eleven, 0x80, 10);
	eleven[10] = 0;
	r = rd_make(eleven, sizeof eleven);
	rd_uvarlong(&r);
	CHECK_EQ(r.err, RD_ERR);
	uint8_t ten[10];
	memset(ten, 0xff, 9);
	ten[9] = 0x02;
	r = rd_make(ten, sizeof ten);
	rd_varlong(&r);
	CHECK_EQ(r.err, RD_ERR);
	/* Truncated in the middle. */
	r = rd_make(six, 3);
	rd_uvarint(&r);
	CHECK_EQ(r.err, RD_ERR);
	CHECK(r.p == r.end);
}

/* ----------------------------------------------------------- writer */

TEST(writer_fixed_width_round_trip)
{
	struct wbuf w;
	wbuf_init(&w);
	wbuf_i8(&w, -2);
	wbuf_i16(&w, -300);
	wbuf_u16(&w, 65000);
	wbuf_i32(&w, INT32_MIN);
	wbuf_u32(&w, 0xdeadbeef);
	wbuf_i64(&w, -5);
	wbuf_f64(&w, -2.5);
	CHECK_EQ(wbuf_len(&w), 1 + 2 + 2 + 4 + 4 + 8 + 8);
	CHECK_EQ(w.npieces, 1);
	struct rd r = rd_make(w.mem, w.mem_len);
	CHECK_EQ(rd_i8(&r), -2);
	CHECK_EQ(rd_i16(&r), -300);
	CHECK_EQ(rd_u16(&r), 65000);
	CHECK_EQ(rd_i32(&r), INT32_MIN);
	CHECK_EQ(rd_u32(&r), 0xdeadbeefu);
	CHECK_EQ(rd_i64(&r), -5);
	CHECK(rd_f64(&r) == -2.5);
	CHECK_EQ(rd_left(&r), 0);
	wbuf_fini(&w);
}

TEST(pieces_memory_file_memory)
{
	struct fileref f = fake_file();
	struct wbuf w;
	wbuf_init(&w);
	wbuf_i32(&w, 1);
	wbuf_i32(&w, 2);          /* extends the first piece */
	wbuf_file(&w, &f, 100, 50);
	wbuf_file(&w, &f, 150, 10); /* contiguous: merged, no new reference */
	wbuf_file(&w, &f, 0, 0);    /* empty: ignored */
	CHECK_EQ(atomic_load(&f.refs), 2);
	wbuf_i16(&w, 3);          /* new memory piece after the file */
	wbuf_file(&w, &f, 500, 5);
	CHECK_EQ(atomic_load(&f.refs), 3);
	CHECK_EQ(w.npieces, 4);
	CHECK(w.pieces[0].file == NULL);
	CHECK_EQ(w.pieces[0].off, 0);
	CHECK_EQ(w.pieces[0].len, 8);
	CHECK(w.pieces[1].file == &f);
	CHECK_EQ(w.pieces[1].off, 100);
	CHECK_EQ(w.pieces[1].len, 60);
	CHECK(w.pieces[2].file == NULL);
	CHECK_EQ(w.pieces[2].off, 8);
	CHECK_EQ(w.pieces[2].len, 2);
	CHECK_EQ(w.pieces[3].len, 5);
	CHECK_EQ(wbuf_len(&w), 8 + 60 + 2 + 5);
	wbuf_fini(&w);
	CHECK_EQ(atomic_load(&f.refs), 1);
	CHECK_EQ(released, 0);
	fileref_unref(&f);
	CHECK_EQ(released, 1);
}

TEST(reset_drops_files_and_keeps_working)
{
	struct fileref f = fake_file();
	struct wbuf w;
	wbuf_init(&w);
	wbuf_file(&w, &f, 0, 10);
	wbuf_reset(&w);
	CHECK_EQ(atomic_load(&f.refs), 1);
	CHECK_EQ(wbuf_len(&w), 0);
	wbuf_i8(&w, 7);
	CHECK_EQ(w.npieces, 1);
	CHECK_EQ(w.mem[0], 7);
	wbuf_fini(&w);
}

TEST(patch_i32_at_mark_after_growth)
{
	struct wbuf w;
	wbuf_init(&w);
	wbuf_i8(&w, 1);
	size_t mark = wbuf_mark(&w);
	wbuf_i32(&w, 0);
	for (int i = 0; i < 10000; i++) /* forces several reallocations */
		wbuf_i8(&w, (int8_t)i);
	wbuf_patch_i32(&w, mark, -2);
	struct rd r = rd_make(w.mem + mark, 4);
	CHECK_EQ(rd_i32(&r), -2);
	CHECK_EQ(w.mem[0], 1);
	CHECK_EQ(w.mem[5], 0);
	CHECK_EQ(wbuf_len(&w), 10005);
	CHECK_EQ(w.npieces, 1);
	wbuf_fini(&w);
}

TEST(fileref_unref_releases_at_zero)
{
	struct fileref f = fake_file();
	fileref_ref(&f);
	fileref_ref(&f);
	fileref_unref(&f);
	fileref_unref(&f);
	CHECK_EQ(released, 0);
	fileref_unref(&f);
	CHECK_EQ(released, 1);
}

/* ------------------------------------------------------------ arena */

TEST(arena_aligned_zeroed)
{
	struct arena a;
	arena_init(&a);
	for (size_t n = 0; n < 300; n++) {
		uint8_t *p = arena_alloc(&a, n);
		CHECK(p != NULL);
		CHECK_EQ((uintptr_t)p % 8, 0);
		for (size_t i = 0; i < n; i++)
			CHECK_EQ(p[i], 0);
		memset(p, 0xa5, n); /* later allocations must not overlap */
	}
	CHECK_EQ(a.used, 299 * 300 / 2);
	arena_fini(&a);
	CHECK(a.head == NULL);
}

TEST(arena_large_allocations_and_strndup)
{
	struct arena a;
	arena_init(&a);
	char *s1 = arena_strndup(&a, "hello world", 5);
	uint8_t *big = arena_alloc(&a, 1 << 20);
	char *s2 = arena_strndup(&a, "abc", 10);
	CHECK(big != NULL);
	CHECK_EQ((uintptr_t)big % 8, 0);
	for (size_t i = 0; i < (1u << 20); i += 4096)
		CHECK_EQ(big[i], 0);
	memset(big, 0xff, 1 << 20);
	CHECK_STR(s1, "hello");
	CHECK_STR(s2, "abc");
	/* The small string after the big block came from the same chunk as s1. */
	CHECK((size_t)(s2 - s1) < 64);
	CHECK(arena_alloc(&a, SIZE_MAX - 3) == NULL);
	arena_fini(&a);
}

UNIT_MAIN()
