/* transfer.c -- moving partitions to their next owners (see transfer.h).
 *
 * HOW IT WORKS. Nothing here is told what to move: every time the ring
 * changes (cluster_ring_version), transfer_sync walks it and keeps one
 * struct transfer_move per partition m that we own and that has a next
 * owner Y. A move whose partition no longer qualifies -- a newer plan
 * cancelled it or sent it elsewhere -- is dropped; one we flipped
 * ourselves stays DONE for grace_ms. Each move is driven by
 * transfer_drive() through
 *
 *   QUEUED -> STREAMING -> DRAINING -> (cluster_ring_flip) DONE -> freed
 *                 ^   \                                  (after grace)
 *                 |    `--> BACKOFF   (a batch failed: after
 *                 `-----------'        TRANSFER_RETRY_MS, resend from the
 *                                      start of the first failed batch)
 *
 * QUEUED     waiting for one of the `limit` stream slots (handed out in
 *            partition order, to moves whose Y is up);
 * STREAMING  the key ranges the move carries and the node each goes to
 *            (ring_move_targets: Y mostly, or the next node of a range's
 *            walk where Y holds the range already; computed when the
 *            stream starts and again whenever the ring changes; if they
 *            differ the stream restarts) are read with store_scan, a
 *            bounded batch at a time, each sent as one MSG_HINT naming
 *            its receiver, at most TRANSFER_MAX_INFLIGHT awaiting their
 *            ack, while that receiver is up and the token bucket shared
 *            by all moves has bytes left;
 * DRAINING   every range is read; waiting for the last acks, for the
 *            forwards made before DRAINING began, and for the receivers'
 *            hints (forwards that became hints) to be delivered: then
 *            the flip;
 * DONE       Y owns m; writes that still reach us in m's ranges go on
 *            being forwarded for grace_ms.
 *
 * FORWARDS. From QUEUED until DONE expires, every object the store
 * commits into a range of a move (the store observer) is also sent to Y
 * as a one-entry MSG_HINT; one that cannot be sent, fails, or would pass
 * TRANSFER_MAX_FORWARDS becomes a durable hint for Y (store_hint), which
 * hinted handoff delivers. The observer runs for every write of the
 * node, so which moves cover a key partition is kept per partition
 * (t->cover): a partition no move covers costs one pointer test.
 *
 * DROPPING. t->foreign_ms[p] is when key partition p stopped being ours
 * (neither a primary now nor in the future ring), 0 while it is; once it
 * has been so for grace_ms, no move covers it, and grace_ms have passed
 * since start, transfer_drop deletes it in bounded steps. t->clean[p]
 * remembers that p holds nothing (until the observer sees a write to it),
 * so an empty partition is not visited again.
 *
 * Batches and forwards point at their move; a move that goes while some
 * are in flight is only marked gone and freed by the last of them (or by
 * transfer_free, after rpc_free and store_close ran every callback).
 */
#include "transfer.h"

#include "clock.h"
#include "json.h"
#include "logging.h"
#include "status.h"

#include "ring/ring.h"

#include <event2/buffer.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* At most one warning per this many ms; the others go to debug. */
#define TRANSFER_WARN_MS 10000
/* tick_ms's bounds (transfer.h). */
#define TRANSFER_MIN_TICK_MS 10
#define TRANSFER_MAX_TICK_MS 10000

/* X(state, name): the states of a move (see the top). */
#define TRANSFER_STATE_TABLE(X)                                                \
	X(TRANSFER_QUEUED, "queued")                                           \
	X(TRANSFER_STREAMING, "streaming")                                     \
	X(TRANSFER_BACKOFF, "backoff")                                         \
	X(TRANSFER_DRAINING, "draining")                                       \
	X(TRANSFER_DONE, "done")

enum transfer_state {
#define TRANSFER_STATE_ENUM(state, name) state,
	TRANSFER_STATE_TABLE(TRANSFER_STATE_ENUM)
#undef TRANSFER_STATE_ENUM
	    TRANSFER_NSTATES
};

static const char *const transfer_state_names[] = {
#define TRANSFER_STATE_NAME(state, name) name,
    TRANSFER_STATE_TABLE(TRANSFER_STATE_NAME)
#undef TRANSFER_STATE_NAME
};

struct transfer_move;

/* One range of a move and the node it goes to, linked into
 * t->cover[partition]. */
struct transfer_cover {
	struct transfer_move *mv;
	unsigned target; /* member index (cluster.h: stable) */
	struct transfer_cover *next;
};

struct transfer_move {
	struct transfer_move *prev, *next; /* t->moves */
	uint32_t partition;
	char to[RING_MAX_NAME + 1]; /* Y: a copy, rings rename nothing */
	enum transfer_state state;
	unsigned slot; /* in t->slots, unless QUEUED or DONE */
	bool gone;     /* out of the active set, freed with its last ref */
	unsigned refs; /* batches and forwards pointing here */
	/* What the move sends: ranges[i] to covers[i].target
	 * (ring_move_targets; most go to Y, some to the node a key range's
	 * list gains instead when Y holds it already). */
	uint32_t *ranges;
	struct transfer_cover *covers; /* one per range */
	size_t nranges;
	/* the stream */
	uint64_t gen;              /* bumped by every (re)start */
	size_t range;              /* ranges[range] is being read */
	struct store_scan_pos pos; /* where in it */
	bool scan_done;            /* every range read */
	unsigned inflight;         /* batches awaiting their ack */
	uint64_t seq;              /* of the next batch */
	bool failed;               /* a batch of this gen failed */
	bool stale; /* ... refused: the receiver's ring is behind ours */
	uint64_t rewind_seq;              /* the first failed batch ... */
	size_t rewind_range;              /* ... started in this range */
	struct store_scan_pos rewind_pos; /* ... at this position */
	uint64_t retry_at;                /* BACKOFF: monotonic_ms() */
	/* Forwards not finished (awaiting an ack or a hint), counted per
	 * generation: draining moves new ones into the other generation
	 * (the barrier), and the flip waits for the old one only, so a
	 * steady stream of writes cannot hold it off for ever. */
	uint64_t forwards[2];
	unsigned fwd_gen; /* of new forwards */
	bool barrier;     /* set since the move is DRAINING */
	uint64_t start_ms, done_ms;
	bool totals; /* keys_total and bytes_total are known */
	uint64_t keys_sent, bytes_sent;   /* acknowledged, stored bytes */
	uint64_t keys_total, bytes_total; /* store_partition_stats */
};

