// deps: src/util src/protocol gen
/*
 * test_codec.c — the table-driven codec (src/protocol/codec.c) and the
 * generated definitions.
 *
 * Sections: helpers (a generic value filler that walks the descriptor
 * tables), round trips over every API and version that has a definition
 * (keys 0..100, so new .def files are covered without touching this file),
 * and known-byte cases written by hand from the protocol guide.
 */
#include <stdlib.h>
#include <string.h>

#include "proto_gen.h"
#include "unit.h"
#include "util/buf.h"

/* ================================================================ helpers */

static bool in_v(int16_t v, int16_t lo, int16_t hi) { return lo >= 0 && v >= lo && v <= hi; }

struct filler {
	struct arena *a;
	int16_t v;
	int seq;       /* varies values from field to field */
	bool nulls;    /* null every field nullable in v */
};

static void fill_struct(const struct proto_struct *st, struct filler *fl, void *out, int depth);

/* Writes a value that differs from the field's default into p. */
static void fill_value(const struct proto_field *f, struct filler *fl, void *p, int depth)
{
	int64_t d = f->def_int, k = 1 + fl->seq++ % 50;
	switch (f->type) {
	case PT_BOOL: *(bool *)p = d == 0; break;
	case PT_INT8: *(int8_t *)p = (int8_t)(d + k); break;
	case PT_INT16: *(int16_t *)p = (int16_t)(d + k * 300); break;
	case PT_UINT16: *(uint16_t *)p = (uint16_t)(d + k); break;
	case PT_INT32: *(int32_t *)p = (int32_t)(d + k * 100000); break;
	case PT_UINT32: *(uint32_t *)p = (uint32_t)(d + k); break;
	case PT_INT64: *(int64_t *)p = d + k * 10000000000LL; break;
	case PT_FLOAT64: *(double *)p = (double)d + 0.5 * (double)k; break;
	case PT_UUID:
		for (int i = 0; i < 16; i++)
			((kuuid *)p)->b[i] = (uint8_t)(k + i);
		break;
	case PT_STRING: {
		char *s = arena_alloc(fl->a, 32);
		int n = snprintf(s, 32, "%s-%lld", f->name, (long long)k);
		*(kstr *)p = (kstr){ s, n };
		break;
	}
	case PT_BYTES: case PT_RECORDS: {
		int32_t n = (int32_t)(k * 3);
		uint8_t *b = arena_alloc(fl->a, (size_t)n);
		for (int32_t i = 0; i < n; i++)
			b[i] = (uint8_t)(i ^ k);
		if (f->type == PT_BYTES)
			*(kbytes *)p = (kbytes){ b, n };
		else
			*(krecords *)p = (krecords){ b, n, NULL, 0 };
		break;
	}
	case PT_STRUCT:
		fill_struct(f->sub, fl, p, depth + 1);
		break;
	}
}

static size_t elem_size(const struct proto_field *f)
{
	static const size_t sizes[] = {
		[PT_BOOL] = sizeof(bool), [PT_INT8] = 1, [PT_INT16] = 2, [PT_UINT16] = 2,
		[PT_INT32] = 4, [PT_UINT32] = 4, [PT_INT64] = 8, [PT_FLOAT64] = 8,
		[PT_STRING] = sizeof(kstr), [PT_BYTES] = sizeof(kbytes), [PT_UUID] = 16,
		[PT_RECORDS] = sizeof(krecords),
	};
	return f->type == PT_STRUCT ? f->sub->size : sizes[f->type];
}

static void fill_array(const struct proto_field *f, struct filler *fl, void *p, int depth)
{
	int32_t n = depth < 3 ? 2 : 1;
	size_t esz = elem_size(f);
	char *items = f->type == PT_STRUCT ? proto_new_array(f->sub, fl->v, n, fl->a)
					   : arena_alloc(fl->a, (size_t)n * esz);
	CHECK(items != NULL);
	for (int32_t i = 0; i < n; i++)
		fill_value(f, fl, items + (size_t)i * esz, depth);
	struct { int32_t count; void *items; } arr = { n, items };
	memcpy(p, &arr, sizeof arr);
}

/* Fills every field present in fl->v (defaults stay in the others). */
static void fill_struct(const struct proto_struct *st, struct filler *fl, void *out, int depth)
{
	for (uint16_t i = 0; i < st->nfields; i++) {
		const struct proto_field *f = &st->fields[i];
		char *p = (char *)out + f->offset;
		if (!in_v(fl->v, f->vmin, f->vmax))
			continue;
		if (fl->nulls && in_v(fl->v, f->null_min, f->null_max)) {
			if (f->array) {
				struct { int32_t count; void *items; } arr = { -1, NULL };
				memcpy(p, &arr, sizeof arr);
			} else if (f->type == PT_STRING) {
				*(kstr *)p = kstr_null();
			} else if (f->type == PT_BYTES) {
				*(kbytes *)p = (kbytes){ NULL, -1 };
			} else {
				*(krecords *)p = (krecords){ NULL, -1, NULL, 0 };
			}
		} else if (f->array) {
			fill_array(f, fl, p, depth);
		} else {
			fill_value(f, fl, p, depth);
		}
	}
}

/* A writer's content as one byte string (memory pieces only). */
static const uint8_t *wbuf_flat(const struct wbuf *w, size_t *len)
{
	for (size_t i = 0; i < w->npieces; i++)
		CHECK(w->pieces[i].file == NULL);
	*len = w->mem_len;
	CHECK(w->mem_len == w->total);
	return w->mem;
}

