/*
 * conn.c — one client connection: framing, the request FIFO, writes.
 *
 * Wire framing (Kafka): every request and response is
 *
 *   +----------------+------------------------------------+
 *   | size: int32 BE | size bytes: header, then body      |
 *   +----------------+------------------------------------+
 *
 * Reading. Bytes land in a small per-connection buffer (rbuf) from which
 * size prefixes and small frames are parsed; once a frame's remaining
 * part is larger than what rbuf holds, it is read straight into the frame.
 * A size < CONN_MIN_FRAME or > socket.request.max.bytes closes the
 * connection before anything is allocated. A complete frame becomes a
 * struct nreq (request + frame in one allocation), its header is decoded
 * (undecodable: close), it joins the FIFO and api_dispatch runs inline.
 * Requests keep being read while earlier ones are in handlers
 * (pipelining), up to NET_MAX_INFLIGHT per connection: then EPOLLIN is
 * dropped until responses have left.
 *
 * Request states (per nreq), and who moves them:
 *
 *   (reading) --conn_dispatch--> IN_HANDLER --conn_req_done--> DONE
 *   DONE at the FIFO head --conn_flush--> written --conn_req_pop--> freed
 *
 * Writing. Only DONE requests at the FIFO head are written, so responses
 * leave in request order whatever order handlers finish in. Memory pieces
 * of consecutive responses go out in one writev; file pieces with
 * sendfile. Headers and file data should share packets: a response whose
 * one file piece is its last (a one-partition fetch) sends what precedes
 * it with MSG_MORE, and the sendfile's end pushes; any other response with
 * file pieces is corked (TCP_CORK) from its first byte to its last — two
 * setsockopt calls that cost about as much as the send on this VM. At most
 * NET_WRITE_BUDGET bytes per connection per turn; the rest waits for
 * EPOLLOUT (level-triggered, so it also resumes a budget-capped write).
 * REQ_NO_RESPONSE is dropped at the head; REQ_CLOSE at the head closes.
 *
 * Lifetime. conn->refs counts: 1 while the connection is open, 1 per
 * request in the FIFO, 1 while a flush is deferred. conn_kill (EOF with
 * nothing pending, error, idle, malformed frame, REQ_CLOSE) closes the fd
 * and frees DONE requests, but requests still IN_HANDLER stay: their
 * handlers will call done() later, which then just frees them. The last
 * unref defers conn_free to the end of the turn, so a connection is never
 * freed inside one of its own callbacks and an epoll batch never points at
 * freed memory.
 *
 * Invariants:
 *   1. A dead connection has no fd, no EPOLL registration and only
 *      IN_HANDLER requests in its FIFO.
 *   2. wpiece/woff is the write position in the head's response; it is
 *      (0, 0) whenever the head changes.
 *   3. corked implies the head is a response with file pieces being
 *      written.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "api/api.h"
#include "net/net_int.h"
#include "util/log.h"

#define CONN_RBUF 16384
#define CONN_MIN_FRAME 8   /* smallest frame that could hold a request header */
#define CONN_IOV_MAX 64

enum nreq_state { NREQ_IN_HANDLER, NREQ_DONE };

struct nreq {
	struct req req;             /* what api sees; req.net_ctx == this */
	struct conn *conn;          /* borrowed; holds a reference on it */
	struct nreq *prev, *next;   /* the FIFO, arrival order */
	enum nreq_state state;
	enum req_outcome how;       /* valid when DONE */
	bool has_file;              /* response has file pieces */
	bool cork;                  /* ... other than one, last piece: cork it */
	size_t size, got;           /* frame bytes: expected, read so far */
	uint8_t frame[];            /* the request after its size prefix; owned */
};

struct conn {
	struct evio io;             /* first: the evio callback casts */
	struct net_loop *nl;        /* borrowed */
	struct conn *prev, *next;   /* nl->conns */
	char peer[64];              /* "127.0.0.1:50412"; requests borrow it */
	int refs;
	size_t rpos, rend;          /* into rbuf (below) */
	struct nreq *cur;           /* frame being read (not yet in the FIFO); owned */
	struct nreq *head, *tail;   /* FIFO; owned */
	int inflight;               /* requests in the FIFO */
	size_t wpiece;              /* index of the head's piece being written */
	uint64_t woff;              /* bytes of that piece already written */
	int64_t last_active;        /* monotonic ms of the last byte read or written */
	bool dead;                  /* closed; waits for handlers to give requests back */
	bool eof;                   /* peer half-closed: write what is pending, then close */
	bool closing;               /* a handler asked to close: read no more */
	bool corked;
	bool want_write;            /* EPOLLOUT wanted */
	bool flush_pending;         /* conn_on_flush deferred */
	/* Last, and not cleared by conn_new: an idle connection's RSS is the
	 * fields above and the start of rbuf its reads touched; pages of rbuf
	 * never read into stay unmapped (10,000 idle connections: +105 MiB
	 * with calloc of the whole struct, +59 MiB so; bench/scale). */
	uint8_t rbuf[CONN_RBUF];        /* [rpos, rend): read, not yet parsed */
};