/* One object read for a batch; a copy, freed once the batch is encoded. */
struct transfer_item {
	uint8_t *key;
	size_t klen;
	struct dvv *obj;
};

struct transfer_batch {
	struct transfer *t;
	struct transfer_move *mv;
	uint64_t gen, seq;
	size_t range;                /* where the batch started: a failed */
	struct store_scan_pos start; /* batch is read again from here */
	uint64_t keys, bytes;        /* objects, their stored bytes */
	size_t len;                  /* the MSG_HINT body */
};

struct transfer_forward {
	struct transfer *t;
	struct transfer_move *mv;
	unsigned gen;    /* mv->fwd_gen when it was made */
	unsigned target; /* member index */
	uint32_t partition;
	struct dvv *obj;
	size_t klen;
	uint8_t key[];
};

struct transfer_stats {
	uint64_t started, done, restarted, cancelled;
	uint64_t batches_sent, batches_acked, batches_failed;
	uint64_t keys_sent, keys_acked;   /* objects in batches */
	uint64_t bytes_sent, bytes_acked; /* MSG_HINT body bytes */
	uint64_t forwards_sent, forwards_acked, forwards_hinted;
	uint64_t forwards_lost; /* neither acknowledged nor kept as a hint */
	uint64_t partitions_dropped, records_dropped;
};

struct transfer {
	struct event_base *base;
	struct store *store;
	struct cluster *cluster;
	struct rpc *rpc;
	struct msg_codec *mc;
	unsigned limit;
	uint64_t rate, grace_ms;
	unsigned tick_ms;
	struct event *timer; /* every tick_ms */
	struct event *wake;  /* once the token bucket has bytes again */
	bool stopped;
	uint64_t start_ms;
	bool synced; /* ring_version is the ring we derived moves from */
	uint64_t ring_version;
	uint32_t q;
	struct transfer_move *moves;    /* every move, gone ones included */
	struct transfer_move **active;  /* [q]: the move of partition p */
	struct transfer_cover **cover;  /* [q]: moves whose ranges hold p */
	uint64_t *foreign_ms;           /* [q]: see the top, DROPPING */
	bool *clean;                    /* [q]: p holds nothing */
	uint32_t *scratch, *scratch_to; /* [q * n_val]: ring_move_targets */
	uint32_t drop_next;             /* where the next drop pass starts */
	uint64_t drop_records;          /* deleted from drop_next so far */
	struct transfer_move **slots;   /* [limit]: the streaming moves */
	unsigned streams;               /* slots in use */
	unsigned rr;                    /* the slot driven first next time */
	unsigned pending;               /* moves not DONE (nor gone) */
	uint64_t forwards, fwd_inflight;
	int64_t tokens; /* the bucket: bytes that may be sent now */
	uint64_t tokens_ms;
	struct transfer_item items[TRANSFER_BATCH_ITEMS]; /* the batch read */
	size_t nitems;
	struct transfer_stats stats;
	uint64_t warned_ms;
	bool warned;
};

/* --- helpers -------------------------------------------------------------- */

