/* test_commitlog.c -- the store's commit log (src/commitlog.h):
 * what is flushed comes back in order, a torn or damaged end is dropped,
 * a new pass over the file hides the older one, and the blocks are the
 * Avro of src/schemas/log_block.avsc as Avro C reads it. */
#include "commitlog.h"
#include "schemas.h"
#include "status.h"
#include "tests/tmpdir.h"

#include <avro.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define FRAME    20          /* u32 length ++ u64 pass ++ u64 checksum */
#define PREALLOC (64u << 10) /* bytes the tests' logs are made of */

struct fixture {
	char dir[4096];
	char path[4200];
	struct clog log;
};

/* One write as the replay handed it over, copied. */
struct seen {
	enum clog_db db;
	char key[64];
	char rec[64];
	bool deleted;
};

struct collect {
	struct seen w[32];
	size_t n;
	size_t fail_at; /* return RKV_EIO at this write (1-based); 0: never */
};

static int collect_fn(void *arg, enum clog_db db, const uint8_t *key,
                      size_t klen, const uint8_t *rec, size_t rlen)
{
	struct collect *c = arg;
	struct seen *s = &c->w[c->n];

	if (c->fail_at != 0 && c->n + 1 == c->fail_at)
		return RKV_EIO;
	assert_true(c->n < 32 && klen < 64 && rlen < 64);
	s->db = db;
	memcpy(s->key, key, klen);
	s->key[klen] = '\0';
	s->deleted = rec == NULL;
	if (rec != NULL)
		memcpy(s->rec, rec, rlen);
	s->rec[rlen] = '\0';
	c->n++;
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL ||
	    test_mkdtemp(f->dir, sizeof(f->dir), "rkv-clog") == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/commit.log", f->dir);
	if (clog_open(&f->log, f->dir, PREALLOC) != 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	clog_close(&f->log);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void add(struct fixture *f, enum clog_db db, const char *key,
                const char *rec)
{
	assert_int_equal(clog_add(&f->log, db, key, strlen(key), rec,
	                          rec != NULL ? strlen(rec) : 0),
	                 0);
}

static off_t file_size(struct fixture *f)
{
	struct stat st;
	assert_int_equal(stat(f->path, &st), 0);
	return st.st_size;
}

/* Two groups: a put and a hint; then a hint deleted and a put. */
static void write_two_blocks(struct fixture *f)
{
	add(f, CLOG_DB_OBJECTS, "k1", "record one");
	add(f, CLOG_DB_HINTS, "h1", "hint one");
	assert_int_equal(clog_commit(&f->log), 0);
	add(f, CLOG_DB_HINTS, "h1", NULL);
	add(f, CLOG_DB_OBJECTS, "k2", "");
	assert_int_equal(clog_commit(&f->log), 0);
}

/* The file as a fresh opener (the next start) replays it. */
static int replay_fresh(struct fixture *f, struct collect *c,
                        struct clog_replay_stats *st)
{
	struct clog again;
	int rc = 0;

	assert_int_equal(clog_open(&again, f->dir, PREALLOC), 0);
	rc = clog_replay(&again, collect_fn, c, st);
	clog_close(&again);
	return rc;
}

static void test_groups_come_back_in_order(void **state)
{
	struct fixture *f = *state;
	struct collect c = {0};
	struct clog_replay_stats st;

	write_two_blocks(f);
	assert_int_equal(replay_fresh(f, &c, &st), 0);
	assert_int_equal(st.blocks, 2);
	assert_int_equal(st.writes, 4);
	assert_false(st.torn);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.w[0].db, CLOG_DB_OBJECTS);
	assert_string_equal(c.w[0].key, "k1");
	assert_string_equal(c.w[0].rec, "record one");
	assert_int_equal(c.w[1].db, CLOG_DB_HINTS);
	assert_string_equal(c.w[1].rec, "hint one");
	assert_int_equal(c.w[2].db, CLOG_DB_HINTS);
	assert_string_equal(c.w[2].key, "h1");
	assert_true(c.w[2].deleted);
	/* An empty record is a record, not a delete. */
	assert_false(c.w[3].deleted);
	assert_string_equal(c.w[3].key, "k2");
}

/* The file is made once, full size, and blocks are written inside it. */
static void test_preallocated_and_written_in_place(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(file_size(f), PREALLOC);
	write_two_blocks(f);
	assert_int_equal(file_size(f), PREALLOC);
}

static void test_nothing_to_commit_writes_nothing(void **state)
{
	struct fixture *f = *state;
	struct collect c = {0};
	struct clog_replay_stats st;
	bool empty = false;

	assert_int_equal(clog_commit(&f->log), 0);
	add(f, CLOG_DB_OBJECTS, "k1", "dropped");
	clog_drop(&f->log);
	assert_int_equal(clog_commit(&f->log), 0);
	assert_int_equal(replay_fresh(f, &c, &st), 0);
	assert_int_equal(st.blocks, 0);
	assert_int_equal(clog_empty(f->dir, &empty), 0);
	assert_true(empty);
}

static void write_at(struct fixture *f, const void *buf, size_t len, off_t at)
{
	int fd = open(f->path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, at), (ssize_t)len);
	close(fd);
}

