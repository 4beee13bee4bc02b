/*
 * test_frame.c: every frame type survives encode and decode, matches the
 * byte layout of docs/PROTOCOL.md, and every malformed input is refused
 * with its error code, whole or fed to the incremental decoder in pieces.
 *
 * Expected bytes are built here by hand (struct bytes) rather than by the
 * encoders, so a layout change in frame.c cannot pass unnoticed.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "bitmap.h"
#include "digest.h"
#include "errors.h"
#include "frame.h"

#define STR(s) ((struct mig_str){(s), (uint16_t)(sizeof(s) - 1)})
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct bytes {
	uint8_t b[8192];
	size_t n;
};

static const uint8_t sample_uuid[MIG_UUID_LEN] = {0x6b, 0x1e, 0x2c, 0x3d, 0x4e, 0x5f, 0x40, 0x71,
    0x82, 0x93, 0xa4, 0xb5, 0xc6, 0xd7, 0xe8, 0xf9};
/* Pages 2, 3, 4 and 10 of 20 are dirty; the trailing clean run is omitted. */
static const uint8_t sample_runs[] = {2, 3, 5, 1};
static const uint8_t sample_raw[] = {0x1c, 0x04, 0x00};
static uint8_t sample_chunk[100];
static uint8_t sample_contents[4 * 512];
static char long_text[2048];

