/*
 * peer_tool.c: a scripted, possibly hostile, vfio-migd peer for the
 * integration tests.
 *
 * As a source (--connect) it opens a mutual-TLS connection to a destination
 * daemon, optionally sends a HELLO, then performs one scripted action: bad
 * bytes of every kind, a frame at the wrong moment, or a real device data
 * stream (read from a software device of its own, so the destination's
 * device accepts it) ended right or wrong. As a destination (--listen) it
 * accepts one connection from a source daemon and answers the way the
 * script says, e.g. with an ERROR at a given moment.
 *
 * It prints one word on stdout: the name of the error code of the ERROR
 * frame it got back (common/errors.h: "bad-magic", "digest-mismatch"...),
 * or "closed" (the peer closed without an ERROR), "no-answer" (nothing
 * within --timeout-ms), "tls-refused", "undecodable", "unexpected-answer",
 * or what the script reached: "hello-ack", "commit", "sent-error" (source);
 * "hello", "data", "end", "signalled" (destination, which then sent its
 * ERROR). It limits its own run time (--timeout-ms plus 10 s).
 * Details go to stderr. Exit status: with --expect WORD, 0 when the word
 * printed is WORD and 1 otherwise; without it, 0 unless the tool itself
 * failed.
 *
 * It links the protocol encoders (proto/frame.h), the TLS context of the
 * daemon (common/tls.h) and, for the data streams, the software device
 * (daemon/devices/sim_v1.h) through the v1 driver. It is never built into
 * anything shipped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <zstd.h>

#include "errors.h"
#include "frame.h"
#include "log.h"
#include "sim_v1.h"
#include "tls.h"
#include "v1_driver.h"

#define PT_READ_BUF 65536

struct pt_options {
	const char *connect, *listen;
	const char *cert, *key, *ca;
	const char *token, *device, *identity, *compat;
	const char *action, *expect, *image;
	uint64_t caps, seed;
	int caps_set; /* --caps given: as a destination, HELLO_ACK agrees to it */
	uint32_t chunk;
	int error_code;
	int count;
	int timeout_ms;
	int version_min, version_max;
};

struct pt_conn {
	int fd;
	SSL *ssl;
	struct mig_decoder dec;
	uint8_t buf[PT_READ_BUF];
	size_t off, len;
};

/* What a data stream from our own device should end with. */
enum pt_stream_end {
	PT_END_GOOD,
	PT_END_BAD_DIGEST,
	PT_END_BAD_LENGTH,
	PT_END_MID_RECORD,
	PT_END_ERROR_AFTER_RECORDS,
};

static struct pt_options opt = {
	.chunk = 65536,
	.timeout_ms = 10000,
	.version_min = 1,
	.version_max = 1,
	.seed = 77,
	.count = 1,
};
static uint64_t t0_ms;
static char last_message[MIG_ERROR_MSG_MAX + 1];

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "peer_tool +%llums: ", (unsigned long long)(mono_ms() - t0_ms));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Print the outcome and exit as --expect says. */
static void __attribute__((noreturn))
finish(const char *word)
{
	note("result: %s%s%s", word, last_message[0] ? ": " : "", last_message);
	printf("%s\n", word);
	fflush(stdout);
	if (opt.expect != NULL)
		exit(strcmp(opt.expect, word) == 0 ? 0 : 1);
	exit(0);
}

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "peer_tool: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: peer_tool (--connect HOST:PORT | --listen PORT) --cert F --key F --ca F\n"
	    "         [--token T --device NAME --identity ID --compat STR] [--caps N]\n"
	    "         [--action ACTION] [--error-code NAME] [--count N] [--image FILE]\n"
	    "         [--seed N] [--chunk BYTES] [--version-range MIN:MAX]\n"
	    "         [--timeout-ms MS] [--expect WORD]\n"
	    "source actions: idle keepalive-loris hello idle-after-hello data-first\n"
	    "  random-first random\n"
	    "  oversized bad-version unknown-type header-flags malformed seq hello2 commit\n"
	    "  ack garbage-record stream bad-digest bad-length partial-end\n"
	    "  error-after-records error-after-commit\n"
	    "  packed-bomb packed-short packed-zero (packed DATA: offer --caps with bit 7)\n"
	    "destination actions: error-on-hello error-on-data error-on-signal (SIGUSR1)\n"
	    "  error-on-end silent ack-on-signal (agrees to acknowledge the switchover, acks on SIGUSR1)\n"
	    "  (as a destination, --caps N is what its HELLO_ACK agrees to, offered or not)\n");
	exit(2);
}

