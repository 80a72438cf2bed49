/* fuzz.c -- the message decoders as fuzz_msg and fuzz_peer drive them.
 *
 * Every msg_decode_* is called on the input; what it accepts is checked
 * against the header's contract (pointers into the body stay inside it,
 * objects validate), encoded with our schemas and decoded again. A body
 * read through a peer's resolver must come out as a message we can send
 * ourselves: that is what a node does when it forwards or stores it.
 */
#include "tests/fuzz/fuzz.h"

#include "dvv.h"
#include "schemas.h"

#include <stdbool.h>
#include <string.h>

const struct fuzz_stem fuzz_stems[FUZZ_STEM_COUNT] = {
    {"hello_body", rkv_schema_msg_hello_body, FUZZ_HELLO},
    {"replicate", rkv_schema_msg_replicate, FUZZ_REPLICATE},
    {"replicate_reply", rkv_schema_msg_replicate_reply, FUZZ_STATUS_REPLICATE},
    {"fetch", rkv_schema_msg_fetch, FUZZ_FETCH},
    {"fetch_reply", rkv_schema_msg_fetch_reply, FUZZ_STATUS_FETCH},
    {"forward", rkv_schema_msg_forward, FUZZ_FORWARD},
    {"forward_reply", rkv_schema_msg_forward_reply, FUZZ_STATUS_FORWARD},
    {"gossip", rkv_schema_msg_gossip, FUZZ_GOSSIP},
    {"gossip_reply", rkv_schema_msg_gossip_reply, FUZZ_GOSSIP_REPLY},
    {"hint", rkv_schema_msg_hint, FUZZ_HINT},
    {"hint_reply", rkv_schema_msg_hint_reply, FUZZ_STATUS_HINT},
};

/* The request type of each FUZZ_STATUS_* selector. */
static const uint8_t status_types[] = {
    MSG_REPLICATE,
    MSG_FETCH,
    MSG_FORWARD,
    MSG_HINT,
    MSG_REPLICATE | MSG_REPLY_BIT,
    MSG_HELLO,
    MSG_GOSSIP,
    0,
};

/* Whether [p, p + n) lies in [buf, buf + len): decoded keys and rings
 * point into the body. */
static bool inside(const uint8_t *p, size_t n, const uint8_t *buf, size_t len)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)buf;

	return n == 0 || (a >= b && a - b <= len && n <= len - (a - b));
}

static void decode_replicate(struct msg_codec *mc, const struct msg_peer *peer,
                             const uint8_t *buf, size_t len)
{
	struct msg_replicate m, back;
	uint8_t *enc = NULL;
	size_t elen = 0;

	if (msg_decode_replicate(mc, peer, buf, len, &m) != 0) {
		FUZZ_CHECK(m.obj == NULL);
		return;
	}
	FUZZ_CHECK(dvv_validate(m.obj) == 0);
	FUZZ_CHECK(inside(m.key, m.klen, buf, len));
	FUZZ_CHECK(msg_encode_replicate(mc, &m, &enc, &elen) == 0);
	FUZZ_CHECK(msg_decode_replicate(mc, NULL, enc, elen, &back) == 0);
	FUZZ_CHECK(back.partition == m.partition && back.klen == m.klen);
	FUZZ_CHECK(strcmp(back.hint_for, m.hint_for) == 0);
	FUZZ_CHECK(dvv_equal(back.obj, m.obj));
	msg_clear_replicate(&back);
	msg_clear_replicate(&m);
	free(enc);
}

static void decode_fetch(struct msg_codec *mc, const struct msg_peer *peer,
                         const uint8_t *buf, size_t len)
{
	struct msg_fetch m, back;
	uint8_t *enc = NULL;
	size_t elen = 0;

	if (msg_decode_fetch(mc, peer, buf, len, &m) != 0)
		return;
	FUZZ_CHECK(inside(m.key, m.klen, buf, len));
	FUZZ_CHECK(msg_encode_fetch(mc, &m, &enc, &elen) == 0);
	FUZZ_CHECK(msg_decode_fetch(mc, NULL, enc, elen, &back) == 0);
	FUZZ_CHECK(back.partition == m.partition && back.klen == m.klen &&
	           back.digest == m.digest);
	free(enc);
}

