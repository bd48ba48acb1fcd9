/*
 * net.h — listeners, connections, Kafka framing.
 *
 * One event loop per network thread (num.network.threads, default one per
 * core). Each listener socket is shared by all loops (EPOLLEXCLUSIVE), so
 * the kernel hands each new connection to one loop, which owns it for life.
 *
 * Framing: 4-byte big-endian size, then the request. A size < 8 or above
 * socket.request.max.bytes closes the connection before anything is
 * allocated. Requests are read and dispatched as they arrive (pipelining);
 * responses leave in request order: a connection keeps a FIFO of requests,
 * and only completed requests at its head are written (writev for memory
 * pieces, sendfile for file pieces; TCP_CORK while headers precede file
 * data; a per-turn byte cap per connection). A malformed frame closes that
 * connection only. Idle connections are closed after
 * connections.max.idle.ms.
 */
#ifndef RUNNEL_NET_NET_H
#define RUNNEL_NET_NET_H
#include <stddef.h>

struct broker;

/* Parses listeners / advertised.listeners into b, binds (port 0: the
 * kernel picks one, stored back into b->listeners[i].port and the matching
 * advertised entry), creates b->nloops loops (num.network.threads, 0 = one
 * per core) and their threads, and starts accepting. Ignores SIGPIPE
 * process-wide. Returns 0, or -1 with err (nothing left running). Main
 * thread; b->cfg must be final. */
int net_start(struct broker *b, char *err, size_t errlen);
/* Stops accepting, closes connections, completes parked operations, waits
 * (up to a few seconds) for handlers to give back their requests, ends
 * every loop and joins the threads. The stopped loops stay allocated:
 * evloop_post on them returns -1. Main thread. */
void net_stop(struct broker *b);
/* Frees the loops (net_stop first if needed). Call once no other thread
 * can still post to them (after logdir_close). Main thread. */
void net_free(struct broker *b);
/* Parses "PLAINTEXT://host:port,NAME://host:port" into addrs (max n).
 * host: "" (all interfaces), a name, an IPv4 address or [IPv6]. Only the
 * PLAINTEXT security protocol is accepted (SSL/SASL_*: a clear error).
 * Returns the count or -1 with err. Any thread. */
struct listener_addr;
int net_parse_listeners(const char *spec, struct listener_addr *addrs, int n, char *err, size_t errlen);
#endif
