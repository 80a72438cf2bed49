/* test_bench_opts.c -- ringkv-bench's command line.
 *
 * Bad input must be refused with one message naming the option (the
 * bench then exits 2), defaults must resolve per workload, and --help must
 * list every option with its default -- all from the one table, which
 * these tests read through the public parser and help printer.
 */
#include "bench_opts.h"
#include "status.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_ARGS 32

static struct bench_opts opts;
static char err[BENCH_ERR_MAX];

/* Parse a space-separated command line (no quoting). */
static int parse(const char *line)
{
	static char buf[512];
	char *argv[MAX_ARGS] = {"ringkv-bench"};
	int argc = 1;

	snprintf(buf, sizeof(buf), "%s", line);
	for (char *tok = strtok(buf, " "); tok != NULL && argc < MAX_ARGS;
	     tok = strtok(NULL, " "))
		argv[argc++] = tok;
	err[0] = '\0';
	return bench_opts_parse(&opts, argc, argv, err, sizeof(err));
}

static void test_defaults(void **state)
{
	(void)state;
	assert_int_equal(parse(""), 0);
	assert_string_equal(opts.nodes, "127.0.0.1:8098");
	assert_int_equal(opts.connections, 32);
	assert_true(opts.run_duration_s == 10);
	assert_int_equal(opts.ops, 0);
	assert_true(opts.warmup_s == 0);
	assert_int_equal(opts.records, 100000);
	assert_false(opts.no_load);
	assert_int_equal(opts.workload, BENCH_WORKLOAD_A);
	assert_true(opts.run_read_ratio == 0.5);
	assert_int_equal(opts.write_kind, BENCH_WRITE_UPDATE);
	assert_int_equal(opts.run_distribution, BENCH_DIST_ZIPFIAN);
	assert_true(opts.zipf_theta == 0.99);
	assert_true(opts.hot_fraction == 0.2);
	assert_true(opts.hot_ops == 0.8);
	assert_int_equal(opts.value_size, 1000);
	assert_string_equal(opts.key_prefix, "user");
	assert_string_equal(opts.r, "");
	assert_string_equal(opts.w, "");
	assert_int_equal(opts.timeout_ms, 5000);
	assert_false(opts.seed_given);
	assert_false(opts.verify);
	assert_false(opts.blind_updates); /* updates send contexts */
	assert_false(opts.json);
	assert_false(opts.help);
}

static void test_workloads(void **state)
{
	(void)state;
	assert_int_equal(parse("--workload b"), 0);
	assert_true(opts.run_read_ratio == 0.95);
	assert_int_equal(parse("--workload c"), 0);
	assert_true(opts.run_read_ratio == 1.0);
	assert_int_equal(parse("--workload d"), 0);
	assert_true(opts.run_read_ratio == 0.95);
	assert_int_equal(opts.write_kind, BENCH_WRITE_INSERT);
	assert_int_equal(opts.run_distribution, BENCH_DIST_LATEST);
	assert_int_equal(parse("--workload f"), 0);
	assert_int_equal(opts.write_kind, BENCH_WRITE_RMW);
	assert_int_equal(parse("--workload ping --records 0"), 0);
	assert_int_equal(opts.workload, BENCH_WORKLOAD_PING);
	/* explicit choices win over the workload's */
	assert_int_equal(parse("--workload d --distribution uniform "
	                       "--read-ratio 0.25"),
	                 0);
	assert_int_equal(opts.run_distribution, BENCH_DIST_UNIFORM);
	assert_true(opts.run_read_ratio == 0.25);
	assert_string_equal(bench_workload_name(BENCH_WORKLOAD_F), "f");
	assert_non_null(
	    strstr(bench_workload_text(BENCH_WORKLOAD_D), "insert"));
}

static void test_values(void **state)
{
	(void)state;
	assert_int_equal(parse("--nodes a:1,[::1]:2 --connections=4096 "
	                       "--ops 500 --seed 0 --r all --w 2 --no-load "
	                       "--verify --json --key-prefix k/ --timeout 1"),
	                 0);
	assert_string_equal(opts.nodes, "a:1,[::1]:2");
	assert_int_equal(opts.connections, 4096);
	assert_int_equal(opts.ops, 500);
	assert_true(opts.run_duration_s == 0); /* until --ops */
	assert_true(opts.seed_given);
	assert_int_equal(opts.seed, 0);
	assert_string_equal(opts.r, "all");
	assert_string_equal(opts.w, "2");
	assert_true(opts.no_load && opts.verify && opts.json);
	assert_string_equal(opts.key_prefix, "k/");
	assert_int_equal(parse("--blind-updates"), 0);
	assert_true(opts.blind_updates);
	assert_int_equal(parse("--blind-updates=yes"), RKV_EINVAL);
	assert_non_null(strstr(err, "--blind-updates takes no value"));
	/* both limits given: both apply */
	assert_int_equal(parse("--ops 5 --duration 2.5"), 0);
	assert_true(opts.run_duration_s == 2.5);
	/* the last of a repeated option wins */
	assert_int_equal(parse("--connections 3 --connections 5"), 0);
	assert_int_equal(opts.connections, 5);
	/* insert-only from nothing is possible */
	assert_int_equal(parse("--records 0 --workload d --read-ratio 0"), 0);
}

