/* test_cli.c -- the ringkv admin CLI against a real 3-node cluster.
 *
 * The cluster is started once, like test_cluster.c's (three founders,
 * n_val 3), and the CLI binary is run as a user runs it: fork/exec with
 * its stdout, stderr and exit status captured (files in the test's temp
 * directory, so a large output cannot block the child on a full pipe),
 * and every run bounded by a deadline. The binary is $RINGKV_CLI when set,
 * else the `ringkv` next to $RINGKVD (both are built into src/).
 *
 * What a user notices: every subcommand's table has its header and one row
 * per member or partition, and --json is one valid JSON object; a value
 * written through one node reads back byte for byte through another;
 * concurrent writes come back as separated siblings that `put --context`
 * resolves; `del` makes a key missing; and the exit status says which
 * kind of failure happened (1 the node refused, 2 usage, 3 unreachable).
 */
#include "proc.h"

#include "bench_json.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define NNODES       3
#define CLI_MAX_ARGV 24
#define CLI_RUN_MS   15000

static struct proc_node nodes[NNODES];
static char http_addr[NNODES][64];
static char rpc_addr[NNODES][64];
static char cli_bin[1024];

/* One run of the CLI. */
struct cli_run {
	int status; /* exit status; -1 when it did not exit normally */
	char *out;  /* stdout, NUL-terminated */
	size_t out_len;
	char *err; /* stderr, NUL-terminated */
};

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);

	assert_non_null(f);
	assert_non_null(buf);
	for (;;) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap + 1);
		assert_non_null(buf);
	}
	fclose(f);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

static void write_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, strlen(data), f), strlen(data));
	fclose(f);
}

static void redirect(const char *path, int fd, int flags)
{
	int f = open(path, flags, 0644);
	if (f < 0 || dup2(f, fd) < 0)
		_exit(126);
	close(f);
}

/* Runs the CLI with the NULL-terminated arguments after input (stdin
 * text, or NULL for an empty stdin), waiting at most CLI_RUN_MS. */
static void cli(struct cli_run *r, const char *input, ...)
{
	const char *argv[CLI_MAX_ARGV + 2] = {cli_bin};
	char out[512], err[512], in[512];
	int argc = 1, status;
	va_list ap;
	pid_t pid;

	va_start(ap, input);
	while (argc <= CLI_MAX_ARGV &&
	       (argv[argc] = va_arg(ap, const char *)) != NULL)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(out, sizeof(out), "%s/cli.out", proc_tmpdir());
	snprintf(err, sizeof(err), "%s/cli.err", proc_tmpdir());
	snprintf(in, sizeof(in), "%s/cli.in", proc_tmpdir());
	write_file(in, input ? input : "");

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		redirect(in, STDIN_FILENO, O_RDONLY);
		redirect(out, STDOUT_FILENO, O_WRONLY | O_CREAT | O_TRUNC);
		redirect(err, STDERR_FILENO, O_WRONLY | O_CREAT | O_TRUNC);
		execv(cli_bin, (char *const *)argv);
		_exit(127);
	}
	r->status = -1;
	for (int waited = 0;; waited += 5) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			if (WIFEXITED(status))
				r->status = WEXITSTATUS(status);
			break;
		}
		if (waited >= CLI_RUN_MS) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			break;
		}
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	r->out = read_file(out, &r->out_len);
	r->err = read_file(err, NULL);
	/* in a sanitizer build, a report fails the run whatever its status */
	if (strstr(r->err, "Sanitizer") != NULL ||
	    strstr(r->err, "runtime error:") != NULL)
		fprintf(stderr, "# %s", r->err);
	assert_null(strstr(r->err, "Sanitizer"));
	assert_null(strstr(r->err, "runtime error:"));
	if (getenv("RKV_TEST_VERBOSE") != NULL)
		fprintf(stderr, "# ringkv %s ... -> %d\n%s%s", argv[1],
		        r->status, r->out, r->err);
}

