/*
 * txn_list — rnl txn list [--state S]... [--producer-id P]... [--json]:
 * every transactional id the coordinators know, one row each, sorted by id:
 *
 *   TRANSACTIONAL-ID  COORDINATOR  PRODUCER-ID  STATE
 *   payments-tx       1            4000         Ongoing
 *
 * Each broker coordinates the ids of its own __transaction_state
 * partitions, so ListTransactions goes to every broker in Metadata (as
 * Kafka's Admin.listTransactions does) and COORDINATOR is the broker that
 * answered. The filters go to the brokers (StateFilters, ProducerIdFilters:
 * any of the states, any of the ids). States are Kafka's names, accepted in
 * any case. A broker that cannot be asked or answers an error gets one line
 * on stderr and makes the exit status 1; what the others listed is shown
 * (nothing at all, not even the header, when none answered).
 *
 * --json: {"transactions":[{"transactional_id":..,"coordinator":1,
 *          "producer_id":..,"state":..}]}
 */
#include "txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHAT "list transactions"
#define TXN_MAX_FILTERS 64

typedef struct list_args {
	const char *states[TXN_MAX_FILTERS];   /* Kafka's names (static) */
	int nstates;
	int64_t pids[TXN_MAX_FILTERS];
	int npids;
	bool json;
} list_args_t;

typedef struct listing {
	const char *tid;        /* arena */
	const char *state;      /* arena */
	int64_t pid;
	int32_t coordinator;
} listing_t;

typedef struct listings {
	listing_t *ls;          /* malloc'd */
	size_t n, cap;
} listings_t;

static int cmp_listing(const void *a, const void *b)
{
	return strcmp(((const listing_t *)a)->tid, ((const listing_t *)b)->tid);
}

/* ---- options ---- */

/* Adds "Ongoing,prepareCommit" to a. Returns false after a usage error. */
static bool add_states(list_args_t *a, const char *arg)
{
	char buf[512], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", arg);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const char *s = txn_state_canon(tok);
		bool seen = false;

		if (!s) {
			rnl_error("--state: unknown state '%s' (use Empty, Ongoing, PrepareCommit, "
				  "PrepareAbort, CompleteCommit, CompleteAbort, Dead or "
				  "PrepareEpochFence)", tok);
			return false;
		}
		for (int i = 0; i < a->nstates; i++)
			seen |= a->states[i] == s;
		if (!seen && a->nstates < TXN_MAX_FILTERS)
			a->states[a->nstates++] = s;
	}
	return true;
}

static int list_parse(rnl_ctx_t *ctx, int argc, char **argv, list_args_t *a)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "producer-id", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*a = (list_args_t){ 0 };
	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "s:p:", opts)) != -1) {
		if (c == 'h') {
			rnl_help(txn_usage_text());
			return -1;
		}
		if (c == 's' && add_states(a, optarg))
			continue;
		if (c == 'p' && a->npids < TXN_MAX_FILTERS &&
		    rnl_parse_i64("--producer-id", optarg, 0, INT64_MAX, &a->pids[a->npids])) {
			a->npids++;
			continue;
		}
		if (c == 'p' && a->npids == TXN_MAX_FILTERS)
			rnl_error("--producer-id: at most %d", TXN_MAX_FILTERS);
		if (c == 'J') {
			a->json = true;
			continue;
		}
		return rnl_usage_hint("txn ");
	}
	if (optind < argc)
		return rnl_usage_error("txn ", "unexpected argument '%s'", argv[optind]);
	return RNL_EXIT_OK;
}

/* ---- asking ---- */

static bool keep(listings_t *out, const listing_t *l)
{
	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 32;
		listing_t *ls = realloc(out->ls, sizeof(*ls) * cap);

		if (!ls)
			return false;
		out->ls = ls;
		out->cap = cap;
	}
	out->ls[out->n++] = *l;
	return true;
}

/* Copies one broker's answer into out. Returns false after printing. */
static bool take_answer(const struct list_transactions_response *resp, int32_t node,
			const char *subject, listings_t *out, struct arena *ar)
{
	for (int32_t i = 0; i < resp->unknown_state_filters.count; i++)
		fprintf(stderr, "rnl: warning: %s: the broker does not know state '%.*s'\n",
			subject, (int)resp->unknown_state_filters.items[i].len,
			resp->unknown_state_filters.items[i].ptr);
	if (resp->error_code) {
		txn_report(subject, resp->error_code);
		return false;
	}
	for (int32_t i = 0; i < resp->transaction_states.count; i++) {
		const struct list_transactions_response_transaction_state *s =
			&resp->transaction_states.items[i];
		listing_t l = { .tid = txn_str(ar, s->transactional_id),
				.state = txn_str(ar, s->transaction_state),
				.pid = s->producer_id, .coordinator = node };

		if (!l.tid || !l.state || !keep(out, &l)) {
			rnl_error("%s: out of memory", subject);
			return false;
		}
	}
	return true;
}

