/*
 * bench_report — a bench result as a table for people or, with --json, one
 * JSON object on one line for scripts. docs/bench.md lists every field.
 *
 * Units: MB = 10^6 bytes; latency in the JSON in microseconds (integers),
 * in the table in milliseconds; CPU in seconds; memory in KiB (JSON) or
 * MiB (table).
 *
 * Broker figures: from /proc for a broker process (--broker-pid or found);
 * with --mock, from the mock cluster's threads inside this process, whose
 * CPU is then taken out of the client's figure so the two compare with a
 * real broker's run. A mock has no RSS of its own (null).
 */
#include "bench.h"

#include <string.h>
#include <unistd.h>

/* The figures derived from a run, computed once for both formats. */
typedef struct figures {
	double msgs_per_s;
	double mb_per_s;
	double client_user, client_sys;
	bool broker;                  /* broker figures available */
	bool mock;                    /* ... from the mock's threads */
	int broker_pid;
	double broker_user, broker_sys;
	long broker_hwm_kb;           /* -1: unknown */
	long broker_rss_max_kb;       /* -1: unknown */
} figures_t;

static void figures(const bench_run_t *run, const bench_result_t *res, figures_t *f)
{
	const bench_usage_t *c0 = &run->client0, *c1 = &run->client1;

	*f = (figures_t){ .broker_hwm_kb = -1, .broker_rss_max_kb = -1 };
	if (res->elapsed_s > 0) {
		f->msgs_per_s = (double)res->messages / res->elapsed_s;
		f->mb_per_s = (double)res->bytes / 1e6 / res->elapsed_s;
	}
	f->client_user = c1->user_s - c0->user_s;
	f->client_sys = c1->sys_s - c0->sys_s;
	if (run->ctx && run->ctx->mock && run->mock0.ok && run->mock1.ok) {
		f->broker = f->mock = true;
		f->broker_pid = (int)getpid();
		f->broker_user = run->mock1.user_s - run->mock0.user_s;
		f->broker_sys = run->mock1.sys_s - run->mock0.sys_s;
		f->client_user -= f->broker_user;
		f->client_sys -= f->broker_sys;
	} else if (run->broker_pid > 0 && run->broker0.ok && run->broker1.ok) {
		f->broker = true;
		f->broker_pid = run->broker_pid;
		f->broker_user = run->broker1.user_s - run->broker0.user_s;
		f->broker_sys = run->broker1.sys_s - run->broker0.sys_s;
		f->broker_rss_max_kb = run->broker_rss_max_kb;
		/* VmHWM >= VmRSS, but the kernel's RSS counters are synced
		 * lazily: a sample may exceed a later VmHWM by a few pages. */
		f->broker_hwm_kb = run->broker1.hwm_kb > f->broker_rss_max_kb
					   ? run->broker1.hwm_kb : f->broker_rss_max_kb;
	}
}

/* ---- JSON ---- */

static void json_str(const char *key, const char *s, const char *sep)
{
	printf("\"%s\":", key);
	rnl_json_str(s);
	fputs(sep, stdout);
}

static void json_latency(const hist_t *h)
{
	if (!h) {
		printf("\"latency_us\":null,");
		return;
	}
	printf("\"latency_us\":{\"count\":%llu,\"min\":%lld,\"mean\":%.1f,\"p50\":%lld,"
	       "\"p90\":%lld,\"p99\":%lld,\"p99_9\":%lld,\"max\":%lld},",
	       (unsigned long long)hist_count(h), (long long)hist_min(h), hist_mean(h),
	       (long long)hist_percentile(h, 50), (long long)hist_percentile(h, 90),
	       (long long)hist_percentile(h, 99), (long long)hist_percentile(h, 99.9),
	       (long long)hist_max(h));
}

static void json_kb(const char *key, long kb, const char *sep)
{
	if (kb >= 0)
		printf("\"%s\":%ld%s", key, kb, sep);
	else
		printf("\"%s\":null%s", key, sep);
}

