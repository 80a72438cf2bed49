/* test_rpc.c -- the internode transport over real loopback sockets.
 *
 * Every test runs two or three struct rpc on one event base in this one
 * process, listening on ports the kernel picks, and drives the loop with
 * run_until(condition, deadline): nothing sleeps a fixed time, and a test
 * that hangs fails at its deadline instead. Hostile peers are plain
 * sockets writing bytes by hand, watched by the same loop until the node
 * closes them, while a well-behaved node keeps calling in the same run.
 *
 * What is checked: many concurrent requests answered out of order; more
 * output than the socket takes at once; a
 * dead address failing fast; a request nobody answers timing out, and its
 * late answer dropped; a peer of another cluster refused, with a log line
 * on the refusing side; malformed, truncated, oversize, unknown-type and
 * pre-HELLO frames closing only their own connection; an acceptor
 * answering with a reply of the wrong type, a reply to no request and a
 * frame too long; reconnection after
 * the peer restarts on the same port; replies to a requester that has
 * gone; calls to our own address; the pending-call limit; rpc_free
 * failing what is pending.
 */
#include "logging.h"
#include "msg.h"
#include "rpc.h"
#include "status.h"

#include <event2/event.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#define DEADLINE_MS 5000
#define MANY        200
/* Calls of MSG_MAX_KEY-byte keys: 16 MiB, more than a loopback socket
 * takes at once. */
#define BIG_CALLS 256
#define MAX_HELD  256

/* --- fixture: one event base, one codec ----------------------------------- */

struct fx {
	struct event_base *base;
	struct msg_codec *mc;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	fx->base = event_base_new();
	fx->mc = msg_codec_new();
	*state = fx;
	return fx->base != NULL && fx->mc != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	msg_codec_free(fx->mc);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

static uint64_t now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

typedef bool cond_fn(void *arg);

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
}

/* Run the loop until cond holds or timeout_ms passes: true if it held. */
static bool run_until(struct fx *fx, cond_fn *cond, void *arg,
                      unsigned timeout_ms)
{
	bool expired = false;
	struct event *deadline = evtimer_new(fx->base, deadline_cb, &expired);
	struct timeval tv = {.tv_sec = timeout_ms / 1000,
	                     .tv_usec = (timeout_ms % 1000) * 1000};

	assert_non_null(deadline);
	evtimer_add(deadline, &tv);
	while (!cond(arg) && !expired)
		event_base_loop(fx->base, EVLOOP_ONCE);
	event_free(deadline);
	return cond(arg);
}

/* --- nodes ---------------------------------------------------------------- */

enum node_mode {
	NODE_ECHO,   /* reply at once: needed = the request's partition */
	NODE_HOLD,   /* keep requests; answer all, newest first, at `expect` */
	NODE_IGNORE, /* keep requests, never answer */
};

struct node {
	struct fx *fx;
	struct rpc *rpc;
	char addr[64];
	enum node_mode mode;
	size_t expect;
	size_t requests;
	size_t nheld;
	struct rpc_reply_to held[MAX_HELD];
	uint32_t held_partition[MAX_HELD];
};

static void node_reply(struct node *n, const struct rpc_reply_to *to,
                       uint32_t partition)
{
	struct msg_status st = {.status = 0, .needed = partition};
	uint8_t *body = NULL;
	size_t len = 0;

	assert_int_equal(
	    msg_encode_status(n->fx->mc, to->type, &st, &body, &len), 0);
	rpc_reply(n->rpc, to, body, len);
	free(body);
}

static void node_on_request(void *arg, const struct rpc_reply_to *to,
                            const struct msg_peer *peer,
                            const struct msg_hello *from, const void *body,
                            size_t len)
{
	struct node *n = arg;
	struct msg_fetch f;

	assert_int_equal(to->type, MSG_FETCH);
	assert_string_equal(from->cluster_name, "ringkv");
	assert_int_equal(msg_decode_fetch(n->fx->mc, peer, body, len, &f), 0);
	n->requests++;
	if (n->mode == NODE_ECHO) {
		node_reply(n, to, f.partition);
		return;
	}
	assert_true(n->nheld < MAX_HELD);
	n->held[n->nheld] = *to;
	n->held_partition[n->nheld++] = f.partition;
	if (n->mode != NODE_HOLD || n->nheld < n->expect)
		return;
	/* Out of order: newest first. */
	while (n->nheld > 0) {
		n->nheld--;
		node_reply(n, &n->held[n->nheld], n->held_partition[n->nheld]);
	}
}

