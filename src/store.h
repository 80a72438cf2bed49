/* store.h -- the node's durable storage: one LMDB environment per node.
 *
 * Layout (DESIGN.md, Storage): the main database maps
 *   big-endian u32 partition ++ user key  ->  stored object
 * so a partition is one contiguous key range. A stored object is
 *   u8 format (1) ++ Avro object (codec.h) ++ u64 XXH3 of the Avro bytes (LE)
 * because LMDB returns a flipped byte as silently wrong data: the checksum
 * turns it into RKV_ECORRUPT. The "meta" sub-database holds node metadata
 * (the node id, generated once when the directory is created).
 *
 * Writes are asynchronous and group-committed: store_update()/store_merge()
 * queue a mutation; all mutations queued during one event-loop turn are
 * applied in one LMDB write transaction by an event at the lowest priority
 * of the base (the base must have been given RKV_EV_PRIORITIES priorities
 * before store_open). With sync = batch the transaction is durable (fsync)
 * before any callback runs; with sync = periodic callbacks run after the
 * commit and a timer syncs every sync_interval_ms.
 *
 * A data directory is held with an exclusive flock on <dir>/LOCK for the
 * life of the store: a second process gets RKV_ELOCKED.
 */
#ifndef RKV_STORE_H
#define RKV_STORE_H

#include "codec.h"
#include "dvv.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Priorities the event base must have; the group commit runs at the lowest
 * (RKV_EV_PRIORITIES - 1), below libevent's default and deferred callbacks,
 * so it runs once the turn's I/O has been handled. */
#define RKV_EV_PRIORITIES 3

/* Bounds on a user key in the store (the HTTP API applies the configured,
 * smaller limit); LMDB's own maximum key size is 511 bytes by default, so
 * keys longer than that are refused with RKV_ETOOBIG. */
#define STORE_MAX_KEY 507 /* 511 - 4 bytes of partition */

/* At most this many mutations wait for one group commit; past it
 * store_update/store_merge answer RKV_EUNAVAIL (back-pressure). */
#define STORE_MAX_PENDING 65536

struct store;

struct store_options {
	const char *dir;          /* created if missing */
	bool sync_batch;          /* true: sync = batch; false: periodic */
	unsigned sync_interval_ms; /* periodic only */
	size_t map_size;          /* LMDB map size in bytes; 0 = default 8 GiB */
};

struct store_stats {
	uint64_t keys;        /* objects in the main database */
	uint64_t disk_bytes;  /* pages in use * page size */
	uint64_t commits;     /* group-commit transactions so far */
	uint64_t mutations;   /* mutations applied so far */
};

/* store_open -- open or create the store in opts->dir. base is used for the
 * commit event and the periodic sync timer. 0, RKV_ELOCKED (another process
 * holds the directory), RKV_EIO (logged with the path and LMDB's error) or
 * RKV_ENOMEM. */
int store_open(struct store **out, struct event_base *base, struct codec *codec,
	       const struct store_options *opts);

/* store_close -- commit what is queued (running its callbacks), sync, close,
 * release the lock. NULL is a no-op. */
void store_close(struct store *s);

/* store_node_id -- this node's actor id, generated once (never 0). */
uint64_t store_node_id(const struct store *s);

/* store_get -- read an object now (a read transaction; sees only committed
 * data). *out is the caller's (dvv_free). 0, RKV_ENOTFOUND, RKV_ECORRUPT
 * (checksum or decode failure; logged naming the key) or RKV_EIO. */
int store_get(struct store *s, uint32_t partition, const void *key,
	      size_t klen, struct dvv **out);

/* store_done_fn -- completion of a queued mutation. status is 0, RKV_EIO,
 * RKV_ECORRUPT (the stored object could not be read, nothing written) or
 * RKV_ESHUTDOWN. obj is the object as committed, valid only during the
 * call (NULL unless status is 0). */
typedef void store_done_fn(int status, const struct dvv *obj, void *arg);

/* store_update -- queue a client write coordinated by this node:
 * stored = dvv_update(stored or empty, ctx, node id, v). ctx and v are
 * copied. 0 if queued (cb will run exactly once, never from inside this
 * call), RKV_ETOOBIG (key) or RKV_EUNAVAIL (queue full). */
int store_update(struct store *s, uint32_t partition, const void *key,
		 size_t klen, const struct dvv_vv *ctx,
		 const struct dvv_value *v, store_done_fn *cb, void *arg);

/* store_merge -- queue stored = dvv_sync(stored or empty, obj) (replication,
 * read repair, handoff). obj is copied. Same returns as store_update. */
int store_merge(struct store *s, uint32_t partition, const void *key,
		size_t klen, const struct dvv *obj, store_done_fn *cb,
		void *arg);

/* store_get_stats -- counters for /stats. */
void store_get_stats(struct store *s, struct store_stats *out);

#endif
