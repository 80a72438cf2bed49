/* test_codec.c -- the Avro encodings of objects, contexts and rings.
 *
 * Round trips must be exact (decode(encode(x)) equals x, and encoding the
 * result gives the same bytes). Decoding is fed everything a disk or a
 * peer could hand it -- every truncation, every single-bit flip, trailing
 * bytes, counts and lengths that claim more than the buffer holds -- and
 * must answer the error code without crashing (run under the sanitizer
 * build, a length trusted before the bytes are checked would show up as
 * a huge allocation). Objects are read and written by hand in codec.c, so
 * random objects are also checked against Avro C's generic writer (byte
 * for byte) and read back from arrays cut into blocks, some with byte
 * sizes, as other Avro writers may cut them; the randomized tests print
 * their seed (RKV_SEED replays a run). tests/data/object-v1.avro pins the
 * encoding of one object and tests/data/ring-v1.avro that of one ring: if
 * they stop decoding, records already on disk would too.
 */
#include "codec.h"
#include "dvv.h"
#include "ring/ring.h"
#include "ring/rng.h"
#include "schemas.h"
#include "status.h"
#include "tests/seed.h"

#include <avro.h>

#include <assert.h>
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

/* Hand-made Avro, for encodings the codecs do not write themselves: arrays
 * in several blocks, hostile objects and rings. */
struct bytes {
	uint8_t *p;
	size_t n, cap;
};

static void bytes_put(struct bytes *b, const void *data, size_t n)
{
	if (n == 0)
		return;
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
	assert_int_equal(codec_object_size(d, &len), RKV_EINVAL);
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
	/* entries: a block of one entry (-1) whose byte size (5) is not
	 * the 3 bytes it holds */
	static const uint8_t negative_count[] = {0x01, 0x0a, 0x02, 0x02,
	                                         0x00, 0x00, 0x00};
	/* a varint of 11 bytes */
	static const uint8_t long_varint[] = {0xff, 0xff, 0xff, 0xff,
	                                      0xff, 0xff, 0xff, 0xff,
	                                      0xff, 0xff, 0x01, 0x00};
	/* a varint of 10 bytes that carries more than 64 bits */
	static const uint8_t wide_varint[] = {
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00};
	/* anon: one value whose data length runs into the next fields */
	static const uint8_t short_data[] = {0x00, 0x02, 0x0a, 0x00,
	                                     0x02, 0x61, 0x00, 0x00};
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
	assert_decode_fails(c, wide_varint, sizeof(wide_varint));
	assert_decode_fails(c, short_data, sizeof(short_data));
	assert_decode_fails(c, bad_bool, sizeof(bad_bool));
	assert_decode_fails(c, nul_ctype, sizeof(nul_ctype));
	assert_decode_fails(c, over_counter, sizeof(over_counter));

	/* anon: one value whose content type is one byte too long */
	char ctype[DVV_MAX_CONTENT_TYPE + 1];
	struct bytes b = {0};
	memset(ctype, 't', sizeof(ctype));
	bytes_long(&b, 0);
	bytes_long(&b, 1);
	bytes_long(&b, 0);
	bytes_long(&b, (int64_t)sizeof(ctype));
	bytes_put(&b, ctype, sizeof(ctype));
	bytes_long(&b, 0);
	bytes_put(&b, "", 1); /* false */
	bytes_long(&b, 0);
	assert_decode_fails(c, b.p, b.n);
	free(b.p);
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

/* --- the reference: Avro C's generic values ------------------------------
 *
 * codec.c reads and writes objects by hand. The previous release wrote
 * them through Avro C's generic values, and peers of other languages write
 * them with their own Avro libraries: the hand-written codec must produce
 * Avro C's bytes exactly and read whatever a conforming writer produces.
 * This reference is that generic path, kept here only.
 */

struct ref {
	avro_schema_t schema;
	avro_value_iface_t *iface;
	avro_value_t value;
	avro_writer_t writer;
	avro_reader_t reader;
};

static const char ref_empty[1];

static void ref_init(struct ref *ref)
{
	assert_int_equal(avro_schema_from_json_length(rkv_schema_object,
	                                              strlen(rkv_schema_object),
	                                              &ref->schema),
	                 0);
	ref->iface = avro_generic_class_from_schema(ref->schema);
	assert_non_null(ref->iface);
	assert_int_equal(avro_generic_value_new(ref->iface, &ref->value), 0);
	ref->writer = avro_writer_memory(ref_empty, 0);
	ref->reader = avro_reader_memory(ref_empty, 0);
	assert_non_null(ref->writer);
	assert_non_null(ref->reader);
}

static void ref_deinit(struct ref *ref)
{
	avro_reader_free(ref->reader);
	avro_writer_free(ref->writer);
	avro_value_decref(&ref->value);
	avro_value_iface_decref(ref->iface);
	avro_schema_decref(ref->schema);
}

static avro_value_t ref_field(avro_value_t *rec, const char *name)
{
	avro_value_t f;
	assert_int_equal(avro_value_get_by_name(rec, name, &f, NULL), 0);
	return f;
}

static void ref_put_values(avro_value_t *array, const struct dvv_value *vals,
                           size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct dvv_value *v = &vals[i];
		avro_value_t rec, f;
		assert_int_equal(avro_value_append(array, &rec, NULL), 0);
		f = ref_field(&rec, "data");
		assert_int_equal(
		    avro_value_set_bytes(
		        &f, v->len ? (void *)v->data : (void *)ref_empty,
		        v->len),
		    0);
		f = ref_field(&rec, "content_type");
		assert_int_equal(avro_value_set_string(&f, v->content_type), 0);
		f = ref_field(&rec, "timestamp_ms");
		assert_int_equal(
		    avro_value_set_long(&f, (int64_t)v->timestamp_ms), 0);
		f = ref_field(&rec, "tombstone");
		assert_int_equal(avro_value_set_boolean(&f, v->tombstone), 0);
	}
}

