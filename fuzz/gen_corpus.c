/*
 * gen_corpus.c: writes the seed corpora of the wire-protocol fuzzers from
 * the encoders. For the frame decoder (fuzz_frame.c): one file per frame
 * type, one whole conversation, and one file per kind of malformed input
 * the decoder must refuse. For the zero-copy DATA path (fuzz_data.c): DATA
 * frames alone and among others, cut short, and with each fixed field
 * broken, and DATA frames ending in the fields its prefix encoder is fed.
 *
 *	make fuzz/gen_corpus && ./fuzz/gen_corpus frame ../fuzz/corpus/frame
 *	./fuzz/gen_corpus data ../fuzz/corpus/data
 *	./fuzz/gen_corpus compress ../fuzz/corpus/compress
 *
 * For packed chunks (fuzz_compress.c): a flag byte, then a payload: zero
 * runs, zstd chunks that unpack, and ones that lie about their length.
 *
 * Seeds are deterministic, so rerunning this rewrites the same bytes.
 * Malformed seeds start from an encoded frame and break one field, since
 * the encoders refuse to write them directly.
 */
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <zstd.h>

#include "bitmap.h"
#include "errors.h"
#include "frame.h"

#define SEED_MAX 8192
#define STR(s) ((struct mig_str){(s), (uint16_t)(sizeof(s) - 1)})

struct seed {
	uint8_t b[SEED_MAX];
	size_t n;
};

static const char *corpus_dir;

static void
seed_write(const char *name, const struct seed *s)
{
	char path[4096];
	FILE *fp;

	if (s->n == 0)
		errx(1, "seed %s: the encoder refused it", name);
	snprintf(path, sizeof(path), "%s/%s", corpus_dir, name);
	if ((fp = fopen(path, "wb")) == NULL)
		err(1, "%s", path);
	if (fwrite(s->b, 1, s->n, fp) != s->n || fclose(fp) != 0)
		err(1, "%s", path);
}

/* Appends the frame in t to s, for streams of several frames. */
static void
seed_append(struct seed *s, const struct seed *t)
{
	if (t->n == 0 || t->n > SEED_MAX - s->n)
		errx(1, "seed stream does not fit");
	memcpy(s->b + s->n, t->b, t->n);
	s->n += t->n;
}

static void
seed_hello(struct seed *s, uint64_t capabilities)
{
	static const uint8_t id[MIG_UUID_LEN] = {0x6b, 0x1e, 0x2c, 0x3d, 0x4e, 0x5f, 0x40, 0x71,
	    0x82, 0x93, 0xa4, 0xb5, 0xc6, 0xd7, 0xe8, 0xf9};
	struct mig_hello h = {.version_min = 1, .version_max = 1, .token = STR("tok-0123456789"),
	    .device = STR("gpu0"), .identity = STR("sim-v1"), .compat = STR("rev=2"),
	    .capabilities = capabilities, .state_size = 1u << 20, .channel = 0, .channels = 1};

	memcpy(h.migration_id, id, MIG_UUID_LEN);
	s->n = mig_encode_hello(s->b, SEED_MAX, &h);
}

static void
seed_hello_ack(struct seed *s, uint64_t capabilities)
{
	struct mig_hello_ack a = {.version = 1, .capabilities = capabilities,
	    .identity = STR("sim-v1")};

	memset(a.migration_id, 0x6b, MIG_UUID_LEN);
	s->n = mig_encode_hello_ack(s->b, SEED_MAX, &a);
}

static void
seed_data(struct seed *s, uint64_t seq, uint8_t phase, uint8_t flags, uint32_t len)
{
	static uint8_t chunk[256];
	struct mig_data d = {.seq = seq, .phase = phase, .flags = flags, .payload = chunk,
	    .payload_len = len};
	size_t i;

	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 13);
	s->n = mig_encode_data(s->b, SEED_MAX, &d);
}