static void cli_free(struct cli_run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* Asserts the exit status, showing the output when it differs. */
static void expect_status(const struct cli_run *r, int want)
{
	if (r->status != want)
		fprintf(stderr,
		        "# exit %d, wanted %d\n# stdout: %s\n# stderr: %s\n",
		        r->status, want, r->out, r->err);
	assert_int_equal(r->status, want);
}

/* Asserts the whole stdout is one valid JSON object. */
static void expect_json(const struct cli_run *r, const char *member)
{
	const char *v;
	size_t vlen;
	int rc = bench_json_member(r->out, r->out_len, member, &v, &vlen);
	if (rc != 0)
		fprintf(stderr, "# not JSON with \"%s\": %s\n", member, r->out);
	assert_int_equal(rc, 0);
}

static int count(const char *text, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(text, needle); p != NULL;
	     p = strstr(p + 1, needle))
		n++;
	return n;
}

/* The line of text containing needle, copied into buf. */
static bool line_with(const char *text, const char *needle, char *buf,
                      size_t cap)
{
	const char *p = strstr(text, needle);
	if (p == NULL)
		return false;
	while (p > text && p[-1] != '\n')
		p--;
	size_t n = strcspn(p, "\n");
	snprintf(buf, cap, "%.*s", (int)n, p);
	return true;
}

/* The fields of a table line split on blanks, into f (at most max). */
static int fields(char *line, char **f, int max)
{
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(line, " ", &save); t && n < max;
	     t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	return n;
}

static bool is_number(const char *s)
{
	return s[0] != '\0' && strspn(s, "0123456789") == strlen(s);
}

/* --- the cluster --------------------------------------------------------- */

static void find_cli(void)
{
	const char *env = getenv("RINGKV_CLI");
	const char *daemon = getenv("RINGKVD");

	if (env != NULL && env[0] != '\0') {
		snprintf(cli_bin, sizeof(cli_bin), "%s", env);
	} else if (daemon != NULL && strrchr(daemon, '/') != NULL) {
		int dir = (int)(strrchr(daemon, '/') - daemon);
		snprintf(cli_bin, sizeof(cli_bin), "%.*s/ringkv", dir, daemon);
	} else {
		snprintf(cli_bin, sizeof(cli_bin), "src/ringkv");
	}
}

