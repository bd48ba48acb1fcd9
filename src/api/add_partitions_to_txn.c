/*
 * add_partitions_to_txn.c — AddPartitionsToTxn (key 24, client versions
 * 0-3): a transactional producer names the partitions it is about to
 * produce to, before its first batch to each. Only partitions added here
 * (durably) accept the producer's transactional batches (KIP-890's
 * server-side check, treg.h), and only they get the transaction's markers.
 *
 * Flow (Kafka 3.9 KafkaApis.handleAddPartitionsToTxnRequest for v < 4,
 * then TransactionCoordinator.handleAddPartitionsToTransaction):
 *   1. network loop, per partition, in this order:
 *        - an internal topic (__consumer_offsets, __transaction_state):
 *          TOPIC_AUTHORIZATION_FAILED (Kafka authorises WRITE only on
 *          non-internal topics here; offsets join through AddOffsetsToTxn);
 *        - a topic that does not exist or a partition out of its range:
 *          UNKNOWN_TOPIC_OR_PARTITION.
 *      When any partition failed, nothing is added: the others answer
 *      OPERATION_NOT_ATTEMPTED and the coordinator is not asked.
 *   2. TransactionalId "": INVALID_REQUEST for every partition (the
 *      coordinator's first check).
 *   3. coordinator thread: coord_txn_add_partitions() with the distinct
 *      partitions (sorted, duplicates dropped here so that a request naming
 *      one partition many times costs the coordinator one entry) — tcoord's
 *      rules (src/txn/tcoord.h): INVALID_PRODUCER_ID_MAPPING,
 *      PRODUCER_FENCED / INVALID_PRODUCER_EPOCH, CONCURRENT_TRANSACTIONS,
 *      or NONE once the ONGOING record with the union is durable (at once
 *      when every partition is already in the ongoing transaction). Its one
 *      code is every partition's answer. COORDINATOR_NOT_AVAILABLE when the
 *      coordinator is not running.
 * The answer lists topics and partitions in the request's order; one named
 * twice is answered twice (Kafka's answer is a map and would merge them).
 *
 * Versions: v1 = v0; v2+ may be answered PRODUCER_FENCED (older versions:
 * INVALID_PRODUCER_EPOCH; see end_txn.c); v3 flexible. v4+ (the brokers'
 * batched verify form) is not served. ThrottleTimeMs 0.
 *
 * Size: the request is bounded by the frame (codec counts are checked
 * against the bytes left); every allocation is in the request arena, one
 * coord_tp per partition entry.
 *
 * Threads and memory: as end_txn.c; the response is built on the loop
 * before the job is submitted, the coordinator thread only fills codes.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "coord/coord.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"

typedef struct add_partitions_to_txn_request_add_partitions_to_txn_topic topic_req;
typedef struct add_partitions_to_txn_response_add_partitions_to_txn_topic_result topic_resp;
typedef struct add_partitions_to_txn_response_add_partitions_to_txn_partition_result part_resp;

struct add_job {
	struct coord_job job;        /* first: coord hands this pointer back */
	const char *tid;             /* arena, NUL-terminated */
	int64_t pid;
	int16_t epoch;
	bool fenced_ok;              /* v2+ */
	struct coord_tp *tps;        /* arena: the valid partitions, later sorted + unique */
	size_t n;
	bool failed;                 /* some partition failed step 1 */
	struct add_partitions_to_txn_response *resp;
};

/* Sets every partition's code that is still NONE (all of them, unless
 * step 1 failed some). */
static void answer_all(struct add_partitions_to_txn_response *resp, int16_t err)
{
	for (int32_t i = 0; i < resp->results_by_topic_v3_and_below.count; i++) {
		topic_resp *tr = &resp->results_by_topic_v3_and_below.items[i];
		for (int32_t j = 0; j < tr->results_by_partition.count; j++)
			if (tr->results_by_partition.items[j].partition_error_code == KAFKA_NONE)
				tr->results_by_partition.items[j].partition_error_code = err;
	}
}

/* --------------------------------------------------- coordinator thread */

static void on_added(struct coord_job *job, int err, int64_t pid, int16_t epoch)
{
	struct add_job *aj = (struct add_job *)job;
	answer_all(aj->resp, (int16_t)err);
	coord_finish(job);
}

static void run_add(struct coord_job *job)
{
	struct add_job *aj = (struct add_job *)job;
	coord_txn_add_partitions(job, aj->tid, aj->pid, aj->epoch, aj->tps, aj->n, aj->fenced_ok,
				 on_added);
}

/* ------------------------------------------------------- network loop */

static void reply_add(struct coord_job *job)
{
	struct add_job *aj = (struct add_job *)job;
	api_respond(job->req, &proto_add_partitions_to_txn_response, aj->resp);
}

/* Kafka's Topic.isInternal. */
static bool internal_topic(const struct topic *t)
{
	return strcmp(t->name, "__consumer_offsets") == 0 || strcmp(t->name, "__transaction_state") == 0;
}

/* Step 1 for one topic: fills its answer (failures; NONE for the valid
 * partitions) and appends the valid partitions to aj->tps. Returns 0, or
 * -1 when out of memory. */
