/*
 * bench — rnl bench produce|consume|e2e: options, dispatch, and the pieces
 * the modes share (clocks, pacing, payloads, keys, topic creation,
 * progress). See bench.h for the file map and docs/bench.md for the
 * figures.
 *
 * Pacing (--rate): record i is due at t0 + i/rate, computed from the
 * monotonic clock each time, so oversleeping delays only the records due
 * meanwhile (they then go at once) and never shifts the schedule: no
 * drift, and a slow moment shows up as latency instead of a lower rate.
 */
#include "bench.h"
#include "mock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000LL
#define PAYLOAD_SPAN (1 << 20)   /* distinct payload bytes to draw from */

static const char bench_usage[] =
	"usage: rnl bench produce TOPIC [--size BYTES] [--count N | --duration S]\n"
	"                 [--partitions N] [--acks 0|1|all] [--linger-ms N]\n"
	"                 [--batch-size BYTES] [--compression none|gzip|snappy|lz4|zstd]\n"
	"                 [--keys none|seq|random:N] [--rate MSGS_PER_S]\n"
	"       rnl bench consume TOPIC [--from beginning|end] [--count N | --duration S]\n"
	"                 [--prefill N [--size BYTES] [--partitions N]]\n"
	"       rnl bench e2e TOPIC --rate N [--size BYTES] [--duration S | --count N]\n"
	"                 [--partitions N] [--acks 0|1|all] [--linger-ms N]\n"
	"Measures throughput (msgs/s, MB/s), latency percentiles (p50 p90 p99 p99.9\n"
	"max), the client's CPU and the broker's CPU and peak RSS (see docs/bench.md).\n"
	"\n"
	"  -s, --size BYTES       value size (default 100; e2e at least 32)\n"
	"  -n, --count N          records to produce / read\n"
	"  -d, --duration S       seconds to run (e2e default 10; produce default:\n"
	"                         --count 100000; consume default: up to the end)\n"
	"      --partitions N     create the topic with N partitions if it is missing\n"
	"                         (default 1); consume: only with --prefill\n"
	"      --acks 0|1|all     (default all)\n"
	"      --linger-ms N      librdkafka linger.ms (e2e default 0)\n"
	"      --batch-size BYTES librdkafka batch.size\n"
	"  -z, --compression C    none, gzip, snappy, lz4, zstd (default none)\n"
	"      --keys K           none (default), seq (0,1,2,...), random:N (0..N-1)\n"
	"      --rate N           records per second (e2e: required; produce: a cap)\n"
	"      --tick-us US       with --rate: the sender sleeps until US after a record\n"
	"                         is due, then sends all records due (default 250;\n"
	"                         0: one wake-up per record); latency counts from due\n"
	"      --from WHERE       consume: beginning (default) or end\n"
	"      --prefill N        consume: produce N records first (not measured)\n"
	"      --broker-pid PID   report this broker process's CPU and RSS (default:\n"
	"                         the local `runnel` listening on the bootstrap port)\n"
	"      --no-broker-stats  do not look for the broker process\n"
	"      --json             one JSON object on stdout instead of the table\n"
	"  -q, --quiet            no progress lines on stderr\n"
	"      --progress         progress lines even when stderr is not a terminal\n"
	"\n"
	"global options: --brokers, --timeout, --mock, -X key=value (see `rnl --help`)\n";

/* ---- clocks and pacing ---- */

int64_t bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

