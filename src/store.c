/* store.c -- LMDB storage with group commit (see store.h for the layout).
 *
 * Why group commit. With sync = batch every acknowledged write must be on
 * disk, and an fsync costs milliseconds while applying a mutation costs
 * microseconds. So mutations are not written when they arrive: they wait in
 * a bounded FIFO, and the first one to arrive in an empty queue activates
 * the commit event. That event sits at the lowest priority of the base, so
 * libevent runs it only in a loop turn where no higher-priority callback
 * (socket reads, timers) was ready: by then every request that the turn's
 * I/O delivered has been queued, and one transaction carries them all.
 * The group runs on a writer thread (see "the writer thread" below) while
 * the loop queues the next group, and it is made durable by the commit
 * log rather than by flushing the B-tree (see "the commit log"):
 *
 *   store_update --+                        writer thread, the long write
 *   store_merge  --+--> [op][op][op]... --> txn: read, dvv_update/sync,
 *   store_update --+    (bounded)           write per op; log append (and
 *                                           with sync = batch, fdatasync);
 *                                           then, on the loop, every op's
 *                                           callback, in order
 *
 * Callbacks run after the append, so a callback's status 0 means the
 * object survives the process; with sync = batch, the machine too. A
 * callback may queue new mutations; they form a later group.
 *
 * Failures are per mutation where they can be: a stored record that fails
 * its checksum, or an update the DVV code cannot apply, fails only its own
 * op (nothing is written for it) while the rest commit. An LMDB error
 * (map full, I/O) leaves the write transaction unusable, so it fails the
 * whole group with RKV_EIO (the groups acknowledged before it are kept:
 * store_rebuild).
 *
 * Reads use one read-only transaction handle that is reset after each read
 * and renewed for the next, which avoids a malloc per read and never pins
 * an old snapshot between reads (a pinned snapshot stops LMDB from reusing
 * freed pages). MDB_NOTLS ties read transactions to no thread: that
 * keeps the handle legal alongside a write transaction of the loop thread
 * (store_meta_put from a scan callback) and lets the loop read while the
 * writer thread commits.
 *
 * Long keys. LMDB keys stop at 511 bytes, the product's keys at
 * max_key_bytes (1024 by default). A key that does not fit is filed under
 * a slot made of its head and its XXH3-128, and its record carries the
 * whole key (format 2, see store.h): a lookup lands on the slot in one
 * B-tree descent as before, and the key copy both proves the record is
 * the one asked for and lets a scan hand back the real key. Keys that fit
 * keep the first release's layout byte for byte, so nothing on disk moves.
 *
 * Scans and partition walks. A partition is one key range, so handoff,
 * transfer and anti-entropy walk it with a cursor in bounded batches. Each
 * batch has a read transaction of its own, held only for the call: the
 * caller's position is a slot, not a cursor, so no snapshot stays pinned
 * between batches (which would stop LMDB from reusing freed pages) and the
 * scan callback may read and write the store meanwhile.
 *
 * Hints. A fallback keeps what it receives for a down primary in the
 * "hints" database (store.h has the layout), through the same queue and
 * group commit as every other mutation: a hint is as durable as the write
 * it acknowledges. Handoff deletes a hint with a compare-and-delete
 * (STORE_OP_HINT_DELETE): it goes only if it still equals what the primary
 * acknowledged, so a write merged into it meanwhile is never lost. The
 * count of hints per primary is kept in memory (counted once at open, then
 * moved by each committed hint op) because /stats and handoff ask for it
 * all the time and LMDB can only count a whole database.
 *
 * One process per directory: LMDB's own lock file is shared between
 * processes by design, so an exclusive flock on <dir>/LOCK is what stops a
 * second ringkvd from writing the same objects under another node id.
 */
#include "store.h"

#include "byteorder.h"
#include "clock.h"
#include "commitlog.h"
#include "dirsync.h"
#include "logging.h"
#include "status.h"

#include <assert.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

/* The first byte of every stored value: the layout of what follows. */
#define STORE_FORMAT      1 /* inline key: Avro ++ sum */
#define STORE_FORMAT_LONG 2 /* long key: length ++ key ++ Avro ++ sum */
#define STORE_META_FORMAT 1 /* metadata blob: blob ++ sum */
#define STORE_PREFIX      4 /* big-endian partition in front of the key */
#define STORE_SUM_BYTES   8 /* XXH3-64, little-endian */
#define STORE_KLEN_BYTES  4 /* format 2: u32 key length, little-endian */

/* The longest LMDB key we make: partition ++ the longest slot. */
#define STORE_DKEY_MAX (STORE_PREFIX + STORE_INLINE_KEY)

static_assert(STORE_DKEY_MAX == 511, "LMDB's default maximum key size");
static_assert(sizeof(XXH128_canonical_t) == STORE_KEY_HASH,
              "a long key's slot ends in a whole XXH3-128");
static_assert(STORE_MAX_KEY <= UINT32_MAX, "format 2 has a u32 length");

/* Named databases: "objects", "meta" and "hints"; room for more. */
#define STORE_MAX_DBS          8
#define STORE_DEFAULT_MAP_SIZE ((size_t)8 << 30)

/* Bytes of a key shown in a log line; the rest is cut. */
#define STORE_LOG_KEY 96

/* getrandom() attempts before giving up on a non-zero node id. */
#define STORE_ID_TRIES 8

/* The writer commits its long transaction (a checkpoint, see "the
 * commit log" below) once it is this old or the commit log holds this
 * many bytes, whichever comes first. They bound the work a checkpoint
 * flushes, the memory its dirty pages and the recent table hold, what a
 * restart replays, and how far the file grows past the live pages: a
 * checkpoint's copies of the pages it changed can only take the place of
 * pages freed before it (docs/benchmarks.md, "The checkpoint interval"). */
#define STORE_CHECKPOINT_MS    250 /* store_options.checkpoint_ms */
#define STORE_CHECKPOINT_BYTES ((uint64_t)8 << 20)
/* Under sync = periodic the writer owes the loop nothing a client waits
 * for: it puts records the loop has acknowledged and commits
 * checkpoints. At the loop's priority it takes its turns on a busy
 * machine's cores from the loops and their clients; so it runs this much
 * nicer (a thread's own nice value, as Linux keeps it) and takes what
 * they leave (docs/benchmarks.md, "The writer's priority"). Under batch
 * every group waits for it, and it keeps the loop's priority. */
#define STORE_WRITER_NICE 10
/* How far it may fall behind: once the log holds this many bytes not yet
 * checkpointed (store_options.log_limit), the loop stops applying groups
 * and hands them to the writer, whose checkpoint, due since the log
 * passed STORE_CHECKPOINT_BYTES, empties the log before long. The log,
 * the records waiting for the writer and the recent table all grow with
 * how far behind it is. */
#define STORE_LOG_LIMIT (2 * STORE_CHECKPOINT_BYTES)
/* The recent table's first size (buckets, a power of two); it doubles
 * when it holds more entries than buckets. */
#define STORE_RECENT_BUCKETS 4096

/* Objects live in a named database too: LMDB keeps the names of named
 * databases as keys of the unnamed one, which would otherwise mix "meta"
 * into the object key space (and into the key count and range scans). */
#define STORE_NDBS 3
static const char *const store_db_names[STORE_NDBS] = {"objects", "meta",
                                                       "hints"};
static const char store_meta_node_id[] = "node_id";
static const char store_meta_actor[] = "actor";
static const char store_meta_running[] = "running";

enum store_op_kind {
	STORE_OP_UPDATE,      /* dvv_update(stored, ctx, node id, value) */
	STORE_OP_MERGE,       /* dvv_sync(stored, obj) */
	STORE_OP_HINT,        /* hints: dvv_sync(stored hint, obj) */
	STORE_OP_HINT_DELETE, /* hints: delete if it still equals obj */
};

/* One queued mutation; the database key (and a long user key) are stored
 * inline after it. */
struct store_op {
	struct store_op *next;
	enum store_op_kind kind;
	struct dvv_vv ctx;      /* UPDATE: copy of the client's context */
	struct dvv_value value; /* UPDATE: copy of the written value */
	struct dvv *obj;        /* MERGE: copy of the incoming object */
	struct dvv *result;     /* the object as committed (status 0) */
	int status;
	store_done_fn *cb;
	void *arg;
	const uint8_t *key; /* the user key: in dkey, or after it if long */
	size_t klen;
	const char *target; /* hint ops: the primary's name, after the key */
	struct store_hint_target *t; /* hint ops: its entry */
	int hint_delta; /* hint ops: change of t->pending if committed */
	struct store_recent_entry *recent; /* what it wrote */
	size_t dklen;
	uint8_t dkey[]; /* the database key [++ user key] [++ target] */
};

/* A record written by an acknowledged group that the long transaction
 * has not committed yet, or the deletion of one (see "the commit log"
 * below). Made by the writer, owned by the loop from the batch's
 * callbacks on. */
struct store_recent_entry {
	struct store_recent_entry *next; /* in its bucket */
	uint64_t gen;  /* the writer's generation that wrote it */
	uint64_t hash; /* XXH3-64 of db and key */
	enum clog_db db;
	bool deleted; /* a hint deleted: no record */
	size_t dklen;
	size_t rlen;
	uint8_t bytes[]; /* the database key ++ the record */
};

/* The loop's table of recent entries, chained by hash. */
struct store_recent {
	struct store_recent_entry **buckets;
	size_t nbuckets; /* a power of two */
	size_t n;
};

/* One node this store holds hints for. Entries are only appended, so
 * their addresses and names stay valid until store_close. */
struct store_hint_target {
	char name[STORE_MAX_HINT_TARGET + 1];
	uint64_t tag;     /* the first 8 bytes of its hints' database keys */
	uint64_t pending; /* hints committed */
};

struct store_queue {
	struct store_op *head;
	struct store_op **tail;
	size_t n; /* <= STORE_MAX_PENDING */
};

/* Who owns what. The loop thread (the event base's) owns every field not
 * listed below: the queue, the counters, the hint table, the observer,
 * rtxn and the caller's codec, and `busy`. The writer thread owns
 * w_codec and, from the hand-over until it publishes the batch in
 * w_done, the ops of the batch in flight (the loop does not touch them
 * meanwhile). Under sync = batch the log is the writer's; under
 * periodic the loop also appends the groups it applies itself
 * (l_logging, store_apply_here) whenever no batch is in the writer and
 * the writer has not taken the log back (w_logs: a checkpoint's reset, a
 * rebuild).
 * The fields under "shared" are read and written with mu held, which is
 * also what publishes an op's fields from one thread to the other. What
 * store_open sets before the writer starts (env, the dbis, node_id,
 * actor, sync_batch, dir, done_fd) is read-only afterwards. */
struct store {
	struct event_base *base;
	struct codec *codec; /* the caller's; loop thread only */
	char *dir;           /* for log lines */
	int lock_fd;         /* holds the flock; -1 when not held */
	MDB_env *env;
	MDB_dbi objects_dbi;
	MDB_dbi meta_dbi;
	MDB_dbi hints_dbi;
	MDB_txn *rtxn; /* reusable read txn, reset between reads */
	uint64_t node_id;
	uint64_t actor;      /* the dots' actor: store_actor_load */
	bool marked_running; /* store_close removes the "running" marker */
	bool sync_batch;
	store_observer_fn *observer; /* store_set_observer */
	void *observer_arg;
	bool closing; /* store_close has begun: no new mutations */
	bool busy;    /* a batch is in the writer (handed, not yet finished) */
	struct event *commit_ev;
	struct event *done_ev; /* done_fd readable: the writer finished */
	struct event *sync_ev; /* periodic only: flushes the log */
	struct store_queue queue;
	uint64_t commits;
	uint64_t mutations;
	/* hints: per target, the total, queued ops, committed writes */
	struct store_hint_target **targets;
	size_t ntargets, tcap;
	uint64_t hints;
	size_t hint_ops_queued;
	uint64_t hint_writes;
	bool hint_corrupt_logged;
	/* groups not yet checkpointed, and what is known of the writer's
	 * checkpoints */
	struct store_recent recent;
	uint64_t recent_gen; /* entries of generations <= it were dropped */
	bool unsettled;      /* a batch was handed since the last settle */
	uint64_t checkpoint_groups; /* groups store_apply_here applied */
	uint64_t log_full_groups; /* groups it left to the writer: log_limit */
	/* the writer thread */
	struct codec *w_codec; /* the writer's own: a codec is per thread */
	MDB_cursor *w_objects; /* on "objects", in the write transaction */
	/* the commit log and the long write transaction */
	struct clog clog;
	MDB_txn *w_txn;              /* open between checkpoints, or NULL */
	struct timespec w_txn_begun; /* CLOCK_MONOTONIC */
	uint64_t w_gen;              /* generation of w_txn: 1, 2, ... */
	unsigned checkpoint_ms;      /* read-only after store_open */
	uint64_t log_limit;          /* read-only after store_open */
	bool w_failed; /* the log could not be checkpointed: writes refused */
	int done_fd;   /* eventfd the writer signals; -1 if none */
	pthread_t writer;
	bool writer_started;
	/* shared, under mu */
	pthread_mutex_t mu;
	pthread_cond_t work; /* the writer waits: w_batch, w_sync, w_stop */
	pthread_cond_t done; /* store_close waits: w_done */
	struct store_op *w_batch; /* handed to the writer, not yet taken */
	struct store_op *w_done;  /* applied and committed (or failed) */
	int w_done_status;        /* 0 or RKV_EIO: the batch's commit */
	bool w_sync;              /* periodic: the timer asks for a flush */
	bool w_settle;            /* the loop waits for a checkpoint */
	uint64_t ckpt_gen;        /* generations <= it are in LMDB */
	uint64_t checkpoints;     /* long transactions committed */
	struct histogram ckpt_us; /* how long each one held the writer */
	uint64_t w_keys;          /* objects after the last group */
	bool w_keys_known;        /* w_keys counts every group since
	                           * the loop last settled */
	bool w_stop;              /* store_close: exit once idle */
	/* periodic: the loop applies groups itself (store_apply_here).
	 * Their records go to l_pending, which the writer puts into the
	 * long transaction, or, while the writer is inside a checkpoint's
	 * commit (w_committing), to l_carry, which opens the next one. */
	bool w_committing;
	bool w_logs;    /* the writer has taken the log back */
	bool l_logging; /* the loop is writing the log */
	uint64_t l_gen; /* the generation of what the loop applies meanwhile */
	struct store_recent_entry *l_pending;
	struct store_recent_entry **l_pending_tail;
	struct store_recent_entry *l_carry;
	struct store_recent_entry **l_carry_tail;
	bool dirty; /* periodic: log blocks written since the last flush */
	uint64_t log_bytes; /* the log's size after its last block */
	bool w_replaying;   /* the writer is putting l_pending's records */
	/* owned with the log: the map the records logged since the last
	 * checkpoint may take (store_record_room) */
	uint64_t log_room;
	size_t psize; /* LMDB's page size; read-only after store_open */
	/* online compaction (the loop's; see "online compaction"): the
	 * copy running, or NULL, and the event that waits for its end;
	 * the automatic one's settings (read-only), its timer, and the
	 * mutation count at its last look */
	struct store_copy *copy;
	struct event *copy_ev;
	pthread_t closer;    /* closes the environment a compaction replaced */
	bool closer_started; /* until joined */
	unsigned compact_check_ms;
	uint64_t compact_min_bytes;
	double compact_ratio;
	struct event *check_ev;
	uint64_t checked_mutations;
	uint64_t compactions; /* completed online */
	struct store_compaction last_compaction;
	/* While c_recording, every LMDB write notes its key in c_touched,
	 * in whichever thread holds LMDB's write lock (which orders them).
	 * c_lost: one could not be noted, the copy cannot be caught up. */
	bool c_recording;
	bool c_lost;
	struct store_touched *c_touched;
	struct store_touched **c_touched_tail;
	size_t c_ntouched;
};

/* An online compaction in flight (store_compact_start). */
struct store_copy {
	struct store *s;
	MDB_txn *snap; /* read snapshot of the live environment */
	MDB_env *dst;  /* the copy */
	MDB_dbi dst_dbis[STORE_NDBS];
	pthread_t thread;
	atomic_bool done;   /* the thread has finished: rc is set */
	atomic_bool cancel; /* store_close: stop copying */
	bool joined;        /* the thread's last run is over and joined */
	int rc;             /* the copy's LMDB code */
	/* a catch-up round: the keys the thread copies again, noted
	 * before the round began; NULL for the copy itself */
	struct store_touched *round;
	size_t nround;
	unsigned rounds;
	struct timespec began;
	uint64_t before; /* disk bytes of the live environment at start */
};

/* Keys an online compaction notes at most: the switch copies each in
 * its pause, a few microseconds apiece. A copy outrun by more writes
 * than this is dropped (store_copy_switch). */
#define STORE_COMPACT_MAX_TOUCHED 262144

/* The database of a commit log record. */
static MDB_dbi store_clog_dbi(const struct store *s, enum clog_db db)
{
	return db == CLOG_DB_OBJECTS ? s->objects_dbi : s->hints_dbi;
}

/* A key written in LMDB since a compaction's snapshot. */
struct store_touched {
	struct store_touched *next;
	MDB_dbi dbi;
	size_t klen;
	uint8_t key[];
};

/* Note that a write transaction wrote (or deleted) k in dbi, for an
 * online compaction's catch-up. Cheap when none runs; never fails the
 * write. */
static void store_touch(struct store *s, MDB_dbi dbi, const MDB_val *k)
{
	struct store_touched *t = NULL;

	if (!s->c_recording || s->c_lost)
		return;
	t = s->c_ntouched < STORE_COMPACT_MAX_TOUCHED
	        ? malloc(sizeof(*t) + k->mv_size)
	        : NULL;
	if (t == NULL) {
		s->c_lost = true;
		return;
	}
	t->next = NULL;
	t->dbi = dbi;
	t->klen = k->mv_size;
	memcpy(t->key, k->mv_data, k->mv_size);
	*s->c_touched_tail = t;
	s->c_touched_tail = &t->next;
	s->c_ntouched++;
}

/* --- small helpers -------------------------------------------------------- */

/* The LMDB key of a user key, partition ++ slot (store.h), into dkey
 * (room for STORE_DKEY_MAX bytes); returns its length. klen is at most
 * STORE_MAX_KEY. */
static size_t store_dkey(uint32_t partition, const void *key, size_t klen,
                         uint8_t *dkey)
{
	XXH128_canonical_t sum;

	byte_put_be32(dkey, partition);
	if (klen <= STORE_INLINE_KEY) {
		if (klen > 0)
			memcpy(dkey + STORE_PREFIX, key, klen);
		return STORE_PREFIX + klen;
	}
	memcpy(dkey + STORE_PREFIX, key, STORE_KEY_HEAD);
	XXH128_canonicalFromHash(&sum, XXH3_128bits(key, klen));
	memcpy(dkey + STORE_PREFIX + STORE_KEY_HEAD, sum.digest,
	       STORE_KEY_HASH);
	return STORE_DKEY_MAX;
}

static bool store_in_partition(const MDB_val *k, const uint8_t *prefix)
{
	return k->mv_size >= STORE_PREFIX &&
	       memcmp(k->mv_data, prefix, STORE_PREFIX) == 0;
}

/* "partition/key" for log lines, non-printable bytes as \xNN. buf holds
 * at least STORE_LOG_KEY * 4 + 32 bytes. */
