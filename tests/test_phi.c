/* test_phi.c -- the phi-accrual failure detector (gossip/phi.h).
 *
 * What is checked, in the detector's own terms:
 *
 *   - with regular heartbeats phi stays far below the threshold;
 *   - once they stop, phi crosses the threshold after threshold * ln(10)
 *     mean intervals, so the time to suspicion scales with the observed
 *     interval (twice the interval, twice the time);
 *   - the exponential model keeps only the mean: jitter around the same
 *     mean leaves the time to suspicion unchanged (a normal-distribution
 *     detector would wait longer for a jittery member; phi.h explains why
 *     we do not use one), while a jittery member with a longer mean is
 *     given proportionally longer;
 *   - bootstrap: a member heard once is not suspected for 2 * ln(10) *
 *     threshold gossip intervals; clipping: a long gap is not learnt;
 *   - the window is bounded and follows a changed rhythm.
 *
 * Jittered intervals come from a struct rng seeded by one number, printed
 * at the start; RKV_SEED=<number> replays a run exactly.
 */
#include "gossip/phi.h"
#include "ring/rng.h"

#include "tests/seed.h"

#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define THRESHOLD 8.0
#define LN10      2.30258509299404568402

static uint64_t test_seed;

static void seeded(struct rng *r, uint64_t salt)
{
	rng_init(r, test_seed ^ (salt * UINT64_C(0x9e3779b97f4a7c15)));
}

/* Cassandra's defaults for a 1 s gossip interval. */
static struct phi_params params_1s(void)
{
	struct phi_params p;
	phi_params_default(&p, 1000);
	return p;
}

/* crossing_ms -- the first whole millisecond after the last arrival at
 * which phi reaches THRESHOLD, found by bisection over phi_value (which
 * is monotone in time). */
