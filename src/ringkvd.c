/* ringkvd.c -- the ringkv node daemon: configuration, start-up, shutdown.
 *
 * Start-up order matters: the event base gets its priorities before any
 * event exists (the store's group commit runs at the lowest one); the
 * store takes the data directory's lock before anything listens, so a
 * second node on the same directory fails before touching a port; the
 * internode listener is bound before the cluster view is built, because
 * the node's own name is its bound rpc address; gossip rounds start once
 * the view and the coordinator exist, and hinted handoff's ticks with
 * them; the "ready" line is printed only once requests are accepted,
 * because scripts and tests wait for it.
 *
 * Shutdown (SIGTERM or SIGINT): stop accepting, let in-flight requests
 * finish and answer them, give replies a moment to flush, then tear down
 * in the order coord.h, gossip_io.h and handoff.h ask for (stop gossip,
 * which stores the member table and ring a last time, stop the
 * coordinator and handoff, close the transport -- whose last callbacks
 * still find gossip, coordinator and handoff -- close the store, which
 * syncs and runs the last hint removals) and exit 0. A second signal,
 * or a drain that takes longer than SHUTDOWN_DEADLINE_S, exits at once;
 * acknowledged writes are durable either way.
 */
#include "cluster.h"
#include "codec.h"
#include "conf.h"
#include "coord.h"
#include "gossip_io.h"
#include "admin.h"
#include "handoff.h"
#include "http_api.h"
#include "logging.h"
#include "msg.h"
#include "rpc.h"
#include "status.h"
#include "store.h"

#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHUTDOWN_DEADLINE_S 10
/* Time left to the last replies to leave the socket buffers. */
#define SHUTDOWN_FLUSH_MS 100

struct node {
	struct conf conf;
	struct event_base *base;
	struct codec *codec;
	struct store *store;
	struct msg_codec *mc;
	struct rpc *rpc;
	struct cluster *cluster;
	struct coord *coord;
	struct gossip_io *gossip;
	struct handoff *handoff;
	struct transfer *transfer;
	struct admin *admin;
	struct http_api *api;
	struct event *sigterm, *sigint;
	bool stopping;
};

static void node_drained(void *arg)
{
	struct node *n = arg;
	struct timeval flush = {0, SHUTDOWN_FLUSH_MS * 1000};
	event_base_loopexit(n->base, &flush);
}

/* Stop accepting, finish what is in flight, then leave the loop: SIGTERM,
 * and a node that has handed off everything after a leave. */
static void node_shutdown(void *arg)
{
	struct node *n = arg;
	struct timeval deadline = {SHUTDOWN_DEADLINE_S, 0};

	n->stopping = true;
	event_base_loopexit(n->base, &deadline);
	http_api_stop(n->api, node_drained, n);
}

static void node_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct node *n = arg;
	(void)what;

	if (n->stopping) {
		log_warn("signal %d again: stopping now", (int)sig);
		event_base_loopbreak(n->base);
		return;
	}
	log_info("signal %d: draining and stopping", (int)sig);
	node_shutdown(n);
}

/* The transport exists before the coordinator that serves its requests;
 * no request can arrive before the loop runs, when both exist. */
static void node_on_request(void *arg, const struct rpc_reply_to *to,
                            const struct msg_peer *peer,
                            const struct msg_hello *from, const void *body,
                            size_t len)
{
	struct node *n = arg;
	if (to->type == MSG_GOSSIP)
		gossip_io_on_request(n->gossip, to, peer, from, body, len);
	else if (to->type == MSG_HINT)
		handoff_on_request(n->handoff, to, peer, from, body, len);
	else
		coord_on_request(n->coord, to, peer, from, body, len);
}

