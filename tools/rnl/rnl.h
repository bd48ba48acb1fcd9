/*
 * rnl — the runnel command line, built on librdkafka.
 *
 * Shape of the tool:
 *
 *   rnl.c      main(): global options, noun dispatch, usage, error printing,
 *              shared option parsing (rnl_*)
 *   client.c   librdkafka handles with rnl's defaults, the reachability
 *              check, metadata look-ups, admin result waits (client_*)
 *   mock.c     --mock: an in-process librdkafka mock cluster; `rnl mock`,
 *              a hidden command that serves one until killed (mock_*)
 *   topic.c    topic create/list/delete/add-partitions (topic_*); topic.h
 *              shares its usage text and admin client with describe.c
 *   describe.c topic describe: partitions, watermarks, configs (describe_*)
 *   topic_config*.c  topic describe --configs, topic alter-config
 *              (read-modify-write over AlterConfigs) (topic_config_*)
 *   topic_trim.c     topic trim: DeleteRecords (topic_trim_*)
 *   broker.c   broker describe / alter-config: a broker's dynamic configs
 *   produce.c  produce: stdin lines -> records (produce_*)
 *   consume.c  consume: assign() + poll up to the high watermarks (consume_*)
 *   format.c   consume --format templates (format_*)
 *   cluster.c  cluster info (cluster_*)
 *   group.c    group list/describe/delete/seek: consumer groups, lag,
 *              offset resets (group_*)
 *   txn*.c     txn list/describe: transactional ids (txn_*; txn.h)
 *   topic_producers.c  topic describe --producers: DescribeProducers
 *   wire.c     a raw Kafka client over the broker's own codec, for the
 *              admin APIs librdkafka 2.0.2 lacks (wire_*; wire.h)
 *
 * Exit codes: 0 success, 1 a failed operation (one "rnl: ..." line on
 * stderr), 2 a usage error. Everything runs on the main thread; librdkafka
 * callbacks are served from rd_kafka_poll() on that thread too.
 */
#ifndef RNL_RNL_H
#define RNL_RNL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

enum {
	RNL_EXIT_OK = 0,
	RNL_EXIT_FAIL = 1,  /* the operation failed */
	RNL_EXIT_USAGE = 2, /* bad command line */
};

#define RNL_DEFAULT_BROKERS "localhost:9092"
#define RNL_DEFAULT_TIMEOUT_MS 10000
#define RNL_MAX_PROPS 64

/* Options every command accepts, before or after the noun and verb. */
typedef struct rnl_ctx {
	const char *brokers;             /* bootstrap.servers; borrowed (argv, env or the mock) */
	int timeout_ms;                  /* deadline of each broker operation, ms */
	const char *props[RNL_MAX_PROPS]; /* -X key=value, borrowed from argv */
	size_t props_cnt;
	bool mock;                       /* --mock: use an in-process mock cluster */
	rd_kafka_t *mock_rk;             /* owns the mock cluster; NULL without --mock */
	rd_kafka_mock_cluster_t *mcluster; /* owned through mock_rk */
} rnl_ctx_t;

/* A command's entry point: argv[0] is the verb (or noun for one-word
 * commands). Returns an RNL_EXIT_* code. */
typedef int (rnl_cmd_fn)(rnl_ctx_t *ctx, int argc, char **argv);

/* ---- rnl.c: errors and option parsing shared by the commands ---- */

/* Prints "rnl: <message>" and a newline on stderr. */
void rnl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "rnl: <message>" and "try 'rnl <usage_of> --help'"; returns
 * RNL_EXIT_USAGE so callers can `return rnl_usage_error(...)`. */
int rnl_usage_error(const char *usage_of, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prints a usage text on stdout (for --help); returns RNL_EXIT_OK. */
int rnl_help(const char *text);

/* Prints only the "try 'rnl <usage_of> --help'" line (after an error that
 * was already printed); returns RNL_EXIT_USAGE. usage_of is "" or "topic ". */
int rnl_usage_hint(const char *usage_of);

/* Parses a decimal integer in [min, max] into *out. Returns false (and
 * prints a usage error naming `what`) on junk or out of range. */
bool rnl_parse_i64(const char *what, const char *s, int64_t min, int64_t max, int64_t *out);
bool rnl_parse_int(const char *what, const char *s, int min, int max, int *out);

/*
 * getopt_long() over a command's own options merged with the global ones
 * (--brokers, --timeout, -X, --mock, --help), so global options may follow
 * the verb. Returns the next command option as getopt_long() does; global
 * ones are applied to ctx and skipped. Returns 'h' for --help, '?' on a
 * usage error (already printed), -1 at the end. Call rnl_getopt_reset()
 * before the first call of a command. Not reentrant (getopt's globals).
 */
int rnl_getopt(rnl_ctx_t *ctx, int argc, char **argv, const char *shortopts,
	       const struct option *longopts);
void rnl_getopt_reset(void);

/* For two-word commands (`rnl topic create`): finds the verb among
 * argv[1..] (global options may precede it) and moves it to argv[1].
 * Returns 1 if found, 0 if there is none, -1 if --help comes first. */
int rnl_take_verb(int argc, char **argv);

/* Formats a duration in ms as "5s" or "2.5s" into buf. Returns buf. */
const char *rnl_fmt_secs(int ms, char *buf, size_t size);
/* Prints s as a JSON string to stdout (quotes, escapes); NULL prints null. */
void rnl_json_str(const char *s);

/* ---- commands ---- */
int topic_main(rnl_ctx_t *ctx, int argc, char **argv);
int describe_topic(rnl_ctx_t *ctx, int argc, char **argv);
int produce_main(rnl_ctx_t *ctx, int argc, char **argv);
int consume_main(rnl_ctx_t *ctx, int argc, char **argv);
int cluster_main(rnl_ctx_t *ctx, int argc, char **argv);
int group_main(rnl_ctx_t *ctx, int argc, char **argv);
int mock_main(rnl_ctx_t *ctx, int argc, char **argv);

#endif
