/* test_node.c -- one real ringkvd process, driven over HTTP.
 *
 * What a user of a single node notices: values read back with their
 * metadata, siblings as 300 multipart resolved by a context, refusals that
 * change nothing, and durability -- an acknowledged write survives kill -9
 * and a clean stop.
 */
#include "proc.h"

#include "ring/hash.h"

#include <lmdb.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define T_TIMEOUT_MS 5000

static struct proc_node node;

static int node_setup(void **state)
{
	static int runs;
	char name[32];
	(void)state;
	snprintf(name, sizeof(name), "node%d", runs++);
	proc_node_init(&node, name);
	node.args[0] = "--max-value-bytes";
	node.args[1] = "1000";
	node.args[2] = NULL; /* max_key_bytes keeps its default, 1024 */
	return proc_node_start(&node);
}

static int node_teardown(void **state)
{
	(void)state;
	proc_node_kill(&node);
	return 0;
}

/* One request to the node; asserts a response arrived. */
static void req(struct proc_resp *r, const char *method, const char *path,
                const char *const *headers, const char *body)
{
	int rc = proc_http(node.http_port, method, path, headers, body,
	                   body ? strlen(body) : 0, T_TIMEOUT_MS, r);
	if (rc != 0)
		proc_node_print_log(&node);
	assert_int_equal(rc, 0);
}

static int status_of(const char *method, const char *path,
                     const char *const *headers, const char *body)
{
	struct proc_resp r;
	req(&r, method, path, headers, body);
	int status = r.status;
	proc_resp_free(&r);
	return status;
}

static void assert_value(const char *path, const char *want)
{
	struct proc_resp r;
	req(&r, "GET", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, want);
	proc_resp_free(&r);
}

/* Last-Modified is an RFC 7231 IMF-fixdate of the write, which happened
 * between before and after (seconds since the epoch). */
static void assert_http_date(const char *text, time_t before, time_t after)
{
	struct tm tm;
	char again[64];
	time_t t = 0;
	const char *end = NULL;

	assert_non_null(text);
	memset(&tm, 0, sizeof(tm));
	end = strptime(text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	assert_non_null(end);
	assert_int_equal(*end, '\0');
	t = timegm(&tm);
	assert_true(t >= before && t <= after);
	/* Exactly the form strftime gives, in the C locale. */
	strftime(again, sizeof(again), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	assert_string_equal(text, again);
}

/* An ETag: a quoted 64-bit hash in lower-case hex. */
static void assert_etag(const char *text)
{
	assert_non_null(text);
	assert_int_equal(strlen(text), 18);
	assert_int_equal(text[0], '"');
	assert_int_equal(text[17], '"');
	assert_int_equal(strspn(text + 1, "0123456789abcdef"), 16);
}

static void test_put_get_delete(void **state)
{
	struct proc_resp r;
	const char *const ct[] = {"Content-Type", "text/plain", NULL};
	(void)state;

	time_t before = time(NULL);
	req(&r, "PUT", "/kv/greeting", ct, "hello");
	assert_int_equal(r.status, 204);
	assert_non_null(proc_resp_header(&r, "X-Context"));
	proc_resp_free(&r);
	time_t after = time(NULL);

	req(&r, "GET", "/kv/greeting", NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "hello");
	assert_string_equal(proc_resp_header(&r, "Content-Type"), "text/plain");
	assert_etag(proc_resp_header(&r, "ETag"));
	assert_http_date(proc_resp_header(&r, "Last-Modified"), before, after);
	char etag[32];
	snprintf(etag, sizeof(etag), "%s", proc_resp_header(&r, "ETag"));
	char ctx[1024];
	snprintf(ctx, sizeof(ctx), "%s", proc_resp_header(&r, "X-Context"));
	proc_resp_free(&r);

	/* Another write, another ETag. */
	const char *const upd[] = {"X-Context", ctx, "Content-Type",
	                           "text/plain", NULL};
	req(&r, "PUT", "/kv/greeting", upd, "hello again");
	assert_int_equal(r.status, 204);
	proc_resp_free(&r);
	req(&r, "GET", "/kv/greeting", NULL, NULL);
	assert_string_equal(r.body, "hello again");
	assert_etag(proc_resp_header(&r, "ETag"));
	assert_string_not_equal(proc_resp_header(&r, "ETag"), etag);
	snprintf(ctx, sizeof(ctx), "%s", proc_resp_header(&r, "X-Context"));
	proc_resp_free(&r);

	/* Keys are URL-decoded bytes: %20 and a literal space are one key. */
	assert_int_equal(status_of("PUT", "/kv/with%20space", NULL, "s"), 204);
	assert_value("/kv/with%20space", "s");
	/* A key without escapes is taken as it is, one with escapes is
	 * decoded: both ways reach one key, and '+' is a plus. */
	assert_int_equal(status_of("PUT", "/kv/a+b", NULL, "plus"), 204);
	assert_value("/kv/a%2Bb", "plus");
	assert_value("/kv/%61+b", "plus");
	assert_int_equal(status_of("GET", "/kv/a%20b", NULL, NULL), 404);

	const char *const del[] = {"X-Context", ctx, NULL};
	assert_int_equal(status_of("DELETE", "/kv/greeting", del, NULL), 204);
	req(&r, "GET", "/kv/greeting", NULL, NULL);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.body, "\"error\""));
	proc_resp_free(&r);

	assert_int_equal(status_of("GET", "/kv/never-written", NULL, NULL),
	                 404);
}

