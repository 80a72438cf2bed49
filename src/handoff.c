/* handoff.c -- hinted handoff: streaming hints to their primaries, and
 * storing the ones streamed to us (see handoff.h).
 *
 * HOLDER SIDE. Each node we hold hints for has a struct handoff_target,
 * index-aligned with the store's target list (store_hint_target), driven
 * by handoff_drive() through
 *
 *   IDLE -> STREAMING -> DRAINING -> IDLE
 *                \            \
 *                 `------------`--> BACKOFF -> IDLE   (a batch failed)
 *
 * IDLE       nothing in flight; a tick starts a pass when the target has
 *            hints, a stream slot is free and the target is due: gossip
 *            holds it up, or it owns no partition now nor once pending
 *            transfers are done (removed, or left), so that every hint
 *            of it is to be re-targeted whether it ever comes back or not;
 * STREAMING  a pass: store_hint_scan reads the target's hints from where
 *            the pass stands, a batch at a time. The hints of a batch
 *            whose partition the target still serves go out as one
 *            MSG_HINT, the others are re-targeted (below); up to
 *            HANDOFF_MAX_INFLIGHT batches await their ack and stores; an
 *            ack queues store_hint_delete for each hint it covered;
 * DRAINING   the scan reached the end, the target is no longer due, or a
 *            batch failed: nothing more is read; waiting for what is in
 *            flight;
 * BACKOFF    the pass failed: the target is left alone HANDOFF_RETRY_MS.
 *
 * RE-TARGETING. A hint names a node that was a primary of its partition
 * when the hint was written. A rebalance may have taken the partition
 * from it since: that node would refuse the hint for ever, and a removed
 * node never comes back for its hints at all. So a hint whose target is
 * neither a primary of its partition now nor one once pending transfers
 * are done (a name the view does not know is neither) is handed to the
 * partition's current primaries instead -- a hint for each of them but us
 * (store_hint), a store_merge into our own objects if we are one -- and
 * removed only once all of those are durable, compare-and-delete as after
 * an ack. A stale ring may pick primaries that no longer are: the hints
 * made for them are re-targeted in turn, by the same rule, once the ring
 * catches up. Nothing is dropped on the way.
 *
 * Why a hint is never lost: it is deleted only by store_hint_delete after
 * its batch was acknowledged, and the primary acknowledges only once every
 * object is durable in its store -- or, re-targeted, once its copies for
 * the partition's primaries are durable here. A hint that a write changed
 * after it was read for a batch is kept (the delete compares with what
 * was sent) and goes out again in a later pass. Everything else -- a lost
 * connection, a timeout, a refusal, a restart of either side -- leaves
 * the hint where it was; sending it twice is harmless, since the primary
 * merges with dvv_sync. A pass ends only when its batches are done and
 * their deletes committed, so the next pass scans what is really left.
 *
 * A batch owns copies of its hints (key, object as scanned) until the
 * stores and deletes it queued have run, which is why the handoff must
 * outlive the store: store_close runs those last callbacks.
 *
 * PRIMARY SIDE. handoff_on_request checks the whole frame first -- that
 * it names us, and that we are a primary of every partition in it, now or
 * once pending transfers are done (transfers and their forwarded writes
 * send to the next owner) -- and refuses it otherwise with nothing stored:
 * hints misrouted by a confused or stale peer must not become data of a
 * node that does not own them. The accepted objects are queued with
 * store_merge (one group commit for the batch, typically) and the batch
 * acknowledged once all are durable.
 */
#include "handoff.h"

#include "clock.h"
#include "json.h"
#include "logging.h"
#include "status.h"

#include "ring/hash.h"
#include "ring/ring.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* X(state, name): the states of a target's stream (see the top). */
#define HANDOFF_STATE_TABLE(X)                                                 \
	X(HANDOFF_IDLE, "idle")                                                \
	X(HANDOFF_STREAMING, "streaming")                                      \
	X(HANDOFF_DRAINING, "draining")                                        \
	X(HANDOFF_BACKOFF, "backoff")

