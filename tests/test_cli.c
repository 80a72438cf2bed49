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
 *
 * The rebalance commands run against the same founders: two fresh
 * one-node clusters (started with them, gossiping every GOSSIP_MS) join,
 * and the plan, commit, transfers, leave, remove and clear tables are
 * checked against one another and against --json, with the node's 409s
 * and 404s reaching the user. A node without /admin is played by a stub
 * process that answers 404 and records the requests it got.
 */
#include "proc.h"

#include "bench_json.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define NNODES    3 /* the founders */
#define NFRESH    2 /* one-node clusters that join them in test_rebalance */
#define NALL      (NNODES + NFRESH)
#define GOSSIP_MS "100"
/* MB/s, the lowest a node takes: test_rebalance's transfers then last
 * long enough (about RB_BIG_KEYS * RB_BIG_BYTES / 2 bytes a founder) to
 * be watched while they move. */
#define TRANSFER_RATE "1"
#define RB_BIG_KEYS   64
#define RB_BIG_BYTES  65536
#define CLI_MAX_ARGV  24
#define CLI_RUN_MS    15000

static struct proc_node nodes[NALL];
static char http_addr[NALL][64];
static char rpc_addr[NALL][64];
static char seeds[NNODES * 24];
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

	if (env != NULL && env[0] != '\0')
		snprintf(cli_bin, sizeof(cli_bin), "%s", env);
	else
		proc_sibling("ringkv", cli_bin, sizeof(cli_bin));
}

/* Three founders (n_val 3) and two fresh nodes without seeds, each a
 * one-node cluster owning its whole ring and no keys, all started at once
 * and gossiping every GOSSIP_MS so that a join spreads within a test's
 * bounds, and sending transfers at TRANSFER_RATE. */
static int cluster_setup(void **state)
{
	(void)state;

	find_cli();
	if (access(cli_bin, X_OK) != 0) {
		fprintf(stderr, "# %s is not an executable\n", cli_bin);
		return -1;
	}
	unsetenv("RINGKV_NODE");
	for (int i = 0; i < NALL; i++) {
		char name[32];
		snprintf(name, sizeof(name), "cli-n%d", i);
		proc_node_init(&nodes[i], name);
		snprintf(http_addr[i], sizeof(http_addr[i]), "127.0.0.1:%d",
		         nodes[i].http_port);
		snprintf(rpc_addr[i], sizeof(rpc_addr[i]), "127.0.0.1:%d",
		         nodes[i].rpc_port);
	}
	proc_seeds(nodes, NNODES, seeds, sizeof(seeds));
	for (int i = 0; i < NALL; i++) {
		const char **a = nodes[i].args;
		int k = 0;
		if (i < NNODES) {
			a[k++] = "--seeds";
			a[k++] = seeds;
		}
		a[k++] = "--n-val";
		a[k++] = "3";
		a[k++] = "--gossip-interval-ms";
		a[k++] = GOSSIP_MS;
		a[k++] = "--transfer-rate";
		a[k++] = TRANSFER_RATE;
		a[k] = NULL;
	}
	return proc_nodes_start(nodes, NALL);
}

static int cluster_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < NALL; i++)
		proc_node_kill(&nodes[i]);
	return 0;
}

/* --- usage and exit statuses --------------------------------------------- */

/* The rebalance commands and the request each one makes. */
static const struct admin_cmd {
	const char *cmd, *method, *path;
} admin_cmds[] = {
    {"join", "POST", "/admin/join"},
    {"leave", "POST", "/admin/leave"},
    {"remove", "POST", "/admin/remove"},
    {"plan", "GET", "/admin/plan"},
    {"commit", "POST", "/admin/commit"},
    {"clear", "POST", "/admin/clear"},
    {"transfers", "GET", "/admin/transfers"},
    {"compact", "POST", "/admin/compact"},
};
#define NADMIN (sizeof(admin_cmds) / sizeof(admin_cmds[0]))

