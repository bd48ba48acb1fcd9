// deps: src/util src/record src/group
/*
 * test_gmsg.c — __consumer_offsets records: what we write (exact bytes
 * for the small cases, round trips for all), hand-built records of every
 * older version and of the flexible v4 values with tagged fields, every
 * truncation and an excess byte of each (-1), malformed lengths, counts
 * and versions, every single-byte corruption (no crash), Kafka's
 * partition for a group id, and batch_build_kv carrying such records.
 *
 * The hand-built byte strings are written from the field lists in gmsg.c's
 * design note (Kafka's JSON schemas), not produced by our encoder, so a
 * mistake in the encoder cannot hide in a matching mistake in a test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group/gmsg.h"
#include "record/batch.h"
#include "unit.h"
#include "util/buf.h"
#include "util/err.h"

/* ------------------------------------------------------------- fixture */

/* 1700000000000 ms = 0x0000018BCFE56800 */
#define TS_BYTES 0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00
#define TS 1700000000000LL

static struct arena arena;

static void fixture(void)
{
	arena_init(&arena);
}

static const uint8_t sub_bytes[] = { 0x00, 0x01, 0x00 };
static const uint8_t asg_bytes[] = { 0x00, 0x00, 0xff, 0x7f };

/* A Stable group with a static and a dynamic member. */
static struct group_snap_member snap_members[2] = {
	{ "m-1", "inst-1", "client-a", "/10.0.0.1", 30000, 10000, sub_bytes, 3, asg_bytes, 4 },
	{ "m-2", NULL, "client-b", "/10.0.0.2", 60000, 45000, sub_bytes, 1, NULL, 0 },
};
static const struct group_snap stable_snap = {
	"consumer", 7, "range", "m-1", TS, snap_members, 2,
};
static const struct group_snap empty_snap = { "", 0, NULL, NULL, 12, NULL, 0 };

/* ------------------------------------------------------------- helpers */

static void check_bytes(const struct wbuf *w, const uint8_t *want, size_t n)
{
	CHECK(!w->oom);
	CHECK_EQ(w->mem_len, n);
	for (size_t i = 0; i < n; i++) {
		if (w->mem[i] != want[i]) {
			fprintf(stderr, "byte %zu: 0x%02x, want 0x%02x\n", i, w->mem[i], want[i]);
			CHECK(0);
		}
	}
}

static void check_snap_eq(const struct group_snap *a, const struct group_snap *b)
{
	CHECK_STR(a->protocol_type, b->protocol_type ? b->protocol_type : "");
	CHECK_EQ(a->generation_id, b->generation_id);
	CHECK_EQ(a->protocol_name == NULL, b->protocol_name == NULL);
	if (a->protocol_name)
		CHECK_STR(a->protocol_name, b->protocol_name);
	CHECK_EQ(a->leader == NULL, b->leader == NULL);
	if (a->leader)
		CHECK_STR(a->leader, b->leader);
	CHECK_EQ(a->state_since_ms, b->state_since_ms);
	CHECK_EQ(a->nmembers, b->nmembers);
	for (int32_t i = 0; i < a->nmembers; i++) {
		const struct group_snap_member *x = &a->members[i], *y = &b->members[i];
		CHECK_STR(x->member_id, y->member_id);
		CHECK_EQ(x->group_instance_id == NULL, y->group_instance_id == NULL);
		if (x->group_instance_id)
			CHECK_STR(x->group_instance_id, y->group_instance_id);
		CHECK_STR(x->client_id, y->client_id);
		CHECK_STR(x->client_host, y->client_host);
		CHECK_EQ(x->rebalance_timeout_ms, y->rebalance_timeout_ms);
		CHECK_EQ(x->session_timeout_ms, y->session_timeout_ms);
		CHECK_EQ(x->subscription_len, y->subscription_len);
		CHECK(x->subscription_len == 0 || memcmp(x->subscription, y->subscription, (size_t)x->subscription_len) == 0);
		CHECK_EQ(x->assignment_len, y->assignment_len);
		CHECK(x->assignment_len == 0 || memcmp(x->assignment, y->assignment, (size_t)x->assignment_len) == 0);
	}
}

enum kind { K_KEY, K_OFFSET, K_GROUP };

static int decode(enum kind k, const uint8_t *p, size_t n)
{
	struct gmsg_key key;
	struct off_value v;
	struct group_snap s;
	switch (k) {
	case K_KEY: return gmsg_decode_key(p, n, &arena, &key);
	case K_OFFSET: return gmsg_decode_offset_value(p, n, &arena, &v);
	default: return gmsg_decode_group_value(p, n, &arena, &s);
	}
}

/* A valid record: decodes; every proper prefix and one excess byte do not.
 * Each prefix is copied to a heap buffer of exactly its size, so ASan sees
 * any read past it. */
