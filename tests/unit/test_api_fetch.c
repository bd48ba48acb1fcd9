// deps: src/util src/record src/log src/txn src/meta src/delay src/protocol src/api src/group src/coord gen
/*
 * test_api_fetch.c — the Fetch and Produce handlers against the real log
 * dir, metadata and delay layer, with a fake net layer: a request is a
 * struct req built here, run on an event loop of its own thread, and
 * finished through a done() that counts.
 *
 * Covered: a parked fetch holds no segment open; a parked fetch stays
 * parked when another partition gets data and is answered once its own
 * does (guards the high-watermark check that skips needless re-reads);
 * topic entries without partitions cost no per-topic partition array
 * (allocation stays proportional to the frame).
 */
#include <ftw.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "broker.h"
#include "delay/delay.h"
#include "log/log_int.h"
#include "log/plog.h"
#include "meta/meta.h"
#include "proto_gen.h"
#include "record/batch.h"
#include "unit.h"
#include "util/config.h"
#include "util/err.h"
#include "util/evloop.h"
#include "util/log.h"

/* ================================================================ fixture */

struct broker *g_broker;
static struct broker B;
static char fx_dir[64];
static struct evloop *L;
static pthread_t L_thread;

static void *loop_main(void *arg)
{
	evloop_run(arg);
	return NULL;
}

static void fx_start(void)
{
	char err[256] = "";
	log_set_level(LOGL_ERROR);
	strcpy(fx_dir, "/tmp/runnel-test-api-XXXXXX");
	CHECK(mkdtemp(fx_dir) != NULL);
	config_defaults(&B.cfg);
	B.logdir = logdir_open(fx_dir, 1000, err, sizeof err);
	CHECK(B.logdir != NULL);
	B.meta = meta_open(&B.cfg, B.logdir, err, sizeof err);
	CHECK(B.meta != NULL);
	g_broker = &B;
	CHECK_EQ(meta_topic_create(B.meta, "t", 1, 1, NULL, 0, false, NULL, err, sizeof err), KAFKA_NONE);
	CHECK_EQ(meta_topic_create(B.meta, "u", 1, 1, NULL, 0, false, NULL, err, sizeof err), KAFKA_NONE);
	L = evloop_new(0);
	CHECK(L != NULL);
	delay_register_loop(L);
	CHECK(pthread_create(&L_thread, NULL, loop_main, L) == 0);
}

static int fx_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(p);
}