static const char *const commands[] = {
    "status", "ring",   "members", "get",    "put",   "del",       "join",
    "leave",  "remove", "plan",    "commit", "clear", "transfers", "compact",
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

	/* each rebalance command names the request it makes */
	for (size_t i = 0; i < NADMIN; i++) {
		const char *cmd = admin_cmds[i].cmd;
		char calls[64];
		cli(&r, NULL, cmd, "--help", NULL);
		expect_status(&r, 0);
		snprintf(calls, sizeof(calls), "Calls %s %s",
		         admin_cmds[i].method, admin_cmds[i].path);
		assert_non_null(strstr(r.out, calls));
		assert_true((strstr(r.out, "--force") != NULL) ==
		            (strcmp(cmd, "remove") == 0));
		cli_free(&r);
	}
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
	    {"remove", NULL},
	    {"leave", "a", "b", NULL},
	    {"plan", "x", NULL},
	    {"join", "a", "--force", NULL},
	    {"remove", "a", "--force=yes", NULL},
	    {"--force", "remove", "a", NULL},
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

/* Whether status row line (split into f) has member i's keys and disk
 * (numbers, the disk with a unit) and its HTTP address. */
static bool status_row_filled(char *line, char **f, int i)
{
	return fields(line, f, 16) == 8 && is_number(f[5]) && f[6][0] >= '0' &&
	       f[6][0] <= '9' && strcmp(f[7], http_addr[i]) == 0;
}

/* Every row of `status` is filled: each member's HTTP address reached
 * the contacted node by gossip, and the member answered its /stats. */
static bool status_filled(void *arg)
{
	struct cli_run r;
	char line[512], *f[16];
	bool ok = true;
	(void)arg;

	cli(&r, NULL, "-H", http_addr[1], "status", NULL);
	for (int i = 0; i < NNODES && ok; i++)
		ok = r.status == 0 &&
		     line_with(r.out, rpc_addr[i], line, sizeof(line)) &&
		     status_row_filled(line, f, i);
	cli_free(&r);
	return ok;
}

static void test_status(void **state)
{
	struct cli_run r;
	char line[512], *f[16];
	int total = 0;
	(void)state;

	assert_true(proc_wait_for(status_filled, NULL, 10000));
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
		/* every member's keys and disk, from its own /stats */
		assert_true(line_with(r.out, rpc_addr[i], line, sizeof(line)));
		assert_true(status_row_filled(line, f, i));
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
	assert_int_equal(count(r.out, "\"http\":\"127.0.0.1:"), 3);
	assert_int_equal(count(r.out, "\"keys\":null"), 0);
	assert_int_equal(count(r.out, "\"disk_bytes\":null"), 0);
	total = 0;
	for (const char *p = strstr(r.out, "\"partitions\":"); p != NULL;
	     p = strstr(p + 1, "\"partitions\":"))
		total += atoi(p + strlen("\"partitions\":"));
	assert_int_equal(total, 64);
	cli_free(&r);
}

/* No online compaction runs on the node arg (a struct proc_node). */
static bool compaction_done(void *arg)
{
	const struct proc_node *n = arg;
	struct proc_resp resp;
	bool done = false;

	if (proc_http(n->http_port, "GET", "/stats", NULL, NULL, 0, 2000,
	              &resp) != 0)
		return false;
	done = resp.status == 200 &&
	       strstr(resp.body, "\"compaction\":{\"running\":false") != NULL;
	proc_resp_free(&resp);
	return done;
}

/* compact starts the node's online compaction and says how big the
 * database is and should become; the node keeps its data. */
static void test_compact(void **state)
{
	struct cli_run r;
	double n = 0;
	(void)state;

	cli(&r, NULL, "-H", http_addr[2], "put", "compacted", "kept", NULL);
	expect_status(&r, 0);
	cli_free(&r);
	cli(&r, NULL, "-H", http_addr[2], "compact", NULL);
	expect_status(&r, 0);
	assert_non_null(strstr(r.out, "compacting: "));
	assert_non_null(strstr(r.out, " now, about "));
	cli_free(&r);
	/* The first may still run: wait for it, then ask for JSON. */
	assert_true(proc_wait_for(compaction_done, &nodes[2], 10000));
	cli(&r, NULL, "-H", http_addr[2], "compact", "--json", NULL);
	expect_status(&r, 0);
	expect_json(&r, "compacting");
	assert_int_equal(bench_json_number(r.out, r.out_len, "disk_bytes", &n),
	                 0);
	assert_true(n > 0);
	cli_free(&r);
	assert_true(proc_wait_for(compaction_done, &nodes[2], 10000));
	cli(&r, NULL, "-H", http_addr[2], "get", "compacted", NULL);
	expect_status(&r, 0);
	assert_non_null(strstr(r.out, "kept"));
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

/* --- a node without /admin ---------------------------------------------- */

/* A stand-in for a node that predates /admin (the ringkvd under test does
 * not): a child process that answers every request with one fixed 404
 * and appends each request line to a file, so a test sees both what the
 * CLI sent and what it made of the answer. It exits by itself after a
 * minute in case the test dies without stopping it. */
struct stub {
	pid_t pid;
	char addr[64];
	char log[512];
};

static void stub_serve(int lfd, const char *log, const char *answer)
{
	char req[8192];

	signal(SIGALRM, SIG_DFL); /* not proc_deadline's: it kills nodes */
	alarm(60);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		size_t n = 0;
		ssize_t got = 1;
		if (fd < 0)
			continue;
		req[0] = '\0';
		while (got > 0 && n + 1 < sizeof(req) &&
		       strstr(req, "\r\n\r\n") == NULL) {
			got = read(fd, req + n, sizeof(req) - 1 - n);
			n += got > 0 ? (size_t)got : 0;
			req[n] = '\0';
		}
		FILE *f = fopen(log, "a");
		if (f != NULL) {
			fprintf(f, "%.*s\n", (int)strcspn(req, "\r\n"), req);
			fclose(f);
		}
		if (write(fd, answer, strlen(answer)) < 0)
			_exit(1);
		close(fd);
	}
}

/* Starts a stub answering 404 with body (JSON when it starts with '{'). */
static void stub_start(struct stub *s, const char *body)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	char answer[512];
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 16), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", ntohs(a.sin_port));
	snprintf(s->log, sizeof(s->log), "%s/stub.log", proc_tmpdir());
	unlink(s->log);
	snprintf(answer, sizeof(answer),
	         "HTTP/1.1 404 Not Found\r\nContent-Type: %s\r\n"
	         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	         body[0] == '{' ? "application/json" : "text/html",
	         strlen(body), body);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		stub_serve(lfd, s->log, answer);
		_exit(0);
	}
	close(lfd);
}

