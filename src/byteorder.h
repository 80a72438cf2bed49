/* byteorder.h -- fixed-width integers in a chosen byte order, whatever the
 * machine's: big-endian where byte order is key order (LMDB keys, so a
 * partition is one range) or the network's (frame headers), little-endian
 * in the store's and the commit log's records. */
#ifndef RKV_BYTEORDER_H
#define RKV_BYTEORDER_H

#include <stdint.h>

static inline void byte_put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static inline uint32_t byte_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void byte_put_be64(uint8_t *p, uint64_t v)
{
	byte_put_be32(p, (uint32_t)(v >> 32));
	byte_put_be32(p + 4, (uint32_t)v);
}

static inline uint64_t byte_get_be64(const uint8_t *p)
{
	return (uint64_t)byte_get_be32(p) << 32 | byte_get_be32(p + 4);
}

static inline void byte_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t byte_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void byte_put_le64(uint8_t *p, uint64_t v)
{
	byte_put_le32(p, (uint32_t)v);
	byte_put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t byte_get_le64(const uint8_t *p)
{
	return byte_get_le32(p) | (uint64_t)byte_get_le32(p + 4) << 32;
}

#endif
