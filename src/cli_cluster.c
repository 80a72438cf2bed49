/* cli_cluster.c -- `ringkv status`, `ring`, `members`, and the rebalance
 * commands (see cli.h).
 *
 * `status` is nodetool's status for a ringkv cluster: one row per member
 * with what the contacted node knows of it (its /members entry, the
 * partitions /ring gives it) and what the member says of itself (keys and
 * disk from its own /stats). Three requests go to the contacted node at
 * once -- /members, /ring, /stats -- then one /stats to every other member
 * whose HTTP address is known, all at once, under one deadline, so a dead
 * member costs at most one --timeout however many there are. `transfers`
 * asks the members that send partitions in the same way (member_batch),
 * for their own /admin/transfers.
 *
 * Where a member's HTTP address comes from: the member's "http" field in
 * /members when the node sends one; for the contacted node itself, the
 * address the CLI used. The contacted node's own entry is the one marked
 * "self": true, or else the one whose "node_id" equals the node_id of its
 * /stats. A member with no known address shows "-" for keys and disk.
 *
 * Every field of /members beyond "name" is optional here: DESIGN.md
 * promises name, status and up, and more fields arrive as the membership
 * work lands, so `members` builds its columns from what the node sends
 * (known fields first, in cli_member_cols[] order, then any others) and
 * `status` shows "-" for what is missing.
 */
#include "cli.h"

#include "bench_json.h"
#include "cli_json.h"
#include "cli_table.h"
#include "json.h"
#include "status.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_STATUS_LEN_MAX 32
#define CLI_NODE_ID_MAX    64

/* One row of `status`. */
struct status_row {
	char name[CLI_NAME_MAX + 1];
	char status[CLI_STATUS_LEN_MAX + 1]; /* "" when not sent */
	int up;                              /* 1, 0; -1 when not sent */
	bool self;
	char node_id[CLI_NODE_ID_MAX + 1];
	struct cli_addr http; /* valid when has_http */
	bool has_http;
	unsigned owned;
	bool has_stats;
	double keys, disk_bytes;
};

struct status_view {
	struct status_row *rows;
	size_t nrows;
	double ring_size, n_val;
	unsigned pending; /* partitions with a next owner */
};

static const char *const cli_yes_no[2] = {"yes", "no"};
static const char *const cli_up_down[2] = {"up", "down"};

/* --- /ring ------------------------------------------------------------ */

struct ring_part {
	char id[24];
	char owner[CLI_NAME_MAX + 1];
	char next_owner[CLI_NAME_MAX + 1]; /* "" when none */
	char version[24];
};

typedef int (*ring_part_fn)(void *arg, const struct ring_part *p);

/* Reads a /ring body: ring_size and n_val, then fn for each partition
 * (in the node's order). 0, RKV_EINVAL when the body is not a ring, or
 * fn's first non-zero answer. */
static int ring_walk(const char *body, size_t len, double *ring_size,
                     double *n_val, unsigned *pending, ring_part_fn fn,
                     void *arg)
{
	const char *parts, *e;
	size_t plen, elen;
	struct cli_json_iter it;
	struct ring_part p;
	int rc;

	*pending = 0;
	if (bench_json_number(body, len, "ring_size", ring_size) != 0 ||
	    bench_json_member(body, len, "partitions", &parts, &plen) != 0 ||
	    cli_json_iter_init(&it, parts, plen) != 0)
		return RKV_EINVAL;
	if (cli_json_number(body, len, "n_val", n_val) != 0)
		*n_val = 0;
	while ((rc = cli_json_iter_next(&it, NULL, NULL, &e, &elen)) == 0) {
		if (cli_json_string(e, elen, "owner", p.owner,
		                    sizeof(p.owner)) == RKV_EINVAL)
			return RKV_EINVAL;
		int nrc = cli_json_string(e, elen, "next_owner", p.next_owner,
		                          sizeof(p.next_owner));
		if (nrc == RKV_EINVAL)
			return RKV_EINVAL;
		*pending += nrc == 0 && p.next_owner[0] != '\0';
		cli_json_cell(e, elen, "id", cli_yes_no, p.id, sizeof(p.id));
		cli_json_cell(e, elen, "version", cli_yes_no, p.version,
		              sizeof(p.version));
		if (fn != NULL && (rc = fn(arg, &p)) != 0)
			return rc;
	}
	return rc == RKV_ENOTFOUND ? 0 : RKV_EINVAL;
}

/* --- /members --------------------------------------------------------- */

static int status_read_member(struct status_row *r, const char *e, size_t elen)
{
	char http[CLI_ADDR_TEXT_MAX + 1];
	bool b;

	if (cli_json_string(e, elen, "name", r->name, sizeof(r->name)) != 0)
		return RKV_EINVAL; /* DESIGN.md: every member has a name */
	cli_json_string(e, elen, "status", r->status, sizeof(r->status));
	cli_json_string(e, elen, "node_id", r->node_id, sizeof(r->node_id));
	r->up = cli_json_bool(e, elen, "up", &b) == 0 ? b : -1;
	r->self = cli_json_bool(e, elen, "self", &b) == 0 && b;
	if (cli_json_string(e, elen, "http", http, sizeof(http)) == 0 &&
	    cli_addr_parse(http, &r->http) == 0)
		r->has_http = true;
	return 0;
}

static int status_read_members(struct status_view *v, const char *body,
                               size_t len)
{
	const char *arr, *e;
	size_t alen, elen;
	struct cli_json_iter it;
	int rc;

	if (bench_json_member(body, len, "members", &arr, &alen) != 0 ||
	    cli_json_iter_init(&it, arr, alen) != 0)
		return RKV_EINVAL;
	while ((rc = cli_json_iter_next(&it, NULL, NULL, &e, &elen)) == 0) {
		if (v->nrows == CLI_MAX_MEMBERS)
			return RKV_ETOOBIG;
		memset(&v->rows[v->nrows], 0, sizeof(v->rows[0]));
		if (status_read_member(&v->rows[v->nrows], e, elen) != 0)
			return RKV_EINVAL;
		v->nrows++;
	}
	return rc == RKV_ENOTFOUND ? 0 : RKV_EINVAL;
}

static int status_count_owner(void *arg, const struct ring_part *p)
{
	struct status_view *v = arg;
	for (size_t i = 0; i < v->nrows; i++) {
		if (strcmp(v->rows[i].name, p->owner) == 0) {
			v->rows[i].owned++;
			break;
		}
	}
	return 0;
}

/* The contacted node's own row: marked self, else matched by node_id. */
static void status_find_self(struct status_view *v, const char *stats,
                             size_t len)
{
	char id[CLI_NODE_ID_MAX + 1];

	for (size_t i = 0; i < v->nrows; i++)
		if (v->rows[i].self)
			return;
	if (stats == NULL ||
	    cli_json_string(stats, len, "node_id", id, sizeof(id)) != 0)
		return;
	for (size_t i = 0; i < v->nrows; i++)
		if (v->rows[i].node_id[0] != '\0' &&
		    strcmp(v->rows[i].node_id, id) == 0)
			v->rows[i].self = true;
}

static void status_take_stats(struct status_row *r,
                              const struct cli_http_call *call)
{
	const struct cli_http_answer *a = &call->answer;

	if (call->rc != 0 || a->status != 200)
		return;
	if (cli_json_number(a->body, a->len, "keys", &r->keys) == 0 &&
	    cli_json_number(a->body, a->len, "disk_bytes", &r->disk_bytes) == 0)
		r->has_stats = true;
}

/* --- one request to many members ------------------------------------ */

/* A GET of one path to each member that a pick function accepts, all at
 * once under one --timeout: a member that does not answer costs no more
 * than the batch's deadline. `status` asks for /stats this way and
 * `transfers` for /admin/transfers. */