/* Pages 1, 2 and 9 of 12 dirty, with contents when asked. */
static void
seed_bitmap(struct seed *s, uint64_t seq, int encoding, int with_contents)
{
	static const uint8_t runs[] = {1, 2, 6, 1};
	static const uint8_t raw[] = {0x06, 0x02};
	static uint8_t contents[3 * 512];
	struct mig_bitmap b = {.seq = seq, .start_pfn = 0x40000, .page_size = 512,
	    .page_count = 12, .encoding = (uint8_t)encoding};

	memset(contents, 0x5a, sizeof(contents));
	b.encoded = encoding == MIG_BITMAP_RUNS ? runs : raw;
	b.encoded_len = encoding == MIG_BITMAP_RUNS ? sizeof(runs) : sizeof(raw);
	if (with_contents) {
		b.flags = MIG_BITMAP_HAS_CONTENTS;
		b.contents = contents;
		b.contents_len = sizeof(contents);
	}
	s->n = mig_encode_bitmap(s->b, SEED_MAX, &b);
}

static void
seed_end(struct seed *s)
{
	struct mig_end e = {.total_bytes = 300, .total_chunks = 2, .total_pages = 3};

	memset(e.digest, 0xe3, sizeof(e.digest));
	s->n = mig_encode_end(s->b, SEED_MAX, &e);
}

static void
seed_commit(struct seed *s)
{
	struct mig_commit c = {.bytes_received = 300, .resume_ms = 17};

	s->n = mig_encode_commit(s->b, SEED_MAX, &c);
}

static void
seed_ack(struct seed *s)
{
	struct mig_ack a = {.value = 300};

	s->n = mig_encode_ack(s->b, SEED_MAX, &a);
}

/* The happy path of docs/PROTOCOL.md, source and destination interleaved. */
static void
write_conversation(void)
{
	struct seed all = {.n = 0}, t;

	seed_hello(&t, MIG_CAP_BITMAP | MIG_CAP_PAGE_CONTENTS);
	seed_append(&all, &t);
	seed_hello_ack(&t, MIG_CAP_BITMAP);
	seed_append(&all, &t);
	seed_data(&t, 0, MIG_PHASE_PRECOPY, 0, 200);
	seed_append(&all, &t);
	seed_bitmap(&t, 1, MIG_BITMAP_RUNS, 1);
	seed_append(&all, &t);
	t.n = mig_encode_keepalive(t.b, SEED_MAX, 1);
	seed_append(&all, &t);
	seed_data(&t, 2, MIG_PHASE_STOPCOPY, MIG_DATA_END_OF_RECORD, 100);
	seed_append(&all, &t);
	seed_end(&t);
	seed_append(&all, &t);
	seed_commit(&t);
	seed_append(&all, &t);
	seed_ack(&t);
	seed_append(&all, &t);
	seed_write("conversation", &all);
}

static void
write_valid(void)
{
	struct seed s;

	seed_hello(&s, MIG_CAP_BITMAP | MIG_CAP_PAGE_CONTENTS);
	seed_write("hello", &s);
	seed_hello(&s, MIG_CAP_KNOWN | 1ull << 42);
	seed_write("hello-unknown-caps", &s);
	seed_hello_ack(&s, MIG_CAP_BITMAP);
	seed_write("hello-ack", &s);
	seed_hello(&s, MIG_CAP_ECHO | MIG_CAP_DIGESTS);
	seed_write("hello-digests", &s);
	seed_hello_ack(&s, MIG_CAP_ECHO | MIG_CAP_DIGEST_XXH3_128);
	seed_write("hello-ack-xxh3", &s);
	seed_data(&s, 0, MIG_PHASE_PRECOPY, 0, 64);
	seed_write("data", &s);
	seed_data(&s, 9, MIG_PHASE_STOPCOPY, MIG_DATA_END_OF_RECORD, 0);
	seed_write("data-empty", &s);
	seed_bitmap(&s, 3, MIG_BITMAP_RUNS, 1);
	seed_write("bitmap-runs-contents", &s);
	seed_bitmap(&s, 4, MIG_BITMAP_RAW, 0);
	seed_write("bitmap-raw", &s);
	seed_end(&s);
	seed_write("end", &s);
	seed_commit(&s);
	seed_write("commit", &s);
	seed_ack(&s);
	seed_write("ack", &s);
	s.n = mig_encode_error(s.b, SEED_MAX, MIG_E_DIGEST_MISMATCH, "sha-256 differs");
	seed_write("error", &s);
	s.n = mig_encode_keepalive(s.b, SEED_MAX, 0x0123456789abcdefull);
	seed_write("keepalive", &s);
	s.n = mig_encode_switchover_ack(s.b, SEED_MAX, 41);
	seed_write("switchover-ack", &s);
	seed_data(&s, 41, MIG_PHASE_PRECOPY, MIG_DATA_INITIAL_DONE, 0);
	seed_write("data-initial-done", &s);
}

