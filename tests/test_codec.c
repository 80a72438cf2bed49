/* test_codec.c -- the Avro encodings of objects, contexts and rings.
 *
 * Round trips must be exact (decode(encode(x)) equals x, and encoding the
 * result gives the same bytes). Decoding is fed everything a disk or a
 * peer could hand it -- every truncation, every single-bit flip, trailing
 * bytes, counts and lengths that claim more than the buffer holds -- and
 * must answer the error code without crashing (run under the sanitizer
 * build, a length trusted before the bytes are checked would show up as
 * a huge allocation). tests/data/object-v1.avro pins the encoding of one
 * object and tests/data/ring-v1.avro that of one ring: if they stop
 * decoding, records already on disk would too.
 */
#include "codec.h"
#include "dvv.h"
#include "ring/ring.h"
#include "status.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define GOLDEN_FILE      "object-v1.avro"
#define GOLDEN_RING_FILE "ring-v1.avro"
#define GOLDEN_MAX       4096

static const uint8_t binary_bytes[] = {0x00, 0xff, 0x80, 0x7f,
                                       0x0a, 0x0d, 0x00, 0x01};

/* --- building objects by hand, so the codec is tested apart from the DVV
 * operations ---------------------------------------------------------------*/

static void value_init(struct dvv_value *v, const void *data, size_t len,
                       const char *ctype, uint64_t ts, bool tomb)
{
	memset(v, 0, sizeof(*v));
	if (len > 0) {
		v->data = malloc(len);
		assert_non_null(v->data);
		memcpy(v->data, data, len);
	}
	v->len = len;
	v->content_type = strdup(ctype);
	assert_non_null(v->content_type);
	v->timestamp_ms = ts;
	v->tombstone = tomb;
}

static struct dvv_value *values_new(size_t n)
{
	struct dvv_value *v = calloc(n, sizeof(*v));
	assert_non_null(v);
	return v;
}

/* The pinned object: three actors (one above 2^63, one at UINT64_MAX),
 * siblings, an empty value, a tombstone, an entry without live values and
 * an anonymous value of binary bytes. */
static struct dvv *sample_object(void)
{
	struct dvv *d = dvv_new();
	struct dvv_entry *e = NULL;

	assert_non_null(d);
	d->nentries = 3;
	d->entries = calloc(3, sizeof(*d->entries));
	assert_non_null(d->entries);
	e = &d->entries[0];
	e->id = 7;
	e->counter = 3;
	e->nvalues = 2;
	e->values = values_new(2);
	value_init(&e->values[0], "v3", 2, "text/plain",
	           UINT64_C(1700000000003), false);
	value_init(&e->values[1], NULL, 0, "application/octet-stream",
	           UINT64_C(1700000000002), false);
	e = &d->entries[1];
	e->id = UINT64_C(0x8000000000000001);
	e->counter = 1;
	e->nvalues = 1;
	e->values = values_new(1);
	value_init(&e->values[0], NULL, 0, "text/plain",
	           UINT64_C(1700000000100), true);
	e = &d->entries[2];
	e->id = UINT64_MAX;
	e->counter = 5;
	d->nanon = 1;
	d->anon = values_new(1);
	value_init(&d->anon[0], binary_bytes, sizeof(binary_bytes),
	           "application/octet-stream", 0, false);
	assert_int_equal(dvv_validate(d), 0);
	return d;
}

static void encode_sample(struct codec *c, uint8_t **buf, size_t *len)
{
	struct dvv *d = sample_object();
	assert_int_equal(codec_object_encode(c, d, buf, len), 0);
	dvv_free(d);
}

static void assert_decode_fails(struct codec *c, const void *buf, size_t len)
{
	struct dvv *out = (struct dvv *)&out; /* must be reset to NULL */
	assert_int_equal(codec_object_decode(c, buf, len, &out), RKV_ECORRUPT);
	assert_null(out);
}

static int setup(void **state)
{
	*state = codec_new();
	return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	codec_free(*state);
	return 0;
}

/* --- objects -------------------------------------------------------------- */

