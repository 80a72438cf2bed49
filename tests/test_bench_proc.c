/* test_bench_proc.c -- ringkv-bench against real ringkvd processes.
 *
 * What a user of the load generator relies on, end to end:
 *
 *   - against one node, a short run completes (exit 0), measures a
 *     non-zero throughput, and --verify finds every acknowledged write
 *     (0 lost, 0 unreadable); updates carried the contexts they last saw;
 *   - the same against a 3-node cluster founded with common --seeds;
 *   - a node SIGKILLed mid-run: the bench counts the failed requests,
 *     reports them in its summary and exits 0 -- the run completed, and
 *     errors are a result of the run; exit 1 is reserved for --verify
 *     finding lost or unreadable writes -- never by a signal;
 *   - bad input is refused with exit 2 and one line on stderr.
 *
 * The bench is the ringkv-bench next to $RINGKVD (both are in src/ of the
 * build). Every run is a child with its stdout and stderr in files of the
 * test's temporary directory, waited for with a deadline and killed by
 * PID past it; the --json summary is read with the bench's own scanner
 * (bench_json.h). Nothing sleeps a fixed time: the mid-run kill waits for
 * the bench's first measured progress line.
 */
#include "bench_json.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define NNODES         3
#define BENCH_WAIT_MS  30000
#define BENCH_MAX_ARGS 40
#define NODES_TEXT_MAX 256

struct bench_run {
	pid_t pid;
	int status; /* wait status; -1 while running */
	char out_path[320], err_path[320];
	char *out, *err; /* the files' contents, after bench_finish */
	size_t out_len, err_len;
};

static char bench_bin[512];

/* The bench next to $RINGKVD. */
static const char *bench_path(void)
{
	if (bench_bin[0] == '\0')
		proc_sibling("ringkv-bench", bench_bin, sizeof(bench_bin));
	return bench_bin;
}

