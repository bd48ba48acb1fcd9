/*
 * par.h — a loop over an index range shared by a few threads.
 *
 * For work that waits on the disk (opening, closing or deleting thousands
 * of partition logs, each a few fsyncs): threads make the waits overlap.
 */
#ifndef RUNNEL_UTIL_PAR_H
#define RUNNEL_UTIL_PAR_H

#include <stdbool.h>
#include <stdint.h>

/* Called once per index; false stops the loop (no index is handed out
 * after it; calls already running finish). Runs on any of the threads. */
typedef bool (*par_fn)(void *ctx, int32_t i);

/* Calls fn for each i in [from, end), on the caller's thread plus up to
 * threads - 1 more (fewer if they cannot be created; none when the range
 * holds fewer than PAR_MIN indexes). Returns when every call has
 * returned. fn must be safe to run concurrently for distinct indexes. */
enum { PAR_MIN = 4 };
void par_for(int32_t from, int32_t end, int threads, par_fn fn, void *ctx);

#endif
