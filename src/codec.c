/* codec.c -- Avro encodings of stored objects, causal contexts and rings.
 *
 * Avro's binary encoding is a schema-driven sequence of zig-zag varints
 * (long, and the length of bytes/string), single bytes (boolean) and arrays
 * written as blocks "count, count items, ..., 0". There are no field tags:
 * the schema alone says what comes next, which is why the schemas are
 * compiled into the binary and why old encodings are pinned by tests.
 *
 * Encoding walks a struct dvv into one reusable Avro generic value (bytes
 * and strings are lent to it, not copied), asks avro_value_sizeof() for the
 * exact size, and writes into one malloc'ed buffer through a memory writer.
 *
 * Decoding never hands untrusted bytes straight to Avro C: its reader
 * allocates whatever a length prefix claims before checking that the bytes
 * are there, and trusts array counts. So decoding is two passes:
 *
 *   1. codec_scan walks the bytes against the schema without allocating:
 *      every length must fit in what is left, every array count must fit
 *      the item budget (DVV limits), booleans must be 0 or 1, varints at
 *      most 10 bytes, and the walk must end exactly at the last byte.
 *   2. Only then Avro C reads the bytes into the reusable generic value,
 *      which is copied into a fresh struct dvv and checked by dvv_validate.
 *
 * The pass-1 bounds keep what pass 2 allocates proportional to the input.
 *
 * Ids and counters are u64 in memory and Avro longs on the wire: the bits
 * are kept as they are (a node id above 2^63 travels as a negative long).
 *
 * Contexts travel in an HTTP header, so their Avro bytes are wrapped in
 * base64url without padding (RFC 4648 section 5). The decoder is strict:
 * any character outside the alphabet, an impossible length or non-zero
 * leftover bits is refused, so one context has exactly one spelling.
 *
 * Rings are written partition by partition with the nodes by name, since
 * a ring's name indices mean nothing to another ring (ring/ring.h). A
 * decoded ring is rebuilt through ring_partition_set(), which interns the
 * names and refuses inconsistent entries, then checked by ring_validate().
 * Pass 1 bounds the partition count by RING_MAX_SIZE and, as for objects,
 * every item by the bytes that remain, so a hostile Q cannot make
 * ring_new() allocate: Q must equal the count of entries actually present.
 */
#include "codec.h"

#include "ring/ring.h"

#include "logging.h"
#include "schemas.h"
#include "status.h"

#include <assert.h>
#include <avro.h>
#include <stdlib.h>
#include <string.h>

/* Field positions in the schemas; codec_new checks them against the parsed
 * schemas, so editing an .avsc without this table fails at start-up. */
enum { OBJECT_ENTRIES, OBJECT_ANON, OBJECT_NFIELDS };
enum { ENTRY_ID, ENTRY_COUNTER, ENTRY_VALUES, ENTRY_NFIELDS };
enum {
	VALUE_DATA,
	VALUE_CTYPE,
	VALUE_TIMESTAMP,
	VALUE_TOMBSTONE,
	VALUE_NFIELDS
};
enum { CONTEXT_ENTRIES, CONTEXT_NFIELDS };
enum { CTXENTRY_ID, CTXENTRY_COUNTER, CTXENTRY_NFIELDS };
enum { RINGREC_SIZE, RINGREC_PARTITIONS, RINGREC_NFIELDS };
enum { RPART_OWNER, RPART_NEXT, RPART_VERSION, RPART_WRITER, RPART_NFIELDS };

static const char *const object_fields[] = {"entries", "anon"};
static const char *const entry_fields[] = {"id", "counter", "values"};
static const char *const value_fields[] = {"data", "content_type",
                                           "timestamp_ms", "tombstone"};
static const char *const context_fields[] = {"entries"};
static const char *const ctxentry_fields[] = {"id", "counter"};
static const char *const ring_fields[] = {"ring_size", "partitions"};
static const char *const rpart_fields[] = {"owner", "next_owner", "version",
                                           "writer"};

/* Nesting of our schemas is 4 deep; a bound keeps a schema that links to
 * itself from recursing without end. */
#define CODEC_MAX_DEPTH 16

/* A zig-zag varint of a 64-bit value takes at most 10 bytes. */
#define CODEC_MAX_VARINT 10

/* The largest Avro encoding of a valid context: the array's count and
 * terminator plus two longs per entry. */
#define CODEC_MAX_CONTEXT_BYTES                                                \
	(2 * CODEC_MAX_VARINT + DVV_MAX_ENTRIES * 2 * CODEC_MAX_VARINT)

static_assert(CODEC_MAX_CONTEXT_TEXT >= (CODEC_MAX_CONTEXT_BYTES * 4 + 2) / 3,
              "CODEC_MAX_CONTEXT_TEXT must hold the largest context");

