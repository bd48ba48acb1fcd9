/*
 * delete_topics.c — DeleteTopics (key 20).
 *
 * Addressing: v0-5 send TopicNames; v6 sends Topics, each with a Name or
 * (Name null) a TopicId. Checks, as Kafka's ControllerApis.deleteTopics:
 *   - delete.topic.enable=false: every topic fails, with INVALID_REQUEST
 *     before v3 and TOPIC_DELETION_DISABLED from v3 (DeleteTopicsResponse
 *     v3 introduced that code);
 *   - neither name nor id, or both: INVALID_REQUEST;
 *   - a name or an id given twice: one INVALID_REQUEST result for it;
 *   - unknown name: UNKNOWN_TOPIC_OR_PARTITION; unknown id: UNKNOWN_TOPIC_ID;
 *   - internal topics (__consumer_offsets, ...): INVALID_TOPIC_EXCEPTION,
 *     as they hold the broker's own state.
 * A name and an id that resolve to the same topic are not detected as
 * duplicates (Kafka answers INVALID_REQUEST): the second gets "unknown".
 *
 * meta_topic_delete appends the REMOVE_TOPIC record durably and renames the
 * partition directories at once (files are removed in the background), so
 * the deletion is complete when we answer and TimeoutMs is honoured
 * trivially. Results come in request order (Kafka shuffles them).
 *
 * Threads: the connection's loop thread; each deletion blocks it for one
 * metadata-log flush.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"
#include "util/log.h"

typedef struct delete_topics_response_deletable_topic_result topic_resp;

#define MSG_LEN 256

/* One requested topic, whichever way it was named. */
struct target {
	kstr name;   /* null when addressed by id */
	kuuid id;    /* zero when addressed by name */
};

static bool uuid_zero(const kuuid *id)
{
	static const uint8_t zero[16];
	return memcmp(id->b, zero, 16) == 0;
}

/* The request's topics as targets (arena), or NULL when out of memory. */
static struct target *targets(struct req *req, const struct delete_topics_request *rq, int32_t *n)
{
	bool by_state = req->hdr.api_version >= 6;
	int32_t count = by_state ? rq->topics.count : rq->topic_names.count;
	*n = count > 0 ? count : 0;
	struct target *v = arena_alloc(&req->arena, (size_t)(*n ? *n : 1) * sizeof(*v));
	for (int32_t i = 0; v && i < *n; i++) {
		v[i].name = by_state ? rq->topics.items[i].name : rq->topic_names.items[i];
		if (by_state)
			v[i].id = rq->topics.items[i].topic_id;
	}
	return v;
}

/* Flags names given twice (API_DUP_*), ids given twice in ids_dup. */
static uint8_t *dup_flags(struct req *req, const struct target *v, int32_t n, uint8_t **ids_dup)
{
	kstr *names = arena_alloc(&req->arena, (size_t)(n ? n : 1) * sizeof(kstr));
	kstr *ids = arena_alloc(&req->arena, (size_t)(n ? n : 1) * sizeof(kstr));
	if (!names || !ids)
		return NULL;
	for (int32_t i = 0; i < n; i++) {
		bool by_id = v[i].name.len < 0 && !uuid_zero(&v[i].id);
		bool by_name = v[i].name.len >= 0 && uuid_zero(&v[i].id);
		names[i] = by_name ? v[i].name : kstr_null();
		ids[i] = by_id ? (kstr){ (const char *)v[i].id.b, 16 } : kstr_null();
	}
	*ids_dup = api_dup_flags(req, ids, n);
	return *ids_dup ? api_dup_flags(req, names, n) : NULL;
}

/* Finds and deletes one target. Returns a Kafka code with a message in msg
 * (left empty: the code's own message); when the topic exists, *name and
 * *id get its name (arena copy) and id. */
