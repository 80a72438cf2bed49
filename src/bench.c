/* bench.c -- ringkv-bench, the load generator: its engine and main.
 *
 * A run is a sequence of phases; each drives every connection until none
 * has anything left to do:
 *
 *   check   GET /ping on every node (2 s); an unreachable node is a usage
 *           error (exit 2), not a benchmark result.
 *   load    PUT records 0..records-1 once each (skipped by --no-load).
 *   stats   GET /stats on every node: the "before" counters.
 *   run     the workload's mix: --warmup seconds unmeasured, then
 *           --duration seconds or --ops operations measured.
 *   stats   the "after" counters; per-node shares are the differences.
 *   verify  (--verify) GET ?r=all of every key with an acknowledged write.
 *
 * Closed loop. A connection has at most one request outstanding and sends
 * the next when the answer arrives (YCSB's client threads; wrk without
 * pipelining), so the offered load adapts to the cluster and a latency is
 * what a waiting client sees. A closed loop under-reports a server stall
 * (Tene's "coordinated omission": the stall also holds back the requests
 * that would have measured it), so read max and p99.9 with that in mind;
 * docs/bench.md says more.
 *
 * One thread, one event loop, no allocation per request. A connection is a
 * non-blocking socket with a read event; a request is one sendmsg of its
 * head and the value, which is a shared filler (with --verify, behind a
 * per-write header), never copied; an answer is parsed in the connection's
 * buffer (bench_http.h says why not evhttp). Timeouts are one sweep over
 * the connections every tenth of --timeout (at most 100 ms), not a timer
 * per request.
 *
 * Causal contexts. An update sends the X-Context last seen for its record,
 * as a Riak client would, so that it supersedes what was seen instead of
 * adding one more sibling; every answer's head refreshes it (bench_ctx.h:
 * a fixed-size direct-mapped table). --blind-updates sends none (YCSB's
 * blind updates, which on a Dynamo store are all concurrent).
 *
 * Connection states (enum conn_state) and their one driver each:
 *
 *   CLOSED --conn_request--> CONNECTING --writable--> SENDING --all sent-->
 *   AWAITING --answer--> IDLE (or CLOSED if the node closes)
 *   --conn_request--> SENDING ...; any failure closes the socket and, after
 *   a connect failure, waits in BACKOFF before the next operation.
 *
 * Verification (--verify). Every written value starts with
 * "<key>:<seq>:<nonce>:" -- seq a 13-digit number given at send time, nonce
 * a random 64-bit number of this run -- so every write is unique and
 * recognisable among siblings. Per key the bench keeps the highest seq of
 * an *acknowledged* write, and at the end requires that write to be
 * present, as the value or a sibling. Why "highest seq", not "last
 * acknowledged": a write supersedes another only through an X-Context
 * that covers it -- the context of an answer (a GET's, or a PUT's 204)
 * from a node that had applied it -- so it was sent, and given its seq,
 * after that other write; the acknowledged write sent last is superseded
 * by no acknowledged write. Blind writes (inserts, --blind-updates)
 * supersede nothing: they become siblings. One case is tolerated when
 * writes carry contexts (updates with a cached context, workload f's
 * read-modify-writes): the key holds a value of this run with a higher
 * seq instead -- a write whose answer was lost (timeout, 503) but which
 * was applied with a context that may cover the checked one. It is
 * counted as "only newer", not as lost. Anything else (404, or neither
 * value) is lost; keys that cannot be read back are unreadable; either
 * makes the exit status 1. The rule assumes this bench is the only writer
 * of its keys (use --key-prefix to keep runs apart).
 */
#include "bench_ctx.h"
#include "bench_dist.h"
#include "bench_http.h"
#include "bench_nodes.h"
#include "bench_opts.h"
#include "bench_report.h"
#include "histogram.h"
#include "logging.h"
#include "status.h"

#include "ring/rng.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BENCH_EXIT_OK          0
#define BENCH_EXIT_LOST        1
#define BENCH_EXIT_USAGE       2
#define BENCH_EXIT_FAILED      3
#define BENCH_EXIT_INTERRUPTED 130 /* the shell's 128 + SIGINT */

#define BENCH_PING_TIMEOUT_MS  2000
#define BENCH_STATS_TIMEOUT_MS 2000
#define BENCH_STATS_MAX_BODY   (1u << 20)
/* The longest X-Context carried from a read-modify-write's GET to its PUT. */
#define BENCH_CONTEXT_MAX 8192
/* "/kv/" + URL-escaped prefix + id + "?r=" quorum */
#define BENCH_TARGET_MAX                                                       \
	(4 + 3 * BENCH_KEY_PREFIX_MAX + 20 + 4 + BENCH_QUORUM_TEXT_MAX)
#define BENCH_REQ_HEAD_MAX                                                     \
	(BENCH_TARGET_MAX + BENCH_NODE_NAME_MAX + BENCH_CONTEXT_MAX + 128)
#define BENCH_KEY_MAX    (BENCH_KEY_PREFIX_MAX + 20)
#define BENCH_SEQ_DIGITS 13
/* key ":" seq ":" 16 hex digits of nonce ":" */
#define BENCH_VERIFY_HEAD_MAX (BENCH_KEY_MAX + BENCH_SEQ_DIGITS + 16 + 3)
/* A connect that failed is retried after this long, not in a busy loop. */
#define BENCH_BACKOFF_MS 100
/* Inserts issued beyond the oldest unfinished one, at most (see
 * insert_finish); a multiple of 64. */
#define BENCH_INSERT_WINDOW 8192
/* Records plus inserts: the per-key arrays stop growing here. */
#define BENCH_MAX_KEYS       (2 * BENCH_MAX_RECORDS)
#define BENCH_LOG_ERRORS_MAX 10
#define BENCH_LOST_SHOWN     10
/* Descriptors beyond one per connection: stdio, the event loop, the
 * control-plane requests. */
#define BENCH_SPARE_FDS 64

enum bench_phase {
	BENCH_PHASE_LOAD,   /* each record written once */
	BENCH_PHASE_RUN,    /* the workload mix, warmup then measured */
	BENCH_PHASE_VERIFY, /* read back of acknowledged writes */
};

