/*
 * commit_cands.h — the partitions of an offset commit that passed the
 * request's topic checks and go to the group coordinator: shared by
 * OffsetCommit (offset_commit.c) and TxnOffsetCommit (txn_offset_commit.c),
 * whose requests differ only around them. Private to src/api.
 *
 * Life of a candidate: filled on the network loop (commit_cand_fill), then
 * on the coordinator thread either failed whole (commit_cands_fail: the
 * group check refused), or taken (commit_cands_take: metadata too large
 * answers OFFSET_METADATA_TOO_LARGE, the rest are written) and answered
 * with the write's outcome (commit_cands_done). Everything lives in the
 * request's arena.
 */
#ifndef RUNNEL_API_COMMIT_CANDS_H
#define RUNNEL_API_COMMIT_CANDS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api_int.h"
#include "coord/coord.h"

struct commit_cand {
	int16_t *err;                /* its error code in the response */
	bool too_large;              /* metadata over offset.metadata.max.bytes */
	bool committed;              /* handed to the coordinator's write */
	struct coord_offset off;     /* strings in the arena */
};

/* Fills c for one partition; topic is the arena copy of its name. Returns
 * 0, or -1 when out of memory. */
int commit_cand_fill(struct req *req, struct commit_cand *c, int16_t *err, const char *topic,
		     int32_t partition, int64_t offset, int32_t leader_epoch, kstr metadata,
		     int64_t expire_ts_ms);
/* Every candidate answers err. */
void commit_cands_fail(struct commit_cand *v, size_t n, int err);
/* The write's outcome goes to every committed candidate. */
void commit_cands_done(struct commit_cand *v, size_t n, int err);
/* The offsets to write, in the arena (*m of them); too-large candidates
 * answer OFFSET_METADATA_TOO_LARGE and are left out. NULL when out of
 * memory (nothing marked). */
struct coord_offset *commit_cands_take(struct req *req, struct commit_cand *v, size_t n, size_t *m);
#endif