static void check_truncations(enum kind k, const uint8_t *p, size_t n)
{
	CHECK_EQ(decode(k, p, n), 0);
	for (size_t len = 0; len < n; len++) {
		uint8_t *cut = malloc(len ? len : 1);
		CHECK(cut != NULL);
		memcpy(cut, p, len);
		if (decode(k, cut, len) != -1) {
			fprintf(stderr, "prefix of %zu/%zu bytes decoded\n", len, n);
			CHECK(0);
		}
		free(cut);
	}
	uint8_t *longer = malloc(n + 1);
	CHECK(longer != NULL);
	memcpy(longer, p, n);
	longer[n] = 0;
	CHECK_EQ(decode(k, longer, n + 1), -1);
	free(longer);
}

/* Every single-byte change of a valid record decodes or fails, and what
 * decodes is a well-formed structure (ASan watches the reads). Uses an
 * arena of its own, freed as it goes, so the caller's results stay. */
static void check_corruptions(enum kind k, const uint8_t *p, size_t n)
{
	struct arena own;
	arena_init(&own);
	uint8_t *b = malloc(n);
	CHECK(b != NULL);
	memcpy(b, p, n);
	for (size_t i = 0; i < n; i++) {
		for (int x = 1; x < 256; x++) {
			b[i] ^= (uint8_t)x;
			struct gmsg_key key;
			struct off_value v;
			struct group_snap s;
			int r = k == K_KEY ? gmsg_decode_key(b, n, &own, &key)
			      : k == K_OFFSET ? gmsg_decode_offset_value(b, n, &own, &v)
			      : gmsg_decode_group_value(b, n, &own, &s);
			CHECK(r == 0 || r == -1);
			if (r == 0 && k == K_OFFSET)
				CHECK(strlen(v.metadata) < n);
			if (r == 0 && k == K_GROUP) {
				CHECK(s.nmembers >= 0 && (size_t)s.nmembers <= n);
				for (int32_t m = 0; m < s.nmembers; m++)
					CHECK(strlen(s.members[m].member_id) < n &&
					      s.members[m].subscription_len >= 0 &&
					      (size_t)s.members[m].subscription_len < n);
			}
			b[i] ^= (uint8_t)x;
		}
		arena_fini(&own); /* keep memory flat */
	}
	free(b);
}

/* --------------------------------------------------------------- keys */

TEST(offset_key_bytes_and_round_trip)
{
	fixture();
	static const uint8_t want[] = {
		0x00, 0x01,                         /* OffsetCommitKey, version 1 */
		0x00, 0x02, 'g', '1',               /* group */
		0x00, 0x03, 't', 'o', 'p',          /* topic */
		0x00, 0x00, 0x00, 0x05,             /* partition */
	};
	struct wbuf w;
	wbuf_init(&w);
	gmsg_offset_key(&w, "g1", "top", 5);
	check_bytes(&w, want, sizeof want);
	struct gmsg_key k;
	CHECK_EQ(gmsg_decode_key(w.mem, w.mem_len, &arena, &k), 0);
	CHECK_EQ(k.kind, GMSG_KEY_OFFSET);
	CHECK_EQ(k.version, 1);
	CHECK_STR(k.group, "g1");
	CHECK_STR(k.topic, "top");
	CHECK_EQ(k.partition, 5);
	check_truncations(K_KEY, want, sizeof want);
	check_corruptions(K_KEY, want, sizeof want);
	wbuf_fini(&w);
	arena_fini(&arena);
}

TEST(offset_key_v0_decodes)
{
	fixture();
	static const uint8_t v0[] = {
		0x00, 0x00, 0x00, 0x01, 'g', 0x00, 0x00, /* group "g", topic "" */
		0xff, 0xff, 0xff, 0xff,                  /* partition -1 */
	};
	struct gmsg_key k;
	CHECK_EQ(gmsg_decode_key(v0, sizeof v0, &arena, &k), 0);
	CHECK_EQ(k.kind, GMSG_KEY_OFFSET);
	CHECK_EQ(k.version, 0);
	CHECK_STR(k.group, "g");
	CHECK_STR(k.topic, "");
	CHECK_EQ(k.partition, -1);
	check_truncations(K_KEY, v0, sizeof v0);
	arena_fini(&arena);
}

TEST(group_key_bytes_and_round_trip)
{
	fixture();
	static const uint8_t want[] = { 0x00, 0x02, 0x00, 0x03, 'g', 'r', 'p' };
	struct wbuf w;
	wbuf_init(&w);
	gmsg_group_key(&w, "grp");
	check_bytes(&w, want, sizeof want);
	struct gmsg_key k;
	CHECK_EQ(gmsg_decode_key(w.mem, w.mem_len, &arena, &k), 0);
	CHECK_EQ(k.kind, GMSG_KEY_GROUP);
	CHECK_EQ(k.version, 2);
	CHECK_STR(k.group, "grp");
	check_truncations(K_KEY, want, sizeof want);
	wbuf_fini(&w);
	arena_fini(&arena);
}

