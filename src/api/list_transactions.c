/*
 * list_transactions.c — ListTransactions (key 66, KIP-664; v1 KIP-994):
 * the transactional ids the coordinator knows, with producer id and state
 * (kafka-transactions.sh list, Admin.listTransactions, rnl txn list).
 *
 * Filters (Kafka 3.9 TransactionStateManager.listTransactionStates), all
 * of which must match:
 *   - StateFilters: Kafka's state names (txn_state_parse); empty: any
 *     state. A name that is no state is listed once in
 *     UnknownStateFilters and matches nothing;
 *   - ProducerIdFilters: empty: any producer id;
 *   - DurationFilter (v1+): >= 0 keeps only ids whose transaction started
 *     more than that many ms ago (now - start_ms > filter, wall clock; an
 *     id with no transaction has start -1 and always passes, as in Kafka);
 *     < 0: no filter.
 * DEAD ids (being expired) are never listed. Ids come in tid order
 * (tcoord_foreach; Kafka's order is its hash map's). ErrorCode NONE, or
 * COORDINATOR_NOT_AVAILABLE with an empty list when the coordinator is not
 * running.
 *
 * Threads and memory: the filters are decoded and sorted on the loop; the
 * job walks the state machines on the coordinator thread and copies the
 * matches into the request arena there.
 */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "coord/coord.h"
#include "proto_gen.h"
#include "txn/tcoord.h"
#include "util/err.h"

typedef struct list_transactions_response_transaction_state state_resp;

struct list_job {
	struct coord_job job;        /* first: coord hands this pointer back */
	uint32_t state_mask;         /* bit (1 << state) per known StateFilters name */
	bool any_state;              /* StateFilters empty */
	int64_t *pids;               /* arena, sorted; NULL/0: any producer id */
	size_t npids;
	int64_t duration_ms;         /* < 0: no filter */
	int64_t now_ms;              /* coordinator thread: wall clock of the walk */
	bool oom;
	struct list_transactions_response *resp;
};

/* --------------------------------------------------- coordinator thread */

static int i64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static bool matches(const struct list_job *lj, const struct txn_rec *rec)
{
	if (rec->state == TXN_DEAD)
		return false;
	if (lj->npids > 0 && !bsearch(&rec->pid, lj->pids, lj->npids, sizeof(*lj->pids), i64_cmp))
		return false;
	if (!lj->any_state && ((unsigned)rec->state >= 32 || !(lj->state_mask & (1u << rec->state))))
		return false;
	return lj->duration_ms < 0 || lj->now_ms - rec->start_ms > lj->duration_ms;
}

/* tcoord_foreach callback: appends a matching id to the answer (room for
 * every id was reserved). */
static void add_match(void *arg, const char *tid, const struct txn_rec *rec)
{
	struct list_job *lj = arg;
	if (!matches(lj, rec))
		return;
	struct req *req = lj->job.req;
	state_resp *sr = &lj->resp->transaction_states.items[lj->resp->transaction_states.count++];
	sr->transactional_id = api_kstr_copy(req, tid, false, &lj->oom);
	sr->producer_id = rec->pid;
	sr->transaction_state = api_kstr_copy(req, txn_state_name(rec->state), false, &lj->oom);
}

static void run_list(struct coord_job *job)
{
	struct list_job *lj = (struct list_job *)job;
	struct tcoord *tc = coord_txns();
	size_t n = tc ? tcoord_count(tc) : 0;
	state_resp *items = n ? proto_new_array(&proto_list_transactions_response_transaction_state,
						job->req->hdr.api_version, (int32_t)n, &job->req->arena)
			      : NULL;
	if (n > 0 && !items) {
		lj->resp->error_code = KAFKA_UNKNOWN_SERVER_ERROR;
		coord_finish(job);
		return;
	}
	lj->resp->transaction_states.items = items;
	lj->resp->transaction_states.count = 0;
	lj->now_ms = coord_wall_ms();
	if (n > 0)
		tcoord_foreach(tc, add_match, lj);
	if (lj->oom) {
		lj->resp->error_code = KAFKA_UNKNOWN_SERVER_ERROR;
		lj->resp->transaction_states.count = 0;
	}
	coord_finish(job);
}

