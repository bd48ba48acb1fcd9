/*
 * group_list — rnl group list [--state S[,S...]] [--json]: every group the
 * cluster knows, one row each, sorted by name:
 *
 *   GROUP  STATE  PROTOCOL-TYPE
 *
 * PROTOCOL-TYPE is "consumer" or "-" for a simple group (offsets only,
 * nobody ever joined). ListConsumerGroups asks every broker; a broker that
 * does not answer is an error, but what the others listed is shown. A
 * broker older than ListGroups v4 sends no state and ignores the --state
 * filter: those groups are described to learn it (list_fill_states) and
 * the filter is applied here as well (state_wanted).
 */
#include "group.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct listing {
	const char *group;      /* borrowed from the ListConsumerGroups event */
	rd_kafka_consumer_group_state_t state;
	bool simple;            /* protocol type "": offsets only, nobody ever joined */
} listing_t;

static int cmp_listing(const void *a, const void *b)
{
	return strcmp(((const listing_t *)a)->group, ((const listing_t *)b)->group);
}

/* Parses "Empty,Stable" (any case) into states[]. Returns false after a
 * usage error. */
static bool parse_states(const char *arg, rd_kafka_consumer_group_state_t *states, size_t *cnt)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", arg);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		rd_kafka_consumer_group_state_t s = rd_kafka_consumer_group_state_code(tok);
		bool seen = false;

		if (s == RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN) {
			rnl_error("--state: unknown state '%s' (use Empty, Stable, "
				  "PreparingRebalance, CompletingRebalance or Dead)", tok);
			return false;
		}
		for (size_t i = 0; i < *cnt; i++)
			seen |= states[i] == s;
		if (!seen)
			states[(*cnt)++] = s;
	}
	return true;
}

/* Learns by DescribeGroups the state of groups a broker older than
 * ListGroups v4 listed without one. Returns false after printing. */
static bool list_fill_states(client_t *cl, listing_t *ls, size_t cnt)
{
	const char **names = malloc(sizeof(*names) * (cnt + 1));
	rd_kafka_event_t *ev;
	size_t n = 0;
	bool ok = true;

	if (!names) {
		rnl_error("out of memory");
		return false;
	}
	for (size_t i = 0; i < cnt; i++)
		if (ls[i].state == RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN)
			names[n++] = ls[i].group;
	ev = n ? group_descs_fetch(cl, names, n, "describe") : NULL;
	for (size_t i = 0; ev && i < cnt; i++) {
		const rd_kafka_ConsumerGroupDescription_t *d;

		if (ls[i].state != RD_KAFKA_CONSUMER_GROUP_STATE_UNKNOWN)
			continue;
		d = group_desc_find(cl, ev, ls[i].group, "describe");
		if (d)
			ls[i].state = rd_kafka_ConsumerGroupDescription_state(d);
		ok &= d != NULL;
	}
	if (ev)
		rd_kafka_event_destroy(ev);
	free(names);
	return ok && (n == 0 || ev);
}

static bool state_wanted(rd_kafka_consumer_group_state_t s,
			 const rd_kafka_consumer_group_state_t *states, size_t state_cnt)
{
	for (size_t i = 0; i < state_cnt; i++)
		if (states[i] == s)
			return true;
	return state_cnt == 0;
}

static bool list_print(const listing_t *ls, size_t cnt, bool json)
{
	group_table_t t = { .cols = 3 };
	bool ok = true;

	if (json)
		printf("{\"groups\":[");
	else
		group_table_add(&t, "GROUP", "STATE", "PROTOCOL-TYPE");
	for (size_t i = 0; i < cnt; i++) {
		const char *ptype = ls[i].simple ? "" : "consumer";

		if (!json) {
			group_table_add(&t, ls[i].group, group_state_name(ls[i].state), ptype);
			continue;
		}
		printf("%s{\"group\":", i ? "," : "");
		rnl_json_str(ls[i].group);
		printf(",\"state\":");
		rnl_json_str(group_state_name(ls[i].state));
		printf(",\"protocol_type\":");
		rnl_json_str(ptype);
		putchar('}');
	}
	if (json)
		printf("]}\n");
	else
		ok = group_table_print(&t);
	group_table_free(&t);
	return ok;
}

