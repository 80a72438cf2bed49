/* gossip.h -- a node's view of the cluster: the member table, the ring that
 * travels with it, and who is up.
 *
 * Every node holds one struct gossip. Each round (src/gossip_io.c, every
 * gossip_interval_ms) it calls gossip_tick() to bump its own heartbeat,
 * gossip_peer_pick() to choose whom to talk to, and sends that peer its
 * members (gossip_member_at) and ring (gossip_ring). What a peer sends back
 * or pushes in is decoded into an array of struct gossip_member and folded
 * in with gossip_merge(). Nothing here does I/O, reads a clock, logs or
 * draws global randomness: time comes in as now_ms, randomness as a seeded
 * struct rng, and failures as return codes with a reason text for src/ to
 * log. That is what lets tests/sim_gossip.c run a thousand nodes in one
 * process, deterministically from one seed.
 *
 * MEMBER ENTRY. Per member the table holds what every node agrees on:
 *
 *   id          u64, never 0: the node's identity and DVVSet actor, made
 *               when its data directory was created (a node whose data is
 *               lost comes back with a new id);
 *   name        how the ring names it (1..255 bytes, ring_name_valid);
 *   addr        its rpc address, where to dial (same character rules);
 *   http        its client/admin HTTP address, where `ringkv status`
 *               asks it for its keys and disk (same rules, or "" while
 *               the node has not announced one: it binds its HTTP
 *               listener after it joins the table). Like the rest of the
 *               entry it is the member's own, announced with a version
 *               bump (gossip_self_set_http) -- Cassandra gossips its RPC
 *               address as application state the same way;
 *   status      joining | valid | leaving | exiting | down (below);
 *   generation  set when the process starts (start time, or a restart
 *               counter): a restarted node comes back with a higher one;
 *   version     its heartbeat: bumped by the node itself, each round.
 *
 * and, per member, what only this node knows: when its (generation,
 * version) last advanced and a phi-accrual detector over those arrivals
 * (phi.h). Whether a member is up is therefore a local opinion, never
 * gossiped -- as in Cassandra, where each node convicts on its own.
 *
 * MERGE RULE. Entries are ordered by (generation, version) and, only to
 * break ties between entries that no correct cluster produces, by status,
 * then name, then address, then http address; a merge keeps, per id, the
 * greater entry. A
 * total order and a per-id maximum make the merge commutative, associative
 * and idempotent, so tables converge whatever order gossip arrives in. An
 * older generation never beats a newer one, whatever its version.
 *
 * OUR OWN ENTRY is written only by us. Gossip about us never lowers or
 * changes it. If a peer holds an entry for us that is greater than ours (a
 * previous run of this node got further, its generation was not persisted,
 * or an operator marked us down), we move above it instead: to (claimed
 * generation + 1, version 0) when the claim has a higher generation, else
 * to (generation, claimed version + 1). Our entry then wins everywhere and
 * the cluster hears our real status again. gossip_merge reports this as
 * self_bumped so src/ persists the new generation.
 *
 * STATUS is the member's own announcement (Riak's member states): joining
 * (in the table, owns nothing until a plan is committed), valid (a full
 * member), leaving (handing its partitions off), exiting (done, about to
 * stop). The fifth, down, is the one entry another node may write: an
 * operator marks a dead member down (gossip_member_mark_down) so that its
 * name and address can be taken by a replacement. If the member is in fact
 * alive it hears the mark and moves above it (the rule above).
 *
 * UNIQUENESS. Ids are distinct; among members not marked down, names and
 * (rpc) addresses are too. HTTP addresses are not checked: nothing is
 * found by them, and one a member announces wrongly costs only its own
 * status row. A received table breaking that is impossible
 * (GOSSIP_ECORRUPT);
 * one that would make our table break it -- a new id at the address of a
 * live member, e.g. a node that lost its data and came back -- is refused
 * (GOSSIP_EINVAL) until the old member is marked down: the check Cassandra
 * makes before a node takes over a known endpoint without replace_address.
 *
 * THE RING travels with the table and merges with ring_merge(); a merge
 * that changes either reports it, so the caller persists and gossips on.
 *
 * MEMBER INDICES. Members are never removed, so the index of a member (0 is
 * always this node) stays valid for the life of the struct gossip.
 *
 * Conventions: functions returning int return 0 or a negative GOSSIP_E*
 * code (the same numbers as src/status.h's RKV_E*). A struct gossip is not
 * thread-safe; one that is only read may be shared.
 */