struct member_batch {
	struct cli_http_call *calls;
	size_t *row; /* calls[i] went to v->rows[row[i]] */
	size_t n;
};

typedef bool (*member_pick_fn)(const struct status_row *r, size_t i, void *arg);

/* Runs the batch: CLI_EXIT_OK when it ran (each call's rc says whether
 * its member answered; none is made when pick accepts no member), else
 * CLI_EXIT_FAILED after saying why. Free b with member_batch_deinit in
 * either case; the calls point at v's addresses, which must outlive b. */
static int member_batch_run(const struct cli *cli, const struct status_view *v,
                            const char *path, member_pick_fn pick, void *arg,
                            struct member_batch *b)
{
	memset(b, 0, sizeof(*b));
	b->calls = calloc(v->nrows + 1, sizeof(*b->calls));
	b->row = calloc(v->nrows + 1, sizeof(*b->row));
	if (b->calls == NULL || b->row == NULL) {
		cli_error(cli, "out of memory");
		return CLI_EXIT_FAILED;
	}
	for (size_t i = 0; i < v->nrows; i++) {
		if (!v->rows[i].has_http || !pick(&v->rows[i], i, arg))
			continue;
		b->calls[b->n] =
		    (struct cli_http_call){.node = &v->rows[i].http,
		                           .method = CLI_HTTP_GET,
		                           .path = path};
		b->row[b->n++] = i;
	}
	return b->n > 0 ? cli_call(cli, b->calls, b->n) : CLI_EXIT_OK;
}

static void member_batch_deinit(struct member_batch *b)
{
	for (size_t i = 0; b->calls != NULL && i < b->n; i++)
		cli_http_call_deinit(&b->calls[i]);
	free(b->calls);
	free(b->row);
	memset(b, 0, sizeof(*b));
}

/* Every member but the contacted node, whose /stats came with the first
 * batch. */
static bool status_pick(const struct status_row *r, size_t i, void *arg)
{
	(void)i;
	(void)arg;
	return !r->self;
}

/* /stats of every member with a known HTTP address other than the
 * contacted node. */
static int status_fetch_stats(const struct cli *cli, struct status_view *v)
{
	struct member_batch b;
	int rc = member_batch_run(cli, v, "/stats", status_pick, NULL, &b);

	for (size_t i = 0; rc == CLI_EXIT_OK && i < b.n; i++)
		status_take_stats(&v->rows[b.row[i]], &b.calls[i]);
	member_batch_deinit(&b);
	return rc;
}

/* --- status output ---------------------------------------------------- */

static void fmt_bytes(double b, char *buf, size_t cap)
{
	static const char *const units[] = {"B",   "KiB", "MiB",
	                                    "GiB", "TiB", "PiB"};
	size_t u = 0;

	while (b >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		b /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%.0f%s", b, units[u]);
	else
		snprintf(buf, cap, "%.1f%s", b, units[u]);
}

static int status_print_table(const struct cli *cli,
                              const struct status_view *v)
{
	static const struct cli_table_col cols[] = {
	    {"NAME", false},      {"STATUS", false}, {"UP", false},
	    {"PARTITIONS", true}, {"OWNS", true},    {"KEYS", true},
	    {"DISK", true},       {"HTTP", false},
	};
	struct cli_table *t = cli_table_new(cols, sizeof(cols) / sizeof(*cols));
	char owned[16], owns[16], keys[32], disk[32];
	int rc = 0;

	if (t == NULL)
		return RKV_ENOMEM;
	printf(
	    "ring_size %.0f, n_val %.0f, %zu member%s, %u transfer%s pending "
	    "(via %s)\n",
	    v->ring_size, v->n_val, v->nrows, v->nrows == 1 ? "" : "s",
	    v->pending, v->pending == 1 ? "" : "s", cli->node.text);
	for (size_t i = 0; i < v->nrows && rc == 0; i++) {
		const struct status_row *r = &v->rows[i];
		snprintf(owned, sizeof(owned), "%u", r->owned);
		snprintf(owns, sizeof(owns), "%.1f%%",
		         v->ring_size > 0 ? 100.0 * r->owned / v->ring_size
		                          : 0);
		snprintf(keys, sizeof(keys), "%.0f", r->keys);
		fmt_bytes(r->disk_bytes, disk, sizeof(disk));
		const char *http = r->self       ? cli->node.text
		                   : r->has_http ? r->http.text
		                                 : NULL;
		const char *cells[] = {
		    r->name,
		    r->status,
		    r->up < 0 ? NULL : cli_up_down[r->up ? 0 : 1],
		    owned,
		    owns,
		    r->has_stats ? keys : NULL,
		    r->has_stats ? disk : NULL,
		    http,
		};
		rc = cli_table_add(t, cells);
	}
	if (rc == 0)
		cli_table_print(t, stdout);
	cli_table_free(t);
	return rc;
}

static int status_print_json(const struct cli *cli, const struct status_view *v)
{
	struct evbuffer *b = evbuffer_new();
	int rc = 0;

	if (b == NULL)
		return RKV_ENOMEM;
	evbuffer_add_printf(b, "{\"node\":");
	json_add_string(b, cli->node.text);
	evbuffer_add_printf(b,
	                    ",\"ring_size\":%.0f,\"n_val\":%.0f,"
	                    "\"transfers_pending\":%u,\"members\":[",
	                    v->ring_size, v->n_val, v->pending);
	for (size_t i = 0; i < v->nrows; i++) {
		const struct status_row *r = &v->rows[i];
		evbuffer_add_printf(b, "%s{\"name\":", i ? "," : "");
		json_add_string(b, r->name);
		evbuffer_add_printf(b, ",\"status\":");
		json_add_string(b, r->status[0] ? r->status : NULL);
		evbuffer_add_printf(b, ",\"up\":%s,\"self\":%s,\"http\":",
		                    r->up < 0 ? "null"
		                    : r->up   ? "true"
		                              : "false",
		                    r->self ? "true" : "false");
		json_add_string(b, r->self       ? cli->node.text
		                   : r->has_http ? r->http.text
		                                 : NULL);
		evbuffer_add_printf(
		    b, ",\"partitions\":%u,\"ownership\":%.6g", r->owned,
		    v->ring_size > 0 ? r->owned / v->ring_size : 0);
		if (r->has_stats)
			evbuffer_add_printf(
			    b, ",\"keys\":%.0f,\"disk_bytes\":%.0f}", r->keys,
			    r->disk_bytes);
		else
			evbuffer_add_printf(
			    b, ",\"keys\":null,\"disk_bytes\":null}");
	}
	if (evbuffer_add_printf(b, "]}\n") < 0)
		rc = RKV_ENOMEM;
	else
		fwrite(evbuffer_pullup(b, -1), 1, evbuffer_get_length(b),
		       stdout);
	evbuffer_free(b);
	return rc;
}

/* --- status ----------------------------------------------------------- */

/* The first batch's calls are answered and 200, or the exit status. */
static int cli_expect_ok(const struct cli *cli, struct cli_http_call *calls,
                         size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (calls[i].rc != 0)
			return cli_no_answer(cli, &calls[i]);
		if (calls[i].answer.status != 200)
			return cli_refused(cli, &calls[i]);
	}
	return CLI_EXIT_OK;
}

