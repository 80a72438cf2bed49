/* bench_opts.c -- the option table and its checks (see bench_opts.h).
 *
 * A row's def is parsed by the same setter as a flag, so a default is
 * range-checked like user input. Options whose default depends on another
 * option (--duration on --ops, --read-ratio and --distribution on
 * --workload) have no def text: they keep a "not given" sentinel that
 * opts_resolve() replaces, and their row's shown text says what happens.
 */
#include "bench_opts.h"

#include "bench_nodes.h"
#include "status.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum opt_type {
	OPT_STR,      /* char array; size = capacity */
	OPT_UINT,     /* uint64_t within [min, max] */
	OPT_DBL,      /* double within [min, max] */
	OPT_FLAG,     /* bool, no value */
	OPT_WORKLOAD, /* uint64_t, a workload name */
	OPT_DIST,     /* int64_t, a distribution name */
	OPT_QUORUM,   /* char array: 1..16, one, quorum or all */
	OPT_SEED,     /* uint64_t, and seed_given */
};

struct opt_row {
	const char *name;
	enum opt_type type;
	size_t offset;
	size_t size;
	const char *def;   /* parsed at start; NULL: keep the sentinel */
	const char *shown; /* default as --help shows it */
	double min, max;
	const char *arg; /* metavariable in --help */
	const char *help;
};

#define FIELD(f)                                                               \
	offsetof(struct bench_opts, f), sizeof(((struct bench_opts *)0)->f)
#define ROW(name, type, f, def, shown, min, max, arg, help)                    \
	{                                                                      \
		name, type, FIELD(f), def, shown, min, max, arg, help          \
	}

static const struct opt_row opt_rows[] = {
    ROW("nodes", OPT_STR, nodes, "127.0.0.1:8098", "127.0.0.1:8098", 0, 0,
        "LIST", "comma-separated host:port of the nodes to drive"),
    ROW("connections", OPT_UINT, connections, "32", "32", 1,
        BENCH_MAX_CONNECTIONS, "N",
        "concurrent keep-alive connections, spread over the nodes"),
    ROW("duration", OPT_DBL, duration_s, NULL, "10, or none with --ops", 0.001,
        86400, "S", "seconds to measure, after the warmup"),
    ROW("ops", OPT_UINT, ops, "0", "0 (no limit)", 0, 1e12, "N",
        "operations to measure, then stop"),
    ROW("warmup", OPT_DBL, warmup_s, "0", "0", 0, 3600, "S",
        "seconds of operations before measuring starts"),
    ROW("records", OPT_UINT, records, "100000", "100000", 0,
        (double)BENCH_MAX_RECORDS, "N",
        "records the load phase writes and operations choose from"),
    ROW("no-load", OPT_FLAG, no_load, NULL, "off", 0, 0, NULL,
        "skip the load phase (the records exist already)"),
    ROW("workload", OPT_WORKLOAD, workload, "a", "a", 0, 0, "NAME",
        "YCSB mix: a 50/50 read/update, b 95/5, c read only, d 95/5 "
        "read latest/insert, f 50/50 read/read-modify-write; or ping "
        "(GET /ping only)"),
    ROW("read-ratio", OPT_DBL, read_ratio, NULL, "the workload's", 0, 1, "X",
        "share of reads; the rest are the workload's writes"),
    ROW("distribution", OPT_DIST, distribution, NULL, "zipfian (latest for d)",
        0, 0, "NAME", "key chooser: uniform, zipfian, hotspot or latest"),
    ROW("zipf-theta", OPT_DBL, zipf_theta, "0.99", "0.99", 0.000001,
        BENCH_DIST_THETA_MAX, "X", "zipfian and latest skew exponent"),
    ROW("hot-fraction", OPT_DBL, hot_fraction, "0.2", "0.2", 0.000001, 1, "X",
        "hotspot: share of the records that are hot"),
    ROW("hot-ops", OPT_DBL, hot_ops, "0.8", "0.8", 0, 1, "X",
        "hotspot: share of operations on the hot records"),
    ROW("value-size", OPT_UINT, value_size, "1000", "1000", 1,
        (double)BENCH_MAX_VALUE_SIZE, "N", "bytes per written value"),
    ROW("key-prefix", OPT_STR, key_prefix, "user", "user", 0, 0, "TEXT",
        "keys are TEXT then the record id in 10 digits"),
    ROW("r", OPT_QUORUM, r, "", "the node's", 0, 0, "R",
        "read quorum sent as ?r=: 1..16, one, quorum or all"),
    ROW("w", OPT_QUORUM, w, "", "the node's", 0, 0, "W",
        "write quorum sent as ?w=: 1..16, one, quorum or all"),
    ROW("timeout", OPT_UINT, timeout_ms, "5000", "5000", 1, 600000, "MS",
        "a request unanswered this long is a timeout (connection reopened)"),
    ROW("seed", OPT_SEED, seed, NULL, "random, printed", 0, 0, "N",
        "seed of operation and key choices"),
    ROW("verify", OPT_FLAG, verify, NULL, "off", 0, 0, NULL,
        "unique values; read every written key back with r=all at the end "
        "and report acknowledged writes that are missing (exit 1)"),
    ROW("blind-updates", OPT_FLAG, blind_updates, NULL, "off", 0, 0, NULL,
        "updates send no X-Context (pure YCSB: on a Dynamo store every "
        "update becomes a sibling); by default an update sends the "
        "context last seen for its record"),
    ROW("json", OPT_FLAG, json, NULL, "off", 0, 0, NULL,
        "print the summary as JSON instead of a table"),
    ROW("help", OPT_FLAG, help, NULL, "", 0, 0, NULL,
        "print this help and exit"),
};

