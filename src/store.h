/* store.h -- the node's durable storage: one LMDB environment per node.
 *
 * Layout (DESIGN.md, Storage). The named database "objects" maps
 *
 *   big-endian u32 partition ++ slot  ->  record
 *
 * so a partition is one contiguous key range (the unnamed LMDB database
 * only lists the named ones). LMDB keys are at most 511 bytes, so the slot
 * of a user key k is
 *
 *   k itself                              when len(k) <= STORE_INLINE_KEY
 *   k[0..491) ++ XXH3-128(k) (16 bytes,   when len(k) > STORE_INLINE_KEY
 *     canonical big-endian form)             (a "long key")
 *
 * and the record is one of
 *
 *   format 1, inline keys (unchanged since the first release):
 *     u8 1 ++ Avro object ++ u64 XXH3-64 of the Avro bytes (LE)
 *   format 2, long keys:
 *     u8 2 ++ u32 key length (LE) ++ the whole user key ++ Avro object
 *        ++ u64 XXH3-64 of all the bytes before it, format byte included
 *           (LE)
 *
 * (the Avro object is codec.h's). LMDB returns a flipped byte as silently
 * wrong data: the checksum turns it into RKV_ECORRUPT, and for format 2 it
 * covers the key copy too. A format 2 record answers only to the key it
 * carries: a read that lands on a slot holding another key (a record of
 * the other format, or another long key with the same head and hash) is
 * RKV_ENOTFOUND, and a write there is refused (RKV_EINVAL) rather than
 * overwrite the other key. Such a meeting needs an XXH3-128 collision or a
 * crafted inline key of exactly STORE_INLINE_KEY bytes that ends in the
 * hash of a long key; either way no stored object is lost.
 *
 * Order. A partition's records are in slot order: bytewise order of the
 * user keys (a shorter key before its extensions), except that a long key
 * sorts as its slot, its first 491 bytes and then its hash. That order is
 * the same on every node, which is what scans and their resumption need.
 *
 * The "meta" sub-database holds node metadata: the node id (8 bytes,
 * big-endian, generated once when the directory is created) and the named
 * blobs of store_meta_put(), each stored as
 *   u8 1 ++ blob ++ u64 XXH3-64 of all the bytes before it (LE).
 *
 * The "hints" sub-database holds hinted handoff's hints (src/handoff.h):
 * objects this node, a fallback, keeps for a primary that was down. One
 * hint per (target, partition, key), where the target is the primary's
 * node name:
 *
 *   big-endian u64 XXH3-64(target) ++ big-endian u32 partition ++ slot
 *     ->  u8 3 ++ u8 target length ++ target ++ u32 key length (LE)
 *           ++ the whole user key ++ Avro object
 *           ++ u64 XXH3-64 of all the bytes before it (LE)
 *
 * where the slot is the key itself up to STORE_HINT_INLINE_KEY bytes, else
 * its first STORE_HINT_INLINE_KEY - 16 bytes ++ XXH3-128 (as for long
 * keys above). So a target's hints are one key range, in (partition, slot)
 * order, and a record proves whose and which key it is: two targets whose
 * names share a hash share the range but never a record (a write landing
 * on another target's or key's record is refused, RKV_EINVAL, logged).
 *
 * Writes are asynchronous and group-committed: store_update()/store_merge()
 * queue a mutation; what is queued is applied, as one group, by an event
 * at the lowest priority of the base (the base must have been given
 * RKV_EV_PRIORITIES priorities before store_open). The group is handed
 * to the store's writer thread, which applies it to a long-lived LMDB
 * write transaction and appends what it wrote to the commit log
 * <dir>/commit.log (commitlog.h) before any callback runs: with sync =
 * batch it flushes the log (fdatasync) first, with sync = periodic the
 * log is flushed every sync_interval_ms. The transaction itself is
 * committed at checkpoints (every checkpoint_ms, and at close), after
 * which the log is emptied, and a start applies whatever the log still
 * holds. While the writer works the loop keeps queueing the next group,
 * handed over once this one is done: one group at most is in the writer,
 * so a key's mutations are applied in the order they were queued. With
 * sync = periodic the loop applies most groups itself instead, in the
 * same order, logs them and runs their callbacks, and the writer puts
 * their records into the long transaction afterwards (store.c,
 * store_apply_here). Reads see every write whose callback has run. The
 * metadata, scan and partition functions are synchronous: each runs its own
 * transaction on the caller's thread before it returns; those that read ranges
 * or counts, or write, first wait for a checkpoint of what the writer holds
 * (milliseconds).
 *
 * Threads. Every function here is for the event loop's thread only (the
 * thread that runs base), and every callback (store_done_fn, the
 * observer, scan functions) runs on it, never on the writer: the writer
 * thread is internal, touches no caller data except the copies queued
 * with a mutation, and no libevent object (it wakes the loop through an
 * eventfd), so the base needs no evthread_use_pthreads().
 *
 * A data directory is held with an exclusive flock on <dir>/LOCK for the
 * life of the store: a second process gets RKV_ELOCKED.
 */