int cli_cmd_status(struct cli *cli)
{
	struct cli_http_call calls[3] = {
	    {.node = &cli->node, .method = CLI_HTTP_GET, .path = "/members"},
	    {.node = &cli->node, .method = CLI_HTTP_GET, .path = "/ring"},
	    {.node = &cli->node, .method = CLI_HTTP_GET, .path = "/stats"},
	};
	struct status_view v = {0};
	const struct cli_http_answer *self_stats = &calls[2].answer;
	int rc, prc;

	v.rows = calloc(CLI_MAX_MEMBERS, sizeof(*v.rows));
	if (v.rows == NULL) {
		cli_error(cli, "out of memory");
		return CLI_EXIT_FAILED;
	}
	rc = cli_call(cli, calls, 3);
	if (rc == CLI_EXIT_OK)
		rc = cli_expect_ok(cli, calls, 2);
	if (rc != CLI_EXIT_OK)
		goto done;
	prc =
	    status_read_members(&v, calls[0].answer.body, calls[0].answer.len);
	if (prc == 0)
		prc = ring_walk(calls[1].answer.body, calls[1].answer.len,
		                &v.ring_size, &v.n_val, &v.pending,
		                status_count_owner, &v);
	if (prc != 0) {
		cli_error(cli,
		          "%s answered /members or /ring in a form this "
		          "ringkv does not read%s",
		          cli->node.text,
		          prc == RKV_ETOOBIG ? " (more than 256 members)" : "");
		rc = CLI_EXIT_FAILED;
		goto done;
	}
	status_find_self(&v, calls[2].rc == 0 ? self_stats->body : NULL,
	                 self_stats->len);
	for (size_t i = 0; i < v.nrows; i++)
		if (v.rows[i].self)
			status_take_stats(&v.rows[i], &calls[2]);
	rc = status_fetch_stats(cli, &v);
	if (rc != CLI_EXIT_OK)
		goto done;
	prc = cli->json ? status_print_json(cli, &v)
	                : status_print_table(cli, &v);
	if (prc != 0) {
		cli_error(cli, "out of memory");
		rc = CLI_EXIT_FAILED;
	}
done:
	for (size_t i = 0; i < 3; i++)
		cli_http_call_deinit(&calls[i]);
	free(v.rows);
	return rc;
}

/* --- ring ------------------------------------------------------------- */

static int ring_add_row(void *arg, const struct ring_part *p)
{
	const char *cells[] = {p->id, p->owner, p->next_owner, p->version};
	return cli_table_add(arg, cells);
}

int cli_cmd_ring(struct cli *cli)
{
	static const struct cli_table_col cols[] = {
	    {"PARTITION", true},
	    {"OWNER", false},
	    {"NEXT_OWNER", false},
	    {"VERSION", true},
	};
	struct cli_http_call call = {
	    .node = &cli->node, .method = CLI_HTTP_GET, .path = "/ring"};
	struct cli_table *t = NULL;
	double q, n;
	unsigned pending;
	int rc = cli_call_one(cli, &call), prc;

	if (rc != CLI_EXIT_OK)
		goto done;
	if (call.answer.status != 200) {
		rc = cli_refused(cli, &call);
		goto done;
	}
	if (cli->json) {
		cli_print_body(&call);
		goto done;
	}
	t = cli_table_new(cols, sizeof(cols) / sizeof(*cols));
	prc = t ? ring_walk(call.answer.body, call.answer.len, &q, &n, &pending,
	                    ring_add_row, t)
	        : RKV_ENOMEM;
	if (prc != 0) {
		cli_error(cli, "%s",
		          prc == RKV_EINVAL
		              ? "the node's /ring is not in a form "
		                "this ringkv reads"
		              : "out of memory");
		rc = CLI_EXIT_FAILED;
		goto done;
	}
	printf("ring_size %.0f, n_val %.0f, %u transfer%s pending\n", q, n,
	       pending, pending == 1 ? "" : "s");
	cli_table_print(t, stdout);
done:
	cli_table_free(t);
	cli_http_call_deinit(&call);
	return rc;
}

/* --- members ---------------------------------------------------------- */

/* The fields `members` knows, in column order; others follow. */
static const struct member_col {
	const char *key;
	const char *header;
	bool right;
	const char *const *yes_no;
} cli_member_cols[] = {
    {"name", "NAME", false, cli_yes_no},
    {"status", "STATUS", false, cli_yes_no},
    {"up", "UP", false, cli_up_down},
    {"self", "SELF", false, cli_yes_no},
    {"partitions", "PARTITIONS", true, cli_yes_no},
    {"node_id", "NODE_ID", false, cli_yes_no},
    {"generation", "GENERATION", true, cli_yes_no},
    {"version", "VERSION", true, cli_yes_no},
    {"phi", "PHI", true, cli_yes_no},
    {"addr", "RPC", false, cli_yes_no},
    {"http", "HTTP", false, cli_yes_no},
};

#define MEMBER_NKNOWN  (sizeof(cli_member_cols) / sizeof(cli_member_cols[0]))
#define MEMBER_KEY_MAX 32

struct member_cols {
	size_t n;
	char keys[CLI_TABLE_MAX_COLS][MEMBER_KEY_MAX + 1];
	char headers[CLI_TABLE_MAX_COLS][MEMBER_KEY_MAX + 1];
	struct cli_table_col cols[CLI_TABLE_MAX_COLS];
	const char *const *yes_no[CLI_TABLE_MAX_COLS];
};

/* value: the first value seen for the key, which right-aligns a field
 * the table does not know when it is a number or a list (a count). */
static void member_cols_add(struct member_cols *mc, const char *key,
                            size_t klen, const char *value)
{
	const struct member_col *known = NULL;

	if (klen == 0 || klen > MEMBER_KEY_MAX || mc->n == CLI_TABLE_MAX_COLS)
		return;
	for (size_t i = 0; i < mc->n; i++)
		if (strlen(mc->keys[i]) == klen &&
		    memcmp(mc->keys[i], key, klen) == 0)
			return;
	for (size_t i = 0; i < MEMBER_NKNOWN; i++)
		if (strlen(cli_member_cols[i].key) == klen &&
		    memcmp(cli_member_cols[i].key, key, klen) == 0)
			known = &cli_member_cols[i];
	memcpy(mc->keys[mc->n], key, klen);
	mc->keys[mc->n][klen] = '\0';
	for (size_t i = 0; i < klen; i++)
		mc->headers[mc->n][i] = (char)toupper((unsigned char)key[i]);
	mc->headers[mc->n][klen] = '\0';
	mc->cols[mc->n].header = known ? known->header : mc->headers[mc->n];
	mc->cols[mc->n].right =
	    known ? known->right : strchr("-0123456789[", value[0]) != NULL;
	mc->yes_no[mc->n] = known ? known->yes_no : cli_yes_no;
	mc->n++;
}

static bool member_col_known(const char *key, size_t klen)
{
	for (size_t i = 0; i < MEMBER_NKNOWN; i++)
		if (strlen(cli_member_cols[i].key) == klen &&
		    memcmp(cli_member_cols[i].key, key, klen) == 0)
			return true;
	return false;
}

/* Columns: the known fields that some member has, in table order, then
 * the other fields in the order they first appear. */
static int member_cols_find(struct member_cols *mc, const char *arr,
                            size_t alen)
{
	struct cli_json_iter it, mt;
	const char *e, *k, *v;
	size_t elen, klen, vlen;
	int rc;

	for (size_t i = 0; i < MEMBER_NKNOWN; i++) {
		const char *key = cli_member_cols[i].key;
		if (cli_json_iter_init(&it, arr, alen) != 0)
			return RKV_EINVAL;
		while (cli_json_iter_next(&it, NULL, NULL, &e, &elen) == 0) {
			if (bench_json_member(e, elen, key, &v, &vlen) == 0) {
				member_cols_add(mc, key, strlen(key), v);
				break;
			}
		}
	}
	if (cli_json_iter_init(&it, arr, alen) != 0)
		return RKV_EINVAL;
	while ((rc = cli_json_iter_next(&it, NULL, NULL, &e, &elen)) == 0) {
		if (cli_json_iter_init(&mt, e, elen) != 0 || !mt.object)
			return RKV_EINVAL;
		while (cli_json_iter_next(&mt, &k, &klen, &v, &vlen) == 0)
			if (!member_col_known(k, klen))
				member_cols_add(mc, k, klen, v);
	}
	return rc == RKV_ENOTFOUND ? 0 : RKV_EINVAL;
}

