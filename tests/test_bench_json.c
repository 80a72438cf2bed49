/* test_bench_json.c -- reading members of a /stats answer.
 *
 * The scanner must find top-level members only (ringkvd's /stats nests
 * objects whose members share names with the top level), tolerate absent
 * members, and refuse anything that is not exactly one valid JSON object,
 * because a raw value it returns is copied into the bench's own JSON.
 */
#include "bench_json.h"
#include "status.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int member(const char *text, const char *key, const char **v,
                  size_t *vlen)
{
	return bench_json_member(text, strlen(text), key, v, vlen);
}

static int number(const char *text, const char *key, double *out)
{
	return bench_json_number(text, strlen(text), key, out);
}

static void test_top_level_only(void **state)
{
	(void)state;
	const char *stats =
	    "{\"by_method\":{\"requests\":1},\"requests\":12345,"
	    "\"latency_us\":{\"get\":{\"count\":3,\"p99\":10}},"
	    "\"coordinated\":-2.5e3,\"name\":\"n1\"}";
	double d = 0;
	assert_int_equal(number(stats, "requests", &d), 0);
	assert_true(d == 12345);
	assert_int_equal(number(stats, "coordinated", &d), 0);
	assert_true(d == -2500);
	assert_int_equal(number(stats, "count", &d), RKV_ENOTFOUND);
	assert_int_equal(number(stats, "replica_ops", &d), RKV_ENOTFOUND);
	/* present but not a number */
	assert_int_equal(number(stats, "name", &d), RKV_EINVAL);
	assert_int_equal(number(stats, "by_method", &d), RKV_EINVAL);
}

static void test_raw_values(void **state)
{
	(void)state;
	const char *text = " {\n \"partitions_hot\" : [ {\"partition\":3,"
	                   "\"requests\":17} , 4 ] ,\"a\":\"x\\\"}\" }\n";
	const char *v;
	size_t n;
	assert_int_equal(member(text, "partitions_hot", &v, &n), 0);
	assert_int_equal(n,
	                 strlen("[ {\"partition\":3,\"requests\":17} , 4 ]"));
	assert_memory_equal(v, "[ {\"partition\":3,\"requests\":17} , 4 ]", n);
	assert_int_equal(member(text, "a", &v, &n), 0);
	assert_memory_equal(v, "\"x\\\"}\"", n);
	/* the first of duplicate keys wins */
	assert_int_equal(member("{\"k\":1,\"k\":2}", "k", &v, &n), 0);
	assert_memory_equal(v, "1", n);
	assert_int_equal(member("{}", "k", &v, &n), RKV_ENOTFOUND);
}

static void test_valid_forms(void **state)
{
	(void)state;
	static const char *const ok[] = {
	    "{}",
	    "{\"a\":true,\"b\":false,\"c\":null}",
	    "{\"a\":[],\"b\":[[]],\"c\":{}}",
	    "{\"n\":[0,-0,1.5,-12e-3,4E+2,1e9]}",
	    "{\"s\":\"\\u00e9\\n\\t\\\\\\/\"}",
	    "\t{ \"a\" : 1 }\r\n",
	};
	const char *v;
	size_t n;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_int_equal(member(ok[i], "zz", &v, &n), RKV_ENOTFOUND);
}

static void test_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    "[]",
	    "1",
	    "{",
	    "{\"a\"}",
	    "{\"a\":}",
	    "{\"a\":1,}",
	    "{a:1}",
	    "{} x",
	    "{}{}",
	    "{\"a\":01}",
	    "{\"a\":1.}",
	    "{\"a\":.5}",
	    "{\"a\":-}",
	    "{\"a\":1e}",
	    "{\"a\":tru}",
	    "{\"a\":\"\\x\"}",
	    "{\"a\":\"\\u12\"}",
	    "{\"a\":\"tab\there\"}",
	    "{\"a\":\"open}",
	    "{\"a\":[1,2}",
	    "{\"a\":{\"b\":1]}",
	    "{'a':1}",
	};
	const char *v;
	size_t n;
	double d;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(member(bad[i], "a", &v, &n), RKV_EINVAL);
		assert_int_equal(number(bad[i], "a", &d), RKV_EINVAL);
	}
}

/* Nesting up to the limit is fine; one more is refused. */
static void test_depth(void **state)
{
	(void)state;
	char text[4 * BENCH_JSON_MAX_DEPTH + 16];
	const char *v;
	size_t n;

	for (int depth = BENCH_JSON_MAX_DEPTH;
	     depth <= BENCH_JSON_MAX_DEPTH + 1; depth++) {
		/* the object is depth 1; arrays nest below it */
		size_t len = 0;
		len += (size_t)sprintf(text, "{\"a\":");
		for (int i = 1; i < depth; i++)
			text[len++] = '[';
		for (int i = 1; i < depth; i++)
			text[len++] = ']';
		text[len++] = '}';
		text[len] = '\0';
		assert_int_equal(bench_json_member(text, len, "a", &v, &n),
		                 depth <= BENCH_JSON_MAX_DEPTH ? 0
		                                               : RKV_EINVAL);
	}
}

/* Not NUL-terminated: only len bytes are read. */
static void test_length_bound(void **state)
{
	(void)state;
	const char text[] = "{\"a\":1}garbage";
	const char *v;
	size_t n;
	assert_int_equal(bench_json_member(text, 7, "a", &v, &n), 0);
	assert_int_equal(bench_json_member(text, 6, "a", &v, &n), RKV_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_top_level_only),
	    cmocka_unit_test(test_raw_values),
	    cmocka_unit_test(test_valid_forms),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_length_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
