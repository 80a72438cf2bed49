/* test_handoff.c -- sloppy quorum and hinted handoff, with real ringkvd
 * processes: five founders, n_val 3, gossip every 100 ms.
 *
 * The test reads the ring (GET /ring) and walks it as ring/preflist.c
 * does, so for every key it knows the three primaries and, past them, the
 * owners that stand in as fallbacks. The scenarios, on one cluster:
 *
 *   fallback      a primary of a key is SIGKILLed; a w=3 write succeeds
 *                 through the fallback, which holds a hint for it (GET
 *                 /handoff); once the primary runs again its own copy
 *                 (?replica=local) gets the write and the hint goes;
 *   holder        the fallback holding a hint is killed and restarted
 *                 before the primary returns: the hint is still there,
 *                 and is delivered once the primary is back;
 *   backlog       2,000 keys written while a primary is down: every one
 *                 it is a primary of is in its own copy afterwards, no
 *                 hint is left anywhere, and every acknowledged value is
 *                 read back at r=quorum;
 *   strict        with two primaries of a key down, pw=2 answers 503 and
 *                 writes nothing anywhere, pw above n_val is a 400, a
 *                 sloppy write (pw=1, w=3) succeeds through two fallbacks
 *                 and a read with r=3 finds it there, during the outage;
 *   bad input     MSG_HINT frames sent by hand: one naming another node
 *                 and one for a partition the node does not hold are
 *                 refused; a proper one is stored;
 *   stale hints   hints a coordinator with a stale ring could leave, made
 *                 by hand (MSG_REPLICATE with hint_for): one for a live
 *                 node that is not a primary of the key, one for a name
 *                 the cluster does not know. Both are re-targeted: every
 *                 primary of the key gets it, no hint is left, and the
 *                 node named has no copy;
 *   re-target     a primary is SIGKILLed and keys it is a primary of are
 *                 written, so fallbacks hold hints for it; then it is
 *                 removed (POST /admin/remove, GET /admin/plan, POST
 *                 /admin/commit). No node keeps a hint for it, every
 *                 primary of each key in the new ring has the key in its
 *                 own copy, and every key reads back at r=quorum. It runs
 *                 last: the cluster has four nodes afterwards.
 *
 * Every wait polls (proc_wait_for); the times measured are printed.
 */
#include "dvv.h"
#include "msg.h"
#include "proc.h"
#include "rpc.h"
#include "status.h"
#include "store.h"

#include "ring/hash.h"

#include <event2/event.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define NNODES       5
#define NVAL         3
#define RING_SIZE    64
#define GOSSIP_MS    "100"
#define PHI          "8"
#define T_TIMEOUT_MS 8000
/* Detection takes about 2 s at this gossip interval, 3.7 s at worst (see
 * test_gossip_cluster.c); a restarted node is seen up within a second. */
#define DETECT_MS   8000
#define CONVERGE_MS 10000
#define DELIVER_MS  20000
#define BULK_KEYS   2000
#define MOVED_KEYS  60

static struct proc_node nodes[NNODES];
static char seeds[512];
static int owner[RING_SIZE]; /* node index owning each partition */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void print_logs(void)
{
	for (int i = 0; i < NNODES; i++)
		proc_node_print_log(&nodes[i]);
}

static void wait_or_fail(bool (*cond)(void *), void *arg, int timeout_ms,
                         const char *what)
{
	if (!proc_wait_logged(cond, arg, timeout_ms, what, nodes, NNODES))
		fail();
}

/* --- HTTP ----------------------------------------------------------------- */

/* One request; the status (0 when no answer), the body in *body when
 * asked (malloc'ed). */
static int http(int i, const char *method, const char *path, const char *data,
                char **body)
{
	struct proc_resp r;
	int status = 0;

	if (proc_http(nodes[i].http_port, method, path, NULL, data,
	              data != NULL ? strlen(data) : 0, T_TIMEOUT_MS, &r) == 0)
		status = r.status;
	if (body != NULL) {
		*body = r.body;
		r.body = NULL;
	}
	proc_resp_free(&r);
	return status;
}

static char *get_body(int i, const char *path)
{
	char *body = NULL;

	if (http(i, "GET", path, NULL, &body) != 200) {
		free(body);
		return NULL;
	}
	return body;
}

