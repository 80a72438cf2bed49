/* test_gossip.c -- the member table, its merge, our own entry, peer
 * selection (gossip/gossip.h).
 *
 * The merge laws are checked over generated states: a hidden "history"
 * gives every member a few generations, each with its own addresses, and
 * versions; every node holds a random, partly stale view of it (plus
 * entries that tie on (generation, version) with another status or
 * another http address) and
 * a ring with random changes. Merging must then be commutative,
 * associative and idempotent under gossip_equal(), whatever the views.
 * Every refused input is checked to leave the table, the ring and the
 * detectors exactly as they were. gossip_validate() runs after every
 * mutation.
 *
 * Randomized tests draw from a struct rng seeded by one number, printed at
 * the start; RKV_SEED=<number> replays a run exactly. Each test derives its
 * own generator from that seed, so a test replays alone or in any order.
 */
#include "gossip/gossip.h"
#include "ring/ring.h"
#include "ring/rng.h"

#include "tests/seed.h"

#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define Q        16u
#define NAME_LEN 48

static uint64_t test_seed;

static void seeded(struct rng *r, uint64_t salt)
{
	rng_init(r, test_seed ^ (salt * UINT64_C(0x9e3779b97f4a7c15)));
}

/* --- entries with their own string storage ------------------------------- */

struct ent {
	uint64_t id;
	char name[NAME_LEN];
	char addr[NAME_LEN];
	char http[NAME_LEN];
	enum member_status status;
	uint64_t generation;
	uint64_t version;
};

/* ent_make -- member id at generation gen: "node-<id>" at addresses that
 * change with the generation (a restart may move a node); its http
 * address is announced from version 1 on, as a node announces it once
 * its listener is bound. */
static struct ent ent_make(uint64_t id, uint64_t gen, uint64_t ver,
                           enum member_status st)
{
	struct ent e = {
	    .id = id, .status = st, .generation = gen, .version = ver};
	snprintf(e.name, sizeof(e.name), "node-%" PRIu64, id);
	snprintf(e.addr, sizeof(e.addr), "10.%u.%u.%u:8099",
	         (unsigned)(id >> 8) & 255, (unsigned)id & 255,
	         (unsigned)gen & 255);
	if (ver > 0)
		snprintf(e.http, sizeof(e.http), "10.%u.%u.%u:8098",
		         (unsigned)(id >> 8) & 255, (unsigned)id & 255,
		         (unsigned)gen & 255);
	return e;
}

static struct gossip_member ent_member(const struct ent *e)
{
	struct gossip_member m = {.id = e->id,
	                          .name = e->name,
	                          .addr = e->addr,
	                          .http = e->http,
	                          .status = e->status,
	                          .generation = e->generation,
	                          .version = e->version};
	return m;
}

/* A message: entries and their gossip_member views. */
struct msg {
	size_t n;
	struct ent e[64];
	struct gossip_member m[64];
};

static void msg_add(struct msg *x, struct ent e)
{
	assert_true(x->n < 64);
	x->e[x->n] = e;
	x->n++;
	for (size_t i = 0; i < x->n; i++)
		x->m[i] = ent_member(&x->e[i]);
}

/* export -- a state's members as a received array; the strings point into
 * g and stay valid while g is not changed. */
static struct gossip_member *export(const struct gossip *g, size_t *n)
{
	*n = gossip_member_count(g);
	struct gossip_member *m = calloc(*n, sizeof(*m));
	assert_non_null(m);
	for (size_t i = 0; i < *n; i++)
		assert_int_equal(gossip_member_at(g, i, &m[i]), 0);
	return m;
}

/* --- states --------------------------------------------------------------- */

static struct gossip_config config(void)
{
	struct gossip_config c;
	gossip_config_default(&c);
	return c;
}

static struct ring *ring_unclaimed(void)
{
	struct ring *r;
	assert_int_equal(ring_new(Q, &r), 0);
	return r;
}

static struct ring *ring_founded(unsigned members)
{
	char names[8][NAME_LEN];
	const char *ptr[8];
	assert_true(members <= 8);
	for (unsigned i = 0; i < members; i++) {
		snprintf(names[i], NAME_LEN, "node-%u", i + 1);
		ptr[i] = names[i];
	}
	struct ring *empty, *r;
	assert_int_equal(ring_new(Q, &empty), 0);
	assert_int_equal(ring_claim(empty, ptr, members, 3, &r), 0);
	ring_free(empty);
	return r;
}

static void check(const struct gossip *g)
{
	assert_int_equal(gossip_validate(g), 0);
}

/* node_new -- a state for self; ring NULL gives an unclaimed one. */
static struct gossip *node_new(const struct ent *self, struct ring *ring)
{
	struct gossip_config c = config();
	struct gossip_member m = ent_member(self);
	struct gossip *g;
	if (ring == NULL)
		ring = ring_unclaimed();
	assert_int_equal(gossip_new(&c, &m, ring, &g), 0);
	check(g);
	return g;
}

/* clone -- the same gossiped content (detectors not copied). */
static struct gossip *clone(const struct gossip *g)
{
	struct gossip_member self;
	assert_int_equal(gossip_member_at(g, 0, &self), 0);
	struct ring *r = ring_dup(gossip_ring_const(g));
	assert_non_null(r);
	struct gossip *c;
	assert_int_equal(gossip_new(gossip_config_get(g), &self, r, &c), 0);
	for (size_t i = 1; i < gossip_member_count(g); i++) {
		struct gossip_member m;
		assert_int_equal(gossip_member_at(g, i, &m), 0);
		assert_int_equal(gossip_member_set(c, &m), 0);
	}
	check(c);
	assert_true(gossip_equal(g, c));
	return c;
}

/* merge_state -- fold src's whole state into dst; returns the result. */
static int merge_state(struct gossip *dst, const struct gossip *src,
                       uint64_t now_ms, struct gossip_merge_result *res)
{
	size_t n;
	struct gossip_member *m = export(src, &n);
	int rc = gossip_merge(dst, m, n, gossip_ring_const(src), now_ms, res);
	free(m);
	check(dst);
	return rc;
}

static void member_of(const struct gossip *g, uint64_t id,
                      struct gossip_member *out)
{
	size_t i;
	assert_int_equal(gossip_member_find(g, id, &i), 0);
	assert_int_equal(gossip_member_at(g, i, out), 0);
}

/* --- status names, config, life cycle ------------------------------------- */

static void test_status_names(void **state)
{
	(void)state;
	const char *want[] = {"joining", "valid", "leaving", "exiting", "down"};
	assert_int_equal(MEMBER_STATUS_COUNT, 5);
	for (unsigned s = 0; s < MEMBER_STATUS_COUNT; s++) {
		assert_string_equal(member_status_name(s), want[s]);
		enum member_status back;
		assert_int_equal(member_status_parse(want[s], &back), 0);
		assert_int_equal(back, s);
	}
	assert_string_equal(member_status_name(MEMBER_STATUS_COUNT), "?");
	enum member_status x = MEMBER_VALID;
	assert_int_equal(member_status_parse("gone", &x), GOSSIP_EINVAL);
	assert_int_equal(member_status_parse(NULL, &x), GOSSIP_EINVAL);
	assert_int_equal(x, MEMBER_VALID);
}

