/* cli_json.c -- see cli_json.h.
 *
 * Delimiting an array element or an object member needs only to know
 * where a value ends: a scalar ends at the next ',' or closing bracket
 * outside any string, a nested value at its matching bracket. So the iterator
 * tracks bracket depth and whether it is inside a string (where '\' escapes one
 * character); the grammar itself is left to bench_json, which validates every
 * element the CLI actually reads.
 */
#include "cli_json.h"

#include "bench_json.h"
#include "status.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static bool json_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void json_skip_ws(struct cli_json_iter *it)
{
	while (it->p < it->end && json_is_ws(*it->p))
		it->p++;
}

int cli_json_iter_init(struct cli_json_iter *it, const char *text, size_t len)
{
	it->p = text;
	it->end = text + len;
	it->started = false;
	json_skip_ws(it);
	if (it->p >= it->end || (*it->p != '[' && *it->p != '{'))
		return RKV_EINVAL;
	it->object = *it->p == '{';
	it->p++;
	return 0;
}

/* Moves past one value; false when the text ends inside it. */
static bool json_skip_value(struct cli_json_iter *it)
{
	int depth = 0;
	bool in_string = false;

	for (; it->p < it->end; it->p++) {
		char c = *it->p;
		if (in_string) {
			if (c == '\\' && it->end - it->p < 2)
				return false;
			if (c == '\\')
				it->p++;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > BENCH_JSON_MAX_DEPTH)
				return false;
		} else if (c == ']' || c == '}') {
			if (depth == 0)
				return true; /* the enclosing array's end */
			depth--;
		} else if (c == ',' && depth == 0) {
			return true;
		}
	}
	return depth == 0 && !in_string;
}

/* Moves past a member name and its colon. */
static bool json_skip_key(struct cli_json_iter *it, const char **key,
                          size_t *key_len)
{
	const char *start;

	if (it->p >= it->end || *it->p != '"')
		return false;
	start = ++it->p;
	while (it->p < it->end && *it->p != '"') {
		if (*it->p == '\\' && it->end - it->p < 2)
			return false;
		it->p += *it->p == '\\' ? 2 : 1;
	}
	if (it->p >= it->end)
		return false;
	if (key != NULL) {
		*key = start;
		*key_len = (size_t)(it->p - start);
	}
	it->p++;
	json_skip_ws(it);
	if (it->p >= it->end || *it->p != ':')
		return false;
	it->p++;
	json_skip_ws(it);
	return true;
}

int cli_json_iter_next(struct cli_json_iter *it, const char **key,
                       size_t *key_len, const char **elem, size_t *elem_len)
{
	json_skip_ws(it);
	if (it->p >= it->end)
		return RKV_EINVAL;
	if (*it->p == (it->object ? '}' : ']'))
		return RKV_ENOTFOUND;
	if (it->started) {
		if (*it->p != ',')
			return RKV_EINVAL;
		it->p++;
		json_skip_ws(it);
	}
	it->started = true;
	if (it->object && !json_skip_key(it, key, key_len))
		return RKV_EINVAL;
	const char *start = it->p;
	if (!json_skip_value(it) || it->p >= it->end)
		return RKV_EINVAL;
	const char *stop = it->p;
	while (stop > start && json_is_ws(stop[-1]))
		stop--;
	if (stop == start)
		return RKV_EINVAL;
	*elem = start;
	*elem_len = (size_t)(stop - start);
	return 0;
}

long cli_json_count(const char *text, size_t len)
{
	struct cli_json_iter it;
	const char *v;
	size_t vlen;
	long n = 0;
	int rc;

	if (cli_json_iter_init(&it, text, len) != 0)
		return -1;
	while ((rc = cli_json_iter_next(&it, NULL, NULL, &v, &vlen)) == 0)
		n++;
	return rc == RKV_ENOTFOUND ? n : -1;
}

/* The raw value of member key; absent and null both RKV_ENOTFOUND. */
static int json_raw(const char *text, size_t len, const char *key,
                    const char **v, size_t *vlen)
{
	int rc = bench_json_member(text, len, key, v, vlen);
	if (rc == 0 && *vlen == 4 && memcmp(*v, "null", 4) == 0)
		return RKV_ENOTFOUND;
	return rc;
}

static int json_hex4(const char *p, unsigned *out)
{
	*out = 0;
	for (int i = 0; i < 4; i++) {
		char h = p[i];
		unsigned d = (h >= '0' && h <= '9')   ? (unsigned)(h - '0')
		             : (h >= 'a' && h <= 'f') ? (unsigned)(h - 'a' + 10)
		             : (h >= 'A' && h <= 'F') ? (unsigned)(h - 'A' + 10)
		                                      : 16u;
		if (d == 16)
			return RKV_EINVAL;
		*out = *out * 16 + d;
	}
	return 0;
}

