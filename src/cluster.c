/* cluster.c -- the node's live view of the cluster (cluster.h).
 *
 * Three things live here, on top of the pure gossip/ state:
 *
 *   the view     an append-only array of entries, one per name, found by
 *                a small hash index, refreshed after every change of the
 *                gossip state: each gossip member's name and each name
 *                owning partitions gets an entry (new names are appended,
 *                so indices never move), then every entry is re-pointed
 *                at the gossip member holding its name now (a replacement
 *                may take a name marked down) and at its address. by_ring
 *                maps ring node indices to entries, so a preference list
 *                (ring indices) becomes member indices in O(N);
 *
 *   start-up     resume the stored state, or found / join from the seeds
 *                (cluster.h), always under a generation higher than any
 *                this node had before;
 *
 *   persistence  the table and the ring go to the store's metadata when
 *                they changed. "Changed" is judged by two digests: the
 *                ring's (ring_digest) and one over each member's id, name,
 *                addresses, status and generation -- not its version, which
 *                every heartbeat bumps: writing a synced transaction per
 *                round for heartbeats would buy nothing, since a restarted
 *                node relearns versions from the first gossip it gets.
 *
 * Why a view and not the gossip table itself: the ring of a founding
 * cluster names nodes the table has not heard of yet (the other founders),
 * and they must be dialled from the first request on; and gossip indices
 * follow ids while the ring follows names.
 */
#include "cluster.h"

#include "clock.h"
#include "json.h"
#include "logging.h"
#include "status.h"

#include "ring/ring.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#define CLUSTER_NONE      UINT32_MAX /* no entry */
#define CLUSTER_LN10      2.302585092994045684
#define CLUSTER_MAX_SEEDS (CONF_SEEDS_MAX / 2) /* "a," at the shortest */

struct cluster {
	struct gossip *g;
	struct store *store;
	struct codec *codec;
	struct msg_codec *mc;
	char cluster_name[CONF_NAME_MAX + 1];
	unsigned n_val;
	uint64_t start_ms; /* monotonic_ms() at open */
	uint64_t grace_ms; /* see UP AND DOWN in cluster.h */

	char *seed_text;    /* conf->seeds, cut into the strings of seeds */
	const char **seeds; /* nseeds pointers into seed_text */
	size_t nseeds;

	/* the view */
	struct cluster_member **members; /* nmembers, stable addresses */
	size_t nmembers, cap;
	uint32_t *by_name; /* open addressing: entry index or CLUSTER_NONE */
	uint32_t nbuckets; /* power of two, >= 2 * cap */
	uint32_t *by_ring; /* ring node index -> entry, CLUSTER_NONE */
	uint32_t nby_ring, by_ring_cap;
	unsigned owners;        /* ring nodes owning a partition now */
	unsigned owners_future; /* ... once pending transfers are done */
	uint64_t ring_version;  /* cluster_ring_version */
	bool full_logged;

	/* our state as gossip carries it (cluster_state) */
	struct gossip_member *state;
	size_t state_cap;
	uint8_t *ring_bytes; /* codec_ring_encode of the ring, when fresh */
	size_t ring_len;
	uint64_t ring_digest;
	bool ring_fresh; /* ring_bytes and ring_digest match the ring */

	/* what the store holds */
	bool stored;
	uint64_t stored_table, stored_ring; /* their digests */

	struct cluster_gossip_stats stats;
};

static uint64_t cluster_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- seeds ---------------------------------------------------------------- */

/* Cut the comma-separated seeds into names (trimmed, non-empty, valid,
 * distinct). 0 or RKV_EINVAL / RKV_ENOMEM. */
static int cluster_parse_seeds(struct cluster *c, const char *text)
{
	char *save = NULL, *tok = NULL;

	c->seed_text = strdup(text);
	c->seeds = calloc(CLUSTER_MAX_SEEDS, sizeof(*c->seeds));
	if (c->seed_text == NULL || c->seeds == NULL)
		return RKV_ENOMEM;
	for (tok = strtok_r(c->seed_text, ", ", &save); tok != NULL;
	     tok = strtok_r(NULL, ", ", &save)) {
		if (c->nseeds == CLUSTER_MAX_SEEDS || !ring_name_valid(tok))
			return RKV_EINVAL;
		for (size_t i = 0; i < c->nseeds; i++) {
			if (strcmp(c->seeds[i], tok) == 0)
				return RKV_EINVAL;
		}
		c->seeds[c->nseeds++] = tok;
	}
	return 0;
}

static bool cluster_is_seed(const struct cluster *c, const char *addr)
{
	for (size_t i = 0; i < c->nseeds; i++) {
		if (strcmp(c->seeds[i], addr) == 0)
			return true;
	}
	return false;
}

/* --- the view ------------------------------------------------------------- */

