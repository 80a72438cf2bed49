/* proc.c -- running and talking to real ringkvd processes (see proc.h). */
#include "proc.h"

#include "tests/tmpdir.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROC_MAX_NODES 64

static pid_t proc_pids[PROC_MAX_NODES];
static char proc_dir[256];
static bool proc_keep;

static void proc_kill_all(void)
{
	for (int i = 0; i < PROC_MAX_NODES; i++) {
		if (proc_pids[i] > 0) {
			kill(proc_pids[i], SIGKILL);
			waitpid(proc_pids[i], NULL, 0);
			proc_pids[i] = 0;
		}
	}
}

static void proc_cleanup(void)
{
	char cmd[300];
	proc_kill_all();
	if (proc_dir[0] == '\0' || proc_keep ||
	    getenv("RKV_KEEP_TMP") != NULL) {
		if (proc_dir[0] != '\0')
			fprintf(stderr, "# test files kept in %s\n", proc_dir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", proc_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", proc_dir);
}

const char *proc_tmpdir(void)
{
	if (proc_dir[0] != '\0')
		return proc_dir;
	if (test_mkdtemp(proc_dir, sizeof(proc_dir), "ringkv-test") == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	atexit(proc_cleanup);
	return proc_dir;
}

static void proc_on_alarm(int sig)
{
	static const char msg[] = "# test deadline passed: killing nodes\n";
	(void)sig;
	for (int i = 0; i < PROC_MAX_NODES; i++)
		if (proc_pids[i] > 0)
			kill(proc_pids[i], SIGKILL);
	ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)ignored;
	_exit(1);
}

void proc_deadline(unsigned seconds)
{
	signal(SIGALRM, proc_on_alarm);
	alarm(seconds);
}

/* A port the kernel picks for a socket bound to 127.0.0.1:0, closed
 * again; -1 on failure. */
static int proc_kernel_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* Once its socket is closed the kernel may hand a port out again, and two
 * nodes of one test given the same port fail to start (or list a seed
 * twice): so no port is handed out twice in a process. */
int proc_free_port(void)
{
	static int given[256];
	static size_t ngiven;

	for (int tries = 0; tries < 100; tries++) {
		int port = proc_kernel_port();
		bool again = false;
		if (port < 0)
			return -1;
		for (size_t i = 0; i < ngiven; i++)
			again = again || given[i] == port;
		if (again)
			continue;
		if (ngiven < sizeof(given) / sizeof(given[0]))
			given[ngiven++] = port;
		return port;
	}
	return -1;
}

void proc_node_init(struct proc_node *n, const char *name)
{
	memset(n, 0, sizeof(*n));
	n->http_port = proc_free_port();
	n->rpc_port = proc_free_port();
	snprintf(n->dir, sizeof(n->dir), "%s/%s", proc_tmpdir(), name);
	snprintf(n->log, sizeof(n->log), "%s/%s.log", proc_tmpdir(), name);
}

static void proc_track(pid_t pid, bool add)
{
	for (int i = 0; i < PROC_MAX_NODES; i++) {
		if (add ? proc_pids[i] == 0 : proc_pids[i] == pid) {
			proc_pids[i] = add ? pid : 0;
			return;
		}
	}
}

/* The log holds every run of the node; the ready line of this run is the
 * count-th one. */
static int proc_count_ready(const char *log)
{
	char line[512];
	int count = 0;
	FILE *f = fopen(log, "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "ringkvd ready ", 14) == 0)
			count++;
	fclose(f);
	return count;
}

const char *proc_ringkvd(void)
{
	const char *bin = getenv("RINGKVD");

	return bin != NULL ? bin : "src/ringkvd";
}

void proc_sibling(const char *name, char *buf, size_t cap)
{
	const char *bin = proc_ringkvd();
	const char *slash = strrchr(bin, '/');

	snprintf(buf, cap, "%.*s%s", slash ? (int)(slash - bin + 1) : 0, bin,
	         name);
}

int proc_node_start_nowait(struct proc_node *n)
{
	const char *bin = proc_ringkvd();
	char http[64], rpc[64];
	const char *argv[PROC_MAX_ARGS + 16];
	int argc = 0;

	n->ready_before = proc_count_ready(n->log);
	snprintf(http, sizeof(http), "127.0.0.1:%d", n->http_port);
	snprintf(rpc, sizeof(rpc), "127.0.0.1:%d", n->rpc_port);
	argv[argc++] = bin;
	argv[argc++] = "--http-listen";
	argv[argc++] = http;
	argv[argc++] = "--rpc-listen";
	argv[argc++] = rpc;
	argv[argc++] = "--data-dir";
	argv[argc++] = n->dir;
	for (int i = 0; i < PROC_MAX_ARGS && n->args[i] != NULL; i++)
		argv[argc++] = n->args[i];
	argv[argc] = NULL;

	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(n->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
		execv(bin, (char *const *)argv);
		perror("execv");
		_exit(127);
	}
	n->pid = pid;
	proc_track(pid, true);
	return 0;
}

int proc_node_wait_ready(struct proc_node *n)
{
	for (int waited = 0; n->pid > 0 && waited < 20000; waited += 20) {
		if (proc_count_ready(n->log) > n->ready_before)
			return 0;
		if (waitpid(n->pid, NULL, WNOHANG) == n->pid) {
			proc_track(n->pid, false);
			n->pid = 0;
			break;
		}
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "# node %s did not become ready\n", n->dir);
	proc_node_print_log(n);
	proc_node_kill(n);
	return -1;
}

int proc_node_start(struct proc_node *n)
{
	if (proc_node_start_nowait(n) != 0)
		return -1;
	return proc_node_wait_ready(n);
}

void proc_seeds(const struct proc_node *nodes, int n, char *out, size_t cap)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < n && used < cap; i++)
		used +=
		    (size_t)snprintf(out + used, cap - used, "%s127.0.0.1:%d",
		                     i ? "," : "", nodes[i].rpc_port);
}

