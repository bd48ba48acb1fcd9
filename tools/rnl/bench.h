/*
 * bench — `rnl bench produce|consume|e2e`: what the bench files share.
 *
 *   bench.c          bench_main: options, usage, dispatch; the pieces every
 *                    mode uses: clocks, pacing, payloads, keys, topic
 *                    creation, producer configuration, progress lines
 *   bench_proc.c     CPU and memory of this process and of the broker
 *                    (/proc), finding a local broker's pid (bench_proc_*)
 *   bench_report.c   the result as a table or one JSON object
 *   bench_produce.c  produce: throughput and delivery latency
 *   bench_consume.c  consume: throughput (assign(), all partitions)
 *   bench_e2e.c      e2e: fixed-rate producer, consumer thread, latency
 *                    from a timestamp carried in the payload
 *   hist.c           the latency histogram (hist.h)
 *
 * Threads: everything runs on the main thread, except the e2e consumer
 * (its own thread, its own librdkafka handle and histogram; see
 * bench_e2e.c). Times are CLOCK_MONOTONIC nanoseconds unless named _us/_s.
 */
#ifndef RNL_BENCH_H
#define RNL_BENCH_H

#include "client.h"
#include "hist.h"

#include <stdio.h>

typedef enum bench_mode { BENCH_PRODUCE, BENCH_CONSUME, BENCH_E2E } bench_mode_t;
typedef enum bench_keys { BENCH_KEYS_NONE, BENCH_KEYS_SEQ, BENCH_KEYS_RANDOM } bench_keys_t;

#define BENCH_E2E_HEADER 32         /* bytes of the e2e payload header */
#define BENCH_STALL_US 50000        /* e2e: a latency above this is a stall */

/* The command line of one bench run. */
typedef struct bench_args {
	bench_mode_t mode;
	const char *mode_name;      /* "produce", "consume", "e2e" */
	const char *topic;          /* borrowed from argv */
	int size;                   /* value bytes per record */
	int64_t count;              /* records to send/read; -1: not limited by count */
	double duration_s;          /* seconds to run; 0: not limited by time */
	int partitions;             /* create the topic with this many; 0: not given */
	const char *acks;           /* "0", "1", "all" */
	int linger_ms;              /* -1: librdkafka's default */
	int batch_size;             /* bytes; -1: librdkafka's default */
	const char *compression;    /* "none", "gzip", ... */
	bench_keys_t keys;
	int64_t key_space;          /* --keys random:N: keys drawn from 0..N-1 */
	const char *keys_spec;      /* as given, for the report */
	double rate;                /* records/s; 0: as fast as possible */
	int tick_us;                /* --tick-us: pacing granularity, see bench_pace() */
	bool from_end;              /* consume --from end */
	int64_t prefill;            /* consume: records produced before reading */
	int broker_pid;             /* --broker-pid; 0: auto-detect; -1: --no-broker-stats */
	bool json;
	bool quiet;
	bool progress;              /* --progress: lines even when stderr is no tty */
} bench_args_t;

/* CPU time and memory of a process. */
typedef struct bench_usage {
	double user_s;              /* utime, seconds */
	double sys_s;               /* stime, seconds */
	long rss_kb;                /* VmRSS now, KiB; -1 unknown */
	long hwm_kb;                /* VmHWM (peak RSS since the process started), KiB */
	bool ok;                    /* read successfully */
} bench_usage_t;

/* What a run measured; filled by the mode, printed by bench_report(). */
typedef struct bench_result {
	int64_t sent;               /* records handed to librdkafka (produce, e2e) */
	int64_t messages;           /* produce: acknowledged; consume, e2e: received */
	int64_t bytes;              /* key + value bytes of `messages` */
	int64_t failed;             /* deliveries that failed */
	int64_t lost;               /* e2e: acknowledged but never received */
	int64_t stalls;             /* e2e: runs of records later than BENCH_STALL_US */
	int64_t late;               /* e2e: records later than BENCH_STALL_US */
	int64_t send_lag_max_us;    /* e2e, --rate: worst lateness of a send vs schedule */
	hist_t *send_lag;           /* e2e: due -> handed to librdkafka, us; owned, may be NULL */
	double elapsed_s;           /* measured interval */
	double first_ms;            /* consume: from assign() to the first record */
	int partitions;             /* of the topic */
	hist_t *lat;                /* owned; NULL for consume */
	char first_error[256];      /* first delivery/consume error, "" if none */
} bench_result_t;

/* A run in progress: start snapshots, sampling and progress lines. */
typedef struct bench_run {
	const bench_args_t *args;
	rnl_ctx_t *ctx;
	int64_t t0;                 /* start of the measured interval */
	int64_t next_progress;      /* when the next progress line is due */
	int64_t next_sample;        /* when broker RSS is sampled next */
	int64_t last_msgs;          /* at the previous progress line */
	int64_t last_t;
	bool progress;              /* progress lines on */
	int broker_pid;             /* 0: none */
	bool broker_auto;           /* pid was auto-detected */
	bench_usage_t client0, client1;
	bench_usage_t broker0, broker1;
	long broker_rss_max_kb;     /* max VmRSS sampled during the run */
	bench_usage_t mock0, mock1; /* --mock: the mock cluster's threads */
} bench_run_t;

