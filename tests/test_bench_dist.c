/* test_bench_dist.c -- the benchmark key choosers against their
 * distributions.
 *
 * Each chooser is a promise about frequencies, so each test draws a
 * million ids from a seeded rng and compares the counts with the exact
 * probabilities: zipfian ranks against k^-theta / zeta(n, theta) (zeta
 * summed exactly here, independently of the code under test) per rank for
 * the top 10 and by Pearson's chi-square over the top 16 ranks and
 * power-of-two rank bands beyond; hotspot's hot share; latest's preference
 * for the newest ids; uniform's flatness. Thresholds are set so that a
 * correct chooser fails with probability about 1e-6 (5 standard deviations
 * per count, the chi-square quantile at 1 - 1e-6), while Gray et al.'s
 * plain approximation (rank 3 drawn 19 % too often at theta = 0.99) fails
 * by a wide margin. The seed is printed; RKV_SEED=<n> replays a run.
 */
#include "bench_dist.h"
#include "status.h"

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

#define DRAWS     1000000
#define TOP_RANKS 16 /* ranks binned one by one; later ones by bands */
#define MAX_BINS  (TOP_RANKS + 64)

static uint64_t test_seed;

/* Upper 1e-6 quantile of chi-square with df degrees of freedom, by the
 * Wilson-Hilferty cube approximation (within 1 % for df >= 9). */
static double chi2_limit(int df)
{
	const double z = 4.7534; /* standard normal upper 1e-6 quantile */
	double v = 2.0 / (9.0 * df);
	double c = 1.0 - v + z * sqrt(v);
	return df * c * c * c;
}

static double chi2(const uint64_t *observed, const double *expected, int bins)
{
	double x = 0.0;
	for (int i = 0; i < bins; i++) {
		double d = (double)observed[i] - expected[i];
		x += d * d / expected[i];
	}
	return x;
}

/* The bin of 1-based rank k: ranks 1..TOP_RANKS alone, then the bands
 * (2^j, 2^(j+1)] for 2^j >= TOP_RANKS. */
static int rank_bin(uint64_t k)
{
	if (k <= TOP_RANKS)
		return (int)k - 1;
	int j = 63 - __builtin_clzll(k - 1); /* 2^j <= k - 1 < 2^(j+1) */
	return TOP_RANKS + j - 4;
}

/* Exact probabilities of every bin for ranks 1..n. Returns the bin count. */
static int zipf_expected(uint64_t n, double theta, double *p)
{
	double zeta = 0.0;
	int bins = rank_bin(n) + 1;
	memset(p, 0, sizeof(double) * MAX_BINS);
	/* summed from the smallest terms up, for accuracy */
	for (uint64_t k = n; k >= 1; k--) {
		double w = pow((double)k, -theta);
		zeta += w;
		p[rank_bin(k)] += w;
	}
	for (int i = 0; i < bins; i++)
		p[i] /= zeta;
	return bins;
}

/* Draw DRAWS ranks and compare them with k^-theta / zeta(n, theta). */
static void check_zipf_ranks(uint64_t n, double theta, uint64_t seed)
{
	struct bench_dist_zipf z;
	struct rng r;
	uint64_t counts[MAX_BINS] = {0};
	double p[MAX_BINS], expected[MAX_BINS], worst = 0.0;

	assert_int_equal(bench_dist_zipf_init(&z, n, theta), 0);
	rng_init(&r, seed);
	for (int i = 0; i < DRAWS; i++) {
		uint64_t rank = bench_dist_zipf_next(&z, &r);
		assert_true(rank < n);
		counts[rank_bin(rank + 1)]++;
	}
	int bins = zipf_expected(n, theta, p);
	for (int i = 0; i < bins; i++)
		expected[i] = p[i] * DRAWS;

	/* the top ten ranks one by one, within five standard deviations */
	for (int i = 0; i < 10 && (uint64_t)i < n; i++) {
		double e = expected[i], o = (double)counts[i];
		double rel = fabs(o - e) / e;
		if (rel > worst)
			worst = rel;
		if (fabs(o - e) > 5.0 * sqrt(e))
			fail_msg("n=%" PRIu64 " theta=%g rank %d: %.0f draws, "
			         "expected %.1f",
			         n, theta, i + 1, o, e);
	}
	double x = chi2(counts, expected, bins);
	print_message("zipf n=%" PRIu64 " theta=%g: top-10 max relative "
	              "error %.4f, chi2 %.1f (df %d, limit %.1f)\n",
	              n, theta, worst, x, bins - 1, chi2_limit(bins - 1));
	assert_true(x < chi2_limit(bins - 1));
}

