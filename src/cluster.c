/* cluster.c -- members, addresses and the ring of this node (cluster.h).
 *
 * Membership is static for now: the founding members are the seeds, and
 * they are named by their rpc addresses, so a name is also where to dial.
 * Every founder runs the same claim over the same (sorted) seed list and
 * gets the same ring, which is what lets `ringkvd --seeds A,B,C` on A, B
 * and C start a cluster that owns the ring at once, with no coordinator.
 */
#include "cluster.h"

#include "json.h"
#include "logging.h"
#include "status.h"

#include "ring/ring.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct cluster {
	struct ring *ring;
	unsigned n_val;
	size_t nmembers;
	struct cluster_member members[CLUSTER_MAX_MEMBERS];
};

/* Splits the comma-separated seeds into names (trimmed, non-empty,
 * distinct). Returns how many, or RKV_EINVAL. */
static int cluster_parse_seeds(const char *seeds, char names[][CONF_ADDR_MAX + 1],
			       size_t max)
{
	size_t n = 0;
	const char *p = seeds;

	while (*p != '\0') {
		while (*p == ' ' || *p == ',')
			p++;
		size_t len = strcspn(p, ", ");
		if (len == 0)
			break;
		if (n == max || len > CONF_ADDR_MAX)
			return RKV_EINVAL;
		memcpy(names[n], p, len);
		names[n][len] = '\0';
		if (!ring_name_valid(names[n]))
			return RKV_EINVAL;
		for (size_t i = 0; i < n; i++)
			if (strcmp(names[i], names[n]) == 0)
				return RKV_EINVAL;
		n++;
		p += len;
	}
	return (int)n;
}

/* The member table follows the ring's name table, so a ring node index is
 * also a member index. */
static int cluster_load_members(struct cluster *c, const char *self_addr)
{
	uint32_t count = ring_node_count(c->ring);
	if (count > CLUSTER_MAX_MEMBERS)
		return RKV_EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		struct cluster_member *m = &c->members[i];
		const char *name = ring_node_name(c->ring, i);
		snprintf(m->name, sizeof(m->name), "%s", name);
		snprintf(m->addr, sizeof(m->addr), "%s", name);
		m->self = strcmp(name, self_addr) == 0;
	}
	c->nmembers = count;
	return 0;
}

static int cluster_found(struct cluster *c, const struct conf *conf,
			 const char *self_addr)
{
	static char seeds[CLUSTER_MAX_MEMBERS][CONF_ADDR_MAX + 1];
	const char *names[CLUSTER_MAX_MEMBERS];
	struct ring *empty = NULL;
	int n = cluster_parse_seeds(conf->seeds, seeds, CLUSTER_MAX_MEMBERS);
	bool founder = false;
	int rc;

	if (n < 0) {
		log_error("seeds '%s': expected distinct comma-separated "
			  "host:port addresses", conf->seeds);
		return RKV_EINVAL;
	}
	for (int i = 0; i < n; i++) {
		names[i] = seeds[i];
		founder |= strcmp(seeds[i], self_addr) == 0;
	}
	if (n == 0) {
		names[0] = self_addr; /* no seeds: a one-node cluster */
		n = 1;
		founder = true;
	}
	if (!founder) {
		log_error("seeds do not include this node's rpc address %s: "
			  "joining an existing cluster needs gossip membership, "
			  "which this build does not have", self_addr);
		return RKV_EINVAL;
	}
	rc = ring_new((uint32_t)conf->ring_size, &empty);
	if (rc == 0)
		rc = ring_claim(empty, names, (size_t)n, (unsigned)conf->n_val,
				&c->ring);
	ring_free(empty);
	return rc;
}

int cluster_open(struct cluster **out, const struct conf *conf,
		 const char *self_addr, struct store *store)
{
	struct cluster *c = calloc(1, sizeof(*c));
	int rc;
	(void)store;

	if (c == NULL)
		return RKV_ENOMEM;
	c->n_val = (unsigned)conf->n_val;
	rc = cluster_found(c, conf, self_addr);
	if (rc == 0)
		rc = cluster_load_members(c, self_addr);
	if (rc != 0) {
		cluster_free(c);
		return rc;
	}
	log_info("cluster: %zu member(s), ring of %u partitions, n_val %u",
		 c->nmembers, ring_partition_count(c->ring), c->n_val);
	*out = c;
	return 0;
}

void cluster_free(struct cluster *c)
{
	if (c == NULL)
		return;
	ring_free(c->ring);
	free(c);
}

uint32_t cluster_ring_size(const struct cluster *c)
{
	return ring_partition_count(c->ring);
}

unsigned cluster_n(const struct cluster *c)
{
	return c->nmembers < c->n_val ? (unsigned)c->nmembers : c->n_val;
}

size_t cluster_preflist(const struct cluster *c, uint32_t partition,
			struct cluster_target *out)
{
	struct ring_pref pref[CLUSTER_MAX_N];
	size_t n = 0;

	if (ring_preflist(c->ring, partition, cluster_n(c), NULL, 0, pref, &n) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		out[i].member = pref[i].node;
		out[i].fallback = pref[i].stands_for != RING_NONE;
		out[i].primary = out[i].fallback ? pref[i].stands_for : pref[i].node;
	}
	return n;
}

size_t cluster_member_count(const struct cluster *c)
{
	return c->nmembers;
}

const struct cluster_member *cluster_member(const struct cluster *c, unsigned i)
{
	return i < c->nmembers ? &c->members[i] : NULL;
}

void cluster_ring_json(const struct cluster *c, struct evbuffer *out)
{
	uint32_t q = ring_partition_count(c->ring);

	evbuffer_add_printf(out, "{\"ring_size\":%u,\"n_val\":%u,\"partitions\":[",
			    q, c->n_val);
	for (uint32_t p = 0; p < q; p++) {
		struct ring_entry e;
		ring_partition_get(c->ring, p, &e);
		evbuffer_add_printf(out, "%s{\"id\":%u,\"owner\":", p ? "," : "", p);
		json_add_string(out, e.owner);
		evbuffer_add_printf(out, ",\"next_owner\":");
		json_add_string(out, e.next_owner);
		evbuffer_add_printf(out, ",\"version\":%" PRIu64 "}", e.version);
	}
	evbuffer_add_printf(out, "]}\n");
}

void cluster_members_json(const struct cluster *c, struct evbuffer *out)
{
	evbuffer_add_printf(out, "{\"members\":[");
	for (size_t i = 0; i < c->nmembers; i++) {
		const struct cluster_member *m = &c->members[i];
		evbuffer_add_printf(out, "%s{\"name\":", i ? "," : "");
		json_add_string(out, m->name);
		evbuffer_add_printf(out, ",\"addr\":");
		json_add_string(out, m->addr);
		evbuffer_add_printf(out,
				    ",\"status\":\"valid\",\"up\":true,\"self\":%s,"
				    "\"partitions\":%u}",
				    m->self ? "true" : "false",
				    ring_owned(c->ring, (uint32_t)i, false));
	}
	evbuffer_add_printf(out, "]}\n");
}