void bench_wait_until(rd_kafka_t *rk, int64_t until)
{
	for (;;) {
		int64_t left = until - bench_now();
		struct timespec ts;

		if (left <= 0)
			return;
		if (rk && left > 2000000) {
			rd_kafka_poll(rk, (int)(left / 1000000) - 1);
			continue;
		}
		if (rk)
			rd_kafka_poll(rk, 0);
		ts.tv_sec = until / NS_PER_S;
		ts.tv_nsec = until % NS_PER_S;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
}

void bench_pace(rd_kafka_t *rk, const bench_args_t *a, int64_t due)
{
	if (due > bench_now())
		bench_wait_until(rk, due + (int64_t)a->tick_us * 1000);
}

int64_t bench_intended(const bench_args_t *a, int64_t t0, int64_t seq)
{
	return t0 + (int64_t)((double)seq * (double)NS_PER_S / a->rate);
}

bool bench_done(const bench_args_t *a, int64_t t0, int64_t now, int64_t n)
{
	if (a->count >= 0 && n >= a->count)
		return true;
	return a->duration_s > 0 && now - t0 >= (int64_t)(a->duration_s * NS_PER_S);
}

bool bench_done_due(const bench_args_t *a, int64_t t0, int64_t seq)
{
	if (a->count >= 0 && seq >= a->count)
		return true;
	return a->duration_s > 0 &&
	       bench_intended(a, t0, seq) - t0 >= (int64_t)(a->duration_s * NS_PER_S);
}

/* ---- payloads and keys ---- */

static char *payload_buf;        /* PAYLOAD_SPAN + size bytes, owned */
static uint64_t bench_rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t bench_rng(void)
{
	/* xorshift64*: enough for payload bytes and key draws. */
	bench_rng_state ^= bench_rng_state >> 12;
	bench_rng_state ^= bench_rng_state << 25;
	bench_rng_state ^= bench_rng_state >> 27;
	return bench_rng_state * 0x2545f4914f6cdd1dULL;
}

bool bench_payload_init(int size)
{
	/* 64 symbols: compresses somewhat (6 bits of 8), like text, unlike
	 * both zeros and random bytes. */
	static const char sym[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
	size_t n = PAYLOAD_SPAN + (size_t)size;

	payload_buf = malloc(n);
	if (!payload_buf) {
		rnl_error("out of memory");
		return false;
	}
	for (size_t i = 0; i < n; i++)
		payload_buf[i] = sym[bench_rng() & 63];
	return true;
}

const char *bench_payload(int64_t seq)
{
	return payload_buf + (((uint64_t)seq * 8191) % PAYLOAD_SPAN);
}

void bench_payload_fini(void)
{
	free(payload_buf);
	payload_buf = NULL;
}

size_t bench_key(const bench_args_t *a, int64_t seq, char *buf)
{
	switch (a->keys) {
	case BENCH_KEYS_SEQ:
		return (size_t)snprintf(buf, 24, "%lld", (long long)seq);
	case BENCH_KEYS_RANDOM:
		return (size_t)snprintf(buf, 24, "%llu",
					(unsigned long long)(bench_rng() % (uint64_t)a->key_space));
	default:
		return 0;
	}
}

/* ---- clients and topics ---- */

rd_kafka_conf_t *bench_producer_conf(rnl_ctx_t *ctx, const bench_args_t *a, bool *usage)
{
	char mto[24], linger[24], batch[24];
	const char *defaults[24];
	int n = 0;

	snprintf(mto, sizeof(mto), "%d", ctx->timeout_ms > 30000 ? ctx->timeout_ms : 30000);
	defaults[n++] = "message.timeout.ms";
	defaults[n++] = mto;
	defaults[n++] = "acks";
	defaults[n++] = a->acks;
	defaults[n++] = "compression.codec";
	defaults[n++] = a->compression;
	/* The bench, not librdkafka's queue, should set the pace. */
	defaults[n++] = "queue.buffering.max.messages";
	defaults[n++] = "1000000";
	defaults[n++] = "queue.buffering.max.kbytes";
	defaults[n++] = "1048576";
	if (a->linger_ms >= 0) {
		snprintf(linger, sizeof(linger), "%d", a->linger_ms);
		defaults[n++] = "linger.ms";
		defaults[n++] = linger;
	}
	if (a->batch_size >= 0) {
		snprintf(batch, sizeof(batch), "%d", a->batch_size);
		defaults[n++] = "batch.size";
		defaults[n++] = batch;
	}
	defaults[n] = NULL;
	return client_conf_new(ctx, defaults, usage);
}

/* Creates the topic through CreateTopics (or the mock's side door) and
 * waits until Metadata shows it. */
static bool bench_topic_create(client_t *cl, const char *name, int parts)
{
	rd_kafka_NewTopic_t *nt;
	rd_kafka_queue_t *q;
	rd_kafka_AdminOptions_t *opts;
	rd_kafka_event_t *ev;
	const rd_kafka_topic_result_t **res;
	char errstr[512];
	size_t cnt;
	bool ok = false;

	if (cl->ctx->mcluster) {
		rd_kafka_resp_err_t err = mock_topic_create(cl->ctx, name, parts, 1);

		if (err)
			rnl_error("create topic \"%s\": %s", name, rd_kafka_err2str(err));
		return !err;
	}
	nt = rd_kafka_NewTopic_new(name, parts, 1, errstr, sizeof(errstr));
	if (!nt) {
		rnl_error("create topic \"%s\": %s", name, errstr);
		return false;
	}
	q = rd_kafka_queue_new(cl->rk);
	opts = client_admin_options(cl, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_CreateTopics(cl->rk, &nt, 1, opts, q);
	ev = client_admin_wait(cl, q, "create topic");
	if (ev) {
		res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev),
							  &cnt);
		ok = cnt == 1 && (!rd_kafka_topic_result_error(res[0]) ||
				  rd_kafka_topic_result_error(res[0]) ==
					  RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS);
		if (!ok)
			rnl_error("create topic \"%s\": %s", name,
				  cnt ? rd_kafka_topic_result_error_string(res[0]) : "no result");
		rd_kafka_event_destroy(ev);
	}
	rd_kafka_NewTopic_destroy(nt);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return ok;
}

/* Metadata's partition count for the topic (with leaders), 0 if absent. */
static int bench_topic_parts(client_t *cl, const char *name)
{
	const rd_kafka_metadata_t *md = NULL;
	const rd_kafka_metadata_topic_t *t;
	int parts = 0;

	if (rd_kafka_metadata(cl->rk, 1, NULL, &md, cl->ctx->timeout_ms))
		return 0;
	t = client_topic_find(md, name);
	for (int i = 0; t && i < t->partition_cnt; i++)
		if (t->partitions[i].leader < 0)
			t = NULL;
	parts = t ? t->partition_cnt : 0;
	rd_kafka_metadata_destroy(md);
	return parts;
}

int bench_topic(client_t *cl, const bench_args_t *a, bool create)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	const rd_kafka_metadata_topic_t *t;
	int parts = a->partitions > 0 ? a->partitions : 1;
	int64_t deadline;

	if (!md)
		return -1;
	t = client_topic_find(md, a->topic);
	if (t) {
		int have = t->partition_cnt;

		rd_kafka_metadata_destroy(md);
		if (a->partitions > 0 && have != a->partitions)
			fprintf(stderr, "rnl: warning: topic \"%s\" exists with %d partitions, "
				"not %d\n", a->topic, have, a->partitions);
		return have;
	}
	rd_kafka_metadata_destroy(md);
	if (!create) {
		client_no_topic(a->topic);
		return -1;
	}
	if (!bench_topic_create(cl, a->topic, parts))
		return -1;
	deadline = bench_now() + (int64_t)cl->ctx->timeout_ms * 1000000;
	while (bench_topic_parts(cl, a->topic) != parts) {
		if (bench_now() > deadline) {
			rnl_error("topic \"%s\" created but not in metadata after --timeout",
				  a->topic);
			return -1;
		}
		bench_wait_until(NULL, bench_now() + 50000000);
	}
	if (!a->json && !a->quiet)
		fprintf(stderr, "created topic \"%s\" with %d partition%s\n", a->topic, parts,
			parts == 1 ? "" : "s");
	return parts;
}

