/*
 * topic_config_alter — rnl topic alter-config NAME --set k=v... --delete k...
 * (and `rnl broker alter-config ID ...`, which differs only in the resource).
 *
 * librdkafka 2.0.2 has AlterConfigs but not IncrementalAlterConfigs, and
 * AlterConfigs replaces the whole set of a resource's own settings: a key
 * left out of the request falls back to the broker's value. So this is a
 * read-modify-write, as kafka-configs.sh did before Kafka 2.3:
 *
 *   1. DescribeConfigs: the resource's own settings (source
 *      DYNAMIC_TOPIC_CONFIG for a topic, DYNAMIC_BROKER_CONFIG for a broker)
 *      and every current value (for the OLD column);
 *   2. merge: keep the overrides, replace those --set names, drop those
 *      --delete names (each must be set now, as in Kafka's tool);
 *   3. AlterConfigs with the merged set (validate_only with --dry-run);
 *   4. DescribeConfigs again and print what each named key is now.
 *
 * Two writers racing between 1 and 3 can lose one's change: the second
 * AlterConfigs does not carry the first one's keys. The broker validates
 * every value; its message is printed as it is (INVALID_CONFIG names the
 * key and the reason).
 *
 * Output (stdout), one row per --set/--delete in command-line order:
 *
 *   CONFIG        OLD        NEW     SOURCE
 *   retention.ms  604800000  60000   DYNAMIC_TOPIC_CONFIG
 *   altered configs of topic "orders"
 *
 * With --dry-run NEW is what the request would give (the --set value, or
 * for --delete the value the topic falls back to, from the synonyms) and
 * stderr says `dry run: configs of topic "orders" not changed`.
 */
#include "topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALTER_MAX_OPS 64
#define ALTER_KEY_MAX 256

typedef struct alter_op {
	char key[ALTER_KEY_MAX];
	const char *value;   /* --set: borrowed from argv; --delete: NULL */
} alter_op_t;

struct topic_config_alter_args {
	alter_op_t ops[ALTER_MAX_OPS];
	int op_cnt;
	bool dry_run;
};
typedef topic_config_alter_args_t alter_args_t;

/* ---- command line ---- */

static const alter_op_t *op_find(const alter_args_t *a, const char *key)
{
	for (int i = 0; i < a->op_cnt; i++)
		if (strcmp(a->ops[i].key, key) == 0)
			return &a->ops[i];
	return NULL;
}

/* Adds one --set k=v (set) or --delete k. Returns false after printing why. */
static bool op_add(alter_args_t *a, const char *arg, bool set)
{
	const char *eq = set ? strchr(arg, '=') : arg + strlen(arg);
	alter_op_t *op = &a->ops[a->op_cnt];

	if (!eq || eq == arg || (size_t)(eq - arg) >= ALTER_KEY_MAX) {
		if (set)
			rnl_error("--set %s: expected key=value", arg);
		else
			rnl_error("--delete: bad key '%s'", arg);
		return false;
	}
	if (a->op_cnt == ALTER_MAX_OPS) {
		rnl_error("at most %d --set/--delete", ALTER_MAX_OPS);
		return false;
	}
	snprintf(op->key, sizeof(op->key), "%.*s", (int)(eq - arg), arg);
	if (op_find(a, op->key)) {
		rnl_error("%s is named twice", op->key);
		return false;
	}
	op->value = set ? eq + 1 : NULL;
	a->op_cnt++;
	return true;
}

int topic_config_alter_parse(rnl_ctx_t *ctx, int argc, char **argv, const char *usage_of,
			     topic_config_alter_args_t **out, int *name_at)
{
	static const struct option opts[] = {
		{ "set", required_argument, NULL, 's' },
		{ "delete", required_argument, NULL, 'd' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	alter_args_t *a = calloc(1, sizeof(*a));
	int c;

	*out = a;
	if (!a) {
		rnl_error("out of memory");
		return RNL_EXIT_FAIL;
	}
	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "", opts)) != -1) {
		if ((c == 's' || c == 'd') && op_add(a, optarg, c == 's'))
			continue;
		if (c == 'n') {
			a->dry_run = true;
			continue;
		}
		return c == 'h' ? -1 : rnl_usage_hint(usage_of);
	}
	*name_at = optind;
	return RNL_EXIT_OK;
}

