/* commitlog.c -- the commit log of the store (see commitlog.h).
 *
 * The block being built keeps CLOG_HEAD_ROOM bytes free at its front, so
 * that clog_commit can put the frame header and the array's item count
 * (known only then) right before the items and hand the kernel one
 * contiguous buffer: one pwrite(2), and with sync = batch one fdatasync(2),
 * per group, inside the preallocated file.
 */
#include "commitlog.h"

#include "avro_bin.h"
#include "byteorder.h"
#include "dirsync.h"
#include "logging.h"
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#define CLOG_FILE       "commit.log"
#define CLOG_LEN_BYTES  4
#define CLOG_PASS_BYTES 8
#define CLOG_SUM_BYTES  8
#define CLOG_FRAME      (CLOG_LEN_BYTES + CLOG_PASS_BYTES + CLOG_SUM_BYTES)
/* The frame and the largest item count fit in front of the items. */
#define CLOG_HEAD_ROOM (CLOG_FRAME + AVRO_BIN_MAX_LONG)
/* Avro's union branches of LogWrite.record. */
#define CLOG_BRANCH_NULL  0
#define CLOG_BRANCH_BYTES 1
/* Zeros written at a time when the file is preallocated. */
#define CLOG_ZERO_CHUNK 65536

static int clog_path(const char *dir, char *out, size_t size)
{
	if (snprintf(out, size, "%s/%s", dir, CLOG_FILE) >= (int)size)
		return RKV_EINVAL;
	return 0;
}

/* A pass number no earlier pass of this file is likely to have had: 64
 * random bits, or the clocks' bits hashed if the kernel has none to give. */
static uint64_t clog_new_pass(void)
{
	uint64_t pass = 0;
	struct timespec t[2];

	if (getrandom(&pass, sizeof(pass), 0) == (ssize_t)sizeof(pass))
		return pass;
	clock_gettime(CLOCK_REALTIME, &t[0]);
	clock_gettime(CLOCK_MONOTONIC, &t[1]);
	return XXH3_64bits(t, sizeof(t));
}

static int clog_pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Zeros from the file's end up to prealloc bytes, flushed, and the
 * directory flushed too: a file just created must still be there after a
 * crash for the blocks it will hold to be. */
static int clog_preallocate(struct clog *l, const char *dir, uint64_t from,
                            uint64_t prealloc)
{
	static const uint8_t zeros[CLOG_ZERO_CHUNK];

	for (uint64_t off = from; off < prealloc; off += CLOG_ZERO_CHUNK) {
		size_t n = prealloc - off < CLOG_ZERO_CHUNK
		               ? (size_t)(prealloc - off)
		               : CLOG_ZERO_CHUNK;
		if (clog_pwrite_all(l->fd, zeros, n, off) != 0)
			return -1;
	}
	if (fsync(l->fd) != 0)
		return -1;
	return dir_sync(dir);
}

int clog_open(struct clog *l, const char *dir, uint64_t prealloc)
{
	char path[PATH_MAX];
	struct stat st;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	if (clog_path(dir, path, sizeof(path)) != 0) {
		log_error("commitlog: the path of %s/%s is too long", dir,
		          CLOG_FILE);
		return RKV_EIO;
	}
	l->path = strdup(path);
	if (l->path == NULL)
		return RKV_ENOMEM;
	l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (l->fd < 0 || fstat(l->fd, &st) != 0 ||
	    clog_preallocate(l, dir, (uint64_t)st.st_size, prealloc) != 0) {
		log_error("commitlog: cannot open %s: %s", path,
		          strerror(errno));
		clog_close(l);
		return RKV_EIO;
	}
	l->pass = clog_new_pass();
	return 0;
}