static void
b_mem(struct bytes *b, const void *p, size_t n)
{
	ck_assert_uint_le(n, sizeof(b->b) - b->n);
	if (n > 0)
		memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void
b_uint(struct bytes *b, uint64_t v, unsigned int width)
{
	while (width-- > 0)
		b->b[b->n++] = (uint8_t)(v >> (8 * width));
}

static void
b_str(struct bytes *b, const struct mig_str *s)
{
	b_uint(b, s->len, 2);
	b_mem(b, s->ptr, s->len);
}

static void
b_header(struct bytes *b, uint8_t type)
{
	static const uint8_t magic[] = {'V', 'F', 'M', 'G', 1};

	b->n = 0;
	b_mem(b, magic, sizeof(magic));
	b_uint(b, type, 1);
	b_uint(b, 0, 2);
	b_uint(b, 0, 4);
}

/* Sets the header length from what was appended after it. */
static void
b_finish(struct bytes *b)
{
	size_t len = b->n - MIG_FRAME_HEADER_LEN;

	b->n = 8;
	b_uint(b, len, 4);
	b->n = MIG_FRAME_HEADER_LEN + len;
}

static void
raw_hello(struct bytes *b, const struct mig_hello *h)
{
	b_header(b, MIG_FRAME_HELLO);
	b_uint(b, h->version_min, 2);
	b_uint(b, h->version_max, 2);
	b_mem(b, h->migration_id, MIG_UUID_LEN);
	b_str(b, &h->token);
	b_str(b, &h->device);
	b_str(b, &h->identity);
	b_str(b, &h->compat);
	b_uint(b, h->capabilities, 8);
	b_uint(b, h->state_size, 8);
	b_uint(b, h->channel, 2);
	b_uint(b, h->channels, 2);
	b_finish(b);
}

static void
raw_hello_ack(struct bytes *b, const struct mig_hello_ack *a)
{
	b_header(b, MIG_FRAME_HELLO_ACK);
	b_uint(b, a->version, 2);
	b_mem(b, a->migration_id, MIG_UUID_LEN);
	b_uint(b, a->capabilities, 8);
	b_str(b, &a->identity);
	b_finish(b);
}

static void
raw_data(struct bytes *b, const struct mig_data *d, uint16_t reserved)
{
	b_header(b, MIG_FRAME_DATA);
	b_uint(b, d->seq, 8);
	b_uint(b, d->phase, 1);
	b_uint(b, d->flags, 1);
	b_uint(b, reserved, 2);
	b_mem(b, d->payload, d->payload_len);
	b_finish(b);
}

static void
raw_bitmap(struct bytes *b, const struct mig_bitmap *m, uint16_t reserved)
{
	b_header(b, MIG_FRAME_BITMAP);
	b_uint(b, m->seq, 8);
	b_uint(b, m->start_pfn, 8);
	b_uint(b, m->page_size, 4);
	b_uint(b, m->page_count, 4);
	b_uint(b, m->encoding, 1);
	b_uint(b, m->flags, 1);
	b_uint(b, reserved, 2);
	b_uint(b, m->encoded_len, 4);
	b_mem(b, m->encoded, m->encoded_len);
	b_mem(b, m->contents, m->contents_len);
	b_finish(b);
}

static void
raw_error(struct bytes *b, uint32_t code, const struct mig_str *msg)
{
	b_header(b, MIG_FRAME_ERROR);
	b_uint(b, code, 4);
	b_str(b, msg);
	b_finish(b);
}

static void
sample_hello(struct mig_hello *h)
{
	memset(h, 0, sizeof(*h));
	h->version_min = 1;
	h->version_max = 1;
	memcpy(h->migration_id, sample_uuid, MIG_UUID_LEN);
	h->token = STR("tok-0123456789");
	h->device = STR("gpu0");
	h->identity = STR("sim-v1");
	h->compat = STR("rev=2;bars=1");
	h->capabilities = MIG_CAP_BITMAP | MIG_CAP_PAGE_CONTENTS;
	h->state_size = 0x0102030405060708ull;
	h->channel = 1;
	h->channels = 2;
}

static void
sample_hello_ack(struct mig_hello_ack *a)
{
	memset(a, 0, sizeof(*a));
	a->version = 1;
	memcpy(a->migration_id, sample_uuid, MIG_UUID_LEN);
	a->capabilities = MIG_CAP_BITMAP;
	a->identity = STR("sim-v1");
}

static void
sample_data(struct mig_data *d)
{
	size_t i;

	for (i = 0; i < sizeof(sample_chunk); i++)
		sample_chunk[i] = (uint8_t)(i * 7 + 1);
	memset(d, 0, sizeof(*d));
	d->seq = 0x1122334455667788ull;
	d->phase = MIG_PHASE_STOPCOPY;
	d->flags = MIG_DATA_END_OF_RECORD;
	d->payload = sample_chunk;
	d->payload_len = sizeof(sample_chunk);
}

static void
sample_bitmap(struct mig_bitmap *m)
{
	size_t i;

	for (i = 0; i < sizeof(sample_contents); i++)
		sample_contents[i] = (uint8_t)(i / 512 + 0xa0);
	memset(m, 0, sizeof(*m));
	m->seq = 7;
	m->start_pfn = 0x100000;
	m->page_size = 512;
	m->page_count = 20;
	m->encoding = MIG_BITMAP_RUNS;
	m->flags = MIG_BITMAP_HAS_CONTENTS;
	m->encoded = sample_runs;
	m->encoded_len = sizeof(sample_runs);
	m->dirty_count = 4;
	m->contents = sample_contents;
	m->contents_len = sizeof(sample_contents);
}

static void
sample_end(struct mig_end *e)
{
	size_t i;

	e->total_bytes = 1u << 20;
	e->total_chunks = 16;
	e->total_pages = 4;
	for (i = 0; i < MIG_END_DIGEST_LEN; i++)
		e->digest[i] = (uint8_t)(0xff - i);
}

/* A valid frame of each type, as written by the encoders. */
static void
sample_frame(int type, struct bytes *b)
{
	struct mig_hello h;
	struct mig_hello_ack a;
	struct mig_data d;
	struct mig_bitmap m;
	struct mig_end e;
	struct mig_commit c = {.bytes_received = 1u << 20, .resume_ms = 42};
	struct mig_ack k = {.value = 1u << 20};

	switch (type) {
	case MIG_FRAME_HELLO:
		sample_hello(&h);
		b->n = mig_encode_hello(b->b, sizeof(b->b), &h);
		break;
	case MIG_FRAME_HELLO_ACK:
		sample_hello_ack(&a);
		b->n = mig_encode_hello_ack(b->b, sizeof(b->b), &a);
		break;
	case MIG_FRAME_DATA:
		sample_data(&d);
		b->n = mig_encode_data(b->b, sizeof(b->b), &d);
		break;
	case MIG_FRAME_BITMAP:
		sample_bitmap(&m);
		b->n = mig_encode_bitmap(b->b, sizeof(b->b), &m);
		break;
	case MIG_FRAME_END:
		sample_end(&e);
		b->n = mig_encode_end(b->b, sizeof(b->b), &e);
		break;
	case MIG_FRAME_COMMIT:
		b->n = mig_encode_commit(b->b, sizeof(b->b), &c);
		break;
	case MIG_FRAME_ACK:
		b->n = mig_encode_ack(b->b, sizeof(b->b), &k);
		break;
	case MIG_FRAME_ERROR:
		b->n = mig_encode_error(b->b, sizeof(b->b), MIG_E_BAD_TOKEN, "token expired at 12:00");
		break;
	case MIG_FRAME_KEEPALIVE:
		b->n = mig_encode_keepalive(b->b, sizeof(b->b), 0xdeadbeefcafef00dull);
		break;
	case MIG_FRAME_SWITCHOVER_ACK:
		b->n = mig_encode_switchover_ack(b->b, sizeof(b->b), 0x0102030405060708ull);
		break;
	}
	ck_assert_uint_gt(b->n, MIG_FRAME_HEADER_LEN);
}

/* Decodes one whole frame held in b; TRUNCATED when b ends inside it. */
static int
decode_bytes(const struct bytes *b, struct mig_frame *f)
{
	struct mig_frame_header h;
	int err;

	if (b->n < MIG_FRAME_HEADER_LEN)
		return MIG_E_TRUNCATED;
	if ((err = mig_frame_header_decode(b->b, &h)) != MIG_OK)
		return err;
	if (b->n - MIG_FRAME_HEADER_LEN < h.length)
		return MIG_E_TRUNCATED;
	ck_assert_uint_eq(b->n - MIG_FRAME_HEADER_LEN, h.length);
	return mig_frame_payload_decode(&h, b->b + MIG_FRAME_HEADER_LEN, f);
}

/* Decodes the payload of b with a payload length of len, skipping the
 * header's length ceiling: tests the field checks on their own. */
static int
decode_payload(const struct bytes *b, size_t len, struct mig_frame *f)
{
	struct mig_frame_header h = {.version = MIG_PROTO_VERSION, .type = b->b[5]};

	h.length = (uint32_t)len;
	return mig_frame_payload_decode(&h, b->b + MIG_FRAME_HEADER_LEN, f);
}

static int
str_eq(const struct mig_str *a, const struct mig_str *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

static int
mem_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	return n == 0 || memcmp(a, b, n) == 0;
}

static int
hello_eq(const struct mig_hello *a, const struct mig_hello *b)
{
	return a->version_min == b->version_min && a->version_max == b->version_max &&
	    memcmp(a->migration_id, b->migration_id, MIG_UUID_LEN) == 0 &&
	    str_eq(&a->token, &b->token) && str_eq(&a->device, &b->device) &&
	    str_eq(&a->identity, &b->identity) && str_eq(&a->compat, &b->compat) &&
	    a->capabilities == b->capabilities && a->state_size == b->state_size &&
	    a->channel == b->channel && a->channels == b->channels;
}

static int
bitmap_eq(const struct mig_bitmap *a, const struct mig_bitmap *b)
{
	return a->seq == b->seq && a->start_pfn == b->start_pfn && a->page_size == b->page_size &&
	    a->page_count == b->page_count && a->encoding == b->encoding && a->flags == b->flags &&
	    a->encoded_len == b->encoded_len && mem_eq(a->encoded, b->encoded, a->encoded_len) &&
	    a->dirty_count == b->dirty_count && a->contents_len == b->contents_len &&
	    mem_eq(a->contents, b->contents, a->contents_len);
}

/* Field by field: decoded frames point into different buffers. */
static int
frames_eq(const struct mig_frame *a, const struct mig_frame *b)
{
	const struct mig_data *da = &a->u.data, *db = &b->u.data;

	if (memcmp(&a->hdr, &b->hdr, sizeof(a->hdr)) != 0)
		return 0;
	switch (a->hdr.type) {
	case MIG_FRAME_HELLO:
		return hello_eq(&a->u.hello, &b->u.hello);
	case MIG_FRAME_HELLO_ACK:
		return a->u.hello_ack.version == b->u.hello_ack.version &&
		    memcmp(a->u.hello_ack.migration_id, b->u.hello_ack.migration_id,
			MIG_UUID_LEN) == 0 &&
		    a->u.hello_ack.capabilities == b->u.hello_ack.capabilities &&
		    str_eq(&a->u.hello_ack.identity, &b->u.hello_ack.identity);
	case MIG_FRAME_DATA:
		return da->seq == db->seq && da->phase == db->phase && da->flags == db->flags &&
		    da->payload_len == db->payload_len &&
		    mem_eq(da->payload, db->payload, da->payload_len);
	case MIG_FRAME_BITMAP:
		return bitmap_eq(&a->u.bitmap, &b->u.bitmap);
	case MIG_FRAME_ERROR:
		return a->u.error.code == b->u.error.code &&
		    str_eq(&a->u.error.message, &b->u.error.message);
	default:
		/* Fixed-size frames hold no pointers: the union compares whole. */
		return memcmp(&a->u, &b->u, sizeof(a->u)) == 0;
	}
}

/* ---- header ---- */

/* The receiver's zero-copy path decodes only DATA's fixed fields. */
START_TEST(test_data_fixed_decode)
{
	uint8_t buf[MIG_DATA_PREFIX_LEN + 100];
	struct mig_frame_header hdr;
	struct mig_data d;

	ck_assert_uint_eq(mig_encode_data_prefix(buf, 77, MIG_PHASE_STOPCOPY,
	    MIG_DATA_END_OF_RECORD, 100), MIG_DATA_PREFIX_LEN);
	ck_assert_int_eq(mig_frame_header_decode(buf, &hdr), MIG_OK);
	ck_assert_int_eq(mig_data_fixed_decode(&hdr, buf + MIG_FRAME_HEADER_LEN, &d), MIG_OK);
	ck_assert_uint_eq(d.seq, 77);
	ck_assert_uint_eq(d.phase, MIG_PHASE_STOPCOPY);
	ck_assert_uint_eq(d.flags, MIG_DATA_END_OF_RECORD);
	ck_assert_uint_eq(d.payload_len, 100);
	ck_assert_ptr_null(d.payload);
	/* Same refusals as the whole-frame decoder. */
	buf[MIG_FRAME_HEADER_LEN + 8] = 3; /* phase */
	ck_assert_int_eq(mig_data_fixed_decode(&hdr, buf + MIG_FRAME_HEADER_LEN, &d),
	    MIG_E_MALFORMED);
	buf[MIG_FRAME_HEADER_LEN + 8] = MIG_PHASE_PRECOPY;
	buf[MIG_FRAME_HEADER_LEN + 9] = 0x80; /* unknown flag */
	ck_assert_int_eq(mig_data_fixed_decode(&hdr, buf + MIG_FRAME_HEADER_LEN, &d),
	    MIG_E_MALFORMED);
	buf[MIG_FRAME_HEADER_LEN + 9] = 0;
	buf[MIG_FRAME_HEADER_LEN + 11] = 1; /* reserved */
	ck_assert_int_eq(mig_data_fixed_decode(&hdr, buf + MIG_FRAME_HEADER_LEN, &d),
	    MIG_E_MALFORMED);
	buf[MIG_FRAME_HEADER_LEN + 11] = 0;
	hdr.length = MIG_DATA_FIXED_LEN - 1;
	ck_assert_int_eq(mig_data_fixed_decode(&hdr, buf + MIG_FRAME_HEADER_LEN, &d),
	    MIG_E_MALFORMED);
	hdr.length = MIG_DATA_FIXED_LEN + 100;
	hdr.type = MIG_FRAME_BITMAP;
	ck_assert_int_eq(mig_data_fixed_decode(&hdr, buf + MIG_FRAME_HEADER_LEN, &d),
	    MIG_E_MALFORMED);
}
END_TEST

START_TEST(test_header_layout)
{
	static const uint8_t want[] = {'V', 'F', 'M', 'G', 1, 3, 0, 0, 0x00, 0x10, 0x02, 0x03};
	uint8_t hdr[MIG_FRAME_HEADER_LEN];
	struct mig_frame_header h;

	mig_frame_header_encode(hdr, MIG_FRAME_DATA, 0x00100203);
	ck_assert_mem_eq(hdr, want, sizeof(want));
	ck_assert_int_eq(mig_frame_header_decode(hdr, &h), MIG_OK);
	ck_assert_uint_eq(h.version, MIG_PROTO_VERSION);
	ck_assert_uint_eq(h.type, MIG_FRAME_DATA);
	ck_assert_uint_eq(h.flags, 0);
	ck_assert_uint_eq(h.length, 0x00100203);
}
END_TEST

START_TEST(test_header_bad_magic)
{
	uint8_t hdr[MIG_FRAME_HEADER_LEN];
	struct mig_frame_header h;
	int i;

	for (i = 0; i < 4; i++) {
		mig_frame_header_encode(hdr, MIG_FRAME_ACK, 8);
		hdr[i] ^= 0x20;
		ck_assert_int_eq(mig_frame_header_decode(hdr, &h), MIG_E_BAD_MAGIC);
	}
	/* An HTTP client that dialled the peer port by mistake. */
	ck_assert_int_eq(mig_frame_header_decode((const uint8_t *)"GET / HTTP/1", &h),
	    MIG_E_BAD_MAGIC);
}
END_TEST

START_TEST(test_header_bad_version)
{
	static const uint8_t versions[] = {0, 2, 0xff};
	uint8_t hdr[MIG_FRAME_HEADER_LEN];
	struct mig_frame_header h;
	size_t i;

	for (i = 0; i < NELEM(versions); i++) {
		mig_frame_header_encode(hdr, MIG_FRAME_ACK, 8);
		hdr[4] = versions[i];
		ck_assert_int_eq(mig_frame_header_decode(hdr, &h), MIG_E_BAD_VERSION);
	}
}
END_TEST

START_TEST(test_header_unknown_type)
{
	static const uint8_t types[] = {0, MIG_FRAME_TYPE_MAX + 1, 0x80, 0xff};
	uint8_t hdr[MIG_FRAME_HEADER_LEN];
	struct mig_frame_header h;
	size_t i;

	for (i = 0; i < NELEM(types); i++) {
		mig_frame_header_encode(hdr, types[i], 8);
		ck_assert_int_eq(mig_frame_header_decode(hdr, &h), MIG_E_UNKNOWN_TYPE);
	}
}
END_TEST

START_TEST(test_header_nonzero_flags)
{
	uint8_t hdr[MIG_FRAME_HEADER_LEN];
	struct mig_frame_header h;

	mig_frame_header_encode(hdr, MIG_FRAME_ACK, 8);
	hdr[7] = 0x01;
	ck_assert_int_eq(mig_frame_header_decode(hdr, &h), MIG_E_MALFORMED);
	hdr[7] = 0;
	hdr[6] = 0x80;
	ck_assert_int_eq(mig_frame_header_decode(hdr, &h), MIG_E_MALFORMED);
}
END_TEST

START_TEST(test_header_too_large)
{
	static const struct {
		uint8_t type;
		uint32_t max;
	} limits[] = {
	    {MIG_FRAME_HELLO, 48 + MIG_TOKEN_MAX + MIG_NAME_MAX + MIG_IDENTITY_MAX + MIG_COMPAT_MAX},
	    {MIG_FRAME_HELLO_ACK, 28 + MIG_IDENTITY_MAX},
	    {MIG_FRAME_DATA, MIG_DATA_FIXED_LEN + MIG_MAX_CHUNK},
	    {MIG_FRAME_BITMAP, MIG_FRAME_MAX_PAYLOAD},
	    {MIG_FRAME_END, 56},
	    {MIG_FRAME_COMMIT, 12},
	    {MIG_FRAME_ACK, 8},
	    {MIG_FRAME_ERROR, 6 + MIG_ERROR_MSG_MAX},
	    {MIG_FRAME_KEEPALIVE, 8},
	    {MIG_FRAME_SWITCHOVER_ACK, 8},
	};
	uint8_t hdr[MIG_FRAME_HEADER_LEN];
	struct mig_frame_header h;
	size_t i;

	for (i = 0; i < NELEM(limits); i++) {
		ck_assert_uint_le(limits[i].max, MIG_FRAME_MAX_PAYLOAD);
		mig_frame_header_encode(hdr, limits[i].type, limits[i].max);
		ck_assert_int_eq(mig_frame_header_decode(hdr, &h), MIG_OK);
		mig_frame_header_encode(hdr, limits[i].type, limits[i].max + 1);
		ck_assert_int_eq(mig_frame_header_decode(hdr, &h), MIG_E_FRAME_TOO_LARGE);
		mig_frame_header_encode(hdr, limits[i].type, UINT32_MAX);
		ck_assert_int_eq(mig_frame_header_decode(hdr, &h), MIG_E_FRAME_TOO_LARGE);
	}
}
END_TEST

START_TEST(test_header_check_order)
{
	uint8_t hdr[MIG_FRAME_HEADER_LEN];
	struct mig_frame_header h;

	/* Everything wrong at once; fix one field at a time. */
	mig_frame_header_encode(hdr, 0, UINT32_MAX);
	hdr[0] = 'X';
	hdr[4] = 9;
	hdr[6] = 1;
	ck_assert_int_eq(mig_frame_header_decode(hdr, &h), MIG_E_BAD_MAGIC);
	hdr[0] = 'V';
	ck_assert_int_eq(mig_frame_header_decode(hdr, &h), MIG_E_BAD_VERSION);
	hdr[4] = MIG_PROTO_VERSION;
	ck_assert_int_eq(mig_frame_header_decode(hdr, &h), MIG_E_UNKNOWN_TYPE);
	hdr[5] = MIG_FRAME_KEEPALIVE;
	ck_assert_int_eq(mig_frame_header_decode(hdr, &h), MIG_E_MALFORMED);
	hdr[6] = 0;
	ck_assert_int_eq(mig_frame_header_decode(hdr, &h), MIG_E_FRAME_TOO_LARGE);
	hdr[8] = hdr[9] = hdr[10] = 0;
	hdr[11] = 8;
	ck_assert_int_eq(mig_frame_header_decode(hdr, &h), MIG_OK);
}
END_TEST

START_TEST(test_type_names)
{
	ck_assert_str_eq(mig_frame_type_name(MIG_FRAME_HELLO), "HELLO");
	ck_assert_str_eq(mig_frame_type_name(MIG_FRAME_HELLO_ACK), "HELLO_ACK");
	ck_assert_str_eq(mig_frame_type_name(MIG_FRAME_BITMAP), "BITMAP");
	ck_assert_str_eq(mig_frame_type_name(MIG_FRAME_KEEPALIVE), "KEEPALIVE");
	ck_assert_str_eq(mig_frame_type_name(MIG_FRAME_SWITCHOVER_ACK), "SWITCHOVER_ACK");
	ck_assert_str_eq(mig_frame_type_name(0), "UNKNOWN");
	ck_assert_str_eq(mig_frame_type_name(MIG_FRAME_TYPE_MAX + 1), "UNKNOWN");
	ck_assert_str_eq(mig_frame_type_name(-1), "UNKNOWN");
}
END_TEST

/* ---- round trips and layout ---- */

START_TEST(test_hello_round_trip)
{
	struct mig_hello h;
	struct bytes want, got;
	struct mig_frame f;

	sample_hello(&h);
	raw_hello(&want, &h);
	got.n = mig_encode_hello(got.b, sizeof(got.b), &h);
	ck_assert_uint_eq(got.n, want.n);
	ck_assert_mem_eq(got.b, want.b, want.n);
	ck_assert_int_eq(decode_bytes(&got, &f), MIG_OK);
	ck_assert_uint_eq(f.hdr.type, MIG_FRAME_HELLO);
	ck_assert(hello_eq(&f.u.hello, &h));
	/* Strings point into the payload: no copies. */
	ck_assert_ptr_eq(f.u.hello.token.ptr, (const char *)got.b + MIG_FRAME_HEADER_LEN + 22);
}
END_TEST

START_TEST(test_hello_longest_and_shortest_strings)
{
	struct mig_hello h;
	struct bytes b;
	struct mig_frame f;

	memset(long_text, 'x', sizeof(long_text));
	sample_hello(&h);
	h.token = (struct mig_str){long_text, MIG_TOKEN_MAX};
	h.device = (struct mig_str){long_text, MIG_NAME_MAX};
	h.identity = (struct mig_str){long_text, MIG_IDENTITY_MAX};
	h.compat = (struct mig_str){long_text, MIG_COMPAT_MAX};
	b.n = mig_encode_hello(b.b, sizeof(b.b), &h);
	ck_assert_uint_eq(b.n, MIG_FRAME_HEADER_LEN + 48 + MIG_TOKEN_MAX + MIG_NAME_MAX +
	    MIG_IDENTITY_MAX + MIG_COMPAT_MAX);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert(hello_eq(&f.u.hello, &h));

	h.token = STR("t");
	h.device = STR("d");
	h.identity = STR("i");
	h.compat = (struct mig_str){NULL, 0};
	h.channel = 63;
	h.channels = MIG_CHANNELS_MAX;
	b.n = mig_encode_hello(b.b, sizeof(b.b), &h);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert(hello_eq(&f.u.hello, &h));
}
END_TEST

START_TEST(test_hello_unknown_capabilities_kept)
{
	struct mig_hello h;
	struct bytes b;
	struct mig_frame f;

	/* A newer source announces bits this side does not know: accepted,
	 * and handed up unchanged for the engine to intersect. */
	sample_hello(&h);
	h.capabilities = MIG_CAP_KNOWN | (1ull << 40) | (1ull << 63);
	h.version_max = 7;
	b.n = mig_encode_hello(b.b, sizeof(b.b), &h);
	ck_assert_uint_gt(b.n, 0);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert_uint_eq(f.u.hello.capabilities, h.capabilities);
	ck_assert_uint_eq(f.u.hello.version_max, 7);
}
END_TEST

START_TEST(test_hello_ack_round_trip)
{
	struct mig_hello_ack a;
	struct bytes want, got;
	struct mig_frame f;

	sample_hello_ack(&a);
	raw_hello_ack(&want, &a);
	got.n = mig_encode_hello_ack(got.b, sizeof(got.b), &a);
	ck_assert_uint_eq(got.n, want.n);
	ck_assert_mem_eq(got.b, want.b, want.n);
	ck_assert_int_eq(decode_bytes(&got, &f), MIG_OK);
	ck_assert_uint_eq(f.u.hello_ack.version, 1);
	ck_assert_mem_eq(f.u.hello_ack.migration_id, sample_uuid, MIG_UUID_LEN);
	ck_assert_uint_eq(f.u.hello_ack.capabilities, MIG_CAP_BITMAP);
	ck_assert(str_eq(&f.u.hello_ack.identity, &a.identity));
}
END_TEST

START_TEST(test_data_round_trip)
{
	struct mig_data d;
	struct bytes want, got;
	struct mig_frame f;

	sample_data(&d);
	raw_data(&want, &d, 0);
	got.n = mig_encode_data(got.b, sizeof(got.b), &d);
	ck_assert_uint_eq(got.n, MIG_DATA_PREFIX_LEN + sizeof(sample_chunk));
	ck_assert_mem_eq(got.b, want.b, want.n);
	ck_assert_int_eq(decode_bytes(&got, &f), MIG_OK);
	ck_assert_uint_eq(f.u.data.seq, d.seq);
	ck_assert_uint_eq(f.u.data.phase, MIG_PHASE_STOPCOPY);
	ck_assert_uint_eq(f.u.data.flags, MIG_DATA_END_OF_RECORD);
	ck_assert_uint_eq(f.u.data.payload_len, sizeof(sample_chunk));
	ck_assert_ptr_eq(f.u.data.payload, got.b + MIG_DATA_PREFIX_LEN);
	ck_assert_mem_eq(f.u.data.payload, sample_chunk, sizeof(sample_chunk));
}
END_TEST

START_TEST(test_data_empty_payload)
{
	struct mig_data d = {.seq = 0, .phase = MIG_PHASE_PRECOPY};
	struct bytes b;
	struct mig_frame f;

	b.n = mig_encode_data(b.b, sizeof(b.b), &d);
	ck_assert_uint_eq(b.n, MIG_DATA_PREFIX_LEN);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert_uint_eq(f.u.data.payload_len, 0);
	ck_assert_uint_eq(f.u.data.phase, MIG_PHASE_PRECOPY);
}
END_TEST

START_TEST(test_data_prefix_matches_whole_frame)
{
	uint8_t prefix[MIG_DATA_PREFIX_LEN];
	struct mig_data d;
	struct bytes b;

	sample_data(&d);
	b.n = mig_encode_data(b.b, sizeof(b.b), &d);
	ck_assert_uint_eq(mig_encode_data_prefix(prefix, d.seq, d.phase, d.flags, d.payload_len),
	    MIG_DATA_PREFIX_LEN);
	ck_assert_mem_eq(prefix, b.b, MIG_DATA_PREFIX_LEN);
	/* The largest chunk is announced without being present. */
	ck_assert_uint_eq(mig_encode_data_prefix(prefix, 1, MIG_PHASE_PRECOPY, 0, MIG_MAX_CHUNK),
	    MIG_DATA_PREFIX_LEN);
}
END_TEST

START_TEST(test_bitmap_round_trip_runs_with_contents)
{
	struct mig_bitmap m;
	struct bytes want, got;
	struct mig_frame f;

	sample_bitmap(&m);
	raw_bitmap(&want, &m, 0);
	got.n = mig_encode_bitmap(got.b, sizeof(got.b), &m);
	ck_assert_uint_eq(got.n, MIG_FRAME_HEADER_LEN + 32 + sizeof(sample_runs) +
	    sizeof(sample_contents));
	ck_assert_mem_eq(got.b, want.b, want.n);
	ck_assert_int_eq(decode_bytes(&got, &f), MIG_OK);
	ck_assert(bitmap_eq(&f.u.bitmap, &m));
	ck_assert_ptr_eq(f.u.bitmap.contents, got.b + MIG_FRAME_HEADER_LEN + 32 + 4);
}
END_TEST

START_TEST(test_bitmap_round_trip_raw_without_contents)
{
	struct mig_bitmap m;
	struct bytes b;
	struct mig_frame f;

	sample_bitmap(&m);
	m.encoding = MIG_BITMAP_RAW;
	m.encoded = sample_raw;
	m.encoded_len = sizeof(sample_raw);
	m.flags = 0;
	m.contents = NULL;
	m.contents_len = 0;
	b.n = mig_encode_bitmap(b.b, sizeof(b.b), &m);
	ck_assert_uint_eq(b.n, MIG_FRAME_HEADER_LEN + 32 + sizeof(sample_raw));
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert(bitmap_eq(&f.u.bitmap, &m));
	ck_assert_ptr_null(f.u.bitmap.contents);
	ck_assert_uint_eq(f.u.bitmap.dirty_count, 4);
}
END_TEST

START_TEST(test_bitmap_dirty_count_is_computed_not_trusted)
{
	struct mig_bitmap m;
	struct bytes b;
	struct mig_frame f;

	sample_bitmap(&m);
	m.dirty_count = 1000;
	b.n = mig_encode_bitmap(b.b, sizeof(b.b), &m);
	ck_assert_uint_gt(b.n, 0);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert_uint_eq(f.u.bitmap.dirty_count, 4);
}
END_TEST

START_TEST(test_fixed_frames_round_trip)
{
	static const uint8_t commit_bytes[] = {0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 42};
	static const uint8_t keepalive_bytes[] = {0xde, 0xad, 0xbe, 0xef, 0xca, 0xfe, 0xf0, 0x0d};
	static const uint8_t switchover_ack_frame[] = {'V', 'F', 'M', 'G', 1, 10, 0, 0, 0, 0, 0, 8,
	    1, 2, 3, 4, 5, 6, 7, 8};
	struct mig_end e;
	struct bytes b;
	struct mig_frame f;

	sample_frame(MIG_FRAME_END, &b);
	sample_end(&e);
	ck_assert_uint_eq(b.n, MIG_FRAME_HEADER_LEN + 56);
	ck_assert_mem_eq(b.b + MIG_FRAME_HEADER_LEN + 24, e.digest, MIG_END_DIGEST_LEN);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert_uint_eq(f.u.end.total_bytes, 1u << 20);
	ck_assert_uint_eq(f.u.end.total_chunks, 16);
	ck_assert_uint_eq(f.u.end.total_pages, 4);
	ck_assert_mem_eq(f.u.end.digest, e.digest, MIG_END_DIGEST_LEN);

	sample_frame(MIG_FRAME_COMMIT, &b);
	ck_assert_uint_eq(b.n, MIG_FRAME_HEADER_LEN + sizeof(commit_bytes));
	ck_assert_mem_eq(b.b + MIG_FRAME_HEADER_LEN, commit_bytes, sizeof(commit_bytes));
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert_uint_eq(f.u.commit.bytes_received, 1u << 20);
	ck_assert_uint_eq(f.u.commit.resume_ms, 42);

	sample_frame(MIG_FRAME_ACK, &b);
	ck_assert_uint_eq(b.n, MIG_FRAME_HEADER_LEN + 8);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert_uint_eq(f.u.ack.value, 1u << 20);

	sample_frame(MIG_FRAME_KEEPALIVE, &b);
	ck_assert_mem_eq(b.b + MIG_FRAME_HEADER_LEN, keepalive_bytes, sizeof(keepalive_bytes));
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert_uint_eq(f.u.keepalive.nonce, 0xdeadbeefcafef00dull);

	/* SWITCHOVER_ACK: the seq it acknowledges, nothing else. */
	sample_frame(MIG_FRAME_SWITCHOVER_ACK, &b);
	ck_assert_uint_eq(b.n, sizeof(switchover_ack_frame));
	ck_assert_mem_eq(b.b, switchover_ack_frame, sizeof(switchover_ack_frame));
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert_uint_eq(f.hdr.type, MIG_FRAME_SWITCHOVER_ACK);
	ck_assert_uint_eq(f.u.switchover_ack.seq, 0x0102030405060708ull);
}
END_TEST

/* The end of the initial data is a DATA flag, pre-copy only: after the
 * switchover there is no initial data left to speak of. */
START_TEST(test_data_initial_done_flag)
{
	uint8_t buf[MIG_DATA_PREFIX_LEN + 4];
	struct mig_frame_header hdr;
	struct mig_data d, in;
	struct bytes b;
	struct mig_frame f;

	/* Empty and pre-copy: the marker the source sends once the device
	 * says its initial data has been read. */
	ck_assert_uint_eq(mig_encode_data_prefix(buf, 5, MIG_PHASE_PRECOPY, MIG_DATA_INITIAL_DONE,
	    0), MIG_DATA_PREFIX_LEN);
	ck_assert_uint_eq(buf[MIG_FRAME_HEADER_LEN + 9], 0x02);
	ck_assert_int_eq(mig_frame_header_decode(buf, &hdr), MIG_OK);
	ck_assert_int_eq(mig_data_fixed_decode(&hdr, buf + MIG_FRAME_HEADER_LEN, &d), MIG_OK);
	ck_assert_uint_eq(d.flags, MIG_DATA_INITIAL_DONE);
	ck_assert_uint_eq(d.payload_len, 0);
	/* With a chunk and END_OF_RECORD too, whole-frame decoded. */
	memset(&in, 0, sizeof(in));
	in.seq = 6;
	in.phase = MIG_PHASE_PRECOPY;
	in.flags = MIG_DATA_INITIAL_DONE | MIG_DATA_END_OF_RECORD;
	in.payload = (const uint8_t *)"abcd";
	in.payload_len = 4;
	b.n = mig_encode_data(b.b, sizeof(b.b), &in);
	ck_assert_uint_eq(b.n, MIG_DATA_PREFIX_LEN + 4);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert_uint_eq(f.u.data.flags, MIG_DATA_INITIAL_DONE | MIG_DATA_END_OF_RECORD);
	/* In stop-copy: refused by both decoders, and not encoded. */
	b.b[MIG_FRAME_HEADER_LEN + 8] = MIG_PHASE_STOPCOPY;
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_E_MALFORMED);
	ck_assert_int_eq(mig_data_fixed_decode(&hdr, b.b + MIG_FRAME_HEADER_LEN, &d),
	    MIG_E_MALFORMED);
	in.phase = MIG_PHASE_STOPCOPY;
	ck_assert_uint_eq(mig_encode_data(b.b, sizeof(b.b), &in), 0);
	ck_assert_uint_eq(mig_encode_data_prefix(buf, 5, MIG_PHASE_STOPCOPY, MIG_DATA_INITIAL_DONE,
	    0), 0);
	/* The next bit is still unknown. */
	ck_assert_uint_eq(mig_encode_data_prefix(buf, 5, MIG_PHASE_PRECOPY, 0x04, 0), 0);
}
END_TEST

