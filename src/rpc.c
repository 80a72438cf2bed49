/* rpc.c -- internode transport: framed, multiplexed requests over TCP.
 *
 * Two kinds of connection share one code path. An outbound connection is
 * dialled by rpc_call() to a peer address and carries our requests (and
 * their replies back); an inbound one is accepted by our listener and
 * carries the peer's requests (and our replies). So two nodes calling each
 * other use two TCP connections, one per direction, and neither side ever
 * has to decide which of two crossing dials wins. Calling our own address
 * is just an outbound connection that happens to be accepted here too.
 *
 * Each connection is a state machine, driven by conn_on_event() (socket
 * events) and conn_on_frame() (complete frames):
 *
 *   outbound:  CONNECTING --connected, send HELLO--> HELLO_SENT
 *              HELLO_SENT --their HELLO, flush backlog--> READY
 *   inbound:   HELLO_WAIT --their HELLO, send ours--> READY
 *   any state  --error, EOF, timeout, protocol violation--> CLOSED
 *
 * Requests made before READY wait, already framed, in the connection's
 * backlog evbuffer and go to the socket in one write when the peer's
 * HELLO has arrived. The HELLO is also where a peer of another cluster
 * is refused: the acceptor closes, the dialler sees the close and fails
 * its requests with RKV_EUNAVAIL (it checks the acceptor's HELLO too).
 *
 * Frames. "u32 length | u8 type | u64 id | body", big-endian. The read
 * callback peeks the length (evbuffer_copyout), rejects a length below the
 * 9-byte header or above RPC_MAX_FRAME before any more of the frame is
 * buffered, and otherwise raises the read low-watermark to the frame's end
 * so it is woken once, when the whole frame is there; the high-watermark
 * (one maximal frame) bounds what a peer can make us buffer. The body is
 * then made contiguous with evbuffer_pullup and handed on in place.
 *
 * Writes. Frames go to the connection's backlog first. Once READY, the
 * backlog is written by rpc_flush_cb, an event that the first frame of a
 * loop turn activates and that runs after that turn's callbacks: one
 * writev per connection per turn, with no write interest in epoll. What
 * the socket does not take moves to the bufferevent, whose write event
 * (with its write timeout) finishes it; frames queued meanwhile follow
 * it there, and once it has drained write interest is dropped again
 * (conn_write_cb). Left to the bufferevent, every burst of frames cost
 * two epoll_ctl calls and a loop turn before it left (docs/benchmarks.md,
 * "Internode frames at the end of the turn").
 *
 * Pending calls live in a hash table keyed by request id (ids come from a
 * counter, so a late or forged reply finds nothing and is dropped), each
 * with its own timer, and on a per-connection list so a connection that
 * closes fails exactly its calls. Connections live in a table keyed by a
 * connection id from another counter: struct rpc_reply_to holds that id,
 * not a pointer, so a reply to a connection that has gone finds nothing.
 *
 * A connection that fails before READY (or is lost after) makes its peer
 * wait before the next dial: RPC_BACKOFF_MIN_MS doubling per consecutive
 * failure up to RPC_BACKOFF_MAX_MS; meanwhile calls to it fail at once
 * (on the next loop turn: callbacks never run inside rpc_call). Only the
 * first failure in a row is logged as a warning.
 *
 * Freeing. A connection is closed (state, tables, calls) at once but freed
 * only when nothing up the stack still uses it: conn->hold counts the
 * frames of this file that do (the read loop, a dial in progress).
 */
#include "rpc.h"

#include "byteorder.h"
#include "clock.h"
#include "logging.h"
#include "status.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <xxhash.h>

#define RPC_LEN_BYTES 4
#define RPC_HEADER    13 /* length, type, id */
#define RPC_MIN_FRAME (RPC_HEADER - RPC_LEN_BYTES)
#define RPC_READ_HIGH (RPC_LEN_BYTES + RPC_MAX_FRAME)

#define RPC_MAX_CONNS        1024  /* open connections, both directions */
#define RPC_MAX_PEERS        1024  /* distinct addresses ever called */
#define RPC_MAX_ADDR         255   /* "host:port" text of a peer */
#define RPC_HELLO_TIMEOUT_MS 5000  /* connected, but no HELLO yet */
#define RPC_WRITE_TIMEOUT_MS 10000 /* output queued, peer not reading */
#define RPC_LISTEN_BACKLOG   128

#define RPC_CALL_BITS 14 /* hash buckets: 16384 for <= 65536 calls */
#define RPC_CONN_BITS 10
#define RPC_PEER_BITS 8

/* X(state, name in logs) -- the life of a connection (see the top). */
#define RPC_CONN_STATE_TABLE(X)                                                \
	/* outbound: TCP connect in flight; requests go to the backlog */      \
	X(RPC_CONN_CONNECTING, "connecting")                                   \
	/* outbound: our HELLO is out, theirs not in yet */                    \
	X(RPC_CONN_HELLO_SENT, "waiting for HELLO")                            \
	/* inbound: accepted, their HELLO not in yet; we answer with ours */   \
	X(RPC_CONN_HELLO_WAIT, "waiting for HELLO")                            \
	/* both HELLOs exchanged: requests and replies flow */                 \
	X(RPC_CONN_READY, "ready")                                             \
	/* out of every table; freed once nothing on the stack holds it */     \
	X(RPC_CONN_CLOSED, "closed")

