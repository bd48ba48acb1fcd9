/*
 * describe_transactions.c — DescribeTransactions (key 65, KIP-664): the
 * transaction coordinator's state of each transactional id asked for
 * (kafka-transactions.sh describe, Admin.describeTransactions, rnl txn
 * describe).
 *
 * Per id, in the request's order (Kafka 3.9
 * TransactionCoordinator.handleDescribeTransactions):
 *   - "": INVALID_REQUEST;
 *   - unknown, or DEAD (being expired): TRANSACTIONAL_ID_NOT_FOUND;
 *   - else NONE with the applied record (tcoord_find; a transition still
 *     being written is not shown): the state by Kafka's name
 *     (txn_state_name: "Empty", "Ongoing", "PrepareCommit", ...), the
 *     timeout, the start time (-1 when no transaction has started), the
 *     producer id and epoch, and the partitions of the transaction grouped
 *     by topic (the record keeps them sorted, so one pass groups them).
 *     Kafka lists, while PREPARE_x, only the partitions still waiting for
 *     a marker; the record here keeps all of them until COMPLETE_x.
 *   An error entry carries the id, and "" / 0 in the other fields (the
 *   schema's defaults, as Kafka sends).
 * COORDINATOR_NOT_AVAILABLE for every id when the coordinator is not
 * running.
 *
 * Threads and memory: the ids are copied on the loop; the job reads the
 * state machines on the coordinator thread (the only thread that changes
 * them) and copies what it answers into the request arena there.
 */
#include <string.h>

#include "api/api_int.h"
#include "coord/coord.h"
#include "proto_gen.h"
#include "txn/tcoord.h"
#include "util/err.h"

typedef struct describe_transactions_response_transaction_state state_resp;
typedef struct describe_transactions_response_topic_data topic_resp;

struct describe_job {
	struct coord_job job;        /* first: coord hands this pointer back */
	char **tids;                 /* arena, NUL-terminated; one per answer */
	struct describe_transactions_response *resp;
};

/* --------------------------------------------------- coordinator thread */

/* The number of distinct topics of rec (its partitions are sorted). */
static int32_t count_topics(const struct txn_rec *rec)
{
	int32_t n = 0;
	for (size_t i = 0; i < rec->ntps; i++)
		if (i == 0 || strcmp(rec->tps[i - 1].topic, rec->tps[i].topic) != 0)
			n++;
	return n;
}

/* Copies rec's partitions, grouped by topic, into sr. Returns false when
 * out of memory. */
static bool copy_topics(struct req *req, const struct txn_rec *rec, state_resp *sr)
{
	int32_t nt = count_topics(rec);
	topic_resp *topics = proto_new_array(&proto_describe_transactions_response_topic_data,
					     req->hdr.api_version, nt, &req->arena);
	int32_t *parts = arena_alloc(&req->arena, (rec->ntps ? rec->ntps : 1) * sizeof(*parts));
	if ((nt > 0 && !topics) || !parts)
		return false;
	bool oom = false;
	int32_t t = -1;
	for (size_t i = 0; i < rec->ntps; i++) {
		if (t < 0 || strcmp(rec->tps[i - 1].topic, rec->tps[i].topic) != 0) {
			t++;
			topics[t].topic = api_kstr_copy(req, rec->tps[i].topic, false, &oom);
			topics[t].partitions.items = &parts[i];
			topics[t].partitions.count = 0;
		}
		parts[i] = rec->tps[i].partition;
		topics[t].partitions.count++;
	}
	sr->topics.items = topics;
	sr->topics.count = nt;
	return !oom;
}

/* Fills one id's answer. Returns false when out of memory. */
static bool describe_one(struct req *req, const char *tid, state_resp *sr)
{
	bool pending, oom = false;
	if (!tid[0]) {
		sr->error_code = KAFKA_INVALID_REQUEST;
		return true;
	}
	const struct txn_rec *rec = tcoord_find(coord_txns(), tid, &pending);
	if (!rec || rec->state == TXN_DEAD) {
		sr->error_code = KAFKA_TRANSACTIONAL_ID_NOT_FOUND;
		return true;
	}
	sr->error_code = KAFKA_NONE;
	sr->transaction_state = api_kstr_copy(req, txn_state_name(rec->state), false, &oom);
	sr->transaction_timeout_ms = rec->timeout_ms;
	sr->transaction_start_time_ms = rec->start_ms;
	sr->producer_id = rec->pid;
	sr->producer_epoch = rec->epoch;
	return copy_topics(req, rec, sr) && !oom;
}

static void run_describe(struct coord_job *job)
{
	struct describe_job *dj = (struct describe_job *)job;
	for (int32_t i = 0; i < dj->resp->transaction_states.count; i++) {
		state_resp *sr = &dj->resp->transaction_states.items[i];
		if (!describe_one(job->req, dj->tids[i], sr)) {
			sr->error_code = KAFKA_UNKNOWN_SERVER_ERROR;
			sr->topics.count = 0;
		}
	}
	coord_finish(job);
}

/* ------------------------------------------------------- network loop */

static void reply_describe(struct coord_job *job)
{
	struct describe_job *dj = (struct describe_job *)job;
	api_respond(job->req, &proto_describe_transactions_response, dj->resp);
}

void api_describe_transactions(struct req *req)
{
	struct describe_transactions_request *rq = api_decode(req, &proto_describe_transactions_request);
	if (!rq)
		return;
	int32_t n = rq->transactional_ids.count > 0 ? rq->transactional_ids.count : 0;
	struct describe_job *dj = arena_alloc(&req->arena, sizeof(*dj));
	struct describe_transactions_response *resp = proto_new(&proto_describe_transactions_response,
								req->hdr.api_version, &req->arena);
	state_resp *states = proto_new_array(&proto_describe_transactions_response_transaction_state,
					     req->hdr.api_version, n, &req->arena);
	char **tids = arena_alloc(&req->arena, (n ? (size_t)n : 1) * sizeof(*tids));
	if (!dj || !resp || (n > 0 && !states) || !tids) {
		api_respond_close(req, "out of memory");
		return;
	}
	for (int32_t i = 0; i < n; i++) {
		states[i].transactional_id = rq->transactional_ids.items[i]; /* borrows the frame */
		tids[i] = api_strdup(req, rq->transactional_ids.items[i]);
		if (!tids[i]) {
			api_respond_close(req, "out of memory");
			return;
		}
	}
	resp->throttle_time_ms = 0;
	resp->transaction_states.items = states;
	resp->transaction_states.count = n;
	*dj = (struct describe_job){
		.job = { .req = req, .run = run_describe, .reply = reply_describe },
		.tids = tids,
		.resp = resp,
	};
	if (n == 0 || coord_submit(&dj->job) != 0) {
		for (int32_t i = 0; i < n; i++)
			states[i].error_code = KAFKA_COORDINATOR_NOT_AVAILABLE;
		api_respond(req, &proto_describe_transactions_response, resp);
	}
}