/* Node i's own copy of key holds exactly want. */
static bool local_is(int i, const char *key, const char *want)
{
	char path[128];
	char *body = NULL;
	bool ok = false;

	snprintf(path, sizeof(path), "/kv/%s?replica=local", key);
	ok = http(i, "GET", path, NULL, &body) == 200 && body != NULL &&
	     strcmp(body, want) == 0;
	free(body);
	return ok;
}

/* A count GET /handoff at node `at` gives for hints for node `of`
 * ("pending", "retargeted"): 0 when `of` is not listed, -1 when `at` does
 * not answer. */
static long target_count(int at, int of, const char *field)
{
	char key[64], name[32];
	char *body = get_body(at, "/handoff");
	const char *p = NULL, *e = NULL, *f = NULL;
	long n = 0;

	if (body == NULL)
		return -1;
	snprintf(key, sizeof(key), "{\"target\":\"127.0.0.1:%d\"",
	         nodes[of].rpc_port);
	snprintf(name, sizeof(name), "\"%s\":", field);
	p = strstr(body, key);
	e = p != NULL ? strchr(p, '}') : NULL;
	f = p != NULL ? strstr(p, name) : NULL;
	if (f != NULL && f < e)
		n = strtol(f + strlen(name), NULL, 10);
	free(body);
	return n;
}

/* Hints node `at` holds for node `of`; -1 when `at` does not answer. */
static long pending_at(int at, int of)
{
	return target_count(at, of, "pending");
}

/* target_count summed over the running nodes. */
static long target_count_all(int of, const char *field)
{
	long sum = 0;

	for (int i = 0; i < NNODES; i++) {
		if (nodes[i].pid != 0)
			sum += target_count(i, of, field);
	}
	return sum;
}

/* Every hint a running node holds, for anyone. */
static long pending_total(int at)
{
	char *body = get_body(at, "/handoff");
	const char *p =
	    body != NULL ? strstr(body, "\"hints_pending\":") : NULL;
	long n =
	    p != NULL ? strtol(p + strlen("\"hints_pending\":"), NULL, 10) : -1;

	free(body);
	return n;
}

/* --- the ring ------------------------------------------------------------- */

static int node_of_port(int port)
{
	for (int i = 0; i < NNODES; i++) {
		if (nodes[i].rpc_port == port)
			return i;
	}
	return -1;
}

/* owner[] from node 0's GET /ring. */
static void read_ring(void)
{
	char *body = get_body(0, "/ring");
	const char *p = body;

	assert_non_null(body);
	for (int n = 0; n < RING_SIZE; n++) {
		unsigned id = 0;
		int port = 0;
		p = strstr(p, "{\"id\":");
		assert_non_null(p);
		assert_int_equal(sscanf(p,
		                        "{\"id\":%u,\"owner\":\"127.0.0.1:%d\"",
		                        &id, &port),
		                 2);
		assert_true(id < RING_SIZE);
		owner[id] = node_of_port(port);
		assert_true(owner[id] >= 0);
		p++;
	}
	free(body);
}

/* The distinct owners of key's walk, in order: walk[0..NVAL) are its
 * primaries, the rest stand in for them (ring/preflist.c). Returns how
 * many nodes own partitions. */
static int walk_of(const char *key, int walk[NNODES])
{
	uint32_t p = ring_partition_of(key, strlen(key), RING_SIZE);
	bool seen[NNODES] = {false};
	int n = 0;

	for (uint32_t i = 0; i < RING_SIZE && n < NNODES; i++) {
		int o = owner[(p + i) % RING_SIZE];
		if (!seen[o]) {
			seen[o] = true;
			walk[n++] = o;
		}
	}
	assert_true(n >= NVAL);
	return n;
}

static bool is_primary(const char *key, int node)
{
	int walk[NNODES];

	walk_of(key, walk);
	for (int i = 0; i < NVAL; i++) {
		if (walk[i] == node)
			return true;
	}
	return false;
}

/* --- conditions ----------------------------------------------------------- */

/* What node `at` says about node `of` in /members: up (1), down (0), or
 * no answer (-1). Up means heard from, too: right after start a founder
 * not heard from yet is presumed up (cluster.h, UP AND DOWN), and a test
 * that kills a node before gossip has spread could split the others. */
