/* gossip.c -- the member table: entries, lookups, our own entry, merge.
 *
 * THE MERGE IN THREE PHASES. gossip_merge() must leave the table exactly as
 * it was when the received state is refused, and must not half-apply it
 * when memory runs out. So it runs
 *
 *   1. validate  -- read-only. Check each received entry on its own, find
 *                   the slot holding its id (marking the slot with the
 *                   merge's epoch, so a second entry with that id is seen at
 *                   once), and classify it: NEWER (greater than ours: it
 *                   will be applied), NEW (an id we lack), DIFF (its name,
 *                   addresses or status differ from ours). Then check that
 *                   names and addresses stay unique (below).
 *   2. reserve   -- everything that can fail: room for new slots, the
 *                   hash buckets and the strings of new or renamed members,
 *                   and ring_merge() (which leaves the ring's partitions
 *                   unchanged when it fails).
 *   3. apply     -- cannot fail: overwrite entries, link new slots, record
 *                   heartbeat arrivals, move our own entry above a claim.
 *
 * UNIQUENESS IN O(CHANGES). The invariant is that members not marked down
 * have distinct names and addresses, and both the received table and the
 * table after the merge must keep it. Checking every pair would be O(n)
 * hash probes and string compares per merge even when nothing but
 * heartbeats moved -- the common case, a thousand times a round in the
 * simulation. The check is confined to the received entries that are not
 * marked down and whose content differs from ours (DIFF, call them the
 * list L): entries whose content equals ours are consistent with each
 * other because our table is. For each entry e of L,
 *
 *   - no other entry of L may share its name or address (a small hash
 *     table over L);
 *   - for each member h of ours, not marked down, with e's name or address
 *     and another id: if the received table names h with the same content
 *     we hold, the received table holds two such members (impossible:
 *     ECORRUPT); if h stays as it is after the merge (h not received with
 *     a greater, different entry) and e will be applied, the merge would
 *     create the clash (a conflict: EINVAL). A received greater entry for
 *     h that differs is itself in L, so its clash with e, if any, was found
 *     above. Our own entry always stays as it is.
 *
 * In the steady state L is empty and a merge costs, per received entry,
 * one id lookup (usually a hit on the slot after the previous one, since
 * tables list members in much the same order everywhere), three string
 * compares with ours, a counter comparison and a detector update; the
 * characters of a string are checked only when it differs from ours.
 */
#include "gossip_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Per received entry, for one merge. */
struct gossip_scratch {
	uint32_t slot; /* our slot with this id, GOSSIP_NIL when new */
	uint8_t flags; /* SCRATCH_* */
};

#define SCRATCH_NEWER  1u /* greater than our entry: applied */
#define SCRATCH_NEW    2u /* an id we do not hold (NEWER too) */
#define SCRATCH_STATUS 4u /* status differs from ours */
#define SCRATCH_RENAME 8u /* a string (name, address, http) differs */
#define SCRATCH_DIFF   (SCRATCH_STATUS | SCRATCH_RENAME)

/* --- member status ------------------------------------------------------- */

static const char *const status_names[MEMBER_STATUS_COUNT] = {
#define MEMBER_STATUS_NAME(e, name, help) name,
    MEMBER_STATUS_TABLE(MEMBER_STATUS_NAME)
#undef MEMBER_STATUS_NAME
};

const char *member_status_name(enum member_status s)
{
	if ((unsigned)s >= MEMBER_STATUS_COUNT)
		return "?";
	return status_names[s];
}

int member_status_parse(const char *name, enum member_status *out)
{
	if (name == NULL)
		return GOSSIP_EINVAL;
	for (unsigned s = 0; s < MEMBER_STATUS_COUNT; s++) {
		if (strcmp(name, status_names[s]) == 0) {
			*out = (enum member_status)s;
			return 0;
		}
	}
	return GOSSIP_EINVAL;
}

/* --- configuration ------------------------------------------------------- */

void gossip_config_default(struct gossip_config *cfg)
{
	cfg->interval_ms = GOSSIP_DEFAULT_INTERVAL;
	cfg->phi_threshold = GOSSIP_DEFAULT_PHI;
	cfg->window = PHI_DEFAULT_WINDOW;
}

static bool config_valid(const struct gossip_config *cfg)
{
	return cfg->interval_ms >= GOSSIP_MIN_INTERVAL_MS &&
	       cfg->interval_ms <= GOSSIP_MAX_INTERVAL_MS &&
	       cfg->phi_threshold > 0.0 &&
	       cfg->phi_threshold <= GOSSIP_MAX_PHI && cfg->window >= 1 &&
	       cfg->window <= PHI_MAX_WINDOW;
}

/* --- entries ------------------------------------------------------------- */

/* entry_problem_fixed -- why an entry is impossible on its own, or NULL,
 * checking everything but the characters of its strings (which merge
 * checks only for strings that differ from ours). */
static const char *entry_problem_fixed(const struct gossip_member *m)
{
	if (m->id == 0)
		return "member id 0";
	if (m->name == NULL)
		return "invalid member name";
	if (m->addr == NULL)
		return "invalid member address";
	if (m->http == NULL)
		return "invalid member http address";
	if ((unsigned)m->status >= MEMBER_STATUS_COUNT)
		return "member status out of range";
	if (m->generation >= GOSSIP_MAX_COUNTER ||
	    m->version >= GOSSIP_MAX_COUNTER)
		return "member generation or version out of range";
	return NULL;
}

/* entry_problem_strings -- the strings' part. Addresses follow the
 * ring's name rules (GOSSIP_MAX_ADDR is RING_MAX_NAME), so ring_name_valid
 * checks all three; the http address may also be empty (not known yet). */