static void conn_flush(struct conn *c);
static void conn_parse(struct conn *c);

/* ------------------------------------------------------------- lifetime */

static void conn_free(void *arg)
{
	struct conn *c = arg;
	struct net_loop *nl = c->nl;
	if (c->prev)
		c->prev->next = c->next;
	else
		nl->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	nl->nconns--;
	free(c);
	net_conn_gone(nl);
}

static void conn_unref(struct conn *c)
{
	assert(c->refs > 0);
	if (--c->refs == 0)
		evloop_defer(c->nl->loop, conn_free, c);
}

static void nreq_free(struct nreq *r)
{
	wbuf_fini(&r->req.out);
	arena_fini(&r->req.arena);
	free(r);
}

/* Removes r from c's FIFO and frees it. */
static void conn_req_remove(struct conn *c, struct nreq *r)
{
	bool was_head = r == c->head;
	if (r->prev)
		r->prev->next = r->next;
	else
		c->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		c->tail = r->prev;
	if (was_head) {
		c->wpiece = 0; /* invariant 2 */
		c->woff = 0;
	}
	c->inflight--;
	nreq_free(r);
	conn_unref(c);
}

static void conn_set_cork(struct conn *c, bool on)
{
	int v = on;
	if (c->corked != on && setsockopt(c->io.fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v)) == 0)
		c->corked = on;
}

/* Closes the socket. Requests in handlers keep c allocated until they are
 * given back. Idempotent. Loop thread. */
static void conn_kill(struct conn *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = true;
	log_debug("net", "%s: closing connection: %s", c->peer, why);
	evio_del(&c->io);
	close(c->io.fd);
	c->io.fd = -1;
	c->corked = false;
	if (c->cur) {
		nreq_free(c->cur);
		c->cur = NULL;
	}
	struct nreq *r = c->head;
	while (r) {
		struct nreq *next = r->next;
		if (r->state == NREQ_DONE) /* invariant 1 */
			conn_req_remove(c, r);
		r = next;
	}
	conn_unref(c); /* the open reference */
}

/* ---------------------------------------------------------------- events */

static bool conn_reading(const struct conn *c)
{
	return !c->dead && !c->eof && !c->closing && c->inflight < NET_MAX_INFLIGHT;
}

static void conn_update_events(struct conn *c)
{
	if (c->dead)
		return;
	uint32_t ev = (conn_reading(c) ? EPOLLIN : 0) | (c->want_write ? EPOLLOUT : 0);
	if (evio_mod(&c->io, ev) != 0)
		conn_kill(c, "epoll_ctl failed");
}

static void conn_on_flush(void *arg)
{
	struct conn *c = arg;
	c->flush_pending = false;
	if (!c->dead)
		conn_flush(c);
	conn_unref(c);
}

static void conn_schedule_flush(struct conn *c)
{
	if (c->flush_pending || c->dead)
		return;
	c->flush_pending = true;
	c->refs++;
	evloop_defer(c->nl->loop, conn_on_flush, c);
}

/* ---------------------------------------------------------------- reading */

static bool conn_has_file(const struct wbuf *w)
{
	for (size_t i = 0; i < w->npieces; i++)
		if (w->pieces[i].file)
			return true;
	return false;
}

/* A response with file pieces needs the cork unless its only file piece
 * is its last (then MSG_MORE before it does the same). */
static bool conn_needs_cork(const struct wbuf *w)
{
	for (size_t i = 0; i + 1 < w->npieces; i++)
		if (w->pieces[i].file)
			return true;
	return false;
}

