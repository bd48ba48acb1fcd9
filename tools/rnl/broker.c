/*
 * broker.c — rnl broker describe|alter-config: a broker's configs.
 *
 * The same DescribeConfigs / AlterConfigs code as the topic's config verbs
 * (topic_config*.c), on the BROKER resource named by the node id. Without
 * an id it is the broker that answered the Metadata request (librdkafka's
 * orig_broker_id), which on a single node is that node.
 *
 * A broker's own settings are its dynamic per-node configs (source
 * DYNAMIC_BROKER_CONFIG). The cluster-wide defaults (BROKER resource "")
 * cannot be addressed: librdkafka 2.0.2 sends a BROKER resource to the
 * broker whose id its name is, and refuses a name that is not an id.
 */
#include "topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char broker_usage[] =
	"usage: rnl broker describe [ID] [--configs] [--synonyms] [--json]\n"
	"       rnl broker alter-config [ID] [--set key=value]... [--delete key]... [--dry-run]\n"
	"\n"
	"ID is the broker's node id (default: the broker that answers).\n"
	"describe:     (default)               the broker's dynamic settings (DYNAMIC_BROKER_CONFIG)\n"
	"              --configs               every config, static and default ones included\n"
	"              --synonyms              under each config, where its value comes from\n"
	"              --json                  one JSON object on stdout instead of the table\n"
	"alter-config: --set key=value         set a dynamic config on that broker (repeatable)\n"
	"              --delete key            remove the broker's dynamic setting\n"
	"              --dry-run               let the broker validate, change nothing\n"
	"\n"
	"global options: --brokers, --timeout, -X key=value (see `rnl --help`)\n";

/* Resolves the optional ID argument against the cluster's metadata into
 * tg (name points into idbuf). Returns RNL_EXIT_OK or the exit code after
 * printing the error. */
static int broker_target(client_t *cl, const char *id_arg, char *idbuf, size_t size,
			 topic_config_target_t *tg, char *host, size_t host_size, int *port)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	int id, found = -1;

	if (!md)
		return RNL_EXIT_FAIL;
	id = md->orig_broker_id;
	if (id_arg && !rnl_parse_int("broker id", id_arg, 0, INT32_MAX, &id)) {
		rd_kafka_metadata_destroy(md);
		return RNL_EXIT_USAGE;
	}
	for (int i = 0; i < md->broker_cnt; i++)
		if (md->brokers[i].id == id)
			found = i;
	if (found >= 0) {
		snprintf(host, host_size, "%s", md->brokers[found].host);
		*port = md->brokers[found].port;
	}
	rd_kafka_metadata_destroy(md);
	if (found < 0) {
		rnl_error("broker %d does not exist", id);
		return RNL_EXIT_FAIL;
	}
	snprintf(idbuf, size, "%d", id);
	*tg = (topic_config_target_t){ .type = RD_KAFKA_RESOURCE_BROKER, .name = idbuf };
	snprintf(tg->label, sizeof(tg->label), "broker %d", id);
	return RNL_EXIT_OK;
}

/* ---- describe ---- */

typedef struct describe_args {
	const char *id;     /* borrowed from argv; NULL: the answering broker */
	bool all, synonyms, json;
} describe_args_t;

static int describe_run(client_t *cl, const describe_args_t *a)
{
	topic_config_target_t tg;
	topic_config_desc_t d;
	char idbuf[16], host[256] = "";
	int port = 0, rc = broker_target(cl, a->id, idbuf, sizeof(idbuf), &tg, host, sizeof(host),
					 &port);
	bool ok;

	if (rc)
		return rc;
	if (cl->ctx->mcluster) {
		rnl_error("describe configs: not available from the mock cluster");
		return RNL_EXIT_FAIL;
	}
	if (!topic_config_fetch(cl, RD_KAFKA_RESOURCE_BROKER, tg.name, &d))
		return RNL_EXIT_FAIL;
	if (a->json) {
		printf("{\"broker\":%s,\"host\":", tg.name);
		rnl_json_str(host);
		printf(",\"port\":%d,\"configs\":", port);
	} else {
		printf("broker %s (%s:%d)\n", tg.name, host, port);
	}
	ok = topic_config_print(&d, RD_KAFKA_RESOURCE_BROKER, a->all, a->synonyms, a->json);
	if (a->json)
		printf("}\n");
	topic_config_desc_free(&d);
	return ok ? RNL_EXIT_OK : RNL_EXIT_FAIL;
}

static int broker_describe(rnl_ctx_t *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "configs", no_argument, NULL, 'C' },
		{ "synonyms", no_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	describe_args_t a = { 0 };
	client_t cl = { 0 };
	int c, rc;

	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "", opts)) != -1) {
		if (c == 'h')
			return rnl_help(broker_usage);
		if (c != 'C' && c != 'S' && c != 'J')
			return rnl_usage_hint("broker ");
		*(c == 'C' ? &a.all : c == 'S' ? &a.synonyms : &a.json) = true;
	}
	if (argc - optind > 1)
		return rnl_usage_error("broker ", "broker describe takes at most one broker id");
	a.id = optind < argc ? argv[optind] : NULL;
	rc = topic_open_admin(&cl, ctx);
	if (rc == RNL_EXIT_OK)
		rc = describe_run(&cl, &a);
	client_close(&cl);
	return rc;
}

/* ---- alter-config ---- */

static int broker_alter(rnl_ctx_t *ctx, int argc, char **argv)
{
	topic_config_alter_args_t *a;
	topic_config_target_t tg;
	client_t cl = { 0 };
	char idbuf[16], host[256];
	int port, name_at, rc = topic_config_alter_parse(ctx, argc, argv, "broker ", &a, &name_at);

	if (rc < 0) {
		topic_config_alter_args_free(a);
		return rnl_help(broker_usage);
	}
	if (rc == RNL_EXIT_OK && argc - name_at > 1)
		rc = rnl_usage_error("broker ", "broker alter-config takes at most one broker id");
	else if (rc == RNL_EXIT_OK && topic_config_alter_count(a) == 0)
		rc = rnl_usage_error("broker ", "broker alter-config needs --set k=v or --delete k");
	else if (rc == RNL_EXIT_OK)
		rc = topic_open_admin(&cl, ctx);
	if (rc == RNL_EXIT_OK)
		rc = broker_target(&cl, name_at < argc ? argv[name_at] : NULL, idbuf, sizeof(idbuf),
				   &tg, host, sizeof(host), &port);
	if (rc == RNL_EXIT_OK)
		rc = topic_config_alter_run(&cl, a, &tg);
	client_close(&cl);
	topic_config_alter_args_free(a);
	return rc;
}

/* ---- dispatch ---- */

int broker_main(rnl_ctx_t *ctx, int argc, char **argv)
{
	int at = rnl_take_verb(argc, argv);

	if (at < 0)
		return rnl_help(broker_usage);
	if (at == 0)
		return rnl_usage_error("broker ", "broker needs a command: describe or alter-config");
	if (strcmp(argv[1], "describe") == 0)
		return broker_describe(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "alter-config") == 0)
		return broker_alter(ctx, argc - 1, argv + 1);
	return rnl_usage_error("broker ", "unknown broker command '%s'", argv[1]);
}
