/* test_bench_http.c -- the bench's response-head parser and request
 * formatter.
 *
 * The parser decides where one answer ends and the next begins, so a bug
 * here shifts every later answer on a connection. The tests feed heads
 * whole and byte by byte (an answer arrives in pieces), check each field
 * it reads (status, Content-Length, Connection, X-Context), and check that
 * everything it must refuse -- chunked bodies, conflicting lengths,
 * malformed lines, interim 1xx answers, heads or bodies over the limits --
 * is refused rather than guessed at.
 */
#include "bench_http.h"
#include "status.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Parse a complete head; returns its length (asserting success). */
static size_t parse_ok(const char *text, struct bench_http_resp *r)
{
	size_t hl = 99;
	const char *why = NULL;
	assert_int_equal(
	    bench_http_parse_head(text, strlen(text), r, &hl, &why), 0);
	return hl;
}

static void parse_bad(const char *text)
{
	struct bench_http_resp r;
	size_t hl = 99;
	const char *why = NULL;
	assert_int_equal(
	    bench_http_parse_head(text, strlen(text), &r, &hl, &why),
	    RKV_EINVAL);
	assert_non_null(why);
}

static void test_ok_with_context(void **state)
{
	(void)state;
	struct bench_http_resp r;
	const char *text = "HTTP/1.1 200 OK\r\n"
	                   "Content-Type: application/octet-stream\r\n"
	                   "X-Context:   g2wAAAAB  \r\n"
	                   "Content-Length: 5\r\n"
	                   "\r\n"
	                   "hello";
	size_t hl = parse_ok(text, &r);
	assert_int_equal(hl, strlen(text) - 5);
	assert_int_equal(r.status, 200);
	assert_true(r.has_body);
	assert_int_equal(r.content_length, 5);
	assert_false(r.close);
	assert_int_equal(r.context_len, 8);
	assert_memory_equal(r.context, "g2wAAAAB", 8);
}

/* An answer arriving one byte at a time is incomplete until its blank
 * line, and then parses to the same head. */
static void test_byte_by_byte(void **state)
{
	(void)state;
	const char *text = "HTTP/1.1 300 Multiple Choices\r\n"
	                   "content-length: 12\r\n"
	                   "X-Context: ctx\r\n\r\n";
	size_t full = strlen(text);
	struct bench_http_resp r;
	const char *why = NULL;

	for (size_t n = 0; n < full; n++) {
		size_t hl = 99;
		assert_int_equal(bench_http_parse_head(text, n, &r, &hl, &why),
		                 0);
		assert_int_equal(hl, 0);
	}
	assert_int_equal(parse_ok(text, &r), full);
	assert_int_equal(r.status, 300);
	assert_int_equal(r.content_length, 12);
}

static void test_no_body_statuses(void **state)
{
	(void)state;
	struct bench_http_resp r;
	parse_ok("HTTP/1.1 204 No Content\r\n\r\n", &r);
	assert_int_equal(r.status, 204);
	assert_false(r.has_body);
	assert_int_equal(r.content_length, 0);
	assert_false(r.close);
	parse_ok("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", &r);
	assert_false(r.has_body);
	assert_int_equal(r.content_length, 0);
	/* a status line without a reason phrase is allowed */
	parse_ok("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", &r);
	assert_int_equal(r.status, 404);
	assert_true(r.has_body);
	assert_int_equal(r.content_length, 0);
}

static void test_connection_close(void **state)
{
	(void)state;
	struct bench_http_resp r;
	parse_ok(
	    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
	    &r);
	assert_true(r.close);
	parse_ok("HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\n"
	         "Content-Length: 0\r\n\r\n",
	         &r);
	assert_true(r.close);
	parse_ok("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n"
	         "Content-Length: 0\r\n\r\n",
	         &r);
	assert_false(r.close);
	/* HTTP/1.0 closes unless it says keep-alive */
	parse_ok("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", &r);
	assert_true(r.close);
	parse_ok("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"
	         "Content-Length: 0\r\n\r\n",
	         &r);
	assert_false(r.close);
	/* without a length the body ends with the connection */
	parse_ok("HTTP/1.1 200 OK\r\n\r\n", &r);
	assert_int_equal(r.content_length, -1);
	assert_true(r.close);
}

static void test_lengths(void **state)
{
	(void)state;
	struct bench_http_resp r;
	char text[128];

	parse_ok(
	    "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n",
	    &r);
	assert_int_equal(r.content_length, 7);
	parse_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n"
	         "Content-Length: 3\r\n\r\n",
	         &r);
	assert_int_equal(r.content_length, 3);
	parse_bad("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: "
	          "8\r\n\r\n");
	parse_bad("HTTP/1.1 200 OK\r\nContent-Length: +7\r\n\r\n");
	parse_bad("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n");
	parse_bad("HTTP/1.1 200 OK\r\nContent-Length: 7 7\r\n\r\n");
	parse_bad("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n");
	parse_bad(
	    "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999\r\n\r\n");
	snprintf(text, sizeof(text),
	         "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n\r\n",
	         (unsigned long long)BENCH_HTTP_BODY_MAX);
	parse_ok(text, &r);
	snprintf(text, sizeof(text),
	         "HTTP/1.1 200 OK\r\nContent-Length: %llu\r\n\r\n",
	         (unsigned long long)BENCH_HTTP_BODY_MAX + 1);
	parse_bad(text);
}

