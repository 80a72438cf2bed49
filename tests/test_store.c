/* test_store.c -- LMDB storage, group commit, locking, checksums, node
 * metadata, partition scans and long keys.
 *
 * Each test gets a fresh directory from mkdtemp under $TMPDIR (or /tmp)
 * and removes it afterwards, and an event base with RKV_EV_PRIORITIES
 * priorities that the tests turn by hand (EVLOOP_ONCE) until the expected
 * callbacks have run, with a bound on the time without one instead of
 * any sleep.
 *
 * Corruption is made the way a disk makes it: with the store closed, the
 * test opens the same LMDB environment with plain mdb_* calls and rewrites
 * one stored value with a byte flipped, then reopens the store. The raw
 * helpers compute LMDB keys themselves (partition ++ slot, with XXH3-128
 * for long keys), which pins the layout store.h documents.
 *
 * Built twice (Makefile.am): test_store's stores run sync = batch, where
 * every group goes through the writer thread; test_store_periodic's
 * (RKV_TEST_PERIODIC) run sync = periodic, where the loop applies most
 * groups itself. Tests of one path alone say so and skip the other.
 */
#include "clock.h"
#include "codec.h"
#include "commitlog.h"
#include "dvv.h"
#include "logging.h"
#include "status.h"
#include "store.h"
#include "tests/tmpdir.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include <cmocka.h>

/* The argument that makes this program the second opener of a store. */
#define OPEN_ELSEWHERE "--open-elsewhere"

/* How long queued mutations may go without a callback before a test
 * fails: a full queue is one long group when the writer takes it, and a
 * writer at its lower priority (sync = periodic) on a machine busy with
 * other tests and the sanitizers takes seconds over it. */
#define STALL_MS 60000
/* The loop turns at least this often while a test waits (run_until_done),
 * so that a callback that never comes fails the test instead of hanging
 * it. */
#define TICK_MS 10

struct fixture {
	char dir[4096];
	struct event_base *base;
	struct codec *codec;
	struct store *store;
};

/* What one mutation's callback saw. */
struct done {
	int calls;
	int status;
	int order;       /* position among all completions of the test */
	struct dvv *obj; /* copy of the committed object */
};

static int completions;

static void on_done(int status, const struct dvv *obj, void *arg)
{
	struct done *d = arg;

	d->calls++;
	d->status = status;
	d->order = completions++;
	if (status == 0) {
		assert_non_null(obj);
		assert_int_equal(dvv_validate(obj), 0);
		d->obj = dvv_dup(obj);
	} else {
		assert_null(obj);
	}
}

static void done_clear(struct done *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dvv_free(d[i].obj);
	memset(d, 0, n * sizeof(*d));
}

static struct event_base *base_new(void)
{
	struct event_base *base = event_base_new();
	assert_non_null(base);
	assert_int_equal(event_base_priority_init(base, RKV_EV_PRIORITIES), 0);
	return base;
}

#ifdef RKV_TEST_PERIODIC
static const bool periodic = true;
#else
static const bool periodic = false;
#endif

static struct store_options options(struct fixture *f)
{
	struct store_options o = {
	    .dir = f->dir,
	    .sync_batch = !periodic,
	    .sync_interval_ms = periodic ? 5 : 0,
	    .map_size = 64u << 20,
	};
	return o;
}

static void store_reopen(struct fixture *f)
{
	struct store_options o = options(f);
	store_close(f->store);
	f->store = NULL;
	assert_int_equal(store_open(&f->store, f->base, f->codec, &o), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_options o;

	if (f == NULL ||
	    test_mkdtemp(f->dir, sizeof(f->dir), "rkv-store") == NULL)
		return -1;
	f->base = base_new();
	f->codec = codec_new();
	o = options(f);
	if (f->codec == NULL ||
	    store_open(&f->store, f->base, f->codec, &o) != 0)
		return -1;
	completions = 0;
	*state = f;
	return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag,
                        struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_tree(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->store);
	codec_free(f->codec);
	event_base_free(f->base);
	remove_tree(f->dir);
	free(f);
	return 0;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Turn the loop until the callbacks of d[0..n) have run. Many turns run
 * none (a timer, the writer's signal, the writer still on a long group),
 * so the bound is time without a new callback (STALL_MS), not turns. */
static void run_until_done(struct fixture *f, struct done *d, size_t n)
{
	const struct timeval every = ms_timeval(TICK_MS);
	struct event *ev = event_new(f->base, -1, EV_PERSIST, tick, NULL);
	uint64_t since = monotonic_ms();
	size_t seen = 0;

	assert_non_null(ev);
	assert_int_equal(event_add(ev, &every), 0);
	for (;;) {
		size_t fired = 0;
		for (size_t i = 0; i < n; i++)
			fired += d[i].calls > 0;
		if (fired == n)
			break;
		if (fired > seen) {
			seen = fired;
			since = monotonic_ms();
		} else if (monotonic_ms() - since > STALL_MS) {
			event_free(ev);
			fail_msg(
			    "%zu of %zu callbacks ran, then none for %d ms",
			    fired, n, STALL_MS);
		}
		event_base_loop(f->base, EVLOOP_ONCE);
	}
	event_free(ev);
}

/* Run the n mutations of a malloc'ed d to completion, each a success, and
 * free d. */
static void all_done_ok(struct fixture *f, struct done *d, size_t n)
{
	run_until_done(f, d, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(d[i].status, 0);
	done_clear(d, n);
	free(d);
}

static void value_set(struct dvv_value *v, const char *text)
{
	memset(v, 0, sizeof(*v));
	v->data = (uint8_t *)text;
	v->len = strlen(text);
	v->content_type = (char *)"text/plain";
	v->timestamp_ms = 1700000000000;
}

/* A blind write of `text` to a key of any bytes, run to completion. */
static void put_key(struct fixture *f, uint32_t part, const void *key,
                    size_t klen, const char *text)
{
	struct dvv_value v;
	struct done d = {0};

	value_set(&v, text);
	assert_int_equal(
	    store_update(f->store, part, key, klen, NULL, &v, on_done, &d), 0);
	run_until_done(f, &d, 1);
	assert_int_equal(d.status, 0);
	done_clear(&d, 1);
}

static void put(struct fixture *f, uint32_t part, const char *key,
                const char *text)
{
	put_key(f, part, key, strlen(key), text);
}

/* One object holding `text` as its only value. */
static void assert_obj_holds(const struct dvv *obj, const char *text)
{
	assert_int_equal(dvv_value_count(obj), 1);
	const struct dvv_value *v = dvv_value_at(obj, 0);
	assert_int_equal(v->len, strlen(text));
	assert_memory_equal(v->data, text, v->len);
	assert_string_equal(v->content_type, "text/plain");
}

static void assert_store_holds(struct store *s, uint32_t part, const void *key,
                               size_t klen, const char *text)
{
	struct dvv *obj = NULL;

	assert_int_equal(store_get(s, part, key, klen, &obj), 0);
	assert_obj_holds(obj, text);
	dvv_free(obj);
}

static void assert_holds_key(struct fixture *f, uint32_t part, const void *key,
                             size_t klen, const char *text)
{
	assert_store_holds(f->store, part, key, klen, text);
}

static void assert_holds(struct fixture *f, uint32_t part, const char *key,
                         const char *text)
{
	assert_holds_key(f, part, key, strlen(key), text);
}

/* --- raw LMDB access, with the store closed ------------------------------- */

struct raw {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
};

static void raw_open_db(struct fixture *f, struct raw *r, const char *db)
{
	assert_int_equal(mdb_env_create(&r->env), 0);
	assert_int_equal(mdb_env_set_maxdbs(r->env, 8), 0);
	assert_int_equal(mdb_env_set_mapsize(r->env, 64u << 20), 0);
	assert_int_equal(mdb_env_open(r->env, f->dir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
	assert_int_equal(mdb_dbi_open(r->txn, db, 0, &r->dbi), 0);
}

static void raw_open(struct fixture *f, struct raw *r)
{
	raw_open_db(f, r, "objects");
}

static void raw_close(struct raw *r)
{
	assert_int_equal(mdb_txn_commit(r->txn), 0);
	mdb_env_close(r->env);
}

/* The slot of a key as store.h defines it, written by hand: the key when
 * it fits, else its first STORE_KEY_HEAD bytes and its XXH3-128 in
 * canonical (big-endian) form. */
static size_t test_slot(const void *key, size_t klen, uint8_t *slot)
{
	XXH128_canonical_t sum;

	if (klen <= STORE_INLINE_KEY) {
		if (klen > 0)
			memcpy(slot, key, klen);
		return klen;
	}
	memcpy(slot, key, STORE_KEY_HEAD);
	XXH128_canonicalFromHash(&sum, XXH3_128bits(key, klen));
	memcpy(slot + STORE_KEY_HEAD, sum.digest, STORE_KEY_HASH);
	return STORE_INLINE_KEY;
}

/* buf has room for 4 + STORE_INLINE_KEY bytes. */
static MDB_val raw_key_bin(uint8_t *buf, uint32_t part, const void *key,
                           size_t klen)
{
	MDB_val k = {0, buf};

	buf[0] = (uint8_t)(part >> 24);
	buf[1] = (uint8_t)(part >> 16);
	buf[2] = (uint8_t)(part >> 8);
	buf[3] = (uint8_t)part;
	k.mv_size = 4 + test_slot(key, klen, buf + 4);
	return k;
}

/* Rewrite a stored value: flip the byte at `at` (negative: from the end),
 * or cut the value to `cut` bytes when cut > 0. */
static void raw_damage_key(struct fixture *f, uint32_t part, const void *key,
                           size_t klen, long at, size_t cut)
{
	struct raw r;
	uint8_t kbuf[4 + STORE_INLINE_KEY];
	MDB_val k = raw_key_bin(kbuf, part, key, klen);
	MDB_val v;
	uint8_t *copy = NULL;

	raw_open(f, &r);
	assert_int_equal(mdb_get(r.txn, r.dbi, &k, &v), 0);
	copy = malloc(v.mv_size);
	assert_non_null(copy);
	memcpy(copy, v.mv_data, v.mv_size);
	if (cut > 0) {
		v.mv_size = cut;
	} else {
		size_t i = at >= 0 ? (size_t)at : v.mv_size - (size_t)-at;
		copy[i] ^= 0x10;
	}
	v.mv_data = copy;
	assert_int_equal(mdb_put(r.txn, r.dbi, &k, &v, 0), 0);
	raw_close(&r);
	free(copy);
}

static void raw_damage(struct fixture *f, uint32_t part, const char *key,
                       long at, size_t cut)
{
	raw_damage_key(f, part, key, strlen(key), at, cut);
}

/* A copy of the stored value of a key (the caller frees it). */
static uint8_t *raw_value(struct fixture *f, uint32_t part, const void *key,
                          size_t klen, size_t *len)
{
	struct raw r;
	uint8_t kbuf[4 + STORE_INLINE_KEY];
	MDB_val k = raw_key_bin(kbuf, part, key, klen);
	MDB_val v;
	uint8_t *copy = NULL;

	raw_open(f, &r);
	assert_int_equal(mdb_get(r.txn, r.dbi, &k, &v), 0);
	copy = malloc(v.mv_size);
	assert_non_null(copy);
	memcpy(copy, v.mv_data, v.mv_size);
	*len = v.mv_size;
	mdb_txn_abort(r.txn);
	mdb_env_close(r.env);
	return copy;
}

/* --- tests ---------------------------------------------------------------- */

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct store_stats st;
	struct dvv_value v;
	struct done d = {0};
	struct dvv *obj = NULL;

	value_set(&v, "hello");
	assert_int_equal(
	    store_update(f->store, 5, "k", 1, NULL, &v, on_done, &d), 0);
	/* Never from inside store_update. */
	assert_int_equal(d.calls, 0);
	assert_int_equal(store_get(f->store, 5, "k", 1, &obj), RKV_ENOTFOUND);
	assert_null(obj);
	run_until_done(f, &d, 1);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.status, 0);
	/* The new dot is minted with this node's id. */
	assert_int_equal(d.obj->nentries, 1);
	assert_int_equal(d.obj->entries[0].id, store_node_id(f->store));
	assert_int_equal(store_get(f->store, 5, "k", 1, &obj), 0);
	assert_true(dvv_equal(obj, d.obj));
	dvv_free(obj);
	assert_holds(f, 5, "k", "hello");
	/* Another partition is another key. */
	assert_int_equal(store_get(f->store, 6, "k", 1, &obj), RKV_ENOTFOUND);
	store_get_stats(f->store, &st);
	assert_int_equal(st.keys, 1);
	assert_int_equal(st.commits, 1);
	assert_int_equal(st.mutations, 1);
	assert_true(st.disk_bytes > 0);
	done_clear(&d, 1);
}

static void test_update_with_context_supersedes(void **state)
{
	struct fixture *f = *state;
	struct dvv_value v;
	struct dvv_vv ctx = {0, NULL};
	struct done d[2] = {{0}};

	put(f, 1, "doc", "one");
	value_set(&v, "two");
	/* A blind write makes a sibling ... */
	assert_int_equal(
	    store_update(f->store, 1, "doc", 3, NULL, &v, on_done, &d[0]), 0);
	run_until_done(f, d, 1);
	assert_int_equal(dvv_value_count(d[0].obj), 2);
	/* ... and a write carrying the context that saw both replaces them. */
	assert_int_equal(dvv_join(d[0].obj, &ctx), 0);
	value_set(&v, "three");
	assert_int_equal(
	    store_update(f->store, 1, "doc", 3, &ctx, &v, on_done, &d[1]), 0);
	dvv_vv_deinit(&ctx);
	run_until_done(f, d, 2);
	assert_int_equal(d[1].status, 0);
	assert_holds(f, 1, "doc", "three");
	done_clear(d, 2);
}

static void test_data_survives_reopen(void **state)
{
	struct fixture *f = *state;
	uint64_t id = store_node_id(f->store);

	assert_true(id != 0);
	put(f, 0, "a", "alpha");
	put(f, 7, "b", "beta");
	store_reopen(f);
	assert_holds(f, 0, "a", "alpha");
	assert_holds(f, 7, "b", "beta");
	/* The actor id is the directory's, for good. */
	assert_int_equal(store_node_id(f->store), id);
}

static void test_new_dir_new_node_id(void **state)
{
	struct fixture *f = *state;
	struct fixture other = {0};
	struct store_options o;

	assert_non_null(
	    test_mkdtemp(other.dir, sizeof(other.dir), "rkv-store"));
	/* A directory that does not exist yet is created, parents too. */
	strcat(other.dir, "/sub/dir");
	o = options(&other);
	assert_int_equal(store_open(&other.store, f->base, f->codec, &o), 0);
	assert_true(store_node_id(other.store) != 0);
	assert_true(store_node_id(other.store) != store_node_id(f->store));
	store_close(other.store);
	*strstr(other.dir, "/sub/dir") = '\0';
	remove_tree(other.dir);
}

static void test_group_commit(void **state)
{
	struct fixture *f = *state;
	enum { N = 10 };
	struct done d[N] = {{0}};
	struct store_stats st;
	struct dvv_value v;
	char key[16];

	/* Eight keys, and two more writes to the first key: all in one
	 * turn, so all in one transaction. */
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "key-%d", i < 8 ? i : 0);
		value_set(&v, key);
		assert_int_equal(store_update(f->store, (uint32_t)i % 3, key,
		                              strlen(key), NULL, &v, on_done,
		                              &d[i]),
		                 0);
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(d[i].calls, 0);
	run_until_done(f, d, N);
	store_get_stats(f->store, &st);
	assert_int_equal(st.commits, 1);
	assert_int_equal(st.mutations, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(d[i].calls, 1);
		assert_int_equal(d[i].status, 0);
		assert_int_equal(d[i].order, i); /* queue order */
	}
	/* Later writes to one key in the batch saw the earlier ones: blind
	 * writes of the same actor are siblings. The 9th went to partition
	 * 2, the 10th to partition 0 where key-0 also lives. */
	assert_int_equal(dvv_value_count(d[0].obj), 1);
	assert_int_equal(dvv_value_count(d[9].obj), 2);
	assert_int_equal(dvv_value_count(d[8].obj), 1);
	store_get_stats(f->store, &st);
	assert_int_equal(st.keys, 9);
	done_clear(d, N);
}

/* A callback that writes again: its mutation is the next batch. */
static struct done chained;

static void on_done_chain(int status, const struct dvv *obj, void *arg)
{
	struct fixture *f = arg;
	struct dvv_value v;

	assert_int_equal(status, 0);
	assert_non_null(obj);
	value_set(&v, "second");
	assert_int_equal(
	    store_update(f->store, 0, "chain", 5, NULL, &v, on_done, &chained),
	    0);
	assert_int_equal(chained.calls, 0);
}

static void test_callback_may_write(void **state)
{
	struct fixture *f = *state;
	struct dvv_value v;
	struct store_stats st;

	memset(&chained, 0, sizeof(chained));
	value_set(&v, "first");
	assert_int_equal(
	    store_update(f->store, 0, "chain", 5, NULL, &v, on_done_chain, f),
	    0);
	run_until_done(f, &chained, 1);
	assert_int_equal(chained.status, 0);
	assert_int_equal(dvv_value_count(chained.obj), 2);
	store_get_stats(f->store, &st);
	assert_int_equal(st.commits, 2);
	done_clear(&chained, 1);
}

static void test_merge(void **state)
{
	struct fixture *f = *state;
	struct done d[3] = {{0}};
	struct dvv *obj = NULL;
	struct store_stats st;

	put(f, 3, "src", "payload");
	assert_int_equal(store_get(f->store, 3, "src", 3, &obj), 0);
	/* Replicating an object into an empty key stores it as it is ... */
	assert_int_equal(
	    store_merge(f->store, 4, "dst", 3, obj, on_done, &d[0]), 0);
	run_until_done(f, d, 1);
	assert_int_equal(d[0].status, 0);
	assert_true(dvv_equal(d[0].obj, obj));
	/* ... and syncing it again changes nothing (idempotent). */
	assert_int_equal(
	    store_merge(f->store, 4, "dst", 3, obj, on_done, &d[1]), 0);
	assert_int_equal(
	    store_merge(f->store, 3, "src", 3, obj, on_done, &d[2]), 0);
	run_until_done(f, d, 3);
	assert_int_equal(d[1].status, 0);
	assert_int_equal(d[2].status, 0);
	assert_true(dvv_equal(d[1].obj, obj));
	assert_true(dvv_equal(d[2].obj, obj));
	assert_holds(f, 4, "dst", "payload");
	store_get_stats(f->store, &st);
	assert_int_equal(st.keys, 2);
	assert_int_equal(st.mutations, 4);
	dvv_free(obj);
	done_clear(d, 3);
}

/* store_merge_take: the store takes the object. A newer version of what
 * is stored is stored as it came; a concurrent one is merged into
 * siblings; an invalid one is refused (and freed: ASan would see a
 * leak). */
static void test_merge_take(void **state)
{
	struct fixture *f = *state;
	struct done d[2] = {{0}};
	struct dvv *old = NULL, *newer = NULL, *other = NULL, *back = NULL;
	struct dvv_value v;
	struct dvv *bad = calloc(1, sizeof(*bad));

	put(f, 2, "k", "one");
	assert_int_equal(store_get(f->store, 2, "k", 1, &old), 0);
	/* newer: "two" written over "one" (with its context) elsewhere */
	newer = dvv_dup(old);
	assert_non_null(newer);
	value_set(&v, "two");
	{
		struct dvv_vv ctx = {0};
		assert_int_equal(dvv_join(old, &ctx), 0);
		assert_int_equal(dvv_update(newer, &ctx, 77, &v), 0);
		dvv_vv_deinit(&ctx);
	}
	assert_true(dvv_less(old, newer));
	back = dvv_dup(newer);
	assert_non_null(back);
	assert_int_equal(
	    store_merge_take(f->store, 2, "k", 1, newer, on_done, &d[0]), 0);
	run_until_done(f, d, 1);
	assert_int_equal(d[0].status, 0);
	assert_true(dvv_equal(d[0].obj, back));
	assert_holds(f, 2, "k", "two");

	/* other: a blind write elsewhere, concurrent with "two" */
	other = dvv_new();
	assert_non_null(other);
	value_set(&v, "three");
	assert_int_equal(dvv_update(other, NULL, 88, &v), 0);
	assert_int_equal(
	    store_merge_take(f->store, 2, "k", 1, other, on_done, &d[1]), 0);
	run_until_done(f, &d[1], 1);
	assert_int_equal(d[1].status, 0);
	assert_int_equal(dvv_value_count(d[1].obj), 2);

	/* An invalid object: actors out of order. */
	assert_non_null(bad);
	bad->entries = calloc(2, sizeof(*bad->entries));
	assert_non_null(bad->entries);
	bad->nentries = 2;
	bad->entries[0].id = 5;
	bad->entries[0].counter = 1;
	bad->entries[1].id = 3;
	bad->entries[1].counter = 1;
	assert_int_equal(
	    store_merge_take(f->store, 2, "k", 1, bad, on_done, &d[0]),
	    RKV_EINVAL);
	dvv_free(old);
	dvv_free(back);
	done_clear(d, 2);
}

static void test_second_open_is_locked(void **state)
{
	struct fixture *f = *state;
	struct store *again = NULL;
	struct store_options o = options(f);
	int status = 0;
	pid_t pid = 0;

	/* flock conflicts between two open file descriptions even in one
	 * process, so this covers a second opener in-process ... */
	assert_int_equal(store_open(&again, f->base, f->codec, &o),
	                 RKV_ELOCKED);
	assert_null(again);
	/* ... and another process: this program again (main), exec'ed, as a
	 * child forked from a process with a writer thread may only call
	 * async-signal-safe functions (an allocator lock held by that thread
	 * at the fork would never be released). */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/proc/self/exe", "test_store", OPEN_ELSEWHERE, f->dir,
		      (char *)NULL);
		_exit(2);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The store still works, and closing it releases the directory. */
	put(f, 0, "x", "still here");
	store_reopen(f);
	assert_holds(f, 0, "x", "still here");
}

static void test_corrupt_record(void **state)
{
	struct fixture *f = *state;
	struct done d[3] = {{0}};
	struct dvv *obj = NULL;
	struct dvv_value v;
	struct store_stats st;
	/* Flip in the Avro bytes, in the checksum, in the format byte; cut
	 * the record short. */
	const long flips[] = {5, -1, -8, 0};

	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]) + 1; i++) {
		put(f, 2, "bad", "to be damaged");
		put(f, 2, "good", "fine");
		store_close(f->store);
		f->store = NULL;
		if (i < sizeof(flips) / sizeof(flips[0]))
			raw_damage(f, 2, "bad", flips[i], 0);
		else
			raw_damage(f, 2, "bad", 0, 6);
		store_reopen(f);

		assert_int_equal(store_get(f->store, 2, "bad", 3, &obj),
		                 RKV_ECORRUPT);
		assert_null(obj);
		assert_holds(f, 2, "good", "fine");
		store_get_stats(f->store, &st);
		/* One batch: the damaged key fails alone, the others commit. */
		value_set(&v, "new");
		assert_int_equal(store_update(f->store, 2, "good", 4, NULL, &v,
		                              on_done, &d[0]),
		                 0);
		assert_int_equal(store_update(f->store, 2, "bad", 3, NULL, &v,
		                              on_done, &d[1]),
		                 0);
		assert_int_equal(store_update(f->store, 2, "other", 5, NULL, &v,
		                              on_done, &d[2]),
		                 0);
		run_until_done(f, d, 3);
		assert_int_equal(d[0].status, 0);
		assert_int_equal(d[1].status, RKV_ECORRUPT);
		assert_int_equal(d[2].status, 0);
		assert_int_equal(dvv_value_count(d[0].obj), 2);
		store_get_stats(f->store, &st);
		assert_int_equal(st.commits, 1);
		assert_int_equal(st.mutations, 2);
		/* Nothing was written over the damaged record. */
		assert_int_equal(store_get(f->store, 2, "bad", 3, &obj),
		                 RKV_ECORRUPT);
		done_clear(d, 3);
		/* Repair by hand for the next round: a fresh directory. */
		store_close(f->store);
		f->store = NULL;
		remove_tree(f->dir);
		store_reopen(f);
	}
}

