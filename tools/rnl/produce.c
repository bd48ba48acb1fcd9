/*
 * produce — rnl produce TOPIC: each line of stdin becomes one record.
 *
 * A line is the bytes up to (not including) '\n'; a last line without one
 * counts too, an empty line is an empty value. With --key-separator SEP the
 * line is split at the first SEP into key and value; a line without SEP has
 * a null key. Every --header k=v goes on every record (a header without '='
 * has a null value).
 *
 * The command waits for every delivery report before it exits, prints
 * "produced N records to TOPIC (F failed)" on stderr (N = acknowledged),
 * and fails (exit 1, the first delivery error printed) if any record
 * failed. A record that is not acknowledged within max(--timeout, 30s) of
 * being read fails (message.timeout.ms; -X may change it).
 */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRODUCE_MAX_HEADERS 64

typedef struct produce_header {
	const char *name;   /* borrowed from argv (the '=' replaced by '\0') */
	const char *value;  /* NULL for a header without a value */
	ssize_t size;       /* value size, -1 for NULL */
} produce_header_t;

typedef struct produce_args {
	const char *topic;
	const char *key_sep;      /* NULL: no keys; borrowed from argv */
	size_t key_sep_len;
	produce_header_t headers[PRODUCE_MAX_HEADERS];
	int header_cnt;
	int32_t partition;        /* RD_KAFKA_PARTITION_UA: the partitioner picks */
	const char *acks;         /* NULL: librdkafka's default (all) */
	const char *compression;  /* NULL: none */
	const char *linger_ms;    /* NULL: librdkafka's default */
} produce_args_t;

typedef struct produce_stats {
	long long sent;           /* records handed to librdkafka */
	long long delivered;      /* acknowledged */
	long long failed;         /* failed, locally or by the broker */
	char first_error[512];    /* "" until the first failure */
} produce_stats_t;

static const char produce_usage[] =
	"usage: rnl produce TOPIC [OPTIONS] < lines\n"
	"Each line of stdin is one record.\n"
	"  -K, --key-separator SEP   split each line at the first SEP into key and value\n"
	"  -H, --header key=value    add a header to every record (repeatable)\n"
	"  -p, --partition N         produce to partition N (default: by key / sticky)\n"
	"      --acks 0|1|all        acknowledgements to wait for (default all)\n"
	"  -z, --compression CODEC   none, gzip, snappy, lz4 or zstd (default none)\n"
	"      --linger-ms N         batch records for up to N ms (librdkafka's linger.ms)\n"
	"\n"
	"global options: --brokers, --timeout, -X key=value (see `rnl --help`)\n";

/* ---- arguments ---- */

