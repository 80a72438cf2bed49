/* cli_kv.c -- `ringkv get`, `put` and `del` (see cli.h).
 *
 * These are thin wrappers over GET, PUT and DELETE /kv/{key}
 * (docs/http-api.md); what they add is what a person at a shell needs:
 *
 *   - Siblings. A read that finds concurrent values answers 300 with a
 *     multipart/mixed body (RFC 2046): parts separated by "--BOUNDARY"
 *     lines, each with its own headers (Content-Type, X-Deleted for a
 *     deleted sibling) and a body that ends at the CRLF before the next
 *     delimiter. `get` splits it and prints every value after a separator
 *     line, exiting 0: siblings are a successful read that the user must
 *     resolve, not a failure.
 *   - Causal contexts. `get --context` prints the X-Context of the read;
 *     `put --context CTX` replaces exactly what that read saw. `del`
 *     without --context first reads the key to learn its context, because
 *     a delete carrying no context removes nothing (it would stand beside
 *     the value as a deleted sibling) -- the same reason Riak clients
 *     fetch before they delete.
 *   - Time. The node is asked to give up on its quorum (the `timeout`
 *     parameter) at 4/5 of --timeout, so a slow quorum comes back as the
 *     node's own 503 (exit 1) before the CLI stops waiting and calls the
 *     node unreachable (exit 3).
 *
 * With --json every outcome of get/put/del that the node answered in the
 * protocol of /kv is one JSON object: {"key", "status", "context",
 * "values": [{"content_type", "last_modified", "deleted", "value" or
 * "value_base64"}]} -- a value that is not UTF-8 text (or holds a NUL)
 * is given in base64 so that it survives the trip through JSON.
 */
#include "cli.h"

#include "cli_json.h"
#include "json.h"
#include "status.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define KV_BOUNDARY_MAX 200 /* RFC 2046 allows 70; be lenient */
#define KV_HEADER_MAX   256

/* One value of a read: the whole body of a 200, or one multipart part. */
struct kv_value {
	const char *data;
	size_t len;
	char content_type[KV_HEADER_MAX];
	char last_modified[KV_HEADER_MAX];
	bool deleted;
};

/* A read's outcome, as get prints it. */
struct kv_read {
	struct kv_value *values;
	size_t n;
};

/* --- requests ---------------------------------------------------------- */

/* "/kv/{key}?timeout=T[&name=value]", malloc'ed; NULL on ENOMEM. */
static char *kv_path(const struct cli *cli, const char *key, const char *param,
                     const char *value)
{
	unsigned node_ms = cli->timeout_ms / 5 * 4;
	char *enc = evhttp_uriencode(key, -1, 0), *path = NULL;
	size_t cap;

	if (enc == NULL)
		return NULL;
	if (node_ms == 0)
		node_ms = 1;
	cap = strlen(enc) + 64 + (value ? strlen(value) : 0);
	path = malloc(cap);
	if (path != NULL) {
		int n = snprintf(path, cap, "/kv/%s?timeout=%u", enc, node_ms);
		if (value != NULL)
			snprintf(path + n, cap - (size_t)n, "&%s=%s", param,
			         value);
	}
	free(enc);
	return path;
}