static void test_key_limits(void **state)
{
	struct fixture *f = *state;
	char *key = malloc(STORE_MAX_KEY + 1);
	struct dvv_value v;
	struct done d = {0};
	struct dvv *obj = NULL;

	assert_non_null(key);
	memset(key, 'k', STORE_MAX_KEY + 1);
	value_set(&v, "long key");
	assert_int_equal(store_update(f->store, 1, key, STORE_MAX_KEY + 1, NULL,
	                              &v, on_done, &d),
	                 RKV_ETOOBIG);
	obj = dvv_new();
	assert_non_null(obj);
	assert_int_equal(
	    store_merge(f->store, 1, key, STORE_MAX_KEY + 1, obj, on_done, &d),
	    RKV_ETOOBIG);
	dvv_free(obj);
	obj = NULL;
	assert_int_equal(store_get(f->store, 1, key, STORE_MAX_KEY + 1, &obj),
	                 RKV_ENOTFOUND);
	/* The longest allowed key, and the longest one stored inline. */
	put_key(f, UINT32_MAX, key, STORE_MAX_KEY, "longest key");
	assert_holds_key(f, UINT32_MAX, key, STORE_MAX_KEY, "longest key");
	put_key(f, UINT32_MAX, key, STORE_INLINE_KEY, "longest inline");
	assert_holds_key(f, UINT32_MAX, key, STORE_INLINE_KEY,
	                 "longest inline");
	assert_holds_key(f, UINT32_MAX, key, STORE_MAX_KEY, "longest key");
	/* An empty key is a key too. */
	put(f, 0, "", "empty key");
	assert_holds(f, 0, "", "empty key");
	/* No callback ran for the refused mutations. */
	assert_int_equal(d.calls, 0);
	free(key);
}

/* Contexts and objects that break the DVV invariants are refused before
 * they are queued. */
static void test_invalid_input_refused(void **state)
{
	struct fixture *f = *state;
	struct dvv_vv_entry e[2] = {{.id = 2, .counter = 1},
	                            {.id = 1, .counter = 1}};
	struct dvv_vv bad_ctx = {2, e};
	struct dvv bad_obj = {.nentries = 1, .entries = NULL};
	struct dvv_value v;
	struct done d = {0};

	value_set(&v, "x");
	assert_int_equal(
	    store_update(f->store, 1, "k", 1, &bad_ctx, &v, on_done, &d),
	    RKV_EINVAL);
	assert_int_equal(
	    store_merge(f->store, 1, "k", 1, &bad_obj, on_done, &d),
	    RKV_EINVAL);
	assert_int_equal(
	    store_update(f->store, 1, NULL, 1, NULL, &v, on_done, &d),
	    RKV_EINVAL);
	assert_int_equal(d.calls, 0);
}

static void test_queue_is_bounded(void **state)
{
	struct fixture *f = *state;
	struct done *d = calloc(STORE_MAX_PENDING, sizeof(*d));
	struct done extra = {0};
	struct dvv_value v;
	struct store_stats st;
	char key[16];

	assert_non_null(d);
	value_set(&v, "x");
	for (int i = 0; i < STORE_MAX_PENDING; i++) {
		snprintf(key, sizeof(key), "%08d", i);
		assert_int_equal(store_update(f->store, 0, key, strlen(key),
		                              NULL, &v, on_done, &d[i]),
		                 0);
	}
	assert_int_equal(
	    store_update(f->store, 0, "over", 4, NULL, &v, on_done, &extra),
	    RKV_EUNAVAIL);
	run_until_done(f, d, STORE_MAX_PENDING);
	assert_int_equal(extra.calls, 0);
	store_get_stats(f->store, &st);
	/* Under periodic the loop applies groups of STORE_LOOP_GROUP
	 * until the map's room for what is not checkpointed runs out for
	 * its count (store.c, store_log_fits), the writer the rest. */
	if (periodic)
		assert_in_range(st.commits, 2,
		                STORE_MAX_PENDING / STORE_LOOP_GROUP);
	else
		assert_int_equal(st.commits, 1);
	assert_int_equal(st.keys, STORE_MAX_PENDING);
	done_clear(d, STORE_MAX_PENDING);
	free(d);
}

/* store_close commits what is queued; writes the last callbacks try are
 * refused. */
/* Blind writes pile up siblings; past DVV_MAX_VALUES the store refuses
 * with RKV_ESIBLINGS (409 over HTTP) and keeps what it had, and a write
 * with the object's context collapses them again. */
static void test_too_many_siblings(void **state)
{
	struct fixture *f = *state;
	struct dvv_value v;
	struct done d[DVV_MAX_VALUES + 1];
	struct dvv *obj = NULL;
	struct dvv_vv ctx = {0};

	memset(d, 0, sizeof(d));
	value_set(&v, "sibling");
	/* One group commit: every blind write is concurrent with the rest. */
	for (size_t i = 0; i <= DVV_MAX_VALUES; i++)
		assert_int_equal(store_update(f->store, 3, "hot", 3, NULL, &v,
		                              on_done, &d[i]),
		                 0);
	run_until_done(f, d, DVV_MAX_VALUES + 1);
	for (size_t i = 0; i < DVV_MAX_VALUES; i++)
		assert_int_equal(d[i].status, 0);
	assert_int_equal(d[DVV_MAX_VALUES].status, RKV_ESIBLINGS);
	assert_int_equal(rkv_status_http(RKV_ESIBLINGS), 409);
	done_clear(d, DVV_MAX_VALUES + 1);

	assert_int_equal(store_get(f->store, 3, "hot", 3, &obj), 0);
	assert_int_equal(dvv_value_count(obj), DVV_MAX_VALUES);
	assert_int_equal(dvv_join(obj, &ctx), 0);
	dvv_free(obj);
	value_set(&v, "resolved");
	assert_int_equal(
	    store_update(f->store, 3, "hot", 3, &ctx, &v, on_done, &d[0]), 0);
	run_until_done(f, d, 1);
	assert_int_equal(d[0].status, 0);
	assert_int_equal(dvv_value_count(d[0].obj), 1);
	done_clear(d, 1);
	dvv_vv_deinit(&ctx);
}

static int shutdown_status;

static void on_done_during_close(int status, const struct dvv *obj, void *arg)
{
	struct store *s = arg;
	struct dvv_value v;

	(void)obj;
	assert_int_equal(status, 0);
	value_set(&v, "late");
	shutdown_status =
	    store_update(s, 0, "late", 4, NULL, &v, on_done, NULL);
}

static void test_close_flushes(void **state)
{
	struct fixture *f = *state;
	struct done d = {0};
	struct dvv_value v;

	value_set(&v, "queued");
	assert_int_equal(
	    store_update(f->store, 9, "q", 1, NULL, &v, on_done, &d), 0);
	assert_int_equal(store_update(f->store, 9, "r", 1, NULL, &v,
	                              on_done_during_close, f->store),
	                 0);
	store_close(f->store);
	f->store = NULL;
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.status, 0);
	assert_int_equal(shutdown_status, RKV_ESHUTDOWN);
	store_reopen(f);
	assert_holds(f, 9, "q", "queued");
	assert_holds(f, 9, "r", "queued");
	done_clear(&d, 1);
}

static void test_periodic_sync(void **state)
{
	struct fixture *f = *state;
	struct store_options o = options(f);
	struct done d = {0};
	struct dvv_value v;
	struct timespec start, now;

	store_close(f->store);
	f->store = NULL;
	o.sync_batch = false;
	o.sync_interval_ms = 5;
	assert_int_equal(store_open(&f->store, f->base, f->codec, &o), 0);
	value_set(&v, "lazy");
	assert_int_equal(
	    store_update(f->store, 1, "p", 1, NULL, &v, on_done, &d), 0);
	run_until_done(f, &d, 1);
	assert_int_equal(d.status, 0);
	/* Let the sync timer fire a few times (bounded by a deadline). */
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		event_base_loop(f->base, EVLOOP_ONCE);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - start.tv_sec) * 1000 +
	             (now.tv_nsec - start.tv_nsec) / 1000000 <
	         30);
	store_reopen(f);
	assert_holds(f, 1, "p", "lazy");
	done_clear(&d, 1);
}