enum handoff_state {
#define HANDOFF_STATE_ENUM(state, name) state,
	HANDOFF_STATE_TABLE(HANDOFF_STATE_ENUM)
#undef HANDOFF_STATE_ENUM
};

static const char *const handoff_state_names[] = {
#define HANDOFF_STATE_NAME(state, name) name,
    HANDOFF_STATE_TABLE(HANDOFF_STATE_NAME)
#undef HANDOFF_STATE_NAME
};

struct handoff_target {
	const char *name; /* the store's copy, valid until store_close */
	enum handoff_state state;
	struct store_hint_pos pos; /* where the pass stands */
	bool scan_done;            /* the pass has read every hint */
	bool failed;               /* a batch of the pass failed */
	unsigned inflight; /* batches awaiting an ack, stores or deletes */
	uint64_t retry_at; /* BACKOFF: monotonic_ms() to wait for */
	uint64_t passes, delivered, retargeted;
	int last_error; /* of the last failure, 0 if none */
};

struct handoff_batch;

/* One hint of a batch: copies, kept until its stores and delete have
 * run. */
struct handoff_item {
	struct handoff_batch *b;
	uint32_t partition;
	uint8_t *key;
	size_t klen;
	struct dvv *obj;
	bool retarget;   /* for the partition's primaries, not the target */
	unsigned stores; /* re-targeting: callbacks still to come */
	int status;      /* re-targeting: the first failure */
};

struct handoff_batch {
	struct handoff *h;
	size_t target; /* index in h->targets */
	/* the target as the scan saw it, to sort the hints out */
	bool known; /* in the view, as member */
	unsigned member;
	bool up;
	size_t n;
	size_t nsend;   /* of them in the MSG_HINT, the others re-targeted */
	size_t waiting; /* the call, stores and deletes still to come */
	size_t bytes;   /* the MSG_HINT body */
	struct handoff_item items[HANDOFF_BATCH_ITEMS];
};

/* An incoming batch being stored. */
struct handoff_serving {
	struct handoff *h;
	struct rpc_reply_to to;
	unsigned n, acked, outstanding;
	int status; /* the first failure */
};

/* Which warnings share a rate limit: a failing target must not hide a
 * peer sending frames we refuse, nor the other way round. */
enum handoff_warn_kind {
	HANDOFF_WARN_SEND,
	HANDOFF_WARN_REFUSE,
	HANDOFF_WARN_KINDS
};

struct handoff {
	struct event_base *base;
	struct store *store;
	struct cluster *cluster;
	struct rpc *rpc;
	struct msg_codec *mc;
	unsigned tick_ms;
	struct event *timer;
	bool stopped;
	struct handoff_target *targets; /* ntargets, grown with the store's */
	size_t ntargets, cap;
	struct handoff_stats stats;
	uint64_t warned_ms[HANDOFF_WARN_KINDS];
	bool warned[HANDOFF_WARN_KINDS];
};

/* --- logging -------------------------------------------------------------- */

