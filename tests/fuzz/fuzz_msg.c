/* fuzz_msg.c -- libFuzzer harness of every internode message decoder
 * (src/msg.c), read with our own schemas.
 *
 * The first byte of an input picks the decoder (enum fuzz_msg_sel in
 * fuzz.h, modulo FUZZ_MSG_COUNT), the rest is the frame body it decodes:
 * what any process that reaches the rpc port can send. A HELLO that
 * decodes builds a peer from the schemas it carries, and every decoder is
 * then run through that peer (fuzz.c); fuzz_peer.c goes deeper into that
 * path.
 *
 * Run it with scripts/fuzz.sh, or, built, as
 *   fuzz_msg CORPUS_DIR        fuzz, growing CORPUS_DIR
 *   fuzz_msg FILE...           run the inputs once (a crash reproducer)
 */
#include "tests/fuzz/fuzz.h"

#include "logging.h"

#include <string.h>

static struct msg_codec *mc;

/* LeakSanitizer does not find Avro C's pointers to memory its values
 * hold (the codec's defaults, the values it reuses) and, at exit, reports
 * that memory as leaked while the codec lives: freed, the codec leaves
 * the check only what inputs lost. */
static void fini(void)
{
	msg_codec_free(mc);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_ERROR);
	mc = msg_codec_new();
	FUZZ_CHECK(mc != NULL);
	atexit(fini);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *body = NULL;
	size_t len = 0;

	if (size == 0)
		return 0;
	/* A copy of exactly the body, so that a read past it hits the
	 * sanitizer's guard; an empty body is NULL, which the decoders take
	 * with a zero length. */
	len = size - 1;
	if (len > 0) {
		body = malloc(len);
		FUZZ_CHECK(body != NULL);
		memcpy(body, data + 1, len);
	}
	fuzz_msg_decode(mc, NULL, (enum fuzz_msg_sel)(data[0] % FUZZ_MSG_COUNT),
	                body, len);
	free(body);
	return 0;
}
