/*
 * consume — rnl consume TOPIC: print records with a --format template.
 *
 * No consumer group: the partitions (all of the topic's, or --partition N)
 * are assign()ed at offsets rnl computes itself, so nothing is joined or
 * committed. librdkafka's assign() still wants a group.id, so one is set
 * ("rnl-consume"); with enable.auto.commit off it is never used to commit.
 *
 * Where to start and stop, per partition, from the watermarks queried at
 * start (ListOffsets):
 *
 *   --from beginning   low watermark        --from end     high watermark
 *   --from N           N (clamped to low)   --from -N      high - N (>= low)
 *   --from @T          first offset with timestamp >= T (OffsetsForTimes),
 *                      or the high watermark if there is none
 *
 * Without --follow a partition is done when its position reaches the high
 * watermark it had at start (a partition-EOF event counts, so control
 * records at the end do not keep us waiting); the command ends when all are
 * done or after --count records. If no record and no EOF arrives for
 * --timeout while partitions are pending, it fails and names them.
 * With --follow it runs until --count or SIGINT/SIGTERM (exit 0).
 */
#include "client.h"
#include "format.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum from_kind { FROM_BEGINNING, FROM_END, FROM_OFFSET, FROM_TAIL, FROM_TIME } from_kind_t;

typedef struct consume_args {
	const char *topic;
	int32_t partition;      /* -1: all */
	from_kind_t from;
	int64_t from_value;     /* offset, tail count or timestamp (ms) */
	int64_t count;          /* records to print; -1: no limit */
	bool follow;
	const char *format;     /* borrowed from argv or static */
} consume_args_t;

typedef struct consume_part {
	int32_t id;
	int64_t start;          /* first offset to read */
	int64_t next;           /* position: the next offset expected */
	int64_t stop;           /* high watermark at start */
	bool done;              /* next >= stop (ignored with --follow) */
} consume_part_t;

typedef struct consume_state {
	consume_part_t *parts;  /* owned */
	int part_cnt;
	int pending;            /* parts not done */
	int64_t printed;
	format_t *fmt;          /* owned */
	char last_error[256];   /* last error not tied to a partition, "" if none */
} consume_state_t;

static volatile sig_atomic_t consume_stop_signal;

static const char consume_usage[] =
	"usage: rnl consume TOPIC [OPTIONS]\n"
	"Prints the records of TOPIC; without --follow stops at the end each partition\n"
	"had when the command started.\n"
	"  -p, --partition N     only partition N (default: all)\n"
	"  -o, --from WHERE      beginning (default), end, OFFSET, -N (the last N),\n"
	"                        or @TIMESTAMP_MS (first record at or after it)\n"
	"  -c, --count N         stop after N records\n"
	"  -f, --follow          keep waiting for new records (until SIGINT)\n"
	"  -F, --format FMT      default \"%v\\n\"; %t topic, %p partition, %o offset,\n"
	"                        %k key, %v value, %h headers (k=v,k=v), %T timestamp ms,\n"
	"                        %s value size, %% percent; \\n \\t \\r \\\\ escapes\n"
	"\n"
	"global options: --brokers, --timeout, -X key=value (see `rnl --help`)\n";

/* ---- arguments ---- */

static bool parse_from(const char *s, consume_args_t *a)
{
	if (strcmp(s, "beginning") == 0 || strcmp(s, "earliest") == 0) {
		a->from = FROM_BEGINNING;
		return true;
	}
	if (strcmp(s, "end") == 0 || strcmp(s, "latest") == 0) {
		a->from = FROM_END;
		return true;
	}
	if (s[0] == '@') {
		a->from = FROM_TIME;
		return rnl_parse_i64("--from @TIMESTAMP_MS", s + 1, 0, INT64_MAX, &a->from_value);
	}
	if (s[0] == '-') {
		a->from = FROM_TAIL;
		return rnl_parse_i64("--from -N", s + 1, 1, INT64_MAX, &a->from_value);
	}
	a->from = FROM_OFFSET;
	if (s[0] < '0' || s[0] > '9') {
		rnl_error("--from '%s': expected beginning, end, OFFSET, -N or @TIMESTAMP_MS", s);
		return false;
	}
	return rnl_parse_i64("--from", s, 0, INT64_MAX, &a->from_value);
}