static const char *entry_problem_strings(const struct gossip_member *m)
{
	if (!ring_name_valid(m->name))
		return "invalid member name";
	if (!ring_name_valid(m->addr))
		return "invalid member address";
	if (m->http[0] != '\0' && !ring_name_valid(m->http))
		return "invalid member http address";
	return NULL;
}

static const char *entry_problem(const struct gossip_member *m)
{
	const char *why = entry_problem_fixed(m);
	return why != NULL ? why : entry_problem_strings(m);
}

static int cmp_u64(uint64_t a, uint64_t b)
{
	return (a > b) - (a < b);
}

/* entry_cmp -- the merge order: generation, version, then (ties no correct
 * cluster makes) status, name, address, http address. */
static int entry_cmp(const struct gossip *g, const struct gossip_member *m,
                     const struct gossip_slot *s)
{
	int c = cmp_u64(m->generation, s->generation);
	if (c == 0)
		c = cmp_u64(m->version, s->version);
	if (c == 0)
		c = ((unsigned)m->status > s->status) -
		    ((unsigned)m->status < s->status);
	if (c == 0)
		c = strcmp(m->name, gossip_slot_name(g, s));
	if (c == 0)
		c = strcmp(m->addr, gossip_slot_addr(g, s));
	if (c == 0)
		c = strcmp(m->http, gossip_slot_http(g, s));
	return c;
}

/* --- the string arena ---------------------------------------------------- */

static uint32_t strs_size(const char *name, const char *addr, const char *http)
{
	return (uint32_t)(strlen(name) + strlen(addr) + strlen(http) + 3);
}

static uint32_t slot_strs_size(const struct gossip *g,
                               const struct gossip_slot *s)
{
	return strs_size(gossip_slot_name(g, s), gossip_slot_addr(g, s),
	                 gossip_slot_http(g, s));
}

/* strs_compact_into -- copy the live strings, in slot order, into buf
 * (room for all of them) and make it the arena. */
static void strs_compact_into(struct gossip *g, char *buf, uint32_t cap)
{
	uint32_t used = 0;
	for (uint32_t i = 0; i < g->count; i++) {
		struct gossip_slot *s = &g->slots[i];
		uint32_t len = slot_strs_size(g, s);
		memcpy(buf + used, g->strs + s->name_off, len);
		s->addr_off = used + (s->addr_off - s->name_off);
		s->http_off = used + (s->http_off - s->name_off);
		s->name_off = used;
		used += len;
	}
	free(g->strs);
	g->strs = buf;
	g->strs_cap = cap;
	g->strs_used = used;
	g->strs_dead = 0;
}

/* strs_reserve -- room for extra more bytes. When at least a third of the
 * arena is garbage it is compacted (into a new buffer), else it grows.
 * The arena is bounded: at most GOSSIP_MAX_MEMBERS live strings of 768
 * bytes, and garbage never above half of what is live plus what is
 * added. On ENOMEM nothing changes. */
static int strs_reserve(struct gossip *g, uint32_t extra)
{
	if (g->strs_used + extra <= g->strs_cap)
		return 0;
	uint32_t live = g->strs_used - g->strs_dead;
	if (g->strs_dead > 0 && g->strs_dead >= g->strs_used / 3) {
		uint32_t cap = 2 * (live + extra);
		char *buf = malloc(cap);
		if (buf == NULL)
			return GOSSIP_ENOMEM;
		strs_compact_into(g, buf, cap);
		return 0;
	}
	uint32_t cap = g->strs_cap ? 2 * g->strs_cap : 256;
	while (cap < g->strs_used + extra)
		cap *= 2;
	char *buf = realloc(g->strs, cap);
	if (buf == NULL)
		return GOSSIP_ENOMEM;
	g->strs = buf;
	g->strs_cap = cap;
	return 0;
}

/* strs_put -- store "name\0addr\0http\0" (room reserved) into slot s.
 * The strings may lie in the arena itself (gossip_self_set_http): they are
 * copied past strs_used, where nothing live is. */
static void strs_put(struct gossip *g, struct gossip_slot *s, const char *name,
                     const char *addr, const char *http)
{
	size_t ln = strlen(name) + 1, la = strlen(addr) + 1;
	size_t lh = strlen(http) + 1;
	s->name_off = g->strs_used;
	s->addr_off = g->strs_used + (uint32_t)ln;
	s->http_off = s->addr_off + (uint32_t)la;
	memcpy(g->strs + s->name_off, name, ln);
	memcpy(g->strs + s->addr_off, addr, la);
	memcpy(g->strs + s->http_off, http, lh);
	g->strs_used += (uint32_t)(ln + la + lh);
}

/* strings_equal -- m's strings are slot s's. */
static bool strings_equal(const struct gossip *g, const struct gossip_slot *s,
                          const struct gossip_member *m)
{
	return strcmp(m->name, gossip_slot_name(g, s)) == 0 &&
	       strcmp(m->addr, gossip_slot_addr(g, s)) == 0 &&
	       strcmp(m->http, gossip_slot_http(g, s)) == 0;
}

static void slot_to_member(const struct gossip *g, const struct gossip_slot *s,
                           struct gossip_member *m)
{
	m->id = s->id;
	m->name = gossip_slot_name(g, s);
	m->addr = gossip_slot_addr(g, s);
	m->http = gossip_slot_http(g, s);
	m->status = (enum member_status)s->status;
	m->generation = s->generation;
	m->version = s->version;
}

/* --- lookup indices ------------------------------------------------------ */