/* The key argument: non-empty and within the largest key a node takes. */
static int kv_check_key(const struct cli *cli, const char *key)
{
	size_t len = strlen(key);

	if (len == 0 || len > CLI_MAX_KEY_BYTES) {
		cli_error(cli, "a key is 1 to %d bytes", CLI_MAX_KEY_BYTES);
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

/* --- multipart/mixed ----------------------------------------------------- */

/* The boundary parameter of a multipart Content-Type into buf. */
static int kv_boundary(const char *ctype, char *buf, size_t cap)
{
	const char *p = ctype ? strcasestr(ctype, "boundary=") : NULL;
	size_t n;

	if (p == NULL)
		return RKV_EINVAL;
	p += strlen("boundary=");
	if (*p == '"') {
		p++;
		n = strcspn(p, "\"");
	} else {
		n = strcspn(p, "; \t");
	}
	if (n == 0 || n >= cap)
		return RKV_EINVAL;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

/* Copies a part header's value (after "Name:") into dst. */
static void kv_header_value(const char *v, const char *eol, char *dst,
                            size_t cap)
{
	while (v < eol && (*v == ' ' || *v == '\t'))
		v++;
	size_t n = (size_t)(eol - v);
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* The headers of one part, from p to the blank line; returns the start
 * of the part's body, or NULL when the headers do not end. */
static const char *kv_part_headers(const char *p, const char *end,
                                   struct kv_value *v)
{
	for (;;) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (eol == NULL)
			return NULL;
		if (eol == p)
			return p + 2;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		size_t nlen = colon ? (size_t)(colon - p) : 0;
		if (nlen == 12 && strncasecmp(p, "Content-Type", 12) == 0)
			kv_header_value(colon + 1, eol, v->content_type,
			                sizeof(v->content_type));
		else if (nlen == 13 && strncasecmp(p, "Last-Modified", 13) == 0)
			kv_header_value(colon + 1, eol, v->last_modified,
			                sizeof(v->last_modified));
		else if (nlen == 9 && strncasecmp(p, "X-Deleted", 9) == 0)
			v->deleted = true;
		p = eol + 2;
	}
}

/* Splits a 300 body into r->values (pointing into body). 0, RKV_EINVAL
 * when it is not multipart as ringkvd writes it, RKV_ETOOBIG beyond
 * CLI_MAX_SIBLINGS parts, RKV_ENOMEM. */
static int kv_split_siblings(const struct cli_http_answer *a, struct kv_read *r)
{
	char boundary[KV_BOUNDARY_MAX + 1], delim[KV_BOUNDARY_MAX + 5];
	const char *p, *end = a->body + a->len;
	size_t dlen;

	if (kv_boundary(a->content_type, boundary, sizeof(boundary)) != 0)
		return RKV_EINVAL;
	dlen = (size_t)snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	/* the first delimiter may open the body, without its CRLF */
	p = memmem(a->body, a->len, delim + 2, dlen - 2);
	if (p == NULL)
		return RKV_EINVAL;
	p += dlen - 2;
	r->values = calloc(CLI_MAX_SIBLINGS, sizeof(*r->values));
	if (r->values == NULL)
		return RKV_ENOMEM;
	for (;;) {
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return r->n > 0 ? 0 : RKV_EINVAL;
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return RKV_EINVAL;
		if (r->n == CLI_MAX_SIBLINGS)
			return RKV_ETOOBIG;
		struct kv_value *v = &r->values[r->n];
		const char *data = kv_part_headers(p + 2, end, v);
		if (data == NULL)
			return RKV_EINVAL;
		const char *next =
		    memmem(data, (size_t)(end - data), delim, dlen);
		if (next == NULL)
			return RKV_EINVAL;
		v->data = data;
		v->len = (size_t)(next - data);
		r->n++;
		p = next + dlen;
	}
}

/* --- output ------------------------------------------------------------ */

/* Well-formed UTF-8 without NUL: can be a JSON string as it is. */
static bool kv_is_text(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t k = c < 0x80             ? 0
		           : (c & 0xe0) == 0xc0 ? 1
		           : (c & 0xf0) == 0xe0 ? 2
		           : (c & 0xf8) == 0xf0 ? 3
		                                : 4;
		if (c == 0 || k == 4 || (k == 1 && c < 0xc2) || i + k >= len)
			return false;
		for (size_t j = 1; j <= k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
		/* overlong 3- and 4-byte forms, surrogates, beyond U+10FFFF */
		if ((k == 2 && c == 0xe0 && s[i + 1] < 0xa0) ||
		    (k == 2 && c == 0xed && s[i + 1] >= 0xa0) ||
		    (k == 3 && c == 0xf0 && s[i + 1] < 0x90) ||
		    (k == 3 && (c > 0xf4 || (c == 0xf4 && s[i + 1] >= 0x90))))
			return false;
		i += k + 1;
	}
	return true;
}

static int kv_add_base64(struct evbuffer *b, const unsigned char *s, size_t len)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];
	int rc = 0;

	for (size_t i = 0; i < len && rc == 0; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)s[i + 1] << 8;
		if (i + 2 < len)
			v |= s[i + 2];
		q[0] = abc[(v >> 18) & 63];
		q[1] = abc[(v >> 12) & 63];
		q[2] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
		q[3] = i + 2 < len ? abc[v & 63] : '=';
		rc = evbuffer_add(b, q, 4);
	}
	return rc;
}

/* The value as a JSON member: "value":"..." or "value_base64":"...". */
static int kv_add_value(struct evbuffer *b, const struct kv_value *v)
{
	int rc;

	if (!kv_is_text((const unsigned char *)v->data, v->len)) {
		rc = evbuffer_add_printf(b, "\"value_base64\":\"") < 0;
		rc |= kv_add_base64(b, (const unsigned char *)v->data, v->len);
		return rc | evbuffer_add(b, "\"", 1);
	}
	char *text = malloc(v->len + 1);
	if (text == NULL)
		return -1;
	memcpy(text, v->data, v->len);
	text[v->len] = '\0';
	rc = evbuffer_add_printf(b, "\"value\":") < 0;
	rc |= json_add_string(b, text);
	free(text);
	return rc;
}