static void test_siblings_resolved_by_context(void **state)
{
	struct proc_resp r;
	(void)state;

	assert_int_equal(status_of("PUT", "/kv/sib", NULL, "first"), 204);
	assert_int_equal(status_of("PUT", "/kv/sib", NULL, "second"), 204);

	req(&r, "GET", "/kv/sib", NULL, NULL);
	assert_int_equal(r.status, 300);
	assert_non_null(strstr(proc_resp_header(&r, "Content-Type"),
	                       "multipart/mixed; boundary="));
	assert_non_null(strstr(r.body, "\r\n\r\nfirst\r\n"));
	assert_non_null(strstr(r.body, "\r\n\r\nsecond\r\n"));
	char ctx[1024];
	snprintf(ctx, sizeof(ctx), "%s", proc_resp_header(&r, "X-Context"));
	proc_resp_free(&r);

	const char *const h[] = {"X-Context", ctx, NULL};
	assert_int_equal(status_of("PUT", "/kv/sib", h, "merged"), 204);
	assert_value("/kv/sib", "merged");
}

/* Without a Content-Type, or with the default one, a value reads back as
 * application/octet-stream, alone and as a sibling part. */
static void assert_octet_stream(const char *path)
{
	struct proc_resp r;

	req(&r, "GET", path, NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(proc_resp_header(&r, "Content-Type"),
	                    "application/octet-stream");
	proc_resp_free(&r);
}

static void test_default_content_type(void **state)
{
	struct proc_resp r;
	const char *const octet[] = {"Content-Type", "application/octet-stream",
	                             NULL};
	(void)state;

	assert_int_equal(status_of("PUT", "/kv/untyped", NULL, "u"), 204);
	assert_octet_stream("/kv/untyped");
	assert_int_equal(status_of("PUT", "/kv/octet", octet, "o"), 204);
	assert_octet_stream("/kv/octet");

	assert_int_equal(status_of("PUT", "/kv/octet", NULL, "p"), 204);
	req(&r, "GET", "/kv/octet", NULL, NULL);
	assert_int_equal(r.status, 300);
	const char *part = "Content-Type: application/octet-stream\r\n";
	const char *first = strstr(r.body, part);
	assert_non_null(first);
	assert_non_null(strstr(first + strlen(part), part));
	assert_null(strstr(r.body, "Content-Type: \r\n"));
	proc_resp_free(&r);
}

static void test_bad_input_changes_nothing(void **state)
{
	struct proc_resp r;
	char big[1100], longkey[1100];
	(void)state;

	assert_int_equal(status_of("PUT", "/kv/keep", NULL, "original"), 204);

	const char *const bad_ctx[] = {"X-Context", "!!not-base64!!", NULL};
	req(&r, "PUT", "/kv/keep", bad_ctx, "changed");
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.body, "X-Context"));
	proc_resp_free(&r);
	const char *const bad_ctx2[] = {"X-Context", "AAAA", NULL};
	assert_int_equal(status_of("PUT", "/kv/keep", bad_ctx2, "changed"),
	                 400);

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	req(&r, "PUT", "/kv/keep", NULL, big);
	assert_int_equal(r.status, 413);
	assert_non_null(strstr(r.body, "\"error\""));
	proc_resp_free(&r);
	assert_int_equal(status_of("PUT", "/kv/huge", NULL, big), 413);
	assert_int_equal(status_of("GET", "/kv/huge", NULL, NULL), 404);

	assert_int_equal(status_of("PUT", "/kv/", NULL, "v"), 400);
	memcpy(longkey, "/kv/", 4);
	memset(longkey + 4, 'k', 1025);
	longkey[4 + 1025] = '\0';
	assert_int_equal(status_of("PUT", longkey, NULL, "v"), 400);
	assert_int_equal(status_of("GET", longkey, NULL, NULL), 400);
	/* 1024 bytes is allowed, although LMDB keys stop at 511 bytes */
	longkey[4 + 1024] = '\0';
	assert_int_equal(status_of("PUT", longkey, NULL, "long"), 204);
	assert_value(longkey, "long");
	longkey[4 + 1023] = 'j'; /* same first 1023 bytes: another key */
	assert_int_equal(status_of("GET", longkey, NULL, NULL), 404);

	assert_int_equal(status_of("PUT", "/kv/keep?w=7", NULL, "v"), 400);
	assert_int_equal(status_of("PUT", "/kv/keep?w=two", NULL, "v"), 400);
	assert_int_equal(status_of("GET", "/kv/keep?timeout=-1", NULL, NULL),
	                 400);
	assert_int_equal(status_of("GET", "/kv/keep?bogus=1", NULL, NULL), 400);
	assert_int_equal(
	    status_of("GET", "/kv/keep?r=quorum&timeout=100", NULL, NULL), 200);
	/* one node holds every replica there is: "all" is that one */
	assert_int_equal(status_of("GET", "/kv/keep?r=all", NULL, NULL), 200);
	assert_int_equal(status_of("PUT", "/kv/other?w=all", NULL, "v"), 204);

	req(&r, "PATCH", "/kv/keep", NULL, "v");
	assert_int_equal(r.status, 405);
	assert_non_null(proc_resp_header(&r, "Allow"));
	proc_resp_free(&r);
	assert_int_equal(status_of("POST", "/ping", NULL, "v"), 405);
	assert_int_equal(status_of("GET", "/no/such/path", NULL, NULL), 404);

	assert_value("/kv/keep", "original");
}

