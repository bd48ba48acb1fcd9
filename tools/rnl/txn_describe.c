/*
 * txn_describe — rnl txn describe TRANSACTIONAL-ID... [--json]: the
 * coordinator's state of each id, in the order given (repeats dropped):
 *
 *   TRANSACTIONAL-ID  COORDINATOR  PRODUCER-ID  EPOCH  STATE    TIMEOUT-MS  START-TIME                AGE   PARTITIONS
 *   payments-tx       1            4000         0      Ongoing  60000       2026-11-23T16:40:00.123Z  3.2s  orders:0,1 payments:2
 *
 * START-TIME is when the current transaction started (UTC; "-" when none
 * is open), AGE how long ago by this machine's clock; PARTITIONS the
 * partitions the coordinator added to it, by topic ("-" for none).
 *
 * As Kafka's Admin.describeTransactions: FindCoordinator with key type 1
 * (transaction) to the broker that answered Metadata — all ids in one
 * request from FindCoordinator v4 on, one request per id before — retried
 * while the coordinator is not available yet (it creates
 * __transaction_state on first need) until --timeout; then one
 * DescribeTransactions per coordinator with its ids. An id the coordinator
 * does not know (TRANSACTIONAL_ID_NOT_FOUND) or that cannot be described
 * gets one line on stderr, is left out, and makes the exit status 1 (the
 * table is not printed at all when no id could be described; --json
 * always prints its object).
 *
 * --json: {"transactions":[{"transactional_id":..,"coordinator":1,
 *   "state":..,"producer_id":..,"producer_epoch":..,"timeout_ms":..,
 *   "start_time_ms":..|null,"age_ms":..|null,
 *   "partitions":[{"topic":..,"partition":..}]}]}
 */
#include "txn.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WHAT "describe transaction"

typedef struct desc {
	const char *tid;          /* borrowed from argv */
	int32_t coordinator;      /* node id; -1 until found */
	const char *host;         /* the coordinator's address (arena) */
	int32_t port;
	int16_t err;              /* FindCoordinator's or DescribeTransactions' code */
	const struct describe_transactions_response_transaction_state *st; /* arena; NULL none */
} desc_t;

static int64_t now_ms(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void report_id(const char *tid, int err)
{
	char subject[600];

	snprintf(subject, sizeof(subject), WHAT " \"%s\"", tid);
	txn_report(subject, err);
}

static bool retriable(int err)
{
	return err == KAFKA_COORDINATOR_NOT_AVAILABLE ||
	       err == KAFKA_COORDINATOR_LOAD_IN_PROGRESS || err == KAFKA_NOT_COORDINATOR;
}

/* The id's coordinator is still to be found: not asked yet, or asked and
 * told to retry. */
static bool pending(const desc_t *d)
{
	return d->coordinator < 0 && (d->err == 0 || retriable(d->err));
}

/* ---- FindCoordinator ---- */

static void found(desc_t *d, int16_t err, int32_t node, kstr host, int32_t port, struct arena *a)
{
	d->err = err;
	if (err)
		return;
	d->coordinator = node;
	d->host = txn_str(a, host);
	d->port = port;
	if (!d->host)
		d->err = KAFKA_UNKNOWN_SERVER_ERROR;
}

/* One FindCoordinator for every id still unresolved (v4), or for d alone
 * (v1-3). Returns false when the request itself failed (printed). */
static bool find_once(struct wire *w, int v, desc_t *ds, size_t n, struct arena *a)
{
	struct find_coordinator_request req = { .key_type = 1 };
	struct find_coordinator_response resp;
	kstr *keys = arena_alloc(a, sizeof(*keys) * (n + 1));
	int32_t nk = 0;

	for (size_t i = 0; keys && i < n; i++)
		if (pending(&ds[i]))
			keys[nk++] = kstr_c(ds[i].tid);
	if (!keys || nk == 0)
		return keys != NULL;
	req.key = keys[0];
	req.coordinator_keys.count = nk;
	req.coordinator_keys.items = keys;
	if (!wire_call(w, PROTO_KEY_FIND_COORDINATOR, (int16_t)v, &req, &resp, a)) {
		wire_report(w, WHAT);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!pending(&ds[i]))
			continue;
		if (v < 4) {   /* answers keys[0]: the first unresolved id */
			found(&ds[i], resp.error_code, resp.node_id, resp.host, resp.port, a);
			break;
		}
		for (int32_t j = 0; j < resp.coordinators.count; j++) {
			const struct find_coordinator_response_coordinator *c =
				&resp.coordinators.items[j];

			if ((size_t)c->key.len == strlen(ds[i].tid) &&
			    memcmp(c->key.ptr, ds[i].tid, (size_t)c->key.len) == 0)
				found(&ds[i], c->error_code, c->node_id, c->host, c->port, a);
		}
	}
	return true;
}