static void test_new_errors(void **state)
{
	(void)state;
	struct gossip_config c = config();
	assert_int_equal(c.interval_ms, 1000);
	assert_true(c.phi_threshold == 8.0);
	assert_int_equal(c.window, 1000);
	struct ent self = ent_make(1, 1, 0, MEMBER_VALID);
	struct gossip_member m = ent_member(&self);
	struct ring *r = ring_unclaimed();
	struct gossip *g = NULL;

	struct gossip_config bad = c;
	bad.interval_ms = 0;
	assert_int_equal(gossip_new(&bad, &m, r, &g), GOSSIP_EINVAL);
	bad = c;
	bad.phi_threshold = 0.0;
	assert_int_equal(gossip_new(&bad, &m, r, &g), GOSSIP_EINVAL);
	bad.phi_threshold = NAN;
	assert_int_equal(gossip_new(&bad, &m, r, &g), GOSSIP_EINVAL);
	bad = c;
	bad.window = 0;
	assert_int_equal(gossip_new(&bad, &m, r, &g), GOSSIP_EINVAL);
	assert_int_equal(gossip_new(&c, &m, NULL, &g), GOSSIP_EINVAL);
	struct gossip_member x = m;
	x.id = 0;
	assert_int_equal(gossip_new(&c, &x, r, &g), GOSSIP_EINVAL);
	x = m;
	x.name = "two words";
	assert_int_equal(gossip_new(&c, &x, r, &g), GOSSIP_EINVAL);
	x = m;
	x.addr = "";
	assert_int_equal(gossip_new(&c, &x, r, &g), GOSSIP_EINVAL);
	x = m;
	x.http = NULL;
	assert_int_equal(gossip_new(&c, &x, r, &g), GOSSIP_EINVAL);
	x = m;
	x.http = "a b:1";
	assert_int_equal(gossip_new(&c, &x, r, &g), GOSSIP_EINVAL);
	x = m;
	x.status = MEMBER_DOWN;
	assert_int_equal(gossip_new(&c, &x, r, &g), GOSSIP_EINVAL);
	x = m;
	x.generation = GOSSIP_MAX_COUNTER;
	assert_int_equal(gossip_new(&c, &x, r, &g), GOSSIP_EINVAL);
	assert_null(g);

	assert_int_equal(gossip_new(&c, &m, r, &g), 0); /* takes r */
	check(g);
	assert_int_equal(gossip_member_count(g), 1);
	assert_ptr_equal(gossip_ring(g), r);
	struct gossip_member back;
	assert_int_equal(gossip_member_at(g, 0, &back), 0);
	assert_int_equal(back.id, 1);
	assert_string_equal(back.name, "node-1");
	assert_ptr_not_equal(back.name, self.name); /* copied */
	assert_int_equal(gossip_member_at(g, 1, &back), GOSSIP_ENOTFOUND);
	assert_true(gossip_member_alive(g, 0, 123456789));
	assert_true(gossip_member_phi(g, 0, 123456789) == 0.0);
	assert_false(gossip_member_alive(g, 1, 0));
	gossip_free(g);
	gossip_free(NULL);
}

/* --- our own entry ------------------------------------------------------- */

static void test_tick_and_status(void **state)
{
	(void)state;
	struct ent e1 = ent_make(1, 7, 0, MEMBER_JOINING);
	struct gossip *g = node_new(&e1, NULL);
	struct msg in = {0};
	msg_add(&in, ent_make(2, 1, 5, MEMBER_VALID));
	assert_int_equal(gossip_merge(g, in.m, in.n, NULL, 0, NULL), 0);
	for (int i = 0; i < 10; i++)
		gossip_tick(g, 1000 * (uint64_t)i);
	check(g);
	struct gossip_member m;
	member_of(g, 1, &m);
	assert_int_equal(m.generation, 7);
	assert_int_equal(m.version, 10);
	member_of(g, 2, &m); /* only our own version moves */
	assert_int_equal(m.version, 5);
	struct gossip_health h;
	assert_int_equal(gossip_member_health(g, 0, 9500, &h), 0);
	assert_int_equal(h.last_heard_ms, 9000);
	assert_true(h.alive);

	assert_int_equal(gossip_self_set_status(g, MEMBER_VALID), 0);
	member_of(g, 1, &m);
	assert_int_equal(m.status, MEMBER_VALID);
	assert_int_equal(m.version, 11);
	assert_int_equal(gossip_self_set_status(g, MEMBER_VALID), 0);
	member_of(g, 1, &m);
	assert_int_equal(m.version, 11); /* no change, no bump */
	assert_int_equal(gossip_self_set_status(g, MEMBER_DOWN), GOSSIP_EINVAL);
	assert_int_equal(gossip_self_set_status(g, MEMBER_STATUS_COUNT),
	                 GOSSIP_EINVAL);
	check(g);
	gossip_free(g);

	/* At the version limit the tick rolls into the next generation. */
	struct ent e3 = ent_make(3, 4, GOSSIP_MAX_COUNTER - 1, MEMBER_VALID);
	g = node_new(&e3, NULL);
	gossip_tick(g, 1);
	member_of(g, 3, &m);
	assert_int_equal(m.generation, 5);
	assert_int_equal(m.version, 0);
	check(g);
	gossip_free(g);
}

/* Gossip about us never lowers or changes our entry; a greater claim moves
 * us above it. */
static void test_self_rule(void **state)
{
	(void)state;
	struct ent e1 = ent_make(1, 10, 20, MEMBER_VALID);
	struct gossip *g = node_new(&e1, NULL);
	struct gossip_merge_result res;
	struct gossip_member m;

	/* Lower claims: older generation with a huge version, same
	 * generation with a lower version, other content. */
	struct ent lows[] = {
	    ent_make(1, 9, 1000000, MEMBER_LEAVING),
	    ent_make(1, 10, 19, MEMBER_EXITING),
	    ent_make(1, 10, 20, MEMBER_JOINING), /* tie, smaller status */
	};
	for (size_t k = 0; k < 3; k++) {
		struct msg in = {0};
		msg_add(&in, lows[k]);
		assert_int_equal(gossip_merge(g, in.m, in.n, NULL, 5, &res), 0);
		assert_false(res.changed);
		assert_false(res.self_bumped);
		member_of(g, 1, &m);
		assert_int_equal(m.generation, 10);
		assert_int_equal(m.version, 20);
		assert_int_equal(m.status, MEMBER_VALID);
		check(g);
	}

	/* Same generation, higher version: we go to its version + 1 and keep
	 * our own content. */
	struct ent claim = ent_make(1, 10, 30, MEMBER_EXITING);
	snprintf(claim.addr, sizeof(claim.addr), "10.9.9.9:1");
	snprintf(claim.http, sizeof(claim.http), "10.9.9.9:2");
	struct msg in = {0};
	msg_add(&in, claim);
	assert_int_equal(gossip_merge(g, in.m, in.n, NULL, 5, &res), 0);
	assert_true(res.self_bumped);
	assert_true(res.changed);
	member_of(g, 1, &m);
	assert_int_equal(m.generation, 10);
	assert_int_equal(m.version, 31);
	assert_int_equal(m.status, MEMBER_VALID);
	assert_string_equal(m.addr, e1.addr);
	assert_string_equal(m.http, e1.http);
	check(g);

	/* Higher generation: we go to its generation + 1. */
	struct msg in2 = {0};
	msg_add(&in2, ent_make(1, 12, 3, MEMBER_VALID));
	assert_int_equal(gossip_merge(g, in2.m, in2.n, NULL, 5, &res), 0);
	assert_true(res.self_bumped);
	member_of(g, 1, &m);
	assert_int_equal(m.generation, 13);
	assert_int_equal(m.version, 0);
	check(g);

	/* A claim we could not move above is refused, nothing changes. */
	struct msg in3 = {0};
	msg_add(&in3, ent_make(2, 1, 1, MEMBER_VALID));
	msg_add(&in3, ent_make(1, GOSSIP_MAX_COUNTER - 1, 0, MEMBER_VALID));
	assert_int_equal(gossip_merge(g, in3.m, in3.n, NULL, 5, &res),
	                 GOSSIP_ECORRUPT);
	assert_int_equal(res.bad, 1);
	assert_non_null(res.reason);
	assert_int_equal(gossip_member_count(g), 1);
	member_of(g, 1, &m);
	assert_int_equal(m.generation, 13);
	check(g);
	gossip_free(g);
}

