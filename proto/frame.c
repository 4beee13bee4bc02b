/*
 * frame.c: the byte layout of every frame of the wire protocol (frame.h,
 * docs/PROTOCOL.md).
 *
 * Pure code: it never touches a socket, never logs, and allocates only the
 * incremental decoder's payload buffer. Each frame type has one validation
 * function that both its encoder and its decoder call, so the encoder
 * cannot produce a frame the decoder would refuse.
 */
#include "frame.h"

#include <stdlib.h>
#include <string.h>

#include "bitmap.h"
#include "digest.h"
#include "errors.h"

/* Fixed parts of the payloads; strings add a u16 length each. */
#define HELLO_FIXED_LEN (2 + 2 + MIG_UUID_LEN + 4 * 2 + 8 + 8 + 2 + 2)
#define HELLO_MAX_LEN (HELLO_FIXED_LEN + MIG_TOKEN_MAX + MIG_NAME_MAX + MIG_IDENTITY_MAX + \
    MIG_COMPAT_MAX)
#define HELLO_ACK_FIXED_LEN (2 + MIG_UUID_LEN + 8 + 2)
#define BITMAP_FIXED_LEN (8 + 8 + 4 + 4 + 1 + 1 + 2 + 4)
#define END_LEN (8 + 8 + 8 + MIG_END_DIGEST_LEN)
#define COMMIT_LEN (8 + 4)
#define ACK_LEN 8
#define ERROR_FIXED_LEN (4 + 2)
#define KEEPALIVE_LEN 8
#define SWITCHOVER_ACK_LEN 8

/*
 * Reads fields from a payload. Running past the end sets bad and every
 * later read yields zero, so a decoder reads all its fields and checks bad
 * once.
 */
struct frame_reader {
	const uint8_t *buf;
	size_t len, pos;
	int bad;
};

/* Writes a frame; like the reader, overflowing cap sets bad once. */
struct frame_writer {
	uint8_t *buf;
	size_t cap, len;
	int bad;
};

static int hello_decode(struct frame_reader *, struct mig_frame *);
static int hello_ack_decode(struct frame_reader *, struct mig_frame *);
static int data_decode(struct frame_reader *, struct mig_frame *);
static int bitmap_decode(struct frame_reader *, struct mig_frame *);
static int end_decode(struct frame_reader *, struct mig_frame *);
static int commit_decode(struct frame_reader *, struct mig_frame *);
static int ack_decode(struct frame_reader *, struct mig_frame *);
static int error_decode(struct frame_reader *, struct mig_frame *);
static int keepalive_decode(struct frame_reader *, struct mig_frame *);
static int switchover_ack_decode(struct frame_reader *, struct mig_frame *);

/*
 * Each type has its own ceiling so that a header announcing a 16 MiB
 * KEEPALIVE is refused before the decoder buffers a byte of it.
 */
static const struct frame_kind {
	const char *name;
	uint32_t max_payload;
	int (*decode)(struct frame_reader *, struct mig_frame *);
} frame_kinds[] = {
	[MIG_FRAME_HELLO] = {"HELLO", HELLO_MAX_LEN, hello_decode},
	[MIG_FRAME_HELLO_ACK] = {"HELLO_ACK", HELLO_ACK_FIXED_LEN + MIG_IDENTITY_MAX,
	    hello_ack_decode},
	[MIG_FRAME_DATA] = {"DATA", MIG_DATA_FIXED_LEN + MIG_MAX_CHUNK, data_decode},
	[MIG_FRAME_BITMAP] = {"BITMAP", MIG_FRAME_MAX_PAYLOAD, bitmap_decode},
	[MIG_FRAME_END] = {"END", END_LEN, end_decode},
	[MIG_FRAME_COMMIT] = {"COMMIT", COMMIT_LEN, commit_decode},
	[MIG_FRAME_ACK] = {"ACK", ACK_LEN, ack_decode},
	[MIG_FRAME_ERROR] = {"ERROR", ERROR_FIXED_LEN + MIG_ERROR_MSG_MAX, error_decode},
	[MIG_FRAME_KEEPALIVE] = {"KEEPALIVE", KEEPALIVE_LEN, keepalive_decode},
	[MIG_FRAME_SWITCHOVER_ACK] = {"SWITCHOVER_ACK", SWITCHOVER_ACK_LEN, switchover_ack_decode},
};

