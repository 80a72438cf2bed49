/* msg.c -- the internode messages: Avro bodies, the handshake, and reading
 * what a node of another release wrote.
 *
 * Every message type has a request schema and a reply schema
 * (src/schemas/msg_<stem>.avsc, <stem>_reply for the reply). REPLICATE,
 * FETCH and every reply, the messages of each quorum read and write, are
 * written and read directly in Avro's binary encoding (see "REPLICATE,
 * FETCH and replies" below). The others are encoded with one reusable
 * Avro generic value per schema: the value is filled (bytes and strings
 * are lent, not copied), measured with avro_value_sizeof(), written into
 * one malloc'ed buffer, and reset.
 *
 * The handshake. HELLO is two layers:
 *
 *   envelope (msg_hello.avsc, FROZEN)  { schemas: [{stem, fingerprint,
 *                                        json}], body: bytes }
 *   body (msg_hello_body.avsc)         { cluster_name, name, rpc_addr,
 *                                        node_id }
 *
 * The envelope is read before anything is known about the peer, so it can
 * never change; everything else, the body included, may evolve, because
 * the envelope first tells us how the peer writes it. The fingerprint of a
 * schema is XXH3-64 of the JSON Avro C writes for it (avro_schema_to_json:
 * no docs, no defaults, no whitespace), so editing a comment in an .avsc
 * does not make peers resolve; that JSON is also what travels.
 *
 * Resolution. For every schema whose fingerprint differs from ours,
 * msg_decode_hello() builds a resolver in the struct msg_peer:
 *
 *   W  = the peer's schema (the writer)
 *   R  = our schema (the reader)
 *   R' = R cut down to the record fields W also has, recursively; a field
 *        that W lacks must have a default in R, else the type is refused
 *   avro_resolved_reader_new(W, R')  presents a value of W as R': fields
 *        only W has are skipped, numeric types are promoted (int -> long)
 *
 * Avro C (1.11) cannot fill defaults itself -- both of its resolvers fail
 * on a reader field the writer lacks, and its schema parser drops the
 * "default" attribute -- which is why R' exists and why this file reads
 * the defaults out of our own schema text (a small JSON parser below) into
 * Avro values once, at msg_codec_new(). Decoding a body of such a peer is
 *
 *   bytes --read--> value of W --resolved reader--> view as R'
 *         --msg_copy: by field name, defaults for the rest--> value of R
 *
 * after which the same code extracts the C struct for every peer (for the
 * records read directly, after writing that value again with R). Types
 * whose fingerprints match skip all of that and read straight into R.
 *
 * Record names are how resolution pairs records: they never change. A
 * record inside a union is not cut down, so a field added to one needs no
 * default but cannot be missing from an older writer.
 *
 * Untrusted bytes. Avro C's reader allocates whatever a length prefix
 * claims before it looks at the bytes, and trusts array counts, so (as in
 * codec.c) every body it reads is first walked against the writer's
 * schema without allocating: each length must fit in what is left, counts
 * fit an item budget, enum and union indexes fit their schema, the walk
 * stays within a depth, and it must end exactly at the last byte. The
 * walk also notes where each top-level field starts, which is how a
 * decoded key can point into the caller's buffer instead of into Avro's
 * copy.
 */
#include "msg.h"

#include "avro_bin.h"
#include "codec.h"
#include "logging.h"
#include "schemas.h"
#include "status.h"

#include <assert.h>
#include <avro.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* X(id, stem) -- every schema a HELLO announces (msg_<stem>.avsc). The
 * envelope, msg_hello.avsc, is not in the list: it is frozen. MSG_HELLO
 * has no reply: both sides send one. */
#define MSG_SCHEMA_TABLE(X)                                                    \
	X(MSG_SCHEMA_HELLO_BODY, hello_body)                                   \
	X(MSG_SCHEMA_REPLICATE, replicate)                                     \
	X(MSG_SCHEMA_REPLICATE_REPLY, replicate_reply)                         \
	X(MSG_SCHEMA_FETCH, fetch)                                             \
	X(MSG_SCHEMA_FETCH_REPLY, fetch_reply)                                 \
	X(MSG_SCHEMA_FORWARD, forward)                                         \
	X(MSG_SCHEMA_FORWARD_REPLY, forward_reply)                             \
	X(MSG_SCHEMA_GOSSIP, gossip)                                           \
	X(MSG_SCHEMA_GOSSIP_REPLY, gossip_reply)                               \
	X(MSG_SCHEMA_HINT, hint)                                               \
	X(MSG_SCHEMA_HINT_REPLY, hint_reply)

enum msg_schema_id {
#define MSG_SCHEMA_ENUM(id, stem) id,
	MSG_SCHEMA_TABLE(MSG_SCHEMA_ENUM)
#undef MSG_SCHEMA_ENUM
	    MSG_SCHEMA_COUNT
};

static const char *const msg_schema_stems[MSG_SCHEMA_COUNT] = {
#define MSG_SCHEMA_STEM(id, stem) [id] = #stem,
    MSG_SCHEMA_TABLE(MSG_SCHEMA_STEM)
#undef MSG_SCHEMA_STEM
};

static const char *const msg_schema_texts[MSG_SCHEMA_COUNT] = {
#define MSG_SCHEMA_TEXT(id, stem) [id] = rkv_schema_msg_##stem,
    MSG_SCHEMA_TABLE(MSG_SCHEMA_TEXT)
#undef MSG_SCHEMA_TEXT
};

/* Limits on what a HELLO may carry and on any body we walk. */
#define MSG_MAX_SCHEMAS      64 /* entries in a HELLO's schema list */
#define MSG_MAX_STEM         64
#define MSG_MAX_SCHEMA_JSON  16384 /* one peer schema */
#define MSG_MAX_JSON_NESTING 64    /* brackets in a peer schema */
#define MSG_MAX_ITEMS        4096  /* array/map items in one body */
#define MSG_MAX_DEPTH        32    /* nesting of a schema we walk */
#define MSG_MAX_SCHEMA_NODES 4096  /* a peer schema, its names expanded */
#define MSG_MAX_NAMED_TYPES  512   /* records, enums, fixed it defines */
#define MSG_MAX_TOP_FIELDS   32    /* top-level fields whose offsets we note */
#define MSG_MAX_VARINT32     5     /* bytes of a zig-zag int */
#define MSG_MAX_CANON_JSON   (1u << 20)

/* Field positions; msg_codec_new checks them against the parsed schemas,
 * so an .avsc edited without this table fails at start-up. */
enum { ENV_SCHEMAS, ENV_BODY, ENV_NFIELDS };
enum { INFO_STEM, INFO_FINGERPRINT, INFO_JSON, INFO_NFIELDS };
enum { HB_CLUSTER, HB_NAME, HB_ADDR, HB_NODE_ID, HB_NFIELDS };
enum { REP_PARTITION, REP_KEY, REP_OBJECT, REP_HINT_FOR, REP_NFIELDS };
enum { FETCH_PARTITION, FETCH_KEY, FETCH_DIGEST, FETCH_NFIELDS };
enum {
	FWD_KEY,
	FWD_CONTEXT,
	FWD_VALUE,
	FWD_W,
	FWD_PW,
	FWD_TIMEOUT,
	FWD_NFIELDS
};
enum { CTX_ID, CTX_COUNTER, CTX_NFIELDS };
enum { HINT_TARGET, HINT_TARGET_ID, HINT_ENTRIES, HINT_NFIELDS };
enum { HE_PARTITION, HE_KEY, HE_OBJECT, HE_NFIELDS };
enum { VAL_DATA, VAL_CTYPE, VAL_TIMESTAMP, VAL_TOMBSTONE, VAL_NFIELDS };
enum { ST_STATUS, ST_NEEDED, ST_ACKED, ST_OBJECT, ST_DIGEST, ST_NFIELDS };
/* The branches of "object" and "digest": null first. */
enum { ST_NULL, ST_SET };
/* A gossip reply is a request with "status" in front: request fields are
 * at GSP_* + 1 there. */
enum {
	GSP_CLUSTER,
	GSP_RING_SIZE,
	GSP_MEMBERS,
	GSP_DIGEST,
	GSP_RING,
	GSP_NFIELDS
};
enum {
	MEM_ID,
	MEM_NAME,
	MEM_ADDR,
	MEM_STATUS,
	MEM_GENERATION,
	MEM_VERSION,
	MEM_HTTP,
	MEM_NFIELDS
};

static const char *const env_fields[] = {"schemas", "body"};
static const char *const info_fields[] = {"stem", "fingerprint", "json"};
static const char *const hb_fields[] = {"cluster_name", "name", "rpc_addr",
                                        "node_id"};
static const char *const rep_fields[] = {"partition", "key", "object",
                                         "hint_for"};
static const char *const hint_fields[] = {"target", "target_id", "hints"};
static const char *const he_fields[] = {"partition", "key", "object"};
static const char *const fetch_fields[] = {"partition", "key", "digest"};
static const char *const fwd_fields[] = {"key", "context", "value",
                                         "w",   "pw",      "timeout_ms"};
static const char *const ctx_fields[] = {"id", "counter"};
static const char *const val_fields[] = {"data", "content_type", "timestamp_ms",
                                         "tombstone"};
static const char *const st_fields[] = {"status", "needed", "acked", "object",
                                        "digest"};
/* The records written and read by hand: the types of their fields too. */
static const avro_type_t rep_types[] = {AVRO_INT64, AVRO_BYTES, AVRO_BYTES,
                                        AVRO_STRING};
static const avro_type_t fetch_types[] = {AVRO_INT64, AVRO_BYTES, AVRO_BOOLEAN};
static const avro_type_t st_types[] = {AVRO_INT32, AVRO_INT64, AVRO_INT64,
                                       AVRO_UNION, AVRO_UNION};
static const char *const gsp_fields[] = {"cluster_name", "ring_size", "members",
                                         "ring_digest", "ring"};
static const char *const gsp_reply_fields[] = {
    "status", "cluster_name", "ring_size", "members", "ring_digest", "ring"};
static const char *const mem_fields[] = {
    "id", "name", "addr", "status", "generation", "version", "http"};
/* The symbols of the MemberStatus enum: gossip.h's statuses, in order. */
static const char *const mem_status_names[MEMBER_STATUS_COUNT] = {
#define MSG_MEMBER_STATUS_NAME(e, name, help) [e] = name,
    MEMBER_STATUS_TABLE(MSG_MEMBER_STATUS_NAME)
#undef MSG_MEMBER_STATUS_NAME
};

/* One of our schemas, with its reusable value. */
struct msg_slot {
	avro_schema_t schema;
	avro_value_iface_t *iface;
	avro_value_t value; /* reused by every encode/decode of the schema */
	bool live;          /* value was created */
	char *json;         /* canonical JSON, NUL-terminated */
	size_t json_len;
	uint64_t fingerprint;
};

/* The default of one record field of our schemas, as an Avro value. */
struct msg_default {
	avro_schema_t record; /* a record inside one of our schemas */
	size_t field;
	avro_value_iface_t *iface;
	avro_value_t value;
};

struct msg_codec {
	struct codec *codec; /* objects inside messages */
	struct msg_slot env; /* the frozen HELLO envelope */
	struct msg_slot slots[MSG_SCHEMA_COUNT];
	struct msg_default *defaults;
	size_t ndefaults;
	avro_reader_t reader; /* memory reader, re-pointed per decode */
	avro_writer_t writer; /* memory writer, re-pointed per encode */
};

/* How to read one of our schemas as a given peer writes it. */
enum msg_res_state {
	MSG_RES_SAME =
	    0, /* same fingerprint (or not announced): read as ours */
	MSG_RES_RESOLVED, /* different: read W, view through the resolver */
	MSG_RES_BROKEN,   /* different and unreadable: refuse these bodies */
};

struct msg_resolver {
	enum msg_res_state state;
	avro_schema_t wschema; /* the peer's schema */
	avro_schema_t rschema; /* ours cut to what the peer has (R') */
	avro_value_iface_t *wiface;
	avro_value_iface_t *riface; /* avro_resolved_reader_new(W, R') */
	avro_value_t wvalue;        /* bodies are read into this */
	avro_value_t rvalue;        /* wvalue seen as R' */
	bool wlive, rlive;
};

struct msg_peer {
	struct msg_resolver res[MSG_SCHEMA_COUNT];
};

/* Lent to Avro for empty byte strings. */
static const char msg_empty[1];

/* --- small helpers -------------------------------------------------------- */

static avro_schema_t msg_unlink(avro_schema_t s)
{
	for (int i = 0; s != NULL && is_avro_link(s) && i < MSG_MAX_DEPTH; i++)
		s = avro_schema_link_target(s);
	return s;
}

/* The record the field at `index` of record `s` holds, through an array
 * when the field is one; NULL when it is neither. */
static avro_schema_t msg_sub_record(avro_schema_t s, int index)
{
	avro_schema_t f =
	    msg_unlink(avro_schema_record_field_get_by_index(s, index));

	if (f != NULL && is_avro_array(f))
		f = msg_unlink(avro_schema_array_items(f));
	return f != NULL && is_avro_record(f) ? f : NULL;
}

static int msg_check_record(avro_schema_t s, const char *const *names, size_t n)
{
	if (s == NULL || !is_avro_record(s) || avro_schema_record_size(s) != n)
		return RKV_EINVAL;
	for (size_t i = 0; i < n; i++) {
		const char *name = avro_schema_record_field_name(s, (int)i);
		if (name == NULL || strcmp(name, names[i]) != 0)
			return RKV_EINVAL;
	}
	return 0;
}

/* msg_check_record, and the fields have these types, in order. */
static int msg_check_typed(avro_schema_t s, const char *const *names,
                           const avro_type_t *types, size_t n)
{
	if (msg_check_record(s, names, n) != 0)
		return RKV_EINVAL;
	for (size_t i = 0; i < n; i++) {
		avro_schema_t f = msg_unlink(
		    avro_schema_record_field_get_by_index(s, (int)i));
		if (f == NULL || avro_typeof(f) != types[i])
			return RKV_EINVAL;
	}
	return 0;
}

static enum msg_schema_id msg_schema_by_stem(const char *stem)
{
	for (int i = 0; i < MSG_SCHEMA_COUNT; i++) {
		if (strcmp(msg_schema_stems[i], stem) == 0)
			return (enum msg_schema_id)i;
	}
	return MSG_SCHEMA_COUNT;
}

/* The reply schema of a request type (the reply bit may be set). */
static enum msg_schema_id msg_reply_schema(uint8_t type)
{
	switch (type & ~MSG_REPLY_BIT) {
	case MSG_REPLICATE: return MSG_SCHEMA_REPLICATE_REPLY;
	case MSG_FETCH: return MSG_SCHEMA_FETCH_REPLY;
	case MSG_FORWARD: return MSG_SCHEMA_FORWARD_REPLY;
	case MSG_HINT: return MSG_SCHEMA_HINT_REPLY;
	default: return MSG_SCHEMA_COUNT;
	}
}

