/* transfer.h -- moving partitions to their next owners (DESIGN.md,
 * "Rebalance").
 *
 * A committed plan sets next_owner on the partitions that move (admin.h).
 * Everything after that happens here, on the node that owns such a
 * partition now, driven by the ring alone -- so a restarted node simply
 * starts again what its ring says is pending:
 *
 *   queued      the ring says we own partition m and it is to go to Y;
 *               at most transfer_limit transfers stream at once per node,
 *               the others wait in partition order.
 *   streaming   the key ranges whose preference lists gain a node
 *               through the move (ring_move_targets: Y, or the next node
 *               of a range's walk where Y holds the range already) are
 *               scanned from our store (store_scan) and sent to that
 *               node as MSG_HINT batches naming it (the same durable
 *               "sync these objects" frame hinted handoff uses; the
 *               receiver accepts it because it is a future primary of
 *               those ranges). Batches are bounded (TRANSFER_BATCH_ITEMS
 *               / _BYTES), at most TRANSFER_MAX_INFLIGHT per transfer
 *               await their ack, and the node's transfers together send
 *               at most transfer_rate MB/s. A failed or refused batch is
 *               retried from where it started after TRANSFER_RETRY_MS
 *               (backoff; TRANSFER_STALE_RETRY_MS when the receiver had
 *               not heard of the move yet).
 *   draining    every range is scanned; objects written to those ranges
 *               meanwhile (below) are still on their way.
 *   flip        once they are acknowledged (those forwarded before
 *               draining began: a steady stream of writes must not hold
 *               the flip off; later ones go on being forwarded) and the
 *               receivers' hints delivered, cluster_ring_flip(m): Y owns
 *               m, the ring spreads by gossip. The transfer is then kept
 *               as done for transfer_grace_ms.
 *
 * WRITES DURING A MOVE. Whatever path commits an object into one of a
 * transfer's ranges on this node -- a coordinated write, a replica's
 * REPLICATE, read repair, a hint delivered -- the store tells us
 * (store_set_observer), and the object is forwarded to the range's
 * receiver (a one-entry MSG_HINT), while the transfer is queued,
 * streaming or draining, and for transfer_grace_ms after the flip
 * (coordinators that have not heard of the flip yet still write to us).
 * A forward that fails becomes a durable hint for the receiver
 * (store_hint), which hinted handoff delivers. A receiver may see an
 * object twice; dvv_sync makes that harmless.
 *
 * DROPPING. A key partition of which we are neither a primary now nor
 * one once pending transfers are done, continuously for transfer_grace_ms
 * (and never within transfer_grace_ms of start, while our ring may be
 * stale), and that no transfer of ours still needs, is deleted in bounded
 * steps (store_partition_delete).
 *
 * A crash on either side loses nothing: the receiver acknowledges only
 * durable batches, the sender restarts the stream from the beginning of
 * each range (syncing an object twice changes nothing), and only the flip
 * ends a transfer.
 *
 * Everything runs on the event loop's thread.
 */
#ifndef RKV_TRANSFER_H
#define RKV_TRANSFER_H

#include "cluster.h"
#include "msg.h"
#include "rpc.h"
#include "store.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#define TRANSFER_BATCH_ITEMS     256
#define TRANSFER_BATCH_BYTES     (1u << 20)
#define TRANSFER_MAX_INFLIGHT    2
#define TRANSFER_CALL_TIMEOUT_MS 10000
#define TRANSFER_RETRY_MS        1000
/* ... when the receiver refused because its ring is behind ours
 * (RKV_ESTALE): gossip brings it the commit within a round or two. */
#define TRANSFER_STALE_RETRY_MS 100
/* Forwards awaiting their ack, all transfers; past it, forwards become
 * hints at once. */
#define TRANSFER_MAX_FORWARDS 1024
/* Key partitions deleted per tick when dropping, records per call. */
#define TRANSFER_DROP_ITEMS 1024

struct transfer;

struct transfer_options {
	struct event_base *base;
	struct store *store;
	struct cluster *cluster;
	struct rpc *rpc;
	struct msg_codec *mc;
	unsigned limit;      /* conf transfer_limit: streams at once, >= 1 */
	uint64_t rate_bytes; /* bytes/s for all streams together, >= 1 */
	uint64_t grace_ms;   /* conf transfer_grace_ms */
	unsigned tick_ms;    /* how often the ring is looked at, 10..10000 */
};

/* transfer_new -- ready to start; everything in o is borrowed and must
 * outlive the transfer, which must outlive the rpc and the store (their
 * last callbacks still reach it). Installs the store observer. 0,
 * RKV_EINVAL or RKV_ENOMEM. */
int transfer_new(struct transfer **out, const struct transfer_options *o);

/* transfer_start -- tick every tick_ms. 0 or RKV_ENOMEM. */
int transfer_start(struct transfer *t);

/* transfer_stop -- no more ticks, batches or forwards (forwards that
 * would have been sent become hints); acks in flight are ignored. Call
 * before rpc_free and store_close. Twice is a no-op. */
void transfer_stop(struct transfer *t);

/* transfer_free -- NULL is a no-op; after rpc_free and store_close. */
void transfer_free(struct transfer *t);

/* transfer_busy -- whether any partition we own is still to be handed
 * over (queued, streaming or draining), or forwards are in flight. A
 * leaving node exits only once this is false and it owns nothing. */
bool transfer_busy(const struct transfer *t);

/* transfer_json -- GET /admin/transfers's body (docs/http-api.md). */
struct evbuffer;
void transfer_json(const struct transfer *t, struct evbuffer *out);

/* transfer_stats_json -- "transfer":{...} of /stats (no separator):
 * counters since start (transfers started, done, restarted; batches,
 * keys and bytes sent and acknowledged; forwards sent, acknowledged,
 * turned into hints; key partitions and records dropped) and current
 * values (streaming, queued, draining, forwards in flight). */
void transfer_stats_json(const struct transfer *t, struct evbuffer *out);

#endif
