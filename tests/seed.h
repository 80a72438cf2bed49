/* seed.h -- the one seed of a randomized test program.
 *
 * Randomized tests draw every choice from struct rng generators derived
 * from one number. A fresh number each run covers more cases; printing it
 * makes any failing run replayable with RKV_SEED=<number>.
 */
#ifndef RKV_TEST_SEED_H
#define RKV_TEST_SEED_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* test_seed_init -- RKV_SEED if set, else a fresh seed; printed with the
 * program's name. */
static inline uint64_t test_seed_init(const char *prog)
{
	const char *env = getenv("RKV_SEED");
	struct timespec now;
	uint64_t seed;

	clock_gettime(CLOCK_REALTIME, &now);
	seed =
	    env != NULL
	        ? strtoull(env, NULL, 0)
	        : ((uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec) ^
	              ((uint64_t)getpid() << 32);
	printf("%s: seed %" PRIu64 " (set RKV_SEED to replay)\n", prog, seed);
	fflush(stdout);
	return seed;
}

#endif