enum conn_state {
	CONN_CLOSED,     /* no socket; the next request connects first */
	CONN_CONNECTING, /* non-blocking connect pending; waits for writable */
	CONN_IDLE,       /* connected, nothing outstanding */
	CONN_SENDING,    /* request partly written; waits for writable */
	CONN_AWAITING,   /* request written; reading the answer */
	CONN_BACKOFF,    /* the last connect failed; a timer goes on */
};

/* How an operation ended (bench_report.h has the counting rules). */
enum bench_outcome {
	OUTCOME_OK,
	OUTCOME_SIBLINGS,
	OUTCOME_NOT_FOUND,
	OUTCOME_STATUS, /* an error status */
	OUTCOME_TIMEOUT,
	OUTCOME_NET,
};

struct bench;

struct bench_conn {
	struct bench *b;
	const struct bench_node *node;
	enum conn_state state;
	int fd;
	struct event *rev;  /* EV_READ | EV_PERSIST while a socket is open */
	struct event *wev;  /* EV_WRITE, added while connecting or sending */
	struct event *next; /* timer: the next operation after a failure */

	/* the operation in flight */
	bool busy;
	enum bench_op op;
	bool rmw_write;                 /* in a read-modify-write's PUT */
	enum bench_outcome rmw_outcome; /* of its GET */
	bool measured;
	uint64_t id;
	uint64_t seq; /* of the write in flight */
	uint64_t op_start_ns, req_start_ns;

	/* the request: its head, then the value -- with --verify, this
	 * write's own "<key>:<seq>:<nonce>:" and the rest of the shared
	 * filler -- written by one sendmsg, so a value is never copied */
	char head[BENCH_REQ_HEAD_MAX];
	char vhead[BENCH_VERIFY_HEAD_MAX];
	struct iovec part[3]; /* head, verify header, filler */
	size_t total, sent;
	char ctx[BENCH_CONTEXT_MAX];
	size_t ctx_len;

	/* the answer */
	char *in;
	size_t in_len, in_cap;
	bool head_done;
	bool keep_body; /* verify reads keep it; others count and drop it */
	struct bench_http_resp resp;
	size_t resp_head_len;
	uint64_t body_left; /* dropping a body of known length */
};

struct bench {
	struct bench_opts *o;
	struct event_base *base;
	struct bench_node nodes[BENCH_NODES_MAX];
	size_t nnodes;
	struct bench_conn *conns;
	size_t nconns;
	struct rng rng;
	struct bench_dist dist;
	struct bench_results res;
	struct event *progress, *sweep, *sigint;
	struct timeval sweep_tv;

	enum bench_phase phase;
	size_t busy;   /* connections with an operation to finish */
	bool stopping; /* issue no new operation */
	bool interrupted;
	bool failed; /* out of memory: the run is abandoned */
	uint64_t phase_start_ns, measure_start_ns, deadline_ns, last_done_ns;
	uint64_t completed; /* operations finished in this phase */
	uint64_t progress_completed, progress_ns;
	uint64_t load_next;
	uint64_t measured_issued;
	uint64_t verify_next, verify_done;
	unsigned errors_logged;

	/* keys 0..nkeys-1: records, then inserts */
	uint64_t nkeys, keys_cap;
	uint32_t *hits;  /* measured operations per key */
	uint64_t *acked; /* --verify: highest acknowledged write seq, 0: none */
	uint64_t insert_done; /* every insert below this id has finished */
	uint64_t insert_window[BENCH_INSERT_WINDOW / 64];
	bool insert_cap_warned;

	/* X-Contexts last seen per record, sent with updates (bench_ctx.h);
	 * use_ctx: the run has updates and not --blind-updates */
	struct bench_ctx ctx;
	bool use_ctx;
	bool writes_carry_ctx; /* use_ctx, or read-modify-writes */

	uint64_t write_seq;
	char nonce_hex[17];
	char *filler; /* value_size bytes: every value, or its tail */
	char path[4 + 3 * BENCH_KEY_PREFIX_MAX + 1]; /* "/kv/" escaped prefix */
	size_t path_len;
	char read_query[8 + BENCH_QUORUM_TEXT_MAX],
	    write_query[8 + BENCH_QUORUM_TEXT_MAX];
	unsigned lost_shown;
};

static void conn_next(struct bench_conn *c);
static void conn_request(struct bench_conn *c);

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double ns_to_s(uint64_t ns)
{
	return (double)ns / 1e9;
}

/* --- keys ------------------------------------------------------------- */

/* prefix + zero-padded id; dst holds BENCH_KEY_MAX bytes. */
static size_t bench_key(const struct bench *b, uint64_t id, char *dst)
{
	size_t n = strlen(b->o->key_prefix);
	memcpy(dst, b->o->key_prefix, n);
	return n + bench_http_u64(dst + n, id, BENCH_KEY_DIGITS);
}

/* Room for ids below need in the per-key arrays; doubling, so a run's
 * inserts reallocate O(log n) times. */
static int keys_reserve(struct bench *b, uint64_t need)
{
	if (need <= b->keys_cap)
		return 0;
	uint64_t cap = b->keys_cap ? b->keys_cap : 1024;
	while (cap < need)
		cap *= 2;
	uint32_t *hits = realloc(b->hits, cap * sizeof(*hits));
	if (hits == NULL)
		return RKV_ENOMEM;
	memset(hits + b->keys_cap, 0, (cap - b->keys_cap) * sizeof(*hits));
	b->hits = hits;
	if (b->o->verify) {
		uint64_t *acked = realloc(b->acked, cap * sizeof(*acked));
		if (acked == NULL)
			return RKV_ENOMEM;
		memset(acked + b->keys_cap, 0,
		       (cap - b->keys_cap) * sizeof(*acked));
		b->acked = acked;
	}
	b->keys_cap = cap;
	return 0;
}

/* An insert finished (any outcome): move the frontier below which every
 * insert is done, and let the choosers see those records. Inserts finish
 * out of order, so a bitmap remembers the ones above the frontier. */
static void insert_finish(struct bench *b, uint64_t id)
{
	uint64_t *w = b->insert_window;
	w[(id % BENCH_INSERT_WINDOW) / 64] |= UINT64_C(1) << (id % 64);
	for (;;) {
		uint64_t slot = b->insert_done % BENCH_INSERT_WINDOW;
		uint64_t bit = UINT64_C(1) << (slot % 64);
		if (!(w[slot / 64] & bit))
			break;
		w[slot / 64] &= ~bit;
		b->insert_done++;
	}
	bench_dist_grow(&b->dist, b->insert_done);
}

