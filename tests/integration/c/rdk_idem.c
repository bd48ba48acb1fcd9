/*
 * rdk_idem.c — a librdkafka idempotent producer, driven by
 * tests/integration/test_idempotence.py against a real runnel (directly,
 * through tests/integration/dropproxy.py, or across a broker SIGKILL).
 *
 *   rdk_idem BOOTSTRAP TOPIC PARTITIONS COUNT
 *
 * Produces COUNT messages with enable.idempotence=true (hence acks=all),
 * max.in.flight 5 and small batches (batch.num.messages 20, linger 2 ms), so
 * that several batches are in flight per partition and a lost answer makes
 * librdkafka resend batches the broker already has. Message i goes to
 * partition i % PARTITIONS with value "i" (decimal). Waits for every
 * delivery report (message.timeout.ms 60 s covers a broker restart) and
 * checks: exactly one report per message, no error, the partition asked
 * for, and per partition offsets 0, 1, 2, ... in production order — i.e.
 * no duplicate and no gap (TOPIC must be new and empty).
 * Prints "rdk_idem: OK ..." on stdout and exits 0, else "FAIL: ..." on
 * stderr and exits 1. Reading back is the test's job.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#define MAX_PARTS 64

static int64_t *offsets;  /* per message, from its delivery report; -1 before */
static int *reports;      /* per message: reports seen */
static int nparts, failures;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	intptr_t i = (intptr_t)m->_private;
	reports[i]++;
	if (m->err) {
		fprintf(stderr, "FAIL: message %ld: %s\n", (long)i, rd_kafka_err2str(m->err));
		failures++;
		return;
	}
	if (m->partition != (int32_t)(i % nparts)) {
		fprintf(stderr, "FAIL: message %ld in partition %d\n", (long)i, (int)m->partition);
		failures++;
	}
	offsets[i] = m->offset;
}

static rd_kafka_t *producer(const char *bootstrap)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	const char *kv[][2] = {
		{ "bootstrap.servers", bootstrap }, { "enable.idempotence", "true" },
		{ "acks", "all" }, { "max.in.flight.requests.per.connection", "5" },
		{ "batch.num.messages", "20" }, { "linger.ms", "2" },
		{ "message.timeout.ms", "60000" }, { "retry.backoff.ms", "50" },
		{ "reconnect.backoff.ms", "50" }, { "reconnect.backoff.max.ms", "500" },
	};
	for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++)
		if (rd_kafka_conf_set(conf, kv[k][0], kv[k][1], err, sizeof err) != RD_KAFKA_CONF_OK) {
			fprintf(stderr, "FAIL: %s\n", err);
			exit(1);
		}
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
	if (rk == NULL) {
		fprintf(stderr, "FAIL: rd_kafka_new: %s\n", err);
		exit(1);
	}
	return rk;
}

static void produce_all(rd_kafka_t *rk, const char *topic, int count)
{
	char val[32];
	for (int i = 0; i < count; i++) {
		int n = snprintf(val, sizeof val, "%d", i);
		rd_kafka_resp_err_t e;
		while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
					      RD_KAFKA_V_PARTITION(i % nparts),
					      RD_KAFKA_V_VALUE(val, (size_t)n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					      RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END)) ==
		       RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(rk, 10);
		if (e) {
			fprintf(stderr, "FAIL: produce %d: %s\n", i, rd_kafka_err2str(e));
			exit(1);
		}
		rd_kafka_poll(rk, 0);
	}
}

/* Offsets per partition must be 0, 1, 2, ... in production order. */
static void check_offsets(int count)
{
	int64_t next[MAX_PARTS] = { 0 };
	for (int i = 0; i < count; i++) {
		if (reports[i] != 1) {
			fprintf(stderr, "FAIL: message %d: %d delivery reports\n", i, reports[i]);
			failures++;
			continue;
		}
		int p = i % nparts;
		if (offsets[i] >= 0 && offsets[i] != next[p]) {
			fprintf(stderr, "FAIL: message %d: offset %" PRId64 ", want %" PRId64 "\n", i,
				offsets[i], next[p]);
			failures++;
		}
		next[p] = offsets[i] + 1;
		if (failures > 20)
			break;
	}
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: rdk_idem BOOTSTRAP TOPIC PARTITIONS COUNT\n");
		return 2;
	}
	nparts = atoi(argv[3]);
	int count = atoi(argv[4]);
	if (nparts < 1 || nparts > MAX_PARTS || count < 1)
		return 2;
	offsets = malloc(sizeof *offsets * (size_t)count);
	reports = calloc((size_t)count, sizeof *reports);
	if (offsets == NULL || reports == NULL)
		return 1;
	for (int i = 0; i < count; i++)
		offsets[i] = -1;
	rd_kafka_t *rk = producer(argv[1]);
	produce_all(rk, argv[2], count);
	if (rd_kafka_flush(rk, 90000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "FAIL: %d messages not delivered in 90 s\n", rd_kafka_outq_len(rk));
		return 1;
	}
	char fatal[256];
	if (rd_kafka_fatal_error(rk, fatal, sizeof fatal)) {
		fprintf(stderr, "FAIL: fatal error: %s\n", fatal);
		failures++;
	}
	check_offsets(count);
	rd_kafka_destroy(rk);
	if (failures)
		return 1;
	printf("rdk_idem: OK %d messages in %d partitions\n", count, nparts);
	return 0;
}
