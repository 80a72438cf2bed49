/* msg.h -- the internode messages and their Avro encodings.
 *
 * Every frame body that travels between nodes is one of the records
 * below, encoded with its schema from src/schemas/msg_<name>.avsc: the
 * bytes Avro C's generic writer gives, though REPLICATE, FETCH and the
 * replies, on the path of every quorum read and write, are written and
 * read directly (msg.c tells how). Objects inside messages travel as
 * Avro bytes holding what codec_object_encode() makes, so the object
 * schema is defined once.
 *
 * Rolling upgrades: the handshake (MSG_HELLO) carries, for every message
 * type, the sender's schema (JSON) and its fingerprint. msg_peer_new()
 * compares them with ours and, for each type whose fingerprint differs,
 * builds an Avro resolved reader (writer = the peer's schema, reader = ours)
 * so a field a newer peer added is skipped and a field an older peer lacks
 * takes its default. Types whose schemas match decode directly.
 *
 * Requests and replies: a reply uses the request's type with MSG_REPLY_BIT
 * set and the request's id; its body is the reply record of that type.
 * MSG_HELLO has no reply (both sides send one) and its schema is two
 * layers: msg_hello.avsc is a frozen envelope carrying the schema list and
 * the body, msg_hello_body.avsc the evolving body (see msg.c).
 */
#ifndef RKV_MSG_H
#define RKV_MSG_H

#include "dvv.h"

#include "gossip/gossip.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MSG_REPLY_BIT 0x80

/* X(name, number, schema file stem) -- request types; replies are
 * number | MSG_REPLY_BIT and use the schema "<stem>_reply". */
#define MSG_TYPE_TABLE(X)                                                      \
	X(MSG_HELLO, 1, hello)                                                 \
	X(MSG_REPLICATE, 2, replicate)                                         \
	X(MSG_FETCH, 3, fetch)                                                 \
	X(MSG_FORWARD, 4, forward)                                             \
	X(MSG_GOSSIP, 5, gossip)                                               \
	X(MSG_HINT, 6, hint)

enum msg_type {
#define MSG_TYPE_ENUM(name, num, stem) name = (num),
	MSG_TYPE_TABLE(MSG_TYPE_ENUM)
#undef MSG_TYPE_ENUM
};

#define MSG_MAX_NAME  255
#define MSG_MAX_KEY   65536
#define MSG_MAX_HINTS 1024 /* entries in one MSG_HINT */

/* MSG_HELLO: the first frame on every connection, both directions. The
 * schema list is filled and read by msg.c itself. */
struct msg_hello {
	char cluster_name[MSG_MAX_NAME + 1];
	char name[MSG_MAX_NAME + 1];     /* node name */
	char rpc_addr[MSG_MAX_NAME + 1]; /* where the sender listens */
	uint64_t node_id;
};

/* MSG_REPLICATE: "sync this object into your copy" (replication after a
 * coordinated write, read repair). Reply: struct msg_status.
 *
 * hint_for (sloppy quorum): empty when the receiver is a primary of the
 * key; otherwise the receiver is a fallback standing in for the primary
 * of that name, and keeps the object as a hint for it (src/handoff.h)
 * instead of as its own copy. An older peer's REPLICATE decodes with
 * hint_for empty. */
struct msg_replicate {
	uint32_t partition;
	const uint8_t *key; /* decode: points into the frame body */
	size_t klen;
	struct dvv *obj; /* decode: owned by the message (msg_clear) */
	char hint_for[MSG_MAX_NAME + 1]; /* NUL-terminated, "" = none */
};

/* MSG_FETCH: "send me your copy". Reply: struct msg_status with obj set
 * when status is 0, NULL with RKV_ENOTFOUND. */
struct msg_fetch {
	uint32_t partition;
	const uint8_t *key;
	size_t klen;
	bool digest; /* answer with the copy's digest only (a peer of an
	              * older release ignores it and sends the copy) */
};

/* MSG_FORWARD: a client write received by a node that is not a replica of
 * the key, handed to a primary to coordinate. Reply: struct msg_status
 * (obj = the object as written, for the client's new context). */
struct msg_forward {
	const uint8_t *key;
	size_t klen;
	struct dvv_vv ctx;      /* decode: owned by the message */
	struct dvv_value value; /* decode: owned by the message */
	uint32_t w, pw;         /* 0 = quorum */
	uint32_t timeout_ms;
};

