/*
 * rdk_roundtrip.c — librdkafka producer + assign() consumer round trip,
 * driven by tests/integration/test_librdkafka.py against a real runnel.
 *
 *   rdk_roundtrip BOOTSTRAP TOPIC PARTITIONS COUNT CODEC
 *
 * 1. Produces COUNT messages with acks=all and compression.codec=CODEC,
 *    message i to partition i % PARTITIONS, each with a key, a value, three
 *    headers and an explicit CreateTime timestamp, all derived from i (some
 *    keys/values null, some empty, one value of 300 KB).
 * 2. Checks the delivery reports: exactly one per message, no error, the
 *    partition asked for, and per partition offsets 0,1,2,... in production
 *    order (TOPIC must be new and empty).
 * 3. Reads everything back with a consumer that uses assign() from the
 *    beginning and checks every message byte for byte (key, value, headers,
 *    timestamp and its type) and in order; then that the watermarks are
 *    [0, count of the partition] and nothing extra arrives.
 * Prints "rdk_roundtrip: OK ..." on stdout and exits 0, or "FAIL: ..." on
 * stderr and exits 1.
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
#define BIG_SIZE (300 * 1024)

struct msg_state {
	int64_t offset;   /* from the delivery report, -1 before */
	int reports;      /* delivery reports seen */
	int consumed;     /* times read back */
};

static struct msg_state *states;
static int count, nparts;
static const char *codec;
static int64_t base_ts;
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

static int64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the content of message i, a pure function of i ---- */

static int key_of(int i, char *buf, size_t cap) { /* -1 = null key */
	if (i % 103 == 1)
		return -1;
	if (i % 89 == 2)
		return 0; /* empty, not null */
	return snprintf(buf, cap, "key-%06d-%s-\xc3\xa9\xe2\x98\x83", i, codec);
}

/* Fills buf (capacity >= BIG_SIZE) and returns the length; -1 = null value. */
static int value_of(int i, unsigned char *buf) {
	if (i % 101 == 5)
		return -1;
	if (i % 7 == 0)
		return 0;
	int len = (i == count / 2) ? BIG_SIZE : 1 + (int)(((uint32_t)i * 2654435761u) % 1500);
	uint32_t x = 0x9e3779b9u ^ (uint32_t)i;
	int n = snprintf((char *)buf, 64, "v%d:\xe6\x97\xa5\xe6\x9c\xac:", i);
	for (int j = n; j < len; j++) {
		if ((j / 64) % 2 == 0) { /* compressible stretch */
			buf[j] = (unsigned char)('a' + (j + i) % 26);
		} else {                 /* xorshift bytes, any value incl. 0 */
			x ^= x << 13, x ^= x >> 17, x ^= x << 5;
			buf[j] = (unsigned char)x;
		}
	}
	return len < n ? n : len;
}

static void hdr_bin_of(int i, unsigned char out[4]) {
	out[0] = 0;
	out[1] = (unsigned char)(i & 0xff);
	out[2] = 0xff;
	out[3] = (unsigned char)(i >> 8);
}

