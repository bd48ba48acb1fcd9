/*
 * produce.c — Produce (key 0).
 *
 * Per partition: validate every batch of the record set (batch_foreach:
 * magic 2, lengths, CRC-32C, record structure and count), check sizes
 * against max.message.bytes, append (offsets assigned by rewriting each
 * batch's BaseOffset in the request frame itself — the frame is ours until
 * the response leaves), and answer per partition.
 *
 * Topic rules on the records (check_deep, Kafka's LogValidator):
 *  - a compressed batch is decompressed — at most max.message.bytes, so a
 *    decompression bomb is RECORD_LIST_TOO_LARGE at a bounded cost; a
 *    payload that does not decompress is CORRUPT_MESSAGE — and its records
 *    are checked as an uncompressed batch's (INVALID_RECORD);
 *  - compacted topics refuse records without a key (INVALID_RECORD);
 *  - CreateTime topics with message.timestamp.before/after.max.ms refuse a
 *    record stamped outside [now - before, now + after] (INVALID_TIMESTAMP);
 *  - compression.type other than "producer" and other than the batch's
 *    codec rebuilds the batch in that codec and level (batch_assemble),
 *    keeping every record byte and header field; the rebuilt batch must
 *    still fit max.message.bytes (MESSAGE_TOO_LARGE). Rebuilt batches go
 *    into a new record set that is freed once plog_append has copied it.
 * v8+ answers carry the message and the failing record's index
 * (RecordErrors). The common case — uncompressed, stored as sent, no
 * per-record rule — walks the records once (batch_validate) and copies
 * nothing.
 *
 * acks (ProduceRequest.json): 0 — no response at all; Kafka closes the
 * connection when such a request fails, the only way a fire-and-forget
 * client learns of it, and so do we. 1 — answer once appended (page cache).
 * -1 (all) — answer only after fdatasync covered every appended partition
 * (plog_when_durable; many requests share one flush). Anything else is
 * INVALID_REQUIRED_ACKS.
 *
 * Idempotent batches (ProducerId >= 0, transactional bit clear) are
 * checked against the partition's producer state inside plog_append, under
 * the partition's lock (src/txn/pstate.h has Kafka's rules): such a record
 * set must be exactly one batch (INVALID_RECORD), a batch with a negative
 * BaseSequence is INVALID_RECORD ("Invalid sequence number", Kafka's
 * LogValidator); a stale epoch is INVALID_PRODUCER_EPOCH, a sequence gap
 * OUT_OF_ORDER_SEQUENCE_NUMBER, a producer the partition does not know
 * starting above 0 UNKNOWN_PRODUCER_ID — each with nothing written. A retry
 * of one of the producer's last 5 batches is answered NONE with the
 * original base offset and not appended; with acks=all it still waits for
 * the original batch to be durable (plog_when_durable on its end).
 *
 * Transactional batches (attributes bit 4; docs/transactions.md) take the
 * same path: plog_append checks them against the producer state and, for
 * the first batch of a transaction in a partition, asks the coordinator's
 * registry whether the partition was added to the producer's ongoing
 * transaction with this epoch (KIP-890 part 1; INVALID_TXN_STATE or
 * INVALID_PRODUCER_EPOCH refuse it, nothing written). Here, Kafka 3.9's
 * request-level rules (KafkaApis.handleProduceRequest, LogValidator):
 *  - a request holding any transactional batch must name its
 *    TransactionalId: a null one fails the whole request with
 *    TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every partition (with acks=0
 *    the connection is closed), before any partition is looked at;
 *  - control batches (transaction markers) come only from the coordinator
 *    (plog_append_marker): from a client they are INVALID_RECORD, "Clients
 *    are not allowed to write control records";
 *  - acks is not checked against transactions: the broker accepts acks 0
 *    and 1 for transactional batches, as Kafka does (the clients insist on
 *    acks=all themselves).
 * Produce v0-2 would carry message formats v0/v1, which we do not store:
 * UNSUPPORTED_VERSION per partition.
 *
 * Threads: runs on the connection's loop. Durability callbacks run on the
 * flusher thread; they only record the outcome and count down, and the last
 * one posts the response back to the loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "log/plog.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "record/batch.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"

typedef struct produce_response_partition_produce_response part_resp;

struct produce_ctx {
	struct req *req;
	struct produce_response *resp;
	atomic_int pending;          /* durability waits outstanding + 1 while issuing */
};