static bool msg_key_ok(const uint8_t *key, size_t klen)
{
	return klen <= MSG_MAX_KEY && (key != NULL || klen == 0);
}

/* --- a small JSON reader, for the defaults of our own schemas ------------
 *
 * Only msg_codec_new uses it, on the schemas compiled into the binary; it
 * is strict anyway (depth, escapes, one document) so a bad .avsc fails at
 * start-up instead of decoding wrongly. */

enum msg_json_type {
	MSG_JSON_NULL,
	MSG_JSON_FALSE,
	MSG_JSON_TRUE,
	MSG_JSON_NUMBER, /* str holds the text */
	MSG_JSON_STRING, /* str holds the UTF-8, NUL-terminated */
	MSG_JSON_ARRAY,
	MSG_JSON_OBJECT,
};

struct msg_json {
	enum msg_json_type type;
	char *str;
	size_t len;
	char *key; /* member name, inside an object */
	struct msg_json *child;
	struct msg_json *next;
};

struct msg_jparse {
	const char *p;
	const char *end;
};

static void msg_json_free(struct msg_json *j)
{
	while (j != NULL) {
		struct msg_json *next = j->next;
		msg_json_free(j->child);
		free(j->str);
		free(j->key);
		free(j);
		j = next;
	}
}

static void msg_json_ws(struct msg_jparse *jp)
{
	while (jp->p < jp->end && strchr(" \t\r\n", *jp->p) != NULL &&
	       *jp->p != '\0')
		jp->p++;
}

static int msg_json_hex4(struct msg_jparse *jp, unsigned *out)
{
	unsigned v = 0;

	if (jp->end - jp->p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = *jp->p++;
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
		             : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
		             : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
		                                    : 16;
		if (d == 16)
			return -1;
		v = v * 16 + d;
	}
	*out = v;
	return 0;
}

static size_t msg_utf8_put(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* One \uXXXX escape (the backslash and u already read), surrogate pairs
 * joined. */
static int msg_json_uescape(struct msg_jparse *jp, unsigned *cp)
{
	unsigned lo = 0;

	if (msg_json_hex4(jp, cp) != 0)
		return -1;
	if (*cp < 0xd800 || *cp > 0xdfff)
		return 0;
	if (*cp > 0xdbff || jp->end - jp->p < 2 || jp->p[0] != '\\' ||
	    jp->p[1] != 'u')
		return -1;
	jp->p += 2;
	if (msg_json_hex4(jp, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
		return -1;
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
	return 0;
}

/* A string (the opening quote already read) into a malloc'ed buffer:
 * escapes never make it longer than its source text. */
static char *msg_json_string(struct msg_jparse *jp, size_t *len)
{
	const char *close = memchr(jp->p, '"', (size_t)(jp->end - jp->p));
	char *out = malloc((size_t)(jp->end - jp->p) + 1);
	size_t o = 0;

	if (out == NULL || close == NULL)
		goto fail;
	while (jp->p < jp->end && *jp->p != '"') {
		unsigned cp = (unsigned char)*jp->p++;
		if ((cp < 0x20) || (cp == '\\' && jp->p == jp->end))
			goto fail;
		if (cp != '\\') {
			out[o++] = (char)cp;
			continue;
		}
		const char *esc = strchr("\"\\/bfnrtu", *jp->p);
		if (*jp->p == '\0' || esc == NULL)
			goto fail;
		jp->p++;
		if (*esc != 'u') {
			out[o++] = "\"\\/\b\f\n\r\t"[esc - "\"\\/bfnrtu"];
			continue;
		}
		if (msg_json_uescape(jp, &cp) != 0)
			goto fail;
		o += msg_utf8_put(out + o, cp);
	}
	if (jp->p == jp->end)
		goto fail;
	jp->p++;
	out[o] = '\0';
	*len = o;
	return out;

fail:
	free(out);
	return NULL;
}

static struct msg_json *msg_json_value(struct msg_jparse *jp, unsigned depth);

/* A member name and its colon. */
static char *msg_json_key(struct msg_jparse *jp)
{
	size_t klen = 0;
	char *key = NULL;

	msg_json_ws(jp);
	if (jp->p == jp->end || *jp->p++ != '"')
		return NULL;
	key = msg_json_string(jp, &klen);
	msg_json_ws(jp);
	if (key != NULL && (jp->p == jp->end || *jp->p++ != ':')) {
		free(key);
		key = NULL;
	}
	return key;
}

/* The members of an array or object (the bracket already read). */
static int msg_json_items(struct msg_jparse *jp, struct msg_json *parent,
                          unsigned depth)
{
	bool object = parent->type == MSG_JSON_OBJECT;
	char close = object ? '}' : ']';
	struct msg_json **tail = &parent->child;

	msg_json_ws(jp);
	if (jp->p < jp->end && *jp->p == close) {
		jp->p++;
		return 0;
	}
	for (;;) {
		char *key = object ? msg_json_key(jp) : NULL;
		if (object && key == NULL)
			return -1;
		*tail = msg_json_value(jp, depth + 1);
		if (*tail == NULL) {
			free(key);
			return -1;
		}
		(*tail)->key = key;
		tail = &(*tail)->next;
		msg_json_ws(jp);
		if (jp->p == jp->end)
			return -1;
		if (*jp->p++ == close)
			return 0;
		if (jp->p[-1] != ',')
			return -1;
	}
}

static int msg_json_literal(struct msg_jparse *jp, struct msg_json *j)
{
	static const struct {
		const char *text;
		enum msg_json_type type;
	} lits[] = {{"null", MSG_JSON_NULL},
	            {"false", MSG_JSON_FALSE},
	            {"true", MSG_JSON_TRUE}};
	size_t left = (size_t)(jp->end - jp->p);
	size_t n = 0;

	for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		n = strlen(lits[i].text);
		if (left >= n && memcmp(jp->p, lits[i].text, n) == 0) {
			j->type = lits[i].type;
			jp->p += n;
			return 0;
		}
	}
	/* A number: its text is checked where it is used (strtoll/strtod
	 * must consume all of it). */
	n = 0;
	while (n < left && jp->p[n] != '\0' &&
	       strchr("+-.eE0123456789", jp->p[n]) != NULL)
		n++;
	if (n == 0)
		return -1;
	j->type = MSG_JSON_NUMBER;
	j->str = strndup(jp->p, n);
	j->len = n;
	jp->p += n;
	return j->str == NULL ? -1 : 0;
}

static struct msg_json *msg_json_value(struct msg_jparse *jp, unsigned depth)
{
	struct msg_json *j = NULL;
	int rc = 0;

	msg_json_ws(jp);
	if (depth > MSG_MAX_JSON_NESTING || jp->p == jp->end)
		return NULL;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return NULL;
	switch (*jp->p) {
	case '{':
	case '[':
		j->type = *jp->p++ == '{' ? MSG_JSON_OBJECT : MSG_JSON_ARRAY;
		rc = msg_json_items(jp, j, depth);
		break;
	case '"':
		jp->p++;
		j->type = MSG_JSON_STRING;
		j->str = msg_json_string(jp, &j->len);
		rc = j->str == NULL ? -1 : 0;
		break;
	default: rc = msg_json_literal(jp, j); break;
	}
	if (rc != 0) {
		msg_json_free(j);
		return NULL;
	}
	return j;
}

static struct msg_json *msg_json_parse(const char *text, size_t len)
{
	struct msg_jparse jp = {.p = text, .end = text + len};
	struct msg_json *j = msg_json_value(&jp, 0);

	msg_json_ws(&jp);
	if (j != NULL && jp.p != jp.end) {
		msg_json_free(j);
		return NULL;
	}
	return j;
}

static const struct msg_json *msg_json_get(const struct msg_json *obj,
                                           const char *key)
{
	if (obj == NULL || obj->type != MSG_JSON_OBJECT)
		return NULL;
	for (const struct msg_json *m = obj->child; m != NULL; m = m->next) {
		if (strcmp(m->key, key) == 0)
			return m;
	}
	return NULL;
}

static bool msg_json_is(const struct msg_json *j, const char *str)
{
	return j != NULL && j->type == MSG_JSON_STRING &&
	       strcmp(j->str, str) == 0;
}

/* The deepest bracket nesting of a JSON text, strings skipped: checked on
 * a peer's schema before Avro C's recursive parser sees it. */
static unsigned msg_json_nesting(const char *text, size_t len)
{
	unsigned depth = 0, max = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (in_str && c == '\\')
			i++;
		else if (c == '"')
			in_str = !in_str;
		else if (!in_str && (c == '[' || c == '{'))
			max = ++depth > max ? depth : max;
		else if (!in_str && (c == ']' || c == '}') && depth > 0)
			depth--;
	}
	return max;
}

/* The names of the named types a schema defines (their last component). */
struct msg_named {
	const char *name[MSG_MAX_NAMED_TYPES];
	size_t n;
};

static int msg_json_named(const struct msg_json *j, struct msg_named *seen,
                          unsigned depth)
{
	const struct msg_json *type = msg_json_get(j, "type");
	const struct msg_json *name = msg_json_get(j, "name");

	if (depth > MSG_MAX_JSON_NESTING)
		return -1;
	if ((msg_json_is(type, "record") || msg_json_is(type, "error") ||
	     msg_json_is(type, "enum") || msg_json_is(type, "fixed")) &&
	    name != NULL && name->type == MSG_JSON_STRING) {
		const char *last = strrchr(name->str, '.');
		last = last != NULL ? last + 1 : name->str;
		for (size_t i = 0; i < seen->n; i++)
			if (strcmp(seen->name[i], last) == 0)
				return -1;
		if (seen->n == MSG_MAX_NAMED_TYPES)
			return -1;
		seen->name[seen->n++] = last;
	}
	for (const struct msg_json *c = j->child; c != NULL; c = c->next)
		if (msg_json_named(c, seen, depth + 1) != 0)
			return -1;
	return 0;
}

/* Whether a peer's schema text parses and defines each named type once.
 * Avro C's parser refuses a name defined twice but leaks what it had
 * built for the schema (Avro C 1.11, found by fuzzing the HELLO): each
 * such HELLO would cost the node a kilobyte or so. */
static bool msg_json_names_once(const char *json, size_t len)
{
	struct msg_json *j = msg_json_parse(json, len);
	struct msg_named *seen = calloc(1, sizeof(*seen));
	bool once =
	    j != NULL && seen != NULL && msg_json_named(j, seen, 0) == 0;

	free(seen);
	msg_json_free(j);
	return once;
}

/* --- defaults: JSON default -> Avro value --------------------------------- */

/* Avro encodes a bytes/fixed default as a string whose code points are
 * the byte values (0..255); undo the UTF-8 of those code points. */
static int msg_latin1(const struct msg_json *j, uint8_t *out, size_t *n)
{
	size_t o = 0;

	for (size_t i = 0; i < j->len; i++) {
		unsigned char c = (unsigned char)j->str[i];
		if (c < 0x80) {
			out[o++] = c;
			continue;
		}
		if ((c != 0xc2 && c != 0xc3) || i + 1 == j->len ||
		    ((unsigned char)j->str[i + 1] & 0xc0) != 0x80)
			return -1;
		out[o++] = (uint8_t)(((c & 0x03) << 6) |
		                     ((unsigned char)j->str[++i] & 0x3f));
	}
	*n = o;
	return 0;
}

static int msg_json_int(const struct msg_json *j, int64_t *out)
{
	char *end = NULL;

	if (j->type != MSG_JSON_NUMBER)
		return -1;
	*out = strtoll(j->str, &end, 10);
	return *end == '\0' ? 0 : -1;
}

static int msg_json_real(const struct msg_json *j, double *out)
{
	char *end = NULL;

	if (j->type != MSG_JSON_NUMBER)
		return -1;
	*out = strtod(j->str, &end);
	return *end == '\0' ? 0 : -1;
}

static int msg_default_set(avro_value_t *v, avro_schema_t s,
                           const struct msg_json *j, unsigned depth);

static int msg_default_bytes(avro_value_t *v, avro_schema_t s,
                             const struct msg_json *j)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	int rc = -1;

	if (j->type != MSG_JSON_STRING)
		return -1;
	buf = malloc(j->len + 1);
	if (buf == NULL || msg_latin1(j, buf, &n) != 0)
		goto out;
	if (is_avro_bytes(s))
		rc = avro_value_set_bytes(v, buf, n);
	else if ((int64_t)n == avro_schema_fixed_size(s))
		rc = avro_value_set_fixed(v, buf, n);
out:
	free(buf);
	return rc == 0 ? 0 : -1;
}

static int msg_default_items(avro_value_t *v, avro_schema_t s,
                             const struct msg_json *j, unsigned depth)
{
	bool map = is_avro_map(s);
	avro_schema_t items =
	    map ? avro_schema_map_values(s) : avro_schema_array_items(s);
	avro_value_t child;

	if (j->type != (map ? MSG_JSON_OBJECT : MSG_JSON_ARRAY))
		return -1;
	for (const struct msg_json *m = j->child; m != NULL; m = m->next) {
		int rc = map ? avro_value_add(v, m->key, &child, NULL, NULL)
		             : avro_value_append(v, &child, NULL);
		if (rc != 0 ||
		    msg_default_set(&child, items, m, depth + 1) != 0)
			return -1;
	}
	return 0;
}

/* A record default names every field (nested defaults are not consulted:
 * no schema of ours needs them). */
static int msg_default_record(avro_value_t *v, avro_schema_t s,
                              const struct msg_json *j, unsigned depth)
{
	avro_value_t child;

	for (size_t i = 0; i < avro_schema_record_size(s); i++) {
		const struct msg_json *m =
		    msg_json_get(j, avro_schema_record_field_name(s, (int)i));
		if (m == NULL ||
		    avro_value_get_by_index(v, i, &child, NULL) != 0 ||
		    msg_default_set(
		        &child,
		        avro_schema_record_field_get_by_index(s, (int)i), m,
		        depth + 1) != 0)
			return -1;
	}
	return 0;
}

/* Set v (of schema s) to the JSON default j, as the Avro specification
 * reads defaults: a union's default is of its first branch. */
