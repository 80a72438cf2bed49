/* cli_http.h -- the ringkv CLI's HTTP client: node addresses, and a batch
 * of requests run at once under one deadline.
 *
 * The CLI is a blocking program, but `ringkv status` asks every member for
 * its /stats, and a member that is paused or behind a dropped route must
 * not cost one timeout each. So requests are issued as a batch: every call
 * of the batch gets its own connection on one private event loop, and the
 * whole batch ends when the last answer arrived or when the deadline
 * passed, whichever comes first. A single request is a batch of one.
 *
 * Everything is bounded at the call site (STYLE.md, "a limit and a
 * timeout on everything"): the deadline covers connect, send and receive
 * together (evhttp's own timeouts are per I/O operation, so they are set
 * only as a backstop beyond it), answers are refused past
 * CLI_HTTP_MAX_BODY bytes of body and CLI_HTTP_MAX_HEADERS bytes of head,
 * and a batch holds at most CLI_HTTP_MAX_CALLS requests. Host names are
 * resolved with the system resolver (blocking, once per call), as the
 * daemon's own tools do.
 */
#ifndef RKV_CLI_HTTP_H
#define RKV_CLI_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define CLI_HOST_MAX 255
/* "[" host "]:" port */
#define CLI_ADDR_TEXT_MAX (CLI_HOST_MAX + 8)

/* A value may be as large as the largest max_value_bytes a node accepts
 * (256 MiB); the slack covers sibling framing of smaller values. */
#define CLI_HTTP_MAX_BODY (((size_t)256 << 20) + ((size_t)1 << 20))
/* Room for an X-Context (CODEC_MAX_CONTEXT_TEXT, 28 KiB) and the rest. */
#define CLI_HTTP_MAX_HEADERS 65536
/* One request per cluster member (CLUSTER_MAX_MEMBERS) and a few more. */
#define CLI_HTTP_MAX_CALLS 260
#define CLI_HTTP_WHY_MAX   (CLI_ADDR_TEXT_MAX + 96)

/* A node's HTTP address. */
struct cli_addr {
	char text[CLI_ADDR_TEXT_MAX + 1]; /* as given; the Host header */
	char host[CLI_HOST_MAX + 1];      /* without IPv6 brackets */
	uint16_t port;
};

/* cli_addr_parse -- "host:port" or "[v6]:port" into *out. 0, or
 * RKV_EINVAL when there is no port, the port is not 1..65535, the host is
 * empty or longer than CLI_HOST_MAX. */
int cli_addr_parse(const char *text, struct cli_addr *out);

enum cli_http_method {
	CLI_HTTP_GET,
	CLI_HTTP_PUT,
	CLI_HTTP_DELETE,
	CLI_HTTP_POST,
};

/* What came back for one request. Strings are malloc'ed, NUL-terminated
 * copies owned by the call, freed by cli_http_call_deinit. */
struct cli_http_answer {
	int status;          /* HTTP status */
	char reason[64];     /* its reason phrase, cut to fit */
	char *content_type;  /* NULL when absent */
	char *context;       /* X-Context; NULL when absent */
	char *last_modified; /* Last-Modified; NULL when absent */
	char *body;          /* never NULL after an answer; may hold NULs */
	size_t len;
};

/* One request of a batch. The caller fills the request part and zeroes
 * the rest; every pointer of the request part must stay valid during
 * cli_http_run. */
struct cli_http_call {
	/* request */
	const struct cli_addr *node;
	enum cli_http_method method;
	const char *path;         /* path and query, already URL-encoded */
	const char *content_type; /* NULL: no Content-Type header */
	const char *context;      /* NULL: no X-Context header */
	const void *body;         /* PUT and POST; NULL with body_len 0 */
	size_t body_len;

	/* outcome, set by cli_http_run:
	 *   0            an answer arrived (any status): see answer;
	 *   RKV_EUNAVAIL no answer: refused, closed, or the deadline passed;
	 *   RKV_ETOOBIG  the answer was larger than the limits above;
	 *   RKV_EINVAL   the answer was not HTTP;
	 *   RKV_ENOMEM   the request could not be made.
	 * why says it in words for every non-zero rc. */
	int rc;
	char why[CLI_HTTP_WHY_MAX];
	struct cli_http_answer answer;
};

/* cli_http_run -- issue calls[0..n) at once and wait until every one is
 * answered or timeout_ms (from now) passed. Each call's rc and answer say
 * what happened to it. Returns 0, or RKV_EINVAL when n is 0 or above
 * CLI_HTTP_MAX_CALLS (no call is made then), or RKV_ENOMEM when the
 * event loop could not be set up (every call's rc is RKV_ENOMEM). */
int cli_http_run(struct cli_http_call *calls, size_t n, unsigned timeout_ms);

/* cli_http_call_deinit -- free a call's answer and zero its outcome, so
 * the call can be run again; safe on a call never run (zeroed). */
void cli_http_call_deinit(struct cli_http_call *call);

#endif