/* req->done: the handler gives the request back (loop thread). */
static void conn_req_done(struct req *req, enum req_outcome how)
{
	struct nreq *r = req->net_ctx;
	struct conn *c = r->conn;
	assert(r->state == NREQ_IN_HANDLER); /* done() twice is a handler bug */
	assert(evloop_current() == c->nl->loop); /* api.h: the loop thread only */
	r->state = NREQ_DONE;
	r->how = how;
	if (c->dead) {
		conn_req_remove(c, r);
		return;
	}
	if (how == REQ_RESPONSE) {
		r->has_file = conn_has_file(&req->out);
		r->cork = r->has_file && conn_needs_cork(&req->out);
	}
	if (how == REQ_CLOSE) {
		c->closing = true;
		conn_update_events(c);
	}
	if (r == c->head)
		conn_schedule_flush(c);
}

static struct nreq *nreq_new(struct conn *c, size_t size)
{
	struct nreq *r = malloc(sizeof(*r) + size);
	if (!r)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->conn = c;
	r->size = size;
	arena_init(&r->req.arena);
	wbuf_init(&r->req.out);
	return r;
}

static void conn_log_bad_header(struct conn *c, const struct nreq *r)
{
	char hex[3 * 16 + 1] = "";
	size_t n = r->size < 16 ? r->size : 16;
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%02x ", r->frame[i]);
	log_warn("net", "%s: malformed request header (%zu bytes: %s...): closing connection",
		 c->peer, r->size, hex);
}

/* A whole frame has arrived: decode its header and hand it to api. */
static void conn_dispatch(struct conn *c, struct nreq *r)
{
	struct rd rd = rd_make(r->frame, r->size);
	if (proto_decode_req_header(&rd, &r->req.hdr) != 0) {
		conn_log_bad_header(c, r);
		nreq_free(r);
		conn_kill(c, "malformed request header");
		return;
	}
	r->req.body = rd;
	r->req.loop = c->nl->loop;
	r->req.peer = c->peer;
	r->req.done = conn_req_done;
	r->req.net_ctx = r;
	r->state = NREQ_IN_HANDLER;
	r->prev = c->tail;
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	c->inflight++;
	c->refs++;
	api_dispatch(&r->req);
}

/* Checks a size prefix; allocates the frame. False when c was closed. */
static bool conn_frame_begin(struct conn *c, int32_t size)
{
	int32_t max = c->nl->b->cfg.socket_request_max_bytes;
	if (size < CONN_MIN_FRAME || size > max) {
		log_warn("net", "%s: request size %d out of range (%d..%d): closing connection",
			 c->peer, size, CONN_MIN_FRAME, max);
		conn_kill(c, "bad frame size");
		return false;
	}
	c->cur = nreq_new(c, (size_t)size);
	if (!c->cur) {
		log_error("net", "%s: out of memory for a %d-byte request: closing connection", c->peer, size);
		conn_kill(c, "out of memory");
		return false;
	}
	return true;
}

/* Consumes rbuf: size prefixes, frame bytes, complete frames. */
static void conn_parse(struct conn *c)
{
	while (conn_reading(c)) {
		struct nreq *r = c->cur;
		size_t avail = c->rend - c->rpos;
		if (r) {
			size_t take = r->size - r->got < avail ? r->size - r->got : avail;
			memcpy(r->frame + r->got, c->rbuf + c->rpos, take);
			c->rpos += take;
			r->got += take;
			if (r->got < r->size)
				break;
			c->cur = NULL;
			conn_dispatch(c, r);
			continue;
		}
		if (avail < 4)
			break;
		const uint8_t *p = c->rbuf + c->rpos;
		int32_t size = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
		c->rpos += 4;
		if (!conn_frame_begin(c, size))
			return;
	}
	if (c->rpos == c->rend)
		c->rpos = c->rend = 0;
}

static void conn_on_eof(struct conn *c)
{
	c->eof = true;
	if (c->cur) {
		log_debug("net", "%s: peer closed in the middle of a request", c->peer);
		nreq_free(c->cur);
		c->cur = NULL;
	}
	if (!c->head) {
		conn_kill(c, "peer closed");
		return;
	}
	conn_update_events(c);
	conn_schedule_flush(c);
}