/* --- choosing the next operation -------------------------------------- */

/* The run's next operation for c; false when the run is over. */
static bool pick_run(struct bench *b, struct bench_conn *c, uint64_t now)
{
	const struct bench_opts *o = b->o;

	if (b->deadline_ns && now >= b->deadline_ns)
		b->stopping = true;
	c->measured = now >= b->measure_start_ns;
	if (c->measured && o->ops && b->measured_issued >= o->ops)
		b->stopping = true;
	if (b->stopping)
		return false;
	if (o->workload == BENCH_WORKLOAD_PING) {
		c->op = BENCH_OP_PING;
		c->id = 0;
		b->measured_issued += c->measured;
		return true;
	}

	c->op = BENCH_OP_READ;
	if (rng_double(&b->rng) >= o->run_read_ratio) {
		switch (o->write_kind) {
		case BENCH_WRITE_UPDATE: c->op = BENCH_OP_UPDATE; break;
		case BENCH_WRITE_INSERT: c->op = BENCH_OP_INSERT; break;
		case BENCH_WRITE_RMW: c->op = BENCH_OP_RMW; break;
		}
	}
	/* An insert needs room in the per-key arrays and in the window of
	 * unfinished inserts; without it, it waits and this is a read (with
	 * records to read, else the connection pauses until the next one). */
	if (c->op == BENCH_OP_INSERT &&
	    (b->nkeys >= BENCH_MAX_KEYS ||
	     b->nkeys - b->insert_done >= BENCH_INSERT_WINDOW ||
	     keys_reserve(b, b->nkeys + 1) != 0)) {
		if (!b->insert_cap_warned)
			log_warn("inserts paused: %s",
			         b->nkeys >= BENCH_MAX_KEYS
			             ? "the key limit is reached"
			             : "waiting for an old insert or memory");
		b->insert_cap_warned = true;
		if (b->insert_done == 0)
			return false;
		c->op = BENCH_OP_READ;
	}
	c->id = c->op == BENCH_OP_INSERT ? b->nkeys++
	                                 : bench_dist_next(&b->dist, &b->rng);
	if (c->measured) {
		b->measured_issued++;
		if (b->hits[c->id] != UINT32_MAX)
			b->hits[c->id]++;
	}
	return true;
}

/* The next key to read back: one with an acknowledged write. */
static bool pick_verify(struct bench *b, struct bench_conn *c)
{
	while (b->verify_next < b->nkeys && b->acked[b->verify_next] == 0)
		b->verify_next++;
	if (b->stopping || b->verify_next >= b->nkeys)
		return false;
	c->op = BENCH_OP_VERIFY;
	c->id = b->verify_next++;
	c->measured = true;
	return true;
}

static bool bench_pick(struct bench *b, struct bench_conn *c, uint64_t now)
{
	c->rmw_write = false;
	switch (b->phase) {
	case BENCH_PHASE_LOAD:
		if (b->stopping || b->load_next >= b->o->records)
			return false;
		c->op = BENCH_OP_LOAD;
		c->id = b->load_next++;
		c->measured = true;
		return true;
	case BENCH_PHASE_RUN: return pick_run(b, c, now);
	case BENCH_PHASE_VERIFY: return pick_verify(b, c);
	}
	return false;
}

/* --- connections ------------------------------------------------------ */

static void conn_close(struct bench_conn *c)
{
	if (c->rev != NULL)
		event_free(c->rev);
	if (c->wev != NULL)
		event_free(c->wev);
	c->rev = c->wev = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = CONN_CLOSED;
}

/* The connection has nothing more to do in this phase. */
static void conn_park(struct bench_conn *c)
{
	struct bench *b = c->b;
	c->busy = false;
	if (--b->busy == 0)
		event_base_loopbreak(b->base);
}

static void conn_next(struct bench_conn *c)
{
	uint64_t now = now_ns();
	if (!bench_pick(c->b, c, now)) {
		conn_park(c);
		return;
	}
	c->op_start_ns = now;
	conn_request(c);
}

static void conn_on_next(evutil_socket_t fd, short what, void *arg)
{
	struct bench_conn *c = arg;
	(void)fd;
	(void)what;
	if (c->state == CONN_BACKOFF)
		c->state = CONN_CLOSED;
	conn_next(c);
}

static bool op_is_write(const struct bench_conn *c)
{
	return c->op == BENCH_OP_LOAD || c->op == BENCH_OP_UPDATE ||
	       c->op == BENCH_OP_INSERT ||
	       (c->op == BENCH_OP_RMW && c->rmw_write);
}

static void bench_log_error(struct bench *b, const struct bench_conn *c,
                            const char *why)
{
	if (b->errors_logged < BENCH_LOG_ERRORS_MAX)
		log_warn("%s: %s%s", c->node->name, why,
		         b->errors_logged + 1 == BENCH_LOG_ERRORS_MAX
		             ? " (further errors are only counted)"
		             : "");
	b->errors_logged++;
}

/* Is one of this run's values for key, with exactly want_seq (return 0)
 * or only with a higher seq (return 1), in body? -1 when neither. */
static int verify_scan(const struct bench *b, const char *body, size_t len,
                       const char *key, size_t klen, uint64_t want_seq)
{
	/* ":" seq ":" nonce ":" */
	const size_t tail = 1 + BENCH_SEQ_DIGITS + 1 + 16 + 1;
	const char *p = body, *end = body + len;
	int found = -1;

	while ((size_t)(end - p) >= klen + tail) {
		const char *k = memmem(p, (size_t)(end - p), key, klen);
		if (k == NULL || (size_t)(end - k) < klen + tail)
			break;
		p = k + 1;
		const char *s = k + klen;
		if (s[0] != ':' || s[1 + BENCH_SEQ_DIGITS] != ':' ||
		    memcmp(s + 2 + BENCH_SEQ_DIGITS, b->nonce_hex, 16) != 0 ||
		    s[tail - 1] != ':')
			continue;
		uint64_t seq = 0;
		int i = 1;
		for (; i <= BENCH_SEQ_DIGITS && s[i] >= '0' && s[i] <= '9'; i++)
			seq = seq * 10 + (uint64_t)(s[i] - '0');
		if (i <= BENCH_SEQ_DIGITS)
			continue;
		if (seq == want_seq)
			return 0;
		if (seq > want_seq)
			found = 1;
	}
	return found;
}