/* The one JSON object get, put and del print with --json. */
static int kv_print_json(const char *key, const struct cli_http_call *call,
                         const struct kv_read *r, const char *error)
{
	struct evbuffer *b = evbuffer_new();
	int rc;

	if (b == NULL)
		return -1;
	rc = evbuffer_add_printf(b, "{\"key\":") < 0;
	rc |= json_add_string(b, key);
	rc |= evbuffer_add_printf(
	          b, ",\"status\":%d,\"context\":", call->answer.status) < 0;
	rc |= json_add_string(b, call->answer.context);
	if (error != NULL) {
		rc |= evbuffer_add_printf(b, ",\"error\":") < 0;
		rc |= json_add_string(b, error);
	}
	if (r != NULL) {
		rc |= evbuffer_add_printf(b, ",\"values\":[") < 0;
		for (size_t i = 0; i < r->n && rc == 0; i++) {
			const struct kv_value *v = &r->values[i];
			rc |= evbuffer_add_printf(
			          b, "%s{\"content_type\":", i ? "," : "") < 0;
			rc |= json_add_string(
			    b, v->content_type[0] ? v->content_type : NULL);
			rc |= evbuffer_add_printf(b, ",\"last_modified\":") < 0;
			rc |= json_add_string(
			    b, v->last_modified[0] ? v->last_modified : NULL);
			rc |= evbuffer_add_printf(b, ",\"deleted\":%s,",
			                          v->deleted ? "true"
			                                     : "false") < 0;
			rc |= kv_add_value(b, v);
			rc |= evbuffer_add(b, "}", 1);
		}
		rc |= evbuffer_add(b, "]", 1);
	}
	rc |= evbuffer_add(b, "}\n", 2);
	if (rc == 0)
		fwrite(evbuffer_pullup(b, -1), 1, evbuffer_get_length(b),
		       stdout);
	evbuffer_free(b);
	return rc ? -1 : 0;
}

/* A read for people: one value as stored; siblings after separators. */
static void kv_print_values(const struct cli *cli,
                            const struct cli_http_call *call,
                            const struct kv_read *r)
{
	if (cli->show_context)
		printf("X-Context: %s\n",
		       call->answer.context ? call->answer.context : "-");
	if (call->answer.status == 200 && r->n == 1) {
		const struct kv_value *v = &r->values[0];
		fwrite(v->data, 1, v->len, stdout);
		/* a terminal gets its prompt back on a line of its own */
		if (isatty(STDOUT_FILENO) && v->len > 0 &&
		    v->data[v->len - 1] != '\n')
			fputc('\n', stdout);
		return;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct kv_value *v = &r->values[i];
		printf("--- sibling %zu/%zu %s ---\n", i + 1, r->n,
		       v->deleted           ? "deleted"
		       : v->content_type[0] ? v->content_type
		                            : "-");
		if (v->deleted)
			continue;
		fwrite(v->data, 1, v->len, stdout);
		if (v->len > 0 && v->data[v->len - 1] != '\n')
			fputc('\n', stdout);
	}
}

/* --- get --------------------------------------------------------------- */

int cli_cmd_get(struct cli *cli)
{
	const char *key = cli->args[0];
	struct cli_http_call call = {.node = &cli->node,
	                             .method = CLI_HTTP_GET};
	struct kv_value one = {0};
	struct kv_read r = {0};
	char *path = NULL;
	char error[256];
	int rc = kv_check_key(cli, key), prc;

	if (rc != CLI_EXIT_OK)
		return rc;
	path = kv_path(cli, key, "r", cli->r);
	if (path == NULL) {
		cli_error(cli, "out of memory");
		return CLI_EXIT_FAILED;
	}
	call.path = path;
	rc = cli_call_one(cli, &call);
	if (rc != CLI_EXIT_OK)
		goto done;
	switch (call.answer.status) {
	case 200:
		one.data = call.answer.body;
		one.len = call.answer.len;
		snprintf(one.content_type, sizeof(one.content_type), "%s",
		         call.answer.content_type ? call.answer.content_type
		                                  : "");
		snprintf(one.last_modified, sizeof(one.last_modified), "%s",
		         call.answer.last_modified ? call.answer.last_modified
		                                   : "");
		r.values = &one;
		r.n = 1;
		break;
	case 300:
		prc = kv_split_siblings(&call.answer, &r);
		if (prc != 0) {
			cli_error(cli, "%s",
			          prc == RKV_ETOOBIG ? "more than 1024 siblings"
			          : prc == RKV_ENOMEM ? "out of memory"
			                              : "the node's siblings "
			                                "are not multipart/"
			                                "mixed as expected");
			rc = CLI_EXIT_FAILED;
			goto done;
		}
		break;
	case 404:
		/* a deleted key still has a context to write over */
		if (cli_json_string(call.answer.body, call.answer.len, "error",
		                    error, sizeof(error)) != 0)
			snprintf(error, sizeof(error), "not found");
		if (cli->json) {
			kv_print_json(key, &call, &r, error);
		} else {
			if (cli->show_context)
				kv_print_values(cli, &call, &r);
			cli_error(cli, "%s: %s", key, error);
		}
		rc = CLI_EXIT_FAILED;
		goto done;
	default: rc = cli_refused(cli, &call); goto done;
	}
	if (cli->json) {
		if (kv_print_json(key, &call, &r, NULL) != 0) {
			cli_error(cli, "out of memory");
			rc = CLI_EXIT_FAILED;
		}
	} else {
		kv_print_values(cli, &call, &r);
	}
done:
	if (r.values != &one)
		free(r.values);
	cli_http_call_deinit(&call);
	free(path);
	return rc;
}

