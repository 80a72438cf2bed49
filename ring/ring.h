/* ring.h -- who owns which partition: ownership, claim, preference lists,
 * rebalance plans and the gossip merge of rings.
 *
 * The hash circle is cut into Q partitions (Q a power of two, hash.h). A
 * ring records, per partition:
 *
 *   owner       the node holding the partition's primary copy;
 *   next_owner  the node it is being transferred to, or RING_NONE;
 *   version     a counter bumped by every change of the entry;
 *   writer      the node that made that change.
 *
 * Nodes are named by strings (their rpc address or configured name). A ring
 * interns every name it meets in a small table and partitions hold indices
 * into it, so a ring of 65536 partitions costs 24 bytes a partition and not
 * a string each. An index means something only within the ring that gave
 * it: two rings may number the same node differently, which is why every
 * function that combines rings (claim, plan, merge, equality) works on names.
 *
 * Life of a cluster, in calls:
 *
 *   founding   ring_new(Q) then ring_claim(empty, seeds) -- every founder
 *              computes the same ring from the same seed list;
 *   placement  ring_partition_of(key) (hash.h) then ring_preflist();
 *   rebalance  ring_claim(ring, members) -> target; ring_plan_new(ring,
 *              target) -> moves; ring_plan_commit() sets next_owner;
 *              ring_flip() hands each partition over when its data has
 *              streamed;
 *   gossip     ring_merge() keeps, per partition, the entry with the highest
 *              (version, writer name).
 *
 * Conventions: functions returning int return 0 or a negative RING_E* code
 * (the same numbers as src/status.h's RKV_E* codes, which ring/ may not
 * include). No function here does I/O, reads a clock, logs or uses global
 * state; every struct ring is independent, and a ring that is only read may
 * be shared between threads.
 */
#ifndef RKV_RING_RING_H
#define RKV_RING_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

/* Status codes; the values are src/status.h's RKV_E* values. */
#define RING_OK        0
#define RING_ENOTFOUND (-1)  /* RKV_ENOTFOUND: no such node */
#define RING_EINVAL    (-2)  /* RKV_EINVAL: bad argument */
#define RING_ETOOBIG   (-3)  /* RKV_ETOOBIG: over RING_MAX_NODES names */
#define RING_ENOMEM    (-4)  /* RKV_ENOMEM */
#define RING_ECORRUPT  (-6)  /* RKV_ECORRUPT: ring_validate() failed */
#define RING_ESTALE    (-13) /* RKV_ESTALE: the ring changed since the plan */

/* Limits. A name is 1..RING_MAX_NAME bytes, none of them a control
 * character or a space (ring_name_valid). */
#define RING_MAX_NAME  255
#define RING_MAX_NODES 4096u /* names interned in one ring */
#define RING_MAX_N_VAL 32u   /* n_val / target_n accepted by claim, preflist */

/* "No node": an unset next_owner, the owner of an unclaimed partition. */
#define RING_NONE UINT32_MAX

struct ring;

/* One partition, by name. The strings belong to the ring they came from
 * and stay valid until it is freed or compacted (ring_free, ring_compact);
 * interning more names does not move them. */
struct ring_entry {
	const char *owner;      /* NULL only in an unclaimed ring */
	const char *next_owner; /* NULL when no transfer is pending */
	uint64_t version;       /* 0 only in an unclaimed ring */
	const char *writer;     /* NULL only when version == 0 */
};

/* --- life cycle ---------------------------------------------------------- */

/* ring_new -- an unclaimed ring of ring_size partitions: no names, every
 * partition without owner at version 0. ring_size must satisfy
 * ring_size_valid(), else RING_EINVAL. On success *out is a new ring the
 * caller frees with ring_free(); on error *out is untouched. */
int ring_new(uint32_t ring_size, struct ring **out);

/* ring_free -- release a ring and its names; NULL is a no-op. Every string
 * and index obtained from the ring dies with it. */
void ring_free(struct ring *r);

/* ring_dup -- a deep copy with the same name table (indices stay valid
 * across the copy). NULL on ENOMEM; the caller frees it with ring_free(). */
