/*
 * bench_e2e — rnl bench e2e TOPIC --rate N: a producer at a fixed rate on
 * the main thread, a consumer on its own thread, and per-record latency
 * from the moment the record was due to be sent until the consumer has it.
 *
 * Payload of every record (native byte order: only this process reads it):
 *
 *   0        4        8                16               24               32
 *   +--------+--------+----------------+----------------+----------------+--- filler
 *   | magic  | run id | seq (-1: warm) | due (ns, mono) | sent (ns, mono)|
 *   +--------+--------+----------------+----------------+----------------+---
 *
 * Latency is measured from `due` (t0 + seq/rate), not from the send: a
 * producer that falls behind its schedule delays records exactly as a real
 * application at that rate would see them, so a stall in the client or the
 * broker cannot hide by slowing the sender (no coordinated omission).
 * The sender paces in ticks (bench_pace, --tick-us). res->send_lag records
 * how late each record was handed to librdkafka (due -> send): the client's
 * share of the latency, apart from the broker's and the network's.
 *
 * Sequence:
 *   1. open producer (topic created if missing) and consumer; the consumer
 *      is assigned every partition at its high watermark, queried first, so
 *      no record of this run can be missed or predate the assignment;
 *   2. warm-up: one record (seq -1) every 10 ms until the consumer thread
 *      has seen one (connections up, first fetch answered); not measured;
 *   3. measured: records due at t0 + seq/rate until --duration/--count;
 *   4. flush the producer, then wait (up to --timeout) until every
 *      acknowledged record has been received; the rest count as lost.
 *
 * A stall is a run of consecutively received records each later than
 * BENCH_STALL_US (50 ms); `late` counts those records.
 *
 * Threads: the consumer thread owns res->lat until it is joined; the main
 * thread reads only the atomic counters meanwhile (progress lines).
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define E2E_MAGIC 0x424c4e52u   /* "RNLB" */

typedef struct e2e_header {
	uint32_t magic;
	uint32_t run_id;
	int64_t seq;               /* -1: warm-up record */
	int64_t due;               /* ns, CLOCK_MONOTONIC */
	int64_t sent;              /* ns, CLOCK_MONOTONIC */
} e2e_header_t;

_Static_assert(sizeof(e2e_header_t) == BENCH_E2E_HEADER, "e2e header layout");

typedef struct e2e {
	const bench_args_t *a;
	bench_result_t *res;       /* res->lat: consumer thread's until joined */
	client_t prod;             /* main thread */
	client_t cons;             /* polled by the consumer thread */
	uint32_t run_id;
	int64_t delivered;         /* main thread (delivery reports) */
	int64_t failed;
	atomic_llong received;     /* written by the consumer thread */
	atomic_llong bytes;
	atomic_llong late;
	atomic_llong stalls;
	atomic_llong max_us;
	atomic_llong last_at;      /* ns of the last measured record received */
	atomic_bool warm;          /* a warm-up record came back */
	atomic_bool stop;          /* main -> consumer thread: finish */
	bool in_stall;             /* consumer thread only */
	char error[256];           /* consumer thread's last error, read after join */
} e2e_t;

/* ---- consumer thread ---- */

static void e2e_record(e2e_t *e, const rd_kafka_message_t *m, const e2e_header_t *h, int64_t now)
{
	int64_t us = (now - h->due) / 1000;

	hist_record(e->res->lat, us);
	if (us > BENCH_STALL_US) {
		atomic_fetch_add(&e->late, 1);
		if (!e->in_stall)
			atomic_fetch_add(&e->stalls, 1);
		e->in_stall = true;
	} else {
		e->in_stall = false;
	}
	if (us > atomic_load(&e->max_us))
		atomic_store(&e->max_us, us);
	atomic_fetch_add(&e->bytes, (long long)(m->len + m->key_len));
	atomic_store(&e->last_at, now);
	atomic_fetch_add(&e->received, 1);
}

static void *e2e_consumer(void *arg)
{
	e2e_t *e = arg;

	while (!atomic_load(&e->stop)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(e->cons.rk, 50);
		int64_t now = bench_now();
		e2e_header_t h;

		if (!m)
			continue;
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				snprintf(e->error, sizeof(e->error), "%s",
					 rd_kafka_message_errstr(m));
		} else if (m->len >= sizeof(h)) {
			memcpy(&h, m->payload, sizeof(h));
			if (h.magic == E2E_MAGIC && h.run_id == e->run_id) {
				if (h.seq < 0)
					atomic_store(&e->warm, true);
				else
					e2e_record(e, m, &h, now);
			}
		}
		rd_kafka_message_destroy(m);
	}
	return NULL;
}

