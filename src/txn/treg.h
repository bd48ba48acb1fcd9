/*
 * treg.h — the transaction coordinator's published view for the data path
 * (KIP-890 part 1): for each producer id with an ONGOING transaction, its
 * epoch and the partitions the coordinator added. The partition log asks
 * treg_verify (through plog's verify hook) before it lets a transactional
 * batch open a transaction in a partition, so a produce the coordinator
 * never accepted — a late retry after the transaction ended, a client bug —
 * cannot start a hanging transaction or slip into the next one.
 *
 * Ordering (why the check is sound): the coordinator publishes an added
 * partition before answering AddPartitionsToTxn, and withdraws the whole
 * transaction (treg_end) before it writes the first marker. A produce holds
 * the partition mutex across verify + append, and a marker append takes
 * that mutex too; so a batch verified while ONGOING lands before the marker
 * (it belongs to the transaction), and a batch verified after treg_end is
 * refused.
 *
 * Threads: any; one mutex, a leaf (taken under plog.mu, never holding
 * another lock).
 */
#ifndef RUNNEL_TXN_TREG_H
#define RUNNEL_TXN_TREG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "txn/tcoord.h"

/* Publishes pid's ongoing transaction: epoch and its whole partition set
 * (replacing what was there). Returns 0, -1 when out of memory (the old
 * entry is kept; the caller answers an error). */
int treg_set(int64_t pid, int16_t epoch, const struct txn_tp *tps, size_t n);
/* Withdraws pid's transaction (before its markers). */
void treg_end(int64_t pid);
/* KAFKA_NONE when pid has an ongoing transaction with this epoch that holds
 * (topic, partition); INVALID_PRODUCER_EPOCH when it has one with a newer
 * epoch; else INVALID_TXN_STATE. Matches plog_txn_verify_fn. */
int treg_verify(int64_t pid, int16_t epoch, const char *topic, int32_t partition);
/* Forgets everything (shutdown, tests). */
void treg_clear(void);
#endif
