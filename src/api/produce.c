/*
 * produce.c — Produce (key 0).
 *
 * Per partition: validate every batch of the record set (batch_foreach:
 * magic 2, lengths, CRC-32C, record structure and count), check sizes
 * against max.message.bytes, append (offsets assigned by rewriting each
 * batch's BaseOffset in the request frame itself — the frame is ours until
 * the response leaves), and answer per partition.
 *
 * acks (ProduceRequest.json): 0 — no response at all; Kafka closes the
 * connection when such a request fails, the only way a fire-and-forget
 * client learns of it, and so do we. 1 — answer once appended (page cache).
 * -1 (all) — answer only after fdatasync covered every appended partition
 * (plog_when_durable; many requests share one flush). Anything else is
 * INVALID_REQUIRED_ACKS.
 *
 * Not yet served (later issues): idempotent/transactional batches
 * (ProducerId >= 0 needs InitProducerId, which we do not offer: such a
 * batch gets UNKNOWN_PRODUCER_ID), and control batches from clients
 * (INVALID_RECORD, as Kafka). Produce v0-2 would carry message formats v0/v1,
 * which we do not store: UNSUPPORTED_VERSION per partition.
 *
 * Threads: runs on the connection's loop. Durability callbacks run on the
 * flusher thread; they only record the outcome and count down, and the last
 * one posts the response back to the loop.
 */
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

struct batch_check {
	int32_t max_bytes;           /* max.message.bytes in force */
	int err;
};

static int check_batch(void *arg, uint8_t *p, size_t n, const struct batch_hdr *h)
{
	struct batch_check *bc = arg;
	(void)p;
	if (n > (size_t)bc->max_bytes)
		return bc->err = KAFKA_MESSAGE_TOO_LARGE;
	/* Empty batches exist only as compaction leftovers; a client never
	 * sends one. Control batches come only from transaction coordinators. */
	if (h->records_count == 0 || (h->attributes & BATCH_ATTR_CONTROL))
		return bc->err = KAFKA_INVALID_RECORD;
	if (h->producer_id >= 0 || (h->attributes & BATCH_ATTR_TRANSACTIONAL))
		return bc->err = KAFKA_UNKNOWN_PRODUCER_ID;
	return KAFKA_NONE;
}

static int32_t max_message_bytes(struct topic *t)
{
	if (t->nconfigs == 0)
		return g_broker->cfg.message_max_bytes;
	char buf[32];
	bool is_default;
	meta_topic_config_get(g_broker->meta, t, "max.message.bytes", buf, sizeof(buf), &is_default);
	long long v = atoll(buf);
	return v > 0 && v <= INT32_MAX ? (int32_t)v : g_broker->cfg.message_max_bytes;
}

/* Validates and appends one partition's record set. Returns a Kafka code. */
static int append_partition(struct topic *t, struct partition *part, krecords *rec,
			    int64_t now_ms, struct plog_append_result *res)
{
	if (rec->len <= 0 || !rec->ptr)
		return KAFKA_CORRUPT_MESSAGE;
	struct batch_check bc = { max_message_bytes(t), KAFKA_NONE };
	int rc = batch_foreach(rec->ptr, (size_t)rec->len, check_batch, &bc);
	if (rc != KAFKA_NONE)
		return rc;
	return api_storage_err(plog_append(part->log, rec->ptr, (size_t)rec->len, now_ms, res));
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
		struct plog_append_result res = { -1, -1, -1, -1 };
		int err = acks_err;
		pr->index = pd->index;
		if (err == KAFKA_NONE && (!t || pd->index < 0 || pd->index >= t->npartitions))
			err = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
		if (err == KAFKA_NONE && produce_forbidden(t))
			err = KAFKA_INVALID_TOPIC_EXCEPTION;
		if (err == KAFKA_NONE)
			err = append_partition(t, t->parts[pd->index], &pd->records, now_ms, &res);
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
