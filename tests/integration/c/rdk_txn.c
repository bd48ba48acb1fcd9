/*
 * rdk_txn.c — librdkafka's idempotent and transactional producers, driven by
 * tests/integration/test_transactions.py against a real runnel.
 *
 *   rdk_txn BOOTSTRAP IN OUT PARTITIONS COUNT GROUP TXNID BATCH ABORT_EVERY
 *
 * 1. Fills IN (new and empty) with an idempotent producer: message i goes
 *    to partition i % PARTITIONS with key "k<i>" and value "v<i>". Every
 *    delivery report must arrive without error, and each partition's
 *    offsets must be 0, 1, 2, ... in production order.
 * 2. Copies IN to OUT with a consume-transform-produce loop: a consumer in
 *    GROUP (subscribe, isolation.level=read_committed, no auto commit) and
 *    a transactional producer (transactional.id TXNID). Each transaction
 *    takes up to BATCH consumed records, produces each to OUT's partition of
 *    the same number with key "<partition>:<input offset>" and value
 *    "out:<input value>", adds the consumer's next offsets with
 *    send_offsets_to_transaction and commits. Every ABORT_EVERY-th
 *    transaction (0: none) is aborted instead, after its records were
 *    flushed to the broker and its offsets sent; the consumer then seeks
 *    back to the group's committed offsets (as the broker answers them) and
 *    the records are copied again in a later transaction.
 *    Stops once COUNT records were copied in committed transactions.
 *
 * Any error fails the run (no faults are injected here). Prints
 * "rdk_txn: OK ..." on stdout and exits 0, else "FAIL: ..." on stderr and
 * exits 1. Checking OUT and the committed offsets is the test's job.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#define MAX_PARTS 64
#define TXN_MS 30000

static int nparts;
static int64_t next_dr[MAX_PARTS]; /* idempotent fill: next offset expected per partition */
static int dr_ok, failures;

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "FAIL: %s: %s\n", what, detail);
	exit(1);
}

static void check_err(const char *what, rd_kafka_error_t *e)
{
	if (e == NULL)
		return;
	fprintf(stderr, "FAIL: %s: %s (%s%s%s)\n", what, rd_kafka_error_string(e),
		rd_kafka_error_name(e), rd_kafka_error_is_fatal(e) ? ", fatal" : "",
		rd_kafka_error_txn_requires_abort(e) ? ", abortable" : "");
	exit(1);
}

static rd_kafka_conf_t *conf_of(const char *const kv[][2], size_t n)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	for (size_t k = 0; k < n; k++)
		if (rd_kafka_conf_set(conf, kv[k][0], kv[k][1], err, sizeof err) != RD_KAFKA_CONF_OK)
			fail(kv[k][0], err);
	return conf;
}

static rd_kafka_t *client(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
	char err[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
	if (rk == NULL)
		fail("rd_kafka_new", err);
	return rk;
}

/* ---- 1. the idempotent fill ---- */

static void fill_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	intptr_t i = (intptr_t)m->_private;
	if (m->err) {
		fprintf(stderr, "FAIL: fill message %ld: %s\n", (long)i, rd_kafka_err2str(m->err));
		failures++;
		return;
	}
	int p = (int)(i % nparts);
	if (m->partition != p || m->offset != next_dr[p]) {
		fprintf(stderr, "FAIL: fill message %ld at %d:%" PRId64 ", want %d:%" PRId64 "\n",
			(long)i, (int)m->partition, m->offset, p, next_dr[p]);
		failures++;
	}
	next_dr[p] = m->offset + 1;
	dr_ok++;
}

