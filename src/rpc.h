/* rpc.h -- internode transport: framed, multiplexed requests over TCP.
 *
 * One persistent TCP connection per peer address, on libevent
 * bufferevents. Every frame is
 *
 *   u32 length (big-endian; bytes after this field) | u8 type | u64 id | body
 *
 * and the first frame each side sends is MSG_HELLO (msg.h): cluster name,
 * node id and name, and the schemas of its messages. A connection whose
 * peer names another cluster, sends a frame longer than RPC_MAX_FRAME, of a
 * type we do not know, an undecodable HELLO, or anything before its HELLO
 * is closed with one log line; every other connection keeps going.
 *
 * Many requests share a connection: each carries an id, its reply carries
 * the same id, so replies may come back in any order. Each request has a
 * timeout; a connection that fails fails its pending requests at once
 * (RKV_EUNAVAIL), and is re-dialled on the next request, no sooner than a
 * backoff that doubles per failure (RPC_BACKOFF_MIN_MS..RPC_BACKOFF_MAX_MS);
 * a call made during the backoff fails with RKV_EUNAVAIL on the next loop
 * turn.
 *
 * Connections are one per direction: rpc_call() uses the connection it
 * dialled, requests from a peer arrive on the one the peer dialled, and
 * replies go back on the connection their request came in on. Calling our
 * own address works like calling any peer. Addresses are numeric
 * ("127.0.0.1:8099", "[::1]:8099"); names are not resolved.
 *
 * Lifetimes: bodies passed in are copied before the call returns; bodies
 * passed to callbacks are valid only during the callback. Callbacks never
 * run from inside the call that registered them.
 */
#ifndef RKV_RPC_H
#define RKV_RPC_H

#include "msg.h"

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#define RPC_MAX_FRAME                                                          \
	(16u << 20) /* values are <= 1 MiB by default; room for siblings */
#define RPC_MAX_PENDING 65536 /* requests awaiting a reply, all peers */
#define RPC_MAX_OUTPUT                                                         \
	(64u << 20) /* bytes queued to one peer before refusing */
#define RPC_BACKOFF_MIN_MS     50
#define RPC_BACKOFF_MAX_MS     5000
#define RPC_CONNECT_TIMEOUT_MS 2000

struct rpc;

/* Where to send the reply to a request; a value, safe to keep after the
 * connection is gone (rpc_reply then drops the reply). */
struct rpc_reply_to {
	uint64_t conn_id;
	uint64_t req_id;
	uint8_t type; /* the request's type */
};

/* rpc_request_fn -- a request from a peer. `peer` decodes its body
 * (msg_decode_*(mc, peer, body, len, ...)); `from` names the peer as it
 * said in its HELLO. Answer now or later with rpc_reply(). */
typedef void rpc_request_fn(void *arg, const struct rpc_reply_to *to,
                            const struct msg_peer *peer,
                            const struct msg_hello *from, const void *body,
                            size_t len);

/* rpc_reply_fn -- the answer to rpc_call. status is 0 (body is the reply
 * record, decode with msg_decode_status(mc, peer, type, ...)),
 * RKV_ETIMEDOUT, RKV_EUNAVAIL (could not connect, connection lost, or the
 * peer is in another cluster) or RKV_ESHUTDOWN (rpc_free). */
typedef void rpc_reply_fn(void *arg, int status, const struct msg_peer *peer,
                          const void *body, size_t len);

struct rpc_options {
	const char *cluster_name;
	const char *name;
	const char *listen_addr; /* "host:port"; port 0 picks one */
	uint64_t node_id;
	struct msg_codec *codec; /* must outlive the rpc */
	rpc_request_fn *on_request;
	void *arg;
};

/* rpc_new -- listen and get ready to dial. The bound address goes in
 * bound (>= 64 bytes), and is what HELLO announces. 0, RKV_EINVAL or
 * RKV_EIO (logged). */
int rpc_new(struct rpc **out, struct event_base *base,
            const struct rpc_options *opts, char *bound, size_t boundlen);

/* rpc_free -- close every connection; pending calls get RKV_ESHUTDOWN
 * (their callbacks run inside rpc_free; an rpc_call from one of them gets
 * RKV_EUNAVAIL). NULL is a no-op. Not from inside a callback of this
 * rpc. */
void rpc_free(struct rpc *rpc);

/* rpc_call -- send a request to the peer listening at addr ("host:port"),
 * dialling it if needed. cb runs exactly once. timeout_ms 0 counts as 1.
 * 0, or RKV_EUNAVAIL (too many pending, output queue full) / RKV_EINVAL
 * (addr not a numeric host:port, type not a request type, cb NULL, body
 * longer than a frame holds) / RKV_ENOMEM, in which case cb will not
 * run. */
int rpc_call(struct rpc *rpc, const char *addr, uint8_t type, const void *body,
             size_t len, unsigned timeout_ms, rpc_reply_fn *cb, void *arg);

/* rpc_reply -- answer a request; dropped silently when its connection has
 * closed meanwhile (or, logged, when its output queue is full: the caller
 * times out). body is copied. */
void rpc_reply(struct rpc *rpc, const struct rpc_reply_to *to, const void *body,
               size_t len);

/* rpc_retry_now -- forget the dial backoff of the peer at addr, so the
 * next rpc_call to it dials at once: for a caller that has just heard
 * from that peer (gossip from a node that restarted), which would
 * otherwise see calls to it fail for up to RPC_BACKOFF_MAX_MS more. A
 * no-op for an address never called, or while a connection exists. */
void rpc_retry_now(struct rpc *rpc, const char *addr);

/* Counters since rpc_new; conns_open and pending are current values.
 * conns_refused counts connections closed for breaking the protocol or
 * naming another cluster (and accepts refused over the connection
 * limit). */
struct rpc_stats {
	uint64_t frames_in, frames_out, bytes_in, bytes_out;
	uint64_t conns_open, conns_refused, calls_timed_out;
	uint64_t pending;
};
void rpc_get_stats(const struct rpc *rpc, struct rpc_stats *out);

#endif