/* Raw bytes on a socket, for requests no HTTP client would send. */
static int raw_status(const char *bytes)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_port = htons((uint16_t)node.http_port),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	char buf[256] = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int status = 0;
	struct timeval tv = {5, 0};

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_true(write(fd, bytes, strlen(bytes)) == (ssize_t)strlen(bytes));
	shutdown(fd, SHUT_WR);
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0 && sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	close(fd);
	return status;
}

static void test_malformed_http(void **state)
{
	(void)state;
	int s = raw_status("GARBAGE\r\n\r\n");
	assert_true(s == 400 || s == 0); /* refused or closed, never served */
	s = raw_status("PUT /kv/x HTTP/1.1\r\nContent-Length: nope\r\n\r\n");
	assert_true(s == 400 || s == 0);
	assert_int_equal(status_of("GET", "/kv/x", NULL, NULL), 404);
	assert_int_equal(status_of("GET", "/ping", NULL, NULL), 200);
}

/* The node's actor, from /stats, when it is still its node id (the
 * writes of a node that never lost any); asserts it is. */
static void assert_actor_is_node_id(void)
{
	struct proc_resp r;
	char want[64];

	req(&r, "GET", "/stats", NULL, NULL);
	assert_int_equal(r.status, 200);
	const char *id = strstr(r.body, "\"node_id\":\"");
	assert_non_null(id);
	snprintf(want, sizeof(want), "\"actor\":\"%.16s\"", id + 11);
	assert_non_null(strstr(r.body, want));
	proc_resp_free(&r);
}

