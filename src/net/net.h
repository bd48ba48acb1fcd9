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

/* Parses listeners / advertised.listeners into b, creates the loops and
 * threads, binds and starts accepting. Returns 0 or -1 with err. */
int net_start(struct broker *b, char *err, size_t errlen);
/* Stops accepting, ends every loop, closes connections, joins threads. */
void net_stop(struct broker *b);
/* Parses "PLAINTEXT://host:port,NAME://host:port" into addrs (max n).
 * Returns the count or -1 with err. */
struct listener_addr;
int net_parse_listeners(const char *spec, struct listener_addr *addrs, int n, char *err, size_t errlen);
#endif
