// fuzz-deps: src/util src/group
/*
 * fuzz_gmsg.c — libFuzzer target for the __consumer_offsets record decoders
 * (src/group/gmsg.c), which read the internal topic at start-up: bytes a
 * broker wrote, or any broker that shared the log dir, or a disk that
 * flipped bits.
 *
 * Each input is decoded three ways: as a key, as an OffsetCommitValue and
 * as a GroupMetadataValue. Whatever decodes must re-encode (with what we
 * write: key v1/v2, offset value v3 or v1, group value v3) without failing
 * the writer, and the re-encoded bytes must decode to the same fields —
 * except the leader epoch of an offset with an expire timestamp, which v1
 * cannot carry (-1). The group id of a decoded key, and the input read as
 * a C string, must map to a partition in [0, n) for a few n.
 * An invariant that breaks prints "fuzz_gmsg: ..." and aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group/gmsg.h"
#include "util/buf.h"

#define FAIL(what) do { fprintf(stderr, "fuzz_gmsg: %s\n", what); abort(); } while (0)

static bool str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool bytes_eq(const uint8_t *a, int32_t alen, const uint8_t *b, int32_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, (size_t)alen) == 0);
}

static void check_partition(const char *id)
{
	static const int32_t ns[] = { 1, 7, 50, INT32_MAX };
	for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
		int32_t p = gmsg_partition_for(id, ns[i]);
		if (p < 0 || p >= ns[i])
			FAIL("partition out of range");
	}
}

static void fuzz_key(const uint8_t *data, size_t size, struct arena *a)
{
	struct gmsg_key k, k2;
	if (gmsg_decode_key(data, size, a, &k) != 0 || k.kind == GMSG_KEY_UNKNOWN)
		return;
	struct wbuf w;
	wbuf_init(&w);
	if (k.kind == GMSG_KEY_OFFSET)
		gmsg_offset_key(&w, k.group, k.topic, k.partition);
	else
		gmsg_group_key(&w, k.group);
	if (w.oom)
		FAIL("key: re-encoding failed");
	if (gmsg_decode_key(w.mem, w.mem_len, a, &k2) != 0)
		FAIL("key: re-encoded key does not decode");
	if (k2.kind != k.kind || !str_eq(k2.group, k.group) ||
	    (k.kind == GMSG_KEY_OFFSET && (!str_eq(k2.topic, k.topic) || k2.partition != k.partition)))
		FAIL("key: round trip changed a field");
	check_partition(k.group);
	wbuf_fini(&w);
}

static void fuzz_offset_value(const uint8_t *data, size_t size, struct arena *a)
{
	struct off_value v, v2;
	if (gmsg_decode_offset_value(data, size, a, &v) != 0)
		return;
	if (v.metadata == NULL)
		FAIL("offset value: NULL metadata");
	struct wbuf w;
	wbuf_init(&w);
	gmsg_offset_value(&w, &v);
	if (w.oom)
		FAIL("offset value: re-encoding failed");
	if (gmsg_decode_offset_value(w.mem, w.mem_len, a, &v2) != 0)
		FAIL("offset value: re-encoded value does not decode");
	int32_t epoch = v.expire_ts_ms >= 0 ? -1 : v.leader_epoch; /* v1 has none */
	if (v2.offset != v.offset || v2.leader_epoch != epoch || !str_eq(v2.metadata, v.metadata) ||
	    v2.commit_ts_ms != v.commit_ts_ms || v2.expire_ts_ms != (v.expire_ts_ms >= 0 ? v.expire_ts_ms : -1))
		FAIL("offset value: round trip changed a field");
	wbuf_fini(&w);
}

static bool member_eq(const struct group_snap_member *x, const struct group_snap_member *y)
{
	return str_eq(x->member_id, y->member_id) && str_eq(x->group_instance_id, y->group_instance_id) &&
	       str_eq(x->client_id, y->client_id) && str_eq(x->client_host, y->client_host) &&
	       x->rebalance_timeout_ms == y->rebalance_timeout_ms &&
	       x->session_timeout_ms == y->session_timeout_ms &&
	       bytes_eq(x->subscription, x->subscription_len, y->subscription, y->subscription_len) &&
	       bytes_eq(x->assignment, x->assignment_len, y->assignment, y->assignment_len);
}

static void fuzz_group_value(const uint8_t *data, size_t size, struct arena *a)
{
	struct group_snap s, s2;
	if (gmsg_decode_group_value(data, size, a, &s) != 0)
		return;
	if (s.protocol_type == NULL || s.nmembers < 0 || (size_t)s.nmembers > size)
		FAIL("group value: bad protocol type or member count");
	struct wbuf w;
	wbuf_init(&w);
	gmsg_group_value(&w, &s);
	if (w.oom)
		FAIL("group value: re-encoding failed");
	if (gmsg_decode_group_value(w.mem, w.mem_len, a, &s2) != 0)
		FAIL("group value: re-encoded value does not decode");
	if (!str_eq(s2.protocol_type, s.protocol_type) || s2.generation_id != s.generation_id ||
	    !str_eq(s2.protocol_name, s.protocol_name) || !str_eq(s2.leader, s.leader) ||
	    s2.state_since_ms != s.state_since_ms || s2.nmembers != s.nmembers)
		FAIL("group value: round trip changed a field");
	for (int32_t i = 0; i < s.nmembers; i++)
		if (!member_eq(&s.members[i], &s2.members[i]))
			FAIL("group value: round trip changed a member");
	wbuf_fini(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena a;
	arena_init(&a);
	fuzz_key(data, size, &a);
	fuzz_offset_value(data, size, &a);
	fuzz_group_value(data, size, &a);
	arena_fini(&a);

	char *id = malloc(size + 1); /* the input as a group id */
	if (id != NULL) {
		memcpy(id, data, size);
		id[size] = '\0';
		check_partition(id);
		free(id);
	}
	return 0;
}
