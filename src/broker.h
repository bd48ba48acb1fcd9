/*
 * broker.h — the broker's core context, shared by the layers above util.
 * One instance per process, created in main.c; everything in it is either
 * immutable after start-up or has its own synchronisation (noted per field).
 */
#ifndef RUNNEL_BROKER_H
#define RUNNEL_BROKER_H
#include <stdatomic.h>
#include <stdint.h>
#include "util/config.h"

struct meta;
struct logdir;
struct evloop;

struct listener_addr {
	char name[32];   /* listener name, "PLAINTEXT" */
	char host[256];  /* as configured; "" = all interfaces */
	int port;
};

struct broker {
	struct config cfg;           /* immutable after start-up */
	struct meta *meta;           /* own locking */
	struct logdir *logdir;       /* own locking */
	struct evloop **loops;       /* event loops, one per network thread */
	int nloops;
	struct listener_addr listeners[4];  /* parsed `listeners` */
	int nlisteners;
	struct listener_addr advertised[4]; /* parsed `advertised.listeners` (or listeners) */
	int nadvertised;
	int64_t start_ms;            /* wall clock at start */
	atomic_bool stopping;
};

extern struct broker *g_broker;  /* set once in main before loops start */

#define RUNNEL_VERSION "0.1.0"
#endif
