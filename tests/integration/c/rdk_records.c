/*
 * rdk_records.c — librdkafka (C) producer and assign() consumer that take
 * their records from / write them to a file, so that a Python test decides
 * what is sent and compares what comes back. Driven by
 * tests/integration/test_compression.py against a real runnel.
 *
 *   rdk_records produce BOOTSTRAP TOPIC CODEC INFILE [key=value ...]
 *   rdk_records consume BOOTSTRAP TOPIC PARTITIONS TOTAL OUTFILE
 *
 * The file is a sequence of records, all integers big-endian:
 *
 *   +-----------+--------+--------+--------+------+-----+------+-----+--------+-------------+
 *   | partition | offset | tstype | ts     | klen | key | vlen | val | nhdrs  | headers ... |
 *   | int32     | int64  | int32  | int64  | i32  |     | i32  |     | int32  |             |
 *   +-----------+--------+--------+--------+------+-----+------+-----+--------+-------------+
 *   header: int32 name length, name, int32 value length (-1 = null), value.
 *   klen / vlen -1 = null. tstype is librdkafka's (1 CreateTime, 2 LogAppendTime).
 *
 * produce: sends every record of INFILE to its partition with its key, value,
 * headers and timestamp (offset and tstype are ignored), acks=all,
 * compression.codec=CODEC, plus any extra key=value producer settings; checks
 * that each record gets exactly one delivery report without error for the
 * partition asked. Prints "rdk_records: produced N" and exits 0, or prints
 * "FAIL: ..." on stderr and exits 1.
 *
 * consume: assign()s partitions 0..PARTITIONS-1 from the beginning and reads
 * until every partition reported its end and TOTAL records arrived (90 s at
 * most), then writes them to OUTFILE in arrival order (per partition that is
 * offset order). Prints "rdk_records: consumed N" and exits 0, or "FAIL: ..."
 * and exits 1 (consumer error, timeout, more records than TOTAL).
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define MAX_PARTS 64
#define MAX_HDRS 32

static int failures;

static void fail(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	if (++failures > 20) {
		fprintf(stderr, "FAIL: too many failures, giving up\n");
		exit(1);
	}
}

static void die(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static int64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the record file ---- */

struct hdr {
	char *name;       /* NUL-terminated copy (names are text) */
	unsigned char *val; /* NULL = null value */
	int32_t len;      /* -1 = null */
};

struct rec {
	int32_t partition;
	int64_t offset;
	int32_t tstype;
	int64_t ts;
	unsigned char *key, *val; /* NULL = null */
	int32_t klen, vlen;       /* -1 = null */
	int32_t nhdrs;
	struct hdr hdrs[MAX_HDRS];
};

static int read_exact(FILE *f, void *p, size_t n) {
	return fread(p, 1, n, f) == n ? 0 : -1;
}

static int read_i32(FILE *f, int32_t *v) {
	unsigned char b[4];
	if (read_exact(f, b, 4))
		return -1;
	*v = (int32_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]);
	return 0;
}

static int read_i64(FILE *f, int64_t *v) {
	int32_t hi, lo;
	if (read_i32(f, &hi) || read_i32(f, &lo))
		return -1;
	*v = (int64_t)((uint64_t)(uint32_t)hi << 32 | (uint32_t)lo);
	return 0;
}

/* Reads a length-prefixed byte string; *out is NULL for length -1. A
 * terminating NUL is added (not counted) so names can be used as C strings. */
static int read_bytes(FILE *f, unsigned char **out, int32_t *len) {
	if (read_i32(f, len) || *len < -1)
		return -1;
	*out = NULL;
	if (*len < 0)
		return 0;
	*out = malloc((size_t)*len + 1);
	if (!*out || read_exact(f, *out, (size_t)*len))
		return -1;
	(*out)[*len] = 0;
	return 0;
}

/* Returns 1 with a record, 0 at a clean end of file; dies on a bad file. */
static int read_rec(FILE *f, struct rec *r) {
	memset(r, 0, sizeof *r);
	int c = fgetc(f);
	if (c == EOF)
		return 0;
	ungetc(c, f);
	if (read_i32(f, &r->partition) || read_i64(f, &r->offset) || read_i32(f, &r->tstype) ||
	    read_i64(f, &r->ts) || read_bytes(f, &r->key, &r->klen) || read_bytes(f, &r->val, &r->vlen) ||
	    read_i32(f, &r->nhdrs) || r->nhdrs < 0 || r->nhdrs > MAX_HDRS)
		die("bad record file");
	for (int h = 0; h < r->nhdrs; h++) {
		int32_t nlen;
		if (read_bytes(f, (unsigned char **)&r->hdrs[h].name, &nlen) || nlen < 0 ||
		    read_bytes(f, &r->hdrs[h].val, &r->hdrs[h].len))
			die("bad header in record file");
	}
	return 1;
}

