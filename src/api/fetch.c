/*
 * fetch.c — Fetch (key 1), sessionless, with long polling.
 *
 * Reading: per partition plog_read() returns whole stored batches as a
 * file range; the response carries it as a file piece sent with sendfile,
 * so record bytes never pass through user space. A fetch offset inside a
 * batch returns that whole batch (the client skips what it did not ask
 * for). Limits: PartitionMaxBytes per partition and MaxBytes (v3+) for the
 * response, except that the first batch of the first partition with data is
 * returned even when larger (KIP-74), so a consumer never stalls on a big
 * batch.
 *
 * Isolation (v4+; KIP-98): read_uncommitted (0) reads up to the high
 * watermark; read_committed (1) only up to the last stable offset (LSO,
 * plog.h: the first offset of the oldest open transaction), so it never
 * sees data whose transaction may still abort. Every answer carries the
 * LSO (Kafka sends it for both levels). A read_committed answer also
 * carries AbortedTransactions: (ProducerId, FirstOffset) of every aborted
 * transaction that may have records in the data returned —
 * plog_aborted_txns over [FetchOffset, end of the returned batches), the
 * range Kafka uses too (the slice's next_offset: plog_read learns it from
 * the batch headers it already walks). The client
 * drops aborted records and control batches itself: the broker does no
 * per-record work. read_uncommitted gets a null list, as in Kafka.
 *
 * Long poll: when fewer than MinBytes are available and MaxWaitMs > 0, the
 * request parks as a delayed operation (src/delay) and is answered at
 * MaxWaitMs at the latest. A parked fetch holds no file reference (a
 * deleted segment's space is not kept for MaxWaitMs). Each time any
 * partition gets data it is re-evaluated: first a check of its own
 * partitions' read limits against those of its last fill — the high
 * watermark, or for read_committed the LSO, which a transaction marker
 * moves without much new data (a lookup and an atomic read each, no disk
 * read) — and only when one moved a new fill. Errors (unknown partition,
 * offset out of range) answer at once.
 *
 * Sessions (KIP-227, v7+): we decline them — the response's SessionId is
 * always 0, which tells clients to keep sending full fetches. A request
 * naming a session id we never gave gets FETCH_SESSION_ID_NOT_FOUND.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "delay/delay.h"
#include "log/plog.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/evloop.h"

#define FETCH_MAX_PARK_MS 30000 /* see api_fetch */

typedef struct fetch_response_fetchable_topic_response topic_resp;
typedef struct fetch_response_partition_data part_resp;

struct fetch_op {
	struct delayed_op op;        /* first: delay hands us back this pointer */
	struct req *req;
	struct fetch_request *rq;
	struct fetch_response *resp;
	struct fileref **files;      /* malloc'd; one per partition, NULL if none */
	int64_t *limits;             /* arena; per partition: its read limit at the last fill
				      * (high watermark, or LSO for read_committed) */
	size_t nfiles;
	int64_t bytes;               /* record bytes in the current fill */
	bool error;                  /* some partition has an error */
};

static void release_files(struct fetch_op *fo)
{
	for (size_t i = 0; i < fo->nfiles; i++) {
		if (fo->files[i])
			fileref_unref(fo->files[i]);
		fo->files[i] = NULL;
	}
}

/* The aborted transactions a read_committed answer needs for data read
 * from `from` below `to` (fetch.c header), copied into the request's arena.
 * Out of memory: the partition answers UNKNOWN_SERVER_ERROR rather than
 * data a client could not filter. */
static int fill_aborted(struct fetch_op *fo, struct plog *pl, int64_t from, int64_t to,
			part_resp *pr)
{
	struct plog_aborted *v = NULL;
	ssize_t n = plog_aborted_txns(pl, from, to, &v);
	if (n < 0)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	if (n > INT32_MAX)
		n = INT32_MAX;
	struct fetch_response_aborted_transaction *items = NULL;
	if (n > 0) {
		items = proto_new_array(&proto_fetch_response_aborted_transaction,
					fo->req->hdr.api_version, (int32_t)n, &fo->req->arena);
		if (items == NULL) {
			free(v);
			return KAFKA_UNKNOWN_SERVER_ERROR;
		}
	}
	for (ssize_t i = 0; i < n; i++) {
		items[i].producer_id = v[i].producer_id;
		items[i].first_offset = v[i].first_offset;
	}
	free(v);
	pr->aborted_transactions.items = items;
	pr->aborted_transactions.count = (int32_t)n;
	return KAFKA_NONE;
}