/* One broken field each; comments name the error the decoder must give. */
static void
write_malformed(void)
{
	struct seed s;

	seed_ack(&s);
	s.b[0] = 'G'; /* BAD_MAGIC */
	seed_write("bad-magic", &s);
	seed_ack(&s);
	s.b[4] = 2; /* BAD_VERSION */
	seed_write("bad-version", &s);
	seed_ack(&s);
	s.b[5] = MIG_FRAME_TYPE_MAX + 1; /* UNKNOWN_TYPE */
	seed_write("unknown-type", &s);
	seed_ack(&s);
	s.b[7] = 1; /* MALFORMED: header flags */
	seed_write("bad-flags", &s);
	memset(s.b, 0, MIG_DATA_PREFIX_LEN);
	s.n = MIG_DATA_PREFIX_LEN;
	mig_frame_header_encode(s.b, MIG_FRAME_DATA, MIG_FRAME_MAX_PAYLOAD + 1); /* TOO_LARGE */
	seed_write("too-large", &s);
	seed_hello(&s, MIG_CAP_BITMAP);
	s.n /= 2; /* ends inside the frame */
	seed_write("truncated", &s);
	seed_hello(&s, MIG_CAP_BITMAP);
	s.b[s.n - 3] = 1; /* MALFORMED: channel 1 of 1 */
	seed_write("bad-hello-channel", &s);
	seed_data(&s, 0, MIG_PHASE_PRECOPY, 0, 16);
	s.b[MIG_FRAME_HEADER_LEN + 8] = 3; /* MALFORMED: phase */
	seed_write("bad-data-phase", &s);
	seed_hello_ack(&s, MIG_CAP_DIGEST_XXH3_128);
	s.b[MIG_FRAME_HEADER_LEN + 25] |= 0x20; /* MALFORMED: two digests chosen */
	seed_write("bad-hello-ack-digests", &s);
	seed_bitmap(&s, 5, MIG_BITMAP_RUNS, 0);
	s.b[s.n - 1] = 0; /* MALFORMED: a dirty run of 0 pages */
	seed_write("bad-bitmap-runs", &s);
	seed_bitmap(&s, 6, MIG_BITMAP_RUNS, 1);
	s.n -= 1; /* MALFORMED: contents one byte short */
	s.b[11] = (uint8_t)(s.b[11] - 1);
	seed_write("bad-bitmap-contents", &s);
	s.n = mig_encode_error(s.b, SEED_MAX, MIG_E_TLS, "tls");
	s.b[MIG_FRAME_HEADER_LEN + 5] = 2; /* MALFORMED: trailing byte */
	seed_write("bad-error-trailing", &s);
}

