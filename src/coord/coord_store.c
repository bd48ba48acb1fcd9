/*
 * coord_store.c — the coordinator's durable state in __consumer_offsets.
 *
 * Writes: every change is one record batch appended to the group's
 * partition (gmsg_partition_for over the topic's partition count) through the ordinary partition log, in
 * Kafka's record format (gmsg.h):
 *   - offset commits, offset deletions and group deletions wait for the
 *     batch to be on stable storage (plog_when_durable: the flusher's group
 *     commit) and only then change the in-memory store and answer — an
 *     acknowledged commit survives a power cut, like acks=all;
 *   - group metadata (a completed generation, an emptied group) is appended
 *     without waiting. It is the page cache's from then on, so it survives
 *     a crash of the process; a power cut within the flush interval can lose
 *     the last generation, and then members that heartbeat after the restart
 *     get UNKNOWN_MEMBER_ID and rejoin — a rebalance, never lost offsets.
 *     (Kafka waits for this write before answering SyncGroup.)
 * Appends to one partition are in order and durability callbacks of one
 * partition come in offset order, so the in-memory store applies changes
 * of one group in the order they were written.
 *
 * Start-up (coord_store_load): every partition is read from its log start
 * to its end; the last record per key wins, a null value deletes. Groups
 * come back through group_load (Stable with their members, or Empty).
 * Records of transactional batches go pending for their producer and the
 * markers (control batches) end them (coord_txnoff.c); what is still
 * pending at the end stays so until the transaction coordinator finishes
 * the transaction (coord_store_txn_end).
 *
 * Record offsets: every offset in the store carries the log offset of its
 * record (offstore_put_at) so that a transactional commit and a
 * regular one of the same key resolve as in Kafka — the record written
 * later wins (offstore.h, "pending") — whatever order their durability
 * callbacks and the marker come in.
 *
 * Expiry (coord_store_expire, Kafka's offsets.retention.minutes, KIP-211):
 * offsets of a group that has no members expire retention after the group
 * became Empty, or, for offsets committed without any group (assign()
 * consumers, admin tools), retention after their commit; an explicit v1
 * expire timestamp wins. Groups with members keep all their offsets (Kafka
 * additionally expires offsets of topics the group no longer subscribes
 * to; runnel does not yet). An Empty group left with no offsets is deleted.
 * Pending transactional offsets never expire: an offset with one pending
 * is kept, and so is a group that has any, until the transaction ends.
 */
#include "coord/coord_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "broker.h"
#include "group/gmsg.h"
#include "log/plog.h"
#include "meta/meta.h"
#include "record/batch.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"

/* ------------------------------------------------------------- the topic */

int coord_ensure_topic(void)
{
	return coord_topic_ensure(COORD_TOPIC, g_broker->cfg.offsets_topic_num_partitions,
				  g_broker->cfg.offsets_topic_segment_bytes);
}

/* ------------------------------------------------------------- appends */

/* Records being built: keys and values encoded one after another into one
 * buffer; spans are offsets into it (the buffer may move while it grows). */
struct recs {
	struct wbuf w;
	struct span { size_t key, key_len, val, val_len; bool tomb; } *v;
	int n, cap;
};

static void recs_init(struct recs *r) { memset(r, 0, sizeof(*r)); wbuf_init(&r->w); }
static void recs_fini(struct recs *r) { wbuf_fini(&r->w); free(r->v); }

static struct span *recs_push(struct recs *r)
{
	if (r->n == r->cap) {
		int cap = r->cap ? r->cap * 2 : 8;
		struct span *v = realloc(r->v, (size_t)cap * sizeof(*v));
		if (!v)
			return NULL;
		r->v = v;
		r->cap = cap;
	}
	return &r->v[r->n++];
}

static void recs_offset(struct recs *r, const char *group, const char *topic, int32_t p,
			const struct off_value *v)
{
	struct span *s = recs_push(r);
	if (!s) {
		r->w.oom = true;
		return;
	}
	s->key = wbuf_len(&r->w);
	gmsg_offset_key(&r->w, group, topic, p);
	s->key_len = wbuf_len(&r->w) - s->key;
	s->val = wbuf_len(&r->w);
	s->tomb = v == NULL;
	if (v)
		gmsg_offset_value(&r->w, v);
	s->val_len = wbuf_len(&r->w) - s->val;
}

