/* http_api.c -- the HTTP front door (see http_api.h).
 *
 * A request's life: evhttp parses it and calls api_route(); the route
 * validates everything it can before anything is queued (key length, body
 * size, parameters, the X-Context header), so a refused request changes
 * nothing. Reads are answered at once from the store. Writes are queued to
 * the store's group commit and answered from its callback, after the
 * commit (and, with sync = batch, the fsync) that made them durable: an
 * acknowledged write is never lost.
 *
 * While a write waits, its client may disconnect. evhttp then detaches the
 * request from the dead connection instead of freeing it, and frees it when
 * we send the reply, so the pending pointer stays valid (libevent's
 * evhttp_connection_incoming_fail keeps requests the user still owns).
 */
#include "http_api.h"

#include "coord.h"
#include "histogram.h"
#include "logging.h"
#include "status.h"

#include "ring/hash.h"
#include "ring/rng.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <xxhash.h>

/* evhttp defaults to unlimited headers and 50 s timeouts; bound both. */
#define API_MAX_HEADERS_BYTES 65536 /* room for CODEC_MAX_CONTEXT_TEXT */
#define API_IO_TIMEOUT_S      30
/* Bodies a little over the value limit still reach us so the client gets
 * our JSON 413; far larger ones are cut off by evhttp with its own 413. */
#define API_BODY_SLACK     4096
#define API_MAX_TIMEOUT_MS 600000

/* A value stored without a Content-Type, or with this one, is stored with
 * an empty one and served with this one (RFC 9110, 8.3): the 25 bytes a
 * record would spend on it are an eighth of a small record. */
#define API_DEFAULT_CONTENT_TYPE "application/octet-stream"

/* Operations counted in /stats. */
#define API_OP_TABLE(X)                                                        \
	X(API_OP_GET, "get")                                                   \
	X(API_OP_PUT, "put")                                                   \
	X(API_OP_DELETE, "delete")                                             \
	X(API_OP_OTHER, "other")

enum api_op {
#define API_OP_ENUM(name, text) name,
	API_OP_TABLE(API_OP_ENUM)
#undef API_OP_ENUM
	    API_OP_COUNT
};

static const char *const api_op_names[] = {
#define API_OP_NAME(name, text) text,
    API_OP_TABLE(API_OP_NAME)
#undef API_OP_NAME
};

/* Response statuses counted one by one in /stats; others count as "other". */
static const int api_counted_statuses[] = {200, 204, 300, 400, 404,
                                           405, 409, 413, 500, 503};
#define API_NSTATUS (sizeof(api_counted_statuses) / sizeof(int))

/* /stats lists this many of the partitions this node coordinated most
 * requests for: how a skewed load lands on the ring. */
#define API_HOT_PARTITIONS 8

struct api_stats {
	uint64_t requests;
	uint64_t by_op[API_OP_COUNT];
	uint64_t by_status[API_NSTATUS + 1]; /* last: any other status */
	struct histogram latency_us[API_OP_COUNT];
	uint64_t *partition_ops; /* ring_size counters of /kv requests */
};

struct http_api {
	struct event_base *base;
	struct http_api_deps d;
	const struct conf *conf; /* d.conf, used everywhere */
	struct evhttp *http;
	struct evhttp_bound_socket *listener;
	struct rng rng;     /* multipart boundaries */
	unsigned in_flight; /* requests waiting for the coordinator */
	void (*drained)(void *arg);
	void *drained_arg;
	struct api_stats stats;
};

/* One request between its arrival and its reply: on the stack while it is
 * routed, copied to the heap when it waits for the coordinator. */
struct api_req {
	struct http_api *api;
	struct evhttp_request *req;
	enum api_op op;
	uint64_t start_us;
	char *key; /* URL-decoded, malloc'ed */
	size_t klen;
};

/* Parameters of a /kv request. Quorum sizes are 0 for "quorum" (resolved
 * against n_val by the layer that knows the replicas). */
struct kv_params {
	unsigned r, w;
	unsigned pw; /* primaries that must ack a write; 0 = none */
	unsigned timeout_ms;
	bool local; /* replica=local: this node's copy only */
};