static void test_zipf_099(void **state)
{
	(void)state;
	check_zipf_ranks(1000000, 0.99, test_seed);
}

static void test_zipf_05(void **state)
{
	(void)state;
	/* 1000 records: at theta 0.5 the top ranks of a million records
	 * are too rare to measure one by one; the bands still are */
	check_zipf_ranks(1000, 0.5, test_seed + 1);
	check_zipf_ranks(1000000, 0.5, test_seed + 2);
}

/* The table-only path (n within the exact head) and exponents at and past
 * 1, where the tail integral takes its logarithmic and decreasing forms. */
static void test_zipf_other_shapes(void **state)
{
	(void)state;
	check_zipf_ranks(40, 0.99, test_seed + 3);
	check_zipf_ranks(BENCH_DIST_ZIPF_HEAD + 1, 0.99, test_seed + 4);
	check_zipf_ranks(100000, 1.0, test_seed + 5);
	check_zipf_ranks(100000, 1.5, test_seed + 6);
	check_zipf_ranks(100000, 0.01, test_seed + 7);
}

/* Growing a generator is the same as creating it at the larger size. */
static void test_zipf_grow(void **state)
{
	(void)state;
	struct bench_dist_zipf grown, fresh;
	struct rng r1, r2;

	assert_int_equal(bench_dist_zipf_init(&grown, 10, 0.99), 0);
	bench_dist_zipf_grow(&grown, 5000);
	bench_dist_zipf_grow(&grown, 4000); /* shrinking is ignored */
	assert_int_equal(bench_dist_zipf_init(&fresh, 5000, 0.99), 0);
	assert_true(fabs(grown.total - fresh.total) <= 1e-12 * fresh.total);
	rng_init(&r1, test_seed);
	rng_init(&r2, test_seed);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(bench_dist_zipf_next(&grown, &r1),
		                 bench_dist_zipf_next(&fresh, &r2));
}

/* bench_dist_scramble is a bijection of 0..n-1, for every kind of n. */
static void test_scramble_is_permutation(void **state)
{
	(void)state;
	static const uint64_t sizes[] = {
	    1, 2, 3, 5, 64, 65, 1000, 4096, 4097, 65536, 99991, 262144, 300007};
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint64_t n = sizes[s];
		unsigned char *seen = calloc(n, 1);
		assert_non_null(seen);
		for (uint64_t k = 0; k < n; k++) {
			uint64_t id = bench_dist_scramble(k, n);
			assert_true(id < n);
			assert_int_equal(seen[id], 0);
			seen[id] = 1;
		}
		free(seen);
	}
}

/* Scrambled hot ranks land all over the id space: the top 10,000 ranks of
 * a million fall evenly into ten id ranges, and neighbouring ranks are not
 * neighbouring ids. Deterministic: the permutation is fixed. */
static void test_scramble_spreads(void **state)
{
	(void)state;
	const uint64_t n = 1000000, top = 10000;
	uint64_t deciles[10] = {0}, close = 0, prev = 0;
	double expected[10];

	for (uint64_t k = 0; k < top; k++) {
		uint64_t id = bench_dist_scramble(k, n);
		deciles[id / (n / 10)]++;
		if (k > 0 && (id > prev ? id - prev : prev - id) < n / 1000)
			close++;
		prev = id;
	}
	for (int i = 0; i < 10; i++)
		expected[i] = top / 10.0;
	assert_true(chi2(deciles, expected, 10) < chi2_limit(9));
	/* about 2 * top / 1000 = 20 expected by chance */
	assert_true(close < 60);
	assert_int_not_equal(bench_dist_scramble(0, n), 0);
}

