/* test_dvv.c -- dotted version vector sets: what a user of a key observes.
 *
 * The unit tests are the stories a client can tell: two blind writes are
 * siblings; a write with the context of a read replaces exactly what was
 * read; a delete hides what it saw and nothing else; replicas merged in any
 * order agree. Objects are written and compared in a small text form,
 *
 *     "10:3[v3,v2] 20:1[] ~[p]"   actor 10 minted 3 dots, v3 and v2 alive;
 *                                 actor 20 minted 1, superseded; one
 *                                 anonymous value p; "!x" is a tombstone x
 *
 * so expectations read like dvvset's own examples.
 *
 * The random test simulates replicas taking writes with no, fresh or stale
 * contexts and syncing in random orders, next to an oracle that knows each
 * write's causal past: the siblings must be exactly the writes no other
 * write in the history has seen (the accuracy the paper claims), and sync
 * must be commutative, associative and idempotent on every state reached.
 * Its generator is seeded by one number printed at the start; RKV_SEED=<n>
 * replays a run exactly.
 *
 * dvv_validate() runs after every mutation. Leaks are the sanitizer build's
 * job (--enable-sanitizers runs LeakSanitizer at exit).
 */
#include "ring/rng.h"
#include "status.h"

#include "tests/seed.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* Out-of-memory injection. dvv.c is compiled into this program with its
 * allocator calls routed through a countdown, so a test can make the k-th
 * allocation fail and check the object was left as it was; the library's
 * own copy of dvv.o is then never linked. */
/* Allocations left before one fails; -1: no limit. */
static long alloc_budget = -1;

static bool alloc_allowed(void)
{
	if (alloc_budget == 0)
		return false;
	if (alloc_budget > 0)
		alloc_budget--;
	return true;
}

static void *counted_malloc(size_t n)
{
	return alloc_allowed() ? malloc(n) : NULL;
}

static void *counted_calloc(size_t n, size_t size)
{
	return alloc_allowed() ? calloc(n, size) : NULL;
}

#define malloc(n)       counted_malloc(n)
#define calloc(n, size) counted_calloc(n, size)
#include "dvv.c"
#undef malloc
#undef calloc

#define CTYPE    "text/plain"
#define TEXT_MAX 4096

static uint64_t test_seed;

static void seeded(struct rng *r, uint64_t salt)
{
	rng_init(r, test_seed ^ (salt * UINT64_C(0x9e3779b97f4a7c15)));
}

/* --- values, objects and contexts as text -------------------------------- */

/* A value whose bytes are `text`; a leading '!' makes it a tombstone. */
static void value_make(struct dvv_value *v, const char *text, size_t len)
{
	memset(v, 0, sizeof(*v));
	v->tombstone = len > 0 && text[0] == '!';
	if (v->tombstone) {
		text++;
		len--;
	}
	if (len > 0) {
		v->data = malloc(len);
		assert_non_null(v->data);
		memcpy(v->data, text, len);
	}
	v->len = len;
	v->content_type = strdup(CTYPE);
	assert_non_null(v->content_type);
}

/* Parse "a,b,!c]" into a fresh array; returns the text after ']'. */
static const char *values_parse(const char *s, struct dvv_value **out,
                                size_t *n)
{
	const char *end = strchr(s, ']');
	size_t count = 0;

	assert_non_null(end);
	*out = NULL;
	*n = 0;
	if (end == s)
		return end + 1;
	for (const char *p = s; p < end; p++)
		count += *p == ',';
	*out = calloc(count + 1, sizeof(**out));
	assert_non_null(*out);
	for (size_t i = 0; i <= count; i++) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *stop = comma != NULL ? comma : end;
		value_make(&(*out)[i], s, (size_t)(stop - s));
		s = stop + 1;
	}
	*n = count + 1;
	return end + 1;
}

/* Build an object from its text form, as written, without validating it:
 * the validation tests need broken ones. */
static struct dvv *obj(const char *spec)
{
	struct dvv *d = dvv_new();
	const char *s = spec;

	assert_non_null(d);
	d->entries = calloc(64, sizeof(*d->entries));
	assert_non_null(d->entries);
	while (*s != '\0') {
		if (*s == ' ') {
			s++;
		} else if (s[0] == '~' && s[1] == '[') {
			s = values_parse(s + 2, &d->anon, &d->nanon);
		} else {
			struct dvv_entry *e = &d->entries[d->nentries++];
			char *p = NULL;
			e->id = strtoull(s, &p, 10);
			assert_true(*p == ':');
			e->counter = strtoull(p + 1, &p, 10);
			assert_true(*p == '[');
			s = values_parse(p + 1, &e->values, &e->nvalues);
		}
	}
	return d;
}

static void text_add(char *buf, size_t *at, const char *s, size_t len)
{
	assert_true(*at + len < TEXT_MAX);
	memcpy(buf + *at, s, len);
	*at += len;
	buf[*at] = '\0';
}

static void text_values(char *buf, size_t *at, const struct dvv_value *v,
                        size_t n)
{
	text_add(buf, at, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			text_add(buf, at, ",", 1);
		if (v[i].tombstone)
			text_add(buf, at, "!", 1);
		text_add(buf, at, (const char *)v[i].data, v[i].len);
	}
	text_add(buf, at, "]", 1);
}

