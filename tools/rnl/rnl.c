/*
 * rnl — main(): global options, noun dispatch, usage, and the option and
 * error helpers every command shares.
 *
 * Command line shape:
 *
 *   rnl [GLOBAL...] NOUN [VERB] [ARGS and OPTIONS, GLOBAL ones included]
 *
 * Global options may come anywhere: each command's getopt_long() table is
 * its own options plus the global ones (rnl_getopt), so
 * `rnl topic list --brokers h:9092` and `rnl --brokers h:9092 topic list`
 * mean the same. GNU getopt permutes argv, so options may also follow
 * positional arguments (`rnl topic create orders --partitions 3`).
 */
#include "rnl.h"
#include "bench.h"
#include "client.h"
#include "mock.h"
#include "topic.h"
#include "txn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_BROKERS = 1000,
	OPT_TIMEOUT,
	OPT_MOCK,
};

/* Global options, appended to every command's table; NULL-terminated. */
static const struct option global_opts[] = {
	{ "brokers", required_argument, NULL, OPT_BROKERS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "mock", no_argument, NULL, OPT_MOCK },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};
#define GLOBAL_SHORT "b:X:h"

static const char usage_text[] =
	"usage: rnl [GLOBAL OPTIONS] COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  topic create NAME [--partitions N] [--replication-factor N] [--config k=v]...\n"
	"                    [--validate-only] [--if-not-exists]\n"
	"  topic list [--internal] [--long]\n"
	"  topic describe NAME [--configs] [--synonyms] [--json]\n"
	"  topic describe NAME --producers [--json]   each partition's active producers\n"
	"  topic alter-config NAME [--set k=v]... [--delete k]... [--dry-run]\n"
	"  topic delete NAME... [--if-exists]\n"
	"  topic add-partitions NAME --total N\n"
	"  topic trim NAME [--partition P] --before-offset O|--before-time WHEN|--all\n"
	"  produce TOPIC [--key-separator SEP] [--header k=v]... [--partition N]\n"
	"                [--acks 0|1|all] [--compression none|gzip|snappy|lz4|zstd]\n"
	"                [--linger-ms N]\n"
	"  consume TOPIC [--partition N] [--from beginning|end|OFFSET|-N|@TIMESTAMP_MS]\n"
	"                [--count N] [--follow] [--format FMT]\n"
	"  cluster info\n"
	"  broker describe [ID] [--configs] [--synonyms] [--json]\n"
	"  broker alter-config [ID] [--set k=v]... [--delete k]... [--dry-run]\n"
	"  group list [--state STATE[,STATE...]] [--json]\n"
	"  group describe GROUP... [--json]   members, committed offsets, lag\n"
	"  group delete GROUP...\n"
	"  group seek GROUP --topic T[:P,...]|--all-topics --to-earliest|--to-latest|\n"
	"             --to-offset N|--to-datetime WHEN [--dry-run] [--json]\n"
	"  txn list [--state STATE]... [--producer-id ID]... [--json]\n"
	"  txn describe TRANSACTIONAL-ID... [--json]   state, producer, partitions\n"
	"  bench produce|consume|e2e TOPIC [OPTIONS]   throughput, latency, CPU\n"
	"\n"
	"global options (anywhere on the line):\n"
	"  -b, --brokers HOST:PORT[,...]  bootstrap brokers (default $RNL_BROKERS,\n"
	"                                 else " RNL_DEFAULT_BROKERS ")\n"
	"      --timeout MS               deadline of each broker operation (default 10000)\n"
	"  -X key=value                   any librdkafka property (repeatable)\n"
	"  -h, --help                     this text; `rnl COMMAND --help` for a command\n"
	"\n"
	"exit status: 0 success, 1 the operation failed, 2 usage error\n";

