/*
 * fuzz_frame.c: libFuzzer target for the frame decoder (proto/).
 *
 * The input is a byte stream as a peer would send it. It is decoded twice,
 * and the two must agree: frame by frame from the whole buffer (the
 * oracle), and through the incremental decoder in pieces whose sizes come
 * from a hash of the input. Every decoded frame is encoded again and must
 * come out byte for byte as it went in; the copy must decode to the same
 * frame. Bitmaps are walked in both encodings. Any disagreement aborts.
 *
 * Also linked into tests/test_fuzz_corpus, which replays the committed
 * corpus in every `make check`: this file must not define main().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bitmap.h"
#include "errors.h"
#include "frame.h"
#include "fuzz.h"

/* Bitmaps above this are only validated, not materialised: a six-byte run
 * list can describe 2^32 pages. */
#define FUZZ_MAX_PAGES (1u << 16)

static uint64_t
fuzz_seed(const uint8_t *data, size_t size)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	return h | 1;
}

static uint64_t
fuzz_rand(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* Mostly small pieces, to split headers and fields; sometimes large ones. */
static size_t
fuzz_piece(uint64_t *state, size_t left)
{
	uint64_t r = fuzz_rand(state);
	size_t piece = (r & 3) == 0 ? 1 + (size_t)(r >> 8) % 4096 : 1 + (size_t)(r >> 8) % 16;

	return piece < left ? piece : left;
}

/*
 * One frame from data[*off..size) the simple way. Moves *off past what the
 * decoder would consume: the header on a header error, the whole frame
 * otherwise. MIG_E_TRUNCATED when the data ends inside the frame.
 */
static int
oracle_next(const uint8_t *data, size_t size, size_t *off, struct mig_frame *f)
{
	struct mig_frame_header h;
	int err;

	if (size - *off < MIG_FRAME_HEADER_LEN)
		return MIG_E_TRUNCATED;
	if ((err = mig_frame_header_decode(data + *off, &h)) != MIG_OK) {
		*off += MIG_FRAME_HEADER_LEN;
		return err;
	}
	if (size - *off - MIG_FRAME_HEADER_LEN < h.length)
		return MIG_E_TRUNCATED;
	err = mig_frame_payload_decode(&h, data + *off + MIG_FRAME_HEADER_LEN, f);
	*off += MIG_FRAME_HEADER_LEN + h.length;
	return err;
}

static size_t
reencode(const struct mig_frame *f, uint8_t *out, size_t cap)
{
	char msg[MIG_ERROR_MSG_MAX + 1];

	switch (f->hdr.type) {
	case MIG_FRAME_HELLO:
		return mig_encode_hello(out, cap, &f->u.hello);
	case MIG_FRAME_HELLO_ACK:
		return mig_encode_hello_ack(out, cap, &f->u.hello_ack);
	case MIG_FRAME_DATA:
		return mig_encode_data(out, cap, &f->u.data);
	case MIG_FRAME_BITMAP:
		return mig_encode_bitmap(out, cap, &f->u.bitmap);
	case MIG_FRAME_END:
		return mig_encode_end(out, cap, &f->u.end);
	case MIG_FRAME_COMMIT:
		return mig_encode_commit(out, cap, &f->u.commit);
	case MIG_FRAME_ACK:
		return mig_encode_ack(out, cap, &f->u.ack);
	case MIG_FRAME_ERROR:
		/* The decoder refused embedded NULs, so the copy is the message. */
		memcpy(msg, f->u.error.message.ptr, f->u.error.message.len);
		msg[f->u.error.message.len] = '\0';
		return mig_encode_error(out, cap, f->u.error.code, msg);
	case MIG_FRAME_KEEPALIVE:
		return mig_encode_keepalive(out, cap, f->u.keepalive.nonce);
	case MIG_FRAME_SWITCHOVER_ACK:
		return mig_encode_switchover_ack(out, cap, f->u.switchover_ack.seq);
	}
	FUZZ_CHECK(!"decoded frame of unknown type");
	return 0;
}

/* A run list and the raw bitmap it decodes to describe the same pages,
 * and encoding that raw bitmap again gives the same pages back. */
static void
check_bitmap_pages(int encoding, const uint8_t *in, size_t len, uint64_t npages,
    uint64_t dirty)
{
	struct mig_bitmap_iter it;
	uint8_t *raw, *runs, *back;
	/* Each dirty run takes a dirty page and two varints of at most 10
	 * bytes; an all-clean bitmap one varint. Sized by dirty pages, not by
	 * pages: a megabyte per bitmap was most of the fuzzer's time. */
	size_t runs_cap = 20 * (size_t)dirty + 20, runs_len;
	uint64_t page, prev = 0, n = 0, again;

	FUZZ_CHECK((raw = calloc(1, MIG_BITMAP_RAW_LEN(npages) + 1)) != NULL);
	FUZZ_CHECK((back = calloc(1, MIG_BITMAP_RAW_LEN(npages) + 1)) != NULL);
	FUZZ_CHECK((runs = malloc(runs_cap)) != NULL);
	if (encoding == MIG_BITMAP_RUNS)
		FUZZ_CHECK(mig_bitmap_runs_decode(in, len, npages, raw, &again) == MIG_OK);
	else
		memcpy(raw, in, len);
	mig_bitmap_iter_init(&it, encoding, in, len, npages);
	while (mig_bitmap_iter_next(&it, &page)) {
		FUZZ_CHECK(page < npages && (n == 0 || page > prev));
		FUZZ_CHECK((raw[page / 8] >> (page % 8)) & 1);
		prev = page;
		n++;
	}
	FUZZ_CHECK(n == dirty && mig_bitmap_count(raw, npages) == dirty);
	runs_len = mig_bitmap_runs_encode(raw, npages, runs, runs_cap);
	FUZZ_CHECK(runs_len > 0);
	FUZZ_CHECK(mig_bitmap_runs_decode(runs, runs_len, npages, back, &again) == MIG_OK);
	FUZZ_CHECK(again == dirty && memcmp(raw, back, MIG_BITMAP_RAW_LEN(npages)) == 0);
	free(raw);
	free(back);
	free(runs);
}

/* The frame that decoded from wire[0..len) encodes back to exactly those
 * bytes, and the copy decodes to a frame that encodes the same again. */
static void
check_frame(const struct mig_frame *f, const uint8_t *wire, size_t len)
{
	struct mig_frame_header h;
	struct mig_frame again;
	uint8_t *out, *out2;
	const struct mig_bitmap *b = &f->u.bitmap;

	FUZZ_CHECK((out = malloc(len)) != NULL && (out2 = malloc(len)) != NULL);
	FUZZ_CHECK(reencode(f, out, len) == len);
	FUZZ_CHECK(memcmp(out, wire, len) == 0);
	FUZZ_CHECK(reencode(f, out2, len - 1) == 0);
	FUZZ_CHECK(mig_frame_header_decode(out, &h) == MIG_OK);
	FUZZ_CHECK(mig_frame_payload_decode(&h, out + MIG_FRAME_HEADER_LEN, &again) == MIG_OK);
	FUZZ_CHECK(reencode(&again, out2, len) == len && memcmp(out, out2, len) == 0);
	if (f->hdr.type == MIG_FRAME_BITMAP) {
		FUZZ_CHECK(again.u.bitmap.dirty_count == b->dirty_count);
		if (b->page_count <= FUZZ_MAX_PAGES)
			check_bitmap_pages(b->encoding, b->encoded, b->encoded_len, b->page_count,
			    b->dirty_count);
	}
	free(out);
	free(out2);
}

/* The incremental decoder, fed in pieces, agrees with the oracle frame by
 * frame, error by error, and on where the stream was cut. */
static void
check_stream(const uint8_t *data, size_t size)
{
	struct mig_decoder d;
	struct mig_frame f, want;
	enum mig_decode_status st;
	uint64_t rng = fuzz_seed(data, size);
	size_t pos = 0, off = 0, start, used;
	int err, expect;

	mig_decoder_init(&d);
	for (;;) {
		start = off;
		expect = oracle_next(data, size, &off, &want);
		st = MIG_DECODE_NEED_MORE;
		while (st == MIG_DECODE_NEED_MORE && pos < size) {
			st = mig_decoder_feed(&d, data + pos, fuzz_piece(&rng, size - pos), &used, &f,
			    &err);
			pos += used;
		}
		if (expect == MIG_E_TRUNCATED) {
			FUZZ_CHECK(st == MIG_DECODE_NEED_MORE && pos == size);
			FUZZ_CHECK(mig_decoder_partial(&d) == size - start);
			break;
		}
		if (expect != MIG_OK) {
			FUZZ_CHECK(st == MIG_DECODE_ERROR && err == expect && pos == off);
			FUZZ_CHECK(mig_decoder_feed(&d, data, size, &used, &f, &err) ==
			    MIG_DECODE_ERROR && err == expect && used == 0);
			break;
		}
		FUZZ_CHECK(st == MIG_DECODE_FRAME && pos == off);
		FUZZ_CHECK(mig_decoder_partial(&d) == 0);
		check_frame(&f, data + start, off - start);
		check_frame(&want, data + start, off - start);
	}
	mig_decoder_free(&d);
}

/* The run-list walkers on arbitrary bytes: check and decode must agree. */
static void
check_runs(const uint8_t *data, size_t size)
{
	uint64_t rng = fuzz_seed(data, size) ^ 0x5bd1e995;
	uint64_t npages = fuzz_rand(&rng) % 4096, dirty_check, dirty_decode;
	uint8_t *raw;
	int err;

	FUZZ_CHECK((raw = malloc(MIG_BITMAP_RAW_LEN(npages) + 1)) != NULL);
	err = mig_bitmap_runs_check(data, size, npages, &dirty_check);
	FUZZ_CHECK(mig_bitmap_runs_decode(data, size, npages, raw, &dirty_decode) == err);
	FUZZ_CHECK(err == MIG_OK || err == MIG_E_MALFORMED);
	if (err == MIG_OK && npages > 0) {
		FUZZ_CHECK(dirty_check == dirty_decode && dirty_check <= npages);
		check_bitmap_pages(MIG_BITMAP_RUNS, data, size, npages, dirty_check);
	}
	free(raw);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_stream(data, size);
	check_runs(data, size);
	return 0;
}
