/*
 * gmsg.c — __consumer_offsets keys and values in Kafka's format (gmsg.h).
 *
 * Schemas: apache/kafka, group-coordinator/src/main/resources/common/
 * message/{OffsetCommitKey,GroupMetadataKey,OffsetCommitValue,
 * GroupMetadataValue}.json. A key's leading int16 names the record type
 * (the JSON's "apiKey": OffsetCommitKey 1, GroupMetadataKey 2; Kafka also
 * reads key version 0 as an OffsetCommitKey of the same layout); keys are
 * never flexible. Field lists (name, type, versions):
 *
 *   OffsetCommitKey      group string, topic string, partition int32
 *   GroupMetadataKey     group string
 *   OffsetCommitValue    validVersions 0-4, flexibleVersions 4+
 *     offset int64 0+ | leaderEpoch int32 3+ (default -1) | metadata string 0+
 *     | commitTimestamp int64 0+ | expireTimestamp int64 1 only (default -1)
 *   GroupMetadataValue   validVersions 0-4, flexibleVersions 4+
 *     protocolType string 0+ | generation int32 0+ | protocol string 0+,
 *     nullable | leader string 0+, nullable | currentStateTimestamp int64 2+
 *     (default -1) | members []MemberMetadata 0+
 *   MemberMetadata
 *     memberId string 0+ | groupInstanceId string 3+, nullable (default
 *     null) | clientId string 0+ | clientHost string 0+ | rebalanceTimeout
 *     int32 1+ | sessionTimeout int32 0+ | subscription bytes 0+ |
 *     assignment bytes 0+
 *
 * Encodings of a field by version:
 *
 *              classic (v0-3)              flexible (v4)
 *   string     int16 len, bytes; -1 null   uvarint len+1, bytes; 0 null
 *   bytes      int32 len, bytes; -1 null   uvarint len+1, bytes; 0 null
 *   array      int32 count; -1 null        uvarint count+1; 0 null
 *   struct     its fields                  its fields, then tagged fields:
 *                                          uvarint n, n x (uvarint tag,
 *                                          uvarint size, size bytes)
 *
 *   +----------------+--------------------------------------------------+
 *   | int16 version  | the fields of that version, in the order above   |
 *   +----------------+--------------------------------------------------+
 *
 * The tagged-field sections end the value and each member. These schemas
 * define no tagged field, so every one is skipped.
 *
 * What we write: OffsetCommitKey 1; OffsetCommitValue 3, or 1 when an
 * explicit expire timestamp is set (v1 has no leader epoch: it is lost, as
 * in Kafka, which picks the version the same way); GroupMetadataKey 2;
 * GroupMetadataValue 3. A string longer than 32767 bytes cannot be written
 * as an int16-length string: the encoder then fails the writer (w->oom),
 * so no unreadable record is produced. Callers bound ids before that
 * (GROUP_MAX_STR_LEN, offset metadata limits).
 *
 * A record decodes (0) only when:
 *  1. every length and count fits in the bytes that remain, checked before
 *     it is used — a count before anything is allocated for it;
 *  2. every string is at most 32767 bytes (Kafka's generated readers refuse
 *     longer ones) and holds no NUL byte: ours are C strings, and a NUL
 *     would silently shorten an id (two groups merging into one);
 *  3. non-nullable strings, bytes and arrays are not null;
 *  4. a value's version is 0-4 (Kafka throws on others too);
 *  5. the record ends exactly where its last field ends. Kafka ignores
 *     trailing bytes, but no writer adds any: they mean a misread version.
 * Otherwise it is -1 (also when the arena runs out). A key of a version
 * other than 0-2 — later record types such as KIP-848's consumer-group
 * records — is GMSG_KEY_UNKNOWN and not read further.
 *
 * Fields a version lacks get the JSON's defaults: leader_epoch -1,
 * expire_ts_ms -1, state_since_ms -1 (currentStateTimestamp),
 * group_instance_id NULL; a v0 member's rebalance timeout is its session
 * timeout (what Kafka's loader does for v0).
 *
 * All functions are pure over their arguments: any thread.
 */
#include "group/gmsg.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>

#include "util/jhash.h"

enum {
	KEY_OFFSET_V0 = 0,
	KEY_OFFSET_V1 = 1,
	KEY_GROUP = 2,
	VALUE_MAX_VERSION = 4,
	VALUE_FIRST_FLEXIBLE = 4,
	STR_MAX = 32767,
	/* Fewest bytes a member takes in any version: two int32s (v1+:
	 * rebalance and session timeouts; v0: session timeout plus the int32
	 * length of subscription). Bounds a member count by what remains. */
	MEMBER_MIN_BYTES = 8,
};

