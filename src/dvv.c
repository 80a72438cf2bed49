/* dvv.c -- dotted version vector sets: which writes of a key are still alive.
 *
 * The model is Almeida, Baquero, Goncalves, Preguica and Fonte, "Scalable
 * and Accurate Causality Tracking for Eventually Consistent Stores" (DAIS
 * 2014), in the compact form Riak ships as its dvvset module.
 *
 * DOTS. Every write gets a dot (actor, n): the node that coordinated it and
 * that node's n-th write of this key. The actor is a server, never a client,
 * so the metadata grows with the replicas of a key, not with its users. The
 * dot names the write itself; what the write knew about when it happened
 * (its causal past) is kept apart from it. That separation is the whole
 * trick: a plain version vector per server merges the two, so two blind
 * writes through one node either overwrite each other (a lost update) or,
 * with one vector per client, the vector grows with every client ever seen.
 *
 * ENTRIES. An object keeps, per actor, one entry (id, n, [v_n, ..., v_m]):
 * the actor minted dots 1..n, the listed values hold the newest dots n, n-1,
 * .. and every older dot of that actor is known and superseded. The live
 * dots of one actor are always such a suffix, because a context that covers
 * (a, j) covers every (a, i) with i < j: whatever kills one dot kills all
 * older ones. So an entry is a counter and a list, never a set of dots.
 *
 *     a: n=5 [v5 v4]    dots (a,1)..(a,3) superseded, v4 and v5 alive
 *
 * CONTEXTS. A reader gets dvv_join(): the vector (id, n) of every entry,
 * i.e. "I have seen every dot up to here". A write carrying that context is
 * update(new(ctx, v), stored, actor): first sync the stored object with a
 * value-less object whose counters are the context's -- that throws away
 * exactly the values whose dots the reader saw -- then mint (actor, n+1) and
 * put v at the head of the actor's list. Values written after the read have
 * dots beyond the context, so they survive as siblings of v: siblings are
 * the writes that were truly concurrent, however many coordinators took
 * them, and a write with the context of a read collapses them again.
 *
 * SYNC. Two replicas' objects merge entry by entry. For one actor, with
 * counters n1 >= n2 and l1, l2 live values: side 1 has seen every dot side 2
 * knows of, so its counter wins. Its values survive unless side 2 has seen
 * more of them superseded (n2 - l2 > n1 - l1), in which case only the dots
 * above n2 - l2 stay: the first n1 - n2 + l2 of side 1's list.
 *
 *     a: 5 [v5 v4]  +  a: 4 [v4 v3]   ->  a: 5 [v5 v4]   (v3 was superseded)
 *     a: 5 [v5 v4]  +  a: 4 []        ->  a: 5 [v5]      (side 2 killed v4)
 *
 * The merge keeps a dot's value only when neither side saw it superseded,
 * which is why sync is commutative, associative and idempotent and why any
 * order of replication, read repair and handoff converges.
 *
 * ANONYMOUS VALUES have no dot: dvvset creates them for a value a client
 * gives with a context but no actor (its new() and reconcile()). Nothing in
 * ringkv creates one -- every write here is minted a dot by dvv_update --
 * but a record may carry them, so they follow dvvset's rule: a sync keeps
 * the anonymous values of the strictly newer clock, or of both (a set,
 * duplicates removed) when neither clock dominates. An update drops them
 * only when its context strictly dominates the stored clock, and the rule
 * is not associative in general (three clocks a, b and c = a v b, each with
 * its own anonymous value, merge differently in different groupings):
 * dvvset's price for values that carry no causality of their own. We keep
 * them sorted so that replicas holding the same set hold the same bytes.
 *
 * ATOMICITY. dvv_update and dvv_sync first decide the result (a "pick" per
 * entry: counter, which side's list, how many of its values), then allocate
 * and copy everything the result needs from the other side, and only then,
 * when nothing can fail any more, move the surviving values out of the
 * object being replaced. Out of memory, the object is untouched; on success
 * the surviving values are moved, never copied, so a sync that brings
 * nothing new costs no copy of the (possibly large) values it keeps.
 */
#include "dvv.h"

#include "status.h"

#include <stdlib.h>
#include <string.h>

/* Which side of a merge an entry's (or anonymous value's) values come from:
 * MINE is the object being replaced (values are moved), THEIRS is the
 * read-only other side (values are copied). */
