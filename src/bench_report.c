/* bench_report.c -- the summary of a run (see bench_report.h).
 *
 * Both outputs are written from the same struct bench_results in the same
 * order, so the table and the JSON cannot disagree about a figure. The
 * percentile columns are p50, p95, p99, p99.9 and max: below p99 a
 * key-value store's latency says little; the tail is what a user waits
 * for.
 */
#include "bench_report.h"

#include "bench_json.h"
#include "status.h"

#include <inttypes.h>
#include <string.h>

static const char *const op_names[] = {
#define OP_NAME(value, name) name,
    BENCH_OP_TABLE(OP_NAME)
#undef OP_NAME
};

/* The operation types of the measured window, in table order. */
static const enum bench_op measured_ops[] = {BENCH_OP_READ, BENCH_OP_UPDATE,
                                             BENCH_OP_INSERT, BENCH_OP_RMW,
                                             BENCH_OP_PING};
#define MEASURED_OPS (sizeof(measured_ops) / sizeof(measured_ops[0]))

struct report_pct {
	const char *column; /* table heading */
	const char *json;   /* JSON member */
	double p;
};

static const struct report_pct report_pcts[] = {
    {"p50 ms", "p50", 50},       {"p95 ms", "p95", 95},  {"p99 ms", "p99", 99},
    {"p99.9 ms", "p99_9", 99.9}, {"max ms", "max", 100},
};
#define REPORT_PCTS (sizeof(report_pcts) / sizeof(report_pcts[0]))

const char *bench_op_name(enum bench_op op)
{
	return (size_t)op < BENCH_OP_COUNT ? op_names[op] : "?";
}

uint64_t bench_op_stats_errors(const struct bench_op_stats *s)
{
	return s->timeouts + s->net_errors + s->status_errors;
}

uint64_t bench_op_stats_count(const struct bench_op_stats *s)
{
	return s->ok + s->siblings + s->not_found + bench_op_stats_errors(s);
}

static void stats_merge(struct bench_op_stats *into,
                        const struct bench_op_stats *from)
{
	histogram_merge(&into->latency_us, &from->latency_us);
	into->ok += from->ok;
	into->siblings += from->siblings;
	into->not_found += from->not_found;
	into->timeouts += from->timeouts;
	into->net_errors += from->net_errors;
	into->status_errors += from->status_errors;
	for (int i = 0; i < BENCH_STATUS_SLOTS; i++)
		into->by_status[i] += from->by_status[i];
}

void bench_report_measured(const struct bench_results *r,
                           struct bench_op_stats *total)
{
	memset(total, 0, sizeof(*total));
	histogram_init(&total->latency_us);
	for (size_t i = 0; i < MEASURED_OPS; i++)
		stats_merge(total, &r->op[measured_ops[i]]);
}

/* --- /stats ----------------------------------------------------------- */

static void counter_get(const char *body, size_t len, const char *key,
                        bool *has, double *v)
{
	*has = bench_json_number(body, len, key, v) == 0;
}

int bench_report_node_counters(const char *body, size_t len,
                               struct bench_node_counters *c, char *hot,
                               size_t hot_size)
{
	const char *v;
	size_t vlen;

	memset(c, 0, sizeof(*c));
	hot[0] = '\0';
	int rc = bench_json_member(body, len, "partitions_hot", &v, &vlen);
	if (rc == RKV_EINVAL)
		return RKV_EINVAL;
	if (rc == 0 && vlen < hot_size) {
		memcpy(hot, v, vlen);
		hot[vlen] = '\0';
	}
	c->fetched = true;
	counter_get(body, len, "requests", &c->has_requests, &c->requests);
	counter_get(body, len, "coordinated", &c->has_coordinated,
	            &c->coordinated);
	counter_get(body, len, "replica_ops", &c->has_replica_ops,
	            &c->replica_ops);
	return 0;
}

/* --- skew ------------------------------------------------------------- */

static void swap_u32(uint32_t *a, uint32_t *b)
{
	uint32_t t = *a;
	*a = *b;
	*b = t;
}

static uint32_t median3(uint32_t x, uint32_t y, uint32_t z)
{
	uint32_t lo = x < y ? x : y, hi = x < y ? y : x;
	return z < lo ? lo : (z > hi ? hi : z);
}