static void transfer_warn(struct transfer *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A warning, unless one was logged in the last TRANSFER_WARN_MS: a next
 * owner that stays unreachable would otherwise fill the log. */
static void transfer_warn(struct transfer *t, const char *fmt, ...)
{
	uint64_t now = monotonic_ms();
	enum log_level level = LOG_DEBUG;
	char line[512];
	va_list ap;

	if (!t->warned || now - t->warned_ms >= TRANSFER_WARN_MS) {
		level = LOG_WARN;
		t->warned = true;
		t->warned_ms = now;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_write(level, "transfer: %s", line);
}

/* The name of member m, to which a range goes. */
static const char *transfer_name(const struct transfer *t, unsigned m)
{
	return cluster_member(t->cluster, m)->name;
}

/* Whether member m is up, and where to reach it. */
static bool transfer_target(const struct transfer *t, unsigned m,
                            const char **addr, uint64_t *id)
{
	const struct cluster_member *mem = cluster_member(t->cluster, m);

	if (mem == NULL)
		return false;
	if (mem->self || !cluster_member_up(t->cluster, m))
		return false;
	if (addr != NULL)
		*addr = mem->addr;
	if (id != NULL)
		*id = cluster_member_id(t->cluster, m);
	return true;
}

/* Refill the bucket for the time gone by; whether a batch may go. The
 * bucket holds at most a tenth of a second's worth (or one batch), so an
 * idle spell does not turn into a burst. */
static bool transfer_tokens(struct transfer *t, uint64_t now)
{
	int64_t cap = (int64_t)(t->rate / 10 > TRANSFER_BATCH_BYTES
	                            ? t->rate / 10
	                            : TRANSFER_BATCH_BYTES);
	uint64_t ms = now - t->tokens_ms;
	uint64_t add = (ms > 1000 ? 1000 : ms) * t->rate / 1000;

	if (add > 0) {
		t->tokens_ms = now;
		t->tokens = t->tokens + (int64_t)add > cap
		                ? cap
		                : t->tokens + (int64_t)add;
	}
	return t->tokens > 0;
}

/* Drive the streams again in ms: when the bucket has refilled (unless a
 * wake is due already), or at once (0) when a slot was freed. */
static void transfer_wake(struct transfer *t, uint64_t ms)
{
	struct timeval tv = ms_timeval(ms);

	if (ms > 0 && evtimer_pending(t->wake, NULL))
		return;
	evtimer_add(t->wake, &tv);
}

/* --- moves ---------------------------------------------------------------- */

static void transfer_uncover(struct transfer *t, struct transfer_move *mv)
{
	for (size_t i = 0; i < mv->nranges; i++) {
		struct transfer_cover **pp = &t->cover[mv->ranges[i]];
		while (*pp != &mv->covers[i])
			pp = &(*pp)->next;
		*pp = mv->covers[i].next;
	}
	free(mv->ranges);
	free(mv->covers);
	mv->ranges = NULL;
	mv->covers = NULL;
	mv->nranges = 0;
}

static void transfer_move_free(struct transfer *t, struct transfer_move *mv)
{
	if (mv->prev != NULL)
		mv->prev->next = mv->next;
	else
		t->moves = mv->next;
	if (mv->next != NULL)
		mv->next->prev = mv->prev;
	transfer_uncover(t, mv);
	free(mv);
}

static void transfer_slot_free(struct transfer *t, struct transfer_move *mv)
{
	t->slots[mv->slot] = NULL;
	t->streams--;
}

static void transfer_release(struct transfer *t, struct transfer_move *mv)
{
	if (--mv->refs == 0 && mv->gone)
		transfer_move_free(t, mv);
}

/* Out of the active set: no more forwards, freed once nothing points at
 * it. */
static void transfer_move_drop(struct transfer *t, struct transfer_move *mv)
{
	if (mv->state != TRANSFER_DONE) {
		t->pending--;
		if (mv->state != TRANSFER_QUEUED)
			transfer_slot_free(t, mv);
		t->active[mv->partition] = NULL;
	}
	mv->gone = true;
	transfer_uncover(t, mv);
	if (mv->refs == 0)
		transfer_move_free(t, mv);
}

static struct transfer_move *transfer_move_new(struct transfer *t, uint32_t p,
                                               const char *to)
{
	struct transfer_move *mv = calloc(1, sizeof(*mv));

	if (mv == NULL)
		return NULL;
	mv->partition = p;
	snprintf(mv->to, sizeof(mv->to), "%s", to);
	mv->state = TRANSFER_QUEUED;
	mv->next = t->moves;
	if (t->moves != NULL)
		t->moves->prev = mv;
	t->moves = mv;
	t->active[p] = mv;
	t->pending++;
	return mv;
}

/* Start (or restart) the stream from the first range: what was sent
 * before is sent again, which is harmless (dvv_sync). */
static void transfer_stream_start(struct transfer *t, struct transfer_move *mv,
                                  uint64_t now)
{
	mv->keys_total = 0;
	mv->bytes_total = 0;
	mv->totals = true;
	for (size_t i = 0; i < mv->nranges; i++) {
		uint64_t keys = 0, bytes = 0;
		if (store_partition_stats(t->store, mv->ranges[i], &keys,
		                          &bytes) != 0)
			mv->totals = false;
		mv->keys_total += keys;
		mv->bytes_total += bytes;
	}
	mv->gen++;
	mv->range = 0;
	store_scan_pos_init(&mv->pos);
	mv->scan_done = mv->nranges == 0;
	mv->failed = false;
	mv->barrier = false;
	mv->keys_sent = 0;
	mv->bytes_sent = 0;
	mv->start_ms = now;
	if (mv->state == TRANSFER_QUEUED) {
		mv->slot = 0;
		while (t->slots[mv->slot] != NULL)
			mv->slot++;
		t->slots[mv->slot] = mv;
		t->streams++;
		t->stats.started++;
		log_info("transfer: streaming partition %" PRIu32
		         " to %s: %zu key partition(s), %" PRIu64
		         " keys, %" PRIu64 " bytes",
		         mv->partition, mv->to, mv->nranges, mv->keys_total,
		         mv->bytes_total);
	} else {
		t->stats.restarted++;
		log_info("transfer: the key ranges of partition %" PRIu32
		         " changed with the ring: streaming to %s again",
		         mv->partition, mv->to);
	}
	mv->state = TRANSFER_STREAMING;
}

/* Whether the pairs in scratch (n of them) are the move's. */
static bool transfer_same_ranges(const struct transfer *t,
                                 const struct transfer_move *mv,
                                 const unsigned *members, size_t n)
{
	if (n != mv->nranges)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (t->scratch[i] != mv->ranges[i] ||
		    members[i] != mv->covers[i].target)
			return false;
	}
	return true;
}

/* The ranges the ring says the move carries, and where each goes. A
 * stream under way whose ranges changed starts again: it may have skipped
 * one it now needs, or be sending one its receiver would refuse. 0, or
 * RKV_EINVAL / RKV_ENOMEM with the ranges unchanged. */
static int transfer_ranges(struct transfer *t, struct transfer_move *mv,
                           uint64_t now)
{
	const struct ring *r = cluster_ring(t->cluster);
	size_t n = 0;
	uint32_t *ranges = NULL;
	unsigned *members = NULL;
	struct transfer_cover *covers = NULL;

	/* Cannot fail: the caller saw the transfer pending in this ring. */
	if (ring_move_targets(r, mv->partition, cluster_n_val(t->cluster),
	                      t->scratch, t->scratch_to, &n) != 0)
		return RKV_EINVAL;
	members = calloc(n + 1, sizeof(*members));
	if (members == NULL)
		return RKV_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		/* Owners of the future ring are in the view (cluster.h). */
		if (cluster_member_find(t->cluster,
		                        ring_node_name(r, t->scratch_to[i]),
		                        &members[i]) != 0) {
			free(members);
			return RKV_EINVAL;
		}
	}
	if (transfer_same_ranges(t, mv, members, n)) {
		free(members);
		return 0;
	}
	if (n > 0) {
		ranges = malloc(n * sizeof(*ranges));
		covers = calloc(n, sizeof(*covers));
		if (ranges == NULL || covers == NULL) {
			free(ranges);
			free(covers);
			free(members);
			return RKV_ENOMEM;
		}
		memcpy(ranges, t->scratch, n * sizeof(*ranges));
	}
	transfer_uncover(t, mv);
	mv->ranges = ranges;
	mv->covers = covers;
	mv->nranges = n;
	for (size_t i = 0; i < n; i++) {
		covers[i].mv = mv;
		covers[i].target = members[i];
		covers[i].next = t->cover[ranges[i]];
		t->cover[ranges[i]] = &covers[i];
	}
	free(members);
	if (mv->state != TRANSFER_QUEUED)
		transfer_stream_start(t, mv, now);
	return 0;
}