static int members_print_table(const char *body, size_t len)
{
	struct member_cols mc = {0};
	struct cli_json_iter it;
	struct cli_table *t = NULL;
	const char *arr, *e;
	size_t alen, elen;
	char cells[CLI_TABLE_MAX_COLS][CLI_TABLE_MAX_CELL];
	const char *cellp[CLI_TABLE_MAX_COLS];
	int rc;

	if (bench_json_member(body, len, "members", &arr, &alen) != 0 ||
	    member_cols_find(&mc, arr, alen) != 0)
		return RKV_EINVAL;
	if (mc.n == 0)
		member_cols_add(&mc, "name", 4, "\"");
	t = cli_table_new(mc.cols, mc.n);
	if (t == NULL || cli_json_iter_init(&it, arr, alen) != 0) {
		cli_table_free(t);
		return RKV_ENOMEM;
	}
	while ((rc = cli_json_iter_next(&it, NULL, NULL, &e, &elen)) == 0) {
		for (size_t c = 0; c < mc.n; c++) {
			cli_json_cell(e, elen, mc.keys[c], mc.yes_no[c],
			              cells[c], sizeof(cells[c]));
			cellp[c] = cells[c];
		}
		if ((rc = cli_table_add(t, cellp)) != 0)
			break;
	}
	if (rc == RKV_ENOTFOUND) {
		cli_table_print(t, stdout);
		rc = 0;
	}
	cli_table_free(t);
	return rc;
}

int cli_cmd_members(struct cli *cli)
{
	struct cli_http_call call = {
	    .node = &cli->node, .method = CLI_HTTP_GET, .path = "/members"};
	int rc = cli_call_one(cli, &call);

	if (rc != CLI_EXIT_OK)
		goto done;
	if (call.answer.status != 200) {
		rc = cli_refused(cli, &call);
	} else if (cli->json) {
		cli_print_body(&call);
	} else if (members_print_table(call.answer.body, call.answer.len) !=
	           0) {
		cli_error(cli, "the node's /members is not in a form this "
		               "ringkv reads");
		rc = CLI_EXIT_FAILED;
	}
done:
	cli_http_call_deinit(&call);
	return rc;
}

/* --- rebalance: join, leave, remove, plan, commit, clear, transfers --- */

/* How the answers of /admin (docs/http-api.md, "Admin: rebalancing") are
 * shown: each runner below sends its row's request through admin_run,
 * which handles every answer that is not a 2xx and --json alike, and
 * hands a 2xx body to the runner's printer. Printers read only the fields
 * they show; a field that is absent or null is written "-", but a body
 * without the arrays or counts a printer is built around is refused
 * (exit 1) rather than shown as if nothing were there. */

typedef int (*admin_print_fn)(const struct cli *cli, const char *body,
                              size_t len);

/* Fills one table row from one element of an array: 0, RKV_EINVAL when
 * the element is not an object. */
typedef int (*admin_row_fn)(const char *e, size_t elen,
                            char cells[][CLI_TABLE_MAX_CELL]);

/* A 404 from a node without /admin says "no such path"; a 404 that says
 * anything else comes from an /admin endpoint that exists (an unknown
 * member, say) and is reported as the node's error. */
static bool admin_unsupported(const struct cli_http_answer *a)
{
	char text[64];

	if (a->status != 404)
		return false;
	return cli_json_string(a->body, a->len, "error", text, sizeof(text)) !=
	           0 ||
	       strcmp(text, "no such path") == 0;
}

/* The row's path with its query: the argument in the row's parameter,
 * and remove's force=true. NULL when out of memory; free it. */
static char *admin_path(const struct cli *cli)
{
	const struct cli_cmd *c = cli->cmd;
	struct evbuffer *b = evbuffer_new();
	char *arg = NULL, *path = NULL;
	char sep = '?';

	if (b == NULL)
		return NULL;
	if (evbuffer_add_printf(b, "%s", c->path) < 0)
		goto done;
	if (c->param != NULL && cli->nargs > 0) {
		arg = evhttp_uriencode(cli->args[0], -1, 0);
		if (arg == NULL ||
		    evbuffer_add_printf(b, "?%s=%s", c->param, arg) < 0)
			goto done;
		sep = '&';
	}
	if (cli->force && evbuffer_add_printf(b, "%cforce=true", sep) < 0)
		goto done;
	path = calloc(1, evbuffer_get_length(b) + 1);
	if (path != NULL)
		evbuffer_copyout(b, path, evbuffer_get_length(b));
done:
	free(arg);
	evbuffer_free(b);
	return path;
}

/* The answer to the row's request, once the call ran: CLI_EXIT_OK for a
 * 2xx; else the exit status, after saying why (no answer, an endpoint the
 * node does not have, the node's error). */
static int admin_check(const struct cli *cli, const struct cli_http_call *call)
{
	const struct cli_cmd *c = cli->cmd;

	if (call->rc != 0)
		return cli_no_answer(cli, call);
	if (admin_unsupported(&call->answer)) {
		cli_error(cli, "not supported by this node yet (%s %s: 404)",
		          c->method == CLI_HTTP_GET ? "GET" : "POST", c->path);
		return CLI_EXIT_FAILED;
	}
	if (call->answer.status / 100 != 2)
		return cli_refused(cli, call);
	return CLI_EXIT_OK;
}

static int admin_run(struct cli *cli, admin_print_fn print)
{
	const struct cli_cmd *c = cli->cmd;
	const char *method = c->method == CLI_HTTP_GET ? "GET" : "POST";
	struct cli_http_call call = {.node = &cli->node, .method = c->method};
	char *path = admin_path(cli);
	int rc, prc;

	if (path == NULL) {
		cli_error(cli, "out of memory");
		return CLI_EXIT_FAILED;
	}
	call.path = path;
	rc = cli_call(cli, &call, 1);
	if (rc == CLI_EXIT_OK)
		rc = admin_check(cli, &call);
	if (rc != CLI_EXIT_OK)
		goto done;
	if (cli->json) {
		cli_print_body(&call);
	} else if ((prc = print(cli, call.answer.body, call.answer.len)) != 0) {
		if (prc == RKV_ENOMEM)
			cli_error(cli, "out of memory");
		else
			cli_error(cli,
			          "the node's answer to %s %s is not in a form "
			          "this ringkv reads",
			          method, c->path);
		rc = CLI_EXIT_FAILED;
	}
done:
	cli_http_call_deinit(&call);
	free(path);
	return rc;
}

/* The array member key of body as a table (cols), one row per element,
 * filled by row. 0, RKV_EINVAL, RKV_ETOOBIG or RKV_ENOMEM; nothing is
 * printed unless every row was read. */
