/* admin.c -- staged cluster changes, plans and commits, and our own
 * membership status (admin.h).
 *
 * A plan is made in three steps, each a pure ring/ call:
 *
 *   members  who owns partitions once pending transfers are done, plus
 *            the joining members that are up, minus staged leaves and
 *            removes;
 *   target   ring_claim(ring, members): balanced, moving as little as
 *            balance allows;
 *   moves    ring_plan_new(ring, target).
 *
 * What a move costs is read from our own store: the move carries the key
 * ranges ring_move_targets names (computed on a copy of the ring with the
 * plan committed), and each range's stored keys and bytes are known here
 * exactly when we hold a replica of it, else estimated from the average
 * range we hold. The time is the busiest sender's bytes at transfer_rate.
 */
#include "admin.h"

#include "clock.h"
#include "json.h"
#include "logging.h"
#include "status.h"

#include "ring/ring.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct admin_stage {
	bool remove; /* else leave */
	char name[RING_MAX_NAME + 1];
};

/* A join waiting for the seed's answer. */
struct admin_join {
	struct admin *a;
	admin_done_fn *done;
	void *arg;
	char seed[RING_MAX_NAME + 1];
};

struct admin {
	struct admin_options o; /* borrowed, as admin_new was given them */

	struct event *timer;
	bool stopped;

	struct admin_stage staged[ADMIN_MAX_STAGED];
	size_t nstaged;
	uint64_t staged_gen; /* bumped by every change of staged[] */

	/* The plan shown last, and what it was made from. */
	struct ring_plan *plan;
	uint64_t plan_gen;  /* staged_gen then */
	uint64_t plan_ring; /* ring_digest then */
	char **plan_joins;  /* the joining members it took in */
	size_t nplan_joins;

	struct admin_join *join; /* in flight, or NULL */
	uint64_t exiting_ms;     /* when we announced exiting, 0: not yet */
	bool shut;
};

/* --- answers -------------------------------------------------------------- */

static void admin_answer(admin_done_fn *done, void *arg, int code,
                         struct evbuffer *body)
{
	done(arg, code, body);
	evbuffer_free(body);
}

/* An error answer: {"error": msg[, "node": node]}. */
static void admin_error(admin_done_fn *done, void *arg, int code,
                        const char *msg, const char *node)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		done(arg, 500, NULL);
		return;
	}
	evbuffer_add_printf(b, "{\"error\":");
	json_add_string(b, msg);
	if (node != NULL) {
		evbuffer_add_printf(b, ",\"node\":");
		json_add_string(b, node);
	}
	evbuffer_add_printf(b, "}\n");
	admin_answer(done, arg, code, b);
}

/* --- who is who ----------------------------------------------------------- */

/* The gossip entry of view member i: 0 and *m, or RKV_ENOTFOUND for a
 * name gossip does not hold. */
static int admin_entry(const struct admin *a, unsigned i,
                       struct gossip_member *m)
{
	const struct cluster_member *e = cluster_member(a->o.cluster, i);

	if (e == NULL || e->gossip == GOSSIP_NONE)
		return RKV_ENOTFOUND;
	return gossip_member_at(cluster_gossip(a->o.cluster), e->gossip, m);
}

/* Whether member i is joining and up: a staged join. */
static bool admin_is_join(const struct admin *a, unsigned i)
{
	struct gossip_member m;

	return admin_entry(a, i, &m) == 0 && m.status == MEMBER_JOINING &&
	       cluster_member_up(a->o.cluster, i);
}

/* Partitions name owns now (future = false) or will own. */
static uint32_t admin_owned(const struct ring *r, const char *name,
                            bool future);

/* How many joins are staged: joining members, up, owning nothing yet. */
static size_t admin_joins(const struct admin *a)
{
	size_t n = 0;

	for (unsigned i = 0; i < cluster_member_count(a->o.cluster); i++)
		n += admin_is_join(a, i) &&
		     admin_owned(cluster_ring(a->o.cluster),
		                 cluster_member(a->o.cluster, i)->name,
		                 true) == 0;
	return n;
}

/* Partitions name owns now (future = false) or will own. */
static uint32_t admin_owned(const struct ring *r, const char *name, bool future)
{
	uint32_t node = RING_NONE;

	if (ring_node_find(r, name, &node) != 0)
		return 0;
	return ring_owned(r, node, future);
}