#ifndef RKV_STORE_H
#define RKV_STORE_H

#include "codec.h"
#include "dvv.h"
#include "histogram.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Priorities the event base must have; the group commit runs at the lowest
 * (RKV_EV_PRIORITIES - 1), below libevent's default and deferred callbacks,
 * so it runs once the turn's I/O has been handled. */
#define RKV_EV_PRIORITIES 3

/* The longest user key the store accepts (longer: RKV_ETOOBIG on writes,
 * RKV_ENOTFOUND on reads). It is the largest max_key_bytes the
 * configuration allows (conf.c), so every configured limit can be served;
 * the HTTP API applies the configured one. */
#define STORE_MAX_KEY 65536

/* Keys up to this length are their own slot (LMDB's 511-byte key limit
 * minus the 4-byte partition); longer ones are stored under a head of
 * STORE_KEY_HEAD bytes and STORE_KEY_HASH bytes of XXH3-128 (see top). */
#define STORE_INLINE_KEY 507
#define STORE_KEY_HASH   16
#define STORE_KEY_HEAD   (STORE_INLINE_KEY - STORE_KEY_HASH)

/* At most this many mutations wait for one group commit (besides the
 * batch of up to as many that the writer is committing); past it
 * store_update/store_merge answer RKV_EUNAVAIL (back-pressure). */
#define STORE_MAX_PENDING 65536

/* Under sync = periodic the loop applies what is queued itself, at most
 * this many mutations to a group (each looks for its key among the
 * group's earlier ones, and the loop serves nothing else meanwhile); a
 * longer queue is applied as several groups, in order. */
#define STORE_LOOP_GROUP 256

struct store;

struct store_options {
	const char *dir;           /* created if missing */
	bool sync_batch;           /* true: sync = batch; false: periodic */
	unsigned sync_interval_ms; /* periodic only */
	size_t map_size; /* LMDB map size in bytes; 0 = default 8 GiB */
	/* the longest a group waits in the commit log for its
	 * checkpoint, in ms (conf: checkpoint_interval_ms); 0 =
	 * STORE_CHECKPOINT_MS (store.c). */
	unsigned checkpoint_ms;
	/* sync = periodic: the most bytes the commit log holds before groups
	 * wait for the writer to checkpoint; 0 = STORE_LOG_LIMIT (store.c). */
	uint64_t log_limit;
	/* Automatic online compaction (store_compact_start): every
	 * compact_check_ms (0: never) the store compacts itself when its
	 * database is at least compact_min_bytes, at least compact_ratio
	 * times store_stats.compact_estimate, and took fewer writes since
	 * the last check than a tenth of its keys (conf: compact_*). */
	unsigned compact_check_ms;
	uint64_t compact_min_bytes;
	double compact_ratio;
};

