/*
 * gmsg.h — the records of __consumer_offsets in Kafka's own format, so that
 * the topic reads the same as Kafka's (and Kafka's tools can decode it):
 *
 *   key   int16 version, then
 *     0, 1  OffsetCommitKey      group string, topic string, partition int32
 *     2     GroupMetadataKey     group string
 *   value int16 version, then (a null value is a tombstone)
 *     OffsetCommitValue  v0-4   offset int64, leader_epoch int32 (v3+),
 *                               metadata string, commit_timestamp int64,
 *                               expire_timestamp int64 (v1 only); v4 flexible
 *     GroupMetadataValue v0-4   protocol_type string, generation int32,
 *                               protocol string?, leader string?,
 *                               current_state_timestamp int64 (v2+),
 *                               members [member_id string,
 *                                 group_instance_id string? (v3+),
 *                                 client_id string, client_host string,
 *                                 rebalance_timeout int32 (v1+),
 *                                 session_timeout int32,
 *                                 subscription bytes, assignment bytes];
 *                               v4 flexible
 *
 * We write OffsetCommitKey v1, OffsetCommitValue v3 (v1 when an explicit
 * expire timestamp is set), GroupMetadataKey v2 and GroupMetadataValue v3;
 * we read every version above (flexible ones: compact strings and arrays and
 * tagged fields, which are skipped). Other key versions (transaction
 * markers live elsewhere) decode as GMSG_KEY_UNKNOWN and are skipped by the
 * loader.
 *
 * Decoders never trust lengths: every read is bounds-checked (struct rd)
 * and a malformed record is -1, never a crash (fuzz/fuzz_gmsg.c).
 */
#ifndef RUNNEL_GROUP_GMSG_H
#define RUNNEL_GROUP_GMSG_H
#include <stddef.h>
#include <stdint.h>

#include "group/group.h"
#include "group/offstore.h"
#include "util/buf.h"

enum gmsg_key_kind { GMSG_KEY_OFFSET, GMSG_KEY_GROUP, GMSG_KEY_UNKNOWN };

struct gmsg_key {
	enum gmsg_key_kind kind;
	int16_t version;
	char *group;               /* arena, NUL-terminated */
	char *topic;               /* GMSG_KEY_OFFSET only */
	int32_t partition;         /* GMSG_KEY_OFFSET only */
};

/* Encoders append to w (check w->oom). */
void gmsg_offset_key(struct wbuf *w, const char *group, const char *topic, int32_t partition);
void gmsg_offset_value(struct wbuf *w, const struct off_value *v);
void gmsg_group_key(struct wbuf *w, const char *group);
/* s->state_since_ms must already be on the wall clock (coord converts). */
void gmsg_group_value(struct wbuf *w, const struct group_snap *s);

/* Decoders: 0, or -1 when malformed or out of arena memory. Strings and
 * member arrays are allocated in a; bytes may point into p. A key of an
 * unknown version is 0 with kind GMSG_KEY_UNKNOWN. */
int gmsg_decode_key(const uint8_t *p, size_t n, struct arena *a, struct gmsg_key *out);
/* metadata is arena-allocated (never NULL). */
int gmsg_decode_offset_value(const uint8_t *p, size_t n, struct arena *a, struct off_value *out);
/* Fills a group_snap whose strings and members live in a (members array
 * included: do not call group_snap_fini on it). protocol_type "" when the
 * record has none. */
int gmsg_decode_group_value(const uint8_t *p, size_t n, struct arena *a, struct group_snap *out);

/* Kafka's partition for a group: abs(java.lang.String.hashCode(group_id))
 * mod n, where hashCode runs over the UTF-16 code units of the id
 * (Utils.abs maps INT32_MIN to 0). Invalid UTF-8 bytes count as U+FFFD. */
int32_t gmsg_partition_for(const char *group_id, int32_t n);

#endif
