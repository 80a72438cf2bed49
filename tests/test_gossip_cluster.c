/* test_gossip_cluster.c -- membership by gossip and failure detection,
 * with real ringkvd processes.
 *
 * Gossip runs every GOSSIP_MS (100 ms) so the scenarios take seconds:
 *
 *   join       a one-node founder and three nodes seeded with its address
 *              only: every node comes to list all four, the founder valid
 *              and owning the ring, the others joining; a joining node
 *              got the ring too, so a write it receives is forwarded to
 *              the owner and read back at another joining node;
 *   kill       three founders; one is SIGKILLed: the others hold it down
 *              within the detection time, and quorum requests keep
 *              answering quickly -- a w=all write fails at once instead
 *              of waiting for its timeout, which proves nobody waits on
 *              the dead node; restarted, it is seen up again, with a
 *              higher generation, and w=all succeeds again;
 *   pause      a SIGSTOPped founder keeps its TCP connections open, so
 *              only the detector can spare a coordinator its timeout:
 *              once it is held down, a w=all write fails at once; after
 *              SIGCONT it is seen up and used again.
 *
 * In every scenario "converged" includes each node's /members entry for
 * each node carrying that node's own HTTP address, which it announced by
 * gossip once its listener was bound (after a restart too).
 *
 * Every wait polls (proc_wait_for); the bounds are generous, and the
 * times actually measured are printed.
 */
#include "proc.h"

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

#define MAX_NODES    5
#define GOSSIP_MS    "100"
#define PHI          "8"
#define T_TIMEOUT_MS 8000
/* The configured detection time: phi reaches the threshold after
 * threshold * ln 10 * mean of silence, and the mean of the heartbeat
 * intervals is at most twice the gossip interval (longer ones are not
 * recorded), so 8 * 2.3026 * 200 ms = 3.7 s at worst -- about 1.9 s once
 * the mean has settled near 100 ms. Slack covers the last heartbeat's
 * travel and the polling. */
#define DETECT_BOUND_MS 3685
#define DETECT_MS       (DETECT_BOUND_MS + 2000)
#define CONVERGE_MS     10000
/* A quorum request with timeout=RPC_TIMEOUT must take far less than it. */
#define RPC_TIMEOUT "2000"
#define FAST_MS     500

static struct proc_node nodes[MAX_NODES];
static int nnodes;
static char seeds[256];

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Node i's flags: its seeds, fast gossip, the detector's threshold. */
static void node_args(int i, const char *node_seeds)
{
	const char **a = nodes[i].args;
	a[0] = "--seeds";
	a[1] = node_seeds;
	a[2] = "--gossip-interval-ms";
	a[3] = GOSSIP_MS;
	a[4] = "--phi-threshold";
	a[5] = PHI;
	a[6] = "--n-val";
	a[7] = "3";
	a[8] = NULL;
}

static void name_nodes(int n)
{
	static int runs;
	char name[32];

	nnodes = n;
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "g%d-n%d", runs, i);
		proc_node_init(&nodes[i], name);
	}
	runs++;
}

/* Node 0 founds alone (its seeds: itself); the others join through it. */
static int join_setup(void **state)
{
	static char own[64];
	(void)state;

	name_nodes(4);
	snprintf(own, sizeof(own), "127.0.0.1:%d", nodes[0].rpc_port);
	for (int i = 0; i < nnodes; i++) {
		node_args(i, own);
		if (proc_node_start(&nodes[i]) != 0)
			return -1;
	}
	return 0;
}

/* Three founders, each seeded with all three addresses. */
static int founders_setup(void **state)
{
	(void)state;
	name_nodes(3);
	snprintf(seeds, sizeof(seeds), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d",
	         nodes[0].rpc_port, nodes[1].rpc_port, nodes[2].rpc_port);
	for (int i = 0; i < nnodes; i++) {
		node_args(i, seeds);
		if (proc_node_start(&nodes[i]) != 0)
			return -1;
	}
	return 0;
}

