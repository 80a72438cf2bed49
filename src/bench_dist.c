/* bench_dist.c -- see bench_dist.h for the choosers and their contract.
 *
 * Drawing a zipfian rank. Inverting the cumulative distribution by
 * searching a table of n partial sums would cost 8n bytes and an O(n)
 * set-up. Gray et al. ("Quickly Generating Billion-Record Synthetic
 * Databases", SIGMOD 1994), whose method YCSB's ZipfianGenerator uses,
 * invert a closed form instead: ranks 1 and 2 are drawn with their exact
 * probabilities and the rest of the uniform draw u goes through
 * n * (eta * u - eta + 1)^(1 / (1 - theta)), a power-law approximation of
 * the distribution function. The approximation is coarse where it matters
 * most: at theta = 0.99 it draws rank 3 19 % too often and rank 10 4 % too
 * often (9.5 % and 2 % at theta = 0.5), and the hottest keys are exactly
 * what a skewed benchmark is about.
 *
 * This file keeps the method's shape -- exact head, closed-form inverse of
 * an integral for the tail, O(1) per draw, no n-sized table -- and makes it
 * accurate:
 *
 *  - the exact head is H = BENCH_DIST_ZIPF_HEAD ranks instead of two: their
 *    partial sums are a small table, searched by bisection;
 *  - in the tail, rank k's weight k^-theta is replaced by the integral of
 *    x^-theta over [k - 1/2, k + 1/2] (the midpoint rule), which differs
 *    from it by a relative theta (theta + 1) / (24 k^2) -- 2e-5 at k = 65
 *    for theta <= 1. With a = H + 1/2 and s = 1 - theta the integral
 *
 *        G(x) = integral from a to x of w^-theta dw
 *             = a^s * (exp(s * ln(x / a)) - 1) / s
 *
 *    inverts in closed form, x = a * exp(log1p(s * t / a^s) / s), and the
 *    rank is the k whose interval holds x. expm1 and log1p keep theta near
 *    1 accurate, and theta = 1 (s = 0, G = ln(x / a)) needs no special
 *    formula beyond the limit.
 *
 * The total weight uses the same integral for the tail, so no O(n) zeta
 * sum is needed and growing n (the latest chooser) is O(1).
 *
 * Scrambling. YCSB's ScrambledZipfianGenerator hashes the rank (FNV) and
 * takes it modulo n. A hash modulo n is not a permutation: about 1/e of
 * the ids are never chosen and others get the weight of two ranks, so a hot
 * key may be two ranks merged. bench_dist_scramble spreads ranks as well
 * but is a bijection: a 4-round Feistel network whose round function is
 * XXH3 (a Feistel network of pseudo-random functions is a pseudo-random
 * permutation: Luby and Rackoff, 1988), over the smallest even number of
 * bits covering n, with cycle walking -- re-applying the permutation until
 * the result is below n, which stays a bijection of 0..n-1 (Black and
 * Rogaway, "Ciphers with Arbitrary Finite Domains", 2002). That domain is
 * below 4n, so fewer than 4 rounds of walking are expected.
 */
#include "bench_dist.h"

#include "status.h"

#include <math.h>
#include <string.h>
#include <xxhash.h>

/* Pinned: changing it moves every hot key of the zipfian chooser. */
#define BENCH_DIST_SCRAMBLE_SEED  UINT64_C(0x62656e6368) /* "bench" */
#define BENCH_DIST_FEISTEL_ROUNDS 4

static const char *const bench_dist_names[] = {
#define BENCH_DIST_NAME(value, name) name,
    BENCH_DIST_TABLE(BENCH_DIST_NAME)
#undef BENCH_DIST_NAME
};
#define BENCH_DIST_KINDS (sizeof(bench_dist_names) / sizeof(char *))

/* --- zipfian ranks --------------------------------------------------- */

#define ZIPF_TAIL_START (BENCH_DIST_ZIPF_HEAD + 0.5) /* a, above */