/* A crash in the middle of a write leaves part of a block: it was never
 * acknowledged, so it goes, and the next group goes in its place. */
static void test_torn_end_is_dropped(void **state)
{
	struct fixture *f = *state;
	uint8_t torn[13] = {200, 0, 0, 0};
	struct collect c = {0};
	struct clog_replay_stats st;

	write_two_blocks(f);
	/* The header of a block of this pass, and a few bytes of it. */
	for (int i = 0; i < 8; i++)
		torn[4 + i] = (uint8_t)(f->log.pass >> (8 * i));
	write_at(f, torn, sizeof(torn), (off_t)f->log.size);
	assert_int_equal(replay_fresh(f, &c, &st), 0);
	assert_int_equal(st.blocks, 2);
	assert_true(st.torn);

	add(f, CLOG_DB_OBJECTS, "k3", "three");
	assert_int_equal(clog_commit(&f->log), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(replay_fresh(f, &c, &st), 0);
	assert_int_equal(st.blocks, 3);
	assert_false(st.torn);
	assert_string_equal(c.w[4].key, "k3");
}

/* After a checkpoint the file is written over from its start: the blocks
 * of the pass before, still further in, are not the new pass's. */
static void test_a_new_pass_hides_the_old_blocks(void **state)
{
	struct fixture *f = *state;
	struct collect c = {0};
	struct clog_replay_stats st;

	write_two_blocks(f);
	add(f, CLOG_DB_OBJECTS, "k3", "three");
	assert_int_equal(clog_commit(&f->log), 0);
	assert_int_equal(clog_reset(&f->log), 0);
	assert_int_equal(replay_fresh(f, &c, &st), 0);
	assert_int_equal(st.blocks, 0);

	add(f, CLOG_DB_OBJECTS, "new", "pass");
	assert_int_equal(clog_commit(&f->log), 0);
	assert_int_equal(replay_fresh(f, &c, &st), 0);
	assert_int_equal(st.blocks, 1);
	assert_false(st.torn);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.w[0].key, "new");
}

/* A reset with a block being built opens the new pass with that block
 * (the store's carry of what it logged during a checkpoint): a replay
 * then gives that block alone, and the pass goes on after it. start is
 * clog_reset, or clog_restart, whose flush comes after the next block
 * (the store's order: the loop may log before the writer flushes). */
static void
new_pass_opens_with_the_block_being_built(struct fixture *f,
                                          int (*start)(struct clog *))
{
	struct collect c = {0};
	struct clog_replay_stats st;

	write_two_blocks(f);
	add(f, CLOG_DB_OBJECTS, "carried", "over");
	add(f, CLOG_DB_HINTS, "hint", "too");
	assert_int_equal(start(&f->log), 0);
	assert_int_equal(replay_fresh(f, &c, &st), 0);
	assert_int_equal(st.blocks, 1);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.w[0].key, "carried");
	assert_string_equal(c.w[0].rec, "over");
	assert_int_equal(c.w[1].db, CLOG_DB_HINTS);

	memset(&c, 0, sizeof(c));
	add(f, CLOG_DB_OBJECTS, "after", "it");
	assert_int_equal(clog_write(&f->log), 0);
	assert_int_equal(clog_flush(&f->log), 0);
	assert_int_equal(replay_fresh(f, &c, &st), 0);
	assert_int_equal(st.blocks, 2);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.w[2].key, "after");
}

