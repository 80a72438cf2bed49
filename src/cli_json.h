/* cli_json.h -- reading the nodes' JSON answers in the ringkv CLI.
 *
 * The CLI reads /stats, /ring, /members and error bodies. Member lookup and
 * validation are bench_json's (src/bench_json.h): bench_json_member checks
 * that a whole text is one well-formed JSON object and returns the raw span
 * of one member, tolerating members it does not know. What the CLI needs
 * beyond that is here, as a thin layer over it:
 *
 *   - walking the elements of an array ("members", "partitions"), whose
 *     spans are then read with bench_json_member again (which validates
 *     each element as an object);
 *   - typed getters that decode a string member (escapes, \u sequences)
 *     and treat an absent member and a null one alike, so a node that
 *     does not send a field yet and a node that sends null read the same;
 *   - writing a member's value for a person (a table cell).
 *
 * Nothing here allocates; every output goes into caller storage.
 */
#ifndef RKV_CLI_JSON_H
#define RKV_CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>

/* Walks the elements of a JSON array, or the members of a JSON object,
 * held in [text, text + len). */
struct cli_json_iter {
	const char *p, *end;
	bool object;
	bool started;
};

/* cli_json_iter_init -- prepare to walk text[0..len), the raw span of an
 * array or object value (as bench_json_member returns it). 0, or
 * RKV_EINVAL when the text starts with neither '[' nor '{'. */
int cli_json_iter_init(struct cli_json_iter *it, const char *text, size_t len);

/* cli_json_iter_next -- the next element's (array) or member value's
 * (object) raw span: 0 with *elem / *elem_len pointing into the text,
 * RKV_ENOTFOUND after the last one, RKV_EINVAL when the text is malformed
 * (unbalanced brackets or quotes, a missing comma or colon). For an
 * object, key (when not NULL) gets the member name's raw span between its
 * quotes, escapes undecoded. Values are only delimited here, not
 * validated: read them with bench_json_member or the getters below. */
int cli_json_iter_next(struct cli_json_iter *it, const char **key,
                       size_t *key_len, const char **elem, size_t *elem_len);

/* cli_json_count -- how many elements (array) or members (object) the
 * raw value text[0..len) has; -1 when it is neither or is malformed. */
long cli_json_count(const char *text, size_t len);

/* cli_json_string -- member key of the object text[0..len) as a decoded,
 * NUL-terminated string in buf (cap bytes). 0; RKV_ENOTFOUND when the
 * member is absent or null; RKV_EINVAL when text is not a valid object
 * or the member is not a string; RKV_ETOOBIG when it does not fit in
 * buf (buf then holds a truncated prefix). */
int cli_json_string(const char *text, size_t len, const char *key, char *buf,
                    size_t cap);

/* cli_json_bool -- member key as a boolean: 0 and *out; RKV_ENOTFOUND
 * when absent or null; RKV_EINVAL when invalid or not true/false. */
int cli_json_bool(const char *text, size_t len, const char *key, bool *out);

/* cli_json_number -- member key as a number: 0 and *out; RKV_ENOTFOUND
 * when absent or null; RKV_EINVAL when invalid or not a number. */
int cli_json_number(const char *text, size_t len, const char *key, double *out);

/* cli_json_cell -- member key written for a table cell into buf (cap
 * bytes, always NUL-terminated, truncated to fit): a string decoded, a
 * whole number in decimal, any other number with two decimals, true and
 * false as yes_no[0] / yes_no[1] ("up"/"down" for an "up" column), an
 * array as its element count (a list of partitions shows how many), and
 * an object as its JSON text. 0; RKV_ENOTFOUND (buf "-") when
 * absent or null; RKV_EINVAL (buf "?") when text is not a valid object. */
int cli_json_cell(const char *text, size_t len, const char *key,
                  const char *const yes_no[2], char *buf, size_t cap);

#endif