/* Avro C's encoding of d, malloc'ed in *out. */
static void ref_encode(struct ref *ref, const struct dvv *d, uint8_t **out,
                       size_t *len)
{
	avro_value_t entries, anon, rec, f;

	avro_value_reset(&ref->value);
	entries = ref_field(&ref->value, "entries");
	anon = ref_field(&ref->value, "anon");
	for (size_t i = 0; i < d->nentries; i++) {
		const struct dvv_entry *e = &d->entries[i];
		assert_int_equal(avro_value_append(&entries, &rec, NULL), 0);
		f = ref_field(&rec, "id");
		assert_int_equal(avro_value_set_long(&f, (int64_t)e->id), 0);
		f = ref_field(&rec, "counter");
		assert_int_equal(avro_value_set_long(&f, (int64_t)e->counter),
		                 0);
		f = ref_field(&rec, "values");
		ref_put_values(&f, e->values, e->nvalues);
	}
	ref_put_values(&anon, d->anon, d->nanon);
	assert_int_equal(codec_value_encode(ref->writer, &ref->value, out, len),
	                 0);
}

/* Avro C's generic reader over buf, then its writer: Avro C's encoding of
 * whatever object buf holds. Proves that hand-made bytes are Avro. */
static void ref_reencode(struct ref *ref, const uint8_t *buf, size_t len,
                         uint8_t **out, size_t *olen)
{
	avro_value_reset(&ref->value);
	avro_reader_memory_set_source(ref->reader, (const char *)buf,
	                              (int64_t)len);
	assert_int_equal(avro_value_read(ref->reader, &ref->value), 0);
	assert_int_equal(
	    codec_value_encode(ref->writer, &ref->value, out, olen), 0);
}

/* --- random objects ------------------------------------------------------ */

static uint64_t test_seed;

static void seeded(struct rng *r, uint64_t salt)
{
	rng_init(r, test_seed ^ (salt * UINT64_C(0x9e3779b97f4a7c15)));
}

/* Numbers of every encoded length, from 1 byte to 10. */
static uint64_t random_u64(struct rng *r)
{
	return rng_next(r) >> rng_below(r, 64);
}