int topic_config_alter_count(const topic_config_alter_args_t *a)
{
	return a->op_cnt;
}

void topic_config_alter_args_free(topic_config_alter_args_t *a)
{
	free(a);
}

/* ---- the request ---- */

/* Fills cr with the merged set of own settings. Returns false after printing. */
static bool alter_merge(const alter_args_t *a, const topic_config_target_t *tg,
			const topic_config_desc_t *before, rd_kafka_ConfigResource_t *cr)
{
	for (int i = 0; i < a->op_cnt; i++) {
		const rd_kafka_ConfigEntry_t *e = topic_config_find(before, a->ops[i].key);

		if (!a->ops[i].value && (!e || !topic_config_is_own(e, tg->type))) {
			rnl_error("alter config of %s: cannot delete %s: it is not set on the %s",
				  tg->label, a->ops[i].key,
				  tg->type == RD_KAFKA_RESOURCE_BROKER ? "broker" : "topic");
			return false;
		}
	}
	for (size_t i = 0; i < before->cnt; i++) {
		const rd_kafka_ConfigEntry_t *e = before->es[i];
		const char *key = rd_kafka_ConfigEntry_name(e);

		if (!topic_config_is_own(e, tg->type) || op_find(a, key))
			continue;
		if (rd_kafka_ConfigEntry_is_sensitive(e) == 1 || !rd_kafka_ConfigEntry_value(e)) {
			rnl_error("alter config of %s: cannot keep %s: the broker does not show "
				  "its value", tg->label, key);
			return false;
		}
		rd_kafka_ConfigResource_set_config(cr, key, rd_kafka_ConfigEntry_value(e));
	}
	for (int i = 0; i < a->op_cnt; i++)
		if (a->ops[i].value)
			rd_kafka_ConfigResource_set_config(cr, a->ops[i].key, a->ops[i].value);
	return true;
}

/* Checks the one resource of an AlterConfigs result. */
static bool alter_result(rd_kafka_event_t *ev, const topic_config_target_t *tg)
{
	size_t cnt;
	const rd_kafka_ConfigResource_t **res =
		rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &cnt);
	rd_kafka_resp_err_t err;
	const char *msg;

	if (cnt < 1) {
		rnl_error("alter config of %s: empty answer", tg->label);
		return false;
	}
	err = rd_kafka_ConfigResource_error(res[0]);
	msg = rd_kafka_ConfigResource_error_string(res[0]);
	if (err)
		rnl_error("alter config of %s: %s: %s", tg->label, rd_kafka_err2name(err),
			  msg && *msg ? msg : rd_kafka_err2str(err));
	return !err;
}

/* Sends AlterConfigs with the merged set. Returns true if the broker took it. */
static bool alter_send(client_t *cl, const alter_args_t *a, const topic_config_target_t *tg,
		       const topic_config_desc_t *before)
{
	rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(tg->type, tg->name);
	rd_kafka_queue_t *q = rd_kafka_queue_new(cl->rk);
	rd_kafka_AdminOptions_t *opts = client_admin_options(cl, RD_KAFKA_ADMIN_OP_ALTERCONFIGS);
	rd_kafka_event_t *ev = NULL;
	char errstr[256];
	bool ok = false;

	if (!cr) {   /* librdkafka refuses an empty name */
		rnl_error("alter config of %s: bad resource name", tg->label);
		goto out;
	}
	if (!alter_merge(a, tg, before, cr))
		goto out;
	rd_kafka_AdminOptions_set_validate_only(opts, a->dry_run, errstr, sizeof(errstr));
	rd_kafka_AlterConfigs(cl->rk, &cr, 1, opts, q);
	ev = client_admin_wait(cl, q, "alter config");
	if (ev)
		ok = alter_result(ev, tg);
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	if (cr)
		rd_kafka_ConfigResource_destroy(cr);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return ok;
}

/* ---- output ---- */

/* NEW and SOURCE of op: from `after` (a real run) or, for a dry run, what
 * the request would give. */