/* Start ringkv-bench with args (NULL-terminated, without argv[0]). */
static void bench_start(struct bench_run *r, const char *const *args)
{
	static int runs;
	const char *argv[BENCH_MAX_ARGS + 2];
	int argc = 0;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	snprintf(r->out_path, sizeof(r->out_path), "%s/bench%d.out",
	         proc_tmpdir(), runs);
	snprintf(r->err_path, sizeof(r->err_path), "%s/bench%d.err",
	         proc_tmpdir(), runs);
	runs++;
	argv[argc++] = bench_path();
	for (int i = 0; args[i] != NULL && argc < BENCH_MAX_ARGS + 1; i++)
		argv[argc++] = args[i];
	argv[argc] = NULL;

	r->pid = fork();
	assert_true(r->pid >= 0);
	if (r->pid == 0) {
		int out = open(r->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int err = open(r->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (out < 0 || err < 0)
			_exit(126);
		dup2(out, STDOUT_FILENO);
		dup2(err, STDERR_FILENO);
		close(out);
		close(err);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "execv %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	*len = 0;
	if (f == NULL)
		return strdup("");
	size_t cap = 0;
	for (;;) {
		if (*len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			char *nb = realloc(buf, cap);
			assert_non_null(nb);
			buf = nb;
		}
		size_t n = fread(buf + *len, 1, cap - *len - 1, f);
		*len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

static void bench_print(const struct bench_run *r)
{
	fprintf(stderr, "# --- bench stdout ---\n%s# --- bench stderr ---\n%s",
	        r->out, r->err);
}

/* Wait for the bench to exit (killing it past the deadline), then read
 * what it wrote. */
static void bench_finish(struct bench_run *r)
{
	int st;
	for (int waited = 0; r->status == -1; waited += 10) {
		pid_t got = waitpid(r->pid, &st, WNOHANG);
		if (got == r->pid) {
			r->status = st;
			break;
		}
		if (waited >= BENCH_WAIT_MS) {
			fprintf(stderr, "# the bench did not finish: killed\n");
			kill(r->pid, SIGKILL);
			waitpid(r->pid, &st, 0);
			r->status = st;
			break;
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	r->out = slurp(r->out_path, &r->out_len);
	r->err = slurp(r->err_path, &r->err_len);
	/* in the sanitizer build, a report fails the run it came from */
	if (strstr(r->err, "Sanitizer") != NULL ||
	    strstr(r->err, "runtime error:") != NULL)
		bench_print(r);
	assert_null(strstr(r->err, "Sanitizer"));
	assert_null(strstr(r->err, "runtime error:"));
}

static void bench_free(struct bench_run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

static void bench_run_args(struct bench_run *r, const char *const *args)
{
	bench_start(r, args);
	bench_finish(r);
}

static int exit_code(const struct bench_run *r)
{
	return WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

/* A number of the --json summary at a dotted path ("ops.total.count");
 * fails the test when absent. */
static double json_at(const struct bench_run *r, const char *path)
{
	const char *v = r->out;
	size_t vlen = r->out_len;
	char key[64];

	for (;;) {
		const char *dot = strchr(path, '.');
		size_t klen = dot ? (size_t)(dot - path) : strlen(path);
		assert_true(klen < sizeof(key));
		memcpy(key, path, klen);
		key[klen] = '\0';
		if (dot == NULL) {
			double d = 0;
			int rc = bench_json_number(v, vlen, key, &d);
			if (rc != 0) {
				fprintf(stderr, "# no number at %s\n", path);
				bench_print(r);
			}
			assert_int_equal(rc, 0);
			return d;
		}
		int rc = bench_json_member(v, vlen, key, &v, &vlen);
		if (rc != 0) {
			fprintf(stderr, "# no member %s\n", key);
			bench_print(r);
		}
		assert_int_equal(rc, 0);
		path = dot + 1;
	}
}

static int lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* --- nodes ------------------------------------------------------------ */

static struct proc_node nodes[NNODES];
static int nnodes;

static int one_node_setup(void **state)
{
	static int runs;
	char name[32];
	(void)state;
	snprintf(name, sizeof(name), "one%d", runs++);
	proc_node_init(&nodes[0], name);
	nnodes = 1;
	return proc_node_start(&nodes[0]);
}

static int cluster_setup(void **state)
{
	static int runs;
	char prefix[16];
	(void)state;

	snprintf(prefix, sizeof(prefix), "c%d", runs++);
	nnodes = NNODES;
	return proc_cluster_start(nodes, NNODES, prefix);
}

static int nodes_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < nnodes; i++)
		proc_node_kill(&nodes[i]);
	return 0;
}

/* "127.0.0.1:P,..." of the nodes started. */
static const char *nodes_text(void)
{
	static char text[NODES_TEXT_MAX];
	size_t at = 0;
	text[0] = '\0';
	for (int i = 0; i < nnodes; i++)
		at += (size_t)snprintf(text + at, sizeof(text) - at,
		                       "%s127.0.0.1:%d", i ? "," : "",
		                       nodes[i].http_port);
	return text;
}

/* --- tests ------------------------------------------------------------ */

/* A short verified run of workload a: completes, measures, loses nothing,
 * and its updates sent contexts. */
static void check_verified_run(void)
{
	struct bench_run r;
	const char *const args[] = {"--nodes",
	                            nodes_text(),
	                            "--workload",
	                            "a",
	                            "--records",
	                            "300",
	                            "--value-size",
	                            "100",
	                            "--connections",
	                            "8",
	                            "--duration",
	                            "2",
	                            "--verify",
	                            "--json",
	                            NULL};

	bench_run_args(&r, args);
	if (exit_code(&r) != 0)
		bench_print(&r);
	assert_int_equal(exit_code(&r), 0);
	assert_true(json_at(&r, "ops.total.count") > 0);
	assert_true(json_at(&r, "ops.total.ops_per_s") > 0);
	assert_true(json_at(&r, "ops.total.latency_us.p50") > 0);
	assert_int_equal(json_at(&r, "ops.total.errors"), 0);
	assert_true(json_at(&r, "ops.update.count") > 0);
	assert_true(json_at(&r, "contexts.updates_with_context") > 0);
	assert_true(json_at(&r, "verify.keys") > 0);
	assert_int_equal(json_at(&r, "verify.lost"), 0);
	assert_int_equal(json_at(&r, "verify.unreadable"), 0);
	bench_free(&r);
}

static void test_one_node_run(void **state)
{
	(void)state;
	check_verified_run();
}

/* On the cluster, then workload f's read-modify-writes (their writes
 * carry the contexts of their reads; other keys, so that verify's "only
 * writer" holds), which verify must find too. */
static void test_cluster_run(void **state)
{
	struct bench_run r;
	const char *const args[] = {"--nodes",
	                            nodes_text(),
	                            "--workload",
	                            "f",
	                            "--records",
	                            "200",
	                            "--value-size",
	                            "100",
	                            "--connections",
	                            "8",
	                            "--key-prefix",
	                            "rmw",
	                            "--ops",
	                            "1500",
	                            "--verify",
	                            "--json",
	                            NULL};
	(void)state;

	check_verified_run();
	bench_run_args(&r, args);
	if (exit_code(&r) != 0)
		bench_print(&r);
	assert_int_equal(exit_code(&r), 0);
	assert_int_equal(json_at(&r, "ops.total.count"), 1500);
	assert_true(json_at(&r, "ops.total.ops_per_s") > 0);
	assert_int_equal(json_at(&r, "verify.lost"), 0);
	assert_int_equal(json_at(&r, "verify.unreadable"), 0);
	bench_free(&r);
}

static bool bench_measuring(void *arg)
{
	const struct bench_run *r = arg;
	size_t len;
	char *err = slurp(r->err_path, &len);
	bool yes =
	    strstr(err, "\nrun ") != NULL || strncmp(err, "run ", 4) == 0;
	free(err);
	return yes;
}

/* The only node is SIGKILLed about a second into the measured run: the
 * bench goes on until its --duration, counting every failed request, and
 * exits 0 with the errors in its summary. */
static void test_node_killed_mid_run(void **state)
{
	struct bench_run r;
	const char *const args[] = {
	    "--nodes",       nodes_text(), "--workload",   "b",
	    "--records",     "300",        "--value-size", "100",
	    "--connections", "8",          "--duration",   "3",
	    "--timeout",     "1000",       "--json",       NULL};
	(void)state;

	bench_start(&r, args);
	/* the first progress line of the measured run comes after ~1 s */
	assert_true(proc_wait_for(bench_measuring, &r, 15000));
	proc_node_kill(&nodes[0]);
	bench_finish(&r);
	if (exit_code(&r) != 0)
		bench_print(&r);
	assert_false(WIFSIGNALED(r.status));
	assert_int_equal(exit_code(&r), 0);
	/* it measured before the kill and counted failures after it */
	assert_true(json_at(&r, "ops.total.ops_per_s") > 0);
	assert_true(json_at(&r, "ops.total.ok") > 0);
	assert_true(json_at(&r, "ops.total.errors") > 0);
	assert_int_equal(json_at(&r, "ops.total.errors"),
	                 json_at(&r, "ops.total.net_errors") +
	                     json_at(&r, "ops.total.timeouts"));
	/* and said so on stderr, once per failure at most ten times */
	assert_non_null(strstr(r.err, "127.0.0.1:"));
	bench_free(&r);
}

/* Refused with exit 2 and exactly one line on stderr naming the cause. */
static void check_refused(const char *const *args, const char *says)
{
	struct bench_run r;
	bench_run_args(&r, args);
	if (exit_code(&r) != 2 || lines(r.err) != 1 ||
	    strstr(r.err, says) == NULL)
		bench_print(&r);
	assert_int_equal(exit_code(&r), 2);
	assert_int_equal(lines(r.err), 1);
	assert_non_null(strstr(r.err, says));
	assert_int_equal(r.out_len, 0);
	bench_free(&r);
}

static void test_bad_input(void **state)
{
	char dead[32];
	(void)state;

	const char *const unknown[] = {"--bogus", "1", NULL};
	check_refused(unknown, "unknown option '--bogus'");

	const char *const nothing_to_read[] = {"--records", "0", "--workload",
	                                       "c", NULL};
	check_refused(nothing_to_read, "--records 0");

	/* a port nothing listens on */
	snprintf(dead, sizeof(dead), "127.0.0.1:%d", proc_free_port());
	const char *const unreachable[] = {"--nodes", dead, "--duration", "1",
	                                   NULL};
	check_refused(unreachable, "unreachable");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test_setup_teardown(test_one_node_run, one_node_setup,
	                                    nodes_teardown),
	    cmocka_unit_test_setup_teardown(test_node_killed_mid_run,
	                                    one_node_setup, nodes_teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_run, cluster_setup,
	                                    nodes_teardown),
	};
	proc_deadline(120);
	fprintf(stderr, "# bench: %s\n", bench_path());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
