/* test_ring.c -- placement, ownership, claim, preference lists, plans, merge.
 *
 * Randomized tests draw from a struct rng seeded by one number, printed at
 * the start; RKV_SEED=<number> replays a run exactly. Each test derives its
 * own generator from that seed, so a test replays alone or in any order.
 * ring_validate() runs after every mutation.
 */
#include "ring/ring.h"
#include "ring/rng.h"

#include "tests/seed.h"

#include <inttypes.h>
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

#define MAX_MEMBERS 128
#define NAME_LEN    32

static uint64_t test_seed;

static void seeded(struct rng *r, uint64_t salt)
{
	rng_init(r, test_seed ^ (salt * UINT64_C(0x9e3779b97f4a7c15)));
}

/* A member set with storage for its names. */
struct members {
	size_t n;
	char names[MAX_MEMBERS][NAME_LEN];
	const char *ptr[MAX_MEMBERS];
};

static void members_add(struct members *m, const char *name)
{
	assert_true(m->n < MAX_MEMBERS);
	snprintf(m->names[m->n], NAME_LEN, "%s", name);
	m->n++;
	for (size_t i = 0; i < m->n; i++)
		m->ptr[i] = m->names[i];
}

static void members_remove(struct members *m, size_t i)
{
	assert_true(i < m->n);
	memmove(m->names[i], m->names[i + 1], (m->n - i - 1) * NAME_LEN);
	m->n--;
	for (size_t k = 0; k < m->n; k++)
		m->ptr[k] = m->names[k];
}

/* members_copy -- a copy whose pointers point into its own names. */
static void members_copy(struct members *dst, const struct members *src)
{
	dst->n = src->n;
	memcpy(dst->names, src->names, sizeof(dst->names));
	for (size_t i = 0; i < dst->n; i++)
		dst->ptr[i] = dst->names[i];
}

static bool members_has(const struct members *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->names[i], name) == 0)
			return true;
	return false;
}

/* members_make -- n members named node-000 .. */
static void members_make(struct members *m, size_t n)
{
	char name[NAME_LEN];
	m->n = 0;
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "node-%03zu", i);
		members_add(m, name);
	}
}

/* members_join_random -- a new member with a random name, so that it sorts
 * anywhere among the others. */
static void members_join_random(struct members *m, struct rng *g)
{
	char name[NAME_LEN];
	do
		snprintf(name, sizeof(name), "10.%u.%u.%u:8099",
		         (unsigned)rng_below(g, 256),
		         (unsigned)rng_below(g, 256),
		         (unsigned)rng_below(g, 256));
	while (members_has(m, name));
	members_add(m, name);
}

static void members_shuffle(struct members *m, struct rng *g)
{
	for (size_t i = m->n; i > 1; i--) {
		size_t j = (size_t)rng_below(g, i);
		const char *t = m->ptr[i - 1];
		m->ptr[i - 1] = m->ptr[j];
		m->ptr[j] = t;
	}
}

static struct ring *found(uint32_t q, const struct members *m, unsigned n_val)
{
	struct ring *empty, *r;
	assert_int_equal(ring_new(q, &empty), 0);
	assert_int_equal(ring_validate(empty), 0);
	assert_int_equal(ring_claim(empty, m->ptr, m->n, n_val, &r), 0);
	assert_int_equal(ring_validate(r), 0);
	ring_free(empty);
	return r;
}

static const char *future_name(const struct ring *r, uint32_t p)
{
	return ring_node_name(r, ring_future_owner(r, p));
}

static uint32_t owned_by(const struct ring *r, const char *name)
{
	uint32_t node;
	if (ring_node_find(r, name, &node) != 0)
		return 0;
	return ring_owned(r, node, true);
}

/* assert_balanced -- members own everything, each floor or ceil of Q/S. */
static void assert_balanced(const struct ring *r, const struct members *m)
{
	uint32_t q = ring_partition_count(r), total = 0;
	uint32_t lo = q / (uint32_t)m->n;
	uint32_t hi = lo + (q % m->n != 0);
	for (size_t i = 0; i < m->n; i++) {
		uint32_t k = owned_by(r, m->names[i]);
		if (k < lo || k > hi)
			fail_msg("Q=%u S=%zu: %s owns %u, want %u..%u", q, m->n,
			         m->names[i], k, lo, hi);
		total += k;
	}
	assert_int_equal(total, q);
}

