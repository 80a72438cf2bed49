/* cli.c -- `ringkv`, the admin CLI: its two tables and its command line.
 *
 * The program is defined by two tables, in the manner of the daemon's
 * conf.c: CLI_CMD_TABLE (every subcommand: name, arguments, runner, the
 * /admin endpoint of the rebalance commands, help) and cli_opts[] (every
 * option: name, type, which subcommands take it, help). The same rows
 * parse the command line and print `ringkv --help` and `ringkv CMD
 * --help`, so a subcommand or option cannot be documented one way and
 * parsed another. Adding a subcommand is adding a row and a runner.
 *
 * The command line is `ringkv [OPTIONS] COMMAND [ARGS] [OPTIONS]`:
 * options that every command takes (-H, --timeout, --json, --help) may
 * come before the command; options of one command come after it. "--"
 * ends the options, so a key starting with '-' can be given, and a lone
 * "-" is an argument (put's "value from stdin").
 *
 * The rebalance commands (join, leave, remove, plan, commit, clear,
 * transfers) are rows like the others; their runners call the /admin
 * endpoint the row names, with the row's query parameter carrying the
 * argument. A node that does not serve that endpoint answers 404, which
 * the runner reports as "not supported by this node yet" -- nothing is
 * emulated on the client side.
 */
#include "cli.h"

#include "cli_json.h"
#include "status.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* X(id, name, usage, min args, max args, runner, method, /admin path,
 *   query parameter, help, details) */
