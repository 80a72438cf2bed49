/* hash.c -- key placement on the hash circle (see hash.h). */
#include "hash.h"

#include <xxhash.h>

uint64_t ring_hash_key(const void *key, size_t len)
{
	return XXH3_64bits_withSeed(key, len, RING_HASH_SEED);
}

int ring_size_valid(uint32_t ring_size)
{
	return ring_size >= RING_MIN_SIZE && ring_size <= RING_MAX_SIZE &&
	       (ring_size & (ring_size - 1)) == 0;
}

uint32_t ring_partition_of(const void *key, size_t len, uint32_t ring_size)
{
	unsigned bits = (unsigned)__builtin_ctz(ring_size);
	if (bits == 0)
		return 0; /* one partition: a shift by 64 would be undefined */
	return (uint32_t)(ring_hash_key(key, len) >> (64 - bits));
}