/* MSG_GOSSIP: one push-pull exchange of membership (src/gossip_io.c). The
 * request carries the sender's member table and ring; the reply, also a
 * struct msg_gossip, carries the receiver's after it merged the request's,
 * so both sides converge in one round trip. A refused request is answered
 * with status < 0 and nothing else. The ring travels as the opaque bytes
 * of codec_ring_encode() with its ring_digest(), so a receiver whose ring
 * has the same digest skips decoding it, and a reply leaves it out when
 * the requester's digest already matched. The same record, ring left out,
 * is how a node stores its member table (src/cluster.c).
 *
 * Encoding, the caller's pointers are only read. Decoding, members and
 * their strings are owned by the message (msg_clear_gossip) and ring points
 * into the decoded buffer (valid while it is). Every member is checked on
 * both sides: id != 0, name and address ring_name_valid(), http "" or
 * ring_name_valid(), status in range, generation and version below
 * GOSSIP_MAX_COUNTER; at most
 * GOSSIP_MAX_MEMBERS of them. Whether the table as a whole makes sense
 * (unique ids, names, addresses) is gossip_merge()'s to judge. */
struct msg_gossip {
	int32_t status; /* reply: 0 or a negative RKV_E*; request: 0 */
	char cluster_name[MSG_MAX_NAME + 1];
	uint32_t ring_size; /* Q of the sender's ring, even when not sent */
	struct gossip_member *members; /* the sender's table, any order */
	size_t nmembers;
	uint64_t ring_digest; /* ring_digest() of the sender's ring */
	const uint8_t *ring;  /* codec_ring_encode() bytes, NULL: not sent */
	size_t ring_len;
	void *owned; /* decode: members and their strings (msg_clear_gossip) */
};

/* MSG_HINT: hinted handoff -- "these objects were written while you were
 * down; sync them into your store". Sent by the node holding the hints to
 * the primary they name, which refuses the whole batch (an error status)
 * unless `target` is its own name, target_id is 0 or its own node id, and
 * it is a primary of every entry's partition. Reply: struct msg_status,
 * status 0 once every object is durable there (needed = entries, acked =
 * objects stored).
 *
 * Encoding, the caller's pointers are only read; 1..MSG_MAX_HINTS entries,
 * each key 1..MSG_MAX_KEY bytes and a valid object. Decoding, the entries,
 * their keys and objects are owned by the message (msg_clear_hint). */
struct msg_hint_entry {
	uint32_t partition;
	const uint8_t *key;
	size_t klen;
	struct dvv *obj;
};

struct msg_hint {
	char target[MSG_MAX_NAME + 1]; /* NUL-terminated, not empty */
	uint64_t target_id;            /* 0 = unknown to the sender */
	struct msg_hint_entry *entries;
	size_t n;
	void *owned; /* decode: entries and key bytes (msg_clear_hint) */
};

/* Every reply: an RKV status, the quorum counts of a failed write, and an
 * object where the request type returns one, or, for a FETCH asking for
 * it, the digest of the copy (store_get_digest) instead. */
struct msg_status {
	int32_t status;
	uint32_t needed, acked;
	struct dvv *obj; /* may be NULL */
	bool has_digest;
	uint64_t digest; /* when has_digest */
};

struct msg_codec;
struct msg_peer;

/* msg_codec_new -- parse every message schema. NULL on failure (logged). */
struct msg_codec *msg_codec_new(void);
void msg_codec_free(struct msg_codec *mc);

/* msg_encode_* -- the Avro body of a message in *out (malloc'ed, the
 * caller frees). 0, RKV_EINVAL (invalid object or context, key longer than
 * MSG_MAX_KEY, a name without its NUL within MSG_MAX_NAME + 1, a status
 * above 0, a status with both an object and a digest, a type without a
 * reply schema) or RKV_ENOMEM. */
int msg_encode_hello(struct msg_codec *mc, const struct msg_hello *m,
                     uint8_t **out, size_t *len);
int msg_encode_replicate(struct msg_codec *mc, const struct msg_replicate *m,
                         uint8_t **out, size_t *len);
int msg_encode_fetch(struct msg_codec *mc, const struct msg_fetch *m,
                     uint8_t **out, size_t *len);
int msg_encode_forward(struct msg_codec *mc, const struct msg_forward *m,
                       uint8_t **out, size_t *len);
