/*
 * cleaner_int.h — internals of the log cleaner (compaction), shared by
 * cleaner.c (threads, choice of partition, checkpoint), cleaner_map.c (the
 * offset map), cleaner_pass.c (one cleaning of a partition) and
 * cleaner_swap.c (the crash-safe replacement of segments). docs/compaction.md
 * tells the whole story; each file's header says its part.
 *
 * Nothing outside src/log/cleaner*.c includes this header except the
 * cleaner's unit test; the rest of src/log/ reaches the cleaner through the
 * cleaner__* functions of log_int.h.
 */
#ifndef RUNNEL_LOG_CLEANER_INT_H
#define RUNNEL_LOG_CLEANER_INT_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/log_int.h"

/* ========================================================= cleaner_map.c */

/* The offset map: 128-bit hash of a record key -> the latest offset seen
 * for it in the dirty section. Fixed memory (open addressing, linear
 * probing, 24 bytes a slot), filled to at most 90% (Kafka's
 * log.cleaner.io.buffer.load.factor). Two keys with the same 128-bit hash
 * would share a slot; the hash is strong enough that this does not happen
 * in practice (Kafka makes the same bet with MD5). One per pass, one
 * thread. */
struct cmap {
	uint64_t *slots;            /* owned: 3 words a slot: hash lo, hash hi, offset + 1 (0: empty) */
	size_t nslots;
	size_t count;               /* used slots */
	size_t limit;               /* count may not pass this (load factor) */
};

/* Sets up a map of at most max_bytes (>= one slot), sized down to what
 * want_keys distinct keys need when that is less. Returns 0, -1 on OOM. */
int cmap_init(struct cmap *m, size_t max_bytes, uint64_t want_keys);
void cmap_fini(struct cmap *m);
/* The 128-bit hash of a key (seeded, fixed across runs). */
void cmap_hash(const uint8_t *key, size_t n, uint64_t h[2]);
/* True when n more keys surely fit. */
bool cmap_room(const struct cmap *m, size_t n);
/* Records offset for hash h (a later offset replaces an earlier one). The
 * caller checked cmap_room. */
void cmap_put(struct cmap *m, const uint64_t h[2], int64_t offset);
/* The latest offset stored for h, or -1. */
int64_t cmap_get(const struct cmap *m, const uint64_t h[2]);

/* ======================================================= cleaner_pass.c */

/* What one cleaner thread (or one synchronous test call) brings to a pass:
 * throttle state, stop flag, buffers sizes; the pass adds its figures to
 * st. Owned by that thread. */
struct cleaner_ctx {
	const atomic_bool *stop;    /* borrowed: a pass gives up when it turns true; may be NULL */
	double rate;                /* log.cleaner.io.max.bytes.per.second; <= 0: none */
	int64_t win_start_ms;       /* mono ms the throttle window began */
	int64_t win_bytes;          /* bytes read + written in the window */
	pthread_mutex_t *sleep_mu;  /* with sleep_cond: throttle sleeps wake on stop; may be NULL */
	pthread_cond_t *sleep_cond;
	size_t map_bytes;           /* offset map memory for this thread */
	size_t io_buffer;           /* write buffer bytes (log.cleaner.io.buffer.size) */
	struct cleaner_stats st;    /* sums over this context's passes */
};

enum {
	CPASS_DONE = 0,             /* cleaned; *next_dirty set */
	CPASS_NOTHING = 1,          /* nothing cleanable */
	CPASS_MAP_TOO_SMALL = 2,    /* the map cannot hold the first dirty batch */
	CPASS_STOPPED = 3,          /* ctx->stop turned true; nothing swapped since */
	CPASS_ERROR = -1,           /* I/O or memory error (logged) */
};

/* The cleanable range of pl now (pl->mu held): the dirty section starts at
 * first_dirty (clamped to the log), both end at *end: the base of the
 * active segment, or of the first segment still unsynced, newer than
 * now - min.compaction.lag.ms, or holding the last stable offset (never
 * past an open transaction). Bytes are whole segments' sizes (Kafka's
 * estimate): *clean below the segment holding first_dirty, *dirty from it
 * to *end. *first_dirty_seg: index of that segment, or nsegs when none. */
void cpass_measure(struct plog *pl, int64_t now_ms, int64_t *first_dirty, int64_t *end,
		   int64_t *clean, int64_t *dirty, size_t *first_dirty_seg);

/* One cleaning of pl (cleaner_pass.c header): builds the offset map over
 * [first_dirty, end of the cleanable range) — stopping early when the map
 * fills — then rewrites every segment from the log start up to where the
 * map ends, group by group, each group swapped in by cswap_*. Returns a
 * CPASS_* code; on CPASS_DONE *next_dirty is the new first dirty offset.
 * Any thread but one pass per partition at a time; takes pl->mu briefly. */
int cpass_run(struct plog *pl, struct cleaner_ctx *cx, int64_t now_ms, int64_t first_dirty,
	      int64_t *next_dirty);

/* Accounts n bytes of cleaner I/O and sleeps as long as the throttle asks
 * (wakes early on stop). */
void cleaner_throttle(struct cleaner_ctx *cx, int64_t n);

/* ======================================================= cleaner_swap.c */

/* A group's replacement segment being written: <base>.<end>.log.cleaned and
 * its two indexes (cleaner_swap.c header has the names and the protocol). */
struct segment *cswap_create(struct plog *pl, const struct plog_config *cfg, int64_t base,
			     int64_t end);
/* Writes out's indexes as "<base>.<end>.index.cleaned" (.timeindex) and
 * fsyncs them. 0 or -1 (logged). */
int cswap_store_indexes(struct plog *pl, struct segment *out, int64_t end);
/* Writes the output's `.txnindex` (the aborted entries whose marker lies in
 * [out's base, end), when there are any), makes the written output durable
 * and swaps it in for olds[0..nold) (which must still be pl's segments, in
 * a row, else the output is discarded). Takes pl->mu (not held on entry).
 * Takes the reference of out in every case; the old segments' list
 * references go to logdir__delete_segment_later. Returns 1 swapped, 0
 * discarded (the log changed meanwhile), -1 on error (logged; the log is
 * unchanged or validly swapped). */
int cswap_commit(struct plog *pl, struct segment *out, int64_t end, struct segment **olds,
		 size_t nold);
/* Removes the files of an output that will not be swapped in, and drops
 * the reference. */
void cswap_discard(struct plog *pl, struct segment *out, int64_t end);
#endif