static bool one_of(const char *s, const char *const *set)
{
	for (; *set; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

/* Splits "k=v" in place into a header. */
static bool produce_add_header(produce_args_t *a, char *kv)
{
	char *eq = strchr(kv, '=');
	produce_header_t *h = &a->headers[a->header_cnt];

	if (a->header_cnt == PRODUCE_MAX_HEADERS || kv[0] == '=' || kv[0] == '\0') {
		rnl_error("--header '%s': expected key=value (at most %d headers)", kv,
			  PRODUCE_MAX_HEADERS);
		return false;
	}
	h->name = kv;
	h->value = eq ? eq + 1 : NULL;
	h->size = eq ? (ssize_t)strlen(eq + 1) : -1;
	if (eq)
		*eq = '\0';
	a->header_cnt++;
	return true;
}

/* Applies one option. Returns false after printing a usage error. */
static bool produce_option(produce_args_t *a, int c, char *arg)
{
	static const char *const acks[] = { "0", "1", "all", "-1", NULL };
	static const char *const codecs[] = { "none", "gzip", "snappy", "lz4", "zstd", NULL };
	int n;

	switch (c) {
	case 'K':
		a->key_sep = arg;
		a->key_sep_len = strlen(arg);
		if (a->key_sep_len == 0)
			rnl_error("--key-separator must not be empty");
		return a->key_sep_len > 0;
	case 'H':
		return produce_add_header(a, arg);
	case 'p':
		if (!rnl_parse_int("--partition", arg, 0, INT32_MAX, &n))
			return false;
		a->partition = n;
		return true;
	case 'a':
		a->acks = arg;
		break;
	case 'z':
		a->compression = arg;
		break;
	case 'l':
		a->linger_ms = arg;
		return rnl_parse_int("--linger-ms", arg, 0, 900000, &n);
	default:
		return false;
	}
	if (c == 'a' && !one_of(arg, acks))
		rnl_error("--acks '%s': expected 0, 1 or all", arg);
	if (c == 'z' && !one_of(arg, codecs))
		rnl_error("--compression '%s': expected none, gzip, snappy, lz4 or zstd", arg);
	return c == 'a' ? one_of(arg, acks) : one_of(arg, codecs);
}

/* Returns RNL_EXIT_OK, -1 after --help, or the usage exit code. */
static int produce_parse(rnl_ctx_t *ctx, int argc, char **argv, produce_args_t *a)
{
	static const struct option opts[] = {
		{ "key-separator", required_argument, NULL, 'K' },
		{ "header", required_argument, NULL, 'H' },
		{ "partition", required_argument, NULL, 'p' },
		{ "acks", required_argument, NULL, 'a' },
		{ "compression", required_argument, NULL, 'z' },
		{ "linger-ms", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*a = (produce_args_t){ .partition = RD_KAFKA_PARTITION_UA };
	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "K:H:p:z:", opts)) != -1) {
		if (c == 'h') {
			fputs(produce_usage, stdout);
			return -1;
		}
		if (c == '?' || !produce_option(a, c, optarg))
			return rnl_usage_hint("produce ");
	}
	if (argc - optind != 1)
		return rnl_usage_error("produce ", "produce takes one topic name");
	a->topic = argv[optind];
	return RNL_EXIT_OK;
}

/* ---- delivery ---- */

static void produce_failed(produce_stats_t *st, const char *why)
{
	st->failed++;
	if (!st->first_error[0])
		snprintf(st->first_error, sizeof(st->first_error), "%s", why);
}

/* Delivery report: served by rd_kafka_poll()/flush() on the main thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	produce_stats_t *st = ((client_t *)opaque)->user;

	if (m->err)
		produce_failed(st, rd_kafka_err2str(m->err));
	else
		st->delivered++;
}

static rd_kafka_conf_t *produce_conf(rnl_ctx_t *ctx, const produce_args_t *a, bool *usage)
{
	char mto[24];
	const char *defaults[] = { "message.timeout.ms", mto, NULL };
	rd_kafka_conf_t *conf;

	snprintf(mto, sizeof(mto), "%d", ctx->timeout_ms > 30000 ? ctx->timeout_ms : 30000);
	conf = client_conf_new(ctx, defaults, usage);
	if (!conf)
		return NULL;
	if ((a->acks && !client_conf_set(conf, "acks", a->acks)) ||
	    (a->compression && !client_conf_set(conf, "compression.codec", a->compression)) ||
	    (a->linger_ms && !client_conf_set(conf, "linger.ms", a->linger_ms))) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	return conf;
}

/* ---- the input loop ---- */

/* Fills vus for one line; returns the count. */
static size_t produce_vus(const produce_args_t *a, char *line, size_t len, rd_kafka_vu_t *vus)
{
	char *sep = a->key_sep ? memmem(line, len, a->key_sep, a->key_sep_len) : NULL;
	size_t n = 0;

	vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
	vus[n++].u.cstr = a->topic;
	vus[n].vtype = RD_KAFKA_VTYPE_PARTITION;
	vus[n++].u.i32 = a->partition;
	vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
	vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
	if (sep) {
		vus[n].vtype = RD_KAFKA_VTYPE_KEY;
		vus[n].u.mem.ptr = line;
		vus[n++].u.mem.size = (size_t)(sep - line);
		len -= (size_t)(sep - line) + a->key_sep_len;
		line = sep + a->key_sep_len;
	}
	vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
	vus[n].u.mem.ptr = line;
	vus[n++].u.mem.size = len;
	for (int i = 0; i < a->header_cnt; i++) {
		vus[n].vtype = RD_KAFKA_VTYPE_HEADER;
		vus[n].u.header.name = a->headers[i].name;
		vus[n].u.header.val = a->headers[i].value;
		vus[n++].u.header.size = a->headers[i].size;
	}
	return n;
}

/* Hands one line to librdkafka, waiting while its queue is full. */
static void produce_line(client_t *cl, const produce_args_t *a, char *line, size_t len)
{
	produce_stats_t *st = cl->user;
	rd_kafka_vu_t vus[6 + PRODUCE_MAX_HEADERS];
	size_t n = produce_vus(a, line, len, vus);
	rd_kafka_error_t *err;

	while ((err = rd_kafka_produceva(cl->rk, vus, n)) &&
	       rd_kafka_error_code(err) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		rd_kafka_error_destroy(err);
		rd_kafka_poll(cl->rk, 50);
	}
	if (err) {
		produce_failed(st, rd_kafka_error_string(err));
		rd_kafka_error_destroy(err);
	} else {
		st->sent++;
	}
	rd_kafka_poll(cl->rk, 0);
}

/* Reads stdin to the end. Returns false on a read error (printed). */
static bool produce_stdin(client_t *cl, const produce_args_t *a)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	bool ok;

	while ((len = getline(&line, &cap, stdin)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			len--;
		produce_line(cl, a, line, (size_t)len);
	}
	ok = !ferror(stdin);
	if (!ok)
		rnl_error("reading stdin: %m");
	free(line);
	return ok;
}

/* Waits for every outstanding delivery report. Each record times out on
 * its own (message.timeout.ms), so this ends. */
static void produce_drain(client_t *cl)
{
	while (rd_kafka_flush(cl->rk, 1000) == RD_KAFKA_RESP_ERR__TIMED_OUT)
		;
}

/* Checks the topic and partition before reading a line. */
static int produce_check(client_t *cl, const produce_args_t *a)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	const rd_kafka_metadata_topic_t *t;
	int parts;

	if (!md)
		return RNL_EXIT_FAIL;
	t = client_topic_find(md, a->topic);
	parts = t ? t->partition_cnt : 0;
	rd_kafka_metadata_destroy(md);
	if (!t)
		return client_no_topic(a->topic);
	if (a->partition != RD_KAFKA_PARTITION_UA && a->partition >= parts) {
		rnl_error("topic \"%s\" has no partition %d (it has %d)", a->topic, a->partition,
			  parts);
		return RNL_EXIT_FAIL;
	}
	return RNL_EXIT_OK;
}