static void handoff_warn(struct handoff *h, enum handoff_warn_kind kind,
                         const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A warning, unless one of its kind was logged in the last
 * HANDOFF_WARN_MS: a target that keeps failing, or a peer that keeps
 * sending what we refuse, would otherwise fill the log. */
static void handoff_warn(struct handoff *h, enum handoff_warn_kind kind,
                         const char *fmt, ...)
{
	uint64_t now = monotonic_ms();
	enum log_level level = LOG_DEBUG;
	char line[512];
	va_list ap;

	if (!h->warned[kind] || now - h->warned_ms[kind] >= HANDOFF_WARN_MS) {
		level = LOG_WARN;
		h->warned[kind] = true;
		h->warned_ms[kind] = now;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_write(level, "handoff: %s", line);
}

/* --- targets -------------------------------------------------------------- */

/* Mirror the store's target list (it only grows). */
static int handoff_sync_targets(struct handoff *h)
{
	size_t n = store_hint_target_count(h->store);

	if (n > h->cap) {
		size_t cap = h->cap ? h->cap : 8;
		struct handoff_target *t = NULL;
		while (cap < n)
			cap *= 2;
		t = realloc(h->targets, cap * sizeof(*t));
		if (t == NULL)
			return RKV_ENOMEM;
		h->targets = t;
		h->cap = cap;
	}
	for (size_t i = h->ntargets; i < n; i++) {
		memset(&h->targets[i], 0, sizeof(h->targets[i]));
		h->targets[i].name = store_hint_target(h->store, i, NULL);
	}
	h->ntargets = n;
	return 0;
}

/* Whether the target's node is up, and where to reach it. */
static bool handoff_target_up(const struct handoff *h,
                              const struct handoff_target *t, const char **addr,
                              uint64_t *id)
{
	unsigned m = 0;
	const struct cluster_member *mem = NULL;

	if (cluster_member_find(h->cluster, t->name, &m) != 0)
		return false;
	mem = cluster_member(h->cluster, m);
	if (mem->self || !cluster_member_up(h->cluster, m))
		return false;
	if (addr != NULL)
		*addr = mem->addr;
	if (id != NULL)
		*id = cluster_member_id(h->cluster, m);
	return true;
}

/* Whether member is a primary of partition now or once pending transfers
 * are done: whom a hint for the partition may still go to. */
static bool handoff_serves(const struct cluster *c, uint32_t partition,
                           unsigned member)
{
	return cluster_is_replica(c, partition, member, false) ||
	       cluster_is_replica(c, partition, member, true);
}

/* Whether a pass over the target's hints has something to do: deliver
 * them, or re-target them all because the target owns no partition now
 * nor in the future ring (removed, left, or forgotten by the ring) and
 * will never take any. A target that is down but still owns partitions
 * waits: the hints it may refuse are re-targeted once it is up again. */
static bool handoff_target_due(const struct handoff *h,
                               const struct handoff_target *t)
{
	const struct ring *r = cluster_ring(h->cluster);
	uint32_t node = 0;

	if (handoff_target_up(h, t, NULL, NULL))
		return true;
	if (cluster_n(h->cluster) == 0)
		return false; /* unclaimed: no primaries to hand them to yet */
	return ring_node_find(r, t->name, &node) != 0 ||
	       (ring_owned(r, node, false) == 0 &&
	        ring_owned(r, node, true) == 0);
}

/* --- the holder side: batches --------------------------------------------- */

static void handoff_drive(struct handoff *h, size_t i, bool tick);

static void handoff_batch_free(struct handoff_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->items[i].key);
		dvv_free(b->items[i].obj);
	}
	free(b);
}

/* A batch is over (acked or failed, its stores and deletes run): let the
 * stream go on. */
static void handoff_batch_done(struct handoff_batch *b)
{
	struct handoff *h = b->h;
	size_t i = b->target;

	h->targets[i].inflight--;
	h->stats.inflight--;
	handoff_batch_free(b);
	handoff_drive(h, i, false);
}

/* One of the callbacks the batch waits for came back. */
static void handoff_batch_wait_done(struct handoff_batch *b)
{
	if (--b->waiting == 0)
		handoff_batch_done(b);
}

/* The pass cannot go on: it ends once what is in flight is done, the
 * hints stay, and the target backs off. */
static void handoff_failed(struct handoff *h, struct handoff_target *t,
                           int status)
{
	t->failed = true;
	t->last_error = status;
	if (!h->stopped)
		handoff_warn(h, HANDOFF_WARN_SEND,
		             "handing off hints for %s failed: %s; they are "
		             "kept for a later try",
		             t->name, rkv_strerror(status));
}

static void handoff_deleted(int status, const struct dvv *obj, void *arg)
{
	struct handoff_batch *b = arg;

	if (status != 0)
		log_warn("handoff: removing a handed-off hint for %s failed: "
		         "%s (it will be handed off again)",
		         b->h->targets[b->target].name, rkv_strerror(status));
	else if (obj == NULL)
		b->h->stats.hints_removed++;
	else
		b->h->stats.hints_kept++;
	handoff_batch_wait_done(b);
}

