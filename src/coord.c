/* coord.c -- quorum reads and writes, sloppy quorum, read repair, and the
 * replica side of the internode messages (see coord.h for the protocol).
 *
 * Every client request becomes one struct coord_req, driven through
 *
 *   PREFLIST -> FANOUT -> AWAIT -> REPAIR -> DONE
 *
 * PREFLIST   (an event made active, so no callback ever runs inside
 *            coord_put/coord_get) finds the replicas of the key: the
 *            primaries, with fallbacks in place of those held down;
 * FANOUT     starts the local store operation and the remote calls;
 * AWAIT      counts replies; the client is answered as soon as the quorum
 *            is reached, or once every replica has answered without
 *            reaching it, or at the timeout -- whichever comes first;
 * REPAIR     (reads) once every replica has answered or failed, sends the
 *            merged object to each primary whose copy was behind;
 * DONE       when the answer is sent and no callback is outstanding, the
 *            request is freed.
 *
 * A request is freed only when `outstanding` (store and rpc callbacks still
 * to come) is zero, so every callback finds its request alive. rpc calls
 * carry the request's timeout, so a silent replica cannot keep one alive
 * for longer than that.
 *
 * Replicas. A request starts with cluster_preflist's list: a primary the
 * failure detector holds down (struct cluster_target's `up`) is replaced
 * by a fallback, or, when the walk has none left, counted as failed at
 * once -- no call is made to it, so a dead node costs no timeout. A call
 * that fails fast (RKV_EUNAVAIL from rpc: connection refused, or the dial
 * backing off) means the detector has not caught up yet: the replica is
 * counted failed and the next owner on the walk that is not in the list
 * yet is asked in its place, as a fallback standing for the same primary
 * (COORD_MAX_REPLICAS bounds how far that goes). So during the seconds a
 * freshly killed node is still held up, writes already go to fallbacks.
 *
 *     replica   primary   ack counts toward   receives
 *     primary   itself    W and PW            MSG_REPLICATE
 *     fallback  P         W                   MSG_REPLICATE, hint_for = P
 *
 * A fallback keeps what it receives as a hint (store_hint), never in its
 * own "objects": it is not a replica of the key, and src/handoff.c hands
 * the hint to P once gossip sees P up. A fallback answers a read from its
 * hints (coord_local_read), is not read-repaired, and never coordinates
 * a write: only a primary mints dots (DESIGN.md, Identity), because only
 * a primary keeps every dot of its own for the key.
 */
#include "coord.h"

#include "logging.h"
#include "status.h"

#include "ring/hash.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Replicas one request may use: the preference list plus one fallback for
 * each replica that failed fast. */
#define COORD_MAX_REPLICAS (2 * CLUSTER_MAX_N)

enum coord_state {
	COORD_PREFLIST, /* waiting for the start event */
	COORD_FANOUT,   /* issuing the local operation and the calls */
	COORD_AWAIT,    /* counting replies */
	COORD_REPAIR,   /* reads: repairing replicas that were behind */
	COORD_DONE,     /* answered, nothing outstanding: free */
};

enum coord_kind { COORD_WRITE, COORD_READ, COORD_FORWARD };

struct coord_req;

/* One replica of a request: what it answered. Also the arg of its rpc
 * callback, hence the back pointer. */
struct coord_replica {
	struct coord_req *req;
	unsigned member;
	unsigned primary; /* the primary it stands for (itself if one) */
	bool self;
	bool fallback;   /* stands in for `primary`: hints, no repair */
	bool down;       /* held down at the start: failed, never called */
	bool replied;    /* answered or failed */
	bool ok;         /* read: a copy or "not found"; write: acknowledged */
	bool replaced;   /* failed fast; a fallback was asked in its place */
	bool digest;     /* read: asked for the digest of its copy only */
	bool same;       /* read: its digest was our copy's (obj NULL) */
	struct dvv *obj; /* read: its copy (NULL for not found) */
};

struct coord_req {
	struct coord *c;
	enum coord_state state;
	enum coord_kind kind;
	uint32_t partition;
	uint8_t *key;
	size_t klen;
	unsigned needed, acked;
	unsigned pw, packed; /* primaries needed / that acknowledged */
	unsigned outstanding;
	int failure; /* a replica's own error worth reporting, e.g. corrupt */
	bool answered;
	unsigned timeout_ms;
	struct event *timer; /* the timeout; in tail[] */
	struct event *start; /* runs PREFLIST; in tail[] */
	coord_done_fn *done;
	void *arg;
	struct dvv
	    *merged;      /* read: sync of replies; write: object as written */
	bool merged_lent; /* read: merged is the first copy, a rep's obj */
	/* read: our own copy as a primary, whose digest the others send */
	struct coord_replica *local;
	uint64_t digest; /* of local's copy; 0: none to compare with */
	uint8_t *body;   /* MSG_REPLICATE of merged to a primary, cached */
	size_t blen;
	/* writes, kept for forwarding */
	struct dvv_vv ctx;
	struct dvv_value value;
	unsigned w;
	unsigned forward_next;         /* next replica to try when forwarding */
	struct coord_req *prev, *next; /* the coordinator's active list */
	size_t n;
	struct coord_replica rep[COORD_MAX_REPLICAS];
	/* The two events (event_assign'ed, libevent telling their size),
	 * then the key: a request is one allocation. */
	_Alignas(max_align_t) unsigned char tail[];
};