struct store_compaction {
	uint64_t before; /* bytes in use before: store_stats.disk_bytes */
	uint64_t after;  /* bytes of the compacted database file */
	/* online only (store_compact_start) */
	uint64_t copy_ms;   /* start to the copy's end */
	uint64_t pause_ms;  /* the loop stopped for the switch */
	uint64_t caught_up; /* keys written during the last round, copied in
	                     * the pause */
};

struct store_stats {
	uint64_t keys;              /* objects in the "objects" database */
	uint64_t disk_bytes;        /* pages in use * page size, as of the last
	                             * checkpoint */
	uint64_t commits;           /* group commits so far */
	uint64_t checkpoints;       /* long transactions committed */
	uint64_t checkpoint_groups; /* periodic: groups the loop applied while
	                             * a checkpoint held the writer */
	uint64_t log_full_groups;   /* periodic: groups left to the writer, the
	                             * log being at its limit (log_limit) */
	uint64_t mutations;         /* mutations applied so far */
	uint64_t hints;             /* hints held now, every target */
	uint64_t hint_writes;       /* store_hint mutations committed so far */
	uint64_t compact_estimate;  /* bytes a compaction would leave, about
	                             * (from a sample of the objects) */
	bool compacting;            /* an online compaction is in progress */
	uint64_t compactions;       /* online compactions completed */
	struct store_compaction last_compaction; /* the latest of them */
};

/* store_open -- open or create the store in opts->dir (and its missing
 * parents) and start its writer thread. base is used for the commit
 * events and the periodic sync timer; codec is borrowed, used on the loop
 * thread only (the writer has its own) and must outlive the store. 0,
 * RKV_ELOCKED (another process, or another store_open in this one, holds
 * the directory), RKV_EINVAL (no dir, periodic with sync_interval_ms 0,
 * or base does not have exactly RKV_EV_PRIORITIES priorities),
 * RKV_ECORRUPT (the stored node id is damaged), RKV_EIO (logged with the
 * path and LMDB's error, or the thread or its eventfd could not be made)
 * or RKV_ENOMEM. */
int store_open(struct store **out, struct event_base *base, struct codec *codec,
               const struct store_options *opts);

/* store_compact -- rewrite the store in dir with its pages full and its
 * free pages left out, for a node that is not running (offline, like
 * mdb_copy -c; ringkvd --compact). Everything stored is kept, node id and
 * hints included; the database file is replaced only once the compacted
 * copy is on disk. Sizes in *out. 0, RKV_ELOCKED (a store holds dir),
 * RKV_EINVAL (path too long), RKV_ENOMEM, or RKV_EIO (logged: no database
 * in dir, or LMDB or the file system failed; the store is as it was). */
int store_compact(const char *dir, struct store_compaction *out);

/* store_compact_start -- compact the open store online, as store_compact
 * does offline, while it keeps serving (store.c, "online compaction"):
 * a thread copies a snapshot; when it is done, the loop stops for a
 * moment to copy what was written meanwhile and puts the copy in place.
 * Logged when it starts and ends; store_stats shows it. 0 (started),
 * RKV_EBUSY (one is running), RKV_ESHUTDOWN (closing), RKV_ENOMEM, or
 * RKV_EIO (logged). A compaction that fails leaves the store as it was;
 * store_close cancels one in progress. Loop thread. */
int store_compact_start(struct store *s);

/* store_compacting -- whether an online compaction is in progress. */
bool store_compacting(const struct store *s);

/* store_close -- wait for the batch the writer is committing, commit what
 * is queued behind it (running the callbacks of both, in order, on the
 * calling thread without turning the loop), stop the writer thread, sync,
 * close, release the lock. NULL is a no-op. Call it before
 * event_base_free(base) and never from a store_done_fn; mutations those
 * last callbacks try to queue are refused with RKV_ESHUTDOWN. */
void store_close(struct store *s);

/* store_node_id -- this node's identity (its gossip member id), generated
 * once with the directory (never 0). */
uint64_t store_node_id(const struct store *s);