struct produce_wait {
	struct produce_ctx *ctx;
	part_resp *pr;               /* arena memory; written before the count-down */
};

/* ============================================================ validation */

/* One partition's record set under check. Batches are validated in place;
 * once a batch has to be rebuilt (recompression) the record set is copied
 * into out from that batch on, so the common case copies nothing. */
struct batch_check {
	const struct topic_cfg *cfg;  /* borrowed from the topic version */
	int32_t max_bytes;            /* max.message.bytes in force */
	int64_t now_ms;
	bool check_ts;                /* CreateTime with a before/after bound */
	const uint8_t *set;           /* start of the record set (request frame) */
	uint8_t *out;                 /* malloc'd rebuilt record set, or NULL */
	size_t out_len, out_cap;
	const char *topic;            /* borrowed: the topic's name, for messages */
	int32_t partition;
	int32_t rec_index;            /* record index for RecordErrors, -1: none */
	int32_t nbatches;             /* batches checked so far */
	bool idem;                    /* one of them has a ProducerId */
	char msg[160];                /* error message, "" when none */
	int err;
};

static int check_fail(struct batch_check *bc, int err, int32_t rec_index, const char *msg)
{
	bc->rec_index = rec_index;
	snprintf(bc->msg, sizeof bc->msg, "%s", msg);
	return bc->err = err;
}

/* Appends n bytes to the rebuilt record set. */
static int out_append(struct batch_check *bc, const uint8_t *p, size_t n)
{
	if (bc->out_cap - bc->out_len < n) {
		size_t cap = bc->out_cap ? bc->out_cap : 4096;
		while (cap - bc->out_len < n)
			cap *= 2;
		uint8_t *q = realloc(bc->out, cap);
		if (q == NULL)
			return bc->err = KAFKA_UNKNOWN_SERVER_ERROR;
		bc->out = q;
		bc->out_cap = cap;
	}
	memcpy(bc->out + bc->out_len, p, n);
	bc->out_len += n;
	return KAFKA_NONE;
}

/* Kafka's validateTimestamp: a CreateTime record stamped outside
 * [now - before.max.ms, now + after.max.ms] is refused (-1: no timestamp). */
static bool ts_in_range(const struct batch_check *bc, int64_t ts)
{
	int64_t before = bc->cfg->ts_before_max_ms, after = bc->cfg->ts_after_max_ms;
	if (ts == -1)
		return true;
	if (before >= 0 && before < INT64_MAX && ts < bc->now_ms - before)
		return false;
	return !(after >= 0 && after < INT64_MAX - bc->now_ms && ts > bc->now_ms + after);
}

/* Walks a batch's records (decompressed when it was compressed): exactly
 * RecordsCount records with offset deltas 0..n-1 fill them; a compacted
 * topic needs a key on every record; CreateTime timestamps in range. */
static int check_records(struct batch_check *bc, const struct batch_hdr *h,
			 const uint8_t *recs, size_t len)
{
	size_t pos = 0;
	struct record_view rec;
	for (int32_t i = 0; i < h->records_count; i++) {
		if (batch_next_record(recs, len, &pos, &rec) != 0 || rec.offset_delta != i)
			return check_fail(bc, KAFKA_INVALID_RECORD, i, "Invalid record structure");
		if (bc->cfg->log.cleanup_compact && rec.key_len < 0)
			return check_fail(bc, KAFKA_INVALID_RECORD, i,
					  "Compacted topic cannot accept message without key");
		int64_t ts = h->base_timestamp + rec.timestamp_delta;
		if (bc->check_ts && !ts_in_range(bc, ts)) {
			char m[128];
			snprintf(m, sizeof m, "Timestamp %lld of message with offset %d is out of range",
				 (long long)ts, (int)i);
			return check_fail(bc, KAFKA_INVALID_TIMESTAMP, i, m);
		}
	}
	if (pos != len)
		return check_fail(bc, KAFKA_INVALID_RECORD, -1, "Record count does not match the payload");
	return KAFKA_NONE;
}

/* Rebuilds the batch in the topic's codec and appends it to out (starting
 * out with the record set's bytes before this batch). Kafka checks
 * max.message.bytes again on the rebuilt batch. */