struct coord {
	struct event_base *base;
	struct store *store;
	struct cluster *cluster;
	struct rpc *rpc;
	struct msg_codec *mc;
	struct coord_req *active; /* every request not yet freed */
	bool stopping; /* coord_stop: start nothing new, only answer */
	/* coord_moves_pending: ring_pending() of the ring whose
	 * cluster_ring_version is pending_of - 1 (0: not counted yet) */
	uint64_t pending_of;
	uint32_t pending;
	struct coord_stats stats;
};

/* --- answering and freeing -------------------------------------------- */

/* Room for one struct event in coord_req's tail, keeping the next one
 * aligned: libevent keeps the struct's size to itself, so that its
 * layout may change between releases without breaking us. */
static size_t coord_event_size(void)
{
	size_t align = _Alignof(max_align_t);

	return (event_get_struct_event_size() + align - 1) & ~(align - 1);
}

static void coord_req_free(struct coord_req *req)
{
	for (size_t i = 0; i < req->n; i++)
		dvv_free(req->rep[i].obj);
	event_del(req->timer);
	event_del(req->start); /* still active when freed by coord_free */
	if (!req->merged_lent)
		dvv_free(req->merged);
	free(req->body);
	dvv_vv_deinit(&req->ctx);
	dvv_value_deinit(&req->value);
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		req->c->active = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	req->c->stats.active--;
	free(req);
}

/* Frees the request once it is answered and no callback can reach it. */
static void coord_maybe_done(struct coord_req *req)
{
	/* During PREFLIST and FANOUT coord_start still holds the request. */
	if (!req->answered || req->outstanding > 0 ||
	    req->state == COORD_PREFLIST || req->state == COORD_FANOUT)
		return;
	req->state = COORD_DONE;
	coord_req_free(req);
}

static void coord_answer(struct coord_req *req, int status,
                         const struct dvv *obj)
{
	struct coord_result res = {
	    .status = status,
	    .needed = req->needed,
	    .acked = req->acked,
	    .obj = status == 0 ? obj : NULL,
	};
	if (req->answered)
		return;
	req->answered = true;
	event_del(req->timer);
	req->done(req->arg, &res);
}

static unsigned coord_unreplied(const struct coord_req *req)
{
	unsigned n = 0;
	for (size_t i = 0; i < req->n; i++)
		n += !req->rep[i].replied;
	return n;
}

/* The next owner on the walk for a replica that failed fast: a new
 * fallback entry standing for the same primary, or NULL when there is
 * none (or no room, or the node is stopping). */
static struct coord_replica *coord_replace(struct coord_req *req,
                                           struct coord_replica *rep)
{
	struct coord *c = req->c;
	unsigned taken[COORD_MAX_REPLICAS];
	struct coord_replica *f = NULL;
	unsigned m = 0;

	if (c->stopping || rep->replaced || req->n == COORD_MAX_REPLICAS)
		return NULL;
	for (size_t i = 0; i < req->n; i++)
		taken[i] = req->rep[i].member;
	if (cluster_next_fallback(c->cluster, req->partition, taken, req->n,
	                          &m) != 0)
		return NULL;
	rep->replaced = true;
	c->stats.fail_fast++;
	f = &req->rep[req->n++];
	memset(f, 0, sizeof(*f));
	f->req = req;
	f->member = m;
	f->primary = rep->primary;
	f->fallback = true;
	f->self = cluster_member(c->cluster, m)->self;
	return f;
}

/* A copy of the key here: our own, or, as a fallback, what our hints hold
 * for it. *obj is the caller's. digest (may be NULL) receives our own
 * copy's digest (store_get_digest), 0 for a hint's; without want_obj our
 * own copy is not decoded (*obj stays NULL), a hint always is. */
static int coord_local_read(struct coord *c, uint32_t partition,
                            const void *key, size_t klen, bool want_obj,
                            struct dvv **obj, uint64_t *digest)
{
	int rc = store_get_digest(c->store, partition, key, klen,
	                          want_obj ? obj : NULL, digest);

	if (rc == RKV_ENOTFOUND)
		rc = store_hint_get(c->store, NULL, partition, key, klen, obj);
	return rc;
}

/* --- writes ----------------------------------------------------------- */

static void coord_write_check(struct coord_req *req)
{
	bool w_ok = req->acked >= req->needed;
	bool pw_ok = req->packed >= req->pw;

	/* A failed quorum is answered once every replica has spoken, so the
	 * counts the client sees are what was really acknowledged. */
	if (w_ok && pw_ok) {
		coord_answer(req, 0, req->merged);
	} else if (!req->answered && coord_unreplied(req) == 0) {
		if (w_ok) { /* the primaries are what is missing */
			req->needed = req->pw;
			req->acked = req->packed;
		}
		coord_answer(req, RKV_EQUORUM, NULL);
	}
	coord_maybe_done(req);
}

static int coord_send_copy(struct coord_req *req, struct coord_replica *rep,
                           const struct dvv *obj);