static int delete_one(struct req *req, const struct target *tg, kstr *name, kuuid *id, char *msg)
{
	struct topic *t = tg->name.len >= 0
		? meta_topic_find(g_broker->meta, tg->name.ptr, (size_t)tg->name.len)
		: meta_topic_find_id(g_broker->meta, tg->id.b);
	if (!t)
		return tg->name.len >= 0 ? KAFKA_UNKNOWN_TOPIC_OR_PARTITION : KAFKA_UNKNOWN_TOPIC_ID;
	*name = api_kstr(req, t->name);
	memcpy(id->b, t->id, 16);
	int err;
	if (t->internal) {
		snprintf(msg, MSG_LEN, "Topic '%s' is an internal topic and cannot be deleted.", t->name);
		err = KAFKA_INVALID_TOPIC_EXCEPTION;
	} else {
		err = meta_topic_delete(g_broker->meta, t);
		if (err == KAFKA_NONE)
			log_info("api", "deleted topic %s (requested by %s)", t->name, req->peer);
		else if (err == KAFKA_TOPIC_DELETION_DISABLED)
			snprintf(msg, MSG_LEN, "Topic deletion is disabled.");
	}
	topic_unref(t);
	return api_storage_err(err);
}

/* The error every topic gets before any lookup, or NONE. */
static int precheck(struct req *req, const struct target *tg, uint8_t name_dup, uint8_t id_dup,
		    char *msg)
{
	bool has_name = tg->name.len >= 0, has_id = !uuid_zero(&tg->id);
	if (!g_broker->cfg.delete_topic_enable) {
		snprintf(msg, MSG_LEN, "Topic deletion is disabled.");
		return req->hdr.api_version < 3 ? KAFKA_INVALID_REQUEST : KAFKA_TOPIC_DELETION_DISABLED;
	}
	if (!has_name && !has_id)
		snprintf(msg, MSG_LEN, "Neither topic name nor id were specified.");
	else if (has_name && has_id)
		snprintf(msg, MSG_LEN, "You may not specify both topic name and topic id.");
	else if (name_dup)
		snprintf(msg, MSG_LEN, "Duplicate topic name.");
	else if (id_dup)
		snprintf(msg, MSG_LEN, "Duplicate topic id.");
	else
		return KAFKA_NONE;
	return KAFKA_INVALID_REQUEST;
}

static void answer(struct req *req, const struct target *tg, uint8_t name_dup, uint8_t id_dup,
		   topic_resp *tr)
{
	char msg[MSG_LEN] = "";
	kstr name = tg->name;
	kuuid id = tg->id;
	int err = precheck(req, tg, name_dup, id_dup, msg);
	if (err == KAFKA_NONE)
		err = delete_one(req, tg, &name, &id, msg);
	/* Names are nullable only from v6, where a topic may be named by id. */
	tr->name = name.len < 0 && req->hdr.api_version < 6 ? kstr_c("") : name;
	tr->topic_id = id;
	tr->error_code = (int16_t)err;
	tr->error_message = msg[0] ? api_kstr(req, msg) : kstr_null();
}

void api_delete_topics(struct req *req)
{
	struct delete_topics_request *rq = api_decode(req, &proto_delete_topics_request);
	if (!rq)
		return;
	struct delete_topics_response *resp = proto_new(&proto_delete_topics_response, req->hdr.api_version,
							 &req->arena);
	int32_t n = 0;
	struct target *v = resp ? targets(req, rq, &n) : NULL;
	uint8_t *ids_dup = NULL, *names_dup = v ? dup_flags(req, v, n, &ids_dup) : NULL;
	topic_resp *out = names_dup ? arena_alloc(&req->arena, (size_t)(n ? n : 1) * sizeof(*out)) : NULL;
	if (!out) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->throttle_time_ms = 0;
	resp->responses.items = out;
	resp->responses.count = 0;
	for (int32_t i = 0; i < n; i++) {
		if (names_dup[i] == API_DUP_LATER || ids_dup[i] == API_DUP_LATER)
			continue; /* answered once, at the first occurrence */
		answer(req, &v[i], names_dup[i], ids_dup[i], &out[resp->responses.count++]);
	}
	api_respond(req, &proto_delete_topics_response, resp);
}