/* Our http address: announced with a version bump, travels and merges
 * like the rest of the entry; a restart starts without it. */
static void test_self_http(void **state)
{
	(void)state;
	struct ent e1 = ent_make(1, 1, 0, MEMBER_VALID); /* http "" */
	struct ent e2 = ent_make(2, 1, 5, MEMBER_VALID);
	struct gossip *a = node_new(&e1, NULL);
	struct gossip *b = node_new(&e2, NULL);
	struct gossip_member m;

	assert_string_equal(e1.http, "");
	member_of(a, 1, &m);
	assert_string_equal(m.http, "");
	assert_int_equal(gossip_self_set_http(a, "127.0.0.1:8098"), 0);
	check(a);
	member_of(a, 1, &m);
	assert_string_equal(m.http, "127.0.0.1:8098");
	assert_int_equal(m.version, 1);
	assert_string_equal(m.name, "node-1"); /* the rest stays */
	assert_string_equal(m.addr, e1.addr);
	assert_int_equal(gossip_self_set_http(a, "127.0.0.1:8098"), 0);
	member_of(a, 1, &m);
	assert_int_equal(m.version, 1); /* no change, no bump */
	assert_int_equal(gossip_self_set_http(a, NULL), GOSSIP_EINVAL);
	assert_int_equal(gossip_self_set_http(a, "a b:1"), GOSSIP_EINVAL);
	char long_http[GOSSIP_MAX_ADDR + 2];
	memset(long_http, 'h', sizeof(long_http) - 1);
	long_http[sizeof(long_http) - 1] = '\0';
	assert_int_equal(gossip_self_set_http(a, long_http), GOSSIP_EINVAL);
	long_http[GOSSIP_MAX_ADDR] = '\0'; /* the longest */
	assert_int_equal(gossip_self_set_http(a, long_http), 0);
	assert_int_equal(gossip_self_set_http(a, "127.0.0.1:8098"), 0);
	member_of(a, 1, &m);
	assert_string_equal(m.http, "127.0.0.1:8098");
	assert_int_equal(m.version, 3);
	check(a);

	/* It travels: b learns it, and a change of it alone is news. */
	struct gossip_merge_result res;
	assert_int_equal(merge_state(b, a, 10, &res), 0);
	assert_int_equal(merge_state(a, b, 10, &res), 0);
	member_of(b, 1, &m);
	assert_string_equal(m.http, "127.0.0.1:8098");
	assert_int_equal(gossip_self_set_http(a, "127.0.0.1:9098"), 0);
	assert_int_equal(merge_state(b, a, 20, &res), 0);
	assert_true(res.changed);
	assert_int_equal(res.advanced, 1);
	member_of(b, 1, &m);
	assert_string_equal(m.http, "127.0.0.1:9098");
	assert_int_equal(merge_state(a, b, 20, &res), 0);
	assert_false(res.changed);
	assert_false(res.self_bumped);
	assert_true(gossip_equal(a, b));

	/* "" withdraws it, as an announcement like any other. */
	assert_int_equal(gossip_self_set_http(a, ""), 0);
	assert_int_equal(merge_state(b, a, 30, &res), 0);
	member_of(b, 1, &m);
	assert_string_equal(m.http, "");

	/* A restart (a higher generation, not announced yet) replaces what
	 * the previous run announced. */
	struct ent e1r = ent_make(1, 2, 0, MEMBER_VALID);
	struct gossip *a2 = node_new(&e1r, NULL);
	assert_int_equal(gossip_self_set_http(b, "127.0.0.1:8198"), 0);
	assert_int_equal(merge_state(a2, b, 40, &res), 0);
	assert_false(res.self_bumped); /* b's entry for us is older */
	assert_int_equal(merge_state(b, a2, 40, &res), 0);
	member_of(b, 1, &m);
	assert_int_equal(m.generation, 2);
	assert_string_equal(m.http, "");
	member_of(a2, 2, &m);
	assert_string_equal(m.http, "127.0.0.1:8198");
	check(a2);
	check(b);

	/* Entries tying on everything but the http address: the greater
	 * string wins on every node (a tie no correct cluster makes). */
	struct ent tie_lo = ent_make(7, 1, 4, MEMBER_VALID);
	struct ent tie_hi = tie_lo;
	snprintf(tie_lo.http, NAME_LEN, "10.0.0.7:1");
	snprintf(tie_hi.http, NAME_LEN, "10.0.0.7:2");
	struct msg lo = {0}, hi = {0};
	msg_add(&lo, tie_lo);
	msg_add(&hi, tie_hi);
	assert_int_equal(gossip_merge(a2, lo.m, lo.n, NULL, 50, NULL), 0);
	assert_int_equal(gossip_merge(a2, hi.m, hi.n, NULL, 50, &res), 0);
	assert_true(res.changed);
	assert_int_equal(res.advanced, 0); /* counters did not move */
	assert_int_equal(gossip_merge(b, hi.m, hi.n, NULL, 50, NULL), 0);
	assert_int_equal(gossip_merge(b, lo.m, lo.n, NULL, 50, &res), 0);
	assert_false(res.changed);
	member_of(a2, 7, &m);
	assert_string_equal(m.http, "10.0.0.7:2");
	member_of(b, 7, &m);
	assert_string_equal(m.http, "10.0.0.7:2");
	check(a2);
	check(b);
	gossip_free(a);
	gossip_free(a2);
	gossip_free(b);
}

/* Announcing again and again leaves garbage in the string arena, which
 * compaction reclaims; other members' strings survive it. */
static void test_self_http_arena(void **state)
{
	(void)state;
	struct ent e1 = ent_make(1, 1, 0, MEMBER_VALID);
	struct gossip *g = node_new(&e1, NULL);
	struct msg in = {0};
	for (uint64_t id = 2; id < 20; id++)
		msg_add(&in, ent_make(id, 1, 3, MEMBER_VALID));
	assert_int_equal(gossip_merge(g, in.m, in.n, NULL, 0, NULL), 0);
	char http[NAME_LEN];
	for (int k = 0; k < 2000; k++) {
		snprintf(http, sizeof(http), "127.0.%d.%d:%d", k % 7, k % 13,
		         1000 + k);
		assert_int_equal(gossip_self_set_http(g, http), 0);
		check(g);
	}
	struct gossip_member m;
	member_of(g, 1, &m);
	assert_string_equal(m.http, http);
	assert_string_equal(m.addr, e1.addr);
	assert_int_equal(m.version, 2000);
	for (size_t i = 0; i < in.n; i++) {
		member_of(g, in.e[i].id, &m);
		assert_string_equal(m.name, in.e[i].name);
		assert_string_equal(m.addr, in.e[i].addr);
		assert_string_equal(m.http, in.e[i].http);
	}
	gossip_free(g);
}

/* An operator on node 2 marks node 1 down while node 1 is alive: node 1
 * hears it, moves above the mark, and node 2 sees it valid again. */