static bool consume_option(consume_args_t *a, int c, char *arg)
{
	int n;

	switch (c) {
	case 'p':
		if (!rnl_parse_int("--partition", arg, 0, INT32_MAX, &n))
			return false;
		a->partition = n;
		return true;
	case 'o':
		return parse_from(arg, a);
	case 'c':
		return rnl_parse_i64("--count", arg, 1, INT64_MAX, &a->count);
	case 'f':
		a->follow = true;
		return true;
	case 'F':
		a->format = arg;
		return true;
	}
	return false;
}

/* Returns RNL_EXIT_OK, -1 after --help, or the usage exit code. */
static int consume_parse(rnl_ctx_t *ctx, int argc, char **argv, consume_args_t *a)
{
	static const struct option opts[] = {
		{ "partition", required_argument, NULL, 'p' },
		{ "from", required_argument, NULL, 'o' },
		{ "count", required_argument, NULL, 'c' },
		{ "follow", no_argument, NULL, 'f' },
		{ "format", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*a = (consume_args_t){ .partition = -1, .count = -1, .format = "%v\\n" };
	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "p:o:c:fF:", opts)) != -1) {
		if (c == 'h') {
			fputs(consume_usage, stdout);
			return -1;
		}
		if (c == '?' || !consume_option(a, c, optarg))
			return rnl_usage_hint("consume ");
	}
	if (argc - optind != 1)
		return rnl_usage_error("consume ", "consume takes one topic name");
	a->topic = argv[optind];
	return RNL_EXIT_OK;
}

/* ---- where to start and stop ---- */

/* Fills st->parts with the partitions to read (ids only). */
static int consume_pick(client_t *cl, const consume_args_t *a, consume_state_t *st)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	const rd_kafka_metadata_topic_t *t;
	int rc = RNL_EXIT_FAIL;

	if (!md)
		return RNL_EXIT_FAIL;
	t = client_topic_find(md, a->topic);
	if (!t) {
		rc = client_no_topic(a->topic);
		goto out;
	}
	if (a->partition >= t->partition_cnt) {
		rnl_error("topic \"%s\" has no partition %d (it has %d)", a->topic, a->partition,
			  t->partition_cnt);
		goto out;
	}
	st->part_cnt = a->partition >= 0 ? 1 : t->partition_cnt;
	st->parts = calloc((size_t)st->part_cnt + 1, sizeof(*st->parts));
	if (!st->parts) {
		rnl_error("out of memory");
		goto out;
	}
	for (int i = 0; i < st->part_cnt; i++)
		st->parts[i].id = a->partition >= 0 ? a->partition : t->partitions[i].id;
	rc = RNL_EXIT_OK;
out:
	rd_kafka_metadata_destroy(md);
	return rc;
}

/* Looks up the first offset at or after the timestamp in every partition;
 * -1 (no such record) becomes the high watermark. */
static int consume_times(client_t *cl, const consume_args_t *a, consume_state_t *st)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(st->part_cnt);
	rd_kafka_resp_err_t err;
	int rc = RNL_EXIT_OK;

	for (int i = 0; i < st->part_cnt; i++)
		rd_kafka_topic_partition_list_add(l, a->topic, st->parts[i].id)->offset =
			a->from_value;
	err = rd_kafka_offsets_for_times(cl->rk, l, cl->ctx->timeout_ms);
	for (int i = 0; !err && i < st->part_cnt; i++) {
		err = l->elems[i].err;
		st->parts[i].start = l->elems[i].offset >= 0 ? l->elems[i].offset : st->parts[i].stop;
	}
	if (err) {
		client_report(cl, err, "look up offsets by timestamp");
		rc = RNL_EXIT_FAIL;
	}
	rd_kafka_topic_partition_list_destroy(l);
	return rc;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Queries the watermarks and resolves --from into absolute offsets. */
