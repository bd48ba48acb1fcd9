/*
 * coord_txnoff.c — transactional offset commits (TxnOffsetCommit, KIP-98)
 * in the group coordinator.
 *
 * Life of one transactional offset (Kafka's GroupMetadata / the new
 * coordinator's OffsetMetadataManager):
 *
 *   TxnOffsetCommit --coord_txn_commit_offsets--> transactional batch in the
 *       group's __consumer_offsets partition (ProducerId pid, epoch,
 *       BaseSequence -1, attributes TRANSACTIONAL; the records are ordinary
 *       OffsetCommit key/values). The partition log refuses it unless the
 *       transaction coordinator added this partition to pid's ongoing
 *       transaction (AddOffsetsToTxn; KIP-890's verify: INVALID_TXN_STATE)
 *       with this epoch (INVALID_PRODUCER_EPOCH) — those codes are the
 *       answer.
 *   appended -> PENDING for pid (offstore_txn_put): OffsetFetch does not see
 *       it; RequireStable answers UNSTABLE_OFFSET_COMMIT for its key.
 *   durable  -> the answer NONE (or the write's error: then it is no longer
 *       pending).
 *   marker durable in that partition -> coord_store_txn_end: COMMIT makes it
 *       the committed offset unless a regular commit of the key was written
 *       after it (the later record wins); ABORT drops it.
 *
 * Start-up: coord_store_load replays transactional batches into the pending
 * set and markers through coord_txnoff_marker; transactions still open stay
 * pending until the transaction coordinator ends them (it finishes
 * PREPARE_x ones, and aborts the others at their timeout), which calls
 * coord_store_txn_end as for a live marker.
 *
 * Group deletion and offset deletion write tombstones for pending keys too
 * and drop the pending offsets written before them (so a later COMMIT
 * cannot bring a deleted offset back, live or at restart); expiry skips a
 * key with a pending offset and a group with any (coord_store.c).
 *
 * Threads: the coordinator thread only.
 */
#include "coord/coord_int.h"

#include <string.h>

#include "broker.h"
#include "group/gmsg.h"
#include "meta/meta.h"
#include "record/batch.h"
#include "util/err.h"
#include "util/log.h"

void coord_txn_commit_offsets(struct coord_job *job, const char *group, int64_t pid, int16_t epoch,
			      const struct coord_offset *offs, size_t n, coord_done_fn done)
{
	struct batch_producer prod = {
		.producer_id = pid,
		.producer_epoch = epoch,
		.base_sequence = -1,
		.attributes = BATCH_ATTR_TRANSACTIONAL,
	};
	coord_store_commit(job, group, offs, n, &prod, done);
}

/* The groups of one __consumer_offsets partition. */
struct in_part {
	int32_t partition, npartitions;
};

static bool group_in_part(void *arg, const char *group)
{
	const struct in_part *ip = arg;
	return gmsg_partition_for(group, ip->npartitions) == ip->partition;
}

void coord_txnoff_marker(int32_t partition, int32_t npartitions, int64_t pid, bool commit)
{
	struct in_part ip = { partition, npartitions };
	ssize_t n = offstore_txn_end(g_coord.os, pid, group_in_part, &ip, commit);
	if (n < 0)
		log_error("coord", "%s-%d: out of memory committing producer %lld's offsets (kept in the log)",
			  COORD_TOPIC, partition, (long long)pid);
	else if (n > 0)
		log_debug("coord", "%s-%d: producer %lld's %zd transactional offsets %s", COORD_TOPIC,
			  partition, (long long)pid, n, commit ? "committed" : "aborted");
}

void coord_store_txn_end(int32_t partition, int64_t pid, bool commit)
{
	struct topic *t = meta_topic_find(g_broker->meta, COORD_TOPIC, strlen(COORD_TOPIC));
	if (!t)
		return; /* no group has offsets: nothing can be pending */
	int32_t np = t->npartitions;
	topic_unref(t);
	coord_txnoff_marker(partition, np, pid, commit);
}

bool coord_store_txn_pending(const char *group, const char *topic, int32_t partition)
{
	return offstore_txn_pending(g_coord.os, group, topic, partition);
}