static uint32_t cluster_bucket(const struct cluster *c, const char *name)
{
	return (uint32_t)XXH3_64bits(name, strlen(name)) & (c->nbuckets - 1);
}

static uint32_t cluster_find(const struct cluster *c, const char *name)
{
	if (c->nbuckets == 0)
		return CLUSTER_NONE;
	for (uint32_t b = cluster_bucket(c, name);;
	     b = (b + 1) & (c->nbuckets - 1)) {
		uint32_t i = c->by_name[b];
		if (i == CLUSTER_NONE || strcmp(c->members[i]->name, name) == 0)
			return i;
	}
}

static void cluster_index(struct cluster *c, uint32_t i)
{
	uint32_t b = cluster_bucket(c, c->members[i]->name);

	while (c->by_name[b] != CLUSTER_NONE)
		b = (b + 1) & (c->nbuckets - 1);
	c->by_name[b] = i;
}

/* Room for one more entry: the array and an index at most half full. */
static int cluster_grow(struct cluster *c)
{
	size_t cap = c->cap ? c->cap * 2 : 16;
	uint32_t nb = (uint32_t)cap * 2;
	struct cluster_member **m = NULL;
	uint32_t *idx = NULL;

	if (c->nmembers < c->cap)
		return 0;
	m = realloc(c->members, cap * sizeof(*m));
	if (m == NULL)
		return RKV_ENOMEM;
	c->members = m;
	idx = malloc(nb * sizeof(*idx));
	if (idx == NULL)
		return RKV_ENOMEM;
	for (uint32_t b = 0; b < nb; b++)
		idx[b] = CLUSTER_NONE;
	free(c->by_name);
	c->by_name = idx;
	c->nbuckets = nb;
	c->cap = cap;
	for (uint32_t i = 0; i < c->nmembers; i++)
		cluster_index(c, i);
	return 0;
}

/* The entry named name, appended if new: its index, or CLUSTER_NONE when
 * the view is full or memory ran out (logged once). */
static uint32_t cluster_add(struct cluster *c, const char *name)
{
	uint32_t i = cluster_find(c, name);
	struct cluster_member *m = NULL;

	if (i != CLUSTER_NONE)
		return i;
	if (c->nmembers == CLUSTER_MAX_MEMBERS || cluster_grow(c) != 0 ||
	    (m = calloc(1, sizeof(*m))) == NULL) {
		if (!c->full_logged)
			log_error("cluster: cannot add member %s to the view "
			          "(%zu members, or out of memory)",
			          name, c->nmembers);
		c->full_logged = true;
		return CLUSTER_NONE;
	}
	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(m->addr, sizeof(m->addr), "%s", name);
	m->gossip = GOSSIP_NONE;
	i = (uint32_t)c->nmembers++;
	c->members[i] = m;
	cluster_index(c, i);
	return i;
}

static int cluster_refresh_ring(struct cluster *c)
{
	const struct ring *r = gossip_ring_const(c->g);
	uint32_t n = ring_node_count(r);

	if (n > c->by_ring_cap) {
		uint32_t *m = realloc(c->by_ring, n * sizeof(*m));
		if (m == NULL)
			return RKV_ENOMEM;
		c->by_ring = m;
		c->by_ring_cap = n;
	}
	c->nby_ring = n;
	c->owners = 0;
	c->owners_future = 0;
	for (uint32_t i = 0; i < n; i++) {
		const char *name = ring_node_name(r, i);
		uint32_t now = ring_owned(r, i, false);
		bool owns = now > 0 || ring_owned(r, i, true) > 0;
		c->by_ring[i] =
		    owns ? cluster_add(c, name) : cluster_find(c, name);
		c->owners += now > 0;
		c->owners_future += ring_owned(r, i, true) > 0;
	}
	return 0;
}

/* Bring the view in step with the gossip state (see the top). */
static int cluster_refresh(struct cluster *c)
{
	size_t n = gossip_member_count(c->g);
	struct gossip_member m;

	for (size_t i = 0; i < n; i++) {
		gossip_member_at(c->g, i, &m);
		cluster_add(c, m.name);
	}
	if (cluster_refresh_ring(c) != 0)
		return RKV_ENOMEM;
	for (size_t i = 0; i < c->nmembers; i++) {
		struct cluster_member *e = c->members[i];
		size_t gi = GOSSIP_NONE;
		if (gossip_member_find_name(c->g, e->name, &gi) != 0)
			gi = GOSSIP_NONE;
		e->gossip = gi;
		e->self = gi == 0;
		if (gi != GOSSIP_NONE && gossip_member_at(c->g, gi, &m) == 0)
			snprintf(e->addr, sizeof(e->addr), "%s", m.addr);
	}
	return 0;
}