/* The capability is known: HELLO_ACK may agree to it, not to the bit after. */
START_TEST(test_switchover_ack_capability)
{
	struct mig_hello_ack a;
	struct bytes b;
	struct mig_frame f;

	ck_assert_uint_eq(MIG_CAP_SWITCHOVER_ACK, 1ull << 4);
	sample_hello_ack(&a);
	a.capabilities = MIG_CAP_ECHO | MIG_CAP_SWITCHOVER_ACK;
	b.n = mig_encode_hello_ack(b.b, sizeof(b.b), &a);
	ck_assert_uint_gt(b.n, 0);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert_uint_eq(f.u.hello_ack.capabilities, MIG_CAP_ECHO | MIG_CAP_SWITCHOVER_ACK);
	a.capabilities = 1ull << 20;
	ck_assert_uint_eq(mig_encode_hello_ack(b.b, sizeof(b.b), &a), 0);
}
END_TEST

/* PROTOCOL.md §3: HELLO offers any digests; HELLO_ACK names one. */
START_TEST(test_digest_capabilities)
{
	struct mig_hello_ack a;
	struct mig_hello h;
	struct bytes b;
	struct mig_frame f;

	ck_assert_uint_eq(MIG_CAP_DIGEST_SHA256, 1ull << 5);
	ck_assert_uint_eq(MIG_CAP_DIGEST_XXH3_128, 1ull << 6);
	ck_assert_uint_eq(mig_cap_digest(MIG_DIGEST_SHA256), MIG_CAP_DIGEST_SHA256);
	ck_assert_uint_eq(mig_cap_digest(MIG_DIGEST_XXH3_128), MIG_CAP_DIGEST_XXH3_128);
	ck_assert_uint_eq(mig_cap_digest(7), 0);
	/* No digest bit: a peer older than the negotiation, SHA-256. */
	ck_assert_int_eq(mig_caps_digest(MIG_CAP_ECHO), MIG_DIGEST_SHA256);
	ck_assert_int_eq(mig_caps_digest(MIG_CAP_DIGEST_SHA256), MIG_DIGEST_SHA256);
	ck_assert_int_eq(mig_caps_digest(MIG_CAP_DIGEST_XXH3_128), MIG_DIGEST_XXH3_128);
	ck_assert_int_eq(mig_caps_digest(MIG_CAP_DIGESTS), -1);
	sample_hello(&h);
	h.capabilities = MIG_CAP_DIGEST_SHA256 | MIG_CAP_DIGEST_XXH3_128;
	b.n = mig_encode_hello(b.b, sizeof(b.b), &h);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert_uint_eq(f.u.hello.capabilities, h.capabilities);
	sample_hello_ack(&a);
	a.capabilities = MIG_CAP_ECHO | MIG_CAP_DIGEST_XXH3_128;
	b.n = mig_encode_hello_ack(b.b, sizeof(b.b), &a);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert_uint_eq(f.u.hello_ack.capabilities, a.capabilities);
	/* Both named: the encoder refuses, the decoder of hand-made bytes too. */
	a.capabilities = MIG_CAP_DIGEST_SHA256 | MIG_CAP_DIGEST_XXH3_128;
	ck_assert_uint_eq(mig_encode_hello_ack(b.b, sizeof(b.b), &a), 0);
	raw_hello_ack(&b, &a);
	ck_assert_int_eq(decode_payload(&b, b.n - MIG_FRAME_HEADER_LEN, &f), MIG_E_MALFORMED);
}
END_TEST

