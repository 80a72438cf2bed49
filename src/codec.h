/* codec.h -- the Avro encodings of records that leave memory.
 *
 * Every record that is written to disk or sent to another process goes
 * through here, so there is one place that knows the schemas in
 * src/schemas/*.avsc (compiled into the binary by the build). A struct codec
 * holds the parsed schemas and one reusable Avro value instance per record
 * type: it is not thread-safe, create one per thread.
 *
 * Decoding never trusts its input: truncated, overlong or inconsistent
 * bytes give RKV_ECORRUPT (objects) or RKV_ECONTEXT (contexts), never a
 * crash, and decoded objects pass dvv_validate().
 */
#ifndef RKV_CODEC_H
#define RKV_CODEC_H

#include "dvv.h"

#include <stddef.h>
#include <stdint.h>

struct codec;

/* codec_new -- parse the built-in schemas. NULL on failure (logged). */
struct codec *codec_new(void);

/* codec_free -- NULL is a no-op. */
void codec_free(struct codec *c);

/* codec_object_encode -- Avro bytes of a stored object (schema
 * src/schemas/object.avsc) in *out, malloc'ed, owned by the caller.
 * 0, RKV_EINVAL (d fails dvv_validate) or RKV_ENOMEM. */
int codec_object_encode(struct codec *c, const struct dvv *d, uint8_t **out,
			size_t *len);

/* codec_object_decode -- the object those bytes hold, in *out (caller frees
 * with dvv_free). 0 or RKV_ECORRUPT or RKV_ENOMEM; *out is NULL on error. */
int codec_object_decode(struct codec *c, const void *buf, size_t len,
			struct dvv **out);

/* codec_context_encode -- the opaque X-Context text of a causal context:
 * base64url (no padding) of its Avro encoding (src/schemas/context.avsc),
 * malloc'ed NUL-terminated in *out. An empty context encodes too.
 * 0 or RKV_ENOMEM. */
int codec_context_encode(struct codec *c, const struct dvv_vv *vv, char **out);

/* codec_context_decode -- parse an X-Context text into *out (caller deinits).
 * 0, or RKV_ECONTEXT for anything that is not a context this codec wrote
 * (bad base64url, bad Avro, trailing bytes, ids not increasing), or
 * RKV_ENOMEM. *out is left empty on error. */
int codec_context_decode(struct codec *c, const char *text, struct dvv_vv *out);

#endif
