/* cli_http.c -- see cli_http.h.
 *
 * One batch is one private event_base, one evhttp connection per call, and
 * one timer for the deadline. evhttp reports the end of a request through
 * its done callback in three ways, all handled by http_on_done: a request
 * with a status (an answer), a request with status 0 (the connection was
 * refused or closed before an answer), or NULL after the error callback
 * has said why (timeout, body too large, malformed head). When the
 * deadline passes first, the loop is left and the unanswered requests are
 * freed with their connections; evhttp does not call back for those.
 */
#include "cli_http.h"

#include "status.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* evhttp's per-operation timeouts are only a backstop behind the batch's
 * own deadline: they must not fire first and hide which one passed. */
#define HTTP_BACKSTOP_MS 1000

struct http_batch;

/* One call's private state while the batch runs. */
struct http_slot {
	struct cli_http_call *call;
	struct http_batch *batch;
	struct evhttp_connection *conn;
	bool done;
	bool error_seen;
	enum evhttp_request_error error;
};

struct http_batch {
	struct event_base *base;
	struct http_slot *slots;
	size_t pending;
	unsigned timeout_ms;
};

int cli_addr_parse(const char *text, struct cli_addr *out)
{
	size_t len = strlen(text), hlen;
	const char *host = text, *colon;
	unsigned long port = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len > CLI_ADDR_TEXT_MAX)
		return RKV_EINVAL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL || close[1] != ':')
			return RKV_EINVAL;
		host = text + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL)
			return RKV_EINVAL;
		hlen = (size_t)(colon - text);
	}
	if (hlen == 0 || hlen > CLI_HOST_MAX || colon[1] == '\0')
		return RKV_EINVAL;
	for (const char *p = colon + 1; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || port > 65535)
			return RKV_EINVAL;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port == 0 || port > 65535)
		return RKV_EINVAL;
	memcpy(out->text, text, len);
	memcpy(out->host, host, hlen);
	out->port = (uint16_t)port;
	return 0;
}

static enum evhttp_cmd_type http_cmd(enum cli_http_method m)
{
	switch (m) {
	case CLI_HTTP_PUT: return EVHTTP_REQ_PUT;
	case CLI_HTTP_DELETE: return EVHTTP_REQ_DELETE;
	case CLI_HTTP_POST: return EVHTTP_REQ_POST;
	case CLI_HTTP_GET: break;
	}
	return EVHTTP_REQ_GET;
}

static char *http_strdup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static void http_no_answer(struct http_slot *s)
{
	struct cli_http_call *call = s->call;
	const char *node = call->node->text;

	call->rc = RKV_EUNAVAIL;
	if (!s->error_seen) {
		snprintf(call->why, sizeof(call->why),
		         "no answer from %s (connection refused or closed)",
		         node);
		return;
	}
	switch (s->error) {
	case EVREQ_HTTP_DATA_TOO_LONG:
		call->rc = RKV_ETOOBIG;
		snprintf(call->why, sizeof(call->why),
		         "the answer from %s is larger than %zu bytes", node,
		         (size_t)CLI_HTTP_MAX_BODY);
		break;
	case EVREQ_HTTP_INVALID_HEADER:
		call->rc = RKV_EINVAL;
		snprintf(call->why, sizeof(call->why),
		         "the answer from %s is not valid HTTP", node);
		break;
	case EVREQ_HTTP_TIMEOUT:
		snprintf(call->why, sizeof(call->why),
		         "no answer from %s within %u ms", node,
		         s->batch->timeout_ms);
		break;
	default:
		snprintf(call->why, sizeof(call->why),
		         "no answer from %s (connection closed)", node);
		break;
	}
}

static int http_copy_answer(struct cli_http_call *call,
                            struct evhttp_request *req)
{
	struct cli_http_answer *a = &call->answer;
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *ctype = evhttp_find_header(h, "Content-Type");
	const char *ctx = evhttp_find_header(h, "X-Context");
	const char *mtime = evhttp_find_header(h, "Last-Modified");

	const char *reason = evhttp_request_get_response_code_line(req);

	a->status = evhttp_request_get_response_code(req);
	snprintf(a->reason, sizeof(a->reason), "%s", reason ? reason : "");
	a->len = evbuffer_get_length(in);
	a->body = malloc(a->len + 1);
	a->content_type = http_strdup_or_null(ctype);
	a->context = http_strdup_or_null(ctx);
	a->last_modified = http_strdup_or_null(mtime);
	if (a->body == NULL || (ctype != NULL && a->content_type == NULL) ||
	    (ctx != NULL && a->context == NULL) ||
	    (mtime != NULL && a->last_modified == NULL))
		return RKV_ENOMEM;
	if (evbuffer_remove(in, a->body, a->len) != (int)a->len)
		return RKV_ENOMEM;
	a->body[a->len] = '\0';
	return 0;
}

static void http_on_error(enum evhttp_request_error error, void *arg)
{
	struct http_slot *s = arg;
	s->error_seen = true;
	s->error = error;
}

static void http_on_done(struct evhttp_request *req, void *arg)
{
	struct http_slot *s = arg;
	struct cli_http_call *call = s->call;

	if (s->done)
		return;
	s->done = true;
	if (req == NULL || evhttp_request_get_response_code(req) == 0) {
		http_no_answer(s);
	} else if (http_copy_answer(call, req) != 0) {
		call->rc = RKV_ENOMEM;
		snprintf(call->why, sizeof(call->why),
		         "out of memory reading the answer from %s",
		         call->node->text);
	} else {
		call->rc = 0;
	}
	if (--s->batch->pending == 0)
		event_base_loopbreak(s->batch->base);
}