static void verify_answer(struct bench *b, struct bench_conn *c,
                          enum bench_outcome out)
{
	char key[BENCH_KEY_MAX];
	size_t klen = bench_key(b, c->id, key);
	uint64_t want = b->acked[c->id];
	int found = -1;

	b->verify_done++;
	if (out != OUTCOME_OK && out != OUTCOME_SIBLINGS &&
	    out != OUTCOME_NOT_FOUND) {
		b->res.verify_unreadable++;
		return;
	}
	if (out != OUTCOME_NOT_FOUND)
		found =
		    verify_scan(b, c->in + c->resp_head_len,
		                c->in_len - c->resp_head_len, key, klen, want);
	/* only a write with a context can have superseded the checked one */
	if (found == 1 && !b->writes_carry_ctx)
		found = -1;
	if (found == 1)
		b->res.verify_newer++;
	if (found >= 0)
		return;
	b->res.verify_lost++;
	if (b->lost_shown++ < BENCH_LOST_SHOWN)
		log_error("lost: %.*s: acknowledged write %" PRIu64
		          " is missing (%s)",
		          (int)klen, key, want,
		          out == OUTCOME_NOT_FOUND ? "404"
		                                   : "not among the values");
}

static enum bench_outcome outcome_of(const struct bench_conn *c, int status)
{
	if (op_is_write(c))
		return status >= 200 && status <= 299 ? OUTCOME_OK
		                                      : OUTCOME_STATUS;
	if (c->op == BENCH_OP_PING)
		return status == 200 ? OUTCOME_OK : OUTCOME_STATUS;
	if (status == 200)
		return OUTCOME_OK;
	if (status == 300)
		return OUTCOME_SIBLINGS;
	return status == 404 ? OUTCOME_NOT_FOUND : OUTCOME_STATUS;
}

static void stats_record(struct bench *b, const struct bench_conn *c,
                         enum bench_outcome out, int status, uint64_t now)
{
	struct bench_op_stats *s = &b->res.op[c->op];

	b->completed++;
	if (!c->measured)
		return;
	if (b->phase == BENCH_PHASE_RUN)
		b->last_done_ns = now;
	switch (out) {
	case OUTCOME_OK: s->ok++; break;
	case OUTCOME_SIBLINGS: s->siblings++; break;
	case OUTCOME_NOT_FOUND: s->not_found++; break;
	case OUTCOME_TIMEOUT: s->timeouts++; return;
	case OUTCOME_NET: s->net_errors++; return;
	case OUTCOME_STATUS:
		s->status_errors++;
		if (status >= BENCH_STATUS_MIN &&
		    status < BENCH_STATUS_MIN + BENCH_STATUS_SLOTS)
			s->by_status[status - BENCH_STATUS_MIN]++;
		return;
	}
	histogram_record(&s->latency_us, (now - c->op_start_ns) / 1000);
}

/* An operation ended: count it and apply what it means for the run. */
static void conn_op_end(struct bench_conn *c, enum bench_outcome out,
                        int status)
{
	struct bench *b = c->b;

	if (c->op == BENCH_OP_RMW && c->rmw_write && out == OUTCOME_OK)
		out = c->rmw_outcome;
	stats_record(b, c, out, status, now_ns());
	/* out may be the GET's outcome by now: the PUT's status decides */
	if (b->o->verify && op_is_write(c) && status / 100 == 2 &&
	    c->seq > b->acked[c->id])
		b->acked[c->id] = c->seq;
	if (c->op == BENCH_OP_INSERT)
		insert_finish(b, c->id);
	if (c->op == BENCH_OP_VERIFY)
		verify_answer(b, c, out);
}

/* The request failed without an answer: close, count, and go on through
 * the timer -- so that a run of failures cannot recurse, and, after a
 * refused connect (backoff), is not retried in a busy loop. */
static void conn_fail(struct bench_conn *c, enum bench_outcome out,
                      const char *why, bool backoff)
{
	struct timeval tv = {0, backoff ? BENCH_BACKOFF_MS * 1000 : 0};

	bench_log_error(c->b, c, why);
	conn_close(c);
	conn_op_end(c, out, 0);
	if (backoff)
		c->state = CONN_BACKOFF;
	event_add(c->next, &tv);
}

/* The answer is complete. */
static void conn_answered(struct bench_conn *c)
{
	enum bench_outcome out = outcome_of(c, c->resp.status);

	if (c->resp.close)
		conn_close(c);
	else
		c->state = CONN_IDLE;
	if (c->op == BENCH_OP_RMW && !c->rmw_write && out != OUTCOME_STATUS) {
		/* the GET half is done: now the PUT with its context */
		c->rmw_outcome = out;
		c->rmw_write = true;
		conn_request(c);
		return;
	}
	conn_op_end(c, out, c->resp.status);
	conn_next(c);
}

static int conn_reserve(struct bench_conn *c, size_t need)
{
	if (need <= c->in_cap)
		return 0;
	size_t cap = c->in_cap * 2 > need ? c->in_cap * 2 : need;
	char *in = realloc(c->in, cap);
	if (in == NULL)
		return RKV_ENOMEM;
	c->in = in;
	c->in_cap = cap;
	return 0;
}

/* The head of an answer has arrived: keep what the operation needs from
 * it. false when the connection has been failed. */
static bool conn_on_head(struct bench_conn *c, size_t head_len)
{
	c->head_done = true;
	c->resp_head_len = head_len;
	/* a Riak-style client keeps the context of every answer about a key
	 * (a GET's 200/300/404, a PUT's 204), not of failures */
	if (c->b->use_ctx && c->op != BENCH_OP_VERIFY &&
	    outcome_of(c, c->resp.status) != OUTCOME_STATUS)
		bench_ctx_store(&c->b->ctx, c->id, c->resp.context,
		                c->resp.context_len);
	if (c->op == BENCH_OP_RMW && !c->rmw_write) {
		if (c->resp.context_len > BENCH_CONTEXT_MAX) {
			conn_fail(c, OUTCOME_NET, "X-Context too long", false);
			return false;
		}
		c->ctx_len = c->resp.context_len;
		if (c->ctx_len > 0)
			memcpy(c->ctx, c->resp.context, c->ctx_len);
	}
	if (c->keep_body) {
		if (c->resp.content_length >= 0 &&
		    conn_reserve(c,
		                 head_len + (size_t)c->resp.content_length)) {
			conn_fail(c, OUTCOME_NET, "out of memory", false);
			return false;
		}
		return true;
	}
	/* the rest is only counted */
	c->body_left =
	    c->resp.content_length > 0 ? (uint64_t)c->resp.content_length : 0;
	c->in_len -= head_len;
	memmove(c->in, c->in + head_len, c->in_len);
	return true;
}

