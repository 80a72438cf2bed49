/* phi.c -- the phi-accrual detector: a growing ring buffer and a mean.
 *
 * The model and its two rules (bootstrap, clipping) are explained in
 * phi.h. Here is only the bookkeeping. Samples live in a ring buffer whose
 * capacity starts at PHI_FIRST_CAP and doubles, on demand, up to the
 * window. While the buffer has room, samples are appended after the
 * oldest (at head + count); once count reaches the capacity and the
 * capacity cannot or may not grow, each new sample replaces the oldest
 * one, at head. Growing copies the samples oldest first into the new
 * buffer, so it works whether or not the old one had wrapped.
 *
 * The running sum is an exact integer (samples are at most PHI_MAX_MS, a
 * window at most PHI_MAX_WINDOW, so it cannot overflow 64 bits), which is
 * why the mean never drifts however long a node runs.
 *
 * phi is evaluated from the sum on demand -- O(1), no logarithm: the
 * exponential model's phi is linear in the time since the last arrival,
 * so nothing here needs libm.
 */
#include "phi.h"

#include <math.h>
#include <stdlib.h>

#define PHI_FIRST_CAP 16u

void phi_params_default(struct phi_params *p, uint32_t interval_ms)
{
	uint64_t b = 2 * (uint64_t)interval_ms;
	if (b < 1)
		b = 1;
	if (b > PHI_MAX_MS)
		b = PHI_MAX_MS;
	p->window = PHI_DEFAULT_WINDOW;
	p->bootstrap_ms = (uint32_t)b;
	p->max_interval_ms = (uint32_t)b;
}

bool phi_params_valid(const struct phi_params *p)
{
	return p != NULL && p->window >= 1 && p->window <= PHI_MAX_WINDOW &&
	       p->bootstrap_ms >= 1 && p->bootstrap_ms <= PHI_MAX_MS &&
	       p->max_interval_ms >= 1 && p->max_interval_ms <= PHI_MAX_MS;
}

void phi_init(struct phi_detector *d)
{
	d->samples = NULL;
	d->cap = 0;
	d->count = 0;
	d->head = 0;
	d->sum = 0;
	d->last_ms = 0;
	d->heard = false;
}

void phi_deinit(struct phi_detector *d)
{
	free(d->samples);
	phi_init(d);
}

void phi_reset(struct phi_detector *d)
{
	d->count = 0;
	d->head = 0;
	d->sum = 0;
	d->last_ms = 0;
	d->heard = false;
}

/* sample_room -- make room for one more sample without dropping one, if the
 * window allows and memory permits. A new, larger buffer receives the
 * samples oldest first, so it is linear again (head 0) even when the old
 * one had wrapped. False: the buffer is as big as it gets (the caller
 * overwrites the oldest sample instead). */
static bool sample_room(struct phi_detector *d, uint32_t window)
{
	if (d->count < d->cap)
		return true;
	if (d->cap >= window)
		return false;
	uint32_t cap = d->cap ? 2 * d->cap : PHI_FIRST_CAP;
	if (cap > window)
		cap = window;
	uint32_t *s = malloc(cap * sizeof(*s));
	if (s == NULL)
		return false;
	for (uint32_t i = 0; i < d->count; i++)
		s[i] = d->samples[(d->head + i) % d->cap];
	free(d->samples);
	d->samples = s;
	d->cap = cap;
	d->head = 0;
	return true;
}

static void sample_add(struct phi_detector *d, uint32_t window, uint32_t ms)
{
	/* A window made smaller by the caller: drop the oldest first. */
	while (d->count > window) {
		d->sum -= d->samples[d->head];
		d->head = (d->head + 1) % d->cap;
		d->count--;
	}
	if (d->count < window && sample_room(d, window)) {
		d->samples[(d->head + d->count) % d->cap] = ms;
		d->count++;
		d->sum += ms;
		return;
	}
	if (d->count == 0)
		return; /* no buffer at all (ENOMEM): the mean stays bootstrap
		         */
	d->sum -= d->samples[d->head];
	d->samples[d->head] = ms;
	d->sum += ms;
	d->head = (d->head + 1) % d->cap;
}

void phi_heartbeat(struct phi_detector *d, const struct phi_params *p,
                   uint64_t now_ms)
{
	if (!d->heard) {
		sample_add(d, p->window, p->bootstrap_ms);
		d->heard = true;
		d->last_ms = now_ms;
		return;
	}
	if (now_ms <= d->last_ms)
		return; /* same millisecond, or from the past */
	uint64_t interval = now_ms - d->last_ms;
	if (interval <= p->max_interval_ms)
		sample_add(d, p->window, (uint32_t)interval);
	d->last_ms = now_ms;
}

double phi_mean_ms(const struct phi_detector *d, const struct phi_params *p)
{
	if (d->count == 0)
		return (double)p->bootstrap_ms;
	double mean = (double)d->sum / (double)d->count;
	return mean < 1.0 ? 1.0 : mean;
}

double phi_value(const struct phi_detector *d, const struct phi_params *p,
                 uint64_t now_ms)
{
	if (!d->heard)
		return HUGE_VAL;
	if (now_ms <= d->last_ms)
		return 0.0;
	return PHI_LOG10_E * (double)(now_ms - d->last_ms) / phi_mean_ms(d, p);
}

uint64_t phi_suspect_after_ms(const struct phi_detector *d,
                              const struct phi_params *p, double threshold)
{
	if (!d->heard || !(threshold > 0.0))
		return 0;
	double t = threshold * phi_mean_ms(d, p) / PHI_LOG10_E;
	if (t >= 1.8e19)
		return UINT64_MAX;
	uint64_t ms = (uint64_t)t;
	return (double)ms < t ? ms + 1 : ms;
}