/* Under periodic the groups that arrive while the writer commits a
 * checkpoint are applied on the loop (store_apply_here). They must see
 * every earlier write, their own group's included, be read back at once
 * and after a restart. Checkpoints every millisecond make such groups
 * common; the test goes on until it has seen a few. */
static void test_periodic_groups_during_checkpoints(void **state)
{
	struct fixture *f = *state;
	struct store_options o = options(f);
	struct store_stats st = {0};
	struct dvv_vv ctx = {0};
	struct dvv_value v;
	struct dvv *obj = NULL;
	char key[32];
	int rounds = 0;

	store_close(f->store);
	f->store = NULL;
	o.sync_batch = false;
	o.sync_interval_ms = 5;
	o.checkpoint_ms = 1;
	assert_int_equal(store_open(&f->store, f->base, f->codec, &o), 0);
	for (; rounds < 5000 && st.checkpoint_groups < 20; rounds++) {
		struct done d[4] = {{0}};
		/* One group a round: a write with the context of the last
		 * one (supersedes it), two blind writes to a new key (the
		 * second sees the first: siblings), one to another. */
		value_set(&v, "chain");
		assert_int_equal(store_update(f->store, 0, "chain", 5, &ctx, &v,
		                              on_done, &d[0]),
		                 0);
		snprintf(key, sizeof(key), "twice-%d", rounds);
		value_set(&v, key);
		for (int i = 1; i <= 2; i++)
			assert_int_equal(store_update(f->store, 1, key,
			                              strlen(key), NULL, &v,
			                              on_done, &d[i]),
			                 0);
		snprintf(key, sizeof(key), "once-%d", rounds);
		value_set(&v, key);
		assert_int_equal(store_update(f->store, 2, key, strlen(key),
		                              NULL, &v, on_done, &d[3]),
		                 0);
		run_until_done(f, d, 4);
		for (int i = 0; i < 4; i++)
			assert_int_equal(d[i].status, 0);
		assert_int_equal(dvv_value_count(d[0].obj), 1);
		assert_int_equal(dvv_value_count(d[2].obj), 2);
		dvv_vv_deinit(&ctx);
		assert_int_equal(dvv_join(d[0].obj, &ctx), 0);
		assert_holds(f, 2, key, key);
		done_clear(d, 4);
		store_get_stats(f->store, &st);
	}
	assert_true(st.checkpoint_groups >= 20);
	dvv_vv_deinit(&ctx);

	store_reopen(f);
	assert_int_equal(store_get(f->store, 0, "chain", 5, &obj), 0);
	assert_int_equal(dvv_value_count(obj), 1);
	dvv_free(obj);
	for (int r = 0; r < rounds; r++) {
		snprintf(key, sizeof(key), "twice-%d", r);
		assert_int_equal(store_get(f->store, 1, key, strlen(key), &obj),
		                 0);
		assert_int_equal(dvv_value_count(obj), 2);
		dvv_free(obj);
		snprintf(key, sizeof(key), "once-%d", r);
		assert_holds(f, 2, key, key);
	}
	store_get_stats(f->store, &st);
	assert_int_equal(st.keys, 1 + 2 * (uint64_t)rounds);
}

static void test_open_refusals(void **state)
{
	struct fixture *f = *state;
	struct event_base *plain = event_base_new();
	struct store *s = NULL;
	struct store_options o = options(f);

	/* Without the priorities the commit could not be the lowest. */
	assert_non_null(plain);
	store_close(f->store);
	f->store = NULL;
	assert_int_equal(store_open(&s, plain, f->codec, &o), RKV_EINVAL);
	assert_null(s);
	event_base_free(plain);
	o.sync_batch = false;
	o.sync_interval_ms = 0;
	assert_int_equal(store_open(&s, f->base, f->codec, &o), RKV_EINVAL);
	o.sync_batch = true;
	o.dir = "";
	assert_int_equal(store_open(&s, f->base, f->codec, &o), RKV_EINVAL);
	store_reopen(f);
}

/* A damaged node id must stop the node, never be replaced silently: a new
 * id would be a new actor for data the old one wrote. */
static void test_corrupt_node_id(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct store_options o = options(f);
	struct raw r;
	MDB_dbi meta;
	MDB_val k = {7, (void *)"node_id"};
	MDB_val v = {3, (void *)"abc"};

	store_close(f->store);
	f->store = NULL;
	raw_open(f, &r);
	assert_int_equal(mdb_dbi_open(r.txn, "meta", 0, &meta), 0);
	assert_int_equal(mdb_put(r.txn, meta, &k, &v, 0), 0);
	raw_close(&r);
	assert_int_equal(store_open(&s, f->base, f->codec, &o), RKV_ECORRUPT);
	assert_null(s);
	remove_tree(f->dir);
	store_reopen(f);
}

/* An LMDB failure (here: the map is full) dooms the transaction, so every
 * mutation of that batch fails with RKV_EIO; the next batch works. */
/* A fresh store whose map (1 MiB) cannot take big_value(). */
static void reopen_with_small_map(struct fixture *f, unsigned checkpoint_ms)
{
	struct store_options o = options(f);

	store_close(f->store);
	f->store = NULL;
	remove_tree(f->dir);
	o.map_size = 1u << 20;
	o.checkpoint_ms = checkpoint_ms;
	assert_int_equal(store_open(&f->store, f->base, f->codec, &o), 0);
}

/* A 2 MiB value; the caller frees its data. */
static void big_value(struct dvv_value *v)
{
	value_set(v, "big");
	v->len = 2u << 20;
	v->data = calloc(1, v->len);
	assert_non_null(v->data);
}

static void test_map_full_fails_the_batch(void **state)
{
	struct fixture *f = *state;
	struct done d[2] = {{0}};
	struct dvv_value big, small;
	struct dvv *obj = NULL;

	reopen_with_small_map(f, 0);
	value_set(&small, "small");
	big_value(&big);
	assert_int_equal(
	    store_update(f->store, 0, "big", 3, NULL, &big, on_done, &d[0]), 0);
	assert_int_equal(
	    store_update(f->store, 0, "small", 5, NULL, &small, on_done, &d[1]),
	    0);
	free(big.data);
	run_until_done(f, d, 2);
	assert_int_equal(d[0].status, RKV_EIO);
	assert_int_equal(d[1].status, RKV_EIO);
	assert_int_equal(store_get(f->store, 0, "small", 5, &obj),
	                 RKV_ENOTFOUND);
	put(f, 0, "small", "small");
	assert_holds(f, 0, "small", "small");
	done_clear(d, 2);
}

/* The layout promise of store.h: a partition is one contiguous range. */
static void test_partition_is_a_range(void **state)
{
	struct fixture *f = *state;
	static const uint32_t parts[] = {3, 1, 256, 2, 1, 3, 65536, 2, 0};
	struct raw r;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint32_t last = 0;
	int n = 0;
	char key[16];

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		/* Keys that sort against the partition order. */
		snprintf(key, sizeof(key), "%c", (int)('z' - i));
		put(f, parts[i], key, "v");
	}
	store_close(f->store);
	f->store = NULL;
	raw_open(f, &r);
	assert_int_equal(mdb_cursor_open(r.txn, r.dbi, &cur), 0);
	while (mdb_cursor_get(cur, &k, &v, n == 0 ? MDB_FIRST : MDB_NEXT) ==
	       0) {
		const uint8_t *p = k.mv_data;
		uint32_t part = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		                (uint32_t)p[2] << 8 | p[3];
		assert_true(part >= last);
		last = part;
		n++;
	}
	assert_int_equal(n, sizeof(parts) / sizeof(parts[0]));
	mdb_cursor_close(cur);
	raw_close(&r);
	store_reopen(f);
}

/* --- node metadata -------------------------------------------------------- */

static void test_meta_round_trip(void **state)
{
	struct fixture *f = *state;
	enum { BIG = 100000 };
	uint8_t *blob = malloc(BIG);
	uint8_t *out = (uint8_t *)&out;
	size_t len = 1;
	uint64_t id = store_node_id(f->store);
	struct store_stats st;

	assert_non_null(blob);
	for (size_t i = 0; i < BIG; i++)
		blob[i] = (uint8_t)(i * 2654435761u >> 24); /* zeros too */
	assert_int_equal(store_meta_get(f->store, "ring", &out, &len),
	                 RKV_ENOTFOUND);
	assert_null(out);
	assert_int_equal(len, 0);
	assert_int_equal(store_meta_put(f->store, "ring", blob, BIG), 0);
	assert_int_equal(store_meta_get(f->store, "ring", &out, &len), 0);
	assert_int_equal(len, BIG);
	assert_memory_equal(out, blob, BIG);
	free(out);
	/* Replacing with a shorter blob; an empty blob is a blob. */
	assert_int_equal(store_meta_put(f->store, "ring", blob + 7, 10), 0);
	assert_int_equal(store_meta_put(f->store, "members", NULL, 0), 0);
	store_reopen(f);
	assert_int_equal(store_meta_get(f->store, "ring", &out, &len), 0);
	assert_int_equal(len, 10);
	assert_memory_equal(out, blob + 7, 10);
	free(out);
	assert_int_equal(store_meta_get(f->store, "members", &out, &len), 0);
	assert_non_null(out);
	assert_int_equal(len, 0);
	free(out);
	/* Metadata is not an object, and leaves the node id alone. */
	store_get_stats(f->store, &st);
	assert_int_equal(st.keys, 0);
	assert_int_equal(store_node_id(f->store), id);
	free(blob);
}

static void test_meta_refusals(void **state)
{
	struct fixture *f = *state;
	char name[STORE_MAX_META_NAME + 2];
	uint8_t *out = NULL;
	size_t len = 0;
	static const char *const bad[] = {
	    "",    "node_id", "actor",   "running",
	    "a b", "tab\t",   "del\x7f", "\xc3\xa9t\xc3\xa9"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(store_meta_put(f->store, bad[i], "x", 1),
		                 RKV_EINVAL);
		assert_int_equal(store_meta_get(f->store, bad[i], &out, &len),
		                 RKV_EINVAL);
		assert_null(out);
	}
	assert_int_equal(store_meta_put(f->store, NULL, "x", 1), RKV_EINVAL);
	assert_int_equal(store_meta_get(f->store, NULL, &out, &len),
	                 RKV_EINVAL);
	memset(name, 'n', sizeof(name));
	name[STORE_MAX_META_NAME] = '\0';
	assert_int_equal(store_meta_put(f->store, name, "x", 1), 0);
	name[STORE_MAX_META_NAME] = 'n';
	name[STORE_MAX_META_NAME + 1] = '\0';
	assert_int_equal(store_meta_put(f->store, name, "x", 1), RKV_EINVAL);
	assert_int_equal(store_meta_put(f->store, "ring", NULL, 1), RKV_EINVAL);
	/* The bound is checked before the buffer is read. */
	assert_int_equal(
	    store_meta_put(f->store, "ring", "x", STORE_MAX_META_VALUE + 1),
	    RKV_ETOOBIG);
	assert_int_equal(store_meta_get(f->store, "ring", &out, &len),
	                 RKV_ENOTFOUND);
}

/* Durable when it returns: a process that stops right after the call,
 * without store_close and with sync = periodic, loses nothing. */
static void test_meta_put_is_committed_at_once(void **state)
{
	struct fixture *f = *state;
	struct store_options o = options(f);
	uint8_t *out = NULL;
	size_t len = 0;
	int status = 0;
	pid_t pid = 0;

	store_close(f->store);
	f->store = NULL;
	o.sync_batch = false;
	o.sync_interval_ms = 3600 * 1000;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct event_base *base = base_new();
		struct codec *codec = codec_new();
		struct store *s = NULL;
		int rc = store_open(&s, base, codec, &o);
		if (rc == 0)
			rc = store_meta_put(s, "ring", "persisted", 9);
		_exit(rc == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	store_reopen(f);
	assert_int_equal(store_meta_get(f->store, "ring", &out, &len), 0);
	assert_int_equal(len, 9);
	assert_memory_equal(out, "persisted", 9);
	free(out);
}

static void test_meta_corrupt(void **state)
{
	struct fixture *f = *state;
	/* Flip the format byte, a blob byte, the checksum; cut short. */
	const long flips[] = {0, 3, -1};
	uint8_t *out = NULL;
	size_t len = 0;

	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]) + 1; i++) {
		struct raw r;
		MDB_val k = {4, (void *)"ring"}, v;
		uint8_t copy[64];

		assert_int_equal(
		    store_meta_put(f->store, "ring", "abcdefgh", 8), 0);
		store_close(f->store);
		f->store = NULL;
		raw_open_db(f, &r, "meta");
		assert_int_equal(mdb_get(r.txn, r.dbi, &k, &v), 0);
		assert_int_equal(v.mv_size, 1 + 8 + 8);
		memcpy(copy, v.mv_data, v.mv_size);
		if (i < sizeof(flips) / sizeof(flips[0]))
			copy[flips[i] >= 0 ? (size_t)flips[i]
			                   : v.mv_size - (size_t)-flips[i]] ^=
			    4;
		else
			v.mv_size = 5;
		v.mv_data = copy;
		assert_int_equal(mdb_put(r.txn, r.dbi, &k, &v, 0), 0);
		raw_close(&r);
		store_reopen(f);
		assert_int_equal(store_meta_get(f->store, "ring", &out, &len),
		                 RKV_ECORRUPT);
		assert_null(out);
		assert_int_equal(len, 0);
	}
}

/* --- partition scans ------------------------------------------------------ */

/* A key and its text, as the tests expect a scan to return them. */
struct item {
	uint8_t *key;
	size_t klen;
};

static int item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = n > 0 ? memcmp(x->key, y->key, n) : 0;

	if (c != 0)
		return c;
	return x->klen < y->klen ? -1 : x->klen > y->klen;
}

/* Slot order (store.h): compare the slots, which are the keys unless
 * long. */
static int item_slot_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	uint8_t sx[STORE_INLINE_KEY], sy[STORE_INLINE_KEY];
	struct item ix = {sx, test_slot(x->key, x->klen, sx)};
	struct item iy = {sy, test_slot(y->key, y->klen, sy)};

	return item_cmp(&ix, &iy);
}

struct collect {
	struct fixture *f;
	uint32_t part;
	size_t n, cap;
	struct item *items;
	size_t stop_after; /* return 42 instead of taking item stop_after */
};

static void collect_clear(struct collect *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->items[i].key);
	free(c->items);
	c->items = NULL;
	c->n = c->cap = 0;
}

/* The value of every test object is its key's first byte as text, or
 * "empty"; checked for every object a scan hands out. */
#define ITEM_TEXT 32

static void item_text(const void *key, size_t klen, char *text)
{
	if (klen == 0)
		strcpy(text, "empty");
	else
		snprintf(text, ITEM_TEXT, "b%u:%zu", *(const uint8_t *)key,
		         klen);
}

static int on_item(const void *key, size_t klen, const struct dvv *obj,
                   void *arg)
{
	struct collect *c = arg;
	struct dvv *again = NULL;
	char text[ITEM_TEXT];

	if (c->stop_after > 0 && c->n == c->stop_after)
		return 42;
	assert_int_equal(dvv_validate(obj), 0);
	item_text(key, klen, text);
	assert_obj_holds(obj, text);
	/* Reading the store from inside a scan leaves the scan alone. */
	assert_int_equal(store_get(c->f->store, c->part, key, klen, &again), 0);
	assert_true(dvv_equal(again, obj));
	dvv_free(again);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->items = realloc(c->items, c->cap * sizeof(*c->items));
		assert_non_null(c->items);
	}
	c->items[c->n].key = malloc(klen > 0 ? klen : 1);
	assert_non_null(c->items[c->n].key);
	if (klen > 0)
		memcpy(c->items[c->n].key, key, klen);
	c->items[c->n].klen = klen;
	c->n++;
	return 0;
}

/* Write items[0..n) to a partition in one batch. */
static void put_items(struct fixture *f, uint32_t part,
                      const struct item *items, size_t n)
{
	struct done *d = calloc(n, sizeof(*d));
	struct dvv_value v;
	char text[ITEM_TEXT];

	assert_non_null(d);
	for (size_t i = 0; i < n; i++) {
		item_text(items[i].key, items[i].klen, text);
		value_set(&v, text);
		assert_int_equal(store_update(f->store, part, items[i].key,
		                              items[i].klen, NULL, &v, on_done,
		                              &d[i]),
		                 0);
	}
	all_done_ok(f, d, n);
}