/* Each refused line, and a word its message must contain. */
static void test_refused(void **state)
{
	(void)state;
	static const char *const cases[][2] = {
	    {"--bogus", "--bogus"},
	    {"-x", "-x"},
	    {"stray", "stray"},
	    {"--connections", "needs a value"},
	    {"--connections 0", "--connections"},
	    {"--connections 4097", "--connections"},
	    {"--connections 2x", "--connections"},
	    {"--connections -1", "--connections"},
	    {"--value-size 0", "--value-size"},
	    {"--value-size 1048577", "--value-size"},
	    {"--read-ratio 1.01", "--read-ratio"},
	    {"--read-ratio -0.5", "--read-ratio"},
	    {"--read-ratio nan", "--read-ratio"},
	    {"--records 0", "--records 0"},
	    {"--records 0 --workload c", "--records 0"},
	    {"--records 100000001", "--records"},
	    {"--duration 0", "--duration"},
	    {"--duration inf", "--duration"},
	    {"--zipf-theta 0", "--zipf-theta"},
	    {"--zipf-theta 11", "--zipf-theta"},
	    {"--hot-fraction 0", "--hot-fraction"},
	    {"--hot-ops 2", "--hot-ops"},
	    {"--workload e", "--workload"},
	    {"--distribution pareto", "--distribution"},
	    {"--r 0", "--r"},
	    {"--w 17", "--w"},
	    {"--w most", "--w"},
	    {"--timeout 0", "--timeout"},
	    {"--seed x", "--seed"},
	    {"--verify=yes", "--verify"},
	    {"--verify --value-size 30", "--verify"},
	    {"--key-prefix a\tb", "--key-prefix"},
	    {"--nodes 127.0.0.1", "--nodes"},
	    {"--nodes a:0", "--nodes"},
	    {"--nodes a:65536", "--nodes"},
	    {"--nodes a:1,,b:2", "--nodes"},
	    {"--nodes a:1,a:1", "twice"},
	    {"--nodes [::1:80", "--nodes"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (parse(cases[i][0]) != RKV_EINVAL)
			fail_msg("'%s' was accepted", cases[i][0]);
		if (strstr(err, cases[i][1]) == NULL)
			fail_msg("'%s': message '%s' lacks '%s'", cases[i][0],
			         err, cases[i][1]);
		assert_null(strchr(err, '\n'));
	}
}

/* --help skips the checks across options, so it always works. */
static void test_help(void **state)
{
	(void)state;
	static const char *const names[] = {
	    "nodes",
	    "connections",
	    "duration",
	    "ops",
	    "warmup",
	    "records",
	    "no-load",
	    "workload",
	    "read-ratio",
	    "distribution",
	    "zipf-theta",
	    "hot-fraction",
	    "hot-ops",
	    "value-size",
	    "key-prefix",
	    "r",
	    "w",
	    "timeout",
	    "seed",
	    "verify",
	    "blind-updates",
	    "json",
	    "help",
	};
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_int_equal(parse("--records 0 --help"), 0);
	assert_true(opts.help);
	assert_int_equal(parse("-h"), 0);
	assert_true(opts.help);

	assert_non_null(out);
	bench_opts_print_help(out, "ringkv-bench");
	fclose(out);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char flag[32];
		snprintf(flag, sizeof(flag), "\n  --%s ", names[i]);
		if (strstr(text, flag) == NULL)
			fail_msg("--help lacks %s", flag + 1);
	}
	/* every option but --help shows its default */
	size_t defaults = 0;
	for (const char *p = text; (p = strstr(p, "default: ")) != NULL; p++)
		defaults++;
	assert_int_equal(defaults, sizeof(names) / sizeof(names[0]) - 1);
	free(text);
}

static void test_verify_header(void **state)
{
	(void)state;
	assert_int_equal(parse("--key-prefix ab"), 0);
	/* "ab" + 10 digits + ":" + 13 + ":" + 16 + ":" */
	assert_int_equal(bench_opts_verify_header_len(&opts), 2 + 10 + 32);
	assert_int_equal(parse("--key-prefix ab --verify --value-size 44"), 0);
	assert_int_equal(parse("--key-prefix ab --verify --value-size 43"),
	                 RKV_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_workloads),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_verify_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