#define CLI_CMD_TABLE(X)                                                       \
	X(CLI_CMD_STATUS, "status", "", 0, 0, cli_cmd_status, CLI_HTTP_GET,    \
	  NULL, NULL, "members: state, partitions, ring share, keys, disk",    \
	  "Reads /members and /ring from the node, and /stats from every\n"    \
	  "member whose HTTP address is known: the node itself, and members\n" \
	  "whose /members entry has an \"http\" field. Keys and disk of the\n" \
	  "others are shown as \"-\".")                                        \
	X(CLI_CMD_RING, "ring", "", 0, 0, cli_cmd_ring, CLI_HTTP_GET, NULL,    \
	  NULL, "every partition: owner, next owner, version",                 \
	  "Reads /ring. NEXT_OWNER is set while a transfer of the partition\n" \
	  "is pending.")                                                       \
	X(CLI_CMD_MEMBERS, "members", "", 0, 0, cli_cmd_members, CLI_HTTP_GET, \
	  NULL, NULL, "the node's member table",                               \
	  "Reads /members and shows every field the node sends; a field "      \
	  "that\n"                                                             \
	  "some members lack is shown as \"-\" for them.")                     \
	X(CLI_CMD_GET, "get", "KEY", 1, 1, cli_cmd_get, CLI_HTTP_GET, NULL,    \
	  NULL, "print a key's value (or all its siblings)",                   \
	  "One value is printed as stored. Concurrent values (siblings) are\n" \
	  "each printed after a line \"--- sibling I/N CONTENT-TYPE ---\"\n"   \
	  "(\"deleted\" in place of the type for a deleted sibling); write\n"  \
	  "the resolved value with `put --context` to collapse them. A\n"      \
	  "missing key exits with status 1.")                                  \
	X(CLI_CMD_PUT, "put", "KEY VALUE|-", 2, 2, cli_cmd_put, CLI_HTTP_PUT,  \
	  NULL, NULL, "write a value (\"-\": read it from stdin)",             \
	  "Without --context the write replaces nothing: if the key has a\n"   \
	  "value, the two become siblings. With the context printed by\n"      \
	  "`get --context` it replaces exactly the values that read saw.")     \
	X(CLI_CMD_DEL, "del", "KEY", 1, 1, cli_cmd_del, CLI_HTTP_DELETE, NULL, \
	  NULL, "delete a key",                                                \
	  "Without --context, del first reads the key and deletes what that\n" \
	  "read saw, so the key reads as missing afterwards (a value "         \
	  "written\n"                                                          \
	  "concurrently survives as a sibling). With --context it deletes\n"   \
	  "what that context saw, without reading.")                           \
	X(CLI_CMD_JOIN, "join", "NODE", 1, 1, cli_cmd_join, CLI_HTTP_POST,     \
	  "/admin/join", "node", "stage: the node joins the cluster of NODE",  \
	  "Sent to the new node: it joins the cluster of the member whose\n"   \
	  "rpc address is NODE. The new node must own nothing (fresh, or a\n"  \
	  "one-node cluster without keys). The cluster then lists it as\n"     \
	  "joining, a staged change on every member: `plan` shows the\n"       \
	  "transfers, `commit` starts them. Calls POST "                       \
	  "/admin/join?node=NODE.")                                            \
	X(CLI_CMD_LEAVE, "leave", "[NODE]", 0, 1, cli_cmd_stage,               \
	  CLI_HTTP_POST, "/admin/leave", "node",                               \
	  "stage: the node (or NODE) leaves the cluster",                      \
	  "Stages the leave of the node (or of the member NODE): at "          \
	  "`commit`\n"                                                         \
	  "it hands all its partitions to the others, then stops. Prints\n"    \
	  "every change staged on the node; `plan` and `commit` go to the\n"   \
	  "same node. Calls POST /admin/leave[?node=NODE].")                   \
	X(CLI_CMD_REMOVE, "remove", "NODE", 1, 1, cli_cmd_stage,               \
	  CLI_HTTP_POST, "/admin/remove", "node",                              \
	  "stage: remove NODE, which is down for good",                        \
	  "Stages the removal of NODE, a member that is gone for good: at\n"   \
	  "`commit` its partitions go to the others at once, without a\n"      \
	  "transfer, and their data comes back from the other replicas by\n"   \
	  "read repair. NODE must be down in the node's failure detector\n"    \
	  "unless --force is given. Prints every change staged on the node.\n" \
	  "Calls POST /admin/remove?node=NODE[&force=true].")                  \
	X(CLI_CMD_PLAN, "plan", "", 0, 0, cli_cmd_plan, CLI_HTTP_GET,          \
	  "/admin/plan", NULL, "the transfers the staged changes imply",       \
	  "Shows what committing the changes staged on the node would do:\n"   \
	  "the partitions that move (KEYS and BYTES are what the sender "      \
	  "will\n"                                                             \
	  "stream; \"~\" marks an estimate, made when the node holds no "      \
	  "replica\n"                                                          \
	  "of some of the data; \"-\" a removed node's partition, handed\n"    \
	  "over without a transfer), the partitions each member owns before\n" \
	  "and after, with the data it receives and sends, and how long the\n" \
	  "transfers should take. `commit` applies exactly the plan shown\n"   \
	  "last. Calls GET /admin/plan.")                                      \
	X(CLI_CMD_COMMIT, "commit", "", 0, 0, cli_cmd_commit, CLI_HTTP_POST,   \
	  "/admin/commit", NULL, "start the planned transfers",                \
	  "Applies the plan that `plan` showed last: every moving partition\n" \
	  "gets its next owner and the owners start streaming; partitions "    \
	  "of\n"                                                               \
	  "removed nodes are handed over at once. Refused (exit 1) when\n"     \
	  "nothing is staged, when `plan` was not run, or when the ring or\n"  \
	  "the staged changes changed since. Calls POST /admin/commit.")       \
	X(CLI_CMD_CLEAR, "clear", "", 0, 0, cli_cmd_clear, CLI_HTTP_POST,      \
	  "/admin/clear", NULL, "drop the staged changes",                     \
	  "Drops the leaves and removes staged on the node. A join stays\n"    \
	  "staged while its node is joining: stop that node and `remove` it\n" \
	  "to undo the join. Calls POST /admin/clear.")                        \
	X(CLI_CMD_COMPACT, "compact", "", 0, 0, cli_cmd_compact,               \
	  CLI_HTTP_POST, "/admin/compact", NULL,                               \
	  "compact the node's database while it serves",                       \
	  "Starts an online compaction of the node's database: a thread\n"     \
	  "copies it in key order into full pages, leaving out free ones;\n"   \
	  "then the node stops for a moment to copy what was written\n"        \
	  "meanwhile and puts the copy in place. Prints the size now and\n"    \
	  "what the compaction should leave; `status` or GET /stats shows\n"   \
	  "its end. Refused (exit 1) while one is running. Nodes also\n"       \
	  "compact themselves (compact_ratio in ringkvd's config).\n"          \
	  "Calls POST /admin/compact.")                                        \
	X(CLI_CMD_TRANSFERS, "transfers", "", 0, 0, cli_cmd_transfers,         \
	  CLI_HTTP_GET, "/admin/transfers", NULL,                              \
	  "partitions moving now, and their progress",                         \
	  "One row per partition with a next owner in the node's ring, with\n" \
	  "its state (queued, streaming, draining or backoff) and progress\n"  \
	  "since the stream (re)started, as its sender reports them: the\n"    \
	  "CLI asks the node, then every member that sends a partition, all\n" \
	  "at once within --timeout. A partition whose sender did not\n"       \
	  "answer stays \"remote\", with \"-\" for its progress.\n"            \
	  "Calls GET /admin/transfers and GET /members on the node, then\n"    \
	  "GET /admin/transfers on each sender.")

