/*
 * net.c — the network layer's life cycle: listener specs, loops and their
 * threads, idle reaping, shutdown (net.h).
 *
 * Listener spec (Kafka's `listeners` / `advertised.listeners`):
 *
 *   NAME://HOST:PORT[,NAME://HOST:PORT]...
 *   HOST = "" (all interfaces) | name | IPv4 | "[" IPv6 "]"
 *
 * Without listener.security.protocol.map the name is the security
 * protocol; only PLAINTEXT is served for now.
 *
 * Start (net_start, main thread): parse, bind every listener (port 0 ->
 * the kernel's choice, written back into b->listeners), create the loops,
 * register each listener on each loop (EPOLLEXCLUSIVE) plus an idle-scan
 * timer, then start one thread per loop ("runnel-net-N"). Everything a
 * loop needs is set up before its thread exists.
 *
 * Stop (net_stop, main thread) posts net_on_shutdown to every loop, which
 * (on the loop) stops accepting, closes every connection, expires parked
 * operations so their handlers answer now, and then — once the last
 * connection has been freed (handlers gave back every request), or after
 * NET_GRACE_MS — ends the loop. net_stop then joins the threads. The loops
 * themselves stay allocated (stopped: evloop_post returns -1) so that a
 * completion arriving late from another thread (a flush) is refused
 * safely; net_free releases them once no such thread remains.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delay/delay.h"
#include "net/net.h"
#include "net/net_int.h"
#include "util/log.h"

#define NET_GRACE_MS 5000
#define NET_IDLE_SCAN_MIN_MS 10
#define NET_IDLE_SCAN_MAX_MS 5000

static struct net_loop *net_loops;    /* b->nloops of them; main thread creates/frees */
static int net_fds[NET_MAX_LISTENERS];
static int net_nfds;

/* ------------------------------------------------------------- parsing */

static const char *const net_unsupported[] = { "SSL", "SASL_PLAINTEXT", "SASL_SSL", NULL };

static int net_check_name(const char *name, char *err, size_t errlen)
{
	if (strcmp(name, "PLAINTEXT") == 0)
		return 0;
	for (int i = 0; net_unsupported[i]; i++) {
		if (strcmp(name, net_unsupported[i]) == 0) {
			snprintf(err, errlen, "listener %s: security protocol %s is not supported yet (only PLAINTEXT)",
				 name, name);
			return -1;
		}
	}
	snprintf(err, errlen, "listener %s: unknown security protocol (listener.security.protocol.map "
		 "is not supported; name the listener PLAINTEXT)", name);
	return -1;
}

/* Splits "host:port" or "[v6]:port" (host may be empty). */
static int net_parse_hostport(const char *s, size_t len, struct listener_addr *a, char *err, size_t errlen)
{
	const char *colon = NULL, *host = s;
	size_t hlen;
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close || close + 1 >= s + len || close[1] != ':')
			goto bad;
		host = s + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		for (size_t i = 0; i < len; i++)
			if (s[i] == ':')
				colon = s + i;
		if (!colon)
			goto bad;
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen))
			goto bad; /* a bare IPv6 address: Kafka wants [brackets] */
	}
	if (hlen >= sizeof(a->host))
		goto bad;
	memcpy(a->host, host, hlen);
	a->host[hlen] = '\0';
	const char *p = colon + 1, *end = s + len;
	if (p == end || end - p > 5)
		goto bad;
	long port = 0;
	for (; p < end; p++) {
		if (!isdigit((unsigned char)*p))
			goto bad;
		port = port * 10 + (*p - '0');
	}
	if (port > 65535)
		goto bad;
	a->port = (int)port;
	return 0;
bad:
	snprintf(err, errlen, "listener %s: expected host:port or [ipv6]:port after ://, got '%.*s'",
		 a->name, (int)len, s);
	return -1;
}

/* Parses one "NAME://host:port" item of length len. */
static int net_parse_one(const char *s, size_t len, struct listener_addr *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	const char *sep = NULL;
	for (size_t i = 0; i + 3 <= len; i++) {
		if (memcmp(s + i, "://", 3) == 0) {
			sep = s + i;
			break;
		}
	}
	size_t nlen = sep ? (size_t)(sep - s) : 0;
	if (!sep || nlen == 0 || nlen >= sizeof(a->name)) {
		snprintf(err, errlen, "listener '%.*s': expected NAME://host:port", (int)len, s);
		return -1;
	}
	for (size_t i = 0; i < nlen; i++)
		a->name[i] = (char)toupper((unsigned char)s[i]);
	if (net_check_name(a->name, err, errlen) != 0)
		return -1;
	return net_parse_hostport(sep + 3, len - nlen - 3, a, err, errlen);
}