#ifndef RKV_GOSSIP_GOSSIP_H
#define RKV_GOSSIP_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ring/ring.h"
#include "ring/rng.h"

#include "phi.h"

/* Status codes; the values are src/status.h's RKV_E* values.
 *   ENOTFOUND  no such member, or nobody to gossip with;
 *   EINVAL     a bad argument, or a received state that conflicts with
 *              ours (see UNIQUENESS);
 *   ETOOBIG    over GOSSIP_MAX_MEMBERS;
 *   ECORRUPT   an impossible received state, or gossip_validate() failed. */
#define GOSSIP_OK        0
#define GOSSIP_ENOTFOUND (-1) /* RKV_ENOTFOUND */
#define GOSSIP_EINVAL    (-2) /* RKV_EINVAL */
#define GOSSIP_ETOOBIG   (-3) /* RKV_ETOOBIG */
#define GOSSIP_ENOMEM    (-4) /* RKV_ENOMEM */
#define GOSSIP_ECORRUPT  (-6) /* RKV_ECORRUPT */

/* Limits. */
#define GOSSIP_MAX_MEMBERS 4096u
#define GOSSIP_MAX_NAME    RING_MAX_NAME /* a member name is a ring name */
#define GOSSIP_MAX_ADDR    255           /* bytes of an rpc or http address */
/* Generations and versions are below this; a claim about us that we could
 * not move above is refused. (2^62: a start time in ms is about 2^41.) */
#define GOSSIP_MAX_COUNTER (UINT64_C(1) << 62)
/* Configuration ranges. */
#define GOSSIP_MIN_INTERVAL_MS  1u
#define GOSSIP_MAX_INTERVAL_MS  3600000u
#define GOSSIP_MAX_PHI          1000.0
#define GOSSIP_DEFAULT_PHI      8.0
#define GOSSIP_DEFAULT_INTERVAL 1000u

/* "No member", e.g. in struct gossip_peer for a seed. */
#define GOSSIP_NONE SIZE_MAX

/* --- member status ------------------------------------------------------- */

/* X(enum value, name shown in /members and the CLI, meaning) */
#define MEMBER_STATUS_TABLE(X)                                                 \
	X(MEMBER_JOINING, "joining", "in the table, owns nothing yet")         \
	X(MEMBER_VALID, "valid", "a full member")                              \
	X(MEMBER_LEAVING, "leaving", "handing its partitions off")             \
	X(MEMBER_EXITING, "exiting", "handed off, about to stop")              \
	X(MEMBER_DOWN, "down", "marked down by an operator")

// clang-format off
enum member_status {
#define MEMBER_STATUS_ENUM(e, name, help) e,
	MEMBER_STATUS_TABLE(MEMBER_STATUS_ENUM)
#undef MEMBER_STATUS_ENUM
	MEMBER_STATUS_COUNT /* not a status: how many there are */
};
// clang-format on

/* member_status_name -- the status's name ("joining", ...), a static
 * string; "?" for a value out of range. */
const char *member_status_name(enum member_status s);

/* member_status_parse -- the status named name: 0 and *out set, or
 * GOSSIP_EINVAL (unknown or NULL name; *out untouched). */
int member_status_parse(const char *name, enum member_status *out);

/* --- members ------------------------------------------------------------- */

