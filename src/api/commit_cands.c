/*
 * commit_cands.c — offset commit candidates (commit_cands.h).
 */
#include "api/commit_cands.h"

#include "broker.h"
#include "util/err.h"

int commit_cand_fill(struct req *req, struct commit_cand *c, int16_t *err, const char *topic,
		     int32_t partition, int64_t offset, int32_t leader_epoch, kstr metadata,
		     int64_t expire_ts_ms)
{
	c->err = err;
	c->committed = false;
	c->too_large = metadata.len > g_broker->cfg.offset_metadata_max_bytes;
	c->off.topic = topic;
	c->off.partition = partition;
	c->off.offset = offset;
	c->off.leader_epoch = leader_epoch;
	c->off.expire_ts_ms = expire_ts_ms;
	c->off.metadata = c->too_large ? NULL : api_strdup(req, metadata);
	return !c->too_large && metadata.len >= 0 && !c->off.metadata ? -1 : 0;
}

void commit_cands_fail(struct commit_cand *v, size_t n, int err)
{
	for (size_t i = 0; i < n; i++)
		*v[i].err = (int16_t)err;
}

void commit_cands_done(struct commit_cand *v, size_t n, int err)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].committed)
			*v[i].err = (int16_t)err;
}

struct coord_offset *commit_cands_take(struct req *req, struct commit_cand *v, size_t n, size_t *m)
{
	struct coord_offset *offs = arena_alloc(&req->arena, (n ? n : 1) * sizeof(*offs));
	*m = 0;
	if (!offs)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (v[i].too_large) {
			*v[i].err = KAFKA_OFFSET_METADATA_TOO_LARGE;
			continue;
		}
		v[i].committed = true;
		offs[(*m)++] = v[i].off;
	}
	return offs;
}