static int up_at(int at, int of)
{
	char key[64];
	char *body = get_body(at, "/members");
	const char *p = NULL, *e = NULL;
	int up = -1;

	if (body == NULL)
		return -1;
	snprintf(key, sizeof(key), "{\"name\":\"127.0.0.1:%d\"",
	         nodes[of].rpc_port);
	p = strstr(body, key);
	e = p != NULL ? strchr(p, '}') : NULL;
	if (e != NULL) {
		const char *u = strstr(p, "\"up\":true");
		const char *g = strstr(p, "\"generation\":null");
		up = u != NULL && u < e && (g == NULL || g > e);
	}
	free(body);
	return up;
}

/* Every running node sees every node in `want` (a bitmask) as up and the
 * others as down. */
static bool view_is(void *arg)
{
	unsigned want = *(unsigned *)arg;

	for (int at = 0; at < NNODES; at++) {
		if (nodes[at].pid == 0)
			continue;
		for (int of = 0; of < NNODES; of++) {
			if (of != at &&
			    up_at(at, of) != (int)((want >> of) & 1))
				return false;
		}
	}
	return true;
}

static unsigned running(void)
{
	unsigned m = 0;

	for (int i = 0; i < NNODES; i++)
		m |= nodes[i].pid != 0 ? 1u << i : 0;
	return m;
}

/* Each running node's view, for a failed wait. */
static void print_views(void)
{
	for (int at = 0; at < NNODES; at++) {
		if (nodes[at].pid == 0)
			continue;
		fprintf(stderr, "# n%d sees up:", at);
		for (int of = 0; of < NNODES; of++)
			fprintf(stderr, " n%d=%d", of, up_at(at, of));
		fprintf(stderr, "\n");
	}
}

static void wait_view(const char *what)
{
	unsigned want = running();
	uint64_t t0 = now_ms();

	if (!proc_wait_for(view_is, &want, DETECT_MS + CONVERGE_MS)) {
		fprintf(stderr, "# gave up waiting: %s\n", what);
		print_views();
		print_logs();
		fail();
	}
	fprintf(stderr, "# %s: %" PRIu64 " ms\n", what, now_ms() - t0);
}

struct delivered {
	int primary, holder;
	const char *key, *value;
};

/* The primary's own copy has the value and the holder no hint for it. */
static bool is_delivered(void *arg)
{
	const struct delivered *d = arg;

	return local_is(d->primary, d->key, d->value) &&
	       pending_at(d->holder, d->primary) == 0;
}

/* No running node holds a hint for node *arg. */
static bool no_hints_for(void *arg)
{
	int of = *(int *)arg;

	for (int i = 0; i < NNODES; i++) {
		if (nodes[i].pid != 0 && pending_at(i, of) != 0)
			return false;
	}
	return true;
}

/* Every running node's ring gives node *arg no partition and has no
 * transfer pending. */
static bool ring_without(void *arg)
{
	char name[64];
	bool ok = true;

	snprintf(name, sizeof(name), "\"owner\":\"127.0.0.1:%d\"",
	         nodes[*(int *)arg].rpc_port);
	for (int i = 0; i < NNODES && ok; i++) {
		char *body = nodes[i].pid != 0 ? get_body(i, "/ring") : NULL;
		ok = nodes[i].pid == 0 ||
		     (body != NULL && strstr(body, name) == NULL &&
		      strstr(body, "\"next_owner\":\"") == NULL);
		free(body);
	}
	return ok;
}

/* No running node holds any hint. */
static bool no_hints(void *arg)
{
	(void)arg;
	for (int i = 0; i < NNODES; i++) {
		if (nodes[i].pid != 0 && pending_total(i) != 0)
			return false;
	}
	return true;
}

/* --- setup ---------------------------------------------------------------- */

/* The founders start one at a time, each once the ones before it have all
 * heard from each other, so every test begins from a cluster whose members
 * all know one another. (Founders started together also converge --
 * tests/test_gossip_cluster.c checks it -- but the time that takes would
 * count against these tests' own bounds.) */
