/* gossip_int.h -- the inside of struct gossip, for gossip/'s own .c files.
 *
 * Nothing outside gossip/ includes this file: callers see struct gossip as
 * an opaque type and go through gossip.h, so the layout may change freely.
 *
 * The table is an array of slots, slot 0 being this node. Members are never
 * removed, so a slot's index is the member index of the API. Names and
 * addresses live in one string arena per table, "name\0addr\0http\0" per
 * slot, laid out in slot order when the arena is compacted: a merge walking
 * the table in order compares strings that sit next to each other, instead
 * of chasing one allocation per member. A rename (any of the three strings
 * changing) appends the new strings and leaves the old ones as garbage,
 * reclaimed by compaction. Three chained hash indices find a slot by id,
 * by name and by (rpc) address -- http addresses need no index, nothing
 * looks members up by them nor requires them distinct: each bucket
 * holds the first slot of its chain and each slot the next one, so an
 * entry can move from one name or address chain to another (a rename)
 * without tombstones. The name and address indices hold every slot, marked
 * down or not: several members may share a name or address as long as all
 * but one of them are marked down.
 */
#ifndef RKV_GOSSIP_GOSSIP_INT_H
#define RKV_GOSSIP_GOSSIP_INT_H

#include "gossip.h"

/* The end of a chain, an empty bucket. */
#define GOSSIP_NIL UINT32_MAX

/* The fields read for every member on every round -- the counters and
 * the detector, which peer selection evaluates for all members -- come
 * first, so that they share the slot's first cache line. */
struct gossip_slot {
	uint64_t id;
	uint64_t generation;
	uint64_t version;
	struct phi_detector fd; /* unused for slot 0 */
	uint32_t name_off;      /* the name in g->strs */
	uint32_t addr_off;      /* the address, right after the name's NUL */
	uint32_t http_off;      /* the http address, right after addr's */
	uint32_t next_id;       /* next slot in the same by_id bucket */
	uint32_t next_name;     /* ... by_name bucket */
	uint32_t next_addr;     /* ... by_addr bucket */
	uint32_t mark;          /* == g->epoch: named in the merge under way */
	uint32_t in;            /* then: its index in the received array */
	uint8_t status;         /* enum member_status */
};

struct gossip {
	struct gossip_config cfg;
	struct phi_params phi;
	struct ring *ring;
	struct gossip_slot *slots; /* count slots; room for cap */
	uint32_t count;
	uint32_t cap;
	uint32_t nbuckets; /* power of two, >= cap */
	uint32_t *by_id;   /* nbuckets chain heads each */
	uint32_t *by_name;
	uint32_t *by_addr;
	char *strs;             /* the string arena */
	uint32_t strs_used;     /* bytes in use, garbage included */
	uint32_t strs_cap;      /* bytes allocated */
	uint32_t strs_dead;     /* garbage bytes left by renames */
	uint32_t epoch;         /* merge counter for slot marks, never 0 */
	uint64_t self_heard_ms; /* our last tick */
	/* Per received entry scratch of gossip_merge, kept between merges so
	 * the steady state allocates nothing. */
	struct gossip_scratch *scratch;
	uint32_t scratch_cap;
};

static inline const char *gossip_slot_name(const struct gossip *g,
                                           const struct gossip_slot *s)
{
	return g->strs + s->name_off;
}

static inline const char *gossip_slot_addr(const struct gossip *g,
                                           const struct gossip_slot *s)
{
	return g->strs + s->addr_off;
}

static inline const char *gossip_slot_http(const struct gossip *g,
                                           const struct gossip_slot *s)
{
	return g->strs + s->http_off;
}

/* gossip_slot_alive -- the detector's verdict on slot i at now_ms. */
bool gossip_slot_alive(const struct gossip *g, uint32_t i, uint64_t now_ms);

#endif