static void stub_stop(struct stub *s)
{
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
}

/* Every rebalance command sends its row's request, the argument in the
 * query, and says "not supported" for a 404 "no such path" or a 404 that
 * is not JSON -- what a node without the endpoint answers. */
static void test_admin_not_supported(void **state)
{
	static const struct {
		const char *args[3];
		const char *request;
	} cases[] = {
	    {{"join", "10.0.0.1:8099"},
	     "POST /admin/join?node=10.0.0.1%3A8099"},
	    {{"leave"}, "POST /admin/leave"},
	    {{"leave", "n1"}, "POST /admin/leave?node=n1"},
	    {{"remove", "n1"}, "POST /admin/remove?node=n1"},
	    {{"remove", "a&b", "--force"},
	     "POST /admin/remove?node=a%26b&force=true"},
	    {{"plan"}, "GET /admin/plan"},
	    {{"commit"}, "POST /admin/commit"},
	    {{"clear"}, "POST /admin/clear"},
	    {{"transfers"}, "GET /admin/transfers"},
	    {{"compact"}, "POST /admin/compact"},
	};
	static const char *const bodies[] = {"{\"error\":\"no such path\"}",
	                                     "<html>Not Found</html>"};
	struct stub stub;
	struct cli_run r;
	char want[256], *log;
	(void)state;

	for (size_t b = 0; b < 2; b++) {
		stub_start(&stub, bodies[b]);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			const char *const *a = cases[i].args;
			cli(&r, NULL, "-H", stub.addr, a[0], a[1], a[2], NULL);
			expect_status(&r, 1);
			snprintf(want, sizeof(want),
			         "not supported by this node yet (%.*s: 404)",
			         (int)strcspn(cases[i].request, "?"),
			         cases[i].request);
			assert_non_null(strstr(r.err, want));
			assert_string_equal(r.out, "");
			cli_free(&r);
		}
		log = read_file(stub.log, NULL);
		stub_stop(&stub);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			snprintf(want, sizeof(want), "%s HTTP/1.1\n",
			         cases[i].request);
			assert_non_null(strstr(log, want));
		}
		free(log);
	}

	/* a 404 with another error is that error, not "not supported" */
	stub_start(&stub, "{\"error\":\"no such member\",\"node\":\"n1\"}");
	cli(&r, NULL, "-H", stub.addr, "remove", "n1", NULL);
	expect_status(&r, 1);
	assert_non_null(strstr(
	    r.err, "ringkv: remove: no such member (HTTP 404, node n1)"));
	cli_free(&r);
	cli(&r, NULL, "-H", stub.addr, "remove", "n1", "--json", NULL);
	expect_status(&r, 1);
	expect_json(&r, "error");
	cli_free(&r);
	stub_stop(&stub);
}

