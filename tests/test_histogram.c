/* test_histogram.c -- the latency histogram against exact order statistics.
 *
 * The promise of histogram.h is a bound, so the tests measure it: generate
 * samples from a seeded rng (uniform, exponential, bimodal), sort a copy,
 * and require every percentile to lie within 1 % of the exact nearest-rank
 * order statistic. The seed is printed; RKV_SEED=<n> replays a run. Merge
 * must be indistinguishable from recording both sample sets (memcmp of the
 * structs), and the edges (empty, one sample, values past one hour) must
 * behave as documented.
 */
#include "histogram.h"
#include "ring/rng.h"

#include "tests/seed.h"

#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define SAMPLES 200000

static uint64_t test_seed;

/* Percentiles checked on every data set, in thousandths of a percent so
 * the oracle's rank is integer arithmetic, independent of the code under
 * test: rank = ceil(p_milli * n / 100000). */
static const uint64_t percentiles_milli[] = {
    0,     1000,  10000, 25000, 50000, 75000,  90000,
    95000, 99000, 99900, 99990, 99999, 100000,
};

/* Natural logarithm of x in (0, 1], to shape the exponential samples: the
 * unit tests link without libm. x = m * 2^-k with m in [1/2, 1), and
 * ln m = 2 atanh(z), z = (m - 1) / (m + 1), |z| <= 1/3, whose odd series
 * has converged far below a microsecond's worth after 30 terms. */
