// deps:
/*
 * test_hist.c — the latency histogram of `rnl bench` (tools/rnl/hist.c):
 * slot layout (exact below 2^P, bounded relative width above, monotone,
 * covers 0..1 h), percentiles against a sorted-array reference on random
 * data, ordering, merge == recording both, clamping, empty histograms.
 *
 * hist.c is libc-only and rnl's objects are not unit-test dependencies
 * (they link librdkafka and main()), so it is compiled into this test.
 */
#include "unit.h"

#include "../../tools/rnl/hist.c"

/* ---- helpers ---- */

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array: element ceil(p% * n) - 1. */
static int64_t ref_percentile(const int64_t *v, size_t n, double p)
{
	double want = p * (double)n / 100.0;
	size_t rank = (size_t)want;

	if ((double)rank < want)
		rank++;
	if (rank == 0)
		rank = 1;
	return v[rank - 1];
}

/* |got - want| within one slot width of want (relative 1/HIST_HALF). */
static int close_enough(int64_t got, int64_t want)
{
	int64_t tol = want / HIST_HALF + 1;

	return got >= want && got - want <= tol;
}

/* ---- layout ---- */

TEST(exact_below_linear_range)
{
	for (int64_t v = 0; v < HIST_LINEAR; v++) {
		CHECK_EQ(hist_index(v), v);
		CHECK_EQ(hist_slot_low((int)v), v);
		CHECK_EQ(hist_slot_high((int)v), v);
	}
}

TEST(slots_contain_their_values_and_are_narrow)
{
	int prev = -1;

	for (int64_t v = 0; v <= HIST_MAX_US; v += 1 + v / 3000) {
		int i = hist_index(v);

		CHECK(i >= 0 && i < HIST_SLOTS);
		CHECK(i >= prev);
		CHECK(hist_slot_low(i) <= v && v <= hist_slot_high(i));
		CHECK((hist_slot_high(i) - hist_slot_low(i) + 1) * HIST_HALF <= hist_slot_low(i) ||
		      hist_slot_low(i) == hist_slot_high(i));
		prev = i;
	}
	CHECK(hist_index(HIST_MAX_US) < HIST_SLOTS);
}

TEST(slots_tile_the_range)
{
	/* Every slot starts right after the previous one ends. */
	for (int i = 1; i <= hist_index(HIST_MAX_US); i++)
		CHECK_EQ(hist_slot_low(i), hist_slot_high(i - 1) + 1);
	/* Octave boundaries land on a slot's first value. */
	for (int e = HIST_PRECISION_BITS; e <= HIST_TOP_BIT; e++)
		CHECK_EQ(hist_slot_low(hist_index(1LL << e)), 1LL << e);
}

/* ---- percentiles ---- */

TEST(empty_histogram_reports_zero)
{
	hist_t *h = hist_new();

	CHECK(h);
	CHECK_EQ(hist_count(h), 0);
	CHECK_EQ(hist_percentile(h, 50), 0);
	CHECK_EQ(hist_percentile(h, 100), 0);
	CHECK_EQ(hist_max(h), 0);
	CHECK(hist_mean(h) == 0.0);
	hist_free(h);
}

TEST(single_value)
{
	hist_t *h = hist_new();

	hist_record(h, 123456);
	CHECK_EQ(hist_count(h), 1);
	CHECK_EQ(hist_min(h), 123456);
	CHECK_EQ(hist_max(h), 123456);
	/* Clamped to [min, max]: a single value reads back exactly. */
	CHECK_EQ(hist_percentile(h, 0), 123456);
	CHECK_EQ(hist_percentile(h, 50), 123456);
	CHECK_EQ(hist_percentile(h, 99.9), 123456);
	CHECK(hist_mean(h) == 123456.0);
	hist_free(h);
}