static void coord_replica_acked(void *arg, int status,
                                const struct msg_peer *peer, const void *body,
                                size_t len)
{
	struct coord_replica *rep = arg;
	struct coord_req *req = rep->req;
	struct msg_status st = {0};

	req->outstanding--;
	rep->replied = true;
	if (status == 0 &&
	    msg_decode_status(req->c->mc, peer, MSG_REPLICATE, body, len,
	                      &st) == 0 &&
	    st.status == 0) {
		rep->ok = true;
		if (req->kind == COORD_WRITE) {
			req->acked++;
			req->packed += !rep->fallback;
		}
	}
	msg_clear_status(&st);
	if (req->kind == COORD_WRITE && status == RKV_EUNAVAIL) {
		/* Failed fast: the write goes on to the next owner. */
		struct coord_replica *f = coord_replace(req, rep);
		if (f != NULL && coord_send_copy(req, f, req->merged) != 0)
			f->replied = true;
	}
	if (req->kind == COORD_WRITE)
		coord_write_check(req);
	else
		coord_maybe_done(req);
}

static void coord_store_merged(int status, const struct dvv *obj, void *arg)
{
	struct coord_replica *rep = arg;
	struct coord_req *req = rep->req;
	(void)obj;
	req->outstanding--;
	rep->replied = true;
	rep->ok = status == 0;
	if (req->kind != COORD_WRITE) { /* read repair */
		coord_maybe_done(req);
		return;
	}
	req->acked += rep->ok;
	req->packed += rep->ok && !rep->fallback;
	coord_write_check(req);
}

/* Sends obj to one replica: through our store when it is us, else with
 * MSG_REPLICATE (hint_for naming the primary when it is a fallback).
 * Returns 0 if the operation is under way (its callback will come). */
static int coord_send_copy(struct coord_req *req, struct coord_replica *rep,
                           const struct dvv *obj)
{
	struct coord *c = req->c;
	const struct cluster_member *m =
	    cluster_member(c->cluster, rep->member);
	const struct cluster_member *p =
	    cluster_member(c->cluster, rep->primary);
	struct msg_replicate msg = {.partition = req->partition,
	                            .key = req->key,
	                            .klen = req->klen,
	                            .obj = (struct dvv *)obj};
	uint8_t *hinted = NULL;
	size_t hlen = 0;
	int rc = 0;

	if (c->stopping)
		return RKV_ESHUTDOWN;
	if (rep->self) {
		rc = rep->fallback
		         ? store_hint(c->store, p->name, req->partition,
		                      req->key, req->klen, obj,
		                      coord_store_merged, rep)
		         : store_merge(c->store, req->partition, req->key,
		                       req->klen, obj, coord_store_merged, rep);
	} else if (rep->fallback) {
		snprintf(msg.hint_for, sizeof(msg.hint_for), "%s", p->name);
		rc = msg_encode_replicate(c->mc, &msg, &hinted, &hlen);
		if (rc == 0)
			rc = rpc_call(c->rpc, m->addr, MSG_REPLICATE, hinted,
			              hlen, req->timeout_ms,
			              coord_replica_acked, rep);
		free(hinted);
	} else {
		if (req->body == NULL)
			rc = msg_encode_replicate(c->mc, &msg, &req->body,
			                          &req->blen);
		if (rc == 0)
			rc = rpc_call(c->rpc, m->addr, MSG_REPLICATE, req->body,
			              req->blen, req->timeout_ms,
			              coord_replica_acked, rep);
	}
	if (rc == 0) {
		req->outstanding++;
		c->stats.fallback_writes += rep->fallback;
	}
	return rc;
}

/* Sends `obj` to every replica selected by `which`. */
static void coord_replicate(struct coord_req *req, const struct dvv *obj,
                            bool (*which)(const struct coord_replica *rep))
{
	/* The replicas there are now; one added later by a fail-fast
	 * callback is sent its copy by that callback. */
	size_t n = req->n;

	if (req->c->stopping)
		return;
	for (size_t i = 0; i < n; i++) {
		struct coord_replica *rep = &req->rep[i];
		int rc = 0;
		if (!which(rep))
			continue;
		rc = coord_send_copy(req, rep, obj);
		if (rc != 0) /* this replica will not answer: count it failed */
			rep->replied = true;
		if (req->kind == COORD_READ && rc == 0)
			req->c->stats.read_repairs++;
	}
}

static void coord_future_acked(void *arg, int status,
                               const struct msg_peer *peer, const void *body,
                               size_t len)
{
	struct coord *c = arg;
	(void)peer;
	(void)body;
	(void)len;
	if (status != 0)
		c->stats.future_failed++;
}

/* DESIGN.md, "Rebalance": while partitions move, a write also goes to
 * each node that is a primary of the key only once the pending transfers
 * are done, not counted toward W, so the stream that passed the key
 * before the write is not the only way the next owner hears of it. The
 * owner forwards what it stores too (transfer.h) for coordinators that
 * have not heard of the move yet. */
/* Does any partition have a transfer pending? ring_pending() looks at
 * all Q partitions, too much to ask on every write: count again only
 * when the ring has changed. */
static bool coord_moves_pending(struct coord *c)
{
	uint64_t v = cluster_ring_version(c->cluster) + 1;

	if (c->pending_of != v) {
		c->pending = ring_pending(cluster_ring(c->cluster));
		c->pending_of = v;
	}
	return c->pending > 0;
}