/* Sends ListConsumerGroups (with the state filter). Returns the event or
 * NULL after printing. */
static rd_kafka_event_t *list_send(client_t *cl, const rd_kafka_consumer_group_state_t *states,
				   size_t state_cnt)
{
	rd_kafka_AdminOptions_t *opts =
		client_admin_options(cl, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
	rd_kafka_queue_t *q = rd_kafka_queue_new(cl->rk);
	rd_kafka_event_t *ev = NULL;
	rd_kafka_error_t *e = NULL;

	if (state_cnt)
		e = rd_kafka_AdminOptions_set_match_consumer_group_states(opts, states, state_cnt);
	if (e) {
		rnl_error("list groups: --state: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
	} else {
		rd_kafka_ListConsumerGroups(cl->rk, opts, q);
		ev = group_wait(cl, q, "list", NULL);
	}
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return ev;
}

static int list_run(client_t *cl, const rd_kafka_consumer_group_state_t *states,
		    size_t state_cnt, bool json)
{
	const rd_kafka_ListConsumerGroups_result_t *res;
	const rd_kafka_ConsumerGroupListing_t **valid;
	const rd_kafka_error_t **errs;
	rd_kafka_event_t *ev;
	listing_t *ls;
	size_t cnt, err_cnt, kept = 0;
	int rc = RNL_EXIT_OK;

	if (!(ev = list_send(cl, states, state_cnt)))
		return RNL_EXIT_FAIL;
	res = rd_kafka_event_ListConsumerGroups_result(ev);
	valid = rd_kafka_ListConsumerGroups_result_valid(res, &cnt);
	errs = rd_kafka_ListConsumerGroups_result_errors(res, &err_cnt);
	ls = malloc(sizeof(*ls) * (cnt + 1));
	if (!ls) {
		rnl_error("out of memory");
		rd_kafka_event_destroy(ev);
		return RNL_EXIT_FAIL;
	}
	for (size_t i = 0; i < cnt; i++)
		ls[i] = (listing_t){
			.group = rd_kafka_ConsumerGroupListing_group_id(valid[i]),
			.state = rd_kafka_ConsumerGroupListing_state(valid[i]),
			.simple = rd_kafka_ConsumerGroupListing_is_simple_consumer_group(valid[i]),
		};
	if (!list_fill_states(cl, ls, cnt))
		rc = RNL_EXIT_FAIL;
	for (size_t i = 0; i < cnt; i++)
		if (state_wanted(ls[i].state, states, state_cnt))
			ls[kept++] = ls[i];
	qsort(ls, kept, sizeof(*ls), cmp_listing);
	if (!list_print(ls, kept, json))
		rc = RNL_EXIT_FAIL;
	/* A broker that did not answer: what the others listed is shown. */
	for (size_t i = 0; i < err_cnt; i++) {
		group_report(cl, "list", NULL, rd_kafka_error_code(errs[i]),
			     rd_kafka_error_string(errs[i]));
		rc = RNL_EXIT_FAIL;
	}
	free(ls);
	rd_kafka_event_destroy(ev);
	return rc;
}

int group_list(rnl_ctx_t *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	rd_kafka_consumer_group_state_t states[RD_KAFKA_CONSUMER_GROUP_STATE__CNT];
	size_t state_cnt = 0;
	const rd_kafka_metadata_t *md;
	client_t cl = { 0 };
	bool json = false;
	int c, rc;

	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "s:", opts)) != -1) {
		if (c == 'h')
			return rnl_help(group_usage_text());
		if (c == 's' && parse_states(optarg, states, &state_cnt))
			continue;
		if (c == 'j') {
			json = true;
			continue;
		}
		return rnl_usage_hint("group ");
	}
	if (optind < argc)
		return rnl_usage_error("group ", "unexpected argument '%s'", argv[optind]);
	rc = group_open(&cl, ctx, "list");
	if (rc == RNL_EXIT_OK) {
		md = client_metadata(&cl);
		rc = md ? list_run(&cl, states, state_cnt, json) : RNL_EXIT_FAIL;
		if (md)
			rd_kafka_metadata_destroy(md);
	}
	client_close(&cl);
	return rc;
}

