/* ring_int.h -- the inside of struct ring, for ring/'s own .c files.
 *
 * Nothing outside ring/ includes this file: callers see struct ring as an
 * opaque type and go through ring.h, so the layout below may change freely.
 *
 * A ring is an array of Q slots plus a name table. Slots hold indices into
 * the table; the table is an array of separately allocated strings (growing
 * it moves the array, never the strings, which is why ring.h can promise
 * that names stay put until ring_free/ring_compact) and an open-addressing
 * hash index from name to table position for interning in O(1).
 */
#ifndef RKV_RING_RING_INT_H
#define RKV_RING_RING_INT_H

#include "ring.h"

struct ring_slot {
	uint64_t version;
	uint32_t owner;  /* name index or RING_NONE (unclaimed) */
	uint32_t next;   /* name index or RING_NONE (no transfer pending) */
	uint32_t writer; /* name index or RING_NONE (version 0) */
};

struct ring {
	uint32_t size;           /* Q */
	struct ring_slot *slots; /* Q slots */
	uint32_t nnodes;         /* names in use */
	uint32_t names_cap; /* room in names[], held_now[], held_future[] */
	char **names;       /* nnodes malloc'ed strings */
	uint32_t *index;    /* index_cap buckets: name index + 1, 0 empty */
	uint32_t index_cap; /* power of two, at least 2 * nnodes */
	/* Per name, the partitions it owns now and once pending transfers are
	 * done; owners_* count the names holding any. Kept current by
	 * ring_slot_store() and ring_recount(), so ring_owned() is O(1) and
	 * the preference-list walk can stop when it has met every owner. */
	uint32_t *held_now;
	uint32_t *held_future;
	uint32_t owners_now;
	uint32_t owners_future;
};

/* ring_intern -- the index of name in r, adding it when new. RING_EINVAL
 * (invalid name), RING_ETOOBIG (table full), RING_ENOMEM. */
int ring_intern(struct ring *r, const char *name, uint32_t *node);

/* ring_slot_store -- overwrite one slot, keeping the held counts. */
void ring_slot_store(struct ring *r, uint32_t partition,
                     const struct ring_slot *s);

/* ring_recount -- recompute the held counts after writing many slots
 * directly (claim, compaction). */
void ring_recount(struct ring *r);

/* ring_name_cmp -- order two nodes of possibly different rings by name,
 * RING_NONE first. */
int ring_name_cmp(const struct ring *a, uint32_t na, const struct ring *b,
                  uint32_t nb);

/* The future owner of a slot: where a pending transfer goes, else owner. */
static inline uint32_t ring_slot_future(const struct ring_slot *s)
{
	return s->next != RING_NONE ? s->next : s->owner;
}

/* A set of node indices as a bitmap on the caller's stack. */
#define RING_BITMAP_WORDS (RING_MAX_NODES / 64)

static inline void ring_bit_set(uint64_t *map, uint32_t i)
{
	map[i / 64] |= UINT64_C(1) << (i % 64);
}

static inline bool ring_bit_get(const uint64_t *map, uint32_t i)
{
	return (map[i / 64] >> (i % 64)) & 1;
}

#endif