static int produce_run(client_t *cl, const produce_args_t *a)
{
	produce_stats_t *st = cl->user;
	int rc = produce_check(cl, a);
	bool read_ok;

	if (rc)
		return rc;
	read_ok = produce_stdin(cl, a);
	produce_drain(cl);
	fprintf(stderr, "produced %lld record%s to %s (%lld failed)\n", st->delivered,
		st->delivered == 1 ? "" : "s", a->topic, st->failed);
	if (st->failed)
		rnl_error("delivery failed: %s", st->first_error);
	return st->failed || !read_ok ? RNL_EXIT_FAIL : RNL_EXIT_OK;
}

int produce_main(rnl_ctx_t *ctx, int argc, char **argv)
{
	produce_args_t a;
	produce_stats_t st = { 0 };
	client_t cl = { 0 };
	rd_kafka_conf_t *conf;
	bool usage;
	int rc = produce_parse(ctx, argc, argv, &a);

	if (rc)
		return rc < 0 ? RNL_EXIT_OK : rc;
	conf = produce_conf(ctx, &a, &usage);
	if (!conf)
		return usage ? rnl_usage_hint(NULL) : RNL_EXIT_FAIL;
	if (!client_open(&cl, ctx, RD_KAFKA_PRODUCER, conf))
		return RNL_EXIT_FAIL;
	cl.user = &st;
	rc = produce_run(&cl, &a);
	client_close(&cl);
	return rc;
}
