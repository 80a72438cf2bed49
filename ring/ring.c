/* ring.c -- the ownership table: names, partitions, validation and merge.
 *
 * NAMES. A partition refers to its owner, next owner and writer by a small
 * index into the ring's name table, so the table is the one place strings
 * live. Interning is find-or-add through an open-addressing hash index
 * (XXH3 of the name, linear probing, kept at most half full). Names are
 * never removed by ordinary operations -- a node that left is still the
 * writer of entries it wrote -- but ring_compact() drops the ones nothing
 * refers to any more.
 *
 * MERGE. Gossip hands every node rings changed elsewhere. Each partition
 * entry carries (version, writer): whoever changes an entry bumps its
 * version and signs it. Merging keeps, per partition, the greater entry in
 * the order
 *
 *     version, then writer name, then owner name, then next owner name
 *
 * (a missing name sorting first). Because that is a total order on entries
 * and the merge takes a per-partition maximum, merge is commutative,
 * associative and idempotent: rings gossiped in any order, any number of
 * times, converge to the same content. Names, not indices, are compared,
 * since two nodes number the same name differently. The last two keys
 * only matter when two nodes made different changes at the same version
 * under the same name, which a correct cluster never does; they are there
 * so that even then every node picks the same entry.
 */
#include "ring_int.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#define RING_INDEX_MIN 16u

/* --- names --------------------------------------------------------------- */

bool ring_name_valid(const char *name)
{
	if (name == NULL || name[0] == '\0')
		return false;
	size_t i = 0;
	for (; name[i] != '\0' && i <= RING_MAX_NAME; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x21 || c == 0x7f)
			return false;
	}
	return i <= RING_MAX_NAME;
}

static uint32_t name_bucket(const char *name, size_t len, uint32_t cap)
{
	return (uint32_t)(XXH3_64bits(name, len) & (cap - 1));
}

int ring_node_find(const struct ring *r, const char *name, uint32_t *node)
{
	if (name == NULL)
		return RING_ENOTFOUND;
	size_t len = strnlen(name, RING_MAX_NAME + 1);
	if (len > RING_MAX_NAME)
		return RING_ENOTFOUND;
	uint32_t mask = r->index_cap - 1;
	for (uint32_t b = name_bucket(name, len, r->index_cap);;
	     b = (b + 1) & mask) {
		uint32_t slot = r->index[b];
		if (slot == 0)
			return RING_ENOTFOUND;
		if (strcmp(r->names[slot - 1], name) == 0) {
			*node = slot - 1;
			return 0;
		}
	}
}

/* index_rebuild -- a fresh hash index of cap buckets over r's names. */
static int index_rebuild(struct ring *r, uint32_t cap)
{
	uint32_t *index = calloc(cap, sizeof(*index));
	if (index == NULL)
		return RING_ENOMEM;
	for (uint32_t i = 0; i < r->nnodes; i++) {
		const char *n = r->names[i];
		uint32_t b = name_bucket(n, strlen(n), cap);
		while (index[b] != 0)
			b = (b + 1) & (cap - 1);
		index[b] = i + 1;
	}
	free(r->index);
	r->index = index;
	r->index_cap = cap;
	return 0;
}

/* names_grow -- double the room in the per-name arrays. Each array is
 * replaced as soon as its realloc succeeds; names_cap moves only when all
 * have, so a failure leaves a consistent (if partly larger) table. */
static int names_grow(struct ring *r)
{
	uint32_t cap = r->names_cap ? 2 * r->names_cap : 8;
	char **names = realloc(r->names, cap * sizeof(*names));
	if (names == NULL)
		return RING_ENOMEM;
	r->names = names;
	uint32_t *now = realloc(r->held_now, cap * sizeof(*now));
	if (now == NULL)
		return RING_ENOMEM;
	r->held_now = now;
	uint32_t *future = realloc(r->held_future, cap * sizeof(*future));
	if (future == NULL)
		return RING_ENOMEM;
	r->held_future = future;
	for (uint32_t i = r->names_cap; i < cap; i++)
		now[i] = future[i] = 0;
	r->names_cap = cap;
	return 0;
}

