/*
 * treg.c — see treg.h. A small open-addressing-free design: a growable
 * array of entries sorted by producer id (binary search), each with its
 * partitions sorted (binary search). Ongoing transactions are few (one per
 * active transactional producer), and a lookup happens only for the first
 * transactional batch of a transaction in a partition.
 */
#include "txn/treg.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"

struct treg_entry {
	int64_t pid;
	int16_t epoch;
	struct txn_tp *tps;     /* owned copies, sorted as tcoord keeps them */
	size_t n;
};

static pthread_mutex_t treg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct treg_entry *treg_v;   /* sorted by pid */
static size_t treg_n, treg_cap;

static void tps_free(struct txn_tp *tps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(tps[i].topic);
	free(tps);
}

static struct txn_tp *tps_copy(const struct txn_tp *tps, size_t n)
{
	struct txn_tp *c = calloc(n ? n : 1, sizeof(*c));
	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		c[i].partition = tps[i].partition;
		if (!(c[i].topic = strdup(tps[i].topic))) {
			tps_free(c, i);
			return NULL;
		}
	}
	return c;
}

/* Index of pid, or of where it would go (*found false). treg_mu. */
static size_t treg_find(int64_t pid, bool *found)
{
	size_t lo = 0, hi = treg_n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (treg_v[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < treg_n && treg_v[lo].pid == pid;
	return lo;
}

int treg_set(int64_t pid, int16_t epoch, const struct txn_tp *tps, size_t n)
{
	struct txn_tp *c = tps_copy(tps, n);
	if (!c)
		return -1;
	pthread_mutex_lock(&treg_mu);
	bool found;
	size_t i = treg_find(pid, &found);
	if (!found) {
		if (treg_n == treg_cap) {
			size_t cap = treg_cap ? treg_cap * 2 : 16;
			struct treg_entry *v = realloc(treg_v, cap * sizeof(*v));
			if (!v) {
				pthread_mutex_unlock(&treg_mu);
				tps_free(c, n);
				return -1;
			}
			treg_v = v;
			treg_cap = cap;
		}
		memmove(&treg_v[i + 1], &treg_v[i], (treg_n - i) * sizeof(*treg_v));
		treg_n++;
		treg_v[i] = (struct treg_entry){ pid, epoch, NULL, 0 };
	}
	tps_free(treg_v[i].tps, treg_v[i].n);
	treg_v[i].epoch = epoch;
	treg_v[i].tps = c;
	treg_v[i].n = n;
	pthread_mutex_unlock(&treg_mu);
	return 0;
}

void treg_end(int64_t pid)
{
	pthread_mutex_lock(&treg_mu);
	bool found;
	size_t i = treg_find(pid, &found);
	if (found) {
		tps_free(treg_v[i].tps, treg_v[i].n);
		memmove(&treg_v[i], &treg_v[i + 1], (treg_n - i - 1) * sizeof(*treg_v));
		treg_n--;
	}
	pthread_mutex_unlock(&treg_mu);
}

static int tp_cmp(const struct txn_tp *a, const char *topic, int32_t partition)
{
	int c = strcmp(a->topic, topic);
	return c ? c : (a->partition > partition) - (a->partition < partition);
}

static bool tps_has(const struct treg_entry *e, const char *topic, int32_t partition)
{
	size_t lo = 0, hi = e->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = tp_cmp(&e->tps[mid], topic, partition);
		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

int treg_verify(int64_t pid, int16_t epoch, const char *topic, int32_t partition)
{
	int rc = KAFKA_INVALID_TXN_STATE;
	pthread_mutex_lock(&treg_mu);
	bool found;
	size_t i = treg_find(pid, &found);
	if (found) {
		const struct treg_entry *e = &treg_v[i];
		if (e->epoch > epoch)
			rc = KAFKA_INVALID_PRODUCER_EPOCH;
		else if (e->epoch == epoch && tps_has(e, topic, partition))
			rc = KAFKA_NONE;
	}
	pthread_mutex_unlock(&treg_mu);
	return rc;
}

void treg_clear(void)
{
	pthread_mutex_lock(&treg_mu);
	for (size_t i = 0; i < treg_n; i++)
		tps_free(treg_v[i].tps, treg_v[i].n);
	free(treg_v);
	treg_v = NULL;
	treg_n = treg_cap = 0;
	pthread_mutex_unlock(&treg_mu);
}