static void coord_copy_to_future(struct coord_req *req)
{
	struct coord *c = req->c;
	struct msg_replicate msg = {.partition = req->partition,
	                            .key = req->key,
	                            .klen = req->klen,
	                            .obj = req->merged};
	unsigned future[CLUSTER_MAX_N];
	size_t n = 0;

	if (!coord_moves_pending(c) || c->stopping)
		return;
	n = cluster_replicas(c->cluster, req->partition, true, future);
	for (size_t i = 0; i < n; i++) {
		bool taken = false;
		for (size_t k = 0; k < req->n && !taken; k++)
			taken = req->rep[k].member == future[i] ||
			        req->rep[k].primary == future[i];
		if (taken)
			continue;
		if (req->body == NULL &&
		    msg_encode_replicate(c->mc, &msg, &req->body, &req->blen) !=
		        0)
			return;
		if (rpc_call(c->rpc,
		             cluster_member(c->cluster, future[i])->addr,
		             MSG_REPLICATE, req->body, req->blen,
		             req->timeout_ms, coord_future_acked, c) == 0)
			c->stats.future_writes++;
		else
			c->stats.future_failed++;
	}
}

static bool coord_is_remote(const struct coord_replica *rep)
{
	return !rep->self && !rep->down;
}

static void coord_local_written(int status, const struct dvv *obj, void *arg)
{
	struct coord_replica *self = arg;
	struct coord_req *req = self->req;

	req->outstanding--;
	self->replied = true;
	if (status != 0) {
		/* Nothing was written anywhere: fail without replicating. */
		for (size_t i = 0; i < req->n; i++)
			req->rep[i].replied = true;
		coord_answer(req, status, NULL);
		coord_maybe_done(req);
		return;
	}
	self->ok = true;
	req->acked++;
	req->packed++;
	dvv_free(req->merged); /* the empty object coord_req_new made */
	req->merged = dvv_dup(obj);
	if (req->merged == NULL) {
		coord_answer(req, RKV_ENOMEM, NULL);
		coord_maybe_done(req);
		return;
	}
	coord_replicate(req, req->merged, coord_is_remote);
	coord_copy_to_future(req);
	coord_write_check(req);
}

/* --- forwarding (writes received by a node that is not a primary) ----- */

static void coord_forward_next(struct coord_req *req);

static void coord_forwarded(void *arg, int status, const struct msg_peer *peer,
                            const void *body, size_t len)
{
	struct coord_req *req = arg;
	struct msg_status st = {0};

	req->outstanding--;
	if (status == 0)
		status = msg_decode_status(req->c->mc, peer, MSG_FORWARD, body,
		                           len, &st);
	if (status == RKV_EUNAVAIL && !req->answered) {
		coord_forward_next(req); /* that primary is gone: next one */
	} else if (status != 0) {
		coord_answer(req, status, NULL);
	} else {
		req->needed = st.needed;
		req->acked = st.acked;
		coord_answer(req, st.status, st.obj);
	}
	msg_clear_status(&st);
	coord_maybe_done(req);
}

static void coord_forward_next(struct coord_req *req)
{
	struct msg_forward m = {.key = req->key,
	                        .klen = req->klen,
	                        .ctx = req->ctx,
	                        .value = req->value,
	                        .w = req->w,
	                        .pw = req->pw,
	                        .timeout_ms = req->timeout_ms};
	uint8_t *body = NULL;
	size_t len = 0;
	int rc = req->c->stopping
	             ? RKV_ESHUTDOWN
	             : msg_encode_forward(req->c->mc, &m, &body, &len);

	while (rc == 0 && req->forward_next < req->n) {
		const struct coord_replica *rep =
		    &req->rep[req->forward_next++];
		const struct cluster_member *mem =
		    cluster_member(req->c->cluster, rep->member);
		if (rep->down || rep->fallback)
			continue; /* only a live primary coordinates */
		rc = rpc_call(req->c->rpc, mem->addr, MSG_FORWARD, body, len,
		              req->timeout_ms, coord_forwarded, req);
		if (rc == 0) {
			req->outstanding++;
			free(body);
			return;
		}
		rc = 0; /* try the next replica */
	}
	free(body);
	coord_answer(req, rc != 0 ? rc : RKV_EUNAVAIL, NULL);
}

/* --- reads ------------------------------------------------------------
 *
 * DIGEST READS. A primary coordinating a read has its own copy at hand,
 * so it asks the other primaries for the digest of theirs only
 * (store_get_digest: the XXH3-64 of the stored Avro bytes, read without
 * decoding). A digest equal to ours stands for a copy equal to ours: it
 * counts toward R and is neither sent, decoded nor merged. A digest that
 * differs, or one there is nothing to compare with (our read failed or
 * found only a hint), is followed by a fetch of that replica's object,
 * which counts once it arrives, so the answer is still the sync of R
 * copies and read repair still sees every copy that differs. Fallbacks
 * are asked for the object (their hints have no digest), and so is every
 * replica when we are not a primary of the key. A peer of an older
 * release ignores the digest flag and sends its object, taken as any
 * full reply. Digest reads are Cassandra's; there one replica sends data
 * and R - 1 digests, here the data is ours. */

static bool coord_needs_repair(const struct coord_replica *rep);

static void coord_read_check(struct coord_req *req)
{
	if (!req->answered && req->acked >= req->needed)
		coord_answer(req,
		             dvv_value_count(req->merged) ? 0 : RKV_ENOTFOUND,
		             req->merged);
	else if (!req->answered && coord_unreplied(req) == 0)
		coord_answer(req, req->failure ? req->failure : RKV_EQUORUM,
		             NULL);
	if (req->state == COORD_AWAIT && coord_unreplied(req) == 0) {
		req->state = COORD_REPAIR;
		if (dvv_value_count(req->merged) > 0)
			coord_replicate(req, req->merged, coord_needs_repair);
	}
	coord_maybe_done(req);
}

