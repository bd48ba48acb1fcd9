/*
 * listener.c — listening sockets: bind, and accept on every loop.
 *
 * One listening socket per configured listener, created once by
 * net_start. Every loop registers its own evio for that fd with
 * EPOLLEXCLUSIVE, so a new connection wakes one loop (not all of them: no
 * thundering herd), which accepts it and owns it for life.
 *
 * When accept fails for lack of descriptors (EMFILE/ENFILE) the socket
 * stays readable, and level-triggered epoll would spin. The loop then
 * removes its watcher (an EPOLLEXCLUSIVE registration cannot be modified,
 * only deleted) and re-adds it from a timer LISTENER_PAUSE_MS later.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net_int.h"
#include "util/log.h"

#define LISTENER_BACKLOG 1024
#define LISTENER_ACCEPTS_PER_TURN 64
#define LISTENER_PAUSE_MS 100

/* ------------------------------------------------------------------ bind */

/* Resolves a listener's host for binding: "" = all interfaces (IPv6 any,
 * which also takes IPv4 unless the system forbids it; IPv4 any then). */
static struct addrinfo *listener_resolve(const struct listener_addr *a, char *err, size_t errlen)
{
	char port[16];
	snprintf(port, sizeof(port), "%d", a->port);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	hints.ai_family = a->host[0] ? AF_UNSPEC : AF_INET6;
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(a->host[0] ? a->host : NULL, port, &hints, &res);
	if (rc != 0 && !a->host[0]) {
		hints.ai_family = AF_INET;
		rc = getaddrinfo(NULL, port, &hints, &res);
	}
	if (rc != 0) {
		snprintf(err, errlen, "listener %s://%s:%d: cannot resolve host: %s",
			 a->name, a->host, a->port, gai_strerror(rc));
		return NULL;
	}
	return res;
}

static int listener_socket(const struct addrinfo *ai, char *err, size_t errlen)
{
	int one = 1;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, LISTENER_BACKLOG) != 0)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "%s", strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

static int listener_bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int listener_open(struct listener_addr *a, char *err, size_t errlen)
{
	char why[256] = "no address";
	struct addrinfo *res = listener_resolve(a, err, errlen);
	if (!res)
		return -1;
	int fd = -1;
	/* The first address that binds wins, IPv4 ones first: "localhost" may
	 * resolve to ::1 before 127.0.0.1, and clients that try only the
	 * first IPv4 address (as Java's resolver prefers) must still connect. */
	for (int pass = 0; pass < 2 && fd < 0; pass++)
		for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
			if ((ai->ai_family == AF_INET) == (pass == 0))
				fd = listener_socket(ai, why, sizeof(why));
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "listener %s://%s:%d: cannot bind: %s", a->name, a->host, a->port, why);
		return -1;
	}
	if (a->port == 0)
		a->port = listener_bound_port(fd);
	return fd;
}

/* ---------------------------------------------------------------- accept */

static void listener_on_accept(struct evio *io, uint32_t events);

static int listener_watch(struct net_lis *ls)
{
	ls->io.fn = listener_on_accept;
	return evio_add(ls->nl->loop, &ls->io, EPOLLIN | EPOLLEXCLUSIVE);
}

static void listener_on_resume(void *arg)
{
	struct net_loop *nl = arg;
	nl->accept_timer = NULL;
	for (int i = 0; i < nl->nlis; i++) {
		struct net_lis *ls = &nl->lis[i];
		if (ls->paused && !nl->draining && listener_watch(ls) == 0)
			ls->paused = false;
	}
}

static void listener_pause(struct net_lis *ls)
{
	struct net_loop *nl = ls->nl;
	evio_del(&ls->io);
	ls->paused = true;
	if (!nl->accept_timer)
		nl->accept_timer = evtimer_add(nl->loop, evloop_now(nl->loop) + LISTENER_PAUSE_MS,
					       listener_on_resume, nl);
}

static void listener_on_accept(struct evio *io, uint32_t events)
{
	struct net_lis *ls = (struct net_lis *)io;
	for (int i = 0; i < LISTENER_ACCEPTS_PER_TURN; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(io->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			conn_new(ls->nl, fd, (struct sockaddr *)&ss, len);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			log_warn("net", "accept: %s: pausing accepts on loop %d for %d ms",
				 strerror(errno), evloop_index(ls->nl->loop), LISTENER_PAUSE_MS);
			listener_pause(ls);
		} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
			log_warn("net", "accept: %s", strerror(errno));
		}
		return;
	}
}

int listener_attach(struct net_loop *nl, const int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++) {
		struct net_lis *ls = &nl->lis[i];
		ls->io.fd = fds[i];
		ls->nl = nl;
		ls->paused = false;
		if (listener_watch(ls) != 0)
			return -1;
		nl->nlis = i + 1;
	}
	return 0;
}

void listener_detach(struct net_loop *nl)
{
	for (int i = 0; i < nl->nlis; i++) {
		evio_del(&nl->lis[i].io);
		nl->lis[i].paused = false;
	}
	if (nl->accept_timer) {
		evtimer_cancel(nl->loop, nl->accept_timer);
		nl->accept_timer = NULL;
	}
}