struct codec {
	avro_schema_t object_schema;
	avro_schema_t context_schema;
	avro_schema_t ring_schema;
	avro_value_iface_t *object_iface;
	avro_value_iface_t *context_iface;
	avro_value_iface_t *ring_iface;
	avro_value_t object;  /* reused by every object encode/decode */
	avro_value_t context; /* reused by every context encode/decode */
	avro_value_t ring;    /* reused by every ring encode/decode */
	bool object_live;     /* the values above were created */
	bool context_live;
	bool ring_live;
	avro_reader_t reader; /* memory reader, re-pointed per decode */
	avro_writer_t writer; /* memory writer, re-pointed per encode */
};

/* Lent to Avro for empty byte strings, whose dvv_value data is NULL. */
static const char codec_empty[1];

/* --- schema checks -------------------------------------------------------- */

static avro_schema_t codec_unlink(avro_schema_t s)
{
	for (int i = 0; s != NULL && is_avro_link(s) && i < CODEC_MAX_DEPTH;
	     i++)
		s = avro_schema_link_target(s);
	return s;
}

/* The record the array schema `s` holds, or NULL. */
static avro_schema_t codec_items(avro_schema_t s)
{
	s = codec_unlink(s);
	return is_avro_array(s) ? codec_unlink(avro_schema_array_items(s))
	                        : NULL;
}

static int codec_check_record(avro_schema_t s, const char *const *names,
                              size_t n)
{
	if (!is_avro_record(s) || avro_schema_record_size(s) != n)
		return RKV_EINVAL;
	for (size_t i = 0; i < n; i++) {
		const char *name = avro_schema_record_field_name(s, (int)i);
		if (name == NULL || strcmp(name, names[i]) != 0)
			return RKV_EINVAL;
	}
	return 0;
}

static avro_schema_t codec_field(avro_schema_t record, int index)
{
	return avro_schema_record_field_get_by_index(record, index);
}

static int codec_check_schemas(struct codec *c)
{
	avro_schema_t obj = c->object_schema;
	avro_schema_t entry = codec_items(codec_field(obj, OBJECT_ENTRIES));
	avro_schema_t value = NULL;
	avro_schema_t anon_value = NULL;
	avro_schema_t ctx = c->context_schema;
	avro_schema_t ctx_entry = NULL;

	if (codec_check_record(obj, object_fields, OBJECT_NFIELDS) != 0 ||
	    codec_check_record(entry, entry_fields, ENTRY_NFIELDS) != 0)
		return RKV_EINVAL;
	value = codec_items(codec_field(entry, ENTRY_VALUES));
	anon_value = codec_items(codec_field(obj, OBJECT_ANON));
	if (codec_check_record(value, value_fields, VALUE_NFIELDS) != 0 ||
	    codec_check_record(anon_value, value_fields, VALUE_NFIELDS) != 0 ||
	    codec_check_record(ctx, context_fields, CONTEXT_NFIELDS) != 0)
		return RKV_EINVAL;
	ctx_entry = codec_items(codec_field(ctx, CONTEXT_ENTRIES));
	return codec_check_record(ctx_entry, ctxentry_fields, CTXENTRY_NFIELDS);
}

/* A node name: ["null", "string"], in that order (branch 1 is a name). */
static bool codec_is_name(avro_schema_t s)
{
	s = codec_unlink(s);
	return is_avro_union(s) && avro_schema_union_size(s) == 2 &&
	       is_avro_null(codec_unlink(avro_schema_union_branch(s, 0))) &&
	       is_avro_string(codec_unlink(avro_schema_union_branch(s, 1)));
}

static int codec_check_ring_schema(struct codec *c)
{
	avro_schema_t ring = c->ring_schema;
	avro_schema_t part = NULL;

	if (codec_check_record(ring, ring_fields, RINGREC_NFIELDS) != 0 ||
	    !is_avro_int64(codec_unlink(codec_field(ring, RINGREC_SIZE))))
		return RKV_EINVAL;
	part = codec_items(codec_field(ring, RINGREC_PARTITIONS));
	if (codec_check_record(part, rpart_fields, RPART_NFIELDS) != 0 ||
	    !codec_is_name(codec_field(part, RPART_OWNER)) ||
	    !codec_is_name(codec_field(part, RPART_NEXT)) ||
	    !is_avro_int64(codec_unlink(codec_field(part, RPART_VERSION))) ||
	    !codec_is_name(codec_field(part, RPART_WRITER)))
		return RKV_EINVAL;
	return 0;
}

/* --- lifecycle ------------------------------------------------------------ */

struct codec *codec_new(void)
{
	struct codec *c = calloc(1, sizeof(*c));
	const char *what = "out of memory";