static uint64_t api_now_us(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static void api_count(struct http_api *api, const struct api_req *ar, int code)
{
	size_t i = 0;
	while (i < API_NSTATUS && api_counted_statuses[i] != code)
		i++;
	api->stats.requests++;
	api->stats.by_op[ar->op]++;
	api->stats.by_status[i]++;
	histogram_record(&api->stats.latency_us[ar->op],
	                 api_now_us() - ar->start_us);
}

static void api_send(struct api_req *ar, int code, const char *reason,
                     struct evbuffer *body)
{
	api_count(ar->api, ar, code);
	evhttp_send_reply(ar->req, code, reason, body);
}

/* The reason phrase evhttp needs next to each status we send. */
static const char *api_reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 204: return "No Content";
	case 300: return "Multiple Choices";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* api_error -- a JSON error reply. `detail` is either NULL or a JSON
 * fragment of further members (",\"header\":\"X-Context\""). */
static void api_error(struct api_req *ar, int http_code, const char *msg,
                      const char *detail)
{
	struct evbuffer *body = evbuffer_new();
	struct evkeyvalq *out = evhttp_request_get_output_headers(ar->req);

	evhttp_add_header(out, "Content-Type", "application/json");
	if (body != NULL)
		evbuffer_add_printf(body, "{\"error\":\"%s\"%s}\n", msg,
		                    detail ? detail : "");
	api_send(ar, http_code, api_reason(http_code), body);
	if (body != NULL)
		evbuffer_free(body);
}

static void api_status_error(struct api_req *ar, int status)
{
	api_error(ar, rkv_status_http(status), rkv_strerror(status), NULL);
}

/* --- parameters ------------------------------------------------------- */

/* "one", "quorum", "all" or 1..n_val; quorum is returned as 0. "all"
 * means every replica the key has, which is fewer than n_val while the
 * cluster has fewer members. */
static int kv_parse_quorum(const char *text, unsigned n_val, unsigned all,
                           unsigned *out)
{
	char *end;
	if (strcmp(text, "quorum") == 0) {
		*out = 0;
		return 0;
	}
	if (strcmp(text, "one") == 0) {
		*out = 1;
		return 0;
	}
	if (strcmp(text, "all") == 0) {
		*out = all;
		return 0;
	}
	unsigned long v = strtoul(text, &end, 10);
	if (end == text || *end != '\0' || text[0] == '-' || v < 1 || v > n_val)
		return RKV_EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* pw: "0", "one", "quorum", "all" or 0..n_val -- a count of primaries,
 * so "quorum" is resolved here, against the replicas the key has. */
static int kv_parse_pw(const char *text, unsigned n_val, unsigned all,
                       unsigned *out)
{
	if (strcmp(text, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (kv_parse_quorum(text, n_val, all, out) != 0)
		return RKV_EINVAL;
	if (*out == 0) /* "quorum" */
		*out = all / 2 + 1;
	return 0;
}

/* Fills *p from the query string; on error writes the offending
 * parameter's name into bad. */
static int kv_parse_params(struct http_api *api, struct evhttp_request *req,
                           struct kv_params *p, const char **bad)
{
	const char *query =
	    evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq q;
	int rc = 0;
	unsigned n_val = (unsigned)api->conf->n_val;
	/* A joining node knows no replicas yet: "all" then asks for n_val,
	 * which it cannot reach, rather than for none. */
	unsigned all =
	    cluster_n(api->d.cluster) ? cluster_n(api->d.cluster) : n_val;

	memset(p, 0, sizeof(*p));
	p->timeout_ms = 2000;
	if (query == NULL)
		return 0;
	/* evhttp_parse_query_str initialises q, and empties it on failure. */
	if (evhttp_parse_query_str(query, &q) != 0) {
		*bad = "query";
		return RKV_EINVAL;
	}
	for (struct evkeyval *kv = q.tqh_first; kv && rc == 0;
	     kv = kv->next.tqe_next) {
		*bad = kv->key;
		if (strcmp(kv->key, "r") == 0) {
			rc = kv_parse_quorum(kv->value, n_val, all, &p->r);
		} else if (strcmp(kv->key, "w") == 0) {
			rc = kv_parse_quorum(kv->value, n_val, all, &p->w);
		} else if (strcmp(kv->key, "pw") == 0) {
			rc = kv_parse_pw(kv->value, n_val, all, &p->pw);
		} else if (strcmp(kv->key, "timeout") == 0) {
			char *end;
			unsigned long t = strtoul(kv->value, &end, 10);
			rc = (end == kv->value || *end || kv->value[0] == '-' ||
			      t < 1 || t > API_MAX_TIMEOUT_MS)
			         ? RKV_EINVAL
			         : 0;
			p->timeout_ms = (unsigned)t;
		} else if (strcmp(kv->key, "replica") == 0) {
			rc = strcmp(kv->value, "local") == 0 ? 0 : RKV_EINVAL;
			p->local = true;
		} else {
			rc = RKV_EINVAL;
		}
	}
	/* *bad points into q, which is freed below: copy what we report. */
	if (rc != 0) {
		static const char *const known[] = {"r", "w", "pw", "timeout",
		                                    "replica"};
		const char *name = "unknown";
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (strcmp(*bad, known[i]) == 0)
				name = known[i];
		*bad = name;
	}
	evhttp_clear_headers(&q);
	return rc;
}

/* --- responses -------------------------------------------------------- */

/* Value metadata headers are written by hand: strftime and snprintf
 * cost a GET more instructions than its store read. */
#define API_ETAG_SIZE 19 /* "16 hex digits" and the NUL */
#define API_DATE_SIZE 30 /* "Sun, 06 Nov 1994 08:49:37 GMT" and the NUL */

static char *api_put_digits(char *p, unsigned v, int digits)
{
	for (int i = digits - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + digits;
}

static char *api_put_chars(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

/* RFC 7231's IMF-fixdate of a value's timestamp. One past year 9999 (a
 * peer's nonsense) shows as the epoch. */
static void api_http_date(uint64_t ms, char date[API_DATE_SIZE])
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char *p = date;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year > 9999 - 1900) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	p = api_put_chars(p, days + 3 * tm.tm_wday, 3);
	p = api_put_chars(p, ", ", 2);
	p = api_put_digits(p, (unsigned)tm.tm_mday, 2);
	p = api_put_chars(p, " ", 1);
	p = api_put_chars(p, months + 3 * tm.tm_mon, 3);
	p = api_put_chars(p, " ", 1);
	p = api_put_digits(p, (unsigned)(tm.tm_year + 1900), 4);
	p = api_put_chars(p, " ", 1);
	p = api_put_digits(p, (unsigned)tm.tm_hour, 2);
	p = api_put_chars(p, ":", 1);
	p = api_put_digits(p, (unsigned)tm.tm_min, 2);
	p = api_put_chars(p, ":", 1);
	p = api_put_digits(p, (unsigned)tm.tm_sec, 2);
	api_put_chars(p, " GMT", 5); /* with the NUL */
}

static const char *api_content_type(const struct dvv_value *v)
{
	return v->content_type[0] != '\0' ? v->content_type
	                                  : API_DEFAULT_CONTENT_TYPE;
}

/* Value metadata headers, on a response or on one multipart part: the
 * ETag is the quoted hex of a hash of the bytes and the timestamp. */
static void api_value_headers(const struct dvv_value *v,
                              char etag[API_ETAG_SIZE],
                              char date[API_DATE_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t h = XXH3_64bits_withSeed(v->data, v->len, v->timestamp_ms);

	etag[0] = '"';
	for (int i = 16; i >= 1; i--, h >>= 4)
		etag[i] = hex[h & 0xf];
	memcpy(etag + 17, "\"", 2);
	api_http_date(v->timestamp_ms, date);
}

static int api_add_context(struct http_api *api, struct evkeyvalq *out,
                           const struct dvv *obj)
{
	struct dvv_vv vv = {0};
	char *text = NULL;
	int rc = dvv_join(obj, &vv);
	if (rc == 0)
		rc = codec_context_encode(api->d.codec, &vv, &text);
	if (rc == 0)
		evhttp_add_header(out, "X-Context", text);
	free(text);
	dvv_vv_deinit(&vv);
	return rc;
}

static void api_reply_single(struct api_req *ar, const struct dvv_value *v)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(ar->req);
	struct evbuffer *body = evbuffer_new();
	char etag[API_ETAG_SIZE], date[API_DATE_SIZE];

	if (body == NULL || evbuffer_add(body, v->data, v->len) != 0) {
		api_status_error(ar, RKV_ENOMEM);
		goto done;
	}
	api_value_headers(v, etag, date);
	evhttp_add_header(out, "Content-Type", api_content_type(v));
	evhttp_add_header(out, "ETag", etag);
	evhttp_add_header(out, "Last-Modified", date);
	api_send(ar, 200, "OK", body);
done:
	if (body != NULL)
		evbuffer_free(body);
}

/* Siblings: 300 Multiple Choices with every value as one part of a
 * multipart/mixed body (RFC 2046), tombstones marked X-Deleted. */
static void api_reply_siblings(struct api_req *ar, const struct dvv *obj)
{
	struct http_api *api = ar->api;
	struct evkeyvalq *out = evhttp_request_get_output_headers(ar->req);
	struct evbuffer *body = evbuffer_new();
	char boundary[40], ctype[96], etag[API_ETAG_SIZE], date[API_DATE_SIZE];
	int rc = body ? 0 : -1;

	/* 128 random bits: a value containing the boundary by chance is not a
	 * case worth handling. */
	snprintf(boundary, sizeof(boundary), "%016" PRIx64 "%016" PRIx64,
	         rng_next(&api->rng), rng_next(&api->rng));
	for (size_t i = 0; rc == 0 && i < dvv_value_count(obj); i++) {
		const struct dvv_value *v = dvv_value_at(obj, i);
		api_value_headers(v, etag, date);
		rc |= evbuffer_add_printf(
		          body,
		          "--%s\r\nContent-Type: %s\r\n"
		          "Last-Modified: %s\r\nETag: %s\r\n%s\r\n",
		          boundary, api_content_type(v), date, etag,
		          v->tombstone ? "X-Deleted: true\r\n" : "") < 0;
		rc |= evbuffer_add(body, v->data, v->len);
		rc |= evbuffer_add(body, "\r\n", 2);
	}
	if (rc == 0)
		rc = evbuffer_add_printf(body, "--%s--\r\n", boundary) < 0;
	if (rc != 0) {
		api_status_error(ar, RKV_ENOMEM);
		goto done;
	}
	snprintf(ctype, sizeof(ctype), "multipart/mixed; boundary=%s",
	         boundary);
	evhttp_add_header(out, "Content-Type", ctype);
	api_send(ar, 300, "Multiple Choices", body);
done:
	if (body != NULL)
		evbuffer_free(body);
}

/* Answers a read from an object: 404 when every value is a tombstone (with
 * the context, so a client can write over the delete), 200 for one live
 * value, 300 when values are concurrent. */
static void api_reply_object(struct api_req *ar, const struct dvv *obj)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(ar->req);
	size_t n = dvv_value_count(obj), live = 0;
	const struct dvv_value *last_live = NULL;

	for (size_t i = 0; i < n; i++) {
		if (!dvv_value_at(obj, i)->tombstone) {
			live++;
			last_live = dvv_value_at(obj, i);
		}
	}
	if (api_add_context(ar->api, out, obj) != 0) {
		api_status_error(ar, RKV_ENOMEM);
		return;
	}
	if (live == 0)
		api_status_error(ar, RKV_ENOTFOUND);
	else if (n == 1)
		api_reply_single(ar, last_live);
	else
		api_reply_siblings(ar, obj);
}

/* --- /kv/{key} -------------------------------------------------------- */

static uint32_t api_partition(const struct api_req *ar)
{
	return ring_partition_of(ar->key, ar->klen,
	                         cluster_ring_size(ar->api->d.cluster));
}

/* replica=local: this node's own copy, straight from the store. */
static void kv_get_local(struct api_req *ar)
{
	struct dvv *obj = NULL;
	int rc = store_get(ar->api->d.store, api_partition(ar), ar->key,
	                   ar->klen, &obj);
	if (rc == 0)
		api_reply_object(ar, obj);
	else
		api_status_error(ar, rc);
	dvv_free(obj);
}

/* A request that will wait for the coordinator: a heap copy that owns the
 * key. NULL on ENOMEM (the stack request still owns everything). */
static struct api_req *api_req_park(struct api_req *stack_ar)
{
	struct api_req *ar = malloc(sizeof(*ar));
	if (ar == NULL)
		return NULL;
	*ar = *stack_ar;
	stack_ar->key = NULL;
	ar->api->in_flight++;
	return ar;
}

static void api_req_unpark(struct api_req *ar)
{
	struct http_api *api = ar->api;
	free(ar->key);
	free(ar);
	api->in_flight--;
	if (api->in_flight == 0 && api->drained != NULL)
		api->drained(api->drained_arg);
}

static void api_quorum_error(struct api_req *ar, const struct coord_result *res)
{
	char detail[64];
	snprintf(detail, sizeof(detail), ",\"needed\":%u,\"acked\":%u",
	         res->needed, res->acked);
	api_error(ar, rkv_status_http(res->status), rkv_strerror(res->status),
	          detail);
}

static void kv_read_done(void *arg, const struct coord_result *res)
{
	struct api_req *ar = arg;
	if (res->status == 0)
		api_reply_object(ar, res->obj);
	else if (res->status == RKV_EQUORUM)
		api_quorum_error(ar, res);
	else
		api_status_error(ar, res->status);
	api_req_unpark(ar);
}

static void kv_write_done(void *arg, const struct coord_result *res)
{
	struct api_req *ar = arg;
	struct evkeyvalq *out = evhttp_request_get_output_headers(ar->req);

	if (res->status == RKV_EQUORUM)
		api_quorum_error(ar, res);
	else if (res->status != 0)
		api_status_error(ar, res->status);
	else if (res->obj != NULL &&
	         api_add_context(ar->api, out, res->obj) != 0)
		api_status_error(ar, RKV_ENOMEM);
	else
		api_send(ar, 204, "No Content", NULL);
	api_req_unpark(ar);
}

static void kv_get(struct api_req *stack_ar, const struct kv_params *p)
{
	struct api_req *ar;
	int rc;

	if (p->local) {
		kv_get_local(stack_ar);
		return;
	}
	ar = api_req_park(stack_ar);
	if (ar == NULL) {
		api_status_error(stack_ar, RKV_ENOMEM);
		return;
	}
	rc = coord_get(ar->api->d.coord, ar->key, ar->klen, p->r, p->timeout_ms,
	               kv_read_done, ar);
	if (rc != 0) {
		api_status_error(ar, rc);
		api_req_unpark(ar);
	}
}

/* Validates and hands a PUT or DELETE to the coordinator. */
static void kv_write(struct api_req *stack_ar, const struct kv_params *p,
                     bool tombstone)
{
	struct http_api *api = stack_ar->api;
	struct evhttp_request *req = stack_ar->req;
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evbuffer *input = evhttp_request_get_input_buffer(req);
	const char *ctx_text = evhttp_find_header(in, "X-Context");
	const char *ctype = evhttp_find_header(in, "Content-Type");
	struct dvv_vv ctx = {0};
	struct dvv_value v = {0};
	struct api_req *ar;
	size_t len = evbuffer_get_length(input);
	int rc;

	if (!tombstone && len > api->conf->max_value_bytes) {
		api_error(stack_ar, 413, "value too large", NULL);
		return;
	}
	if (ctype == NULL || tombstone ||
	    strcmp(ctype, API_DEFAULT_CONTENT_TYPE) == 0)
		ctype = "";
	if (strlen(ctype) > DVV_MAX_CONTENT_TYPE) {
		api_error(stack_ar, 400, "Content-Type too long",
		          ",\"header\":\"Content-Type\"");
		return;
	}
	if (ctx_text != NULL &&
	    codec_context_decode(api->d.codec, ctx_text, &ctx) != 0) {
		api_error(stack_ar, 400, "malformed causal context",
		          ",\"header\":\"X-Context\"");
		return;
	}
	v.len = tombstone ? 0 : len;
	v.data = v.len ? evbuffer_pullup(input, -1) : NULL;
	v.content_type = (char *)ctype;
	v.timestamp_ms = api_now_us() / 1000;
	v.tombstone = tombstone;

	ar = api_req_park(stack_ar);
	if (ar == NULL) {
		api_status_error(stack_ar, RKV_ENOMEM);
		goto done;
	}
	struct coord_write wr = {.key = ar->key,
	                         .klen = ar->klen,
	                         .ctx = &ctx,
	                         .value = &v,
	                         .w = p->w,
	                         .pw = p->pw,
	                         .timeout_ms = p->timeout_ms};
	rc = coord_put(api->d.coord, &wr, kv_write_done, ar);
	if (rc != 0) {
		api_status_error(ar, rc);
		api_req_unpark(ar);
	}
done:
	dvv_vv_deinit(&ctx);
}

static void api_method_not_allowed(struct api_req *ar, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(ar->req), "Allow",
	                  allow);
	api_error(ar, 405, "method not allowed", NULL);
}

/* The key of a /kv/ path, its %XX escapes decoded ('+' stays a plus).
 * Most keys have none, and copying those is cheaper than
 * evhttp_uridecode's byte-by-byte pass. NULL without memory. */
static char *api_key_decode(const char *raw, size_t *len)
{
	size_t n = strcspn(raw, "%");
	char *key = NULL;

	if (raw[n] != '\0')
		return evhttp_uridecode(raw, 0, len);
	key = malloc(n + 1);
	if (key != NULL) {
		memcpy(key, raw, n + 1);
		*len = n;
	}
	return key;
}

static void kv_route(struct api_req *ar, const char *raw_key)
{
	struct http_api *api = ar->api;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(ar->req);
	struct kv_params params;
	const char *bad = NULL;
	char detail[64];

	ar->op = cmd == EVHTTP_REQ_GET      ? API_OP_GET
	         : cmd == EVHTTP_REQ_PUT    ? API_OP_PUT
	         : cmd == EVHTTP_REQ_DELETE ? API_OP_DELETE
	                                    : API_OP_OTHER;
	if (ar->op == API_OP_OTHER) {
		api_method_not_allowed(ar, "GET, PUT, DELETE");
		return;
	}
	ar->key = api_key_decode(raw_key, &ar->klen);
	if (ar->key == NULL) {
		api_status_error(ar, RKV_ENOMEM);
		return;
	}
	if (ar->klen == 0) {
		api_error(ar, 400, "empty key", NULL);
		return;
	}
	if (ar->klen > api->conf->max_key_bytes || ar->klen > STORE_MAX_KEY) {
		api_error(ar, 400, "key too long", NULL);
		return;
	}
	if (kv_parse_params(api, ar->req, &params, &bad) != 0) {
		snprintf(detail, sizeof(detail), ",\"parameter\":\"%s\"", bad);
		api_error(ar, 400, "bad parameter", detail);
		return;
	}
	if (params.local && ar->op != API_OP_GET) {
		api_error(ar, 400, "replica=local is for reads only",
		          ",\"parameter\":\"replica\"");
		return;
	}
	if (params.pw > 0 && ar->op == API_OP_GET) {
		api_error(ar, 400, "pw is for writes only",
		          ",\"parameter\":\"pw\"");
		return;
	}
	uint32_t partition = api_partition(ar);
	if (partition <
	    api->conf->ring_size) /* the cluster checked they agree */
		api->stats.partition_ops[partition]++;
	if (ar->op == API_OP_GET)
		kv_get(ar, &params);
	else
		kv_write(ar, &params, ar->op == API_OP_DELETE);
}

/* --- /ping and /stats ------------------------------------------------- */

/* "partitions_hot": the API_HOT_PARTITIONS busiest partitions, busiest
 * first, found by repeated selection (Q is small and /stats is rare). */
static void api_hot_partitions_json(const struct http_api *api,
                                    struct evbuffer *b)
{
	uint32_t q = (uint32_t)api->conf->ring_size;
	uint32_t picked[API_HOT_PARTITIONS];
	size_t npicked = 0;

	evbuffer_add_printf(b, "\"partitions_hot\":[");
	while (npicked < API_HOT_PARTITIONS) {
		uint32_t best = q;
		for (uint32_t p = 0; p < q; p++) {
			bool taken = false;
			for (size_t i = 0; i < npicked; i++)
				taken |= picked[i] == p;
			if (!taken && api->stats.partition_ops[p] > 0 &&
			    (best == q || api->stats.partition_ops[p] >
			                      api->stats.partition_ops[best]))
				best = p;
		}
		if (best == q)
			break;
		evbuffer_add_printf(
		    b, "%s{\"partition\":%u,\"ops\":%" PRIu64 "}",
		    npicked ? "," : "", best, api->stats.partition_ops[best]);
		picked[npicked++] = best;
	}
	evbuffer_add_printf(b, "],");
}

/* "name":{"count":..,"p50":..,"p95":..,"p99":..,"max":..} */
static void api_histogram_json(struct evbuffer *b, const char *name,
                               const struct histogram *h)
{
	evbuffer_add_printf(
	    b,
	    "\"%s\":{\"count\":%" PRIu64 ",\"p50\":%" PRIu64 ",\"p95\":%" PRIu64
	    ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64 "}",
	    name, histogram_count(h), histogram_percentile(h, 50),
	    histogram_percentile(h, 95), histogram_percentile(h, 99),
	    histogram_max(h));
}

static void api_stats_json(struct http_api *api, struct evbuffer *b)
{
	struct store_stats ss;
	struct coord_stats cs;
	struct rpc_stats rs;
	struct histogram ckpt;
	store_get_stats(api->d.store, &ss);
	store_checkpoint_times(api->d.store, &ckpt);
	coord_get_stats(api->d.coord, &cs);
	rpc_get_stats(api->d.rpc, &rs);

	evbuffer_add_printf(b, "{\"requests\":%" PRIu64 ",\"by_method\":{",
	                    api->stats.requests);
	for (int i = 0; i < API_OP_COUNT; i++)
		evbuffer_add_printf(b, "%s\"%s\":%" PRIu64, i ? "," : "",
		                    api_op_names[i], api->stats.by_op[i]);
	evbuffer_add_printf(b, "},\"by_status\":{");
	for (size_t i = 0; i < API_NSTATUS; i++)
		evbuffer_add_printf(b, "\"%d\":%" PRIu64 ",",
		                    api_counted_statuses[i],
		                    api->stats.by_status[i]);
	evbuffer_add_printf(b, "\"other\":%" PRIu64 "},\"latency_us\":{",
	                    api->stats.by_status[API_NSTATUS]);
	for (int i = 0; i < API_OP_COUNT; i++) {
		evbuffer_add_printf(b, "%s", i ? "," : "");
		api_histogram_json(b, api_op_names[i],
		                   &api->stats.latency_us[i]);
	}
	evbuffer_add_printf(b, "},");
	api_hot_partitions_json(api, b);
	evbuffer_add_printf(
	    b,
	    "\"keys\":%" PRIu64 ",\"disk_bytes\":%" PRIu64
	    ",\"commits\":%" PRIu64 ",\"checkpoints\":%" PRIu64
	    ",\"checkpoint_groups\":%" PRIu64 ",\"log_full_groups\":%" PRIu64
	    ",\"mutations\":%" PRIu64 ",\"node_id\":\"%016" PRIx64
	    "\",\"actor\":\"%016" PRIx64 "\",\"in_flight\":%u,",
	    ss.keys, ss.disk_bytes, ss.commits, ss.checkpoints,
	    ss.checkpoint_groups, ss.log_full_groups, ss.mutations,
	    store_node_id(api->d.store), store_actor(api->d.store),
	    api->in_flight);
	api_histogram_json(b, "checkpoint_us", &ckpt);
	evbuffer_add_printf(
	    b,
	    ",\"compaction\":{\"running\":%s,\"estimate_bytes\":%" PRIu64
	    ",\"completed\":%" PRIu64 ",\"last\":{\"before_bytes\":%" PRIu64
	    ",\"after_bytes\":%" PRIu64 ",\"copy_ms\":%" PRIu64
	    ",\"pause_ms\":%" PRIu64 ",\"caught_up\":%" PRIu64 "}},",
	    ss.compacting ? "true" : "false", ss.compact_estimate,
	    ss.compactions, ss.last_compaction.before, ss.last_compaction.after,
	    ss.last_compaction.copy_ms, ss.last_compaction.pause_ms,
	    ss.last_compaction.caught_up);
	/* "coordinated" and "replica_ops" are what ringkv-bench's skew report
	 * reads: how the load lands on each node. */
	evbuffer_add_printf(
	    b,
	    "\"coordinated\":%" PRIu64 ",\"replica_ops\":%" PRIu64
	    ",\"coordinated_writes\":%" PRIu64 ",\"coordinated_reads\":%" PRIu64
	    ",\"forwarded\":%" PRIu64 ",\"read_repairs\":%" PRIu64
	    ",\"fallback_writes\":%" PRIu64 ",\"fallback_reads\":%" PRIu64
	    ",\"fail_fast\":%" PRIu64 ",\"pw_refused\":%" PRIu64
	    ",\"future_writes\":%" PRIu64 ",\"future_failed\":%" PRIu64
	    ",\"digest_matches\":%" PRIu64 ",\"digest_mismatches\":%" PRIu64
	    ",\"rpc\":{\"frames_in\":%" PRIu64 ",\"frames_out\":%" PRIu64
	    ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
	    ",\"conns_open\":%" PRIu64 ",\"conns_refused\":%" PRIu64
	    ",\"calls_timed_out\":%" PRIu64 ",\"pending\":%" PRIu64 "},",
	    cs.coordinated_writes + cs.coordinated_reads + cs.forwarded,
	    cs.replica_writes + cs.replica_reads, cs.coordinated_writes,
	    cs.coordinated_reads, cs.forwarded, cs.read_repairs,
	    cs.fallback_writes, cs.fallback_reads, cs.fail_fast, cs.pw_refused,
	    cs.future_writes, cs.future_failed, cs.digest_matches,
	    cs.digest_mismatches, rs.frames_in, rs.frames_out, rs.bytes_in,
	    rs.bytes_out, rs.conns_open, rs.conns_refused, rs.calls_timed_out,
	    rs.pending);
	cluster_gossip_json(api->d.cluster, b);
	evbuffer_add_printf(b, ",");
	handoff_stats_json(api->d.handoff, b);
	evbuffer_add_printf(b, ",");
	transfer_stats_json(api->d.transfer, b);
	evbuffer_add_printf(b, "}\n");
}

enum api_page {
	API_PAGE_PING,
	API_PAGE_STATS,
	API_PAGE_RING,
	API_PAGE_MEMBERS,
	API_PAGE_HANDOFF,
};

static void api_simple_get(struct api_req *ar, enum api_page page)
{
	struct evbuffer *body;

	if (evhttp_request_get_command(ar->req) != EVHTTP_REQ_GET) {
		api_method_not_allowed(ar, "GET");
		return;
	}
	body = evbuffer_new();
	if (body == NULL) {
		api_status_error(ar, RKV_ENOMEM);
		return;
	}
	if (page != API_PAGE_PING)
		evhttp_add_header(evhttp_request_get_output_headers(ar->req),
		                  "Content-Type", "application/json");
	switch (page) {
	case API_PAGE_PING: evbuffer_add(body, "OK\n", 3); break;
	case API_PAGE_STATS: api_stats_json(ar->api, body); break;
	case API_PAGE_RING: cluster_ring_json(ar->api->d.cluster, body); break;
	case API_PAGE_MEMBERS:
		cluster_members_json(ar->api->d.cluster, body);
		break;
	case API_PAGE_HANDOFF: handoff_json(ar->api->d.handoff, body); break;
	}
	api_send(ar, 200, "OK", body);
	evbuffer_free(body);
}

static void admin_done(void *arg, int code, struct evbuffer *body)
{
	struct api_req *ar = arg;

	if (body == NULL) {
		api_status_error(ar, RKV_ENOMEM);
	} else {
		evhttp_add_header(evhttp_request_get_output_headers(ar->req),
		                  "Content-Type", "application/json");
		api_send(ar, code, api_reason(code), body);
	}
	api_req_unpark(ar);
}

static void admin_route(struct api_req *stack_ar, const char *sub)
{
	struct evhttp_request *req = stack_ar->req;
	const char *query =
	    evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq q;
	struct api_req *ar = NULL;

	/* evhttp_parse_query_str initialises q, and empties it on failure. */
	if (query != NULL && evhttp_parse_query_str(query, &q) != 0) {
		api_error(stack_ar, 400, "malformed query", NULL);
		return;
	}
	ar = api_req_park(stack_ar);
	if (ar == NULL)
		api_status_error(stack_ar, RKV_ENOMEM);
	else
		admin_handle(ar->api->d.admin, evhttp_request_get_command(req),
		             sub, query != NULL ? &q : NULL, admin_done, ar);
	if (query != NULL)
		evhttp_clear_headers(&q);
}

static void api_route(struct evhttp_request *req, void *arg)
{
	struct api_req ar = {.api = arg,
	                     .req = req,
	                     .op = API_OP_OTHER,
	                     .start_us = api_now_us()};
	const char *path =
	    evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (path == NULL)
		api_error(&ar, 400, "bad request path", NULL);
	else if (strncmp(path, "/kv/", 4) == 0)
		kv_route(&ar, path + 4);
	else if (strcmp(path, "/ping") == 0)
		api_simple_get(&ar, API_PAGE_PING);
	else if (strcmp(path, "/stats") == 0)
		api_simple_get(&ar, API_PAGE_STATS);
	else if (strcmp(path, "/ring") == 0)
		api_simple_get(&ar, API_PAGE_RING);
	else if (strcmp(path, "/members") == 0)
		api_simple_get(&ar, API_PAGE_MEMBERS);
	else if (strcmp(path, "/handoff") == 0)
		api_simple_get(&ar, API_PAGE_HANDOFF);
	else if (strncmp(path, "/admin/", 7) == 0)
		admin_route(&ar, path + 7);
	else
		api_error(&ar, 404, "no such path", NULL);
	free(ar.key);
}

/* --- lifecycle -------------------------------------------------------- */

struct http_api *http_api_new(struct event_base *base,
                              const struct http_api_deps *deps)
{
	const struct conf *conf = deps->conf;
	struct http_api *api = calloc(1, sizeof(*api));
	struct timeval timeout = {API_IO_TIMEOUT_S, 0};
	uint64_t seed = 0;

	if (api == NULL)
		return NULL;
	api->base = base;
	api->d = *deps;
	api->conf = conf;
	api->http = evhttp_new(base);
	if (api->http == NULL) {
		free(api);
		return NULL;
	}
	if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed))
		seed = api_now_us();
	rng_init(&api->rng, seed);
	for (int i = 0; i < API_OP_COUNT; i++)
		histogram_init(&api->stats.latency_us[i]);
	api->stats.partition_ops = calloc(conf->ring_size, sizeof(uint64_t));
	if (api->stats.partition_ops == NULL) {
		evhttp_free(api->http);
		free(api);
		return NULL;
	}
	/* Every method reaches api_route so that a wrong one gets our 405
	 * rather than evhttp's bare 501. */
	evhttp_set_allowed_methods(
	    api->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                   EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_max_body_size(
	    api->http, (ev_ssize_t)(conf->max_value_bytes + API_BODY_SLACK));
	evhttp_set_max_headers_size(api->http, API_MAX_HEADERS_BYTES);
	evhttp_set_timeout_tv(api->http, &timeout);
	evhttp_set_gencb(api->http, api_route, api);
	return api;
}

int http_api_start(struct http_api *api, const char *listen, char *bound,
                   size_t boundlen)
{
	char host[CONF_ADDR_MAX + 1];
	const char *colon = strrchr(listen, ':');
	char *end;

	if (colon == NULL || (size_t)(colon - listen) >= sizeof(host))
		return RKV_EINVAL;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (end == colon + 1 || *end != '\0' || port > 65535)
		return RKV_EINVAL;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';

	api->listener =
	    evhttp_bind_socket_with_handle(api->http, host, (ev_uint16_t)port);
	if (api->listener == NULL) {
		log_error("http: cannot listen on %s", listen);
		return RKV_EIO;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	evutil_socket_t fd = evhttp_bound_socket_get_fd(api->listener);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    ss.ss_family == AF_INET) {
		char ip[64];
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		evutil_inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(bound, boundlen, "%s:%u", ip, ntohs(sin->sin_port));
	} else {
		snprintf(bound, boundlen, "%s", listen);
	}
	return 0;
}

void http_api_stop(struct http_api *api, void (*drained)(void *arg), void *arg)
{
	if (api->listener != NULL) {
		evhttp_del_accept_socket(api->http, api->listener);
		api->listener = NULL;
	}
	api->drained = drained;
	api->drained_arg = arg;
	if (api->in_flight == 0)
		drained(arg);
}

void http_api_free(struct http_api *api)
{
	if (api == NULL)
		return;
	evhttp_free(api->http);
	free(api->stats.partition_ops);
	free(api);
}
