// deps: src/util src/record src/log src/txn
/*
 * test_txnlog.c — transactions in the partition log (txnlog.c, plog.c,
 * psnap.c, retention.c): markers close transactions, the last stable
 * offset follows the oldest open one, ABORT markers make aborted entries
 * (memory and `.txnindex`), the KIP-890 verify hook refuses unverified
 * first batches and orders against markers, an epoch bump by a marker
 * fences the old epoch, and a restart — clean, after a crash, without
 * snapshots, with damaged `.txnindex` files — restores the LSO and the
 * aborted list exactly. A random workload checked against a small model
 * drives most of it.
 */
#include <pthread.h>

#include "test_log_fixture.h"
#include "txn/pstate.h"

/* ---------------------------------------------------------------- helpers */

/* A batch of n records from (pid, epoch) at sequence seq (-1: none);
 * txn: transactional. */
static uint8_t *tx_batch(int64_t pid, int16_t epoch, int32_t seq, int n, bool txn, size_t *len)
{
	struct batch_kv kv[8];
	char vals[8][32];
	CHECK(n >= 1 && n <= 8);
	for (int i = 0; i < n; i++) {
		int l = snprintf(vals[i], sizeof vals[i], "p%lld-s%d-%d", (long long)pid, seq, i);
		kv[i] = (struct batch_kv){ NULL, 0, (const uint8_t *)vals[i], (size_t)l };
	}
	struct batch_producer prod = { pid, epoch, seq, txn ? BATCH_ATTR_TRANSACTIONAL : 0 };
	uint8_t *b = batch_build_kv_producer(0, clock_wall_ms(), n, kv, &prod, len);
	CHECK(b != NULL);
	CHECK_EQ(batch_validate(b, *len, NULL), KAFKA_NONE);
	return b;
}

static int tx_append(struct plog *pl, int64_t pid, int16_t epoch, int32_t seq, int n, bool txn,
		     struct plog_append_result *res)
{
	size_t len;
	uint8_t *b = tx_batch(pid, epoch, seq, n, txn, &len);
	int err = plog_append(pl, b, len, clock_wall_ms(), res);
	free(b);
	return err;
}

/* A batch that must go in; returns its base offset. */
static int64_t tx_new(struct plog *pl, int64_t pid, int16_t epoch, int32_t seq, int n, bool txn)
{
	struct plog_append_result res;
	CHECK_EQ(tx_append(pl, pid, epoch, seq, n, txn, &res), KAFKA_NONE);
	CHECK(!res.duplicate);
	return res.base_offset;
}

/* A batch that must be refused with err, nothing written. */
static void tx_refused(struct plog *pl, int64_t pid, int16_t epoch, int32_t seq, bool txn, int err)
{
	struct plog_append_result res;
	int64_t leo = plog_end_offset(pl), size = plog_size_bytes(pl);
	CHECK_EQ(tx_append(pl, pid, epoch, seq, 1, txn, &res), err);
	CHECK_EQ(plog_end_offset(pl), leo);
	CHECK_EQ(plog_size_bytes(pl), size);
}

static int64_t tx_marker(struct plog *pl, int64_t pid, int16_t epoch, bool commit)
{
	int64_t off = -1, leo = plog_end_offset(pl);
	CHECK_EQ(plog_append_marker(pl, pid, epoch, 7, commit, clock_wall_ms(), &off), KAFKA_NONE);
	CHECK_EQ(off, leo);
	CHECK_EQ(plog_end_offset(pl), leo + 1);
	return off;
}

/* The aborted list of [from, to) as plog_aborted_txns gives it. */
static ssize_t tx_aborted(struct plog *pl, int64_t from, int64_t to, struct plog_aborted **out)
{
	ssize_t n = plog_aborted_txns(pl, from, to, out);
	CHECK(n >= 0);
	return n;
}

static const struct pstate_entry *tx_producer(struct plog *pl, int64_t pid)
{
	return pstate_find(pl->ps, pid);
}

static char part_dir[400];

static const char *pdir(const char *topic)
{
	snprintf(part_dir, sizeof part_dir, "%s/%s-0", fx_dir, topic);
	return part_dir;
}

/* ------------------------------------------------------------------ model */

enum { NP = 5, MAXAB = 512 };

/* What the partition must say: open transactions and aborted ones. */
struct model {
	int64_t open[NP];           /* first offset of producer i's open transaction, -1 */
	int32_t seq[NP];            /* next sequence */
	int64_t leo;
	size_t nab;
	struct plog_aborted ab[MAXAB];
};

static int64_t pid_of(int i) { return 1000 + i; }

