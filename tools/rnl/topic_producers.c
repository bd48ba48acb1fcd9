/*
 * topic_producers — rnl topic describe NAME --producers [--json]: the
 * active producers of every partition, from DescribeProducers (KIP-664),
 * as Kafka's `kafka-transactions.sh describe-producers` shows them:
 *
 *   PARTITION  PRODUCER-ID  EPOCH  LAST-SEQUENCE  LAST-TIMESTAMP  COORDINATOR-EPOCH  TXN-START-OFFSET
 *   0          4000         0      9              1763915000000   -                  -
 *
 * One row per (partition, producer id), sorted so; "-" stands for -1 (no
 * retained batch, no marker yet, no open transaction). "producers: none"
 * when no partition has one. Partitions, leaders and the leaders' addresses
 * come from Metadata (librdkafka); each leader gets one DescribeProducers
 * with its partitions over rnl's raw client (wire.c), since librdkafka
 * 2.0.2 has no such admin call. A partition the broker answers with an
 * error gets one line on stderr (`rnl: describe producers of orders-1:
 * NOT_LEADER_OR_FOLLOWER (...)`: the broker's ErrorMessage when it sent one),
 * is left out of the table (JSON: its "error" is the Kafka name) and makes
 * the exit status 1.
 *
 * --json: {"topic":T,"partitions":[{"partition":0,"error":null,
 *   "producers":[{"producer_id":..,"epoch":..,"last_sequence":..,
 *   "last_timestamp":..,"coordinator_epoch":..,"current_txn_start_offset":..}]}]}
 * with null for -1 and for a partition's error the Kafka name.
 */
#include "topic.h"
#include "wire.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHAT "describe producers"

typedef struct part_prod {
	int32_t partition;
	int16_t err;             /* Kafka code; -1 also for "not asked" (leader down) */
	kstr err_msg;            /* the broker's ErrorMessage (arena; len -1: none) */
	bool asked;              /* an answer arrived for it */
	const struct describe_producers_response_producer_state *ps; /* arena; sorted */
	int32_t n;
} part_prod_t;

static int cmp_part(const void *a, const void *b)
{
	const part_prod_t *x = a, *y = b;

	return (x->partition > y->partition) - (x->partition < y->partition);
}

static int cmp_state(const void *a, const void *b)
{
	const struct describe_producers_response_producer_state *x = a, *y = b;

	return (x->producer_id > y->producer_id) - (x->producer_id < y->producer_id);
}

static const rd_kafka_metadata_broker_t *find_broker(const rd_kafka_metadata_t *md, int32_t id)
{
	for (int i = 0; i < md->broker_cnt; i++)
		if (md->brokers[i].id == id)
			return &md->brokers[i];
	return NULL;
}

/* ---- asking the leaders ---- */

/* Copies one partition's answer into pp (the array lives in the arena). */
static void take_answer(part_prod_t *pp, size_t cnt,
			const struct describe_producers_response_partition_response *r)
{
	for (size_t i = 0; i < cnt; i++) {
		if (pp[i].partition != r->partition_index)
			continue;
		pp[i].asked = true;
		pp[i].err = r->error_code;
		pp[i].err_msg = r->error_message;
		pp[i].ps = r->active_producers.items;
		pp[i].n = r->active_producers.count > 0 ? r->active_producers.count : 0;
		if (pp[i].n)
			qsort(r->active_producers.items, (size_t)pp[i].n,
			      sizeof(*r->active_producers.items), cmp_state);
	}
}

/* One DescribeProducers to `leader` for every partition of t it leads. */
static bool ask_leader(struct wire_pool *pool, const rd_kafka_metadata_t *md,
		       const rd_kafka_metadata_topic_t *t, int32_t leader, part_prod_t *pp,
		       struct arena *a)
{
	const rd_kafka_metadata_broker_t *b = find_broker(md, leader);
	struct describe_producers_request req = { 0 };
	struct describe_producers_request_topic_request tr = { 0 };
	struct describe_producers_response resp;
	struct wire *w = b ? wire_pool_get(pool, leader, b->host, b->port, WHAT) : NULL;
	int32_t *ids = arena_alloc(a, sizeof(*ids) * (size_t)(t->partition_cnt + 1));
	int v;

