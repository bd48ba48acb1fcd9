/*
 * topic — rnl topic create|list|describe|delete|add-partitions; the
 * dispatch of describe --configs and alter-config to topic_config*.c, and
 * of trim to topic_trim.c.
 *
 * Every verb first reads the cluster's metadata (client_metadata), which
 * both proves the broker reachable and answers "does the topic exist?"
 * before anything is changed, so `delete a b` with `b` missing deletes
 * nothing. Create, delete and add-partitions then wait (up to --timeout)
 * until Metadata shows the change, so a script may use the topic on the
 * next line; a change the broker accepted but did not yet show is not an
 * error (a warning says so).
 *
 * Topic names starting with "__" are internal (Kafka's convention:
 * __consumer_offsets, __transaction_state); librdkafka 2.0.2's metadata
 * does not carry Metadata v1's is_internal flag.
 */
#include "topic.h"
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char topic_usage[] =
	"usage: rnl topic create NAME [--partitions N] [--replication-factor N]\n"
	"                 [--config key=value]... [--validate-only] [--if-not-exists]\n"
	"       rnl topic list [--internal] [--long]\n"
	"       rnl topic describe NAME [--configs] [--synonyms] [--json]\n"
	"       rnl topic describe NAME --producers [--json]\n"
	"       rnl topic alter-config NAME [--set key=value]... [--delete key]... [--dry-run]\n"
	"       rnl topic delete NAME... [--if-exists]\n"
	"       rnl topic add-partitions NAME --total N\n"
	"       rnl topic trim NAME [--partition P] (--before-offset O | --before-time WHEN | --all)\n"
	"\n"
	"create:  -p, --partitions N          partitions (default: the broker's num.partitions)\n"
	"         -r, --replication-factor N  (default: the broker's default.replication.factor)\n"
	"         -c, --config key=value      topic config, repeatable (e.g. retention.ms=60000)\n"
	"             --validate-only         ask the broker to check the request, create nothing\n"
	"             --if-not-exists         succeed if the topic exists already\n"
	"list:        --internal              include internal topics (__consumer_offsets, ...)\n"
	"         -l, --long                  a table with partition and replica counts\n"
	"describe:    --configs               all configs, defaults included (default: the\n"
	"                                     topic's own settings only)\n"
	"             --synonyms              under each config, where its value comes from\n"
	"             --json                  one JSON object on stdout instead of the tables\n"
	"             --producers             instead: each partition's active producers (id,\n"
	"                                     epoch, last sequence, open transaction)\n"
	"alter-config: --set key=value        set a topic config (repeatable)\n"
	"             --delete key            remove the topic's setting: back to the broker's\n"
	"             --dry-run               let the broker validate, change nothing\n"
	"delete:      --if-exists             succeed for topics that do not exist\n"
	"add-partitions: --total N            the new partition count (more than now)\n"
	"trim:        --before-offset O       delete the records below offset O (DeleteRecords)\n"
	"             --before-time WHEN      ... older than WHEN (ms since the epoch, or\n"
	"                                     YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+HH:MM], UTC default)\n"
	"             --all                   ... every record, up to the high watermark\n"
	"             --partition P           only partition P (default: all)\n"
	"\n"
	"global options: --brokers, --timeout, -X key=value (see `rnl --help`)\n";

#define TOPIC_MAX_CONFIGS 64

/* ---- shared helpers ---- */

/* Opens an admin (producer-type) client. Returns RNL_EXIT_OK or the exit
 * code to return (after printing the error). */
static int topic_open(client_t *cl, rnl_ctx_t *ctx)
{
	bool usage;
	rd_kafka_conf_t *conf = client_conf_new(ctx, NULL, &usage);

	if (!conf)
		return usage ? rnl_usage_hint(NULL) : RNL_EXIT_FAIL;
	return client_open(cl, ctx, RD_KAFKA_PRODUCER, conf) ? RNL_EXIT_OK : RNL_EXIT_FAIL;
}

static bool is_internal(const char *name)
{
	return strncmp(name, "__", 2) == 0;
}

/* True if md shows the topic as wanted: want_parts > 0 that many
 * partitions, -1 any count; all with a leader. want_parts 0: absent. */
static bool topic_shows(const rd_kafka_metadata_t *md, const char *name, int want_parts)
{
	const rd_kafka_metadata_topic_t *t = client_topic_find(md, name);

	if (want_parts == 0 || !t)
		return want_parts == 0 && !t;
	if (t->partition_cnt == 0 || (want_parts > 0 && t->partition_cnt != want_parts))
		return false;
	for (int i = 0; i < t->partition_cnt; i++)
		if (t->partitions[i].leader < 0)
			return false;
	return true;
}