START_TEST(test_error_round_trip)
{
	struct bytes want, got;
	struct mig_frame f;
	struct mig_str msg = STR("digest differs");

	raw_error(&want, 9999, &msg);
	got.n = mig_encode_error(got.b, sizeof(got.b), 9999, "digest differs");
	ck_assert_uint_eq(got.n, want.n);
	ck_assert_mem_eq(got.b, want.b, want.n);
	/* A code this side does not know still decodes: a newer peer sent it. */
	ck_assert_int_eq(decode_bytes(&got, &f), MIG_OK);
	ck_assert_uint_eq(f.u.error.code, 9999);
	ck_assert(str_eq(&f.u.error.message, &msg));

	got.n = mig_encode_error(got.b, sizeof(got.b), MIG_E_CANCELLED, NULL);
	ck_assert_uint_eq(got.n, MIG_FRAME_HEADER_LEN + 6);
	ck_assert_int_eq(decode_bytes(&got, &f), MIG_OK);
	ck_assert_uint_eq(f.u.error.code, MIG_E_CANCELLED);
	ck_assert_uint_eq(f.u.error.message.len, 0);
}
END_TEST

START_TEST(test_error_long_message_is_cut)
{
	struct bytes b;
	struct mig_frame f;

	memset(long_text, 'e', sizeof(long_text));
	long_text[sizeof(long_text) - 1] = '\0';
	b.n = mig_encode_error(b.b, sizeof(b.b), MIG_E_TLS, long_text);
	ck_assert_uint_eq(b.n, MIG_FRAME_HEADER_LEN + 6 + MIG_ERROR_MSG_MAX);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert_uint_eq(f.u.error.message.len, MIG_ERROR_MSG_MAX);

	/* "é" (c3 a9) straddling the limit is dropped whole, not split. */
	long_text[MIG_ERROR_MSG_MAX - 1] = (char)0xc3;
	long_text[MIG_ERROR_MSG_MAX] = (char)0xa9;
	b.n = mig_encode_error(b.b, sizeof(b.b), MIG_E_TLS, long_text);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert_uint_eq(f.u.error.message.len, MIG_ERROR_MSG_MAX - 1);
}
END_TEST

