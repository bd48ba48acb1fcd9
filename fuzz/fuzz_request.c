// fuzz-deps: src/util src/protocol gen
/*
 * fuzz_request.c — libFuzzer target for the request codec
 * (src/protocol/codec.c and the generated tables): the first thing the
 * broker does with every frame a client sends.
 *
 * Input: a request frame without its 4-byte size prefix (header + body),
 * as the net layer hands it to api_dispatch. The target decodes the header,
 * looks the API up, and decodes the body at the header's version with a
 * fresh arena, as a handler would. When the body decodes it is re-encoded,
 * decoded again and re-encoded again, and the two encodings must be equal
 * (an encoding of decoded data is canonical); a difference aborts. For more
 * coverage of the tables the body is also decoded as that API's response.
 *
 * The frame is copied to an exact-size heap block first, because the
 * decoder hands out pointers into it (as into a real frame) and ASan should
 * see any read past its end. Nothing may crash, leak or trip a sanitizer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_gen.h"
#include "protocol/codec.h"
#include "util/buf.h"

/* Encodes body (of m, version v) into a fresh writer; returns its bytes in
 * *out (malloc'd, caller frees) or NULL if the encoder failed. */
static uint8_t *encode_flat(const struct proto_msg *m, int16_t v, const void *body, size_t *len)
{
	struct wbuf w;
	wbuf_init(&w);
	uint8_t *out = NULL;
	if (proto_encode(m, v, &w, body) == 0 && !w.oom) {
		if (w.mem_len != w.total)
			abort(); /* decoded records never become file pieces */
		out = malloc(w.mem_len ? w.mem_len : 1);
		if (out && w.mem_len)
			memcpy(out, w.mem, w.mem_len);
		*len = w.mem_len;
	}
	wbuf_fini(&w);
	return out;
}

/* Decodes [p, p+n) as m at v; on success checks that encoding is a fixed
 * point after one round (encode -> decode -> encode gives the same bytes). */
static void check_message(const struct proto_msg *m, int16_t v, const uint8_t *p, size_t n)
{
	struct arena a;
	arena_init(&a);
	void *body = arena_alloc(&a, m->body.size ? m->body.size : 1);
	struct rd r = rd_make(p, n);
	if (!body || proto_decode(m, v, &r, &a, body) != 0) {
		arena_fini(&a);
		return;
	}
	size_t n1 = 0, n2 = 0;
	uint8_t *e1 = encode_flat(m, v, body, &n1);
	if (!e1)
		abort(); /* only out of memory can fail here */
	void *again = arena_alloc(&a, m->body.size ? m->body.size : 1);
	struct rd r2 = rd_make(e1, n1);
	if (!again || proto_decode(m, v, &r2, &a, again) != 0 || rd_left(&r2) != 0)
		abort(); /* our own encoding must decode, completely */
	uint8_t *e2 = encode_flat(m, v, again, &n2);
	if (!e2 || n1 != n2 || (n1 && memcmp(e1, e2, n1) != 0))
		abort();
	free(e1);
	free(e2);
	arena_fini(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *frame = malloc(size ? size : 1);
	if (!frame)
		return 0;
	if (size)
		memcpy(frame, data, size);
	struct rd r = rd_make(frame, size);
	struct req_header h;
	if (proto_decode_req_header(&r, &h) == 0) {
		if (r.p < frame || r.p > frame + size)
			abort();
		if (h.client_id.len > 0 && ((const uint8_t *)h.client_id.ptr < frame ||
					    (const uint8_t *)h.client_id.ptr + h.client_id.len > frame + size))
			abort();
		const struct proto_api *api = proto_api_find(h.api_key);
		if (api) {
			size_t off = (size_t)(r.p - frame);
			check_message(api->request, h.api_version, frame + off, size - off);
			check_message(api->response, h.api_version, frame + off, size - off);
		}
		(void)proto_response_header_version(h.api_key, h.api_version);
	}
	free(frame);
	return 0;
}