static void test_object_round_trip(void **state)
{
	struct codec *c = *state;
	struct dvv *d = sample_object();
	struct dvv *back = NULL;
	uint8_t *buf = NULL, *again = NULL;
	size_t len = 0, len2 = 0;

	/* Twice through the same codec: the reused instance must not keep
	 * anything from the previous call. */
	for (int round = 0; round < 2; round++) {
		assert_int_equal(codec_object_encode(c, d, &buf, &len), 0);
		assert_int_equal(codec_object_decode(c, buf, len, &back), 0);
		assert_true(dvv_equal(d, back));
		assert_int_equal(dvv_validate(back), 0);
		assert_int_equal(codec_object_encode(c, back, &again, &len2),
		                 0);
		assert_int_equal(len, len2);
		assert_memory_equal(buf, again, len);
		assert_int_equal(back->entries[1].id,
		                 UINT64_C(0x8000000000000001));
		assert_int_equal(back->entries[0].values[1].len, 0);
		assert_null(back->entries[0].values[1].data);
		assert_memory_equal(back->anon[0].data, binary_bytes,
		                    sizeof(binary_bytes));
		assert_true(back->entries[1].values[0].tombstone);
		free(buf);
		free(again);
		dvv_free(back);
	}
	dvv_free(d);
}

static void test_object_empty(void **state)
{
	struct codec *c = *state;
	struct dvv *d = dvv_new();
	struct dvv *back = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(codec_object_encode(c, d, &buf, &len), 0);
	/* Two empty arrays: a zero count each. */
	assert_int_equal(len, 2);
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[1], 0);
	assert_int_equal(codec_object_decode(c, buf, len, &back), 0);
	assert_int_equal(back->nentries, 0);
	assert_int_equal(back->nanon, 0);
	assert_int_equal(dvv_value_count(back), 0);
	free(buf);
	dvv_free(back);
	dvv_free(d);
}

static void test_object_large_value(void **state)
{
	struct codec *c = *state;
	struct dvv *d = dvv_new();
	struct dvv *back = NULL;
	uint8_t *buf = NULL;
	uint8_t *big = malloc(1 << 20);
	size_t len = 0;

	assert_non_null(big);
	for (size_t i = 0; i < (1 << 20); i++)
		big[i] = (uint8_t)(i * 2654435761u >> 24);
	d->nanon = 1;
	d->anon = values_new(1);
	value_init(&d->anon[0], big, 1 << 20, "image/png", 42, false);
	assert_int_equal(codec_object_encode(c, d, &buf, &len), 0);
	assert_int_equal(codec_object_decode(c, buf, len, &back), 0);
	assert_true(dvv_equal(d, back));
	free(big);
	free(buf);
	dvv_free(back);
	dvv_free(d);
}

static void test_object_encode_refuses_invalid(void **state)
{
	struct codec *c = *state;
	struct dvv *d = sample_object();
	uint8_t *buf = (uint8_t *)&buf;
	size_t len = 1;

	/* Ids out of order break the invariant decoders rely on. */
	d->entries[0].id = UINT64_MAX;
	assert_int_equal(codec_object_encode(c, d, &buf, &len), RKV_EINVAL);
	assert_null(buf);
	assert_int_equal(len, 0);
	dvv_free(d);
}

static void test_object_truncated(void **state)
{
	struct codec *c = *state;
	uint8_t *buf = NULL;
	size_t len = 0;

	encode_sample(c, &buf, &len);
	/* Avro is prefix-free: no strict prefix is a whole object. */
	for (size_t n = 0; n < len; n++) {
		uint8_t *copy = malloc(n > 0 ? n : 1);
		assert_non_null(copy);
		memcpy(copy, buf, n);
		assert_decode_fails(c, copy, n);
		free(copy);
	}
	assert_decode_fails(c, NULL, 0);
	free(buf);
}

static void test_object_trailing_bytes(void **state)
{
	struct codec *c = *state;
	uint8_t *buf = NULL;
	size_t len = 0;

	encode_sample(c, &buf, &len);
	uint8_t *longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, buf, len);
	longer[len] = 0;
	assert_decode_fails(c, longer, len + 1);
	longer[len] = 0x5a;
	assert_decode_fails(c, longer, len + 1);
	free(longer);
	free(buf);
}

static void test_object_bit_flips(void **state)
{
	struct codec *c = *state;
	uint8_t *buf = NULL;
	size_t len = 0;
	size_t refused = 0;

	encode_sample(c, &buf, &len);
	/* A flip inside data bytes can give another valid object (that is
	 * what the store's checksum is for); anything else must be refused,
	 * and whatever is accepted must be a valid object. */
	for (size_t bit = 0; bit < len * 8; bit++) {
		struct dvv *out = NULL;
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int rc = codec_object_decode(c, buf, len, &out);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_true(rc == 0 || rc == RKV_ECORRUPT);
		if (rc == 0)
			assert_int_equal(dvv_validate(out), 0);
		else
			refused++;
		dvv_free(out);
	}
	assert_true(refused > 0);
	free(buf);
}