/* ---- bench.c ---- */

/* `rnl bench MODE ...` (registered in rnl.c). */
int bench_main(rnl_ctx_t *ctx, int argc, char **argv);

int64_t bench_now(void);

/* Sleeps until monotonic time `until` (absolute, so no drift), serving
 * rk's callbacks meanwhile when rk is given. */
void bench_wait_until(rd_kafka_t *rk, int64_t until);

/* Waits until record `due` may be sent. When it is not due yet, sleeps
 * until args->tick_us after it: the sender wakes at most once per tick and
 * then sends every record due by then, instead of once per record (at
 * 20,000/s a wake-up per record cost this 2-core VM more than the records:
 * e2e p99 12 ms against 3-5 ms with 250 us ticks). Latency still counts
 * from `due`, so the tick's wait is charged to the result, not hidden. */
void bench_pace(rd_kafka_t *rk, const bench_args_t *a, int64_t due);

/* Intended send time of record `seq` at args->rate from t0. */
int64_t bench_intended(const bench_args_t *a, int64_t t0, int64_t seq);

/* A buffer of pseudo-random printable bytes; bench_payload(i) points at
 * args->size bytes of it that differ from record to record. */
bool bench_payload_init(int size);
const char *bench_payload(int64_t seq);
void bench_payload_fini(void);

/* The key of record seq into buf (size >= 24); returns its length, 0 for
 * no key. */
size_t bench_key(const bench_args_t *a, int64_t seq, char *buf);

/* A producer conf from the bench options (acks, linger, batch size,
 * compression, big queues), -X applied last. NULL after printing. */
rd_kafka_conf_t *bench_producer_conf(rnl_ctx_t *ctx, const bench_args_t *a, bool *usage);

/* The topic's partition count; creates it when missing (with
 * --partitions N, else 1) if `create`. Returns -1 after printing. */
int bench_topic(client_t *cl, const bench_args_t *a, bool create);

/* Starts the measured interval: CPU snapshots, progress set-up. */
void bench_run_start(bench_run_t *run, rnl_ctx_t *ctx, const bench_args_t *a);

/* Called often from the mode's loop: samples the broker's RSS (10/s) and
 * prints a progress line each second (from the 2nd second on) when on:
 * "  3s  <done> <verb>  <N> msgs/s  <extra>". */
void bench_tick(bench_run_t *run, int64_t now, int64_t done, const char *verb,
		const char *extra);

/* Ends the measured interval (CPU snapshots). */
void bench_run_stop(bench_run_t *run);

/* True when --duration has passed or --count is reached. */
bool bench_done(const bench_args_t *a, int64_t t0, int64_t now, int64_t n);

/* With --rate: true when record seq is past --count or due at or after
 * the end of --duration (so a run sends exactly rate x duration records,
 * even if the sender fell behind). */
bool bench_done_due(const bench_args_t *a, int64_t t0, int64_t seq);

/* ---- modes ---- */
int bench_produce(rnl_ctx_t *ctx, const bench_args_t *a, bench_run_t *run, bench_result_t *res);
int bench_consume(rnl_ctx_t *ctx, const bench_args_t *a, bench_run_t *run, bench_result_t *res);
int bench_e2e(rnl_ctx_t *ctx, const bench_args_t *a, bench_run_t *run, bench_result_t *res);

/* Produces n records as fast as possible, unmeasured (consume --prefill).
 * Returns RNL_EXIT_OK or the exit code after printing. */
int bench_prefill(rnl_ctx_t *ctx, const bench_args_t *a, int64_t n);

/* ---- bench_proc.c ---- */

/* This process's CPU (getrusage) and memory. */
void bench_proc_self(bench_usage_t *u);

/* Another process's CPU (/proc/PID/stat) and memory (/proc/PID/status). */
void bench_proc_read(int pid, bench_usage_t *u);

/* VmRSS of pid in KiB, -1 if unreadable. */
long bench_proc_rss(int pid);

/* CPU of this process's threads whose name starts with prefix (the mock
 * cluster's thread). */
void bench_proc_threads(const char *prefix, bench_usage_t *u);

/* The pid of the one process named "runnel" listening on the bootstrap's
 * port when the bootstrap is a single localhost address; 0 otherwise. */
int bench_proc_find_broker(const char *brokers);

/* ---- bench_report.c ---- */

/* Prints the result on stdout: a table, or one JSON object with --json. */
void bench_report(const bench_run_t *run, const bench_result_t *res);

#endif