/* One member's gossiped entry: what travels, what src/ encodes and decodes.
 * As an argument, the strings belong to the caller and are only read (the
 * table copies what it keeps). As a result of gossip_member_at, they
 * belong to the table and stay valid until the next call that changes it
 * (gossip_merge, gossip_member_set, gossip_self_set_http, gossip_free). */
struct gossip_member {
	uint64_t id;
	const char *name;
	const char *addr;
	const char *http; /* never NULL; "" when not announced */
	enum member_status status;
	uint64_t generation;
	uint64_t version;
};

/* What this node alone knows about a member. */
struct gossip_health {
	bool heard;             /* its entry advanced at least once here */
	uint64_t last_heard_ms; /* when it last advanced (valid when heard) */
	uint32_t samples;       /* inter-arrival times in the window */
	double mean_ms;         /* their mean (the bootstrap when none) */
	double phi;             /* suspicion now (HUGE_VAL if never heard) */
	bool alive;             /* phi below the threshold (always for us) */
};

/* --- configuration ------------------------------------------------------- */

struct gossip_config {
	uint32_t interval_ms; /* gossip period, GOSSIP_MIN/MAX_INTERVAL_MS */
	double phi_threshold; /* convict at or above, (0, GOSSIP_MAX_PHI] */
	uint32_t window;      /* detector samples a member, 1..PHI_MAX_WINDOW */
};

/* gossip_config_default -- 1000 ms, phi 8, 1000 samples (DESIGN.md's and
 * Cassandra's defaults). The detector's bootstrap and max interval are
 * twice interval_ms (phi.h). */
void gossip_config_default(struct gossip_config *cfg);

/* --- life cycle ---------------------------------------------------------- */

struct gossip;

/* gossip_new -- the state of a node that knows only itself.
 *
 * self: our entry (id != 0, valid name and address, http "" or valid,
 * status not down, generation and version below GOSSIP_MAX_COUNTER); its
 * strings are copied.
 * ring: the ring we start with (ring_new(Q) when we know none yet: a
 * claimed ring gossiped in replaces its partitions). On success the state
 * owns ring and frees it in gossip_free(); on error the caller keeps it.
 *
 * 0 and *out set (free with gossip_free), GOSSIP_EINVAL (bad config, entry
 * or NULL ring) or GOSSIP_ENOMEM; *out untouched on error. */
int gossip_new(const struct gossip_config *cfg,
               const struct gossip_member *self, struct ring *ring,
               struct gossip **out);

/* gossip_free -- release the state, its members and its ring; NULL is a
 * no-op. */
void gossip_free(struct gossip *g);

/* gossip_ring -- the ring, owned by g, valid until gossip_free. The caller
 * may change it (ring_plan_commit, ring_flip, ring_compact) and should
 * then persist and gossip it; a merge may change it too. */
struct ring *gossip_ring(struct gossip *g);
const struct ring *gossip_ring_const(const struct gossip *g);

/* gossip_config_get -- the configuration g was made with. */
const struct gossip_config *gossip_config_get(const struct gossip *g);

/* --- reading ------------------------------------------------------------- */

/* gossip_member_count -- members in the table, us included (>= 1). */
size_t gossip_member_count(const struct gossip *g);

/* gossip_member_at -- member i's entry (0 is us); strings as described at
 * struct gossip_member. GOSSIP_ENOTFOUND when i >= count. */
int gossip_member_at(const struct gossip *g, size_t i,
                     struct gossip_member *out);

/* gossip_member_find -- the index of the member with this id: 0 and *i
 * set, or GOSSIP_ENOTFOUND. */
int gossip_member_find(const struct gossip *g, uint64_t id, size_t *i);

/* gossip_member_find_name -- the member named name that is not marked
 * down (at most one exists); if every holder of the name is marked down,
 * the one with the greatest (generation, id). 0 and *i set, or
 * GOSSIP_ENOTFOUND (also for NULL). Use it to map ring names to members. */
