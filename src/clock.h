/* clock.h -- the node's clock for deadlines, backoff and liveness.
 *
 * CLOCK_MONOTONIC in milliseconds: a step of the wall clock (NTP, an
 * operator) must not fire every timeout at once nor mark every peer
 * down, so nothing that measures an interval reads the time of day.
 * The view and gossip, reconnect backoff, handoff and transfer retries
 * all read this one; their timers take their periods from ms_timeval.
 */
#ifndef RKV_CLOCK_H
#define RKV_CLOCK_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* monotonic_ms -- milliseconds since an arbitrary start, never going
 * back. */
static inline uint64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ms_timeval -- ms as the struct timeval libevent's timers take. */
static inline struct timeval ms_timeval(uint64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
	                     .tv_usec = (suseconds_t)(ms % 1000) * 1000};
	return tv;
}

#endif