/* Five founders started at once, each seeded with all five addresses. */
static int five_founders_setup(void **state)
{
	(void)state;
	name_nodes(5);
	proc_seeds(nodes, nnodes, seeds, sizeof(seeds));
	for (int i = 0; i < nnodes; i++)
		node_args(i, seeds);
	/* Start them all before waiting for any: the race is the point. */
	return proc_nodes_start(nodes, nnodes);
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < nnodes; i++)
		proc_node_kill(&nodes[i]);
	return 0;
}

static void print_logs(void)
{
	for (int i = 0; i < nnodes; i++)
		proc_node_print_log(&nodes[i]);
}

/* --- reading /members ----------------------------------------------------- */

/* GET path at node i: the body (malloc'ed) on a 200, else NULL. */
static char *get_body(int i, const char *path)
{
	struct proc_resp r;
	char *body = NULL;

	if (proc_http(nodes[i].http_port, "GET", path, NULL, NULL, 0,
	              T_TIMEOUT_MS, &r) == 0 &&
	    r.status == 200) {
		body = r.body;
		r.body = NULL;
	}
	proc_resp_free(&r);
	return body;
}

static int count_members(const char *body)
{
	int n = 0;
	for (const char *p = body; (p = strstr(p, "{\"name\":")) != NULL; p++)
		n++;
	return n;
}

/* The object of member j in a /members body, copied into out. */
static bool member_obj(const char *body, int j, char *out, size_t len)
{
	char key[64];
	const char *p = NULL, *e = NULL;

	snprintf(key, sizeof(key), "{\"name\":\"127.0.0.1:%d\"",
	         nodes[j].rpc_port);
	p = strstr(body, key);
	e = p != NULL ? strchr(p, '}') : NULL;
	if (e == NULL || (size_t)(e - p) + 2 > len)
		return false;
	memcpy(out, p, (size_t)(e - p) + 1);
	out[e - p + 1] = '\0';
	return true;
}