static bool cluster_up_at(const struct cluster *c,
                          const struct cluster_member *e, uint64_t now)
{
	struct gossip_health h;
	bool grace = now - c->start_ms < c->grace_ms;

	if (e->self)
		return true;
	if (e->gossip == GOSSIP_NONE ||
	    gossip_member_health(c->g, e->gossip, now, &h) != 0 || !h.heard)
		return grace;
	return h.alive;
}

/* --- our state and its persistence ---------------------------------------- */

static int cluster_ring_cache(struct cluster *c)
{
	const struct ring *r = gossip_ring_const(c->g);
	uint8_t *bytes = NULL;
	size_t len = 0;
	int rc = 0;

	if (c->ring_fresh)
		return 0;
	rc = codec_ring_encode(c->codec, r, &bytes, &len);
	if (rc != 0)
		return rc;
	free(c->ring_bytes);
	c->ring_bytes = bytes;
	c->ring_len = len;
	c->ring_digest = ring_digest(r);
	c->ring_fresh = true;
	return 0;
}

int cluster_state(struct cluster *c, struct msg_gossip *out)
{
	size_t n = gossip_member_count(c->g);
	int rc = cluster_ring_cache(c);

	if (rc != 0)
		return rc;
	if (n > c->state_cap) {
		struct gossip_member *s = realloc(c->state, n * sizeof(*s));
		if (s == NULL)
			return RKV_ENOMEM;
		c->state = s;
		c->state_cap = n;
	}
	for (size_t i = 0; i < n; i++)
		gossip_member_at(c->g, i, &c->state[i]);
	memset(out, 0, sizeof(*out));
	snprintf(out->cluster_name, sizeof(out->cluster_name), "%s",
	         c->cluster_name);
	out->ring_size = ring_partition_count(gossip_ring_const(c->g));
	out->members = c->state;
	out->nmembers = n;
	out->ring_digest = c->ring_digest;
	if (ring_claimed(gossip_ring_const(c->g))) {
		out->ring = c->ring_bytes;
		out->ring_len = c->ring_len;
	}
	return 0;
}

/* What persistence compares: every member's entry but its version. */
static uint64_t cluster_table_digest(const struct cluster *c)
{
	uint64_t h = 0;
	struct gossip_member m;

	for (size_t i = 0; i < gossip_member_count(c->g); i++) {
		uint64_t fixed[3];
		gossip_member_at(c->g, i, &m);
		fixed[0] = m.id;
		fixed[1] = m.generation;
		fixed[2] = (uint64_t)m.status;
		h = XXH3_64bits_withSeed(fixed, sizeof(fixed), h);
		h = XXH3_64bits_withSeed(m.name, strlen(m.name) + 1, h);
		h = XXH3_64bits_withSeed(m.addr, strlen(m.addr) + 1, h);
		h = XXH3_64bits_withSeed(m.http, strlen(m.http) + 1, h);
	}
	return h;
}

/* The ring is written before the table: a stored table always has its
 * ring (cluster_load relies on it). */
static int cluster_save(struct cluster *c, bool force)
{
	uint64_t table = cluster_table_digest(c);
	struct msg_gossip st;
	uint8_t *body = NULL;
	size_t len = 0;
	int rc = cluster_state(c, &st);

	if (rc == 0 &&
	    (force || !c->stored || c->ring_digest != c->stored_ring))
		rc = store_meta_put(c->store, CLUSTER_META_RING, c->ring_bytes,
		                    c->ring_len);
	if (rc == 0)
		c->stored_ring = c->ring_digest;
	if (rc != 0 || (!force && c->stored && table == c->stored_table))
		goto out;
	st.ring = NULL;
	st.ring_len = 0;
	rc = msg_encode_gossip_stored(c->mc, &st, &body, &len);
	if (rc == 0)
		rc = store_meta_put(c->store, CLUSTER_META_MEMBERS, body, len);
	if (rc == 0) {
		c->stored_table = table;
		c->stored = true;
	}
out:
	free(body);
	if (rc != 0)
		log_error("cluster: cannot store the member table and ring: %s",
		          rkv_strerror(rc));
	return rc;
}

int cluster_persist(struct cluster *c)
{
	return cluster_save(c, false);
}

/* --- start-up ------------------------------------------------------------- */

/* The stored table, if any: 0 with *found, or an error (logged). */
static int cluster_load_table(struct cluster *c, struct msg_gossip *m,
                              bool *found)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = store_meta_get(c->store, CLUSTER_META_MEMBERS, &buf, &len);

	*found = false;
	if (rc == RKV_ENOTFOUND)
		return 0;
	if (rc == 0)
		rc = msg_decode_gossip_stored(c->mc, buf, len, m);
	free(buf); /* m's ring, unused, would point into it */
	m->ring = NULL;
	m->ring_len = 0;
	if (rc != 0) {
		log_error("cluster: the stored member table cannot be read: %s",
		          rkv_strerror(rc));
		return rc;
	}
	*found = true;
	return 0;
}

