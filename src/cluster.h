/* cluster.h -- this node's view of the cluster: who the members are, where
 * they listen, and which of them hold a key.
 *
 * It joins the pure ring/ library (ownership, preference lists) to the
 * addresses the transport dials. Members are identified in the ring by
 * name; a founding cluster's names are the rpc addresses of its seeds
 * (DESIGN.md, "Forming a cluster"), which is why `name` defaults to the rpc
 * address. The ring is persisted in the store's metadata, so a restarted
 * node resumes with the ring it had rather than recomputing it.
 */
#ifndef RKV_CLUSTER_H
#define RKV_CLUSTER_H

#include "conf.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLUSTER_MAX_MEMBERS 256
#define CLUSTER_MAX_N 16 /* conf's n_val limit */

struct cluster_member {
	char name[CONF_NAME_MAX + 1];
	char addr[CONF_ADDR_MAX + 1]; /* rpc "host:port" */
	bool self;
};

/* One replica a request goes to. */
struct cluster_target {
	unsigned member;   /* index for cluster_member() */
	bool fallback;     /* stands in for a primary held down */
	unsigned primary;  /* fallback only: the member it stands in for */
};

struct cluster;

/* cluster_open -- the members and ring this node starts with: the ring
 * stored in the data directory if there is one; else, when `seeds`
 * lists our own rpc address, the founding ring claimed over the seeds
 * (the same on every founder); else, with no seeds, a one-node ring.
 * self_addr is the bound rpc address. 0, RKV_EINVAL (seeds malformed,
 * stored ring of another ring_size; logged) or RKV_ENOMEM. */
int cluster_open(struct cluster **out, const struct conf *conf,
		 const char *self_addr, struct store *store);

void cluster_free(struct cluster *c);

/* cluster_ring_size -- Q. */
uint32_t cluster_ring_size(const struct cluster *c);

/* cluster_n -- replicas per key: n_val, or fewer when the cluster has
 * fewer members. */
unsigned cluster_n(const struct cluster *c);

/* cluster_preflist -- the replicas of a partition, primaries first in ring
 * order, at most CLUSTER_MAX_N. Returns how many were written. */
size_t cluster_preflist(const struct cluster *c, uint32_t partition,
			struct cluster_target *out);

size_t cluster_member_count(const struct cluster *c);
const struct cluster_member *cluster_member(const struct cluster *c,
					    unsigned i);

/* cluster_ring_json -- GET /ring's and GET /members' bodies, appended to
 * an evbuffer. */
struct evbuffer;
void cluster_ring_json(const struct cluster *c, struct evbuffer *out);
void cluster_members_json(const struct cluster *c, struct evbuffer *out);

#endif
