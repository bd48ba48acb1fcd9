/*
 * client — librdkafka handles with rnl's defaults; see client.h.
 *
 * Timeouts: every broker operation is bounded by --timeout. The properties
 * below make librdkafka give up on a silent socket within that time and
 * retry a refused connection every second at most, so a broker that is
 * still starting is found as soon as it listens, and one that is absent
 * costs exactly --timeout.
 */
#include "client.h"
#include "mock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- callbacks (served on the main thread by rd_kafka_poll) ---- */

/* librdkafka prefixes transport errors with "HOST:PORT/ID: "; the broker
 * address is in our own message already. Returns reason past that prefix. */
static const char *strip_broker_prefix(const char *reason)
{
	const char *sep = strstr(reason, ": ");
	const char *slash = strchr(reason, '/');
	const char *space = strchr(reason, ' ');

	if (sep && slash && slash < sep && (!space || space > sep))
		return sep + 2;
	return reason;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	client_t *cl = opaque;
	char *cut;

	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
		cl->all_down = true;
		/* "1/1 brokers are down" says less than the transport error
		 * that led to it; keep that one. */
		if (cl->last_error[0])
			return;
	}
	snprintf(cl->last_error, sizeof(cl->last_error), "%s", strip_broker_prefix(reason));
	/* "... (after 0ms in state CONNECT, 1 identical error(s) suppressed)"
	 * is librdkafka's bookkeeping, not the reason. */
	cut = strstr(cl->last_error, " (after ");
	if (cut)
		*cut = '\0';
}

static void on_log_drop(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* Connection failures are reported once, by rnl, when the operation
	 * gives up; librdkafka would log them once per reconnect. */
}

/* ---- configuration ---- */

bool client_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
	char errstr[512];

	if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		rnl_error("%s=%s: %s", key, value, errstr);
		return false;
	}
	return true;
}

static bool conf_set_int(rd_kafka_conf_t *conf, const char *key, long long value)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", value);
	return client_conf_set(conf, key, buf);
}