static void store_key_text(const uint8_t *dkey, size_t dklen, char *buf,
                           size_t cap)
{
	size_t o =
	    (size_t)snprintf(buf, cap, "%u/", (unsigned)byte_get_be32(dkey));
	size_t klen = dklen - STORE_PREFIX;
	size_t shown = klen < STORE_LOG_KEY ? klen : STORE_LOG_KEY;

	for (size_t i = 0; i < shown && o + 5 < cap; i++) {
		unsigned char ch = dkey[STORE_PREFIX + i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			buf[o++] = (char)ch;
		else
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
	}
	if (shown < klen && o + 4 < cap)
		o += (size_t)snprintf(buf + o, cap - o, "...");
	buf[o < cap ? o : cap - 1] = '\0';
}

static void store_log_corrupt(struct store *s, const uint8_t *dkey,
                              size_t dklen)
{
	char text[STORE_LOG_KEY * 4 + 32];

	store_key_text(dkey, dklen, text, sizeof(text));
	log_error("store: corrupt record for key %s in %s (checksum or "
	          "decode failed)",
	          text, s->dir);
}

/* A stored value, taken apart; the pointers are into the value. */
struct store_rec {
	const uint8_t *key; /* format 2: the whole user key; else NULL */
	size_t klen;
	const uint8_t *avro;
	size_t alen;
};

/* Check a stored value's checksum and framing (not the Avro inside).
 * 0 or RKV_ECORRUPT (not logged here). */
static int store_record_parse(const MDB_val *v, struct store_rec *r)
{
	const uint8_t *p = v->mv_data;
	size_t n = v->mv_size;
	size_t klen = 0;

	memset(r, 0, sizeof(*r));
	if (n < 1 + STORE_SUM_BYTES)
		return RKV_ECORRUPT;
	n -= STORE_SUM_BYTES;
	if (p[0] == STORE_FORMAT) {
		/* The first release's sum leaves the format byte out. */
		if (XXH3_64bits(p + 1, n - 1) != byte_get_le64(p + n))
			return RKV_ECORRUPT;
		r->avro = p + 1;
		r->alen = n - 1;
		return 0;
	}
	if (p[0] != STORE_FORMAT_LONG || n < 1 + STORE_KLEN_BYTES ||
	    XXH3_64bits(p, n) != byte_get_le64(p + n))
		return RKV_ECORRUPT;
	klen = byte_get_le32(p + 1);
	if (klen <= STORE_INLINE_KEY || klen > STORE_MAX_KEY ||
	    klen > n - 1 - STORE_KLEN_BYTES)
		return RKV_ECORRUPT;
	r->key = p + 1 + STORE_KLEN_BYTES;
	r->klen = klen;
	r->avro = r->key + klen;
	r->alen = n - 1 - STORE_KLEN_BYTES - klen;
	return 0;
}

/* Is a parsed record, found under the slot of key[0..klen), that key's?
 * An inline key is its own slot, so any format 1 record there is it. */
static bool store_record_is(const struct store_rec *r, const uint8_t *key,
                            size_t klen)
{
	if (klen <= STORE_INLINE_KEY)
		return r->key == NULL;
	return r->key != NULL && r->klen == klen &&
	       memcmp(r->key, key, klen) == 0;
}

static void store_log_collision(struct store *s, const uint8_t *dkey,
                                size_t dklen)
{
	char text[STORE_LOG_KEY * 4 + 32];

	store_key_text(dkey, dklen, text, sizeof(text));
	log_warn("store: the slot of key %s in %s holds another key's record; "
	         "not written",
	         text, s->dir);
}

/* --- hints: keys, records, targets ---------------------------------------- */

#define STORE_FORMAT_HINT 3 /* hint: target ++ key ++ Avro ++ sum */
#define STORE_HINT_TAG    8 /* big-endian XXH3-64 of the target name */
#define STORE_HINT_PREFIX (STORE_HINT_TAG + STORE_PREFIX)
#define STORE_HINT_HEAD   (STORE_HINT_INLINE_KEY - STORE_KEY_HASH)

static int store_lmdb_fail(struct store *s, const char *what, int rc);

static_assert(STORE_HINT_PREFIX + STORE_HINT_INLINE_KEY == STORE_DKEY_MAX,
              "a hint's database key fits LMDB's maximum");
static_assert(STORE_MAX_HINT_TARGET <= UINT8_MAX,
              "a hint record has a u8 target length");
static_assert(sizeof(((struct store_hint_pos *)0)->dkey) == STORE_DKEY_MAX,
              "a scan position holds a whole database key");

/* A ring name: 1..STORE_MAX_HINT_TARGET bytes, none below 0x21 or 0x7f. */
static bool store_hint_name_ok(const char *name)
{
	size_t n = 0;

	if (name == NULL)
		return false;
	n = strnlen(name, STORE_MAX_HINT_TARGET + 1);
	if (n == 0 || n > STORE_MAX_HINT_TARGET)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch < 0x21 || ch == 0x7f)
			return false;
	}
	return true;
}

static uint64_t store_hint_tag(const char *name, size_t len)
{
	return XXH3_64bits(name, len);
}

/* The hints database key of (tag, partition, key) into dkey (room for
 * STORE_DKEY_MAX bytes); returns its length. */
static size_t store_hint_dkey(uint64_t tag, uint32_t partition, const void *key,
                              size_t klen, uint8_t *dkey)
{
	XXH128_canonical_t sum;
	uint8_t *slot = dkey + STORE_HINT_PREFIX;

	byte_put_be64(dkey, tag);
	byte_put_be32(dkey + STORE_HINT_TAG, partition);
	if (klen <= STORE_HINT_INLINE_KEY) {
		if (klen > 0)
			memcpy(slot, key, klen);
		return STORE_HINT_PREFIX + klen;
	}
	memcpy(slot, key, STORE_HINT_HEAD);
	XXH128_canonicalFromHash(&sum, XXH3_128bits(key, klen));
	memcpy(slot + STORE_HINT_HEAD, sum.digest, STORE_KEY_HASH);
	return STORE_DKEY_MAX;
}

/* A stored hint, taken apart; the pointers are into the value. */
struct store_hint_rec {
	const char *name; /* not NUL-terminated */
	size_t nlen;
	const uint8_t *key;
	size_t klen;
	const uint8_t *avro;
	size_t alen;
};

/* Check a hint's checksum and framing. 0 or RKV_ECORRUPT. */
static int store_hint_parse(const MDB_val *v, struct store_hint_rec *r)
{
	const uint8_t *p = v->mv_data;
	size_t n = v->mv_size;
	size_t o = 2;

	memset(r, 0, sizeof(*r));
	if (n < 2 + STORE_KLEN_BYTES + STORE_SUM_BYTES)
		return RKV_ECORRUPT;
	n -= STORE_SUM_BYTES;
	if (p[0] != STORE_FORMAT_HINT ||
	    XXH3_64bits(p, n) != byte_get_le64(p + n))
		return RKV_ECORRUPT;
	r->nlen = p[1];
	if (r->nlen == 0 || o + r->nlen + STORE_KLEN_BYTES > n)
		return RKV_ECORRUPT;
	r->name = (const char *)p + o;
	o += r->nlen;
	r->klen = byte_get_le32(p + o);
	o += STORE_KLEN_BYTES;
	if (r->klen == 0 || r->klen > STORE_MAX_KEY || r->klen > n - o)
		return RKV_ECORRUPT;
	r->key = p + o;
	o += r->klen;
	r->avro = p + o;
	r->alen = n - o;
	return 0;
}

static bool store_hint_rec_is(const struct store_hint_rec *r,
                              const char *target, const void *key, size_t klen)
{
	return r->nlen == strlen(target) &&
	       memcmp(r->name, target, r->nlen) == 0 && r->klen == klen &&
	       memcmp(r->key, key, klen) == 0;
}

static void store_hint_log_corrupt(struct store *s, const MDB_val *k)
{
	const uint8_t *d = k->mv_data;

	log_error("store: corrupt hint in %s (tag %016llx, partition %u): "
	          "checksum or decode failed; it is never handed off",
	          s->dir,
	          (unsigned long long)(k->mv_size >= STORE_HINT_TAG
	                                   ? byte_get_be64(d)
	                                   : 0),
	          k->mv_size >= STORE_HINT_PREFIX
	              ? (unsigned)byte_get_be32(d + STORE_HINT_TAG)
	              : 0u);
}

static struct store_hint_target *store_hint_find(const struct store *s,
                                                 const char *name)
{
	for (size_t i = 0; i < s->ntargets; i++) {
		if (strcmp(s->targets[i]->name, name) == 0)
			return s->targets[i];
	}
	return NULL;
}

/* The entry of a target, appended if new; NULL with *rc set when the
 * table is full (RKV_EUNAVAIL) or memory ran out. name is valid. */
static struct store_hint_target *
store_hint_target_get(struct store *s, const char *name, size_t nlen, int *rc)
{
	char buf[STORE_MAX_HINT_TARGET + 1];
	struct store_hint_target *t = NULL;

	memcpy(buf, name, nlen);
	buf[nlen] = '\0';
	t = store_hint_find(s, buf);
	if (t != NULL)
		return t;
	if (s->ntargets == STORE_MAX_HINT_TARGETS) {
		*rc = RKV_EUNAVAIL;
		return NULL;
	}
	if (s->ntargets == s->tcap) {
		size_t cap = s->tcap ? s->tcap * 2 : 8;
		struct store_hint_target **m =
		    realloc(s->targets, cap * sizeof(*m));
		if (m == NULL) {
			*rc = RKV_ENOMEM;
			return NULL;
		}
		s->targets = m;
		s->tcap = cap;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		*rc = RKV_ENOMEM;
		return NULL;
	}
	memcpy(t->name, buf, nlen + 1);
	t->tag = store_hint_tag(buf, nlen);
	s->targets[s->ntargets++] = t;
	return t;
}

/* Count the hints of every target (at open): one walk of the database. A
 * corrupt record is logged and left uncounted. */
static int store_hints_load(struct store *s, MDB_txn *txn)
{
	MDB_cursor *cur = NULL;
	MDB_val k = {0, NULL}, v = {0, NULL};
	struct store_hint_rec rec;
	int rc = mdb_cursor_open(txn, s->hints_dbi, &cur);
	int err = 0;

	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && err == 0) {
		struct store_hint_target *t = NULL;
		if (k.mv_size < STORE_HINT_PREFIX ||
		    store_hint_parse(&v, &rec) != 0 ||
		    byte_get_be64(k.mv_data) !=
		        store_hint_tag(rec.name, rec.nlen)) {
			store_hint_log_corrupt(s, &k);
		} else if ((t = store_hint_target_get(s, rec.name, rec.nlen,
		                                      &err)) != NULL) {
			t->pending++;
			s->hints++;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (err != 0) {
		log_error("store: cannot count the hints in %s: %s", s->dir,
		          rkv_strerror(err));
		return err;
	}
	if (rc != MDB_NOTFOUND)
		return store_lmdb_fail(s, "counting hints", rc);
	if (s->hints > 0)
		log_info("store: %llu hint(s) for %zu node(s) in %s",
		         (unsigned long long)s->hints, s->ntargets, s->dir);
	return 0;
}

/* --- opening -------------------------------------------------------------- */

/* mkdir -p: every missing component of dir, mode 0755. */
static int store_mkdirs(const char *dir)
{
	char path[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(path))
		return RKV_EINVAL;
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			return RKV_EIO;
		*p = '/';
	}
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return RKV_EIO;
	return 0;
}

static int store_lock(struct store *s)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/LOCK", s->dir) >=
	    (int)sizeof(path))
		return RKV_EINVAL;
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd < 0) {
		log_error("store: cannot open %s: %s", path, strerror(errno));
		return RKV_EIO;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno == EWOULDBLOCK) {
		log_error("store: %s is in use by another process", s->dir);
		return RKV_ELOCKED;
	}
	log_error("store: cannot lock %s: %s", path, strerror(errno));
	return RKV_EIO;
}

static int store_lmdb_fail(struct store *s, const char *what, int rc)
{
	log_error("store: %s in %s failed: %s", what, s->dir, mdb_strerror(rc));
	return rc == ENOMEM ? RKV_ENOMEM : RKV_EIO;
}

static int store_env_open(struct store *s, const struct store_options *opts)
{
	unsigned flags = MDB_NOTLS;
	size_t map = opts->map_size ? opts->map_size : STORE_DEFAULT_MAP_SIZE;
	MDB_stat st;
	int dead = 0;
	int rc = mdb_env_create(&s->env);

	if (rc != 0)
		return store_lmdb_fail(s, "mdb_env_create", rc);
	rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, map);
	if (rc == 0)
		rc = mdb_env_open(s->env, s->dir, flags, 0644);
	if (rc != 0) {
		/* A handle that failed to open must still be closed. */
		mdb_env_close(s->env);
		s->env = NULL;
		return store_lmdb_fail(s, "mdb_env_open", rc);
	}
	/* Reader slots left by a crashed process would pin old pages. */
	rc = mdb_reader_check(s->env, &dead);
	if (rc != 0)
		return store_lmdb_fail(s, "mdb_reader_check", rc);
	rc = mdb_env_stat(s->env, &st);
	if (rc != 0)
		return store_lmdb_fail(s, "mdb_env_stat", rc);
	s->psize = st.ms_psize;
	return 0;
}

/* A fresh random actor id: never 0, never derived from anything a
 * restarted node could reproduce (DESIGN.md, Identity). */
static int store_new_node_id(uint64_t *out)
{
	for (int i = 0; i < STORE_ID_TRIES; i++) {
		uint64_t id = 0;
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
			continue;
		if (id != 0) {
			*out = id;
			return 0;
		}
	}
	return RKV_EIO;
}

/* An id (the node id, the actor) kept in "meta" under name as 8
 * big-endian bytes, into *id: 0, MDB_NOTFOUND, RKV_ECORRUPT (not a
 * non-zero 8-byte id; logged) or the error of store_lmdb_fail. */
static int store_id_get(struct store *s, MDB_txn *txn, const char *name,
                        uint64_t *id)
{
	MDB_val k = {strlen(name), (void *)name};
	MDB_val v = {0, NULL};
	uint8_t buf[8];
	int rc = mdb_get(txn, s->meta_dbi, &k, &v);

	if (rc == MDB_NOTFOUND)
		return rc;
	if (rc != 0)
		return store_lmdb_fail(s, "reading an id", rc);
	*id = 0;
	if (v.mv_size == sizeof(buf)) {
		memcpy(buf, v.mv_data, sizeof(buf));
		*id = byte_get_be64(buf);
	}
	if (*id == 0) {
		log_error("store: the %s stored in %s is corrupt", name,
		          s->dir);
		return RKV_ECORRUPT;
	}
	return 0;
}

/* A new random id into *id, stored in "meta" under name. */
static int store_id_new(struct store *s, MDB_txn *txn, const char *name,
                        uint64_t *id)
{
	MDB_val k = {strlen(name), (void *)name};
	uint8_t buf[8];
	MDB_val v = {sizeof(buf), buf};
	int rc = 0;

	if (store_new_node_id(id) != 0) {
		log_error("store: getrandom failed: %s", strerror(errno));
		return RKV_EIO;
	}
	byte_put_be64(buf, *id);
	rc = mdb_put(txn, s->meta_dbi, &k, &v, 0);
	return rc == 0 ? 0 : store_lmdb_fail(s, "storing an id", rc);
}

/* The node id kept in "meta", or on the first open a new one stored
 * there. */
static int store_node_id_load(struct store *s, MDB_txn *txn)
{
	int rc = store_id_get(s, txn, store_meta_node_id, &s->node_id);

	if (rc == MDB_NOTFOUND)
		rc = store_id_new(s, txn, store_meta_node_id, &s->node_id);
	return rc;
}

/* The "running" marker: one byte, 1 for sync = periodic, then the boot id
 * of the machine (/proc/sys/kernel/random/boot_id, 36 characters). */
#define STORE_BOOT_ID_LEN 36
#define STORE_RUNNING_LEN (1 + STORE_BOOT_ID_LEN)

/* This boot of the machine as the kernel names it, or "" if unknown. */
static void store_boot_id(char out[STORE_BOOT_ID_LEN + 1])
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	out[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(out, STORE_BOOT_ID_LEN + 1, f) == NULL ||
	    strlen(out) != STORE_BOOT_ID_LEN)
		out[0] = '\0';
	fclose(f);
}

/* The actor of this node's dots (DESIGN.md, Identity) is its node id until
 * a run with sync = periodic ends in a crash of the machine. That run
 * acknowledged writes that its last sync interval may not have put on
 * disk, and replicas hold them under their dots; minting those dots again
 * for other values would make the replicas keep the old values in place
 * of the new ones (Riak's KV679 again). A new actor's dots are all new.
 * A process that dies without the machine leaves its log blocks to the
 * page cache, so the same boot keeps the actor; with sync = batch every
 * acknowledged write was on disk. The "running" marker, written here and
 * removed by store_close, tells which run ended how. */
static int store_actor_load(struct store *s, MDB_txn *txn)
{
	MDB_val kr = {sizeof(store_meta_running) - 1,
	              (void *)store_meta_running};
	MDB_val v = {0, NULL};
	uint8_t mark[STORE_RUNNING_LEN];
	char boot[STORE_BOOT_ID_LEN + 1];
	int rc = store_id_get(s, txn, store_meta_actor, &s->actor);

	if (rc == MDB_NOTFOUND)
		s->actor = s->node_id;
	else if (rc != 0)
		return rc;

	store_boot_id(boot);
	rc = mdb_get(txn, s->meta_dbi, &kr, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return store_lmdb_fail(s, "reading the running marker", rc);
	if (rc == 0) {
		const uint8_t *m = v.mv_data;
		bool valid = v.mv_size == STORE_RUNNING_LEN && m[0] <= 1;
		bool same_boot = valid && boot[0] != '\0' &&
		                 memcmp(m + 1, boot, STORE_BOOT_ID_LEN) == 0;
		if (!valid || (m[0] == 1 && !same_boot)) {
			rc = store_id_new(s, txn, store_meta_actor, &s->actor);
			if (rc != 0)
				return rc;
			log_warn("store: %s was not closed by its last run "
			         "(sync = periodic) before the machine "
			         "restarted; its last writes may be lost, so "
			         "new writes take a new actor %016llx",
			         s->dir, (unsigned long long)s->actor);
		}
	}
	mark[0] = s->sync_batch ? 0 : 1;
	memset(mark + 1, 0, STORE_BOOT_ID_LEN);
	memcpy(mark + 1, boot, strlen(boot));
	v.mv_size = sizeof(mark);
	v.mv_data = mark;
	rc = mdb_put(txn, s->meta_dbi, &kr, &v, 0);
	return rc == 0 ? 0
	               : store_lmdb_fail(s, "storing the running marker", rc);
}

static int store_replay(struct store *s, MDB_txn *txn,
                        struct clog_replay_stats *st);

/* Open (creating) the named databases in store_db_names' order, their
 * handles into dbis. LMDB numbers handles in the order a fresh
 * environment opens them, so every environment of a store, the one an
 * online compaction fills included, gives each database the same handle.
 * An LMDB code. */
static int store_dbis_open(MDB_txn *txn, MDB_dbi dbis[STORE_NDBS])
{
	int rc = 0;

	for (size_t i = 0; i < STORE_NDBS && rc == 0; i++)
		rc = mdb_dbi_open(txn, store_db_names[i], MDB_CREATE, &dbis[i]);
	return rc;
}

/* Open the databases, apply the commit log, load (or create, once) the
 * node id, load the actor, mark the store running and count the hints. */
static int store_meta_init(struct store *s)
{
	struct clog_replay_stats replayed;
	MDB_dbi dbis[STORE_NDBS];
	MDB_txn *txn = NULL;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);

	if (rc == 0)
		rc = store_dbis_open(txn, dbis);
	if (rc == 0) {
		s->objects_dbi = dbis[0];
		s->meta_dbi = dbis[1];
		s->hints_dbi = dbis[2];
	}
	if (rc != 0) {
		rc = store_lmdb_fail(s, "opening the databases", rc);
		goto fail;
	}
	/* Before anything reads the databases: the groups a crash left in
	 * the commit log only (see "the commit log" below). */
	rc = clog_open(&s->clog, s->dir, STORE_CHECKPOINT_BYTES);
	if (rc == 0)
		rc = store_replay(s, txn, &replayed);
	if (rc == 0)
		rc = store_node_id_load(s, txn);
	if (rc == 0)
		rc = store_actor_load(s, txn);
	if (rc == 0)
		rc = store_hints_load(s, txn);
	if (rc != 0)
		goto fail;
	rc = mdb_txn_commit(txn);
	txn = NULL; /* freed by the commit, even when it fails */
	if (rc != 0) {
		rc = store_lmdb_fail(s, "committing node metadata", rc);
		goto fail;
	}
	s->marked_running = true;
	if (replayed.blocks == 0 && s->clog.size == 0)
		return 0;
	log_info("store: applied %llu writes of %llu groups from the commit "
	         "log of %s",
	         (unsigned long long)replayed.writes,
	         (unsigned long long)replayed.blocks, s->dir);
	return clog_reset(&s->clog);

fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	return rc;
}