static void op_outcome(const alter_op_t *op, const topic_config_target_t *tg,
		       const topic_config_desc_t *before, const topic_config_desc_t *after,
		       const char **value, const char **source)
{
	const rd_kafka_ConfigEntry_t *e = topic_config_find(after ? after : before, op->key);

	*value = "-";
	*source = "-";
	if (!after && op->value) {
		*value = op->value;
		*source = tg->type == RD_KAFKA_RESOURCE_BROKER ? "DYNAMIC_BROKER_CONFIG"
							       : "DYNAMIC_TOPIC_CONFIG";
		return;
	}
	if (!after && e)
		e = topic_config_fallback(e, tg->type);
	if (e) {
		*value = topic_config_value_text(e);
		*source = topic_config_source_name(e);
	}
}

static bool alter_print(const alter_args_t *a, const topic_config_target_t *tg,
			const topic_config_desc_t *before, const topic_config_desc_t *after)
{
	static const char *const head[4] = { "CONFIG", "OLD", "NEW", "SOURCE" };
	topic_config_table_t t = { .cols = 4 };
	bool ok;

	topic_config_table_add(&t, 0, head);
	for (int i = 0; i < a->op_cnt; i++) {
		const rd_kafka_ConfigEntry_t *old = topic_config_find(before, a->ops[i].key);
		const char *cells[4] = { a->ops[i].key, old ? topic_config_value_text(old) : "-" };

		op_outcome(&a->ops[i], tg, before, after, &cells[2], &cells[3]);
		topic_config_table_add(&t, 0, cells);
	}
	ok = topic_config_table_print(&t);
	topic_config_table_free(&t);
	return ok;
}

/* ---- command ---- */

int topic_config_alter_run(client_t *cl, const topic_config_alter_args_t *a,
			   const topic_config_target_t *tg)
{
	topic_config_desc_t before = { 0 }, after = { 0 };
	bool ok;

	if (cl->ctx->mcluster) {
		rnl_error("alter config: not available from the mock cluster");
		return RNL_EXIT_FAIL;
	}
	ok = topic_config_fetch(cl, tg->type, tg->name, &before) && alter_send(cl, a, tg, &before) &&
	     (a->dry_run || topic_config_fetch(cl, tg->type, tg->name, &after));
	if (ok)
		ok = alter_print(a, tg, &before, a->dry_run ? NULL : &after);
	if (ok && a->dry_run)
		fprintf(stderr, "dry run: configs of %s not changed\n", tg->label);
	else if (ok)
		printf("altered configs of %s\n", tg->label);
	topic_config_desc_free(&before);
	topic_config_desc_free(&after);
	return ok ? RNL_EXIT_OK : RNL_EXIT_FAIL;
}

/* `rnl topic alter-config NAME ...`: checks that the topic exists first. */
static int alter_topic_run(client_t *cl, const alter_args_t *a, const char *name)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	topic_config_target_t tg = { .type = RD_KAFKA_RESOURCE_TOPIC, .name = name };
	bool exists;

	if (!md)
		return RNL_EXIT_FAIL;
	exists = client_topic_find(md, name) != NULL;
	rd_kafka_metadata_destroy(md);
	if (!exists)
		return client_no_topic(name);
	snprintf(tg.label, sizeof(tg.label), "topic \"%s\"", name);
	return topic_config_alter_run(cl, a, &tg);
}

int topic_config_alter(rnl_ctx_t *ctx, int argc, char **argv)
{
	alter_args_t *a;
	client_t cl = { 0 };
	int name_at, rc = topic_config_alter_parse(ctx, argc, argv, "topic ", &a, &name_at);

	if (rc < 0) {
		topic_config_alter_args_free(a);
		return rnl_help(topic_usage_text());
	}
	if (rc == RNL_EXIT_OK && argc - name_at != 1)
		rc = rnl_usage_error("topic ", "topic alter-config takes one topic name");
	else if (rc == RNL_EXIT_OK && a->op_cnt == 0)
		rc = rnl_usage_error("topic ", "topic alter-config needs --set k=v or --delete k");
	else if (rc == RNL_EXIT_OK)
		rc = topic_open_admin(&cl, ctx);
	if (rc == RNL_EXIT_OK)
		rc = alter_topic_run(&cl, a, argv[name_at]);
	client_close(&cl);
	topic_config_alter_args_free(a);
	return rc;
}
