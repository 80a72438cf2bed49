/* plan.c -- rebalancing in steps: plan, commit, stream, flip.
 *
 * Changing a partition's owner means moving its data, which takes time, and
 * reads and writes must keep working meanwhile. So ownership changes in two
 * ring updates per partition, each an ordinary versioned entry that gossip
 * spreads like any other:
 *
 *     owner A, next -     plan:   the operator sees "p: A -> B"
 *          |                      (ring_plan_new between the ring and the
 *          |                       claim's target)
 *     owner A, next B     commit: ring_plan_commit, version + 1
 *          |                      A streams p to B; coordinators also send
 *          |                      p's writes to B
 *     owner B, next -     flip:   ring_flip when the stream is done,
 *                                 version + 1; A drops its copy later
 *
 * A plan remembers the version of every partition it moves; committing it
 * on a ring where one of them has changed since (a flip, another commit
 * gossiped in) fails with RING_ESTALE instead of overwriting a decision it
 * never saw, and the operator plans again. Commit is all or nothing.
 *
 * A plan is computed against where the ring is heading (future owners), so
 * planning while transfers are still pending extends them rather than
 * undoing them; a move whose target is the current owner (possible when a
 * pending transfer's receiver left) cancels that transfer.
 */
#include "ring_int.h"

#include <stdlib.h>
#include <string.h>

/* plan_name -- the plan's copy of a ring's name, made on first use; map
 * caches it per ring index. */
static const char *plan_name(struct ring_plan *plan, const struct ring *r,
                             uint32_t *map, uint32_t node)
{
	if (map[node] == RING_NONE) {
		char *copy = strdup(r->names[node]);
		if (copy == NULL)
			return NULL;
		map[node] = (uint32_t)plan->nnames;
		plan->names[plan->nnames++] = copy;
	}
	return plan->names[map[node]];
}

int ring_plan_new(const struct ring *cur, const struct ring *target,
                  struct ring_plan **out)
{
	struct ring_plan *plan = NULL;
	uint32_t *map_cur = NULL, *map_target = NULL;
	size_t n = 0;
	int rc = RING_EINVAL;
	if (cur == NULL || target == NULL || out == NULL ||
	    cur->size != target->size || !ring_claimed(cur) ||
	    !ring_claimed(target))
		goto fail;
	for (uint32_t p = 0; p < cur->size; p++)
		n +=
		    ring_name_cmp(cur, ring_slot_future(&cur->slots[p]), target,
		                  ring_slot_future(&target->slots[p])) != 0;
	rc = RING_ENOMEM;
	plan = calloc(1, sizeof(*plan));
	map_cur = malloc(cur->nnodes * sizeof(*map_cur));
	map_target = malloc(target->nnodes * sizeof(*map_target));
	if (plan == NULL || map_cur == NULL || map_target == NULL)
		goto fail;
	plan->moves = calloc(n ? n : 1, sizeof(*plan->moves));
	plan->names =
	    calloc(cur->nnodes + target->nnodes, sizeof(*plan->names));
	if (plan->moves == NULL || plan->names == NULL)
		goto fail;
	memset(map_cur, 0xff, cur->nnodes * sizeof(*map_cur));
	memset(map_target, 0xff, target->nnodes * sizeof(*map_target));
	for (uint32_t p = 0; p < cur->size; p++) {
		const struct ring_slot *c = &cur->slots[p];
		uint32_t to = ring_slot_future(&target->slots[p]);
		if (ring_name_cmp(cur, ring_slot_future(c), target, to) == 0)
			continue;
		struct ring_move *m = &plan->moves[plan->nmoves++];
		m->partition = p;
		m->base_version = c->version;
		m->from = plan_name(plan, cur, map_cur, c->owner);
		m->to = plan_name(plan, target, map_target, to);
		if (m->from == NULL || m->to == NULL)
			goto fail;
	}
	free(map_cur);
	free(map_target);
	*out = plan;
	return 0;
fail:
	free(map_cur);
	free(map_target);
	ring_plan_free(plan);
	return rc;
}

void ring_plan_free(struct ring_plan *plan)
{
	if (plan == NULL)
		return;
	for (size_t i = 0; i < plan->nnames; i++)
		free(plan->names[i]);
	free(plan->names);
	free(plan->moves);
	free(plan);
}

/* plan_check -- every move well formed, in partition order, and about a
 * partition unchanged since planning. */