/* DATA among the frames of a migration, as the destination reads them. */
static void
write_data_streams(void)
{
	struct seed all = {.n = 0}, t;

	seed_hello(&t, MIG_CAP_BITMAP);
	seed_append(&all, &t);
	seed_data(&t, 0, MIG_PHASE_PRECOPY, 0, 200);
	seed_append(&all, &t);
	t.n = mig_encode_keepalive(t.b, SEED_MAX, 7);
	seed_append(&all, &t);
	seed_bitmap(&t, 1, MIG_BITMAP_RAW, 0);
	seed_append(&all, &t);
	seed_data(&t, 2, MIG_PHASE_STOPCOPY, MIG_DATA_END_OF_RECORD, 100);
	seed_append(&all, &t);
	seed_end(&t);
	seed_append(&all, &t);
	seed_write("data-stream", &all);
	seed_data(&t, 3, MIG_PHASE_PRECOPY, 0, 256);
	t.n -= 100; /* the rest is still on its way */
	seed_append(&all, &t);
	seed_write("data-stream-incomplete", &all);
	all.n = 0;
	seed_data(&t, 0, MIG_PHASE_PRECOPY, 0, 16);
	seed_append(&all, &t);
	memcpy(t.b, "GET / HTTP/1.1\r\n\r\n", 18); /* BAD_MAGIC after a good frame */
	seed_append(&all, &t);
	seed_write("data-then-bad-magic", &all);
}

/* A DATA header of `length` bytes followed by what the payload has of it. */
static void
seed_data_header(struct seed *s, uint32_t length, size_t have)
{
	memset(s->b, 0, sizeof(s->b));
	mig_frame_header_encode(s->b, MIG_FRAME_DATA, length);
	s->n = MIG_FRAME_HEADER_LEN + have;
}

/* A DATA frame whose payload ends in the fields fuzz_data.c hands its
 * prefix encoder: u64 seq | u8 phase | u8 flags | u32 payload length. */
static void
seed_encoder_fields(struct seed *s, uint8_t phase, uint8_t flags, uint32_t len)
{
	uint8_t *f;

	seed_data(s, 0, MIG_PHASE_PRECOPY, 0, 32);
	f = s->b + s->n - 14;
	memset(f, 0xff, 8);
	f[8] = phase;
	f[9] = flags;
	f[10] = (uint8_t)(len >> 24);
	f[11] = (uint8_t)(len >> 16);
	f[12] = (uint8_t)(len >> 8);
	f[13] = (uint8_t)len;
}

static void
write_data(void)
{
	struct seed s;
	uint8_t *fixed = s.b + MIG_FRAME_HEADER_LEN;

	seed_data(&s, 0, MIG_PHASE_PRECOPY, 0, 64);
	seed_write("data", &s);
	seed_data(&s, 7, MIG_PHASE_PRECOPY, MIG_DATA_ZERO, MIG_DATA_RAW_LEN);
	seed_write("data-zero-run", &s);
	seed_data(&s, 8, MIG_PHASE_STOPCOPY, MIG_DATA_ZSTD | MIG_DATA_END_OF_RECORD, 64);
	seed_write("data-zstd", &s);
	seed_data(&s, 9, MIG_PHASE_PRECOPY, MIG_DATA_ZSTD, 64);
	s.b[MIG_FRAME_HEADER_LEN + 9] = MIG_DATA_ZERO; /* MALFORMED: a zero run of 64 bytes */
	seed_write("data-zero-run-too-long", &s);
	seed_data(&s, UINT64_MAX, MIG_PHASE_STOPCOPY, MIG_DATA_END_OF_RECORD, 0);
	seed_write("data-empty-end-of-record", &s);
	s.n = mig_encode_data_prefix(s.b, 1, MIG_PHASE_STOPCOPY, 0, MIG_MAX_CHUNK);
	seed_write("data-prefix-of-max-chunk", &s);
	seed_data_header(&s, MIG_DATA_FIXED_LEN - 1, MIG_DATA_FIXED_LEN - 1);
	seed_write("data-shorter-than-fixed", &s);
	seed_data_header(&s, 0, 0);
	seed_write("data-no-payload", &s);
	seed_data_header(&s, MIG_DATA_FIXED_LEN + MIG_MAX_CHUNK + 1, MIG_DATA_FIXED_LEN);
	seed_write("data-too-large", &s); /* FRAME_TOO_LARGE */
	seed_data(&s, 0, MIG_PHASE_PRECOPY, 0, 16);
	fixed[8] = 0; /* MALFORMED: phase */
	seed_write("data-bad-phase", &s);
	seed_data(&s, 0, MIG_PHASE_PRECOPY, 0, 16);
	fixed[9] = 0x80; /* MALFORMED: unknown flag */
	seed_write("data-bad-flags", &s);
	seed_data(&s, 0, MIG_PHASE_PRECOPY, 0, 16);
	fixed[11] = 1; /* MALFORMED: reserved */
	seed_write("data-bad-reserved", &s);
	seed_encoder_fields(&s, MIG_PHASE_STOPCOPY, MIG_DATA_END_OF_RECORD, MIG_MAX_CHUNK);
	seed_write("encoder-max-chunk", &s);
	seed_encoder_fields(&s, MIG_PHASE_PRECOPY, 0, MIG_MAX_CHUNK + 1);
	seed_write("encoder-over-max-chunk", &s);
	seed_encoder_fields(&s, MIG_PHASE_PRECOPY, 0, UINT32_MAX);
	seed_write("encoder-length-wraps", &s);
	write_data_streams();
}

