/*
 * init_producer_id.c — InitProducerId (key 22): a producer id and epoch for
 * an idempotent producer, or for a transactional one (its transactional.id
 * then names the producer across restarts: the transaction coordinator
 * keeps its id and bumps its epoch).
 *
 * Kafka's answers (KafkaApis.handleInitProducerIdRequest and
 * TransactionCoordinator.handleInitProducerId, 3.9), in order:
 *   1. v3+ ProducerId/ProducerEpoch: both -1 (a first call) or both set (a
 *      bump after an error); one -1 without the other is INVALID_REQUEST.
 *   2. TransactionalId null: a fresh producer id with epoch 0, whatever
 *      ProducerId/ProducerEpoch say — Kafka "blindly accepts" the request
 *      and never bumps an idempotent producer's epoch, since a new id makes
 *      the old one's state irrelevant. TransactionTimeoutMs is ignored.
 *   3. TransactionalId "": INVALID_REQUEST.
 *   4. TransactionTimeoutMs <= 0 or > transaction.max.timeout.ms:
 *      INVALID_TRANSACTION_TIMEOUT.
 *   5. __transaction_state cannot be created (coord_txn_ensure_topic):
 *      COORDINATOR_NOT_AVAILABLE (retriable).
 *   6. the transaction coordinator (coord_txn_init_pid on its thread;
 *      tcoord.h has the rules): a new id gets a fresh producer id with
 *      epoch 0; a known one its next epoch (fencing older instances, and
 *      aborting a transaction the previous instance left open: the first
 *      answer is then CONCURRENT_TRANSACTIONS and the client retries);
 *      CONCURRENT_TRANSACTIONS while a transition or markers are in flight;
 *      a v3+ ProducerId/ProducerEpoch that is neither the current nor the
 *      previous pair: PRODUCER_FENCED from v4 (`fenced_ok`), else
 *      INVALID_PRODUCER_EPOCH. COORDINATOR_NOT_AVAILABLE when the
 *      coordinator is not running.
 *
 * Producer ids (of both kinds) come from meta_producer_id_next
 * (src/meta/pids.c): blocks reserved durably in the metadata log, so an id
 * never repeats, also across crashes. A new block costs one metadata
 * fdatasync, once per 1000 producers.
 *
 * Versions: v1 = v0; v2 flexible; v3 adds ProducerId/ProducerEpoch; v4 =
 * v3 and may be answered PRODUCER_FENCED. ThrottleTimeMs is always 0.
 * Every error answer carries ProducerId -1 and ProducerEpoch -1 (Kafka's
 * NO_PRODUCER_ID / NO_PRODUCER_EPOCH).
 *
 * Threads: the connection's loop thread; step 6 runs as a coordinator job
 * (coord.h), whose request and answer live in the request arena and are
 * the coordinator thread's until the reply runs back on the loop.
 */
#include "api/api_int.h"
#include "coord/coord.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"

struct init_job {
	struct coord_job job;        /* first: coord hands this pointer back */
	const char *tid;             /* arena, NUL-terminated */
	int32_t timeout_ms;
	int64_t pid;                 /* v3+: the caller's; else -1 */
	int16_t epoch;
	bool fenced_ok;              /* v4+ */
	struct init_producer_id_response *resp;
};

/* --------------------------------------------------- coordinator thread */

static void on_init(struct coord_job *job, int err, int64_t pid, int16_t epoch)
{
	struct init_job *ij = (struct init_job *)job;
	ij->resp->error_code = (int16_t)err;
	if (err == KAFKA_NONE) {
		ij->resp->producer_id = pid;
		ij->resp->producer_epoch = epoch;
	}
	coord_finish(job);
}

static void run_init(struct coord_job *job)
{
	struct init_job *ij = (struct init_job *)job;
	coord_txn_init_pid(job, ij->tid, ij->timeout_ms, ij->pid, ij->epoch, ij->fenced_ok, on_init);
}

/* ------------------------------------------------------- network loop */

static void reply_init(struct coord_job *job)
{
	struct init_job *ij = (struct init_job *)job;
	api_respond(job->req, &proto_init_producer_id_response, ij->resp);
}

/* Steps 3-6 for a request carrying a transactional id. Returns true when
 * the job was submitted (the reply answers), false when resp holds the
 * answer now. */
static bool init_transactional(struct req *req, const struct init_producer_id_request *rq,
			       struct init_producer_id_response *resp)
{
	if (rq->transactional_id.len == 0) {
		resp->error_code = KAFKA_INVALID_REQUEST;
		return false;
	}
	if (rq->transaction_timeout_ms <= 0 ||
	    rq->transaction_timeout_ms > g_broker->cfg.transaction_max_timeout_ms) {
		resp->error_code = KAFKA_INVALID_TRANSACTION_TIMEOUT;
		return false;
	}
	struct init_job *ij = arena_alloc(&req->arena, sizeof(*ij));
	char *tid = api_strdup(req, rq->transactional_id);
	resp->error_code = !ij || !tid ? KAFKA_UNKNOWN_SERVER_ERROR
		: (int16_t)coord_txn_ensure_topic();
	if (resp->error_code != KAFKA_NONE)
		return false;
	*ij = (struct init_job){
		.job = { .req = req, .run = run_init, .reply = reply_init },
		.tid = tid,
		.timeout_ms = rq->transaction_timeout_ms,
		.pid = rq->producer_id,       /* v0-2: their default, -1 */
		.epoch = rq->producer_epoch,
		.fenced_ok = req->hdr.api_version >= 4,
		.resp = resp,
	};
	if (coord_submit(&ij->job) == 0)
		return true;
	resp->error_code = KAFKA_COORDINATOR_NOT_AVAILABLE;
	return false;
}

/* Fills resp for rq: an error, or a fresh producer id with epoch 0; or
 * hands a transactional request to the coordinator (true: do not answer
 * now). */
static bool init_pid(struct req *req, const struct init_producer_id_request *rq,
		     struct init_producer_id_response *resp)
{
	bool no_pid = rq->producer_id == -1, no_epoch = rq->producer_epoch == -1;
	int64_t pid = -1;
	if (no_pid != no_epoch) {
		resp->error_code = KAFKA_INVALID_REQUEST;
		return false;
	}
	if (rq->transactional_id.len >= 0) /* not null */
		return init_transactional(req, rq, resp);
	resp->error_code = (int16_t)meta_producer_id_next(g_broker->meta, &pid);
	if (resp->error_code == KAFKA_NONE) {
		resp->producer_id = pid;
		resp->producer_epoch = 0;
	}
	return false;
}

void api_init_producer_id(struct req *req)
{
	struct init_producer_id_request *rq = api_decode(req, &proto_init_producer_id_request);
	if (!rq)
		return;
	struct init_producer_id_response *resp = proto_new(&proto_init_producer_id_response,
							   req->hdr.api_version, &req->arena);
	if (!resp) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->throttle_time_ms = 0;
	resp->producer_id = -1; /* Kafka's NO_PRODUCER_ID / NO_PRODUCER_EPOCH on error */
	resp->producer_epoch = -1;
	if (!init_pid(req, rq, resp))
		api_respond(req, &proto_init_producer_id_response, resp);
}