static void recs_group(struct recs *r, const char *group, const struct group_snap *snap)
{
	struct span *s = recs_push(r);
	if (!s) {
		r->w.oom = true;
		return;
	}
	s->key = wbuf_len(&r->w);
	gmsg_group_key(&r->w, group);
	s->key_len = wbuf_len(&r->w) - s->key;
	s->val = wbuf_len(&r->w);
	s->tomb = snap == NULL;
	if (snap)
		gmsg_group_value(&r->w, snap);
	s->val_len = wbuf_len(&r->w) - s->val;
}

/* The partition log of a group, referenced through *t. */
static struct plog *group_log(const char *group, struct topic **t)
{
	if (coord_ensure_topic() != KAFKA_NONE)
		return NULL;
	*t = meta_topic_find(g_broker->meta, COORD_TOPIC, strlen(COORD_TOPIC));
	if (!*t)
		return NULL;
	/* The topic's own count, not the config's: they differ when
	 * offsets.topic.num.partitions changed after the topic was made. */
	return (*t)->parts[gmsg_partition_for(group, (*t)->npartitions)]->log;
}

/* Appends r as one batch to the group's partition — with prod, a
 * transactional batch of that producer (the partition log checks it: see
 * coord_txn_commit_offsets). Returns a Kafka code; on success *pl and *end
 * say what to wait for (pl valid while *t is held) and *base is the offset
 * of r's first record (record i lies at *base + i). */
static int recs_append(struct recs *r, const char *group, const struct batch_producer *prod,
		       struct topic **t, struct plog **pl, int64_t *base, int64_t *end)
{
	*t = NULL;
	if (r->w.oom)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	struct batch_kv *kv = calloc((size_t)(r->n ? r->n : 1), sizeof(*kv));
	if (!kv)
		return KAFKA_UNKNOWN_SERVER_ERROR;
	for (int i = 0; i < r->n; i++) {
		kv[i].key = r->w.mem + r->v[i].key;
		kv[i].key_len = r->v[i].key_len;
		kv[i].value = r->v[i].tomb ? NULL : r->w.mem + r->v[i].val;
		kv[i].value_len = r->v[i].tomb ? 0 : r->v[i].val_len;
	}
	*pl = group_log(group, t);
	int rc = *pl ? coord_append(*pl, kv, r->n, prod, base, end) : KAFKA_COORDINATOR_NOT_AVAILABLE;
	free(kv);
	return rc;
}

void coord_store_group(const char *group_id, const struct group_snap *snap)
{
	struct recs r;
	recs_init(&r);
	struct group_snap wall;
	if (snap) {
		wall = *snap;
		wall.state_since_ms = snap->state_since_ms >= 0 ? coord_mono_to_wall(snap->state_since_ms) : -1;
	}
	recs_group(&r, group_id, snap ? &wall : NULL);
	struct topic *t;
	struct plog *pl;
	int64_t base, end;
	int rc = recs_append(&r, group_id, NULL, &t, &pl, &base, &end);
	if (rc != KAFKA_NONE)
		log_warn("coord", "group %s: metadata write failed (error %d)", group_id, rc);
	if (t)
		topic_unref(t);
	recs_fini(&r);
}

/* ------------------------------------------------------------- durable changes */

enum change_kind { CH_COMMIT, CH_TXN_COMMIT, CH_DEL_OFFSETS, CH_DEL_GROUP };

/* One durable change in flight. Allocated in the job's request arena: the
 * request lives until coord_finish's reply, which comes after done. */
struct change {
	enum change_kind kind;
	struct coord_job *job;
	coord_done_fn done;
	int err;
	char *group;
	struct coord_offset *offs;   /* CH_COMMIT, CH_TXN_COMMIT */
	struct coord_tp *tps;        /* CH_DEL_OFFSETS (those that existed) */
	size_t n;
	int64_t commit_ts;
	struct batch_producer prod;  /* CH_TXN_COMMIT: the transaction's producer */
	bool pending;                /* CH_TXN_COMMIT: its offsets went pending */
	int64_t base, end;           /* once written: offset of the first record,
				      * and one past the last */
};