/* Make sense of the bytes read so far. */
static void conn_parse(struct bench_conn *c)
{
	const char *why = NULL;

	if (!c->head_done) {
		size_t hl;
		if (bench_http_parse_head(c->in, c->in_len, &c->resp, &hl,
		                          &why) != 0) {
			conn_fail(c, OUTCOME_NET, why, false);
			return;
		}
		if (hl == 0 || !conn_on_head(c, hl))
			return;
	}
	if (c->resp.content_length < 0) {
		/* the body runs to the end of the connection */
		if (!c->keep_body)
			c->in_len = 0;
		return;
	}
	if (c->keep_body) {
		size_t have = c->in_len - c->resp_head_len;
		if (have > (size_t)c->resp.content_length)
			conn_fail(c, OUTCOME_NET, "bytes after the answer",
			          false);
		else if (have == (size_t)c->resp.content_length)
			conn_answered(c);
		return;
	}
	if (c->in_len > c->body_left) {
		conn_fail(c, OUTCOME_NET, "bytes after the answer", false);
		return;
	}
	c->body_left -= c->in_len;
	c->in_len = 0;
	if (c->body_left == 0)
		conn_answered(c);
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct bench_conn *c = arg;
	(void)what;

	if (c->in_len == c->in_cap &&
	    conn_reserve(c, c->in_cap + c->in_cap / 2) != 0) {
		conn_fail(c, OUTCOME_NET, "out of memory", false);
		return;
	}
	ssize_t n = read(fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (c->state == CONN_IDLE) {
		/* a keep-alive connection closed by the node (or talking out
		 * of turn): start afresh with the next request */
		conn_close(c);
		return;
	}
	if (n < 0) {
		conn_fail(c, OUTCOME_NET, strerror(errno), false);
		return;
	}
	if (n == 0) {
		if (c->head_done && c->resp.content_length < 0)
			conn_answered(c);
		else
			conn_fail(c, OUTCOME_NET,
			          "connection closed by the node", false);
		return;
	}
	c->in_len += (size_t)n;
	if (c->in_len > BENCH_HTTP_HEAD_MAX + BENCH_HTTP_BODY_MAX) {
		conn_fail(c, OUTCOME_NET, "answer too large", false);
		return;
	}
	conn_parse(c);
}

/* Write what is left of the request; wait for writable if the socket is
 * full. */
static void conn_write(struct bench_conn *c)
{
	while (c->sent < c->total) {
		struct iovec iov[3];
		struct msghdr msg = {.msg_iov = iov};
		size_t skip = c->sent;
		for (size_t i = 0; i < sizeof(c->part) / sizeof(c->part[0]);
		     i++) {
			if (skip >= c->part[i].iov_len) {
				skip -= c->part[i].iov_len;
				continue;
			}
			iov[msg.msg_iovlen].iov_base =
			    (char *)c->part[i].iov_base + skip;
			iov[msg.msg_iovlen++].iov_len =
			    c->part[i].iov_len - skip;
			skip = 0;
		}
		/* MSG_NOSIGNAL: a node that went away is an error to count,
		 * not a SIGPIPE */
		ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			event_add(c->wev, NULL);
			return;
		}
		if (n < 0) {
			conn_fail(c, OUTCOME_NET, strerror(errno), false);
			return;
		}
		c->sent += (size_t)n;
	}
	c->state = CONN_AWAITING;
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct bench_conn *c = arg;
	(void)what;

	if (c->state == CONN_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err != 0) {
			conn_fail(c, OUTCOME_NET, strerror(err), true);
			return;
		}
		event_add(c->rev, NULL);
		c->state = CONN_SENDING;
	}
	if (c->state == CONN_SENDING)
		conn_write(c);
}

static void conn_connect(struct bench_conn *c)
{
	struct bench *b = c->b;
	const struct sockaddr *sa = (const struct sockaddr *)&c->node->addr;
	int one = 1;

	c->fd = socket(sa->sa_family,
	               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_fail(c, OUTCOME_NET, strerror(errno), true);
		return;
	}
	/* requests are single writes: no reason to wait for more */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->rev =
	    event_new(b->base, c->fd, EV_READ | EV_PERSIST, conn_on_read, c);
	c->wev = event_new(b->base, c->fd, EV_WRITE, conn_on_write, c);
	if (c->rev == NULL || c->wev == NULL) {
		b->failed = b->stopping = true;
		conn_fail(c, OUTCOME_NET, "out of memory", true);
		return;
	}
	c->state = CONN_CONNECTING;
	if (connect(c->fd, sa, c->node->addr_len) == 0) {
		conn_on_write(c->fd, EV_WRITE, c);
		return;
	}
	if (errno != EINPROGRESS) {
		conn_fail(c, OUTCOME_NET, strerror(errno), true);
		return;
	}
	event_add(c->wev, NULL);
}

/* Format the request of the current operation (or half of one) and send
 * it, connecting first if need be. */