static void store_commit_cb(evutil_socket_t fd, short what, void *arg);
static void store_done_cb(evutil_socket_t fd, short what, void *arg);
static int store_copy_remove(const char *dir);
static void store_copy_end(struct store *s, bool do_switch);
static void store_env_closed(struct store *s);
static void store_sync_cb(evutil_socket_t fd, short what, void *arg);
static void store_compact_check_cb(evutil_socket_t fd, short what, void *arg);
static void *store_writer_main(void *arg);

/* The writer's codec, its signal and the thread itself, started last so
 * that nothing before it needs stopping. */
static int store_writer_start(struct store *s)
{
	int rc = 0;

	s->w_codec = codec_new();
	if (s->w_codec == NULL)
		return RKV_ENOMEM;
	rc = pthread_create(&s->writer, NULL, store_writer_main, s);
	if (rc != 0) {
		log_error("store: cannot start the writer thread: %s",
		          strerror(rc));
		return rc == EAGAIN ? RKV_ENOMEM : RKV_EIO;
	}
	s->writer_started = true;
	return 0;
}

static int store_events_start(struct store *s, unsigned sync_interval_ms)
{
	struct timeval tv = ms_timeval(sync_interval_ms);

	s->commit_ev = event_new(s->base, -1, 0, store_commit_cb, s);
	if (s->commit_ev == NULL ||
	    event_priority_set(s->commit_ev, RKV_EV_PRIORITIES - 1) != 0)
		return RKV_ENOMEM;
	/* The lowest priority too: the next batch is handed over in
	 * store_done_cb, once the turn's I/O has been queued. */
	s->done_ev = event_new(s->base, s->done_fd, EV_READ, store_done_cb, s);
	if (s->done_ev == NULL ||
	    event_priority_set(s->done_ev, RKV_EV_PRIORITIES - 1) != 0)
		return RKV_ENOMEM;
	if (s->compact_check_ms > 0) {
		struct timeval check = ms_timeval(s->compact_check_ms);
		s->check_ev = event_new(s->base, -1, EV_PERSIST,
		                        store_compact_check_cb, s);
		if (s->check_ev == NULL || event_add(s->check_ev, &check) != 0)
			return RKV_ENOMEM;
	}
	if (s->sync_batch)
		return 0;
	s->sync_ev = event_new(s->base, -1, EV_PERSIST, store_sync_cb, s);
	if (s->sync_ev == NULL ||
	    event_priority_set(s->sync_ev, RKV_EV_PRIORITIES - 1) != 0 ||
	    event_add(s->sync_ev, &tv) != 0)
		return RKV_ENOMEM;
	return 0;
}

/* The writer's wake-up waits with a deadline (the next checkpoint),
 * measured on the monotonic clock so that setting the wall clock moves
 * no checkpoint. */
static int store_work_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t attr;
	int rc = pthread_condattr_init(&attr);

	if (rc == 0)
		rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
	if (rc == 0)
		return 0;
	log_error("store: cannot make a condition variable: %s", strerror(rc));
	return rc == ENOMEM ? RKV_ENOMEM : RKV_EIO;
}

static int store_check_options(struct event_base *base,
                               const struct store_options *opts)
{
	if (opts->dir == NULL || opts->dir[0] == '\0') {
		log_error("store: no data directory given");
		return RKV_EINVAL;
	}
	if (!opts->sync_batch && opts->sync_interval_ms == 0) {
		log_error("store: sync = periodic needs sync_interval_ms > 0");
		return RKV_EINVAL;
	}
	/* The commit must be the lowest priority for batching to work. */
	if (event_base_get_npriorities(base) != RKV_EV_PRIORITIES) {
		log_error("store: the event base has %d priorities, not %d",
		          event_base_get_npriorities(base), RKV_EV_PRIORITIES);
		return RKV_EINVAL;
	}
	return 0;
}

int store_open(struct store **out, struct event_base *base, struct codec *codec,
               const struct store_options *opts)
{
	struct store *s = NULL;
	int rc = store_check_options(base, opts);

	*out = NULL;
	if (rc != 0)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return RKV_ENOMEM;
	s->lock_fd = -1;
	s->done_fd = -1;
	s->clog.fd = -1;
	s->w_gen = 1;
	s->checkpoint_ms =
	    opts->checkpoint_ms ? opts->checkpoint_ms : STORE_CHECKPOINT_MS;
	s->log_limit = opts->log_limit ? opts->log_limit : STORE_LOG_LIMIT;
	s->compact_check_ms = opts->compact_check_ms;
	s->compact_min_bytes = opts->compact_min_bytes;
	s->compact_ratio = opts->compact_ratio;
	s->mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	histogram_init(&s->ckpt_us);
	s->done = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
	rc = store_work_cond_init(&s->work);
	if (rc != 0) {
		free(s);
		return rc;
	}
	s->base = base;
	s->codec = codec;
	s->sync_batch = opts->sync_batch;
	s->queue.tail = &s->queue.head;
	s->l_carry_tail = &s->l_carry;
	s->l_pending_tail = &s->l_pending;
	s->c_touched_tail = &s->c_touched;
	s->dir = strdup(opts->dir);
	if (s->dir == NULL) {
		rc = RKV_ENOMEM;
		goto fail;
	}
	rc = store_mkdirs(s->dir);
	if (rc != 0) {
		log_error("store: cannot create %s: %s", s->dir,
		          strerror(errno));
		goto fail;
	}
	s->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->done_fd < 0) {
		log_error("store: eventfd: %s", strerror(errno));
		rc = RKV_EIO;
		goto fail;
	}
	s->recent.nbuckets = STORE_RECENT_BUCKETS;
	s->recent.buckets =
	    calloc(s->recent.nbuckets, sizeof(*s->recent.buckets));
	if (s->recent.buckets == NULL) {
		rc = RKV_ENOMEM;
		goto fail;
	}
	rc = store_lock(s);
	if (rc == 0)
		rc = store_copy_remove(s->dir);
	if (rc == 0)
		rc = store_env_open(s, opts);
	if (rc == 0)
		rc = store_meta_init(s);
	if (rc == 0)
		rc = store_events_start(s, opts->sync_interval_ms);
	if (rc == 0)
		rc = store_writer_start(s);
	if (rc != 0)
		goto fail;
	log_info("store: opened %s (node id %016llx, actor %016llx, sync %s)",
	         s->dir, (unsigned long long)s->node_id,
	         (unsigned long long)s->actor,
	         s->sync_batch ? "batch" : "periodic");
	*out = s;
	return 0;

fail:
	store_close(s);
	return rc;
}

/* --- group commit --------------------------------------------------------- */

/* Where an apply reads the stored object and puts the new record. The
 * writer: its transaction (txn, through w_objects), its codec and its
 * generation. The loop (store_apply_here, sync = periodic): txn NULL,
 * the group's own earlier records, then the recent table over the last
 * checkpoint (store_lookup), the caller's codec and the generation of
 * the long transaction that will take the records (the one after it
 * while a checkpoint commits); the records go to the log and the recent
 * table, and the writer puts copies of them into LMDB. */
struct store_via {
	MDB_txn *txn;
	struct codec *codec;
	uint64_t gen;
	const struct store_op *batch; /* the loop's group */
};

static int store_lookup(struct store *s, enum clog_db db, MDB_val *k,
                        MDB_val *v);
static int store_read_begin(struct store *s);

static void store_op_free(struct store_op *op)
{
	free(op->recent);
	dvv_vv_deinit(&op->ctx);
	dvv_value_deinit(&op->value);
	dvv_free(op->obj);
	dvv_free(op->result);
	free(op);
}

static uint64_t store_recent_hash(enum clog_db db, const void *dkey,
                                  size_t dklen)
{
	return XXH3_64bits_withSeed(dkey, dklen, (uint64_t)db);
}

/* The record of a recent entry, NULL for a delete. */
static const uint8_t *store_entry_record(const struct store_recent_entry *e)
{
	return e->deleted ? NULL : e->bytes + e->dklen;
}

/* A recent entry for a write of rlen record bytes (deleted: none) under
 * key k, its record left to fill at e->bytes + e->dklen; NULL without
 * memory. */
static struct store_recent_entry *store_recent_new(const struct store_via *via,
                                                   enum clog_db db,
                                                   const MDB_val *k,
                                                   size_t rlen, bool deleted)
{
	struct store_recent_entry *e = malloc(sizeof(*e) + k->mv_size + rlen);

	if (e == NULL)
		return NULL;
	*e = (struct store_recent_entry){
	    .gen = via->gen,
	    .hash = store_recent_hash(db, k->mv_data, k->mv_size),
	    .db = db,
	    .deleted = deleted,
	    .dklen = k->mv_size,
	    .rlen = rlen,
	};
	memcpy(e->bytes, k->mv_data, k->mv_size);
	return e;
}

/* Pages a put may take from the map, at most: the record's own (on
 * overflow pages when big) and those it can copy or split on its way
 * down the tree. */
#define STORE_PUT_PAGES 4

/* What e's write may take of the map in the long transaction. */
static uint64_t store_record_room(const struct store *s,
                                  const struct store_recent_entry *e)
{
	return ((uint64_t)STORE_PUT_PAGES + (e->dklen + e->rlen) / s->psize +
	        1) *
	       s->psize;
}

/* A write just made (in the long transaction, or by the loop) goes into
 * the commit log's next block, and e, its filled
 * recent entry, to op for the loop. Where the write is already in the
 * transaction, failing here fails the transaction as an LMDB error
 * would: the return is an errno code for the *lmdb_rc of store_apply. e
 * is op's or freed. */
static int store_log_entry(struct store *s, struct store_op *op,
                           struct store_recent_entry *e)
{
	int rc = clog_add(&s->clog, e->db, e->bytes, e->dklen,
	                  store_entry_record(e), e->rlen);

	if (rc != 0) {
		free(e);
		return rc == RKV_ETOOBIG ? EFBIG : ENOMEM;
	}
	s->log_room += store_record_room(s, e);
	/* An op writes once; a second write would replace the first. */
	free(op->recent);
	op->recent = e;
	return 0;
}

/* store_log_entry for a write whose record is rec (NULL: a delete). */
static int store_log_write(struct store *s, const struct store_via *via,
                           struct store_op *op, enum clog_db db,
                           const MDB_val *k, const void *rec, size_t rlen)
{
	struct store_recent_entry *e =
	    store_recent_new(via, db, k, rlen, rec == NULL);

	if (e == NULL)
		return ENOMEM;
	if (rlen > 0)
		memcpy(e->bytes + k->mv_size, rec, rlen);
	store_touch(s, store_clog_dbi(s, db), k);
	return store_log_entry(s, op, e);
}

/* The bytes before the Avro object in op's record (store.h). */
static size_t store_record_head(const struct store_op *op)
{
	return op->klen > STORE_INLINE_KEY ? 1 + STORE_KLEN_BYTES + op->klen
	                                   : 1;
}

/* op's record around avro into p, store_record_head(op) + len +
 * STORE_SUM_BYTES long. */
static void store_record_fill(const struct store_op *op, uint8_t *p,
                              const uint8_t *avro, size_t len)
{
	size_t head = store_record_head(op);

	memcpy(p + head, avro, len);
	if (head == 1) {
		p[0] = STORE_FORMAT;
		byte_put_le64(p + head + len, XXH3_64bits(avro, len));
	} else {
		p[0] = STORE_FORMAT_LONG;
		byte_put_le32(p + 1, (uint32_t)op->klen);
		memcpy(p + 1 + STORE_KLEN_BYTES, op->key, op->klen);
		byte_put_le64(p + head + len, XXH3_64bits(p, head + len));
	}
}

/* MDB_RESERVE lets the record be assembled in the page itself. */
static int store_put(struct store *s, const struct store_via *via,
                     struct store_op *op, const uint8_t *avro, size_t len)
{
	MDB_val k = {op->dklen, (void *)op->dkey};
	MDB_val v = {.mv_size = store_record_head(op) + len + STORE_SUM_BYTES,
	             .mv_data = NULL};
	/* Through the batch's cursor, which store_load left on this key's
	 * leaf page: no second descent of the tree. */
	int rc = mdb_cursor_put(s->w_objects, &k, &v, MDB_RESERVE);

	if (rc != 0)
		return rc;
	store_record_fill(op, v.mv_data, avro, len);
	return store_log_write(s, via, op, CLOG_DB_OBJECTS, &k, v.mv_data,
	                       v.mv_size);
}

/* store_put for the loop (store_via): the record, assembled in its
 * recent entry, to the log and the recent table only. */
static int store_put_here(struct store *s, const struct store_via *via,
                          struct store_op *op, const uint8_t *avro, size_t len)
{
	MDB_val k = {op->dklen, (void *)op->dkey};
	struct store_recent_entry *e = store_recent_new(
	    via, CLOG_DB_OBJECTS, &k,
	    store_record_head(op) + len + STORE_SUM_BYTES, false);

	if (e == NULL)
		return ENOMEM;
	store_record_fill(op, e->bytes + e->dklen, avro, len);
	return store_log_entry(s, op, e);
}

/* An object past dvv.h's limits cannot be stored; the usual way to get
 * there is blind writes piling up siblings, so say so (409) instead of a
 * bare invalid-object error. */
static int store_check_limits(const struct dvv *d)
{
	if (dvv_value_count(d) > DVV_MAX_VALUES ||
	    d->nentries > DVV_MAX_ENTRIES)
		return RKV_ESIBLINGS;
	return 0;
}

/* The record of op's key as the loop's group sees it (store_via): the
 * last one an earlier op of the group wrote, else store_lookup's. */
static int store_lookup_here(struct store *s, const struct store_via *via,
                             const struct store_op *op, MDB_val *k, MDB_val *v)
{
	const struct store_recent_entry *last = NULL;

	for (const struct store_op *o = via->batch; o != op; o = o->next)
		if (o->recent != NULL && o->dklen == op->dklen &&
		    memcmp(o->dkey, op->dkey, op->dklen) == 0)
			last = o->recent;
	if (last == NULL)
		return store_lookup(s, CLOG_DB_OBJECTS, k, v);
	v->mv_size = last->rlen;
	v->mv_data = (void *)(last->bytes + last->dklen);
	return 0;
}

/* The stored object of op's key into *cur (a new empty one when there is
 * none). RKV_ECORRUPT / RKV_EINVAL (logged), RKV_EIO with *lmdb_rc set, or
 * RKV_ENOMEM. *old is the stored Avro, alen 0 and avro NULL when none. */
static int store_load(struct store *s, const struct store_via *via,
                      struct store_op *op, struct dvv **cur,
                      struct store_rec *old, int *lmdb_rc)
{
	MDB_val k = {op->dklen, op->dkey};
	MDB_val v = {0, NULL};
	int rc = via->txn != NULL
	             ? mdb_cursor_get(s->w_objects, &k, &v, MDB_SET_KEY)
	             : store_lookup_here(s, via, op, &k, &v);

	memset(old, 0, sizeof(*old));
	if (rc == MDB_NOTFOUND) {
		*cur = dvv_new();
		return *cur != NULL ? 0 : RKV_ENOMEM;
	}
	if (rc != 0) {
		*lmdb_rc = rc;
		return RKV_EIO;
	}
	rc = store_record_parse(&v, old);
	if (rc == 0 && !store_record_is(old, op->key, op->klen)) {
		store_log_collision(s, op->dkey, op->dklen);
		return RKV_EINVAL;
	}
	if (rc == 0)
		rc = codec_object_decode(via->codec, old->avro, old->alen, cur);
	if (rc == RKV_ECORRUPT)
		store_log_corrupt(s, op->dkey, op->dklen);
	return rc;
}

/* How an object reaches its database: store_put or store_hint_put. Both
 * return LMDB's code. */
typedef int store_put_fn(struct store *s, const struct store_via *via,
                         struct store_op *op, const uint8_t *avro, size_t len);

/* Encode cur and write it with put, unless the stored record's Avro bytes
 * (old, olen; NULL when there is none) are these already: replication,
 * repair and hints often bring nothing new (old points into the page,
 * which stays valid until the next write of this transaction). Returns
 * the op's status; *lmdb_rc as store_apply. */
static int store_write_changed(struct store *s, const struct store_via *via,
                               struct store_op *op, const struct dvv *cur,
                               const uint8_t *old, size_t olen,
                               store_put_fn *put, int *lmdb_rc)
{
	uint8_t *avro = NULL;
	size_t len = 0;
	int rc = store_check_limits(cur);

	if (rc == 0)
		rc = codec_object_encode(via->codec, cur, &avro, &len);
	if (rc == 0 &&
	    (old == NULL || olen != len || memcmp(old, avro, len) != 0))
		*lmdb_rc = put(s, via, op, avro, len);
	if (rc == 0 && *lmdb_rc != 0)
		rc = RKV_EIO;
	free(avro);
	return rc;
}

/* Apply one op through via. Returns its status; *lmdb_rc is set non-zero
 * when LMDB itself failed, which leaves the writer's txn unusable. */
static int store_apply(struct store *s, const struct store_via *via,
                       struct store_op *op, int *lmdb_rc)
{
	struct store_rec old;
	struct dvv *cur = NULL;
	int rc = store_load(s, via, op, &cur, &old, lmdb_rc);

	if (rc != 0)
		goto fail;
	if (op->kind == STORE_OP_UPDATE) {
		rc = dvv_update(cur, &op->ctx, s->actor, &op->value);
	} else if (cur->nanon == 0 && op->obj->nanon == 0 &&
	           dvv_less(cur, op->obj)) {
		/* What replication sends is usually a newer version of what
		 * is stored, and then their sync is that version as it
		 * came (tests/test_dvv.c checks it): take it, copy nothing. */
		dvv_free(cur);
		cur = op->obj;
		op->obj = NULL;
	} else {
		rc = dvv_sync(cur, op->obj);
	}
	if (rc == 0)
		rc = store_write_changed(
		    s, via, op, cur, old.avro, old.alen,
		    via->txn != NULL ? store_put : store_put_here, lmdb_rc);
	if (rc != 0)
		goto fail;
	op->result = cur;
	return 0;

fail:
	dvv_free(cur);
	return rc;
}

/* A hint record for op, assembled in the page (MDB_RESERVE). */
static int store_hint_put(struct store *s, const struct store_via *via,
                          struct store_op *op, const uint8_t *avro, size_t len)
{
	size_t tlen = strlen(op->target);
	size_t head = 2 + tlen + STORE_KLEN_BYTES + op->klen;
	MDB_val k = {op->dklen, (void *)op->dkey};
	MDB_val v = {.mv_size = head + len + STORE_SUM_BYTES, .mv_data = NULL};
	uint8_t *p = NULL;
	int rc = mdb_put(via->txn, s->hints_dbi, &k, &v, MDB_RESERVE);

	if (rc != 0)
		return rc;
	p = v.mv_data;
	p[0] = STORE_FORMAT_HINT;
	p[1] = (uint8_t)tlen;
	memcpy(p + 2, op->target, tlen);
	byte_put_le32(p + 2 + tlen, (uint32_t)op->klen);
	memcpy(p + 2 + tlen + STORE_KLEN_BYTES, op->key, op->klen);
	memcpy(p + head, avro, len);
	byte_put_le64(p + head + len, XXH3_64bits(p, head + len));
	return store_log_write(s, via, op, CLOG_DB_HINTS, &k, p, v.mv_size);
}

/* The stored hint of op into *cur, NULL when there is none. Errors as
 * store_load. *old points into the page (valid until the next write). */
static int store_hint_load(struct store *s, const struct store_via *via,
                           struct store_op *op, struct dvv **cur,
                           struct store_hint_rec *old, int *lmdb_rc)
{
	MDB_val k = {op->dklen, op->dkey};
	MDB_val v = {0, NULL};
	int rc = mdb_get(via->txn, s->hints_dbi, &k, &v);

	*cur = NULL;
	memset(old, 0, sizeof(*old));
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0) {
		*lmdb_rc = rc;
		return RKV_EIO;
	}
	rc = store_hint_parse(&v, old);
	if (rc == 0 && !store_hint_rec_is(old, op->target, op->key, op->klen)) {
		log_warn("store: the slot of a hint for %s in %s holds another "
		         "target's or key's hint; not written",
		         op->target, s->dir);
		return RKV_EINVAL;
	}
	if (rc == 0)
		rc = codec_object_decode(via->codec, old->avro, old->alen, cur);
	if (rc == RKV_ECORRUPT)
		store_hint_log_corrupt(s, &k);
	return rc;
}

