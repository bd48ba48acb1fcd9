/*
 * wire — a small raw Kafka client for the admin APIs librdkafka 2.0.2 does
 * not expose (DescribeProducers, ListTransactions, DescribeTransactions).
 *
 * It reuses the broker's own codec (src/protocol/codec.h and the generated
 * build/gen/proto_gen.h from src/protocol/defs), so rnl encodes requests
 * and decodes answers from the same definitions the broker serves them
 * with; only the request header (four fields) is written here.
 *
 * One connection per struct wire, blocking I/O bounded by a deadline per
 * call (--timeout). wire_open connects and asks ApiVersions v0 first, so
 * wire_version can pick, per API, the highest version both sides know.
 *
 * Frame on the wire (Kafka protocol guide):
 *   request:  int32 size | int16 api_key | int16 api_version |
 *             int32 correlation_id | string client_id (int16 length) |
 *             [tagged fields: uvarint 0, request header v2 only] | body
 *   response: int32 size | int32 correlation_id |
 *             [tagged fields, response header v1 only] | body
 *
 * Memory: an answer is decoded into the caller's arena, and its strings
 * point into the frame, which is allocated from that arena too: everything
 * lives until arena_fini(). Main thread only (like the rest of rnl).
 */
#ifndef RNL_WIRE_H
#define RNL_WIRE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto_gen.h"
#include "protocol/codec.h"
#include "util/buf.h"

enum { WIRE_MAX_KEY = 127 };

struct wire {
	int fd;                          /* owned; -1 when closed */
	int timeout_ms;                  /* deadline of each call */
	int32_t corr;                    /* next correlation id */
	int16_t vmin[WIRE_MAX_KEY + 1];  /* the broker's versions per API key; */
	int16_t vmax[WIRE_MAX_KEY + 1];  /* vmax -1: not served */
	char addr[300];                  /* "host:port", for messages */
	char err[512];                   /* why the last call failed */
};

/* Connects to host:port (a broker as Metadata names it) and asks
 * ApiVersions. Returns true, or false with w->err set ("connect: Connection
 * refused", "no answer (timed out after 5s)", ...); w is then closed. */
bool wire_open(struct wire *w, const char *host, int port, int timeout_ms);
void wire_close(struct wire *w);

/* The highest version of `key` both the broker and our definitions know,
 * or -1 when there is none (the broker does not serve it). */
int wire_version(const struct wire *w, int16_t key);

/* Sends request `req` (a struct of the API's request type) as version v,
 * waits for the answer and decodes it into resp (a struct of the response
 * type). Returns true, or false with w->err set (I/O, timeout, malformed
 * answer; the connection is closed then). Allocates from a. */
bool wire_call(struct wire *w, int16_t key, int16_t v, const void *req, void *resp,
	       struct arena *a);

/* Prints "rnl: WHAT: broker at HOST:PORT: <w->err>". */
void wire_report(const struct wire *w, const char *what);

/* The version of `key` to use with w, or -1 after printing "rnl: WHAT:
 * the broker at HOST:PORT does not support NAME". */
int wire_need(const struct wire *w, int16_t key, const char *what);

/* Connections to several brokers by node id, opened on first use and kept
 * for the rest of the command (a coordinator asked twice is dialled once). */
struct wire_pool_ent {
	int32_t id;                      /* node id */
	bool ok;                         /* conn is open (else the dial failed) */
	struct wire conn;
};
struct wire_pool {
	int timeout_ms;
	struct wire_pool_ent *ents;      /* owned */
	size_t n, cap;
};
void wire_pool_init(struct wire_pool *p, int timeout_ms);
void wire_pool_fini(struct wire_pool *p);
/* The connection to node `id` at host:port (dialled now if new), or NULL
 * after printing the failure with wire_report(what) — once per node: a
 * later call for a node that failed returns NULL silently. */
struct wire *wire_pool_get(struct wire_pool *p, int32_t id, const char *host, int port,
			   const char *what);

/* Kafka's error name for code ("TRANSACTIONAL_ID_NOT_FOUND") followed by
 * librdkafka's description when it knows the code, into buf:
 * "NAME (description)" or "NAME". Returns buf. */
const char *wire_err_text(int code, char *buf, size_t size);

#endif