static void test_refused(void **state)
{
	(void)state;
	parse_bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	parse_bad(
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
	parse_bad("HTTP/1.1 100 Continue\r\n\r\n");
	parse_bad("HTTP/2 200 OK\r\n\r\n");
	parse_bad("HTTP/1.2 200 OK\r\n\r\n");
	parse_bad("HTTP/1.1 20 OK\r\n\r\n");
	parse_bad("HTTP/1.1 2000 OK\r\n\r\n");
	parse_bad("HTTP/1.1 600 Nope\r\n\r\n");
	parse_bad("HTTP/1.1  200 OK\r\n\r\n");
	parse_bad("SSH-2.0-OpenSSH\r\n\r\n");
	parse_bad("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n");
	parse_bad("HTTP/1.1 200 OK\r\n: empty name\r\n\r\n");
}

/* A head is refused once it reaches the limit without ending. */
static void test_head_limit(void **state)
{
	(void)state;
	char *big = malloc(BENCH_HTTP_HEAD_MAX + 1);
	struct bench_http_resp r;
	size_t hl = 99;
	const char *why = NULL;

	assert_non_null(big);
	memcpy(big, "HTTP/1.1 200 OK\r\nX-Pad: ", 24);
	memset(big + 24, 'x', BENCH_HTTP_HEAD_MAX + 1 - 24);
	assert_int_equal(
	    bench_http_parse_head(big, BENCH_HTTP_HEAD_MAX - 1, &r, &hl, &why),
	    0);
	assert_int_equal(hl, 0);
	assert_int_equal(
	    bench_http_parse_head(big, BENCH_HTTP_HEAD_MAX, &r, &hl, &why),
	    RKV_EINVAL);
	free(big);
}

static void test_request(void **state)
{
	(void)state;
	char buf[256];
	const char *target = "/kv/user0000000042?w=2";
	size_t n =
	    bench_http_request(buf, sizeof(buf), "PUT", target, strlen(target),
	                       "127.0.0.1:8098", 1000, "abc", 3);
	const char *want = "PUT /kv/user0000000042?w=2 HTTP/1.1\r\n"
	                   "Host: 127.0.0.1:8098\r\n"
	                   "Content-Length: 1000\r\n"
	                   "X-Context: abc\r\n"
	                   "\r\n";
	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);

	n = bench_http_request(buf, sizeof(buf), "GET", "/ping", 5, "h:1", -1,
	                       NULL, 0);
	want = "GET /ping HTTP/1.1\r\nHost: h:1\r\n\r\n";
	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);

	/* a zero-length body still says so */
	n = bench_http_request(buf, sizeof(buf), "PUT", "/kv/a", 5, "h:1", 0,
	                       NULL, 0);
	assert_non_null(memmem(buf, n, "Content-Length: 0\r\n", 19));

	/* too small: 0, at every size short of the whole */
	size_t whole = strlen("GET /ping HTTP/1.1\r\nHost: h:1\r\n\r\n");
	for (size_t cap = 0; cap < whole; cap++)
		assert_int_equal(bench_http_request(buf, cap, "GET", "/ping", 5,
		                                    "h:1", -1, NULL, 0),
		                 0);
	assert_int_equal(bench_http_request(buf, whole, "GET", "/ping", 5,
	                                    "h:1", -1, NULL, 0),
	                 whole);
}

static void test_u64(void **state)
{
	(void)state;
	char buf[32];
	assert_int_equal(bench_http_u64(buf, 0, 0), 1);
	assert_memory_equal(buf, "0", 1);
	assert_int_equal(bench_http_u64(buf, 42, 10), 10);
	assert_memory_equal(buf, "0000000042", 10);
	assert_int_equal(bench_http_u64(buf, 12345678901ULL, 10), 11);
	assert_memory_equal(buf, "12345678901", 11);
	assert_int_equal(bench_http_u64(buf, UINT64_MAX, 0), 20);
	assert_memory_equal(buf, "18446744073709551615", 20);
	assert_int_equal(bench_http_u64(buf, 7, 30), 20); /* width capped */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ok_with_context),
	    cmocka_unit_test(test_byte_by_byte),
	    cmocka_unit_test(test_no_body_statuses),
	    cmocka_unit_test(test_connection_close),
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_head_limit),
	    cmocka_unit_test(test_request),
	    cmocka_unit_test(test_u64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
