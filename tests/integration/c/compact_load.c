/*
 * compact_load.c — load and read back a compacted topic with librdkafka,
 * driven by tests/integration/test_compaction.py against a real runnel.
 *
 *   compact_load produce BOOTSTRAP TOPIC N K [--seed S] [--start-seq S]
 *                        [--no-tombstones] [--live-only] [--value-bytes B]
 *                        [--codec C] [--batch M]
 *   compact_load read BOOTSTRAP TOPIC [--timeout-ms T]
 *
 * Everything goes to and comes from partition 0.
 *
 * produce: N updates over K keys (key "k%05d", K <= 100000), then (unless
 * --no-tombstones) one tombstone (null value) for every tenth key
 * (k00000, k00010, ...). Update j (j = 0..N-1) has sequence number
 * seq = start_seq + j and value "v<seq>", padded with '.' up to B bytes.
 * Its key: the first min(N, K) updates walk the keys in order (every key
 * gets a value); later ones are drawn from a xorshift generator seeded with
 * S. --live-only never draws a tenth key (so a later run does not bring a
 * tombstoned key back). acks=all, idempotence off, one request in flight,
 * linger 5 ms, batches of up to M records (default 10000), compression C
 * (default none). Every delivery report must arrive without error; the
 * offsets are checked to be contiguous and in production order.
 *
 * read: assign()s partition 0 from the beginning and reads until the end
 * (partition EOF), with check.crcs on, so a batch the cleaner rewrote with a
 * wrong CRC fails the read.
 *
 * Both print one JSON object on stdout:
 *   produce: {"mode":"produce","produced":..,"delivered":..,"updates":N,
 *             "tombstones":T,"first_offset":..,"last_offset":..,
 *             "contiguous":bool,"value_bytes":B,"keys":{"k00001":["v123",OFFSET],
 *             "k00000":[null,OFFSET],...}}     (latest record per key)
 *   read:    {"mode":"read","records":..,"tombstone_records":..,
 *             "dup_records":..,"foreign_records":..,"increasing":bool,
 *             "first_offset":..,"last_offset":..,"first_dup_offset":..,
 *             "low":..,"high":..,
 *             "keys":{...same form...}}
 * dup_records counts records whose key was seen earlier in the read
 * (first_dup_offset: the first of them, -1 for none; a partition cleaned up
 * to its active segment has none below that segment's base offset);
 * foreign_records counts records whose key is not "k%05d" (null keys too).
 * Exit 0, or 1 after "FAIL: ..." lines on stderr (client errors, delivery
 * errors, consumer errors, no end of partition in time); 2 on bad usage.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define MAX_KEYS 100000
#define MAX_VALUE 65536

/* The latest record seen for one key. */
struct key_state {
	bool seen;
	bool tombstone;     /* latest record has a null value */
	int64_t offset;     /* of the latest record */
	char *value;        /* owned copy, NUL-terminated; stale when tombstone */
	size_t cap;         /* bytes allocated at value */
};

static struct key_state keys[MAX_KEYS];
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

_Noreturn static void usage(void) {
	fprintf(stderr,
		"usage: compact_load produce BOOTSTRAP TOPIC N K [--seed S] [--start-seq S]\n"
		"                    [--no-tombstones] [--live-only] [--value-bytes B] [--codec C]\n"
		"                    [--batch M]\n"
		"       compact_load read BOOTSTRAP TOPIC [--timeout-ms T]\n");
	exit(2);
}

static int64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
	char err[512];
	if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "FAIL: config %s=%s: %s\n", k, v, err);
		exit(1);
	}
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

/* Records what was seen at offset for key index k (value NULL = tombstone;
 * vlen bytes, copied). Keeps the record with the higher offset. The value
 * buffer is reused (a read sees about a million values). */
static void key_note(int k, const void *value, size_t vlen, int64_t offset) {
	struct key_state *ks = &keys[k];
	if (ks->seen && ks->offset > offset)
		return;
	ks->seen = true;
	ks->offset = offset;
	ks->tombstone = value == NULL;
	if (!value)
		return;
	if (vlen + 1 > ks->cap) {
		free(ks->value);
		ks->cap = vlen + 1 < 32 ? 32 : vlen + 1;
		ks->value = malloc(ks->cap);
		if (!ks->value) {
			fprintf(stderr, "FAIL: out of memory\n");
			exit(1);
		}
	}
	memcpy(ks->value, value, vlen);
	ks->value[vlen] = '\0';
}

