/*
 * wire — raw Kafka requests over the project's codec; see wire.h.
 *
 * Every call has one deadline (now + timeout_ms) that bounds connect, each
 * write and each read: a silent broker costs exactly --timeout. A failed
 * call closes the connection, since a half-read answer would leave the
 * stream out of step.
 */
#include "wire.h"
#include "rnl.h"
#include "util/err.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Larger answers are refused: ours are a few KiB (a Kafka frame may be up
 * to 100 MiB, but nothing we ask for comes near this). */
#define WIRE_MAX_FRAME (64 * 1024 * 1024)

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool fail(struct wire *w, const char *fmt, const char *detail)
{
	snprintf(w->err, sizeof(w->err), fmt, detail);
	wire_close(w);
	return false;
}

static bool timed_out(struct wire *w)
{
	char secs[32];

	return fail(w, "no answer (timed out after %s)",
		    rnl_fmt_secs(w->timeout_ms, secs, sizeof(secs)));
}

/* Waits until fd is ready for `events` or the deadline passes. Returns 1
 * ready, 0 timed out, -1 error (errno). */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int rc;

	do {
		left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		rc = poll(&p, 1, (int)left);
	} while (rc < 0 && errno == EINTR);
	return rc;
}

/* ---- connect ---- */

/* Non-blocking connect to one address, bounded by deadline. Returns the
 * connected fd, or -1 with errno (ETIMEDOUT when the deadline passed). */
static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			ai->ai_protocol);
	int soerr = 0, rc;
	socklen_t len = sizeof(soerr);

	if (fd < 0)
		return -1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	rc = wait_fd(fd, POLLOUT, deadline);
	if (rc <= 0) {
		if (rc == 0)
			errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		goto fail;
	if (soerr == 0)
		return fd;
	errno = soerr;
fail:
	rc = errno;
	close(fd);
	errno = rc;
	return -1;
}

static bool connect_host(struct wire *w, const char *host, const char *port, int64_t deadline)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res), saved = 0;

	if (rc != 0)
		return fail(w, "cannot resolve: %s", gai_strerror(rc));
	for (struct addrinfo *ai = res; ai && w->fd < 0; ai = ai->ai_next) {
		w->fd = connect_one(ai, deadline);
		saved = errno;
	}
	freeaddrinfo(res);
	if (w->fd >= 0)
		return true;
	if (saved == ETIMEDOUT)
		return timed_out(w);
	return fail(w, "connect: %s", strerror(saved));
}

/* Asks ApiVersions v0 (every broker answers it) and keeps the ranges. */
static bool ask_versions(struct wire *w)
{
	struct api_versions_request req = { 0 };
	struct api_versions_response resp;
	struct arena a;
	bool ok;

	for (int k = 0; k <= WIRE_MAX_KEY; k++)
		w->vmax[k] = -1;
	arena_init(&a);
	ok = wire_call(w, PROTO_KEY_API_VERSIONS, 0, &req, &resp, &a);
	if (ok && resp.error_code) {
		char buf[256];

		ok = fail(w, "ApiVersions: %s", wire_err_text(resp.error_code, buf, sizeof(buf)));
	}
	for (int32_t i = 0; ok && i < resp.api_keys.count; i++) {
		const struct api_versions_response_api_version *av = &resp.api_keys.items[i];

		if (av->api_key >= 0 && av->api_key <= WIRE_MAX_KEY) {
			w->vmin[av->api_key] = av->min_version;
			w->vmax[av->api_key] = av->max_version;
		}
	}
	arena_fini(&a);
	return ok;
}

bool wire_open(struct wire *w, const char *host, int port, int timeout_ms)
{
	char port_s[16];

	*w = (struct wire){ .fd = -1, .timeout_ms = timeout_ms, .corr = 1 };
	snprintf(w->addr, sizeof(w->addr), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
	snprintf(port_s, sizeof(port_s), "%d", port);
	return connect_host(w, host, port_s, mono_ms() + timeout_ms) && ask_versions(w);
}

void wire_close(struct wire *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

int wire_version(const struct wire *w, int16_t key)
{
	const struct proto_api *api = proto_api_find(key);
	int hi, lo;

	if (!api || key < 0 || key > WIRE_MAX_KEY || w->vmax[key] < 0)
		return -1;
	hi = w->vmax[key] < api->request->vmax ? w->vmax[key] : api->request->vmax;
	lo = w->vmin[key] > api->request->vmin ? w->vmin[key] : api->request->vmin;
	return hi >= lo ? hi : -1;
}

/* ---- one request ---- */

static bool send_all(struct wire *w, const uint8_t *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		ssize_t k = send(w->fd, p, n, MSG_NOSIGNAL);
		int rc;

		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return fail(w, "send: %s", strerror(errno));
		rc = wait_fd(w->fd, POLLOUT, deadline);
		if (rc == 0)
			return timed_out(w);
		if (rc < 0)
			return fail(w, "poll: %s", strerror(errno));
	}
	return true;
}

static bool recv_all(struct wire *w, uint8_t *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		ssize_t k = recv(w->fd, p, n, 0);
		int rc;

		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (k == 0)
			return fail(w, "%s", "the broker closed the connection");
		if (errno != EAGAIN && errno != EINTR)
			return fail(w, "recv: %s", strerror(errno));
		rc = wait_fd(w->fd, POLLIN, deadline);
		if (rc == 0)
			return timed_out(w);
		if (rc < 0)
			return fail(w, "poll: %s", strerror(errno));
	}
	return true;
}

/* Builds the whole request frame (size prefix back-patched) in mem.
 * Returns false when out of memory or v is outside our definition. */
