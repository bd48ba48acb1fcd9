/*
 * net_int.h — internals shared by net.c (start/stop, threads), listener.c
 * (bind, accept) and conn.c (framing, request FIFO, writes). Not for other
 * layers: they see net.h and, for requests, api.h.
 *
 * Every struct here belongs to one loop thread, except net_loop's
 * `thread` (joined by net_stop) and the listening fds (shared, read-only).
 */
#ifndef RUNNEL_NET_NET_INT_H
#define RUNNEL_NET_NET_INT_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "broker.h"
#include "util/evloop.h"

#define NET_MAX_LISTENERS 4   /* == the arrays in struct broker */
#define NET_MAX_INFLIGHT 100  /* requests per connection read but not yet written */
#define NET_WRITE_BUDGET (1u << 20) /* bytes per connection per turn */
#define NET_READ_BUDGET (1u << 20)  /* bytes per connection per turn */

struct net_loop;
struct conn;

/* One loop's watcher on one shared listening socket. */
struct net_lis {
	struct evio io;         /* io.fd borrowed from net's listening fds */
	struct net_loop *nl;
	bool paused;            /* removed from epoll after EMFILE; a timer re-adds it */
};

struct net_loop {
	struct broker *b;             /* borrowed */
	struct evloop *loop;          /* owned by b->loops */
	pthread_t thread;
	bool thread_started;
	struct net_lis lis[NET_MAX_LISTENERS];
	int nlis;
	struct conn *conns;           /* every connection of this loop, dead ones too */
	int nconns;
	struct evtimer *idle_timer;   /* periodic idle scan, NULL when disabled */
	struct evtimer *accept_timer; /* re-enables paused listeners */
	struct evtimer *grace_timer;  /* shutdown: stop even if handlers still hold requests */
	bool draining;                /* shutdown began: loop stops when nconns == 0 */
};

/* ---- listener.c ---- */

/* Binds and listens on a (non-blocking, SO_REUSEADDR, backlog 1024). Port
 * 0 asks the kernel for a port; a->port is updated to the bound port.
 * Returns the fd, or -1 with err. Any thread (start-up). */
int  listener_open(struct listener_addr *a, char *err, size_t errlen);
/* Registers nl->lis[0..nfds) on nl's loop (EPOLLEXCLUSIVE). Creating
 * thread before the loop runs, or the loop thread. Returns 0 or -1. */
int  listener_attach(struct net_loop *nl, const int *fds, int nfds);
/* Unregisters nl's listener watchers. Loop thread. */
void listener_detach(struct net_loop *nl);

/* ---- conn.c ---- */

/* Takes ownership of an accepted, non-blocking socket and starts reading
 * requests from it. Closes fd on failure. Loop thread. */
void conn_new(struct net_loop *nl, int fd, const struct sockaddr *sa, socklen_t salen);
/* Closes connections idle for connections.max.idle.ms. Loop thread. */
void conn_reap_idle(struct net_loop *nl, int64_t now_ms, int64_t idle_ms);
/* Closes every connection of nl (shutdown). Loop thread. */
void conn_kill_all(struct net_loop *nl);
/* Frees every connection left on nl and its requests, whatever their
 * state. Only once no thread can run nl's loop or hold its requests. */
void conn_free_all(struct net_loop *nl);

/* ---- net.c ---- */

/* A connection of nl has been freed; ends a draining loop once the last
 * one is gone. Loop thread. */
void net_conn_gone(struct net_loop *nl);
#endif
