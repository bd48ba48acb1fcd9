/*
 * group — `rnl group`: usage and verb dispatch, the admin plumbing every
 * verb shares, and `delete`, too small for a file of its own. group.h maps
 * the other group files and says which API each verb uses.
 *
 * Plumbing: one consumer-type handle per command (group_open); an admin
 * request on a private queue, awaited with group_wait, whose errors print
 * as `rnl: VERB group "G": KAFKA_ERROR_NAME (description)` (group_report);
 * DescribeConsumerGroups, which list, describe and seek all ask
 * (group_descs_fetch, group_desc_find).
 *
 * delete sends one DeleteGroups for all the names given (repeats dropped)
 * and prints one line per group, in the order given.
 */
#include "group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char group_usage[] =
	"usage: rnl group list [--state STATE[,STATE...]] [--json]\n"
	"       rnl group describe GROUP... [--json]\n"
	"       rnl group delete GROUP...\n"
	"       rnl group seek GROUP (--topic TOPIC[:P[,P...]]... | --all-topics)\n"
	"                      (--to-earliest | --to-latest | --to-offset N | --to-datetime WHEN)\n"
	"                      [--dry-run] [--json]\n"
	"\n"
	"list:      -s, --state S[,S...]     only groups in these states: Empty, Stable,\n"
	"                                    PreparingRebalance, CompletingRebalance, Dead\n"
	"               --json               one JSON object on stdout instead of the table\n"
	"describe:      --json               state, members, committed offsets and lag as JSON\n"
	"seek:      -t, --topic T[:P[,P...]] a topic (all its partitions) or some of its\n"
	"                                    partitions; repeatable\n"
	"               --all-topics         every topic the group has committed offsets for\n"
	"               --to-earliest        each partition's first offset\n"
	"               --to-latest          each partition's end (high watermark)\n"
	"               --to-offset N        offset N, clamped into [earliest, latest]\n"
	"               --to-datetime WHEN   the first record at or after WHEN: ms since the\n"
	"                                    epoch or YYYY-MM-DDTHH:MM:SS[.mmm][Z|+HH:MM]\n"
	"                                    (local time without a zone); the end if none\n"
	"               --dry-run            print the new offsets, commit nothing\n"
	"               --json               one JSON object on stdout instead of the table\n"
	"seek refuses unless the group is Empty or Dead (no consumer running).\n"
	"\n"
	"global options: --brokers, --timeout, -X key=value (see `rnl --help`)\n";

const char *group_usage_text(void)
{
	return group_usage;
}

/* ---- errors and admin requests ---- */

const char *group_err_text(rd_kafka_resp_err_t err, const char *msg)
{
	const char *s = err > 0 || !msg || !*msg ? rd_kafka_err2str(err) : msg;

	return strncmp(s, "Broker: ", 8) == 0 ? s + 8 : s;
}