static void test_mark_down_rebutted(void **state)
{
	(void)state;
	struct ent e1 = ent_make(1, 1, 5, MEMBER_VALID);
	struct ent e2 = ent_make(2, 1, 5, MEMBER_VALID);
	struct gossip *a = node_new(&e1, NULL);
	struct gossip *b = node_new(&e2, NULL);
	struct gossip_merge_result res;
	assert_int_equal(merge_state(b, a, 0, &res), 0);
	size_t i;
	assert_int_equal(gossip_member_find(b, 1, &i), 0);
	assert_int_equal(gossip_member_mark_down(b, 0), GOSSIP_EINVAL);
	assert_int_equal(gossip_member_mark_down(b, 99), GOSSIP_ENOTFOUND);
	assert_int_equal(gossip_member_mark_down(b, i), 0);
	assert_int_equal(gossip_member_mark_down(b, i), 0); /* no-op */
	check(b);
	struct gossip_member m;
	member_of(b, 1, &m);
	assert_int_equal(m.status, MEMBER_DOWN);
	assert_int_equal(m.version, 6);

	assert_int_equal(merge_state(a, b, 0, &res), 0);
	assert_true(res.self_bumped);
	member_of(a, 1, &m);
	assert_int_equal(m.status, MEMBER_VALID);
	assert_int_equal(m.version, 7);
	assert_int_equal(merge_state(b, a, 0, &res), 0);
	member_of(b, 1, &m);
	assert_int_equal(m.status, MEMBER_VALID);
	assert_int_equal(m.version, 7);
	gossip_free(a);
	gossip_free(b);
}

/* --- merge ---------------------------------------------------------------- */

static void test_merge_basic(void **state)
{
	(void)state;
	struct ent e1 = ent_make(1, 1, 0, MEMBER_VALID);
	struct gossip *g = node_new(&e1, NULL);
	struct gossip_merge_result res;
	struct msg in = {0};
	msg_add(&in, ent_make(2, 1, 3, MEMBER_VALID));
	msg_add(&in, ent_make(3, 2, 0, MEMBER_JOINING));
	assert_int_equal(gossip_merge(g, in.m, in.n, NULL, 100, &res), 0);
	check(g);
	assert_true(res.changed);
	assert_false(res.ring_changed);
	assert_false(res.self_bumped);
	assert_int_equal(res.learned, 2);
	assert_int_equal(res.advanced, 2);
	assert_null(res.reason);
	assert_int_equal(gossip_member_count(g), 3);
	struct gossip_member m;
	member_of(g, 3, &m);
	assert_string_equal(m.name, "node-3");
	assert_string_equal(m.addr, in.e[1].addr);
	assert_int_equal(m.status, MEMBER_JOINING);
	assert_int_equal(m.generation, 2);
	size_t i;
	assert_int_equal(gossip_member_find_name(g, "node-2", &i), 0);
	assert_int_equal(gossip_member_find(g, 2, &i), 0);
	assert_int_equal(gossip_member_find(g, 99, &i), GOSSIP_ENOTFOUND);
	assert_int_equal(gossip_member_find_name(g, "node-99", &i),
	                 GOSSIP_ENOTFOUND);
	assert_int_equal(gossip_member_find_name(g, NULL, &i),
	                 GOSSIP_ENOTFOUND);

	/* The same again: nothing changes. Empty input: nothing either. */
	assert_int_equal(gossip_merge(g, in.m, in.n, NULL, 200, &res), 0);
	assert_false(res.changed);
	assert_int_equal(res.advanced, 0);
	assert_int_equal(gossip_merge(g, NULL, 0, NULL, 200, &res), 0);
	assert_false(res.changed);

	/* An old generation never overrides a newer one, whatever its
	 * version; a newer generation wins with any version. */
	struct msg old = {0};
	msg_add(&old, ent_make(3, 1, 999999, MEMBER_VALID));
	assert_int_equal(gossip_merge(g, old.m, old.n, NULL, 300, &res), 0);
	assert_false(res.changed);
	member_of(g, 3, &m);
	assert_int_equal(m.generation, 2);
	assert_int_equal(m.version, 0);
	struct msg restart = {0};
	msg_add(&restart, ent_make(2, 2, 0, MEMBER_VALID));
	assert_int_equal(gossip_merge(g, restart.m, restart.n, NULL, 300, &res),
	                 0);
	assert_true(res.changed);
	member_of(g, 2, &m);
	assert_int_equal(m.generation, 2);
	assert_string_equal(m.addr, restart.e[0].addr); /* moved */
	check(g);
	gossip_free(g);
}

/* Each refused input leaves table, ring and detectors as they were. */
struct refusal {
	const char *what;
	int rc;
	size_t bad; /* index in the message, or GOSSIP_NONE */
};

static void assert_refused(struct gossip *g, const struct msg *in,
                           const struct ring *ring, struct refusal want)
{
	struct gossip *before = clone(g);
	struct gossip_health h0, h1;
	size_t i2;
	assert_int_equal(gossip_member_find(g, 2, &i2), 0);
	assert_int_equal(gossip_member_health(g, i2, 5000, &h0), 0);
	struct gossip_merge_result res;
	int rc = gossip_merge(g, in->m, in->n, ring, 5000, &res);
	if (rc != want.rc)
		fail_msg("%s: rc %d, want %d (%s)", want.what, rc, want.rc,
		         res.reason ? res.reason : "-");
	assert_int_equal(res.bad, want.bad);
	assert_non_null(res.reason);
	assert_false(res.changed);
	check(g);
	assert_true(gossip_equal(g, before));
	assert_int_equal(gossip_member_health(g, i2, 5000, &h1), 0);
	assert_int_equal(h0.samples, h1.samples);
	assert_int_equal(h0.last_heard_ms, h1.last_heard_ms);
	gossip_free(before);
}