static int rebuild_batch(struct batch_check *bc, const uint8_t *p, const struct batch_hdr *h,
			 const uint8_t *recs, size_t len)
{
	if (bc->out == NULL && p > bc->set && out_append(bc, bc->set, (size_t)(p - bc->set)) != 0)
		return bc->err;
	size_t nlen;
	int err;
	uint8_t *nb = batch_assemble(h, (enum batch_codec)bc->cfg->compression,
				     bc->cfg->compression_level, recs, len, h->records_count, &nlen, &err);
	if (nb == NULL)
		return bc->err = err;
	if (nlen > (size_t)bc->max_bytes)
		err = check_fail(bc, KAFKA_MESSAGE_TOO_LARGE, -1,
				 "Recompressed batch is larger than max.message.bytes");
	else
		err = out_append(bc, nb, nlen);
	free(nb);
	return err;
}

/* Deep checks of one batch: records (decompressing a compressed batch,
 * bounded by max.message.bytes so a bomb costs at most that), then
 * recompression when compression.type names another codec. Skipped for the
 * common case — uncompressed, kept as is, no per-record rule in force —
 * which batch_validate has already checked. */
static int check_deep(struct batch_check *bc, uint8_t *p, size_t n, const struct batch_hdr *h)
{
	int codec = h->attributes & BATCH_ATTR_CODEC_MASK;
	int target = bc->cfg->compression < 0 ? codec : bc->cfg->compression;
	bool walk = codec != CODEC_NONE || bc->check_ts || bc->cfg->log.cleanup_compact;
	if (!walk && target == codec)
		return bc->out != NULL ? out_append(bc, p, n) : KAFKA_NONE;
	const uint8_t *recs;
	size_t len;
	uint8_t *owned = NULL;
	int err = batch_records(p, n, (size_t)bc->max_bytes, &recs, &len, &owned);
	if (err == KAFKA_RECORD_LIST_TOO_LARGE)
		check_fail(bc, err, -1, "Decompressed batch is larger than max.message.bytes");
	else if (err == KAFKA_CORRUPT_MESSAGE)
		check_fail(bc, err, -1, "Compressed payload does not decompress");
	if (err == KAFKA_NONE)
		err = check_records(bc, h, recs, len);
	if (err == KAFKA_NONE && target != codec)
		err = rebuild_batch(bc, p, h, recs, len);
	else if (err == KAFKA_NONE && bc->out != NULL)
		err = out_append(bc, p, n);
	free(owned);
	return bc->err = err;
}

static int check_batch(void *arg, uint8_t *p, size_t n, const struct batch_hdr *h)
{
	struct batch_check *bc = arg;
	if (n > (size_t)bc->max_bytes)
		return check_fail(bc, KAFKA_MESSAGE_TOO_LARGE, -1,
				  "Batch is larger than max.message.bytes");
	/* Empty batches exist only as compaction leftovers; a client never
	 * sends one. Control batches come only from the transaction
	 * coordinator (plog_append_marker). */
	if (h->records_count == 0)
		return bc->err = KAFKA_INVALID_RECORD;
	if (h->attributes & BATCH_ATTR_CONTROL) {
		char m[sizeof bc->msg];
		snprintf(m, sizeof m, "Clients are not allowed to write control records in topic "
			 "partition %.80s-%d", bc->topic, (int)bc->partition);
		return check_fail(bc, KAFKA_INVALID_RECORD, -1, m);
	}
	if (h->producer_id >= 0 && h->base_sequence < 0)
		return check_fail(bc, KAFKA_INVALID_RECORD, -1, "Invalid sequence number");
	/* The producer state checks one batch per append (plog.h). */
	bc->idem |= h->producer_id >= 0;
	if (++bc->nbatches > 1 && bc->idem)
		return check_fail(bc, KAFKA_INVALID_RECORD, -1,
				  "Idempotent records must come as a single batch");
	return check_deep(bc, p, n, h);
}

static int32_t max_message_bytes(const struct topic *t)
{
	return t->cfg.max_message_bytes > 0 ? t->cfg.max_message_bytes
					    : g_broker->cfg.message_max_bytes;
}

/* Puts a validation failure's message (v8+: ErrorMessage and, for a
 * record's own fault, RecordErrors) into the partition's response. */