/* ------------------------------------------------------- network loop */

static void reply_list(struct coord_job *job)
{
	struct list_job *lj = (struct list_job *)job;
	api_respond(job->req, &proto_list_transactions_response, lj->resp);
}

static int kstr_cmp(const void *a, const void *b)
{
	const kstr *x = a, *y = b;
	int c = memcmp(x->ptr, y->ptr, (size_t)(x->len < y->len ? x->len : y->len));
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* StateFilters into lj->state_mask and the answer's UnknownStateFilters
 * (each unknown name once: sorted, repeats dropped — the filters may be
 * many). Returns 0, or -1 when out of memory. */
static int parse_states(struct req *req, const struct list_transactions_request *rq,
			struct list_job *lj)
{
	int32_t n = rq->state_filters.count > 0 ? rq->state_filters.count : 0;
	kstr *unknown = arena_alloc(&req->arena, (n ? (size_t)n : 1) * sizeof(kstr));
	size_t nu = 0;
	if (!unknown)
		return -1;
	lj->any_state = n == 0;
	for (int32_t i = 0; i < n; i++) {
		char *c = api_strdup(req, rq->state_filters.items[i]);
		if (!c)
			return -1;
		int s = txn_state_parse(c);
		if (s >= 0 && s < 32)
			lj->state_mask |= 1u << s;
		else
			unknown[nu++] = rq->state_filters.items[i]; /* borrows the frame */
	}
	if (nu > 1)
		qsort(unknown, nu, sizeof(*unknown), kstr_cmp);
	size_t m = nu ? 1 : 0;
	for (size_t i = 1; i < nu; i++)
		if (kstr_cmp(&unknown[m - 1], &unknown[i]) != 0)
			unknown[m++] = unknown[i];
	lj->resp->unknown_state_filters.items = unknown;
	lj->resp->unknown_state_filters.count = (int32_t)m;
	return 0;
}

/* ProducerIdFilters, copied and sorted for bsearch. Returns 0, or -1 when
 * out of memory. */
static int parse_pids(struct req *req, const struct list_transactions_request *rq,
		      struct list_job *lj)
{
	int32_t n = rq->producer_id_filters.count > 0 ? rq->producer_id_filters.count : 0;
	if (n == 0)
		return 0;
	lj->pids = arena_alloc(&req->arena, (size_t)n * sizeof(*lj->pids));
	if (!lj->pids)
		return -1;
	memcpy(lj->pids, rq->producer_id_filters.items, (size_t)n * sizeof(*lj->pids));
	qsort(lj->pids, (size_t)n, sizeof(*lj->pids), i64_cmp);
	lj->npids = (size_t)n;
	return 0;
}

void api_list_transactions(struct req *req)
{
	struct list_transactions_request *rq = api_decode(req, &proto_list_transactions_request);
	if (!rq)
		return;
	struct list_job *lj = arena_alloc(&req->arena, sizeof(*lj));
	struct list_transactions_response *resp = proto_new(&proto_list_transactions_response,
							    req->hdr.api_version, &req->arena);
	if (!lj || !resp) {
		api_respond_close(req, "out of memory");
		return;
	}
	*lj = (struct list_job){
		.job = { .req = req, .run = run_list, .reply = reply_list },
		.duration_ms = rq->duration_filter, /* v0: its default, -1 */
		.resp = resp,
	};
	resp->throttle_time_ms = 0;
	resp->error_code = KAFKA_NONE;
	if (parse_states(req, rq, lj) != 0 || parse_pids(req, rq, lj) != 0) {
		api_respond_close(req, "out of memory");
		return;
	}
	if (coord_submit(&lj->job) != 0) {
		resp->error_code = KAFKA_COORDINATOR_NOT_AVAILABLE;
		api_respond(req, &proto_list_transactions_response, resp);
	}
}