static void test_merge_refused(void **state)
{
	(void)state;
	struct ent e1 = ent_make(1, 1, 0, MEMBER_VALID);
	struct gossip *g = node_new(&e1, ring_founded(3));
	struct msg base = {0};
	msg_add(&base, ent_make(2, 1, 1, MEMBER_VALID));
	msg_add(&base, ent_make(3, 1, 1, MEMBER_VALID));
	assert_int_equal(gossip_merge(g, base.m, base.n, NULL, 1000, NULL), 0);

	/* Every message starts with a legal heartbeat of member 2, which
	 * must not be applied when the rest is refused. */
	struct ent hb = ent_make(2, 1, 9, MEMBER_VALID);
	struct ent e;
	struct msg in;
	char long_name[300];
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';

#define CASE(what, rc, bad, setup)                                             \
	do {                                                                   \
		memset(&in, 0, sizeof(in));                                    \
		msg_add(&in, hb);                                              \
		setup;                                                         \
		assert_refused(g, &in, NULL, (struct refusal){what, rc, bad}); \
	} while (0)

	CASE("id 0", GOSSIP_ECORRUPT, 1,
	     (e = ent_make(0, 1, 1, MEMBER_VALID), msg_add(&in, e)));
	CASE("empty name", GOSSIP_ECORRUPT, 1,
	     (e = ent_make(9, 1, 1, MEMBER_VALID), e.name[0] = '\0',
	      msg_add(&in, e)));
	CASE("name with a space", GOSSIP_ECORRUPT, 1,
	     (e = ent_make(9, 1, 1, MEMBER_VALID),
	      snprintf(e.name, NAME_LEN, "a b"), msg_add(&in, e)));
	CASE("name too long", GOSSIP_ECORRUPT, 1,
	     (e = ent_make(9, 1, 1, MEMBER_VALID), msg_add(&in, e),
	      in.m[1].name = long_name));
	CASE("no address", GOSSIP_ECORRUPT, 1,
	     (e = ent_make(9, 1, 1, MEMBER_VALID), msg_add(&in, e),
	      in.m[1].addr = NULL));
	CASE("no http address", GOSSIP_ECORRUPT, 1,
	     (e = ent_make(9, 1, 1, MEMBER_VALID), msg_add(&in, e),
	      in.m[1].http = NULL));
	CASE("http address with a control character", GOSSIP_ECORRUPT, 1,
	     (e = ent_make(9, 1, 1, MEMBER_VALID),
	      snprintf(e.http, NAME_LEN, "h\t:1"), msg_add(&in, e)));
	CASE("http address too long", GOSSIP_ECORRUPT, 1,
	     (e = ent_make(9, 1, 1, MEMBER_VALID), msg_add(&in, e),
	      in.m[1].http = long_name));
	/* Known member 3, only its http address bad: checked although its
	 * name and address are ours. */
	CASE("known member, http address with a space", GOSSIP_ECORRUPT, 1,
	     (e = ent_make(3, 1, 10, MEMBER_VALID),
	      snprintf(e.http, NAME_LEN, "a b"), msg_add(&in, e)));
	CASE("status out of range", GOSSIP_ECORRUPT, 1,
	     (e = ent_make(9, 1, 1, MEMBER_VALID),
	      e.status = (enum member_status)7, msg_add(&in, e)));
	CASE("generation too big", GOSSIP_ECORRUPT, 1,
	     (e = ent_make(9, GOSSIP_MAX_COUNTER, 1, MEMBER_VALID),
	      msg_add(&in, e)));
	CASE("version too big", GOSSIP_ECORRUPT, 1,
	     (e = ent_make(3, 1, UINT64_MAX, MEMBER_VALID), msg_add(&in, e)));
	CASE("known id twice", GOSSIP_ECORRUPT, 1, msg_add(&in, hb));
	CASE("new id twice", GOSSIP_ECORRUPT, 2,
	     (msg_add(&in, ent_make(9, 1, 1, MEMBER_VALID)),
	      msg_add(&in, ent_make(9, 1, 2, MEMBER_VALID))));
	CASE("new ids share an address", GOSSIP_ECORRUPT, 2,
	     (e = ent_make(9, 1, 1, MEMBER_VALID), msg_add(&in, e),
	      e = ent_make(10, 1, 1, MEMBER_JOINING),
	      snprintf(e.addr, NAME_LEN, "%s", in.e[1].addr), msg_add(&in, e)));
	CASE("new ids share a name", GOSSIP_ECORRUPT, 2,
	     (e = ent_make(9, 1, 1, MEMBER_VALID), msg_add(&in, e),
	      e = ent_make(10, 1, 1, MEMBER_VALID),
	      snprintf(e.name, NAME_LEN, "node-9"), msg_add(&in, e)));
	/* The message holds member 2 as we do, and another id at its
	 * address: impossible whatever we hold. */
	CASE("new id at the address of a received member", GOSSIP_ECORRUPT, 1,
	     (e = ent_make(9, 1, 1, MEMBER_VALID),
	      snprintf(e.addr, NAME_LEN, "%s", hb.addr), msg_add(&in, e)));
	/* Member 3 not in the message: the message is possible, but after
	 * the merge two live members would share an address. */
	CASE("new id at the address of a live member", GOSSIP_EINVAL, 1,
	     (e = ent_make(9, 1, 1, MEMBER_VALID),
	      snprintf(e.addr, NAME_LEN, "%s", base.e[1].addr),
	      msg_add(&in, e)));
	CASE("new id with the name of a live member", GOSSIP_EINVAL, 1,
	     (e = ent_make(9, 1, 1, MEMBER_JOINING),
	      snprintf(e.name, NAME_LEN, "node-3"), msg_add(&in, e)));
	CASE("new id at our address", GOSSIP_EINVAL, 1,
	     (e = ent_make(9, 1, 1, MEMBER_VALID),
	      snprintf(e.addr, NAME_LEN, "%s", e1.addr), msg_add(&in, e)));
	CASE("known member renamed onto another", GOSSIP_EINVAL, 1,
	     (e = ent_make(3, 1, 5, MEMBER_VALID),
	      snprintf(e.name, NAME_LEN, "node-1"), msg_add(&in, e)));
	CASE("a claim about us we cannot move above", GOSSIP_ECORRUPT, 1,
	     (e = ent_make(1, GOSSIP_MAX_COUNTER - 1, 1, MEMBER_VALID),
	      msg_add(&in, e)));
#undef CASE

	/* Rings: another size, or not a valid ring. */
	memset(&in, 0, sizeof(in));
	msg_add(&in, hb);
	struct ring *other;
	assert_int_equal(ring_new(2 * Q, &other), 0);
	assert_refused(
	    g, &in, other,
	    (struct refusal){"ring size", GOSSIP_EINVAL, GOSSIP_NONE});
	ring_free(other);
	struct ring *half;
	assert_int_equal(ring_new(Q, &half), 0);
	assert_int_equal(
	    ring_partition_set(half, 0, "node-1", NULL, 1, "node-1"), 0);
	assert_refused(g, &in, half,
	               (struct refusal){"half-claimed ring", GOSSIP_ECORRUPT,
	                                GOSSIP_NONE});
	ring_free(half);

	/* Arguments. */
	struct gossip_merge_result res;
	assert_int_equal(gossip_merge(g, NULL, 1, NULL, 0, &res),
	                 GOSSIP_EINVAL);
	struct gossip_member *big =
	    calloc(GOSSIP_MAX_MEMBERS + 1, sizeof(*big));
	assert_non_null(big);
	assert_int_equal(
	    gossip_merge(g, big, GOSSIP_MAX_MEMBERS + 1, NULL, 0, &res),
	    GOSSIP_ETOOBIG);
	free(big);

	/* After all that, the heartbeat alone is applied. */
	memset(&in, 0, sizeof(in));
	msg_add(&in, hb);
	assert_int_equal(gossip_merge(g, in.m, in.n, NULL, 5000, &res), 0);
	assert_true(res.changed);
	assert_int_equal(res.advanced, 1);
	check(g);
	gossip_free(g);
}

/* Shared names and addresses are fine when all but one holder is marked
 * down: how a node that lost its data (new id, same address) comes back. */