TEST(other_key_versions_are_unknown)
{
	fixture();
	static const int16_t versions[] = { 3, 4, 7, 100, -1, INT16_MIN };
	for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
		uint8_t b[5] = { (uint8_t)((uint16_t)versions[i] >> 8), (uint8_t)versions[i], 1, 2, 3 };
		struct gmsg_key k;
		CHECK_EQ(gmsg_decode_key(b, sizeof b, &arena, &k), 0);
		CHECK_EQ(k.kind, GMSG_KEY_UNKNOWN);
		CHECK_EQ(k.version, versions[i]);
		CHECK_EQ(gmsg_decode_key(b, 2, &arena, &k), 0);
		CHECK_EQ(gmsg_decode_key(b, 1, &arena, &k), -1);
	}
	arena_fini(&arena);
}

TEST(malformed_keys)
{
	fixture();
	struct gmsg_key k;
	static const uint8_t null_group[] = { 0x00, 0x02, 0xff, 0xff };
	static const uint8_t bad_len[] = { 0x00, 0x02, 0xff, 0xfe };
	static const uint8_t nul_inside[] = { 0x00, 0x02, 0x00, 0x03, 'a', 0x00, 'b' };
	static const uint8_t null_topic[] = { 0x00, 0x01, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 0 };
	static const uint8_t long_len[] = { 0x00, 0x02, 0x7f, 0xff, 'a' };
	CHECK_EQ(gmsg_decode_key(null_group, sizeof null_group, &arena, &k), -1);
	CHECK_EQ(gmsg_decode_key(bad_len, sizeof bad_len, &arena, &k), -1);
	CHECK_EQ(gmsg_decode_key(nul_inside, sizeof nul_inside, &arena, &k), -1);
	CHECK_EQ(gmsg_decode_key(null_topic, sizeof null_topic, &arena, &k), -1);
	CHECK_EQ(gmsg_decode_key(long_len, sizeof long_len, &arena, &k), -1);
	CHECK_EQ(gmsg_decode_key(NULL, 0, &arena, &k), -1);
	arena_fini(&arena);
}

/* ------------------------------------------------------- offset values */

TEST(offset_value_v3_bytes_and_round_trip)
{
	fixture();
	static const uint8_t want[] = {
		0x00, 0x03,                                     /* version 3 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, /* offset 256 */
		0x00, 0x00, 0x00, 0x09,                         /* leader epoch 9 */
		0x00, 0x02, 'm', 'd',                           /* metadata */
		TS_BYTES,                                       /* commit timestamp */
	};
	struct off_value v = { 256, 9, "md", TS, -1 }, got;
	struct wbuf w;
	wbuf_init(&w);
	gmsg_offset_value(&w, &v);
	check_bytes(&w, want, sizeof want);
	CHECK_EQ(gmsg_decode_offset_value(w.mem, w.mem_len, &arena, &got), 0);
	CHECK_EQ(got.offset, 256);
	CHECK_EQ(got.leader_epoch, 9);
	CHECK_STR(got.metadata, "md");
	CHECK_EQ(got.commit_ts_ms, TS);
	CHECK_EQ(got.expire_ts_ms, -1);
	check_truncations(K_OFFSET, want, sizeof want);
	wbuf_fini(&w);
	arena_fini(&arena);
}

/* An explicit expiry needs v1, which has no leader epoch: it reads back -1. */
TEST(offset_value_with_expiry_is_v1)
{
	fixture();
	static const uint8_t want[] = {
		0x00, 0x01,                                     /* version 1 */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* offset -1 */
		0x00, 0x00,                                     /* metadata "" */
		TS_BYTES,                                       /* commit timestamp */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* expire timestamp 0 */
	};
	struct off_value v = { -1, 4, "", TS, 0 }, got;
	struct wbuf w;
	wbuf_init(&w);
	gmsg_offset_value(&w, &v);
	check_bytes(&w, want, sizeof want);
	CHECK_EQ(gmsg_decode_offset_value(w.mem, w.mem_len, &arena, &got), 0);
	CHECK_EQ(got.offset, -1);
	CHECK_EQ(got.leader_epoch, -1);
	CHECK_STR(got.metadata, "");
	CHECK_EQ(got.expire_ts_ms, 0);
	check_truncations(K_OFFSET, want, sizeof want);
	wbuf_fini(&w);
	arena_fini(&arena);
}

TEST(offset_value_v0_v2_decode)
{
	fixture();
	static const uint8_t v0[] = {
		0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x64, 0x00, 0x01, 'x', TS_BYTES,
	};
	static const uint8_t v2[] = {
		0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0x65, 0x00, 0x00, TS_BYTES,
	};
	struct off_value got;
	CHECK_EQ(gmsg_decode_offset_value(v0, sizeof v0, &arena, &got), 0);
	CHECK_EQ(got.offset, 100);
	CHECK_EQ(got.leader_epoch, -1);
	CHECK_STR(got.metadata, "x");
	CHECK_EQ(got.commit_ts_ms, TS);
	CHECK_EQ(got.expire_ts_ms, -1);
	check_truncations(K_OFFSET, v0, sizeof v0);
	CHECK_EQ(gmsg_decode_offset_value(v2, sizeof v2, &arena, &got), 0);
	CHECK_EQ(got.offset, 101);
	CHECK_STR(got.metadata, "");
	CHECK_EQ(got.expire_ts_ms, -1);
	check_truncations(K_OFFSET, v2, sizeof v2);
	arena_fini(&arena);
}