int gossip_member_find_name(const struct gossip *g, const char *name,
                            size_t *i);

/* gossip_member_health -- the detector's view of member i at now_ms.
 * GOSSIP_ENOTFOUND when i >= count. */
int gossip_member_health(const struct gossip *g, size_t i, uint64_t now_ms,
                         struct gossip_health *out);

/* gossip_member_phi -- member i's phi at now_ms: 0 for us, HUGE_VAL for a
 * member never heard (or i out of range). */
double gossip_member_phi(const struct gossip *g, size_t i, uint64_t now_ms);

/* gossip_member_alive -- phi below the threshold at now_ms. Always true
 * for us (i = 0), false for i out of range. Status is not consulted: a
 * member marked down whose heartbeats still advance is alive. */
bool gossip_member_alive(const struct gossip *g, size_t i, uint64_t now_ms);

/* gossip_equal -- the same gossiped content: the same ids with the same
 * entries (name, address, http, status, generation, version), and equal rings
 * (ring_equal). Who is "self", detector state and member order are not
 * compared. */
bool gossip_equal(const struct gossip *a, const struct gossip *b);

/* gossip_validate -- check every invariant: member 0 is us, not marked
 * down; ids non-zero and distinct; names and addresses valid and distinct
 * among members not marked down; http addresses "" or valid; counters below
 * GOSSIP_MAX_COUNTER; the lookup indices consistent; the ring valid. 0,
 * GOSSIP_ECORRUPT or GOSSIP_ENOMEM (ring_validate allocates). */
int gossip_validate(const struct gossip *g);

/* --- our own entry ------------------------------------------------------- */

/* gossip_tick -- one heartbeat: our version + 1. now_ms is when (kept as
 * our own last-heard time). At GOSSIP_MAX_COUNTER - 1 the version rolls
 * over into generation + 1, version 0 (after 2^62 ticks: never). */
void gossip_tick(struct gossip *g, uint64_t now_ms);

/* gossip_self_set_status -- announce a new status (joining, valid,
 * leaving, exiting) with version + 1. GOSSIP_EINVAL for MEMBER_DOWN or a
 * value out of range. */
int gossip_self_set_status(struct gossip *g, enum member_status status);

/* gossip_self_set_http -- announce our HTTP address ("host:port", valid
 * as a ring name; "" withdraws it) with version + 1; a no-op when it is
 * already ours. http is copied and may not point into g. GOSSIP_EINVAL
 * (NULL or invalid), GOSSIP_ENOMEM (nothing changed). */
int gossip_self_set_http(struct gossip *g, const char *http);

/* --- changing other members ---------------------------------------------- */

/* gossip_member_mark_down -- an operator's verdict that member i is gone:
 * status down at version + 1 (the one write a node makes to another's
 * entry; see STATUS above). Its name and address may then be taken by
 * another id. GOSSIP_EINVAL for i = 0 (us), GOSSIP_ENOTFOUND for i out of
 * range; marking a member already down is a no-op. */
int gossip_member_mark_down(struct gossip *g, size_t i);

/* gossip_member_set -- insert or overwrite one member's entry as it is,
 * e.g. when restoring the table a node persisted (it mirrors
 * ring_partition_set). No order check: the entry replaces what the table
 * had for m->id. The detector is not touched: a member restored this way
 * is not alive until its entry advances by gossip. Strings are copied
 * (they may not point into g itself).
 * GOSSIP_EINVAL (our own id, bad entry, or name/address held by another
 * member not marked down), GOSSIP_ETOOBIG, GOSSIP_ENOMEM; the table is
 * unchanged on error. */
int gossip_member_set(struct gossip *g, const struct gossip_member *m);

/* --- merge --------------------------------------------------------------- */