static void report_error(struct req *req, const struct batch_check *bc, part_resp *pr)
{
	if (req->hdr.api_version < 8 || bc->msg[0] == '\0')
		return;
	pr->error_message = api_kstr(req, bc->msg);
	if (bc->rec_index < 0)
		return;
	struct produce_response_batch_index_and_error_message *e = proto_new_array(
		&proto_produce_response_batch_index_and_error_message, req->hdr.api_version, 1,
		&req->arena);
	if (e == NULL)
		return;
	e->batch_index = bc->rec_index;
	e->batch_index_error_message = api_kstr(req, bc->msg);
	pr->record_errors.items = e;
	pr->record_errors.count = 1;
}

/* Validates and appends one partition's record set. Returns a Kafka code.
 * A rebuilt record set is freed once plog_append returns: the append copies
 * it into the segment (page cache), and the acks=all wait needs only the
 * offsets. */
static int append_partition(struct req *req, struct topic *t, struct partition *part,
			    krecords *rec, int64_t now_ms, struct plog_append_result *res,
			    part_resp *pr)
{
	if (rec->len <= 0 || !rec->ptr)
		return KAFKA_CORRUPT_MESSAGE;
	struct batch_check bc = {
		.cfg = &t->cfg, .max_bytes = max_message_bytes(t), .now_ms = now_ms,
		.set = rec->ptr, .rec_index = -1, .topic = t->name, .partition = part->index,
	};
	bc.check_ts = !t->cfg.log.log_append_time &&
		      (t->cfg.ts_before_max_ms < INT64_MAX || t->cfg.ts_after_max_ms < INT64_MAX);
	int rc = batch_foreach(rec->ptr, (size_t)rec->len, check_batch, &bc);
	if (rc == KAFKA_NONE) {
		uint8_t *set = bc.out != NULL ? bc.out : rec->ptr;
		size_t n = bc.out != NULL ? bc.out_len : (size_t)rec->len;
		rc = api_storage_err(plog_append(part->log, set, n, now_ms, res));
	} else {
		report_error(req, &bc, pr);
	}
	free(bc.out);
	return rc;
}

static void produce_finish(void *arg)
{
	struct produce_ctx *ctx = arg;
	api_respond(ctx->req, &proto_produce_response, ctx->resp);
}

static void produce_count_down(struct produce_ctx *ctx, bool on_loop)
{
	if (atomic_fetch_sub(&ctx->pending, 1) != 1)
		return;
	if (on_loop) {
		produce_finish(ctx);
	} else if (evloop_post(ctx->req->loop, produce_finish, ctx) != 0) {
		log_warn("produce", "loop stopping: acks=all response to %s dropped", ctx->req->peer);
	}
}

/* Flusher thread (or inline on the loop when already durable). */
static void on_durable(void *arg, int err)
{
	struct produce_wait *w = arg;
	if (err != KAFKA_NONE)
		w->pr->error_code = (int16_t)err;
	produce_count_down(w->ctx, evloop_current() == w->ctx->req->loop);
}

/* The coordinators' own topics are written only by the coordinators, as
 * in Kafka ("Cannot append to internal topic"): a client's record there
 * would be read back as group or transaction state. */
static bool produce_forbidden(const struct topic *t)
{
	return t->internal && (strcmp(t->name, "__consumer_offsets") == 0 ||
			       strcmp(t->name, "__transaction_state") == 0);
}

