/*
 * dispatch.c — routes a request to its handler and writes responses.
 *
 * The table below is the single source of what the broker serves:
 * ApiVersions advertises exactly these ranges, and dispatch refuses what is
 * outside them. A request for an API we do not serve, or for a version of a
 * served API outside its range, cannot be answered in a schema the client
 * expects, so — like Kafka's SocketServer — we log it and close the
 * connection. The one exception is ApiVersions itself (KIP-511): its
 * handler answers an unknown version in the v0 schema with
 * UNSUPPORTED_VERSION.
 */
#include <string.h>

#include "api/api.h"
#include "api/api_int.h"
#include "proto_gen.h"
#include "util/err.h"
#include "util/log.h"

struct api_entry {
	int16_t key;
	int16_t min, max;            /* advertised range */
	void (*fn)(struct req *req);
};

/* Ranges: PROTOCOL.md §2. Produce starts at 0 although v0-2 (message
 * format v0/v1) are refused per partition: librdkafka checks Produce v0
 * support before it will compress (KAFKA-18659). */
static const struct api_entry api_table[] = {
	{ 0, 0, 10, api_produce },
	{ 1, 4, 12, api_fetch },
	{ 2, 0, 7, api_list_offsets },
	{ 3, 0, 12, api_metadata },
	{ 8, 0, 8, api_offset_commit },
	{ 9, 0, 8, api_offset_fetch },
	{ 10, 0, 4, api_find_coordinator },
	{ 11, 0, 9, api_join_group },
	{ 12, 0, 4, api_heartbeat },
	{ 13, 0, 5, api_leave_group },
	{ 14, 0, 5, api_sync_group },
	{ 15, 0, 5, api_describe_groups },
	{ 16, 0, 5, api_list_groups },
	{ 18, 0, 4, api_api_versions },
	{ 19, 0, 7, api_create_topics },
	{ 20, 0, 6, api_delete_topics },
	{ 21, 0, 2, api_delete_records },
	{ 22, 0, 4, api_init_producer_id },
	{ 23, 0, 4, api_offset_for_leader_epoch },
	{ 24, 0, 3, api_add_partitions_to_txn },
	{ 25, 0, 3, api_add_offsets_to_txn },
	{ 26, 0, 3, api_end_txn },
	/* 27 WriteTxnMarkers is broker-to-broker (the coordinator writes the
	 * markers itself): not served, so a client's request closes the
	 * connection like any unknown key. */
	{ 28, 0, 3, api_txn_offset_commit },
	{ 32, 0, 4, api_describe_configs },
	{ 33, 0, 2, api_alter_configs },
	{ 37, 0, 3, api_create_partitions },
	{ 42, 0, 2, api_delete_groups },
	{ 44, 0, 1, api_incremental_alter_configs },
	{ 47, 0, 0, api_offset_delete },
	{ 60, 0, 1, api_describe_cluster },
	{ 61, 0, 0, api_describe_producers },
	{ 65, 0, 0, api_describe_transactions },
	{ 66, 0, 1, api_list_transactions },
};
#define API_TABLE_LEN (sizeof(api_table) / sizeof(api_table[0]))

static const struct api_entry *api_entry_find(int16_t key)
{
	for (size_t i = 0; i < API_TABLE_LEN; i++)
		if (api_table[i].key == key)
			return &api_table[i];
	return NULL;
}

bool api_supported(int16_t key, int16_t *min, int16_t *max)
{
	const struct api_entry *e = api_entry_find(key);
	if (!e)
		return false;
	*min = e->min;
	*max = e->max;
	return true;
}

size_t api_supported_count(void) { return API_TABLE_LEN; }

void api_supported_at(size_t i, int16_t *key, int16_t *min, int16_t *max)
{
	*key = api_table[i].key;
	*min = api_table[i].min;
	*max = api_table[i].max;
}