/* (exp(s * l) - 1) / s, and its limit l at s = 0. */
static double zipf_expm1_over(double s, double l)
{
	return s == 0.0 ? l : expm1(s * l) / s;
}

/* G(x): the tail weight between ZIPF_TAIL_START and x. */
static double zipf_tail_weight(const struct bench_dist_zipf *z, double x)
{
	double s = 1.0 - z->theta;
	return z->tail_scale * zipf_expm1_over(s, log(x / ZIPF_TAIL_START));
}

/* G^-1(t): the point x where the tail weight from ZIPF_TAIL_START reaches
 * t (0 <= t < G(n + 1/2), so the log1p argument stays above -1). */
static double zipf_tail_point(const struct bench_dist_zipf *z, double t)
{
	double s = 1.0 - z->theta;
	double l = s == 0.0 ? t : log1p(s * t / z->tail_scale) / s;
	return ZIPF_TAIL_START * exp(l);
}

static void zipf_set_total(struct bench_dist_zipf *z)
{
	uint64_t head =
	    z->n < BENCH_DIST_ZIPF_HEAD ? z->n : BENCH_DIST_ZIPF_HEAD;
	z->total = z->head[head - 1];
	if (z->n > BENCH_DIST_ZIPF_HEAD)
		z->total += zipf_tail_weight(z, (double)z->n + 0.5);
}

int bench_dist_zipf_init(struct bench_dist_zipf *z, uint64_t n, double theta)
{
	if (n == 0 || n > BENCH_DIST_MAX_RECORDS)
		return RKV_EINVAL;
	/* the negated test also refuses NaN */
	if (!(theta > 0.0 && theta <= BENCH_DIST_THETA_MAX))
		return RKV_EINVAL;
	z->n = n;
	z->theta = theta;
	z->tail_scale = pow(ZIPF_TAIL_START, 1.0 - theta);
	double sum = 0.0;
	for (int i = 0; i < BENCH_DIST_ZIPF_HEAD; i++) {
		sum += pow((double)(i + 1), -theta);
		z->head[i] = sum;
	}
	zipf_set_total(z);
	return 0;
}

void bench_dist_zipf_grow(struct bench_dist_zipf *z, uint64_t n)
{
	if (n <= z->n || n > BENCH_DIST_MAX_RECORDS)
		return;
	z->n = n;
	zipf_set_total(z);
}

uint64_t bench_dist_zipf_next(const struct bench_dist_zipf *z, struct rng *r)
{
	double y = rng_double(r) * z->total;
	uint64_t head =
	    z->n < BENCH_DIST_ZIPF_HEAD ? z->n : BENCH_DIST_ZIPF_HEAD;

	if (y < z->head[head - 1]) {
		/* the first rank whose partial sum exceeds y */
		uint64_t lo = 0, hi = head - 1;
		while (lo < hi) {
			uint64_t mid = (lo + hi) / 2;
			if (z->head[mid] > y)
				hi = mid;
			else
				lo = mid + 1;
		}
		return lo;
	}
	/* x lies in [k - 1/2, k + 1/2) for the 1-based rank k, so the
	 * 0-based rank is floor(x - 1/2); rounding at either end of the
	 * tail is clamped back into it. */
	double x = zipf_tail_point(z, y - z->head[head - 1]);
	double k = floor(x - 0.5);
	if (!(k >= (double)BENCH_DIST_ZIPF_HEAD))
		return BENCH_DIST_ZIPF_HEAD;
	if (k >= (double)(z->n - 1))
		return z->n - 1;
	return (uint64_t)k;
}

/* --- scrambling ------------------------------------------------------- */

static uint64_t scramble_round(uint64_t half, unsigned round, uint64_t mask)
{
	unsigned char le[8];
	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(half >> (8 * i));
	return XXH3_64bits_withSeed(le, sizeof(le),
	                            BENCH_DIST_SCRAMBLE_SEED + round) &
	       mask;
}