// clang-format off
/* clang-format would indent the rows after an X-macro expansion
 * as a continuation of it. */
enum cli_cmd_id {
#define CLI_CMD_ENUM(id, name, usage, min, max, run, method, path, param,      \
                     help, details)                                            \
	id,
	CLI_CMD_TABLE(CLI_CMD_ENUM)
#undef CLI_CMD_ENUM
	CLI_CMD_COUNT
};

static const struct cli_cmd cli_cmds[] = {
#define CLI_CMD_ROW(id, name, usage, min, max, run, method, path, param, help, \
                    details)                                                   \
	{name, usage, min, max, run, method, path, param, help, details},
	CLI_CMD_TABLE(CLI_CMD_ROW)
#undef CLI_CMD_ROW
};
// clang-format on

#define CMD(id)     (1u << (id))
#define CMD_ALL     ((1u << CLI_CMD_COUNT) - 1)
#define CMD_PUT_DEL (CMD(CLI_CMD_PUT) | CMD(CLI_CMD_DEL))

enum cli_opt_type {
	CLI_OPT_FLAG,   /* bool, no value */
	CLI_OPT_STR,    /* const char *, at most max bytes */
	CLI_OPT_MS,     /* unsigned, 1..CLI_MAX_TIMEOUT_MS */
	CLI_OPT_ADDR,   /* struct cli_addr */
	CLI_OPT_QUORUM, /* const char *: one, quorum, all or 1..99 */
};

struct cli_opt {
	const char *name; /* without "--" */
	char short_name;  /* 0: none */
	enum cli_opt_type type;
	size_t offset; /* in struct cli */
	size_t max;    /* CLI_OPT_STR: longest value */
	unsigned cmds; /* CMD_ALL: a global option, also before the command */
	const char *arg;
	const char *help;
};

#define OPT(name, short, type, field, max, cmds, arg, help)                    \
	{                                                                      \
		name, short, type, offsetof(struct cli, field), max, cmds,     \
		    arg, help                                                  \
	}

/* One name may have one meaning per command: get's --context is a flag,
 * put's and del's takes the context to write with. */