static void fill(const char *bootstrap, const char *topic, int count)
{
	const char *const kv[][2] = {
		{ "bootstrap.servers", bootstrap }, { "enable.idempotence", "true" },
		{ "linger.ms", "5" }, { "batch.num.messages", "200" },
	};
	rd_kafka_conf_t *conf = conf_of(kv, sizeof kv / sizeof kv[0]);
	rd_kafka_conf_set_dr_msg_cb(conf, fill_dr);
	rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, conf);
	char key[32], val[32];
	for (int i = 0; i < count; i++) {
		int nk = snprintf(key, sizeof key, "k%d", i), nv = snprintf(val, sizeof val, "v%d", i);
		rd_kafka_resp_err_t e;
		while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(i % nparts),
					      RD_KAFKA_V_KEY(key, (size_t)nk), RD_KAFKA_V_VALUE(val, (size_t)nv),
					      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					      RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END)) ==
		       RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(rk, 10);
		if (e)
			fail("fill produce", rd_kafka_err2str(e));
		rd_kafka_poll(rk, 0);
	}
	if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		fail("fill", "not all delivered in 60 s");
	rd_kafka_destroy(rk);
	if (failures || dr_ok != count) {
		fprintf(stderr, "FAIL: fill: %d of %d delivered, %d failures\n", dr_ok, count, failures);
		exit(1);
	}
}

/* ---- 2. consume-transform-produce ---- */

struct loop {
	rd_kafka_t *consumer, *producer;
	const char *in, *out;
	int batch, abort_every;
	int copied, txns, aborted;
};

static rd_kafka_t *ctp_consumer(const char *bootstrap, const char *group, const char *topic)
{
	const char *const kv[][2] = {
		{ "bootstrap.servers", bootstrap }, { "group.id", group },
		{ "isolation.level", "read_committed" }, { "enable.auto.commit", "false" },
		{ "auto.offset.reset", "earliest" }, { "fetch.wait.max.ms", "50" },
	};
	rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, conf_of(kv, sizeof kv / sizeof kv[0]));
	rd_kafka_poll_set_consumer(rk);
	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (e)
		fail("subscribe", rd_kafka_err2str(e));
	return rk;
}

static rd_kafka_t *txn_producer(const char *bootstrap, const char *txnid)
{
	const char *const kv[][2] = {
		{ "bootstrap.servers", bootstrap }, { "transactional.id", txnid },
		{ "transaction.timeout.ms", "30000" }, { "linger.ms", "5" },
	};
	rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, conf_of(kv, sizeof kv / sizeof kv[0]));
	check_err("init_transactions", rd_kafka_init_transactions(rk, TXN_MS));
	return rk;
}

/* Polls up to `want` records into msgs; returns how many (0 only when the
 * consumer stayed idle for a while, e.g. during the first assignment). */
static int poll_batch(struct loop *L, rd_kafka_message_t **msgs, int want)
{
	int n = 0;
	for (int idle = 0; n < want && idle < (n ? 2 : 100);) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(L->consumer, 100);
		if (m == NULL) {
			idle++;
			continue;
		}
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				fail("consume", rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		msgs[n++] = m;
	}
	return n;
}

