/* test_cluster.c -- three real ringkvd processes forming one cluster.
 *
 * Started with the same seeds (their rpc addresses), the three nodes own
 * the ring at once with n_val = 3, so every node holds every key. What a
 * user notices: a write at one node is read at the others; with a node
 * dead, quorum requests still succeed and w=all says what it got;
 * concurrent blind writes at two nodes come back as siblings; a replica
 * that missed a write is repaired by a quorum read, also when the reading
 * node learns of it from a digest; a restarted node kept what it
 * acknowledged.
 */
#include "proc.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NNODES       3
#define T_TIMEOUT_MS 8000

static struct proc_node nodes[NNODES];

static int cluster_setup(void **state)
{
	static int runs;
	char prefix[16];
	(void)state;

	snprintf(prefix, sizeof(prefix), "c%d", runs++);
	return proc_cluster_start(nodes, NNODES, prefix);
}

static int cluster_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < NNODES; i++)
		proc_node_kill(&nodes[i]);
	return 0;
}

static void req(int node, struct proc_resp *r, const char *method,
                const char *path, const char *const *headers, const char *body)
{
	int rc = proc_http(nodes[node].http_port, method, path, headers, body,
	                   body ? strlen(body) : 0, T_TIMEOUT_MS, r);
	if (rc != 0)
		proc_node_print_log(&nodes[node]);
	assert_int_equal(rc, 0);
}

static int status_at(int node, const char *method, const char *path,
                     const char *body)
{
	struct proc_resp r;
	req(node, &r, method, path, NULL, body);
	int status = r.status;
	if (status >= 500) {
		fprintf(stderr, "# %s %s at node %d: %d %s", method, path, node,
		        status, r.body ? r.body : "");
	}
	proc_resp_free(&r);
	return status;
}

static void assert_value_at(int node, const char *path, const char *want)
{
	struct proc_resp r;
	req(node, &r, "GET", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, want);
	proc_resp_free(&r);
}

static void test_ring_and_members(void **state)
{
	struct proc_resp r;
	(void)state;
	for (int i = 0; i < NNODES; i++) {
		req(i, &r, "GET", "/ring", NULL, NULL);
		assert_int_equal(r.status, 200);
		assert_non_null(strstr(r.body, "\"ring_size\":64"));
		assert_non_null(strstr(r.body, "\"n_val\":3"));
		assert_non_null(strstr(r.body, "\"next_owner\":null"));
		proc_resp_free(&r);
		req(i, &r, "GET", "/members", NULL, NULL);
		assert_int_equal(r.status, 200);
		for (int j = 0; j < NNODES; j++) {
			char addr[64];
			snprintf(addr, sizeof(addr), "\"127.0.0.1:%d\"",
			         nodes[j].rpc_port);
			assert_non_null(strstr(r.body, addr));
		}
		proc_resp_free(&r);
	}
}

static void test_write_here_read_there(void **state)
{
	char path[64], val[64];
	(void)state;
	for (int k = 0; k < 30; k++) {
		snprintf(path, sizeof(path), "/kv/spread-%d", k);
		snprintf(val, sizeof(val), "v%d", k);
		assert_int_equal(status_at(k % NNODES, "PUT", path, val), 204);
		for (int i = 0; i < NNODES; i++)
			assert_value_at(i, path, val);
	}
	/* with n_val = 3 on three nodes, every node holds its own copy */
	for (int i = 0; i < NNODES; i++)
		assert_value_at(i, "/kv/spread-7?replica=local", "v7");
}