static void json_broker(const figures_t *f, const bench_run_t *run)
{
	double client = f->client_user + f->client_sys;

	if (!f->broker) {
		printf("\"broker\":null,\"broker_cpu_per_client_cpu\":null");
		return;
	}
	printf("\"broker\":{\"pid\":%d,\"mock\":%s,\"auto_detected\":%s,\"cpu_s\":%.3f,"
	       "\"user_s\":%.3f,\"sys_s\":%.3f,", f->broker_pid, f->mock ? "true" : "false",
	       run->broker_auto ? "true" : "false", f->broker_user + f->broker_sys,
	       f->broker_user, f->broker_sys);
	json_kb("peak_rss_kb", f->broker_hwm_kb, ",");
	json_kb("rss_max_kb", f->broker_rss_max_kb, "},");
	if (client > 0)
		printf("\"broker_cpu_per_client_cpu\":%.3f", (f->broker_user + f->broker_sys) / client);
	else
		printf("\"broker_cpu_per_client_cpu\":null");
}

static void report_json(const bench_run_t *run, const bench_result_t *res, const figures_t *f)
{
	const bench_args_t *a = run->args;

	putchar('{');
	json_str("mode", a->mode_name, ",");
	json_str("topic", a->topic, ",");
	json_str("brokers", run->ctx->brokers, ",");
	printf("\"mock\":%s,\"size\":%d,\"partitions\":%d,", run->ctx->mock ? "true" : "false",
	       a->size, res->partitions);
	if (a->mode != BENCH_CONSUME) {
		json_str("acks", a->acks, ",");
		printf("\"linger_ms\":%d,\"batch_size\":%d,", a->linger_ms, a->batch_size);
		json_str("compression", a->compression, ",");
		json_str("keys", a->keys_spec, ",");
		printf("\"rate\":%.3f,\"tick_us\":%d,", a->rate, a->tick_us);
	} else {
		json_str("from", a->from_end ? "end" : "beginning", ",");
		printf("\"first_record_ms\":%.3f,", res->first_ms);
	}
	printf("\"sent\":%lld,\"messages\":%lld,\"failed\":%lld,\"lost\":%lld,\"bytes\":%lld,"
	       "\"elapsed_s\":%.6f,\"msgs_per_s\":%.1f,\"mb_per_s\":%.3f,", (long long)res->sent,
	       (long long)res->messages, (long long)res->failed, (long long)res->lost,
	       (long long)res->bytes, res->elapsed_s, f->msgs_per_s, f->mb_per_s);
	json_latency(res->lat);
	if (a->mode == BENCH_E2E)
		printf("\"stall_threshold_us\":%d,\"stalls\":%lld,\"late\":%lld,"
		       "\"send_lag_max_us\":%lld,", BENCH_STALL_US, (long long)res->stalls,
		       (long long)res->late, (long long)res->send_lag_max_us);
	if (res->send_lag)
		printf("\"send_lag_p50_us\":%lld,\"send_lag_p99_us\":%lld,",
		       (long long)hist_percentile(res->send_lag, 50),
		       (long long)hist_percentile(res->send_lag, 99));
	printf("\"client\":{\"cpu_s\":%.3f,\"user_s\":%.3f,\"sys_s\":%.3f,",
	       f->client_user + f->client_sys, f->client_user, f->client_sys);
	json_kb("peak_rss_kb", run->client1.hwm_kb, "},");
	json_broker(f, run);
	printf("}\n");
}

/* ---- table ---- */

static double ms(int64_t us)
{
	return (double)us / 1000.0;
}

static void table_header(const bench_run_t *run, const bench_result_t *res)
{
	const bench_args_t *a = run->args;

	printf("bench %s \"%s\" on %s%s: %d-byte values, %d partition%s", a->mode_name, a->topic,
	       run->ctx->mock ? "the mock cluster " : "", run->ctx->brokers, a->size,
	       res->partitions, res->partitions == 1 ? "" : "s");
	if (a->mode == BENCH_CONSUME) {
		printf(", from %s\n", a->from_end ? "end" : "beginning");
		return;
	}
	printf(", acks=%s, compression=%s, keys=%s", a->acks, a->compression, a->keys_spec);
	if (a->linger_ms >= 0)
		printf(", linger.ms=%d", a->linger_ms);
	if (a->batch_size >= 0)
		printf(", batch.size=%d", a->batch_size);
	if (a->rate > 0)
		printf(", rate=%g/s, tick %d us", a->rate, a->tick_us);
	putchar('\n');
}

