/* bench_ctx.h -- ringkv-bench's client-side cache of causal contexts.
 *
 * Why it exists. On a Dynamo store a PUT without X-Context supersedes
 * nothing: it is concurrent with every value the key holds, so it is kept
 * beside them as a sibling (DVVSet semantics, docs/http-api.md). A YCSB
 * "update" sent blind to a zipfian hot key therefore adds a sibling every
 * time; objects grow with every update, reads answer 300 with ever larger
 * bodies, and throughput collapses within seconds. Real Riak-style clients
 * do not write blind: they keep the context of the last answer they saw
 * for a key and send it with the next write, which then supersedes exactly
 * what that answer held. Siblings are then bounded by the writes truly in
 * flight at once, as the DVVSet paper promises.
 *
 * What it holds. Per record id, the X-Context of the last answer received
 * for that key -- a GET's 200, 300 or 404, a PUT's 204 -- whichever
 * connection received it. "Last received", not "newest": contexts are
 * opaque to the bench, so it cannot order them; an older context is still
 * a valid one (it supersedes less, the rest stay siblings).
 *
 * Fixed memory: a direct-mapped table. Slot = id % nslots, nslots =
 * min(records, BENCH_CTX_SLOTS_MAX), at least 1; every slot is
 * BENCH_CTX_SLOT_BYTES (its owner id, a length, the context inline), all
 * allocated at init, nothing per answer. So:
 *
 *   - with records <= BENCH_CTX_SLOTS_MAX every record has its own slot
 *     and the cache is exact;
 *   - beyond that, records sharing a slot evict each other (the one
 *     answered last wins), and an update of an evicted record is sent
 *     blind -- a sibling at worst, never a wrong supersede;
 *   - a context longer than BENCH_CTX_BYTES_MAX (more actors than a slot
 *     holds, about 7 at 15 base64url characters each) is not cached: the
 *     record's slot is emptied, so a context older than the last answer is
 *     never sent, and the next update of it is blind;
 *   - an answer without a context (404 of a key never written) empties
 *     the record's slot the same way.
 *
 * Pure: no I/O; allocation only in bench_ctx_init.
 */
#ifndef RKV_BENCH_CTX_H
#define RKV_BENCH_CTX_H

#include <stddef.h>
#include <stdint.h>

/* 128-byte slots: 8 bytes of owner id, 4 of length, the context. */
#define BENCH_CTX_SLOT_BYTES 128
#define BENCH_CTX_BYTES_MAX  (BENCH_CTX_SLOT_BYTES - 12)
/* 2^18 slots of 128 bytes: at most 32 MiB. */
#define BENCH_CTX_SLOTS_MAX (UINT64_C(1) << 18)

struct bench_ctx_slot {
	uint64_t owner; /* record id + 1; 0: empty */
	uint32_t len;
	char ctx[BENCH_CTX_BYTES_MAX];
};

struct bench_ctx {
	struct bench_ctx_slot *slots;
	uint64_t nslots;

	/* counters, for the summary and the tests */
	uint64_t stored;   /* contexts written into a slot */
	uint64_t replaced; /* ... over an older context of the same id */
	uint64_t evicted;  /* ... over the context of another id */
	uint64_t too_long; /* contexts refused for their length */
	uint64_t hits;     /* bench_ctx_find answers with a context */
	uint64_t misses;   /* bench_ctx_find answers NULL */
};

/* bench_ctx_init -- a table for ids 0..records-1: min(records,
 * BENCH_CTX_SLOTS_MAX) slots (at least 1), all empty, counters 0. 0, or
 * RKV_ENOMEM (c is then as after bench_ctx_deinit). */
int bench_ctx_init(struct bench_ctx *c, uint64_t records);

/* bench_ctx_deinit -- free the table; safe on a zeroed or deinited c. */
void bench_ctx_deinit(struct bench_ctx *c);

/* bench_ctx_bytes -- the table's memory in bytes. */
uint64_t bench_ctx_bytes(const struct bench_ctx *c);

/* bench_ctx_store -- the answer for id carried ctx[0..len) (len 0: no
 * X-Context). The slot of id takes it, evicting another id's context; a
 * len of 0 or above BENCH_CTX_BYTES_MAX instead empties the slot if it
 * holds id (and leaves another id's context alone). ctx is copied. */
void bench_ctx_store(struct bench_ctx *c, uint64_t id, const char *ctx,
                     size_t len);

/* bench_ctx_find -- id's cached context and its length in *len, or NULL
 * (with *len = 0) when its slot is empty or holds another id. The pointer
 * is into the table: valid until the next bench_ctx_store or deinit. */
const char *bench_ctx_find(struct bench_ctx *c, uint64_t id, size_t *len);

#endif
