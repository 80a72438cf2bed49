/* bench_json.h -- reading a few members of a node's GET /stats answer.
 *
 * ringkv-bench needs three numbers and one raw value from /stats
 * ("requests", "coordinated", "replica_ops", "partitions_hot"), and must
 * tolerate fields that a given ringkvd release does not have. That is a
 * lookup of top-level members, so this is a validating scanner, not a JSON
 * library: it checks the whole text is one well-formed JSON object (so a
 * raw value copied into the bench's own --json output is valid JSON) and
 * returns the span of the member asked for. Pure: no allocation.
 */
#ifndef RKV_BENCH_JSON_H
#define RKV_BENCH_JSON_H

#include <stddef.h>

/* Nesting deeper than this is refused as invalid. */
#define BENCH_JSON_MAX_DEPTH 64

/* bench_json_member -- the value of member key of the top-level object in
 * text[0..len): 0 with *value / *value_len the raw JSON text of the value
 * (pointing into text); RKV_ENOTFOUND when the object has no such member;
 * RKV_EINVAL when text is not exactly one valid JSON object (surrounding
 * whitespace allowed). With duplicate keys the first wins. Keys are
 * compared byte for byte, so keys written with escapes do not match. */
int bench_json_member(const char *text, size_t len, const char *key,
                      const char **value, size_t *value_len);

/* bench_json_number -- member key as a number: 0 and *out, RKV_ENOTFOUND
 * when absent, RKV_EINVAL when text is invalid or the member is not a
 * number. */
int bench_json_number(const char *text, size_t len, const char *key,
                      double *out);

#endif