static void model_init(struct model *m)
{
	memset(m, 0, sizeof *m);
	for (int i = 0; i < NP; i++)
		m->open[i] = -1;
}

static int64_t model_lso(const struct model *m)
{
	int64_t lso = m->leo;
	for (int i = 0; i < NP; i++)
		if (m->open[i] >= 0 && m->open[i] < lso)
			lso = m->open[i];
	return lso;
}

/* One random step on pl and the model. */
static void model_step(struct plog *pl, struct model *m, unsigned *rng)
{
	int i = (int)(rand_r(rng) % NP), op = (int)(rand_r(rng) % 100);
	int64_t pid = pid_of(i);
	if (op < 55) {
		int n = 1 + (int)(rand_r(rng) % 3);
		int64_t base = tx_new(pl, pid, 0, m->seq[i], n, true);
		CHECK_EQ(base, m->leo);
		if (m->open[i] < 0)
			m->open[i] = base;
		m->seq[i] += n;
		m->leo += n;
	} else if (op < 85) {
		bool commit = op < 70;
		int64_t off = tx_marker(pl, pid, 0, commit);
		m->leo++;
		if (!commit && m->open[i] >= 0) {
			CHECK(m->nab < MAXAB);
			m->ab[m->nab++] = (struct plog_aborted){ pid, m->open[i], off };
		}
		m->open[i] = -1;
	} else {
		fx_append(pl, 1 + (int)(rand_r(rng) % 2), clock_wall_ms(), "plain");
		m->leo = plog_end_offset(pl);
	}
	CHECK_EQ(plog_end_offset(pl), m->leo);
	CHECK_EQ(plog_last_stable_offset(pl), model_lso(m));
}

/* The partition agrees with the model: LSO, each producer's open
 * transaction, the aborted list whole and for random ranges. */
static void model_check(struct plog *pl, const struct model *m, unsigned *rng)
{
	CHECK_EQ(plog_end_offset(pl), m->leo);
	CHECK_EQ(plog_last_stable_offset(pl), model_lso(m));
	for (int i = 0; i < NP; i++) {
		const struct pstate_entry *e = tx_producer(pl, pid_of(i));
		CHECK_EQ(e != NULL ? e->txn_first_offset : -1, m->open[i]);
	}
	struct plog_aborted *v;
	ssize_t n = tx_aborted(pl, 0, INT64_MAX, &v);
	CHECK_EQ(n, (ssize_t)m->nab);
	for (ssize_t k = 0; k < n; k++) {
		CHECK_EQ(v[k].producer_id, m->ab[k].producer_id);
		CHECK_EQ(v[k].first_offset, m->ab[k].first_offset);
		CHECK_EQ(v[k].last_offset, m->ab[k].last_offset);
	}
	free(v);
	/* Ranges: what a read_committed fetch of [from, to) needs. Kafka
	 * may return more than the exact set only past its LSO stop; ours
	 * must be exactly the entries with last >= from and first < to. */
	for (int r = 0; r < 50 && m->leo > 0; r++) {
		int64_t from = rand_r(rng) % (m->leo + 1), to = from + rand_r(rng) % (m->leo - from + 1);
		n = tx_aborted(pl, from, to, &v);
		ssize_t k = 0;
		for (size_t j = 0; j < m->nab; j++) {
			if (m->ab[j].last_offset < from || m->ab[j].first_offset >= to)
				continue;
			CHECK(k < n);
			CHECK_EQ(v[k].last_offset, m->ab[j].last_offset);
			CHECK_EQ(v[k].first_offset, m->ab[j].first_offset);
			k++;
		}
		CHECK_EQ(k, n);
		free(v);
	}
}

static struct plog_config small_segments(void)
{
	struct plog_config c = fx_cfg();
	c.segment_bytes = 700;
	c.index_interval_bytes = 200;
	return c;
}

