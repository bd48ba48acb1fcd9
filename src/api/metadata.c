/*
 * metadata.c — Metadata (key 3): brokers, cluster id, topics, partitions.
 *
 * Which topics (MetadataRequest.json): v0 — an empty array means all
 * topics; v1+ — null means all, an empty array means none. v10+ may name a
 * topic by id (name null); v12 makes names nullable in the response.
 *
 * Auto-creation: a requested topic that does not exist is created with
 * the broker defaults when auto.create.topics.enable is on and, from v4,
 * the request allows it. Kafka answers LEADER_NOT_AVAILABLE for a topic it
 * has just created (its leader is elected later); on one node the topic is
 * usable at once, so we return it without error.
 *
 * A single node leads every partition: leader = replicas = isr = our id,
 * leader epoch 0.
 */
#include <string.h>

#include "api/api_int.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"
#include "util/log.h"

#define NO_AUTHORIZED_OPS INT32_MIN /* "not requested" in Kafka's schema */

const struct listener_addr *api_advertised(struct req *req)
{
	(void)req;
	return &g_broker->advertised[0];
}

static int32_t *node_list(struct req *req, int32_t *count)
{
	int32_t *v = arena_alloc(&req->arena, sizeof(int32_t));
	if (v)
		v[0] = g_broker->cfg.node_id;
	*count = v ? 1 : 0;
	return v;
}

static void fill_topic(struct req *req, struct metadata_response_metadata_response_topic *out,
		       struct topic *t)
{
	out->error_code = KAFKA_NONE;
	out->name = api_kstr(req, t->name);
	memcpy(out->topic_id.b, t->id, 16);
	out->is_internal = t->internal;
	out->topic_authorized_operations = NO_AUTHORIZED_OPS;
	out->partitions.items = proto_new_array(&proto_metadata_response_metadata_response_partition,
						req->hdr.api_version, t->npartitions ? t->npartitions : 1, &req->arena);
	out->partitions.count = out->partitions.items ? t->npartitions : 0;
	for (int32_t i = 0; i < out->partitions.count; i++) {
		struct metadata_response_metadata_response_partition *p = &out->partitions.items[i];
		p->error_code = KAFKA_NONE;
		p->partition_index = i;
		p->leader_id = g_broker->cfg.node_id;
		p->leader_epoch = t->parts[i]->leader_epoch;
		p->replica_nodes.items = node_list(req, &p->replica_nodes.count);
		p->isr_nodes.items = node_list(req, &p->isr_nodes.count);
		p->offline_replicas.count = 0;
	}
}

static void fill_error(struct req *req, struct metadata_response_metadata_response_topic *out,
		       kstr name, const kuuid *id, int err)
{
	out->error_code = (int16_t)err;
	/* Names are nullable in responses only from v12. */
	out->name = name.len < 0 && req->hdr.api_version < 12 ? kstr_c("") : name;
	if (id)
		out->topic_id = *id;
	out->topic_authorized_operations = NO_AUTHORIZED_OPS;
}

/* Looks a requested topic up, auto-creating it when allowed. Returns a
 * referenced topic or NULL with *err set. */