static int consume_bounds(client_t *cl, const consume_args_t *a, consume_state_t *st)
{
	for (int i = 0; i < st->part_cnt; i++) {
		consume_part_t *p = &st->parts[i];
		int64_t low, high;
		rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
			cl->rk, a->topic, p->id, &low, &high, cl->ctx->timeout_ms);

		if (err) {
			rnl_error("partition %d: query watermarks: %s", p->id, rd_kafka_err2str(err));
			return RNL_EXIT_FAIL;
		}
		p->stop = high;
		p->start = a->from == FROM_BEGINNING ? low
			 : a->from == FROM_END	     ? high
			 : a->from == FROM_OFFSET    ? clamp64(a->from_value, low, high)
			 : a->from == FROM_TAIL	     ? clamp64(high - a->from_value, low, high)
						     : high;
	}
	return a->from == FROM_TIME ? consume_times(cl, a, st) : RNL_EXIT_OK;
}

/* ---- reading ---- */

static int consume_assign(client_t *cl, const consume_args_t *a, consume_state_t *st)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(st->part_cnt);
	rd_kafka_resp_err_t err;

	for (int i = 0; i < st->part_cnt; i++) {
		consume_part_t *p = &st->parts[i];

		p->next = p->start;
		p->done = !a->follow && p->start >= p->stop;
		st->pending += !p->done;
		rd_kafka_topic_partition_list_add(l, a->topic, p->id)->offset = p->start;
	}
	err = rd_kafka_assign(cl->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (err)
		rnl_error("assign partitions: %s", rd_kafka_err2str(err));
	return err ? RNL_EXIT_FAIL : RNL_EXIT_OK;
}

static consume_part_t *find_part(consume_state_t *st, int32_t id)
{
	for (int i = 0; i < st->part_cnt; i++)
		if (st->parts[i].id == id)
			return &st->parts[i];
	return NULL;
}

/* Moves a partition's position to `next`; marks it done at its stop. */
static void consume_advance(consume_state_t *st, consume_part_t *p, int64_t next, bool follow)
{
	if (next > p->next)
		p->next = next;
	if (!follow && !p->done && p->next >= p->stop) {
		p->done = true;
		st->pending--;
	}
}

/* Handles one polled message. Returns RNL_EXIT_OK to go on, or
 * RNL_EXIT_FAIL after printing a consumer error. */
static int consume_message(const consume_args_t *a, consume_state_t *st, rd_kafka_message_t *m)
{
	consume_part_t *p = find_part(st, m->partition);

	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		if (p)
			consume_advance(st, p, m->offset, a->follow);
		return RNL_EXIT_OK;
	}
	if (m->err && !m->rkt) {
		/* Not about our partitions: group coordinator look-ups
		 * (assign() needs a group.id) on a broker without groups, and
		 * the like. Kept for a stall report, not fatal. */
		snprintf(st->last_error, sizeof(st->last_error), "%s", rd_kafka_message_errstr(m));
		return RNL_EXIT_OK;
	}
	if (m->err) {
		rnl_error("consume \"%s\" partition %d: %s", a->topic, m->partition,
			  rd_kafka_message_errstr(m));
		return RNL_EXIT_FAIL;
	}
	/* Without --follow, records past the stop were produced after we
	 * started: not ours to print. */
	if (!p || (!a->follow && m->offset >= p->stop))
		return RNL_EXIT_OK;
	format_print(st->fmt, m, stdout);
	if (a->follow)
		fflush(stdout);
	st->printed++;
	consume_advance(st, p, m->offset + 1, a->follow);
	return RNL_EXIT_OK;
}

static bool consume_finished(const consume_args_t *a, const consume_state_t *st)
{
	if (a->count >= 0 && st->printed >= a->count)
		return true;
	return a->follow ? consume_stop_signal != 0 : st->pending == 0;
}

