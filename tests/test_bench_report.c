/* test_bench_report.c -- the bench's summary and skew figures.
 *
 * The hottest-1% share is a selection over per-key counters; it is checked
 * against sorting on seeded random data (RKV_SEED replays), on the
 * all-equal counts a uniform run produces, and at tiny sizes. /stats
 * parsing must tolerate missing fields. The --json summary must be one
 * valid JSON object whatever the results hold (checked with the same
 * validator the bench reads /stats with), and the table and JSON must
 * agree on the totals.
 */
#include "bench_json.h"
#include "bench_report.h"
#include "status.h"

#include "ring/rng.h"

#include "tests/seed.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static uint64_t test_seed;

static int cmp_desc(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x < y) - (x > y);
}

/* The top ceil(n/100) by sorting: the oracle. */
static uint64_t top_by_sort(const uint32_t *hits, uint64_t n)
{
	uint32_t *copy = malloc(n * sizeof(*copy));
	uint64_t k = (n + 99) / 100, sum = 0;
	assert_non_null(copy);
	memcpy(copy, hits, n * sizeof(*copy));
	qsort(copy, n, sizeof(*copy), cmp_desc);
	for (uint64_t i = 0; i < k; i++)
		sum += copy[i];
	free(copy);
	return sum;
}

static void check_hot_share(uint32_t *hits, uint64_t n)
{
	uint64_t want = top_by_sort(hits, n), keys = 0, ops = 0;
	bench_report_hot_share(hits, n, &keys, &ops);
	assert_int_equal(keys, n ? (n + 99) / 100 : 0);
	assert_int_equal(ops, want);
}

static void test_hot_share(void **state)
{
	(void)state;
	struct rng r;
	static uint32_t hits[100000];

	rng_init(&r, test_seed);
	for (int round = 0; round < 50; round++) {
		uint64_t n = 1 + rng_below(&r, 100000);
		unsigned spread = 1 + (unsigned)rng_below(&r, 1000);
		for (uint64_t i = 0; i < n; i++)
			hits[i] = (uint32_t)rng_below(&r, spread);
		check_hot_share(hits, n);
	}
	/* equal counts everywhere, sorted input both ways, tiny sizes */
	for (uint64_t i = 0; i < 100000; i++)
		hits[i] = 7;
	check_hot_share(hits, 100000);
	for (uint64_t i = 0; i < 100000; i++)
		hits[i] = (uint32_t)i;
	check_hot_share(hits, 100000);
	for (uint64_t i = 0; i < 100000; i++)
		hits[i] = (uint32_t)(100000 - i);
	check_hot_share(hits, 100000);
	for (uint64_t n = 0; n <= 5; n++) {
		for (uint64_t i = 0; i < n; i++)
			hits[i] = (uint32_t)(i * 3 % 5);
		check_hot_share(hits, n);
	}
	hits[0] = UINT32_MAX;
	hits[1] = UINT32_MAX;
	check_hot_share(hits, 2);
}

static void test_node_counters(void **state)
{
	(void)state;
	struct bench_node_counters c;
	char hot[64];
	const char *full = "{\"requests\":100,\"coordinated\":60,"
	                   "\"replica_ops\":150,\"partitions_hot\":[1,2]}";
	const char *sparse =
	    "{\"requests\":5,\"by_method\":{\"coordinated\":1}}";
	const char *bighot = "{\"partitions_hot\":\"01234567890123456789"
	                     "0123456789012345678901234567890123456789"
	                     "0123456789012345678901234567890123456789\"}";

	assert_int_equal(bench_report_node_counters(full, strlen(full), &c, hot,
	                                            sizeof(hot)),
	                 0);
	assert_true(c.fetched && c.has_requests && c.has_coordinated &&
	            c.has_replica_ops);
	assert_true(c.requests == 100 && c.coordinated == 60 &&
	            c.replica_ops == 150);
	assert_string_equal(hot, "[1,2]");

	assert_int_equal(bench_report_node_counters(sparse, strlen(sparse), &c,
	                                            hot, sizeof(hot)),
	                 0);
	assert_true(c.fetched && c.has_requests);
	assert_false(c.has_coordinated || c.has_replica_ops);
	assert_string_equal(hot, "");

	/* too large to copy: left out rather than cut into invalid JSON */
	assert_int_equal(bench_report_node_counters(bighot, strlen(bighot), &c,
	                                            hot, sizeof(hot)),
	                 0);
	assert_string_equal(hot, "");

	assert_int_equal(
	    bench_report_node_counters("not json", 8, &c, hot, sizeof(hot)),
	    RKV_EINVAL);
	assert_false(c.fetched);
}