static void test_object_hostile(void **state)
{
	struct codec *c = *state;
	/* entries: count 2^62, then almost nothing */
	static const uint8_t huge_count[] = {0x80, 0x80, 0x80, 0x80,
	                                     0x80, 0x80, 0x80, 0x80,
	                                     0x80, 0x01, 0x00, 0x00};
	/* anon: 1 value whose data claims 2^62 bytes */
	static const uint8_t huge_bytes[] = {0x00, 0x02, 0x80, 0x80, 0x80,
	                                     0x80, 0x80, 0x80, 0x80, 0x80,
	                                     0x80, 0x01, 0x00};
	/* anon: 1 value whose data length is -1 */
	static const uint8_t negative_len[] = {0x00, 0x02, 0x01, 0x00,
	                                       0x00, 0x00, 0x00, 0x00};
	/* entries: a negative block count (-1) with a byte size */
	static const uint8_t negative_count[] = {0x01, 0x0a, 0x02, 0x02,
	                                         0x00, 0x00, 0x00};
	/* a varint of 11 bytes */
	static const uint8_t long_varint[] = {0xff, 0xff, 0xff, 0xff,
	                                      0xff, 0xff, 0xff, 0xff,
	                                      0xff, 0xff, 0x01, 0x00};
	/* anon: one value, tombstone byte 2 */
	static const uint8_t bad_bool[] = {0x00, 0x02, 0x00, 0x02, 0x61,
	                                   0x00, 0x02, 0x00, 0x00};
	/* anon: one value, content type "a\0" */
	static const uint8_t nul_ctype[] = {0x00, 0x02, 0x00, 0x04, 0x61,
	                                    0x00, 0x00, 0x00, 0x00};
	/* entries: id 1 counter 0 with one value (nvalues > counter) */
	static const uint8_t over_counter[] = {0x02, 0x02, 0x00, 0x02,
	                                       0x00, 0x02, 0x61, 0x00,
	                                       0x00, 0x00, 0x00, 0x00};

	assert_decode_fails(c, huge_count, sizeof(huge_count));
	assert_decode_fails(c, huge_bytes, sizeof(huge_bytes));
	assert_decode_fails(c, negative_len, sizeof(negative_len));
	assert_decode_fails(c, negative_count, sizeof(negative_count));
	assert_decode_fails(c, long_varint, sizeof(long_varint));
	assert_decode_fails(c, bad_bool, sizeof(bad_bool));
	assert_decode_fails(c, nul_ctype, sizeof(nul_ctype));
	assert_decode_fails(c, over_counter, sizeof(over_counter));
}

/* More values than DVV_MAX_VALUES, each well-formed: refused by the limit,
 * not by a shortage of bytes. */
static void test_object_too_many_values(void **state)
{
	struct codec *c = *state;
	const size_t n = DVV_MAX_VALUES + 1;
	/* "a" as content type: 0x02 0x61; data empty 0x00; ts 0; false */
	static const uint8_t one[] = {0x00, 0x02, 0x61, 0x00, 0x00};
	size_t len = 1 + 2 + n * sizeof(one) + 1;
	uint8_t *buf = malloc(len);
	size_t o = 0;

	assert_non_null(buf);
	buf[o++] = 0x00;                               /* no entries */
	buf[o++] = (uint8_t)(((n * 2) & 0x7f) | 0x80); /* zig-zag count */
	buf[o++] = (uint8_t)((n * 2) >> 7);
	for (size_t i = 0; i < n; i++, o += sizeof(one))
		memcpy(buf + o, one, sizeof(one));
	buf[o++] = 0x00;
	assert_int_equal(o, len);
	assert_decode_fails(c, buf, len);
	free(buf);
}

/* --- the pinned encoding -------------------------------------------------- */

static size_t read_data(const char *name, uint8_t *buf, size_t cap)
{
	char path[4096];
	const char *dir = getenv("RKV_TEST_DATA");
	FILE *f = NULL;
	size_t n = 0;

	if (dir != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	} else {
		/* Run by hand from a build directory: next to this source. */
		const char *slash = strrchr(__FILE__, '/');
		int dlen = slash ? (int)(slash - __FILE__) : 1;
		snprintf(path, sizeof(path), "%.*s/data/%s", dlen,
		         slash ? __FILE__ : ".", name);
	}
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s (set RKV_TEST_DATA)", path);
	n = fread(buf, 1, cap, f);
	assert_true(feof(f));
	fclose(f);
	return n;
}