/* Appends code point cp as UTF-8; false when it does not fit. */
static bool json_put_utf8(char *buf, size_t cap, size_t *n, uint32_t cp)
{
	unsigned char u[4];
	size_t k;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		k = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | (cp >> 18));
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	if (*n + k >= cap)
		return false;
	memcpy(buf + *n, u, k);
	*n += k;
	return true;
}

/* One escape sequence at s[0] == '\\' (bench_json validated its form);
 * *used gets its length. A lone surrogate becomes U+FFFD. */
static int json_unescape(const char *s, const char *end, uint32_t *cp,
                         size_t *used)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	unsigned hi, lo;

	if (s[1] != 'u') {
		const char *at = strchr(from, s[1]);
		if (at == NULL || s[1] == '\0')
			return RKV_EINVAL;
		*cp = (unsigned char)to[at - from];
		*used = 2;
		return 0;
	}
	if (end - s < 6 || json_hex4(s + 2, &hi) != 0)
		return RKV_EINVAL;
	*cp = hi;
	*used = 6;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		*cp = 0xfffd;
	if (hi < 0xd800 || hi > 0xdbff)
		return 0;
	if (end - s >= 12 && s[6] == '\\' && s[7] == 'u' &&
	    json_hex4(s + 8, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
		*cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
		*used = 12;
	} else {
		*cp = 0xfffd;
	}
	return 0;
}

/* Decodes the string token v[0..vlen) (quotes included) into buf. */
static int json_decode(const char *v, size_t vlen, char *buf, size_t cap)
{
	const char *s = v + 1, *end = v + vlen - 1;
	size_t n = 0;
	int rc = 0;

	if (cap == 0)
		return RKV_ETOOBIG;
	buf[0] = '\0';
	if (vlen < 2 || v[0] != '"' || end[0] != '"')
		return RKV_EINVAL;
	while (s < end && rc == 0) {
		uint32_t cp = (unsigned char)*s;
		size_t used = 1;
		if (*s == '\\')
			rc = json_unescape(s, end, &cp, &used);
		if (rc != 0)
			break;
		if (*s != '\\' || cp < 0x80) {
			if (n + 1 >= cap) {
				rc = RKV_ETOOBIG;
				break;
			}
			buf[n++] = (char)cp;
		} else if (!json_put_utf8(buf, cap, &n, cp)) {
			rc = RKV_ETOOBIG;
		}
		s += used;
	}
	buf[n] = '\0';
	return rc;
}

int cli_json_string(const char *text, size_t len, const char *key, char *buf,
                    size_t cap)
{
	const char *v;
	size_t vlen;
	int rc = json_raw(text, len, key, &v, &vlen);

	if (cap > 0)
		buf[0] = '\0';
	if (rc != 0)
		return rc;
	if (*v != '"')
		return RKV_EINVAL;
	return json_decode(v, vlen, buf, cap);
}

int cli_json_bool(const char *text, size_t len, const char *key, bool *out)
{
	const char *v;
	size_t vlen;
	int rc = json_raw(text, len, key, &v, &vlen);

	if (rc != 0)
		return rc;
	if (vlen == 4 && memcmp(v, "true", 4) == 0)
		*out = true;
	else if (vlen == 5 && memcmp(v, "false", 5) == 0)
		*out = false;
	else
		return RKV_EINVAL;
	return 0;
}

int cli_json_number(const char *text, size_t len, const char *key, double *out)
{
	const char *v;
	size_t vlen;
	int rc = json_raw(text, len, key, &v, &vlen);

	if (rc != 0)
		return rc;
	return bench_json_number(text, len, key, out);
}

int cli_json_cell(const char *text, size_t len, const char *key,
                  const char *const yes_no[2], char *buf, size_t cap)
{
	const char *v;
	size_t vlen;
	double d;
	int rc = json_raw(text, len, key, &v, &vlen);

	if (cap == 0)
		return RKV_ETOOBIG;
	if (rc != 0) {
		snprintf(buf, cap, "%s", rc == RKV_ENOTFOUND ? "-" : "?");
		return rc;
	}
	if (*v == '"') {
		json_decode(v, vlen, buf, cap); /* a truncated cell is fine */
	} else if (*v == 't' || *v == 'f') {
		snprintf(buf, cap, "%s", yes_no[*v == 't' ? 0 : 1]);
	} else if (*v == '[') {
		snprintf(buf, cap, "%ld", cli_json_count(v, vlen));
	} else if (bench_json_number(text, len, key, &d) == 0) {
		if (d == floor(d) && fabs(d) < 1e15)
			snprintf(buf, cap, "%.0f", d);
		else
			snprintf(buf, cap, "%.2f", d);
	} else {
		snprintf(buf, cap, "%.*s", (int)(vlen < cap ? vlen : cap - 1),
		         v);
	}
	return 0;
}