static int admin_print_list(const char *body, size_t len, const char *key,
                            const struct cli_table_col *cols, size_t ncols,
                            admin_row_fn row)
{
	char cells[CLI_TABLE_MAX_COLS][CLI_TABLE_MAX_CELL];
	const char *cellp[CLI_TABLE_MAX_COLS];
	struct cli_json_iter it;
	struct cli_table *t;
	const char *arr, *e;
	size_t alen, elen;
	int rc;

	if (bench_json_member(body, len, key, &arr, &alen) != 0 ||
	    cli_json_iter_init(&it, arr, alen) != 0 || it.object)
		return RKV_EINVAL;
	t = cli_table_new(cols, ncols);
	if (t == NULL)
		return RKV_ENOMEM;
	for (size_t c = 0; c < ncols; c++)
		cellp[c] = cells[c];
	while ((rc = cli_json_iter_next(&it, NULL, NULL, &e, &elen)) == 0)
		if ((rc = row(e, elen, cells)) != 0 ||
		    (rc = cli_table_add(t, cellp)) != 0)
			break;
	if (rc == RKV_ENOTFOUND) {
		cli_table_print(t, stdout);
		rc = 0;
	}
	cli_table_free(t);
	return rc;
}

/* How many elements the array member key of body has; -1 when it is
 * absent or not an array. */
static long admin_count(const char *body, size_t len, const char *key)
{
	const char *arr;
	size_t alen;

	if (bench_json_member(body, len, key, &arr, &alen) != 0 ||
	    arr[0] != '[')
		return -1;
	return cli_json_count(arr, alen);
}

/* A cell for member key as it is (cli_json_cell); RKV_EINVAL when e is
 * not an object. */
static int admin_cell(const char *e, size_t elen, const char *key, char *cell)
{
	int rc =
	    cli_json_cell(e, elen, key, cli_yes_no, cell, CLI_TABLE_MAX_CELL);
	return rc == RKV_EINVAL ? rc : 0;
}

/* A cell for a byte count, prefix first ("~" for an estimate); "-" when
 * absent or null. */
static void admin_bytes_cell(const char *e, size_t elen, const char *key,
                             const char *prefix, char *cell)
{
	double b;
	char text[32];

	if (cli_json_number(e, elen, key, &b) != 0) {
		snprintf(cell, CLI_TABLE_MAX_CELL, "-");
		return;
	}
	fmt_bytes(b, text, sizeof(text));
	snprintf(cell, CLI_TABLE_MAX_CELL, "%s%s", prefix, text);
}

/* A duration for people: <0.1s, 0.2s, 45s, 3m20s, 2h05m. */
static void fmt_seconds(double s, char *buf, size_t cap)
{
	if (s < 0.05)
		snprintf(buf, cap, "<0.1s");
	else if (s < 10)
		snprintf(buf, cap, "%.1fs", s);
	else if (s < 60)
		snprintf(buf, cap, "%.0fs", s);
	else if (s < 3600)
		snprintf(buf, cap, "%.0fm%02.0fs", floor(s / 60),
		         fmod(floor(s), 60));
	else
		snprintf(buf, cap, "%.0fh%02.0fm", floor(s / 3600),
		         fmod(floor(s / 60), 60));
}

static const char *plural(double n)
{
	return n == 1 ? "" : "s";
}

/* --- join --- */

static int join_print(const struct cli *cli, const char *body, size_t len)
{
	char node[CLI_NAME_MAX + 1], seed[CLI_NAME_MAX + 1];

	(void)cli;
	if (cli_json_string(body, len, "node", node, sizeof(node)) != 0 ||
	    cli_json_string(body, len, "seed", seed, sizeof(seed)) != 0)
		return RKV_EINVAL;
	printf("%s is joining the cluster of %s; see the transfers with "
	       "'ringkv plan', start them with 'ringkv commit'\n",
	       node, seed);
	return 0;
}

int cli_cmd_join(struct cli *cli)
{
	return admin_run(cli, join_print);
}

/* --- leave, remove --- */

static const struct cli_table_col staged_cols[] = {
    {"ACTION", false},
    {"NODE", false},
};

static int staged_row(const char *e, size_t elen,
                      char cells[][CLI_TABLE_MAX_CELL])
{
	if (admin_cell(e, elen, "action", cells[0]) != 0)
		return RKV_EINVAL;
	return admin_cell(e, elen, "node", cells[1]);
}

static int stage_print(const struct cli *cli, const char *body, size_t len)
{
	int rc = admin_print_list(body, len, "staged", staged_cols,
	                          sizeof(staged_cols) / sizeof(*staged_cols),
	                          staged_row);
	(void)cli;
	if (rc == 0)
		printf("\nrun 'ringkv plan' to see the transfers\n");
	return rc;
}

int cli_cmd_stage(struct cli *cli)
{
	return admin_run(cli, stage_print);
}

/* --- plan --- */

static const struct cli_table_col move_cols[] = {
    {"PARTITION", true}, {"FROM", false}, {"TO", false},
    {"KEYS", true},      {"BYTES", true},
};

static const struct cli_table_col plan_node_cols[] = {
    {"NAME", false},     {"BEFORE", true},   {"AFTER", true},
    {"KEYS_IN", true},   {"BYTES_IN", true}, {"KEYS_OUT", true},
    {"BYTES_OUT", true},
};

/* An estimated move's KEYS and BYTES are marked "~". A move marked
 * "handover" (a removed node's partition, given away without a transfer)
 * streams nothing: "-". */
static int move_row(const char *e, size_t elen,
                    char cells[][CLI_TABLE_MAX_CELL])
{
	bool exact = true, handover = false;
	char keys[32];

	if (admin_cell(e, elen, "partition", cells[0]) != 0)
		return RKV_EINVAL;
	admin_cell(e, elen, "from", cells[1]);
	admin_cell(e, elen, "to", cells[2]);
	cli_json_bool(e, elen, "exact", &exact);
	cli_json_bool(e, elen, "handover", &handover);
	cli_json_cell(e, elen, "keys", cli_yes_no, keys, sizeof(keys));
	snprintf(cells[3], CLI_TABLE_MAX_CELL, "%s%s",
	         exact || strcmp(keys, "-") == 0 ? "" : "~",
	         handover ? "-" : keys);
	admin_bytes_cell(e, elen, "bytes", exact ? "" : "~", cells[4]);
	if (handover)
		snprintf(cells[4], CLI_TABLE_MAX_CELL, "-");
	return 0;
}

static int plan_node_row(const char *e, size_t elen,
                         char cells[][CLI_TABLE_MAX_CELL])
{
	if (admin_cell(e, elen, "name", cells[0]) != 0)
		return RKV_EINVAL;
	admin_cell(e, elen, "before", cells[1]);
	admin_cell(e, elen, "after", cells[2]);
	admin_cell(e, elen, "keys_in", cells[3]);
	admin_bytes_cell(e, elen, "bytes_in", "", cells[4]);
	admin_cell(e, elen, "keys_out", cells[5]);
	admin_bytes_cell(e, elen, "bytes_out", "", cells[6]);
	return 0;
}

/* "staged: join A, leave B" on one line. */
static int plan_print_staged(const struct cli *cli, const char *body,
                             size_t len)
{
	char action[32], node[CLI_NAME_MAX + 1];
	struct cli_json_iter it;
	const char *arr, *e;
	size_t alen, elen;
	int rc, n = 0;

	if (bench_json_member(body, len, "staged", &arr, &alen) != 0 ||
	    cli_json_iter_init(&it, arr, alen) != 0)
		return RKV_EINVAL;
	printf("staged on %s:", cli->node.text);
	while ((rc = cli_json_iter_next(&it, NULL, NULL, &e, &elen)) == 0) {
		cli_json_string(e, elen, "action", action, sizeof(action));
		cli_json_string(e, elen, "node", node, sizeof(node));
		printf("%s %s %s", n++ ? "," : "", action, node);
	}
	printf("\n");
	return rc == RKV_ENOTFOUND ? 0 : RKV_EINVAL;
}