/* One read into the frame being read (when rbuf is drained) or into rbuf. */
static ssize_t conn_read_once(struct conn *c, size_t budget)
{
	struct nreq *r = c->cur;
	if (r && c->rpos == c->rend && r->size - r->got >= sizeof(c->rbuf)) {
		size_t want = r->size - r->got < budget ? r->size - r->got : budget;
		ssize_t n = read(c->io.fd, r->frame + r->got, want);
		if (n > 0)
			r->got += (size_t)n;
		return n;
	}
	if (c->rpos > 0) { /* keep the unparsed tail at the front */
		memmove(c->rbuf, c->rbuf + c->rpos, c->rend - c->rpos);
		c->rend -= c->rpos;
		c->rpos = 0;
	}
	ssize_t n = read(c->io.fd, c->rbuf + c->rend, sizeof(c->rbuf) - c->rend);
	if (n > 0)
		c->rend += (size_t)n;
	return n;
}

static void conn_read(struct conn *c)
{
	size_t budget = NET_READ_BUDGET;
	while (conn_reading(c) && budget > 0) {
		ssize_t n = conn_read_once(c, budget);
		if (n == 0) {
			conn_on_eof(c);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_kill(c, strerror(errno));
			break;
		}
		budget -= (size_t)n < budget ? (size_t)n : budget;
		c->last_active = evloop_now(c->nl->loop);
		conn_parse(c);
	}
	conn_update_events(c);
}

/* ---------------------------------------------------------------- writing */

/* Gathers memory pieces from the write position through the following
 * DONE responses without file pieces, up to budget bytes. */
static int conn_gather(struct conn *c, struct iovec *iov, size_t budget)
{
	int n = 0;
	size_t piece = c->wpiece;
	uint64_t off = c->woff;
	for (struct nreq *r = c->head; r && n < CONN_IOV_MAX && budget > 0; r = r->next) {
		if (r != c->head && (r->state != NREQ_DONE || r->how != REQ_RESPONSE || r->has_file))
			break;
		const struct wbuf *w = &r->req.out;
		for (; piece < w->npieces && n < CONN_IOV_MAX && budget > 0; piece++, off = 0) {
			const struct wpiece *p = &w->pieces[piece];
			if (p->file)
				return n;
			size_t len = p->len - off < budget ? (size_t)(p->len - off) : budget;
			iov[n].iov_base = w->mem + p->off + off;
			iov[n].iov_len = len;
			budget -= len;
			n++;
		}
		piece = 0;
	}
	return n;
}

/* The head's response is on the wire: uncork, free it. */
static void conn_req_pop(struct conn *c)
{
	if (c->corked)
		conn_set_cork(c, false);
	conn_req_remove(c, c->head);
}

/* Moves the write position n bytes on, freeing finished responses. */
static void conn_advance(struct conn *c, size_t n)
{
	while (c->head) {
		const struct wbuf *w = &c->head->req.out;
		while (c->wpiece < w->npieces) {
			uint64_t left = w->pieces[c->wpiece].len - c->woff;
			if (n < left) {
				c->woff += n;
				return;
			}
			n -= (size_t)left;
			c->wpiece++;
			c->woff = 0;
		}
		conn_req_pop(c);
		if (n == 0)
			return;
	}
}

/* Writes from the head (one writev or one sendfile). Returns bytes written,
 * or -1 with errno. */
static ssize_t conn_write_some(struct conn *c, size_t budget)
{
	struct nreq *r = c->head;
	const struct wpiece *p = &r->req.out.pieces[c->wpiece];
	if (r->cork && !c->corked && c->wpiece == 0 && c->woff == 0)
		conn_set_cork(c, true);
	if (!p->file) {
		struct iovec iov[CONN_IOV_MAX];
		struct msghdr mh = { .msg_iov = iov };
		mh.msg_iovlen = (size_t)conn_gather(c, iov, budget);
		/* The head's file piece follows what was gathered. */
		return sendmsg(c->io.fd, &mh, r->has_file && !r->cork ? MSG_MORE : 0);
	}
	off_t off = (off_t)(p->off + c->woff);
	size_t count = p->len - c->woff < budget ? (size_t)(p->len - c->woff) : budget;
	ssize_t n = sendfile(c->io.fd, p->file->fd, &off, count);
	if (n == 0) {
		/* The file is shorter than the response promised (a segment
		 * truncated under us): the frame can no longer be completed. */
		log_error("net", "%s: sendfile hit end of file at %lld: closing connection",
			  c->peer, (long long)off);
		errno = EIO;
		return -1;
	}
	return n;
}

