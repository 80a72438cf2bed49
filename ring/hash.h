/* hash.h -- where a key lives: XXH3 of the key, top bits = partition.
 *
 * partition = XXH3_64bits_withSeed(key, RING_HASH_SEED) >> (64 - log2(Q)).
 * Using the top bits keeps partitions contiguous arcs of the 64-bit hash
 * circle, as Dynamo's and Riak's rings are. The seed is pinned forever: a
 * different seed would move every key of every existing cluster, so
 * tests/test_ring.c holds known-answer vectors for it.
 */
#ifndef RKV_RING_HASH_H
#define RKV_RING_HASH_H

#include <stddef.h>
#include <stdint.h>

#define RING_HASH_SEED UINT64_C(0x72696e676b76) /* "ringkv" */

/* Ring sizes Q must be powers of two in this range. */
#define RING_MIN_SIZE 1u
#define RING_MAX_SIZE 65536u

/* ring_hash_key -- the 64-bit position of a key on the hash circle. */
uint64_t ring_hash_key(const void *key, size_t len);

/* ring_partition_of -- the partition (0..ring_size-1) holding a key.
 * ring_size must be a power of two in [RING_MIN_SIZE, RING_MAX_SIZE]. */
uint32_t ring_partition_of(const void *key, size_t len, uint32_t ring_size);

/* ring_size_valid -- true when ring_size is a power of two within range. */
int ring_size_valid(uint32_t ring_size);

#endif