static int cluster_load_ring(struct cluster *c, const struct conf *conf,
                             struct ring **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = store_meta_get(c->store, CLUSTER_META_RING, &buf, &len);

	if (rc == RKV_ENOTFOUND)
		rc = RKV_ECORRUPT; /* written before the table, always */
	if (rc == 0)
		rc = codec_ring_decode(c->codec, buf, len, out);
	free(buf);
	if (rc != 0) {
		log_error("cluster: the stored ring cannot be read: %s",
		          rkv_strerror(rc));
		return rc;
	}
	if (ring_partition_count(*out) != conf->ring_size) {
		log_error("cluster: the stored ring has %u partitions, "
		          "ring_size says %" PRIu64 " (it is fixed when the "
		          "cluster is created)",
		          ring_partition_count(*out), conf->ring_size);
		ring_free(*out);
		*out = NULL;
		return RKV_EINVAL;
	}
	return 0;
}

/* Put the stored members other than us into g: not alive until gossip
 * advances them (gossip_member_set), so presumed up for the grace period
 * only (UP AND DOWN in cluster.h). */
static void cluster_restore_members(struct cluster *c,
                                    const struct msg_gossip *m)
{
	for (size_t i = 0; i < m->nmembers; i++) {
		const struct gossip_member *e = &m->members[i];
		int rc = 0;
		if (e->id == store_node_id(c->store))
			continue;
		rc = gossip_member_set(c->g, e);
		if (rc != 0)
			log_warn("cluster: stored member %s (%016" PRIx64
			         ") left out: %s",
			         e->name, e->id, rkv_strerror(rc));
	}
}

/* A fresh node's ring: claimed over the seeds (founder) or over us alone
 * (no seeds), or unclaimed (joining). */
static int cluster_fresh_ring(struct cluster *c, const struct conf *conf,
                              const char *self_addr, struct gossip_member *self,
                              struct ring **out)
{
	struct ring *empty = NULL;
	const char *alone[1] = {self->name};
	bool founder = c->nseeds == 0 || cluster_is_seed(c, self_addr);
	int rc = ring_new((uint32_t)conf->ring_size, &empty);

	if (rc != 0)
		return rc;
	if (!founder) {
		self->status = MEMBER_JOINING;
		*out = empty;
		log_info("cluster: joining through %zu seed(s); owning nothing "
		         "until a plan is committed",
		         c->nseeds);
		return 0;
	}
	if (c->nseeds > 0 && strcmp(self->name, self_addr) != 0) {
		log_error("cluster: a founding member is named by its rpc "
		          "address (the seeds name the founders): name %s "
		          "differs from %s",
		          self->name, self_addr);
		ring_free(empty);
		return RKV_EINVAL;
	}
	self->status = MEMBER_VALID;
	rc = c->nseeds > 0
	         ? ring_claim(empty, c->seeds, c->nseeds, (unsigned)conf->n_val,
	                      out)
	         : ring_claim(empty, alone, 1, (unsigned)conf->n_val, out);
	ring_free(empty);
	if (rc == 0)
		log_info("cluster: founding member of %zu, ring claimed",
		         c->nseeds > 0 ? c->nseeds : 1);
	return rc;
}

static int cluster_start_state(struct cluster *c, const struct conf *conf,
                               const char *self_addr)
{
	struct gossip_config cfg;
	struct gossip_member self = {.id = store_node_id(c->store),
	                             .name =
	                                 conf->name[0] ? conf->name : self_addr,
	                             .addr = self_addr,
	                             .http = "", /* cluster_set_self_http */
	                             .generation = cluster_wall_ms()};
	struct msg_gossip stored;
	struct ring *ring = NULL;
	bool found = false;
	int rc = cluster_load_table(c, &stored, &found);

	if (rc != 0)
		return rc;
	gossip_config_default(&cfg);
	cfg.interval_ms = (uint32_t)conf->gossip_interval_ms;
	cfg.phi_threshold = conf->phi_threshold;
	if (found && strcmp(stored.cluster_name, conf->cluster_name) != 0) {
		log_error("cluster: the data directory belongs to cluster "
		          "\"%s\", not \"%s\"",
		          stored.cluster_name, conf->cluster_name);
		rc = RKV_EINVAL;
		goto out;
	}
	if (found) {
		rc = cluster_load_ring(c, conf, &ring);
		if (rc != 0)
			goto out;
		uint32_t node = RING_NONE;
		bool owns = ring_node_find(ring, self.name, &node) == 0 &&
		            ring_owned(ring, node, true) > 0;
		self.status = owns ? MEMBER_VALID : MEMBER_JOINING;
		for (size_t i = 0; i < stored.nmembers; i++) {
			const struct gossip_member *e = &stored.members[i];
			if (e->id != self.id)
				continue;
			if (e->status != MEMBER_DOWN)
				self.status = e->status;
			if (e->generation + 1 > self.generation)
				self.generation = e->generation + 1;
		}
	} else {
		rc = cluster_fresh_ring(c, conf, self_addr, &self, &ring);
		if (rc != 0)
			goto out;
	}
	if (self.generation >= GOSSIP_MAX_COUNTER) {
		rc = RKV_EINVAL;
		goto out;
	}
	rc = gossip_new(&cfg, &self, ring, &c->g);
	if (rc != 0)
		goto out;
	ring = NULL; /* the gossip state owns it */
	if (found) {
		cluster_restore_members(c, &stored);
		log_info("cluster: resuming with %zu stored member(s), "
		         "generation %" PRIu64,
		         gossip_member_count(c->g), self.generation);
	}
out:
	ring_free(ring);
	if (found)
		msg_clear_gossip(&stored);
	return rc;
}

