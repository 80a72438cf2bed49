/* json.c -- see json.h. */
#include "json.h"

#include <event2/buffer.h>
#include <string.h>

int json_add_string(struct evbuffer *b, const char *s)
{
	int rc = 0;
	if (s == NULL)
		return evbuffer_add(b, "null", 4);
	rc |= evbuffer_add(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			rc |= evbuffer_add_printf(b, "\\%c", *p) < 0;
		else if (*p < 0x20)
			rc |= evbuffer_add_printf(b, "\\u%04x", *p) < 0;
		else
			rc |= evbuffer_add(b, p, 1);
	}
	rc |= evbuffer_add(b, "\"", 1);
	return rc ? -1 : 0;
}
