/* bench_dist.h -- which record a benchmark operation touches (YCSB's key
 * choosers).
 *
 * Records are numbered 0..n-1 (ringkv-bench turns id 42 into the key
 * "user0000000042"). A chooser maps draws of a caller-owned, seeded struct
 * rng to ids, so a benchmark run with a printed --seed replays the same
 * key sequence. The choosers are those of YCSB (Cooper et al., "Benchmarking
 * Cloud Serving Systems with YCSB", SoCC 2010):
 *
 *   uniform   every id equally likely.
 *   zipfian   the id of popularity rank k (k = 1 most popular) is chosen
 *             with probability k^-theta / zeta(n, theta), where
 *             zeta(n, theta) = sum over i = 1..n of i^-theta (theta 0.99
 *             by default, as in YCSB). Ranks are then *scrambled*: rank
 *             k becomes id bench_dist_scramble(k - 1, n), a fixed
 *             pseudo-random permutation, so the hot ids are spread over
 *             the id space instead of being ids 0, 1, 2 (YCSB's
 *             ScrambledZipfianGenerator; see bench_dist.c for why a true
 *             permutation rather than hash-mod-n).
 *   hotspot   the lowest hot_fraction of the ids receive hot_ops of the
 *             draws, uniformly among them; the rest go uniformly to the
 *             other ids (YCSB's HotspotIntegerGenerator).
 *   latest    zipfian over recency: rank k is id (n - 1) - (k - 1), the
 *             k-th most recently inserted record (YCSB's
 *             SkewedLatestGenerator, workload D). The caller reports
 *             inserts with bench_dist_grow().
 *
 * How a zipfian rank is drawn in O(1) is explained in bench_dist.c. All
 * structs here live in the caller's storage and hold no pointers: there is
 * no deinit, and copying one copies the chooser.
 */
#ifndef RKV_BENCH_DIST_H
#define RKV_BENCH_DIST_H

#include "ring/rng.h"

#include <stdint.h>

/* Bounds on the parameters; anything outside is RKV_EINVAL. */
#define BENCH_DIST_MAX_RECORDS   (UINT64_C(1) << 48)
#define BENCH_DIST_THETA_MAX     10.0
#define BENCH_DIST_THETA_DEFAULT 0.99

/* Popularity ranks whose probabilities are tabulated exactly (see
 * bench_dist.c); each later rank's probability is within a relative
 * theta(theta+1) / (24 * 65^2) of exact (2e-5 for theta <= 1). */
#define BENCH_DIST_ZIPF_HEAD 64

/* X(enum value, name on the command line) */
#define BENCH_DIST_TABLE(X)                                                    \
	X(BENCH_DIST_UNIFORM, "uniform")                                       \
	X(BENCH_DIST_ZIPFIAN, "zipfian")                                       \
	X(BENCH_DIST_HOTSPOT, "hotspot")                                       \
	X(BENCH_DIST_LATEST, "latest")

enum bench_dist_kind {
#define BENCH_DIST_ENUM(value, name) value,
	BENCH_DIST_TABLE(BENCH_DIST_ENUM)
#undef BENCH_DIST_ENUM
};

/* A zipfian popularity-rank generator over ranks 0..n-1 (0 = most
 * popular); the building block of the zipfian and latest choosers, public
 * so that tests can check ranks before scrambling. Fields are private. */
struct bench_dist_zipf {
	uint64_t n;
	double theta;
	double head[BENCH_DIST_ZIPF_HEAD]; /* head[i] = sum_{j<=i+1} j^-theta */
	double total;                      /* weight of ranks 1..n */
	double tail_scale;                 /* (H + 1/2)^(1 - theta) */
};

struct bench_dist_params {
	enum bench_dist_kind kind;
	uint64_t records;    /* n >= 1: ids 0..n-1 */
	double zipf_theta;   /* zipfian, latest: (0, BENCH_DIST_THETA_MAX] */
	double hot_fraction; /* hotspot: (0, 1], share of ids that are hot */
	double hot_ops;      /* hotspot: [0, 1], share of draws that are hot */
};

struct bench_dist {
	enum bench_dist_kind kind;
	uint64_t n;      /* ids 0..n-1 */
	uint64_t zipf_n; /* zipfian: ids it scrambles over (fixed at init) */
	uint64_t hot_n;  /* hotspot: ids 0..hot_n-1 are hot, 1 <= hot_n <= n */
	double hot_fraction;
	double hot_ops;
	struct bench_dist_zipf zipf; /* zipfian, latest */
};

/* bench_dist_zipf_init -- ranks 0..n-1 with P(rank k-1) = k^-theta /
 * zeta(n, theta). 0, or RKV_EINVAL if n is 0 or above
 * BENCH_DIST_MAX_RECORDS, or theta is not in (0, BENCH_DIST_THETA_MAX]
 * (then *z is unusable). O(BENCH_DIST_ZIPF_HEAD). */
int bench_dist_zipf_init(struct bench_dist_zipf *z, uint64_t n, double theta);

/* bench_dist_zipf_grow -- extend to ranks 0..n-1; n below the current
 * size (or above BENCH_DIST_MAX_RECORDS) is ignored. O(1). */
void bench_dist_zipf_grow(struct bench_dist_zipf *z, uint64_t n);

/* bench_dist_zipf_next -- one rank in 0..n-1, consuming one rng draw. */
uint64_t bench_dist_zipf_next(const struct bench_dist_zipf *z, struct rng *r);

/* bench_dist_init -- a chooser as described by p (fields that its kind
 * does not use are ignored). 0, or RKV_EINVAL when a used parameter is out
 * of range (then *d is unusable). */
int bench_dist_init(struct bench_dist *d, const struct bench_dist_params *p);

/* bench_dist_grow -- records 0..n-1 now exist (the caller inserted up to
 * id n-1); n below the current count is ignored. uniform and hotspot then
 * choose among all n ids and latest follows id n-1. zipfian keeps
 * scrambling over the ids it was initialised with, so its hot ids stay
 * where they are (like YCSB, which sizes the zipfian range once). O(1). */
void bench_dist_grow(struct bench_dist *d, uint64_t n);

/* bench_dist_next -- one id in 0..n-1, consuming one or two rng draws. */
uint64_t bench_dist_next(const struct bench_dist *d, struct rng *r);

/* bench_dist_scramble -- a fixed permutation of 0..n-1 (n >= 1; the same
 * for every run and process), used to place zipfian ranks on ids. */
uint64_t bench_dist_scramble(uint64_t rank, uint64_t n);

/* bench_dist_kind_parse -- "uniform", "zipfian", "hotspot" or "latest".
 * 0, or RKV_EINVAL for any other text (*out unchanged). */
int bench_dist_kind_parse(const char *name, enum bench_dist_kind *out);

/* bench_dist_kind_name -- the static name of a kind ("?" if unknown). */
const char *bench_dist_kind_name(enum bench_dist_kind kind);

#endif