TEST(uniform_1_to_100000)
{
	hist_t *h = hist_new();

	for (int64_t v = 1; v <= 100000; v++)
		hist_record(h, v);
	CHECK_EQ(hist_count(h), 100000);
	CHECK(close_enough(hist_percentile(h, 50), 50000));
	CHECK(close_enough(hist_percentile(h, 90), 90000));
	CHECK(close_enough(hist_percentile(h, 99), 99000));
	CHECK(close_enough(hist_percentile(h, 99.9), 99900));
	CHECK_EQ(hist_percentile(h, 100), 100000);
	CHECK_EQ(hist_max(h), 100000);
	CHECK_EQ(hist_min(h), 1);
	CHECK(hist_mean(h) == 50000.5);
	hist_free(h);
}

TEST(random_data_matches_sorted_reference)
{
	static const double ps[] = { 0, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100 };
	enum { N = 200000 };
	int64_t *v = malloc(sizeof(*v) * N);
	hist_t *h = hist_new();

	CHECK(v && h);
	for (int round = 0; round < 3; round++) {
		hist_init(h);
		for (size_t i = 0; i < N; i++) {
			/* Log-uniform over 1 us .. ~17 min: every octave gets data. */
			int bits = (int)(rng() % 30);
			v[i] = (int64_t)(rng() % (1ULL << (bits + 1))) + round;
			hist_record(h, v[i]);
		}
		qsort(v, N, sizeof(*v), cmp_i64);
		for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
			int64_t want = ref_percentile(v, N, ps[k]);
			int64_t got = hist_percentile(h, ps[k]);

			if (!close_enough(got, want)) {
				fprintf(stderr, "p%g: got %lld want %lld\n", ps[k], (long long)got,
					(long long)want);
				CHECK(0);
			}
		}
		CHECK_EQ(hist_min(h), v[0]);
		CHECK_EQ(hist_max(h), v[N - 1]);
	}
	free(v);
	hist_free(h);
}

TEST(percentiles_are_ordered)
{
	hist_t *h = hist_new();

	for (int i = 0; i < 50000; i++)
		hist_record(h, (int64_t)(rng() % 5000000));
	hist_record(h, 3000000000LL);
	CHECK(hist_percentile(h, 50) <= hist_percentile(h, 90));
	CHECK(hist_percentile(h, 90) <= hist_percentile(h, 99));
	CHECK(hist_percentile(h, 99) <= hist_percentile(h, 99.9));
	CHECK(hist_percentile(h, 99.9) <= hist_max(h));
	CHECK_EQ(hist_percentile(h, 100), 3000000000LL);
	hist_free(h);
}

/* ---- merge, clamping ---- */

TEST(merge_equals_recording_both)
{
	hist_t *a = hist_new(), *b = hist_new(), *both = hist_new();

	for (int i = 0; i < 30000; i++) {
		int64_t x = (int64_t)(rng() % 100000), y = (int64_t)(rng() % 10000000);

		hist_record(a, x);
		hist_record(b, y);
		hist_record(both, x);
		hist_record(both, y);
	}
	hist_merge(a, b);
	CHECK(memcmp(a, both, sizeof(*a)) == 0);
	/* Merging an empty one changes nothing; into an empty one copies. */
	hist_init(b);
	hist_merge(a, b);
	CHECK(memcmp(a, both, sizeof(*a)) == 0);
	hist_merge(b, both);
	CHECK(memcmp(b, both, sizeof(*b)) == 0);
	hist_free(a);
	hist_free(b);
	hist_free(both);
}

TEST(out_of_range_values_are_clamped)
{
	hist_t *h = hist_new();

	hist_record(h, -5);
	hist_record(h, HIST_MAX_US + 1);
	hist_record(h, INT64_MAX);
	hist_record_n(h, 7, 3);
	CHECK_EQ(hist_count(h), 6);
	CHECK_EQ(hist_min(h), 0);
	CHECK_EQ(hist_max(h), HIST_MAX_US);
	CHECK_EQ(h->clamped, 3);
	CHECK_EQ(hist_percentile(h, 100), HIST_MAX_US);
	CHECK_EQ(hist_percentile(h, 50), 7);
	hist_record_n(h, 9, 0);
	CHECK_EQ(hist_count(h), 6);
	hist_free(h);
}

UNIT_MAIN()
