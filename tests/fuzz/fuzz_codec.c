/* fuzz_codec.c -- libFuzzer harness of the stored encodings (src/codec.c).
 *
 * The first byte of an input picks the decoder (modulo 3): 0 an object as
 * LMDB holds it, 1 an X-Context header, 2 a ring as a node stores and
 * gossips it; the rest is what it decodes. An object that decodes is also
 * joined, copied and synced with its own round trip, since a replica
 * merges what a peer sent it with what it holds.
 *
 * Run it with scripts/fuzz.sh, or, built, as
 *   fuzz_codec CORPUS_DIR        fuzz, growing CORPUS_DIR
 *   fuzz_codec FILE...           run the inputs once (a crash reproducer)
 */
#include "tests/fuzz/fuzz.h"

#include "codec.h"
#include "dvv.h"
#include "logging.h"
#include "ring/ring.h"
#include "status.h"

#include <string.h>

static struct codec *codec;

/* Freed at exit for the leak check, as in fuzz_msg.c. */
static void fini(void)
{
	codec_free(codec);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR);
	codec = codec_new();
	FUZZ_CHECK(codec != NULL);
	atexit(fini);
	return 0;
}

static void fuzz_object(const uint8_t *buf, size_t len)
{
	struct dvv *d = NULL, *back = NULL, *merged = NULL;
	struct dvv_vv vv = {0};
	uint8_t *enc = NULL;
	size_t elen = 0;
	int rc = codec_object_decode(codec, buf, len, &d);

	if (rc != 0) {
		FUZZ_CHECK(d == NULL);
		FUZZ_CHECK(rc == RKV_ECORRUPT || rc == RKV_ENOMEM);
		return;
	}
	FUZZ_CHECK(dvv_validate(d) == 0);
	FUZZ_CHECK(codec_object_encode(codec, d, &enc, &elen) == 0);
	FUZZ_CHECK(codec_object_decode(codec, enc, elen, &back) == 0);
	FUZZ_CHECK(dvv_equal(d, back));
	if (dvv_join(d, &vv) == 0)
		dvv_vv_deinit(&vv);
	merged = dvv_dup(d);
	if (merged != NULL && dvv_sync(merged, back) == 0)
		FUZZ_CHECK(dvv_validate(merged) == 0);
	dvv_free(merged);
	dvv_free(back);
	dvv_free(d);
	free(enc);
}

/* The context decoder takes a C string, as evhttp hands over a header. */
static void fuzz_context(const uint8_t *buf, size_t len)
{
	char *text = malloc(len + 1), *enc = NULL;
	struct dvv_vv vv, back;

	FUZZ_CHECK(text != NULL);
	if (len > 0)
		memcpy(text, buf, len);
	text[len] = '\0';
	if (codec_context_decode(codec, text, &vv) != 0) {
		FUZZ_CHECK(vv.n == 0 && vv.e == NULL);
		free(text);
		return;
	}
	FUZZ_CHECK(dvv_vv_validate(&vv) == 0);
	FUZZ_CHECK(codec_context_encode(codec, &vv, &enc) == 0);
	FUZZ_CHECK(codec_context_decode(codec, enc, &back) == 0);
	FUZZ_CHECK(back.n == vv.n);
	dvv_vv_deinit(&back);
	dvv_vv_deinit(&vv);
	free(enc);
	free(text);
}

static void fuzz_ring(const uint8_t *buf, size_t len)
{
	struct ring *r = NULL, *back = NULL;
	uint8_t *enc = NULL;
	size_t elen = 0;

	if (codec_ring_decode(codec, buf, len, &r) != 0) {
		FUZZ_CHECK(r == NULL);
		return;
	}
	FUZZ_CHECK(ring_validate(r) == 0);
	FUZZ_CHECK(codec_ring_encode(codec, r, &enc, &elen) == 0);
	FUZZ_CHECK(codec_ring_decode(codec, enc, elen, &back) == 0);
	FUZZ_CHECK(ring_equal(r, back));
	FUZZ_CHECK(ring_digest(r) == ring_digest(back));
	ring_free(back);
	ring_free(r);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = NULL;
	size_t len = 0;

	if (size == 0)
		return 0;
	/* A copy of exactly the body, so that a read past it hits the
	 * sanitizer's guard; an empty body is NULL, which the decoders take
	 * with a zero length. */
	len = size - 1;
	if (len > 0) {
		buf = malloc(len);
		FUZZ_CHECK(buf != NULL);
		memcpy(buf, data + 1, len);
	}
	switch (data[0] % 3) {
	case 0: fuzz_object(buf, len); break;
	case 1: fuzz_context(buf, len); break;
	case 2: fuzz_ring(buf, len); break;
	}
	free(buf);
	return 0;
}