/* --- put --------------------------------------------------------------- */

/* Reads all of stdin, at most CLI_MAX_VALUE_BYTES, into *out
 * (malloc'ed): 0, RKV_ETOOBIG, RKV_EIO or RKV_ENOMEM. */
static int kv_read_stdin(char **out, size_t *len)
{
	const size_t limit = CLI_MAX_VALUE_BYTES + 1; /* one more: too big */
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);
	int rc = RKV_ENOMEM;

	while (buf != NULL) {
		n += fread(buf + n, 1, cap - n, stdin);
		if (n == limit) {
			rc = RKV_ETOOBIG;
			break;
		}
		if (n < cap) {
			rc = ferror(stdin) ? RKV_EIO : 0;
			break;
		}
		size_t grow = cap * 2 < limit ? cap * 2 : limit;
		char *grown = realloc(buf, grow);
		if (grown == NULL)
			break;
		buf = grown;
		cap = grow;
	}
	if (rc != 0) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* A write (PUT or DELETE) and its report. */
static int kv_write(struct cli *cli, enum cli_http_method method,
                    const char *key, const char *context, const char *body,
                    size_t len)
{
	struct cli_http_call call = {.node = &cli->node,
	                             .method = method,
	                             .content_type = cli->content_type,
	                             .context = context,
	                             .body = body,
	                             .body_len = len};
	char *path = kv_path(cli, key, "w", cli->w);
	int rc = CLI_EXIT_FAILED;

	if (path == NULL) {
		cli_error(cli, "out of memory");
		return rc;
	}
	call.path = path;
	rc = cli_call_one(cli, &call);
	if (rc != CLI_EXIT_OK)
		goto done;
	if (call.answer.status / 100 != 2)
		rc = cli_refused(cli, &call);
	else if (cli->json && kv_print_json(key, &call, NULL, NULL) != 0)
		rc = CLI_EXIT_FAILED;
done:
	cli_http_call_deinit(&call);
	free(path);
	return rc;
}

int cli_cmd_put(struct cli *cli)
{
	const char *key = cli->args[0], *value = cli->args[1];
	char *input = NULL;
	size_t len = strlen(value);
	int rc = kv_check_key(cli, key);

	if (rc != CLI_EXIT_OK)
		return rc;
	if (strcmp(value, "-") == 0) {
		int src = kv_read_stdin(&input, &len);
		if (src == RKV_ETOOBIG) {
			cli_error(cli,
			          "the value on stdin is larger than %zu "
			          "bytes",
			          CLI_MAX_VALUE_BYTES);
			return CLI_EXIT_USAGE;
		}
		if (src != 0) {
			cli_error(cli, "cannot read the value from stdin");
			return CLI_EXIT_FAILED;
		}
		value = input;
	}
	rc = kv_write(cli, CLI_HTTP_PUT, key, cli->context, value, len);
	free(input);
	return rc;
}

/* --- del --------------------------------------------------------------- */

int cli_cmd_del(struct cli *cli)
{
	const char *key = cli->args[0];
	struct cli_http_call read = {.node = &cli->node,
	                             .method = CLI_HTTP_GET};
	char *path = NULL;
	int rc = kv_check_key(cli, key);

	if (rc != CLI_EXIT_OK || cli->context != NULL)
		return rc != CLI_EXIT_OK ? rc
		                         : kv_write(cli, CLI_HTTP_DELETE, key,
		                                    cli->context, NULL, 0);
	/* no context given: delete what a read sees now */
	path = kv_path(cli, key, NULL, NULL);
	if (path == NULL) {
		cli_error(cli, "out of memory");
		return CLI_EXIT_FAILED;
	}
	read.path = path;
	rc = cli_call_one(cli, &read);
	if (rc == CLI_EXIT_OK) {
		int s = read.answer.status;
		if (s == 200 || s == 300 || s == 404)
			rc = kv_write(cli, CLI_HTTP_DELETE, key,
			              read.answer.context, NULL, 0);
		else
			rc = cli_refused(cli, &read);
	}
	cli_http_call_deinit(&read);
	free(path);
	return rc;
}