static int cluster_setup(void **state)
{
	(void)state;

	for (int i = 0; i < NNODES; i++) {
		char name[32];
		snprintf(name, sizeof(name), "h-n%d", i);
		proc_node_init(&nodes[i], name);
	}
	proc_seeds(nodes, NNODES, seeds, sizeof(seeds));
	for (int i = 0; i < NNODES; i++) {
		const char **a = nodes[i].args;
		unsigned want = 0;
		a[0] = "--seeds";
		a[1] = seeds;
		a[2] = "--gossip-interval-ms";
		a[3] = GOSSIP_MS;
		a[4] = "--phi-threshold";
		a[5] = PHI;
		a[6] = "--n-val";
		a[7] = "3";
		a[8] = NULL;
		if (proc_node_start(&nodes[i]) != 0)
			return -1;
		want = running();
		if (!proc_wait_for(view_is, &want, CONVERGE_MS)) {
			print_views();
			print_logs();
			return -1;
		}
	}
	return 0;
}

static int cluster_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < NNODES; i++)
		proc_node_kill(&nodes[i]);
	return 0;
}

static void start_again(int i)
{
	if (proc_node_start(&nodes[i]) != 0) {
		print_logs();
		fail();
	}
}

/* --- scenarios ------------------------------------------------------------ */

static void test_fallback_holds_hint_until_primary_returns(void **state)
{
	const char *key = "handoff-a";
	struct delivered d = {.key = key, .value = "written-while-down"};
	int walk[NNODES];
	char *body = NULL;
	(void)state;

	wait_view("5 nodes up");
	read_ring();
	walk_of(key, walk);
	d.primary = walk[2];
	d.holder = walk[3];
	fprintf(stderr, "# primaries n%d n%d n%d, fallback n%d\n", walk[0],
	        walk[1], walk[2], walk[3]);

	proc_node_kill(&nodes[d.primary]);
	/* At once: the detector has not caught up, the call fails fast. */
	assert_int_equal(
	    http(walk[0], "PUT", "/kv/handoff-a?w=3", d.value, &body), 204);
	free(body);
	assert_true(pending_at(d.holder, d.primary) >= 1);
	assert_int_equal(pending_at(walk[4], d.primary), 0);
	body = get_body(walk[0], "/stats");
	assert_non_null(body);
	assert_null(strstr(body, "\"fail_fast\":0,"));
	free(body);
	/* The fallback holds a hint, not a copy of its own. */
	assert_int_equal(
	    http(d.holder, "GET", "/kv/handoff-a?replica=local", NULL, NULL),
	    404);
	body = get_body(d.holder, "/stats");
	assert_non_null(body);
	assert_non_null(strstr(body, "\"handoff\":{\"hints_stored\":"));
	free(body);
	/* A read needing all three replies gets the fallback's. */
	body = NULL;
	assert_int_equal(http(walk[1], "GET", "/kv/handoff-a?r=3", NULL, &body),
	                 200);
	assert_string_equal(body, d.value);
	free(body);

	start_again(d.primary);
	wait_or_fail(
	    is_delivered, &d, DELIVER_MS,
	    "the primary got the write, the fallback dropped its hint");
}

static void test_hint_survives_holder_restart(void **state)
{
	const char *key = "handoff-b";
	struct delivered d = {.key = key, .value = "kept-across-restart"};
	int walk[NNODES];
	(void)state;

	wait_view("5 nodes up");
	read_ring();
	walk_of(key, walk);
	d.primary = walk[1];
	d.holder = walk[3];

	proc_node_kill(&nodes[d.primary]);
	wait_view("the primary is held down");
	assert_int_equal(
	    http(walk[0], "PUT", "/kv/handoff-b?w=3", d.value, NULL), 204);
	assert_int_equal(pending_at(d.holder, d.primary), 1);

	proc_node_kill(&nodes[d.holder]);
	start_again(d.holder);
	assert_int_equal(pending_at(d.holder, d.primary), 1);

	start_again(d.primary);
	wait_or_fail(is_delivered, &d, DELIVER_MS,
	             "the restarted holder delivered its hint");
}

