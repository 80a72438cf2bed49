/* coord.h -- quorum coordination of reads and writes (DESIGN.md, Data path).
 *
 * Writes are coordinated by a replica of the key: it applies the write to
 * its own store first, minting the new dot with its own node id, then sends
 * the resulting object to the other replicas, which merge it (dvv_sync).
 * The client is answered once W replicas (the coordinator included) have
 * the write durably, or with RKV_EQUORUM and the counts when that can no
 * longer happen or the timeout passes. A node that is not a live primary
 * of the key forwards the write to the first live primary that answers:
 * only primaries mint dots, since only they keep their copy for good.
 *
 * SLOPPY QUORUM. A primary the failure detector holds down is replaced by
 * a fallback (cluster_preflist), and so is a primary whose call fails
 * fast (connection refused: RKV_EUNAVAIL from rpc) by the next owner on
 * the walk (cluster_next_fallback). A fallback receives the write as a
 * hint naming the primary (MSG_REPLICATE with hint_for) and its ack
 * counts toward W, as in Dynamo and Riak. PW, the number of primaries that
 * must ack (0 by default), makes the quorum strict: a write is refused up
 * front, writing nothing, when fewer than PW primaries are up, and fails
 * with RKV_EQUORUM when fewer than PW primaries acknowledged it.
 *
 * Reads go to every replica, fallbacks included (they answer from their
 * hints, so a key written during an outage is readable during it); the
 * client is answered with the merge of the first R replies. A primary
 * coordinating a read asks the other primaries for a digest of their
 * copy and fetches the object only from those whose digest differs from
 * its own copy's (coord.c, "digest reads"). The
 * coordinator then waits (bounded by the timeout) for the other replies
 * and sends the merge of all of them to every primary whose copy was
 * behind or missing: read repair (fallbacks are left to their hints).
 *
 * Also the server side of the replica messages (MSG_REPLICATE, MSG_FETCH,
 * MSG_FORWARD): coord_on_request is the rpc request handler.
 */
#ifndef RKV_COORD_H
#define RKV_COORD_H

#include "cluster.h"
#include "dvv.h"
#include "msg.h"
#include "rpc.h"
#include "store.h"

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

/* Requests being coordinated at once; past it new ones get RKV_EUNAVAIL. */
#define COORD_MAX_ACTIVE 16384

struct coord;

/* The outcome a client sees. needed/acked are the quorum and what was
 * reached (for RKV_EQUORUM); when W was reached but PW was not, they are
 * PW and the primaries that acknowledged. obj is the merged (read) or written
 * (write) object, valid during the callback only, NULL unless status is 0. */
struct coord_result {
	int status;
	unsigned needed, acked;
	const struct dvv *obj;
};

typedef void coord_done_fn(void *arg, const struct coord_result *res);

struct coord_write {
	const void *key;
	size_t klen;
	const struct dvv_vv *ctx;      /* may be NULL */
	const struct dvv_value *value; /* tombstone for deletes */
	unsigned w;                    /* 0 = quorum */
	unsigned pw;                   /* primaries that must ack; 0 = none */
	unsigned timeout_ms;
};

struct coord_stats {
	uint64_t coordinated_writes, coordinated_reads, forwarded;
	uint64_t replica_writes,
	    replica_reads;          /* served for other coordinators */
	uint64_t read_repairs;      /* objects sent by read repair */
	uint64_t fallback_writes;   /* objects sent to fallbacks as hints */
	uint64_t fallback_reads;    /* reads asked of fallbacks */
	uint64_t fail_fast;         /* replicas replaced after failing fast */
	uint64_t pw_refused;        /* writes refused up front for PW */
	uint64_t future_writes;     /* copies sent to next owners (rebalance) */
	uint64_t future_failed;     /* ... that failed (the owner forwards) */
	uint64_t digest_matches;    /* read replies: a digest equal to ours */
	uint64_t digest_mismatches; /* ... differing: the object was fetched */
	uint64_t active;
};

/* coord_new -- everything must outlive the coordinator. NULL on ENOMEM. */
struct coord *coord_new(struct event_base *base, struct store *store,
                        struct cluster *cluster, struct rpc *rpc,
                        struct msg_codec *mc);

/* coord_stop -- the node is shutting down: from now on the coordinator
 * starts no store operation, call or reply, and answers what is left with
 * RKV_ESHUTDOWN. Call before rpc_free and store_close, whose callbacks
 * would otherwise start new work on what they are tearing down. */
void coord_stop(struct coord *c);

/* coord_free -- call after rpc_free and store_close, which run every
 * callback still outstanding; requests that are still pending then are
 * answered RKV_ESHUTDOWN and freed. NULL is a no-op. */
void coord_free(struct coord *c);

/* coord_put -- coordinate a write; inputs are copied. done runs exactly
 * once, never from inside this call. 0, or RKV_EUNAVAIL / RKV_ENOMEM
 * (done will not run). A pw above the replicas the key has is answered
 * RKV_EQUORUM (the API refuses pw above n_val itself, with 400). */
int coord_put(struct coord *c, const struct coord_write *wr,
              coord_done_fn *done, void *arg);

/* coord_get -- coordinate a read with r replies (0 = quorum). Same
 * contract as coord_put. A read that finds the key nowhere answers
 * RKV_ENOTFOUND. */
int coord_get(struct coord *c, const void *key, size_t klen, unsigned r,
              unsigned timeout_ms, coord_done_fn *done, void *arg);

/* coord_on_request -- the rpc_request_fn for replica messages; arg is the
 * struct coord. */
void coord_on_request(void *arg, const struct rpc_reply_to *to,
                      const struct msg_peer *peer, const struct msg_hello *from,
                      const void *body, size_t len);

void coord_get_stats(const struct coord *c, struct coord_stats *out);

#endif
