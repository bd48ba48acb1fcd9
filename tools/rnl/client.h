/*
 * client — librdkafka handles with rnl's defaults, and the checks every
 * command starts with.
 *
 * Each command opens one or two handles (client_open), then fetches the
 * cluster's metadata (client_metadata). That first round trip is where an
 * unreachable broker shows: it fails after --timeout with
 *
 *   rnl: cannot reach broker at HOST:PORT (timed out after 5s): <last error>
 *
 * where <last error> is the last transport error librdkafka reported through
 * the error callback (e.g. "Connection refused"). Admin operations run on a
 * private queue and are awaited with client_admin_wait().
 *
 * librdkafka's own log lines are dropped (they would repeat the one-line
 * error above, once per reconnect) unless a `-X debug=...` property is given.
 */
#ifndef RNL_CLIENT_H
#define RNL_CLIENT_H

#include "rnl.h"

typedef struct client {
	rd_kafka_t *rk;            /* owned; NULL until client_open succeeds */
	rnl_ctx_t *ctx;            /* borrowed */
	bool all_down;             /* the error callback saw ALL_BROKERS_DOWN */
	char last_error[512];      /* last error from the error callback, "" if none */
	void *user;                /* the command's own state (e.g. delivery counters) */
} client_t;

/* A conf with rnl's defaults (bootstrap.servers, timeouts, client.id,
 * callbacks), then the command's defaults (key, value, key, value, ...,
 * NULL; may be NULL), then every -X property, so -X overrides both.
 * Starts the mock cluster first with --mock. Returns NULL after printing
 * the error (a bad -X is reported as a usage error: *usage is set).
 * Caller owns the conf until client_open(). */
rd_kafka_conf_t *client_conf_new(rnl_ctx_t *ctx, const char *const *defaults, bool *usage);

/* Sets one property; prints "rnl: KEY: reason" and returns false on error. */
bool client_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value);

/* Creates the handle from conf (takes ownership of conf, even on failure).
 * cl is the caller's storage; it must stay put while the handle lives (it is
 * the handle's opaque). Returns false after printing the error. */
bool client_open(client_t *cl, rnl_ctx_t *ctx, rd_kafka_type_t type, rd_kafka_conf_t *conf);

/* Destroys the handle (safe on a client that never opened). */
void client_close(client_t *cl);

/* Metadata of all topics (all, so that nothing is auto-created).
 * Returns NULL after printing the error (an unreachable broker as shown
 * above). Caller frees with rd_kafka_metadata_destroy(). */
const rd_kafka_metadata_t *client_metadata(client_t *cl);

/* The topic's entry in md, or NULL if absent (or listed with an error). */
const rd_kafka_metadata_topic_t *client_topic_find(const rd_kafka_metadata_t *md,
						   const char *name);

/* Prints `rnl: topic "NAME" does not exist`; returns RNL_EXIT_FAIL. */
int client_no_topic(const char *name);

/* Prints the error of a failed broker operation `what` ("create topic")
 * after the broker answered Metadata: "rnl: WHAT: no answer from the broker
 * (timed out after 5s)" for a timeout, else "rnl: WHAT: <error>". */
void client_report(client_t *cl, rd_kafka_resp_err_t err, const char *what);

/* Admin options for op with request and operation timeouts = --timeout.
 * Caller frees with rd_kafka_AdminOptions_destroy(). */
rd_kafka_AdminOptions_t *client_admin_options(client_t *cl, rd_kafka_admin_op_t op);

/* Waits on q for the result event of an admin call (serving the handle's
 * callbacks meanwhile). Returns the event, or NULL after printing the error
 * (timeout, or a request-level error) for operation `what`.
 * Caller frees with rd_kafka_event_destroy(). */
rd_kafka_event_t *client_admin_wait(client_t *cl, rd_kafka_queue_t *q, const char *what);

#endif
