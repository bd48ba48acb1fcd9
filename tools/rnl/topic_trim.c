/*
 * topic_trim — rnl topic trim NAME [--partition P]
 *                  (--before-offset O | --before-time WHEN | --all)
 *
 * Deletes the records of a topic's partitions below an offset with
 * DeleteRecords (KIP-107; librdkafka's rd_kafka_DeleteRecords): the
 * partitions' log start offsets move up, consumers behind them get
 * OFFSET_OUT_OF_RANGE and reset, and whole segments below go from the disk.
 *
 *   --before-offset O   records below offset O (O itself stays)
 *   --before-time WHEN  records older than WHEN: the offset is the first
 *                       record with timestamp >= WHEN (OffsetsForTimes, per
 *                       partition); a partition with no such record is
 *                       emptied. WHEN: ms since the epoch, or
 *                       YYYY-MM-DDTHH:MM[:SS[.fff]] with Z or +HH:MM (UTC
 *                       when no zone is given)
 *   --all               every record (up to the high watermark)
 *   --partition P       only partition P (default: every partition)
 *
 * Output (stdout), one row per partition, then a summary:
 *
 *   PARTITION  LOW_WATERMARK
 *   0          1500
 *   trimmed 1 partition(s) of topic "orders"
 *
 * A partition the broker refuses (an offset past its high watermark:
 * OFFSET_OUT_OF_RANGE) is reported on stderr and the exit code is 1.
 */
#include "topic.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum trim_mode { TRIM_NONE, TRIM_OFFSET, TRIM_TIME, TRIM_ALL };

typedef struct trim_args {
	const char *name;       /* borrowed from argv */
	int32_t partition;      /* -1: all */
	enum trim_mode mode;
	int64_t value;          /* the offset, or the time in ms since the epoch */
} trim_args_t;

/* ---- --before-time ---- */

/* Parses a zone suffix: "", Z, +HH:MM, +HHMM, +HH (or '-'). Returns false
 * on junk; *east_s is the offset east of UTC in seconds. */