static int plan_check(const struct ring *r, const struct ring_plan *plan)
{
	for (size_t i = 0; i < plan->nmoves; i++) {
		const struct ring_move *m = &plan->moves[i];
		if (m->partition >= r->size || !ring_name_valid(m->from) ||
		    !ring_name_valid(m->to) ||
		    (i > 0 && m->partition <= plan->moves[i - 1].partition))
			return RING_EINVAL;
	}
	for (size_t i = 0; i < plan->nmoves; i++) {
		const struct ring_move *m = &plan->moves[i];
		const struct ring_slot *s = &r->slots[m->partition];
		uint32_t from;
		if (s->version != m->base_version ||
		    ring_node_find(r, m->from, &from) != 0 || from != s->owner)
			return RING_ESTALE;
	}
	return 0;
}

int ring_plan_commit(struct ring *r, const struct ring_plan *plan,
                     const char *writer)
{
	uint32_t w, to;
	int rc;
	if (r == NULL || plan == NULL ||
	    (plan->nmoves > 0 && plan->moves == NULL))
		return RING_EINVAL;
	if (!ring_name_valid(writer) || !ring_claimed(r))
		return RING_EINVAL;
	if ((rc = plan_check(r, plan)) != 0)
		return rc;
	/* Learn every name first: after this nothing can fail. */
	if ((rc = ring_intern(r, writer, &w)) != 0)
		return rc;
	for (size_t i = 0; i < plan->nmoves; i++)
		if ((rc = ring_intern(r, plan->moves[i].to, &to)) != 0)
			return rc;
	for (size_t i = 0; i < plan->nmoves; i++) {
		const struct ring_move *m = &plan->moves[i];
		struct ring_slot s = r->slots[m->partition];
		ring_node_find(r, m->to, &to);
		s.next = to == s.owner ? RING_NONE : to;
		s.version++;
		s.writer = w;
		ring_slot_store(r, m->partition, &s);
	}
	return 0;
}

int ring_flip(struct ring *r, uint32_t partition, const char *writer)
{
	uint32_t w;
	int rc;
	if (r == NULL || partition >= r->size || !ring_name_valid(writer) ||
	    r->slots[partition].next == RING_NONE)
		return RING_EINVAL;
	if ((rc = ring_intern(r, writer, &w)) != 0)
		return rc;
	struct ring_slot s = r->slots[partition];
	s.owner = s.next;
	s.next = RING_NONE;
	s.version++;
	s.writer = w;
	ring_slot_store(r, partition, &s);
	return 0;
}

/* Whether node is among prefs[0..n). */
static bool plan_pref_has(const struct ring_pref *prefs, size_t n,
                          uint32_t node)
{
	for (size_t i = 0; i < n; i++)
		if (prefs[i].node == node)
			return true;
	return false;
}

int ring_move_targets(const struct ring *r, uint32_t partition, unsigned n_val,
                      uint32_t *ranges, uint32_t *targets, size_t *nout)
{
	struct ring_pref now[RING_MAX_N_VAL], fut[RING_MAX_N_VAL];
	size_t nnow = 0, nfut = 0, n = 0;
	uint32_t from;

	if (r == NULL || ranges == NULL || targets == NULL || nout == NULL ||
	    !ring_claimed(r) || partition >= r->size || n_val == 0 ||
	    n_val > RING_MAX_N_VAL || r->slots[partition].next == RING_NONE)
		return RING_EINVAL;
	from = r->slots[partition].owner;
	/* Walks only get shorter going back (each starts with one more
	 * owner), so the first p whose walk now ends before `partition` is
	 * the last one that could reach it. */
	for (uint32_t d = 0; d < r->size; d++) {
		uint32_t p = (partition - d) & (r->size - 1);
		uint32_t reach = 0;
		ring_preflist(r, p, n_val, NULL, 0, now, &nnow);
		for (size_t i = 0; i < nnow; i++) {
			uint32_t dist = (now[i].partition - p) & (r->size - 1);
			reach = dist > reach ? dist : reach;
		}
		if (reach < d)
			break;
		if (!plan_pref_has(now, nnow, from))
			continue;
		ring_preflist_future(r, p, n_val, fut, &nfut);
		for (size_t i = 0; i < nfut; i++) {
			if (plan_pref_has(now, nnow, fut[i].node))
				continue;
			ranges[n] = p;
			targets[n++] = fut[i].node;
		}
	}
	*nout = n;
	return 0;
}
