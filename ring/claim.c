/* claim.c -- which node owns which partition: balanced, stable, spread out.
 *
 * Claim answers one question: given the ring we have and the set of nodes
 * that should own it, who should own each partition? Three goals, in order:
 *
 *   1. BALANCE. With S members and Q partitions every member owns
 *      floor(Q/S) or ceil(Q/S). That fixes how many members get the extra
 *      one: r = Q mod S of them.
 *   2. FEW MOVES. Every partition that changes hands is a range of data
 *      streamed over the network, so claim moves only what balance forces:
 *      the partitions of nodes that are no longer members, and from each
 *      member holding more than its share, the surplus. Choosing which r
 *      members get the ceiling ("those holding most now") makes that surplus
 *      as small as it can be; partitions then go only from over-full to
 *      under-full members, so the number moved is the lower bound
 *
 *          orphans + sum over members of max(0, held - target)
 *
 *      plus the few moves goal 3 may buy.
 *
 *   3. SPACING. A preference list is the owners of the partitions after the
 *      key's, so if a node owned two partitions fewer than n_val apart, some
 *      keys would have two replicas on one node. Claim tries to keep every
 *      window of target_n consecutive partitions on distinct nodes (Riak's
 *      target_n_val). Spacing never costs balance. It mostly steers which
 *      partition goes to which under-full member, for free; when that is not
 *      enough it may spend a few moves beyond the minimum (at most Q/25, see
 *      claim_chain), and past that budget it gives up and leaves a
 *      partition crowded. The preference list still skips the repeated
 *      owner, so crowding costs distance, never a replica.
 *
 * FOUNDING RING. From nothing, the members are sorted by name and dealt
 * round-robin -- 0 1 2 .. S-1 0 1 2 .. -- which spaces every node S apart,
 * except across the wrap: when Q = mS + r with 0 < r < target_n, the last
 * short round (0 .. r-1) runs into the first and puts a node within r of
 * itself. Two repairs, tried in order:
 *
 *   - shift the short round: deal ranks d .. d+r-1 (d = target_n - r) at the
 *     tail instead, which keeps every gap >= target_n when S + r >= 2
 *     target_n;
 *   - otherwise lengthen the tail to a full window 0 .. target_n-1 and pay
 *     for the extra k = target_n - r deals by leaving one node out of each of
 *     the first k rounds (rank target_n-1 from round 0, target_n-2 from round
 *     1, ...), the fix Riak's claim documentation describes; it needs
 *     S > target_n and k full rounds to borrow from.
 *
 * Fewer than target_n members cannot be spaced (a window needs target_n
 * distinct nodes); the spacing used is then min(target_n, S). Sorting makes
 * the founding ring a function of the member set alone, so every founder
 * computes it independently and gets the same bytes.
 *
 * REBALANCE. From a claimed ring, claim starts from where the ring is
 * heading (next owners of pending transfers count as owners) and assigns
 * the partitions that must move in passes over the ring, each visiting
 * partitions in order:
 *
 *   1. partitions of departed nodes, to an under-full member that does not
 *      own a partition within target_n - 1 on either side;
 *   2. surplus partitions of over-full members, likewise -- first those
 *      sitting too close to another of their owner's (moving them repairs
 *      spacing for free), then any;
 *   3. and 4. whatever 1 and 2 could not place without crowding: through
 *      a chain of two moves when one exists (p goes to a member owning
 *      nothing near p, which hands one of its own partitions to the
 *      under-full member, where that fits), else to the under-full member
 *      crowding it least.
 *
 * Growing a well-spaced cluster this way moved exactly the minimum and
 * stayed spaced in every case measured. Shrinking a small cluster is where
 * spacing breaks: with six nodes dealt round robin, the partitions of a
 * leaving node all sit between the same four neighbours, and the only
 * member allowed there can absorb a fraction of them. Fixing that means
 * re-dealing most of the ring, which claim does not do on its own
 * (docs/ring.md has the measured numbers).
 *
 * Among acceptable members the one furthest below its target wins, then the
 * smallest name: every choice depends on names and counts only, never on a
 * ring's private numbering, so every node computes the same target.
 */
#include "ring_int.h"

#include <stdlib.h>
#include <string.h>

#define CLAIM_ORPHAN RING_NONE

/* Spacing may cost at most Q / 25 (4% of Q) moves beyond the minimum, and
 * the search for them at most 4 Q candidate partitions in all: where no
 * chain exists (a small cluster shrinking), each failed search would
 * otherwise scan the whole ring. */
#define CLAIM_EXTRA_DIVISOR 25
#define CLAIM_CHAIN_WORK    4

/* The working state of one rebalance, in member ranks (positions in the
 * sorted member list) rather than ring indices. */
