/*
 * mock — librdkafka's in-process mock cluster; see mock.h.
 */
#include "mock.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void mock_log_drop(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* The mock logs every connection; rnl's own errors say what matters. */
}

bool mock_start_n(rnl_ctx_t *ctx, int broker_cnt)
{
	rd_kafka_conf_t *conf;
	char errstr[512];

	if (ctx->mcluster)
		return true;
	conf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(conf, mock_log_drop);
	/* The cluster needs a handle for its bookkeeping only; it is never
	 * used as a client. */
	ctx->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!ctx->mock_rk) {
		rd_kafka_conf_destroy(conf);
		rnl_error("--mock: cannot create the mock cluster's handle: %s", errstr);
		return false;
	}
	ctx->mcluster = rd_kafka_mock_cluster_new(ctx->mock_rk, broker_cnt);
	if (!ctx->mcluster) {
		rnl_error("--mock: cannot start a mock cluster");
		mock_stop(ctx);
		return false;
	}
	ctx->brokers = rd_kafka_mock_cluster_bootstraps(ctx->mcluster);
	return true;
}

bool mock_start(rnl_ctx_t *ctx)
{
	return mock_start_n(ctx, 1);
}

void mock_stop(rnl_ctx_t *ctx)
{
	if (ctx->mcluster)
		rd_kafka_mock_cluster_destroy(ctx->mcluster);
	if (ctx->mock_rk)
		rd_kafka_destroy(ctx->mock_rk);
	ctx->mcluster = NULL;
	ctx->mock_rk = NULL;
}

rd_kafka_resp_err_t mock_topic_create(rnl_ctx_t *ctx, const char *name, int partitions,
				      int replication_factor)
{
	return rd_kafka_mock_topic_create(ctx->mcluster, name, partitions > 0 ? partitions : 1,
					  replication_factor > 0 ? replication_factor : 1);
}

/* ---- rnl mock: serve a cluster until a signal ---- */

static volatile sig_atomic_t mock_stop_signal;

static void mock_on_signal(int sig)
{
	mock_stop_signal = sig;
}

static const char mock_usage[] =
	"usage: rnl mock [--count N] [--topic NAME[:PARTITIONS]]...\n"
	"Serves an in-process librdkafka mock cluster until SIGINT/SIGTERM and\n"
	"prints its bootstrap servers on the first line of stdout.\n";

/* Creates "NAME[:PARTITIONS]". Returns false after printing the error. */
static bool mock_add_topic(rnl_ctx_t *ctx, char *spec)
{
	char *colon = strrchr(spec, ':');
	int parts = 1;
	rd_kafka_resp_err_t err;

	if (colon) {
		*colon = '\0';
		if (!rnl_parse_int("--topic partitions", colon + 1, 1, 100000, &parts))
			return false;
	}
	err = mock_topic_create(ctx, spec, parts, 1);
	if (err) {
		rnl_error("mock: create topic \"%s\": %s", spec, rd_kafka_err2str(err));
		return false;
	}
	return true;
}

static int mock_serve(rnl_ctx_t *ctx, int count, char **topics, int topic_cnt)
{
	sigset_t block, old;

	if (!mock_start_n(ctx, count))
		return RNL_EXIT_FAIL;
	for (int i = 0; i < topic_cnt; i++)
		if (!mock_add_topic(ctx, topics[i]))
			return RNL_EXIT_FAIL;
	/* Blocked until sigsuspend(), so a signal that arrives before we
	 * wait is not lost between the check and the wait. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	signal(SIGINT, mock_on_signal);
	signal(SIGTERM, mock_on_signal);
	printf("%s\n", ctx->brokers);
	fflush(stdout);
	while (!mock_stop_signal)
		sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return RNL_EXIT_OK;
}

int mock_main(rnl_ctx_t *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "topic", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	char *topics[64];
	int topic_cnt = 0, count = 1, c;

	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "", opts)) != -1) {
		if (c == 'h') {
			fputs(mock_usage, stdout);
			return RNL_EXIT_OK;
		}
		if (c == 'n' && rnl_parse_int("--count", optarg, 1, 16, &count))
			continue;
		if (c == 't' && topic_cnt < 64) {
			topics[topic_cnt++] = optarg;
			continue;
		}
		return rnl_usage_hint("mock ");
	}
	if (optind < argc)
		return rnl_usage_error("mock ", "unexpected argument '%s'", argv[optind]);
	return mock_serve(ctx, count, topics, topic_cnt);
}