static void assert_items_equal(const struct item *a, const struct item *b,
                               size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(a[i].klen, b[i].klen);
		if (a[i].klen > 0)
			assert_memory_equal(a[i].key, b[i].key, a[i].klen);
	}
}

/* Scan a whole partition in batches; the number of batches in *batches. */
static void scan_all(struct fixture *f, uint32_t part, size_t max_items,
                     size_t max_bytes, struct collect *c, size_t *batches,
                     uint64_t *bytes)
{
	struct store_scan_pos pos;
	struct store_scan_result res;

	memset(c, 0, sizeof(*c));
	c->f = f;
	c->part = part;
	*batches = 0;
	*bytes = 0;
	store_scan_pos_init(&pos);
	do {
		size_t before = c->n;
		assert_int_equal(store_scan(f->store, part, &pos, max_items,
		                            max_bytes, on_item, c, &res),
		                 0);
		assert_int_equal(res.items, c->n - before);
		assert_true(res.items <= max_items);
		assert_int_equal(res.corrupt, 0);
		*bytes += res.bytes;
		(*batches)++;
		assert_true(*batches < 100000);
	} while (res.more);
}

/* Keys that sort across each other and across partitions: the empty key,
 * a key and its extensions, bytes 0x00 and 0xff, numbered keys. */
#define SCAN_FIXED 7
#define SCAN_KEYS  (SCAN_FIXED + 41)

static struct item *scan_keys(void)
{
	static const struct {
		const char *key;
		size_t len;
	} fixed[SCAN_FIXED] = {{"", 0},  {"a", 1},    {"a\0", 2},     {"ab", 2},
	                       {"b", 1}, {"\xff", 1}, {"\xff\xff", 2}};
	struct item *items = calloc(SCAN_KEYS, sizeof(*items));

	assert_non_null(items);
	for (size_t i = 0; i < SCAN_KEYS; i++) {
		items[i].key = malloc(8);
		assert_non_null(items[i].key);
		if (i < SCAN_FIXED) {
			memcpy(items[i].key, fixed[i].key, fixed[i].len);
			items[i].klen = fixed[i].len;
		} else {
			items[i].klen = (size_t)snprintf(
			    (char *)items[i].key, 8, "k%03zu", i - SCAN_FIXED);
		}
	}
	return items;
}

static void items_free(struct item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(items[i].key);
	free(items);
}

/* Partition 5 between neighbours 4 and 6 that hold keys sorting before
 * and after its own, so a scan that ignored the partition would show. */
static void scan_fixture(struct fixture *f, struct item *items)
{
	struct item neighbours[] = {
	    {(uint8_t *)"", 0},
	    {(uint8_t *)"a", 1},
	    {(uint8_t *)"zzz", 3},
	    {(uint8_t *)"\xff\xff\xff", 3},
	};

	put_items(f, 4, neighbours, 4);
	put_items(f, 5, items, SCAN_KEYS);
	put_items(f, 6, neighbours, 4);
	qsort(items, SCAN_KEYS, sizeof(*items), item_cmp);
}

static void test_scan_partition_in_batches(void **state)
{
	struct fixture *f = *state;
	struct item *items = scan_keys();
	struct collect c;
	size_t batches = 0;
	uint64_t bytes = 0, bytes1 = 0, keys = 0, stat_bytes = 0;

	scan_fixture(f, items);
	scan_all(f, 5, 4, SIZE_MAX, &c, &batches, &bytes);
	assert_int_equal(c.n, SCAN_KEYS);
	assert_items_equal(c.items, items, SCAN_KEYS);
	assert_int_equal(batches, (SCAN_KEYS + 3) / 4);
	collect_clear(&c);
	/* One batch for all, and byte-bounded batches of one record. */
	scan_all(f, 5, SCAN_KEYS + 1, SIZE_MAX, &c, &batches, &bytes1);
	assert_int_equal(batches, 1);
	assert_items_equal(c.items, items, SCAN_KEYS);
	assert_int_equal(bytes1, bytes);
	collect_clear(&c);
	scan_all(f, 5, SIZE_MAX, 1, &c, &batches, &bytes1);
	assert_int_equal(batches, SCAN_KEYS);
	assert_items_equal(c.items, items, SCAN_KEYS);
	collect_clear(&c);
	/* The stats count the same records and bytes. */
	assert_int_equal(store_partition_stats(f->store, 5, &keys, &stat_bytes),
	                 0);
	assert_int_equal(keys, SCAN_KEYS);
	assert_int_equal(stat_bytes, bytes);
	assert_int_equal(store_partition_stats(f->store, 4, &keys, &stat_bytes),
	                 0);
	assert_int_equal(keys, 4);
	/* An empty partition: nothing, no more. */
	scan_all(f, 7, 4, SIZE_MAX, &c, &batches, &bytes);
	assert_int_equal(c.n, 0);
	assert_int_equal(batches, 1);
	assert_int_equal(bytes, 0);
	assert_int_equal(store_partition_stats(f->store, 7, &keys, &stat_bytes),
	                 0);
	assert_int_equal(keys, 0);
	assert_int_equal(stat_bytes, 0);
	items_free(items, SCAN_KEYS);
}

static void test_scan_resumes(void **state)
{
	struct fixture *f = *state;
	struct item *items = scan_keys();
	struct store_scan_pos pos;
	struct store_scan_result res;
	struct collect c = {0};

	scan_fixture(f, items);
	c.f = f;
	c.part = 5;
	/* After a stored key, after a key that is not stored, after the
	 * empty key, after the last key. */
	assert_int_equal(store_scan_pos_after(&pos, 5, "k010", 4), 0);
	assert_int_equal(
	    store_scan(f->store, 5, &pos, 2, SIZE_MAX, on_item, &c, &res), 0);
	assert_int_equal(c.n, 2);
	assert_memory_equal(c.items[0].key, "k011", 4);
	assert_memory_equal(c.items[1].key, "k012", 4);
	assert_true(res.more);
	collect_clear(&c);
	assert_int_equal(store_scan_pos_after(&pos, 5, "k0105", 5), 0);
	assert_int_equal(
	    store_scan(f->store, 5, &pos, 1, SIZE_MAX, on_item, &c, &res), 0);
	assert_memory_equal(c.items[0].key, "k011", 4);
	collect_clear(&c);
	assert_int_equal(store_scan_pos_after(&pos, 5, "", 0), 0);
	assert_int_equal(
	    store_scan(f->store, 5, &pos, 1, SIZE_MAX, on_item, &c, &res), 0);
	assert_items_equal(c.items, items + 1, 1);
	collect_clear(&c);
	assert_int_equal(store_scan_pos_after(&pos, 5, "\xff\xff", 2), 0);
	assert_int_equal(
	    store_scan(f->store, 5, &pos, 1, SIZE_MAX, on_item, &c, &res), 0);
	assert_int_equal(c.n, 0);
	assert_false(res.more);
	/* A callback that stops: the record it refused comes again. */
	store_scan_pos_init(&pos);
	c.stop_after = 3;
	assert_int_equal(
	    store_scan(f->store, 5, &pos, 10, SIZE_MAX, on_item, &c, &res), 42);
	assert_int_equal(res.items, 3);
	c.stop_after = 0;
	assert_int_equal(
	    store_scan(f->store, 5, &pos, 10, SIZE_MAX, on_item, &c, &res), 0);
	assert_int_equal(c.n, 13);
	assert_items_equal(c.items, items, 13);
	/* Writes between batches: a key after the position shows up, one
	 * before it does not. */
	put(f, 5, "zz-new", "b122:6");
	put(f, 5, "0-new", "b48:5");
	while (res.more)
		assert_int_equal(store_scan(f->store, 5, &pos, 10, SIZE_MAX,
		                            on_item, &c, &res),
		                 0);
	assert_int_equal(c.n, SCAN_KEYS + 1);
	/* In order: ... "k040", "zz-new", "\xff", "\xff\xff". */
	assert_int_equal(c.items[SCAN_KEYS - 2].klen, 6);
	assert_memory_equal(c.items[SCAN_KEYS - 2].key, "zz-new", 6);
	collect_clear(&c);
	/* Refusals. */
	assert_int_equal(
	    store_scan(f->store, 6, &pos, 10, SIZE_MAX, on_item, &c, &res),
	    RKV_EINVAL);
	assert_int_equal(
	    store_scan(f->store, 5, &pos, 0, SIZE_MAX, on_item, &c, &res),
	    RKV_EINVAL);
	assert_int_equal(store_scan(f->store, 5, &pos, 1, 0, on_item, &c, &res),
	                 RKV_EINVAL);
	assert_int_equal(store_scan_pos_after(&pos, 5, NULL, 1), RKV_EINVAL);
	assert_int_equal(store_scan_pos_after(&pos, 5, "k", STORE_MAX_KEY + 1),
	                 RKV_EINVAL);
	items_free(items, SCAN_KEYS);
}

/* The first and last partition numbers have no neighbour on one side. */
static void test_scan_edge_partitions(void **state)
{
	struct fixture *f = *state;
	struct collect c;
	size_t batches = 0;
	uint64_t bytes = 0;

	put(f, 0, "", "empty");
	put(f, 0, "x", "b120:1");
	put(f, 1, "", "empty");
	put(f, UINT32_MAX - 1, "\xff", "b255:1");
	put(f, UINT32_MAX, "", "empty");
	put(f, UINT32_MAX, "\xff\xff", "b255:2");
	scan_all(f, 0, 10, SIZE_MAX, &c, &batches, &bytes);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.items[0].klen, 0);
	collect_clear(&c);
	scan_all(f, UINT32_MAX, 1, SIZE_MAX, &c, &batches, &bytes);
	assert_int_equal(c.n, 2);
	assert_int_equal(batches, 2);
	assert_int_equal(c.items[1].klen, 2);
	collect_clear(&c);
}

static int count_corrupt_scan(struct fixture *f, uint32_t part,
                              struct collect *c, uint64_t *corrupt)
{
	struct store_scan_pos pos;
	struct store_scan_result res;
	int rc = 0;

	memset(c, 0, sizeof(*c));
	c->f = f;
	c->part = part;
	*corrupt = 0;
	store_scan_pos_init(&pos);
	do {
		rc = store_scan(f->store, part, &pos, 1, SIZE_MAX, on_item, c,
		                &res);
		*corrupt += res.corrupt;
	} while (rc == 0 && res.more);
	return rc;
}

static void test_scan_skips_corrupt(void **state)
{
	struct fixture *f = *state;
	struct collect c;
	uint64_t corrupt = 0, keys = 0, bytes = 0;

	put(f, 2, "a", "b97:1");
	put(f, 2, "b", "b98:1");
	put(f, 2, "c", "b99:1");
	store_close(f->store);
	f->store = NULL;
	raw_damage(f, 2, "b", 3, 0);
	store_reopen(f);
	/* With batches of one, so the corrupt record also ends a batch. */
	assert_int_equal(count_corrupt_scan(f, 2, &c, &corrupt), 0);
	assert_int_equal(corrupt, 1);
	assert_int_equal(c.n, 2);
	assert_memory_equal(c.items[0].key, "a", 1);
	assert_memory_equal(c.items[1].key, "c", 1);
	collect_clear(&c);
	assert_int_equal(store_partition_stats(f->store, 2, &keys, &bytes), 0);
	assert_int_equal(keys, 3);
}

static void test_partition_delete(void **state)
{
	struct fixture *f = *state;
	struct item *items = scan_keys();
	struct collect c;
	struct store_stats st;
	struct dvv *obj = NULL;
	size_t batches = 0, deleted = 0, total = 0, calls = 0;
	uint64_t bytes = 0, keys = 0;
	bool more = true;

	scan_fixture(f, items);
	while (more) {
		assert_int_equal(
		    store_partition_delete(f->store, 5, 10, &deleted, &more),
		    0);
		assert_true(deleted <= 10);
		total += deleted;
		calls++;
		assert_true(calls < 100);
	}
	assert_int_equal(total, SCAN_KEYS);
	assert_int_equal(calls, (SCAN_KEYS + 9) / 10);
	assert_int_equal(store_get(f->store, 5, "k000", 4, &obj),
	                 RKV_ENOTFOUND);
	store_reopen(f);
	assert_int_equal(store_partition_stats(f->store, 5, &keys, &bytes), 0);
	assert_int_equal(keys, 0);
	/* The neighbours are whole. */
	scan_all(f, 4, 10, SIZE_MAX, &c, &batches, &bytes);
	assert_int_equal(c.n, 4);
	collect_clear(&c);
	scan_all(f, 6, 10, SIZE_MAX, &c, &batches, &bytes);
	assert_int_equal(c.n, 4);
	collect_clear(&c);
	store_get_stats(f->store, &st);
	assert_int_equal(st.keys, 8);
	/* Nothing left: nothing deleted, no more; a bound is required. */
	assert_int_equal(store_partition_delete(f->store, 5, 10, NULL, &more),
	                 0);
	assert_false(more);
	assert_int_equal(store_partition_delete(f->store, 5, 0, NULL, &more),
	                 RKV_EINVAL);
	items_free(items, SCAN_KEYS);
}

/* --- long keys ------------------------------------------------------------ */

static uint8_t *long_key(size_t len, unsigned seed)
{
	uint8_t *k = malloc(len);

	assert_non_null(k);
	for (size_t i = 0; i < len; i++)
		k[i] = (uint8_t)('a' + (i * 7 + seed) % 26);
	return k;
}

static void test_long_keys_round_trip(void **state)
{
	struct fixture *f = *state;
	uint8_t *k = long_key(1000, 0);
	uint8_t *raw = NULL;
	size_t rlen = 0;
	struct dvv *obj = NULL;
	struct done d = {0};

	put_key(f, 3, k, 1000, "b97:1000");
	assert_holds_key(f, 3, k, 1000, "b97:1000");
	/* Replication of a long key. */
	assert_int_equal(store_get(f->store, 3, k, 1000, &obj), 0);
	assert_int_equal(store_merge(f->store, 9, k, 1000, obj, on_done, &d),
	                 0);
	run_until_done(f, &d, 1);
	assert_int_equal(d.status, 0);
	assert_true(dvv_equal(d.obj, obj));
	dvv_free(obj);
	done_clear(&d, 1);
	store_reopen(f);
	assert_holds_key(f, 3, k, 1000, "b97:1000");
	assert_holds_key(f, 9, k, 1000, "b97:1000");
	/* A shorter or longer key with the same bytes is another key. */
	assert_int_equal(store_get(f->store, 3, k, 999, &obj), RKV_ENOTFOUND);
	assert_int_equal(store_get(f->store, 3, k, STORE_INLINE_KEY, &obj),
	                 RKV_ENOTFOUND);
	/* The layout of store.h: under partition ++ head ++ XXH3-128 (raw_
	 * value found it there), format 2, u32 length, the key. */
	store_close(f->store);
	f->store = NULL;
	raw = raw_value(f, 3, k, 1000, &rlen);
	assert_true(rlen > 1 + 4 + 1000 + 8);
	assert_int_equal(raw[0], 2);
	assert_int_equal(
	    raw[1] | raw[2] << 8 | raw[3] << 16 | (uint32_t)raw[4] << 24, 1000);
	assert_memory_equal(raw + 5, k, 1000);
	free(raw);
	/* Inline keys keep the first release's format. */
	store_reopen(f);
	put_key(f, 3, k, STORE_INLINE_KEY, "b97:507");
	store_close(f->store);
	f->store = NULL;
	raw = raw_value(f, 3, k, STORE_INLINE_KEY, &rlen);
	assert_int_equal(raw[0], 1);
	free(raw);
	store_reopen(f);
	free(k);
}

/* Digests: equal objects have equal digests whatever key, partition or
 * key format holds them; any change to the object changes it; a digest
 * alone is read without decoding, a damaged record is still refused. */