/* A numeric field of a member object; 0 when absent or null. */
static uint64_t obj_u64(const char *obj, const char *field)
{
	char key[64];
	const char *p = NULL;

	snprintf(key, sizeof(key), "\"%s\":", field);
	p = strstr(obj, key);
	return p != NULL ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* What node `at` says about node `of` right now. */
struct view {
	bool listed;
	bool up;
	bool valid, joining;
	bool http; /* "http" is node `of`'s own HTTP address */
	uint64_t generation;
	int members;
};

static struct view view_of(int at, int of)
{
	struct view v = {0};
	char obj[1024], http[64];
	char *body = get_body(at, "/members");

	if (body == NULL)
		return v;
	v.members = count_members(body);
	if (member_obj(body, of, obj, sizeof(obj))) {
		v.listed = true;
		v.up = strstr(obj, "\"up\":true") != NULL;
		v.valid = strstr(obj, "\"status\":\"valid\"") != NULL;
		v.joining = strstr(obj, "\"status\":\"joining\"") != NULL;
		v.generation = obj_u64(obj, "generation");
		snprintf(http, sizeof(http), "\"http\":\"127.0.0.1:%d\"",
		         nodes[of].http_port);
		v.http = strstr(obj, http) != NULL;
	}
	free(body);
	return v;
}

/* --- conditions to wait for ----------------------------------------------- */

/* Every running node lists every node, up, with a known generation and
 * its HTTP address, and node 0 valid; with `joiners`, the others joining,
 * else valid. */
struct all_seen {
	bool joiners;
};

static bool all_see_all(void *arg)
{
	const struct all_seen *want = arg;

	for (int at = 0; at < nnodes; at++) {
		for (int of = 0; of < nnodes; of++) {
			struct view v = view_of(at, of);
			bool status =
			    of == 0 || !want->joiners ? v.valid : v.joining;
			if (v.members != nnodes || !v.listed || !v.up ||
			    !status || v.generation == 0 || !v.http)
				return false;
		}
	}
	return true;
}

/* Every other running node holds node `of` up (or down). */
struct held {
	int of;
	bool up;
	uint64_t min_generation; /* when up: a generation above this */
};

static bool others_hold(void *arg)
{
	const struct held *h = arg;

	for (int at = 0; at < nnodes; at++) {
		if (at == h->of)
			continue;
		struct view v = view_of(at, h->of);
		if (!v.listed || v.up != h->up)
			return false;
		if (h->up && v.generation <= h->min_generation)
			return false;
	}
	return true;
}

/* Node `at`'s ring has an owner for every partition. */
static bool ring_claimed_at(void *arg)
{
	int at = *(int *)arg;
	char *body = get_body(at, "/ring");
	bool ok = body != NULL && strstr(body, "\"owner\":null") == NULL &&
	          strstr(body, "\"owner\":\"") != NULL;

	free(body);
	return ok;
}

struct put_ok {
	int at;
	const char *path;
};

static bool put_succeeds(void *arg)
{
	const struct put_ok *p = arg;
	struct proc_resp r;
	bool ok = proc_http(nodes[p->at].http_port, "PUT", p->path, NULL, "v",
	                    1, T_TIMEOUT_MS, &r) == 0 &&
	          r.status == 204;

	proc_resp_free(&r);
	return ok;
}

/* --- timed requests ------------------------------------------------------- */

/* One request at node i: its status, *ms how long it took. */
static int timed(int i, const char *method, const char *path, const char *body,
                 uint64_t *ms, char **resp_body)
{
	struct proc_resp r;
	uint64_t t0 = now_ms();
	int rc = proc_http(nodes[i].http_port, method, path, NULL, body,
	                   body != NULL ? strlen(body) : 0, T_TIMEOUT_MS, &r);
	int status = r.status;

	*ms = now_ms() - t0;
	if (rc != 0)
		print_logs();
	assert_int_equal(rc, 0);
	if (resp_body != NULL) {
		*resp_body = r.body;
		r.body = NULL;
	}
	proc_resp_free(&r);
	return status;
}

static void wait_or_fail(bool (*cond)(void *), void *arg, int timeout_ms,
                         const char *what)
{
	if (!proc_wait_logged(cond, arg, timeout_ms, what, nodes, nnodes))
		fail();
}

/* With node `dead` held down: quorum writes and reads answer fast, and a
 * w=all write fails fast with what it got, instead of waiting for its
 * timeout on the dead node. */
static void assert_fast_without(int dead)
{
	int at = dead == 0 ? 1 : 0;
	char *body = NULL;
	uint64_t ms = 0;

	assert_int_equal(
	    timed(at, "PUT", "/kv/q?timeout=" RPC_TIMEOUT, "v", &ms, NULL),
	    204);
	fprintf(stderr, "# quorum PUT with a node down: %" PRIu64 " ms\n", ms);
	assert_true(ms < FAST_MS);
	assert_int_equal(
	    timed(at, "GET", "/kv/q?timeout=" RPC_TIMEOUT, NULL, &ms, NULL),
	    200);
	assert_true(ms < FAST_MS);
	assert_int_equal(timed(at, "PUT", "/kv/all?w=all&timeout=" RPC_TIMEOUT,
	                       "a", &ms, &body),
	                 503);
	fprintf(stderr, "# w=all PUT with a node down: %" PRIu64 " ms\n", ms);
	assert_true(ms < FAST_MS);
	assert_non_null(body);
	assert_non_null(strstr(body, "\"needed\":3"));
	assert_non_null(strstr(body, "\"acked\":2"));
	free(body);
}

/* --- scenarios ------------------------------------------------------------ */

static void test_join_through_one_seed(void **state)
{
	struct all_seen want = {.joiners = true};
	char *a = NULL, *b = NULL;
	uint64_t ms = 0;
	(void)state;

	wait_or_fail(all_see_all, &want, CONVERGE_MS,
	             "4 nodes list 4 members (1 valid, 3 joining)");
	for (int i = 1; i < nnodes; i++) {
		wait_or_fail(ring_claimed_at, &i, CONVERGE_MS,
		             "a joining node holds the claimed ring");
		struct view v = view_of(0, i);
		assert_true(v.joining);
	}
	/* The founder owns the ring, the joining nodes nothing. */
	a = get_body(0, "/members");
	assert_non_null(a);
	assert_non_null(strstr(a, "\"partitions\":64"));
	assert_int_equal(count_members(a), 4);
	free(a);
	/* A joining node forwards to the owner; another reads it back. */
	assert_int_equal(timed(2, "PUT", "/kv/joined", "hello", &ms, NULL),
	                 204);
	assert_int_equal(timed(3, "GET", "/kv/joined", NULL, &ms, &b), 200);
	assert_string_equal(b, "hello");
	free(b);
	/* Gossip counters are in /stats. */
	a = get_body(1, "/stats");
	assert_non_null(a);
	assert_non_null(strstr(a, "\"gossip\":{\"rounds\":"));
	assert_non_null(strstr(a, "\"rejected\":0}"));
	free(a);
}

static void test_killed_founder_detected_and_back(void **state)
{
	struct all_seen want = {.joiners = false};
	struct held down = {.of = 2, .up = false};
	struct put_ok all = {.at = 0, .path = "/kv/back?w=all&timeout=1000"};
	uint64_t gen = 0;
	(void)state;

	wait_or_fail(all_see_all, &want, CONVERGE_MS, "3 founders see 3 up");
	gen = view_of(0, 2).generation;
	assert_true(gen > 0);

	proc_node_kill(&nodes[2]);
	wait_or_fail(others_hold, &down, DETECT_MS,
	             "a killed node is held down");
	assert_fast_without(2);

	assert_int_equal(proc_node_start(&nodes[2]), 0);
	struct held up = {.of = 2, .up = true, .min_generation = gen};
	wait_or_fail(others_hold, &up, CONVERGE_MS,
	             "the restarted node is up, at a higher generation");
	wait_or_fail(all_see_all, &want, CONVERGE_MS,
	             "the restarted node sees 3 up");
	wait_or_fail(put_succeeds, &all, CONVERGE_MS, "w=all works again");
}

static void test_paused_founder_costs_no_timeout(void **state)
{
	struct all_seen want = {.joiners = false};
	struct held down = {.of = 1, .up = false};
	struct held up = {.of = 1, .up = true};
	struct put_ok all = {.at = 0, .path = "/kv/resumed?w=all&timeout=1000"};
	(void)state;

	wait_or_fail(all_see_all, &want, CONVERGE_MS, "3 founders see 3 up");
	assert_true(put_succeeds(&all));
	proc_node_signal(&nodes[1], SIGSTOP);
	wait_or_fail(others_hold, &down, DETECT_MS,
	             "a paused node is held down");
	assert_fast_without(1);
	proc_node_signal(&nodes[1], SIGCONT);
	wait_or_fail(others_hold, &up, CONVERGE_MS,
	             "the resumed node is up again");
	wait_or_fail(put_succeeds, &all, CONVERGE_MS, "w=all works again");
}

/* Regression: founders that start together could settle into groups that
 * each gossiped only among themselves (a node turned to its seeds only
 * while it knew no live member), and never learned of one another. */
static void test_five_founders_started_together_converge(void **state)
{
	struct all_seen founders = {.joiners = false};
	(void)state;
	wait_or_fail(all_see_all, &founders, CONVERGE_MS,
	             "five founders started at once all see each other");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_five_founders_started_together_converge,
	        five_founders_setup, teardown),
	    cmocka_unit_test_setup_teardown(test_join_through_one_seed,
	                                    join_setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_killed_founder_detected_and_back, founders_setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_paused_founder_costs_no_timeout, founders_setup, teardown),
	};
	proc_deadline(120);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