int net_parse_listeners(const char *spec, struct listener_addr *addrs, int n, char *err, size_t errlen)
{
	int count = 0;
	const char *p = spec ? spec : "";
	while (*p) {
		const char *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		const char *b = p, *e = end;
		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		if (b < e) {
			if (count == n) {
				snprintf(err, errlen, "more than %d listeners", n);
				return -1;
			}
			if (net_parse_one(b, (size_t)(e - b), &addrs[count], err, errlen) != 0)
				return -1;
			for (int i = 0; i < count; i++) {
				if (strcmp(addrs[i].name, addrs[count].name) == 0) {
					snprintf(err, errlen, "listener name %s appears twice", addrs[i].name);
					return -1;
				}
			}
			count++;
		}
		p = *end ? end + 1 : end;
	}
	if (count == 0) {
		snprintf(err, errlen, "no listener given (expected PLAINTEXT://host:port)");
		return -1;
	}
	return count;
}

/* --------------------------------------------------------- advertising */

static bool net_meta_address(const char *host)
{
	return host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
}

/* What clients are told: advertised.listeners, or the bound listeners with
 * an all-interfaces host replaced by this machine's name (as Kafka does). */
static int net_advertise(struct broker *b, char *err, size_t errlen)
{
	const char *spec = b->cfg.advertised_listeners;
	bool explicit = spec && spec[0];
	if (explicit) {
		b->nadvertised = net_parse_listeners(spec, b->advertised, NET_MAX_LISTENERS, err, errlen);
		if (b->nadvertised < 0)
			return -1;
	} else {
		memcpy(b->advertised, b->listeners, sizeof(b->advertised));
		b->nadvertised = b->nlisteners;
	}
	for (int i = 0; i < b->nadvertised; i++) {
		struct listener_addr *a = &b->advertised[i];
		if (explicit && a->host[0] && net_meta_address(a->host)) {
			snprintf(err, errlen, "advertised.listeners cannot use the nonroutable meta-address %s",
				 a->host);
			return -1;
		}
		if (net_meta_address(a->host) && gethostname(a->host, sizeof(a->host)) != 0)
			snprintf(a->host, sizeof(a->host), "localhost");
		a->host[sizeof(a->host) - 1] = '\0';
		for (int j = 0; a->port == 0 && j < b->nlisteners; j++)
			if (strcmp(b->listeners[j].name, a->name) == 0)
				a->port = b->listeners[j].port;
	}
	return 0;
}

/* ---------------------------------------------------------------- loops */

static int64_t net_idle_period(const struct broker *b)
{
	int64_t p = b->cfg.connections_max_idle_ms / 4;
	if (p < NET_IDLE_SCAN_MIN_MS)
		return NET_IDLE_SCAN_MIN_MS;
	return p > NET_IDLE_SCAN_MAX_MS ? NET_IDLE_SCAN_MAX_MS : p;
}

static void net_on_idle(void *arg)
{
	struct net_loop *nl = arg;
	int64_t now = evloop_now(nl->loop);
	conn_reap_idle(nl, now, nl->b->cfg.connections_max_idle_ms);
	nl->idle_timer = evtimer_add(nl->loop, now + net_idle_period(nl->b), net_on_idle, nl);
}

static void *net_thread(void *arg)
{
	struct net_loop *nl = arg;
	char name[16];
	snprintf(name, sizeof(name), "runnel-net-%d", evloop_index(nl->loop));
	pthread_setname_np(pthread_self(), name);
	evloop_run(nl->loop);
	return NULL;
}

static int net_loop_init(struct net_loop *nl, struct broker *b, int index)
{
	nl->b = b;
	nl->loop = evloop_new(index);
	if (!nl->loop)
		return -1;
	if (listener_attach(nl, net_fds, net_nfds) != 0)
		return -1;
	delay_register_loop(nl->loop);
	if (b->cfg.connections_max_idle_ms > 0) {
		nl->idle_timer = evtimer_add(nl->loop, evloop_now(nl->loop) + net_idle_period(b), net_on_idle, nl);
		if (!nl->idle_timer)
			return -1;
	}
	return 0;
}

/* Frees the loops and what is left on them. No thread may run them. */
static void net_loops_free(struct broker *b)
{
	for (int i = 0; net_loops && i < b->nloops; i++) {
		if (net_loops[i].loop) {
			delay_unregister_loop(net_loops[i].loop);
			evloop_free(net_loops[i].loop);
		}
	}
	free(net_loops);
	free(b->loops);
	net_loops = NULL;
	b->loops = NULL;
	b->nloops = 0;
}

static void net_close_fds(void)
{
	for (int i = 0; i < net_nfds; i++)
		close(net_fds[i]);
	net_nfds = 0;
}

