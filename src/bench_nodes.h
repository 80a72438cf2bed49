/* bench_nodes.h -- the nodes ringkv-bench drives: the --nodes list, their
 * socket addresses, and control-plane requests to them (GET /ping before
 * the run, GET /stats before and after it).
 *
 * Control-plane requests are few, so they use evhttp's client (limits and
 * timeouts set per request) and run the event loop until answered; other
 * events of the loop run meanwhile (the bench's idle connections notice a
 * node closing them), so the caller must not be inside a phase.
 */
#ifndef RKV_BENCH_NODES_H
#define RKV_BENCH_NODES_H

#include <event2/buffer.h>
#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define BENCH_NODES_MAX     64
#define BENCH_NODE_HOST_MAX 255
/* "[" host "]:" port */
#define BENCH_NODE_NAME_MAX (BENCH_NODE_HOST_MAX + 8)

struct bench_node {
	char name[BENCH_NODE_NAME_MAX + 1]; /* "host:port" as given; the Host
	                                     * header of every request */
	char host[BENCH_NODE_HOST_MAX + 1]; /* without IPv6 brackets */
	uint16_t port;
	struct sockaddr_storage addr; /* set by bench_nodes_resolve */
	socklen_t addr_len;
};

/* bench_nodes_parse -- split "host:port,host:port,..." (IPv6 hosts in
 * brackets, "[::1]:8098") into nodes[0..*count). 0, or RKV_EINVAL with a
 * message in err: empty entry, missing or bad port, host too long, more
 * than max nodes, a node listed twice. */
int bench_nodes_parse(const char *list, struct bench_node *nodes, size_t max,
                      size_t *count, char *err, size_t errlen);

/* bench_nodes_resolve -- fill node->addr with the first TCP address of
 * its host (getaddrinfo; blocking, done once at start). 0, or
 * RKV_ENOTFOUND with a message in err. */
int bench_nodes_resolve(struct bench_node *node, char *err, size_t errlen);

/* bench_nodes_get -- GET path from node, waiting at most timeout_ms and
 * accepting a body of at most max_body bytes, which is appended to body
 * (owned by the caller). 0 with *status the HTTP status (any status: the
 * caller decides), or RKV_EUNAVAIL with err saying why no answer came
 * (refused, closed, timed out, too large). Runs the event loop of base. */
int bench_nodes_get(struct event_base *base, const struct bench_node *node,
                    const char *path, unsigned timeout_ms, size_t max_body,
                    struct evbuffer *body, int *status, char *err,
                    size_t errlen);

#endif