static const struct cli_opt cli_opts[] = {
    OPT("node", 'H', CLI_OPT_ADDR, node, 0, CMD_ALL, "HOST:PORT",
        "the node (default $" CLI_NODE_ENV ", else " CLI_DEFAULT_NODE ")"),
    OPT("timeout", 0, CLI_OPT_MS, timeout_ms, 0, CMD_ALL, "MS",
        "give up after MS milliseconds (default 5000)"),
    OPT("json", 0, CLI_OPT_FLAG, json, 0, CMD_ALL, NULL,
        "print JSON for programs instead of a table"),
    OPT("help", 'h', CLI_OPT_FLAG, help, 0, CMD_ALL, NULL,
        "describe the command and exit"),
    OPT("context", 0, CLI_OPT_FLAG, show_context, 0, CMD(CLI_CMD_GET), NULL,
        "also print the causal context (X-Context) first"),
    OPT("r", 0, CLI_OPT_QUORUM, r, CLI_QUORUM_TEXT_MAX, CMD(CLI_CMD_GET), "R",
        "replies to wait for: one, quorum, all, 1..N"),
    OPT("context", 0, CLI_OPT_STR, context, 65536, CMD_PUT_DEL, "CTX",
        "context of the read this write replaces"),
    OPT("content-type", 0, CLI_OPT_STR, content_type, CLI_CONTENT_TYPE_MAX,
        CMD(CLI_CMD_PUT), "TYPE",
        "Content-Type (default application/octet-stream)"),
    OPT("w", 0, CLI_OPT_QUORUM, w, CLI_QUORUM_TEXT_MAX, CMD_PUT_DEL, "W",
        "acks to wait for: one, quorum, all, 1..N"),
    OPT("force", 0, CLI_OPT_FLAG, force, 0, CMD(CLI_CMD_REMOVE), NULL,
        "remove NODE even while it is up (force=true)"),
};

#define CLI_NOPTS (sizeof(cli_opts) / sizeof(cli_opts[0]))

static const char *const cli_exit_texts[][2] = {
#define CLI_EXIT_TEXT(name, value, text) {#value, text},
    CLI_EXIT_TABLE(CLI_EXIT_TEXT)
#undef CLI_EXIT_TEXT
};

/* --- shared helpers (cli.h) ----------------------------------------- */