static const struct frame_kind *
frame_kind(int type)
{
	if (type < MIG_FRAME_HELLO || type > MIG_FRAME_TYPE_MAX)
		return NULL;
	return &frame_kinds[type];
}

const char *
mig_frame_type_name(int type)
{
	const struct frame_kind *k = frame_kind(type);

	return k != NULL ? k->name : "UNKNOWN";
}

static uint16_t
get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void
put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static void
put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* Returns n bytes of the payload, or NULL (and bad) when fewer remain. */
static const uint8_t *
rd_take(struct frame_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->bad || n > r->len - r->pos) {
		r->bad = 1;
		return NULL;
	}
	p = r->buf + r->pos;
	r->pos += n;
	return p;
}

static uint8_t
rd_u8(struct frame_reader *r)
{
	const uint8_t *p = rd_take(r, 1);

	return p != NULL ? p[0] : 0;
}

static uint16_t
rd_u16(struct frame_reader *r)
{
	const uint8_t *p = rd_take(r, 2);

	return p != NULL ? get_be16(p) : 0;
}

static uint32_t
rd_u32(struct frame_reader *r)
{
	const uint8_t *p = rd_take(r, 4);

	return p != NULL ? get_be32(p) : 0;
}

static uint64_t
rd_u64(struct frame_reader *r)
{
	const uint8_t *p = rd_take(r, 8);

	return p != NULL ? get_be64(p) : 0;
}

static void
rd_copy(struct frame_reader *r, uint8_t *out, size_t n)
{
	const uint8_t *p = rd_take(r, n);

	if (p != NULL)
		memcpy(out, p, n);
}

static void
rd_str(struct frame_reader *r, struct mig_str *s)
{
	s->len = rd_u16(r);
	s->ptr = (const char *)rd_take(r, s->len);
}

static uint8_t *
wr_take(struct frame_writer *w, size_t n)
{
	uint8_t *p;

	if (w->bad || n > w->cap - w->len) {
		w->bad = 1;
		return NULL;
	}
	p = w->buf + w->len;
	w->len += n;
	return p;
}

static void
wr_bytes(struct frame_writer *w, const void *src, size_t n)
{
	uint8_t *p = wr_take(w, n);

	/* memcpy() must not see a NULL source, even for 0 bytes. */
	if (p != NULL && n > 0)
		memcpy(p, src, n);
}

static void
wr_u8(struct frame_writer *w, uint8_t v)
{
	uint8_t *p = wr_take(w, 1);

	if (p != NULL)
		p[0] = v;
}

static void
wr_u16(struct frame_writer *w, uint16_t v)
{
	uint8_t *p = wr_take(w, 2);

	if (p != NULL)
		put_be16(p, v);
}

static void
wr_u32(struct frame_writer *w, uint32_t v)
{
	uint8_t *p = wr_take(w, 4);

	if (p != NULL)
		put_be32(p, v);
}

static void
wr_u64(struct frame_writer *w, uint64_t v)
{
	uint8_t *p = wr_take(w, 8);

	if (p != NULL)
		put_be64(p, v);
}

static void
wr_str(struct frame_writer *w, const struct mig_str *s)
{
	wr_u16(w, s->len);
	wr_bytes(w, s->ptr, s->len);
}

/* Leaves room for the header, written by wr_finish() once the length is known. */
static void
wr_begin(struct frame_writer *w, uint8_t *out, size_t cap)
{
	w->buf = out;
	w->cap = out != NULL ? cap : 0;
	w->len = 0;
	w->bad = 0;
	wr_take(w, MIG_FRAME_HEADER_LEN);
}