/* --- bytes on the connection --- */

static void
pt_send(struct pt_conn *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int n;

	while (len > 0) {
		n = SSL_write(c->ssl, p, len > (1u << 30) ? 1 << 30 : (int)len);
		if (n <= 0) {
			/* The peer may have refused and closed already: its answer,
			 * if any, is still to be read. */
			note("send failed after the peer closed (%s)",
			    ERR_reason_error_string(ERR_peek_last_error()) ? ERR_reason_error_string(ERR_peek_last_error()) : "connection closed");
			ERR_clear_error();
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

/* 1 frame, 0 end of stream, -1 nothing before the deadline, -2 TLS failure,
 * -3 a frame that does not decode (*err). */
static int
pt_next_frame(struct pt_conn *c, struct mig_frame *f, int timeout_ms, int *err)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	enum mig_decode_status st;
	struct pollfd pfd;
	size_t consumed;
	int n, rc, left;

	for (;;) {
		if (c->off < c->len) {
			st = mig_decoder_feed(&c->dec, c->buf + c->off, c->len - c->off, &consumed, f,
			    err);
			c->off += consumed;
			if (st == MIG_DECODE_FRAME)
				return 1;
			if (st == MIG_DECODE_ERROR)
				return -3;
		}
		if (SSL_pending(c->ssl) == 0) {
			left = (int)(deadline > mono_ms() ? deadline - mono_ms() : 0);
			pfd.fd = c->fd;
			pfd.events = POLLIN;
			if ((rc = poll(&pfd, 1, left)) == 0 || (rc < 0 && errno == EINTR))
				return -1;
			if (rc < 0)
				return -2;
		}
		n = SSL_read(c->ssl, c->buf, sizeof(c->buf));
		if (n <= 0) {
			rc = SSL_get_error(c->ssl, n);
			if (rc == SSL_ERROR_WANT_READ)
				continue;
			if (rc == SSL_ERROR_ZERO_RETURN ||
			    (rc == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
				return 0;
			snprintf(last_message, sizeof(last_message), "%s",
			    ERR_reason_error_string(ERR_peek_last_error())
				? ERR_reason_error_string(ERR_peek_last_error())
				: "TLS failure");
			ERR_clear_error();
			/* An alert after the handshake is how TLS 1.3 refuses a
			 * client certificate; a reset is an abrupt close. */
			return rc == SSL_ERROR_SSL ? -2 : 0;
		}
		c->off = 0;
		c->len = (size_t)n;
	}
}

static void
pt_record_error(const struct mig_frame *f)
{
	snprintf(last_message, sizeof(last_message), "%.*s", (int)f->u.error.message.len,
	    f->u.error.message.ptr);
}

/*
 * Wait for the peer's verdict: the first frame that is not a KEEPALIVE,
 * or the end. Returns the frame type (with *f set) or 0 for an outcome
 * already printed by finish().
 */
static int
pt_await(struct pt_conn *c, struct mig_frame *f, int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	int rc, err = 0, left;

	for (;;) {
		left = (int)(deadline > mono_ms() ? deadline - mono_ms() : 0);
		rc = pt_next_frame(c, f, left, &err);
		if (rc == 1 && f->hdr.type == MIG_FRAME_KEEPALIVE)
			continue;
		if (rc == 1 && f->hdr.type == MIG_FRAME_ERROR) {
			pt_record_error(f);
			note("ERROR %" PRIu32 " from the peer", f->u.error.code);
			finish(mig_err_name((int)f->u.error.code));
		}
		if (rc == 1)
			return f->hdr.type;
		if (rc == 0)
			finish("closed");
		if (rc == -1)
			finish("no-answer");
		if (rc == -3) {
			snprintf(last_message, sizeof(last_message), "the peer sent an undecodable frame: %s",
			    mig_err_name(err));
			finish("undecodable");
		}
		finish("tls-refused");
	}
}

/* Read until the peer closes or ms pass, whatever it sends: lets it read
 * our last frame before the connection goes. */
static void
pt_drain(struct pt_conn *c, int ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)ms;
	struct mig_frame f;
	int err, left;

	for (;;) {
		left = (int)(deadline > mono_ms() ? deadline - mono_ms() : 0);
		if (left == 0 || pt_next_frame(c, &f, left, &err) != 1)
			return;
	}
}

/* --- frames --- */

static void
pt_send_hello(struct pt_conn *c)
{
	uint8_t buf[MIG_FRAME_HEADER_LEN + 64 + MIG_TOKEN_MAX + MIG_NAME_MAX + MIG_IDENTITY_MAX +
	    MIG_COMPAT_MAX];
	struct mig_hello h;
	size_t n;

	if (opt.token == NULL || opt.device == NULL || opt.identity == NULL || opt.compat == NULL)
		die("this action sends a HELLO: --token, --device, --identity and --compat are needed");
	memset(&h, 0, sizeof(h));
	h.version_min = (uint16_t)opt.version_min;
	h.version_max = (uint16_t)opt.version_max;
	RAND_bytes(h.migration_id, sizeof(h.migration_id));
	h.token.ptr = opt.token;
	h.token.len = (uint16_t)strlen(opt.token);
	h.device.ptr = opt.device;
	h.device.len = (uint16_t)strlen(opt.device);
	h.identity.ptr = opt.identity;
	h.identity.len = (uint16_t)strlen(opt.identity);
	h.compat.ptr = opt.compat;
	h.compat.len = (uint16_t)strlen(opt.compat);
	h.capabilities = opt.caps;
	h.channel = 0;
	h.channels = 1;
	if ((n = mig_encode_hello(buf, sizeof(buf), &h)) == 0)
		die("cannot encode this HELLO (a field is out of range)");
	pt_send(c, buf, n);
}

static void
pt_send_data(struct pt_conn *c, uint64_t seq, uint8_t phase, uint8_t flags, const void *payload,
    uint32_t len)
{
	uint8_t prefix[MIG_DATA_PREFIX_LEN];

	if (mig_encode_data_prefix(prefix, seq, phase, flags, len) == 0)
		die("cannot encode DATA");
	pt_send(c, prefix, sizeof(prefix));
	if (len > 0)
		pt_send(c, payload, len);
}

static void
pt_send_error(struct pt_conn *c, int code, const char *msg)
{
	uint8_t buf[MIG_FRAME_HEADER_LEN + 6 + MIG_ERROR_MSG_MAX];
	size_t n = mig_encode_error(buf, sizeof(buf), (uint32_t)code, msg);

	pt_send(c, buf, n);
	note("sent ERROR %s", mig_err_name(code));
}

/* A header whose fields are whatever the action wants. */
static void
pt_send_raw_header(struct pt_conn *c, uint8_t version, uint8_t type, uint16_t flags,
    uint32_t length)
{
	uint8_t h[MIG_FRAME_HEADER_LEN];

	mig_frame_header_encode(h, type, length);
	h[4] = version;
	h[6] = (uint8_t)(flags >> 8);
	h[7] = (uint8_t)flags;
	pt_send(c, h, sizeof(h));
}

/* "size=N,section=N,guest=N": our own device must match the destination's. */
static uint64_t
compat_field(const char *compat, const char *key)
{
	const char *p = compat;
	size_t klen = strlen(key);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=')
			return strtoull(p + klen + 1, NULL, 10);
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
	return 0;
}

/*
 * Stream our own software device's whole state as DATA frames: a real
 * stream that the destination's device accepts, then END (right or wrong,
 * as asked). Returns after END (or the ERROR that replaces it).
 */
static void
pt_stream(struct pt_conn *c, enum pt_stream_end how)
{
	struct sim_v1_config sc;
	struct sim_v1 *sim;
	struct v1_dev v1;
	uint8_t buf[MIG_FRAME_HEADER_LEN + 64], digest[MIG_END_DIGEST_LEN];
	uint8_t *chunk = malloc(opt.chunk);
	uint64_t size, off, seq = 0, total_bytes = 0, total_chunks = 0, records = 0;
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	unsigned int dlen = 0;
	struct mig_end e;
	uint32_t len;
	int rc;

	if (opt.image == NULL || opt.compat == NULL)
		die("a data stream needs --image FILE and the destination's --compat");
	memset(&sc, 0, sizeof(sc));
	sc.name = "peer_tool";
	sc.image = opt.image;
	sc.size = compat_field(opt.compat, "size");
	sc.section_size = (uint32_t)compat_field(opt.compat, "section");
	sc.seed = opt.seed;
	if (compat_field(opt.compat, "guest") != 0)
		die("streams from a device with guest memory are not implemented");
	if ((rc = sim_v1_open(&sc, &sim)) != 0)
		die("cannot open a software device on %s: %s", opt.image, strerror(-rc));
	if ((rc = v1_attach(&v1, sim_v1_region(sim), "peer_tool")) != 0 ||
	    (rc = v1_start_stopcopy(&v1)) != 0)
		die("software device: %s", strerror(-rc));
	EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
	for (;;) {
		if ((rc = v1_save_next(&v1, &size)) != 0)
			die("software device: next record: %s", strerror(-rc));
		if (size == 0)
			break;
		for (off = 0; off < size; off += len) {
			len = size - off > opt.chunk ? opt.chunk : (uint32_t)(size - off);
			if ((rc = v1_save_read(&v1, off, chunk, len)) != 0)
				die("software device: reading a record: %s", strerror(-rc));
			pt_send_data(c, seq++, records == 0 ? MIG_PHASE_PRECOPY : MIG_PHASE_STOPCOPY,
			    off + len == size ? MIG_DATA_END_OF_RECORD : 0, chunk, len);
			EVP_DigestUpdate(sha, chunk, len);
			total_bytes += len;
			total_chunks++;
			if (how == PT_END_MID_RECORD && off + len < size)
				goto end;
		}
		records++;
		if (how == PT_END_ERROR_AFTER_RECORDS && records == (uint64_t)opt.count) {
			note("sent %" PRIu64 " records (%" PRIu64 " bytes) of a real stream", records,
			    total_bytes);
			pt_send_error(c, opt.error_code, "peer_tool: giving up in the middle of the stream");
			goto out;
		}
	}
end:
	EVP_DigestFinal_ex(sha, digest, &dlen);
	memset(&e, 0, sizeof(e));
	e.total_bytes = total_bytes + (how == PT_END_BAD_LENGTH);
	e.total_chunks = total_chunks;
	e.total_pages = 0;
	memcpy(e.digest, digest, sizeof(digest));
	if (how == PT_END_BAD_DIGEST)
		e.digest[0] ^= 0x01;
	pt_send(c, buf, mig_encode_end(buf, sizeof(buf), &e));
	note("sent %" PRIu64 " bytes in %" PRIu64 " chunks (%" PRIu64 " records), then END%s",
	    total_bytes, total_chunks, records,
	    how == PT_END_BAD_DIGEST ? " with a wrong SHA-256" :
	    how == PT_END_BAD_LENGTH ? " announcing one byte more" :
	    how == PT_END_MID_RECORD ? " in the middle of a record" : "");
out:
	EVP_MD_CTX_free(sha);
	free(chunk);
	sim_v1_close(sim);
}

/* --- the source side: connect and misbehave --- */

static int
pt_tcp_connect(const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints, *res;
	int fd;

	if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host))
		die("--connect wants HOST:PORT");
	snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		die("cannot resolve %s", hostport);
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) != 0)
		die("connect %s: %s", hostport, strerror(errno));
	freeaddrinfo(res);
	return fd;
}