/* Polls Metadata until topic_shows() or --timeout. Returns whether it did. */
static bool topic_wait(client_t *cl, const char *name, int want_parts)
{
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	int waited = 0;

	for (;;) {
		const rd_kafka_metadata_t *md = NULL;
		bool ok = false;

		if (!rd_kafka_metadata(cl->rk, 1, NULL, &md, cl->ctx->timeout_ms)) {
			ok = topic_shows(md, name, want_parts);
			rd_kafka_metadata_destroy(md);
		}
		if (ok || waited >= cl->ctx->timeout_ms)
			return ok;
		nanosleep(&pause, NULL);
		waited += 100;
	}
}

/* Prints the first failed topic result of an admin call, letting the one
 * error code `ok_err` pass (e.g. TOPIC_ALREADY_EXISTS with --if-not-exists).
 * Returns true if all succeeded. */
static bool topic_results_ok(const rd_kafka_topic_result_t **res, size_t cnt, const char *what,
			     rd_kafka_resp_err_t ok_err)
{
	bool ok = true;

	for (size_t i = 0; i < cnt; i++) {
		rd_kafka_resp_err_t err = rd_kafka_topic_result_error(res[i]);
		const char *msg = rd_kafka_topic_result_error_string(res[i]);

		if (!err || err == ok_err)
			continue;
		rnl_error("%s \"%s\": %s", what, rd_kafka_topic_result_name(res[i]),
			  msg && *msg ? msg : rd_kafka_err2str(err));
		ok = false;
	}
	return ok;
}

/* ---- create ---- */

typedef struct create_args {
	const char *name;
	int partitions;                       /* -1: the broker's default */
	int replication_factor;               /* -1: the broker's default */
	const char *configs[TOPIC_MAX_CONFIGS]; /* "key=value", borrowed from argv */
	int config_cnt;
	bool validate_only;
	bool if_not_exists;
} create_args_t;

static int create_parse(rnl_ctx_t *ctx, int argc, char **argv, create_args_t *a)
{
	static const struct option opts[] = {
		{ "partitions", required_argument, NULL, 'p' },
		{ "replication-factor", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' },
		{ "validate-only", no_argument, NULL, 'V' },
		{ "if-not-exists", no_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*a = (create_args_t){ .partitions = -1, .replication_factor = -1 };
	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "p:r:c:", opts)) != -1) {
		if (c == 'p' && rnl_parse_int("--partitions", optarg, 1, 1000000, &a->partitions))
			continue;
		if (c == 'r' && rnl_parse_int("--replication-factor", optarg, 1, 32767,
					      &a->replication_factor))
			continue;
		if (c == 'c' && strchr(optarg, '=') && a->config_cnt < TOPIC_MAX_CONFIGS) {
			a->configs[a->config_cnt++] = optarg;
			continue;
		}
		if (c == 'V' || c == 'E') {
			*(c == 'V' ? &a->validate_only : &a->if_not_exists) = true;
			continue;
		}
		if (c == 'h') {
			rnl_help(topic_usage);
			return -1;
		}
		if (c == 'c')
			rnl_error("--config %s: expected key=value", optarg);
		return rnl_usage_hint("topic ");
	}
	if (argc - optind != 1)
		return rnl_usage_error("topic ", "topic create takes one topic name");
	a->name = argv[optind];
	return RNL_EXIT_OK;
}

/* Builds the NewTopic with its configs. Returns NULL after printing. */
static rd_kafka_NewTopic_t *create_new_topic(const create_args_t *a)
{
	char errstr[512], key[256];
	rd_kafka_NewTopic_t *nt;

	nt = rd_kafka_NewTopic_new(a->name, a->partitions, a->replication_factor, errstr,
				   sizeof(errstr));
	if (!nt) {
		rnl_error("create topic \"%s\": %s", a->name, errstr);
		return NULL;
	}
	for (int i = 0; i < a->config_cnt; i++) {
		const char *eq = strchr(a->configs[i], '=');

		snprintf(key, sizeof(key), "%.*s", (int)(eq - a->configs[i]), a->configs[i]);
		rd_kafka_NewTopic_set_config(nt, key, eq + 1);
	}
	return nt;
}

