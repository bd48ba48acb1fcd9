/*
 * codec.h — table-driven Kafka request/response codec.
 *
 * The project's own definitions of every supported API live in
 * src/protocol/defs/<api>.def (format: docs/protocol-defs.md). gen.py turns
 * them into build/gen/proto_gen.{h,c}: one C struct per message and nested
 * struct, and one descriptor table per message. codec.c interprets the
 * tables for any version, flexible versions included (compact strings,
 * bytes and arrays, unsigned varints, tagged fields).
 *
 * Naming (mechanical, so spec and code grep alike):
 *   message ProduceRequest        -> struct produce_request,
 *                                    descriptor proto_produce_request
 *   nested struct TopicProduceData inside it
 *                                 -> struct produce_request_topic_produce_data
 *   field PartitionIndex          -> partition_index
 *   field of type []X             -> struct { int32_t count; T *items; } name;
 *                                    (count -1 = null array)
 *   a single nested struct field  -> an inline struct member
 *   descriptors                   -> proto_produce_request (struct proto_msg);
 *                                    proto_produce_request_topic_produce_data
 *                                    (struct proto_struct, for proto_new_array)
 *   API keys                      -> PROTO_KEY_PRODUCE, PROTO_KEY_API_VERSIONS, ...
 *
 * Value types in generated structs:
 *   bool -> bool, int8/16/32/64 -> int8_t.., uint16 -> uint16_t,
 *   uint32 -> uint32_t, float64 -> double, string -> kstr, bytes -> kbytes,
 *   uuid -> kuuid, records -> krecords.
 *
 * Decoding borrows: kstr/kbytes/krecords point into the request frame, which
 * outlives the decoded struct (both die with the request). Arrays are
 * allocated from the request arena. A field absent in the decoded version
 * gets its default: the default= in the definition for numbers and bools
 * (else 0/false); for strings, bytes, records and arrays null when the field
 * is nullable in any version, else empty (an empty kstr/kbytes points at a
 * static ""); zero uuids; nested structs their own defaults. proto_new and
 * proto_new_array apply the same defaults — prefer them to arena_alloc for
 * response structs, since a zeroed struct is NOT the default where a
 * default is -1 (and a tagged field that differs from its default is sent).
 *
 * Encoding writes tagged fields only when they differ from their default (a
 * nested struct: when any of its fields does). Our own slips still give a
 * well-formed frame: null where the version allows none goes out empty, as
 * does a count > 0 with items NULL. docs/protocol-defs.md has the rules.
 */
#ifndef RUNNEL_PROTOCOL_CODEC_H
#define RUNNEL_PROTOCOL_CODEC_H
#include <stdbool.h>
#include <stdint.h>
#include "util/buf.h"

typedef struct { const char *ptr; int32_t len; } kstr;       /* len -1: null */
typedef struct { const uint8_t *ptr; int32_t len; } kbytes;  /* len -1: null */
typedef struct { uint8_t b[16]; } kuuid;
/* A record set. Decoded: ptr/len into the frame (file NULL). For encoding a
 * fetch response: either ptr/len, or file != NULL and (file, file_pos, len)
 * is sent with sendfile (the encoder takes its own file reference). */
typedef struct {
	uint8_t *ptr;           /* writable: produce rewrites offsets in place */
	int32_t len;            /* -1: null */
	struct fileref *file;
	uint64_t file_pos;
} krecords;

static inline kstr kstr_c(const char *s) { kstr k = { s, s ? (int32_t)__builtin_strlen(s) : -1 }; return k; }
static inline kstr kstr_null(void) { kstr k = { 0, -1 }; return k; }

/* ---- descriptor tables (generated; codec.c interprets them) ---- */
enum proto_type {
	PT_BOOL, PT_INT8, PT_INT16, PT_UINT16, PT_INT32, PT_UINT32, PT_INT64,
	PT_FLOAT64, PT_STRING, PT_BYTES, PT_UUID, PT_RECORDS, PT_STRUCT,
};

struct proto_struct;