/* store_actor -- the actor of the dots store_update mints (never 0): the
 * node id, or a new one from an open that found the last run with sync =
 * periodic ended by a crash of the machine (it may have lost acknowledged
 * writes whose dots replicas hold). */
uint64_t store_actor(const struct store *s);

/* store_get -- read an object now (a read transaction; sees only committed
 * data). *out is the caller's (dvv_free), NULL on error. 0, RKV_ENOTFOUND
 * (also for keys longer than STORE_MAX_KEY, and when the key's slot holds
 * another key's record, see top), RKV_ECORRUPT (checksum or decode
 * failure; logged naming the key), RKV_EIO or RKV_ENOMEM. */
int store_get(struct store *s, uint32_t partition, const void *key, size_t klen,
              struct dvv **out);

/* store_get_digest -- store_get, and the stored object's digest: XXH3-64
 * of its Avro bytes (codec_object_encode's), so equal objects stored by
 * any node have equal digests. out NULL: the digest alone, without
 * decoding the object (a checksum failure is still RKV_ECORRUPT). digest
 * may be NULL. Same returns as store_get; *digest is 0 unless it returns
 * 0. */
int store_get_digest(struct store *s, uint32_t partition, const void *key,
                     size_t klen, struct dvv **out, uint64_t *digest);

/* store_done_fn -- completion of a queued mutation. status is 0, RKV_EIO
 * (LMDB failed: the whole group commit was rolled back), RKV_ECORRUPT (the
 * stored object could not be read, nothing written for this key),
 * RKV_ESIBLINGS (the result would hold more than DVV_MAX_VALUES values or
 * DVV_MAX_ENTRIES actors; nothing written), RKV_EINVAL (the result would
 * not pass dvv_validate otherwise, e.g. a value without content type; or
 * the key's slot holds another key's record, see top; nothing written,
 * logged) or RKV_ENOMEM.
 * obj is the object as committed, valid only during the call (NULL unless
 * status is 0). Status 0 means it survives a crash of the process, and
 * with sync = batch one of the machine. */
typedef void store_done_fn(int status, const struct dvv *obj, void *arg);

/* store_update -- queue a client write coordinated by this node:
 * stored = dvv_update(stored or empty, ctx, node id, v). ctx (may be NULL)
 * and v are copied. 0 if queued (cb will run exactly once, never from
 * inside this call); otherwise cb never runs: RKV_ETOOBIG (key longer than
 * STORE_MAX_KEY), RKV_EINVAL (key NULL with klen > 0, or ctx fails
 * dvv_vv_validate), RKV_EUNAVAIL (queue full), RKV_ESHUTDOWN (store_close
 * has begun) or RKV_ENOMEM. */
int store_update(struct store *s, uint32_t partition, const void *key,
                 size_t klen, const struct dvv_vv *ctx,
                 const struct dvv_value *v, store_done_fn *cb, void *arg);

/* store_merge -- queue stored = dvv_sync(stored or empty, obj) (replication,
 * read repair, handoff). obj is copied. Same returns as store_update;
 * RKV_EINVAL here means obj fails dvv_validate (or key NULL, klen > 0). */
int store_merge(struct store *s, uint32_t partition, const void *key,
                size_t klen, const struct dvv *obj, store_done_fn *cb,
                void *arg);

/* store_merge_take -- store_merge of an object the store takes instead of
 * copying (one just decoded from a peer): freed by the store whatever
 * this returns. */
int store_merge_take(struct store *s, uint32_t partition, const void *key,
                     size_t klen, struct dvv *obj, store_done_fn *cb,
                     void *arg);

/* store_observer_fn -- told of every object committed by store_update
 * or store_merge (hints are not objects), after the commit and before the
 * mutation's own callback; arguments valid during the call only. A
 * partition being transferred away forwards what is written to it
 * meanwhile (src/transfer.c), whichever path wrote it. */
typedef void store_observer_fn(void *arg, uint32_t partition, const void *key,
                               size_t klen, const struct dvv *obj);

/* store_set_observer -- install the one observer (fn NULL removes it). */
void store_set_observer(struct store *s, store_observer_fn *fn, void *arg);