static void produce_out(struct loop *L, const rd_kafka_message_t *m)
{
	char key[64], val[128];
	int nk = snprintf(key, sizeof key, "%d:%" PRId64, (int)m->partition, m->offset);
	int nv = snprintf(val, sizeof val, "out:%.*s", (int)m->len, (const char *)m->payload);
	rd_kafka_resp_err_t e;
	while ((e = rd_kafka_producev(L->producer, RD_KAFKA_V_TOPIC(L->out),
				      RD_KAFKA_V_PARTITION(m->partition), RD_KAFKA_V_KEY(key, (size_t)nk),
				      RD_KAFKA_V_VALUE(val, (size_t)nv),
				      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
	       RD_KAFKA_RESP_ERR__QUEUE_FULL)
		rd_kafka_poll(L->producer, 10);
	if (e)
		fail("produce", rd_kafka_err2str(e));
}

/* The next offset per partition after the batch (what to commit). */
static rd_kafka_topic_partition_list_t *next_offsets(struct loop *L, rd_kafka_message_t **msgs, int n)
{
	rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new(nparts);
	for (int i = 0; i < n; i++) {
		rd_kafka_topic_partition_t *tp =
			rd_kafka_topic_partition_list_find(offs, L->in, msgs[i]->partition);
		if (tp == NULL)
			tp = rd_kafka_topic_partition_list_add(offs, L->in, msgs[i]->partition);
		tp->offset = msgs[i]->offset + 1;
	}
	return offs;
}

static void send_offsets(struct loop *L, rd_kafka_topic_partition_list_t *offs)
{
	rd_kafka_consumer_group_metadata_t *md = rd_kafka_consumer_group_metadata(L->consumer);
	check_err("send_offsets_to_transaction",
		  rd_kafka_send_offsets_to_transaction(L->producer, offs, md, TXN_MS));
	rd_kafka_consumer_group_metadata_destroy(md);
}

/* After an abort: back to the committed offsets of the batch's partitions. */
static void rewind_to_committed(struct loop *L, rd_kafka_topic_partition_list_t *offs)
{
	rd_kafka_resp_err_t e = rd_kafka_committed(L->consumer, offs, TXN_MS);
	if (e)
		fail("committed", rd_kafka_err2str(e));
	for (int i = 0; i < offs->cnt; i++) {
		if (offs->elems[i].err)
			fail("committed", rd_kafka_err2str(offs->elems[i].err));
		if (offs->elems[i].offset < 0)
			offs->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
	}
	check_err("seek_partitions", rd_kafka_seek_partitions(L->consumer, offs, TXN_MS));
}

static void one_txn(struct loop *L, rd_kafka_message_t **msgs, int n)
{
	bool do_abort = L->abort_every > 0 && L->txns % L->abort_every == L->abort_every - 1;
	check_err("begin_transaction", rd_kafka_begin_transaction(L->producer));
	for (int i = 0; i < n; i++)
		produce_out(L, msgs[i]);
	rd_kafka_topic_partition_list_t *offs = next_offsets(L, msgs, n);
	send_offsets(L, offs);
	if (do_abort) {
		if (rd_kafka_flush(L->producer, TXN_MS))
			fail("flush", "records of the transaction to abort not delivered");
		check_err("abort_transaction", rd_kafka_abort_transaction(L->producer, TXN_MS));
		rewind_to_committed(L, offs);
		L->aborted++;
	} else {
		check_err("commit_transaction", rd_kafka_commit_transaction(L->producer, TXN_MS));
		L->copied += n;
	}
	rd_kafka_topic_partition_list_destroy(offs);
	L->txns++;
}

static void copy_loop(struct loop *L, int count)
{
	rd_kafka_message_t **msgs = malloc(sizeof *msgs * (size_t)L->batch);
	if (msgs == NULL)
		fail("malloc", "batch");
	int idle_rounds = 0;
	while (L->copied < count) {
		int n = poll_batch(L, msgs, L->batch);
		if (n == 0) {
			if (++idle_rounds > 30)  /* 30 x 10 s without a record */
				fail("consume", "no records for 300 s");
			continue;
		}
		idle_rounds = 0;
		one_txn(L, msgs, n);
		for (int i = 0; i < n; i++)
			rd_kafka_message_destroy(msgs[i]);
	}
	free(msgs);
	if (L->copied != count) {
		fprintf(stderr, "FAIL: copied %d records, want %d\n", L->copied, count);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 10) {
		fprintf(stderr, "usage: rdk_txn BOOTSTRAP IN OUT PARTITIONS COUNT GROUP TXNID BATCH "
				"ABORT_EVERY\n");
		return 2;
	}
	nparts = atoi(argv[4]);
	int count = atoi(argv[5]);
	struct loop L = { .in = argv[2], .out = argv[3], .batch = atoi(argv[8]),
			  .abort_every = atoi(argv[9]) };
	if (nparts < 1 || nparts > MAX_PARTS || count < 1 || L.batch < 1 || L.abort_every < 0)
		return 2;
	fill(argv[1], L.in, count);
	L.consumer = ctp_consumer(argv[1], argv[6], L.in);
	L.producer = txn_producer(argv[1], argv[7]);
	copy_loop(&L, count);
	rd_kafka_resp_err_t e = rd_kafka_consumer_close(L.consumer);
	if (e)
		fail("consumer_close", rd_kafka_err2str(e));
	rd_kafka_destroy(L.consumer);
	rd_kafka_destroy(L.producer);
	printf("rdk_txn: OK filled %d, copied %d in %d transactions (%d aborted)\n", count, L.copied,
	       L.txns, L.aborted);
	return 0;
}