/* Apply a hint op in the writer's transaction (see store_apply). */
static int store_hint_apply(struct store *s, const struct store_via *via,
                            struct store_op *op, int *lmdb_rc)
{
	struct store_hint_rec old;
	struct dvv *cur = NULL;
	MDB_val k = {op->dklen, op->dkey};
	int rc = store_hint_load(s, via, op, &cur, &old, lmdb_rc);

	if (rc != 0)
		goto fail;
	if (op->kind == STORE_OP_HINT_DELETE) {
		if (cur != NULL && !dvv_equal(cur, op->obj)) {
			op->result = cur; /* changed since it was sent: kept */
			return 0;
		}
		if (cur == NULL)
			return 0; /* gone already */
		dvv_free(cur);
		*lmdb_rc = mdb_del(via->txn, s->hints_dbi, &k, NULL);
		if (*lmdb_rc == 0)
			*lmdb_rc = store_log_write(s, via, op, CLOG_DB_HINTS,
			                           &k, NULL, 0);
		if (*lmdb_rc != 0)
			return RKV_EIO;
		op->hint_delta = -1;
		return 0;
	}
	if (cur == NULL) {
		cur = dvv_new();
		op->hint_delta = 1;
		if (cur == NULL) {
			rc = RKV_ENOMEM;
			goto fail;
		}
	}
	rc = dvv_sync(cur, op->obj);
	if (rc == 0)
		rc = store_write_changed(s, via, op, cur, old.avro, old.alen,
		                         store_hint_put, lmdb_rc);
	if (rc != 0)
		goto fail;
	op->result = cur;
	return 0;

fail:
	op->hint_delta = 0;
	dvv_free(cur);
	return rc;
}

/* --- the recent table (loop thread) -------------------------------------- */

static struct store_recent_entry **
store_recent_slot(struct store_recent *r, enum clog_db db, const void *dkey,
                  size_t dklen, uint64_t hash)
{
	struct store_recent_entry **pp = &r->buckets[hash & (r->nbuckets - 1)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		const struct store_recent_entry *e = *pp;
		if (e->hash == hash && e->db == db && e->dklen == dklen &&
		    memcmp(e->bytes, dkey, dklen) == 0)
			break;
	}
	return pp;
}

static const struct store_recent_entry *store_recent_find(struct store *s,
                                                          enum clog_db db,
                                                          const void *dkey,
                                                          size_t dklen)
{
	if (s->recent.n == 0)
		return NULL;
	return *store_recent_slot(&s->recent, db, dkey, dklen,
	                          store_recent_hash(db, dkey, dklen));
}

/* Twice the buckets; on ENOMEM the chains just grow longer. */
static void store_recent_grow(struct store_recent *r)
{
	size_t n = r->nbuckets * 2;
	struct store_recent_entry **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return;
	for (size_t i = 0; i < r->nbuckets; i++) {
		while (r->buckets[i] != NULL) {
			struct store_recent_entry *e = r->buckets[i];
			r->buckets[i] = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(r->buckets);
	r->buckets = b;
	r->nbuckets = n;
}

/* Take e, replacing the entry of the same key (an older write). */
static void store_recent_put(struct store_recent *r,
                             struct store_recent_entry *e)
{
	struct store_recent_entry **pp =
	    store_recent_slot(r, e->db, e->bytes, e->dklen, e->hash);

	if (*pp != NULL) {
		struct store_recent_entry *old = *pp;
		e->next = old->next;
		*pp = e;
		free(old);
		return;
	}
	e->next = NULL;
	*pp = e;
	if (++r->n > r->nbuckets)
		store_recent_grow(r);
}

/* Drop the entries of generations <= gen: LMDB has them now. */
static void store_recent_drop(struct store *s, uint64_t gen)
{
	struct store_recent *r = &s->recent;

	if (gen <= s->recent_gen)
		return;
	s->recent_gen = gen;
	for (size_t i = 0; i < r->nbuckets && r->n > 0; i++) {
		struct store_recent_entry **pp = &r->buckets[i];
		while (*pp != NULL) {
			struct store_recent_entry *e = *pp;
			if (e->gen > gen) {
				pp = &e->next;
				continue;
			}
			*pp = e->next;
			free(e);
			r->n--;
		}
	}
}

static void store_recent_list_free(struct store_recent_entry *e)
{
	while (e != NULL) {
		struct store_recent_entry *next = e->next;
		free(e);
		e = next;
	}
}

static void store_recent_free(struct store_recent *r)
{
	for (size_t i = 0; i < r->nbuckets; i++)
		store_recent_list_free(r->buckets[i]);
	free(r->buckets);
	memset(r, 0, sizeof(*r));
}

/* A record as the loop reads it: the recent table first, then LMDB in
 * s->rtxn (begun by the caller). MDB_NOTFOUND for a recently deleted
 * one. v points into the entry or the snapshot. */
static int store_lookup(struct store *s, enum clog_db db, MDB_val *k,
                        MDB_val *v)
{
	const struct store_recent_entry *e =
	    store_recent_find(s, db, k->mv_data, k->mv_size);

	if (e == NULL)
		return mdb_get(s->rtxn, store_clog_dbi(s, db), k, v);
	if (e->deleted)
		return MDB_NOTFOUND;
	v->mv_size = e->rlen;
	v->mv_data = (void *)(e->bytes + e->dklen);
	return 0;
}

/* Run the callbacks of a finished batch, in queue order, and free it.
 * batch_status replaces the status of ops that had succeeded (the commit
 * failed after they were applied). */
static void store_finish(struct store *s, struct store_op *batch,
                         int batch_status)
{
	while (batch != NULL) {
		struct store_op *op = batch;
		int status = op->status != 0 ? op->status : batch_status;
		batch = op->next;
		if (status == 0)
			s->mutations++;
		if (op->t != NULL) {
			s->hint_ops_queued--;
			if (status == 0) {
				op->t->pending +=
				    (uint64_t)(int64_t)op->hint_delta;
				s->hints += (uint64_t)(int64_t)op->hint_delta;
				s->hint_writes += op->kind == STORE_OP_HINT;
			}
		}
		/* Acknowledged and not yet checkpointed: reads find it in
		 * the recent table until LMDB has it. */
		if (status == 0 && op->recent != NULL &&
		    op->recent->gen > s->recent_gen) {
			store_recent_put(&s->recent, op->recent);
			op->recent = NULL;
		}
		if (status == 0 && op->t == NULL && s->observer != NULL)
			s->observer(s->observer_arg, byte_get_be32(op->dkey),
			            op->key, op->klen, op->result);
		op->cb(status, status == 0 ? op->result : NULL, op->arg);
		store_op_free(op);
	}
}

/* --- the writer thread ---------------------------------------------------
 *
 * Why a thread. With sync = batch a group waits for fdatasync of the
 * commit log, and in both modes a checkpoint waits for LMDB's flush of
 * the B-tree. (Under periodic the loop applies most groups itself; see
 * "The loop's groups" below: the batches here are then hint ops and
 * groups that come while the writer holds the log.) Run on the loop thread,
 * those waits would stop every socket read, so the next batch would only hold
 * what arrived before the sync began. The writer thread applies and logs batch
 * k while the loop keeps reading requests and queueing batch k+1, which it
 * hands over as soon as batch k is done:
 *
 *   loop:   queue k+1 ....... [k done: hand k+1, callbacks of k] queue k+2
 *   writer: apply k, log k, fdatasync ....... apply k+1, log, fdatasync
 *
 * At most one batch is in the writer, and batches are handed over in queue
 * order, so a key's mutations are applied in the order they were queued
 * and callbacks run in queue order. The writer reads and writes LMDB only
 * inside its write transaction and touches nothing of libevent: it
 * publishes the finished batch under mu and writes done_fd, an eventfd
 * watched by done_ev on the loop, which runs the callbacks (store_finish)
 * there. An eventfd rather than event_active() from the writer: the latter
 * needs evthread_use_pthreads(), which puts a lock around every operation
 * of the base for the sake of this one signal, and an active-only event
 * does not keep EVLOOP_ONCE waiting for it; done_ev is a plain read event,
 * pending exactly while a batch is in the writer. */

/* A write transaction, and the batch's cursor on "objects" that store_load
 * and store_put use (freed by LMDB with the transaction). LMDB's code;
 * on failure *txn is NULL. */
static int store_write_begin(struct store *s, MDB_txn **txn)
{
	int rc = mdb_txn_begin(s->env, NULL, 0, txn);

	if (rc != 0) {
		*txn = NULL;
		return rc;
	}
	rc = mdb_cursor_open(*txn, s->objects_dbi, &s->w_objects);
	if (rc == 0)
		return 0;
	mdb_txn_abort(*txn);
	*txn = NULL;
	return rc;
}

/* Apply every op of batch inside txn, in order, but those that failed
 * already (the loop tried the group first, store_requeue). Returns 0, or
 * LMDB's code when it failed: that leaves txn unusable, and the ops after
 * it are not applied. */
static int store_apply_batch(struct store *s, MDB_txn *txn,
                             struct store_op *batch)
{
	const struct store_via via = {txn, s->w_codec, s->w_gen, NULL};
	int lmdb_rc = 0;

	for (struct store_op *op = batch; op != NULL && lmdb_rc == 0;
	     op = op->next) {
		if (op->status != 0)
			continue;
		op->status = op->t != NULL
		                 ? store_hint_apply(s, &via, op, &lmdb_rc)
		                 : store_apply(s, &via, op, &lmdb_rc);
	}
	return lmdb_rc;
}

/* --- the commit log --------------------------------------------------------
 *
 * Flushing a group's B-tree pages costs about ten times what flushing the
 * same records appended to a file does (commitlog.h). So the writer
 * keeps one LMDB write transaction open across groups, the long
 * transaction, and makes each group durable through the commit log
 * instead:
 *
 *   group k:    apply to the long txn; append its writes to the log;
 *               with sync = batch, fdatasync the log; the callbacks run
 *               (acknowledged)
 *   checkpoint: commit the long txn (LMDB flushes the B-tree and its
 *               meta page); empty the log
 *
 * With sync = periodic the log is flushed every sync_interval_ms
 * instead, so a crash of the machine loses at most the groups appended
 * since, a crash of the process none (the kernel holds them). Either way
 * LMDB itself only ever commits with its flushes, in its order (pages,
 * then meta page): no crash leaves the B-tree damaged, which a commit
 * without them (MDB_NOSYNC) could when the machine stops.
 *
 * A checkpoint comes every STORE_CHECKPOINT_MS or STORE_CHECKPOINT_BYTES
 * of log, when the loop asks (store_settle) and at close. A crash loses
 * the long transaction, never a group: store_open applies the log's
 * groups to LMDB before anything else, in the order they were written.
 * The log holds the records as stored, so applying a group whose
 * checkpoint did reach the disk (a crash between the commit and the log's
 * truncation) writes the same bytes again; nothing writes LMDB between a
 * checkpoint and the log's truncation, as the loop's own transactions
 * wait for store_settle.
 *
 * Reading. The loop's read transactions see only what was checkpointed.
 * So each acknowledged write also goes to the recent table, the loop's
 * index of records (and hint deletions) newer than LMDB's, which
 * store_get and store_hint_get look at first; a checkpoint's generation
 * tells the loop which entries LMDB now has. Scans, statistics and the
 * loop's own write transactions call store_settle first instead: it asks
 * the writer for a checkpoint and waits for it.
 *
 * The loop's groups. Under sync = periodic a group waits for no flush,
 * and handing it to the writer and back costs more than applying it: so
 * the loop applies the groups itself (store_apply_here), reading where
 * its reads do, logs them and answers, and the writer puts their records
 * into the long transaction after the fact (l_pending), before any batch
 * of its own and before a checkpoint. LMDB has one writer, and a
 * checkpoint's commit holds the writer thread for milliseconds: the
 * groups the loop applies meanwhile belong to the next transaction, and
 * the writer carries their records into the log's next pass and that
 * transaction once the commit is done (l_carry, store_checkpoint). The
 * writer takes the log back for its own batches (hint ops), for a
 * checkpoint's reset and for a rebuild (w_logs); the loop then hands
 * its groups over as under batch. Under batch every group goes to the
 * writer: the loop would have to flush the log.
 *
 * Failure. An LMDB error inside the long transaction (map full, I/O) or a
 * failed log append loses the transaction, but every acknowledged group
 * in it is in the log: store_rebuild applies the log to a fresh
 * transaction and checkpoints it. Only the group that failed fails. When
 * even that is impossible, or the log cannot be emptied, the store
 * refuses writes (w_failed) and keeps the log for the next start. */

struct store_replay {
	struct store *s;
	MDB_txn *txn;
};

static int store_replay_write(void *arg, enum clog_db db, const uint8_t *key,
                              size_t klen, const uint8_t *rec, size_t rlen)
{
	struct store_replay *r = arg;
	MDB_dbi dbi = store_clog_dbi(r->s, db);
	MDB_val k = {klen, (void *)key};
	MDB_val v = {rlen, (void *)rec};
	int rc = rec != NULL ? mdb_put(r->txn, dbi, &k, &v, 0)
	                     : mdb_del(r->txn, dbi, &k, NULL);

	store_touch(r->s, dbi, &k);
	if (rc == MDB_NOTFOUND && rec == NULL)
		return 0;
	if (rc != 0)
		return store_lmdb_fail(r->s, "applying the commit log", rc);
	return 0;
}

/* Apply the log's groups to txn. */
static int store_replay(struct store *s, MDB_txn *txn,
                        struct clog_replay_stats *st)
{
	struct store_replay r = {s, txn};

	return clog_replay(&s->clog, store_replay_write, &r, st);
}

/* Microseconds since t, a CLOCK_MONOTONIC reading. */
static uint64_t store_us_since(const struct timespec *t)
{
	struct timespec now;
	int64_t us = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	us = (int64_t)(now.tv_sec - t->tv_sec) * 1000000 +
	     (now.tv_nsec - t->tv_nsec) / 1000;
	return us > 0 ? (uint64_t)us : 0;
}

/* The long transaction of generation w_gen is in LMDB, the checkpoint
 * having begun at began: tell the loop. */
static void store_checkpointed(struct store *s, const struct timespec *began)
{
	uint64_t us = store_us_since(began);

	pthread_mutex_lock(&s->mu);
	s->ckpt_gen = s->w_gen;
	s->w_gen++;
	s->log_bytes = s->clog.size;
	s->checkpoints++;
	histogram_record(&s->ckpt_us, us);
	pthread_mutex_unlock(&s->mu);
}

static void store_refuse_writes(struct store *s)
{
	pthread_mutex_lock(&s->mu);
	s->w_failed = true;
	pthread_mutex_unlock(&s->mu);
	log_error("store: %s refuses writes from now on; what it acknowledged "
	          "is kept in its commit log, applied at the next start",
	          s->dir);
}

/* Wait until the loop is out of the log (writer thread, mu held). */
static void store_wait_log(struct store *s)
{
	while (s->l_logging)
		pthread_cond_wait(&s->work, &s->mu);
}

/* The writer takes the log from the loop (store_apply_here), waiting
 * for a group the loop is logging, and gives it back. */
static void store_log_take(struct store *s)
{
	pthread_mutex_lock(&s->mu);
	s->w_logs = true;
	store_wait_log(s);
	pthread_mutex_unlock(&s->mu);
}

static void store_log_give(struct store *s)
{
	pthread_mutex_lock(&s->mu);
	s->w_logs = false;
	pthread_mutex_unlock(&s->mu);
}

/* The records of the loop's groups, taken from l_pending (mu held). */
static struct store_recent_entry *store_pending_take(struct store *s)
{
	struct store_recent_entry *pending = s->l_pending;

	s->l_pending = NULL;
	s->l_pending_tail = &s->l_pending;
	/* store_get_stats waits for l_pending to empty. */
	pthread_cond_broadcast(&s->done);
	return pending;
}

/* The long transaction is lost: apply the log to a fresh one and
 * checkpoint it (see above). The writer holds the log (store_log_take).
 * The records the loop applied and the writer had not put yet are in
 * the log too: they go with it. */
static void store_rebuild(struct store *s)
{
	struct clog_replay_stats st;
	struct timespec began;
	struct store_recent_entry *pending = NULL;
	MDB_txn *txn = NULL;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &began);
	pthread_mutex_lock(&s->mu);
	pending = store_pending_take(s);
	pthread_mutex_unlock(&s->mu);
	store_recent_list_free(pending);
	if (s->w_txn != NULL)
		mdb_txn_abort(s->w_txn);
	s->w_txn = NULL;
	s->w_objects = NULL;
	clog_drop(&s->clog);
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0) {
		store_lmdb_fail(s, "a transaction for the commit log", rc);
		store_refuse_writes(s);
		return;
	}
	rc = store_replay(s, txn, &st);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
		if (rc != 0)
			rc =
			    store_lmdb_fail(s, "committing the commit log", rc);
	}
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (rc == 0)
		rc = clog_reset(&s->clog);
	if (rc != 0) {
		store_refuse_writes(s);
		return;
	}
	s->log_room = 0;
	log_warn("store: rebuilt %s from its commit log (%llu writes)", s->dir,
	         (unsigned long long)st.writes);
	store_checkpointed(s, &began);
}

/* store_rebuild where the writer does not hold the log: take it from the
 * loop for the rebuild and give it back. */
static void store_rebuild_taking_log(struct store *s)
{
	store_log_take(s);
	store_rebuild(s);
	store_log_give(s);
}

/* Publish the objects in the long transaction (writer thread, between
 * groups, mu not held): every acknowledged group's, which the loop's read
 * transactions do not see before a checkpoint. Unknown when there is no
 * such transaction (a failed group rebuilt it and checkpointed). */
static void store_count_keys(struct store *s)
{
	MDB_stat st;
	bool known =
	    s->w_txn != NULL && mdb_stat(s->w_txn, s->objects_dbi, &st) == 0;

	pthread_mutex_lock(&s->mu);
	s->w_keys = known ? st.ms_entries : 0;
	/* Groups the loop applied since are not in the count. */
	s->w_keys_known = known && s->l_pending == NULL;
	pthread_mutex_unlock(&s->mu);
}

/* The commit is over: the loop's groups go to the long transaction
 * again. Take the log back from the loop and the records it applied
 * meanwhile, in order (writer thread). */
static struct store_recent_entry *store_carry_take(struct store *s)
{
	struct store_recent_entry *carry = NULL;

	pthread_mutex_lock(&s->mu);
	s->w_committing = false;
	s->w_logs = true;
	store_wait_log(s);
	carry = s->l_carry;
	s->l_carry = NULL;
	s->l_carry_tail = &s->l_carry;
	pthread_mutex_unlock(&s->mu);
	return carry;
}

/* Open the long transaction if none is (writer thread). LMDB's code,
 * logged. */
static int store_long_begin(struct store *s)
{
	int rc = 0;

	if (s->w_txn != NULL)
		return 0;
	rc = store_write_begin(s, &s->w_txn);
	if (rc != 0) {
		s->w_objects = NULL;
		return store_lmdb_fail(s, "a write transaction", rc);
	}
	clock_gettime(CLOCK_MONOTONIC, &s->w_txn_begun);
	return 0;
}

/* Put records the loop applied (list, in order) into the long
 * transaction. LMDB's code, logged; on failure the transaction is
 * unusable. */
static int store_records_put(struct store *s,
                             const struct store_recent_entry *list)
{
	struct store_replay r = {s, NULL};
	int rc = store_long_begin(s);

	r.txn = s->w_txn;
	for (const struct store_recent_entry *e = list; e != NULL && rc == 0;
	     e = e->next)
		rc = store_replay_write(&r, e->db, e->bytes, e->dklen,
		                        store_entry_record(e), e->rlen);
	return rc;
}

/* Put the loop's groups into the long transaction (writer thread, mu not
 * held), before any batch of its own: a key's writes keep their order.
 * On failure the log, which holds them, rebuilds it. */
static void store_pending_put(struct store *s)
{
	struct store_recent_entry *pending = NULL;

	pthread_mutex_lock(&s->mu);
	pending = store_pending_take(s);
	s->w_replaying = true;
	pthread_mutex_unlock(&s->mu);
	if (store_records_put(s, pending) != 0)
		store_rebuild_taking_log(s);
	store_recent_list_free(pending);
	store_count_keys(s);
	pthread_mutex_lock(&s->mu);
	s->w_replaying = false;
	pthread_cond_broadcast(&s->done);
	pthread_mutex_unlock(&s->mu);
}