static int cluster_setup(void **state)
{
	(void)state;
	find_cli();
	if (access(cli_bin, X_OK) != 0) {
		fprintf(stderr, "# %s is not an executable\n", cli_bin);
		return -1;
	}
	unsetenv("RINGKV_NODE");
	if (proc_cluster_start(nodes, NNODES, "cli") != 0)
		return -1;
	for (int i = 0; i < NNODES; i++) {
		snprintf(http_addr[i], sizeof(http_addr[i]), "127.0.0.1:%d",
		         nodes[i].http_port);
		snprintf(rpc_addr[i], sizeof(rpc_addr[i]), "127.0.0.1:%d",
		         nodes[i].rpc_port);
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

/* --- usage and exit statuses --------------------------------------------- */

static const char *const commands[] = {
    "status", "ring",   "members", "get",    "put",   "del",       "join",
    "leave",  "remove", "plan",    "commit", "clear", "transfers",
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void test_help(void **state)
{
	struct cli_run r;
	char usage[64];
	(void)state;

	cli(&r, NULL, "--help", NULL);
	expect_status(&r, 0);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		char row[32];
		snprintf(row, sizeof(row), "\n  %s ", commands[i]);
		assert_non_null(strstr(r.out, row));
	}
	assert_non_null(strstr(r.out, "--timeout MS"));
	cli_free(&r);

	for (size_t i = 0; i < NCOMMANDS; i++) {
		cli(&r, NULL, commands[i], "--help", NULL);
		expect_status(&r, 0);
		snprintf(usage, sizeof(usage), "usage: ringkv [OPTIONS] %s",
		         commands[i]);
		assert_true(strncmp(r.out, usage, strlen(usage)) == 0);
		cli_free(&r);
	}
	cli(&r, NULL, "put", "-h", NULL);
	expect_status(&r, 0);
	assert_non_null(strstr(r.out, "--content-type TYPE"));
	assert_non_null(strstr(r.out, "--context CTX"));
	cli_free(&r);
}

static void test_usage_errors(void **state)
{
	static const char *const cases[][7] = {
	    {"frobnicate", NULL},
	    {NULL},
	    {"get", NULL},
	    {"get", "a", "b", NULL},
	    {"put", "k", NULL},
	    {"join", NULL},
	    {"status", "--timeout", "0", NULL},
	    {"status", "--timeout", NULL},
	    {"status", "--bogus", NULL},
	    {"put", "k", "v", "--w", "many", NULL},
	    {"put", "k", "v", "--r", "one", NULL},
	    {"--context", "get", "k", NULL},
	    {"get", "", NULL},
	};
	struct cli_run r;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cli(&r, NULL, "-H", http_addr[0], cases[i][0], cases[i][1],
		    cases[i][2], cases[i][3], cases[i][4], cases[i][5], NULL);
		expect_status(&r, 2);
		assert_non_null(strstr(r.err, "ringkv: "));
		assert_string_equal(r.out, "");
		cli_free(&r);
	}
	cli(&r, NULL, "-H", "no-port", "status", NULL);
	expect_status(&r, 2);
	cli_free(&r);
}

static void test_unreachable(void **state)
{
	static const char *const cases[][3] = {
	    {"status", NULL},   {"ring", NULL},    {"members", NULL},
	    {"get", "k", NULL}, {"put", "k", "v"}, {"del", "k", NULL},
	    {"plan", NULL},
	};
	char dead[64];
	struct cli_run r;
	(void)state;

	snprintf(dead, sizeof(dead), "127.0.0.1:%d", proc_free_port());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cli(&r, NULL, "-H", dead, cases[i][0], cases[i][1], cases[i][2],
		    NULL);
		expect_status(&r, 3);
		assert_non_null(strstr(r.err, "no answer from"));
		cli_free(&r);
	}
}

/* A node that accepts nothing for a while (SIGSTOP): --timeout bounds
 * the wait, and the exit status is "unreachable". */