/* ---- producer (main thread) ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	e2e_t *e = ((client_t *)opaque)->user;
	e2e_header_t h;

	/* Warm-up records are not the run's. */
	if (m->len >= sizeof(h)) {
		memcpy(&h, m->payload, sizeof(h));
		if (h.seq < 0)
			return;
	}
	if (!m->err) {
		e->delivered++;
		return;
	}
	e->failed++;
	if (!e->res->first_error[0])
		snprintf(e->res->first_error, sizeof(e->res->first_error), "%s",
			 rd_kafka_err2str(m->err));
}

/* Produces one record (a copy of header + filler); retries while the queue
 * is full. Returns false after counting a failure. */
static bool e2e_send(e2e_t *e, int64_t seq, int64_t due)
{
	char buf[BENCH_E2E_HEADER + 64], *val = buf;
	e2e_header_t h = { E2E_MAGIC, e->run_id, seq, due, 0 };
	size_t size = (size_t)e->a->size;
	rd_kafka_resp_err_t err;

	if (size > sizeof(buf) && !(val = malloc(size)))
		return false;
	memcpy(val + sizeof(h), bench_payload(seq < 0 ? 0 : seq), size - sizeof(h));
	do {
		h.sent = bench_now();
		memcpy(val, &h, sizeof(h));
		err = rd_kafka_producev(e->prod.rk, RD_KAFKA_V_TOPIC(e->a->topic),
					RD_KAFKA_V_VALUE(val, size),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(e->prod.rk, 1);
	} while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL);
	if (val != buf)
		free(val);
	if (err && seq >= 0) {
		e->failed++;
		if (!e->res->first_error[0])
			snprintf(e->res->first_error, sizeof(e->res->first_error), "%s",
				 rd_kafka_err2str(err));
	}
	return !err;
}

static void e2e_progress(e2e_t *e, bench_run_t *run, int64_t now, int64_t sent)
{
	char extra[128];

	snprintf(extra, sizeof(extra), "(%lld sent)  max %.2f ms  stalls %lld", (long long)sent,
		 (double)atomic_load(&e->max_us) / 1000.0, (long long)atomic_load(&e->stalls));
	bench_tick(run, now, atomic_load(&e->received), "received", extra);
}

/* Step 2: warm-up records until one comes back, at most --timeout. */
static bool e2e_warm_up(e2e_t *e, int timeout_ms)
{
	int64_t deadline = bench_now() + (int64_t)timeout_ms * 1000000;

	while (!atomic_load(&e->warm)) {
		int64_t now = bench_now();

		if (now > deadline) {
			rnl_error("e2e: no record came back through \"%s\" within %d ms%s%s",
				  e->a->topic, timeout_ms, e->error[0] ? ": " : "", e->error);
			return false;
		}
		e2e_send(e, -1, now);
		bench_wait_until(e->prod.rk, now + 10000000);
	}
	return true;
}

/* Steps 3 and 4. */
static void e2e_measure(e2e_t *e, bench_run_t *run, int timeout_ms)
{
	bench_result_t *res = e->res;
	int64_t seq, now, deadline;

	for (seq = 0;; seq++) {
		int64_t due;

		if (bench_done_due(e->a, run->t0, seq))
			break;
		now = bench_now();
		due = bench_intended(e->a, run->t0, seq);
		if (due > now) {
			bench_pace(e->prod.rk, e->a, due);
			now = bench_now();
		}
		if (now - due > res->send_lag_max_us * 1000)
			res->send_lag_max_us = (now - due) / 1000;
		hist_record(res->send_lag, (now - due) / 1000);
		if (e2e_send(e, seq, due))
			res->sent++;
		rd_kafka_poll(e->prod.rk, 0);
		e2e_progress(e, run, now, res->sent);
	}
	while (rd_kafka_flush(e->prod.rk, 100) == RD_KAFKA_RESP_ERR__TIMED_OUT)
		e2e_progress(e, run, bench_now(), res->sent);
	deadline = bench_now() + (int64_t)timeout_ms * 1000000;
	while (atomic_load(&e->received) < e->delivered && (now = bench_now()) < deadline) {
		e2e_progress(e, run, now, res->sent);
		usleep(1000);
	}
}

