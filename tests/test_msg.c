/* test_msg.c -- the internode messages and the handshake's schema
 * resolution.
 *
 * Every message must round-trip exactly (objects with siblings and
 * tombstones, an empty key, a key at the size limit). Decoding is fed what
 * a broken or hostile peer could send -- every truncation, bit flips,
 * trailing bytes, lengths and counts that claim more than the body holds
 * -- and must answer RKV_ECORRUPT without crashing or allocating what the
 * claim asks for (the sanitizer build would show either). REPLICATE,
 * FETCH and the replies, which msg.c writes and reads by hand, are also
 * held byte for byte to Avro C's generic writer on random messages (the
 * seed is printed; RKV_SEED replays a run).
 *
 * Rolling upgrades are tested with the peer's side written by Avro C
 * directly, from schemas the test owns: tests/data/msg_forward_v0.avsc and
 * the body it wrote, msg_forward_v0.bin, stand for an older release (two
 * fields missing, one int that is now a long), as msg_gossip_v0.* do for
 * gossip and the member table it stored (no http address); a newer FETCH
 * and a newer HELLO body carry fields we do not know. The peer's HELLO is our
 * own with its schema list edited, as a node of that release would announce it.
 */
#include "codec.h"
#include "dvv.h"
#include "msg.h"
#include "ring/rng.h"
#include "schemas.h"
#include "status.h"
#include "tests/seed.h"

#include <avro.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include <cmocka.h>

#define GOLDEN_SCHEMA "msg_forward_v0.avsc"
#define GOLDEN_BODY   "msg_forward_v0.bin"
#define GOSSIP_V0     "msg_gossip_v0.avsc"
#define GOSSIP_V0_BIN "msg_gossip_v0.bin"
#define FILE_MAX      16384

/* --- objects built by hand, so messages are tested apart from DVV ops ---- */

static void value_init(struct dvv_value *v, const char *data, const char *ctype,
                       uint64_t ts, bool tomb)
{
	const struct dvv_value from = {
	    .data = (uint8_t *)data,
	    .len = data != NULL ? strlen(data) : 0,
	    .content_type = (char *)ctype,
	    .timestamp_ms = ts,
	    .tombstone = tomb,
	};

	assert_int_equal(dvv_value_copy(v, &from), 0);
}

/* Two actors with siblings, a tombstone, an empty value and an anonymous
 * value. */
static struct dvv *sample_object(void)
{
	struct dvv *d = dvv_new();
	struct dvv_entry *e = NULL;

	assert_non_null(d);
	d->nentries = 2;
	d->entries = calloc(2, sizeof(*d->entries));
	assert_non_null(d->entries);
	e = &d->entries[0];
	e->id = 7;
	e->counter = 4;
	e->nvalues = 2;
	e->values = calloc(2, sizeof(*e->values));
	assert_non_null(e->values);
	value_init(&e->values[0], "v4", "text/plain", 1700000000004u, false);
	value_init(&e->values[1], NULL, "text/plain", 1700000000003u, true);
	e = &d->entries[1];
	e->id = UINT64_C(0x8000000000000001);
	e->counter = 1;
	e->nvalues = 1;
	e->values = calloc(1, sizeof(*e->values));
	assert_non_null(e->values);
	value_init(&e->values[0], "", "application/json", 1700000000001u,
	           false);
	d->nanon = 1;
	d->anon = calloc(1, sizeof(*d->anon));
	assert_non_null(d->anon);
	value_init(&d->anon[0], "old", "text/plain", 1600000000000u, false);
	assert_int_equal(dvv_validate(d), 0);
	return d;
}

/* The field `name` of a generic record, in *out. */
static avro_value_t *value_field(avro_value_t *rec, const char *name,
                                 avro_value_t *out)
{
	assert_int_equal(avro_value_get_by_name(rec, name, out, NULL), 0);
	return out;
}

static void sample_hello(struct msg_hello *h)
{
	memset(h, 0, sizeof(*h));
	strcpy(h->cluster_name, "ringkv-test");
	strcpy(h->name, "node-a");
	strcpy(h->rpc_addr, "127.0.0.1:8099");
	h->node_id = UINT64_C(0xfedcba9876543210);
}

/* --- decoding everything a peer could send -------------------------------- */

/* A decoder under test: 0 or RKV_ECORRUPT, cleans up after itself. */
typedef int decode_fn(struct msg_codec *mc, const uint8_t *buf, size_t len);

static int decode_replicate(struct msg_codec *mc, const uint8_t *buf,
                            size_t len)
{
	struct msg_replicate m;
	int rc = msg_decode_replicate(mc, NULL, buf, len, &m);
	if (rc == 0) {
		assert_int_equal(dvv_validate(m.obj), 0);
		msg_clear_replicate(&m);
	}
	return rc;
}

static int decode_fetch(struct msg_codec *mc, const uint8_t *buf, size_t len)
{
	struct msg_fetch m;
	return msg_decode_fetch(mc, NULL, buf, len, &m);
}

static int decode_forward(struct msg_codec *mc, const uint8_t *buf, size_t len)
{
	struct msg_forward m;
	int rc = msg_decode_forward(mc, NULL, buf, len, &m);
	if (rc == 0) {
		assert_int_equal(dvv_vv_validate(&m.ctx), 0);
		msg_clear_forward(&m);
	}
	return rc;
}

static int decode_status(struct msg_codec *mc, const uint8_t *buf, size_t len)
{
	struct msg_status m;
	int rc = msg_decode_status(mc, NULL, MSG_FETCH, buf, len, &m);
	if (rc == 0)
		msg_clear_status(&m);
	return rc;
}

static int decode_hello(struct msg_codec *mc, const uint8_t *buf, size_t len)
{
	struct msg_hello h;
	struct msg_peer *peer = NULL;
	int rc = msg_decode_hello(mc, buf, len, &h, &peer);
	if (rc == 0)
		assert_non_null(peer);
	else
		assert_null(peer);
	msg_peer_free(peer);
	return rc;
}

/* Every proper prefix and the body plus one byte fail (Avro encodings are
 * self-delimiting); flipped bits either fail or decode to something valid.
 * `stride` > 1 flips one bit per byte only, for long bodies. */
static void assert_hostile(struct msg_codec *mc, decode_fn *decode,
                           const uint8_t *buf, size_t len, unsigned stride)
{
	uint8_t *copy = malloc(len + 1);

	assert_non_null(copy);
	assert_int_equal(decode(mc, buf, len), 0);
	for (size_t n = 0; n < len; n++) {
		memcpy(copy, buf, n);
		assert_int_equal(decode(mc, copy, n), RKV_ECORRUPT);
	}
	memcpy(copy, buf, len);
	copy[len] = 0;
	assert_int_equal(decode(mc, copy, len + 1), RKV_ECORRUPT);
	for (size_t bit = 0; bit < len * 8; bit += stride) {
		memcpy(copy, buf, len);
		copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int rc = decode(mc, copy, len);
		if (rc != 0)
			assert_int_equal(rc, RKV_ECORRUPT);
	}
	free(copy);
}

/* --- round trips ---------------------------------------------------------- */

static void test_hello_roundtrip(void **state)
{
	struct msg_codec *mc = *state;
	struct msg_hello h, back;
	struct msg_peer *peer = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;

	sample_hello(&h);
	memset(h.name, 'n', MSG_MAX_NAME); /* the longest name */
	assert_int_equal(msg_encode_hello(mc, &h, &buf, &len), 0);
	assert_int_equal(msg_decode_hello(mc, buf, len, &back, &peer), 0);
	assert_non_null(peer);
	assert_string_equal(back.cluster_name, h.cluster_name);
	assert_string_equal(back.name, h.name);
	assert_string_equal(back.rpc_addr, h.rpc_addr);
	assert_true(back.node_id == h.node_id);
	msg_peer_free(peer);
	free(buf);

	/* A name that fills its array without a terminator is refused. */
	memset(h.cluster_name, 'c', sizeof(h.cluster_name));
	assert_int_equal(msg_encode_hello(mc, &h, &buf, &len), RKV_EINVAL);
	assert_null(buf);
}

static void test_replicate_roundtrip(void **state)
{
	struct msg_codec *mc = *state;
	static const uint8_t key[] = {0x00, 'k', 0xff, 0x80};
	struct msg_replicate m = {
	    .partition = UINT32_MAX, .key = key, .klen = sizeof(key)};
	struct msg_replicate back;
	uint8_t *buf = NULL;
	size_t len = 0;

	m.obj = sample_object();
	assert_int_equal(msg_encode_replicate(mc, &m, &buf, &len), 0);
	assert_int_equal(msg_decode_replicate(mc, NULL, buf, len, &back), 0);
	assert_int_equal(back.partition, UINT32_MAX);
	assert_int_equal(back.klen, sizeof(key));
	assert_memory_equal(back.key, key, sizeof(key));
	/* The key points into the body, not into a copy. */
	assert_true(back.key >= buf && back.key + back.klen <= buf + len);
	assert_true(dvv_equal(back.obj, m.obj));
	msg_clear_replicate(&back);
	assert_null(back.obj);
	assert_hostile(mc, decode_replicate, buf, len, 1);
	free(buf);

	/* No object, or an invalid one, is the caller's bug. */
	dvv_free(m.obj);
	m.obj = NULL;
	assert_int_equal(msg_encode_replicate(mc, &m, &buf, &len), RKV_EINVAL);
}

static void test_fetch_keys(void **state)
{
	struct msg_codec *mc = *state;
	struct msg_fetch m = {.partition = 3, .key = NULL, .klen = 0};
	struct msg_fetch back;
	uint8_t *big = malloc(MSG_MAX_KEY + 1);
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_non_null(big);
	/* The empty key. */
	assert_int_equal(msg_encode_fetch(mc, &m, &buf, &len), 0);
	assert_int_equal(msg_decode_fetch(mc, NULL, buf, len, &back), 0);
	assert_int_equal(back.partition, 3);
	assert_int_equal(back.klen, 0);
	free(buf);

	/* The longest key. */
	for (size_t i = 0; i <= MSG_MAX_KEY; i++)
		big[i] = (uint8_t)(i * 7);
	m.key = big;
	m.klen = MSG_MAX_KEY;
	assert_int_equal(msg_encode_fetch(mc, &m, &buf, &len), 0);
	assert_int_equal(msg_decode_fetch(mc, NULL, buf, len, &back), 0);
	assert_int_equal(back.klen, MSG_MAX_KEY);
	assert_memory_equal(back.key, big, MSG_MAX_KEY);
	free(buf);

	/* One byte longer: refused both ways. */
	m.klen = MSG_MAX_KEY + 1;
	assert_int_equal(msg_encode_fetch(mc, &m, &buf, &len), RKV_EINVAL);
	free(big);
}

/* The bytes of a FETCH are pinned: zig-zag long 5, bytes "ab", then the
 * digest flag, a boolean byte. */
static void test_fetch_golden(void **state)
{
	struct msg_codec *mc = *state;
	static const uint8_t golden[] = {0x0a, 0x04, 'a', 'b', 0x00};
	struct msg_fetch m = {
	    .partition = 5, .key = (const uint8_t *)"ab", .klen = 2};
	struct msg_fetch back;
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(msg_encode_fetch(mc, &m, &buf, &len), 0);
	assert_int_equal(len, sizeof(golden));
	assert_memory_equal(buf, golden, sizeof(golden));
	assert_hostile(mc, decode_fetch, buf, len, 1);
	free(buf);
	m.digest = true;
	assert_int_equal(msg_encode_fetch(mc, &m, &buf, &len), 0);
	assert_int_equal(len, sizeof(golden));
	assert_int_equal(buf[len - 1], 0x01);
	assert_int_equal(msg_decode_fetch(mc, NULL, buf, len, &back), 0);
	assert_true(back.digest);
	free(buf);
}

static void forward_sample(struct msg_forward *m)
{
	memset(m, 0, sizeof(*m));
	m->key = (const uint8_t *)"user:1";
	m->klen = 6;
	m->ctx.n = 2;
	m->ctx.e = calloc(2, sizeof(*m->ctx.e));
	assert_non_null(m->ctx.e);
	m->ctx.e[0].id = 3;
	m->ctx.e[0].counter = 10;
	m->ctx.e[1].id = UINT64_MAX;
	m->ctx.e[1].counter = 1;
	value_init(&m->value, "payload", "text/plain; charset=utf-8",
	           1700000000123u, false);
	m->w = 2;
	m->pw = 1;
	m->timeout_ms = 750;
}

