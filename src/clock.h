/* clock.h -- the node's clock for deadlines, backoff and liveness.
 *
 * CLOCK_MONOTONIC in milliseconds: a step of the wall clock (NTP, an
 * operator) must not fire every timeout at once nor mark every peer
 * down, so nothing that measures an interval reads the time of day.
 * The view and gossip, reconnect backoff, handoff and transfer retries
 * all read this one.
 */
#ifndef RKV_CLOCK_H
#define RKV_CLOCK_H

#include <stdint.h>
#include <time.h>

/* monotonic_ms -- milliseconds since an arbitrary start, never going
 * back. */
static inline uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