static void test_replacement(void **state)
{
	(void)state;
	struct ent e1 = ent_make(1, 1, 0, MEMBER_VALID);
	struct gossip *g = node_new(&e1, NULL);
	struct ent old = ent_make(2, 1, 4, MEMBER_VALID);
	struct msg in = {0};
	msg_add(&in, old);
	assert_int_equal(gossip_merge(g, in.m, in.n, NULL, 0, NULL), 0);

	/* The replacement: new id, same name and address. */
	struct ent neu = ent_make(5, 9, 0, MEMBER_JOINING);
	snprintf(neu.name, NAME_LEN, "%s", old.name);
	snprintf(neu.addr, NAME_LEN, "%s", old.addr);
	struct msg join = {0};
	msg_add(&join, neu);
	struct gossip_merge_result res;
	assert_int_equal(gossip_merge(g, join.m, join.n, NULL, 0, &res),
	                 GOSSIP_EINVAL);
	assert_int_equal(gossip_member_count(g), 2);

	/* A replacement entry that is itself marked down holds nothing. */
	struct ent neu_down = neu;
	neu_down.status = MEMBER_DOWN;
	struct gossip *g2 = clone(g);
	struct msg jd = {0};
	msg_add(&jd, neu_down);
	assert_int_equal(gossip_merge(g2, jd.m, jd.n, NULL, 0, &res), 0);
	check(g2);
	gossip_free(g2);

	/* The old member marked down in the same message: accepted. */
	g2 = clone(g);
	struct ent old_down = old;
	old_down.version++;
	old_down.status = MEMBER_DOWN;
	struct msg both = {0};
	msg_add(&both, old_down);
	msg_add(&both, neu);
	assert_int_equal(gossip_merge(g2, both.m, both.n, NULL, 0, &res), 0);
	check(g2);
	size_t i;
	assert_int_equal(gossip_member_find_name(g2, old.name, &i), 0);
	struct gossip_member m;
	assert_int_equal(gossip_member_at(g2, i, &m), 0);
	assert_int_equal(m.id, 5); /* the live holder of the name */
	gossip_free(g2);

	/* The old member restarted elsewhere (new generation, new address)
	 * while the new id takes its old address: accepted. */
	g2 = clone(g);
	struct ent moved = ent_make(2, 2, 0, MEMBER_VALID);
	struct ent taker = ent_make(6, 1, 0, MEMBER_JOINING);
	snprintf(taker.addr, NAME_LEN, "%s", old.addr);
	struct msg mv = {0};
	msg_add(&mv, taker);
	msg_add(&mv, moved);
	assert_int_equal(gossip_merge(g2, mv.m, mv.n, NULL, 0, &res), 0);
	check(g2);
	gossip_free(g2);

	/* The operator's way: mark the old id down here, then the new one
	 * is accepted; find_name now gives the new one. */
	assert_int_equal(gossip_member_find(g, 2, &i), 0);
	assert_int_equal(gossip_member_mark_down(g, i), 0);
	assert_int_equal(gossip_merge(g, join.m, join.n, NULL, 0, &res), 0);
	check(g);
	assert_int_equal(gossip_member_find_name(g, old.name, &i), 0);
	assert_int_equal(gossip_member_at(g, i, &m), 0);
	assert_int_equal(m.id, 5);
	/* The old one cannot come back to life on the same address now. */
	struct ent back = old;
	back.version += 10;
	struct msg bk = {0};
	msg_add(&bk, back);
	assert_int_equal(gossip_merge(g, bk.m, bk.n, NULL, 0, &res),
	                 GOSSIP_EINVAL);
	check(g);
	gossip_free(g);
}

/* --- merge laws over generated states ------------------------------------- */

#define LAW_IDS   10u
#define LAW_NODES 3u

/* The hidden history: per id, the newest (generation, version). The
 * content of an entry is a function of (id, generation, version), except
 * for deliberate ties ("alt": same counters, ALT_STATUS another status,
 * ALT_HTTP only another http address). */
struct history {
	uint64_t gen[LAW_IDS + 1];
	uint64_t ver[LAW_IDS + 1];
};

static enum member_status status_of(uint64_t id, uint64_t gen, uint64_t ver)
{
	return (enum member_status)((id * 7 + gen * 3 + ver) % 4); /* no DOWN */
}

enum { ALT_NONE, ALT_STATUS, ALT_HTTP };

static struct ent history_entry(uint64_t id, uint64_t gen, uint64_t ver,
                                int alt)
{
	enum member_status st = status_of(id, gen, ver);
	if (alt == ALT_STATUS)
		st = (enum member_status)((st + 1) % MEMBER_STATUS_COUNT);
	struct ent e = ent_make(id, gen, ver, st);
	if (alt == ALT_HTTP)
		snprintf(e.http, NAME_LEN, "alt-%" PRIu64 ":8098", id);
	return e;
}

/* law_node -- node `self`'s view: its own newest entry, and for each other
 * id (70%) some entry at or before the newest; nodes' own ids are never
 * claimed above what they hold. */
static struct gossip *law_node(const struct history *h, uint64_t self,
                               struct rng *g)
{
	struct ent se =
	    history_entry(self, h->gen[self], h->ver[self], ALT_NONE);
	/* A ring: the founding ring with a few random changes. */
	struct ring *r = ring_founded(4);
	for (int k = 0; k < 3; k++) {
		char owner[NAME_LEN], writer[NAME_LEN];
		snprintf(owner, NAME_LEN, "node-%u",
		         1 + (unsigned)rng_below(g, 6));
		snprintf(writer, NAME_LEN, "node-%u",
		         1 + (unsigned)rng_below(g, 6));
		assert_int_equal(
		    ring_partition_set(r, (uint32_t)rng_below(g, Q), owner,
		                       NULL, 2 + rng_below(g, 3), writer),
		    0);
	}
	struct gossip *node = node_new(&se, r);
	for (uint64_t id = 1; id <= LAW_IDS; id++) {
		if (id == self || rng_below(g, 10) >= 7)
			continue;
		uint64_t gen = 1 + rng_below(g, h->gen[id]);
		uint64_t ver = gen < h->gen[id] ? rng_below(g, 40)
		                                : rng_below(g, h->ver[id] + 1);
		int alt = id > LAW_NODES && rng_below(g, 4) == 0
		              ? (int)(1 + rng_below(g, 2))
		              : ALT_NONE;
		struct ent e = history_entry(id, gen, ver, alt);
		struct gossip_member m = ent_member(&e);
		if (m.status == MEMBER_DOWN && rng_below(g, 2) == 0)
			m.status = MEMBER_VALID;
		assert_int_equal(gossip_member_set(node, &m), 0);
	}
	check(node);
	return node;
}

static void merge_ok(struct gossip *dst, const struct gossip *src)
{
	struct gossip_merge_result res;
	assert_int_equal(merge_state(dst, src, 1000, &res), 0);
	assert_false(res.self_bumped);
}

static void test_merge_laws(void **state)
{
	(void)state;
	struct rng g;
	seeded(&g, 42);
	for (int trial = 0; trial < 300; trial++) {
		struct history h;
		for (uint64_t id = 1; id <= LAW_IDS; id++) {
			h.gen[id] = 1 + rng_below(&g, 3);
			h.ver[id] = rng_below(&g, 30);
		}
		struct gossip *a = law_node(&h, 1, &g);
		struct gossip *b = law_node(&h, 2, &g);
		struct gossip *c = law_node(&h, 3, &g);

		/* Commutative: a + b == b + a. */
		struct gossip *ab = clone(a), *ba = clone(b);
		merge_ok(ab, b);
		merge_ok(ba, a);
		assert_true(gossip_equal(ab, ba));

		/* Associative: (a + b) + c == a + (b + c). */
		struct gossip *ab_c = clone(ab);
		merge_ok(ab_c, c);
		struct gossip *bc = clone(b);
		merge_ok(bc, c);
		struct gossip *a_bc = clone(a);
		merge_ok(a_bc, bc);
		assert_true(gossip_equal(ab_c, a_bc));

		/* Idempotent: a + a == a, (a + b) + b == a + b, and neither
		 * reports a change. */
		struct gossip_merge_result res;
		struct gossip *aa = clone(a);
		assert_int_equal(merge_state(aa, a, 1000, &res), 0);
		assert_false(res.changed);
		assert_false(res.ring_changed);
		assert_true(gossip_equal(aa, a));
		struct gossip *abb = clone(ab);
		assert_int_equal(merge_state(abb, b, 1000, &res), 0);
		assert_false(res.changed);
		assert_false(res.ring_changed);
		assert_true(gossip_equal(abb, ab));

		/* Our own entry is never lowered: a's entry in every merge
		 * held by a is a's own. */
		struct gossip_member self, now;
		assert_int_equal(gossip_member_at(a, 0, &self), 0);
		assert_int_equal(gossip_member_at(a_bc, 0, &now), 0);
		assert_int_equal(now.generation, self.generation);
		assert_int_equal(now.version, self.version);

		/* Everyone converges: after all merge all, all are equal. */
		struct gossip *all[3] = {ab_c, bc, ba};
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 3; j++)
				if (i != j)
					merge_ok(all[i], all[j]);
		for (int i = 0; i < 3; i++)
			for (int j = 0; j < 3; j++)
				if (i != j)
					merge_ok(all[i], all[j]);
		assert_true(gossip_equal(all[0], all[1]));
		assert_true(gossip_equal(all[1], all[2]));

		gossip_free(a);
		gossip_free(b);
		gossip_free(c);
		gossip_free(ab);
		gossip_free(ba);
		gossip_free(ab_c);
		gossip_free(bc);
		gossip_free(a_bc);
		gossip_free(aa);
		gossip_free(abb);
	}
}

