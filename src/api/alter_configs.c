/*
 * alter_configs.c — AlterConfigs (key 33), and the resource handling it
 * shares with IncrementalAlterConfigs (api_alter_resource).
 *
 * AlterConfigs replaces the whole dynamic config set of each resource
 * (Kafka semantics, KIP-133): every key given is SET, every override not
 * given is removed. Resources (ResourceType):
 *   2 TOPIC   the topic's overrides (meta_topic_configs_alter). Unknown
 *             topic: UNKNOWN_TOPIC_OR_PARTITION; internal topics are
 *             allowed, as Kafka allows them.
 *   4 BROKER  name = our node id: this node's dynamic broker configs;
 *             name "": the cluster-wide defaults
 *             (meta_broker_configs_alter). Another id, or not a number:
 *             INVALID_REQUEST.
 *   other     INVALID_REQUEST.
 * A null value is refused with INVALID_REQUEST ("Null value not supported
 * for : key"), an unknown key or bad value with INVALID_CONFIG naming the
 * key and the reason. Each resource is one durable step (one metadata
 * record, so after a crash all of its changes are there or none), and
 * each gets its own error; ValidateOnly checks without changing anything.
 *
 * Threads: the connection's loop thread; the meta calls block for one
 * fdatasync of the metadata log (admin requests are rare).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"

typedef struct alter_configs_request_alter_configs_resource res_req;
typedef struct alter_configs_response_alter_configs_resource_response res_resp;

enum { RES_TOPIC = 2, RES_BROKER = 4 };

/* Parses a BROKER resource name: "" (cluster default) or our node id.
 * Returns 0 with *cluster_default, or INVALID_REQUEST with Kafka's message. */
static int broker_scope(kstr name, bool *cluster_default, char *msg, size_t msglen)
{
	char buf[32], *end;
	int32_t self = g_broker->cfg.node_id;
	*cluster_default = name.len <= 0;
	if (*cluster_default)
		return KAFKA_NONE;
	int n = name.len < (int32_t)sizeof(buf) ? (int)name.len : (int)sizeof(buf) - 1;
	memcpy(buf, name.ptr, (size_t)n);
	buf[n] = '\0';
	long id = strtol(buf, &end, 10);
	if (*end != '\0' || n != name.len) {
		snprintf(msg, msglen, "Broker id must be an integer, but it is: %s", buf);
		return KAFKA_INVALID_REQUEST;
	}
	if (id != self) {
		snprintf(msg, msglen, "Unexpected broker id, expected %d or empty string, but received %s",
			 self, buf);
		return KAFKA_INVALID_REQUEST;
	}
	return KAFKA_NONE;
}

int api_alter_resource(struct req *req, int8_t type, kstr name, const struct cfg_change *ch, size_t n,
		       bool replace_all, bool validate_only, char *msg, size_t msglen)
{
	bool dflt;
	msg[0] = '\0';
	if (type == RES_BROKER) {
		int rc = broker_scope(name, &dflt, msg, msglen);
		return rc != KAFKA_NONE ? rc : meta_broker_configs_alter(g_broker->meta, dflt, ch, n,
									 replace_all, validate_only, msg, msglen);
	}
	if (type != RES_TOPIC) {
		snprintf(msg, msglen, "Alter configs is only supported for topics and brokers, but resource "
			 "type is %d", type);
		return KAFKA_INVALID_REQUEST;
	}
	struct topic *t = name.len > 0 ? meta_topic_find(g_broker->meta, name.ptr, (size_t)name.len) : NULL;
	if (!t) {
		snprintf(msg, msglen, "Topic %.*s does not exist", name.len > 0 ? (int)name.len : 0,
			 name.len > 0 ? name.ptr : "");
		return KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
	}
	int rc = meta_topic_configs_alter(g_broker->meta, t, ch, n, replace_all, validate_only, msg, msglen);
	topic_unref(t);
	return rc;
}

/* The changes of one resource as SETs (arena). NULL when out of memory. */
static struct cfg_change *changes_of(struct req *req, const res_req *rq, size_t *n)
{
	*n = rq->configs.count > 0 ? (size_t)rq->configs.count : 0;
	struct cfg_change *ch = arena_alloc(&req->arena, (*n ? *n : 1) * sizeof(*ch));
	for (size_t i = 0; ch && i < *n; i++) {
		ch[i].key = api_strdup(req, rq->configs.items[i].name);
		ch[i].value = api_strdup(req, rq->configs.items[i].value);
		ch[i].op = CFG_OP_SET;
		if (!ch[i].key || (rq->configs.items[i].value.len >= 0 && !ch[i].value))
			return NULL;
	}
	return ch;
}

void api_alter_configs(struct req *req)
{
	char msg[API_MSG_LEN];
	struct alter_configs_request *rq = api_decode(req, &proto_alter_configs_request);
	if (!rq)
		return;
	int16_t v = req->hdr.api_version;
	struct alter_configs_response *resp = proto_new(&proto_alter_configs_response, v, &req->arena);
	int32_t nres = rq->resources.count > 0 ? rq->resources.count : 0;
	res_resp *out = resp ? proto_new_array(&proto_alter_configs_response_alter_configs_resource_response,
					       v, nres ? nres : 1, &req->arena) : NULL;
	if (!out)
		goto oom;
	resp->throttle_time_ms = 0;
	resp->responses.items = out;
	resp->responses.count = nres;
	for (int32_t i = 0; i < nres; i++) {
		const res_req *r = &rq->resources.items[i];
		size_t n;
		struct cfg_change *ch = changes_of(req, r, &n);
		if (!ch)
			goto oom;
		int rc = api_alter_resource(req, r->resource_type, r->resource_name, ch, n, true,
					    rq->validate_only, msg, sizeof(msg));
		out[i].error_code = (int16_t)rc;
		out[i].error_message = rc != KAFKA_NONE && msg[0] ? api_kstr(req, msg) : kstr_null();
		out[i].resource_type = r->resource_type;
		out[i].resource_name = r->resource_name.len >= 0 ? r->resource_name : kstr_c("");
	}
	api_respond(req, &proto_alter_configs_response, resp);
	return;
oom:
	api_respond_close(req, "out of memory");
}
