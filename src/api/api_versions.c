/*
 * api_versions.c — ApiVersions (key 18).
 *
 * Traps (PROTOCOL.md §3.1, KIP-511):
 *  - A version we do not know is still answered: in the v0 schema, with
 *    UNSUPPORTED_VERSION and only ApiVersions' own range, so the client can
 *    retry with a version we serve. We never decode such a body.
 *  - The response always uses response header v0 (no tagged fields), even
 *    for flexible versions, because a client cannot know the header version
 *    before it knows our versions.
 *  - v3+ carries the client's software name and version; Kafka refuses
 *    names outside [a-zA-Z0-9.-] with INVALID_REQUEST.
 */
#include <ctype.h>

#include "api/api_int.h"
#include "proto_gen.h"
#include "util/err.h"

static bool software_field_valid(kstr s)
{
	if (s.len <= 0)
		return s.len == 0;
	if (!isalnum((unsigned char)s.ptr[0]) || !isalnum((unsigned char)s.ptr[s.len - 1]))
		return false;
	for (int32_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];
		if (!isalnum(c) && c != '-' && c != '.')
			return false;
	}
	return true;
}

static void fill_keys(struct req *req, struct api_versions_response *resp, int16_t v, bool only_self)
{
	size_t n = only_self ? 1 : api_supported_count();
	resp->api_keys.items = proto_new_array(&proto_api_versions_response_api_version, v, (int32_t)n, &req->arena);
	resp->api_keys.count = resp->api_keys.items ? (int32_t)n : 0;
	for (size_t i = 0, k = 0; resp->api_keys.items && i < api_supported_count(); i++) {
		int16_t key, min, max;
		api_supported_at(i, &key, &min, &max);
		if (only_self && key != 18)
			continue;
		resp->api_keys.items[k].api_key = key;
		resp->api_keys.items[k].min_version = min;
		resp->api_keys.items[k].max_version = max;
		k++;
	}
	(void)v;
}

void api_api_versions(struct req *req)
{
	int16_t v = req->hdr.api_version, min, max;
	api_supported(18, &min, &max);
	struct api_versions_response *resp = proto_new(&proto_api_versions_response, 0, &req->arena);
	if (!resp) {
		api_respond_close(req, "out of memory");
		return;
	}
	if (v < min || v > max) {
		resp->error_code = KAFKA_UNSUPPORTED_VERSION;
		fill_keys(req, resp, 0, true);
		api_respond_version(req, &proto_api_versions_response, 0, 0, resp);
		return;
	}
	struct api_versions_request *rq = api_decode(req, &proto_api_versions_request);
	if (!rq)
		return;
	if (v >= 3 && (!software_field_valid(rq->client_software_name) ||
		       !software_field_valid(rq->client_software_version)))
		resp->error_code = KAFKA_INVALID_REQUEST;
	fill_keys(req, resp, v, false);
	resp->finalized_features_epoch = -1;
	api_respond_version(req, &proto_api_versions_response, v, 0, resp);
}
