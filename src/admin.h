/* admin.h -- the operator's side of rebalancing: staged changes, plans,
 * commits (DESIGN.md, "Rebalance"; docs/http-api.md, "Admin"), and this
 * node's own membership status as the ring changes.
 *
 * STAGING follows `riak-admin cluster`: `leave` and `remove` are staged on
 * the node that receives them (in memory: a restart of that node forgets
 * them, as nothing has changed yet); a member gossip shows as `joining`
 * is a staged join on every node (`join`, sent to the new node, makes it
 * one). `plan` runs claim (ring_claim) over the members the ring will
 * have -- the nodes owning partitions once pending transfers are done,
 * plus the joining members that are up, minus the staged leaves and
 * removes -- and keeps the plan it shows; `commit` applies exactly that
 * plan (ring_plan_commit through cluster_ring_commit), and is refused
 * when the staged changes or the ring changed since.
 *
 * OUR STATUS follows the ring, checked every tick: joining -> valid once
 * a committed plan gives us partitions; valid -> leaving once the ring
 * will take all of ours; valid or leaving -> exiting once we own nothing,
 * no transfer of ours is busy and we hold no hints; and a few gossip
 * rounds later (so the cluster hears it) the node stops as if it got
 * SIGTERM, through the shutdown callback. A leaving node therefore exits
 * only after it owns nothing.
 *
 * Everything runs on the event loop's thread.
 */
#ifndef RKV_ADMIN_H
#define RKV_ADMIN_H

#include "cluster.h"
#include "conf.h"
#include "gossip_io.h"
#include "store.h"
#include "transfer.h"

#include <event2/event.h>
#include <event2/http.h>

/* Staged leaves and removes held at once. */
#define ADMIN_MAX_STAGED 64
/* An exiting node stops after this many gossip intervals. */
#define ADMIN_EXIT_ROUNDS 5

struct admin;

struct admin_options {
	struct event_base *base;
	const struct conf *conf;
	struct cluster *cluster;
	struct store *store;
	struct transfer *transfer;
	struct gossip_io *gossip;
	/* Stop the node, as SIGTERM does; called once, when we exit. */
	void (*shutdown)(void *arg);
	void *shutdown_arg;
};

/* admin_new -- everything in o is borrowed and must outlive the admin.
 * 0, RKV_EINVAL or RKV_ENOMEM. */
int admin_new(struct admin **out, const struct admin_options *o);

/* admin_start -- look at our status every tick (a fifth of the gossip
 * interval, at least 10 ms). 0 or RKV_ENOMEM. */
int admin_start(struct admin *a);

/* admin_stop -- no more ticks; a join in flight answers 503 when its
 * exchange ends. Twice is a no-op. */
void admin_stop(struct admin *a);

/* admin_free -- NULL is a no-op; after gossip_io_free (a join's exchange
 * may still call back until then). */
void admin_free(struct admin *a);

/* admin_done_fn -- the answer to one /admin request: an HTTP status and a
 * JSON body (the callee keeps it; valid during the call). */
typedef void admin_done_fn(void *arg, int http_code, struct evbuffer *body);

/* admin_handle -- serve GET or POST /admin/<sub> with query parameters
 * `query` (may be NULL). done runs exactly once, from inside this call or
 * (join) later. */
void admin_handle(struct admin *a, enum evhttp_cmd_type cmd, const char *sub,
                  const struct evkeyvalq *query, admin_done_fn *done,
                  void *arg);

#endif
