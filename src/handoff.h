/* handoff.h -- hinted handoff (DESIGN.md, "Hinted handoff").
 *
 * While a primary of a key is down, coordinators send its share of a
 * write to a fallback (coord.h, SLOPPY QUORUM), which keeps it as a hint:
 * an object in its store's "hints" database, keyed by (primary name,
 * partition, key) and merged with dvv_sync when the key is written again
 * (store_hint). Hints are durable: they outlive a restart of the node
 * holding them. This module is what empties that database again:
 *
 *   holder side   every tick (tick_ms), for each node we hold hints for
 *                 that the failure detector -- fed by gossip -- sees up,
 *                 stream its hints to it: bounded batches (MSG_HINT, at
 *                 most HANDOFF_BATCH_ITEMS hints or HANDOFF_BATCH_BYTES),
 *                 at most HANDOFF_MAX_INFLIGHT of them awaiting an ack per
 *                 target and HANDOFF_MAX_STREAMS targets at once. A hint
 *                 is deleted only once its primary has acknowledged the
 *                 batch holding it, and only if it did not change since it
 *                 was sent (store_hint_delete). A batch that fails or is
 *                 refused deletes nothing and stops the stream; the rest
 *                 waits HANDOFF_RETRY_MS and for the target to be up again.
 *
 *   re-targeting  a hint whose target is neither a primary of the hint's
 *                 partition now nor one once pending transfers are done
 *                 (cluster_is_replica; a name the view does not know is
 *                 neither) -- the partition moved away in a rebalance, or
 *                 the node was removed -- is not sent to it: it would be
 *                 refused for ever. It is handed to the partition's
 *                 current primaries instead: a hint for each of them but
 *                 this node (store_hint), and a store_merge into our own
 *                 objects if this node is one. Once all of those are
 *                 durable the original is deleted, as after an ack (only
 *                 if unchanged). This happens in the same bounded passes:
 *                 while streaming to a target that is up, and for a
 *                 target that owns no partition now nor in the future
 *                 ring, up or down (a removed node never comes back), for
 *                 all of its hints. A target that is down and still owns
 *                 partitions keeps its hints until it is up. If the
 *                 partition has no primaries in our view (unclaimed ring)
 *                 or a store fails, the hint stays and the target backs
 *                 off as after a failed batch. Counted in
 *                 hints_retargeted.
 *
 *   primary side  a MSG_HINT batch is refused as a whole (an error reply,
 *                 logged) unless it names this node (name, and node id when
 *                 the sender knows one) and this node is a primary of
 *                 every partition in it, now or once pending transfers are
 *                 done (transfers, src/transfer.h, stream partitions to
 *                 their next owner in MSG_HINT batches); otherwise every
 *                 object is synced into the store (store_merge) and the
 *                 batch acknowledged once all of them are durable.
 *
 * Hints are keyed by the primary's name, not its node id: a node that lost
 * its data comes back under its old name with a new id (DESIGN.md,
 * Identity), and the writes it missed are still its to hold. The sender
 * tells the id it knows from gossip, so a frame meant for an older
 * incarnation of a name is refused rather than merged into the wrong node.
 *
 * Everything runs on the event loop's thread.
 */
#ifndef RKV_HANDOFF_H
#define RKV_HANDOFF_H

#include "cluster.h"
#include "msg.h"
#include "rpc.h"
#include "store.h"

#include <event2/event.h>
#include <stdint.h>

/* One batch: at most this many hints, and no more hints once their stored
 * bytes reach HANDOFF_BATCH_BYTES (the hint crossing it included). */
#define HANDOFF_BATCH_ITEMS 256
#define HANDOFF_BATCH_BYTES (1u << 20)
/* Batches awaiting their ack, per target; targets streamed at once. */
#define HANDOFF_MAX_INFLIGHT 4
#define HANDOFF_MAX_STREAMS  4
/* A batch's call times out after this; its hints are kept. */
#define HANDOFF_CALL_TIMEOUT_MS 10000
/* After a failed or refused batch, the target is left alone this long. */
#define HANDOFF_RETRY_MS 1000
/* Incoming batches being stored at once; more are refused RKV_EUNAVAIL
 * (the sender retries later). */
#define HANDOFF_MAX_SERVING 32
/* At most one warning per this many ms; the others go to debug. */
#define HANDOFF_WARN_MS 10000
/* Ticks are tick_ms apart, within these bounds. */
#define HANDOFF_MIN_TICK_MS 10
#define HANDOFF_MAX_TICK_MS 10000

struct handoff;

struct handoff_options {
	struct event_base *base;
	struct store *store;     /* holds the hints */
	struct cluster *cluster; /* who is up, where they listen, our name */
	struct rpc *rpc;
	struct msg_codec *mc;
	unsigned tick_ms; /* HANDOFF_MIN_TICK_MS..HANDOFF_MAX_TICK_MS */
};

/* Counters since handoff_new; streams and inflight are current values. */
struct handoff_stats {
	/* holder side */
	uint64_t batches_sent, batches_acked, batches_failed;
	uint64_t hints_delivered;  /* acknowledged by their primary */
	uint64_t hints_removed;    /* deleted once held elsewhere */
	uint64_t hints_kept;       /* changed after they were sent: kept */
	uint64_t hints_retargeted; /* handed to their partition's primaries
	                              now, their target no longer one */
	uint64_t bytes_delivered;  /* MSG_HINT body bytes acknowledged */
	uint64_t streams;          /* targets being streamed to now */
	uint64_t inflight;         /* batches awaiting an ack now */
	/* primary side */
	uint64_t batches_received, batches_refused;
	uint64_t hints_received; /* objects synced into our store */
	uint64_t serving;        /* incoming batches being stored now */
};

/* handoff_new -- ready to start; everything in o is borrowed and must
 * outlive the handoff, which must in turn outlive the rpc and the store
 * (their last callbacks, run by rpc_free and store_close, still reach it).
 * 0, RKV_EINVAL (a NULL member, tick_ms out of bounds) or RKV_ENOMEM. */
int handoff_new(struct handoff **out, const struct handoff_options *o);

/* handoff_start -- tick every tick_ms, the first tick tick_ms from now.
 * 0 or RKV_ENOMEM. */
int handoff_start(struct handoff *h);

/* handoff_stop -- no more ticks or batches; acks still in flight delete
 * nothing more than they already queued, incoming batches are refused
 * (RKV_ESHUTDOWN). Call before rpc_free and store_close. Twice is a
 * no-op. */
void handoff_stop(struct handoff *h);

/* handoff_free -- NULL is a no-op; after rpc_free and store_close. */
void handoff_free(struct handoff *h);

/* handoff_on_request -- a MSG_HINT request (the rpc request handler routes
 * them here): store it, or refuse it, and reply. */
void handoff_on_request(struct handoff *h, const struct rpc_reply_to *to,
                        const struct msg_peer *peer,
                        const struct msg_hello *from, const void *body,
                        size_t len);

void handoff_get_stats(const struct handoff *h, struct handoff_stats *out);

/* handoff_stats_json -- "handoff":{...} of /stats (no separator): the
 * counters above (hints_retargeted among them) with the store's
 * hints_stored and hints_pending, and pending hints per target. */
struct evbuffer;
void handoff_stats_json(const struct handoff *h, struct evbuffer *out);

/* handoff_json -- GET /handoff's body: every target this node holds (or
 * held) hints for, with its pending count, whether it is up, the state of
 * its stream, and how many of its hints were delivered to it and how many
 * re-targeted (docs/http-api.md). */
void handoff_json(const struct handoff *h, struct evbuffer *out);

#endif