/* The text form of d, in a static buffer (the tests compare it at once). */
static const char *text(const struct dvv *d)
{
	static char buf[TEXT_MAX];
	size_t at = 0;
	char num[64];

	buf[0] = '\0';
	for (size_t i = 0; i < d->nentries; i++) {
		const struct dvv_entry *e = &d->entries[i];
		int n = snprintf(num, sizeof(num), "%s%" PRIu64 ":%" PRIu64,
		                 i > 0 ? " " : "", e->id, e->counter);
		text_add(buf, &at, num, (size_t)n);
		text_values(buf, &at, e->values, e->nvalues);
	}
	if (d->nanon > 0) {
		if (d->nentries > 0)
			text_add(buf, &at, " ", 1);
		text_add(buf, &at, "~", 1);
		text_values(buf, &at, d->anon, d->nanon);
	}
	return buf;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The siblings a client would be shown, sorted, space-separated. */
static const char *siblings(const struct dvv *d)
{
	static char buf[TEXT_MAX];
	static char one[DVV_MAX_VALUES][32];
	char *sorted[DVV_MAX_VALUES];
	size_t n = dvv_value_count(d), at = 0;

	assert_true(n <= DVV_MAX_VALUES);
	for (size_t i = 0; i < n; i++) {
		const struct dvv_value *v = dvv_value_at(d, i);
		assert_non_null(v);
		assert_true(v->len < sizeof(one[i]) - 1);
		snprintf(one[i], sizeof(one[i]), "%s%.*s",
		         v->tombstone ? "!" : "", (int)v->len,
		         v->len > 0 ? (const char *)v->data : "");
		sorted[i] = one[i];
	}
	assert_null(dvv_value_at(d, n));
	qsort(sorted, n, sizeof(sorted[0]), str_cmp);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			text_add(buf, &at, " ", 1);
		text_add(buf, &at, sorted[i], strlen(sorted[i]));
	}
	return buf;
}

/* --- operations, each followed by dvv_validate ---------------------------- */

static void check(const struct dvv *d)
{
	assert_int_equal(dvv_validate(d), 0);
}

static struct dvv *empty(void)
{
	struct dvv *d = dvv_new();

	assert_non_null(d);
	return d;
}

/* The context a client reading d gets. */
static struct dvv_vv read_ctx(const struct dvv *d)
{
	struct dvv_vv vv;

	assert_int_equal(dvv_join(d, &vv), 0);
	assert_int_equal(dvv_vv_validate(&vv), 0);
	return vv;
}

/* A client write of `value` with context ctx (NULL: none) through the node
 * whose id is actor. */
static void put(struct dvv *d, const struct dvv_vv *ctx, uint64_t actor,
                const char *value)
{
	struct dvv_value v;

	value_make(&v, value, strlen(value));
	assert_int_equal(dvv_update(d, ctx, actor, &v), 0);
	dvv_value_deinit(&v);
	check(d);
}

static void sync_into(struct dvv *into, const struct dvv *other)
{
	assert_int_equal(dvv_sync(into, other), 0);
	check(into);
}

/* sync(a, b) as a new object. */
static struct dvv *synced(const struct dvv *a, const struct dvv *b)
{
	struct dvv *r = dvv_dup(a);

	assert_non_null(r);
	sync_into(r, b);
	return r;
}

/* --- the stories ---------------------------------------------------------- */

enum { A = 10, B = 20, C = 30 }; /* node ids */

static void test_new_is_empty(void **state)
{
	struct dvv *d = dvv_new();
	struct dvv_vv vv;

	(void)state;
	assert_non_null(d);
	check(d);
	assert_int_equal(dvv_value_count(d), 0);
	assert_null(dvv_value_at(d, 0));
	vv = read_ctx(d);
	assert_int_equal(vv.n, 0);
	assert_null(vv.e);
	dvv_vv_deinit(&vv);
	dvv_free(d);
	dvv_free(NULL);
}

/* dvvset's own worked examples, as known answers. */
static void test_update_known_answers(void **state)
{
	struct dvv *a0 = empty(), *a1 = NULL, *x = NULL;
	struct dvv_vv c0, c1;

	(void)state;
	assert_non_null(a0);
	put(a0, NULL, A, "v1");
	assert_string_equal(text(a0), "10:1[v1]");
	c0 = read_ctx(a0);
	a1 = dvv_dup(a0);
	put(a1, &c0, A, "v2");
	assert_string_equal(text(a1), "10:2[v2]");
	c1 = read_ctx(a1);

	x = dvv_dup(a1); /* read v2, wrote v3 through another node */
	put(x, &c1, B, "v3");
	assert_string_equal(text(x), "10:2[] 20:1[v3]");
	dvv_free(x);
	x = dvv_dup(a1); /* read v1 (stale), wrote v4 through B */
	put(x, &c0, B, "v4");
	assert_string_equal(text(x), "10:2[v2] 20:1[v4]");
	dvv_free(x);
	x = dvv_dup(a1); /* read v1 (stale), wrote v5 through A */
	put(x, &c0, A, "v5");
	assert_string_equal(text(x), "10:3[v5,v2]");
	dvv_free(x);

	dvv_vv_deinit(&c0);
	dvv_vv_deinit(&c1);
	dvv_free(a0);
	dvv_free(a1);
}

