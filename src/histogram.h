/* histogram.h -- a fixed-size, log-bucketed latency histogram.
 *
 * Latencies span six orders of magnitude (a cached read in tens of
 * microseconds, a stalled quorum in seconds), and what matters is the
 * tail: p99 and p99.9. Keeping every sample is unbounded; averaging hides
 * the tail. The answer used here is HdrHistogram's (Gil Tene,
 * hdrhistogram.org): buckets whose width grows with the value, so every
 * value is stored with the same *relative* precision in constant memory.
 *
 * Layout. Values below 2^8 = 256 get one counter each (exact). Above that,
 * each power of two [2^e, 2^(e+1)) is cut into 128 equal sub-buckets of
 * width 2^(e-7). A value v >= 256 therefore shares its counter only with
 * values within v/128 of it; reporting the middle of the counter's range
 * puts every reported percentile within 1/256 (0.4 %) of the sample that
 * the exact order statistic would give. With values up to one hour
 * (3.6e9 us < 2^32) that is 256 + 24 * 128 = 3328 counters, 26 KiB.
 *
 * The struct is defined here so a histogram can be embedded by value (per
 * operation in the daemon's /stats, per operation type in ringkv-bench);
 * nothing is allocated, there is nothing to free, and two histograms merge
 * by adding counters. A histogram is not thread-safe: one owner records
 * into it, others merge copies.
 *
 * Percentiles use the nearest-rank definition: percentile p of n samples
 * is the ceil(p/100 * n)-th smallest (the smallest for p = 0).
 */
#ifndef RKV_HISTOGRAM_H
#define RKV_HISTOGRAM_H

#include <stdint.h>

/* Largest value recorded as itself: one hour in microseconds. Larger values
 * are recorded as this value and counted in histogram_clamped(). */
#define HISTOGRAM_MAX_US UINT64_C(3600000000)

/* 2^HISTOGRAM_SUB_BITS sub-buckets per power of two (the relative
 * resolution), values below 2^(HISTOGRAM_SUB_BITS + 1) exact. */
#define HISTOGRAM_SUB_BITS 7
/* Bits of HISTOGRAM_MAX_US (2^31 < 3.6e9 < 2^32). */
#define HISTOGRAM_VALUE_BITS 32
#define HISTOGRAM_SLOTS                                                        \
	((HISTOGRAM_VALUE_BITS - HISTOGRAM_SUB_BITS + 1) << HISTOGRAM_SUB_BITS)

/* Every field is a uint64_t, so the struct has no padding and two
 * histograms with equal contents compare equal with memcmp. Read it through
 * the functions below; the fields are public only for embedding. */
struct histogram {
	uint64_t count;   /* samples recorded */
	uint64_t sum;     /* of the (clamped) samples, for the mean */
	uint64_t min;     /* UINT64_MAX while empty */
	uint64_t max;     /* 0 while empty */
	uint64_t clamped; /* samples above HISTOGRAM_MAX_US */
	uint64_t slots[HISTOGRAM_SLOTS];
};

/* histogram_init -- make h empty. The caller owns the storage; there is no
 * deinit (nothing is allocated). */
void histogram_init(struct histogram *h);

/* histogram_reset -- forget every sample (same as histogram_init; named
 * for the call sites that start a new measurement period). */
void histogram_reset(struct histogram *h);

/* histogram_record -- add one sample, in microseconds. Values above
 * HISTOGRAM_MAX_US are recorded as HISTOGRAM_MAX_US and counted as
 * clamped. O(1), never fails. */
void histogram_record(struct histogram *h, uint64_t value_us);

/* histogram_record_n -- add n samples of the same value (n may be 0). */
void histogram_record_n(struct histogram *h, uint64_t value_us, uint64_t n);

/* histogram_merge -- add every sample of from into into; from is not
 * changed. Afterwards into is exactly what recording both sample sets into
 * one histogram would have produced. into and from may not alias. */
void histogram_merge(struct histogram *into, const struct histogram *from);

/* histogram_count -- samples recorded (clamped ones included). */
uint64_t histogram_count(const struct histogram *h);

/* histogram_clamped -- samples that were above HISTOGRAM_MAX_US. */
uint64_t histogram_clamped(const struct histogram *h);

/* histogram_min, histogram_max -- exact smallest and largest (clamped)
 * sample; 0 when empty. */
uint64_t histogram_min(const struct histogram *h);
uint64_t histogram_max(const struct histogram *h);

/* histogram_mean -- arithmetic mean of the (clamped) samples, exact while
 * their sum fits in 64 bits (5e9 samples of an hour, 1.8e13 of a
 * millisecond); 0 when empty. */
double histogram_mean(const struct histogram *h);

/* histogram_percentile -- the nearest-rank percentile p (0..100; values
 * outside are taken as the nearest bound, NaN as 0), within 1 % (in fact
 * 1/256) of the exact order statistic, and never outside [min, max]. p = 0
 * gives min and p = 100 gives max exactly. 0 when empty. O(HISTOGRAM_SLOTS).
 */
uint64_t histogram_percentile(const struct histogram *h, double p);

#endif