/* The hint is durable elsewhere now -- its primary acknowledged it, or
 * the partition's primaries have their copies -- so it may go, if it did
 * not change since it was read. */
static void handoff_remove(struct handoff_batch *b, struct handoff_item *it)
{
	struct handoff *h = b->h;
	const char *name = h->targets[b->target].name;
	int rc = store_hint_delete(h->store, name, it->partition, it->key,
	                           it->klen, it->obj, handoff_deleted, b);

	if (rc == 0)
		b->waiting++;
	else if (!h->stopped)
		log_warn("handoff: cannot queue the removal of a handed-off "
		         "hint for %s: %s (it will be handed off again)",
		         name, rkv_strerror(rc));
}

static void handoff_acked(void *arg, int status, const struct msg_peer *peer,
                          const void *body, size_t len)
{
	struct handoff_batch *b = arg;
	struct handoff *h = b->h;
	struct handoff_target *t = &h->targets[b->target];
	struct msg_status st = {0};

	if (status == 0)
		status =
		    msg_decode_status(h->mc, peer, MSG_HINT, body, len, &st);
	if (status == 0)
		status = st.status;
	msg_clear_status(&st);
	if (status != 0) {
		h->stats.batches_failed++;
		handoff_failed(h, t, status);
		handoff_batch_wait_done(b);
		return;
	}
	h->stats.batches_acked++;
	h->stats.hints_delivered += b->nsend;
	h->stats.bytes_delivered += b->bytes;
	t->delivered += b->nsend;
	/* Acknowledged: durable at the primary. Now, and only now, the
	 * hints may go. */
	for (size_t i = 0; i < b->n; i++) {
		if (!b->items[i].retarget)
			handoff_remove(b, &b->items[i]);
	}
	handoff_batch_wait_done(b);
}

/* Re-targeting one hint is over: every copy is durable and the hint may
 * go, or one failed and the hint stays for a later pass. */
static void handoff_retargeted(struct handoff_batch *b, struct handoff_item *it)
{
	struct handoff *h = b->h;
	struct handoff_target *t = &h->targets[b->target];

	if (it->status != 0) {
		handoff_failed(h, t, it->status);
		return;
	}
	h->stats.hints_retargeted++;
	t->retargeted++;
	handoff_remove(b, it);
}

static void handoff_restored(int status, const struct dvv *obj, void *arg)
{
	struct handoff_item *it = arg;
	struct handoff_batch *b = it->b;
	(void)obj;

	if (status != 0 && it->status == 0)
		it->status = status;
	if (--it->stores == 0)
		handoff_retargeted(b, it);
	handoff_batch_wait_done(b);
}

/* Hand a hint its target no longer serves to the partition's primaries
 * now: a hint for each of them but us, and our own copy if we are one. */
static void handoff_retarget(struct handoff_batch *b, struct handoff_item *it)
{
	struct handoff *h = b->h;
	unsigned reps[CLUSTER_MAX_N];
	size_t n = cluster_replicas(h->cluster, it->partition, false, reps);

	if (n == 0)
		it->status = RKV_ENOTFOUND;
	for (size_t i = 0; i < n && it->status == 0; i++) {
		int rc =
		    reps[i] == 0
		        ? store_merge(h->store, it->partition, it->key,
		                      it->klen, it->obj, handoff_restored, it)
		        : store_hint(h->store,
		                     cluster_member(h->cluster, reps[i])->name,
		                     it->partition, it->key, it->klen, it->obj,
		                     handoff_restored, it);
		if (rc != 0) {
			it->status = rc;
			break;
		}
		it->stores++;
		b->waiting++;
	}
	if (it->stores == 0)
		handoff_retargeted(b, it);
}

/* store_hint_fn: copy one hint into the batch, for the target if it
 * still serves the partition, else to be re-targeted. A target that is
 * not up is due only when it owns nothing, and so serves no partition;
 * but gossip may have seen it go down since the pass looked, and then the
 * hints it serves stay where they are. */