static void random_value(struct rng *r, struct dvv_value *v)
{
	static const char *const ctypes[] = {
	    "text/plain", "application/octet-stream", "", "a;b=c",
	    "x/ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	    "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"};
	char ctype[DVV_MAX_CONTENT_TYPE + 1];
	uint64_t dice = rng_below(r, 20);
	size_t len = dice < 5    ? 0
	             : dice < 18 ? 1 + rng_below(r, 200)
	             : dice < 19 ? 200 + rng_below(r, 20000)
	                         : 65536 + rng_below(r, 70000);
	uint8_t *data = malloc(len > 0 ? len : 1);

	assert_non_null(data);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)rng_next(r);
	if (rng_below(r, 10) == 0) { /* the longest type allowed */
		memset(ctype, 't', DVV_MAX_CONTENT_TYPE);
		ctype[DVV_MAX_CONTENT_TYPE] = '\0';
	} else {
		snprintf(
		    ctype, sizeof(ctype), "%s",
		    ctypes[rng_below(r, sizeof(ctypes) / sizeof(*ctypes))]);
	}
	value_init(v, data, len, ctype, random_u64(r), rng_below(r, 5) == 0);
	free(data);
}

/* Siblings, tombstones, empty and big values, ids across the whole u64
 * range (above 2^63: negative longs), and sometimes many actors. */
static struct dvv *random_object(struct rng *r)
{
	struct dvv *d = dvv_new();
	bool many = rng_below(r, 10) == 0;
	size_t nentries =
	    many ? 100 + rng_below(r, DVV_MAX_ENTRIES - 99) : rng_below(r, 6);
	size_t budget = DVV_MAX_VALUES;
	uint64_t id = rng_below(r, 2) ? 0 : rng_next(r) >> 1;

	assert_non_null(d);
	if (nentries > 0) {
		d->entries = calloc(nentries, sizeof(*d->entries));
		assert_non_null(d->entries);
	}
	for (size_t i = 0; i < nentries && id < UINT64_MAX; i++) {
		struct dvv_entry *e = &d->entries[d->nentries++];
		size_t n = rng_below(r, many ? 2 : 4);
		id += 1 + (rng_below(r, 2) ? rng_below(r, 1000)
		                           : rng_below(r, (UINT64_MAX - id) /
		                                              (nentries + 1)));
		e->id = id;
		e->nvalues = n < budget ? n : budget;
		e->counter =
		    e->nvalues +
		    (rng_below(r, 4) ? rng_below(r, 10) : random_u64(r) >> 1);
		if (rng_below(r, 20) == 0)
			e->counter = UINT64_MAX;
		budget -= e->nvalues;
		if (e->nvalues == 0)
			continue;
		e->values = values_new(e->nvalues);
		for (size_t j = 0; j < e->nvalues; j++)
			random_value(r, &e->values[j]);
	}
	d->nanon = rng_below(r, 3);
	d->nanon = d->nanon < budget ? d->nanon : budget;
	if (d->nanon > 0) {
		d->anon = values_new(d->nanon);
		for (size_t j = 0; j < d->nanon; j++)
			random_value(r, &d->anon[j]);
	}
	assert_int_equal(dvv_validate(d), 0);
	return d;
}

/* --- arrays in blocks ----------------------------------------------------
 *
 * Avro lets a writer cut an array into several blocks, and announce a
 * block with a negative count followed by its size in bytes. Avro C
 * writes neither, other libraries do: these write an object that way. */

typedef void put_item_fn(struct bytes *b, const void *items, size_t i,
                         struct rng *r);

/* n items in random blocks, about half of them with a byte size. */
static void put_blocks(struct bytes *b, const void *items, size_t n,
                       put_item_fn *put, struct rng *r)
{
	for (size_t i = 0; i < n;) {
		size_t k = 1 + rng_below(r, n - i);
		struct bytes block = {0};
		for (size_t j = i; j < i + k; j++)
			put(&block, items, j, r);
		if (rng_below(r, 2)) {
			bytes_long(b, -(int64_t)k);
			bytes_long(b, (int64_t)block.n);
		} else {
			bytes_long(b, (int64_t)k);
		}
		bytes_put(b, block.p, block.n);
		free(block.p);
		i += k;
	}
	bytes_long(b, 0);
}

static void put_value(struct bytes *b, const void *items, size_t i,
                      struct rng *r)
{
	const struct dvv_value *v = &((const struct dvv_value *)items)[i];
	uint8_t tomb = v->tombstone;

	(void)r;
	bytes_long(b, (int64_t)v->len);
	bytes_put(b, v->data, v->len);
	bytes_long(b, (int64_t)strlen(v->content_type));
	bytes_put(b, v->content_type, strlen(v->content_type));
	bytes_long(b, (int64_t)v->timestamp_ms);
	bytes_put(b, &tomb, 1);
}