static uint32_t id_bucket(uint32_t nbuckets, uint64_t id)
{
	/* splitmix64's finalizer: ids may be small counters in tests. */
	id = (id ^ (id >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	id = (id ^ (id >> 27)) * UINT64_C(0x94d049bb133111eb);
	id ^= id >> 31;
	return (uint32_t)(id & (nbuckets - 1));
}

static uint32_t str_bucket(uint32_t nbuckets, const char *s)
{
	return (uint32_t)(ring_hash_key(s, strlen(s)) & (nbuckets - 1));
}

static uint32_t slot_find(const struct gossip *g, uint64_t id)
{
	uint32_t i = g->by_id[id_bucket(g->nbuckets, id)];
	while (i != GOSSIP_NIL && g->slots[i].id != id)
		i = g->slots[i].next_id;
	return i;
}

static void link_strings(struct gossip *g, uint32_t i)
{
	struct gossip_slot *s = &g->slots[i];
	uint32_t b = str_bucket(g->nbuckets, gossip_slot_name(g, s));
	s->next_name = g->by_name[b];
	g->by_name[b] = i;
	b = str_bucket(g->nbuckets, gossip_slot_addr(g, s));
	s->next_addr = g->by_addr[b];
	g->by_addr[b] = i;
}

static void link_all(struct gossip *g, uint32_t i)
{
	struct gossip_slot *s = &g->slots[i];
	uint32_t b = id_bucket(g->nbuckets, s->id);
	s->next_id = g->by_id[b];
	g->by_id[b] = i;
	link_strings(g, i);
}

/* chain_remove -- take slot i out of the chain starting at *head, whose
 * links are the uint32_t at byte offset off in each slot. */
static void chain_remove(struct gossip *g, uint32_t *head, size_t off,
                         uint32_t i)
{
	uint32_t *link = head;
	while (*link != i)
		link = (uint32_t *)((char *)&g->slots[*link] + off);
	*link = *(uint32_t *)((char *)&g->slots[i] + off);
}

static void unlink_strings(struct gossip *g, uint32_t i)
{
	struct gossip_slot *s = &g->slots[i];
	chain_remove(
	    g, &g->by_name[str_bucket(g->nbuckets, gossip_slot_name(g, s))],
	    offsetof(struct gossip_slot, next_name), i);
	chain_remove(
	    g, &g->by_addr[str_bucket(g->nbuckets, gossip_slot_addr(g, s))],
	    offsetof(struct gossip_slot, next_addr), i);
}

/* index_rebuild -- new buckets (nbuckets a power of two) for every slot.
 * On ENOMEM the old index stays. */
static int index_rebuild(struct gossip *g, uint32_t nbuckets)
{
	uint32_t *id = malloc(nbuckets * sizeof(*id));
	uint32_t *name = malloc(nbuckets * sizeof(*name));
	uint32_t *addr = malloc(nbuckets * sizeof(*addr));
	if (id == NULL || name == NULL || addr == NULL) {
		free(id);
		free(name);
		free(addr);
		return GOSSIP_ENOMEM;
	}
	for (uint32_t b = 0; b < nbuckets; b++)
		id[b] = name[b] = addr[b] = GOSSIP_NIL;
	free(g->by_id);
	free(g->by_name);
	free(g->by_addr);
	g->by_id = id;
	g->by_name = name;
	g->by_addr = addr;
	g->nbuckets = nbuckets;
	for (uint32_t i = 0; i < g->count; i++)
		link_all(g, i);
	return 0;
}

/* table_reserve -- room for count slots (slots array and buckets). */
static int table_reserve(struct gossip *g, uint32_t count)
{
	if (count > GOSSIP_MAX_MEMBERS)
		return GOSSIP_ETOOBIG;
	if (count > g->cap) {
		uint32_t cap = g->cap ? g->cap : 8;
		while (cap < count)
			cap *= 2;
		if (cap > GOSSIP_MAX_MEMBERS)
			cap = GOSSIP_MAX_MEMBERS;
		struct gossip_slot *s = realloc(g->slots, cap * sizeof(*s));
		if (s == NULL)
			return GOSSIP_ENOMEM;
		g->slots = s;
		g->cap = cap;
	}
	if (g->nbuckets < g->cap) {
		uint32_t nb = 16;
		while (nb < g->cap)
			nb *= 2;
		return index_rebuild(g, nb);
	}
	return 0;
}

/* table_append -- a new slot for m; room for it and its strings
 * reserved. */
static uint32_t table_append(struct gossip *g, const struct gossip_member *m)
{
	uint32_t i = g->count++;
	struct gossip_slot *s = &g->slots[i];
	memset(s, 0, sizeof(*s));
	s->id = m->id;
	s->generation = m->generation;
	s->version = m->version;
	s->status = (uint8_t)m->status;
	strs_put(g, s, m->name, m->addr, m->http);
	phi_init(&s->fd);
	link_all(g, i);
	return i;
}

/* slot_rename -- give slot i new strings (room reserved); the old ones
 * become garbage. */
static void slot_rename(struct gossip *g, uint32_t i,
                        const struct gossip_member *m)
{
	struct gossip_slot *s = &g->slots[i];
	unlink_strings(g, i);
	g->strs_dead += slot_strs_size(g, s);
	strs_put(g, s, m->name, m->addr, m->http);
	link_strings(g, i);
}

/* holder_next -- a member other than id, not marked down, whose name (or
 * address, when by_addr) is key: its slot, or GOSSIP_NIL. Continues the
 * walk after slot `after` (GOSSIP_NIL to start). */
static uint32_t holder_next(const struct gossip *g, const char *key,
                            bool by_addr, uint64_t id, uint32_t after)
{
	uint32_t i;
	if (after == GOSSIP_NIL)
		i = (by_addr ? g->by_addr
		             : g->by_name)[str_bucket(g->nbuckets, key)];
	else
		i = by_addr ? g->slots[after].next_addr
		            : g->slots[after].next_name;
	for (; i != GOSSIP_NIL;
	     i = by_addr ? g->slots[i].next_addr : g->slots[i].next_name) {
		const struct gossip_slot *s = &g->slots[i];
		if (s->id == id || s->status == MEMBER_DOWN)
			continue;
		const char *have =
		    by_addr ? gossip_slot_addr(g, s) : gossip_slot_name(g, s);
		if (strcmp(have, key) == 0)
			return i;
	}
	return GOSSIP_NIL;
}

/* --- life cycle ---------------------------------------------------------- */

int gossip_new(const struct gossip_config *cfg,
               const struct gossip_member *self, struct ring *ring,
               struct gossip **out)
{
	if (cfg == NULL || self == NULL || ring == NULL || out == NULL ||
	    !config_valid(cfg) || entry_problem(self) != NULL ||
	    self->status == MEMBER_DOWN)
		return GOSSIP_EINVAL;
	int rc = GOSSIP_ENOMEM;
	struct gossip *g = calloc(1, sizeof(*g));
	if (g == NULL)
		goto fail;
	g->cfg = *cfg;
	phi_params_default(&g->phi, cfg->interval_ms);
	g->phi.window = cfg->window;
	g->epoch = 1;
	rc = table_reserve(g, 1);
	if (rc == 0)
		rc = strs_reserve(
		    g, strs_size(self->name, self->addr, self->http));
	if (rc != 0)
		goto fail;
	table_append(g, self);
	g->ring = ring;
	*out = g;
	return 0;
fail:
	if (g != NULL) {
		free(g->slots);
		free(g->strs);
		free(g->by_id);
		free(g->by_name);
		free(g->by_addr);
		free(g);
	}
	return rc;
}

void gossip_free(struct gossip *g)
{
	if (g == NULL)
		return;
	for (uint32_t i = 0; i < g->count; i++)
		phi_deinit(&g->slots[i].fd);
	free(g->slots);
	free(g->strs);
	free(g->by_id);
	free(g->by_name);
	free(g->by_addr);
	free(g->scratch);
	ring_free(g->ring);
	free(g);
}

struct ring *gossip_ring(struct gossip *g)
{
	return g->ring;
}

const struct ring *gossip_ring_const(const struct gossip *g)
{
	return g->ring;
}

const struct gossip_config *gossip_config_get(const struct gossip *g)
{
	return &g->cfg;
}

/* --- reading ------------------------------------------------------------- */

size_t gossip_member_count(const struct gossip *g)
{
	return g->count;
}

int gossip_member_at(const struct gossip *g, size_t i,
                     struct gossip_member *out)
{
	if (i >= g->count)
		return GOSSIP_ENOTFOUND;
	slot_to_member(g, &g->slots[i], out);
	return 0;
}

int gossip_member_find(const struct gossip *g, uint64_t id, size_t *i)
{
	uint32_t s = slot_find(g, id);
	if (s == GOSSIP_NIL)
		return GOSSIP_ENOTFOUND;
	*i = s;
	return 0;
}

int gossip_member_find_name(const struct gossip *g, const char *name, size_t *i)
{
	if (name == NULL)
		return GOSSIP_ENOTFOUND;
	uint32_t best = GOSSIP_NIL;
	uint32_t s = g->by_name[str_bucket(g->nbuckets, name)];
	for (; s != GOSSIP_NIL; s = g->slots[s].next_name) {
		const struct gossip_slot *c = &g->slots[s];
		if (strcmp(gossip_slot_name(g, c), name) != 0)
			continue;
		if (c->status != MEMBER_DOWN) {
			best = s;
			break;
		}
		if (best == GOSSIP_NIL ||
		    c->generation > g->slots[best].generation ||
		    (c->generation == g->slots[best].generation &&
		     c->id > g->slots[best].id))
			best = s;
	}
	if (best == GOSSIP_NIL)
		return GOSSIP_ENOTFOUND;
	*i = best;
	return 0;
}

bool gossip_slot_alive(const struct gossip *g, uint32_t i, uint64_t now_ms)
{
	if (i == 0)
		return true;
	return phi_value(&g->slots[i].fd, &g->phi, now_ms) <
	       g->cfg.phi_threshold;
}

int gossip_member_health(const struct gossip *g, size_t i, uint64_t now_ms,
                         struct gossip_health *out)
{
	if (i >= g->count)
		return GOSSIP_ENOTFOUND;
	if (i == 0) {
		out->heard = true;
		out->last_heard_ms = g->self_heard_ms;
		out->samples = 0;
		out->mean_ms = (double)g->cfg.interval_ms;
		out->phi = 0.0;
		out->alive = true;
		return 0;
	}
	const struct phi_detector *fd = &g->slots[i].fd;
	out->heard = fd->heard;
	out->last_heard_ms = fd->last_ms;
	out->samples = fd->count;
	out->mean_ms = phi_mean_ms(fd, &g->phi);
	out->phi = phi_value(fd, &g->phi, now_ms);
	out->alive = out->phi < g->cfg.phi_threshold;
	return 0;
}

double gossip_member_phi(const struct gossip *g, size_t i, uint64_t now_ms)
{
	if (i >= g->count)
		return HUGE_VAL;
	if (i == 0)
		return 0.0;
	return phi_value(&g->slots[i].fd, &g->phi, now_ms);
}

bool gossip_member_alive(const struct gossip *g, size_t i, uint64_t now_ms)
{
	if (i >= g->count)
		return false;
	return gossip_slot_alive(g, (uint32_t)i, now_ms);
}

bool gossip_equal(const struct gossip *a, const struct gossip *b)
{
	if (a->count != b->count)
		return false;
	for (uint32_t i = 0; i < a->count; i++) {
		const struct gossip_slot *x = &a->slots[i];
		uint32_t j = slot_find(b, x->id);
		if (j == GOSSIP_NIL)
			return false;
		const struct gossip_slot *y = &b->slots[j];
		if (x->generation != y->generation ||
		    x->version != y->version || x->status != y->status ||
		    strcmp(gossip_slot_name(a, x), gossip_slot_name(b, y)) !=
		        0 ||
		    strcmp(gossip_slot_addr(a, x), gossip_slot_addr(b, y)) !=
		        0 ||
		    strcmp(gossip_slot_http(a, x), gossip_slot_http(b, y)) != 0)
			return false;
	}
	return ring_equal(a->ring, b->ring);
}

/* chain_check -- every slot sits exactly once in the chain of the bucket
 * its key hashes to (which = 0 id, 1 name, 2 address). */
static bool chain_check(const struct gossip *g, int which)
{
	const uint32_t *heads = which == 0   ? g->by_id
	                        : which == 1 ? g->by_name
	                                     : g->by_addr;
	uint32_t seen = 0;
	for (uint32_t b = 0; b < g->nbuckets; b++) {
		uint32_t steps = 0;
		for (uint32_t i = heads[b]; i != GOSSIP_NIL; steps++) {
			if (i >= g->count || steps > g->count)
				return false;
			const struct gossip_slot *s = &g->slots[i];
			uint32_t want =
			    which == 0   ? id_bucket(g->nbuckets, s->id)
			    : which == 1 ? str_bucket(g->nbuckets,
			                              gossip_slot_name(g, s))
			                 : str_bucket(g->nbuckets,
			                              gossip_slot_addr(g, s));
			if (want != b)
				return false;
			seen++;
			i = which == 0   ? s->next_id
			    : which == 1 ? s->next_name
			                 : s->next_addr;
		}
	}
	return seen == g->count;
}

/* string_after -- whether the string at off lies in the arena, ended by
 * a NUL inside it, and starts right after the one ending at prev (the
 * offset of that NUL + 1), unless prev is NULL. */
static bool string_after(const struct gossip *g, const char **prev,
                         uint32_t off)
{
	if (off >= g->strs_used ||
	    (*prev != NULL && off != (uint32_t)(*prev - g->strs) + 1))
		return false;
	*prev = memchr(g->strs + off, '\0', g->strs_used - off);
	return *prev != NULL;
}

/* slot_strings_ok -- the slot's strings lie in the arena, each ended by a
 * NUL inside it, the address right after the name, the http address
 * right after the address. */
static bool slot_strings_ok(const struct gossip *g, const struct gossip_slot *s)
{
	const char *end = NULL;
	return string_after(g, &end, s->name_off) &&
	       string_after(g, &end, s->addr_off) &&
	       string_after(g, &end, s->http_off);
}

int gossip_validate(const struct gossip *g)
{
	if (g->count < 1 || g->count > GOSSIP_MAX_MEMBERS ||
	    g->count > g->cap || g->nbuckets < g->cap ||
	    (g->nbuckets & (g->nbuckets - 1)) != 0 ||
	    g->strs_used > g->strs_cap || g->strs_dead > g->strs_used ||
	    g->slots[0].status == MEMBER_DOWN || !config_valid(&g->cfg))
		return GOSSIP_ECORRUPT;
	uint64_t live = 0;
	for (uint32_t i = 0; i < g->count; i++) {
		const struct gossip_slot *s = &g->slots[i];
		struct gossip_member m;
		if (!slot_strings_ok(g, s))
			return GOSSIP_ECORRUPT;
		slot_to_member(g, s, &m);
		if (entry_problem(&m) != NULL)
			return GOSSIP_ECORRUPT;
		live += strs_size(m.name, m.addr, m.http);
	}
	if (live + g->strs_dead != g->strs_used)
		return GOSSIP_ECORRUPT;
	for (int which = 0; which < 3; which++)
		if (!chain_check(g, which))
			return GOSSIP_ECORRUPT;
	for (uint32_t i = 0; i < g->count; i++) {
		const struct gossip_slot *s = &g->slots[i];
		if (slot_find(g, s->id) != i)
			return GOSSIP_ECORRUPT; /* an earlier slot has the id */
		if (s->status == MEMBER_DOWN)
			continue;
		if (holder_next(g, gossip_slot_name(g, s), false, s->id,
		                GOSSIP_NIL) != GOSSIP_NIL ||
		    holder_next(g, gossip_slot_addr(g, s), true, s->id,
		                GOSSIP_NIL) != GOSSIP_NIL)
			return GOSSIP_ECORRUPT;
	}
	int rc = ring_validate(g->ring);
	if (rc == RING_ENOMEM)
		return GOSSIP_ENOMEM;
	return rc == 0 ? 0 : GOSSIP_ECORRUPT;
}

/* --- our own entry ------------------------------------------------------- */

/* self_bump -- version + 1, rolling into the next generation at the
 * limit. */
static void self_bump(struct gossip *g)
{
	struct gossip_slot *s = &g->slots[0];
	if (s->version + 1 < GOSSIP_MAX_COUNTER) {
		s->version++;
	} else if (s->generation + 1 < GOSSIP_MAX_COUNTER) {
		s->generation++;
		s->version = 0;
	}
}

void gossip_tick(struct gossip *g, uint64_t now_ms)
{
	self_bump(g);
	g->self_heard_ms = now_ms;
}

int gossip_self_set_status(struct gossip *g, enum member_status status)
{
	if ((unsigned)status >= MEMBER_STATUS_COUNT || status == MEMBER_DOWN)
		return GOSSIP_EINVAL;
	if (g->slots[0].status == status)
		return 0;
	g->slots[0].status = (uint8_t)status;
	self_bump(g);
	return 0;
}

int gossip_self_set_http(struct gossip *g, const char *http)
{
	struct gossip_member self;
	slot_to_member(g, &g->slots[0], &self);
	if (http == NULL || (http[0] != '\0' && !ring_name_valid(http)))
		return GOSSIP_EINVAL;
	if (strcmp(self.http, http) == 0)
		return 0;
	int rc = strs_reserve(g, strs_size(self.name, self.addr, http));
	if (rc != 0)
		return rc;
	/* The reserve may have moved the arena: our strings again. */
	slot_to_member(g, &g->slots[0], &self);
	self.http = http;
	slot_rename(g, 0, &self);
	self_bump(g);
	return 0;
}

/* --- changing other members ---------------------------------------------- */

int gossip_member_mark_down(struct gossip *g, size_t i)
{
	if (i == 0)
		return GOSSIP_EINVAL;
	if (i >= g->count)
		return GOSSIP_ENOTFOUND;
	struct gossip_slot *s = &g->slots[i];
	if (s->status == MEMBER_DOWN)
		return 0;
	if (s->version + 1 >= GOSSIP_MAX_COUNTER)
		return GOSSIP_ETOOBIG;
	s->status = MEMBER_DOWN;
	s->version++;
	return 0;
}

int gossip_member_set(struct gossip *g, const struct gossip_member *m)
{
	if (m == NULL || entry_problem(m) != NULL || m->id == g->slots[0].id)
		return GOSSIP_EINVAL;
	if (m->status != MEMBER_DOWN &&
	    (holder_next(g, m->name, false, m->id, GOSSIP_NIL) != GOSSIP_NIL ||
	     holder_next(g, m->addr, true, m->id, GOSSIP_NIL) != GOSSIP_NIL))
		return GOSSIP_EINVAL;
	uint32_t i = slot_find(g, m->id);
	bool rename = i == GOSSIP_NIL || !strings_equal(g, &g->slots[i], m);
	int rc = 0;
	if (i == GOSSIP_NIL)
		rc = table_reserve(g, g->count + 1);
	if (rc == 0 && rename)
		rc = strs_reserve(g, strs_size(m->name, m->addr, m->http));
	if (rc != 0)
		return rc;
	if (i == GOSSIP_NIL) {
		table_append(g, m);
		return 0;
	}
	struct gossip_slot *s = &g->slots[i];
	if (rename)
		slot_rename(g, i, m);
	s->generation = m->generation;
	s->version = m->version;
	s->status = (uint8_t)m->status;
	return 0;
}

/* --- merge --------------------------------------------------------------- */

/* A set of received entries, keyed by id or by a string, as an open-
 * addressing table of indices + 1 into the received array. */
struct merge_set {
	uint32_t *cell;
	uint32_t mask;
};

/* set_add_id / set_add_str -- insert entry i; false when an entry with the
 * same key is there already. */
static bool set_add_id(struct merge_set *t, const struct gossip_member *in,
                       uint32_t i)
{
	uint32_t c = id_bucket(t->mask + 1, in[i].id);
	for (; t->cell[c] != 0; c = (c + 1) & t->mask)
		if (in[t->cell[c] - 1].id == in[i].id)
			return false;
	t->cell[c] = i + 1;
	return true;
}

static bool set_add_str(struct merge_set *t, const struct gossip_member *in,
                        uint32_t i, bool addr)
{
	const char *key = addr ? in[i].addr : in[i].name;
	uint32_t c = str_bucket(t->mask + 1, key);
	for (; t->cell[c] != 0; c = (c + 1) & t->mask) {
		const struct gossip_member *o = &in[t->cell[c] - 1];
		if (strcmp(addr ? o->addr : o->name, key) == 0)
			return false;
	}
	t->cell[c] = i + 1;
	return true;
}

/* set_init -- room for n keys at most half full; cell is zeroed. */
static int set_init(struct merge_set *t, uint32_t n)
{
	uint32_t size = 16;
	while (size < 2 * n)
		size *= 2;
	t->cell = calloc(size, sizeof(*t->cell));
	t->mask = size - 1;
	return t->cell == NULL ? GOSSIP_ENOMEM : 0;
}

/* The state of one gossip_merge call. */
struct merge {
	struct gossip *g;
	const struct gossip_member *in;
	uint32_t n;
	struct gossip_scratch *sc;
	uint32_t nnew;  /* SCRATCH_NEW entries */
	uint32_t nlist; /* the list L: DIFF and not marked down */
	size_t bad;
	const char *reason;
};

static int merge_refuse(struct merge *m, int rc, size_t bad, const char *reason)
{
	m->bad = bad;
	m->reason = reason;
	return rc;
}

/* merge_classify -- phase 1a: each entry on its own, duplicate ids among
 * the ones we hold, and the SCRATCH_* flags. */
static int merge_classify(struct merge *m)
{
	struct gossip *g = m->g;
	if (++g->epoch == 0) { /* wrapped: no slot may keep an old mark */
		for (uint32_t i = 0; i < g->count; i++)
			g->slots[i].mark = 0;
		g->epoch = 1;
	}
	uint32_t hint = 0;
	for (uint32_t i = 0; i < m->n; i++) {
		const struct gossip_member *e = &m->in[i];
		struct gossip_scratch *sc = &m->sc[i];
		const char *why = entry_problem_fixed(e);
		if (why != NULL)
			return merge_refuse(m, GOSSIP_ECORRUPT, i, why);
		/* Tables list members mostly in the order they were learnt,
		 * which is much the same on every node: try the slot after
		 * the last one found before hashing. */
		if (hint < g->count && g->slots[hint].id == e->id)
			sc->slot = hint;
		else
			sc->slot = slot_find(g, e->id);
		if (sc->slot == GOSSIP_NIL) {
			sc->flags = SCRATCH_NEW | SCRATCH_NEWER | SCRATCH_DIFF;
			m->nnew++;
		} else {
			hint = sc->slot + 1;
			struct gossip_slot *s = &g->slots[sc->slot];
			if (s->mark == g->epoch)
				return merge_refuse(m, GOSSIP_ECORRUPT, i,
				                    "member id repeated");
			s->mark = g->epoch;
			s->in = i;
			sc->flags = 0;
			if (entry_cmp(g, e, s) > 0)
				sc->flags |= SCRATCH_NEWER;
			if ((unsigned)e->status != s->status)
				sc->flags |= SCRATCH_STATUS;
			if (!strings_equal(g, s, e))
				sc->flags |= SCRATCH_RENAME;
		}
		/* Strings equal to ours are valid already. */
		if (sc->flags & (SCRATCH_NEW | SCRATCH_RENAME)) {
			why = entry_problem_strings(e);
			if (why != NULL)
				return merge_refuse(m, GOSSIP_ECORRUPT, i, why);
		}
		if ((sc->flags & SCRATCH_DIFF) && e->status != MEMBER_DOWN)
			m->nlist++;
	}
	return 0;
}

/* merge_new_ids -- phase 1b: duplicate ids among the entries we lack. */
static int merge_new_ids(struct merge *m)
{
	if (m->nnew < 2)
		return 0;
	struct merge_set ids;
	int rc = set_init(&ids, m->nnew);
	if (rc != 0)
		return merge_refuse(m, rc, GOSSIP_NONE, "out of memory");
	for (uint32_t i = 0; i < m->n && rc == 0; i++)
		if ((m->sc[i].flags & SCRATCH_NEW) &&
		    !set_add_id(&ids, m->in, i))
			rc = merge_refuse(m, GOSSIP_ECORRUPT, i,
			                  "member id repeated");
	free(ids.cell);
	return rc;
}

/* merge_clash -- phase 1c for entry i of the list L and one of its keys:
 * the checks against our members explained at the top of the file. */
static int merge_clash(struct merge *m, uint32_t i, bool by_addr)
{
	const struct gossip *g = m->g;
	const struct gossip_member *e = &m->in[i];
	const char *key = by_addr ? e->addr : e->name;
	bool applied = (m->sc[i].flags & SCRATCH_NEWER) && m->sc[i].slot != 0;
	uint32_t h = GOSSIP_NIL;
	while ((h = holder_next(g, key, by_addr, e->id, h)) != GOSSIP_NIL) {
		const struct gossip_slot *s = &g->slots[h];
		bool received = s->mark == g->epoch;
		uint8_t f = received ? m->sc[s->in].flags : 0;
		if (received && !(f & SCRATCH_DIFF))
			return merge_refuse(m, GOSSIP_ECORRUPT, i,
			                    by_addr
			                        ? "two members share an address"
			                        : "two members share a name");
		bool replaced = h != 0 && received && (f & SCRATCH_NEWER);
		if (applied && !replaced)
			return merge_refuse(
			    m, GOSSIP_EINVAL, i,
			    by_addr ? "address held by another live member"
			            : "name held by another live member");
	}
	return 0;
}

/* merge_unique -- phase 1c: names and addresses stay unique. */
static int merge_unique(struct merge *m)
{
	if (m->nlist == 0)
		return 0;
	struct merge_set names, addrs;
	int rc = set_init(&names, m->nlist);
	if (rc != 0)
		return merge_refuse(m, rc, GOSSIP_NONE, "out of memory");
	rc = set_init(&addrs, m->nlist);
	if (rc != 0) {
		free(names.cell);
		return merge_refuse(m, rc, GOSSIP_NONE, "out of memory");
	}
	for (uint32_t i = 0; i < m->n && rc == 0; i++) {
		if (!(m->sc[i].flags & SCRATCH_DIFF) ||
		    m->in[i].status == MEMBER_DOWN)
			continue;
		if (!set_add_str(&names, m->in, i, false))
			rc = merge_refuse(m, GOSSIP_ECORRUPT, i,
			                  "two members share a name");
		else if (!set_add_str(&addrs, m->in, i, true))
			rc = merge_refuse(m, GOSSIP_ECORRUPT, i,
			                  "two members share an address");
	}
	for (uint32_t i = 0; i < m->n && rc == 0; i++) {
		if (!(m->sc[i].flags & SCRATCH_DIFF) ||
		    m->in[i].status == MEMBER_DOWN)
			continue;
		rc = merge_clash(m, i, false);
		if (rc == 0)
			rc = merge_clash(m, i, true);
	}
	free(names.cell);
	free(addrs.cell);
	return rc;
}

/* merge_self_claim -- what a received entry about us asks of our own: 0
 * and *bump set when we must move above it; ECORRUPT when we cannot. */
static int merge_self_claim(struct merge *m, bool *bump, uint64_t *gen,
                            uint64_t *ver)
{
	const struct gossip_slot *s = &m->g->slots[0];
	*bump = false;
	if (s->mark != m->g->epoch || !(m->sc[s->in].flags & SCRATCH_NEWER))
		return 0;
	const struct gossip_member *c = &m->in[s->in];
	if (c->generation > s->generation) {
		*gen = c->generation + 1;
		*ver = 0;
	} else {
		*gen = s->generation;
		*ver = c->version + 1;
	}
	if (*gen >= GOSSIP_MAX_COUNTER || *ver >= GOSSIP_MAX_COUNTER)
		return merge_refuse(m, GOSSIP_ECORRUPT, s->in,
		                    "a claim about us we cannot move above");
	*bump = true;
	return 0;
}

/* merge_reserve -- phase 2 for the table: slots, buckets, strings. */
static int merge_reserve(struct merge *m)
{
	struct gossip *g = m->g;
	if (g->count + m->nnew > GOSSIP_MAX_MEMBERS)
		return merge_refuse(m, GOSSIP_ETOOBIG, GOSSIP_NONE,
		                    "member table full");
	int rc = table_reserve(g, g->count + m->nnew);
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < m->n && rc == 0; i++) {
		const struct gossip_scratch *sc = &m->sc[i];
		if ((sc->flags & SCRATCH_NEWER) && sc->slot != 0 &&
		    (sc->flags & (SCRATCH_NEW | SCRATCH_RENAME)))
			bytes += strs_size(m->in[i].name, m->in[i].addr,
			                   m->in[i].http);
	}
	/* At most GOSSIP_MAX_MEMBERS entries of 768 bytes: no overflow. */
	if (rc == 0)
		rc = strs_reserve(g, (uint32_t)bytes);
	if (rc != 0)
		return merge_refuse(m, rc, GOSSIP_NONE, "out of memory");
	return 0;
}

/* merge_apply -- phase 3: cannot fail. */
static void merge_apply(struct merge *m, uint64_t now_ms,
                        struct gossip_merge_result *res)
{
	struct gossip *g = m->g;
	for (uint32_t i = 0; i < m->n; i++) {
		struct gossip_scratch *sc = &m->sc[i];
		const struct gossip_member *e = &m->in[i];
		if (!(sc->flags & SCRATCH_NEWER) || sc->slot == 0)
			continue;
		res->changed = true;
		if (sc->flags & SCRATCH_NEW) {
			uint32_t k = table_append(g, e);
			res->learned++;
			if (e->status != MEMBER_DOWN) {
				phi_heartbeat(&g->slots[k].fd, &g->phi, now_ms);
				res->advanced++;
			}
			continue;
		}
		struct gossip_slot *s = &g->slots[sc->slot];
		bool restart = e->generation > s->generation;
		bool advance = restart || e->version > s->version;
		if (sc->flags & SCRATCH_RENAME)
			slot_rename(g, sc->slot, e);
		s->generation = e->generation;
		s->version = e->version;
		s->status = (uint8_t)e->status;
		if (!advance)
			continue;
		if (restart)
			phi_reset(&s->fd);
		if (e->status != MEMBER_DOWN) {
			phi_heartbeat(&s->fd, &g->phi, now_ms);
			res->advanced++;
		}
	}
}

static int scratch_reserve(struct gossip *g, uint32_t n)
{
	if (n <= g->scratch_cap)
		return 0;
	uint32_t cap = g->scratch_cap ? g->scratch_cap : 64;
	while (cap < n)
		cap *= 2;
	struct gossip_scratch *sc = realloc(g->scratch, cap * sizeof(*sc));
	if (sc == NULL)
		return GOSSIP_ENOMEM;
	g->scratch = sc;
	g->scratch_cap = cap;
	return 0;
}

int gossip_merge(struct gossip *g, const struct gossip_member *in, size_t n,
                 const struct ring *ring, uint64_t now_ms,
                 struct gossip_merge_result *res)
{
	struct gossip_merge_result dummy;
	if (res == NULL)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	res->bad = GOSSIP_NONE;
	struct merge m = {.g = g, .in = in, .bad = GOSSIP_NONE};
	int rc;
	if (g == NULL || (in == NULL && n > 0)) {
		rc = merge_refuse(&m, GOSSIP_EINVAL, GOSSIP_NONE,
		                  "null argument");
		goto out;
	}
	if (n > GOSSIP_MAX_MEMBERS) {
		rc = merge_refuse(&m, GOSSIP_ETOOBIG, GOSSIP_NONE,
		                  "more members than GOSSIP_MAX_MEMBERS");
		goto out;
	}
	m.n = (uint32_t)n;
	if (ring != NULL) {
		if (ring_partition_count(ring) !=
		    ring_partition_count(g->ring)) {
			rc = merge_refuse(&m, GOSSIP_EINVAL, GOSSIP_NONE,
			                  "ring of another size");
			goto out;
		}
		rc = ring_validate(ring);
		if (rc != 0) {
			rc = merge_refuse(&m,
			                  rc == RING_ENOMEM ? GOSSIP_ENOMEM
			                                    : GOSSIP_ECORRUPT,
			                  GOSSIP_NONE, "invalid ring");
			goto out;
		}
	}
	rc = scratch_reserve(g, m.n);
	if (rc != 0) {
		rc = merge_refuse(&m, rc, GOSSIP_NONE, "out of memory");
		goto out;
	}
	m.sc = g->scratch;

	/* 1. validate */
	bool bump = false;
	uint64_t gen = 0, ver = 0;
	rc = merge_classify(&m);
	if (rc == 0)
		rc = merge_new_ids(&m);
	if (rc == 0)
		rc = merge_unique(&m);
	if (rc == 0)
		rc = merge_self_claim(&m, &bump, &gen, &ver);
	if (rc != 0)
		goto out;

	/* 2. reserve (the ring last: its failure leaves it unchanged) */
	rc = merge_reserve(&m);
	if (rc == 0 && ring != NULL) {
		rc = ring_merge(g->ring, ring, &res->ring_changed);
		if (rc != 0)
			rc = merge_refuse(&m,
			                  rc == RING_ETOOBIG ? GOSSIP_ETOOBIG
			                                     : GOSSIP_ENOMEM,
			                  GOSSIP_NONE, "ring merge failed");
	}
	if (rc != 0)
		goto out;

	/* 3. apply */
	merge_apply(&m, now_ms, res);
	if (bump) {
		g->slots[0].generation = gen;
		g->slots[0].version = ver;
		res->self_bumped = true;
		res->changed = true;
	}
out:
	if (rc != 0) {
		res->bad = m.bad;
		res->reason = m.reason;
	}
	return rc;
}