	if (!w || !ids || (v = wire_need(w, PROTO_KEY_DESCRIBE_PRODUCERS, WHAT)) < 0)
		return false;
	tr.name = kstr_c(t->topic);
	for (int i = 0; i < t->partition_cnt; i++)
		if (t->partitions[i].leader == leader)
			ids[tr.partition_indexes.count++] = t->partitions[i].id;
	tr.partition_indexes.items = ids;
	req.topics.count = 1;
	req.topics.items = &tr;
	if (!wire_call(w, PROTO_KEY_DESCRIBE_PRODUCERS, (int16_t)v, &req, &resp, a)) {
		wire_report(w, WHAT);
		return false;
	}
	for (int32_t i = 0; i < resp.topics.count; i++)
		for (int32_t j = 0; j < resp.topics.items[i].partitions.count; j++)
			take_answer(pp, (size_t)t->partition_cnt,
				    &resp.topics.items[i].partitions.items[j]);
	return true;
}

/* Asks every leader of t once. Returns false if any could not be asked
 * (already printed); the partitions it leads stay !asked. */
static bool ask_all(const rd_kafka_metadata_t *md, const rd_kafka_metadata_topic_t *t,
		    part_prod_t *pp, int timeout_ms, struct arena *a)
{
	struct wire_pool pool;
	bool ok = true;

	wire_pool_init(&pool, timeout_ms);
	for (int i = 0; i < t->partition_cnt; i++) {
		int32_t leader = t->partitions[i].leader;
		bool seen = false;

		for (int j = 0; j < i; j++)
			seen |= t->partitions[j].leader == leader;
		if (leader < 0) {
			rnl_error(WHAT " of %s-%d: no leader", t->topic, t->partitions[i].id);
			ok = false;
		} else if (!seen) {
			ok &= ask_leader(&pool, md, t, leader, pp, a);
		}
	}
	wire_pool_fini(&pool);
	return ok;
}

/* ---- output ---- */

static const char *num_or_dash(int64_t v, char *buf, size_t size)
{
	if (v < 0)
		return "-";
	snprintf(buf, size, "%lld", (long long)v);
	return buf;
}

static void json_num(const char *key, int64_t v, bool first)
{
	printf("%s\"%s\":", first ? "" : ",", key);
	if (v < 0)
		printf("null");
	else
		printf("%lld", (long long)v);
}

static void print_json(const char *topic, const part_prod_t *pp, size_t cnt)
{
	bool first = true;

	printf("{\"topic\":");
	rnl_json_str(topic);
	printf(",\"partitions\":[");
	for (size_t i = 0; i < cnt; i++) {
		if (!pp[i].asked)
			continue;
		printf("%s{\"partition\":%d,\"error\":", first ? "" : ",", pp[i].partition);
		first = false;
		rnl_json_str(pp[i].err ? kafka_err_name(pp[i].err) : NULL);
		printf(",\"producers\":[");
		for (int32_t j = 0; j < pp[i].n; j++) {
			const struct describe_producers_response_producer_state *s = &pp[i].ps[j];

			printf("%s{", j ? "," : "");
			json_num("producer_id", s->producer_id, true);
			printf(",\"epoch\":%d", s->producer_epoch);
			json_num("last_sequence", s->last_sequence, false);
			json_num("last_timestamp", s->last_timestamp, false);
			json_num("coordinator_epoch", s->coordinator_epoch, false);
			json_num("current_txn_start_offset", s->current_txn_start_offset, false);
			putchar('}');
		}
		printf("]}");
	}
	printf("]}\n");
}

/* The cells of one producer row, formatted into arena memory. */
static bool table_row(topic_config_table_t *t, int32_t partition,
		      const struct describe_producers_response_producer_state *s, struct arena *a)
{
	const size_t w = 24;
	char *buf = arena_alloc(a, w * 7);
	const char *cells[7];

	if (!buf)
		return false;
	snprintf(buf, w, "%d", partition);
	snprintf(buf + w, w, "%lld", (long long)s->producer_id);
	snprintf(buf + 2 * w, w, "%d", s->producer_epoch);
	cells[0] = buf;
	cells[1] = buf + w;
	cells[2] = buf + 2 * w;
	cells[3] = num_or_dash(s->last_sequence, buf + 3 * w, w);
	cells[4] = num_or_dash(s->last_timestamp, buf + 4 * w, w);
	cells[5] = num_or_dash(s->coordinator_epoch, buf + 5 * w, w);
	cells[6] = num_or_dash(s->current_txn_start_offset, buf + 6 * w, w);
	topic_config_table_add(t, 0, cells);
	return true;
}

