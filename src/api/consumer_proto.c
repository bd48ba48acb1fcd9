/*
 * consumer_proto.c — the consumer protocol's subscription, read just far
 * enough to know its topics (format in consumer_proto.h).
 */
#include "api/consumer_proto.h"

#include <string.h>

#include "util/buf.h"

int consumer_proto_subscribes(const uint8_t *p, size_t n, const char *topic)
{
	struct rd r = rd_make(p, n);
	size_t tlen = strlen(topic);
	int found = 0;
	if (rd_i16(&r) < 0 || r.err)
		return -1;
	int32_t count = rd_i32(&r);
	/* each topic takes at least its 2-byte length */
	if (r.err || count < 0 || (size_t)count > rd_left(&r) / 2)
		return -1;
	for (int32_t i = 0; i < count; i++) {
		int16_t len = rd_i16(&r);
		const uint8_t *name = len >= 0 ? rd_take(&r, (size_t)len) : NULL;
		if (!name)
			return -1;
		if ((size_t)len == tlen && memcmp(name, topic, tlen) == 0)
			found = 1;
	}
	int32_t ulen = rd_i32(&r); /* user_data: present, even when null */
	if (r.err || ulen < -1 || (ulen > 0 && !rd_take(&r, (size_t)ulen)))
		return -1;
	return found;
}