static void conn_request(struct bench_conn *c)
{
	struct bench *b = c->b;
	char target[BENCH_TARGET_MAX];
	size_t tlen = b->path_len;
	bool write = op_is_write(c);
	const char *query = c->op == BENCH_OP_VERIFY ? "?r=all"
	                    : write                  ? b->write_query
	                                             : b->read_query;

	if (c->op == BENCH_OP_PING) {
		tlen = strlen("/ping");
		memcpy(target, "/ping", tlen);
	} else {
		memcpy(target, b->path, tlen);
		tlen += bench_http_u64(target + tlen, c->id, BENCH_KEY_DIGITS);
		memcpy(target + tlen, query, strlen(query));
		tlen += strlen(query);
	}

	/* the context sent: the GET's for the PUT of a read-modify-write,
	 * the cached one for an update (NULL: blind) */
	const char *ctx = c->rmw_write ? c->ctx : NULL;
	size_t ctx_len = c->rmw_write ? c->ctx_len : 0;
	if (c->op == BENCH_OP_UPDATE && b->use_ctx) {
		ctx = bench_ctx_find(&b->ctx, c->id, &ctx_len);
		if (c->measured && ctx != NULL)
			b->res.ctx_updates_sent++;
		else if (c->measured)
			b->res.ctx_updates_blind++;
	}

	size_t vhead_len = 0, value_len = write ? b->o->value_size : 0;
	if (write)
		c->seq = ++b->write_seq;
	if (write && b->o->verify) {
		char *v = c->vhead;
		v += bench_key(b, c->id, v);
		*v++ = ':';
		v += bench_http_u64(v, c->seq, BENCH_SEQ_DIGITS);
		*v++ = ':';
		memcpy(v, b->nonce_hex, 16);
		v[16] = ':';
		vhead_len = (size_t)(v + 17 - c->vhead);
	}
	size_t head_len = bench_http_request(
	    c->head, sizeof(c->head), write ? "PUT" : "GET", target, tlen,
	    c->node->name, write ? (int64_t)value_len : -1, ctx, ctx_len);
	c->part[0].iov_base = c->head;
	c->part[0].iov_len = head_len;
	c->part[1].iov_base = c->vhead;
	c->part[1].iov_len = vhead_len;
	c->part[2].iov_base = b->filler + vhead_len;
	c->part[2].iov_len = value_len - vhead_len;
	c->total = head_len + value_len;
	c->sent = 0;
	c->head_done = false;
	c->in_len = 0;
	c->keep_body = c->op == BENCH_OP_VERIFY;
	c->req_start_ns = now_ns();
	if (head_len == 0) { /* c->head is sized so that this cannot be */
		conn_fail(c, OUTCOME_NET, "request head too long", false);
		return;
	}
	if (c->state == CONN_CLOSED) {
		conn_connect(c);
		return;
	}
	c->state = CONN_SENDING;
	conn_write(c);
}

/* --- phases ----------------------------------------------------------- */

static void bench_progress_line(struct bench *b, uint64_t now)
{
	double dt = ns_to_s(now - b->progress_ns);
	double rate =
	    dt > 0 ? (double)(b->completed - b->progress_completed) / dt : 0.0;
	double t = ns_to_s(now - b->phase_start_ns);
	struct bench_op_stats sofar;

	b->progress_ns = now;
	b->progress_completed = b->completed;
	switch (b->phase) {
	case BENCH_PHASE_LOAD:
		fprintf(stderr,
		        "load   %5.0fs %10" PRIu64 "/%" PRIu64
		        " records %10.0f ops/s  errors %" PRIu64 "\n",
		        t, b->completed, b->o->records, rate,
		        bench_op_stats_errors(&b->res.op[BENCH_OP_LOAD]));
		break;
	case BENCH_PHASE_RUN:
		if (now < b->measure_start_ns) {
			fprintf(stderr, "warmup %5.0fs %10.0f ops/s\n", t,
			        rate);
			break;
		}
		bench_report_measured(&b->res, &sofar);
		fprintf(
		    stderr,
		    "run    %5.0fs %10.0f ops/s  p99 %.3f ms  errors %" PRIu64
		    "  timeouts %" PRIu64 "\n",
		    ns_to_s(now - b->measure_start_ns), rate,
		    (double)histogram_percentile(&sofar.latency_us, 99) /
		        1000.0,
		    bench_op_stats_errors(&sofar), sofar.timeouts);
		break;
	case BENCH_PHASE_VERIFY:
		fprintf(stderr,
		        "verify %5.0fs %10" PRIu64
		        " keys read back  lost %" PRIu64 "  unreadable %" PRIu64
		        "\n",
		        t, b->verify_done, b->res.verify_lost,
		        b->res.verify_unreadable);
		break;
	}
}

static void bench_on_progress(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	(void)fd;
	(void)what;
	bench_progress_line(b, now_ns());
}

/* Time out requests; end the run at its deadline even if no answer comes
 * to notice it. */
static void bench_on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	uint64_t now = now_ns();
	uint64_t timeout_ns = b->o->timeout_ms * 1000000u;
	(void)fd;
	(void)what;

	if (b->phase == BENCH_PHASE_RUN && b->deadline_ns &&
	    now >= b->deadline_ns)
		b->stopping = true;
	for (size_t i = 0; i < b->nconns; i++) {
		struct bench_conn *c = &b->conns[i];
		if (!c->busy || now - c->req_start_ns < timeout_ns)
			continue;
		if (c->state == CONN_CONNECTING || c->state == CONN_SENDING ||
		    c->state == CONN_AWAITING)
			conn_fail(c, OUTCOME_TIMEOUT, "timed out", false);
	}
}

static void bench_on_sigint(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	(void)fd;
	(void)what;
	if (b->interrupted) {
		fprintf(stderr, "ringkv-bench: interrupted again, giving up\n");
		exit(BENCH_EXIT_INTERRUPTED);
	}
	fprintf(stderr, "ringkv-bench: interrupted: finishing the requests in "
	                "flight (again to quit at once)\n");
	b->interrupted = b->stopping = true;
}

/* Drive every connection until none has anything left to do. */
static void bench_phase(struct bench *b, enum bench_phase phase)
{
	const struct timeval second = {1, 0};
	uint64_t now = now_ns();

	b->phase = phase;
	b->stopping = b->interrupted;
	b->completed = b->progress_completed = 0;
	b->phase_start_ns = b->progress_ns = now;
	if (phase == BENCH_PHASE_RUN) {
		b->measure_start_ns = now + (uint64_t)(b->o->warmup_s * 1e9);
		b->deadline_ns =
		    b->o->run_duration_s > 0
		        ? b->measure_start_ns +
		              (uint64_t)(b->o->run_duration_s * 1e9)
		        : 0;
		b->last_done_ns = b->measure_start_ns;
	}
	event_add(b->progress, &second);
	event_add(b->sweep, &b->sweep_tv);
	b->busy = b->nconns;
	for (size_t i = 0; i < b->nconns; i++)
		b->conns[i].busy = true;
	for (size_t i = 0; i < b->nconns; i++)
		conn_next(&b->conns[i]);
	if (b->busy > 0)
		event_base_dispatch(b->base);
	event_del(b->progress);
	event_del(b->sweep);
}