/* store_get_stats -- counters for /stats. The key count is the writer's
 * (every acknowledged write counted) and no checkpoint is asked for,
 * except right after the loop's own writes. */
void store_get_stats(struct store *s, struct store_stats *out);

/* store_checkpoint_times -- how long each checkpoint so far held the
 * writer, in microseconds: groups handed meanwhile wait, so these are
 * what write latency shows at its tail. */
void store_checkpoint_times(struct store *s, struct histogram *out);

/* --- node metadata -------------------------------------------------------- */

/* Metadata names are 1..STORE_MAX_META_NAME bytes of printable ASCII
 * (0x21..0x7e); "node_id", "actor" and "running" are the store's own. A
 * blob is at most STORE_MAX_META_VALUE bytes: room for the largest ring
 * codec.h encodes (65536 partitions naming three nodes of 255 bytes
 * each). */
#define STORE_MAX_META_NAME  64
#define STORE_MAX_META_VALUE ((size_t)64 << 20)

/* store_meta_get -- the blob stored under name, in *out (malloc'ed, never
 * NULL on success even for an empty blob, freed by the caller) and *len.
 * Sees only what store_meta_put committed. 0, RKV_ENOTFOUND, RKV_EINVAL
 * (bad or reserved name), RKV_ECORRUPT (checksum failed; logged), RKV_EIO
 * or RKV_ENOMEM; *out is NULL and *len 0 on error. */
int store_meta_get(struct store *s, const char *name, uint8_t **out,
                   size_t *len);

/* store_meta_put -- store buf[0..len) under name, replacing what was
 * there, in a write transaction of its own: when it returns 0 the blob is
 * durable (synced, whatever the sync mode). buf is only read; it may be
 * NULL when len is 0. 0, RKV_EINVAL (bad or reserved name, buf NULL with
 * len > 0), RKV_ETOOBIG (len > STORE_MAX_META_VALUE), RKV_EIO (logged;
 * the old blob may or may not have been replaced) or RKV_ENOMEM. */
int store_meta_put(struct store *s, const char *name, const void *buf,
                   size_t len);

/* --- partition scans ------------------------------------------------------ */

/* Where a scan of one partition resumes. The caller owns it, zeroes it
 * (or calls store_scan_pos_init) to start at the partition's first key,
 * and hands it to store_scan() batch after batch; it is a plain value that
 * may be copied, and it names a slot (see top), not a record, so it stays
 * meaningful however the partition changes between batches. */
struct store_scan_pos {
	bool started;       /* false: before the first key */
	uint32_t partition; /* when started: the partition scanned */
	size_t len;         /* when started: bytes of slot in use */
	uint8_t slot[STORE_INLINE_KEY]; /* the last slot visited */
};

/* What one store_scan() call did. */
struct store_scan_result {
	uint64_t items;   /* objects handed to fn */
	uint64_t bytes;   /* stored bytes (LMDB key + value) of the records
	                     visited, corrupt ones included */
	uint64_t corrupt; /* records skipped as corrupt (each logged) */
	bool more;        /* the partition has records after *pos */
};

/* store_scan_fn -- one object of a scan, in slot order. key[0..klen) is
 * the whole user key (long keys included) and obj the decoded, verified
 * object; both are valid only during the call. Return 0 to go on; any
 * other value stops the scan before this record: *pos is left where it
 * was, so the next batch hands the same record again, and store_scan
 * returns the value (a negative RKV_E* code, or a positive one of the
 * caller's own). fn may call store_get, store_update, store_merge,
 * store_meta_* and store_partition_* (the scan reads a snapshot of its
 * own, which they do not disturb), but never store_close. */
typedef int store_scan_fn(const void *key, size_t klen, const struct dvv *obj,
                          void *arg);

/* store_scan_pos_init -- a position before the first key of any partition
 * (the same as zeroing it). */
void store_scan_pos_init(struct store_scan_pos *pos);