static void test_sync_known_answers(void **state)
{
	static const struct {
		const char *a, *b, *want;
	} cases[] = {
	    /* b has seen dot (a,1) superseded, a has not */
	    {"10:1[]", "10:2[v2,v1]", "10:2[v2]"},
	    {"10:2[v2,v1]", "10:2[v2]", "10:2[v2]"},
	    {"10:5[v5,v4]", "10:4[v4,v3]", "10:5[v5,v4]"},
	    {"10:5[v5,v4]", "10:4[]", "10:5[v5]"},
	    {"10:1[v1]", "99:1[]", "10:1[v1] 99:1[]"},
	    {"10:1[v1]", "20:1[v2]", "10:1[v1] 20:1[v2]"},
	    {"10:2[] 20:1[v3]", "10:2[] 30:1[v3]", "10:2[] 20:1[v3] 30:1[v3]"},
	    {"", "10:1[v1]", "10:1[v1]"},
	    {"", "", ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dvv *a = obj(cases[i].a), *b = obj(cases[i].b);
		struct dvv *ab = synced(a, b), *ba = synced(b, a);
		assert_string_equal(text(ab), cases[i].want);
		assert_string_equal(text(ba), cases[i].want);
		dvv_free(a);
		dvv_free(b);
		dvv_free(ab);
		dvv_free(ba);
	}
}

static void test_blind_writes_are_siblings(void **state)
{
	struct dvv *x = empty(), *y = empty(), *m = NULL;

	(void)state;
	put(x, NULL, A, "v1"); /* one node, two blind writes */
	put(x, NULL, A, "v2");
	assert_string_equal(siblings(x), "v1 v2");

	put(y, NULL, B, "w1"); /* two nodes, then replication */
	m = synced(x, y);
	assert_string_equal(siblings(m), "v1 v2 w1");
	dvv_free(m);
	m = synced(y, x);
	assert_string_equal(siblings(m), "v1 v2 w1");
	dvv_free(m);
	dvv_free(x);
	dvv_free(y);
}

static void test_same_stale_context_makes_siblings(void **state)
{
	struct dvv *x = empty(), *y = NULL, *m = NULL;
	struct dvv_vv ctx;

	(void)state;
	put(x, NULL, A, "v1");
	ctx = read_ctx(x);
	y = dvv_dup(x); /* replicated before the two writes below */

	put(x, &ctx, A, "v2"); /* both through one node */
	put(x, &ctx, A, "v3");
	assert_string_equal(siblings(x), "v2 v3");

	put(y, &ctx, B, "v4"); /* and a third through another node */
	m = synced(x, y);
	assert_string_equal(siblings(m), "v2 v3 v4");
	dvv_free(m);
	m = synced(y, x);
	assert_string_equal(siblings(m), "v2 v3 v4");

	dvv_vv_deinit(&ctx);
	dvv_free(m);
	dvv_free(x);
	dvv_free(y);
}

/* Siblings are bounded by true concurrency, not by coordinators: N blind
 * writes through one node are N siblings, each with its own dot, and one
 * write with the latest context collapses them. */
static void test_blind_writes_through_one_node(void **state)
{
	enum { N = 12, READ_AFTER = 5 };
	struct dvv *d = empty(), *x = NULL;
	struct dvv_vv mid = {0}, all;
	char name[16];

	(void)state;
	for (int i = 1; i <= N; i++) {
		snprintf(name, sizeof(name), "v%02d", i);
		put(d, NULL, A, name);
		assert_int_equal(dvv_value_count(d), (size_t)i);
		if (i == READ_AFTER)
			mid = read_ctx(d);
	}
	assert_int_equal(d->nentries, 1);
	assert_int_equal(d->entries[0].counter, N);

	/* A context read after the 5th write replaces the first 5 only. */
	x = dvv_dup(d);
	put(x, &mid, A, "r");
	assert_int_equal(dvv_value_count(x), N - READ_AFTER + 1);
	assert_string_equal(siblings(x), "r v06 v07 v08 v09 v10 v11 v12");
	dvv_free(x);

	all = read_ctx(d);
	put(d, &all, B, "merged");
	assert_string_equal(siblings(d), "merged");
	assert_string_equal(text(d), "10:12[] 20:1[merged]");

	dvv_vv_deinit(&mid);
	dvv_vv_deinit(&all);
	dvv_free(d);
}

/* The read -> modify -> write cycle across replicas: what the client read
 * goes, what others wrote after the read stays. */
static void test_context_supersedes_exactly_what_was_read(void **state)
{
	struct dvv *x = empty(), *y = empty(), *z = empty(), *m = NULL;
	struct dvv_vv ctx;

	(void)state;
	put(x, NULL, A, "v1");
	put(y, NULL, B, "w1");
	sync_into(x, y); /* x: v1 w1 */
	sync_into(z, x);
	ctx = read_ctx(x);

	put(y, NULL, B, "w2");     /* after the read, blind */
	put(z, &ctx, C, "late");   /* after the read, same context */
	put(x, &ctx, A, "merged"); /* the client's write */
	assert_string_equal(siblings(x), "merged");

	m = synced(x, y);
	sync_into(m, z);
	assert_string_equal(siblings(m), "late merged w2");
	sync_into(y, z);
	sync_into(y, x);
	assert_true(dvv_equal(m, y));

	dvv_vv_deinit(&ctx);
	dvv_free(m);
	dvv_free(x);
	dvv_free(y);
	dvv_free(z);
}

/* A context read from a replica that is ahead still counts: the stale
 * coordinator adopts its counters and never mints a dot the context has
 * already covered. */
static void test_context_from_a_replica_ahead(void **state)
{
	struct dvv *stale = obj("10:2[v2]");
	struct dvv_vv ctx = {0};
	struct dvv_vv_entry e[2] = {{A, 7}, {B, 3}};

	(void)state;
	ctx.n = 2;
	ctx.e = e;
	put(stale, &ctx, A, "v8");
	assert_string_equal(text(stale), "10:8[v8] 20:3[]");
	dvv_free(stale);
}

static void test_tombstone_hides_what_it_saw(void **state)
{
	struct dvv *x = empty(), *y = NULL, *m = NULL;
	struct dvv_vv ctx, after;

	(void)state;
	put(x, NULL, A, "v1");
	put(x, NULL, A, "v2");
	y = dvv_dup(x);
	ctx = read_ctx(x);

	put(x, &ctx, A, "!gone"); /* delete what was read */
	assert_string_equal(siblings(x), "!gone");
	put(y, &ctx, B, "w"); /* a concurrent write with the same context */

	m = synced(x, y);
	assert_string_equal(siblings(m), "!gone w");
	after = read_ctx(m); /* reading both and writing resolves */
	put(m, &after, A, "final");
	assert_string_equal(siblings(m), "final");

	dvv_vv_deinit(&ctx);
	dvv_vv_deinit(&after);
	dvv_free(m);
	dvv_free(x);
	dvv_free(y);
}

static void test_less_and_join(void **state)
{
	static const struct {
		const char *a, *b;
		bool a_less_b, b_less_a;
	} cases[] = {
	    {"", "", false, false},
	    {"", "10:1[v]", true, false},
	    {"10:1[v]", "10:2[w]", true, false},
	    {"10:1[v]", "20:1[w]", false, false},
	    {"10:1[] 20:1[w]", "10:1[v]", false, true},
	    {"10:2[v]", "10:2[w]", false, false}, /* values do not count */
	    {"10:2[v] 30:1[]", "10:1[] 20:4[w]", false, false},
	    {"10:0[]", "", false, false}, /* a zero counter is no dot */
	    {"10:0[] 20:1[]", "20:2[]", true, false},
	};
	struct dvv *d = obj("10:3[v3] 20:1[] 4294967296:2[x,y]");
	struct dvv_vv vv;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dvv *a = obj(cases[i].a), *b = obj(cases[i].b);
		assert_int_equal(dvv_less(a, b), cases[i].a_less_b);
		assert_int_equal(dvv_less(b, a), cases[i].b_less_a);
		dvv_free(a);
		dvv_free(b);
	}

	vv = read_ctx(d);
	assert_int_equal(vv.n, 3);
	assert_int_equal(vv.e[0].id, 10);
	assert_int_equal(vv.e[0].counter, 3);
	assert_int_equal(vv.e[1].id, 20);
	assert_int_equal(vv.e[1].counter, 1);
	assert_int_equal(vv.e[2].id, UINT64_C(4294967296));
	assert_int_equal(vv.e[2].counter, 2);
	dvv_vv_deinit(&vv);
	assert_int_equal(vv.n, 0);
	dvv_vv_deinit(NULL);
	dvv_free(d);
}