/* --- rebalance ---------------------------------------------------------- */

#define TABLE_MAX_ROWS 128

/* The rows of the table whose header line starts with header: the lines
 * after it up to an empty line or the end of text, copied into rows. */
static int table_rows(const char *text, const char *header, char rows[][512],
                      int max)
{
	const char *p = text;
	int n = 0;

	while (p != NULL && strncmp(p, header, strlen(header)) != 0) {
		p = strchr(p, '\n');
		p = p != NULL ? p + 1 : NULL;
	}
	assert_non_null(p);
	p += strcspn(p, "\n");
	while (*p == '\n' && p[1] != '\n' && p[1] != '\0' && n < max) {
		p++;
		size_t len = strcspn(p, "\n");
		snprintf(rows[n++], sizeof(rows[0]), "%.*s", (int)len, p);
		p += len;
	}
	return n;
}

/* The string member key of the JSON object text (no escapes expected). */
static void json_text(const char *text, size_t len, const char *key, char *buf,
                      size_t cap)
{
	const char *v;
	size_t vlen;

	assert_int_equal(bench_json_member(text, len, key, &v, &vlen), 0);
	assert_true(vlen >= 2 && v[0] == '"');
	snprintf(buf, cap, "%.*s", (int)(vlen - 2), v + 1);
}

static bool is_founder(const char *name)
{
	for (int i = 0; i < NNODES; i++)
		if (strcmp(name, rpc_addr[i]) == 0)
			return true;
	return false;
}

/* Whether node 0 lists the joins of both fresh nodes as staged. */
static bool joins_staged(void *arg)
{
	struct proc_resp resp = {0};
	bool staged;
	(void)arg;

	staged = proc_http(nodes[0].http_port, "GET", "/admin/plan", NULL, NULL,
	                   0, 2000, &resp) == 0 &&
	         resp.status == 200 && strstr(resp.body, rpc_addr[3]) &&
	         strstr(resp.body, rpc_addr[4]);
	proc_resp_free(&resp);
	return staged;
}

/* Whether node 0 has no transfer pending. */
static bool transfers_done(void *arg)
{
	struct proc_resp resp = {0};
	double pending = -1;
	(void)arg;

	if (proc_http(nodes[0].http_port, "GET", "/admin/transfers", NULL, NULL,
	              0, 2000, &resp) == 0 &&
	    resp.status == 200)
		bench_json_number(resp.body, resp.len, "pending", &pending);
	proc_resp_free(&resp);
	return pending == 0;
}

/* `plan` on node 0 with both joins staged: the staged line, a move table
 * whose moves go from founders to the fresh nodes, a node table whose
 * partitions add up to the ring before and after, and a summary that
 * counts the moves and adds up their keys. Returns the number of moves. */