static double test_log(double x)
{
	int k = 0;
	while (x < 0.5) {
		x *= 2.0;
		k++;
	}
	double z = (x - 1.0) / (x + 1.0), z2 = z * z, term = z, sum = 0.0;
	for (int i = 1; i < 60; i += 2) {
		sum += term / i;
		term *= z2;
	}
	return 2.0 * sum - k * 0.69314718055994530942;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static uint64_t exact_percentile(const uint64_t *sorted, size_t n,
                                 uint64_t p_milli)
{
	uint64_t rank = (p_milli * n + 99999) / 100000;
	if (rank == 0)
		rank = 1;
	return sorted[rank - 1];
}

/* Record values, then compare every listed percentile with the sorted
 * truth. Sorts values in place. */
static void check_against_exact(const char *name, uint64_t *values, size_t n)
{
	struct histogram h;
	double worst = 0.0;

	histogram_init(&h);
	for (size_t i = 0; i < n; i++)
		histogram_record(&h, values[i]);
	qsort(values, n, sizeof(*values), cmp_u64);

	assert_int_equal(histogram_count(&h), n);
	assert_int_equal(histogram_min(&h), values[0]);
	assert_int_equal(histogram_max(&h), values[n - 1]);
	for (size_t i = 0; i < sizeof(percentiles_milli) / sizeof(uint64_t);
	     i++) {
		double p = (double)percentiles_milli[i] / 1000.0;
		uint64_t want =
		    exact_percentile(values, n, percentiles_milli[i]);
		uint64_t got = histogram_percentile(&h, p);
		double err = fabs((double)got - (double)want) /
		             (want ? (double)want : 1.0);
		if (err > worst)
			worst = err;
		if (err > 0.01)
			fail_msg("%s: p%g = %" PRIu64 ", exact %" PRIu64
			         " (error %.4f)",
			         name, p, got, want, err);
	}
	print_message("%s: worst relative error %.5f\n", name, worst);
}

static void test_uniform(void **state)
{
	(void)state;
	struct rng r;
	uint64_t *v = malloc(SAMPLES * sizeof(*v));
	assert_non_null(v);
	rng_init(&r, test_seed);
	for (size_t i = 0; i < SAMPLES; i++)
		v[i] = 1 + rng_below(&r, 1000000); /* 1 us .. 1 s */
	check_against_exact("uniform", v, SAMPLES);
	free(v);
}

static void test_exponential(void **state)
{
	(void)state;
	struct rng r;
	uint64_t *v = malloc(SAMPLES * sizeof(*v));
	assert_non_null(v);
	rng_init(&r, test_seed + 1);
	for (size_t i = 0; i < SAMPLES; i++) {
		/* mean 2 ms; 1 - u is in (0, 1], so the log is finite */
		double x = -2000.0 * test_log(1.0 - rng_double(&r));
		v[i] = (uint64_t)x;
	}
	check_against_exact("exponential", v, SAMPLES);
	free(v);
}

static void test_bimodal(void **state)
{
	(void)state;
	struct rng r;
	uint64_t *v = malloc(SAMPLES * sizeof(*v));
	assert_non_null(v);
	rng_init(&r, test_seed + 2);
	for (size_t i = 0; i < SAMPLES; i++) {
		/* 97 % fast reads near 150 us, 3 % slow ones near 40 ms: the
		 * shape of a cache in front of a disk, with the p99 in the
		 * second mode */
		if (rng_below(&r, 100) < 97)
			v[i] = 100 + rng_below(&r, 100);
		else
			v[i] = 30000 + rng_below(&r, 20000);
	}
	check_against_exact("bimodal", v, SAMPLES);
	free(v);
}

/* Every magnitude, one value at a time: with samples {1, v, max} the
 * median is v's own slot, so this checks the slot arithmetic on values
 * spread log-uniformly over the whole range. */
static void test_every_magnitude(void **state)
{
	(void)state;
	struct rng r;
	rng_init(&r, test_seed + 3);
	for (int i = 0; i < 20000; i++) {
		unsigned bits = 1 + (unsigned)rng_below(&r, 32);
		uint64_t v = rng_next(&r) >> (64 - bits);
		if (v == 0 || v >= HISTOGRAM_MAX_US)
			continue;
		struct histogram h;
		histogram_init(&h);
		histogram_record(&h, 0);
		histogram_record(&h, v);
		histogram_record(&h, HISTOGRAM_MAX_US);
		uint64_t got = histogram_percentile(&h, 50);
		double err = fabs((double)got - (double)v) / (double)v;
		if (err > 1.0 / 256)
			fail_msg("value %" PRIu64 " reported as %" PRIu64, v,
			         got);
		if (v < 256)
			assert_int_equal(got, v);
	}
}

static void test_empty(void **state)
{
	(void)state;
	struct histogram h;
	histogram_init(&h);
	assert_int_equal(histogram_count(&h), 0);
	assert_int_equal(histogram_min(&h), 0);
	assert_int_equal(histogram_max(&h), 0);
	assert_true(histogram_mean(&h) == 0.0);
	assert_int_equal(histogram_percentile(&h, 0), 0);
	assert_int_equal(histogram_percentile(&h, 50), 0);
	assert_int_equal(histogram_percentile(&h, 100), 0);
	assert_int_equal(histogram_clamped(&h), 0);
}

static void test_one_value(void **state)
{
	(void)state;
	struct histogram h;
	histogram_init(&h);
	histogram_record(&h, 123457);
	assert_int_equal(histogram_count(&h), 1);
	assert_int_equal(histogram_min(&h), 123457);
	assert_int_equal(histogram_max(&h), 123457);
	assert_true(histogram_mean(&h) == 123457.0);
	for (int p = 0; p <= 100; p += 5)
		assert_int_equal(histogram_percentile(&h, p), 123457);
	/* out-of-range and NaN percentiles are taken as the bounds */
	assert_int_equal(histogram_percentile(&h, -3), 123457);
	assert_int_equal(histogram_percentile(&h, 250), 123457);
	assert_int_equal(histogram_percentile(&h, NAN), 123457);
}

static void test_huge_values(void **state)
{
	(void)state;
	struct histogram h;
	histogram_init(&h);
	histogram_record(&h, 5);
	histogram_record(&h, HISTOGRAM_MAX_US);
	histogram_record(&h, HISTOGRAM_MAX_US + 1);
	histogram_record(&h, UINT64_MAX);
	assert_int_equal(histogram_count(&h), 4);
	assert_int_equal(histogram_clamped(&h), 2);
	assert_int_equal(histogram_min(&h), 5);
	assert_int_equal(histogram_max(&h), HISTOGRAM_MAX_US);
	assert_int_equal(histogram_percentile(&h, 0), 5);
	/* the median shares the top slot: approximate, from below */
	assert_in_range(histogram_percentile(&h, 50),
	                HISTOGRAM_MAX_US - HISTOGRAM_MAX_US / 256,
	                HISTOGRAM_MAX_US);
	assert_int_equal(histogram_percentile(&h, 100), HISTOGRAM_MAX_US);
	assert_true(histogram_mean(&h) ==
	            (5.0 + 3.0 * (double)HISTOGRAM_MAX_US) / 4.0);
}

static void test_reset(void **state)
{
	(void)state;
	struct histogram h, empty;
	histogram_init(&empty);
	histogram_init(&h);
	histogram_record(&h, 77);
	histogram_record(&h, UINT64_MAX);
	histogram_reset(&h);
	assert_memory_equal(&h, &empty, sizeof(h));
}

static void test_record_n(void **state)
{
	(void)state;
	struct histogram a, b;
	histogram_init(&a);
	histogram_init(&b);
	for (int i = 0; i < 1000; i++)
		histogram_record(&a, 4242);
	histogram_record_n(&b, 4242, 1000);
	histogram_record_n(&b, 17, 0);
	assert_memory_equal(&a, &b, sizeof(a));
}

/* Merging two histograms is the same as recording both sample sets into
 * one, including when either side is empty. */
static void test_merge(void **state)
{
	(void)state;
	struct rng r;
	static struct histogram both, x, y, merged, empty;

	rng_init(&r, test_seed + 4);
	histogram_init(&both);
	histogram_init(&x);
	histogram_init(&y);
	histogram_init(&empty);
	for (int i = 0; i < 50000; i++) {
		uint64_t v = rng_below(&r, 10000);
		histogram_record(&x, v);
		histogram_record(&both, v);
	}
	for (int i = 0; i < 30000; i++) {
		uint64_t v = 20000 + rng_below(&r, 5000000);
		histogram_record(&y, v);
		histogram_record(&both, v);
	}
	histogram_record(&y, UINT64_MAX);
	histogram_record(&both, UINT64_MAX);

	merged = x;
	histogram_merge(&merged, &y);
	assert_memory_equal(&merged, &both, sizeof(both));

	merged = y;
	histogram_merge(&merged, &x);
	assert_memory_equal(&merged, &both, sizeof(both));

	histogram_merge(&merged, &empty);
	assert_memory_equal(&merged, &both, sizeof(both));

	merged = empty;
	histogram_merge(&merged, &both);
	assert_memory_equal(&merged, &both, sizeof(both));
	assert_int_equal(histogram_clamped(&merged), 1);
}

/* A percentile never decreases as p grows. */
static void test_monotonic(void **state)
{
	(void)state;
	struct rng r;
	struct histogram h;
	histogram_init(&h);
	rng_init(&r, test_seed + 5);
	for (int i = 0; i < 10000; i++)
		histogram_record(&h, rng_next(&r) >> (32 + rng_below(&r, 32)));
	uint64_t last = 0;
	for (int i = 0; i <= 10000; i++) {
		uint64_t v = histogram_percentile(&h, i / 100.0);
		assert_true(v >= last);
		last = v;
	}
	assert_int_equal(last, histogram_max(&h));
}

int main(void)
{
	test_seed = test_seed_init("test_histogram");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_one_value),
	    cmocka_unit_test(test_huge_values),
	    cmocka_unit_test(test_reset),
	    cmocka_unit_test(test_record_n),
	    cmocka_unit_test(test_every_magnitude),
	    cmocka_unit_test(test_uniform),
	    cmocka_unit_test(test_exponential),
	    cmocka_unit_test(test_bimodal),
	    cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_monotonic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