int ring_intern(struct ring *r, const char *name, uint32_t *node)
{
	int rc;
	if (!ring_name_valid(name))
		return RING_EINVAL;
	if (ring_node_find(r, name, node) == 0)
		return 0;
	if (r->nnodes >= RING_MAX_NODES)
		return RING_ETOOBIG;
	/* Grow first: extra room is harmless if a later step fails. */
	if (r->nnodes == r->names_cap && (rc = names_grow(r)) != 0)
		return rc;
	if (2 * (r->nnodes + 1) > r->index_cap &&
	    (rc = index_rebuild(r, 2 * r->index_cap)) != 0)
		return rc;
	char *copy = strdup(name);
	if (copy == NULL)
		return RING_ENOMEM;
	uint32_t id = r->nnodes++;
	r->names[id] = copy;
	uint32_t b = name_bucket(copy, strlen(copy), r->index_cap);
	while (r->index[b] != 0)
		b = (b + 1) & (r->index_cap - 1);
	r->index[b] = id + 1;
	*node = id;
	return 0;
}

int ring_name_cmp(const struct ring *a, uint32_t na, const struct ring *b,
                  uint32_t nb)
{
	if (na == RING_NONE || nb == RING_NONE)
		return (na != RING_NONE) - (nb != RING_NONE);
	return strcmp(a->names[na], b->names[nb]);
}

/* --- life cycle ---------------------------------------------------------- */

static void slot_clear(struct ring_slot *s)
{
	s->version = 0;
	s->owner = RING_NONE;
	s->next = RING_NONE;
	s->writer = RING_NONE;
}

int ring_new(uint32_t ring_size, struct ring **out)
{
	if (out == NULL || !ring_size_valid(ring_size))
		return RING_EINVAL;
	struct ring *r = calloc(1, sizeof(*r));
	if (r == NULL)
		goto fail;
	r->size = ring_size;
	r->slots = malloc(ring_size * sizeof(*r->slots));
	r->index = calloc(RING_INDEX_MIN, sizeof(*r->index));
	if (r->slots == NULL || r->index == NULL)
		goto fail;
	r->index_cap = RING_INDEX_MIN;
	for (uint32_t p = 0; p < ring_size; p++)
		slot_clear(&r->slots[p]);
	*out = r;
	return 0;
fail:
	ring_free(r);
	return RING_ENOMEM;
}

void ring_free(struct ring *r)
{
	if (r == NULL)
		return;
	for (uint32_t i = 0; i < r->nnodes; i++)
		free(r->names[i]);
	free(r->names);
	free(r->held_now);
	free(r->held_future);
	free(r->index);
	free(r->slots);
	free(r);
}

struct ring *ring_dup(const struct ring *r)
{
	struct ring *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	size_t cap = r->names_cap ? r->names_cap : 1;
	d->size = r->size;
	d->index_cap = r->index_cap;
	d->owners_now = r->owners_now;
	d->owners_future = r->owners_future;
	d->slots = malloc(r->size * sizeof(*d->slots));
	d->index = malloc(r->index_cap * sizeof(*d->index));
	d->names = calloc(cap, sizeof(*d->names));
	d->held_now = calloc(cap, sizeof(*d->held_now));
	d->held_future = calloc(cap, sizeof(*d->held_future));
	if (d->slots == NULL || d->index == NULL || d->names == NULL ||
	    d->held_now == NULL || d->held_future == NULL)
		goto fail;
	d->names_cap = (uint32_t)cap;
	memcpy(d->slots, r->slots, r->size * sizeof(*d->slots));
	memcpy(d->index, r->index, r->index_cap * sizeof(*d->index));
	if (r->names_cap > 0) {
		memcpy(d->held_now, r->held_now, cap * sizeof(*d->held_now));
		memcpy(d->held_future, r->held_future,
		       cap * sizeof(*d->held_future));
	}
	for (; d->nnodes < r->nnodes; d->nnodes++) {
		d->names[d->nnodes] = strdup(r->names[d->nnodes]);
		if (d->names[d->nnodes] == NULL)
			goto fail;
	}
	return d;
fail:
	ring_free(d);
	return NULL;
}

/* --- held counts --------------------------------------------------------- */

static void held_add(struct ring *r, const struct ring_slot *s, int delta)
{
	if (s->owner == RING_NONE)
		return;
	uint32_t f = ring_slot_future(s);
	if (delta > 0) {
		r->owners_now += r->held_now[s->owner]++ == 0;
		r->owners_future += r->held_future[f]++ == 0;
	} else {
		r->owners_now -= --r->held_now[s->owner] == 0;
		r->owners_future -= --r->held_future[f] == 0;
	}
}

void ring_slot_store(struct ring *r, uint32_t partition,
                     const struct ring_slot *s)
{
	held_add(r, &r->slots[partition], -1);
	r->slots[partition] = *s;
	held_add(r, &r->slots[partition], +1);
}