static void put_entry(struct bytes *b, const void *items, size_t i,
                      struct rng *r)
{
	const struct dvv_entry *e = &((const struct dvv_entry *)items)[i];

	bytes_long(b, (int64_t)e->id);
	bytes_long(b, (int64_t)e->counter);
	put_blocks(b, e->values, e->nvalues, put_value, r);
}

/* d's Avro bytes with every array in random blocks, into b. */
static void put_object_blocked(struct bytes *b, const struct dvv *d,
                               struct rng *r)
{
	put_blocks(b, d->entries, d->nentries, put_entry, r);
	put_blocks(b, d->anon, d->nanon, put_value, r);
}

/* --- objects against the reference ------------------------------------- */

/* Whatever a damaged encoding decodes to must be a valid object that
 * encodes again; anything else must be RKV_ECORRUPT. */
static void assert_damaged_ok(struct codec *c, const uint8_t *buf, size_t len)
{
	struct dvv *out = NULL;
	uint8_t *again = NULL;
	size_t alen = 0;
	int rc = codec_object_decode(c, buf, len, &out);

	assert_true(rc == 0 || rc == RKV_ECORRUPT);
	if (rc != 0) {
		assert_null(out);
		return;
	}
	assert_int_equal(dvv_validate(out), 0);
	assert_int_equal(codec_object_encode(c, out, &again, &alen), 0);
	free(again);
	dvv_free(out);
}

/* codec_object_write, as a message uses it: inside a larger buffer, the
 * bytes of codec_object_encode, exactly the size measured. */
static void assert_object_written(const struct dvv *d, const uint8_t *bytes,
                                  size_t len)
{
	size_t size = 0;
	uint8_t *buf = NULL;

	assert_int_equal(codec_object_size(d, &size), 0);
	assert_int_equal(size, len);
	buf = malloc(size + 2);
	assert_non_null(buf);
	memset(buf, 0xa5, size + 2);
	assert_ptr_equal(codec_object_write(d, buf + 1), buf + 1 + size);
	assert_memory_equal(buf + 1, bytes, size);
	assert_int_equal(buf[0], 0xa5);
	assert_int_equal(buf[size + 1], 0xa5);
	free(buf);
}

static void test_object_random(void **state)
{
	struct codec *c = *state;
	struct ref ref;
	struct rng r;

	ref_init(&ref);
	seeded(&r, 1);
	for (int round = 0; round < 300; round++) {
		struct dvv *d = random_object(&r);
		struct dvv *back = NULL, *blocked = NULL;
		struct bytes b = {0};
		uint8_t *buf = NULL, *expect = NULL, *canon = NULL;
		size_t len = 0, elen = 0, clen = 0;

		/* Exactly Avro C's bytes ... */
		assert_int_equal(codec_object_encode(c, d, &buf, &len), 0);
		ref_encode(&ref, d, &expect, &elen);
		assert_int_equal(len, elen);
		assert_memory_equal(buf, expect, len);
		assert_object_written(d, buf, len);
		/* ... which decode to the same object ... */
		assert_int_equal(codec_object_decode(c, buf, len, &back), 0);
		assert_int_equal(dvv_validate(back), 0);
		assert_true(dvv_equal(d, back));
		/* ... as do the same arrays cut in blocks, which Avro C
		 * reads as the same object. */
		put_object_blocked(&b, d, &r);
		ref_reencode(&ref, b.p, b.n, &canon, &clen);
		assert_int_equal(clen, len);
		assert_memory_equal(canon, buf, len);
		assert_int_equal(codec_object_decode(c, b.p, b.n, &blocked), 0);
		assert_true(dvv_equal(d, blocked));
		dvv_free(blocked);
		free(canon);
		free(b.p);
		dvv_free(back);
		free(expect);
		free(buf);
		dvv_free(d);
	}
	ref_deinit(&ref);
}