static void fill_partition(struct fetch_op *fo, struct topic *t,
			   const struct fetch_request_fetch_partition *fp, part_resp *pr,
			   int64_t *remaining, size_t slot)
{
	bool committed = fo->rq->isolation_level == 1;
	pr->partition_index = fp->partition;
	pr->high_watermark = pr->last_stable_offset = pr->log_start_offset = -1;
	pr->preferred_read_replica = -1;
	pr->aborted_transactions.count = committed ? 0 : -1;
	pr->aborted_transactions.items = NULL;
	pr->records.len = 0;
	if (!t || fp->partition < 0 || fp->partition >= t->npartitions) {
		pr->error_code = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
		fo->error = true;
		return;
	}
	if (fp->current_leader_epoch > 0) { /* our epoch is 0: the client knows a newer leader than us */
		pr->error_code = KAFKA_UNKNOWN_LEADER_EPOCH;
		fo->error = true;
		return;
	}
	struct plog *pl = t->parts[fp->partition]->log;
	/* LSO first: the high watermark only grows, so the pair read in this
	 * order keeps LSO <= HW. */
	int64_t lso = plog_last_stable_offset(pl);
	int64_t hw = plog_high_watermark(pl);
	int64_t limit_off = committed ? lso : hw;
	fo->limits[slot] = limit_off;
	pr->high_watermark = hw;
	pr->last_stable_offset = lso;
	pr->log_start_offset = plog_start_offset(pl);

	bool min_one = fo->bytes == 0;
	int64_t limit = fp->partition_max_bytes < *remaining ? fp->partition_max_bytes : *remaining;
	if (limit <= 0 && !min_one)
		return;
	struct plog_slice sl = { .file = NULL };
	int err = plog_read(pl, fp->fetch_offset, limit_off, limit > 0 ? (size_t)limit : 0, min_one, &sl);
	if (err == KAFKA_NONE && sl.len > 0 && committed)
		err = fill_aborted(fo, pl, fp->fetch_offset, sl.next_offset, pr);
	pr->error_code = (int16_t)err;
	if (err != KAFKA_NONE || sl.len == 0) {
		if (sl.file)
			fileref_unref(sl.file);
		fo->error |= err != KAFKA_NONE;
		return;
	}
	fo->files[slot] = sl.file;
	pr->records.file = sl.file;
	pr->records.file_pos = sl.pos;
	pr->records.len = (int32_t)sl.len;
	fo->bytes += (int64_t)sl.len;
	*remaining -= (int64_t)sl.len;
}

static int64_t req_max_bytes(const struct fetch_op *fo)
{
	/* MaxBytes exists from v3; below that only per-partition limits apply. */
	int64_t m = fo->rq->max_bytes > 0 ? fo->rq->max_bytes : INT32_MAX;
	return m < g_broker->cfg.fetch_max_bytes ? m : g_broker->cfg.fetch_max_bytes;
}

/* (Re)computes the whole response from the logs as they are now. */
static void fetch_fill(struct fetch_op *fo)
{
	struct fetch_request *rq = fo->rq;
	int64_t remaining = req_max_bytes(fo);
	size_t slot = 0;
	release_files(fo);
	fo->bytes = 0;
	fo->error = false;
	for (int32_t i = 0; i < fo->resp->responses.count; i++) {
		const struct fetch_request_fetch_topic *ft = &rq->topics.items[i];
		topic_resp *tr = &fo->resp->responses.items[i];
		struct topic *t = ft->topic.len >= 0
			? meta_topic_find(g_broker->meta, ft->topic.ptr, (size_t)ft->topic.len) : NULL;
		tr->topic = ft->topic;
		for (int32_t j = 0; j < tr->partitions.count; j++)
			fill_partition(fo, t, &ft->partitions.items[j], &tr->partitions.items[j],
				       &remaining, slot++);
		if (t)
			topic_unref(t);
	}
}

static void fetch_answer(struct fetch_op *fo)
{
	/* The encoder takes its own references on the files; ours are dropped
	 * after api_respond, which may free the request (and fo with it). */
	struct fileref **files = fo->files;
	size_t n = fo->nfiles;
	api_respond(fo->req, &proto_fetch_response, fo->resp);
	for (size_t i = 0; i < n; i++)
		if (files[i])
			fileref_unref(files[i]);
	free(files);
}

/* How far a fill may read in pl: the LSO for read_committed, else the
 * high watermark. An atomic read. */
static int64_t read_limit(const struct fetch_op *fo, const struct plog *pl)
{
	return fo->rq->isolation_level == 1 ? plog_last_stable_offset(pl) : plog_high_watermark(pl);
}