/* ---- set-up ---- */

static int e2e_open(rnl_ctx_t *ctx, e2e_t *e)
{
	static const char *const cons_defaults[] = {
		"group.id", "rnl-bench-e2e",
		"enable.auto.commit", "false",
		"enable.auto.offset.store", "false",
		"fetch.wait.max.ms", "100",
		NULL,
	};
	bool usage;
	rd_kafka_conf_t *conf = bench_producer_conf(ctx, e->a, &usage);

	if (!conf)
		return usage ? rnl_usage_hint(NULL) : RNL_EXIT_FAIL;
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	if (!client_open(&e->prod, ctx, RD_KAFKA_PRODUCER, conf))
		return RNL_EXIT_FAIL;
	e->prod.user = e;
	e->res->partitions = bench_topic(&e->prod, e->a, true);
	if (e->res->partitions < 0)
		return RNL_EXIT_FAIL;
	conf = client_conf_new(ctx, cons_defaults, &usage);
	if (!conf)
		return usage ? rnl_usage_hint(NULL) : RNL_EXIT_FAIL;
	if (!client_open(&e->cons, ctx, RD_KAFKA_CONSUMER, conf))
		return RNL_EXIT_FAIL;
	rd_kafka_poll_set_consumer(e->cons.rk);
	return RNL_EXIT_OK;
}

/* Assigns every partition at its high watermark (queried, not "end", so
 * that the position is fixed before the first record is sent). */
static int e2e_assign(e2e_t *e, int timeout_ms)
{
	int parts = e->res->partitions;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

	for (int i = 0; i < parts && !err; i++) {
		int64_t low, high;

		err = rd_kafka_query_watermark_offsets(e->cons.rk, e->a->topic, i, &low, &high,
						       timeout_ms);
		if (err)
			rnl_error("partition %d: query watermarks: %s", i, rd_kafka_err2str(err));
		else
			rd_kafka_topic_partition_list_add(l, e->a->topic, i)->offset = high;
	}
	if (!err && (err = rd_kafka_assign(e->cons.rk, l)))
		rnl_error("assign partitions: %s", rd_kafka_err2str(err));
	rd_kafka_topic_partition_list_destroy(l);
	return err ? RNL_EXIT_FAIL : RNL_EXIT_OK;
}

int bench_e2e(rnl_ctx_t *ctx, const bench_args_t *a, bench_run_t *run, bench_result_t *res)
{
	e2e_t *e = calloc(1, sizeof(*e));
	pthread_t thread;
	bool started = false;
	int rc;

	if (!e) {
		rnl_error("out of memory");
		return RNL_EXIT_FAIL;
	}
	e->a = a;
	e->res = res;
	e->run_id = (uint32_t)getpid() ^ (uint32_t)bench_now();
	rc = e2e_open(ctx, e);
	if (rc == RNL_EXIT_OK)
		rc = e2e_assign(e, ctx->timeout_ms);
	if (rc == RNL_EXIT_OK && pthread_create(&thread, NULL, e2e_consumer, e) != 0) {
		rnl_error("cannot start the consumer thread");
		rc = RNL_EXIT_FAIL;
	}
	started = rc == RNL_EXIT_OK;
	if (rc == RNL_EXIT_OK && !e2e_warm_up(e, ctx->timeout_ms))
		rc = RNL_EXIT_FAIL;
	if (rc == RNL_EXIT_OK) {
		bench_run_start(run, ctx, a);
		e2e_measure(e, run, ctx->timeout_ms);
		bench_run_stop(run);
	}
	if (started) {
		atomic_store(&e->stop, true);
		pthread_join(thread, NULL);
	}
	if (rc == RNL_EXIT_OK) {
		int64_t last = atomic_load(&e->last_at);

		res->messages = atomic_load(&e->received);
		res->bytes = atomic_load(&e->bytes);
		res->late = atomic_load(&e->late);
		res->stalls = atomic_load(&e->stalls);
		res->failed = e->failed;
		res->lost = e->delivered > res->messages ? e->delivered - res->messages : 0;
		res->elapsed_s = (double)((last ? last : bench_now()) - run->t0) / 1e9;
	}
	if (e->cons.rk)
		rd_kafka_consumer_close(e->cons.rk);
	client_close(&e->cons);
	client_close(&e->prod);
	free(e);
	return rc;
}