static void test_object_random_damaged(void **state)
{
	struct codec *c = *state;
	struct rng r;

	seeded(&r, 2);
	for (int round = 0; round < 200; round++) {
		struct dvv *d = random_object(&r);
		struct bytes b = {0};
		uint8_t *buf = NULL;
		size_t len = 0;
		/* Fewer rounds on big objects, which cost the most (under
		 * the sanitizers especially) and add little. */
		int tries = 0;

		assert_int_equal(codec_object_encode(c, d, &buf, &len), 0);
		tries = len <= 16384 ? 50 : 8;
		/* Truncations: every one of a small object, some of a big
		 * one. Avro is prefix-free, so none decodes. */
		for (size_t i = 0; i < (len <= 2048 ? len : 64); i++) {
			size_t n = len <= 2048 ? i : rng_below(&r, len);
			uint8_t *copy = malloc(n > 0 ? n : 1);
			assert_non_null(copy);
			memcpy(copy, buf, n);
			assert_decode_fails(c, copy, n);
			free(copy);
		}
		/* Random bytes overwritten: 0xff and 0x80 lengthen varints,
		 * 0x01 makes counts and lengths negative. */
		for (int flip = 0; flip < tries; flip++) {
			static const uint8_t nasty[] = {0xff, 0x80, 0x01,
			                                0x00, 0x7f, 0x02};
			size_t where[3];
			uint8_t was[3];
			int k = 1 + (int)rng_below(&r, 3);
			for (int j = 0; j < k; j++) {
				where[j] = rng_below(&r, len);
				was[j] = buf[where[j]];
				buf[where[j]] =
				    rng_below(&r, 2)
				        ? (uint8_t)rng_next(&r)
				        : nasty[rng_below(&r, sizeof(nasty))];
			}
			assert_damaged_ok(c, buf, len);
			for (int j = k - 1; j >= 0; j--)
				buf[where[j]] = was[j];
		}
		/* The same, on the bytes in blocks. */
		put_object_blocked(&b, d, &r);
		for (int flip = 0; flip < tries / 2; flip++) {
			size_t at = rng_below(&r, b.n);
			uint8_t was = b.p[at];
			b.p[at] = (uint8_t)rng_next(&r);
			assert_damaged_ok(c, b.p, b.n);
			b.p[at] = was;
			assert_damaged_ok(c, b.p, rng_below(&r, b.n));
		}
		free(b.p);
		free(buf);
		dvv_free(d);
	}
}

/* An object of n entries (ids 1..n, counter 1, one empty value each) and
 * `anon` anonymous values, valid or not: written by hand. */
static struct dvv *wide_object(size_t n, size_t anon)
{
	struct dvv *d = dvv_new();

	assert_non_null(d);
	d->entries = calloc(n > 0 ? n : 1, sizeof(*d->entries));
	assert_non_null(d->entries);
	d->nentries = n;
	for (size_t i = 0; i < n; i++) {
		d->entries[i].id = i + 1;
		d->entries[i].counter = 1;
		d->entries[i].nvalues = 1;
		d->entries[i].values = values_new(1);
		value_init(&d->entries[i].values[0], NULL, 0, "", 0, false);
	}
	d->nanon = anon;
	d->anon = anon > 0 ? values_new(anon) : NULL;
	for (size_t i = 0; i < anon; i++)
		value_init(&d->anon[i], NULL, 0, "", 0, false);
	return d;
}

static_assert(DVV_MAX_ENTRIES == DVV_MAX_VALUES,
              "a full object has one value per entry");

/* The limits hold however the arrays are cut: DVV_MAX_ENTRIES entries and
 * DVV_MAX_VALUES values decode, one more of either is refused. */