struct claim {
	uint32_t q;       /* partitions */
	uint32_t s;       /* members */
	unsigned w;       /* spacing window: partitions on each side checked */
	uint32_t *own;    /* [q] rank owning each partition, or CLAIM_ORPHAN */
	uint32_t *count;  /* [s] partitions held */
	uint32_t *target; /* [s] partitions to hold */
	uint32_t *needy;  /* ranks with count < target, in no order */
	uint32_t nneedy;
	uint32_t extra_left; /* moves beyond the minimum still allowed */
	uint64_t chain_work; /* chain candidates claim_chain may still try */
};

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* sorted_members -- a sorted copy of the member pointers; RING_EINVAL on
 * an invalid or repeated name. *out is malloc'ed, pointing into members. */
static int sorted_members(const char *const *members, size_t n,
                          const char ***out)
{
	const char **v = malloc(n * sizeof(*v));
	if (v == NULL)
		return RING_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!ring_name_valid(members[i]))
			goto invalid;
		v[i] = members[i];
	}
	qsort(v, n, sizeof(*v), cmp_names);
	for (size_t i = 1; i < n; i++)
		if (strcmp(v[i - 1], v[i]) == 0)
			goto invalid;
	*out = v;
	return 0;
invalid:
	free(v);
	return RING_EINVAL;
}

/* --- the founding ring --------------------------------------------------- */

/* claim_deal -- the founding sequence of ranks (see the top of the file):
 * seq[p] is the rank owning partition p; n is the spacing aimed for,
 * already at most s. */
static void claim_deal(uint32_t q, uint32_t s, uint32_t n, uint32_t *seq)
{
	uint32_t m = q / s, r = q % s;
	uint32_t p = 0;
	if (s >= q || r == 0 || r >= n) {
		for (p = 0; p < q; p++)
			seq[p] =
			    p % s; /* plain round robin is spaced already */
		return;
	}
	if (s + r >= 2 * n) {
		uint32_t d = n - r; /* shifted short round */
		for (; p < m * s; p++)
			seq[p] = p % s;
		for (uint32_t i = 0; i < r; i++)
			seq[p++] = d + i;
		return;
	}
	uint32_t k = n - r; /* rounds that each lend one deal to the tail */
	if (s <= n || k > m) {
		for (p = 0; p < q; p++)
			seq[p] = p % s; /* cannot be spaced: best effort */
		return;
	}
	for (uint32_t round = 0; round < m; round++) {
		uint32_t skip = round < k ? n - 1 - round : RING_NONE;
		for (uint32_t x = 0; x < s; x++)
			if (x != skip)
				seq[p++] = x;
	}
	for (uint32_t x = 0; x < n; x++)
		seq[p++] = x;
}

static int claim_found(uint32_t q, const char **sorted, uint32_t s,
                       unsigned target_n, struct ring **out)
{
	struct ring *r = NULL;
	uint32_t *seq = NULL;
	int rc = ring_new(q, &r);
	if (rc != 0)
		goto fail;
	rc = RING_ENOMEM;
	seq = malloc(q * sizeof(*seq));
	if (seq == NULL)
		goto fail;
	for (uint32_t i = 0; i < s; i++) {
		uint32_t id;
		if ((rc = ring_intern(r, sorted[i], &id)) != 0)
			goto fail; /* id == i: a fresh ring, names in order */
	}
	claim_deal(q, s, target_n < s ? target_n : s, seq);
	for (uint32_t p = 0; p < q; p++) {
		struct ring_slot *sl = &r->slots[p];
		sl->owner = seq[p];
		sl->writer = seq[p];
		sl->version = 1;
		sl->next = RING_NONE;
	}
	ring_recount(r);
	free(seq);
	*out = r;
	return 0;
fail:
	free(seq);
	ring_free(r);
	return rc;
}

/* --- rebalance ----------------------------------------------------------- */

/* claim_crowding -- how many partitions within c->w of p (either side,
 * p itself excluded) rank t owns: 0 means t may take p. */
static unsigned claim_crowding(const struct claim *c, uint32_t p, uint32_t t)
{
	unsigned n = 0;
	for (uint32_t d = 1; d <= c->w; d++) {
		uint32_t ahead = (p + d) % c->q, behind = (p + c->q - d) % c->q;
		if (ahead != p && c->own[ahead] == t)
			n++;
		if (behind != p && behind != ahead && c->own[behind] == t)
			n++;
	}
	return n;
}

/* claim_choose -- the best under-full rank to take p: least crowding, then
 * furthest below target, then lowest rank. *crowding is its crowding.
 * CLAIM_ORPHAN when no rank is under-full. */
