/* fuzz.h -- what the libFuzzer harnesses in tests/fuzz share.
 *
 * Each harness hands a decoder bytes a disk or a peer could send. A decode
 * may refuse them, but must neither crash, leak nor trip a sanitizer, must
 * leave its output empty when it refuses, and what it accepts must encode
 * again and decode to the same thing. FUZZ_CHECK aborts when one of these
 * fails, which libFuzzer reports as a crash and saves the input of.
 * scripts/fuzz.sh builds the harnesses, generates their seeds (seeds.c)
 * and runs them; docs/fuzzing.md tells what they found.
 */
#ifndef RKV_FUZZ_H
#define RKV_FUZZ_H

#include "msg.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
			        __LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* The decoder an input of fuzz_msg picks with its first byte (modulo
 * FUZZ_MSG_COUNT). The values are part of the input format: saved inputs
 * and crash reproducers stop meaning the same thing if they change. The
 * status decoder is fuzzed with each request type, the reply bit set, and
 * types that have no reply schema (which it must refuse). */
enum fuzz_msg_sel {
	FUZZ_REPLICATE,
	FUZZ_FETCH,
	FUZZ_FORWARD,
	FUZZ_HINT,
	FUZZ_STATUS_REPLICATE,
	FUZZ_STATUS_FETCH,
	FUZZ_STATUS_FORWARD,
	FUZZ_STATUS_HINT,
	FUZZ_STATUS_REPLY_BIT,
	FUZZ_STATUS_HELLO,
	FUZZ_STATUS_GOSSIP,
	FUZZ_STATUS_ZERO,
	FUZZ_GOSSIP,
	FUZZ_GOSSIP_REPLY,
	FUZZ_GOSSIP_STORED,
	FUZZ_HELLO,
	FUZZ_MSG_COUNT
};

/* fuzz_msg_decode -- decode buf with the decoder sel picks, as written by
 * peer (NULL: with our own schemas), and check what it answers (see the
 * top of this file). A HELLO that decodes is used as a peer in turn. */
void fuzz_msg_decode(struct msg_codec *mc, const struct msg_peer *peer,
                     enum fuzz_msg_sel sel, const uint8_t *buf, size_t len);

/* The message schemas a HELLO announces, in the order of the first byte
 * of a fuzz_peer input (modulo FUZZ_STEM_COUNT; as above, the order is
 * part of the input format), each with our own schema text and the
 * decoder of its bodies. FUZZ_HELLO stands for the HELLO's own body. */
struct fuzz_stem {
	const char *stem;
	const char *schema;
	enum fuzz_msg_sel sel;
};

#define FUZZ_STEM_COUNT 11
extern const struct fuzz_stem fuzz_stems[FUZZ_STEM_COUNT];

/* A fuzz_peer input: [stem][json length, 16 bits little-endian][json]
 * [body]. A length past the end means the rest is json and the body is
 * empty. */
#define FUZZ_PEER_HEADER 3

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