int main(int, char **);

/* flag byte (1 ZSTD, 0 ZERO), the chunk's length, then len bytes of src
 * compressed (with or without the frame saying its size). */
static void
seed_packed(const char *name, int zstd, uint32_t raw_len, const uint8_t *src, size_t len,
    int says_size)
{
	ZSTD_CCtx *z = ZSTD_createCCtx();
	struct seed s;
	size_t n = 0;

	s.b[0] = (uint8_t)zstd;
	mig_data_packed_encode_len(s.b + 1, raw_len);
	if (zstd) {
		ZSTD_CCtx_setParameter(z, ZSTD_c_contentSizeFlag, says_size);
		n = ZSTD_compress2(z, s.b + 1 + MIG_DATA_RAW_LEN, SEED_MAX - 1 - MIG_DATA_RAW_LEN, src,
		    len);
		if (ZSTD_isError(n))
			errx(1, "zstd: %s", ZSTD_getErrorName(n));
	}
	ZSTD_freeCCtx(z);
	s.n = 1 + MIG_DATA_RAW_LEN + n;
	seed_write(name, &s);
}

static void
write_compress(void)
{
	static uint8_t text[65536], zeros[65536];
	struct seed s;
	size_t i;

	for (i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)"queue head tail ring index \n"[i % 27];
	seed_packed("zero-run", 0, 1u << 20, NULL, 0, 0);
	seed_packed("zstd-text", 1, sizeof(text), text, sizeof(text), 1);
	seed_packed("zstd-no-size", 1, sizeof(text), text, sizeof(text), 0);
	/* Refused when unpacked: longer, shorter, or says another size. */
	seed_packed("zstd-bomb", 1, 4096, zeros, sizeof(zeros), 0);
	seed_packed("zstd-short", 1, sizeof(zeros), zeros, 1000, 0);
	seed_packed("zstd-other-size", 1, 4096, zeros, 1000, 1);
	/* Refused when decoded: no length, a length of 0 or above 16 MiB. */
	seed_packed("zero-run-0", 0, 0, NULL, 0, 0);
	seed_packed("zero-run-too-long", 0, MIG_MAX_CHUNK + 1, NULL, 0, 0);
	s.b[0] = 1;
	memset(s.b + 1, 0xff, 3);
	s.n = 4;
	seed_write("zstd-no-length", &s);
	s.b[0] = 1;
	mig_data_packed_encode_len(s.b + 1, 4096);
	memcpy(s.b + 1 + MIG_DATA_RAW_LEN, "not zstd at all", 15);
	s.n = 1 + MIG_DATA_RAW_LEN + 15;
	seed_write("zstd-garbage", &s);
}

int
main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "frame") != 0 && strcmp(argv[1], "data") != 0 &&
	    strcmp(argv[1], "compress") != 0))
		errx(2, "usage: gen_corpus frame|data|compress directory");
	corpus_dir = argv[2];
	if (strcmp(argv[1], "compress") == 0) {
		write_compress();
		return 0;
	}
	if (strcmp(argv[1], "data") == 0) {
		write_data();
		return 0;
	}
	write_valid();
	write_conversation();
	write_malformed();
	return 0;
}