/* GET /stats from every node into before or after; a node that does not
 * answer is reported without counters, not an error of the run. */
static void bench_fetch_stats(struct bench *b, bool after)
{
	static char scratch[BENCH_HOT_PARTITIONS_MAX + 1];
	struct evbuffer *body = evbuffer_new();
	char err[BENCH_ERR_MAX];

	if (body == NULL)
		return;
	for (size_t i = 0; i < b->nnodes; i++) {
		struct bench_node_report *n = &b->res.node[i];
		int status = 0;
		evbuffer_drain(body, evbuffer_get_length(body));
		if (bench_nodes_get(b->base, &b->nodes[i], "/stats",
		                    BENCH_STATS_TIMEOUT_MS,
		                    BENCH_STATS_MAX_BODY, body, &status, err,
		                    sizeof(err)) != 0) {
			log_warn("%s", err);
			continue;
		}
		if (status != 200) {
			log_warn("node %s: GET /stats answered %d",
			         b->nodes[i].name, status);
			continue;
		}
		size_t len = evbuffer_get_length(body);
		const char *text = (const char *)evbuffer_pullup(body, -1);
		if (bench_report_node_counters(text ? text : "", text ? len : 0,
		                               after ? &n->after : &n->before,
		                               after ? n->partitions_hot
		                                     : scratch,
		                               sizeof(scratch)) != 0)
			log_warn("node %s: GET /stats is not a JSON object",
			         b->nodes[i].name);
	}
	evbuffer_free(body);
}

/* --- set-up ----------------------------------------------------------- */

/* Every connection is a descriptor, and the default soft limit (often
 * 1024) is below --connections 4096: raise it toward the hard limit, and
 * refuse to start when even that is too low rather than fail connects. */
static int bench_fd_limit(uint64_t connections, char *err, size_t errlen)
{
	rlim_t need = (rlim_t)connections + BENCH_SPARE_FDS;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		snprintf(err, errlen,
		         "--connections %" PRIu64 " needs %llu open files; the "
		         "limit is %llu (ulimit -n)",
		         connections, (unsigned long long)need,
		         (unsigned long long)rl.rlim_max);
		return RKV_EINVAL;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		snprintf(err, errlen,
		         "cannot raise the open-file limit to %llu",
		         (unsigned long long)need);
		return RKV_EINVAL;
	}
	return 0;
}

/* Resolve every node and check it answers GET /ping. */
static int bench_check_nodes(struct bench *b, char *err, size_t errlen)
{
	struct evbuffer *body = evbuffer_new();
	int rc = 0;

	if (body == NULL)
		return RKV_ENOMEM;
	for (size_t i = 0; rc == 0 && i < b->nnodes; i++) {
		struct bench_node *n = &b->nodes[i];
		int status = 0;
		rc = bench_nodes_resolve(n, err, errlen);
		if (rc == 0)
			rc = bench_nodes_get(b->base, n, "/ping",
			                     BENCH_PING_TIMEOUT_MS, 4096, body,
			                     &status, err, errlen);
		if (rc == 0 && status != 200) {
			snprintf(err, errlen, "node %s: GET /ping answered %d",
			         n->name, status);
			rc = RKV_EUNAVAIL;
		}
		evbuffer_drain(body, evbuffer_get_length(body));
	}
	evbuffer_free(body);
	return rc;
}

static int bench_init(struct bench *b, struct bench_opts *o)
{
	const struct bench_opts *co = o;
	struct bench_dist_params dp = {
	    .kind = o->run_distribution,
	    .records = o->records ? o->records : 1,
	    .zipf_theta = o->zipf_theta,
	    .hot_fraction = o->hot_fraction,
	    .hot_ops = o->hot_ops,
	};
	uint64_t timeout_us = o->timeout_ms * 100; /* a tenth */
	uint64_t nonce;

	b->o = o;
	b->res.nodes = b->nodes;
	b->res.nnodes = b->nnodes;
	if (!o->seed_given &&
	    getrandom(&o->seed, sizeof(o->seed), 0) != (ssize_t)sizeof(o->seed))
		o->seed = now_ns();
	b->res.seed = o->seed;
	rng_init(&b->rng, o->seed);
	/* the nonce must differ between runs even with the same seed */
	if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
		nonce = now_ns() ^ (uint64_t)getpid();
	snprintf(b->nonce_hex, sizeof(b->nonce_hex), "%016" PRIx64, nonce);
	if (bench_dist_init(&b->dist, &dp) != 0)
		return RKV_EINVAL;
	for (int i = 0; i < BENCH_OP_COUNT; i++)
		histogram_init(&b->res.op[i].latency_us);

	b->sweep_tv.tv_sec = 0;
	b->sweep_tv.tv_usec = (suseconds_t)(timeout_us < 1000     ? 1000
	                                    : timeout_us > 100000 ? 100000
	                                                          : timeout_us);

	char *escaped = evhttp_encode_uri(co->key_prefix);
	if (escaped == NULL)
		return RKV_ENOMEM;
	b->path_len =
	    (size_t)snprintf(b->path, sizeof(b->path), "/kv/%s", escaped);
	free(escaped);
	if (o->r[0])
		snprintf(b->read_query, sizeof(b->read_query), "?r=%s", o->r);
	if (o->w[0])
		snprintf(b->write_query, sizeof(b->write_query), "?w=%s", o->w);

	/* updates carry the context last seen for their record, unless
	 * --blind-updates; only a run with updates needs the table */
	b->use_ctx = o->workload != BENCH_WORKLOAD_PING &&
	             o->write_kind == BENCH_WRITE_UPDATE &&
	             o->run_read_ratio < 1 && !o->blind_updates;
	b->writes_carry_ctx = b->use_ctx || o->write_kind == BENCH_WRITE_RMW;
	if (b->use_ctx && bench_ctx_init(&b->ctx, o->records) != 0)
		return RKV_ENOMEM;

	b->nkeys = o->records;
	b->insert_done = o->records;
	if (keys_reserve(b, o->records) != 0)
		return RKV_ENOMEM;
	b->filler = malloc(o->value_size);
	if (b->filler == NULL)
		return RKV_ENOMEM;
	/* printable and not compressible to nothing */
	for (uint64_t i = 0; i < o->value_size; i++)
		b->filler[i] = (char)('a' + rng_below(&b->rng, 26));

	b->nconns = o->connections;
	b->conns = calloc(b->nconns, sizeof(*b->conns));
	if (b->conns == NULL)
		return RKV_ENOMEM;
	for (size_t i = 0; i < b->nconns; i++) {
		struct bench_conn *c = &b->conns[i];
		c->b = b;
		c->fd = -1;
		c->node = &b->nodes[i % b->nnodes];
		c->in_cap = BENCH_HTTP_HEAD_MAX;
		c->in = malloc(c->in_cap);
		c->next = evtimer_new(b->base, conn_on_next, c);
		if (c->in == NULL || c->next == NULL)
			return RKV_ENOMEM;
	}
	b->progress = event_new(b->base, -1, EV_PERSIST, bench_on_progress, b);
	b->sweep = event_new(b->base, -1, EV_PERSIST, bench_on_sweep, b);
	b->sigint = evsignal_new(b->base, SIGINT, bench_on_sigint, b);
	if (b->progress == NULL || b->sweep == NULL || b->sigint == NULL)
		return RKV_ENOMEM;
	event_add(b->sigint, NULL);
	return 0;
}

