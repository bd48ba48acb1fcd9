/*
 * tmsg.h — the records of __transaction_state in Kafka's own format, so the
 * topic reads the same as Kafka's:
 *
 *   key   int16 version (0), TransactionalId string
 *   value int16 version, then (a null value is a tombstone)
 *     TransactionLogValue v0:
 *       ProducerId int64, ProducerEpoch int16, TransactionTimeoutMs int32,
 *       TransactionStatus int8 (enum txn_state),
 *       TransactionPartitions array (nullable; null when the state is EMPTY)
 *         of { Topic string, PartitionIds array of int32 },
 *       TransactionLastUpdateTimestampMs int64,
 *       TransactionStartTimestampMs int64
 *     v1 (KIP-890) is flexible: compact strings/arrays, a tagged-field
 *       section after each struct (tags PreviousProducerId, NextProducerId,
 *       ClientTransactionVersion — read and ignored).
 * We write key v0 and value v0; we read value v0 and v1. Partitions are
 * grouped by topic in the record and come back sorted and unique.
 *
 * Decoders never trust lengths (bounds-checked; malformed input is -1,
 * never a crash: fuzz/fuzz_tmsg.c).
 */
#ifndef RUNNEL_TXN_TMSG_H
#define RUNNEL_TXN_TMSG_H
#include <stddef.h>
#include <stdint.h>

#include "txn/tcoord.h"
#include "util/buf.h"

#define TXN_TOPIC "__transaction_state"

/* Encoders append to w (check w->oom). */
void tmsg_key(struct wbuf *w, const char *tid);
void tmsg_value(struct wbuf *w, const struct txn_rec *r);

/* The key's transactional id, malloc'd; NULL when malformed (or an unknown
 * key version) or out of memory. */
char *tmsg_decode_key(const uint8_t *p, size_t n);
/* Fills r (r->tps malloc'd: txn_rec_fini). 0, or -1 when malformed, an
 * unknown version, a status outside 0..7, or out of memory (r is then
 * empty). */
int tmsg_decode_value(const uint8_t *p, size_t n, struct txn_rec *r);

/* Kafka's partition of __transaction_state for tid: the same function as
 * for groups (util/jhash.h). */
int32_t tmsg_partition_for(const char *tid, int32_t n);
#endif