/* Commit the long transaction, with the loop's groups not yet in it, if
 * there is anything to commit (writer thread, mu not held). Under
 * periodic the loop meanwhile applies the groups that arrive
 * (store_apply_here) for the next transaction: their records then open
 * the log's next pass and that transaction. */
static void store_checkpoint(struct store *s)
{
	struct store_recent_entry *pending = NULL, *carry = NULL;
	struct timespec began;
	bool restarted = false;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &began);
	pthread_mutex_lock(&s->mu);
	/* A group the loop is logging belongs to this transaction. */
	store_wait_log(s);
	pending = store_pending_take(s);
	if (s->w_txn == NULL && pending == NULL) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	s->w_committing = !s->sync_batch && !s->w_failed;
	s->l_gen = s->w_gen + 1;
	pthread_mutex_unlock(&s->mu);
	rc = store_records_put(s, pending);
	store_recent_list_free(pending);
	if (rc == 0) {
		rc = mdb_txn_commit(s->w_txn);
		if (rc != 0)
			store_lmdb_fail(s, "a checkpoint", rc);
	} else if (s->w_txn != NULL) {
		mdb_txn_abort(s->w_txn);
	}
	s->w_txn = NULL; /* freed by the commit, even when it fails */
	s->w_objects = NULL;
	carry = store_carry_take(s);
	if (rc != 0) {
		/* The log holds the loop's groups after the transaction's:
		 * the rebuild applies them too. */
		store_rebuild(s);
		store_log_give(s);
		store_recent_list_free(carry);
		return;
	}
	s->log_room = 0;
	for (const struct store_recent_entry *e = carry; e != NULL && rc == 0;
	     e = e->next) {
		rc = clog_add(&s->clog, e->db, e->bytes, e->dklen,
		              store_entry_record(e), e->rlen);
		s->log_room += store_record_room(s, e);
	}
	/* LMDB has every group: the table may drop them even if the log
	 * cannot be emptied, but a log that still holds them must not take
	 * the next groups. */
	restarted = rc == 0 && clog_restart(&s->clog) == 0;
	if (!restarted) {
		clog_drop(&s->clog);
		store_refuse_writes(s);
	}
	store_checkpointed(s, &began);
	/* The loop's groups go on into the new pass while its first block is
	 * flushed, which takes milliseconds they would otherwise wait for.
	 * Nothing of the writer's comes before the flush, so LMDB commits
	 * nothing the log does not hold before it (clog_restart). */
	store_log_give(s);
	if (restarted && clog_flush(&s->clog) != 0)
		store_refuse_writes(s);
	/* Before any group: the next checkpoint takes them into LMDB. On
	 * failure the log's pass, which opens with these records, rebuilds
	 * the transaction. */
	if (carry != NULL && store_records_put(s, carry) != 0)
		store_rebuild_taking_log(s);
	else if (carry != NULL)
		store_count_keys(s);
	store_recent_list_free(carry);
}

static bool store_checkpoint_due(const struct store *s)
{
	if (s->w_txn == NULL)
		return false;
	if (s->log_bytes >= STORE_CHECKPOINT_BYTES)
		return true;
	return store_us_since(&s->w_txn_begun) >=
	       (uint64_t)s->checkpoint_ms * 1000;
}

/* Apply batch to the long transaction and make it durable through the
 * log (flushed with sync = batch): the writer thread. 0, or RKV_EIO when
 * the group failed as a whole (the transaction was rebuilt from the log
 * without it). */
static int store_write_logged(struct store *s, struct store_op *batch)
{
	int lmdb_rc = 0;

	if (s->w_failed)
		return RKV_EIO;
	if (store_long_begin(s) != 0)
		return RKV_EIO;
	lmdb_rc = store_apply_batch(s, s->w_txn, batch);
	if (lmdb_rc == 0 &&
	    (s->sync_batch ? clog_commit(&s->clog) : clog_write(&s->clog)) == 0)
		return 0;
	if (lmdb_rc != 0)
		store_lmdb_fail(s, "a group commit", lmdb_rc);
	store_rebuild_taking_log(s);
	return RKV_EIO;
}

/* The periodic flush of the log, on the writer thread between groups
 * (mu held, released during the flush). A failed flush is tried again
 * at the next tick. */
static void store_writer_sync(struct store *s)
{
	int rc = 0;

	s->w_sync = false;
	if (!s->dirty)
		return;
	s->dirty = false;
	pthread_mutex_unlock(&s->mu);
	rc = clog_flush(&s->clog);
	pthread_mutex_lock(&s->mu);
	s->dirty = s->dirty || rc != 0;
}

/* A checkpoint between batches (mu held, released during it): one that
 * is due, one the loop waits for (w_settle), or the last one (w_stop). */
static void store_writer_checkpoint(struct store *s)
{
	bool settle = s->w_settle;

	pthread_mutex_unlock(&s->mu);
	store_checkpoint(s);
	pthread_mutex_lock(&s->mu);
	if (!settle)
		return;
	s->w_settle = false;
	pthread_cond_broadcast(&s->done);
}

/* Idle (mu held): wait for work, or until the long transaction is due
 * for its checkpoint. */
static void store_writer_wait(struct store *s)
{
	struct timespec at = s->w_txn_begun;

	if (s->w_txn == NULL) {
		pthread_cond_wait(&s->work, &s->mu);
		return;
	}
	at.tv_sec += s->checkpoint_ms / 1000;
	at.tv_nsec += (long)(s->checkpoint_ms % 1000) * 1000000;
	if (at.tv_nsec >= 1000000000) {
		at.tv_sec++;
		at.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&s->work, &s->mu, &at);
}

static void *store_writer_main(void *arg)
{
	struct store *s = arg;
	const uint64_t one = 1;

	errno = 0;
	if (!s->sync_batch && nice(STORE_WRITER_NICE) == -1 && errno != 0)
		log_debug("store: the writer of %s keeps its priority: %s",
		          s->dir, strerror(errno));
	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct store_op *batch = s->w_batch;
		int status = 0;
		if (s->l_pending != NULL) {
			pthread_mutex_unlock(&s->mu);
			store_pending_put(s);
			pthread_mutex_lock(&s->mu);
			/* Under steady load the loop's next group is often
			 * pending already: a checkpoint that waited for none
			 * would never come. */
			if (store_checkpoint_due(s))
				store_writer_checkpoint(s);
			continue;
		}
		if (batch == NULL && s->w_sync) {
			store_writer_sync(s);
			continue;
		}
		if (batch == NULL &&
		    (s->w_settle || s->w_stop || store_checkpoint_due(s))) {
			store_writer_checkpoint(s);
			/* A stop that came during a timed checkpoint's
			 * commit finds the groups the loop applied meanwhile
			 * in a new long transaction: one more round
			 * commits them. */
			if (s->w_stop && s->w_txn == NULL &&
			    s->l_pending == NULL)
				break;
			continue;
		}
		if (batch == NULL) {
			store_writer_wait(s);
			continue;
		}
		s->w_batch = NULL;
		pthread_mutex_unlock(&s->mu);
		status = store_write_logged(s, batch);
		store_count_keys(s);
		pthread_mutex_lock(&s->mu);
		s->w_done = batch;
		s->w_done_status = status;
		s->log_bytes = s->clog.size;
		s->dirty = s->dirty || (!s->sync_batch && status == 0);
		pthread_cond_broadcast(&s->done);
		/* An eventfd counter cannot overflow at one write a batch. */
		if (write(s->done_fd, &one, sizeof(one)) !=
		    (ssize_t)sizeof(one))
			log_error("store: cannot signal a commit in %s: %s",
			          s->dir, strerror(errno));
		/* Under steady load the next batch is often handed before
		 * the writer is back at the top: check here too, or the log
		 * would grow past its bound. */
		if (store_checkpoint_due(s))
			store_writer_checkpoint(s);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Everything queued, as one batch; the queue is left empty. */
static struct store_op *store_take_queue(struct store *s)
{
	struct store_op *batch = s->queue.head;

	s->queue.head = NULL;
	s->queue.tail = &s->queue.head;
	s->queue.n = 0;
	return batch;
}

/* The first max ops queued, as one batch; the rest stay queued. */
static struct store_op *store_take_some(struct store *s, size_t max)
{
	struct store_op *batch = s->queue.head, **cut = &s->queue.head;

	if (s->queue.n <= max)
		return store_take_queue(s);
	for (size_t i = 0; i < max; i++)
		cut = &(*cut)->next;
	s->queue.head = *cut;
	*cut = NULL;
	s->queue.n -= max;
	return batch;
}

/* A copy of e for the writer (see store_apply_here). */
static struct store_recent_entry *
store_recent_copy(const struct store_recent_entry *e)
{
	size_t size = sizeof(*e) + e->dklen + e->rlen;
	struct store_recent_entry *c = malloc(size);

	if (c != NULL) {
		memcpy(c, e, size);
		c->next = NULL;
	}
	return c;
}

/* Bytes up to the last page in use of the environment info describes:
 * what the file must hold, free pages inside it included. */
static uint64_t store_info_bytes(const MDB_envinfo *info, size_t psize)
{
	return (uint64_t)(info->me_last_pgno + 1) * psize;
}

/* Whether LMDB's map can take every record logged since the last
 * checkpoint (log_room) beyond the pages in use, counting none of the
 * free ones LMDB may reuse: the loop answers its groups before the writer
 * puts them into LMDB, so they must fit whatever it does. A group that
 * would not goes to the writer, where a put that finds the map full
 * fails that group alone. */
static bool store_log_fits(struct store *s)
{
	MDB_envinfo info;

	return mdb_env_info(s->env, &info) == 0 &&
	       store_info_bytes(&info, s->psize) + s->log_room <=
	           info.me_mapsize;
}

/* Undo what store_apply did to the ops of batch, a group the loop applied
 * but will not log (store_log_fits), and put it back at the head of the
 * queue for the writer. An op that failed keeps its status: the writer
 * skips it (store_apply_batch), as it would fail the same way there, and
 * a merge that took its object may have freed it. */
static void store_requeue(struct store *s, struct store_op *batch)
{
	struct store_op **tail = &batch;
	size_t n = 0;

	for (struct store_op *op = batch; op != NULL; op = op->next) {
		if (op->status == 0 && op->kind == STORE_OP_MERGE &&
		    op->obj == NULL) {
			op->obj = op->result; /* taken as it came */
			op->result = NULL;
		}
		dvv_free(op->result);
		op->result = NULL;
		free(op->recent);
		op->recent = NULL;
		tail = &op->next;
		n++;
	}
	*tail = s->queue.head;
	if (s->queue.head == NULL)
		s->queue.tail = tail;
	s->queue.head = batch;
	s->queue.n += n;
}

/* Apply the queue on this thread (sync = periodic) instead of handing it
 * to the writer: no group waits for the hand-over and the wake-up back,
 * and while the writer commits a checkpoint, which takes milliseconds,
 * none waits for the commit either. The loop does what the writer
 * would, reading each key's object from the group's own earlier writes,
 * else where its reads find it (store_lookup: the recent table, then the
 * last checkpoint, which together hold every acknowledged write, as the
 * writer's transaction does), and writing the group's block to the log.
 * The callbacks run at once. The writer takes copies of the records:
 * l_pending, which it puts into the long transaction, or, while it
 * commits a checkpoint, l_carry, which opens the log's next pass and the
 * next transaction (store_checkpoint). false, the queue untouched, under
 * sync = batch (the log's flush would stop the loop), when a hint op is
 * queued (hint counts are the writer's), while the writer holds the log
 * and once it refuses writes: the caller hands the queue to it then. */
static bool store_apply_here(struct store *s)
{
	struct store_via via = {NULL, s->codec, 0, NULL};
	struct store_recent_entry *copies = NULL, **tail = &copies;
	struct store_op *batch = NULL;
	uint64_t ckpt_gen = 0, room = 0;
	bool during = false, fits = false, full = false;
	int status = 0;

	if (s->sync_batch || s->hint_ops_queued > 0)
		return false;
	pthread_mutex_lock(&s->mu);
	full = s->log_bytes >= s->log_limit;
	if (!s->w_logs && !s->w_failed && !full) {
		s->l_logging = true;
		during = s->w_committing;
		via.gen = during ? s->l_gen : s->w_gen;
		ckpt_gen = s->ckpt_gen;
	}
	pthread_mutex_unlock(&s->mu);
	s->log_full_groups += full;
	if (via.gen == 0)
		return false;
	room = s->log_room;
	/* Before the reads renew the snapshot, which then has what the
	 * dropped entries held. */
	store_recent_drop(s, ckpt_gen);
	batch = store_take_some(s, STORE_LOOP_GROUP);
	via.batch = batch;
	status = store_read_begin(s);
	for (struct store_op *op = batch; op != NULL && status == 0;
	     op = op->next) {
		int lmdb_rc = 0;
		op->status = store_apply(s, &via, op, &lmdb_rc);
		if (lmdb_rc != 0)
			store_lmdb_fail(s, "a read", lmdb_rc);
		if (op->status != 0 || op->recent == NULL)
			continue;
		*tail = store_recent_copy(op->recent);
		if (*tail == NULL)
			status = RKV_ENOMEM;
		else
			tail = &(*tail)->next;
	}
	if (s->rtxn != NULL)
		mdb_txn_reset(s->rtxn);
	fits = status == 0 && store_log_fits(s);
	if (fits)
		status = clog_write(&s->clog);
	else
		clog_drop(&s->clog);
	if (!fits || status != 0)
		s->log_room = room;
	pthread_mutex_lock(&s->mu);
	s->l_logging = false;
	s->log_bytes = s->clog.size;
	if (fits && status == 0 && copies != NULL && during) {
		*s->l_carry_tail = copies;
		s->l_carry_tail = tail;
		copies = NULL;
	} else if (fits && status == 0 && copies != NULL) {
		*s->l_pending_tail = copies;
		s->l_pending_tail = tail;
		s->w_keys_known = false;
		copies = NULL;
	}
	s->dirty = s->dirty || (fits && status == 0);
	/* The writer waits for l_logging, or for pending records. */
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	store_recent_list_free(copies);
	if (status == 0 && !fits) {
		store_requeue(s, batch);
		return false;
	}
	if (status == 0) {
		s->unsettled = true;
		s->commits++;
		s->checkpoint_groups += during;
	}
	/* The rest of the queue is the next group, in a later turn. */
	if (s->queue.head != NULL)
		event_active(s->commit_ev, EV_TIMEOUT, 0);
	store_finish(s, batch, status);
	return true;
}

/* Hand everything queued to the idle writer (loop thread). */
static void store_hand(struct store *s)
{
	struct store_op *batch = store_take_queue(s);

	assert(!s->busy && batch != NULL);
	s->busy = true;
	s->unsettled = true;
	pthread_mutex_lock(&s->mu);
	s->w_batch = batch;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
	if (event_add(s->done_ev, NULL) == 0)
		return;
	/* Cannot watch done_fd (the kernel is out of memory): run
	 * store_done_cb in a later turn anyway, where it waits for the batch
	 * as the loop did before it had a writer, rather than lose the
	 * batch's callbacks. */
	log_warn("store: cannot watch the writer of %s; waiting for it",
	         s->dir);
	event_active(s->done_ev, EV_READ, 1);
}

/* The writer finished batch (loop thread): hand it the next one at once,
 * so it commits while this one's callbacks run, then run them. Mutations
 * those callbacks queue form the batch after. */
static void store_done(struct store *s, struct store_op *batch, int status)
{
	s->busy = false;
	s->commits += status == 0;
	/* Under periodic the loop applies the queue itself if it can
	 * (store_commit_cb), after this batch's callbacks: its reads must
	 * see this batch's records. */
	if (s->queue.head != NULL && !s->sync_batch)
		event_active(s->commit_ev, EV_TIMEOUT, 0);
	else if (s->queue.head != NULL)
		store_hand(s);
	store_finish(s, batch, status);
}

/* Take the batch the writer finished, waiting for it if need be (only
 * store_close and the fallback of store_hand ever wait: done_fd becomes
 * readable once the batch is published). */
static struct store_op *store_take_done(struct store *s, int *status)
{
	struct store_op *batch = NULL;
	uint64_t gen = 0;

	pthread_mutex_lock(&s->mu);
	while (s->w_done == NULL)
		pthread_cond_wait(&s->done, &s->mu);
	batch = s->w_done;
	*status = s->w_done_status;
	s->w_done = NULL;
	gen = s->ckpt_gen;
	pthread_mutex_unlock(&s->mu);
	store_recent_drop(s, gen);
	return batch;
}

static void store_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;
	uint64_t count = 0;
	int status = 0;
	struct store_op *batch = store_take_done(s, &status);

	(void)what;
	/* Drain the counter only now: the writer wrote it, with mu held,
	 * when it published the batch just taken, so none is left over for
	 * the next batch. */
	if (read(fd, &count, sizeof(count)) < 0)
		log_error("store: reading the writer's signal in %s: %s",
		          s->dir, strerror(errno));
	store_done(s, batch, status);
}

/* The lowest-priority event: the turn's I/O is queued; commit it now
 * unless a batch is in the writer (store_done hands it then). */
static void store_commit_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;

	(void)fd;
	(void)what;
	if (s->busy || s->queue.head == NULL || store_apply_here(s))
		return;
	store_hand(s);
}

/* Periodic: ask the writer to flush the log; it does so between
 * batches. */
static void store_sync_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&s->mu);
	if (s->dirty) {
		s->w_sync = true;
		pthread_cond_signal(&s->work);
	}
	pthread_mutex_unlock(&s->mu);
}

/* A new op for the queue, or NULL with *rc set. */
static struct store_op *store_op_new(struct store *s, uint32_t partition,
                                     const void *key, size_t klen, int *rc)
{
	struct store_op *op = NULL;
	size_t extra = klen > STORE_INLINE_KEY ? klen : 0;

	if (s->closing) {
		*rc = RKV_ESHUTDOWN;
		return NULL;
	}
	if (key == NULL && klen > 0) {
		*rc = RKV_EINVAL;
		return NULL;
	}
	if (klen > STORE_MAX_KEY) {
		*rc = RKV_ETOOBIG;
		return NULL;
	}
	if (s->queue.n >= STORE_MAX_PENDING) {
		*rc = RKV_EUNAVAIL;
		return NULL;
	}
	op = calloc(1, sizeof(*op) + STORE_DKEY_MAX + extra);
	if (op == NULL) {
		*rc = RKV_ENOMEM;
		return NULL;
	}
	op->dklen = store_dkey(partition, key, klen, op->dkey);
	op->klen = klen;
	op->key = op->dkey + STORE_PREFIX;
	if (extra > 0) {
		op->key = op->dkey + op->dklen;
		memcpy(op->dkey + op->dklen, key, klen);
	}
	return op;
}

static void store_enqueue(struct store *s, struct store_op *op,
                          store_done_fn *cb, void *arg)
{
	op->cb = cb;
	op->arg = arg;
	*s->queue.tail = op;
	s->queue.tail = &op->next;
	if (s->queue.n++ == 0)
		event_active(s->commit_ev, EV_TIMEOUT, 0);
}

int store_update(struct store *s, uint32_t partition, const void *key,
                 size_t klen, const struct dvv_vv *ctx,
                 const struct dvv_value *v, store_done_fn *cb, void *arg)
{
	int rc = 0;
	struct store_op *op = store_op_new(s, partition, key, klen, &rc);

	if (op == NULL)
		return rc;
	op->kind = STORE_OP_UPDATE;
	if (ctx != NULL && dvv_vv_validate(ctx) != 0) {
		store_op_free(op);
		return RKV_EINVAL;
	}
	if (ctx != NULL && ctx->n > 0) {
		op->ctx.e = malloc(ctx->n * sizeof(*ctx->e));
		if (op->ctx.e == NULL)
			goto fail;
		memcpy(op->ctx.e, ctx->e, ctx->n * sizeof(*ctx->e));
		op->ctx.n = ctx->n;
	}
	/* On failure the copy leaves op->value zeroed, safe to free. */
	if (dvv_value_copy(&op->value, v) != 0)
		goto fail;
	store_enqueue(s, op, cb, arg);
	return 0;

fail:
	store_op_free(op);
	return RKV_ENOMEM;
}