struct ring *ring_dup(const struct ring *r);

/* ring_validate -- check every invariant: size valid; names valid, distinct,
 * their lookup index consistent; either every partition is unclaimed
 * (owner RING_NONE, no next owner, version 0, no writer) or every partition
 * is claimed (owner and writer are known indices, version >= 1); a next
 * owner is a known index different from the owner; the cached per-node
 * counts match. 0, RING_ECORRUPT, or RING_ENOMEM (it allocates two
 * counters per name for the check). */
int ring_validate(const struct ring *r);

/* ring_compact -- forget names that no partition references (as owner,
 * next owner or writer) and renumber the rest, keeping their order. Merges
 * learn names and never drop them; a long-lived ring calls this after
 * membership changes. Every index and string obtained from r before the
 * call is invalid afterwards. 0 or RING_ENOMEM (r unchanged). */
int ring_compact(struct ring *r);

/* --- reading ------------------------------------------------------------- */

/* ring_partition_count -- Q. */
uint32_t ring_partition_count(const struct ring *r);

/* ring_claimed -- false for a ring fresh from ring_new (or one decoded with
 * no owners), true once it has owners. */
bool ring_claimed(const struct ring *r);

/* ring_node_count -- how many names the ring has interned; indices are
 * 0 .. count-1. Includes names that own nothing (past writers, nodes that
 * left) until ring_compact(). */
uint32_t ring_node_count(const struct ring *r);

/* ring_node_name -- the name of index node, or NULL when node is RING_NONE
 * or out of range. The string belongs to the ring (see struct ring_entry). */
const char *ring_node_name(const struct ring *r, uint32_t node);

/* ring_node_find -- the index of a name: 0 and *node set, or
 * RING_ENOTFOUND. name may be NULL (then RING_ENOTFOUND). */
int ring_node_find(const struct ring *r, const char *name, uint32_t *node);

/* Per-partition fields by index; partition must be < Q (out of range gives
 * RING_NONE / 0). ring_future_owner() is the owner the partition is heading
 * to: next_owner when a transfer is pending, else owner. */
uint32_t ring_owner(const struct ring *r, uint32_t partition);
uint32_t ring_next_owner(const struct ring *r, uint32_t partition);
uint32_t ring_future_owner(const struct ring *r, uint32_t partition);
uint32_t ring_writer(const struct ring *r, uint32_t partition);
uint64_t ring_version(const struct ring *r, uint32_t partition);

/* ring_partition_get -- one partition by name; RING_EINVAL when partition
 * is out of range. The strings belong to the ring (see struct ring_entry). */
int ring_partition_get(const struct ring *r, uint32_t partition,
                       struct ring_entry *e);

/* ring_owned -- how many partitions node owns now (future = false) or will
 * own once pending transfers are done (future = true); 0 for an unknown
 * index. O(1): the ring keeps these counts. */
uint32_t ring_owned(const struct ring *r, uint32_t node, bool future);

/* ring_pending -- how many partitions have a transfer pending. */
uint32_t ring_pending(const struct ring *r);

/* ring_name_valid -- true when name is 1..RING_MAX_NAME bytes, none of
 * them below 0x21 (controls, space) or 0x7f. NULL is not valid. */
bool ring_name_valid(const char *name);

/* --- writing ------------------------------------------------------------- */

/* ring_partition_set -- overwrite one partition, e.g. while decoding a
 * stored or gossiped ring. owner and writer are names (NULL for an
 * unclaimed partition, then version must be 0 and next_owner NULL);
 * next_owner is a name different from owner, or NULL. Names are copied.
 * RING_EINVAL (bad partition, name or combination), RING_ETOOBIG,
 * RING_ENOMEM; on error the partition is unchanged (a name may have been
 * interned). The ring satisfies ring_validate() again only once every
 * partition is set consistently. */
int ring_partition_set(struct ring *r, uint32_t partition, const char *owner,
                       const char *next_owner, uint64_t version,
                       const char *writer);