static long long clamp(long long v, long long lo, long long hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static bool conf_defaults(rd_kafka_conf_t *conf, rnl_ctx_t *ctx)
{
	int t = ctx->timeout_ms;

	/* Ranges are librdkafka's: socket.timeout.ms 10..300000,
	 * socket.connection.setup.timeout.ms 1000..INT32_MAX. */
	return client_conf_set(conf, "bootstrap.servers", ctx->brokers) &&
	       client_conf_set(conf, "client.id", "rnl") &&
	       conf_set_int(conf, "socket.timeout.ms", clamp(t, 10, 300000)) &&
	       conf_set_int(conf, "socket.connection.setup.timeout.ms", clamp(t, 1000, 2147483647)) &&
	       client_conf_set(conf, "reconnect.backoff.ms", "50") &&
	       client_conf_set(conf, "reconnect.backoff.max.ms", "1000") &&
	       client_conf_set(conf, "allow.auto.create.topics", "false") &&
	       client_conf_set(conf, "log.connection.close", "false");
}

/* Applies the -X properties; any failure is the user's (a usage error). */
static bool conf_user_props(rd_kafka_conf_t *conf, rnl_ctx_t *ctx, bool *debug)
{
	char key[256];

	for (size_t i = 0; i < ctx->props_cnt; i++) {
		const char *kv = ctx->props[i];
		const char *eq = strchr(kv, '=');
		size_t klen = (size_t)(eq - kv);

		if (klen == 0 || klen >= sizeof(key)) {
			rnl_error("-X %s: expected key=value", kv);
			return false;
		}
		memcpy(key, kv, klen);
		key[klen] = '\0';
		if (strcmp(key, "debug") == 0)
			*debug = true;
		if (!client_conf_set(conf, key, eq + 1))
			return false;
	}
	return true;
}

static bool conf_pairs(rd_kafka_conf_t *conf, const char *const *kv)
{
	for (; kv && kv[0]; kv += 2)
		if (!client_conf_set(conf, kv[0], kv[1]))
			return false;
	return true;
}

rd_kafka_conf_t *client_conf_new(rnl_ctx_t *ctx, const char *const *defaults, bool *usage)
{
	rd_kafka_conf_t *conf = NULL;
	bool debug = false;

	*usage = false;
	if (ctx->mock && !mock_start(ctx))
		goto fail;
	conf = rd_kafka_conf_new();
	if (!conf_defaults(conf, ctx) || !conf_pairs(conf, defaults))
		goto fail;
	if (!conf_user_props(conf, ctx, &debug)) {
		*usage = true;
		goto fail;
	}
	rd_kafka_conf_set_error_cb(conf, on_error);
	if (!debug)
		rd_kafka_conf_set_log_cb(conf, on_log_drop);
	return conf;
fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	return NULL;
}

/* ---- handles ---- */

bool client_open(client_t *cl, rnl_ctx_t *ctx, rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
	char errstr[512];

	*cl = (client_t){ .ctx = ctx };
	rd_kafka_conf_set_opaque(conf, cl);
	/* rd_kafka_new() owns conf only when it succeeds. */
	cl->rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
	if (!cl->rk) {
		rd_kafka_conf_destroy(conf);
		rnl_error("cannot create client: %s", errstr);
		return false;
	}
	return true;
}

void client_close(client_t *cl)
{
	if (cl->rk)
		rd_kafka_destroy(cl->rk);
	cl->rk = NULL;
}

/* ---- errors ---- */

static bool is_unreachable(rd_kafka_resp_err_t err)
{
	return err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
	       err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || err == RD_KAFKA_RESP_ERR__RESOLVE ||
	       err == RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE;
}

static void report_unreachable(client_t *cl)
{
	char secs[32];

	rnl_error("cannot reach broker at %s (timed out after %s)%s%s", cl->ctx->brokers,
		  rnl_fmt_secs(cl->ctx->timeout_ms, secs, sizeof(secs)),
		  cl->last_error[0] ? ": " : "", cl->last_error);
}

void client_report(client_t *cl, rd_kafka_resp_err_t err, const char *what)
{
	char secs[32];

	if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
		rnl_error("%s: no answer from the broker (timed out after %s)", what,
			  rnl_fmt_secs(cl->ctx->timeout_ms, secs, sizeof(secs)));
	else
		rnl_error("%s: %s", what, rd_kafka_err2str(err));
}

/* ---- metadata ---- */

const rd_kafka_metadata_t *client_metadata(client_t *cl)
{
	const rd_kafka_metadata_t *md = NULL;
	rd_kafka_resp_err_t err;

	err = rd_kafka_metadata(cl->rk, 1, NULL, &md, cl->ctx->timeout_ms);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		return md;
	/* rd_kafka_metadata() blocks without serving callbacks: collect
	 * the error callback's verdict ("all brokers down") and reason now. */
	rd_kafka_poll(cl->rk, 0);
	if (cl->all_down || is_unreachable(err))
		report_unreachable(cl);
	else
		client_report(cl, err, "metadata request");
	return NULL;
}

const rd_kafka_metadata_topic_t *client_topic_find(const rd_kafka_metadata_t *md,
						   const char *name)
{
	for (int i = 0; i < md->topic_cnt; i++) {
		const rd_kafka_metadata_topic_t *t = &md->topics[i];

		if (strcmp(t->topic, name) == 0)
			return t->err ? NULL : t;
	}
	return NULL;
}

int client_no_topic(const char *name)
{
	rnl_error("topic \"%s\" does not exist", name);
	return RNL_EXIT_FAIL;
}

/* ---- admin ---- */

rd_kafka_AdminOptions_t *client_admin_options(client_t *cl, rd_kafka_admin_op_t op)
{
	rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(cl->rk, op);
	char errstr[256];

	rd_kafka_AdminOptions_set_request_timeout(opts, cl->ctx->timeout_ms, errstr, sizeof(errstr));
	/* Only Create/Delete Topics and CreatePartitions take an operation
	 * timeout; for the others this call fails, harmlessly. */
	rd_kafka_AdminOptions_set_operation_timeout(opts, cl->ctx->timeout_ms, errstr, sizeof(errstr));
	return opts;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

rd_kafka_event_t *client_admin_wait(client_t *cl, rd_kafka_queue_t *q, const char *what)
{
	/* The request itself times out after --timeout; the slack lets its
	 * own error event arrive before we give up on the queue. */
	int64_t deadline = now_ms() + cl->ctx->timeout_ms + 2000;
	rd_kafka_event_t *ev = NULL;

	while (!ev && now_ms() < deadline) {
		ev = rd_kafka_queue_poll(q, 100);
		rd_kafka_poll(cl->rk, 0);
	}
	if (!ev) {
		client_report(cl, RD_KAFKA_RESP_ERR__TIMED_OUT, what);
		return NULL;
	}
	if (rd_kafka_event_error(ev)) {
		rnl_error("%s: %s", what, rd_kafka_event_error_string(ev));
		rd_kafka_event_destroy(ev);
		return NULL;
	}
	return ev;
}