/* ---- the measured interval ---- */

void bench_run_start(bench_run_t *run, rnl_ctx_t *ctx, const bench_args_t *a)
{
	run->args = a;
	run->ctx = ctx;
	if (a->broker_pid > 0) {
		run->broker_pid = a->broker_pid;
	} else if (a->broker_pid == 0 && !ctx->mock) {
		run->broker_pid = bench_proc_find_broker(ctx->brokers);
		run->broker_auto = run->broker_pid > 0;
	}
	run->progress = !a->quiet && (a->progress || isatty(STDERR_FILENO)) &&
			!(a->duration_s > 0 && a->duration_s <= 2 && a->count < 0);
	if (ctx->mock)
		bench_proc_threads("rdk:mock", &run->mock0);
	if (run->broker_pid > 0) {
		bench_proc_read(run->broker_pid, &run->broker0);
		run->broker_rss_max_kb = run->broker0.rss_kb;
	}
	bench_proc_self(&run->client0);
	run->t0 = bench_now();
	run->last_t = run->t0;
	run->next_progress = run->t0 + 2 * NS_PER_S;
	run->next_sample = run->t0 + NS_PER_S / 10;
}

void bench_tick(bench_run_t *run, int64_t now, int64_t done, const char *verb, const char *extra)
{
	double dt;

	if (now >= run->next_sample && run->broker_pid > 0) {
		long rss = bench_proc_rss(run->broker_pid);

		if (rss > run->broker_rss_max_kb)
			run->broker_rss_max_kb = rss;
		run->next_sample = now + NS_PER_S / 10;
	}
	if (now < run->next_progress)
		return;
	if (run->progress) {
		dt = (double)(now - run->last_t) / NS_PER_S;
		fprintf(stderr, "%5.0fs  %lld %s  %.0f msgs/s%s%s\n",
			(double)(now - run->t0) / NS_PER_S, (long long)done, verb,
			dt > 0 ? (double)(done - run->last_msgs) / dt : 0.0, extra ? "  " : "",
			extra ? extra : "");
	}
	run->last_msgs = done;
	run->last_t = now;
	run->next_progress += NS_PER_S;
	if (run->next_progress <= now)
		run->next_progress = now + NS_PER_S;
}