/* Queue the merge of obj, a valid object the op takes. */
static int store_merge_queue(struct store *s, uint32_t partition,
                             const void *key, size_t klen, struct dvv *obj,
                             store_done_fn *cb, void *arg)
{
	int rc = 0;
	struct store_op *op = store_op_new(s, partition, key, klen, &rc);

	if (op == NULL) {
		dvv_free(obj);
		return rc;
	}
	op->kind = STORE_OP_MERGE;
	op->obj = obj;
	store_enqueue(s, op, cb, arg);
	return 0;
}

int store_merge(struct store *s, uint32_t partition, const void *key,
                size_t klen, const struct dvv *obj, store_done_fn *cb,
                void *arg)
{
	struct dvv *copy = NULL;

	if (dvv_validate(obj) != 0)
		return RKV_EINVAL;
	copy = dvv_dup(obj);
	if (copy == NULL)
		return RKV_ENOMEM;
	return store_merge_queue(s, partition, key, klen, copy, cb, arg);
}

int store_merge_take(struct store *s, uint32_t partition, const void *key,
                     size_t klen, struct dvv *obj, store_done_fn *cb, void *arg)
{
	if (dvv_validate(obj) != 0) {
		dvv_free(obj);
		return RKV_EINVAL;
	}
	return store_merge_queue(s, partition, key, klen, obj, cb, arg);
}

/* --- reads ---------------------------------------------------------------- */

static int store_read_begin(struct store *s)
{
	int rc = 0;

	if (s->rtxn == NULL)
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
	else
		rc = mdb_txn_renew(s->rtxn);
	if (rc == 0)
		return 0;
	if (s->rtxn != NULL)
		mdb_txn_abort(s->rtxn);
	s->rtxn = NULL;
	return store_lmdb_fail(s, "read transaction", rc);
}

/* Have the writer checkpoint what it holds, and wait, so that LMDB
 * itself has every acknowledged group (see "the commit log"). For the
 * functions that read LMDB by ranges or counts, or write it on this
 * thread. A no-op when nothing was handed since the last one. */
static void store_settle(struct store *s)
{
	uint64_t gen = 0;

	if (!s->writer_started || !s->unsettled)
		return;
	pthread_mutex_lock(&s->mu);
	s->w_settle = true;
	pthread_cond_signal(&s->work);
	while (s->w_settle)
		pthread_cond_wait(&s->done, &s->mu);
	gen = s->ckpt_gen;
	/* The loop may now write LMDB itself, which the writer's count
	 * would not show until its next group. */
	s->w_keys_known = false;
	pthread_mutex_unlock(&s->mu);
	/* A batch still in the writer was applied before the checkpoint. */
	s->unsettled = false;
	store_recent_drop(s, gen);
}

int store_get(struct store *s, uint32_t partition, const void *key, size_t klen,
              struct dvv **out)
{
	return store_get_digest(s, partition, key, klen, out, NULL);
}

/* A format 1 record's sum is already the XXH3-64 of its Avro bytes, so
 * a digest costs nothing there. */
static uint64_t store_record_digest(const struct store_rec *r)
{
	if (r->key == NULL)
		return byte_get_le64(r->avro + r->alen);
	return XXH3_64bits(r->avro, r->alen);
}

int store_get_digest(struct store *s, uint32_t partition, const void *key,
                     size_t klen, struct dvv **out, uint64_t *digest)
{
	uint8_t dkey[STORE_DKEY_MAX];
	MDB_val k = {0, dkey};
	MDB_val v = {0, NULL};
	struct store_rec rec;
	int rc = 0;

	if (out != NULL)
		*out = NULL;
	if (digest != NULL)
		*digest = 0;
	/* A key longer than any stored key cannot be there. */
	if (klen > STORE_MAX_KEY || (key == NULL && klen > 0))
		return RKV_ENOTFOUND;
	k.mv_size = store_dkey(partition, key, klen, dkey);
	rc = store_read_begin(s);
	if (rc != 0)
		return rc;
	rc = store_lookup(s, CLOG_DB_OBJECTS, &k, &v);
	if (rc == MDB_NOTFOUND)
		rc = RKV_ENOTFOUND;
	else if (rc != 0)
		rc = store_lmdb_fail(s, "mdb_get", rc);
	else
		rc = store_record_parse(&v, &rec);
	/* Another key under this slot: this one is not stored. */
	if (rc == 0 && !store_record_is(&rec, key, klen))
		rc = RKV_ENOTFOUND;
	/* The record points into the snapshot: decode before the reset. */
	if (rc == 0 && out != NULL)
		rc = codec_object_decode(s->codec, rec.avro, rec.alen, out);
	if (rc == 0 && digest != NULL)
		*digest = store_record_digest(&rec);
	mdb_txn_reset(s->rtxn);
	if (rc == RKV_ECORRUPT)
		store_log_corrupt(s, dkey, k.mv_size);
	return rc;
}

/* store_info_bytes of env; 0 if LMDB cannot say. */
static uint64_t store_env_bytes(MDB_env *env)
{
	MDB_envinfo info;
	MDB_stat st;

	if (mdb_env_info(env, &info) != 0 || mdb_env_stat(env, &st) != 0)
		return 0;
	return store_info_bytes(&info, st.ms_psize);
}

static uint64_t store_compact_estimate(struct store *s, uint64_t *objects);

/* Statistics are polled (every few seconds by monitoring), so they take
 * the key count from the writer rather than ask it for a checkpoint,
 * which would stall its groups at each poll; only when the writer has no
 * count that covers the loop's own writes (just after store_settle, or
 * after a failed group) is a checkpoint needed. Keys that groups applied
 * on the loop during a checkpoint created are counted once the writer
 * has put them, when the commit is over. */
void store_get_stats(struct store *s, struct store_stats *out)
{
	uint64_t objects = 0;
	bool counted = false;

	memset(out, 0, sizeof(*out));
	if (s->unsettled) {
		pthread_mutex_lock(&s->mu);
		/* The writer counts the loop's groups once it has put them,
		 * microseconds after they were logged: wait for that rather
		 * than for a checkpoint. */
		while (s->l_pending != NULL || s->w_replaying)
			pthread_cond_wait(&s->done, &s->mu);
		counted = s->w_keys_known;
		out->keys = s->w_keys;
		pthread_mutex_unlock(&s->mu);
		if (!counted)
			store_settle(s);
	}
	pthread_mutex_lock(&s->mu);
	out->checkpoints = s->checkpoints;
	pthread_mutex_unlock(&s->mu);
	out->commits = s->commits;
	out->checkpoint_groups = s->checkpoint_groups;
	out->log_full_groups = s->log_full_groups;
	out->mutations = s->mutations;
	out->hints = s->hints;
	out->hint_writes = s->hint_writes;
	out->disk_bytes = store_env_bytes(s->env);
	objects = out->keys;
	out->compact_estimate = store_compact_estimate(s, &objects);
	out->compacting = s->copy != NULL;
	out->compactions = s->compactions;
	out->last_compaction = s->last_compaction;
	/* The estimate counts LMDB's objects, which hold every write the
	 * writer did not count, after the settle above. */
	if (!counted)
		out->keys = objects;
}

void store_checkpoint_times(struct store *s, struct histogram *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->ckpt_us;
	pthread_mutex_unlock(&s->mu);
}

uint64_t store_node_id(const struct store *s)
{
	return s->node_id;
}

uint64_t store_actor(const struct store *s)
{
	return s->actor;
}

/* --- node metadata -------------------------------------------------------- */

static bool store_meta_name_ok(const char *name)
{
	size_t n = 0;

	if (name == NULL)
		return false;
	n = strnlen(name, STORE_MAX_META_NAME + 1);
	if (n == 0 || n > STORE_MAX_META_NAME ||
	    strcmp(name, store_meta_node_id) == 0 ||
	    strcmp(name, store_meta_actor) == 0 ||
	    strcmp(name, store_meta_running) == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch < 0x21 || ch > 0x7e)
			return false;
	}
	return true;
}

/* A stored blob, checked, into a malloc'ed copy. */
static int store_meta_copy(const MDB_val *v, uint8_t **out, size_t *len)
{
	const uint8_t *p = v->mv_data;
	size_t n = 0;
	uint8_t *buf = NULL;

	if (v->mv_size < 1 + STORE_SUM_BYTES || p[0] != STORE_META_FORMAT)
		return RKV_ECORRUPT;
	n = v->mv_size - STORE_SUM_BYTES;
	if (XXH3_64bits(p, n) != byte_get_le64(p + n))
		return RKV_ECORRUPT;
	buf = malloc(n); /* n >= 1: the blob and one spare byte */
	if (buf == NULL)
		return RKV_ENOMEM;
	memcpy(buf, p + 1, n - 1);
	*out = buf;
	*len = n - 1;
	return 0;
}

int store_meta_get(struct store *s, const char *name, uint8_t **out,
                   size_t *len)
{
	MDB_val k = {0, (void *)name};
	MDB_val v = {0, NULL};
	int rc = 0;

	*out = NULL;
	*len = 0;
	if (!store_meta_name_ok(name))
		return RKV_EINVAL;
	k.mv_size = strlen(name);
	rc = store_read_begin(s);
	if (rc != 0)
		return rc;
	rc = mdb_get(s->rtxn, s->meta_dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		rc = RKV_ENOTFOUND;
	else if (rc != 0)
		rc = store_lmdb_fail(s, "reading metadata", rc);
	else
		rc = store_meta_copy(&v, out, len);
	mdb_txn_reset(s->rtxn);
	if (rc == RKV_ECORRUPT)
		log_error("store: metadata \"%s\" in %s is corrupt (checksum "
		          "failed)",
		          name, s->dir);
	return rc;
}

int store_meta_put(struct store *s, const char *name, const void *buf,
                   size_t len)
{
	MDB_val k = {0, (void *)name};
	MDB_val v = {1 + len + STORE_SUM_BYTES, NULL};
	MDB_txn *txn = NULL;
	uint8_t *p = NULL;
	int rc = 0;

	if (!store_meta_name_ok(name) || (buf == NULL && len > 0))
		return RKV_EINVAL;
	if (len > STORE_MAX_META_VALUE)
		return RKV_ETOOBIG;
	k.mv_size = strlen(name);
	store_settle(s);
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_put(txn, s->meta_dbi, &k, &v, MDB_RESERVE);
	if (rc != 0)
		goto fail;
	store_touch(s, s->meta_dbi, &k);
	p = v.mv_data;
	p[0] = STORE_META_FORMAT;
	if (len > 0)
		memcpy(p + 1, buf, len);
	byte_put_le64(p + 1 + len, XXH3_64bits(p, 1 + len));
	rc = mdb_txn_commit(txn);
	txn = NULL; /* freed by the commit, even when it fails */
	if (rc != 0)
		goto fail;
	return 0;

fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	log_error("store: storing metadata \"%s\" in %s failed: %s", name,
	          s->dir, mdb_strerror(rc));
	return rc == ENOMEM ? RKV_ENOMEM : RKV_EIO;
}

/* --- partition scans ------------------------------------------------------ */

void store_scan_pos_init(struct store_scan_pos *pos)
{
	memset(pos, 0, sizeof(*pos));
}

int store_scan_pos_after(struct store_scan_pos *pos, uint32_t partition,
                         const void *key, size_t klen)
{
	uint8_t dkey[STORE_DKEY_MAX];
	size_t n = 0;

	if (klen > STORE_MAX_KEY || (key == NULL && klen > 0))
		return RKV_EINVAL;
	n = store_dkey(partition, key, klen, dkey);
	store_scan_pos_init(pos);
	pos->started = true;
	pos->partition = partition;
	pos->len = n - STORE_PREFIX;
	memcpy(pos->slot, dkey + STORE_PREFIX, pos->len);
	return 0;
}

/* Put the cursor on the first record after *pos (the partition's first
 * when it has not started). An LMDB code: 0, MDB_NOTFOUND or an error. */
static int store_scan_seek(MDB_cursor *cur, uint32_t partition,
                           const struct store_scan_pos *pos, MDB_val *k,
                           MDB_val *v)
{
	uint8_t dkey[STORE_DKEY_MAX];
	size_t n = STORE_PREFIX;
	int rc = 0;

	byte_put_be32(dkey, partition);
	if (pos->started) {
		memcpy(dkey + STORE_PREFIX, pos->slot, pos->len);
		n += pos->len;
	}
	k->mv_size = n;
	k->mv_data = dkey;
	rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
	/* SET_RANGE stops at the slot itself when it is still there. */
	if (rc == 0 && pos->started && k->mv_size == n &&
	    memcmp(k->mv_data, dkey, n) == 0)
		rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
	return rc;
}

/* Hand one record to fn, or skip it as corrupt (logged, counted). 0, fn's
 * non-zero value, or RKV_ENOMEM. */
static int store_scan_visit(struct store *s, const MDB_val *k, const MDB_val *v,
                            store_scan_fn *fn, void *arg,
                            struct store_scan_result *res)
{
	const uint8_t *dkey = k->mv_data;
	const uint8_t *key = dkey + STORE_PREFIX;
	size_t klen = k->mv_size - STORE_PREFIX;
	uint8_t slot[STORE_DKEY_MAX];
	struct store_rec rec;
	struct dvv *obj = NULL;
	int rc = store_record_parse(v, &rec);

	/* A long key's record must lie under the slot of the key it
	 * carries: a damaged LMDB key would otherwise hide it from reads
	 * while scans still met it. */
	if (rc == 0 && rec.key != NULL) {
		key = rec.key;
		klen = rec.klen;
		if (store_dkey(byte_get_be32(dkey), key, klen, slot) !=
		        k->mv_size ||
		    memcmp(slot, dkey, k->mv_size) != 0)
			rc = RKV_ECORRUPT;
	}
	if (rc == 0)
		rc = codec_object_decode(s->codec, rec.avro, rec.alen, &obj);
	if (rc == RKV_ECORRUPT) {
		store_log_corrupt(s, dkey, k->mv_size);
		res->corrupt++;
		return 0;
	}
	if (rc != 0)
		return rc;
	rc = fn(key, klen, obj, arg);
	dvv_free(obj);
	if (rc == 0)
		res->items++;
	return rc;
}

int store_scan(struct store *s, uint32_t partition, struct store_scan_pos *pos,
               size_t max_items, size_t max_bytes, store_scan_fn *fn, void *arg,
               struct store_scan_result *res)
{
	uint8_t prefix[STORE_PREFIX];
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k = {0, NULL}, v = {0, NULL};
	size_t visited = 0;
	int lrc = 0; /* LMDB's codes */
	int rc = 0;  /* ours, or fn's */

	memset(res, 0, sizeof(*res));
	if (max_items == 0 || max_bytes == 0 ||
	    (pos->started &&
	     (pos->partition != partition || pos->len > STORE_INLINE_KEY)))
		return RKV_EINVAL;
	byte_put_be32(prefix, partition);
	store_settle(s);
	lrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (lrc == 0)
		lrc = mdb_cursor_open(txn, s->objects_dbi, &cur);
	if (lrc == 0)
		lrc = store_scan_seek(cur, partition, pos, &k, &v);
	while (lrc == 0 && store_in_partition(&k, prefix)) {
		if (visited == max_items || res->bytes >= max_bytes) {
			res->more = true;
			break;
		}
		rc = store_scan_visit(s, &k, &v, fn, arg, res);
		if (rc != 0)
			break;
		pos->started = true;
		pos->partition = partition;
		pos->len = k.mv_size - STORE_PREFIX;
		memcpy(pos->slot, (const uint8_t *)k.mv_data + STORE_PREFIX,
		       pos->len);
		visited++;
		res->bytes += k.mv_size + v.mv_size;
		lrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc == 0 && lrc != 0 && lrc != MDB_NOTFOUND)
		rc = store_lmdb_fail(s, "partition scan", lrc);
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (txn != NULL)
		mdb_txn_abort(txn);
	return rc;
}

int store_partition_stats(struct store *s, uint32_t partition, uint64_t *keys,
                          uint64_t *bytes)
{
	uint8_t prefix[STORE_PREFIX];
	MDB_cursor *cur = NULL;
	MDB_val k = {STORE_PREFIX, prefix}, v = {0, NULL};
	int rc = 0;

	store_settle(s);
	rc = store_read_begin(s);
	*keys = 0;
	*bytes = 0;
	if (rc != 0)
		return rc;
	byte_put_be32(prefix, partition);
	rc = mdb_cursor_open(s->rtxn, s->objects_dbi, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && store_in_partition(&k, prefix)) {
		(*keys)++;
		*bytes += k.mv_size + v.mv_size;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	mdb_txn_reset(s->rtxn);
	if (rc == 0 || rc == MDB_NOTFOUND)
		return 0;
	*keys = 0;
	*bytes = 0;
	return store_lmdb_fail(s, "partition stats", rc);
}

int store_partition_delete(struct store *s, uint32_t partition,
                           size_t max_items, size_t *deleted, bool *more)
{
	uint8_t prefix[STORE_PREFIX];
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	size_t n = 0;
	int rc = 0;

	*more = false;
	if (deleted != NULL)
		*deleted = 0;
	if (max_items == 0)
		return RKV_EINVAL;
	byte_put_be32(prefix, partition);
	store_settle(s);
	rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_cursor_open(txn, s->objects_dbi, &cur);
	/* Seek afresh after each delete: where a deleting cursor stands is
	 * the least documented corner of LMDB, a seek is O(log n). */
	while (rc == 0) {
		k.mv_size = STORE_PREFIX;
		k.mv_data = prefix;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc != 0 || !store_in_partition(&k, prefix))
			break;
		if (n == max_items) {
			*more = true;
			break;
		}
		store_touch(s, s->objects_dbi, &k);
		rc = mdb_cursor_del(cur, 0);
		n += rc == 0;
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc != 0)
		goto fail;
	mdb_cursor_close(cur);
	cur = NULL;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0)
		goto fail;
	if (deleted != NULL)
		*deleted = n;
	return 0;

fail:
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (txn != NULL)
		mdb_txn_abort(txn);
	*more = false;
	log_error("store: dropping partition %u in %s failed: %s",
	          (unsigned)partition, s->dir, mdb_strerror(rc));
	return rc == ENOMEM ? RKV_ENOMEM : RKV_EIO;
}

/* --- hints ---------------------------------------------------------------- */

/* A new hint op for the queue, or NULL with *rc set: the database key,
 * then the user key, then the target name, inline after the op. */
static struct store_op *store_hint_op_new(struct store *s, const char *target,
                                          uint32_t partition, const void *key,
                                          size_t klen, int *rc)
{
	struct store_hint_target *t = NULL;
	struct store_op *op = NULL;
	size_t tlen = 0;

	*rc = 0;
	if (s->closing)
		*rc = RKV_ESHUTDOWN;
	else if (!store_hint_name_ok(target) || (key == NULL && klen > 0))
		*rc = RKV_EINVAL;
	else if (klen > STORE_MAX_KEY)
		*rc = RKV_ETOOBIG;
	else if (s->queue.n >= STORE_MAX_PENDING)
		*rc = RKV_EUNAVAIL;
	if (*rc != 0)
		return NULL;
	tlen = strlen(target);
	t = store_hint_target_get(s, target, tlen, rc);
	if (t == NULL)
		return NULL;
	op = calloc(1, sizeof(*op) + STORE_DKEY_MAX + klen + tlen + 1);
	if (op == NULL) {
		*rc = RKV_ENOMEM;
		return NULL;
	}
	op->dklen = store_hint_dkey(t->tag, partition, key, klen, op->dkey);
	op->key = op->dkey + op->dklen;
	op->klen = klen;
	if (klen > 0)
		memcpy(op->dkey + op->dklen, key, klen);
	op->target = (const char *)op->dkey + op->dklen + klen;
	memcpy(op->dkey + op->dklen + klen, target, tlen + 1);
	op->t = t;
	return op;
}

static int store_hint_queue(struct store *s, enum store_op_kind kind,
                            const char *target, uint32_t partition,
                            const void *key, size_t klen, const struct dvv *obj,
                            store_done_fn *cb, void *arg)
{
	int rc = 0;
	struct store_op *op = NULL;

	if (obj == NULL || dvv_validate(obj) != 0)
		return RKV_EINVAL;
	if (kind == STORE_OP_HINT &&
	    s->hints + s->hint_ops_queued >= STORE_MAX_HINTS)
		return RKV_EUNAVAIL;
	op = store_hint_op_new(s, target, partition, key, klen, &rc);
	if (op == NULL)
		return rc;
	op->kind = kind;
	op->obj = dvv_dup(obj);
	if (op->obj == NULL) {
		store_op_free(op);
		return RKV_ENOMEM;
	}
	s->hint_ops_queued++;
	store_enqueue(s, op, cb, arg);
	return 0;
}

