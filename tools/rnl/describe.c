/*
 * describe — rnl topic describe NAME [--configs].
 *
 * Output (stdout), one block per source of truth:
 *
 *   topic "orders": 3 partitions, replication factor 1
 *   PARTITION  LEADER  REPLICAS  ISR  LOW  HIGH
 *   0          1       1         1    0    334
 *   ...
 *   CONFIG        VALUE     SOURCE
 *   retention.ms  60000     DYNAMIC_TOPIC_CONFIG
 *
 * Partitions, leaders, replicas and ISR come from Metadata; LOW/HIGH are
 * the watermarks from ListOffsets (rd_kafka_query_watermark_offsets, one
 * query per partition; "-" when the leader did not answer); the configs
 * from DescribeConfigs. Without --configs only the topic's own settings
 * are shown (source DYNAMIC_TOPIC_CONFIG, or not-default from a broker
 * that does not send sources); --configs shows every entry.
 */
#include "topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- partitions ---- */

/* Writes "1,2,3" (or "-" for none) into buf. */
static const char *fmt_ids(const int32_t *ids, int cnt, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < cnt && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%d", i ? "," : "", ids[i]);
	if (cnt == 0)
		snprintf(buf, size, "-");
	return buf;
}

/* Prints one partition row; returns false if its watermarks are unknown. */
static bool describe_partition(client_t *cl, const char *topic,
			       const rd_kafka_metadata_partition_t *p)
{
	char replicas[256], isr[256], low_s[24] = "-", high_s[24] = "-";
	int64_t low = 0, high = 0;
	rd_kafka_resp_err_t err;

	err = rd_kafka_query_watermark_offsets(cl->rk, topic, p->id, &low, &high,
					       cl->ctx->timeout_ms);
	if (!err) {
		snprintf(low_s, sizeof(low_s), "%lld", (long long)low);
		snprintf(high_s, sizeof(high_s), "%lld", (long long)high);
	}
	printf("%-9d  %-6d  %-8s  %-8s  %-10s  %s\n", p->id, p->leader,
	       fmt_ids(p->replicas, p->replica_cnt, replicas, sizeof(replicas)),
	       fmt_ids(p->isrs, p->isr_cnt, isr, sizeof(isr)), low_s, high_s);
	if (err)
		fprintf(stderr, "rnl: warning: partition %d: watermarks: %s\n", p->id,
			rd_kafka_err2str(err));
	return !err;
}