static int
action_is(const char *name)
{
	return strcmp(opt.action, name) == 0;
}

/* Actions whose bad bytes come right after TLS, with no HELLO. */
static int
pt_before_hello(struct pt_conn *c)
{
	uint8_t junk[4096], buf[MIG_FRAME_HEADER_LEN + 64];
	struct mig_data d;

	if (action_is("idle"))
		return 1;
	if (action_is("keepalive-loris")) {
		/* Alive but never saying HELLO: only the handshake deadline
		 * can end this. */
		uint64_t nonce = 0;
		struct mig_frame f;
		int err, rc;

		for (;;) {
			pt_send(c, buf, mig_encode_keepalive(buf, sizeof(buf), ++nonce));
			rc = pt_next_frame(c, &f, 200, &err);
			if (rc == 1 && f.hdr.type == MIG_FRAME_ERROR) {
				pt_record_error(&f);
				finish(mig_err_name((int)f.u.error.code));
			}
			if (rc == 0)
				finish("closed");
			if (mono_ms() - t0_ms > (uint64_t)opt.timeout_ms)
				finish("no-answer");
		}
	}
	if (action_is("data-first")) {
		memset(&d, 0, sizeof(d));
		d.phase = MIG_PHASE_PRECOPY;
		d.payload = (const uint8_t *)"0123456789abcdef";
		d.payload_len = 16;
		pt_send(c, buf, mig_encode_data(buf, sizeof(buf), &d));
		return 1;
	}
	if (action_is("random-first")) {
		RAND_bytes(junk, sizeof(junk));
		junk[0] = junk[0] == 'V' ? 'X' : junk[0];
		pt_send(c, junk, sizeof(junk));
		return 1;
	}
	return 0;
}