static void free_rec(struct rec *r) {
	free(r->key);
	free(r->val);
	for (int h = 0; h < r->nhdrs; h++) {
		free(r->hdrs[h].name);
		free(r->hdrs[h].val);
	}
}

static void put_i32(FILE *f, int32_t v) {
	uint32_t u = (uint32_t)v;
	unsigned char b[4] = {(unsigned char)(u >> 24), (unsigned char)(u >> 16), (unsigned char)(u >> 8),
	                      (unsigned char)u};
	fwrite(b, 1, 4, f);
}

static void put_i64(FILE *f, int64_t v) {
	put_i32(f, (int32_t)(uint32_t)((uint64_t)v >> 32));
	put_i32(f, (int32_t)(uint32_t)(uint64_t)v);
}

static void put_bytes(FILE *f, const void *p, size_t len, int null) {
	if (null) {
		put_i32(f, -1);
		return;
	}
	put_i32(f, (int32_t)len);
	fwrite(p, 1, len, f);
}

/* ---- common ---- */

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
	char err[512];
	if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
		die("config %s=%s: %s", k, v, err);
}

static rd_kafka_t *make(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
	char err[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
	if (!rk)
		die("rd_kafka_new: %s", err);
	return rk;
}

/* ---- produce ---- */

struct sent {
	int32_t partition; /* asked */
	int reports;       /* delivery reports seen */
};

static struct sent *sents;
static int nsent;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
	(void)rk, (void)opaque;
	intptr_t i = (intptr_t)m->_private;
	if (i < 0 || i >= nsent) {
		fail("delivery report with unknown opaque %" PRIdPTR, i);
		return;
	}
	sents[i].reports++;
	if (m->err)
		fail("record %" PRIdPTR ": delivery error %s", i, rd_kafka_err2str(m->err));
	else if (m->partition != sents[i].partition)
		fail("record %" PRIdPTR ": delivered to partition %d, asked %d", i, m->partition,
		     sents[i].partition);
}

static void produce_one(rd_kafka_t *rk, const char *topic, struct rec *r, int i) {
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new((size_t)r->nhdrs);
	for (int h = 0; h < r->nhdrs; h++)
		rd_kafka_header_add(hdrs, r->hdrs[h].name, -1, r->hdrs[h].val,
		                    r->hdrs[h].len < 0 ? 0 : (size_t)r->hdrs[h].len);
	rd_kafka_resp_err_t err;
	for (;;) {
		err = rd_kafka_producev(
		    rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(r->partition),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_KEY(r->key, r->klen < 0 ? 0 : (size_t)r->klen),
		    RD_KAFKA_V_VALUE(r->val, r->vlen < 0 ? 0 : (size_t)r->vlen),
		    RD_KAFKA_V_TIMESTAMP(r->ts), RD_KAFKA_V_HEADERS(hdrs),
		    RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(rk, 10);
	}
	if (err) { /* on failure the headers stay ours */
		rd_kafka_headers_destroy(hdrs);
		fail("producev %d: %s", i, rd_kafka_err2str(err));
	}
	rd_kafka_poll(rk, 0);
}

static int cmd_produce(int argc, char **argv) {
	const char *bootstrap = argv[2], *topic = argv[3], *codec = argv[4];
	FILE *f = fopen(argv[5], "rb");
	if (!f)
		die("open %s", argv[5]);
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	set(conf, "bootstrap.servers", bootstrap);
	set(conf, "acks", "all");
	set(conf, "compression.codec", codec);
	set(conf, "linger.ms", "5");
	set(conf, "message.timeout.ms", "60000");
	for (int a = 6; a < argc; a++) {
		char *eq = strchr(argv[a], '=');
		if (!eq)
			die("expected key=value, got %s", argv[a]);
		*eq = 0;
		set(conf, argv[a], eq + 1);
	}
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_t *rk = make(RD_KAFKA_PRODUCER, conf);

	int cap = 1024;
	sents = calloc((size_t)cap, sizeof *sents);
	struct rec r;
	while (sents && read_rec(f, &r)) {
		if (nsent == cap) {
			cap *= 2;
			sents = realloc(sents, (size_t)cap * sizeof *sents);
			if (!sents)
				break;
		}
		sents[nsent].partition = r.partition;
		sents[nsent].reports = 0;
		nsent++; /* counted before producing: the report may come at once */
		produce_one(rk, topic, &r, nsent - 1);
		free_rec(&r);
	}
	fclose(f);
	if (!sents)
		die("out of memory");
	rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, 90 * 1000);
	if (ferr)
		fail("flush: %s (%d still queued)", rd_kafka_err2str(ferr), rd_kafka_outq_len(rk));
	rd_kafka_destroy(rk);
	for (int i = 0; i < nsent; i++)
		if (sents[i].reports != 1)
			fail("record %d: %d delivery reports", i, sents[i].reports);
	free(sents);
	if (failures)
		return 1;
	printf("rdk_records: produced %d\n", nsent);
	return 0;
}

