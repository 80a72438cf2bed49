/* cluster.h -- this node's live view of the cluster: who the members are,
 * where they listen, whether they are up, and which of them hold a key.
 *
 * The view sits on one struct gossip (gossip/gossip.h), which it owns: the
 * member table with each member's (generation, version), the phi-accrual
 * detector, and the ring that travels with the table. src/gossip_io.c
 * drives it (cluster_tick, cluster_merge each round); the coordinator asks
 * it for preference lists, the HTTP API for /ring and /members.
 *
 * MEMBERS OF THE VIEW. The ring names nodes by name; the gossip table
 * knows a node once it has heard of it. The view's members are the union:
 * every name of the gossip table and every name that owns (or will own) a
 * partition of the ring. A name the table does not know yet -- a founder
 * that has not gossiped with us -- is dialled at the name itself, because
 * founders are named by their rpc addresses (DESIGN.md, "Forming a
 * cluster"). A member index (cluster_member, struct cluster_target) names
 * one name for the life of the struct cluster: entries are only ever
 * appended, never removed or reordered, so an index a coordinator request
 * took at its start means the same node when its replies come back,
 * whatever gossip changed meanwhile. Index 0 is this node.
 *
 * UP AND DOWN. A member is up while the detector holds it alive (phi below
 * phi_threshold at now). A member we have not heard from since this
 * process started -- restored from the store, or a founder not heard yet
 * -- is presumed up for a grace period after start equal to the time the
 * detector takes to convict one that went silent just after a first
 * heartbeat (phi_threshold * ln 10 * twice the gossip interval), and down
 * after it. So a fresh cluster serves at once, and a member that never
 * shows up stops costing timeouts. We are always up.
 *
 * Forming, resuming (cluster_open): a node whose store holds a member
 * table and a ring resumes with them, under a new, higher generation.
 * Otherwise (a fresh data directory): seeds listing our own rpc address
 * make us a founder -- the ring is claimed over the seeds, the same ring on
 * every founder, and we are `valid`; no seeds make a one-node cluster
 * owning the whole ring; seeds without our address make us `joining`,
 * owning nothing, with an unclaimed ring that the first gossip from the
 * cluster replaces. The table and the ring are persisted in the store's
 * metadata ("members", "ring") at open and by cluster_persist().
 *
 * Not thread-safe; everything runs on the event loop's thread.
 */
#ifndef RKV_CLUSTER_H
#define RKV_CLUSTER_H

#include "codec.h"
#include "conf.h"
#include "msg.h"
#include "store.h"

#include "gossip/gossip.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Names in the view: a gossip table's (GOSSIP_MAX_MEMBERS) plus a ring's
 * (RING_MAX_NODES). Past it, new names are left out of the view (logged). */
#define CLUSTER_MAX_MEMBERS (GOSSIP_MAX_MEMBERS + RING_MAX_NODES)
#define CLUSTER_MAX_N       16 /* conf's n_val limit */

/* Metadata names of the persisted state (store_meta_put). */
#define CLUSTER_META_MEMBERS "members" /* msg_encode_gossip_stored */
#define CLUSTER_META_RING    "ring"    /* codec_ring_encode */

/* One member of the view. Strings are NUL-terminated; the struct is owned
 * by the cluster and stays at the same address until cluster_free (its
 * addr may change when gossip moves the member). */
struct cluster_member {
	char name[GOSSIP_MAX_NAME + 1];
	char addr[GOSSIP_MAX_ADDR + 1]; /* rpc "host:port" to dial */
	bool self;
	size_t gossip; /* index in the gossip table, GOSSIP_NONE if unknown */
};

/* One replica a request goes to. */
struct cluster_target {
	unsigned member;  /* index for cluster_member() */
	bool fallback;    /* stands in for a primary held down */
	unsigned primary; /* fallback only: the member it stands in for */
	bool up;          /* the detector's view when the list was made */
};

/* Counters of gossip rounds, kept here so /stats finds them with the rest
 * of the view. gossip_io counts rounds, sent and received; cluster_merge
 * counts merged_changes and rejected. */
struct cluster_gossip_stats {
	uint64_t rounds;         /* timer ticks */
	uint64_t sent;           /* requests handed to the transport */
	uint64_t received;       /* states decoded (requests and replies) */
	uint64_t merged_changes; /* merges that changed the table or ring */
	uint64_t rejected;       /* states refused: undecodable, another
	                            cluster, or refused by gossip_merge */
};

struct cluster;