void ring_recount(struct ring *r)
{
	for (uint32_t i = 0; i < r->nnodes; i++)
		r->held_now[i] = r->held_future[i] = 0;
	r->owners_now = r->owners_future = 0;
	for (uint32_t p = 0; p < r->size; p++)
		held_add(r, &r->slots[p], +1);
}

/* held_valid -- the held counts are what the slots say (slots checked). */
static int held_valid(const struct ring *r)
{
	uint32_t *now = calloc(r->nnodes ? r->nnodes : 1, sizeof(*now));
	uint32_t *future = calloc(r->nnodes ? r->nnodes : 1, sizeof(*future));
	uint32_t owners_now = 0, owners_future = 0;
	int rc = RING_ENOMEM;
	if (now == NULL || future == NULL)
		goto out;
	for (uint32_t p = 0; p < r->size; p++) {
		const struct ring_slot *s = &r->slots[p];
		if (s->owner == RING_NONE)
			continue;
		owners_now += now[s->owner]++ == 0;
		owners_future += future[ring_slot_future(s)]++ == 0;
	}
	rc = RING_ECORRUPT;
	if (owners_now != r->owners_now || owners_future != r->owners_future)
		goto out;
	for (uint32_t i = 0; i < r->nnodes; i++)
		if (now[i] != r->held_now[i] || future[i] != r->held_future[i])
			goto out;
	rc = 0;
out:
	free(now);
	free(future);
	return rc;
}

static bool names_valid(const struct ring *r)
{
	if (r->nnodes > r->names_cap || r->nnodes > RING_MAX_NODES ||
	    (r->nnodes > 0 && (r->held_now == NULL || r->held_future == NULL)))
		return false;
	if (r->index_cap < RING_INDEX_MIN ||
	    (r->index_cap & (r->index_cap - 1)) || r->index_cap < 2 * r->nnodes)
		return false;
	uint32_t used = 0;
	for (uint32_t b = 0; b < r->index_cap; b++) {
		if (r->index[b] > r->nnodes)
			return false;
		used += r->index[b] != 0;
	}
	if (used != r->nnodes)
		return false;
	for (uint32_t i = 0; i < r->nnodes; i++) {
		uint32_t found;
		if (!ring_name_valid(r->names[i]) ||
		    ring_node_find(r, r->names[i], &found) != 0 || found != i)
			return false;
	}
	return true;
}

static bool slot_valid(const struct ring *r, const struct ring_slot *s,
                       bool claimed)
{
	if (!claimed)
		return s->owner == RING_NONE && s->next == RING_NONE &&
		       s->writer == RING_NONE && s->version == 0;
	if (s->owner >= r->nnodes || s->writer >= r->nnodes || s->version == 0)
		return false;
	return s->next == RING_NONE ||
	       (s->next < r->nnodes && s->next != s->owner);
}

int ring_validate(const struct ring *r)
{
	if (r == NULL || !ring_size_valid(r->size) || r->slots == NULL ||
	    r->index == NULL || (r->nnodes > 0 && r->names == NULL))
		return RING_ECORRUPT;
	if (!names_valid(r))
		return RING_ECORRUPT;
	bool claimed = r->slots[0].owner != RING_NONE;
	for (uint32_t p = 0; p < r->size; p++)
		if (!slot_valid(r, &r->slots[p], claimed))
			return RING_ECORRUPT;
	return held_valid(r);
}