static size_t
wr_finish(struct frame_writer *w, uint8_t type)
{
	size_t length;

	if (w->bad)
		return 0;
	length = w->len - MIG_FRAME_HEADER_LEN;
	if (length > frame_kind(type)->max_payload)
		return 0;
	mig_frame_header_encode(w->buf, type, (uint32_t)length);
	return w->len;
}

void
mig_frame_header_encode(uint8_t out[MIG_FRAME_HEADER_LEN], uint8_t type, uint32_t length)
{
	put_be32(out, MIG_FRAME_MAGIC);
	out[4] = MIG_PROTO_VERSION;
	out[5] = type;
	put_be16(out + 6, 0);
	put_be32(out + 8, length);
}

int
mig_frame_header_decode(const uint8_t hdr[MIG_FRAME_HEADER_LEN], struct mig_frame_header *out)
{
	const struct frame_kind *k;

	/* The order matters: a peer speaking another protocol gets BAD_MAGIC,
	 * not a complaint about whatever its bytes look like as our fields. */
	if (get_be32(hdr) != MIG_FRAME_MAGIC)
		return MIG_E_BAD_MAGIC;
	if (hdr[4] != MIG_PROTO_VERSION)
		return MIG_E_BAD_VERSION;
	if ((k = frame_kind(hdr[5])) == NULL)
		return MIG_E_UNKNOWN_TYPE;
	if (get_be16(hdr + 6) != 0)
		return MIG_E_MALFORMED;
	if (get_be32(hdr + 8) > k->max_payload)
		return MIG_E_FRAME_TOO_LARGE;
	out->version = hdr[4];
	out->type = hdr[5];
	out->flags = 0;
	out->length = get_be32(hdr + 8);
	return MIG_OK;
}

/* A string field: length within [min, max] and no NUL, which would cut it
 * short wherever it is later used as a C string. */
static int
str_valid(const struct mig_str *s, uint16_t min, uint16_t max)
{
	if (s->len < min || s->len > max)
		return 0;
	if (s->len == 0)
		return 1;
	return s->ptr != NULL && memchr(s->ptr, '\0', s->len) == NULL;
}

/* Unknown capability bits are allowed: a newer source announces what it
 * can do, and the destination agrees only to the bits it knows. */
static int
hello_valid(const struct mig_hello *h)
{
	if (h->version_min == 0 || h->version_min > h->version_max)
		return 0;
	if (!str_valid(&h->token, 1, MIG_TOKEN_MAX) || !str_valid(&h->device, 1, MIG_NAME_MAX) ||
	    !str_valid(&h->identity, 1, MIG_IDENTITY_MAX) ||
	    !str_valid(&h->compat, 0, MIG_COMPAT_MAX))
		return 0;
	return h->channels >= 1 && h->channels <= MIG_CHANNELS_MAX && h->channel < h->channels;
}

static int
hello_decode(struct frame_reader *r, struct mig_frame *f)
{
	struct mig_hello *h = &f->u.hello;

	h->version_min = rd_u16(r);
	h->version_max = rd_u16(r);
	rd_copy(r, h->migration_id, MIG_UUID_LEN);
	rd_str(r, &h->token);
	rd_str(r, &h->device);
	rd_str(r, &h->identity);
	rd_str(r, &h->compat);
	h->capabilities = rd_u64(r);
	h->state_size = rd_u64(r);
	h->channel = rd_u16(r);
	h->channels = rd_u16(r);
	return !r->bad && hello_valid(h) ? MIG_OK : MIG_E_MALFORMED;
}

size_t
mig_encode_hello(uint8_t *out, size_t cap, const struct mig_hello *h)
{
	struct frame_writer w;

	if (!hello_valid(h))
		return 0;
	wr_begin(&w, out, cap);
	wr_u16(&w, h->version_min);
	wr_u16(&w, h->version_max);
	wr_bytes(&w, h->migration_id, MIG_UUID_LEN);
	wr_str(&w, &h->token);
	wr_str(&w, &h->device);
	wr_str(&w, &h->identity);
	wr_str(&w, &h->compat);
	wr_u64(&w, h->capabilities);
	wr_u64(&w, h->state_size);
	wr_u16(&w, h->channel);
	wr_u16(&w, h->channels);
	return wr_finish(&w, MIG_FRAME_HELLO);
}