enum rpc_conn_state {
#define RPC_CONN_STATE_ENUM(name, text) name,
	RPC_CONN_STATE_TABLE(RPC_CONN_STATE_ENUM)
#undef RPC_CONN_STATE_ENUM
};

static const char *const rpc_conn_state_names[] = {
#define RPC_CONN_STATE_NAME(name, text) [name] = text,
    RPC_CONN_STATE_TABLE(RPC_CONN_STATE_NAME)
#undef RPC_CONN_STATE_NAME
};

struct rpc_call;

struct rpc_peer {
	char addr[RPC_MAX_ADDR + 1];
	struct sockaddr_storage sa;
	int salen;
	struct rpc_conn *conn; /* the outbound connection, or NULL */
	unsigned failures;     /* in a row; 0 once a HELLO arrived */
	uint64_t retry_ms;     /* no dial before this (monotonic) */
	struct rpc_peer *hnext;
};

struct rpc_conn {
	uint64_t id;
	enum rpc_conn_state state;
	struct rpc *rpc;
	struct rpc_peer *peer; /* outbound: what we dialled; inbound: NULL */
	struct bufferevent *bev;
	struct evbuffer *backlog;      /* frames not handed to bev yet: before
	                                * READY, or until rpc_flush_cb */
	struct msg_peer *mpeer;        /* from their HELLO */
	struct msg_hello hello;        /* theirs */
	char remote[RPC_MAX_ADDR + 1]; /* for logs */
	size_t low_wm;                 /* current read low-watermark */
	unsigned hold;          /* stack frames using the conn: free later */
	struct rpc_call *calls; /* awaiting a reply on this connection */
	struct rpc_conn *hnext;
	bool flushing;               /* on rpc->flush, output to write */
	struct rpc_conn *flush_next; /* rpc->flush */
};

struct rpc_call {
	uint64_t id;
	struct rpc *rpc;
	struct rpc_conn *conn; /* NULL when failing without a connection */
	uint8_t type;          /* the request's: its reply must say the same */
	rpc_reply_fn *cb;
	void *arg;
	int fail_status;     /* set: the timer delivers this, not a timeout */
	struct event *timer; /* in tail[] */
	struct rpc_call *hnext;
	struct rpc_call *prev, *next; /* conn->calls */
	/* The timer, event_assign'ed (libevent tells its size): a call is
	 * one allocation. */
	_Alignas(max_align_t) unsigned char tail[];
};

struct rpc {
	struct event_base *base;
	struct msg_codec *mc;
	rpc_request_fn *on_request;
	void *arg;
	char cluster_name[MSG_MAX_NAME + 1];
	char bound[RPC_MAX_ADDR + 1];
	struct evconnlistener *listener;
	uint8_t *hello; /* our HELLO body, encoded once */
	size_t hello_len;
	struct rpc_call **calls; /* by id */
	struct rpc_conn **conns; /* by connection id */
	struct rpc_peer **peers; /* by address */
	size_t npending, nconns, npeers;
	uint64_t next_call_id, next_conn_id;
	struct rpc_stats stats;
	struct event *flush_ev; /* rpc_flush_cb, active while flush holds any */
	struct rpc_conn *flush; /* READY connections with frames to write */
	bool freeing;
};

/* --- small helpers -------------------------------------------------------- */

static size_t rpc_hash(uint64_t id, unsigned bits)
{
	return (size_t)((id * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - bits));
}

static bool rpc_type_known(uint8_t type)
{
	switch (type) {
#define RPC_TYPE_CASE(name, num, stem) case name:
		MSG_TYPE_TABLE(RPC_TYPE_CASE)
#undef RPC_TYPE_CASE
		return true;
	default: return false;
	}
}

/* A peer-supplied name, safe to print: no control characters. */
static const char *rpc_printable(const char *in, char *out, size_t len)
{
	size_t i = 0;

	for (; in[i] != '\0' && i + 1 < len; i++)
		out[i] =
		    (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? '?' : in[i];
	out[i] = '\0';
	return out;
}

static void rpc_addr_format(const struct sockaddr *sa, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		evutil_inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, len, "%s:%u", host, port);
		return;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		evutil_inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	snprintf(out, len, "[%s]:%u", host, port);
}

