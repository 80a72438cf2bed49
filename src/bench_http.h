/* bench_http.h -- the HTTP/1.1 client wire format on ringkv-bench's hot
 * path: formatting a request head, parsing a response head.
 *
 * Why not evhttp's client, as everywhere else in ringkv: a load generator
 * must cost less per request than the server it measures (the target is
 * wrk's cost against /ping), and evhttp's client allocates a request, two
 * header lists, two buffers and a copy of every response header per
 * request. Measured with 32 connections against an evhttp /ping on a
 * 2-core VM, in requests per CPU-second of the client: evhttp_make_request
 * 70-90 thousand; bufferevents with our own parsing about 90 thousand
 * (every write enables and then disables a write event: two epoll_ctl);
 * wrk 95-100 thousand; plain sockets on libevent events with this parser
 * 105-110 thousand (one sendmsg and one read per request). So the bench
 * sends requests itself and parses answers itself -- only answers, only
 * what ringkvd sends: a status line, headers, and a body of Content-Length
 * bytes or running to the end of the connection. Chunked answers are
 * refused with a clear error rather than half-supported. The control-plane
 * requests (/ping, /stats) still use evhttp (bench_nodes.c).
 *
 * Everything here is pure: no I/O, no allocation.
 */
#ifndef RKV_BENCH_HTTP_H
#define RKV_BENCH_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A response head longer than this is refused (ringkvd's are < 1 KiB). */
#define BENCH_HTTP_HEAD_MAX 65536
/* Bodies announced larger than this are refused (siblings of 1 MiB
 * values fit many times over). */
#define BENCH_HTTP_BODY_MAX (UINT64_C(256) << 20)

struct bench_http_resp {
	int status;             /* 200..599 (1xx is refused as malformed) */
	bool has_body;          /* false for 204 and 304 */
	int64_t content_length; /* -1: not given, the body runs to EOF */
	bool close;             /* the server closes after this answer */
	const char *context;    /* X-Context value inside the parsed buffer */
	size_t context_len;     /* 0 when absent */
};

/* bench_http_parse_head -- parse the response head at the start of
 * buf[0..len). Returns 0 with *head_len = the head's length including its
 * blank line and *resp filled; 0 with *head_len = 0 when the head is not
 * complete yet; or RKV_EINVAL with *why (a static text) when it is
 * malformed, longer than BENCH_HTTP_HEAD_MAX, chunked, or announces a body
 * above BENCH_HTTP_BODY_MAX. resp->context points into buf and is valid as
 * long as buf is. */
int bench_http_parse_head(const char *buf, size_t len,
                          struct bench_http_resp *resp, size_t *head_len,
                          const char **why);

/* bench_http_request -- write a request head into dst (cap bytes):
 *   METHOD TARGET HTTP/1.1, Host, Content-Length (when content_length
 *   >= 0), X-Context (when context_len > 0), blank line.
 * Returns its length, or 0 when it does not fit (dst is then garbage). */
size_t bench_http_request(char *dst, size_t cap, const char *method,
                          const char *target, size_t target_len,
                          const char *host, int64_t content_length,
                          const char *context, size_t context_len);

/* bench_http_u64 -- v in decimal, zero-padded to at least width digits
 * (width <= 20), into dst without a terminating NUL. Returns the number of
 * characters written (at most 20). */
size_t bench_http_u64(char *dst, uint64_t v, unsigned width);

#endif
