/*
 * compress.h: packing DATA chunks (PROTOCOL.md §1, DATA flags ZSTD and
 * ZERO): zstd at a fast level, and the test for an all-zero chunk that
 * costs no compression at all.
 *
 * Bounded both ways: a chunk is compressed into a buffer of
 * compress_bound() bytes, and decompressed into exactly the length its
 * frame announced, never more (a decompression bomb fails here, before a
 * byte reaches a device). Knows nothing of frames or sockets.
 */
#ifndef MIG_COMPRESS_H
#define MIG_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

/* zstd's level: its fastest positive one. */
#define COMPRESS_LEVEL 1

struct compress_ctx;

/* NULL when zstd had no memory. */
struct compress_ctx *compress_new(void);
void compress_free(struct compress_ctx *z);

/* 1 when all n bytes are zero (it stops at the first that is not). */
int compress_is_zero(const uint8_t *p, size_t n);
/* Room compress_chunk() may need for n bytes. */
size_t compress_bound(size_t n);
/* Compresses src[0..n) into dst (cap >= compress_bound(n)); returns the
 * compressed size, or 0 on failure. */
size_t compress_chunk(struct compress_ctx *z, uint8_t *dst, size_t cap, const uint8_t *src,
    size_t n);
/* Decompresses the one zstd frame src[0..n) into dst, which must come out
 * exactly raw_len bytes. Returns 0, or -1 (with why[] saying what) when it
 * does not: corrupt, longer (nothing past raw_len is written) or shorter. */
int compress_unpack(struct compress_ctx *z, uint8_t *dst, uint32_t raw_len, const uint8_t *src,
    size_t n, char *why, size_t whylen);

#endif