/* The index of name's staged change, or a->nstaged when none. */
static size_t admin_staged_index(const struct admin *a, const char *name)
{
	size_t i = 0;

	while (i < a->nstaged && strcmp(a->staged[i].name, name) != 0)
		i++;
	return i;
}

static const struct admin_stage *admin_staged_find(const struct admin *a,
                                                   const char *name)
{
	size_t i = admin_staged_index(a, name);

	return i < a->nstaged ? &a->staged[i] : NULL;
}

static void admin_staged_json(const struct admin *a, struct evbuffer *b)
{
	size_t n = cluster_member_count(a->o.cluster);
	bool first = true;

	evbuffer_add_printf(b, "\"staged\":[");
	for (unsigned i = 0; i < n; i++) {
		if (!admin_is_join(a, i))
			continue;
		evbuffer_add_printf(
		    b, "%s{\"action\":\"join\",\"node\":", first ? "" : ",");
		json_add_string(b, cluster_member(a->o.cluster, i)->name);
		evbuffer_add_printf(b, "}");
		first = false;
	}
	for (size_t i = 0; i < a->nstaged; i++) {
		evbuffer_add_printf(
		    b, "%s{\"action\":\"%s\",\"node\":", first ? "" : ",",
		    a->staged[i].remove ? "remove" : "leave");
		json_add_string(b, a->staged[i].name);
		evbuffer_add_printf(b, "}");
		first = false;
	}
	evbuffer_add_printf(b, "]");
}

static void admin_staged_answer(struct admin *a, admin_done_fn *done, void *arg)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		done(arg, 500, NULL);
		return;
	}
	evbuffer_add_printf(b, "{");
	admin_staged_json(a, b);
	evbuffer_add_printf(b, "}\n");
	admin_answer(done, arg, 200, b);
}

/* --- staging -------------------------------------------------------------- */

static void admin_stage(struct admin *a, bool remove, const char *node,
                        bool force, admin_done_fn *done, void *arg)
{
	const struct ring *r = cluster_ring(a->o.cluster);
	const char *self = cluster_self_name(a->o.cluster);
	unsigned member = 0;
	bool known = cluster_member_find(a->o.cluster, node, &member) == 0;
	struct admin_stage *s = NULL;
	size_t i = 0;

	if (!ring_name_valid(node)) {
		admin_error(done, arg, 400, "invalid node name", NULL);
		return;
	}
	if (!known && admin_owned(r, node, true) == 0 &&
	    admin_owned(r, node, false) == 0) {
		admin_error(done, arg, 404, "no such member", node);
		return;
	}
	if (remove && strcmp(node, self) == 0) {
		admin_error(done, arg, 400,
		            "a node cannot remove itself; use leave", node);
		return;
	}
	if (remove && known && cluster_member_up(a->o.cluster, member) &&
	    !force) {
		admin_error(done, arg, 409,
		            "the member is up: remove is for nodes that are "
		            "gone (use leave, or force=true)",
		            node);
		return;
	}
	if (!remove && admin_owned(r, node, true) == 0) {
		admin_error(done, arg, 409,
		            "the member owns no partitions: nothing to leave",
		            node);
		return;
	}
	i = admin_staged_index(a, node);
	if (i == ADMIN_MAX_STAGED) {
		admin_error(done, arg, 409, "too many staged changes", node);
		return;
	}
	s = &a->staged[i];
	if (i == a->nstaged) {
		a->nstaged++;
		snprintf(s->name, sizeof(s->name), "%s", node);
	}
	s->remove = remove;
	a->staged_gen++;
	log_info("admin: staged %s of %s", remove ? "remove" : "leave", node);
	admin_staged_answer(a, done, arg);
}

static void admin_clear(struct admin *a, admin_done_fn *done, void *arg)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		done(arg, 500, NULL);
		return;
	}
	evbuffer_add_printf(b, "{\"cleared\":%zu}\n", a->nstaged);
	if (a->nstaged > 0)
		log_info("admin: cleared %zu staged change(s)", a->nstaged);
	a->nstaged = 0;
	a->staged_gen++;
	admin_answer(done, arg, 200, b);
}

/* --- joining -------------------------------------------------------------- */

