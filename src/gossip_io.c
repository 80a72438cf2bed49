/* gossip_io.c -- gossip rounds on the event loop (see gossip_io.h).
 *
 * One round, from the timer:
 *
 *   tick      cluster_tick: our heartbeat version + 1;
 *   pick      gossip_peer_pick at the round's now_ms with our seeded rng;
 *   send      our state (cluster_state: the table, the ring's digest and
 *             its cached encoding) as a MSG_GOSSIP request;
 *   persist   cluster_persist: the table and ring, if they changed.
 *
 * and, whenever a state arrives -- a peer's request, or the reply to ours
 * -- absorb it: check the cluster name, decode the ring unless its digest
 * is ours already (the common case: rings change only on rebalance, so a
 * round usually costs O(members), not O(Q)), and cluster_merge. A request
 * is answered with our state after the merge; the ring is left out of the
 * reply when the requester's digest equals ours by then, i.e. when it has
 * nothing to learn from our ring.
 *
 * A call carries a small context (the peer's address, for the log) freed
 * by its callback, which rpc runs exactly once -- also from rpc_free, with
 * RKV_ESHUTDOWN, which is why the gossip_io must outlive the rpc.
 */
#include "gossip_io.h"

#include "clock.h"
#include "logging.h"
#include "status.h"

#include "ring/rng.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct gossip_io {
	struct event_base *base;
	struct cluster *cluster;
	struct rpc *rpc;
	struct msg_codec *mc;
	struct codec *codec;
	char cluster_name[MSG_MAX_NAME + 1];
	unsigned interval_ms;
	unsigned timeout_ms;
	struct rng rng;
	struct event *timer;
	unsigned inflight;
	bool stopped;
	uint64_t warned_ms; /* when the last warning was logged */
	bool warned;
};

/* One call in flight; join is set for gossip_io_join's exchange. */
struct gossip_io_call {
	struct gossip_io *io;
	char addr[GOSSIP_MAX_ADDR + 1];
	gossip_io_join_fn *join;
	void *join_arg;
};

/* --- logging -------------------------------------------------------------- */

/* A peer-supplied text made safe to print. */
static const char *gossip_io_printable(const char *in, char *out, size_t len)
{
	size_t i = 0;

	for (; in[i] != '\0' && i + 1 < len; i++)
		out[i] =
		    (unsigned char)in[i] < 0x20 || in[i] == 0x7f ? '?' : in[i];
	out[i] = '\0';
	return out;
}