/* A primary that answered is behind when its copy is missing or differs
 * from the merge of all copies. Fallbacks are not repaired: what they
 * hold is hints, handed to their primary, not a copy of their own. */
static bool coord_needs_repair(const struct coord_replica *rep)
{
	const struct coord_req *req = rep->req;
	const struct dvv *copy = rep->same ? req->local->obj : rep->obj;

	if (!rep->ok || rep->fallback)
		return false;
	return copy == NULL || !dvv_equal(copy, req->merged);
}

/* Merges one replica's copy into req->merged. The first copy is not
 * copied: merged is lent it, and gets an object of its own only when a
 * second copy has to be merged into it. Usually there is no second (the
 * others sent equal digests), so a read copies nothing. */
static void coord_merge_copy(struct coord_req *req, struct dvv *obj)
{
	const struct dvv *m = req->merged;
	struct dvv *own = NULL;

	if (!req->merged_lent && m->nentries == 0 && m->nanon == 0) {
		dvv_free(req->merged); /* the empty object coord_req_new made */
		req->merged = obj;     /* still the replica's, who frees it */
		req->merged_lent = true;
		return;
	}
	if (req->merged_lent) {
		own = dvv_dup(m);
		if (own == NULL) {
			log_warn("coord: out of memory merging a read");
			return;
		}
		req->merged = own;
		req->merged_lent = false;
	}
	if (dvv_sync(req->merged, obj) != 0)
		log_warn("coord: out of memory merging a read");
}

/* Records one replica's answer to a read: obj (may be NULL) is taken. */
static void coord_read_reply(struct coord_replica *rep, int status,
                             struct dvv *obj)
{
	struct coord_req *req = rep->req;
	rep->replied = true;
	if (status == 0 || status == RKV_ENOTFOUND) {
		rep->ok = true;
		rep->obj = obj;
		req->acked++;
		if (obj != NULL)
			coord_merge_copy(req, obj);
	} else {
		/* A damaged copy is a fact the client must hear about if the
		 * read fails for want of replies; a lost peer is not. */
		if (status == RKV_ECORRUPT)
			req->failure = status;
		dvv_free(obj);
	}
	coord_read_check(req);
}

/* A digest equal to our copy's: a copy equal to ours, merged already. */
static void coord_read_same(struct coord_replica *rep)
{
	struct coord_req *req = rep->req;

	rep->replied = true;
	rep->ok = true;
	rep->same = true;
	req->acked++;
	req->c->stats.digest_matches++;
	coord_read_check(req);
}

/* The body of a MSG_FETCH for this request, in *body (malloc'ed). */
static int coord_fetch_body(const struct coord_req *req, bool digest,
                            uint8_t **body, size_t *len)
{
	struct msg_fetch m = {.partition = req->partition,
	                      .key = req->key,
	                      .klen = req->klen,
	                      .digest = digest};

	return msg_encode_fetch(req->c->mc, &m, body, len);
}

static void coord_fetched(void *arg, int status, const struct msg_peer *peer,
                          const void *body, size_t len);

/* Asks one replica for its copy (or its digest, rep->digest): a call, or
 * our own store at once (which records the answer, and may answer and
 * even free the request). */
static void coord_fetch_one(struct coord_req *req, struct coord_replica *rep,
                            const uint8_t *body, size_t len)
{
	struct coord *c = req->c;
	struct dvv *obj = NULL;
	int rc = 0;

	c->stats.fallback_reads += rep->fallback;
	if (rep->self) {
		rc = coord_local_read(c, req->partition, req->key, req->klen,
		                      true, &obj,
		                      rep == req->local ? &req->digest : NULL);
		coord_read_reply(rep, rc, obj);
		return;
	}
	if (rpc_call(c->rpc, cluster_member(c->cluster, rep->member)->addr,
	             MSG_FETCH, body, len, req->timeout_ms, coord_fetched,
	             rep) == 0)
		req->outstanding++;
	else
		rep->replied = true;
}

/* Fetches the object of rep (no digest) with a call of its own. When the
 * call cannot be made, rep counts as failed and the quorum is checked. */
static void coord_fetch_object(struct coord_req *req, struct coord_replica *rep)
{
	uint8_t *body = NULL;
	size_t len = 0;

	rep->digest = false;
	if (coord_fetch_body(req, false, &body, &len) == 0)
		coord_fetch_one(req, rep, body, len);
	else
		rep->replied = true;
	free(body);
	if (rep->replied)
		coord_read_check(req);
}

/* A replica whose fetch failed fast: ask the next owner in its place.
 * true when one was asked (the failed replica is recorded here). */
static bool coord_fetch_fallback(struct coord_req *req,
                                 struct coord_replica *rep)
{
	struct coord_replica *f = coord_replace(req, rep);

	if (f == NULL)
		return false;
	rep->replied = true;
	if (f->self) /* records the answer; req may be gone after it */
		coord_fetch_one(req, f, NULL, 0);
	else
		coord_fetch_object(req, f);
	return true;
}