/* ring_merge -- gossip: fold src into dst. Per partition the entry with the
 * greater (version, writer name, owner name, next owner name) wins -- a
 * total order, so merging is commutative, associative and idempotent (by
 * ring_equal) whatever the order rings are met in. Both rings must have the
 * same size (RING_EINVAL). *changed (may be NULL) tells whether dst's
 * content changed. RING_ETOOBIG / RING_ENOMEM leave dst's partitions
 * unchanged (it may have learned names). src is only read. */
int ring_merge(struct ring *dst, const struct ring *src, bool *changed);

/* ring_equal -- same size and, per partition, the same owner, next owner,
 * version and writer by name (name tables may differ). */
bool ring_equal(const struct ring *a, const struct ring *b);

/* ring_digest -- a 64-bit XXH3 fingerprint of the content ring_equal()
 * compares: equal rings have equal digests on every node, so gossip can
 * skip sending a ring the peer already has. */
uint64_t ring_digest(const struct ring *r);

/* --- claim (claim.c) ----------------------------------------------------- */

/* ring_claim -- the ownership a member set should have.
 *
 * members: nmembers distinct valid names (1 <= nmembers <= RING_MAX_NODES),
 * in any order -- the result depends on the set, never on its order.
 * target_n (1..RING_MAX_N_VAL, normally n_val) is the spacing claim tries
 * to keep: no node owning two partitions fewer than target_n apart, so
 * preference lists are distinct nodes close to the key.
 *
 * Every member gets floor(Q/S) or ceil(Q/S) partitions (S = nmembers).
 *
 * When cur is unclaimed the result is the founding ring: every partition
 * at version 1 written by its owner, names interned in sorted order, the
 * same bytes on every node given the same members.
 *
 * When cur is claimed, the result is the ownership to move to, computed
 * from where cur is heading (its future owners): partitions of non-members
 * move, and otherwise only partitions of over-full members move to
 * under-full ones, so the number moved is the least balance allows, plus
 * at most Q/25 spent on keeping the spacing (claim.c). The result has cur's
 * names (plus new members), next owners cleared, owners set to the target and
 * cur's versions: it is input for ring_plan_new() and for display, not a ring
 * to install or gossip.
 *
 * Time O(Q * S * target_n) at worst; milliseconds for Q = 65536 and one
 * node joining or leaving. On success *out is a new ring (ring_free).
 * RING_EINVAL (bad argument, duplicate member), RING_ETOOBIG (members plus
 * cur's names exceed RING_MAX_NODES: ring_compact cur first), RING_ENOMEM;
 * *out untouched on error. cur and members are only read. */
int ring_claim(const struct ring *cur, const char *const *members,
               size_t nmembers, unsigned target_n, struct ring **out);

/* ring_spacing_violations -- how many partitions p have, among the next
 * target_n - 1 partitions after p (wrapping), one with the same future
 * owner. 0 means every run of target_n consecutive partitions has distinct
 * owners (impossible when fewer than target_n nodes own partitions). */
uint32_t ring_spacing_violations(const struct ring *r, unsigned target_n);

/* --- preference lists (preflist.c) --------------------------------------- */

/* One replica of a key. */
struct ring_pref {
	uint32_t node;       /* index (in the ring asked) of the node to use */
	uint32_t partition;  /* the partition on the walk where it was found */
	uint32_t stands_for; /* RING_NONE for a primary; for a fallback, the
	                        index of the down primary it replaces (the
	                        node its hint names) */
};

/* ring_preflist -- the replicas of keys in partition, for n_val replicas.
 *
 * The walk visits partition, partition+1, ... (wrapping) and takes the
 * owner of each partition not taken yet: the first n_val distinct owners
 * are the primaries. A primary whose name is in down[0..ndown) is replaced
 * by the next distinct owner further on the walk that is not down (a
 * fallback, with stands_for naming the primary). out[] lists the replicas
 * in walk order of the primaries, each fallback in the place of the primary
 * it stands for; primaries that are down and find no fallback are left
 * out, as is everything when fewer than n_val nodes own partitions, so
 * *nout <= n_val.
 *
 * down may be NULL when ndown is 0; names not in the ring are ignored. out
 * has room for n_val entries. RING_EINVAL: unclaimed ring, partition out of
 * range, n_val 0 or above RING_MAX_N_VAL. */