static void produce_topic(struct req *req, struct produce_ctx *ctx,
			  const struct produce_request_topic_produce_data *td,
			  struct produce_response_topic_produce_response *tr,
			  int16_t acks_err, int64_t now_ms, bool *any_error)
{
	int16_t v = req->hdr.api_version;
	int32_t n = td->partition_data.count > 0 ? td->partition_data.count : 0;
	tr->name = td->name;
	/* No array for an empty list: a few wire bytes must not cost a
	 * partition struct (items NULL encodes as empty). */
	tr->partition_responses.items = n ? proto_new_array(
		&proto_produce_response_partition_produce_response, v, n, &req->arena) : NULL;
	tr->partition_responses.count = tr->partition_responses.items ? n : 0;
	struct topic *t = td->name.len >= 0 ? meta_topic_find(g_broker->meta, td->name.ptr, (size_t)td->name.len) : NULL;

	for (int32_t i = 0; i < tr->partition_responses.count; i++) {
		struct produce_request_partition_produce_data *pd = &td->partition_data.items[i];
		part_resp *pr = &tr->partition_responses.items[i];
		struct plog_append_result res = { .base_offset = -1, .last_offset = -1,
						 .log_append_time = -1, .log_start_offset = -1 };
		int err = acks_err;
		pr->index = pd->index;
		if (err == KAFKA_NONE && (!t || pd->index < 0 || pd->index >= t->npartitions))
			err = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
		if (err == KAFKA_NONE && produce_forbidden(t))
			err = KAFKA_INVALID_TOPIC_EXCEPTION;
		if (err == KAFKA_NONE)
			err = append_partition(req, t, t->parts[pd->index], &pd->records, now_ms, &res, pr);
		pr->error_code = (int16_t)err;
		pr->base_offset = err == KAFKA_NONE ? res.base_offset : -1;
		pr->log_append_time_ms = err == KAFKA_NONE ? res.log_append_time : -1;
		pr->log_start_offset = t && err == KAFKA_NONE ? res.log_start_offset : -1;
		if (err != KAFKA_NONE) {
			*any_error = true;
			continue;
		}
		if (ctx) {
			struct produce_wait *w = arena_alloc(&req->arena, sizeof(*w));
			if (!w) {
				pr->error_code = KAFKA_UNKNOWN_SERVER_ERROR;
				continue;
			}
			w->ctx = ctx;
			w->pr = pr;
			atomic_fetch_add(&ctx->pending, 1);
			plog_when_durable(t->parts[pd->index]->log, res.last_offset + 1, on_durable, w);
		}
	}
	if (t)
		topic_unref(t);
}

/* Whether any batch of the request is transactional (Kafka's
 * RequestUtils.hasTransactionalRecords): a walk over batch headers only,
 * stopping at the first that does not fit (validation reports it later). */
static bool has_transactional(const struct produce_request *rq)
{
	for (int32_t i = 0; i < rq->topic_data.count; i++) {
		const struct produce_request_topic_produce_data *td = &rq->topic_data.items[i];
		for (int32_t j = 0; j < td->partition_data.count; j++) {
			const krecords *rec = &td->partition_data.items[j].records;
			if (rec->ptr == NULL || rec->len <= 0)
				continue;
			size_t n = (size_t)rec->len;
			struct batch_hdr h;
			for (size_t at = 0; batch_parse_header(rec->ptr + at, n - at, &h) == 0;) {
				if (h.attributes & BATCH_ATTR_TRANSACTIONAL)
					return true;
				if (h.batch_length < BATCH_HEADER_SIZE - BATCH_LOG_OVERHEAD ||
				    batch_total_size(&h) >= n - at)
					break;
				at += batch_total_size(&h);
			}
		}
	}
	return false;
}

void api_produce(struct req *req)
{
	struct produce_request *rq = api_decode(req, &proto_produce_request);
	if (!rq)
		return;
	int16_t v = req->hdr.api_version;
	int16_t acks_err = KAFKA_NONE;
	if (rq->acks != 0 && rq->acks != 1 && rq->acks != -1)
		acks_err = KAFKA_INVALID_REQUIRED_ACKS;
	if (v < 3)
		acks_err = KAFKA_UNSUPPORTED_VERSION;
	else if (rq->transactional_id.len < 0 && has_transactional(rq))
		acks_err = KAFKA_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;  /* whole request, first */

	struct produce_response *resp = proto_new(&proto_produce_response, v, &req->arena);
	struct produce_ctx *ctx = arena_alloc(&req->arena, sizeof(*ctx));
	int32_t n = rq->topic_data.count > 0 ? rq->topic_data.count : 0;
	if (resp)
		resp->responses.items = proto_new_array(&proto_produce_response_topic_produce_response, v,
							n ? n : 1, &req->arena);
	if (!resp || !ctx || !resp->responses.items) {
		api_respond_close(req, "out of memory");
		return;
	}
	resp->responses.count = n;
	ctx->req = req;
	ctx->resp = resp;
	atomic_init(&ctx->pending, 1);

	bool any_error = false;
	int64_t now_ms = clock_wall_ms();
	for (int32_t i = 0; i < n; i++)
		produce_topic(req, rq->acks == -1 ? ctx : NULL, &rq->topic_data.items[i],
			      &resp->responses.items[i], acks_err, now_ms, &any_error);

	if (rq->acks == 0) {
		if (any_error)
			api_respond_close(req, "acks=0 produce failed");
		else
			api_respond_none(req);
		return;
	}
	produce_count_down(ctx, true);
}