/* ============================================================== encoders */

/* A classic string; NULL writes null (-1). */
static void put_str(struct wbuf *w, const char *s)
{
	if (s == NULL) {
		wbuf_i16(w, -1);
		return;
	}
	size_t len = strlen(s);
	if (len > STR_MAX) {
		w->oom = true; /* not representable: write nothing readable */
		return;
	}
	wbuf_i16(w, (int16_t)len);
	wbuf_bytes(w, s, len);
}

/* A non-nullable string: NULL is written as "". */
static void put_str_nn(struct wbuf *w, const char *s)
{
	put_str(w, s != NULL ? s : "");
}

static void put_bytes(struct wbuf *w, const uint8_t *p, int32_t len)
{
	assert(len >= 0 && (len == 0 || p != NULL)); /* our own snapshot */
	wbuf_i32(w, len);
	wbuf_bytes(w, p, (size_t)len);
}

void gmsg_offset_key(struct wbuf *w, const char *group, const char *topic, int32_t partition)
{
	wbuf_i16(w, KEY_OFFSET_V1);
	put_str_nn(w, group);
	put_str_nn(w, topic);
	wbuf_i32(w, partition);
}

void gmsg_offset_value(struct wbuf *w, const struct off_value *v)
{
	bool v1 = v->expire_ts_ms >= 0;
	wbuf_i16(w, v1 ? 1 : 3);
	wbuf_i64(w, v->offset);
	if (!v1)
		wbuf_i32(w, v->leader_epoch);
	put_str_nn(w, v->metadata);
	wbuf_i64(w, v->commit_ts_ms);
	if (v1)
		wbuf_i64(w, v->expire_ts_ms);
}

void gmsg_group_key(struct wbuf *w, const char *group)
{
	wbuf_i16(w, KEY_GROUP);
	put_str_nn(w, group);
}

static void put_member(struct wbuf *w, const struct group_snap_member *m)
{
	put_str_nn(w, m->member_id);
	put_str(w, m->group_instance_id);
	put_str_nn(w, m->client_id);
	put_str_nn(w, m->client_host);
	wbuf_i32(w, m->rebalance_timeout_ms);
	wbuf_i32(w, m->session_timeout_ms);
	put_bytes(w, m->subscription, m->subscription_len);
	put_bytes(w, m->assignment, m->assignment_len);
}

void gmsg_group_value(struct wbuf *w, const struct group_snap *s)
{
	assert(s->nmembers >= 0);
	wbuf_i16(w, 3);
	put_str_nn(w, s->protocol_type);
	wbuf_i32(w, s->generation_id);
	put_str(w, s->protocol_name);
	put_str(w, s->leader);
	wbuf_i64(w, s->state_since_ms);
	wbuf_i32(w, s->nmembers);
	for (int32_t i = 0; i < s->nmembers; i++)
		put_member(w, &s->members[i]);
}

/* ============================================================== decoders */

/* A reader of one record. Any failure — short input, a rule above broken,
 * arena exhausted — latches r.err, after which every read returns zero and
 * the caller tests the error once at the end. */
struct grd {
	struct rd r;
	struct arena *a;
	bool flex;     /* compact encodings and tagged fields (v4 values) */
};

static void grd_fail(struct grd *g)
{
	g->r.err = RD_ERR;
}

/* True when everything read well and nothing is left over (rule 5). */
static bool grd_done(const struct grd *g)
{
	return g->r.err == RD_OK && rd_left(&g->r) == 0;
}

/* A length prefix: -1 for null, else the length (>= 0); -2 after a failure
 * or for a classic length below -1. */
static int64_t get_len(struct grd *g, bool wide)
{
	return rd_kafka_len(&g->r, g->flex, wide);
}

/* A string copied into the arena; NULL for null (only when nullable) or
 * after a failure (then latched). */
static char *get_str(struct grd *g, bool nullable)
{
	int64_t len = get_len(g, false);
	if (len == -1 && nullable)
		return NULL;
	if (len < 0 || len > STR_MAX) {
		grd_fail(g);
		return NULL;
	}
	const uint8_t *p = rd_take(&g->r, (size_t)len);
	if (p == NULL)
		return NULL;
	char *s = memchr(p, 0, (size_t)len) ? NULL : arena_strndup(g->a, (const char *)p, (size_t)len);
	if (s == NULL)
		grd_fail(g);
	return s;
}

/* Non-nullable bytes, in place in the input. */
static const uint8_t *get_bytes(struct grd *g, int32_t *len)
{
	int64_t n = get_len(g, true);
	*len = 0;
	if (n < 0 || n > INT32_MAX) {
		grd_fail(g);
		return NULL;
	}
	const uint8_t *p = rd_take(&g->r, (size_t)n);
	if (p != NULL)
		*len = (int32_t)n;
	return p;
}