static void test_forward_roundtrip(void **state)
{
	struct msg_codec *mc = *state;
	struct msg_forward m, back;
	uint8_t *buf = NULL;
	size_t len = 0;

	forward_sample(&m);
	assert_int_equal(msg_encode_forward(mc, &m, &buf, &len), 0);
	assert_int_equal(msg_decode_forward(mc, NULL, buf, len, &back), 0);
	assert_int_equal(back.klen, 6);
	assert_memory_equal(back.key, "user:1", 6);
	assert_int_equal(back.ctx.n, 2);
	assert_true(back.ctx.e[1].id == UINT64_MAX);
	assert_int_equal(back.ctx.e[0].counter, 10);
	assert_int_equal(back.value.len, 7);
	assert_memory_equal(back.value.data, "payload", 7);
	assert_string_equal(back.value.content_type, m.value.content_type);
	assert_true(back.value.timestamp_ms == 1700000000123u);
	assert_false(back.value.tombstone);
	assert_int_equal(back.w, 2);
	assert_int_equal(back.pw, 1);
	assert_int_equal(back.timeout_ms, 750);
	msg_clear_forward(&back);
	assert_hostile(mc, decode_forward, buf, len, 1);
	free(buf);

	/* A tombstone with no data, an empty context. */
	dvv_vv_deinit(&m.ctx);
	dvv_value_deinit(&m.value);
	value_init(&m.value, NULL, "text/plain", 1, true);
	assert_int_equal(msg_encode_forward(mc, &m, &buf, &len), 0);
	assert_int_equal(msg_decode_forward(mc, NULL, buf, len, &back), 0);
	assert_true(back.value.tombstone);
	assert_int_equal(back.value.len, 0);
	assert_int_equal(back.ctx.n, 0);
	msg_clear_forward(&back);
	free(buf);

	/* A context out of order is refused. */
	m.ctx.n = 2;
	m.ctx.e = calloc(2, sizeof(*m.ctx.e));
	assert_non_null(m.ctx.e);
	m.ctx.e[0].id = 5;
	m.ctx.e[1].id = 4;
	assert_int_equal(msg_encode_forward(mc, &m, &buf, &len), RKV_EINVAL);
	msg_clear_forward(&m);
}

static void test_status_roundtrip(void **state)
{
	struct msg_codec *mc = *state;
	static const uint8_t types[] = {MSG_REPLICATE, MSG_FETCH, MSG_FORWARD,
	                                MSG_HINT};
	struct msg_status m = {.status = RKV_EQUORUM, .needed = 3, .acked = 1};
	struct msg_status back;
	uint8_t *buf = NULL;
	size_t len = 0;

	for (size_t i = 0; i < sizeof(types); i++) {
		m.obj = NULL;
		assert_int_equal(
		    msg_encode_status(mc, types[i], &m, &buf, &len), 0);
		assert_int_equal(
		    msg_decode_status(mc, NULL, types[i], buf, len, &back), 0);
		assert_int_equal(back.status, RKV_EQUORUM);
		assert_int_equal(back.needed, 3);
		assert_int_equal(back.acked, 1);
		assert_null(back.obj);
		free(buf);

		m.obj = sample_object();
		/* The reply bit may be set: it names the same schema. */
		assert_int_equal(msg_encode_status(mc, types[i] | MSG_REPLY_BIT,
		                                   &m, &buf, &len),
		                 0);
		assert_int_equal(
		    msg_decode_status(mc, NULL, types[i], buf, len, &back), 0);
		assert_true(dvv_equal(back.obj, m.obj));
		msg_clear_status(&back);
		if (types[i] == MSG_FETCH)
			assert_hostile(mc, decode_status, buf, len, 1);
		free(buf);
		dvv_free(m.obj);
	}
	m.obj = NULL;
	assert_int_equal(msg_encode_status(mc, MSG_HELLO, &m, &buf, &len),
	                 RKV_EINVAL);
	assert_int_equal(msg_encode_status(mc, 0x7f, &m, &buf, &len),
	                 RKV_EINVAL);
	m.status = 1; /* statuses are 0 or negative */
	assert_int_equal(msg_encode_status(mc, MSG_FETCH, &m, &buf, &len),
	                 RKV_EINVAL);
	assert_int_equal(msg_decode_status(mc, NULL, MSG_HELLO,
	                                   (const uint8_t *)"\0", 1, &back),
	                 RKV_ECORRUPT);
}

/* --- hostile bodies --------------------------------------------------------
 */

static void test_hostile_lengths(void **state)
{
	struct msg_codec *mc = *state;
	/* partition 5, then a key claiming 2^62 bytes. */
	static const uint8_t huge_key[] = {0x0a, 0xfe, 0xff, 0xff, 0xff,
	                                   0xff, 0xff, 0xff, 0xff, 0x7f};
	/* a varint of 11 bytes */
	static const uint8_t long_varint[] = {
	    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	/* key "", a context claiming 2^40 entries */
	static const uint8_t huge_ctx[] = {0x00, 0x80, 0x80, 0x80,
	                                   0x80, 0x80, 0x40};
	/* key "", a negative (byte-size prefixed) block count */
	static const uint8_t neg_block[] = {0x00, 0x01, 0x02, 0x02, 0x02};
	/* status 0, needed 0, acked 0, union branch 2 of 2 */
	static const uint8_t bad_branch[] = {0x00, 0x00, 0x00, 0x04};
	/* status 0, needed 2^32 (u32 overflow) */
	static const uint8_t big_needed[] = {0x00, 0x80, 0x80, 0x80,
	                                     0x80, 0x20, 0x00, 0x00};
	/* status +1 */
	static const uint8_t positive[] = {0x02, 0x00, 0x00, 0x00};
	struct msg_fetch f;
	struct msg_forward fw;
	struct msg_status st;
	uint8_t *over = NULL;
	size_t olen = 0;

	assert_int_equal(
	    msg_decode_fetch(mc, NULL, huge_key, sizeof(huge_key), &f),
	    RKV_ECORRUPT);
	assert_int_equal(
	    msg_decode_fetch(mc, NULL, long_varint, sizeof(long_varint), &f),
	    RKV_ECORRUPT);
	assert_int_equal(
	    msg_decode_forward(mc, NULL, huge_ctx, sizeof(huge_ctx), &fw),
	    RKV_ECORRUPT);
	assert_int_equal(
	    msg_decode_forward(mc, NULL, neg_block, sizeof(neg_block), &fw),
	    RKV_ECORRUPT);
	assert_int_equal(msg_decode_status(mc, NULL, MSG_FETCH, bad_branch,
	                                   sizeof(bad_branch), &st),
	                 RKV_ECORRUPT);
	assert_int_equal(msg_decode_status(mc, NULL, MSG_FETCH, big_needed,
	                                   sizeof(big_needed), &st),
	                 RKV_ECORRUPT);
	assert_int_equal(msg_decode_status(mc, NULL, MSG_FETCH, positive,
	                                   sizeof(positive), &st),
	                 RKV_ECORRUPT);
	assert_int_equal(msg_decode_fetch(mc, NULL, NULL, 0, &f), RKV_ECORRUPT);

	/* A well-formed FETCH whose key is one byte over the limit. */
	olen = 1 + 3 + MSG_MAX_KEY + 1;
	over = calloc(1, olen);
	assert_non_null(over);
	over[0] = 0x0a;
	over[1] = 0x82; /* zig-zag 65537 = 131074 = 0x82 0x80 0x08 */
	over[2] = 0x80;
	over[3] = 0x08;
	assert_int_equal(msg_decode_fetch(mc, NULL, over, olen, &f),
	                 RKV_ECORRUPT);
	free(over);
}

static void test_hello_hostile(void **state)
{
	struct msg_codec *mc = *state;
	struct msg_hello h;
	uint8_t *buf = NULL;
	size_t len = 0;

	sample_hello(&h);
	assert_int_equal(msg_encode_hello(mc, &h, &buf, &len), 0);
	/* One flipped bit per byte: the fingerprints and JSON of the
	 * schema list take the resolver paths, the rest must fail. */
	assert_hostile(mc, decode_hello, buf, len, 9);
	free(buf);
	assert_int_equal(decode_hello(mc, NULL, 0), RKV_ECORRUPT);
}

/* --- REPLICATE, FETCH and replies against Avro C -------------------------
 *
 * msg.c writes and reads these three records by hand. The release before
 * wrote them with Avro C's generic values, and the two must read each
 * other during an upgrade, so random messages are also built as generic
 * values of our schemas and written by Avro C: the bytes must be the
 * same, and must decode to the message again. The objects inside are
 * codec_object_encode()'s bytes, which test_codec holds to Avro C.
 */

static uint64_t test_seed;

static void seeded(struct rng *r, uint64_t salt)
{
	rng_init(r, test_seed ^ (salt * UINT64_C(0x9e3779b97f4a7c15)));
}

/* Avro C's side: a generic value of one schema and what writes it. */
struct ref {
	avro_schema_t schema;
	avro_value_iface_t *iface;
	avro_value_t value;
	avro_writer_t writer;
	struct codec *codec; /* the objects' bytes */
};

static void ref_init(struct ref *ref, const char *json)
{
	static const char empty[1];

	assert_int_equal(
	    avro_schema_from_json_length(json, strlen(json), &ref->schema), 0);
	ref->iface = avro_generic_class_from_schema(ref->schema);
	assert_non_null(ref->iface);
	assert_int_equal(avro_generic_value_new(ref->iface, &ref->value), 0);
	ref->writer = avro_writer_memory(empty, 0);
	assert_non_null(ref->writer);
	ref->codec = codec_new();
	assert_non_null(ref->codec);
}

static void ref_deinit(struct ref *ref)
{
	codec_free(ref->codec);
	avro_writer_free(ref->writer);
	avro_value_decref(&ref->value);
	avro_value_iface_decref(ref->iface);
	avro_schema_decref(ref->schema);
}

static void ref_set_bytes(avro_value_t *v, const void *data, size_t len)
{
	assert_int_equal(
	    avro_value_set_bytes(v, len > 0 ? (void *)data : (void *)"", len),
	    0);
}

static void ref_set_object(struct ref *ref, avro_value_t *v,
                           const struct dvv *obj)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_int_equal(codec_object_encode(ref->codec, obj, &buf, &len), 0);
	ref_set_bytes(v, buf, len);
	free(buf);
}

/* Avro C's bytes of the value, filled by the caller, in *out. */
static void ref_write(struct ref *ref, uint8_t **out, size_t *len)
{
	assert_int_equal(codec_value_encode(ref->writer, &ref->value, out, len),
	                 0);
	avro_value_reset(&ref->value);
}

/* partition and key, the fields REPLICATE and FETCH start with. */
static void ref_set_key(struct ref *ref, uint32_t partition, const uint8_t *key,
                        size_t klen)
{
	avro_value_t f;

	assert_int_equal(
	    avro_value_set_long(value_field(&ref->value, "partition", &f),
	                        partition),
	    0);
	ref_set_bytes(value_field(&ref->value, "key", &f), key, klen);
}

static void ref_replicate(struct ref *ref, const struct msg_replicate *m,
                          uint8_t **out, size_t *len)
{
	avro_value_t f;

	ref_set_key(ref, m->partition, m->key, m->klen);
	ref_set_object(ref, value_field(&ref->value, "object", &f), m->obj);
	assert_int_equal(
	    avro_value_set_string(value_field(&ref->value, "hint_for", &f),
	                          m->hint_for),
	    0);
	ref_write(ref, out, len);
}

static void ref_fetch(struct ref *ref, const struct msg_fetch *m, uint8_t **out,
                      size_t *len)
{
	avro_value_t f;

	ref_set_key(ref, m->partition, m->key, m->klen);
	assert_int_equal(avro_value_set_boolean(
	                     value_field(&ref->value, "digest", &f), m->digest),
	                 0);
	ref_write(ref, out, len);
}

/* A reply, with the fields a schema of that layout has (an older one may
 * lack needed and acked). */
static void ref_status(struct ref *ref, const struct msg_status *m,
                       uint8_t **out, size_t *len)
{
	avro_value_t f, branch;

	assert_int_equal(avro_value_set_int(
	                     value_field(&ref->value, "status", &f), m->status),
	                 0);
	if (avro_value_get_by_name(&ref->value, "needed", &f, NULL) == 0)
		assert_int_equal(avro_value_set_long(&f, m->needed), 0);
	if (avro_value_get_by_name(&ref->value, "acked", &f, NULL) == 0)
		assert_int_equal(avro_value_set_long(&f, m->acked), 0);
	value_field(&ref->value, "object", &f);
	assert_int_equal(
	    avro_value_set_branch(&f, m->obj != NULL ? 1 : 0, &branch), 0);
	if (m->obj != NULL)
		ref_set_object(ref, &branch, m->obj);
	else
		assert_int_equal(avro_value_set_null(&branch), 0);
	if (avro_value_get_by_name(&ref->value, "digest", &f, NULL) == 0) {
		assert_int_equal(
		    avro_value_set_branch(&f, m->has_digest ? 1 : 0, &branch),
		    0);
		if (m->has_digest)
			assert_int_equal(
			    avro_value_set_long(&branch, (int64_t)m->digest),
			    0);
		else
			assert_int_equal(avro_value_set_null(&branch), 0);
	}
	ref_write(ref, out, len);
}

/* --- random messages --- */

static void random_value(struct rng *r, struct dvv_value *v)
{
	static const char *const ctypes[] = {"text/plain",
	                                     "application/octet-stream", ""};

	memset(v, 0, sizeof(*v));
	v->len = rng_below(r, 4) == 0 ? 0 : 1 + rng_below(r, 300);
	if (v->len > 0) {
		v->data = malloc(v->len);
		assert_non_null(v->data);
	}
	for (size_t i = 0; i < v->len; i++)
		v->data[i] = (uint8_t)rng_next(r);
	v->content_type = strdup(ctypes[rng_below(r, 3)]);
	assert_non_null(v->content_type);
	v->timestamp_ms = rng_next(r) >> rng_below(r, 64);
	v->tombstone = rng_below(r, 5) == 0;
}

/* An object made as the store makes them: writes coordinated by a few
 * actors (ids across the u64 range), blind or carrying a context that may
 * be stale, so siblings, superseded values and tombstones all occur.
 * Sometimes the sample, for its anonymous value. */