/* store_scan_pos_after -- a position just after user key key[0..klen) of
 * partition, whether or not that key is stored: a scan from it starts at
 * the first key that follows in slot order. 0, or RKV_EINVAL (klen >
 * STORE_MAX_KEY, or key NULL with klen > 0). */
int store_scan_pos_after(struct store_scan_pos *pos, uint32_t partition,
                         const void *key, size_t klen);

/* store_scan -- one bounded batch of a partition's objects, in slot order,
 * from *pos on; *pos advances past every record visited.
 *
 * The batch ends when the partition ends, when max_items records have
 * been visited, or once the records visited reach max_bytes stored bytes
 * (the record crossing the bound is included, so every call that finds a
 * record makes progress). Each record's checksum is verified and its
 * object decoded; a corrupt record (bad checksum, undecodable, or a long
 * key's record under a slot that is not its own) is not handed to fn: it
 * is logged naming its key, counted in res->corrupt and skipped, and the
 * scan goes on. The batch reads one snapshot (a read transaction held for
 * the call only): records committed during an earlier batch are seen by
 * the next one if they sort after *pos; queued, uncommitted mutations are
 * never seen.
 *
 * 0 (*res filled), fn's non-zero return (see store_scan_fn; *res counts
 * what was done before it), RKV_EINVAL (max_items or max_bytes 0, or *pos
 * belongs to another partition), RKV_EIO (logged) or RKV_ENOMEM; on those
 * errors *pos is unchanged past the records already handed to fn. */
int store_scan(struct store *s, uint32_t partition, struct store_scan_pos *pos,
               size_t max_items, size_t max_bytes, store_scan_fn *fn, void *arg,
               struct store_scan_result *res);

/* store_partition_stats -- how many records a partition holds and their
 * stored bytes (LMDB keys + values), from one snapshot of committed data,
 * for rebalance plans and /stats. It walks the partition's keys without
 * reading or decoding the values, so its cost grows with the number of
 * keys (one cursor step each), not with their size; it runs in the
 * caller's loop turn, so call it for planning, not per request. 0, RKV_EIO
 * (logged) or RKV_ENOMEM; *keys and *bytes are 0 on error. */
int store_partition_stats(struct store *s, uint32_t partition, uint64_t *keys,
                          uint64_t *bytes);

/* store_partition_delete -- remove up to max_items records of a partition
 * (the first ones in slot order, corrupt or not) in one write transaction;
 * call it again while *more is true to drop a handed-off partition without
 * stalling the loop. Durable when it returns (an LMDB commit with its
 * flush); a crash may bring back
 * records that a later call removes again. Mutations of the partition that
 * are queued, or queued later, still write: stop routing them first.
 * *deleted (may be NULL) is how many were removed. 0, RKV_EINVAL
 * (max_items 0), RKV_EIO (logged; nothing removed) or RKV_ENOMEM. */
int store_partition_delete(struct store *s, uint32_t partition,
                           size_t max_items, size_t *deleted, bool *more);

/* --- hints (hinted handoff) ---------------------------------------------- */

/* A target name is 1..STORE_MAX_HINT_TARGET bytes, none below 0x21 or
 * 0x7f (a ring name). Keys up to STORE_HINT_INLINE_KEY bytes are their own
 * slot in the hints database (LMDB's 511 bytes minus target hash and
 * partition); longer ones (up to STORE_MAX_KEY) are hashed as on top. */
#define STORE_MAX_HINT_TARGET 255
#define STORE_HINT_INLINE_KEY 499
/* Bounds of the hint "queue": hints held (plus those queued to be
 * written) and distinct targets. Past them store_hint answers
 * RKV_EUNAVAIL: the coordinator counts that fallback as failed, and the
 * write still has its primaries and other fallbacks. */
#define STORE_MAX_HINTS        ((uint64_t)1 << 24)
#define STORE_MAX_HINT_TARGETS 4096