	if (c == NULL)
		goto fail;
	what = "cannot parse the built-in schemas";
	if (avro_schema_from_json_length(rkv_schema_object,
	                                 strlen(rkv_schema_object),
	                                 &c->object_schema) != 0 ||
	    avro_schema_from_json_length(rkv_schema_context,
	                                 strlen(rkv_schema_context),
	                                 &c->context_schema) != 0 ||
	    avro_schema_from_json_length(
	        rkv_schema_ring, strlen(rkv_schema_ring), &c->ring_schema) != 0)
		goto fail;
	what = "object/context/ring.avsc do not match the field tables";
	if (codec_check_schemas(c) != 0 || codec_check_ring_schema(c) != 0)
		goto fail;
	what = "cannot set up Avro values";
	c->object_iface = avro_generic_class_from_schema(c->object_schema);
	c->context_iface = avro_generic_class_from_schema(c->context_schema);
	c->ring_iface = avro_generic_class_from_schema(c->ring_schema);
	if (c->object_iface == NULL || c->context_iface == NULL ||
	    c->ring_iface == NULL)
		goto fail;
	if (avro_generic_value_new(c->object_iface, &c->object) != 0)
		goto fail;
	c->object_live = true;
	if (avro_generic_value_new(c->context_iface, &c->context) != 0)
		goto fail;
	c->context_live = true;
	if (avro_generic_value_new(c->ring_iface, &c->ring) != 0)
		goto fail;
	c->ring_live = true;
	c->reader = avro_reader_memory(codec_empty, 0);
	c->writer = avro_writer_memory(codec_empty, 0);
	if (c->reader == NULL || c->writer == NULL)
		goto fail;
	return c;

fail:
	log_error("codec: %s (avro: %s)", what, avro_strerror());
	codec_free(c);
	return NULL;
}

void codec_free(struct codec *c)
{
	if (c == NULL)
		return;
	if (c->reader != NULL)
		avro_reader_free(c->reader);
	if (c->writer != NULL)
		avro_writer_free(c->writer);
	if (c->object_live)
		avro_value_decref(&c->object);
	if (c->context_live)
		avro_value_decref(&c->context);
	if (c->ring_live)
		avro_value_decref(&c->ring);
	if (c->object_iface != NULL)
		avro_value_iface_decref(c->object_iface);
	if (c->context_iface != NULL)
		avro_value_iface_decref(c->context_iface);
	if (c->ring_iface != NULL)
		avro_value_iface_decref(c->ring_iface);
	if (c->object_schema != NULL)
		avro_schema_decref(c->object_schema);
	if (c->context_schema != NULL)
		avro_schema_decref(c->context_schema);
	if (c->ring_schema != NULL)
		avro_schema_decref(c->ring_schema);
	free(c);
}

/* --- pass 1: bounds check without allocating ------------------------------ */

struct codec_scan {
	const uint8_t *p;
	const uint8_t *end;
	size_t items;     /* array items seen so far, all arrays together */
	size_t max_items; /* budget from the DVV limits */
};

static int codec_scan_long(struct codec_scan *s, int64_t *out)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < CODEC_MAX_VARINT; i++) {
		if (s->p == s->end)
			return RKV_ECORRUPT;
		uint8_t b = *s->p++;
		/* The 10th byte carries the 64th bit only. */
		if (i == CODEC_MAX_VARINT - 1 && b > 1)
			return RKV_ECORRUPT;
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			*out = (int64_t)((v >> 1) ^ (0 - (v & 1)));
			return 0;
		}
	}
	return RKV_ECORRUPT;
}

static int codec_scan_value(struct codec_scan *s, avro_schema_t schema,
                            unsigned depth);

static int codec_scan_array(struct codec_scan *s, avro_schema_t items,
                            unsigned depth)
{
	int64_t count = 0;
	int rc = 0;

	for (;;) {
		if (codec_scan_long(s, &count) != 0)
			return RKV_ECORRUPT;
		if (count == 0)
			return 0;
		/* Negative counts (blocks prefixed with their byte size)
		 * are legal Avro, but Avro C never writes them and its
		 * reader negates INT64_MIN: refuse them. */
		if (count < 0 || (uint64_t)count > s->max_items - s->items)
			return RKV_ECORRUPT;
		s->items += (size_t)count;
		for (int64_t i = 0; i < count && rc == 0; i++)
			rc = codec_scan_value(s, items, depth + 1);
		if (rc != 0)
			return RKV_ECORRUPT;
	}
}

static int codec_scan_record(struct codec_scan *s, avro_schema_t schema,
                             unsigned depth)
{
	size_t n = avro_schema_record_size(schema);

	for (size_t i = 0; i < n; i++) {
		avro_schema_t f = codec_field(schema, (int)i);
		if (f == NULL || codec_scan_value(s, f, depth + 1) != 0)
			return RKV_ECORRUPT;
	}
	return 0;
}