/* Stores a regular commit unless the key's offset was written later (a
 * transactional commit whose marker came first: offstore.h's rule). */
static int put_newer(struct offstore *os, const char *group, const char *topic, int32_t partition,
		     const struct off_value *v, int64_t at)
{
	if (offstore_log_offset(os, group, topic, partition) > at)
		return 0;
	return offstore_put_at(os, group, topic, partition, v, at);
}

/* Removes a key's offsets written before the tombstones ending at `end`. */
static void del_before(struct offstore *os, const char *group, const char *topic, int32_t partition,
		       int64_t end)
{
	if (offstore_log_offset(os, group, topic, partition) < end)
		offstore_del(os, group, topic, partition);
	offstore_txn_drop(os, group, topic, partition, end);
}

static void change_apply(struct change *ch)
{
	struct offstore *os = g_coord.os;
	if (ch->kind == CH_TXN_COMMIT)
		return; /* pending since the append (change_pend) */
	if (ch->kind == CH_DEL_GROUP) {
		offstore_del_group(os, ch->group);
		offstore_txn_drop(os, ch->group, NULL, 0, ch->end);
		return;
	}
	for (size_t i = 0; i < ch->n; i++) {
		if (ch->kind == CH_DEL_OFFSETS) {
			del_before(os, ch->group, ch->tps[i].topic, ch->tps[i].partition, ch->end);
			continue;
		}
		const struct coord_offset *o = &ch->offs[i];
		struct off_value v = { o->offset, o->leader_epoch, o->metadata ? o->metadata : "",
				       ch->commit_ts, o->expire_ts_ms };
		if (put_newer(os, ch->group, o->topic, o->partition, &v, ch->base + (int64_t)i) != 0) {
			ch->err = KAFKA_UNKNOWN_SERVER_ERROR; /* durable, reloaded at restart */
			log_error("coord", "group %s: out of memory applying a commit", ch->group);
		}
	}
}

/* CH_TXN_COMMIT, right after the append: the offsets are pending for the
 * producer from now on (before they are durable, as Kafka's
 * prepareTxnOffsetCommit), so that a marker the coordinator writes next
 * always finds them. */
static void change_pend(struct change *ch)
{
	for (size_t i = 0; i < ch->n; i++) {
		const struct coord_offset *o = &ch->offs[i];
		struct off_value v = { o->offset, o->leader_epoch, o->metadata ? o->metadata : "",
				       ch->commit_ts, o->expire_ts_ms };
		if (offstore_txn_put(g_coord.os, ch->prod.producer_id, ch->group, o->topic, o->partition,
				     &v, ch->base + (int64_t)i) != 0) {
			ch->err = KAFKA_UNKNOWN_SERVER_ERROR; /* in the log: pending again at restart */
			log_error("coord", "group %s: out of memory keeping a transactional commit", ch->group);
		}
	}
	ch->pending = true;
}

/* A CH_TXN_COMMIT whose write failed: its offsets are not pending. */
static void change_unpend(struct change *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		offstore_txn_forget(g_coord.os, ch->prod.producer_id, ch->group, ch->offs[i].topic,
				    ch->offs[i].partition, ch->base + (int64_t)i);
}

/* Coordinator thread: the change is durable (or failed). */
static void change_done(void *arg, int err)
{
	struct change *ch = arg;
	if (ch->err == KAFKA_NONE)
		ch->err = err;
	if (ch->err == KAFKA_NONE)
		change_apply(ch);
	else if (ch->pending)
		change_unpend(ch);
	ch->done(ch->job, ch->err);
}

/* Writes the change's records and waits for them; done always comes later
 * through change_done, even for an empty change or a failure. */