/*
 * Packed DATA (PROTOCOL.md §1) that lies about its length: packed-bomb is a
 * zstd frame of 4 MiB of zeros that does not say its size (a few hundred
 * bytes), announced as 64 KiB; packed-short one of 1000 bytes that says so, announced as 4096;
 * packed-zero a zero run, which is honest (refused without the capability).
 */
static void
pt_send_packed(struct pt_conn *c)
{
	size_t cap = ZSTD_compressBound(4u << 20), n = 0, raw = 0;
	uint8_t *src = calloc(1, 4u << 20), *out = malloc(MIG_DATA_RAW_LEN + cap);
	ZSTD_CCtx *z = ZSTD_createCCtx();
	uint8_t flags = MIG_DATA_ZSTD;

	if (src == NULL || out == NULL || z == NULL)
		die("no memory");
	if (action_is("packed-bomb")) {
		/* The frame does not say its size: only decompressing finds out. */
		ZSTD_CCtx_setParameter(z, ZSTD_c_contentSizeFlag, 0);
		n = ZSTD_compress2(z, out + MIG_DATA_RAW_LEN, cap, src, 4u << 20);
		if (ZSTD_isError(n))
			die("zstd");
		raw = 65536;
	} else if (action_is("packed-short")) {
		n = ZSTD_compress2(z, out + MIG_DATA_RAW_LEN, cap, src, 1000);
		if (ZSTD_isError(n))
			die("zstd");
		raw = 4096;
	} else {
		flags = MIG_DATA_ZERO;
		raw = 4096;
	}
	mig_data_packed_encode_len(out, (uint32_t)raw);
	pt_send_data(c, 0, MIG_PHASE_PRECOPY, flags | MIG_DATA_END_OF_RECORD, out,
	    (uint32_t)(MIG_DATA_RAW_LEN + n));
	note("packed DATA: %zu bytes of frame announced as %zu", n, raw);
	ZSTD_freeCCtx(z);
	free(src);
	free(out);
}