static void model_save(const struct model *m)
{
	char path[300];
	snprintf(path, sizeof path, "%s/model", fx_dir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	CHECK_EQ(fwrite(m, sizeof *m, 1, f), 1);
	CHECK_EQ(fclose(f), 0);
}

static void model_load(struct model *m)
{
	char path[300];
	snprintf(path, sizeof path, "%s/model", fx_dir);
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	CHECK_EQ(fread(m, sizeof *m, 1, f), 1);
	fclose(f);
	unlink(path);
}

/* Removes every file of the partition dir ending in ext; returns how many. */
static int remove_files(const char *topic, const char *ext)
{
	DIR *d = opendir(pdir(topic));
	CHECK(d != NULL);
	int n = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t a = strlen(e->d_name), b = strlen(ext);
		if (a > b && strcmp(e->d_name + a - b, ext) == 0) {
			char p[700];
			snprintf(p, sizeof p, "%s/%s", part_dir, e->d_name);
			CHECK_EQ(unlink(p), 0);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* ----------------------------------------------------------------- tests */

TEST(commit_and_abort_markers)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog_config cfg = fx_cfg();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	CHECK_EQ(plog_last_stable_offset(pl), 0);
	CHECK_EQ(tx_new(pl, 1, 0, 0, 3, true), 0);
	CHECK_EQ(plog_last_stable_offset(pl), 0);
	CHECK_EQ(plog_high_watermark(pl), 3);
	/* A plain batch of the same producer cannot slip into its transaction;
	 * anyone else's plain batch goes in and stays unstable behind it. */
	tx_refused(pl, 1, 0, 3, false, KAFKA_INVALID_TXN_STATE);
	fx_append(pl, 1, 1000, "other");
	CHECK_EQ(plog_last_stable_offset(pl), 0);
	CHECK_EQ(tx_marker(pl, 1, 0, true), 4);
	CHECK_EQ(plog_last_stable_offset(pl), 5);
	struct plog_aborted *v;
	CHECK_EQ(tx_aborted(pl, 0, 100, &v), 0);
	CHECK(v == NULL);
	/* The next transaction, aborted. */
	CHECK_EQ(tx_new(pl, 1, 0, 3, 2, true), 5);
	CHECK_EQ(plog_last_stable_offset(pl), 5);
	CHECK_EQ(tx_marker(pl, 1, 0, false), 7);
	CHECK_EQ(plog_last_stable_offset(pl), 8);
	CHECK_EQ(tx_aborted(pl, 0, 100, &v), 1);
	CHECK_EQ(v[0].producer_id, 1);
	CHECK_EQ(v[0].first_offset, 5);
	CHECK_EQ(v[0].last_offset, 7);
	free(v);
	/* The stored marker: a control batch with Kafka's record. */
	struct plog_slice sl;
	CHECK_EQ(plog_read(pl, 7, 8, 1 << 20, true, &sl), KAFKA_NONE);
	uint64_t n = sl.len;
	uint8_t *p = fx_slice_bytes(&sl);
	struct batch_hdr h;
	CHECK_EQ(batch_validate(p, n, &h), KAFKA_NONE);
	CHECK_EQ(h.base_offset, 7);
	CHECK_EQ(h.attributes & (BATCH_ATTR_CONTROL | BATCH_ATTR_TRANSACTIONAL),
		 BATCH_ATTR_CONTROL | BATCH_ATTR_TRANSACTIONAL);
	CHECK_EQ(h.producer_id, 1);
	CHECK_EQ(h.base_sequence, -1);
	bool commit = true;
	int32_t cepoch = 0;
	CHECK_EQ(txnlog__parse_marker(p, n, &commit, &cepoch), 0);
	CHECK(!commit);
	CHECK_EQ(cepoch, 7);
	free(p);
	/* DescribeProducers sees the coordinator epoch, no open transaction. */
	struct plog_producer *pr;
	CHECK_EQ(plog_producers(pl, &pr), 1);
	CHECK_EQ(pr[0].coordinator_epoch, 7);
	CHECK_EQ(pr[0].txn_start_offset, -1);
	free(pr);
	/* A marker for a producer that never wrote here changes nothing. */
	CHECK_EQ(tx_marker(pl, 55, 0, false), 8);
	CHECK_EQ(tx_aborted(pl, 0, 100, &v), 1);
	free(v);
	CHECK_EQ(plog_last_stable_offset(pl), 9);
	logdir_close(ld);
	fx_done();
}

TEST(lso_with_interleaved_producers)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog_config cfg = fx_cfg();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	fx_append(pl, 2, 1000, "plain");                /* 0-1 */
	CHECK_EQ(plog_last_stable_offset(pl), 2);
	CHECK_EQ(tx_new(pl, 1, 0, 0, 1, true), 2);
	CHECK_EQ(tx_new(pl, 2, 0, 0, 1, true), 3);
	CHECK_EQ(tx_new(pl, 3, 0, 0, 1, true), 4);
	CHECK_EQ(tx_new(pl, 1, 0, 1, 1, true), 5);
	CHECK_EQ(plog_last_stable_offset(pl), 2);
	struct plog_producer *pr;
	CHECK_EQ(plog_producers(pl, &pr), 3);
	CHECK_EQ(pr[0].txn_start_offset, 2);
	CHECK_EQ(pr[1].txn_start_offset, 3);
	CHECK_EQ(pr[2].txn_start_offset, 4);
	free(pr);
	tx_marker(pl, 1, 0, true);                      /* 6 */
	CHECK_EQ(plog_last_stable_offset(pl), 3);
	tx_marker(pl, 3, 0, false);                     /* 7: aborted 4..7 */
	CHECK_EQ(plog_last_stable_offset(pl), 3);
	struct plog_aborted *v;
	CHECK_EQ(tx_aborted(pl, 0, 100, &v), 1);
	CHECK_EQ(v[0].first_offset, 4);
	CHECK_EQ(v[0].last_offset, 7);
	free(v);
	/* The aborted entry's LSO (on disk) is producer 2's first offset. */
	CHECK_EQ(pl->aborted.v[0].lso, 3);
	tx_marker(pl, 2, 0, true);                      /* 8 */
	CHECK_EQ(plog_last_stable_offset(pl), 9);
	logdir_close(ld);
	fx_done();
}

TEST(random_workload_against_a_model)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog_config cfg = small_segments();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	struct model m;
	model_init(&m);
	unsigned rng = 12345;
	for (int i = 0; i < 1500; i++)
		model_step(pl, &m, &rng);
	CHECK(m.nab > 20);
	CHECK(pl->nsegs > 20);
	model_check(pl, &m, &rng);
	logdir_close(ld);
	fx_done();
}