static uint32_t claim_choose(const struct claim *c, uint32_t p,
                             unsigned *crowding)
{
	uint32_t best = CLAIM_ORPHAN;
	unsigned best_crowd = 0;
	uint32_t best_need = 0;
	for (uint32_t i = 0; i < c->nneedy; i++) {
		uint32_t t = c->needy[i];
		unsigned crowd = claim_crowding(c, p, t);
		uint32_t need = c->target[t] - c->count[t];
		if (best != CLAIM_ORPHAN &&
		    (crowd > best_crowd ||
		     (crowd == best_crowd &&
		      (need < best_need || (need == best_need && t > best)))))
			continue;
		best = t;
		best_crowd = crowd;
		best_need = need;
	}
	*crowding = best_crowd;
	return best;
}

static void claim_assign(struct claim *c, uint32_t p, uint32_t t)
{
	if (c->own[p] != CLAIM_ORPHAN)
		c->count[c->own[p]]--;
	c->own[p] = t;
	if (++c->count[t] < c->target[t])
		return;
	for (uint32_t i = 0; i < c->nneedy; i++) {
		if (c->needy[i] == t) {
			c->needy[i] = c->needy[--c->nneedy];
			break;
		}
	}
}

/* claim_surplus -- p belongs to an over-full member; with crowded_only, one
 * that also sits too close to another of its own partitions. */
static bool claim_surplus(const struct claim *c, uint32_t p, bool crowded_only)
{
	uint32_t d = c->own[p];
	if (d == CLAIM_ORPHAN || c->count[d] <= c->target[d])
		return false;
	return !crowded_only || claim_crowding(c, p, d) > 0;
}

/* claim_chain -- place p without crowding at the price of one extra move:
 * give p to a member u that owns nothing near it, and one of u's
 * partitions q, further round the ring, to an under-full member that fits
 * there. u's count is unchanged, so balance is as if p had gone straight to
 * the under-full member. Deterministic: the first such q after p wins,
 * and the work budget is spent the same way on every node. */
static bool claim_chain(struct claim *c, uint32_t p)
{
	uint32_t near[2 * RING_MAX_N_VAL];
	unsigned nnear = 0;
	for (uint32_t d = 1; d <= c->w; d++) {
		near[nnear++] = c->own[(p + d) % c->q];
		near[nnear++] = c->own[(p + c->q - d) % c->q];
	}
	for (uint32_t i = 1; i < c->q; i++) {
		uint32_t q = (p + i) % c->q, u = c->own[q];
		bool crowds = u == CLAIM_ORPHAN || u == c->own[p];
		for (unsigned k = 0; k < nnear && !crowds; k++)
			crowds = near[k] == u;
		if (crowds)
			continue;
		if (c->chain_work == 0)
			return false;
		c->chain_work--;
		unsigned crowd;
		uint32_t t = claim_choose(c, q, &crowd);
		if (t == CLAIM_ORPHAN || crowd > 0)
			continue;
		claim_assign(c, p, u);
		claim_assign(c, q, t);
		c->extra_left--;
		return true;
	}
	return false;
}

/* claim_pass -- one sweep over the ring, moving orphans (orphans) or surplus
 * partitions (!orphans) to the best taker; with forced, a partition no
 * taker fits is placed by claim_chain() while the budget lasts, else on the
 * taker crowded least. */
static void claim_pass(struct claim *c, bool orphans, bool crowded_only,
                       bool forced)
{
	for (uint32_t p = 0; p < c->q && c->nneedy > 0; p++) {
		if (orphans ? c->own[p] != CLAIM_ORPHAN
		            : !claim_surplus(c, p, crowded_only))
			continue;
		unsigned crowd;
		uint32_t t = claim_choose(c, p, &crowd);
		if (t == CLAIM_ORPHAN || (crowd > 0 && !forced))
			continue;
		if (crowd > 0 && c->extra_left > 0 && claim_chain(c, p))
			continue;
		claim_assign(c, p, t);
	}
}

/* A (held, rank) pair, to pick who gets the ceiling. */
struct claim_rank {
	uint32_t held;
	uint32_t rank;
};

