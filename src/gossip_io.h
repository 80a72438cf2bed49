/* gossip_io.h -- gossip rounds on the event loop (DESIGN.md, "Gossip").
 *
 * The pure gossip/ library decides what to say and how to fold in what is
 * heard; src/cluster.c holds that state as the node's view. This module is
 * the I/O around them: an EV_PERSIST timer that, every interval_ms, bumps
 * our heartbeat, picks one peer (gossip_peer_pick: a live member, now and
 * then one held down, a seed while we know nobody alive) and sends it our
 * member table and ring as MSG_GOSSIP; the peer merges them and answers
 * with its own state (push-pull), which we merge in turn, so both converge
 * in one exchange. After the send, the round persists the table and ring
 * if they changed (cluster_persist): at most once per round.
 *
 * A state that cannot be decoded, names another cluster, or that
 * gossip_merge refuses (a conflict, an impossible table, a ring of another
 * size) is ignored with one log line -- the view is never changed by it --
 * and a refused request is answered with the refusal's status. Warnings
 * repeat at most every GOSSIP_IO_WARN_MS; the rest go to the debug level.
 *
 * Time is CLOCK_MONOTONIC in ms (monotonic_ms), passed to gossip/ as
 * now_ms; randomness is a struct rng seeded from getrandom() at
 * gossip_io_new (or from the options, for a reproducible run).
 */
#ifndef RKV_GOSSIP_IO_H
#define RKV_GOSSIP_IO_H

#include "cluster.h"
#include "codec.h"
#include "msg.h"
#include "rpc.h"

#include <event2/event.h>
#include <stdint.h>

/* Gossip calls awaiting a reply; a round that finds this many sends
 * nothing (the slow peers hold down a few slots, never the loop). */
#define GOSSIP_IO_MAX_INFLIGHT 8
/* A call's timeout is twice the interval, within these bounds. */
#define GOSSIP_IO_MIN_TIMEOUT_MS 50
#define GOSSIP_IO_MAX_TIMEOUT_MS 10000
/* At most one warning per this many ms; the others are logged at debug. */
#define GOSSIP_IO_WARN_MS 10000

struct gossip_io;

struct gossip_io_options {
	struct event_base *base;
	struct cluster *cluster; /* the state gossiped and merged into */
	struct rpc *rpc;
	struct msg_codec *mc;
	struct codec *codec;      /* decodes received rings */
	const char *cluster_name; /* copied */
	unsigned interval_ms;     /* GOSSIP_MIN..MAX_INTERVAL_MS */
	uint64_t seed;            /* for the peer choice; 0: getrandom() */
};

/* gossip_io_new -- ready to start; everything in o but cluster_name is
 * borrowed and must outlive the gossip_io, which must in turn outlive the
 * rpc (its calls' callbacks run in rpc_free). 0, RKV_EINVAL (bad
 * interval, NULL member) or RKV_ENOMEM / RKV_EIO (getrandom failed). */
int gossip_io_new(struct gossip_io **out, const struct gossip_io_options *o);

/* gossip_io_start -- run a round every interval_ms, the first one
 * interval_ms from now. 0 or RKV_ENOMEM. */
int gossip_io_start(struct gossip_io *io);

/* gossip_io_stop -- no more rounds; replies still in flight are dropped
 * when they come, requests are refused (RKV_ESHUTDOWN); the state is
 * persisted one last time if it changed. Call it before rpc_free and
 * store_close. Stopping twice is a no-op. */
void gossip_io_stop(struct gossip_io *io);

/* gossip_io_free -- NULL is a no-op; after rpc_free (see gossip_io_new). */
void gossip_io_free(struct gossip_io *io);

/* gossip_io_join -- `ringkv join`: one exchange with the node at seed, to
 * which we announce ourselves joining (our entry only; never our ring).
 * When the seed answers with a state of our cluster and ring size, we
 * become a joining member of its cluster (cluster_join) and merge its
 * state; otherwise nothing changes here. done(arg, status) runs once, never
 * from inside this call: 0, RKV_EUNAVAIL / RKV_ETIMEDOUT (no answer: down,
 * or it refused our handshake, as a node of another cluster does),
 * RKV_EINVAL (another cluster or ring size), RKV_ECORRUPT, or the seed's
 * refusal. Returns 0 when the exchange started, else the error (done
 * never runs): RKV_EINVAL (bad seed), RKV_ESHUTDOWN, RKV_ENOMEM. */
typedef void gossip_io_join_fn(void *arg, int status);
int gossip_io_join(struct gossip_io *io, const char *seed,
                   gossip_io_join_fn *done, void *arg);

/* gossip_io_on_request -- a MSG_GOSSIP request (the rpc request handler
 * routes them here): merge it and reply with our state, or with the
 * refusal's status. */
void gossip_io_on_request(struct gossip_io *io, const struct rpc_reply_to *to,
                          const struct msg_peer *peer,
                          const struct msg_hello *from, const void *body,
                          size_t len);

#endif
