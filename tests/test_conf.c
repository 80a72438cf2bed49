/* test_conf.c -- the settings table: defaults, file, flags, refusals. */
#include "conf.h"
#include "status.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static void test_defaults_match_design(void **state)
{
	struct conf c;
	(void)state;
	conf_defaults(&c);
	assert_string_equal(c.cluster_name, "ringkv");
	assert_string_equal(c.http_listen, "127.0.0.1:8098");
	assert_string_equal(c.rpc_listen, "127.0.0.1:8099");
	assert_string_equal(c.data_dir, "./data");
	assert_int_equal(c.ring_size, 64);
	assert_int_equal(c.n_val, 3);
	assert_int_equal(c.sync, CONF_SYNC_BATCH);
	assert_int_equal(c.sync_interval_ms, 100);
	assert_int_equal(c.checkpoint_interval_ms, 250);
	assert_int_equal(c.max_key_bytes, 1024);
	assert_int_equal(c.max_value_bytes, 1048576);
	assert_int_equal(c.gossip_interval_ms, 1000);
	assert_true(c.phi_threshold == 8.0);
	assert_int_equal(c.transfer_limit, 2);
	assert_int_equal(c.log_level, LOG_INFO);
}

static char *write_file(const char *text)
{
	static char path[] = "/tmp/rkv-conf-XXXXXX";
	strcpy(path, "/tmp/rkv-conf-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_file_then_flags_win(void **state)
{
	struct conf c;
	enum conf_action action;
	char err[CONF_ERR_MAX];
	(void)state;
	char *path =
	    write_file("# a node\n"
	               "http_listen = 127.0.0.1:9000  # trailing comment\n"
	               "\n  sync = periodic\n"
	               "ring_size = 128\n");
	char *argv[] = {"ringkvd",
	                "--http-listen",
	                "127.0.0.1:9001",
	                "-c",
	                path,
	                "--n_val=2",
	                NULL};
	assert_int_equal(
	    conf_parse_args(&c, 6, argv, &action, err, sizeof(err)), 0);
	assert_int_equal(action, CONF_RUN);
	assert_string_equal(c.http_listen, "127.0.0.1:9001");
	assert_int_equal(c.sync, CONF_SYNC_PERIODIC);
	assert_int_equal(c.ring_size, 128);
	assert_int_equal(c.n_val, 2);
	unlink(path);
}

static void test_refusals_name_the_problem(void **state)
{
	struct conf c;
	char err[CONF_ERR_MAX];
	enum conf_action action;
	(void)state;
	conf_defaults(&c);
	assert_int_equal(conf_set(&c, "ring_size", "100", err, sizeof(err)),
	                 RKV_EINVAL);
	assert_non_null(strstr(err, "ring_size"));
	assert_int_equal(c.ring_size, 64);
	assert_int_equal(conf_set(&c, "n_val", "-1", err, sizeof(err)),
	                 RKV_EINVAL);
	assert_int_equal(conf_set(&c, "n_val", "3x", err, sizeof(err)),
	                 RKV_EINVAL);
	assert_int_equal(conf_set(&c, "sync", "sometimes", err, sizeof(err)),
	                 RKV_EINVAL);
	assert_int_equal(conf_set(&c, "phi_threshold", "nan", err, sizeof(err)),
	                 RKV_EINVAL);
	assert_int_equal(conf_set(&c, "no_such", "1", err, sizeof(err)),
	                 RKV_EINVAL);
	assert_non_null(strstr(err, "no_such"));

	char *path = write_file("ring_size = 64\nthis line has no equals\n");
	char *argv[] = {"ringkvd", "-c", path, NULL};
	assert_int_equal(
	    conf_parse_args(&c, 3, argv, &action, err, sizeof(err)),
	    RKV_EINVAL);
	assert_non_null(strstr(err, ":2:"));
	unlink(path);

	char *argv2[] = {"ringkvd", "--bogus", "1", NULL};
	assert_int_equal(
	    conf_parse_args(&c, 3, argv2, &action, err, sizeof(err)),
	    RKV_EINVAL);
	char *argv3[] = {"ringkvd", "--data-dir", NULL};
	assert_int_equal(
	    conf_parse_args(&c, 2, argv3, &action, err, sizeof(err)),
	    RKV_EINVAL);
}

/* The sample config is a valid config that reproduces the defaults. */
static void test_sample_config_round_trips(void **state)
{
	struct conf def, c;
	enum conf_action action;
	char err[CONF_ERR_MAX];
	char path[] = "/tmp/rkv-sample-XXXXXX";
	(void)state;
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	conf_write_sample(f);
	fclose(f);
	char *argv[] = {"ringkvd", "-c", path, "--sample-config", NULL};
	assert_int_equal(
	    conf_parse_args(&c, 4, argv, &action, err, sizeof(err)), 0);
	assert_int_equal(action, CONF_SAMPLE);
	conf_defaults(&def);
	assert_memory_equal(&c, &def, sizeof(c));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_match_design),
	    cmocka_unit_test(test_file_then_flags_win),
	    cmocka_unit_test(test_refusals_name_the_problem),
	    cmocka_unit_test(test_sample_config_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