/* Sends CreateTopics and checks its result. Returns true on success. */
static bool create_send(client_t *cl, const create_args_t *a)
{
	rd_kafka_NewTopic_t *nt = create_new_topic(a);
	rd_kafka_queue_t *q = rd_kafka_queue_new(cl->rk);
	rd_kafka_AdminOptions_t *opts = client_admin_options(cl, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	const rd_kafka_topic_result_t **res;
	rd_kafka_event_t *ev = NULL;
	char errstr[256];
	size_t cnt;
	bool ok = false;

	if (!nt)
		goto out;
	rd_kafka_AdminOptions_set_validate_only(opts, a->validate_only, errstr, sizeof(errstr));
	rd_kafka_CreateTopics(cl->rk, &nt, 1, opts, q);
	ev = client_admin_wait(cl, q, "create topic");
	if (!ev)
		goto out;
	res = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
	ok = topic_results_ok(res, cnt, "create topic",
			      a->if_not_exists ? RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS : 0);
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	if (nt)
		rd_kafka_NewTopic_destroy(nt);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return ok;
}

/* The mock cluster has no CreateTopics; it takes topics through its API. */
static bool create_on_mock(rnl_ctx_t *ctx, const create_args_t *a)
{
	rd_kafka_resp_err_t err;

	if (a->validate_only)
		return true;
	err = mock_topic_create(ctx, a->name, a->partitions, a->replication_factor);
	if (err)
		rnl_error("create topic \"%s\": %s", a->name, rd_kafka_err2str(err));
	return !err;
}

static int create_run(client_t *cl, const create_args_t *a)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	bool exists;

	if (!md)
		return RNL_EXIT_FAIL;
	exists = client_topic_find(md, a->name) != NULL;
	rd_kafka_metadata_destroy(md);
	if (exists && a->if_not_exists) {
		printf("topic \"%s\" already exists\n", a->name);
		return RNL_EXIT_OK;
	}
	if (exists) {
		rnl_error("topic \"%s\" already exists", a->name);
		return RNL_EXIT_FAIL;
	}
	if (!(cl->ctx->mcluster ? create_on_mock(cl->ctx, a) : create_send(cl, a)))
		return RNL_EXIT_FAIL;
	if (a->validate_only) {
		printf("topic \"%s\" is valid (validate only: not created)\n", a->name);
		return RNL_EXIT_OK;
	}
	if (!topic_wait(cl, a->name, a->partitions))
		fprintf(stderr, "rnl: warning: topic \"%s\" created but not yet in metadata\n",
			a->name);
	printf("created topic \"%s\"\n", a->name);
	return RNL_EXIT_OK;
}

static int topic_create(rnl_ctx_t *ctx, int argc, char **argv)
{
	create_args_t a;
	client_t cl = { 0 };
	int rc = create_parse(ctx, argc, argv, &a);

	if (rc)
		return rc < 0 ? RNL_EXIT_OK : rc;
	rc = topic_open(&cl, ctx);
	if (rc == RNL_EXIT_OK)
		rc = create_run(&cl, &a);
	client_close(&cl);
	return rc;
}

/* ---- list ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_topic(const void *a, const void *b)
{
	return cmp_str(&((const rd_kafka_metadata_topic_t *)a)->topic,
		       &((const rd_kafka_metadata_topic_t *)b)->topic);
}

/* Replication factor as shown by partition 0's replica count. */
static int topic_rf(const rd_kafka_metadata_topic_t *t)
{
	return t->partition_cnt ? t->partitions[0].replica_cnt : 0;
}

static void list_print(const rd_kafka_metadata_topic_t *ts, int cnt, bool internal, bool lng)
{
	int width = 5;

	for (int i = 0; i < cnt; i++)
		if ((internal || !is_internal(ts[i].topic)) && (int)strlen(ts[i].topic) > width)
			width = (int)strlen(ts[i].topic);
	if (lng)
		printf("%-*s  %10s  %11s\n", width, "TOPIC", "PARTITIONS", "REPLICATION");
	for (int i = 0; i < cnt; i++) {
		if (ts[i].err || (!internal && is_internal(ts[i].topic)))
			continue;
		if (lng)
			printf("%-*s  %10d  %11d\n", width, ts[i].topic, ts[i].partition_cnt,
			       topic_rf(&ts[i]));
		else
			printf("%s\n", ts[i].topic);
	}
}