int store_hint(struct store *s, const char *target, uint32_t partition,
               const void *key, size_t klen, const struct dvv *obj,
               store_done_fn *cb, void *arg)
{
	return store_hint_queue(s, STORE_OP_HINT, target, partition, key, klen,
	                        obj, cb, arg);
}

int store_hint_delete(struct store *s, const char *target, uint32_t partition,
                      const void *key, size_t klen, const struct dvv *sent,
                      store_done_fn *cb, void *arg)
{
	return store_hint_queue(s, STORE_OP_HINT_DELETE, target, partition, key,
	                        klen, sent, cb, arg);
}

/* One target's hint for a key, read in s->rtxn (begun by the caller). */
static int store_hint_read(struct store *s, const struct store_hint_target *t,
                           uint32_t partition, const void *key, size_t klen,
                           struct dvv **out)
{
	uint8_t dkey[STORE_DKEY_MAX];
	MDB_val k = {0, dkey};
	MDB_val v = {0, NULL};
	struct store_hint_rec rec;
	int rc = 0;

	k.mv_size = store_hint_dkey(t->tag, partition, key, klen, dkey);
	rc = store_lookup(s, CLOG_DB_HINTS, &k, &v);
	if (rc == MDB_NOTFOUND)
		return RKV_ENOTFOUND;
	if (rc != 0)
		return store_lmdb_fail(s, "reading a hint", rc);
	rc = store_hint_parse(&v, &rec);
	if (rc == 0 && !store_hint_rec_is(&rec, t->name, key, klen))
		return RKV_ENOTFOUND;
	if (rc == 0)
		rc = codec_object_decode(s->codec, rec.avro, rec.alen, out);
	if (rc == RKV_ECORRUPT)
		store_hint_log_corrupt(s, &k);
	return rc;
}

/* Every target's hint for a key, synced into *acc (created on the first
 * one found). */
static int store_hint_read_all(struct store *s, uint32_t partition,
                               const void *key, size_t klen, struct dvv **acc)
{
	for (size_t i = 0; i < s->ntargets; i++) {
		struct dvv *one = NULL;
		int rc = 0;
		if (s->targets[i]->pending == 0)
			continue;
		rc = store_hint_read(s, s->targets[i], partition, key, klen,
		                     &one);
		if (rc == RKV_ENOTFOUND)
			continue;
		if (rc == 0 && *acc == NULL) {
			*acc = one;
			continue;
		}
		if (rc == 0)
			rc = dvv_sync(*acc, one);
		dvv_free(one);
		if (rc != 0)
			return rc;
	}
	return *acc != NULL ? 0 : RKV_ENOTFOUND;
}

int store_hint_get(struct store *s, const char *target, uint32_t partition,
                   const void *key, size_t klen, struct dvv **out)
{
	const struct store_hint_target *t = NULL;
	int rc = 0;

	*out = NULL;
	if (target != NULL && !store_hint_name_ok(target))
		return RKV_EINVAL;
	if (klen > STORE_MAX_KEY || (key == NULL && klen > 0))
		return RKV_ENOTFOUND;
	if (target != NULL) {
		t = store_hint_find(s, target);
		if (t == NULL || t->pending == 0)
			return RKV_ENOTFOUND;
	} else if (s->hints == 0) {
		return RKV_ENOTFOUND; /* the common case: no read at all */
	}
	rc = store_read_begin(s);
	if (rc != 0)
		return rc;
	rc = t != NULL ? store_hint_read(s, t, partition, key, klen, out)
	               : store_hint_read_all(s, partition, key, klen, out);
	mdb_txn_reset(s->rtxn);
	if (rc != 0) {
		dvv_free(*out);
		*out = NULL;
	}
	return rc;
}

void store_hint_pos_init(struct store_hint_pos *pos)
{
	memset(pos, 0, sizeof(*pos));
}

/* Put the cursor on the first hint of prefix after *pos. LMDB codes. */
static int store_hint_seek(MDB_cursor *cur, const uint8_t *prefix,
                           const struct store_hint_pos *pos, MDB_val *k,
                           MDB_val *v)
{
	int rc = 0;

	k->mv_size = pos->started ? pos->len : STORE_HINT_TAG;
	k->mv_data = (void *)(pos->started ? pos->dkey : prefix);
	rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
	if (rc == 0 && pos->started && k->mv_size == pos->len &&
	    memcmp(k->mv_data, pos->dkey, pos->len) == 0)
		rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
	return rc;
}

/* Hand one hint to fn, skip it (another target sharing the tag), or skip
 * it as corrupt (logged, counted). 0, fn's value or RKV_ENOMEM. */
static int store_hint_visit(struct store *s, const char *target,
                            const MDB_val *k, const MDB_val *v,
                            store_hint_fn *fn, void *arg,
                            struct store_scan_result *res)
{
	struct store_hint_rec rec;
	struct dvv *obj = NULL;
	size_t tlen = strlen(target);
	int rc = k->mv_size >= STORE_HINT_PREFIX ? store_hint_parse(v, &rec)
	                                         : RKV_ECORRUPT;

	if (rc == 0 &&
	    (rec.nlen != tlen || memcmp(rec.name, target, tlen) != 0))
		return 0;
	if (rc == 0)
		rc = codec_object_decode(s->codec, rec.avro, rec.alen, &obj);
	if (rc == RKV_ECORRUPT) {
		store_hint_log_corrupt(s, k);
		res->corrupt++;
		return 0;
	}
	if (rc != 0)
		return rc;
	rc = fn(byte_get_be32((const uint8_t *)k->mv_data + STORE_HINT_TAG),
	        rec.key, rec.klen, obj, arg);
	dvv_free(obj);
	if (rc == 0)
		res->items++;
	return rc;
}

int store_hint_scan(struct store *s, const char *target,
                    struct store_hint_pos *pos, size_t max_items,
                    size_t max_bytes, store_hint_fn *fn, void *arg,
                    struct store_scan_result *res)
{
	uint8_t prefix[STORE_HINT_TAG];
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k = {0, NULL}, v = {0, NULL};
	size_t visited = 0;
	int lrc = 0;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	if (!store_hint_name_ok(target) || max_items == 0 || max_bytes == 0 ||
	    (pos->started &&
	     (pos->len < STORE_HINT_TAG || pos->len > STORE_DKEY_MAX)))
		return RKV_EINVAL;
	byte_put_be64(prefix, store_hint_tag(target, strlen(target)));
	if (pos->started && memcmp(pos->dkey, prefix, STORE_HINT_TAG) != 0)
		return RKV_EINVAL;
	store_settle(s);
	lrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (lrc == 0)
		lrc = mdb_cursor_open(txn, s->hints_dbi, &cur);
	if (lrc == 0)
		lrc = store_hint_seek(cur, prefix, pos, &k, &v);
	while (lrc == 0 && k.mv_size >= STORE_HINT_TAG &&
	       memcmp(k.mv_data, prefix, STORE_HINT_TAG) == 0) {
		if (visited == max_items || res->bytes >= max_bytes) {
			res->more = true;
			break;
		}
		rc = store_hint_visit(s, target, &k, &v, fn, arg, res);
		if (rc != 0)
			break;
		pos->started = true;
		pos->len = k.mv_size;
		memcpy(pos->dkey, k.mv_data, k.mv_size);
		visited++;
		res->bytes += k.mv_size + v.mv_size;
		lrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc == 0 && lrc != 0 && lrc != MDB_NOTFOUND)
		rc = store_lmdb_fail(s, "hint scan", lrc);
	if (cur != NULL)
		mdb_cursor_close(cur);
	if (txn != NULL)
		mdb_txn_abort(txn);
	return rc;
}

size_t store_hint_target_count(const struct store *s)
{
	return s->ntargets;
}

const char *store_hint_target(const struct store *s, size_t i,
                              uint64_t *pending)
{
	if (i >= s->ntargets)
		return NULL;
	if (pending != NULL)
		*pending = s->targets[i]->pending;
	return s->targets[i]->name;
}

uint64_t store_hint_pending(const struct store *s, const char *target)
{
	const struct store_hint_target *t =
	    target != NULL ? store_hint_find(s, target) : NULL;

	return t != NULL ? t->pending : 0;
}

/* --- closing -------------------------------------------------------------- */

/* Finish the batch in the writer and commit what is queued behind it,
 * running every callback (loop thread). Mutations those callbacks try are
 * refused (closing), so this ends after two batches at most. */
static void store_drain(struct store *s)
{
	while (s->busy || s->queue.head != NULL) {
		struct store_op *batch = NULL;
		int status = 0;
		if (!s->busy)
			store_hand(s);
		batch = store_take_done(s, &status);
		store_done(s, batch, status);
	}
}

/* Stop and join the writer once it is idle (it finishes a periodic sync
 * first), so nothing touches the environment while it closes. */
static void store_writer_stop(struct store *s)
{
	pthread_mutex_lock(&s->mu);
	s->w_stop = true;
	pthread_cond_signal(&s->work);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->writer, NULL);
	s->writer_started = false;
}

/* A clean end of this run: the final sync that follows makes it durable
 * together with everything before it. */
static void store_unmark_running(struct store *s)
{
	MDB_val k = {sizeof(store_meta_running) - 1,
	             (void *)store_meta_running};
	MDB_txn *txn = NULL;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);

	if (rc == 0)
		rc = mdb_del(txn, s->meta_dbi, &k, NULL);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (rc != 0)
		log_error("store: cannot mark %s closed: %s", s->dir,
		          mdb_strerror(rc));
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	s->closing = true;
	if (s->copy != NULL) {
		atomic_store(&s->copy->cancel, true);
		store_copy_end(s, false);
	}
	store_env_closed(s);
	if (s->copy_ev != NULL)
		event_free(s->copy_ev);
	if (s->check_ev != NULL)
		event_free(s->check_ev);
	if (s->writer_started) {
		store_drain(s);
		store_writer_stop(s);
	}
	if (s->commit_ev != NULL)
		event_free(s->commit_ev);
	if (s->done_ev != NULL)
		event_free(s->done_ev);
	if (s->sync_ev != NULL)
		event_free(s->sync_ev);
	if (s->rtxn != NULL)
		mdb_txn_abort(s->rtxn);
	if (s->marked_running)
		store_unmark_running(s);
	if (s->env != NULL) {
		int rc = mdb_env_sync(s->env, 1);
		if (rc != 0)
			log_error("store: final sync of %s failed: %s", s->dir,
			          mdb_strerror(rc));
		mdb_env_close(s->env);
		/* The lock file of an environment an online compaction
		 * renamed into place: the next open uses lock.mdb. */
		store_copy_remove(s->dir);
	}
	/* Closing the descriptor releases the flock. */
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	if (s->done_fd >= 0)
		close(s->done_fd);
	clog_close(&s->clog);
	store_recent_free(&s->recent);
	codec_free(s->w_codec);
	pthread_cond_destroy(&s->done);
	pthread_cond_destroy(&s->work);
	pthread_mutex_destroy(&s->mu);
	for (size_t i = 0; i < s->ntargets; i++)
		free(s->targets[i]);
	free(s->targets);
	free(s->dir);
	free(s);
}

/* --- compaction ----------------------------------------------------------- */

/* A B-tree fed in random order keeps its pages about two thirds full, and
 * LMDB never gives pages back to the file system. Copying every record in
 * key order with MDB_APPEND into a new environment gives full pages and
 * no free ones (mdb_env_copy2's MDB_CP_COMPACT only drops the free pages:
 * it copies leaves as they are). The copy replaces data.mdb only once it
 * is on disk, so a crash at any point leaves one complete database, and
 * maybe a stale copy that the next compaction or start removes.
 *
 * Offline (store_compact) the copy is all there is. Online
 * (store_compact_start) the node keeps serving while a thread copies:
 *
 *   start (loop)    settle: LMDB has every acknowledged group; open the
 *                   copy's environment and a read snapshot of the live
 *                   one; from now on every LMDB write notes its key
 *                   (store_touch); start the copy thread
 *   copy (thread)   every record of the snapshot, in key order, into the
 *                   copy, in transactions that do not wait for the disk
 *                   (MDB_NOSYNC) but are written behind one at a time;
 *                   then one flush
 *   rounds (thread) while many keys were noted meanwhile (at most
 *                   STORE_COMPACT_ROUNDS times): settle, take the keys
 *                   noted so far, copy their current records (or
 *                   absences) into the copy; note the next ones
 *   switch (loop)   settle again; copy the current record (or absence)
 *                   of every key noted since the last round began, in
 *                   flushed transactions; rename the copy over
 *                   data.mdb, flush the directory; from now on read and
 *                   write the copy
 *
 * The switch runs on the loop, which stops serving meanwhile: settling
 * leaves the writer idle until the loop hands it the next group, so
 * nothing writes LMDB while the keys noted are copied and the
 * environments trade places. The pause is the checkpoint, the writes of
 * the last round's duration and their flushes. The commit log is
 * untouched: before the rename, data.mdb holds every group up to the
 * last checkpoint and the log what came after; after it, so does the
 * copy. */

/* Records per write transaction of a compaction: bounds its dirty pages
 * (about 3 MB for small records) well below LMDB's limit of one
 * transaction, and what each write-behind step (store_write_behind)
 * sends to the disk. */
#define STORE_COMPACT_TXN 16384

/* Records between two looks at an online copy's cancel flag. */
#define STORE_COMPACT_CHECK 4096

/* How often the loop looks whether an online copy is done. */
#define STORE_COMPACT_POLL_MS 20

/* The compacted copy, beside data.mdb; LMDB names an environment's lock
 * file after its data file when it opens one with MDB_NOSUBDIR. */
static const char store_copy_file[] = "data.mdb.compact";
static const char store_copy_lock[] = "data.mdb.compact-lock";

/* Start writing out what the copy's last transaction wrote, once the
 * transaction before it is on disk. A copy written with no flush until
 * its end leaves hundreds of MB for the kernel to write at once, and
 * the node's own flushes (the commit log, its checkpoints) would queue
 * behind them; this way at most one transaction's pages are in flight. */
static void store_write_behind(MDB_env *env)
{
	int fd = -1;

	if (mdb_env_get_fd(env, &fd) == 0)
		sync_file_range(fd, 0, 0,
		                SYNC_FILE_RANGE_WAIT_BEFORE |
		                    SYNC_FILE_RANGE_WRITE);
}

/* Every record of src (in the snapshot rtxn) into dst (of dst_env), in
 * key order. MDB_APPEND makes every split leave a full page behind.
 * Stops with ECANCELED once *cancel is set. An LMDB code. */
static int store_compact_db(MDB_txn *rtxn, MDB_dbi src, MDB_env *dst_env,
                            MDB_dbi dst, const atomic_bool *cancel)
{
	MDB_cursor *cur = NULL;
	MDB_txn *wtxn = NULL;
	MDB_val k, v;
	size_t n = 0;
	int rc = mdb_txn_begin(dst_env, NULL, 0, &wtxn);

	if (rc == 0)
		rc = mdb_cursor_open(rtxn, src, &cur);
	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0) {
		rc = mdb_put(wtxn, dst, &k, &v, MDB_APPEND);
		if (rc == 0 && ++n % STORE_COMPACT_TXN == 0) {
			rc = mdb_txn_commit(wtxn);
			wtxn = NULL;
			if (rc == 0) {
				store_write_behind(dst_env);
				rc = mdb_txn_begin(dst_env, NULL, 0, &wtxn);
			}
		}
		if (rc == 0 && n % STORE_COMPACT_CHECK == 0 &&
		    atomic_load(cancel))
			rc = ECANCELED;
		if (rc == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc == MDB_NOTFOUND) {
		rc = mdb_txn_commit(wtxn);
		wtxn = NULL;
	}
	if (wtxn != NULL)
		mdb_txn_abort(wtxn);
	if (cur != NULL)
		mdb_cursor_close(cur);
	return rc;
}

/* Every database of a store, from the snapshot rtxn (src: its handles)
 * into dst (dst_dbis: the same databases there). An LMDB code. */
static int store_compact_dbs(MDB_txn *rtxn, const MDB_dbi src[STORE_NDBS],
                             MDB_env *dst, const MDB_dbi dst_dbis[STORE_NDBS],
                             const atomic_bool *cancel)
{
	int rc = 0;

	for (size_t i = 0; i < STORE_NDBS && rc == 0; i++)
		rc = store_compact_db(rtxn, src[i], dst, dst_dbis[i], cancel);
	return rc;
}

/* The handles of every database of env, opened (and created) in a
 * transaction of their own. An LMDB code. */
static int store_dbis_get(MDB_env *env, MDB_dbi dbis[STORE_NDBS])
{
	MDB_txn *txn = NULL;
	int rc = mdb_txn_begin(env, NULL, 0, &txn);

	if (rc == 0)
		rc = store_dbis_open(txn, dbis);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (txn != NULL)
		mdb_txn_abort(txn);
	return rc;
}

/* A new environment at path (a file: MDB_NOSUBDIR), with the map size of
 * like and every database opened, in dbis. flags: more MDB_ flags. An
 * LMDB code; *out is NULL on failure. */
static int store_copy_env_open(MDB_env *like, const char *path, unsigned flags,
                               MDB_env **out, MDB_dbi dbis[STORE_NDBS])
{
	MDB_envinfo info;
	int rc = mdb_env_info(like, &info);

	*out = NULL;
	if (rc == 0)
		rc = mdb_env_create(out);
	if (rc != 0)
		return rc;
	rc = mdb_env_set_maxdbs(*out, STORE_MAX_DBS);
	if (rc == 0)
		rc = mdb_env_set_mapsize(*out, info.me_mapsize);
	if (rc == 0)
		rc = mdb_env_open(*out, path,
		                  MDB_NOSUBDIR | MDB_NOSYNC | MDB_NOTLS | flags,
		                  0644);
	if (rc == 0)
		rc = store_dbis_get(*out, dbis);
	if (rc != 0) {
		mdb_env_close(*out);
		*out = NULL;
	}
	return rc;
}

/* dir/name into out (PATH_MAX bytes): 0 or RKV_EINVAL. */
static int store_path(char *out, const char *dir, const char *name)
{
	return snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX
	           ? RKV_EINVAL
	           : 0;
}

/* Remove what a compaction that never finished left in dir. */
static int store_copy_remove(const char *dir)
{
	const char *const names[] = {store_copy_file, store_copy_lock};
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (store_path(path, dir, names[i]) != 0)
			return RKV_EINVAL;
		if (unlink(path) != 0 && errno != ENOENT) {
			log_error("store: cannot remove %s: %s", path,
			          strerror(errno));
			return RKV_EIO;
		}
	}
	return 0;
}

/* Rename the flushed copy over data.mdb and make that durable. */
static int store_copy_install(const char *dir)
{
	char from[PATH_MAX], to[PATH_MAX];

	if (store_path(from, dir, store_copy_file) != 0 ||
	    store_path(to, dir, "data.mdb") != 0)
		return RKV_EINVAL;
	if (rename(from, to) != 0) {
		log_error("store: cannot replace %s: %s", to, strerror(errno));
		return RKV_EIO;
	}
	return 0;
}

/* Copy into dst the record in src as committed now, or the absence, of
 * every key of list. An LMDB code. */
static int store_copy_catch_up(MDB_env *src, MDB_env *dst,
                               const struct store_touched *list)
{
	MDB_txn *from = NULL, *to = NULL;
	size_t n = 0;
	int rc = mdb_txn_begin(src, NULL, MDB_RDONLY, &from);

	if (rc == 0)
		rc = mdb_txn_begin(dst, NULL, 0, &to);
	for (const struct store_touched *t = list; t != NULL && rc == 0;
	     t = t->next) {
		MDB_val k = {t->klen, (void *)t->key}, v;
		/* The copy's handles are the live ones (store_dbis_open). */
		rc = mdb_get(from, t->dbi, &k, &v);
		if (rc == 0)
			rc = mdb_put(to, t->dbi, &k, &v, 0);
		else if (rc == MDB_NOTFOUND)
			rc = mdb_del(to, t->dbi, &k, NULL);
		if (rc == MDB_NOTFOUND)
			rc = 0;
		if (rc == 0 && ++n % STORE_COMPACT_TXN == 0) {
			rc = mdb_txn_commit(to);
			to = NULL;
			if (rc == 0)
				rc = mdb_txn_begin(dst, NULL, 0, &to);
		}
	}
	if (rc == 0) {
		rc = mdb_txn_commit(to);
		to = NULL;
	}
	if (to != NULL)
		mdb_txn_abort(to);
	if (from != NULL)
		mdb_txn_abort(from);
	return rc;
}