void clog_close(struct clog *l)
{
	if (l->fd >= 0)
		close(l->fd);
	free(l->path);
	free(l->buf);
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

/* Room for more bytes of items after what is used, plus the array's
 * terminating 0. */
static int clog_reserve(struct clog *l, size_t more)
{
	size_t need = 0;
	uint8_t *grown = NULL;

	if (l->len == 0)
		l->len = CLOG_HEAD_ROOM;
	need = l->len + more + 1;
	if (need <= l->cap)
		return 0;
	size_t cap = l->cap ? l->cap : 4096;
	while (cap < need)
		cap *= 2;
	grown = realloc(l->buf, cap);
	if (grown == NULL)
		return RKV_ENOMEM;
	l->buf = grown;
	l->cap = cap;
	return 0;
}

int clog_add(struct clog *l, enum clog_db db, const void *key, size_t klen,
             const void *rec, size_t rlen)
{
	size_t more = avro_bin_long_size(db) + avro_bin_bytes_size(klen) +
	              avro_bin_long_size(CLOG_BRANCH_BYTES) +
	              (rec != NULL ? avro_bin_bytes_size(rlen) : 0);
	uint8_t *p = NULL;
	size_t used = l->len ? l->len - CLOG_HEAD_ROOM : 0;

	/* The payload: the count, the items, the final 0. */
	if (more > CLOG_MAX_BLOCK - 2 * AVRO_BIN_MAX_LONG - used)
		return RKV_ETOOBIG;
	if (clog_reserve(l, more) != 0)
		return RKV_ENOMEM;
	p = l->buf + l->len;
	p = avro_bin_put_long(p, db);
	p = avro_bin_put_bytes(p, key, klen);
	if (rec == NULL) {
		p = avro_bin_put_long(p, CLOG_BRANCH_NULL);
	} else {
		p = avro_bin_put_long(p, CLOG_BRANCH_BYTES);
		p = avro_bin_put_bytes(p, rec, rlen);
	}
	l->len = (size_t)(p - l->buf);
	l->count++;
	return 0;
}

void clog_drop(struct clog *l)
{
	l->len = 0;
	l->count = 0;
}

int clog_flush(struct clog *l)
{
	if (fdatasync(l->fd) == 0)
		return 0;
	log_error("commitlog: fdatasync of %s failed: %s", l->path,
	          strerror(errno));
	return RKV_EIO;
}

/* Write the block being built after this pass's blocks, and flush it
 * when asked to: clog_commit and clog_write. */
static int clog_put_block(struct clog *l, bool flush)
{
	uint8_t *frame = NULL;
	size_t csize = 0, plen = 0;
	int rc = 0;

	if (l->count == 0)
		return 0;
	/* clog_reserve left room for the terminator. */
	l->buf[l->len++] = 0;
	csize = avro_bin_long_size(l->count);
	frame = l->buf + CLOG_HEAD_ROOM - csize - CLOG_FRAME;
	avro_bin_put_long(frame + CLOG_FRAME, l->count);
	plen = (size_t)(l->buf + l->len - (frame + CLOG_FRAME));
	byte_put_le32(frame, (uint32_t)plen);
	byte_put_le64(frame + CLOG_LEN_BYTES, l->pass);
	byte_put_le64(frame + CLOG_LEN_BYTES + CLOG_PASS_BYTES,
	              XXH3_64bits_withSeed(frame + CLOG_FRAME, plen, l->pass));
	if (clog_pwrite_all(l->fd, frame, CLOG_FRAME + plen, l->size) != 0) {
		log_error("commitlog: write to %s failed: %s", l->path,
		          strerror(errno));
		rc = RKV_EIO;
	} else if (flush && clog_flush(l) != 0) {
		rc = RKV_EIO;
	} else {
		l->size += CLOG_FRAME + plen;
	}
	/* The block is not acknowledged: the next one goes in its place,
	 * and until then a replay (store_rebuild) must not take it. */
	if (rc != 0)
		(void)clog_pwrite_all(l->fd, (const uint8_t[CLOG_FRAME]){0},
		                      CLOG_FRAME, l->size);
	clog_drop(l);
	return rc;
}

int clog_commit(struct clog *l)
{
	return clog_put_block(l, true);
}

int clog_write(struct clog *l)
{
	return clog_put_block(l, false);
}

int clog_restart(struct clog *l)
{
	static const uint8_t zeros[CLOG_FRAME];

	if (l->count > 0) {
		l->size = 0;
		l->pass = clog_new_pass();
		return clog_put_block(l, false);
	}
	if (clog_pwrite_all(l->fd, zeros, sizeof(zeros), 0) != 0) {
		log_error("commitlog: cannot empty %s: %s", l->path,
		          strerror(errno));
		return RKV_EIO;
	}
	l->size = 0;
	l->pass = clog_new_pass();
	return 0;
}

int clog_reset(struct clog *l)
{
	int rc = clog_restart(l);

	return rc == 0 ? clog_flush(l) : rc;
}

/* One LogWrite at *p. */
static int clog_get_write(const uint8_t **p, const uint8_t *end,
                          enum clog_db *db, const uint8_t **key, size_t *klen,
                          const uint8_t **rec, size_t *rlen)
{
	int64_t d = 0, branch = 0;

	*rec = NULL;
	*rlen = 0;
	if (avro_bin_get_long(p, end, &d) != 0 ||
	    (d != CLOG_DB_OBJECTS && d != CLOG_DB_HINTS) ||
	    avro_bin_get_bytes(p, end, key, klen) != 0 ||
	    avro_bin_get_long(p, end, &branch) != 0)
		return RKV_ECORRUPT;
	*db = (enum clog_db)d;
	if (branch == CLOG_BRANCH_NULL)
		return 0;
	if (branch != CLOG_BRANCH_BYTES)
		return RKV_ECORRUPT;
	return avro_bin_get_bytes(p, end, rec, rlen);
}

/* Check that a payload decodes to the end, then (fn non-NULL) hand its
 * writes over: a damaged block hands over nothing. */
static int clog_block(const uint8_t *p, const uint8_t *end, clog_replay_fn *fn,
                      void *arg, uint64_t *writes)
{
	for (;;) {
		const uint8_t *block_end = NULL;
		uint64_t count = 0;
		if (avro_bin_get_block(&p, end, &count, &block_end) != 0)
			return RKV_ECORRUPT;
		if (count == 0)
			break;
		for (uint64_t i = 0; i < count; i++) {
			enum clog_db db = CLOG_DB_OBJECTS;
			const uint8_t *key = NULL, *rec = NULL;
			size_t klen = 0, rlen = 0;
			int rc = clog_get_write(&p, end, &db, &key, &klen, &rec,
			                        &rlen);
			if (rc != 0)
				return rc;
			if (fn != NULL) {
				rc = fn(arg, db, key, klen, rec, rlen);
				if (rc != 0)
					return rc;
				(*writes)++;
			}
		}
		if (block_end != NULL && p != block_end)
			return RKV_ECORRUPT;
	}
	return p == end ? 0 : RKV_ECORRUPT;
}

/* A reader of the file a block at a time: only what a replay takes is
 * read, not the zeros and older passes after it. */
struct clog_reader {
	int fd;
	const char *path; /* for log lines */
	uint64_t size;    /* of the file */
	uint8_t head[CLOG_FRAME];
	uint8_t *payload; /* the last block read's */
	size_t cap;       /* bytes allocated in payload */
	size_t plen;
	uint64_t pass;
};

static int clog_pread_all(struct clog_reader *r, void *buf, size_t n,
                          uint64_t off)
{
	uint8_t *p = buf;

	while (n > 0) {
		ssize_t got = pread(r->fd, p, n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			log_error("commitlog: cannot read %s: %s", r->path,
			          got < 0 ? strerror(errno) : "short read");
			return RKV_EIO;
		}
		p += got;
		n -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

/* Read the block at off: *ok tells whether a whole, intact block of any
 * pass is there (its payload in r->payload, r->plen and r->pass set).
 * RKV_EIO (logged) or RKV_ENOMEM otherwise. */
static int clog_read_block(struct clog_reader *r, uint64_t off, bool *ok)
{
	int rc = 0;

	*ok = false;
	r->plen = 0;
	r->pass = 0;
	memset(r->head, 0, sizeof(r->head));
	if (r->size - off < CLOG_FRAME)
		return 0;
	rc = clog_pread_all(r, r->head, CLOG_FRAME, off);
	if (rc != 0)
		return rc;
	r->plen = byte_get_le32(r->head);
	r->pass = byte_get_le64(r->head + CLOG_LEN_BYTES);
	if (r->plen > r->size - off - CLOG_FRAME)
		return 0;
	if (r->plen > r->cap) {
		uint8_t *grown = realloc(r->payload, r->plen);
		if (grown == NULL)
			return RKV_ENOMEM;
		r->payload = grown;
		r->cap = r->plen;
	}
	rc = clog_pread_all(r, r->payload, r->plen, off + CLOG_FRAME);
	*ok =
	    rc == 0 &&
	    XXH3_64bits_withSeed(r->payload, r->plen, r->pass) ==
	        byte_get_le64(r->head + CLOG_LEN_BYTES + CLOG_PASS_BYTES) &&
	    clog_block(r->payload, r->payload + r->plen, NULL, NULL, NULL) == 0;
	return rc;
}

static int clog_reader_open(struct clog_reader *r, int fd, const char *path)
{
	struct stat st;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->path = path;
	if (fstat(fd, &st) != 0) {
		log_error("commitlog: cannot read %s: %s", path,
		          strerror(errno));
		return RKV_EIO;
	}
	r->size = (uint64_t)st.st_size;
	return 0;
}

/* Where a replay stopped (r holds what was read there): a header that is
 * not zeros and says it is of the pass (or starts one) is a block cut
 * short. */
static bool clog_torn(const struct clog_reader *r, uint64_t blocks,
                      uint64_t pass)
{
	static const uint8_t zeros[CLOG_LEN_BYTES + CLOG_PASS_BYTES];

	if (memcmp(r->head, zeros, sizeof(zeros)) == 0)
		return false;
	return blocks == 0 || r->pass == pass;
}

int clog_replay(struct clog *l, clog_replay_fn *fn, void *arg,
                struct clog_replay_stats *st)
{
	struct clog_reader r;
	uint64_t off = 0, cur = 0;
	bool ok = false;
	int rc = clog_reader_open(&r, l->fd, l->path);

	memset(st, 0, sizeof(*st));
	while (rc == 0 && (rc = clog_read_block(&r, off, &ok)) == 0 && ok &&
	       (st->blocks == 0 || r.pass == cur)) {
		rc = clog_block(r.payload, r.payload + r.plen, fn, arg,
		                &st->writes);
		if (rc != 0)
			break;
		cur = r.pass;
		st->blocks++;
		off += CLOG_FRAME + r.plen;
	}
	if (rc == 0)
		st->torn = clog_torn(&r, st->blocks, cur);
	free(r.payload);
	if (rc != 0)
		return rc;
	if (st->blocks > 0)
		l->pass = cur;
	l->size = off;
	/* The usual cause is a crash during a write, whose group was never
	 * acknowledged. */
	if (st->torn)
		log_warn("commitlog: %s ends in a block cut short, at byte "
		         "%llu; dropped",
		         l->path, (unsigned long long)off);
	return 0;
}

int clog_empty(const char *dir, bool *empty)
{
	char path[PATH_MAX];
	struct clog_reader r;
	bool ok = false;
	int fd = -1, rc = 0;

	*empty = false;
	if (clog_path(dir, path, sizeof(path)) != 0)
		return RKV_EIO;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		*empty = true;
		return 0;
	}
	if (fd < 0) {
		log_error("commitlog: cannot open %s: %s", path,
		          strerror(errno));
		return RKV_EIO;
	}
	rc = clog_reader_open(&r, fd, path);
	if (rc == 0)
		rc = clog_read_block(&r, 0, &ok);
	free(r.payload);
	close(fd);
	*empty = rc == 0 && !ok;
	return rc;
}
