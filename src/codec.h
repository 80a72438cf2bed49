/* codec.h -- the Avro encodings of records that leave memory.
 *
 * Every record that is written to disk or sent to another process goes
 * through here, so there is one place that knows the schemas in the .avsc
 * files of src/schemas/ (compiled into the binary by the build). A struct
 * codec holds the parsed schemas and a reusable Avro value instance for
 * the ring, the one record that goes through Avro C's generic values;
 * objects and contexts, which every request handles, are read and written
 * directly in Avro's binary encoding (avro_bin.h), the same bytes Avro C
 * would give.
 * It is not thread-safe: create one per thread.
 *
 * Decoding never trusts its input: truncated, overlong or inconsistent
 * bytes give RKV_ECORRUPT (objects, rings) or RKV_ECONTEXT (contexts),
 * never a crash nor an allocation out of proportion to the input, and
 * decoded objects pass dvv_validate(), decoded rings ring_validate().
 */
#ifndef RKV_CODEC_H
#define RKV_CODEC_H

#include "dvv.h"

#include <avro.h>

#include <stddef.h>
#include <stdint.h>

struct codec;
struct ring; /* ring/ring.h */

/* The longest X-Context text codec_context_decode accepts: the base64url of
 * the largest valid context (DVV_MAX_ENTRIES entries of two 10-byte
 * varints), rounded up. The HTTP API's header limits must allow it. */
#define CODEC_MAX_CONTEXT_TEXT 28672

/* codec_new -- parse the built-in schemas. NULL on failure (logged). */
struct codec *codec_new(void);

/* codec_free -- NULL is a no-op. */
void codec_free(struct codec *c);

/* codec_object_encode -- Avro bytes of a stored object (schema
 * src/schemas/object.avsc) in *out, malloc'ed, owned by the caller: the
 * bytes Avro C's generic writer gives (each non-empty array in one block).
 * 0, RKV_EINVAL (d fails dvv_validate) or RKV_ENOMEM. */
int codec_object_encode(struct codec *c, const struct dvv *d, uint8_t **out,
                        size_t *len);

/* codec_object_size, codec_object_write -- the same bytes, written into a
 * record that carries the object (msg.c) instead of a buffer of their
 * own. codec_object_size gives their number in *size: 0, or RKV_EINVAL
 * when d fails dvv_validate. codec_object_write writes them at p, which
 * must have room for that many, and returns the end of what it wrote;
 * d must be unchanged since it was measured. d is only read. */
int codec_object_size(const struct dvv *d, size_t *size);
uint8_t *codec_object_write(const struct dvv *d, uint8_t *p);

/* codec_object_decode -- the object those bytes hold, in *out (caller frees
 * with dvv_free; nothing in it points into buf). Any Avro encoding of the
 * schema is read, not only the one codec_object_encode writes: arrays in
 * several blocks and blocks with a negative count and a byte size too.
 * 0 or RKV_ENOMEM, or RKV_ECORRUPT for bytes that are not exactly one
 * such record (truncated, trailing bytes, a length or count beyond the
 * input, a block whose byte size is not that of its items, a varint over
 * 64 bits, a boolean not 0 or 1, a content type longer than
 * DVV_MAX_CONTENT_TYPE or with a NUL inside) or whose object breaks a DVV
 * limit or fails dvv_validate(). *out is NULL on error. */
int codec_object_decode(struct codec *c, const void *buf, size_t len,
                        struct dvv **out);

/* codec_context_encode -- the opaque X-Context text of a causal context:
 * base64url (no padding) of its Avro encoding (src/schemas/context.avsc),
 * malloc'ed NUL-terminated in *out. An empty context encodes too ("AA").
 * 0, RKV_EINVAL (vv fails dvv_vv_validate) or RKV_ENOMEM. */
int codec_context_encode(struct codec *c, const struct dvv_vv *vv, char **out);

/* codec_context_decode -- parse an X-Context text into *out (caller deinits).
 * 0, or RKV_ECONTEXT for anything that is not a valid context (bad
 * base64url, bad Avro, trailing bytes, ids not increasing, longer than
 * CODEC_MAX_CONTEXT_TEXT); an array split into blocks, as Avro allows, is
 * read. Or RKV_ENOMEM. *out is left empty on
 * error. */
int codec_context_decode(struct codec *c, const char *text, struct dvv_vv *out);

/* codec_ring_encode -- Avro bytes of a ring (schema src/schemas/ring.avsc):
 * Q, then per partition its owner, next owner, version and writer, each
 * node by name (an unclaimed ring encodes too, with null names). Names no
 * partition mentions are not written, and the name table's order is not
 * kept: the decoded ring is ring_equal() to r, not identical. *out is
 * malloc'ed and owned by the caller. 0, RKV_EINVAL (r fails
 * ring_validate) or RKV_ENOMEM. r is only read. */
int codec_ring_encode(struct codec *c, const struct ring *r, uint8_t **out,
                      size_t *len);

/* codec_ring_decode -- the ring those bytes hold, in *out: a new ring the
 * caller frees with ring_free(), passing ring_validate(). 0, RKV_ENOMEM, or
 * RKV_ECORRUPT for anything this codec would not write: bad Avro or
 * trailing bytes, a size that is not a valid ring size or not the number
 * of partitions, a name that fails ring_name_valid (a NUL inside
 * included), more than RING_MAX_NODES distinct names, a partition that is
 * inconsistent (an owner at version 0, next owner equal to owner, a
 * writer missing) or claimed and unclaimed partitions mixed. *out is NULL
 * on error. */
int codec_ring_decode(struct codec *c, const void *buf, size_t len,
                      struct ring **out);

/* codec_value_encode -- the Avro binary encoding of v, written through
 * writer (a memory writer the caller keeps and reuses), in *out:
 * malloc'ed, the caller frees it. The one encoding path of codec.c and
 * msg.c. 0 or RKV_ENOMEM. */
int codec_value_encode(avro_writer_t writer, avro_value_t *v, uint8_t **out,
                       size_t *len);

#endif