static uint64_t crossing_ms(const struct phi_detector *d,
                            const struct phi_params *p)
{
	uint64_t lo = 0, hi = 1;
	while (phi_value(d, p, d->last_ms + hi) < THRESHOLD)
		hi *= 2;
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		if (phi_value(d, p, d->last_ms + mid) < THRESHOLD)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

/* beat_regular -- n heartbeats interval_ms apart, starting at *now; returns
 * the largest phi seen just before each beat (the worst moment). */
static double beat_regular(struct phi_detector *d, const struct phi_params *p,
                           uint64_t *now, unsigned n, uint32_t interval_ms)
{
	double worst = 0.0;
	for (unsigned i = 0; i < n; i++) {
		if (d->heard) {
			double phi = phi_value(d, p, *now - 1);
			if (phi > worst)
				worst = phi;
		}
		phi_heartbeat(d, p, *now);
		*now += interval_ms;
	}
	return worst;
}

static void test_params(void **state)
{
	(void)state;
	struct phi_params p = params_1s();
	assert_int_equal(p.window, 1000);
	assert_int_equal(p.bootstrap_ms, 2000);
	assert_int_equal(p.max_interval_ms, 2000);
	assert_true(phi_params_valid(&p));
	phi_params_default(&p, 0);
	assert_int_equal(p.bootstrap_ms, 1);
	phi_params_default(&p, UINT32_MAX);
	assert_int_equal(p.bootstrap_ms, PHI_MAX_MS);
	assert_true(phi_params_valid(&p));
	p.window = 0;
	assert_false(phi_params_valid(&p));
	p.window = PHI_MAX_WINDOW + 1;
	assert_false(phi_params_valid(&p));
	p = params_1s();
	p.max_interval_ms = 0;
	assert_false(phi_params_valid(&p));
	assert_false(phi_params_valid(NULL));
}

static void test_never_heard(void **state)
{
	(void)state;
	struct phi_params p = params_1s();
	struct phi_detector d;
	phi_init(&d);
	assert_true(isinf(phi_value(&d, &p, 12345)));
	assert_int_equal(phi_suspect_after_ms(&d, &p, THRESHOLD), 0);
	assert_true(phi_mean_ms(&d, &p) == 2000.0);
	phi_deinit(&d);
	phi_deinit(&d); /* twice is fine */
}

/* A member heard once: the bootstrap interval (2 s) stands in for the
 * unknown rhythm, so it is suspected only after 8 * ln(10) * 2 s. */
static void test_bootstrap(void **state)
{
	(void)state;
	struct phi_params p = params_1s();
	struct phi_detector d;
	phi_init(&d);
	phi_heartbeat(&d, &p, 5000);
	assert_true(d.heard);
	assert_int_equal(d.count, 1);
	assert_true(phi_value(&d, &p, 5000) == 0.0);
	assert_true(phi_value(&d, &p, 4000) == 0.0); /* before the arrival */
	assert_true(phi_value(&d, &p, 6000) < 0.25);
	uint64_t want = (uint64_t)ceil(THRESHOLD * LN10 * 2000.0);
	assert_int_equal(phi_suspect_after_ms(&d, &p, THRESHOLD), want);
	assert_int_equal(crossing_ms(&d, &p), want);
	assert_true(want > 36000 && want < 37000);
	phi_deinit(&d);
}

static void test_regular_stays_low(void **state)
{
	(void)state;
	struct phi_params p = params_1s();
	struct phi_detector d;
	phi_init(&d);
	uint64_t now = 1000;
	double worst = beat_regular(&d, &p, &now, 500, 1000);
	/* Just before each beat phi is log10(e) * 1000 / mean ~ 0.43. */
	assert_true(worst < 0.5);
	assert_true(worst < THRESHOLD / 10);
	phi_deinit(&d);
}

/* Heartbeats every I ms, then silence: suspicion after ~18.4 * I. */
static void test_suspicion_scales(void **state)
{
	(void)state;
	struct phi_params p = params_1s();
	uint64_t cross[3];
	const uint32_t interval[3] = {500, 1000, 2000};
	for (int k = 0; k < 3; k++) {
		struct phi_detector d;
		phi_init(&d);
		uint64_t now = 1;
		beat_regular(&d, &p, &now, 1200, interval[k]);
		cross[k] = crossing_ms(&d, &p);
		double mean = phi_mean_ms(&d, &p);
		assert_true(fabs(mean - interval[k]) <
		            1e-9); /* bootstrap gone */
		assert_int_equal(cross[k],
		                 phi_suspect_after_ms(&d, &p, THRESHOLD));
		double want = THRESHOLD * LN10 * interval[k];
		assert_true(fabs((double)cross[k] - want) <= 1.0);
		print_message("interval %4" PRIu32 " ms: suspected %6" PRIu64
		              " ms after the last heartbeat (%.2f intervals)\n",
		              interval[k], cross[k],
		              (double)cross[k] / interval[k]);
		phi_deinit(&d);
	}
	double r1 = (double)cross[1] / (double)cross[0];
	double r2 = (double)cross[2] / (double)cross[1];
	assert_true(r1 > 1.99 && r1 < 2.01);
	assert_true(r2 > 1.99 && r2 < 2.01);
}

/* beat_jittered -- n heartbeats with intervals uniform in
 * [mean - spread, mean + spread]. */
static void beat_jittered(struct phi_detector *d, const struct phi_params *p,
                          struct rng *g, unsigned n, uint32_t mean,
                          uint32_t spread)
{
	uint64_t now = 1;
	for (unsigned i = 0; i < n; i++) {
		phi_heartbeat(d, p, now);
		now += mean - spread + rng_below(g, 2 * (uint64_t)spread + 1);
	}
}

/* The exponential model sees only the mean: jitter around the same mean
 * leaves the time to suspicion where regular beats put it. What holds for
 * any rhythm is crossing = threshold * ln(10) * observed mean. */
static void test_jitter(void **state)
{
	(void)state;
	struct phi_params p = params_1s();
	struct rng g;
	seeded(&g, 1);
	struct phi_detector reg, jit, wide;
	phi_init(&reg);
	phi_init(&jit);
	phi_init(&wide);
	uint64_t now = 1;
	beat_regular(&reg, &p, &now, 1001, 1000);
	beat_jittered(&jit, &p, &g, 1001, 1000, 500);
	beat_jittered(&wide, &p, &g, 1001, 1500, 500);
	uint64_t t_reg = crossing_ms(&reg, &p);
	uint64_t t_jit = crossing_ms(&jit, &p);
	uint64_t t_wide = crossing_ms(&wide, &p);
	print_message("regular 1000 ms: %" PRIu64 " ms; jittered 1000+-500 ms: "
	              "%" PRIu64 " ms; jittered 1500+-500 ms: %" PRIu64 " ms\n",
	              t_reg, t_jit, t_wide);
	/* Same mean, up to sampling noise: the mean of 1000 uniform draws
	 * on [500, 1500] has a standard deviation of 0.9%, so 5% is over 5
	 * sigma. */
	assert_true(fabs((double)t_jit / (double)t_reg - 1.0) < 0.05);
	/* A slower rhythm, jitter or not, gets proportionally longer. */
	assert_true(fabs((double)t_wide / (double)t_reg - 1.5) < 0.05);
	/* And the crossing is exactly the formula over the observed mean. */
	struct phi_detector *all[3] = {&reg, &jit, &wide};
	for (int k = 0; k < 3; k++) {
		double want = THRESHOLD * LN10 * phi_mean_ms(all[k], &p);
		assert_true(fabs((double)crossing_ms(all[k], &p) - want) <=
		            1.0);
	}
	phi_deinit(&reg);
	phi_deinit(&jit);
	phi_deinit(&wide);
}

/* A partition of 10 s is not learnt as a normal interval: afterwards the
 * member is suspected as quickly as before. */
static void test_clipping(void **state)
{
	(void)state;
	struct phi_params p = params_1s();
	struct phi_detector d;
	phi_init(&d);
	uint64_t now = 1;
	beat_regular(&d, &p, &now, 100, 1000);
	uint32_t count = d.count;
	uint64_t sum = d.sum;
	now += 10000;
	phi_heartbeat(&d, &p, now);
	assert_int_equal(d.count, count);
	assert_int_equal(d.sum, sum);
	assert_int_equal(d.last_ms, now);
	/* An interval of exactly max_interval_ms is still recorded. */
	phi_heartbeat(&d, &p, now + p.max_interval_ms);
	assert_int_equal(d.count, count + 1);
	phi_deinit(&d);
}

static void test_same_ms_and_past(void **state)
{
	(void)state;
	struct phi_params p = params_1s();
	struct phi_detector d;
	phi_init(&d);
	phi_heartbeat(&d, &p, 1000);
	phi_heartbeat(&d, &p, 2000);
	assert_int_equal(d.count, 2);
	phi_heartbeat(&d, &p, 2000); /* same millisecond: one arrival */
	phi_heartbeat(&d, &p, 1500); /* from the past: ignored */
	assert_int_equal(d.count, 2);
	assert_int_equal(d.last_ms, 2000);
	assert_true(phi_mean_ms(&d, &p) == 1500.0);
	phi_deinit(&d);
}

/* The window keeps the last `window` samples and follows a new rhythm;
 * the buffer grows with the samples and never beyond the window. */
static void test_window(void **state)
{
	(void)state;
	struct phi_params p = params_1s();
	struct phi_detector d;
	phi_init(&d);
	uint64_t now = 1;
	beat_regular(&d, &p, &now, 10, 1000);
	assert_int_equal(d.count, 10);
	assert_true(d.cap == 16);
	beat_regular(&d, &p, &now, 5000, 1000);
	assert_int_equal(d.count, p.window);
	assert_int_equal(d.cap, p.window);
	assert_true(phi_mean_ms(&d, &p) == 1000.0);
	beat_regular(&d, &p, &now, 1000, 500);
	/* The first of these beats closed a 1000 ms interval; the next 999
	 * were 500 ms, so one 1000 remains in the window. */
	assert_true(fabs(phi_mean_ms(&d, &p) - (999 * 500.0 + 1000) / 1000) <
	            1e-9);
	beat_regular(&d, &p, &now, 1, 500);
	assert_true(phi_mean_ms(&d, &p) == 500.0);

	/* A smaller window later: the oldest samples go first. */
	struct phi_params small = p;
	small.window = 4;
	phi_heartbeat(&d, &small, d.last_ms + 100);
	assert_int_equal(d.count, 4);
	assert_true(fabs(phi_mean_ms(&d, &small) - (3 * 500.0 + 100) / 4) <
	            1e-9);
	/* And a larger one again: the buffer is still linear oldest first. */
	phi_heartbeat(&d, &p, d.last_ms + 200);
	assert_int_equal(d.count, 5);
	assert_true(d.sum == 3 * 500 + 100 + 200);
	phi_deinit(&d);
}

static void test_window_of_one(void **state)
{
	(void)state;
	struct phi_params p = params_1s();
	p.window = 1;
	struct phi_detector d;
	phi_init(&d);
	uint64_t now = 1;
	beat_regular(&d, &p, &now, 3, 700);
	assert_int_equal(d.count, 1);
	assert_int_equal(d.cap, 1);
	assert_true(phi_mean_ms(&d, &p) == 700.0);
	phi_deinit(&d);
}

/* A restart forgets the old rhythm: the next arrival is a bootstrap. */
static void test_reset(void **state)
{
	(void)state;
	struct phi_params p = params_1s();
	struct phi_detector d;
	phi_init(&d);
	uint64_t now = 1;
	beat_regular(&d, &p, &now, 50, 300);
	phi_reset(&d);
	assert_false(d.heard);
	assert_int_equal(d.count, 0);
	assert_true(isinf(phi_value(&d, &p, now)));
	phi_heartbeat(&d, &p, now);
	assert_int_equal(d.count, 1);
	assert_true(phi_mean_ms(&d, &p) == 2000.0);
	phi_deinit(&d);
}

/* phi grows linearly with the silence: monotone, proportional. */
static void test_monotone(void **state)
{
	(void)state;
	struct phi_params p = params_1s();
	struct phi_detector d;
	phi_init(&d);
	uint64_t now = 1;
	beat_regular(&d, &p, &now, 20, 1000);
	double prev = -1.0;
	for (uint64_t t = 0; t < 60000; t += 250) {
		double phi = phi_value(&d, &p, d.last_ms + t);
		assert_true(phi >= prev);
		prev = phi;
	}
	double a = phi_value(&d, &p, d.last_ms + 1000);
	double b = phi_value(&d, &p, d.last_ms + 3000);
	assert_true(fabs(b / a - 3.0) < 1e-9);
	phi_deinit(&d);
}

int main(void)
{
	test_seed = test_seed_init("test_phi");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_params),
	    cmocka_unit_test(test_never_heard),
	    cmocka_unit_test(test_bootstrap),
	    cmocka_unit_test(test_regular_stays_low),
	    cmocka_unit_test(test_suspicion_scales),
	    cmocka_unit_test(test_jitter),
	    cmocka_unit_test(test_clipping),
	    cmocka_unit_test(test_same_ms_and_past),
	    cmocka_unit_test(test_window),
	    cmocka_unit_test(test_window_of_one),
	    cmocka_unit_test(test_reset),
	    cmocka_unit_test(test_monotone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