static int msg_default_set(avro_value_t *v, avro_schema_t s,
                           const struct msg_json *j, unsigned depth)
{
	avro_value_t branch;
	int64_t n = 0;
	double d = 0;

	s = msg_unlink(s);
	if (depth > MSG_MAX_DEPTH || s == NULL)
		return -1;
	switch (avro_typeof(s)) {
	case AVRO_NULL:
		return j->type == MSG_JSON_NULL ? avro_value_set_null(v) : -1;
	case AVRO_BOOLEAN:
		if (j->type != MSG_JSON_TRUE && j->type != MSG_JSON_FALSE)
			return -1;
		return avro_value_set_boolean(v, j->type == MSG_JSON_TRUE);
	case AVRO_INT32:
		if (msg_json_int(j, &n) != 0 || n < INT32_MIN || n > INT32_MAX)
			return -1;
		return avro_value_set_int(v, (int32_t)n);
	case AVRO_INT64:
		return msg_json_int(j, &n) == 0 ? avro_value_set_long(v, n)
		                                : -1;
	case AVRO_FLOAT:
		return msg_json_real(j, &d) == 0
		           ? avro_value_set_float(v, (float)d)
		           : -1;
	case AVRO_DOUBLE:
		return msg_json_real(j, &d) == 0 ? avro_value_set_double(v, d)
		                                 : -1;
	case AVRO_STRING:
		return j->type == MSG_JSON_STRING
		           ? avro_value_set_string_len(v, j->str, j->len + 1)
		           : -1;
	case AVRO_BYTES:
	case AVRO_FIXED: return msg_default_bytes(v, s, j);
	case AVRO_ENUM:
		n = j->type == MSG_JSON_STRING
		        ? avro_schema_enum_get_by_name(s, j->str)
		        : -1;
		return n >= 0 ? avro_value_set_enum(v, (int)n) : -1;
	case AVRO_UNION:
		if (avro_value_set_branch(v, 0, &branch) != 0)
			return -1;
		return msg_default_set(&branch, avro_schema_union_branch(s, 0),
		                       j, depth + 1);
	case AVRO_ARRAY:
	case AVRO_MAP: return msg_default_items(v, s, j, depth);
	case AVRO_RECORD: return msg_default_record(v, s, j, depth);
	default: return -1;
	}
}

static const struct msg_default *
msg_default_find(const struct msg_codec *mc, avro_schema_t record, size_t field)
{
	for (size_t i = 0; i < mc->ndefaults; i++) {
		if (mc->defaults[i].record == record &&
		    mc->defaults[i].field == field)
			return &mc->defaults[i];
	}
	return NULL;
}

static int msg_default_add(struct msg_codec *mc, avro_schema_t record,
                           size_t field, const struct msg_json *j)
{
	avro_schema_t fs =
	    avro_schema_record_field_get_by_index(record, (int)field);
	struct msg_default *grown = NULL;
	struct msg_default *d = NULL;

	grown = realloc(mc->defaults, (mc->ndefaults + 1) * sizeof(*grown));
	if (grown == NULL)
		return RKV_ENOMEM;
	mc->defaults = grown;
	d = &mc->defaults[mc->ndefaults];
	memset(d, 0, sizeof(*d));
	d->record = record;
	d->field = field;
	d->iface = avro_generic_class_from_schema(fs);
	if (d->iface == NULL)
		return RKV_ENOMEM;
	if (avro_generic_value_new(d->iface, &d->value) != 0) {
		avro_value_iface_decref(d->iface);
		return RKV_ENOMEM;
	}
	mc->ndefaults++;
	return msg_default_set(&d->value, fs, j, 0) == 0 ? 0 : RKV_EINVAL;
}

static int msg_defaults_walk(struct msg_codec *mc, const struct msg_json *j,
                             avro_schema_t s, unsigned depth);

static int msg_defaults_fields(struct msg_codec *mc, const struct msg_json *j,
                               avro_schema_t s, unsigned depth)
{
	const struct msg_json *fields = msg_json_get(j, "fields");
	size_t i = 0;

	if (fields == NULL || fields->type != MSG_JSON_ARRAY)
		return RKV_EINVAL;
	for (const struct msg_json *f = fields->child; f != NULL;
	     f = f->next, i++) {
		const struct msg_json *def = msg_json_get(f, "default");
		int rc = 0;
		if (i >= avro_schema_record_size(s) ||
		    !msg_json_is(msg_json_get(f, "name"),
		                 avro_schema_record_field_name(s, (int)i)))
			return RKV_EINVAL;
		if (def != NULL)
			rc = msg_default_add(mc, s, i, def);
		if (rc == 0)
			rc = msg_defaults_walk(
			    mc, msg_json_get(f, "type"),
			    avro_schema_record_field_get_by_index(s, (int)i),
			    depth + 1);
		if (rc != 0)
			return rc;
	}
	return i == avro_schema_record_size(s) ? 0 : RKV_EINVAL;
}