void bench_run_stop(bench_run_t *run)
{
	bench_proc_self(&run->client1);
	if (run->ctx->mock)
		bench_proc_threads("rdk:mock", &run->mock1);
	if (run->broker_pid > 0) {
		bench_proc_read(run->broker_pid, &run->broker1);
		if (run->broker1.rss_kb > run->broker_rss_max_kb)
			run->broker_rss_max_kb = run->broker1.rss_kb;
	}
}

/* ---- options ---- */

enum {
	OPT_PARTITIONS = 2000,
	OPT_ACKS,
	OPT_LINGER,
	OPT_BATCH,
	OPT_KEYS,
	OPT_RATE,
	OPT_TICK,
	OPT_FROM,
	OPT_PREFILL,
	OPT_BROKER_PID,
	OPT_NO_BROKER,
	OPT_JSON,
	OPT_PROGRESS,
};

static bool parse_double(const char *what, const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max)) {
		rnl_error("%s: '%s' is not a number in [%g, %g]", what, s, min, max);
		return false;
	}
	*out = v;
	return true;
}

static bool parse_keys(bench_args_t *a, const char *s)
{
	a->keys_spec = s;
	if (strcmp(s, "none") == 0) {
		a->keys = BENCH_KEYS_NONE;
		return true;
	}
	if (strcmp(s, "seq") == 0) {
		a->keys = BENCH_KEYS_SEQ;
		return true;
	}
	if (strncmp(s, "random:", 7) == 0) {
		a->keys = BENCH_KEYS_RANDOM;
		return rnl_parse_i64("--keys random:N", s + 7, 1, INT64_MAX, &a->key_space);
	}
	rnl_error("--keys '%s': expected none, seq or random:N", s);
	return false;
}

static bool one_of(const char *what, const char *s, const char *const *set)
{
	for (const char *const *p = set; *p; p++)
		if (strcmp(s, *p) == 0)
			return true;
	rnl_error("%s '%s': not one of the accepted values (see --help)", what, s);
	return false;
}