enum dvv_side {
	DVV_SIDE_NONE,
	DVV_SIDE_MINE,
	DVV_SIDE_THEIRS,
};

/* One entry of a result, decided before anything is allocated. */
struct dvv_pick {
	uint64_t id;
	uint64_t counter;
	enum dvv_side side;
	const struct dvv_entry *src;   /* whose newest values survive */
	size_t keep;                   /* how many of them */
	const struct dvv_value *fresh; /* an update's new value, goes first */
};

/* One anonymous value of a result. */
struct dvv_anon_pick {
	enum dvv_side side;
	const struct dvv_value *v;
};

/* --- values --------------------------------------------------------------- */

void dvv_value_deinit(struct dvv_value *v)
{
	if (v == NULL)
		return;
	free(v->data);
	free(v->content_type);
	memset(v, 0, sizeof(*v));
}

int dvv_value_copy(struct dvv_value *dst, const struct dvv_value *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src->len > 0) {
		dst->data = malloc(src->len);
		if (dst->data == NULL)
			goto fail;
		memcpy(dst->data, src->data, src->len);
	}
	/* A missing type stays missing, so dvv_validate can refuse the
	 * result instead of a default being invented here. */
	if (src->content_type != NULL) {
		size_t n = strlen(src->content_type) + 1;
		dst->content_type = malloc(n);
		if (dst->content_type == NULL)
			goto fail;
		memcpy(dst->content_type, src->content_type, n);
	}
	dst->len = src->len;
	dst->timestamp_ms = src->timestamp_ms;
	dst->tombstone = src->tombstone;
	return 0;

fail:
	dvv_value_deinit(dst);
	return RKV_ENOMEM;
}

static int dvv_cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

/* A total order on values, so anonymous sets have one canonical order. */
static int dvv_value_cmp(const struct dvv_value *a, const struct dvv_value *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int c = n > 0 ? memcmp(a->data, b->data, n) : 0;

	if (c == 0)
		c = dvv_cmp_u64(a->len, b->len);
	if (c == 0 && a->content_type != b->content_type) {
		if (a->content_type == NULL || b->content_type == NULL)
			c = a->content_type == NULL ? -1 : 1;
		else
			c = strcmp(a->content_type, b->content_type);
	}
	if (c == 0)
		c = dvv_cmp_u64(a->timestamp_ms, b->timestamp_ms);
	if (c == 0)
		c = (int)a->tombstone - (int)b->tombstone;
	return c;
}

static bool dvv_value_equal(const struct dvv_value *a,
                            const struct dvv_value *b)
{
	return dvv_value_cmp(a, b) == 0;
}

/* --- objects -------------------------------------------------------------- */

static void dvv_values_free(struct dvv_value *vals, size_t n)
{
	for (size_t i = 0; i < n && vals != NULL; i++)
		dvv_value_deinit(&vals[i]);
	free(vals);
}

static void dvv_deinit(struct dvv *d)
{
	for (size_t i = 0; i < d->nentries; i++)
		dvv_values_free(d->entries[i].values, d->entries[i].nvalues);
	free(d->entries);
	dvv_values_free(d->anon, d->nanon);
	memset(d, 0, sizeof(*d));
}

struct dvv *dvv_new(void)
{
	return calloc(1, sizeof(struct dvv));
}

void dvv_free(struct dvv *d)
{
	if (d == NULL)
		return;
	dvv_deinit(d);
	free(d);
}

/* Deep copy of n values into a fresh array (NULL when n == 0). */
static int dvv_values_dup(const struct dvv_value *src, size_t n,
                          struct dvv_value **out)
{
	struct dvv_value *vals = NULL;

	*out = NULL;
	if (n == 0)
		return 0;
	vals = calloc(n, sizeof(*vals));
	if (vals == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (dvv_value_copy(&vals[i], &src[i]) != 0)
			goto fail;
	*out = vals;
	return 0;

fail:
	dvv_values_free(vals, n); /* unfilled slots are still zero */
	return RKV_ENOMEM;
}

struct dvv *dvv_dup(const struct dvv *d)
{
	struct dvv *c = dvv_new();