static void test_backlog_all_delivered(void **state)
{
	int down = 4, walk_at = 0, acked = 0, primary_of = 0;
	char path[64], value[64];
	static bool ok[BULK_KEYS];
	uint64_t t0 = 0;
	(void)state;

	wait_view("5 nodes up");
	read_ring();
	proc_node_kill(&nodes[down]);
	wait_view("the primary is held down");

	t0 = now_ms();
	for (int k = 0; k < BULK_KEYS; k++) {
		snprintf(path, sizeof(path), "/kv/bulk-%d", k);
		snprintf(value, sizeof(value), "value-%d", k);
		walk_at = k % (NNODES - 1); /* the running nodes, in turn */
		ok[k] = http(walk_at, "PUT", path, value, NULL) == 204;
		acked += ok[k];
	}
	fprintf(stderr, "# %d of %d writes acknowledged in %" PRIu64 " ms\n",
	        acked, BULK_KEYS, now_ms() - t0);
	assert_int_equal(acked, BULK_KEYS);

	start_again(down);
	wait_or_fail(no_hints, NULL, DELIVER_MS * 2,
	             "every hint delivered and removed");

	for (int k = 0; k < BULK_KEYS; k++) {
		char key[32];
		snprintf(key, sizeof(key), "bulk-%d", k);
		snprintf(value, sizeof(value), "value-%d", k);
		if (!is_primary(key, down))
			continue;
		primary_of++;
		if (!local_is(down, key, value)) {
			fprintf(stderr, "# %s missing at its primary\n", key);
			fail();
		}
	}
	fprintf(stderr, "# the returned node holds its %d keys\n", primary_of);
	assert_true(primary_of > BULK_KEYS / 3);
	for (int k = 0; k < BULK_KEYS; k++) {
		char *body = NULL;
		snprintf(path, sizeof(path), "/kv/bulk-%d?r=quorum", k);
		snprintf(value, sizeof(value), "value-%d", k);
		if (http(k % NNODES, "GET", path, NULL, &body) != 200 ||
		    strcmp(body, value) != 0) {
			fprintf(stderr, "# lost write: %s\n", path);
			fail();
		}
		free(body);
	}
}

static void test_strict_quorum(void **state)
{
	const char *key = "handoff-pw";
	int walk[NNODES];
	char *body = NULL;
	(void)state;

	wait_view("5 nodes up");
	read_ring();
	walk_of(key, walk);
	proc_node_kill(&nodes[walk[1]]);
	proc_node_kill(&nodes[walk[2]]);
	wait_view("two primaries are held down");

	/* pw=2 cannot be met: 503, and nothing written anywhere. */
	assert_int_equal(
	    http(walk[0], "PUT", "/kv/handoff-pw?pw=2", "no", &body), 503);
	assert_non_null(strstr(body, "\"needed\":2"));
	free(body);
	assert_int_equal(
	    http(walk[3], "PUT", "/kv/handoff-pw?pw=2", "no", NULL),
	    503); /* refused before forwarding, too */
	assert_int_equal(
	    http(walk[0], "GET", "/kv/handoff-pw?replica=local", NULL, NULL),
	    404);
	for (int i = 0; i < NNODES; i++) {
		if (nodes[i].pid != 0)
			assert_int_equal(pending_total(i), 0);
	}
	assert_int_equal(http(walk[4], "GET", "/kv/handoff-pw?r=1", NULL, NULL),
	                 404);
	/* More primaries than replicas: a bad parameter. */
	body = NULL;
	assert_int_equal(
	    http(walk[0], "PUT", "/kv/handoff-pw?pw=4", "no", &body), 400);
	assert_non_null(strstr(body, "\"parameter\":\"pw\""));
	free(body);

	/* Sloppy: the one primary and two fallbacks make w=3, and a read
	 * of three finds the value on the fallbacks during the outage. */
	assert_int_equal(
	    http(walk[0], "PUT", "/kv/handoff-pw?pw=1&w=3", "sloppy", NULL),
	    204);
	body = NULL;
	assert_int_equal(
	    http(walk[3], "GET", "/kv/handoff-pw?r=3", NULL, &body), 200);
	assert_string_equal(body, "sloppy");
	free(body);

	start_again(walk[1]);
	start_again(walk[2]);
	struct delivered d1 = {walk[1], walk[3], key, "sloppy"};
	struct delivered d2 = {walk[2], walk[4], key, "sloppy"};
	wait_or_fail(is_delivered, &d1, DELIVER_MS, "first primary repaired");
	wait_or_fail(is_delivered, &d2, DELIVER_MS, "second primary repaired");
}