/* How many moves of the plan are estimates, and how many handovers. */
static void plan_scan(const char *body, size_t len, long *estimated,
                      long *handovers)
{
	struct cli_json_iter it;
	const char *arr, *e;
	size_t alen, elen;
	bool b;

	*estimated = *handovers = 0;
	if (bench_json_member(body, len, "moves", &arr, &alen) != 0 ||
	    cli_json_iter_init(&it, arr, alen) != 0)
		return;
	while (cli_json_iter_next(&it, NULL, NULL, &e, &elen) == 0) {
		*estimated += cli_json_bool(e, elen, "exact", &b) == 0 && !b;
		*handovers += cli_json_bool(e, elen, "handover", &b) == 0 && b;
	}
}

static int plan_print(const struct cli *cli, const char *body, size_t len)
{
	long nstaged = admin_count(body, len, "staged");
	long nmoves = admin_count(body, len, "moves");
	double keys, bytes, rate, secs;
	char bytes_text[32], rate_text[32], secs_text[32];
	const char *est;
	long estimated, handovers;
	int rc;

	if (nstaged < 0 || nmoves < 0 || admin_count(body, len, "nodes") < 0 ||
	    cli_json_number(body, len, "keys", &keys) != 0 ||
	    cli_json_number(body, len, "bytes", &bytes) != 0)
		return RKV_EINVAL;
	if (nstaged == 0) {
		printf("no staged changes\n");
		return 0;
	}
	plan_scan(body, len, &estimated, &handovers);
	est = estimated > 0 ? "~" : "";
	if ((rc = plan_print_staged(cli, body, len)) != 0)
		return rc;
	if (nmoves > 0) {
		printf("\n");
		rc = admin_print_list(body, len, "moves", move_cols,
		                      sizeof(move_cols) / sizeof(*move_cols),
		                      move_row);
	}
	if (rc == 0) {
		printf("\n");
		rc = admin_print_list(body, len, "nodes", plan_node_cols,
		                      sizeof(plan_node_cols) /
		                          sizeof(*plan_node_cols),
		                      plan_node_row);
	}
	if (rc != 0)
		return rc;
	fmt_bytes(bytes, bytes_text, sizeof(bytes_text));
	printf("\n%ld partition%s move", nmoves, nmoves == 1 ? "" : "s");
	if (handovers > 0)
		printf(" (%ld handed over at once from removed nodes)",
		       handovers);
	printf(": %s%.0f key%s, %s%s", est, keys, plural(keys), est,
	       bytes_text);
	if (cli_json_number(body, len, "estimated_seconds", &secs) == 0) {
		fmt_seconds(secs, secs_text, sizeof(secs_text));
		printf(", %s%s", secs < 0.05 ? "" : "about ", secs_text);
	}
	if (cli_json_number(body, len, "transfer_rate_bytes_per_s", &rate) ==
	    0) {
		fmt_bytes(rate, rate_text, sizeof(rate_text));
		printf(" at %s/s per node", rate_text);
	}
	printf("%s\n", est[0] ? " (~: estimated)" : "");
	return 0;
}

int cli_cmd_plan(struct cli *cli)
{
	return admin_run(cli, plan_print);
}

/* --- commit, clear --- */

static int commit_print(const struct cli *cli, const char *body, size_t len)
{
	double moves, handed = 0;

	(void)cli;
	if (cli_json_number(body, len, "committed", &moves) != 0)
		return RKV_EINVAL;
	cli_json_number(body, len, "handed_over", &handed);
	printf("committed %.0f move%s", moves, plural(moves));
	if (handed > 0)
		printf(" (%.0f partition%s of removed nodes handed over at "
		       "once)",
		       handed, plural(handed));
	printf("; watch them with 'ringkv transfers'\n");
	return 0;
}

int cli_cmd_commit(struct cli *cli)
{
	return admin_run(cli, commit_print);
}

static int clear_print(const struct cli *cli, const char *body, size_t len)
{
	double n;

	(void)cli;
	if (cli_json_number(body, len, "cleared", &n) != 0)
		return RKV_EINVAL;
	printf("cleared %.0f staged change%s\n", n, plural(n));
	return 0;
}

int cli_cmd_clear(struct cli *cli)
{
	return admin_run(cli, clear_print);
}

static int compact_print(const struct cli *cli, const char *body, size_t len)
{
	double disk, estimate;
	char now[32], after[32];

	(void)cli;
	if (cli_json_number(body, len, "disk_bytes", &disk) != 0 ||
	    cli_json_number(body, len, "compact_estimate", &estimate) != 0)
		return RKV_EINVAL;
	fmt_bytes(disk, now, sizeof(now));
	fmt_bytes(estimate, after, sizeof(after));
	printf("compacting: %s now, about %s after\n", now, after);
	return 0;
}

int cli_cmd_compact(struct cli *cli)
{
	return admin_run(cli, compact_print);
}

/* --- transfers --- */

static const struct cli_table_col transfer_cols[] = {
    {"PARTITION", true}, {"FROM", false}, {"TO", false},
    {"STATE", false},    {"KEYS", true},  {"BYTES", true},
    {"PROGRESS", true},  {"RATE", true},  {"ETA", true},
};

/* "sent/total", with "-" for a part the node does not know (a queued
 * transfer has not counted its total yet); "-" alone when it knows
 * neither (a remote transfer). */
static void transfer_pair(const char *e, size_t elen, const char *sent_key,
                          const char *total_key, bool bytes, char *cell)
{
	const char *keys[2] = {sent_key, total_key};
	char parts[2][32];
	double v;
	int known = 0;

	for (int i = 0; i < 2; i++) {
		snprintf(parts[i], sizeof(parts[i]), "-");
		if (cli_json_number(e, elen, keys[i], &v) != 0)
			continue;
		known++;
		if (bytes)
			fmt_bytes(v, parts[i], sizeof(parts[i]));
		else
			snprintf(parts[i], sizeof(parts[i]), "%.0f", v);
	}
	if (known == 0)
		snprintf(cell, CLI_TABLE_MAX_CELL, "-");
	else
		snprintf(cell, CLI_TABLE_MAX_CELL, "%s/%s", parts[0], parts[1]);
}

/* Percent of sent over total: of the bytes, or of the keys when the
 * partition holds no bytes; "-" when the total is unknown or zero. */
static void transfer_progress(const char *e, size_t elen, char *cell)
{
	static const char *const pairs[2][2] = {{"bytes_sent", "bytes_total"},
	                                        {"keys_sent", "keys_total"}};
	double sent, total;

	snprintf(cell, CLI_TABLE_MAX_CELL, "-");
	for (int i = 0; i < 2; i++) {
		if (cli_json_number(e, elen, pairs[i][0], &sent) == 0 &&
		    cli_json_number(e, elen, pairs[i][1], &total) == 0 &&
		    total > 0) {
			snprintf(cell, CLI_TABLE_MAX_CELL, "%.0f%%",
			         100 * sent / total);
			return;
		}
	}
}

static int transfer_row(const char *e, size_t elen,
                        char cells[][CLI_TABLE_MAX_CELL])
{
	double rate, eta;
	char text[32];

	if (admin_cell(e, elen, "partition", cells[0]) != 0)
		return RKV_EINVAL;
	admin_cell(e, elen, "from", cells[1]);
	admin_cell(e, elen, "to", cells[2]);
	admin_cell(e, elen, "state", cells[3]);
	transfer_pair(e, elen, "keys_sent", "keys_total", false, cells[4]);
	transfer_pair(e, elen, "bytes_sent", "bytes_total", true, cells[5]);
	transfer_progress(e, elen, cells[6]);
	snprintf(cells[7], CLI_TABLE_MAX_CELL, "-");
	snprintf(cells[8], CLI_TABLE_MAX_CELL, "-");
	if (cli_json_number(e, elen, "rate_bytes_per_s", &rate) == 0) {
		fmt_bytes(rate, text, sizeof(text));
		snprintf(cells[7], CLI_TABLE_MAX_CELL, "%s/s", text);
	}
	if (cli_json_number(e, elen, "eta_s", &eta) == 0)
		fmt_seconds(eta, cells[8], CLI_TABLE_MAX_CELL);
	return 0;
}

