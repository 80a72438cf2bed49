/* cli.h -- the ringkv admin CLI: what a subcommand receives, what it
 * returns, and the helpers every subcommand shares.
 *
 * `ringkv` talks HTTP to one node of a cluster (DESIGN.md, "Interfaces"),
 * like nodetool or riak-admin do over their own protocols. cli.c holds
 * the two tables that define the program -- subcommands and options --
 * and parses the command line into a struct cli; each subcommand is one
 * runner (cli_cluster.c: status, ring, members and the rebalance
 * commands; cli_kv.c: get, put, del) that makes its requests through
 * cli_http.h and prints either a table for people or JSON for programs
 * (--json). The rebalance runners share one request path (the /admin
 * endpoint of their row) and differ only in how they print the answer.
 *
 * Why runners return exit statuses rather than RKV_E* codes: the exit
 * status is the CLI's contract with shell scripts (CLI_EXIT_TABLE below),
 * and only the runner knows which of its failures is which -- a 404 is a
 * failed `get` but an unsupported `plan`, a missing answer is an
 * unreachable node. Everything below the runners (cli_http, cli_json,
 * cli_table) follows status.h's convention.
 */
#ifndef RKV_CLI_H
#define RKV_CLI_H

#include "cli_http.h"

#include <stdbool.h>
#include <stddef.h>

/* X(name, value, meaning): the exit statuses of ringkv. */
#define CLI_EXIT_TABLE(X)                                                      \
	X(CLI_EXIT_OK, 0, "success")                                           \
	X(CLI_EXIT_FAILED, 1,                                                  \
	  "the operation failed: the node's error is printed (a missing "      \
	  "key,\n     a quorum not reached, a command the node does not "      \
	  "support yet)")                                                      \
	X(CLI_EXIT_USAGE, 2,                                                   \
	  "bad command line: unknown command or option, missing argument")     \
	X(CLI_EXIT_UNREACHABLE, 3,                                             \
	  "the node did not answer: refused, closed, or not within --timeout")

enum cli_exit {
#define CLI_EXIT_ENUM(name, value, text) name = (value),
	CLI_EXIT_TABLE(CLI_EXIT_ENUM)
#undef CLI_EXIT_ENUM
};

#define CLI_NODE_ENV           "RINGKV_NODE"
#define CLI_DEFAULT_NODE       "127.0.0.1:8098"
#define CLI_DEFAULT_TIMEOUT_MS 5000
#define CLI_MAX_TIMEOUT_MS     600000 /* the node's own `timeout` limit */
#define CLI_MAX_ARGS           2
#define CLI_MAX_KEY_BYTES      65536 /* the largest max_key_bytes */
#define CLI_MAX_VALUE_BYTES    ((size_t)256 << 20) /* largest max_value_bytes */
#define CLI_MAX_MEMBERS        256                 /* CLUSTER_MAX_MEMBERS */
#define CLI_MAX_SIBLINGS       1024
#define CLI_NAME_MAX           255 /* CONF_NAME_MAX */
#define CLI_CONTENT_TYPE_MAX   255 /* DVV_MAX_CONTENT_TYPE */
#define CLI_QUORUM_TEXT_MAX    15

struct cli;

/* One subcommand: a row of cli.c's table. */
struct cli_cmd {
	const char *name;
	const char *usage; /* its positional arguments, "" when none */
	unsigned min_args, max_args;
	int (*run)(struct cli *cli); /* returns an enum cli_exit */
	/* Rebalance commands: the /admin endpoint they call, and the query
	 * parameter carrying their argument (NULL when none). */
	enum cli_http_method method;
	const char *path;
	const char *param;
	const char *help;    /* one line */
	const char *details; /* a paragraph for `ringkv CMD --help` */
};

/* The parsed command line. Strings point into argv. */
struct cli {
	const struct cli_cmd *cmd;
	struct cli_addr node; /* -H, else $RINGKV_NODE, else the default */
	unsigned timeout_ms;
	bool json;
	bool help;
	bool show_context;        /* get --context */
	bool force;               /* remove --force */
	const char *context;      /* put, del --context CTX; NULL: none */
	const char *content_type; /* put --content-type; NULL: none */
	const char *r, *w;        /* --r, --w; NULL: the node's default */
	const char *args[CLI_MAX_ARGS];
	size_t nargs;
};

/* --- runners (each returns an enum cli_exit) ----------------------- */

int cli_cmd_status(struct cli *cli);
int cli_cmd_ring(struct cli *cli);
int cli_cmd_members(struct cli *cli);
/* The rebalance commands: each calls its row's /admin endpoint. */
int cli_cmd_join(struct cli *cli);
int cli_cmd_stage(struct cli *cli); /* leave, remove */
int cli_cmd_plan(struct cli *cli);
int cli_cmd_commit(struct cli *cli);
int cli_cmd_clear(struct cli *cli);
int cli_cmd_compact(struct cli *cli);
int cli_cmd_transfers(struct cli *cli);
int cli_cmd_get(struct cli *cli);
int cli_cmd_put(struct cli *cli);
int cli_cmd_del(struct cli *cli);

/* --- shared helpers (cli.c) ---------------------------------------- */

/* cli_error -- "ringkv: CMD: message" and a newline on stderr. */
void cli_error(const struct cli *cli, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* cli_call -- run calls[0..n) at once with the CLI's --timeout (see
 * cli_http_run). CLI_EXIT_OK when the batch ran (each call's rc says
 * whether it was answered), else CLI_EXIT_FAILED after saying why. */
int cli_call(const struct cli *cli, struct cli_http_call *calls, size_t n);

/* cli_call_one -- run one call. CLI_EXIT_OK when an answer arrived (of
 * any status: the runner judges it); otherwise says why on stderr and
 * returns CLI_EXIT_UNREACHABLE for no answer, CLI_EXIT_FAILED for an
 * answer that could not be read. */
int cli_call_one(const struct cli *cli, struct cli_http_call *call);

/* cli_no_answer -- report a call whose rc is not 0 (as cli_call_one
 * does) and return its exit status. */
int cli_no_answer(const struct cli *cli, const struct cli_http_call *call);

/* cli_refused -- report an answer the runner does not accept: the "error"
 * text of the node's JSON body with the HTTP status and known details
 * (needed, acked, parameter, header, node) on stderr, and with --json the body
 * itself on stdout. Returns CLI_EXIT_FAILED. */
int cli_refused(const struct cli *cli, const struct cli_http_call *call);

/* cli_print_body -- an answer's body on stdout as it came, with a final
 * newline added when it has none. */
void cli_print_body(const struct cli_http_call *call);

#endif
