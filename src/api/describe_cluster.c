/*
 * describe_cluster.c — DescribeCluster (key 60), what AdminClient.
 * describeCluster() asks (KIP-700).
 *
 * One broker: us, at the advertised endpoint of the listener the request
 * came in on; we are also the controller (Kafka reports a live broker's id
 * as ControllerId under KRaft, since clients cannot reach controllers).
 *
 * EndpointType (v1, KIP-919): 1 = brokers is what we are. 2 = controllers
 * gets MISMATCHED_ENDPOINT_TYPE and any other value
 * UNSUPPORTED_ENDPOINT_TYPE (INVALID_REQUEST in v0, which predates both
 * codes), with Kafka's messages.
 *
 * ClusterAuthorizedOperations: INT32_MIN unless asked for; when asked, with
 * no authorizer every operation a CLUSTER resource supports is allowed
 * (Kafka's AuthHelper.authorizedOperations without an authorizer).
 */
#include <stdio.h>

#include "api/api_int.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"

enum { ENDPOINT_BROKERS = 1, ENDPOINT_CONTROLLERS = 2 };

/* AclOperation codes Kafka allows on CLUSTER: CREATE 5, ALTER 7, DESCRIBE 8,
 * CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12. */
#define CLUSTER_ALL_OPS ((1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12))
#define NO_AUTHORIZED_OPS INT32_MIN

/* Sets an endpoint-type error on resp; returns false when the type is ours. */
static bool endpoint_error(struct req *req, struct describe_cluster_response *resp, int8_t type)
{
	char msg[128];
	bool v0 = req->hdr.api_version == 0;
	if (type == ENDPOINT_BROKERS)
		return false;
	if (type == ENDPOINT_CONTROLLERS) {
		resp->error_code = v0 ? KAFKA_INVALID_REQUEST : KAFKA_MISMATCHED_ENDPOINT_TYPE;
		snprintf(msg, sizeof(msg), "The request was sent to an endpoint of type BROKER, "
			 "but we wanted an endpoint of type CONTROLLER");
	} else {
		resp->error_code = v0 ? KAFKA_INVALID_REQUEST : KAFKA_UNSUPPORTED_ENDPOINT_TYPE;
		snprintf(msg, sizeof(msg), "Unsupported endpoint type %d", type);
	}
	resp->error_message = api_kstr(req, msg);
	return true;
}

void api_describe_cluster(struct req *req)
{
	struct describe_cluster_request *rq = api_decode(req, &proto_describe_cluster_request);
	if (!rq)
		return;
	struct describe_cluster_response *resp = proto_new(&proto_describe_cluster_response,
							    req->hdr.api_version, &req->arena);
	if (!resp) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->throttle_time_ms = 0;
	resp->error_code = KAFKA_NONE;
	resp->error_message = kstr_null();
	resp->endpoint_type = ENDPOINT_BROKERS;
	resp->cluster_id = api_kstr(req, meta_cluster_id(g_broker->meta));
	resp->controller_id = -1;
	resp->brokers.count = 0;
	resp->brokers.items = NULL;
	resp->cluster_authorized_operations = NO_AUTHORIZED_OPS;
	if (endpoint_error(req, resp, rq->endpoint_type)) {
		api_respond(req, &proto_describe_cluster_response, resp);
		return;
	}
	const struct listener_addr *a = api_advertised(req);
	resp->brokers.items = arena_alloc(&req->arena, sizeof(*resp->brokers.items));
	if (!resp->brokers.items) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->brokers.count = 1;
	resp->brokers.items[0].broker_id = g_broker->cfg.node_id;
	resp->brokers.items[0].host = api_kstr(req, a->host);
	resp->brokers.items[0].port = a->port;
	resp->brokers.items[0].rack = kstr_null();
	resp->controller_id = g_broker->cfg.node_id;
	if (rq->include_cluster_authorized_operations)
		resp->cluster_authorized_operations = CLUSTER_ALL_OPS;
	api_respond(req, &proto_describe_cluster_response, resp);
}