TEST(offset_value_v4_flexible_with_tagged_fields)
{
	fixture();
	static const uint8_t v4[] = {
		0x00, 0x04,                                     /* version 4 */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, /* offset 42 */
		0x00, 0x00, 0x00, 0x03,                         /* leader epoch 3 */
		0x03, 'm', 'd',                                 /* compact string "md" */
		TS_BYTES,                                       /* commit timestamp */
		0x02,                                           /* two tagged fields */
		0x05, 0x02, 0xaa, 0xbb,                         /*   tag 5, 2 bytes */
		0x80, 0x01, 0x00,                               /*   tag 128, 0 bytes */
	};
	struct off_value got;
	CHECK_EQ(gmsg_decode_offset_value(v4, sizeof v4, &arena, &got), 0);
	CHECK_EQ(got.offset, 42);
	CHECK_EQ(got.leader_epoch, 3);
	CHECK_STR(got.metadata, "md");
	CHECK_EQ(got.commit_ts_ms, TS);
	CHECK_EQ(got.expire_ts_ms, -1);
	check_truncations(K_OFFSET, v4, sizeof v4);
	check_corruptions(K_OFFSET, v4, sizeof v4);

	/* The same with no tagged field. */
	uint8_t plain[sizeof v4];
	memcpy(plain, v4, 25); /* everything before the tagged fields */
	plain[25] = 0x00;
	CHECK_EQ(gmsg_decode_offset_value(plain, 26, &arena, &got), 0);
	CHECK_EQ(got.offset, 42);
	arena_fini(&arena);
}

TEST(malformed_offset_values)
{
	fixture();
	struct off_value got;
	static const uint8_t v5[] = { 0x00, 0x05, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, TS_BYTES };
	static const uint8_t vneg[] = { 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, TS_BYTES };
	static const uint8_t null_meta[] = { 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, TS_BYTES };
	static const uint8_t null_meta4[] = {
		0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x00, TS_BYTES, 0x00,
	};
	/* compact length 32768 + 1 = 0x8001 as uvarint: 0x81 0x80 0x02 */
	static const uint8_t long_meta4[] = {
		0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x81, 0x80, 0x02, 'x',
	};
	/* 200 tagged fields announced, 4 bytes left */
	static const uint8_t many_tags[] = {
		0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x01, TS_BYTES, 0xc8, 0x01, 0, 0, 0, 0,
	};
	/* a tagged field whose size runs past the end */
	static const uint8_t tag_overrun[] = {
		0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x01, TS_BYTES, 0x01, 0x00, 0x05, 0xaa,
	};
	/* a varint longer than five bytes as the compact string length */
	static const uint8_t long_varint[] = {
		0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
	};
	CHECK_EQ(gmsg_decode_offset_value(v5, sizeof v5, &arena, &got), -1);
	CHECK_EQ(gmsg_decode_offset_value(vneg, sizeof vneg, &arena, &got), -1);
	CHECK_EQ(gmsg_decode_offset_value(null_meta, sizeof null_meta, &arena, &got), -1);
	CHECK_EQ(gmsg_decode_offset_value(null_meta4, sizeof null_meta4, &arena, &got), -1);
	CHECK_EQ(gmsg_decode_offset_value(long_meta4, sizeof long_meta4, &arena, &got), -1);
	CHECK_EQ(gmsg_decode_offset_value(many_tags, sizeof many_tags, &arena, &got), -1);
	CHECK_EQ(gmsg_decode_offset_value(tag_overrun, sizeof tag_overrun, &arena, &got), -1);
	CHECK_EQ(gmsg_decode_offset_value(long_varint, sizeof long_varint, &arena, &got), -1);
	arena_fini(&arena);
}

/* -------------------------------------------------------- group values */

TEST(group_value_v3_round_trip)
{
	fixture();
	struct wbuf w;
	wbuf_init(&w);
	gmsg_group_value(&w, &stable_snap);
	CHECK(!w.oom);
	CHECK_EQ(w.mem[0], 0x00);
	CHECK_EQ(w.mem[1], 0x03);
	struct group_snap got;
	CHECK_EQ(gmsg_decode_group_value(w.mem, w.mem_len, &arena, &got), 0);
	check_snap_eq(&got, &stable_snap);
	check_truncations(K_GROUP, w.mem, w.mem_len);
	wbuf_fini(&w);
	arena_fini(&arena);
}

