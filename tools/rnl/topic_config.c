/*
 * topic_config — rnl topic describe NAME --configs [--synonyms] [--json],
 * and the DescribeConfigs helpers that topic_config_alter.c shares.
 *
 * `rnl topic describe NAME` without these options is describe.c's: the
 * partitions and the topic's own settings. With --configs every config
 * of the topic is listed, defaults included; --synonyms adds, under each
 * entry, the chain of settings its value comes from, in Kafka's precedence
 * order (the topic override, the broker's dynamic per-node and cluster-wide
 * settings, its static setting, the built-in default); --json prints one
 * object on one line instead of the tables (see docs/rnl.md).
 *
 * librdkafka 2.0.2 asks DescribeConfigs (v1+) for synonyms always, so
 * --synonyms only chooses what is printed. A broker that speaks only v0
 * sends no sources: there "not default" stands for "set on the topic".
 */
#include "topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- DescribeConfigs ---- */

/* Checks the one resource of a DescribeConfigs result; fills d on success. */
static bool fetch_result(rd_kafka_event_t *ev, topic_config_desc_t *d)
{
	size_t cnt;
	const rd_kafka_ConfigResource_t **res =
		rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev),
							  &cnt);
	rd_kafka_resp_err_t err;
	const char *msg;

	if (cnt < 1) {
		rnl_error("describe configs: empty answer");
		return false;
	}
	err = rd_kafka_ConfigResource_error(res[0]);
	msg = rd_kafka_ConfigResource_error_string(res[0]);
	if (err) {
		rnl_error("describe configs of %s \"%s\": %s: %s",
			  rd_kafka_ResourceType_name(rd_kafka_ConfigResource_type(res[0])),
			  rd_kafka_ConfigResource_name(res[0]), rd_kafka_err2name(err),
			  msg && *msg ? msg : rd_kafka_err2str(err));
		return false;
	}
	d->es = rd_kafka_ConfigResource_configs(res[0], &d->cnt);
	return true;
}

bool topic_config_fetch(client_t *cl, rd_kafka_ResourceType_t type, const char *name,
			topic_config_desc_t *d)
{
	rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(type, name);
	rd_kafka_queue_t *q = rd_kafka_queue_new(cl->rk);
	rd_kafka_AdminOptions_t *opts =
		client_admin_options(cl, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
	bool ok = false;

	*d = (topic_config_desc_t){ 0 };
	if (!cr) {   /* librdkafka refuses an empty name */
		rnl_error("describe configs: bad resource name \"%s\"", name);
		goto out;
	}
	rd_kafka_DescribeConfigs(cl->rk, &cr, 1, opts, q);
	d->ev = client_admin_wait(cl, q, "describe configs");
	if (d->ev)
		ok = fetch_result(d->ev, d);
	if (!ok)
		topic_config_desc_free(d);
	rd_kafka_ConfigResource_destroy(cr);
out:
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return ok;
}

void topic_config_desc_free(topic_config_desc_t *d)
{
	if (d->ev)
		rd_kafka_event_destroy(d->ev);
	*d = (topic_config_desc_t){ 0 };
}

const rd_kafka_ConfigEntry_t *topic_config_find(const topic_config_desc_t *d, const char *key)
{
	for (size_t i = 0; i < d->cnt; i++)
		if (strcmp(rd_kafka_ConfigEntry_name(d->es[i]), key) == 0)
			return d->es[i];
	return NULL;
}

static rd_kafka_ConfigSource_t own_source(rd_kafka_ResourceType_t type)
{
	return type == RD_KAFKA_RESOURCE_BROKER ? RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG
						: RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG;
}

bool topic_config_is_own(const rd_kafka_ConfigEntry_t *e, rd_kafka_ResourceType_t type)
{
	rd_kafka_ConfigSource_t src = rd_kafka_ConfigEntry_source(e);

	if (src == own_source(type))
		return true;
	return src == RD_KAFKA_CONFIG_SOURCE_UNKNOWN_CONFIG && !rd_kafka_ConfigEntry_is_default(e);
}

const rd_kafka_ConfigEntry_t *topic_config_fallback(const rd_kafka_ConfigEntry_t *e,
						    rd_kafka_ResourceType_t type)
{
	size_t cnt;
	const rd_kafka_ConfigEntry_t **syn = rd_kafka_ConfigEntry_synonyms(e, &cnt);

	for (size_t i = 0; syn && i < cnt; i++)
		if (rd_kafka_ConfigEntry_source(syn[i]) != own_source(type))
			return syn[i];
	return NULL;
}

const char *topic_config_value_text(const rd_kafka_ConfigEntry_t *e)
{
	const char *v = rd_kafka_ConfigEntry_value(e);

	if (rd_kafka_ConfigEntry_is_sensitive(e) == 1)
		return "(sensitive)";
	if (!v)
		return "(null)";
	return *v ? v : "\"\"";
}

const char *topic_config_source_name(const rd_kafka_ConfigEntry_t *e)
{
	/* librdkafka names the sources it knows; Kafka 2.0 added 6 for the
	 * BROKER_LOGGER resource, which librdkafka 2.0.2 calls UNSUPPORTED. */
	rd_kafka_ConfigSource_t src = rd_kafka_ConfigEntry_source(e);

	if ((int)src == 6)
		return "DYNAMIC_BROKER_LOGGER_CONFIG";
	return rd_kafka_ConfigSource_name(src);
}

/* ---- describe --configs ---- */

typedef struct describe_args {
	const char *name;   /* borrowed from argv */
	bool all;           /* --configs: every entry, not only the overrides */
	bool synonyms;
	bool json;
} describe_args_t;

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(rd_kafka_ConfigEntry_name(*(const rd_kafka_ConfigEntry_t *const *)a),
		      rd_kafka_ConfigEntry_name(*(const rd_kafka_ConfigEntry_t *const *)b));
}