static void admin_joined(void *arg, int status)
{
	struct admin_join *j = arg;
	struct admin *a = j->a;
	struct evbuffer *b = NULL;

	a->join = NULL;
	if (status == RKV_EINVAL) {
		admin_error(j->done, j->arg, 502,
		            "the seed is of another cluster or ring size",
		            j->seed);
	} else if (status != 0) {
		char msg[160];
		snprintf(msg, sizeof(msg),
		         "the seed did not answer or refused us (%s; a node "
		         "of another cluster_name refuses the handshake)",
		         rkv_strerror(status));
		admin_error(j->done, j->arg, 502, msg, j->seed);
	} else if ((b = evbuffer_new()) == NULL) {
		j->done(j->arg, 500, NULL);
	} else {
		evbuffer_add_printf(b, "{\"node\":");
		json_add_string(b, cluster_self_name(a->o.cluster));
		evbuffer_add_printf(b, ",\"status\":\"joining\",\"seed\":");
		json_add_string(b, j->seed);
		evbuffer_add_printf(b, "}\n");
		admin_answer(j->done, j->arg, 200, b);
	}
	free(j);
}

static void admin_join(struct admin *a, const char *seed, admin_done_fn *done,
                       void *arg)
{
	const struct ring *r = cluster_ring(a->o.cluster);
	const char *self = cluster_self_name(a->o.cluster);
	const struct cluster_member *me = cluster_member(a->o.cluster, 0);
	struct store_stats st;
	struct admin_join *j = NULL;
	uint32_t owners = 0;
	int rc = 0;

	for (uint32_t i = 0; i < ring_node_count(r); i++)
		owners +=
		    ring_owned(r, i, true) > 0 || ring_owned(r, i, false) > 0;
	store_get_stats(a->o.store, &st);
	if (!ring_name_valid(seed) || strlen(seed) > GOSSIP_MAX_ADDR) {
		admin_error(done, arg, 400, "invalid seed address", NULL);
		return;
	}
	if (strcmp(seed, me->addr) == 0 || strcmp(seed, self) == 0) {
		admin_error(done, arg, 409, "a node cannot join itself", seed);
		return;
	}
	if (owners > 1 || (owners == 1 && admin_owned(r, self, true) == 0)) {
		admin_error(done, arg, 409,
		            "this node is a member of a cluster of several "
		            "nodes: it cannot join another",
		            self);
		return;
	}
	if (owners == 1 && st.keys > 0) {
		admin_error(done, arg, 409,
		            "this node stores keys: only an empty node joins "
		            "a cluster",
		            self);
		return;
	}
	if (a->join != NULL || a->stopped) {
		admin_error(done, arg, 409, "a join is already in progress",
		            self);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		done(arg, 500, NULL);
		return;
	}
	j->a = a;
	j->done = done;
	j->arg = arg;
	snprintf(j->seed, sizeof(j->seed), "%s", seed);
	rc = gossip_io_join(a->o.gossip, seed, admin_joined, j);
	if (rc != 0) {
		free(j);
		admin_error(done, arg, rc == RKV_EINVAL ? 400 : 503,
		            rkv_strerror(rc), seed);
		return;
	}
	a->join = j;
	log_info("admin: asking %s to let us join", seed);
}

/* --- planning ------------------------------------------------------------- */

/* The stored size of each key partition this node holds, and the average
 * of those, for a plan's cost. */
struct admin_sizes {
	uint64_t *keys, *bytes;
	bool *local;
	uint64_t avg_keys, avg_bytes;
};

static int admin_sizes_load(struct admin *a, struct admin_sizes *sz)
{
	uint32_t q = cluster_ring_size(a->o.cluster);
	uint64_t nlocal = 0, tk = 0, tb = 0;

	sz->keys = calloc(q, sizeof(*sz->keys));
	sz->bytes = calloc(q, sizeof(*sz->bytes));
	sz->local = calloc(q, sizeof(*sz->local));
	if (sz->keys == NULL || sz->bytes == NULL || sz->local == NULL)
		return RKV_ENOMEM;
	for (uint32_t p = 0; p < q; p++) {
		sz->local[p] = cluster_is_replica(a->o.cluster, p, 0, false);
		if (!sz->local[p])
			continue;
		int rc = store_partition_stats(a->o.store, p, &sz->keys[p],
		                               &sz->bytes[p]);
		if (rc != 0)
			return rc;
		nlocal++;
		tk += sz->keys[p];
		tb += sz->bytes[p];
	}
	sz->avg_keys = nlocal ? (tk + nlocal / 2) / nlocal : 0;
	sz->avg_bytes = nlocal ? (tb + nlocal / 2) / nlocal : 0;
	return 0;
}