/* --- detector through merges --------------------------------------------- */

static void test_heartbeats(void **state)
{
	(void)state;
	struct ent e1 = ent_make(1, 1, 0, MEMBER_VALID);
	struct ent e2 = ent_make(2, 1, 0, MEMBER_VALID);
	struct gossip *a = node_new(&e1, NULL);
	struct gossip *b = node_new(&e2, NULL);
	struct gossip_merge_result res;
	struct gossip_health hl;
	uint64_t now = 10000;
	size_t ib;

	/* First sight: alive, one bootstrap sample of 2 * interval. */
	assert_int_equal(merge_state(a, b, now, &res), 0);
	assert_int_equal(res.advanced, 1);
	assert_int_equal(gossip_member_find(a, 2, &ib), 0);
	assert_int_equal(gossip_member_health(a, ib, now, &hl), 0);
	assert_true(hl.heard && hl.alive);
	assert_int_equal(hl.samples, 1);
	assert_true(hl.mean_ms == 2000.0);

	/* b ticks every second and a hears every tick. */
	for (int r = 0; r < 30; r++) {
		now += 1000;
		gossip_tick(b, now);
		assert_int_equal(merge_state(a, b, now, &res), 0);
		assert_int_equal(res.advanced, 1);
		assert_true(gossip_member_alive(a, ib, now));
		assert_true(gossip_member_phi(a, ib, now + 999) < 1.0);
	}
	assert_int_equal(gossip_member_health(a, ib, now, &hl), 0);
	assert_int_equal(hl.samples, 31);
	assert_int_equal(hl.last_heard_ms, now);

	/* b stops; a keeps receiving its stale entry: no arrival, so the
	 * suspicion grows and crosses 8 after 8 * ln(10) * mean. */
	uint64_t last = now;
	double t_cross = 8.0 * log(10.0) * hl.mean_ms;
	for (uint64_t t = last + 1000; t < last + 40000; t += 1000) {
		assert_int_equal(merge_state(a, b, t, &res), 0);
		assert_int_equal(res.advanced, 0);
		bool alive = gossip_member_alive(a, ib, t);
		assert_true(alive == ((double)(t - last) < t_cross));
	}
	assert_false(gossip_member_alive(a, ib, last + 40000));

	/* b restarts: new generation, the detector starts over. */
	gossip_free(b);
	e2.generation = 2;
	b = node_new(&e2, NULL);
	now = last + 41000;
	assert_int_equal(merge_state(a, b, now, &res), 0);
	assert_int_equal(res.advanced, 1);
	assert_int_equal(gossip_member_health(a, ib, now, &hl), 0);
	assert_int_equal(hl.samples, 1);
	assert_true(hl.alive);

	/* A mark on b made elsewhere is not a sign of life. */
	struct ent e3 = ent_make(3, 1, 0, MEMBER_VALID);
	struct gossip *c = node_new(&e3, NULL);
	assert_int_equal(merge_state(c, b, now, &res), 0);
	size_t cb;
	assert_int_equal(gossip_member_find(c, 2, &cb), 0);
	assert_int_equal(gossip_member_mark_down(c, cb), 0);
	assert_int_equal(merge_state(a, c, now + 500, &res), 0);
	assert_true(res.changed);
	assert_int_equal(res.advanced, 1); /* c itself, first sight */
	assert_int_equal(gossip_member_health(a, ib, now + 500, &hl), 0);
	assert_int_equal(hl.last_heard_ms, now);
	struct gossip_member m;
	member_of(a, 2, &m);
	assert_int_equal(m.status, MEMBER_DOWN);
	gossip_free(a);
	gossip_free(b);
	gossip_free(c);
}

/* --- restoring and limits ------------------------------------------------- */

static void test_member_set(void **state)
{
	(void)state;
	struct ent e1 = ent_make(1, 1, 0, MEMBER_VALID);
	struct gossip *g = node_new(&e1, NULL);
	struct ent e2 = ent_make(2, 3, 4, MEMBER_LEAVING);
	struct gossip_member m = ent_member(&e2);
	assert_int_equal(gossip_member_set(g, &m), 0);
	check(g);
	size_t i;
	assert_int_equal(gossip_member_find(g, 2, &i), 0);
	assert_false(gossip_member_alive(g, i, 0)); /* never heard */
	assert_true(isinf(gossip_member_phi(g, i, 0)));
	struct gossip_health h;
	assert_int_equal(gossip_member_health(g, i, 0, &h), 0);
	assert_false(h.heard);

	/* Overwrite, lower counters and another name: set does not order. */
	struct ent e2b = ent_make(2, 1, 0, MEMBER_VALID);
	snprintf(e2b.name, NAME_LEN, "renamed");
	m = ent_member(&e2b);
	assert_int_equal(gossip_member_set(g, &m), 0);
	check(g);
	assert_int_equal(gossip_member_count(g), 2);
	assert_int_equal(gossip_member_find_name(g, "renamed", &i), 0);
	assert_int_equal(gossip_member_find_name(g, "node-2", &i),
	                 GOSSIP_ENOTFOUND);
	/* Only the http address changes: kept too. */
	snprintf(e2b.http, NAME_LEN, "10.0.0.2:8098");
	m = ent_member(&e2b);
	assert_int_equal(gossip_member_set(g, &m), 0);
	check(g);
	member_of(g, 2, &m);
	assert_string_equal(m.http, "10.0.0.2:8098");

	/* Errors. */
	m = ent_member(&e1);
	assert_int_equal(gossip_member_set(g, &m), GOSSIP_EINVAL); /* us */
	struct ent e3 = ent_make(3, 1, 0, MEMBER_VALID);
	snprintf(e3.addr, NAME_LEN, "%s", e1.addr);
	m = ent_member(&e3);
	assert_int_equal(gossip_member_set(g, &m), GOSSIP_EINVAL);
	e3.status = MEMBER_DOWN; /* a down member may share it */
	m = ent_member(&e3);
	assert_int_equal(gossip_member_set(g, &m), 0);
	m.name = "";
	assert_int_equal(gossip_member_set(g, &m), GOSSIP_EINVAL);
	m = ent_member(&e3);
	m.http = NULL;
	assert_int_equal(gossip_member_set(g, &m), GOSSIP_EINVAL);
	assert_int_equal(gossip_member_set(g, NULL), GOSSIP_EINVAL);
	check(g);
	gossip_free(g);
}

