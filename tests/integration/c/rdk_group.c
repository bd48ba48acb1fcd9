/*
 * rdk_group.c — a librdkafka consumer-group worker, driven by
 * tests/integration/test_groups_rdkafka_c.py (through groupwork_proc.py)
 * against a real runnel.
 *
 *   rdk_group BOOTSTRAP TOPIC GROUP NAME [options]
 *
 *   --session-ms N        session.timeout.ms (default 6000)
 *   --heartbeat-ms N      heartbeat.interval.ms (default 1000)
 *   --instance-id ID      group.instance.id (static membership, KIP-345)
 *   --strategy S          partition.assignment.strategy (range, roundrobin,
 *                         cooperative-sticky, ...; default librdkafka's)
 *   -X key=value          any other librdkafka property (e.g. debug=cgrp)
 *
 * Subscribes TOPIC with group GROUP (client.id NAME), enable.auto.commit=false,
 * auto.offset.reset=earliest, and processes at least once: every record is
 * printed, then the offsets of what was printed are committed synchronously
 * (after each poll batch, and in the rebalance callback before partitions are
 * given up; a commit refused with REBALANCE_IN_PROGRESS is retried after the
 * next poll). SIGTERM/SIGINT: commit, rd_kafka_consumer_close() (which revokes
 * the assignment and sends LeaveGroup unless the member is static), exit 0.
 *
 * stdout carries one JSON object per line, flushed at once ("t" is the wall
 * clock in microseconds, comparable across processes on this machine):
 *   {"ev":"start","id":NAME,"t":..}
 *   {"ev":"assigned","proto":"EAGER"|"COOPERATIVE","parts":[..],"owned":[..],"member":..,"t":..}
 *       eager: parts = the whole new assignment; cooperative: the increment.
 *       "t" is taken before the assignment is applied.
 *   {"ev":"revoked","proto":..,"parts":[..],"owned":[..],"lost":bool,"t":..}
 *       "t" is taken after the partitions were given up.
 *   {"ev":"msg","p":P,"o":OFFSET,"v":"value"|null,"t":..}
 *   {"ev":"commit","offsets":[[P,NEXT_OFFSET],..],"t":..}   after success only
 *   {"ev":"commit_failed","err":"..","offsets":[[P,O,"err"],..],"t":..}
 *   {"ev":"error","code":N,"err":"..","t":..}                consumer errors
 *   {"ev":"nocommit","t":..} / {"ev":"commit_on","t":..}     stdin commands
 *   {"ev":"closing","t":..} {"ev":"closed","err":"..","t":..}
 *
 * stdin commands, one per line: "nocommit" stops committing (processed
 * records stay uncommitted, also at close), "commit" resumes. End of file on
 * stdin stops the worker like SIGTERM, so it does not outlive the test
 * process that started it.
 *
 * Exit status: 0 after a clean close, 2 on bad usage or configuration,
 * 1 if close failed.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define MAX_PARTS 256
#define BATCH_MAX 200

static volatile sig_atomic_t stop_requested;
static const char *topic;
static bool owned[MAX_PARTS];
static int64_t pending[MAX_PARTS]; /* next offset to commit, -1 = nothing */
static bool commits_on = true;

static int64_t now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- JSON output ---- */

static void json_str(FILE *f, const char *s, size_t len) {
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c); /* bytes, not UTF-8: values are ASCII */
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_cstr(FILE *f, const char *s) {
	if (!s)
		fputs("null", f);
	else
		json_str(f, s, strlen(s));
}

static void end_line(void) {
	fprintf(stdout, ",\"t\":%" PRId64 "}\n", now_us());
	fflush(stdout);
}

static void print_parts(const char *key, const rd_kafka_topic_partition_list_t *l) {
	printf(",\"%s\":[", key);
	for (int i = 0; l && i < l->cnt; i++)
		printf("%s%" PRId32, i ? "," : "", l->elems[i].partition);
	printf("]");
}

static void print_owned(void) {
	printf(",\"owned\":[");
	bool first = true;
	for (int p = 0; p < MAX_PARTS; p++)
		if (owned[p]) {
			printf("%s%d", first ? "" : ",", p);
			first = false;
		}
	printf("]");
}

static void simple_event(const char *ev) {
	printf("{\"ev\":\"%s\"", ev);
	end_line();
}

static void error_event(int code, const char *err) {
	printf("{\"ev\":\"error\",\"code\":%d,\"err\":", code);
	json_cstr(stdout, err);
	end_line();
}

static int part_ok(int32_t p) {
	return p >= 0 && p < MAX_PARTS;
}

/* ---- committing ---- */