static void rpc_socket_tune(evutil_socket_t fd)
{
	int one = 1;

	/* Frames are small and latency-bound; a dead peer without RST is
	 * found by request timeouts first, keepalive eventually. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
}

/* --- tables --------------------------------------------------------------- */

static struct rpc_call **call_slot(struct rpc *rpc, uint64_t id)
{
	struct rpc_call **pp = &rpc->calls[rpc_hash(id, RPC_CALL_BITS)];

	while (*pp != NULL && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return pp;
}

static struct rpc_conn **conn_slot(struct rpc *rpc, uint64_t id)
{
	struct rpc_conn **pp = &rpc->conns[rpc_hash(id, RPC_CONN_BITS)];

	while (*pp != NULL && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return pp;
}

static struct rpc_peer **peer_slot(struct rpc *rpc, const char *addr)
{
	uint64_t h = XXH3_64bits(addr, strlen(addr));
	struct rpc_peer **pp = &rpc->peers[rpc_hash(h, RPC_PEER_BITS)];

	while (*pp != NULL && strcmp((*pp)->addr, addr) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

/* The peer at addr, made on first use. */
static int peer_get(struct rpc *rpc, const char *addr, struct rpc_peer **out)
{
	struct rpc_peer **pp = NULL;
	struct rpc_peer *peer = NULL;

	if (strlen(addr) > RPC_MAX_ADDR)
		return RKV_EINVAL;
	pp = peer_slot(rpc, addr);
	if (*pp != NULL) {
		*out = *pp;
		return 0;
	}
	if (rpc->npeers >= RPC_MAX_PEERS)
		return RKV_EUNAVAIL;
	peer = calloc(1, sizeof(*peer));
	if (peer == NULL)
		return RKV_ENOMEM;
	peer->salen = (int)sizeof(peer->sa);
	if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&peer->sa,
	                               &peer->salen) != 0) {
		free(peer);
		return RKV_EINVAL;
	}
	strcpy(peer->addr, addr);
	*pp = peer;
	rpc->npeers++;
	*out = peer;
	return 0;
}

static void peer_failed(struct rpc_peer *peer)
{
	unsigned shift = peer->failures < 16 ? peer->failures : 16;
	uint64_t wait = (uint64_t)RPC_BACKOFF_MIN_MS << shift;

	if (wait > RPC_BACKOFF_MAX_MS)
		wait = RPC_BACKOFF_MAX_MS;
	if (peer->failures < UINT32_MAX)
		peer->failures++;
	peer->retry_ms = monotonic_ms() + wait;
}

/* --- calls ---------------------------------------------------------------- */

static void call_unlink(struct rpc_call *call)
{
	struct rpc_conn *conn = call->conn;

	if (conn == NULL)
		return;
	if (call->prev != NULL)
		call->prev->next = call->next;
	else
		conn->calls = call->next;
	if (call->next != NULL)
		call->next->prev = call->prev;
	call->conn = NULL;
	call->prev = call->next = NULL;
}

/* Take the call out of everything, free it, then run its callback: the
 * callback may call rpc_call again. */
static void call_finish(struct rpc_call *call, int status,
                        const struct msg_peer *mpeer, const void *body,
                        size_t len)
{
	struct rpc *rpc = call->rpc;
	rpc_reply_fn *cb = call->cb;
	void *arg = call->arg;

	*call_slot(rpc, call->id) = call->hnext;
	rpc->npending--;
	call_unlink(call);
	event_del(call->timer);
	free(call);
	cb(arg, status, mpeer, body, len);
}

static void call_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc_call *call = arg;
	int status = call->fail_status != 0 ? call->fail_status : RKV_ETIMEDOUT;

	(void)fd;
	(void)what;
	if (status == RKV_ETIMEDOUT) {
		call->rpc->stats.calls_timed_out++;
		log_debug("rpc: request %" PRIu64 " timed out", call->id);
	}
	call_finish(call, status, NULL, NULL, 0);
}

/* --- connections ---------------------------------------------------------- */

static void conn_destroy(struct rpc_conn *conn)
{
	if (conn->bev != NULL)
		bufferevent_free(conn->bev);
	if (conn->backlog != NULL)
		evbuffer_free(conn->backlog);
	msg_peer_free(conn->mpeer);
	free(conn);
}

/* Take conn off rpc->flush, if it is there. */
static void conn_unflush(struct rpc_conn *conn)
{
	struct rpc_conn **pp = &conn->rpc->flush;

	if (!conn->flushing)
		return;
	while (*pp != conn)
		pp = &(*pp)->flush_next;
	*pp = conn->flush_next;
	conn->flushing = false;
}

/* Close once, with one log line: out of the tables, calls failed, peer
 * backed off. Freed now, or by the holder that is still using it. */
static void conn_close(struct rpc_conn *conn, enum log_level level,
                       const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void conn_close(struct rpc_conn *conn, enum log_level level,
                       const char *fmt, ...)
{
	struct rpc *rpc = conn->rpc;
	char reason[256];
	va_list ap;

	if (conn->state == RPC_CONN_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_write(level, "rpc: %s %s closed (%s): %s",
	          conn->peer != NULL ? "connection to" : "connection from",
	          conn->remote, rpc_conn_state_names[conn->state], reason);
	conn->state = RPC_CONN_CLOSED;
	conn_unflush(conn);
	*conn_slot(rpc, conn->id) = conn->hnext;
	rpc->nconns--;
	bufferevent_disable(conn->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(conn->bev, NULL, NULL, NULL, NULL);
	if (conn->peer != NULL) {
		conn->peer->conn = NULL;
		peer_failed(conn->peer);
		conn->peer = NULL;
	}
	while (conn->calls != NULL)
		call_finish(conn->calls, RKV_EUNAVAIL, NULL, NULL, 0);
	if (conn->hold == 0)
		conn_destroy(conn);
}

/* A dial failure is worth a warning the first time in a row only. */
static enum log_level conn_fail_level(const struct rpc_conn *conn)
{
	return conn->peer != NULL && conn->peer->failures > 0 ? LOG_DEBUG
	                                                      : LOG_WARN;
}

static size_t conn_queued(const struct rpc_conn *conn)
{
	size_t n = evbuffer_get_length(bufferevent_get_output(conn->bev));

	return n + evbuffer_get_length(conn->backlog);
}

/* Frame a body into out (the backlog, or for our HELLO the bufferevent's
 * output). */
static int conn_send_to(struct rpc_conn *conn, struct evbuffer *out,
                        uint8_t type, uint64_t id, const void *body, size_t len)
{
	uint8_t hdr[RPC_HEADER];

	if (len > RPC_MAX_FRAME - RPC_MIN_FRAME ||
	    conn_queued(conn) + RPC_HEADER + len > RPC_MAX_OUTPUT)
		return RKV_EUNAVAIL;
	byte_put_be32(hdr, (uint32_t)(RPC_MIN_FRAME + len));
	hdr[4] = type;
	byte_put_be64(hdr + 5, id);
	if (evbuffer_expand(out, RPC_HEADER + len) != 0 ||
	    evbuffer_add(out, hdr, RPC_HEADER) != 0 ||
	    (len > 0 && evbuffer_add(out, body, len) != 0))
		return RKV_ENOMEM;
	conn->rpc->stats.frames_out++;
	conn->rpc->stats.bytes_out += RPC_HEADER + len;
	return 0;
}

/* Have a READY connection's backlog written at the end of this loop
 * turn (see the top). */
static void conn_flush_later(struct rpc_conn *conn)
{
	struct rpc *rpc = conn->rpc;

	if (conn->flushing)
		return;
	if (rpc->flush == NULL)
		event_active(rpc->flush_ev, EV_WRITE, 1);
	conn->flushing = true;
	conn->flush_next = rpc->flush;
	rpc->flush = conn;
}

/* Write each queued connection's backlog, as much of it as the socket
 * takes; the bufferevent writes the rest when the socket has room. */
static void rpc_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rpc *rpc = arg;

	(void)fd;
	(void)what;
	while (rpc->flush != NULL) {
		struct rpc_conn *conn = rpc->flush;
		struct evbuffer *out = bufferevent_get_output(conn->bev);

		rpc->flush = conn->flush_next;
		conn->flushing = false;
		/* Behind what the bufferevent is still writing, if anything;
		 * else at once. */
		if (evbuffer_get_length(out) == 0 &&
		    evbuffer_write(conn->backlog,
		                   bufferevent_getfd(conn->bev)) < 0 &&
		    errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			conn_close(conn, LOG_WARN, "writing: %s",
			           evutil_socket_error_to_string(errno));
			continue;
		}
		if (evbuffer_get_length(conn->backlog) == 0)
			continue;
		if (bufferevent_write_buffer(conn->bev, conn->backlog) != 0 ||
		    bufferevent_enable(conn->bev, EV_WRITE) != 0)
			conn_close(conn, LOG_ERROR, "out of memory writing");
	}
}

/* The bufferevent wrote what rpc_flush_cb left: write interest off. */
static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct rpc_conn *conn = arg;

	if (conn->state == RPC_CONN_READY &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
}

/* A request or reply: into the backlog, written at the end of this loop
 * turn once READY. */
static int conn_send(struct rpc_conn *conn, uint8_t type, uint64_t id,
                     const void *body, size_t len)
{
	int rc = conn_send_to(conn, conn->backlog, type, id, body, len);

	if (rc == 0 && conn->state == RPC_CONN_READY)
		conn_flush_later(conn);
	return rc;
}

/* Our HELLO goes straight to the bufferevent, ahead of the backlog. */
static int conn_send_hello(struct rpc_conn *conn)
{
	return conn_send_to(conn, bufferevent_get_output(conn->bev), MSG_HELLO,
	                    0, conn->rpc->hello, conn->rpc->hello_len);
}

static void conn_set_timeouts(struct rpc_conn *conn, unsigned read_ms,
                              unsigned write_ms)
{
	struct timeval rtv = ms_timeval(read_ms), wtv = ms_timeval(write_ms);

	bufferevent_set_timeouts(conn->bev, read_ms > 0 ? &rtv : NULL,
	                         write_ms > 0 ? &wtv : NULL);
}

/* --- the state machine: HELLO --------------------------------------------- */

static void conn_ready(struct rpc_conn *conn)
{
	char name[MSG_MAX_NAME + 1];

	conn->state = RPC_CONN_READY;
	/* Idle is fine on a persistent connection; output that does not
	 * drain is not. From now on the backlog leaves through
	 * rpc_flush_cb, after our HELLO if that is still being written. */
	conn_set_timeouts(conn, 0, RPC_WRITE_TIMEOUT_MS);
	if (evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0)
		bufferevent_disable(conn->bev, EV_WRITE);
	conn_flush_later(conn);
	log_info("rpc: connection %s %s (node %s) ready",
	         conn->peer != NULL ? "to" : "from", conn->remote,
	         rpc_printable(conn->hello.name, name, sizeof(name)));
	if (conn->peer != NULL)
		conn->peer->failures = 0;
}

static void conn_on_hello(struct rpc_conn *conn, const void *body, size_t len)
{
	struct rpc *rpc = conn->rpc;
	char theirs[MSG_MAX_NAME + 1], name[MSG_MAX_NAME + 1];
	int rc =
	    msg_decode_hello(rpc->mc, body, len, &conn->hello, &conn->mpeer);

	if (rc != 0) {
		rpc->stats.conns_refused++;
		conn_close(conn, LOG_WARN, "undecodable HELLO (%s)",
		           rkv_strerror(rc));
		return;
	}
	if (strcmp(conn->hello.cluster_name, rpc->cluster_name) != 0) {
		rpc->stats.conns_refused++;
		conn_close(conn, LOG_WARN,
		           "node %s is in cluster \"%s\", not \"%s\"",
		           rpc_printable(conn->hello.name, name, sizeof(name)),
		           rpc_printable(conn->hello.cluster_name, theirs,
		                         sizeof(theirs)),
		           rpc->cluster_name);
		return;
	}
	if (conn->peer == NULL && conn_send_hello(conn) != 0) {
		conn_close(conn, LOG_ERROR, "cannot queue our HELLO");
		return;
	}
	conn_ready(conn);
}

/* --- the state machine: requests and replies ------------------------------ */

static void conn_on_reply(struct rpc_conn *conn, uint8_t type, uint64_t id,
                          const void *body, size_t len)
{
	struct rpc_call *call = *call_slot(conn->rpc, id);

	/* Timed out already, or not a call made on this connection. */
	if (call == NULL || call->conn != conn) {
		log_debug("rpc: reply %" PRIu64 " from %s matches no request",
		          id, conn->remote);
		return;
	}
	/* Decoding it with the wrong schema would go unnoticed: drop it and
	 * let the call time out. */
	if (type != (call->type | MSG_REPLY_BIT)) {
		log_warn("rpc: reply %" PRIu64 " from %s has type 0x%02x, its "
		         "request 0x%02x; dropped",
		         id, conn->remote, type, call->type);
		return;
	}
	call_finish(call, 0, conn->mpeer, body, len);
}

static void conn_on_request(struct rpc_conn *conn, uint8_t type, uint64_t id,
                            const void *body, size_t len)
{
	struct rpc *rpc = conn->rpc;
	struct rpc_reply_to to = {
	    .conn_id = conn->id, .req_id = id, .type = type};

	if (rpc->on_request == NULL) {
		log_debug("rpc: request from %s ignored: no handler",
		          conn->remote);
		return;
	}
	rpc->on_request(rpc->arg, &to, conn->mpeer, &conn->hello, body, len);
}

/* The driver for frames: what a frame means depends on the state. */
static void conn_on_frame(struct rpc_conn *conn, uint8_t type, uint64_t id,
                          const void *body, size_t len)
{
	uint8_t base = type & (uint8_t)~MSG_REPLY_BIT;

	switch (conn->state) {
	case RPC_CONN_CONNECTING:
	case RPC_CONN_HELLO_SENT:
	case RPC_CONN_HELLO_WAIT:
		if (type == MSG_HELLO) {
			conn_on_hello(conn, body, len);
			return;
		}
		conn->rpc->stats.conns_refused++;
		conn_close(conn, LOG_WARN, "frame type 0x%02x before HELLO",
		           type);
		return;
	case RPC_CONN_READY:
		if (!rpc_type_known(base) || base == MSG_HELLO) {
			conn->rpc->stats.conns_refused++;
			conn_close(conn, LOG_WARN,
			           "unexpected frame type 0x%02x", type);
			return;
		}
		if (type & MSG_REPLY_BIT)
			conn_on_reply(conn, type, id, body, len);
		else
			conn_on_request(conn, type, id, body, len);
		return;
	case RPC_CONN_CLOSED: return;
	}
}

/* --- the state machine: bytes and socket events --------------------------- */

static void conn_want(struct rpc_conn *conn, size_t low)
{
	if (conn->low_wm == low)
		return;
	conn->low_wm = low;
	bufferevent_setwatermark(conn->bev, EV_READ, low, RPC_READ_HIGH);
}

/* Take one whole frame off the input: true when one was handled and the
 * connection is still open. */
static bool conn_read_frame(struct rpc_conn *conn)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	size_t avail = evbuffer_get_length(in);
	uint8_t hdr[RPC_HEADER];
	const uint8_t *body = hdr; /* any non-NULL pointer for empty bodies */
	uint32_t flen = 0;
	size_t blen = 0;

	if (avail < RPC_LEN_BYTES) {
		conn_want(conn, 0);
		return false;
	}
	evbuffer_copyout(in, hdr, RPC_LEN_BYTES);
	flen = byte_get_be32(hdr);
	if (flen < RPC_MIN_FRAME || flen > RPC_MAX_FRAME) {
		conn->rpc->stats.conns_refused++;
		conn_close(conn, LOG_WARN,
		           "frame length %" PRIu32 " outside %u..%u", flen,
		           RPC_MIN_FRAME, RPC_MAX_FRAME);
		return false;
	}
	if (avail < RPC_LEN_BYTES + (size_t)flen) {
		/* Wake up once, when the whole frame is in. */
		conn_want(conn, RPC_LEN_BYTES + (size_t)flen);
		return false;
	}
	evbuffer_remove(in, hdr, RPC_HEADER);
	blen = flen - RPC_MIN_FRAME;
	if (blen > 0)
		body = evbuffer_pullup(in, (ev_ssize_t)blen);
	if (body == NULL) {
		conn_close(conn, LOG_ERROR, "out of memory reading a frame");
		return false;
	}
	conn->rpc->stats.frames_in++;
	conn->rpc->stats.bytes_in += RPC_LEN_BYTES + flen;
	conn_on_frame(conn, hdr[4], byte_get_be64(hdr + 5), body, blen);
	if (conn->state == RPC_CONN_CLOSED)
		return false;
	evbuffer_drain(in, blen);
	return true;
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct rpc_conn *conn = arg;

	(void)bev;
	conn->hold++;
	while (conn_read_frame(conn))
		;
	conn->hold--;
	if (conn->state == RPC_CONN_CLOSED && conn->hold == 0)
		conn_destroy(conn);
}

/* The driver for socket events. */
static void conn_on_event(struct bufferevent *bev, short what, void *arg)
{
	struct rpc_conn *conn = arg;
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		if (conn->state != RPC_CONN_CONNECTING)
			return;
		rpc_socket_tune(bufferevent_getfd(bev));
		conn->state = RPC_CONN_HELLO_SENT;
		conn_set_timeouts(conn, RPC_HELLO_TIMEOUT_MS,
		                  RPC_WRITE_TIMEOUT_MS);
		if (conn_send_hello(conn) != 0)
			conn_close(conn, LOG_ERROR, "cannot queue our HELLO");
		return;
	}
	if (what & BEV_EVENT_EOF)
		conn_close(conn,
		           conn->state == RPC_CONN_READY
		               ? LOG_INFO
		               : conn_fail_level(conn),
		           "closed by peer");
	else if (what & BEV_EVENT_TIMEOUT)
		conn_close(conn, conn_fail_level(conn), "timed out %s",
		           what & BEV_EVENT_READING ? "reading" : "writing");
	else
		conn_close(conn, conn_fail_level(conn), "%s",
		           evutil_socket_error_to_string(err));
}

static struct rpc_conn *conn_new(struct rpc *rpc, struct bufferevent *bev,
                                 struct rpc_peer *peer, const char *remote)
{
	struct rpc_conn *conn = NULL;
	struct rpc_conn **pp = NULL;

	if (rpc->nconns >= RPC_MAX_CONNS) {
		log_warn("rpc: %d connections open; refusing %s", RPC_MAX_CONNS,
		         remote);
		return NULL;
	}
	conn = calloc(1, sizeof(*conn));
	if (conn == NULL)
		return NULL;
	if ((conn->backlog = evbuffer_new()) == NULL) {
		free(conn);
		return NULL;
	}
	conn->id = ++rpc->next_conn_id;
	conn->rpc = rpc;
	conn->peer = peer;
	conn->bev = bev;
	snprintf(conn->remote, sizeof(conn->remote), "%s", remote);
	pp = conn_slot(rpc, conn->id);
	*pp = conn;
	rpc->nconns++;
	conn->low_wm = 1; /* differs from 0: conn_want sets the marks */
	conn_want(conn, 0);
	bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_on_event,
	                  conn);
	return conn;
}

static struct rpc_conn *conn_dial(struct rpc *rpc, struct rpc_peer *peer)
{
	struct bufferevent *bev =
	    bufferevent_socket_new(rpc->base, -1, BEV_OPT_CLOSE_ON_FREE);
	struct rpc_conn *conn = NULL;
	int rc = 0;

	if (bev == NULL)
		goto fail;
	conn = conn_new(rpc, bev, peer, peer->addr);
	if (conn == NULL)
		goto fail;
	conn->state = RPC_CONN_CONNECTING;
	peer->conn = conn;
	conn_set_timeouts(conn, 0, RPC_CONNECT_TIMEOUT_MS);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	/* A connect that fails at once reports through conn_on_event,
	 * from inside this call: hold the conn until it returns. */
	conn->hold++;
	rc = bufferevent_socket_connect(bev, (struct sockaddr *)&peer->sa,
	                                peer->salen);
	conn->hold--;
	if (rc != 0)
		conn_close(conn, conn_fail_level(conn), "cannot connect");
	if (conn->state == RPC_CONN_CLOSED) {
		conn_destroy(conn);
		return NULL;
	}
	return conn;

fail:
	log_error("rpc: cannot set up a connection to %s", peer->addr);
	if (bev != NULL)
		bufferevent_free(bev);
	peer_failed(peer);
	return NULL;
}

static void rpc_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
                          struct sockaddr *sa, int salen, void *arg)
{
	struct rpc *rpc = arg;
	struct bufferevent *bev = NULL;
	struct rpc_conn *conn = NULL;
	char remote[RPC_MAX_ADDR + 1];