void group_report(client_t *cl, const char *what, const char *group, rd_kafka_resp_err_t err,
		  const char *msg)
{
	char subject[512];

	if (group)
		snprintf(subject, sizeof(subject), "%s group \"%s\"", what, group);
	else
		snprintf(subject, sizeof(subject), "%s groups", what);
	if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
		client_report(cl, err, subject);
	else
		rnl_error("%s: %s (%s)", subject, rd_kafka_err2name(err), group_err_text(err, msg));
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

rd_kafka_event_t *group_wait(client_t *cl, rd_kafka_queue_t *q, const char *what,
			     const char *group)
{
	/* The request times out after --timeout itself; the slack lets its
	 * own error event arrive first. */
	int64_t deadline = mono_ms() + cl->ctx->timeout_ms + 2000;
	rd_kafka_event_t *ev = NULL;
	rd_kafka_resp_err_t err;

	while (!ev && mono_ms() < deadline) {
		ev = rd_kafka_queue_poll(q, 100);
		rd_kafka_poll(cl->rk, 0);
	}
	if (!ev) {
		group_report(cl, what, group, RD_KAFKA_RESP_ERR__TIMED_OUT, NULL);
		return NULL;
	}
	err = rd_kafka_event_error(ev);
	if (err) {
		group_report(cl, what, group, err, rd_kafka_event_error_string(ev));
		rd_kafka_event_destroy(ev);
		return NULL;
	}
	return ev;
}

/* librdkafka 2.0.2's mock cluster has no ListGroups, DescribeGroups or
 * DeleteGroups. Worse, a group request the coordinator does not support
 * makes librdkafka 2.0.2 release the admin request twice (an assertion
 * failure, or rd_kafka_destroy() hanging; fixed upstream in 2025), so under
 * --mock the verbs say so up front instead. */
static int group_no_mock(const char *verb)
{
	rnl_error("group %s: not available from the mock cluster (it has no group APIs)", verb);
	return RNL_EXIT_FAIL;
}

/* isolation.level (a consumer property) read_uncommitted makes ListOffsets
 * answer the high watermark, which is what Kafka's tool calls the log-end
 * offset. Without a group.id the handle joins and commits nothing. */
int group_open(client_t *cl, rnl_ctx_t *ctx, const char *verb)
{
	static const char *const defaults[] = { "isolation.level", "read_uncommitted", NULL };
	bool usage;
	rd_kafka_conf_t *conf;

	if (ctx->mock)
		return group_no_mock(verb);
	conf = client_conf_new(ctx, defaults, &usage);
	if (!conf)
		return usage ? rnl_usage_hint(NULL) : RNL_EXIT_FAIL;
	return client_open(cl, ctx, RD_KAFKA_CONSUMER, conf) ? RNL_EXIT_OK : RNL_EXIT_FAIL;
}

/* Removes repeated names in place, keeping the first of each. Returns the
 * count left. */
static int names_unique(char **names, int cnt)
{
	int kept = 0;

	for (int i = 0; i < cnt; i++) {
		bool seen = false;

		for (int j = 0; j < kept && !seen; j++)
			seen = strcmp(names[j], names[i]) == 0;
		if (!seen)
			names[kept++] = names[i];
	}
	return kept;
}

int group_open_names(client_t *cl, rnl_ctx_t *ctx, int argc, char **argv, const char *verb,
		     int *cnt)
{
	if (optind >= argc)
		return rnl_usage_error("group ", "group %s needs at least one group name", verb);
	*cnt = names_unique(argv + optind, argc - optind);
	return group_open(cl, ctx, verb);
}

const char *group_state_name(rd_kafka_consumer_group_state_t state)
{
	const char *s = rd_kafka_consumer_group_state_name(state);

	return s ? s : "Unknown";
}

/* ---- DescribeConsumerGroups ---- */

rd_kafka_event_t *group_descs_fetch(client_t *cl, const char **names, size_t cnt,
				    const char *what)
{
	rd_kafka_queue_t *q = rd_kafka_queue_new(cl->rk);
	rd_kafka_AdminOptions_t *opts =
		client_admin_options(cl, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
	rd_kafka_event_t *ev;

	rd_kafka_DescribeConsumerGroups(cl->rk, names, cnt, opts, q);
	ev = group_wait(cl, q, what, cnt == 1 ? names[0] : NULL);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return ev;
}

const rd_kafka_ConsumerGroupDescription_t *group_desc_find(client_t *cl, rd_kafka_event_t *ev,
							   const char *name, const char *what)
{
	size_t cnt;
	const rd_kafka_ConsumerGroupDescription_t **ds =
		rd_kafka_DescribeConsumerGroups_result_groups(
			rd_kafka_event_DescribeConsumerGroups_result(ev), &cnt);

	for (size_t i = 0; i < cnt; i++) {
		const rd_kafka_error_t *e;

		if (strcmp(rd_kafka_ConsumerGroupDescription_group_id(ds[i]), name) != 0)
			continue;
		e = rd_kafka_ConsumerGroupDescription_error(ds[i]);
		if (!e)
			return ds[i];
		group_report(cl, what, name, rd_kafka_error_code(e), rd_kafka_error_string(e));
		return NULL;
	}
	rnl_error("%s group \"%s\": missing from the broker's answer", what, name);
	return NULL;
}

/* ---- delete ---- */

/* Prints one line per group, in the order given: `deleted group "g"` on
 * stdout, or the group's error on stderr. Returns false if any failed. */
static bool delete_results(client_t *cl, rd_kafka_event_t *ev, char **names, int cnt)
{
	size_t res_cnt;
	const rd_kafka_group_result_t **res = rd_kafka_DeleteGroups_result_groups(
		rd_kafka_event_DeleteGroups_result(ev), &res_cnt);
	bool ok = true;

	for (int i = 0; i < cnt; i++) {
		const rd_kafka_group_result_t *r = NULL;
		const rd_kafka_error_t *e;

		for (size_t j = 0; j < res_cnt && !r; j++)
			if (strcmp(rd_kafka_group_result_name(res[j]), names[i]) == 0)
				r = res[j];
		if (!r) {
			rnl_error("delete group \"%s\": missing from the broker's answer", names[i]);
			ok = false;
			continue;
		}
		e = rd_kafka_group_result_error(r);
		if (e) {
			group_report(cl, "delete", names[i], rd_kafka_error_code(e),
				     rd_kafka_error_string(e));
			ok = false;
		} else {
			printf("deleted group \"%s\"\n", names[i]);
		}
	}
	return ok;
}

static int delete_run(client_t *cl, char **names, int cnt)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	rd_kafka_DeleteGroup_t **dgs;
	rd_kafka_AdminOptions_t *opts;
	rd_kafka_queue_t *q;
	rd_kafka_event_t *ev;
	bool ok;

	if (!md)
		return RNL_EXIT_FAIL;
	rd_kafka_metadata_destroy(md);
	dgs = calloc((size_t)cnt, sizeof(*dgs));
	if (!dgs) {
		rnl_error("out of memory");
		return RNL_EXIT_FAIL;
	}
	for (int i = 0; i < cnt; i++)
		dgs[i] = rd_kafka_DeleteGroup_new(names[i]);
	opts = client_admin_options(cl, RD_KAFKA_ADMIN_OP_DELETEGROUPS);
	q = rd_kafka_queue_new(cl->rk);
	rd_kafka_DeleteGroups(cl->rk, dgs, (size_t)cnt, opts, q);
	ev = group_wait(cl, q, "delete", cnt == 1 ? names[0] : NULL);
	ok = ev && delete_results(cl, ev, names, cnt);
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_DeleteGroup_destroy_array(dgs, (size_t)cnt);
	free(dgs);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return ok ? RNL_EXIT_OK : RNL_EXIT_FAIL;
}

static int group_delete(rnl_ctx_t *ctx, int argc, char **argv)
{
	client_t cl = { 0 };
	int c, rc, cnt = 0;

	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "", NULL)) != -1) {
		if (c == 'h')
			return rnl_help(group_usage);
		return rnl_usage_hint("group ");
	}
	rc = group_open_names(&cl, ctx, argc, argv, "delete", &cnt);
	if (rc == RNL_EXIT_OK)
		rc = delete_run(&cl, argv + optind, cnt);
	client_close(&cl);
	return rc;
}

/* ---- dispatch ---- */

static const struct {
	const char *verb;
	rnl_cmd_fn *fn;
} group_verbs[] = {
	{ "list", group_list },
	{ "describe", group_describe },
	{ "delete", group_delete },
	{ "seek", group_seek },
};

int group_main(rnl_ctx_t *ctx, int argc, char **argv)
{
	int at = rnl_take_verb(argc, argv);

	if (at < 0)
		return rnl_help(group_usage);
	if (at == 0)
		return rnl_usage_error("group ", "group needs a command: list, describe, delete "
				       "or seek");
	for (size_t i = 0; i < sizeof(group_verbs) / sizeof(group_verbs[0]); i++)
		if (strcmp(group_verbs[i].verb, argv[1]) == 0)
			return group_verbs[i].fn(ctx, argc - 1, argv + 1);
	return rnl_usage_error("group ", "unknown group command '%s'", argv[1]);
}