/* --------------------------------------------------------------- start */

static int net_bind_all(struct broker *b, char *err, size_t errlen)
{
	b->nlisteners = net_parse_listeners(b->cfg.listeners, b->listeners, NET_MAX_LISTENERS, err, errlen);
	if (b->nlisteners < 0)
		return -1;
	for (int i = 0; i < b->nlisteners; i++) {
		int fd = listener_open(&b->listeners[i], err, errlen);
		if (fd < 0)
			return -1;
		net_fds[net_nfds++] = fd;
	}
	return net_advertise(b, err, errlen);
}

static int net_create_loops(struct broker *b, char *err, size_t errlen)
{
	long n = b->cfg.num_network_threads > 0 ? b->cfg.num_network_threads : sysconf(_SC_NPROCESSORS_ONLN);
	b->nloops = n > 0 ? (int)n : 1;
	b->loops = calloc((size_t)b->nloops, sizeof(*b->loops));
	net_loops = calloc((size_t)b->nloops, sizeof(*net_loops));
	if (!b->loops || !net_loops) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < b->nloops; i++) {
		if (net_loop_init(&net_loops[i], b, i) != 0) {
			snprintf(err, errlen, "cannot create event loop %d: %s", i, strerror(errno));
			return -1;
		}
		b->loops[i] = net_loops[i].loop;
	}
	return 0;
}

static void net_join(struct broker *b)
{
	for (int i = 0; i < b->nloops; i++) {
		if (net_loops[i].thread_started) {
			pthread_join(net_loops[i].thread, NULL);
			net_loops[i].thread_started = false;
		}
	}
}

int net_start(struct broker *b, char *err, size_t errlen)
{
	/* A peer that resets mid-write must give EPIPE, not kill the broker. */
	signal(SIGPIPE, SIG_IGN);
	atomic_store(&b->stopping, false);
	if (net_bind_all(b, err, errlen) != 0 || net_create_loops(b, err, errlen) != 0)
		goto fail;
	for (int i = 0; i < b->nloops; i++) {
		int rc = pthread_create(&net_loops[i].thread, NULL, net_thread, &net_loops[i]);
		if (rc != 0) {
			snprintf(err, errlen, "cannot start network thread %d: %s", i, strerror(rc));
			for (int j = 0; j < i; j++)
				evloop_stop(net_loops[j].loop);
			net_join(b);
			goto fail;
		}
		net_loops[i].thread_started = true;
	}
	return 0;
fail:
	net_loops_free(b);
	net_close_fds();
	return -1;
}

/* ---------------------------------------------------------------- stop */

void net_conn_gone(struct net_loop *nl)
{
	if (!nl->draining || nl->nconns > 0)
		return;
	if (nl->grace_timer) {
		evtimer_cancel(nl->loop, nl->grace_timer);
		nl->grace_timer = NULL;
	}
	evloop_stop(nl->loop);
}

static void net_on_grace(void *arg)
{
	struct net_loop *nl = arg;
	nl->grace_timer = NULL;
	log_warn("net", "loop %d: %d connections still wait for request handlers after %d ms; stopping anyway",
		 evloop_index(nl->loop), nl->nconns, NET_GRACE_MS);
	evloop_stop(nl->loop);
}

/* Loop thread: begins the shutdown of one loop. */
static void net_on_shutdown(void *arg)
{
	struct net_loop *nl = arg;
	nl->draining = true;
	listener_detach(nl);
	if (nl->idle_timer) {
		evtimer_cancel(nl->loop, nl->idle_timer);
		nl->idle_timer = NULL;
	}
	conn_kill_all(nl);
	delay_expire_all(nl->loop); /* parked fetches answer now (to closed sockets) */
	if (nl->nconns == 0) {
		evloop_stop(nl->loop);
		return;
	}
	nl->grace_timer = evtimer_add(nl->loop, evloop_now(nl->loop) + NET_GRACE_MS, net_on_grace, nl);
	if (!nl->grace_timer)
		evloop_stop(nl->loop);
}

void net_stop(struct broker *b)
{
	if (!net_loops)
		return;
	atomic_store(&b->stopping, true);
	for (int i = 0; i < b->nloops; i++) {
		if (evloop_post(net_loops[i].loop, net_on_shutdown, &net_loops[i]) != 0)
			evloop_stop(net_loops[i].loop);
	}
	net_join(b);
	net_close_fds();
	for (int i = 0; i < b->nloops; i++)
		delay_unregister_loop(net_loops[i].loop);
}

void net_free(struct broker *b)
{
	if (!net_loops)
		return;
	net_stop(b);
	for (int i = 0; i < b->nloops; i++)
		conn_free_all(&net_loops[i]);
	net_loops_free(b);
}