/* ---- producer ---- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
	(void)rk, (void)opaque;
	intptr_t i = (intptr_t)m->_private;
	if (i < 0 || i >= count) {
		fail("delivery report with unknown opaque %" PRIdPTR, i);
		return;
	}
	states[i].reports++;
	if (m->err) {
		fail("message %" PRIdPTR ": delivery error %s", i, rd_kafka_err2str(m->err));
		return;
	}
	if (m->partition != (int32_t)(i % nparts))
		fail("message %" PRIdPTR ": delivered to partition %d, asked %d", i, m->partition, (int)(i % nparts));
	if (m->offset < 0)
		fail("message %" PRIdPTR ": delivery report without offset", i);
	states[i].offset = m->offset;
}

static rd_kafka_t *make(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
	char err[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
	if (!rk) {
		fprintf(stderr, "FAIL: rd_kafka_new: %s\n", err);
		exit(1);
	}
	return rk;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
	char err[512];
	if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "FAIL: config %s=%s: %s\n", k, v, err);
		exit(1);
	}
}

static void produce_all(const char *bootstrap, const char *topic, unsigned char *vbuf) {
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	set(conf, "bootstrap.servers", bootstrap);
	set(conf, "acks", "all");
	set(conf, "compression.codec", codec);
	set(conf, "linger.ms", "10");
	set(conf, "message.timeout.ms", "60000");
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	rd_kafka_t *rk = make(RD_KAFKA_PRODUCER, conf);

	char kbuf[128], idx[16];
	unsigned char bin[4];
	for (int i = 0; i < count; i++) {
		int klen = key_of(i, kbuf, sizeof kbuf);
		int vlen = value_of(i, vbuf);
		int ilen = snprintf(idx, sizeof idx, "%d", i);
		hdr_bin_of(i, bin);
		const void *kptr = klen < 0 ? NULL : (const void *)kbuf;
		void *vptr = vlen < 0 ? NULL : (void *)vbuf;
		size_t ksize = klen < 0 ? 0 : (size_t)klen, vsize = vlen < 0 ? 0 : (size_t)vlen;
		rd_kafka_resp_err_t err;
		for (;;) {
			err = rd_kafka_producev(
			    rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(i % nparts),
			    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			    RD_KAFKA_V_KEY(kptr, ksize),
			    RD_KAFKA_V_VALUE(vptr, vsize),
			    RD_KAFKA_V_TIMESTAMP(base_ts + i),
			    RD_KAFKA_V_HEADER("idx", idx, ilen),
			    RD_KAFKA_V_HEADER("bin\xc3\xbc", bin, 4),
			    RD_KAFKA_V_HEADER("nullhdr", NULL, 0),
			    RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END);
			if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
				break;
			rd_kafka_poll(rk, 10);
		}
		if (err)
			fail("producev %d: %s", i, rd_kafka_err2str(err));
		rd_kafka_poll(rk, 0);
	}
	rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, 90 * 1000);
	if (ferr)
		fail("flush: %s (%d messages still queued)", rd_kafka_err2str(ferr), rd_kafka_outq_len(rk));
	rd_kafka_destroy(rk);
}

static void check_reports(int64_t *per_part) {
	int64_t next[MAX_PARTS] = {0};
	for (int i = 0; i < count; i++) {
		int p = i % nparts;
		if (states[i].reports != 1) {
			fail("message %d: %d delivery reports", i, states[i].reports);
			continue;
		}
		if (states[i].offset != next[p])
			fail("message %d: partition %d offset %" PRId64 ", expected %" PRId64 " (contiguous, in order)",
			     i, p, states[i].offset, next[p]);
		next[p] = states[i].offset + 1;
	}
	for (int p = 0; p < nparts; p++)
		per_part[p] = next[p];
}

/* ---- consumer ---- */

static int bytes_eq(const void *got, size_t glen, const void *want, int wlen) {
	if (wlen < 0)
		return got == NULL;
	return got != NULL && glen == (size_t)wlen && memcmp(got, want, glen) == 0;
}

static void check_message(const rd_kafka_message_t *m, int64_t *next, unsigned char *vbuf) {
	int p = m->partition;
	if (p < 0 || p >= nparts) {
		fail("message from partition %d", p);
		return;
	}
	if (m->offset != next[p]) {
		fail("partition %d: got offset %" PRId64 ", expected %" PRId64, p, m->offset, next[p]);
		next[p] = m->offset;
	}
	next[p]++;
	int64_t i64 = m->offset * nparts + p;
	if (i64 >= count) {
		fail("partition %d offset %" PRId64 ": beyond what was produced", p, m->offset);
		return;
	}
	int i = (int)i64;
	states[i].consumed++;
	char kbuf[128], idx[16];
	unsigned char bin[4];
	int klen = key_of(i, kbuf, sizeof kbuf);
	int vlen = value_of(i, vbuf);
	if (!bytes_eq(m->key, m->key_len, kbuf, klen))
		fail("message %d (p%d o%" PRId64 "): key differs (len %zu, want %d)", i, p, m->offset, m->key_len, klen);
	if (!bytes_eq(m->payload, m->len, vbuf, vlen))
		fail("message %d (p%d o%" PRId64 "): value differs (len %zu, want %d)", i, p, m->offset, m->len, vlen);
	rd_kafka_timestamp_type_t tstype;
	int64_t ts = rd_kafka_message_timestamp(m, &tstype);
	if (tstype != RD_KAFKA_TIMESTAMP_CREATE_TIME || ts != base_ts + i)
		fail("message %d: timestamp %" PRId64 " type %d, want %" PRId64 " CreateTime", i, ts, (int)tstype, base_ts + i);

	rd_kafka_headers_t *hdrs = NULL;
	if (rd_kafka_message_headers(m, &hdrs) || !hdrs || rd_kafka_header_cnt(hdrs) != 3) {
		fail("message %d: expected 3 headers, got %zu", i, hdrs ? rd_kafka_header_cnt(hdrs) : 0);
		return;
	}
	int ilen = snprintf(idx, sizeof idx, "%d", i);
	hdr_bin_of(i, bin);
	struct { const char *name; const void *val; int len; } want[3] = {
		{"idx", idx, ilen}, {"bin\xc3\xbc", bin, 4}, {"nullhdr", NULL, -1}};
	for (size_t h = 0; h < 3; h++) {
		const char *name;
		const void *val;
		size_t len;
		if (rd_kafka_header_get_all(hdrs, h, &name, &val, &len) ||
		    strcmp(name, want[h].name) != 0 || !bytes_eq(val, len, want[h].val, want[h].len))
			fail("message %d: header #%zu differs (name %s, len %zu)", i, h, name, len);
	}
}