/* ---- bad fields: the encoder refuses, and so does the decoder ---- */

enum hello_fault {
	HELLO_VERSION_ZERO,
	HELLO_VERSION_RANGE,
	HELLO_TOKEN_EMPTY,
	HELLO_TOKEN_LONG,
	HELLO_TOKEN_NUL,
	HELLO_DEVICE_EMPTY,
	HELLO_DEVICE_LONG,
	HELLO_DEVICE_NUL,
	HELLO_IDENTITY_EMPTY,
	HELLO_IDENTITY_LONG,
	HELLO_IDENTITY_NUL,
	HELLO_COMPAT_LONG,
	HELLO_COMPAT_NUL,
	HELLO_CHANNELS_ZERO,
	HELLO_CHANNELS_MANY,
	HELLO_CHANNEL_OUT_OF_RANGE,
	HELLO_FAULTS
};

static void
hello_break(struct mig_hello *h, enum hello_fault fault)
{
	switch (fault) {
	case HELLO_VERSION_ZERO: h->version_min = 0; break;
	case HELLO_VERSION_RANGE: h->version_min = 3; h->version_max = 2; break;
	case HELLO_TOKEN_EMPTY: h->token.len = 0; break;
	case HELLO_TOKEN_LONG: h->token = (struct mig_str){long_text, MIG_TOKEN_MAX + 1}; break;
	case HELLO_TOKEN_NUL: h->token = STR("tok\0en"); break;
	case HELLO_DEVICE_EMPTY: h->device.len = 0; break;
	case HELLO_DEVICE_LONG: h->device = (struct mig_str){long_text, MIG_NAME_MAX + 1}; break;
	case HELLO_DEVICE_NUL: h->device = STR("gpu0\0"); break;
	case HELLO_IDENTITY_EMPTY: h->identity.len = 0; break;
	case HELLO_IDENTITY_LONG:
		h->identity = (struct mig_str){long_text, MIG_IDENTITY_MAX + 1};
		break;
	case HELLO_IDENTITY_NUL: h->identity = STR("\0sim"); break;
	case HELLO_COMPAT_LONG: h->compat = (struct mig_str){long_text, MIG_COMPAT_MAX + 1}; break;
	case HELLO_COMPAT_NUL: h->compat = STR("a\0b"); break;
	case HELLO_CHANNELS_ZERO: h->channel = 0; h->channels = 0; break;
	case HELLO_CHANNELS_MANY: h->channels = MIG_CHANNELS_MAX + 1; break;
	case HELLO_CHANNEL_OUT_OF_RANGE: h->channel = 2; h->channels = 2; break;
	case HELLO_FAULTS: break;
	}
}

START_TEST(test_hello_bad_fields)
{
	struct mig_hello h;
	struct bytes b;
	struct mig_frame f;
	int fault;

	memset(long_text, 'y', sizeof(long_text));
	for (fault = 0; fault < HELLO_FAULTS; fault++) {
		sample_hello(&h);
		hello_break(&h, (enum hello_fault)fault);
		ck_assert_msg(mig_encode_hello(b.b, sizeof(b.b), &h) == 0, "fault %d encoded", fault);
		raw_hello(&b, &h);
		ck_assert_msg(decode_payload(&b, b.n - MIG_FRAME_HEADER_LEN, &f) == MIG_E_MALFORMED,
		    "fault %d decoded", fault);
	}
}
END_TEST

START_TEST(test_hello_ack_bad_fields)
{
	struct mig_hello_ack a;
	struct bytes b;
	struct mig_frame f;
	int fault;

	memset(long_text, 'z', sizeof(long_text));
	for (fault = 0; fault < 6; fault++) {
		sample_hello_ack(&a);
		switch (fault) {
		case 0: a.version = 0; break;
		/* Agreed capabilities are an intersection: no unknown bits. */
		case 1: a.capabilities |= 1ull << 20; break;
		/* One digest is chosen, not two. */
		case 5: a.capabilities |= MIG_CAP_DIGESTS; break;
		case 2: a.identity.len = 0; break;
		case 3: a.identity = (struct mig_str){long_text, MIG_IDENTITY_MAX + 1}; break;
		case 4: a.identity = STR("sim\0v1"); break;
		}
		ck_assert_msg(mig_encode_hello_ack(b.b, sizeof(b.b), &a) == 0, "fault %d", fault);
		raw_hello_ack(&b, &a);
		ck_assert_msg(decode_payload(&b, b.n - MIG_FRAME_HEADER_LEN, &f) == MIG_E_MALFORMED,
		    "fault %d", fault);
	}
}
END_TEST

START_TEST(test_data_bad_fields)
{
	static const struct {
		uint8_t phase, flags;
		uint16_t reserved;
	} faults[] = {{0, 0, 0}, {3, 0, 0}, {0xff, 0, 0}, {1, 0x10, 0}, {2, 0x80, 0}, {2, 0x02, 0},
	    {2, 0x03, 0}, {1, 0, 1}, {1, 0, 0x8000},
	    /* Packed both ways; a zero run whose payload is more than its length. */
	    {1, MIG_DATA_ZSTD | MIG_DATA_ZERO, 0}, {1, MIG_DATA_ZERO, 0}};
	uint8_t prefix[MIG_DATA_PREFIX_LEN];
	struct mig_data d;
	struct bytes b;
	struct mig_frame f;
	size_t i;

	for (i = 0; i < NELEM(faults); i++) {
		sample_data(&d);
		d.phase = faults[i].phase;
		d.flags = faults[i].flags;
		if (faults[i].reserved == 0) {
			ck_assert_uint_eq(mig_encode_data(b.b, sizeof(b.b), &d), 0);
			ck_assert_uint_eq(mig_encode_data_prefix(prefix, 0, d.phase, d.flags, 1), 0);
		}
		raw_data(&b, &d, faults[i].reserved);
		ck_assert_int_eq(decode_bytes(&b, &f), MIG_E_MALFORMED);
	}
	ck_assert_uint_eq(mig_encode_data_prefix(prefix, 0, 1, 0, MIG_MAX_CHUNK + 1), 0);
	sample_data(&d);
	d.payload = NULL;
	ck_assert_uint_eq(mig_encode_data(b.b, sizeof(b.b), &d), 0);
	/* Too short to hold the fixed fields. */
	sample_frame(MIG_FRAME_DATA, &b);
	ck_assert_int_eq(decode_payload(&b, MIG_DATA_FIXED_LEN - 1, &f), MIG_E_MALFORMED);
}
END_TEST

/* PROTOCOL.md §1 DATA, packed: the chunk's length in front, checked. */
START_TEST(test_data_packed)
{
	static const uint8_t zstd_payload[] = {0x00, 0x01, 0x00, 0x00, 0x28, 0xb5, 0x2f, 0xfd};
	uint8_t zero_payload[MIG_DATA_RAW_LEN], prefix[MIG_DATA_PREFIX_LEN];
	struct mig_packed pk;

	ck_assert_uint_eq(MIG_CAP_COMPRESSION, 1ull << 7);
	mig_data_packed_encode_len(zero_payload, MIG_MAX_CHUNK);
	ck_assert_int_eq(mig_data_packed_decode(MIG_DATA_ZERO, zero_payload, 4, &pk), MIG_OK);
	ck_assert_uint_eq(pk.raw_len, MIG_MAX_CHUNK);
	ck_assert_uint_eq(pk.body_len, 0);
	ck_assert_int_eq(mig_data_packed_decode(MIG_DATA_ZSTD, zstd_payload, 8, &pk), MIG_OK);
	ck_assert_uint_eq(pk.raw_len, 65536);
	ck_assert_ptr_eq(pk.body, zstd_payload + 4);
	ck_assert_uint_eq(pk.body_len, 4);
	/* Refused: no body, a body after a zero run, lengths 0 and 16 MiB + 1,
	 * no flag, both flags, a payload shorter than the length. */
	ck_assert_int_eq(mig_data_packed_decode(MIG_DATA_ZSTD, zstd_payload, 4, &pk),
	    MIG_E_MALFORMED);
	ck_assert_int_eq(mig_data_packed_decode(MIG_DATA_ZERO, zstd_payload, 8, &pk),
	    MIG_E_MALFORMED);
	mig_data_packed_encode_len(zero_payload, 0);
	ck_assert_int_eq(mig_data_packed_decode(MIG_DATA_ZERO, zero_payload, 4, &pk),
	    MIG_E_MALFORMED);
	mig_data_packed_encode_len(zero_payload, MIG_MAX_CHUNK + 1);
	ck_assert_int_eq(mig_data_packed_decode(MIG_DATA_ZERO, zero_payload, 4, &pk),
	    MIG_E_MALFORMED);
	ck_assert_int_eq(mig_data_packed_decode(0, zstd_payload, 8, &pk), MIG_E_MALFORMED);
	ck_assert_int_eq(mig_data_packed_decode(MIG_DATA_PACKED, zstd_payload, 8, &pk),
	    MIG_E_MALFORMED);
	ck_assert_int_eq(mig_data_packed_decode(MIG_DATA_ZERO, zstd_payload, 3, &pk),
	    MIG_E_MALFORMED);
	/* The prefix encoder: a zero run is exactly its length, zstd more. */
	ck_assert_uint_eq(mig_encode_data_prefix(prefix, 0, 1, MIG_DATA_ZERO, 4),
	    MIG_DATA_PREFIX_LEN);
	ck_assert_uint_eq(mig_encode_data_prefix(prefix, 0, 1, MIG_DATA_ZERO, 5), 0);
	ck_assert_uint_eq(mig_encode_data_prefix(prefix, 0, 1, MIG_DATA_ZSTD, 4), 0);
	ck_assert_uint_eq(mig_encode_data_prefix(prefix, 0, 2, MIG_DATA_ZSTD | 1, 5),
	    MIG_DATA_PREFIX_LEN);
}
END_TEST