static void *store_copy_main(void *arg)
{
	struct store_copy *c = arg;
	struct store *s = c->s;
	const MDB_dbi src[STORE_NDBS] = {s->objects_dbi, s->meta_dbi,
	                                 s->hints_dbi};

	if (c->round != NULL) {
		c->rc = store_copy_catch_up(s->env, c->dst, c->round);
		atomic_store(&c->done, true);
		return NULL;
	}
	c->rc =
	    store_compact_dbs(c->snap, src, c->dst, c->dst_dbis, &c->cancel);
	/* The copy is flushed here, not in the switch's pause: it is nearly
	 * all of the bytes. The catch-up's commits flush themselves. */
	if (c->rc == 0)
		c->rc = mdb_env_sync(c->dst, 1);
	if (c->rc == 0)
		c->rc = mdb_env_set_flags(c->dst, MDB_NOSYNC, 0);
	/* MDB_NOTLS: a read transaction may end on another thread. */
	mdb_txn_abort(c->snap);
	c->snap = NULL;
	atomic_store(&c->done, true);
	return NULL;
}

static void store_touched_free(struct store_touched *t)
{
	while (t != NULL) {
		struct store_touched *next = t->next;
		free(t);
		t = next;
	}
}

/* Stop noting writes and forget the keys noted. */
static void store_touched_clear(struct store *s)
{
	store_touched_free(s->c_touched);
	s->c_recording = false;
	s->c_lost = false;
	s->c_touched = NULL;
	s->c_touched_tail = &s->c_touched;
	s->c_ntouched = 0;
}

/* Bytes of the old map unmapped at a time (store_env_close_main). */
#define STORE_UNMAP_SLICE ((size_t)4 << 20)

/* Unmapping hundreds of MB at once holds the process's mmap lock for
 * its whole length, and every page fault of the loop, which is touching
 * the new map for the first time, waits for it. Dropping the old map's
 * pages a slice at a time (MADV_DONTNEED takes the lock to read) leaves
 * munmap nothing to tear down. The page cache keeps the file's pages;
 * nothing reads the old map any more. */
static void *store_env_close_main(void *arg)
{
	MDB_env *env = arg;
	MDB_envinfo info;
	MDB_stat st;

	if (mdb_env_info(env, &info) == 0 && mdb_env_stat(env, &st) == 0) {
		size_t used = store_info_bytes(&info, st.ms_psize);
		for (size_t off = 0; off < used; off += STORE_UNMAP_SLICE) {
			size_t len = used - off < STORE_UNMAP_SLICE
			                 ? used - off
			                 : STORE_UNMAP_SLICE;
			madvise((char *)info.me_mapaddr + off, len,
			        MADV_DONTNEED);
		}
	}
	mdb_env_close(env);
	return NULL;
}

/* Close env, which nothing uses any more, on a thread of its own: unmapping
 * it and freeing its file, unlinked by the rename, takes a large store
 * more than a hundred milliseconds. */
static void store_env_close_later(struct store *s, MDB_env *env)
{
	int rc = pthread_create(&s->closer, NULL, store_env_close_main, env);

	if (rc == 0) {
		s->closer_started = true;
		return;
	}
	log_warn("store: cannot start a thread to close the old database of "
	         "%s (%s); closing it on the loop",
	         s->dir, strerror(rc));
	mdb_env_close(env);
}

/* Wait for the old environment of the last compaction to be closed. */
static void store_env_closed(struct store *s)
{
	if (!s->closer_started)
		return;
	pthread_join(s->closer, NULL);
	s->closer_started = false;
}

/* The copy is complete: catch it up and put it in the live one's place
 * (loop thread; see "online compaction"). 0, or an RKV_ code with the
 * live environment still in use. */
static int store_copy_switch(struct store *s, struct store_copy *c)
{
	struct timespec paused;
	MDB_env *old = NULL;
	uint64_t copy_us = store_us_since(&c->began);
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &paused);
	store_settle(s);
	if (s->c_lost) {
		log_error("store: more than %d keys were written in %s during "
		          "the copy (or memory ran out noting them): too many "
		          "to catch up in one pause",
		          STORE_COMPACT_MAX_TOUCHED, s->dir);
		return RKV_ENOMEM;
	}
	rc = store_copy_catch_up(s->env, c->dst, s->c_touched);
	if (rc != 0)
		return store_lmdb_fail(s, "catching up a compaction", rc);
	rc = store_copy_install(s->dir);
	if (rc != 0)
		return rc;
	/* data.mdb is the copy now, whatever follows. */
	if (s->rtxn != NULL)
		mdb_txn_abort(s->rtxn);
	s->rtxn = NULL;
	old = s->env;
	s->env = c->dst;
	c->dst = NULL;
	store_env_close_later(s, old);
	if (dir_sync(s->dir) != 0) {
		/* A crash could bring the old file back, without the groups
		 * of the checkpoints taken in the copy: stop taking them.
		 * The writer is idle until the next hand-over, which
		 * publishes this (mu). */
		log_error("store: cannot sync %s: %s", s->dir, strerror(errno));
		store_refuse_writes(s);
	}
	s->compactions++;
	s->last_compaction = (struct store_compaction){
	    .before = c->before,
	    .after = store_env_bytes(s->env),
	    .copy_ms = copy_us / 1000,
	    .pause_ms = store_us_since(&paused) / 1000,
	    .caught_up = s->c_ntouched,
	};
	log_info("store: compacted %s online: %llu -> %llu bytes (copy %llu "
	         "ms, %zu keys caught up in a %llu ms pause)",
	         s->dir, (unsigned long long)s->last_compaction.before,
	         (unsigned long long)s->last_compaction.after,
	         (unsigned long long)s->last_compaction.copy_ms, s->c_ntouched,
	         (unsigned long long)s->last_compaction.pause_ms);
	return 0;
}

/* The copy thread has stopped: switch to the copy when it is complete and
 * switch is true, else drop it; either way the compaction is over. */
static void store_copy_end(struct store *s, bool do_switch)
{
	struct store_copy *c = s->copy;
	int rc = 0;

	if (!c->joined)
		pthread_join(c->thread, NULL);
	event_del(s->copy_ev);
	store_touched_free(c->round);
	if (do_switch && c->rc != 0)
		rc = store_lmdb_fail(s, "compacting", c->rc);
	else if (do_switch)
		rc = store_copy_switch(s, c);
	if (c->dst != NULL)
		mdb_env_close(c->dst);
	if (rc != 0)
		log_warn("store: the online compaction of %s failed; it goes "
		         "on with its database as it was",
		         s->dir);
	if (rc != 0 || !do_switch)
		store_copy_remove(s->dir);
	store_touched_clear(s);
	free(c);
	s->copy = NULL;
}

/* Catch-up rounds before the switch, at most: each copies, off the
 * loop, what was written during the one before, so the pause only has
 * what was written during the last (see "online compaction"). */
#define STORE_COMPACT_ROUNDS 3
/* Fewer keys noted than this are left to the pause. */
#define STORE_COMPACT_ROUND_MIN 1024

/* Start a catch-up round on the copy thread with the keys noted so far
 * (loop). false when it could not start: the switch catches them up. */
static bool store_copy_round(struct store *s, struct store_copy *c)
{
	int rc = 0;

	/* LMDB then has every write noted so far, which the round reads;
	 * the writes after it are noted for the next. */
	store_settle(s);
	store_touched_free(c->round);
	c->round = s->c_touched;
	c->nround = s->c_ntouched;
	s->c_touched = NULL;
	s->c_touched_tail = &s->c_touched;
	s->c_ntouched = 0;
	c->rounds++;
	atomic_store(&c->done, false);
	rc = pthread_create(&c->thread, NULL, store_copy_main, c);
	if (rc == 0) {
		c->joined = false;
		return true;
	}
	/* Put the round's keys back in front of the ones noted since. */
	if (c->round != NULL) {
		struct store_touched *t = c->round;
		while (t->next != NULL)
			t = t->next;
		t->next = s->c_touched;
		if (s->c_touched == NULL)
			s->c_touched_tail = &t->next;
		s->c_touched = c->round;
		s->c_ntouched += c->nround;
		c->round = NULL;
	}
	return false;
}

static void store_copy_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;
	struct store_copy *c = s->copy;

	(void)fd;
	(void)what;
	if (c == NULL || !atomic_load(&c->done))
		return;
	pthread_join(c->thread, NULL);
	c->joined = true;
	if (c->rc == 0 && !s->c_lost &&
	    s->c_ntouched >= STORE_COMPACT_ROUND_MIN &&
	    c->rounds < STORE_COMPACT_ROUNDS && store_copy_round(s, c))
		return;
	store_copy_end(s, true);
}

int store_compact_start(struct store *s)
{
	struct timeval poll = ms_timeval(STORE_COMPACT_POLL_MS);
	char path[PATH_MAX];
	struct store_copy *c = NULL;
	int rc = 0;

	if (s->closing)
		return RKV_ESHUTDOWN;
	if (s->copy != NULL)
		return RKV_EBUSY;
	store_env_closed(s);
	if (s->copy_ev == NULL) {
		s->copy_ev =
		    event_new(s->base, -1, EV_PERSIST, store_copy_poll_cb, s);
		if (s->copy_ev == NULL)
			return RKV_ENOMEM;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return RKV_ENOMEM;
	c->s = s;
	clock_gettime(CLOCK_MONOTONIC, &c->began);
	rc = store_path(path, s->dir, store_copy_file);
	if (rc == 0)
		rc = store_copy_remove(s->dir);
	if (rc != 0)
		goto fail;
	/* From here until the next hand-over the writer is idle: the
	 * snapshot has every acknowledged group, and every write after it
	 * is noted. */
	store_settle(s);
	c->before = store_env_bytes(s->env);
	rc = store_copy_env_open(s->env, path, 0, &c->dst, c->dst_dbis);
	if (rc == 0 &&
	    (c->dst_dbis[0] != s->objects_dbi ||
	     c->dst_dbis[1] != s->meta_dbi || c->dst_dbis[2] != s->hints_dbi))
		rc = MDB_INCOMPATIBLE;
	if (rc == 0)
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &c->snap);
	if (rc != 0) {
		rc = store_lmdb_fail(s, "starting a compaction", rc);
		goto fail;
	}
	s->copy = c;
	s->c_recording = true;
	rc = pthread_create(&c->thread, NULL, store_copy_main, c);
	if (rc != 0) {
		log_error("store: cannot start a compaction thread: %s",
		          strerror(rc));
		s->copy = NULL;
		store_touched_clear(s);
		rc = rc == EAGAIN ? RKV_ENOMEM : RKV_EIO;
		goto fail;
	}
	if (event_add(s->copy_ev, &poll) != 0) {
		/* Without its poll the copy could never be switched in. */
		atomic_store(&c->cancel, true);
		store_copy_end(s, false);
		return RKV_ENOMEM;
	}
	log_info("store: compacting %s online (%llu bytes)", s->dir,
	         (unsigned long long)c->before);
	return 0;

fail:
	if (c->snap != NULL)
		mdb_txn_abort(c->snap);
	if (c->dst != NULL)
		mdb_env_close(c->dst);
	store_copy_remove(s->dir);
	free(c);
	return rc;
}

bool store_compacting(const struct store *s)
{
	return s->copy != NULL;
}

/* Objects sampled for store_compact_estimate. */
#define STORE_SAMPLES 64

/* LMDB's page layout (lmdb.h documents none of it; mdb.c has it): a
 * 16-byte page header; a leaf node is an 8-byte header, the key and the
 * value, plus a 2-byte slot in the page; a node larger than a page can
 * hold two of goes to overflow pages, which cost whole pages. */
#define STORE_PAGE_HEADER 16
#define STORE_NODE_HEADER 8
#define STORE_NODE_SLOT   2

/* Bytes a compacted database spends on the record k, v. */
static uint64_t store_record_cost(const MDB_val *k, const MDB_val *v,
                                  size_t psize)
{
	size_t nodemax =
	    (((psize - STORE_PAGE_HEADER) / 2) & ~(size_t)1) - STORE_NODE_SLOT;
	size_t node = STORE_NODE_HEADER + k->mv_size + v->mv_size;

	if (node <= nodemax)
		return node + STORE_NODE_SLOT;
	/* The node keeps the key and the first page's number. */
	return STORE_NODE_HEADER + k->mv_size + sizeof(uint64_t) +
	       STORE_NODE_SLOT +
	       (uint64_t)((STORE_PAGE_HEADER - 1 + v->mv_size) / psize + 1) *
	           psize;
}

/* The mean cost of an object (store_record_cost) over records sampled
 * across the partitions present, or 0 when there are none. */
static uint64_t store_object_cost(MDB_txn *txn, MDB_dbi dbi, size_t psize)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint32_t first = 0, last = 0;
	uint64_t total = 0;
	int rc = mdb_cursor_open(txn, dbi, &cur);

	if (rc == 0)
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	if (rc == 0 && k.mv_size >= STORE_PREFIX) {
		first = byte_get_be32(k.mv_data);
		rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	}
	if (rc == 0 && k.mv_size >= STORE_PREFIX)
		last = byte_get_be32(k.mv_data);
	for (unsigned i = 0; rc == 0 && i < STORE_SAMPLES; i++) {
		/* A spread of partitions, and a point within each that a
		 * hash makes as good as random. */
		uint8_t at[STORE_PREFIX + sizeof(uint64_t)];
		uint64_t h = XXH3_64bits(&i, sizeof(i));
		byte_put_be32(at, first + (uint32_t)((uint64_t)(last - first) *
		                                     i / (STORE_SAMPLES - 1)));
		memcpy(at + STORE_PREFIX, &h, sizeof(h));
		k = (MDB_val){sizeof(at), at};
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND)
			rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
		if (rc == 0)
			total += store_record_cost(&k, &v, psize);
	}
	if (cur != NULL)
		mdb_cursor_close(cur);
	return rc == 0 ? total / STORE_SAMPLES : 0;
}

/* About the bytes a compaction would leave, as of the last checkpoint:
 * the objects in full pages (a sample's mean cost), the other databases
 * as they are, and LMDB's own four pages. 0 when LMDB cannot say. The
 * count of objects into *objects, if not NULL and LMDB gave it. */
static uint64_t store_compact_estimate(struct store *s, uint64_t *objects)
{
	const MDB_dbi others[] = {s->meta_dbi, s->hints_dbi};
	MDB_stat st;
	uint64_t psize, room, pages = 4, cost = 0, n = 0, bytes = 0;

	if (mdb_env_stat(s->env, &st) != 0 || store_read_begin(s) != 0)
		return 0;
	psize = st.ms_psize;
	room = psize - STORE_PAGE_HEADER;
	if (mdb_stat(s->rtxn, s->objects_dbi, &st) == 0) {
		n = st.ms_entries;
		if (objects != NULL)
			*objects = n;
		cost = store_object_cost(s->rtxn, s->objects_dbi, psize);
		bytes = (n * cost + room - 1) / room * psize;
		/* A branch page holds a hundred leaves and more. */
		bytes += bytes / 100;
	}
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		if (mdb_stat(s->rtxn, others[i], &st) == 0)
			pages += st.ms_branch_pages + st.ms_leaf_pages +
			         st.ms_overflow_pages;
	}
	mdb_txn_reset(s->rtxn);
	return n > 0 && cost == 0 ? 0 : bytes + pages * psize;
}

/* The automatic compaction's look (see store_options): cheap enough for
 * every few seconds, a few dozen B-tree descents. */
static void store_compact_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store *s = arg;
	uint64_t writes = s->mutations - s->checked_mutations;
	uint64_t disk = 0, estimate = 0, objects = 0;

	(void)fd;
	(void)what;
	s->checked_mutations = s->mutations;
	if (s->copy != NULL || s->closing)
		return;
	disk = store_env_bytes(s->env);
	if (disk < s->compact_min_bytes)
		return;
	estimate = store_compact_estimate(s, &objects);
	if (estimate == 0 || (double)disk < s->compact_ratio * (double)estimate)
		return;
	/* Under a heavy load of new keys, a compaction's full pages would
	 * split at once: wait for a quieter moment. */
	if (writes * 10 > objects)
		return;
	log_info("store: %s takes %llu bytes, a compaction would leave about "
	         "%llu",
	         s->dir, (unsigned long long)disk,
	         (unsigned long long)estimate);
	store_compact_start(s);
}

/* A commit log with groups in it holds writes the database lacks: a copy
 * of the database alone would lose them. */
static int store_log_settled(const char *dir)
{
	bool empty = false;
	int rc = clog_empty(dir, &empty);

	if (rc != 0 || empty)
		return rc;
	log_error("store: %s has writes in its commit log that its database "
	          "does not have yet (the node did not stop cleanly); start "
	          "the node once and stop it, then compact",
	          dir);
	return RKV_EINVAL;
}

int store_compact(const char *dir, struct store_compaction *out)
{
	struct store s = {.dir = (char *)dir, .lock_fd = -1};
	struct store_options opts = {.dir = dir, .sync_batch = true};
	const atomic_bool no_cancel = false;
	char data[PATH_MAX], tmp[PATH_MAX];
	MDB_dbi src[STORE_NDBS], dst_dbis[STORE_NDBS];
	MDB_env *dst = NULL;
	MDB_txn *rtxn = NULL;
	struct stat st;
	bool locked = false; /* the copy file is ours to remove */
	int rc, mrc;

	memset(out, 0, sizeof(*out));
	if (store_path(data, dir, "data.mdb") != 0 ||
	    store_path(tmp, dir, store_copy_file) != 0)
		return RKV_EINVAL;
	/* mdb_env_open would create an empty database: say there is none. */
	if (stat(data, &st) != 0) {
		log_error("store: no database in %s: %s", dir, strerror(errno));
		return RKV_EIO;
	}
	rc = store_lock(&s);
	locked = rc == 0;
	if (rc == 0)
		rc = store_log_settled(dir);
	if (rc == 0)
		rc = store_env_open(&s, &opts);
	if (rc == 0)
		rc = store_copy_remove(dir);
	if (rc != 0)
		goto done;
	out->before = store_env_bytes(s.env);
	/* Our flock on LOCK already keeps everyone else out: no lock file. */
	mrc = store_dbis_get(s.env, src);
	if (mrc == 0)
		mrc =
		    store_copy_env_open(s.env, tmp, MDB_NOLOCK, &dst, dst_dbis);
	if (mrc == 0)
		mrc = mdb_txn_begin(s.env, NULL, MDB_RDONLY, &rtxn);
	if (mrc == 0)
		mrc = store_compact_dbs(rtxn, src, dst, dst_dbis, &no_cancel);
	if (mrc == 0)
		mrc = mdb_env_sync(dst, 1);
	if (mrc != 0) {
		rc = store_lmdb_fail(&s, "compacting", mrc);
		goto done;
	}
	mdb_txn_abort(rtxn);
	rtxn = NULL;
	mdb_env_close(dst);
	dst = NULL;
	mdb_env_close(s.env);
	s.env = NULL;
	if (stat(tmp, &st) != 0 || store_copy_install(dir) != 0) {
		rc = RKV_EIO;
		goto done;
	}
	out->after = (uint64_t)st.st_size;
	/* The rename is durable once the directory is. */
	if (dir_sync(dir) != 0) {
		log_error("store: cannot sync %s: %s", dir, strerror(errno));
		rc = RKV_EIO;
	}
done:
	if (rtxn != NULL)
		mdb_txn_abort(rtxn);
	if (dst != NULL)
		mdb_env_close(dst);
	if (rc != 0 && locked)
		store_copy_remove(dir);
	if (s.env != NULL)
		mdb_env_close(s.env);
	if (s.lock_fd >= 0)
		close(s.lock_fd);
	return rc;
}

void store_set_observer(struct store *s, store_observer_fn *fn, void *arg)
{
	s->observer = fn;
	s->observer_arg = arg;
}