TEST(empty_group_value_bytes_and_round_trip)
{
	fixture();
	static const uint8_t want[] = {
		0x00, 0x03,                                     /* version 3 */
		0x00, 0x00,                                     /* protocol type "" */
		0x00, 0x00, 0x00, 0x00,                         /* generation 0 */
		0xff, 0xff,                                     /* protocol: null */
		0xff, 0xff,                                     /* leader: null */
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, /* current state timestamp 12 */
		0x00, 0x00, 0x00, 0x00,                         /* no members */
	};
	struct wbuf w;
	wbuf_init(&w);
	gmsg_group_value(&w, &empty_snap);
	check_bytes(&w, want, sizeof want);
	struct group_snap got;
	CHECK_EQ(gmsg_decode_group_value(want, sizeof want, &arena, &got), 0);
	check_snap_eq(&got, &empty_snap);
	CHECK(got.members == NULL);
	check_truncations(K_GROUP, want, sizeof want);
	/* A NULL protocol type is written as "" (the field is not nullable). */
	struct group_snap nulltype = empty_snap;
	nulltype.protocol_type = NULL;
	wbuf_reset(&w);
	gmsg_group_value(&w, &nulltype);
	check_bytes(&w, want, sizeof want);
	wbuf_fini(&w);
	arena_fini(&arena);
}

/* GroupMetadataValue v0: no rebalance timeout (it is the session
 * timeout), no state timestamp, no instance id. */
static const uint8_t group_v0[] = {
	0x00, 0x00,                                      /* version 0 */
	0x00, 0x08, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r', /* protocol type */
	0x00, 0x00, 0x00, 0x03,                          /* generation 3 */
	0x00, 0x05, 'r', 'a', 'n', 'g', 'e',             /* protocol */
	0x00, 0x02, 'm', '1',                            /* leader */
	0x00, 0x00, 0x00, 0x01,                          /* one member */
	0x00, 0x02, 'm', '1',                            /*   member id */
	0x00, 0x01, 'c',                                 /*   client id */
	0x00, 0x02, '/', 'h',                            /*   client host */
	0x00, 0x00, 0x27, 0x10,                          /*   session timeout 10000 */
	0x00, 0x00, 0x00, 0x02, 0x01, 0x02,              /*   subscription */
	0x00, 0x00, 0x00, 0x01, 0x09,                    /*   assignment */
};

static void check_v0_like(const struct group_snap *g, int32_t rebalance, int64_t since)
{
	CHECK_STR(g->protocol_type, "consumer");
	CHECK_EQ(g->generation_id, 3);
	CHECK_STR(g->protocol_name, "range");
	CHECK_STR(g->leader, "m1");
	CHECK_EQ(g->state_since_ms, since);
	CHECK_EQ(g->nmembers, 1);
	const struct group_snap_member *m = &g->members[0];
	CHECK_STR(m->member_id, "m1");
	CHECK(m->group_instance_id == NULL);
	CHECK_STR(m->client_id, "c");
	CHECK_STR(m->client_host, "/h");
	CHECK_EQ(m->session_timeout_ms, 10000);
	CHECK_EQ(m->rebalance_timeout_ms, rebalance);
	CHECK_EQ(m->subscription_len, 2);
	CHECK_EQ(m->subscription[1], 0x02);
	CHECK_EQ(m->assignment_len, 1);
	CHECK_EQ(m->assignment[0], 0x09);
}

TEST(group_value_v0_v1_v2_decode)
{
	fixture();
	struct group_snap got;
	CHECK_EQ(gmsg_decode_group_value(group_v0, sizeof group_v0, &arena, &got), 0);
	check_v0_like(&got, 10000, -1);
	check_truncations(K_GROUP, group_v0, sizeof group_v0);

	/* v1 = v0 plus a rebalance timeout before the session timeout. */
	uint8_t v1[sizeof group_v0 + 4];
	size_t at = 42; /* offset of the session timeout in group_v0 */
	CHECK_EQ(group_v0[at + 2], 0x27);
	memcpy(v1, group_v0, at);
	v1[1] = 1;
	memcpy(v1 + at, (const uint8_t[]){ 0x00, 0x00, 0x75, 0x30 }, 4); /* 30000 */
	memcpy(v1 + at + 4, group_v0 + at, sizeof group_v0 - at);
	CHECK_EQ(gmsg_decode_group_value(v1, sizeof v1, &arena, &got), 0);
	check_v0_like(&got, 30000, -1);
	check_truncations(K_GROUP, v1, sizeof v1);

	/* v2 = v1 plus the state timestamp after the leader. */
	uint8_t v2[sizeof v1 + 8];
	size_t lead_end = 27; /* offset just after the leader */
	CHECK_EQ(v1[lead_end + 3], 0x01); /* the member count follows */
	memcpy(v2, v1, lead_end);
	v2[1] = 2;
	memcpy(v2 + lead_end, (const uint8_t[]){ TS_BYTES }, 8);
	memcpy(v2 + lead_end + 8, v1 + lead_end, sizeof v1 - lead_end);
	CHECK_EQ(gmsg_decode_group_value(v2, sizeof v2, &arena, &got), 0);
	check_v0_like(&got, 30000, TS);
	check_truncations(K_GROUP, v2, sizeof v2);
	check_corruptions(K_GROUP, v2, sizeof v2);
	arena_fini(&arena);
}