int cluster_open(struct cluster **out, const struct conf *conf,
                 const char *self_addr, struct store *store,
                 struct codec *codec, struct msg_codec *mc)
{
	struct cluster *c = calloc(1, sizeof(*c));
	struct gossip_member self;
	struct phi_params p;
	int rc = RKV_ENOMEM;

	*out = NULL;
	if (c == NULL)
		return RKV_ENOMEM;
	c->store = store;
	c->codec = codec;
	c->mc = mc;
	c->n_val = (unsigned)conf->n_val;
	snprintf(c->cluster_name, sizeof(c->cluster_name), "%s",
	         conf->cluster_name);
	c->start_ms = monotonic_ms();
	phi_params_default(&p, (uint32_t)conf->gossip_interval_ms);
	c->grace_ms = (uint64_t)(conf->phi_threshold * CLUSTER_LN10 *
	                         (double)p.bootstrap_ms) +
	              1;
	rc = cluster_parse_seeds(c, conf->seeds);
	if (rc == RKV_EINVAL)
		log_error("seeds '%s': expected distinct comma-separated "
		          "host:port addresses",
		          conf->seeds);
	if (rc == 0)
		rc = cluster_start_state(c, conf, self_addr);
	if (rc == 0) {
		gossip_tick(c->g, c->start_ms);
		rc = cluster_refresh(c);
	}
	if (rc == 0)
		rc = cluster_save(c, true);
	if (rc != 0) {
		cluster_free(c);
		return rc;
	}
	gossip_member_at(c->g, 0, &self);
	log_info("cluster: %zu member(s) in view, ring of %u partitions "
	         "(%u owner(s)), n_val %u, we are %s at generation %" PRIu64,
	         c->nmembers, ring_partition_count(gossip_ring_const(c->g)),
	         c->owners, c->n_val, member_status_name(self.status),
	         self.generation);
	*out = c;
	return 0;
}

void cluster_free(struct cluster *c)
{
	if (c == NULL)
		return;
	gossip_free(c->g);
	for (size_t i = 0; i < c->nmembers; i++)
		free(c->members[i]);
	free(c->members);
	free(c->by_name);
	free(c->by_ring);
	free(c->state);
	free(c->ring_bytes);
	free(c->seed_text);
	free(c->seeds);
	free(c);
}

/* --- gossip --------------------------------------------------------------- */

const struct gossip *cluster_gossip(const struct cluster *c)
{
	return c->g;
}

const char *const *cluster_seeds(const struct cluster *c, size_t *n)
{
	*n = c->nseeds;
	return c->seeds;
}

void cluster_tick(struct cluster *c, uint64_t now_ms)
{
	gossip_tick(c->g, now_ms);
}

int cluster_merge(struct cluster *c, const struct gossip_member *in, size_t n,
                  const struct ring *ring, uint64_t now_ms,
                  struct gossip_merge_result *res)
{
	int rc = gossip_merge(c->g, in, n, ring, now_ms, res);

	if (rc != 0) {
		c->stats.rejected++;
		return rc;
	}
	if (res->ring_changed) {
		c->ring_fresh = false;
		c->ring_version++;
	}
	if (!res->changed && !res->ring_changed)
		return 0;
	c->stats.merged_changes++;
	if (cluster_refresh(c) != 0)
		log_error("cluster: out of memory updating the view");
	return 0;
}

struct cluster_gossip_stats *cluster_gossip_counters(struct cluster *c)
{
	return &c->stats;
}

void cluster_gossip_json(const struct cluster *c, struct evbuffer *out)
{
	const struct cluster_gossip_stats *s = &c->stats;

	evbuffer_add_printf(
	    out,
	    "\"gossip\":{\"rounds\":%" PRIu64 ",\"sent\":%" PRIu64
	    ",\"received\":%" PRIu64 ",\"merged_changes\":%" PRIu64
	    ",\"rejected\":%" PRIu64 "}",
	    s->rounds, s->sent, s->received, s->merged_changes, s->rejected);
}

