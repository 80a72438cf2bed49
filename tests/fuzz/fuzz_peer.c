/* fuzz_peer.c -- libFuzzer harness of the rolling-upgrade path: a peer's
 * schema, as its HELLO announces it, then a body read through it
 * (msg_decode_hello's resolvers in src/msg.c).
 *
 * Mutating whole HELLOs, fuzz_msg seldom changes a schema while keeping
 * the envelope and the schema's fingerprint valid, so here the input
 * supplies only the schema text of one message type and a
 * body (the format is at FUZZ_PEER_HEADER in fuzz.h). The harness puts
 * the text into our own HELLO, in place of our schema for that type and
 * with its fingerprint, decodes that HELLO, and decodes the body with the
 * peer it built, through the decoder of that type (fuzz.c). For the
 * HELLO's own body schema the body goes into the HELLO itself. Anything
 * that can reach the rpc port can send such a HELLO: a schema may make
 * the peer's bodies of that type unreadable, but must not crash the node,
 * leak, or cost it more than a moment and a little memory (libFuzzer's
 * -timeout and -rss_limit_mb, as scripts/fuzz.sh sets them, catch those).
 *
 * Run it with scripts/fuzz.sh, or, built, as
 *   fuzz_peer CORPUS_DIR        fuzz, growing CORPUS_DIR
 *   fuzz_peer FILE...           run the inputs once (a crash reproducer)
 */
#include "tests/fuzz/fuzz.h"

#include "logging.h"
#include "schemas.h"

#include <avro.h>
#include <stdbool.h>
#include <string.h>
#include <xxhash.h>

static struct msg_codec *mc;

/* Our HELLO as a generic value, edited for each input and restored after:
 * its schema list and body as we send them, and where each stem is. */
static avro_value_iface_t *hello_iface;
static avro_value_t hello;
static avro_writer_t writer;
static size_t stem_index[FUZZ_STEM_COUNT];
static char *our_json[FUZZ_STEM_COUNT];
static int64_t our_fp[FUZZ_STEM_COUNT];
static void *our_body;
static size_t our_body_len;

static avro_value_t *field(avro_value_t *v, const char *name, avro_value_t *f)
{
	FUZZ_CHECK(avro_value_get_by_name(v, name, f, NULL) == 0);
	return f;
}

static void entry_of(size_t stem, avro_value_t *entry)
{
	avro_value_t list;

	FUZZ_CHECK(avro_value_get_by_index(field(&hello, "schemas", &list),
	                                   stem_index[stem], entry, NULL) == 0);
}

/* Note, for each stem of fuzz_stems, where our HELLO lists it and what it
 * says about it. */
static void hello_index(void)
{
	avro_value_t list, entry, f;
	const char *text = NULL;
	const void *body = NULL;
	size_t n = 0, size = 0;

	FUZZ_CHECK(avro_value_get_size(field(&hello, "schemas", &list), &n) ==
	           0);
	for (size_t s = 0; s < FUZZ_STEM_COUNT; s++) {
		size_t i = 0;
		for (; i < n; i++) {
			avro_value_get_by_index(&list, i, &entry, NULL);
			avro_value_get_string(field(&entry, "stem", &f), &text,
			                      &size);
			if (strcmp(text, fuzz_stems[s].stem) == 0)
				break;
		}
		FUZZ_CHECK(i < n);
		stem_index[s] = i;
		avro_value_get_string(field(&entry, "json", &f), &text, &size);
		our_json[s] = strdup(text);
		FUZZ_CHECK(our_json[s] != NULL);
		avro_value_get_long(field(&entry, "fingerprint", &f),
		                    &our_fp[s]);
	}
	avro_value_get_bytes(field(&hello, "body", &f), &body, &our_body_len);
	our_body = malloc(our_body_len);
	FUZZ_CHECK(our_body != NULL);
	memcpy(our_body, body, our_body_len);
}