/* --- hand-made frames ----------------------------------------------------- */

/* A client of the internode protocol, for frames no node would send. */
struct forger {
	struct event_base *base;
	struct msg_codec *mc;
	struct rpc *rpc;
};

struct call {
	struct msg_codec *mc;
	uint8_t type;
	bool done;
	int status;
};

static void on_reply(void *arg, int status, const struct msg_peer *peer,
                     const void *body, size_t len)
{
	struct call *c = arg;
	struct msg_status st;

	c->done = true;
	c->status = status;
	if (status == 0 &&
	    msg_decode_status(c->mc, peer, c->type, body, len, &st) == 0) {
		c->status = st.status;
		msg_clear_status(&st);
	}
}

static void on_request(void *arg, const struct rpc_reply_to *to,
                       const struct msg_peer *peer,
                       const struct msg_hello *from, const void *body,
                       size_t len)
{
	(void)arg;
	(void)to;
	(void)peer;
	(void)from;
	(void)body;
	(void)len;
}

static void forger_open(struct forger *f)
{
	struct rpc_options ro = {.cluster_name = "ringkv",
	                         .name = "hint-forger",
	                         .listen_addr = "127.0.0.1:0",
	                         .node_id = 4242,
	                         .on_request = on_request};
	char bound[128];

	f->base = event_base_new();
	f->mc = msg_codec_new();
	f->rpc = NULL;
	assert_non_null(f->base);
	assert_non_null(f->mc);
	ro.codec = f->mc;
	assert_int_equal(rpc_new(&f->rpc, f->base, &ro, bound, sizeof(bound)),
	                 0);
}

static void forger_close(struct forger *f)
{
	rpc_free(f->rpc);
	msg_codec_free(f->mc);
	event_base_free(f->base);
}

/* A one-value object written by the forger. */
static struct dvv *forged_obj(const char *text)
{
	struct dvv *obj = dvv_new();
	struct dvv_value v = {.data = (uint8_t *)text,
	                      .len = strlen(text),
	                      .content_type = (char *)"text/plain",
	                      .timestamp_ms = 1700000000000};

	assert_non_null(obj);
	assert_int_equal(dvv_update(obj, NULL, 4242, &v), 0);
	return obj;
}

/* Send body to node `to` as a request of type, and free it; the reply's
 * status. */
static int forger_call(struct forger *f, int to, uint8_t type, uint8_t *body,
                       size_t len)
{
	char addr[64];
	struct call c = {.mc = f->mc, .type = type};
	uint64_t t0 = now_ms();

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", nodes[to].rpc_port);
	assert_int_equal(
	    rpc_call(f->rpc, addr, type, body, len, T_TIMEOUT_MS, on_reply, &c),
	    0);
	while (!c.done && now_ms() - t0 < T_TIMEOUT_MS)
		event_base_loop(f->base, EVLOOP_ONCE);
	free(body);
	assert_true(c.done);
	return c.status;
}

/* Send one hint for key to node `to`, naming `target`; the reply's
 * status. */
static int send_hint(struct forger *f, int to, const char *target,
                     const char *key, const char *text)
{
	struct msg_hint_entry e = {
	    .partition = ring_partition_of(key, strlen(key), RING_SIZE),
	    .key = (const uint8_t *)key,
	    .klen = strlen(key),
	    .obj = forged_obj(text)};
	struct msg_hint m = {.entries = &e, .n = 1};
	uint8_t *body = NULL;
	size_t len = 0;

	snprintf(m.target, sizeof(m.target), "%s", target);
	assert_int_equal(msg_encode_hint(f->mc, &m, &body, &len), 0);
	dvv_free(e.obj);
	return forger_call(f, to, MSG_HINT, body, len);
}

/* Have node `to` keep a write of key as a hint for hint_for, as a
 * coordinator does with a fallback; the reply's status. */
