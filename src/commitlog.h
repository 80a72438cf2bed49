/* commitlog.h -- the store's commit log: what makes a group commit
 * durable without flushing LMDB's B-tree.
 *
 * Why. A group commit of about thirty PUTs dirties about thirty-five
 * scattered 4 KiB pages of the B-tree, and flushing them costs ten times
 * what flushing the same records appended to one file does
 * (docs/benchmarks.md, "What a commit costs on this disk"). So the store
 * (store.c) applies each group to a long-lived LMDB write transaction,
 * appends the records the group wrote to this log and only then answers:
 * with sync = batch after flushing the log (clog_commit), with sync =
 * periodic without (clog_write: the kernel has the block, so only a
 * machine crash can lose it), the log being flushed every
 * sync_interval_ms (clog_flush). The B-tree is committed, and flushed, at
 * checkpoints; the log is then emptied.
 *
 * File. <dir>/commit.log is a sequence of blocks, one per group, from
 * its first byte:
 *
 *   u32 payload length (LE) ++ u64 pass (LE)
 *     ++ u64 XXH3-64 of the payload seeded with the pass (LE) ++ payload
 *
 * where the payload is a LogBlock in Avro's binary encoding
 * (src/schemas/log_block.avsc): the LMDB writes of the group in the order
 * they were made, each a database, a key and the record as stored, or no
 * record for a delete. The records are the final bytes (checksummed
 * store records, store.h), so applying a log again is harmless: it
 * writes what is already there.
 *
 * Reuse. The file is written over again from its start after each
 * checkpoint (clog_reset) rather than emptied, and is preallocated with
 * zeros: a flush of bytes inside the file writes no inode, which halves
 * its cost on this machine's disk (docs/benchmarks.md, "What would move
 * sync = batch next"). The pass, a random number drawn at each reset,
 * tells this pass's blocks from the older ones still further in the
 * file, and clog_reset zeroes the first header so that an empty pass
 * reads as empty.
 *
 * Tearing. With clog_commit a group's block is written only after the
 * block before it was flushed, so a crash can damage only the last block,
 * and that one was never acknowledged. Blocks written by clog_write reach
 * the disk in any order until clog_flush, so a machine crash can leave
 * any of them out; they are what sync = periodic may lose. clog_replay
 * stops at the first block that is short, fails its checksum, belongs to
 * another pass or does not decode, so whatever follows a lost block is
 * dropped with it. A failed append leaves the write position where it
 * was: the next block is written over it.
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
	uint64_t size; /* bytes of this pass's blocks: where the next goes */
	uint64_t pass; /* this pass's number (see top) */
};

/* clog_open -- open <dir>/commit.log, creating it if missing, and make it
 * at least prealloc bytes long (zeros, flushed) without touching what it
 * holds. l is initialised in place; a new pass begins at the file's
 * start unless clog_replay finds one. 0, RKV_EIO (logged) or
 * RKV_ENOMEM. */
int clog_open(struct clog *l, const char *dir, uint64_t prealloc);

/* clog_close -- close the file (its blocks stay) and free the block being
 * built. Safe on a zeroed or closed clog. */
void clog_close(struct clog *l);

/* clog_add -- add one write to the block being built. rec NULL: a delete
 * (rlen is then 0). 0, RKV_ETOOBIG (the block would pass CLOG_MAX_BLOCK)
 * or RKV_ENOMEM; the block is unchanged on failure. */
int clog_add(struct clog *l, enum clog_db db, const void *key, size_t klen,
             const void *rec, size_t rlen);

/* clog_commit -- write the block being built after this pass's blocks and
 * flush it (fdatasync): when it returns 0 the block survives a machine
 * crash. The block is emptied whatever happens. An empty block writes
 * nothing. 0 or RKV_EIO (logged; the next block goes where this one
 * was to go). */
int clog_commit(struct clog *l);

/* clog_write -- clog_commit without the flush: when it returns 0 the
 * block survives the process, and a machine crash once clog_flush has
 * returned 0. */
int clog_write(struct clog *l);

/* clog_flush -- flush (fdatasync) the blocks clog_write wrote. 0 or
 * RKV_EIO (logged). */
int clog_flush(struct clog *l);

/* clog_drop -- empty the block being built without writing it. */
void clog_drop(struct clog *l);

/* clog_reset -- begin a new pass, durably: what the log held is in LMDB.
 * The block being built, if any (clog_add), becomes the new pass's
 * first, written over the old pass's first header and flushed, so that
 * the writes it holds never leave the log: a machine crash that tears
 * that one block loses them with the old pass, as it would an
 * unflushed block. Without one, the first header is zeroed and flushed.
 * 0 or RKV_EIO (logged; the block is dropped and the old pass may be
 * gone). */
int clog_reset(struct clog *l);

/* clog_restart -- clog_reset without the flush, for a caller that has
 * more to do first: until clog_flush returns 0, a machine crash can leave
 * the old pass in place, to be applied again at the next start, so flush
 * before LMDB commits anything this log does not hold. 0 or RKV_EIO, as
 * clog_reset. */
int clog_restart(struct clog *l);

/* What clog_replay hands over: one write, pointing into the read file. */
typedef int clog_replay_fn(void *arg, enum clog_db db, const uint8_t *key,
                           size_t klen, const uint8_t *rec, size_t rlen);

struct clog_replay_stats {
	uint64_t blocks; /* good blocks read */
	uint64_t writes; /* writes handed to fn */
	bool torn;       /* the pass ends in a block cut short (logged) */
};

/* clog_replay -- hand every write of the pass at the file's start to fn,
 * block by block, in order; rec is NULL for a delete. Stops at the first
 * block that is not the pass's (see top); appends go on after the last
 * good one. A non-zero return from fn stops the replay and is returned.
 * 0, RKV_EIO (logged), RKV_ENOMEM or fn's code. */
int clog_replay(struct clog *l, clog_replay_fn *fn, void *arg,
                struct clog_replay_stats *st);

/* clog_empty -- whether <dir>/commit.log is missing or holds no block
 * at its start: a store that was closed cleanly leaves it so. 0 (*empty
 * set) or RKV_EIO (logged). */
int clog_empty(const char *dir, bool *empty);

#endif