static void test_digest(void **state)
{
	struct fixture *f = *state;
	uint8_t *k = long_key(1000, 0);
	struct done d[2] = {{0}};
	struct dvv *obj = NULL, *again = NULL;
	uint64_t a = 0, b = 0, c = 0, e = 1;
	uint8_t *avro = NULL;
	size_t alen = 0;

	put(f, 3, "src", "payload");
	assert_int_equal(store_get_digest(f->store, 3, "src", 3, &obj, &a), 0);
	assert_int_equal(codec_object_encode(f->codec, obj, &avro, &alen), 0);
	assert_true(a == XXH3_64bits(avro, alen));
	free(avro);
	/* The same object under an inline key and under a long key. */
	assert_int_equal(
	    store_merge(f->store, 4, "dst", 3, obj, on_done, &d[0]), 0);
	assert_int_equal(store_merge(f->store, 5, k, 1000, obj, on_done, &d[1]),
	                 0);
	run_until_done(f, d, 2);
	assert_int_equal(store_get_digest(f->store, 4, "dst", 3, NULL, &b), 0);
	assert_int_equal(store_get_digest(f->store, 5, k, 1000, &again, &c), 0);
	assert_true(a == b);
	assert_true(a == c);
	assert_true(dvv_equal(again, obj));
	dvv_free(again);
	done_clear(d, 2);
	/* A write changes it. */
	put(f, 4, "dst", "other");
	assert_int_equal(store_get_digest(f->store, 4, "dst", 3, NULL, &b), 0);
	assert_true(a != b);
	assert_int_equal(store_get_digest(f->store, 4, "none", 4, NULL, &e),
	                 RKV_ENOTFOUND);
	assert_true(e == 0);
	/* Damage is seen without a decode. */
	store_close(f->store);
	f->store = NULL;
	raw_damage(f, 3, "src", 5, 0);
	store_reopen(f);
	assert_int_equal(store_get_digest(f->store, 3, "src", 3, NULL, &e),
	                 RKV_ECORRUPT);
	dvv_free(obj);
	free(k);
}

static void test_long_keys_sharing_a_head(void **state)
{
	struct fixture *f = *state;
	uint8_t *a = long_key(1000, 0);
	uint8_t *b = long_key(1000, 0);
	uint8_t *c = long_key(1000, 0);
	struct dvv *obj = NULL;
	struct store_stats st;

	/* Equal in the first 999 bytes, so in the whole head. */
	b[999] ^= 1;
	c[999] ^= 2;
	put_key(f, 3, a, 1000, "value a");
	put_key(f, 3, b, 1000, "value b");
	assert_holds_key(f, 3, a, 1000, "value a");
	assert_holds_key(f, 3, b, 1000, "value b");
	assert_int_equal(store_get(f->store, 3, c, 1000, &obj), RKV_ENOTFOUND);
	store_get_stats(f->store, &st);
	assert_int_equal(st.keys, 2);
	free(a);
	free(b);
	free(c);
}

static void test_long_keys_in_scans(void **state)
{
	struct fixture *f = *state;
	enum { N = 6 };
	static const size_t lens[N] = {1000, 1000, 508, STORE_INLINE_KEY,
	                               600,  5};
	struct item items[N];
	struct collect c;
	size_t batches = 0;
	uint64_t bytes = 0, keys = 0, stat_bytes = 0;

	for (size_t i = 0; i < N; i++) {
		items[i].key = long_key(lens[i], 0);
		items[i].klen = lens[i];
	}
	items[1].key[998] ^= 1; /* shares the head of items[0] */
	put_items(f, 8, items, N);
	put(f, 7, "neighbour", "b110:9");
	put(f, 9, "neighbour", "b110:9");
	qsort(items, N, sizeof(*items), item_slot_cmp);
	scan_all(f, 8, 2, SIZE_MAX, &c, &batches, &bytes);
	assert_int_equal(c.n, N);
	assert_items_equal(c.items, items, N);
	collect_clear(&c);
	assert_int_equal(store_partition_stats(f->store, 8, &keys, &stat_bytes),
	                 0);
	assert_int_equal(keys, N);
	assert_int_equal(stat_bytes, bytes);
	/* Resuming after a long key. */
	{
		struct store_scan_pos pos;
		struct store_scan_result res;
		memset(&c, 0, sizeof(c));
		c.f = f;
		c.part = 8;
		assert_int_equal(
		    store_scan_pos_after(&pos, 8, items[2].key, items[2].klen),
		    0);
		assert_int_equal(store_scan(f->store, 8, &pos, N, SIZE_MAX,
		                            on_item, &c, &res),
		                 0);
		assert_int_equal(c.n, N - 3);
		assert_items_equal(c.items, items + 3, N - 3);
		collect_clear(&c);
	}
	for (size_t i = 0; i < N; i++)
		free(items[i].key);
}

/* An inline key of exactly STORE_INLINE_KEY bytes can be made to spell a
 * long key's slot. Neither key may read or overwrite the other. */
static void test_long_key_slot_collision(void **state)
{
	struct fixture *f = *state;
	uint8_t *lk = long_key(800, 3);
	uint8_t ik[STORE_INLINE_KEY];
	char text[ITEM_TEXT];
	struct dvv *obj = NULL;
	struct dvv_value v;
	struct done d = {0};
	struct collect c;
	size_t batches = 0;
	uint64_t bytes = 0;

	assert_int_equal(test_slot(lk, 800, ik), STORE_INLINE_KEY);
	value_set(&v, "intruder");
	for (uint32_t part = 1; part <= 2; part++) {
		/* Partition 1: the long key first; 2: the inline one. */
		const uint8_t *first = part == 1 ? lk : ik;
		size_t flen = part == 1 ? 800 : STORE_INLINE_KEY;
		const uint8_t *second = part == 1 ? ik : lk;
		size_t slen = part == 1 ? STORE_INLINE_KEY : 800;

		item_text(first, flen, text);
		put_key(f, part, first, flen, text);
		assert_int_equal(store_get(f->store, part, second, slen, &obj),
		                 RKV_ENOTFOUND);
		assert_int_equal(store_update(f->store, part, second, slen,
		                              NULL, &v, on_done, &d),
		                 0);
		run_until_done(f, &d, 1);
		assert_int_equal(d.status, RKV_EINVAL);
		done_clear(&d, 1);
		assert_holds_key(f, part, first, flen, text);
		/* The scan hands out the key that owns the slot. */
		scan_all(f, part, 10, SIZE_MAX, &c, &batches, &bytes);
		assert_int_equal(c.n, 1);
		assert_int_equal(c.items[0].klen, flen);
		assert_memory_equal(c.items[0].key, first, flen);
		collect_clear(&c);
	}
	free(lk);
}

/* Re-file a record under another LMDB key, as a damaged key would. */
static void raw_move(struct fixture *f, uint32_t part, const void *key,
                     size_t klen, size_t flip_at)
{
	struct raw r;
	uint8_t kbuf[4 + STORE_INLINE_KEY];
	MDB_val k = raw_key_bin(kbuf, part, key, klen);
	MDB_val v;
	uint8_t *copy = NULL;
	size_t vlen = 0;

	raw_open(f, &r);
	assert_int_equal(mdb_get(r.txn, r.dbi, &k, &v), 0);
	vlen = v.mv_size;
	copy = malloc(vlen);
	assert_non_null(copy);
	memcpy(copy, v.mv_data, vlen);
	assert_int_equal(mdb_del(r.txn, r.dbi, &k, NULL), 0);
	kbuf[flip_at] ^= 0x01;
	v.mv_size = vlen;
	v.mv_data = copy;
	assert_int_equal(mdb_put(r.txn, r.dbi, &k, &v, 0), 0);
	raw_close(&r);
	free(copy);
}

static void test_long_key_corruption(void **state)
{
	struct fixture *f = *state;
	uint8_t *k = long_key(1000, 5);
	/* The format byte, the length, the key copy (first and last byte),
	 * the Avro, the checksum; then a cut, then a damaged LMDB key (in
	 * the hash, and in the head). */
	const long flips[] = {0, 1, 5, 5 + 999, 5 + 1000 + 2, -1};
	const size_t nflips = sizeof(flips) / sizeof(flips[0]);
	const size_t moves[] = {4 + STORE_KEY_HEAD + 3, 4 + 100};

	for (size_t i = 0; i < nflips + 1 + 2; i++) {
		struct dvv *obj = NULL;
		struct dvv_value v;
		struct done d = {0};
		struct collect c;
		uint64_t corrupt = 0;

		put_key(f, 3, k, 1000, "b102:1000");
		put(f, 3, "short", "b115:5");
		store_close(f->store);
		f->store = NULL;
		if (i < nflips)
			raw_damage_key(f, 3, k, 1000, flips[i], 0);
		else if (i == nflips)
			raw_damage_key(f, 3, k, 1000, 0, 600);
		else
			raw_move(f, 3, k, 1000, moves[i - nflips - 1]);
		store_reopen(f);
		/* A moved record is not found where it belongs ... */
		assert_int_equal(store_get(f->store, 3, k, 1000, &obj),
		                 i <= nflips ? RKV_ECORRUPT : RKV_ENOTFOUND);
		assert_null(obj);
		/* ... and a write there cannot destroy a damaged one. */
		value_set(&v, "b102:1000");
		assert_int_equal(
		    store_update(f->store, 3, k, 1000, NULL, &v, on_done, &d),
		    0);
		run_until_done(f, &d, 1);
		assert_int_equal(d.status, i <= nflips ? RKV_ECORRUPT : 0);
		done_clear(&d, 1);
		/* Scans skip the damaged record, wherever it lies. */
		assert_int_equal(count_corrupt_scan(f, 3, &c, &corrupt), 0);
		assert_int_equal(corrupt, 1);
		assert_int_equal(c.n, i <= nflips ? 1 : 2);
		collect_clear(&c);
		assert_holds(f, 3, "short", "b115:5");
		store_close(f->store);
		f->store = NULL;
		remove_tree(f->dir);
		store_reopen(f);
	}
	free(k);
}

/* A hint removal's callback: obj is NULL when the hint is gone. */
static void on_hint_deleted(int status, const struct dvv *obj, void *arg)
{
	struct done *d = arg;

	d->calls++;
	d->status = status;
	d->order = completions++;
	d->obj = obj != NULL ? dvv_dup(obj) : NULL;
}

/* --- hints ------------------------------------------------------------------
 */

/* An object written by `actor` holding `text`. */
static struct dvv *hint_obj(uint64_t actor, const char *text)
{
	struct dvv *d = dvv_new();
	struct dvv_value v;

	assert_non_null(d);
	value_set(&v, text);
	assert_int_equal(dvv_update(d, NULL, actor, &v), 0);
	return d;
}

static int hint_put(struct fixture *f, const char *target, uint32_t part,
                    const void *key, size_t klen, const struct dvv *obj)
{
	struct done d = {0};
	int rc =
	    store_hint(f->store, target, part, key, klen, obj, on_done, &d);

	if (rc != 0)
		return rc;
	run_until_done(f, &d, 1);
	rc = d.status;
	done_clear(&d, 1);
	return rc;
}

/* Removes the hint if it equals sent; true when it is gone afterwards. */
static bool hint_del(struct fixture *f, const char *target, uint32_t part,
                     const char *key, const struct dvv *sent)
{
	struct done d = {0};
	bool gone = false;

	assert_int_equal(store_hint_delete(f->store, target, part, key,
	                                   strlen(key), sent, on_hint_deleted,
	                                   &d),
	                 0);
	run_until_done(f, &d, 1);
	assert_int_equal(d.status, 0);
	gone = d.obj == NULL;
	done_clear(&d, 1);
	return gone;
}

static void test_hint_round_trip(void **state)
{
	struct fixture *f = *state;
	struct dvv *a = hint_obj(1, "from-a"), *b = hint_obj(2, "from-b");
	struct dvv *got = NULL;
	struct store_stats st;
	uint64_t pending = 0;

	assert_int_equal(store_hint_target_count(f->store), 0);
	assert_int_equal(hint_put(f, "10.0.0.1:8099", 3, "k", 1, a), 0);
	assert_int_equal(store_hint_pending(f->store, "10.0.0.1:8099"), 1);
	/* A hint is not the node's own copy. */
	assert_int_equal(store_get(f->store, 3, "k", 1, &got), RKV_ENOTFOUND);
	assert_int_equal(
	    store_hint_get(f->store, "10.0.0.1:8099", 3, "k", 1, &got), 0);
	assert_true(dvv_equal(got, a));
	dvv_free(got);

	/* A second write for the same key merges (two concurrent values). */
	assert_int_equal(hint_put(f, "10.0.0.1:8099", 3, "k", 1, b), 0);
	assert_int_equal(store_hint_pending(f->store, "10.0.0.1:8099"), 1);
	assert_int_equal(
	    store_hint_get(f->store, "10.0.0.1:8099", 3, "k", 1, &got), 0);
	assert_int_equal(dvv_value_count(got), 2);
	dvv_free(got);

	/* Another target, same key: its own hint; NULL merges both. */
	assert_int_equal(hint_put(f, "10.0.0.2:8099", 3, "k", 1, a), 0);
	assert_int_equal(store_hint_target_count(f->store), 2);
	assert_string_equal(store_hint_target(f->store, 1, &pending),
	                    "10.0.0.2:8099");
	assert_int_equal(pending, 1);
	assert_null(store_hint_target(f->store, 2, NULL));
	assert_int_equal(store_hint_get(f->store, NULL, 3, "k", 1, &got), 0);
	assert_int_equal(dvv_value_count(got), 2);
	dvv_free(got);
	assert_int_equal(
	    store_hint_get(f->store, "10.0.0.3:8099", 3, "k", 1, &got),
	    RKV_ENOTFOUND);
	assert_int_equal(store_hint_get(f->store, NULL, 4, "k", 1, &got),
	                 RKV_ENOTFOUND);
	store_get_stats(f->store, &st);
	assert_int_equal(st.hints, 2);
	assert_int_equal(st.hint_writes, 3);
	assert_int_equal(st.keys, 0);

	/* Hints and their counts survive a restart. */
	store_reopen(f);
	assert_int_equal(store_hint_pending(f->store, "10.0.0.1:8099"), 1);
	assert_int_equal(store_hint_pending(f->store, "10.0.0.2:8099"), 1);
	store_get_stats(f->store, &st);
	assert_int_equal(st.hints, 2);
	assert_int_equal(
	    store_hint_get(f->store, "10.0.0.2:8099", 3, "k", 1, &got), 0);
	assert_true(dvv_equal(got, a));
	dvv_free(got);
	dvv_free(a);
	dvv_free(b);
}

static void test_hint_delete_only_if_unchanged(void **state)
{
	struct fixture *f = *state;
	struct dvv *a = hint_obj(1, "a"), *b = hint_obj(2, "b");
	struct dvv *got = NULL;
	const char *t = "n1";

	assert_int_equal(hint_put(f, t, 0, "k", 1, a), 0);
	assert_true(hint_del(f, t, 0, "k", a));
	assert_int_equal(store_hint_pending(f->store, t), 0);
	assert_int_equal(store_hint_get(f->store, t, 0, "k", 1, &got),
	                 RKV_ENOTFOUND);
	/* Gone already: nothing to do, still "gone". */
	assert_true(hint_del(f, t, 0, "k", a));
	assert_int_equal(store_hint_pending(f->store, t), 0);

	/* A write merged in after the hint was sent: the hint stays. */
	assert_int_equal(hint_put(f, t, 0, "k", 1, a), 0);
	assert_int_equal(hint_put(f, t, 0, "k", 1, b), 0);
	assert_false(hint_del(f, t, 0, "k", a));
	assert_int_equal(store_hint_pending(f->store, t), 1);
	assert_int_equal(store_hint_get(f->store, t, 0, "k", 1, &got), 0);
	assert_int_equal(dvv_value_count(got), 2);
	/* Sending what is stored now removes it. */
	assert_true(hint_del(f, t, 0, "k", got));
	assert_int_equal(store_hint_pending(f->store, t), 0);
	dvv_free(got);
	dvv_free(a);
	dvv_free(b);
}

struct hint_seen {
	size_t n;
	uint32_t part[64];
	size_t klen[64];
	char first[64];
};

static int hint_collect(uint32_t partition, const void *key, size_t klen,
                        const struct dvv *obj, void *arg)
{
	struct hint_seen *s = arg;

	assert_int_equal(dvv_validate(obj), 0);
	assert_true(s->n < 64);
	s->part[s->n] = partition;
	s->klen[s->n] = klen;
	s->first[s->n] = *(const char *)key;
	s->n++;
	return 0;
}