/* cluster_open -- the view this node starts with (see the top): the state
 * stored in `store`, else a founding, one-node or joining state from
 * conf->seeds. self_addr is the bound rpc address; our name is conf->name
 * (which must equal self_addr for a founder, since the seeds name the
 * founders), our id store_node_id(store). Our generation is the wall-clock
 * time in ms, or the stored one + 1 if that is higher. The state is
 * persisted before returning. store, codec and mc are borrowed and must
 * outlive the cluster. 0, RKV_EINVAL (seeds malformed, founder named other
 * than its address, stored state of another cluster or ring size; logged),
 * RKV_ECORRUPT (stored state undecodable; logged), RKV_EIO or RKV_ENOMEM. */
int cluster_open(struct cluster **out, const struct conf *conf,
                 const char *self_addr, struct store *store,
                 struct codec *codec, struct msg_codec *mc);

/* cluster_free -- NULL is a no-op. Does not persist (cluster_persist). */
void cluster_free(struct cluster *c);

/* cluster_ring_size -- Q. */
uint32_t cluster_ring_size(const struct cluster *c);

/* cluster_n -- replicas per key: n_val, or fewer when fewer nodes own
 * partitions (0 while the ring is unclaimed: a joining node that has not
 * heard from the cluster yet). */
unsigned cluster_n(const struct cluster *c);

/* cluster_preflist -- the replicas of a partition now (sloppy quorum):
 * its primaries in ring order, at most CLUSTER_MAX_N, each with the
 * detector's view now. A primary the detector holds down is replaced, in
 * its place, by the next owner on the ring walk past the primaries that is
 * up and not taken yet (fallback = true, primary = the member it stands
 * for, up = true) -- ring_preflist()'s choice, so every node that agrees
 * on the ring and on who is down picks the same fallbacks. A down primary
 * for which no such owner remains stays in the list with up = false.
 * Returns how many were written; 0 while the ring is unclaimed. */
size_t cluster_preflist(const struct cluster *c, uint32_t partition,
                        struct cluster_target *out);

/* cluster_next_fallback -- for a replica that failed fast (its connection
 * refused): the first owner on partition's walk past the primaries that is
 * up and not among taken[0..ntaken) (member indices: the replicas already
 * used). The walk looks at most RING_MAX_N_VAL owners far. 0 with *member
 * set, or RKV_ENOTFOUND. */
int cluster_next_fallback(const struct cluster *c, uint32_t partition,
                          const unsigned *taken, size_t ntaken,
                          unsigned *member);

/* cluster_is_primary -- whether member is one of partition's primaries in
 * the ring now, up or down (not a fallback). */
bool cluster_is_primary(const struct cluster *c, uint32_t partition,
                        unsigned member);

/* cluster_is_replica -- whether member is one of partition's primaries in
 * the ring now (future = false, as cluster_is_primary) or once the pending
 * transfers are done (future = true: the walk over next owners,
 * ring_preflist_future). */
bool cluster_is_replica(const struct cluster *c, uint32_t partition,
                        unsigned member, bool future);

/* cluster_replicas -- partition's primaries now (future = false) or once
 * pending transfers are done (future = true), as member indices in walk
 * order, at most CLUSTER_MAX_N; up or down alike. Returns how many were
 * written (0 while the ring is unclaimed). */
size_t cluster_replicas(const struct cluster *c, uint32_t partition,
                        bool future, unsigned *out);

/* cluster_member_find -- the index of the member named name: 0 with
 * *member set, or RKV_ENOTFOUND. */
int cluster_member_find(const struct cluster *c, const char *name,
                        unsigned *member);

/* cluster_member_id -- the node id gossip knows for entry i, 0 when it
 * knows none (a founder not heard from yet) or i is out of range. */
uint64_t cluster_member_id(const struct cluster *c, unsigned i);

/* cluster_member_count -- entries in the view (indices 0..count-1). */
size_t cluster_member_count(const struct cluster *c);

/* cluster_member -- entry i, or NULL when i is out of range. */
const struct cluster_member *cluster_member(const struct cluster *c,
                                            unsigned i);

/* cluster_member_up -- the detector's view of entry i now (see UP AND
 * DOWN); false for i out of range. */
bool cluster_member_up(const struct cluster *c, unsigned i);

/* cluster_ring_json, cluster_members_json -- GET /ring's and GET
 * /members' bodies, appended to an evbuffer (docs/http-api.md). */
struct evbuffer;
void cluster_ring_json(const struct cluster *c, struct evbuffer *out);
void cluster_members_json(const struct cluster *c, struct evbuffer *out);

/* --- rebalancing (src/admin.c, src/transfer.c) -------------------------- */

/* cluster_ring -- the ring as it stands, for reading; valid until the next
 * cluster_merge, cluster_ring_* or cluster_join. */
const struct ring *cluster_ring(const struct cluster *c);

/* cluster_self_name -- our name, as the ring and gossip know it. */
const char *cluster_self_name(const struct cluster *c);

/* cluster_n_val -- the configured n_val (cluster_n is what the ring
 * allows now). */
unsigned cluster_n_val(const struct cluster *c);

