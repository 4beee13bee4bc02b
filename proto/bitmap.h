/*
 * bitmap.h: encodings of a dirty-page bitmap on the wire (docs/PROTOCOL.md).
 *
 * In memory a bitmap is raw: bit i (byte i / 8, bit i % 8, LSB first) is
 * page start_pfn + i. On the wire it is either that raw form or a run list,
 * LEB128 varints alternating (clean run, dirty run) starting with a clean
 * run that may be 0; runs cover exactly page_count pages, the last run may
 * be omitted when it is clean. The sender picks the shorter.
 */
#ifndef MIG_BITMAP_H
#define MIG_BITMAP_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of a raw bitmap of n pages. */
#define MIG_BITMAP_RAW_LEN(n) (((size_t)(n) + 7) / 8)

/* Number of set bits among the first npages of raw. */
uint64_t mig_bitmap_count(const uint8_t *raw, uint64_t npages);

/* Encode raw (npages bits) as a run list into out[0..cap). Returns bytes
 * written, or 0 if it does not fit in cap (the caller then sends raw). */
size_t mig_bitmap_runs_encode(const uint8_t *raw, uint64_t npages, uint8_t *out, size_t cap);

/* Decode a run list into raw (MIG_BITMAP_RAW_LEN(npages) bytes, cleared by
 * the function). Returns MIG_OK, or MIG_E_MALFORMED for a varint longer
 * than 10 bytes or overflowing, runs past npages, zero-length dirty runs,
 * or trailing bytes. *dirty gets the number of dirty pages. */
int mig_bitmap_runs_decode(const uint8_t *in, size_t len, uint64_t npages, uint8_t *raw,
    uint64_t *dirty);

/* Validate a run list without materialising it (used by the frame decoder,
 * which must not allocate): same errors as mig_bitmap_runs_decode. */
int mig_bitmap_runs_check(const uint8_t *in, size_t len, uint64_t npages, uint64_t *dirty);

/* Validate a raw bitmap: len must be MIG_BITMAP_RAW_LEN(npages) and bits
 * past npages must be 0. *dirty gets the number of set bits. */
int mig_bitmap_raw_check(const uint8_t *in, size_t len, uint64_t npages, uint64_t *dirty);

/* Iterate over the dirty pages of an encoded bitmap in ascending order.
 * Used by the receiver to place page contents. */
struct mig_bitmap_iter {
	const uint8_t *in;
	size_t len, pos;
	uint64_t npages, page;
	uint64_t run_left; /* RUNS: dirty pages left in the current run */
	int encoding;
};
void mig_bitmap_iter_init(struct mig_bitmap_iter *it, int encoding, const uint8_t *in, size_t len,
    uint64_t npages);
/* Returns 1 and the page index (relative to start_pfn) of the next dirty
 * page, 0 at the end. Only for input the decoder already validated. */
int mig_bitmap_iter_next(struct mig_bitmap_iter *it, uint64_t *page);

#endif
