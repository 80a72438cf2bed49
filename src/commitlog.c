/* commitlog.c -- the commit log of sync = batch (see commitlog.h).
 *
 * The block being built keeps CLOG_HEAD_ROOM bytes free at its front, so
 * that clog_commit can put the frame header and the array's item count
 * (known only then) right before the items and hand the kernel one
 * contiguous buffer: one write(2) and one fdatasync(2) per group.
 */
#include "commitlog.h"

#include "avro_bin.h"
#include "byteorder.h"
#include "logging.h"
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define CLOG_FILE      "commit.log"
#define CLOG_LEN_BYTES 4
#define CLOG_SUM_BYTES 8
#define CLOG_FRAME     (CLOG_LEN_BYTES + CLOG_SUM_BYTES)
/* The frame and the largest item count fit in front of the items. */
#define CLOG_HEAD_ROOM (CLOG_FRAME + AVRO_BIN_MAX_LONG)
/* Avro's union branches of LogWrite.record. */
#define CLOG_BRANCH_NULL  0
#define CLOG_BRANCH_BYTES 1

static int clog_path(const char *dir, char *out, size_t size)
{
	if (snprintf(out, size, "%s/%s", dir, CLOG_FILE) >= (int)size)
		return RKV_EINVAL;
	return 0;
}

int clog_open(struct clog *l, const char *dir)
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
	l->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (l->fd < 0 || fstat(l->fd, &st) != 0) {
		log_error("commitlog: cannot open %s: %s", path,
		          strerror(errno));
		clog_close(l);
		return RKV_EIO;
	}
	l->size = (uint64_t)st.st_size;
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

/* Cut the file back to its good blocks after a failed append. */
static void clog_cut(struct clog *l)
{
	if (ftruncate(l->fd, (off_t)l->size) == 0)
		return;
	log_error("commitlog: cannot cut a failed append off %s: %s; no more "
	          "appends until the next checkpoint",
	          l->path, strerror(errno));
	l->broken = true;
}

static int clog_write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int clog_commit(struct clog *l)
{
	uint8_t *frame = NULL;
	size_t csize = 0, plen = 0;
	int rc = 0;

	if (l->count == 0)
		return 0;
	if (l->broken) {
		clog_drop(l);
		log_error("commitlog: %s is broken since a failed append",
		          l->path);
		return RKV_EIO;
	}
	/* clog_reserve left room for the terminator. */
	l->buf[l->len++] = 0;
	csize = avro_bin_long_size(l->count);
	frame = l->buf + CLOG_HEAD_ROOM - csize - CLOG_FRAME;
	avro_bin_put_long(frame + CLOG_FRAME, l->count);
	plen = (size_t)(l->buf + l->len - (frame + CLOG_FRAME));
	byte_put_le32(frame, (uint32_t)plen);
	byte_put_le64(frame + CLOG_LEN_BYTES,
	              XXH3_64bits(frame + CLOG_FRAME, plen));
	if (clog_write_all(l->fd, frame, CLOG_FRAME + plen) != 0) {
		log_error("commitlog: append to %s failed: %s", l->path,
		          strerror(errno));
		clog_cut(l);
		rc = RKV_EIO;
	} else if (fdatasync(l->fd) != 0) {
		/* What reached the disk is unknown: take the block back, it
		 * is not acknowledged. */
		log_error("commitlog: fdatasync of %s failed: %s", l->path,
		          strerror(errno));
		clog_cut(l);
		rc = RKV_EIO;
	} else {
		l->size += CLOG_FRAME + plen;
	}
	clog_drop(l);
	return rc;
}

int clog_reset(struct clog *l)
{
	clog_drop(l);
	if (ftruncate(l->fd, 0) != 0 || fsync(l->fd) != 0) {
		log_error("commitlog: cannot empty %s: %s", l->path,
		          strerror(errno));
		return RKV_EIO;
	}
	l->size = 0;
	l->broken = false;
	return 0;
}

/* The whole file, malloc'ed (NULL when it is empty). */
static int clog_read_all(struct clog *l, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t n = 0;

	*out = NULL;
	*len = 0;
	if (fstat(l->fd, &st) != 0)
		goto fail;
	if (st.st_size == 0)
		return 0;
	buf = malloc((size_t)st.st_size);
	if (buf == NULL)
		return RKV_ENOMEM;
	while (n < (size_t)st.st_size) {
		ssize_t r =
		    pread(l->fd, buf + n, (size_t)st.st_size - n, (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto fail;
		n += (size_t)r;
	}
	*out = buf;
	*len = n;
	return 0;

fail:
	log_error("commitlog: cannot read %s: %s", l->path,
	          errno ? strerror(errno) : "short read");
	free(buf);
	return RKV_EIO;
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

int clog_replay(struct clog *l, clog_replay_fn *fn, void *arg,
                struct clog_replay_stats *st)
{
	uint8_t *buf = NULL;
	size_t len = 0, off = 0;
	int rc = clog_read_all(l, &buf, &len);

	memset(st, 0, sizeof(*st));
	while (rc == 0 && len - off >= CLOG_FRAME) {
		const uint8_t *frame = buf + off;
		size_t plen = byte_get_le32(frame);
		const uint8_t *payload = frame + CLOG_FRAME;
		if (plen > len - off - CLOG_FRAME ||
		    XXH3_64bits(payload, plen) !=
		        byte_get_le64(frame + CLOG_LEN_BYTES) ||
		    clog_block(payload, payload + plen, NULL, NULL, NULL) != 0)
			break;
		rc = clog_block(payload, payload + plen, fn, arg, &st->writes);
		if (rc != 0)
			break;
		st->blocks++;
		off += CLOG_FRAME + plen;
	}
	free(buf);
	if (rc != 0)
		return rc;
	st->dropped = len - off;
	l->size = off;
	if (st->dropped == 0)
		return 0;
	/* The usual cause is a crash during an append, whose group was
	 * never acknowledged. */
	log_warn("commitlog: dropped the last %llu bytes of %s: not a whole, "
	         "intact block",
	         (unsigned long long)st->dropped, l->path);
	if (ftruncate(l->fd, (off_t)off) != 0) {
		log_error("commitlog: cannot cut %s: %s", l->path,
		          strerror(errno));
		return RKV_EIO;
	}
	return 0;
}

int clog_empty(const char *dir, bool *empty)
{
	char path[PATH_MAX];
	struct stat st;

	*empty = false;
	if (clog_path(dir, path, sizeof(path)) != 0)
		return RKV_EIO;
	if (stat(path, &st) == 0) {
		*empty = st.st_size == 0;
		return 0;
	}
	if (errno == ENOENT) {
		*empty = true;
		return 0;
	}
	log_error("commitlog: cannot stat %s: %s", path, strerror(errno));
	return RKV_EIO;
}
