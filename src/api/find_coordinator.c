/*
 * find_coordinator.c — FindCoordinator (key 10): which broker coordinates a
 * group (KeyType 0) or a transactional id (KeyType 1).
 *
 * One broker: the answer is always us (node.id, and the advertised endpoint
 * of the listener the request came in on), as Kafka answers with the leader
 * of the key's partition of the internal topic. Before a group coordinator
 * can be named, __consumer_offsets must exist: coord_ensure_topic() creates
 * it on first need (blocking this loop once, for one metadata fdatasync);
 * when it cannot, the key gets COORDINATOR_NOT_AVAILABLE and the client
 * retries. A transactional id (KeyType 1) needs __transaction_state the
 * same way (coord_txn_ensure_topic), with the same answer on failure.
 *
 * Versions:
 *   v0     Key only (a group id; KeyType reads as its default 0).
 *   v1-3   KeyType, and ErrorMessage/ThrottleTimeMs in the answer; v3 is
 *          flexible.
 *   v4+    CoordinatorKeys (KIP-699): every key is answered in its own
 *          Coordinators entry; the top-level fields are gone.
 *
 * Kafka's answers copied here (KafkaApis.getCoordinator, 3.9):
 *   - an empty key is not refused: it hashes to a partition like any other,
 *     so "" gets this broker with NONE;
 *   - an unknown KeyType throws InvalidRequestException: INVALID_REQUEST
 *     for every key (v4+) or the single answer (v0-3);
 *   - an error answer carries Node.noNode(): id -1, host "", port -1.
 * On success Kafka writes ErrorMessage "NONE" (Errors.NONE.message()); we
 * send null, as the schema says ("null if there was no error"): clients
 * read the message only with an error.
 *
 * Threads: the connection's loop thread only; no coordinator job (the
 * answer needs no group or transaction state).
 */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "coord/coord.h"
#include "proto_gen.h"
#include "util/err.h"
#include "util/log.h"

typedef struct find_coordinator_response_coordinator coord_entry;

enum { KEY_TYPE_GROUP = 0, KEY_TYPE_TRANSACTION = 1 };

/* One lookup's result: a Kafka code and, with an error, its message. */
struct lookup {
	int16_t err;
	const char *msg;              /* arena or static; NULL with NONE */
};

/* The code for a key of key_type. *topic_err caches the key type's
 * coord_ensure_topic() / coord_txn_ensure_topic() result across the keys
 * of one request (-1: not asked yet; a request has one key type). */
static struct lookup lookup_key(struct req *req, int8_t key_type, int *topic_err)
{
	struct lookup l = { KAFKA_NONE, NULL };
	if (key_type == KEY_TYPE_GROUP || key_type == KEY_TYPE_TRANSACTION) {
		if (*topic_err < 0)
			*topic_err = key_type == KEY_TYPE_GROUP ? coord_ensure_topic()
								: coord_txn_ensure_topic();
		if (*topic_err != KAFKA_NONE) {
			l.err = KAFKA_COORDINATOR_NOT_AVAILABLE;
			l.msg = "The coordinator is not available.";
		}
		return l;
	}
	char buf[64];
	snprintf(buf, sizeof(buf), "Unknown coordinator type received: %d", key_type);
	l.err = KAFKA_INVALID_REQUEST;
	l.msg = arena_strndup(&req->arena, buf, strlen(buf));
	return l;
}

/* v4+: one Coordinators entry per key, in the request's order. Returns
 * false when out of memory. */
static bool answer_batched(struct req *req, const struct find_coordinator_request *rq,
			   struct find_coordinator_response *resp)
{
	const struct listener_addr *a = api_advertised(req);
	int32_t n = rq->coordinator_keys.count > 0 ? rq->coordinator_keys.count : 0;
	int topic_err = -1;
	resp->coordinators.count = n;
	resp->coordinators.items = NULL;
	if (n == 0)
		return true;
	resp->coordinators.items = proto_new_array(&proto_find_coordinator_response_coordinator,
						   req->hdr.api_version, n, &req->arena);
	if (!resp->coordinators.items)
		return false;
	for (int32_t i = 0; i < n; i++) {
		coord_entry *c = &resp->coordinators.items[i];
		struct lookup l = lookup_key(req, rq->key_type, &topic_err);
		c->key = rq->coordinator_keys.items[i]; /* borrows the frame */
		c->error_code = l.err;
		c->error_message = l.msg ? api_kstr(req, l.msg) : kstr_null();
		c->node_id = l.err == KAFKA_NONE ? g_broker->cfg.node_id : -1;
		c->host = l.err == KAFKA_NONE ? api_kstr(req, a->host) : kstr_c("");
		c->port = l.err == KAFKA_NONE ? a->port : -1;
	}
	return true;
}

/* v0-3: the single key's answer in the top-level fields. */
static void answer_single(struct req *req, const struct find_coordinator_request *rq,
			  struct find_coordinator_response *resp)
{
	const struct listener_addr *a = api_advertised(req);
	int topic_err = -1;
	struct lookup l = lookup_key(req, rq->key_type, &topic_err);
	resp->error_code = l.err;
	resp->error_message = l.msg ? api_kstr(req, l.msg) : kstr_null();
	resp->node_id = l.err == KAFKA_NONE ? g_broker->cfg.node_id : -1;
	resp->host = l.err == KAFKA_NONE ? api_kstr(req, a->host) : kstr_c("");
	resp->port = l.err == KAFKA_NONE ? a->port : -1;
}

void api_find_coordinator(struct req *req)
{
	struct find_coordinator_request *rq = api_decode(req, &proto_find_coordinator_request);
	if (!rq)
		return;
	int16_t v = req->hdr.api_version;
	struct find_coordinator_response *resp = proto_new(&proto_find_coordinator_response, v,
							    &req->arena);
	if (!resp) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->throttle_time_ms = 0;
	if (v >= 4) {
		if (!answer_batched(req, rq, resp)) {
			api_respond_close(req, "out of memory");
			return;
		}
	} else {
		answer_single(req, rq, resp);
	}
	if (rq->key_type != KEY_TYPE_GROUP && rq->key_type != KEY_TYPE_TRANSACTION)
		log_debug("api", "%s: FindCoordinator v%d with unknown key type %d",
			  req->peer, v, rq->key_type);
	api_respond(req, &proto_find_coordinator_response, resp);
}
