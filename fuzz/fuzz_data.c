/*
 * fuzz_data.c: libFuzzer target for the receiver's zero-copy DATA path
 * (proto/frame.h: mig_frame_header_decode(), mig_data_fixed_decode(),
 * mig_encode_data_prefix()).
 *
 * The input is a byte stream as a peer would send it, walked the way
 * daemon/peer.c walks its input buffer: a header, then for a DATA frame
 * only its fixed fields, the payload left where it is and skipped by the
 * length they give. Every frame is also decoded whole and by the
 * incremental decoder; for DATA the three must agree on the error, the
 * fields and where the payload starts and ends, and the fixed fields must
 * encode back byte for byte. A header of any other type, or a DATA too
 * short for its fixed fields, must be refused before a field is read. The
 * input's last bytes are also the fields of a prefix to encode: the
 * encoder must write exactly the prefixes the decoders accept. Any
 * disagreement aborts.
 *
 * Also linked into tests/test_fuzz_data, which replays fuzz/corpus/data in
 * every `make check`: this file must not define main().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "frame.h"
#include "fuzz.h"

/* seq, phase, flags and payload length, as check_prefix_encoder() reads
 * them from the end of the input. */
#define FIELDS_LEN (8 + 1 + 1 + 4)

static uint64_t
get_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = v << 8 | *p++;
	return v;
}

/*
 * The fixed fields of a frame with checked header h, decoded from a copy
 * of only the bytes a DATA frame has of them (none for another type): in
 * the daemon a read past a short frame reads the next frame or stale
 * bytes, here the sanitizers see it.
 */
static int
fixed_decode_exact(const struct mig_frame_header *h, const uint8_t *payload, struct mig_data *out)
{
	size_t have = h->length < MIG_DATA_FIXED_LEN ? h->length : MIG_DATA_FIXED_LEN;
	uint8_t *copy;
	int err;

	if (h->type != MIG_FRAME_DATA)
		have = 0;
	copy = malloc(have);
	FUZZ_CHECK(copy != NULL || have == 0);
	if (have > 0)
		memcpy(copy, payload, have);
	err = mig_data_fixed_decode(h, copy, out);
	free(copy);
	return err;
}

/* One whole frame at wire, its header h checked and its payload decoded
 * whole into *whole with result want: the zero-copy decode agrees. */
static void
check_in_place(const struct mig_frame_header *h, const uint8_t *wire, int want,
    const struct mig_frame *whole)
{
	const struct mig_data *w = &whole->u.data;
	uint8_t prefix[MIG_DATA_PREFIX_LEN];
	struct mig_data d;
	int err = fixed_decode_exact(h, wire + MIG_FRAME_HEADER_LEN, &d);

	if (h->type != MIG_FRAME_DATA) {
		FUZZ_CHECK(err == MIG_E_MALFORMED);
		return;
	}
	FUZZ_CHECK(err == want);
	if (err != MIG_OK)
		return;
	FUZZ_CHECK(d.payload == NULL && d.payload_len == w->payload_len);
	FUZZ_CHECK(d.seq == w->seq && d.phase == w->phase && d.flags == w->flags);
	/* The daemon drains the prefix, then payload_len bytes: one frame. */
	FUZZ_CHECK(w->payload == wire + MIG_DATA_PREFIX_LEN);
	FUZZ_CHECK(MIG_DATA_PREFIX_LEN + (size_t)d.payload_len ==
	    MIG_FRAME_HEADER_LEN + (size_t)h->length);
	FUZZ_CHECK(mig_encode_data_prefix(prefix, d.seq, d.phase, d.flags, d.payload_len) ==
	    MIG_DATA_PREFIX_LEN);
	FUZZ_CHECK(memcmp(prefix, wire, MIG_DATA_PREFIX_LEN) == 0);
}

/* What the incremental decoder made of the same frame: the same error,
 * or for DATA the same fields and a copy of the same payload. */