static void test_a_new_pass_opens_with_the_block_being_built(void **state)
{
	new_pass_opens_with_the_block_being_built(*state, clog_reset);
}

static void test_a_restarted_pass_opens_with_the_block_being_built(void **state)
{
	new_pass_opens_with_the_block_being_built(*state, clog_restart);
}

/* A block that fails its checksum ends the replay: nothing of it, nor of
 * what follows, is handed over. */
static void test_damaged_block_ends_the_replay(void **state)
{
	struct fixture *f = *state;
	struct collect c = {0};
	struct clog_replay_stats st;
	off_t first = 0;
	int fd = -1;
	uint8_t b = 0;

	add(f, CLOG_DB_OBJECTS, "k1", "record one");
	assert_int_equal(clog_commit(&f->log), 0);
	first = (off_t)f->log.size;
	add(f, CLOG_DB_OBJECTS, "k2", "record two");
	assert_int_equal(clog_commit(&f->log), 0);
	add(f, CLOG_DB_OBJECTS, "k3", "record three");
	assert_int_equal(clog_commit(&f->log), 0);

	fd = open(f->path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, first + FRAME + 3), 1);
	b ^= 0x01;
	assert_int_equal(pwrite(fd, &b, 1, first + FRAME + 3), 1);
	close(fd);

	assert_int_equal(replay_fresh(f, &c, &st), 0);
	assert_int_equal(st.blocks, 1);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.w[0].key, "k1");
	assert_true(st.torn);
}

/* sync = periodic writes blocks without flushing them (clog_write) and
 * flushes on a timer. The process dying loses none: the next opener reads
 * them all. A machine crash may leave out any unflushed block: the replay
 * stops there, and the blocks after it go too. */
static void test_unflushed_blocks(void **state)
{
	struct fixture *f = *state;
	struct collect c = {0};
	struct clog_replay_stats st;
	off_t second = 0, third = 0;
	uint8_t *zeros = NULL;

	add(f, CLOG_DB_OBJECTS, "k1", "record one");
	assert_int_equal(clog_write(&f->log), 0);
	second = (off_t)f->log.size;
	add(f, CLOG_DB_OBJECTS, "k2", "record two");
	assert_int_equal(clog_write(&f->log), 0);
	third = (off_t)f->log.size;
	add(f, CLOG_DB_OBJECTS, "k3", "record three");
	assert_int_equal(clog_write(&f->log), 0);
	assert_int_equal(replay_fresh(f, &c, &st), 0);
	assert_int_equal(st.blocks, 3);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.w[2].key, "k3");
	assert_int_equal(clog_flush(&f->log), 0);

	/* The second block never reached the disk: its bytes are the
	 * preallocated zeros. */
	zeros = calloc(1, (size_t)(third - second));
	assert_non_null(zeros);
	write_at(f, zeros, (size_t)(third - second), second);
	free(zeros);
	memset(&c, 0, sizeof(c));
	assert_int_equal(replay_fresh(f, &c, &st), 0);
	assert_int_equal(st.blocks, 1);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.w[0].key, "k1");
}

static void test_reset_empties_the_file(void **state)
{
	struct fixture *f = *state;
	struct collect c = {0};
	struct clog_replay_stats st;
	bool empty = false;

	write_two_blocks(f);
	assert_int_equal(clog_empty(f->dir, &empty), 0);
	assert_false(empty);
	assert_int_equal(clog_reset(&f->log), 0);
	assert_int_equal(clog_empty(f->dir, &empty), 0);
	assert_true(empty);
	assert_int_equal(replay_fresh(f, &c, &st), 0);
	assert_int_equal(st.blocks, 0);
	assert_int_equal(c.n, 0);
}

