/* preflist.c -- the nodes that hold a key: primaries, then fallbacks.
 *
 * A key lives in partition p (ring_partition_of). Its replicas are found by
 * walking the ring clockwise from p:
 *
 *     partition   p    p+1   p+2   p+3   p+4   p+5  ...
 *     owner       A    B     A     C     D     E
 *     taken       A    B     .     C  |  D     E        (n_val = 3)
 *
 * Owners already taken are skipped, so the first n_val DISTINCT owners are
 * the primaries (A, B, C): a node never holds two replicas of a key even
 * when claim could not space it perfectly. Past the last primary the walk
 * goes on only when a primary is down: each down primary is replaced, in
 * walk order, by the next distinct owner that is up (B down -> D stands in
 * for B and stores a hint naming B, the sloppy quorum of Dynamo). Because
 * the walk is deterministic, every coordinator that agrees on the ring and
 * on who is down picks the same fallbacks, and the fallbacks are the nodes
 * that become primaries if the down node is removed -- the data is already
 * close to where it will live.
 *
 * The walk is bounded: it stops at n_val primaries plus one fallback per
 * down primary, after Q partitions, or once it has met every distinct owner
 * of the ring (counted when the ring changes), so a small cluster on a big
 * ring does not scan the whole ring for replicas that do not exist.
 */
#include "ring_int.h"

/* preflist_walk -- shared by ring_preflist (future = false, with a down
 * set) and ring_preflist_future (future = true, no down set). */
static int preflist_walk(const struct ring *r, uint32_t partition,
                         unsigned n_val, bool future, const uint64_t *down,
                         struct ring_pref *out, size_t *nout)
{
	uint64_t seen[RING_BITMAP_WORDS] = {0};
	struct ring_pref prim[RING_MAX_N_VAL], fall[RING_MAX_N_VAL];
	uint32_t nprim = 0, nfall = 0, ndown = 0, met = 0;
	uint32_t owners = future ? r->owners_future : r->owners_now;
	if (out == NULL || nout == NULL || partition >= r->size || n_val == 0 ||
	    n_val > RING_MAX_N_VAL || !ring_claimed(r))
		return RING_EINVAL;
	for (uint32_t i = 0; i < r->size && met < owners; i++) {
		if (nprim == n_val && nfall == ndown)
			break;
		uint32_t q = (partition + i) & (r->size - 1);
		const struct ring_slot *s = &r->slots[q];
		uint32_t o = future ? ring_slot_future(s) : s->owner;
		if (ring_bit_get(seen, o))
			continue;
		ring_bit_set(seen, o);
		met++;
		bool is_down = down != NULL && ring_bit_get(down, o);
		if (nprim < n_val) {
			prim[nprim++] = (struct ring_pref){o, q, RING_NONE};
			ndown += is_down;
		} else if (!is_down) {
			fall[nfall++] = (struct ring_pref){o, q, RING_NONE};
		}
	}
	size_t n = 0;
	for (uint32_t i = 0, f = 0; i < nprim; i++) {
		if (down == NULL || !ring_bit_get(down, prim[i].node)) {
			out[n++] = prim[i];
		} else if (f < nfall) {
			out[n] = fall[f++];
			out[n++].stands_for = prim[i].node;
		}
	}
	*nout = n;
	return 0;
}

int ring_preflist(const struct ring *r, uint32_t partition, unsigned n_val,
                  const char *const *down, size_t ndown, struct ring_pref *out,
                  size_t *nout)
{
	uint64_t map[RING_BITMAP_WORDS] = {0};
	bool any = false;
	if (ndown > 0 && down == NULL)
		return RING_EINVAL;
	for (size_t i = 0; i < ndown; i++) {
		uint32_t node;
		if (ring_node_find(r, down[i], &node) == 0) {
			ring_bit_set(map, node);
			any = true;
		}
	}
	return preflist_walk(r, partition, n_val, false, any ? map : NULL, out,
	                     nout);
}

int ring_preflist_future(const struct ring *r, uint32_t partition,
                         unsigned n_val, struct ring_pref *out, size_t *nout)
{
	return preflist_walk(r, partition, n_val, true, NULL, out, nout);
}
