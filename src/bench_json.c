/* bench_json.c -- see bench_json.h.
 *
 * A recursive-descent validator over RFC 8259's grammar. Each json_* step
 * takes a cursor, checks one construct and moves past it, returning false
 * on the first error; the member lookup validates the whole object while
 * remembering the first span whose key matched, so a truncated or corrupt
 * answer is refused as a whole rather than half-read.
 */
#include "bench_json.h"

#include "status.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct json_cursor {
	const char *p, *end;
	int depth;
};

static bool json_value(struct json_cursor *c);

static void json_ws(struct json_cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' ||
	                         *c->p == '\n' || *c->p == '\r'))
		c->p++;
}

static bool json_hex4(const char *p, const char *end)
{
	if (end - p < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		char h = p[i];
		if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') ||
		      (h >= 'A' && h <= 'F')))
			return false;
	}
	return true;
}

/* A string; *start / *len get its contents between the quotes. */
static bool json_string(struct json_cursor *c, const char **start, size_t *len)
{
	if (c->p >= c->end || *c->p != '"')
		return false;
	const char *s = ++c->p;
	while (c->p < c->end && *c->p != '"') {
		unsigned char ch = (unsigned char)*c->p;
		if (ch < 0x20)
			return false;
		if (ch != '\\') {
			c->p++;
			continue;
		}
		if (c->end - c->p < 2)
			return false;
		char e = c->p[1];
		if (e == 'u') {
			if (!json_hex4(c->p + 2, c->end))
				return false;
			c->p += 6;
		} else if (strchr("\"\\/bfnrt", e) != NULL && e != '\0') {
			c->p += 2;
		} else {
			return false;
		}
	}
	if (c->p >= c->end)
		return false;
	*start = s;
	*len = (size_t)(c->p - s);
	c->p++;
	return true;
}

static bool json_digits(struct json_cursor *c)
{
	const char *s = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
		c->p++;
	return c->p > s;
}

static bool json_number(struct json_cursor *c)
{
	if (c->p < c->end && *c->p == '-')
		c->p++;
	if (c->p < c->end && *c->p == '0')
		c->p++;
	else if (!json_digits(c))
		return false;
	if (c->p < c->end && *c->p == '.') {
		c->p++;
		if (!json_digits(c))
			return false;
	}
	if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
		c->p++;
		if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
			c->p++;
		if (!json_digits(c))
			return false;
	}
	return true;
}

static bool json_literal(struct json_cursor *c, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
		return false;
	c->p += n;
	return true;
}

/* Members of an object (after its '{'), or elements of an array (after
 * its '['), through the closing bracket. When key is given (top level
 * only), the first matching member's value span is stored. */
static bool json_members(struct json_cursor *c, bool object, const char *key,
                         const char **found, size_t *found_len)
{
	char close = object ? '}' : ']';
	json_ws(c);
	if (c->p < c->end && *c->p == close) {
		c->p++;
		return true;
	}
	for (;;) {
		const char *name = NULL;
		size_t nlen = 0;
		json_ws(c);
		if (object) {
			if (!json_string(c, &name, &nlen))
				return false;
			json_ws(c);
			if (c->p >= c->end || *c->p != ':')
				return false;
			c->p++;
			json_ws(c);
		}
		const char *v = c->p;
		if (!json_value(c))
			return false;
		if (key != NULL && *found == NULL && strlen(key) == nlen &&
		    memcmp(name, key, nlen) == 0) {
			*found = v;
			*found_len = (size_t)(c->p - v);
		}
		json_ws(c);
		if (c->p >= c->end)
			return false;
		if (*c->p == close) {
			c->p++;
			return true;
		}
		if (*c->p != ',')
			return false;
		c->p++;
	}
}

static bool json_value(struct json_cursor *c)
{
	const char *s;
	size_t n;
	bool ok;

	if (c->p >= c->end)
		return false;
	switch (*c->p) {
	case '{':
	case '[':
		if (++c->depth > BENCH_JSON_MAX_DEPTH)
			return false;
		c->p++;
		ok = json_members(c, c->p[-1] == '{', NULL, NULL, NULL);
		c->depth--;
		return ok;
	case '"': return json_string(c, &s, &n);
	case 't': return json_literal(c, "true");
	case 'f': return json_literal(c, "false");
	case 'n': return json_literal(c, "null");
	default: return json_number(c);
	}
}

int bench_json_member(const char *text, size_t len, const char *key,
                      const char **value, size_t *value_len)
{
	struct json_cursor c = {text, text + len, 1};
	const char *found = NULL;
	size_t found_len = 0;

	json_ws(&c);
	if (c.p >= c.end || *c.p != '{')
		return RKV_EINVAL;
	c.p++;
	if (!json_members(&c, true, key, &found, &found_len))
		return RKV_EINVAL;
	json_ws(&c);
	if (c.p != c.end)
		return RKV_EINVAL;
	if (found == NULL)
		return RKV_ENOTFOUND;
	*value = found;
	*value_len = found_len;
	return 0;
}

int bench_json_number(const char *text, size_t len, const char *key,
                      double *out)
{
	const char *v;
	size_t vlen;
	char num[64];
	int rc = bench_json_member(text, len, key, &v, &vlen);

	if (rc != 0)
		return rc;
	/* the validator accepted it; only numbers start like this */
	if (vlen == 0 || vlen >= sizeof(num) ||
	    !(*v == '-' || (*v >= '0' && *v <= '9')))
		return RKV_EINVAL;
	memcpy(num, v, vlen);
	num[vlen] = '\0';
	*out = strtod(num, NULL);
	return 0;
}