static bool print_table(const part_prod_t *pp, size_t cnt, struct arena *a)
{
	static const char *const head[7] = { "PARTITION", "PRODUCER-ID", "EPOCH", "LAST-SEQUENCE",
					     "LAST-TIMESTAMP", "COORDINATOR-EPOCH",
					     "TXN-START-OFFSET" };
	topic_config_table_t t = { .cols = 7 };
	bool ok = true;

	topic_config_table_add(&t, 0, head);
	for (size_t i = 0; i < cnt; i++)
		for (int32_t j = 0; pp[i].asked && !pp[i].err && j < pp[i].n; j++)
			ok &= table_row(&t, pp[i].partition, &pp[i].ps[j], a);
	if (t.rows == 1)
		printf("producers: none\n");
	else
		ok &= topic_config_table_print(&t);
	topic_config_table_free(&t);
	if (!ok)
		rnl_error("out of memory");
	return ok;
}

/* ---- command ---- */

static int producers_run(client_t *cl, const char *name, bool json)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	const rd_kafka_metadata_topic_t *t;
	part_prod_t *pp;
	struct arena a;
	bool ok;

	if (!md)
		return RNL_EXIT_FAIL;
	if (!(t = client_topic_find(md, name))) {
		rd_kafka_metadata_destroy(md);
		return client_no_topic(name);
	}
	arena_init(&a);
	pp = arena_alloc(&a, sizeof(*pp) * (size_t)(t->partition_cnt + 1));
	for (int i = 0; pp && i < t->partition_cnt; i++)
		pp[i] = (part_prod_t){ .partition = t->partitions[i].id, .err = -1 };
	ok = pp != NULL;
	if (ok) {
		qsort(pp, (size_t)t->partition_cnt, sizeof(*pp), cmp_part);
		ok = ask_all(md, t, pp, cl->ctx->timeout_ms, &a);
	}
	for (int i = 0; pp && i < t->partition_cnt; i++) {
		char text[256];

		if (!pp[i].asked || !pp[i].err)
			continue;
		if (pp[i].err_msg.len > 0)   /* the broker's own words beat the generic text */
			rnl_error(WHAT " of %s-%d: %s (%.*s)", name, pp[i].partition,
				  kafka_err_name(pp[i].err), (int)pp[i].err_msg.len,
				  pp[i].err_msg.ptr);
		else
			rnl_error(WHAT " of %s-%d: %s", name, pp[i].partition,
				  wire_err_text(pp[i].err, text, sizeof(text)));
		ok = false;
	}
	if (pp && json)
		print_json(name, pp, (size_t)t->partition_cnt);
	else if (pp)
		ok &= print_table(pp, (size_t)t->partition_cnt, &a);
	else
		rnl_error("out of memory");
	arena_fini(&a);
	rd_kafka_metadata_destroy(md);
	return ok ? RNL_EXIT_OK : RNL_EXIT_FAIL;
}

bool topic_producers_wanted(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (!strcmp(argv[i], "--producers"))
			return true;
	return false;
}

int topic_producers(rnl_ctx_t *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "producers", no_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	client_t cl = { 0 };
	bool json = false;
	int c, rc;

	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "", opts)) != -1) {
		if (c == 'h')
			return rnl_help(topic_usage_text());
		if (c != 'P' && c != 'J')
			return rnl_usage_hint("topic ");
		json |= c == 'J';
	}
	if (argc - optind != 1)
		return rnl_usage_error("topic ", "topic describe takes one topic name");
	rc = topic_open_admin(&cl, ctx);
	if (rc == RNL_EXIT_OK)
		rc = producers_run(&cl, argv[optind], json);
	client_close(&cl);
	return rc;
}