static void node_start_at(struct fx *fx, struct node *n, const char *cluster,
                          const char *listen, enum node_mode mode)
{
	struct rpc_options o = {
	    .cluster_name = cluster,
	    .name = "test-node",
	    .listen_addr = listen,
	    .node_id = 42,
	    .codec = fx->mc,
	    .on_request = node_on_request,
	    .arg = n,
	};

	memset(n, 0, sizeof(*n));
	n->fx = fx;
	n->mode = mode;
	assert_int_equal(
	    rpc_new(&n->rpc, fx->base, &o, n->addr, sizeof(n->addr)), 0);
	assert_true(strncmp(n->addr, "127.0.0.1:", 10) == 0);
}

static void node_start(struct fx *fx, struct node *n, const char *cluster,
                       enum node_mode mode)
{
	node_start_at(fx, n, cluster, "127.0.0.1:0", mode);
}

static void node_stop(struct node *n)
{
	rpc_free(n->rpc);
	n->rpc = NULL;
}

static struct rpc_stats node_stats(const struct node *n)
{
	struct rpc_stats s;

	rpc_get_stats(n->rpc, &s);
	return s;
}

/* --- calls ---------------------------------------------------------------- */

struct result {
	struct fx *fx;
	int calls; /* callbacks run: must end at exactly 1 */
	int status;
	uint32_t needed;
	uint64_t at_ms;
};

static void result_cb(void *arg, int status, const struct msg_peer *peer,
                      const void *body, size_t len)
{
	struct result *r = arg;
	struct msg_status st;

	r->calls++;
	r->status = status;
	r->at_ms = now_ms();
	if (status != 0)
		return;
	assert_non_null(peer);
	assert_int_equal(
	    msg_decode_status(r->fx->mc, peer, MSG_FETCH, body, len, &st), 0);
	r->needed = st.needed;
	msg_clear_status(&st);
}

static void call_fetch(struct node *from, const char *to, uint32_t partition,
                       unsigned timeout_ms, struct result *r)
{
	struct msg_fetch f = {
	    .partition = partition, .key = (const uint8_t *)"key", .klen = 3};
	uint8_t *body = NULL;
	size_t len = 0;

	r->fx = from->fx;
	assert_int_equal(msg_encode_fetch(from->fx->mc, &f, &body, &len), 0);
	assert_int_equal(rpc_call(from->rpc, to, MSG_FETCH, body, len,
	                          timeout_ms, result_cb, r),
	                 0);
	free(body);
	/* Callbacks never run inside rpc_call. */
	assert_int_equal(r->calls, 0);
}

static bool result_done(void *arg)
{
	return ((struct result *)arg)->calls > 0;
}

struct results {
	struct result *r;
	size_t n;
};

static bool results_done(void *arg)
{
	struct results *rs = arg;

	for (size_t i = 0; i < rs->n; i++) {
		if (rs->r[i].calls == 0)
			return false;
	}
	return true;
}

/* --- tests ---------------------------------------------------------------- */

/* Many requests share one connection, queued before its HELLO is in, and
 * their replies come back newest first: each reaches its own callback. */
static void test_many_out_of_order(void **state)
{
	struct fx *fx = *state;
	struct node s, c;
	struct result r[MANY];
	struct results rs = {.r = r, .n = MANY};

	node_start(fx, &s, "ringkv", NODE_HOLD);
	s.expect = MANY;
	node_start(fx, &c, "ringkv", NODE_ECHO);
	memset(r, 0, sizeof(r));
	for (uint32_t i = 0; i < MANY; i++)
		call_fetch(&c, s.addr, i, DEADLINE_MS, &r[i]);
	assert_true(run_until(fx, results_done, &rs, DEADLINE_MS));
	for (uint32_t i = 0; i < MANY; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].status, 0);
		assert_int_equal(r[i].needed, i);
	}
	/* The last reply was sent first. */
	assert_true(r[MANY - 1].at_ms <= r[0].at_ms);
	assert_int_equal(node_stats(&c).pending, 0);
	assert_int_equal(node_stats(&c).conns_open, 1);
	assert_int_equal(node_stats(&s).frames_in, MANY + 1);
	node_stop(&c);
	node_stop(&s);
}

/* More than the socket takes at once: what it leaves waits in the
 * bufferevent, later frames queue behind it, and every reply comes back
 * on the one connection; calls made once it has drained go out too. */