/* Unsequenced transactional batches (the coordinator's offset commits to
 * __consumer_offsets): the epoch is checked, no sequence is kept. */
TEST(unsequenced_transactional_batches)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog_config cfg = fx_cfg();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	CHECK_EQ(tx_new(pl, 4, 2, -1, 1, true), 0);
	CHECK_EQ(tx_new(pl, 4, 2, -1, 1, true), 1);
	CHECK_EQ(plog_last_stable_offset(pl), 0);
	tx_refused(pl, 4, 1, -1, true, KAFKA_INVALID_PRODUCER_EPOCH);
	tx_marker(pl, 4, 2, true);
	CHECK_EQ(plog_last_stable_offset(pl), 3);
	const struct pstate_entry *e = tx_producer(pl, 4);
	CHECK(e != NULL);
	CHECK_EQ(e->nbatches, 0);
	CHECK_EQ(e->epoch, 2);
	logdir_close(ld);
	fx_done();
}

/* Transactions V2 (KIP-890 part 2): the coordinator bumps the epoch with
 * every marker; the old epoch is then fenced, the new one starts at 0. */
TEST(marker_epoch_bump_fences_the_old_epoch)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog_config cfg = fx_cfg();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	tx_new(pl, 8, 0, 0, 2, true);
	tx_new(pl, 8, 0, 2, 1, true);
	tx_marker(pl, 8, 1, false);                     /* bumps to 1 */
	tx_refused(pl, 8, 0, 3, true, KAFKA_INVALID_PRODUCER_EPOCH);
	tx_refused(pl, 8, 0, 3, false, KAFKA_INVALID_PRODUCER_EPOCH);
	int64_t off, leo = plog_end_offset(pl);
	CHECK_EQ(plog_append_marker(pl, 8, 0, 7, true, clock_wall_ms(), &off),
		 KAFKA_INVALID_PRODUCER_EPOCH);
	CHECK_EQ(plog_end_offset(pl), leo);
	tx_refused(pl, 8, 1, 3, true, KAFKA_OUT_OF_ORDER_SEQUENCE_NUMBER);  /* seq state reset */
	CHECK_EQ(tx_new(pl, 8, 1, 0, 1, true), leo);
	CHECK_EQ(plog_last_stable_offset(pl), leo);
	tx_marker(pl, 8, 2, true);
	/* Not transactional any more: an idempotent batch of epoch 2. */
	tx_new(pl, 8, 2, 0, 1, false);
	CHECK_EQ(plog_last_stable_offset(pl), plog_end_offset(pl));
	logdir_close(ld);
	fx_done();
}

/* ------------------------------------------------------- the verify hook */

static atomic_int hook_calls;
static atomic_bool hook_ongoing;        /* the "coordinator" says: ongoing */

static int hook_refuse_5(int64_t pid, int16_t epoch, const char *topic, int32_t partition)
{
	atomic_fetch_add(&hook_calls, 1);
	CHECK_STR(topic, "t");
	CHECK_EQ(partition, 0);
	(void)epoch;
	return pid == 5 ? KAFKA_INVALID_TXN_STATE : KAFKA_NONE;
}