/* cluster_ring_commit -- start a plan: ring_plan_commit(ring, plan, our
 * name), then, for every partition whose owner is in handover[0..nhandover)
 * (removed nodes, which cannot stream), ring_flip at once (*flipped counts
 * them; may be NULL). The view is refreshed and the ring persisted and
 * gossiped from the next round. All or nothing: RKV_ESTALE (the ring moved
 * on since the plan), RKV_EINVAL, RKV_ETOOBIG, RKV_ENOMEM, RKV_EIO. */
int cluster_ring_commit(struct cluster *c, const struct ring_plan *plan,
                        const char *const *handover, size_t nhandover,
                        uint32_t *flipped);

/* cluster_ring_flip -- the transfer of partition is done: ring_flip with
 * our name as writer, then refresh, persist. 0 or the ring_flip / store
 * error (RKV_EINVAL when no transfer is pending). */
int cluster_ring_flip(struct cluster *c, uint32_t partition);

/* cluster_ring_version -- a counter bumped by every change of the ring
 * (merge, commit, flip, join), so modules that derive state from the ring
 * (transfers, the staged plan) know when to look again. */
uint64_t cluster_ring_version(const struct cluster *c);

/* cluster_self_status -- our announced status; cluster_set_self_status
 * announces another (gossip_self_set_status) and persists it. */
enum member_status cluster_self_status(const struct cluster *c);
int cluster_set_self_status(struct cluster *c, enum member_status status);

/* cluster_set_self_http -- announce the address our HTTP listener is bound
 * to ("host:port", as bound: clients and `ringkv status` reach us there;
 * "" withdraws it), gossiped with our entry (gossip_self_set_http) and
 * persisted. Until called, /members shows "http": null for us everywhere.
 * 0, RKV_EINVAL (NULL or not a valid address), RKV_ENOMEM, or the store's
 * error (the announcement stands; retried by cluster_persist). */
int cluster_set_self_http(struct cluster *c, const char *http);

/* cluster_mark_down -- an operator's verdict (remove): member's gossip
 * entry is marked down (gossip_member_mark_down), persisted. RKV_EINVAL
 * for us, RKV_ENOTFOUND for a name gossip does not know (nothing to mark:
 * 0 is returned, as the ring alone names it). */
int cluster_mark_down(struct cluster *c, unsigned member);

/* cluster_join -- become a joining member of the cluster gossiping at
 * seed: the ring is replaced by an unclaimed one, our status is joining,
 * the seeds become {seed}; persisted. The first gossip from the cluster
 * brings its ring and members. RKV_EINVAL (bad seed), RKV_ENOMEM,
 * RKV_EIO. */
int cluster_join(struct cluster *c, const char *seed);

/* --- for src/gossip_io.c ------------------------------------------------- */

/* cluster_gossip -- the gossip state, for reading (gossip_member_at,
 * gossip_peer_pick). Change it only through cluster_tick and
 * cluster_merge, which keep the view in step. */
const struct gossip *cluster_gossip(const struct cluster *c);

/* cluster_seeds -- the parsed seed addresses (*n of them, maybe 0),
 * valid until cluster_free. */
const char *const *cluster_seeds(const struct cluster *c, size_t *n);

/* cluster_tick -- our heartbeat for this round (gossip_tick). */
void cluster_tick(struct cluster *c, uint64_t now_ms);

/* cluster_merge -- gossip_merge a received table and ring (ring may be
 * NULL), then bring the view up to date. Counts merged_changes or
 * rejected; errors as gossip_merge, with res->reason for the caller's log
 * line and the state unchanged. res may not be NULL. */
int cluster_merge(struct cluster *c, const struct gossip_member *in, size_t n,
                  const struct ring *ring, uint64_t now_ms,
                  struct gossip_merge_result *res);

/* cluster_state -- our state as a MSG_GOSSIP request body would carry it:
 * cluster name, ring size, every member of the gossip table (us first),
 * our ring's digest, and its encoding (left out -- NULL, 0 -- while the ring is
 * unclaimed). Everything points into c and stays valid until the next
 * cluster_tick, cluster_merge or cluster_free; do not msg_clear_gossip it.
 * 0 or RKV_ENOMEM. */
int cluster_state(struct cluster *c, struct msg_gossip *out);

/* cluster_persist -- store the member table and the ring if they changed
 * since they were last stored (heartbeat versions alone do not count).
 * 0, or the store's error (logged; retried at the next call). */
int cluster_persist(struct cluster *c);

/* cluster_gossip_counters -- the counters, for gossip_io to update. */
struct cluster_gossip_stats *cluster_gossip_counters(struct cluster *c);

/* cluster_gossip_json -- "gossip":{...} of /stats (no separator). */
void cluster_gossip_json(const struct cluster *c, struct evbuffer *out);

#endif