static void test_hint_scan(void **state)
{
	struct fixture *f = *state;
	struct dvv *a = hint_obj(1, "v");
	struct store_hint_pos pos;
	struct store_scan_result res;
	struct hint_seen seen = {0};
	char long_key[STORE_HINT_INLINE_KEY + 100];
	char key[8];

	memset(long_key, 'z', sizeof(long_key));
	/* 20 hints for T over 4 partitions, written out of order, plus other
	 * targets' hints around them. */
	for (int i = 19; i >= 0; i--) {
		snprintf(key, sizeof(key), "%c%d", 'a' + i % 5, i);
		assert_int_equal(
		    hint_put(f, "T", (uint32_t)(i % 4), key, strlen(key), a),
		    0);
		assert_int_equal(
		    hint_put(f, "U", (uint32_t)(i % 4), key, strlen(key), a),
		    0);
	}
	assert_int_equal(hint_put(f, "T", 2, long_key, sizeof(long_key), a), 0);
	assert_int_equal(hint_put(f, "S", 2, "x", 1, a), 0);
	assert_int_equal(store_hint_pending(f->store, "T"), 21);

	store_hint_pos_init(&pos);
	do {
		assert_int_equal(store_hint_scan(f->store, "T", &pos, 6,
		                                 1 << 20, hint_collect, &seen,
		                                 &res),
		                 0);
		assert_true(res.items <= 6);
		/* Removing what was seen does not disturb the scan: "a0"
		 * is in partition 0, the first one scanned. */
		if (seen.n > 0)
			(void)hint_del(f, "T", 0, "a0", a);
	} while (res.more);
	assert_int_equal(seen.n, 21);
	for (size_t i = 1; i < seen.n; i++)
		assert_true(seen.part[i - 1] <= seen.part[i]);
	bool found_long = false;
	for (size_t i = 0; i < seen.n; i++)
		found_long |= seen.klen[i] == sizeof(long_key);
	assert_true(found_long);

	/* A target without hints, and bad arguments. */
	store_hint_pos_init(&pos);
	assert_int_equal(store_hint_scan(f->store, "none", &pos, 6, 1 << 20,
	                                 hint_collect, &seen, &res),
	                 0);
	assert_int_equal(res.items, 0);
	assert_false(res.more);
	assert_int_equal(store_hint_scan(f->store, "T", &pos, 0, 1,
	                                 hint_collect, &seen, &res),
	                 RKV_EINVAL);
	assert_int_equal(store_hint_scan(f->store, "a b", &pos, 1, 1,
	                                 hint_collect, &seen, &res),
	                 RKV_EINVAL);
	dvv_free(a);
}

static void test_hint_refusals(void **state)
{
	struct fixture *f = *state;
	struct dvv *a = hint_obj(1, "v");
	struct dvv *bad = hint_obj(1, "v");
	char name[STORE_MAX_HINT_TARGET + 2];
	struct done d = {0};
	uint8_t *big = calloc(1, STORE_MAX_KEY + 1);

	assert_non_null(big);
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(store_hint(f->store, name, 0, "k", 1, a, on_done, &d),
	                 RKV_EINVAL);
	name[STORE_MAX_HINT_TARGET] = '\0'; /* the longest name is fine */
	assert_int_equal(hint_put(f, name, 0, "k", 1, a), 0);
	assert_int_equal(store_hint(f->store, "", 0, "k", 1, a, on_done, &d),
	                 RKV_EINVAL);
	assert_int_equal(store_hint(f->store, "a b", 0, "k", 1, a, on_done, &d),
	                 RKV_EINVAL);
	assert_int_equal(store_hint(f->store, NULL, 0, "k", 1, a, on_done, &d),
	                 RKV_EINVAL);
	assert_int_equal(store_hint(f->store, "t", 0, big, STORE_MAX_KEY + 1, a,
	                            on_done, &d),
	                 RKV_ETOOBIG);
	assert_int_equal(store_hint(f->store, "t", 0, NULL, 1, a, on_done, &d),
	                 RKV_EINVAL);
	bad->entries[0].counter = 0; /* fails dvv_validate */
	assert_int_equal(store_hint(f->store, "t", 0, "k", 1, bad, on_done, &d),
	                 RKV_EINVAL);
	assert_int_equal(
	    store_hint_delete(f->store, "t", 0, "k", 1, NULL, on_done, &d),
	    RKV_EINVAL);
	assert_int_equal(d.calls, 0);
	/* The longest key is a hint like any other. */
	assert_int_equal(hint_put(f, "t", 0, big, STORE_MAX_KEY, a), 0);
	assert_int_equal(store_hint_pending(f->store, "t"), 1);
	free(big);
	dvv_free(a);
	dvv_free(bad);
}

/* A damaged hint is logged, skipped by scans and left uncounted at open;
 * the others are handed out as before. */
static void test_hint_corrupt(void **state)
{
	struct fixture *f = *state;
	struct dvv *a = hint_obj(1, "v");
	struct store_hint_pos pos;
	struct store_scan_result res;
	struct hint_seen seen = {0};
	struct raw r;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint8_t *copy = NULL;

	assert_int_equal(hint_put(f, "T", 1, "k1", 2, a), 0);
	assert_int_equal(hint_put(f, "T", 1, "k2", 2, a), 0);
	store_close(f->store);
	f->store = NULL;
	raw_open_db(f, &r, "hints");
	assert_int_equal(mdb_cursor_open(r.txn, r.dbi, &cur), 0);
	assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
	copy = malloc(v.mv_size);
	assert_non_null(copy);
	memcpy(copy, v.mv_data, v.mv_size);
	copy[v.mv_size / 2] ^= 0x01;
	v.mv_data = copy;
	assert_int_equal(mdb_cursor_put(cur, &k, &v, MDB_CURRENT), 0);
	mdb_cursor_close(cur);
	raw_close(&r);
	free(copy);
	store_reopen(f);

	assert_int_equal(store_hint_pending(f->store, "T"), 1);
	store_hint_pos_init(&pos);
	assert_int_equal(store_hint_scan(f->store, "T", &pos, 10, 1 << 20,
	                                 hint_collect, &seen, &res),
	                 0);
	assert_int_equal(res.corrupt, 1);
	assert_int_equal(seen.n, 1);
	dvv_free(a);
}

/* --- the writer thread ---------------------------------------------------- */

/* Queue one write and turn the loop once without waiting: the commit
 * event hands it to the writer thread, whose callback has not run. */
static void hand_one(struct fixture *f, uint32_t part, const char *key,
                     struct done *d)
{
	struct dvv_value v;

	value_set(&v, key);
	assert_int_equal(store_update(f->store, part, key, strlen(key), NULL,
	                              &v, on_done, d),
	                 0);
	assert_int_equal(event_base_loop(f->base, EVLOOP_NONBLOCK), 0);
	assert_int_equal(d->calls, 0);
}

/* Writes queued while a batch is in the writer wait for it, then form
 * one batch of their own: callbacks in queue order, and each write to the
 * shared key sees every earlier one (blind writes of one actor pile up as
 * siblings, one more each). */
static void test_writes_queued_during_a_commit(void **state)
{
	struct fixture *f = *state;
	enum { N = 41 };
	struct done d[N] = {{0}};
	struct store_stats st;
	struct dvv_value v;
	char key[16];
	size_t shared = 1;

	if (periodic)
		skip(); /* the writer's batches */

	hand_one(f, 2, "hot", &d[0]);
	for (int i = 1; i < N; i++) {
		if (i % 4 == 0)
			snprintf(key, sizeof(key), "hot");
		else
			snprintf(key, sizeof(key), "key-%d", i);
		value_set(&v, "later");
		assert_int_equal(store_update(f->store, 2, key, strlen(key),
		                              NULL, &v, on_done, &d[i]),
		                 0);
	}
	run_until_done(f, d, N);
	store_get_stats(f->store, &st);
	assert_int_equal(st.commits, 2);
	assert_int_equal(st.mutations, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(d[i].calls, 1);
		assert_int_equal(d[i].status, 0);
		assert_int_equal(d[i].order, i);
		if (i % 4 == 0)
			assert_int_equal(dvv_value_count(d[i].obj), shared++);
		else
			assert_int_equal(dvv_value_count(d[i].obj), 1);
	}
	store_get_stats(f->store, &st);
	assert_int_equal(st.keys, 1 + N - (N + 3) / 4);
	done_clear(d, N);
}

/* store_close with a batch in the writer and another queued behind it:
 * every callback runs, in order, and both batches are on disk. */
static void test_close_with_a_batch_in_flight(void **state)
{
	struct fixture *f = *state;
	struct done d[2] = {{0}};
	struct dvv_value v;

	if (periodic)
		skip(); /* the writer's batches */
	shutdown_status = 0;
	hand_one(f, 4, "inflight", &d[0]);
	value_set(&v, "queued");
	assert_int_equal(
	    store_update(f->store, 4, "queued", 6, NULL, &v, on_done, &d[1]),
	    0);
	assert_int_equal(store_update(f->store, 4, "last", 4, NULL, &v,
	                              on_done_during_close, f->store),
	                 0);
	store_close(f->store);
	f->store = NULL;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(d[i].calls, 1);
		assert_int_equal(d[i].status, 0);
		assert_int_equal(d[i].order, i);
	}
	assert_int_equal(shutdown_status, RKV_ESHUTDOWN);
	store_reopen(f);
	assert_holds(f, 4, "inflight", "inflight");
	assert_holds(f, 4, "queued", "queued");
	assert_holds(f, 4, "last", "queued");
	done_clear(d, 2);
}

static int count_scan(const void *key, size_t klen, const struct dvv *obj,
                      void *arg)
{
	(void)key;
	(void)klen;
	(void)obj;
	(*(size_t *)arg)++;
	return 0;
}

/* Reads on the loop thread while the writer applies and commits a batch
 * see a committed snapshot: the whole batch or none of it, never a part;
 * a metadata write waits for the commit. Once a callback has reported
 * success, reads see its write. */
static void test_reads_during_a_commit(void **state)
{
	struct fixture *f = *state;
	enum { N = 200, POLLS = 1000 };
	struct done *d = calloc(N, sizeof(*d));
	struct store_scan_result res;
	struct dvv_value v;
	struct dvv *obj = NULL;
	uint8_t *blob = NULL;
	size_t len = 0;
	char key[16];

	assert_non_null(d);
	value_set(&v, "batch");
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "r-%03d", i);
		assert_int_equal(store_update(f->store, 6, key, strlen(key),
		                              NULL, &v, on_done, &d[i]),
		                 0);
	}
	assert_int_equal(event_base_loop(f->base, EVLOOP_NONBLOCK), 0);
	/* Poll until the commit shows (the loop is not turned meanwhile,
	 * so no callback runs), POLLS times at most. */
	for (size_t poll = 0, seen = 0; poll < POLLS && seen < N; poll++) {
		struct store_scan_pos pos;
		int got = 0;
		seen = 0;
		store_scan_pos_init(&pos);
		assert_int_equal(store_scan(f->store, 6, &pos, SIZE_MAX,
		                            SIZE_MAX, count_scan, &seen, &res),
		                 0);
		assert_true(seen == 0 || seen == N);
		/* The last key of the batch, read after the scan: if the
		 * scan saw the batch, so does the get. */
		got = store_get(f->store, 6, "r-199", 5, &obj);
		assert_true(got == 0 || (got == RKV_ENOTFOUND && seen == 0));
		dvv_free(obj);
		obj = NULL;
	}
	assert_int_equal(store_meta_put(f->store, "during", "x", 1), 0);
	run_until_done(f, d, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(d[i].status, 0);
	assert_holds(f, 6, "r-000", "batch");
	assert_holds(f, 6, "r-199", "batch");
	assert_int_equal(store_meta_get(f->store, "during", &blob, &len), 0);
	assert_int_equal(len, 1);
	free(blob);
	done_clear(d, N);
	free(d);
}

/* The second opener of test_second_open_is_locked: 0 when the store at
 * dir is refused as locked. */
static int open_elsewhere(const char *dir)
{
	struct event_base *base = base_new();
	struct codec *codec = codec_new();
	struct store_options o = {
	    .dir = dir, .sync_batch = true, .map_size = 64u << 20};
	struct store *s = NULL;
	int rc = store_open(&s, base, codec, &o);

	store_close(s);
	codec_free(codec);
	event_base_free(base);
	return rc == RKV_ELOCKED ? 0 : 1;
}

/* --- compaction ----------------------------------------------------------- */

static void compact_key(int i, char *key, size_t klen, char *text, size_t tlen)
{
	snprintf(key, klen, "key-%06d", i);
	snprintf(text, tlen,
	         "value %06d of eighty bytes or so, long enough "
	         "to fill pages",
	         i);
}

/* Keys written in scattered order (as a hash spreads them) leave pages
 * part full; a compaction writes them full, and keeps every object, the
 * node id and the hints. */
static void test_compact(void **state)
{
	struct fixture *f = *state;
	enum { N = 3000 };
	struct done *d = calloc(N, sizeof(*d));
	struct dvv *hint = hint_obj(1, "hinted"), *got = NULL;
	struct store_compaction sc;
	struct dvv_value v;
	uint64_t id = store_node_id(f->store);
	char key[32], text[96], path[4200];
	struct stat st;

	assert_non_null(d);
	for (int i = 0; i < N; i++) {
		int k = (int)(((unsigned)i * 7919u) % N);
		compact_key(k, key, sizeof(key), text, sizeof(text));
		value_set(&v, text);
		assert_int_equal(store_update(f->store, (uint32_t)k % 8, key,
		                              strlen(key), NULL, &v, on_done,
		                              &d[i]),
		                 0);
	}
	all_done_ok(f, d, N);
	assert_int_equal(hint_put(f, "10.0.0.1:8099", 3, "k", 1, hint), 0);

	/* An open store is not compacted, and keeps serving. */
	assert_int_equal(store_compact(f->dir, &sc), RKV_ELOCKED);
	assert_holds(f, 1, "key-000001",
	             "value 000001 of eighty bytes or so, "
	             "long enough to fill pages");

	store_close(f->store);
	f->store = NULL;
	/* What a compaction that crashed would leave: overwritten. */
	snprintf(path, sizeof(path), "%s/data.mdb.compact", f->dir);
	FILE *stale = fopen(path, "w");
	assert_non_null(stale);
	fputs("half a database", stale);
	fclose(stale);
	assert_int_equal(store_compact(f->dir, &sc), 0);
	/* Pages about two thirds full before, full after. */
	assert_true(sc.after * 10 < sc.before * 8);
	snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal((uint64_t)st.st_size, sc.after);
	snprintf(path, sizeof(path), "%s/data.mdb.compact", f->dir);
	assert_int_not_equal(stat(path, &st), 0);

	store_reopen(f);
	for (int i = 0; i < N; i++) {
		compact_key(i, key, sizeof(key), text, sizeof(text));
		assert_holds(f, (uint32_t)i % 8, key, text);
	}
	assert_int_equal(store_node_id(f->store), id);
	assert_int_equal(store_hint_pending(f->store, "10.0.0.1:8099"), 1);
	assert_int_equal(
	    store_hint_get(f->store, "10.0.0.1:8099", 3, "k", 1, &got), 0);
	assert_true(dvv_equal(got, hint));
	dvv_free(got);
	dvv_free(hint);
	/* It goes on taking writes. */
	put(f, 2, "after", "compaction");
	assert_holds(f, 2, "after", "compaction");
}

/* Where there is no store, compaction says so and creates none. */
static void test_compact_without_a_store(void **state)
{
	struct fixture *f = *state;
	struct store_compaction sc;
	char dir[4200], path[4300];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/empty", f->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(store_compact(dir, &sc), RKV_EIO);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	assert_int_not_equal(stat(path, &st), 0);
}

static void reopen_in_mode(struct fixture *f, bool batch)
{
	struct store_options o = options(f);

	store_close(f->store);
	f->store = NULL;
	o.sync_batch = batch;
	o.sync_interval_ms = batch ? 0 : 20;
	assert_int_equal(store_open(&f->store, f->base, f->codec, &o), 0);
}

/* Write keys 0..n (scattered order, partition key % 8) through store_update,
 * to completion. */