static void test_one_node_dead(void **state)
{
	struct proc_resp r;
	(void)state;
	assert_int_equal(status_at(0, "PUT", "/kv/before", "b"), 204);
	proc_node_kill(&nodes[2]);

	assert_int_equal(status_at(0, "PUT", "/kv/during?w=quorum", "d"), 204);
	assert_int_equal(status_at(1, "PUT", "/kv/during2", "d2"), 204);
	assert_value_at(1, "/kv/during?r=quorum", "d");
	assert_value_at(0, "/kv/before", "b");

	req(0, &r, "PUT", "/kv/all?w=all", NULL, "a");
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "\"needed\":3"));
	assert_non_null(strstr(r.body, "\"acked\":2"));
	proc_resp_free(&r);

	req(0, &r, "GET", "/kv/before?r=all", NULL, NULL);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "\"needed\":3"));
	proc_resp_free(&r);
}

static void test_concurrent_writes_become_siblings(void **state)
{
	struct proc_resp r;
	(void)state;
	assert_int_equal(status_at(0, "PUT", "/kv/contested", "from-a"), 204);
	assert_int_equal(status_at(1, "PUT", "/kv/contested", "from-b"), 204);

	req(2, &r, "GET", "/kv/contested", NULL, NULL);
	assert_int_equal(r.status, 300);
	assert_non_null(strstr(r.body, "from-a"));
	assert_non_null(strstr(r.body, "from-b"));
	char ctx[2048];
	snprintf(ctx, sizeof(ctx), "%s", proc_resp_header(&r, "X-Context"));
	proc_resp_free(&r);

	const char *const h[] = {"X-Context", ctx, NULL};
	req(2, &r, "PUT", "/kv/contested", h, "resolved");
	assert_int_equal(r.status, 204);
	proc_resp_free(&r);
	for (int i = 0; i < NNODES; i++)
		assert_value_at(i, "/kv/contested", "resolved");
}

struct local_check {
	int node;
	const char *path;
	const char *want;
};

static bool local_holds(void *arg)
{
	struct local_check *lc = arg;
	struct proc_resp r;
	bool ok = proc_http(nodes[lc->node].http_port, "GET", lc->path, NULL,
	                    NULL, 0, T_TIMEOUT_MS, &r) == 0 &&
	          r.status == 200 && strcmp(r.body, lc->want) == 0;
	proc_resp_free(&r);
	return ok;
}

/* A counter of a node's /stats. */
static unsigned long long stat_at(int node, const char *name)
{
	struct proc_resp r;
	char field[64];
	const char *p = NULL;
	unsigned long long v = 0;

	snprintf(field, sizeof(field), "\"%s\":", name);
	req(node, &r, "GET", "/stats", NULL, NULL);
	assert_int_equal(r.status, 200);
	p = strstr(r.body, field);
	assert_non_null(p);
	v = strtoull(p + strlen(field), NULL, 10);
	proc_resp_free(&r);
	return v;
}

/* A paused replica misses a write; once it runs again, a quorum read
 * brings its own copy up to date. */
static void test_read_repair_after_pause(void **state)
{
	struct local_check lc = {2, "/kv/paused?replica=local", "new"};
	(void)state;
	assert_int_equal(status_at(0, "PUT", "/kv/paused", "old"), 204);
	assert_true(proc_wait_for(
	    local_holds,
	    &(struct local_check){2, "/kv/paused?replica=local", "old"},
	    T_TIMEOUT_MS));

	proc_node_signal(&nodes[2], SIGSTOP);
	struct proc_resp r;
	req(0, &r, "GET", "/kv/paused", NULL, NULL);
	char ctx[2048];
	snprintf(ctx, sizeof(ctx), "%s", proc_resp_header(&r, "X-Context"));
	proc_resp_free(&r);
	const char *const h[] = {"X-Context", ctx, NULL};
	req(0, &r, "PUT", "/kv/paused?w=2&timeout=500", h, "new");
	assert_int_equal(r.status, 204);
	proc_resp_free(&r);
	proc_node_signal(&nodes[2], SIGCONT);

	assert_value_at(1, "/kv/paused", "new");
	assert_true(proc_wait_for(local_holds, &lc, T_TIMEOUT_MS));
}

/* A replica that was down during a write has nothing of it when it comes
 * back; only read repair can give it the value here. */