static int codec_scan_value(struct codec_scan *s, avro_schema_t schema,
                            unsigned depth)
{
	int64_t n = 0;

	if (depth > CODEC_MAX_DEPTH)
		return RKV_ECORRUPT;
	switch (avro_typeof(schema)) {
	case AVRO_LINK:
		return codec_scan_value(s, avro_schema_link_target(schema),
		                        depth + 1);
	case AVRO_RECORD: return codec_scan_record(s, schema, depth);
	case AVRO_ARRAY:
		return codec_scan_array(s, avro_schema_array_items(schema),
		                        depth);
	case AVRO_INT64: return codec_scan_long(s, &n);
	case AVRO_BYTES:
	case AVRO_STRING:
		if (codec_scan_long(s, &n) != 0 || n < 0 ||
		    (uint64_t)n > (uint64_t)(s->end - s->p))
			return RKV_ECORRUPT;
		s->p += n;
		return 0;
	case AVRO_BOOLEAN:
		if (s->p == s->end || *s->p > 1)
			return RKV_ECORRUPT;
		s->p++;
		return 0;
	case AVRO_NULL: return 0;
	case AVRO_UNION:
		/* The branch index, then a value of that branch. */
		if (codec_scan_long(s, &n) != 0 || n < 0 ||
		    (uint64_t)n >= avro_schema_union_size(schema))
			return RKV_ECORRUPT;
		return codec_scan_value(
		    s, avro_schema_union_branch(schema, (int)n), depth + 1);
	default:
		/* Our schemas use no other type; one added to an .avsc must
		 * be taught to this walk before it is trusted. */
		return RKV_ECORRUPT;
	}
}

/* 0 when buf[0..len) is exactly one well-formed value of `schema` within
 * the item budget, else RKV_ECORRUPT. */
static int codec_scan(avro_schema_t schema, const void *buf, size_t len,
                      size_t max_items)
{
	struct codec_scan s = {
	    .p = buf,
	    .end = (const uint8_t *)buf + len,
	    .items = 0,
	    .max_items = max_items,
	};

	if (buf == NULL && len > 0)
		return RKV_ECORRUPT;
	if (codec_scan_value(&s, schema, 0) != 0 || s.p != s.end)
		return RKV_ECORRUPT;
	return 0;
}

/* --- shared Avro helpers -------------------------------------------------- */

int codec_value_encode(avro_writer_t writer, avro_value_t *v, uint8_t **out,
                       size_t *len)
{
	size_t size = 0;
	uint8_t *buf = NULL;

	if (avro_value_sizeof(v, &size) != 0)
		goto fail;
	buf = malloc(size > 0 ? size : 1);
	if (buf == NULL)
		goto fail;
	avro_writer_memory_set_dest(writer, (const char *)buf, (int64_t)size);
	if (avro_value_write(writer, v) != 0 ||
	    avro_writer_tell(writer) != (int64_t)size)
		goto fail;
	*out = buf;
	*len = size;
	return 0;

fail:
	free(buf);
	return RKV_ENOMEM;
}

/* Read scanned bytes into v. Errors are allocation failures: pass 1 has
 * already proved the bytes well-formed. */
static int codec_read(struct codec *c, avro_value_t *v, const void *buf,
                      size_t len)
{
	/* No check for trailing bytes here: pass 1 proved that the value ends
	 * exactly at len (a probe read for one more byte would make Avro C
	 * format an error message on every successful decode). */
	avro_reader_memory_set_source(c->reader, buf, (int64_t)len);
	if (avro_value_read(c->reader, v) != 0)
		return RKV_ENOMEM;
	return 0;
}

static int codec_get_u64(avro_value_t *record, int index, uint64_t *out)
{
	avro_value_t f;
	int64_t n = 0;

	if (avro_value_get_by_index(record, (size_t)index, &f, NULL) != 0 ||
	    avro_value_get_long(&f, &n) != 0)
		return RKV_ENOMEM;
	*out = (uint64_t)n;
	return 0;
}

static int codec_set_u64(avro_value_t *record, int index, uint64_t n)
{
	avro_value_t f;

	if (avro_value_get_by_index(record, (size_t)index, &f, NULL) != 0 ||
	    avro_value_set_long(&f, (int64_t)n) != 0)
		return RKV_ENOMEM;
	return 0;
}

/* --- objects: struct dvv -> Avro ------------------------------------------ */

