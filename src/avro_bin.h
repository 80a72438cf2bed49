/* avro_bin.h -- Avro's binary encoding of longs and byte strings, for the
 * records that are written and read without Avro C's generic values:
 * stored objects and contexts (codec.c) and the hot internode messages
 * (msg.c). The records, unions and arrays those files write are
 * sequences of these two.
 *
 *   long    zig-zag first (n << 1 ^ n >> 63, so the sign lands in bit 0
 *           and small magnitudes of either sign stay small), then 7 bits
 *           per byte, least significant group first, the high bit set on
 *           every byte but the last: 0 -> 00, -1 -> 01, 1 -> 02,
 *           64 -> 80 01. At most AVRO_BIN_MAX_LONG bytes. An Avro int is
 *           the same encoding of a value within int32.
 *   bytes   a long length, then that many bytes; a string is its UTF-8
 *           without a terminator.
 *
 * Writers are handed a buffer sized with the *_size functions and return
 * where they stopped. Readers take a cursor (*p, advanced on success) and
 * the end of the input, never read at or past the end, and answer
 * RKV_ECORRUPT for a varint over 64 bits, a negative length or one beyond
 * the input: that is what keeps a hostile length from being trusted.
 * A long is written from its u64 bits, so an unsigned id above 2^63
 * travels as a negative long and reads back as the same bits.
 */
#ifndef RKV_AVRO_BIN_H
#define RKV_AVRO_BIN_H

#include "status.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define AVRO_BIN_MAX_LONG 10

/* (int64_t)n << 1 ^ (int64_t)n >> 63, without signed shifts. */
static inline uint64_t avro_bin_zigzag(uint64_t n)
{
	return (n << 1) ^ (0 - (n >> 63));
}

static inline size_t avro_bin_long_size(uint64_t n)
{
	uint64_t z = avro_bin_zigzag(n);
	size_t size = 1;

	for (; z >= 0x80; z >>= 7)
		size++;
	return size;
}

static inline uint8_t *avro_bin_put_long(uint8_t *p, uint64_t n)
{
	uint64_t z = avro_bin_zigzag(n);

	for (; z >= 0x80; z >>= 7)
		*p++ = (uint8_t)(z | 0x80);
	*p++ = (uint8_t)z;
	return p;
}

static inline size_t avro_bin_bytes_size(size_t len)
{
	return avro_bin_long_size(len) + len;
}

/* data may be NULL when len is 0 (an empty value or key). */
static inline uint8_t *avro_bin_put_bytes(uint8_t *p, const void *data,
                                          size_t len)
{
	p = avro_bin_put_long(p, len);
	if (len > 0)
		memcpy(p, data, len);
	return p + len;
}

static inline int avro_bin_get_long(const uint8_t **p, const uint8_t *end,
                                    int64_t *out)
{
	const uint8_t *q = *p;
	uint64_t v = 0;

	for (unsigned i = 0; i < AVRO_BIN_MAX_LONG; i++) {
		if (q == end)
			return RKV_ECORRUPT;
		uint8_t b = *q++;
		/* The 10th byte carries the 64th bit only. */
		if (i == AVRO_BIN_MAX_LONG - 1 && b > 1)
			return RKV_ECORRUPT;
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			*p = q;
			*out = (int64_t)((v >> 1) ^ (0 - (v & 1)));
			return 0;
		}
	}
	return RKV_ECORRUPT;
}

/* A length prefix: 0 <= *out <= the bytes left after it. *p stops at the
 * first byte counted (an array block's byte size counts bytes to come,
 * which the caller reads itself). */
static inline int avro_bin_get_len(const uint8_t **p, const uint8_t *end,
                                   size_t *out)
{
	const uint8_t *q = *p;
	int64_t n = 0;

	if (avro_bin_get_long(&q, end, &n) != 0 || n < 0 ||
	    (uint64_t)n > (uint64_t)(end - q))
		return RKV_ECORRUPT;
	*p = q;
	*out = (size_t)n;
	return 0;
}

/* A bytes or string value: *data points at its bytes in the input. */
static inline int avro_bin_get_bytes(const uint8_t **p, const uint8_t *end,
                                     const uint8_t **data, size_t *len)
{
	if (avro_bin_get_len(p, end, len) != 0)
		return RKV_ECORRUPT;
	*data = *p;
	*p += *len;
	return 0;
}

/* The header of an array's next block: *count items, 0 at the end of the
 * array. A block with a negative count gives its byte size, and
 * *block_end is where its items must end (else NULL). The count is not
 * checked against anything: the caller bounds it by what its items can
 * take. */
static inline int avro_bin_get_block(const uint8_t **p, const uint8_t *end,
                                     uint64_t *count, const uint8_t **block_end)
{
	int64_t n = 0;
	size_t bytes = 0;

	*count = 0;
	*block_end = NULL;
	if (avro_bin_get_long(p, end, &n) != 0)
		return RKV_ECORRUPT;
	if (n < 0) {
		/* INT64_MIN has no positive counterpart. */
		if (n == INT64_MIN || avro_bin_get_len(p, end, &bytes) != 0)
			return RKV_ECORRUPT;
		n = -n;
		*block_end = *p + bytes;
	}
	*count = (uint64_t)n;
	return 0;
}

#endif