static int handoff_collect(uint32_t partition, const void *key, size_t klen,
                           const struct dvv *obj, void *arg)
{
	struct handoff_batch *b = arg;
	struct handoff_item *it = &b->items[b->n];
	bool serves =
	    b->known && handoff_serves(b->h->cluster, partition, b->member);

	if (serves && !b->up)
		return 0;
	it->key = malloc(klen);
	it->obj = dvv_dup(obj);
	if (it->key == NULL || it->obj == NULL) {
		free(it->key);
		dvv_free(it->obj);
		memset(it, 0, sizeof(*it));
		return RKV_ENOMEM;
	}
	memcpy(it->key, key, klen);
	it->klen = klen;
	it->partition = partition;
	it->b = b;
	it->retarget = !serves;
	b->n++;
	return 0;
}

/* Encode and send the batch's hints for the target, if it has any. 0
 * when the call is under way or there was nothing to send. */
static int handoff_send(struct handoff *h, struct handoff_batch *b,
                        const char *addr, uint64_t id)
{
	struct handoff_target *t = &h->targets[b->target];
	struct msg_hint_entry e[HANDOFF_BATCH_ITEMS];
	struct msg_hint m = {.target_id = id, .entries = e};
	uint8_t *body = NULL;
	size_t len = 0;
	int rc = 0;

	snprintf(m.target, sizeof(m.target), "%s", t->name);
	for (size_t i = 0; i < b->n; i++) {
		const struct handoff_item *it = &b->items[i];
		if (it->retarget)
			continue;
		e[m.n].partition = it->partition;
		e[m.n].key = it->key;
		e[m.n].klen = it->klen;
		e[m.n].obj = it->obj;
		m.n++;
	}
	if (m.n == 0)
		return 0;
	rc = msg_encode_hint(h->mc, &m, &body, &len);
	if (rc == 0)
		rc = rpc_call(h->rpc, addr, MSG_HINT, body, len,
		              HANDOFF_CALL_TIMEOUT_MS, handoff_acked, b);
	free(body);
	if (rc == 0) {
		b->nsend = m.n;
		b->bytes = len;
		b->waiting++;
		h->stats.batches_sent++;
	}
	return rc;
}

/* STREAMING: read batches while the window has room and hints are left,
 * and set each going. Leaves the target DRAINING when the pass cannot go
 * on. */
static void handoff_fill(struct handoff *h, size_t i)
{
	struct handoff_target *t = &h->targets[i];

	while (!t->scan_done && !t->failed && !h->stopped &&
	       t->inflight < HANDOFF_MAX_INFLIGHT && handoff_target_due(h, t)) {
		struct store_scan_result res;
		struct handoff_batch *b = calloc(1, sizeof(*b));
		const char *addr = NULL;
		uint64_t id = 0;
		int rc = 0;

		if (b == NULL) {
			handoff_failed(h, t, RKV_ENOMEM);
			break;
		}
		b->h = h;
		b->target = i;
		b->up = handoff_target_up(h, t, &addr, &id);
		b->known =
		    cluster_member_find(h->cluster, t->name, &b->member) == 0;
		rc = store_hint_scan(h->store, t->name, &t->pos,
		                     HANDOFF_BATCH_ITEMS, HANDOFF_BATCH_BYTES,
		                     handoff_collect, b, &res);
		if (rc == 0 && !res.more)
			t->scan_done = true;
		for (size_t k = 0; rc == 0 && k < b->n; k++) {
			if (b->items[k].retarget)
				handoff_retarget(b, &b->items[k]);
		}
		if (rc == 0)
			rc = handoff_send(h, b, addr, id);
		if (rc != 0) {
			h->stats.batches_failed++;
			handoff_failed(h, t, rc);
		}
		if (b->waiting == 0) {
			handoff_batch_free(b);
			continue;
		}
		t->inflight++;
		h->stats.inflight++;
	}
	if (t->scan_done || t->failed || h->stopped ||
	    !handoff_target_due(h, t))
		t->state = HANDOFF_DRAINING;
}

/* The state machine of one target (see the top); tick: called by the
 * timer, the only caller that may start a pass. */