/* --- reading the view ----------------------------------------------------- */

uint32_t cluster_ring_size(const struct cluster *c)
{
	return ring_partition_count(gossip_ring_const(c->g));
}

unsigned cluster_n(const struct cluster *c)
{
	return c->owners < c->n_val ? c->owners : c->n_val;
}

/* The walk of a partition: its first distinct owners in ring order as
 * member indices, at most RING_MAX_N_VAL; the first *nprim are the
 * primaries, the rest the candidates for fallbacks. */
static size_t cluster_walk(const struct cluster *c, uint32_t partition,
                           unsigned *out, size_t *nprim)
{
	struct ring_pref pref[RING_MAX_N_VAL];
	unsigned n_val = cluster_n(c);
	unsigned k = c->owners < RING_MAX_N_VAL ? c->owners : RING_MAX_N_VAL;
	size_t n = 0, m = 0;

	*nprim = 0;
	if (n_val == 0 || k < n_val ||
	    ring_preflist(gossip_ring_const(c->g), partition, k, NULL, 0, pref,
	                  &n) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t e = pref[i].node < c->nby_ring
		                 ? c->by_ring[pref[i].node]
		                 : CLUSTER_NONE;
		if (e == CLUSTER_NONE)
			continue; /* a name the view could not hold */
		out[m++] = e;
		*nprim += i < n_val;
	}
	return m;
}

size_t cluster_preflist(const struct cluster *c, uint32_t partition,
                        struct cluster_target *out)
{
	unsigned walk[RING_MAX_N_VAL];
	size_t nprim = 0;
	size_t n = cluster_walk(c, partition, walk, &nprim);
	size_t next = nprim; /* the next candidate for a fallback */
	uint64_t now = monotonic_ms();

	for (size_t i = 0; i < nprim && i < CLUSTER_MAX_N; i++) {
		unsigned m = walk[i];
		out[i] = (struct cluster_target){.member = m, .primary = m};
		out[i].up = cluster_up_at(c, c->members[m], now);
		while (!out[i].up && next < n) {
			unsigned f = walk[next++];
			if (!cluster_up_at(c, c->members[f], now))
				continue;
			out[i].member = f;
			out[i].fallback = true;
			out[i].up = true;
		}
	}
	return nprim < CLUSTER_MAX_N ? nprim : CLUSTER_MAX_N;
}

int cluster_next_fallback(const struct cluster *c, uint32_t partition,
                          const unsigned *taken, size_t ntaken,
                          unsigned *member)
{
	unsigned walk[RING_MAX_N_VAL];
	size_t nprim = 0;
	size_t n = cluster_walk(c, partition, walk, &nprim);
	uint64_t now = monotonic_ms();

	for (size_t i = nprim; i < n; i++) {
		bool used = false;
		for (size_t j = 0; j < ntaken && !used; j++)
			used = taken[j] == walk[i];
		if (!used && cluster_up_at(c, c->members[walk[i]], now)) {
			*member = walk[i];
			return 0;
		}
	}
	return RKV_ENOTFOUND;
}

bool cluster_is_primary(const struct cluster *c, uint32_t partition,
                        unsigned member)
{
	unsigned walk[RING_MAX_N_VAL];
	size_t nprim = 0;

	cluster_walk(c, partition, walk, &nprim);
	for (size_t i = 0; i < nprim; i++) {
		if (walk[i] == member)
			return true;
	}
	return false;
}

size_t cluster_replicas(const struct cluster *c, uint32_t partition,
                        bool future, unsigned *out)
{
	const struct ring *r = gossip_ring_const(c->g);
	struct ring_pref pref[RING_MAX_N_VAL];
	unsigned owners = future ? c->owners_future : c->owners;
	unsigned n_val = owners < c->n_val ? owners : c->n_val;
	size_t n = 0, m = 0;
	int rc;

	if (n_val == 0)
		return 0;
	rc = future ? ring_preflist_future(r, partition, n_val, pref, &n)
	            : ring_preflist(r, partition, n_val, NULL, 0, pref, &n);
	if (rc != 0)
		return 0;
	for (size_t i = 0; i < n && m < CLUSTER_MAX_N; i++) {
		uint32_t e = pref[i].node < c->nby_ring
		                 ? c->by_ring[pref[i].node]
		                 : CLUSTER_NONE;
		if (e != CLUSTER_NONE)
			out[m++] = e;
	}
	return m;
}

bool cluster_is_replica(const struct cluster *c, uint32_t partition,
                        unsigned member, bool future)
{
	unsigned reps[CLUSTER_MAX_N];
	size_t n = cluster_replicas(c, partition, future, reps);

	for (size_t i = 0; i < n; i++) {
		if (reps[i] == member)
			return true;
	}
	return false;
}