/* The agreed capabilities are an intersection with what the source
 * announced, so a bit neither side knows cannot legitimately appear; of
 * the digests, one is chosen, so at most one bit names it. */
static int
hello_ack_valid(const struct mig_hello_ack *a)
{
	uint64_t digests = a->capabilities & MIG_CAP_DIGESTS;

	if (a->version == 0 || (a->capabilities & ~MIG_CAP_KNOWN) != 0)
		return 0;
	if ((digests & (digests - 1)) != 0)
		return 0;
	return str_valid(&a->identity, 1, MIG_IDENTITY_MAX);
}

static int
hello_ack_decode(struct frame_reader *r, struct mig_frame *f)
{
	struct mig_hello_ack *a = &f->u.hello_ack;

	a->version = rd_u16(r);
	rd_copy(r, a->migration_id, MIG_UUID_LEN);
	a->capabilities = rd_u64(r);
	rd_str(r, &a->identity);
	return !r->bad && hello_ack_valid(a) ? MIG_OK : MIG_E_MALFORMED;
}

size_t
mig_encode_hello_ack(uint8_t *out, size_t cap, const struct mig_hello_ack *a)
{
	struct frame_writer w;

	if (!hello_ack_valid(a))
		return 0;
	wr_begin(&w, out, cap);
	wr_u16(&w, a->version);
	wr_bytes(&w, a->migration_id, MIG_UUID_LEN);
	wr_u64(&w, a->capabilities);
	wr_str(&w, &a->identity);
	return wr_finish(&w, MIG_FRAME_HELLO_ACK);
}

/* The initial data is a pre-copy notion: after the switchover it has
 * either been acknowledged or given up on. */
static int
data_valid(uint8_t phase, uint8_t flags, uint32_t payload_len)
{
	if (phase != MIG_PHASE_PRECOPY && phase != MIG_PHASE_STOPCOPY)
		return 0;
	if ((flags & MIG_DATA_INITIAL_DONE) && phase != MIG_PHASE_PRECOPY)
		return 0;
	/* Packed: one way only; a zero run is its length alone, a zstd
	 * chunk its length and at least one byte of frame. */
	if ((flags & MIG_DATA_PACKED) == MIG_DATA_PACKED)
		return 0;
	if ((flags & MIG_DATA_ZERO) && payload_len != MIG_DATA_RAW_LEN)
		return 0;
	if ((flags & MIG_DATA_ZSTD) && payload_len <= MIG_DATA_RAW_LEN)
		return 0;
	return (flags & ~MIG_DATA_FLAGS_KNOWN) == 0 && payload_len <= MIG_MAX_CHUNK;
}

static int
data_decode(struct frame_reader *r, struct mig_frame *f)
{
	struct mig_data *d = &f->u.data;
	uint16_t reserved;

	d->seq = rd_u64(r);
	d->phase = rd_u8(r);
	d->flags = rd_u8(r);
	reserved = rd_u16(r);
	if (r->bad)
		return MIG_E_MALFORMED;
	d->payload_len = (uint32_t)(r->len - r->pos);
	d->payload = rd_take(r, d->payload_len);
	return reserved == 0 && data_valid(d->phase, d->flags, d->payload_len) ? MIG_OK :
	    MIG_E_MALFORMED;
}

int
mig_data_fixed_decode(const struct mig_frame_header *hdr, const uint8_t fixed[MIG_DATA_FIXED_LEN],
    struct mig_data *out)
{
	struct frame_reader r = {fixed, MIG_DATA_FIXED_LEN, 0, 0};
	uint16_t reserved;