static void test_output_larger_than_the_socket(void **state)
{
	struct fx *fx = *state;
	struct node s, c;
	struct result *r = calloc(BIG_CALLS + MANY, sizeof(*r));
	struct results rs = {.r = r, .n = BIG_CALLS};
	uint8_t *key = malloc(MSG_MAX_KEY);

	assert_non_null(r);
	assert_non_null(key);
	memset(key, 'k', MSG_MAX_KEY);
	node_start(fx, &s, "ringkv", NODE_ECHO);
	node_start(fx, &c, "ringkv", NODE_ECHO);
	/* The connection first, so that the frames below go out at once. */
	call_fetch(&c, s.addr, 0, DEADLINE_MS, &r[0]);
	assert_true(run_until(fx, result_done, &r[0], DEADLINE_MS));
	for (uint32_t i = 1; i < BIG_CALLS; i++) {
		struct msg_fetch f = {
		    .partition = i, .key = key, .klen = MSG_MAX_KEY};
		uint8_t *body = NULL;
		size_t len = 0;
		r[i].fx = fx;
		assert_int_equal(msg_encode_fetch(fx->mc, &f, &body, &len), 0);
		assert_int_equal(rpc_call(c.rpc, s.addr, MSG_FETCH, body, len,
		                          DEADLINE_MS, result_cb, &r[i]),
		                 0);
		free(body);
	}
	assert_true(run_until(fx, results_done, &rs, DEADLINE_MS));
	for (uint32_t i = BIG_CALLS; i < BIG_CALLS + MANY; i++)
		call_fetch(&c, s.addr, i, DEADLINE_MS, &r[i]);
	rs.n = BIG_CALLS + MANY;
	assert_true(run_until(fx, results_done, &rs, DEADLINE_MS));
	for (uint32_t i = 0; i < BIG_CALLS + MANY; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].status, 0);
		assert_int_equal(r[i].needed, i);
	}
	assert_int_equal(node_stats(&c).conns_open, 1);
	assert_int_equal(node_stats(&s).frames_in, BIG_CALLS + MANY + 1);
	node_stop(&c);
	node_stop(&s);
	free(key);
	free(r);
}

/* A port nobody listens on fails fast, and the next call, during the
 * backoff, fails without dialling. */
static void test_dead_address(void **state)
{
	struct fx *fx = *state;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t slen = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char dead[64];
	struct node c;
	struct result r1 = {0}, r2 = {0};
	uint64_t start = 0;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	close(fd);
	snprintf(dead, sizeof(dead), "127.0.0.1:%u", ntohs(sin.sin_port));

	node_start(fx, &c, "ringkv", NODE_ECHO);
	start = now_ms();
	call_fetch(&c, dead, 1, DEADLINE_MS, &r1);
	assert_true(run_until(fx, result_done, &r1, DEADLINE_MS));
	assert_int_equal(r1.status, RKV_EUNAVAIL);
	assert_true(r1.at_ms - start < 1000);
	call_fetch(&c, dead, 2, DEADLINE_MS, &r2);
	assert_true(run_until(fx, result_done, &r2, DEADLINE_MS));
	assert_int_equal(r2.status, RKV_EUNAVAIL);
	assert_int_equal(node_stats(&c).pending, 0);
	node_stop(&c);
}

static bool frames_in_at_least(void *arg)
{
	struct node *n = arg;

	return node_stats(n).frames_in >= n->expect;
}

/* Nobody answers: the call times out; the answer that comes later finds no
 * call and is dropped. */
static void test_timeout_and_late_reply(void **state)
{
	struct fx *fx = *state;
	struct node s, c;
	struct result r = {0};
	uint64_t start = now_ms();

	node_start(fx, &s, "ringkv", NODE_IGNORE);
	node_start(fx, &c, "ringkv", NODE_ECHO);
	call_fetch(&c, s.addr, 9, 150, &r);
	assert_true(run_until(fx, result_done, &r, DEADLINE_MS));
	assert_int_equal(r.status, RKV_ETIMEDOUT);
	assert_true(r.at_ms - start >= 140);
	assert_int_equal(node_stats(&c).calls_timed_out, 1);
	assert_int_equal(node_stats(&c).pending, 0);

	/* The late answer arrives (HELLO + 1 frame) and is dropped. */
	assert_int_equal(s.nheld, 1);
	node_reply(&s, &s.held[0], 9);
	c.expect = 2;
	assert_true(run_until(fx, frames_in_at_least, &c, DEADLINE_MS));
	assert_int_equal(r.calls, 1);
	assert_int_equal(node_stats(&c).conns_open, 1);
	node_stop(&c);
	node_stop(&s);
}

