/* bench_nodes.c -- see bench_nodes.h. */
#include "bench_nodes.h"

#include "status.h"

#include <event2/http.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One entry "host:port" or "[v6]:port" of len bytes. */
static int nodes_parse_one(const char *s, size_t len, struct bench_node *n,
                           char *err, size_t errlen)
{
	const char *colon, *host = s;
	size_t hlen;

	memset(n, 0, sizeof(*n));
	if (len == 0 || len > BENCH_NODE_NAME_MAX) {
		snprintf(err, errlen, "--nodes: %s entry",
		         len ? "overlong" : "empty");
		return RKV_EINVAL;
	}
	memcpy(n->name, s, len);
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (close == NULL || close + 1 >= s + len || close[1] != ':')
			goto bad;
		host = s + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = NULL;
		for (const char *p = s; p < s + len; p++)
			if (*p == ':')
				colon = p;
		if (colon == NULL)
			goto bad;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen > BENCH_NODE_HOST_MAX)
		goto bad;
	memcpy(n->host, host, hlen);

	unsigned long port = 0;
	const char *p = colon + 1;
	if (p == s + len)
		goto bad;
	for (; p < s + len; p++) {
		if (*p < '0' || *p > '9' || port > 65535)
			goto bad;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port == 0 || port > 65535)
		goto bad;
	n->port = (uint16_t)port;
	return 0;
bad:
	snprintf(err, errlen, "--nodes: '%s' is not host:port", n->name);
	return RKV_EINVAL;
}

int bench_nodes_parse(const char *list, struct bench_node *nodes, size_t max,
                      size_t *count, char *err, size_t errlen)
{
	size_t n = 0;
	const char *s = list;

	*count = 0;
	for (;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		if (n == max) {
			snprintf(err, errlen, "--nodes: more than %zu nodes",
			         max);
			return RKV_EINVAL;
		}
		if (nodes_parse_one(s, len, &nodes[n], err, errlen) != 0)
			return RKV_EINVAL;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(nodes[i].name, nodes[n].name) == 0) {
				snprintf(err, errlen,
				         "--nodes: %s listed twice",
				         nodes[n].name);
				return RKV_EINVAL;
			}
		}
		n++;
		if (comma == NULL)
			break;
		s = comma + 1;
	}
	*count = n;
	return 0;
}

int bench_nodes_resolve(struct bench_node *node, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
	                         .ai_family = AF_UNSPEC};
	struct addrinfo *res = NULL;
	char port[8];

	snprintf(port, sizeof(port), "%u", (unsigned)node->port);
	int rc = getaddrinfo(node->host, port, &hints, &res);
	if (rc != 0 || res == NULL) {
		snprintf(err, errlen, "node %s: cannot resolve %s: %s",
		         node->name, node->host,
		         rc ? gai_strerror(rc) : "no address");
		return RKV_ENOTFOUND;
	}
	memcpy(&node->addr, res->ai_addr, res->ai_addrlen);
	node->addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* What the callbacks of one control-plane request report. */
struct nodes_get {
	bool done;
	int status;
	enum evhttp_request_error error;
	bool failed;
	struct evbuffer *body;
};

static void nodes_get_error(enum evhttp_request_error error, void *arg)
{
	struct nodes_get *g = arg;
	g->failed = true;
	g->error = error;
}

static void nodes_get_done(struct evhttp_request *req, void *arg)
{
	struct nodes_get *g = arg;
	g->done = true;
	/* req is NULL, or has code 0, when no answer came */
	if (req == NULL || evhttp_request_get_response_code(req) == 0) {
		g->failed = true;
		return;
	}
	g->status = evhttp_request_get_response_code(req);
	evbuffer_add_buffer(g->body, evhttp_request_get_input_buffer(req));
}

static const char *nodes_get_why(enum evhttp_request_error e)
{
	switch (e) {
	case EVREQ_HTTP_TIMEOUT: return "no answer in time";
	case EVREQ_HTTP_EOF: return "connection refused or closed";
	case EVREQ_HTTP_INVALID_HEADER: return "malformed answer";
	case EVREQ_HTTP_BUFFER_ERROR: return "read or write error";
	case EVREQ_HTTP_DATA_TOO_LONG: return "answer too large";
	default: return "request failed";
	}
}

int bench_nodes_get(struct event_base *base, const struct bench_node *node,
                    const char *path, unsigned timeout_ms, size_t max_body,
                    struct evbuffer *body, int *status, char *err,
                    size_t errlen)
{
	struct nodes_get g = {.body = body, .error = EVREQ_HTTP_EOF};
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	struct evhttp_connection *evcon;
	struct evhttp_request *req;
	int rc = RKV_EUNAVAIL;

	evcon = evhttp_connection_base_new(base, NULL, node->host, node->port);
	if (evcon == NULL) {
		snprintf(err, errlen,
		         "node %s: GET %s: cannot create a "
		         "connection",
		         node->name, path);
		return RKV_EUNAVAIL;
	}
	evhttp_connection_set_timeout_tv(evcon, &tv);
	evhttp_connection_set_retries(evcon, 0);
	evhttp_connection_set_max_body_size(evcon, (ev_ssize_t)max_body);
	evhttp_connection_set_max_headers_size(evcon, 65536);
	req = evhttp_request_new(nodes_get_done, &g);
	if (req == NULL)
		goto fail;
	evhttp_request_set_error_cb(req, nodes_get_error);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host",
	                  node->name);
	/* on failure evhttp_make_request has freed req */
	if (evhttp_make_request(evcon, req, EVHTTP_REQ_GET, path) != 0)
		goto fail;
	while (!g.done)
		if (event_base_loop(base, EVLOOP_ONCE) != 0)
			break;
	if (g.done && !g.failed) {
		*status = g.status;
		rc = 0;
	}
fail:
	if (rc != 0)
		snprintf(err, errlen, "node %s: GET %s: %s", node->name, path,
		         g.done ? nodes_get_why(g.error) : "request failed");
	evhttp_connection_free(evcon);
	return rc;
}