static void handoff_drive(struct handoff *h, size_t i, bool tick)
{
	struct handoff_target *t = &h->targets[i];
	uint64_t now = monotonic_ms();

	switch (t->state) {
	case HANDOFF_BACKOFF:
		if (now < t->retry_at)
			return;
		t->state = HANDOFF_IDLE;
		/* fall through */
	case HANDOFF_IDLE:
		if (!tick || h->stopped ||
		    store_hint_pending(h->store, t->name) == 0 ||
		    h->stats.streams >= HANDOFF_MAX_STREAMS ||
		    !handoff_target_due(h, t))
			return;
		store_hint_pos_init(&t->pos);
		t->scan_done = false;
		t->failed = false;
		t->passes++;
		h->stats.streams++;
		t->state = HANDOFF_STREAMING;
		/* fall through */
	case HANDOFF_STREAMING:
		handoff_fill(h, i);
		if (t->state == HANDOFF_STREAMING)
			return;
		/* fall through */
	case HANDOFF_DRAINING:
		if (t->inflight > 0)
			return;
		h->stats.streams--;
		t->state = t->failed ? HANDOFF_BACKOFF : HANDOFF_IDLE;
		t->retry_at = now + HANDOFF_RETRY_MS;
		return;
	}
}

static void handoff_tick(evutil_socket_t fd, short what, void *arg)
{
	struct handoff *h = arg;
	(void)fd;
	(void)what;

	if (handoff_sync_targets(h) != 0) {
		handoff_warn(h, HANDOFF_WARN_SEND,
		             "out of memory following the hint targets");
		return;
	}
	for (size_t i = 0; i < h->ntargets; i++)
		handoff_drive(h, i, true);
}

/* --- the primary side ----------------------------------------------------- */

static void handoff_reply(struct handoff *h, const struct rpc_reply_to *to,
                          int status, unsigned needed, unsigned acked)
{
	struct msg_status st = {
	    .status = status, .needed = needed, .acked = acked};
	uint8_t *body = NULL;
	size_t len = 0;

	if (h->stopped && status != RKV_ESHUTDOWN)
		return; /* the transport is going away */
	if (msg_encode_status(h->mc, MSG_HINT, &st, &body, &len) == 0)
		rpc_reply(h->rpc, to, body, len);
	else
		log_warn("handoff: cannot encode a reply (out of memory)");
	free(body);
}

static void handoff_served(struct handoff_serving *sv)
{
	struct handoff *h = sv->h;

	h->stats.hints_received += sv->acked;
	h->stats.serving--;
	handoff_reply(h, &sv->to, sv->status, sv->n, sv->acked);
	free(sv);
}

static void handoff_merged(int status, const struct dvv *obj, void *arg)
{
	struct handoff_serving *sv = arg;
	(void)obj;

	if (status == 0)
		sv->acked++;
	else if (sv->status == 0)
		sv->status = status;
	if (--sv->outstanding == 0)
		handoff_served(sv);
}

/* Is the whole frame ours to take? 0, or why not (logged). */
static int handoff_check(struct handoff *h, const struct msg_hint *m,
                         const char *from)
{
	const struct cluster_member *self = cluster_member(h->cluster, 0);
	uint64_t id = store_node_id(h->store);
	uint32_t q = cluster_ring_size(h->cluster);

	if (strcmp(m->target, self->name) != 0 ||
	    (m->target_id != 0 && m->target_id != id)) {
		handoff_warn(h, HANDOFF_WARN_REFUSE,
		             "refused %zu hint(s) from %s: they are for %s "
		             "(%016" PRIx64 "), not for this node",
		             m->n, from, m->target, m->target_id);
		return RKV_EINVAL;
	}
	for (size_t i = 0; i < m->n; i++) {
		const struct msg_hint_entry *e = &m->entries[i];
		if (e->partition >= q ||
		    ring_partition_of(e->key, e->klen, q) != e->partition ||
		    e->klen > STORE_MAX_KEY) {
			handoff_warn(h, HANDOFF_WARN_REFUSE,
			             "refused %zu hint(s) from %s: a key not "
			             "in partition %" PRIu32,
			             m->n, from, e->partition);
			return RKV_EINVAL;
		}
		/* Usually our ring is behind the sender's: a transfer
		 * starts as soon as its plan is committed, and the ring
		 * reaches us by gossip. RKV_ESTALE tells it to retry soon. */
		if (!handoff_serves(h->cluster, e->partition, 0)) {
			handoff_warn(
			    h, HANDOFF_WARN_REFUSE,
			    "refused %zu hint(s) from %s: this node is "
			    "not a primary of partition %" PRIu32
			    ", now or once transfers are done",
			    m->n, from, e->partition);
			return RKV_ESTALE;
		}
	}
	return 0;
}