static bool build_frame(struct wbuf *wb, int16_t key, int16_t v, int32_t corr, const void *req)
{
	const struct proto_api *api = proto_api_find(key);
	size_t mark = wbuf_mark(wb);

	wbuf_i32(wb, 0);
	wbuf_i16(wb, key);
	wbuf_i16(wb, v);
	wbuf_i32(wb, corr);
	wbuf_i16(wb, 3);
	wbuf_bytes(wb, "rnl", 3);
	if (proto_request_header_version(key, v) >= 2)
		wbuf_uvarint(wb, 0);
	if (!api || proto_encode(api->request, v, wb, req) != 0 || wb->oom)
		return false;
	wbuf_patch_i32(wb, mark, (int32_t)(wbuf_len(wb) - 4));
	return true;
}

/* Reads one response frame into arena memory; *r covers its body (after
 * the header). */
static bool read_frame(struct wire *w, int16_t key, int16_t v, int32_t corr, struct arena *a,
		       struct rd *r, int64_t deadline)
{
	uint8_t size_b[4], *frame;
	struct rd h;
	int32_t size;

	if (!recv_all(w, size_b, 4, deadline))
		return false;
	h = rd_make(size_b, 4);
	size = rd_i32(&h);
	if (size < 4 || size > WIRE_MAX_FRAME)
		return fail(w, "%s", "malformed answer (frame size)");
	if (!(frame = arena_alloc(a, (size_t)size)))
		return fail(w, "%s", "out of memory");
	if (!recv_all(w, frame, (size_t)size, deadline))
		return false;
	*r = rd_make(frame, (size_t)size);
	if (rd_i32(r) != corr)
		return fail(w, "%s", "malformed answer (correlation id)");
	if (proto_response_header_version(key, v) == 1) {
		uint32_t n = rd_uvarint(r);

		for (uint32_t i = 0; i < n && !r->err; i++) {
			rd_uvarint(r);
			rd_take(r, rd_uvarint(r));
		}
	}
	return r->err ? fail(w, "%s", "malformed answer (header)") : true;
}

bool wire_call(struct wire *w, int16_t key, int16_t v, const void *req, void *resp,
	       struct arena *a)
{
	const struct proto_api *api = proto_api_find(key);
	int64_t deadline = mono_ms() + w->timeout_ms;
	int32_t corr = w->corr++;
	struct wbuf wb;
	struct rd r;
	bool ok;

	if (w->fd < 0)
		return fail(w, "%s", "not connected");
	wbuf_init(&wb);
	ok = api && build_frame(&wb, key, v, corr, req);
	if (!ok) {
		wbuf_fini(&wb);
		return fail(w, "%s", "cannot encode the request");
	}
	/* Our frames are memory only: one piece of wb.mem. */
	ok = send_all(w, wb.mem, wb.mem_len, deadline);
	wbuf_fini(&wb);
	if (!ok || !read_frame(w, key, v, corr, a, &r, deadline))
		return false;
	if (proto_decode(api->response, v, &r, a, resp) != 0)
		return fail(w, "malformed %s", api->response->name);
	return true;
}

const char *wire_err_text(int code, char *buf, size_t size)
{
	const char *name = kafka_err_name(code);
	const char *desc = NULL;

	/* librdkafka 2.0.2 knows Kafka's codes up to 97; its text starts
	 * with "Broker: ". */
	if (code > 0 && code < RD_KAFKA_RESP_ERR_END_ALL)
		desc = rd_kafka_err2str((rd_kafka_resp_err_t)code);
	if (desc && strncmp(desc, "Broker: ", 8) == 0)
		desc += 8;
	if (desc && *desc && strncmp(desc, "Err-", 4) != 0)
		snprintf(buf, size, "%s (%s)", name, desc);
	else
		snprintf(buf, size, "%s", name);
	return buf;
}

/* ---- reporting and the pool ---- */

void wire_report(const struct wire *w, const char *what)
{
	rnl_error("%s: broker at %s: %s", what, w->addr, w->err);
}

int wire_need(const struct wire *w, int16_t key, const char *what)
{
	const struct proto_api *api = proto_api_find(key);
	int v = wire_version(w, key);

	if (v < 0)
		rnl_error("%s: the broker at %s does not support %s", what, w->addr,
			  api ? api->name : "this request");
	return v;
}

void wire_pool_init(struct wire_pool *p, int timeout_ms)
{
	*p = (struct wire_pool){ .timeout_ms = timeout_ms };
}

void wire_pool_fini(struct wire_pool *p)
{
	for (size_t i = 0; i < p->n; i++)
		wire_close(&p->ents[i].conn);
	free(p->ents);
	*p = (struct wire_pool){ 0 };
}

struct wire *wire_pool_get(struct wire_pool *p, int32_t id, const char *host, int port,
			   const char *what)
{
	struct wire_pool_ent *e;

	for (size_t i = 0; i < p->n; i++) {
		e = &p->ents[i];
		if (e->id == id)
			return e->ok && e->conn.fd >= 0 ? &e->conn : NULL;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 4;
		struct wire_pool_ent *ents = realloc(p->ents, sizeof(*ents) * cap);

		if (!ents) {
			rnl_error("%s: out of memory", what);
			return NULL;
		}
		p->ents = ents;
		p->cap = cap;
	}
	e = &p->ents[p->n++];
	e->id = id;
	e->ok = wire_open(&e->conn, host, port, p->timeout_ms);
	if (!e->ok)
		wire_report(&e->conn, what);
	return e->ok ? &e->conn : NULL;
}
