/* commitlog.h -- the commit log of sync = batch: what makes a group commit
 * durable without flushing LMDB's B-tree.
 *
 * Why. A group commit of about thirty PUTs dirties about thirty-five
 * scattered 4 KiB pages of the B-tree, and flushing them costs ten times
 * what flushing the same records appended to one file does
 * (docs/benchmarks.md, "What a commit costs on this disk"). So with
 * sync = batch the store (store.c) applies each group to a long-lived
 * LMDB write transaction, appends the records the group wrote to this
 * log, flushes the log (fdatasync) and only then answers. The B-tree is
 * committed, and flushed, at checkpoints; the log is then emptied.
 *
 * File. <dir>/commit.log is a sequence of blocks, one per group:
 *
 *   u32 payload length (LE) ++ u64 XXH3-64 of the payload (LE) ++ payload
 *
 * where the payload is a LogBlock in Avro's binary encoding
 * (src/schemas/log_block.avsc): the LMDB writes of the group in the order
 * they were made, each a database, a key and the record as stored, or no
 * record for a delete. The records are the final bytes (checksummed
 * store records, store.h), so applying a log again is harmless: it
 * writes what is already there.
 *
 * Tearing. A group's block is written only after the block before it
 * was flushed, so a crash can damage only the last block, and that one
 * was never acknowledged. clog_replay stops at the first block that is
 * short, fails its checksum or does not decode, and reports what it
 * dropped. A failed append is cut off again (ftruncate) so that the next
 * block follows the last good one; if that fails too, the log refuses
 * appends until clog_reset.
 *
 * Threads. A struct clog belongs to one thread at a time (store.c: the
 * loop while it opens and closes the store, the writer in between).
 */
#ifndef RKV_COMMITLOG_H
#define RKV_COMMITLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The databases a logged write goes to: the enum LogDb of the schema. */
enum clog_db {
	CLOG_DB_OBJECTS = 0,
	CLOG_DB_HINTS = 1,
};

/* A block's payload is at most this long (its length field is a u32);
 * clog_add refuses a write that would make it longer. */
#define CLOG_MAX_BLOCK UINT32_MAX

struct clog {
	int fd;        /* -1 when closed */
	char *path;    /* for log lines */
	uint8_t *buf;  /* the block being built: its writes, Avro-encoded */
	size_t len;    /* bytes used in buf */
	size_t cap;    /* bytes allocated in buf */
	size_t count;  /* writes in buf */
	uint64_t size; /* bytes of good blocks in the file */
	bool broken;   /* a failed append could not be cut off */
};

/* clog_open -- open <dir>/commit.log, creating it empty if missing. l is
 * initialised in place. 0, RKV_EIO (logged) or RKV_ENOMEM. */
int clog_open(struct clog *l, const char *dir);

/* clog_close -- close the file (its blocks stay) and free the block being
 * built. Safe on a zeroed or closed clog. */
void clog_close(struct clog *l);

/* clog_add -- add one write to the block being built. rec NULL: a delete
 * (rlen is then 0). 0, RKV_ETOOBIG (the block would pass CLOG_MAX_BLOCK)
 * or RKV_ENOMEM; the block is unchanged on failure. */
int clog_add(struct clog *l, enum clog_db db, const void *key, size_t klen,
             const void *rec, size_t rlen);

/* clog_commit -- append the block being built and flush it (fdatasync):
 * when it returns 0 the block survives a machine crash. The block is
 * emptied whatever happens. An empty block writes nothing. 0 or RKV_EIO
 * (logged; nothing of the block is left in the file, or the log is
 * broken, see top). */
int clog_commit(struct clog *l);

/* clog_drop -- empty the block being built without writing it. */
void clog_drop(struct clog *l);

/* clog_reset -- empty the file, durably (ftruncate, fsync): what it held
 * is in LMDB. Clears `broken`. 0 or RKV_EIO (logged). */
int clog_reset(struct clog *l);

/* What clog_replay hands over: one write, pointing into the read file. */
typedef int clog_replay_fn(void *arg, enum clog_db db, const uint8_t *key,
                           size_t klen, const uint8_t *rec, size_t rlen);

struct clog_replay_stats {
	uint64_t blocks;  /* good blocks read */
	uint64_t writes;  /* writes handed to fn */
	uint64_t dropped; /* bytes after the last good block */
};

/* clog_replay -- hand every write of the file's good blocks to fn, in
 * order; rec is NULL for a delete. Stops at the first damaged block (see
 * top) and cuts the file there, so later appends follow the good blocks.
 * A non-zero return from fn stops the replay and is returned. 0,
 * RKV_EIO (logged), RKV_ENOMEM or fn's code. */
int clog_replay(struct clog *l, clog_replay_fn *fn, void *arg,
                struct clog_replay_stats *st);

/* clog_empty -- whether <dir>/commit.log is missing or empty: a store
 * that was closed cleanly leaves it so. 0 (*empty set) or RKV_EIO
 * (logged). */
int clog_empty(const char *dir, bool *empty);

#endif