int cluster_member_find(const struct cluster *c, const char *name,
                        unsigned *member)
{
	uint32_t i = cluster_find(c, name);

	if (i == CLUSTER_NONE)
		return RKV_ENOTFOUND;
	*member = i;
	return 0;
}

uint64_t cluster_member_id(const struct cluster *c, unsigned i)
{
	struct gossip_member m;

	if (i >= c->nmembers || c->members[i]->gossip == GOSSIP_NONE ||
	    gossip_member_at(c->g, c->members[i]->gossip, &m) != 0)
		return 0;
	return m.id;
}

size_t cluster_member_count(const struct cluster *c)
{
	return c->nmembers;
}

const struct cluster_member *cluster_member(const struct cluster *c, unsigned i)
{
	return i < c->nmembers ? c->members[i] : NULL;
}

bool cluster_member_up(const struct cluster *c, unsigned i)
{
	return i < c->nmembers &&
	       cluster_up_at(c, c->members[i], monotonic_ms());
}

void cluster_ring_json(const struct cluster *c, struct evbuffer *out)
{
	const struct ring *r = gossip_ring_const(c->g);
	uint32_t q = ring_partition_count(r);

	evbuffer_add_printf(out,
	                    "{\"ring_size\":%u,\"n_val\":%u,\"partitions\":[",
	                    q, c->n_val);
	for (uint32_t p = 0; p < q; p++) {
		struct ring_entry e;
		ring_partition_get(r, p, &e);
		evbuffer_add_printf(out,
		                    "%s{\"id\":%u,\"owner\":", p ? "," : "", p);
		json_add_string(out, e.owner);
		evbuffer_add_printf(out, ",\"next_owner\":");
		json_add_string(out, e.next_owner);
		evbuffer_add_printf(out, ",\"version\":%" PRIu64 "}",
		                    e.version);
	}
	evbuffer_add_printf(out, "]}\n");
}

/* One entry of /members; gossip fields are null for a name the table does
 * not hold yet. */
static void cluster_member_json(const struct cluster *c,
                                const struct cluster_member *e, uint32_t owned,
                                uint64_t now, struct evbuffer *out)
{
	struct gossip_member m;
	struct gossip_health h;

	evbuffer_add_printf(out, "{\"name\":");
	json_add_string(out, e->name);
	evbuffer_add_printf(out, ",\"addr\":");
	json_add_string(out, e->addr);
	if (e->gossip == GOSSIP_NONE ||
	    gossip_member_at(c->g, e->gossip, &m) != 0 ||
	    gossip_member_health(c->g, e->gossip, now, &h) != 0) {
		evbuffer_add_printf(out,
		                    ",\"http\":null,"
		                    "\"node_id\":null,\"status\":\"valid\","
		                    "\"up\":%s,\"generation\":null,"
		                    "\"version\":null,\"phi\":null,"
		                    "\"last_heard_ms_ago\":null",
		                    cluster_up_at(c, e, now) ? "true"
		                                             : "false");
	} else {
		/* json_add_string writes null for NULL: "" is not known. */
		evbuffer_add_printf(out, ",\"http\":");
		json_add_string(out, m.http[0] != '\0' ? m.http : NULL);
		evbuffer_add_printf(out,
		                    ",\"node_id\":\"%016" PRIx64 "\","
		                    "\"status\":\"%s\",\"up\":%s,"
		                    "\"generation\":%" PRIu64
		                    ",\"version\":%" PRIu64 ",\"phi\":",
		                    m.id, member_status_name(m.status),
		                    cluster_up_at(c, e, now) ? "true" : "false",
		                    m.generation, m.version);
		if (isfinite(h.phi))
			evbuffer_add_printf(out, "%.3f", h.phi);
		else
			evbuffer_add_printf(out, "null");
		if (h.heard)
			evbuffer_add_printf(
			    out, ",\"last_heard_ms_ago\":%" PRIu64,
			    now > h.last_heard_ms ? now - h.last_heard_ms : 0);
		else
			evbuffer_add_printf(out, ",\"last_heard_ms_ago\":null");
	}
	evbuffer_add_printf(out, ",\"partitions\":%u,\"self\":%s}", owned,
	                    e->self ? "true" : "false");
}

void cluster_members_json(const struct cluster *c, struct evbuffer *out)
{
	const struct ring *r = gossip_ring_const(c->g);
	uint64_t now = monotonic_ms();
	bool first = true;

	evbuffer_add_printf(out, "{\"members\":[");
	for (size_t i = 0; i < c->nmembers; i++) {
		const struct cluster_member *e = c->members[i];
		uint32_t node = RING_NONE, owned = 0;
		bool future = false;
		if (ring_node_find(r, e->name, &node) == 0) {
			owned = ring_owned(r, node, false);
			future = ring_owned(r, node, true) > 0;
		}
		/* Names kept for stable indices but gone from both the
		 * table and the ring are not members any more. */
		if (e->gossip == GOSSIP_NONE && owned == 0 && !future)
			continue;
		if (!first)
			evbuffer_add_printf(out, ",");
		first = false;
		cluster_member_json(c, e, owned, now, out);
	}
	evbuffer_add_printf(out, "]}\n");
}