static void change_write(struct change *ch, struct recs *r)
{
	struct topic *t = NULL;
	struct plog *pl = NULL;
	if (r->n > 0)
		ch->err = recs_append(r, ch->group, ch->kind == CH_TXN_COMMIT ? &ch->prod : NULL, &t, &pl,
				      &ch->base, &ch->end);
	if (r->n > 0 && ch->err == KAFKA_NONE && ch->kind == CH_TXN_COMMIT)
		change_pend(ch);
	if (coord_when_durable(r->n > 0 ? pl : NULL, ch->end, ch->err, change_done, ch) != 0) {
		/* Cannot even wait: the outcome is unknown to us, so the answer
		 * is an error (a durable commit is reloaded at restart). */
		ch->err = KAFKA_UNKNOWN_SERVER_ERROR;
		if (ch->pending)
			change_unpend(ch);
		ch->done(ch->job, ch->err);
	}
	if (t)
		topic_unref(t);
	recs_fini(r);
}

static struct change *change_new(struct coord_job *job, enum change_kind kind, const char *group,
				 coord_done_fn done)
{
	struct change *ch = arena_alloc(&job->req->arena, sizeof(*ch));
	if (!ch)
		return NULL;
	memset(ch, 0, sizeof(*ch));
	ch->kind = kind;
	ch->job = job;
	ch->done = done;
	ch->group = arena_strndup(&job->req->arena, group, strlen(group));
	ch->commit_ts = coord_wall_ms();
	return ch->group ? ch : NULL;
}

static char *arena_dup(struct coord_job *job, const char *s)
{
	return s ? arena_strndup(&job->req->arena, s, strlen(s)) : NULL;
}

/* Out of memory before anything was written: answer through the loop. */
static void change_fail_oom(struct coord_job *job, coord_done_fn done)
{
	struct change *ch = arena_alloc(&job->req->arena, sizeof(*ch));
	if (!ch) {
		log_error("coord", "out of memory: request of %s dropped", job->req->peer);
		done(job, KAFKA_UNKNOWN_SERVER_ERROR);
		return;
	}
	memset(ch, 0, sizeof(*ch));
	ch->job = job;
	ch->done = done;
	ch->err = KAFKA_UNKNOWN_SERVER_ERROR;
	ch->group = (char *)"";
	struct recs r;
	recs_init(&r);
	change_write(ch, &r);
}

void coord_store_commit(struct coord_job *job, const char *group, const struct coord_offset *offs,
			size_t n, const struct batch_producer *prod, coord_done_fn done)
{
	struct change *ch = change_new(job, prod ? CH_TXN_COMMIT : CH_COMMIT, group, done);
	if (!ch || (n && !(ch->offs = arena_alloc(&job->req->arena, n * sizeof(*ch->offs))))) {
		change_fail_oom(job, done);
		return;
	}
	struct recs r;
	recs_init(&r);
	ch->n = n;
	if (prod)
		ch->prod = *prod;
	for (size_t i = 0; i < n; i++) {
		struct coord_offset *o = &ch->offs[i];
		*o = offs[i];
		o->topic = arena_dup(job, offs[i].topic);
		o->metadata = arena_dup(job, offs[i].metadata ? offs[i].metadata : "");
		if (!o->topic || !o->metadata)
			r.w.oom = true;
		struct off_value v = { o->offset, o->leader_epoch, o->metadata ? o->metadata : "",
				       ch->commit_ts, o->expire_ts_ms };
		recs_offset(&r, group, offs[i].topic, o->partition, &v);
	}
	change_write(ch, &r);
}

void coord_commit(struct coord_job *job, const char *group, const struct coord_offset *offs,
		  size_t n, coord_done_fn done)
{
	coord_store_commit(job, group, offs, n, NULL, done);
}

void coord_delete_offsets(struct coord_job *job, const char *group, const struct coord_tp *tps,
			  size_t n, coord_done_fn done)
{
	struct change *ch = change_new(job, CH_DEL_OFFSETS, group, done);
	if (!ch || (n && !(ch->tps = arena_alloc(&job->req->arena, n * sizeof(*ch->tps))))) {
		change_fail_oom(job, done);
		return;
	}
	struct recs r;
	recs_init(&r);
	for (size_t i = 0; i < n; i++) {
		/* Kafka writes the tombstone for a pending offset too. */
		if (!offstore_get(g_coord.os, group, tps[i].topic, tps[i].partition) &&
		    !offstore_txn_pending(g_coord.os, group, tps[i].topic, tps[i].partition))
			continue;
		struct coord_tp *tp = &ch->tps[ch->n++];
		tp->topic = arena_dup(job, tps[i].topic);
		tp->partition = tps[i].partition;
		if (!tp->topic)
			r.w.oom = true;
		recs_offset(&r, group, tps[i].topic, tps[i].partition, NULL);
	}
	change_write(ch, &r);
}