static int codec_value_put(avro_value_t *rec, const struct dvv_value *v)
{
	avro_value_t f;
	avro_wrapped_buffer_t wb;
	const void *data = v->len > 0 ? (const void *)v->data : codec_empty;

	/* Lend, not copy: the value is reset before this call returns to
	 * the caller that owns the bytes. */
	if (avro_value_get_by_index(rec, VALUE_DATA, &f, NULL) != 0 ||
	    avro_wrapped_buffer_new(&wb, data, v->len) != 0 ||
	    avro_value_give_bytes(&f, &wb) != 0)
		return RKV_ENOMEM;
	if (avro_value_get_by_index(rec, VALUE_CTYPE, &f, NULL) != 0 ||
	    avro_wrapped_buffer_new_string(&wb, v->content_type) != 0 ||
	    avro_value_give_string_len(&f, &wb) != 0)
		return RKV_ENOMEM;
	if (codec_set_u64(rec, VALUE_TIMESTAMP, v->timestamp_ms) != 0 ||
	    avro_value_get_by_index(rec, VALUE_TOMBSTONE, &f, NULL) != 0 ||
	    avro_value_set_boolean(&f, v->tombstone ? 1 : 0) != 0)
		return RKV_ENOMEM;
	return 0;
}

static int codec_values_put(avro_value_t *array, const struct dvv_value *vals,
                            size_t n)
{
	avro_value_t elem;

	for (size_t i = 0; i < n; i++) {
		if (avro_value_append(array, &elem, NULL) != 0 ||
		    codec_value_put(&elem, &vals[i]) != 0)
			return RKV_ENOMEM;
	}
	return 0;
}

static int codec_entry_put(avro_value_t *rec, const struct dvv_entry *e)
{
	avro_value_t values;

	if (codec_set_u64(rec, ENTRY_ID, e->id) != 0 ||
	    codec_set_u64(rec, ENTRY_COUNTER, e->counter) != 0 ||
	    avro_value_get_by_index(rec, ENTRY_VALUES, &values, NULL) != 0)
		return RKV_ENOMEM;
	return codec_values_put(&values, e->values, e->nvalues);
}

static int codec_object_put(struct codec *c, const struct dvv *d)
{
	avro_value_t entries, anon, elem;

	if (avro_value_get_by_index(&c->object, OBJECT_ENTRIES, &entries,
	                            NULL) != 0 ||
	    avro_value_get_by_index(&c->object, OBJECT_ANON, &anon, NULL) != 0)
		return RKV_ENOMEM;
	for (size_t i = 0; i < d->nentries; i++) {
		if (avro_value_append(&entries, &elem, NULL) != 0 ||
		    codec_entry_put(&elem, &d->entries[i]) != 0)
			return RKV_ENOMEM;
	}
	return codec_values_put(&anon, d->anon, d->nanon);
}

int codec_object_encode(struct codec *c, const struct dvv *d, uint8_t **out,
                        size_t *len)
{
	int rc = 0;

	*out = NULL;
	*len = 0;
	if (dvv_validate(d) != 0)
		return RKV_EINVAL;
	avro_value_reset(&c->object);
	rc = codec_object_put(c, d);
	if (rc == 0)
		rc = codec_value_encode(c->writer, &c->object, out, len);
	/* Drop what was lent to the instance before the caller can free it. */
	avro_value_reset(&c->object);
	return rc;
}

/* --- objects: Avro -> struct dvv ------------------------------------------ */

static int codec_value_get(avro_value_t *rec, struct dvv_value *v)
{
	avro_value_t f;
	const void *data = NULL;
	const char *ctype = NULL;
	size_t size = 0;
	int tomb = 0;

	if (avro_value_get_by_index(rec, VALUE_DATA, &f, NULL) != 0 ||
	    avro_value_get_bytes(&f, &data, &size) != 0)
		return RKV_ENOMEM;
	if (size > 0) {
		v->data = malloc(size);
		if (v->data == NULL)
			return RKV_ENOMEM;
		memcpy(v->data, data, size);
		v->len = size;
	}
	if (avro_value_get_by_index(rec, VALUE_CTYPE, &f, NULL) != 0 ||
	    avro_value_get_string(&f, &ctype, &size) != 0)
		return RKV_ENOMEM;
	/* size counts the terminator; an inner NUL would cut the type. */
	if (size == 0 || size - 1 > DVV_MAX_CONTENT_TYPE ||
	    memchr(ctype, '\0', size - 1) != NULL)
		return RKV_ECORRUPT;
	v->content_type = malloc(size);
	if (v->content_type == NULL)
		return RKV_ENOMEM;
	memcpy(v->content_type, ctype, size);
	if (codec_get_u64(rec, VALUE_TIMESTAMP, &v->timestamp_ms) != 0 ||
	    avro_value_get_by_index(rec, VALUE_TOMBSTONE, &f, NULL) != 0 ||
	    avro_value_get_boolean(&f, &tomb) != 0)
		return RKV_ENOMEM;
	v->tombstone = tomb != 0;
	return 0;
}

/* Fill a zeroed array of n values; on error the caller frees what was
 * filled (every slot is either filled or still zero). */