static void admin_sizes_free(struct admin_sizes *sz)
{
	free(sz->keys);
	free(sz->bytes);
	free(sz->local);
}

/* One move's cost as shown by plan and commit. */
struct admin_cost {
	uint64_t keys, bytes;
	bool exact;
	bool handover; /* the sender was removed: nothing streams */
};

static bool admin_removed(const struct admin *a, const char *name)
{
	const struct admin_stage *s = admin_staged_find(a, name);
	return s != NULL && s->remove;
}

/* The cost of every move of plan, in costs[0..nmoves). */
static int admin_costs(struct admin *a, const struct ring_plan *plan,
                       struct admin_cost *costs)
{
	const struct ring *cur = cluster_ring(a->o.cluster);
	uint32_t q = ring_partition_count(cur);
	struct admin_sizes sz = {0};
	struct ring *moved = ring_dup(cur);
	size_t cap = (size_t)q * cluster_n_val(a->o.cluster);
	uint32_t *ranges = calloc(cap, sizeof(*ranges));
	uint32_t *targets = calloc(cap, sizeof(*targets));
	int rc = moved && ranges && targets ? 0 : RKV_ENOMEM;

	if (rc == 0)
		rc = admin_sizes_load(a, &sz);
	if (rc == 0)
		rc = ring_plan_commit(moved, plan,
		                      cluster_self_name(a->o.cluster));
	for (size_t i = 0; rc == 0 && i < plan->nmoves; i++) {
		const struct ring_move *m = &plan->moves[i];
		struct admin_cost *c = &costs[i];
		size_t n = 0;
		*c = (struct admin_cost){.exact = true};
		if (admin_removed(a, m->from)) {
			c->handover = true;
			continue;
		}
		if (strcmp(m->from, m->to) == 0)
			continue; /* cancels a pending transfer */
		rc = ring_move_targets(moved, m->partition,
		                       cluster_n_val(a->o.cluster), ranges,
		                       targets, &n);
		for (size_t k = 0; rc == 0 && k < n; k++) {
			uint32_t p = ranges[k];
			c->keys += sz.local[p] ? sz.keys[p] : sz.avg_keys;
			c->bytes += sz.local[p] ? sz.bytes[p] : sz.avg_bytes;
			c->exact &= sz.local[p];
		}
	}
	admin_sizes_free(&sz);
	ring_free(moved);
	free(ranges);
	free(targets);
	return rc;
}

/* The names the ring will have after the staged changes, into names[]
 * (room for RING_MAX_NODES; strings of the ring or the view) -- and,
 * into joins[], which of them are joining members. */
static size_t admin_members(const struct admin *a, const char **names,
                            const char **joins, size_t *njoins)
{
	const struct ring *r = cluster_ring(a->o.cluster);
	size_t n = 0, nm = cluster_member_count(a->o.cluster);

	*njoins = 0;
	for (uint32_t i = 0; i < ring_node_count(r); i++) {
		const char *name = ring_node_name(r, i);
		if (ring_owned(r, i, true) > 0 && !admin_staged_find(a, name))
			names[n++] = name;
	}
	for (unsigned i = 0; i < nm && n < RING_MAX_NODES; i++) {
		const char *name = cluster_member(a->o.cluster, i)->name;
		if (!admin_is_join(a, i) || admin_staged_find(a, name) ||
		    admin_owned(r, name, true) > 0)
			continue;
		names[n++] = name;
		joins[(*njoins)++] = name;
	}
	return n;
}

static void admin_moves_json(const struct ring_plan *plan,
                             const struct admin_cost *costs, struct evbuffer *b)
{
	evbuffer_add_printf(b, "\"moves\":[");
	for (size_t i = 0; i < plan->nmoves; i++) {
		const struct ring_move *m = &plan->moves[i];
		evbuffer_add_printf(b, "%s{\"partition\":%" PRIu32 ",\"from\":",
		                    i ? "," : "", m->partition);
		json_add_string(b, m->from);
		evbuffer_add_printf(b, ",\"to\":");
		json_add_string(b, m->to);
		evbuffer_add_printf(b,
		                    ",\"keys\":%" PRIu64 ",\"bytes\":%" PRIu64
		                    ",\"exact\":%s,\"handover\":%s}",
		                    costs[i].keys, costs[i].bytes,
		                    costs[i].exact ? "true" : "false",
		                    costs[i].handover ? "true" : "false");
	}
	evbuffer_add_printf(b, "]");
}