static int msg_defaults_union(struct msg_codec *mc, const struct msg_json *j,
                              avro_schema_t s, unsigned depth)
{
	size_t i = 0;

	for (const struct msg_json *b = j->child; b != NULL; b = b->next, i++) {
		int rc = msg_defaults_walk(
		    mc, b, avro_schema_union_branch(s, (int)i), depth + 1);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Walk a schema's JSON and its parsed form side by side (Avro C keeps
 * fields and branches in their JSON order) and collect every field
 * default. A named type used again is a string in the JSON: its defaults
 * were collected where it was defined. */
static int msg_defaults_walk(struct msg_codec *mc, const struct msg_json *j,
                             avro_schema_t s, unsigned depth)
{
	const struct msg_json *type = msg_json_get(j, "type");

	if (depth > MSG_MAX_DEPTH || j == NULL || s == NULL)
		return RKV_EINVAL;
	if (j->type == MSG_JSON_ARRAY && is_avro_union(s))
		return msg_defaults_union(mc, j, s, depth);
	if (j->type != MSG_JSON_OBJECT)
		return 0;
	if (type != NULL && type->type != MSG_JSON_STRING)
		return msg_defaults_walk(mc, type, s, depth + 1);
	if (msg_json_is(type, "record") || msg_json_is(type, "error"))
		return msg_defaults_fields(mc, j, s, depth);
	if (msg_json_is(type, "array"))
		return msg_defaults_walk(mc, msg_json_get(j, "items"),
		                         avro_schema_array_items(s), depth + 1);
	if (msg_json_is(type, "map"))
		return msg_defaults_walk(mc, msg_json_get(j, "values"),
		                         avro_schema_map_values(s), depth + 1);
	return 0;
}

/* --- pass 1: walk untrusted bytes against a schema, allocating nothing ---- */

struct msg_scan {
	const uint8_t *start;
	const uint8_t *p;
	const uint8_t *end;
	size_t items; /* array and map items so far */
	size_t max_items;
	size_t ntop;                    /* top-level fields seen */
	size_t top[MSG_MAX_TOP_FIELDS]; /* their offsets from start */
};

/* An Avro int: a long of at most MSG_MAX_VARINT32 bytes, within int32. */
static int msg_get_int(const uint8_t **p, const uint8_t *end, int32_t *out)
{
	const uint8_t *start = *p;
	int64_t n = 0;

	if (avro_bin_get_long(p, end, &n) != 0 ||
	    *p - start > MSG_MAX_VARINT32 || n < INT32_MIN || n > INT32_MAX)
		return RKV_ECORRUPT;
	*out = (int32_t)n;
	return 0;
}

static int msg_scan_skip(struct msg_scan *s, int64_t n)
{
	if (n < 0 || (uint64_t)n > (uint64_t)(s->end - s->p))
		return RKV_ECORRUPT;
	s->p += n;
	return 0;
}

static int msg_scan_value(struct msg_scan *s, avro_schema_t schema,
                          unsigned depth);

/* Array and map blocks: "count, items..., ..., 0". Negative counts (a
 * block prefixed with its byte size) are legal Avro that Avro C never
 * writes and whose INT64_MIN its reader negates: refused. */
/* The items of one block: a map item is a string key, then the value. */
static int msg_scan_block(struct msg_scan *s, avro_schema_t items, bool map,
                          int64_t count, unsigned depth)
{
	int64_t klen = 0;

	for (int64_t i = 0; i < count; i++) {
		if (map && (avro_bin_get_long(&s->p, s->end, &klen) != 0 ||
		            msg_scan_skip(s, klen) != 0))
			return RKV_ECORRUPT;
		if (msg_scan_value(s, items, depth + 1) != 0)
			return RKV_ECORRUPT;
	}
	return 0;
}

static int msg_scan_blocks(struct msg_scan *s, avro_schema_t items, bool map,
                           unsigned depth)
{
	int64_t count = 0;

	for (;;) {
		if (avro_bin_get_long(&s->p, s->end, &count) != 0 ||
		    count < 0 || (uint64_t)count > s->max_items - s->items)
			return RKV_ECORRUPT;
		if (count == 0)
			return 0;
		s->items += (size_t)count;
		if (msg_scan_block(s, items, map, count, depth) != 0)
			return RKV_ECORRUPT;
	}
}

static int msg_scan_record(struct msg_scan *s, avro_schema_t schema,
                           unsigned depth)
{
	size_t n = avro_schema_record_size(schema);

	for (size_t i = 0; i < n; i++) {
		avro_schema_t f =
		    avro_schema_record_field_get_by_index(schema, (int)i);
		if (depth == 0 && i < MSG_MAX_TOP_FIELDS) {
			s->top[i] = (size_t)(s->p - s->start);
			s->ntop = i + 1;
		}
		if (f == NULL || msg_scan_value(s, f, depth + 1) != 0)
			return RKV_ECORRUPT;
	}
	return 0;
}

/* An index (enum symbol, union branch) below n. */
static int msg_scan_index(struct msg_scan *s, int64_t n, int64_t *out)
{
	if (avro_bin_get_long(&s->p, s->end, out) != 0 || *out < 0 || *out >= n)
		return RKV_ECORRUPT;
	return 0;
}

static int msg_scan_value(struct msg_scan *s, avro_schema_t schema,
                          unsigned depth)
{
	int64_t n = 0;
	int32_t i = 0;

	if (depth > MSG_MAX_DEPTH || schema == NULL)
		return RKV_ECORRUPT;
	switch (avro_typeof(schema)) {
	case AVRO_NULL: return 0;
	case AVRO_BOOLEAN:
		if (s->p == s->end || *s->p > 1)
			return RKV_ECORRUPT;
		s->p++;
		return 0;
	case AVRO_INT32: return msg_get_int(&s->p, s->end, &i);
	case AVRO_INT64: return avro_bin_get_long(&s->p, s->end, &n);
	case AVRO_FLOAT: return msg_scan_skip(s, 4);
	case AVRO_DOUBLE: return msg_scan_skip(s, 8);
	case AVRO_BYTES:
	case AVRO_STRING:
		if (avro_bin_get_long(&s->p, s->end, &n) != 0)
			return RKV_ECORRUPT;
		return msg_scan_skip(s, n);
	case AVRO_FIXED:
		return msg_scan_skip(s, avro_schema_fixed_size(schema));
	case AVRO_ENUM:
		return msg_scan_index(
		    s, avro_schema_enum_number_of_symbols(schema), &n);
	case AVRO_UNION:
		if (msg_scan_index(s, (int64_t)avro_schema_union_size(schema),
		                   &n) != 0)
			return RKV_ECORRUPT;
		return msg_scan_value(
		    s, avro_schema_union_branch(schema, (int)n), depth + 1);
	case AVRO_ARRAY:
		return msg_scan_blocks(s, avro_schema_array_items(schema),
		                       false, depth);
	case AVRO_MAP:
		return msg_scan_blocks(s, avro_schema_map_values(schema), true,
		                       depth);
	case AVRO_RECORD: return msg_scan_record(s, schema, depth);
	case AVRO_LINK:
		/* depth + 1 keeps a schema that contains itself finite. */
		return msg_scan_value(s, avro_schema_link_target(schema),
		                      depth + 1);
	default: return RKV_ECORRUPT;
	}
}

static int msg_scan(avro_schema_t schema, const void *buf, size_t len,
                    size_t max_items, struct msg_scan *s)
{
	memset(s, 0, sizeof(*s));
	if (buf == NULL && len > 0)
		return RKV_ECORRUPT;
	s->start = buf;
	s->p = buf;
	s->end = len > 0 ? (const uint8_t *)buf + len : s->p;
	s->max_items = max_items;
	if (msg_scan_value(s, schema, 0) != 0 || s->p != s->end)
		return RKV_ECORRUPT;
	return 0;
}

/* --- resolution ----------------------------------------------------------- */

/* R' for the pair (r, w): our schema r cut to the record fields w has. A
 * field w lacks is dropped when r gives it a default, else the pair is
 * unreadable (NULL), as is a record, enum or fixed that w names otherwise
 * (resolution pairs them by name; Avro C's resolver crashes on such a pair
 * instead of refusing it), and any other pair msg_leaf_ok refuses.
 * *missing names the culprit. */
static avro_schema_t msg_project(const struct msg_codec *mc, avro_schema_t r,
                                 avro_schema_t w, unsigned depth,
                                 const char **missing);

/* Whether two named types have the same full name. */
static bool msg_same_name(avro_schema_t r, avro_schema_t w)
{
	const char *rns = avro_schema_namespace(r);
	const char *wns = avro_schema_namespace(w);

	return strcmp(avro_schema_type_name(r), avro_schema_type_name(w)) ==
	           0 &&
	       strcmp(rns != NULL ? rns : "", wns != NULL ? wns : "") == 0;
}

/* Whether Avro C resolves the writer's w into our r, neither a record,
 * array nor map, without failing. It must not fail at all: when its
 * resolver fails inside a record, it frees child resolvers it shares
 * with other fields (Avro C 1.11: a double free, or a crash in
 * avro_resolved_reader_new, found by fuzzing the HELLO). So only what it
 * always resolves passes: the same primitive, Avro's promotions (int to
 * long, float or double; long to float or double; float to double), and
 * an enum, fixed or union equal to ours. */
static bool msg_leaf_ok(avro_schema_t r, avro_schema_t w)
{
	avro_type_t rt = avro_typeof(r);

	switch (avro_typeof(w)) {
	case AVRO_ENUM:
	case AVRO_FIXED:
	case AVRO_UNION: return avro_schema_equal(r, w);
	case AVRO_INT32:
		return rt == AVRO_INT32 || rt == AVRO_INT64 ||
		       rt == AVRO_FLOAT || rt == AVRO_DOUBLE;
	case AVRO_INT64:
		return rt == AVRO_INT64 || rt == AVRO_FLOAT ||
		       rt == AVRO_DOUBLE;
	case AVRO_FLOAT: return rt == AVRO_FLOAT || rt == AVRO_DOUBLE;
	case AVRO_DOUBLE:
	case AVRO_STRING:
	case AVRO_BYTES:
	case AVRO_BOOLEAN:
	case AVRO_NULL: return rt == avro_typeof(w);
	default: return false;
	}
}

static avro_schema_t msg_project_record(const struct msg_codec *mc,
                                        avro_schema_t r, avro_schema_t w,
                                        unsigned depth, const char **missing)
{
	avro_schema_t out =
	    avro_schema_record(avro_schema_name(r), avro_schema_namespace(r));

	for (size_t i = 0; out != NULL && i < avro_schema_record_size(r); i++) {
		const char *name = avro_schema_record_field_name(r, (int)i);
		int wi = avro_schema_record_field_get_index(w, name);
		avro_schema_t sub = NULL;
		if (wi < 0 && msg_default_find(mc, r, i) != NULL)
			continue;
		if (wi < 0)
			*missing = name;
		else
			sub = msg_project(
			    mc,
			    avro_schema_record_field_get_by_index(r, (int)i),
			    avro_schema_record_field_get_by_index(w, wi),
			    depth + 1, missing);
		if (sub == NULL ||
		    avro_schema_record_field_append(out, name, sub) != 0) {
			avro_schema_decref(out);
			out = NULL;
		}
		if (sub != NULL)
			avro_schema_decref(sub);
	}
	return out;
}

static avro_schema_t msg_project(const struct msg_codec *mc, avro_schema_t r,
                                 avro_schema_t w, unsigned depth,
                                 const char **missing)
{
	avro_schema_t sub = NULL, out = NULL;

	r = msg_unlink(r);
	w = msg_unlink(w);
	if (depth > MSG_MAX_DEPTH || r == NULL || w == NULL)
		return NULL;
	if (is_avro_named_type(r) && avro_typeof(r) == avro_typeof(w) &&
	    !msg_same_name(r, w)) {
		*missing = avro_schema_type_name(r);
		return NULL;
	}
	if (is_avro_record(r) && is_avro_record(w))
		return msg_project_record(mc, r, w, depth, missing);
	if (is_avro_array(r) && is_avro_array(w)) {
		sub =
		    msg_project(mc, avro_schema_array_items(r),
		                avro_schema_array_items(w), depth + 1, missing);
		out = sub != NULL ? avro_schema_array(sub) : NULL;
	} else if (is_avro_map(r) && is_avro_map(w)) {
		sub =
		    msg_project(mc, avro_schema_map_values(r),
		                avro_schema_map_values(w), depth + 1, missing);
		out = sub != NULL ? avro_schema_map(sub) : NULL;
	} else if (msg_leaf_ok(r, w)) {
		return avro_schema_incref(r);
	} else {
		*missing = avro_schema_type_name(r);
		return NULL;
	}
	if (sub != NULL)
		avro_schema_decref(sub);
	return out;
}

static void msg_resolver_deinit(struct msg_resolver *res)
{
	if (res->rlive)
		avro_value_decref(&res->rvalue);
	if (res->wlive)
		avro_value_decref(&res->wvalue);
	if (res->riface != NULL)
		avro_value_iface_decref(res->riface);
	if (res->wiface != NULL)
		avro_value_iface_decref(res->wiface);
	if (res->rschema != NULL)
		avro_schema_decref(res->rschema);
	if (res->wschema != NULL)
		avro_schema_decref(res->wschema);
	memset(res, 0, sizeof(*res));
}

/* Whether a value of s stays within *budget schema nodes, every use of a
 * named type counted in full, as Avro C's generic value allocates a
 * record's fields up front: a few kilobytes of JSON that reuse a record
 * ten times a level would otherwise cost gigabytes, and a record that
 * holds itself would recurse until the stack is gone. Unions, arrays and
 * maps are counted in full too, as one byte of a body can instantiate
 * them. A type nested deeper than MSG_MAX_DEPTH is refused. */
static bool msg_schema_small(avro_schema_t s, unsigned depth, size_t *budget)
{
	size_t n = 0;

	if (s == NULL || depth > MSG_MAX_DEPTH || *budget == 0)
		return false;
	--*budget;
	switch (avro_typeof(s)) {
	case AVRO_LINK:
		return msg_schema_small(avro_schema_link_target(s), depth + 1,
		                        budget);
	case AVRO_ARRAY:
		return msg_schema_small(avro_schema_array_items(s), depth + 1,
		                        budget);
	case AVRO_MAP:
		return msg_schema_small(avro_schema_map_values(s), depth + 1,
		                        budget);
	case AVRO_RECORD:
		n = avro_schema_record_size(s);
		for (size_t i = 0; i < n; i++)
			if (!msg_schema_small(
			        avro_schema_record_field_get_by_index(s,
			                                              (int)i),
			        depth + 1, budget))
				return false;
		return true;
	case AVRO_UNION:
		n = avro_schema_union_size(s);
		for (size_t i = 0; i < n; i++)
			if (!msg_schema_small(
			        avro_schema_union_branch(s, (int)i), depth + 1,
			        budget))
				return false;
		return true;
	default: return true;
	}
}

/* Build the resolver of schema `id` for a peer that announced `json`.
 * Errors leave res zeroed (the caller marks it broken) after one log line:
 * a peer we cannot read is worth knowing about during an upgrade. */
static int msg_resolver_init(struct msg_codec *mc, struct msg_resolver *res,
                             enum msg_schema_id id, const char *json,
                             size_t len)
{
	const char *missing = "?";
	size_t budget = MSG_MAX_SCHEMA_NODES;
	char why[160];

	snprintf(why, sizeof(why), "nested deeper than %d",
	         MSG_MAX_JSON_NESTING);
	if (msg_json_nesting(json, len) > MSG_MAX_JSON_NESTING)
		goto fail;
	snprintf(why, sizeof(why),
	         "not JSON, a named type defined twice, or more than %d",
	         MSG_MAX_NAMED_TYPES);
	if (!msg_json_names_once(json, len))
		goto fail;
	if (avro_schema_from_json_length(json, len, &res->wschema) != 0)
		goto fail_avro;
	snprintf(why, sizeof(why), "not a record");
	if (!is_avro_record(msg_unlink(res->wschema)))
		goto fail;
	snprintf(why, sizeof(why),
	         "more than %d types once its names are expanded, or nested "
	         "deeper than %d",
	         MSG_MAX_SCHEMA_NODES, MSG_MAX_DEPTH);
	if (!msg_schema_small(res->wschema, 0, &budget))
		goto fail;
	res->rschema =
	    msg_project(mc, mc->slots[id].schema, res->wschema, 0, &missing);
	snprintf(why, sizeof(why),
	         "its %s does not resolve to ours: a field without a "
	         "default, a renamed type, or a type Avro does not promote",
	         missing);
	if (res->rschema == NULL)
		goto fail;
	res->riface = avro_resolved_reader_new(res->wschema, res->rschema);
	if (res->riface == NULL)
		goto fail_avro;
	res->wiface = avro_generic_class_from_schema(res->wschema);
	if (res->wiface == NULL ||
	    avro_generic_value_new(res->wiface, &res->wvalue) != 0)
		goto fail_avro;
	res->wlive = true;
	if (avro_resolved_reader_new_value(res->riface, &res->rvalue) != 0)
		goto fail_avro;
	res->rlive = true;
	avro_resolved_reader_set_source(&res->rvalue, &res->wvalue);
	res->state = MSG_RES_RESOLVED;
	return 0;

fail_avro:
	snprintf(why, sizeof(why), "%s", avro_strerror());
fail:
	log_warn("msg: cannot read the peer's %s schema (%s); its bodies of "
	         "that schema will be refused",
	         msg_schema_stems[id], why);
	msg_resolver_deinit(res);
	return RKV_ECORRUPT;
}

static int msg_copy(const struct msg_codec *mc, avro_value_t *dst,
                    avro_value_t *src, avro_schema_t rs, unsigned depth);

/* One field of our record: what the view has, else our default. */
static int msg_copy_field(const struct msg_codec *mc, avro_value_t *dst,
                          avro_value_t *src, avro_schema_t rs, size_t i,
                          unsigned depth)
{
	const char *name = avro_schema_record_field_name(rs, (int)i);
	const struct msg_default *d = NULL;
	avro_value_t df, sf;

	if (avro_value_get_by_index(dst, i, &df, NULL) != 0)
		return RKV_ENOMEM;
	if (avro_value_get_by_name(src, name, &sf, NULL) == 0)
		return msg_copy(
		    mc, &df, &sf,
		    avro_schema_record_field_get_by_index(rs, (int)i),
		    depth + 1);
	d = msg_default_find(mc, rs, i);
	if (d == NULL || avro_value_copy_fast(&df, &d->value) != 0)
		return RKV_ECORRUPT;
	return 0;
}

static int msg_copy_record(const struct msg_codec *mc, avro_value_t *dst,
                           avro_value_t *src, avro_schema_t rs, unsigned depth)
{
	for (size_t i = 0; i < avro_schema_record_size(rs); i++) {
		int rc = msg_copy_field(mc, dst, src, rs, i, depth);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int msg_copy_items(const struct msg_codec *mc, avro_value_t *dst,
                          avro_value_t *src, avro_schema_t rs, unsigned depth)
{
	bool map = is_avro_map(rs);
	avro_schema_t items =
	    map ? avro_schema_map_values(rs) : avro_schema_array_items(rs);
	avro_value_t de, se;
	const char *key = NULL;
	size_t n = 0;

	if (avro_value_get_size(src, &n) != 0)
		return RKV_ECORRUPT;
	for (size_t i = 0; i < n; i++) {
		int rc = avro_value_get_by_index(src, i, &se, &key);
		if (rc == 0)
			rc = map ? avro_value_add(dst, key, &de, NULL, NULL)
			         : avro_value_append(dst, &de, NULL);
		if (rc != 0 || msg_copy(mc, &de, &se, items, depth + 1) != 0)
			return RKV_ECORRUPT;
	}
	return 0;
}

/* Copy the resolved view src (of R') into dst (of our schema rs). */
static int msg_copy(const struct msg_codec *mc, avro_value_t *dst,
                    avro_value_t *src, avro_schema_t rs, unsigned depth)
{
	avro_value_t db, sb;
	int disc = 0;

	rs = msg_unlink(rs);
	if (depth > MSG_MAX_DEPTH || rs == NULL)
		return RKV_ECORRUPT;
	switch (avro_typeof(rs)) {
	case AVRO_RECORD: return msg_copy_record(mc, dst, src, rs, depth);
	case AVRO_ARRAY:
	case AVRO_MAP: return msg_copy_items(mc, dst, src, rs, depth);
	case AVRO_UNION:
		if (avro_value_get_discriminant(src, &disc) != 0 ||
		    avro_value_get_current_branch(src, &sb) != 0 ||
		    avro_value_set_branch(dst, disc, &db) != 0)
			return RKV_ECORRUPT;
		return msg_copy(mc, &db, &sb,
		                avro_schema_union_branch(rs, disc), depth + 1);
	default:
		/* A leaf: the resolver converts the writer's type. */
		return avro_value_copy_fast(dst, src) == 0 ? 0 : RKV_ECORRUPT;
	}
}

/* --- reading a body ------------------------------------------------------- */

/* A body being decoded: our schema's value holds it, whoever wrote it. */
struct msg_in {
	const uint8_t *buf;
	size_t len;
	avro_schema_t wschema; /* what the bytes were written with */
	struct msg_scan scan;  /* top-level field offsets in buf */
	avro_value_t *value;   /* the slot's value, of our schema */
};

static int msg_avro_read(struct msg_codec *mc, avro_value_t *v, const void *buf,
                         size_t len)
{
	avro_reader_memory_set_source(mc->reader, len > 0 ? buf : msg_empty,
	                              (int64_t)len);
	/* The scan proved the bytes well-formed and that the value ends at
	 * the last byte (avro_reader_is_eof is always false on a memory
	 * reader, so it cannot tell): a failure here is memory, or a writer
	 * union branch our schema has no match for. */
	if (avro_value_read(mc->reader, v) != 0)
		return RKV_ECORRUPT;
	return 0;
}

static void msg_in_done(struct msg_codec *mc, const struct msg_peer *peer,
                        enum msg_schema_id id)
{
	avro_value_reset(&mc->slots[id].value);
	if (peer != NULL && peer->res[id].state == MSG_RES_RESOLVED) {
		avro_value_t r = peer->res[id].rvalue;
		avro_value_reset(&r);
	}
}

static int msg_in_read(struct msg_codec *mc, const struct msg_peer *peer,
                       enum msg_schema_id id, const void *buf, size_t len,
                       struct msg_in *in)
{
	struct msg_slot *slot = &mc->slots[id];
	const struct msg_resolver *res = peer != NULL ? &peer->res[id] : NULL;
	avro_value_t r, w;
	int rc = 0;

	in->buf = buf;
	in->len = len;
	in->value = &slot->value;
	in->wschema = slot->schema;
	avro_value_reset(&slot->value);
	if (res == NULL || res->state == MSG_RES_SAME) {
		rc = msg_scan(slot->schema, buf, len, MSG_MAX_ITEMS, &in->scan);
		return rc != 0 ? rc : msg_avro_read(mc, &slot->value, buf, len);
	}
	if (res->state != MSG_RES_RESOLVED)
		return RKV_ECORRUPT;
	in->wschema = msg_unlink(res->wschema);
	rc = msg_scan(res->wschema, buf, len, MSG_MAX_ITEMS, &in->scan);
	if (rc != 0)
		return rc;
	/* Handles onto the peer's reusable instances: reading changes the
	 * instances, never the (const) peer. */
	r = res->rvalue;
	w = res->wvalue;
	avro_value_reset(&r); /* drops the view's wrappers and resets w */
	rc = msg_avro_read(mc, &w, buf, len);
	if (rc == 0)
		rc = msg_copy(mc, &slot->value, &r, slot->schema, 0);
	return rc;
}

/* A bytes field at the top of the body, as a pointer into the caller's
 * buffer (Avro's copy dies at the next reset). Found by name in whatever
 * schema wrote the body. */
static int msg_in_bytes(struct msg_in *in, const char *name,
                        const uint8_t **out, size_t *len)
{
	int wi = avro_schema_record_field_get_index(in->wschema, name);
	avro_schema_t f = NULL;
	const uint8_t *p = NULL;

	if (wi < 0 || (size_t)wi >= in->scan.ntop)
		return RKV_ECORRUPT;
	f = msg_unlink(avro_schema_record_field_get_by_index(in->wschema, wi));
	if (f == NULL || (!is_avro_bytes(f) && !is_avro_string(f)))
		return RKV_ECORRUPT;
	p = in->buf + in->scan.top[wi];
	if (avro_bin_get_bytes(&p, in->buf + in->len, out, len) != 0)
		return RKV_ECORRUPT;
	if (*len == 0)
		*out = NULL;
	return 0;
}

static int msg_field(avro_value_t *rec, int index, avro_value_t *out)
{
	return avro_value_get_by_index(rec, (size_t)index, out, NULL) == 0
	           ? 0
	           : RKV_ECORRUPT;
}

static int msg_get_u64(avro_value_t *rec, int index, uint64_t *out)
{
	avro_value_t f;
	int64_t n = 0;

	if (msg_field(rec, index, &f) != 0 || avro_value_get_long(&f, &n) != 0)
		return RKV_ECORRUPT;
	*out = (uint64_t)n;
	return 0;
}

static int msg_get_u32(avro_value_t *rec, int index, uint32_t *out)
{
	uint64_t n = 0;

	if (msg_get_u64(rec, index, &n) != 0 || n > UINT32_MAX)
		return RKV_ECORRUPT;
	*out = (uint32_t)n;
	return 0;
}

/* A string of at most `max` bytes without inner NULs into dst[max + 1]. */
static int msg_get_name(avro_value_t *rec, int index, char *dst, size_t max)
{
	avro_value_t f;
	const char *s = NULL;
	size_t size = 0;

	if (msg_field(rec, index, &f) != 0 ||
	    avro_value_get_string(&f, &s, &size) != 0)
		return RKV_ECORRUPT;
	/* size counts the terminator. */
	if (size == 0 || size - 1 > max || memchr(s, '\0', size - 1) != NULL)
		return RKV_ECORRUPT;
	memcpy(dst, s, size);
	return 0;
}

static int msg_get_object(struct msg_codec *mc, avro_value_t *bytes,
                          struct dvv **out)
{
	const void *p = NULL;
	size_t n = 0;

	if (avro_value_get_bytes(bytes, &p, &n) != 0)
		return RKV_ECORRUPT;
	return codec_object_decode(mc->codec, p, n, out);
}

/* --- writing a body ------------------------------------------------------- */

static int msg_set_long(avro_value_t *rec, int index, int64_t n)
{
	avro_value_t f;

	if (avro_value_get_by_index(rec, (size_t)index, &f, NULL) != 0 ||
	    avro_value_set_long(&f, n) != 0)
		return RKV_ENOMEM;
	return 0;
}

/* Lend bytes to a field: the value must be reset before the caller frees
 * them. */
static int msg_lend_field(avro_value_t *rec, int index, const void *data,
                          size_t len)
{
	avro_value_t f;
	avro_wrapped_buffer_t wb;

	if (avro_value_get_by_index(rec, (size_t)index, &f, NULL) != 0 ||
	    avro_wrapped_buffer_new(&wb, len > 0 ? data : msg_empty, len) !=
	        0 ||
	    avro_value_give_bytes(&f, &wb) != 0)
		return RKV_ENOMEM;
	return 0;
}

static int msg_lend_string(avro_value_t *rec, int index, const char *s)
{
	avro_value_t f;
	avro_wrapped_buffer_t wb;

	if (avro_value_get_by_index(rec, (size_t)index, &f, NULL) != 0 ||
	    avro_wrapped_buffer_new_string(&wb, s) != 0 ||
	    avro_value_give_string_len(&f, &wb) != 0)
		return RKV_ENOMEM;
	return 0;
}

/* Encode the slot's value (filled by the caller) and reset it, whatever
 * happened, so nothing lent outlives the call. */
static int msg_finish(struct msg_codec *mc, enum msg_schema_id id, int rc,
                      uint8_t **out, size_t *len)
{
	if (rc == 0)
		rc = codec_value_encode(mc->writer, &mc->slots[id].value, out,
		                        len);
	avro_value_reset(&mc->slots[id].value);
	return rc;
}

/* --- lifecycle ------------------------------------------------------------ */

/* The JSON Avro C writes for a schema, malloc'ed and NUL-terminated. */
static int msg_canonical_json(avro_schema_t s, char **out, size_t *len)
{
	for (size_t cap = 4096; cap <= MSG_MAX_CANON_JSON; cap *= 2) {
		char *buf = malloc(cap);
		avro_writer_t w = NULL;
		int rc = 0;
		if (buf == NULL)
			return RKV_ENOMEM;
		w = avro_writer_memory(buf, (int64_t)cap - 1);
		rc = w == NULL ? ENOMEM : avro_schema_to_json(s, w);
		if (rc == 0) {
			*len = (size_t)avro_writer_tell(w);
			buf[*len] = '\0';
			*out = buf;
		}
		if (w != NULL)
			avro_writer_free(w);
		if (rc == 0)
			return 0;
		free(buf);
		if (w == NULL)
			return RKV_ENOMEM;
	}
	return RKV_EINVAL;
}

static int msg_slot_init(struct msg_slot *slot, const char *text)
{
	if (avro_schema_from_json_length(text, strlen(text), &slot->schema) !=
	    0)
		return RKV_EINVAL;
	if (msg_canonical_json(slot->schema, &slot->json, &slot->json_len) != 0)
		return RKV_ENOMEM;
	slot->fingerprint = XXH3_64bits(slot->json, slot->json_len);
	slot->iface = avro_generic_class_from_schema(slot->schema);
	if (slot->iface == NULL ||
	    avro_generic_value_new(slot->iface, &slot->value) != 0)
		return RKV_ENOMEM;
	slot->live = true;
	return 0;
}

static void msg_slot_deinit(struct msg_slot *slot)
{
	if (slot->live)
		avro_value_decref(&slot->value);
	if (slot->iface != NULL)
		avro_value_iface_decref(slot->iface);
	if (slot->schema != NULL)
		avro_schema_decref(slot->schema);
	free(slot->json);
}

/* A gossip request or reply: its fields, the Member record's, and the
 * MemberStatus symbols in gossip.h's order (the enum travels as an index). */
static int msg_check_gossip(avro_schema_t s, bool reply)
{
	int off = reply ? 1 : 0;
	avro_schema_t mem = NULL, st = NULL;
	int rc = reply ? msg_check_record(s, gsp_reply_fields, GSP_NFIELDS + 1)
	               : msg_check_record(s, gsp_fields, GSP_NFIELDS);

	if (rc != 0)
		return rc;
	mem = msg_sub_record(s, off + GSP_MEMBERS);
	if (msg_check_record(mem, mem_fields, MEM_NFIELDS) != 0)
		return RKV_EINVAL;
	st = msg_unlink(avro_schema_record_field_get_by_index(mem, MEM_STATUS));
	if (st == NULL || !is_avro_enum(st) ||
	    avro_schema_enum_number_of_symbols(st) != MEMBER_STATUS_COUNT)
		return RKV_EINVAL;
	for (int i = 0; i < MEMBER_STATUS_COUNT; i++) {
		const char *sym = avro_schema_enum_get(st, i);
		if (sym == NULL || strcmp(sym, mem_status_names[i]) != 0)
			return RKV_EINVAL;
	}
	return 0;
}

/* Is field `index` of record s the union ["null", type]? */
static bool msg_is_optional(avro_schema_t s, int index, avro_type_t type)
{
	avro_schema_t u =
	    msg_unlink(avro_schema_record_field_get_by_index(s, index));
	avro_schema_t set = NULL;

	if (avro_schema_union_size(u) != 2 ||
	    !is_avro_null(msg_unlink(avro_schema_union_branch(u, ST_NULL))))
		return false;
	set = msg_unlink(avro_schema_union_branch(u, ST_SET));
	return set != NULL && avro_typeof(set) == type;
}

/* A reply record: object ["null", "bytes"], digest ["null", "long"]. */
static int msg_check_reply(avro_schema_t s)
{
	if (msg_check_typed(s, st_fields, st_types, ST_NFIELDS) != 0 ||
	    !msg_is_optional(s, ST_OBJECT, AVRO_BYTES) ||
	    !msg_is_optional(s, ST_DIGEST, AVRO_INT64))
		return RKV_EINVAL;
	return 0;
}

static int msg_check_schemas(struct msg_codec *mc)
{
	avro_schema_t env = mc->env.schema;
	avro_schema_t fwd = mc->slots[MSG_SCHEMA_FORWARD].schema;
	avro_schema_t hint = mc->slots[MSG_SCHEMA_HINT].schema;
	static const uint8_t replied[] = {MSG_REPLICATE, MSG_FETCH, MSG_FORWARD,
	                                  MSG_HINT};
	int rc = 0;

	rc |= msg_check_record(env, env_fields, ENV_NFIELDS);
	rc |= msg_check_record(msg_sub_record(env, ENV_SCHEMAS), info_fields,
	                       INFO_NFIELDS);
	rc |= msg_check_record(mc->slots[MSG_SCHEMA_HELLO_BODY].schema,
	                       hb_fields, HB_NFIELDS);
	rc |= msg_check_typed(mc->slots[MSG_SCHEMA_REPLICATE].schema,
	                      rep_fields, rep_types, REP_NFIELDS);
	rc |= msg_check_typed(mc->slots[MSG_SCHEMA_FETCH].schema, fetch_fields,
	                      fetch_types, FETCH_NFIELDS);
	rc |= msg_check_record(fwd, fwd_fields, FWD_NFIELDS);
	rc |= msg_check_record(msg_sub_record(fwd, FWD_CONTEXT), ctx_fields,
	                       CTX_NFIELDS);
	rc |= msg_check_record(msg_sub_record(fwd, FWD_VALUE), val_fields,
	                       VAL_NFIELDS);
	rc |= msg_check_record(hint, hint_fields, HINT_NFIELDS);
	rc |= msg_check_record(msg_sub_record(hint, HINT_ENTRIES), he_fields,
	                       HE_NFIELDS);
	for (size_t i = 0; i < sizeof(replied); i++)
		rc |= msg_check_reply(
		    mc->slots[msg_reply_schema(replied[i])].schema);
	rc |= msg_check_gossip(mc->slots[MSG_SCHEMA_GOSSIP].schema, false);
	rc |= msg_check_gossip(mc->slots[MSG_SCHEMA_GOSSIP_REPLY].schema, true);
	return rc != 0 ? RKV_EINVAL : 0;
}

static int msg_collect_defaults(struct msg_codec *mc)
{
	for (int i = 0; i < MSG_SCHEMA_COUNT; i++) {
		struct msg_json *j = msg_json_parse(
		    msg_schema_texts[i], strlen(msg_schema_texts[i]));
		int rc = j == NULL
		             ? RKV_EINVAL
		             : msg_defaults_walk(mc, j, mc->slots[i].schema, 0);
		msg_json_free(j);
		if (rc != 0) {
			log_error("msg: bad default in msg_%s.avsc",
			          msg_schema_stems[i]);
			return rc;
		}
	}
	return 0;
}

struct msg_codec *msg_codec_new(void)
{
	struct msg_codec *mc = calloc(1, sizeof(*mc));

	if (mc == NULL)
		goto fail;
	mc->codec = codec_new();
	if (mc->codec == NULL)
		goto fail;
	if (msg_slot_init(&mc->env, rkv_schema_msg_hello) != 0)
		goto fail_avro;
	for (int i = 0; i < MSG_SCHEMA_COUNT; i++) {
		if (msg_slot_init(&mc->slots[i], msg_schema_texts[i]) != 0)
			goto fail_avro;
	}
	if (msg_check_schemas(mc) != 0) {
		log_error("msg: msg_*.avsc fields do not match the field "
		          "tables of msg.c");
		goto fail;
	}
	if (msg_collect_defaults(mc) != 0)
		goto fail;
	mc->reader = avro_reader_memory(msg_empty, 0);
	mc->writer = avro_writer_memory(msg_empty, 0);
	if (mc->reader == NULL || mc->writer == NULL)
		goto fail_avro;
	return mc;

fail_avro:
	log_error("msg: cannot set up message schemas: %s", avro_strerror());
fail:
	msg_codec_free(mc);
	return NULL;
}

void msg_codec_free(struct msg_codec *mc)
{
	if (mc == NULL)
		return;
	for (size_t i = 0; i < mc->ndefaults; i++) {
		avro_value_decref(&mc->defaults[i].value);
		avro_value_iface_decref(mc->defaults[i].iface);
	}
	free(mc->defaults);
	for (int i = 0; i < MSG_SCHEMA_COUNT; i++)
		msg_slot_deinit(&mc->slots[i]);
	msg_slot_deinit(&mc->env);
	if (mc->reader != NULL)
		avro_reader_free(mc->reader);
	if (mc->writer != NULL)
		avro_writer_free(mc->writer);
	codec_free(mc->codec);
	free(mc);
}

/* --- HELLO ---------------------------------------------------------------- */

static bool msg_name_ok(const char *s)
{
	return memchr(s, '\0', MSG_MAX_NAME + 1) != NULL;
}

static int msg_hello_body_put(struct msg_codec *mc, const struct msg_hello *m)
{
	avro_value_t *v = &mc->slots[MSG_SCHEMA_HELLO_BODY].value;

	avro_value_reset(v);
	if (msg_lend_string(v, HB_CLUSTER, m->cluster_name) != 0 ||
	    msg_lend_string(v, HB_NAME, m->name) != 0 ||
	    msg_lend_string(v, HB_ADDR, m->rpc_addr) != 0 ||
	    msg_set_long(v, HB_NODE_ID, (int64_t)m->node_id) != 0)
		return RKV_ENOMEM;
	return 0;
}

static int msg_envelope_put(struct msg_codec *mc, const uint8_t *body,
                            size_t blen)
{
	avro_value_t *env = &mc->env.value;
	avro_value_t list, item;

	if (avro_value_get_by_index(env, ENV_SCHEMAS, &list, NULL) != 0)
		return RKV_ENOMEM;
	for (int i = 0; i < MSG_SCHEMA_COUNT; i++) {
		const struct msg_slot *slot = &mc->slots[i];
		if (avro_value_append(&list, &item, NULL) != 0 ||
		    msg_lend_string(&item, INFO_STEM, msg_schema_stems[i]) !=
		        0 ||
		    msg_set_long(&item, INFO_FINGERPRINT,
		                 (int64_t)slot->fingerprint) != 0 ||
		    msg_lend_string(&item, INFO_JSON, slot->json) != 0)
			return RKV_ENOMEM;
	}
	return msg_lend_field(env, ENV_BODY, body, blen);
}

int msg_encode_hello(struct msg_codec *mc, const struct msg_hello *m,
                     uint8_t **out, size_t *len)
{
	uint8_t *body = NULL;
	size_t blen = 0;
	int rc = 0;

	*out = NULL;
	*len = 0;
	if (!msg_name_ok(m->cluster_name) || !msg_name_ok(m->name) ||
	    !msg_name_ok(m->rpc_addr))
		return RKV_EINVAL;
	rc = msg_finish(mc, MSG_SCHEMA_HELLO_BODY, msg_hello_body_put(mc, m),
	                &body, &blen);
	if (rc != 0)
		goto fail;
	avro_value_reset(&mc->env.value);
	rc = msg_envelope_put(mc, body, blen);
	if (rc == 0)
		rc = codec_value_encode(mc->writer, &mc->env.value, out, len);
	avro_value_reset(&mc->env.value);
fail:
	free(body);
	return rc;
}

/* One entry of a HELLO's schema list into the peer's resolvers. */
static int msg_peer_add(struct msg_codec *mc, struct msg_peer *peer,
                        avro_value_t *info, bool *seen)
{
	char stem[MSG_MAX_STEM + 1];
	avro_value_t f;
	const char *json = NULL;
	size_t jsize = 0;
	uint64_t fp = 0;
	enum msg_schema_id id;

	if (msg_get_name(info, INFO_STEM, stem, MSG_MAX_STEM) != 0 ||
	    msg_get_u64(info, INFO_FINGERPRINT, &fp) != 0 ||
	    msg_field(info, INFO_JSON, &f) != 0 ||
	    avro_value_get_string(&f, &json, &jsize) != 0 || jsize == 0 ||
	    jsize - 1 > MSG_MAX_SCHEMA_JSON)
		return RKV_ECORRUPT;
	id = msg_schema_by_stem(stem);
	if (id == MSG_SCHEMA_COUNT)
		return 0; /* a message type of a newer release */
	if (seen[id])
		return RKV_ECORRUPT;
	seen[id] = true;
	if (fp == mc->slots[id].fingerprint)
		return 0;
	if (msg_resolver_init(mc, &peer->res[id], id, json, jsize - 1) != 0)
		peer->res[id].state = MSG_RES_BROKEN;
	return 0;
}

static int msg_peer_build(struct msg_codec *mc, struct msg_peer **out)
{
	struct msg_peer *peer = calloc(1, sizeof(*peer));
	bool seen[MSG_SCHEMA_COUNT] = {false};
	avro_value_t list, info;
	size_t n = 0;
	int rc = 0;

	*out = NULL;
	if (peer == NULL)
		return RKV_ENOMEM;
	if (msg_field(&mc->env.value, ENV_SCHEMAS, &list) != 0 ||
	    avro_value_get_size(&list, &n) != 0) {
		rc = RKV_ECORRUPT;
		goto fail;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = avro_value_get_by_index(&list, i, &info, NULL) != 0
		         ? RKV_ECORRUPT
		         : msg_peer_add(mc, peer, &info, seen);
	}
	if (rc != 0)
		goto fail;
	*out = peer;
	return 0;

fail:
	msg_peer_free(peer);
	return rc;
}

static int msg_hello_body_get(struct msg_codec *mc, struct msg_peer *peer,
                              const void *body, size_t blen,
                              struct msg_hello *m)
{
	struct msg_in in;
	avro_value_t *v = NULL;
	int rc = msg_in_read(mc, peer, MSG_SCHEMA_HELLO_BODY, body, blen, &in);

	v = in.value;
	if (rc == 0 &&
	    (msg_get_name(v, HB_CLUSTER, m->cluster_name, MSG_MAX_NAME) != 0 ||
	     msg_get_name(v, HB_NAME, m->name, MSG_MAX_NAME) != 0 ||
	     msg_get_name(v, HB_ADDR, m->rpc_addr, MSG_MAX_NAME) != 0 ||
	     msg_get_u64(v, HB_NODE_ID, &m->node_id) != 0))
		rc = RKV_ECORRUPT;
	msg_in_done(mc, peer, MSG_SCHEMA_HELLO_BODY);
	return rc;
}

int msg_decode_hello(struct msg_codec *mc, const void *buf, size_t len,
                     struct msg_hello *m, struct msg_peer **peer)
{
	struct msg_scan scan;
	avro_value_t f;
	const void *body = NULL;
	size_t blen = 0;
	int rc = 0;

	*peer = NULL;
	memset(m, 0, sizeof(*m));
	avro_value_reset(&mc->env.value);
	rc = msg_scan(mc->env.schema, buf, len, MSG_MAX_SCHEMAS, &scan);
	if (rc == 0)
		rc = msg_avro_read(mc, &mc->env.value, buf, len);
	if (rc == 0)
		rc = msg_peer_build(mc, peer);
	if (rc == 0 && (msg_field(&mc->env.value, ENV_BODY, &f) != 0 ||
	                avro_value_get_bytes(&f, &body, &blen) != 0))
		rc = RKV_ECORRUPT;
	if (rc == 0)
		rc = msg_hello_body_get(mc, *peer, body, blen, m);
	avro_value_reset(&mc->env.value);
	if (rc != 0) {
		msg_peer_free(*peer);
		*peer = NULL;
		memset(m, 0, sizeof(*m));
	}
	return rc;
}

void msg_peer_free(struct msg_peer *peer)
{
	if (peer == NULL)
		return;
	for (int i = 0; i < MSG_SCHEMA_COUNT; i++)
		msg_resolver_deinit(&peer->res[i]);
	free(peer);
}

/* --- REPLICATE, FETCH and replies: Avro binary, read and written directly
 *
 * These carry every quorum read and write, a few per request on each
 * node, so like objects (codec.c) they do not go through Avro C's generic
 * values. Their records are flat, and msg_codec_new holds the schemas to
 * these field types:
 *
 *   Replicate = partition: long, key: bytes, object: bytes,
 *               hint_for: string
 *   Fetch     = partition: long, key: bytes, digest: boolean
 *   a reply   = status: int, needed: long, acked: long,
 *               object: ["null", "bytes"], digest: ["null", "long"]
 *
 * a union being the long index of its branch followed by that branch's
 * value (null is no bytes at all). Encoding sizes the body exactly,
 * allocates once and writes the fields in order (avro_bin.h), the object
 * straight into the body (codec_object_write) instead of into a buffer
 * of its own first: the bytes Avro C's writer gave, in one allocation.
 *
 * Decoding reads that encoding only. A body of our schema (peer NULL, or
 * one that writes the same schema) is read in place; a peer writing
 * another schema has its body read through the resolver into our
 * schema's value, as for every other type, which is written again with
 * our schema and read from there (msg_rd_open): a rolling upgrade is rare
 * enough to pay that detour, and each record keeps one decoder. Each field
 * is checked as it is read (lengths against the bytes left before
 * anything is copied, u32 fields, the union index, the limits on keys and
 * names), the body must end at its last byte, and the object, the only
 * part that allocates, is decoded last from its slice of the body. A key
 * points into the caller's buffer, also for a rewritten body: it is found
 * where the peer's schema put it (msg_in_bytes).
 */

/* A body in our schema's encoding: p walks it up to end. */
struct msg_rd {
	const uint8_t *p;
	const uint8_t *end;
	uint8_t *ours;    /* a peer's body rewritten with our schema, or NULL */
	struct msg_in in; /* with ours: the peer's body, for its keys */
};

/* Point rd at the body of schema `id` as our schema writes it. Closed
 * with msg_rd_close, whatever this returns. */
static int msg_rd_open(struct msg_codec *mc, const struct msg_peer *peer,
                       enum msg_schema_id id, const void *buf, size_t len,
                       struct msg_rd *rd)
{
	const struct msg_resolver *res = peer != NULL ? &peer->res[id] : NULL;
	size_t olen = 0;
	int rc = 0;

	rd->ours = NULL;
	/* None of these bodies is empty, so none is NULL either. */
	if (buf == NULL)
		return RKV_ECORRUPT;
	if (res == NULL || res->state == MSG_RES_SAME) {
		rd->p = buf;
		rd->end = rd->p + len;
		return 0;
	}
	rc = msg_in_read(mc, peer, id, buf, len, &rd->in);
	if (rc == 0)
		rc = codec_value_encode(mc->writer, rd->in.value, &rd->ours,
		                        &olen);
	msg_in_done(mc, peer, id);
	if (rc != 0)
		return rc;
	rd->p = rd->ours;
	rd->end = rd->ours + olen;
	return 0;
}

static void msg_rd_close(struct msg_rd *rd)
{
	free(rd->ours);
	rd->ours = NULL;
}

/* Bytes after the record are not part of it: refuse them. */
static int msg_rd_end(const struct msg_rd *rd)
{
	return rd->p == rd->end ? 0 : RKV_ECORRUPT;
}

static int msg_rd_u32(struct msg_rd *rd, uint32_t *out)
{
	int64_t n = 0;

	if (avro_bin_get_long(&rd->p, rd->end, &n) != 0 || n < 0 ||
	    n > UINT32_MAX)
		return RKV_ECORRUPT;
	*out = (uint32_t)n;
	return 0;
}

/* An Avro boolean: one byte, 0 or 1. */
static int msg_rd_bool(struct msg_rd *rd, bool *out)
{
	if (rd->p == rd->end || *rd->p > 1)
		return RKV_ECORRUPT;
	*out = *rd->p++ == 1;
	return 0;
}

/* A key of at most MSG_MAX_KEY bytes, pointing into the caller's buffer
 * (NULL when empty); `name` is its field, to find it in a peer's body. */
static int msg_rd_key(struct msg_rd *rd, const char *name, const uint8_t **key,
                      size_t *klen)
{
	if (avro_bin_get_bytes(&rd->p, rd->end, key, klen) != 0 ||
	    *klen > MSG_MAX_KEY)
		return RKV_ECORRUPT;
	if (rd->ours != NULL)
		return msg_in_bytes(&rd->in, name, key, klen);
	if (*klen == 0)
		*key = NULL;
	return 0;
}

/* A string of at most `max` bytes without NULs into dst[max + 1]. */
static int msg_rd_name(struct msg_rd *rd, char *dst, size_t max)
{
	const uint8_t *s = NULL;
	size_t n = 0;

	/* An inner NUL would cut the name short. */
	if (avro_bin_get_bytes(&rd->p, rd->end, &s, &n) != 0 || n > max ||
	    memchr(s, '\0', n) != NULL)
		return RKV_ECORRUPT;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/* An object field: its length, then the object (olen as measured by
 * codec_object_size). */
static uint8_t *msg_put_object(uint8_t *p, const struct dvv *obj, size_t olen)
{
	p = avro_bin_put_long(p, olen);
	return codec_object_write(obj, p);
}

int msg_encode_replicate(struct msg_codec *mc, const struct msg_replicate *m,
                         uint8_t **out, size_t *len)
{
	size_t olen = 0, hlen = 0, size = 0;
	uint8_t *buf = NULL, *p = NULL;
	int rc = 0;

	(void)mc;
	*out = NULL;
	*len = 0;
	if (!msg_key_ok(m->key, m->klen) || m->obj == NULL ||
	    !msg_name_ok(m->hint_for))
		return RKV_EINVAL;
	rc = codec_object_size(m->obj, &olen);
	if (rc != 0)
		return rc;
	hlen = strlen(m->hint_for);
	size = avro_bin_long_size(m->partition) + avro_bin_bytes_size(m->klen) +
	       avro_bin_bytes_size(olen) + avro_bin_bytes_size(hlen);
	buf = malloc(size);
	if (buf == NULL)
		return RKV_ENOMEM;
	p = avro_bin_put_long(buf, m->partition);
	p = avro_bin_put_bytes(p, m->key, m->klen);
	p = msg_put_object(p, m->obj, olen);
	p = avro_bin_put_bytes(p, m->hint_for, hlen);
	assert(p == buf + size);
	*out = buf;
	*len = size;
	return 0;
}

int msg_decode_replicate(struct msg_codec *mc, const struct msg_peer *peer,
                         const void *buf, size_t len, struct msg_replicate *m)
{
	const uint8_t *obj = NULL;
	size_t olen = 0;
	struct msg_rd rd;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	rc = msg_rd_open(mc, peer, MSG_SCHEMA_REPLICATE, buf, len, &rd);
	if (rc == 0)
		rc = msg_rd_u32(&rd, &m->partition);
	if (rc == 0)
		rc = msg_rd_key(&rd, rep_fields[REP_KEY], &m->key, &m->klen);
	if (rc == 0)
		rc = avro_bin_get_bytes(&rd.p, rd.end, &obj, &olen);
	if (rc == 0)
		rc = msg_rd_name(&rd, m->hint_for, MSG_MAX_NAME);
	if (rc == 0)
		rc = msg_rd_end(&rd);
	if (rc == 0)
		rc = codec_object_decode(mc->codec, obj, olen, &m->obj);
	msg_rd_close(&rd);
	if (rc != 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

void msg_clear_replicate(struct msg_replicate *m)
{
	dvv_free(m->obj);
	m->obj = NULL;
}

int msg_encode_fetch(struct msg_codec *mc, const struct msg_fetch *m,
                     uint8_t **out, size_t *len)
{
	size_t size = 0;
	uint8_t *buf = NULL, *p = NULL;

	(void)mc;
	*out = NULL;
	*len = 0;
	if (!msg_key_ok(m->key, m->klen))
		return RKV_EINVAL;
	size = avro_bin_long_size(m->partition) + avro_bin_bytes_size(m->klen) +
	       1 /* boolean */;
	buf = malloc(size);
	if (buf == NULL)
		return RKV_ENOMEM;
	p = avro_bin_put_long(buf, m->partition);
	p = avro_bin_put_bytes(p, m->key, m->klen);
	*p++ = m->digest ? 1 : 0;
	assert(p == buf + size);
	*out = buf;
	*len = size;
	return 0;
}

int msg_decode_fetch(struct msg_codec *mc, const struct msg_peer *peer,
                     const void *buf, size_t len, struct msg_fetch *m)
{
	struct msg_rd rd;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	rc = msg_rd_open(mc, peer, MSG_SCHEMA_FETCH, buf, len, &rd);
	if (rc == 0)
		rc = msg_rd_u32(&rd, &m->partition);
	if (rc == 0)
		rc =
		    msg_rd_key(&rd, fetch_fields[FETCH_KEY], &m->key, &m->klen);
	if (rc == 0)
		rc = msg_rd_bool(&rd, &m->digest);
	if (rc == 0)
		rc = msg_rd_end(&rd);
	msg_rd_close(&rd);
	if (rc != 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

int msg_encode_status(struct msg_codec *mc, uint8_t type,
                      const struct msg_status *m, uint8_t **out, size_t *len)
{
	/* An int is written as the long of the same value. */
	uint64_t status = (uint64_t)(int64_t)m->status;
	size_t olen = 0, size = 0;
	uint8_t *buf = NULL, *p = NULL;
	int rc = 0;

	(void)mc;
	*out = NULL;
	*len = 0;
	if (msg_reply_schema(type) == MSG_SCHEMA_COUNT || m->status > 0 ||
	    (m->obj != NULL && m->has_digest))
		return RKV_EINVAL;
	if (m->obj != NULL)
		rc = codec_object_size(m->obj, &olen);
	if (rc != 0)
		return rc;
	size = avro_bin_long_size(status) + avro_bin_long_size(m->needed) +
	       avro_bin_long_size(m->acked) + 2 /* branches */ +
	       (m->obj != NULL ? avro_bin_bytes_size(olen) : 0) +
	       (m->has_digest ? avro_bin_long_size(m->digest) : 0);
	buf = malloc(size);
	if (buf == NULL)
		return RKV_ENOMEM;
	p = avro_bin_put_long(buf, status);
	p = avro_bin_put_long(p, m->needed);
	p = avro_bin_put_long(p, m->acked);
	p = avro_bin_put_long(p, m->obj != NULL ? ST_SET : ST_NULL);
	if (m->obj != NULL)
		p = msg_put_object(p, m->obj, olen);
	p = avro_bin_put_long(p, m->has_digest ? ST_SET : ST_NULL);
	if (m->has_digest)
		p = avro_bin_put_long(p, m->digest);
	assert(p == buf + size);
	*out = buf;
	*len = size;
	return 0;
}

/* The branch of a ["null", X] union: *set is whether X follows. */
static int msg_rd_optional(struct msg_rd *rd, bool *set)
{
	int64_t branch = 0;

	if (avro_bin_get_long(&rd->p, rd->end, &branch) != 0 ||
	    (branch != ST_NULL && branch != ST_SET))
		return RKV_ECORRUPT;
	*set = branch == ST_SET;
	return 0;
}

/* Every field but the object, whose bytes are left in *obj (NULL for the
 * null branch). An object and a digest together make no sense. */
static int msg_status_read(struct msg_rd *rd, struct msg_status *m,
                           const uint8_t **obj, size_t *olen)
{
	bool has_obj = false;
	int64_t digest = 0;

	if (msg_get_int(&rd->p, rd->end, &m->status) != 0 || m->status > 0 ||
	    msg_rd_u32(rd, &m->needed) != 0 || msg_rd_u32(rd, &m->acked) != 0 ||
	    msg_rd_optional(rd, &has_obj) != 0 ||
	    (has_obj && avro_bin_get_bytes(&rd->p, rd->end, obj, olen) != 0) ||
	    msg_rd_optional(rd, &m->has_digest) != 0 ||
	    (m->has_digest &&
	     avro_bin_get_long(&rd->p, rd->end, &digest) != 0) ||
	    (has_obj && m->has_digest))
		return RKV_ECORRUPT;
	m->digest = (uint64_t)digest;
	return 0;
}

int msg_decode_status(struct msg_codec *mc, const struct msg_peer *peer,
                      uint8_t type, const void *buf, size_t len,
                      struct msg_status *m)
{
	enum msg_schema_id id = msg_reply_schema(type);
	const uint8_t *obj = NULL;
	size_t olen = 0;
	struct msg_rd rd;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	if (id == MSG_SCHEMA_COUNT)
		return RKV_ECORRUPT;
	rc = msg_rd_open(mc, peer, id, buf, len, &rd);
	if (rc == 0)
		rc = msg_status_read(&rd, m, &obj, &olen);
	if (rc == 0)
		rc = msg_rd_end(&rd);
	if (rc == 0 && obj != NULL)
		rc = codec_object_decode(mc->codec, obj, olen, &m->obj);
	msg_rd_close(&rd);
	if (rc != 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

void msg_clear_status(struct msg_status *m)
{
	dvv_free(m->obj);
	m->obj = NULL;
}

/* --- FORWARD -------------------------------------------------------------- */

static int msg_forward_value_put(avro_value_t *rec, const struct dvv_value *val)
{
	avro_value_t f;

	if (msg_lend_field(rec, VAL_DATA, val->data, val->len) != 0 ||
	    msg_lend_string(rec, VAL_CTYPE, val->content_type) != 0 ||
	    msg_set_long(rec, VAL_TIMESTAMP, (int64_t)val->timestamp_ms) != 0 ||
	    avro_value_get_by_index(rec, VAL_TOMBSTONE, &f, NULL) != 0 ||
	    avro_value_set_boolean(&f, val->tombstone ? 1 : 0) != 0)
		return RKV_ENOMEM;
	return 0;
}

static int msg_forward_put(avro_value_t *v, const struct msg_forward *m)
{
	avro_value_t ctx, item, val;

	if (msg_lend_field(v, FWD_KEY, m->key, m->klen) != 0 ||
	    avro_value_get_by_index(v, FWD_CONTEXT, &ctx, NULL) != 0)
		return RKV_ENOMEM;
	for (size_t i = 0; i < m->ctx.n; i++) {
		if (avro_value_append(&ctx, &item, NULL) != 0 ||
		    msg_set_long(&item, CTX_ID, (int64_t)m->ctx.e[i].id) != 0 ||
		    msg_set_long(&item, CTX_COUNTER,
		                 (int64_t)m->ctx.e[i].counter) != 0)
			return RKV_ENOMEM;
	}
	if (avro_value_get_by_index(v, FWD_VALUE, &val, NULL) != 0 ||
	    msg_forward_value_put(&val, &m->value) != 0 ||
	    msg_set_long(v, FWD_W, m->w) != 0 ||
	    msg_set_long(v, FWD_PW, m->pw) != 0 ||
	    msg_set_long(v, FWD_TIMEOUT, m->timeout_ms) != 0)
		return RKV_ENOMEM;
	return 0;
}

int msg_encode_forward(struct msg_codec *mc, const struct msg_forward *m,
                       uint8_t **out, size_t *len)
{
	const struct dvv_value *val = &m->value;
	avro_value_t *v = &mc->slots[MSG_SCHEMA_FORWARD].value;

	*out = NULL;
	*len = 0;
	if (!msg_key_ok(m->key, m->klen) || dvv_vv_validate(&m->ctx) != 0 ||
	    val->content_type == NULL ||
	    strlen(val->content_type) > DVV_MAX_CONTENT_TYPE ||
	    (val->data == NULL && val->len > 0))
		return RKV_EINVAL;
	avro_value_reset(v);
	return msg_finish(mc, MSG_SCHEMA_FORWARD, msg_forward_put(v, m), out,
	                  len);
}

static int msg_forward_ctx_get(avro_value_t *v, struct dvv_vv *ctx)
{
	avro_value_t list, item;
	size_t n = 0;

	if (msg_field(v, FWD_CONTEXT, &list) != 0 ||
	    avro_value_get_size(&list, &n) != 0 || n > DVV_MAX_ENTRIES)
		return RKV_ECORRUPT;
	if (n == 0)
		return 0;
	ctx->e = calloc(n, sizeof(*ctx->e));
	if (ctx->e == NULL)
		return RKV_ENOMEM;
	ctx->n = n;
	for (size_t i = 0; i < n; i++) {
		if (avro_value_get_by_index(&list, i, &item, NULL) != 0 ||
		    msg_get_u64(&item, CTX_ID, &ctx->e[i].id) != 0 ||
		    msg_get_u64(&item, CTX_COUNTER, &ctx->e[i].counter) != 0)
			return RKV_ECORRUPT;
	}
	return dvv_vv_validate(ctx) == 0 ? 0 : RKV_ECORRUPT;
}

static int msg_forward_value_get(avro_value_t *v, struct dvv_value *val)
{
	avro_value_t rec, f;
	const void *data = NULL;
	size_t size = 0;
	int tomb = 0;

	if (msg_field(v, FWD_VALUE, &rec) != 0 ||
	    msg_field(&rec, VAL_DATA, &f) != 0 ||
	    avro_value_get_bytes(&f, &data, &size) != 0)
		return RKV_ECORRUPT;
	if (size > 0) {
		val->data = malloc(size);
		if (val->data == NULL)
			return RKV_ENOMEM;
		memcpy(val->data, data, size);
		val->len = size;
	}
	val->content_type = malloc(DVV_MAX_CONTENT_TYPE + 1);
	if (val->content_type == NULL)
		return RKV_ENOMEM;
	if (msg_get_name(&rec, VAL_CTYPE, val->content_type,
	                 DVV_MAX_CONTENT_TYPE) != 0 ||
	    msg_get_u64(&rec, VAL_TIMESTAMP, &val->timestamp_ms) != 0 ||
	    msg_field(&rec, VAL_TOMBSTONE, &f) != 0 ||
	    avro_value_get_boolean(&f, &tomb) != 0)
		return RKV_ECORRUPT;
	val->tombstone = tomb != 0;
	return 0;
}

int msg_decode_forward(struct msg_codec *mc, const struct msg_peer *peer,
                       const void *buf, size_t len, struct msg_forward *m)
{
	struct msg_in in;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	rc = msg_in_read(mc, peer, MSG_SCHEMA_FORWARD, buf, len, &in);
	if (rc == 0)
		rc = msg_in_bytes(&in, fwd_fields[FWD_KEY], &m->key, &m->klen);
	if (rc == 0 && m->klen > MSG_MAX_KEY)
		rc = RKV_ECORRUPT;
	if (rc == 0)
		rc = msg_forward_ctx_get(in.value, &m->ctx);
	if (rc == 0)
		rc = msg_forward_value_get(in.value, &m->value);
	if (rc == 0 &&
	    (msg_get_u32(in.value, FWD_W, &m->w) != 0 ||
	     msg_get_u32(in.value, FWD_PW, &m->pw) != 0 ||
	     msg_get_u32(in.value, FWD_TIMEOUT, &m->timeout_ms) != 0))
		rc = RKV_ECORRUPT;
	msg_in_done(mc, peer, MSG_SCHEMA_FORWARD);
	if (rc != 0) {
		msg_clear_forward(m);
		memset(m, 0, sizeof(*m));
	}
	return rc;
}

void msg_clear_forward(struct msg_forward *m)
{
	dvv_vv_deinit(&m->ctx);
	dvv_value_deinit(&m->value);
}

/* --- GOSSIP --------------------------------------------------------------- */

/* The checks of struct msg_gossip on one member. */
static bool msg_member_ok(const struct gossip_member *e)
{
	return e->id != 0 && ring_name_valid(e->name) &&
	       ring_name_valid(e->addr) && e->http != NULL &&
	       (e->http[0] == '\0' || ring_name_valid(e->http)) &&
	       (unsigned)e->status < MEMBER_STATUS_COUNT &&
	       e->generation < GOSSIP_MAX_COUNTER &&
	       e->version < GOSSIP_MAX_COUNTER;
}

/* The schema of a gossip type, and where its request fields start. */
static enum msg_schema_id msg_gossip_schema(uint8_t type, int *off)
{
	if ((type & (uint8_t)~MSG_REPLY_BIT) != MSG_GOSSIP)
		return MSG_SCHEMA_COUNT;
	*off = (type & MSG_REPLY_BIT) ? 1 : 0;
	return *off ? MSG_SCHEMA_GOSSIP_REPLY : MSG_SCHEMA_GOSSIP;
}

static int msg_member_put(avro_value_t *list, const struct gossip_member *e)
{
	avro_value_t item, f;

	if (avro_value_append(list, &item, NULL) != 0 ||
	    msg_set_long(&item, MEM_ID, (int64_t)e->id) != 0 ||
	    msg_lend_string(&item, MEM_NAME, e->name) != 0 ||
	    msg_lend_string(&item, MEM_ADDR, e->addr) != 0 ||
	    avro_value_get_by_index(&item, MEM_STATUS, &f, NULL) != 0 ||
	    avro_value_set_enum(&f, (int)e->status) != 0 ||
	    msg_set_long(&item, MEM_GENERATION, (int64_t)e->generation) != 0 ||
	    msg_set_long(&item, MEM_VERSION, (int64_t)e->version) != 0 ||
	    msg_lend_string(&item, MEM_HTTP, e->http) != 0)
		return RKV_ENOMEM;
	return 0;
}

static int msg_gossip_put(avro_value_t *v, int off, const struct msg_gossip *m)
{
	avro_value_t f, list;

	if (off > 0 && (avro_value_get_by_index(v, 0, &f, NULL) != 0 ||
	                avro_value_set_int(&f, m->status) != 0))
		return RKV_ENOMEM;
	if (msg_lend_string(v, off + GSP_CLUSTER, m->cluster_name) != 0 ||
	    msg_set_long(v, off + GSP_RING_SIZE, m->ring_size) != 0 ||
	    avro_value_get_by_index(v, (size_t)(off + GSP_MEMBERS), &list,
	                            NULL) != 0)
		return RKV_ENOMEM;
	for (size_t i = 0; i < m->nmembers; i++) {
		if (msg_member_put(&list, &m->members[i]) != 0)
			return RKV_ENOMEM;
	}
	if (msg_set_long(v, off + GSP_DIGEST, (int64_t)m->ring_digest) != 0 ||
	    msg_lend_field(v, off + GSP_RING, m->ring, m->ring_len) != 0)
		return RKV_ENOMEM;
	return 0;
}

int msg_encode_gossip(struct msg_codec *mc, uint8_t type,
                      const struct msg_gossip *m, uint8_t **out, size_t *len)
{
	int off = 0;
	enum msg_schema_id id = msg_gossip_schema(type, &off);

	*out = NULL;
	*len = 0;
	if (id == MSG_SCHEMA_COUNT || m->status > 0 ||
	    (off == 0 && m->status != 0) || !msg_name_ok(m->cluster_name) ||
	    m->nmembers > GOSSIP_MAX_MEMBERS ||
	    (m->members == NULL && m->nmembers > 0) ||
	    (m->ring == NULL && m->ring_len > 0))
		return RKV_EINVAL;
	for (size_t i = 0; i < m->nmembers; i++) {
		if (!msg_member_ok(&m->members[i]))
			return RKV_EINVAL;
	}
	avro_value_reset(&mc->slots[id].value);
	return msg_finish(mc, id, msg_gossip_put(&mc->slots[id].value, off, m),
	                  out, len);
}

/* A member's string field: its bytes (size counts the NUL). */
static int msg_member_string(avro_value_t *item, int index, const char **s,
                             size_t *size)
{
	avro_value_t f;

	if (msg_field(item, index, &f) != 0 ||
	    avro_value_get_string(&f, s, size) != 0 || *size == 0 ||
	    *size - 1 > GOSSIP_MAX_NAME || memchr(*s, '\0', *size - 1) != NULL)
		return RKV_ECORRUPT;
	return 0;
}

/* One member into e, its strings copied to *pool (advanced). */
static int msg_member_get(avro_value_t *item, struct gossip_member *e,
                          char **pool)
{
	const char *name = NULL, *addr = NULL, *http = NULL;
	size_t nsize = 0, asize = 0, hsize = 0;
	avro_value_t f;
	int status = 0;

	if (msg_get_u64(item, MEM_ID, &e->id) != 0 ||
	    msg_member_string(item, MEM_NAME, &name, &nsize) != 0 ||
	    msg_member_string(item, MEM_ADDR, &addr, &asize) != 0 ||
	    msg_member_string(item, MEM_HTTP, &http, &hsize) != 0 ||
	    msg_field(item, MEM_STATUS, &f) != 0 ||
	    avro_value_get_enum(&f, &status) != 0 || status < 0 ||
	    status >= MEMBER_STATUS_COUNT ||
	    msg_get_u64(item, MEM_GENERATION, &e->generation) != 0 ||
	    msg_get_u64(item, MEM_VERSION, &e->version) != 0)
		return RKV_ECORRUPT;
	e->status = (enum member_status)status;
	memcpy(*pool, name, nsize);
	e->name = *pool;
	*pool += nsize;
	memcpy(*pool, addr, asize);
	e->addr = *pool;
	*pool += asize;
	memcpy(*pool, http, hsize);
	e->http = *pool;
	*pool += hsize;
	return msg_member_ok(e) ? 0 : RKV_ECORRUPT;
}

/* The members array: sized first, so one allocation holds the strings. */
static int msg_members_get(avro_value_t *v, int off, struct msg_gossip *m)
{
	avro_value_t list, item;
	const char *s = NULL;
	size_t n = 0, size = 0, pool = 0;
	char *p = NULL;

	if (msg_field(v, off + GSP_MEMBERS, &list) != 0 ||
	    avro_value_get_size(&list, &n) != 0 || n > GOSSIP_MAX_MEMBERS)
		return RKV_ECORRUPT;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		static const int strings[] = {MEM_NAME, MEM_ADDR, MEM_HTTP};
		if (avro_value_get_by_index(&list, i, &item, NULL) != 0)
			return RKV_ECORRUPT;
		for (size_t k = 0; k < sizeof(strings) / sizeof(*strings);
		     k++) {
			if (msg_member_string(&item, strings[k], &s, &size) !=
			    0)
				return RKV_ECORRUPT;
			pool += size;
		}
	}
	/* One allocation: the members, then their strings. */
	m->owned = malloc(n * sizeof(*m->members) + pool);
	if (m->owned == NULL)
		return RKV_ENOMEM;
	m->members = m->owned;
	m->nmembers = n;
	p = (char *)(m->members + n);
	for (size_t i = 0; i < n; i++) {
		if (avro_value_get_by_index(&list, i, &item, NULL) != 0 ||
		    msg_member_get(&item, &m->members[i], &p) != 0)
			return RKV_ECORRUPT;
	}
	return 0;
}

int msg_decode_gossip(struct msg_codec *mc, const struct msg_peer *peer,
                      uint8_t type, const void *buf, size_t len,
                      struct msg_gossip *m)
{
	int off = 0;
	enum msg_schema_id id = msg_gossip_schema(type, &off);
	const char *const *fields = off ? gsp_reply_fields : gsp_fields;
	struct msg_in in;
	avro_value_t f;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	if (id == MSG_SCHEMA_COUNT)
		return RKV_ECORRUPT;
	rc = msg_in_read(mc, peer, id, buf, len, &in);
	if (rc == 0 && off > 0 &&
	    (msg_field(in.value, 0, &f) != 0 ||
	     avro_value_get_int(&f, &m->status) != 0 || m->status > 0))
		rc = RKV_ECORRUPT;
	if (rc == 0)
		rc = msg_get_name(in.value, off + GSP_CLUSTER, m->cluster_name,
		                  MSG_MAX_NAME);
	if (rc == 0)
		rc = msg_get_u32(in.value, off + GSP_RING_SIZE, &m->ring_size);
	if (rc == 0)
		rc = msg_members_get(in.value, off, m);
	if (rc == 0)
		rc = msg_get_u64(in.value, off + GSP_DIGEST, &m->ring_digest);
	if (rc == 0)
		rc = msg_in_bytes(&in, fields[off + GSP_RING], &m->ring,
		                  &m->ring_len);
	msg_in_done(mc, peer, id);
	if (rc != 0) {
		msg_clear_gossip(m);
		memset(m, 0, sizeof(*m));
	}
	return rc;
}

void msg_clear_gossip(struct msg_gossip *m)
{
	/* Only a decoded message owns its members. */
	if (m->owned == NULL)
		return;
	free(m->owned);
	m->owned = NULL;
	m->members = NULL;
	m->nmembers = 0;
}

/* --- the stored member table --------------------------------------------- */

/* A node stores its table as a MSG_GOSSIP body (src/cluster.c) and reads
 * it back after a restart, possibly under a newer release: unlike a peer,
 * the store cannot announce its schema at read time, so the blob carries
 * it, the way an Avro container file does:
 *
 *   u8 MSG_STORED_MAGIC, u32 LE n, n bytes: the writer's schema JSON
 *   (avro_schema_to_json, as in a HELLO), then the body
 *
 * and is read through the same resolvers as a peer's messages. Releases
 * before the http field stored the bare body. Such a blob starts with the
 * zig-zag varint of cluster_name's length, a non-negative number, whose
 * first byte is even; the magic is odd, so the two never meet and a bare
 * body is read as written by msg_gossip_v0_json. */
#define MSG_STORED_MAGIC 0x01
#define MSG_STORED_HEAD  5 /* the magic and n */

/* The Gossip schema of those releases (msg_gossip.avsc without http),
 * kept to read what they stored; tests/data/msg_gossip_v0.* hold a copy
 * and a body it wrote. */
static const char msg_gossip_v0_json[] =
    "{\"type\":\"record\",\"name\":\"Gossip\",\"namespace\":\"ringkv.msg\","
    "\"fields\":[{\"name\":\"cluster_name\",\"type\":\"string\"},"
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

int msg_encode_gossip_stored(struct msg_codec *mc, const struct msg_gossip *m,
                             uint8_t **out, size_t *len)
{
	const struct msg_slot *slot = &mc->slots[MSG_SCHEMA_GOSSIP];
	uint8_t *body = NULL, *buf = NULL;
	size_t blen = 0;
	int rc = msg_encode_gossip(mc, MSG_GOSSIP, m, &body, &blen);

	if (rc != 0)
		return rc;
	buf = malloc(MSG_STORED_HEAD + slot->json_len + blen);
	if (buf == NULL) {
		free(body);
		return RKV_ENOMEM;
	}
	buf[0] = MSG_STORED_MAGIC;
	for (int i = 0; i < 4; i++)
		buf[1 + i] = (uint8_t)(slot->json_len >> (8 * i));
	memcpy(buf + MSG_STORED_HEAD, slot->json, slot->json_len);
	memcpy(buf + MSG_STORED_HEAD + slot->json_len, body, blen);
	free(body);
	*out = buf;
	*len = MSG_STORED_HEAD + slot->json_len + blen;
	return 0;
}

int msg_decode_gossip_stored(struct msg_codec *mc, const void *buf, size_t len,
                             struct msg_gossip *m)
{
	const struct msg_slot *slot = &mc->slots[MSG_SCHEMA_GOSSIP];
	const uint8_t *p = buf;
	const char *json = msg_gossip_v0_json;
	size_t jlen = sizeof(msg_gossip_v0_json) - 1;
	struct msg_peer *peer = NULL;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	if (len > 0 && (p[0] & 1) != 0) {
		if (p[0] != MSG_STORED_MAGIC || len < MSG_STORED_HEAD)
			return RKV_ECORRUPT;
		jlen = (size_t)p[1] | (size_t)p[2] << 8 | (size_t)p[3] << 16 |
		       (size_t)p[4] << 24;
		if (jlen == 0 || jlen > MSG_MAX_SCHEMA_JSON ||
		    jlen > len - MSG_STORED_HEAD)
			return RKV_ECORRUPT;
		json = (const char *)p + MSG_STORED_HEAD;
		p += MSG_STORED_HEAD + jlen;
		len -= MSG_STORED_HEAD + jlen;
	}
	if (jlen != slot->json_len || memcmp(json, slot->json, jlen) != 0) {
		peer = calloc(1, sizeof(*peer));
		if (peer == NULL)
			return RKV_ENOMEM;
		if (msg_resolver_init(mc, &peer->res[MSG_SCHEMA_GOSSIP],
		                      MSG_SCHEMA_GOSSIP, json, jlen) != 0)
			peer->res[MSG_SCHEMA_GOSSIP].state = MSG_RES_BROKEN;
	}
	rc = msg_decode_gossip(mc, peer, MSG_GOSSIP, p, len, m);
	msg_peer_free(peer);
	return rc;
}

/* --- HINT ----------------------------------------------------------------- */

static int msg_hint_entry_put(struct msg_codec *mc, avro_value_t *list,
                              const struct msg_hint_entry *e, uint8_t **obj)
{
	avro_value_t item;
	size_t olen = 0;
	int rc = codec_object_encode(mc->codec, e->obj, obj, &olen);

	if (rc != 0)
		return rc;
	if (avro_value_append(list, &item, NULL) != 0 ||
	    msg_set_long(&item, HE_PARTITION, e->partition) != 0 ||
	    msg_lend_field(&item, HE_KEY, e->key, e->klen) != 0 ||
	    msg_lend_field(&item, HE_OBJECT, *obj, olen) != 0)
		return RKV_ENOMEM;
	return 0;
}

/* The objects are encoded into objs[] (one buffer each, lent to the value
 * until msg_finish resets it; the caller frees them). */
static int msg_hint_put(struct msg_codec *mc, avro_value_t *v,
                        const struct msg_hint *m, uint8_t **objs)
{
	avro_value_t list;
	int rc = 0;

	if (msg_lend_string(v, HINT_TARGET, m->target) != 0 ||
	    msg_set_long(v, HINT_TARGET_ID, (int64_t)m->target_id) != 0 ||
	    avro_value_get_by_index(v, HINT_ENTRIES, &list, NULL) != 0)
		return RKV_ENOMEM;
	for (size_t i = 0; i < m->n && rc == 0; i++)
		rc = msg_hint_entry_put(mc, &list, &m->entries[i], &objs[i]);
	return rc;
}

int msg_encode_hint(struct msg_codec *mc, const struct msg_hint *m,
                    uint8_t **out, size_t *len)
{
	avro_value_t *v = &mc->slots[MSG_SCHEMA_HINT].value;
	uint8_t **objs = NULL;
	int rc = 0;

	*out = NULL;
	*len = 0;
	if (!msg_name_ok(m->target) || m->target[0] == '\0' || m->n == 0 ||
	    m->n > MSG_MAX_HINTS || m->entries == NULL)
		return RKV_EINVAL;
	for (size_t i = 0; i < m->n; i++) {
		const struct msg_hint_entry *e = &m->entries[i];
		if (e->klen == 0 || !msg_key_ok(e->key, e->klen) ||
		    e->obj == NULL)
			return RKV_EINVAL;
	}
	objs = calloc(m->n, sizeof(*objs));
	if (objs == NULL)
		return RKV_ENOMEM;
	avro_value_reset(v);
	rc = msg_finish(mc, MSG_SCHEMA_HINT, msg_hint_put(mc, v, m, objs), out,
	                len);
	for (size_t i = 0; i < m->n; i++)
		free(objs[i]);
	free(objs);
	return rc;
}

/* A hint entry's key: its bytes inside Avro's value (copied out by the
 * caller before the value is reset). */
static int msg_hint_key(avro_value_t *item, const void **key, size_t *klen)
{
	avro_value_t f;

	if (msg_field(item, HE_KEY, &f) != 0 ||
	    avro_value_get_bytes(&f, key, klen) != 0 || *klen == 0 ||
	    *klen > MSG_MAX_KEY)
		return RKV_ECORRUPT;
	return 0;
}

/* The entries: sized first, so one allocation holds them and their keys. */
static int msg_hint_entries_get(struct msg_codec *mc, avro_value_t *v,
                                struct msg_hint *m)
{
	avro_value_t list, item, f;
	const void *key = NULL;
	size_t n = 0, klen = 0, pool = 0;
	uint8_t *p = NULL;

	if (msg_field(v, HINT_ENTRIES, &list) != 0 ||
	    avro_value_get_size(&list, &n) != 0 || n == 0 || n > MSG_MAX_HINTS)
		return RKV_ECORRUPT;
	for (size_t i = 0; i < n; i++) {
		if (avro_value_get_by_index(&list, i, &item, NULL) != 0 ||
		    msg_hint_key(&item, &key, &klen) != 0)
			return RKV_ECORRUPT;
		pool += klen;
	}
	m->owned = calloc(1, n * sizeof(*m->entries) + pool);
	if (m->owned == NULL)
		return RKV_ENOMEM;
	m->entries = m->owned;
	m->n = n;
	p = (uint8_t *)(m->entries + n);
	for (size_t i = 0; i < n; i++) {
		struct msg_hint_entry *e = &m->entries[i];
		int rc = avro_value_get_by_index(&list, i, &item, NULL) != 0
		             ? RKV_ECORRUPT
		             : msg_get_u32(&item, HE_PARTITION, &e->partition);
		if (rc == 0)
			rc = msg_hint_key(&item, &key, &klen);
		if (rc == 0)
			rc = msg_field(&item, HE_OBJECT, &f);
		if (rc == 0)
			rc = msg_get_object(mc, &f, &e->obj);
		if (rc != 0)
			return rc;
		memcpy(p, key, klen);
		e->key = p;
		e->klen = klen;
		p += klen;
	}
	return 0;
}

int msg_decode_hint(struct msg_codec *mc, const struct msg_peer *peer,
                    const void *buf, size_t len, struct msg_hint *m)
{
	struct msg_in in;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	rc = msg_in_read(mc, peer, MSG_SCHEMA_HINT, buf, len, &in);
	if (rc == 0)
		rc = msg_get_name(in.value, HINT_TARGET, m->target,
		                  MSG_MAX_NAME);
	if (rc == 0 && m->target[0] == '\0')
		rc = RKV_ECORRUPT;
	if (rc == 0)
		rc = msg_get_u64(in.value, HINT_TARGET_ID, &m->target_id);
	if (rc == 0)
		rc = msg_hint_entries_get(mc, in.value, m);
	msg_in_done(mc, peer, MSG_SCHEMA_HINT);
	if (rc != 0) {
		msg_clear_hint(m);
		memset(m, 0, sizeof(*m));
	}
	return rc;
}

void msg_clear_hint(struct msg_hint *m)
{
	if (m->owned == NULL)
		return;
	for (size_t i = 0; i < m->n; i++)
		dvv_free(m->entries[i].obj);
	free(m->owned);
	m->owned = NULL;
	m->entries = NULL;
	m->n = 0;
}