static void http_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct http_batch *b = arg;
	(void)fd;
	(void)what;
	event_base_loopbreak(b->base);
}

/* Opens the slot's connection and sends its request. */
static int http_start(struct http_batch *b, struct http_slot *s)
{
	struct cli_http_call *call = s->call;
	unsigned backstop = b->timeout_ms + HTTP_BACKSTOP_MS;
	struct timeval tv = {backstop / 1000, (backstop % 1000) * 1000};
	struct evhttp_request *req;
	struct evkeyvalq *h;

	s->conn = evhttp_connection_base_new(b->base, NULL, call->node->host,
	                                     call->node->port);
	if (s->conn == NULL)
		return RKV_ENOMEM;
	evhttp_connection_set_timeout_tv(s->conn, &tv);
	evhttp_connection_set_retries(s->conn, 0);
	/* A node refusing a large value answers 413 and closes while the body
	 * is still going out: read that answer instead of failing on EPIPE. */
	evhttp_connection_set_flags(s->conn, EVHTTP_CON_READ_ON_WRITE_ERROR);
	evhttp_connection_set_max_body_size(s->conn,
	                                    (ev_ssize_t)CLI_HTTP_MAX_BODY);
	evhttp_connection_set_max_headers_size(s->conn, CLI_HTTP_MAX_HEADERS);

	req = evhttp_request_new(http_on_done, s);
	if (req == NULL)
		return RKV_ENOMEM;
	evhttp_request_set_error_cb(req, http_on_error);
	h = evhttp_request_get_output_headers(req);
	if (evhttp_add_header(h, "Host", call->node->text) != 0 ||
	    (call->content_type != NULL &&
	     evhttp_add_header(h, "Content-Type", call->content_type) != 0) ||
	    (call->context != NULL &&
	     evhttp_add_header(h, "X-Context", call->context) != 0) ||
	    (call->body_len > 0 &&
	     evbuffer_add(evhttp_request_get_output_buffer(req), call->body,
	                  call->body_len) != 0)) {
		evhttp_request_free(req);
		return RKV_ENOMEM;
	}
	/* On failure evhttp_make_request frees req itself. */
	if (evhttp_make_request(s->conn, req, http_cmd(call->method),
	                        call->path) != 0)
		return RKV_ENOMEM;
	return 0;
}

int cli_http_run(struct cli_http_call *calls, size_t n, unsigned timeout_ms)
{
	struct http_batch b = {.timeout_ms = timeout_ms};
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	struct event *deadline = NULL;
	int rc = RKV_ENOMEM;

	if (n == 0 || n > CLI_HTTP_MAX_CALLS)
		return RKV_EINVAL;
	/* A node that refuses a large body closes the connection while it is
	 * being sent: that must end the request, not the program. The
	 * handler is restored after, so a closed stdout still stops the
	 * program the usual way. */
	struct sigaction ignore = {.sa_handler = SIG_IGN}, saved;
	sigemptyset(&ignore.sa_mask);
	sigaction(SIGPIPE, &ignore, &saved);
	for (size_t i = 0; i < n; i++) {
		cli_http_call_deinit(&calls[i]);
		calls[i].rc = RKV_ENOMEM;
		snprintf(calls[i].why, sizeof(calls[i].why),
		         "out of memory sending the request to %s",
		         calls[i].node->text);
	}
	b.base = event_base_new();
	b.slots = calloc(n, sizeof(*b.slots));
	if (b.base == NULL || b.slots == NULL)
		goto fail;
	deadline = evtimer_new(b.base, http_on_deadline, &b);
	if (deadline == NULL)
		goto fail;
	if (evtimer_add(deadline, &tv) != 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct http_slot *s = &b.slots[i];
		*s = (struct http_slot){.call = &calls[i], .batch = &b};
		/* counted first: a request may end before its start returns */
		b.pending++;
		if (http_start(&b, s) != 0 && !s->done) {
			s->done = true;
			b.pending--;
		}
	}
	if (b.pending > 0)
		event_base_dispatch(b.base);
	for (size_t i = 0; i < n; i++) {
		struct http_slot *s = &b.slots[i];
		if (s->done || s->conn == NULL)
			continue;
		s->call->rc = RKV_EUNAVAIL;
		snprintf(s->call->why, sizeof(s->call->why),
		         "no answer from %s within %u ms", s->call->node->text,
		         timeout_ms);
	}
	rc = 0;
fail:
	/* Freeing a connection frees its unanswered request, silently. */
	for (size_t i = 0; b.slots != NULL && i < n; i++)
		if (b.slots[i].conn != NULL)
			evhttp_connection_free(b.slots[i].conn);
	if (deadline != NULL)
		event_free(deadline);
	if (b.base != NULL)
		event_base_free(b.base);
	free(b.slots);
	sigaction(SIGPIPE, &saved, NULL);
	return rc;
}

void cli_http_call_deinit(struct cli_http_call *call)
{
	free(call->answer.content_type);
	free(call->answer.context);
	free(call->answer.last_modified);
	free(call->answer.body);
	memset(&call->answer, 0, sizeof(call->answer));
	call->rc = 0;
	call->why[0] = '\0';
}
