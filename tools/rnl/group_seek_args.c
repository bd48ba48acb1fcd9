/*
 * group_seek_args — the command line of rnl group seek: which partitions
 * (--topic TOPIC[:P,P...] repeatable, or --all-topics), where to (exactly
 * one of --to-earliest, --to-latest, --to-offset N, --to-datetime WHEN),
 * --dry-run and --json; into a group_seek_args_t (group.h).
 *
 * WHEN is ms since the epoch or YYYY-MM-DDTHH:MM[:SS[.fff]] with an
 * optional zone (Z, +HH, +HHMM, +HH:MM or '-'); without a zone it is local
 * time, as kafka-consumer-groups reads it. An impossible date (Feb 30) is
 * rejected, not normalised. Only the syntax is checked here: whether the
 * topics and partitions exist is group_seek.c's business.
 */
#include "group.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* getopt codes of the options without a short form */
enum {
	OPT_ALL_TOPICS = 1,
	OPT_TO_EARLIEST,
	OPT_TO_LATEST,
	OPT_TO_OFFSET,
	OPT_TO_DATETIME,
	OPT_DRY_RUN,
	OPT_JSON,
};

/* ---- --topic ---- */

/* Parses "TOPIC" or "TOPIC:P,P,..." into a->topics. Returns false after
 * a usage error. */
static bool seek_parse_topic(group_seek_args_t *a, const char *spec)
{
	char buf[512], *colon, *save = NULL;
	int p;

	snprintf(buf, sizeof(buf), "%s", spec);
	colon = strchr(buf, ':');
	if (colon)
		*colon = '\0';
	if (!buf[0] || (colon && !colon[1])) {
		rnl_error("--topic %s: expected TOPIC or TOPIC:PARTITION[,PARTITION...]", spec);
		return false;
	}
	if (!colon) {
		rd_kafka_topic_partition_list_add(a->topics, buf, -1);
		return true;
	}
	for (char *tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!rnl_parse_int("--topic partition", tok, 0, INT32_MAX, &p))
			return false;
		rd_kafka_topic_partition_list_add(a->topics, buf, p);
	}
	return true;
}

/* ---- --to-datetime ---- */

/* Reads exactly n digits at *s into *out and advances *s. */
static bool read_digits(const char **s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*s)[i]))
			return false;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return true;
}

static bool read_char(const char **s, const char *any)
{
	if (!**s || !strchr(any, **s))
		return false;
	(*s)++;
	return true;
}

/* Reads an optional ".fff..." (milliseconds; digits past 3 ignored). */
static bool read_fraction(const char **s, int *ms)
{
	int scale = 100;

	*ms = 0;
	if (**s != '.')
		return true;
	(*s)++;
	if (!isdigit((unsigned char)**s))
		return false;
	for (; isdigit((unsigned char)**s); (*s)++, scale /= 10)
		*ms += (**s - '0') * scale;
	return true;
}

/* Reads an optional zone: Z, +HH, +HHMM or +HH:MM (or '-'). *utc tells
 * whether there was one; *offset_s is east of UTC. */
static bool read_zone(const char **s, bool *utc, int *offset_s)
{
	int sign, hh, mm = 0;

	*utc = false;
	*offset_s = 0;
	if (!**s)
		return true;
	*utc = true;
	if (read_char(s, "Zz"))
		return true;
	sign = **s == '-' ? -1 : 1;
	if (!read_char(s, "+-") || !read_digits(s, 2, &hh) || hh > 23)
		return false;
	if (**s == ':')
		(*s)++;
	if (**s && (!read_digits(s, 2, &mm) || mm > 59))
		return false;
	*offset_s = sign * (hh * 3600 + mm * 60);
	return true;
}

/* Parses WHEN: ms since the epoch, or YYYY-MM-DDTHH:MM[:SS[.fff]][zone]
 * (a space may stand for the T). Without a zone the time is local, as
 * kafka-consumer-groups reads it. Returns false on junk or an impossible
 * date (Feb 30). */
