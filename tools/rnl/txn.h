/*
 * txn — `rnl txn list|describe`: the transaction coordinator's view of
 * transactional ids (ListTransactions, DescribeTransactions; KIP-664), as
 * Kafka's kafka-transactions.sh shows it. librdkafka 2.0.2 has no admin
 * call for either, so both go over rnl's raw client (wire.c); Metadata
 * (librdkafka, client_metadata) still comes first: it proves the cluster
 * reachable with rnl's usual message and names every broker.
 *
 *   txn.c           usage, dispatch, what list and describe share (txn_*)
 *   txn_list.c      list: ListTransactions to every broker (txn_list)
 *   txn_describe.c  describe: FindCoordinator (key type 1), then
 *                   DescribeTransactions to each coordinator (txn_describe)
 *
 * Errors print as `rnl: WHAT: KAFKA_NAME (description)`; exit codes as the
 * other commands (1 when anything failed, what succeeded is still shown).
 */
#ifndef RNL_TXN_H
#define RNL_TXN_H

#include "topic.h"   /* topic_config_table_t */
#include "wire.h"

/* The usage text of `rnl txn` (static storage). */
const char *txn_usage_text(void);

/* Opens the librdkafka handle and fetches Metadata into *md (caller
 * destroys). Returns RNL_EXIT_OK, or the exit code after printing the error
 * (a bad -X is a usage error). client_close(cl) either way. */
int txn_metadata(client_t *cl, rnl_ctx_t *ctx, const rd_kafka_metadata_t **md);

/* The broker with this id in md, or NULL. */
const rd_kafka_metadata_broker_t *txn_broker(const rd_kafka_metadata_t *md, int32_t id);

/* Kafka's name for a state written in any case ("ongoing" -> "Ongoing"),
 * or NULL when it is none of Kafka's TransactionState names. */
const char *txn_state_canon(const char *s);

/* A kstr as a NUL-terminated copy in a (NULL for a null kstr or OOM). */
char *txn_str(struct arena *a, kstr s);

/* Wall ms as "2026-11-23T16:40:00.123Z" into buf ("-" for a negative). */
const char *txn_fmt_time(int64_t ms, char *buf, size_t size);

/* Prints "rnl: WHAT: NAME (description)" for Kafka code err. */
void txn_report(const char *what, int err);

int txn_list(rnl_ctx_t *ctx, int argc, char **argv);
int txn_describe(rnl_ctx_t *ctx, int argc, char **argv);
int txn_main(rnl_ctx_t *ctx, int argc, char **argv);

#endif