/* The ring changed: bring the moves and the drop timers in step. */
static void transfer_sync(struct transfer *t, uint64_t now)
{
	const struct ring *r = cluster_ring(t->cluster);
	uint32_t self = RING_NONE;
	uint32_t q =
	    ring_partition_count(r) < t->q ? ring_partition_count(r) : t->q;
	bool claimed = ring_claimed(r) && cluster_n(t->cluster) > 0;
	int rc = 0;

	if (claimed &&
	    ring_node_find(r, cluster_self_name(t->cluster), &self) != 0)
		self = RING_NONE;
	for (uint32_t p = 0; p < q; p++) {
		uint32_t next = ring_next_owner(r, p);
		struct transfer_move *mv = t->active[p];
		const char *to = self != RING_NONE && ring_owner(r, p) == self
		                     ? ring_node_name(r, next)
		                     : NULL;
		if (mv != NULL && (to == NULL || strcmp(mv->to, to) != 0)) {
			log_info("transfer: partition %" PRIu32 " no longer "
			         "goes from us to %s: cancelled",
			         p, mv->to);
			t->stats.cancelled++;
			transfer_move_drop(t, mv);
			mv = NULL;
		}
		if (to != NULL && mv == NULL &&
		    (mv = transfer_move_new(t, p, to)) == NULL)
			transfer_warn(t,
			              "out of memory for the transfer of "
			              "partition %" PRIu32,
			              p);
		if (mv != NULL && (rc = transfer_ranges(t, mv, now)) != 0)
			transfer_warn(t,
			              "cannot find the key ranges of partition "
			              "%" PRIu32 ": %s",
			              p, rkv_strerror(rc));
		if (!claimed || cluster_is_replica(t->cluster, p, 0, false) ||
		    cluster_is_replica(t->cluster, p, 0, true))
			t->foreign_ms[p] = 0;
		else if (t->foreign_ms[p] == 0)
			t->foreign_ms[p] = now;
	}
	t->ring_version = cluster_ring_version(t->cluster);
	t->synced = true;
}

/* --- batches -------------------------------------------------------------- */

static void transfer_drive(struct transfer *t, struct transfer_move *mv,
                           uint64_t now);

static void transfer_items_clear(struct transfer *t)
{
	for (size_t i = 0; i < t->nitems; i++) {
		free(t->items[i].key);
		dvv_free(t->items[i].obj);
	}
	t->nitems = 0;
}

/* store_scan_fn: copy one object into the batch being read. */
static int transfer_collect(const void *key, size_t klen, const struct dvv *obj,
                            void *arg)
{
	struct transfer *t = arg;
	struct transfer_item *it = &t->items[t->nitems];

	it->key = malloc(klen);
	it->obj = dvv_dup(obj);
	if (it->key == NULL || it->obj == NULL) {
		free(it->key);
		dvv_free(it->obj);
		return RKV_ENOMEM;
	}
	memcpy(it->key, key, klen);
	it->klen = klen;
	t->nitems++;
	return 0;
}

/* A batch of the current stream failed: the stream goes back to where
 * the earliest failed batch started, once nothing is in flight. */
static void transfer_failed(struct transfer *t, struct transfer_move *mv,
                            const struct transfer_batch *b, int status)
{
	t->stats.batches_failed++;
	if (!mv->failed || b->seq < mv->rewind_seq) {
		mv->rewind_seq = b->seq;
		mv->rewind_range = b->range;
		mv->rewind_pos = b->start;
	}
	mv->failed = true;
	mv->stale = status == RKV_ESTALE;
	if (mv->stale) {
		log_debug("transfer: %s has not heard of the move of "
		          "partition %" PRIu32 " yet; retrying",
		          transfer_name(t, mv->covers[b->range].target),
		          mv->partition);
		return;
	}
	transfer_warn(t,
	              "a batch of partition %" PRIu32 "'s stream to %s "
	              "failed: %s; retried in %d ms",
	              mv->partition,
	              transfer_name(t, mv->covers[b->range].target),
	              rkv_strerror(status), TRANSFER_RETRY_MS);
}

static void transfer_acked(void *arg, int status, const struct msg_peer *peer,
                           const void *body, size_t len)
{
	struct transfer_batch *b = arg;
	struct transfer *t = b->t;
	struct transfer_move *mv = b->mv;
	struct msg_status st = {0};

	if (status == 0)
		status =
		    msg_decode_status(t->mc, peer, MSG_HINT, body, len, &st);
	if (status == 0)
		status = st.status;
	msg_clear_status(&st);
	mv->inflight--;
	if (status == 0) {
		t->stats.batches_acked++;
		t->stats.keys_acked += b->keys;
		t->stats.bytes_acked += b->len;
	}
	/* After a stop, a restart or a cancel the batch belongs to a stream
	 * that is no more. */
	if (!t->stopped && !mv->gone && b->gen == mv->gen) {
		if (status != 0) {
			transfer_failed(t, mv, b, status);
		} else {
			mv->keys_sent += b->keys;
			mv->bytes_sent += b->bytes;
		}
		transfer_drive(t, mv, monotonic_ms());
	}
	free(b);
	transfer_release(t, mv);
}

/* Read the next batch of the stream and send it. 0 when it is on its
 * way or there was nothing to send; otherwise nothing more goes now
 * (the batch failed, or there was no memory to start it). */