static void test_object_golden(void **state)
{
	struct codec *c = *state;
	uint8_t golden[GOLDEN_MAX];
	size_t glen = read_data(GOLDEN_FILE, golden, sizeof(golden));
	struct dvv *expect = sample_object();
	struct dvv *back = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;

	/* Old records keep decoding ... */
	assert_int_equal(codec_object_decode(c, golden, glen, &back), 0);
	assert_true(dvv_equal(expect, back));
	/* ... and this release still writes exactly the same bytes. */
	assert_int_equal(codec_object_encode(c, expect, &buf, &len), 0);
	assert_int_equal(len, glen);
	assert_memory_equal(buf, golden, len);
	free(buf);
	dvv_free(back);
	dvv_free(expect);
}

/* --- contexts ------------------------------------------------------------- */

static void assert_context_fails(struct codec *c, const char *text)
{
	struct dvv_vv out = {.n = 99, .e = (struct dvv_vv_entry *)&out};
	assert_int_equal(codec_context_decode(c, text, &out), RKV_ECONTEXT);
	assert_int_equal(out.n, 0);
	assert_null(out.e);
}

static void test_context_known_answers(void **state)
{
	struct codec *c = *state;
	struct dvv_vv_entry one = {.id = 1, .counter = 1};
	struct dvv_vv empty = {0, NULL};
	struct dvv_vv single = {1, &one};
	char *text = NULL;

	assert_int_equal(codec_context_encode(c, &empty, &text), 0);
	assert_string_equal(text, "AA"); /* Avro: 0x00 */
	free(text);
	assert_int_equal(codec_context_encode(c, &single, &text), 0);
	assert_string_equal(text, "AgICAA"); /* 02 02 02 00 */
	free(text);
}

static void test_context_round_trip(void **state)
{
	struct codec *c = *state;
	struct dvv_vv_entry e[] = {
	    {.id = 0, .counter = 0},
	    {.id = 3, .counter = UINT64_C(1) << 40},
	    {.id = UINT64_C(0x8000000000000000), .counter = 9},
	    {.id = UINT64_MAX, .counter = UINT64_MAX},
	};

	for (size_t n = 0; n <= sizeof(e) / sizeof(e[0]); n++) {
		struct dvv_vv vv = {n, n > 0 ? e : NULL};
		struct dvv_vv back = {0, NULL};
		char *text = NULL;
		assert_int_equal(codec_context_encode(c, &vv, &text), 0);
		/* Header-safe: the base64url alphabet, no padding. */
		assert_int_equal(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                              "abcdefghijklmnopqrstuvwxyz"
		                              "0123456789-_"),
		                 strlen(text));
		assert_int_equal(codec_context_decode(c, text, &back), 0);
		assert_int_equal(back.n, n);
		if (n > 0)
			assert_memory_equal(back.e, e, n * sizeof(e[0]));
		dvv_vv_deinit(&back);
		free(text);
	}
}

static void test_context_largest(void **state)
{
	struct codec *c = *state;
	struct dvv_vv vv = {DVV_MAX_ENTRIES, NULL};
	struct dvv_vv back = {0, NULL};
	char *text = NULL;

	vv.e = calloc(vv.n, sizeof(*vv.e));
	assert_non_null(vv.e);
	/* Longs near INT64_MAX and INT64_MIN take the full 10 bytes. */
	for (size_t i = 0; i < vv.n; i++) {
		vv.e[i].id = UINT64_C(0x7fffffffffffffff) - (vv.n - i);
		vv.e[i].counter = UINT64_C(0x8000000000000000);
	}
	assert_int_equal(codec_context_encode(c, &vv, &text), 0);
	assert_true(strlen(text) >= (2 + vv.n * 20) * 4 / 3);
	assert_true(strlen(text) <= CODEC_MAX_CONTEXT_TEXT);
	assert_int_equal(codec_context_decode(c, text, &back), 0);
	assert_int_equal(back.n, vv.n);
	dvv_vv_deinit(&back);
	free(text);
	free(vv.e);
}