/* Per node: partitions before and after, and what it sends and gets. */
static void admin_nodes_json(struct admin *a, const struct ring *target,
                             const struct ring_plan *plan,
                             const struct admin_cost *costs, struct evbuffer *b,
                             double *seconds)
{
	const struct ring *cur = cluster_ring(a->o.cluster);
	uint64_t rate = a->o.conf->transfer_rate * 1000000u;
	bool first = true;

	*seconds = 0;
	evbuffer_add_printf(b, "\"nodes\":[");
	for (uint32_t i = 0; i < ring_node_count(target); i++) {
		const char *name = ring_node_name(target, i);
		uint32_t before = admin_owned(cur, name, true);
		uint32_t after = ring_owned(target, i, false);
		uint64_t kin = 0, bin = 0, kout = 0, bout = 0;
		if (before == 0 && after == 0)
			continue;
		for (size_t k = 0; k < plan->nmoves; k++) {
			const struct ring_move *m = &plan->moves[k];
			if (strcmp(m->to, name) == 0) {
				kin += costs[k].keys;
				bin += costs[k].bytes;
			}
			if (strcmp(m->from, name) == 0) {
				kout += costs[k].keys;
				bout += costs[k].bytes;
			}
		}
		if ((double)bout / (double)rate > *seconds)
			*seconds = (double)bout / (double)rate;
		evbuffer_add_printf(b, "%s{\"name\":", first ? "" : ",");
		json_add_string(b, name);
		evbuffer_add_printf(
		    b,
		    ",\"before\":%" PRIu32 ",\"after\":%" PRIu32
		    ",\"keys_out\":%" PRIu64 ",\"bytes_out\":%" PRIu64
		    ",\"keys_in\":%" PRIu64 ",\"bytes_in\":%" PRIu64 "}",
		    before, after, kout, bout, kin, bin);
		first = false;
	}
	evbuffer_add_printf(b, "]");
}

static void admin_plan_forget(struct admin *a)
{
	ring_plan_free(a->plan);
	a->plan = NULL;
	for (size_t i = 0; i < a->nplan_joins; i++)
		free(a->plan_joins[i]);
	free(a->plan_joins);
	a->plan_joins = NULL;
	a->nplan_joins = 0;
}

/* Make the plan of the staged changes, keep it, and describe it (plan) or
 * apply it (commit). */
