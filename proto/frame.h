/*
 * frame.h: the vfio-migd wire protocol, version 1 (docs/PROTOCOL.md).
 *
 * Pure encode and decode: no sockets, no event loop, no allocation except
 * the incremental decoder's one reusable buffer. Every length read from the
 * wire is checked against what remains before it is used. All integers are
 * big-endian.
 *
 * A frame is a 12-byte header followed by `length` bytes of payload:
 *   u32 magic "VFMG" | u8 version | u8 type | u16 flags (0) | u32 length
 * Decoded frames point into the payload they were decoded from (no copies);
 * they are valid while that payload is.
 */
#ifndef MIG_FRAME_H
#define MIG_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define MIG_FRAME_MAGIC 0x56464D47u /* "VFMG" */
#define MIG_PROTO_VERSION 1
#define MIG_PROTO_VERSION_MIN 1
#define MIG_PROTO_VERSION_MAX 1
#define MIG_FRAME_HEADER_LEN 12
/* Largest payload: a 16 MiB data chunk plus its fixed fields. */
#define MIG_FRAME_MAX_PAYLOAD (16u * 1024 * 1024 + 64)
#define MIG_MAX_CHUNK (16u * 1024 * 1024)

#define MIG_TOKEN_MAX 128
#define MIG_NAME_MAX 64
#define MIG_IDENTITY_MAX 256
#define MIG_COMPAT_MAX 1024
#define MIG_ERROR_MSG_MAX 1024
#define MIG_UUID_LEN 16
#define MIG_END_DIGEST_LEN 32 /* the agreed digest, left-aligned, zero-padded */
#define MIG_CHANNELS_MAX 64 /* connections per migration (HELLO channels) */

enum mig_frame_type {
	MIG_FRAME_HELLO = 1,
	MIG_FRAME_HELLO_ACK = 2,
	MIG_FRAME_DATA = 3,
	MIG_FRAME_BITMAP = 4,
	MIG_FRAME_END = 5,
	MIG_FRAME_COMMIT = 6,
	MIG_FRAME_ACK = 7,
	MIG_FRAME_ERROR = 8,
	MIG_FRAME_KEEPALIVE = 9,
	MIG_FRAME_SWITCHOVER_ACK = 10,
};
#define MIG_FRAME_TYPE_MAX MIG_FRAME_SWITCHOVER_ACK

/* Capabilities announced in HELLO and agreed (intersection) in HELLO-ACK. */
#define MIG_CAP_BITMAP (1ull << 0)	   /* dirty-bitmap frames */
#define MIG_CAP_PAGE_CONTENTS (1ull << 1) /* bitmap frames carry page contents */
#define MIG_CAP_CHANNELS (1ull << 2)	   /* several TLS connections per migration */
#define MIG_CAP_ECHO (1ull << 3)	   /* the destination echoes KEEPALIVEs */
/* The source marks the end of the device's initial data (DATA flag
 * INITIAL_DONE) and switches over only after the destination has loaded
 * it and said so (SWITCHOVER_ACK), as QEMU's switchover-ack does. */
#define MIG_CAP_SWITCHOVER_ACK (1ull << 4)
/* END's digest (PROTOCOL.md §2.3): HELLO offers one bit per digest the
 * source accepts; HELLO_ACK names the one chosen. Neither bit stands for
 * SHA-256, what a daemon older than the negotiation sends. */
#define MIG_CAP_DIGEST_SHA256 (1ull << 5)
#define MIG_CAP_DIGEST_XXH3_128 (1ull << 6)
#define MIG_CAP_DIGESTS (MIG_CAP_DIGEST_SHA256 | MIG_CAP_DIGEST_XXH3_128)
/* DATA may be packed: zstd-compressed (MIG_DATA_ZSTD) or a run of zeros
 * (MIG_DATA_ZERO), each with the chunk's own length in front. */
#define MIG_CAP_COMPRESSION (1ull << 7)
#define MIG_CAP_KNOWN (MIG_CAP_BITMAP | MIG_CAP_PAGE_CONTENTS | MIG_CAP_CHANNELS | MIG_CAP_ECHO | \
    MIG_CAP_SWITCHOVER_ACK | MIG_CAP_DIGESTS | MIG_CAP_COMPRESSION)