static bool parse_datetime(const char *arg, int64_t *ms)
{
	const char *s = arg;
	struct tm tm = { 0 }, back;
	int y, mo, d, h, mi, sec = 0, frac, offset_s;
	bool utc;
	time_t t;

	if (*s && strspn(s, "0123456789") == strlen(s))
		return rnl_parse_i64("--to-datetime", s, 0, INT64_MAX, ms);
	if (!read_digits(&s, 4, &y) || !read_char(&s, "-") || !read_digits(&s, 2, &mo) ||
	    !read_char(&s, "-") || !read_digits(&s, 2, &d) || !read_char(&s, "Tt ") ||
	    !read_digits(&s, 2, &h) || !read_char(&s, ":") || !read_digits(&s, 2, &mi))
		return false;
	if (read_char(&s, ":") && !read_digits(&s, 2, &sec))
		return false;
	if (!read_fraction(&s, &frac) || !read_zone(&s, &utc, &offset_s) || *s)
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
		return false;
	tm = (struct tm){ .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			  .tm_min = mi, .tm_sec = sec, .tm_isdst = -1 };
	t = utc ? timegm(&tm) : mktime(&tm);
	if (t == (time_t)-1 || !(utc ? gmtime_r(&t, &back) : localtime_r(&t, &back)) ||
	    back.tm_mday != d || back.tm_mon != mo - 1)
		return false;
	*ms = ((int64_t)t - offset_s) * 1000 + frac;
	return *ms >= 0;
}

/* ---- options ---- */

/* Sets a->to once; a second --to-* is a usage error. */
static bool seek_set_to(group_seek_args_t *a, group_seek_to_t to, const char *arg)
{
	if (a->to != GROUP_SEEK_NONE) {
		rnl_error("seek takes one of --to-earliest, --to-latest, --to-offset, --to-datetime");
		return false;
	}
	a->to = to;
	if (to == GROUP_SEEK_OFFSET)
		return rnl_parse_i64("--to-offset", arg, 0, INT64_MAX, &a->value);
	if (to == GROUP_SEEK_DATETIME && !parse_datetime(arg, &a->value)) {
		rnl_error("--to-datetime: '%s' is neither ms since the epoch nor "
			  "YYYY-MM-DDTHH:MM:SS[.mmm][Z|+HH:MM]", arg);
		return false;
	}
	return true;
}

/* Applies one option. Returns false after a usage error. */
static bool seek_option(group_seek_args_t *a, int c, const char *arg)
{
	switch (c) {
	case 't':
		return seek_parse_topic(a, arg);
	case OPT_ALL_TOPICS:
		a->all_topics = true;
		return true;
	case OPT_TO_EARLIEST:
		return seek_set_to(a, GROUP_SEEK_EARLIEST, arg);
	case OPT_TO_LATEST:
		return seek_set_to(a, GROUP_SEEK_LATEST, arg);
	case OPT_TO_OFFSET:
		return seek_set_to(a, GROUP_SEEK_OFFSET, arg);
	case OPT_TO_DATETIME:
		return seek_set_to(a, GROUP_SEEK_DATETIME, arg);
	case OPT_DRY_RUN:
		a->dry_run = true;
		return true;
	case OPT_JSON:
		a->json = true;
		return true;
	}
	return false;
}

int group_seek_parse(rnl_ctx_t *ctx, int argc, char **argv, group_seek_args_t *a)
{
	static const struct option opts[] = {
		{ "topic", required_argument, NULL, 't' },
		{ "all-topics", no_argument, NULL, OPT_ALL_TOPICS },
		{ "to-earliest", no_argument, NULL, OPT_TO_EARLIEST },
		{ "to-latest", no_argument, NULL, OPT_TO_LATEST },
		{ "to-offset", required_argument, NULL, OPT_TO_OFFSET },
		{ "to-datetime", required_argument, NULL, OPT_TO_DATETIME },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*a = (group_seek_args_t){ .topics = rd_kafka_topic_partition_list_new(4) };
	rnl_getopt_reset();
	while ((c = rnl_getopt(ctx, argc, argv, "t:", opts)) != -1) {
		if (c == 'h') {
			rnl_help(group_usage_text());
			return -1;
		}
		if (!seek_option(a, c, optarg))
			return rnl_usage_hint("group ");
	}
	if (argc - optind != 1)
		return rnl_usage_error("group ", "group seek takes one group name");
	a->group = argv[optind];
	if ((a->topics->cnt > 0) == a->all_topics)
		return rnl_usage_error("group ", "group seek needs --topic TOPIC[:PARTITIONS]... "
				       "or --all-topics (not both)");
	if (a->to == GROUP_SEEK_NONE)
		return rnl_usage_error("group ", "group seek needs one of --to-earliest, "
				       "--to-latest, --to-offset N, --to-datetime WHEN");
	return RNL_EXIT_OK;
}