static void compact_fill(struct fixture *f, int n)
{
	struct done *d = calloc((size_t)n, sizeof(*d));
	struct dvv_value v;
	char key[32], text[96];

	assert_non_null(d);
	for (int i = 0; i < n; i++) {
		int k = (int)(((unsigned)i * 7919u) % (unsigned)n);
		compact_key(k, key, sizeof(key), text, sizeof(text));
		value_set(&v, text);
		assert_int_equal(store_update(f->store, (uint32_t)k % 8, key,
		                              strlen(key), NULL, &v, on_done,
		                              &d[i]),
		                 0);
	}
	all_done_ok(f, d, n);
}

/* What test_online_compaction leaves: keys 0..n, except partition 7's,
 * gone with it, and key 1, superseded; written[0..w) "during-%d"; the
 * metadata and the hint that stayed. */
static void assert_compacted_store(struct fixture *f, int n, int w,
                                   const struct dvv *hint)
{
	struct dvv *got = NULL;
	uint8_t *meta = NULL;
	size_t mlen = 0;
	char key[32], text[96];

	for (int i = 0; i < n; i++) {
		compact_key(i, key, sizeof(key), text, sizeof(text));
		if (i % 8 == 7)
			assert_int_equal(
			    store_get(f->store, 7, key, strlen(key), &got),
			    RKV_ENOTFOUND);
		else
			assert_holds(f, (uint32_t)i % 8, key,
			             i == 1 ? "superseded" : text);
	}
	for (int i = 0; i < w; i++) {
		snprintf(key, sizeof(key), "during-%d", i);
		assert_holds(f, (uint32_t)i % 7, key, key);
	}
	assert_int_equal(store_meta_get(f->store, "m", &meta, &mlen), 0);
	assert_int_equal(mlen, 6);
	assert_memory_equal(meta, "during", 6);
	free(meta);
	assert_int_equal(store_hint_pending(f->store, "10.0.0.1:8099"), 1);
	assert_int_equal(
	    store_hint_get(f->store, "10.0.0.1:8099", 3, "k", 1, &got), 0);
	assert_true(dvv_equal(got, hint));
	dvv_free(got);
	assert_int_equal(
	    store_hint_get(f->store, "10.0.0.1:8099", 3, "gone", 4, &got),
	    RKV_ENOTFOUND);
}

/* Online, the store keeps taking every kind of write while a thread
 * copies it; the copy, caught up with them, takes the database's place,
 * smaller, and nothing written before or during it is lost, before or
 * after a reopen. */
static void online_compaction(struct fixture *f, bool batch)
{
	enum { N = 3000 };
	struct dvv *hint = hint_obj(1, "hinted");
	struct dvv *gone = hint_obj(1, "handed off");
	struct store_stats st;
	struct dvv_vv ctx = {0, NULL};
	struct dvv_value v;
	struct dvv *obj = NULL;
	char key[32], text[96], path[4200];
	size_t deleted = 0;
	bool more = true;
	int w = 0;

	reopen_in_mode(f, batch);
	compact_fill(f, N);
	assert_int_equal(hint_put(f, "10.0.0.1:8099", 3, "k", 1, hint), 0);
	assert_int_equal(hint_put(f, "10.0.0.1:8099", 3, "gone", 4, gone), 0);
	assert_int_equal(store_meta_put(f->store, "m", "before", 6), 0);
	compact_key(1, key, sizeof(key), text, sizeof(text));
	assert_int_equal(store_get(f->store, 1, key, strlen(key), &obj), 0);
	assert_int_equal(dvv_join(obj, &ctx), 0);
	dvv_free(obj);

	assert_int_equal(store_compact_start(f->store), 0);
	assert_true(store_compacting(f->store));
	assert_int_equal(store_compact_start(f->store), RKV_EBUSY);
	/* Every kind of write, after the snapshot. */
	value_set(&v, "superseded");
	{
		struct done d = {0};
		assert_int_equal(store_update(f->store, 1, key, strlen(key),
		                              &ctx, &v, on_done, &d),
		                 0);
		run_until_done(f, &d, 1);
		assert_int_equal(d.status, 0);
		done_clear(&d, 1);
	}
	dvv_vv_deinit(&ctx);
	assert_true(hint_del(f, "10.0.0.1:8099", 3, "gone", gone));
	assert_int_equal(store_meta_put(f->store, "m", "during", 6), 0);
	while (more)
		assert_int_equal(
		    store_partition_delete(f->store, 7, 100, &deleted, &more),
		    0);
	/* A group in every turn until the copy is in place, or a few:
	 * writes the catch-up inserts one by one leave pages half full. */
	for (int turn = 0; store_compacting(f->store); turn++) {
		struct done d[4] = {{0}};
		assert_true(turn < 20000);
		if (w >= 8) {
			event_base_loop(f->base, EVLOOP_ONCE);
			continue;
		}
		for (int i = 0; i < 4; i++, w++) {
			snprintf(key, sizeof(key), "during-%d", w);
			value_set(&v, key);
			assert_int_equal(store_update(f->store, (uint32_t)w % 7,
			                              key, strlen(key), NULL,
			                              &v, on_done, &d[i]),
			                 0);
		}
		run_until_done(f, d, 4);
		for (int i = 0; i < 4; i++)
			assert_int_equal(d[i].status, 0);
		done_clear(d, 4);
	}
	store_get_stats(f->store, &st);
	assert_int_equal(st.compactions, 1);
	assert_false(st.compacting);
	assert_true(st.last_compaction.caught_up >= (uint64_t)w);
	/* Smaller by the pages a scattered fill leaves empty, less the
	 * ones the catch-up splits and copies. */
	assert_true(st.last_compaction.after * 20 <
	            st.last_compaction.before * 17);
	assert_compacted_store(f, N, w, hint);
	put(f, 2, "after", "compaction");

	reopen_in_mode(f, batch);
	assert_compacted_store(f, N, w, hint);
	assert_holds(f, 2, "after", "compaction");
	snprintf(path, sizeof(path), "%s/data.mdb.compact", f->dir);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/data.mdb.compact-lock", f->dir);
	assert_int_not_equal(access(path, F_OK), 0);
	dvv_free(hint);
	dvv_free(gone);
}

static void test_online_compaction_batch(void **state)
{
	online_compaction(*state, true);
}

static void test_online_compaction_periodic(void **state)
{
	online_compaction(*state, false);
}

/* Sizes and estimates are as of the last checkpoint: a count by
 * partition has the writer take one. */
static void settle(struct fixture *f)
{
	uint64_t keys = 0, bytes = 0;

	assert_int_equal(store_partition_stats(f->store, 0, &keys, &bytes), 0);
}

/* What /stats says a compaction would leave is what it leaves, near
 * enough to decide on. */
static void test_compact_estimate(void **state)
{
	struct fixture *f = *state;
	struct store_compaction sc;
	struct store_stats st;

	store_get_stats(f->store, &st);
	assert_true(st.compact_estimate > 0); /* LMDB's own pages */
	compact_fill(f, 3000);
	settle(f);
	store_get_stats(f->store, &st);
	store_close(f->store);
	f->store = NULL;
	assert_int_equal(store_compact(f->dir, &sc), 0);
	assert_true(st.compact_estimate * 10 >= sc.after * 9);
	assert_true(st.compact_estimate * 10 <= sc.after * 11);
	assert_true(st.disk_bytes > st.compact_estimate);
	store_reopen(f);
}

/* A store told to look often compacts itself once it has grown past
 * compact_ratio times the estimate. */
static void test_compact_automatic(void **state)
{
	struct fixture *f = *state;
	struct store_options o = options(f);
	struct store_stats st;
	char key[32], text[96];

	compact_fill(f, 3000);
	store_close(f->store);
	f->store = NULL;
	o.compact_check_ms = 5;
	o.compact_ratio = 1.2;
	assert_int_equal(store_open(&f->store, f->base, f->codec, &o), 0);
	store_get_stats(f->store, &st);
	assert_true(st.disk_bytes > st.compact_estimate * 12 / 10);
	for (int turn = 0; st.compactions == 0; turn++) {
		assert_true(turn < 2000);
		event_base_loop(f->base, EVLOOP_ONCE);
		store_get_stats(f->store, &st);
	}
	assert_true(st.disk_bytes < st.last_compaction.before);
	for (int i = 0; i < 3000; i++) {
		compact_key(i, key, sizeof(key), text, sizeof(text));
		assert_holds(f, (uint32_t)i % 8, key, text);
	}
}

/* Writes noted during the copy are copied again off the loop, in a
 * round, so the pause only has what came during the round: here the
 * deletion of a whole partition, noted at once, and nothing after. */
static void test_online_compaction_rounds(void **state)
{
	struct fixture *f = *state;
	enum { N = 9000 };
	struct store_stats st;
	struct dvv *obj = NULL;
	char key[32], text[96];
	size_t deleted = 0, total = 0;
	bool more = true;

	compact_fill(f, N);
	assert_int_equal(store_compact_start(f->store), 0);
	while (more) {
		assert_int_equal(
		    store_partition_delete(f->store, 7, 4096, &deleted, &more),
		    0);
		total += deleted;
	}
	assert_true(total >= 1024); /* enough for a round */
	for (int turn = 0; store_compacting(f->store); turn++) {
		assert_true(turn < 20000);
		event_base_loop(f->base, EVLOOP_ONCE);
	}
	store_get_stats(f->store, &st);
	assert_int_equal(st.compactions, 1);
	assert_true(st.last_compaction.caught_up < total);
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < N; i++) {
			compact_key(i, key, sizeof(key), text, sizeof(text));
			if (i % 8 == 7)
				assert_int_equal(store_get(f->store, 7, key,
				                           strlen(key), &obj),
				                 RKV_ENOTFOUND);
			else
				assert_holds(f, (uint32_t)i % 8, key, text);
		}
		store_reopen(f);
	}
}

/* Closing the store in the middle of a compaction drops the copy and
 * keeps every write. */
static void test_close_during_online_compaction(void **state)
{
	struct fixture *f = *state;
	enum { N = 3000 };
	char key[32], text[96], path[4200];

	compact_fill(f, N);
	assert_int_equal(store_compact_start(f->store), 0);
	put(f, 0, "during", "the copy");
	store_reopen(f);
	assert_false(store_compacting(f->store));
	assert_holds(f, 0, "during", "the copy");
	for (int i = 0; i < N; i++) {
		compact_key(i, key, sizeof(key), text, sizeof(text));
		assert_holds(f, (uint32_t)i % 8, key, text);
	}
	snprintf(path, sizeof(path), "%s/data.mdb.compact", f->dir);
	assert_int_not_equal(access(path, F_OK), 0);
}

/* --- the actor after a crash -----------------------------------------------
 */

/* What an open finds when the last run did not close the store: the
 * "running" marker of a run with sync = periodic (or batch) on the boot
 * of the machine named boot, written with the store closed. */
static void mark_running(struct fixture *f, bool was_periodic, const char *boot)
{
	struct raw r;
	uint8_t mark[37];
	MDB_val k = {7, (void *)"running"}, v = {sizeof(mark), mark};

	mark[0] = was_periodic ? 1 : 0;
	memcpy(mark + 1, boot, 36);
	raw_open_db(f, &r, "meta");
	assert_int_equal(mdb_put(r.txn, r.dbi, &k, &v, 0), 0);
	raw_close(&r);
}

static void this_boot(char boot[37])
{
	FILE *b = fopen("/proc/sys/kernel/random/boot_id", "r");
	assert_non_null(b);
	assert_non_null(fgets(boot, 37, b));
	fclose(b);
	assert_int_equal(strlen(boot), 36);
}

static const char other_boot[] = "00000000-0000-4000-8000-000000000000";

/* The machine crashed while the node ran with sync = periodic, and the
 * write of its last interval is gone from its disk, but a replica holds
 * it. A write after the restart must not take that write's dot: the
 * replica would then keep the old value in place of the new one. */
static void test_machine_crash_takes_a_new_actor(void **state)
{
	struct fixture *f = *state;
	uint64_t id = store_node_id(f->store);
	struct dvv *replica = NULL, *after = NULL;
	uint8_t kbuf[4 + STORE_INLINE_KEY];
	MDB_val k = raw_key_bin(kbuf, 5, "k", 1);
	struct raw r;

	assert_int_equal(store_actor(f->store), id);
	put(f, 5, "k", "before");
	assert_int_equal(store_get(f->store, 5, "k", 1, &replica), 0);

	store_close(f->store);
	f->store = NULL;
	raw_open(f, &r);
	assert_int_equal(mdb_del(r.txn, r.dbi, &k, NULL), 0); /* lost */
	raw_close(&r);
	mark_running(f, true, other_boot);
	store_reopen(f);

	assert_true(store_actor(f->store) != id);
	assert_int_equal(store_node_id(f->store), id); /* the same member */
	put(f, 5, "k", "after");
	assert_int_equal(store_get(f->store, 5, "k", 1, &after), 0);
	/* The replica, given the new write, keeps both: nothing is lost. */
	assert_int_equal(dvv_sync(replica, after), 0);
	assert_int_equal(dvv_value_count(replica), 2);
	dvv_free(replica);
	dvv_free(after);

	/* The new actor is kept from then on. */
	uint64_t actor = store_actor(f->store);
	store_reopen(f);
	assert_int_equal(store_actor(f->store), actor);
}

/* Runs that end without a lost commit keep the actor: a clean close, a
 * process that died on the same boot (the page cache kept its commits),
 * and a run with sync = batch (every acknowledged write was on disk). */
static void test_actor_kept_without_a_loss(void **state)
{
	struct fixture *f = *state;
	uint64_t id = store_node_id(f->store);
	char boot[37];

	this_boot(boot);
	store_reopen(f);
	assert_int_equal(store_actor(f->store), id);

	store_close(f->store);
	f->store = NULL;
	mark_running(f, true, boot);
	store_reopen(f);
	assert_int_equal(store_actor(f->store), id);

	store_close(f->store);
	f->store = NULL;
	mark_running(f, false, other_boot);
	store_reopen(f);
	assert_int_equal(store_actor(f->store), id);
}

/* --- the commit log (sync = batch) -----------------------------------------
 */

/* Checkpoints only when asked (store_settle) or at close; with batch
 * false, sync = periodic with no flush of the log during a test. */
static void reopen_checkpointing_on_demand(struct fixture *f, bool batch)
{
	struct store_options o = options(f);

	store_close(f->store);
	f->store = NULL;
	o.checkpoint_ms = 600000;
	o.sync_batch = batch;
	o.sync_interval_ms = 3600 * 1000;
	assert_int_equal(store_open(&f->store, f->base, f->codec, &o), 0);
}

static void reopen_without_timed_checkpoints(struct fixture *f)
{
	reopen_checkpointing_on_demand(f, !periodic);
}

static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n = 0;

	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	close(out);
}

/* What the disk would hold if the machine stopped now (the page cache
 * being the disk here): the store's files, copied while it runs, into
 * <f->dir>/<name>; without the commit log when with_log is false. */
static void crash_image(struct fixture *f, const char *name, bool with_log,
                        char *dir, size_t size)
{
	char from[4300], to[4300];

	snprintf(dir, size, "%s/%s", f->dir, name);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(from, sizeof(from), "%s/data.mdb", f->dir);
	snprintf(to, sizeof(to), "%s/data.mdb", dir);
	copy_file(from, to);
	if (!with_log)
		return;
	snprintf(from, sizeof(from), "%s/commit.log", f->dir);
	snprintf(to, sizeof(to), "%s/commit.log", dir);
	copy_file(from, to);
}

static struct store *open_dir(struct fixture *f, const char *dir)
{
	struct store_options o = options(f);
	struct store *s = NULL;

	o.dir = dir;
	assert_int_equal(store_open(&s, f->base, f->codec, &o), 0);
	return s;
}

static int count_write(void *arg, enum clog_db db, const uint8_t *key,
                       size_t klen, const uint8_t *rec, size_t rlen)
{
	(void)db, (void)key, (void)klen, (void)rec, (void)rlen;
	(*(uint64_t *)arg)++;
	return 0;
}

/* The writes the commit log of dir holds, read as a start would. */
static uint64_t log_writes(const char *dir)
{
	struct clog l;
	struct clog_replay_stats st;
	uint64_t n = 0;

	assert_int_equal(clog_open(&l, dir, 0), 0);
	assert_int_equal(clog_replay(&l, count_write, &n, &st), 0);
	clog_close(&l);
	return n;
}