TEST(verify_hook_refuses_unverified_first_batches)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog_config cfg = fx_cfg();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	plog_set_txn_verify(hook_refuse_5);
	tx_refused(pl, 5, 0, 0, true, KAFKA_INVALID_TXN_STATE);
	CHECK_EQ(atomic_load(&hook_calls), 1);
	CHECK(tx_producer(pl, 5) == NULL);              /* nothing recorded either */
	CHECK_EQ(plog_last_stable_offset(pl), 0);
	/* Idempotent and plain batches never ask. */
	tx_new(pl, 5, 0, 0, 1, false);
	fx_append(pl, 1, 1000, "plain");
	CHECK_EQ(atomic_load(&hook_calls), 1);
	/* Producer 6: its first batch is verified, the next ones of the same
	 * transaction are not asked again; after the marker, again. */
	tx_new(pl, 6, 0, 0, 1, true);
	tx_new(pl, 6, 0, 1, 1, true);
	CHECK_EQ(atomic_load(&hook_calls), 2);
	tx_marker(pl, 6, 0, true);
	tx_new(pl, 6, 0, 2, 1, true);
	CHECK_EQ(atomic_load(&hook_calls), 3);
	/* A retry of a batch already in is answered, not re-verified. */
	struct plog_append_result res;
	CHECK_EQ(tx_append(pl, 6, 0, 2, 1, true, &res), KAFKA_NONE);
	CHECK(res.duplicate);
	CHECK_EQ(atomic_load(&hook_calls), 3);
	plog_set_txn_verify(NULL);
	logdir_close(ld);
	fx_done();
}

static int hook_ongoing_only(int64_t pid, int16_t epoch, const char *topic, int32_t partition)
{
	(void)pid; (void)epoch; (void)topic; (void)partition;
	return atomic_load(&hook_ongoing) ? KAFKA_NONE : KAFKA_INVALID_TXN_STATE;
}

struct producer_arg {
	struct plog *pl;
	atomic_bool stop;
	atomic_long appended;
};

static void *producer_thread(void *p)
{
	struct producer_arg *a = p;
	int32_t seq = 0;
	while (!atomic_load(&a->stop)) {
		struct plog_append_result res;
		int err = tx_append(a->pl, 9, 0, seq, 1, true, &res);
		CHECK(err == KAFKA_NONE || err == KAFKA_INVALID_TXN_STATE);
		if (err == KAFKA_NONE) {
			seq++;
			atomic_fetch_add(&a->appended, 1);
		}
	}
	return NULL;
}

/* The race KIP-890 closes: the coordinator ends the transaction (verify
 * now refuses) and writes its marker while the producer keeps sending.
 * Every batch that got in lies before a marker of its transaction: none
 * opens a transaction after the last marker, none is left hanging. */
TEST(verified_batches_land_before_the_marker)
{
	fx_mkdir();
	struct logdir *ld = fx_open_dir();
	struct plog_config cfg = fx_cfg();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	plog_set_txn_verify(hook_ongoing_only);
	struct producer_arg a = { .pl = pl };
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, producer_thread, &a), 0);
	int64_t markers[200];
	int rounds = 0;
	for (; rounds < 200; rounds++) {
		long before = atomic_load(&a.appended);
		atomic_store(&hook_ongoing, true);
		for (int i = 0; i < 100000 && atomic_load(&a.appended) < before + 3; i++)
			usleep(10);
		atomic_store(&hook_ongoing, false);     /* EndTxn: PrepareCommit */
		CHECK_EQ(plog_append_marker(pl, 9, 0, 7, rounds % 2 == 0, clock_wall_ms(),
					    &markers[rounds]), KAFKA_NONE);
		/* After its marker nothing of the transaction is open. */
		const struct pstate_entry *e;
		pthread_mutex_lock(&pl->mu);
		e = tx_producer(pl, 9);
		int64_t open = e != NULL ? e->txn_first_offset : -1;
		pthread_mutex_unlock(&pl->mu);
		CHECK(open < 0 || open > markers[rounds]);
		CHECK(open < 0);                        /* verify refuses meanwhile */
	}
	atomic_store(&a.stop, true);
	pthread_join(th, NULL);
	CHECK(atomic_load(&a.appended) >= 3 * 200);
	CHECK_EQ(plog_last_stable_offset(pl), plog_end_offset(pl));
	/* Walk the log: every data batch of producer 9 precedes a marker with
	 * no marker-less gap at the end. */
	int64_t last_marker = markers[rounds - 1], last_data = -1;
	struct plog_slice sl;
	for (int64_t off = 0; off < plog_end_offset(pl);) {
		CHECK_EQ(plog_read(pl, off, INT64_MAX, 1 << 20, true, &sl), KAFKA_NONE);
		uint64_t n = sl.len;
		uint8_t *p = fx_slice_bytes(&sl);
		struct batch_hdr h;
		for (uint64_t at = 0; at < n; at += batch_total_size(&h)) {
			CHECK_EQ(batch_parse_header(p + at, n - at, &h), 0);
			if (!(h.attributes & BATCH_ATTR_CONTROL))
				last_data = h.base_offset;
			off = batch_last_offset(&h) + 1;
		}
		free(p);
	}
	CHECK(last_data < last_marker);
	plog_set_txn_verify(NULL);
	logdir_close(ld);
	fx_done();
}