static int cmp_desc(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* minimal_moves -- what balance forces, computed independently of claim:
 * Q minus the most partitions members can keep, where the Q mod S members
 * allowed the ceiling are those holding most. */
static uint32_t minimal_moves(const struct ring *cur, const struct members *m)
{
	uint32_t q = ring_partition_count(cur), held[MAX_MEMBERS], kept = 0;
	for (size_t i = 0; i < m->n; i++)
		held[i] = owned_by(cur, m->names[i]);
	qsort(held, m->n, sizeof(held[0]), cmp_desc);
	for (size_t i = 0; i < m->n; i++) {
		uint32_t target = q / (uint32_t)m->n + (i < q % m->n);
		kept += held[i] < target ? held[i] : target;
	}
	return q - kept;
}

static uint32_t moves_between(const struct ring *a, const struct ring *b)
{
	uint32_t n = 0;
	for (uint32_t p = 0; p < ring_partition_count(a); p++)
		n += strcmp(future_name(a, p), future_name(b, p)) != 0;
	return n;
}

/* --- hashing: pinned forever --------------------------------------------- */

static void test_hash_known_answers(void **state)
{
	static const struct {
		const char *key;
		uint64_t hash;
		uint32_t p64, p1024, p65536;
	} kat[] = {
	    {"", UINT64_C(0x1435a8523763d3c8), 5, 80, 5173},
	    {"a", UINT64_C(0x0b427c31949cc204), 2, 45, 2882},
	    {"hello", UINT64_C(0xea0e738e4c57dd70), 58, 936, 59918},
	    {"ringkv", UINT64_C(0x1015d34bbe6d6842), 4, 64, 4117},
	    {"user:1000", UINT64_C(0xe6a0725c0548921d), 57, 922, 59040},
	    {"the quick brown fox jumps over the lazy dog",
	     UINT64_C(0x47b556cf4a994253), 17, 286, 18357},
	};
	static const unsigned char bin[4] = {0, 1, 2, 255};
	(void)state;
	for (size_t i = 0; i < sizeof(kat) / sizeof(kat[0]); i++) {
		size_t len = strlen(kat[i].key);
		assert_true(ring_hash_key(kat[i].key, len) == kat[i].hash);
		assert_int_equal(ring_partition_of(kat[i].key, len, 1), 0);
		assert_int_equal(ring_partition_of(kat[i].key, len, 64),
		                 kat[i].p64);
		assert_int_equal(ring_partition_of(kat[i].key, len, 1024),
		                 kat[i].p1024);
		assert_int_equal(ring_partition_of(kat[i].key, len, 65536),
		                 kat[i].p65536);
	}
	assert_true(ring_hash_key(bin, sizeof(bin)) ==
	            UINT64_C(0x3351a466008d91a4));
	assert_int_equal(ring_partition_of(bin, sizeof(bin), 64), 12);
	assert_true(RING_HASH_SEED == UINT64_C(0x72696e676b76));
}

static void test_size_valid(void **state)
{
	(void)state;
	assert_false(ring_size_valid(0));
	assert_true(ring_size_valid(1));
	assert_true(ring_size_valid(2));
	assert_false(ring_size_valid(3));
	assert_true(ring_size_valid(64));
	assert_false(ring_size_valid(96));
	assert_true(ring_size_valid(65536));
	assert_false(ring_size_valid(131072));
}

/* --- the table itself ---------------------------------------------------- */

static void test_new_set_get(void **state)
{
	struct ring *r, *d;
	struct ring_entry e;
	uint32_t node;
	char longname[RING_MAX_NAME + 2];
	(void)state;
	assert_int_equal(ring_new(3, &r), RING_EINVAL);
	assert_int_equal(ring_new(0, &r), RING_EINVAL);
	assert_int_equal(ring_new(4, &r), 0);
	assert_int_equal(ring_validate(r), 0);
	assert_false(ring_claimed(r));
	assert_int_equal(ring_partition_count(r), 4);
	assert_int_equal(ring_node_count(r), 0);
	assert_int_equal(ring_owner(r, 0), RING_NONE);
	assert_int_equal(ring_partition_get(r, 4, &e), RING_EINVAL);
	assert_int_equal(ring_partition_get(r, 0, &e), 0);
	assert_null(e.owner);
	assert_null(e.writer);
	assert_int_equal(e.version, 0);

	/* Bad combinations are refused and change nothing. */
	assert_int_equal(ring_partition_set(r, 0, "a", "a", 1, "a"),
	                 RING_EINVAL);
	assert_int_equal(ring_partition_set(r, 0, "a", NULL, 0, "a"),
	                 RING_EINVAL);
	assert_int_equal(ring_partition_set(r, 0, "a", NULL, 1, NULL),
	                 RING_EINVAL);
	assert_int_equal(ring_partition_set(r, 0, NULL, NULL, 1, NULL),
	                 RING_EINVAL);
	assert_int_equal(ring_partition_set(r, 0, "a b", NULL, 1, "a"),
	                 RING_EINVAL);
	assert_int_equal(ring_partition_set(r, 9, "a", NULL, 1, "a"),
	                 RING_EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_false(ring_name_valid(longname));
	longname[RING_MAX_NAME] = '\0';
	assert_true(ring_name_valid(longname));
	assert_false(ring_name_valid(""));
	assert_false(ring_name_valid("tab\there"));
	assert_false(ring_name_valid(NULL));
	assert_true(ring_name_valid("10.0.0.1:8099"));

	/* Half-claimed is not a valid ring; fully claimed is. */
	assert_int_equal(ring_partition_set(r, 0, "a", "b", 3, "c"), 0);
	assert_int_equal(ring_validate(r), RING_ECORRUPT);
	assert_int_equal(ring_partition_set(r, 1, "b", NULL, 1, "b"), 0);
	assert_int_equal(ring_partition_set(r, 2, "a", NULL, 1, "a"), 0);
	assert_int_equal(ring_validate(r), RING_ECORRUPT);
	assert_int_equal(ring_partition_set(r, 3, "b", NULL, 2, "a"), 0);
	assert_int_equal(ring_validate(r), 0);
	assert_true(ring_claimed(r));
	assert_int_equal(ring_node_count(r), 3);

	assert_int_equal(ring_partition_get(r, 0, &e), 0);
	assert_string_equal(e.owner, "a");
	assert_string_equal(e.next_owner, "b");
	assert_string_equal(e.writer, "c");
	assert_int_equal(e.version, 3);
	assert_int_equal(ring_node_find(r, "b", &node), 0);
	assert_string_equal(ring_node_name(r, node), "b");
	assert_int_equal(ring_next_owner(r, 0), node);
	assert_int_equal(ring_future_owner(r, 0), node);
	assert_int_equal(ring_node_find(r, "zz", &node), RING_ENOTFOUND);
	assert_int_equal(ring_node_find(r, NULL, &node), RING_ENOTFOUND);
	assert_null(ring_node_name(r, RING_NONE));
	assert_null(ring_node_name(r, 99));
	assert_int_equal(ring_owned(r, 0, false), 2); /* "a" */
	assert_int_equal(ring_owned(r, 0, true), 1);
	assert_int_equal(ring_pending(r), 1);

	d = ring_dup(r);
	assert_non_null(d);
	assert_int_equal(ring_validate(d), 0);
	assert_true(ring_equal(r, d));
	assert_true(ring_digest(r) == ring_digest(d));
	assert_int_equal(ring_partition_set(d, 3, "b", NULL, 3, "a"), 0);
	assert_int_equal(ring_validate(d), 0);
	assert_false(ring_equal(r, d));
	assert_false(ring_digest(r) == ring_digest(d));
	ring_free(d);
	ring_free(r);
	ring_free(NULL);
}

static void test_name_table_grows(void **state)
{
	struct ring *r;
	char name[NAME_LEN];
	(void)state;
	assert_int_equal(ring_new(1024, &r), 0);
	for (uint32_t p = 0; p < 1024; p++) {
		snprintf(name, sizeof(name), "n%u", p % 700);
		assert_int_equal(ring_partition_set(r, p, name, NULL, 1, name),
		                 0);
	}
	assert_int_equal(ring_validate(r), 0);
	assert_int_equal(ring_node_count(r), 700);
	for (uint32_t i = 0; i < 700; i++) {
		uint32_t node;
		snprintf(name, sizeof(name), "n%u", i);
		assert_int_equal(ring_node_find(r, name, &node), 0);
		assert_string_equal(ring_node_name(r, node), name);
	}
	ring_free(r);
}

/* --- claim --------------------------------------------------------------- */

static void test_claim_errors(void **state)
{
	struct ring *empty, *out = NULL;
	const char *dup[] = {"a", "b", "a"};
	const char *bad[] = {"a", ""};
	const char *ok[] = {"a"};
	(void)state;
	assert_int_equal(ring_new(64, &empty), 0);
	assert_int_equal(ring_claim(empty, dup, 3, 3, &out), RING_EINVAL);
	assert_int_equal(ring_claim(empty, bad, 2, 3, &out), RING_EINVAL);
	assert_int_equal(ring_claim(empty, ok, 0, 3, &out), RING_EINVAL);
	assert_int_equal(ring_claim(empty, ok, 1, 0, &out), RING_EINVAL);
	assert_int_equal(ring_claim(empty, ok, 1, RING_MAX_N_VAL + 1, &out),
	                 RING_EINVAL);
	assert_null(out);
	ring_free(empty);
}

/* Every founding ring is balanced, independent of the order members are
 * given in, written at version 1 by each owner, and spaced: with more
 * members than n_val no node owns two partitions within n_val. */
static void test_claim_found_balanced(void **state)
{
	static const uint32_t sizes[] = {64, 256, 1024};
	struct rng g;
	struct members m;
	(void)state;
	seeded(&g, 1);
	for (size_t qi = 0; qi < 3; qi++) {
		for (size_t s = 1; s <= 64; s++) {
			uint32_t q = sizes[qi];
			members_make(&m, s);
			struct ring *r = found(q, &m, 3);
			assert_balanced(r, &m);
			for (uint32_t p = 0; p < q; p++) {
				assert_int_equal(ring_version(r, p), 1);
				assert_int_equal(ring_writer(r, p),
				                 ring_owner(r, p));
				assert_int_equal(ring_next_owner(r, p),
				                 RING_NONE);
			}
			members_shuffle(&m, &g);
			struct ring *again = found(q, &m, 3);
			assert_true(ring_equal(r, again));
			assert_true(ring_digest(r) == ring_digest(again));
			ring_free(again);
			for (unsigned n = 2; n <= 5; n++) {
				struct ring *t = found(q, &m, n);
				uint32_t bad = ring_spacing_violations(t, n);
				if (s > n && bad != 0)
					fail_msg("Q=%u S=%zu n=%u: %u crowded",
					         q, s, n, bad);
				ring_free(t);
			}
			ring_free(r);
		}
	}
}

/* Counters printed by the claim tests (docs/ring.md quotes them). Crowding
 * is counted only where it can be avoided: more members than n_val. */
struct move_stats {
	uint32_t changes;
	uint64_t minimal;
	uint64_t moved;
	uint32_t max_extra;
	uint32_t spaced;         /* changes to more than n_val members */
	uint32_t spaced_crowded; /* ... of which leave a crowded partition */
	uint64_t crowded;        /* crowded partitions after those changes */
};

static void stats_print(const char *what, uint32_t q,
                        const struct move_stats *st)
{
	printf("claim Q=%-4u %-10s %3u changes: moved %6" PRIu64
	       ", minimal %6" PRIu64
	       " (max extra %2u); crowded after %3u of %3u (%" PRIu64
	       " partitions)\n",
	       q, what, st->changes, st->moved, st->minimal, st->max_extra,
	       st->spaced_crowded, st->spaced, st->crowded);
}

/* check_change -- claim cur -> members: balanced, moves within the minimum
 * plus 5% of Q, valid. Returns the target (caller frees). */
static struct ring *check_change(const struct ring *cur,
                                 const struct members *m, unsigned n_val,
                                 struct move_stats *st)
{
	struct ring *t;
	uint32_t q = ring_partition_count(cur);
	assert_int_equal(ring_claim(cur, m->ptr, m->n, n_val, &t), 0);
	assert_int_equal(ring_validate(t), 0);
	assert_balanced(t, m);
	uint32_t min = minimal_moves(cur, m), moved = moves_between(cur, t);
	if (moved < min || moved > min + q / 20)
		fail_msg("Q=%u S=%zu: moved %u, minimal %u", q, m->n, moved,
		         min);
	st->changes++;
	st->minimal += min;
	st->moved += moved;
	if (moved - min > st->max_extra)
		st->max_extra = moved - min;
	if (m->n > n_val) {
		uint32_t crowded = ring_spacing_violations(t, n_val);
		st->spaced++;
		st->spaced_crowded += crowded > 0;
		st->crowded += crowded;
	}
	return t;
}

/* Adding or removing one node, from founding rings of every size and from
 * rings aged by earlier changes, moves at most what balance forces plus 5%
 * of Q, and leaves the ring balanced. */
static void test_claim_join_leave_moves(void **state)
{
	static const uint32_t sizes[] = {64, 256, 1024};
	struct rng g;
	struct members m, m2;
	(void)state;
	seeded(&g, 2);
	for (size_t qi = 0; qi < 3; qi++) {
		uint32_t q = sizes[qi];
		struct move_stats join = {0}, leave = {0};
		for (size_t s = 1; s <= 64; s++) {
			members_make(&m, s);
			struct ring *r = found(q, &m, 3);
			members_copy(&m2, &m);
			members_join_random(&m2, &g);
			ring_free(check_change(r, &m2, 3, &join));
			if (s >= 2) {
				members_copy(&m2, &m);
				members_remove(&m2, (size_t)rng_below(&g, s));
				ring_free(check_change(r, &m2, 3, &leave));
			}
			ring_free(r);
		}
		stats_print("join", q, &join);
		stats_print("leave", q, &leave);
	}
}

/* A random walk of membership changes (one or two nodes at a time, joins
 * and leaves mixed), each target installed as the next current ring. */
static void test_claim_random_walk(void **state)
{
	static const uint32_t sizes[] = {64, 256, 1024};
	struct rng g;
	struct members m;
	(void)state;
	seeded(&g, 3);
	for (size_t qi = 0; qi < 3; qi++) {
		uint32_t q = sizes[qi];
		struct move_stats st = {0};
		for (int run = 0; run < 4; run++) {
			members_make(&m, 1 + (size_t)rng_below(&g, 40));
			struct ring *r = found(q, &m, 3);
			for (int step = 0; step < 40; step++) {
				int k = 1 + (int)rng_below(&g, 2);
				for (int i = 0; i < k; i++) {
					if (m.n > 1 &&
					    (rng_below(&g, 2) || m.n >= 64))
						members_remove(
						    &m,
						    (size_t)rng_below(&g, m.n));
					else
						members_join_random(&m, &g);
				}
				struct ring *t = check_change(r, &m, 3, &st);
				ring_free(r);
				r = t;
			}
			ring_free(r);
		}
		stats_print("walk", q, &st);
	}
}

/* Claim depends on names only: the same content with differently numbered
 * name tables, and members in any order, give equal targets. */
static void test_claim_ignores_numbering(void **state)
{
	struct rng g;
	struct members m;
	struct ring *a, *b, *ta, *tb;
	(void)state;
	seeded(&g, 4);
	members_make(&m, 7);
	a = found(256, &m, 3);
	/* b: a's content, names learned in reverse partition order. */
	assert_int_equal(ring_new(256, &b), 0);
	for (uint32_t p = 256; p-- > 0;)
		assert_int_equal(ring_partition_set(b, p, future_name(a, p),
		                                    NULL, 1, future_name(a, p)),
		                 0);
	assert_int_equal(ring_validate(b), 0);
	assert_true(ring_equal(a, b));
	assert_false(ring_owner(a, 0) == ring_owner(b, 0) &&
	             ring_owner(a, 255) == ring_owner(b, 255));
	members_remove(&m, 2);
	members_join_random(&m, &g);
	members_join_random(&m, &g);
	assert_int_equal(ring_claim(a, m.ptr, m.n, 3, &ta), 0);
	members_shuffle(&m, &g);
	assert_int_equal(ring_claim(b, m.ptr, m.n, 3, &tb), 0);
	assert_true(ring_equal(ta, tb));
	ring_free(a);
	ring_free(b);
	ring_free(ta);
	ring_free(tb);
}

/* Claiming the members a ring already has, balanced, moves nothing. */
static void test_claim_stable(void **state)
{
	struct members m;
	struct ring *r, *t;
	struct ring_plan *plan;
	(void)state;
	members_make(&m, 5);
	r = found(64, &m, 3);
	assert_int_equal(ring_claim(r, m.ptr, m.n, 3, &t), 0);
	assert_int_equal(ring_plan_new(r, t, &plan), 0);
	assert_int_equal(plan->nmoves, 0);
	ring_plan_free(plan);
	ring_free(t);
	ring_free(r);
}

/* Tiny rings and more members than partitions: members beyond Q own
 * nothing, the rest one each. */
static void test_claim_tiny(void **state)
{
	static const uint32_t sizes[] = {1, 2, 4};
	struct rng g;
	struct members m, m2;
	struct move_stats st = {0};
	(void)state;
	seeded(&g, 10);
	for (size_t qi = 0; qi < 3; qi++) {
		for (size_t s = 1; s <= 6; s++) {
			members_make(&m, s);
			struct ring *r = found(sizes[qi], &m, 3);
			assert_balanced(r, &m);
			members_copy(&m2, &m);
			members_join_random(&m2, &g);
			ring_free(check_change(r, &m2, 3, &st));
			if (s > 1) {
				members_copy(&m2, &m);
				members_remove(&m2, (size_t)rng_below(&g, s));
				ring_free(check_change(r, &m2, 3, &st));
			}
			ring_free(r);
		}
	}
}

/* The largest ring: building it partition by partition (as a decoder
 * does), claiming over it and walking it stay fast. */
static void test_claim_big_ring(void **state)
{
	struct rng g;
	struct members m, m2;
	struct move_stats st = {0};
	struct ring_pref out[3];
	size_t n;
	(void)state;
	seeded(&g, 11);
	members_make(&m, 100);
	struct ring *r = found(RING_MAX_SIZE, &m, 3);
	assert_balanced(r, &m);
	assert_int_equal(ring_spacing_violations(r, 3), 0);
	struct ring *copy;
	assert_int_equal(ring_new(RING_MAX_SIZE, &copy), 0);
	for (uint32_t p = 0; p < RING_MAX_SIZE; p++) {
		struct ring_entry e;
		assert_int_equal(ring_partition_get(r, p, &e), 0);
		assert_int_equal(ring_partition_set(copy, p, e.owner,
		                                    e.next_owner, e.version,
		                                    e.writer),
		                 0);
	}
	assert_int_equal(ring_validate(copy), 0);
	assert_true(ring_equal(r, copy));
	members_copy(&m2, &m);
	members_join_random(&m2, &g);
	ring_free(check_change(r, &m2, 3, &st));
	members_copy(&m2, &m);
	members_remove(&m2, (size_t)rng_below(&g, m2.n));
	ring_free(check_change(copy, &m2, 3, &st));
	for (int i = 0; i < 1000; i++) {
		uint32_t p = (uint32_t)rng_below(&g, RING_MAX_SIZE);
		assert_int_equal(ring_preflist(r, p, 3, NULL, 0, out, &n), 0);
		assert_int_equal(n, 3);
	}
	ring_free(copy);
	ring_free(r);
}

/* --- preference lists ---------------------------------------------------- */

/* walk_order -- reference: every distinct owner in walk order from p. */
static size_t walk_order(const struct ring *r, uint32_t p, bool future,
                         uint32_t *order, uint32_t *where)
{
	size_t n = 0;
	uint32_t q = ring_partition_count(r);
	for (uint32_t i = 0; i < q; i++) {
		uint32_t at = (p + i) % q;
		uint32_t o =
		    future ? ring_future_owner(r, at) : ring_owner(r, at);
		bool seen = false;
		for (size_t k = 0; k < n && !seen; k++)
			seen = order[k] == o;
		if (!seen) {
			where[n] = at;
			order[n++] = o;
		}
	}
	return n;
}

/* check_preflist -- ring_preflist against the reference walk. */
static void check_preflist(const struct ring *r, uint32_t p, unsigned n_val,
                           const char *const *down, size_t ndown)
{
	uint32_t order[MAX_MEMBERS * 4], where[MAX_MEMBERS * 4];
	struct ring_pref out[RING_MAX_N_VAL];
	bool is_down[MAX_MEMBERS * 4] = {false};
	size_t nout, distinct = walk_order(r, p, false, order, where);
	assert_true(ring_node_count(r) <= MAX_MEMBERS * 4);
	for (size_t i = 0; i < ndown; i++) {
		uint32_t node;
		if (ring_node_find(r, down[i], &node) == 0)
			is_down[node] = true;
	}
	assert_int_equal(ring_preflist(r, p, n_val, down, ndown, out, &nout),
	                 0);
	size_t nprim = distinct < n_val ? distinct : n_val;
	size_t f = nprim, k = 0;
	for (size_t i = 0; i < nprim; i++) {
		if (!is_down[order[i]]) {
			assert_true(k < nout);
			assert_int_equal(out[k].node, order[i]);
			assert_int_equal(out[k].partition, where[i]);
			assert_int_equal(out[k].stands_for, RING_NONE);
			k++;
			continue;
		}
		while (f < distinct && is_down[order[f]])
			f++;
		if (f == distinct)
			continue; /* no fallback left: this replica is missing
			           */
		assert_true(k < nout);
		assert_int_equal(out[k].node, order[f]);
		assert_int_equal(out[k].partition, where[f]);
		assert_int_equal(out[k].stands_for, order[i]);
		assert_int_equal(ring_owner(r, out[k].partition), out[k].node);
		k++;
		f++;
	}
	assert_int_equal(nout, k);
	/* Distinct, and never a down node. */
	for (size_t i = 0; i < nout; i++) {
		assert_false(is_down[out[i].node]);
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(out[i].node, out[j].node);
	}
	if (ndown == 0 && distinct >= n_val)
		assert_int_equal(nout, n_val);
}

static void test_preflist_small(void **state)
{
	/* owners: A B A C D E C F */
	static const char *own[] = {"A", "B", "A", "C", "D", "E", "C", "F"};
	struct ring *r;
	struct ring_pref out[RING_MAX_N_VAL];
	size_t n;
	uint32_t a, b, c, d, e;
	(void)state;
	assert_int_equal(ring_new(8, &r), 0);
	for (uint32_t p = 0; p < 8; p++)
		assert_int_equal(
		    ring_partition_set(r, p, own[p], NULL, 1, own[p]), 0);
	assert_int_equal(ring_validate(r), 0);
	ring_node_find(r, "A", &a);
	ring_node_find(r, "B", &b);
	ring_node_find(r, "C", &c);
	ring_node_find(r, "D", &d);
	ring_node_find(r, "E", &e);

	assert_int_equal(ring_preflist(r, 0, 3, NULL, 0, out, &n), 0);
	assert_int_equal(n, 3); /* A B C: the second A is skipped */
	assert_int_equal(out[0].node, a);
	assert_int_equal(out[1].node, b);
	assert_int_equal(out[2].node, c);
	assert_int_equal(out[2].partition, 3);

	const char *down1[] = {"B", "nobody"};
	assert_int_equal(ring_preflist(r, 0, 3, down1, 2, out, &n), 0);
	assert_int_equal(n, 3); /* A D(for B) C */
	assert_int_equal(out[0].node, a);
	assert_int_equal(out[1].node, d);
	assert_int_equal(out[1].stands_for, b);
	assert_int_equal(out[1].partition, 4);
	assert_int_equal(out[2].node, c);
	assert_int_equal(out[2].stands_for, RING_NONE);

	const char *down2[] = {"A", "D", "B"};
	assert_int_equal(ring_preflist(r, 0, 3, down2, 3, out, &n), 0);
	assert_int_equal(n, 3); /* E(for A) F(for B) C */
	assert_int_equal(out[0].node, e);
	assert_int_equal(out[0].stands_for, a);
	assert_int_equal(out[1].stands_for, b);
	assert_int_equal(out[2].node, c);

	/* Wrapping: from partition 6 the walk is C F A B ... */
	assert_int_equal(ring_preflist(r, 6, 3, NULL, 0, out, &n), 0);
	assert_int_equal(out[0].node, c);
	assert_int_equal(out[2].node, a);
	assert_int_equal(out[2].partition, 0);

	/* Everyone down: nothing to use. */
	const char *all[] = {"A", "B", "C", "D", "E", "F"};
	assert_int_equal(ring_preflist(r, 0, 3, all, 6, out, &n), 0);
	assert_int_equal(n, 0);

	assert_int_equal(ring_preflist(r, 8, 3, NULL, 0, out, &n), RING_EINVAL);
	assert_int_equal(ring_preflist(r, 0, 0, NULL, 0, out, &n), RING_EINVAL);
	assert_int_equal(
	    ring_preflist(r, 0, RING_MAX_N_VAL + 1, NULL, 0, out, &n),
	    RING_EINVAL);
	assert_int_equal(ring_preflist(r, 0, 3, NULL, 1, out, &n), RING_EINVAL);
	ring_free(r);

	assert_int_equal(ring_new(8, &r), 0);
	assert_int_equal(ring_preflist(r, 0, 3, NULL, 0, out, &n), RING_EINVAL);
	ring_free(r);
}

/* Random rings (founding and rebalanced), random partitions, random down
 * sets: the preference list is what the reference walk says. */
static void test_preflist_random(void **state)
{
	static const uint32_t sizes[] = {8, 64, 256};
	struct rng g;
	struct members m, m2;
	(void)state;
	seeded(&g, 5);
	for (int iter = 0; iter < 60; iter++) {
		uint32_t q = sizes[rng_below(&g, 3)];
		members_make(&m, 1 + (size_t)rng_below(&g, 12));
		struct ring *r = found(q, &m, 3);
		if (rng_below(&g, 2)) {
			/* shake it: a rebalance target is a claimed ring too */
			struct ring *t;
			members_copy(&m2, &m);
			members_join_random(&m2, &g);
			if (m2.n > 2)
				members_remove(&m2,
				               (size_t)rng_below(&g, m2.n));
			assert_int_equal(ring_claim(r, m2.ptr, m2.n, 3, &t), 0);
			ring_free(r);
			r = t;
			members_copy(&m, &m2);
		}
		for (int k = 0; k < 40; k++) {
			const char *down[MAX_MEMBERS];
			size_t ndown = 0;
			for (size_t i = 0; i < m.n; i++)
				if (rng_below(&g, 4) == 0)
					down[ndown++] = m.names[i];
			uint32_t p = (uint32_t)rng_below(&g, q);
			unsigned n_val = 1 + (unsigned)rng_below(&g, 5);
			check_preflist(r, p, n_val, NULL, 0);
			check_preflist(r, p, n_val, down, ndown);
		}
		ring_free(r);
	}
}

/* --- plan, commit, flip -------------------------------------------------- */

static void assert_same_owners(const struct ring *a, const struct ring *b)
{
	assert_int_equal(ring_partition_count(a), ring_partition_count(b));
	for (uint32_t p = 0; p < ring_partition_count(a); p++)
		assert_string_equal(future_name(a, p), future_name(b, p));
}

static void test_plan_round_trip(void **state)
{
	struct rng g;
	struct members m;
	struct ring *r, *before, *target, *t2;
	struct ring_plan *plan, *plan2;
	struct ring_pref pa[3], pb[3];
	size_t na, nb;
	(void)state;
	seeded(&g, 6);
	members_make(&m, 5);
	r = found(64, &m, 3);
	before = ring_dup(r);
	members_remove(&m, 1);
	members_join_random(&m, &g);
	members_join_random(&m, &g);
	assert_int_equal(ring_claim(r, m.ptr, m.n, 3, &target), 0);
	assert_int_equal(ring_plan_new(r, target, &plan), 0);
	assert_int_equal(plan->nmoves, moves_between(r, target));
	assert_true(plan->nmoves > 0);
	for (size_t i = 0; i < plan->nmoves; i++) {
		const struct ring_move *mv = &plan->moves[i];
		assert_string_equal(
		    mv->from, ring_node_name(r, ring_owner(r, mv->partition)));
		assert_string_equal(mv->to, future_name(target, mv->partition));
		assert_int_equal(mv->base_version, 1);
		if (i > 0)
			assert_true(mv->partition >
			            plan->moves[i - 1].partition);
	}

	/* Bad writers are refused before anything changes. */
	assert_int_equal(ring_plan_commit(r, plan, "no good"), RING_EINVAL);
	assert_true(ring_equal(r, before));

	assert_int_equal(ring_plan_commit(r, plan, "node-000"), 0);
	assert_int_equal(ring_validate(r), 0);
	assert_int_equal(ring_pending(r), plan->nmoves);
	assert_same_owners(r, target);
	/* The owner is still the old one until the flip. */
	for (size_t i = 0; i < plan->nmoves; i++) {
		struct ring_entry e;
		uint32_t p = plan->moves[i].partition;
		assert_int_equal(ring_partition_get(r, p, &e), 0);
		assert_string_equal(e.owner, plan->moves[i].from);
		assert_string_equal(e.next_owner, plan->moves[i].to);
		assert_string_equal(e.writer, "node-000");
		assert_int_equal(e.version, 2);
	}
	/* Future preference lists are the target's. */
	for (uint32_t p = 0; p < 64; p++) {
		assert_int_equal(ring_preflist_future(r, p, 3, pa, &na), 0);
		assert_int_equal(ring_preflist(target, p, 3, NULL, 0, pb, &nb),
		                 0);
		assert_int_equal(na, nb);
		for (size_t i = 0; i < na; i++)
			assert_string_equal(ring_node_name(r, pa[i].node),
			                    ring_node_name(target, pb[i].node));
	}
	/* The same plan again is stale: every partition it moves changed. */
	assert_int_equal(ring_plan_commit(r, plan, "node-000"), RING_ESTALE);

	/* Nothing to flip where nothing is pending. */
	for (uint32_t p = 0; p < 64; p++)
		if (ring_next_owner(r, p) == RING_NONE)
			assert_int_equal(ring_flip(r, p, "node-000"),
			                 RING_EINVAL);
	/* Flip all, each by its old owner. */
	for (size_t i = 0; i < plan->nmoves; i++) {
		uint32_t p = plan->moves[i].partition;
		if (ring_next_owner(r, p) == RING_NONE)
			continue;
		assert_int_equal(ring_flip(r, p, plan->moves[i].from), 0);
		assert_int_equal(ring_validate(r), 0);
		assert_int_equal(ring_flip(r, p, "x"), RING_EINVAL);
	}
	assert_int_equal(ring_pending(r), 0);
	for (uint32_t p = 0; p < 64; p++)
		assert_string_equal(ring_node_name(r, ring_owner(r, p)),
		                    future_name(target, p));
	assert_balanced(r, &m);
	for (size_t i = 0; i < plan->nmoves; i++)
		assert_int_equal(ring_version(r, plan->moves[i].partition), 3);

	/* Settled: claiming the same members again plans nothing. */
	assert_int_equal(ring_claim(r, m.ptr, m.n, 3, &t2), 0);
	assert_int_equal(ring_plan_new(r, t2, &plan2), 0);
	assert_int_equal(plan2->nmoves, 0);
	assert_int_equal(ring_plan_commit(r, plan2, "node-000"), 0);
	assert_int_equal(ring_validate(r), 0);
	ring_plan_free(plan2);
	ring_free(t2);

	ring_plan_free(plan);
	ring_free(target);
	ring_free(before);
	ring_free(r);
	ring_plan_free(NULL);
}

/* A plan made before another change to one of its partitions is refused,
 * and the ring is left as it was. */
static void test_plan_stale(void **state)
{
	struct rng g;
	struct members m;
	struct ring *r, *target, *snapshot;
	struct ring_plan *plan;
	(void)state;
	seeded(&g, 7);
	members_make(&m, 4);
	r = found(64, &m, 3);
	members_join_random(&m, &g);
	assert_int_equal(ring_claim(r, m.ptr, m.n, 3, &target), 0);
	assert_int_equal(ring_plan_new(r, target, &plan), 0);
	assert_true(plan->nmoves > 1);
	/* Someone else moves the last planned partition meanwhile. */
	uint32_t p = plan->moves[plan->nmoves - 1].partition;
	assert_int_equal(ring_partition_set(r, p, "node-000", "node-001",
	                                    ring_version(r, p) + 1, "node-002"),
	                 0);
	snapshot = ring_dup(r);
	assert_int_equal(ring_plan_commit(r, plan, "node-000"), RING_ESTALE);
	assert_true(ring_equal(r, snapshot));
	assert_int_equal(ring_validate(r), 0);
	ring_free(snapshot);
	ring_plan_free(plan);
	ring_free(target);
	ring_free(r);
}

/* Planning while transfers are pending builds on them: the second plan is
 * computed from the future owners, and after every flip the ring is
 * balanced over the final members. */
static void test_plan_over_pending(void **state)
{
	struct rng g;
	struct members m;
	struct ring *r, *t1, *t2;
	struct ring_plan *p1, *p2;
	(void)state;
	seeded(&g, 8);
	members_make(&m, 6);
	r = found(128, &m, 3);
	members_join_random(&m, &g);
	assert_int_equal(ring_claim(r, m.ptr, m.n, 3, &t1), 0);
	assert_int_equal(ring_plan_new(r, t1, &p1), 0);
	assert_int_equal(ring_plan_commit(r, p1, "node-000"), 0);
	/* flip half of them */
	for (size_t i = 0; i < p1->nmoves; i += 2)
		assert_int_equal(
		    ring_flip(r, p1->moves[i].partition, "node-001"), 0);
	assert_int_equal(ring_validate(r), 0);
	/* the node that was joining leaves again, plus another one joins */
	members_remove(&m, m.n - 1);
	members_join_random(&m, &g);
	assert_int_equal(ring_claim(r, m.ptr, m.n, 3, &t2), 0);
	assert_balanced(t2, &m);
	assert_int_equal(ring_plan_new(r, t2, &p2), 0);
	assert_int_equal(ring_plan_commit(r, p2, "node-002"), 0);
	assert_int_equal(ring_validate(r), 0);
	assert_same_owners(r, t2);
	for (uint32_t p = 0; p < 128; p++)
		if (ring_next_owner(r, p) != RING_NONE)
			assert_int_equal(ring_flip(r, p, "node-003"), 0);
	assert_int_equal(ring_validate(r), 0);
	assert_balanced(r, &m);
	assert_int_equal(ring_pending(r), 0);
	ring_plan_free(p1);
	ring_plan_free(p2);
	ring_free(t1);
	ring_free(t2);
	ring_free(r);
}

/* --- merge --------------------------------------------------------------- */

/* mutate -- one random change of the kind nodes make: commit a plan, flip a
 * pending transfer, or overwrite an entry (also with a version and writer
 * another replica may have used for different content). */
static void mutate(struct ring *r, struct rng *g, const struct members *pool)
{
	const char *who = pool->names[rng_below(g, pool->n)];
	uint32_t q = ring_partition_count(r);
	switch (rng_below(g, 3)) {
	case 0: {
		struct members m;
		struct ring *t;
		struct ring_plan *plan;
		m.n = 0;
		for (size_t i = 0; i < pool->n; i++)
			if (rng_below(g, 3))
				members_add(&m, pool->names[i]);
		if (m.n == 0)
			members_add(&m, who);
		assert_int_equal(ring_claim(r, m.ptr, m.n, 3, &t), 0);
		assert_int_equal(ring_plan_new(r, t, &plan), 0);
		assert_int_equal(ring_plan_commit(r, plan, who), 0);
		ring_plan_free(plan);
		ring_free(t);
		break;
	}
	case 1:
		for (uint32_t i = 0, p = (uint32_t)rng_below(g, q); i < q;
		     i++) {
			if (ring_next_owner(r, (p + i) % q) != RING_NONE) {
				assert_int_equal(ring_flip(r, (p + i) % q, who),
				                 0);
				break;
			}
		}
		break;
	default: {
		uint32_t p = (uint32_t)rng_below(g, q);
		const char *owner = pool->names[rng_below(g, pool->n)];
		const char *next = pool->names[rng_below(g, pool->n)];
		if (strcmp(owner, next) == 0 || rng_below(g, 2))
			next = NULL;
		assert_int_equal(ring_partition_set(
		                     r, p, owner, next,
		                     ring_version(r, p) + rng_below(g, 2), who),
		                 0);
		break;
	}
	}
	assert_int_equal(ring_validate(r), 0);
}

static struct ring *merged(const struct ring *a, const struct ring *b)
{
	struct ring *m = ring_dup(a);
	assert_non_null(m);
	assert_int_equal(ring_merge(m, b, NULL), 0);
	assert_int_equal(ring_validate(m), 0);
	return m;
}

/* Whether prefs[0..n) of ring r take the node named name. */
static bool prefs_have(const struct ring *r, const struct ring_pref *prefs,
                       size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ring_node_name(r, prefs[i].node), name) == 0)
			return true;
	return false;
}