/* Applies one option. Returns false after printing the error. */
static bool bench_option(bench_args_t *a, int c, const char *arg)
{
	static const char *const acks[] = { "0", "1", "all", "-1", NULL };
	static const char *const codecs[] = { "none", "gzip", "snappy", "lz4", "zstd", NULL };
	static const char *const froms[] = { "beginning", "end", NULL };

	switch (c) {
	case 's':
		return rnl_parse_int("--size", arg, 0, 64 << 20, &a->size);
	case 'n':
		return rnl_parse_i64("--count", arg, 1, INT64_MAX, &a->count);
	case 'd':
		return parse_double("--duration", arg, 0.001, 86400, &a->duration_s);
	case OPT_PARTITIONS:
		return rnl_parse_int("--partitions", arg, 1, 100000, &a->partitions);
	case OPT_ACKS:
		a->acks = arg;
		return one_of("--acks", arg, acks);
	case OPT_LINGER:
		return rnl_parse_int("--linger-ms", arg, 0, 900000, &a->linger_ms);
	case OPT_BATCH:
		return rnl_parse_int("--batch-size", arg, 1, 2147483647, &a->batch_size);
	case 'z':
		a->compression = arg;
		return one_of("--compression", arg, codecs);
	case OPT_KEYS:
		return parse_keys(a, arg);
	case OPT_RATE:
		return parse_double("--rate", arg, 0.001, 1e9, &a->rate);
	case OPT_TICK:
		return rnl_parse_int("--tick-us", arg, 0, 1000000, &a->tick_us);
	case OPT_FROM:
		a->from_end = strcmp(arg, "end") == 0;
		return one_of("--from", arg, froms);
	case OPT_PREFILL:
		return rnl_parse_i64("--prefill", arg, 1, INT64_MAX, &a->prefill);
	case OPT_BROKER_PID:
		return rnl_parse_int("--broker-pid", arg, 1, 1 << 30, &a->broker_pid);
	case OPT_NO_BROKER:
		a->broker_pid = -1;
		return true;
	case OPT_JSON:
		a->json = true;
		return true;
	case 'q':
		a->quiet = true;
		return true;
	case OPT_PROGRESS:
		a->progress = true;
		return true;
	}
	return false;
}

/* Cross-option rules and per-mode defaults. Returns false after printing. */
static bool bench_check(bench_args_t *a)
{
	if (a->count >= 0 && a->duration_s > 0) {
		rnl_error("give --count or --duration, not both");
		return false;
	}
	if (a->mode == BENCH_E2E) {
		if (a->rate <= 0) {
			rnl_error("bench e2e needs --rate N (records per second)");
			return false;
		}
		if (a->size < BENCH_E2E_HEADER) {
			rnl_error("bench e2e needs --size of at least %d (the timestamp header)",
				  BENCH_E2E_HEADER);
			return false;
		}
		if (a->linger_ms < 0)
			a->linger_ms = 0;
		if (a->count < 0 && a->duration_s <= 0)
			a->duration_s = 10;
	}
	if (a->mode == BENCH_PRODUCE && a->count < 0 && a->duration_s <= 0)
		a->count = 100000;
	if (a->mode == BENCH_CONSUME) {
		if (a->from_end && a->count < 0 && a->duration_s <= 0) {
			rnl_error("bench consume --from end needs --count or --duration");
			return false;
		}
		if (a->partitions > 0 && a->prefill <= 0) {
			rnl_error("bench consume: --partitions only with --prefill");
			return false;
		}
	}
	if (a->mode != BENCH_CONSUME && (a->prefill > 0 || a->from_end)) {
		rnl_error("--prefill and --from are for bench consume");
		return false;
	}
	return true;
}