static bool parse_zone(const char *s, int *east_s)
{
	int hh = 0, mm = 0, n = 0;

	*east_s = 0;
	if (*s == '\0' || ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0'))
		return true;
	if ((s[0] != '+' && s[0] != '-') ||
	    (sscanf(s + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 &&
	     sscanf(s + 1, "%2d%2d%n", &hh, &mm, &n) != 2 && sscanf(s + 1, "%2d%n", &hh, &n) != 1) ||
	    s[1 + n] != '\0' || hh > 23 || mm > 59)
		return false;
	*east_s = (s[0] == '-' ? -1 : 1) * (hh * 3600 + mm * 60);
	return true;
}

/* WHEN as ms since the epoch (see the file comment). */
static bool parse_when(const char *arg, int64_t *ms)
{
	struct tm tm = { 0 };
	const char *s;
	int frac = 0, scale = 100, east_s;

	if (*arg && strspn(arg, "0123456789") == strlen(arg))
		return rnl_parse_i64("--before-time", arg, 0, INT64_MAX, ms);
	s = strptime(arg, "%Y-%m-%dT%H:%M", &tm);
	if (s && *s == ':')
		s = strptime(s, ":%S", &tm);
	if (s && *s == '.')
		for (s++; isdigit((unsigned char)*s); s++, scale /= 10)
			frac += (*s - '0') * scale;
	if (!s || !parse_zone(s, &east_s))
		return false;
	*ms = ((int64_t)timegm(&tm) - east_s) * 1000 + frac;
	return *ms >= 0;
}

/* ---- command line ---- */

static int trim_set_mode(trim_args_t *a, enum trim_mode m, const char *arg)
{
	if (a->mode != TRIM_NONE)
		return rnl_usage_error("topic ", "trim takes one of --before-offset, --before-time, --all");
	a->mode = m;
	if (m == TRIM_OFFSET && !rnl_parse_i64("--before-offset", arg, 0, INT64_MAX, &a->value))
		return RNL_EXIT_USAGE;
	if (m == TRIM_TIME && !parse_when(arg, &a->value)) {
		rnl_error("--before-time: '%s' is neither ms since the epoch nor "
			  "YYYY-MM-DDTHH:MM[:SS[.fff]][Z|+HH:MM]", arg);
		return RNL_EXIT_USAGE;
	}
	return RNL_EXIT_OK;
}

static int trim_parse(rnl_ctx_t *ctx, int argc, char **argv, trim_args_t *a)
{
	static const struct option opts[] = {
		{ "partition", required_argument, NULL, 'p' },
		{ "before-offset", required_argument, NULL, 'o' },
		{ "before-time", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	int c, rc = RNL_EXIT_OK;
	int64_t p;

	*a = (trim_args_t){ .partition = -1 };
	rnl_getopt_reset();
	while (rc == RNL_EXIT_OK && (c = rnl_getopt(ctx, argc, argv, "", opts)) != -1) {
		if (c == 'p' && rnl_parse_i64("--partition", optarg, 0, INT32_MAX, &p))
			a->partition = (int32_t)p;
		else if (c == 'o' || c == 't' || c == 'a')
			rc = trim_set_mode(a, c == 'o' ? TRIM_OFFSET : c == 't' ? TRIM_TIME : TRIM_ALL, optarg);
		else if (c == 'h') {
			rnl_help(topic_usage_text());
			return -1;
		} else {
			return c == 'p' ? RNL_EXIT_USAGE : rnl_usage_hint("topic ");
		}
	}
	if (rc != RNL_EXIT_OK)
		return rc;
	if (argc - optind != 1)
		return rnl_usage_error("topic ", "topic trim takes one topic name");
	if (a->mode == TRIM_NONE)
		return rnl_usage_error("topic ", "topic trim needs --before-offset O, --before-time WHEN or --all");
	a->name = argv[optind];
	return RNL_EXIT_OK;
}

/* ---- the request ---- */

/* The partitions to trim, each with the offset to trim below. NULL after
 * printing the error. */
static rd_kafka_topic_partition_list_t *trim_targets(client_t *cl, const trim_args_t *a,
						     const rd_kafka_metadata_topic_t *t)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(t->partition_cnt);
	int64_t off = a->mode == TRIM_OFFSET ? a->value : a->mode == TRIM_TIME ? a->value
									: RD_KAFKA_OFFSET_END;
	rd_kafka_resp_err_t err;

	for (int i = 0; i < t->partition_cnt; i++)
		if (a->partition < 0 || t->partitions[i].id == a->partition)
			rd_kafka_topic_partition_list_add(l, a->name, t->partitions[i].id)->offset = off;
	if (l->cnt == 0) {
		rnl_error("topic \"%s\" has no partition %d", a->name, a->partition);
		rd_kafka_topic_partition_list_destroy(l);
		return NULL;
	}
	if (a->mode != TRIM_TIME)
		return l;
	/* OffsetsForTimes: -1 (END) where no record is that new: trim all. */
	err = rd_kafka_offsets_for_times(cl->rk, l, cl->ctx->timeout_ms);
	for (int i = 0; !err && i < l->cnt; i++)
		err = l->elems[i].err;
	if (err) {
		client_report(cl, err, "find offsets for --before-time");
		rd_kafka_topic_partition_list_destroy(l);
		return NULL;
	}
	return l;
}

/* Prints the result rows; returns false if a partition failed. */
static bool trim_print(const char *name, const rd_kafka_topic_partition_list_t *res)
{
	bool ok = true;
	int done = 0;

	printf("%-10s %s\n", "PARTITION", "LOW_WATERMARK");
	for (int i = 0; i < res->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &res->elems[i];

		if (p->err) {
			rnl_error("trim topic \"%s\" partition %d: %s: %s", name, p->partition,
				  rd_kafka_err2name(p->err), rd_kafka_err2str(p->err));
			ok = false;
			continue;
		}
		printf("%-10d %lld\n", p->partition, (long long)p->offset);
		done++;
	}
	printf("trimmed %d partition(s) of topic \"%s\"\n", done, name);
	return ok;
}

static bool trim_send(client_t *cl, const char *name, const rd_kafka_topic_partition_list_t *l)
{
	rd_kafka_DeleteRecords_t *dr = rd_kafka_DeleteRecords_new(l);
	rd_kafka_queue_t *q = rd_kafka_queue_new(cl->rk);
	rd_kafka_AdminOptions_t *opts = client_admin_options(cl, RD_KAFKA_ADMIN_OP_DELETERECORDS);
	rd_kafka_event_t *ev;
	bool ok = false;

	rd_kafka_DeleteRecords(cl->rk, &dr, 1, opts, q);
	ev = client_admin_wait(cl, q, "trim");
	if (ev) {
		const rd_kafka_topic_partition_list_t *res =
			rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
		ok = res && trim_print(name, res);
		rd_kafka_event_destroy(ev);
	}
	rd_kafka_DeleteRecords_destroy(dr);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	return ok;
}

static int trim_run(client_t *cl, const trim_args_t *a)
{
	const rd_kafka_metadata_t *md = client_metadata(cl);
	const rd_kafka_metadata_topic_t *t;
	rd_kafka_topic_partition_list_t *l = NULL;
	bool ok = false;

	if (!md)
		return RNL_EXIT_FAIL;
	t = client_topic_find(md, a->name);
	if (!t) {
		rd_kafka_metadata_destroy(md);
		return client_no_topic(a->name);
	}
	l = trim_targets(cl, a, t);
	rd_kafka_metadata_destroy(md);
	if (l)
		ok = trim_send(cl, a->name, l);
	if (l)
		rd_kafka_topic_partition_list_destroy(l);
	return ok ? RNL_EXIT_OK : RNL_EXIT_FAIL;
}

int topic_trim(rnl_ctx_t *ctx, int argc, char **argv)
{
	trim_args_t a;
	client_t cl = { 0 };
	int rc = trim_parse(ctx, argc, argv, &a);

	if (rc < 0)
		return RNL_EXIT_OK;
	if (rc != RNL_EXIT_OK)
		return rc;
	rc = topic_open_admin(&cl, ctx);
	if (rc == RNL_EXIT_OK)
		rc = trim_run(&cl, &a);
	client_close(&cl);
	return rc;
}