static struct dvv *random_object(struct rng *r)
{
	static const uint64_t actors[] = {1, 300, UINT64_C(0x8000000000000001),
	                                  UINT64_MAX - 1};
	struct dvv *d = NULL;
	struct dvv_vv ctx = {0};
	size_t writes = rng_below(r, 8);

	if (rng_below(r, 8) == 0)
		return sample_object();
	d = dvv_new();
	assert_non_null(d);
	for (size_t i = 0; i < writes; i++) {
		struct dvv_value v;
		uint64_t actor = actors[rng_below(r, 4)];
		random_value(r, &v);
		if (rng_below(r, 2)) {
			dvv_vv_deinit(&ctx);
			assert_int_equal(dvv_join(d, &ctx), 0);
		}
		assert_int_equal(
		    dvv_update(d, rng_below(r, 3) ? &ctx : NULL, actor, &v), 0);
		dvv_value_deinit(&v);
		assert_int_equal(dvv_validate(d), 0);
	}
	dvv_vv_deinit(&ctx);
	return d;
}

/* 0, UINT32_MAX, and numbers of every encoded length between. */
static uint32_t random_u32(struct rng *r)
{
	uint64_t dice = rng_below(r, 8);

	if (dice == 0)
		return 0;
	if (dice == 1)
		return UINT32_MAX;
	return (uint32_t)(rng_next(r) >> (32 + rng_below(r, 32)));
}

/* Keys of every kind of length: empty, short, MSG_MAX_KEY. */
static size_t random_key(struct rng *r, uint8_t *key)
{
	uint64_t dice = rng_below(r, 16);
	size_t n = dice == 0 ? 0 : dice == 1 ? MSG_MAX_KEY : rng_below(r, 64);

	for (size_t i = 0; i < n; i++)
		key[i] = (uint8_t)rng_next(r);
	return n;
}

/* "" half the time, else 1..MSG_MAX_NAME bytes, none of them NUL. */
static void random_name(struct rng *r, char *name)
{
	size_t n = rng_below(r, 2) == 0   ? 0
	           : rng_below(r, 8) == 0 ? MSG_MAX_NAME
	                                  : 1 + rng_below(r, 40);

	for (size_t i = 0; i < n; i++)
		name[i] = (char)(1 + rng_below(r, 255));
	name[n] = '\0';
}

/* assert_hostile where it stays cheap: a body with a MSG_MAX_KEY key
 * would copy each of its 65,000 prefixes. */
static void assert_hostile_random(struct msg_codec *mc, decode_fn *decode,
                                  const uint8_t *buf, size_t len)
{
	if (len <= 4096)
		assert_hostile(mc, decode, buf, len, 1 + (unsigned)len / 32);
	else
		assert_int_equal(decode(mc, buf, len - 1), RKV_ECORRUPT);
}

/* The key points into the body (NULL when empty), with the bytes sent. */
static void assert_key(const uint8_t *key, size_t klen, const uint8_t *sent,
                       size_t slen, const uint8_t *buf, size_t len)
{
	assert_int_equal(klen, slen);
	if (klen == 0) {
		assert_null(key);
		return;
	}
	assert_true(key >= buf && key + klen <= buf + len);
	assert_memory_equal(key, sent, klen);
}

/* A message as msg.c wrote it and as Avro C wrote it. */
struct bodies {
	uint8_t *ours, *avro_c;
	size_t len, alen;
};

/* The same bytes, and ours survives assert_hostile; frees both. */
static void bodies_check(struct msg_codec *mc, decode_fn *decode,
                         struct bodies *b)
{
	assert_int_equal(b->len, b->alen);
	assert_memory_equal(b->ours, b->avro_c, b->len);
	assert_hostile_random(mc, decode, b->ours, b->len);
	free(b->avro_c);
	free(b->ours);
}

/* A REPLICATE, and a FETCH of its partition and key. */
static void check_requests(struct msg_codec *mc, struct ref *rep,
                           struct ref *fetch, const struct msg_replicate *m)
{
	struct msg_fetch f = {.partition = m->partition,
	                      .key = m->key,
	                      .klen = m->klen,
	                      .digest = m->partition % 2 == 0};
	struct msg_replicate back;
	struct msg_fetch fback;
	struct bodies b = {0};

	assert_int_equal(msg_encode_replicate(mc, m, &b.ours, &b.len), 0);
	ref_replicate(rep, m, &b.avro_c, &b.alen);
	assert_int_equal(msg_decode_replicate(mc, NULL, b.ours, b.len, &back),
	                 0);
	assert_int_equal(back.partition, m->partition);
	assert_key(back.key, back.klen, m->key, m->klen, b.ours, b.len);
	assert_true(dvv_equal(back.obj, m->obj));
	assert_string_equal(back.hint_for, m->hint_for);
	msg_clear_replicate(&back);
	bodies_check(mc, decode_replicate, &b);

	assert_int_equal(msg_encode_fetch(mc, &f, &b.ours, &b.len), 0);
	ref_fetch(fetch, &f, &b.avro_c, &b.alen);
	assert_int_equal(msg_decode_fetch(mc, NULL, b.ours, b.len, &fback), 0);
	assert_int_equal(fback.partition, f.partition);
	assert_key(fback.key, fback.klen, f.key, f.klen, b.ours, b.len);
	assert_true(fback.digest == f.digest);
	bodies_check(mc, decode_fetch, &b);
}

static void check_status(struct msg_codec *mc, struct ref *ref, uint8_t type,
                         const struct msg_status *m)
{
	struct msg_status back;
	struct bodies b = {0};

	assert_int_equal(msg_encode_status(mc, type, m, &b.ours, &b.len), 0);
	ref_status(ref, m, &b.avro_c, &b.alen);
	assert_int_equal(
	    msg_decode_status(mc, NULL, type, b.ours, b.len, &back), 0);
	assert_true(back.status == m->status && back.needed == m->needed &&
	            back.acked == m->acked);
	assert_true(m->obj == NULL ? back.obj == NULL
	                           : dvv_equal(back.obj, m->obj));
	assert_true(back.has_digest == m->has_digest);
	assert_true(back.digest == (m->has_digest ? m->digest : 0));
	msg_clear_status(&back);
	bodies_check(mc, decode_status, &b);
}

/* Random REPLICATEs, and FETCHes of the same partition and key. */
static void test_requests_random(void **state)
{
	struct msg_codec *mc = *state;
	uint8_t *key = malloc(MSG_MAX_KEY);
	struct ref rep, fetch;
	struct rng r;

	assert_non_null(key);
	ref_init(&rep, rkv_schema_msg_replicate);
	ref_init(&fetch, rkv_schema_msg_fetch);
	seeded(&r, 1);
	for (int round = 0; round < 200; round++) {
		struct msg_replicate m = {.partition = random_u32(&r),
		                          .key = key};
		m.klen = random_key(&r, key);
		m.obj = random_object(&r);
		random_name(&r, m.hint_for);
		check_requests(mc, &rep, &fetch, &m);
		dvv_free(m.obj);
	}
	ref_deinit(&fetch);
	ref_deinit(&rep);
	free(key);
}

/* Replies of every type, each against its own schema, with and without
 * the reply bit, with and without an object. */
static void test_status_random(void **state)
{
	struct msg_codec *mc = *state;
	static const uint8_t types[] = {MSG_REPLICATE, MSG_FETCH, MSG_FORWARD,
	                                MSG_HINT};
	const char *const schemas[] = {
	    rkv_schema_msg_replicate_reply, rkv_schema_msg_fetch_reply,
	    rkv_schema_msg_forward_reply, rkv_schema_msg_hint_reply};
	struct ref ref[4];
	struct rng r;

	seeded(&r, 2);
	for (size_t t = 0; t < sizeof(types); t++)
		ref_init(&ref[t], schemas[t]);
	for (int round = 0; round < 240; round++) {
		size_t t = (size_t)round % sizeof(types);
		uint8_t type =
		    types[t] | (rng_below(&r, 2) ? MSG_REPLY_BIT : 0);
		struct msg_status m = {.needed = random_u32(&r),
		                       .acked = random_u32(&r)};
		uint64_t dice = rng_below(&r, 4);
		m.status = dice == 0   ? INT32_MIN
		           : dice == 1 ? 0
		                       : -(int32_t)rng_below(&r, INT32_MAX);
		dice = rng_below(&r, 3);
		m.obj = dice == 0 ? random_object(&r) : NULL;
		m.has_digest = dice == 1;
		m.digest = m.has_digest ? rng_next(&r) >> rng_below(&r, 64) : 0;
		check_status(mc, &ref[t], type, &m);
		dvv_free(m.obj);
	}
	for (size_t t = 0; t < sizeof(types); t++)
		ref_deinit(&ref[t]);
}

/* A body that breaks one check of a direct decoder. */
struct bad_body {
	decode_fn *decode;
	const uint8_t *p;
	size_t len;
};

#define BAD_BODY(fn, ...)                                                      \
	{                                                                      \
		fn, (const uint8_t[]){__VA_ARGS__},                            \
		    sizeof((const uint8_t[]){__VA_ARGS__})                     \
	}

/* Each check the direct decoders make, on a body that breaks only it. */
static void test_direct_malformed(void **state)
{
	struct msg_codec *mc = *state;
	const struct bad_body bad[] = {
	    /* FETCH: partition 2^32, -1, a varint over 64 bits; a key of
	     * negative length. */
	    BAD_BODY(decode_fetch, 0x80, 0x80, 0x80, 0x80, 0x20, 0x00),
	    BAD_BODY(decode_fetch, 0x01, 0x00),
	    BAD_BODY(decode_fetch, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	             0xff, 0xff, 0x02, 0x00),
	    BAD_BODY(decode_fetch, 0x0a, 0x01),
	    /* REPLICATE: an object of 0 bytes (no object), of 63 bytes that
	     * are not there. */
	    BAD_BODY(decode_replicate, 0x00, 0x00, 0x00, 0x00),
	    BAD_BODY(decode_replicate, 0x00, 0x00, 0x7e, 0x00),
	    /* Replies: union index -1 and 2^62; status INT32_MIN - 1, and -1
	     * in 6 bytes; acked 2^32; a null object followed by a byte; a
	     * bytes object of 0 bytes, of 8 bytes that are not there. */
	    BAD_BODY(decode_status, 0x00, 0x00, 0x00, 0x01),
	    BAD_BODY(decode_status, 0x00, 0x00, 0x00, 0x80, 0x80, 0x80, 0x80,
	             0x80, 0x80, 0x80, 0x80, 0x80, 0x01),
	    BAD_BODY(decode_status, 0x81, 0x80, 0x80, 0x80, 0x10, 0x00, 0x00,
	             0x00),
	    BAD_BODY(decode_status, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00,
	             0x00, 0x00),
	    BAD_BODY(decode_status, 0x00, 0x00, 0x80, 0x80, 0x80, 0x80, 0x20,
	             0x00),
	    BAD_BODY(decode_status, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00),
	    BAD_BODY(decode_status, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00),
	    BAD_BODY(decode_status, 0x00, 0x00, 0x00, 0x02, 0x10),
	    /* digest: union index 2, -1; a branch without its long; a
	     * digest over 64 bits. */
	    BAD_BODY(decode_status, 0x00, 0x00, 0x00, 0x00, 0x04),
	    BAD_BODY(decode_status, 0x00, 0x00, 0x00, 0x00, 0x01),
	    BAD_BODY(decode_status, 0x00, 0x00, 0x00, 0x00, 0x02),
	    BAD_BODY(decode_status, 0x00, 0x00, 0x00, 0x00, 0x02, 0xff, 0xff,
	             0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
	    /* FETCH: a digest flag that is not 0 or 1, or missing. */
	    BAD_BODY(decode_fetch, 0x0a, 0x04, 'a', 'b', 0x02),
	    BAD_BODY(decode_fetch, 0x0a, 0x04, 'a', 'b'),
	};
	/* status INT32_MIN, the least there is */
	static const uint8_t status_min[] = {0xff, 0xff, 0xff, 0xff, 0x0f,
	                                     0x00, 0x00, 0x00, 0x00};
	struct msg_replicate m = {.key = (const uint8_t *)"k", .klen = 1};
	struct msg_replicate back;
	struct msg_status st;
	uint8_t *buf = NULL, *body = NULL;
	size_t len = 0, blen = 0, head = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(bad[i].decode(mc, bad[i].p, bad[i].len),
		                 RKV_ECORRUPT);
	assert_int_equal(decode_fetch(mc, status_min, 0), RKV_ECORRUPT);
	/* An object and a digest together: refused both ways. */
	st = (struct msg_status){.obj = sample_object(), .has_digest = true};
	assert_int_equal(msg_encode_status(mc, MSG_FETCH, &st, &buf, &len),
	                 RKV_EINVAL);
	st.has_digest = false;
	assert_int_equal(msg_encode_status(mc, MSG_FETCH, &st, &buf, &len), 0);
	dvv_free(st.obj);
	assert_int_equal(buf[len - 1], 0x00); /* the digest's null branch */
	body = malloc(len + 1);
	assert_non_null(body);
	memcpy(body, buf, len - 1);
	body[len - 1] = 0x02; /* its long branch */
	body[len] = 0x02;     /* digest 1 */
	assert_int_equal(decode_status(mc, body, len + 1), RKV_ECORRUPT);
	free(body);
	free(buf);
	assert_int_equal(msg_decode_status(mc, NULL, MSG_HINT, status_min,
	                                   sizeof(status_min), &st),
	                 0);
	assert_int_equal(st.status, INT32_MIN);

	/* hint_for: a NUL inside; MSG_MAX_NAME + 1 bytes (its length,
	 * zig-zag 512, is 0x80 0x04). */
	m.obj = sample_object();
	snprintf(m.hint_for, sizeof(m.hint_for), "ab");
	assert_int_equal(msg_encode_replicate(mc, &m, &buf, &len), 0);
	buf[len - 2] = '\0';
	assert_int_equal(msg_decode_replicate(mc, NULL, buf, len, &back),
	                 RKV_ECORRUPT);
	assert_null(back.obj);
	head = len - 3; /* up to the hint's length */
	blen = head + 2 + MSG_MAX_NAME + 1;
	body = malloc(blen);
	assert_non_null(body);
	memcpy(body, buf, head);
	body[head] = 0x80;
	body[head + 1] = 0x04;
	memset(body + head + 2, 'h', MSG_MAX_NAME + 1);
	assert_int_equal(decode_replicate(mc, body, blen), RKV_ECORRUPT);
	/* One byte less is the longest name: it decodes. */
	body[head] = 0xfe;
	body[head + 1] = 0x03;
	assert_int_equal(decode_replicate(mc, body, blen - 1), 0);
	free(body);
	free(buf);

	/* A key of MSG_MAX_KEY + 1 bytes (zig-zag 131074: 0x82 0x80 0x08). */
	m.hint_for[0] = '\0';
	assert_int_equal(msg_encode_replicate(mc, &m, &buf, &len), 0);
	blen = len - 2 + 3 + MSG_MAX_KEY + 1;
	body = calloc(1, blen);
	assert_non_null(body);
	body[0] = buf[0];
	body[1] = 0x82;
	body[2] = 0x80;
	body[3] = 0x08;
	memcpy(body + 4 + MSG_MAX_KEY + 1, buf + 3, len - 3);
	assert_int_equal(decode_replicate(mc, body, blen), RKV_ECORRUPT);
	free(body);
	free(buf);
	dvv_free(m.obj);
}

/* --- schema evolution ------------------------------------------------------
 */

static size_t read_data(const char *file, char *buf, size_t cap)
{
	char path[4096];
	const char *dir = getenv("RKV_TEST_DATA");
	FILE *f = NULL;
	size_t n = 0;

	if (dir != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, file);
	} else {
		/* Run by hand from a build directory: next to this source. */
		const char *slash = strrchr(__FILE__, '/');
		int dlen = slash ? (int)(slash - __FILE__) : 1;
		snprintf(path, sizeof(path), "%.*s/data/%s", dlen,
		         slash ? __FILE__ : ".", file);
	}
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s (set RKV_TEST_DATA)", path);
	n = fread(buf, 1, cap - 1, f);
	assert_true(feof(f));
	fclose(f);
	buf[n] = '\0';
	return n;
}

