/*
 * pids.h — producer-id allocation (private to src/meta; the public entry
 * is meta_producer_id_next in meta.h).
 *
 * Ids are handed out from a block of PIDS_BLOCK ids held in memory; a new
 * block is reserved durably (one PRODUCER_IDS metadata record) before any
 * of its ids is handed out, so an id is never handed out twice, not even
 * across a crash: after a restart allocation continues at the end of the
 * highest reserved block, and the unused rest of the block in memory at
 * the crash is skipped (as Kafka's ProducerIdManager skips it).
 */
#ifndef RUNNEL_META_PIDS_H
#define RUNNEL_META_PIDS_H
#include <pthread.h>
#include <stdint.h>

#define PIDS_BLOCK 1000  /* ids per reserved block (Kafka's PRODUCER_ID_BLOCK_SIZE) */

struct pids {
	pthread_mutex_t mu;  /* guards next and end; held across a block reservation */
	int64_t next;        /* next id to hand out; mu */
	int64_t end;         /* end (exclusive) of the block in memory; mu */
	int64_t reserved;    /* end of the highest block durably reserved: the first id
			      * no block covers. Written only at replay (open, single
			      * thread) and by the reserve callback (meta's mu held, and
			      * mu held by pids_next), so it may be read under either. */
};

/* Called by pids_next, with p->mu held, to make the block ending at end
 * durable. It must set p->reserved = end once the record is durable (before
 * anything that could snapshot the metadata). Returns a Kafka code. */
typedef int (*pids_reserve_fn)(void *arg, struct pids *p, int64_t end);

/* Returns 0 or -1 (mutex). */
int pids_init(struct pids *p);
void pids_fini(struct pids *p);

/* Applies a replayed PRODUCER_IDS record: the highest end wins (a lower
 * one, from an older record still in the log after a snapshot, changes
 * nothing). Returns 0, or -1 when next_pid is impossible (negative or so
 * high that no further block fits). Open only. */
int pids_replay(struct pids *p, int64_t next_pid);

/* Hands out the next producer id in *pid. When the block in memory is used
 * up, reserves the next one through reserve(arg, ...) first (blocking for
 * its fdatasync). Returns KAFKA_NONE, the reserve callback's error (nothing
 * handed out), or KAFKA_UNKNOWN_SERVER_ERROR when the id space is
 * exhausted. Any thread. */
int pids_next(struct pids *p, int64_t *pid, pids_reserve_fn reserve, void *arg);
#endif
