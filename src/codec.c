/* codec.c -- Avro encodings of stored objects, causal contexts and rings.
 *
 * Avro's binary encoding is a schema-driven sequence of zig-zag varints
 * (long, and the length of bytes/string), single bytes (boolean) and arrays
 * written as blocks "count, count items, ..., 0". There are no field tags:
 * the schema alone says what comes next, which is why the schemas are
 * compiled into the binary and why old encodings are pinned by tests.
 *
 * Stored objects, encoded and decoded several times per request, are
 * written and read by hand ("objects: Avro binary, read and written
 * directly" below explains the encoding): the same bytes Avro C writes,
 * validated in the same pass that reads them.
 *
 * Contexts and rings go through Avro C generic values: encoding fills one
 * reusable value (strings are lent to it, not copied), asks
 * avro_value_sizeof() for the exact size, and writes into one malloc'ed
 * buffer through a memory writer. Decoding them never hands untrusted
 * bytes straight to Avro C: its reader allocates whatever a length prefix
 * claims before checking that the bytes are there, and trusts array
 * counts. So decoding is two passes:
 *
 *   1. codec_scan walks the bytes against the schema without allocating:
 *      every length must fit in what is left, every array count must fit
 *      the item budget, booleans must be 0 or 1, varints at most 10
 *      bytes, and the walk must end exactly at the last byte.
 *   2. Only then Avro C reads the bytes into the reusable generic value,
 *      which is copied out and validated.
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
 * Pass 1 bounds the partition count by RING_MAX_SIZE and every item by
 * the bytes that remain, so a hostile Q cannot make ring_new() allocate:
 * Q must equal the count of entries actually present.
 */
#include "codec.h"

#include "avro_bin.h"

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
/* The object codec writes these types by hand: the start-up check holds
 * object.avsc to them too, not only to the names. */
static const avro_type_t entry_types[] = {AVRO_INT64, AVRO_INT64, AVRO_ARRAY};
static const avro_type_t value_types[] = {AVRO_BYTES, AVRO_STRING, AVRO_INT64,
                                          AVRO_BOOLEAN};
static const char *const context_fields[] = {"entries"};
static const char *const ctxentry_fields[] = {"id", "counter"};
static const avro_type_t ctxentry_types[] = {AVRO_INT64, AVRO_INT64};
static const char *const ring_fields[] = {"ring_size", "partitions"};
static const char *const rpart_fields[] = {"owner", "next_owner", "version",
                                           "writer"};

/* Nesting of our schemas is 4 deep; a bound keeps a schema that links to
 * itself from recursing without end. */
#define CODEC_MAX_DEPTH 16

/* The largest Avro encoding of a valid context: the array's count and
 * terminator plus two longs per entry. */
#define CODEC_MAX_CONTEXT_BYTES                                                \
	(2 * AVRO_BIN_MAX_LONG + DVV_MAX_ENTRIES * 2 * AVRO_BIN_MAX_LONG)

static_assert(CODEC_MAX_CONTEXT_TEXT >= (CODEC_MAX_CONTEXT_BYTES * 4 + 2) / 3,
              "CODEC_MAX_CONTEXT_TEXT must hold the largest context");