void api_dispatch(struct req *req)
{
	const struct api_entry *e = api_entry_find(req->hdr.api_key);
	int16_t v = req->hdr.api_version;

	if (e && e->key == 18) {
		e->fn(req); /* ApiVersions answers unknown versions itself */
		return;
	}
	if (!e) {
		log_warn("api", "%s: unknown API key %d v%d (correlation id %d): closing connection",
			 req->peer, req->hdr.api_key, v, req->hdr.correlation_id);
		api_respond_close(req, "unknown API key");
		return;
	}
	if (v < e->min || v > e->max) {
		log_warn("api", "%s: unsupported version %d of API key %d (we serve %d-%d): closing connection",
			 req->peer, v, e->key, e->min, e->max);
		api_respond_close(req, "unsupported API version");
		return;
	}
	e->fn(req);
}

void *api_decode(struct req *req, const struct proto_msg *msg)
{
	void *body = arena_alloc(&req->arena, msg->body.size);
	if (!body) {
		api_respond_close(req, "out of memory");
		return NULL;
	}
	if (proto_decode(msg, req->hdr.api_version, &req->body, &req->arena, body) != 0) {
		log_warn("api", "%s: malformed %s v%d (correlation id %d, client %.*s): closing connection",
			 req->peer, msg->name, req->hdr.api_version, req->hdr.correlation_id,
			 req->hdr.client_id.len > 0 ? (int)req->hdr.client_id.len : 0,
			 req->hdr.client_id.len > 0 ? req->hdr.client_id.ptr : "");
		api_respond_close(req, "malformed request");
		return NULL;
	}
	return body;
}

void api_respond_version(struct req *req, const struct proto_msg *msg, int16_t version,
			 int hdr_version, const void *body)
{
	size_t mark = wbuf_mark(&req->out);
	wbuf_i32(&req->out, 0); /* size, patched below */
	proto_encode_resp_header(&req->out, hdr_version, req->hdr.correlation_id);
	proto_encode(msg, version, &req->out, body);
	if (req->out.oom) {
		log_error("api", "%s: out of memory encoding %s", req->peer, msg->name);
		req->done(req, REQ_CLOSE);
		return;
	}
	wbuf_patch_i32(&req->out, mark, (int32_t)(wbuf_len(&req->out) - 4));
	req->done(req, REQ_RESPONSE);
}

void api_respond(struct req *req, const struct proto_msg *msg, const void *body)
{
	int16_t v = req->hdr.api_version;
	api_respond_version(req, msg, v, proto_response_header_version(req->hdr.api_key, v), body);
}

void api_respond_none(struct req *req) { req->done(req, REQ_NO_RESPONSE); }

void api_respond_close(struct req *req, const char *why)
{
	log_debug("api", "%s: closing connection: %s", req->peer, why);
	req->done(req, REQ_CLOSE);
}

/* ---------------------------------------------------------------- helpers */

char *api_strdup(struct req *req, kstr s)
{
	if (s.len < 0)
		return NULL;
	return arena_strndup(&req->arena, s.ptr, (size_t)s.len);
}

kstr api_kstr(struct req *req, const char *s)
{
	if (!s)
		return kstr_null();
	size_t n = strlen(s);
	char *p = arena_strndup(&req->arena, s, n);
	kstr k = { p, p ? (int32_t)n : -1 };
	return k;
}

kstr api_kstr_copy(struct req *req, const char *s, bool nullable, bool *oom)
{
	if (!s)
		return nullable ? kstr_null() : kstr_c("");
	kstr k = api_kstr(req, s);
	if (k.len < 0)
		*oom = true;
	return k;
}

kbytes api_kbytes_copy(struct req *req, const uint8_t *p, int32_t len, bool *oom)
{
	kbytes b = { (const uint8_t *)"", 0 };
	if (!p || len <= 0)
		return b;
	uint8_t *c = arena_alloc(&req->arena, (size_t)len);
	if (!c) {
		*oom = true;
		return b;
	}
	memcpy(c, p, (size_t)len);
	b.ptr = c;
	b.len = len;
	return b;
}

int api_storage_err(int err)
{
	if (err == LOCAL_ERR_IO)
		return KAFKA_KAFKA_STORAGE_ERROR;
	if (err < -1)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	return err;
}