int ring_preflist(const struct ring *r, uint32_t partition, unsigned n_val,
                  const char *const *down, size_t ndown, struct ring_pref *out,
                  size_t *nout);

/* ring_preflist_future -- the primaries partition will have once pending
 * transfers are done (walking future owners), no fallbacks. A coordinator
 * also sends writes to the nodes in this list that are not in the current
 * one, so a node gaining a replica misses no write during a rebalance.
 * Arguments and errors as ring_preflist(). */
int ring_preflist_future(const struct ring *r, uint32_t partition,
                         unsigned n_val, struct ring_pref *out, size_t *nout);

/* --- plans (plan.c) ------------------------------------------------------ */

/* One transfer. */
struct ring_move {
	uint32_t partition;
	const char *from; /* the owner now: the node that streams the data */
	const char *to;   /* the owner to be; equal to from when the move
	                     cancels a pending transfer */
	uint64_t base_version; /* the partition's version the plan saw */
};

/* A plan: moves sorted by partition. The strings belong to the plan. */
struct ring_plan {
	size_t nmoves;
	struct ring_move *moves;
	/* private */
	size_t nnames;
	char **names;
};

/* ring_plan_new -- the moves that take cur to target (normally
 * ring_claim(cur, ...)): one per partition whose target owner differs from
 * the owner cur is heading to. Both rings claimed and of one size, else
 * RING_EINVAL; RING_ENOMEM. On success *out is a new plan (ring_plan_free),
 * possibly with no moves; it copies what it keeps from both rings. */
int ring_plan_new(const struct ring *cur, const struct ring *target,
                  struct ring_plan **out);

/* ring_plan_free -- release a plan; NULL is a no-op. */
void ring_plan_free(struct ring_plan *plan);

/* ring_plan_commit -- start a plan on r: for each move, next_owner = to
 * (cleared when to is the owner), version + 1, writer = writer. All or
 * nothing: RING_ESTALE when any moved partition changed since the plan was
 * made (its version or owner differs), RING_EINVAL (bad writer name, size
 * mismatch), RING_ETOOBIG, RING_ENOMEM -- r's partitions unchanged. */
int ring_plan_commit(struct ring *r, const struct ring_plan *plan,
                     const char *writer);

/* ring_move_targets -- what a pending transfer must send, and to whom.
 * A node holds the keys of every partition p whose preference list
 * (n_val primaries, ring_preflist) takes it. When partition moves from its
 * owner X to its next owner, the lists of the partitions whose walks
 * reach it change: most gain the next owner in X's place, but where the
 * next owner is already on the list the walk goes one owner further and
 * gains that one instead (four nodes becoming three with n_val 3: every
 * node then holds everything). X holds those keys, so X sends them: for
 * each p whose walk reaches partition and whose list now takes X, one
 * pair (ranges[i] = p, targets[i] = a node index of r) per node in p's
 * future list (ring_preflist_future) that its list now lacks. Pairs are
 * written nearest p first, *nout of them; ranges and targets have room
 * for Q * n_val entries. Every node a list gains is some pending
 * transfer's pair (two transfers may both name it). RING_EINVAL:
 * unclaimed ring, partition out of range or without a pending transfer,
 * bad n_val. */
int ring_move_targets(const struct ring *r, uint32_t partition, unsigned n_val,
                      uint32_t *ranges, uint32_t *targets, size_t *nout);

/* ring_flip -- the transfer of partition is done: owner = next_owner,
 * next_owner = none, version + 1, writer = writer (the node doing it,
 * normally the old owner). RING_EINVAL when no transfer is pending or an
 * argument is bad; RING_ETOOBIG / RING_ENOMEM leave r unchanged. */
int ring_flip(struct ring *r, uint32_t partition, const char *writer);

#endif