/* Quickselect with a three-way partition (most keys share a handful of
 * small counts, so equal values are the common case): afterwards the k
 * largest values are a[0..k), in no order. Invariant: everything in
 * a[0..lo) >= everything in a[lo..hi) >= everything in a[hi..n), and
 * lo < k <= hi. */
static void select_largest(uint32_t *a, uint64_t n, uint64_t k)
{
	uint64_t lo = 0, hi = n;

	while (hi - lo > 1) {
		uint32_t pivot =
		    median3(a[lo], a[lo + (hi - lo) / 2], a[hi - 1]);
		uint64_t lt = lo, i = lo, gt = hi;
		/* [lo, lt) > pivot, [lt, i) == pivot, [gt, hi) < pivot */
		while (i < gt) {
			if (a[i] > pivot)
				swap_u32(&a[lt++], &a[i++]);
			else if (a[i] < pivot)
				swap_u32(&a[i], &a[--gt]);
			else
				i++;
		}
		if (k <= lt)
			hi = lt;
		else if (k <= gt)
			return; /* the boundary falls among equal values */
		else
			lo = gt;
	}
}

void bench_report_hot_share(uint32_t *hits, uint64_t n, uint64_t *hot_keys,
                            uint64_t *hot_ops)
{
	uint64_t k = (n + 99) / 100;
	*hot_keys = 0;
	*hot_ops = 0;
	if (n == 0)
		return;
	if (k == 0)
		k = 1;
	select_largest(hits, n, k);
	*hot_keys = k;
	for (uint64_t i = 0; i < k; i++)
		*hot_ops += hits[i];
}

/* --- table ------------------------------------------------------------ */

static double per_second(uint64_t n, double s)
{
	return s > 0 ? (double)n / s : 0.0;
}

static void table_row(FILE *out, const char *name,
                      const struct bench_op_stats *s, double seconds)
{
	uint64_t n = bench_op_stats_count(s);
	fprintf(out, "%-18s %10" PRIu64 " %11.1f", name, n,
	        per_second(n, seconds));
	for (size_t i = 0; i < REPORT_PCTS; i++)
		fprintf(out, " %9.3f",
		        (double)histogram_percentile(&s->latency_us,
		                                     report_pcts[i].p) /
		            1000.0);
	fprintf(out, " %8" PRIu64 " %8" PRIu64 " %8" PRIu64 " %9" PRIu64 "\n",
	        bench_op_stats_errors(s), s->timeouts, s->siblings,
	        s->not_found);
}

static void table_errors(FILE *out, const struct bench_results *r)
{
	bool any = false;
	for (int op = 0; op < BENCH_OP_COUNT; op++) {
		const struct bench_op_stats *s = &r->op[op];
		for (int i = 0; i < BENCH_STATUS_SLOTS; i++) {
			if (s->by_status[i] == 0)
				continue;
			fprintf(out, "%s %s %d x%" PRIu64,
			        any ? "," : "errors by status:", op_names[op],
			        i + BENCH_STATUS_MIN, s->by_status[i]);
			any = true;
		}
		if (s->net_errors) {
			fprintf(out, "%s %s connection x%" PRIu64,
			        any ? "," : "errors by status:", op_names[op],
			        s->net_errors);
			any = true;
		}
	}
	if (any)
		fputc('\n', out);
}

static double node_delta(const struct bench_node_report *n, int which, bool *ok)
{
	const struct bench_node_counters *a = &n->before, *b = &n->after;
	switch (which) {
	case 0:
		*ok = a->has_requests && b->has_requests;
		return b->requests - a->requests;
	case 1:
		*ok = a->has_coordinated && b->has_coordinated;
		return b->coordinated - a->coordinated;
	default:
		*ok = a->has_replica_ops && b->has_replica_ops;
		return b->replica_ops - a->replica_ops;
	}
}

static double nodes_total_requests(const struct bench_results *r)
{
	double total = 0;
	for (size_t i = 0; i < r->nnodes; i++) {
		bool ok;
		double d = node_delta(&r->node[i], 0, &ok);
		if (ok)
			total += d;
	}
	return total;
}