/* Siblings are listed anonymous first, then by actor, newest first. */
static void test_value_order(void **state)
{
	struct dvv *d = obj("10:2[b,a] 20:1[c] ~[z]");
	const char *want[] = {"z", "b", "a", "c"};

	(void)state;
	check(d);
	assert_int_equal(dvv_value_count(d), 4);
	for (size_t i = 0; i < 4; i++) {
		const struct dvv_value *v = dvv_value_at(d, i);
		assert_int_equal(v->len, 1);
		assert_memory_equal(v->data, want[i], 1);
	}
	dvv_free(d);
}

static void test_validate_rejects_broken_objects(void **state)
{
	static const char *broken[] = {
	    "20:1[x] 10:1[y]", /* ids decreasing */
	    "10:1[x] 10:2[y]", /* ids repeated */
	    "10:1[x,y]",       /* more values than dots */
	    "10:0[x]",
	};
	struct dvv *d = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		d = obj(broken[i]);
		assert_int_equal(dvv_validate(d), RKV_ECORRUPT);
		dvv_free(d);
	}
	assert_int_equal(dvv_validate(NULL), RKV_ECORRUPT);

	d = obj("10:1[x] ~[y]"); /* content type missing, or too long */
	free(d->anon[0].content_type);
	d->anon[0].content_type = NULL;
	assert_int_equal(dvv_validate(d), RKV_ECORRUPT);
	d->anon[0].content_type = calloc(DVV_MAX_CONTENT_TYPE + 2, 1);
	assert_non_null(d->anon[0].content_type);
	memset(d->anon[0].content_type, 'x', DVV_MAX_CONTENT_TYPE + 1);
	assert_int_equal(dvv_validate(d), RKV_ECORRUPT);
	d->anon[0].content_type[DVV_MAX_CONTENT_TYPE] = '\0';
	check(d);
	free(d->entries[0].values[0].data); /* bytes promised, none there */
	d->entries[0].values[0].data = NULL;
	assert_int_equal(dvv_validate(d), RKV_ECORRUPT);
	dvv_free(d);

	d = obj(""); /* too many entries */
	free(d->entries);
	d->entries = calloc(DVV_MAX_ENTRIES + 1, sizeof(*d->entries));
	assert_non_null(d->entries);
	for (size_t i = 0; i <= DVV_MAX_ENTRIES; i++)
		d->entries[i].id = i + 1;
	d->nentries = DVV_MAX_ENTRIES;
	check(d);
	d->nentries = DVV_MAX_ENTRIES + 1;
	assert_int_equal(dvv_validate(d), RKV_ECORRUPT);
	dvv_free(d);
}

/* DVV_MAX_VALUES counts the whole object: entries and anonymous values. */
static void test_validate_limits_values(void **state)
{
	struct dvv *d = empty();
	char name[16];

	(void)state;
	for (int i = 0; i < DVV_MAX_VALUES - 1; i++) {
		snprintf(name, sizeof(name), "v%d", i);
		put(d, NULL, A, name);
	}
	d->anon = calloc(2, sizeof(*d->anon));
	assert_non_null(d->anon);
	value_make(&d->anon[0], "p", 1);
	value_make(&d->anon[1], "q", 1);
	d->nanon = 1;
	check(d); /* exactly at the limit */
	d->nanon = 2;
	assert_int_equal(dvv_validate(d), RKV_ECORRUPT);
	dvv_free(d);
}