/* msg_encode_hint -- RKV_EINVAL also for an empty target, no entries or
 * more than MSG_MAX_HINTS, an empty key. */
int msg_encode_hint(struct msg_codec *mc, const struct msg_hint *m,
                    uint8_t **out, size_t *len);
int msg_encode_status(struct msg_codec *mc, uint8_t type,
                      const struct msg_status *m, uint8_t **out, size_t *len);
/* msg_encode_gossip -- type MSG_GOSSIP for a request, MSG_GOSSIP |
 * MSG_REPLY_BIT for a reply. RKV_EINVAL also for a request with a status,
 * a member that fails the checks at struct msg_gossip, more than
 * GOSSIP_MAX_MEMBERS, or ring NULL with ring_len > 0. */
int msg_encode_gossip(struct msg_codec *mc, uint8_t type,
                      const struct msg_gossip *m, uint8_t **out, size_t *len);

/* msg_decode_hello -- decode a peer's handshake and build its resolvers in
 * *peer (msg_peer_free). 0 or RKV_ECORRUPT (or RKV_ENOMEM). A schema of
 * the peer we cannot read (incompatible, or lacking a field ours has
 * without a default) is logged once here; bodies of that schema then fail
 * to decode with RKV_ECORRUPT, the rest of the peer's messages decode. A
 * schema the peer does not announce is read as ours. */
int msg_decode_hello(struct msg_codec *mc, const void *buf, size_t len,
                     struct msg_hello *m, struct msg_peer **peer);
void msg_peer_free(struct msg_peer *peer);

/* msg_decode_* -- decode a body written by `peer` (NULL: our own schemas).
 * Pointers in *m point into buf (valid while buf is; an empty key is
 * NULL); owned parts are released by msg_clear_*. On error *m is left
 * empty. 0 or RKV_ECORRUPT (undecodable, trailing bytes, limits exceeded,
 * invalid object, a schema of the peer we cannot read), or RKV_ENOMEM.
 * msg_decode_status takes the request's type (the reply bit may be set). */
int msg_decode_replicate(struct msg_codec *mc, const struct msg_peer *peer,
                         const void *buf, size_t len, struct msg_replicate *m);
int msg_decode_fetch(struct msg_codec *mc, const struct msg_peer *peer,
                     const void *buf, size_t len, struct msg_fetch *m);
int msg_decode_forward(struct msg_codec *mc, const struct msg_peer *peer,
                       const void *buf, size_t len, struct msg_forward *m);
/* msg_decode_hint -- RKV_ECORRUPT also for what msg_encode_hint refuses. */
int msg_decode_hint(struct msg_codec *mc, const struct msg_peer *peer,
                    const void *buf, size_t len, struct msg_hint *m);
int msg_decode_status(struct msg_codec *mc, const struct msg_peer *peer,
                      uint8_t type, const void *buf, size_t len,
                      struct msg_status *m);
/* msg_decode_gossip -- a request (type MSG_GOSSIP) or a reply (the reply
 * bit set); an empty ring field gives ring NULL. */
int msg_decode_gossip(struct msg_codec *mc, const struct msg_peer *peer,
                      uint8_t type, const void *buf, size_t len,
                      struct msg_gossip *m);

/* msg_encode_gossip_stored, msg_decode_gossip_stored -- the member table
 * as a node stores it (src/cluster.c): a MSG_GOSSIP request body preceded
 * by the schema that wrote it (msg.c tells the layout), so a later release
 * reads it as it reads a peer of this one. Decoding also reads the bare
 * body that releases before the member's http field stored, http ""
 * then. Encoding, as msg_encode_gossip(MSG_GOSSIP). Decoding, as
 * msg_decode_gossip (m->ring points into buf), RKV_ECORRUPT also for a
 * schema it cannot read (logged). */
int msg_encode_gossip_stored(struct msg_codec *mc, const struct msg_gossip *m,
                             uint8_t **out, size_t *len);
int msg_decode_gossip_stored(struct msg_codec *mc, const void *buf, size_t len,
                             struct msg_gossip *m);

void msg_clear_replicate(struct msg_replicate *m);
void msg_clear_forward(struct msg_forward *m);
void msg_clear_status(struct msg_status *m);
void msg_clear_gossip(struct msg_gossip *m);
void msg_clear_hint(struct msg_hint *m);

#endif