/* The zipfian chooser puts rank 1's probability on scramble(0). */
static void test_zipfian_chooser(void **state)
{
	(void)state;
	const uint64_t n = 100000;
	struct bench_dist d;
	struct bench_dist_params p = {
	    .kind = BENCH_DIST_ZIPFIAN, .records = n, .zipf_theta = 0.99};
	struct rng r;
	double prob[MAX_BINS];
	uint64_t hot = bench_dist_scramble(0, n),
	         second = bench_dist_scramble(1, n);
	uint64_t hits = 0, hits2 = 0;

	assert_int_equal(bench_dist_init(&d, &p), 0);
	rng_init(&r, test_seed + 8);
	for (int i = 0; i < DRAWS; i++) {
		uint64_t id = bench_dist_next(&d, &r);
		assert_true(id < n);
		hits += id == hot;
		hits2 += id == second;
	}
	zipf_expected(n, 0.99, prob);
	double e = prob[0] * DRAWS, e2 = prob[1] * DRAWS;
	assert_true(fabs((double)hits - e) < 5.0 * sqrt(e));
	assert_true(fabs((double)hits2 - e2) < 5.0 * sqrt(e2));

	/* records inserted later do not move the zipfian hot keys */
	bench_dist_grow(&d, 2 * n);
	rng_init(&r, test_seed + 8);
	for (int i = 0; i < 1000; i++)
		assert_true(bench_dist_next(&d, &r) < n);
}