/* ------------------------------------------------------------- restarts */

TEST(clean_restart_restores_lso_and_aborted_list)
{
	fx_mkdir();
	struct plog_config cfg = small_segments();
	struct model m;
	model_init(&m);
	unsigned rng = 777;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	for (int i = 0; i < 600; i++)
		model_step(pl, &m, &rng);
	/* Leave two transactions open across the restart. */
	tx_new(pl, pid_of(0), 0, m.seq[0], 1, true);
	if (m.open[0] < 0)
		m.open[0] = m.leo;
	m.seq[0]++;
	m.leo++;
	model_check(pl, &m, &rng);
	logdir_close(ld);
	for (int round = 0; round < 3; round++) {
		ld = fx_open_dir();
		pl = fx_open_plog(ld, "t", &cfg);
		model_check(pl, &m, &rng);
		for (int i = 0; i < 100; i++)
			model_step(pl, &m, &rng);
		model_check(pl, &m, &rng);
		logdir_close(ld);
	}
	fx_done();
}

/* The same state must come back without any snapshot: the whole log is
 * scanned, every file rewritten from it. */
TEST(restart_without_snapshots_rebuilds_from_the_log)
{
	fx_mkdir();
	struct plog_config cfg = small_segments();
	struct model m;
	model_init(&m);
	unsigned rng = 4242;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	for (int i = 0; i < 800; i++)
		model_step(pl, &m, &rng);
	logdir_close(ld);
	CHECK(remove_files("t", ".snapshot") >= 1);
	CHECK(remove_files("t", ".txnindex") >= 1);
	ld = fx_open_dir();
	pl = fx_open_plog(ld, "t", &cfg);
	model_check(pl, &m, &rng);
	logdir_close(ld);
	/* The files came back: a restart with them alone (snapshot at the
	 * end, nothing scanned) gives the same. */
	ld = fx_open_dir();
	pl = fx_open_plog(ld, "t", &cfg);
	model_check(pl, &m, &rng);
	logdir_close(ld);
	fx_done();
}

/* A crash: a child runs the workload (janitor on: roll snapshots) and
 * dies without closing; the parent reopens (unclean: the segments after
 * the recovery point are scanned, the producer state from the last roll
 * snapshot plus the log). */
static void crash_case(bool drop_snapshots, unsigned seed)
{
	fx_mkdir();
	struct plog_config cfg = small_segments();
	fflush(NULL);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		struct model m;
		model_init(&m);
		unsigned rng = seed;
		struct logdir *ld = fx_open_dir();
		CHECK_EQ(logdir_start_janitor(ld, 3600 * 1000), 0);
		struct plog *pl = fx_open_plog(ld, "t", &cfg);
		for (int i = 0; i < 700; i++) {
			model_step(pl, &m, &rng);
			if (i == 400)
				CHECK_EQ(logdir_checkpoint(ld), KAFKA_NONE);
		}
		CHECK_EQ(plog_flush(pl), KAFKA_NONE);
		model_save(&m);
		_exit(0);
	}
	int st;
	CHECK_EQ(waitpid(child, &st, 0), child);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	struct model m;
	model_load(&m);
	if (drop_snapshots)
		remove_files("t", ".snapshot");
	unsigned rng = seed + 1;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	model_check(pl, &m, &rng);
	for (int i = 0; i < 100; i++)
		model_step(pl, &m, &rng);
	model_check(pl, &m, &rng);
	logdir_close(ld);
	ld = fx_open_dir();
	pl = fx_open_plog(ld, "t", &cfg);
	model_check(pl, &m, &rng);
	logdir_close(ld);
	fx_done();
}

TEST(unclean_restart_restores_lso_and_aborted_list)
{
	crash_case(false, 99);
}

TEST(unclean_restart_without_snapshots)
{
	crash_case(true, 98);
}

static atomic_int synced_fd = -1;

static int note_sync(int fd)
{
	int want = atomic_load(&synced_fd);
	if (want >= 0 && fd == want)
		atomic_store(&synced_fd, -2);           /* seen */
	return fdatasync(fd);
}

/* The entry is durable with its marker: the flush that covers the marker
 * (and so moves the recovery point past it) syncs the segment's .txnindex
 * too; no fsync on the marker's own path. */