static void test_object_limits_in_blocks(void **state)
{
	struct codec *c = *state;
	struct dvv *full = wide_object(DVV_MAX_ENTRIES, 0);
	struct dvv *over_entries = wide_object(DVV_MAX_ENTRIES + 1, 0);
	struct dvv *over_values = wide_object(DVV_MAX_ENTRIES, 1);
	struct dvv *back = NULL;
	struct ref ref;
	struct rng r;
	uint8_t *buf = NULL, *expect = NULL;
	size_t len = 0, elen = 0;

	ref_init(&ref);
	seeded(&r, 3);
	assert_int_equal(dvv_validate(full), 0);
	assert_int_equal(codec_object_encode(c, full, &buf, &len), 0);
	ref_encode(&ref, full, &expect, &elen);
	assert_int_equal(len, elen);
	assert_memory_equal(buf, expect, len);
	assert_int_equal(codec_object_decode(c, buf, len, &back), 0);
	assert_true(dvv_equal(full, back));
	dvv_free(back);
	for (int round = 0; round < 20; round++) {
		struct bytes b = {0};
		put_object_blocked(&b, full, &r);
		assert_int_equal(codec_object_decode(c, b.p, b.n, &back), 0);
		assert_true(dvv_equal(full, back));
		dvv_free(back);
		free(b.p);
		memset(&b, 0, sizeof(b));
		put_object_blocked(&b, over_entries, &r);
		assert_decode_fails(c, b.p, b.n);
		free(b.p);
		memset(&b, 0, sizeof(b));
		put_object_blocked(&b, over_values, &r);
		assert_decode_fails(c, b.p, b.n);
		free(b.p);
	}
	free(expect);
	free(buf);
	dvv_free(over_values);
	dvv_free(over_entries);
	dvv_free(full);
	ref_deinit(&ref);
}

/* Blocks whose counts or sizes lie. */
static void test_object_hostile_blocks(void **state)
{
	struct codec *c = *state;
	/* one entry (id 1, counter 1, no values): 02 02 00, 3 bytes */
	static const uint8_t entry[] = {0x02, 0x02, 0x00};
	static const struct {
		int64_t count, size; /* size < 0: none written */
	} blocks[] = {
	    {-1, 2},        {-1, 4},         /* the block's size is wrong */
	    {-1, -1},       {-1, -3},        /* a negative size */
	    {-1, 63},       {-1, INT64_MAX}, /* more than the input */
	    {INT64_MIN, 3},                  /* -INT64_MIN does not exist */
	    {INT64_MAX, 3}, {2, -1},         /* more items than present */
	    {-2, 3},
	};

	for (size_t i = 0; i < sizeof(blocks) / sizeof(*blocks); i++) {
		struct bytes b = {0};
		bytes_long(&b, blocks[i].count);
		if (blocks[i].count < 0)
			bytes_long(&b, blocks[i].size);
		bytes_put(&b, entry, sizeof(entry));
		bytes_long(&b, 0); /* end of entries */
		bytes_long(&b, 0); /* no anonymous values */
		assert_decode_fails(c, b.p, b.n);
		free(b.p);
	}
	/* The same block with its true size decodes. */
	{
		static const uint8_t ok[] = {0x01, 0x06, 0x02, 0x02,
		                             0x00, 0x00, 0x00};
		struct dvv *d = NULL;
		assert_int_equal(codec_object_decode(c, ok, sizeof(ok), &d), 0);
		assert_int_equal(d->nentries, 1);
		assert_int_equal(d->entries[0].id, 1);
		dvv_free(d);
	}
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

/* Avro lets a writer split an array into blocks, and give a block a
 * negative count followed by its size in bytes: a context so written
 * reads as the same entries, and a block whose size is wrong is refused. */
static void test_context_blocks(void **state)
{
	struct codec *c = *state;
	struct dvv_vv vv = {0, NULL};

	/* -1 entry, 2 bytes: (5, 1); then 1 entry: (6, 2); end. */
	assert_int_equal(codec_context_decode(c, "AQQKAgIMBAA", &vv), 0);
	assert_int_equal(vv.n, 2);
	assert_int_equal(vv.e[0].id, 5);
	assert_int_equal(vv.e[0].counter, 1);
	assert_int_equal(vv.e[1].id, 6);
	assert_int_equal(vv.e[1].counter, 2);
	dvv_vv_deinit(&vv);
	/* The same with the first block claiming 3 bytes. */
	assert_context_fails(c, "AQYKAgIMBAA");
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
	test_seed = test_seed_init("test_codec");
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
	    cmocka_unit_test(test_object_random),
	    cmocka_unit_test(test_object_random_damaged),
	    cmocka_unit_test(test_object_limits_in_blocks),
	    cmocka_unit_test(test_object_hostile_blocks),
	    cmocka_unit_test(test_object_golden),
	    cmocka_unit_test(test_context_known_answers),
	    cmocka_unit_test(test_context_round_trip),
	    cmocka_unit_test(test_context_largest),
	    cmocka_unit_test(test_context_refuses_bad_base64),
	    cmocka_unit_test(test_context_blocks),
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
