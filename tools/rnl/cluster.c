/*
 * cluster — rnl cluster info: what Metadata says about the cluster.
 *
 *   cluster id: <id, or "-" from a broker that sends none>
 *   controller: <broker id, -1 if unknown>
 *   brokers: N
 *     <id> <host>:<port>
 *   topics: N (M internal)
 */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char cluster_usage[] =
	"usage: rnl cluster info\n"
	"Prints the cluster id, the controller, the brokers and the topic count.\n"
	"\n"
	"global options: --brokers, --timeout, -X key=value (see `rnl --help`)\n";

static int cmp_broker(const void *a, const void *b)
{
	const rd_kafka_metadata_broker_t *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static void cluster_brokers(const rd_kafka_metadata_t *md)
{
	rd_kafka_metadata_broker_t *bs = malloc(sizeof(*bs) * (size_t)(md->broker_cnt + 1));

	printf("brokers: %d\n", md->broker_cnt);
	if (!bs)
		return;
	memcpy(bs, md->brokers, sizeof(*bs) * (size_t)md->broker_cnt);
	qsort(bs, (size_t)md->broker_cnt, sizeof(*bs), cmp_broker);
	for (int i = 0; i < md->broker_cnt; i++)
		printf("  %d %s:%d\n", bs[i].id, bs[i].host, bs[i].port);
	free(bs);
}

static int cluster_info(client_t *cl)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	char *id;
	int internal = 0;

	if (!md)
		return RNL_EXIT_FAIL;
	/* Both come from the Metadata answer librdkafka has cached by now. */
	id = rd_kafka_clusterid(cl->rk, cl->ctx->timeout_ms);
	printf("cluster id: %s\n", id ? id : "-");
	printf("controller: %d\n", rd_kafka_controllerid(cl->rk, cl->ctx->timeout_ms));
	cluster_brokers(md);
	for (int i = 0; i < md->topic_cnt; i++)
		internal += strncmp(md->topics[i].topic, "__", 2) == 0;
	printf("topics: %d (%d internal)\n", md->topic_cnt, internal);
	if (id)
		rd_kafka_mem_free(cl->rk, id);
	rd_kafka_metadata_destroy(md);
	return RNL_EXIT_OK;
}

int cluster_main(rnl_ctx_t *ctx, int argc, char **argv)
{
	client_t cl = { 0 };
	rd_kafka_conf_t *conf;
	bool usage;
	int c, at = rnl_take_verb(argc, argv), rc;

	if (at < 0)
		return rnl_help(cluster_usage);
	if (at == 0)
		return rnl_usage_error("cluster ", "cluster needs a command: info");
	if (strcmp(argv[1], "info") != 0)
		return rnl_usage_error("cluster ", "unknown cluster command '%s'", argv[1]);
	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc - 1, argv + 1, "", NULL)) != -1) {
		if (c == 'h')
			return rnl_help(cluster_usage);
		return rnl_usage_hint("cluster ");
	}
	if (optind < argc - 1)
		return rnl_usage_error("cluster ", "unexpected argument '%s'", argv[1 + optind]);
	conf = client_conf_new(ctx, NULL, &usage);
	if (!conf)
		return usage ? rnl_usage_hint(NULL) : RNL_EXIT_FAIL;
	if (!client_open(&cl, ctx, RD_KAFKA_PRODUCER, conf))
		return RNL_EXIT_FAIL;
	rc = cluster_info(&cl);
	client_close(&cl);
	return rc;
}