static int consume_all(const char *bootstrap, const char *topic, const int64_t *per_part,
                        unsigned char *vbuf) {
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char group[64];
	snprintf(group, sizeof group, "rdk-roundtrip-%ld", (long)now_ms());
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
	if (err) {
		fail("assign: %s", rd_kafka_err2str(err));
		rd_kafka_destroy(rk);
		return 0;
	}

	int64_t next[MAX_PARTS] = {0};
	int at_eof[MAX_PARTS] = {0};
	int eofs = 0, got = 0;
	int64_t deadline = now_ms() + 90 * 1000;
	while (eofs < nparts && now_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
		if (!m)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			int p = m->partition;
			if (p >= 0 && p < nparts && !at_eof[p] && next[p] >= per_part[p]) {
				at_eof[p] = 1;
				eofs++;
			}
		} else if (m->err) {
			fail("consumer error: %s (partition %d)", rd_kafka_message_errstr(m), m->partition);
		} else {
			check_message(m, next, vbuf);
			got++;
		}
		rd_kafka_message_destroy(m);
	}
	if (eofs < nparts)
		fail("consumer: only %d of %d partitions reached the end in time (%d messages read)", eofs, nparts, got);
	/* Nothing more may arrive after the end. */
	int64_t quiet = now_ms() + 300;
	while (now_ms() < quiet) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 50);
		if (!m)
			continue;
		if (!m->err)
			fail("extra message after the end: partition %d offset %" PRId64, m->partition, m->offset);
		rd_kafka_message_destroy(m);
	}
	for (int p = 0; p < nparts; p++) {
		int64_t lo = -1, hi = -1;
		err = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
		if (err)
			fail("watermarks of partition %d: %s", p, rd_kafka_err2str(err));
		else if (lo != 0 || hi != per_part[p])
			fail("partition %d watermarks [%" PRId64 ", %" PRId64 "], want [0, %" PRId64 "]", p, lo, hi, per_part[p]);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	for (int i = 0; i < count; i++)
		if (states[i].consumed != 1)
			fail("message %d read back %d times", i, states[i].consumed);
	return got;
}

int main(int argc, char **argv) {
	if (argc != 6) {
		fprintf(stderr, "usage: %s BOOTSTRAP TOPIC PARTITIONS COUNT CODEC\n", argv[0]);
		return 2;
	}
	const char *bootstrap = argv[1], *topic = argv[2];
	nparts = atoi(argv[3]);
	count = atoi(argv[4]);
	codec = argv[5];
	if (nparts < 1 || nparts > MAX_PARTS || count < 1) {
		fprintf(stderr, "bad PARTITIONS or COUNT\n");
		return 2;
	}
	states = calloc((size_t)count, sizeof *states);
	unsigned char *vbuf = malloc(BIG_SIZE + 64);
	if (!states || !vbuf)
		return 2;
	for (int i = 0; i < count; i++)
		states[i].offset = -1;
	base_ts = now_ms() - count;

	produce_all(bootstrap, topic, vbuf);
	int64_t per_part[MAX_PARTS] = {0};
	check_reports(per_part);
	int delivered = 0;
	for (int p = 0; p < nparts; p++)
		delivered += (int)per_part[p];
	int consumed = 0;
	if (!failures)
		consumed = consume_all(bootstrap, topic, per_part, vbuf);
	free(vbuf);
	free(states);
	if (failures) {
		fprintf(stderr, "FAIL: %d failures (codec %s)\n", failures, codec);
		return 1;
	}
	printf("rdk_roundtrip: OK codec=%s partitions=%d produced=%d delivered=%d consumed=%d\n",
	       codec, nparts, count, delivered, consumed);
	return 0;
}