static void
check_incremental(enum mig_decode_status st, int err, size_t used, int want,
    const struct mig_frame *whole, const struct mig_frame *f)
{
	const struct mig_data *w = &whole->u.data, *d = &f->u.data;

	if (want != MIG_OK) {
		FUZZ_CHECK(st == MIG_DECODE_ERROR && err == want);
		return;
	}
	FUZZ_CHECK(st == MIG_DECODE_FRAME && used == MIG_FRAME_HEADER_LEN + whole->hdr.length);
	FUZZ_CHECK(f->hdr.type == whole->hdr.type && f->hdr.length == whole->hdr.length);
	if (whole->hdr.type != MIG_FRAME_DATA)
		return;
	FUZZ_CHECK(d->seq == w->seq && d->phase == w->phase && d->flags == w->flags);
	FUZZ_CHECK(d->payload_len == w->payload_len);
	FUZZ_CHECK(d->payload_len == 0 || memcmp(d->payload, w->payload, d->payload_len) == 0);
}

/* The stream frame by frame, as the daemon reads it, until its first
 * error or its end; the incremental decoder is fed what remains each time
 * and stops after one frame. */
static void
check_stream(const uint8_t *data, size_t size)
{
	struct mig_decoder dec;
	struct mig_frame_header h;
	struct mig_frame whole, f;
	enum mig_decode_status st;
	size_t off = 0, used;
	int err, want;

	mig_decoder_init(&dec);
	for (;;) {
		st = mig_decoder_feed(&dec, data + off, size - off, &used, &f, &err);
		if (size - off < MIG_FRAME_HEADER_LEN) {
			FUZZ_CHECK(st == MIG_DECODE_NEED_MORE && used == size - off);
			break;
		}
		if ((want = mig_frame_header_decode(data + off, &h)) != MIG_OK) {
			FUZZ_CHECK(st == MIG_DECODE_ERROR && err == want);
			break;
		}
		if (size - off - MIG_FRAME_HEADER_LEN < h.length) {
			/* The daemon waits for the rest, and so does the decoder. */
			FUZZ_CHECK(st == MIG_DECODE_NEED_MORE && used == size - off);
			break;
		}
		want = mig_frame_payload_decode(&h, data + off + MIG_FRAME_HEADER_LEN, &whole);
		check_in_place(&h, data + off, want, &whole);
		check_incremental(st, err, used, want, &whole, &f);
		if (want != MIG_OK)
			break;
		off += MIG_FRAME_HEADER_LEN + h.length;
	}
	mig_decoder_free(&dec);
}

/* The input's last FIELDS_LEN bytes as a prefix to send: the encoder
 * writes it if and only if the same fields, laid out by hand as a peer
 * could send them, pass both decoders' checks, and then byte for byte. */
static void
check_prefix_encoder(const uint8_t *data, size_t size)
{
	const uint8_t *t = data + size - FIELDS_LEN;
	uint8_t enc[MIG_DATA_PREFIX_LEN], raw[MIG_DATA_PREFIX_LEN] = {0};
	uint32_t len = (uint32_t)get_be(t + 10, 4);
	struct mig_frame_header h;
	struct mig_data d;
	size_t n;
	int ok;

	n = mig_encode_data_prefix(enc, get_be(t, 8), t[8], t[9], len);
	FUZZ_CHECK(n == 0 || n == MIG_DATA_PREFIX_LEN);
	ok = len <= UINT32_MAX - MIG_DATA_FIXED_LEN;
	if (ok) {
		mig_frame_header_encode(raw, MIG_FRAME_DATA, MIG_DATA_FIXED_LEN + len);
		memcpy(raw + MIG_FRAME_HEADER_LEN, t, 8 + 1 + 1); /* reserved stays 0 */
		ok = mig_frame_header_decode(raw, &h) == MIG_OK &&
		    mig_data_fixed_decode(&h, raw + MIG_FRAME_HEADER_LEN, &d) == MIG_OK;
	}
	FUZZ_CHECK(ok == (n == MIG_DATA_PREFIX_LEN));
	if (!ok)
		return;
	FUZZ_CHECK(memcmp(enc, raw, MIG_DATA_PREFIX_LEN) == 0);
	FUZZ_CHECK(d.seq == get_be(t, 8) && d.phase == t[8] && d.flags == t[9]);
	FUZZ_CHECK(d.payload_len == len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Pointer arithmetic on NULL is undefined even for an offset of 0. */
	static const uint8_t empty[1];

	if (data == NULL)
		data = empty;
	check_stream(data, size);
	if (size >= FIELDS_LEN)
		check_prefix_encoder(data, size);
	return 0;
}