struct proto_field {
	const char *name;            /* snake_case */
	enum proto_type type;
	bool array;                  /* []type */
	int16_t vmin, vmax;          /* versions that carry the field */
	int16_t null_min, null_max;  /* versions where null is allowed; -1,-1: never */
	int32_t tag;                 /* -1: regular field; else tagged field number */
	int16_t tag_vmin, tag_vmax;  /* versions where it is a tagged field */
	uint32_t offset;             /* offsetof in the C struct */
	int64_t def_int;             /* default for numeric/bool fields */
	const struct proto_struct *sub; /* PT_STRUCT element type */
};

struct proto_struct {
	const char *name;
	uint32_t size;               /* sizeof the C struct */
	uint16_t nfields;
	const struct proto_field *fields;
};

struct proto_msg {
	const char *name;            /* "ProduceRequest" */
	int16_t api_key;
	int16_t vmin, vmax;          /* valid versions */
	int16_t flex_min;            /* first flexible version; 0x7fff: none */
	struct proto_struct body;
};

struct proto_api {
	int16_t key;
	const char *name;            /* "Produce" */
	const struct proto_msg *request, *response;
};

/* All APIs that have definitions, by key (NULL where none). */
const struct proto_api *proto_api_find(int16_t key);

static inline bool proto_flexible(const struct proto_msg *m, int16_t v) { return v >= m->flex_min; }

/* Decodes a message body of version v into out (zeroed first, then
 * defaults applied). Returns 0, or -1 on malformed input (truncated,
 * invalid varint, negative or oversized length, null where null is not
 * allowed, array count larger than the bytes left could hold), on a v
 * outside m's range, or when the arena is out of memory. Allocates from a;
 * out and the arrays borrow r's bytes. Never reads past r->end; bytes left
 * after the body are not an error (r->p tells where the body ended).
 * Any thread; m is immutable. */
int proto_decode(const struct proto_msg *m, int16_t v, struct rd *r, struct arena *a, void *out);

/* Encodes in (a struct of m's type) as version v onto w. Fields absent in v
 * are skipped. Records with a file become a file piece of w (w takes its
 * own reference). Returns 0, or -1 if w ran out of memory (w->oom) or v is
 * outside m's range (nothing written). Borrows in. */
int proto_encode(const struct proto_msg *m, int16_t v, struct wbuf *w, const void *in);

/* Allocates a struct of m's body type from a with every field at its
 * default (for building responses); NULL when out of memory. The defaults
 * do not depend on v (kept for symmetry). */
void *proto_new(const struct proto_msg *m, int16_t v, struct arena *a);
/* Allocates an array of n elements of st (at least one element's worth of
 * memory when n is 0), each at its defaults; NULL when n < 0 or out of
 * memory. Nested descriptors are the generated proto_<msg>_<struct>. */
void *proto_new_array(const struct proto_struct *st, int16_t v, int32_t n, struct arena *a);

/* ---- headers ---- */
struct req_header {
	int16_t api_key;
	int16_t api_version;
	int32_t correlation_id;
	kstr client_id;              /* nullable; int16-length even in header v2 */
};

/* Request header version for (key, version): 2 when the API's request is
 * flexible at that version, else 1 (0 only for ControlledShutdown v0,
 * which we do not serve). A version outside the API's range is clamped to
 * it (ApiVersions v9 -> as v4 -> 2). Unknown API: 1. Any thread. */
int proto_request_header_version(int16_t key, int16_t v);
/* Response header version: 1 when flexible, else 0; ApiVersions is always 0
 * (ApiVersionsResponse.json). Versions beyond the API's range are clamped
 * to it; unknown API: 0. */
int proto_response_header_version(int16_t key, int16_t v);
/* Decodes the request header. Reads key+version first; the version of the
 * header follows from them (unknown API: header v1, since skipping tagged
 * fields needs to know they are there; a version outside the API's range
 * uses the header of the nearest known version, so an ApiVersions v9
 * request still parses). client_id borrows r's bytes. Returns 0, or -1
 * when truncated or malformed. */
int proto_decode_req_header(struct rd *r, struct req_header *h);
/* Writes a response header (correlation id, + empty tagged fields in v1). */
void proto_encode_resp_header(struct wbuf *w, int hdr_version, int32_t correlation_id);

#endif
