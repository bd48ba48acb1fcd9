/*
 * par.c — par_for: the threads take the next index from a shared counter
 * under a mutex until the range is done or a call said stop.
 */
#include "util/par.h"

#include <pthread.h>

enum { PAR_MAX_THREADS = 32 };

struct par_job {
	par_fn fn;
	void *ctx;
	int32_t end;
	pthread_mutex_t mu;
	int32_t next;               /* next index to hand out; mu */
	bool stop;                  /* a call returned false; mu */
};

static void *par_worker(void *arg)
{
	struct par_job *j = arg;
	for (;;) {
		pthread_mutex_lock(&j->mu);
		int32_t i = !j->stop && j->next < j->end ? j->next++ : -1;
		pthread_mutex_unlock(&j->mu);
		if (i < 0)
			return NULL;
		if (!j->fn(j->ctx, i)) {
			pthread_mutex_lock(&j->mu);
			j->stop = true;
			pthread_mutex_unlock(&j->mu);
		}
	}
}

void par_for(int32_t from, int32_t end, int threads, par_fn fn, void *ctx)
{
	struct par_job j = { .fn = fn, .ctx = ctx, .end = end, .next = from };
	pthread_t th[PAR_MAX_THREADS];
	int n = 0;
	if (threads > PAR_MAX_THREADS)
		threads = PAR_MAX_THREADS;
	pthread_mutex_init(&j.mu, NULL);
	if (end - from >= PAR_MIN)
		while (n < threads - 1 && pthread_create(&th[n], NULL, par_worker, &j) == 0)
			n++;
	par_worker(&j);
	for (int k = 0; k < n; k++)
		pthread_join(th[k], NULL);
	pthread_mutex_destroy(&j.mu);
}