/* stderr into a file for the duration of one test. */
struct capture {
	int saved;
	FILE *file;
};

static void capture_start(struct capture *cap)
{
	fflush(stderr);
	cap->file = tmpfile();
	assert_non_null(cap->file);
	cap->saved = dup(STDERR_FILENO);
	assert_true(cap->saved >= 0);
	assert_true(dup2(fileno(cap->file), STDERR_FILENO) >= 0);
}

/* Restore stderr, echo what was captured, and say whether it holds s. */
static bool capture_stop(struct capture *cap, const char *s)
{
	char text[8192];
	size_t n = 0;

	fflush(stderr);
	assert_true(dup2(cap->saved, STDERR_FILENO) >= 0);
	close(cap->saved);
	rewind(cap->file);
	n = fread(text, 1, sizeof(text) - 1, cap->file);
	text[n] = '\0';
	fclose(cap->file);
	fputs(text, stderr);
	return strstr(text, s) != NULL;
}

static bool refused_once(void *arg)
{
	return node_stats(arg).conns_refused >= 1;
}

/* A node of another cluster is refused: the caller sees EUNAVAIL, the
 * refusing node logs why. */
static void test_other_cluster(void **state)
{
	struct fx *fx = *state;
	struct node s, c;
	struct result r = {0};
	struct capture cap;

	node_start(fx, &s, "other", NODE_ECHO);
	node_start(fx, &c, "ringkv", NODE_ECHO);
	capture_start(&cap);
	call_fetch(&c, s.addr, 1, DEADLINE_MS, &r);
	bool done = run_until(fx, result_done, &r, DEADLINE_MS) &&
	            run_until(fx, refused_once, &s, DEADLINE_MS);
	assert_true(
	    capture_stop(&cap, "is in cluster \"ringkv\", not \"other\""));
	assert_true(done);
	assert_int_equal(r.status, RKV_EUNAVAIL);
	assert_int_equal(node_stats(&s).conns_refused, 1);
	assert_int_equal(s.requests, 0);
	node_stop(&c);
	node_stop(&s);
}

/* --- hostile raw sockets -------------------------------------------------- */

struct raw {
	int fd;
	bool closed;
	struct event *ev;
	const char *what;
};

static void raw_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct raw *raw = arg;
	char buf[4096];
	ssize_t n = 0;

	(void)what;
	/* Whatever the node says (its HELLO) is read and dropped; EOF or a
	 * reset is the node closing us. */
	n = recv(fd, buf, sizeof(buf), 0);
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return;
	raw->closed = true;
	event_del(raw->ev);
}

static void raw_open(struct fx *fx, struct raw *raw, const char *addr,
                     const char *what)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	const char *colon = strrchr(addr, ':');

	raw->what = what;
	raw->closed = false;
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	raw->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(raw->fd >= 0);
	/* Loopback connects complete in the kernel's backlog, before the
	 * node's loop accepts. */
	assert_int_equal(connect(raw->fd, (struct sockaddr *)&sin, sizeof(sin)),
	                 0);
	raw->ev = event_new(fx->base, raw->fd, EV_READ | EV_PERSIST,
	                    raw_read_cb, raw);
	assert_non_null(raw->ev);
	event_add(raw->ev, NULL);
}

