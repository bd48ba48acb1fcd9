/*
 * mock — librdkafka's in-process mock cluster behind rnl's --mock.
 *
 * With --mock a command starts a one-broker mock cluster inside its own
 * process and talks to it instead of --brokers; the cluster vanishes when
 * the command exits, so each invocation starts empty. The mock serves
 * Metadata, Produce, Fetch, ListOffsets and the group APIs, but no admin
 * APIs: `topic create` under --mock therefore creates the topic through the
 * mock's own side door (mock_topic_create), and delete, add-partitions and
 * DescribeConfigs report the mock's "unsupported" errors.
 *
 * `rnl mock [--count N] [--topic NAME[:PARTITIONS]]...` (hidden) serves a
 * mock cluster until SIGINT/SIGTERM and prints its bootstrap list on the
 * first line of stdout, so separate rnl runs can share one cluster.
 */
#ifndef RNL_MOCK_H
#define RNL_MOCK_H

#include "rnl.h"

/* Starts the mock cluster (once) with broker_cnt brokers and points
 * ctx->brokers at it. Returns false after printing the error. */
bool mock_start_n(rnl_ctx_t *ctx, int broker_cnt);
bool mock_start(rnl_ctx_t *ctx);

/* Destroys the mock cluster, if any. */
void mock_stop(rnl_ctx_t *ctx);

/* Creates a topic on the running mock cluster; partitions or
 * replication_factor -1 mean 1. Returns a librdkafka error code. */
rd_kafka_resp_err_t mock_topic_create(rnl_ctx_t *ctx, const char *name, int partitions,
				      int replication_factor);

#endif