	if (hdr->type != MIG_FRAME_DATA || hdr->length < MIG_DATA_FIXED_LEN)
		return MIG_E_MALFORMED;
	out->seq = rd_u64(&r);
	out->phase = rd_u8(&r);
	out->flags = rd_u8(&r);
	reserved = rd_u16(&r);
	out->payload = NULL;
	out->payload_len = hdr->length - MIG_DATA_FIXED_LEN;
	return reserved == 0 && data_valid(out->phase, out->flags, out->payload_len) ? MIG_OK :
	    MIG_E_MALFORMED;
}

size_t
mig_encode_data_prefix(uint8_t out[MIG_DATA_PREFIX_LEN], uint64_t seq, uint8_t phase,
    uint8_t flags, uint32_t payload_len)
{
	if (!data_valid(phase, flags, payload_len))
		return 0;
	mig_frame_header_encode(out, MIG_FRAME_DATA, MIG_DATA_FIXED_LEN + payload_len);
	put_be64(out + MIG_FRAME_HEADER_LEN, seq);
	out[MIG_FRAME_HEADER_LEN + 8] = phase;
	out[MIG_FRAME_HEADER_LEN + 9] = flags;
	put_be16(out + MIG_FRAME_HEADER_LEN + 10, 0);
	return MIG_DATA_PREFIX_LEN;
}

size_t
mig_encode_data(uint8_t *out, size_t cap, const struct mig_data *d)
{
	if (out == NULL || cap < MIG_DATA_PREFIX_LEN || d->payload_len > cap - MIG_DATA_PREFIX_LEN)
		return 0;
	if (d->payload_len > 0 && d->payload == NULL)
		return 0;
	if (mig_encode_data_prefix(out, d->seq, d->phase, d->flags, d->payload_len) == 0)
		return 0;
	if (d->payload_len > 0)
		memcpy(out + MIG_DATA_PREFIX_LEN, d->payload, d->payload_len);
	return MIG_DATA_PREFIX_LEN + (size_t)d->payload_len;
}

uint64_t
mig_cap_digest(int id)
{
	switch (id) {
	case MIG_DIGEST_SHA256:
		return MIG_CAP_DIGEST_SHA256;
	case MIG_DIGEST_XXH3_128:
		return MIG_CAP_DIGEST_XXH3_128;
	}
	return 0;
}

int
mig_caps_digest(uint64_t caps)
{
	switch (caps & MIG_CAP_DIGESTS) {
	case 0:
	case MIG_CAP_DIGEST_SHA256:
		return MIG_DIGEST_SHA256;
	case MIG_CAP_DIGEST_XXH3_128:
		return MIG_DIGEST_XXH3_128;
	}
	return -1;
}

int
mig_data_packed_decode(uint8_t flags, const uint8_t *payload, uint32_t payload_len,
    struct mig_packed *out)
{
	struct frame_reader r = {payload, payload_len, 0, 0};

	memset(out, 0, sizeof(*out));
	if (!(flags & MIG_DATA_PACKED) || (flags & MIG_DATA_PACKED) == MIG_DATA_PACKED)
		return MIG_E_MALFORMED;
	out->raw_len = rd_u32(&r);
	if (r.bad || out->raw_len == 0 || out->raw_len > MIG_MAX_CHUNK)
		return MIG_E_MALFORMED;
	out->body_len = (uint32_t)(r.len - r.pos);
	out->body = rd_take(&r, out->body_len);
	if (flags & MIG_DATA_ZERO)
		return out->body_len == 0 ? MIG_OK : MIG_E_MALFORMED;
	return out->body_len > 0 ? MIG_OK : MIG_E_MALFORMED;
}

void
mig_data_packed_encode_len(uint8_t out[MIG_DATA_RAW_LEN], uint32_t raw_len)
{
	put_be32(out, raw_len);
}

/*
 * Everything about a BITMAP except its seq. The page range must be
 * addressable in bytes, so (start_pfn + page_count) * page_size fits in 64
 * bits. The contents must be exactly dirty pages times page size: the
 * product is at most 2^32 * 2^30 and cannot overflow 64 bits.
 */