static void test_stats(void **state)
{
	struct proc_resp r;
	(void)state;
	assert_int_equal(status_of("PUT", "/kv/s1", NULL, "v"), 204);
	assert_int_equal(status_of("GET", "/kv/s1", NULL, NULL), 200);
	req(&r, "GET", "/stats", NULL, NULL);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"keys\":1,"));
	assert_non_null(strstr(r.body, "\"put\":1,"));
	assert_non_null(strstr(r.body, "\"204\":1,"));
	assert_non_null(strstr(r.body, "\"disk_bytes\":"));
	assert_non_null(strstr(r.body, "\"p99\":"));
	assert_non_null(strstr(r.body, "\"checkpoint_us\":{\"count\":"));
	/* both requests were for the partition of s1 */
	char hot[96];
	snprintf(hot, sizeof(hot),
	         "\"partitions_hot\":[{\"partition\":%u,\"ops\":2}]",
	         ring_partition_of("s1", 2, 64));
	assert_non_null(strstr(r.body, hot));
	proc_resp_free(&r);
	assert_actor_is_node_id();
}

/* A number the node's /stats reports under "name". */
static uint64_t stats_number(const char *name)
{
	struct proc_resp r;
	char field[64];
	const char *at = NULL;
	uint64_t n = 0;

	req(&r, "GET", "/stats", NULL, NULL);
	assert_int_equal(r.status, 200);
	snprintf(field, sizeof(field), "\"%s\":", name);
	at = strstr(r.body, field);
	assert_non_null(at);
	n = strtoull(at + strlen(field), NULL, 10);
	proc_resp_free(&r);
	return n;
}

/* 200 acknowledged PUTs, SIGKILL, a restart: every value is there.
 * nonzero, if given, is a /stats counter the PUTs must have moved. */
static void writes_survive_kill9(const char *nonzero)
{
	char path[64], val[64];

	for (int i = 0; i < 200; i++) {
		snprintf(path, sizeof(path), "/kv/durable-%d", i);
		snprintf(val, sizeof(val), "value-%d", i);
		assert_int_equal(status_of("PUT", path, NULL, val), 204);
	}
	if (nonzero != NULL)
		assert_true(stats_number(nonzero) > 0);
	proc_node_kill(&node);
	assert_int_equal(proc_node_start(&node), 0);
	for (int i = 0; i < 200; i++) {
		snprintf(path, sizeof(path), "/kv/durable-%d", i);
		snprintf(val, sizeof(val), "value-%d", i);
		assert_value(path, val);
	}
}

/* Acknowledged under sync = batch means durable: SIGKILL right after the
 * last acknowledgement loses nothing. */
static void test_kill9_keeps_acknowledged_writes(void **state)
{
	(void)state;
	writes_survive_kill9(NULL);
}

/* Whether the log at path holds text (in its first 64 KiB). */
static bool log_has(const char *path, const char *text)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, text) != NULL;
}

/* sync = periodic answers before the flush, but a write it acknowledged is
 * committed: the kernel holds it when only the process dies. Checkpoints
 * every millisecond put most PUTs in a checkpoint's commit, applied by
 * the loop and carried over to the log's next pass. */
static void test_kill9_periodic_keeps_acknowledged_writes(void **state)
{
	(void)state;
	proc_node_kill(&node);
	node.args[2] = "--sync";
	node.args[3] = "periodic";
	node.args[4] = "--sync-interval-ms";
	node.args[5] = "60000"; /* no flush during the test */
	node.args[6] = "--checkpoint-interval-ms";
	node.args[7] = "1";
	node.args[8] = NULL;
	assert_int_equal(proc_node_start(&node), 0);
	assert_true(log_has(node.log, "sync periodic"));
	writes_survive_kill9("checkpoint_groups");
	/* Only the process died: its commits were in the page cache, so the
	 * node goes on writing under its own id. */
	assert_actor_is_node_id();
}

static void test_sigterm_exits_zero_and_keeps_data(void **state)
{
	(void)state;
	assert_int_equal(status_of("PUT", "/kv/clean", NULL, "stop"), 204);
	proc_node_signal(&node, SIGTERM);
	int status = proc_node_wait(&node, 15000);
	assert_true(status != -1);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(proc_node_start(&node), 0);
	assert_value("/kv/clean", "stop");
}

