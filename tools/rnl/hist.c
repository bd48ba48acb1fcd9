/*
 * hist — log-linear latency histogram; see hist.h for the layout and the
 * invariants.
 */
#include "hist.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(HIST_MAX_US < (1LL << (HIST_TOP_BIT + 1)), "HIST_TOP_BIT too small");

void hist_init(hist_t *h)
{
	memset(h, 0, sizeof(*h));
}

hist_t *hist_new(void)
{
	return calloc(1, sizeof(hist_t));
}

void hist_free(hist_t *h)
{
	free(h);
}

int hist_index(int64_t us)
{
	int e, shift;

	if (us < HIST_LINEAR)
		return (int)us;
	e = 63 - __builtin_clzll((unsigned long long)us);
	shift = e - HIST_PRECISION_BITS + 1;
	return HIST_LINEAR + (e - HIST_PRECISION_BITS) * HIST_HALF +
	       (int)((us >> shift) - HIST_HALF);
}

int64_t hist_slot_low(int index)
{
	int k, group;

	if (index < HIST_LINEAR)
		return index;
	k = index - HIST_LINEAR;
	group = k / HIST_HALF;
	return (int64_t)(HIST_HALF + k % HIST_HALF) << (group + 1);
}

int64_t hist_slot_high(int index)
{
	if (index < HIST_LINEAR)
		return index;
	return hist_slot_low(index) + (1LL << ((index - HIST_LINEAR) / HIST_HALF + 1)) - 1;
}

void hist_record_n(hist_t *h, int64_t us, uint64_t n)
{
	if (n == 0)
		return;
	if (us < 0 || us > HIST_MAX_US) {
		us = us < 0 ? 0 : HIST_MAX_US;
		h->clamped += n;
	}
	if (h->count == 0 || us < h->min)
		h->min = us;
	if (h->count == 0 || us > h->max)
		h->max = us;
	h->counts[hist_index(us)] += n;
	h->count += n;
	h->sum += (uint64_t)us * n;
}

void hist_record(hist_t *h, int64_t us)
{
	hist_record_n(h, us, 1);
}

void hist_merge(hist_t *dst, const hist_t *src)
{
	if (src->count == 0)
		return;
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (dst->count == 0 || src->max > dst->max)
		dst->max = src->max;
	for (int i = 0; i < HIST_SLOTS; i++)
		dst->counts[i] += src->counts[i];
	dst->count += src->count;
	dst->clamped += src->clamped;
	dst->sum += src->sum;
}

int64_t hist_percentile(const hist_t *h, double p)
{
	uint64_t rank, seen = 0;
	double want;
	int64_t v;

	if (h->count == 0)
		return 0;
	if (p < 0)
		p = 0;
	if (p > 100)
		p = 100;
	/* rank = ceil(p% of count), at least 1; computed without libm. */
	want = p * (double)h->count / 100.0;
	rank = (uint64_t)want;
	if ((double)rank < want)
		rank++;
	if (rank == 0)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (int i = 0; i < HIST_SLOTS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			v = hist_slot_high(i);
			return v > h->max ? h->max : v < h->min ? h->min : v;
		}
	}
	return h->max; /* not reached while count == sum of counts[] */
}

int64_t hist_min(const hist_t *h)
{
	return h->min;
}

int64_t hist_max(const hist_t *h)
{
	return h->max;
}

uint64_t hist_count(const hist_t *h)
{
	return h->count;
}

double hist_mean(const hist_t *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