struct tomb_ctx { struct recs *r; const char *group; };

static void tomb_offset(void *arg, const char *topic, int32_t partition, const struct off_value *v)
{
	struct tomb_ctx *tc = arg;
	(void)v;
	recs_offset(tc->r, tc->group, topic, partition, NULL);
}

/* A pending transactional offset's tombstone, unless the key has a
 * committed offset (whose tombstone covers it) — Kafka's deleteAllOffsets. */
static void tomb_pending(void *arg, const char *topic, int32_t partition, const struct off_value *v)
{
	struct tomb_ctx *tc = arg;
	if (!offstore_get(g_coord.os, tc->group, topic, partition))
		tomb_offset(arg, topic, partition, v);
}

void coord_delete_group(struct coord_job *job, const char *group, coord_done_fn done)
{
	struct change *ch = change_new(job, CH_DEL_GROUP, group, done);
	if (!ch) {
		change_fail_oom(job, done);
		return;
	}
	struct recs r;
	recs_init(&r);
	struct group *g = group ? gcoord_find(g_coord.gc, group) : NULL;
	size_t noffs = offstore_group_count(g_coord.os, group) + offstore_txn_count(g_coord.os, group);
	int rc = g ? gcoord_delete(g_coord.gc, group) : KAFKA_GROUP_ID_NOT_FOUND;
	if (rc == KAFKA_NON_EMPTY_GROUP || (rc != KAFKA_NONE && noffs == 0)) {
		ch->err = rc;
	} else {
		/* Tombstones for the group record and every offset, pending
		 * ones included: compaction (and the loader) then forget the
		 * group entirely, and a transaction that commits later finds
		 * nothing of it to make visible. */
		recs_group(&r, group, NULL);
		struct tomb_ctx tc = { &r, group };
		offstore_foreach(g_coord.os, group, tomb_offset, &tc);
		offstore_txn_foreach(g_coord.os, group, tomb_pending, &tc);
	}
	change_write(ch, &r);
}

/* ------------------------------------------------------------- loading */

struct load {
	int64_t now_mono;
	size_t records, bad;
	struct arena a;              /* per batch */
	int32_t partition, npartitions; /* being read; of the topic */
};

static void load_group(struct load *ld, const char *group, const uint8_t *val, size_t vlen)
{
	struct coord *c = &g_coord;
	if (!val) {
		/* Deleted or expired: forget whatever an earlier record built. */
		if (gcoord_find(c->gc, group))
			gcoord_delete(c->gc, group);
		return;
	}
	struct group_snap s;
	if (gmsg_decode_group_value(val, vlen, &ld->a, &s) != 0) {
		ld->bad++;
		return;
	}
	s.state_since_ms = s.state_since_ms >= 0 ? coord_wall_to_mono(s.state_since_ms) : -1;
	struct group *g = group_load(group, &c->gcfg, &s, ld->now_mono);
	if (!g || gcoord_adopt(c->gc, g) != 0) {
		ld->bad++;
		log_warn("coord", "group %s: stored metadata not usable; the group starts empty", group);
	}
}

/* One offset record at log offset `at`: of a transactional batch (h) it
 * goes pending for the batch's producer; a tombstone removes the key's
 * committed offset and its pending ones (Kafka's replay). */
static void load_offset(struct load *ld, const struct batch_hdr *h, const struct gmsg_key *k,
			const uint8_t *val, size_t vlen, int64_t at)
{
	struct off_value v;
	struct offstore *os = g_coord.os;
	if (!val) {
		offstore_del(os, k->group, k->topic, k->partition);
		offstore_txn_drop(os, k->group, k->topic, k->partition, at);
		return;
	}
	if (gmsg_decode_offset_value(val, vlen, &ld->a, &v) != 0) {
		ld->bad++;
		return;
	}
	int rc = h->attributes & BATCH_ATTR_TRANSACTIONAL
		? offstore_txn_put(os, h->producer_id, k->group, k->topic, k->partition, &v, at)
		: offstore_put_at(os, k->group, k->topic, k->partition, &v, at);
	if (rc != 0)
		ld->bad++;
}