/* Actions after an accepted HELLO. */
static void
pt_after_hello(struct pt_conn *c)
{
	uint8_t junk[4096], buf[MIG_DATA_PREFIX_LEN + 64];
	struct mig_frame f;
	struct mig_commit cm = {0, 0};
	struct mig_ack ack;

	if (action_is("hello"))
		finish("hello-ack");
	if (action_is("idle-after-hello")) {
		/* Say nothing at all, not even KEEPALIVE: the peer's timeout. */
		pt_await(c, &f, opt.timeout_ms);
		finish("unexpected-answer");
	}
	if (action_is("random")) {
		RAND_bytes(junk, sizeof(junk));
		junk[0] = junk[0] == 'V' ? 'X' : junk[0];
		pt_send(c, junk, sizeof(junk));
	} else if (action_is("oversized"))
		pt_send_raw_header(c, MIG_PROTO_VERSION, MIG_FRAME_DATA, 0, 0xffffffffu);
	else if (action_is("bad-version"))
		pt_send_raw_header(c, 2, MIG_FRAME_DATA, 0, 12);
	else if (action_is("unknown-type"))
		pt_send_raw_header(c, MIG_PROTO_VERSION, 42, 0, 8);
	else if (action_is("header-flags"))
		pt_send_raw_header(c, MIG_PROTO_VERSION, MIG_FRAME_KEEPALIVE, 0x8000, 8);
	else if (action_is("malformed")) {
		/* A DATA frame whose reserved field is not 0. */
		mig_encode_data_prefix(buf, 0, MIG_PHASE_PRECOPY, 0, 16);
		buf[MIG_FRAME_HEADER_LEN + 11] = 1;
		memset(buf + MIG_DATA_PREFIX_LEN, 0x5a, 16);
		pt_send(c, buf, MIG_DATA_PREFIX_LEN + 16);
	} else if (action_is("seq")) {
		memset(junk, 0x5a, 16);
		pt_send_data(c, 5, MIG_PHASE_PRECOPY, 0, junk, 16);
	} else if (action_is("hello2"))
		pt_send_hello(c);
	else if (action_is("commit"))
		pt_send(c, buf, mig_encode_commit(buf, sizeof(buf), &cm));
	else if (action_is("ack")) {
		ack.value = 0;
		pt_send(c, buf, mig_encode_ack(buf, sizeof(buf), &ack));
	} else if (action_is("garbage-record")) {
		/* One whole record of noise: the device must refuse to apply it. */
		RAND_bytes(junk, sizeof(junk));
		pt_send_data(c, 0, MIG_PHASE_PRECOPY, MIG_DATA_END_OF_RECORD, junk, sizeof(junk));
	} else if (action_is("packed-bomb") || action_is("packed-short") ||
	    action_is("packed-zero"))
		pt_send_packed(c);
	else if (action_is("bad-digest"))
		pt_stream(c, PT_END_BAD_DIGEST);
	else if (action_is("bad-length"))
		pt_stream(c, PT_END_BAD_LENGTH);
	else if (action_is("partial-end"))
		pt_stream(c, PT_END_MID_RECORD);
	else if (action_is("error-after-records")) {
		pt_stream(c, PT_END_ERROR_AFTER_RECORDS);
		/* Closing with unread bytes would send RST, which may drop the
		 * ERROR before the peer reads it: let the peer close first. */
		pt_drain(c, 2000);
		finish("sent-error");
	} else if (action_is("stream") || action_is("error-after-commit")) {
		pt_stream(c, PT_END_GOOD);
		if (pt_await(c, &f, opt.timeout_ms) != MIG_FRAME_COMMIT) {
			snprintf(last_message, sizeof(last_message), "%s instead of COMMIT",
			    mig_frame_type_name(f.hdr.type));
			finish("unexpected-answer");
		}
		note("COMMIT: the destination verified %" PRIu64 " bytes, resumed in %u ms",
		    f.u.commit.bytes_received, f.u.commit.resume_ms);
		if (action_is("stream")) {
			ack.value = f.u.commit.bytes_received;
			pt_send(c, buf, mig_encode_ack(buf, sizeof(buf), &ack));
		} else
			pt_send_error(c, opt.error_code, "peer_tool: refusing to acknowledge COMMIT");
		pt_drain(c, 2000);
		finish("commit");
	} else
		usage();
	pt_await(c, &f, opt.timeout_ms);
	snprintf(last_message, sizeof(last_message), "%s frame", mig_frame_type_name(f.hdr.type));
	finish("unexpected-answer");
}