/* Phase of a data chunk. */
enum mig_data_phase {
	MIG_PHASE_PRECOPY = 1,
	MIG_PHASE_STOPCOPY = 2,
};

/* DATA flags. */
#define MIG_DATA_END_OF_RECORD 0x01 /* last part of one device data record */
/* Pre-copy only, with MIG_CAP_SWITCHOVER_ACK: the device's initial data
 * ends with this frame (which may be empty). The destination answers with
 * SWITCHOVER_ACK once it has applied every frame up to this one. */
#define MIG_DATA_INITIAL_DONE 0x02
/* With MIG_CAP_COMPRESSION, a packed chunk: the payload is the chunk's
 * length (u32, 1..MIG_MAX_CHUNK) and then one zstd frame (ZSTD) or nothing
 * (ZERO: the chunk is that many zero bytes). Never both. */
#define MIG_DATA_ZSTD 0x04
#define MIG_DATA_ZERO 0x08
#define MIG_DATA_PACKED (MIG_DATA_ZSTD | MIG_DATA_ZERO)
#define MIG_DATA_RAW_LEN 4 /* the u32 in front of a packed chunk */
#define MIG_DATA_FLAGS_KNOWN (MIG_DATA_END_OF_RECORD | MIG_DATA_INITIAL_DONE | MIG_DATA_PACKED)

/* Bitmap encodings. */
enum mig_bitmap_encoding {
	MIG_BITMAP_RAW = 0,  /* ceil(page_count / 8) bytes, bit i = page start+i, LSB first */
	MIG_BITMAP_RUNS = 1, /* LEB128 varint pairs (gap, run) of clean/dirty pages */
};
#define MIG_BITMAP_HAS_CONTENTS 0x01 /* dirty pages' contents follow, in order */
#define MIG_BITMAP_FLAGS_KNOWN MIG_BITMAP_HAS_CONTENTS
#define MIG_PAGE_SIZE_MIN 512u
#define MIG_PAGE_SIZE_MAX (1u << 30)

struct mig_frame_header {
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint32_t length;
};

/* Strings are not NUL-terminated on the wire: pointer + length. The decoder
 * refuses embedded NULs and empty names where a name is required. */
struct mig_str {
	const char *ptr;
	uint16_t len;
};

struct mig_hello {
	uint16_t version_min, version_max;
	uint8_t migration_id[MIG_UUID_LEN];
	struct mig_str token;	 /* 1..MIG_TOKEN_MAX */
	struct mig_str device;	 /* destination device name, 1..MIG_NAME_MAX */
	struct mig_str identity; /* e.g. "sim-v1", 1..MIG_IDENTITY_MAX */
	struct mig_str compat;	 /* compatibility string, 0..MIG_COMPAT_MAX */
	uint64_t capabilities;
	uint64_t state_size; /* the source's estimate of device data, bytes */
	uint16_t channel;    /* this connection's index, < channels */
	uint16_t channels;   /* 1..64 */
};

struct mig_hello_ack {
	uint16_t version; /* chosen */
	uint8_t migration_id[MIG_UUID_LEN];
	uint64_t capabilities;	 /* agreed */
	struct mig_str identity; /* destination device identity */
};

struct mig_data {
	uint64_t seq;  /* 0, 1, 2 ... over DATA and BITMAP frames of a migration */
	uint8_t phase; /* enum mig_data_phase */
	uint8_t flags; /* MIG_DATA_* */
	const uint8_t *payload;
	uint32_t payload_len; /* 0..MIG_MAX_CHUNK */
};

struct mig_bitmap {
	uint64_t seq;
	uint64_t start_pfn;
	uint32_t page_size;  /* power of two, MIG_PAGE_SIZE_MIN..MIG_PAGE_SIZE_MAX */
	uint32_t page_count; /* pages covered, >= 1 */
	uint8_t encoding;    /* enum mig_bitmap_encoding */
	uint8_t flags;	     /* MIG_BITMAP_* */
	const uint8_t *encoded;
	uint32_t encoded_len;
	uint32_t dirty_count;	/* set bits, computed and checked by the decoder */
	const uint8_t *contents; /* dirty_count * page_size bytes, or NULL */
	uint32_t contents_len;
};