static int
bitmap_valid(const struct mig_bitmap *b, uint32_t *dirty_count)
{
	uint64_t dirty, contents_len;
	int err;

	if (b->page_size < MIG_PAGE_SIZE_MIN || b->page_size > MIG_PAGE_SIZE_MAX ||
	    (b->page_size & (b->page_size - 1)) != 0)
		return 0;
	if (b->page_count == 0 || b->start_pfn > UINT64_MAX / b->page_size - b->page_count)
		return 0;
	if ((b->flags & ~MIG_BITMAP_FLAGS_KNOWN) != 0 || (b->encoded_len > 0 && b->encoded == NULL))
		return 0;
	if (b->encoding == MIG_BITMAP_RAW)
		err = mig_bitmap_raw_check(b->encoded, b->encoded_len, b->page_count, &dirty);
	else if (b->encoding == MIG_BITMAP_RUNS)
		err = mig_bitmap_runs_check(b->encoded, b->encoded_len, b->page_count, &dirty);
	else
		return 0;
	if (err != MIG_OK)
		return 0;
	contents_len = (b->flags & MIG_BITMAP_HAS_CONTENTS) != 0 ? dirty * b->page_size : 0;
	if (b->contents_len != contents_len || (b->contents_len > 0 && b->contents == NULL))
		return 0;
	*dirty_count = (uint32_t)dirty;
	return 1;
}

static int
bitmap_decode(struct frame_reader *r, struct mig_frame *f)
{
	struct mig_bitmap *b = &f->u.bitmap;
	uint16_t reserved;

	b->seq = rd_u64(r);
	b->start_pfn = rd_u64(r);
	b->page_size = rd_u32(r);
	b->page_count = rd_u32(r);
	b->encoding = rd_u8(r);
	b->flags = rd_u8(r);
	reserved = rd_u16(r);
	b->encoded_len = rd_u32(r);
	b->encoded = rd_take(r, b->encoded_len);
	if (r->bad || reserved != 0)
		return MIG_E_MALFORMED;
	b->contents_len = (uint32_t)(r->len - r->pos);
	b->contents = rd_take(r, b->contents_len);
	if ((b->flags & MIG_BITMAP_HAS_CONTENTS) == 0)
		b->contents = NULL;
	return bitmap_valid(b, &b->dirty_count) ? MIG_OK : MIG_E_MALFORMED;
}

size_t
mig_encode_bitmap(uint8_t *out, size_t cap, const struct mig_bitmap *b)
{
	struct frame_writer w;
	uint32_t dirty_count;

	if (!bitmap_valid(b, &dirty_count))
		return 0;
	wr_begin(&w, out, cap);
	wr_u64(&w, b->seq);
	wr_u64(&w, b->start_pfn);
	wr_u32(&w, b->page_size);
	wr_u32(&w, b->page_count);
	wr_u8(&w, b->encoding);
	wr_u8(&w, b->flags);
	wr_u16(&w, 0);
	wr_u32(&w, b->encoded_len);
	wr_bytes(&w, b->encoded, b->encoded_len);
	wr_bytes(&w, b->contents, b->contents_len);
	return wr_finish(&w, MIG_FRAME_BITMAP);
}

static int
end_decode(struct frame_reader *r, struct mig_frame *f)
{
	struct mig_end *e = &f->u.end;

	e->total_bytes = rd_u64(r);
	e->total_chunks = rd_u64(r);
	e->total_pages = rd_u64(r);
	rd_copy(r, e->digest, MIG_END_DIGEST_LEN);
	return r->bad ? MIG_E_MALFORMED : MIG_OK;
}

size_t
mig_encode_end(uint8_t *out, size_t cap, const struct mig_end *e)
{
	struct frame_writer w;

	wr_begin(&w, out, cap);
	wr_u64(&w, e->total_bytes);
	wr_u64(&w, e->total_chunks);
	wr_u64(&w, e->total_pages);
	wr_bytes(&w, e->digest, MIG_END_DIGEST_LEN);
	return wr_finish(&w, MIG_FRAME_END);
}

static int
commit_decode(struct frame_reader *r, struct mig_frame *f)
{
	f->u.commit.bytes_received = rd_u64(r);
	f->u.commit.resume_ms = rd_u32(r);
	return r->bad ? MIG_E_MALFORMED : MIG_OK;
}