static void
run_source(SSL_CTX *ctx)
{
	struct pt_conn c;
	struct mig_frame f;

	memset(&c, 0, sizeof(c));
	mig_decoder_init(&c.dec);
	c.fd = pt_tcp_connect(opt.connect);
	c.ssl = SSL_new(ctx);
	SSL_set_fd(c.ssl, c.fd);
	if (SSL_connect(c.ssl) != 1) {
		snprintf(last_message, sizeof(last_message), "%s",
		    ERR_reason_error_string(ERR_peek_last_error()) ? ERR_reason_error_string(ERR_peek_last_error()) : "handshake failed");
		finish("tls-refused");
	}
	note("TLS %s up with %s", SSL_get_version(c.ssl), opt.connect);
	if (!pt_before_hello(&c)) {
		pt_send_hello(&c);
		if (pt_await(&c, &f, opt.timeout_ms) != MIG_FRAME_HELLO_ACK) {
			snprintf(last_message, sizeof(last_message), "%s instead of HELLO_ACK",
			    mig_frame_type_name(f.hdr.type));
			finish("unexpected-answer");
		}
		note("HELLO_ACK: version %u, capabilities %#" PRIx64, f.u.hello_ack.version,
		    f.u.hello_ack.capabilities);
		pt_after_hello(&c);
	}
	pt_await(&c, &f, opt.timeout_ms);
	snprintf(last_message, sizeof(last_message), "%s frame", mig_frame_type_name(f.hdr.type));
	finish("unexpected-answer");
}

/* --- the destination side: accept one source and answer as scripted --- */

/* Port 0: the kernel picks one; the log line names the port bound. */
static int
pt_listen(const char *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(port));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 4) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		die("listen on 127.0.0.1:%s: %s", port, strerror(errno));
	note("listening on 127.0.0.1:%u", ntohs(sin.sin_port));
	return fd;
}