static void test_context_validation(void **state)
{
	struct dvv_vv_entry e[3] = {{A, 1}, {B, 1}, {C, 1}};
	struct dvv_vv vv = {3, e};
	struct dvv_vv_entry *many = NULL;
	struct dvv *d = obj("10:1[v1] 20:1[w1]"), *before = dvv_dup(d);
	struct dvv_value v;

	(void)state;
	value_make(&v, "new", 3);
	assert_int_equal(dvv_vv_validate(&vv), 0);
	e[1].id = A; /* repeated id */
	assert_int_equal(dvv_vv_validate(&vv), RKV_ECONTEXT);
	assert_int_equal(dvv_update(d, &vv, A, &v), RKV_ECONTEXT);
	assert_true(dvv_equal(d, before));
	e[1].id = 5; /* decreasing */
	assert_int_equal(dvv_vv_validate(&vv), RKV_ECONTEXT);
	assert_int_equal(dvv_vv_validate(NULL), RKV_ECONTEXT);

	many = calloc(DVV_MAX_ENTRIES + 1, sizeof(*many));
	assert_non_null(many);
	for (size_t i = 0; i <= DVV_MAX_ENTRIES; i++)
		many[i] = (struct dvv_vv_entry){i + 1, 1};
	vv = (struct dvv_vv){DVV_MAX_ENTRIES, many};
	assert_int_equal(dvv_vv_validate(&vv), 0);
	vv.n++;
	assert_int_equal(dvv_vv_validate(&vv), RKV_ECONTEXT);
	assert_int_equal(dvv_update(d, &vv, A, &v), RKV_ECONTEXT);
	assert_true(dvv_equal(d, before));
	free(many);

	/* A context claiming the coordinator's last possible dot leaves no
	 * new one to mint; the same claim about another actor is harmless. */
	e[0] = (struct dvv_vv_entry){A, UINT64_MAX};
	vv = (struct dvv_vv){1, e};
	assert_int_equal(dvv_update(d, &vv, A, &v), RKV_ECONTEXT);
	assert_true(dvv_equal(d, before));
	assert_int_equal(dvv_update(d, &vv, B, &v), 0);
	check(d);
	assert_string_equal(text(d), "10:18446744073709551615[] 20:2[new,w1]");

	/* Zero counters cover nothing and leave no entry behind. */
	e[0] = (struct dvv_vv_entry){5, 0};
	vv = (struct dvv_vv){1, e};
	assert_int_equal(dvv_update(before, &vv, C, &v), 0);
	check(before);
	assert_string_equal(text(before), "10:1[v1] 20:1[w1] 30:1[new]");

	dvv_value_deinit(&v);
	dvv_free(d);
	dvv_free(before);
}

/* Anonymous values follow dvvset: kept from the dominating clock, united
 * (as a set) when neither dominates, dropped by an update only when its
 * context strictly dominates. */
static void test_anonymous_values(void **state)
{
	struct dvv *x = obj("10:1[v1] ~[q,p]"), *y = obj("20:1[w1] ~[r,p]");
	struct dvv *old = obj("10:1[v1] ~[s]"), *m = NULL, *n = NULL;
	struct dvv_vv ctx;

	(void)state;
	check(x);
	m = synced(x, y); /* concurrent: union, sorted, no duplicate */
	assert_string_equal(text(m), "10:1[v1] 20:1[w1] ~[p,q,r]");
	n = synced(y, x);
	assert_true(dvv_equal(m, n));
	assert_string_equal(text(n), "10:1[v1] 20:1[w1] ~[p,q,r]");
	dvv_free(n);

	n = synced(old, m); /* m dominates old: m's set alone */
	assert_string_equal(text(n), "10:1[v1] 20:1[w1] ~[p,q,r]");
	dvv_free(n);
	n = obj("10:1[v1] 20:1[w1] ~[r,q,p]"); /* equal up to anon order */
	assert_true(dvv_equal(m, n));
	assert_true(dvv_equal(n, m));
	dvv_free(n);
	n = obj("10:1[v1] 20:1[w1] ~[r,q,q]");
	assert_false(dvv_equal(m, n));
	assert_false(dvv_equal(n, m));
	dvv_free(n);

	ctx = read_ctx(m); /* a context equal to the clock keeps them */
	n = dvv_dup(m);
	put(n, &ctx, A, "v2");
	assert_string_equal(text(n), "10:2[v2] 20:1[] ~[p,q,r]");
	dvv_free(n);
	n = dvv_dup(m); /* one that strictly dominates drops them */
	put(n, NULL, B, "w2");
	dvv_vv_deinit(&ctx);
	ctx = read_ctx(n);
	put(m, &ctx, A, "v2");
	assert_string_equal(text(m), "10:2[v2] 20:2[]");
	dvv_free(n);

	n = obj("10:1[v1] ~[p,p]"); /* a duplicate goes at the next sync */
	sync_into(n, n);
	assert_string_equal(text(n), "10:1[v1] ~[p]");

	dvv_vv_deinit(&ctx);
	dvv_free(n);
	dvv_free(m);
	dvv_free(x);
	dvv_free(y);
	dvv_free(old);
}

