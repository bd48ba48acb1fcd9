/*
 * coord_topics.c — the coordinators' internal topics (__consumer_offsets,
 * __transaction_state): creation on first need and the start-up scan.
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
#include "util/err.h"
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