static void hexdump(const char *what, const uint8_t *p, size_t n)
{
	fprintf(stderr, "%s (%zu bytes):", what, n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%s%02x", i % 32 ? " " : "\n  ", p[i]);
	fprintf(stderr, "\n");
}

/* Encodes in, decodes, re-encodes; the two encodings must be equal, the
 * decoder must consume every byte, and every strict prefix must fail. */
static void roundtrip(const struct proto_msg *m, int16_t v, bool nulls)
{
	struct arena a;
	arena_init(&a);
	struct filler fl = { &a, v, 0, nulls };
	void *in = proto_new(m, v, &a);
	CHECK(in != NULL);
	fill_struct(&m->body, &fl, in, 0);

	struct wbuf w1, w2;
	wbuf_init(&w1);
	wbuf_init(&w2);
	CHECK_EQ(proto_encode(m, v, &w1, in), 0);
	size_t n1, n2;
	const uint8_t *b1 = wbuf_flat(&w1, &n1);

	void *out = arena_alloc(&a, m->body.size);
	struct rd r = rd_make(b1, n1);
	if (proto_decode(m, v, &r, &a, out) != 0) {
		fprintf(stderr, "%s v%d%s: decode of our own encoding failed\n", m->name, v, nulls ? " (nulls)" : "");
		hexdump("encoded", b1, n1);
		exit(1);
	}
	CHECK_EQ(rd_left(&r), 0);
	CHECK_EQ(proto_encode(m, v, &w2, out), 0);
	const uint8_t *b2 = wbuf_flat(&w2, &n2);
	if (n1 != n2 || (n1 && memcmp(b1, b2, n1) != 0)) {
		fprintf(stderr, "%s v%d%s: re-encoding differs\n", m->name, v, nulls ? " (nulls)" : "");
		hexdump("first", b1, n1);
		hexdump("second", b2, n2);
		exit(1);
	}
	/* Every strict prefix is a truncated message: it must fail cleanly. The
	 * prefix is copied to its own heap block so ASan sees any over-read. */
	for (size_t cut = 0; cut < n1; cut++) {
		uint8_t *p = malloc(cut ? cut : 1);
		if (cut)
			memcpy(p, b1, cut);
		struct rd rt = rd_make(p, cut);
		void *o = arena_alloc(&a, m->body.size);
		if (proto_decode(m, v, &rt, &a, o) == 0) {
			fprintf(stderr, "%s v%d: a prefix of %zu of %zu bytes decoded\n", m->name, v, cut, n1);
			exit(1);
		}
		free(p);
	}
	wbuf_fini(&w1);
	wbuf_fini(&w2);
	arena_fini(&a);
}

/* Decodes hex-free byte arrays: b(...) is a compound literal with a length. */
#define BYTES(...) ((const uint8_t[]){ __VA_ARGS__ }), sizeof((const uint8_t[]){ __VA_ARGS__ })

/* Decoded values point into their input, and a compound literal dies with
 * the statement: decode_bytes decodes from an exact-size heap copy (so ASan
 * sees any over-read) that lives until copies_free(). */
static void *copies[64];
static int ncopies;

static void copies_free(void)
{
	while (ncopies > 0)
		free(copies[--ncopies]);
}

static int decode_bytes(const struct proto_msg *m, int16_t v, const uint8_t *p, size_t n,
			struct arena *a, void *out, size_t *left)
{
	CHECK(ncopies < 64);
	uint8_t *q = copies[ncopies++] = malloc(n);
	memcpy(q, p, n);
	struct rd r = rd_make(q, n);
	int rc = proto_decode(m, v, &r, a, out);
	if (left)
		*left = rd_left(&r);
	return rc;
}

static bool kstr_eq(kstr s, const char *c) { return s.len == (int32_t)strlen(c) && memcmp(s.ptr, c, (size_t)s.len) == 0; }

/* ============================================================ round trips */

TEST(roundtrip_every_api_and_version)
{
	int apis = 0, pairs = 0;
	for (int16_t key = 0; key <= 100; key++) {
		const struct proto_api *api = proto_api_find(key);
		if (!api)
			continue;
		apis++;
		CHECK_EQ(api->key, key);
		CHECK_EQ(api->request->api_key, key);
		CHECK_EQ(api->response->api_key, key);
		const struct proto_msg *msgs[2] = { api->request, api->response };
		for (int i = 0; i < 2; i++) {
			for (int16_t v = msgs[i]->vmin; v <= msgs[i]->vmax; v++) {
				roundtrip(msgs[i], v, false);
				roundtrip(msgs[i], v, true);
				pairs++;
			}
		}
	}
	/* ours: Produce, Fetch, ListOffsets, Metadata, ApiVersions */
	CHECK(apis >= 5);
	CHECK(proto_api_find(PROTO_KEY_PRODUCE) && proto_api_find(PROTO_KEY_FETCH) &&
	      proto_api_find(PROTO_KEY_LIST_OFFSETS) && proto_api_find(PROTO_KEY_METADATA) &&
	      proto_api_find(PROTO_KEY_API_VERSIONS));
	printf("  %d APIs, %d message versions round-tripped\n", apis, pairs);
}

TEST(ranges_match_the_facts)
{
	/* PROTOCOL.md §2 and the brief: what we serve. */
	CHECK_EQ(proto_produce_request.vmin, 0);
	CHECK_EQ(proto_produce_request.vmax, 10);
	CHECK_EQ(proto_produce_request.flex_min, 9);
	CHECK_EQ(proto_fetch_request.vmin, 4);
	CHECK_EQ(proto_fetch_request.vmax, 12);
	CHECK_EQ(proto_fetch_response.flex_min, 12);
	CHECK_EQ(proto_list_offsets_request.vmax, 7);
	CHECK_EQ(proto_list_offsets_response.flex_min, 6);
	CHECK_EQ(proto_metadata_request.vmax, 12);
	CHECK_EQ(proto_metadata_response.flex_min, 9);
	CHECK_EQ(proto_api_versions_request.vmax, 4);
	CHECK_EQ(proto_api_versions_response.flex_min, 3);
	CHECK(proto_api_find(7) == NULL || proto_api_find(7)->key == 7);
	CHECK(proto_api_find(-1) == NULL);
	CHECK(proto_api_find(1000) == NULL);
}

/* ============================================================ known bytes */

/* ApiVersions v3 as librdkafka 2.0.2 sends it: request header v2 (client id
 * an int16-length string even though the header is flexible, then an empty
 * tagged-field section) and a flexible body of two compact strings. */
static const uint8_t rdkafka_apiversions[] = {
	0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01,       /* key 18, v3, correlation 1 */
	0x00, 0x07, 'r', 'd', 'k', 'a', 'f', 'k', 'a',        /* client id */
	0x00,                                                 /* header tags */
	0x0b, 'l', 'i', 'b', 'r', 'd', 'k', 'a', 'f', 'k', 'a', /* ClientSoftwareName */
	0x06, '2', '.', '0', '.', '2',                        /* ClientSoftwareVersion */
	0x00,                                                 /* body tags */
};

TEST(apiversions_v3_request_from_librdkafka)
{
	struct rd r = rd_make(rdkafka_apiversions, sizeof rdkafka_apiversions);
	struct req_header h;
	CHECK_EQ(proto_decode_req_header(&r, &h), 0);
	CHECK_EQ(h.api_key, 18);
	CHECK_EQ(h.api_version, 3);
	CHECK_EQ(h.correlation_id, 1);
	CHECK(kstr_eq(h.client_id, "rdkafka"));
	CHECK_EQ(rd_left(&r), 18);

	struct arena a;
	arena_init(&a);
	struct api_versions_request rq;
	CHECK_EQ(proto_decode(&proto_api_versions_request, 3, &r, &a, &rq), 0);
	CHECK_EQ(rd_left(&r), 0);
	CHECK(kstr_eq(rq.client_software_name, "librdkafka"));
	CHECK(kstr_eq(rq.client_software_version, "2.0.2"));

	/* And we write the same body back. */
	struct wbuf w;
	wbuf_init(&w);
	CHECK_EQ(proto_encode(&proto_api_versions_request, 3, &w, &rq), 0);
	size_t n;
	const uint8_t *b = wbuf_flat(&w, &n);
	CHECK_EQ(n, 18);
	CHECK(memcmp(b, rdkafka_apiversions + 18, 18) == 0);
	wbuf_fini(&w);
	copies_free();
	arena_fini(&a);
}

TEST(truncated_header_and_body_fail_at_every_length)
{
	for (size_t cut = 0; cut < sizeof rdkafka_apiversions; cut++) {
		uint8_t *p = malloc(cut ? cut : 1);
		memcpy(p, rdkafka_apiversions, cut);
		struct rd r = rd_make(p, cut);
		struct req_header h;
		int rc = proto_decode_req_header(&r, &h);
		if (cut < 18) {
			CHECK_EQ(rc, -1);
		} else {
			struct arena a;
			struct api_versions_request rq;
			arena_init(&a);
			CHECK_EQ(rc, 0);
			CHECK_EQ(proto_decode(&proto_api_versions_request, 3, &r, &a, &rq), -1);
			arena_fini(&a);
		}
		free(p);
	}
}

TEST(header_versions)
{
	CHECK_EQ(proto_request_header_version(PROTO_KEY_API_VERSIONS, 3), 2);
	CHECK_EQ(proto_request_header_version(PROTO_KEY_API_VERSIONS, 2), 1);
	/* A version above what we know uses the header of our max (KIP-511). */
	CHECK_EQ(proto_request_header_version(PROTO_KEY_API_VERSIONS, 9), 2);
	CHECK_EQ(proto_request_header_version(PROTO_KEY_METADATA, 8), 1);
	CHECK_EQ(proto_request_header_version(PROTO_KEY_METADATA, 9), 2);
	CHECK_EQ(proto_request_header_version(PROTO_KEY_FETCH, 3), 1);
	CHECK_EQ(proto_request_header_version(PROTO_KEY_FETCH, 12), 2);
	CHECK_EQ(proto_request_header_version(PROTO_KEY_PRODUCE, 9), 2);
	CHECK_EQ(proto_request_header_version(999, 0), 1);
	CHECK_EQ(proto_response_header_version(PROTO_KEY_API_VERSIONS, 3), 0);
	CHECK_EQ(proto_response_header_version(PROTO_KEY_API_VERSIONS, 4), 0);
	CHECK_EQ(proto_response_header_version(PROTO_KEY_METADATA, 8), 0);
	CHECK_EQ(proto_response_header_version(PROTO_KEY_METADATA, 9), 1);
	CHECK_EQ(proto_response_header_version(PROTO_KEY_LIST_OFFSETS, 6), 1);
	CHECK_EQ(proto_response_header_version(PROTO_KEY_FETCH, 11), 0);

	struct wbuf w;
	size_t n;
	wbuf_init(&w);
	proto_encode_resp_header(&w, 1, 0x01020304);
	const uint8_t *b = wbuf_flat(&w, &n);
	CHECK_EQ(n, 5);
	CHECK(memcmp(b, (const uint8_t[]){ 1, 2, 3, 4, 0 }, 5) == 0);
	wbuf_reset(&w);
	proto_encode_resp_header(&w, 0, -1);
	b = wbuf_flat(&w, &n);
	CHECK_EQ(n, 4);
	CHECK(memcmp(b, (const uint8_t[]){ 0xff, 0xff, 0xff, 0xff }, 4) == 0);
	wbuf_fini(&w);
}

TEST(apiversions_v9_header_still_parses)
{
	/* A future client's ApiVersions v9: header v2 with a tagged field. */
	const uint8_t hdr[] = { 0x00, 0x12, 0x00, 0x09, 0x00, 0x00, 0x00, 0x2a,
				0xff, 0xff,                 /* null client id */
				0x01, 0x03, 0x02, 0xaa, 0xbb, /* one unknown tag */
				0x77 };                     /* body starts here */
	struct rd r = rd_make(hdr, sizeof hdr);
	struct req_header h;
	CHECK_EQ(proto_decode_req_header(&r, &h), 0);
	CHECK_EQ(h.api_version, 9);
	CHECK_EQ(h.correlation_id, 42);
	CHECK_EQ(h.client_id.len, -1);
	CHECK_EQ(rd_left(&r), 1);
	/* An unknown API gets header v1: no tagged section is read. */
	const uint8_t unk[] = { 0x03, 0xe7, 0x00, 0x00, 0, 0, 0, 1, 0x00, 0x00, 0x01 };
	r = rd_make(unk, sizeof unk);
	CHECK_EQ(proto_decode_req_header(&r, &h), 0);
	CHECK_EQ(h.api_key, 999);
	CHECK_EQ(h.client_id.len, 0);
	CHECK_EQ(rd_left(&r), 1);
	/* A client id longer than the frame is malformed. */
	const uint8_t bad[] = { 0x00, 0x03, 0x00, 0x01, 0, 0, 0, 1, 0x00, 0x09, 'a' };
	r = rd_make(bad, sizeof bad);
	CHECK_EQ(proto_decode_req_header(&r, &h), -1);
	const uint8_t neg[] = { 0x00, 0x03, 0x00, 0x01, 0, 0, 0, 1, 0xff, 0xfe };
	r = rd_make(neg, sizeof neg);
	CHECK_EQ(proto_decode_req_header(&r, &h), -1);
}

TEST(metadata_v1_null_topics)
{
	struct arena a;
	struct metadata_request rq;
	size_t left;
	arena_init(&a);
	CHECK_EQ(decode_bytes(&proto_metadata_request, 1, BYTES(0xff, 0xff, 0xff, 0xff), &a, &rq, &left), 0);
	CHECK_EQ(left, 0);
	CHECK_EQ(rq.topics.count, -1);
	CHECK(rq.allow_auto_topic_creation); /* absent before v4: default true */
	/* In v0 null is not allowed (an empty array means all topics). */
	CHECK_EQ(decode_bytes(&proto_metadata_request, 0, BYTES(0xff, 0xff, 0xff, 0xff), &a, &rq, NULL), -1);
	CHECK_EQ(decode_bytes(&proto_metadata_request, 0, BYTES(0, 0, 0, 0), &a, &rq, NULL), 0);
	CHECK_EQ(rq.topics.count, 0);
	/* v1 with one topic "ab"; v4 adds the auto-creation flag. */
	CHECK_EQ(decode_bytes(&proto_metadata_request, 4, BYTES(0, 0, 0, 1, 0, 2, 'a', 'b', 0), &a, &rq, &left), 0);
	CHECK_EQ(left, 0);
	CHECK_EQ(rq.topics.count, 1);
	CHECK(kstr_eq(rq.topics.items[0].name, "ab"));
	CHECK(!rq.allow_auto_topic_creation);
	/* A count below -1 is malformed. */
	CHECK_EQ(decode_bytes(&proto_metadata_request, 1, BYTES(0xff, 0xff, 0xff, 0xfe), &a, &rq, NULL), -1);
	copies_free();
	arena_fini(&a);
}

TEST(huge_array_count_fails_without_allocating)
{
	struct arena a;
	struct metadata_request rq;
	arena_init(&a);
	size_t before = a.used;
	CHECK_EQ(decode_bytes(&proto_metadata_request, 1, BYTES(0x7f, 0xff, 0xff, 0xff, 0, 1, 'x'), &a, &rq, NULL), -1);
	CHECK_EQ(a.used, before);
	/* Flexible: uvarint 0x80000000 = count 0x7fffffff. */
	CHECK_EQ(decode_bytes(&proto_metadata_request, 9, BYTES(0x80, 0x80, 0x80, 0x80, 0x08, 0, 0), &a, &rq, NULL), -1);
	CHECK_EQ(a.used, before);
	/* Smallest element wire size counts too: 3 partitions of a Produce
	 * topic need at least 3 * 8 bytes, 10 are not enough. */
	struct produce_request pr;
	CHECK_EQ(decode_bytes(&proto_produce_request, 3,
			      BYTES(0xff, 0xff, 0, 1, 0, 0, 0, 0,   /* txn id null, acks 1, timeout 0 */
				    0, 0, 0, 1, 0, 1, 't',          /* one topic "t" */
				    0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
			      &a, &pr, NULL), -1);
	/* (the one topic was allocated; its partitions were not) */
	CHECK(a.used - before <= sizeof(struct produce_request_topic_produce_data) + 8);
	before = a.used;
	/* Metadata v1: 3 topics need at least 3 * 2 bytes; 5 bytes are left. */
	CHECK_EQ(decode_bytes(&proto_metadata_request, 1, BYTES(0, 0, 0, 3, 0, 0, 0, 0, 0), &a, &rq, NULL), -1);
	CHECK_EQ(a.used, before);
	CHECK_EQ(decode_bytes(&proto_metadata_request, 1, BYTES(0, 0, 0, 3, 0, 0, 0, 0, 0, 0), &a, &rq, NULL), 0);
	CHECK(a.used > before);
	copies_free();
	arena_fini(&a);
}

TEST(six_byte_varint_fails)
{
	struct arena a;
	struct api_versions_request rq;
	arena_init(&a);
	/* A compact string length in 6 bytes. */
	CHECK_EQ(decode_bytes(&proto_api_versions_request, 3,
			      BYTES(0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 'a', 0x01, 0x00), &a, &rq, NULL), -1);
	/* The same length value (0) in one byte would be a null: not allowed. */
	CHECK_EQ(decode_bytes(&proto_api_versions_request, 3, BYTES(0x00, 0x01, 0x00), &a, &rq, NULL), -1);
	/* A 5-byte varint for 1 (non-minimal but in range) is fine. */
	CHECK_EQ(decode_bytes(&proto_api_versions_request, 3,
			      BYTES(0x81, 0x80, 0x80, 0x80, 0x00, 0x01, 0x00), &a, &rq, NULL), 0);
	CHECK_EQ(rq.client_software_name.len, 0);
	/* A tag count in 6 bytes. */
	CHECK_EQ(decode_bytes(&proto_api_versions_request, 3,
			      BYTES(0x01, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00), &a, &rq, NULL), -1);
	copies_free();
	arena_fini(&a);
}

TEST(unknown_tags_skipped_known_tags_decoded)
{
	struct arena a;
	struct api_versions_request rq;
	size_t left;
	arena_init(&a);
	CHECK_EQ(decode_bytes(&proto_api_versions_request, 3,
			      BYTES(0x02, 'x', 0x02, 'y',
				    0x02,                       /* two tagged fields */
				    0x05, 0x03, 0xde, 0xad, 0xff, /* tag 5, 3 bytes */
				    0x87, 0x01, 0x00),          /* tag 135, empty */
			      &a, &rq, &left), 0);
	CHECK_EQ(left, 0);
	CHECK(kstr_eq(rq.client_software_name, "x"));
	CHECK(kstr_eq(rq.client_software_version, "y"));
	/* A tagged field whose size runs past the end is malformed. */
	CHECK_EQ(decode_bytes(&proto_api_versions_request, 3,
			      BYTES(0x02, 'x', 0x02, 'y', 0x01, 0x05, 0x09, 0x00), &a, &rq, NULL), -1);

	/* ApiVersions v3 response: FinalizedFeaturesEpoch (tag 1) and
	 * ZkMigrationReady (tag 3) known, tag 9 unknown. */
	struct api_versions_response resp;
	CHECK_EQ(decode_bytes(&proto_api_versions_response, 3,
			      BYTES(0x00, 0x00,                           /* error */
				    0x02, 0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00, /* [18: 0-4] */
				    0x00, 0x00, 0x00, 0x00,               /* throttle */
				    0x03,
				    0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 7,   /* epoch 7 */
				    0x03, 0x01, 0x01,                     /* zk ready */
				    0x09, 0x01, 0x55),
			      &a, &resp, &left), 0);
	CHECK_EQ(left, 0);
	CHECK_EQ(resp.api_keys.count, 1);
	CHECK_EQ(resp.api_keys.items[0].api_key, 18);
	CHECK_EQ(resp.api_keys.items[0].max_version, 4);
	CHECK_EQ(resp.finalized_features_epoch, 7);
	CHECK(resp.zk_migration_ready);
	CHECK_EQ(resp.supported_features.count, 0);
	/* A known tagged field that overruns its own size is malformed. */
	CHECK_EQ(decode_bytes(&proto_api_versions_response, 3,
			      BYTES(0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
				    0x01, 0x01, 0x04, 0, 0, 0, 0, 0, 0, 0, 7),
			      &a, &resp, NULL), -1);
	copies_free();
	arena_fini(&a);
}

TEST(fetch_v12_cluster_id_tag)
{
	struct arena a;
	struct fetch_request rq;
	size_t left;
	arena_init(&a);
	CHECK_EQ(decode_bytes(&proto_fetch_request, 12,
			      BYTES(0xff, 0xff, 0xff, 0xff,  /* replica -1 */
				    0, 0, 1, 0xf4, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff, /* wait 500, min 1, max */
				    0x01,                    /* read_committed */
				    0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, /* session 0, epoch -1 */
				    0x01,                    /* no topics */
				    0x01,                    /* no forgotten topics */
				    0x01,                    /* rack "" */
				    0x01, 0x00, 0x03, 0x03, 'c', 'k'), /* tag 0: ClusterId "ck" */
			      &a, &rq, &left), 0);
	CHECK_EQ(left, 0);
	CHECK(kstr_eq(rq.cluster_id, "ck"));
	CHECK_EQ(rq.replica_id, -1);
	CHECK_EQ(rq.max_wait_ms, 500);
	CHECK_EQ(rq.max_bytes, 0x7fffffff);
	CHECK_EQ(rq.isolation_level, 1);
	CHECK_EQ(rq.session_epoch, -1);
	CHECK_EQ(rq.topics.count, 0);
	CHECK_EQ(rq.rack_id.len, 0);
	/* v4 leaves the v7+ fields at their defaults. */
	CHECK_EQ(decode_bytes(&proto_fetch_request, 4,
			      BYTES(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0,
				    0, 0, 0, 0),
			      &a, &rq, &left), 0);
	CHECK_EQ(left, 0);
	CHECK_EQ(rq.session_epoch, -1);
	CHECK_EQ(rq.cluster_id.len, -1);
	CHECK_EQ(rq.max_bytes, 9);
	copies_free();
	arena_fini(&a);
}

TEST(null_where_not_allowed_fails)
{
	struct arena a;
	struct produce_request rq;
	arena_init(&a);
	/* Produce v9: a topic whose compact name is null (0). */
	CHECK_EQ(decode_bytes(&proto_produce_request, 9,
			      BYTES(0x00, 0x00, 0x01, 0, 0, 0, 0, 0x02, 0x00, 0x01, 0x00, 0x00),
			      &a, &rq, NULL), -1);
	/* ... and with name "t" and no partitions it decodes. */
	size_t left;
	CHECK_EQ(decode_bytes(&proto_produce_request, 9,
			      BYTES(0x00, 0x00, 0x01, 0, 0, 0, 0, 0x02, 0x02, 't', 0x01, 0x00, 0x00),
			      &a, &rq, &left), 0);
	CHECK_EQ(left, 0);
	CHECK_EQ(rq.transactional_id.len, -1);
	CHECK_EQ(rq.acks, 1);
	CHECK(kstr_eq(rq.topic_data.items[0].name, "t"));
	CHECK_EQ(rq.topic_data.items[0].partition_data.count, 0);
	copies_free();
	arena_fini(&a);
}

TEST(produce_v3_records_point_into_the_frame)
{
	uint8_t frame[] = { 0xff, 0xff, 0xff, 0xff, 0, 0, 0x75, 0x30, /* txn null, acks -1, 30000 */
			    0, 0, 0, 1, 0, 1, 't',
			    0, 0, 0, 1, 0, 0, 0, 2,                   /* partition 2 */
			    0, 0, 0, 3, 0xaa, 0xbb, 0xcc };           /* records */
	struct arena a;
	struct produce_request rq;
	arena_init(&a);
	struct rd r = rd_make(frame, sizeof frame);
	CHECK_EQ(proto_decode(&proto_produce_request, 3, &r, &a, &rq), 0);
	CHECK_EQ(rd_left(&r), 0);
	CHECK_EQ(rq.acks, -1);
	CHECK_EQ(rq.timeout_ms, 30000);
	krecords *rec = &rq.topic_data.items[0].partition_data.items[0].records;
	CHECK_EQ(rq.topic_data.items[0].partition_data.items[0].index, 2);
	CHECK_EQ(rec->len, 3);
	CHECK(rec->ptr == frame + sizeof frame - 3);
	CHECK(rec->file == NULL);
	copies_free();
	arena_fini(&a);
}

/* ---- encoding ---- */

static int release_calls;
static void fake_release(struct fileref *f) { (void)f; release_calls++; }

TEST(fetch_response_records_from_a_file)
{
	struct arena a;
	arena_init(&a);
	struct fileref file = { .fd = -1, .release = fake_release };
	atomic_init(&file.refs, 1);
	struct fetch_response *resp = proto_new(&proto_fetch_response, 11, &a);
	resp->responses.items = proto_new_array(&proto_fetch_response_fetchable_topic_response, 11, 1, &a);
	resp->responses.count = 1;
	resp->responses.items[0].topic = kstr_c("t");
	resp->responses.items[0].partitions.items = proto_new_array(&proto_fetch_response_partition_data, 11, 1, &a);
	resp->responses.items[0].partitions.count = 1;
	struct fetch_response_partition_data *pd = &resp->responses.items[0].partitions.items[0];
	CHECK_EQ(pd->last_stable_offset, -1);
	CHECK_EQ(pd->preferred_read_replica, -1);
	CHECK_EQ(pd->aborted_transactions.count, -1);
	CHECK_EQ(pd->diverging_epoch.epoch, -1);
	pd->high_watermark = 5;
	pd->records = (krecords){ NULL, 100, &file, 4096 };

	struct wbuf w;
	wbuf_init(&w);
	CHECK_EQ(proto_encode(&proto_fetch_response, 11, &w, resp), 0);
	CHECK_EQ(atomic_load(&file.refs), 2);
	CHECK_EQ(w.npieces, 2);
	CHECK(w.pieces[1].file == &file);
	CHECK_EQ(w.pieces[1].off, 4096);
	CHECK_EQ(w.pieces[1].len, 100);
	/* throttle, error, session, [1 topic "t" [partition 0 ...]] */
	const uint8_t want[] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 1,
		0, 0, 0, 0, 0, 0,                         /* partition 0, error 0 */
		0, 0, 0, 0, 0, 0, 0, 5,                   /* high watermark */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* last stable -1 */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* log start -1 */
		0xff, 0xff, 0xff, 0xff,                   /* aborted: null */
		0xff, 0xff, 0xff, 0xff,                   /* preferred replica -1 */
		0, 0, 0, 100,                             /* records length */
	};
	CHECK_EQ(w.pieces[0].len, sizeof want);
	CHECK(memcmp(w.mem, want, sizeof want) == 0);
	CHECK_EQ(wbuf_len(&w), sizeof want + 100);
	wbuf_fini(&w);
	CHECK_EQ(atomic_load(&file.refs), 1);
	CHECK_EQ(release_calls, 0);
	copies_free();
	arena_fini(&a);
}

TEST(tagged_fields_written_only_when_not_default)
{
	struct arena a;
	arena_init(&a);
	struct api_versions_response *resp = proto_new(&proto_api_versions_response, 3, &a);
	CHECK_EQ(resp->finalized_features_epoch, -1);
	resp->api_keys.items = proto_new_array(&proto_api_versions_response_api_version, 3, 1, &a);
	resp->api_keys.count = 1;
	resp->api_keys.items[0] = (struct api_versions_response_api_version){ 18, 0, 4 };
	struct wbuf w;
	size_t n;
	wbuf_init(&w);
	CHECK_EQ(proto_encode(&proto_api_versions_response, 3, &w, resp), 0);
	const uint8_t *b = wbuf_flat(&w, &n);
	const uint8_t want[] = { 0, 0, 0x02, 0, 0x12, 0, 0, 0, 4, 0x00, 0, 0, 0, 0, 0x00 };
	CHECK_EQ(n, sizeof want);
	CHECK(memcmp(b, want, n) == 0);

	/* Non-default: epoch 3 (tag 1) and one supported feature (tag 0),
	 * written in ascending tag order. */
	resp->finalized_features_epoch = 3;
	resp->supported_features.items = proto_new_array(&proto_api_versions_response_supported_feature_key, 3, 1, &a);
	resp->supported_features.count = 1;
	resp->supported_features.items[0] = (struct api_versions_response_supported_feature_key){ kstr_c("f"), 0, 1 };
	wbuf_reset(&w);
	CHECK_EQ(proto_encode(&proto_api_versions_response, 3, &w, resp), 0);
	b = wbuf_flat(&w, &n);
	const uint8_t want2[] = { 0, 0, 0x02, 0, 0x12, 0, 0, 0, 4, 0x00, 0, 0, 0, 0,
				  0x02,
				  0x00, 0x08, 0x02, 0x02, 'f', 0, 0, 0, 1, 0x00,
				  0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 3 };
	CHECK_EQ(n, sizeof want2);
	CHECK(memcmp(b, want2, n) == 0);

	/* v0 has none of it. */
	wbuf_reset(&w);
	CHECK_EQ(proto_encode(&proto_api_versions_response, 0, &w, resp), 0);
	b = wbuf_flat(&w, &n);
	const uint8_t want0[] = { 0, 0, 0, 0, 0, 1, 0, 0x12, 0, 0, 0, 4 };
	CHECK_EQ(n, sizeof want0);
	CHECK(memcmp(b, want0, n) == 0);
	wbuf_fini(&w);
	copies_free();
	arena_fini(&a);
}

TEST(fetch_v12_tagged_structs)
{
	struct arena a;
	arena_init(&a);
	struct fetch_response_partition_data *pd = proto_new_array(&proto_fetch_response_partition_data, 12, 1, &a);
	struct fetch_response *resp = proto_new(&proto_fetch_response, 12, &a);
	resp->responses.items = proto_new_array(&proto_fetch_response_fetchable_topic_response, 12, 1, &a);
	resp->responses.count = 1;
	resp->responses.items[0].partitions.items = pd;
	resp->responses.items[0].partitions.count = 1;
	struct wbuf w;
	size_t n1, n2;
	wbuf_init(&w);
	CHECK_EQ(proto_encode(&proto_fetch_response, 12, &w, resp), 0);
	wbuf_flat(&w, &n1);
	/* A diverging epoch makes the partition carry tag 0. */
	pd->diverging_epoch.epoch = 4;
	wbuf_reset(&w);
	CHECK_EQ(proto_encode(&proto_fetch_response, 12, &w, resp), 0);
	const uint8_t *b = wbuf_flat(&w, &n2);
	/* 1 tag + size + epoch 4 + end offset -1 + the struct's own tags */
	CHECK_EQ(n2, n1 + 2 + 4 + 8 + 1);
	struct rd r = rd_make(b, n2);
	struct fetch_response out;
	CHECK_EQ(proto_decode(&proto_fetch_response, 12, &r, &a, &out), 0);
	CHECK_EQ(rd_left(&r), 0);
	CHECK_EQ(out.responses.items[0].partitions.items[0].diverging_epoch.epoch, 4);
	CHECK_EQ(out.responses.items[0].partitions.items[0].diverging_epoch.end_offset, -1);
	CHECK_EQ(out.responses.items[0].partitions.items[0].current_leader.leader_id, -1);
	wbuf_fini(&w);
	copies_free();
	arena_fini(&a);
}

TEST(own_mistakes_still_encode_well_formed)
{
	/* A null name where v1 allows none, and a count with no items. */
	struct arena a;
	arena_init(&a);
	struct metadata_response *resp = proto_new(&proto_metadata_response, 1, &a);
	resp->topics.items = proto_new_array(&proto_metadata_response_metadata_response_topic, 1, 1, &a);
	resp->topics.count = 1;
	resp->topics.items[0].name = kstr_null();
	resp->topics.items[0].partitions.count = 3; /* items NULL */
	resp->brokers.count = -1;                   /* not nullable */
	struct wbuf w;
	size_t n;
	wbuf_init(&w);
	CHECK_EQ(proto_encode(&proto_metadata_response, 1, &w, resp), 0);
	const uint8_t *b = wbuf_flat(&w, &n);
	struct rd r = rd_make(b, n);
	struct metadata_response out;
	CHECK_EQ(proto_decode(&proto_metadata_response, 1, &r, &a, &out), 0);
	CHECK_EQ(rd_left(&r), 0);
	CHECK_EQ(out.brokers.count, 0);
	CHECK_EQ(out.topics.items[0].name.len, 0);
	CHECK_EQ(out.topics.items[0].partitions.count, 0);
	CHECK_EQ(out.controller_id, -1);
	wbuf_fini(&w);
	copies_free();
	arena_fini(&a);
}

TEST(version_outside_range_refused)
{
	struct arena a;
	struct fetch_request rq;
	struct wbuf w;
	arena_init(&a);
	wbuf_init(&w);
	CHECK_EQ(decode_bytes(&proto_fetch_request, 3, BYTES(0, 0, 0, 0), &a, &rq, NULL), -1);
	CHECK_EQ(decode_bytes(&proto_fetch_request, 13, BYTES(0, 0, 0, 0), &a, &rq, NULL), -1);
	void *p = proto_new(&proto_fetch_request, 4, &a);
	CHECK_EQ(proto_encode(&proto_fetch_request, 13, &w, p), -1);
	CHECK_EQ(wbuf_len(&w), 0);
	wbuf_fini(&w);
	copies_free();
	arena_fini(&a);
}

TEST(list_offsets_v0_old_style)
{
	struct arena a;
	struct list_offsets_request rq;
	size_t left;
	arena_init(&a);
	CHECK_EQ(decode_bytes(&proto_list_offsets_request, 0,
			      BYTES(0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 1,
				    0, 0, 0, 0,                                    /* partition 0 */
				    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, /* -2 earliest */
				    0, 0, 0, 1),                                   /* max offsets */
			      &a, &rq, &left), 0);
	CHECK_EQ(left, 0);
	CHECK_EQ(rq.replica_id, -1);
	struct list_offsets_request_list_offsets_partition *p = &rq.topics.items[0].partitions.items[0];
	CHECK_EQ(p->timestamp, -2);
	CHECK_EQ(p->max_num_offsets, 1);
	CHECK_EQ(p->current_leader_epoch, -1);
	copies_free();
	arena_fini(&a);
}

/* ======================================================= whole frames */

static void write_seed(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	CHECK_EQ(fwrite(p, 1, n, f), n);
	fclose(f);
}

/* Builds a request frame (header of the right version + filled body) for
 * every API and version, and decodes it the way the broker does: header,
 * then body at the header's version, consuming every byte. With
 * CODEC_SEED_DIR set it also writes the frames there, which is how the seed
 * corpus of fuzz/fuzz_request.c is made:
 *   CODEC_SEED_DIR=fuzz/corpus/fuzz_request build/tests/test_codec request_frames */
TEST(request_frames)
{
	const char *dir = getenv("CODEC_SEED_DIR");
	for (int16_t key = 0; key <= 100; key++) {
		const struct proto_api *api = proto_api_find(key);
		if (!api)
			continue;
		for (int16_t v = api->request->vmin; v <= api->request->vmax; v++) {
			struct arena a;
			struct wbuf w;
			arena_init(&a);
			wbuf_init(&w);
			struct filler fl = { &a, v, 0, false };
			void *in = proto_new(api->request, v, &a);
			fill_struct(&api->request->body, &fl, in, 0);
			wbuf_i16(&w, key);
			wbuf_i16(&w, v);
			wbuf_i32(&w, 1234);
			wbuf_i16(&w, 4);
			wbuf_bytes(&w, "seed", 4);
			if (proto_request_header_version(key, v) >= 2)
				wbuf_bytes(&w, (const uint8_t[]){ 0x01, 0x07, 0x01, 0x00 }, 4); /* unknown tag 7 */
			CHECK_EQ(proto_encode(api->request, v, &w, in), 0);

			struct rd r = rd_make(w.mem, w.mem_len);
			struct req_header h;
			CHECK_EQ(proto_decode_req_header(&r, &h), 0);
			CHECK_EQ(h.api_key, key);
			CHECK_EQ(h.api_version, v);
			CHECK_EQ(h.correlation_id, 1234);
			CHECK(kstr_eq(h.client_id, "seed"));
			void *out = arena_alloc(&a, api->request->body.size);
			CHECK_EQ(proto_decode(api->request, h.api_version, &r, &a, out), 0);
			CHECK_EQ(rd_left(&r), 0);
			if (dir) {
				char name[128];
				snprintf(name, sizeof name, "%s_v%d", api->name, v);
				write_seed(dir, name, w.mem, w.mem_len);
			}
			wbuf_fini(&w);
			arena_fini(&a);
		}
	}
	if (dir)
		write_seed(dir, "ApiVersions_v3_librdkafka", rdkafka_apiversions, sizeof rdkafka_apiversions);
}

UNIT_MAIN()