static void gossip_io_warn(struct gossip_io *io, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A warning, unless one was logged in the last GOSSIP_IO_WARN_MS: a peer
 * that keeps sending what we refuse would otherwise fill the log. */
static void gossip_io_warn(struct gossip_io *io, const char *fmt, ...)
{
	uint64_t now = monotonic_ms();
	enum log_level level = LOG_DEBUG;
	char line[512];
	va_list ap;

	if (!io->warned || now - io->warned_ms >= GOSSIP_IO_WARN_MS) {
		level = LOG_WARN;
		io->warned = true;
		io->warned_ms = now;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_write(level, "gossip: %s", line);
}

/* --- absorbing a received state ------------------------------------------- */

/* Merge m, received from `from` (printable). 0, or why it was refused
 * (logged, counted, the view unchanged). */
static int gossip_io_absorb(struct gossip_io *io, const struct msg_gossip *m,
                            const char *from)
{
	struct cluster_gossip_stats *stats =
	    cluster_gossip_counters(io->cluster);
	struct gossip_merge_result res;
	struct msg_gossip ours;
	struct ring *ring = NULL;
	char name[MSG_MAX_NAME + 1];
	int rc = 0;

	stats->received++;
	if (strcmp(m->cluster_name, io->cluster_name) != 0) {
		stats->rejected++;
		gossip_io_warn(
		    io,
		    "state from %s ignored: it is of cluster "
		    "\"%s\", not \"%s\"",
		    from,
		    gossip_io_printable(m->cluster_name, name, sizeof(name)),
		    io->cluster_name);
		return RKV_EINVAL;
	}
	if (m->ring_size != cluster_ring_size(io->cluster)) {
		/* Checked whether or not a ring came: a joining node has
		 * none to send yet, and is refused on both sides all the
		 * same when configured with another ring_size. */
		stats->rejected++;
		gossip_io_warn(io,
		               "state from %s ignored: a ring of %" PRIu32
		               " partitions, ours has %" PRIu32,
		               from, m->ring_size,
		               cluster_ring_size(io->cluster));
		return RKV_EINVAL;
	}
	rc = cluster_state(io->cluster, &ours);
	if (rc == 0 && m->ring != NULL && m->ring_digest != ours.ring_digest)
		rc = codec_ring_decode(io->codec, m->ring, m->ring_len, &ring);
	if (rc != 0) {
		stats->rejected++;
		gossip_io_warn(io, "state from %s ignored: its ring: %s", from,
		               rkv_strerror(rc));
		return rc;
	}
	rc = cluster_merge(io->cluster, m->members, m->nmembers, ring,
	                   monotonic_ms(), &res);
	ring_free(ring);
	if (rc != 0) {
		/* Decoded names passed ring_name_valid: printable. */
		gossip_io_warn(io, "state from %s ignored: %s%s%s (%s)", from,
		               res.reason != NULL ? res.reason : "refused",
		               res.bad < m->nmembers ? ": member " : "",
		               res.bad < m->nmembers ? m->members[res.bad].name
		                                     : "",
		               rkv_strerror(rc));
		return rc;
	}
	if (res.learned > 0)
		log_info("gossip: learned %u member(s) from %s", res.learned,
		         from);
	if (res.ring_changed)
		log_info("gossip: ring updated from %s", from);
	if (res.self_bumped)
		log_info("gossip: %s held a newer entry for us; moved above "
		         "it",
		         from);
	return 0;
}

/* --- our side of an exchange ---------------------------------------------- */

/* The seed's answer to gossip_io_join: only a state we can take makes us
 * a joining member, so a refused join changes nothing here. */
static void gossip_io_joined(struct gossip_io_call *call, int status,
                             const struct msg_peer *peer, const void *body,
                             size_t len)
{
	struct gossip_io *io = call->io;
	struct msg_gossip m;
	int rc = status;

	memset(&m, 0, sizeof(m));
	if (rc == 0 && io->stopped)
		rc = RKV_ESHUTDOWN;
	if (rc == 0)
		rc = msg_decode_gossip(io->mc, peer, MSG_GOSSIP | MSG_REPLY_BIT,
		                       body, len, &m);
	if (rc == 0 && m.status != 0)
		rc = m.status;
	if (rc == 0 &&
	    (strcmp(m.cluster_name, io->cluster_name) != 0 ||
	     m.ring_size != cluster_ring_size(io->cluster) || m.ring == NULL))
		rc = RKV_EINVAL;
	if (rc == 0)
		rc = cluster_join(io->cluster, call->addr);
	if (rc == 0)
		rc = gossip_io_absorb(io, &m, call->addr);
	msg_clear_gossip(&m);
	call->join(call->join_arg, rc);
	free(call);
}

static void gossip_io_replied(void *arg, int status,
                              const struct msg_peer *peer, const void *body,
                              size_t len)
{
	struct gossip_io_call *call = arg;
	struct gossip_io *io = call->io;
	struct msg_gossip m;
	int rc = 0;

	io->inflight--;
	if (call->join != NULL) {
		gossip_io_joined(call, status, peer, body, len);
		return;
	}
	if (io->stopped || status != 0) {
		/* A peer we cannot reach is the detector's business. */
		if (!io->stopped)
			log_debug("gossip: no answer from %s: %s", call->addr,
			          rkv_strerror(status));
		free(call);
		return;
	}
	rc = msg_decode_gossip(io->mc, peer, MSG_GOSSIP | MSG_REPLY_BIT, body,
	                       len, &m);
	if (rc != 0) {
		cluster_gossip_counters(io->cluster)->rejected++;
		gossip_io_warn(io, "reply from %s ignored: undecodable (%s)",
		               call->addr, rkv_strerror(rc));
	} else if (m.status != 0) {
		gossip_io_warn(io, "%s refused our state: %s", call->addr,
		               rkv_strerror(m.status));
	} else {
		gossip_io_absorb(io, &m, call->addr);
	}
	msg_clear_gossip(&m);
	free(call);
}

/* Sends st to addr as one MSG_GOSSIP call (join: see gossip_io_join).
 * 0 or why it could not be sent (the join callback then never runs). */
static int gossip_io_call_state(struct gossip_io *io, const char *addr,
                                const struct msg_gossip *st,
                                gossip_io_join_fn *join, void *join_arg)
{
	struct gossip_io_call *call = NULL;
	size_t len = 0;
	uint8_t *body = NULL;
	int rc = msg_encode_gossip(io->mc, MSG_GOSSIP, st, &body, &len);

	if (rc == 0 && (call = calloc(1, sizeof(*call))) == NULL)
		rc = RKV_ENOMEM;
	if (rc == 0) {
		call->io = io;
		call->join = join;
		call->join_arg = join_arg;
		snprintf(call->addr, sizeof(call->addr), "%s", addr);
		rc = rpc_call(io->rpc, call->addr, MSG_GOSSIP, body, len,
		              io->timeout_ms, gossip_io_replied, call);
	}
	free(body);
	if (rc != 0) {
		free(call);
		return rc;
	}
	io->inflight++;
	cluster_gossip_counters(io->cluster)->sent++;
	return 0;
}

/* Sends our state to addr as one MSG_GOSSIP call. */
static void gossip_io_send_to(struct gossip_io *io, const char *addr)
{
	struct msg_gossip st;
	int rc = cluster_state(io->cluster, &st);

	if (rc == 0)
		rc = gossip_io_call_state(io, addr, &st, NULL, NULL);
	if (rc != 0)
		gossip_io_warn(io, "cannot send our state: %s",
		               rkv_strerror(rc));
}

int gossip_io_join(struct gossip_io *io, const char *seed,
                   gossip_io_join_fn *done, void *arg)
{
	struct gossip_member *members = NULL;
	struct msg_gossip st;
	int rc = 0;

	if (io->stopped)
		return RKV_ESHUTDOWN;
	if (!ring_name_valid(seed) || strlen(seed) > GOSSIP_MAX_ADDR)
		return RKV_EINVAL;
	rc = cluster_state(io->cluster, &st);
	if (rc != 0)
		return rc;
	/* Our ring must not reach the seed: merged into the cluster's, a
	 * one-node ring would take partitions. Nor our status: we are not
	 * a member until the answer comes. Only our own entry travels,
	 * announcing a join. */
	members = malloc(sizeof(*members));
	if (members == NULL)
		return RKV_ENOMEM;
	members[0] = st.members[0];
	members[0].status = MEMBER_JOINING;
	members[0].version++;
	st.members = members;
	st.nmembers = 1;
	st.ring = NULL;
	st.ring_len = 0;
	rc = gossip_io_call_state(io, seed, &st, done, arg);
	free(members);
	return rc;
}

/* Cassandra's seed rule: also gossip with a random seed when the peer of
 * the round was not one, or when we hold fewer members up than there are
 * other seeds. Without it, founders that started at once can settle into groups
 * that each know only themselves and never pick one another; the seeds
 * bridge such groups within a round or two. Returns the seed, or NULL. */
static const char *gossip_io_seed_extra(struct gossip_io *io, uint64_t now,
                                        const struct gossip_peer *peer,
                                        const char *const *seeds, size_t nseeds)
{
	const struct gossip *g = cluster_gossip(io->cluster);
	struct gossip_member me;
	size_t live = 0, usable = 0, others = 0;
	bool peer_is_seed = false;

	if (gossip_member_at(g, 0, &me) != 0) /* slot 0 is always us */
		return NULL;
	const char *self = me.addr;

	for (size_t i = 1; i < gossip_member_count(g); i++)
		live += gossip_member_alive(g, i, now);
	for (size_t k = 0; k < nseeds; k++) {
		peer_is_seed |= strcmp(seeds[k], peer->addr) == 0;
		others += strcmp(seeds[k], self) != 0;
		usable += strcmp(seeds[k], self) != 0 &&
		          strcmp(seeds[k], peer->addr) != 0;
	}
	/* Once we hold as many members up as there are other seeds, a round
	 * that reached a seed is one message, as the simulation assumes. */
	if (usable == 0 || (peer_is_seed && live >= others))
		return NULL;
	uint64_t pick = rng_below(&io->rng, usable);
	for (size_t k = 0; k < nseeds; k++) {
		if (strcmp(seeds[k], self) == 0 ||
		    strcmp(seeds[k], peer->addr) == 0)
			continue;
		if (pick-- == 0)
			return seeds[k];
	}
	return NULL;
}

static void gossip_io_send(struct gossip_io *io, uint64_t now)
{
	struct gossip_peer peer;
	const char *const *seeds = NULL;
	size_t nseeds = 0;
	int rc;

	if (io->inflight >= GOSSIP_IO_MAX_INFLIGHT) {
		log_debug("gossip: %u calls in flight; skipping a round",
		          io->inflight);
		return;
	}
	seeds = cluster_seeds(io->cluster, &nseeds);
	rc = gossip_peer_pick(cluster_gossip(io->cluster), now, &io->rng, seeds,
	                      nseeds, &peer);
	if (rc == GOSSIP_ENOTFOUND)
		return; /* a cluster of one: nobody to talk to */
	if (rc != 0) {
		gossip_io_warn(io, "cannot pick a peer: %s", rkv_strerror(rc));
		return;
	}
	gossip_io_send_to(io, peer.addr);
	const char *seed = gossip_io_seed_extra(io, now, &peer, seeds, nseeds);
	if (seed != NULL && io->inflight < GOSSIP_IO_MAX_INFLIGHT)
		gossip_io_send_to(io, seed);
}

static void gossip_io_round(evutil_socket_t fd, short what, void *arg)
{
	struct gossip_io *io = arg;
	uint64_t now = monotonic_ms();
	(void)fd;
	(void)what;

	cluster_gossip_counters(io->cluster)->rounds++;
	cluster_tick(io->cluster, now);
	gossip_io_send(io, now);
	cluster_persist(io->cluster);
}

/* --- their side of an exchange -------------------------------------------- */

static void gossip_io_reply(struct gossip_io *io, const struct rpc_reply_to *to,
                            int status, uint64_t their_digest)
{
	struct msg_gossip st;
	uint8_t *body = NULL;
	size_t len = 0;
	int rc = 0;

	if (status == 0)
		rc = cluster_state(io->cluster, &st);
	if (status != 0 || rc != 0) {
		memset(&st, 0, sizeof(st));
		snprintf(st.cluster_name, sizeof(st.cluster_name), "%s",
		         io->cluster_name);
		st.ring_size = cluster_ring_size(io->cluster);
		st.status = status != 0 ? status : rc;
	} else if (st.ring_digest == their_digest) {
		st.ring = NULL; /* they have it */
		st.ring_len = 0;
	}
	rc = msg_encode_gossip(io->mc, MSG_GOSSIP | MSG_REPLY_BIT, &st, &body,
	                       &len);
	if (rc == 0)
		rpc_reply(io->rpc, to, body, len);
	else
		log_warn("gossip: cannot encode a reply: %s", rkv_strerror(rc));
	free(body);
}

void gossip_io_on_request(struct gossip_io *io, const struct rpc_reply_to *to,
                          const struct msg_peer *peer,
                          const struct msg_hello *from, const void *body,
                          size_t len)
{
	char who[MSG_MAX_NAME + 1];
	struct msg_gossip m;
	int rc = 0;

	gossip_io_printable(from->rpc_addr, who, sizeof(who));
	if (io->stopped) {
		gossip_io_reply(io, to, RKV_ESHUTDOWN, 0);
		return;
	}
	rc = msg_decode_gossip(io->mc, peer, MSG_GOSSIP, body, len, &m);
	if (rc != 0) {
		cluster_gossip_counters(io->cluster)->rejected++;
		gossip_io_warn(io, "state from %s ignored: undecodable (%s)",
		               who, rkv_strerror(rc));
		gossip_io_reply(io, to, rc, 0);
		return;
	}
	rc = gossip_io_absorb(io, &m, who);
	gossip_io_reply(io, to, rc, m.ring_digest);
	/* It talks to us: if our calls to it were backing off (it was down,
	 * and has restarted), the coordinator need not wait to use it. */
	if (rc == 0)
		rpc_retry_now(io->rpc, from->rpc_addr);
	msg_clear_gossip(&m);
}

/* --- life cycle ----------------------------------------------------------- */

int gossip_io_new(struct gossip_io **out, const struct gossip_io_options *o)
{
	struct gossip_io *io = NULL;
	uint64_t seed = o->seed;
	unsigned timeout = 0;

	*out = NULL;
	if (o->base == NULL || o->cluster == NULL || o->rpc == NULL ||
	    o->mc == NULL || o->codec == NULL || o->cluster_name == NULL ||
	    strlen(o->cluster_name) > MSG_MAX_NAME ||
	    o->interval_ms < GOSSIP_MIN_INTERVAL_MS ||
	    o->interval_ms > GOSSIP_MAX_INTERVAL_MS)
		return RKV_EINVAL;
	if (seed == 0 &&
	    getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
		log_error("gossip: getrandom failed");
		return RKV_EIO;
	}
	io = calloc(1, sizeof(*io));
	if (io == NULL)
		return RKV_ENOMEM;
	io->base = o->base;
	io->cluster = o->cluster;
	io->rpc = o->rpc;
	io->mc = o->mc;
	io->codec = o->codec;
	snprintf(io->cluster_name, sizeof(io->cluster_name), "%s",
	         o->cluster_name);
	io->interval_ms = o->interval_ms;
	timeout = o->interval_ms > GOSSIP_IO_MAX_TIMEOUT_MS / 2
	              ? GOSSIP_IO_MAX_TIMEOUT_MS
	              : 2 * o->interval_ms;
	io->timeout_ms = timeout < GOSSIP_IO_MIN_TIMEOUT_MS
	                     ? GOSSIP_IO_MIN_TIMEOUT_MS
	                     : timeout;
	rng_init(&io->rng, seed);
	io->timer = event_new(o->base, -1, EV_PERSIST, gossip_io_round, io);
	if (io->timer == NULL) {
		free(io);
		return RKV_ENOMEM;
	}
	log_debug("gossip: peer choice seeded with %016llx",
	          (unsigned long long)seed);
	*out = io;
	return 0;
}

int gossip_io_start(struct gossip_io *io)
{
	struct timeval tv = ms_timeval(io->interval_ms);

	io->stopped = false;
	return event_add(io->timer, &tv) == 0 ? 0 : RKV_ENOMEM;
}

void gossip_io_stop(struct gossip_io *io)
{
	if (io == NULL || io->stopped)
		return;
	io->stopped = true;
	event_del(io->timer);
	cluster_persist(io->cluster);
}

void gossip_io_free(struct gossip_io *io)
{
	if (io == NULL)
		return;
	event_free(io->timer);
	free(io);
}