static void fx_stop(void)
{
	evloop_stop(L);
	pthread_join(L_thread, NULL);
	delay_unregister_loop(L);
	meta_close(B.meta);
	logdir_close(B.logdir);
	evloop_free(L);
	nftw(fx_dir, fx_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Runs fn(arg) on the loop and waits until that turn (with its end-of-turn
 * work: a park's re-check) is over. */
struct on_loop { void (*fn)(void *); void *arg; sem_t done; };

static void on_loop_run(void *p)
{
	struct on_loop *o = p;
	o->fn(o->arg);
}

static void on_loop_signal(void *p) { sem_post(&((struct on_loop *)p)->done); }

static void on_loop(void (*fn)(void *), void *arg)
{
	struct on_loop o = { .fn = fn, .arg = arg };
	sem_init(&o.done, 0, 0);
	CHECK(evloop_post(L, on_loop_run, &o) == 0);
	CHECK(evloop_post(L, on_loop_signal, &o) == 0); /* runs a turn later */
	sem_wait(&o.done);
	/* once more: the first signal may share the turn of fn */
	CHECK(evloop_post(L, on_loop_signal, &o) == 0);
	sem_wait(&o.done);
	sem_destroy(&o.done);
}

/* ============================================================== requests */

struct treq {
	struct req req;
	atomic_int ndone;
	enum req_outcome how;
	uint8_t *frame;
	size_t frame_len;
};

static void treq_done(struct req *req, enum req_outcome how)
{
	struct treq *t = (struct treq *)req;
	t->how = how;
	atomic_fetch_add(&t->ndone, 1);
}

/* A request of api key/version whose body is msg encoded from body. */
static struct treq *treq_new(int16_t key, int16_t v, const struct proto_msg *msg, const void *body)
{
	struct treq *t = calloc(1, sizeof *t);
	struct wbuf w;
	CHECK(t != NULL);
	wbuf_init(&w);
	CHECK(proto_encode(msg, v, &w, body) == 0);
	CHECK(!w.oom);
	t->frame_len = wbuf_len(&w);
	t->frame = malloc(t->frame_len);
	memcpy(t->frame, w.mem, t->frame_len);
	wbuf_fini(&w);
	arena_init(&t->req.arena);
	wbuf_init(&t->req.out);
	t->req.hdr.api_key = key;
	t->req.hdr.api_version = v;
	t->req.hdr.correlation_id = 7;
	t->req.body = rd_make(t->frame, t->frame_len);
	t->req.loop = L;
	t->req.peer = "test";
	t->req.done = treq_done;
	return t;
}

static void treq_free(struct treq *t)
{
	wbuf_fini(&t->req.out);
	arena_fini(&t->req.arena);
	free(t->frame);
	free(t);
}

/* A fetch (v12) of one partition per named topic. */
static struct treq *fetch_req(const char *const *topics, int ntopics, int64_t offset,
			      int32_t min_bytes, int32_t max_wait_ms)
{
	struct arena a;
	arena_init(&a);
	struct fetch_request *rq = proto_new(&proto_fetch_request, 12, &a);
	rq->max_wait_ms = max_wait_ms;
	rq->min_bytes = min_bytes;
	rq->topics.count = ntopics;
	rq->topics.items = proto_new_array(&proto_fetch_request_fetch_topic, 12, ntopics, &a);
	for (int i = 0; i < ntopics; i++) {
		struct fetch_request_fetch_topic *ft = &rq->topics.items[i];
		ft->topic = kstr_c(topics[i]);
		ft->partitions.count = 1;
		ft->partitions.items = proto_new_array(&proto_fetch_request_fetch_partition, 12, 1, &a);
		ft->partitions.items[0].fetch_offset = offset;
		ft->partitions.items[0].partition_max_bytes = 1 << 20;
	}
	struct treq *t = treq_new(1, 12, &proto_fetch_request, rq);
	arena_fini(&a);
	return t;
}

static struct plog *plog_of(const char *name)
{
	struct topic *t = meta_topic_find(B.meta, name, strlen(name));
	CHECK(t != NULL);
	struct plog *pl = t->parts[0]->log;
	topic_unref(t);
	return pl;
}

static void append(const char *topic, int n)
{
	size_t len;
	const char *vals[8] = { "a", "b", "c", "d", "e", "f", "g", "h" };
	uint8_t *b = batch_build(0, 1000, n, NULL, vals, &len);
	struct plog_append_result res;
	CHECK(b != NULL);
	CHECK_EQ(plog_append(plog_of(topic), b, len, 1000, &res), KAFKA_NONE);
	free(b);
}

static int seg_refs(const char *topic)
{
	struct plog *pl = plog_of(topic);
	pthread_mutex_lock(&pl->mu);
	int refs = atomic_load(&pl->segs[0]->ref.refs);
	pthread_mutex_unlock(&pl->mu);
	return refs;
}

static void run_fetch(void *arg) { api_fetch(&((struct treq *)arg)->req); }
static void run_produce(void *arg) { api_produce(&((struct treq *)arg)->req); }
static void run_expire(void *arg) { delay_expire_all(L); }
static void run_nothing(void *arg) { (void)arg; }

/* ================================================================= tests */

TEST(parked_fetch_holds_no_segment_reference)
{
	fx_start();
	append("t", 4);
	CHECK_EQ(seg_refs("t"), 1);
	/* data is there, but less than min_bytes: the fetch parks */
	const char *topics[] = { "t" };
	struct treq *t = fetch_req(topics, 1, 0, 1 << 20, 60000);
	on_loop(run_fetch, t);
	CHECK_EQ(atomic_load(&t->ndone), 0);
	/* a parked fetch must not keep the segment (and a deleted topic's
	 * file) open for up to MaxWaitMs */
	CHECK_EQ(seg_refs("t"), 1);
	on_loop(run_expire, NULL);
	CHECK_EQ(atomic_load(&t->ndone), 1);
	CHECK_EQ(t->how, REQ_RESPONSE);
	CHECK_EQ(seg_refs("t"), 2); /* the response's file piece */
	treq_free(t);
	CHECK_EQ(seg_refs("t"), 1);
	fx_stop();
}

TEST(parked_fetch_answers_when_its_partition_moves_not_before)
{
	fx_start();
	const char *topics[] = { "t" };
	struct treq *t = fetch_req(topics, 1, 0, 1, 60000);
	on_loop(run_fetch, t);
	CHECK_EQ(atomic_load(&t->ndone), 0);
	append("u", 2); /* another partition: the fetch stays parked */
	on_loop(run_nothing, NULL);
	CHECK_EQ(atomic_load(&t->ndone), 0);
	append("t", 2); /* its own partition: answered on the notify */
	for (int i = 0; i < 400 && atomic_load(&t->ndone) == 0; i++)
		usleep(5000);
	CHECK_EQ(atomic_load(&t->ndone), 1);
	CHECK_EQ(t->how, REQ_RESPONSE);
	CHECK(wbuf_len(&t->req.out) > 100); /* carries the batch */
	treq_free(t);
	fx_stop();
}

TEST(topics_without_partitions_allocate_in_proportion_to_the_frame)
{
	enum { N = 2000 };
	fx_start();
	struct arena a;
	arena_init(&a);

	struct fetch_request *frq = proto_new(&proto_fetch_request, 12, &a);
	frq->topics.count = N;
	frq->topics.items = proto_new_array(&proto_fetch_request_fetch_topic, 12, N, &a);
	for (int i = 0; i < N; i++) {
		frq->topics.items[i].topic = kstr_c("x");
		frq->topics.items[i].partitions.count = 0;
	}
	struct treq *f = treq_new(1, 12, &proto_fetch_request, frq);
	on_loop(run_fetch, f);
	CHECK_EQ(atomic_load(&f->ndone), 1);
	CHECK_EQ(f->how, REQ_RESPONSE);
	/* 4 wire bytes per topic; decoded and answered it costs two 32-byte
	 * structs, not also a partition array per topic */
	CHECK(f->req.arena.used < 24 * f->frame_len);
	treq_free(f);

	struct produce_request *prq = proto_new(&proto_produce_request, 9, &a);
	prq->acks = 1;
	prq->topic_data.count = N;
	prq->topic_data.items = proto_new_array(&proto_produce_request_topic_produce_data, 9, N, &a);
	for (int i = 0; i < N; i++) {
		prq->topic_data.items[i].name = kstr_c("x");
		prq->topic_data.items[i].partition_data.count = 0;
	}
	struct treq *p = treq_new(0, 9, &proto_produce_request, prq);
	on_loop(run_produce, p);
	CHECK_EQ(atomic_load(&p->ndone), 1);
	CHECK_EQ(p->how, REQ_RESPONSE);
	CHECK(p->req.arena.used < 24 * p->frame_len);
	treq_free(p);

	arena_fini(&a);
	fx_stop();
}

UNIT_MAIN()