/* --- rebalancing ---------------------------------------------------------- */

const struct ring *cluster_ring(const struct cluster *c)
{
	return gossip_ring_const(c->g);
}

const char *cluster_self_name(const struct cluster *c)
{
	return c->members[0]->name;
}

unsigned cluster_n_val(const struct cluster *c)
{
	return c->n_val;
}

uint64_t cluster_ring_version(const struct cluster *c)
{
	return c->ring_version;
}

/* After we changed the ring ourselves: the view, the gossip cache and the
 * store follow, as they do after a merge that changed it. */
static int cluster_ring_changed(struct cluster *c)
{
	c->ring_fresh = false;
	c->ring_version++;
	if (cluster_refresh(c) != 0)
		return RKV_ENOMEM;
	return cluster_save(c, false);
}

int cluster_ring_commit(struct cluster *c, const struct ring_plan *plan,
                        const char *const *handover, size_t nhandover,
                        uint32_t *flipped)
{
	struct ring *r = gossip_ring(c->g);
	uint32_t q = ring_partition_count(r), n = 0;
	int rc = ring_plan_commit(r, plan, cluster_self_name(c));

	if (rc != 0)
		return rc; /* ring/ codes are RKV_ codes by number (ring.h) */
	for (uint32_t p = 0; p < q; p++) {
		const char *owner = ring_node_name(r, ring_owner(r, p));
		if (ring_next_owner(r, p) == RING_NONE)
			continue;
		for (size_t i = 0; i < nhandover; i++) {
			if (strcmp(owner, handover[i]) != 0)
				continue;
			/* Names were interned by the commit: cannot fail. */
			if (ring_flip(r, p, cluster_self_name(c)) == 0)
				n++;
			break;
		}
	}
	if (flipped != NULL)
		*flipped = n;
	log_info("cluster: committed a plan of %zu move(s), %u handed over "
	         "at once",
	         plan->nmoves, n);
	return cluster_ring_changed(c);
}

int cluster_ring_flip(struct cluster *c, uint32_t partition)
{
	int rc = ring_flip(gossip_ring(c->g), partition, cluster_self_name(c));

	if (rc != 0)
		return rc;
	return cluster_ring_changed(c);
}

enum member_status cluster_self_status(const struct cluster *c)
{
	struct gossip_member m;

	gossip_member_at(c->g, 0, &m);
	return m.status;
}

int cluster_set_self_status(struct cluster *c, enum member_status status)
{
	int rc = gossip_self_set_status(c->g, status);

	if (rc != 0)
		return rc;
	log_info("cluster: we are %s now", member_status_name(status));
	return cluster_save(c, false);
}

int cluster_set_self_http(struct cluster *c, const char *http)
{
	int rc = gossip_self_set_http(c->g, http);

	if (rc != 0) {
		log_error("cluster: cannot announce our http address: %s",
		          rkv_strerror(rc));
		return rc; /* gossip/ codes are RKV_ codes by number */
	}
	log_info("cluster: our http address is %s now",
	         http[0] ? http : "unknown");
	return cluster_save(c, false);
}

int cluster_mark_down(struct cluster *c, unsigned member)
{
	const struct cluster_member *e = cluster_member(c, member);
	int rc = 0;

	if (e == NULL)
		return RKV_ENOTFOUND;
	if (e->self)
		return RKV_EINVAL;
	if (e->gossip == GOSSIP_NONE)
		return 0;
	rc = gossip_member_mark_down(c->g, e->gossip);
	if (rc != 0)
		return rc;
	if (cluster_refresh(c) != 0)
		return RKV_ENOMEM;
	return cluster_save(c, false);
}

int cluster_join(struct cluster *c, const char *seed)
{
	struct ring *r = gossip_ring(c->g);
	uint32_t q = ring_partition_count(r);
	int rc = 0;

	if (!ring_name_valid(seed))
		return RKV_EINVAL;
	free(c->seed_text);
	free(c->seeds);
	c->seed_text = NULL;
	c->seeds = NULL;
	c->nseeds = 0;
	rc = cluster_parse_seeds(c, seed);
	if (rc != 0)
		return rc;
	for (uint32_t p = 0; p < q; p++)
		ring_partition_set(r, p, NULL, NULL, 0, NULL);
	if (ring_compact(r) != 0)
		return RKV_ENOMEM;
	rc = gossip_self_set_status(c->g, MEMBER_JOINING);
	if (rc != 0)
		return rc;
	log_info("cluster: joining the cluster of %s; owning nothing until "
	         "a plan is committed",
	         seed);
	return cluster_ring_changed(c);
}