static int cmp_rank(const void *a, const void *b)
{
	const struct claim_rank *x = a, *y = b;
	if (x->held != y->held)
		return x->held > y->held ? -1 : 1; /* most held first */
	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* claim_targets -- floor(Q/S) each, plus one for the r members holding
 * most now (ties: lowest rank), which keeps the surplus smallest. Fills
 * target[] and needy[]. */
static int claim_targets(struct claim *c)
{
	struct claim_rank *v = malloc(c->s * sizeof(*v));
	if (v == NULL)
		return RING_ENOMEM;
	for (uint32_t i = 0; i < c->s; i++) {
		v[i].held = c->count[i];
		v[i].rank = i;
	}
	qsort(v, c->s, sizeof(*v), cmp_rank);
	for (uint32_t i = 0; i < c->s; i++)
		c->target[v[i].rank] = c->q / c->s + (i < c->q % c->s);
	free(v);
	c->nneedy = 0;
	for (uint32_t i = 0; i < c->s; i++)
		if (c->count[i] < c->target[i])
			c->needy[c->nneedy++] = i;
	return 0;
}

static int claim_rebalance(const struct ring *cur, const char **sorted,
                           uint32_t s, unsigned target_n, struct ring **out)
{
	struct claim c = {.q = cur->size,
	                  .s = s,
	                  .extra_left = cur->size / CLAIM_EXTRA_DIVISOR,
	                  .chain_work = (uint64_t)cur->size * CLAIM_CHAIN_WORK};
	uint32_t *midx = NULL, *rank_of = NULL;
	struct ring *r = ring_dup(cur);
	int rc = RING_ENOMEM;
	if (r == NULL)
		goto fail;
	c.w = (target_n < s ? target_n : s) - 1;
	midx = malloc(s * sizeof(*midx));
	c.own = malloc(c.q * sizeof(*c.own));
	c.count = calloc(s, sizeof(*c.count));
	c.target = malloc(s * sizeof(*c.target));
	c.needy = malloc(s * sizeof(*c.needy));
	if (midx == NULL || c.own == NULL || c.count == NULL ||
	    c.target == NULL || c.needy == NULL)
		goto fail;
	for (uint32_t i = 0; i < s; i++)
		if ((rc = ring_intern(r, sorted[i], &midx[i])) != 0)
			goto fail;
	rc = RING_ENOMEM;
	rank_of = malloc(r->nnodes * sizeof(*rank_of));
	if (rank_of == NULL)
		goto fail;
	for (uint32_t i = 0; i < r->nnodes; i++)
		rank_of[i] = CLAIM_ORPHAN;
	for (uint32_t i = 0; i < s; i++)
		rank_of[midx[i]] = i;
	for (uint32_t p = 0; p < c.q; p++) {
		c.own[p] = rank_of[ring_slot_future(&r->slots[p])];
		if (c.own[p] != CLAIM_ORPHAN)
			c.count[c.own[p]]++;
	}
	if ((rc = claim_targets(&c)) != 0)
		goto fail;

	claim_pass(&c, true, false, false);  /* 1. orphans, well spaced */
	claim_pass(&c, false, true, false);  /* 2. crowded surplus, spaced */
	claim_pass(&c, false, false, false); /*    any surplus, spaced */
	claim_pass(&c, true, false, true);   /* 3. orphans left, forced */
	claim_pass(&c, false, true, true);   /* 4. surplus left, forced */
	claim_pass(&c, false, false, true);

	for (uint32_t p = 0; p < c.q; p++) {
		/* Cannot happen: under-full room always covers the orphans. */
		if (c.own[p] == CLAIM_ORPHAN) {
			rc = RING_EINVAL;
			goto fail;
		}
		r->slots[p].owner = midx[c.own[p]];
		r->slots[p].next = RING_NONE;
	}
	ring_recount(r);
	*out = r;
	r = NULL;
	rc = 0;
fail:
	free(midx);
	free(rank_of);
	free(c.own);
	free(c.count);
	free(c.target);
	free(c.needy);
	ring_free(r);
	return rc;
}

int ring_claim(const struct ring *cur, const char *const *members,
               size_t nmembers, unsigned target_n, struct ring **out)
{
	const char **sorted = NULL;
	int rc;
	if (cur == NULL || members == NULL || out == NULL || nmembers == 0 ||
	    target_n == 0 || target_n > RING_MAX_N_VAL)
		return RING_EINVAL;
	if (nmembers > RING_MAX_NODES)
		return RING_ETOOBIG;
	if ((rc = sorted_members(members, nmembers, &sorted)) != 0)
		return rc;
	if (ring_claimed(cur))
		rc = claim_rebalance(cur, sorted, (uint32_t)nmembers, target_n,
		                     out);
	else
		rc = claim_found(cur->size, sorted, (uint32_t)nmembers,
		                 target_n, out);
	free(sorted);
	return rc;
}

uint32_t ring_spacing_violations(const struct ring *r, unsigned target_n)
{
	uint32_t bad = 0;
	if (!ring_claimed(r))
		return 0;
	for (uint32_t p = 0; p < r->size; p++) {
		uint32_t o = ring_slot_future(&r->slots[p]);
		for (uint32_t d = 1; d < target_n && d < r->size; d++) {
			if (ring_slot_future(&r->slots[(p + d) % r->size]) ==
			    o) {
				bad++;
				break;
			}
		}
	}
	return bad;
}