TEST(group_value_v4_flexible_with_tagged_fields)
{
	fixture();
	static const uint8_t v4[] = {
		0x00, 0x04,                                      /* version 4 */
		0x09, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r',    /* protocol type */
		0x00, 0x00, 0x00, 0x03,                          /* generation 3 */
		0x06, 'r', 'a', 'n', 'g', 'e',                   /* protocol */
		0x00,                                            /* leader: null */
		TS_BYTES,                                        /* current state timestamp */
		0x03,                                            /* two members */
		0x03, 'm', '1',                                  /*   member id */
		0x05, 'i', 'n', 's', 't',                        /*   instance id */
		0x02, 'c',                                       /*   client id */
		0x03, '/', 'h',                                  /*   client host */
		0x00, 0x00, 0x75, 0x30,                          /*   rebalance timeout */
		0x00, 0x00, 0x27, 0x10,                          /*   session timeout */
		0x03, 0x01, 0x02,                                /*   subscription */
		0x01,                                            /*   assignment: empty */
		0x01, 0x00, 0x01, 0xff,                          /*   tagged: tag 0, 1 byte */
		0x03, 'm', '2',                                  /*   member id */
		0x00,                                            /*   instance id: null */
		0x01,                                            /*   client id "" */
		0x01,                                            /*   client host "" */
		0x00, 0x00, 0x00, 0x01,                          /*   rebalance timeout */
		0x00, 0x00, 0x00, 0x02,                          /*   session timeout */
		0x01,                                            /*   subscription: empty */
		0x02, 0x07,                                      /*   assignment */
		0x00,                                            /*   no tagged fields */
		0x01, 0x03, 0x00,                                /* tagged: tag 3, empty */
	};
	struct group_snap got;
	CHECK_EQ(gmsg_decode_group_value(v4, sizeof v4, &arena, &got), 0);
	CHECK_STR(got.protocol_type, "consumer");
	CHECK_EQ(got.generation_id, 3);
	CHECK_STR(got.protocol_name, "range");
	CHECK(got.leader == NULL);
	CHECK_EQ(got.state_since_ms, TS);
	CHECK_EQ(got.nmembers, 2);
	CHECK_STR(got.members[0].member_id, "m1");
	CHECK_STR(got.members[0].group_instance_id, "inst");
	CHECK_STR(got.members[0].client_host, "/h");
	CHECK_EQ(got.members[0].rebalance_timeout_ms, 30000);
	CHECK_EQ(got.members[0].session_timeout_ms, 10000);
	CHECK_EQ(got.members[0].subscription_len, 2);
	CHECK_EQ(got.members[0].assignment_len, 0);
	CHECK_STR(got.members[1].member_id, "m2");
	CHECK(got.members[1].group_instance_id == NULL);
	CHECK_STR(got.members[1].client_id, "");
	CHECK_EQ(got.members[1].subscription_len, 0);
	CHECK_EQ(got.members[1].assignment_len, 1);
	CHECK_EQ(got.members[1].assignment[0], 0x07);
	check_truncations(K_GROUP, v4, sizeof v4);
	check_corruptions(K_GROUP, v4, sizeof v4);

	/* What decoded re-encodes as v3 and reads back the same. */
	struct wbuf w;
	wbuf_init(&w);
	gmsg_group_value(&w, &got);
	struct group_snap again;
	CHECK_EQ(gmsg_decode_group_value(w.mem, w.mem_len, &arena, &again), 0);
	check_snap_eq(&again, &got);
	wbuf_fini(&w);
	arena_fini(&arena);
}

TEST(malformed_group_values)
{
	fixture();
	struct group_snap got;
	/* Members count 0x7fffffff with a few bytes left: refused before any
	 * allocation for it. */
	static const uint8_t huge_count[] = {
		0x00, 0x03, 0x00, 0x00, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, TS_BYTES,
		0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0,
	};
	static const uint8_t null_members[] = {
		0x00, 0x03, 0x00, 0x00, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, TS_BYTES,
		0xff, 0xff, 0xff, 0xff,
	};
	static const uint8_t null_type[] = {
		0x00, 0x03, 0xff, 0xff, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, TS_BYTES, 0, 0, 0, 0,
	};
	static const uint8_t null_members4[] = {
		0x00, 0x04, 0x01, 0, 0, 0, 0, 0x00, 0x00, TS_BYTES, 0x00, 0x00,
	};
	static const uint8_t v5[] = {
		0x00, 0x05, 0x00, 0x00, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, TS_BYTES, 0, 0, 0, 0,
	};
	CHECK_EQ(gmsg_decode_group_value(huge_count, sizeof huge_count, &arena, &got), -1);
	CHECK(arena.used < 64);
	CHECK_EQ(gmsg_decode_group_value(null_members, sizeof null_members, &arena, &got), -1);
	CHECK_EQ(gmsg_decode_group_value(null_type, sizeof null_type, &arena, &got), -1);
	CHECK_EQ(gmsg_decode_group_value(null_members4, sizeof null_members4, &arena, &got), -1);
	CHECK_EQ(gmsg_decode_group_value(v5, sizeof v5, &arena, &got), -1);

	/* A member with null subscription bytes (int32 -1). */
	uint8_t nullsub[sizeof group_v0];
	memcpy(nullsub, group_v0, sizeof nullsub);
	memset(nullsub + 46, 0xff, 4);
	CHECK_EQ(gmsg_decode_group_value(nullsub, sizeof nullsub, &arena, &got), -1);
	arena_fini(&arena);
}