/* Commits the pending offsets synchronously; prints the outcome. */
static void commit_pending(rd_kafka_t *rk) {
	if (!commits_on)
		return;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
	for (int p = 0; p < MAX_PARTS; p++)
		if (pending[p] >= 0)
			rd_kafka_topic_partition_list_add(l, topic, p)->offset = pending[p];
	if (l->cnt == 0) {
		rd_kafka_topic_partition_list_destroy(l);
		return;
	}
	rd_kafka_resp_err_t err = rd_kafka_commit(rk, l, 0 /* sync */);
	bool part_err = false;
	for (int i = 0; i < l->cnt; i++)
		if (l->elems[i].err)
			part_err = true;
	if (!err && !part_err) {
		printf("{\"ev\":\"commit\",\"offsets\":[");
		for (int i = 0; i < l->cnt; i++)
			printf("%s[%" PRId32 ",%" PRId64 "]", i ? "," : "", l->elems[i].partition,
			       l->elems[i].offset);
		printf("]");
	} else {
		printf("{\"ev\":\"commit_failed\",\"err\":");
		json_cstr(stdout, rd_kafka_err2name(err));
		printf(",\"offsets\":[");
		for (int i = 0; i < l->cnt; i++) {
			printf("%s[%" PRId32 ",%" PRId64 ",", i ? "," : "", l->elems[i].partition,
			       l->elems[i].offset);
			json_cstr(stdout, rd_kafka_err2name(l->elems[i].err));
			printf("]");
		}
		printf("]");
	}
	end_line();
	/* REBALANCE_IN_PROGRESS: a commit in CompletingRebalance (with the
	 * cooperative protocol the member keeps consuming meanwhile); keep the
	 * offsets of partitions still owned and commit them again after the next
	 * poll. Otherwise (at least once) the records are read again by the next
	 * owner. */
	bool retry = err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS;
	for (int i = 0; i < l->cnt; i++)
		if (l->elems[i].err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
			retry = true;
	for (int p = 0; p < MAX_PARTS; p++)
		if (!(retry && owned[p]))
			pending[p] = -1;
	rd_kafka_topic_partition_list_destroy(l);
}

/* ---- rebalancing ---- */

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
	(void)opaque;
	const char *proto = rd_kafka_rebalance_protocol(rk);
	bool coop = proto && !strcmp(proto, "COOPERATIVE");
	int64_t t0 = now_us();

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		rd_kafka_error_t *e = NULL;
		rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;
		if (coop) {
			e = rd_kafka_incremental_assign(rk, parts);
		} else {
			for (int p = 0; p < MAX_PARTS; p++)
				owned[p] = false;
			aerr = rd_kafka_assign(rk, parts);
		}
		for (int i = 0; i < parts->cnt; i++)
			if (part_ok(parts->elems[i].partition))
				owned[parts->elems[i].partition] = true;
		char *member = rd_kafka_memberid(rk);
		printf("{\"ev\":\"assigned\",\"proto\":");
		json_cstr(stdout, coop ? "COOPERATIVE" : "EAGER");
		print_parts("parts", parts);
		print_owned();
		printf(",\"member\":");
		json_cstr(stdout, member);
		if (e || aerr) {
			printf(",\"assign_error\":");
			json_cstr(stdout, e ? rd_kafka_error_string(e) : rd_kafka_err2str(aerr));
		}
		printf(",\"t\":%" PRId64 "}\n", t0);
		fflush(stdout);
		if (member)
			rd_kafka_mem_free(rk, member);
		if (e)
			rd_kafka_error_destroy(e);
		return;
	}

	bool lost = rd_kafka_assignment_lost(rk);
	if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
		/* Commit what was processed before giving the partitions up,
		 * unless they are lost already (the commit would be refused). */
		if (!lost)
			commit_pending(rk);
	} else {
		error_event(err, rd_kafka_err2str(err));
	}
	rd_kafka_error_t *e = NULL;
	rd_kafka_resp_err_t uerr = RD_KAFKA_RESP_ERR_NO_ERROR;
	if (coop) {
		e = rd_kafka_incremental_unassign(rk, parts);
		for (int i = 0; i < parts->cnt; i++)
			if (part_ok(parts->elems[i].partition)) {
				owned[parts->elems[i].partition] = false;
				pending[parts->elems[i].partition] = -1;
			}
	} else {
		uerr = rd_kafka_assign(rk, NULL);
		for (int p = 0; p < MAX_PARTS; p++) {
			owned[p] = false;
			pending[p] = -1;
		}
	}
	printf("{\"ev\":\"revoked\",\"proto\":");
	json_cstr(stdout, coop ? "COOPERATIVE" : "EAGER");
	print_parts("parts", parts);
	print_owned();
	printf(",\"lost\":%s", lost ? "true" : "false");
	if (e || uerr) {
		printf(",\"assign_error\":");
		json_cstr(stdout, e ? rd_kafka_error_string(e) : rd_kafka_err2str(uerr));
	}
	end_line();
	if (e)
		rd_kafka_error_destroy(e);
}

/* ---- stdin commands ---- */

static char cmdbuf[256];
static size_t cmdlen;
static bool stdin_open = true;