/* A rebalance loses nothing only if every replica a key partition gains
 * is sent its data by one of the moves, by a node that holds it now. */
static void check_move_targets(struct ring *r, unsigned n_val)
{
	uint32_t q = ring_partition_count(r);
	size_t cap = (size_t)q * n_val;
	uint32_t *ranges = calloc(cap, sizeof(*ranges));
	uint32_t *targets = calloc(cap, sizeof(*targets));
	/* covered[p * RING_MAX_N_VAL + k]: p's k-th future primary is sent
	 * p's keys by some move */
	bool *covered = calloc((size_t)q * RING_MAX_N_VAL, sizeof(*covered));
	struct ring_pref now[RING_MAX_N_VAL], fut[RING_MAX_N_VAL];
	size_t nnow, nfut, n, pairs = 0, gained = 0;
	assert_non_null(ranges);
	assert_non_null(targets);
	assert_non_null(covered);
	for (uint32_t m = 0; m < q; m++) {
		struct ring_entry e;
		assert_int_equal(ring_partition_get(r, m, &e), 0);
		if (e.next_owner == NULL) {
			assert_int_equal(
			    ring_move_targets(r, m, n_val, ranges, targets, &n),
			    RING_EINVAL);
			continue;
		}
		assert_int_equal(
		    ring_move_targets(r, m, n_val, ranges, targets, &n), 0);
		pairs += n;
		for (size_t i = 0; i < n; i++) {
			uint32_t p = ranges[i];
			const char *to = ring_node_name(r, targets[i]);
			ring_preflist(r, p, n_val, NULL, 0, now, &nnow);
			ring_preflist_future(r, p, n_val, fut, &nfut);
			/* Sound: the sender holds p, the receiver gains it. */
			assert_true(prefs_have(r, now, nnow, e.owner));
			assert_false(prefs_have(r, now, nnow, to));
			assert_true(prefs_have(r, fut, nfut, to));
			for (size_t k = 0; k < nfut; k++)
				if (fut[k].node == targets[i])
					covered[p * RING_MAX_N_VAL + k] = true;
			/* Near: within a few walks behind the move. */
			assert_true(((m - p) & (q - 1)) < 4 * n_val);
		}
	}
	/* Complete: every gained replica is covered. */
	for (uint32_t p = 0; p < q; p++) {
		ring_preflist(r, p, n_val, NULL, 0, now, &nnow);
		ring_preflist_future(r, p, n_val, fut, &nfut);
		for (size_t k = 0; k < nfut; k++) {
			if (prefs_have(r, now, nnow,
			               ring_node_name(r, fut[k].node)))
				continue;
			gained++;
			assert_true(covered[p * RING_MAX_N_VAL + k]);
		}
	}
	assert_true(gained > 0);
	assert_true(pairs >= gained);
	free(ranges);
	free(targets);
	free(covered);
}

