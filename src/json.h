/* json.h -- the little JSON writing the API needs, on evbuffers.
 *
 * Responses are built with evbuffer_add_printf; the only part that needs
 * care is a string that came from outside (a node name, an address), which
 * must be escaped so that it cannot break the document. */
#ifndef RKV_JSON_H
#define RKV_JSON_H

struct evbuffer;

/* json_add_string -- append s as a JSON string (quotes included), escaping
 * quotes, backslashes and control characters; NULL appends null.
 * 0, or -1 when the buffer could not grow. */
int json_add_string(struct evbuffer *b, const char *s);

#endif