/* JSON string of s (any bytes; non-printable ones as \u00XX). */
static void json_str(const char *s) {
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void print_keys(void) {
	printf("\"keys\":{");
	bool first = true;
	for (int k = 0; k < MAX_KEYS; k++) {
		if (!keys[k].seen)
			continue;
		printf("%s\"k%05d\":[", first ? "" : ",", k);
		if (keys[k].tombstone)
			printf("null");
		else
			json_str(keys[k].value);
		printf(",%" PRId64 "]", keys[k].offset);
		first = false;
	}
	printf("}");
}

/* ================================================================ produce */

struct produce_opts {
	long n, k;                 /* updates, keys */
	uint64_t seed;
	long long start_seq;
	bool tombstones, live_only;
	int value_bytes;
	const char *codec;
	const char *batch;         /* batch.num.messages */
};

static int64_t *dr_offsets;    /* per message: offset from its delivery report, -1 before */
static int *dr_reports;        /* per message: delivery reports seen */
static long dr_total;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
	(void)rk, (void)opaque;
	intptr_t i = (intptr_t)m->_private;
	if (i < 0 || i >= dr_total) {
		fail("delivery report with unknown opaque %" PRIdPTR, i);
		return;
	}
	dr_reports[i]++;
	if (m->err) {
		fail("message %" PRIdPTR ": delivery error %s", i, rd_kafka_err2str(m->err));
		return;
	}
	if (m->partition != 0 || m->offset < 0)
		fail("message %" PRIdPTR ": delivered to partition %d offset %" PRId64, i, m->partition, m->offset);
	dr_offsets[i] = m->offset;
}