size_t
mig_encode_commit(uint8_t *out, size_t cap, const struct mig_commit *c)
{
	struct frame_writer w;

	wr_begin(&w, out, cap);
	wr_u64(&w, c->bytes_received);
	wr_u32(&w, c->resume_ms);
	return wr_finish(&w, MIG_FRAME_COMMIT);
}

static int
ack_decode(struct frame_reader *r, struct mig_frame *f)
{
	f->u.ack.value = rd_u64(r);
	return r->bad ? MIG_E_MALFORMED : MIG_OK;
}

size_t
mig_encode_ack(uint8_t *out, size_t cap, const struct mig_ack *a)
{
	struct frame_writer w;

	wr_begin(&w, out, cap);
	wr_u64(&w, a->value);
	return wr_finish(&w, MIG_FRAME_ACK);
}

/* Code 0 is MIG_OK: an ERROR frame saying "no error" is a broken peer.
 * Numbers this side does not know are fine; a newer peer may send them. */
static int
error_decode(struct frame_reader *r, struct mig_frame *f)
{
	struct mig_error_frame *e = &f->u.error;

	e->code = rd_u32(r);
	rd_str(r, &e->message);
	if (r->bad || e->code == MIG_OK)
		return MIG_E_MALFORMED;
	return str_valid(&e->message, 0, MIG_ERROR_MSG_MAX) ? MIG_OK : MIG_E_MALFORMED;
}

/*
 * A message longer than the protocol allows is cut rather than refused: the
 * ERROR frame is often the last word on a failing connection and must not
 * be lost to a long OpenSSL string. The cut backs off to a UTF-8 boundary.
 */
size_t
mig_encode_error(uint8_t *out, size_t cap, uint32_t code, const char *msg)
{
	struct frame_writer w;
	struct mig_str s;
	size_t len = msg != NULL ? strlen(msg) : 0;

	if (code == MIG_OK)
		return 0;
	if (len > MIG_ERROR_MSG_MAX) {
		len = MIG_ERROR_MSG_MAX;
		while (len > 0 && ((unsigned char)msg[len] & 0xc0) == 0x80)
			len--;
	}
	s.ptr = msg;
	s.len = (uint16_t)len;
	wr_begin(&w, out, cap);
	wr_u32(&w, code);
	wr_str(&w, &s);
	return wr_finish(&w, MIG_FRAME_ERROR);
}

static int
keepalive_decode(struct frame_reader *r, struct mig_frame *f)
{
	f->u.keepalive.nonce = rd_u64(r);
	return r->bad ? MIG_E_MALFORMED : MIG_OK;
}

size_t
mig_encode_keepalive(uint8_t *out, size_t cap, uint64_t nonce)
{
	struct frame_writer w;

	wr_begin(&w, out, cap);
	wr_u64(&w, nonce);
	return wr_finish(&w, MIG_FRAME_KEEPALIVE);
}

static int
switchover_ack_decode(struct frame_reader *r, struct mig_frame *f)
{
	f->u.switchover_ack.seq = rd_u64(r);
	return r->bad ? MIG_E_MALFORMED : MIG_OK;
}

size_t
mig_encode_switchover_ack(uint8_t *out, size_t cap, uint64_t seq)
{
	struct frame_writer w;

	wr_begin(&w, out, cap);
	wr_u64(&w, seq);
	return wr_finish(&w, MIG_FRAME_SWITCHOVER_ACK);
}

int
mig_frame_payload_decode(const struct mig_frame_header *hdr, const uint8_t *payload,
    struct mig_frame *out)
{
	/* Pointer arithmetic on NULL is undefined even for an offset of 0. */
	static const uint8_t empty[1];
	const struct frame_kind *k = frame_kind(hdr->type);
	struct frame_reader r;
	int err;