static int node_start_cluster(struct node *n)
{
	char rpc_bound[128];
	struct rpc_options ro = {
	    .cluster_name = n->conf.cluster_name,
	    .listen_addr = n->conf.rpc_listen,
	    .node_id = store_node_id(n->store),
	    .on_request = node_on_request,
	    .arg = n,
	};
	int rc;

	n->mc = msg_codec_new();
	if (n->mc == NULL)
		return RKV_ENOMEM;
	ro.codec = n->mc;
	/* The name defaults to the rpc address, known once it is bound. */
	ro.name = n->conf.name[0] ? n->conf.name : n->conf.rpc_listen;
	rc = rpc_new(&n->rpc, n->base, &ro, rpc_bound, sizeof(rpc_bound));
	if (rc != 0) {
		log_error("cannot serve internode rpc on %s: %s",
		          n->conf.rpc_listen, rkv_strerror(rc));
		return rc;
	}
	if (n->conf.name[0] == '\0')
		snprintf(n->conf.name, sizeof(n->conf.name), "%s", rpc_bound);
	snprintf(n->conf.rpc_listen, sizeof(n->conf.rpc_listen), "%s",
	         rpc_bound);
	rc = cluster_open(&n->cluster, &n->conf, rpc_bound, n->store, n->codec,
	                  n->mc);
	if (rc != 0) {
		log_error("cannot form the cluster view: %s", rkv_strerror(rc));
		return rc;
	}
	n->coord = coord_new(n->base, n->store, n->cluster, n->rpc, n->mc);
	if (n->coord == NULL)
		return RKV_ENOMEM;
	struct gossip_io_options go = {
	    .base = n->base,
	    .cluster = n->cluster,
	    .rpc = n->rpc,
	    .mc = n->mc,
	    .codec = n->codec,
	    .cluster_name = n->conf.cluster_name,
	    .interval_ms = (unsigned)n->conf.gossip_interval_ms,
	};
	rc = gossip_io_new(&n->gossip, &go);
	if (rc == 0)
		rc = gossip_io_start(n->gossip);
	if (rc != 0) {
		log_error("cannot start gossip: %s", rkv_strerror(rc));
		return rc;
	}
	/* Handoff ticks with gossip (conf keeps the interval at or above
	 * HANDOFF_MIN_TICK_MS): a target is looked at as soon as a round may
	 * have seen it up. */
	struct handoff_options ho = {
	    .base = n->base,
	    .store = n->store,
	    .cluster = n->cluster,
	    .rpc = n->rpc,
	    .mc = n->mc,
	    .tick_ms = n->conf.gossip_interval_ms > HANDOFF_MAX_TICK_MS
	                   ? HANDOFF_MAX_TICK_MS
	                   : (unsigned)n->conf.gossip_interval_ms,
	};
	rc = handoff_new(&n->handoff, &ho);
	if (rc == 0)
		rc = handoff_start(n->handoff);
	if (rc != 0) {
		log_error("cannot start hinted handoff: %s", rkv_strerror(rc));
		return rc;
	}
	struct transfer_options to = {
	    .base = n->base,
	    .store = n->store,
	    .cluster = n->cluster,
	    .rpc = n->rpc,
	    .mc = n->mc,
	    .limit = (unsigned)n->conf.transfer_limit,
	    .rate_bytes = n->conf.transfer_rate * 1000000u,
	    .grace_ms = n->conf.transfer_grace_ms,
	    .tick_ms = ho.tick_ms < 100 ? ho.tick_ms : 100,
	};
	rc = transfer_new(&n->transfer, &to);
	if (rc == 0)
		rc = transfer_start(n->transfer);
	if (rc != 0) {
		log_error("cannot start transfers: %s", rkv_strerror(rc));
		return rc;
	}
	struct admin_options ao = {
	    .base = n->base,
	    .conf = &n->conf,
	    .cluster = n->cluster,
	    .store = n->store,
	    .transfer = n->transfer,
	    .gossip = n->gossip,
	    .shutdown = node_shutdown,
	    .shutdown_arg = n,
	};
	rc = admin_new(&n->admin, &ao);
	if (rc == 0)
		rc = admin_start(n->admin);
	if (rc != 0)
		log_error("cannot start the admin side: %s", rkv_strerror(rc));
	return rc;
}

/* The one log line for a store that could not be opened or compacted
 * (what: "open", "compact"). */
static void node_store_failed(const struct conf *c, const char *what, int rc)
{
	if (rc == RKV_ELOCKED)
		log_error("data directory %s is in use by another ringkvd",
		          c->data_dir);
	else
		log_error("cannot %s the store in %s: %s", what, c->data_dir,
		          rkv_strerror(rc));
}