/* ------------------------------------------------------------ encoders */

TEST(string_too_long_fails_the_writer)
{
	char *big = malloc(40000);
	CHECK(big != NULL);
	memset(big, 'g', 39999);
	big[39999] = '\0';
	struct wbuf w;
	wbuf_init(&w);
	gmsg_group_key(&w, big);
	CHECK(w.oom);
	wbuf_fini(&w);
	big[32767] = '\0'; /* the longest that fits */
	wbuf_init(&w);
	gmsg_group_key(&w, big);
	CHECK(!w.oom);
	CHECK_EQ(w.mem_len, 2 + 2 + 32767);
	wbuf_fini(&w);
	free(big);
}

/* ----------------------------------------------------------- partition */

/* Expected values from an independent Python model of Java's
 * String.hashCode: the id's bytes decoded with
 * bytes.decode('utf-8', errors='replace') (one U+FFFD per maximal
 * subpart), encoded as UTF-16-BE, h = (31 * h + unit) mod 2^32 over the
 * code units, read as a signed int; then Kafka's Utils.abs (INT32_MIN -> 0)
 * mod n. "polygenelubricants" is the well-known id whose hashCode is
 * Integer.MIN_VALUE. */
struct part_case { const char *id; int32_t p50, p7; };
static const struct part_case part_cases[] = {
	{ "my-group", 12, 1 },                  /* hashCode -1906497762 */
	{ "", 0, 0 },                           /* 0 */
	{ "gr\xc3\xbc\xc3\x9f" "e", 23, 4 },    /* "grüße", 98768023 */
	{ "\xf0\x9f\x98\x80-group", 43, 3 },    /* U+1F600 then "-group": a surrogate pair, -1198440043 */
	{ "polygenelubricants", 0, 0 },         /* INT32_MIN */
	{ "console-consumer-12345", 6, 6 },     /* 158455506 */
	{ "a\xff" "b", 38, 2 },                 /* a U+FFFD b, 2124838 */
	{ "\xe2\x82", 33, 6 },                  /* truncated 3-byte sequence: one U+FFFD */
	{ "\xf0\x9f\x98", 33, 6 },              /* truncated 4-byte sequence: one U+FFFD */
	{ "\xe0\x80\xaf", 19, 1 },              /* overlong: three U+FFFD, 65074269 */
	{ "\xed\xa0\x80x", 9, 4 },              /* encoded surrogate: three U+FFFD then x */
	{ "\xc0\xaf", 6, 3 },                   /* C0 is never valid: two U+FFFD */
	{ "\xf4\x90\x80\x80", 22, 2 },          /* above U+10FFFF: four U+FFFD */
};

TEST(partition_for_matches_kafka)
{
	for (size_t i = 0; i < sizeof part_cases / sizeof part_cases[0]; i++) {
		const struct part_case *c = &part_cases[i];
		if (gmsg_partition_for(c->id, 50) != c->p50 || gmsg_partition_for(c->id, 7) != c->p7) {
			fprintf(stderr, "case %zu: %d %d, want %d %d\n", i, gmsg_partition_for(c->id, 50),
			        gmsg_partition_for(c->id, 7), c->p50, c->p7);
			CHECK(0);
		}
		CHECK_EQ(gmsg_partition_for(c->id, 1), 0);
	}
}

/* ------------------------------------------------------- batch_build_kv */

