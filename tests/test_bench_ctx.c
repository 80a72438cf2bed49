/* test_bench_ctx.c -- ringkv-bench's context cache (src/bench_ctx.h).
 *
 * What the design promises, case by case: the table's size follows
 * --records up to its cap; a store is found again, replaced by the next
 * store of the same record, evicted by a store of another record sharing
 * its slot; a context too long for a slot, or an answer without one,
 * empties the record's slot (an older context is never sent) but leaves
 * another record's alone. Then a model check on seeded random operations
 * (RKV_SEED replays): whatever bench_ctx_find answers is exactly the last
 * context stored for that record, and it answers NULL only when the slot
 * was taken by another record or emptied since.
 */
#include "bench_ctx.h"
#include "status.h"

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

#include <cmocka.h>

static uint64_t test_seed;

static void assert_found(struct bench_ctx *c, uint64_t id, const char *want)
{
	size_t len = 99;
	const char *got = bench_ctx_find(c, id, &len);
	if (want == NULL) {
		assert_null(got);
		assert_int_equal(len, 0);
		return;
	}
	assert_non_null(got);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
}

static void store_str(struct bench_ctx *c, uint64_t id, const char *ctx)
{
	bench_ctx_store(c, id, ctx, strlen(ctx));
}

static void test_sizing(void **state)
{
	struct bench_ctx c;
	(void)state;

	assert_int_equal(bench_ctx_init(&c, 0), 0);
	assert_int_equal(c.nslots, 1);
	bench_ctx_deinit(&c);
	assert_int_equal(bench_ctx_init(&c, 1000), 0);
	assert_int_equal(c.nslots, 1000);
	assert_int_equal(bench_ctx_bytes(&c), 1000 * BENCH_CTX_SLOT_BYTES);
	bench_ctx_deinit(&c);
	assert_int_equal(bench_ctx_init(&c, BENCH_CTX_SLOTS_MAX), 0);
	assert_int_equal(c.nslots, BENCH_CTX_SLOTS_MAX);
	bench_ctx_deinit(&c);
	/* --records 10^8: capped at 32 MiB */
	assert_int_equal(bench_ctx_init(&c, 100000000), 0);
	assert_int_equal(c.nslots, BENCH_CTX_SLOTS_MAX);
	assert_int_equal(bench_ctx_bytes(&c), UINT64_C(32) << 20);
	bench_ctx_deinit(&c);
	bench_ctx_deinit(&c); /* twice is harmless */
}

static void test_store_replace(void **state)
{
	struct bench_ctx c;
	(void)state;

	assert_int_equal(bench_ctx_init(&c, 10), 0);
	assert_found(&c, 5, NULL);
	assert_int_equal(c.misses, 1);

	store_str(&c, 5, "BtKOvYefwZavSgL82IeD2oaZ");
	assert_found(&c, 5, "BtKOvYefwZavSgL82IeD2oaZ");
	assert_int_equal(c.hits, 1);
	assert_int_equal(c.stored, 1);
	assert_int_equal(c.replaced, 0);

	/* the next answer for the same record replaces it */
	store_str(&c, 5, "AgA");
	assert_found(&c, 5, "AgA");
	assert_int_equal(c.replaced, 1);
	assert_int_equal(c.evicted, 0);

	/* other records of other slots are independent */
	store_str(&c, 6, "six");
	assert_found(&c, 5, "AgA");
	assert_found(&c, 6, "six");
	assert_int_equal(c.evicted, 0);
	bench_ctx_deinit(&c);
}

static void test_evict(void **state)
{
	struct bench_ctx c;
	(void)state;

	/* 10 slots: records 5, 15 and 25 share slot 5 */
	assert_int_equal(bench_ctx_init(&c, 10), 0);
	store_str(&c, 5, "five");
	store_str(&c, 15, "fifteen");
	assert_int_equal(c.evicted, 1);
	assert_found(&c, 5, NULL); /* an update of 5 is now blind */
	assert_found(&c, 15, "fifteen");
	/* the one answered last wins */
	store_str(&c, 5, "five again");
	assert_int_equal(c.evicted, 2);
	assert_found(&c, 5, "five again");
	assert_found(&c, 15, NULL);
	assert_found(&c, 25, NULL);
	bench_ctx_deinit(&c);
}

