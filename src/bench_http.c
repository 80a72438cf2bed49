/* bench_http.c -- see bench_http.h for why the bench parses its answers.
 *
 * The parser is deliberately narrow. It accepts what RFC 9112 requires of
 * a response head (status line, header fields, CRLF line ends) and reads
 * four fields: Content-Length, Transfer-Encoding (only to refuse it),
 * Connection and X-Context. Anything it cannot be sure of -- a bad status
 * line, two different lengths, a length with a sign -- is an error, and
 * the caller drops the connection: a benchmark that guesses at framing
 * would count the wrong bytes as the next answer.
 */
#include "bench_http.h"

#include "status.h"

#include <string.h>
#include <strings.h>

/* Field names compared without case; value is trimmed of blanks. */
static bool http_field_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/* Does a comma-separated field value hold token (without case)? */
static bool http_has_token(const char *v, size_t len, const char *token)
{
	size_t tlen = strlen(token), i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t start = i;
		while (i < len && v[i] != ',')
			i++;
		size_t end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (end - start == tlen &&
		    strncasecmp(v + start, token, tlen) == 0)
			return true;
	}
	return false;
}

static int http_parse_length(const char *v, size_t len, int64_t *out)
{
	uint64_t n = 0;
	if (len == 0 || len > 12)
		return RKV_EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return RKV_EINVAL;
		n = n * 10 + (uint64_t)(v[i] - '0');
	}
	if (*out >= 0 && (uint64_t)*out != n)
		return RKV_EINVAL; /* two different lengths */
	*out = (int64_t)n;
	return 0;
}

/* "HTTP/1.x SSS reason": sets status and whether 1.0 (close by default). */
static int http_status_line(const char *p, size_t len, int *status,
                            bool *http10)
{
	if (len < 12 || memcmp(p, "HTTP/1.", 7) != 0 ||
	    (p[7] != '0' && p[7] != '1') || p[8] != ' ')
		return RKV_EINVAL;
	for (int i = 9; i < 12; i++)
		if (p[i] < '0' || p[i] > '9')
			return RKV_EINVAL;
	if (len > 12 && p[12] != ' ')
		return RKV_EINVAL;
	*status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	*http10 = p[7] == '0';
	/* 1xx answers only follow an Expect the bench never sends */
	return *status >= 200 && *status <= 599 ? 0 : RKV_EINVAL;
}

int bench_http_parse_head(const char *buf, size_t len,
                          struct bench_http_resp *resp, size_t *head_len,
                          const char **why)
{
	size_t scan = len < BENCH_HTTP_HEAD_MAX ? len : BENCH_HTTP_HEAD_MAX;
	const char *end = memmem(buf, scan, "\r\n\r\n", 4);
	bool http10 = false, keep_alive = false;

	*head_len = 0;
	if (end == NULL) {
		if (len < BENCH_HTTP_HEAD_MAX)
			return 0;
		*why = "response head too large";
		return RKV_EINVAL;
	}
	memset(resp, 0, sizeof(*resp));
	resp->content_length = -1;

	const char *line = buf, *stop = end + 2; /* through the last CRLF */
	const char *eol = memmem(line, (size_t)(stop - line), "\r\n", 2);
	if (http_status_line(line, (size_t)(eol - line), &resp->status,
	                     &http10) != 0) {
		*why = "malformed status line";
		return RKV_EINVAL;
	}
	for (line = eol + 2; line < stop; line = eol + 2) {
		eol = memmem(line, (size_t)(stop - line), "\r\n", 2);
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		if (colon == NULL || colon == line) {
			*why = "malformed header line";
			return RKV_EINVAL;
		}
		size_t nlen = (size_t)(colon - line);
		const char *v = colon + 1, *vend = eol;
		while (v < vend && (*v == ' ' || *v == '\t'))
			v++;
		while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		size_t vlen = (size_t)(vend - v);

		if (http_field_is(line, nlen, "content-length")) {
			if (http_parse_length(v, vlen, &resp->content_length)) {
				*why = "bad Content-Length";
				return RKV_EINVAL;
			}
		} else if (http_field_is(line, nlen, "transfer-encoding")) {
			if (!http_has_token(v, vlen, "identity")) {
				*why = "chunked answers are not supported";
				return RKV_EINVAL;
			}
		} else if (http_field_is(line, nlen, "connection")) {
			resp->close |= http_has_token(v, vlen, "close");
			keep_alive |= http_has_token(v, vlen, "keep-alive");
		} else if (http_field_is(line, nlen, "x-context")) {
			resp->context = v;
			resp->context_len = vlen;
		}
	}
	if (http10 && !keep_alive)
		resp->close = true;
	resp->has_body = resp->status != 204 && resp->status != 304;
	if (!resp->has_body)
		resp->content_length = 0;
	if (resp->content_length > (int64_t)BENCH_HTTP_BODY_MAX) {
		*why = "answer body too large";
		return RKV_EINVAL;
	}
	/* without a length the body ends when the server closes */
	if (resp->content_length < 0)
		resp->close = true;
	*head_len = (size_t)(end - buf) + 4;
	return 0;
}

size_t bench_http_u64(char *dst, uint64_t v, unsigned width)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n < width && n < sizeof(tmp))
		tmp[n++] = '0';
	for (size_t i = 0; i < n; i++)
		dst[i] = tmp[n - 1 - i];
	return n;
}

/* Appends len bytes at *at if they fit before end; false otherwise. */
static bool http_put(char **at, const char *end, const void *src, size_t len)
{
	if ((size_t)(end - *at) < len)
		return false;
	memcpy(*at, src, len);
	*at += len;
	return true;
}

#define HTTP_PUT_LIT(at, end, lit) http_put(at, end, lit, sizeof(lit) - 1)

size_t bench_http_request(char *dst, size_t cap, const char *method,
                          const char *target, size_t target_len,
                          const char *host, int64_t content_length,
                          const char *context, size_t context_len)
{
	char *at = dst;
	const char *end = dst + cap;
	bool ok = http_put(&at, end, method, strlen(method)) &&
	          HTTP_PUT_LIT(&at, end, " ") &&
	          http_put(&at, end, target, target_len) &&
	          HTTP_PUT_LIT(&at, end, " HTTP/1.1\r\nHost: ") &&
	          http_put(&at, end, host, strlen(host)) &&
	          HTTP_PUT_LIT(&at, end, "\r\n");
	if (ok && content_length >= 0) {
		char num[20];
		size_t n = bench_http_u64(num, (uint64_t)content_length, 0);
		ok = HTTP_PUT_LIT(&at, end, "Content-Length: ") &&
		     http_put(&at, end, num, n) &&
		     HTTP_PUT_LIT(&at, end, "\r\n");
	}
	if (ok && context_len > 0)
		ok = HTTP_PUT_LIT(&at, end, "X-Context: ") &&
		     http_put(&at, end, context, context_len) &&
		     HTTP_PUT_LIT(&at, end, "\r\n");
	if (ok)
		ok = HTTP_PUT_LIT(&at, end, "\r\n");
	return ok ? (size_t)(at - dst) : 0;
}