static int transfer_send(struct transfer *t, struct transfer_move *mv,
                         const char *addr, uint64_t id)
{
	struct msg_hint_entry e[TRANSFER_BATCH_ITEMS];
	struct msg_hint m = {.target_id = id, .entries = e};
	struct store_scan_result res = {0};
	struct transfer_batch *b = calloc(1, sizeof(*b));
	uint32_t p = mv->ranges[mv->range];
	uint8_t *body = NULL;
	int rc = 0;

	/* Nothing read yet: the next drive tries again. */
	if (b == NULL)
		return RKV_ENOMEM;
	b->t = t;
	b->mv = mv;
	b->gen = mv->gen;
	b->seq = mv->seq++;
	b->range = mv->range;
	b->start = mv->pos;
	rc = store_scan(t->store, p, &mv->pos, TRANSFER_BATCH_ITEMS,
	                TRANSFER_BATCH_BYTES, transfer_collect, t, &res);
	if (rc == 0 && !res.more) {
		store_scan_pos_init(&mv->pos);
		mv->scan_done = ++mv->range == mv->nranges;
	}
	if (rc == 0 && t->nitems == 0) { /* an empty range */
		free(b);
		return 0;
	}
	snprintf(m.target, sizeof(m.target), "%s",
	         transfer_name(t, mv->covers[b->range].target));
	for (size_t i = 0; i < t->nitems; i++) {
		e[i].partition = p;
		e[i].key = t->items[i].key;
		e[i].klen = t->items[i].klen;
		e[i].obj = t->items[i].obj;
	}
	m.n = t->nitems;
	if (rc == 0)
		rc = msg_encode_hint(t->mc, &m, &body, &b->len);
	if (rc == 0)
		rc = rpc_call(t->rpc, addr, MSG_HINT, body, b->len,
		              TRANSFER_CALL_TIMEOUT_MS, transfer_acked, b);
	free(body);
	if (rc != 0) {
		transfer_failed(t, mv, b, rc);
		transfer_items_clear(t);
		free(b);
		return rc;
	}
	b->keys = res.items;
	b->bytes = res.bytes;
	t->tokens -= (int64_t)b->len;
	t->stats.batches_sent++;
	t->stats.keys_sent += res.items;
	t->stats.bytes_sent += b->len;
	mv->inflight++;
	mv->refs++;
	transfer_items_clear(t);
	return 0;
}

/* STREAMING: send batches while the window, the receiver of the range
 * being read and the bucket allow. */
static void transfer_fill(struct transfer *t, struct transfer_move *mv,
                          uint64_t now)
{
	const char *addr = NULL;
	uint64_t id = 0;

	while (!mv->scan_done && !mv->failed && !t->stopped &&
	       mv->inflight < TRANSFER_MAX_INFLIGHT &&
	       transfer_target(t, mv->covers[mv->range].target, &addr, &id)) {
		if (!transfer_tokens(t, now)) {
			uint64_t ms =
			    ((uint64_t)(-t->tokens) + 1) * 1000 / t->rate + 1;
			transfer_wake(t, ms < t->tick_ms ? ms : t->tick_ms);
			return;
		}
		if (transfer_send(t, mv, addr, id) != 0)
			return;
	}
}

/* The flip: Y has every object the ranges held, and every write to
 * them forwarded before the barrier. */
static void transfer_flip(struct transfer *t, struct transfer_move *mv,
                          uint64_t now)
{
	int rc = cluster_ring_flip(t->cluster, mv->partition);

	if (rc != 0) {
		transfer_warn(t, "cannot flip partition %" PRIu32 " to %s: %s",
		              mv->partition, mv->to, rkv_strerror(rc));
		return;
	}
	log_info("transfer: partition %" PRIu32 " handed to %s: %" PRIu64
	         " keys, %" PRIu64 " bytes in %.1f s",
	         mv->partition, mv->to, mv->keys_sent, mv->bytes_sent,
	         (double)(now - mv->start_ms) / 1000.0);
	t->stats.done++;
	transfer_slot_free(t, mv);
	t->pending--;
	t->active[mv->partition] = NULL;
	mv->state = TRANSFER_DONE;
	mv->done_ms = now;
	transfer_wake(t, 0); /* the slot is free for the next move */
}

/* Whether a receiver of the move still has hints waiting here (forwards
 * that could not be sent). */
static bool transfer_hinted(const struct transfer *t,
                            const struct transfer_move *mv)
{
	for (size_t i = 0; i < mv->nranges; i++) {
		if (store_hint_pending(
		        t->store, transfer_name(t, mv->covers[i].target)) > 0)
			return true;
	}
	return false;
}

/* The state machine of one move (see the top). QUEUED moves are started
 * by transfer_schedule, DONE ones expired by the tick. */
static void transfer_drive(struct transfer *t, struct transfer_move *mv,
                           uint64_t now)
{
	switch (mv->state) {
	case TRANSFER_QUEUED:
	case TRANSFER_DONE:
	case TRANSFER_NSTATES: return;
	case TRANSFER_BACKOFF:
		if (now < mv->retry_at)
			return;
		/* fall through */
	case TRANSFER_STREAMING:
	case TRANSFER_DRAINING: transfer_fill(t, mv, now); break;
	}
	if (mv->failed) {
		if (mv->inflight > 0)
			return;
		mv->failed = false;
		mv->range = mv->rewind_range;
		mv->pos = mv->rewind_pos;
		mv->scan_done = false;
		mv->barrier = false;
		mv->state = TRANSFER_BACKOFF;
		mv->retry_at = now + (mv->stale ? TRANSFER_STALE_RETRY_MS
		                                : TRANSFER_RETRY_MS);
		return;
	}
	mv->state = mv->scan_done ? TRANSFER_DRAINING : TRANSFER_STREAMING;
	if (mv->state != TRANSFER_DRAINING) {
		mv->barrier = false;
		return;
	}
	/* The barrier waits until an older one has cleared. */
	if (!mv->barrier && mv->forwards[mv->fwd_gen ^ 1] == 0) {
		mv->fwd_gen ^= 1;
		mv->barrier = true;
	}
	if (mv->barrier && mv->inflight == 0 &&
	    mv->forwards[mv->fwd_gen ^ 1] == 0 && !transfer_hinted(t, mv))
		transfer_flip(t, mv, now);
}