static void coord_fetched(void *arg, int status, const struct msg_peer *peer,
                          const void *body, size_t len)
{
	struct coord_replica *rep = arg;
	struct coord_req *req = rep->req;
	struct msg_status st = {0};
	struct dvv *obj = NULL;

	req->outstanding--;
	if (status == RKV_EUNAVAIL && req->state == COORD_AWAIT &&
	    coord_fetch_fallback(req, rep))
		return;
	if (status == 0)
		status = msg_decode_status(req->c->mc, peer, MSG_FETCH, body,
		                           len, &st);
	if (status == 0 && st.has_digest) {
		msg_clear_status(&st);
		if (!rep->digest) /* a digest nobody asked for */
			status = RKV_ECORRUPT;
		else if (req->digest != 0 && st.digest == req->digest)
			coord_read_same(rep);
		else {
			req->c->stats.digest_mismatches++;
			coord_fetch_object(req, rep);
		}
		if (status == 0)
			return;
	}
	if (status == 0) {
		status = st.status;
		obj = st.obj;
		st.obj = NULL;
	}
	msg_clear_status(&st);
	coord_read_reply(rep, status, obj);
}

/* --- start ------------------------------------------------------------ */

static void coord_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct coord_req *req = arg;
	(void)fd;
	(void)what;
	coord_answer(req,
	             req->kind == COORD_FORWARD ? RKV_ETIMEDOUT : RKV_EQUORUM,
	             NULL);
	coord_maybe_done(req);
}

static void coord_fanout_read(struct coord_req *req)
{
	uint8_t *body[2] = {NULL, NULL}; /* [digest]: the two kinds of fetch */
	size_t len[2] = {0, 0};
	size_t n = req->n;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		struct coord_replica *rep = &req->rep[i];
		if (rep->self && !rep->fallback)
			req->local = rep;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct coord_replica *rep = &req->rep[i];
		rep->digest = req->local != NULL && !rep->fallback;
		if (!rep->self && !rep->down && body[rep->digest] == NULL)
			rc = coord_fetch_body(req, rep->digest,
			                      &body[rep->digest],
			                      &len[rep->digest]);
	}
	/* Remote calls first: the local read answers at once and may already
	 * satisfy R, but every replica must be asked for repair to work.
	 * Their replies come in later loop turns, after our digest is
	 * known. */
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct coord_replica *rep = &req->rep[i];
		if (!rep->self && !rep->down)
			coord_fetch_one(req, rep, body[rep->digest],
			                len[rep->digest]);
	}
	free(body[0]);
	free(body[1]);
	if (rc != 0) {
		coord_answer(req, RKV_ENOMEM, NULL);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (req->rep[i].self)
			coord_fetch_one(req, &req->rep[i], NULL, 0);
	}
}

/* The replicas of the key from the preference list; returns ours when we
 * are a primary of it (we alone may coordinate its writes), else NULL.
 * *live counts the primaries that are up. */
static struct coord_replica *coord_preflist(struct coord_req *req,
                                            unsigned *live)
{
	struct coord *c = req->c;
	struct cluster_target t[CLUSTER_MAX_N];
	struct coord_replica *self = NULL;

	*live = 0;
	req->n = cluster_preflist(c->cluster, req->partition, t);
	for (size_t i = 0; i < req->n; i++) {
		struct coord_replica *rep = &req->rep[i];
		rep->req = req;
		rep->member = t[i].member;
		rep->primary = t[i].primary;
		rep->fallback = t[i].fallback;
		rep->self = cluster_member(c->cluster, t[i].member)->self;
		/* Held down, no fallback: failed now, nothing waits for it. */
		rep->down = !t[i].up && !rep->self;
		rep->replied = rep->down;
		*live += !rep->fallback && !rep->down;
		if (rep->self && !rep->fallback)
			self = rep;
	}
	return self;
}

static void coord_start_write(struct coord_req *req, struct coord_replica *self,
                              unsigned live)
{
	struct coord *c = req->c;
	int rc = 0;

	if (req->pw > live) {
		/* Not enough primaries up: write nothing anywhere. */
		c->stats.pw_refused++;
		req->needed = req->pw;
		req->acked = 0;
		coord_answer(req, RKV_EQUORUM, NULL);
		return;
	}
	if (self == NULL) {
		req->kind = COORD_FORWARD;
		c->stats.forwarded++;
		coord_forward_next(req);
		return;
	}
	c->stats.coordinated_writes++;
	rc = store_update(c->store, req->partition, req->key, req->klen,
	                  &req->ctx, &req->value, coord_local_written, self);
	if (rc == 0)
		req->outstanding++;
	else
		coord_answer(req, rc, NULL);
}

static void coord_start(evutil_socket_t fd, short what, void *arg)
{
	struct coord_req *req = arg;
	struct coord *c = req->c;
	struct timeval tv = {req->timeout_ms / 1000,
	                     (req->timeout_ms % 1000) * 1000};
	struct coord_replica *self = NULL;
	unsigned live = 0;
	(void)fd;
	(void)what;

	if (c->stopping) {
		req->state = COORD_AWAIT;
		coord_answer(req, RKV_ESHUTDOWN, NULL);
		coord_maybe_done(req);
		return;
	}
	self = coord_preflist(req, &live);
	unsigned quorum = (unsigned)cluster_n(c->cluster) / 2 + 1;
	req->needed = req->w ? req->w : quorum;
	if (req->needed < req->pw) /* as Riak: W is at least PW */
		req->needed = req->pw;
	req->state = COORD_FANOUT;
	if (req->kind == COORD_READ) {
		c->stats.coordinated_reads++;
		coord_fanout_read(req);
	} else {
		coord_start_write(req, self, live);
	}
	/* A read our own copy answered at once (a one-node cluster, r=1)
	 * needs no deadline: arming and removing one would cost it more
	 * than its store read. */
	if (!req->answered)
		evtimer_add(req->timer, &tv);
	req->state = COORD_AWAIT;
	if (req->kind == COORD_READ)
		coord_read_check(req); /* replies may all be in already */
	else
		coord_maybe_done(req);
}