uint64_t bench_dist_scramble(uint64_t rank, uint64_t n)
{
	if (n <= 1)
		return 0;
	unsigned bits = 64u - (unsigned)__builtin_clzll(n - 1);
	unsigned half_bits = (bits + 1) / 2;
	uint64_t mask = (UINT64_C(1) << half_bits) - 1;
	uint64_t x = rank;

	do {
		uint64_t left = x >> half_bits, right = x & mask;
		for (unsigned round = 0; round < BENCH_DIST_FEISTEL_ROUNDS;
		     round++) {
			uint64_t next =
			    left ^ scramble_round(right, round, mask);
			left = right;
			right = next;
		}
		x = (left << half_bits) | right;
	} while (x >= n);
	return x;
}

/* --- choosers --------------------------------------------------------- */

static void hotspot_size(struct bench_dist *d)
{
	double hot = d->hot_fraction * (double)d->n;
	d->hot_n = hot < 1.0 ? 1 : (uint64_t)hot;
	if (d->hot_n > d->n)
		d->hot_n = d->n;
}

int bench_dist_init(struct bench_dist *d, const struct bench_dist_params *p)
{
	memset(d, 0, sizeof(*d));
	if (p->records == 0 || p->records > BENCH_DIST_MAX_RECORDS)
		return RKV_EINVAL;
	d->kind = p->kind;
	d->n = p->records;
	switch (p->kind) {
	case BENCH_DIST_UNIFORM: return 0;
	case BENCH_DIST_ZIPFIAN:
		d->zipf_n = p->records;
		return bench_dist_zipf_init(&d->zipf, p->records,
		                            p->zipf_theta);
	case BENCH_DIST_LATEST:
		return bench_dist_zipf_init(&d->zipf, p->records,
		                            p->zipf_theta);
	case BENCH_DIST_HOTSPOT:
		if (!(p->hot_fraction > 0.0 && p->hot_fraction <= 1.0))
			return RKV_EINVAL;
		if (!(p->hot_ops >= 0.0 && p->hot_ops <= 1.0))
			return RKV_EINVAL;
		d->hot_fraction = p->hot_fraction;
		d->hot_ops = p->hot_ops;
		hotspot_size(d);
		return 0;
	}
	return RKV_EINVAL;
}

void bench_dist_grow(struct bench_dist *d, uint64_t n)
{
	if (n <= d->n || n > BENCH_DIST_MAX_RECORDS)
		return;
	d->n = n;
	if (d->kind == BENCH_DIST_LATEST)
		bench_dist_zipf_grow(&d->zipf, n);
	else if (d->kind == BENCH_DIST_HOTSPOT)
		hotspot_size(d);
}

uint64_t bench_dist_next(const struct bench_dist *d, struct rng *r)
{
	switch (d->kind) {
	case BENCH_DIST_ZIPFIAN:
		return bench_dist_scramble(bench_dist_zipf_next(&d->zipf, r),
		                           d->zipf_n);
	case BENCH_DIST_LATEST:
		return d->n - 1 - bench_dist_zipf_next(&d->zipf, r);
	case BENCH_DIST_HOTSPOT:
		/* with every id hot there is no cold set to fall back to */
		if (d->hot_n == d->n || rng_double(r) < d->hot_ops)
			return rng_below(r, d->hot_n);
		return d->hot_n + rng_below(r, d->n - d->hot_n);
	case BENCH_DIST_UNIFORM: break;
	}
	return rng_below(r, d->n);
}

int bench_dist_kind_parse(const char *name, enum bench_dist_kind *out)
{
	for (size_t i = 0; i < BENCH_DIST_KINDS; i++) {
		if (strcmp(name, bench_dist_names[i]) == 0) {
			*out = (enum bench_dist_kind)i;
			return 0;
		}
	}
	return RKV_EINVAL;
}

const char *bench_dist_kind_name(enum bench_dist_kind kind)
{
	if ((size_t)kind >= BENCH_DIST_KINDS)
		return "?";
	return bench_dist_names[kind];
}