static void
pt_send_hello_ack(struct pt_conn *c, const struct mig_hello *h)
{
	uint8_t buf[MIG_FRAME_HEADER_LEN + 64 + MIG_IDENTITY_MAX];
	struct mig_hello_ack a;

	memset(&a, 0, sizeof(a));
	a.version = MIG_PROTO_VERSION;
	memcpy(a.migration_id, h->migration_id, MIG_UUID_LEN);
	/* ack-on-signal agrees to acknowledge the switchover, nothing else. */
	a.capabilities = action_is("ack-on-signal") ? h->capabilities & MIG_CAP_SWITCHOVER_ACK : 0;
	/* --caps: agree to exactly these, offered or not (a broken peer). */
	if (opt.caps_set)
		a.capabilities = opt.caps;
	a.identity = h->identity;
	pt_send(c, buf, mig_encode_hello_ack(buf, sizeof(buf), &a));
}

/* SIGUSR1: the test says "now" (error-on-signal). */
static volatile sig_atomic_t signalled;

static void
pt_on_signal(int sig)
{
	(void)sig;
	signalled = 1;
}

/* Answer the way the action says once the moment comes; until then take
 * every frame and, unless silent, keep the source's timer happy. */
static void
run_destination(SSL_CTX *ctx)
{
	struct pt_conn c;
	struct mig_frame f;
	struct pollfd pfd;
	uint8_t ka[MIG_FRAME_HEADER_LEN + 8];
	uint64_t last_ka, nonce = 0, start, initial_seq = 0;
	int lfd, rc, ndata = 0, err, silent = action_is("silent"), initial_seen = 0, acked = 0;

	memset(&c, 0, sizeof(c));
	mig_decoder_init(&c.dec);
	lfd = pt_listen(opt.listen);
	pfd.fd = lfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, opt.timeout_ms) != 1)
		finish("no-answer");
	if ((c.fd = accept(lfd, NULL, NULL)) < 0)
		die("accept: %s", strerror(errno));
	close(lfd);
	c.ssl = SSL_new(ctx);
	SSL_set_fd(c.ssl, c.fd);
	if (SSL_accept(c.ssl) != 1) {
		snprintf(last_message, sizeof(last_message), "%s",
		    ERR_reason_error_string(ERR_peek_last_error()) ? ERR_reason_error_string(ERR_peek_last_error()) : "handshake failed");
		finish("tls-refused");
	}
	note("TLS %s up with a source", SSL_get_version(c.ssl));
	if (pt_next_frame(&c, &f, opt.timeout_ms, &err) != 1 || f.hdr.type != MIG_FRAME_HELLO)
		finish("no-hello");
	note("HELLO for device %.*s, identity %.*s", (int)f.u.hello.device.len,
	    f.u.hello.device.ptr, (int)f.u.hello.identity.len, f.u.hello.identity.ptr);
	if (action_is("error-on-hello")) {
		pt_send_error(&c, opt.error_code, "peer_tool: refusing this HELLO");
		pt_drain(&c, 2000);
		finish("hello");
	}
	pt_send_hello_ack(&c, &f.u.hello);
	start = last_ka = mono_ms();
	for (;;) {
		if (signalled && action_is("ack-on-signal") && initial_seen && !acked) {
			uint8_t sa[MIG_FRAME_HEADER_LEN + 8];

			pt_send(&c, sa, mig_encode_switchover_ack(sa, sizeof(sa), initial_seq));
			note("SWITCHOVER_ACK sent for DATA %" PRIu64, initial_seq);
			acked = 1;
		}
		if (signalled && action_is("error-on-signal")) {
			note("signalled after %d data frames", ndata);
			pt_send_error(&c, opt.error_code, "peer_tool: refusing, as told by a signal");
			pt_drain(&c, 2000);
			finish("signalled");
		}
		if (!silent && mono_ms() - last_ka >= 250) {
			pt_send(&c, ka, mig_encode_keepalive(ka, sizeof(ka), ++nonce));
			last_ka = mono_ms();
		}
		if (mono_ms() - start > (uint64_t)opt.timeout_ms)
			finish("no-answer");
		err = 0;
		rc = pt_next_frame(&c, &f, 100, &err);
		if (rc == -1)
			continue;
		if (rc == 0)
			finish("closed");
		if (rc == -3) {
			snprintf(last_message, sizeof(last_message), "undecodable frame: %s",
			    mig_err_name(err));
			finish("undecodable");
		}
		if (rc < 0)
			finish("tls-refused");
		if (f.hdr.type == MIG_FRAME_ERROR) {
			pt_record_error(&f);
			finish(mig_err_name((int)f.u.error.code));
		}
		if (f.hdr.type == MIG_FRAME_DATA || f.hdr.type == MIG_FRAME_BITMAP)
			ndata++;
		if (f.hdr.type == MIG_FRAME_DATA && (f.u.data.flags & MIG_DATA_INITIAL_DONE)) {
			initial_seen = 1;
			initial_seq = f.u.data.seq;
			note("INITIAL_DONE on DATA %" PRIu64 "; no SWITCHOVER_ACK until a signal",
			    initial_seq);
		}
		if (action_is("error-on-data") && ndata >= opt.count) {
			pt_send_error(&c, opt.error_code, "peer_tool: refusing the data");
			pt_drain(&c, 2000);
			finish("data");
		}
		if (f.hdr.type == MIG_FRAME_END) {
			note("END after %d data frames", ndata);
			if (action_is("error-on-end"))
				pt_send_error(&c, opt.error_code, "peer_tool: refusing END");
			pt_drain(&c, 2000);
			finish("end");
		}
	}
}