struct codec {
	avro_schema_t object_schema;
	avro_schema_t context_schema;
	avro_schema_t ring_schema;
	avro_value_iface_t *ring_iface;
	avro_value_t ring;    /* reused by every ring encode/decode */
	bool ring_live;       /* the value above was created */
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

/* 0 when the n fields of `record` have these types, in order. */
static int codec_check_types(avro_schema_t record, const avro_type_t *types,
                             size_t n)
{
	for (size_t i = 0; i < n; i++) {
		avro_schema_t f = codec_unlink(codec_field(record, (int)i));
		if (f == NULL || avro_typeof(f) != types[i])
			return RKV_EINVAL;
	}
	return 0;
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
	    codec_check_record(entry, entry_fields, ENTRY_NFIELDS) != 0 ||
	    codec_check_types(entry, entry_types, ENTRY_NFIELDS) != 0)
		return RKV_EINVAL;
	value = codec_items(codec_field(entry, ENTRY_VALUES));
	anon_value = codec_items(codec_field(obj, OBJECT_ANON));
	if (codec_check_record(value, value_fields, VALUE_NFIELDS) != 0 ||
	    codec_check_types(value, value_types, VALUE_NFIELDS) != 0 ||
	    codec_check_record(anon_value, value_fields, VALUE_NFIELDS) != 0 ||
	    codec_check_types(anon_value, value_types, VALUE_NFIELDS) != 0 ||
	    codec_check_record(ctx, context_fields, CONTEXT_NFIELDS) != 0)
		return RKV_EINVAL;
	ctx_entry = codec_items(codec_field(ctx, CONTEXT_ENTRIES));
	if (codec_check_record(ctx_entry, ctxentry_fields, CTXENTRY_NFIELDS) !=
	        0 ||
	    codec_check_types(ctx_entry, ctxentry_types, CTXENTRY_NFIELDS) != 0)
		return RKV_EINVAL;
	return 0;
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
	c->ring_iface = avro_generic_class_from_schema(c->ring_schema);
	if (c->ring_iface == NULL)
		goto fail;
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
	if (c->ring_live)
		avro_value_decref(&c->ring);
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
	size_t max_items; /* budget from the record's limits */
};