static void test_too_long_and_absent(void **state)
{
	struct bench_ctx c;
	char longest[BENCH_CTX_BYTES_MAX + 2];
	(void)state;

	memset(longest, 'A', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	assert_int_equal(bench_ctx_init(&c, 10), 0);

	/* exactly BENCH_CTX_BYTES_MAX fits */
	bench_ctx_store(&c, 3, longest, BENCH_CTX_BYTES_MAX);
	size_t len;
	assert_non_null(bench_ctx_find(&c, 3, &len));
	assert_int_equal(len, BENCH_CTX_BYTES_MAX);

	/* one more does not, and the older context is dropped with it */
	bench_ctx_store(&c, 3, longest, BENCH_CTX_BYTES_MAX + 1);
	assert_int_equal(c.too_long, 1);
	assert_found(&c, 3, NULL);

	/* an answer without a context (404, never written) empties it */
	store_str(&c, 4, "four");
	bench_ctx_store(&c, 4, NULL, 0);
	assert_found(&c, 4, NULL);
	assert_int_equal(c.too_long, 1);

	/* ... but neither touches another record's context in the slot */
	store_str(&c, 7, "seven");
	bench_ctx_store(&c, 17, NULL, 0);
	bench_ctx_store(&c, 27, longest, BENCH_CTX_BYTES_MAX + 1);
	assert_found(&c, 7, "seven");
	assert_int_equal(c.too_long, 2);
	assert_int_equal(c.evicted, 0);
	bench_ctx_deinit(&c);
}

/* The model: per record, its last stored context (or none), and whether
 * the slot may still hold it. */
#define MODEL_IDS   64
#define MODEL_SLOTS 7

struct model {
	char ctx[MODEL_IDS][BENCH_CTX_BYTES_MAX + 8];
	size_t len[MODEL_IDS];
	int64_t owner[MODEL_SLOTS]; /* -1: empty */
};

static void test_model(void **state)
{
	static struct model m;
	struct bench_ctx c;
	struct rng r;
	uint64_t evicted = 0, too_long = 0;
	(void)state;

	rng_init(&r, test_seed);
	memset(&m, 0, sizeof(m));
	for (int s = 0; s < MODEL_SLOTS; s++)
		m.owner[s] = -1;
	assert_int_equal(bench_ctx_init(&c, MODEL_SLOTS), 0);
	for (int step = 0; step < 100000; step++) {
		uint64_t id = rng_below(&r, MODEL_IDS);
		uint64_t slot = id % MODEL_SLOTS;
		if (rng_below(&r, 2) == 0) {
			size_t len =
			    (size_t)rng_below(&r, BENCH_CTX_BYTES_MAX + 4);
			char buf[BENCH_CTX_BYTES_MAX + 8];
			for (size_t i = 0; i < len; i++)
				buf[i] = (char)('A' + rng_below(&r, 26));
			bench_ctx_store(&c, id, buf, len);
			if (len == 0 || len > BENCH_CTX_BYTES_MAX) {
				too_long += len > 0;
				if (m.owner[slot] == (int64_t)id)
					m.owner[slot] = -1;
				continue;
			}
			if (m.owner[slot] >= 0 && m.owner[slot] != (int64_t)id)
				evicted++;
			m.owner[slot] = (int64_t)id;
			memcpy(m.ctx[id], buf, len);
			m.len[id] = len;
			continue;
		}
		size_t len;
		const char *got = bench_ctx_find(&c, id, &len);
		if (m.owner[slot] != (int64_t)id) {
			assert_null(got);
			continue;
		}
		assert_non_null(got);
		assert_int_equal(len, m.len[id]);
		assert_memory_equal(got, m.ctx[id], len);
	}
	assert_int_equal(c.evicted, evicted);
	assert_int_equal(c.too_long, too_long);
	bench_ctx_deinit(&c);
}

int main(void)
{
	test_seed = test_seed_init("test_bench_ctx");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sizing),
	    cmocka_unit_test(test_store_replace),
	    cmocka_unit_test(test_evict),
	    cmocka_unit_test(test_too_long_and_absent),
	    cmocka_unit_test(test_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