static void test_context_refuses_bad_base64(void **state)
{
	struct codec *c = *state;
	char *long_text = malloc(CODEC_MAX_CONTEXT_TEXT + 2);

	assert_context_fails(c, "");       /* no bytes: not a context */
	assert_context_fails(c, "A");      /* length 1 mod 4 */
	assert_context_fails(c, "AA=");    /* padding */
	assert_context_fails(c, "AA==");   /* padding */
	assert_context_fails(c, "AB");     /* leftover bits not zero */
	assert_context_fails(c, "Ag+CAA"); /* standard alphabet, not url */
	assert_context_fails(c, "Ag/CAA");
	assert_context_fails(c, "AgI CAA"); /* whitespace */
	assert_context_fails(c, "AgICAA\n");
	assert_context_fails(c, "Ag\xc3\xa9"); /* non-ASCII */
	assert_non_null(long_text);
	memset(long_text, 'A', CODEC_MAX_CONTEXT_TEXT + 1);
	long_text[CODEC_MAX_CONTEXT_TEXT + 1] = '\0';
	assert_context_fails(c, long_text);
	free(long_text);
}

static void test_context_refuses_bad_avro(void **state)
{
	struct codec *c = *state;

	assert_context_fails(c, "AgICAAA");  /* 02 02 02 00 00: trailing */
	assert_context_fails(c, "AgIC");     /* 02 02 02: no terminator */
	assert_context_fails(c, "BAICAgIA"); /* 04 02 02 02 02 00: ids 1,1 */
	assert_context_fails(c, "BAQCAgIA"); /* ids 2 then 1 */
	assert_context_fails(c, "gICAgICAgIABAA"); /* count 2^55 */
	assert_context_fails(c, "AQ");             /* count -1 */
}

static void test_context_encode_refuses_invalid(void **state)
{
	struct codec *c = *state;
	struct dvv_vv_entry e[] = {{.id = 5, .counter = 1},
	                           {.id = 5, .counter = 2}};
	struct dvv_vv vv = {2, e};
	char *text = (char *)&text;

	assert_int_equal(codec_context_encode(c, &vv, &text), RKV_EINVAL);
	assert_null(text);
}

/* --- rings ---------------------------------------------------------------- */

static const char *const members3[] = {"n1:8099", "n2:8099", "n3:8099"};
static const char *const members4[] = {"n1:8099", "n2:8099", "n3:8099",
                                       "n4:8099"};

/* A claimed ring of q partitions over three nodes with a fourth joining:
 * the plan is committed, so transfers are pending. */
static struct ring *pending_ring(uint32_t q)
{
	struct ring *empty = NULL, *cur = NULL, *target = NULL;
	struct ring_plan *plan = NULL;

	assert_int_equal(ring_new(q, &empty), 0);
	assert_int_equal(ring_claim(empty, members3, 3, 3, &cur), 0);
	assert_int_equal(ring_claim(cur, members4, 4, 3, &target), 0);
	assert_int_equal(ring_plan_new(cur, target, &plan), 0);
	assert_true(plan->nmoves > 0);
	assert_int_equal(ring_plan_commit(cur, plan, "n1:8099"), 0);
	assert_int_equal(ring_validate(cur), 0);
	assert_true(ring_pending(cur) > 0);
	ring_plan_free(plan);
	ring_free(target);
	ring_free(empty);
	return cur;
}

static void assert_ring_fails(struct codec *c, const void *buf, size_t len)
{
	struct ring *out = (struct ring *)&out; /* must be reset to NULL */
	assert_int_equal(codec_ring_decode(c, buf, len, &out), RKV_ECORRUPT);
	assert_null(out);
}