static void raw_send(struct raw *raw, const void *buf, size_t len)
{
	assert_int_equal(send(raw->fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void raw_frame(struct raw *raw, uint32_t flen, uint8_t type,
                      const void *body, size_t blen)
{
	uint8_t hdr[13] = {(uint8_t)(flen >> 24), (uint8_t)(flen >> 16),
	                   (uint8_t)(flen >> 8), (uint8_t)flen, type};

	hdr[12] = 7; /* request id 7 */
	raw_send(raw, hdr, sizeof(hdr));
	if (blen > 0)
		raw_send(raw, body, blen);
}

static void raw_close(struct raw *raw)
{
	event_free(raw->ev);
	close(raw->fd);
}

enum {
	RAW_GARBAGE,
	RAW_OVERSIZE,
	RAW_SHORT,
	RAW_PRE_HELLO,
	RAW_BAD_HELLO,
	RAW_UNKNOWN_TYPE,
	RAW_HELLO_REPLY,
	RAW_TRUNCATED,
	RAW_OTHER_CLUSTER,
	RAW_COUNT
};

struct hostile {
	struct raw raw[RAW_COUNT];
	struct result good;
};

static bool hostile_done(void *arg)
{
	struct hostile *h = arg;

	for (int i = 0; i < RAW_COUNT; i++) {
		if (!h->raw[i].closed)
			return false;
	}
	return h->good.calls > 0;
}

static void hello_body(struct fx *fx, const char *cluster, uint8_t **body,
                       size_t *len)
{
	struct msg_hello h;

	memset(&h, 0, sizeof(h));
	strcpy(h.cluster_name, cluster);
	strcpy(h.name, "raw");
	strcpy(h.rpc_addr, "127.0.0.1:1");
	assert_int_equal(msg_encode_hello(fx->mc, &h, body, len), 0);
}

/* Each of these connections gets closed; a well-behaved node calling in
 * the same run is served throughout, and after. */
static void test_hostile_frames(void **state)
{
	struct fx *fx = *state;
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t fetch[] = {0x0a, 0x04, 'a', 'b'};
	struct hostile h;
	struct node s, c;
	struct result again = {0};
	uint8_t *hello = NULL, *other = NULL;
	size_t hlen = 0, olen = 0;
	struct raw *raw = h.raw;

	memset(&h, 0, sizeof(h));
	node_start(fx, &s, "ringkv", NODE_ECHO);
	node_start(fx, &c, "ringkv", NODE_ECHO);
	hello_body(fx, "ringkv", &hello, &hlen);
	hello_body(fx, "elsewhere", &other, &olen);

	raw_open(fx, &raw[RAW_GARBAGE], s.addr, "garbage");
	raw_send(&raw[RAW_GARBAGE], http, sizeof(http) - 1);
	raw_open(fx, &raw[RAW_OVERSIZE], s.addr, "oversize");
	raw_frame(&raw[RAW_OVERSIZE], RPC_MAX_FRAME + 1, MSG_HELLO, NULL, 0);
	raw_open(fx, &raw[RAW_SHORT], s.addr, "shorter than a header");
	raw_frame(&raw[RAW_SHORT], 3, MSG_HELLO, NULL, 0);
	raw_open(fx, &raw[RAW_PRE_HELLO], s.addr, "request before HELLO");
	raw_frame(&raw[RAW_PRE_HELLO], 9 + sizeof(fetch), MSG_FETCH, fetch,
	          sizeof(fetch));
	raw_open(fx, &raw[RAW_BAD_HELLO], s.addr, "undecodable HELLO");
	raw_frame(&raw[RAW_BAD_HELLO], 9 + 3, MSG_HELLO, "xyz", 3);
	raw_open(fx, &raw[RAW_UNKNOWN_TYPE], s.addr, "unknown type");
	raw_frame(&raw[RAW_UNKNOWN_TYPE], (uint32_t)(9 + hlen), MSG_HELLO,
	          hello, hlen);
	raw_frame(&raw[RAW_UNKNOWN_TYPE], 9, 0x55, NULL, 0);
	raw_open(fx, &raw[RAW_HELLO_REPLY], s.addr, "reply to a HELLO");
	raw_frame(&raw[RAW_HELLO_REPLY], (uint32_t)(9 + hlen), MSG_HELLO, hello,
	          hlen);
	raw_frame(&raw[RAW_HELLO_REPLY], 9, MSG_HELLO | MSG_REPLY_BIT, NULL, 0);
	raw_open(fx, &raw[RAW_TRUNCATED], s.addr, "truncated frame");
	raw_frame(&raw[RAW_TRUNCATED], 100, MSG_HELLO, "0123456789", 10);
	shutdown(raw[RAW_TRUNCATED].fd, SHUT_WR);
	raw_open(fx, &raw[RAW_OTHER_CLUSTER], s.addr, "other cluster");
	raw_frame(&raw[RAW_OTHER_CLUSTER], (uint32_t)(9 + olen), MSG_HELLO,
	          other, olen);

	call_fetch(&c, s.addr, 77, DEADLINE_MS, &h.good);
	assert_true(run_until(fx, hostile_done, &h, DEADLINE_MS));
	for (int i = 0; i < RAW_COUNT; i++) {
		if (!raw[i].closed)
			fail_msg("still open: %s", raw[i].what);
	}
	assert_int_equal(h.good.status, 0);
	assert_int_equal(h.good.needed, 77);
	/* Every hostile connection but the truncated one (which ended in a
	 * plain EOF) broke the protocol. */
	assert_int_equal(node_stats(&s).conns_refused, RAW_COUNT - 1);
	call_fetch(&c, s.addr, 78, DEADLINE_MS, &again);
	assert_true(run_until(fx, result_done, &again, DEADLINE_MS));
	assert_int_equal(again.status, 0);
	assert_int_equal(node_stats(&s).conns_open, 1);

	for (int i = 0; i < RAW_COUNT; i++)
		raw_close(&raw[i]);
	free(hello);
	free(other);
	node_stop(&c);
	node_stop(&s);
}

/* A hostile acceptor: answers HELLO, then a reply of the wrong type, a
 * reply to no request, and a frame too long. */
struct fake_peer {
	struct fx *fx;
	int lfd, fd;
	struct event *ev;
	uint8_t in[65536]; /* our HELLO (every schema) and a request */
	size_t nin;
	bool helloed;
	bool answered;
};

static void fake_send_frame(int fd, uint32_t flen, uint8_t type, uint64_t id,
                            const void *body, size_t blen)
{
	uint8_t hdr[13] = {(uint8_t)(flen >> 24), (uint8_t)(flen >> 16),
	                   (uint8_t)(flen >> 8), (uint8_t)flen, type};

	for (int i = 0; i < 8; i++)
		hdr[5 + i] = (uint8_t)(id >> (56 - 8 * i));
	assert_int_equal(send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL),
	                 (ssize_t)sizeof(hdr));
	if (blen > 0)
		assert_int_equal(send(fd, body, blen, MSG_NOSIGNAL),
		                 (ssize_t)blen);
}

/* The id of the second frame in buf (the first is the HELLO), or 0. */
static uint64_t fake_request_id(const uint8_t *buf, size_t n)
{
	size_t first = 0;
	uint64_t id = 0;

	if (n < 4)
		return 0;
	first = 4 + ((size_t)buf[0] << 24 | (size_t)buf[1] << 16 |
	             (size_t)buf[2] << 8 | buf[3]);
	if (n < first + 13)
		return 0;
	for (int i = 0; i < 8; i++)
		id = id << 8 | buf[first + 5 + i];
	return id;
}

static void fake_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fake_peer *fp = arg;
	uint8_t *hello = NULL;
	size_t hlen = 0;
	uint64_t id = 0;
	ssize_t n = 0;

	(void)what;
	n = recv(fd, fp->in + fp->nin, sizeof(fp->in) - fp->nin, 0);
	if (n <= 0) {
		event_del(fp->ev);
		return;
	}
	fp->nin += (size_t)n;
	if (!fp->helloed && fp->nin >= 4) {
		/* Our HELLO once theirs is in: their requests wait for it. */
		fp->helloed = true;
		hello_body(fp->fx, "ringkv", &hello, &hlen);
		fake_send_frame(fd, (uint32_t)(9 + hlen), MSG_HELLO, 0, hello,
		                hlen);
		free(hello);
	}
	id = fake_request_id(fp->in, fp->nin);
	if (id == 0 || fp->answered)
		return;
	fp->answered = true;
	fake_send_frame(fd, 9, MSG_REPLICATE | MSG_REPLY_BIT, id, NULL, 0);
	fake_send_frame(fd, 9, MSG_FETCH | MSG_REPLY_BIT, id + 1000, NULL, 0);
	fake_send_frame(fd, RPC_MAX_FRAME + 1, MSG_FETCH | MSG_REPLY_BIT, id,
	                NULL, 0);
}

static void fake_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct fake_peer *fp = arg;

	(void)what;
	fp->fd = accept(lfd, NULL, NULL);
	assert_true(fp->fd >= 0);
	event_free(fp->ev);
	fp->ev = event_new(fp->fx->base, fp->fd, EV_READ | EV_PERSIST,
	                   fake_read_cb, fp);
	event_add(fp->ev, NULL);
}