static int check_join_plan(void)
{
	static char rows[TABLE_MAX_ROWS][512];
	char line[512], want[128], *f[16];
	struct cli_run r;
	int nmoves, nrows, before = 0, after = 0;
	double keys = 0;

	cli(&r, NULL, "-H", http_addr[0], "plan", NULL);
	expect_status(&r, 0);
	snprintf(want, sizeof(want), "staged on %s: ", http_addr[0]);
	assert_true(strncmp(r.out, want, strlen(want)) == 0);
	for (int i = NNODES; i < NALL; i++) {
		snprintf(want, sizeof(want), "join %s", rpc_addr[i]);
		assert_true(line_with(r.out, "staged on", line, sizeof(line)));
		assert_non_null(strstr(line, want));
	}
	assert_true(line_with(r.out, "PARTITION ", line, sizeof(line)));
	assert_int_equal(fields(line, f, 16), 5);
	assert_string_equal(f[1], "FROM");
	assert_string_equal(f[3], "KEYS");
	nmoves = table_rows(r.out, "PARTITION ", rows, TABLE_MAX_ROWS);
	assert_true(nmoves > 0);
	for (int i = 0; i < nmoves; i++) {
		assert_int_equal(fields(rows[i], f, 16), 5);
		assert_true(is_number(f[0]) && atoi(f[0]) < 64);
		assert_true(is_founder(f[1]));
		assert_true(strcmp(f[2], rpc_addr[3]) == 0 ||
		            strcmp(f[2], rpc_addr[4]) == 0);
		const char *k = f[3][0] == '~' ? f[3] + 1 : f[3];
		assert_true(is_number(k));
		keys += atof(k);
	}
	nrows = table_rows(r.out, "NAME ", rows, TABLE_MAX_ROWS);
	assert_int_equal(nrows, NALL);
	for (int i = 0; i < nrows; i++) {
		assert_int_equal(fields(rows[i], f, 16), 7);
		assert_true(is_number(f[1]) && is_number(f[2]));
		before += atoi(f[1]);
		after += atoi(f[2]);
		if (!is_founder(f[0])) {
			assert_string_equal(f[1], "0");
			assert_true(atoi(f[2]) > 0);
		}
	}
	assert_int_equal(before, 64);
	assert_int_equal(after, 64);
	snprintf(want, sizeof(want), "\n%d partitions move: ", nmoves);
	assert_non_null(strstr(r.out, want));
	const char *sum = strstr(r.out, want) + strlen(want);
	assert_true(atof(sum[0] == '~' ? sum + 1 : sum) == keys);
	cli_free(&r);

	/* --json: the node's plan, with as many moves as the table */
	cli(&r, NULL, "-H", http_addr[0], "plan", "--json", NULL);
	expect_status(&r, 0);
	expect_json(&r, "moves");
	expect_json(&r, "nodes");
	assert_int_equal(count(r.out, "\"partition\""), nmoves);
	assert_int_equal(count(r.out, "\"join\""), NFRESH);
	cli_free(&r);
	return nmoves;
}

/* `transfers` on node 0: its header, and one row per pending transfer;
 * rows whose sender did not answer have no progress. */
static void check_transfers(void)
{
	static char rows[TABLE_MAX_ROWS][512];
	static const char *const states[] = {"queued", "streaming", "draining",
	                                     "backoff", "remote"};
	char want[128], *f[16];
	struct cli_run r;
	int pending, limit, n = 0;

	cli(&r, NULL, "-H", http_addr[0], "transfers", NULL);
	expect_status(&r, 0);
	assert_int_equal(sscanf(r.out,
	                        "%d transfers pending (limit %d per node)",
	                        &pending, &limit),
	                 2);
	assert_true(limit >= 1);
	snprintf(want, sizeof(want), " per node) via %s", rpc_addr[0]);
	assert_non_null(strstr(r.out, want));
	const char *end = strstr(r.out, want) + strlen(want);
	assert_true(end[0] == '\n' ||
	            strncmp(end, "; progress from ", 16) == 0);
	if (pending > 0)
		n = table_rows(r.out, "PARTITION ", rows, TABLE_MAX_ROWS);
	assert_int_equal(n, pending);
	for (int i = 0; i < n; i++) {
		bool known = false;
		assert_int_equal(fields(rows[i], f, 16), 9);
		assert_true(is_number(f[0]));
		for (size_t s = 0; s < sizeof(states) / sizeof(*states); s++)
			known |= strcmp(f[3], states[s]) == 0;
		assert_true(known);
		if (strcmp(f[3], "remote") == 0)
			for (int c = 4; c < 9; c++)
				assert_string_equal(f[c], "-");
		else
			assert_non_null(strchr(f[4], '/')); /* sent/total */
	}
	cli_free(&r);

	cli(&r, NULL, "-H", http_addr[0], "transfers", "--json", NULL);
	expect_status(&r, 0);
	expect_json(&r, "transfers");
	expect_json(&r, "pending");
	cli_free(&r);
}