static void test_move_targets(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 30; seed++) {
		struct rng g;
		struct members m;
		struct ring *r, *target;
		struct ring_plan *plan;
		uint32_t q = seed % 2 ? 64 : 256;
		size_t s = 3 + (size_t)(seed / 3 % 5);
		seeded(&g, seed);
		members_make(&m, s + 1);
		r = found(q, &m, 3);
		/* A join, a leave (down to three nodes: every node then
		 * holds every key), or both. */
		if (seed % 3 != 1)
			members_join_random(&m, &g);
		if (seed % 3 != 0)
			members_remove(&m, (size_t)rng_below(&g, s));
		assert_int_equal(ring_claim(r, m.ptr, m.n, 3, &target), 0);
		assert_int_equal(ring_plan_new(r, target, &plan), 0);
		assert_int_equal(ring_plan_commit(r, plan, "node-000"), 0);
		check_move_targets(r, 3);
		ring_plan_free(plan);
		ring_free(target);
		ring_free(r);
	}
}

static void test_merge_laws(void **state)
{
	enum { NR = 6 };
	struct rng g;
	struct members pool;
	struct ring *rings[NR + 1], *base, *empty;
	bool changed;
	(void)state;
	seeded(&g, 9);
	members_make(&pool, 8);
	base = found(64, &pool, 3);
	for (int round = 0; round < 5; round++) {
		/* Divergent histories from a common base, some branching from
		 * each other, each learning names in its own order. */
		for (int i = 0; i < NR; i++) {
			rings[i] =
			    ring_dup(i > 0 && rng_below(&g, 2)
			                 ? rings[rng_below(&g, (uint64_t)i)]
			                 : base);
			assert_non_null(rings[i]);
			int k = (int)rng_below(&g, 8);
			for (int j = 0; j < k; j++)
				mutate(rings[i], &g, &pool);
		}
		assert_int_equal(ring_new(64, &empty), 0);
		rings[NR] = empty; /* the unclaimed ring is the identity */
		for (int i = 0; i <= NR; i++) {
			struct ring *aa = merged(rings[i], rings[i]);
			assert_true(ring_equal(aa, rings[i]));
			assert_int_equal(ring_merge(aa, rings[i], &changed), 0);
			assert_false(changed);
			ring_free(aa);
			struct ring *ae = merged(rings[i], empty);
			assert_true(ring_equal(ae, rings[i]));
			ring_free(ae);
			for (int j = 0; j <= NR; j++) {
				struct ring *ab = merged(rings[i], rings[j]);
				struct ring *ba = merged(rings[j], rings[i]);
				assert_true(ring_equal(ab, ba));
				assert_true(ring_digest(ab) == ring_digest(ba));
				struct ring *abb = merged(ab, rings[j]);
				assert_true(ring_equal(abb, ab));
				ring_free(abb);
				for (int k = 0; k <= NR; k++) {
					struct ring *ab_c =
					    merged(ab, rings[k]);
					struct ring *bc =
					    merged(rings[j], rings[k]);
					struct ring *a_bc =
					    merged(rings[i], bc);
					assert_true(ring_equal(ab_c, a_bc));
					ring_free(ab_c);
					ring_free(bc);
					ring_free(a_bc);
				}
				ring_free(ab);
				ring_free(ba);
			}
		}
		/* Every partition of a merge is some input's entry, the one
		 * with the highest version. */
		struct ring *all = ring_dup(empty);
		for (int i = 0; i < NR; i++) {
			assert_int_equal(ring_merge(all, rings[i], &changed),
			                 0);
			assert_int_equal(ring_validate(all), 0);
		}
		for (uint32_t p = 0; p < 64; p++) {
			uint64_t v = 0;
			for (int i = 0; i < NR; i++)
				if (ring_version(rings[i], p) > v)
					v = ring_version(rings[i], p);
			assert_true(ring_version(all, p) == v);
		}
		ring_free(all);
		for (int i = 0; i <= NR; i++)
			ring_free(rings[i]);
	}
	ring_free(base);
}