static void test_sync_with_itself(void **state)
{
	struct dvv *d = obj("10:3[v3,v2] 20:1[] ~[p]"), *copy = dvv_dup(d);

	(void)state;
	sync_into(d, d);
	assert_true(dvv_equal(d, copy));
	assert_string_equal(text(d), "10:3[v3,v2] 20:1[] ~[p]");
	dvv_free(d);
	dvv_free(copy);
}

/* --- out of memory -------------------------------------------------------- */

enum oom_op { OOM_UPDATE, OOM_SYNC, OOM_DUP, OOM_JOIN, OOM_COPY };

static int oom_run(enum oom_op op, long budget, struct dvv *d,
                   const struct dvv *other, const struct dvv_vv *ctx)
{
	struct dvv_value v;
	struct dvv_value copy;
	struct dvv_vv vv;
	struct dvv *dup = NULL;
	int rc = 0;

	value_make(&v, "new", 3);
	alloc_budget = budget;
	switch (op) {
	case OOM_UPDATE: rc = dvv_update(d, ctx, B, &v); break;
	case OOM_SYNC: rc = dvv_sync(d, other); break;
	case OOM_DUP:
		dup = dvv_dup(d);
		rc = dup != NULL ? 0 : RKV_ENOMEM;
		break;
	case OOM_JOIN:
		rc = dvv_join(d, &vv);
		if (rc == 0)
			dvv_vv_deinit(&vv);
		else
			assert_int_equal(vv.n, 0);
		break;
	case OOM_COPY:
		rc = dvv_value_copy(&copy, &v);
		if (rc != 0)
			assert_null(copy.data);
		dvv_value_deinit(&copy);
		break;
	}
	alloc_budget = -1;
	dvv_free(dup);
	dvv_value_deinit(&v);
	return rc;
}

/* Fail the 1st, 2nd, ... allocation of each operation in turn until it
 * succeeds: every failure must answer RKV_ENOMEM with the target exactly
 * as it was, and the final success must give the normal result. */
static void test_out_of_memory_leaves_object_unchanged(void **state)
{
	struct dvv *before = obj("10:3[v3,v2] 20:1[w1] 30:2[] ~[q,p]");
	struct dvv *other = obj("10:4[v4,v3] 20:1[w1] 25:1[x] ~[p,r]");
	struct dvv_vv_entry ce[2] = {{10, 3}, {30, 2}};
	struct dvv_vv ctx = {2, ce};
	struct dvv *want[5] = {NULL};
	char snapshot[TEXT_MAX], result[TEXT_MAX];

	(void)state;
	snprintf(snapshot, sizeof(snapshot), "%s", text(before));
	for (int op = OOM_UPDATE; op <= OOM_COPY; op++) {
		int rc = RKV_ENOMEM;
		want[op] = dvv_dup(before);
		assert_int_equal(oom_run(op, -1, want[op], other, &ctx), 0);
		snprintf(result, sizeof(result), "%s", text(want[op]));
		for (long k = 0; rc != 0; k++) {
			struct dvv *d = dvv_dup(before);
			rc = oom_run(op, k, d, other, &ctx);
			if (rc != 0)
				assert_int_equal(rc, RKV_ENOMEM);
			assert_string_equal(text(d),
			                    rc != 0 ? snapshot : result);
			check(d);
			dvv_free(d);
			assert_true(k < 100);
		}
	}
	for (int op = OOM_UPDATE; op <= OOM_COPY; op++)
		dvv_free(want[op]);
	dvv_free(before);
	dvv_free(other);
}

/* --- random histories against an oracle ----------------------------------- */

#define SIM_HISTORIES 400
#define SIM_STEPS     150
#define SIM_REPLICAS  4
#define SIM_WRITES    128 /* per history: the oracle's sets are bitsets */
#define SIM_CONTEXTS  8   /* contexts clients hold on to (stale ones) */
#define SIM_SNAPSHOTS 16  /* states kept for the algebraic checks */
#define SIM_TRIALS    64  /* triples of states checked per history */

/* A set of writes (by write number): a causal history. */
struct hist {
	uint64_t w[SIM_WRITES / 64];
};

static void hist_add(struct hist *h, size_t w)
{
	h->w[w / 64] |= UINT64_C(1) << (w % 64);
}

static bool hist_has(const struct hist *h, size_t w)
{
	return (h->w[w / 64] >> (w % 64)) & 1;
}

static void hist_union(struct hist *h, const struct hist *o)
{
	for (size_t i = 0; i < SIM_WRITES / 64; i++)
		h->w[i] |= o->w[i];
}