static void load_record(struct load *ld, const struct batch_hdr *h, const struct record_view *rv)
{
	struct gmsg_key k;
	ld->records++;
	if (rv->key_len < 0 || gmsg_decode_key(rv->key, (size_t)rv->key_len, &ld->a, &k) != 0) {
		ld->bad++;
		return;
	}
	const uint8_t *val = rv->value_len >= 0 ? rv->value : NULL;
	size_t vlen = rv->value_len >= 0 ? (size_t)rv->value_len : 0;
	if (k.kind == GMSG_KEY_GROUP) {
		load_group(ld, k.group, val, vlen);
	} else if (k.kind == GMSG_KEY_OFFSET) {
		load_offset(ld, h, &k, val, vlen, h->base_offset + rv->offset_delta);
	}
}

/* A transaction marker (control batch: one record, key int16 version,
 * int16 type 0 ABORT / 1 COMMIT): ends its producer's pending offsets of
 * this partition's groups. Other control types (none yet) are skipped. */
static void load_marker(struct load *ld, uint8_t *p, size_t n, const struct batch_hdr *h)
{
	size_t pos = 0;
	struct record_view rv;
	if (batch_next_record(p + BATCH_HEADER_SIZE, n - BATCH_HEADER_SIZE, &pos, &rv) != 0 ||
	    rv.key_len < 4) {
		ld->bad++;
		return;
	}
	int16_t type = (int16_t)((rv.key[2] << 8) | rv.key[3]);
	if (type == 0 || type == 1)
		coord_txnoff_marker(ld->partition, ld->npartitions, h->producer_id, type == 1);
}

static void load_batch(void *arg, uint8_t *p, size_t n, const struct batch_hdr *h)
{
	struct load *ld = arg;
	if ((h->attributes & BATCH_ATTR_CODEC_MASK) != CODEC_NONE)
		return; /* we never write one */
	if (h->attributes & BATCH_ATTR_CONTROL) {
		load_marker(ld, p, n, h);
		return;
	}
	size_t pos = 0;
	struct record_view rv;
	arena_init(&ld->a);
	int rc;
	while ((rc = batch_next_record(p + BATCH_HEADER_SIZE, n - BATCH_HEADER_SIZE, &pos, &rv)) == 0)
		load_record(ld, h, &rv);
	arena_fini(&ld->a);
	if (rc < 0)
		ld->bad++;
}

int coord_store_load(void)
{
	struct topic *t = meta_topic_find(g_broker->meta, COORD_TOPIC, strlen(COORD_TOPIC));
	if (!t)
		return 0;
	struct load ld = { .now_mono = clock_mono_ms(), .npartitions = t->npartitions };
	int rc = 0;
	for (int32_t p = 0; p < t->npartitions && rc == 0; p++) {
		ld.partition = p;
		if (coord_log_scan(t->parts[p]->log, load_batch, &ld) != 0) {
			log_error("coord", "cannot read %s-%d", COORD_TOPIC, p);
			rc = -1;
		}
	}
	topic_unref(t);
	if (ld.bad)
		log_warn("coord", "%zu of %zu records in %s could not be used", ld.bad, ld.records, COORD_TOPIC);
	return rc;
}

/* ------------------------------------------------------------- expiry */

struct expire_ctx {
	int64_t now, retention_ms, base;  /* base: group's empty time, or -1 */
	struct recs *r;
	const char *group;
	struct coord_tp *dead;            /* malloc'd */
	size_t ndead, cap;
};