static int list_run(client_t *cl, bool internal, bool lng)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	rd_kafka_metadata_topic_t *sorted;

	if (!md)
		return RNL_EXIT_FAIL;
	/* A shallow copy: the entries still point into md. */
	sorted = malloc(sizeof(*sorted) * (size_t)(md->topic_cnt ? md->topic_cnt : 1));
	if (sorted) {
		memcpy(sorted, md->topics, sizeof(*sorted) * (size_t)md->topic_cnt);
		qsort(sorted, (size_t)md->topic_cnt, sizeof(*sorted), cmp_topic);
		list_print(sorted, md->topic_cnt, internal, lng);
		free(sorted);
	}
	rd_kafka_metadata_destroy(md);
	if (!sorted)
		rnl_error("out of memory");
	return sorted ? RNL_EXIT_OK : RNL_EXIT_FAIL;
}

static int topic_list(rnl_ctx_t *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "internal", no_argument, NULL, 'i' },
		{ "long", no_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	bool internal = false, lng = false;
	client_t cl = { 0 };
	int c, rc;

	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "l", opts)) != -1) {
		if (c == 'h')
			return rnl_help(topic_usage);
		if (c != 'i' && c != 'l')
			return rnl_usage_hint("topic ");
		*(c == 'i' ? &internal : &lng) = true;
	}
	if (optind < argc)
		return rnl_usage_error("topic ", "unexpected argument '%s'", argv[optind]);
	rc = topic_open(&cl, ctx);
	if (rc == RNL_EXIT_OK)
		rc = list_run(&cl, internal, lng);
	client_close(&cl);
	return rc;
}

/* ---- delete ---- */

/* Checks that every named topic exists (or, with if_exists, drops the
 * missing ones from names). Returns the count left, or -1 after printing
 * `topic "x" does not exist`. */
static int delete_filter(client_t *cl, char **names, int cnt, bool if_exists)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	int kept = 0;

	if (!md)
		return -1;
	for (int i = 0; i < cnt; i++) {
		if (client_topic_find(md, names[i])) {
			names[kept++] = names[i];
		} else if (if_exists) {
			printf("topic \"%s\" does not exist\n", names[i]);
		} else {
			rd_kafka_metadata_destroy(md);
			client_no_topic(names[i]);
			return -1;
		}
	}
	rd_kafka_metadata_destroy(md);
	return kept;
}

static bool delete_send(client_t *cl, char **names, int cnt, bool if_exists)
{
	rd_kafka_DeleteTopic_t **dts = calloc((size_t)cnt, sizeof(*dts));
	rd_kafka_queue_t *q = rd_kafka_queue_new(cl->rk);
	rd_kafka_AdminOptions_t *opts = client_admin_options(cl, RD_KAFKA_ADMIN_OP_DELETETOPICS);
	const rd_kafka_topic_result_t **res;
	rd_kafka_event_t *ev = NULL;
	size_t rcnt;
	bool ok = false;

	if (!dts)
		goto out;
	for (int i = 0; i < cnt; i++)
		dts[i] = rd_kafka_DeleteTopic_new(names[i]);
	rd_kafka_DeleteTopics(cl->rk, dts, (size_t)cnt, opts, q);
	ev = client_admin_wait(cl, q, "delete topic");
	if (!ev)
		goto out;
	res = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &rcnt);
	ok = topic_results_ok(res, rcnt, "delete topic",
			      if_exists ? RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART : 0);
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	if (dts) {
		rd_kafka_DeleteTopic_destroy_array(dts, (size_t)cnt);
		free(dts);
	}
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return ok;
}

static int delete_run(client_t *cl, char **names, int cnt, bool if_exists)
{
	cnt = delete_filter(cl, names, cnt, if_exists);
	if (cnt < 0)
		return RNL_EXIT_FAIL;
	if (cnt > 0 && !delete_send(cl, names, cnt, if_exists))
		return RNL_EXIT_FAIL;
	for (int i = 0; i < cnt; i++) {
		if (!topic_wait(cl, names[i], 0))
			fprintf(stderr, "rnl: warning: topic \"%s\" deleted but still in metadata\n",
				names[i]);
		printf("deleted topic \"%s\"\n", names[i]);
	}
	return RNL_EXIT_OK;
}