static int send_replicate(struct forger *f, int to, const char *hint_for,
                          const char *key, const char *text)
{
	struct msg_replicate m = {
	    .partition = ring_partition_of(key, strlen(key), RING_SIZE),
	    .key = (const uint8_t *)key,
	    .klen = strlen(key),
	    .obj = forged_obj(text)};
	uint8_t *body = NULL;
	size_t len = 0;

	snprintf(m.hint_for, sizeof(m.hint_for), "%s", hint_for);
	assert_int_equal(msg_encode_replicate(f->mc, &m, &body, &len), 0);
	dvv_free(m.obj);
	return forger_call(f, to, MSG_REPLICATE, body, len);
}

static void test_bad_hint_frames_refused(void **state)
{
	struct forger f;
	char self[64], key[96];
	const char *held = NULL, *foreign = NULL;
	static char keys[2][32];
	int to = 0;
	(void)state;

	wait_view("5 nodes up");
	read_ring();
	forger_open(&f);
	/* A key node 0 is a primary of, and one it is not. */
	for (int k = 0; held == NULL || foreign == NULL; k++) {
		bool mine = false;
		snprintf(keys[held != NULL], sizeof(keys[0]), "forged-%d", k);
		mine = is_primary(keys[held != NULL], to);
		if (held == NULL && mine)
			held = keys[0];
		else if (held != NULL && foreign == NULL && !mine)
			foreign = keys[1];
	}
	snprintf(self, sizeof(self), "127.0.0.1:%d", nodes[to].rpc_port);

	/* For another node: refused, nothing stored. */
	assert_int_equal(send_hint(&f, to, "127.0.0.1:1", held, "x"),
	                 RKV_EINVAL);
	snprintf(key, sizeof(key), "/kv/%s?replica=local", held);
	assert_int_equal(http(to, "GET", key, NULL, NULL), 404);
	/* For a partition it does not hold: refused as a ring behind. */
	assert_int_equal(send_hint(&f, to, self, foreign, "x"), RKV_ESTALE);
	snprintf(key, sizeof(key), "/kv/%s?replica=local", foreign);
	assert_int_equal(http(to, "GET", key, NULL, NULL), 404);
	/* A proper one is stored. */
	assert_int_equal(send_hint(&f, to, self, held, "handed"), 0);
	assert_true(local_is(to, held, "handed"));
	char *body = get_body(to, "/stats");
	assert_non_null(body);
	assert_non_null(strstr(body, "\"batches_refused\":2"));
	free(body);

	forger_close(&f);
}

struct stale {
	const char *key, *value;
	int walk[NNODES];
};

/* The key is in the own copy of each of its primaries, and no node holds
 * a hint any more. */
static bool stale_delivered(void *arg)
{
	const struct stale *s = arg;

	for (int i = 0; i < 2; i++) {
		for (int j = 0; j < NVAL; j++) {
			if (!local_is(s[i].walk[j], s[i].key, s[i].value))
				return false;
		}
	}
	return no_hints(NULL);
}

/* Hints that a coordinator with a stale ring could leave behind: one for
 * a live node that is not a primary of the key (it would refuse them for
 * ever), one for a name the cluster does not know. Both end up with the
 * key's primaries, and the node named gets no copy. */
static void test_stale_hints_retargeted(void **state)
{
	struct stale s[2] = {{.key = "stale-a", .value = "for-a-non-primary"},
	                     {.key = "stale-b", .value = "for-a-stranger"}};
	struct forger f;
	char name[64], path[64];
	(void)state;

	wait_view("5 nodes up");
	read_ring();
	forger_open(&f);
	walk_of(s[0].key, s[0].walk);
	walk_of(s[1].key, s[1].walk);
	/* Held by a non-primary, for another non-primary that is up. */
	snprintf(name, sizeof(name), "127.0.0.1:%d",
	         nodes[s[0].walk[4]].rpc_port);
	assert_int_equal(
	    send_replicate(&f, s[0].walk[3], name, s[0].key, s[0].value), 0);
	/* Held by a primary, which takes its own copy too. */
	assert_int_equal(send_replicate(&f, s[1].walk[0], "127.0.0.1:1",
	                                s[1].key, s[1].value),
	                 0);
	forger_close(&f);

	wait_or_fail(stale_delivered, s, DELIVER_MS,
	             "the stale hints reached the primaries");
	assert_true(target_count(s[0].walk[3], s[0].walk[4], "retargeted") >=
	            1);
	snprintf(path, sizeof(path), "/kv/%s?replica=local", s[0].key);
	assert_int_equal(http(s[0].walk[4], "GET", path, NULL, NULL), 404);
}