static void test_missing_file_is_empty(void **state)
{
	struct fixture *f = *state;
	bool empty = false;

	clog_close(&f->log);
	unlink(f->path);
	assert_int_equal(clog_empty(f->dir, &empty), 0);
	assert_true(empty);
	assert_int_equal(clog_open(&f->log, f->dir, PREALLOC), 0);
}

static void test_callback_error_stops_the_replay(void **state)
{
	struct fixture *f = *state;
	struct collect c = {.fail_at = 2};
	struct clog_replay_stats st;

	write_two_blocks(f);
	assert_int_equal(replay_fresh(f, &c, &st), RKV_EIO);
	assert_int_equal(c.n, 1);
}

/* The payload of the first block, read back by Avro C with the schema. */
static void test_blocks_are_the_schema_s_avro(void **state)
{
	struct fixture *f = *state;
	avro_schema_t schema;
	avro_value_iface_t *iface = NULL;
	avro_value_t block, writes, w, field, branch;
	avro_reader_t reader = NULL;
	uint8_t buf[256];
	const void *bytes = NULL;
	size_t n = 0, len = 0;
	int db = -1, disc = -1;
	int fd = -1;
	ssize_t got = 0;

	write_two_blocks(f);
	fd = open(f->path, O_RDONLY);
	assert_true(fd >= 0);
	got = read(fd, buf, sizeof(buf));
	close(fd);
	assert_true(got > FRAME);
	len = (size_t)buf[0] | (size_t)buf[1] << 8 | (size_t)buf[2] << 16 |
	      (size_t)buf[3] << 24;
	assert_true(FRAME + len <= (size_t)got);

	assert_int_equal(
	    avro_schema_from_json_length(rkv_schema_log_block,
	                                 strlen(rkv_schema_log_block), &schema),
	    0);
	iface = avro_generic_class_from_schema(schema);
	assert_non_null(iface);
	assert_int_equal(avro_generic_value_new(iface, &block), 0);
	reader = avro_reader_memory((const char *)buf + FRAME, (int64_t)len);
	assert_int_equal(avro_value_read(reader, &block), 0);

	assert_int_equal(
	    avro_value_get_by_name(&block, "writes", &writes, NULL), 0);
	assert_int_equal(avro_value_get_size(&writes, &n), 0);
	assert_int_equal(n, 2);

	assert_int_equal(avro_value_get_by_index(&writes, 0, &w, NULL), 0);
	assert_int_equal(avro_value_get_by_name(&w, "db", &field, NULL), 0);
	assert_int_equal(avro_value_get_enum(&field, &db), 0);
	assert_int_equal(db, CLOG_DB_OBJECTS);
	assert_int_equal(avro_value_get_by_name(&w, "key", &field, NULL), 0);
	assert_int_equal(avro_value_get_bytes(&field, &bytes, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(bytes, "k1", 2);
	assert_int_equal(avro_value_get_by_name(&w, "record", &field, NULL), 0);
	assert_int_equal(avro_value_get_discriminant(&field, &disc), 0);
	assert_int_equal(disc, 1);
	assert_int_equal(avro_value_get_current_branch(&field, &branch), 0);
	assert_int_equal(avro_value_get_bytes(&branch, &bytes, &n), 0);
	assert_int_equal(n, strlen("record one"));
	assert_memory_equal(bytes, "record one", n);

	assert_int_equal(avro_value_get_by_index(&writes, 1, &w, NULL), 0);
	assert_int_equal(avro_value_get_by_name(&w, "db", &field, NULL), 0);
	assert_int_equal(avro_value_get_enum(&field, &db), 0);
	assert_int_equal(db, CLOG_DB_HINTS);

	avro_reader_free(reader);
	avro_value_decref(&block);
	avro_value_iface_decref(iface);
	avro_schema_decref(schema);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_groups_come_back_in_order,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_preallocated_and_written_in_place, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_nothing_to_commit_writes_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_end_is_dropped, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_a_new_pass_hides_the_old_blocks, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_a_new_pass_opens_with_the_block_being_built, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_a_restarted_pass_opens_with_the_block_being_built, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(test_damaged_block_ends_the_replay,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unflushed_blocks, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_reset_empties_the_file, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_missing_file_is_empty, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_callback_error_stops_the_replay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_blocks_are_the_schema_s_avro,
	                                    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