static struct coord_req *coord_req_new(struct coord *c, enum coord_kind kind,
                                       const void *key, size_t klen,
                                       unsigned quorum, unsigned timeout_ms,
                                       coord_done_fn *done, void *arg)
{
	size_t ev = coord_event_size();
	struct coord_req *req;

	if (c->stats.active >= COORD_MAX_ACTIVE)
		return NULL;
	req = calloc(1, sizeof(*req) + 2 * ev + klen);
	if (req == NULL)
		return NULL;
	req->c = c;
	req->kind = kind;
	req->timer = (struct event *)req->tail;
	req->start = (struct event *)(req->tail + ev);
	req->key = req->tail + 2 * ev;
	evtimer_assign(req->timer, c->base, coord_on_timeout, req);
	evtimer_assign(req->start, c->base, coord_start, req);
	req->merged = dvv_new();
	req->next = c->active;
	if (c->active != NULL)
		c->active->prev = req;
	c->active = req;
	c->stats.active++;
	if (req->merged == NULL) {
		coord_req_free(req);
		return NULL;
	}
	if (klen > 0)
		memcpy(req->key, key, klen);
	req->klen = klen;
	req->partition =
	    ring_partition_of(key, klen, cluster_ring_size(c->cluster));
	req->w = quorum;
	req->timeout_ms = timeout_ms;
	req->done = done;
	req->arg = arg;
	return req;
}

/* Schedules PREFLIST: it runs once the caller's callback has returned. */
static void coord_req_launch(struct coord_req *req)
{
	event_active(req->start, EV_TIMEOUT, 1);
}

int coord_put(struct coord *c, const struct coord_write *wr,
              coord_done_fn *done, void *arg)
{
	struct coord_req *req = coord_req_new(c, COORD_WRITE, wr->key, wr->klen,
	                                      wr->w, wr->timeout_ms, done, arg);
	size_t nctx = wr->ctx != NULL ? wr->ctx->n : 0;

	if (req == NULL)
		return RKV_EUNAVAIL;
	req->pw = wr->pw;
	if (dvv_value_copy(&req->value, wr->value) != 0)
		goto fail;
	if (nctx > 0) {
		req->ctx.e = malloc(nctx * sizeof(*req->ctx.e));
		if (req->ctx.e == NULL)
			goto fail;
		memcpy(req->ctx.e, wr->ctx->e, nctx * sizeof(*req->ctx.e));
		req->ctx.n = nctx;
	}
	coord_req_launch(req);
	return 0;
fail:
	coord_req_free(req);
	return RKV_ENOMEM;
}

int coord_get(struct coord *c, const void *key, size_t klen, unsigned r,
              unsigned timeout_ms, coord_done_fn *done, void *arg)
{
	struct coord_req *req =
	    coord_req_new(c, COORD_READ, key, klen, r, timeout_ms, done, arg);
	if (req == NULL)
		return RKV_EUNAVAIL;
	coord_req_launch(req);
	return 0;
}

/* --- the replica side ------------------------------------------------- */

/* A request from a peer waiting for our store or our own coordination. */
struct coord_serving {
	struct coord *c;
	struct rpc_reply_to to;
};

static void coord_reply_status(struct coord *c, const struct rpc_reply_to *to,
                               const struct msg_status *st)
{
	uint8_t *body = NULL;
	size_t len = 0;
	if (c->stopping)
		return; /* the transport is going away */
	if (msg_encode_status(c->mc, to->type, st, &body, &len) == 0)
		rpc_reply(c->rpc, to, body, len);
	else
		log_warn("coord: cannot encode a reply (out of memory)");
	free(body);
}

static void coord_reply_code(struct coord *c, const struct rpc_reply_to *to,
                             int status)
{
	struct msg_status st = {.status = status};
	coord_reply_status(c, to, &st);
}

static struct coord_serving *coord_serving_new(struct coord *c,
                                               const struct rpc_reply_to *to)
{
	struct coord_serving *s = malloc(sizeof(*s));
	if (s != NULL) {
		s->c = c;
		s->to = *to;
	}
	return s;
}

static void coord_served_merge(int status, const struct dvv *obj, void *arg)
{
	struct coord_serving *s = arg;
	(void)obj;
	coord_reply_code(s->c, &s->to, status);
	free(s);
}

static void coord_served_forward(void *arg, const struct coord_result *res)
{
	struct coord_serving *s = arg;
	struct msg_status st = {.status = res->status,
	                        .needed = res->needed,
	                        .acked = res->acked,
	                        .obj = (struct dvv *)res->obj};
	coord_reply_status(s->c, &s->to, &st);
	free(s);
}