/* Acknowledged groups live in the commit log until a checkpoint: reads
 * find them meanwhile, a crash keeps them, and the next open puts them
 * into the database and empties the log. With sync = periodic the log
 * is not flushed yet, and the copy (read through the page cache) is
 * what a crash of the process leaves. */
static void acknowledged_groups_survive_a_crash(struct fixture *f, bool batch)
{
	struct dvv *a = hint_obj(7, "hinted");
	struct dvv *got = NULL;
	char with[4200], without[4200];
	struct store *s = NULL;
	struct store_stats st;

	reopen_checkpointing_on_demand(f, batch);
	put(f, 1, "a", "one");
	put(f, 2, "b", "two");
	assert_int_equal(hint_put(f, "t", 3, "h", 1, a), 0);
	assert_holds(f, 1, "a", "one");
	assert_holds(f, 2, "b", "two");
	assert_int_equal(store_hint_get(f->store, "t", 3, "h", 1, &got), 0);
	assert_true(dvv_equal(got, a));
	dvv_free(got);
	crash_image(f, "with-log", true, with, sizeof(with));
	crash_image(f, "without-log", false, without, sizeof(without));

	/* The database alone does not have them yet: the log does. */
	s = open_dir(f, without);
	assert_int_equal(store_get(s, 1, "a", 1, &got), RKV_ENOTFOUND);
	store_close(s);

	s = open_dir(f, with);
	assert_int_equal(log_writes(with), 0);
	assert_store_holds(s, 1, "a", 1, "one");
	assert_store_holds(s, 2, "b", 1, "two");
	assert_int_equal(store_hint_pending(s, "t"), 1);
	assert_int_equal(store_hint_get(s, "t", 3, "h", 1, &got), 0);
	assert_true(dvv_equal(got, a));
	dvv_free(got);
	store_get_stats(s, &st);
	assert_int_equal(st.keys, 2);
	store_close(s);
	dvv_free(a);
}

static void test_acknowledged_groups_survive_a_crash(void **state)
{
	acknowledged_groups_survive_a_crash(*state, true);
}

static void test_periodic_groups_survive_a_process_crash(void **state)
{
	acknowledged_groups_survive_a_crash(*state, false);
}

/* A deleted hint is gone for readers before the checkpoint, and stays
 * gone after a crash. */
static void test_hint_deletion_before_a_checkpoint(void **state)
{
	struct fixture *f = *state;
	struct dvv *a = hint_obj(7, "hinted");
	struct dvv *got = NULL;
	char with[4200];
	struct store *s = NULL;

	assert_int_equal(hint_put(f, "t", 3, "h", 1, a), 0);
	reopen_without_timed_checkpoints(f); /* the hint is in LMDB */
	assert_true(hint_del(f, "t", 3, "h", a));
	assert_int_equal(store_hint_get(f->store, "t", 3, "h", 1, &got),
	                 RKV_ENOTFOUND);
	assert_int_equal(store_hint_pending(f->store, "t"), 0);
	crash_image(f, "with-log", true, with, sizeof(with));
	s = open_dir(f, with);
	assert_int_equal(store_hint_get(s, "t", 3, "h", 1, &got),
	                 RKV_ENOTFOUND);
	assert_int_equal(store_hint_pending(s, "t"), 0);
	store_close(s);
	dvv_free(a);
}

/* Scans, counts and the node's own transactions see every acknowledged
 * group: they have the writer checkpoint first. */
static void test_scans_and_counts_see_recent_groups(void **state)
{
	struct fixture *f = *state;
	struct store_stats st;
	uint64_t keys = 0, bytes = 0;
	size_t deleted = 0;
	bool more = false;
	struct dvv *got = NULL;

	reopen_without_timed_checkpoints(f);
	put(f, 4, "x", "ex");
	put(f, 4, "y", "why");
	assert_int_equal(store_partition_stats(f->store, 4, &keys, &bytes), 0);
	assert_int_equal(keys, 2);
	store_get_stats(f->store, &st);
	assert_int_equal(st.keys, 2);
	assert_true(st.checkpoints >= 1);

	put(f, 4, "z", "zed");
	assert_int_equal(
	    store_partition_delete(f->store, 4, 100, &deleted, &more), 0);
	assert_int_equal(deleted, 3);
	assert_false(more);
	assert_int_equal(store_get(f->store, 4, "z", 1, &got), RKV_ENOTFOUND);
	store_reopen(f);
	assert_int_equal(store_get(f->store, 4, "z", 1, &got), RKV_ENOTFOUND);
}

/* Statistics are polled while writes go on: under sync = batch they
 * count every acknowledged key without making the writer checkpoint, and
 * still count right after the loop's own writes (a partition delete). */
static void test_stats_count_without_checkpoints(void **state)
{
	struct fixture *f = *state;
	struct store_stats st;
	struct histogram times;
	uint64_t keys = 0, bytes = 0;
	size_t deleted = 0;
	bool more = false;

	reopen_without_timed_checkpoints(f);
	put(f, 4, "x", "ex");
	put(f, 4, "y", "why");
	put(f, 5, "z", "zed");
	put(f, 5, "z", "zed again");
	for (int i = 0; i < 3; i++) {
		store_get_stats(f->store, &st);
		assert_int_equal(st.keys, 3);
		assert_int_equal(st.checkpoints, 0);
	}

	assert_int_equal(
	    store_partition_delete(f->store, 4, 100, &deleted, &more), 0);
	assert_int_equal(deleted, 2);
	store_get_stats(f->store, &st);
	assert_int_equal(st.keys, 1);
	put(f, 6, "w", "double-u");
	store_get_stats(f->store, &st);
	assert_int_equal(st.keys, 2);
	assert_int_equal(st.checkpoints, 1); /* the delete's */
	assert_int_equal(store_partition_stats(f->store, 6, &keys, &bytes), 0);
	assert_int_equal(keys, 1);
	/* Each checkpoint's duration is kept (the partition stats made the
	 * second): it is a flush, never instantaneous. */
	store_checkpoint_times(f->store, &times);
	assert_int_equal(histogram_count(&times), 2);
	assert_true(histogram_percentile(&times, 0) > 0);
}

/* A group that fails inside the long transaction (here the map is full)
 * loses the transaction, not the groups acknowledged before it: they are
 * applied again from the log and checkpointed, and writes go on. */
static void test_failed_group_keeps_the_acknowledged_ones(void **state)
{
	struct fixture *f = *state;
	struct done d = {0};
	struct dvv_value big;
	struct store_stats st;
	char with[4200];
	struct store *s = NULL;
	struct dvv *got = NULL;

	reopen_with_small_map(f, 600000);
	put(f, 1, "a", "before");
	big_value(&big);
	assert_int_equal(
	    store_update(f->store, 1, "big", 3, NULL, &big, on_done, &d), 0);
	free(big.data);
	run_until_done(f, &d, 1);
	assert_int_equal(d.status, RKV_EIO);
	done_clear(&d, 1);

	assert_holds(f, 1, "a", "before");
	put(f, 1, "b", "after");
	assert_holds(f, 1, "b", "after");
	/* The rebuild was a checkpoint: the database has "a" by itself, and
	 * "b" is in the log. */
	crash_image(f, "without-log", false, with, sizeof(with));
	s = open_dir(f, with);
	assert_store_holds(s, 1, "a", 1, "before");
	assert_int_equal(store_get(s, 1, "b", 1, &got), RKV_ENOTFOUND);
	store_close(s);
	crash_image(f, "with-log", true, with, sizeof(with));
	s = open_dir(f, with);
	assert_store_holds(s, 1, "a", 1, "before");
	assert_store_holds(s, 1, "b", 1, "after");
	assert_int_equal(store_get(s, 1, "big", 3, &got), RKV_ENOTFOUND);
	store_close(s);
	store_get_stats(f->store, &st);
	assert_int_equal(st.keys, 2);
}

/* Writers that never stop: each callback queues the next write, so the
 * writer is hardly ever idle. Checkpoints must still come on time, or the
 * log (and the recent table) would grow without bound. */
struct steady {
	struct fixture *f;
	int left;   /* writes still to queue, all chains together */
	int active; /* chains not finished */
	char key[16];
};

static void on_steady(int status, const struct dvv *obj, void *arg)
{
	struct steady *st = arg;
	struct dvv_value v;

	(void)obj;
	assert_int_equal(status, 0);
	if (st->left == 0) {
		st->active--;
		return;
	}
	st->left--;
	value_set(&v, "steady");
	snprintf(st->key, sizeof(st->key), "s%d", st->left);
	assert_int_equal(store_update(st->f->store, 6, st->key, strlen(st->key),
	                              NULL, &v, on_steady, st),
	                 0);
}

/* Under periodic the loop applies groups itself and the writer puts
 * their records into LMDB afterwards, but a group with a hint op goes to
 * the writer. Such a group sees the loop's groups before it (a blind
 * write after them is a sibling, not the only value), and the key count
 * has them without a checkpoint. */
static void test_loop_groups_then_the_writer(void **state)
{
	struct fixture *f = *state;
	struct dvv *hinted = NULL;
	struct done d[2] = {{0}};
	struct store_stats st;
	struct dvv_value v;
	struct dvv *obj = NULL;

	if (!periodic)
		skip(); /* every batch group goes to the writer */
	hinted = hint_obj(9, "hinted");
	reopen_checkpointing_on_demand(f, false);
	/* The writer may not have put "first" yet when it takes the
	 * group after. */
	put(f, 1, "k", "first");
	value_set(&v, "second");
	assert_int_equal(
	    store_hint(f->store, "t", 1, "k", 1, hinted, on_done, &d[0]), 0);
	assert_int_equal(
	    store_update(f->store, 1, "k", 1, NULL, &v, on_done, &d[1]), 0);
	run_until_done(f, d, 2);
	assert_int_equal(d[0].status, 0);
	assert_int_equal(d[1].status, 0);
	assert_int_equal(dvv_value_count(d[1].obj), 2);
	put(f, 1, "other", "x");
	put(f, 1, "third", "y");
	store_get_stats(f->store, &st);
	assert_int_equal(st.keys, 3);
	assert_int_equal(st.commits, 4);
	assert_int_equal(st.checkpoints, 0);
	done_clear(d, 2);

	store_reopen(f);
	assert_int_equal(store_get(f->store, 1, "k", 1, &obj), 0);
	assert_int_equal(dvv_value_count(obj), 2);
	dvv_free(obj);
	assert_holds(f, 1, "third", "y");
	dvv_free(hinted);
}

/* Under periodic, once the log holds log_limit bytes not yet
 * checkpointed the loop leaves its groups to the writer. With a limit of
 * one byte and no checkpoint due, every group after the first goes
 * there; the writes are acknowledged and read back all the same, before
 * and after a restart, and the store counts the groups it left. With the
 * default limit, as many writes leave none. */
#define LIMITED_WRITES 20

static void test_log_limit_leaves_groups_to_the_writer(void **state)
{
	struct fixture *f = *state;
	struct store_options o = options(f);
	struct store_stats st;
	char key[16];

	if (!periodic)
		skip(); /* every batch group goes to the writer */
	for (int i = 0; i < LIMITED_WRITES; i++) {
		snprintf(key, sizeof(key), "d%d", i);
		put(f, 1, key, key);
	}
	store_get_stats(f->store, &st);
	assert_int_equal(st.log_full_groups, 0);

	store_close(f->store);
	f->store = NULL;
	o.checkpoint_ms = 600000;
	o.log_limit = 1;
	assert_int_equal(store_open(&f->store, f->base, f->codec, &o), 0);
	for (int i = 0; i < LIMITED_WRITES; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		put(f, 1, key, key);
	}
	store_get_stats(f->store, &st);
	assert_int_equal(st.log_full_groups, LIMITED_WRITES - 1);
	assert_int_equal(st.checkpoints, 0);
	assert_int_equal(st.commits, LIMITED_WRITES);
	for (int i = 0; i < LIMITED_WRITES; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_holds(f, 1, key, key);
	}
	store_reopen(f);
	for (int i = 0; i < LIMITED_WRITES; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_holds(f, 1, key, key);
		snprintf(key, sizeof(key), "d%d", i);
		assert_holds(f, 1, key, key);
	}
}

static void test_checkpoints_under_steady_load(void **state)
{
	struct fixture *f = *state;
	struct store_options o = options(f);
	/* The loop's groups (periodic) wait for no flush: more of them to
	 * last as many milliseconds. */
	const int writes = periodic ? 30000 : 3000;
	struct steady st = {.f = f, .left = writes, .active = 8};
	struct store_stats stats;
	struct timespec t0, t1;
	struct dvv_value v;
	uint64_t logged = 0;

	store_close(f->store);
	f->store = NULL;
	o.checkpoint_ms = 1;
	assert_int_equal(store_open(&f->store, f->base, f->codec, &o), 0);
	value_set(&v, "steady");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(store_update(f->store, 6, "start", 5, NULL, &v,
		                              on_steady, &st),
		                 0);
	while (st.active > 0)
		assert_int_equal(event_base_loop(f->base, EVLOOP_ONCE), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	logged = log_writes(f->dir);
	store_get_stats(f->store, &stats);
	/* Every write went through the log; it holds what came since the
	 * last checkpoint, a few ms at most. */
	print_message("steady load: %lld ms, %llu checkpoints, %llu writes "
	              "in the log at the end\n",
	              (long long)((t1.tv_sec - t0.tv_sec) * 1000 +
	                          (t1.tv_nsec - t0.tv_nsec) / 1000000),
	              (unsigned long long)stats.checkpoints,
	              (unsigned long long)logged);
	assert_true(stats.checkpoints >= 3);
	assert_true(logged < (uint64_t)writes / 4);
	assert_holds(f, 6, "s0", "steady");
}

/* A crash image with groups in its log is not compacted: the copy of the
 * database alone would lose them. Once a start has applied them, it is. */
static void test_compact_waits_for_the_log(void **state)
{
	struct fixture *f = *state;
	struct store_compaction sc;
	char with[4200];
	struct store *s = NULL;

	reopen_without_timed_checkpoints(f);
	put(f, 1, "a", "one");
	crash_image(f, "with-log", true, with, sizeof(with));
	assert_int_equal(store_compact(with, &sc), RKV_EINVAL);
	s = open_dir(f, with);
	store_close(s);
	assert_int_equal(store_compact(with, &sc), 0);
	s = open_dir(f, with);
	assert_store_holds(s, 1, "a", 1, "one");
	store_close(s);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], OPEN_ELSEWHERE) == 0)
		return open_elsewhere(argv[2]);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_with_context_supersedes,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_data_survives_reopen, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_new_dir_new_node_id, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_callback_may_write, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_merge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_merge_take, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_digest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_second_open_is_locked, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_record, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_key_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_input_refused, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_too_many_siblings, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_queue_is_bounded, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_close_flushes, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_periodic_sync, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_periodic_groups_during_checkpoints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_refusals, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_node_id, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_map_full_fails_the_batch,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partition_is_a_range, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_meta_round_trip, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_meta_refusals, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_meta_put_is_committed_at_once,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_meta_corrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scan_partition_in_batches,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scan_resumes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scan_edge_partitions, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_scan_skips_corrupt, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_partition_delete, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_long_keys_round_trip, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_long_keys_sharing_a_head,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_keys_in_scans, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_long_key_slot_collision, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_long_key_corruption, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_hint_round_trip, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_hint_delete_only_if_unchanged,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hint_scan, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hint_refusals, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_hint_corrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_writes_queued_during_a_commit,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_with_a_batch_in_flight,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reads_during_a_commit, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_compact, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_machine_crash_takes_a_new_actor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_actor_kept_without_a_loss,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_online_compaction_batch, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_online_compaction_periodic,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_online_compaction_rounds,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_during_online_compaction,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compact_estimate, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_compact_automatic, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_compact_without_a_store, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_acknowledged_groups_survive_a_crash, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_periodic_groups_survive_a_process_crash, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_hint_deletion_before_a_checkpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_scans_and_counts_see_recent_groups, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_stats_count_without_checkpoints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compact_waits_for_the_log,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loop_groups_then_the_writer,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_log_limit_leaves_groups_to_the_writer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoints_under_steady_load,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_failed_group_keeps_the_acknowledged_ones, setup, teardown),
	};
	/* Keep the expected error lines (corruption, refusals), not the
	 * info line of every open. */
	log_set_level(LOG_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