/* --- re-targeting after a rebalance --------------------------------------- */

struct moved {
	int n;
	int k[MOVED_KEYS]; /* key moved-K, value moved-value-K */
};

/* Every primary the ring gives each key holds it in its own copy. */
static bool on_primaries(void *arg)
{
	const struct moved *m = arg;

	for (int i = 0; i < m->n; i++) {
		char key[32], value[32];
		int walk[NNODES];
		snprintf(key, sizeof(key), "moved-%d", m->k[i]);
		snprintf(value, sizeof(value), "moved-value-%d", m->k[i]);
		walk_of(key, walk);
		for (int j = 0; j < NVAL; j++) {
			if (!local_is(walk[j], key, value))
				return false;
		}
	}
	return true;
}

/* One admin request at node `at`, which must answer 200. */
static void admin(int at, const char *method, const char *path)
{
	char *body = NULL;
	int status = http(at, method, path, NULL, &body);

	if (status != 200) {
		fprintf(stderr, "# %s %s: %d %s\n", method, path, status,
		        body != NULL ? body : "");
		print_logs();
		fail();
	}
	free(body);
}

static void test_hints_for_removed_node_retargeted(void **state)
{
	const int at = 0;
	int gone = 2;
	static struct moved m;
	char path[96];
	long held = 0;
	(void)state;

	wait_view("5 nodes up");
	read_ring();
	proc_node_kill(&nodes[gone]);
	wait_view("the node to remove is held down");

	/* w=3 with one primary down: the write needs its fallback, which
	 * keeps a hint for the dead node. */
	m.n = 0;
	for (int k = 0; m.n < MOVED_KEYS; k++) {
		char key[32], value[32];
		snprintf(key, sizeof(key), "moved-%d", k);
		if (!is_primary(key, gone))
			continue;
		snprintf(path, sizeof(path), "/kv/%s?w=3", key);
		snprintf(value, sizeof(value), "moved-value-%d", k);
		assert_int_equal(
		    http(k % 2 ? at : NNODES - 1, "PUT", path, value, NULL),
		    204);
		m.k[m.n++] = k;
	}
	held = target_count_all(gone, "pending");
	fprintf(stderr, "# %ld hints held for the dead node\n", held);
	assert_true(held >= MOVED_KEYS);

	snprintf(path, sizeof(path), "/admin/remove?node=127.0.0.1:%d",
	         nodes[gone].rpc_port);
	admin(at, "POST", path);
	admin(at, "GET", "/admin/plan");
	admin(at, "POST", "/admin/commit");

	wait_or_fail(no_hints_for, &gone, DELIVER_MS,
	             "no node holds hints for the removed node");
	assert_true(target_count_all(gone, "retargeted") >= held);
	wait_or_fail(ring_without, &gone, DELIVER_MS,
	             "every ring is settled without the removed node");
	wait_or_fail(no_hints, NULL, DELIVER_MS,
	             "the re-targeted hints are delivered");
	read_ring();
	wait_or_fail(on_primaries, &m, DELIVER_MS,
	             "every key is on its new primaries");
	for (int i = 0; i < m.n; i++) {
		char value[32], *body = NULL;
		snprintf(path, sizeof(path), "/kv/moved-%d?r=quorum", m.k[i]);
		snprintf(value, sizeof(value), "moved-value-%d", m.k[i]);
		if (http(i % 2 ? at : NNODES - 1, "GET", path, NULL, &body) !=
		        200 ||
		    strcmp(body, value) != 0) {
			fprintf(stderr, "# lost write: %s\n", path);
			fail();
		}
		free(body);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fallback_holds_hint_until_primary_returns),
	    cmocka_unit_test(test_hint_survives_holder_restart),
	    cmocka_unit_test(test_backlog_all_delivered),
	    cmocka_unit_test(test_strict_quorum),
	    cmocka_unit_test(test_bad_hint_frames_refused),
	    cmocka_unit_test(test_stale_hints_retargeted),
	    cmocka_unit_test(test_hints_for_removed_node_retargeted),
	};

	proc_deadline(170);
	return cmocka_run_group_tests(tests, cluster_setup, cluster_teardown);
}
