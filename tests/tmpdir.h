/* tmpdir.h -- a fresh directory for a test, under $TMPDIR (or /tmp).
 *
 * Tests that write files each make their own directory, named
 * <prefix>-XXXXXX, so runs in parallel and left-overs of a failed run
 * never meet.
 */
#ifndef RKV_TEST_TMPDIR_H
#define RKV_TEST_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

/* test_mkdtemp -- make <$TMPDIR or /tmp>/<prefix>-XXXXXX, its path in buf
 * (cap bytes): buf, or NULL (path too long, or mkdtemp failed). */
static inline char *test_mkdtemp(char *buf, size_t cap, const char *prefix)
{
	const char *tmp = getenv("TMPDIR");

	if ((size_t)snprintf(buf, cap, "%s/%s-XXXXXX",
	                     tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp",
	                     prefix) >= cap)
		return NULL;
	return mkdtemp(buf);
}

#endif