TEST(batch_build_kv_carries_records)
{
	fixture();
	struct wbuf k0, v0, k1;
	wbuf_init(&k0);
	wbuf_init(&v0);
	wbuf_init(&k1);
	gmsg_offset_key(&k0, "g", "t", 0);
	struct off_value ov = { 5, -1, "", TS, -1 };
	gmsg_offset_value(&v0, &ov);
	gmsg_group_key(&k1, "g");
	static const uint8_t zero[] = { 0x00 };
	struct batch_kv recs[3] = {
		{ k0.mem, k0.mem_len, v0.mem, v0.mem_len },
		{ k1.mem, k1.mem_len, NULL, 0 },  /* tombstone */
		{ NULL, 0, zero, 0 },             /* null key, empty (not null) value */
	};
	size_t n;
	uint8_t *b = batch_build_kv(100, TS, 3, recs, &n);
	CHECK(b != NULL);
	struct batch_hdr h;
	CHECK_EQ(batch_validate(b, n, &h), KAFKA_NONE);
	CHECK_EQ(h.records_count, 3);
	CHECK_EQ(h.base_offset, 100);
	CHECK_EQ(h.base_timestamp, TS);

	size_t pos = 0;
	struct record_view rec;
	struct gmsg_key key;
	struct off_value got;
	CHECK_EQ(batch_next_record(b + BATCH_HEADER_SIZE, n - BATCH_HEADER_SIZE, &pos, &rec), 0);
	CHECK_EQ(gmsg_decode_key(rec.key, (size_t)rec.key_len, &arena, &key), 0);
	CHECK_EQ(key.kind, GMSG_KEY_OFFSET);
	CHECK_STR(key.topic, "t");
	CHECK_EQ(gmsg_decode_offset_value(rec.value, (size_t)rec.value_len, &arena, &got), 0);
	CHECK_EQ(got.offset, 5);
	CHECK_EQ(batch_next_record(b + BATCH_HEADER_SIZE, n - BATCH_HEADER_SIZE, &pos, &rec), 0);
	CHECK_EQ(rec.offset_delta, 1);
	CHECK_EQ(gmsg_decode_key(rec.key, (size_t)rec.key_len, &arena, &key), 0);
	CHECK_EQ(key.kind, GMSG_KEY_GROUP);
	CHECK_EQ(rec.value_len, -1);
	CHECK(rec.value == NULL);
	CHECK_EQ(batch_next_record(b + BATCH_HEADER_SIZE, n - BATCH_HEADER_SIZE, &pos, &rec), 0);
	CHECK_EQ(rec.key_len, -1);
	CHECK_EQ(rec.value_len, 0);
	CHECK_EQ(batch_next_record(b + BATCH_HEADER_SIZE, n - BATCH_HEADER_SIZE, &pos, &rec), 1);
	free(b);

	/* Binary bytes (a NUL inside) survive; no records and NULL recs work. */
	static const uint8_t bin[] = { 'a', 0x00, 'b' };
	struct batch_kv one = { bin, sizeof bin, bin, 1 };
	b = batch_build_kv(0, 0, 1, &one, &n);
	CHECK(b != NULL);
	CHECK_EQ(batch_validate(b, n, NULL), KAFKA_NONE);
	pos = 0;
	CHECK_EQ(batch_next_record(b + BATCH_HEADER_SIZE, n - BATCH_HEADER_SIZE, &pos, &rec), 0);
	CHECK_EQ(rec.key_len, 3);
	CHECK(memcmp(rec.key, bin, 3) == 0);
	CHECK_EQ(rec.value_len, 1);
	free(b);
	b = batch_build_kv(0, 0, 0, NULL, &n);
	CHECK(b != NULL);
	CHECK_EQ(batch_validate(b, n, &h), KAFKA_NONE);
	CHECK_EQ(h.records_count, 0);
	free(b);
	b = batch_build_kv(0, 0, 2, NULL, &n);
	CHECK(b != NULL);
	CHECK_EQ(batch_validate(b, n, &h), KAFKA_NONE);
	CHECK_EQ(h.records_count, 2);
	free(b);
	CHECK(batch_build_kv(0, 0, -1, recs, &n) == NULL);
	wbuf_fini(&k0);
	wbuf_fini(&v0);
	wbuf_fini(&k1);
	arena_fini(&arena);
}

/* ------------------------------------------------------------ seeds */

/* The fuzz seeds are valid records of the kind their name starts with
 * (key_, offset_, group_), so the fuzzer starts from every version. */
TEST(fuzz_seed_corpus_decodes)
{
	DIR *d = opendir("fuzz/corpus/fuzz_gmsg");
	if (d == NULL)
		return; /* not run from the repository root */
	fixture();
	struct dirent *e;
	int files = 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char path[512];
		static uint8_t buf[65536];
		snprintf(path, sizeof path, "fuzz/corpus/fuzz_gmsg/%s", e->d_name);
		FILE *f = fopen(path, "rb");
		CHECK(f != NULL);
		size_t n = fread(buf, 1, sizeof buf, f);
		fclose(f);
		enum kind k = strncmp(e->d_name, "key_", 4) == 0 ? K_KEY
			    : strncmp(e->d_name, "offset_", 7) == 0 ? K_OFFSET : K_GROUP;
		if (decode(k, buf, n) != 0) {
			fprintf(stderr, "%s does not decode\n", path);
			CHECK(0);
		}
		files++;
	}
	closedir(d);
	CHECK(files >= 10);
	arena_fini(&arena);
}

UNIT_MAIN()