struct mig_end {
	uint64_t total_bytes;  /* device data bytes in all DATA frames */
	uint64_t total_chunks; /* DATA frames */
	uint64_t total_pages;  /* dirty pages reported in BITMAP frames */
	/* The agreed digest (MIG_CAP_DIGEST_*) of all device data in seq
	 * order, zero-padded: XXH3-128 fills 16 bytes, SHA-256 all 32. */
	uint8_t digest[MIG_END_DIGEST_LEN];
};

struct mig_commit {
	uint64_t bytes_received;
	uint32_t resume_ms; /* destination: from END to device running */
};

struct mig_ack {
	uint64_t value; /* what is acknowledged (COMMIT: bytes_received) */
};

struct mig_error_frame {
	uint32_t code;	     /* enum mig_err number; unknown numbers allowed */
	struct mig_str message; /* 0..MIG_ERROR_MSG_MAX */
};

struct mig_keepalive {
	uint64_t nonce;
};

struct mig_switchover_ack {
	uint64_t seq; /* of the DATA frame flagged INITIAL_DONE, applied with all before it */
};

struct mig_frame {
	struct mig_frame_header hdr;
	union {
		struct mig_hello hello;
		struct mig_hello_ack hello_ack;
		struct mig_data data;
		struct mig_bitmap bitmap;
		struct mig_end end;
		struct mig_commit commit;
		struct mig_ack ack;
		struct mig_error_frame error;
		struct mig_keepalive keepalive;
		struct mig_switchover_ack switchover_ack;
	} u;
};

/* The HELLO/HELLO_ACK bit that offers or names END's digest `id` (enum
 * mig_digest_id of common/digest.h); 0 for another number. */
uint64_t mig_cap_digest(int id);
/* The digest a set of agreed bits names: its one digest bit, or none,
 * which stands for SHA-256 (a peer older than the negotiation); -1 for
 * more than one. */
int mig_caps_digest(uint64_t caps);

/* Human name of a frame type ("HELLO"), "UNKNOWN" otherwise. */
const char *mig_frame_type_name(int type);

/* Check a 12-byte header: magic, version, known type, flags 0, length not
 * above the largest payload of that type (never above MIG_FRAME_MAX_PAYLOAD).
 * Returns MIG_OK or an enum mig_err. */
int mig_frame_header_decode(const uint8_t hdr[MIG_FRAME_HEADER_LEN], struct mig_frame_header *out);
void mig_frame_header_encode(uint8_t out[MIG_FRAME_HEADER_LEN], uint8_t type, uint32_t length);

/* Decode the payload of a frame whose header was already checked. `out`
 * points into `payload`. Returns MIG_OK or an enum mig_err (MIG_E_MALFORMED
 * for bad fields, lengths that disagree with the payload length, trailing
 * bytes). */
int mig_frame_payload_decode(const struct mig_frame_header *hdr, const uint8_t *payload,
    struct mig_frame *out);

/*
 * Encoders: write a whole frame (header + payload) into out[0..cap). Return
 * the number of bytes written, or 0 when cap is too small or a field is out
 * of range (the encoder refuses to produce what the decoder would refuse).
 */
size_t mig_encode_hello(uint8_t *out, size_t cap, const struct mig_hello *h);
size_t mig_encode_hello_ack(uint8_t *out, size_t cap, const struct mig_hello_ack *a);
size_t mig_encode_bitmap(uint8_t *out, size_t cap, const struct mig_bitmap *b);
size_t mig_encode_end(uint8_t *out, size_t cap, const struct mig_end *e);
size_t mig_encode_commit(uint8_t *out, size_t cap, const struct mig_commit *c);
size_t mig_encode_ack(uint8_t *out, size_t cap, const struct mig_ack *a);
/* code must not be MIG_OK; a msg longer than MIG_ERROR_MSG_MAX is cut (at a
 * UTF-8 boundary) rather than refused, so the error still reaches the peer. */