static int node_start(struct node *n)
{
	struct event_config *cfg = event_config_new();
	struct store_options so = {
	    .dir = n->conf.data_dir,
	    .sync_batch = n->conf.sync == CONF_SYNC_BATCH,
	    .sync_interval_ms = (unsigned)n->conf.sync_interval_ms,
	    .checkpoint_ms = (unsigned)n->conf.checkpoint_interval_ms,
	    .compact_check_ms = (unsigned)n->conf.compact_check_ms,
	    .compact_min_bytes = n->conf.compact_min_bytes,
	    .compact_ratio = n->conf.compact_ratio,
	};
	char bound[128];
	int rc;

	if (cfg == NULL)
		return RKV_ENOMEM;
	/* evhttp flips read and write interest several times per request;
	 * the changelist folds those into one epoll_ctl per descriptor and
	 * loop turn (unsafe only with dup()ed descriptors, which we never
	 * hand to libevent). */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	n->base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (n->base == NULL ||
	    event_base_priority_init(n->base, RKV_EV_PRIORITIES) != 0)
		return RKV_ENOMEM;
	n->codec = codec_new();
	if (n->codec == NULL)
		return RKV_ENOMEM;
	rc = store_open(&n->store, n->base, n->codec, &so);
	if (rc != 0) {
		node_store_failed(&n->conf, "open", rc);
		return rc;
	}
	rc = node_start_cluster(n);
	if (rc != 0)
		return rc;
	struct http_api_deps deps = {
	    .conf = &n->conf,
	    .store = n->store,
	    .codec = n->codec,
	    .coord = n->coord,
	    .cluster = n->cluster,
	    .rpc = n->rpc,
	    .handoff = n->handoff,
	    .transfer = n->transfer,
	    .admin = n->admin,
	};
	n->api = http_api_new(n->base, &deps);
	if (n->api == NULL)
		return RKV_ENOMEM;
	rc = http_api_start(n->api, n->conf.http_listen, bound, sizeof(bound));
	if (rc != 0) {
		log_error("cannot serve HTTP on %s: %s", n->conf.http_listen,
		          rkv_strerror(rc));
		return rc;
	}
	/* Gossiped, so `ringkv status` at any node reaches us (errors are
	 * logged by the cluster). */
	rc = cluster_set_self_http(n->cluster, bound);
	if (rc != 0)
		return rc;
	n->sigterm = evsignal_new(n->base, SIGTERM, node_on_signal, n);
	n->sigint = evsignal_new(n->base, SIGINT, node_on_signal, n);
	if (n->sigterm == NULL || n->sigint == NULL ||
	    evsignal_add(n->sigterm, NULL) != 0 ||
	    evsignal_add(n->sigint, NULL) != 0)
		return RKV_ENOMEM;
	log_info("node %s (%016llx) serving data in %s", n->conf.name,
	         (unsigned long long)store_node_id(n->store), n->conf.data_dir);
	fprintf(stderr, "ringkvd ready http=%s rpc=%s\n", bound,
	        n->conf.rpc_listen);
	fflush(stderr);
	return 0;
}

static void node_stop(struct node *n)
{
	if (n->sigterm != NULL)
		event_free(n->sigterm);
	if (n->sigint != NULL)
		event_free(n->sigint);
	gossip_io_stop(n->gossip);
	if (n->coord != NULL)
		coord_stop(n->coord);
	handoff_stop(n->handoff);
	transfer_stop(n->transfer);
	admin_stop(n->admin);
	rpc_free(n->rpc);
	store_close(n->store);
	gossip_io_free(n->gossip);
	admin_free(n->admin);
	coord_free(n->coord);
	handoff_free(n->handoff);
	transfer_free(n->transfer);
	cluster_free(n->cluster);
	http_api_free(n->api);
	msg_codec_free(n->mc);
	codec_free(n->codec);
	if (n->base != NULL)
		event_base_free(n->base);
}

/* ringkvd --compact: the offline compaction of a stopped node's store. */
static int node_compact(const struct conf *c)
{
	struct store_compaction sc;
	int rc = store_compact(c->data_dir, &sc);

	if (rc != 0) {
		node_store_failed(c, "compact", rc);
		return 1;
	}
	printf("compacted %s: %" PRIu64 " -> %" PRIu64 " bytes\n", c->data_dir,
	       sc.before, sc.after);
	return 0;
}

int main(int argc, char **argv)
{
	static struct node n; /* large (conf strings): keep it off the stack */
	enum conf_action action;
	char err[CONF_ERR_MAX];
	int rc;

	if (conf_parse_args(&n.conf, argc, argv, &action, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "ringkvd: %s\n", err);
		return 2;
	}
	if (action == CONF_HELP) {
		conf_print_help(stdout, "ringkvd");
		return 0;
	}
	if (action == CONF_SAMPLE) {
		conf_write_sample(stdout);
		return 0;
	}
	log_set_level((enum log_level)n.conf.log_level);
	if (action == CONF_COMPACT)
		return node_compact(&n.conf);
	log_route_libevent();
	/* A peer that closes early must cost a write error, not the process. */
	signal(SIGPIPE, SIG_IGN);

	rc = node_start(&n);
	if (rc == 0) {
		event_base_dispatch(n.base);
		log_info("stopped");
	}
	node_stop(&n);
	return rc == 0 ? 0 : 1;
}