/* What a peer announces: our HELLO with its schema list edited. */
struct announce {
	const char *stem;
	const char *json; /* NULL: drop the entry */
	bool same_fp;     /* keep our fingerprint (a peer that lies) */
};

/* Our HELLO for h, with the announcements applied and, when body is not
 * NULL, the body replaced by body/blen. */
static void craft_hello(struct msg_codec *mc, const struct msg_hello *h,
                        const struct announce *ann, size_t nann,
                        const uint8_t *body, size_t blen, uint8_t **out,
                        size_t *len)
{
	avro_schema_t schema = NULL;
	avro_value_iface_t *iface = NULL;
	avro_value_t env, list, entry, f;
	avro_reader_t reader = NULL;
	avro_writer_t writer = NULL;
	uint8_t *ours = NULL;
	size_t olen = 0, size = 0, n = 0;

	assert_int_equal(msg_encode_hello(mc, h, &ours, &olen), 0);
	assert_int_equal(
	    avro_schema_from_json_length(rkv_schema_msg_hello,
	                                 strlen(rkv_schema_msg_hello), &schema),
	    0);
	iface = avro_generic_class_from_schema(schema);
	assert_int_equal(avro_generic_value_new(iface, &env), 0);
	reader = avro_reader_memory((const char *)ours, (int64_t)olen);
	assert_int_equal(avro_value_read(reader, &env), 0);
	assert_int_equal(avro_value_get_by_name(&env, "schemas", &list, NULL),
	                 0);
	assert_int_equal(avro_value_get_size(&list, &n), 0);
	for (size_t a = 0; a < nann; a++) {
		bool found = false;
		for (size_t i = 0; i < n && !found; i++) {
			const char *stem = NULL;
			size_t ssize = 0;
			assert_int_equal(
			    avro_value_get_by_index(&list, i, &entry, NULL), 0);
			avro_value_get_string(value_field(&entry, "stem", &f),
			                      &stem, &ssize);
			found = strcmp(stem, ann[a].stem) == 0;
		}
		assert_true(found);
		if (ann[a].json == NULL) {
			/* drop: rename to a stem nobody knows */
			avro_value_set_string(value_field(&entry, "stem", &f),
			                      "unknown_to_all");
			continue;
		}
		avro_value_set_string(value_field(&entry, "json", &f),
		                      ann[a].json);
		if (!ann[a].same_fp)
			avro_value_set_long(
			    value_field(&entry, "fingerprint", &f),
			    (int64_t)XXH3_64bits(ann[a].json,
			                         strlen(ann[a].json)));
	}
	if (body != NULL)
		avro_value_set_bytes(value_field(&env, "body", &f),
		                     (void *)body, blen);
	assert_int_equal(avro_value_sizeof(&env, &size), 0);
	*out = malloc(size);
	assert_non_null(*out);
	writer = avro_writer_memory((const char *)*out, (int64_t)size);
	assert_int_equal(avro_value_write(writer, &env), 0);
	*len = size;
	avro_writer_free(writer);
	avro_reader_free(reader);
	avro_value_decref(&env);
	avro_value_iface_decref(iface);
	avro_schema_decref(schema);
	free(ours);
}

static struct msg_peer *peer_announcing(struct msg_codec *mc,
                                        const struct announce *ann, size_t nann)
{
	struct msg_hello h, back;
	struct msg_peer *peer = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;

	sample_hello(&h);
	craft_hello(mc, &h, ann, nann, NULL, 0, &buf, &len);
	assert_int_equal(msg_decode_hello(mc, buf, len, &back, &peer), 0);
	assert_string_equal(back.name, "node-a");
	free(buf);
	return peer;
}

/* A FORWARD written by the older release decodes through the resolver:
 * the two fields it lacks take our schema's defaults, its int w becomes
 * our long. */
static void test_evolution_older_writer(void **state)
{
	struct msg_codec *mc = *state;
	static char schema[FILE_MAX];
	char body[FILE_MAX];
	size_t blen = 0;
	struct announce ann = {.stem = "forward", .json = schema};
	struct msg_peer *peer = NULL;
	struct msg_forward m;

	read_data(GOLDEN_SCHEMA, schema, sizeof(schema));
	blen = read_data(GOLDEN_BODY, body, sizeof(body));
	peer = peer_announcing(mc, &ann, 1);
	for (int round = 0; round < 2; round++) { /* values are reused */
		assert_int_equal(msg_decode_forward(mc, peer, body, blen, &m),
		                 0);
		assert_int_equal(m.klen, 7);
		assert_memory_equal(m.key, "user:42", 7);
		assert_true(m.key >= (const uint8_t *)body &&
		            m.key + m.klen <= (const uint8_t *)body + blen);
		assert_int_equal(m.ctx.n, 2);
		assert_int_equal(m.ctx.e[0].id, 7);
		assert_int_equal(m.ctx.e[0].counter, 3);
		assert_int_equal(m.ctx.e[1].id, 9);
		assert_int_equal(m.value.len, 5);
		assert_memory_equal(m.value.data, "hello", 5);
		assert_true(m.value.timestamp_ms == 1700000000000u);
		assert_false(m.value.tombstone);
		/* from our schema's defaults */
		assert_string_equal(m.value.content_type,
		                    "application/octet-stream");
		assert_int_equal(m.pw, 0);
		assert_int_equal(m.w, 2);
		assert_int_equal(m.timeout_ms, 1500);
		msg_clear_forward(&m);
	}
	/* Read as if it were ours, the same bytes are nonsense. */
	assert_int_equal(msg_decode_forward(mc, NULL, body, blen, &m),
	                 RKV_ECORRUPT);
	/* Other types of that peer still decode directly. */
	{
		static const uint8_t fetch[] = {0x0a, 0x04, 'a', 'b', 0x01};
		struct msg_fetch f;
		assert_int_equal(
		    msg_decode_fetch(mc, peer, fetch, sizeof(fetch), &f), 0);
		assert_int_equal(f.partition, 5);
		assert_true(f.digest);
	}
	/* Hostile bodies through the resolver fail the same way. */
	for (size_t n = 0; n < blen; n++)
		assert_int_equal(msg_decode_forward(mc, peer, body, n, &m),
		                 RKV_ECORRUPT);
	msg_peer_free(peer);
}

static const char newer_fetch[] =
    "{\"type\":\"record\",\"name\":\"Fetch\",\"namespace\":\"ringkv.msg\","
    "\"fields\":[{\"name\":\"partition\",\"type\":\"long\"},"
    "{\"name\":\"consistency\",\"type\":{\"type\":\"enum\","
    "\"name\":\"Level\",\"symbols\":[\"ONE\",\"ALL\"]}},"
    "{\"name\":\"key\",\"type\":\"bytes\"},"
    "{\"name\":\"hints\",\"type\":{\"type\":\"map\",\"values\":"
    "[\"null\",\"double\"]}}]}";

/* A FETCH of a newer release: fields we do not know, one before the key,
 * are skipped. */
static void test_evolution_newer_writer(void **state)
{
	struct msg_codec *mc = *state;
	struct announce ann = {.stem = "fetch", .json = newer_fetch};
	struct msg_peer *peer = peer_announcing(mc, &ann, 1);
	avro_schema_t schema = NULL;
	avro_value_iface_t *iface = NULL;
	avro_value_t v, f, item, branch;
	avro_writer_t writer = NULL;
	uint8_t buf[256];
	struct msg_fetch m;
	size_t len = 0;

	assert_int_equal(avro_schema_from_json_length(
	                     newer_fetch, strlen(newer_fetch), &schema),
	                 0);
	iface = avro_generic_class_from_schema(schema);
	assert_int_equal(avro_generic_value_new(iface, &v), 0);
	avro_value_get_by_name(&v, "partition", &f, NULL);
	avro_value_set_long(&f, 17);
	avro_value_get_by_name(&v, "consistency", &f, NULL);
	avro_value_set_enum(&f, 1);
	avro_value_get_by_name(&v, "key", &f, NULL);
	avro_value_set_bytes(&f, "the-key", 7);
	avro_value_get_by_name(&v, "hints", &f, NULL);
	avro_value_add(&f, "weight", &item, NULL, NULL);
	avro_value_set_branch(&item, 1, &branch);
	avro_value_set_double(&branch, 0.5);
	writer = avro_writer_memory((const char *)buf, sizeof(buf));
	assert_int_equal(avro_value_write(writer, &v), 0);
	len = (size_t)avro_writer_tell(writer);

	assert_int_equal(msg_decode_fetch(mc, peer, buf, len, &m), 0);
	assert_int_equal(m.partition, 17);
	assert_int_equal(m.klen, 7);
	assert_memory_equal(m.key, "the-key", 7);
	assert_true(m.key >= buf && m.key + m.klen <= buf + len);
	/* ...and its bytes are still checked against its own schema. */
	for (size_t n = 0; n < len; n++)
		assert_int_equal(msg_decode_fetch(mc, peer, buf, n, &m),
		                 RKV_ECORRUPT);
	buf[len] = 0;
	assert_int_equal(msg_decode_fetch(mc, peer, buf, len + 1, &m),
	                 RKV_ECORRUPT);

	/* A peer that announces it under our fingerprint is read as ours:
	 * its body is still only bytes to check, and fails. */
	struct announce liar = {
	    .stem = "fetch", .json = newer_fetch, .same_fp = true};
	struct msg_peer *lying = peer_announcing(mc, &liar, 1);
	assert_int_equal(msg_decode_fetch(mc, lying, buf, len, &m),
	                 RKV_ECORRUPT);
	msg_peer_free(lying);

	avro_writer_free(writer);
	avro_value_decref(&v);
	avro_value_iface_decref(iface);
	avro_schema_decref(schema);
	msg_peer_free(peer);
}