START_TEST(test_data_chunk_above_limit_refused)
{
	struct mig_frame_header h = {MIG_PROTO_VERSION, MIG_FRAME_DATA, 0,
	    MIG_DATA_FIXED_LEN + MIG_MAX_CHUNK + 1};
	uint8_t *payload = calloc(1, h.length);
	struct mig_frame f;

	ck_assert_ptr_nonnull(payload);
	payload[8] = MIG_PHASE_PRECOPY;
	ck_assert_int_eq(mig_frame_payload_decode(&h, payload, &f), MIG_E_MALFORMED);
	h.length--;
	ck_assert_int_eq(mig_frame_payload_decode(&h, payload, &f), MIG_OK);
	ck_assert_uint_eq(f.u.data.payload_len, MIG_MAX_CHUNK);
	free(payload);
}
END_TEST

enum bitmap_fault {
	BITMAP_PAGE_SIZE_ZERO,
	BITMAP_PAGE_SIZE_SMALL,
	BITMAP_PAGE_SIZE_ODD,
	BITMAP_PAGE_SIZE_NOT_POWER,
	BITMAP_PAGE_SIZE_LARGE,
	BITMAP_PAGE_COUNT_ZERO,
	BITMAP_START_PFN_OVERFLOW,
	BITMAP_ENCODING_UNKNOWN,
	BITMAP_FLAGS_UNKNOWN,
	BITMAP_RAW_LEN_SHORT,
	BITMAP_RAW_LEN_LONG,
	BITMAP_RAW_PADDING_BIT,
	BITMAP_RUNS_OVERRUN,
	BITMAP_RUNS_ZERO_DIRTY,
	BITMAP_CONTENTS_SHORT,
	BITMAP_CONTENTS_LONG,
	BITMAP_CONTENTS_WITHOUT_FLAG,
	BITMAP_FAULTS
};

static void
bitmap_break(struct mig_bitmap *m, enum bitmap_fault fault)
{
	static const uint8_t raw_short[] = {0x1c, 0x04};
	static const uint8_t raw_long[] = {0x1c, 0x04, 0x00, 0x00};
	static const uint8_t raw_padding[] = {0x1c, 0x04, 0x10};
	static const uint8_t runs_overrun[] = {2, 3, 5, 11};
	static const uint8_t runs_zero[] = {2, 3, 5, 0};

	switch (fault) {
	case BITMAP_PAGE_SIZE_ZERO: m->page_size = 0; break;
	case BITMAP_PAGE_SIZE_SMALL: m->page_size = MIG_PAGE_SIZE_MIN / 2; break;
	case BITMAP_PAGE_SIZE_ODD: m->page_size = 513; break;
	case BITMAP_PAGE_SIZE_NOT_POWER: m->page_size = 768; break;
	case BITMAP_PAGE_SIZE_LARGE: m->page_size = MIG_PAGE_SIZE_MAX * 2u; break;
	case BITMAP_PAGE_COUNT_ZERO: m->page_count = 0; break;
	/* (start_pfn + page_count) * page_size must fit in 64 bits. */
	case BITMAP_START_PFN_OVERFLOW: m->start_pfn = UINT64_MAX / 512 - 19; break;
	case BITMAP_ENCODING_UNKNOWN: m->encoding = 2; break;
	case BITMAP_FLAGS_UNKNOWN: m->flags |= 0x02; break;
	case BITMAP_RAW_LEN_SHORT:
		m->encoding = MIG_BITMAP_RAW;
		m->encoded = raw_short;
		m->encoded_len = sizeof(raw_short);
		break;
	case BITMAP_RAW_LEN_LONG:
		m->encoding = MIG_BITMAP_RAW;
		m->encoded = raw_long;
		m->encoded_len = sizeof(raw_long);
		break;
	case BITMAP_RAW_PADDING_BIT:
		m->encoding = MIG_BITMAP_RAW;
		m->encoded = raw_padding;
		m->encoded_len = sizeof(raw_padding);
		break;
	case BITMAP_RUNS_OVERRUN: m->encoded = runs_overrun; break;
	case BITMAP_RUNS_ZERO_DIRTY: m->encoded = runs_zero; break;
	case BITMAP_CONTENTS_SHORT: m->contents_len -= 1; break;
	case BITMAP_CONTENTS_LONG: m->contents_len = 5 * 512; break;
	case BITMAP_CONTENTS_WITHOUT_FLAG: m->flags = 0; break;
	case BITMAP_FAULTS: break;
	}
}

START_TEST(test_bitmap_bad_fields)
{
	static uint8_t big_contents[5 * 512];
	struct mig_bitmap m;
	struct bytes b;
	struct mig_frame f;
	int fault;

	for (fault = 0; fault < BITMAP_FAULTS; fault++) {
		sample_bitmap(&m);
		/* Without contents, so that a bad page size is not also refused
		 * for the contents length it implies. */
		if (fault <= BITMAP_PAGE_SIZE_LARGE) {
			m.flags = 0;
			m.contents = NULL;
			m.contents_len = 0;
		}
		bitmap_break(&m, (enum bitmap_fault)fault);
		if (m.contents_len > sizeof(sample_contents))
			m.contents = big_contents;
		ck_assert_msg(mig_encode_bitmap(b.b, sizeof(b.b), &m) == 0, "fault %d encoded", fault);
		raw_bitmap(&b, &m, 0);
		ck_assert_msg(decode_bytes(&b, &f) == MIG_E_MALFORMED, "fault %d decoded", fault);
	}
	/* The largest start_pfn that still fits is fine. */
	sample_bitmap(&m);
	m.start_pfn = UINT64_MAX / 512 - 20;
	ck_assert_uint_gt(mig_encode_bitmap(b.b, sizeof(b.b), &m), 0);
	sample_bitmap(&m);
	raw_bitmap(&b, &m, 1);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_E_MALFORMED);
}
END_TEST

START_TEST(test_bitmap_encoded_len_past_payload)
{
	struct mig_bitmap m;
	struct bytes b;
	struct mig_frame f;

	sample_bitmap(&m);
	m.flags = 0;
	m.contents = NULL;
	m.contents_len = 0;
	raw_bitmap(&b, &m, 0);
	/* encoded_len sits at payload offset 28. */
	b.b[MIG_FRAME_HEADER_LEN + 31] = sizeof(sample_runs) + 1;
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_E_MALFORMED);
	b.b[MIG_FRAME_HEADER_LEN + 28] = 0xff;
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_E_MALFORMED);
}
END_TEST

START_TEST(test_bitmap_contents_size_overflow)
{
	/* 2^32 - 1 dirty pages of 1 GiB in a six-byte run list: the contents
	 * would be 2^62 bytes. Refused without overflow or allocation. */
	static const uint8_t all_dirty[] = {0, 0xff, 0xff, 0xff, 0xff, 0x0f};
	struct mig_bitmap m;
	struct bytes b;
	struct mig_frame f;

	sample_bitmap(&m);
	m.page_size = MIG_PAGE_SIZE_MAX;
	m.page_count = UINT32_MAX;
	m.start_pfn = 0;
	m.encoded = all_dirty;
	m.encoded_len = sizeof(all_dirty);
	ck_assert_uint_eq(mig_encode_bitmap(b.b, sizeof(b.b), &m), 0);
	raw_bitmap(&b, &m, 0);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_E_MALFORMED);

	/* Without contents the same bitmap is a valid report. */
	m.flags = 0;
	m.contents = NULL;
	m.contents_len = 0;
	b.n = mig_encode_bitmap(b.b, sizeof(b.b), &m);
	ck_assert_uint_gt(b.n, 0);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_OK);
	ck_assert_uint_eq(f.u.bitmap.dirty_count, UINT32_MAX);
}
END_TEST

START_TEST(test_bitmap_frame_above_limit_refused)
{
	/* 32769 dirty pages of 512 bytes: contents alone exceed the largest
	 * payload by 448 bytes, though every field is in range. */
	static const uint8_t runs[] = {0, 0x81, 0x80, 0x02};
	static const uint8_t fits[] = {0, 0x80, 0x80, 0x02};
	size_t cap = MIG_FRAME_HEADER_LEN + MIG_FRAME_MAX_PAYLOAD + 1024;
	uint8_t *contents = calloc(1, 32769u * 512), *out = malloc(cap);
	struct mig_bitmap m;

	ck_assert_ptr_nonnull(contents);
	ck_assert_ptr_nonnull(out);
	sample_bitmap(&m);
	m.page_count = 32769;
	m.encoded = runs;
	m.encoded_len = sizeof(runs);
	m.contents = contents;
	m.contents_len = 32769u * 512;
	ck_assert_uint_eq(mig_encode_bitmap(out, cap, &m), 0);
	/* One page fewer fits. */
	m.page_count = 32768;
	m.encoded = fits;
	m.contents_len -= 512;
	ck_assert_uint_eq(mig_encode_bitmap(out, cap, &m),
	    MIG_FRAME_HEADER_LEN + 32 + sizeof(fits) + 32768u * 512);
	free(contents);
	free(out);
}
END_TEST