bool topic_config_print(const topic_config_desc_t *d, rd_kafka_ResourceType_t type, bool all,
			bool synonyms, bool json)
{
	const rd_kafka_ConfigEntry_t **picked = malloc(sizeof(*picked) * (d->cnt + 1));
	size_t shown = 0;

	if (!picked) {
		rnl_error("out of memory");
		return false;
	}
	for (size_t i = 0; i < d->cnt; i++)
		if (all || topic_config_is_own(d->es[i], type))
			picked[shown++] = d->es[i];
	qsort(picked, shown, sizeof(*picked), cmp_entry);
	if (json)
		topic_config_print_json(picked, shown, synonyms);
	else if (shown == 0)
		printf("no configs set on the %s (--configs shows all)\n",
		       type == RD_KAFKA_RESOURCE_BROKER ? "broker" : "topic");
	else
		topic_config_print_table(picked, shown, synonyms);
	free(picked);
	return true;
}

/* Prints the partitions of t: describe.c's table, or the start of the
 * JSON object (up to "configs":). */
static void describe_head(client_t *cl, const rd_kafka_metadata_topic_t *t, bool json)
{
	if (!json) {
		describe_partitions(cl, t);
		return;
	}
	printf("{\"topic\":");
	rnl_json_str(t->topic);
	printf(",\"partitions\":");
	topic_config_print_partitions_json(cl, t);
	printf(",\"configs\":");
}

/* Prints the partitions and configs of the topic. */
static int describe_run(client_t *cl, const describe_args_t *a)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	const rd_kafka_metadata_topic_t *t;
	topic_config_desc_t d = { 0 };
	bool mock = cl->ctx->mcluster != NULL, ok;

	if (!md)
		return RNL_EXIT_FAIL;
	t = client_topic_find(md, a->name);
	if (!t) {
		rd_kafka_metadata_destroy(md);
		return client_no_topic(a->name);
	}
	/* Configs first, so that a failure prints nothing half-way. The mock
	 * cluster has no DescribeConfigs: it gets a note (JSON: null). */
	ok = mock || topic_config_fetch(cl, RD_KAFKA_RESOURCE_TOPIC, a->name, &d);
	if (ok)
		describe_head(cl, t, a->json);
	rd_kafka_metadata_destroy(md);
	if (ok && mock)
		printf(a->json ? "null" : "configs: not available from the mock cluster\n");
	else if (ok)
		ok = topic_config_print(&d, RD_KAFKA_RESOURCE_TOPIC, a->all, a->synonyms, a->json);
	if (ok && a->json)
		printf("}\n");
	topic_config_desc_free(&d);
	return ok ? RNL_EXIT_OK : RNL_EXIT_FAIL;
}

/* True if argv (up to a "--") holds one of the options handled here. */
static bool wants_configs_view(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (!strcmp(argv[i], "--configs") || !strcmp(argv[i], "--synonyms") ||
		    !strcmp(argv[i], "--json"))
			return true;
	return false;
}

static int describe_parse(rnl_ctx_t *ctx, int argc, char **argv, describe_args_t *a)
{
	static const struct option opts[] = {
		{ "configs", no_argument, NULL, 'C' },
		{ "synonyms", no_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*a = (describe_args_t){ 0 };
	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "", opts)) != -1) {
		if (c == 'h') {
			rnl_help(topic_usage_text());
			return -1;
		}
		if (c != 'C' && c != 'S' && c != 'J')
			return rnl_usage_hint("topic ");
		*(c == 'C' ? &a->all : c == 'S' ? &a->synonyms : &a->json) = true;
	}
	if (argc - optind != 1)
		return rnl_usage_error("topic ", "topic describe takes one topic name");
	a->name = argv[optind];
	return RNL_EXIT_OK;
}

int topic_config_describe(rnl_ctx_t *ctx, int argc, char **argv)
{
	describe_args_t a;
	client_t cl = { 0 };
	int rc;

	if (topic_producers_wanted(argc, argv))
		return topic_producers(ctx, argc, argv);
	if (!wants_configs_view(argc, argv))
		return describe_topic(ctx, argc, argv);
	rc = describe_parse(ctx, argc, argv, &a);
	if (rc)
		return rc < 0 ? RNL_EXIT_OK : rc;
	rc = topic_open_admin(&cl, ctx);
	if (rc == RNL_EXIT_OK)
		rc = describe_run(&cl, &a);
	client_close(&cl);
	return rc;
}