int ring_compact(struct ring *r)
{
	uint64_t used[RING_BITMAP_WORDS] = {0};
	uint32_t *map = NULL, *index = NULL, *now = NULL, *future = NULL;
	char **names = NULL;
	for (uint32_t p = 0; p < r->size; p++) {
		const struct ring_slot *s = &r->slots[p];
		if (s->owner != RING_NONE)
			ring_bit_set(used, s->owner);
		if (s->next != RING_NONE)
			ring_bit_set(used, s->next);
		if (s->writer != RING_NONE)
			ring_bit_set(used, s->writer);
	}
	uint32_t keep = 0;
	for (uint32_t i = 0; i < r->nnodes; i++)
		keep += ring_bit_get(used, i);
	uint32_t cap = RING_INDEX_MIN, room = keep ? keep : 1;
	while (cap < 2 * keep)
		cap *= 2;
	map = malloc((r->nnodes ? r->nnodes : 1) * sizeof(*map));
	names = malloc(room * sizeof(*names));
	/* Zeroed: ring_intern hands out spare slots without clearing them. */
	now = calloc(room, sizeof(*now));
	future = calloc(room, sizeof(*future));
	index = calloc(cap, sizeof(*index));
	if (map == NULL || names == NULL || now == NULL || future == NULL ||
	    index == NULL)
		goto fail;
	/* Nothing can fail from here on. */
	uint32_t n = 0;
	for (uint32_t i = 0; i < r->nnodes; i++) {
		if (ring_bit_get(used, i)) {
			map[i] = n;
			names[n++] = r->names[i];
		} else {
			map[i] = RING_NONE;
			free(r->names[i]);
		}
	}
	for (uint32_t p = 0; p < r->size; p++) {
		struct ring_slot *s = &r->slots[p];
		if (s->owner != RING_NONE)
			s->owner = map[s->owner];
		if (s->next != RING_NONE)
			s->next = map[s->next];
		if (s->writer != RING_NONE)
			s->writer = map[s->writer];
	}
	for (uint32_t i = 0; i < keep; i++) {
		uint32_t b = name_bucket(names[i], strlen(names[i]), cap);
		while (index[b] != 0)
			b = (b + 1) & (cap - 1);
		index[b] = i + 1;
	}
	free(r->names);
	free(r->held_now);
	free(r->held_future);
	free(r->index);
	free(map);
	r->names = names;
	r->held_now = now;
	r->held_future = future;
	r->names_cap = room;
	r->nnodes = keep;
	r->index = index;
	r->index_cap = cap;
	ring_recount(r);
	return 0;
fail:
	free(map);
	free(names);
	free(now);
	free(future);
	free(index);
	return RING_ENOMEM;
}

/* --- reading ------------------------------------------------------------- */

uint32_t ring_partition_count(const struct ring *r)
{
	return r->size;
}

bool ring_claimed(const struct ring *r)
{
	return r->slots[0].owner != RING_NONE;
}

uint32_t ring_node_count(const struct ring *r)
{
	return r->nnodes;
}

const char *ring_node_name(const struct ring *r, uint32_t node)
{
	return node < r->nnodes ? r->names[node] : NULL;
}

uint32_t ring_owner(const struct ring *r, uint32_t partition)
{
	return partition < r->size ? r->slots[partition].owner : RING_NONE;
}

uint32_t ring_next_owner(const struct ring *r, uint32_t partition)
{
	return partition < r->size ? r->slots[partition].next : RING_NONE;
}

uint32_t ring_future_owner(const struct ring *r, uint32_t partition)
{
	return partition < r->size ? ring_slot_future(&r->slots[partition])
	                           : RING_NONE;
}

uint32_t ring_writer(const struct ring *r, uint32_t partition)
{
	return partition < r->size ? r->slots[partition].writer : RING_NONE;
}

uint64_t ring_version(const struct ring *r, uint32_t partition)
{
	return partition < r->size ? r->slots[partition].version : 0;
}

int ring_partition_get(const struct ring *r, uint32_t partition,
                       struct ring_entry *e)
{
	if (partition >= r->size || e == NULL)
		return RING_EINVAL;
	const struct ring_slot *s = &r->slots[partition];
	e->owner = ring_node_name(r, s->owner);
	e->next_owner = ring_node_name(r, s->next);
	e->version = s->version;
	e->writer = ring_node_name(r, s->writer);
	return 0;
}

uint32_t ring_owned(const struct ring *r, uint32_t node, bool future)
{
	if (node >= r->nnodes)
		return 0;
	return future ? r->held_future[node] : r->held_now[node];
}

uint32_t ring_pending(const struct ring *r)
{
	uint32_t n = 0;
	for (uint32_t p = 0; p < r->size; p++)
		n += r->slots[p].next != RING_NONE;
	return n;
}

/* --- writing ------------------------------------------------------------- */

int ring_partition_set(struct ring *r, uint32_t partition, const char *owner,
                       const char *next_owner, uint64_t version,
                       const char *writer)
{
	struct ring_slot s;
	int rc;
	if (partition >= r->size)
		return RING_EINVAL;
	if (owner == NULL) {
		if (next_owner != NULL || writer != NULL || version != 0)
			return RING_EINVAL;
		slot_clear(&s);
		ring_slot_store(r, partition, &s);
		return 0;
	}
	if (version == 0 || !ring_name_valid(owner) || !ring_name_valid(writer))
		return RING_EINVAL;
	if (next_owner != NULL &&
	    (!ring_name_valid(next_owner) || strcmp(next_owner, owner) == 0))
		return RING_EINVAL;
	s.version = version;
	s.next = RING_NONE;
	if ((rc = ring_intern(r, owner, &s.owner)) != 0)
		return rc;
	if ((rc = ring_intern(r, writer, &s.writer)) != 0)
		return rc;
	if (next_owner != NULL &&
	    (rc = ring_intern(r, next_owner, &s.next)) != 0)
		return rc;
	ring_slot_store(r, partition, &s);
	return 0;
}