/* Hand free stream slots to queued moves, in partition order, skipping
 * those whose Y is down (they would hold a slot doing nothing). */
static void transfer_schedule(struct transfer *t, uint64_t now)
{
	for (uint32_t p = 0; p < t->q && t->streams < t->limit; p++) {
		struct transfer_move *mv = t->active[p];
		unsigned y = 0;
		if (mv == NULL || mv->state != TRANSFER_QUEUED ||
		    cluster_member_find(t->cluster, mv->to, &y) != 0 ||
		    !transfer_target(t, y, NULL, NULL))
			continue;
		transfer_stream_start(t, mv, now);
		transfer_drive(t, mv, now);
	}
}

/* --- forwards ------------------------------------------------------------- */

static void transfer_forward_done(struct transfer_forward *f)
{
	struct transfer *t = f->t;
	struct transfer_move *mv = f->mv;

	/* The last forward before the barrier: the flip may be due. */
	if (--mv->forwards[f->gen] == 0 && mv->barrier &&
	    f->gen != mv->fwd_gen && !mv->gone && !t->stopped)
		transfer_wake(t, 0);
	t->forwards--;
	dvv_free(f->obj);
	free(f);
	transfer_release(t, mv);
}

static void transfer_forward_hinted(int status, const struct dvv *obj,
                                    void *arg)
{
	struct transfer_forward *f = arg;
	(void)obj;

	if (status == 0)
		f->t->stats.forwards_hinted++;
	else {
		f->t->stats.forwards_lost++;
		transfer_warn(f->t,
		              "a write forwarded to %s could not be kept as a "
		              "hint: %s",
		              transfer_name(f->t, f->target),
		              rkv_strerror(status));
	}
	transfer_forward_done(f);
}

/* Y did not get it: hinted handoff will deliver it. */
static void transfer_forward_hint(struct transfer_forward *f)
{
	int rc = store_hint(f->t->store, transfer_name(f->t, f->target),
	                    f->partition, f->key, f->klen, f->obj,
	                    transfer_forward_hinted, f);

	if (rc != 0)
		transfer_forward_hinted(rc, NULL, f);
}

static void transfer_forward_acked(void *arg, int status,
                                   const struct msg_peer *peer,
                                   const void *body, size_t len)
{
	struct transfer_forward *f = arg;
	struct transfer *t = f->t;
	struct msg_status st = {0};

	t->fwd_inflight--;
	if (status == 0)
		status =
		    msg_decode_status(t->mc, peer, MSG_HINT, body, len, &st);
	if (status == 0)
		status = st.status;
	msg_clear_status(&st);
	if (status != 0) {
		transfer_forward_hint(f);
		return;
	}
	t->stats.forwards_acked++;
	transfer_forward_done(f);
}

static int transfer_forward_send(struct transfer *t, struct transfer_forward *f)
{
	struct msg_hint_entry e = {.partition = f->partition,
	                           .key = f->key,
	                           .klen = f->klen,
	                           .obj = f->obj};
	struct msg_hint m = {.entries = &e, .n = 1};
	const char *addr = NULL;
	uint8_t *body = NULL;
	size_t len = 0;
	int rc = 0;

	if (t->stopped || t->fwd_inflight >= TRANSFER_MAX_FORWARDS ||
	    !transfer_target(t, f->target, &addr, &m.target_id))
		return RKV_EUNAVAIL;
	snprintf(m.target, sizeof(m.target), "%s", transfer_name(t, f->target));
	rc = msg_encode_hint(t->mc, &m, &body, &len);
	if (rc == 0)
		rc = rpc_call(t->rpc, addr, MSG_HINT, body, len,
		              TRANSFER_CALL_TIMEOUT_MS, transfer_forward_acked,
		              f);
	free(body);
	if (rc == 0) {
		t->fwd_inflight++;
		t->stats.forwards_sent++;
	}
	return rc;
}

static void transfer_forward(struct transfer *t, struct transfer_move *mv,
                             unsigned target, uint32_t p, const void *key,
                             size_t klen, const struct dvv *obj)
{
	struct transfer_forward *f = malloc(sizeof(*f) + klen);

	if (f != NULL && (f->obj = dvv_dup(obj)) == NULL) {
		free(f);
		f = NULL;
	}
	if (f == NULL) {
		t->stats.forwards_lost++;
		transfer_warn(t, "out of memory forwarding a write to %s",
		              transfer_name(t, target));
		return;
	}
	f->t = t;
	f->mv = mv;
	f->gen = mv->fwd_gen;
	f->target = target;
	f->partition = p;
	f->klen = klen;
	memcpy(f->key, key, klen);
	mv->refs++;
	mv->forwards[f->gen]++;
	t->forwards++;
	if (transfer_forward_send(t, f) != 0)
		transfer_forward_hint(f);
}

/* store_observer_fn: every committed object of the node. */
static void transfer_observe(void *arg, uint32_t partition, const void *key,
                             size_t klen, const struct dvv *obj)
{
	struct transfer *t = arg;

	if (partition >= t->q)
		return;
	t->clean[partition] = false;
	for (struct transfer_cover *c = t->cover[partition]; c != NULL;
	     c = c->next)
		transfer_forward(t, c->mv, c->target, partition, key, klen,
		                 obj);
}

/* --- dropping ------------------------------------------------------------- */

/* Delete key partitions that have not been ours for grace_ms, at most
 * TRANSFER_DROP_ITEMS records (or partitions looked at) per tick. */