/* Drops what needs no writing at the head. False when c was closed. */
static bool conn_skip_head(struct conn *c)
{
	struct nreq *r;
	while ((r = c->head) && r->state == NREQ_DONE) {
		if (r->how == REQ_CLOSE) {
			conn_kill(c, "closed by the request handler");
			return false;
		}
		if (r->how == REQ_RESPONSE && r->req.out.oom) {
			log_error("net", "%s: response ran out of memory: closing connection", c->peer);
			conn_kill(c, "out of memory");
			return false;
		}
		if (r->how == REQ_RESPONSE && c->wpiece < r->req.out.npieces)
			break;
		conn_req_pop(c); /* no response, or nothing (left) to send */
	}
	return true;
}

static void conn_flush(struct conn *c)
{
	size_t budget = NET_WRITE_BUDGET;
	bool blocked = false;
	while (budget > 0 && conn_skip_head(c) && c->head && c->head->state == NREQ_DONE) {
		ssize_t n = conn_write_some(c, budget);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				blocked = true;
				break;
			}
			conn_kill(c, strerror(errno));
			return;
		}
		c->last_active = evloop_now(c->nl->loop);
		budget -= (size_t)n < budget ? (size_t)n : budget;
		conn_advance(c, (size_t)n);
	}
	if (c->dead)
		return;
	if (c->eof && !c->head) {
		conn_kill(c, "peer closed");
		return;
	}
	c->want_write = blocked || (budget == 0 && c->head && c->head->state == NREQ_DONE);
	if (conn_reading(c) && c->rpos < c->rend)
		conn_parse(c); /* frames read before reads were paused */
	conn_update_events(c);
}

static void conn_on_io(struct evio *io, uint32_t events)
{
	struct conn *c = (struct conn *)io;
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && conn_reading(c))
		conn_read(c);
	if (!c->dead && (events & EPOLLOUT))
		conn_flush(c);
	if (!c->dead && (events & (EPOLLHUP | EPOLLERR)))
		conn_kill(c, events & EPOLLERR ? "socket error" : "hang-up");
}

/* ------------------------------------------------------------- exported */

static void conn_format_peer(char *out, size_t len, const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
		snprintf(out, len, "[%s]:%d", host, port);
		return;
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
	}
	snprintf(out, len, "%s:%d", host, port);
}

static void conn_sockopts(int fd, const struct config *cfg)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (cfg->socket_send_buffer_bytes > 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cfg->socket_send_buffer_bytes, sizeof(int));
	if (cfg->socket_receive_buffer_bytes > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &cfg->socket_receive_buffer_bytes, sizeof(int));
}

void conn_new(struct net_loop *nl, int fd, const struct sockaddr *sa, socklen_t salen)
{
	/* Not calloc: it may clear all of rbuf, and so make every idle
	 * connection's RSS the whole struct; rbuf needs no zeroes. */
	struct conn *c = nl->draining ? NULL : malloc(sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	memset(c, 0, offsetof(struct conn, rbuf));
	conn_sockopts(fd, &nl->b->cfg);
	conn_format_peer(c->peer, sizeof(c->peer), sa);
	c->nl = nl;
	c->refs = 1;
	c->io.fd = fd;
	c->io.fn = conn_on_io;
	c->last_active = evloop_now(nl->loop);
	if (evio_add(nl->loop, &c->io, EPOLLIN) != 0) {
		log_error("net", "%s: epoll_ctl: %s", c->peer, strerror(errno));
		close(fd);
		free(c);
		return;
	}
	c->next = nl->conns;
	if (nl->conns)
		nl->conns->prev = c;
	nl->conns = c;
	nl->nconns++;
	log_debug("net", "%s: connected (loop %d)", c->peer, evloop_index(nl->loop));
}

void conn_reap_idle(struct net_loop *nl, int64_t now_ms, int64_t idle_ms)
{
	for (struct conn *c = nl->conns; c; c = c->next) {
		/* Requests in handlers or unwritten responses are activity. */
		if (!c->dead && !c->head && now_ms - c->last_active >= idle_ms)
			conn_kill(c, "idle");
	}
}

void conn_kill_all(struct net_loop *nl)
{
	/* conn_kill never frees synchronously, so the list stays walkable. */
	for (struct conn *c = nl->conns; c; c = c->next)
		conn_kill(c, "broker shutting down");
}

void conn_free_all(struct net_loop *nl)
{
	struct conn *c;
	while ((c = nl->conns)) {
		nl->conns = c->next;
		if (!c->dead)
			close(c->io.fd);
		if (c->cur)
			nreq_free(c->cur);
		for (struct nreq *r = c->head, *next; r; r = next) {
			next = r->next;
			nreq_free(r);
		}
		free(c);
	}
	nl->nconns = 0;
}