/* A non-nullable array's count, each element taking at least min_each
 * bytes; 0 after a failure. */
static int32_t get_count(struct grd *g, size_t min_each)
{
	int64_t n = get_len(g, true);
	if (n < 0 || n > INT32_MAX || (uint64_t)n > rd_left(&g->r) / min_each) {
		grd_fail(g);
		return 0;
	}
	return (int32_t)n;
}

/* Skips a tagged-field section (flexible versions only). */
static void skip_tags(struct grd *g)
{
	if (g->flex)
		rd_kafka_skip_tags(&g->r);
}

int gmsg_decode_key(const uint8_t *p, size_t n, struct arena *a, struct gmsg_key *out)
{
	struct grd g = { rd_make(p, n), a, false };
	struct gmsg_key k = { .kind = GMSG_KEY_UNKNOWN, .partition = -1 };
	k.version = rd_i16(&g.r);
	if (g.r.err != RD_OK)
		return -1;
	switch (k.version) {
	case KEY_OFFSET_V0:
	case KEY_OFFSET_V1:
		k.kind = GMSG_KEY_OFFSET;
		k.group = get_str(&g, false);
		k.topic = get_str(&g, false);
		k.partition = rd_i32(&g.r);
		break;
	case KEY_GROUP:
		k.kind = GMSG_KEY_GROUP;
		k.group = get_str(&g, false);
		break;
	default:
		*out = k; /* another record type: the loader skips it */
		return 0;
	}
	if (!grd_done(&g))
		return -1;
	*out = k;
	return 0;
}

int gmsg_decode_offset_value(const uint8_t *p, size_t n, struct arena *a, struct off_value *out)
{
	struct grd g = { rd_make(p, n), a, false };
	int16_t version = rd_i16(&g.r);
	if (g.r.err != RD_OK || version < 0 || version > VALUE_MAX_VERSION)
		return -1;
	g.flex = version >= VALUE_FIRST_FLEXIBLE;
	struct off_value v = { .leader_epoch = -1, .expire_ts_ms = -1 };
	v.offset = rd_i64(&g.r);
	if (version >= 3)
		v.leader_epoch = rd_i32(&g.r);
	v.metadata = get_str(&g, false);
	v.commit_ts_ms = rd_i64(&g.r);
	if (version == 1)
		v.expire_ts_ms = rd_i64(&g.r);
	skip_tags(&g);
	if (!grd_done(&g))
		return -1;
	*out = v;
	return 0;
}

static void get_member(struct grd *g, int16_t version, struct group_snap_member *m)
{
	m->member_id = get_str(g, false);
	m->group_instance_id = version >= 3 ? get_str(g, true) : NULL;
	m->client_id = get_str(g, false);
	m->client_host = get_str(g, false);
	int32_t rebalance = version >= 1 ? rd_i32(&g->r) : 0;
	m->session_timeout_ms = rd_i32(&g->r);
	m->rebalance_timeout_ms = version >= 1 ? rebalance : m->session_timeout_ms;
	m->subscription = get_bytes(g, &m->subscription_len);
	m->assignment = get_bytes(g, &m->assignment_len);
	skip_tags(g);
}

int gmsg_decode_group_value(const uint8_t *p, size_t n, struct arena *a, struct group_snap *out)
{
	struct grd g = { rd_make(p, n), a, false };
	int16_t version = rd_i16(&g.r);
	if (g.r.err != RD_OK || version < 0 || version > VALUE_MAX_VERSION)
		return -1;
	g.flex = version >= VALUE_FIRST_FLEXIBLE;
	struct group_snap s = { .state_since_ms = -1 };
	s.protocol_type = get_str(&g, false);
	s.generation_id = rd_i32(&g.r);
	s.protocol_name = get_str(&g, true);
	s.leader = get_str(&g, true);
	if (version >= 2)
		s.state_since_ms = rd_i64(&g.r);
	s.nmembers = get_count(&g, MEMBER_MIN_BYTES);
	if (s.nmembers > 0) {
		s.members = arena_alloc(a, (size_t)s.nmembers * sizeof *s.members);
		if (s.members == NULL)
			return -1;
	}
	for (int32_t i = 0; i < s.nmembers && g.r.err == RD_OK; i++)
		get_member(&g, version, &s.members[i]);
	skip_tags(&g);
	if (!grd_done(&g))
		return -1;
	*out = s;
	return 0;
}

/* ============================================================ partition */

int32_t gmsg_partition_for(const char *group_id, int32_t n)
{
	return jhash_partition_for(group_id, n);
}