void rnl_error(const char *fmt, ...)
{
	va_list ap;

	fputs("rnl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int rnl_usage_error(const char *usage_of, const char *fmt, ...)
{
	va_list ap;

	fputs("rnl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\ntry 'rnl %s--help'\n", usage_of ? usage_of : "");
	return RNL_EXIT_USAGE;
}

int rnl_help(const char *text)
{
	fputs(text, stdout);
	return RNL_EXIT_OK;
}

int rnl_usage_hint(const char *usage_of)
{
	fprintf(stderr, "try 'rnl %s--help'\n", usage_of ? usage_of : "");
	return RNL_EXIT_USAGE;
}

bool rnl_parse_i64(const char *what, const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		rnl_error("%s: '%s' is not a number in [%lld, %lld]", what, s,
			  (long long)min, (long long)max);
		return false;
	}
	*out = v;
	return true;
}

bool rnl_parse_int(const char *what, const char *s, int min, int max, int *out)
{
	int64_t v;

	if (!rnl_parse_i64(what, s, min, max, &v))
		return false;
	*out = (int)v;
	return true;
}

const char *rnl_fmt_secs(int ms, char *buf, size_t size)
{
	if (ms % 1000 == 0)
		snprintf(buf, size, "%ds", ms / 1000);
	else
		snprintf(buf, size, "%.1fs", ms / 1000.0);
	return buf;
}

/* ---- option parsing ---- */

void rnl_getopt_reset(void)
{
	/* glibc: optind 0 re-initialises getopt's hidden state, which a new
	 * argv array needs (optind 1 alone keeps the old permutation state). */
	optind = 0;
	opterr = 0;
}

/* Applies one global option to ctx. Returns false on a bad value. */
static bool apply_global(rnl_ctx_t *ctx, int c, const char *arg)
{
	switch (c) {
	case 'b':
	case OPT_BROKERS:
		ctx->brokers = arg;
		return true;
	case OPT_TIMEOUT:
		return rnl_parse_int("--timeout", arg, 1, 3600 * 1000, &ctx->timeout_ms);
	case OPT_MOCK:
		ctx->mock = true;
		return true;
	case 'X':
		if (!strchr(arg, '=')) {
			rnl_error("-X %s: expected key=value", arg);
			return false;
		}
		if (ctx->props_cnt == RNL_MAX_PROPS) {
			rnl_error("-X: at most %d properties", RNL_MAX_PROPS);
			return false;
		}
		ctx->props[ctx->props_cnt++] = arg;
		return true;
	}
	return false;
}

static bool is_global(int c)
{
	return c == 'b' || c == 'X' || c == OPT_BROKERS || c == OPT_TIMEOUT || c == OPT_MOCK;
}

/* Builds "+:" / ":" + shortopts + GLOBAL_SHORT and the merged long table
 * into static storage (one command parses at a time). */
static void merge_opts(const char *prefix, const char *shortopts, const struct option *longopts,
		       char *short_out, size_t short_size, struct option *long_out, size_t long_max)
{
	size_t n = 0;

	snprintf(short_out, short_size, "%s%s%s", prefix, shortopts ? shortopts : "", GLOBAL_SHORT);
	for (; longopts && longopts[n].name && n < long_max - 1; n++)
		long_out[n] = longopts[n];
	for (size_t i = 0; n < long_max - 1; i++, n++) {
		long_out[n] = global_opts[i];
		if (!global_opts[i].name)
			break;
	}
	long_out[long_max - 1] = (struct option){ 0 };
}

/* Prints the "unknown option" / "needs a value" usage error for the
 * option getopt just rejected. */
static void report_bad_option(int c, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";

	if (c == ':')
		rnl_error("option '%s' needs a value", arg);
	else if (optopt && optopt < 256 && arg[0] == '-' && arg[1] != '-')
		rnl_error("unknown option '-%c'", optopt);
	else
		rnl_error("unknown option '%s'", arg);
}

static int getopt_merged(rnl_ctx_t *ctx, int argc, char **argv, const char *prefix,
			 const char *shortopts, const struct option *longopts)
{
	static char short_all[128];
	static struct option long_all[64];
	int c;

	merge_opts(prefix, shortopts, longopts, short_all, sizeof(short_all), long_all, 64);
	for (;;) {
		c = getopt_long(argc, argv, short_all, long_all, NULL);
		if (c == '?' || c == ':') {
			report_bad_option(c, argv);
			return '?';
		}
		if (!is_global(c))
			return c;
		if (!apply_global(ctx, c, optarg))
			return '?';
	}
}

int rnl_getopt(rnl_ctx_t *ctx, int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	return getopt_merged(ctx, argc, argv, ":", shortopts, longopts);
}

int rnl_take_verb(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			return -1;
		if (a[0] != '-') {
			memmove(argv + 2, argv + 1, sizeof(*argv) * (size_t)(i - 1));
			argv[1] = a;
			return 1;
		}
		/* A global option's value is not the verb. */
		if (strcmp(a, "--brokers") == 0 || strcmp(a, "--timeout") == 0 ||
		    strcmp(a, "-b") == 0 || strcmp(a, "-X") == 0)
			i++;
	}
	return 0;
}

/* ---- dispatch ---- */

static const struct {
	const char *noun;
	rnl_cmd_fn *fn;
} commands[] = {
	{ "topic", topic_main },
	{ "produce", produce_main },
	{ "consume", consume_main },
	{ "cluster", cluster_main },
	{ "group", group_main },
	{ "broker", broker_main },
	{ "txn", txn_main },
	{ "bench", bench_main },
	{ "mock", mock_main }, /* hidden: serve a mock cluster until killed */
};

static void ctx_init(rnl_ctx_t *ctx)
{
	const char *env = getenv("RNL_BROKERS");

	*ctx = (rnl_ctx_t){ 0 };
	ctx->brokers = env && *env ? env : RNL_DEFAULT_BROKERS;
	ctx->timeout_ms = RNL_DEFAULT_TIMEOUT_MS;
}

/* Parses the global options before the noun. Returns the index of the
 * noun in argv, 0 after --help (printed), or -1 on a usage error. */
static int parse_leading(rnl_ctx_t *ctx, int argc, char **argv)
{
	int c;

	rnl_getopt_reset();
	while ((c = getopt_merged(ctx, argc, argv, "+:", NULL, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			return 0;
		}
		if (c == '?')
			return -1;
	}
	return optind;
}

static rnl_cmd_fn *find_command(const char *noun)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].noun, noun) == 0)
			return commands[i].fn;
	return NULL;
}

int main(int argc, char **argv)
{
	rnl_ctx_t ctx;
	rnl_cmd_fn *fn;
	int at, rc;

	ctx_init(&ctx);
	at = parse_leading(&ctx, argc, argv);
	if (at <= 0)
		return at == 0 ? RNL_EXIT_OK : rnl_usage_hint(NULL);
	if (at >= argc) {
		fputs(usage_text, stderr);
		return RNL_EXIT_USAGE;
	}
	fn = find_command(argv[at]);
	if (!fn)
		return rnl_usage_error(NULL, "unknown command '%s'", argv[at]);
	rc = fn(&ctx, argc - at, argv + at);
	mock_stop(&ctx);
	return rc;
}

void rnl_json_str(const char *s)
{
	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}