static void test_timeout(void **state)
{
	struct cli_run r;
	struct timespec t0, t1;
	(void)state;

	proc_node_signal(&nodes[2], SIGSTOP);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cli(&r, NULL, "-H", http_addr[2], "--timeout", "300", "ring", NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	proc_node_signal(&nodes[2], SIGCONT);
	expect_status(&r, 3);
	assert_non_null(strstr(r.err, "within 300 ms"));
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	          (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms < 3000);
	cli_free(&r);
}

/* --- status, ring, members ----------------------------------------------- */

static void test_status(void **state)
{
	struct cli_run r;
	char line[512], *f[16];
	int total = 0;
	(void)state;

	cli(&r, NULL, "-H", http_addr[1], "status", NULL);
	expect_status(&r, 0);
	assert_non_null(strstr(r.out, "ring_size 64, n_val 3, 3 members"));
	assert_true(line_with(r.out, "NAME", line, sizeof(line)));
	assert_int_equal(fields(line, f, 16), 8);
	assert_string_equal(f[0], "NAME");
	assert_string_equal(f[4], "OWNS");
	assert_string_equal(f[7], "HTTP");
	for (int i = 0; i < NNODES; i++) {
		assert_true(line_with(r.out, rpc_addr[i], line, sizeof(line)));
		int n = fields(line, f, 16);
		assert_int_equal(n, 8);
		assert_string_equal(f[1], "valid");
		assert_string_equal(f[2], "up");
		assert_true(is_number(f[3]));
		total += atoi(f[3]);
		assert_non_null(strchr(f[4], '%'));
		/* the contacted node's own keys and disk come from its /stats
		 */
		if (i == 1) {
			assert_true(is_number(f[5]));
			assert_string_equal(f[7], http_addr[1]);
		} else {
			assert_true(is_number(f[5]) || strcmp(f[5], "-") == 0);
		}
	}
	assert_int_equal(total, 64);
	cli_free(&r);

	cli(&r, NULL, "-H", http_addr[1], "status", "--json", NULL);
	expect_status(&r, 0);
	expect_json(&r, "members");
	double q = 0;
	assert_int_equal(bench_json_number(r.out, r.out_len, "ring_size", &q),
	                 0);
	assert_true(q == 64);
	assert_int_equal(count(r.out, "\"name\":"), 3);
	assert_int_equal(count(r.out, "\"self\":true"), 1);
	total = 0;
	for (const char *p = strstr(r.out, "\"partitions\":"); p != NULL;
	     p = strstr(p + 1, "\"partitions\":"))
		total += atoi(p + strlen("\"partitions\":"));
	assert_int_equal(total, 64);
	cli_free(&r);
}

static void test_ring(void **state)
{
	struct cli_run r;
	char line[512], *f[8];
	(void)state;

	cli(&r, NULL, "-H", http_addr[0], "ring", NULL);
	expect_status(&r, 0);
	assert_true(strncmp(r.out,
	                    "ring_size 64, n_val 3, 0 transfers pending\n",
	                    43) == 0);
	assert_true(line_with(r.out, "PARTITION", line, sizeof(line)));
	assert_int_equal(fields(line, f, 8), 4);
	assert_string_equal(f[2], "NEXT_OWNER");
	assert_int_equal(count(r.out, "\n"), 2 + 64);
	/* every partition row: id, an owner that is a member, no next owner */
	const char *p = strchr(strchr(r.out, '\n') + 1, '\n') + 1;
	for (int id = 0; id < 64; id++) {
		size_t n = strcspn(p, "\n");
		snprintf(line, sizeof(line), "%.*s", (int)n, p);
		assert_int_equal(fields(line, f, 8), 4);
		assert_int_equal(atoi(f[0]), id);
		assert_true(strcmp(f[1], rpc_addr[0]) == 0 ||
		            strcmp(f[1], rpc_addr[1]) == 0 ||
		            strcmp(f[1], rpc_addr[2]) == 0);
		assert_string_equal(f[2], "-");
		assert_true(is_number(f[3]));
		p += n + 1;
	}
	cli_free(&r);

	cli(&r, NULL, "-H", http_addr[0], "ring", "--json", NULL);
	expect_status(&r, 0);
	expect_json(&r, "partitions");
	assert_int_equal(count(r.out, "\"id\":"), 64);
	cli_free(&r);
}

static void test_members(void **state)
{
	struct cli_run r;
	char line[1024], *f[16];
	(void)state;

	cli(&r, NULL, "-H", http_addr[2], "members", NULL);
	expect_status(&r, 0);
	assert_true(strncmp(r.out, "NAME ", 5) == 0);
	assert_int_equal(count(r.out, "\n"), 1 + NNODES);
	assert_true(line_with(r.out, "NAME", line, sizeof(line)));
	int ncols = fields(line, f, 16);
	assert_true(ncols >= 3);
	assert_string_equal(f[1], "STATUS");
	assert_string_equal(f[2], "UP");
	for (int i = 0; i < NNODES; i++) {
		assert_true(line_with(r.out, rpc_addr[i], line, sizeof(line)));
		assert_int_equal(fields(line, f, 16), ncols);
		assert_string_equal(f[0], rpc_addr[i]);
		assert_string_equal(f[2], "up");
	}
	cli_free(&r);

	cli(&r, NULL, "-H", http_addr[2], "members", "--json", NULL);
	expect_status(&r, 0);
	expect_json(&r, "members");
	for (int i = 0; i < NNODES; i++)
		assert_non_null(strstr(r.out, rpc_addr[i]));
	cli_free(&r);

	/* the node comes from $RINGKV_NODE when -H is not given */
	setenv("RINGKV_NODE", http_addr[0], 1);
	cli(&r, NULL, "members", NULL);
	unsetenv("RINGKV_NODE");
	expect_status(&r, 0);
	assert_non_null(strstr(r.out, rpc_addr[0]));
	cli_free(&r);
}

/* --- get, put, del -------------------------------------------------------- */

static void test_put_get_del(void **state)
{
	struct cli_run r;
	(void)state;

	cli(&r, NULL, "-H", http_addr[0], "put", "greeting", "hello world",
	    NULL);
	expect_status(&r, 0);
	assert_string_equal(r.out, "");
	cli_free(&r);
	for (int i = 0; i < NNODES; i++) {
		cli(&r, NULL, "-H", http_addr[i], "get", "greeting", NULL);
		expect_status(&r, 0);
		assert_string_equal(r.out, "hello world"); /* byte for byte */
		cli_free(&r);
	}

	/* a key with URL-special bytes, a value from stdin */
	cli(&r, "line one\nline two\n", "-H", http_addr[1], "put",
	    "dir/a b?c=d%", "-", "--content-type", "text/plain", "--w", "all",
	    NULL);
	expect_status(&r, 0);
	cli_free(&r);
	cli(&r, NULL, "-H", http_addr[2], "get", "dir/a b?c=d%", "--r", "all",
	    NULL);
	expect_status(&r, 0);
	assert_string_equal(r.out, "line one\nline two\n");
	cli_free(&r);
	cli(&r, NULL, "-H", http_addr[2], "get", "dir/a b?c=d%", "--json",
	    NULL);
	expect_status(&r, 0);
	expect_json(&r, "values");
	assert_non_null(strstr(r.out, "\"status\":200"));
	assert_non_null(strstr(r.out, "\"content_type\":\"text/plain\""));
	assert_non_null(strstr(r.out, "\"key\":\"dir/a b?c=d%\""));
	cli_free(&r);

	/* put --json hands back the new context */
	cli(&r, NULL, "-H", http_addr[0], "put", "greeting", "again", "--json",
	    NULL);
	expect_status(&r, 0);
	expect_json(&r, "context");
	assert_non_null(strstr(r.out, "\"status\":204"));
	cli_free(&r);

	/* del reads the context first, so the key is gone afterwards */
	cli(&r, NULL, "-H", http_addr[1], "del", "greeting", NULL);
	expect_status(&r, 0);
	cli_free(&r);
	cli(&r, NULL, "-H", http_addr[2], "get", "greeting", NULL);
	expect_status(&r, 1);
	assert_non_null(strstr(r.err, "not found"));
	assert_string_equal(r.out, "");
	cli_free(&r);
	cli(&r, NULL, "-H", http_addr[2], "get", "greeting", "--json", NULL);
	expect_status(&r, 1);
	expect_json(&r, "error");
	assert_non_null(strstr(r.out, "\"status\":404"));
	cli_free(&r);
}

static void test_get_missing(void **state)
{
	struct cli_run r;
	(void)state;

	cli(&r, NULL, "-H", http_addr[0], "get", "never-written", NULL);
	expect_status(&r, 1);
	assert_non_null(strstr(r.err, "ringkv: get: never-written: not found"));
	cli_free(&r);
}

static void test_siblings(void **state)
{
	struct cli_run r;
	char ctx[4096];
	(void)state;

	cli(&r, NULL, "-H", http_addr[0], "put", "contested", "from-a", NULL);
	expect_status(&r, 0);
	cli_free(&r);
	cli(&r, NULL, "-H", http_addr[1], "put", "contested", "from-b", NULL);
	expect_status(&r, 0);
	cli_free(&r);

	cli(&r, NULL, "-H", http_addr[2], "get", "contested", NULL);
	expect_status(&r, 0);
	assert_non_null(strstr(r.out, "--- sibling 1/2 "));
	assert_non_null(strstr(r.out, "--- sibling 2/2 "));
	assert_non_null(strstr(r.out, "\nfrom-a\n"));
	assert_non_null(strstr(r.out, "\nfrom-b\n"));
	cli_free(&r);

	cli(&r, NULL, "-H", http_addr[2], "get", "contested", "--json", NULL);
	expect_status(&r, 0);
	expect_json(&r, "values");
	assert_non_null(strstr(r.out, "\"status\":300"));
	assert_int_equal(count(r.out, "\"deleted\":false"), 2);
	cli_free(&r);

	/* resolve: write with the context of the read that saw both */
	cli(&r, NULL, "-H", http_addr[2], "get", "contested", "--context",
	    NULL);
	expect_status(&r, 0);
	assert_true(strncmp(r.out, "X-Context: ", 11) == 0);
	snprintf(ctx, sizeof(ctx), "%.*s", (int)strcspn(r.out + 11, "\n"),
	         r.out + 11);
	assert_true(strlen(ctx) > 0);
	cli_free(&r);
	cli(&r, NULL, "-H", http_addr[0], "put", "contested", "resolved",
	    "--context", ctx, NULL);
	expect_status(&r, 0);
	cli_free(&r);
	for (int i = 0; i < NNODES; i++) {
		cli(&r, NULL, "-H", http_addr[i], "get", "contested", NULL);
		expect_status(&r, 0);
		assert_string_equal(r.out, "resolved");
		cli_free(&r);
	}
}

/* The node's error text reaches the user, with exit status 1. */
static void test_node_errors(void **state)
{
	struct cli_run r;
	(void)state;

	cli(&r, NULL, "-H", http_addr[0], "put", "k", "v", "--w", "9", NULL);
	expect_status(&r, 1);
	assert_non_null(strstr(r.err, "bad parameter"));
	assert_non_null(strstr(r.err, "HTTP 400"));
	assert_non_null(strstr(r.err, "parameter w"));
	cli_free(&r);

	cli(&r, NULL, "-H", http_addr[0], "put", "k", "v", "--context",
	    "not-a-context", NULL);
	expect_status(&r, 1);
	assert_non_null(strstr(r.err, "malformed causal context"));
	cli_free(&r);
}

/* Rebalance commands exist, and say so when the node has no /admin. */
static void test_admin_not_supported(void **state)
{
	static const char *const cases[][2] = {
	    {"join", NULL},      {"leave", NULL},  {"remove", NULL},
	    {"plan", NULL},      {"commit", NULL}, {"clear", NULL},
	    {"transfers", NULL},
	};
	struct cli_run r;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *cmd = cases[i][0];
		bool takes_node =
		    strcmp(cmd, "join") == 0 || strcmp(cmd, "remove") == 0;
		cli(&r, NULL, "-H", http_addr[0], cmd,
		    takes_node ? rpc_addr[1] : NULL, NULL);
		expect_status(&r, 1);
		assert_non_null(
		    strstr(r.err, "not supported by this node yet"));
		cli_free(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_usage_errors),
	    cmocka_unit_test(test_unreachable),
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_ring),
	    cmocka_unit_test(test_members),
	    cmocka_unit_test(test_put_get_del),
	    cmocka_unit_test(test_get_missing),
	    cmocka_unit_test(test_siblings),
	    cmocka_unit_test(test_node_errors),
	    cmocka_unit_test(test_admin_not_supported),
	    cmocka_unit_test(test_timeout),
	};
	proc_deadline(60);
	return cmocka_run_group_tests(tests, cluster_setup, cluster_teardown);
}