#define OPT_NROWS (sizeof(opt_rows) / sizeof(opt_rows[0]))

static const char *const workload_names[] = {
#define WORKLOAD_NAME(value, name, reads, write, dist, text) name,
    BENCH_WORKLOAD_TABLE(WORKLOAD_NAME)
#undef WORKLOAD_NAME
};
static const char *const workload_texts[] = {
#define WORKLOAD_TEXT(value, name, reads, write, dist, text) text,
    BENCH_WORKLOAD_TABLE(WORKLOAD_TEXT)
#undef WORKLOAD_TEXT
};
static const double workload_reads[] = {
#define WORKLOAD_READS(value, name, reads, write, dist, text) reads,
    BENCH_WORKLOAD_TABLE(WORKLOAD_READS)
#undef WORKLOAD_READS
};
static const enum bench_write_kind workload_writes[] = {
#define WORKLOAD_WRITE(value, name, reads, write, dist, text) write,
    BENCH_WORKLOAD_TABLE(WORKLOAD_WRITE)
#undef WORKLOAD_WRITE
};
static const enum bench_dist_kind workload_dists[] = {
#define WORKLOAD_DIST(value, name, reads, write, dist, text) dist,
    BENCH_WORKLOAD_TABLE(WORKLOAD_DIST)
#undef WORKLOAD_DIST
};
#define WORKLOAD_COUNT (sizeof(workload_names) / sizeof(char *))

const char *bench_workload_name(enum bench_workload w)
{
	return (size_t)w < WORKLOAD_COUNT ? workload_names[w] : "?";
}

const char *bench_workload_text(enum bench_workload w)
{
	return (size_t)w < WORKLOAD_COUNT ? workload_texts[w] : "?";
}

static const struct opt_row *opt_find(const char *name, size_t len)
{
	for (size_t i = 0; i < OPT_NROWS; i++)
		if (strlen(opt_rows[i].name) == len &&
		    memcmp(opt_rows[i].name, name, len) == 0)
			return &opt_rows[i];
	return NULL;
}

static int opt_parse_u64(const char *value, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long u = strtoull(value, &end, 10);
	if (errno || end == value || *end != '\0' || value[0] == '-')
		return RKV_EINVAL;
	*out = u;
	return 0;
}

