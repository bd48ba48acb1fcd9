/*
 * bench_produce — rnl bench produce TOPIC: records of --size bytes as fast
 * as librdkafka takes them (or at --rate), until --count or --duration.
 *
 * Delivery latency of a record = time of its delivery report - time of
 * the rd_kafka_produce() call that librdkafka accepted (a call refused with
 * QUEUE_FULL is retried and the clock restarts). The call time rides in
 * the message's opaque pointer, so nothing is allocated per record.
 *
 * Throughput = acknowledged records (and their key + value bytes) over the
 * interval from the first produce call until the last delivery report
 * arrived. Values are not copied (msgflags 0): they point into the shared
 * payload buffer, which outlives the producer handle.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(void *) >= sizeof(int64_t), "the call time rides in msg_opaque");

/* Delivery report, served by rd_kafka_poll()/flush() on the main thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	bench_result_t *res = ((client_t *)opaque)->user;
	int64_t sent_at = (int64_t)(intptr_t)m->_private;

	if (m->err) {
		res->failed++;
		if (!res->first_error[0])
			snprintf(res->first_error, sizeof(res->first_error), "%s",
				 rd_kafka_err2str(m->err));
		return;
	}
	res->messages++;
	res->bytes += (int64_t)(m->len + m->key_len);
	if (res->lat)
		hist_record(res->lat, (bench_now() - sent_at) / 1000);
}

static int open_producer(rnl_ctx_t *ctx, const bench_args_t *a, client_t *cl, bench_result_t *res)
{
	bool usage;
	rd_kafka_conf_t *conf = bench_producer_conf(ctx, a, &usage);

	if (!conf)
		return usage ? rnl_usage_hint(NULL) : RNL_EXIT_FAIL;
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	if (!client_open(cl, ctx, RD_KAFKA_PRODUCER, conf))
		return RNL_EXIT_FAIL;
	cl->user = res;
	res->partitions = bench_topic(cl, a, true);
	return res->partitions < 0 ? RNL_EXIT_FAIL : RNL_EXIT_OK;
}

static void progress(bench_run_t *run, int64_t now, const bench_result_t *res)
{
	char extra[96];

	if (!run)
		return;
	snprintf(extra, sizeof(extra), "p99 %.2f ms  (%lld sent)",
		 (double)hist_percentile(res->lat, 99) / 1000.0, (long long)res->sent);
	bench_tick(run, now, res->messages, "acked", extra);
}

/* Hands one record to librdkafka, waiting while its queue is full.
 * Returns false (counted as failed) on any other error. */
static bool produce_one(client_t *cl, rd_kafka_topic_t *rkt, const bench_args_t *a, int64_t seq,
			bench_result_t *res)
{
	char key[24];
	size_t klen = bench_key(a, seq, key);

	for (;;) {
		int64_t now = bench_now();
		rd_kafka_resp_err_t err;

		if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, 0, (void *)bench_payload(seq),
				     (size_t)a->size, klen ? key : NULL, klen,
				     (void *)(intptr_t)now) == 0)
			return true;
		err = rd_kafka_last_error();
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			res->failed++;
			if (!res->first_error[0])
				snprintf(res->first_error, sizeof(res->first_error), "%s",
					 rd_kafka_err2str(err));
			return false;
		}
		rd_kafka_poll(cl->rk, 1);
	}
}

/* Produces until a's --count/--duration from t0; then waits for every
 * delivery report. run may be NULL (prefill: no progress). */
static void produce_loop(client_t *cl, rd_kafka_topic_t *rkt, const bench_args_t *a,
			 bench_run_t *run, bench_result_t *res, int64_t t0)
{
	int64_t now, seq;

	for (seq = 0;; seq++) {
		now = bench_now();
		if (a->rate > 0 ? bench_done_due(a, t0, seq) : bench_done(a, t0, now, seq))
			break;
		if (a->rate > 0) {
			int64_t due = bench_intended(a, t0, seq);

			if (due > now)
				bench_pace(cl->rk, a, due);
		}
		if (produce_one(cl, rkt, a, seq, res))
			res->sent++;
		if ((seq & 63) == 0 || a->rate > 0) {
			rd_kafka_poll(cl->rk, 0);
			progress(run, now, res);
		}
	}
	/* Each record times out on its own (message.timeout.ms): this ends. */
	while (rd_kafka_flush(cl->rk, 100) == RD_KAFKA_RESP_ERR__TIMED_OUT)
		progress(run, bench_now(), res);
}

int bench_produce(rnl_ctx_t *ctx, const bench_args_t *a, bench_run_t *run, bench_result_t *res)
{
	client_t cl = { 0 };
	rd_kafka_topic_t *rkt = NULL;
	int rc = open_producer(ctx, a, &cl, res);

	if (rc == RNL_EXIT_OK) {
		rkt = rd_kafka_topic_new(cl.rk, a->topic, NULL);
		bench_run_start(run, ctx, a);
		produce_loop(&cl, rkt, a, run, res, run->t0);
		res->elapsed_s = (double)(bench_now() - run->t0) / 1e9;
		bench_run_stop(run);
		rd_kafka_topic_destroy(rkt);
	}
	client_close(&cl);
	return rc;
}

int bench_prefill(rnl_ctx_t *ctx, const bench_args_t *a, int64_t n)
{
	bench_args_t fill = *a;
	bench_result_t res = { 0 };
	client_t cl = { 0 };
	rd_kafka_topic_t *rkt;
	int rc;

	fill.count = n;
	fill.duration_s = 0;
	fill.rate = 0;
	rc = open_producer(ctx, &fill, &cl, &res);
	if (rc == RNL_EXIT_OK) {
		rkt = rd_kafka_topic_new(cl.rk, a->topic, NULL);
		produce_loop(&cl, rkt, &fill, NULL, &res, bench_now());
		rd_kafka_topic_destroy(rkt);
		if (res.failed) {
			rnl_error("prefill: %lld of %lld records failed: %s", (long long)res.failed,
				  (long long)n, res.first_error);
			rc = RNL_EXIT_FAIL;
		} else if (!a->json && !a->quiet) {
			fprintf(stderr, "prefilled \"%s\" with %lld records of %d bytes\n",
				a->topic, (long long)n, a->size);
		}
	}
	client_close(&cl);
	return rc;
}