static void table_nodes(FILE *out, const struct bench_results *r)
{
	double total = nodes_total_requests(r);

	fprintf(out, "\n%-28s %12s %7s %12s %12s\n", "node (GET /stats delta)",
	        "requests", "share", "coordinated", "replica_ops");
	for (size_t i = 0; i < r->nnodes; i++) {
		const struct bench_node_report *n = &r->node[i];
		fprintf(out, "%-28s", r->nodes[i].name);
		for (int which = 0; which < 3; which++) {
			bool ok;
			double d = node_delta(n, which, &ok);
			if (!ok)
				fprintf(out, " %12s", "-");
			else
				fprintf(out, " %12.0f", d);
			if (which == 0 && ok && total > 0)
				fprintf(out, " %6.1f%%", 100.0 * d / total);
			else if (which == 0)
				fprintf(out, " %7s", "-");
		}
		fputc('\n', out);
	}
	for (size_t i = 0; i < r->nnodes; i++)
		if (r->node[i].partitions_hot[0] != '\0')
			fprintf(out, "hot partitions on %s: %.300s%s\n",
			        r->nodes[i].name, r->node[i].partitions_hot,
			        strlen(r->node[i].partitions_hot) > 300 ? "..."
			                                                : "");
}

/* How updates were sent: with a cached context or blind. */
static void table_contexts(FILE *out, const struct bench_opts *o,
                           const struct bench_results *r)
{
	if (bench_op_stats_count(&r->op[BENCH_OP_UPDATE]) == 0)
		return;
	if (!r->ctx_cache) {
		fprintf(out, "contexts: none, updates are blind%s\n",
		        o->blind_updates ? " (--blind-updates)" : "");
		return;
	}
	fprintf(out,
	        "contexts: %" PRIu64 " updates sent the X-Context last seen, "
	        "%" PRIu64 " were blind (none cached); cache of %" PRIu64
	        " slots (%.1f MB), %" PRIu64 " evictions, %" PRIu64
	        " too long\n",
	        r->ctx_updates_sent, r->ctx_updates_blind, r->ctx_slots,
	        (double)r->ctx_bytes / 1e6, r->ctx_evicted, r->ctx_too_long);
}

static void print_table(FILE *out, const struct bench_opts *o,
                        const struct bench_results *r)
{
	struct bench_op_stats total;
	enum bench_workload wl = (enum bench_workload)o->workload;

	fprintf(out, "ringkv-bench: workload %s (%s), %.0f%% reads, %s",
	        bench_workload_name(wl), bench_workload_text(wl),
	        100.0 * o->run_read_ratio,
	        bench_dist_kind_name(o->run_distribution));
	if (o->run_distribution == BENCH_DIST_ZIPFIAN ||
	    o->run_distribution == BENCH_DIST_LATEST)
		fprintf(out, " theta %g", o->zipf_theta);
	if (o->run_distribution == BENCH_DIST_HOTSPOT)
		fprintf(out, " %g%% of keys get %g%% of ops",
		        100 * o->hot_fraction, 100 * o->hot_ops);
	fprintf(out,
	        ", %" PRIu64 " records of %" PRIu64 " B, %" PRIu64
	        " connections to %zu node%s, seed %" PRIu64 "\n",
	        o->records, o->value_size, o->connections, r->nnodes,
	        r->nnodes == 1 ? "" : "s", r->seed);
	if (r->load_s > 0) {
		const struct bench_op_stats *l = &r->op[BENCH_OP_LOAD];
		uint64_t n = bench_op_stats_count(l);
		fprintf(out,
		        "load: %" PRIu64 " records in %.2f s, %.0f ops/s, p99 "
		        "%.3f ms, %" PRIu64 " errors\n",
		        n, r->load_s, per_second(n, r->load_s),
		        histogram_percentile(&l->latency_us, 99) / 1000.0,
		        bench_op_stats_errors(l));
	}
	fprintf(out, "run: %.2f s measured after %.2f s warmup%s\n\n",
	        r->measure_s, o->warmup_s,
	        r->interrupted ? " (interrupted)" : "");

	fprintf(out, "%-18s %10s %11s", "operation", "ops", "ops/s");
	for (size_t i = 0; i < REPORT_PCTS; i++)
		fprintf(out, " %9s", report_pcts[i].column);
	fprintf(out, " %8s %8s %8s %9s\n", "errors", "timeouts", "siblings",
	        "not found");
	for (size_t i = 0; i < MEASURED_OPS; i++) {
		const struct bench_op_stats *s = &r->op[measured_ops[i]];
		if (bench_op_stats_count(s) > 0)
			table_row(out, op_names[measured_ops[i]], s,
			          r->measure_s);
	}
	bench_report_measured(r, &total);
	table_row(out, "total", &total, r->measure_s);
	fputc('\n', out);
	table_errors(out, r);

	if (r->keyed_ops > 0)
		fprintf(out,
		        "skew: the hottest 1%% of keys (%" PRIu64 " of %" PRIu64
		        ") got %.2f%% of operations\n",
		        r->hot_keys, r->keys,
		        100.0 * (double)r->hot_ops / (double)r->keyed_ops);
	table_contexts(out, o, r);
	table_nodes(out, r);
	if (o->verify && !r->verified)
		fprintf(out, "\nverify: not run (%s)\n",
		        r->interrupted ? "interrupted" : "the run failed");
	if (r->verified)
		fprintf(out,
		        "\nverify: %" PRIu64
		        " keys read back with r=all in %.2f "
		        "s: %" PRIu64 " lost, %" PRIu64 " unreadable, %" PRIu64
		        " holding only a later unacknowledged write\n",
		        r->verify_keys, r->verify_s, r->verify_lost,
		        r->verify_unreadable, r->verify_newer);
}