static void test_hostile_acceptor(void **state)
{
	struct fx *fx = *state;
	struct fake_peer fp = {.fx = fx, .fd = -1};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t slen = sizeof(sin);
	char addr[64];
	struct node c;
	struct result r = {0};

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fp.lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fp.lfd >= 0);
	assert_int_equal(bind(fp.lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fp.lfd, 4), 0);
	assert_int_equal(getsockname(fp.lfd, (struct sockaddr *)&sin, &slen),
	                 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sin.sin_port));
	fp.ev = event_new(fx->base, fp.lfd, EV_READ, fake_accept_cb, &fp);
	event_add(fp.ev, NULL);

	node_start(fx, &c, "ringkv", NODE_ECHO);
	call_fetch(&c, addr, 1, DEADLINE_MS, &r);
	assert_true(run_until(fx, result_done, &r, DEADLINE_MS));
	/* Neither bad reply completed the call; the long frame closed the
	 * connection, which failed it. */
	assert_true(fp.answered);
	assert_int_equal(r.status, RKV_EUNAVAIL);
	assert_int_equal(node_stats(&c).conns_refused, 1);
	assert_int_equal(node_stats(&c).conns_open, 0);
	node_stop(&c);
	event_free(fp.ev);
	close(fp.fd);
	close(fp.lfd);
}

