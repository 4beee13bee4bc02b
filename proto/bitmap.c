/*
 * bitmap.c: the raw and run-list encodings of a dirty-page bitmap
 * (bitmap.h, docs/PROTOCOL.md).
 *
 * Pure code over caller-owned buffers: no allocation, no I/O. The checks
 * here are what stands between a peer's bytes and the receiver writing page
 * contents at page offsets, so every run is bounded by npages before use.
 */
#include "bitmap.h"

#include <string.h>

#include "errors.h"
#include "frame.h"

/* A 64-bit varint takes at most 10 LEB128 bytes, the last holding bit 63. */
#define VARINT_MAX_LEN 10

/* Bit k of the result is page base + k: bytes are LSB first on the wire. */
static uint64_t
load_le64(const uint8_t *p)
{
	uint64_t w;

	/* memcpy() because p has no particular alignment. */
	memcpy(&w, p, sizeof(w));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

/* Bytes of a raw bitmap, computed without the overflow MIG_BITMAP_RAW_LEN
 * would have for npages near 2^64. */
static uint64_t
raw_len(uint64_t npages)
{
	return npages / 8 + (npages % 8 != 0);
}

uint64_t
mig_bitmap_count(const uint8_t *raw, uint64_t npages)
{
	uint64_t full = npages / 8, i = 0, n = 0, w;

	for (; full - i >= 8; i += 8) {
		memcpy(&w, raw + i, sizeof(w));
		n += (uint64_t)__builtin_popcountll(w);
	}
	for (; i < full; i++)
		n += (uint64_t)__builtin_popcount(raw[i]);
	if (npages % 8 != 0)
		n += (uint64_t)__builtin_popcount(raw[full] & ((1u << (npages % 8)) - 1));
	return n;
}

/* First page at or after from whose bit equals value, or npages. Whole
 * words are skipped at once: dirty bitmaps are mostly long runs. */
static uint64_t
bitmap_find(const uint8_t *raw, uint64_t npages, uint64_t from, int value)
{
	uint64_t flip = value ? 0 : ~(uint64_t)0, w;
	unsigned int b;

	while (from < npages) {
		if (from % 64 == 0 && npages - from >= 64) {
			if ((w = load_le64(raw + from / 8) ^ flip) != 0)
				return from + (uint64_t)__builtin_ctzll(w);
			from += 64;
			continue;
		}
		b = ((raw[from / 8] ^ (unsigned int)flip) & 0xff) >> (from % 8);
		if (b != 0) {
			from += (uint64_t)__builtin_ctz(b);
			break;
		}
		from += 8 - from % 8;
	}
	/* The byte path may land on padding bits past the last page. */
	return from < npages ? from : npages;
}

static void
bitmap_set_range(uint8_t *raw, uint64_t first, uint64_t n)
{
	uint64_t end = first + n;

	for (; first < end && first % 8 != 0; first++)
		raw[first / 8] |= (uint8_t)(1u << (first % 8));
	if (end - first >= 8) {
		memset(raw + first / 8, 0xff, (end - first) / 8);
		first += (end - first) / 8 * 8;
	}
	for (; first < end; first++)
		raw[first / 8] |= (uint8_t)(1u << (first % 8));
}

static int
varint_put(uint8_t *out, size_t cap, size_t *len, uint64_t v)
{
	do {
		if (*len >= cap)
			return 0;
		out[(*len)++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	return 1;
}

/* The tenth byte may only carry bit 63: more would overflow 64 bits. */
static int
varint_get(const uint8_t *in, size_t len, size_t *pos, uint64_t *v)
{
	unsigned int i;
	uint8_t byte;

	*v = 0;
	for (i = 0; i < VARINT_MAX_LEN; i++) {
		if (*pos >= len)
			return MIG_E_MALFORMED;
		byte = in[(*pos)++];
		*v |= (uint64_t)(byte & 0x7f) << (7 * i);
		if ((byte & 0x80) == 0)
			return i < VARINT_MAX_LEN - 1 || byte <= 1 ? MIG_OK : MIG_E_MALFORMED;
	}
	/* The tenth byte asked for an eleventh. */
	return MIG_E_MALFORMED;
}

size_t
mig_bitmap_runs_encode(const uint8_t *raw, uint64_t npages, uint8_t *out, size_t cap)
{
	uint64_t page = 0, dirty_at, clean_at;
	size_t len = 0;

	while (page < npages) {
		if ((dirty_at = bitmap_find(raw, npages, page, 1)) == npages)
			break;
		clean_at = bitmap_find(raw, npages, dirty_at, 0);
		if (!varint_put(out, cap, &len, dirty_at - page) ||
		    !varint_put(out, cap, &len, clean_at - dirty_at))
			return 0;
		page = clean_at;
	}
	/* An all-clean bitmap is sent as one clean run rather than an empty
	 * list, so that 0 keeps meaning "does not fit". */
	if (len == 0 && npages > 0 && !varint_put(out, cap, &len, npages))
		return 0;
	return len;
}

/*
 * Walks a run list, setting dirty bits in raw when raw is not NULL. A list
 * that ends on a clean run must end exactly at npages: a short one would
 * be two clean runs in a row, a second spelling of the same bitmap.
 */
static int
runs_walk(const uint8_t *in, size_t len, uint64_t npages, uint8_t *raw, uint64_t *dirty)
{
	uint64_t page = 0, ndirty = 0, clean, run;
	size_t pos = 0;

	while (pos < len) {
		/* Only the first clean run may be empty (the bitmap starts dirty). */
		if (varint_get(in, len, &pos, &clean) != MIG_OK || (clean == 0 && ndirty != 0) ||
		    clean > npages - page)
			return MIG_E_MALFORMED;
		page += clean;
		if (pos == len) {
			if (page != npages)
				return MIG_E_MALFORMED;
			break;
		}
		if (varint_get(in, len, &pos, &run) != MIG_OK || run == 0 || run > npages - page)
			return MIG_E_MALFORMED;
		if (raw != NULL)
			bitmap_set_range(raw, page, run);
		page += run;
		ndirty += run;
	}
	if (dirty != NULL)
		*dirty = ndirty;
	return MIG_OK;
}

int
mig_bitmap_runs_check(const uint8_t *in, size_t len, uint64_t npages, uint64_t *dirty)
{
	return runs_walk(in, len, npages, NULL, dirty);
}

int
mig_bitmap_runs_decode(const uint8_t *in, size_t len, uint64_t npages, uint8_t *raw,
    uint64_t *dirty)
{
	int err;

	memset(raw, 0, raw_len(npages));
	/* Leave no half-decoded bitmap behind for a caller that ignores err. */
	if ((err = runs_walk(in, len, npages, raw, dirty)) != MIG_OK)
		memset(raw, 0, raw_len(npages));
	return err;
}

int
mig_bitmap_raw_check(const uint8_t *in, size_t len, uint64_t npages, uint64_t *dirty)
{
	if ((uint64_t)len != raw_len(npages))
		return MIG_E_MALFORMED;
	/* Padding bits set past the last page would be pages outside the
	 * range the frame names. */
	if (npages % 8 != 0 && (in[len - 1] >> (npages % 8)) != 0)
		return MIG_E_MALFORMED;
	if (dirty != NULL)
		*dirty = mig_bitmap_count(in, npages);
	return MIG_OK;
}

void
mig_bitmap_iter_init(struct mig_bitmap_iter *it, int encoding, const uint8_t *in, size_t len,
    uint64_t npages)
{
	memset(it, 0, sizeof(*it));
	it->encoding = encoding;
	it->in = in;
	it->len = len;
	it->npages = npages;
	/* Never look past the buffer, even if the caller skipped the check. */
	if (encoding == MIG_BITMAP_RAW && raw_len(npages) > (uint64_t)len)
		it->npages = (uint64_t)len * 8;
}

static int
iter_next_raw(struct mig_bitmap_iter *it, uint64_t *page)
{
	if ((it->page = bitmap_find(it->in, it->npages, it->page, 1)) >= it->npages)
		return 0;
	*page = it->page++;
	return 1;
}

static int
iter_next_runs(struct mig_bitmap_iter *it, uint64_t *page)
{
	uint64_t clean, run;

	while (it->run_left == 0) {
		if (it->pos >= it->len ||
		    varint_get(it->in, it->len, &it->pos, &clean) != MIG_OK ||
		    clean > it->npages - it->page)
			goto end;
		it->page += clean;
		if (it->pos >= it->len || varint_get(it->in, it->len, &it->pos, &run) != MIG_OK ||
		    run > it->npages - it->page)
			goto end;
		it->run_left = run;
	}
	*page = it->page++;
	it->run_left--;
	return 1;
end:
	it->pos = it->len;
	return 0;
}

int
mig_bitmap_iter_next(struct mig_bitmap_iter *it, uint64_t *page)
{
	if (it->encoding == MIG_BITMAP_RAW)
		return iter_next_raw(it, page);
	if (it->encoding == MIG_BITMAP_RUNS)
		return iter_next_runs(it, page);
	return 0;
}