void cli_error(const struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("ringkv: ", stderr);
	if (cli != NULL && cli->cmd != NULL)
		fprintf(stderr, "%s: ", cli->cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_no_answer(const struct cli *cli, const struct cli_http_call *call)
{
	cli_error(cli, "%s", call->why);
	return call->rc == RKV_EUNAVAIL ? CLI_EXIT_UNREACHABLE
	                                : CLI_EXIT_FAILED;
}

int cli_call(const struct cli *cli, struct cli_http_call *calls, size_t n)
{
	if (cli_http_run(calls, n, cli->timeout_ms) != 0) {
		cli_error(cli, "cannot send requests: out of memory");
		return CLI_EXIT_FAILED;
	}
	return CLI_EXIT_OK;
}

int cli_call_one(const struct cli *cli, struct cli_http_call *call)
{
	int rc = cli_call(cli, call, 1);
	if (rc == CLI_EXIT_OK && call->rc != 0)
		rc = cli_no_answer(cli, call);
	return rc;
}

/* Members of an error body worth showing after its "error" text. */
static const char *const cli_error_details[] = {"needed", "acked", "parameter",
                                                "header", "node"};

int cli_refused(const struct cli *cli, const struct cli_http_call *call)
{
	const struct cli_http_answer *a = &call->answer;
	char text[256], detail[512] = "", cell[128];
	size_t used = 0;

	if (cli->json)
		cli_print_body(call);
	/* Not our JSON (evhttp's own 413 page, a proxy): the reason phrase. */
	if (cli_json_string(a->body, a->len, "error", text, sizeof(text)) != 0)
		snprintf(text, sizeof(text), "%s", a->reason);
	for (size_t i = 0; i < sizeof(cli_error_details) / sizeof(char *);
	     i++) {
		const char *key = cli_error_details[i];
		static const char *const yn[2] = {"true", "false"};
		if (cli_json_cell(a->body, a->len, key, yn, cell,
		                  sizeof(cell)) != 0 ||
		    used >= sizeof(detail))
			continue;
		used += (size_t)snprintf(detail + used, sizeof(detail) - used,
		                         ", %s %s", key, cell);
	}
	if (text[0] == '\0')
		cli_error(cli, "%s answered HTTP %d%s", call->node->text,
		          a->status, detail);
	else
		cli_error(cli, "%s (HTTP %d%s)", text, a->status, detail);
	return CLI_EXIT_FAILED;
}

void cli_print_body(const struct cli_http_call *call)
{
	const struct cli_http_answer *a = &call->answer;

	fwrite(a->body, 1, a->len, stdout);
	if (a->len > 0 && a->body[a->len - 1] != '\n')
		fputc('\n', stdout);
}

/* --- help ------------------------------------------------------------ */

static void cli_print_opt(FILE *out, const struct cli_opt *o)
{
	char left[64];

	if (o->short_name != 0)
		snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name,
		         o->name, o->arg ? " " : "", o->arg ? o->arg : "");
	else
		snprintf(left, sizeof(left), "    --%s%s%s", o->name,
		         o->arg ? " " : "", o->arg ? o->arg : "");
	fprintf(out, "  %-24s %s\n", left, o->help);
}

static void cli_print_usage(FILE *out)
{
	fputs("usage: ringkv [-H HOST:PORT] [--timeout MS] [--json] COMMAND "
	      "[ARGS] [OPTIONS]\n",
	      out);
}

static void cli_print_help(FILE *out)
{
	char left[64];

	cli_print_usage(out);
	fputs("\nThe ringkv admin CLI: speaks HTTP to any node of a ringkv "
	      "cluster.\n\ncommands:\n",
	      out);
	for (size_t i = 0; i < CLI_CMD_COUNT; i++) {
		const struct cli_cmd *c = &cli_cmds[i];
		snprintf(left, sizeof(left), "%s%s%s", c->name,
		         c->usage[0] ? " " : "", c->usage);
		fprintf(out, "  %-24s %s\n", left, c->help);
	}
	fputs("\noptions of every command:\n", out);
	for (size_t i = 0; i < CLI_NOPTS; i++)
		if (cli_opts[i].cmds == CMD_ALL)
			cli_print_opt(out, &cli_opts[i]);
	fputs("\nexit status:\n", out);
	for (size_t i = 0; i < sizeof(cli_exit_texts) / sizeof(*cli_exit_texts);
	     i++)
		fprintf(out, "  %s  %s\n", cli_exit_texts[i][0],
		        cli_exit_texts[i][1]);
	fputs("\n`ringkv COMMAND --help` describes one command.\n", out);
}

static void cli_print_cmd_help(FILE *out, const struct cli_cmd *c, unsigned id)
{
	fprintf(out, "usage: ringkv [OPTIONS] %s%s%s\n\n%s.\n\n%s\n", c->name,
	        c->usage[0] ? " " : "", c->usage, c->help, c->details);
	fputs("\noptions:\n", out);
	for (size_t i = 0; i < CLI_NOPTS; i++)
		if (cli_opts[i].cmds != CMD_ALL && (cli_opts[i].cmds & CMD(id)))
			cli_print_opt(out, &cli_opts[i]);
	for (size_t i = 0; i < CLI_NOPTS; i++)
		if (cli_opts[i].cmds == CMD_ALL)
			cli_print_opt(out, &cli_opts[i]);
}

/* --- parsing --------------------------------------------------------- */

static bool cli_quorum_valid(const char *s)
{
	size_t n = strlen(s);

	if (strcmp(s, "one") == 0 || strcmp(s, "quorum") == 0 ||
	    strcmp(s, "all") == 0)
		return true;
	if (n == 0 || n > 2 || s[0] == '0')
		return false;
	return strspn(s, "0123456789") == n;
}

static int cli_opt_set(struct cli *cli, const struct cli_opt *o,
                       const char *value, char *err, size_t errlen)
{
	void *field = (char *)cli + o->offset;
	char *end;

	switch (o->type) {
	case CLI_OPT_FLAG: *(bool *)field = true; return 0;
	case CLI_OPT_STR:
		if (strlen(value) > o->max) {
			snprintf(err, errlen, "--%s: longer than %zu bytes",
			         o->name, o->max);
			return RKV_EINVAL;
		}
		*(const char **)field = value;
		return 0;
	case CLI_OPT_QUORUM:
		if (!cli_quorum_valid(value)) {
			snprintf(err, errlen,
			         "--%s: '%s' is not one, quorum, all or a "
			         "number",
			         o->name, value);
			return RKV_EINVAL;
		}
		*(const char **)field = value;
		return 0;
	case CLI_OPT_MS: {
		errno = 0;
		unsigned long v = strtoul(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' ||
		    value[0] == '-' || v < 1 || v > CLI_MAX_TIMEOUT_MS) {
			snprintf(err, errlen, "--%s: '%s' is not 1..%u",
			         o->name, value, CLI_MAX_TIMEOUT_MS);
			return RKV_EINVAL;
		}
		*(unsigned *)field = (unsigned)v;
		return 0;
	}
	case CLI_OPT_ADDR:
		if (cli_addr_parse(value, field) != 0) {
			snprintf(err, errlen, "--%s: '%s' is not host:port",
			         o->name, value);
			return RKV_EINVAL;
		}
		return 0;
	}
	return RKV_EINVAL;
}

/* The row for an option name (long, or a one-letter short name) that the
 * command takes; before the command only global options are known. */
static const struct cli_opt *cli_opt_find(const char *name, size_t len,
                                          bool is_short, unsigned cmds)
{
	for (size_t i = 0; i < CLI_NOPTS; i++) {
		const struct cli_opt *o = &cli_opts[i];
		bool match = is_short ? o->short_name == name[0]
		                      : strlen(o->name) == len &&
		                            memcmp(o->name, name, len) == 0;
		if (match && (o->cmds & cmds) == cmds)
			return o;
	}
	return NULL;
}

/* Parses option argv[*i] (which starts with '-'), taking its value from
 * the same word or the next one. */
static int cli_parse_opt(struct cli *cli, int argc, char **argv, int *i,
                         bool *node_given, char *err, size_t errlen)
{
	const char *word = argv[*i], *name, *value = NULL;
	bool is_short = word[1] != '-';
	size_t len;
	unsigned cmds =
	    cli->cmd ? CMD((unsigned)(cli->cmd - cli_cmds)) : CMD_ALL;
	const struct cli_opt *o;

	name = word + (is_short ? 1 : 2);
	len = is_short ? 1 : strcspn(name, "=");
	o = cli_opt_find(name, len, is_short, cmds);
	if (o == NULL && cli->cmd == NULL) {
		for (unsigned id = 0; id < CLI_CMD_COUNT; id++)
			if (cli_opt_find(name, len, is_short, CMD(id)) != NULL)
				o = &cli_opts[0]; /* known, but not here */
		if (o != NULL) {
			snprintf(err, errlen,
			         "option '%.*s' belongs after the command",
			         (int)(name - word + (int)len), word);
			return RKV_EINVAL;
		}
	}
	if (o == NULL) {
		snprintf(err, errlen, "unknown option '%.*s'%s%s",
		         (int)(name - word + (int)len), word,
		         cli->cmd ? " for " : "",
		         cli->cmd ? cli->cmd->name : "");
		return RKV_EINVAL;
	}
	if (is_short && name[1] != '\0')
		value = name + 1; /* -Hhost:port */
	else if (!is_short && name[len] == '=')
		value = name + len + 1;
	if (o->type == CLI_OPT_FLAG && value != NULL) {
		snprintf(err, errlen, "--%s takes no value", o->name);
		return RKV_EINVAL;
	}
	if (o->type != CLI_OPT_FLAG && value == NULL) {
		if (*i + 1 >= argc) {
			snprintf(err, errlen, "--%s needs a value (%s)",
			         o->name, o->arg);
			return RKV_EINVAL;
		}
		value = argv[++*i];
	}
	if (o->type == CLI_OPT_ADDR)
		*node_given = true;
	return cli_opt_set(cli, o, value, err, errlen);
}

static const struct cli_cmd *cli_cmd_find(const char *name)
{
	for (size_t i = 0; i < CLI_CMD_COUNT; i++)
		if (strcmp(cli_cmds[i].name, name) == 0)
			return &cli_cmds[i];
	return NULL;
}

/* cli_parse -- argv into *cli. 0, or RKV_EINVAL with a message in err. */
static int cli_parse(struct cli *cli, int argc, char **argv, char *err,
                     size_t errlen)
{
	bool node_given = false, options_done = false;
	const char *env;

	memset(cli, 0, sizeof(*cli));
	cli->timeout_ms = CLI_DEFAULT_TIMEOUT_MS;
	for (int i = 1; i < argc; i++) {
		const char *word = argv[i];
		if (!options_done && strcmp(word, "--") == 0) {
			options_done = true;
		} else if (!options_done && word[0] == '-' && word[1] != '\0') {
			if (cli_parse_opt(cli, argc, argv, &i, &node_given, err,
			                  errlen) != 0)
				return RKV_EINVAL;
		} else if (cli->cmd == NULL) {
			cli->cmd = cli_cmd_find(word);
			if (cli->cmd == NULL) {
				snprintf(err, errlen,
				         "unknown command '%s' (see ringkv "
				         "--help)",
				         word);
				return RKV_EINVAL;
			}
		} else if (cli->nargs < cli->cmd->max_args) {
			cli->args[cli->nargs++] = word;
		} else {
			snprintf(err, errlen, "unexpected argument '%s'", word);
			return RKV_EINVAL;
		}
	}
	if (cli->help)
		return 0;
	if (cli->cmd == NULL) {
		snprintf(err, errlen, "no command given (see ringkv --help)");
		return RKV_EINVAL;
	}
	if (cli->nargs < cli->cmd->min_args) {
		snprintf(err, errlen, "missing argument: usage: ringkv %s %s",
		         cli->cmd->name, cli->cmd->usage);
		return RKV_EINVAL;
	}
	if (node_given)
		return 0;
	env = getenv(CLI_NODE_ENV);
	if (env != NULL && env[0] != '\0') {
		if (cli_addr_parse(env, &cli->node) != 0) {
			snprintf(err, errlen, "$%s: '%s' is not host:port",
			         CLI_NODE_ENV, env);
			return RKV_EINVAL;
		}
		return 0;
	}
	return cli_addr_parse(CLI_DEFAULT_NODE, &cli->node);
}

int main(int argc, char **argv)
{
	struct cli cli;
	char err[512];

	if (cli_parse(&cli, argc, argv, err, sizeof(err)) != 0) {
		cli_error(&cli, "%s", err);
		return CLI_EXIT_USAGE;
	}
	if (cli.help && cli.cmd == NULL) {
		cli_print_help(stdout);
		return CLI_EXIT_OK;
	}
	if (cli.help) {
		cli_print_cmd_help(stdout, cli.cmd,
		                   (unsigned)(cli.cmd - cli_cmds));
		return CLI_EXIT_OK;
	}
	int rc = cli.cmd->run(&cli);
	if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
		cli_error(&cli, "cannot write the output: %s", strerror(errno));
		rc = CLI_EXIT_FAILED;
	}
	return rc;
}