/* The HELLO body evolves too: a newer node says more about itself. */
static void test_evolution_newer_hello(void **state)
{
	static const char json[] =
	    "{\"type\":\"record\",\"name\":\"HelloBody\","
	    "\"namespace\":\"ringkv.msg\",\"fields\":["
	    "{\"name\":\"release\",\"type\":\"string\"},"
	    "{\"name\":\"cluster_name\",\"type\":\"string\"},"
	    "{\"name\":\"name\",\"type\":\"string\"},"
	    "{\"name\":\"rpc_addr\",\"type\":\"string\"},"
	    "{\"name\":\"node_id\",\"type\":\"long\"}]}";
	/* "0.2", "c", "n2", "h:1", node id 21 */
	static const uint8_t body[] = {0x06, '0', '.',  '2', 0x02, 'c', 0x04,
	                               'n',  '2', 0x06, 'h', ':',  '1', 0x2a};
	struct msg_codec *mc = *state;
	struct announce ann = {.stem = "hello_body", .json = json};
	struct msg_hello h, back;
	struct msg_peer *peer = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;

	sample_hello(&h);
	craft_hello(mc, &h, &ann, 1, body, sizeof(body), &buf, &len);
	assert_int_equal(msg_decode_hello(mc, buf, len, &back, &peer), 0);
	assert_string_equal(back.cluster_name, "c");
	assert_string_equal(back.name, "n2");
	assert_string_equal(back.rpc_addr, "h:1");
	assert_int_equal(back.node_id, 21);
	msg_peer_free(peer);
	free(buf);
}

/* Schemas we cannot read make that type's bodies fail, not the peer. */
static void test_evolution_incompatible(void **state)
{
	static const char key_long[] =
	    "{\"type\":\"record\",\"name\":\"Fetch\",\"fields\":["
	    "{\"name\":\"partition\",\"type\":\"long\"},"
	    "{\"name\":\"key\",\"type\":\"long\"}]}";
	static const char no_key[] =
	    "{\"type\":\"record\",\"name\":\"Replicate\",\"fields\":["
	    "{\"name\":\"partition\",\"type\":\"long\"},"
	    "{\"name\":\"object\",\"type\":\"bytes\"}]}";
	static const char renamed[] =
	    "{\"type\":\"record\",\"name\":\"Other\",\"fields\":[]}";
	char deep[400];
	struct msg_codec *mc = *state;
	struct announce ann[] = {
	    {.stem = "fetch", .json = key_long},
	    {.stem = "replicate", .json = no_key},
	    {.stem = "forward", .json = renamed},
	    {.stem = "fetch_reply", .json = deep},
	    {.stem = "replicate_reply", .json = "{not json"},
	    {.stem = "forward_reply", .json = NULL},
	};
	static const uint8_t fetch[] = {0x0a, 0x04, 'a', 'b'};
	static const uint8_t status[] = {0x00, 0x00, 0x00, 0x00, 0x00};
	struct msg_peer *peer = NULL;
	struct msg_fetch f;
	struct msg_replicate r;
	struct msg_forward fw;
	struct msg_status st;

	/* 150 nested arrays: refused before Avro C's parser recurses. */
	memset(deep, '[', 150);
	strcpy(deep + 150, "\"long\"");
	memset(deep + 156, ']', 150);
	deep[306] = '\0';
	peer = peer_announcing(mc, ann, sizeof(ann) / sizeof(ann[0]));
	assert_int_equal(msg_decode_fetch(mc, peer, fetch, sizeof(fetch), &f),
	                 RKV_ECORRUPT);
	assert_int_equal(
	    msg_decode_replicate(mc, peer, fetch, sizeof(fetch), &r),
	    RKV_ECORRUPT);
	assert_int_equal(
	    msg_decode_forward(mc, peer, fetch, sizeof(fetch), &fw),
	    RKV_ECORRUPT);
	assert_int_equal(
	    msg_decode_status(mc, peer, MSG_FETCH, status, sizeof(status), &st),
	    RKV_ECORRUPT);
	assert_int_equal(msg_decode_status(mc, peer, MSG_REPLICATE, status,
	                                   sizeof(status), &st),
	                 RKV_ECORRUPT);
	/* Not announced at all: read as ours. */
	assert_int_equal(msg_decode_status(mc, peer, MSG_FORWARD, status,
	                                   sizeof(status), &st),
	                 0);
	msg_peer_free(peer);
}

/* Peer schemas found by fuzzing the HELLO: each cost a node its process
 * (Avro C's resolver failing inside a record, a record that holds
 * itself), seconds and hundreds of megabytes (named records reused ten
 * times a level) or a leak in Avro C's parser (a name defined twice: the
 * sanitizer build's leak check is what sees that one). Each is now
 * marked unreadable, its bodies refused, while the peer's other schemas
 * go on working. */
static void test_hostile_peer_schemas(void **state)
{
	struct msg_codec *mc = *state;
	static const char recursive[] =
	    "{\"type\":\"record\",\"name\":\"Fetch\",\"fields\":["
	    "{\"name\":\"partition\",\"type\":\"long\"},"
	    "{\"name\":\"key\",\"type\":\"bytes\"},"
	    "{\"name\":\"q\",\"type\":{\"type\":\"record\",\"name\":\"Q\","
	    "\"fields\":[{\"name\":\"q\",\"type\":\"Q\"}]}}]}";
	static const char twice[] =
	    "{\"type\":\"record\",\"name\":\"Fetch\",\"fields\":["
	    "{\"name\":\"partition\",\"type\":\"long\"},"
	    "{\"name\":\"key\",\"type\":\"bytes\"},"
	    "{\"name\":\"a\",\"type\":{\"type\":\"record\",\"name\":\"D\","
	    "\"fields\":[]}},"
	    "{\"name\":\"b\",\"type\":{\"type\":\"record\",\"name\":\"D\","
	    "\"fields\":[]}}]}";
	static char forward[FILE_MAX], bomb[4096];
	/* partition 5, key "ab", then nothing: the bomb's fields are null */
	static const uint8_t fetch[] = {0x0a, 0x04, 'a', 'b'};
	static const uint8_t status[] = {0x00, 0x00, 0x00, 0x00, 0x00};
	const char *const jsons[] = {forward, recursive, bomb, twice};
	const char *const stems[] = {"forward", "fetch", "fetch", "fetch"};
	char body[FILE_MAX];
	size_t blen = 0, n = 0;
	char *at = NULL;

	/* A field of a nested record that no longer resolves. */
	read_data(GOLDEN_SCHEMA, forward, sizeof(forward));
	blen = read_data(GOLDEN_BODY, body, sizeof(body));
	at = strstr(forward, "\"tombstone\", \"type\": \"boolean\"");
	assert_non_null(at);
	memcpy(strstr(at, "\"boolean\""), "\"string\" ", 9);
	/* Six levels of ten fields, each level the record below it. */
	n = (size_t)snprintf(
	    bomb, sizeof(bomb),
	    "{\"type\":\"record\",\"name\":\"Fetch\",\"fields\":"
	    "[{\"name\":\"partition\",\"type\":\"long\"},"
	    "{\"name\":\"key\",\"type\":\"bytes\"},{\"name\":"
	    "\"x\",\"type\":");
	for (int level = 5; level >= 1; level--)
		n += (size_t)snprintf(bomb + n, sizeof(bomb) - n,
		                      "{\"type\":\"record\",\"name\":\"L%d\","
		                      "\"fields\":[{\"name\":\"f0\",\"type\":",
		                      level);
	n += (size_t)snprintf(bomb + n, sizeof(bomb) - n,
	                      "{\"type\":\"record\",\"name\":\"L0\",\"fields\":"
	                      "[{\"name\":\"a\",\"type\":\"null\"}]}");
	for (int level = 1; level <= 5; level++) {
		n += (size_t)snprintf(bomb + n, sizeof(bomb) - n, "}");
		for (int f = 1; f < 10; f++)
			n += (size_t)snprintf(
			    bomb + n, sizeof(bomb) - n,
			    ",{\"name\":\"f%d\",\"type\":\"L%d\"}", f,
			    level - 1);
		n += (size_t)snprintf(bomb + n, sizeof(bomb) - n, "]}");
	}
	n += (size_t)snprintf(bomb + n, sizeof(bomb) - n, "}]}");
	assert_true(n < sizeof(bomb));

	for (size_t i = 0; i < sizeof(jsons) / sizeof(jsons[0]); i++) {
		struct announce ann = {.stem = stems[i], .json = jsons[i]};
		struct msg_peer *peer = peer_announcing(mc, &ann, 1);
		struct msg_forward fw;
		struct msg_fetch f;
		struct msg_status st;
		if (i == 0)
			assert_int_equal(
			    msg_decode_forward(mc, peer, body, blen, &fw),
			    RKV_ECORRUPT);
		else
			assert_int_equal(msg_decode_fetch(mc, peer, fetch,
			                                  sizeof(fetch), &f),
			                 RKV_ECORRUPT);
		assert_int_equal(msg_decode_status(mc, peer, MSG_REPLICATE,
		                                   status, sizeof(status), &st),
		                 0);
		msg_peer_free(peer);
	}
}

/* A HELLO whose own body schema is unreadable is refused whole. */
static void test_hello_unreadable_body(void **state)
{
	struct msg_codec *mc = *state;
	struct announce ann = {.stem = "hello_body", .json = "[]"};
	struct msg_hello h, back;
	struct msg_peer *peer = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;

	sample_hello(&h);
	craft_hello(mc, &h, &ann, 1, NULL, 0, &buf, &len);
	assert_int_equal(msg_decode_hello(mc, buf, len, &back, &peer),
	                 RKV_ECORRUPT);
	assert_null(peer);
	free(buf);
}

/* --- GOSSIP ----------------------------------------------------------------
 */

static int decode_gossip(struct msg_codec *mc, const uint8_t *buf, size_t len)
{
	struct msg_gossip m;
	int rc = msg_decode_gossip(mc, NULL, MSG_GOSSIP, buf, len, &m);
	if (rc == 0) {
		for (size_t i = 0; i < m.nmembers; i++) {
			assert_true(m.members[i].id != 0);
			assert_true(ring_name_valid(m.members[i].name));
			assert_true(ring_name_valid(m.members[i].addr));
		}
		msg_clear_gossip(&m);
	}
	return rc;
}

static int decode_gossip_reply(struct msg_codec *mc, const uint8_t *buf,
                               size_t len)
{
	struct msg_gossip m;
	int rc = msg_decode_gossip(mc, NULL, MSG_GOSSIP | MSG_REPLY_BIT, buf,
	                           len, &m);
	if (rc == 0) {
		assert_true(m.status <= 0);
		msg_clear_gossip(&m);
	}
	return rc;
}

/* Three members: every status but one, the largest counters and ids, the
 * longest name, an http address, the longest one, none. */
static void sample_members(struct gossip_member *m, char *longest)
{
	memset(longest, 'x', GOSSIP_MAX_NAME);
	longest[GOSSIP_MAX_NAME] = '\0';
	m[0] = (struct gossip_member){.id = 1,
	                              .name = "127.0.0.1:8099",
	                              .addr = "127.0.0.1:8099",
	                              .http = "127.0.0.1:8098",
	                              .status = MEMBER_VALID,
	                              .generation = 1795751387364u,
	                              .version = 7};
	m[1] = (struct gossip_member){.id = UINT64_MAX,
	                              .name = longest,
	                              .addr = "[::1]:9",
	                              .http = longest,
	                              .status = MEMBER_DOWN,
	                              .generation = GOSSIP_MAX_COUNTER - 1,
	                              .version = GOSSIP_MAX_COUNTER - 1};
	m[2] = (struct gossip_member){.id = UINT64_C(0x8000000000000000),
	                              .name = "joiner",
	                              .addr = "10.0.0.3:8099",
	                              .http = "",
	                              .status = MEMBER_JOINING};
}

static void assert_members_equal(const struct gossip_member *a,
                                 const struct gossip_member *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_true(a[i].id == b[i].id);
		assert_string_equal(a[i].name, b[i].name);
		assert_string_equal(a[i].addr, b[i].addr);
		assert_string_equal(a[i].http, b[i].http);
		assert_int_equal(a[i].status, b[i].status);
		assert_true(a[i].generation == b[i].generation);
		assert_true(a[i].version == b[i].version);
	}
}

static void test_gossip_roundtrip(void **state)
{
	struct msg_codec *mc = *state;
	static const uint8_t ring[] = {0x80, 0x01, 0x00, 'r', 0xff};
	char longest[GOSSIP_MAX_NAME + 1];
	struct gossip_member members[3];
	struct msg_gossip m = {.ring_size = 65536,
	                       .members = members,
	                       .nmembers = 3,
	                       .ring_digest = UINT64_MAX,
	                       .ring = ring,
	                       .ring_len = sizeof(ring)};
	struct msg_gossip back;
	uint8_t *buf = NULL;
	size_t len = 0;

	sample_members(members, longest);
	strcpy(m.cluster_name, "ringkv-test");
	assert_int_equal(msg_encode_gossip(mc, MSG_GOSSIP, &m, &buf, &len), 0);
	assert_int_equal(
	    msg_decode_gossip(mc, NULL, MSG_GOSSIP, buf, len, &back), 0);
	assert_int_equal(back.status, 0);
	assert_string_equal(back.cluster_name, "ringkv-test");
	assert_int_equal(back.ring_size, 65536);
	assert_int_equal(back.nmembers, 3);
	assert_members_equal(back.members, members, 3);
	assert_true(back.ring_digest == UINT64_MAX);
	assert_int_equal(back.ring_len, sizeof(ring));
	assert_memory_equal(back.ring, ring, sizeof(ring));
	/* The ring points into the body, not into a copy. */
	assert_true(back.ring >= buf && back.ring + back.ring_len <= buf + len);
	msg_clear_gossip(&back);
	assert_null(back.members);
	assert_int_equal(back.nmembers, 0);
	msg_clear_gossip(&back); /* twice is harmless */
	assert_hostile(mc, decode_gossip, buf, len, 3);
	free(buf);

	/* A reply without the ring (the requester has it). */
	m.ring = NULL;
	m.ring_len = 0;
	assert_int_equal(
	    msg_encode_gossip(mc, MSG_GOSSIP | MSG_REPLY_BIT, &m, &buf, &len),
	    0);
	assert_int_equal(msg_decode_gossip(mc, NULL, MSG_GOSSIP | MSG_REPLY_BIT,
	                                   buf, len, &back),
	                 0);
	assert_int_equal(back.status, 0);
	assert_null(back.ring);
	assert_int_equal(back.ring_len, 0);
	assert_members_equal(back.members, members, 3);
	msg_clear_gossip(&back);
	assert_hostile(mc, decode_gossip_reply, buf, len, 3);
	free(buf);

	/* A refusal: a status, nothing else. */
	memset(&m, 0, sizeof(m));
	strcpy(m.cluster_name, "ringkv-test");
	m.status = -2;
	assert_int_equal(
	    msg_encode_gossip(mc, MSG_GOSSIP | MSG_REPLY_BIT, &m, &buf, &len),
	    0);
	assert_int_equal(msg_decode_gossip(mc, NULL, MSG_GOSSIP | MSG_REPLY_BIT,
	                                   buf, len, &back),
	                 0);
	assert_int_equal(back.status, -2);
	assert_int_equal(back.nmembers, 0);
	assert_null(back.members);
	msg_clear_gossip(&back);
	free(buf);
}

