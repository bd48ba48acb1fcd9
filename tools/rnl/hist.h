/*
 * hist — a log-linear latency histogram in the manner of HdrHistogram:
 * fixed memory, constant-time record, bounded relative error.
 *
 * Values are microseconds in [0, HIST_MAX_US] (1 hour); larger values are
 * counted at HIST_MAX_US (and in `clamped`), negative ones at 0.
 *
 * Layout of counts[] (P = HIST_PRECISION_BITS, H = 2^(P-1)):
 *
 *   index 0 .. 2^P-1            one slot per value: exact below 2^P us
 *   then for each octave e = P .. HIST_TOP_BIT, H slots each
 *                               [2^e, 2^(e+1)) cut into H equal slices of
 *                               width 2^(e-P+1)
 *
 * Invariants:
 *   1. A slot's width is at most 1/H of its lowest value, so any value read
 *      back (hist_percentile reports the slot's highest value) is within
 *      1/H = 0.2% of a recorded one (with P = 10): three significant digits.
 *   2. count == sum of counts[]; min and max are the exact extremes
 *      recorded (after clamping), sum their exact total.
 *   3. hist_percentile() never reports more than max nor less than min, so
 *      p50 <= p90 <= p99 <= p99.9 <= max holds by construction.
 *
 * Memory: HIST_SLOTS * 8 bytes (96 KiB with P = 10); allocate with
 * hist_new() or embed and hist_init(). No locking: one thread records into
 * a histogram; merge per-thread histograms at the end with hist_merge().
 * Self-contained (libc only), so tests/unit/test_hist.c includes hist.c.
 */
#ifndef RNL_HIST_H
#define RNL_HIST_H

#include <stdint.h>

#define HIST_PRECISION_BITS 10
#define HIST_TOP_BIT 31                     /* 2^32 us > 1 hour */
#define HIST_MAX_US 3600000000LL            /* 1 hour, us */
#define HIST_LINEAR (1 << HIST_PRECISION_BITS)
#define HIST_HALF (1 << (HIST_PRECISION_BITS - 1))
#define HIST_SLOTS (HIST_LINEAR + (HIST_TOP_BIT - HIST_PRECISION_BITS + 1) * HIST_HALF)

typedef struct hist {
	uint64_t count;              /* values recorded */
	uint64_t clamped;            /* of which were above HIST_MAX_US (or below 0) */
	uint64_t sum;                /* sum of the (clamped) values, us */
	int64_t min;                 /* smallest value, us; 0 when empty */
	int64_t max;                 /* largest value, us; 0 when empty */
	uint64_t counts[HIST_SLOTS]; /* per slot; see the layout above */
} hist_t;

/* Empties caller-owned storage. */
void hist_init(hist_t *h);

/* A new empty histogram, or NULL when out of memory. Free with hist_free(). */
hist_t *hist_new(void);
void hist_free(hist_t *h);

/* Records one value (us), or n equal values. */
void hist_record(hist_t *h, int64_t us);
void hist_record_n(hist_t *h, int64_t us, uint64_t n);

/* Adds every value of src to dst. */
void hist_merge(hist_t *dst, const hist_t *src);

/* The value at percentile p (0..100): the smallest recorded slot whose
 * cumulative count reaches ceil(p% of count), reported as the slot's
 * highest value clamped to [min, max]. 0 for an empty histogram. */
int64_t hist_percentile(const hist_t *h, double p);

/* Exact min, max and count; mean (us) of the recorded values (0 if empty). */
int64_t hist_min(const hist_t *h);
int64_t hist_max(const hist_t *h);
uint64_t hist_count(const hist_t *h);
double hist_mean(const hist_t *h);

/* The slot of a value in [0, HIST_MAX_US], and the range of values a slot
 * holds (for tests). */
int hist_index(int64_t us);
int64_t hist_slot_low(int index);
int64_t hist_slot_high(int index);

#endif
