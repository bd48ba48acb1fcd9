/*
 * end_txn.c — EndTxn (key 26): a transactional producer commits or aborts
 * its ongoing transaction.
 *
 * Flow (Kafka 3.9 KafkaApis.handleEndTxnRequest, then
 * TransactionCoordinator.endTransaction):
 *   1. network loop: TransactionalId "" is INVALID_REQUEST (the
 *      coordinator's first check; null cannot be decoded: the field is not
 *      nullable, so the connection closes, as Kafka's parser does).
 *   2. coordinator thread: coord_txn_end() — tcoord's EndTxn rules
 *      (src/txn/tcoord.h): INVALID_PRODUCER_ID_MAPPING for an unknown id or
 *      another producer id, PRODUCER_FENCED / INVALID_PRODUCER_EPOCH for
 *      another epoch, CONCURRENT_TRANSACTIONS while a transition or the
 *      markers of the previous transaction are in flight, INVALID_TXN_STATE
 *      when no transaction was begun (EMPTY; commit or abort, as Kafka 3.9)
 *      or for the other outcome of a completed one, NONE for a retry of a
 *      completed end and once PREPARE_COMMIT / PREPARE_ABORT is durable
 *      (the markers follow, as in Kafka, which answers before they are
 *      written).
 *   3. the code is the answer. When the coordinator is not running:
 *      COORDINATOR_NOT_AVAILABLE (retriable).
 *
 * Versions: v1 = v0; v2+ may be answered PRODUCER_FENCED, older versions
 * get INVALID_PRODUCER_EPOCH instead (Kafka's table: EndTxn, AddPartitions-
 * ToTxn and AddOffsetsToTxn know it from v2, InitProducerId from v4) — the
 * coordinator picks, from `fenced_ok`; v3 flexible. ThrottleTimeMs is 0.
 *
 * Threads and memory: decode on the connection's loop; the job (in the
 * request arena) runs on the coordinator thread, which owns the request
 * until the reply runs back on the loop.
 */
#include "api/api_int.h"
#include "coord/coord.h"
#include "proto_gen.h"
#include "util/err.h"

struct end_job {
	struct coord_job job;        /* first: coord hands this pointer back */
	const char *tid;             /* arena, NUL-terminated */
	int64_t pid;
	int16_t epoch;
	bool commit;
	bool fenced_ok;              /* v2+: PRODUCER_FENCED is understood */
	struct end_txn_response *resp;
};

/* --------------------------------------------------- coordinator thread */

static void on_ended(struct coord_job *job, int err, int64_t pid, int16_t epoch)
{
	struct end_job *ej = (struct end_job *)job;
	ej->resp->error_code = (int16_t)err;
	coord_finish(job);
}

static void run_end(struct coord_job *job)
{
	struct end_job *ej = (struct end_job *)job;
	coord_txn_end(job, ej->tid, ej->pid, ej->epoch, ej->commit, ej->fenced_ok, on_ended);
}

/* ------------------------------------------------------- network loop */

static void reply_end(struct coord_job *job)
{
	struct end_job *ej = (struct end_job *)job;
	api_respond(job->req, &proto_end_txn_response, ej->resp);
}

void api_end_txn(struct req *req)
{
	struct end_txn_request *rq = api_decode(req, &proto_end_txn_request);
	if (!rq)
		return;
	struct end_job *ej = arena_alloc(&req->arena, sizeof(*ej));
	struct end_txn_response *resp = proto_new(&proto_end_txn_response, req->hdr.api_version,
						  &req->arena);
	char *tid = api_strdup(req, rq->transactional_id);
	if (!ej || !resp || !tid) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->throttle_time_ms = 0;
	if (tid[0] == '\0') {
		resp->error_code = KAFKA_INVALID_REQUEST;
		api_respond(req, &proto_end_txn_response, resp);
		return;
	}
	*ej = (struct end_job){
		.job = { .req = req, .run = run_end, .reply = reply_end },
		.tid = tid,
		.pid = rq->producer_id,
		.epoch = rq->producer_epoch,
		.commit = rq->committed,
		.fenced_ok = req->hdr.api_version >= 2,
		.resp = resp,
	};
	if (coord_submit(&ej->job) != 0) {
		resp->error_code = KAFKA_COORDINATOR_NOT_AVAILABLE;
		api_respond(req, &proto_end_txn_response, resp);
	}
}