/* The merged answer (below) as a table: the contacted node's counts,
 * how many senders answered, then one row per partition. */
static int transfers_print(const struct cli *cli, const char *body, size_t len)
{
	char node[CLI_NAME_MAX + 1];
	long n = admin_count(body, len, "transfers");
	double pending, limit, senders, answered;

	if (cli_json_number(body, len, "pending", &pending) != 0 || n < 0)
		return RKV_EINVAL;
	printf("%.0f transfer%s pending", pending, plural(pending));
	if (cli_json_number(body, len, "limit", &limit) == 0)
		printf(" (limit %.0f per node)", limit);
	printf(" via %s",
	       cli_json_string(body, len, "node", node, sizeof(node)) == 0
	           ? node
	           : cli->node.text);
	if (cli_json_number(body, len, "senders", &senders) == 0 &&
	    cli_json_number(body, len, "senders_answered", &answered) == 0 &&
	    senders > 0)
		printf("; progress from %.0f of %.0f sender%s", answered,
		       senders, plural(senders));
	printf("\n");
	if (n == 0)
		return 0;
	return admin_print_list(body, len, "transfers", transfer_cols,
	                        sizeof(transfer_cols) / sizeof(*transfer_cols),
	                        transfer_row);
}

/* Every moving partition's progress, from its sender.
 *
 * A node's /admin/transfers lists every partition with a next owner in
 * its ring, but has progress only for the partitions it sends itself:
 * the others are "remote". So the CLI asks the contacted node for
 * /admin/transfers and /members at once, then -- like `status` with
 * /stats -- asks every sender for its own /admin/transfers, all at once
 * under one --timeout. A sender is a member named as "from" by some row,
 * other than the contacted node, with an HTTP address, not marked down.
 * Each "remote" row is then replaced by its sender's row for the same
 * partition, when the sender answered and that row is not "remote".
 *
 * The contacted node's answer stays the reference: its pending count,
 * its limit, its list of partitions. A row keeps "remote" when its
 * sender did not answer (or answered something this ringkv does not
 * read), has no known HTTP address, or no longer lists the partition as
 * its own (its ring has moved on: the partition flipped). A /members
 * that cannot be read leaves every remote row remote; only the contacted
 * node's /admin/transfers is required.
 *
 * The merged answer is one JSON object -- what --json prints, and what
 * the table is read from:
 *   {"node", "pending", "limit" (the contacted node's, as sent),
 *    "transfers": [each row as its source sent it],
 *    "senders_answered": N, "senders": M}
 * where M counts the distinct "from" of the rows, and N those among them
 * whose rows could be read: the contacted node itself, and every other
 * sender that answered. */

/* One row of the contacted node's answer. */
struct xfer_row {
	double partition;
	const char *e; /* the row shown: the contacted node's or the sender's */
	size_t elen;
	const char *from; /* the raw "from" (quotes included); NULL: none */
	size_t from_len;
	size_t sender;  /* the member "from" names; SIZE_MAX: none */
	bool from_self; /* "from" is the contacted node */
	bool remote;
};

/* A row of a sender's own answer, about a partition it sends. */
struct xfer_found {
	double partition;
	size_t sender;
	const char *e;
	size_t elen;
};

struct xfer_view {
	struct status_view members;
	char
	    node[CLI_NAME_MAX + 1]; /* the contacted node's name; "": unknown */
	struct xfer_row *rows;
	size_t nrows;
	bool *sends;    /* per member: some row names it as "from" */
	bool *answered; /* per member: its rows are known */
	struct xfer_found *found;
	size_t nfound, found_cap;
	unsigned senders, senders_answered;
};

static void xfer_view_deinit(struct xfer_view *x)
{
	free(x->members.rows);
	free(x->rows);
	free(x->sends);
	free(x->answered);
	free(x->found);
}

static size_t xfer_member(const struct xfer_view *x, const char *name)
{
	for (size_t i = 0; i < x->members.nrows; i++)
		if (strcmp(x->members.rows[i].name, name) == 0)
			return i;
	return SIZE_MAX;
}

/* One element of the contacted node's "transfers". */
static int xfer_read_row(struct xfer_view *x, struct xfer_row *r, const char *e,
                         size_t elen)
{
	char state[32], from[CLI_NAME_MAX + 1];

	*r = (struct xfer_row){.e = e, .elen = elen, .sender = SIZE_MAX};
	if (cli_json_number(e, elen, "partition", &r->partition) != 0)
		return RKV_EINVAL;
	r->remote =
	    cli_json_string(e, elen, "state", state, sizeof(state)) == 0 &&
	    strcmp(state, "remote") == 0;
	if (cli_json_string(e, elen, "from", from, sizeof(from)) != 0)
		return 0; /* no sender named: the row stays as it is */
	bench_json_member(e, elen, "from", &r->from, &r->from_len);
	r->sender = xfer_member(x, from);
	r->from_self = strcmp(from, x->node) == 0;
	return 0;
}

/* The contacted node's rows, and who sends them: the distinct "from"
 * names, members or not, and those already answered (the contacted node
 * itself). */
static int xfer_read_rows(struct xfer_view *x, const char *body, size_t len)
{
	struct cli_json_iter it;
	const char *arr, *e;
	size_t alen, elen;
	long n;
	int rc;

	if (bench_json_member(body, len, "transfers", &arr, &alen) != 0 ||
	    cli_json_iter_init(&it, arr, alen) != 0 || it.object ||
	    (n = cli_json_count(arr, alen)) < 0)
		return RKV_EINVAL;
	x->rows = calloc((size_t)n + 1, sizeof(*x->rows));
	if (x->rows == NULL)
		return RKV_ENOMEM;
	while ((rc = cli_json_iter_next(&it, NULL, NULL, &e, &elen)) == 0) {
		struct xfer_row *r = &x->rows[x->nrows];
		if (x->nrows == (size_t)n || xfer_read_row(x, r, e, elen) != 0)
			return RKV_EINVAL;
		x->nrows++;
		if (r->sender != SIZE_MAX) {
			x->senders += !x->sends[r->sender];
			x->senders_answered +=
			    !x->sends[r->sender] && x->answered[r->sender];
			x->sends[r->sender] = true;
			continue;
		}
		bool seen = r->from == NULL;
		for (size_t i = 0; !seen && i + 1 < x->nrows; i++)
			seen =
			    x->rows[i].sender == SIZE_MAX &&
			    x->rows[i].from_len == r->from_len &&
			    memcmp(x->rows[i].from, r->from, r->from_len) == 0;
		x->senders += !seen;
		x->senders_answered += !seen && r->from_self;
	}
	return rc == RKV_ENOTFOUND ? 0 : RKV_EINVAL;
}

/* The contacted node's answers: its members (optional), its name, its
 * rows. 0, RKV_EINVAL when /admin/transfers is not readable, or
 * RKV_ENOMEM. */