/* The bytes of a small request, pinned: the stored member table has this
 * encoding, so a change to it must be a deliberate schema change. */
static void test_gossip_golden(void **state)
{
	struct msg_codec *mc = *state;
	static const uint8_t golden[] = {
	    0x02, 'c',             /* cluster_name "c" */
	    0x80, 0x01,            /* ring_size 64 */
	    0x02,                  /* members: a block of 1 */
	    0x02,                  /* id 1 */
	    0x02, 'n',  0x02, 'a', /* name "n", addr "a" */
	    0x02,                  /* status: symbol 1, valid */
	    0x04, 0x06,            /* generation 2, version 3 */
	    0x02, 'h',             /* http "h" */
	    0x00,                  /* end of members */
	    0x08,                  /* ring_digest 4 */
	    0x00,                  /* ring: empty */
	};
	struct gossip_member one = {.id = 1,
	                            .name = "n",
	                            .addr = "a",
	                            .http = "h",
	                            .status = MEMBER_VALID,
	                            .generation = 2,
	                            .version = 3};
	struct msg_gossip m = {
	    .ring_size = 64, .members = &one, .nmembers = 1, .ring_digest = 4};
	struct msg_gossip back;
	uint8_t *buf = NULL;
	size_t len = 0;

	strcpy(m.cluster_name, "c");
	assert_int_equal(msg_encode_gossip(mc, MSG_GOSSIP, &m, &buf, &len), 0);
	assert_int_equal(len, sizeof(golden));
	assert_memory_equal(buf, golden, sizeof(golden));
	free(buf);
	assert_int_equal(msg_decode_gossip(mc, NULL, MSG_GOSSIP, golden,
	                                   sizeof(golden), &back),
	                 0);
	assert_int_equal(back.ring_size, 64);
	assert_members_equal(back.members, &one, 1);
	assert_null(back.ring);
	msg_clear_gossip(&back);
}

static void test_gossip_invalid(void **state)
{
	struct msg_codec *mc = *state;
	char longest[GOSSIP_MAX_NAME + 1];
	struct gossip_member members[3];
	struct msg_gossip m = {.members = members, .nmembers = 3};
	struct msg_status st = {0};
	uint8_t *buf = NULL;
	size_t len = 0;

	strcpy(m.cluster_name, "ringkv-test");
	/* Each member that would fail the receiver's checks. */
	for (int bad = 0; bad < 8; bad++) {
		sample_members(members, longest);
		switch (bad) {
		case 0: members[2].id = 0; break;
		case 1: members[2].name = "a name"; break;
		case 2: members[2].addr = ""; break;
		case 3: members[2].status = MEMBER_STATUS_COUNT; break;
		case 4: members[2].generation = GOSSIP_MAX_COUNTER; break;
		case 5: members[2].http = NULL; break;
		case 6: members[0].http = "a b:1"; break;
		default: longest[0] = '\x7f'; break;
		}
		assert_int_equal(
		    msg_encode_gossip(mc, MSG_GOSSIP, &m, &buf, &len),
		    RKV_EINVAL);
		assert_null(buf);
	}
	sample_members(members, longest);
	/* A request has no status; a reply's is not positive. */
	m.status = -2;
	assert_int_equal(msg_encode_gossip(mc, MSG_GOSSIP, &m, &buf, &len),
	                 RKV_EINVAL);
	m.status = 1;
	assert_int_equal(
	    msg_encode_gossip(mc, MSG_GOSSIP | MSG_REPLY_BIT, &m, &buf, &len),
	    RKV_EINVAL);
	m.status = 0;
	m.nmembers = GOSSIP_MAX_MEMBERS + 1;
	assert_int_equal(msg_encode_gossip(mc, MSG_GOSSIP, &m, &buf, &len),
	                 RKV_EINVAL);
	m.nmembers = 3;
	m.ring_len = 1; /* with no ring */
	assert_int_equal(msg_encode_gossip(mc, MSG_GOSSIP, &m, &buf, &len),
	                 RKV_EINVAL);
	m.ring_len = 0;
	/* Gossip is not a status reply, nor a status reply gossip. */
	assert_int_equal(msg_encode_gossip(mc, MSG_FETCH, &m, &buf, &len),
	                 RKV_EINVAL);
	assert_int_equal(msg_encode_status(mc, MSG_GOSSIP, &st, &buf, &len),
	                 RKV_EINVAL);
	assert_null(buf);
}

/* A request body around one member: cluster "", ring_size 64, a block of
 * one member, then the end of the block, ring_digest 0 and no ring. */
#define ONE_MEMBER(...) 0x00, 0x80, 0x01, 0x02, __VA_ARGS__, 0x00, 0x00, 0x00
/* A member's fields after its id: name "n", addr "a", valid, 0, 0, http
 * "". */
#define NAMED_N 0x02, 'n', 0x02, 'a', 0x02, 0x00, 0x00, 0x00

static void test_gossip_hostile(void **state)
{
	struct msg_codec *mc = *state;
	/* the control: all of it well-formed */
	static const uint8_t good[] = {ONE_MEMBER(0x02, NAMED_N)};
	/* cluster "", ring_size 64, a members block claiming 2^40 */
	static const uint8_t huge_count[] = {0x00, 0x80, 0x01, 0x80, 0x80,
	                                     0x80, 0x80, 0x80, 0x40};
	/* ring_size 2^32 */
	static const uint8_t big_q[] = {0x00, 0x80, 0x80,    0x80, 0x80, 0x20,
	                                0x02, 0x02, NAMED_N, 0x00, 0x00, 0x00};
	/* status: symbol 5 of 5 */
	static const uint8_t bad_enum[] = {
	    ONE_MEMBER(0x02, 0x02, 'n', 0x02, 'a', 0x0a, 0x00, 0x00, 0x00)};
	/* named "n\0" */
	static const uint8_t nul_name[] = {ONE_MEMBER(
	    0x02, 0x04, 'n', 0x00, 0x02, 'a', 0x02, 0x00, 0x00, 0x00)};
	/* named "a b" */
	static const uint8_t space_name[] = {ONE_MEMBER(
	    0x02, 0x06, 'a', ' ', 'b', 0x02, 'a', 0x02, 0x00, 0x00, 0x00)};
	/* http "a b" */
	static const uint8_t space_http[] = {ONE_MEMBER(
	    0x02, 0x02, 'n', 0x02, 'a', 0x02, 0x00, 0x00, 0x06, 'a', ' ', 'b')};
	/* id 0 */
	static const uint8_t id_zero[] = {ONE_MEMBER(0x00, NAMED_N)};
	/* generation 2^62 */
	static const uint8_t big_gen[] = {
	    ONE_MEMBER(0x02, 0x02, 'n', 0x02, 'a', 0x02, 0x80, 0x80, 0x80, 0x80,
	               0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x00, 0x00)};
	/* a reply: status 0, then the control; then status +1 */
	static const uint8_t reply[] = {0x00, ONE_MEMBER(0x02, NAMED_N)};
	static const uint8_t positive[] = {0x02, ONE_MEMBER(0x02, NAMED_N)};
	/* more members than GOSSIP_MAX_MEMBERS, each well-formed */
	size_t n = GOSSIP_MAX_MEMBERS + 1, each = 10;
	size_t olen = 5 + n * each + 3;
	uint8_t *over = calloc(1, olen);
	struct msg_gossip m;

	assert_int_equal(
	    msg_decode_gossip(mc, NULL, MSG_GOSSIP, good, sizeof(good), &m), 0);
	assert_int_equal(m.nmembers, 1);
	assert_int_equal(m.ring_size, 64);
	msg_clear_gossip(&m);
	assert_int_equal(msg_decode_gossip(mc, NULL, MSG_GOSSIP | MSG_REPLY_BIT,
	                                   reply, sizeof(reply), &m),
	                 0);
	msg_clear_gossip(&m);

	assert_int_equal(msg_decode_gossip(mc, NULL, MSG_GOSSIP, huge_count,
	                                   sizeof(huge_count), &m),
	                 RKV_ECORRUPT);
	assert_int_equal(
	    msg_decode_gossip(mc, NULL, MSG_GOSSIP, big_q, sizeof(big_q), &m),
	    RKV_ECORRUPT);
	assert_int_equal(msg_decode_gossip(mc, NULL, MSG_GOSSIP, bad_enum,
	                                   sizeof(bad_enum), &m),
	                 RKV_ECORRUPT);
	assert_int_equal(msg_decode_gossip(mc, NULL, MSG_GOSSIP, nul_name,
	                                   sizeof(nul_name), &m),
	                 RKV_ECORRUPT);
	assert_int_equal(msg_decode_gossip(mc, NULL, MSG_GOSSIP, space_name,
	                                   sizeof(space_name), &m),
	                 RKV_ECORRUPT);
	assert_int_equal(msg_decode_gossip(mc, NULL, MSG_GOSSIP, space_http,
	                                   sizeof(space_http), &m),
	                 RKV_ECORRUPT);
	assert_int_equal(msg_decode_gossip(mc, NULL, MSG_GOSSIP, id_zero,
	                                   sizeof(id_zero), &m),
	                 RKV_ECORRUPT);
	assert_int_equal(msg_decode_gossip(mc, NULL, MSG_GOSSIP, big_gen,
	                                   sizeof(big_gen), &m),
	                 RKV_ECORRUPT);
	assert_int_equal(msg_decode_gossip(mc, NULL, MSG_GOSSIP | MSG_REPLY_BIT,
	                                   positive, sizeof(positive), &m),
	                 RKV_ECORRUPT);
	assert_int_equal(
	    msg_decode_gossip(mc, NULL, MSG_FETCH, good, sizeof(good), &m),
	    RKV_ECORRUPT);
	assert_null(m.members);

	/* zig-zag 4097 = 8194 = 0x82 0x40; members "n"/"a" with ids 1.. */
	assert_non_null(over);
	over[0] = 0x00;
	over[1] = 0x80;
	over[2] = 0x01;
	over[3] = 0x82;
	over[4] = 0x40;
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = over + 5 + i * each;
		p[0] = (uint8_t)(0x80 | ((2 * (i + 1)) & 0x7f));
		p[1] = (uint8_t)((2 * (i + 1)) >> 7);
		p[2] = 0x02;
		p[3] = 'n';
		p[4] = 0x02;
		p[5] = 'a';
		p[6] = 0x02;
		p[7] = 0x00;
		p[8] = 0x00;
		p[9] = 0x00;
	}
	assert_int_equal(
	    msg_decode_gossip(mc, NULL, MSG_GOSSIP, over, olen, &m),
	    RKV_ECORRUPT);
	/* The same with one member fewer is within every limit. */
	over[3] = 0x80;
	memset(over + 5 + (n - 1) * each, 0, 3);
	assert_int_equal(
	    msg_decode_gossip(mc, NULL, MSG_GOSSIP, over, olen - each, &m), 0);
	assert_int_equal(m.nmembers, GOSSIP_MAX_MEMBERS);
	msg_clear_gossip(&m);
	free(over);
}

/* --- gossip of an older release, and the stored member table ------------- */

/* The members of msg_gossip_v0.bin, decoded: http "" for each. */
static void assert_v0_members(const struct msg_gossip *m)
{
	static const struct {
		uint64_t id;
		const char *name;
		enum member_status status;
		uint64_t generation, version;
	} want[] = {
	    {UINT64_C(0x91d494a1871a57bf), "127.0.0.1:8199", MEMBER_VALID,
	     1795752504103u, 0},
	    {UINT64_C(0x10cc47c68412f83f), "127.0.0.1:8099", MEMBER_VALID,
	     1795752504107u, 104},
	    {UINT64_C(0x1a036354484935ca), "127.0.0.1:8299", MEMBER_JOINING,
	     1795752504105u, 95},
	};

	assert_string_equal(m->cluster_name, "ringkv");
	assert_int_equal(m->ring_size, 64);
	assert_true(m->ring_digest == UINT64_C(0x0123456789abcdef));
	assert_null(m->ring);
	assert_int_equal(m->nmembers, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_true(m->members[i].id == want[i].id);
		assert_string_equal(m->members[i].name, want[i].name);
		assert_string_equal(m->members[i].addr, want[i].name);
		assert_string_equal(m->members[i].http, "");
		assert_int_equal(m->members[i].status, want[i].status);
		assert_true(m->members[i].generation == want[i].generation);
		assert_true(m->members[i].version == want[i].version);
	}
}

