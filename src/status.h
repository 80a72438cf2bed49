/* status.h -- the one status convention of ringkv.
 *
 * Every fallible function returns 0 on success or one negative RKV_E* code.
 * The table below is the only place a code is defined: it gives the code its
 * number, the HTTP status a client sees for it, and the text rkv_strerror()
 * returns, so the three can never drift apart.
 */
#ifndef RKV_STATUS_H
#define RKV_STATUS_H

/* X(name, value, http_status, message) */
#define RKV_STATUS_TABLE(X)                                                    \
	X(RKV_OK, 0, 200, "ok")                                                \
	X(RKV_ENOTFOUND, -1, 404, "not found")                                 \
	X(RKV_EINVAL, -2, 400, "invalid argument")                             \
	X(RKV_ETOOBIG, -3, 413, "too large")                                   \
	X(RKV_ENOMEM, -4, 500, "out of memory")                                \
	X(RKV_EIO, -5, 500, "storage error")                                   \
	X(RKV_ECORRUPT, -6, 500, "corrupt record")                             \
	X(RKV_ECONTEXT, -7, 400, "malformed causal context")                   \
	X(RKV_ELOCKED, -8, 500, "data directory is in use by another process") \
	X(RKV_EQUORUM, -9, 503, "quorum not reached")                          \
	X(RKV_ETIMEDOUT, -10, 503, "timed out")                                \
	X(RKV_EUNAVAIL, -11, 503, "unavailable")                               \
	X(RKV_ESHUTDOWN, -12, 503, "shutting down")                            \
	X(RKV_ESTALE, -13, 409,                                                \
	  "the ring changed since the plan; run plan again")                   \
	X(RKV_ESIBLINGS, -14, 409,                                             \
	  "too many siblings: read the key and write with its X-Context")      \
	X(RKV_EBUSY, -15, 409, "already in progress")

enum rkv_status {
#define RKV_STATUS_ENUM(name, value, http, msg) name = (value),
	RKV_STATUS_TABLE(RKV_STATUS_ENUM)
#undef RKV_STATUS_ENUM
};

/* rkv_strerror -- a static, human-readable text for a status code.
 * Unknown codes give "unknown error"; the pointer is never freed. */
const char *rkv_strerror(int status);

/* rkv_status_http -- the HTTP status code a client receives for a status
 * (500 for unknown codes). */
int rkv_status_http(int status);

#endif