size_t mig_encode_error(uint8_t *out, size_t cap, uint32_t code, const char *msg);
size_t mig_encode_keepalive(uint8_t *out, size_t cap, uint64_t nonce);
/* Destination -> source, with MIG_CAP_SWITCHOVER_ACK agreed: the initial
 * data up to DATA frame `seq` (the one flagged INITIAL_DONE) is in the
 * device; the source may switch over. */
size_t mig_encode_switchover_ack(uint8_t *out, size_t cap, uint64_t seq);

/* DATA is sent without copying its payload: this writes the frame header
 * and the DATA fixed fields (MIG_DATA_PREFIX_LEN bytes); the caller sends
 * payload_len bytes of payload right after. Returns MIG_DATA_PREFIX_LEN, or
 * 0 when a field is out of range. */
#define MIG_DATA_FIXED_LEN 12 /* u64 seq | u8 phase | u8 flags | u16 reserved */
#define MIG_DATA_PREFIX_LEN (MIG_FRAME_HEADER_LEN + MIG_DATA_FIXED_LEN)
size_t mig_encode_data_prefix(uint8_t out[MIG_DATA_PREFIX_LEN], uint64_t seq, uint8_t phase,
    uint8_t flags, uint32_t payload_len);
/* Decode only the fixed fields of a DATA frame whose header was checked,
 * leaving its payload where it is (the receiver's zero-copy path):
 * out->payload is NULL, out->payload_len from the header. Same checks as
 * mig_frame_payload_decode(). */
int mig_data_fixed_decode(const struct mig_frame_header *hdr, const uint8_t fixed[MIG_DATA_FIXED_LEN],
    struct mig_data *out);
/* Whole DATA frame, for tests and small payloads. */
size_t mig_encode_data(uint8_t *out, size_t cap, const struct mig_data *d);

/* A packed DATA payload (flags has MIG_DATA_ZSTD or MIG_DATA_ZERO), whose
 * frame decoded: the chunk's length (1..MIG_MAX_CHUNK, checked here) and,
 * for ZSTD, the compressed bytes after it. Returns MIG_OK or
 * MIG_E_MALFORMED. Nothing here decompresses. */
struct mig_packed {
	uint32_t raw_len;
	const uint8_t *body;
	uint32_t body_len;
};
int mig_data_packed_decode(uint8_t flags, const uint8_t *payload, uint32_t payload_len,
    struct mig_packed *out);
/* The chunk's length in front of a packed payload. */
void mig_data_packed_encode_len(uint8_t out[MIG_DATA_RAW_LEN], uint32_t raw_len);

/*
 * Incremental decoder: feed it bytes split anywhere; it hands out one frame
 * at a time. The frame stays valid until the next call to
 * mig_decoder_feed() or mig_decoder_free(). After an error the decoder
 * refuses all further input with the same error (a stream cannot be
 * resynchronised).
 */
struct mig_decoder {
	uint8_t hdr_buf[MIG_FRAME_HEADER_LEN];
	size_t hdr_have;
	struct mig_frame_header hdr;
	uint8_t *payload;
	size_t payload_cap;
	size_t payload_have;
	int error;
	int frame_pending; /* last call returned a frame: reset on next feed */
};

enum mig_decode_status {
	MIG_DECODE_NEED_MORE = 0, /* all input consumed, no complete frame */
	MIG_DECODE_FRAME = 1,	  /* *frame is set; *consumed says how far */
	MIG_DECODE_ERROR = -1,	  /* *err is set */
};

void mig_decoder_init(struct mig_decoder *d);
void mig_decoder_free(struct mig_decoder *d);
/* Consumes up to len bytes, stopping right after the first complete frame.
 * *consumed is always set. On MIG_DECODE_ERROR, *err is an enum mig_err. */
enum mig_decode_status mig_decoder_feed(struct mig_decoder *d, const uint8_t *in, size_t len,
    size_t *consumed, struct mig_frame *frame, int *err);
/* Bytes held inside a frame not yet complete (0 at a frame boundary): lets
 * a reader tell a clean end of stream from a truncated one. */
size_t mig_decoder_partial(const struct mig_decoder *d);

#endif