/* Gossip from a release before members carried their http address: a
 * request and a reply decode, every member with http "" (the default). */
static void test_gossip_from_older_release(void **state)
{
	static const char old_reply[] =
	    "{\"type\":\"record\",\"name\":\"GossipReply\","
	    "\"namespace\":\"ringkv.msg\",\"fields\":["
	    "{\"name\":\"status\",\"type\":\"int\"},"
	    "{\"name\":\"cluster_name\",\"type\":\"string\"},"
	    "{\"name\":\"ring_size\",\"type\":\"long\"},"
	    "{\"name\":\"members\",\"type\":{\"type\":\"array\",\"items\":{"
	    "\"type\":\"record\",\"name\":\"Member\",\"fields\":["
	    "{\"name\":\"id\",\"type\":\"long\"},"
	    "{\"name\":\"name\",\"type\":\"string\"},"
	    "{\"name\":\"addr\",\"type\":\"string\"},"
	    "{\"name\":\"status\",\"type\":{\"type\":\"enum\","
	    "\"name\":\"MemberStatus\",\"symbols\":[\"joining\",\"valid\","
	    "\"leaving\",\"exiting\",\"down\"]}},"
	    "{\"name\":\"generation\",\"type\":\"long\"},"
	    "{\"name\":\"version\",\"type\":\"long\"}]}}},"
	    "{\"name\":\"ring_digest\",\"type\":\"long\"},"
	    "{\"name\":\"ring\",\"type\":\"bytes\"}]}";
	struct msg_codec *mc = *state;
	static char schema[FILE_MAX];
	char body[FILE_MAX];
	size_t blen = 0;
	struct announce ann[] = {{.stem = "gossip", .json = schema},
	                         {.stem = "gossip_reply", .json = old_reply}};
	struct msg_peer *peer = NULL;
	struct msg_gossip m;

	read_data(GOSSIP_V0, schema, sizeof(schema));
	blen = read_data(GOSSIP_V0_BIN, body + 1, sizeof(body) - 1);
	peer = peer_announcing(mc, ann, 2);
	for (int round = 0; round < 2; round++) { /* values are reused */
		assert_int_equal(
		    msg_decode_gossip(mc, peer, MSG_GOSSIP, body + 1, blen, &m),
		    0);
		assert_v0_members(&m);
		msg_clear_gossip(&m);
	}
	/* A reply is a request with a status in front. */
	body[0] = 0x00;
	assert_int_equal(msg_decode_gossip(mc, peer, MSG_GOSSIP | MSG_REPLY_BIT,
	                                   body, blen + 1, &m),
	                 0);
	assert_int_equal(m.status, 0);
	assert_v0_members(&m);
	msg_clear_gossip(&m);
	/* Read as if it were ours, the same bytes are refused. */
	assert_int_equal(
	    msg_decode_gossip(mc, NULL, MSG_GOSSIP, body + 1, blen, &m),
	    RKV_ECORRUPT);
	for (size_t n = 0; n < blen; n++)
		assert_int_equal(
		    msg_decode_gossip(mc, peer, MSG_GOSSIP, body + 1, n, &m),
		    RKV_ECORRUPT);
	msg_peer_free(peer);
}

/* The older release reads our gossip: its resolver (writer ours, reader
 * its schema) skips http and finds everything else. */
static void test_gossip_read_by_older_release(void **state)
{
	struct msg_codec *mc = *state;
	static char old_json[FILE_MAX];
	char longest[GOSSIP_MAX_NAME + 1];
	struct gossip_member members[3];
	struct msg_gossip m = {.ring_size = 64,
	                       .members = members,
	                       .nmembers = 3,
	                       .ring_digest = 5};
	avro_schema_t ours = NULL, old = NULL;
	avro_value_iface_t *wi = NULL, *ri = NULL;
	avro_value_t wv, rv, list, item, f;
	avro_reader_t reader = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, n = 0,
	       old_len = read_data(GOSSIP_V0, old_json, sizeof(old_json));
	const char *str = NULL;
	int64_t id = 0;

	sample_members(members, longest);
	strcpy(m.cluster_name, "c");
	assert_int_equal(msg_encode_gossip(mc, MSG_GOSSIP, &m, &buf, &len), 0);
	assert_int_equal(
	    avro_schema_from_json_length(rkv_schema_msg_gossip,
	                                 strlen(rkv_schema_msg_gossip), &ours),
	    0);
	assert_int_equal(avro_schema_from_json_length(old_json, old_len, &old),
	                 0);
	wi = avro_generic_class_from_schema(ours);
	ri = avro_resolved_reader_new(ours, old);
	assert_non_null(wi);
	assert_non_null(ri);
	assert_int_equal(avro_generic_value_new(wi, &wv), 0);
	assert_int_equal(avro_resolved_reader_new_value(ri, &rv), 0);
	avro_resolved_reader_set_source(&rv, &wv);
	reader = avro_reader_memory((const char *)buf, (int64_t)len);
	assert_int_equal(avro_value_read(reader, &wv), 0);
	assert_int_equal(avro_value_get_by_name(&rv, "members", &list, NULL),
	                 0);
	assert_int_equal(avro_value_get_size(&list, &n), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(avro_value_get_by_index(&list, i, &item, NULL),
		                 0);
		assert_int_equal(avro_value_get_by_name(&item, "id", &f, NULL),
		                 0);
		assert_int_equal(avro_value_get_long(&f, &id), 0);
		assert_true((uint64_t)id == members[i].id);
		assert_int_equal(
		    avro_value_get_by_name(&item, "addr", &f, NULL), 0);
		assert_int_equal(avro_value_get_string(&f, &str, NULL), 0);
		assert_string_equal(str, members[i].addr);
		assert_int_not_equal(
		    avro_value_get_by_name(&item, "http", &f, NULL), 0);
	}
	assert_int_equal(avro_value_get_by_name(&rv, "ring_digest", &f, NULL),
	                 0);
	assert_int_equal(avro_value_get_long(&f, &id), 0);
	assert_int_equal(id, 5);
	avro_reader_free(reader);
	avro_value_decref(&rv);
	avro_value_decref(&wv);
	avro_value_iface_decref(ri);
	avro_value_iface_decref(wi);
	avro_schema_decref(old);
	avro_schema_decref(ours);
	free(buf);
}

/* Regression: a peer schema renaming a record or an enum (here the v0
 * gossip schema with Member or MemberStatus renamed) crashed Avro C's
 * resolver; such a schema is now refused, its bodies with it. */
static void test_evolution_renamed_type(void **state)
{
	struct msg_codec *mc = *state;
	static const char *const from[] = {"\"Member\"", "\"MemberStatus\"",
	                                   "\"ringkv.msg\""};
	static const char *const to[] = {"\"Membdr\"", "\"MemcerStatus\"",
	                                 "\"ringkv.msh\""};
	static char schema[FILE_MAX], renamed[FILE_MAX];
	char body[FILE_MAX];
	size_t blen = 0;

	read_data(GOSSIP_V0, schema, sizeof(schema));
	blen = read_data(GOSSIP_V0_BIN, body, sizeof(body));
	for (size_t k = 0; k < 3; k++) {
		const char *at = strstr(schema, from[k]);
		struct announce ann = {.stem = "gossip", .json = renamed};
		struct msg_peer *peer = NULL;
		struct msg_gossip m;
		assert_non_null(at);
		snprintf(renamed, sizeof(renamed), "%.*s%s%s",
		         (int)(at - schema), schema, to[k],
		         at + strlen(from[k]));
		peer = peer_announcing(mc, &ann, 1);
		assert_int_equal(
		    msg_decode_gossip(mc, peer, MSG_GOSSIP, body, blen, &m),
		    RKV_ECORRUPT);
		msg_peer_free(peer);
	}
}

static int decode_stored(struct msg_codec *mc, const uint8_t *buf, size_t len)
{
	struct msg_gossip m;
	int rc = msg_decode_gossip_stored(mc, buf, len, &m);
	if (rc == 0)
		msg_clear_gossip(&m);
	return rc;
}

/* A stored table: a header naming its schema ahead of a gossip body. */
static size_t stored_blob(uint8_t magic, const char *json, size_t jlen,
                          const void *body, size_t blen, uint8_t *out,
                          size_t cap)
{
	assert_true(5 + jlen + blen <= cap);
	out[0] = magic;
	for (int i = 0; i < 4; i++)
		out[1 + i] = (uint8_t)(jlen >> (8 * i));
	memmove(out + 5, json, jlen); /* json may lie there */
	memcpy(out + 5 + jlen, body, blen);
	return 5 + jlen + blen;
}

/* The member table as a node stores it: ours round-trips; the bare body a
 * release before http stored, and a table under a schema named in its
 * header, decode through resolvers; a broken header is refused. */
static void test_gossip_stored(void **state)
{
	struct msg_codec *mc = *state;
	static char schema[FILE_MAX];
	static uint8_t blob[2 * FILE_MAX];
	char body[FILE_MAX];
	char longest[GOSSIP_MAX_NAME + 1];
	struct gossip_member members[3];
	struct msg_gossip m = {
	    .ring_size = 64, .members = members, .nmembers = 3};
	struct msg_gossip back;
	uint8_t *buf = NULL, *plain = NULL;
	size_t len = 0, plen = 0, blen = 0, slen = 0, n = 0;

	sample_members(members, longest);
	strcpy(m.cluster_name, "ringkv");
	assert_int_equal(msg_encode_gossip_stored(mc, &m, &buf, &len), 0);
	assert_int_equal(msg_encode_gossip(mc, MSG_GOSSIP, &m, &plain, &plen),
	                 0);
	/* magic, schema, then the very body gossip sends */
	assert_int_equal(buf[0], 0x01);
	assert_true(len > 5 + plen);
	assert_memory_equal(buf + len - plen, plain, plen);
	assert_int_equal(msg_decode_gossip_stored(mc, buf, len, &back), 0);
	assert_int_equal(back.nmembers, 3);
	assert_members_equal(back.members, members, 3);
	assert_string_equal(back.cluster_name, "ringkv");
	msg_clear_gossip(&back);
	assert_hostile(mc, decode_stored, buf, len, 29);
	/* The bare body is what the release before wrote: not ours. */
	assert_int_equal(msg_decode_gossip_stored(mc, plain, plen, &back),
	                 RKV_ECORRUPT);

	/* Stored by that release: read with its schema, http "". */
	slen = read_data(GOSSIP_V0, schema, sizeof(schema));
	blen = read_data(GOSSIP_V0_BIN, body, sizeof(body));
	assert_int_equal(msg_decode_gossip_stored(mc, body, blen, &back), 0);
	assert_v0_members(&back);
	msg_clear_gossip(&back);
	assert_hostile(mc, decode_stored, (const uint8_t *)body, blen, 7);
	/* Any schema named in the header is resolved, as a peer's is. */
	n = stored_blob(0x01, schema, slen, body, blen, blob, sizeof(blob));
	assert_int_equal(msg_decode_gossip_stored(mc, blob, n, &back), 0);
	assert_v0_members(&back);
	msg_clear_gossip(&back);

	/* Broken headers. */
	n = stored_blob(0x03, schema, slen, body, blen, blob, sizeof(blob));
	assert_int_equal(msg_decode_gossip_stored(mc, blob, n, &back),
	                 RKV_ECORRUPT); /* another magic */
	n = stored_blob(0x01, schema, 0, body, blen, blob, sizeof(blob));
	assert_int_equal(msg_decode_gossip_stored(mc, blob, n, &back),
	                 RKV_ECORRUPT); /* no schema */
	n = stored_blob(0x01, "{\"type\":", 8, body, blen, blob, sizeof(blob));
	assert_int_equal(msg_decode_gossip_stored(mc, blob, n, &back),
	                 RKV_ECORRUPT); /* not a schema */
	n = stored_blob(0x01, schema, slen, body, blen, blob, sizeof(blob));
	blob[4] = 0x7f; /* a schema longer than the blob */
	assert_int_equal(msg_decode_gossip_stored(mc, blob, n, &back),
	                 RKV_ECORRUPT);
	memset(blob + 5, '{', 16385);
	n = stored_blob(0x01, (const char *)blob + 5, 16385, "", 0, blob,
	                sizeof(blob));
	assert_int_equal(msg_decode_gossip_stored(mc, blob, n, &back),
	                 RKV_ECORRUPT); /* over MSG_MAX_SCHEMA_JSON */
	assert_null(back.members);
	free(plain);
	free(buf);
}

static int setup(void **state)
{
	*state = msg_codec_new();
	return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	msg_codec_free(*state);
	return 0;
}

/* --- sloppy quorum and hinted handoff ------------------------------------- */

