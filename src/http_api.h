/* http_api.h -- the client and admin HTTP API on libevent's evhttp.
 *
 * The API is the only module that knows HTTP: it parses and validates a
 * request (path, key, parameters, headers, body size), hands plain values
 * to the layers below and turns their status codes into responses through
 * status.h's one table. Errors always answer a JSON body
 * {"error": "...", ...}; nothing is changed by a request that is refused.
 *
 * Routes: GET|PUT|DELETE /kv/{key} (key = URL-decoded bytes), GET /ping,
 * GET /stats, GET /ring, GET /members, GET /handoff. See
 * docs/http-api.md.
 */
#ifndef RKV_HTTP_API_H
#define RKV_HTTP_API_H

#include "admin.h"
#include "codec.h"
#include "conf.h"
#include "cluster.h"
#include "coord.h"
#include "handoff.h"
#include "rpc.h"
#include "store.h"

#include <event2/event.h>

struct http_api;

/* What the API serves from; everything must outlive the API. Reads and
 * writes go through the coordinator; replica=local reads and /stats go
 * straight to the store. */
struct http_api_deps {
	const struct conf *conf;
	struct store *store;
	struct codec *codec;
	struct coord *coord;
	struct cluster *cluster;
	struct rpc *rpc;
	struct handoff *handoff;
	struct transfer *transfer;
	struct admin *admin;
};

/* http_api_new -- an API on `base`; deps is copied. NULL on ENOMEM. */
struct http_api *http_api_new(struct event_base *base,
                              const struct http_api_deps *deps);

/* http_api_start -- listen on "host:port" (port 0 picks a free one).
 * The bound address is written to bound (at least 64 bytes).
 * 0 or RKV_EINVAL (bad address) or RKV_EIO (bind failed; logged). */
int http_api_start(struct http_api *api, const char *listen, char *bound,
                   size_t boundlen);

/* http_api_stop -- stop accepting connections; requests already received
 * are still answered. `drained` runs once every in-flight request has been
 * answered (at once if none is). */
void http_api_stop(struct http_api *api, void (*drained)(void *arg), void *arg);

/* http_api_free -- close every connection and free; NULL is a no-op. */
void http_api_free(struct http_api *api);

#endif