/* A key must lie in the partition the sender names: a mismatch means a
 * confused or corrupt peer, and storing it would hide the key. */
static bool coord_partition_ok(const struct coord *c, uint32_t partition,
                               const void *key, size_t klen)
{
	return klen > 0 && klen <= STORE_MAX_KEY &&
	       ring_partition_of(key, klen, cluster_ring_size(c->cluster)) ==
	           partition;
}

static int coord_serve_replicate(struct coord *c, const struct rpc_reply_to *to,
                                 const struct msg_peer *peer, const void *body,
                                 size_t len)
{
	struct msg_replicate m = {0};
	struct coord_serving *s = NULL;
	int rc = msg_decode_replicate(c->mc, peer, body, len, &m);

	bool hint = false;

	if (rc == 0 && !coord_partition_ok(c, m.partition, m.key, m.klen))
		rc = RKV_EINVAL;
	/* A hint naming us is simply our copy. */
	hint = rc == 0 && m.hint_for[0] != '\0' &&
	       strcmp(m.hint_for, cluster_member(c->cluster, 0)->name) != 0;
	if (rc == 0 && (s = coord_serving_new(c, to)) == NULL)
		rc = RKV_ENOMEM;
	if (rc == 0 && hint)
		rc = store_hint(c->store, m.hint_for, m.partition, m.key,
		                m.klen, m.obj, coord_served_merge, s);
	else if (rc == 0) {
		/* The store takes the decoded object: no copy. */
		rc = store_merge_take(c->store, m.partition, m.key, m.klen,
		                      m.obj, coord_served_merge, s);
		m.obj = NULL;
	}
	if (rc != 0)
		free(s);
	c->stats.replica_writes++;
	msg_clear_replicate(&m);
	return rc;
}

static int coord_serve_fetch(struct coord *c, const struct rpc_reply_to *to,
                             const struct msg_peer *peer, const void *body,
                             size_t len)
{
	struct msg_fetch m = {0};
	struct msg_status st = {0};
	int rc = msg_decode_fetch(c->mc, peer, body, len, &m);

	if (rc == 0 && !coord_partition_ok(c, m.partition, m.key, m.klen))
		rc = RKV_EINVAL;
	if (rc != 0)
		return rc;
	c->stats.replica_reads++;
	st.status = coord_local_read(c, m.partition, m.key, m.klen, !m.digest,
	                             &st.obj, m.digest ? &st.digest : NULL);
	/* Our own copy, asked for its digest: the digest alone. */
	st.has_digest = st.status == 0 && st.obj == NULL;
	coord_reply_status(c, to, &st);
	msg_clear_status(&st);
	return 0;
}

static int coord_serve_forward(struct coord *c, const struct rpc_reply_to *to,
                               const struct msg_peer *peer, const void *body,
                               size_t len)
{
	struct msg_forward m = {0};
	struct coord_serving *s = NULL;
	int rc = msg_decode_forward(c->mc, peer, body, len, &m);
	struct coord_write wr = {.key = m.key,
	                         .klen = m.klen,
	                         .ctx = &m.ctx,
	                         .value = &m.value,
	                         .w = m.w,
	                         .pw = m.pw,
	                         .timeout_ms = m.timeout_ms};

	if (rc == 0 &&
	    (m.klen == 0 || m.klen > STORE_MAX_KEY || m.w > CLUSTER_MAX_N ||
	     m.pw > CLUSTER_MAX_N || m.timeout_ms == 0))
		rc = RKV_EINVAL;
	if (rc == 0 && (s = coord_serving_new(c, to)) == NULL)
		rc = RKV_ENOMEM;
	if (rc == 0)
		rc = coord_put(c, &wr, coord_served_forward, s);
	if (rc != 0)
		free(s);
	msg_clear_forward(&m);
	return rc;
}

void coord_on_request(void *arg, const struct rpc_reply_to *to,
                      const struct msg_peer *peer, const struct msg_hello *from,
                      const void *body, size_t len)
{
	struct coord *c = arg;
	int rc;

	switch (to->type) {
	case MSG_REPLICATE:
		rc = coord_serve_replicate(c, to, peer, body, len);
		break;
	case MSG_FETCH: rc = coord_serve_fetch(c, to, peer, body, len); break;
	case MSG_FORWARD:
		rc = coord_serve_forward(c, to, peer, body, len);
		break;
	default: rc = RKV_EINVAL; break;
	}
	if (rc != 0) {
		log_warn("coord: refused a type %u request from %s: %s",
		         (unsigned)to->type, from->name, rkv_strerror(rc));
		coord_reply_code(c, to, rc);
	}
}

/* --- lifecycle -------------------------------------------------------- */

struct coord *coord_new(struct event_base *base, struct store *store,
                        struct cluster *cluster, struct rpc *rpc,
                        struct msg_codec *mc)
{
	struct coord *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->base = base;
	c->store = store;
	c->cluster = cluster;
	c->rpc = rpc;
	c->mc = mc;
	return c;
}

void coord_stop(struct coord *c)
{
	c->stopping = true;
}

void coord_free(struct coord *c)
{
	if (c == NULL)
		return;
	while (c->active != NULL) {
		coord_answer(c->active, RKV_ESHUTDOWN, NULL);
		coord_req_free(c->active);
	}
	free(c);
}

void coord_get_stats(const struct coord *c, struct coord_stats *out)
{
	*out = c->stats;
}