static bool hist_equal(const struct hist *a, const struct hist *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* a is a strict subset of b */
static bool hist_below(const struct hist *a, const struct hist *b)
{
	for (size_t i = 0; i < SIM_WRITES / 64; i++)
		if ((a->w[i] & ~b->w[i]) != 0)
			return false;
	return !hist_equal(a, b);
}

/* An object next to the writes it has seen. */
struct sim_state {
	struct dvv *d;
	struct hist h;
};

struct sim_write {
	struct hist seen; /* the history of the context it was written with */
	size_t replica;   /* coordinator */
	uint64_t counter; /* its dot: (actor of replica, counter) */
};

struct sim {
	struct rng rng;
	uint64_t actor[SIM_REPLICAS];
	struct sim_state rep[SIM_REPLICAS];
	struct sim_write writes[SIM_WRITES];
	size_t nwrites;
	struct dvv_vv ctx[SIM_CONTEXTS];
	struct hist ctx_h[SIM_CONTEXTS];
	size_t nctx;
	struct sim_state snap[SIM_SNAPSHOTS];
	size_t nsnap;
	size_t newer_synced; /* pairs where one snapshot was a newer version */
};

/* The siblings the oracle expects: writes in h that no write in h saw. */
static struct hist sim_live(const struct sim *s, const struct hist *h)
{
	struct hist dead = {{0}}, live = {{0}};

	for (size_t w = 0; w < s->nwrites; w++)
		if (hist_has(h, w))
			hist_union(&dead, &s->writes[w].seen);
	for (size_t w = 0; w < s->nwrites; w++)
		if (hist_has(h, w) && !hist_has(&dead, w))
			hist_add(&live, w);
	return live;
}

/* The object must show exactly the oracle's siblings, once each, and its
 * context must be the newest dot of every actor in the history. */
static void sim_check(const struct sim *s, const struct sim_state *st)
{
	struct hist want = sim_live(s, &st->h), got = {{0}};
	uint64_t top[SIM_REPLICAS] = {0};
	size_t n = dvv_value_count(st->d), k = 0;

	check(st->d);
	for (size_t i = 0; i < n; i++) {
		const struct dvv_value *v = dvv_value_at(st->d, i);
		size_t w = 0;
		assert_true(v->len == 4 && v->data[0] == 'w');
		for (size_t c = 1; c < 4; c++) /* "wNNN", not NUL-terminated */
			w = w * 10 + (size_t)(v->data[c] - '0');
		assert_true(w < s->nwrites && !hist_has(&got, w));
		hist_add(&got, w);
	}
	assert_true(hist_equal(&got, &want));
	for (size_t w = 0; w < s->nwrites; w++) {
		const struct sim_write *sw = &s->writes[w];
		if (hist_has(&st->h, w) && sw->counter > top[sw->replica])
			top[sw->replica] = sw->counter;
	}
	for (size_t i = 0; i < st->d->nentries; i++) {
		while (k < SIM_REPLICAS && s->actor[k] != st->d->entries[i].id)
			k++;
		assert_true(k < SIM_REPLICAS);
		assert_int_equal(st->d->entries[i].counter, top[k]);
		top[k] = 0;
	}
	for (k = 0; k < SIM_REPLICAS; k++)
		assert_int_equal(top[k], 0);
}

/* A random actor id not among the first n drawn. */
static uint64_t sim_actor_draw(struct sim *s, size_t n)
{
	for (;;) {
		uint64_t id = rng_below(&s->rng, 2) ? rng_next(&s->rng)
		                                    : rng_below(&s->rng, 8);
		size_t k = 0;
		while (k < n && s->actor[k] != id)
			k++;
		if (k == n)
			return id;
	}
}

static void sim_init(struct sim *s, uint64_t salt)
{
	memset(s, 0, sizeof(*s));
	seeded(&s->rng, salt);
	/* Random ids, sorted so entries follow replica order: sim_check
	 * walks them side by side. Small ones too, so ids collide in their
	 * low bits and high ones compare above 2^63. */
	for (size_t i = 0; i < SIM_REPLICAS; i++) {
		uint64_t id = sim_actor_draw(s, i);
		size_t j = i;
		while (j > 0 && s->actor[j - 1] > id) {
			s->actor[j] = s->actor[j - 1];
			j--;
		}
		s->actor[j] = id;
	}
	for (size_t i = 0; i < SIM_REPLICAS; i++) {
		s->rep[i].d = empty();
		assert_non_null(s->rep[i].d);
	}
}

static void sim_deinit(struct sim *s)
{
	for (size_t i = 0; i < SIM_REPLICAS; i++)
		dvv_free(s->rep[i].d);
	for (size_t i = 0; i < SIM_CONTEXTS; i++)
		dvv_vv_deinit(&s->ctx[i]);
	for (size_t i = 0; i < SIM_SNAPSHOTS; i++)
		dvv_free(s->snap[i].d);
}

/* A client write through replica r, with no context, the context of a
 * replica right now, or one read earlier. */
static void sim_write(struct sim *s, size_t r)
{
	struct sim_state *st = &s->rep[r];
	struct sim_write *sw = &s->writes[s->nwrites];
	struct dvv_vv fresh = {0};
	const struct dvv_vv *ctx = NULL;
	uint64_t how = rng_below(&s->rng, 4);
	char name[8];

	if (how == 1 || how == 2) {
		size_t from = how == 1 ? r : rng_below(&s->rng, SIM_REPLICAS);
		fresh = read_ctx(s->rep[from].d);
		sw->seen = s->rep[from].h;
		ctx = &fresh;
	} else if (how == 3 && s->nctx > 0) {
		size_t i = rng_below(&s->rng, s->nctx);
		sw->seen = s->ctx_h[i];
		ctx = &s->ctx[i];
	}
	snprintf(name, sizeof(name), "%sw%03zu",
	         rng_below(&s->rng, 8) == 0 ? "!" : "", s->nwrites);
	put(st->d, ctx, s->actor[r], name);
	sw->replica = r;
	for (size_t i = 0; i < st->d->nentries; i++)
		if (st->d->entries[i].id == s->actor[r])
			sw->counter = st->d->entries[i].counter;
	hist_union(&st->h, &sw->seen);
	hist_add(&st->h, s->nwrites++);
	dvv_vv_deinit(&fresh);
}

static void sim_keep_context(struct sim *s, size_t r)
{
	size_t i = s->nctx < SIM_CONTEXTS ? s->nctx++
	                                  : rng_below(&s->rng, SIM_CONTEXTS);

	dvv_vv_deinit(&s->ctx[i]);
	s->ctx[i] = read_ctx(s->rep[r].d);
	s->ctx_h[i] = s->rep[r].h;
}

static void sim_keep_state(struct sim *s, size_t r)
{
	size_t i = s->nsnap < SIM_SNAPSHOTS ? s->nsnap++
	                                    : rng_below(&s->rng, SIM_SNAPSHOTS);

	dvv_free(s->snap[i].d);
	s->snap[i].d = dvv_dup(s->rep[r].d);
	assert_non_null(s->snap[i].d);
	s->snap[i].h = s->rep[r].h;
}

static void sim_step(struct sim *s)
{
	size_t r = rng_below(&s->rng, SIM_REPLICAS);
	size_t o = rng_below(&s->rng, SIM_REPLICAS);
	uint64_t op = rng_below(&s->rng, 10);

	if (op < 4 && s->nwrites < SIM_WRITES) {
		sim_write(s, r);
	} else if (op < 8) {
		sync_into(s->rep[r].d, s->rep[o].d); /* replication, repair */
		hist_union(&s->rep[r].h, &s->rep[o].h);
	} else if (op == 8) {
		sim_keep_context(s, r);
	} else {
		sim_keep_state(s, r);
	}
	sim_check(s, &s->rep[r]);
}

/* sync is commutative, associative and idempotent, its result is what the
 * oracle expects, and less is strict inclusion of histories. */
static void sim_check_algebra(struct sim *s, const struct sim_state *a,
                              const struct sim_state *b,
                              const struct sim_state *c)
{
	struct sim_state ab = {synced(a->d, b->d), a->h};
	struct dvv *ba = synced(b->d, a->d), *aa = synced(a->d, a->d);
	struct dvv *ab_c = synced(ab.d, c->d), *bc = synced(b->d, c->d);
	struct dvv *a_bc = synced(a->d, bc);

	hist_union(&ab.h, &b->h);
	sim_check(s, &ab);
	assert_true(dvv_equal(ab.d, ba));
	assert_true(dvv_equal(ab_c, a_bc));
	assert_true(dvv_equal(aa, a->d));
	sync_into(ba, b->d);
	assert_true(dvv_equal(ab.d, ba)); /* syncing again changes nothing */
	assert_int_equal(dvv_less(a->d, b->d), hist_below(&a->h, &b->h));
	/* What the store relies on to take a replicated object as it came
	 * (store_merge_take): syncing a newer version into an older one
	 * gives the newer one. */
	if (dvv_less(a->d, b->d)) {
		assert_true(dvv_equal(ab.d, b->d));
		s->newer_synced++;
	}
	assert_int_equal(dvv_less(a->d, ab.d), hist_below(&a->h, &ab.h));
	dvv_free(ab.d);
	dvv_free(ba);
	dvv_free(aa);
	dvv_free(ab_c);
	dvv_free(bc);
	dvv_free(a_bc);
}

/* Anti-entropy at the end: every replica converges to the same object,
 * showing the oracle's siblings of all writes. */
static void sim_converge(struct sim *s)
{
	struct sim_state *first = &s->rep[0];

	for (size_t i = 1; i < SIM_REPLICAS; i++) {
		sync_into(first->d, s->rep[i].d);
		hist_union(&first->h, &s->rep[i].h);
	}
	sim_check(s, first);
	for (size_t i = 1; i < SIM_REPLICAS; i++) {
		sync_into(s->rep[i].d, first->d);
		assert_true(dvv_equal(s->rep[i].d, first->d));
	}
}

static void test_random_histories(void **state)
{
	static struct sim s; /* large: keep it off the stack */
	size_t newer_synced = 0;

	(void)state;
	for (uint64_t hno = 0; hno < SIM_HISTORIES; hno++) {
		sim_init(&s, 100 + hno);
		for (int step = 0; step < SIM_STEPS; step++)
			sim_step(&s);
		for (size_t r = 0; r < SIM_REPLICAS; r++)
			sim_keep_state(&s, r);
		for (int t = 0; t < SIM_TRIALS; t++) {
			const struct sim_state *a =
			    &s.snap[rng_below(&s.rng, s.nsnap)];
			const struct sim_state *b =
			    &s.snap[rng_below(&s.rng, s.nsnap)];
			const struct sim_state *c =
			    &s.snap[rng_below(&s.rng, s.nsnap)];
			sim_check_algebra(&s, a, b, c);
		}
		sim_converge(&s);
		newer_synced += s.newer_synced;
		sim_deinit(&s);
	}
	assert_true(newer_synced > 0);
}

int main(void)
{
	test_seed = test_seed_init("test_dvv");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_new_is_empty),
	    cmocka_unit_test(test_update_known_answers),
	    cmocka_unit_test(test_sync_known_answers),
	    cmocka_unit_test(test_blind_writes_are_siblings),
	    cmocka_unit_test(test_same_stale_context_makes_siblings),
	    cmocka_unit_test(test_blind_writes_through_one_node),
	    cmocka_unit_test(test_context_supersedes_exactly_what_was_read),
	    cmocka_unit_test(test_context_from_a_replica_ahead),
	    cmocka_unit_test(test_tombstone_hides_what_it_saw),
	    cmocka_unit_test(test_less_and_join),
	    cmocka_unit_test(test_value_order),
	    cmocka_unit_test(test_validate_rejects_broken_objects),
	    cmocka_unit_test(test_validate_limits_values),
	    cmocka_unit_test(test_context_validation),
	    cmocka_unit_test(test_anonymous_values),
	    cmocka_unit_test(test_sync_with_itself),
	    cmocka_unit_test(test_out_of_memory_leaves_object_unchanged),
	    cmocka_unit_test(test_random_histories),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