void handoff_on_request(struct handoff *h, const struct rpc_reply_to *to,
                        const struct msg_peer *peer,
                        const struct msg_hello *from, const void *body,
                        size_t len)
{
	struct handoff_serving *sv = NULL;
	struct msg_hint m;
	int rc = 0;

	if (h->stopped) {
		handoff_reply(h, to, RKV_ESHUTDOWN, 0, 0);
		return;
	}
	if (h->stats.serving >= HANDOFF_MAX_SERVING) {
		handoff_reply(h, to, RKV_EUNAVAIL, 0, 0);
		return;
	}
	h->stats.batches_received++;
	rc = msg_decode_hint(h->mc, peer, body, len, &m);
	if (rc != 0)
		handoff_warn(h, HANDOFF_WARN_REFUSE,
		             "undecodable hints from %s: %s", from->name,
		             rkv_strerror(rc));
	if (rc == 0)
		rc = handoff_check(h, &m, from->name);
	if (rc == 0 && (sv = calloc(1, sizeof(*sv))) == NULL)
		rc = RKV_ENOMEM;
	if (rc != 0) {
		h->stats.batches_refused++;
		handoff_reply(h, to, rc, (unsigned)m.n, 0);
		msg_clear_hint(&m);
		return;
	}
	sv->h = h;
	sv->to = *to;
	sv->n = (unsigned)m.n;
	h->stats.serving++;
	for (size_t i = 0; i < m.n; i++) {
		const struct msg_hint_entry *e = &m.entries[i];
		rc = store_merge(h->store, e->partition, e->key, e->klen,
		                 e->obj, handoff_merged, sv);
		if (rc == 0)
			sv->outstanding++;
		else if (sv->status == 0)
			sv->status = rc;
	}
	msg_clear_hint(&m);
	if (sv->outstanding == 0)
		handoff_served(sv);
}

/* --- life cycle ----------------------------------------------------------- */

int handoff_new(struct handoff **out, const struct handoff_options *o)
{
	struct handoff *h = NULL;

	*out = NULL;
	if (o->base == NULL || o->store == NULL || o->cluster == NULL ||
	    o->rpc == NULL || o->mc == NULL ||
	    o->tick_ms < HANDOFF_MIN_TICK_MS ||
	    o->tick_ms > HANDOFF_MAX_TICK_MS)
		return RKV_EINVAL;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return RKV_ENOMEM;
	h->base = o->base;
	h->store = o->store;
	h->cluster = o->cluster;
	h->rpc = o->rpc;
	h->mc = o->mc;
	h->tick_ms = o->tick_ms;
	h->timer = event_new(o->base, -1, EV_PERSIST, handoff_tick, h);
	if (h->timer == NULL || handoff_sync_targets(h) != 0) {
		handoff_free(h);
		return RKV_ENOMEM;
	}
	*out = h;
	return 0;
}

int handoff_start(struct handoff *h)
{
	struct timeval tv = ms_timeval(h->tick_ms);

	h->stopped = false;
	return event_add(h->timer, &tv) == 0 ? 0 : RKV_ENOMEM;
}

void handoff_stop(struct handoff *h)
{
	if (h == NULL || h->stopped)
		return;
	h->stopped = true;
	event_del(h->timer);
}