/* Whether `transfers` through the first joining node, which sends
 * nothing, shows a partition with its sender's progress: a row queued or
 * streaming, with numbers for its keys. The header goes into arg. */
static bool transfers_progress(void *arg)
{
	static char rows[TABLE_MAX_ROWS][512];
	char *f[16];
	struct cli_run r;
	bool seen = false;
	int n = 0;

	cli(&r, NULL, "-H", http_addr[3], "transfers", NULL);
	expect_status(&r, 0);
	snprintf(arg, 512, "%.*s", (int)strcspn(r.out, "\n"), r.out);
	if (strstr(r.out, "\nPARTITION ") != NULL)
		n = table_rows(r.out, "PARTITION ", rows, TABLE_MAX_ROWS);
	for (int i = 0; i < n && !seen; i++)
		seen = fields(rows[i], f, 16) == 9 &&
		       (strcmp(f[3], "streaming") == 0 ||
		        strcmp(f[3], "queued") == 0) &&
		       f[4][0] >= '0' && f[4][0] <= '9' &&
		       strchr(f[4], '/') != NULL;
	cli_free(&r);
	return seen;
}

/* Through the joining node, which only receives, every sender's
 * progress: the table has rows with numbers, and every sender answered;
 * a sender that is paused costs --timeout, and only its own rows. */
static void check_transfers_elsewhere(void)
{
	char header[512], want[128];
	double senders = -1, answered = -2;
	struct cli_run r;
	int got, of;

	assert_true(proc_wait_for(transfers_progress, header, 10000));
	snprintf(want, sizeof(want), " per node) via %s; progress from ",
	         rpc_addr[3]);
	assert_non_null(strstr(header, want));
	assert_int_equal(sscanf(strstr(header, want) + strlen(want),
	                        "%d of %d sender", &got, &of),
	                 2);
	assert_true(of >= 1 && of <= NNODES);
	assert_int_equal(got, of);

	cli(&r, NULL, "-H", http_addr[3], "transfers", "--json", NULL);
	expect_status(&r, 0);
	expect_json(&r, "transfers");
	assert_int_equal(
	    bench_json_number(r.out, r.out_len, "senders", &senders), 0);
	assert_int_equal(
	    bench_json_number(r.out, r.out_len, "senders_answered", &answered),
	    0);
	assert_true(senders >= 1);
	assert_true(answered == senders);
	cli_free(&r);

	/* a sender that does not answer within --timeout: still exit 0,
	 * and its rows stay remote */
	static char rows[TABLE_MAX_ROWS][512];
	char *f[16];
	int n = 0, stopped = 0;
	proc_node_signal(&nodes[2], SIGSTOP);
	cli(&r, NULL, "-H", http_addr[3], "--timeout", "300", "transfers",
	    NULL);
	proc_node_signal(&nodes[2], SIGCONT);
	expect_status(&r, 0);
	if (strstr(r.out, "\nPARTITION ") != NULL)
		n = table_rows(r.out, "PARTITION ", rows, TABLE_MAX_ROWS);
	for (int i = 0; i < n; i++) {
		assert_int_equal(fields(rows[i], f, 16), 9);
		if (strcmp(f[1], rpc_addr[2]) != 0)
			continue;
		stopped++;
		assert_string_equal(f[3], "remote");
	}
	if (stopped > 0) {
		assert_non_null(strstr(r.out, want));
		assert_int_equal(sscanf(strstr(r.out, want) + strlen(want),
		                        "%d of %d sender", &got, &of),
		                 2);
		assert_int_equal(got, of - 1);
	}
	cli_free(&r);
}