/* store_hint -- queue hints[target][partition][key] = dvv_sync(that hint
 * or empty, obj): what a fallback does with a write for a primary that is
 * down. Group-committed with every other mutation; durable like them. cb
 * gets the hint as committed. obj and target are copied. 0 if queued,
 * else (cb never runs) RKV_EINVAL (bad target name, obj fails
 * dvv_validate, key NULL with klen > 0), RKV_ETOOBIG (key longer than
 * STORE_MAX_KEY), RKV_EUNAVAIL (queue full, STORE_MAX_HINTS or
 * STORE_MAX_HINT_TARGETS reached), RKV_ESHUTDOWN or RKV_ENOMEM. In cb,
 * RKV_EINVAL also means the slot holds another target's or key's record
 * (logged; nothing written). */
int store_hint(struct store *s, const char *target, uint32_t partition,
               const void *key, size_t klen, const struct dvv *obj,
               store_done_fn *cb, void *arg);

/* store_hint_delete -- queue the removal of a hint once its primary has
 * acknowledged it: the hint is removed only if it still equals `sent`
 * (dvv_equal), the object that was handed off; a hint that changed since
 * -- a write merged into it meanwhile -- is kept for the next handoff.
 * cb's obj is NULL when the hint is gone (removed now, or absent), else
 * the hint that was kept. Returns as store_hint (RKV_EUNAVAIL only for a
 * full queue). */
int store_hint_delete(struct store *s, const char *target, uint32_t partition,
                      const void *key, size_t klen, const struct dvv *sent,
                      store_done_fn *cb, void *arg);

/* store_hint_get -- the committed hint of one target for a key, or with
 * target NULL the dvv_sync of every target's hint for it (what a fallback
 * answers a read with). *out is the caller's (dvv_free), NULL on error.
 * 0, RKV_ENOTFOUND, RKV_EINVAL (bad target name), RKV_ECORRUPT (logged),
 * RKV_EIO or RKV_ENOMEM. */
int store_hint_get(struct store *s, const char *target, uint32_t partition,
                   const void *key, size_t klen, struct dvv **out);

/* Where a scan of one target's hints resumes: zero it (or
 * store_hint_pos_init) to start at the first hint. A plain value naming
 * the last database key visited. */
struct store_hint_pos {
	bool started;
	size_t len;
	uint8_t dkey[511];
};

void store_hint_pos_init(struct store_hint_pos *pos);

/* store_hint_fn -- one hint of a scan; key[0..klen) and obj valid during
 * the call only. Return 0 to go on; anything else stops the scan before
 * this hint (*pos unchanged for it) and is returned by store_hint_scan. */
typedef int store_hint_fn(uint32_t partition, const void *key, size_t klen,
                          const struct dvv *obj, void *arg);

/* store_hint_scan -- one bounded batch of target's hints from *pos, in
 * (partition, slot) order, exactly as store_scan() walks a partition:
 * max_items records or max_bytes stored bytes (the crossing record
 * included), one snapshot of committed data for the call, corrupt records
 * logged, counted in res->corrupt and skipped. res->more tells whether
 * the target has hints after *pos. 0, fn's non-zero value, RKV_EINVAL
 * (bad target, max_items or max_bytes 0), RKV_EIO or RKV_ENOMEM. */
int store_hint_scan(struct store *s, const char *target,
                    struct store_hint_pos *pos, size_t max_items,
                    size_t max_bytes, store_hint_fn *fn, void *arg,
                    struct store_scan_result *res);

/* store_hint_target_count, store_hint_target -- the targets this store
 * has held hints for since it opened (found in the database at open, or
 * named by store_hint since), indices 0..count-1 in order of first
 * appearance. store_hint_target gives entry i's name (valid until
 * store_close) and its committed hint count in *pending (may be NULL);
 * NULL for i out of range. */
size_t store_hint_target_count(const struct store *s);
const char *store_hint_target(const struct store *s, size_t i,
                              uint64_t *pending);

/* store_hint_pending -- committed hints for target (0 when none). */
uint64_t store_hint_pending(const struct store *s, const char *target);

#endif
