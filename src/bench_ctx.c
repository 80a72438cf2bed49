/* bench_ctx.c -- the context cache of ringkv-bench (see bench_ctx.h for
 * why the bench keeps contexts and why the table is direct-mapped).
 *
 * Direct-mapped rather than an LRU or a hash table with chains: a lookup
 * and a store are one index computation and one compare, the memory is
 * known before the run starts, and with the default record counts every
 * record has a slot of its own, so there is nothing to evict. The ids are
 * spread already: zipfian ranks are scrambled onto ids by a permutation
 * (bench_dist.h) and hotspot's hot ids are consecutive, so id % nslots
 * gives hot records distinct slots in both cases.
 */
#include "bench_ctx.h"

#include "status.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct bench_ctx_slot) == BENCH_CTX_SLOT_BYTES,
               "a slot is BENCH_CTX_SLOT_BYTES, as documented");

int bench_ctx_init(struct bench_ctx *c, uint64_t records)
{
	memset(c, 0, sizeof(*c));
	c->nslots = records < 1                     ? 1
	            : records > BENCH_CTX_SLOTS_MAX ? BENCH_CTX_SLOTS_MAX
	                                            : records;
	c->slots = calloc(c->nslots, sizeof(*c->slots));
	if (c->slots == NULL) {
		c->nslots = 0;
		return RKV_ENOMEM;
	}
	return 0;
}

void bench_ctx_deinit(struct bench_ctx *c)
{
	free(c->slots);
	memset(c, 0, sizeof(*c));
}

uint64_t bench_ctx_bytes(const struct bench_ctx *c)
{
	return c->nslots * sizeof(*c->slots);
}

void bench_ctx_store(struct bench_ctx *c, uint64_t id, const char *ctx,
                     size_t len)
{
	struct bench_ctx_slot *s = &c->slots[id % c->nslots];

	if (len == 0 || len > BENCH_CTX_BYTES_MAX) {
		/* never send a context older than the last answer */
		if (len > 0)
			c->too_long++;
		if (s->owner == id + 1)
			s->owner = 0;
		return;
	}
	if (s->owner == id + 1)
		c->replaced++;
	else if (s->owner != 0)
		c->evicted++;
	c->stored++;
	s->owner = id + 1;
	s->len = (uint32_t)len;
	memcpy(s->ctx, ctx, len);
}

const char *bench_ctx_find(struct bench_ctx *c, uint64_t id, size_t *len)
{
	struct bench_ctx_slot *s = &c->slots[id % c->nslots];

	if (s->owner != id + 1) {
		c->misses++;
		*len = 0;
		return NULL;
	}
	c->hits++;
	*len = s->len;
	return s->ctx;
}