	(void)lev;
	(void)salen;
	rpc_addr_format(sa, remote, sizeof(remote));
	bev = bufferevent_socket_new(rpc->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	conn = conn_new(rpc, bev, NULL, remote);
	if (conn == NULL) {
		rpc->stats.conns_refused++;
		bufferevent_free(bev);
		return;
	}
	rpc_socket_tune(fd);
	conn->state = RPC_CONN_HELLO_WAIT;
	conn_set_timeouts(conn, RPC_HELLO_TIMEOUT_MS, RPC_WRITE_TIMEOUT_MS);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void rpc_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	(void)lev;
	(void)arg;
	/* Out of descriptors, typically: the listener keeps going. */
	log_warn("rpc: accept failed: %s", evutil_socket_error_to_string(err));
}

/* --- public --------------------------------------------------------------- */

/* "host:port", where port 0 (let the kernel pick) is allowed, which
 * evutil_parse_sockaddr_port refuses: it reads a missing port as 0. */
static int rpc_parse_listen(const char *text, struct sockaddr_storage *ss,
                            int *len)
{
	char host[RPC_MAX_ADDR + 1];
	size_t n = strlen(text);

	if (n > RPC_MAX_ADDR)
		return -1;
	memcpy(host, text, n + 1);
	if (n > 2 && strcmp(host + n - 2, ":0") == 0)
		host[n - 2] = '\0';
	return evutil_parse_sockaddr_port(host, (struct sockaddr *)ss, len);
}

static int rpc_listen(struct rpc *rpc, const char *listen_addr)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int len = (int)sizeof(ss);