static void decode_forward(struct msg_codec *mc, const struct msg_peer *peer,
                           const uint8_t *buf, size_t len)
{
	struct msg_forward m, back;
	uint8_t *enc = NULL;
	size_t elen = 0;

	if (msg_decode_forward(mc, peer, buf, len, &m) != 0) {
		FUZZ_CHECK(m.ctx.e == NULL && m.value.data == NULL);
		return;
	}
	FUZZ_CHECK(inside(m.key, m.klen, buf, len));
	FUZZ_CHECK(dvv_vv_validate(&m.ctx) == 0);
	FUZZ_CHECK(msg_encode_forward(mc, &m, &enc, &elen) == 0);
	FUZZ_CHECK(msg_decode_forward(mc, NULL, enc, elen, &back) == 0);
	FUZZ_CHECK(back.klen == m.klen && back.ctx.n == m.ctx.n &&
	           back.value.len == m.value.len);
	msg_clear_forward(&back);
	msg_clear_forward(&m);
	free(enc);
}

static void decode_hint(struct msg_codec *mc, const struct msg_peer *peer,
                        const uint8_t *buf, size_t len)
{
	struct msg_hint m, back;
	uint8_t *enc = NULL;
	size_t elen = 0;

	if (msg_decode_hint(mc, peer, buf, len, &m) != 0) {
		FUZZ_CHECK(m.owned == NULL);
		return;
	}
	for (size_t i = 0; i < m.n; i++)
		FUZZ_CHECK(dvv_validate(m.entries[i].obj) == 0);
	FUZZ_CHECK(msg_encode_hint(mc, &m, &enc, &elen) == 0);
	FUZZ_CHECK(msg_decode_hint(mc, NULL, enc, elen, &back) == 0);
	FUZZ_CHECK(back.n == m.n && back.target_id == m.target_id);
	msg_clear_hint(&back);
	msg_clear_hint(&m);
	free(enc);
}

static void decode_status(struct msg_codec *mc, const struct msg_peer *peer,
                          uint8_t type, const uint8_t *buf, size_t len)
{
	struct msg_status m, back;
	uint8_t *enc = NULL;
	size_t elen = 0;

	if (msg_decode_status(mc, peer, type, buf, len, &m) != 0) {
		FUZZ_CHECK(m.obj == NULL);
		return;
	}
	FUZZ_CHECK(m.obj == NULL || dvv_validate(m.obj) == 0);
	FUZZ_CHECK(msg_encode_status(mc, type, &m, &enc, &elen) == 0);
	FUZZ_CHECK(msg_decode_status(mc, NULL, type, enc, elen, &back) == 0);
	FUZZ_CHECK(back.status == m.status && back.has_digest == m.has_digest);
	FUZZ_CHECK(!m.has_digest || back.digest == m.digest);
	msg_clear_status(&back);
	msg_clear_status(&m);
	free(enc);
}

/* Stored, the table is re-encoded as a node stores it; a request also
 * goes through the stored form, which wraps the same record. */
static void decode_gossip(struct msg_codec *mc, const struct msg_peer *peer,
                          enum fuzz_msg_sel sel, const uint8_t *buf, size_t len)
{
	uint8_t type =
	    sel == FUZZ_GOSSIP_REPLY ? MSG_GOSSIP | MSG_REPLY_BIT : MSG_GOSSIP;
	struct msg_gossip m, back;
	uint8_t *enc = NULL;
	size_t elen = 0;
	int rc = 0;

