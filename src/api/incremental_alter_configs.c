/*
 * incremental_alter_configs.c — IncrementalAlterConfigs (key 44, KIP-339).
 *
 * Each config entry carries its own operation: 0 SET, 1 DELETE (back to
 * the next source: broker config or default), 2 APPEND and 3 SUBTRACT
 * (list keys only: cleanup.policy; INVALID_REQUEST otherwise). Overrides
 * not named stay as they are. TOPIC and BROKER resources go through
 * api_alter_resource (alter_configs.c): all of one resource's changes are
 * validated first and then written as one metadata record, or none is.
 *
 * BROKER_LOGGER (8), name = our node id: logger "root" SET to a level
 * (TRACE and DEBUG map to debug, FATAL to error; case-insensitive) or
 * DELETE (back to the configured log.level); other loggers
 * INVALID_CONFIG, APPEND/SUBTRACT INVALID_REQUEST. Not persisted: as in
 * Kafka, a logger level lasts until the broker restarts.
 *
 * Threads: the connection's loop thread (meta calls block for one
 * fdatasync; the log level is a word other threads read racily, which
 * only delays when they notice the change).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api_int.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/err.h"
#include "util/log.h"

typedef struct incremental_alter_configs_request_alter_configs_resource res_req;
typedef struct incremental_alter_configs_request_alterable_config cfg_req;
typedef struct incremental_alter_configs_response_alter_configs_resource_response res_resp;

enum { RES_BROKER_LOGGER = 8 };

/* The level a logger SET asks for, or -1. */
static int level_of(const char *s)
{
	static const struct { const char *name; enum log_level lvl; } map[] = {
		{ "TRACE", LOGL_DEBUG }, { "DEBUG", LOGL_DEBUG }, { "INFO", LOGL_INFO },
		{ "WARN", LOGL_WARN }, { "ERROR", LOGL_ERROR }, { "FATAL", LOGL_ERROR },
	};
	for (size_t i = 0; s && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(s, map[i].name) == 0)
			return (int)map[i].lvl;
	return -1;
}

/* Checks one logger change; returns the level to set (DELETE: the
 * configured one) or -1 with the error in *rc and msg. */
static int logger_change(const struct cfg_change *c, int *rc, char *msg, size_t msglen)
{
	int lvl = c->op == CFG_OP_DELETE ? log_parse_level(g_broker->cfg.log_level) : level_of(c->value);
	*rc = KAFKA_NONE;
	if (!c->key || strcmp(c->key, "root") != 0) {
		snprintf(msg, msglen, "Logger %s does not exist!", c->key ? c->key : "null");
		*rc = KAFKA_INVALID_CONFIG;
	} else if (c->op != CFG_OP_SET && c->op != CFG_OP_DELETE) {
		snprintf(msg, msglen, "Operation %d is not allowed for the BROKER_LOGGER resource", c->op);
		*rc = KAFKA_INVALID_REQUEST;
	} else if (lvl < 0) {
		snprintf(msg, msglen, "Cannot set the log level of root to %s as it is not a supported log "
			 "level. Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, WARN",
			 c->value ? c->value : "null");
		*rc = KAFKA_INVALID_CONFIG;
	}
	return *rc == KAFKA_NONE ? lvl : -1;
}

static int alter_logger(kstr name, const struct cfg_change *ch, size_t n, bool validate_only,
			char *msg, size_t msglen)
{
	char buf[32];
	int rc = KAFKA_NONE, lvl = -1;
	snprintf(buf, sizeof(buf), "%d", g_broker->cfg.node_id);
	if (name.len != (int32_t)strlen(buf) || memcmp(name.ptr, buf, (size_t)name.len) != 0) {
		snprintf(msg, msglen, "Unexpected broker id, expected %s but received %.*s", buf,
			 name.len > 0 ? (int)name.len : 0, name.len > 0 ? name.ptr : "");
		return KAFKA_INVALID_REQUEST;
	}
	for (size_t i = 0; i < n && rc == KAFKA_NONE; i++)
		lvl = logger_change(&ch[i], &rc, msg, msglen);
	if (rc == KAFKA_NONE && !validate_only && lvl >= 0) {
		log_set_level((enum log_level)lvl);
		log_info("api", "root log level set to %d by IncrementalAlterConfigs", lvl);
	}
	return rc;
}

/* The changes of one resource (arena). NULL when out of memory. */
static struct cfg_change *changes_of(struct req *req, const res_req *rq, size_t *n)
{
	*n = rq->configs.count > 0 ? (size_t)rq->configs.count : 0;
	struct cfg_change *ch = arena_alloc(&req->arena, (*n ? *n : 1) * sizeof(*ch));
	for (size_t i = 0; ch && i < *n; i++) {
		const cfg_req *c = &rq->configs.items[i];
		ch[i].key = api_strdup(req, c->name);
		ch[i].value = api_strdup(req, c->value);
		ch[i].op = c->config_operation;
		if (!ch[i].key || (c->value.len >= 0 && !ch[i].value))
			return NULL;
	}
	return ch;
}

void api_incremental_alter_configs(struct req *req)
{
	char msg[API_MSG_LEN];
	struct incremental_alter_configs_request *rq = api_decode(req, &proto_incremental_alter_configs_request);
	if (!rq)
		return;
	int16_t v = req->hdr.api_version;
	struct incremental_alter_configs_response *resp =
		proto_new(&proto_incremental_alter_configs_response, v, &req->arena);
	int32_t nres = rq->resources.count > 0 ? rq->resources.count : 0;
	res_resp *out = resp ? proto_new_array(&proto_incremental_alter_configs_response_alter_configs_resource_response,
					       v, nres ? nres : 1, &req->arena) : NULL;
	if (!out)
		goto oom;
	resp->throttle_time_ms = 0;
	resp->responses.items = out;
	resp->responses.count = nres;
	for (int32_t i = 0; i < nres; i++) {
		const res_req *r = &rq->resources.items[i];
		size_t n;
		int rc;
		struct cfg_change *ch = changes_of(req, r, &n);
		if (!ch)
			goto oom;
		msg[0] = '\0';
		if (r->resource_type == RES_BROKER_LOGGER)
			rc = alter_logger(r->resource_name, ch, n, rq->validate_only, msg, sizeof(msg));
		else
			rc = api_alter_resource(req, r->resource_type, r->resource_name, ch, n, false,
						rq->validate_only, msg, sizeof(msg));
		out[i].error_code = (int16_t)rc;
		out[i].error_message = rc != KAFKA_NONE && msg[0] ? api_kstr(req, msg) : kstr_null();
		out[i].resource_type = r->resource_type;
		out[i].resource_name = r->resource_name.len >= 0 ? r->resource_name : kstr_c("");
	}
	api_respond(req, &proto_incremental_alter_configs_response, resp);
	return;
oom:
	api_respond_close(req, "out of memory");
}