/* Freed at exit for the leak check, as in fuzz_msg.c. */
static void fini(void)
{
	for (size_t s = 0; s < FUZZ_STEM_COUNT; s++)
		free(our_json[s]);
	free(our_body);
	avro_writer_free(writer);
	avro_value_decref(&hello);
	avro_value_iface_decref(hello_iface);
	msg_codec_free(mc);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct msg_hello h = {.node_id = 1};
	avro_schema_t schema = NULL;
	avro_reader_t reader = NULL;
	uint8_t *ours = NULL;
	size_t len = 0;

	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR);
	mc = msg_codec_new();
	FUZZ_CHECK(mc != NULL);
	strcpy(h.cluster_name, "ringkv-fuzz");
	strcpy(h.name, "node-a");
	strcpy(h.rpc_addr, "127.0.0.1:8099");
	FUZZ_CHECK(msg_encode_hello(mc, &h, &ours, &len) == 0);
	FUZZ_CHECK(avro_schema_from_json_length(rkv_schema_msg_hello,
	                                        strlen(rkv_schema_msg_hello),
	                                        &schema) == 0);
	hello_iface = avro_generic_class_from_schema(schema);
	FUZZ_CHECK(hello_iface != NULL);
	FUZZ_CHECK(avro_generic_value_new(hello_iface, &hello) == 0);
	reader = avro_reader_memory((const char *)ours, (int64_t)len);
	FUZZ_CHECK(avro_value_read(reader, &hello) == 0);
	avro_reader_free(reader);
	avro_schema_decref(schema);
	free(ours);
	hello_index();
	writer = avro_writer_memory("", 0);
	atexit(fini);
	return 0;
}

/* Our HELLO announcing json (jlen bytes, no NUL among them) for stem, and
 * carrying body as its own body when stem is the HELLO's. */
static uint8_t *hello_craft(size_t stem, const char *json, size_t jlen,
                            const uint8_t *body, size_t blen, size_t *len)
{
	bool own = fuzz_stems[stem].sel == FUZZ_HELLO;
	avro_value_t entry, f;
	uint8_t *out = NULL;
	size_t size = 0;

	entry_of(stem, &entry);
	avro_value_set_string_len(field(&entry, "json", &f), json, jlen + 1);
	avro_value_set_long(field(&entry, "fingerprint", &f),
	                    (int64_t)XXH3_64bits(json, jlen));
	if (own)
		avro_value_set_bytes(field(&hello, "body", &f), (void *)body,
		                     blen);
	FUZZ_CHECK(avro_value_sizeof(&hello, &size) == 0);
	out = malloc(size);
	FUZZ_CHECK(out != NULL);
	avro_writer_memory_set_dest(writer, (const char *)out, (int64_t)size);
	FUZZ_CHECK(avro_value_write(writer, &hello) == 0);
	*len = size;

	avro_value_set_string(field(&entry, "json", &f), our_json[stem]);
	avro_value_set_long(field(&entry, "fingerprint", &f), our_fp[stem]);
	if (own)
		avro_value_set_bytes(field(&hello, "body", &f), our_body,
		                     our_body_len);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_hello h;
	struct msg_peer *peer = NULL;
	uint8_t *hello_buf = NULL, *body = NULL;
	size_t stem = 0, jlen = 0, blen = 0, hlen = 0;
	char *json = NULL;

	if (size < FUZZ_PEER_HEADER)
		return 0;
	stem = data[0] % FUZZ_STEM_COUNT;
	jlen = (size_t)data[1] | (size_t)data[2] << 8;
	if (jlen > size - FUZZ_PEER_HEADER)
		jlen = size - FUZZ_PEER_HEADER;
	json = malloc(jlen + 1);
	FUZZ_CHECK(json != NULL);
	memcpy(json, data + FUZZ_PEER_HEADER, jlen);
	json[jlen] = '\0';
	blen = size - FUZZ_PEER_HEADER - jlen;
	if (blen > 0) {
		body = malloc(blen);
		FUZZ_CHECK(body != NULL);
		memcpy(body, data + FUZZ_PEER_HEADER + jlen, blen);
	}
	/* Cut at a NUL inside: Avro C takes the text as a C string. */
	hello_buf = hello_craft(stem, json, strlen(json), body, blen, &hlen);
	if (msg_decode_hello(mc, hello_buf, hlen, &h, &peer) == 0) {
		FUZZ_CHECK(peer != NULL);
		if (fuzz_stems[stem].sel != FUZZ_HELLO)
			fuzz_msg_decode(mc, peer, fuzz_stems[stem].sel, body,
			                blen);
	} else {
		FUZZ_CHECK(peer == NULL);
	}
	msg_peer_free(peer);
	free(hello_buf);
	free(body);
	free(json);
	return 0;
}