static void test_second_instance_refused(void **state)
{
	struct proc_node twin = node; /* same data directory, other ports */
	(void)state;
	twin.pid = 0;
	twin.http_port = proc_free_port();
	twin.rpc_port = proc_free_port();
	snprintf(twin.log, sizeof(twin.log), "%s/twin.log", proc_tmpdir());
	assert_int_not_equal(proc_node_start(&twin), 0);
	assert_true(log_has(twin.log, "in use"));
	/* The refused twin did not disturb the node that holds the directory.
	 */
	assert_int_equal(status_of("GET", "/ping", NULL, NULL), 200);
}

/* ringkvd --compact on the node's data directory: its exit status, with
 * what it printed in out and its log lines appended to the node's log. */
static int compact_node_dir(char *out, size_t cap)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), "%s --data-dir %s --compact 2>>%s",
	         proc_ringkvd(), node.dir, node.log);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	size_t n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_compact_offline(void **state)
{
	enum { N = 200 };
	char out[512], path[64], value[64];
	(void)state;

	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "/kv/c-%d", i);
		snprintf(value, sizeof(value), "value %d", i);
		assert_int_equal(status_of("PUT", path, NULL, value), 204);
	}
	/* Not while the node runs; the node keeps serving. */
	assert_int_equal(compact_node_dir(out, sizeof(out)), 1);
	assert_value("/kv/c-0", "value 0");

	proc_node_signal(&node, SIGTERM);
	assert_true(proc_node_wait(&node, 15000) != -1);
	assert_int_equal(compact_node_dir(out, sizeof(out)), 0);
	assert_non_null(strstr(out, "compacted "));
	assert_int_equal(proc_node_start(&node), 0);
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "/kv/c-%d", i);
		snprintf(value, sizeof(value), "value %d", i);
		assert_value(path, value);
	}
}

static void put_numbered(const char *prefix, int from, int to)
{
	char path[64], value[64];

	for (int i = from; i < to; i++) {
		snprintf(path, sizeof(path), "/kv/%s-%d", prefix, i);
		snprintf(value, sizeof(value), "value %d", i);
		assert_int_equal(status_of("PUT", path, NULL, value), 204);
	}
}

static void assert_numbered(const char *prefix, int from, int to)
{
	char path[64], value[64];

	for (int i = from; i < to; i++) {
		snprintf(path, sizeof(path), "/kv/%s-%d", prefix, i);
		snprintf(value, sizeof(value), "value %d", i);
		assert_value(path, value);
	}
}

/* Waits (up to 20 s) until /stats counts at least n online compactions. */
static void wait_compactions(uint64_t n)
{
	for (int i = 0; stats_number("completed") < n; i++) {
		assert_true(i < 2000);
		usleep(10000);
	}
}

/* POST /admin/compact compacts the running node while it serves; what
 * it held and what it took meanwhile survive a kill -9. */
static void test_compact_online(void **state)
{
	struct proc_resp r;
	(void)state;

	put_numbered("c", 0, 300);
	req(&r, "POST", "/admin/compact", NULL, NULL);
	assert_int_equal(r.status, 202);
	assert_non_null(strstr(r.body, "\"compacting\":true"));
	proc_resp_free(&r);
	put_numbered("during", 0, 50);
	wait_compactions(1);
	assert_true(stats_number("after_bytes") > 0);
	assert_numbered("c", 0, 300);
	assert_numbered("during", 0, 50);
	put_numbered("after", 0, 50);
	assert_int_equal(status_of("GET", "/admin/compact", NULL, NULL), 405);

	proc_node_kill(&node);
	assert_int_equal(proc_node_start(&node), 0);
	assert_numbered("c", 0, 300);
	assert_numbered("during", 0, 50);
	assert_numbered("after", 0, 50);
}

/* kill -9 in the middle of a compaction: the restarted node has every
 * value and no copy left behind. */
static void test_kill9_during_compaction(void **state)
{
	char path[300];
	(void)state;

	put_numbered("k", 0, 300);
	assert_int_equal(status_of("POST", "/admin/compact", NULL, NULL), 202);
	proc_node_kill(&node);
	assert_int_equal(proc_node_start(&node), 0);
	assert_numbered("k", 0, 300);
	snprintf(path, sizeof(path), "%s/data.mdb.compact", node.dir);
	assert_int_not_equal(access(path, F_OK), 0);
	put_numbered("k", 300, 310);
	assert_numbered("k", 300, 310);
}