static void admin_plan(struct admin *a, admin_done_fn *done, void *arg)
{
	const struct ring *cur = cluster_ring(a->o.cluster);
	const char **names = calloc(RING_MAX_NODES, sizeof(*names));
	const char **joins = calloc(RING_MAX_NODES, sizeof(*joins));
	struct ring *target = NULL;
	struct ring_plan *plan = NULL;
	struct admin_cost *costs = NULL;
	struct evbuffer *b = evbuffer_new();
	size_t n = 0, njoins = 0;
	uint64_t tkeys = 0, tbytes = 0;
	double seconds = 0;
	int rc = names && joins && b ? 0 : RKV_ENOMEM;

	if (rc == 0 && !ring_claimed(cur)) {
		admin_error(done, arg, 409,
		            "this node has no ring yet (joining): plan on a "
		            "member of the cluster",
		            NULL);
		goto out;
	}
	if (rc == 0 && a->nstaged == 0 && admin_joins(a) == 0) {
		/* Claim would tidy up a ring nobody asked to change. */
		admin_plan_forget(a);
		evbuffer_add_printf(b,
		                    "{\"ring_size\":%" PRIu32 ",\"n_val\":%u,"
		                    "\"staged\":[],\"moves\":[],\"nodes\":[],"
		                    "\"keys\":0,\"bytes\":0,"
		                    "\"transfer_rate_bytes_per_s\":%" PRIu64
		                    ",\"estimated_seconds\":0}\n",
		                    ring_partition_count(cur),
		                    cluster_n_val(a->o.cluster),
		                    a->o.conf->transfer_rate * 1000000u);
		admin_answer(done, arg, 200, b);
		b = NULL;
		goto out;
	}
	if (rc == 0)
		n = admin_members(a, names, joins, &njoins);
	if (rc == 0 && n == 0) {
		admin_error(done, arg, 409,
		            "the staged changes would leave no owner", NULL);
		goto out;
	}
	if (rc == 0)
		rc = ring_claim(cur, names, n, cluster_n_val(a->o.cluster),
		                &target);
	if (rc == 0)
		rc = ring_plan_new(cur, target, &plan);
	if (rc == 0 &&
	    (costs = calloc(plan->nmoves + 1, sizeof(*costs))) == NULL)
		rc = RKV_ENOMEM;
	if (rc == 0)
		rc = admin_costs(a, plan, costs);
	if (rc != 0) {
		admin_error(done, arg, 500, rkv_strerror(rc), NULL);
		goto out;
	}
	for (size_t i = 0; i < plan->nmoves; i++) {
		tkeys += costs[i].keys;
		tbytes += costs[i].bytes;
	}
	evbuffer_add_printf(b, "{\"ring_size\":%" PRIu32 ",\"n_val\":%u,",
	                    ring_partition_count(cur),
	                    cluster_n_val(a->o.cluster));
	admin_staged_json(a, b);
	evbuffer_add_printf(b, ",");
	admin_moves_json(plan, costs, b);
	evbuffer_add_printf(b, ",");
	admin_nodes_json(a, target, plan, costs, b, &seconds);
	evbuffer_add_printf(b,
	                    ",\"keys\":%" PRIu64 ",\"bytes\":%" PRIu64
	                    ",\"transfer_rate_bytes_per_s\":%" PRIu64
	                    ",\"estimated_seconds\":%.1f}\n",
	                    tkeys, tbytes, a->o.conf->transfer_rate * 1000000u,
	                    seconds);

	admin_plan_forget(a);
	a->plan_joins = calloc(njoins + 1, sizeof(*a->plan_joins));
	for (size_t i = 0; a->plan_joins != NULL && i < njoins; i++) {
		a->plan_joins[i] = strdup(joins[i]);
		if (a->plan_joins[i] != NULL)
			a->nplan_joins++;
	}
	if (a->plan_joins == NULL || a->nplan_joins != njoins) {
		admin_plan_forget(a);
		admin_error(done, arg, 500, rkv_strerror(RKV_ENOMEM), NULL);
		goto out;
	}
	a->plan = plan;
	plan = NULL;
	a->plan_gen = a->staged_gen;
	a->plan_ring = ring_digest(cur);
	admin_answer(done, arg, 200, b);
	b = NULL;
out:
	if (b != NULL)
		evbuffer_free(b);
	ring_plan_free(plan);
	ring_free(target);
	free(costs);
	free(names);
	free(joins);
}

/* Whether the joins the plan took in are the joins staged now. */
static bool admin_joins_unchanged(const struct admin *a)
{
	size_t nm = cluster_member_count(a->o.cluster), now = 0;

	for (unsigned i = 0; i < nm; i++) {
		const char *name = cluster_member(a->o.cluster, i)->name;
		bool in_plan = false;
		if (!admin_is_join(a, i) || admin_staged_find(a, name) ||
		    admin_owned(cluster_ring(a->o.cluster), name, true) > 0)
			continue;
		for (size_t k = 0; k < a->nplan_joins; k++)
			in_plan |= strcmp(a->plan_joins[k], name) == 0;
		if (!in_plan)
			return false;
		now++;
	}
	return now == a->nplan_joins;
}