/* slot_cmp -- the merge order of two entries (see the top of this file). */
static int slot_cmp(const struct ring *a, const struct ring_slot *sa,
                    const struct ring *b, const struct ring_slot *sb)
{
	int c;
	if (sa->version != sb->version)
		return sa->version < sb->version ? -1 : 1;
	if ((c = ring_name_cmp(a, sa->writer, b, sb->writer)) != 0)
		return c;
	if ((c = ring_name_cmp(a, sa->owner, b, sb->owner)) != 0)
		return c;
	return ring_name_cmp(a, sa->next, b, sb->next);
}

/* map_name -- dst's index for src's node, interning it on first use. */
static int map_name(struct ring *dst, const struct ring *src, uint32_t *map,
                    uint32_t node)
{
	if (node == RING_NONE || map[node] != RING_NONE)
		return 0;
	return ring_intern(dst, src->names[node], &map[node]);
}

int ring_merge(struct ring *dst, const struct ring *src, bool *changed)
{
	uint32_t *map = NULL;
	int rc = RING_EINVAL;
	bool any = false;
	if (dst == NULL || src == NULL || dst->size != src->size)
		goto fail;
	rc = RING_ENOMEM;
	map = malloc((src->nnodes ? src->nnodes : 1) * sizeof(*map));
	if (map == NULL)
		goto fail;
	for (uint32_t i = 0; i < src->nnodes; i++)
		map[i] = RING_NONE;
	/* First learn every name a winning entry needs, so that a failure
	 * leaves dst's partitions as they were. */
	for (uint32_t p = 0; p < src->size; p++) {
		const struct ring_slot *s = &src->slots[p];
		if (slot_cmp(src, s, dst, &dst->slots[p]) <= 0)
			continue;
		if ((rc = map_name(dst, src, map, s->owner)) != 0 ||
		    (rc = map_name(dst, src, map, s->next)) != 0 ||
		    (rc = map_name(dst, src, map, s->writer)) != 0)
			goto fail;
	}
	for (uint32_t p = 0; p < src->size; p++) {
		const struct ring_slot *s = &src->slots[p];
		if (slot_cmp(src, s, dst, &dst->slots[p]) <= 0)
			continue;
		struct ring_slot d = {
		    .version = s->version,
		    .owner = s->owner == RING_NONE ? RING_NONE : map[s->owner],
		    .next = s->next == RING_NONE ? RING_NONE : map[s->next],
		    .writer =
		        s->writer == RING_NONE ? RING_NONE : map[s->writer],
		};
		ring_slot_store(dst, p, &d);
		any = true;
	}
	if (changed != NULL)
		*changed = any;
	free(map);
	return 0;
fail:
	free(map);
	return rc;
}

bool ring_equal(const struct ring *a, const struct ring *b)
{
	if (a->size != b->size)
		return false;
	for (uint32_t p = 0; p < a->size; p++)
		if (slot_cmp(a, &a->slots[p], b, &b->slots[p]) != 0)
			return false;
	return true;
}

static uint64_t digest_u64(uint64_t h, uint64_t v)
{
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >>
		                       (8 * i)); /* little-endian everywhere */
	return XXH3_64bits_withSeed(b, sizeof(b), h);
}

static uint64_t digest_name(uint64_t h, const struct ring *r, uint32_t node)
{
	if (node == RING_NONE)
		return XXH3_64bits_withSeed("", 0, h);
	/* The NUL is hashed too, so ("ab","c") and ("a","bc") differ. */
	return XXH3_64bits_withSeed(r->names[node], strlen(r->names[node]) + 1,
	                            h);
}

uint64_t ring_digest(const struct ring *r)
{
	uint64_t h = digest_u64(RING_HASH_SEED, r->size);
	for (uint32_t p = 0; p < r->size; p++) {
		const struct ring_slot *s = &r->slots[p];
		h = digest_u64(h, s->version);
		h = digest_name(h, r, s->owner);
		h = digest_name(h, r, s->next);
		h = digest_name(h, r, s->writer);
	}
	return h;
}
