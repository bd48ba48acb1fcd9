/*
 * api_int.h — helpers shared by the handlers in src/api/ (private to the
 * api layer).
 */
#ifndef RUNNEL_API_INT_H
#define RUNNEL_API_INT_H
#include <stddef.h>
#include <stdint.h>
#include "api/api.h"

/* Decodes req's body as msg at the request's version into an arena struct.
 * On malformed input logs, finishes the request with REQ_CLOSE and returns
 * NULL (the handler must then return at once). */
void *api_decode(struct req *req, const struct proto_msg *msg);

/* Encodes with an explicit body version and header version (ApiVersions'
 * v0 fallback and its always-v0 header). */
void api_respond_version(struct req *req, const struct proto_msg *msg, int16_t version,
			 int hdr_version, const void *body);

/* The served API table, for ApiVersions. */
size_t api_supported_count(void);
void api_supported_at(size_t i, int16_t *key, int16_t *min, int16_t *max);

/* Arena copies: a NUL-terminated copy of a wire string (NULL for null), and
 * a kstr copy of a C string (null kstr for NULL). */
char *api_strdup(struct req *req, kstr s);
kstr api_kstr(struct req *req, const char *s);

/* Maps a core error (Kafka code or LOCAL_ERR_*) to a Kafka code for the wire. */
int api_storage_err(int err);

/* The advertised endpoint of this broker for the listener the request came
 * in on (first advertised listener for now). */
const struct listener_addr *api_advertised(struct req *req);
#endif