/* Has any partition of a parked fetch moved since its last fill (new
 * readable data, or its topic gone)? If not, a new fill would give the same
 * answer. */
static bool fetch_moved(const struct fetch_op *fo)
{
	const struct fetch_request *rq = fo->rq;
	size_t slot = 0;
	bool moved = false;
	for (int32_t i = 0; i < fo->resp->responses.count && !moved; i++) {
		const struct fetch_request_fetch_topic *ft = &rq->topics.items[i];
		int32_t np = fo->resp->responses.items[i].partitions.count;
		struct topic *t = ft->topic.len >= 0
			? meta_topic_find(g_broker->meta, ft->topic.ptr, (size_t)ft->topic.len) : NULL;
		for (int32_t j = 0; j < np && !moved; j++, slot++) {
			int32_t p = ft->partitions.items[j].partition;
			moved = !t || p < 0 || p >= t->npartitions ||
				read_limit(fo, t->parts[p]->log) != fo->limits[slot];
		}
		topic_unref(t);
	}
	return moved;
}

static bool fetch_try_complete(struct delayed_op *op, bool expired)
{
	struct fetch_op *fo = (struct fetch_op *)op;
	if (!expired && !fetch_moved(fo))
		return false;
	fetch_fill(fo);
	if (!expired && !fo->error && fo->bytes < fo->rq->min_bytes) {
		release_files(fo); /* parked: keep no segment open */
		return false;
	}
	fetch_answer(fo);
	return true;
}

/* Allocates the response skeleton mirroring the request's topics/partitions. */
static struct fetch_op *fetch_op_new(struct req *req, struct fetch_request *rq)
{
	int16_t v = req->hdr.api_version;
	struct fetch_op *fo = arena_alloc(&req->arena, sizeof(*fo));
	struct fetch_response *resp = proto_new(&proto_fetch_response, v, &req->arena);
	int32_t nt = rq->topics.count > 0 ? rq->topics.count : 0;
	if (!fo || !resp)
		return NULL;
	resp->responses.items = proto_new_array(&proto_fetch_response_fetchable_topic_response, v, nt ? nt : 1, &req->arena);
	if (!resp->responses.items)
		return NULL;
	resp->responses.count = nt;
	size_t nparts = 0;
	for (int32_t i = 0; i < nt; i++) {
		int32_t np = rq->topics.items[i].partitions.count > 0 ? rq->topics.items[i].partitions.count : 0;
		topic_resp *tr = &resp->responses.items[i];
		/* No array for an empty list: 4 wire bytes must not cost a
		 * 128-byte partition struct (items NULL encodes as empty). */
		tr->partitions.items = np ? proto_new_array(&proto_fetch_response_partition_data, v, np, &req->arena)
					  : NULL;
		if (np && !tr->partitions.items)
			return NULL;
		tr->partitions.count = np;
		nparts += (size_t)np;
	}
	fo->limits = arena_alloc(&req->arena, (nparts ? nparts : 1) * sizeof(*fo->limits));
	if (!fo->limits)
		return NULL;
	fo->files = calloc(nparts ? nparts : 1, sizeof(*fo->files));
	if (!fo->files)
		return NULL;
	fo->nfiles = nparts;
	fo->req = req;
	fo->rq = rq;
	fo->resp = resp;
	fo->op.try_complete = fetch_try_complete;
	return fo;
}

void api_fetch(struct req *req)
{
	struct fetch_request *rq = api_decode(req, &proto_fetch_request);
	if (!rq)
		return;
	struct fetch_op *fo = fetch_op_new(req, rq);
	if (!fo) {
		api_respond_close(req, "out of memory");
		return;
	}
	if (req->hdr.api_version >= 7 && rq->session_id != 0) {
		fo->resp->error_code = KAFKA_FETCH_SESSION_ID_NOT_FOUND;
		fo->resp->responses.count = 0;
		fetch_answer(fo);
		return;
	}
	fetch_fill(fo);
	if (fo->error || fo->bytes >= rq->min_bytes || rq->max_wait_ms <= 0) {
		fetch_answer(fo);
		return;
	}
	release_files(fo); /* parked: keep no segment open */
	/* A parked fetch outlives a dead connection until its deadline (the net
	 * layer waits for the handler), so the wait is capped: an early empty
	 * answer is legal and the client simply fetches again. */
	int64_t wait = rq->max_wait_ms < FETCH_MAX_PARK_MS ? rq->max_wait_ms : FETCH_MAX_PARK_MS;
	delay_park(req->loop, &fo->op, clock_mono_ms() + wait);
}
