/*
 * pids.c — producer-id allocation in blocks (pids.h).
 *
 * Invariants:
 *  1. reserved <= INT64_MAX: a block is [r, r + PIDS_BLOCK) where r is
 *     reserved before it was taken; blocks never overlap.
 *  2. next <= end <= reserved: every id handed out lies in a block whose
 *     record is durable, and next only grows.
 *  3. After open next == end == reserved: the first pids_next reserves a
 *     fresh block above everything any earlier run handed out.
 */
#include "meta/pids.h"

#include <inttypes.h>

#include "util/err.h"
#include "util/log.h"

int pids_init(struct pids *p)
{
	p->next = p->end = p->reserved = 0;
	return pthread_mutex_init(&p->mu, NULL) == 0 ? 0 : -1;
}

void pids_fini(struct pids *p)
{
	pthread_mutex_destroy(&p->mu);
}

int pids_replay(struct pids *p, int64_t next_pid)
{
	if (next_pid < 0 || next_pid > INT64_MAX - PIDS_BLOCK)
		return -1;
	if (next_pid > p->reserved)
		p->reserved = next_pid;
	p->next = p->end = p->reserved; /* invariant 3 */
	return 0;
}

/* Reserves the block after p->reserved and makes it the block in memory.
 * p->mu held. Returns a Kafka code. */
static int block_take(struct pids *p, pids_reserve_fn reserve, void *arg)
{
	int64_t start = p->reserved;
	if (start > INT64_MAX - PIDS_BLOCK) {
		log_error("meta", "producer ids exhausted (next block would start at %" PRId64 ")", start);
		return KAFKA_UNKNOWN_SERVER_ERROR;
	}
	int rc = reserve(arg, p, start + PIDS_BLOCK);
	if (rc != KAFKA_NONE)
		return rc;
	p->next = start;
	p->end = start + PIDS_BLOCK;
	log_info("meta", "producer id block [%" PRId64 ", %" PRId64 ") reserved", p->next, p->end);
	return KAFKA_NONE;
}

int pids_next(struct pids *p, int64_t *pid, pids_reserve_fn reserve, void *arg)
{
	int rc = KAFKA_NONE;
	pthread_mutex_lock(&p->mu);
	if (p->next == p->end)
		rc = block_take(p, reserve, arg);
	if (rc == KAFKA_NONE)
		*pid = p->next++;
	pthread_mutex_unlock(&p->mu);
	return rc;
}