/* A node whose database grew well past what a compaction would leave
 * compacts itself once the writes quieten. */
static void test_compact_automatic(void **state)
{
	(void)state;

	proc_node_kill(&node);
	node.args[2] = "--compact-check-ms";
	node.args[3] = "50";
	node.args[4] = "--compact-min-bytes";
	node.args[5] = "0";
	node.args[6] = "--compact-ratio";
	node.args[7] = "1.1";
	node.args[8] = NULL;
	assert_int_equal(proc_node_start(&node), 0);
	put_numbered("auto", 0, 300);
	wait_compactions(1);
	assert_numbered("auto", 0, 300);
	assert_true(log_has(node.log, "a compaction would leave about"));
}

/* Flips one byte of a stored value behind the node's back: the node
 * answers 500 and names the key in its log, and keeps serving others. */
static void test_corrupt_record_reported(void **state)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k, v;
	unsigned char kbuf[64];
	(void)state;

	assert_int_equal(status_of("PUT", "/kv/victim", NULL, "precious"), 204);
	assert_int_equal(status_of("PUT", "/kv/bystander", NULL, "fine"), 204);
	proc_node_signal(&node, SIGTERM);
	assert_true(proc_node_wait(&node, 15000) != -1);

	uint32_t p = ring_partition_of("victim", 6, 64);
	kbuf[0] = (unsigned char)(p >> 24);
	kbuf[1] = (unsigned char)(p >> 16);
	kbuf[2] = (unsigned char)(p >> 8);
	kbuf[3] = (unsigned char)p;
	memcpy(kbuf + 4, "victim", 6);
	k.mv_data = kbuf;
	k.mv_size = 10;
	assert_int_equal(mdb_env_create(&env), 0);
	assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
	assert_int_equal(mdb_env_open(env, node.dir, 0, 0644), 0);
	assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
	assert_int_equal(mdb_dbi_open(txn, "objects", 0, &dbi), 0);
	assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
	unsigned char *copy = malloc(v.mv_size);
	memcpy(copy, v.mv_data, v.mv_size);
	copy[v.mv_size / 2] ^= 0x40;
	v.mv_data = copy;
	assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
	assert_int_equal(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	free(copy);

	assert_int_equal(proc_node_start(&node), 0);
	assert_int_equal(status_of("GET", "/kv/victim", NULL, NULL), 500);
	assert_value("/kv/bystander", "fine");
	FILE *f = fopen(node.log, "r");
	char line[1024];
	bool named = false;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		named |= strstr(line, "victim") != NULL &&
		         strstr(line, "error") != NULL;
	fclose(f);
	assert_true(named);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_put_get_delete, node_setup,
	                                    node_teardown),
	    cmocka_unit_test_setup_teardown(test_siblings_resolved_by_context,
	                                    node_setup, node_teardown),
	    cmocka_unit_test_setup_teardown(test_default_content_type,
	                                    node_setup, node_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_input_changes_nothing,
	                                    node_setup, node_teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_http, node_setup,
	                                    node_teardown),
	    cmocka_unit_test_setup_teardown(test_stats, node_setup,
	                                    node_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_kill9_keeps_acknowledged_writes, node_setup,
	        node_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_kill9_periodic_keeps_acknowledged_writes, node_setup,
	        node_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_sigterm_exits_zero_and_keeps_data, node_setup,
	        node_teardown),
	    cmocka_unit_test_setup_teardown(test_second_instance_refused,
	                                    node_setup, node_teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_record_reported,
	                                    node_setup, node_teardown),
	    cmocka_unit_test_setup_teardown(test_compact_online, node_setup,
	                                    node_teardown),
	    cmocka_unit_test_setup_teardown(test_kill9_during_compaction,
	                                    node_setup, node_teardown),
	    cmocka_unit_test_setup_teardown(test_compact_automatic, node_setup,
	                                    node_teardown),
	    cmocka_unit_test_setup_teardown(test_compact_offline, node_setup,
	                                    node_teardown),
	};
	proc_deadline(300);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