static void transfer_drop(struct transfer *t, uint64_t now)
{
	size_t budget = TRANSFER_DROP_ITEMS;

	if (!ring_claimed(cluster_ring(t->cluster)) ||
	    cluster_n(t->cluster) == 0 || now - t->start_ms < t->grace_ms)
		return;
	for (uint32_t i = 0; i < t->q && budget > 0; i++) {
		uint32_t p = (t->drop_next + i) % t->q;
		size_t deleted = 0;
		bool more = false;
		if (t->clean[p] || t->foreign_ms[p] == 0 ||
		    now - t->foreign_ms[p] < t->grace_ms || t->cover[p] != NULL)
			continue;
		if (store_partition_delete(t->store, p, budget, &deleted,
		                           &more) != 0)
			return; /* logged by the store; tried again next tick */
		if (p != t->drop_next)
			t->drop_records = 0;
		t->drop_next = p;
		t->drop_records += deleted;
		t->stats.records_dropped += deleted;
		budget -= deleted > 0 ? deleted : 1;
		if (more)
			return;
		t->clean[p] = true;
		if (t->drop_records > 0) {
			t->stats.partitions_dropped++;
			log_info("transfer: dropped our copy of key partition "
			         "%" PRIu32 " (%" PRIu64 " records)",
			         p, t->drop_records);
			t->drop_records = 0;
		}
	}
}

/* --- the tick ------------------------------------------------------------- */

/* Every stream looks at its state again. The slot driven first takes
 * turns, or the one always first would take every refill of the bucket
 * and the others would starve. */
static void transfer_drive_streams(struct transfer *t, uint64_t now)
{
	unsigned first = t->rr++ % t->limit;

	for (unsigned i = 0; i < t->limit; i++) {
		struct transfer_move *mv = t->slots[(first + i) % t->limit];
		if (mv != NULL)
			transfer_drive(t, mv, now);
	}
}

/* DONE moves past their grace stop forwarding. */
static void transfer_expire(struct transfer *t, uint64_t now)
{
	for (struct transfer_move *mv = t->moves, *next = NULL; mv != NULL;
	     mv = next) {
		next = mv->next;
		if (!mv->gone && mv->state == TRANSFER_DONE &&
		    now - mv->done_ms >= t->grace_ms)
			transfer_move_drop(t, mv);
	}
}

static void transfer_tick(evutil_socket_t fd, short what, void *arg)
{
	struct transfer *t = arg;
	uint64_t now = monotonic_ms();
	(void)fd;
	(void)what;

	if (!t->synced || t->ring_version != cluster_ring_version(t->cluster))
		transfer_sync(t, now);
	transfer_drive_streams(t, now);
	transfer_expire(t, now);
	transfer_schedule(t, now);
	transfer_drop(t, now);
}

static void transfer_woken(evutil_socket_t fd, short what, void *arg)
{
	struct transfer *t = arg;
	uint64_t now = monotonic_ms();
	(void)fd;
	(void)what;

	transfer_drive_streams(t, now);
	transfer_schedule(t, now);
}

/* --- life cycle ----------------------------------------------------------- */

int transfer_new(struct transfer **out, const struct transfer_options *o)
{
	struct transfer *t = NULL;

	*out = NULL;
	if (o->base == NULL || o->store == NULL || o->cluster == NULL ||
	    o->rpc == NULL || o->mc == NULL || o->limit < 1 ||
	    o->rate_bytes < 1 || o->tick_ms < TRANSFER_MIN_TICK_MS ||
	    o->tick_ms > TRANSFER_MAX_TICK_MS)
		return RKV_EINVAL;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return RKV_ENOMEM;
	t->base = o->base;
	t->store = o->store;
	t->cluster = o->cluster;
	t->rpc = o->rpc;
	t->mc = o->mc;
	t->limit = o->limit;
	t->rate = o->rate_bytes;
	t->grace_ms = o->grace_ms;
	t->tick_ms = o->tick_ms;
	t->q = cluster_ring_size(o->cluster);
	t->slots = calloc(t->limit, sizeof(*t->slots));
	t->active = calloc(t->q, sizeof(*t->active));
	t->cover = calloc(t->q, sizeof(*t->cover));
	t->foreign_ms = calloc(t->q, sizeof(*t->foreign_ms));
	t->clean = calloc(t->q, sizeof(*t->clean));
	t->scratch = calloc((size_t)t->q * cluster_n_val(t->cluster),
	                    sizeof(*t->scratch));
	t->scratch_to = calloc((size_t)t->q * cluster_n_val(t->cluster),
	                       sizeof(*t->scratch_to));
	t->timer = event_new(o->base, -1, EV_PERSIST, transfer_tick, t);
	t->wake = evtimer_new(o->base, transfer_woken, t);
	if (t->slots == NULL || t->active == NULL || t->cover == NULL ||
	    t->foreign_ms == NULL || t->clean == NULL || t->scratch == NULL ||
	    t->scratch_to == NULL || t->timer == NULL || t->wake == NULL) {
		transfer_free(t);
		return RKV_ENOMEM;
	}
	store_set_observer(o->store, transfer_observe, t);
	*out = t;
	return 0;
}

int transfer_start(struct transfer *t)
{
	struct timeval tv = ms_timeval(t->tick_ms);

	t->stopped = false;
	t->start_ms = monotonic_ms();
	t->tokens_ms = t->start_ms;
	return event_add(t->timer, &tv) == 0 ? 0 : RKV_ENOMEM;
}

void transfer_stop(struct transfer *t)
{
	if (t == NULL || t->stopped)
		return;
	t->stopped = true;
	event_del(t->timer);
	event_del(t->wake);
}

void transfer_free(struct transfer *t)
{
	if (t == NULL)
		return;
	while (t->moves != NULL)
		transfer_move_free(t, t->moves);
	if (t->timer != NULL)
		event_free(t->timer);
	if (t->wake != NULL)
		event_free(t->wake);
	free(t->slots);
	free(t->active);
	free(t->cover);
	free(t->foreign_ms);
	free(t->clean);
	free(t->scratch);
	free(t->scratch_to);
	free(t);
}

/* --- reporting ------------------------------------------------------------ */

bool transfer_busy(const struct transfer *t)
{
	return t->pending > 0 || t->forwards > 0;
}

