/*
 * txn — `rnl txn`: usage, verb dispatch, and the helpers list and describe
 * share (txn.h maps the files).
 */
#include "txn.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char txn_usage[] =
	"usage: rnl txn list [--state STATE]... [--producer-id ID]... [--json]\n"
	"       rnl txn describe TRANSACTIONAL-ID... [--json]\n"
	"\n"
	"list:     -s, --state S[,S...]      only transactions in these states (repeatable):\n"
	"                                    Empty, Ongoing, PrepareCommit, PrepareAbort,\n"
	"                                    CompleteCommit, CompleteAbort, Dead,\n"
	"                                    PrepareEpochFence\n"
	"          -p, --producer-id ID      only this producer id (repeatable)\n"
	"              --json                one JSON object on stdout instead of the table\n"
	"describe:     --json                state, producer id and epoch, timeout, start\n"
	"                                    time and partitions as JSON\n"
	"\n"
	"global options: --brokers, --timeout, -X key=value (see `rnl --help`)\n";

const char *txn_usage_text(void)
{
	return txn_usage;
}

/* ---- shared ---- */

int txn_metadata(client_t *cl, rnl_ctx_t *ctx, const rd_kafka_metadata_t **md)
{
	bool usage;
	rd_kafka_conf_t *conf = client_conf_new(ctx, NULL, &usage);

	*md = NULL;
	if (!conf)
		return usage ? rnl_usage_hint(NULL) : RNL_EXIT_FAIL;
	if (!client_open(cl, ctx, RD_KAFKA_PRODUCER, conf))
		return RNL_EXIT_FAIL;
	*md = client_metadata(cl);
	return *md ? RNL_EXIT_OK : RNL_EXIT_FAIL;
}

const rd_kafka_metadata_broker_t *txn_broker(const rd_kafka_metadata_t *md, int32_t id)
{
	for (int i = 0; i < md->broker_cnt; i++)
		if (md->brokers[i].id == id)
			return &md->brokers[i];
	return NULL;
}

/* Kafka's TransactionState names (TransactionState.java). */
static const char *const state_names[] = {
	"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort",
	"Dead", "PrepareEpochFence",
};

const char *txn_state_canon(const char *s)
{
	for (size_t i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (strcasecmp(s, state_names[i]) == 0)
			return state_names[i];
	return NULL;
}

char *txn_str(struct arena *a, kstr s)
{
	if (s.len < 0)
		return NULL;
	return arena_strndup(a, s.ptr ? s.ptr : "", (size_t)s.len);
}

const char *txn_fmt_time(int64_t ms, char *buf, size_t size)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0 || !gmtime_r(&secs, &tm)) {
		snprintf(buf, size, "-");
		return buf;
	}
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return buf;
}

void txn_report(const char *what, int err)
{
	char text[256];

	rnl_error("%s: %s", what, wire_err_text(err, text, sizeof(text)));
}

/* ---- dispatch ---- */

static const struct {
	const char *verb;
	rnl_cmd_fn *fn;
} txn_verbs[] = {
	{ "list", txn_list },
	{ "describe", txn_describe },
};

int txn_main(rnl_ctx_t *ctx, int argc, char **argv)
{
	int at = rnl_take_verb(argc, argv);

	if (at < 0)
		return rnl_help(txn_usage);
	if (at == 0)
		return rnl_usage_error("txn ", "txn needs a command: list or describe");
	for (size_t i = 0; i < sizeof(txn_verbs) / sizeof(txn_verbs[0]); i++)
		if (strcmp(txn_verbs[i].verb, argv[1]) == 0)
			return txn_verbs[i].fn(ctx, argc - 1, argv + 1);
	return rnl_usage_error("txn ", "unknown txn command '%s'", argv[1]);
}