	if (rpc_parse_listen(listen_addr, &ss, &len) != 0) {
		log_error("rpc: cannot parse listen address \"%s\"",
		          listen_addr);
		return RKV_EINVAL;
	}
	rpc->listener = evconnlistener_new_bind(
	    rpc->base, rpc_accept_cb, rpc,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    RPC_LISTEN_BACKLOG, (struct sockaddr *)&ss, len);
	if (rpc->listener == NULL) {
		log_error("rpc: cannot listen on %s: %s", listen_addr,
		          evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return RKV_EIO;
	}
	evconnlistener_set_error_cb(rpc->listener, rpc_accept_error_cb);
	if (getsockname(evconnlistener_get_fd(rpc->listener),
	                (struct sockaddr *)&ss, &sslen) != 0) {
		log_error("rpc: getsockname: %s",
		          evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return RKV_EIO;
	}
	rpc_addr_format((struct sockaddr *)&ss, rpc->bound, sizeof(rpc->bound));
	return 0;
}

static bool rpc_options_ok(const struct rpc_options *o)
{
	return o->cluster_name != NULL && o->name != NULL &&
	       o->listen_addr != NULL && o->codec != NULL &&
	       strlen(o->cluster_name) <= MSG_MAX_NAME &&
	       strlen(o->name) <= MSG_MAX_NAME;
}

int rpc_new(struct rpc **out, struct event_base *base,
            const struct rpc_options *opts, char *bound, size_t boundlen)
{
	struct rpc *rpc = NULL;
	struct msg_hello hello;
	int rc = RKV_EINVAL;

	*out = NULL;
	if (!rpc_options_ok(opts) || base == NULL)
		goto fail;
	rc = RKV_ENOMEM;
	rpc = calloc(1, sizeof(*rpc));
	if (rpc == NULL)
		goto fail;
	rpc->base = base;
	rpc->mc = opts->codec;
	rpc->on_request = opts->on_request;
	rpc->arg = opts->arg;
	strcpy(rpc->cluster_name, opts->cluster_name);
	rpc->calls = calloc((size_t)1 << RPC_CALL_BITS, sizeof(*rpc->calls));
	rpc->conns = calloc((size_t)1 << RPC_CONN_BITS, sizeof(*rpc->conns));
	rpc->peers = calloc((size_t)1 << RPC_PEER_BITS, sizeof(*rpc->peers));
	rpc->flush_ev = event_new(base, -1, 0, rpc_flush_cb, rpc);
	if (rpc->calls == NULL || rpc->conns == NULL || rpc->peers == NULL ||
	    rpc->flush_ev == NULL)
		goto fail;
	rc = rpc_listen(rpc, opts->listen_addr);
	if (rc != 0)
		goto fail;
	memset(&hello, 0, sizeof(hello));
	strcpy(hello.cluster_name, opts->cluster_name);
	strcpy(hello.name, opts->name);
	snprintf(hello.rpc_addr, sizeof(hello.rpc_addr), "%s", rpc->bound);
	hello.node_id = opts->node_id;
	rc = msg_encode_hello(rpc->mc, &hello, &rpc->hello, &rpc->hello_len);
	if (rc != 0)
		goto fail;
	if (bound != NULL && boundlen > 0)
		snprintf(bound, boundlen, "%s", rpc->bound);
	*out = rpc;
	return 0;

fail:
	if (rc == RKV_EINVAL && rpc == NULL)
		log_error("rpc: invalid options");
	rpc_free(rpc);
	return rc;
}

void rpc_free(struct rpc *rpc)
{
	if (rpc == NULL)
		return;
	rpc->freeing = true;
	if (rpc->listener != NULL)
		evconnlistener_free(rpc->listener);
	/* Calls first, so they see ESHUTDOWN rather than their connection's
	 * EUNAVAIL. */
	for (size_t b = 0; rpc->calls != NULL && b < (1u << RPC_CALL_BITS);
	     b++) {
		while (rpc->calls[b] != NULL)
			call_finish(rpc->calls[b], RKV_ESHUTDOWN, NULL, NULL,
			            0);
	}
	for (size_t b = 0; rpc->conns != NULL && b < (1u << RPC_CONN_BITS);
	     b++) {
		while (rpc->conns[b] != NULL)
			conn_close(rpc->conns[b], LOG_DEBUG, "shutting down");
	}
	for (size_t b = 0; rpc->peers != NULL && b < (1u << RPC_PEER_BITS);
	     b++) {
		while (rpc->peers[b] != NULL) {
			struct rpc_peer *next = rpc->peers[b]->hnext;
			free(rpc->peers[b]);
			rpc->peers[b] = next;
		}
	}
	if (rpc->flush_ev != NULL)
		event_free(rpc->flush_ev);
	free(rpc->calls);
	free(rpc->conns);
	free(rpc->peers);
	free(rpc->hello);
	free(rpc);
}

/* Fail a call from the loop, not from inside rpc_call. */
static void call_fail_later(struct rpc_call *call, int status)
{
	struct timeval now = {0, 0};

	call->fail_status = status;
	evtimer_add(call->timer, &now);
}

int rpc_call(struct rpc *rpc, const char *addr, uint8_t type, const void *body,
             size_t len, unsigned timeout_ms, rpc_reply_fn *cb, void *arg)
{
	struct rpc_peer *peer = NULL;
	struct rpc_conn *conn = NULL;
	struct rpc_call *call = NULL;
	struct timeval tv = ms_timeval(timeout_ms > 0 ? timeout_ms : 1);
	int rc = 0;

	if (rpc->freeing || rpc->npending >= RPC_MAX_PENDING)
		return RKV_EUNAVAIL;
	if (!rpc_type_known(type) || type == MSG_HELLO || cb == NULL ||
	    (body == NULL && len > 0) || len > RPC_MAX_FRAME - RPC_MIN_FRAME)
		return RKV_EINVAL;
	rc = peer_get(rpc, addr, &peer);
	if (rc != 0)
		return rc;
	call = calloc(1, sizeof(*call) + event_get_struct_event_size());
	if (call == NULL)
		return RKV_ENOMEM;
	call->id = ++rpc->next_call_id;
	call->rpc = rpc;
	call->type = type;
	call->cb = cb;
	call->arg = arg;
	call->timer = (struct event *)call->tail;
	evtimer_assign(call->timer, rpc->base, call_timer_cb, call);
	conn = peer->conn;
	if (conn == NULL && monotonic_ms() >= peer->retry_ms)
		conn = conn_dial(rpc, peer);
	rc = conn != NULL ? conn_send(conn, type, call->id, body, len) : 0;
	if (rc != 0)
		goto fail;
	*call_slot(rpc, call->id) = call;
	rpc->npending++;
	if (conn == NULL) {
		call_fail_later(call, RKV_EUNAVAIL);
		return 0;
	}
	call->conn = conn;
	call->next = conn->calls;
	if (conn->calls != NULL)
		conn->calls->prev = call;
	conn->calls = call;
	evtimer_add(call->timer, &tv);
	return 0;

fail:
	free(call);
	return rc;
}

void rpc_reply(struct rpc *rpc, const struct rpc_reply_to *to, const void *body,
               size_t len)
{
	struct rpc_conn *conn = *conn_slot(rpc, to->conn_id);
	int rc = 0;

	if (conn == NULL || conn->state != RPC_CONN_READY) {
		log_debug("rpc: reply %" PRIu64 " dropped: its connection "
		          "has closed",
		          to->req_id);
		return;
	}
	rc = conn_send(conn, to->type | MSG_REPLY_BIT, to->req_id, body, len);
	if (rc != 0)
		log_warn("rpc: reply to %s dropped: %s", conn->remote,
		         rkv_strerror(rc));
}

void rpc_retry_now(struct rpc *rpc, const char *addr)
{
	struct rpc_peer *peer = NULL;

	if (strlen(addr) > RPC_MAX_ADDR)
		return;
	peer = *peer_slot(rpc, addr);
	if (peer == NULL || peer->conn != NULL || peer->failures == 0)
		return;
	log_debug("rpc: %s is back; dialling it without waiting", addr);
	peer->failures = 0;
	peer->retry_ms = 0;
}

void rpc_get_stats(const struct rpc *rpc, struct rpc_stats *out)
{
	*out = rpc->stats;
	out->conns_open = rpc->nconns;
	out->pending = rpc->npending;
}