	if (c == NULL)
		return NULL;
	if (d->nentries > 0) {
		c->entries = calloc(d->nentries, sizeof(*c->entries));
		if (c->entries == NULL)
			goto fail;
		c->nentries = d->nentries;
	}
	for (size_t i = 0; i < d->nentries; i++) {
		const struct dvv_entry *e = &d->entries[i];
		c->entries[i].id = e->id;
		c->entries[i].counter = e->counter;
		if (dvv_values_dup(e->values, e->nvalues,
		                   &c->entries[i].values) != 0)
			goto fail;
		c->entries[i].nvalues = e->nvalues;
	}
	if (dvv_values_dup(d->anon, d->nanon, &c->anon) != 0)
		goto fail;
	c->nanon = d->nanon;
	return c;

fail:
	dvv_free(c);
	return NULL;
}

/* --- deciding a merge ----------------------------------------------------- */

/* Live values an entry can truly hold: a record breaking nvalues <= counter
 * fails dvv_validate, but must still not make the arithmetic below wrap. */
static size_t dvv_entry_live(const struct dvv_entry *e)
{
	return e->nvalues <= e->counter ? e->nvalues : (size_t)e->counter;
}

static void dvv_pick_one(struct dvv_pick *p, const struct dvv_entry *e,
                         enum dvv_side side)
{
	memset(p, 0, sizeof(*p));
	p->id = e->id;
	p->counter = e->counter;
	p->side = side;
	p->src = e;
	p->keep = dvv_entry_live(e);
}

/* The same actor on both sides (see SYNC at the top). On a tie, mine wins:
 * equal dots carry equal values, and mine are moved rather than copied. */
static void dvv_pick_merge(struct dvv_pick *p, const struct dvv_entry *mine,
                           const struct dvv_entry *theirs)
{
	uint64_t n1 = mine->counter, n2 = theirs->counter;
	uint64_t l1 = dvv_entry_live(mine), l2 = dvv_entry_live(theirs);

	if (n1 >= n2) {
		dvv_pick_one(p, mine, DVV_SIDE_MINE);
		if (n1 - l1 < n2 - l2)
			p->keep = (size_t)(n1 - n2 + l2);
		return;
	}
	dvv_pick_one(p, theirs, DVV_SIDE_THEIRS);
	if (n2 - l2 < n1 - l1)
		p->keep = (size_t)(n2 - n1 + l1);
}

/* Walk both id-sorted entry lists as one; *npicks is set to the result's
 * entry count. picks has room for both objects' entries. */
static void dvv_plan_entries(const struct dvv *mine, const struct dvv *theirs,
                             struct dvv_pick *picks, size_t *npicks)
{
	size_t i = 0, j = 0, n = 0;

	while (i < mine->nentries || j < theirs->nentries) {
		const struct dvv_entry *a =
		    i < mine->nentries ? &mine->entries[i] : NULL;
		const struct dvv_entry *b =
		    j < theirs->nentries ? &theirs->entries[j] : NULL;

		if (b == NULL || (a != NULL && a->id < b->id)) {
			dvv_pick_one(&picks[n++], a, DVV_SIDE_MINE);
			i++;
		} else if (a == NULL || b->id < a->id) {
			dvv_pick_one(&picks[n++], b, DVV_SIDE_THEIRS);
			j++;
		} else {
			dvv_pick_merge(&picks[n++], a, b);
			i++;
			j++;
		}
	}
	*npicks = n;
}

/* Version-vector order of two clocks: -1 a < b, 1 a > b, 0 equal, 2
 * concurrent. A missing actor counts as 0, so an entry with counter 0 (a
 * hand-made record) changes nothing. */
static int dvv_clock_cmp(const struct dvv *a, const struct dvv *b)
{
	size_t i = 0, j = 0;
	bool a_more = false, b_more = false;

	while (i < a->nentries || j < b->nentries) {
		uint64_t ca = 0, cb = 0;
		uint64_t ia = i < a->nentries ? a->entries[i].id : UINT64_MAX;
		uint64_t ib = j < b->nentries ? b->entries[j].id : UINT64_MAX;
		bool take_a = i < a->nentries && (j >= b->nentries || ia <= ib);
		bool take_b = j < b->nentries && (i >= a->nentries || ib <= ia);

		if (take_a)
			ca = a->entries[i++].counter;
		if (take_b)
			cb = b->entries[j++].counter;
		a_more = a_more || ca > cb;
		b_more = b_more || cb > ca;
	}
	if (a_more && b_more)
		return 2;
	return a_more ? 1 : b_more ? -1 : 0;
}

static int dvv_anon_pick_cmp(const void *x, const void *y)
{
	const struct dvv_anon_pick *a = x, *b = y;
	int c = dvv_value_cmp(a->v, b->v);

	/* Among equal values keep mine: it is moved, theirs would be copied. */
	return c != 0 ? c : (int)a->side - (int)b->side;
}

/* The anonymous values of the result (see ANONYMOUS VALUES at the top), in
 * canonical order without duplicates. *out is malloc'ed (NULL if none). */
static int dvv_plan_anon(const struct dvv *mine, const struct dvv *theirs,
                         struct dvv_anon_pick **out, size_t *nout)
{
	int order = dvv_clock_cmp(mine, theirs);
	size_t nm = order == -1 ? 0 : mine->nanon;
	size_t nt = order == 1 ? 0 : theirs->nanon;
	struct dvv_anon_pick *p = NULL;
	size_t n = 0;