	if (sel == FUZZ_GOSSIP_STORED)
		rc = msg_decode_gossip_stored(mc, buf, len, &m);
	else
		rc = msg_decode_gossip(mc, peer, type, buf, len, &m);
	if (rc != 0) {
		FUZZ_CHECK(m.owned == NULL);
		return;
	}
	FUZZ_CHECK(m.ring == NULL || inside(m.ring, m.ring_len, buf, len));
	if (sel != FUZZ_GOSSIP_STORED) {
		FUZZ_CHECK(msg_encode_gossip(mc, type, &m, &enc, &elen) == 0);
		FUZZ_CHECK(
		    msg_decode_gossip(mc, NULL, type, enc, elen, &back) == 0);
		FUZZ_CHECK(back.nmembers == m.nmembers);
		msg_clear_gossip(&back);
		free(enc);
		enc = NULL;
	}
	if (sel != FUZZ_GOSSIP_REPLY) {
		FUZZ_CHECK(msg_encode_gossip_stored(mc, &m, &enc, &elen) == 0);
		FUZZ_CHECK(msg_decode_gossip_stored(mc, enc, elen, &back) == 0);
		FUZZ_CHECK(back.nmembers == m.nmembers);
		msg_clear_gossip(&back);
	}
	msg_clear_gossip(&m);
	free(enc);
}

/* A raw HELLO carries schemas for every message: a peer built from it is
 * given a small body of each, zeros, which reads as the shortest message
 * of most schemas and so reaches the resolvers it built. */
static void decode_hello(struct msg_codec *mc, const uint8_t *buf, size_t len)
{
	struct msg_hello h, back;
	struct msg_peer *peer = NULL, *again = NULL;
	uint8_t *enc = NULL, *zeros = NULL;
	size_t elen = 0;

	if (msg_decode_hello(mc, buf, len, &h, &peer) != 0) {
		FUZZ_CHECK(peer == NULL);
		return;
	}
	FUZZ_CHECK(peer != NULL);
	FUZZ_CHECK(msg_encode_hello(mc, &h, &enc, &elen) == 0);
	FUZZ_CHECK(msg_decode_hello(mc, enc, elen, &back, &again) == 0);
	FUZZ_CHECK(back.node_id == h.node_id && strcmp(back.name, h.name) == 0);
	msg_peer_free(again);
	free(enc);
	zeros = calloc(1, 8);
	FUZZ_CHECK(zeros != NULL);
	for (int sel = 0; sel < FUZZ_HELLO; sel++)
		if (sel != FUZZ_GOSSIP_STORED)
			fuzz_msg_decode(mc, peer, (enum fuzz_msg_sel)sel, zeros,
			                8);
	free(zeros);
	msg_peer_free(peer);
}

void fuzz_msg_decode(struct msg_codec *mc, const struct msg_peer *peer,
                     enum fuzz_msg_sel sel, const uint8_t *buf, size_t len)
{
	switch (sel) {
	case FUZZ_REPLICATE: decode_replicate(mc, peer, buf, len); break;
	case FUZZ_FETCH: decode_fetch(mc, peer, buf, len); break;
	case FUZZ_FORWARD: decode_forward(mc, peer, buf, len); break;
	case FUZZ_HINT: decode_hint(mc, peer, buf, len); break;
	case FUZZ_STATUS_REPLICATE:
	case FUZZ_STATUS_FETCH:
	case FUZZ_STATUS_FORWARD:
	case FUZZ_STATUS_HINT:
	case FUZZ_STATUS_REPLY_BIT:
	case FUZZ_STATUS_HELLO:
	case FUZZ_STATUS_GOSSIP:
	case FUZZ_STATUS_ZERO:
		decode_status(mc, peer,
		              status_types[sel - FUZZ_STATUS_REPLICATE], buf,
		              len);
		break;
	case FUZZ_GOSSIP:
	case FUZZ_GOSSIP_REPLY:
	case FUZZ_GOSSIP_STORED: decode_gossip(mc, peer, sel, buf, len); break;
	case FUZZ_HELLO: decode_hello(mc, buf, len); break;
	case FUZZ_MSG_COUNT: break;
	}
}