static void test_read_repair_after_restart(void **state)
{
	struct local_check lc = {2, "/kv/missed?replica=local", "value"};
	(void)state;
	proc_node_kill(&nodes[2]);
	assert_int_equal(status_at(0, "PUT", "/kv/missed", "value"), 204);
	assert_int_equal(proc_node_start(&nodes[2]), 0);
	assert_int_equal(status_at(2, "GET", "/kv/missed?replica=local", NULL),
	                 404);

	assert_value_at(1, "/kv/missed?r=all", "value");
	assert_true(proc_wait_for(local_holds, &lc, T_TIMEOUT_MS));
	assert_value_at(2, "/kv/missed?replica=local", "value");
}

/* A replica down during an update comes back with the old value. A read
 * compares digests: the replica holding the update matches the reading
 * node's copy and sends no object; the stale one does not, its object
 * is fetched, and read repair brings it up to date. */
static void test_stale_digest_is_repaired(void **state)
{
	struct local_check lc = {2, "/kv/stale?replica=local", "new"};
	struct proc_resp r;
	char ctx[2048];
	(void)state;
	assert_int_equal(status_at(0, "PUT", "/kv/stale?w=all", "old"), 204);
	req(0, &r, "GET", "/kv/stale", NULL, NULL);
	snprintf(ctx, sizeof(ctx), "%s", proc_resp_header(&r, "X-Context"));
	proc_resp_free(&r);
	proc_node_kill(&nodes[2]);
	const char *const h[] = {"X-Context", ctx, NULL};
	req(0, &r, "PUT", "/kv/stale", h, "new");
	assert_int_equal(r.status, 204);
	proc_resp_free(&r);
	assert_int_equal(proc_node_start(&nodes[2]), 0);
	assert_value_at(2, "/kv/stale?replica=local", "old");

	unsigned long long same = stat_at(1, "digest_matches");
	unsigned long long differ = stat_at(1, "digest_mismatches");
	assert_value_at(1, "/kv/stale?r=all", "new");
	assert_int_equal(stat_at(1, "digest_matches"), same + 1);
	assert_int_equal(stat_at(1, "digest_mismatches"), differ + 1);
	assert_true(proc_wait_for(local_holds, &lc, T_TIMEOUT_MS));
}

static void test_restarted_node_keeps_acknowledged(void **state)
{
	char path[64], val[64];
	(void)state;
	for (int k = 0; k < 100; k++) {
		snprintf(path, sizeof(path), "/kv/kept-%d?w=all", k);
		snprintf(val, sizeof(val), "k%d", k);
		assert_int_equal(status_at(k % NNODES, "PUT", path, val), 204);
	}
	proc_node_kill(&nodes[1]);
	assert_int_equal(proc_node_start(&nodes[1]), 0);
	for (int k = 0; k < 100; k++) {
		snprintf(path, sizeof(path), "/kv/kept-%d?replica=local", k);
		snprintf(val, sizeof(val), "k%d", k);
		assert_value_at(1, path, val);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ring_and_members,
	                                    cluster_setup, cluster_teardown),
	    cmocka_unit_test_setup_teardown(test_write_here_read_there,
	                                    cluster_setup, cluster_teardown),
	    cmocka_unit_test_setup_teardown(test_one_node_dead, cluster_setup,
	                                    cluster_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_concurrent_writes_become_siblings, cluster_setup,
	        cluster_teardown),
	    cmocka_unit_test_setup_teardown(test_read_repair_after_pause,
	                                    cluster_setup, cluster_teardown),
	    cmocka_unit_test_setup_teardown(test_read_repair_after_restart,
	                                    cluster_setup, cluster_teardown),
	    cmocka_unit_test_setup_teardown(test_stale_digest_is_repaired,
	                                    cluster_setup, cluster_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_restarted_node_keeps_acknowledged, cluster_setup,
	        cluster_teardown),
	};
	proc_deadline(300);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
