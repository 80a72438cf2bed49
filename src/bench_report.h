/* bench_report.h -- what a ringkv-bench run measured, and its summary.
 *
 * The engine (bench.c) fills a struct bench_results while it runs; this
 * module turns it into the final table (stdout, for people) or one JSON
 * object (--json, for scripts), and computes the skew figures. Counting
 * rules, so that the columns add up:
 *
 *   - every operation that was issued in the measured window ends in
 *     exactly one of: ok (2xx), siblings (300), not_found (404 on a
 *     read), an error status (any other status, counted per status),
 *     timeout (no complete answer within --timeout), or net_error
 *     (connection refused or reset, malformed answer);
 *   - latency is recorded for answers that count as success (ok,
 *     siblings, not_found): fast error answers must not flatter the
 *     percentiles;
 *   - a read-modify-write (GET, then PUT with the context read) is one
 *     operation of its own, timed from the GET to the PUT's answer and
 *     not also counted as a read and an update (YCSB counts the halves
 *     too; here "total" adds up). When the PUT succeeds, the outcome is
 *     that of the GET: ok, siblings or not_found; when either fails, it
 *     is that failure.
 */
#ifndef RKV_BENCH_REPORT_H
#define RKV_BENCH_REPORT_H

#include "bench_nodes.h"
#include "bench_opts.h"
#include "histogram.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* X(enum value, name in the table and the JSON) */
#define BENCH_OP_TABLE(X)                                                      \
	X(BENCH_OP_READ, "read")                                               \
	X(BENCH_OP_UPDATE, "update")                                           \
	X(BENCH_OP_INSERT, "insert")                                           \
	X(BENCH_OP_RMW, "read-modify-write")                                   \
	X(BENCH_OP_PING, "ping")                                               \
	X(BENCH_OP_LOAD, "load")                                               \
	X(BENCH_OP_VERIFY, "verify")

enum bench_op {
#define BENCH_OP_ENUM(value, name) value,
	BENCH_OP_TABLE(BENCH_OP_ENUM)
#undef BENCH_OP_ENUM
	    BENCH_OP_COUNT
};

/* Statuses 100..599 are counted one by one. */
#define BENCH_STATUS_MIN   100
#define BENCH_STATUS_SLOTS 500

struct bench_op_stats {
	struct histogram latency_us; /* successes only, see above */
	uint64_t ok;
	uint64_t siblings;
	uint64_t not_found;
	uint64_t timeouts;
	uint64_t net_errors;
	uint64_t status_errors;                 /* sum of by_status */
	uint64_t by_status[BENCH_STATUS_SLOTS]; /* error statuses */
};

/* One node's counters from GET /stats; a missing field is not "0". */
struct bench_node_counters {
	bool fetched; /* /stats answered with a JSON object */
	bool has_requests, has_coordinated, has_replica_ops;
	double requests, coordinated, replica_ops;
};

/* partitions_hot is copied as raw JSON, up to this many bytes. */
#define BENCH_HOT_PARTITIONS_MAX 4096

struct bench_node_report {
	struct bench_node_counters before, after;
	char partitions_hot[BENCH_HOT_PARTITIONS_MAX + 1]; /* "" if absent */
};

struct bench_results {
	uint64_t seed;
	struct bench_op_stats op[BENCH_OP_COUNT];
	double load_s;    /* wall time of the load phase; 0 if none */
	double measure_s; /* wall time of the measured window */
	double verify_s;

	/* skew: operations per key over the measured window */
	uint64_t keys;      /* records + inserted */
	uint64_t hot_keys;  /* the hottest 1 %, at least 1 */
	uint64_t hot_ops;   /* operations on them */
	uint64_t keyed_ops; /* operations counted per key */

	size_t nnodes;
	const struct bench_node *nodes;
	struct bench_node_report node[BENCH_NODES_MAX];

	bool interrupted;           /* SIGINT cut the run short */
	bool verified;              /* the verify phase ran */
	uint64_t verify_keys;       /* keys with an acknowledged write */
	uint64_t verify_lost;       /* ... whose last such write is gone */
	uint64_t verify_unreadable; /* ... that could not be read back */
	uint64_t verify_newer;      /* ... where only a later, unacknowledged
	                             * write of the run was found */

	/* the context cache (bench_ctx.h), when updates use it */
	bool ctx_cache;
	uint64_t ctx_slots, ctx_bytes;
	uint64_t ctx_updates_sent;  /* measured updates with a context */
	uint64_t ctx_updates_blind; /* ... without: none cached for the key */
	uint64_t ctx_evicted;       /* contexts displaced by another key's */
	uint64_t ctx_too_long;      /* contexts too long for a slot */
};

/* bench_op_name -- the static name of an operation type. */
const char *bench_op_name(enum bench_op op);

/* bench_op_stats_errors -- timeouts + net_errors + status_errors. */
uint64_t bench_op_stats_errors(const struct bench_op_stats *s);

/* bench_op_stats_count -- every operation the stats account for. */
uint64_t bench_op_stats_count(const struct bench_op_stats *s);

/* bench_report_measured -- the measured operations (read, update, insert,
 * read-modify-write, ping) merged into one: the "total" row. */
void bench_report_measured(const struct bench_results *r,
                           struct bench_op_stats *total);

/* bench_report_node_counters -- parse a /stats body into c (tolerating
 * absent fields). Returns 0, or RKV_EINVAL if the body is not a JSON
 * object (c->fetched stays false). partitions_hot, when present and it
 * fits, is copied into hot (hot_size bytes) as raw JSON; else hot = "". */
int bench_report_node_counters(const char *body, size_t len,
                               struct bench_node_counters *c, char *hot,
                               size_t hot_size);

/* bench_report_hot_share -- sum of the top ceil(n/100) (at least 1)
 * counts of hits[0..n) into *hot_ops, and that key count into *hot_keys.
 * Reorders hits (a selection, O(n) expected). */
void bench_report_hot_share(uint32_t *hits, uint64_t n, uint64_t *hot_keys,
                            uint64_t *hot_ops);

/* bench_report_print -- the summary: a table, or JSON with o->json. */
void bench_report_print(FILE *out, const struct bench_opts *o,
                        const struct bench_results *r);

#endif