/* --- JSON ------------------------------------------------------------- */

static void json_str(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void json_op(FILE *out, const struct bench_op_stats *s, double seconds)
{
	uint64_t n = bench_op_stats_count(s);
	bool any = false;

	fprintf(out, "{\"count\":%" PRIu64 ",\"ops_per_s\":%.3f", n,
	        per_second(n, seconds));
	fprintf(out, ",\"latency_us\":{\"mean\":%.1f",
	        histogram_mean(&s->latency_us));
	for (size_t i = 0; i < REPORT_PCTS; i++)
		fprintf(out, ",\"%s\":%" PRIu64, report_pcts[i].json,
		        histogram_percentile(&s->latency_us, report_pcts[i].p));
	fprintf(out,
	        "},\"ok\":%" PRIu64 ",\"siblings\":%" PRIu64
	        ",\"not_found\":%" PRIu64 ",\"errors\":%" PRIu64
	        ",\"timeouts\":%" PRIu64 ",\"net_errors\":%" PRIu64
	        ",\"errors_by_status\":{",
	        s->ok, s->siblings, s->not_found, bench_op_stats_errors(s),
	        s->timeouts, s->net_errors);
	for (int i = 0; i < BENCH_STATUS_SLOTS; i++) {
		if (s->by_status[i] == 0)
			continue;
		fprintf(out, "%s\"%d\":%" PRIu64, any ? "," : "",
		        i + BENCH_STATUS_MIN, s->by_status[i]);
		any = true;
	}
	fprintf(out, "}}");
}

static void json_counter(FILE *out, const char *name, bool has, double v)
{
	fprintf(out, ",\"%s\":", name);
	if (has)
		fprintf(out, "%.0f", v);
	else
		fprintf(out, "null");
}

static void json_nodes(FILE *out, const struct bench_results *r)
{
	double total = nodes_total_requests(r);

	fprintf(out, ",\"nodes\":[");
	for (size_t i = 0; i < r->nnodes; i++) {
		const struct bench_node_report *n = &r->node[i];
		bool ok;
		fprintf(out, "%s{\"node\":", i ? "," : "");
		json_str(out, r->nodes[i].name);
		double d = node_delta(n, 0, &ok);
		json_counter(out, "requests", ok, d);
		if (ok && total > 0)
			fprintf(out, ",\"share\":%.4f", d / total);
		else
			fprintf(out, ",\"share\":null");
		d = node_delta(n, 1, &ok);
		json_counter(out, "coordinated", ok, d);
		d = node_delta(n, 2, &ok);
		json_counter(out, "replica_ops", ok, d);
		fprintf(out, ",\"partitions_hot\":%s}",
		        n->partitions_hot[0] ? n->partitions_hot : "null");
	}
	fprintf(out, "]");
}

static void print_json(FILE *out, const struct bench_opts *o,
                       const struct bench_results *r)
{
	struct bench_op_stats total;

	fprintf(
	    out,
	    "{\"workload\":\"%s\",\"read_ratio\":%g,\"distribution\":\"%s\"",
	    bench_workload_name((enum bench_workload)o->workload),
	    o->run_read_ratio, bench_dist_kind_name(o->run_distribution));
	fprintf(out,
	        ",\"zipf_theta\":%g,\"hot_fraction\":%g,\"hot_ops\":%g"
	        ",\"records\":%" PRIu64 ",\"value_size\":%" PRIu64
	        ",\"connections\":%" PRIu64 ",\"seed\":%" PRIu64
	        ",\"key_prefix\":",
	        o->zipf_theta, o->hot_fraction, o->hot_ops, o->records,
	        o->value_size, o->connections, r->seed);
	json_str(out, o->key_prefix);
	fprintf(out, ",\"blind_updates\":%s",
	        o->blind_updates ? "true" : "false");
	fprintf(out,
	        ",\"warmup_s\":%.3f,\"measured_s\":%.3f,\"interrupted\":%s",
	        o->warmup_s, r->measure_s, r->interrupted ? "true" : "false");
	if (r->load_s > 0) {
		fprintf(out,
		        ",\"load\":{\"elapsed_s\":%.3f,\"stats\":", r->load_s);
		json_op(out, &r->op[BENCH_OP_LOAD], r->load_s);
		fprintf(out, "}");
	} else {
		fprintf(out, ",\"load\":null");
	}
	fprintf(out, ",\"ops\":{");
	bool first = true;
	for (size_t i = 0; i < MEASURED_OPS; i++) {
		const struct bench_op_stats *s = &r->op[measured_ops[i]];
		if (bench_op_stats_count(s) == 0)
			continue;
		fprintf(out, "%s\"%s\":", first ? "" : ",",
		        op_names[measured_ops[i]]);
		json_op(out, s, r->measure_s);
		first = false;
	}
	bench_report_measured(r, &total);
	fprintf(out, "%s\"total\":", first ? "" : ",");
	json_op(out, &total, r->measure_s);
	fprintf(out,
	        "},\"skew\":{\"keys\":%" PRIu64 ",\"hottest_keys\":%" PRIu64
	        ",\"hottest_ops\":%" PRIu64 ",\"ops\":%" PRIu64
	        ",\"hottest_share\":%.4f}",
	        r->keys, r->hot_keys, r->hot_ops, r->keyed_ops,
	        r->keyed_ops ? (double)r->hot_ops / (double)r->keyed_ops : 0.0);
	if (r->ctx_cache)
		fprintf(out,
		        ",\"contexts\":{\"updates_with_context\":%" PRIu64
		        ",\"updates_blind\":%" PRIu64 ",\"slots\":%" PRIu64
		        ",\"bytes\":%" PRIu64 ",\"evicted\":%" PRIu64
		        ",\"too_long\":%" PRIu64 "}",
		        r->ctx_updates_sent, r->ctx_updates_blind, r->ctx_slots,
		        r->ctx_bytes, r->ctx_evicted, r->ctx_too_long);
	else
		fprintf(out, ",\"contexts\":null");
	json_nodes(out, r);
	if (r->verified)
		fprintf(out,
		        ",\"verify\":{\"keys\":%" PRIu64 ",\"lost\":%" PRIu64
		        ",\"unreadable\":%" PRIu64 ",\"only_newer\":%" PRIu64
		        ",\"elapsed_s\":%.3f,\"stats\":",
		        r->verify_keys, r->verify_lost, r->verify_unreadable,
		        r->verify_newer, r->verify_s);
	if (r->verified) {
		json_op(out, &r->op[BENCH_OP_VERIFY], r->verify_s);
		fprintf(out, "}");
	} else {
		fprintf(out, ",\"verify\":null");
	}
	fprintf(out, "}\n");
}

void bench_report_print(FILE *out, const struct bench_opts *o,
                        const struct bench_results *r)
{
	if (o->json)
		print_json(out, o, r);
	else
		print_table(out, o, r);
}
