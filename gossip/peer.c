/* peer.c -- whom to gossip with each round.
 *
 * Epidemic dissemination needs only that each round every node pushes its
 * state to one peer chosen uniformly at random: a rumour known to one node
 * then reaches all n in about log2(n) + ln(n) rounds (Demers et al.,
 * "Epidemic Algorithms for Replicated Database Maintenance", PODC 1987;
 * tests/sim_gossip.c measures it). Three refinements, as in Apache
 * Cassandra's gossiper:
 *
 *   - only members the failure detector holds up are ordinary targets, so
 *     rounds are not wasted on the dead;
 *   - but now and then a member held down is tried, with probability
 *     down / (live + 1), so that when a crashed node restarts or a
 *     partition heals, someone talks to it and both sides learn. Cassandra
 *     sends that message in addition to the live one; we send it instead
 *     (one message per node per round keeps the load predictable), capping
 *     the probability at 1/2 so that a cluster with many dead members
 *     still spends most rounds on live ones;
 *   - a node that knows no live member -- it just started, or it is cut off
 *     -- talks to a seed from its configuration, which is how a fresh node
 *     finds the cluster at all.
 *
 * Two passes over the table: evaluate every detector once, noting the
 * verdicts in a bitmap and counting live and down; then walk the bitmap to
 * the k-th member of the chosen kind.
 */
#include "gossip_int.h"

#include <string.h>

/* DOWN_PICK_MAX -- the cap on the probability of a down pick. */
#define DOWN_PICK_MAX 0.5

/* nth_member -- the slot of the k-th member (from 0, us excluded) whose
 * bit in alive[] equals want. */
static uint32_t nth_member(const struct gossip *g, const uint64_t *alive,
                           bool want, uint64_t k)
{
	for (uint32_t i = 1; i < g->count; i++) {
		bool up = (alive[i / 64] >> (i % 64)) & 1;
		if (up == want && k-- == 0)
			return i;
	}
	return GOSSIP_NIL; /* not reached: the caller counted */
}

static bool seed_usable(const struct gossip *g, const char *seed)
{
	return seed != NULL && seed[0] != '\0' &&
	       strcmp(seed, gossip_slot_addr(g, &g->slots[0])) != 0;
}

int gossip_peer_pick(const struct gossip *g, uint64_t now_ms, struct rng *rng,
                     const char *const *seeds, size_t nseeds,
                     struct gossip_peer *out)
{
	if (g == NULL || rng == NULL || out == NULL ||
	    (seeds == NULL && nseeds > 0) || nseeds > GOSSIP_MAX_MEMBERS)
		return GOSSIP_EINVAL;
	/* The verdicts, once: 512 bytes of stack for 4096 members. */
	uint64_t alive[GOSSIP_MAX_MEMBERS / 64] = {0};
	uint64_t live = 0, down = 0;
	for (uint32_t i = 1; i < g->count; i++) {
		if (gossip_slot_alive(g, i, now_ms)) {
			alive[i / 64] |= UINT64_C(1) << (i % 64);
			live++;
		} else {
			down++;
		}
	}
	bool pick_down;
	if (live > 0) {
		double p = (double)down / ((double)live + 1.0);
		if (p > DOWN_PICK_MAX)
			p = DOWN_PICK_MAX;
		pick_down = down > 0 && rng_double(rng) < p;
	} else {
		size_t usable = 0;
		for (size_t k = 0; k < nseeds; k++)
			usable += seed_usable(g, seeds[k]);
		if (usable > 0) {
			uint64_t pick = rng_below(rng, usable);
			for (size_t k = 0; k < nseeds; k++) {
				if (!seed_usable(g, seeds[k]) || pick-- != 0)
					continue;
				out->kind = GOSSIP_PEER_SEED;
				out->member = GOSSIP_NONE;
				out->addr = seeds[k];
				return 0;
			}
		}
		if (down == 0)
			return GOSSIP_ENOTFOUND;
		pick_down = true;
	}
	uint64_t k = rng_below(rng, pick_down ? down : live);
	uint32_t i = nth_member(g, alive, !pick_down, k);
	if (i == GOSSIP_NIL)
		return GOSSIP_ENOTFOUND;
	out->kind = pick_down ? GOSSIP_PEER_DOWN : GOSSIP_PEER_LIVE;
	out->member = i;
	out->addr = gossip_slot_addr(g, &g->slots[i]);
	return 0;
}