/* Resolves every id's coordinator, retrying retriable codes (100 ms
 * apart) until the deadline. Ids left with an error are reported by the
 * caller; an id never answered gets REQUEST_TIMED_OUT. */
static bool find_all(struct wire *w, desc_t *ds, size_t n, int timeout_ms, struct arena *a)
{
	int64_t deadline = now_ms(CLOCK_MONOTONIC) + timeout_ms;
	int v = wire_need(w, PROTO_KEY_FIND_COORDINATOR, WHAT);
	bool any = true;

	if (v < 1) {   /* v0 has no key type */
		if (v == 0)
			rnl_error(WHAT ": the broker at %s has no FindCoordinator for transactions",
				  w->addr);
		return false;
	}
	while (any && now_ms(CLOCK_MONOTONIC) < deadline) {
		struct timespec pause = { 0, 100 * 1000000L };
		bool retry = false;

		if (!find_once(w, v, ds, n, a))
			return false;
		any = false;
		for (size_t i = 0; i < n; i++) {
			any |= pending(&ds[i]);
			retry |= pending(&ds[i]) && ds[i].err != 0;
		}
		if (retry)
			nanosleep(&pause, NULL);
	}
	for (size_t i = 0; i < n; i++)
		if (pending(&ds[i]) && ds[i].err == 0)
			ds[i].err = KAFKA_REQUEST_TIMED_OUT;
	return true;
}

/* ---- DescribeTransactions ---- */

/* Asks the coordinator of ds[first] about every id it coordinates. */
static void describe_at(struct wire_pool *pool, desc_t *ds, size_t n, size_t first,
			struct arena *a)
{
	const desc_t *c = &ds[first];
	struct describe_transactions_request req = { 0 };
	struct describe_transactions_response resp;
	kstr *ids = arena_alloc(a, sizeof(*ids) * (n + 1));
	struct wire *w = wire_pool_get(pool, c->coordinator, c->host, c->port, WHAT);
	int v = w ? wire_need(w, PROTO_KEY_DESCRIBE_TRANSACTIONS, WHAT) : -1;

	for (size_t i = first; ids && i < n; i++)
		if (!ds[i].err && !ds[i].st && ds[i].coordinator == c->coordinator)
			ids[req.transactional_ids.count++] = kstr_c(ds[i].tid);
	req.transactional_ids.items = ids;
	if (!ids || v < 0 ||
	    !wire_call(w, PROTO_KEY_DESCRIBE_TRANSACTIONS, (int16_t)v, &req, &resp, a)) {
		if (ids && v >= 0)
			wire_report(w, WHAT);
		resp.transaction_states.count = 0;
	}
	for (int32_t j = 0; j < resp.transaction_states.count; j++) {
		const struct describe_transactions_response_transaction_state *s =
			&resp.transaction_states.items[j];

		for (size_t i = first; i < n; i++)
			if (!ds[i].st && (size_t)s->transactional_id.len == strlen(ds[i].tid) &&
			    memcmp(s->transactional_id.ptr, ds[i].tid, strlen(ds[i].tid)) == 0) {
				ds[i].st = s;
				ds[i].err = s->error_code;
			}
	}
	/* Ids the coordinator was asked about but did not answer: failed. */
	for (size_t i = first; i < n; i++)
		if (!ds[i].err && !ds[i].st && ds[i].coordinator == c->coordinator)
			ds[i].err = -1;
}

/* ---- output ---- */