/* --- restart, late replies, self, limits ---------------------------------- */

struct retry {
	struct node *from;
	const char *to;
	struct result r;
	int attempts;
	int unavailable;
	bool ok;
	struct event *timer;
};

static void retry_cb(void *arg, int status, const struct msg_peer *peer,
                     const void *body, size_t len);

static void retry_now(evutil_socket_t fd, short what, void *arg)
{
	struct retry *rt = arg;

	(void)fd;
	(void)what;
	memset(&rt->r, 0, sizeof(rt->r));
	rt->attempts++;
	struct msg_fetch f = {.partition = 5, .key = NULL, .klen = 0};
	uint8_t *body = NULL;
	size_t len = 0;
	assert_int_equal(msg_encode_fetch(rt->from->fx->mc, &f, &body, &len),
	                 0);
	rt->r.fx = rt->from->fx;
	assert_int_equal(rpc_call(rt->from->rpc, rt->to, MSG_FETCH, body, len,
	                          1000, retry_cb, rt),
	                 0);
	free(body);
}

static void retry_cb(void *arg, int status, const struct msg_peer *peer,
                     const void *body, size_t len)
{
	struct retry *rt = arg;
	struct timeval soon = {0, 20 * 1000};

	result_cb(&rt->r, status, peer, body, len);
	if (status == 0) {
		rt->ok = true;
		return;
	}
	assert_int_equal(status, RKV_EUNAVAIL);
	rt->unavailable++;
	evtimer_add(rt->timer, &soon);
}

static bool retry_ok(void *arg)
{
	return ((struct retry *)arg)->ok;
}

/* The peer goes away and comes back on the same port: calls fail while it
 * is gone and succeed again after the backoff. */
static void test_reconnect_after_restart(void **state)
{
	struct fx *fx = *state;
	struct node s, c;
	struct result r = {0};
	struct retry rt;
	char addr[64];

	node_start(fx, &s, "ringkv", NODE_ECHO);
	node_start(fx, &c, "ringkv", NODE_ECHO);
	snprintf(addr, sizeof(addr), "%s", s.addr);
	call_fetch(&c, addr, 1, DEADLINE_MS, &r);
	assert_true(run_until(fx, result_done, &r, DEADLINE_MS));
	assert_int_equal(r.status, 0);

	node_stop(&s);
	memset(&rt, 0, sizeof(rt));
	rt.from = &c;
	rt.to = addr;
	rt.timer = evtimer_new(fx->base, retry_now, &rt);
	assert_non_null(rt.timer);
	/* Down: at least one call fails before the node is back. */
	retry_now(-1, 0, &rt);
	while (rt.unavailable == 0)
		assert_true(event_base_loop(fx->base, EVLOOP_ONCE) == 0);
	node_start_at(fx, &s, "ringkv", addr, NODE_ECHO);
	assert_true(run_until(fx, retry_ok, &rt, DEADLINE_MS));
	assert_true(rt.unavailable >= 1);
	assert_int_equal(rt.r.needed, 5);
	event_free(rt.timer);
	node_stop(&c);
	node_stop(&s);
}

static bool no_conns(void *arg)
{
	return node_stats(arg).conns_open == 0;
}

static bool held_one(void *arg)
{
	return ((struct node *)arg)->nheld >= 1;
}

