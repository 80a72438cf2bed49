/* proc.h -- test support for running real ringkvd processes.
 *
 * Process tests start nodes on 127.0.0.1 with ports picked free at run
 * time and data in a temporary directory, talk to them over HTTP, and stop
 * everything they started by PID, even when a test fails or hangs: every
 * started PID is recorded, and both an atexit handler and the SIGALRM
 * handler of proc_deadline() kill what is still running. Nothing waits a
 * fixed time: proc_wait_for() polls a condition until a deadline.
 */
#ifndef RKV_TEST_PROC_H
#define RKV_TEST_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PROC_MAX_ARGS    32
#define PROC_MAX_HEADERS 16

struct proc_node {
	pid_t pid; /* 0 when not running */
	int http_port;
	int rpc_port;
	char dir[256]; /* data directory (inside the test's temp dir) */
	char log[300]; /* stderr of every run of this node, appended */
	const char *args[PROC_MAX_ARGS]; /* extra flags, NULL-terminated */
	int ready_before; /* ready lines in the log before this run */
};

struct proc_resp {
	int status; /* HTTP status, or 0 when no response arrived */
	char *body; /* malloc'ed, NUL-terminated for convenience */
	size_t len;
	size_t nheaders;
	char *names[PROC_MAX_HEADERS];
	char *values[PROC_MAX_HEADERS];
};

/* proc_tmpdir -- the test run's private temporary directory, created on
 * first use and removed at exit unless RKV_KEEP_TMP is set or a node's log
 * was printed because of a failure. */
const char *proc_tmpdir(void);

/* proc_deadline -- kill the whole test (and every node) after seconds. */
void proc_deadline(unsigned seconds);

/* proc_free_port -- a TCP port on 127.0.0.1 that was free a moment ago,
 * never one it returned before in this process. */
int proc_free_port(void);

/* proc_node_init -- name a node: picks ports, data dir <tmp>/<name>. */
void proc_node_init(struct proc_node *n, const char *name);

/* proc_ringkvd -- the daemon tests run: $RINGKVD, else src/ringkvd. */
const char *proc_ringkvd(void);

/* proc_sibling -- the path of the program `name` built next to the
 * daemon (in proc_ringkvd()'s directory), into buf (cap bytes). */
void proc_sibling(const char *name, char *buf, size_t cap);

/* proc_node_start -- run $RINGKVD with the node's ports, dir and extra
 * args, wait (up to 20 s) for its "ringkvd ready" line. 0 on success; on
 * failure prints the node's log and returns -1. */
int proc_node_start(struct proc_node *n);

/* proc_node_start_nowait / proc_node_wait_ready -- proc_node_start in two
 * halves, for tests that start several nodes at the same moment. */
int proc_node_start_nowait(struct proc_node *n);
int proc_node_wait_ready(struct proc_node *n);

/* proc_nodes_start -- start nodes[0..n) (their args set) all at once,
 * then wait for each to be ready: 0, or -1 as proc_node_start. */
int proc_nodes_start(struct proc_node *nodes, int n);

/* proc_seeds -- the --seeds of founders nodes[0..n): their rpc addresses,
 * comma-separated, into out (cap bytes, truncated if short). */
void proc_seeds(const struct proc_node *nodes, int n, char *out, size_t cap);

/* proc_cluster_start -- init and start n founding nodes named
 * "<prefix>-n<i>", all with the same --seeds (their rpc addresses) and
 * --n-val 3, so they own the ring at once. 0, or -1 when a node did not
 * become ready (its log printed). One cluster at a time: the seed list
 * lives in proc.c. */
int proc_cluster_start(struct proc_node *nodes, int n, const char *prefix);

/* proc_node_signal -- send sig to a running node. */
void proc_node_signal(struct proc_node *n, int sig);

/* proc_node_wait -- wait up to timeout_ms for the node to exit; returns
 * its wait status, or -1 on timeout (the node is left running). */
int proc_node_wait(struct proc_node *n, int timeout_ms);

/* proc_node_kill -- SIGKILL and reap; a no-op when not running. */
void proc_node_kill(struct proc_node *n);

/* proc_node_print_log -- the node's log on stderr (for failures). */
void proc_node_print_log(const struct proc_node *n);

/* proc_http -- one HTTP request to 127.0.0.1:port, blocking up to
 * timeout_ms. headers is NULL or a NULL-terminated list of "Name",
 * "value" pairs. Returns 0 when a response arrived. */
int proc_http(int port, const char *method, const char *path,
              const char *const *headers, const void *body, size_t len,
              int timeout_ms, struct proc_resp *out);

/* proc_resp_header -- a response header's value (case-insensitive name),
 * NULL when absent; valid until proc_resp_free. */
const char *proc_resp_header(const struct proc_resp *r, const char *name);

void proc_resp_free(struct proc_resp *r);

/* proc_wait_for -- poll cond(arg) every 20 ms until true or timeout_ms;
 * returns cond's last answer. */
bool proc_wait_for(bool (*cond)(void *arg), void *arg, int timeout_ms);

/* proc_wait_logged -- proc_wait_for, telling stderr how long `what` took;
 * on a timeout it says so and prints the logs of nodes[0..n). */
bool proc_wait_logged(bool (*cond)(void *arg), void *arg, int timeout_ms,
                      const char *what, const struct proc_node *nodes, int n);

#endif