/* "one", "quorum", "all" or 1..16, as ringkvd accepts for r and w. */
static bool opt_quorum_valid(const char *v)
{
	uint64_t n;
	if (strcmp(v, "one") == 0 || strcmp(v, "quorum") == 0 ||
	    strcmp(v, "all") == 0)
		return true;
	return opt_parse_u64(v, &n) == 0 && n >= 1 && n <= 16;
}

static int opt_set(struct bench_opts *o, const struct opt_row *row,
                   const char *value, char *err, size_t errlen)
{
	char *field = (char *)o + row->offset;
	uint64_t u;

	switch (row->type) {
	case OPT_STR:
	case OPT_QUORUM:
		if (strlen(value) >= row->size) {
			snprintf(err, errlen,
			         "--%s: value longer than %zu bytes", row->name,
			         row->size - 1);
			return RKV_EINVAL;
		}
		if (row->type == OPT_QUORUM && value[0] != '\0' &&
		    !opt_quorum_valid(value)) {
			snprintf(err, errlen,
			         "--%s: '%s' is not 1..16, one, quorum or all",
			         row->name, value);
			return RKV_EINVAL;
		}
		strcpy(field, value);
		return 0;
	case OPT_FLAG: *(bool *)field = true; return 0;
	case OPT_WORKLOAD:
		for (u = 0; u < WORKLOAD_COUNT; u++) {
			if (strcmp(value, workload_names[u]) == 0) {
				memcpy(field, &u, sizeof(u));
				return 0;
			}
		}
		snprintf(err, errlen,
		         "--workload: '%s' is not one of a, b, c, d, f, ping",
		         value);
		return RKV_EINVAL;
	case OPT_DIST: {
		enum bench_dist_kind k;
		if (bench_dist_kind_parse(value, &k) != 0) {
			snprintf(
			    err, errlen,
			    "--distribution: '%s' is not uniform, zipfian, "
			    "hotspot or latest",
			    value);
			return RKV_EINVAL;
		}
		int64_t v = k;
		memcpy(field, &v, sizeof(v));
		return 0;
	}
	case OPT_SEED:
		if (opt_parse_u64(value, &u) != 0) {
			snprintf(err, errlen, "--seed: '%s' is not a number",
			         value);
			return RKV_EINVAL;
		}
		o->seed = u;
		o->seed_given = true;
		return 0;
	case OPT_UINT:
		if (opt_parse_u64(value, &u) != 0 || (double)u < row->min ||
		    (double)u > row->max)
			goto bad_number;
		memcpy(field, &u, sizeof(u));
		return 0;
	case OPT_DBL: {
		char *end;
		errno = 0;
		double d = strtod(value, &end);
		if (errno || end == value || *end != '\0' || !isfinite(d) ||
		    d < row->min || d > row->max)
			goto bad_number;
		memcpy(field, &d, sizeof(d));
		return 0;
	}
	}
bad_number:
	snprintf(err, errlen, "--%s: '%s' is not a number in [%.15g, %.15g]",
	         row->name, value, row->min, row->max);
	return RKV_EINVAL;
}

static void opts_defaults(struct bench_opts *o)
{
	char err[BENCH_ERR_MAX];
	memset(o, 0, sizeof(*o));
	o->duration_s = -1;
	o->read_ratio = -1;
	o->distribution = -1;
	for (size_t i = 0; i < OPT_NROWS; i++) {
		if (opt_rows[i].def == NULL)
			continue;
		int rc =
		    opt_set(o, &opt_rows[i], opt_rows[i].def, err, sizeof(err));
		(void)rc; /* defaults are in range: tests/test_bench_opts.c */
	}
}

size_t bench_opts_verify_header_len(const struct bench_opts *o)
{
	/* key ":" 13-digit sequence ":" 16 hex digits of nonce ":" */
	return strlen(o->key_prefix) + BENCH_KEY_DIGITS + 1 + 13 + 1 + 16 + 1;
}