static void read_commands(void) {
	while (stdin_open) {
		struct pollfd pfd = { .fd = 0, .events = POLLIN };
		if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & (POLLIN | POLLHUP)))
			return;
		char c;
		ssize_t n = read(0, &c, 1);
		if (n <= 0) { /* the test process is gone: stop as on SIGTERM */
			stdin_open = false;
			stop_requested = 1;
			return;
		}
		if (c != '\n') {
			if (cmdlen < sizeof(cmdbuf) - 1)
				cmdbuf[cmdlen++] = c;
			continue;
		}
		cmdbuf[cmdlen] = '\0';
		cmdlen = 0;
		if (!strcmp(cmdbuf, "nocommit")) {
			commits_on = false;
			simple_event("nocommit");
		} else if (!strcmp(cmdbuf, "commit")) {
			commits_on = true;
			simple_event("commit_on");
		} else if (cmdbuf[0]) {
			error_event(-1, "unknown stdin command");
		}
	}
}

/* ---- main ---- */

static void on_signal(int sig) {
	(void)sig;
	stop_requested = 1;
}

static void usage(void) {
	fprintf(stderr, "usage: rdk_group BOOTSTRAP TOPIC GROUP NAME [--session-ms N] "
	                "[--heartbeat-ms N] [--instance-id ID] [--strategy S] [-X key=value]...\n");
	exit(2);
}

static void set_conf(rd_kafka_conf_t *conf, const char *k, const char *v) {
	char errstr[512];
	if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "rdk_group: %s=%s: %s\n", k, v, errstr);
		exit(2);
	}
}

static void process(rd_kafka_message_t *m) {
	if (m->err) {
		if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			error_event(m->err, rd_kafka_message_errstr(m));
		return;
	}
	printf("{\"ev\":\"msg\",\"p\":%" PRId32 ",\"o\":%" PRId64 ",\"v\":", m->partition, m->offset);
	if (m->payload)
		json_str(stdout, m->payload, m->len);
	else
		fputs("null", stdout);
	end_line();
	if (part_ok(m->partition))
		pending[m->partition] = m->offset + 1;
}

int main(int argc, char **argv) {
	if (argc < 5)
		usage();
	const char *bootstrap = argv[1], *group = argv[3], *name = argv[4];
	topic = argv[2];
	char errstr[512];

	for (int p = 0; p < MAX_PARTS; p++)
		pending[p] = -1;

	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	set_conf(conf, "bootstrap.servers", bootstrap);
	set_conf(conf, "group.id", group);
	set_conf(conf, "client.id", name);
	set_conf(conf, "enable.auto.commit", "false");
	set_conf(conf, "enable.auto.offset.store", "false");
	set_conf(conf, "auto.offset.reset", "earliest");
	set_conf(conf, "session.timeout.ms", "6000");
	set_conf(conf, "heartbeat.interval.ms", "1000");
	set_conf(conf, "fetch.wait.max.ms", "100");
	set_conf(conf, "allow.auto.create.topics", "false");
	for (int i = 5; i < argc; i++) {
		const char *o = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(o, "--session-ms")) {
			set_conf(conf, "session.timeout.ms", v);
		} else if (!strcmp(o, "--heartbeat-ms")) {
			set_conf(conf, "heartbeat.interval.ms", v);
		} else if (!strcmp(o, "--instance-id")) {
			set_conf(conf, "group.instance.id", v);
		} else if (!strcmp(o, "--strategy")) {
			set_conf(conf, "partition.assignment.strategy", v);
		} else if (!strcmp(o, "-X")) {
			const char *eq = strchr(v, '=');
			if (!eq)
				usage();
			char key[256];
			size_t kl = (size_t)(eq - v);
			if (kl >= sizeof(key))
				usage();
			memcpy(key, v, kl);
			key[kl] = '\0';
			set_conf(conf, key, eq + 1);
		} else {
			usage();
		}
	}
	rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "rdk_group: rd_kafka_new: %s\n", errstr);
		return 2;
	}
	rd_kafka_poll_set_consumer(rk);

	printf("{\"ev\":\"start\",\"id\":");
	json_cstr(stdout, name);
	printf(",\"version\":");
	json_cstr(stdout, rd_kafka_version_str());
	end_line();

	rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (err) {
		fprintf(stderr, "rdk_group: subscribe: %s\n", rd_kafka_err2str(err));
		return 2;
	}

	while (!stop_requested) {
		read_commands();
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (!m) {
			commit_pending(rk); /* a retry, if any */
			continue;
		}
		int n = 0;
		do {
			process(m);
			rd_kafka_message_destroy(m);
		} while (++n < BATCH_MAX && !stop_requested && (m = rd_kafka_consumer_poll(rk, 0)));
		commit_pending(rk);
	}

	commit_pending(rk);
	simple_event("closing");
	err = rd_kafka_consumer_close(rk);
	printf("{\"ev\":\"closed\",\"err\":");
	json_cstr(stdout, err ? rd_kafka_err2name(err) : NULL);
	end_line();
	rd_kafka_destroy(rk);
	return err ? 1 : 0;
}