	memset(out, 0, sizeof(*out));
	if (k == NULL)
		return MIG_E_UNKNOWN_TYPE;
	if (payload == NULL && hdr->length > 0)
		return MIG_E_MALFORMED;
	out->hdr = *hdr;
	r.buf = payload != NULL ? payload : empty;
	r.len = hdr->length;
	r.pos = 0;
	r.bad = 0;
	if ((err = k->decode(&r, out)) != MIG_OK)
		return err;
	return r.pos == r.len ? MIG_OK : MIG_E_MALFORMED;
}

void
mig_decoder_init(struct mig_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

void
mig_decoder_free(struct mig_decoder *d)
{
	free(d->payload);
	mig_decoder_init(d);
}

static enum mig_decode_status
decoder_fail(struct mig_decoder *d, int err, int *err_out)
{
	d->error = err;
	*err_out = err;
	return MIG_DECODE_ERROR;
}

/*
 * Grows the payload buffer to hold need bytes. It grows with the bytes that
 * actually arrived, not with the length a header announces, so a peer
 * cannot make us reserve 16 MiB by sending twelve bytes.
 */
static int
decoder_reserve(struct mig_decoder *d, size_t need)
{
	size_t cap = d->payload_cap != 0 ? d->payload_cap : 4096;
	uint8_t *p;

	if (need <= d->payload_cap)
		return MIG_OK;
	while (cap < need)
		cap *= 2;
	if (cap > d->hdr.length)
		cap = d->hdr.length;
	if ((p = realloc(d->payload, cap)) == NULL)
		return MIG_E_NOMEM;
	d->payload = p;
	d->payload_cap = cap;
	return MIG_OK;
}

/* Copies what it can of in[*used..len) into the header; 1 once complete. */
static int
decoder_fill_header(struct mig_decoder *d, const uint8_t *in, size_t len, size_t *used)
{
	size_t n = MIG_FRAME_HEADER_LEN - d->hdr_have;

	if (n > len - *used)
		n = len - *used;
	if (n > 0)
		memcpy(d->hdr_buf + d->hdr_have, in + *used, n);
	d->hdr_have += n;
	*used += n;
	return d->hdr_have == MIG_FRAME_HEADER_LEN;
}

static int
decoder_fill_payload(struct mig_decoder *d, const uint8_t *in, size_t len, size_t *used)
{
	size_t n = d->hdr.length - d->payload_have;
	int err;

	if (n > len - *used)
		n = len - *used;
	if (n == 0)
		return MIG_OK;
	if ((err = decoder_reserve(d, d->payload_have + n)) != MIG_OK)
		return err;
	memcpy(d->payload + d->payload_have, in + *used, n);
	d->payload_have += n;
	*used += n;
	return MIG_OK;
}

enum mig_decode_status
mig_decoder_feed(struct mig_decoder *d, const uint8_t *in, size_t len, size_t *consumed,
    struct mig_frame *frame, int *err)
{
	int e;

	*consumed = 0;
	*err = d->error;
	if (d->error != MIG_OK)
		return MIG_DECODE_ERROR;
	if (d->frame_pending) {
		d->hdr_have = 0;
		d->payload_have = 0;
		d->frame_pending = 0;
	}
	if (d->hdr_have < MIG_FRAME_HEADER_LEN) {
		if (!decoder_fill_header(d, in, len, consumed))
			return MIG_DECODE_NEED_MORE;
		if ((e = mig_frame_header_decode(d->hdr_buf, &d->hdr)) != MIG_OK)
			return decoder_fail(d, e, err);
	}
	if ((e = decoder_fill_payload(d, in, len, consumed)) != MIG_OK)
		return decoder_fail(d, e, err);
	if (d->payload_have < d->hdr.length)
		return MIG_DECODE_NEED_MORE;
	if ((e = mig_frame_payload_decode(&d->hdr, d->payload, frame)) != MIG_OK)
		return decoder_fail(d, e, err);
	d->frame_pending = 1;
	return MIG_DECODE_FRAME;
}

size_t
mig_decoder_partial(const struct mig_decoder *d)
{
	if (d->frame_pending)
		return 0;
	return d->hdr_have + d->payload_have;
}