void handoff_free(struct handoff *h)
{
	if (h == NULL)
		return;
	if (h->timer != NULL)
		event_free(h->timer);
	free(h->targets);
	free(h);
}

/* --- reporting ------------------------------------------------------------ */

void handoff_get_stats(const struct handoff *h, struct handoff_stats *out)
{
	*out = h->stats;
}

void handoff_stats_json(const struct handoff *h, struct evbuffer *out)
{
	const struct handoff_stats *s = &h->stats;
	struct store_stats ss;
	size_t n = store_hint_target_count(h->store);
	bool first = true;

	store_get_stats(h->store, &ss);
	evbuffer_add_printf(
	    out,
	    "\"handoff\":{\"hints_stored\":%" PRIu64
	    ",\"hints_pending\":%" PRIu64 ",\"hints_limit\":%" PRIu64
	    ",\"hints_delivered\":%" PRIu64 ",\"hints_removed\":%" PRIu64
	    ",\"hints_kept\":%" PRIu64 ",\"handoff_bytes\":%" PRIu64
	    ",\"batches_sent\":%" PRIu64 ",\"batches_acked\":%" PRIu64
	    ",\"batches_failed\":%" PRIu64 ",\"streams\":%" PRIu64
	    ",\"inflight\":%" PRIu64 ",\"batches_received\":%" PRIu64
	    ",\"batches_refused\":%" PRIu64 ",\"hints_received\":%" PRIu64
	    ",\"hints_retargeted\":%" PRIu64 ",\"pending_by_target\":{",
	    ss.hint_writes, ss.hints, (uint64_t)STORE_MAX_HINTS,
	    s->hints_delivered, s->hints_removed, s->hints_kept,
	    s->bytes_delivered, s->batches_sent, s->batches_acked,
	    s->batches_failed, s->streams, s->inflight, s->batches_received,
	    s->batches_refused, s->hints_received, s->hints_retargeted);
	for (size_t i = 0; i < n; i++) {
		uint64_t pending = 0;
		const char *name = store_hint_target(h->store, i, &pending);
		if (pending == 0)
			continue;
		if (!first)
			evbuffer_add_printf(out, ",");
		first = false;
		json_add_string(out, name);
		evbuffer_add_printf(out, ":%" PRIu64, pending);
	}
	evbuffer_add_printf(out, "}}");
}

void handoff_json(const struct handoff *h, struct evbuffer *out)
{
	struct store_stats ss;
	size_t n = store_hint_target_count(h->store);

	store_get_stats(h->store, &ss);
	evbuffer_add_printf(out,
	                    "{\"hints_pending\":%" PRIu64
	                    ",\"hints_delivered\":%" PRIu64 ",\"targets\":[",
	                    ss.hints, h->stats.hints_delivered);
	for (size_t i = 0; i < n; i++) {
		uint64_t pending = 0;
		const char *name = store_hint_target(h->store, i, &pending);
		const struct handoff_target *t =
		    i < h->ntargets ? &h->targets[i] : NULL;
		evbuffer_add_printf(out, "%s{\"target\":", i ? "," : "");
		json_add_string(out, name);
		evbuffer_add_printf(
		    out,
		    ",\"pending\":%" PRIu64 ",\"up\":%s,\"state\":\"%s\""
		    ",\"inflight\":%u,\"passes\":%" PRIu64
		    ",\"delivered\":%" PRIu64 ",\"retargeted\":%" PRIu64
		    ",\"last_error\":",
		    pending,
		    t != NULL && handoff_target_up(h, t, NULL, NULL) ? "true"
		                                                     : "false",
		    handoff_state_names[t != NULL ? t->state : HANDOFF_IDLE],
		    t != NULL ? t->inflight : 0, t != NULL ? t->passes : 0,
		    t != NULL ? t->delivered : 0,
		    t != NULL ? t->retargeted : 0);
		json_add_string(out, t != NULL && t->last_error != 0
		                         ? rkv_strerror(t->last_error)
		                         : NULL);
		evbuffer_add_printf(out, "}");
	}
	evbuffer_add_printf(out, "]}\n");
}