static bool ask_broker(struct wire_pool *pool, const rd_kafka_metadata_broker_t *b,
		       const list_args_t *a, listings_t *out, struct arena *ar)
{
	struct list_transactions_request req = { .duration_filter = -1 };
	struct list_transactions_response resp;
	kstr states[TXN_MAX_FILTERS];
	char subject[320];
	struct wire *w;
	int v;

	snprintf(subject, sizeof(subject), WHAT ": broker %d", b->id);
	if (!(w = wire_pool_get(pool, b->id, b->host, b->port, subject)) ||
	    (v = wire_need(w, PROTO_KEY_LIST_TRANSACTIONS, subject)) < 0)
		return false;
	for (int i = 0; i < a->nstates; i++)
		states[i] = kstr_c(a->states[i]);
	req.state_filters.count = a->nstates;
	req.state_filters.items = states;
	req.producer_id_filters.count = a->npids;
	req.producer_id_filters.items = (int64_t *)a->pids;
	if (!wire_call(w, PROTO_KEY_LIST_TRANSACTIONS, (int16_t)v, &req, &resp, ar)) {
		wire_report(w, subject);
		return false;
	}
	return take_answer(&resp, b->id, subject, out, ar);
}

/* ---- output ---- */

static bool list_print(const listings_t *l, bool json, struct arena *ar)
{
	static const char *const head[4] = { "TRANSACTIONAL-ID", "COORDINATOR", "PRODUCER-ID",
					     "STATE" };
	topic_config_table_t t = { .cols = 4 };
	bool ok = true;

	if (json)
		printf("{\"transactions\":[");
	else
		topic_config_table_add(&t, 0, head);
	for (size_t i = 0; i < l->n; i++) {
		const listing_t *x = &l->ls[i];
		char *buf = json ? NULL : arena_alloc(ar, 48);
		const char *cells[4] = { x->tid, buf, buf ? buf + 24 : NULL, x->state };

		if (json) {
			printf("%s{\"transactional_id\":", i ? "," : "");
			rnl_json_str(x->tid);
			printf(",\"coordinator\":%d,\"producer_id\":%lld,\"state\":",
			       x->coordinator, (long long)x->pid);
			rnl_json_str(x->state);
			putchar('}');
			continue;
		}
		if (!buf) {
			ok = false;
			break;
		}
		snprintf(buf, 24, "%d", x->coordinator);
		snprintf(buf + 24, 24, "%lld", (long long)x->pid);
		topic_config_table_add(&t, 0, cells);
	}
	if (json)
		printf("]}\n");
	else if (ok)
		ok = topic_config_table_print(&t);
	topic_config_table_free(&t);
	if (!ok)
		rnl_error("out of memory");
	return ok;
}

/* ---- command ---- */

static int list_run(const rd_kafka_metadata_t *md, rnl_ctx_t *ctx, const list_args_t *a)
{
	listings_t out = { 0 };
	struct wire_pool pool;
	struct arena ar;
	bool ok = true;

	arena_init(&ar);
	wire_pool_init(&pool, ctx->timeout_ms);
	for (int i = 0; i < md->broker_cnt; i++)
		ok &= ask_broker(&pool, &md->brokers[i], a, &out, &ar);
	if (out.n)
		qsort(out.ls, out.n, sizeof(*out.ls), cmp_listing);
	/* Nothing to show when no broker answered: no empty table. */
	if (ok || out.n)
		ok &= list_print(&out, a->json, &ar);
	wire_pool_fini(&pool);
	free(out.ls);
	arena_fini(&ar);
	return ok ? RNL_EXIT_OK : RNL_EXIT_FAIL;
}

int txn_list(rnl_ctx_t *ctx, int argc, char **argv)
{
	const rd_kafka_metadata_t *md;
	client_t cl = { 0 };
	list_args_t a;
	int rc = list_parse(ctx, argc, argv, &a);

	if (rc)
		return rc < 0 ? RNL_EXIT_OK : rc;
	rc = txn_metadata(&cl, ctx, &md);
	if (rc == RNL_EXIT_OK)
		rc = list_run(md, ctx, &a);
	if (md)
		rd_kafka_metadata_destroy(md);
	client_close(&cl);
	return rc;
}
