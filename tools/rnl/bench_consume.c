/*
 * bench_consume — rnl bench consume TOPIC: read as fast as librdkafka
 * fetches, with assign() on every partition (no group: nothing joined,
 * nothing committed; librdkafka wants a group.id for assign() all the same).
 *
 * Where to stop:
 *   --count N      after N records
 *   --duration S   after S seconds
 *   neither        at the high watermarks each partition had at start
 *                  (a partition-EOF event at or past it counts)
 * --from end starts at the high watermarks (so it needs --count or
 * --duration: only records produced meanwhile are read).
 *
 * The measured interval runs from assign() to the last record (to the
 * deadline with --duration); first_ms says how much of it went by before
 * the first record arrived (connection, ListOffsets, first fetch). If no
 * record arrives for --timeout while more are due, the run fails.
 *
 * Records are taken in batches (consume_loop) and only their lengths are
 * read: the client's per-record work is librdkafka's own, so the figure
 * measures the broker and librdkafka rather than this tool's bookkeeping.
 * Times are per batch (one clock read per batch, at most CONSUME_BATCH
 * records or what was queued when it was taken).
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

/* Records taken from librdkafka's queue per call (see consume_batch). */
#define CONSUME_BATCH 1024

typedef struct cpart {
	int64_t start;          /* first offset to read */
	int64_t stop;           /* high watermark at start */
	bool done;              /* reached stop (up-to-the-end mode only) */
} cpart_t;

typedef struct cstate {
	cpart_t *parts;         /* owned; index = partition id */
	int part_cnt;
	int pending;            /* partitions not done */
	bool to_end;            /* stop at the watermarks (no --count/--duration) */
	int64_t last_at;        /* time of the last record */
} cstate_t;

static rd_kafka_conf_t *consume_conf(rnl_ctx_t *ctx, bool *usage)
{
	static const char *const defaults[] = {
		"group.id", "rnl-bench",
		"enable.auto.commit", "false",
		"enable.auto.offset.store", "false",
		"auto.offset.reset", "earliest",
		"enable.partition.eof", "true",
		"fetch.wait.max.ms", "100",
		NULL,
	};

	return client_conf_new(ctx, defaults, usage);
}

/* Queries the watermarks and assigns every partition at its start. */
static int consume_assign(client_t *cl, const bench_args_t *a, cstate_t *st)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(st->part_cnt);
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;

	for (int i = 0; i < st->part_cnt && !err; i++) {
		cpart_t *p = &st->parts[i];
		int64_t low, high;

		err = rd_kafka_query_watermark_offsets(cl->rk, a->topic, i, &low, &high,
						       cl->ctx->timeout_ms);
		if (err) {
			rnl_error("partition %d: query watermarks: %s", i, rd_kafka_err2str(err));
			break;
		}
		p->start = a->from_end ? high : low;
		p->stop = high;
		p->done = st->to_end && p->start >= p->stop;
		st->pending += !p->done;
		rd_kafka_topic_partition_list_add(l, a->topic, i)->offset = p->start;
	}
	if (!err && st->to_end && st->pending == 0) {
		rnl_error("topic \"%s\" is empty: nothing to read (produce first, or --prefill N)",
			  a->topic);
		err = RD_KAFKA_RESP_ERR__STATE;
	} else if (!err && (err = rd_kafka_assign(cl->rk, l))) {
		rnl_error("assign partitions: %s", rd_kafka_err2str(err));
	}
	rd_kafka_topic_partition_list_destroy(l);
	return err ? RNL_EXIT_FAIL : RNL_EXIT_OK;
}

static void part_reached(cstate_t *st, int32_t id, int64_t next)
{
	cpart_t *p;

	if (!st->to_end || id < 0 || id >= st->part_cnt)
		return;
	p = &st->parts[id];
	if (!p->done && next >= p->stop) {
		p->done = true;
		st->pending--;
	}
}

/* Handles one polled message. Returns false after printing a fatal error. */
static bool consume_message(const bench_args_t *a, cstate_t *st, bench_run_t *run,
			    bench_result_t *res, rd_kafka_message_t *m, int64_t now)
{
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		part_reached(st, m->partition, m->offset);
		return true;
	}
	if (m->err && !m->rkt) {
		/* Not about our partitions (e.g. group coordinator look-ups). */
		snprintf(res->first_error, sizeof(res->first_error), "%s",
			 rd_kafka_message_errstr(m));
		return true;
	}
	if (m->err) {
		rnl_error("consume \"%s\" partition %d: %s", a->topic, m->partition,
			  rd_kafka_message_errstr(m));
		return false;
	}
	if (res->messages == 0)
		res->first_ms = (double)(now - run->t0) / 1e6;
	res->messages++;
	res->bytes += (int64_t)(m->len + m->key_len);
	st->last_at = now;
	part_reached(st, m->partition, m->offset + 1);
	return true;
}

static bool consume_finished(const bench_args_t *a, const cstate_t *st, const bench_run_t *run,
			     const bench_result_t *res, int64_t now)
{
	return st->to_end ? st->pending == 0 : bench_done(a, run->t0, now, res->messages);
}