START_TEST(test_error_bad_fields)
{
	struct bytes b;
	struct mig_frame f;
	struct mig_str msg = STR("bad\0token");

	ck_assert_uint_eq(mig_encode_error(b.b, sizeof(b.b), MIG_OK, "fine"), 0);
	msg.len = 3;
	raw_error(&b, MIG_OK, &msg);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_E_MALFORMED);
	msg = STR("bad\0token");
	raw_error(&b, MIG_E_BAD_TOKEN, &msg);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_E_MALFORMED);
	memset(long_text, 'm', sizeof(long_text));
	msg = (struct mig_str){long_text, MIG_ERROR_MSG_MAX + 1};
	raw_error(&b, MIG_E_BAD_TOKEN, &msg);
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_E_FRAME_TOO_LARGE);
	ck_assert_int_eq(decode_payload(&b, b.n - MIG_FRAME_HEADER_LEN, &f), MIG_E_MALFORMED);
	/* The message length claims more than the payload holds. */
	msg = STR("short");
	raw_error(&b, MIG_E_BAD_TOKEN, &msg);
	b.b[MIG_FRAME_HEADER_LEN + 5] = 6;
	ck_assert_int_eq(decode_bytes(&b, &f), MIG_E_MALFORMED);
}
END_TEST

START_TEST(test_fixed_frames_wrong_length)
{
	static const int types[] = {MIG_FRAME_END, MIG_FRAME_COMMIT, MIG_FRAME_ACK,
	    MIG_FRAME_KEEPALIVE, MIG_FRAME_SWITCHOVER_ACK};
	struct bytes b;
	struct mig_frame f;
	size_t i, len;

	for (i = 0; i < NELEM(types); i++) {
		sample_frame(types[i], &b);
		len = b.n - MIG_FRAME_HEADER_LEN;
		ck_assert_int_eq(decode_payload(&b, len, &f), MIG_OK);
		ck_assert_int_eq(decode_payload(&b, len - 1, &f), MIG_E_MALFORMED);
		ck_assert_int_eq(decode_payload(&b, 0, &f), MIG_E_MALFORMED);
		b.b[b.n] = 0;
		ck_assert_int_eq(decode_payload(&b, len + 1, &f), MIG_E_MALFORMED);
	}
}
END_TEST

START_TEST(test_every_type_refuses_trailing_bytes)
{
	struct bytes b;
	struct mig_frame f;
	int type;

	/* DATA has no trailer: its payload runs to the end of the frame. */
	for (type = MIG_FRAME_HELLO; type <= MIG_FRAME_TYPE_MAX; type++) {
		if (type == MIG_FRAME_DATA)
			continue;
		sample_frame(type, &b);
		b.b[b.n] = 0;
		ck_assert_msg(decode_payload(&b, b.n - MIG_FRAME_HEADER_LEN + 1, &f) ==
		    MIG_E_MALFORMED, "%s", mig_frame_type_name(type));
	}
}
END_TEST

START_TEST(test_every_shorter_payload_refused)
{
	struct bytes b;
	struct mig_frame f;
	size_t len, full;
	int type;

	for (type = MIG_FRAME_HELLO; type <= MIG_FRAME_TYPE_MAX; type++) {
		sample_frame(type, &b);
		full = b.n - MIG_FRAME_HEADER_LEN;
		/* A shorter DATA is a shorter chunk, valid once past the fixed part. */
		if (type == MIG_FRAME_DATA)
			full = MIG_DATA_FIXED_LEN;
		for (len = 0; len < full; len++)
			ck_assert_msg(decode_payload(&b, len, &f) == MIG_E_MALFORMED, "%s length %zu",
			    mig_frame_type_name(type), len);
	}
}
END_TEST

START_TEST(test_payload_decode_refuses_unknown_type)
{
	struct mig_frame_header h = {MIG_PROTO_VERSION, 0, 0, 0};
	struct mig_frame f;

	ck_assert_int_eq(mig_frame_payload_decode(&h, NULL, &f), MIG_E_UNKNOWN_TYPE);
	h.type = MIG_FRAME_KEEPALIVE;
	ck_assert_int_eq(mig_frame_payload_decode(&h, NULL, &f), MIG_E_MALFORMED);
	h.length = 8;
	ck_assert_int_eq(mig_frame_payload_decode(&h, NULL, &f), MIG_E_MALFORMED);
}
END_TEST

START_TEST(test_encoders_refuse_small_buffers)
{
	struct bytes b;
	uint8_t out[sizeof(b.b)];
	struct mig_hello h;
	struct mig_bitmap m;
	struct mig_data d;
	size_t cap;

	sample_hello(&h);
	sample_bitmap(&m);
	sample_data(&d);
	sample_frame(MIG_FRAME_HELLO, &b);
	for (cap = 0; cap < b.n; cap++)
		ck_assert_uint_eq(mig_encode_hello(out, cap, &h), 0);
	ck_assert_uint_eq(mig_encode_hello(out, b.n, &h), b.n);
	sample_frame(MIG_FRAME_BITMAP, &b);
	for (cap = 0; cap < b.n; cap++)
		ck_assert_uint_eq(mig_encode_bitmap(out, cap, &m), 0);
	sample_frame(MIG_FRAME_DATA, &b);
	for (cap = 0; cap < b.n; cap++)
		ck_assert_uint_eq(mig_encode_data(out, cap, &d), 0);
	for (cap = 0; cap < MIG_FRAME_HEADER_LEN + 8; cap++)
		ck_assert_uint_eq(mig_encode_keepalive(out, cap, 1), 0);
	ck_assert_uint_eq(mig_encode_keepalive(NULL, 0, 1), 0);
	ck_assert_uint_eq(mig_encode_error(out, MIG_FRAME_HEADER_LEN + 6, MIG_E_TLS, "x"), 0);
}
END_TEST

/* ---- incremental decoder ---- */

/* Every sample frame, plus a raw bitmap, back to back. */
static void
sample_stream(struct bytes *s, struct mig_frame *ref, size_t *nref)
{
	struct bytes one;
	struct mig_bitmap m;
	struct mig_frame_header h;
	size_t off;
	int type;

	s->n = 0;
	*nref = 0;
	for (type = MIG_FRAME_HELLO; type <= MIG_FRAME_TYPE_MAX + 1; type++) {
		if (type <= MIG_FRAME_TYPE_MAX) {
			sample_frame(type, &one);
		} else {
			sample_bitmap(&m);
			m.encoding = MIG_BITMAP_RAW;
			m.encoded = sample_raw;
			m.encoded_len = sizeof(sample_raw);
			one.n = mig_encode_bitmap(one.b, sizeof(one.b), &m);
		}
		b_mem(s, one.b, one.n);
	}
	/* The reference: each frame decoded in place from the whole stream. */
	for (off = 0; off < s->n; (*nref)++) {
		ck_assert_int_eq(mig_frame_header_decode(s->b + off, &h), MIG_OK);
		ck_assert_int_eq(mig_frame_payload_decode(&h, s->b + off + MIG_FRAME_HEADER_LEN,
		    &ref[*nref]), MIG_OK);
		off += MIG_FRAME_HEADER_LEN + h.length;
	}
}

/*
 * Feeds in[0..len) as one piece, checking frames against ref from *next.
 * Returns why it went wrong, or NULL: callers assert once per piece, since
 * every Check assertion costs a write(2) and these loops run 100k times.
 */
static const char *
feed_piece(struct mig_decoder *d, const uint8_t *in, size_t len, const struct mig_frame *ref,
    size_t *next)
{
	struct mig_frame f;
	size_t used;
	int err;
	enum mig_decode_status st;

	do {
		st = mig_decoder_feed(d, in, len, &used, &f, &err);
		if (st == MIG_DECODE_ERROR)
			return mig_err_name(err);
		if (used > len)
			return "consumed more than given";
		if (st == MIG_DECODE_FRAME) {
			if (!frames_eq(&f, &ref[*next]))
				return "frame differs from the reference";
			if (mig_decoder_partial(d) != 0)
				return "partial() not 0 after a frame";
			(*next)++;
		} else if (used != len) {
			return "NEED_MORE without consuming everything";
		}
		in += used;
		len -= used;
	} while (len > 0);
	return NULL;
}

START_TEST(test_decoder_multiple_frames_in_one_buffer)
{
	static struct bytes s;
	struct mig_frame ref[16];
	struct mig_decoder d;
	size_t nref, next = 0;

	sample_stream(&s, ref, &nref);
	ck_assert_uint_eq(nref, MIG_FRAME_TYPE_MAX + 1);
	mig_decoder_init(&d);
	ck_assert_ptr_null(feed_piece(&d, s.b, s.n, ref, &next));
	ck_assert_uint_eq(next, nref);
	ck_assert_uint_eq(mig_decoder_partial(&d), 0);
	mig_decoder_free(&d);
}
END_TEST

START_TEST(test_decoder_every_split_in_two)
{
	static struct bytes s;
	struct mig_frame ref[16];
	struct mig_decoder d;
	size_t nref, next, cut;
	const char *why;

	sample_stream(&s, ref, &nref);
	for (cut = 0; cut <= s.n; cut++) {
		mig_decoder_init(&d);
		next = 0;
		why = feed_piece(&d, s.b, cut, ref, &next);
		if (why == NULL)
			why = feed_piece(&d, s.b + cut, s.n - cut, ref, &next);
		if (why == NULL && (next != nref || mig_decoder_partial(&d) != 0))
			why = "frames missing at the end";
		ck_assert_msg(why == NULL, "cut at %zu: %s", cut, why);
		mig_decoder_free(&d);
	}
}
END_TEST

START_TEST(test_decoder_byte_by_byte)
{
	static struct bytes s;
	struct mig_frame ref[16];
	struct mig_decoder d;
	size_t nref, next = 0, i;
	const char *why = NULL;

	sample_stream(&s, ref, &nref);
	mig_decoder_init(&d);
	for (i = 0; i < s.n && (why = feed_piece(&d, s.b + i, 1, ref, &next)) == NULL; i++)
		continue;
	ck_assert_msg(why == NULL, "byte %zu: %s", i, why);
	ck_assert_uint_eq(next, nref);
	mig_decoder_free(&d);
}
END_TEST