/* A REPLICATE to a fallback names the primary it stands in for. */
static void test_replicate_hint_for(void **state)
{
	struct msg_codec *mc = *state;
	struct msg_replicate m = {
	    .partition = 9, .key = (const uint8_t *)"k", .klen = 1};
	struct msg_replicate back;
	uint8_t *buf = NULL;
	size_t len = 0;

	m.obj = sample_object();
	snprintf(m.hint_for, sizeof(m.hint_for), "127.0.0.1:8099");
	assert_int_equal(msg_encode_replicate(mc, &m, &buf, &len), 0);
	assert_int_equal(msg_decode_replicate(mc, NULL, buf, len, &back), 0);
	assert_string_equal(back.hint_for, "127.0.0.1:8099");
	assert_true(dvv_equal(back.obj, m.obj));
	msg_clear_replicate(&back);
	assert_hostile(mc, decode_replicate, buf, len, 8);
	free(buf);

	/* A name filling its array without a terminator is refused. */
	memset(m.hint_for, 'h', sizeof(m.hint_for));
	assert_int_equal(msg_encode_replicate(mc, &m, &buf, &len), RKV_EINVAL);
	dvv_free(m.obj);
}

/* A FetchReply written with json, a schema without the quorum counts, as
 * peer announced it: they decode as 0, the rest as written. */
static void check_older_reply(struct msg_codec *mc, const struct msg_peer *peer,
                              const char *json)
{
	struct msg_status m = {
	    .status = RKV_ENOTFOUND, .needed = 3, .acked = 2};
	struct msg_status back;
	struct ref ref;
	uint8_t *buf = NULL;
	size_t len = 0;

	ref_init(&ref, json);
	for (int with_obj = 0; with_obj < 2; with_obj++) {
		m.obj = with_obj ? sample_object() : NULL;
		ref_status(&ref, &m, &buf, &len);
		assert_int_equal(
		    msg_decode_status(mc, peer, MSG_FETCH, buf, len, &back), 0);
		assert_true(back.status == RKV_ENOTFOUND && back.needed == 0 &&
		            back.acked == 0);
		assert_true(m.obj == NULL ? back.obj == NULL
		                          : dvv_equal(back.obj, m.obj));
		assert_false(back.has_digest);
		msg_clear_status(&back);
		for (size_t n = 0; n < len; n++)
			assert_int_equal(msg_decode_status(mc, peer, MSG_FETCH,
			                                   buf, n, &back),
			                 RKV_ECORRUPT);
		/* The peer's other replies are read as ours. */
		assert_int_equal(
		    msg_decode_status(mc, peer, MSG_HINT, buf, len, &back),
		    RKV_ECORRUPT);
		free(buf);
		dvv_free(m.obj);
	}
	ref_deinit(&ref);
}

/* The REPLICATE of a release before hinted handoff (no hint_for) still
 * decodes, as a plain replica write; so does a reply of a release before
 * the quorum counts. */
static void test_direct_from_older_release(void **state)
{
	static const char old_replicate[] =
	    "{\"type\":\"record\",\"name\":\"Replicate\","
	    "\"namespace\":\"ringkv.msg\",\"fields\":["
	    "{\"name\":\"partition\",\"type\":\"long\"},"
	    "{\"name\":\"key\",\"type\":\"bytes\"},"
	    "{\"name\":\"object\",\"type\":\"bytes\"}]}";
	static const char old_reply[] =
	    "{\"type\":\"record\",\"name\":\"FetchReply\","
	    "\"namespace\":\"ringkv.msg\",\"fields\":["
	    "{\"name\":\"status\",\"type\":\"int\"},"
	    "{\"name\":\"object\",\"type\":[\"null\",\"bytes\"]}]}";
	static const char old_fetch[] =
	    "{\"type\":\"record\",\"name\":\"Fetch\","
	    "\"namespace\":\"ringkv.msg\",\"fields\":["
	    "{\"name\":\"partition\",\"type\":\"long\"},"
	    "{\"name\":\"key\",\"type\":\"bytes\"}]}";
	static const uint8_t fetch[] = {0x0a, 0x04, 'a', 'b'};
	struct msg_codec *mc = *state;
	struct announce ann[] = {{.stem = "replicate", .json = old_replicate},
	                         {.stem = "fetch_reply", .json = old_reply},
	                         {.stem = "fetch", .json = old_fetch}};
	struct msg_peer *peer = peer_announcing(mc, ann, 3);
	struct msg_fetch f;
	struct msg_replicate m = {
	    .partition = 2, .key = (const uint8_t *)"old", .klen = 3};
	struct msg_replicate back;
	uint8_t *buf = NULL;
	size_t len = 0;

	m.obj = sample_object();
	assert_int_equal(msg_encode_replicate(mc, &m, &buf, &len), 0);
	/* An empty hint_for is its last byte (a zero length): without it,
	 * the body is what the older release writes. */
	assert_int_equal(buf[len - 1], 0);
	assert_int_equal(msg_decode_replicate(mc, peer, buf, len - 1, &back),
	                 0);
	assert_int_equal(back.partition, 2);
	assert_key(back.key, back.klen, m.key, m.klen, buf, len - 1);
	assert_string_equal(back.hint_for, "");
	assert_true(dvv_equal(back.obj, m.obj));
	msg_clear_replicate(&back);
	/* Through the resolver, bodies are checked all the same. */
	for (size_t n = 0; n < len - 1; n++)
		assert_int_equal(msg_decode_replicate(mc, peer, buf, n, &back),
		                 RKV_ECORRUPT);
	assert_int_equal(msg_decode_replicate(mc, peer, buf, len, &back),
	                 RKV_ECORRUPT);
	free(buf);
	dvv_free(m.obj);
	check_older_reply(mc, peer, old_reply);
	/* A FETCH of a release before digest reads asks for the object. */
	assert_int_equal(msg_decode_fetch(mc, peer, fetch, sizeof(fetch), &f),
	                 0);
	assert_int_equal(f.partition, 5);
	assert_key(f.key, f.klen, (const uint8_t *)"ab", 2, fetch,
	           sizeof(fetch));
	assert_false(f.digest);
	msg_peer_free(peer);
}

static int decode_hint(struct msg_codec *mc, const uint8_t *buf, size_t len)
{
	struct msg_hint m;
	int rc = msg_decode_hint(mc, NULL, buf, len, &m);

	if (rc == 0) {
		assert_true(m.n >= 1 && m.n <= MSG_MAX_HINTS);
		assert_true(m.target[0] != '\0');
		for (size_t i = 0; i < m.n; i++) {
			assert_true(m.entries[i].klen >= 1);
			assert_int_equal(dvv_validate(m.entries[i].obj), 0);
		}
		msg_clear_hint(&m);
		assert_null(m.entries);
	}
	return rc;
}

static void test_hint_roundtrip(void **state)
{
	struct msg_codec *mc = *state;
	static const uint8_t bin[] = {0x00, 0xff, 'x'};
	struct msg_hint_entry e[3] = {
	    {.partition = 0, .key = (const uint8_t *)"a", .klen = 1},
	    {.partition = UINT32_MAX, .key = bin, .klen = sizeof(bin)},
	    {.partition = 63, .key = (const uint8_t *)"user:7", .klen = 6}};
	struct msg_hint m = {.target_id = UINT64_MAX, .entries = e, .n = 3};
	struct msg_hint back;
	uint8_t *buf = NULL;
	size_t len = 0;

	for (size_t i = 0; i < 3; i++)
		e[i].obj = sample_object();
	snprintf(m.target, sizeof(m.target), "127.0.0.1:8099");
	assert_int_equal(msg_encode_hint(mc, &m, &buf, &len), 0);
	for (int round = 0; round < 2; round++) { /* values are reused */
		assert_int_equal(msg_decode_hint(mc, NULL, buf, len, &back), 0);
		assert_string_equal(back.target, "127.0.0.1:8099");
		assert_true(back.target_id == UINT64_MAX);
		assert_int_equal(back.n, 3);
		for (size_t i = 0; i < 3; i++) {
			assert_int_equal(back.entries[i].partition,
			                 e[i].partition);
			assert_int_equal(back.entries[i].klen, e[i].klen);
			assert_memory_equal(back.entries[i].key, e[i].key,
			                    e[i].klen);
			assert_true(dvv_equal(back.entries[i].obj, e[i].obj));
		}
		msg_clear_hint(&back);
	}
	assert_hostile(mc, decode_hint, buf, len, 7);
	free(buf);
	/* Its reply is the common status record. */
	{
		struct msg_status st = {.status = RKV_EINVAL, .needed = 3};
		struct msg_status sb;
		assert_int_equal(
		    msg_encode_status(mc, MSG_HINT, &st, &buf, &len), 0);
		assert_int_equal(
		    msg_decode_status(mc, NULL, MSG_HINT, buf, len, &sb), 0);
		assert_int_equal(sb.status, RKV_EINVAL);
		assert_int_equal(sb.needed, 3);
		free(buf);
	}
	for (size_t i = 0; i < 3; i++)
		dvv_free(e[i].obj);
}

static void test_hint_refused(void **state)
{
	struct msg_codec *mc = *state;
	struct msg_hint_entry *many = calloc(MSG_MAX_HINTS + 1, sizeof(*many));
	struct msg_hint_entry e = {
	    .partition = 1, .key = (const uint8_t *)"k", .klen = 1};
	struct msg_hint m = {.entries = &e, .n = 1};
	struct msg_hint back;
	/* target "t", id 0, then an empty array: no hints at all */
	static const uint8_t none[] = {0x02, 't', 0x00, 0x00};
	/* an empty target, id 0, one entry's worth of count */
	static const uint8_t anon[] = {0x00, 0x00, 0x00};
	/* target "t", id 0, one entry: partition 1, an empty key, an
	 * empty object, then the end of the array */
	static const uint8_t nokey[] = {0x02, 't',  0x00, 0x02,
	                                0x02, 0x00, 0x00, 0x00};
	uint8_t *buf = NULL;
	size_t len = 0;

	assert_non_null(many);
	e.obj = sample_object();
	/* No target, no entries, too many, an empty key, no object. */
	assert_int_equal(msg_encode_hint(mc, &m, &buf, &len), RKV_EINVAL);
	snprintf(m.target, sizeof(m.target), "n1");
	m.n = 0;
	assert_int_equal(msg_encode_hint(mc, &m, &buf, &len), RKV_EINVAL);
	for (size_t i = 0; i <= MSG_MAX_HINTS; i++)
		many[i] = e;
	m.entries = many;
	m.n = MSG_MAX_HINTS + 1;
	assert_int_equal(msg_encode_hint(mc, &m, &buf, &len), RKV_EINVAL);
	m.n = MSG_MAX_HINTS; /* the most a batch may carry */
	assert_int_equal(msg_encode_hint(mc, &m, &buf, &len), 0);
	assert_int_equal(decode_hint(mc, buf, len), 0);
	free(buf);
	m.entries = &e;
	m.n = 1;
	e.klen = 0;
	assert_int_equal(msg_encode_hint(mc, &m, &buf, &len), RKV_EINVAL);
	e.klen = 1;
	struct dvv *obj = e.obj;
	e.obj = NULL;
	assert_int_equal(msg_encode_hint(mc, &m, &buf, &len), RKV_EINVAL);
	e.obj = obj;
	memset(m.target, 't', sizeof(m.target));
	assert_int_equal(msg_encode_hint(mc, &m, &buf, &len), RKV_EINVAL);
	assert_null(buf);

	/* The same refused on the way in. */
	assert_int_equal(msg_decode_hint(mc, NULL, none, sizeof(none), &back),
	                 RKV_ECORRUPT);
	assert_int_equal(msg_decode_hint(mc, NULL, anon, sizeof(anon), &back),
	                 RKV_ECORRUPT);
	assert_int_equal(msg_decode_hint(mc, NULL, nokey, sizeof(nokey), &back),
	                 RKV_ECORRUPT);
	assert_null(back.entries);
	dvv_free(obj);
	free(many);
}

int main(void)
{
	test_seed = test_seed_init("test_msg");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hello_roundtrip),
	    cmocka_unit_test(test_replicate_roundtrip),
	    cmocka_unit_test(test_fetch_keys),
	    cmocka_unit_test(test_fetch_golden),
	    cmocka_unit_test(test_forward_roundtrip),
	    cmocka_unit_test(test_status_roundtrip),
	    cmocka_unit_test(test_hostile_lengths),
	    cmocka_unit_test(test_requests_random),
	    cmocka_unit_test(test_status_random),
	    cmocka_unit_test(test_direct_malformed),
	    cmocka_unit_test(test_hello_hostile),
	    cmocka_unit_test(test_evolution_older_writer),
	    cmocka_unit_test(test_hostile_peer_schemas),
	    cmocka_unit_test(test_evolution_newer_writer),
	    cmocka_unit_test(test_evolution_newer_hello),
	    cmocka_unit_test(test_evolution_incompatible),
	    cmocka_unit_test(test_hello_unreadable_body),
	    cmocka_unit_test(test_gossip_roundtrip),
	    cmocka_unit_test(test_gossip_golden),
	    cmocka_unit_test(test_gossip_from_older_release),
	    cmocka_unit_test(test_gossip_read_by_older_release),
	    cmocka_unit_test(test_gossip_stored),
	    cmocka_unit_test(test_evolution_renamed_type),
	    cmocka_unit_test(test_gossip_invalid),
	    cmocka_unit_test(test_gossip_hostile),
	    cmocka_unit_test(test_replicate_hint_for),
	    cmocka_unit_test(test_direct_from_older_release),
	    cmocka_unit_test(test_hint_roundtrip),
	    cmocka_unit_test(test_hint_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
