/*
 * consumer_proto.h — reading the consumer protocol's subscription (the
 * metadata a member of a "consumer" group sends in JoinGroup for each
 * assignor), for OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC check.
 *
 * ConsumerProtocolSubscription (Kafka's ConsumerProtocolSubscription.json;
 * never flexible), big-endian:
 *
 *   +---------------+----------------------------+------------------+---------
 *   | version int16 | topics: int32 count, then  | user_data: int32 | v1+ ...
 *   |               | int16 length + bytes each  | length (-1 null) | ignored
 *   +---------------+----------------------------+------------------+---------
 *
 * v1 adds owned_partitions, v2 generation_id, v3 rack_id, all after
 * user_data. As Kafka's coordinator does, the v0 layout is read whatever
 * the version (every later version starts with it), so a newer client's
 * subscription still parses.
 *
 * Any thread; pure (no allocation).
 */
#ifndef RUNNEL_API_CONSUMER_PROTO_H
#define RUNNEL_API_CONSUMER_PROTO_H
#include <stddef.h>
#include <stdint.h>

/* 1 when the subscription in p[0..n) lists topic, 0 when it does not, -1
 * when it is malformed (truncated, a negative version or count, a bad
 * length). Never reads past p + n. */
int consumer_proto_subscribes(const uint8_t *p, size_t n, const char *topic);
#endif
