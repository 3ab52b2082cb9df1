/* cdr_bytes.h - byte-order helpers shared by every encoder (LMDB keys, wire formats, headers).
 * Big-endian integers keep LMDB keys sorted numerically. */
#ifndef CDR_BYTES_H
#define CDR_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* Write the low n bytes of v big-endian (n = 1..8). */
static inline void cdr_put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* Read n bytes big-endian (n = 1..8). */
static inline uint64_t cdr_get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

static inline void cdr_put_be64(uint8_t *p, uint64_t v)
{
    cdr_put_be(p, v, 8);
}

static inline uint64_t cdr_get_be64(const uint8_t *p)
{
    return cdr_get_be(p, 8);
}

static inline void cdr_put_be32(uint8_t *p, uint32_t v)
{
    cdr_put_be(p, v, 4);
}

static inline uint32_t cdr_get_be32(const uint8_t *p)
{
    return (uint32_t)cdr_get_be(p, 4);
}

/* Unsigned LEB128: 7 bits a byte, low first. Writes at most 10 bytes; returns the end. */
static inline uint8_t *cdr_put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Read a LEB128 value from [*pp, end). Returns 0 and advances *pp, -1 when truncated, -2 when
 * longer than 10 bytes or over 64 bits. */
static inline int cdr_get_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    const uint8_t *p = *pp;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return -1;
        uint8_t b = *p++;
        if (shift == 63 && b > 1)
            return -2;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return -2;
}

/* Zigzag: signed <-> unsigned so that small magnitudes stay short as varints. */
static inline uint64_t cdr_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t cdr_unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* A 64-bit mixer (the murmur3 finalizer): spreads every input bit over the result. For hash
 * tables keyed by ids. */
static inline uint64_t cdr_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

#endif