static void consume_report_stall(client_t *cl, const consume_args_t *a, consume_state_t *st)
{
	const char *why = st->last_error[0] ? st->last_error : cl->last_error;
	char secs[32];

	for (int i = 0; i < st->part_cnt; i++)
		if (!st->parts[i].done) {
			rnl_error("no records from \"%s\" partition %d for %s (at offset %lld, "
				  "high watermark %lld)%s%s", a->topic, st->parts[i].id,
				  rnl_fmt_secs(cl->ctx->timeout_ms, secs, sizeof(secs)),
				  (long long)st->parts[i].next, (long long)st->parts[i].stop,
				  why[0] ? ": " : "", why);
			return;
		}
}

static int consume_loop(client_t *cl, const consume_args_t *a, consume_state_t *st)
{
	int idle_ms = 0, rc = RNL_EXIT_OK;

	while (rc == RNL_EXIT_OK && !consume_finished(a, st)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(cl->rk, 100);

		if (!m) {
			fflush(stdout);
			idle_ms += 100;
			if (!a->follow && idle_ms >= cl->ctx->timeout_ms) {
				consume_report_stall(cl, a, st);
				rc = RNL_EXIT_FAIL;
			}
			continue;
		}
		idle_ms = 0;
		rc = consume_message(a, st, m);
		rd_kafka_message_destroy(m);
	}
	fflush(stdout);
	return rc;
}

/* ---- command ---- */

static void on_stop_signal(int sig)
{
	consume_stop_signal = sig;
}

static int consume_run(client_t *cl, const consume_args_t *a, consume_state_t *st)
{
	int rc = consume_pick(cl, a, st);

	/* From here on consumer_poll() also serves the error callback. */
	rd_kafka_poll_set_consumer(cl->rk);
	if (rc == RNL_EXIT_OK)
		rc = consume_bounds(cl, a, st);
	if (rc == RNL_EXIT_OK)
		rc = consume_assign(cl, a, st);
	if (rc != RNL_EXIT_OK)
		return rc;
	if (a->follow) {
		signal(SIGINT, on_stop_signal);
		signal(SIGTERM, on_stop_signal);
	}
	rc = consume_loop(cl, a, st);
	rd_kafka_consumer_close(cl->rk);
	return rc;
}

static rd_kafka_conf_t *consume_conf(rnl_ctx_t *ctx, bool *usage)
{
	static const char *const defaults[] = {
		"group.id", "rnl-consume",
		"enable.auto.commit", "false",
		"enable.auto.offset.store", "false",
		"auto.offset.reset", "earliest",
		"fetch.wait.max.ms", "100",
		NULL,
	};
	rd_kafka_conf_t *conf = client_conf_new(ctx, defaults, usage);

	/* EOF events tell us a partition is at its end even when the last
	 * offsets held control records that are never delivered. */
	if (conf && !client_conf_set(conf, "enable.partition.eof", "true")) {
		rd_kafka_conf_destroy(conf);
		conf = NULL;
	}
	return conf;
}

int consume_main(rnl_ctx_t *ctx, int argc, char **argv)
{
	consume_args_t a;
	consume_state_t st = { 0 };
	client_t cl = { 0 };
	rd_kafka_conf_t *conf;
	char err[256];
	bool usage;
	int rc = consume_parse(ctx, argc, argv, &a);

	if (rc)
		return rc < 0 ? RNL_EXIT_OK : rc;
	st.fmt = format_new(a.format, err, sizeof(err));
	if (!st.fmt)
		return rnl_usage_error("consume ", "--format: %s", err);
	conf = consume_conf(ctx, &usage);
	if (!conf)
		rc = usage ? rnl_usage_hint(NULL) : RNL_EXIT_FAIL;
	else if (!client_open(&cl, ctx, RD_KAFKA_CONSUMER, conf))
		rc = RNL_EXIT_FAIL;
	else
		rc = consume_run(&cl, &a, &st);
	client_close(&cl);
	format_free(st.fmt);
	free(st.parts);
	return rc;
}