static void admin_commit(struct admin *a, admin_done_fn *done, void *arg)
{
	const char *removed[ADMIN_MAX_STAGED];
	struct admin_cost *costs = NULL;
	struct evbuffer *b = NULL;
	size_t nremoved = 0;
	uint32_t flipped = 0;
	int rc = 0;

	if (a->nstaged == 0 && admin_joins(a) == 0) {
		admin_error(done, arg, 409, "nothing staged", NULL);
		return;
	}
	if (a->plan == NULL || a->plan_gen != a->staged_gen ||
	    !admin_joins_unchanged(a)) {
		admin_error(done, arg, 409,
		            "no plan: run plan first (or the staged changes "
		            "changed since the last one)",
		            NULL);
		return;
	}
	if (ring_digest(cluster_ring(a->o.cluster)) != a->plan_ring) {
		admin_error(done, arg, 409, rkv_strerror(RKV_ESTALE), NULL);
		return;
	}
	costs = calloc(a->plan->nmoves + 1, sizeof(*costs));
	b = evbuffer_new();
	if (costs == NULL || b == NULL ||
	    (rc = admin_costs(a, a->plan, costs)) != 0) {
		admin_error(done, arg, 500, rkv_strerror(rc ? rc : RKV_ENOMEM),
		            NULL);
		goto out;
	}
	for (size_t i = 0; i < a->nstaged; i++) {
		if (a->staged[i].remove)
			removed[nremoved++] = a->staged[i].name;
	}
	rc = cluster_ring_commit(a->o.cluster, a->plan, removed, nremoved,
	                         &flipped);
	if (rc != 0) {
		admin_error(done, arg, rkv_status_http(rc), rkv_strerror(rc),
		            NULL);
		goto out;
	}
	for (size_t i = 0; i < nremoved; i++) {
		unsigned m = 0;
		if (cluster_member_find(a->o.cluster, removed[i], &m) == 0 &&
		    cluster_mark_down(a->o.cluster, m) != 0)
			log_warn("admin: cannot mark %s down", removed[i]);
	}
	evbuffer_add_printf(b,
	                    "{\"committed\":%zu,\"handed_over\":%" PRIu32 ",",
	                    a->plan->nmoves, flipped);
	admin_moves_json(a->plan, costs, b);
	evbuffer_add_printf(b, "}\n");
	log_info("admin: committed %zu move(s)", a->plan->nmoves);
	a->nstaged = 0;
	a->staged_gen++;
	admin_plan_forget(a);
	admin_answer(done, arg, 200, b);
	b = NULL;
out:
	if (b != NULL)
		evbuffer_free(b);
	free(costs);
}

static void admin_transfers(struct admin *a, admin_done_fn *done, void *arg)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		done(arg, 500, NULL);
		return;
	}
	transfer_json(a->o.transfer, b);
	admin_answer(done, arg, 200, b);
}

/* --- routing -------------------------------------------------------------- */

/* Start an online compaction of our store: 202 with the database's size
 * now and what the compaction should leave; its end shows in /stats. */
static void admin_compact(struct admin *a, admin_done_fn *done, void *arg)
{
	struct store_stats st;
	struct evbuffer *b = NULL;
	int rc = store_compact_start(a->o.store);

	if (rc != 0) {
		admin_error(done, arg, rkv_status_http(rc),
		            rc == RKV_EBUSY ? "a compaction is already running"
		                            : rkv_strerror(rc),
		            NULL);
		return;
	}
	b = evbuffer_new();
	if (b == NULL) {
		done(arg, 500, NULL);
		return;
	}
	store_get_stats(a->o.store, &st);
	evbuffer_add_printf(b,
	                    "{\"compacting\":true,\"disk_bytes\":%" PRIu64
	                    ",\"compact_estimate\":%" PRIu64 "}\n",
	                    st.disk_bytes, st.compact_estimate);
	admin_answer(done, arg, 202, b);
}

void admin_handle(struct admin *a, enum evhttp_cmd_type cmd, const char *sub,
                  const struct evkeyvalq *query, admin_done_fn *done, void *arg)
{
	static const struct {
		const char *name;
		enum evhttp_cmd_type method;
	} routes[] = {
	    {"join", EVHTTP_REQ_POST},     {"leave", EVHTTP_REQ_POST},
	    {"remove", EVHTTP_REQ_POST},   {"plan", EVHTTP_REQ_GET},
	    {"commit", EVHTTP_REQ_POST},   {"clear", EVHTTP_REQ_POST},
	    {"transfers", EVHTTP_REQ_GET}, {"compact", EVHTTP_REQ_POST},
	};
	const char *node =
	    query != NULL ? evhttp_find_header(query, "node") : NULL;
	const char *force =
	    query != NULL ? evhttp_find_header(query, "force") : NULL;
	size_t i = 0;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(sub, routes[i].name) == 0)
			break;
	}
	if (i == sizeof(routes) / sizeof(routes[0])) {
		admin_error(done, arg, 404, "no such path", NULL);
		return;
	}
	if (cmd != routes[i].method) {
		admin_error(done, arg, 405,
		            routes[i].method == EVHTTP_REQ_GET
		                ? "method not allowed (use GET)"
		                : "method not allowed (use POST)",
		            NULL);
		return;
	}
	if (force != NULL && strcmp(force, "true") != 0 &&
	    strcmp(force, "false") != 0) {
		admin_error(done, arg, 400, "force must be true or false",
		            NULL);
		return;
	}
	if (node == NULL &&
	    (strcmp(sub, "join") == 0 || strcmp(sub, "remove") == 0)) {
		admin_error(done, arg, 400, "missing parameter node", NULL);
		return;
	}
	if (strcmp(sub, "join") == 0)
		admin_join(a, node, done, arg);
	else if (strcmp(sub, "leave") == 0)
		admin_stage(a, false,
		            node != NULL ? node
		                         : cluster_self_name(a->o.cluster),
		            false, done, arg);
	else if (strcmp(sub, "remove") == 0)
		admin_stage(a, true, node,
		            force != NULL && strcmp(force, "true") == 0, done,
		            arg);
	else if (strcmp(sub, "plan") == 0)
		admin_plan(a, done, arg);
	else if (strcmp(sub, "commit") == 0)
		admin_commit(a, done, arg);
	else if (strcmp(sub, "clear") == 0)
		admin_clear(a, done, arg);
	else if (strcmp(sub, "compact") == 0)
		admin_compact(a, done, arg);
	else
		admin_transfers(a, done, arg);
}