/* decode(encode(r)) is r by ring_equal, and encodes to the same bytes. */
static void assert_ring_round_trip(struct codec *c, const struct ring *r)
{
	struct ring *back = NULL;
	uint8_t *buf = NULL, *again = NULL;
	size_t len = 0, len2 = 0;

	assert_int_equal(codec_ring_encode(c, r, &buf, &len), 0);
	assert_int_equal(codec_ring_decode(c, buf, len, &back), 0);
	assert_int_equal(ring_validate(back), 0);
	assert_true(ring_equal(r, back));
	assert_int_equal(ring_digest(r), ring_digest(back));
	assert_int_equal(ring_pending(back), ring_pending(r));
	assert_int_equal(ring_claimed(back), ring_claimed(r));
	assert_int_equal(codec_ring_encode(c, back, &again, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(buf, again, len);
	free(buf);
	free(again);
	ring_free(back);
}

static void test_ring_round_trip(void **state)
{
	struct codec *c = *state;
	struct ring *r = pending_ring(64);

	/* Twice: the reused instance keeps nothing between calls. */
	assert_ring_round_trip(c, r);
	assert_ring_round_trip(c, r);
	ring_free(r);
	/* The largest ring, and the smallest. */
	r = pending_ring(RING_MAX_SIZE);
	assert_ring_round_trip(c, r);
	ring_free(r);
	assert_int_equal(ring_new(1, &r), 0);
	assert_int_equal(ring_partition_set(r, 0, "n1:8099", "n2:8099",
	                                    UINT64_MAX, "n2:8099"),
	                 0);
	assert_int_equal(ring_validate(r), 0);
	assert_ring_round_trip(c, r);
	ring_free(r);
}

static void test_ring_unclaimed(void **state)
{
	struct codec *c = *state;
	/* Q 1; one entry: owner null, next null, version 0, writer null. */
	static const uint8_t one[] = {0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00};
	struct ring *r = NULL, *back = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(ring_new(1, &r), 0);
	assert_int_equal(codec_ring_encode(c, r, &buf, &len), 0);
	assert_int_equal(len, sizeof(one));
	assert_memory_equal(buf, one, len);
	free(buf);
	assert_int_equal(codec_ring_decode(c, one, sizeof(one), &back), 0);
	assert_false(ring_claimed(back));
	assert_int_equal(ring_partition_count(back), 1);
	assert_true(ring_equal(r, back));
	ring_free(back);
	ring_free(r);
	assert_int_equal(ring_new(256, &r), 0);
	assert_ring_round_trip(c, r);
	ring_free(r);
}

static void test_ring_golden(void **state)
{
	struct codec *c = *state;
	uint8_t golden[GOLDEN_MAX];
	size_t glen = read_data(GOLDEN_RING_FILE, golden, sizeof(golden));
	struct ring *expect = NULL, *back = NULL;
	struct ring_entry e;
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(ring_new(2, &expect), 0);
	assert_int_equal(
	    ring_partition_set(expect, 0, "node-a", "node-b", 300, "node-a"),
	    0);
	assert_int_equal(
	    ring_partition_set(expect, 1, "node-b", NULL, 1, "node-b"), 0);
	assert_int_equal(ring_validate(expect), 0);
	/* Old rings keep decoding ... */
	assert_int_equal(codec_ring_decode(c, golden, glen, &back), 0);
	assert_true(ring_equal(expect, back));
	assert_int_equal(ring_partition_get(back, 0, &e), 0);
	assert_string_equal(e.next_owner, "node-b");
	assert_int_equal(e.version, 300);
	/* ... and this release still writes exactly the same bytes. */
	assert_int_equal(codec_ring_encode(c, expect, &buf, &len), 0);
	assert_int_equal(len, glen);
	assert_memory_equal(buf, golden, len);
	free(buf);
	ring_free(back);
	ring_free(expect);
}

static void test_ring_encode_refuses_invalid(void **state)
{
	struct codec *c = *state;
	struct ring *r = NULL;
	uint8_t *buf = (uint8_t *)&buf;
	size_t len = 1;

	/* One partition claimed, the others not. */
	assert_int_equal(ring_new(4, &r), 0);
	assert_int_equal(ring_partition_set(r, 0, "a", NULL, 1, "a"), 0);
	assert_int_equal(codec_ring_encode(c, r, &buf, &len), RKV_EINVAL);
	assert_null(buf);
	assert_int_equal(len, 0);
	ring_free(r);
}

static void test_ring_truncated_and_trailing(void **state)
{
	struct codec *c = *state;
	struct ring *r = pending_ring(16);
	uint8_t *buf = NULL, *longer = NULL;
	size_t len = 0;

	assert_int_equal(codec_ring_encode(c, r, &buf, &len), 0);
	for (size_t n = 0; n < len; n++) {
		uint8_t *copy = malloc(n > 0 ? n : 1);
		assert_non_null(copy);
		memcpy(copy, buf, n);
		assert_ring_fails(c, copy, n);
		free(copy);
	}
	assert_ring_fails(c, NULL, 0);
	longer = malloc(len + 1);
	assert_non_null(longer);
	memcpy(longer, buf, len);
	longer[len] = 0;
	assert_ring_fails(c, longer, len + 1);
	free(longer);
	free(buf);
	ring_free(r);
}

static void test_ring_bit_flips(void **state)
{
	struct codec *c = *state;
	struct ring *r = pending_ring(8);
	uint8_t *buf = NULL;
	size_t len = 0, refused = 0;

	assert_int_equal(codec_ring_encode(c, r, &buf, &len), 0);
	/* A flip in a name's bytes or a version can give another valid
	 * ring (the store's checksum is there for that); anything accepted
	 * must be a valid ring. */
	for (size_t bit = 0; bit < len * 8; bit++) {
		struct ring *out = NULL;
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int rc = codec_ring_decode(c, buf, len, &out);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_true(rc == 0 || rc == RKV_ECORRUPT);
		if (rc == 0)
			assert_int_equal(ring_validate(out), 0);
		else
			refused++;
		ring_free(out);
	}
	assert_true(refused > 0);
	free(buf);
	ring_free(r);
}

/* Hand-made Avro for hostile rings. */
struct bytes {
	uint8_t *p;
	size_t n, cap;
};

static void bytes_put(struct bytes *b, const void *data, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->n, data, n);
	b->n += n;
}

static void bytes_long(struct bytes *b, int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	uint8_t byte;

	do {
		byte = (uint8_t)(z & 0x7f);
		z >>= 7;
		if (z != 0)
			byte |= 0x80;
		bytes_put(b, &byte, 1);
	} while (z != 0);
}

/* A name union: null for NULL, else the string of len bytes. */
static void bytes_name(struct bytes *b, const char *name, size_t len)
{
	bytes_long(b, name != NULL);
	if (name == NULL)
		return;
	bytes_long(b, (int64_t)len);
	bytes_put(b, name, len);
}

static void bytes_part(struct bytes *b, const char *owner, const char *next,
                       int64_t version, const char *writer)
{
	bytes_name(b, owner, owner ? strlen(owner) : 0);
	bytes_name(b, next, next ? strlen(next) : 0);
	bytes_long(b, version);
	bytes_name(b, writer, writer ? strlen(writer) : 0);
}

/* A ring of size q whose n entries are all (owner, next, version,
 * writer). */
static void assert_ring_bytes_fail(struct codec *c, int64_t q, int64_t n,
                                   const char *owner, const char *next,
                                   int64_t version, const char *writer)
{
	struct bytes b = {0};

	bytes_long(&b, q);
	if (n > 0)
		bytes_long(&b, n);
	for (int64_t i = 0; i < n; i++)
		bytes_part(&b, owner, next, version, writer);
	bytes_long(&b, 0);
	assert_ring_fails(c, b.p, b.n);
	free(b.p);
}

static void test_ring_hostile(void **state)
{
	struct codec *c = *state;
	/* Q 2, partitions: count 2^62, then almost nothing */
	static const uint8_t huge_count[] = {0x04, 0x80, 0x80, 0x80,
	                                     0x80, 0x80, 0x80, 0x80,
	                                     0x80, 0x80, 0x01, 0x00};
	/* Q 1: an owner whose length claims 2^62 bytes */
	static const uint8_t huge_name[] = {0x02, 0x02, 0x02, 0x80, 0x80,
	                                    0x80, 0x80, 0x80, 0x80, 0x80,
	                                    0x80, 0x80, 0x01, 0x61, 0x00};
	/* Q 1: union branches 2 and -1 */
	static const uint8_t branch2[] = {0x02, 0x02, 0x04, 0x00,
	                                  0x00, 0x00, 0x00, 0x00};
	static const uint8_t branch_neg[] = {0x02, 0x02, 0x01, 0x00,
	                                     0x00, 0x00, 0x00, 0x00};
	/* Q 2: a claimed and an unclaimed partition */
	static const uint8_t mixed[] = {0x04, 0x04, 0x02, 0x02, 0x61,
	                                0x00, 0x02, 0x02, 0x02, 0x61,
	                                0x00, 0x00, 0x00, 0x00, 0x00};
	char name[RING_MAX_NAME + 2];
	struct bytes b = {0};

	assert_ring_fails(c, huge_count, sizeof(huge_count));
	assert_ring_fails(c, huge_name, sizeof(huge_name));
	assert_ring_fails(c, branch2, sizeof(branch2));
	assert_ring_fails(c, branch_neg, sizeof(branch_neg));
	assert_ring_fails(c, mixed, sizeof(mixed));
	/* Sizes: not a power of two, zero, negative, too large, not the
	 * number of entries (either way). */
	assert_ring_bytes_fail(c, 3, 3, NULL, NULL, 0, NULL);
	assert_ring_bytes_fail(c, 0, 0, NULL, NULL, 0, NULL);
	assert_ring_bytes_fail(c, -2, 2, NULL, NULL, 0, NULL);
	assert_ring_bytes_fail(c, (int64_t)RING_MAX_SIZE * 2, 1, NULL, NULL, 0,
	                       NULL);
	assert_ring_bytes_fail(c, INT64_MIN, 1, NULL, NULL, 0, NULL);
	assert_ring_bytes_fail(c, 4, 2, "a", NULL, 1, "a");
	assert_ring_bytes_fail(c, 2, 4, "a", NULL, 1, "a");
	/* Inconsistent partitions. */
	assert_ring_bytes_fail(c, 2, 2, "a", NULL, 0, "a");   /* version 0 */
	assert_ring_bytes_fail(c, 2, 2, "a", "a", 1, "a");    /* next = owner */
	assert_ring_bytes_fail(c, 2, 2, "a", NULL, 1, NULL);  /* no writer */
	assert_ring_bytes_fail(c, 2, 2, NULL, NULL, 0, "a");  /* writer, no
	                                                         owner */
	assert_ring_bytes_fail(c, 2, 2, NULL, "a", 0, NULL);  /* next only */
	assert_ring_bytes_fail(c, 2, 2, NULL, NULL, 1, NULL); /* version */
	/* Names: invalid characters, empty, too long, a NUL inside. */
	assert_ring_bytes_fail(c, 2, 2, "a b", NULL, 1, "a b");
	assert_ring_bytes_fail(c, 2, 2, "", NULL, 1, "");
	assert_ring_bytes_fail(c, 2, 2, "a", NULL, 1, "w\x7f");
	memset(name, 'n', sizeof(name));
	name[RING_MAX_NAME + 1] = '\0';
	assert_ring_bytes_fail(c, 2, 2, name, NULL, 1, name);
	bytes_long(&b, 1);
	bytes_long(&b, 1);
	bytes_name(&b, "a\0b", 3);
	bytes_name(&b, NULL, 0);
	bytes_long(&b, 1);
	bytes_name(&b, "a", 1);
	bytes_long(&b, 0);
	assert_ring_fails(c, b.p, b.n);
	free(b.p);
	/* More distinct names than a ring may hold. */
	memset(&b, 0, sizeof(b));
	bytes_long(&b, 2048);
	bytes_long(&b, 2048);
	for (int i = 0; i < 2048; i++) {
		char o[16], n[16], w[16];
		snprintf(o, sizeof(o), "o%d", i);
		snprintf(n, sizeof(n), "n%d", i);
		snprintf(w, sizeof(w), "w%d", i);
		bytes_part(&b, o, n, 1, w);
	}
	bytes_long(&b, 0);
	assert_ring_fails(c, b.p, b.n);
	free(b.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_object_round_trip),
	    cmocka_unit_test(test_object_empty),
	    cmocka_unit_test(test_object_large_value),
	    cmocka_unit_test(test_object_encode_refuses_invalid),
	    cmocka_unit_test(test_object_truncated),
	    cmocka_unit_test(test_object_trailing_bytes),
	    cmocka_unit_test(test_object_bit_flips),
	    cmocka_unit_test(test_object_hostile),
	    cmocka_unit_test(test_object_too_many_values),
	    cmocka_unit_test(test_object_golden),
	    cmocka_unit_test(test_context_known_answers),
	    cmocka_unit_test(test_context_round_trip),
	    cmocka_unit_test(test_context_largest),
	    cmocka_unit_test(test_context_refuses_bad_base64),
	    cmocka_unit_test(test_context_refuses_bad_avro),
	    cmocka_unit_test(test_context_encode_refuses_invalid),
	    cmocka_unit_test(test_ring_round_trip),
	    cmocka_unit_test(test_ring_unclaimed),
	    cmocka_unit_test(test_ring_golden),
	    cmocka_unit_test(test_ring_encode_refuses_invalid),
	    cmocka_unit_test(test_ring_truncated_and_trailing),
	    cmocka_unit_test(test_ring_bit_flips),
	    cmocka_unit_test(test_ring_hostile),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