static int cmp_partition(const void *a, const void *b)
{
	const rd_kafka_metadata_partition_t *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

void describe_partitions(client_t *cl, const rd_kafka_metadata_topic_t *t)
{
	rd_kafka_metadata_partition_t *ps = malloc(sizeof(*ps) * (size_t)(t->partition_cnt + 1));

	printf("topic \"%s\": %d partition%s, replication factor %d\n", t->topic, t->partition_cnt,
	       t->partition_cnt == 1 ? "" : "s", t->partition_cnt ? t->partitions[0].replica_cnt : 0);
	printf("%-9s  %-6s  %-8s  %-8s  %-10s  %s\n", "PARTITION", "LEADER", "REPLICAS", "ISR", "LOW",
	       "HIGH");
	if (!ps) {
		rnl_error("out of memory");
		return;
	}
	/* Shallow copy, sorted: brokers need not list partitions in order. */
	memcpy(ps, t->partitions, sizeof(*ps) * (size_t)t->partition_cnt);
	qsort(ps, (size_t)t->partition_cnt, sizeof(*ps), cmp_partition);
	for (int i = 0; i < t->partition_cnt; i++)
		describe_partition(cl, t->topic, &ps[i]);
	free(ps);
}

/* ---- configs ---- */

static bool config_is_set(const rd_kafka_ConfigEntry_t *e)
{
	rd_kafka_ConfigSource_t src = rd_kafka_ConfigEntry_source(e);

	if (src == RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG)
		return true;
	/* DescribeConfigs v0 has no source, only IsDefault. */
	return src == RD_KAFKA_CONFIG_SOURCE_UNKNOWN_CONFIG && !rd_kafka_ConfigEntry_is_default(e);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(rd_kafka_ConfigEntry_name(*(const rd_kafka_ConfigEntry_t *const *)a),
		      rd_kafka_ConfigEntry_name(*(const rd_kafka_ConfigEntry_t *const *)b));
}

static const char *entry_value(const rd_kafka_ConfigEntry_t *e)
{
	const char *v = rd_kafka_ConfigEntry_value(e);

	if (rd_kafka_ConfigEntry_is_sensitive(e))
		return "(sensitive)";
	return v ? v : "(null)";
}

static void configs_table(const rd_kafka_ConfigEntry_t **es, size_t cnt)
{
	int nw = 6, vw = 5;

	for (size_t i = 0; i < cnt; i++) {
		if ((int)strlen(rd_kafka_ConfigEntry_name(es[i])) > nw)
			nw = (int)strlen(rd_kafka_ConfigEntry_name(es[i]));
		if ((int)strlen(entry_value(es[i])) > vw)
			vw = (int)strlen(entry_value(es[i]));
	}
	printf("%-*s  %-*s  %s\n", nw, "CONFIG", vw, "VALUE", "SOURCE");
	for (size_t i = 0; i < cnt; i++)
		printf("%-*s  %-*s  %s\n", nw, rd_kafka_ConfigEntry_name(es[i]), vw,
		       entry_value(es[i]),
		       rd_kafka_ConfigSource_name(rd_kafka_ConfigEntry_source(es[i])));
}

static void configs_print(const rd_kafka_ConfigResource_t *res, bool all)
{
	size_t cnt, shown = 0;
	const rd_kafka_ConfigEntry_t **es = rd_kafka_ConfigResource_configs(res, &cnt);
	const rd_kafka_ConfigEntry_t **picked = malloc(sizeof(*picked) * (cnt + 1));

	if (!picked) {
		rnl_error("out of memory");
		return;
	}
	for (size_t i = 0; i < cnt; i++)
		if (all || config_is_set(es[i]))
			picked[shown++] = es[i];
	qsort(picked, shown, sizeof(*picked), cmp_entry);
	if (shown == 0)
		printf("no configs set on the topic (--configs shows all)\n");
	else
		configs_table(picked, shown);
	free(picked);
}

/* Prints the result of DescribeConfigs. Returns false after printing an
 * error; a broker without the API gets a note, not a failure. */
static bool configs_result(rd_kafka_event_t *ev, bool all)
{
	size_t cnt;
	const rd_kafka_ConfigResource_t **res =
		rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev),
							  &cnt);
	rd_kafka_resp_err_t err;

	if (cnt < 1) {
		rnl_error("describe configs: empty answer");
		return false;
	}
	err = rd_kafka_ConfigResource_error(res[0]);
	if (err) {
		rnl_error("describe configs: %s", rd_kafka_ConfigResource_error_string(res[0])
				  ? rd_kafka_ConfigResource_error_string(res[0])
				  : rd_kafka_err2str(err));
		return false;
	}
	configs_print(res[0], all);
	return true;
}

static bool describe_configs(client_t *cl, const char *topic, bool all)
{
	rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
	rd_kafka_queue_t *q = rd_kafka_queue_new(cl->rk);
	rd_kafka_AdminOptions_t *opts =
		client_admin_options(cl, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
	rd_kafka_event_t *ev;
	bool ok = false;

	rd_kafka_DescribeConfigs(cl->rk, &cr, 1, opts, q);
	ev = client_admin_wait(cl, q, "describe configs");
	if (ev) {
		ok = configs_result(ev, all);
		rd_kafka_event_destroy(ev);
	}
	rd_kafka_ConfigResource_destroy(cr);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return ok;
}

/* ---- command ---- */

static int describe_run(client_t *cl, const char *name, bool all)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	const rd_kafka_metadata_topic_t *t;
	bool ok;

	if (!md)
		return RNL_EXIT_FAIL;
	t = client_topic_find(md, name);
	if (!t) {
		rd_kafka_metadata_destroy(md);
		return client_no_topic(name);
	}
	describe_partitions(cl, t);
	rd_kafka_metadata_destroy(md);
	fflush(stdout);
	/* The mock cluster has no DescribeConfigs; say so rather than fail. */
	if (cl->ctx->mcluster) {
		printf("configs: not available from the mock cluster\n");
		return RNL_EXIT_OK;
	}
	ok = describe_configs(cl, name, all);
	return ok ? RNL_EXIT_OK : RNL_EXIT_FAIL;
}

int describe_topic(rnl_ctx_t *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "configs", no_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	client_t cl = { 0 };
	bool all = false;
	int c, rc;

	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "", opts)) != -1) {
		if (c == 'h')
			return rnl_help(topic_usage_text());
		if (c != 'C')
			return rnl_usage_hint("topic ");
		all = true;
	}
	if (argc - optind != 1)
		return rnl_usage_error("topic ", "topic describe takes one topic name");
	rc = topic_open_admin(&cl, ctx);
	if (rc == RNL_EXIT_OK)
		rc = describe_run(&cl, argv[optind], all);
	client_close(&cl);
	return rc;
}