/* --- our status ----------------------------------------------------------- */

static uint64_t admin_hints_held(const struct admin *a)
{
	uint64_t total = 0, pending = 0;

	for (size_t i = 0; i < store_hint_target_count(a->o.store); i++) {
		store_hint_target(a->o.store, i, &pending);
		total += pending;
	}
	return total;
}

static void admin_tick(evutil_socket_t fd, short what, void *arg)
{
	struct admin *a = arg;
	const struct ring *r = cluster_ring(a->o.cluster);
	const char *self = cluster_self_name(a->o.cluster);
	enum member_status st = cluster_self_status(a->o.cluster);
	uint32_t now = admin_owned(r, self, false);
	uint32_t future = admin_owned(r, self, true);
	uint64_t t = monotonic_ms();
	(void)fd;
	(void)what;

	if (a->shut || !ring_claimed(r))
		return;
	if (st == MEMBER_JOINING && future > 0)
		cluster_set_self_status(a->o.cluster, MEMBER_VALID);
	else if (st == MEMBER_VALID && now > 0 && future == 0)
		cluster_set_self_status(a->o.cluster, MEMBER_LEAVING);
	else if ((st == MEMBER_VALID || st == MEMBER_LEAVING) && now == 0 &&
	         future == 0 && !transfer_busy(a->o.transfer) &&
	         admin_hints_held(a) == 0) {
		cluster_set_self_status(a->o.cluster, MEMBER_EXITING);
		a->exiting_ms = t;
	} else if (st == MEMBER_EXITING && (now > 0 || future > 0)) {
		/* A newer plan gave us partitions again. */
		cluster_set_self_status(a->o.cluster, MEMBER_VALID);
		a->exiting_ms = 0;
	} else if (st == MEMBER_EXITING && a->exiting_ms == 0) {
		a->exiting_ms = t; /* restarted while exiting */
	} else if (st == MEMBER_EXITING &&
	           t - a->exiting_ms >=
	               ADMIN_EXIT_ROUNDS * a->o.conf->gossip_interval_ms) {
		log_info("admin: we own nothing and hold no hints: stopping");
		a->shut = true;
		a->o.shutdown(a->o.shutdown_arg);
	}
}

/* --- life cycle ----------------------------------------------------------- */

int admin_new(struct admin **out, const struct admin_options *o)
{
	struct admin *a = NULL;

	*out = NULL;
	if (o->base == NULL || o->conf == NULL || o->cluster == NULL ||
	    o->store == NULL || o->transfer == NULL || o->gossip == NULL ||
	    o->shutdown == NULL)
		return RKV_EINVAL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return RKV_ENOMEM;
	a->o = *o;
	*out = a;
	return 0;
}

int admin_start(struct admin *a)
{
	uint64_t ms = a->o.conf->gossip_interval_ms / 5;
	struct timeval tv = ms_timeval(ms < 10 ? 10 : ms);

	a->timer = event_new(a->o.base, -1, EV_PERSIST, admin_tick, a);
	if (a->timer == NULL || event_add(a->timer, &tv) != 0)
		return RKV_ENOMEM;
	return 0;
}

void admin_stop(struct admin *a)
{
	if (a == NULL || a->stopped)
		return;
	a->stopped = true;
	if (a->timer != NULL)
		event_del(a->timer);
}

void admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	if (a->timer != NULL)
		event_free(a->timer);
	admin_plan_forget(a);
	free(a);
}