/* A staged change is refused with the node's 409 text. */
static void expect_conflict(struct cli_run *r, const char *text)
{
	expect_status(r, 1);
	assert_non_null(strstr(r->err, "HTTP 409"));
	if (text != NULL)
		assert_non_null(strstr(r->err, text));
	assert_string_equal(r->out, "");
	cli_free(r);
}

/* Two fresh nodes join the founders: join, plan, commit, transfers; then
 * leave, remove and clear stage and unstage changes, and every refusal
 * reaches the user as the node's error with exit status 1. */
static void test_rebalance(void **state)
{
	static char rows[TABLE_MAX_ROWS][512];
	char want[256], text[128], *f[8];
	struct cli_run r;
	int nmoves;
	(void)state;

	/* keys, so the plan has some to move; RB_BIG_KEYS large ones, so
	 * that moving them at TRANSFER_RATE lasts a second or two */
	static char big[RB_BIG_BYTES];
	memset(big, 'x', sizeof(big));
	for (int i = 0; i < RB_BIG_KEYS; i++) {
		struct proc_resp resp = {0};
		char path[64];
		snprintf(path, sizeof(path), "/kv/rb-big-%d", i);
		assert_int_equal(proc_http(nodes[i % NNODES].http_port, "PUT",
		                           path, NULL, big, sizeof(big), 5000,
		                           &resp),
		                 0);
		assert_int_equal(resp.status, 204);
		proc_resp_free(&resp);
	}
	for (int i = 0; i < 40; i++) {
		char key[32];
		snprintf(key, sizeof(key), "rb-%d", i);
		cli(&r, NULL, "-H", http_addr[i % NNODES], "put", key,
		    "some value to move", NULL);
		expect_status(&r, 0);
		cli_free(&r);
	}

	/* nothing staged yet */
	cli(&r, NULL, "-H", http_addr[0], "plan", NULL);
	expect_status(&r, 0);
	assert_string_equal(r.out, "no staged changes\n");
	cli_free(&r);
	cli(&r, NULL, "-H", http_addr[0], "commit", NULL);
	expect_conflict(&r, "nothing staged");

	/* a member of a cluster of several cannot join another */
	cli(&r, NULL, "-H", http_addr[1], "join", rpc_addr[0], NULL);
	expect_conflict(&r, NULL);

	cli(&r, NULL, "-H", http_addr[3], "join", rpc_addr[0], NULL);
	expect_status(&r, 0);
	snprintf(want, sizeof(want), "%s is joining the cluster of %s; ",
	         rpc_addr[3], rpc_addr[0]);
	assert_true(strncmp(r.out, want, strlen(want)) == 0);
	assert_non_null(strstr(r.out, "'ringkv plan'"));
	cli_free(&r);
	cli(&r, NULL, "-H", http_addr[4], "join", rpc_addr[0], "--json", NULL);
	expect_status(&r, 0);
	json_text(r.out, r.out_len, "node", text, sizeof(text));
	assert_string_equal(text, rpc_addr[4]);
	json_text(r.out, r.out_len, "status", text, sizeof(text));
	assert_string_equal(text, "joining");
	json_text(r.out, r.out_len, "seed", text, sizeof(text));
	assert_string_equal(text, rpc_addr[0]);
	cli_free(&r);
	assert_true(proc_wait_for(joins_staged, NULL, 10000));

	nmoves = check_join_plan();
	cli(&r, NULL, "-H", http_addr[0], "commit", NULL);
	expect_status(&r, 0);
	snprintf(want, sizeof(want),
	         "committed %d moves; watch them with 'ringkv transfers'\n",
	         nmoves);
	assert_string_equal(r.out, want);
	cli_free(&r);
	cli(&r, NULL, "-H", http_addr[0], "commit", NULL);
	expect_conflict(&r, "nothing staged");
	check_transfers_elsewhere();
	check_transfers();
	assert_true(proc_wait_for(transfers_done, NULL, 30000));
	check_transfers();

	/* leave: the staged list, and the hint */
	cli(&r, NULL, "-H", http_addr[0], "leave", rpc_addr[1], NULL);
	expect_status(&r, 0);
	assert_int_equal(table_rows(r.out, "ACTION ", rows, TABLE_MAX_ROWS), 1);
	assert_int_equal(fields(rows[0], f, 8), 2);
	assert_string_equal(f[0], "leave");
	assert_string_equal(f[1], rpc_addr[1]);
	assert_non_null(strstr(r.out, "\nrun 'ringkv plan' to see the "
	                              "transfers\n"));
	cli_free(&r);
	/* the plan shown last was the join's: commit wants a new one */
	cli(&r, NULL, "-H", http_addr[0], "commit", NULL);
	expect_conflict(&r, NULL);

	/* remove: an up member only with --force; an unknown one is 404 */
	cli(&r, NULL, "-H", http_addr[0], "remove", rpc_addr[2], NULL);
	expect_conflict(&r, NULL);
	cli(&r, NULL, "-H", http_addr[0], "remove", "127.0.0.1:1", NULL);
	expect_status(&r, 1);
	assert_non_null(strstr(r.err, "no such member (HTTP 404"));
	cli_free(&r);
	cli(&r, NULL, "-H", http_addr[0], "remove", rpc_addr[2], "--force",
	    "--json", NULL);
	expect_status(&r, 0);
	expect_json(&r, "staged");
	assert_int_equal(count(r.out, "\"leave\""), 1);
	assert_int_equal(count(r.out, "\"remove\""), 1);
	cli_free(&r);
	/* leave without NODE: the node itself */
	cli(&r, NULL, "-H", http_addr[0], "leave", NULL);
	expect_status(&r, 0);
	assert_int_equal(table_rows(r.out, "ACTION ", rows, TABLE_MAX_ROWS), 3);
	snprintf(want, sizeof(want), "leave   %s", rpc_addr[0]);
	assert_non_null(strstr(r.out, want));
	cli_free(&r);

	/* the plan shows them; clear drops them */
	cli(&r, NULL, "-H", http_addr[0], "plan", NULL);
	expect_status(&r, 0);
	snprintf(want, sizeof(want), "leave %s", rpc_addr[1]);
	assert_non_null(strstr(r.out, want));
	snprintf(want, sizeof(want), "remove %s", rpc_addr[2]);
	assert_non_null(strstr(r.out, want));
	cli_free(&r);
	cli(&r, NULL, "-H", http_addr[0], "clear", NULL);
	expect_status(&r, 0);
	assert_string_equal(r.out, "cleared 3 staged changes\n");
	cli_free(&r);
	cli(&r, NULL, "-H", http_addr[0], "clear", "--json", NULL);
	expect_status(&r, 0);
	double cleared = -1;
	assert_int_equal(
	    bench_json_number(r.out, r.out_len, "cleared", &cleared), 0);
	assert_true(cleared == 0);
	cli_free(&r);
	cli(&r, NULL, "-H", http_addr[0], "plan", NULL);
	expect_status(&r, 0);
	assert_string_equal(r.out, "no staged changes\n");
	cli_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_usage_errors),
	    cmocka_unit_test(test_unreachable),
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_compact),
	    cmocka_unit_test(test_ring),
	    cmocka_unit_test(test_members),
	    cmocka_unit_test(test_put_get_del),
	    cmocka_unit_test(test_get_missing),
	    cmocka_unit_test(test_siblings),
	    cmocka_unit_test(test_node_errors),
	    cmocka_unit_test(test_admin_not_supported),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_rebalance),
	};
	proc_deadline(60);
	return cmocka_run_group_tests(tests, cluster_setup, cluster_teardown);
}
