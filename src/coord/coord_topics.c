/*
 * coord_topics.c — the coordinators' internal topics (__consumer_offsets,
 * __transaction_state): creation on first need, appends and durability
 * waits, and the start-up scan.
 *
 * Both topics are compacted and read whole at start-up: the last record
 * per key is the state. The scan reads through the ordinary partition log
 * (plog_read + pread), one slice of whole batches at a time.
 */
#include "coord/coord_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "log/plog.h"
#include "meta/meta.h"
#include "record/batch.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"

int coord_topic_ensure(const char *name, int32_t partitions, int32_t segment_bytes)
{
	struct topic *t = meta_topic_find(g_broker->meta, name, strlen(name));
	if (t) {
		topic_unref(t);
		return KAFKA_NONE;
	}
	char seg[24], err[256] = "";
	snprintf(seg, sizeof(seg), "%d", segment_bytes);
	struct kv cfgs[] = { { "cleanup.policy", "compact" }, { "segment.bytes", seg } };
	pthread_mutex_lock(&g_coord.topic_lock);
	int rc = meta_topic_create(g_broker->meta, name, partitions, 1, cfgs, 2, false, NULL, err,
				   sizeof(err));
	pthread_mutex_unlock(&g_coord.topic_lock);
	if (rc == KAFKA_NONE)
		log_info("coord", "created %s with %d partitions", name, partitions);
	if (rc == KAFKA_NONE || rc == KAFKA_TOPIC_ALREADY_EXISTS)
		return KAFKA_NONE;
	log_error("coord", "cannot create %s: %s", name, err);
	return KAFKA_COORDINATOR_NOT_AVAILABLE;
}

/* Calls fn for each whole batch of one slice. Returns the last offset
 * seen, or -1 when the slice held no parsable batch. */
static int64_t scan_slice(uint8_t *buf, size_t len, coord_batch_fn fn, void *arg)
{
	int64_t last = -1;
	size_t at = 0;
	while (at + BATCH_LOG_OVERHEAD <= len) {
		struct batch_hdr h;
		if (batch_parse_header(buf + at, len - at, &h) != 0)
			break;
		size_t bn = batch_total_size(&h);
		if (bn > len - at)
			break;
		fn(arg, buf + at, bn, &h);
		last = batch_last_offset(&h);
		at += bn;
	}
	return last;
}

int coord_log_scan(struct plog *pl, coord_batch_fn fn, void *arg)
{
	int64_t off = plog_start_offset(pl), end = plog_end_offset(pl);
	while (off < end) {
		struct plog_slice sl = { .file = NULL };
		int rc = plog_read(pl, off, end, 1 << 20, true, &sl);
		if (rc != KAFKA_NONE || sl.len == 0) {
			if (sl.file)
				fileref_unref(sl.file);
			return rc != KAFKA_NONE ? -1 : 0;
		}
		uint8_t *buf = malloc(sl.len);
		ssize_t got = buf ? pread(sl.file->fd, buf, sl.len, (off_t)sl.pos) : -1;
		fileref_unref(sl.file);
		if (got != (ssize_t)sl.len) {
			free(buf);
			return -1;
		}
		/* The slice holds whole, validated batches (the log checked them
		 * on append and recovery). */
		int64_t last = scan_slice(buf, sl.len, fn, arg);
		free(buf);
		if (last < off)
			return -1;
		off = last + 1;
	}
	return 0;
}

/* ------------------------------------------------------------- appends */

int coord_append(struct plog *pl, const struct batch_kv *kv, int n, const struct batch_producer *prod,
		 int64_t *base, int64_t *end)
{
	size_t len = 0;
	int64_t now = clock_wall_ms();
	uint8_t *batch = prod ? batch_build_kv_producer(0, now, n, kv, prod, &len)
			      : batch_build_kv(0, now, n, kv, &len);
	if (!batch)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	struct plog_append_result res;
	int rc = plog_append(pl, batch, len, now, &res);
	free(batch);
	if (rc != KAFKA_NONE)
		return rc == LOCAL_ERR_IO ? KAFKA_KAFKA_STORAGE_ERROR : rc;
	*base = res.base_offset;
	*end = res.last_offset + 1;
	return KAFKA_NONE;
}

/* One durability wait; freed on the coordinator thread. */
struct coord_wait {
	coord_durable_fn fn;
	void *arg;
	int err;
};

static void wait_done(void *arg)
{
	struct coord_wait *w = arg;
	w->fn(w->arg, w->err);
	free(w);
	atomic_fetch_sub(&g_coord.inflight, 1);
}

/* Flusher thread (or inline): back to the coordinator thread. */
static void wait_durable(void *arg, int err)
{
	struct coord_wait *w = arg;
	if (err != KAFKA_NONE && w->err == KAFKA_NONE)
		w->err = err == LOCAL_ERR_IO ? KAFKA_KAFKA_STORAGE_ERROR : err;
	if (evloop_post(g_coord.loop, wait_done, w) != 0) {
		log_warn("coord", "coordinator stopped: the outcome of a write is dropped "
			 "(the state it carries is reloaded at start-up)");
		free(w);
		atomic_fetch_sub(&g_coord.inflight, 1);
	}
}

int coord_when_durable(struct plog *pl, int64_t end, int err, coord_durable_fn fn, void *arg)
{
	struct coord_wait *w = malloc(sizeof(*w));
	if (!w)
		return -1;
	*w = (struct coord_wait){ fn, arg, err };
	atomic_fetch_add(&g_coord.inflight, 1);
	if (err == KAFKA_NONE && pl)
		plog_when_durable(pl, end, wait_durable, w);
	else
		wait_durable(w, err);
	return 0;
}