/* The progress fields of one of our moves (docs/http-api.md). */
static void transfer_progress_json(const struct transfer_move *mv, uint64_t now,
                                   struct evbuffer *out)
{
	uint64_t ms = now - mv->start_ms;
	uint64_t rate = 0, left = 0;

	evbuffer_add_printf(
	    out, ",\"keys_sent\":%" PRIu64 ",\"bytes_sent\":%" PRIu64,
	    mv->keys_sent, mv->bytes_sent);
	if (mv->state == TRANSFER_QUEUED || !mv->totals) {
		evbuffer_add_printf(out, ",\"keys_total\":null,\"bytes_total\":"
		                         "null,\"rate_bytes_per_s\":null,"
		                         "\"eta_s\":null");
		return;
	}
	rate = mv->bytes_sent * 1000 / (ms > 0 ? ms : 1);
	left = mv->bytes_total > mv->bytes_sent
	           ? mv->bytes_total - mv->bytes_sent
	           : 0;
	evbuffer_add_printf(out,
	                    ",\"keys_total\":%" PRIu64
	                    ",\"bytes_total\":%" PRIu64
	                    ",\"rate_bytes_per_s\":%" PRIu64 ",\"eta_s\":",
	                    mv->keys_total, mv->bytes_total, rate);
	if (left == 0 || mv->state == TRANSFER_DRAINING)
		evbuffer_add_printf(out, "0");
	else if (rate == 0)
		evbuffer_add_printf(out, "null");
	else
		evbuffer_add_printf(out, "%.1f", (double)left / (double)rate);
}

void transfer_json(const struct transfer *t, struct evbuffer *out)
{
	const struct ring *r = cluster_ring(t->cluster);
	const char *self = cluster_self_name(t->cluster);
	uint32_t q =
	    ring_partition_count(r) < t->q ? ring_partition_count(r) : t->q;
	uint64_t now = monotonic_ms();
	bool first = true;

	evbuffer_add_printf(out, "{\"node\":");
	json_add_string(out, self);
	evbuffer_add_printf(out, ",\"pending\":%" PRIu32 ",\"limit\":%u",
	                    ring_pending(r), t->limit);
	evbuffer_add_printf(out, ",\"transfers\":[");
	for (uint32_t p = 0; p < q; p++) {
		const char *from = ring_node_name(r, ring_owner(r, p));
		const char *to = ring_node_name(r, ring_next_owner(r, p));
		const struct transfer_move *mv = t->active[p];
		if (to == NULL)
			continue;
		if (mv != NULL && strcmp(mv->to, to) != 0)
			mv = NULL; /* the ring moved on since the last tick */
		evbuffer_add_printf(out,
		                    "%s{\"partition\":%" PRIu32 ",\"from\":",
		                    first ? "" : ",", p);
		first = false;
		json_add_string(out, from);
		evbuffer_add_printf(out, ",\"to\":");
		json_add_string(out, to);
		if (mv != NULL) {
			evbuffer_add_printf(out, ",\"state\":\"%s\"",
			                    transfer_state_names[mv->state]);
			transfer_progress_json(mv, now, out);
		} else if (from != NULL && strcmp(from, self) == 0) {
			/* ours, picked up at the next tick */
			evbuffer_add_printf(
			    out,
			    ",\"state\":\"queued\",\"keys_sent\":0,"
			    "\"bytes_sent\":0,\"keys_total\":null,"
			    "\"bytes_total\":null,\"rate_bytes_per_s\":null,"
			    "\"eta_s\":null");
		} else {
			evbuffer_add_printf(
			    out,
			    ",\"state\":\"remote\",\"keys_sent\":null,"
			    "\"bytes_sent\":null,\"keys_total\":null,"
			    "\"bytes_total\":null,\"rate_bytes_per_s\":null,"
			    "\"eta_s\":null");
		}
		evbuffer_add_printf(out, "}");
	}
	evbuffer_add_printf(out, "]}\n");
}

void transfer_stats_json(const struct transfer *t, struct evbuffer *out)
{
	const struct transfer_stats *s = &t->stats;
	uint64_t n[TRANSFER_NSTATES] = {0};

	for (const struct transfer_move *mv = t->moves; mv != NULL;
	     mv = mv->next)
		n[mv->state] += !mv->gone;
	evbuffer_add_printf(
	    out,
	    "\"transfer\":{\"started\":%" PRIu64 ",\"done\":%" PRIu64
	    ",\"restarted\":%" PRIu64 ",\"cancelled\":%" PRIu64
	    ",\"batches_sent\":%" PRIu64 ",\"batches_acked\":%" PRIu64
	    ",\"batches_failed\":%" PRIu64 ",\"keys_sent\":%" PRIu64
	    ",\"keys_acked\":%" PRIu64 ",\"bytes_sent\":%" PRIu64
	    ",\"bytes_acked\":%" PRIu64 ",\"forwards_sent\":%" PRIu64
	    ",\"forwards_acked\":%" PRIu64 ",\"forwards_hinted\":%" PRIu64
	    ",\"forwards_lost\":%" PRIu64 ",\"partitions_dropped\":%" PRIu64
	    ",\"records_dropped\":%" PRIu64 ",\"queued\":%" PRIu64
	    ",\"streaming\":%" PRIu64 ",\"backoff\":%" PRIu64
	    ",\"draining\":%" PRIu64 ",\"forwards_inflight\":%" PRIu64 "}",
	    s->started, s->done, s->restarted, s->cancelled, s->batches_sent,
	    s->batches_acked, s->batches_failed, s->keys_sent, s->keys_acked,
	    s->bytes_sent, s->bytes_acked, s->forwards_sent, s->forwards_acked,
	    s->forwards_hinted, s->forwards_lost, s->partitions_dropped,
	    s->records_dropped, n[TRANSFER_QUEUED], n[TRANSFER_STREAMING],
	    n[TRANSFER_BACKOFF], n[TRANSFER_DRAINING], t->fwd_inflight);
}