	*out = NULL;
	*nout = 0;
	if (nm + nt == 0)
		return 0;
	p = calloc(nm + nt, sizeof(*p));
	if (p == NULL)
		return RKV_ENOMEM;
	for (size_t i = 0; i < nm; i++)
		p[i] = (struct dvv_anon_pick){DVV_SIDE_MINE, &mine->anon[i]};
	for (size_t i = 0; i < nt; i++)
		p[nm + i] =
		    (struct dvv_anon_pick){DVV_SIDE_THEIRS, &theirs->anon[i]};
	qsort(p, nm + nt, sizeof(*p), dvv_anon_pick_cmp);
	for (size_t i = 0; i < nm + nt; i++)
		if (n == 0 || !dvv_value_equal(p[n - 1].v, p[i].v))
			p[n++] = p[i];
	*out = p;
	*nout = n;
	return 0;
}

/* --- building and installing a result ------------------------------------ */

/* Allocate one result entry and copy into it everything that does not come
 * from mine; mine's surviving values are moved in by dvv_commit. */
static int dvv_build_entry(struct dvv_entry *e, const struct dvv_pick *p)
{
	size_t off = p->fresh != NULL ? 1 : 0;
	const struct dvv_value *src = NULL;

	e->id = p->id;
	e->counter = p->counter;
	if (p->keep + off == 0)
		return 0;
	e->values = calloc(p->keep + off, sizeof(*e->values));
	if (e->values == NULL)
		return RKV_ENOMEM;
	e->nvalues = p->keep + off;
	if (p->fresh != NULL && dvv_value_copy(&e->values[0], p->fresh) != 0)
		return RKV_ENOMEM;
	if (p->side != DVV_SIDE_THEIRS)
		return 0;
	src = p->src->values;
	for (size_t k = 0; k < p->keep; k++)
		if (dvv_value_copy(&e->values[off + k], &src[k]) != 0)
			return RKV_ENOMEM;
	return 0;
}

static int dvv_build(struct dvv *res, const struct dvv_pick *picks,
                     size_t npicks, const struct dvv_anon_pick *anon,
                     size_t nanon)
{
	if (npicks > 0) {
		res->entries = calloc(npicks, sizeof(*res->entries));
		if (res->entries == NULL)
			return RKV_ENOMEM;
		res->nentries = npicks;
	}
	for (size_t i = 0; i < npicks; i++)
		if (dvv_build_entry(&res->entries[i], &picks[i]) != 0)
			return RKV_ENOMEM;
	if (nanon > 0) {
		res->anon = calloc(nanon, sizeof(*res->anon));
		if (res->anon == NULL)
			return RKV_ENOMEM;
		res->nanon = nanon;
	}
	for (size_t i = 0; i < nanon; i++) {
		if (anon[i].side == DVV_SIDE_THEIRS &&
		    dvv_value_copy(&res->anon[i], anon[i].v) != 0)
			return RKV_ENOMEM;
	}
	return 0;
}

/* Move a value of `d` (located through a const pointer into it) to dst. */
static void dvv_move(struct dvv_value *dst, struct dvv_value *base,
                     const struct dvv_value *src)
{
	struct dvv_value *v = &base[src - base];

	*dst = *v;
	memset(v, 0, sizeof(*v));
}

/* Nothing below fails: move mine's survivors into res, free the rest of
 * mine and put res in its place. */
static void dvv_commit(struct dvv *mine, struct dvv *res,
                       const struct dvv_pick *picks,
                       const struct dvv_anon_pick *anon)
{
	for (size_t i = 0; i < res->nentries; i++) {
		const struct dvv_pick *p = &picks[i];
		size_t off = p->fresh != NULL ? 1 : 0;
		struct dvv_value *base = NULL;

		if (p->side != DVV_SIDE_MINE)
			continue;
		base = mine->entries[p->src - mine->entries].values;
		for (size_t k = 0; k < p->keep; k++)
			dvv_move(&res->entries[i].values[off + k], base,
			         &p->src->values[k]);
	}
	for (size_t i = 0; i < res->nanon; i++) {
		if (anon[i].side == DVV_SIDE_MINE)
			dvv_move(&res->anon[i], mine->anon, anon[i].v);
	}
	dvv_deinit(mine);
	*mine = *res;
}

/* sync(mine, theirs), plus an update's new dot when actor_v is not NULL:
 * the whole of dvv_sync and dvv_update. */
static int dvv_merge(struct dvv *mine, const struct dvv *theirs, uint64_t actor,
                     const struct dvv_value *actor_v)
{
	struct dvv_pick *picks = NULL;
	struct dvv_anon_pick *anon = NULL;
	struct dvv res = {0};
	size_t npicks = 0, nanon = 0;
	int rc = RKV_ENOMEM;

	/* One spare pick for an actor new to this object. */
	picks = calloc(mine->nentries + theirs->nentries + 1, sizeof(*picks));
	if (picks == NULL)
		goto fail;
	dvv_plan_entries(mine, theirs, picks, &npicks);
	if (actor_v != NULL) {
		size_t i = 0;
		while (i < npicks && picks[i].id < actor)
			i++;
		if (i == npicks || picks[i].id != actor) {
			memmove(&picks[i + 1], &picks[i],
			        (npicks - i) * sizeof(*picks));
			memset(&picks[i], 0, sizeof(picks[i]));
			picks[i].id = actor;
			npicks++;
		}
		/* No dot left to mint: only a forged context gets here. */
		rc = RKV_ECONTEXT;
		if (picks[i].counter == UINT64_MAX)
			goto fail;
		picks[i].counter++;
		picks[i].fresh = actor_v;
	}
	rc = dvv_plan_anon(mine, theirs, &anon, &nanon);
	if (rc == 0)
		rc = dvv_build(&res, picks, npicks, anon, nanon);
	if (rc != 0)
		goto fail;
	dvv_commit(mine, &res, picks, anon);
	free(picks);
	free(anon);
	return 0;

fail:
	dvv_deinit(&res);
	free(picks);
	free(anon);
	return rc;
}

int dvv_sync(struct dvv *into, const struct dvv *other)
{
	return dvv_merge(into, other, 0, NULL);
}

int dvv_update(struct dvv *d, const struct dvv_vv *ctx, uint64_t actor,
               const struct dvv_value *v)
{
	struct dvv_entry *seen = NULL;
	struct dvv clock = {0};
	int rc = 0;

	if (ctx != NULL && dvv_vv_validate(ctx) != 0)
		return RKV_ECONTEXT;
	/* The context as an object that has seen those dots and holds no
	 * value: syncing with it drops exactly what the reader saw. A zero
	 * counter covers nothing and would only leave an empty entry. */
	if (ctx != NULL && ctx->n > 0) {
		seen = calloc(ctx->n, sizeof(*seen));
		if (seen == NULL)
			return RKV_ENOMEM;
	}
	for (size_t i = 0; ctx != NULL && i < ctx->n; i++) {
		if (ctx->e[i].counter == 0)
			continue;
		seen[clock.nentries].id = ctx->e[i].id;
		seen[clock.nentries].counter = ctx->e[i].counter;
		clock.nentries++;
	}
	clock.entries = seen;
	rc = dvv_merge(d, &clock, actor, v);
	free(seen);
	return rc;
}

/* --- reading -------------------------------------------------------------- */

int dvv_join(const struct dvv *d, struct dvv_vv *out)
{
	memset(out, 0, sizeof(*out));
	if (d->nentries == 0)
		return 0;
	out->e = calloc(d->nentries, sizeof(*out->e));
	if (out->e == NULL)
		return RKV_ENOMEM;
	for (size_t i = 0; i < d->nentries; i++) {
		out->e[i].id = d->entries[i].id;
		out->e[i].counter = d->entries[i].counter;
	}
	out->n = d->nentries;
	return 0;
}

size_t dvv_value_count(const struct dvv *d)
{
	size_t n = d->nanon;

	for (size_t i = 0; i < d->nentries; i++)
		n += d->entries[i].nvalues;
	return n;
}

const struct dvv_value *dvv_value_at(const struct dvv *d, size_t i)
{
	if (i < d->nanon)
		return &d->anon[i];
	i -= d->nanon;
	for (size_t k = 0; k < d->nentries; k++) {
		if (i < d->entries[k].nvalues)
			return &d->entries[k].values[i];
		i -= d->entries[k].nvalues;
	}
	return NULL;
}

bool dvv_less(const struct dvv *a, const struct dvv *b)
{
	return dvv_clock_cmp(a, b) == -1;
}

/* Every value of a also in b. Quadratic, but bounded by DVV_MAX_VALUES and
 * reached only for anonymous sets not in canonical order. */
static bool dvv_anon_within(const struct dvv *a, const struct dvv *b)
{
	for (size_t i = 0; i < a->nanon; i++) {
		size_t j = 0;
		while (j < b->nanon &&
		       !dvv_value_equal(&a->anon[i], &b->anon[j]))
			j++;
		if (j == b->nanon)
			return false;
	}
	return true;
}

static bool dvv_anon_equal(const struct dvv *a, const struct dvv *b)
{
	size_t i = 0;

	while (i < a->nanon && i < b->nanon &&
	       dvv_value_equal(&a->anon[i], &b->anon[i]))
		i++;
	if (i == a->nanon && i == b->nanon)
		return true;
	return dvv_anon_within(a, b) && dvv_anon_within(b, a);
}

static bool dvv_entry_equal(const struct dvv_entry *a,
                            const struct dvv_entry *b)
{
	if (a->id != b->id || a->counter != b->counter ||
	    a->nvalues != b->nvalues)
		return false;
	for (size_t k = 0; k < a->nvalues; k++)
		if (!dvv_value_equal(&a->values[k], &b->values[k]))
			return false;
	return true;
}

bool dvv_equal(const struct dvv *a, const struct dvv *b)
{
	if (a->nentries != b->nentries)
		return false;
	for (size_t i = 0; i < a->nentries; i++)
		if (!dvv_entry_equal(&a->entries[i], &b->entries[i]))
			return false;
	return dvv_anon_equal(a, b);
}

/* --- invariants ----------------------------------------------------------- */

static int dvv_value_validate(const struct dvv_value *v)
{
	if (v->len > 0 && v->data == NULL)
		return RKV_ECORRUPT;
	if (v->content_type == NULL ||
	    strnlen(v->content_type, DVV_MAX_CONTENT_TYPE + 1) >
	        DVV_MAX_CONTENT_TYPE)
		return RKV_ECORRUPT;
	return 0;
}

/* Check n values and add them to *total, which may not pass the limit. */
static int dvv_values_validate(const struct dvv_value *vals, size_t n,
                               size_t *total)
{
	if (n > DVV_MAX_VALUES - *total || (n > 0 && vals == NULL))
		return RKV_ECORRUPT;
	*total += n;
	for (size_t i = 0; i < n; i++)
		if (dvv_value_validate(&vals[i]) != 0)
			return RKV_ECORRUPT;
	return 0;
}

int dvv_validate(const struct dvv *d)
{
	size_t total = 0;

	if (d == NULL || d->nentries > DVV_MAX_ENTRIES ||
	    (d->nentries > 0 && d->entries == NULL))
		return RKV_ECORRUPT;
	for (size_t i = 0; i < d->nentries; i++) {
		const struct dvv_entry *e = &d->entries[i];
		if (i > 0 && e->id <= d->entries[i - 1].id)
			return RKV_ECORRUPT;
		if (e->nvalues > e->counter)
			return RKV_ECORRUPT;
		if (dvv_values_validate(e->values, e->nvalues, &total) != 0)
			return RKV_ECORRUPT;
	}
	return dvv_values_validate(d->anon, d->nanon, &total);
}

void dvv_vv_deinit(struct dvv_vv *vv)
{
	if (vv == NULL)
		return;
	free(vv->e);
	memset(vv, 0, sizeof(*vv));
}

int dvv_vv_validate(const struct dvv_vv *vv)
{
	if (vv == NULL || vv->n > DVV_MAX_ENTRIES ||
	    (vv->n > 0 && vv->e == NULL))
		return RKV_ECONTEXT;
	for (size_t i = 1; i < vv->n; i++)
		if (vv->e[i].id <= vv->e[i - 1].id)
			return RKV_ECONTEXT;
	return 0;
}