int proc_cluster_start(struct proc_node *nodes, int n, const char *prefix)
{
	static char seeds[PROC_MAX_NODES * 24];
	char name[64];

	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s-n%d", prefix, i);
		proc_node_init(&nodes[i], name);
	}
	proc_seeds(nodes, n, seeds, sizeof(seeds));
	for (int i = 0; i < n; i++) {
		nodes[i].args[0] = "--seeds";
		nodes[i].args[1] = seeds;
		nodes[i].args[2] = "--n-val";
		nodes[i].args[3] = "3";
		nodes[i].args[4] = NULL;
		if (proc_node_start(&nodes[i]) != 0)
			return -1;
	}
	return 0;
}

int proc_nodes_start(struct proc_node *nodes, int n)
{
	for (int i = 0; i < n; i++)
		if (proc_node_start_nowait(&nodes[i]) != 0)
			return -1;
	for (int i = 0; i < n; i++)
		if (proc_node_wait_ready(&nodes[i]) != 0)
			return -1;
	return 0;
}

void proc_node_signal(struct proc_node *n, int sig)
{
	if (n->pid > 0)
		kill(n->pid, sig);
}

int proc_node_wait(struct proc_node *n, int timeout_ms)
{
	int status;
	for (int waited = 0; n->pid > 0 && waited <= timeout_ms; waited += 10) {
		if (waitpid(n->pid, &status, WNOHANG) == n->pid) {
			proc_track(n->pid, false);
			n->pid = 0;
			return status;
		}
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return -1;
}

void proc_node_kill(struct proc_node *n)
{
	if (n->pid <= 0)
		return;
	kill(n->pid, SIGKILL);
	waitpid(n->pid, NULL, 0);
	proc_track(n->pid, false);
	n->pid = 0;
}

void proc_node_print_log(const struct proc_node *n)
{
	char line[1024];
	FILE *f = fopen(n->log, "r");
	proc_keep = true;
	fprintf(stderr, "# --- log of %s ---\n", n->log);
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		fprintf(stderr, "# %s", line);
	fclose(f);
}

/* --- HTTP client: libevent's evhttp on a private base ----------------- */

struct proc_call {
	struct event_base *base;
	struct proc_resp *out;
};

static void proc_on_response(struct evhttp_request *req, void *arg)
{
	struct proc_call *call = arg;
	struct proc_resp *out = call->out;

	event_base_loopexit(call->base, NULL);
	if (req == NULL || evhttp_request_get_response_code(req) == 0)
		return;
	out->status = evhttp_request_get_response_code(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	out->len = evbuffer_get_length(in);
	out->body = malloc(out->len + 1);
	if (out->body != NULL) {
		evbuffer_remove(in, out->body, out->len);
		out->body[out->len] = '\0';
	}
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	for (struct evkeyval *kv = h->tqh_first;
	     kv != NULL && out->nheaders < PROC_MAX_HEADERS;
	     kv = kv->next.tqe_next) {
		out->names[out->nheaders] = strdup(kv->key);
		out->values[out->nheaders] = strdup(kv->value);
		out->nheaders++;
	}
}

static enum evhttp_cmd_type proc_method(const char *m)
{
	if (strcmp(m, "PUT") == 0)
		return EVHTTP_REQ_PUT;
	if (strcmp(m, "DELETE") == 0)
		return EVHTTP_REQ_DELETE;
	if (strcmp(m, "POST") == 0)
		return EVHTTP_REQ_POST;
	if (strcmp(m, "PATCH") == 0)
		return EVHTTP_REQ_PATCH;
	if (strcmp(m, "HEAD") == 0)
		return EVHTTP_REQ_HEAD;
	return EVHTTP_REQ_GET;
}

int proc_http(int port, const char *method, const char *path,
              const char *const *headers, const void *body, size_t len,
              int timeout_ms, struct proc_resp *out)
{
	struct proc_call call = {.out = out};
	struct evhttp_connection *conn = NULL;
	struct evhttp_request *req;
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	char host[32];

	memset(out, 0, sizeof(*out));
	call.base = event_base_new();
	if (call.base == NULL)
		return -1;
	conn = evhttp_connection_base_new(call.base, NULL, "127.0.0.1",
	                                  (unsigned short)port);
	if (conn == NULL)
		goto done;
	evhttp_connection_set_timeout_tv(conn, &tv);
	evhttp_connection_set_retries(conn, 0);
	req = evhttp_request_new(proc_on_response, &call);
	if (req == NULL)
		goto done;
	struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
	snprintf(host, sizeof(host), "127.0.0.1:%d", port);
	evhttp_add_header(oh, "Host", host);
	for (int i = 0; headers != NULL && headers[i] != NULL; i += 2)
		evhttp_add_header(oh, headers[i], headers[i + 1]);
	if (body != NULL && len > 0)
		evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
	if (evhttp_make_request(conn, req, proc_method(method), path) != 0)
		goto done;
	event_base_dispatch(call.base);
done:
	if (conn != NULL)
		evhttp_connection_free(conn);
	event_base_free(call.base);
	return out->status != 0 ? 0 : -1;
}

const char *proc_resp_header(const struct proc_resp *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (r->names[i] != NULL && strcasecmp(r->names[i], name) == 0)
			return r->values[i];
	return NULL;
}

void proc_resp_free(struct proc_resp *r)
{
	free(r->body);
	for (size_t i = 0; i < r->nheaders; i++) {
		free(r->names[i]);
		free(r->values[i]);
	}
	memset(r, 0, sizeof(*r));
}

bool proc_wait_for(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
	for (int waited = 0;; waited += 20) {
		if (cond(arg))
			return true;
		if (waited >= timeout_ms)
			return false;
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

static uint64_t proc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool proc_wait_logged(bool (*cond)(void *arg), void *arg, int timeout_ms,
                      const char *what, const struct proc_node *nodes, int n)
{
	uint64_t t0 = proc_now_ms();

	if (!proc_wait_for(cond, arg, timeout_ms)) {
		fprintf(stderr, "# gave up waiting: %s\n", what);
		for (int i = 0; i < n; i++)
			proc_node_print_log(&nodes[i]);
		return false;
	}
	fprintf(stderr, "# %s: %" PRIu64 " ms\n", what, proc_now_ms() - t0);
	return true;
}