static void test_hotspot(void **state)
{
	(void)state;
	const uint64_t n = 100000;
	struct bench_dist d;
	struct bench_dist_params p = {.kind = BENCH_DIST_HOTSPOT,
	                              .records = n,
	                              .hot_fraction = 0.2,
	                              .hot_ops = 0.9};
	struct rng r;
	uint64_t hot = 0, bins_hot[20] = {0}, bins_cold[20] = {0};
	double e_hot[20], e_cold[20];

	assert_int_equal(bench_dist_init(&d, &p), 0);
	rng_init(&r, test_seed + 9);
	for (int i = 0; i < DRAWS; i++) {
		uint64_t id = bench_dist_next(&d, &r);
		assert_true(id < n);
		if (id < 20000) {
			hot++;
			bins_hot[id / 1000]++;
		} else {
			bins_cold[(id - 20000) / 4000]++;
		}
	}
	double share = (double)hot / DRAWS;
	double sd = sqrt(0.9 * 0.1 / DRAWS);
	print_message("hotspot: hot share %.4f (want 0.9 +- %.4f)\n", share,
	              5 * sd);
	assert_true(fabs(share - 0.9) < 5 * sd);
	/* uniform within each set */
	for (int i = 0; i < 20; i++) {
		e_hot[i] = (double)hot / 20;
		e_cold[i] = (double)(DRAWS - hot) / 20;
	}
	assert_true(chi2(bins_hot, e_hot, 20) < chi2_limit(19));
	assert_true(chi2(bins_cold, e_cold, 20) < chi2_limit(19));

	/* every id hot: the whole range, uniformly */
	p.hot_fraction = 1.0;
	p.hot_ops = 0.3;
	assert_int_equal(bench_dist_init(&d, &p), 0);
	uint64_t low = 0;
	for (int i = 0; i < 100000; i++)
		low += bench_dist_next(&d, &r) < n / 2;
	assert_true(fabs((double)low / 100000 - 0.5) < 5 * sqrt(0.25 / 100000));

	/* a hot set smaller than one id still holds one id */
	p.hot_fraction = 1e-9;
	p.hot_ops = 1.0;
	assert_int_equal(bench_dist_init(&d, &p), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(bench_dist_next(&d, &r), 0);
}

/* latest prefers the newest ids with zipfian weights, and follows inserts. */
static void test_latest(void **state)
{
	(void)state;
	const uint64_t n = 100000;
	struct bench_dist d;
	struct bench_dist_params p = {
	    .kind = BENCH_DIST_LATEST, .records = n, .zipf_theta = 0.99};
	struct rng r;
	double prob[MAX_BINS];
	uint64_t newest = 0, newest_1pct = 0, oldest_half = 0;

	assert_int_equal(bench_dist_init(&d, &p), 0);
	rng_init(&r, test_seed + 10);
	for (int i = 0; i < DRAWS; i++) {
		uint64_t id = bench_dist_next(&d, &r);
		assert_true(id < n);
		newest += id == n - 1;
		newest_1pct += id >= n - n / 100;
		oldest_half += id < n / 2;
	}
	zipf_expected(n, 0.99, prob);
	double e = prob[0] * DRAWS;
	assert_true(fabs((double)newest - e) < 5 * sqrt(e));
	/* the newest 1 % (1000 ids) weigh zeta(1000) / zeta(n) */
	double z1000 = 0, zn = 0;
	for (uint64_t k = n; k >= 1; k--) {
		double w = pow((double)k, -0.99);
		zn += w;
		if (k <= n / 100)
			z1000 += w;
	}
	double share = z1000 / zn;
	double sd = sqrt(share * (1 - share) / DRAWS);
	print_message("latest: newest 1%% of ids got %.4f of draws (want "
	              "%.4f), oldest half %.4f\n",
	              (double)newest_1pct / DRAWS, share,
	              (double)oldest_half / DRAWS);
	assert_true(fabs((double)newest_1pct / DRAWS - share) < 5 * sd);
	assert_true(oldest_half < newest_1pct);

	/* after 500 inserts the newest record is the favourite */
	bench_dist_grow(&d, n + 500);
	uint64_t fav = 0;
	for (int i = 0; i < 100000; i++) {
		uint64_t id = bench_dist_next(&d, &r);
		assert_true(id < n + 500);
		fav += id == n + 499;
	}
	double e2 = 100000 * prob[0];
	assert_true(fabs((double)fav - e2) < 5 * sqrt(e2) + 0.01 * e2);
}

static void test_uniform(void **state)
{
	(void)state;
	const uint64_t n = 1000;
	struct bench_dist d;
	struct bench_dist_params p = {.kind = BENCH_DIST_UNIFORM, .records = n};
	struct rng r;
	static uint64_t counts[1000];
	static double expected[1000];

	assert_int_equal(bench_dist_init(&d, &p), 0);
	rng_init(&r, test_seed + 11);
	for (int i = 0; i < DRAWS; i++) {
		uint64_t id = bench_dist_next(&d, &r);
		assert_true(id < n);
		counts[id]++;
	}
	for (uint64_t i = 0; i < n; i++)
		expected[i] = (double)DRAWS / (double)n;
	double x = chi2(counts, expected, (int)n);
	print_message("uniform: chi2 %.1f (df 999, limit %.1f)\n", x,
	              chi2_limit(999));
	assert_true(x < chi2_limit(999));

	/* inserts widen the range */
	bench_dist_grow(&d, 2 * n);
	uint64_t high = 0;
	for (int i = 0; i < 100000; i++)
		high += bench_dist_next(&d, &r) >= n;
	assert_true(fabs((double)high / 100000 - 0.5) <
	            5 * sqrt(0.25 / 100000));

	p.records = 1;
	assert_int_equal(bench_dist_init(&d, &p), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(bench_dist_next(&d, &r), 0);
}

/* The same seed gives the same ids. */
static void test_replay(void **state)
{
	(void)state;
	for (int kind = BENCH_DIST_UNIFORM; kind <= BENCH_DIST_LATEST; kind++) {
		struct bench_dist d;
		struct bench_dist_params p = {.kind = kind,
		                              .records = 12345,
		                              .zipf_theta = 0.9,
		                              .hot_fraction = 0.1,
		                              .hot_ops = 0.5};
		struct rng r1, r2;
		assert_int_equal(bench_dist_init(&d, &p), 0);
		rng_init(&r1, test_seed + 12);
		rng_init(&r2, test_seed + 12);
		for (int i = 0; i < 1000; i++)
			assert_int_equal(bench_dist_next(&d, &r1),
			                 bench_dist_next(&d, &r2));
	}
}

static void test_bad_params(void **state)
{
	(void)state;
	struct bench_dist d;
	struct bench_dist_zipf z;
	struct bench_dist_params ok = {.kind = BENCH_DIST_ZIPFIAN,
	                               .records = 100,
	                               .zipf_theta = 0.99,
	                               .hot_fraction = 0.2,
	                               .hot_ops = 0.8};
	struct bench_dist_params p;
	static const double bad_theta[] = {
	    0.0, -1.0, NAN, BENCH_DIST_THETA_MAX + 0.5, INFINITY};
	static const double bad_fraction[] = {0.0, -0.1, 1.5, NAN};
	static const double bad_ops[] = {-0.1, 1.01, NAN};

	assert_int_equal(bench_dist_init(&d, &ok), 0);
	p = ok;
	p.records = 0;
	assert_int_equal(bench_dist_init(&d, &p), RKV_EINVAL);
	p.records = BENCH_DIST_MAX_RECORDS + 1;
	assert_int_equal(bench_dist_init(&d, &p), RKV_EINVAL);
	for (size_t i = 0; i < sizeof(bad_theta) / sizeof(double); i++) {
		p = ok;
		p.zipf_theta = bad_theta[i];
		assert_int_equal(bench_dist_init(&d, &p), RKV_EINVAL);
		p.kind = BENCH_DIST_LATEST;
		assert_int_equal(bench_dist_init(&d, &p), RKV_EINVAL);
		assert_int_equal(bench_dist_zipf_init(&z, 10, bad_theta[i]),
		                 RKV_EINVAL);
	}
	for (size_t i = 0; i < sizeof(bad_fraction) / sizeof(double); i++) {
		p = ok;
		p.kind = BENCH_DIST_HOTSPOT;
		p.hot_fraction = bad_fraction[i];
		assert_int_equal(bench_dist_init(&d, &p), RKV_EINVAL);
	}
	for (size_t i = 0; i < sizeof(bad_ops) / sizeof(double); i++) {
		p = ok;
		p.kind = BENCH_DIST_HOTSPOT;
		p.hot_ops = bad_ops[i];
		assert_int_equal(bench_dist_init(&d, &p), RKV_EINVAL);
	}
	/* parameters the kind does not use are not checked */
	p = ok;
	p.kind = BENCH_DIST_UNIFORM;
	p.zipf_theta = -1;
	assert_int_equal(bench_dist_init(&d, &p), 0);
}

static void test_kind_names(void **state)
{
	(void)state;
	enum bench_dist_kind k = BENCH_DIST_UNIFORM;
	for (int i = BENCH_DIST_UNIFORM; i <= BENCH_DIST_LATEST; i++) {
		const char *name = bench_dist_kind_name(i);
		assert_int_equal(bench_dist_kind_parse(name, &k), 0);
		assert_int_equal(k, i);
	}
	assert_string_equal(bench_dist_kind_name(BENCH_DIST_HOTSPOT),
	                    "hotspot");
	assert_int_equal(bench_dist_kind_parse("Zipfian", &k), RKV_EINVAL);
	assert_int_equal(bench_dist_kind_parse("", &k), RKV_EINVAL);
	assert_int_equal(k, BENCH_DIST_LATEST);
	assert_string_equal(bench_dist_kind_name((enum bench_dist_kind)99),
	                    "?");
}

int main(void)
{
	test_seed = test_seed_init("test_bench_dist");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_zipf_099),
	    cmocka_unit_test(test_zipf_05),
	    cmocka_unit_test(test_zipf_other_shapes),
	    cmocka_unit_test(test_zipf_grow),
	    cmocka_unit_test(test_scramble_is_permutation),
	    cmocka_unit_test(test_scramble_spreads),
	    cmocka_unit_test(test_zipfian_chooser),
	    cmocka_unit_test(test_hotspot),
	    cmocka_unit_test(test_latest),
	    cmocka_unit_test(test_uniform),
	    cmocka_unit_test(test_replay),
	    cmocka_unit_test(test_bad_params),
	    cmocka_unit_test(test_kind_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