/*
 * Fills msgs with up to CONSUME_BATCH records of the consumer queue: first
 * whatever is queued already (no wait), and only when nothing is, waits up
 * to 100 ms for one. rd_kafka_consume_batch_queue() waits until the array
 * is full or the timeout passes, so asking for a full batch with a timeout
 * would hold the last, partial batch of a run back by that timeout.
 * Returns how many it took (the caller destroys them); 0 when none came,
 * -1 on a library error (as rd_kafka_consume_batch_queue).
 */
static ssize_t consume_batch(rd_kafka_queue_t *q, rd_kafka_message_t **msgs)
{
	ssize_t n = rd_kafka_consume_batch_queue(q, 0, msgs, CONSUME_BATCH);

	return n > 0 ? n : rd_kafka_consume_batch_queue(q, 100, msgs, 1);
}

/* Handles and frees msgs[0..n-1]; with --count, records past it are
 * freed uncounted. Returns false after a fatal error. */
static bool consume_messages(const bench_args_t *a, cstate_t *st, bench_run_t *run,
			     bench_result_t *res, rd_kafka_message_t **msgs, ssize_t n,
			     int64_t now)
{
	bool ok = true;

	for (ssize_t i = 0; i < n; i++) {
		if (ok && (a->count < 0 || res->messages < a->count))
			ok = consume_message(a, st, run, res, msgs[i], now);
		rd_kafka_message_destroy(msgs[i]);
	}
	return ok;
}

/* Progress ticks once per batch; the MB figure is formatted only when a
 * line is due (formatting a double per record cost ~10% of the client). */
static void consume_tick(bench_run_t *run, const bench_result_t *res, int64_t now)
{
	char extra[64] = "";

	if (run->progress && now >= run->next_progress)
		snprintf(extra, sizeof(extra), "%.1f MB", (double)res->bytes / 1e6);
	bench_tick(run, now, res->messages, "read", extra);
}

/*
 * Reads in batches (rd_kafka_consume_batch_queue on the consumer queue, as
 * confluent-kafka's consume(num_messages=N) does) rather than one
 * rd_kafka_consumer_poll() per record: one queue lock and one clock read
 * per batch instead of per record. Every record of a batch is stamped with
 * the time the batch was handed over. Main thread; q is this loop's own
 * reference to the consumer queue.
 */
static int consume_loop(client_t *cl, const bench_args_t *a, cstate_t *st, bench_run_t *run,
			bench_result_t *res)
{
	rd_kafka_message_t *msgs[CONSUME_BATCH];
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(cl->rk);
	int64_t idle_since = bench_now(), now = idle_since;
	int rc = q ? RNL_EXIT_OK : RNL_EXIT_FAIL;

	if (!q)
		rnl_error("no consumer queue (librdkafka handle without group.id?)");
	while (rc == RNL_EXIT_OK && !consume_finished(a, st, run, res, now)) {
		ssize_t n = consume_batch(q, msgs);

		now = bench_now();
		if (n > 0) {
			if (!consume_messages(a, st, run, res, msgs, n, now))
				rc = RNL_EXIT_FAIL;
			idle_since = now;
		} else if (a->duration_s <= 0 &&
			   now - idle_since >= (int64_t)cl->ctx->timeout_ms * 1000000) {
			rnl_error("no records from \"%s\" for %d ms after %lld%s%s", a->topic,
				  cl->ctx->timeout_ms, (long long)res->messages,
				  res->first_error[0] ? ": " : "", res->first_error);
			rc = RNL_EXIT_FAIL;
		}
		consume_tick(run, res, now);
	}
	if (q)
		rd_kafka_queue_destroy(q);
	res->elapsed_s = (double)((a->duration_s > 0 || !st->last_at ? now : st->last_at) -
				  run->t0) / 1e9;
	if (rc == RNL_EXIT_OK)
		res->first_error[0] = '\0'; /* only errors that stopped the run matter */
	return rc;
}

int bench_consume(rnl_ctx_t *ctx, const bench_args_t *a, bench_run_t *run, bench_result_t *res)
{
	cstate_t st = { .to_end = a->count < 0 && a->duration_s <= 0 };
	client_t cl = { 0 };
	rd_kafka_conf_t *conf;
	bool usage;
	int rc = a->prefill > 0 ? bench_prefill(ctx, a, a->prefill) : RNL_EXIT_OK;

	if (rc)
		return rc;
	conf = consume_conf(ctx, &usage);
	if (!conf)
		return usage ? rnl_usage_hint(NULL) : RNL_EXIT_FAIL;
	if (!client_open(&cl, ctx, RD_KAFKA_CONSUMER, conf))
		return RNL_EXIT_FAIL;
	rd_kafka_poll_set_consumer(cl.rk);
	st.part_cnt = res->partitions = bench_topic(&cl, a, false);
	if (st.part_cnt < 0)
		rc = RNL_EXIT_FAIL;
	else if (!(st.parts = calloc((size_t)st.part_cnt + 1, sizeof(*st.parts))))
		rc = RNL_EXIT_FAIL;
	if (rc == RNL_EXIT_OK)
		rc = consume_assign(&cl, a, &st);
	if (rc == RNL_EXIT_OK) {
		bench_run_start(run, ctx, a);
		rc = consume_loop(&cl, a, &st, run, res);
		bench_run_stop(run);
		rd_kafka_consumer_close(cl.rk);
	}
	client_close(&cl);
	free(st.parts);
	return rc;
}