static int topic_delete(rnl_ctx_t *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "if-exists", no_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 },
	};
	bool if_exists = false;
	client_t cl = { 0 };
	int c, rc;

	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "", opts)) != -1) {
		if (c == 'h')
			return rnl_help(topic_usage);
		if (c != 'E')
			return rnl_usage_hint("topic ");
		if_exists = true;
	}
	if (optind >= argc)
		return rnl_usage_error("topic ", "topic delete needs at least one topic name");
	rc = topic_open(&cl, ctx);
	if (rc == RNL_EXIT_OK)
		rc = delete_run(&cl, argv + optind, argc - optind, if_exists);
	client_close(&cl);
	return rc;
}

/* ---- add-partitions ---- */

static bool partitions_send(client_t *cl, const char *name, int total)
{
	char errstr[512];
	rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(name, (size_t)total, errstr,
								  sizeof(errstr));
	rd_kafka_queue_t *q = rd_kafka_queue_new(cl->rk);
	rd_kafka_AdminOptions_t *opts =
		client_admin_options(cl, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
	const rd_kafka_topic_result_t **res;
	rd_kafka_event_t *ev = NULL;
	size_t cnt;
	bool ok = false;

	if (!np) {
		rnl_error("add partitions to \"%s\": %s", name, errstr);
		goto out;
	}
	rd_kafka_CreatePartitions(cl->rk, &np, 1, opts, q);
	ev = client_admin_wait(cl, q, "add partitions");
	if (!ev)
		goto out;
	res = rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev),
						      &cnt);
	ok = topic_results_ok(res, cnt, "add partitions to", 0);
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	if (np)
		rd_kafka_NewPartitions_destroy(np);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return ok;
}

static int partitions_run(client_t *cl, const char *name, int total)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	const rd_kafka_metadata_topic_t *t;
	int now;

	if (!md)
		return RNL_EXIT_FAIL;
	t = client_topic_find(md, name);
	now = t ? t->partition_cnt : 0;
	rd_kafka_metadata_destroy(md);
	if (!t)
		return client_no_topic(name);
	if (total <= now) {
		rnl_error("topic \"%s\" has %d partitions; --total must be more than that", name,
			  now);
		return RNL_EXIT_FAIL;
	}
	if (!partitions_send(cl, name, total))
		return RNL_EXIT_FAIL;
	if (!topic_wait(cl, name, total))
		fprintf(stderr, "rnl: warning: new partitions of \"%s\" not yet in metadata\n", name);
	printf("topic \"%s\" now has %d partitions\n", name, total);
	return RNL_EXIT_OK;
}

static int topic_add_partitions(rnl_ctx_t *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "total", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	client_t cl = { 0 };
	int c, rc, total = 0;

	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "", opts)) != -1) {
		if (c == 'h')
			return rnl_help(topic_usage);
		if (c != 'n' || !rnl_parse_int("--total", optarg, 1, 1000000, &total))
			return rnl_usage_hint("topic ");
	}
	if (argc - optind != 1)
		return rnl_usage_error("topic ", "topic add-partitions takes one topic name");
	if (total == 0)
		return rnl_usage_error("topic ", "topic add-partitions needs --total N");
	rc = topic_open(&cl, ctx);
	if (rc == RNL_EXIT_OK)
		rc = partitions_run(&cl, argv[optind], total);
	client_close(&cl);
	return rc;
}

/* ---- dispatch ---- */

static const struct {
	const char *verb;
	rnl_cmd_fn *fn;
} topic_verbs[] = {
	{ "create", topic_create },
	{ "list", topic_list },
	{ "describe", topic_config_describe },
	{ "alter-config", topic_config_alter },
	{ "delete", topic_delete },
	{ "add-partitions", topic_add_partitions },
	{ "trim", topic_trim },
};

int topic_main(rnl_ctx_t *ctx, int argc, char **argv)
{
	int at = rnl_take_verb(argc, argv);

	if (at < 0) {
		fputs(topic_usage, stdout);
		return RNL_EXIT_OK;
	}
	if (at == 0)
		return rnl_usage_error("topic ", "topic needs a command: create, list, describe, "
				       "alter-config, delete, add-partitions or trim");
	for (size_t i = 0; i < sizeof(topic_verbs) / sizeof(topic_verbs[0]); i++)
		if (strcmp(topic_verbs[i].verb, argv[1]) == 0)
			return topic_verbs[i].fn(ctx, argc - 1, argv + 1);
	return rnl_usage_error("topic ", "unknown topic command '%s'", argv[1]);
}

/* For describe.c, which shares the usage text. */
const char *topic_usage_text(void)
{
	return topic_usage;
}

int topic_open_admin(client_t *cl, rnl_ctx_t *ctx)
{
	return topic_open(cl, ctx);
}
