/* rng.h -- the seeded pseudo-random generator passed into pure code.
 *
 * ring/, gossip/ and the simulations never read global randomness: a caller
 * owns a struct rng seeded from a number it can print, so any failing run
 * replays exactly. The generator is xoshiro256** (Blackman and Vigna,
 * "Scrambled Linear Pseudorandom Number Generators", 2018), its state
 * filled from the seed by splitmix64 as the authors recommend. Not for
 * secrets.
 */
#ifndef RKV_RING_RNG_H
#define RKV_RING_RNG_H

#include <stdint.h>

struct rng {
	uint64_t s[4];
};

static inline uint64_t rng_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* rng_init -- seed the generator; every seed (0 included) is valid. */
static inline void rng_init(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = rng_splitmix64(&seed);
}

static inline uint64_t rng_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* rng_next -- 64 uniformly distributed bits. */
static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rng_rotl(s[3], 45);
	return result;
}

/* rng_double -- uniform in [0, 1), 53 bits of precision. */
static inline double rng_double(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* rng_below -- uniform in [0, n), n > 0, without modulo bias (Lemire,
 * "Fast Random Integer Generation in an Interval", 2019). */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	unsigned __int128 m = (unsigned __int128)rng_next(r) * n;
	uint64_t low = (uint64_t)m;
	if (low < n) {
		uint64_t threshold = -n % n;
		while (low < threshold) {
			m = (unsigned __int128)rng_next(r) * n;
			low = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

#endif