TEST(txnindex_is_synced_with_its_marker)
{
	fx_mkdir();
	plog__fdatasync = note_sync;
	struct logdir *ld = fx_open_dir();
	struct plog_config cfg = fx_cfg();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	tx_new(pl, 1, 0, 0, 1, true);
	CHECK_EQ(plog_flush(pl), KAFKA_NONE);
	CHECK_EQ(atomic_load(&pl->segs[0]->txn_fd), -1);  /* no abort yet: no file */
	tx_marker(pl, 1, 0, false);
	int fd = atomic_load(&pl->segs[0]->txn_fd);
	CHECK(fd >= 0);
	atomic_store(&synced_fd, fd);
	CHECK(plog_recovery_point(pl) < plog_end_offset(pl));
	CHECK_EQ(plog_flush(pl), KAFKA_NONE);
	CHECK_EQ(atomic_load(&synced_fd), -2);
	CHECK_EQ(plog_recovery_point(pl), plog_end_offset(pl));
	logdir_close(ld);
	fx_done();
}

/* A torn ABORT marker (power loss after the .txnindex write reached the
 * disk but not the marker): recovery cuts the marker, so its entry must go
 * too and the transaction is open again. */
TEST(torn_abort_marker_drops_its_entry)
{
	fx_mkdir();
	struct plog_config cfg = fx_cfg();
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	tx_new(pl, 1, 0, 0, 2, true);                   /* 0-1 */
	tx_new(pl, 2, 0, 0, 1, true);                   /* 2 */
	tx_marker(pl, 2, 0, false);                     /* 3: aborted 2..3 */
	tx_new(pl, 3, 0, 0, 1, true);                   /* 4 */
	tx_marker(pl, 1, 0, false);                     /* 5: aborted 0..5, the torn one */
	CHECK_EQ(plog_last_stable_offset(pl), 4);
	logdir_close(ld);
	char path[600];
	fx_path(path, sizeof path, "t-0", 0, ".log");
	struct stat st;
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(truncate(path, st.st_size - 1), 0);
	snprintf(path, sizeof path, "%s/.clean-shutdown", fx_dir);
	unlink(path);
	ld = fx_open_dir();
	pl = fx_open_plog(ld, "t", &cfg);
	CHECK_EQ(plog_end_offset(pl), 5);
	CHECK_EQ(plog_last_stable_offset(pl), 0);       /* producer 1's is open again */
	struct plog_aborted *v;
	CHECK_EQ(tx_aborted(pl, 0, INT64_MAX, &v), 1);
	CHECK_EQ(v[0].producer_id, 2);
	CHECK_EQ(v[0].first_offset, 2);
	CHECK_EQ(v[0].last_offset, 3);
	free(v);
	/* The file says the same now: 34 bytes. */
	fx_path(path, sizeof path, "t-0", 0, ".txnindex");
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_size, 34);
	/* The coordinator writes the marker again (it retries until acked). */
	CHECK_EQ(tx_marker(pl, 1, 0, false), 5);
	CHECK_EQ(plog_last_stable_offset(pl), 4);
	CHECK_EQ(tx_aborted(pl, 0, INT64_MAX, &v), 2);
	free(v);
	logdir_close(ld);
	fx_done();
}

/* ------------------------------------------------------------ retention */

TEST(retention_drops_entries_below_the_log_start)
{
	fx_mkdir();
	struct plog_config cfg = small_segments();
	cfg.file_delete_delay_ms = 0;
	struct model m;
	model_init(&m);
	unsigned rng = 31337;
	struct logdir *ld = fx_open_dir();
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	for (int i = 0; i < 600; i++)
		model_step(pl, &m, &rng);
	/* Close every transaction, so the whole log is stable. */
	for (int i = 0; i < NP; i++)
		if (m.open[i] >= 0) {
			int64_t off = tx_marker(pl, pid_of(i), 0, false);
			m.ab[m.nab++] = (struct plog_aborted){ pid_of(i), m.open[i], off };
			m.open[i] = -1;
			m.leo++;
		}
	CHECK(m.nab > 10);
	/* Cut at the middle entry's marker + 1. */
	size_t mid = m.nab / 2;
	int64_t cut = m.ab[mid].last_offset + 1, low;
	/* The .txnindex of the segment holding the first entry goes too. */
	char first_idx[600];
	size_t seg0 = 0;
	while (seg0 + 1 < pl->nsegs && pl->segs[seg0 + 1]->base_offset <= m.ab[0].last_offset)
		seg0++;
	int64_t seg0_base = pl->segs[seg0]->base_offset;
	fx_path(first_idx, sizeof first_idx, "t-0", seg0_base, ".txnindex");
	CHECK_EQ(access(first_idx, F_OK), 0);
	CHECK_EQ(plog_delete_records(pl, cut, &low), KAFKA_NONE);
	CHECK_EQ(low, cut);
	CHECK_EQ(plog_last_stable_offset(pl), m.leo);
	size_t keep = 0;
	for (size_t j = 0; j < m.nab; j++)
		if (m.ab[j].last_offset >= cut)
			m.ab[keep++] = m.ab[j];
	m.nab = keep;
	model_check(pl, &m, &rng);
	if (pl->segs[0]->base_offset > seg0_base)
		CHECK(access(first_idx, F_OK) != 0);    /* renamed .deleted with its segment */
	logdir_close(ld);
	ld = fx_open_dir();
	pl = fx_open_plog(ld, "t", &cfg);
	model_check(pl, &m, &rng);
	logdir_close(ld);
	fx_done();
}