static int xfer_view_init(struct xfer_view *x, const struct cli_http_call *xc,
                          const struct cli_http_call *mc)
{
	struct status_view *v = &x->members;
	const struct cli_http_answer *t = &xc->answer;

	memset(x, 0, sizeof(*x));
	v->rows = calloc(CLI_MAX_MEMBERS, sizeof(*v->rows));
	x->sends = calloc(CLI_MAX_MEMBERS, sizeof(*x->sends));
	x->answered = calloc(CLI_MAX_MEMBERS, sizeof(*x->answered));
	if (v->rows == NULL || x->sends == NULL || x->answered == NULL)
		return RKV_ENOMEM;
	if (cli_json_string(t->body, t->len, "node", x->node,
	                    sizeof(x->node)) != 0)
		x->node[0] = '\0';
	if (mc->rc != 0 || mc->answer.status != 200 ||
	    status_read_members(v, mc->answer.body, mc->answer.len) != 0)
		v->nrows = 0; /* no member is asked: remote rows stay so */
	for (size_t i = 0; i < v->nrows; i++) {
		v->rows[i].self |= strcmp(v->rows[i].name, x->node) == 0;
		x->answered[i] = v->rows[i].self;
	}
	return xfer_read_rows(x, t->body, t->len);
}

/* The senders to ask: not the contacted node, not marked down. */
static bool xfer_pick(const struct status_row *r, size_t i, void *arg)
{
	const struct xfer_view *x = arg;
	return x->sends[i] && !r->self && r->up != 0;
}

static int xfer_found_cmp(const void *a, const void *b)
{
	const struct xfer_found *x = a, *y = b;

	if (x->partition != y->partition)
		return x->partition < y->partition ? -1 : 1;
	return (x->sender > y->sender) - (x->sender < y->sender);
}

/* The rows of sender s's answer about partitions it sends, into
 * x->found; nothing is kept unless the whole answer reads. */
static int xfer_take_sender(struct xfer_view *x, size_t s,
                            const struct cli_http_call *call)
{
	const struct cli_http_answer *a = &call->answer;
	size_t nfound = x->nfound;
	struct cli_json_iter it;
	const char *arr, *e;
	size_t alen, elen;
	char state[32];
	double p;
	long n;
	int rc;

	if (call->rc != 0 || a->status != 200 ||
	    bench_json_member(a->body, a->len, "transfers", &arr, &alen) != 0 ||
	    cli_json_iter_init(&it, arr, alen) != 0 || it.object ||
	    (n = cli_json_count(arr, alen)) < 0)
		return RKV_EINVAL;
	if (x->nfound + (size_t)n > x->found_cap) {
		size_t cap = x->nfound + (size_t)n + x->found_cap;
		struct xfer_found *f =
		    realloc(x->found, (cap + 1) * sizeof(*f));
		if (f == NULL)
			return RKV_ENOMEM;
		x->found = f;
		x->found_cap = cap;
	}
	while ((rc = cli_json_iter_next(&it, NULL, NULL, &e, &elen)) == 0) {
		if (cli_json_number(e, elen, "partition", &p) != 0 ||
		    cli_json_string(e, elen, "state", state, sizeof(state)) !=
		        0 ||
		    x->nfound == x->found_cap) {
			rc = RKV_EINVAL;
			break;
		}
		if (strcmp(state, "remote") != 0)
			x->found[x->nfound++] = (struct xfer_found){
			    .partition = p, .sender = s, .e = e, .elen = elen};
	}
	if (rc != RKV_ENOTFOUND) {
		x->nfound = nfound;
		return RKV_EINVAL;
	}
	x->answered[s] = true;
	x->senders_answered++;
	return 0;
}

/* Each remote row whose sender answered takes the sender's row. */
static int xfer_merge(struct xfer_view *x, const struct member_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (xfer_take_sender(x, b->row[i], &b->calls[i]) == RKV_ENOMEM)
			return RKV_ENOMEM;
	if (x->nfound == 0)
		return 0;
	qsort(x->found, x->nfound, sizeof(*x->found), xfer_found_cmp);
	for (size_t i = 0; i < x->nrows; i++) {
		struct xfer_row *r = &x->rows[i];
		struct xfer_found key = {.partition = r->partition,
		                         .sender = r->sender},
		                  *f;
		if (!r->remote || r->sender == SIZE_MAX ||
		    !x->answered[r->sender])
			continue;
		f = bsearch(&key, x->found, x->nfound, sizeof(*x->found),
		            xfer_found_cmp);
		if (f != NULL) {
			r->e = f->e;
			r->elen = f->elen;
		}
	}
	return 0;
}

/* Member key of the object body, raw, into b; null when absent. */
static void xfer_add_raw(struct evbuffer *b, const char *body, size_t len,
                         const char *key)
{
	const char *v;
	size_t vlen;

	if (bench_json_member(body, len, key, &v, &vlen) == 0)
		evbuffer_add(b, v, vlen);
	else
		evbuffer_add_printf(b, "null");
}

/* The merged answer (see above) into b. 0 or RKV_ENOMEM. */
static int xfer_write(const struct xfer_view *x, const char *body, size_t len,
                      struct evbuffer *b)
{
	evbuffer_add_printf(b, "{\"node\":");
	xfer_add_raw(b, body, len, "node");
	evbuffer_add_printf(b, ",\"pending\":");
	xfer_add_raw(b, body, len, "pending");
	evbuffer_add_printf(b, ",\"limit\":");
	xfer_add_raw(b, body, len, "limit");
	evbuffer_add_printf(b, ",\"transfers\":[");
	for (size_t i = 0; i < x->nrows; i++) {
		if (i > 0)
			evbuffer_add(b, ",", 1);
		evbuffer_add(b, x->rows[i].e, x->rows[i].elen);
	}
	if (evbuffer_add_printf(b, "],\"senders_answered\":%u,\"senders\":%u}",
	                        x->senders_answered, x->senders) < 0)
		return RKV_ENOMEM;
	return 0;
}

int cli_cmd_transfers(struct cli *cli)
{
	struct cli_http_call calls[2] = {
	    {.node = &cli->node,
	     .method = CLI_HTTP_GET,
	     .path = cli->cmd->path},
	    {.node = &cli->node, .method = CLI_HTTP_GET, .path = "/members"},
	};
	const struct cli_http_answer *a = &calls[0].answer;
	struct member_batch b = {0};
	struct xfer_view x = {0};
	struct evbuffer *out = NULL;
	int rc, prc;

	rc = cli_call(cli, calls, 2);
	if (rc == CLI_EXIT_OK)
		rc = admin_check(cli, &calls[0]);
	if (rc != CLI_EXIT_OK)
		goto done;
	prc = xfer_view_init(&x, &calls[0], &calls[1]);
	if (prc == 0) {
		rc = member_batch_run(cli, &x.members, cli->cmd->path,
		                      xfer_pick, &x, &b);
		if (rc != CLI_EXIT_OK)
			goto done;
		prc = xfer_merge(&x, &b);
	}
	out = prc == 0 ? evbuffer_new() : NULL;
	if (prc == 0)
		prc = out != NULL ? xfer_write(&x, a->body, a->len, out)
		                  : RKV_ENOMEM;
	if (prc == 0 && cli->json) {
		fwrite(evbuffer_pullup(out, -1), 1, evbuffer_get_length(out),
		       stdout);
		printf("\n");
	} else if (prc == 0) {
		prc =
		    transfers_print(cli, (const char *)evbuffer_pullup(out, -1),
		                    evbuffer_get_length(out));
	}
	if (prc == RKV_ENOMEM) {
		cli_error(cli, "out of memory");
		rc = CLI_EXIT_FAILED;
	} else if (prc != 0) {
		cli_error(cli,
		          "the node's answer to GET %s is not in a form this "
		          "ringkv reads",
		          cli->cmd->path);
		rc = CLI_EXIT_FAILED;
	}
done:
	if (out != NULL)
		evbuffer_free(out);
	member_batch_deinit(&b);
	xfer_view_deinit(&x);
	for (size_t i = 0; i < 2; i++)
		cli_http_call_deinit(&calls[i]);
	return rc;
}
