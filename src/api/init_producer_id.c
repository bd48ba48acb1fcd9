/*
 * init_producer_id.c — InitProducerId (key 22): a producer id and epoch for
 * an idempotent producer (and, with issue 4 part 2, a transactional one).
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
 * Transactional ids that pass 3 and 4 are not served yet (the transaction
 * coordinator is issue 4 part 2): they get TXN_REFUSED_CODE, below, and a
 * WARN in the broker log saying why.
 *
 * Why TRANSACTIONAL_ID_AUTHORIZATION_FAILED. The answer has no error
 * message, so only the code reaches the application. librdkafka (hence
 * confluent-kafka) treats only four InitProducerId codes as fatal
 * (rd_kafka_idemp_check_error: INVALID_TRANSACTION_TIMEOUT,
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED,
 * fencing); any other code — COORDINATOR_NOT_AVAILABLE, UNSUPPORTED_VERSION,
 * INVALID_REQUEST — is retried until init_transactions() times out. Of the
 * four, "this transactional id may not be used on this cluster" is the
 * nearest to the truth, and KafkaJS also fails at once on it (not
 * retriable). docs/idempotence.md says so for users.
 *
 * Producer ids come from meta_producer_id_next (src/meta/pids.c): blocks
 * reserved durably in the metadata log, so an id never repeats, also
 * across crashes. A new block costs this loop one metadata fdatasync, once
 * per 1000 producers.
 *
 * Versions: v1 = v0; v2 flexible; v3 adds ProducerId/ProducerEpoch; v4 =
 * v3. ThrottleTimeMs is always 0.
 *
 * Threads: the connection's loop thread.
 */
#include "api/api_int.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"
#include "util/log.h"

#define TXN_REFUSED_CODE KAFKA_TRANSACTIONAL_ID_AUTHORIZATION_FAILED

/* The code for a request carrying a transactional id (steps 3, 4 and the
 * part-2 refusal). */
static int16_t transactional_code(struct req *req, const struct init_producer_id_request *rq)
{
	if (rq->transactional_id.len == 0)
		return KAFKA_INVALID_REQUEST;
	if (rq->transaction_timeout_ms <= 0 ||
	    rq->transaction_timeout_ms > g_broker->cfg.transaction_max_timeout_ms)
		return KAFKA_INVALID_TRANSACTION_TIMEOUT;
	log_warn("api", "%s: InitProducerId for transactional id '%.*s' refused: transactions are "
		 "not supported yet (only idempotent producers)", req->peer,
		 rq->transactional_id.len > 64 ? 64 : (int)rq->transactional_id.len,
		 rq->transactional_id.ptr);
	return TXN_REFUSED_CODE;
}

/* Fills resp for rq: an error, or a fresh producer id with epoch 0. */
static void init_pid(struct req *req, const struct init_producer_id_request *rq,
		     struct init_producer_id_response *resp)
{
	bool no_pid = rq->producer_id == -1, no_epoch = rq->producer_epoch == -1;
	int64_t pid = -1;
	if (no_pid != no_epoch) {
		resp->error_code = KAFKA_INVALID_REQUEST;
		return;
	}
	if (rq->transactional_id.len >= 0) { /* not null */
		resp->error_code = transactional_code(req, rq);
		return;
	}
	resp->error_code = (int16_t)meta_producer_id_next(g_broker->meta, &pid);
	if (resp->error_code == KAFKA_NONE) {
		resp->producer_id = pid;
		resp->producer_epoch = 0;
	}
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
	init_pid(req, rq, resp);
	api_respond(req, &proto_init_producer_id_response, resp);
}