/* Returns RNL_EXIT_OK, -1 after --help, or the usage exit code. */
static int bench_parse(rnl_ctx_t *ctx, int argc, char **argv, bench_args_t *a)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "partitions", required_argument, NULL, OPT_PARTITIONS },
		{ "acks", required_argument, NULL, OPT_ACKS },
		{ "linger-ms", required_argument, NULL, OPT_LINGER },
		{ "batch-size", required_argument, NULL, OPT_BATCH },
		{ "compression", required_argument, NULL, 'z' },
		{ "keys", required_argument, NULL, OPT_KEYS },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "tick-us", required_argument, NULL, OPT_TICK },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "prefill", required_argument, NULL, OPT_PREFILL },
		{ "broker-pid", required_argument, NULL, OPT_BROKER_PID },
		{ "no-broker-stats", no_argument, NULL, OPT_NO_BROKER },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "progress", no_argument, NULL, OPT_PROGRESS },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "s:n:d:z:q", opts)) != -1) {
		if (c == 'h') {
			fputs(bench_usage, stdout);
			return -1;
		}
		if (c == '?' || !bench_option(a, c, optarg))
			return rnl_usage_hint("bench ");
	}
	if (argc - optind != 1)
		return rnl_usage_error("bench ", "bench %s takes one topic name", a->mode_name);
	a->topic = argv[optind];
	return bench_check(a) ? RNL_EXIT_OK : rnl_usage_hint("bench ");
}

/* ---- dispatch ---- */

static const struct {
	const char *verb;
	bench_mode_t mode;
	int (*fn)(rnl_ctx_t *, const bench_args_t *, bench_run_t *, bench_result_t *);
} bench_modes[] = {
	{ "produce", BENCH_PRODUCE, bench_produce },
	{ "consume", BENCH_CONSUME, bench_consume },
	{ "e2e", BENCH_E2E, bench_e2e },
};

static int bench_run_mode(rnl_ctx_t *ctx, size_t m, int argc, char **argv)
{
	bench_args_t a = {
		.mode = bench_modes[m].mode, .mode_name = bench_modes[m].verb, .size = 100,
		.count = -1, .acks = "all", .linger_ms = -1, .batch_size = -1,
		.compression = "none", .keys_spec = "none", .tick_us = 250,
	};
	bench_result_t res = { 0 };
	bench_run_t run = { 0 };
	int rc = bench_parse(ctx, argc, argv, &a);

	if (rc)
		return rc < 0 ? RNL_EXIT_OK : rc;
	/* Timer slack of 1 us: pacing sleeps end near their deadline. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	if ((a.mode != BENCH_CONSUME && !(res.lat = hist_new())) ||
	    (a.mode == BENCH_E2E && !(res.send_lag = hist_new()))) {
		hist_free(res.lat);
		rnl_error("out of memory");
		return RNL_EXIT_FAIL;
	}
	if (!bench_payload_init(a.size)) {
		hist_free(res.lat);
		hist_free(res.send_lag);
		return RNL_EXIT_FAIL;
	}
	rc = bench_modes[m].fn(ctx, &a, &run, &res);
	if (rc == RNL_EXIT_OK || res.messages > 0)
		bench_report(&run, &res);
	if (rc == RNL_EXIT_OK && (res.failed || res.lost)) {
		rnl_error("%lld record%s failed, %lld lost%s%s", (long long)res.failed,
			  res.failed == 1 ? "" : "s", (long long)res.lost,
			  res.first_error[0] ? ": " : "", res.first_error);
		rc = RNL_EXIT_FAIL;
	}
	hist_free(res.lat);
	hist_free(res.send_lag);
	bench_payload_fini();
	return rc;
}

int bench_main(rnl_ctx_t *ctx, int argc, char **argv)
{
	int at = rnl_take_verb(argc, argv);

	if (at < 0) {
		fputs(bench_usage, stdout);
		return RNL_EXIT_OK;
	}
	if (at == 0)
		return rnl_usage_error("bench ", "bench needs a mode: produce, consume or e2e");
	for (size_t i = 0; i < sizeof(bench_modes) / sizeof(bench_modes[0]); i++)
		if (strcmp(bench_modes[i].verb, argv[1]) == 0)
			return bench_run_mode(ctx, i, argc - 1, argv + 1);
	return rnl_usage_error("bench ", "unknown bench mode '%s'", argv[1]);
}
