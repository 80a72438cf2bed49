/* seeds.c -- the seed corpora of the fuzz harnesses.
 *
 * usage: fuzz_seeds DATA_DIR OUT_DIR
 *   writes OUT_DIR/codec, OUT_DIR/msg and OUT_DIR/peer (which must exist),
 *   reading the golden files of DATA_DIR (tests/data).
 *
 * libFuzzer finds its way through Avro's lengths and counts far sooner
 * from valid inputs than from nothing, so each decoder gets what our
 * encoders write (objects with siblings and tombstones, contexts, rings
 * unclaimed and claimed, every message) and the golden files older
 * releases wrote. A peer seed announces, for each message type, our schema
 * with one field more and a body with that field, as a newer release
 * would send them, and the schemas and bodies of tests/data's older
 * release. scripts/fuzz.sh runs this before the harnesses.
 */
#include "tests/fuzz/fuzz.h"

#include "codec.h"
#include "dvv.h"
#include "ring/ring.h"
#include "schemas.h"
#include "status.h"

#include <avro.h>
#include <string.h>

#define MAX_SEEDS 32

static const char *data_dir, *out_dir;

/* The message seeds, kept for the peer seeds' bodies. */
static struct seed {
	const char *name;
	enum fuzz_msg_sel sel;
	uint8_t *buf;
	size_t len;
} msgs[MAX_SEEDS];
static size_t nmsgs;

static void put(const char *dir, const char *name, const uint8_t *head,
                size_t hlen, const void *buf, size_t len)
{
	char path[4096];
	FILE *f = NULL;

	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, dir, name);
	f = fopen(path, "wb");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	FUZZ_CHECK(fwrite(head, 1, hlen, f) == hlen);
	FUZZ_CHECK(fwrite(buf, 1, len, f) == len);
	FUZZ_CHECK(fclose(f) == 0);
}