static void test_merge_errors(void **state)
{
	struct ring *a, *b;
	(void)state;
	assert_int_equal(ring_new(64, &a), 0);
	assert_int_equal(ring_new(128, &b), 0);
	assert_int_equal(ring_merge(a, b, NULL), RING_EINVAL);
	ring_free(a);
	ring_free(b);
}

/* Names of nodes long gone stay interned until ring_compact() drops them;
 * compaction keeps the content. */
static void test_compact(void **state)
{
	struct members m;
	struct ring *r, *t, *before;
	struct ring_plan *plan;
	uint32_t node;
	(void)state;
	members_make(&m, 6);
	r = found(64, &m, 3);
	members_remove(&m, 0);
	members_remove(&m, 0);
	assert_int_equal(ring_claim(r, m.ptr, m.n, 3, &t), 0);
	assert_int_equal(ring_plan_new(r, t, &plan), 0);
	assert_int_equal(ring_plan_commit(r, plan, "admin"), 0);
	for (size_t i = 0; i < plan->nmoves; i++)
		assert_int_equal(
		    ring_flip(r, plan->moves[i].partition, "node-005"), 0);
	/* node-000, node-001 and admin are still interned, though every
	 * entry naming them has been overwritten since. */
	assert_int_equal(ring_node_count(r), 7);
	assert_int_equal(ring_node_find(r, "admin", &node), 0);
	before = ring_dup(r);
	assert_int_equal(ring_compact(r), 0);
	assert_int_equal(ring_validate(r), 0);
	assert_true(ring_equal(r, before));
	assert_int_equal(ring_node_count(r), 4);
	assert_int_equal(ring_node_find(r, "admin", &node), RING_ENOTFOUND);

	/* A node joining a cluster empties its own ring, forgets every name
	 * and takes the cluster's by merge: the counts must follow. */
	for (uint32_t p = 0; p < 64; p++)
		assert_int_equal(ring_partition_set(r, p, NULL, NULL, 0, NULL),
		                 0);
	assert_int_equal(ring_compact(r), 0);
	assert_int_equal(ring_node_count(r), 0);
	assert_int_equal(ring_validate(r), 0);
	assert_int_equal(ring_merge(r, before, NULL), 0);
	assert_int_equal(ring_validate(r), 0);
	assert_true(ring_equal(r, before));
	for (size_t i = 0; i < m.n; i++)
		assert_int_equal(owned_by(r, m.ptr[i]),
		                 owned_by(before, m.ptr[i]));
	ring_free(before);
	ring_plan_free(plan);
	ring_free(t);
	ring_free(r);
}

int main(void)
{
	test_seed = test_seed_init("test_ring");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_known_answers),
	    cmocka_unit_test(test_size_valid),
	    cmocka_unit_test(test_new_set_get),
	    cmocka_unit_test(test_name_table_grows),
	    cmocka_unit_test(test_claim_errors),
	    cmocka_unit_test(test_claim_found_balanced),
	    cmocka_unit_test(test_claim_join_leave_moves),
	    cmocka_unit_test(test_claim_random_walk),
	    cmocka_unit_test(test_claim_ignores_numbering),
	    cmocka_unit_test(test_claim_stable),
	    cmocka_unit_test(test_claim_tiny),
	    cmocka_unit_test(test_claim_big_ring),
	    cmocka_unit_test(test_preflist_small),
	    cmocka_unit_test(test_preflist_random),
	    cmocka_unit_test(test_plan_round_trip),
	    cmocka_unit_test(test_plan_stale),
	    cmocka_unit_test(test_plan_over_pending),
	    cmocka_unit_test(test_move_targets),
	    cmocka_unit_test(test_merge_laws),
	    cmocka_unit_test(test_merge_errors),
	    cmocka_unit_test(test_compact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