static int codec_scan_long(struct codec_scan *s, int64_t *out)
{
	return avro_bin_get_long(&s->p, s->end, out);
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
	    .end = len > 0 ? (const uint8_t *)buf + len : buf,
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

/* --- objects: Avro binary, read and written directly ----------------------
 *
 * The object is encoded or decoded several times per request (each store
 * read and write, each message that carries it), so it does not go
 * through Avro C's generic values, which allocate per field and dispatch
 * through a vtable for every read. The bytes are still exactly those Avro
 * C writes for src/schemas/object.avsc; codec_new checks that the schema
 * has the layout this code assumes:
 *
 *   Object = entries: array<Entry>, anon: array<Value>
 *   Entry  = id: long, counter: long, values: array<Value>
 *   Value  = data: bytes, content_type: string, timestamp_ms: long,
 *            tombstone: boolean
 *
 * Avro's binary encoding of those types (long, bytes and string as in
 * avro_bin.h):
 *
 *   boolean  one byte, 0 or 1.
 *   record   its fields in schema order, nothing in between.
 *   array    blocks, each a long count followed by that many items,
 *            until a block of count 0. A negative count -n announces n
 *            items preceded by a long byte size (so a reader can skip
 *            the block). Avro C writes one positive block per non-empty
 *            array; other writers may split arrays and size blocks, so
 *            the reader accepts both.
 *
 * Encoding sizes the record exactly, allocates once and writes; a
 * message that carries an object (msg.c) has it written straight into
 * its own buffer the same way. Decoding validates as it reads: every length is
 * checked against the bytes left before anything is allocated or copied, and
 * every array block against the DVV limits and the bytes left (an entry takes
 * at least 3 bytes, a value 4), so what a decode allocates stays proportional
 * to its input.
 */

#define CODEC_MIN_ENTRY_BYTES 3 /* id, counter, end of values */
#define CODEC_MIN_VALUE_BYTES 4 /* data, content type, timestamp, flag */

/* The encoded size of an array of n values, terminating block included. */
static size_t codec_values_size(const struct dvv_value *vals, size_t n)
{
	size_t size = n > 0 ? avro_bin_long_size(n) + 1 : 1;

	for (size_t i = 0; i < n; i++) {
		size_t ctype = strlen(vals[i].content_type);
		size += avro_bin_bytes_size(vals[i].len) +
		        avro_bin_bytes_size(ctype) +
		        avro_bin_long_size(vals[i].timestamp_ms) + 1;
	}
	return size;
}

int codec_object_size(const struct dvv *d, size_t *size)
{
	size_t n = 0;

	if (dvv_validate(d) != 0)
		return RKV_EINVAL;
	n = d->nentries > 0 ? avro_bin_long_size(d->nentries) + 1 : 1;
	for (size_t i = 0; i < d->nentries; i++) {
		const struct dvv_entry *e = &d->entries[i];
		n += avro_bin_long_size(e->id) +
		     avro_bin_long_size(e->counter) +
		     codec_values_size(e->values, e->nvalues);
	}
	*size = n + codec_values_size(d->anon, d->nanon);
	return 0;
}

static uint8_t *codec_put_values(uint8_t *p, const struct dvv_value *vals,
                                 size_t n)
{
	if (n > 0)
		p = avro_bin_put_long(p, n);
	for (size_t i = 0; i < n; i++) {
		const struct dvv_value *v = &vals[i];
		p = avro_bin_put_bytes(p, v->data, v->len);
		p = avro_bin_put_bytes(p, v->content_type,
		                       strlen(v->content_type));
		p = avro_bin_put_long(p, v->timestamp_ms);
		*p++ = v->tombstone ? 1 : 0;
	}
	*p++ = 0;
	return p;
}

uint8_t *codec_object_write(const struct dvv *d, uint8_t *p)
{
	if (d->nentries > 0)
		p = avro_bin_put_long(p, d->nentries);
	for (size_t i = 0; i < d->nentries; i++) {
		const struct dvv_entry *e = &d->entries[i];
		p = avro_bin_put_long(p, e->id);
		p = avro_bin_put_long(p, e->counter);
		p = codec_put_values(p, e->values, e->nvalues);
	}
	*p++ = 0; /* end of entries */
	return codec_put_values(p, d->anon, d->nanon);
}

int codec_object_encode(struct codec *c, const struct dvv *d, uint8_t **out,
                        size_t *len)
{
	size_t size = 0;
	uint8_t *buf = NULL, *end = NULL;
	int rc = 0;

	(void)c;
	*out = NULL;
	*len = 0;
	rc = codec_object_size(d, &size);
	if (rc != 0)
		return rc;
	buf = malloc(size);
	if (buf == NULL)
		return RKV_ENOMEM;
	end = codec_object_write(d, buf);
	assert(end == buf + size);
	*out = buf;
	*len = size;
	return 0;
}

struct codec_in {
	const uint8_t *p;
	const uint8_t *end;
	size_t values_left; /* values DVV_MAX_VALUES still allows */
};

/* avro_bin_get_block, the count also bounded by *left, what the limits
 * still allow, and by the bytes left at min_bytes per item. */
static int codec_get_block(struct codec_in *in, size_t *left, size_t min_bytes,
                           size_t *count, const uint8_t **block_end)
{
	uint64_t n = 0;

	*count = 0;
	if (avro_bin_get_block(&in->p, in->end, &n, block_end) != 0)
		return RKV_ECORRUPT;
	if (n > *left || n > (uint64_t)(in->end - in->p) / min_bytes)
		return RKV_ECORRUPT;
	*left -= (size_t)n;
	*count = (size_t)n;
	return 0;
}

/* Room for `more` zeroed items after the n items of `items` (capacity
 * *cap): the array, maybe moved, or NULL on ENOMEM (items is then still
 * the caller's). Capacity doubles, so an array split into many blocks
 * costs few reallocs, but never past what the limit leaves (`left`). */
static void *codec_grow(void *items, size_t size, size_t n, size_t more,
                        size_t left, size_t *cap)
{
	if (n + more > *cap) {
		size_t want = *cap * 2 > n + more ? *cap * 2 : n + more;
		if (want > n + more + left)
			want = n + more + left;
		items = realloc(items, want * size);
		if (items == NULL)
			return NULL;
		*cap = want;
	}
	memset((char *)items + n * size, 0, more * size);
	return items;
}

static int codec_get_value(struct codec_in *in, struct dvv_value *v)
{
	const uint8_t *bytes = NULL;
	size_t n = 0;
	int64_t ts = 0;

	if (avro_bin_get_bytes(&in->p, in->end, &bytes, &n) != 0)
		return RKV_ECORRUPT;
	if (n > 0) {
		v->data = malloc(n);
		if (v->data == NULL)
			return RKV_ENOMEM;
		memcpy(v->data, bytes, n);
		v->len = n;
	}
	/* An inner NUL would cut the type short. */
	if (avro_bin_get_bytes(&in->p, in->end, &bytes, &n) != 0 ||
	    n > DVV_MAX_CONTENT_TYPE || memchr(bytes, '\0', n) != NULL)
		return RKV_ECORRUPT;
	v->content_type = malloc(n + 1);
	if (v->content_type == NULL)
		return RKV_ENOMEM;
	memcpy(v->content_type, bytes, n);
	v->content_type[n] = '\0';
	if (avro_bin_get_long(&in->p, in->end, &ts) != 0 || in->p == in->end ||
	    *in->p > 1)
		return RKV_ECORRUPT;
	v->timestamp_ms = (uint64_t)ts;
	v->tombstone = *in->p++ == 1;
	return 0;
}

/* Read an array of values into *vals / *n (both zero on entry). On error
 * the caller frees them: every counted slot is filled or still zero. */
static int codec_get_values(struct codec_in *in, struct dvv_value **vals,
                            size_t *n)
{
	const uint8_t *block_end = NULL;
	size_t count = 0, cap = 0;
	int rc = 0;

	for (;;) {
		rc = codec_get_block(in, &in->values_left,
		                     CODEC_MIN_VALUE_BYTES, &count, &block_end);
		if (rc != 0 || count == 0)
			return rc;
		struct dvv_value *grown = codec_grow(
		    *vals, sizeof(**vals), *n, count, in->values_left, &cap);
		if (grown == NULL)
			return RKV_ENOMEM;
		*vals = grown;
		*n += count;
		for (size_t i = *n - count; i < *n && rc == 0; i++)
			rc = codec_get_value(in, &grown[i]);
		if (rc != 0)
			return rc;
		if (block_end != NULL && in->p != block_end)
			return RKV_ECORRUPT;
	}
}

static int codec_get_entry(struct codec_in *in, struct dvv_entry *e)
{
	int64_t id = 0, counter = 0;

	if (avro_bin_get_long(&in->p, in->end, &id) != 0 ||
	    avro_bin_get_long(&in->p, in->end, &counter) != 0)
		return RKV_ECORRUPT;
	e->id = (uint64_t)id;
	e->counter = (uint64_t)counter;
	return codec_get_values(in, &e->values, &e->nvalues);
}

/* The entries array into d, as codec_get_values does for values. */
static int codec_get_entries(struct codec_in *in, struct dvv *d)
{
	const uint8_t *block_end = NULL;
	size_t left = DVV_MAX_ENTRIES, count = 0, cap = 0;
	int rc = 0;

	for (;;) {
		rc = codec_get_block(in, &left, CODEC_MIN_ENTRY_BYTES, &count,
		                     &block_end);
		if (rc != 0 || count == 0)
			return rc;
		struct dvv_entry *grown =
		    codec_grow(d->entries, sizeof(*d->entries), d->nentries,
		               count, left, &cap);
		if (grown == NULL)
			return RKV_ENOMEM;
		d->entries = grown;
		d->nentries += count;
		for (size_t i = d->nentries - count; i < d->nentries && rc == 0;
		     i++)
			rc = codec_get_entry(in, &grown[i]);
		if (rc != 0)
			return rc;
		if (block_end != NULL && in->p != block_end)
			return RKV_ECORRUPT;
	}
}

int codec_object_decode(struct codec *c, const void *buf, size_t len,
                        struct dvv **out)
{
	struct codec_in in = {.values_left = DVV_MAX_VALUES};
	struct dvv *d = NULL;
	int rc = 0;

	(void)c;
	*out = NULL;
	if (buf == NULL)
		return RKV_ECORRUPT;
	in.p = buf;
	in.end = in.p + len;
	d = dvv_new();
	if (d == NULL)
		return RKV_ENOMEM;
	rc = codec_get_entries(&in, d);
	if (rc == 0)
		rc = codec_get_values(&in, &d->anon, &d->nanon);
	/* Bytes after the record are not part of it: refuse them. */
	if (rc == 0 && (in.p != in.end || dvv_validate(d) != 0))
		rc = RKV_ECORRUPT;
	if (rc != 0)
		goto fail;
	*out = d;
	return 0;

fail:
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

/* A context travels with every client request and answer (X-Context), so
 * it is written and read directly, as objects are: an array of (id,
 * counter) longs. */

/* Least bytes of one encoded context entry: two one-byte longs. */
#define CODEC_MIN_CTXENTRY_BYTES 2

int codec_context_encode(struct codec *c, const struct dvv_vv *vv, char **out)
{
	size_t size = vv->n > 0 ? avro_bin_long_size(vv->n) + 1 : 1;
	uint8_t *bytes = NULL, *p = NULL;
	char *text = NULL;

	(void)c;
	*out = NULL;
	if (dvv_vv_validate(vv) != 0)
		return RKV_EINVAL;
	for (size_t i = 0; i < vv->n; i++)
		size += avro_bin_long_size(vv->e[i].id) +
		        avro_bin_long_size(vv->e[i].counter);
	bytes = malloc(size);
	text = malloc((size * 4 + 2) / 3 + 1);
	if (bytes == NULL || text == NULL) {
		free(bytes);
		free(text);
		return RKV_ENOMEM;
	}
	p = bytes;
	if (vv->n > 0)
		p = avro_bin_put_long(p, vv->n);
	for (size_t i = 0; i < vv->n; i++) {
		p = avro_bin_put_long(p, vv->e[i].id);
		p = avro_bin_put_long(p, vv->e[i].counter);
	}
	*p++ = 0; /* end of entries */
	assert(p == bytes + size);
	b64_encode(bytes, size, text);
	free(bytes);
	*out = text;
	return 0;
}

/* The entries array of an encoded context into out, in blocks as
 * codec_get_entries reads an object's. */
static int codec_context_get(struct codec_in *in, struct dvv_vv *out)
{
	const uint8_t *block_end = NULL;
	size_t left = DVV_MAX_ENTRIES, count = 0, cap = 0;
	int rc = 0;

	for (;;) {
		rc = codec_get_block(in, &left, CODEC_MIN_CTXENTRY_BYTES,
		                     &count, &block_end);
		if (rc != 0 || count == 0)
			return rc;
		struct dvv_vv_entry *grown = codec_grow(
		    out->e, sizeof(*out->e), out->n, count, left, &cap);
		if (grown == NULL)
			return RKV_ENOMEM;
		out->e = grown;
		for (size_t i = out->n; i < out->n + count; i++) {
			int64_t id = 0, counter = 0;
			if (avro_bin_get_long(&in->p, in->end, &id) != 0 ||
			    avro_bin_get_long(&in->p, in->end, &counter) != 0)
				return RKV_ECORRUPT;
			grown[i].id = (uint64_t)id;
			grown[i].counter = (uint64_t)counter;
		}
		out->n += count;
		if (block_end != NULL && in->p != block_end)
			return RKV_ECORRUPT;
	}
}

int codec_context_decode(struct codec *c, const char *text, struct dvv_vv *out)
{
	size_t tlen = strnlen(text, CODEC_MAX_CONTEXT_TEXT + 1);
	uint8_t *bytes = NULL;
	struct codec_in in = {0};
	long len = 0;
	int rc = RKV_ECONTEXT;

	(void)c;
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
	if (len < 0)
		goto fail;
	in.p = bytes;
	in.end = bytes + len;
	rc = codec_context_get(&in, out);
	if (rc == RKV_ECORRUPT || (rc == 0 && in.p != in.end) ||
	    (rc == 0 && dvv_vv_validate(out) != 0))
		rc = RKV_ECONTEXT;
	if (rc != 0)
		goto fail;
	free(bytes);
	return 0;

fail:
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