static void expire_one(void *arg, const char *topic, int32_t partition, const struct off_value *v)
{
	struct expire_ctx *ec = arg;
	/* An offset with a pending transactional commit stays until the
	 * transaction ends (Kafka's cleanupExpiredOffsets). */
	if (offstore_txn_pending(g_coord.os, ec->group, topic, partition))
		return;
	bool expired = v->expire_ts_ms >= 0
		? ec->now >= v->expire_ts_ms
		: ec->now - (ec->base >= 0 ? ec->base : v->commit_ts_ms) >= ec->retention_ms;
	if (!expired)
		return;
	if (ec->ndead == ec->cap) {
		size_t cap = ec->cap ? ec->cap * 2 : 16;
		struct coord_tp *d = realloc(ec->dead, cap * sizeof(*d));
		if (!d)
			return; /* next round */
		ec->dead = d;
		ec->cap = cap;
	}
	/* A copy: removing one offset may free the store's topic name. */
	char *t = strdup(topic);
	if (!t)
		return;
	ec->dead[ec->ndead++] = (struct coord_tp){ t, partition };
	recs_offset(ec->r, ec->group, topic, partition, NULL);
}

struct names { char **v; size_t n, cap; };

static void collect_group(void *arg, const char *group)
{
	struct names *nm = arg;
	if (nm->n == nm->cap) {
		size_t cap = nm->cap ? nm->cap * 2 : 16;
		char **v = realloc(nm->v, cap * sizeof(*v));
		if (!v)
			return;
		nm->v = v;
		nm->cap = cap;
	}
	char *s = strdup(group);
	if (s)
		nm->v[nm->n++] = s;
}

static void expire_group(const char *group, int64_t now_wall)
{
	struct group *g = gcoord_find(g_coord.gc, group);
	if (g && group_state(g) != GROUP_EMPTY)
		return;
	struct recs r;
	recs_init(&r);
	struct expire_ctx ec = { .now = now_wall, .r = &r, .group = group,
		.retention_ms = (int64_t)g_broker->cfg.offsets_retention_minutes * 60000,
		.base = g && group_state_since(g) >= 0 ? coord_mono_to_wall(group_state_since(g)) : -1 };
	offstore_foreach(g_coord.os, group, expire_one, &ec);
	bool all = ec.ndead == offstore_group_count(g_coord.os, group) &&
		   offstore_txn_count(g_coord.os, group) == 0;
	if (ec.ndead > 0 && all && g)
		recs_group(&r, group, NULL);
	struct topic *t;
	struct plog *pl;
	int64_t base, end;
	int rc = ec.ndead > 0 ? recs_append(&r, group, NULL, &t, &pl, &base, &end) : KAFKA_NONE;
	if (ec.ndead > 0 && t)
		topic_unref(t);
	if (rc == KAFKA_NONE && ec.ndead > 0) {
		log_info("coord", "group %s: %zu committed offsets expired", group, ec.ndead);
		for (size_t i = 0; i < ec.ndead; i++)
			offstore_del(g_coord.os, group, ec.dead[i].topic, ec.dead[i].partition);
		if (all && g)
			gcoord_delete(g_coord.gc, group);
	}
	for (size_t i = 0; i < ec.ndead; i++)
		free((char *)ec.dead[i].topic);
	free(ec.dead);
	recs_fini(&r);
}

static void collect_empty(void *arg, struct group *g)
{
	/* A group in an open transaction stays (Kafka keeps it too). */
	if (group_state(g) == GROUP_EMPTY && offstore_group_count(g_coord.os, group_id(g)) == 0 &&
	    offstore_txn_count(g_coord.os, group_id(g)) == 0)
		collect_group(arg, group_id(g));
}

/* An Empty group without offsets holds nothing a client can resume from:
 * Kafka deletes it at the next cleanup, and so do we. */
static void drop_empty_group(const char *group)
{
	if (gcoord_delete(g_coord.gc, group) == KAFKA_NONE)
		coord_store_group(group, NULL);
}

void coord_store_expire(void)
{
	struct names nm = { 0 };
	offstore_foreach_group(g_coord.os, collect_group, &nm);
	int64_t now = clock_wall_ms();
	for (size_t i = 0; i < nm.n; i++) {
		expire_group(nm.v[i], now);
		free(nm.v[i]);
	}
	nm.n = 0;
	gcoord_foreach(g_coord.gc, collect_empty, &nm);
	for (size_t i = 0; i < nm.n; i++) {
		drop_empty_group(nm.v[i]);
		free(nm.v[i]);
	}
	free(nm.v);
}