struct gossip_merge_result {
	bool changed;       /* the member table changed (persist, gossip on) */
	bool ring_changed;  /* the ring changed (persist, gossip on) */
	bool self_bumped;   /* we moved our entry above a claim about us;
	                       changed is set too (persist our generation) */
	uint32_t learned;   /* members new to the table */
	uint32_t advanced;  /* heartbeat arrivals recorded at now_ms: members
	                       whose (generation, version) advanced, not
	                       marked down */
	size_t bad;         /* on error, the index in in[] at fault, or
	                       GOSSIP_NONE (ring, size, memory) */
	const char *reason; /* on error, a static text for the log; else NULL */
};

/* gossip_merge -- fold a received state into g.
 *
 * in[0..n) is the sender's member table (any order; strings only read,
 * not kept, and not pointing into g itself), ring its ring or NULL when
 * the message carried none. Per id
 * the greater entry wins (MERGE RULE above); our own entry follows OUR OWN
 * ENTRY above. A member whose (generation, version) advances counts as a
 * heartbeat arrival at now_ms for its detector; a new generation (restart)
 * resets the detector first, and an entry with status down records no
 * arrival (a mark is not a sign of life).
 *
 * Everything is validated before anything changes. Errors, with g (table
 * and ring) unchanged and res->bad/reason telling why:
 *   GOSSIP_ECORRUPT  the input is impossible: id 0 or repeated, invalid
 *                    name or address (http: NULL, or neither "" nor
 *                    valid), status out of range, a counter at or
 *                    above GOSSIP_MAX_COUNTER, two members not marked down
 *                    sharing a name or an address, a claim about us we
 *                    cannot move above, or an invalid ring (ring_validate);
 *   GOSSIP_EINVAL    it conflicts with ours: after the merge two members
 *                    not marked down would share a name or an address (see
 *                    UNIQUENESS), or the ring has another size; NULL args;
 *   GOSSIP_ETOOBIG   n or the merged table above GOSSIP_MAX_MEMBERS, or the
 *                    ring's name table full (ring_merge);
 *   GOSSIP_ENOMEM.
 * res may be NULL. Cost O(n) expected, plus ring_validate and ring_merge
 * (O(Q)). The table allocates nothing when no member is new or renamed
 * (ring_validate allocates, when a ring is passed). */
int gossip_merge(struct gossip *g, const struct gossip_member *in, size_t n,
                 const struct ring *ring, uint64_t now_ms,
                 struct gossip_merge_result *res);

/* --- peer selection (peer.c) --------------------------------------------- */

enum gossip_peer_kind {
	GOSSIP_PEER_LIVE, /* a member the detector holds up */
	GOSSIP_PEER_DOWN, /* a member held down: is it back? */
	GOSSIP_PEER_SEED  /* a seed address (no live member known) */
};

struct gossip_peer {
	enum gossip_peer_kind kind;
	size_t member;    /* its index, or GOSSIP_NONE for a seed */
	const char *addr; /* where to send: the member's address (owned by g,
	                     valid as in gossip_member_at) or seeds[k] */
};

/* gossip_peer_pick -- whom to gossip with this round: one peer, never us.
 *
 * With L members held up and D held down (us excluded), a down member is
 * picked with probability D / (L + 1), at most 1/2 (Cassandra's rule for
 * reaching unreachable members, so a healed node is rediscovered; capped
 * because here it replaces the live pick instead of adding a message);
 * otherwise a live member, uniformly. With no live member, a seed (one of
 * seeds[0..nseeds) not equal to our own address), uniformly; with no such
 * seed either, a down member. All draws come from rng.
 *
 * seeds may be NULL when nseeds is 0 (at most GOSSIP_MAX_MEMBERS); its
 * strings are the caller's. 0 and *out set, GOSSIP_ENOTFOUND when there is
 * nobody to talk to (a one-node cluster), GOSSIP_EINVAL for bad arguments.
 * O(members). */
int gossip_peer_pick(const struct gossip *g, uint64_t now_ms, struct rng *rng,
                     const char *const *seeds, size_t nseeds,
                     struct gossip_peer *out);

#endif