static struct topic *resolve(struct req *req, const struct metadata_request_metadata_request_topic *rt,
			     bool auto_create, int *err)
{
	static const uint8_t zero[16];
	struct meta *m = g_broker->meta;
	struct topic *t;
	char why[256];

	if (rt->name.len < 0) {
		if (memcmp(rt->topic_id.b, zero, 16) == 0) {
			*err = KAFKA_INVALID_REQUEST;
			return NULL;
		}
		t = meta_topic_find_id(m, rt->topic_id.b);
		*err = t ? KAFKA_NONE : KAFKA_UNKNOWN_TOPIC_ID;
		return t;
	}
	t = meta_topic_find(m, rt->name.ptr, (size_t)rt->name.len);
	if (t)
		return t;
	if (meta_topic_name_valid(rt->name.ptr, (size_t)rt->name.len, why, sizeof(why)) != 0) {
		*err = KAFKA_INVALID_TOPIC_EXCEPTION;
		return NULL;
	}
	if (!auto_create || !g_broker->cfg.auto_create_topics_enable) {
		*err = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
		return NULL;
	}
	char *name = api_strdup(req, rt->name);
	int rc = meta_topic_create(m, name, -1, -1, NULL, 0, false, &t, why, sizeof(why));
	if (rc == KAFKA_TOPIC_ALREADY_EXISTS) /* lost a race with another creator */
		t = meta_topic_find(m, rt->name.ptr, (size_t)rt->name.len);
	else if (rc != KAFKA_NONE)
		log_warn("api", "%s: auto-creating topic %s failed: %s", req->peer, name, why);
	else
		log_info("api", "auto-created topic %s (requested by %s)", name, req->peer);
	*err = t ? KAFKA_NONE : api_storage_err(rc);
	return t;
}

static void fill_brokers(struct req *req, struct metadata_response *resp)
{
	const struct listener_addr *a = api_advertised(req);
	resp->brokers.items = proto_new_array(&proto_metadata_response_metadata_response_broker, req->hdr.api_version, 1, &req->arena);
	resp->brokers.count = resp->brokers.items ? 1 : 0;
	if (!resp->brokers.items)
		return;
	resp->brokers.items[0].node_id = g_broker->cfg.node_id;
	resp->brokers.items[0].host = api_kstr(req, a->host);
	resp->brokers.items[0].port = a->port;
	resp->brokers.items[0].rack = kstr_null();
	resp->cluster_id = api_kstr(req, meta_cluster_id(g_broker->meta));
	resp->controller_id = g_broker->cfg.node_id;
	resp->cluster_authorized_operations = NO_AUTHORIZED_OPS;
}

static void all_topics(struct req *req, struct metadata_response *resp)
{
	size_t n = 0;
	struct topic **v = meta_topics_list(g_broker->meta, &n);
	resp->topics.items = proto_new_array(&proto_metadata_response_metadata_response_topic, req->hdr.api_version,
					     (int32_t)(n ? n : 1), &req->arena);
	resp->topics.count = resp->topics.items ? (int32_t)n : 0;
	for (int32_t i = 0; i < resp->topics.count; i++)
		fill_topic(req, &resp->topics.items[i], v[i]);
	meta_topics_free(v, n);
}

void api_metadata(struct req *req)
{
	struct metadata_request *rq = api_decode(req, &proto_metadata_request);
	if (!rq)
		return;
	int16_t v = req->hdr.api_version;
	struct metadata_response *resp = proto_new(&proto_metadata_response, v, &req->arena);
	if (!resp) {
		api_respond_close(req, "out of memory");
		return;
	}
	fill_brokers(req, resp);
	bool all = rq->topics.count < 0 || (v == 0 && rq->topics.count == 0);
	if (all) {
		all_topics(req, resp);
		api_respond(req, &proto_metadata_response, resp);
		return;
	}
	bool auto_create = v < 4 || rq->allow_auto_topic_creation;
	int32_t n = rq->topics.count;
	resp->topics.items = proto_new_array(&proto_metadata_response_metadata_response_topic, v, n ? n : 1, &req->arena);
	resp->topics.count = resp->topics.items ? n : 0;
	for (int32_t i = 0; i < resp->topics.count; i++) {
		const struct metadata_request_metadata_request_topic *rt = &rq->topics.items[i];
		int err = KAFKA_NONE;
		struct topic *t = resolve(req, rt, auto_create, &err);
		if (t) {
			fill_topic(req, &resp->topics.items[i], t);
			topic_unref(t);
		} else {
			fill_error(req, &resp->topics.items[i], rt->name, &rt->topic_id, err);
		}
	}
	api_respond(req, &proto_metadata_response, resp);
}