static void table_records(const bench_run_t *run, const bench_result_t *res, const figures_t *f)
{
	switch (run->args->mode) {
	case BENCH_PRODUCE:
		printf("  records      %lld acknowledged of %lld sent, %lld failed\n",
		       (long long)res->messages, (long long)res->sent, (long long)res->failed);
		break;
	case BENCH_CONSUME:
		printf("  records      %lld read (first after %.1f ms)\n", (long long)res->messages,
		       res->first_ms);
		break;
	case BENCH_E2E:
		printf("  records      %lld sent, %lld received, %lld failed, %lld lost\n",
		       (long long)res->sent, (long long)res->messages, (long long)res->failed,
		       (long long)res->lost);
		break;
	}
	printf("  throughput   %.0f msgs/s, %.2f MB/s over %.3f s\n", f->msgs_per_s, f->mb_per_s,
	       res->elapsed_s);
}

static void table_latency(const bench_run_t *run, const bench_result_t *res)
{
	const hist_t *h = res->lat;

	if (!h)
		return;
	printf("  latency ms   p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  (mean %.3f, "
	       "%s)\n", ms(hist_percentile(h, 50)), ms(hist_percentile(h, 90)),
	       ms(hist_percentile(h, 99)), ms(hist_percentile(h, 99.9)), ms(hist_max(h)),
	       hist_mean(h) / 1000.0,
	       run->args->mode == BENCH_E2E ? "due to received" : "produce call to delivery report");
	if (run->args->mode == BENCH_E2E)
		printf("  stalls       %lld over %d ms (%lld records late)\n", (long long)res->stalls,
		       BENCH_STALL_US / 1000, (long long)res->late);
	if (res->send_lag)
		printf("  sender lag   p50 %.3f  p99 %.3f  max %.3f ms (due to handed to librdkafka)\n",
		       ms(hist_percentile(res->send_lag, 50)), ms(hist_percentile(res->send_lag, 99)),
		       ms(res->send_lag_max_us));
}

static void table_cpu(const bench_run_t *run, const figures_t *f)
{
	double client = f->client_user + f->client_sys, broker = f->broker_user + f->broker_sys;

	printf("  client cpu   %.3f s (user %.3f, sys %.3f)%s\n", client, f->client_user,
	       f->client_sys, f->mock ? ", without the mock's threads" : "");
	if (!f->broker) {
		printf("  broker       not measured (give --broker-pid PID for a local broker)\n");
		return;
	}
	printf("  broker cpu   %.3f s (user %.3f, sys %.3f)", broker, f->broker_user,
	       f->broker_sys);
	if (client > 0)
		printf(" = %.2f x client", broker / client);
	if (f->mock)
		printf("; the mock cluster's threads in this process\n");
	else
		printf("; pid %d%s\n", f->broker_pid, run->broker_auto ? " (found)" : "");
	if (f->broker_hwm_kb >= 0)
		printf("  broker rss   peak %.1f MiB (VmHWM), %.1f MiB max during the run\n",
		       (double)f->broker_hwm_kb / 1024.0, (double)f->broker_rss_max_kb / 1024.0);
}

void bench_report(const bench_run_t *run, const bench_result_t *res)
{
	figures_t f;

	if (!run->args || !run->ctx)
		return; /* failed before the measured interval began */
	figures(run, res, &f);
	if (run->args->json) {
		report_json(run, res, &f);
	} else {
		table_header(run, res);
		table_records(run, res, &f);
		table_latency(run, res);
		table_cpu(run, &f);
	}
	fflush(stdout);
}