/* Results with a bit of everything in them. */
static void fill_results(struct bench_results *r, struct bench_node *nodes)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < BENCH_OP_COUNT; i++)
		histogram_init(&r->op[i].latency_us);
	for (int i = 0; i < 1000; i++) {
		histogram_record(&r->op[BENCH_OP_READ].latency_us, 100 + i);
		histogram_record(&r->op[BENCH_OP_UPDATE].latency_us, 300 + i);
	}
	r->op[BENCH_OP_READ].ok = 900;
	r->op[BENCH_OP_READ].siblings = 60;
	r->op[BENCH_OP_READ].not_found = 40;
	r->op[BENCH_OP_READ].timeouts = 2;
	r->op[BENCH_OP_UPDATE].ok = 1000;
	r->op[BENCH_OP_UPDATE].status_errors = 3;
	r->op[BENCH_OP_UPDATE].by_status[503 - BENCH_STATUS_MIN] = 3;
	r->op[BENCH_OP_UPDATE].net_errors = 1;
	r->seed = 42;
	r->measure_s = 2.0;
	r->load_s = 1.0;
	r->op[BENCH_OP_LOAD].ok = 10;
	r->keys = 100;
	r->hot_keys = 1;
	r->hot_ops = 50;
	r->keyed_ops = 2006;
	snprintf(nodes[0].name, sizeof(nodes[0].name), "127.0.0.1:8098");
	snprintf(nodes[1].name, sizeof(nodes[1].name), "[::1]:\"8099");
	r->nodes = nodes;
	r->nnodes = 2;
	r->node[0].before = (struct bench_node_counters){
	    .fetched = true, .has_requests = true, .requests = 10};
	r->node[0].after = (struct bench_node_counters){
	    .fetched = true, .has_requests = true, .requests = 1010};
	snprintf(r->node[0].partitions_hot, sizeof(r->node[0].partitions_hot),
	         "[{\"partition\":3}]");
	r->verified = true;
	r->verify_keys = 100;
	r->ctx_cache = true;
	r->ctx_slots = 100;
	r->ctx_bytes = 100 * 128;
	r->ctx_updates_sent = 990;
	r->ctx_updates_blind = 14;
}

static void test_measured_total(void **state)
{
	(void)state;
	static struct bench_results r;
	static struct bench_op_stats total;
	struct bench_node nodes[2];

	fill_results(&r, nodes);
	bench_report_measured(&r, &total);
	assert_int_equal(bench_op_stats_count(&total), 1002 + 1004);
	assert_int_equal(bench_op_stats_errors(&total), 6);
	assert_int_equal(histogram_count(&total.latency_us), 2000);
	assert_int_equal(total.by_status[503 - BENCH_STATUS_MIN], 3);
	assert_int_equal(bench_op_stats_count(&r.op[BENCH_OP_LOAD]), 10);
	assert_string_equal(bench_op_name(BENCH_OP_RMW), "read-modify-write");
}

static char *print_to_string(const struct bench_opts *o,
                             const struct bench_results *r, size_t *len)
{
	char *text = NULL;
	FILE *out = open_memstream(&text, len);
	assert_non_null(out);
	bench_report_print(out, o, r);
	fclose(out);
	return text;
}

static void test_outputs(void **state)
{
	(void)state;
	static struct bench_results r;
	static struct bench_opts o;
	struct bench_node nodes[2];
	char err[BENCH_ERR_MAX];
	char *argv[] = {"ringkv-bench", "--key-prefix", "q\"\\", NULL};
	const char *v;
	size_t len, vlen;
	double d;

	fill_results(&r, nodes);
	assert_int_equal(bench_opts_parse(&o, 3, argv, err, sizeof(err)), 0);

	char *table = print_to_string(&o, &r, &len);
	assert_non_null(strstr(table, "\ntotal "));
	assert_non_null(strstr(table, "update 503 x3"));
	assert_non_null(strstr(table, "hottest 1% of keys"));
	assert_non_null(strstr(table, "verify: 100 keys"));
	assert_non_null(strstr(table, "contexts: 990 updates sent the "
	                              "X-Context last seen, 14 were blind"));
	free(table);

	o.json = true;
	char *json = print_to_string(&o, &r, &len);
	assert_int_equal(bench_json_number(json, len, "seed", &d), 0);
	assert_true(d == 42);
	assert_int_equal(bench_json_member(json, len, "ops", &v, &vlen), 0);
	assert_int_equal(bench_json_member(v, vlen, "total", &v, &vlen), 0);
	assert_int_equal(bench_json_number(v, vlen, "count", &d), 0);
	assert_true(d == 2006);
	assert_int_equal(bench_json_member(json, len, "nodes", &v, &vlen), 0);
	assert_non_null(memmem(v, vlen, "\"share\":1.0000", 14));
	assert_non_null(memmem(v, vlen, "[{\"partition\":3}]", 17));
	assert_int_equal(bench_json_member(json, len, "contexts", &v, &vlen),
	                 0);
	assert_int_equal(bench_json_number(v, vlen, "updates_with_context", &d),
	                 0);
	assert_true(d == 990);
	assert_int_equal(bench_json_number(v, vlen, "updates_blind", &d), 0);
	assert_true(d == 14);
	free(json);

	/* nothing measured, no verify, no load: still one valid object */
	memset(&r, 0, sizeof(r));
	for (int i = 0; i < BENCH_OP_COUNT; i++)
		histogram_init(&r.op[i].latency_us);
	r.nodes = nodes;
	r.nnodes = 1;
	json = print_to_string(&o, &r, &len);
	assert_int_equal(bench_json_member(json, len, "verify", &v, &vlen), 0);
	assert_memory_equal(v, "null", 4);
	assert_int_equal(bench_json_member(json, len, "contexts", &v, &vlen),
	                 0);
	assert_memory_equal(v, "null", 4);
	free(json);
}

int main(void)
{
	test_seed = test_seed_init("test_bench_report");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hot_share),
	    cmocka_unit_test(test_node_counters),
	    cmocka_unit_test(test_measured_total),
	    cmocka_unit_test(test_outputs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