START_TEST(test_decoder_partial_counts_held_bytes)
{
	static struct bytes s;
	struct mig_frame ref[16];
	struct mig_decoder d;
	size_t nref, next = 0, seen, i, boundary = 0;

	sample_stream(&s, ref, &nref);
	mig_decoder_init(&d);
	ck_assert_uint_eq(mig_decoder_partial(&d), 0);
	for (i = 0; i < s.n; i++) {
		seen = next;
		if (feed_piece(&d, s.b + i, 1, ref, &next) != NULL)
			break;
		if (next != seen) {
			if (i + 1 - boundary != MIG_FRAME_HEADER_LEN + ref[next - 1].hdr.length)
				break;
			boundary = i + 1;
		}
		/* A stream that ended here would be cut inside a frame exactly
		 * when partial() is not zero: the caller's MIG_E_TRUNCATED. */
		if (mig_decoder_partial(&d) != i + 1 - boundary)
			break;
	}
	ck_assert_msg(i == s.n, "partial() wrong after byte %zu", i);
	ck_assert_uint_eq(boundary, s.n);
	mig_decoder_free(&d);
}
END_TEST

START_TEST(test_decoder_sticky_error)
{
	struct bytes b;
	struct mig_decoder d;
	struct mig_frame f;
	size_t used;
	int err;

	sample_frame(MIG_FRAME_ACK, &b);
	b.b[0] = 'W';
	mig_decoder_init(&d);
	ck_assert_int_eq(mig_decoder_feed(&d, b.b, 5, &used, &f, &err), MIG_DECODE_NEED_MORE);
	ck_assert_uint_eq(used, 5);
	ck_assert_int_eq(mig_decoder_feed(&d, b.b + 5, b.n - 5, &used, &f, &err), MIG_DECODE_ERROR);
	ck_assert_int_eq(err, MIG_E_BAD_MAGIC);
	ck_assert_uint_eq(used, MIG_FRAME_HEADER_LEN - 5);
	/* Valid input afterwards changes nothing: the stream is lost. */
	sample_frame(MIG_FRAME_ACK, &b);
	err = MIG_OK;
	ck_assert_int_eq(mig_decoder_feed(&d, b.b, b.n, &used, &f, &err), MIG_DECODE_ERROR);
	ck_assert_int_eq(err, MIG_E_BAD_MAGIC);
	ck_assert_uint_eq(used, 0);
	mig_decoder_free(&d);
}
END_TEST

START_TEST(test_decoder_error_after_good_frame)
{
	static struct bytes s;
	struct bytes bad;
	struct mig_decoder d;
	struct mig_frame f;
	struct mig_str msg = STR("x");
	size_t used, first;
	int err;

	/* A KEEPALIVE, then an ERROR frame whose code is 0. */
	sample_frame(MIG_FRAME_KEEPALIVE, &s);
	first = s.n;
	raw_error(&bad, MIG_OK, &msg);
	b_mem(&s, bad.b, bad.n);
	mig_decoder_init(&d);
	ck_assert_int_eq(mig_decoder_feed(&d, s.b, s.n, &used, &f, &err), MIG_DECODE_FRAME);
	ck_assert_uint_eq(used, first);
	ck_assert_uint_eq(f.hdr.type, MIG_FRAME_KEEPALIVE);
	ck_assert_int_eq(mig_decoder_feed(&d, s.b + used, s.n - used, &used, &f, &err),
	    MIG_DECODE_ERROR);
	ck_assert_int_eq(err, MIG_E_MALFORMED);
	ck_assert_uint_eq(used, bad.n);
	ck_assert_int_eq(mig_decoder_feed(&d, s.b, s.n, &used, &f, &err), MIG_DECODE_ERROR);
	ck_assert_int_eq(err, MIG_E_MALFORMED);
	mig_decoder_free(&d);
}
END_TEST

START_TEST(test_decoder_refuses_oversized_header_before_payload)
{
	uint8_t hdr[MIG_FRAME_HEADER_LEN];
	struct mig_decoder d;
	struct mig_frame f;
	size_t used;
	int err;

	mig_frame_header_encode(hdr, MIG_FRAME_DATA, MIG_FRAME_MAX_PAYLOAD + 1);
	mig_decoder_init(&d);
	ck_assert_int_eq(mig_decoder_feed(&d, hdr, sizeof(hdr), &used, &f, &err), MIG_DECODE_ERROR);
	ck_assert_int_eq(err, MIG_E_FRAME_TOO_LARGE);
	ck_assert_ptr_null(d.payload);
	mig_decoder_free(&d);
}
END_TEST

START_TEST(test_decoder_buffer_grows_with_arrival)
{
	const uint32_t chunk = 1u << 20;
	size_t total = MIG_DATA_PREFIX_LEN + chunk, off, piece, used;
	uint8_t *s = malloc(total);
	struct mig_decoder d;
	struct mig_frame f;
	enum mig_decode_status st = MIG_DECODE_NEED_MORE;
	int err;

	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(mig_encode_data_prefix(s, 5, MIG_PHASE_PRECOPY, 0, chunk),
	    MIG_DATA_PREFIX_LEN);
	for (off = MIG_DATA_PREFIX_LEN; off < total; off++)
		s[off] = (uint8_t)(off * 31);
	mig_decoder_init(&d);
	/* A header announcing 1 MiB costs nothing until the bytes come. */
	ck_assert_int_eq(mig_decoder_feed(&d, s, 100, &used, &f, &err), MIG_DECODE_NEED_MORE);
	ck_assert_uint_le(d.payload_cap, 4096);
	for (off = 100; off < total; off += used) {
		piece = total - off < 65536 ? total - off : 65536;
		st = mig_decoder_feed(&d, s + off, piece, &used, &f, &err);
		ck_assert_uint_le(d.payload_cap, chunk + MIG_DATA_FIXED_LEN);
		ck_assert_uint_ge(d.payload_cap, d.payload_have);
	}
	ck_assert_int_eq(st, MIG_DECODE_FRAME);
	ck_assert_uint_eq(f.u.data.seq, 5);
	ck_assert_uint_eq(f.u.data.payload_len, chunk);
	ck_assert_mem_eq(f.u.data.payload, s + MIG_DATA_PREFIX_LEN, chunk);
	mig_decoder_free(&d);
	free(s);
}
END_TEST

START_TEST(test_decoder_empty_feed)
{
	struct mig_decoder d;
	struct mig_frame f;
	size_t used = 99;
	int err;

	mig_decoder_init(&d);
	ck_assert_int_eq(mig_decoder_feed(&d, NULL, 0, &used, &f, &err), MIG_DECODE_NEED_MORE);
	ck_assert_uint_eq(used, 0);
	ck_assert_uint_eq(mig_decoder_partial(&d), 0);
	mig_decoder_free(&d);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("frame");
	TCase *hdr = tcase_create("header");
	TCase *trip = tcase_create("round-trip");
	TCase *bad = tcase_create("malformed");
	TCase *dec = tcase_create("decoder");

	tcase_add_test(hdr, test_header_layout);
	tcase_add_test(hdr, test_data_fixed_decode);
	tcase_add_test(hdr, test_header_bad_magic);
	tcase_add_test(hdr, test_header_bad_version);
	tcase_add_test(hdr, test_header_unknown_type);
	tcase_add_test(hdr, test_header_nonzero_flags);
	tcase_add_test(hdr, test_header_too_large);
	tcase_add_test(hdr, test_header_check_order);
	tcase_add_test(hdr, test_type_names);
	tcase_add_test(trip, test_hello_round_trip);
	tcase_add_test(trip, test_hello_longest_and_shortest_strings);
	tcase_add_test(trip, test_hello_unknown_capabilities_kept);
	tcase_add_test(trip, test_digest_capabilities);
	tcase_add_test(trip, test_data_packed);
	tcase_add_test(trip, test_hello_ack_round_trip);
	tcase_add_test(trip, test_data_round_trip);
	tcase_add_test(trip, test_data_empty_payload);
	tcase_add_test(trip, test_data_prefix_matches_whole_frame);
	tcase_add_test(trip, test_bitmap_round_trip_runs_with_contents);
	tcase_add_test(trip, test_bitmap_round_trip_raw_without_contents);
	tcase_add_test(trip, test_bitmap_dirty_count_is_computed_not_trusted);
	tcase_add_test(trip, test_fixed_frames_round_trip);
	tcase_add_test(trip, test_data_initial_done_flag);
	tcase_add_test(trip, test_switchover_ack_capability);
	tcase_add_test(trip, test_error_round_trip);
	tcase_add_test(trip, test_error_long_message_is_cut);
	tcase_add_test(bad, test_hello_bad_fields);
	tcase_add_test(bad, test_hello_ack_bad_fields);
	tcase_add_test(bad, test_data_bad_fields);
	tcase_add_test(bad, test_data_chunk_above_limit_refused);
	tcase_add_test(bad, test_bitmap_bad_fields);
	tcase_add_test(bad, test_bitmap_encoded_len_past_payload);
	tcase_add_test(bad, test_bitmap_contents_size_overflow);
	tcase_add_test(bad, test_bitmap_frame_above_limit_refused);
	tcase_add_test(bad, test_error_bad_fields);
	tcase_add_test(bad, test_fixed_frames_wrong_length);
	tcase_add_test(bad, test_every_type_refuses_trailing_bytes);
	tcase_add_test(bad, test_every_shorter_payload_refused);
	tcase_add_test(bad, test_payload_decode_refuses_unknown_type);
	tcase_add_test(bad, test_encoders_refuse_small_buffers);
	tcase_add_test(dec, test_decoder_multiple_frames_in_one_buffer);
	tcase_add_test(dec, test_decoder_every_split_in_two);
	tcase_add_test(dec, test_decoder_byte_by_byte);
	tcase_add_test(dec, test_decoder_partial_counts_held_bytes);
	tcase_add_test(dec, test_decoder_sticky_error);
	tcase_add_test(dec, test_decoder_error_after_good_frame);
	tcase_add_test(dec, test_decoder_refuses_oversized_header_before_payload);
	tcase_add_test(dec, test_decoder_buffer_grows_with_arrival);
	tcase_add_test(dec, test_decoder_empty_feed);
	suite_add_tcase(s, hdr);
	suite_add_tcase(s, trip);
	suite_add_tcase(s, bad);
	/* Every split point of a 4 KiB stream, slow under sanitizers. */
	tcase_set_timeout(dec, 60);
	suite_add_tcase(s, dec);
	return tu_run_suite(s);
}