static int check_topic(struct req *req, struct add_job *aj, const topic_req *tq, topic_resp *tr)
{
	int32_t np = tq->partitions.count > 0 ? tq->partitions.count : 0;
	tr->name = tq->name; /* borrows the frame, which outlives the answer */
	tr->results_by_partition.count = np;
	tr->results_by_partition.items = proto_new_array(
		&proto_add_partitions_to_txn_response_add_partitions_to_txn_partition_result,
		req->hdr.api_version, np, &req->arena);
	if (np > 0 && !tr->results_by_partition.items)
		return -1;
	struct topic *t = meta_topic_find(g_broker->meta, tq->name.ptr, (size_t)tq->name.len);
	int16_t topic_err = !t ? KAFKA_UNKNOWN_TOPIC_OR_PARTITION
		: internal_topic(t) ? KAFKA_TOPIC_AUTHORIZATION_FAILED : KAFKA_NONE;
	char *name = topic_err == KAFKA_NONE ? api_strdup(req, tq->name) : NULL;
	int rc = topic_err == KAFKA_NONE && !name ? -1 : 0;
	for (int32_t j = 0; rc == 0 && j < np; j++) {
		int32_t index = tq->partitions.items[j];
		part_resp *pr = &tr->results_by_partition.items[j];
		pr->partition_index = index;
		pr->partition_error_code = topic_err;
		if (topic_err == KAFKA_NONE && (index < 0 || index >= t->npartitions))
			pr->partition_error_code = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
		if (pr->partition_error_code != KAFKA_NONE) {
			aj->failed = true;
			continue;
		}
		aj->tps[aj->n++] = (struct coord_tp){ .topic = name, .partition = index };
	}
	topic_unref(t);
	return rc;
}

static int tp_cmp(const void *a, const void *b)
{
	const struct coord_tp *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);
	return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Sorts aj->tps and drops repeats. */
static void tps_unique(struct add_job *aj)
{
	if (aj->n < 2)
		return;
	qsort(aj->tps, aj->n, sizeof(*aj->tps), tp_cmp);
	size_t m = 1;
	for (size_t i = 1; i < aj->n; i++)
		if (tp_cmp(&aj->tps[m - 1], &aj->tps[i]) != 0)
			aj->tps[m++] = aj->tps[i];
	aj->n = m;
}

/* Builds the answer and the valid partitions. Returns 0, or -1 when out of
 * memory. */
static int prepare(struct req *req, const struct add_partitions_to_txn_request *rq,
		   struct add_job *aj)
{
	int16_t v = req->hdr.api_version;
	int32_t nt = rq->v3_and_below_topics.count > 0 ? rq->v3_and_below_topics.count : 0;
	size_t np = 0;
	for (int32_t i = 0; i < nt; i++)
		np += (size_t)(rq->v3_and_below_topics.items[i].partitions.count > 0
			       ? rq->v3_and_below_topics.items[i].partitions.count : 0);
	aj->resp = proto_new(&proto_add_partitions_to_txn_response, v, &req->arena);
	aj->tps = arena_alloc(&req->arena, (np ? np : 1) * sizeof(*aj->tps));
	if (!aj->resp || !aj->tps)
		return -1;
	aj->resp->throttle_time_ms = 0;
	aj->resp->results_by_topic_v3_and_below.count = nt;
	aj->resp->results_by_topic_v3_and_below.items = proto_new_array(
		&proto_add_partitions_to_txn_response_add_partitions_to_txn_topic_result, v, nt,
		&req->arena);
	if (nt > 0 && !aj->resp->results_by_topic_v3_and_below.items)
		return -1;
	for (int32_t i = 0; i < nt; i++)
		if (check_topic(req, aj, &rq->v3_and_below_topics.items[i],
				&aj->resp->results_by_topic_v3_and_below.items[i]) != 0)
			return -1;
	return 0;
}

void api_add_partitions_to_txn(struct req *req)
{
	struct add_partitions_to_txn_request *rq = api_decode(req, &proto_add_partitions_to_txn_request);
	if (!rq)
		return;
	struct add_job *aj = arena_alloc(&req->arena, sizeof(*aj));
	if (aj)
		*aj = (struct add_job){
			.job = { .req = req, .run = run_add, .reply = reply_add },
			.tid = api_strdup(req, rq->v3_and_below_transactional_id),
			.pid = rq->v3_and_below_producer_id,
			.epoch = rq->v3_and_below_producer_epoch,
			.fenced_ok = req->hdr.api_version >= 2,
		};
	if (!aj || !aj->tid || prepare(req, rq, aj) != 0) {
		api_respond_close(req, "out of memory");
		return;
	}
	if (aj->failed || aj->tid[0] == '\0') {
		answer_all(aj->resp, aj->failed ? KAFKA_OPERATION_NOT_ATTEMPTED : KAFKA_INVALID_REQUEST);
		api_respond(req, &proto_add_partitions_to_txn_response, aj->resp);
		return;
	}
	tps_unique(aj);
	if (coord_submit(&aj->job) != 0) {
		answer_all(aj->resp, KAFKA_COORDINATOR_NOT_AVAILABLE);
		api_respond(req, &proto_add_partitions_to_txn_response, aj->resp);
	}
}