static uint8_t *slurp(const char *name, size_t *len)
{
	char path[4096];
	uint8_t *buf = NULL;
	FILE *f = NULL;
	long size = 0;

	snprintf(path, sizeof(path), "%s/%s", data_dir, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	FUZZ_CHECK(fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0);
	rewind(f);
	buf = malloc((size_t)size + 1);
	FUZZ_CHECK(buf != NULL);
	FUZZ_CHECK(fread(buf, 1, (size_t)size, f) == (size_t)size);
	fclose(f);
	*len = (size_t)size;
	return buf;
}

static void put_codec(const char *name, uint8_t sel, uint8_t *buf, size_t len)
{
	put("codec", name, &sel, 1, buf, len);
	free(buf);
}

/* Takes buf. */
static void put_msg(const char *name, enum fuzz_msg_sel sel, uint8_t *buf,
                    size_t len)
{
	uint8_t head = (uint8_t)sel;

	FUZZ_CHECK(nmsgs < MAX_SEEDS);
	put("msg", name, &head, 1, buf, len);
	msgs[nmsgs++] = (struct seed){name, sel, buf, len};
}

static void put_peer(const char *name, size_t stem, const char *json,
                     size_t jlen, const uint8_t *body, size_t blen)
{
	uint8_t head[FUZZ_PEER_HEADER] = {(uint8_t)stem, (uint8_t)jlen,
	                                  (uint8_t)(jlen >> 8)};
	uint8_t *buf = malloc(jlen + blen + 1);

	FUZZ_CHECK(buf != NULL && jlen <= 0xffff);
	memcpy(buf, json, jlen);
	memcpy(buf + jlen, body, blen);
	put("peer", name, head, sizeof(head), buf, jlen + blen);
	free(buf);
}

static void value_init(struct dvv_value *v, const char *data, const char *ctype,
                       uint64_t ts, bool tombstone)
{
	const struct dvv_value from = {
	    .data = (uint8_t *)data,
	    .len = data != NULL ? strlen(data) : 0,
	    .content_type = (char *)ctype,
	    .timestamp_ms = ts,
	    .tombstone = tombstone,
	};

	FUZZ_CHECK(dvv_value_copy(v, &from) == 0);
}

/* Two actors' siblings, one of them a tombstone, an empty value, and an
 * anonymous value: every branch of the object encoding. */
static struct dvv *sample_object(void)
{
	struct dvv *d = dvv_new();
	struct dvv_entry *e = NULL;

	FUZZ_CHECK(d != NULL);
	d->nentries = 2;
	d->entries = calloc(2, sizeof(*d->entries));
	FUZZ_CHECK(d->entries != NULL);
	e = &d->entries[0];
	e->id = 7;
	e->counter = 4;
	e->nvalues = 2;
	e->values = calloc(2, sizeof(*e->values));
	FUZZ_CHECK(e->values != NULL);
	value_init(&e->values[0], "v4", "text/plain", 1700000000004u, false);
	value_init(&e->values[1], NULL, "text/plain", 1700000000003u, true);
	e = &d->entries[1];
	e->id = UINT64_C(0x8000000000000001);
	e->counter = 1;
	e->nvalues = 1;
	e->values = calloc(1, sizeof(*e->values));
	FUZZ_CHECK(e->values != NULL);
	value_init(&e->values[0], "", "application/json", 1700000000001u,
	           false);
	d->nanon = 1;
	d->anon = calloc(1, sizeof(*d->anon));
	FUZZ_CHECK(d->anon != NULL);
	value_init(&d->anon[0], "old", "text/plain", 1600000000000u, false);
	FUZZ_CHECK(dvv_validate(d) == 0);
	return d;
}

static void codec_seeds(struct codec *c, const struct dvv *obj,
                        struct dvv *empty, const struct ring *claimed)
{
	struct dvv_vv vv = {0}, none = {0};
	struct ring *r = NULL;
	uint8_t *buf = NULL;
	char *text = NULL;
	size_t len = 0;

	FUZZ_CHECK(codec_object_encode(c, obj, &buf, &len) == 0);
	put_codec("object", 0, buf, len);
	FUZZ_CHECK(codec_object_encode(c, empty, &buf, &len) == 0);
	put_codec("object_empty", 0, buf, len);
	buf = slurp("object-v1.avro", &len);
	put_codec("object_v1", 0, buf, len);

	FUZZ_CHECK(dvv_join(obj, &vv) == 0);
	FUZZ_CHECK(codec_context_encode(c, &vv, &text) == 0);
	put_codec("context", 1, (uint8_t *)text, strlen(text));
	FUZZ_CHECK(codec_context_encode(c, &none, &text) == 0);
	put_codec("context_empty", 1, (uint8_t *)text, strlen(text));
	dvv_vv_deinit(&vv);

	buf = slurp("ring-v1.avro", &len);
	put_codec("ring_v1", 2, buf, len);
	FUZZ_CHECK(ring_new(8, &r) == 0);
	FUZZ_CHECK(codec_ring_encode(c, r, &buf, &len) == 0);
	put_codec("ring_unclaimed", 2, buf, len);
	ring_free(r);
	FUZZ_CHECK(codec_ring_encode(c, claimed, &buf, &len) == 0);
	put_codec("ring_claimed", 2, buf, len);
}

static void msg_seeds(struct msg_codec *mc, const struct dvv *obj,
                      const struct dvv *empty, const struct ring *claimed,
                      struct codec *c)
{
	static uint8_t key[] = "some-key";
	struct msg_replicate rep = {
	    .partition = 5, .key = key, .klen = 8, .obj = (struct dvv *)obj};
	struct msg_fetch fetch = {
	    .partition = 3, .key = key, .klen = 8, .digest = true};
	struct msg_forward fwd = {
	    .key = key, .klen = 8, .w = 2, .pw = 1, .timeout_ms = 500};
	struct msg_hint_entry entries[] = {
	    {.partition = 1, .key = key, .klen = 8, .obj = (struct dvv *)obj},
	    {.partition = 2, .key = key, .klen = 3, .obj = (struct dvv *)empty},
	};
	struct msg_hint hint = {.target_id = 42, .entries = entries, .n = 2};
	struct msg_status counts = {
	    .status = RKV_EQUORUM, .needed = 2, .acked = 1};
	struct msg_status with_obj = {
	    .needed = 2, .acked = 1, .obj = (struct dvv *)obj};
	struct msg_status with_digest = {.status = RKV_ENOTFOUND,
	                                 .needed = 2,
	                                 .acked = 1,
	                                 .has_digest = true,
	                                 .digest = 0xdeadbeefcafe};
	struct gossip_member members[] = {
	    {.id = 1,
	     .name = "node-a",
	     .addr = "127.0.0.1:8001",
	     .http = "127.0.0.1:9001",
	     .status = 1,
	     .generation = 3,
	     .version = 9},
	    {.id = 2,
	     .name = "node-b",
	     .addr = "127.0.0.1:8002",
	     .http = "",
	     .status = 0,
	     .generation = 1,
	     .version = 1},
	};
	struct msg_gossip gossip = {
	    .ring_size = 8, .members = members, .nmembers = 2};
	struct msg_hello hello = {.node_id = UINT64_C(0xfedcba9876543210)};
	uint8_t *buf = NULL, *ring = NULL;
	size_t len = 0;

	FUZZ_CHECK(msg_encode_replicate(mc, &rep, &buf, &len) == 0);
	put_msg("replicate", FUZZ_REPLICATE, buf, len);
	strcpy(rep.hint_for, "node-b");
	FUZZ_CHECK(msg_encode_replicate(mc, &rep, &buf, &len) == 0);
	put_msg("replicate_hint", FUZZ_REPLICATE, buf, len);
	FUZZ_CHECK(msg_encode_fetch(mc, &fetch, &buf, &len) == 0);
	put_msg("fetch", FUZZ_FETCH, buf, len);
	FUZZ_CHECK(dvv_join(obj, &fwd.ctx) == 0);
	value_init(&fwd.value, "hello", "text/plain", 123456, false);
	FUZZ_CHECK(msg_encode_forward(mc, &fwd, &buf, &len) == 0);
	put_msg("forward", FUZZ_FORWARD, buf, len);
	dvv_vv_deinit(&fwd.ctx);
	dvv_value_deinit(&fwd.value);
	strcpy(hint.target, "node-c");
	FUZZ_CHECK(msg_encode_hint(mc, &hint, &buf, &len) == 0);
	put_msg("hint", FUZZ_HINT, buf, len);
	FUZZ_CHECK(msg_encode_status(mc, MSG_REPLICATE, &counts, &buf, &len) ==
	           0);
	put_msg("status_replicate", FUZZ_STATUS_REPLICATE, buf, len);
	FUZZ_CHECK(msg_encode_status(mc, MSG_FETCH, &with_obj, &buf, &len) ==
	           0);
	put_msg("status_fetch_object", FUZZ_STATUS_FETCH, buf, len);
	FUZZ_CHECK(msg_encode_status(mc, MSG_FETCH, &with_digest, &buf, &len) ==
	           0);
	put_msg("status_fetch_digest", FUZZ_STATUS_FETCH, buf, len);
	FUZZ_CHECK(msg_encode_status(mc, MSG_FORWARD, &with_obj, &buf, &len) ==
	           0);
	put_msg("status_forward", FUZZ_STATUS_FORWARD, buf, len);
	FUZZ_CHECK(msg_encode_status(mc, MSG_HINT, &counts, &buf, &len) == 0);
	put_msg("status_hint", FUZZ_STATUS_HINT, buf, len);

	strcpy(gossip.cluster_name, "ringkv-fuzz");
	FUZZ_CHECK(codec_ring_encode(c, claimed, &ring, &gossip.ring_len) == 0);
	gossip.ring = ring;
	gossip.ring_digest = ring_digest(claimed);
	FUZZ_CHECK(msg_encode_gossip(mc, MSG_GOSSIP, &gossip, &buf, &len) == 0);
	put_msg("gossip", FUZZ_GOSSIP, buf, len);
	gossip.status = RKV_EINVAL;
	FUZZ_CHECK(msg_encode_gossip(mc, MSG_GOSSIP | MSG_REPLY_BIT, &gossip,
	                             &buf, &len) == 0);
	put_msg("gossip_reply", FUZZ_GOSSIP_REPLY, buf, len);
	gossip.status = 0;
	gossip.ring = NULL;
	gossip.ring_len = 0;
	FUZZ_CHECK(msg_encode_gossip_stored(mc, &gossip, &buf, &len) == 0);
	put_msg("gossip_stored", FUZZ_GOSSIP_STORED, buf, len);
	buf = slurp("msg_gossip_v0.bin", &len);
	put_msg("gossip_stored_v0", FUZZ_GOSSIP_STORED, buf, len);
	free(ring);

	strcpy(hello.cluster_name, "ringkv-fuzz");
	strcpy(hello.name, "node-a");
	strcpy(hello.rpc_addr, "127.0.0.1:8099");
	FUZZ_CHECK(msg_encode_hello(mc, &hello, &buf, &len) == 0);
	put_msg("hello", FUZZ_HELLO, buf, len);
}

/* Avro's zig-zag varint of v at p; the bytes written. */
static size_t seed_long(uint8_t *p, int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	size_t n = 0;

	for (; z >= 0x80; z >>= 7)
		p[n++] = (uint8_t)(z | 0x80);
	p[n++] = (uint8_t)z;
	return n;
}

static size_t seed_string(uint8_t *p, const char *s)
{
	size_t n = seed_long(p, (int64_t)strlen(s));

	memcpy(p + n, s, strlen(s));
	return n + strlen(s);
}

/* The body of a message with sel, as the message seeds have it; for the
 * HELLO, the body inside its envelope (a HelloBody, written here field
 * by field). */
static size_t body_of(enum fuzz_msg_sel sel, uint8_t *out, size_t cap)
{
	size_t n = 0;

	if (sel == FUZZ_HELLO) {
		n += seed_string(out + n, "ringkv-fuzz");
		n += seed_string(out + n, "node-a");
		n += seed_string(out + n, "127.0.0.1:8099");
		return n + seed_long(out + n, 1);
	}
	for (size_t i = 0; i < nmsgs; i++) {
		if (msgs[i].sel != sel)
			continue;
		FUZZ_CHECK(msgs[i].len <= cap);
		memcpy(out, msgs[i].buf, msgs[i].len);
		return msgs[i].len;
	}
	fprintf(stderr, "fuzz_seeds: no message seed of selector %d\n", sel);
	exit(1);
}

static void peer_seeds(void)
{
	static const struct {
		const char *name, *schema, *body;
		const char *stem;
	} older[] = {
	    {"forward_v0", "msg_forward_v0.avsc", "msg_forward_v0.bin",
	     "forward"},
	    {"gossip_v0", "msg_gossip_v0.avsc", "msg_gossip_v0.bin", "gossip"},
	};
	static char json[65536];
	static uint8_t body[65536];
	char name[64];

	for (size_t s = 0; s < FUZZ_STEM_COUNT; s++) {
		const char *text = fuzz_stems[s].schema;
		avro_schema_t schema = NULL;
		avro_writer_t w = NULL;
		size_t jlen = 0, blen = 0;

		FUZZ_CHECK(avro_schema_from_json_length(text, strlen(text),
		                                        &schema) == 0);
		FUZZ_CHECK(avro_schema_record_field_append(
		               schema, "fuzz_extra", avro_schema_long()) == 0);
		w = avro_writer_memory(json, sizeof(json));
		FUZZ_CHECK(avro_schema_to_json(schema, w) == 0);
		jlen = (size_t)avro_writer_tell(w);
		avro_writer_free(w);
		avro_schema_decref(schema);
		blen = body_of(fuzz_stems[s].sel, body, sizeof(body) - 10);
		blen += seed_long(body + blen, 42);
		snprintf(name, sizeof(name), "newer_%s", fuzz_stems[s].stem);
		put_peer(name, s, json, jlen, body, blen);
	}
	for (size_t i = 0; i < sizeof(older) / sizeof(older[0]); i++) {
		size_t jlen = 0, blen = 0, s = 0;
		uint8_t *j = slurp(older[i].schema, &jlen);
		uint8_t *b = slurp(older[i].body, &blen);
		while (strcmp(fuzz_stems[s].stem, older[i].stem) != 0)
			s++;
		put_peer(older[i].name, s, (const char *)j, jlen, b, blen);
		free(j);
		free(b);
	}
}

int main(int argc, char **argv)
{
	static const char *const names[] = {"node-a", "node-b", "node-c"};
	struct codec *c = codec_new();
	struct msg_codec *mc = msg_codec_new();
	struct dvv *obj = NULL, *empty = dvv_new();
	struct ring *unclaimed = NULL, *claimed = NULL;

	if (argc != 3) {
		fprintf(stderr, "usage: fuzz_seeds DATA_DIR OUT_DIR\n");
		return 2;
	}
	data_dir = argv[1];
	out_dir = argv[2];
	FUZZ_CHECK(c != NULL && mc != NULL && empty != NULL);
	obj = sample_object();
	FUZZ_CHECK(ring_new(8, &unclaimed) == 0);
	FUZZ_CHECK(ring_claim(unclaimed, names, 3, 3, &claimed) == 0);

	codec_seeds(c, obj, empty, claimed);
	msg_seeds(mc, obj, empty, claimed, c);
	peer_seeds();

	for (size_t i = 0; i < nmsgs; i++)
		free(msgs[i].buf);
	ring_free(claimed);
	ring_free(unclaimed);
	dvv_free(empty);
	dvv_free(obj);
	msg_codec_free(mc);
	codec_free(c);
	return 0;
}