/* "orders:0,1 payments:2" ("-" when none) in arena memory. */
static const char *fmt_parts(const struct describe_transactions_response_transaction_state *s,
			     struct arena *a)
{
	size_t size = 2, len = 0;
	char *buf;

	for (int32_t i = 0; i < s->topics.count; i++)
		size += (size_t)s->topics.items[i].topic.len + 2 +
			12 * (size_t)(s->topics.items[i].partitions.count > 0
					      ? s->topics.items[i].partitions.count : 0);
	if (!(buf = arena_alloc(a, size)))
		return NULL;
	for (int32_t i = 0; i < s->topics.count; i++) {
		const struct describe_transactions_response_topic_data *t = &s->topics.items[i];

		len += (size_t)snprintf(buf + len, size - len, "%s%.*s:", i ? " " : "",
					(int)t->topic.len, t->topic.ptr);
		for (int32_t j = 0; j < t->partitions.count; j++)
			len += (size_t)snprintf(buf + len, size - len, "%s%d", j ? "," : "",
						t->partitions.items[j]);
	}
	return len ? buf : "-";
}

static bool table_row(topic_config_table_t *t, const desc_t *d, int64_t now,
		      struct arena *a)
{
	const struct describe_transactions_response_transaction_state *s = d->st;
	const size_t w = 32;
	char *buf = arena_alloc(a, w * 6);
	const char *cells[9];

	if (!buf || !(cells[8] = fmt_parts(s, a)) ||
	    !(cells[4] = txn_str(a, s->transaction_state)))
		return false;
	cells[0] = d->tid;
	snprintf(buf, w, "%d", d->coordinator);
	snprintf(buf + w, w, "%lld", (long long)s->producer_id);
	snprintf(buf + 2 * w, w, "%d", s->producer_epoch);
	snprintf(buf + 3 * w, w, "%d", s->transaction_timeout_ms);
	cells[1] = buf;
	cells[2] = buf + w;
	cells[3] = buf + 2 * w;
	cells[5] = buf + 3 * w;
	cells[6] = txn_fmt_time(s->transaction_start_time_ms, buf + 4 * w, w);
	if (s->transaction_start_time_ms < 0)
		snprintf(buf + 5 * w, w, "-");
	else
		snprintf(buf + 5 * w, w, "%.1fs",
			 (double)(now - s->transaction_start_time_ms) / 1000);
	cells[7] = buf + 5 * w;
	topic_config_table_add(t, 0, cells);
	return true;
}

static bool print_table(const desc_t *ds, size_t n, struct arena *a)
{
	static const char *const head[9] = { "TRANSACTIONAL-ID", "COORDINATOR", "PRODUCER-ID",
					     "EPOCH", "STATE", "TIMEOUT-MS", "START-TIME", "AGE",
					     "PARTITIONS" };
	topic_config_table_t t = { .cols = 9 };
	int64_t now = now_ms(CLOCK_REALTIME);
	bool ok = true;

	topic_config_table_add(&t, 0, head);
	for (size_t i = 0; ok && i < n; i++)
		if (ds[i].st && !ds[i].err)
			ok = table_row(&t, &ds[i], now, a);
	/* Every id failed (each said so on stderr): no empty table. */
	if (ok && t.rows > 1)
		ok = topic_config_table_print(&t);
	topic_config_table_free(&t);
	if (!ok)
		rnl_error("out of memory");
	return ok;
}

static void json_one(const desc_t *d, int64_t now)
{
	const struct describe_transactions_response_transaction_state *s = d->st;
	int64_t start = s->transaction_start_time_ms;

	printf("{\"transactional_id\":");
	rnl_json_str(d->tid);
	printf(",\"coordinator\":%d,\"state\":", d->coordinator);
	printf("\"%.*s\"", (int)s->transaction_state.len, s->transaction_state.ptr);
	printf(",\"producer_id\":%lld,\"producer_epoch\":%d,\"timeout_ms\":%d",
	       (long long)s->producer_id, s->producer_epoch, s->transaction_timeout_ms);
	if (start < 0)
		printf(",\"start_time_ms\":null,\"age_ms\":null");
	else
		printf(",\"start_time_ms\":%lld,\"age_ms\":%lld", (long long)start,
		       (long long)(now - start));
	printf(",\"partitions\":[");
	for (int32_t i = 0, k = 0; i < s->topics.count; i++)
		for (int32_t j = 0; j < s->topics.items[i].partitions.count; j++, k++)
			printf("%s{\"topic\":\"%.*s\",\"partition\":%d}", k ? "," : "",
			       (int)s->topics.items[i].topic.len, s->topics.items[i].topic.ptr,
			       s->topics.items[i].partitions.items[j]);
	printf("]}");
}

