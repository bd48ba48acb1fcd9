/*
 * api.h — request handlers: one file per API key (produce.c, fetch.c, ...).
 * A handler decodes its body with the codec, calls the core, and answers
 * with api_respond() — at once, or later from the same loop thread after a
 * wait (acks=all flush, long-poll fetch). Handlers keep no state of their own.
 *
 * Request lifetime (owned by the net layer): the frame, the arena and the
 * response buffer live until the response has been written to the socket
 * (or the connection died). A handler that parks a request must hold it
 * through api_respond(); if the connection dies meanwhile, the net layer
 * still waits for api_respond() (or api_respond_none) before freeing, so a
 * parked request is always finished exactly once.
 */
#ifndef RUNNEL_API_API_H
#define RUNNEL_API_API_H
#include <stdbool.h>
#include <stdint.h>
#include "broker.h"
#include "protocol/codec.h"
#include "util/buf.h"

struct evloop;

enum req_outcome {
	REQ_RESPONSE,    /* req->out holds the whole response frame */
	REQ_NO_RESPONSE, /* nothing to send (acks=0) */
	REQ_CLOSE,       /* close the connection after earlier responses */
};

struct req {
	struct req_header hdr;       /* decoded header (client_id borrows the frame) */
	struct rd body;              /* the body, after the header */
	struct arena arena;          /* per-request allocations */
	struct wbuf out;             /* the response frame being built */
	struct evloop *loop;         /* the loop that owns the connection */
	const char *peer;            /* "127.0.0.1:50412", for logs; borrowed */
	/* Called once by api_respond / api_respond_none / api_respond_close
	 * (loop thread): hands the request back to the net layer. Set by net. */
	void (*done)(struct req *req, enum req_outcome how);
	void *net_ctx;               /* net layer's own per-request state */
};

/* Decodes the header's API/version, runs the handler. Unknown API keys and
 * unsupported versions get the answer Kafka gives (UNSUPPORTED_VERSION, or a
 * closed connection where the response schema is unknowable). Loop thread. */
void api_dispatch(struct req *req);

/* Encodes the response header and body (msg at the request's version) into
 * req->out with the 4-byte size prefix, then finishes the request. */
void api_respond(struct req *req, const struct proto_msg *msg, const void *body);
/* Finishes a request that has no response (acks=0 produce). */
void api_respond_none(struct req *req);
/* Finishes the request by closing the connection (malformed body). */
void api_respond_close(struct req *req, const char *why);

/* ---- handlers ---- */
void api_api_versions(struct req *req);
void api_metadata(struct req *req);
void api_produce(struct req *req);
void api_fetch(struct req *req);
void api_list_offsets(struct req *req);
void api_offset_for_leader_epoch(struct req *req);
void api_create_topics(struct req *req);
void api_delete_topics(struct req *req);
void api_delete_records(struct req *req);
void api_create_partitions(struct req *req);
void api_describe_configs(struct req *req);
void api_alter_configs(struct req *req);
void api_incremental_alter_configs(struct req *req);
/* One TOPIC or BROKER resource of AlterConfigs (replace_all) or
 * IncrementalAlterConfigs: checks the name and applies ch through the
 * meta. Returns a Kafka code with the message (possibly "") in msg.
 * (alter_configs.c) */
struct cfg_change;
int api_alter_resource(struct req *req, int8_t type, kstr name, const struct cfg_change *ch, size_t n,
		       bool replace_all, bool validate_only, char *msg, size_t msglen);
void api_describe_cluster(struct req *req);
/* idempotent producer: producer ids from src/meta (init_producer_id.c) */
void api_init_producer_id(struct req *req);
void api_describe_producers(struct req *req);
/* transactions (src/coord's transaction coordinator does the work) */
void api_add_partitions_to_txn(struct req *req);
void api_add_offsets_to_txn(struct req *req);
void api_end_txn(struct req *req);
void api_txn_offset_commit(struct req *req);
void api_describe_transactions(struct req *req);
void api_list_transactions(struct req *req);
/* consumer groups (src/coord does the work on its own thread) */
void api_find_coordinator(struct req *req);
void api_join_group(struct req *req);
void api_sync_group(struct req *req);
void api_heartbeat(struct req *req);
void api_leave_group(struct req *req);
void api_offset_commit(struct req *req);
void api_offset_fetch(struct req *req);
void api_offset_delete(struct req *req);
void api_list_groups(struct req *req);
void api_describe_groups(struct req *req);
void api_delete_groups(struct req *req);

/* The supported range of an API (what ApiVersions advertises); false when
 * the API is not served. */
bool api_supported(int16_t key, int16_t *min, int16_t *max);
#endif
