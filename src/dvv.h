/* dvv.h -- dotted version vector sets (DVVSet), the causality of every object.
 *
 * The model is Almeida et al., "Scalable and Accurate Causality Tracking for
 * Eventually Consistent Stores" (DAIS 2014), in the form Riak ships as
 * dvvset: an object is a set of entries, one per actor (node id) that ever
 * coordinated a write of it, plus a list of anonymous values.
 *
 *   entry (id, counter n, values [v_n, v_n-1, ...])
 *
 * says that actor `id` minted the dots (id,1)..(id,n), and that the listed
 * values, newest first, are the ones still alive for the dots
 * (id,n), (id,n-1), ... ; older dots of that actor are superseded.
 * Anonymous values are values without a dot (dvvset's new()/reconcile()
 * make them; ringkv's own operations never do). They form a set, kept
 * sorted without duplicates, and an update drops them only when its
 * context strictly dominates the object's clock.
 *
 * A client's causal context is the version vector dvv_join() returns:
 * (id, n) for each entry. A write carrying that context supersedes exactly
 * the values that context saw, so sibling count is bounded by the number of
 * truly concurrent writes, not by the number of coordinators.
 *
 * Ownership: every struct dvv and struct dvv_vv owns its arrays and the
 * bytes of its values; dvv_free()/dvv_vv_deinit() release them. Functions
 * taking a `const` argument copy what they keep from it.
 */
#ifndef RKV_DVV_H
#define RKV_DVV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits on what a decoded object may hold; dvv_validate() enforces them so
 * a corrupt or hostile record cannot make us allocate without bound. */
#define DVV_MAX_ENTRIES      1024
#define DVV_MAX_VALUES       1024 /* values in the whole object */
#define DVV_MAX_CONTENT_TYPE 255

/* One stored value: opaque bytes with the metadata the HTTP API returns. */
struct dvv_value {
	uint8_t *data; /* malloc'ed, NULL when len == 0 */
	size_t len;
	char *content_type;    /* malloc'ed NUL-terminated, never NULL; the
	                        * HTTP API stores its default as "" */
	uint64_t timestamp_ms; /* wall clock of the write, for Last-Modified */
	bool tombstone;        /* a delete: hides what its context saw */
};

struct dvv_entry {
	uint64_t id;      /* actor: the node id of the coordinator */
	uint64_t counter; /* dots (id,1)..(id,counter) have been minted */
	size_t nvalues;   /* <= counter */
	struct dvv_value *values; /* newest first: dot (id,counter) is [0] */
};

struct dvv {
	size_t nentries;
	struct dvv_entry *entries; /* strictly increasing by id */
	size_t nanon;
	struct dvv_value *anon; /* values whose dots were lost */
};

/* A causal context: a version vector, strictly increasing by id. */
struct dvv_vv_entry {
	uint64_t id;
	uint64_t counter;
};

struct dvv_vv {
	size_t n;
	struct dvv_vv_entry *e; /* malloc'ed, NULL when n == 0 */
};

/* dvv_new -- an empty object (no entries, no values). NULL on ENOMEM. */
struct dvv *dvv_new(void);

/* dvv_free -- release an object and everything it owns; NULL is a no-op. */
void dvv_free(struct dvv *d);

/* dvv_dup -- a deep copy, NULL on ENOMEM. */
struct dvv *dvv_dup(const struct dvv *d);

/* dvv_value_copy -- deep copy of src into *dst (dst's previous contents are
 * not freed). 0 or RKV_ENOMEM. */
int dvv_value_copy(struct dvv_value *dst, const struct dvv_value *src);

/* dvv_value_deinit -- free what a value owns and zero it. */
void dvv_value_deinit(struct dvv_value *v);

/* dvv_update -- a client write coordinated by `actor`.
 *
 * Equivalent of dvvset's update(new(ctx, v), d, actor): the values of d that
 * ctx covers are discarded, and v gets the new dot (actor, counter+1).
 * ctx may be NULL or empty (a blind write: v becomes a sibling of all);
 * context entries with counter 0 cover nothing and are ignored.
 * d is changed in place; v is copied. 0, RKV_ENOMEM, or RKV_ECONTEXT (ctx
 * fails dvv_vv_validate, or actor's counter in d or ctx is UINT64_MAX so no
 * new dot exists); on any error d is unchanged.
 */
int dvv_update(struct dvv *d, const struct dvv_vv *ctx, uint64_t actor,
               const struct dvv_value *v);

/* dvv_sync -- merge `other` into `into` (dvvset's sync/1 on two clocks):
 * commutative, associative and idempotent; the result keeps exactly the
 * values that neither side has seen superseded. 0 or RKV_ENOMEM (then
 * `into` is unchanged). */
int dvv_sync(struct dvv *into, const struct dvv *other);

/* dvv_join -- the causal context of d, written into *out (which the caller
 * deinits). 0 or RKV_ENOMEM. */
int dvv_join(const struct dvv *d, struct dvv_vv *out);

/* dvv_value_count / dvv_value_at -- the live values (siblings), tombstones
 * included: anonymous values first, then entries in id order, each entry's
 * values newest first. Index i < dvv_value_count(d); the pointer lives as
 * long as d is not changed. */
size_t dvv_value_count(const struct dvv *d);
const struct dvv_value *dvv_value_at(const struct dvv *d, size_t i);

/* dvv_less -- true when a is strictly dominated by b: every counter of a is
 * <= the same actor's counter in b and at least one is smaller (or b has an
 * actor a lacks); a missing actor counts as counter 0. */
bool dvv_less(const struct dvv *a, const struct dvv *b);

/* dvv_equal -- same entries, counters and values (byte-wise, each entry's
 * values in order); anonymous values are compared as sets, since their
 * order carries no meaning. */
bool dvv_equal(const struct dvv *a, const struct dvv *b);

/* dvv_validate -- 0 when d obeys every invariant above (ids strictly
 * increasing, nvalues <= counter, limits, content types present), else
 * RKV_ECORRUPT. Called after decoding and, in tests, after every mutation. */
int dvv_validate(const struct dvv *d);

/* dvv_vv_deinit -- free a context's array and zero it. */
void dvv_vv_deinit(struct dvv_vv *vv);

/* dvv_vv_validate -- 0 when ids strictly increase and n <= DVV_MAX_ENTRIES,
 * else RKV_ECONTEXT. */
int dvv_vv_validate(const struct dvv_vv *vv);

#endif