static void print_json(const desc_t *ds, size_t n)
{
	int64_t now = now_ms(CLOCK_REALTIME);
	bool first = true;

	printf("{\"transactions\":[");
	for (size_t i = 0; i < n; i++) {
		if (!ds[i].st || ds[i].err)
			continue;
		printf("%s", first ? "" : ",");
		first = false;
		json_one(&ds[i], now);
	}
	printf("]}\n");
}

/* ---- command ---- */

/* The broker that answered Metadata (else the first listed). */
static const rd_kafka_metadata_broker_t *bootstrap_broker(const rd_kafka_metadata_t *md)
{
	const rd_kafka_metadata_broker_t *b = txn_broker(md, md->orig_broker_id);

	return b ? b : md->broker_cnt ? &md->brokers[0] : NULL;
}

static int describe_run(const rd_kafka_metadata_t *md, rnl_ctx_t *ctx, desc_t *ds, size_t n,
			bool json)
{
	const rd_kafka_metadata_broker_t *b = bootstrap_broker(md);
	struct wire_pool pool;
	struct arena a;
	struct wire *w;
	bool ok = true;

	arena_init(&a);
	wire_pool_init(&pool, ctx->timeout_ms);
	w = b ? wire_pool_get(&pool, b->id, b->host, b->port, WHAT) : NULL;
	if (!b)
		rnl_error(WHAT ": Metadata named no broker");
	if (!w || !find_all(w, ds, n, ctx->timeout_ms, &a))
		ok = false;
	for (size_t i = 0; ok && i < n; i++)
		if (!ds[i].err && !ds[i].st && ds[i].coordinator >= 0)
			describe_at(&pool, ds, n, i, &a);
	/* err -1: the request failed, which wire_report printed already. */
	for (size_t i = 0; ok && i < n; i++)
		if (ds[i].err > 0)
			report_id(ds[i].tid, ds[i].err);
	for (size_t i = 0; i < n; i++)
		ok &= ds[i].st && !ds[i].err;
	if (json)
		print_json(ds, n);
	else if (!print_table(ds, n, &a))
		ok = false;
	wire_pool_fini(&pool);
	arena_fini(&a);
	return ok ? RNL_EXIT_OK : RNL_EXIT_FAIL;
}

int txn_describe(rnl_ctx_t *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	const rd_kafka_metadata_t *md = NULL;
	client_t cl = { 0 };
	bool json = false;
	desc_t *ds;
	size_t n = 0;
	int c, rc;

	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "", opts)) != -1) {
		if (c == 'h')
			return rnl_help(txn_usage_text());
		if (c != 'J')
			return rnl_usage_hint("txn ");
		json = true;
	}
	if (optind >= argc)
		return rnl_usage_error("txn ", "txn describe needs at least one transactional id");
	if (!(ds = calloc((size_t)(argc - optind), sizeof(*ds)))) {
		rnl_error("out of memory");
		return RNL_EXIT_FAIL;
	}
	for (int i = optind; i < argc; i++) {
		bool seen = false;

		for (size_t j = 0; j < n; j++)
			seen |= strcmp(ds[j].tid, argv[i]) == 0;
		if (!seen)
			ds[n++] = (desc_t){ .tid = argv[i], .coordinator = -1 };
	}
	rc = txn_metadata(&cl, ctx, &md);
	if (rc == RNL_EXIT_OK)
		rc = describe_run(md, ctx, ds, n, json);
	if (md)
		rd_kafka_metadata_destroy(md);
	client_close(&cl);
	free(ds);
	return rc;
}