static uint64_t xorshift(uint64_t *s) {
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Key index of update j: the keys in order first, then random ones. */
static int key_of_update(const struct produce_opts *o, long j, uint64_t *rng) {
	if (j < o->k && !(o->live_only && j % 10 == 0))
		return (int)j;
	for (;;) {
		int k = (int)(xorshift(rng) % (uint64_t)o->k);
		if (!o->live_only || k % 10 != 0)
			return k;
	}
}

static void produce_one(rd_kafka_t *rk, const char *topic, long i, int k, const char *value, size_t vlen) {
	char kbuf[16];
	int klen = snprintf(kbuf, sizeof kbuf, "k%05d", k);
	rd_kafka_resp_err_t err;
	for (;;) {
		err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					RD_KAFKA_V_KEY(kbuf, (size_t)klen),
					RD_KAFKA_V_VALUE((void *)value, value ? vlen : 0),
					RD_KAFKA_V_OPAQUE((void *)(intptr_t)i), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(rk, 10);
	}
	if (err)
		fail("producev %ld: %s", i, rd_kafka_err2str(err));
	rd_kafka_poll(rk, 0);
}

static rd_kafka_t *producer_new(const char *bootstrap, const struct produce_opts *o) {
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	set(conf, "bootstrap.servers", bootstrap);
	set(conf, "acks", "all");
	set(conf, "enable.idempotence", "false");
	/* One request in flight keeps the offsets in production order even if
	 * a request were retried; large batches keep the load fast anyway. */
	set(conf, "max.in.flight.requests.per.connection", "1");
	set(conf, "compression.codec", o->codec);
	set(conf, "linger.ms", "5");
	set(conf, "batch.num.messages", o->batch);
	set(conf, "batch.size", "1000000");
	set(conf, "queue.buffering.max.messages", "1000000");
	set(conf, "queue.buffering.max.kbytes", "1048576");
	set(conf, "message.timeout.ms", "120000");
	rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	return make(RD_KAFKA_PRODUCER, conf);
}

/* Value of update j into buf (capacity MAX_VALUE + 32): "v<seq>" padded. */
static void value_of(const struct produce_opts *o, long j, char *buf, size_t *len) {
	int n = snprintf(buf, MAX_VALUE + 32, "v%lld", o->start_seq + j);
	while (n < o->value_bytes)
		buf[n++] = '.';
	*len = (size_t)n;
}

/* Checks the delivery reports, records the latest record per key and prints
 * the summary. kidx[i] is message i's key index; messages >= o->n are the
 * tombstones. */
static void produce_summary(const struct produce_opts *o, const int *kidx, long ntomb) {
	bool contiguous = true;
	long delivered = 0;
	char vbuf[MAX_VALUE + 32];
	for (long i = 0; i < dr_total; i++) {
		if (dr_reports[i] != 1) {
			fail("message %ld: %d delivery reports", i, dr_reports[i]);
			continue;
		}
		if (dr_offsets[i] < 0)
			continue;
		delivered++;
		if (i > 0 && dr_offsets[i] != dr_offsets[i - 1] + 1)
			contiguous = false;
		if (i >= o->n) {
			key_note(kidx[i], NULL, 0, dr_offsets[i]);
			continue;
		}
		size_t vlen;
		value_of(o, i, vbuf, &vlen);
		key_note(kidx[i], vbuf, vlen, dr_offsets[i]);
	}
	printf("{\"mode\":\"produce\",\"produced\":%ld,\"delivered\":%ld,\"updates\":%ld,"
	       "\"tombstones\":%ld,\"first_offset\":%" PRId64 ",\"last_offset\":%" PRId64
	       ",\"contiguous\":%s,\"value_bytes\":%d,",
	       dr_total, delivered, o->n, ntomb, dr_total ? dr_offsets[0] : -1,
	       dr_total ? dr_offsets[dr_total - 1] : -1, contiguous ? "true" : "false", o->value_bytes);
	print_keys();
	printf("}\n");
}

static int produce_main(const char *bootstrap, const char *topic, const struct produce_opts *o) {
	long ntomb = o->tombstones ? (o->k + 9) / 10 : 0;
	dr_total = o->n + ntomb;
	dr_offsets = malloc((size_t)dr_total * sizeof *dr_offsets);
	dr_reports = calloc((size_t)dr_total, sizeof *dr_reports);
	int *kidx = malloc((size_t)dr_total * sizeof *kidx);
	char *vbuf = malloc(MAX_VALUE + 32);
	if (!dr_offsets || !dr_reports || !kidx || !vbuf) {
		fprintf(stderr, "FAIL: out of memory\n");
		return 1;
	}
	for (long i = 0; i < dr_total; i++)
		dr_offsets[i] = -1;

	rd_kafka_t *rk = producer_new(bootstrap, o);
	uint64_t rng = o->seed * 0x9e3779b97f4a7c15ull + 1;
	for (long j = 0; j < o->n; j++) {
		size_t vlen;
		kidx[j] = key_of_update(o, j, &rng);
		value_of(o, j, vbuf, &vlen);
		produce_one(rk, topic, j, kidx[j], vbuf, vlen);
	}
	for (long t = 0; t < ntomb; t++) {
		kidx[o->n + t] = (int)(t * 10);
		produce_one(rk, topic, o->n + t, kidx[o->n + t], NULL, 0);
	}
	rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, 180 * 1000);
	if (ferr)
		fail("flush: %s (%d messages still queued)", rd_kafka_err2str(ferr), rd_kafka_outq_len(rk));
	rd_kafka_destroy(rk);

	produce_summary(o, kidx, ntomb);
	free(kidx);
	free(vbuf);
	free(dr_offsets);
	free(dr_reports);
	return failures ? 1 : 0;
}

/* =================================================================== read */

struct read_result {
	long records, tombstones, dups, foreign;
	bool increasing;
	int64_t first, last;
	int64_t first_dup;          /* offset of the first record whose key was seen before, -1 */
};

/* Key index of "k%05d", or -1 for any other key. */
static int key_index(const void *key, size_t len) {
	const char *s = key;
	if (!key || len != 6 || s[0] != 'k')
		return -1;
	int k = 0;
	for (size_t i = 1; i < 6; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		k = k * 10 + (s[i] - '0');
	}
	return k;
}

static void read_note(struct read_result *r, const rd_kafka_message_t *m) {
	if (r->records > 0 && m->offset <= r->last)
		r->increasing = false;
	if (r->records == 0)
		r->first = m->offset;
	r->last = m->offset;
	r->records++;
	if (!m->payload)
		r->tombstones++;
	int k = key_index(m->key, m->key_len);
	if (k < 0) {
		r->foreign++;
		return;
	}
	if (keys[k].seen && r->dups++ == 0)
		r->first_dup = m->offset;
	key_note(k, m->payload, m->len, m->offset);
}