/* The requester goes away before the answer: the answer is dropped. */
static void test_reply_after_requester_left(void **state)
{
	struct fx *fx = *state;
	struct node s, c;
	struct result r = {0};
	struct rpc_reply_to bogus = {
	    .conn_id = 999999, .req_id = 1, .type = MSG_FETCH};
	uint64_t out = 0;

	node_start(fx, &s, "ringkv", NODE_IGNORE);
	node_start(fx, &c, "ringkv", NODE_ECHO);
	call_fetch(&c, s.addr, 3, DEADLINE_MS, &r);
	assert_true(run_until(fx, held_one, &s, DEADLINE_MS));
	node_stop(&c);
	/* rpc_free fails what is pending, from inside rpc_free. */
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, RKV_ESHUTDOWN);
	assert_true(run_until(fx, no_conns, &s, DEADLINE_MS));
	out = node_stats(&s).frames_out;
	node_reply(&s, &s.held[0], 3);
	rpc_reply(s.rpc, &bogus, NULL, 0);
	assert_int_equal(node_stats(&s).frames_out, out);
	node_stop(&s);
}

/* Our own address is a peer like any other. */
static void test_self_call(void **state)
{
	struct fx *fx = *state;
	struct node s;
	struct result r = {0};

	node_start(fx, &s, "ringkv", NODE_ECHO);
	call_fetch(&s, s.addr, 11, DEADLINE_MS, &r);
	assert_true(run_until(fx, result_done, &r, DEADLINE_MS));
	assert_int_equal(r.status, 0);
	assert_int_equal(r.needed, 11);
	assert_int_equal(s.requests, 1);
	assert_int_equal(node_stats(&s).conns_open, 2); /* out and in */
	node_stop(&s);
}

static int counted;

static void count_cb(void *arg, int status, const struct msg_peer *peer,
                     const void *body, size_t len)
{
	(void)arg;
	(void)peer;
	(void)body;
	(void)len;
	assert_int_equal(status, RKV_ESHUTDOWN);
	counted++;
}

/* RPC_MAX_PENDING calls may wait; one more is refused at once; rpc_free
 * answers them all. Bad arguments are refused without a callback. */
static void test_limits_and_arguments(void **state)
{
	struct fx *fx = *state;
	struct node c, s;
	struct rpc *bad = NULL;
	struct rpc_options o = {.cluster_name = "ringkv",
	                        .name = "x",
	                        .listen_addr = "not an address",
	                        .codec = fx->mc};

	node_start(fx, &c, "ringkv", NODE_ECHO);
	node_start(fx, &s, "ringkv", NODE_IGNORE);
	counted = 0;
	for (int i = 0; i < RPC_MAX_PENDING; i++)
		assert_int_equal(rpc_call(c.rpc, s.addr, MSG_FETCH, NULL, 0,
		                          DEADLINE_MS, count_cb, NULL),
		                 0);
	assert_int_equal(rpc_call(c.rpc, s.addr, MSG_FETCH, NULL, 0,
	                          DEADLINE_MS, count_cb, NULL),
	                 RKV_EUNAVAIL);
	assert_int_equal(node_stats(&c).pending, RPC_MAX_PENDING);
	assert_int_equal(counted, 0);
	node_stop(&c);
	assert_int_equal(counted, RPC_MAX_PENDING);

	node_start(fx, &c, "ringkv", NODE_ECHO);
	assert_int_equal(
	    rpc_call(c.rpc, "nowhere", MSG_FETCH, NULL, 0, 100, count_cb, NULL),
	    RKV_EINVAL);
	assert_int_equal(
	    rpc_call(c.rpc, s.addr, MSG_HELLO, NULL, 0, 100, count_cb, NULL),
	    RKV_EINVAL);
	assert_int_equal(
	    rpc_call(c.rpc, s.addr, 0x66, NULL, 0, 100, count_cb, NULL),
	    RKV_EINVAL);
	assert_int_equal(rpc_new(&bad, fx->base, &o, NULL, 0), RKV_EINVAL);
	o.listen_addr = s.addr; /* in use */
	assert_int_equal(rpc_new(&bad, fx->base, &o, NULL, 0), RKV_EIO);
	assert_null(bad);
	assert_int_equal(counted, RPC_MAX_PENDING);
	node_stop(&c);
	node_stop(&s);
	rpc_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_many_out_of_order, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_output_larger_than_the_socket,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dead_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_and_late_reply, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_other_cluster, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_frames, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_acceptor, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_reconnect_after_restart, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_reply_after_requester_left,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_self_call, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits_and_arguments, setup,
	                                    teardown),
	};

	log_route_libevent();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