static void bench_deinit(struct bench *b)
{
	for (size_t i = 0; b->conns != NULL && i < b->nconns; i++) {
		struct bench_conn *c = &b->conns[i];
		conn_close(c);
		if (c->next != NULL)
			event_free(c->next);
		free(c->in);
	}
	free(b->conns);
	if (b->progress != NULL)
		event_free(b->progress);
	if (b->sweep != NULL)
		event_free(b->sweep);
	if (b->sigint != NULL)
		event_free(b->sigint);
	bench_ctx_deinit(&b->ctx);
	free(b->filler);
	free(b->hits);
	free(b->acked);
	if (b->base != NULL)
		event_base_free(b->base);
}

/* --- the run ---------------------------------------------------------- */

static void bench_run(struct bench *b)
{
	const struct bench_opts *o = b->o;

	if (!o->no_load && o->records > 0 &&
	    o->workload != BENCH_WORKLOAD_PING) {
		bench_phase(b, BENCH_PHASE_LOAD);
		b->res.load_s = ns_to_s(now_ns() - b->phase_start_ns);
	}
	bench_fetch_stats(b, false);
	bench_phase(b, BENCH_PHASE_RUN);
	if (b->last_done_ns > b->measure_start_ns)
		b->res.measure_s =
		    ns_to_s(b->last_done_ns - b->measure_start_ns);
	bench_fetch_stats(b, true);
	if (o->verify && !b->interrupted && !b->failed) {
		bench_phase(b, BENCH_PHASE_VERIFY);
		b->res.verified = true;
		b->res.verify_s = ns_to_s(now_ns() - b->phase_start_ns);
		/* every key with an acknowledged write was read back */
		b->res.verify_keys = b->verify_done;
	}
	b->res.interrupted = b->interrupted;
	b->res.ctx_cache = b->use_ctx;
	b->res.ctx_slots = b->ctx.nslots;
	b->res.ctx_bytes = bench_ctx_bytes(&b->ctx);
	b->res.ctx_evicted = b->ctx.evicted;
	b->res.ctx_too_long = b->ctx.too_long;
	b->res.keys = b->nkeys;
	for (uint64_t i = 0; i < b->nkeys; i++)
		b->res.keyed_ops += b->hits[i];
	bench_report_hot_share(b->hits, b->nkeys, &b->res.hot_keys,
	                       &b->res.hot_ops);
}

int main(int argc, char **argv)
{
	static struct bench b; /* large (histograms): not on the stack */
	static struct bench_opts o;
	char err[BENCH_ERR_MAX];
	int code = BENCH_EXIT_FAILED;

	if (bench_opts_parse(&o, argc, argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "ringkv-bench: %s\n", err);
		return BENCH_EXIT_USAGE;
	}
	if (o.help) {
		bench_opts_print_help(stdout, "ringkv-bench");
		return BENCH_EXIT_OK;
	}
	/* checked by bench_opts_parse already: cannot fail here */
	if (bench_nodes_parse(o.nodes, b.nodes, BENCH_NODES_MAX, &b.nnodes, err,
	                      sizeof(err)) != 0) {
		fprintf(stderr, "ringkv-bench: %s\n", err);
		return BENCH_EXIT_USAGE;
	}
	if (bench_fd_limit(o.connections, err, sizeof(err)) != 0) {
		fprintf(stderr, "ringkv-bench: %s\n", err);
		return BENCH_EXIT_USAGE;
	}
	log_route_libevent();
	b.base = event_base_new();
	if (b.base == NULL) {
		fprintf(stderr, "ringkv-bench: cannot create an event loop\n");
		return BENCH_EXIT_FAILED;
	}
	if (bench_check_nodes(&b, err, sizeof(err)) != 0) {
		fprintf(stderr, "ringkv-bench: unreachable: %s\n", err);
		code = BENCH_EXIT_USAGE;
		goto fail;
	}
	if (bench_init(&b, &o) != 0) {
		fprintf(stderr,
		        "ringkv-bench: out of memory (--records %" PRIu64
		        ", --connections %" PRIu64 ")\n",
		        o.records, o.connections);
		goto fail;
	}
	bench_run(&b);
	if (b.failed) {
		fprintf(stderr, "ringkv-bench: out of memory during the run\n");
		goto fail;
	}
	bench_report_print(stdout, &o, &b.res);
	fflush(stdout);
	code = b.interrupted ? BENCH_EXIT_INTERRUPTED : BENCH_EXIT_OK;
	if (b.res.verified &&
	    (b.res.verify_lost > 0 || b.res.verify_unreadable > 0)) {
		fprintf(stderr,
		        "ringkv-bench: verify failed: %" PRIu64
		        " lost, %" PRIu64 " unreadable%s\n",
		        b.res.verify_lost, b.res.verify_unreadable,
		        b.res.verify_unreadable
		            ? " (r=all needs every replica of a key: with "
		              "fewer nodes up than n_val it cannot be met)"
		            : "");
		code = BENCH_EXIT_LOST;
	}
fail:
	bench_deinit(&b);
	return code;
}