static int codec_values_get(avro_value_t *array, struct dvv_value **out,
                            size_t *n)
{
	avro_value_t elem;
	size_t count = 0;

	if (avro_value_get_size(array, &count) != 0)
		return RKV_ENOMEM;
	if (count == 0)
		return 0;
	*out = calloc(count, sizeof(**out));
	if (*out == NULL)
		return RKV_ENOMEM;
	*n = count;
	for (size_t i = 0; i < count; i++) {
		int rc = avro_value_get_by_index(array, i, &elem, NULL) != 0
		             ? RKV_ENOMEM
		             : codec_value_get(&elem, &(*out)[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int codec_entry_get(avro_value_t *rec, struct dvv_entry *e)
{
	avro_value_t values;

	if (codec_get_u64(rec, ENTRY_ID, &e->id) != 0 ||
	    codec_get_u64(rec, ENTRY_COUNTER, &e->counter) != 0 ||
	    avro_value_get_by_index(rec, ENTRY_VALUES, &values, NULL) != 0)
		return RKV_ENOMEM;
	return codec_values_get(&values, &e->values, &e->nvalues);
}

static int codec_object_get(struct codec *c, struct dvv *d)
{
	avro_value_t entries, anon, elem;
	size_t count = 0;

	if (avro_value_get_by_index(&c->object, OBJECT_ENTRIES, &entries,
	                            NULL) != 0 ||
	    avro_value_get_by_index(&c->object, OBJECT_ANON, &anon, NULL) !=
	        0 ||
	    avro_value_get_size(&entries, &count) != 0)
		return RKV_ENOMEM;
	if (count > 0) {
		d->entries = calloc(count, sizeof(*d->entries));
		if (d->entries == NULL)
			return RKV_ENOMEM;
		d->nentries = count;
	}
	for (size_t i = 0; i < count; i++) {
		int rc = avro_value_get_by_index(&entries, i, &elem, NULL) != 0
		             ? RKV_ENOMEM
		             : codec_entry_get(&elem, &d->entries[i]);
		if (rc != 0)
			return rc;
	}
	return codec_values_get(&anon, &d->anon, &d->nanon);
}

int codec_object_decode(struct codec *c, const void *buf, size_t len,
                        struct dvv **out)
{
	struct dvv *d = NULL;
	int rc = 0;

	*out = NULL;
	rc = codec_scan(c->object_schema, buf, len,
	                DVV_MAX_ENTRIES + DVV_MAX_VALUES);
	if (rc != 0)
		goto fail;
	d = dvv_new();
	if (d == NULL) {
		rc = RKV_ENOMEM;
		goto fail;
	}
	rc = codec_read(c, &c->object, buf, len);
	if (rc == 0)
		rc = codec_object_get(c, d);
	if (rc == 0 && dvv_validate(d) != 0)
		rc = RKV_ECORRUPT;
	if (rc != 0)
		goto fail;
	avro_value_reset(&c->object);
	*out = d;
	return 0;

fail:
	avro_value_reset(&c->object);
	dvv_free(d);
	return rc;
}

/* --- base64url ------------------------------------------------------------ */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of a base64url character, or -1. */
static int b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-')
		return 62;
	if (ch == '_')
		return 63;
	return -1;
}

/* base64url of buf[0..len) into text (room for (len*4+2)/3 + 1 bytes). */
static void b64_encode(const uint8_t *buf, size_t len, char *text)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | buf[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			text[o++] = b64_alphabet[(acc >> bits) & 0x3f];
		}
	}
	if (bits > 0)
		text[o++] = b64_alphabet[(acc << (6 - bits)) & 0x3f];
	text[o] = '\0';
}

/* Decode tlen characters into buf (room for tlen*3/4 bytes): the byte
 * count, or -1 for a character outside the alphabet, a length no encoder
 * produces (tlen % 4 == 1) or non-zero bits after the last byte. */
static long b64_decode(const char *text, size_t tlen, uint8_t *buf)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	long o = 0;

	if (tlen % 4 == 1)
		return -1;
	for (size_t i = 0; i < tlen; i++) {
		int v = b64_value((unsigned char)text[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (uint8_t)(acc >> bits);
		}
	}
	if ((acc & ((1u << bits) - 1)) != 0)
		return -1;
	return o;
}

/* --- contexts ------------------------------------------------------------- */

static int codec_context_put(struct codec *c, const struct dvv_vv *vv)
{
	avro_value_t entries, elem;

	if (avro_value_get_by_index(&c->context, CONTEXT_ENTRIES, &entries,
	                            NULL) != 0)
		return RKV_ENOMEM;
	for (size_t i = 0; i < vv->n; i++) {
		if (avro_value_append(&entries, &elem, NULL) != 0 ||
		    codec_set_u64(&elem, CTXENTRY_ID, vv->e[i].id) != 0 ||
		    codec_set_u64(&elem, CTXENTRY_COUNTER, vv->e[i].counter) !=
		        0)
			return RKV_ENOMEM;
	}
	return 0;
}

int codec_context_encode(struct codec *c, const struct dvv_vv *vv, char **out)
{
	uint8_t *bytes = NULL;
	size_t len = 0;
	char *text = NULL;
	int rc = 0;

	*out = NULL;
	if (dvv_vv_validate(vv) != 0)
		return RKV_EINVAL;
	avro_value_reset(&c->context);
	rc = codec_context_put(c, vv);
	if (rc == 0)
		rc = codec_value_encode(c->writer, &c->context, &bytes, &len);
	avro_value_reset(&c->context);
	if (rc != 0)
		goto fail;
	text = malloc((len * 4 + 2) / 3 + 1);
	if (text == NULL) {
		rc = RKV_ENOMEM;
		goto fail;
	}
	b64_encode(bytes, len, text);
	free(bytes);
	*out = text;
	return 0;

fail:
	free(bytes);
	return rc;
}

static int codec_context_get(struct codec *c, struct dvv_vv *out)
{
	avro_value_t entries, elem;
	size_t count = 0;

	if (avro_value_get_by_index(&c->context, CONTEXT_ENTRIES, &entries,
	                            NULL) != 0 ||
	    avro_value_get_size(&entries, &count) != 0)
		return RKV_ENOMEM;
	if (count == 0)
		return 0;
	out->e = calloc(count, sizeof(*out->e));
	if (out->e == NULL)
		return RKV_ENOMEM;
	out->n = count;
	for (size_t i = 0; i < count; i++) {
		if (avro_value_get_by_index(&entries, i, &elem, NULL) != 0 ||
		    codec_get_u64(&elem, CTXENTRY_ID, &out->e[i].id) != 0 ||
		    codec_get_u64(&elem, CTXENTRY_COUNTER,
		                  &out->e[i].counter) != 0)
			return RKV_ENOMEM;
	}
	return 0;
}

int codec_context_decode(struct codec *c, const char *text, struct dvv_vv *out)
{
	size_t tlen = strnlen(text, CODEC_MAX_CONTEXT_TEXT + 1);
	uint8_t *bytes = NULL;
	long len = 0;
	int rc = RKV_ECONTEXT;

	out->n = 0;
	out->e = NULL;
	if (tlen > CODEC_MAX_CONTEXT_TEXT)
		goto fail;
	bytes = malloc(tlen * 3 / 4 + 1);
	if (bytes == NULL) {
		rc = RKV_ENOMEM;
		goto fail;
	}
	len = b64_decode(text, tlen, bytes);
	if (len < 0 || codec_scan(c->context_schema, bytes, (size_t)len,
	                          DVV_MAX_ENTRIES) != 0)
		goto fail;
	rc = codec_read(c, &c->context, bytes, (size_t)len);
	if (rc == 0)
		rc = codec_context_get(c, out);
	if (rc == 0 && dvv_vv_validate(out) != 0)
		rc = RKV_ECONTEXT;
	if (rc != 0)
		goto fail;
	avro_value_reset(&c->context);
	free(bytes);
	return 0;

fail:
	avro_value_reset(&c->context);
	free(bytes);
	dvv_vv_deinit(out);
	return rc;
}

/* --- rings ---------------------------------------------------------------- */

/* Set union field `index` of rec to name, or to null when name is NULL.
 * The name is lent, like value bytes: reset the value before it dies. */
static int codec_name_put(avro_value_t *rec, int index, const char *name)
{
	avro_value_t f, branch;
	avro_wrapped_buffer_t wb;

	if (avro_value_get_by_index(rec, (size_t)index, &f, NULL) != 0)
		return RKV_ENOMEM;
	if (name == NULL)
		return avro_value_set_branch(&f, 0, &branch) != 0 ||
		               avro_value_set_null(&branch) != 0
		           ? RKV_ENOMEM
		           : 0;
	if (avro_value_set_branch(&f, 1, &branch) != 0 ||
	    avro_wrapped_buffer_new_string(&wb, name) != 0 ||
	    avro_value_give_string_len(&branch, &wb) != 0)
		return RKV_ENOMEM;
	return 0;
}

static int codec_ring_put(struct codec *c, const struct ring *r)
{
	uint32_t q = ring_partition_count(r);
	avro_value_t parts, elem;
	struct ring_entry e;

	if (codec_set_u64(&c->ring, RINGREC_SIZE, q) != 0 ||
	    avro_value_get_by_index(&c->ring, RINGREC_PARTITIONS, &parts,
	                            NULL) != 0)
		return RKV_ENOMEM;
	for (uint32_t p = 0; p < q; p++) {
		if (ring_partition_get(r, p, &e) != 0)
			return RKV_EINVAL;
		if (avro_value_append(&parts, &elem, NULL) != 0 ||
		    codec_name_put(&elem, RPART_OWNER, e.owner) != 0 ||
		    codec_name_put(&elem, RPART_NEXT, e.next_owner) != 0 ||
		    codec_set_u64(&elem, RPART_VERSION, e.version) != 0 ||
		    codec_name_put(&elem, RPART_WRITER, e.writer) != 0)
			return RKV_ENOMEM;
	}
	return 0;
}

int codec_ring_encode(struct codec *c, const struct ring *r, uint8_t **out,
                      size_t *len)
{
	int rc = 0;

	*out = NULL;
	*len = 0;
	rc = ring_validate(r);
	if (rc != 0)
		return rc == RING_ENOMEM ? RKV_ENOMEM : RKV_EINVAL;
	avro_value_reset(&c->ring);
	rc = codec_ring_put(c, r);
	if (rc == 0)
		rc = codec_value_encode(c->writer, &c->ring, out, len);
	/* Drop the names lent to the instance while r still holds them. */
	avro_value_reset(&c->ring);
	return rc;
}

/* Union field `index` of rec: *out the name (owned by the Avro value) or
 * NULL for null. RKV_ECORRUPT for a name with a NUL inside or longer than
 * any valid name (ring_partition_set checks the rest). */
static int codec_name_get(avro_value_t *rec, int index, const char **out)
{
	avro_value_t f, branch;
	const char *name = NULL;
	size_t size = 0;
	int disc = 0;

	*out = NULL;
	if (avro_value_get_by_index(rec, (size_t)index, &f, NULL) != 0 ||
	    avro_value_get_discriminant(&f, &disc) != 0)
		return RKV_ENOMEM;
	if (disc == 0)
		return 0;
	if (avro_value_get_current_branch(&f, &branch) != 0 ||
	    avro_value_get_string(&branch, &name, &size) != 0)
		return RKV_ENOMEM;
	/* size counts the terminator; an inner NUL would cut the name. */
	if (size == 0 || size - 1 > RING_MAX_NAME ||
	    memchr(name, '\0', size - 1) != NULL)
		return RKV_ECORRUPT;
	*out = name;
	return 0;
}

static int codec_ring_part_get(avro_value_t *rec, struct ring *r, uint32_t p)
{
	const char *owner = NULL, *next = NULL, *writer = NULL;
	uint64_t version = 0;
	int rc = codec_name_get(rec, RPART_OWNER, &owner);

	if (rc == 0)
		rc = codec_name_get(rec, RPART_NEXT, &next);
	if (rc == 0)
		rc = codec_name_get(rec, RPART_WRITER, &writer);
	if (rc == 0)
		rc = codec_get_u64(rec, RPART_VERSION, &version);
	if (rc != 0)
		return rc;
	rc = ring_partition_set(r, p, owner, next, version, writer);
	if (rc == RING_ENOMEM)
		return RKV_ENOMEM;
	return rc == 0 ? 0 : RKV_ECORRUPT;
}

static int codec_ring_get(struct codec *c, struct ring **out)
{
	avro_value_t parts, elem;
	struct ring *r = NULL;
	uint64_t q = 0;
	size_t count = 0;
	int rc = 0;

	if (codec_get_u64(&c->ring, RINGREC_SIZE, &q) != 0 ||
	    avro_value_get_by_index(&c->ring, RINGREC_PARTITIONS, &parts,
	                            NULL) != 0 ||
	    avro_value_get_size(&parts, &count) != 0)
		return RKV_ENOMEM;
	/* count is bounded by the input (pass 1), so Q is too. */
	if (q > RING_MAX_SIZE || !ring_size_valid((uint32_t)q) || count != q)
		return RKV_ECORRUPT;
	rc = ring_new((uint32_t)q, &r);
	if (rc != 0)
		return rc == RING_ENOMEM ? RKV_ENOMEM : RKV_ECORRUPT;
	for (uint32_t p = 0; p < (uint32_t)q && rc == 0; p++) {
		rc = avro_value_get_by_index(&parts, p, &elem, NULL) != 0
		         ? RKV_ENOMEM
		         : codec_ring_part_get(&elem, r, p);
	}
	if (rc == 0) {
		rc = ring_validate(r);
		if (rc != 0)
			rc = rc == RING_ENOMEM ? RKV_ENOMEM : RKV_ECORRUPT;
	}
	if (rc != 0) {
		ring_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int codec_ring_decode(struct codec *c, const void *buf, size_t len,
                      struct ring **out)
{
	int rc = 0;

	*out = NULL;
	rc = codec_scan(c->ring_schema, buf, len, RING_MAX_SIZE);
	if (rc == 0)
		rc = codec_read(c, &c->ring, buf, len);
	if (rc == 0)
		rc = codec_ring_get(c, out);
	avro_value_reset(&c->ring);
	return rc;
}