/* ---- consume ---- */

static void write_msg(FILE *out, const rd_kafka_message_t *m) {
	rd_kafka_timestamp_type_t tstype;
	int64_t ts = rd_kafka_message_timestamp(m, &tstype);
	put_i32(out, m->partition);
	put_i64(out, m->offset);
	put_i32(out, (int32_t)tstype);
	put_i64(out, ts);
	put_bytes(out, m->key, m->key_len, m->key == NULL);
	put_bytes(out, m->payload, m->len, m->payload == NULL);
	rd_kafka_headers_t *hdrs = NULL;
	if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		hdrs = NULL;
	size_t n = hdrs ? rd_kafka_header_cnt(hdrs) : 0;
	put_i32(out, (int32_t)n);
	for (size_t h = 0; h < n; h++) {
		const char *name;
		const void *val;
		size_t len;
		if (rd_kafka_header_get_all(hdrs, h, &name, &val, &len))
			die("header %zu of p%d o%" PRId64 " unreadable", h, m->partition, m->offset);
		put_bytes(out, name, strlen(name), 0);
		put_bytes(out, val, len, val == NULL);
	}
}

static int cmd_consume(char **argv) {
	const char *bootstrap = argv[2], *topic = argv[3];
	int nparts = atoi(argv[4]), total = atoi(argv[5]);
	if (nparts < 1 || nparts > MAX_PARTS || total < 0)
		die("bad PARTITIONS or TOTAL");
	FILE *out = fopen(argv[6], "wb");
	if (!out)
		die("open %s", argv[6]);
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char group[64];
	snprintf(group, sizeof group, "rdk-records-%ld", (long)now_ms());
	set(conf, "bootstrap.servers", bootstrap);
	set(conf, "group.id", group); /* required by the API; no subscribe, no commits */
	set(conf, "enable.auto.commit", "false");
	set(conf, "enable.auto.offset.store", "false");
	set(conf, "enable.partition.eof", "true");
	set(conf, "fetch.wait.max.ms", "100");
	rd_kafka_t *rk = make(RD_KAFKA_CONSUMER, conf);
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
	for (int p = 0; p < nparts; p++)
		rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_resp_err_t err = rd_kafka_assign(rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	if (err)
		die("assign: %s", rd_kafka_err2str(err));

	/* at_eof[p]: the last event of partition p was its end. Done when that
	 * holds for every partition and TOTAL records are in. */
	int at_eof[MAX_PARTS] = {0};
	int got = 0;
	int64_t deadline = now_ms() + 90 * 1000;
	for (;;) {
		int eofs = 0;
		for (int p = 0; p < nparts; p++)
			eofs += at_eof[p];
		if ((eofs == nparts && got >= total) || now_ms() > deadline || failures)
			break;
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
		if (!m)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (m->partition >= 0 && m->partition < nparts)
				at_eof[m->partition] = 1;
		} else if (m->err) {
			fail("consumer error: %s (partition %d)", rd_kafka_message_errstr(m), m->partition);
		} else {
			write_msg(out, m);
			if (++got > total)
				fail("more records than %d (p%d o%" PRId64 ")", total, m->partition, m->offset);
			if (m->partition >= 0 && m->partition < nparts)
				at_eof[m->partition] = 0;
		}
		rd_kafka_message_destroy(m);
	}
	if (got < total)
		fail("consumer: %d of %d records in time", got, total);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	if (fclose(out))
		fail("write %s", argv[6]);
	if (failures)
		return 1;
	printf("rdk_records: consumed %d\n", got);
	return 0;
}

int main(int argc, char **argv) {
	if (argc >= 6 && strcmp(argv[1], "produce") == 0)
		return cmd_produce(argc, argv);
	if (argc == 7 && strcmp(argv[1], "consume") == 0)
		return cmd_consume(argv);
	fprintf(stderr, "usage: %s produce BOOTSTRAP TOPIC CODEC INFILE [key=value ...]\n"
	                "       %s consume BOOTSTRAP TOPIC PARTITIONS TOTAL OUTFILE\n", argv[0], argv[0]);
	return 2;
}