/* The checks that involve more than one option. */
static int opts_resolve(struct bench_opts *o, char *err, size_t errlen)
{
	enum bench_workload wl = (enum bench_workload)o->workload;
	struct bench_node nodes[BENCH_NODES_MAX];
	size_t nnodes;

	o->write_kind = workload_writes[wl];
	o->run_read_ratio =
	    o->read_ratio >= 0 ? o->read_ratio : workload_reads[wl];
	o->run_distribution = o->distribution >= 0
	                          ? (enum bench_dist_kind)o->distribution
	                          : workload_dists[wl];
	if (o->duration_s >= 0)
		o->run_duration_s = o->duration_s;
	else
		o->run_duration_s = o->ops > 0 ? 0 : 10;

	if (bench_nodes_parse(o->nodes, nodes, BENCH_NODES_MAX, &nnodes, err,
	                      errlen) != 0)
		return RKV_EINVAL;
	/* only inserts (and pings) can start from nothing */
	if (o->records == 0 && wl != BENCH_WORKLOAD_PING &&
	    (o->run_read_ratio > 0 || o->write_kind != BENCH_WRITE_INSERT)) {
		snprintf(err, errlen,
		         "--records 0 leaves nothing to read or update "
		         "(only workload d with --read-ratio 0 inserts from "
		         "nothing)");
		return RKV_EINVAL;
	}
	if (o->verify && o->value_size < bench_opts_verify_header_len(o)) {
		snprintf(err, errlen,
		         "--verify needs --value-size of at least %zu to hold "
		         "'<key>:<sequence>:<nonce>:'",
		         bench_opts_verify_header_len(o));
		return RKV_EINVAL;
	}
	for (const char *p = o->key_prefix; *p; p++) {
		if (*p <= ' ' || *p > '~') {
			snprintf(err, errlen,
			         "--key-prefix: only printable ASCII without "
			         "spaces");
			return RKV_EINVAL;
		}
	}
	return 0;
}

int bench_opts_parse(struct bench_opts *o, int argc, char **argv, char *err,
                     size_t errlen)
{
	opts_defaults(o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0)
			a = "--help";
		if (strncmp(a, "--", 2) != 0) {
			snprintf(err, errlen, "%s '%s' (see --help)",
			         a[0] == '-' ? "unknown option"
			                     : "unexpected argument",
			         a);
			return RKV_EINVAL;
		}
		const char *name = a + 2, *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		const struct opt_row *row = opt_find(name, nlen);
		if (row == NULL) {
			snprintf(err, errlen,
			         "unknown option '%s' (see --help)", a);
			return RKV_EINVAL;
		}
		const char *value = NULL;
		if (row->type == OPT_FLAG) {
			if (eq != NULL) {
				snprintf(err, errlen, "--%s takes no value",
				         row->name);
				return RKV_EINVAL;
			}
		} else if (eq != NULL) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			snprintf(err, errlen, "--%s needs a value", row->name);
			return RKV_EINVAL;
		}
		if (opt_set(o, row, value ? value : "", err, errlen) != 0)
			return RKV_EINVAL;
	}
	if (o->help)
		return 0;
	return opts_resolve(o, err, errlen);
}

void bench_opts_print_help(FILE *out, const char *prog)
{
	fprintf(
	    out,
	    "usage: %s [--OPTION VALUE]...\n"
	    "\n"
	    "Drives ringkv nodes over HTTP with a YCSB-style workload: a load\n"
	    "phase writes --records records, then --connections connections\n"
	    "run the workload's mix for --duration seconds (or --ops\n"
	    "operations) after --warmup seconds. Prints a progress line every\n"
	    "second on stderr and a summary on stdout (see docs/bench.md).\n"
	    "Exit status: 0 done, 1 --verify found lost writes, 2 bad\n"
	    "options or an unreachable node, 3 the bench itself failed,\n"
	    "130 interrupted (SIGINT: the summary is still printed).\n\n",
	    prog);
	for (size_t i = 0; i < OPT_NROWS; i++) {
		const struct opt_row *row = &opt_rows[i];
		char flag[64];
		snprintf(flag, sizeof(flag), "--%s%s%s", row->name,
		         row->arg ? " " : "", row->arg ? row->arg : "");
		fprintf(out, "  %-22s %s\n", flag, row->help);
		if (row->shown[0] != '\0')
			fprintf(out, "  %-22s default: %s\n", "", row->shown);
	}
}