static int
parse_error_code(const char *name)
{
	char *end;
	long v = strtol(name, &end, 10);

	if (*end == '\0' && end != name)
		return (int)v; /* a number, possibly one no daemon knows */
	if (strcmp(mig_err_name(mig_err_from_name(name)), name) != 0)
		die("--error-code: no error named %s", name);
	return mig_err_from_name(name);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"connect", required_argument, NULL, 'C'},
		{"listen", required_argument, NULL, 'L'},
		{"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},
		{"ca", required_argument, NULL, 'a'},
		{"token", required_argument, NULL, 't'},
		{"device", required_argument, NULL, 'd'},
		{"identity", required_argument, NULL, 'i'},
		{"compat", required_argument, NULL, 'p'},
		{"caps", required_argument, NULL, 'P'},
		{"action", required_argument, NULL, 'A'},
		{"error-code", required_argument, NULL, 'E'},
		{"count", required_argument, NULL, 'n'},
		{"image", required_argument, NULL, 'I'},
		{"seed", required_argument, NULL, 's'},
		{"chunk", required_argument, NULL, 'K'},
		{"version-range", required_argument, NULL, 'V'},
		{"timeout-ms", required_argument, NULL, 'T'},
		{"expect", required_argument, NULL, 'x'},
		{NULL, 0, NULL, 0},
	};
	struct sigaction sa;
	char err[512];
	SSL_CTX *ctx;
	int ch;

	opt.error_code = MIG_E_INTERNAL;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'C': opt.connect = optarg; break;
		case 'L': opt.listen = optarg; break;
		case 'c': opt.cert = optarg; break;
		case 'k': opt.key = optarg; break;
		case 'a': opt.ca = optarg; break;
		case 't': opt.token = optarg; break;
		case 'd': opt.device = optarg; break;
		case 'i': opt.identity = optarg; break;
		case 'p': opt.compat = optarg; break;
		case 'P':
			opt.caps = strtoull(optarg, NULL, 0);
			opt.caps_set = 1;
			break;
		case 'A': opt.action = optarg; break;
		case 'E': opt.error_code = parse_error_code(optarg); break;
		case 'n': opt.count = atoi(optarg); break;
		case 'I': opt.image = optarg; break;
		case 's': opt.seed = strtoull(optarg, NULL, 0); break;
		case 'K': opt.chunk = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'V':
			if (sscanf(optarg, "%d:%d", &opt.version_min, &opt.version_max) != 2)
				usage();
			break;
		case 'T': opt.timeout_ms = atoi(optarg); break;
		case 'x': opt.expect = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || (opt.connect == NULL) == (opt.listen == NULL) || opt.cert == NULL ||
	    opt.key == NULL || opt.ca == NULL || opt.chunk == 0 || opt.chunk > MIG_MAX_CHUNK ||
	    opt.count < 1)
		usage();
	if (opt.action == NULL)
		opt.action = opt.connect != NULL ? "hello" : "error-on-hello";
	t0_ms = mono_ms();
	/* A hard limit of its own, so a test never waits on a stuck tool (and
	 * needs no timeout(1) in front of it, which would take its signals). */
	alarm((unsigned)(opt.timeout_ms / 1000) + 10);
	setvbuf(stderr, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pt_on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	log_init("peer_tool", LOG_LEVEL_WARNING);
	if ((ctx = mig_tls_ctx_new(opt.listen != NULL, opt.ca, opt.cert, opt.key, err,
		 sizeof(err))) == NULL)
		die("%s", err);
	if (opt.connect != NULL)
		run_source(ctx);
	else
		run_destination(ctx);
	return 0;
}
