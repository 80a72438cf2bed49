/* bench_opts.h -- ringkv-bench's command line, from one declarative table.
 *
 * As with the daemon's conf.c, every option is one row of bench_opts.c's
 * table (name, type, default, limits, one line of help): the same row
 * parses the flag, checks its range and prints its --help line, so an
 * option cannot be documented one way and parsed another. Checks that
 * involve several options (records against the workload, --verify against
 * the value size, the node list) run in bench_opts_parse after every flag
 * is read, and fill the "resolved" fields the run uses.
 */
#ifndef RKV_BENCH_OPTS_H
#define RKV_BENCH_OPTS_H

#include "bench_dist.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_NODES_TEXT_MAX  4095
#define BENCH_KEY_PREFIX_MAX  64
#define BENCH_QUORUM_TEXT_MAX 15
#define BENCH_MAX_CONNECTIONS 4096
#define BENCH_MAX_RECORDS     UINT64_C(100000000)
#define BENCH_MAX_VALUE_SIZE  (UINT64_C(1) << 20)
#define BENCH_ERR_MAX         512

/* Record ids in keys are zero-padded to this many digits. */
#define BENCH_KEY_DIGITS 10

/* What a workload's non-read operations are. */
enum bench_write_kind {
	BENCH_WRITE_UPDATE, /* PUT an existing record with the X-Context
	                     * last seen for it (bench_ctx.h), or blind */
	BENCH_WRITE_INSERT, /* PUT a new record, id = records, records+1, ... */
	BENCH_WRITE_RMW,    /* GET a record, then PUT it with the X-Context */
};

/* X(enum value, name, read share, write kind, distribution, description):
 * the YCSB core workloads that make sense for a key-value store (E, short
 * range scans, does not), and "ping", which measures what HTTP alone
 * costs the node and the bench (the figure to compare with wrk). */
#define BENCH_WORKLOAD_TABLE(X)                                                \
	X(BENCH_WORKLOAD_A, "a", 0.50, BENCH_WRITE_UPDATE, BENCH_DIST_ZIPFIAN, \
	  "50% read, 50% update")                                              \
	X(BENCH_WORKLOAD_B, "b", 0.95, BENCH_WRITE_UPDATE, BENCH_DIST_ZIPFIAN, \
	  "95% read, 5% update")                                               \
	X(BENCH_WORKLOAD_C, "c", 1.00, BENCH_WRITE_UPDATE, BENCH_DIST_ZIPFIAN, \
	  "100% read")                                                         \
	X(BENCH_WORKLOAD_D, "d", 0.95, BENCH_WRITE_INSERT, BENCH_DIST_LATEST,  \
	  "95% read of the latest records, 5% insert")                         \
	X(BENCH_WORKLOAD_F, "f", 0.50, BENCH_WRITE_RMW, BENCH_DIST_ZIPFIAN,    \
	  "50% read, 50% read-modify-write")                                   \
	X(BENCH_WORKLOAD_PING, "ping", 1.00, BENCH_WRITE_UPDATE,               \
	  BENCH_DIST_UNIFORM, "GET /ping only, no keys: the HTTP floor")

enum bench_workload {
#define BENCH_WORKLOAD_ENUM(value, name, reads, write, dist, text) value,
	BENCH_WORKLOAD_TABLE(BENCH_WORKLOAD_ENUM)
#undef BENCH_WORKLOAD_ENUM
};

struct bench_opts {
	/* as given (or defaulted) */
	char nodes[BENCH_NODES_TEXT_MAX + 1];
	uint64_t connections;
	double duration_s; /* < 0: not given */
	uint64_t ops;      /* 0: no limit */
	double warmup_s;
	uint64_t records;
	bool no_load;
	uint64_t workload;    /* enum bench_workload */
	double read_ratio;    /* < 0: not given */
	int64_t distribution; /* enum bench_dist_kind; < 0: not given */
	double zipf_theta;
	double hot_fraction;
	double hot_ops;
	uint64_t value_size;
	char key_prefix[BENCH_KEY_PREFIX_MAX + 1];
	char r[BENCH_QUORUM_TEXT_MAX + 1]; /* "": the node's default */
	char w[BENCH_QUORUM_TEXT_MAX + 1];
	uint64_t timeout_ms;
	uint64_t seed;
	bool seed_given;
	bool verify;
	bool blind_updates; /* updates send no X-Context */
	bool json;
	bool help;

	/* resolved by bench_opts_parse */
	double run_duration_s; /* 0: until --ops operations */
	double run_read_ratio;
	enum bench_write_kind write_kind;
	enum bench_dist_kind run_distribution;
};

/* bench_opts_parse -- defaults, then every argument, then the checks that
 * span options. 0, or RKV_EINVAL with one line in err (an unknown option,
 * a missing or out-of-range value, an impossible combination). --help sets
 * o->help and skips the combination checks. */
int bench_opts_parse(struct bench_opts *o, int argc, char **argv, char *err,
                     size_t errlen);

/* bench_opts_print_help -- usage and one line per option with its
 * default. */
void bench_opts_print_help(FILE *out, const char *prog);

/* bench_workload_name, bench_workload_text -- the static name ("a") and
 * description of a workload. */
const char *bench_workload_name(enum bench_workload w);
const char *bench_workload_text(enum bench_workload w);

/* bench_opts_verify_header_len -- bytes of the "<key>:<seq>:<nonce>:"
 * header that --verify puts at the start of every value (the longest key
 * the run can produce). */
size_t bench_opts_verify_header_len(const struct bench_opts *o);

#endif
