/*
 * compress.c: zstd for DATA chunks (compress.h). One compression and one
 * decompression context per migration, reused chunk after chunk; it
 * never allocates per chunk and never writes past the buffer it is given.
 */
#include "compress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

struct compress_ctx {
	ZSTD_CCtx *c;
	ZSTD_DCtx *d;
};

struct compress_ctx *
compress_new(void)
{
	struct compress_ctx *z = calloc(1, sizeof(*z));

	if (z == NULL)
		return NULL;
	z->c = ZSTD_createCCtx();
	z->d = ZSTD_createDCtx();
	if (z->c == NULL || z->d == NULL ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_compressionLevel, COMPRESS_LEVEL)) ||
	    /* A frame says how long it is: checked against the DATA's own. */
	    ZSTD_isError(ZSTD_CCtx_setParameter(z->c, ZSTD_c_contentSizeFlag, 1))) {
		compress_free(z);
		return NULL;
	}
	return z;
}

void
compress_free(struct compress_ctx *z)
{
	if (z == NULL)
		return;
	ZSTD_freeCCtx(z->c);
	ZSTD_freeDCtx(z->d);
	free(z);
}

int
compress_is_zero(const uint8_t *p, size_t n)
{
	static const uint8_t zeros[4096];
	size_t k;

	while (n > 0) {
		k = n < sizeof(zeros) ? n : sizeof(zeros);
		if (memcmp(p, zeros, k) != 0)
			return 0;
		p += k;
		n -= k;
	}
	return 1;
}

size_t
compress_bound(size_t n)
{
	return ZSTD_compressBound(n);
}

size_t
compress_chunk(struct compress_ctx *z, uint8_t *dst, size_t cap, const uint8_t *src, size_t n)
{
	size_t r = ZSTD_compress2(z->c, dst, cap, src, n);

	return ZSTD_isError(r) ? 0 : r;
}

int
compress_unpack(struct compress_ctx *z, uint8_t *dst, uint32_t raw_len, const uint8_t *src,
    size_t n, char *why, size_t whylen)
{
	unsigned long long said = ZSTD_getFrameContentSize(src, n);
	size_t r;

	if (said == ZSTD_CONTENTSIZE_ERROR) {
		snprintf(why, whylen, "not a zstd frame");
		return -1;
	}
	if (said != ZSTD_CONTENTSIZE_UNKNOWN && said != raw_len) {
		snprintf(why, whylen, "its zstd frame holds %llu bytes, the DATA says %u", said,
		    raw_len);
		return -1;
	}
	r = ZSTD_decompressDCtx(z->d, dst, raw_len, src, n);
	if (ZSTD_isError(r)) {
		snprintf(why, whylen, "zstd: %s", ZSTD_getErrorName(r));
		return -1;
	}
	if (r != raw_len) {
		snprintf(why, whylen, "it decompresses to %zu bytes, the DATA says %u", r, raw_len);
		return -1;
	}
	return 0;
}
