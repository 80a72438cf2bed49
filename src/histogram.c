/* histogram.c -- see histogram.h for the layout and its error bound.
 *
 * Slot arithmetic. Let s = HISTOGRAM_SUB_BITS (7) and let a value v have
 * b significant bits. If b <= s + 1 the value is its own slot. Otherwise
 * shift = b - (s + 1) drops the bits below the top s + 1, so v >> shift
 * lies in [2^s, 2^(s+1)) and
 *
 *     slot = (shift << s) + (v >> shift)
 *
 * numbers the ranges consecutively: shift 1 continues at 256 where the
 * exact slots stop, and each further shift adds 128 slots of twice the
 * width. Going back, a slot >= 2^(s+1) has shift = (slot >> s) - 1 and
 * covers [(slot - (shift << s)) << shift, ... + 2^shift).
 */
#include "histogram.h"

#include <assert.h>
#include <string.h>

#define HISTOGRAM_EXACT_SLOTS (UINT64_C(1) << (HISTOGRAM_SUB_BITS + 1))

/* The largest value must land in the last power of two the slots cover. */
static_assert(HISTOGRAM_MAX_US < (UINT64_C(1) << HISTOGRAM_VALUE_BITS) &&
                  HISTOGRAM_MAX_US >=
                      (UINT64_C(1) << (HISTOGRAM_VALUE_BITS - 1)),
              "HISTOGRAM_VALUE_BITS must be the bit length of the maximum");

static unsigned histogram_slot(uint64_t v)
{
	if (v < HISTOGRAM_EXACT_SLOTS)
		return (unsigned)v;
	unsigned bits = 64u - (unsigned)__builtin_clzll(v);
	unsigned shift = bits - (HISTOGRAM_SUB_BITS + 1);
	return (shift << HISTOGRAM_SUB_BITS) + (unsigned)(v >> shift);
}

/* The middle of a slot's range, rounded down: within half a slot width of
 * every value the slot holds. */
static uint64_t histogram_slot_middle(unsigned slot)
{
	if (slot < HISTOGRAM_EXACT_SLOTS)
		return slot;
	unsigned shift = (slot >> HISTOGRAM_SUB_BITS) - 1;
	uint64_t low = (uint64_t)(slot - (shift << HISTOGRAM_SUB_BITS))
	               << shift;
	return low + ((UINT64_C(1) << shift) - 1) / 2;
}

void histogram_init(struct histogram *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void histogram_reset(struct histogram *h)
{
	histogram_init(h);
}

void histogram_record_n(struct histogram *h, uint64_t value_us, uint64_t n)
{
	if (n == 0)
		return;
	if (value_us > HISTOGRAM_MAX_US) {
		value_us = HISTOGRAM_MAX_US;
		h->clamped += n;
	}
	h->slots[histogram_slot(value_us)] += n;
	h->count += n;
	h->sum += value_us * n;
	if (value_us < h->min)
		h->min = value_us;
	if (value_us > h->max)
		h->max = value_us;
}

void histogram_record(struct histogram *h, uint64_t value_us)
{
	histogram_record_n(h, value_us, 1);
}

void histogram_merge(struct histogram *into, const struct histogram *from)
{
	assert(into != from);
	if (from->count == 0)
		return;
	for (unsigned i = 0; i < HISTOGRAM_SLOTS; i++)
		into->slots[i] += from->slots[i];
	into->count += from->count;
	into->sum += from->sum;
	into->clamped += from->clamped;
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t histogram_count(const struct histogram *h)
{
	return h->count;
}

uint64_t histogram_clamped(const struct histogram *h)
{
	return h->clamped;
}

uint64_t histogram_min(const struct histogram *h)
{
	return h->count ? h->min : 0;
}

uint64_t histogram_max(const struct histogram *h)
{
	return h->max;
}

double histogram_mean(const struct histogram *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}

/* The nearest rank ceil(p/100 * count), 1..count. The product is computed
 * in floating point, where 99.9 / 100 * 1000 comes out a hair above 999:
 * the relative nudge keeps such products on the integer they denote. The
 * ceiling is taken by hand so that users of the library need no libm. */
static uint64_t histogram_rank(uint64_t count, double p)
{
	if (!(p > 0.0))
		return 1;
	if (p >= 100.0)
		return count;
	double x = p / 100.0 * (double)count;
	x -= x * 1e-12;
	uint64_t r = (uint64_t)x; /* x < count, so it fits */
	if ((double)r < x)
		r++;
	if (r < 1)
		return 1;
	return r < count ? r : count;
}

uint64_t histogram_percentile(const struct histogram *h, double p)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = histogram_rank(h->count, p);
	/* The extremes are known exactly; no need to approximate them. */
	if (rank == 1)
		return h->min;
	if (rank == h->count)
		return h->max;

	uint64_t seen = 0;
	unsigned slot = 0;
	for (; slot < HISTOGRAM_SLOTS - 1; slot++) {
		seen += h->slots[slot];
		if (seen >= rank)
			break;
	}
	uint64_t v = histogram_slot_middle(slot);
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}