static void test_table_full(void **state)
{
	(void)state;
	struct ent e1 = ent_make(1, 1, 0, MEMBER_VALID);
	struct gossip *g = node_new(&e1, NULL);
	size_t n = GOSSIP_MAX_MEMBERS - 1;
	struct ent *ents = calloc(n + 1, sizeof(*ents));
	struct gossip_member *m = calloc(n + 1, sizeof(*m));
	assert_non_null(ents);
	assert_non_null(m);
	for (size_t i = 0; i <= n; i++) {
		ents[i] = ent_make(2 + i, 1, 1, MEMBER_VALID);
		snprintf(ents[i].addr, NAME_LEN, "10.1.%zu.%zu:8099", i / 256,
		         i % 256);
		m[i] = ent_member(&ents[i]);
	}
	struct gossip_merge_result res;
	assert_int_equal(gossip_merge(g, m, n, NULL, 0, &res), 0);
	assert_int_equal(res.learned, n);
	assert_int_equal(gossip_member_count(g), GOSSIP_MAX_MEMBERS);
	check(g);
	/* One more member does not fit; the table is unchanged. */
	assert_int_equal(gossip_merge(g, &m[n], 1, NULL, 0, &res),
	                 GOSSIP_ETOOBIG);
	assert_int_equal(gossip_member_count(g), GOSSIP_MAX_MEMBERS);
	assert_int_equal(gossip_member_set(g, &m[n]), GOSSIP_ETOOBIG);
	/* Heartbeats of all of them still merge. */
	for (size_t i = 0; i < n; i++)
		m[i].version++;
	assert_int_equal(gossip_merge(g, m, n, NULL, 1000, &res), 0);
	assert_int_equal(res.advanced, n);
	check(g);
	free(ents);
	free(m);
	gossip_free(g);
}

/* --- the ring travels ------------------------------------------------------
 */

static void test_ring_travels(void **state)
{
	(void)state;
	struct ent e1 = ent_make(1, 1, 0, MEMBER_VALID);
	struct ent e4 = ent_make(4, 1, 0, MEMBER_JOINING);
	struct gossip *a = node_new(&e1, ring_founded(3));
	struct gossip *d = node_new(&e4, NULL); /* joining: no ring yet */
	struct gossip_merge_result res;
	assert_int_equal(merge_state(d, a, 0, &res), 0);
	assert_true(res.ring_changed);
	assert_true(ring_equal(gossip_ring_const(a), gossip_ring_const(d)));
	assert_int_equal(merge_state(d, a, 0, &res), 0);
	assert_false(res.ring_changed);
	assert_false(res.changed);
	/* A newer ring change on d flows back to a. */
	assert_int_equal(ring_partition_set(gossip_ring(d), 0, "node-4", NULL,
	                                    ring_version(gossip_ring(d), 0) + 1,
	                                    "node-4"),
	                 0);
	assert_int_equal(merge_state(a, d, 0, &res), 0);
	assert_true(res.ring_changed);
	assert_true(gossip_equal(a, d));
	gossip_free(a);
	gossip_free(d);
}

/* --- peer selection --------------------------------------------------------
 */

static void test_peer_pick(void **state)
{
	(void)state;
	struct rng g;
	seeded(&g, 7);
	struct ent e1 = ent_make(1, 1, 0, MEMBER_VALID);
	struct gossip *a = node_new(&e1, NULL);
	struct gossip_peer p;
	const char *seeds[] = {e1.addr, "10.0.0.99:8099", "10.0.0.98:8099"};

	/* Alone, no seeds (or only ourselves): nobody. */
	assert_int_equal(gossip_peer_pick(a, 0, &g, NULL, 0, &p),
	                 GOSSIP_ENOTFOUND);
	assert_int_equal(gossip_peer_pick(a, 0, &g, seeds, 1, &p),
	                 GOSSIP_ENOTFOUND);
	assert_int_equal(gossip_peer_pick(a, 0, &g, NULL, 1, &p),
	                 GOSSIP_EINVAL);
	/* Seeds, never our own address. */
	int hits[3] = {0};
	for (int k = 0; k < 1000; k++) {
		assert_int_equal(gossip_peer_pick(a, 0, &g, seeds, 3, &p), 0);
		assert_int_equal(p.kind, GOSSIP_PEER_SEED);
		assert_int_equal(p.member, GOSSIP_NONE);
		for (int s = 0; s < 3; s++)
			hits[s] += p.addr == seeds[s];
	}
	assert_int_equal(hits[0], 0);
	assert_true(hits[1] > 400 && hits[2] > 400);

	/* Five members restored from disk: never heard, so down. With no
	 * seeds they are tried; with seeds the seeds are. */
	for (uint64_t id = 20; id < 25; id++) {
		struct ent e = ent_make(id, 1, 0, MEMBER_VALID);
		struct gossip_member m = ent_member(&e);
		assert_int_equal(gossip_member_set(a, &m), 0);
	}
	assert_int_equal(gossip_peer_pick(a, 0, &g, NULL, 0, &p), 0);
	assert_int_equal(p.kind, GOSSIP_PEER_DOWN);
	assert_int_equal(gossip_peer_pick(a, 0, &g, seeds, 3, &p), 0);
	assert_int_equal(p.kind, GOSSIP_PEER_SEED);

	/* Ten live members: uniform among them, never us; down ones with
	 * probability 5 / 11. */
	struct msg in = {0};
	for (uint64_t id = 2; id < 12; id++)
		msg_add(&in, ent_make(id, 1, 1, MEMBER_VALID));
	assert_int_equal(gossip_merge(a, in.m, in.n, NULL, 100, NULL), 0);
	int live_hits[32] = {0}, down = 0;
	const int picks = 22000;
	for (int k = 0; k < picks; k++) {
		assert_int_equal(gossip_peer_pick(a, 100, &g, seeds, 3, &p), 0);
		assert_true(p.member != 0 && p.member < 16);
		struct gossip_member m;
		assert_int_equal(gossip_member_at(a, p.member, &m), 0);
		assert_ptr_equal(p.addr, m.addr);
		if (p.kind == GOSSIP_PEER_DOWN) {
			assert_true(m.id >= 20);
			down++;
		} else {
			assert_int_equal(p.kind, GOSSIP_PEER_LIVE);
			assert_true(m.id >= 2 && m.id < 12);
			live_hits[m.id]++;
		}
	}
	double frac = (double)down / picks;
	assert_true(fabs(frac - 5.0 / 11.0) < 0.02);
	for (uint64_t id = 2; id < 12; id++) /* each ~1200 */
		assert_true(live_hits[id] > 1000 && live_hits[id] < 1400);

	/* Many down, few live: the down share is capped at one half. */
	for (uint64_t id = 30; id < 80; id++) {
		struct ent e = ent_make(id, 1, 0, MEMBER_VALID);
		struct gossip_member m = ent_member(&e);
		assert_int_equal(gossip_member_set(a, &m), 0);
	}
	down = 0;
	for (int k = 0; k < 10000; k++) {
		assert_int_equal(gossip_peer_pick(a, 100, &g, seeds, 3, &p), 0);
		down += p.kind == GOSSIP_PEER_DOWN;
	}
	assert_true(fabs(down / 10000.0 - 0.5) < 0.03);

	/* Much later everyone is down: seeds again. */
	assert_int_equal(gossip_peer_pick(a, 1000000, &g, seeds, 3, &p), 0);
	assert_int_equal(p.kind, GOSSIP_PEER_SEED);
	gossip_free(a);
}

int main(void)
{
	test_seed = test_seed_init("test_gossip");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_names),
	    cmocka_unit_test(test_new_errors),
	    cmocka_unit_test(test_tick_and_status),
	    cmocka_unit_test(test_self_rule),
	    cmocka_unit_test(test_self_http),
	    cmocka_unit_test(test_self_http_arena),
	    cmocka_unit_test(test_mark_down_rebutted),
	    cmocka_unit_test(test_merge_basic),
	    cmocka_unit_test(test_merge_refused),
	    cmocka_unit_test(test_replacement),
	    cmocka_unit_test(test_merge_laws),
	    cmocka_unit_test(test_heartbeats),
	    cmocka_unit_test(test_member_set),
	    cmocka_unit_test(test_table_full),
	    cmocka_unit_test(test_ring_travels),
	    cmocka_unit_test(test_peer_pick),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