static rd_kafka_t *consumer_new(const char *bootstrap, const char *topic) {
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char group[64];
	snprintf(group, sizeof group, "compact-load-%ld", (long)now_ms());
	set(conf, "bootstrap.servers", bootstrap);
	set(conf, "group.id", group); /* required by the API; no subscribe, no commits */
	set(conf, "enable.auto.commit", "false");
	set(conf, "enable.auto.offset.store", "false");
	set(conf, "enable.partition.eof", "true");
	set(conf, "check.crcs", "true");
	set(conf, "fetch.wait.max.ms", "100");
	set(conf, "fetch.max.bytes", "52428800");
	set(conf, "max.partition.fetch.bytes", "16777216");
	set(conf, "queued.max.messages.kbytes", "262144");
	set(conf, "queued.min.messages", "2000000");
	rd_kafka_t *rk = make(RD_KAFKA_CONSUMER, conf);
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_resp_err_t err = rd_kafka_assign(rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	if (err) {
		fprintf(stderr, "FAIL: assign: %s\n", rd_kafka_err2str(err));
		exit(1);
	}
	return rk;
}

static int read_main(const char *bootstrap, const char *topic, long timeout_ms) {
	rd_kafka_t *rk = consumer_new(bootstrap, topic);
	struct read_result r = { .increasing = true, .first = -1, .last = -1, .first_dup = -1 };
	bool eof = false;
	int64_t deadline = now_ms() + timeout_ms;
	while (!eof && now_ms() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
		if (!m)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			eof = true;
		else if (m->err)
			fail("consumer error: %s (offset %" PRId64 ")", rd_kafka_message_errstr(m), m->offset);
		else
			read_note(&r, m);
		rd_kafka_message_destroy(m);
	}
	if (!eof)
		fail("no end of partition within %ld ms (%ld records read, last offset %" PRId64 ")",
		     timeout_ms, r.records, r.last);
	int64_t lo = -1, hi = -1;
	rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, 0, &lo, &hi, 10000);
	if (err)
		fail("watermarks: %s", rd_kafka_err2str(err));
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);

	printf("{\"mode\":\"read\",\"records\":%ld,\"tombstone_records\":%ld,\"dup_records\":%ld,"
	       "\"foreign_records\":%ld,\"increasing\":%s,\"first_offset\":%" PRId64
	       ",\"last_offset\":%" PRId64 ",\"first_dup_offset\":%" PRId64 ",\"low\":%" PRId64
	       ",\"high\":%" PRId64 ",",
	       r.records, r.tombstones, r.dups, r.foreign, r.increasing ? "true" : "false",
	       r.first, r.last, r.first_dup, lo, hi);
	print_keys();
	printf("}\n");
	return failures ? 1 : 0;
}

/* =================================================================== main */

static long num_arg(const char *s, long lo, long hi) {
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "bad number %s (want %ld..%ld)\n", s, lo, hi);
		usage();
	}
	return v;
}

static int produce_cmd(int argc, char **argv) {
	if (argc < 6)
		usage();
	struct produce_opts o = { .n = num_arg(argv[4], 0, 100000000), .k = num_arg(argv[5], 1, MAX_KEYS),
				  .seed = 1, .tombstones = true, .codec = "none", .batch = "10000" };
	for (int i = 6; i < argc; i++) {
		bool has = i + 1 < argc;
		if (strcmp(argv[i], "--no-tombstones") == 0)
			o.tombstones = false;
		else if (strcmp(argv[i], "--live-only") == 0)
			o.live_only = true;
		else if (strcmp(argv[i], "--seed") == 0 && has)
			o.seed = (uint64_t)num_arg(argv[++i], 0, 1L << 40);
		else if (strcmp(argv[i], "--start-seq") == 0 && has)
			o.start_seq = num_arg(argv[++i], 0, 1L << 50);
		else if (strcmp(argv[i], "--value-bytes") == 0 && has)
			o.value_bytes = (int)num_arg(argv[++i], 0, MAX_VALUE);
		else if (strcmp(argv[i], "--codec") == 0 && has)
			o.codec = argv[++i];
		else if (strcmp(argv[i], "--batch") == 0 && has)
			o.batch = argv[++i];
		else
			usage();
	}
	if (o.live_only && o.k < 10) {
		fprintf(stderr, "--live-only needs K >= 10\n");
		usage();
	}
	return produce_main(argv[2], argv[3], &o);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (argc >= 4 && strcmp(argv[1], "produce") == 0)
		return produce_cmd(argc, argv);
	if (argc >= 4 && strcmp(argv[1], "read") == 0) {
		long timeout_ms = 60000;
		if (argc == 6 && strcmp(argv[4], "--timeout-ms") == 0)
			timeout_ms = num_arg(argv[5], 1, 3600000);
		else if (argc != 4)
			usage();
		return read_main(argv[2], argv[3], timeout_ms);
	}
	usage();
}