/* ----------------------------------------------------- damaged .txnindex */

/* The .txnindex files of the partition: bases, ascending; returns count. */
static int list_txnindex(const char *topic, int64_t *out, int max)
{
	DIR *d = opendir(pdir(topic));
	CHECK(d != NULL);
	int n = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL && n < max;) {
		int64_t b = segment_parse_name(e->d_name, ".txnindex");
		if (b >= 0)
			out[n++] = b;
	}
	closedir(d);
	qsort(out, (size_t)n, sizeof *out, segment_cmp_offsets);
	return n;
}

/* Damage of a kind recovery can see (the format has no checksum: a
 * plausible in-range change is as invisible to it as to Kafka). */
static void damage(const char *path, unsigned *rng)
{
	int fd = open(path, O_RDWR);
	CHECK(fd >= 0);
	struct stat st;
	CHECK_EQ(fstat(fd, &st), 0);
	off_t size = st.st_size;
	uint8_t junk[200];
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)rand_r(rng);
	switch (rand_r(rng) % 5) {
	case 0:         /* torn: not a whole number of entries */
		CHECK_EQ(ftruncate(fd, size - 1 - (off_t)(rand_r(rng) % (size_t)size)), 0);
		if (size == 1)
			CHECK_EQ(pwrite(fd, junk, 5, 0), 5);
		break;
	case 1:         /* a bad version */
		junk[0] |= 0x80;
		CHECK_EQ(pwrite(fd, junk, 1, (off_t)(rand_r(rng) % (size_t)(size / 34)) * 34), 1);
		break;
	case 2:         /* an entry's last offset far outside its segment */
		junk[0] = 0x40;
		CHECK_EQ(pwrite(fd, junk, 1, (off_t)(rand_r(rng) % (size_t)(size / 34)) * 34 + 18), 1);
		break;
	case 3:         /* garbage appended */
	{
		size_t k = 1 + rand_r(rng) % 33;
		CHECK_EQ(pwrite(fd, junk, k, size), (ssize_t)k);
		break;
	}
	default:        /* replaced by garbage */
		CHECK_EQ(ftruncate(fd, 0), 0);
		junk[0] = 0xff;
		CHECK_EQ(pwrite(fd, junk, 1 + rand_r(rng) % sizeof junk, 0) > 0, 1);
		break;
	}
	close(fd);
}

TEST(damaged_txnindex_is_rebuilt)
{
	fx_mkdir();
	struct plog_config cfg = small_segments();
	struct model m;
	model_init(&m);
	unsigned rng = 2024;
	struct logdir *ld = fx_open_dir();
	CHECK_EQ(logdir_start_janitor(ld, 3600 * 1000), 0);
	struct plog *pl = fx_open_plog(ld, "t", &cfg);
	for (int i = 0; i < 900; i++)
		model_step(pl, &m, &rng);
	logdir_close(ld);
	for (int round = 0; round < 10; round++) {
		int64_t bases[256];
		int n = list_txnindex("t", bases, 256);
		CHECK(n >= 3);
		char path[600];
		fx_path(path, sizeof path, "t-0", bases[rand_r(&rng) % (unsigned)n], ".txnindex");
		damage(path, &rng);
		if (round % 5 == 4)
			remove_files("t", ".snapshot");
		ld = fx_open_dir();
		pl = fx_open_plog(ld, "t", &cfg);
		model_check(pl, &m, &rng);
		logdir_close(ld);
	}
	/* Every file is whole again. */
	int64_t bases[256];
	int n = list_txnindex("t", bases, 256);
	for (int i = 0; i < n; i++) {
		char path[600];
		struct stat st;
		fx_path(path, sizeof path, "t-0", bases[i], ".txnindex");
		CHECK_EQ(stat(path, &st), 0);
		CHECK(st.st_size > 0 && st.st_size % 34 == 0);
	}
	fx_done();
}

UNIT_MAIN()
