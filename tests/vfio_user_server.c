/*
 * vfio_user_server.c: a vfio-user device server for the tests, written from
 * the protocol text (QEMU docs/interop/vfio-user.rst), with wire definitions
 * of its own: it never includes the daemon's client header, so two readings
 * of the text meet on the socket and a layout mistake shows as a failure.
 *
 *   vfio-user-server --socket PATH [--size BYTES] [--seed N]
 *       [--workload BYTES_PER_S] [--initial BYTES] [--max-msg BYTES]
 *       [--max-data-xfer BYTES] [--dump-on-stop FILE]
 *       [--dump-on-resume FILE] [--fault KIND[@WHERE]] [--log FILE]
 *       [--dma-log FILE]
 *
 * It listens on PATH (removed and re-created), prints "ready" on stdout once
 * listening, and serves one client at a time one PCI device with the v2
 * migration FSM (STOP, RUNNING, STOP_COPY, RESUMING, PRE_COPY; no P2P; arcs
 * checked by daemon/devices/v2_fsm.c). The device state is --size bytes
 * (a multiple of 4096, default 4 MiB) made from --seed; while RUNNING or
 * PRE_COPY a thread rewrites --workload bytes/s of it (256-byte writes into
 * pseudo-random pages).
 *
 * Strict like libvfio-user: the header of a message is read with one recv()
 * of 16 bytes and its body with one recv(); a body (or header) that has not
 * fully arrived then is a "short read": logged ("short read: ...") and the
 * connection dropped. A message above --max-msg (default max-data-xfer + 4
 * KiB) is answered E2BIG and the connection dropped (its body cannot be
 * skipped without reading it).
 *
 * Messages served: VERSION (0.1; the client's JSON parsed strictly: an
 * object, "capabilities" an object, known keys with their types and
 * ranges; the reply names max_msg_fds and max_data_xfer_size, and migration
 * {pgsize, max_bitmap_size} when proposed), DEVICE_GET_INFO (PCI, reset, 9
 * regions, 5 IRQ types), DEVICE_GET_REGION_INFO (BAR0 4 KiB and config 256
 * bytes, read/write, no mmap; the others empty), DEVICE_RESET (to RUNNING),
 * DEVICE_FEATURE: MIGRATION (GET: STOP_COPY | PRE_COPY), MIG_DEVICE_STATE
 * (GET, SET of one arc), DMA_LOGGING_START/STOP (SET) and _REPORT (GET) over
 * any IOVA ranges the client names (the workload "DMA-writes" a page of
 * one of them each time it writes the state, while logging; --dma-log FILE
 * appends the IOVA of each page so written, in decimal, one a line, so a
 * test knows what the log must report), the kernel's MIG_DATA_SIZE
 * (index 9, GET: stop_copy_length) and an extension of ours, PRECOPY_INFO
 * (index 0xff01, GET in PRE_COPY: u64 initial_bytes, u64 dirty_bytes), every
 * feature probe-able; MIG_DATA_READ (in PRE_COPY and STOP_COPY) and
 * MIG_DATA_WRITE (in RESUMING). Anything else, a wrong arc, a size above the
 * negotiated max_data_xfer_size (E2BIG), a field that must be zero and is
 * not: an error reply with an errno (EINVAL, ENOTTY for an unknown feature,
 * ENOTSUP for a command it does not serve).
 *
 * The migration data (ours): records of a 32-byte header (u32 magic
 * "VUSR", u32 kind 1 page / 2 end, u64 page index, u32 payload length, u32
 * zero, u64 XXH3-64 of the payload) and a payload: a 4 KiB page, or for the
 * end record the state size and the XXH3-64 of the whole state. Entering
 * PRE_COPY (or STOP_COPY from STOP) marks every page to send: the first
 * --initial bytes (default: all) as initial data, the rest as dirty; pages
 * the workload writes become dirty again. initial_bytes and dirty_bytes
 * count the record bytes still to read. STOP_COPY ends with the end record;
 * a read that returns less than asked means "nothing now" in PRE_COPY and
 * "the end" in STOP_COPY. The resuming side zeroes its state on entering
 * RESUMING, refuses a bad record header or payload hash at once (the WRITE
 * fails with EINVAL) and an incomplete stream or a whole-state hash that
 * differs at RESUMING -> STOP (the SET fails with EINVAL, state ERROR).
 *
 * --dump-on-stop FILE: the state when the device reaches STOP from
 * STOP_COPY (what the source sent); --dump-on-resume FILE: the state when it
 * leaves RESUMING for STOP (what the destination loaded). Both written to
 * FILE.tmp and renamed, so a file that exists is whole.
 *
 * --fault KIND[@WHERE] (once, at the first message that matches WHERE):
 *   WHERE  version          the VERSION reply
 *          get-info         the DEVICE_GET_INFO reply
 *          pre-copy | stop-copy | resuming
 *                           the first MIG_DATA_READ/WRITE in that state
 *          to-STATE         the SET of MIG_DEVICE_STATE to STATE (stop,
 *                           running, stop-copy, resuming, pre-copy)
 *          (none)           the first MIG_DATA_READ/WRITE in any state
 *   KIND   kill             SIGKILL itself instead of replying (after the
 *                           state change for to-STATE, before the data
 *                           message's work otherwise)
 *          error-reply      the error flag with EIO, nothing done
 *          bad-msg-id       the reply carries another message id
 *          bad-command      the reply names another command
 *          short-reply      the reply's payload cut to half (its header
 *                           saying so); a reply without payload is cut to 8
 *                           bytes of header and the connection closed
 *          oversized-reply  4096 bytes more payload than the command's
 *                           reply has (its header saying so)
 *          huge-reply       a header that announces a 1 GiB reply
 *          stall            half the reply sent, then silence (the
 *                           connection stays open) until killed
 *          hang-up          half the reply sent, then the connection closed
 *          corrupt          one byte of the migration data flipped (a
 *                           MIG_DATA_READ reply): the resuming side refuses
 *
 * Everything it does is a line in --log (default stderr). A test tool: one
 * client at a time, blocking I/O on the connection, one lock for the state.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "v2_fsm.h"

/* The wire, as the protocol text lays it out (host endianness). */
#define VU_HDR_SIZE 16
#define VU_CMD_VERSION 1
#define VU_CMD_DMA_MAP 2
#define VU_CMD_DMA_UNMAP 3
#define VU_CMD_DEVICE_GET_INFO 4
#define VU_CMD_DEVICE_GET_REGION_INFO 5
#define VU_CMD_DMA_READ 11
#define VU_CMD_DEVICE_RESET 13
#define VU_CMD_DEVICE_FEATURE 16
#define VU_CMD_MIG_DATA_READ 17
#define VU_CMD_MIG_DATA_WRITE 18
#define VU_FLAGS_TYPE_MASK 0xfu
#define VU_TYPE_COMMAND 0u
#define VU_TYPE_REPLY 1u
#define VU_FLAG_NO_REPLY (1u << 4)
#define VU_FLAG_ERROR (1u << 5)

#define VU_VERSION_MAJOR 0
#define VU_VERSION_MINOR 1
#define VU_DEFAULT_DATA_XFER (1u << 20)

/* DEVICE_GET_INFO and REGION_INFO. */
#define VU_DEVICE_FLAGS_RESET (1u << 0)
#define VU_DEVICE_FLAGS_PCI (1u << 1)
#define VU_PCI_NUM_REGIONS 9
#define VU_PCI_NUM_IRQS 5
#define VU_PCI_BAR0_INDEX 0
#define VU_PCI_CONFIG_INDEX 7
#define VU_REGION_FLAG_READ (1u << 0)
#define VU_REGION_FLAG_WRITE (1u << 1)
#define VU_DEVICE_INFO_SIZE 16
#define VU_REGION_INFO_SIZE 32

/* DEVICE_FEATURE: argsz u32, flags u32, data. */
#define VU_FEATURE_MASK 0xffffu
#define VU_FEATURE_GET (1u << 16)
#define VU_FEATURE_SET (1u << 17)
#define VU_FEATURE_PROBE (1u << 18)
#define VU_FEAT_MIGRATION 1
#define VU_FEAT_MIG_DEVICE_STATE 2
#define VU_FEAT_DMA_LOGGING_START 6
#define VU_FEAT_DMA_LOGGING_STOP 7
#define VU_FEAT_DMA_LOGGING_REPORT 8
#define VU_FEAT_MIG_DATA_SIZE 9	    /* the kernel's index; not in the text */
#define VU_FEAT_PRECOPY_INFO 0xff01 /* ours */

/* Our migration data. */
#define PAGE 4096u
#define REC_MAGIC 0x52535556u /* "VUSR" */
#define REC_HDR 32u
#define REC_PAGE 1u
#define REC_END 2u
#define REC_END_LEN 16u
#define REC_MAX (REC_HDR + PAGE)

#define LOG_MAX_RANGES 16
#define LOG_MAX_PAGES (1u << 24)

enum pend {
	PEND_NONE,
	PEND_INITIAL,
	PEND_DIRTY
};

enum fault_kind {
	FAULT_NONE,
	FAULT_KILL,
	FAULT_ERROR_REPLY,
	FAULT_BAD_MSG_ID,
	FAULT_BAD_COMMAND,
	FAULT_SHORT_REPLY,
	FAULT_OVERSIZED_REPLY,
	FAULT_HUGE_REPLY,
	FAULT_STALL,
	FAULT_HANG_UP,
	FAULT_CORRUPT
};

static const char *const fault_names[] = {"none", "kill", "error-reply", "bad-msg-id",
    "bad-command", "short-reply", "oversized-reply", "huge-reply", "stall", "hang-up", "corrupt"};

struct msg {
	uint16_t id, command;
	uint32_t size, flags;
	uint8_t *body;
	size_t len;
};

struct log_range {
	uint64_t iova, length;
	uint64_t *bits;
};

static struct server {
	/* Options. */
	const char *socket_path, *dump_stop, *dump_resume;
	FILE *dma_log; /* --dma-log: each page DMA-written while logging */
	uint64_t size, seed, workload, initial;
	uint32_t max_msg, max_xfer;
	enum fault_kind fault;
	char fault_where[32];
	FILE *log;
	/* Connection. */
	int negotiated;
	uint32_t xfer; /* effective max_data_xfer_size */
	/* Device, under lock. */
	pthread_mutex_t lock;
	uint8_t *mem;
	uint64_t npages, rng;
	uint32_t state;
	/* Saving session. */
	int saving, end_sent;
	uint8_t *pend;
	uint64_t n_initial, n_dirty, initial_cursor, dirty_cursor;
	uint8_t rec[REC_MAX];
	uint32_t rec_len, rec_off;
	enum pend rec_kind;
	/* Resuming session. */
	uint8_t in[REC_MAX];
	uint32_t in_len;
	int end_seen;
	/* A record was refused: the stream is lost until the session ends
	 * (the partial record in `in` says nothing about what follows). */
	int refused;
	/* DMA logging. */
	int logging;
	uint64_t log_page;
	struct log_range ranges[LOG_MAX_RANGES];
	uint32_t nranges;
} sv = {.size = 4u << 20,
    .seed = 1,
    .initial = UINT64_MAX,
    .max_xfer = VU_DEFAULT_DATA_XFER,
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .state = V2_STATE_RUNNING};

#define DEVICE_FLAGS ((uint64_t)(V2_MIG_STOP_COPY | V2_MIG_PRE_COPY))

static void __attribute__((format(printf, 1, 2))) logf_(const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(sv.log, "%ld.%03ld vfio-user-server[%d]: ", (long)ts.tv_sec, ts.tv_nsec / 1000000,
	    (int)getpid());
	va_start(ap, fmt);
	vfprintf(sv.log, fmt, ap);
	va_end(ap);
	fputc('\n', sv.log);
	fflush(sv.log);
}

static uint16_t
get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static uint32_t
get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void
put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void
put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void
put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
rng_fill(uint64_t *s, uint8_t *p, size_t n)
{
	uint64_t v;
	size_t i;

	for (i = 0; i < n; i += 8) {
		v = rng_next(s);
		memcpy(p + i, &v, n - i < 8 ? n - i : 8);
	}
}

/* ---- faults ---- */

/* Is the armed fault due at WHERE? data: a MIG_DATA message. Fires once. */
static enum fault_kind
fault_take(const char *where, int data)
{
	enum fault_kind k = sv.fault;

	if (k == FAULT_NONE)
		return FAULT_NONE;
	if (sv.fault_where[0] ? strcmp(sv.fault_where, where) != 0 : !data)
		return FAULT_NONE;
	sv.fault = FAULT_NONE;
	logf_("fault %s at %s", fault_names[k], where);
	return k;
}

static void
stall_forever(void)
{
	logf_("stalling (the connection stays open)");
	for (;;)
		pause();
}

/* ---- sending ---- */

static int
send_all(int fd, struct iovec *iov, int n)
{
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
	ssize_t w;

	while (mh.msg_iovlen > 0) {
		w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			logf_("send: %s", strerror(errno));
			return -1;
		}
		while (mh.msg_iovlen > 0 && (size_t)w >= mh.msg_iov->iov_len) {
			w -= (ssize_t)mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen > 0) {
			mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + w;
			mh.msg_iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static void
make_header(uint8_t *h, const struct msg *m, uint32_t size, uint32_t flags, uint32_t error)
{
	put16(h, m->id);
	put16(h + 2, m->command);
	put32(h + 4, size);
	put32(h + 8, flags);
	put32(h + 12, error);
}

/* Half a reply, then stall or hang up. Returns -1: the connection is done. */
static int
send_half(int fd, const uint8_t *h, const uint8_t *payload, size_t len, enum fault_kind k)
{
	struct iovec iov[2] = {{(void *)h, len > 0 ? VU_HDR_SIZE : VU_HDR_SIZE / 2},
	    {(void *)payload, len / 2}};

	send_all(fd, iov, len > 0 ? 2 : 1);
	if (k == FAULT_STALL)
		stall_forever();
	logf_("hanging up mid-reply");
	return -1;
}

/*
 * The reply to m, with the fault the message's WHERE armed applied.
 * Returns 0, or -1 when the connection is to be dropped.
 */
static int
send_reply(int fd, const struct msg *m, uint8_t *payload, size_t len, enum fault_kind k)
{
	static uint8_t extra[PAGE];
	uint8_t h[VU_HDR_SIZE];
	struct iovec iov[3] = {{h, VU_HDR_SIZE}, {payload, len}, {extra, 0}};
	struct msg r = *m;

	if (m->flags & VU_FLAG_NO_REPLY)
		return 0;
	switch (k) {
	case FAULT_KILL:
		logf_("killing myself");
		raise(SIGKILL);
		break;
	case FAULT_BAD_MSG_ID:
		r.id = (uint16_t)(m->id ^ 0x5a5a);
		break;
	case FAULT_BAD_COMMAND:
		r.command = m->command == VU_CMD_DMA_READ ? VU_CMD_DEVICE_RESET : VU_CMD_DMA_READ;
		break;
	case FAULT_SHORT_REPLY:
		if (len == 0) {
			make_header(h, &r, VU_HDR_SIZE, VU_TYPE_REPLY, 0);
			return send_half(fd, h, NULL, 0, FAULT_HANG_UP);
		}
		iov[1].iov_len = len /= 2;
		break;
	case FAULT_OVERSIZED_REPLY:
		iov[2].iov_len = sizeof(extra);
		break;
	case FAULT_CORRUPT:
		if (m->command == VU_CMD_MIG_DATA_READ && len > 8 + REC_HDR)
			payload[len - 1] ^= 0x80;
		break;
	default:
		break;
	}
	make_header(h, &r, (uint32_t)(VU_HDR_SIZE + len + iov[2].iov_len), VU_TYPE_REPLY, 0);
	if (k == FAULT_HUGE_REPLY)
		put32(h + 4, 1u << 30);
	if (k == FAULT_STALL || k == FAULT_HANG_UP)
		return send_half(fd, h, payload, len, k);
	return send_all(fd, iov, 3);
}

static int
send_error(int fd, const struct msg *m, int err, const char *why)
{
	uint8_t h[VU_HDR_SIZE];
	struct iovec iov = {h, VU_HDR_SIZE};

	logf_("error reply to command %u (id %u): %s (%s)", m->command, m->id, strerror(err), why);
	if (m->flags & VU_FLAG_NO_REPLY)
		return 0;
	make_header(h, m, VU_HDR_SIZE, VU_TYPE_REPLY | VU_FLAG_ERROR, (uint32_t)err);
	return send_all(fd, &iov, 1);
}

/* ---- receiving: one recv() for the header, one for the body ---- */

/* 1: a message; 0: the client closed; -1: drop the connection. */
static int
recv_message(int fd, struct msg *m)
{
	uint8_t h[VU_HDR_SIZE];
	ssize_t n;

	memset(m, 0, sizeof(*m));
	do
		n = recv(fd, h, sizeof(h), 0);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n < 0) {
		logf_("recv: %s", strerror(errno));
		return -1;
	}
	if (n < VU_HDR_SIZE) {
		logf_("short read: header %zd of %d bytes", n, VU_HDR_SIZE);
		return -1;
	}
	m->id = get16(h);
	m->command = get16(h + 2);
	m->size = get32(h + 4);
	m->flags = get32(h + 8);
	if ((m->flags & VU_FLAGS_TYPE_MASK) != VU_TYPE_COMMAND || m->size < VU_HDR_SIZE) {
		logf_("bad header: command %u flags %#x size %u", m->command, m->flags, m->size);
		return -1;
	}
	if (m->size > sv.max_msg) {
		send_error(fd, m, E2BIG, "message above --max-msg, dropping the connection");
		return -1;
	}
	m->len = m->size - VU_HDR_SIZE;
	if (m->len == 0)
		return 1;
	m->body = malloc(m->len);
	if (m->body == NULL) {
		logf_("out of memory");
		return -1;
	}
	do
		n = recv(fd, m->body, m->len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 || (size_t)n != m->len) {
		logf_("short read: body %zd of %zu bytes (command %u, id %u)", n, m->len,
		    m->command, m->id);
		return -1;
	}
	return 1;
}

/* ---- the device ---- */

static void
write_dump(const char *path, const char *what)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "wb");
	if (f == NULL || fwrite(sv.mem, 1, sv.size, f) != sv.size || fclose(f) != 0 ||
	    rename(tmp, path) != 0) {
		logf_("writing %s: %s", path, strerror(errno));
		exit(1);
	}
	logf_("%s: state written to %s (xxh3-64 %016" PRIx64 ")", what, path,
	    (uint64_t)XXH3_64bits(sv.mem, sv.size));
}

static void
save_begin(uint64_t initial_pages)
{
	uint64_t p;

	for (p = 0; p < sv.npages; p++)
		sv.pend[p] = p < initial_pages ? PEND_INITIAL : PEND_DIRTY;
	sv.n_initial = initial_pages;
	sv.n_dirty = sv.npages - initial_pages;
	sv.initial_cursor = sv.dirty_cursor = 0;
	sv.rec_len = sv.rec_off = 0;
	sv.rec_kind = PEND_NONE;
	sv.end_sent = 0;
	sv.saving = 1;
}

static uint64_t
pending_bytes(enum pend kind)
{
	uint64_t n = kind == PEND_INITIAL ? sv.n_initial : sv.n_dirty;

	n *= REC_MAX;
	if (sv.rec_kind == kind)
		n += sv.rec_len - sv.rec_off;
	return n;
}

static uint64_t
stop_copy_bytes(void)
{
	if (!sv.saving)
		return sv.npages * REC_MAX + REC_HDR + REC_END_LEN;
	return pending_bytes(PEND_INITIAL) + pending_bytes(PEND_DIRTY) +
	    (sv.end_sent ? 0 : REC_HDR + REC_END_LEN);
}

static void
record_make(uint32_t kind, uint64_t index, const uint8_t *payload, uint32_t len)
{
	put32(sv.rec, REC_MAGIC);
	put32(sv.rec + 4, kind);
	put64(sv.rec + 8, index);
	put32(sv.rec + 16, len);
	put32(sv.rec + 20, 0);
	put64(sv.rec + 24, XXH3_64bits(payload, len));
	memcpy(sv.rec + REC_HDR, payload, len);
	sv.rec_len = REC_HDR + len;
	sv.rec_off = 0;
}

/* The next record to read into sv.rec; 0 when there is none now. */
static int
record_next(void)
{
	uint8_t end[REC_END_LEN];
	uint64_t p;

	if (sv.n_initial > 0) {
		while (sv.pend[sv.initial_cursor] != PEND_INITIAL)
			sv.initial_cursor++;
		p = sv.initial_cursor;
		sv.n_initial--;
		sv.rec_kind = PEND_INITIAL;
	} else if (sv.n_dirty > 0) {
		while (sv.pend[sv.dirty_cursor] != PEND_DIRTY)
			sv.dirty_cursor = (sv.dirty_cursor + 1) % sv.npages;
		p = sv.dirty_cursor;
		sv.n_dirty--;
		sv.rec_kind = PEND_DIRTY;
	} else if (sv.state == V2_STATE_STOP_COPY && !sv.end_sent) {
		put64(end, sv.size);
		put64(end + 8, XXH3_64bits(sv.mem, sv.size));
		record_make(REC_END, sv.npages, end, REC_END_LEN);
		sv.rec_kind = PEND_NONE;
		sv.end_sent = 1;
		return 1;
	} else {
		return 0;
	}
	sv.pend[p] = PEND_NONE;
	record_make(REC_PAGE, p, sv.mem + p * PAGE, PAGE);
	return 1;
}

static size_t
save_read(uint8_t *out, size_t want)
{
	size_t got = 0, n;

	while (got < want) {
		if (sv.rec_off == sv.rec_len) {
			sv.rec_kind = PEND_NONE;
			if (!record_next())
				break;
		}
		n = sv.rec_len - sv.rec_off;
		if (n > want - got)
			n = want - got;
		memcpy(out + got, sv.rec + sv.rec_off, n);
		sv.rec_off += (uint32_t)n;
		got += n;
	}
	return got;
}

/* A whole record in sv.in: check it and apply it. */
static int
resume_record(void)
{
	uint32_t kind = get32(sv.in + 4), len = get32(sv.in + 16);
	uint64_t index = get64(sv.in + 8);
	const uint8_t *payload = sv.in + REC_HDR;

	if (XXH3_64bits(payload, len) != get64(sv.in + 24)) {
		logf_("resuming: record %" PRIu64 ": payload hash differs", index);
		return -1;
	}
	if (kind == REC_PAGE) {
		memcpy(sv.mem + index * PAGE, payload, PAGE);
		return 0;
	}
	if (get64(payload) != sv.size || get64(payload + 8) != XXH3_64bits(sv.mem, sv.size)) {
		logf_("resuming: end record: size %" PRIu64 " (mine %" PRIu64
		      "), the state's hash differs from the source's",
		    get64(payload), sv.size);
		return -1;
	}
	sv.end_seen = 1;
	logf_("resuming: end record, the whole state matches the source's");
	return 0;
}

static int
resume_header_ok(void)
{
	uint32_t kind = get32(sv.in + 4), len = get32(sv.in + 16);
	uint64_t index = get64(sv.in + 8);

	if (get32(sv.in) != REC_MAGIC || get32(sv.in + 20) != 0 ||
	    !((kind == REC_PAGE && len == PAGE && index < sv.npages) ||
		(kind == REC_END && len == REC_END_LEN && index == sv.npages))) {
		logf_("resuming: bad record header (magic %#x kind %u index %" PRIu64 " length %u)",
		    get32(sv.in), kind, index, len);
		return 0;
	}
	return 1;
}

static int
resume_write(const uint8_t *data, size_t len)
{
	uint32_t need;
	size_t n;

	if (sv.refused) {
		logf_("resuming: %zu bytes after a refused record", len);
		return -1;
	}
	while (len > 0) {
		if (sv.end_seen) {
			logf_("resuming: %zu bytes after the end record", len);
			return -1;
		}
		need = sv.in_len < REC_HDR ? REC_HDR : REC_HDR + get32(sv.in + 16);
		n = need - sv.in_len < len ? need - sv.in_len : len;
		memcpy(sv.in + sv.in_len, data, n);
		sv.in_len += (uint32_t)n;
		data += n;
		len -= n;
		if (sv.in_len == REC_HDR && !resume_header_ok()) {
			sv.refused = 1;
			return -1;
		}
		if (sv.in_len == REC_HDR + get32(sv.in + 16) && sv.in_len > REC_HDR) {
			if (resume_record() != 0) {
				sv.refused = 1;
				return -1;
			}
			sv.in_len = 0;
		}
	}
	return 0;
}

/* Leaving RESUMING for STOP: the stream must be whole. */
static int
resume_end(void)
{
	if (!sv.end_seen || sv.in_len != 0) {
		logf_("resuming: the stream is incomplete (%s, %u bytes of a record)",
		    sv.end_seen ? "end record seen" : "no end record", sv.in_len);
		return -1;
	}
	return 0;
}

static int
device_set_state(uint32_t to)
{
	uint32_t from = sv.state;
	uint64_t initial;

	if (from == to)
		return 0;
	if (!v2_state_supported(to, DEVICE_FLAGS) || !v2_fsm_arc(from, to, DEVICE_FLAGS)) {
		logf_("refused arc %s -> %s", v2_state_name(from), v2_state_name(to));
		return -EINVAL;
	}
	if (from == V2_STATE_RESUMING && resume_end() != 0) {
		sv.state = V2_STATE_ERROR;
		logf_("state %s -> error", v2_state_name(from));
		return -EINVAL;
	}
	if (to == V2_STATE_PRE_COPY || (to == V2_STATE_STOP_COPY && from == V2_STATE_STOP)) {
		initial = sv.initial / PAGE < sv.npages ? sv.initial / PAGE : sv.npages;
		save_begin(to == V2_STATE_PRE_COPY ? initial : sv.npages);
	}
	if (!v2_state_is_saving(to))
		sv.saving = 0;
	if (to == V2_STATE_RESUMING) {
		memset(sv.mem, 0, sv.size);
		sv.in_len = 0;
		sv.end_seen = 0;
		sv.refused = 0;
	}
	sv.state = to;
	logf_("state %s -> %s", v2_state_name(from), v2_state_name(to));
	if (from == V2_STATE_STOP_COPY && to == V2_STATE_STOP && sv.dump_stop)
		write_dump(sv.dump_stop, "stopped after stop-copy");
	if (from == V2_STATE_RESUMING && sv.dump_resume)
		write_dump(sv.dump_resume, "resumed");
	return 0;
}

static void
device_reset(void)
{
	logf_("reset: state %s -> running", v2_state_name(sv.state));
	sv.state = V2_STATE_RUNNING;
	sv.saving = 0;
	sv.in_len = 0;
	sv.end_seen = 0;
	sv.refused = 0;
}

/* ---- DMA logging over the client's IOVA ranges ---- */

static void
log_clear(void)
{
	uint32_t i;

	for (i = 0; i < sv.nranges; i++)
		free(sv.ranges[i].bits);
	sv.nranges = 0;
	sv.logging = 0;
}

static void
log_dma_write(uint64_t r)
{
	struct log_range *lr;
	uint64_t page;

	if (!sv.logging || sv.nranges == 0)
		return;
	lr = &sv.ranges[r % sv.nranges];
	page = (r >> 8) % ((lr->length + sv.log_page - 1) / sv.log_page);
	lr->bits[page / 64] |= 1ull << (page % 64);
	if (sv.dma_log != NULL) {
		fprintf(sv.dma_log, "%" PRIu64 "\n", lr->iova + page * sv.log_page);
		fflush(sv.dma_log);
	}
}

static int
log_start(const uint8_t *d, size_t len, uint8_t *out)
{
	uint64_t page = get64(d), pages;
	uint32_t n = get32(d + 8), i;

	if (len < 16 || n == 0 || n > LOG_MAX_RANGES || len != 16 + (size_t)n * 16 || sv.logging) {
		logf_("dma logging start: %u ranges in %zu bytes refused%s", n, len,
		    sv.logging ? " (already logging)" : "");
		return -EINVAL;
	}
	if (page < PAGE || (page & (page - 1)))
		page = PAGE;
	for (i = 0; i < n; i++) {
		sv.ranges[i].iova = get64(d + 16 + i * 16);
		sv.ranges[i].length = get64(d + 24 + i * 16);
		pages = (sv.ranges[i].length + page - 1) / page;
		if (sv.ranges[i].length == 0 || pages > LOG_MAX_PAGES) {
			sv.nranges = i;
			log_clear();
			logf_("dma logging start: range %u of %" PRIu64 " bytes refused", i,
			    sv.ranges[i].length);
			return -EINVAL;
		}
		sv.ranges[i].bits = calloc((pages + 63) / 64, 8);
		sv.nranges = i + 1;
		if (sv.ranges[i].bits == NULL) {
			log_clear();
			logf_("dma logging start: out of memory");
			return -ENOMEM;
		}
	}
	sv.log_page = page;
	sv.logging = 1;
	memcpy(out, d, len);
	put64(out, page);
	logf_("dma logging started: %u ranges, page %" PRIu64, n, page);
	return 0;
}

/* Report and clear the bits of [iova, iova + length) at page_size. */
static int
log_report(uint64_t iova, uint64_t length, uint64_t ps, uint64_t *bitmap)
{
	struct log_range *lr = NULL;
	uint64_t i, a, first, last, pages;
	uint32_t r;

	for (r = 0; r < sv.nranges; r++)
		if (iova >= sv.ranges[r].iova &&
		    iova + length <= sv.ranges[r].iova + sv.ranges[r].length)
			lr = &sv.ranges[r];
	if (!sv.logging || lr == NULL)
		return -EINVAL;
	pages = (lr->length + sv.log_page - 1) / sv.log_page;
	for (i = 0; i < pages; i++) {
		if (!(lr->bits[i / 64] & (1ull << (i % 64))))
			continue;
		a = lr->iova + i * sv.log_page;
		if (a + sv.log_page <= iova || a >= iova + length)
			continue;
		first = a < iova ? 0 : (a - iova) / ps;
		last = (a + sv.log_page - 1 - iova) / ps;
		if (last >= (length + ps - 1) / ps)
			last = (length + ps - 1) / ps - 1;
		for (; first <= last; first++)
			bitmap[first / 64] |= 1ull << (first % 64);
		lr->bits[i / 64] &= ~(1ull << (i % 64));
	}
	return 0;
}

/* ---- the workload ---- */

static void *
workload_main(void *arg)
{
	struct timespec tick = {0, 10 * 1000 * 1000};
	uint64_t budget = 0, r, page;
	uint8_t chunk[256];

	(void)arg;
	for (;;) {
		nanosleep(&tick, NULL);
		pthread_mutex_lock(&sv.lock);
		if (sv.state == V2_STATE_RUNNING || sv.state == V2_STATE_PRE_COPY)
			budget += sv.workload / 100;
		else
			budget = 0;
		while (budget >= sizeof(chunk)) {
			budget -= sizeof(chunk);
			r = rng_next(&sv.rng);
			page = r % sv.npages;
			rng_fill(&sv.rng, chunk, sizeof(chunk));
			memcpy(sv.mem + page * PAGE +
				((r >> 32) % (PAGE / sizeof(chunk))) * sizeof(chunk),
			    chunk, sizeof(chunk));
			if (sv.saving && sv.pend[page] == PEND_NONE) {
				sv.pend[page] = PEND_DIRTY;
				sv.n_dirty++;
			}
			log_dma_write(r >> 16);
		}
		pthread_mutex_unlock(&sv.lock);
	}
	return NULL;
}

/* ---- the messages ---- */

static int
check_caps(json_t *caps)
{
	const char *key;
	json_t *v, *mig;
	json_int_t n;

	json_object_foreach(caps, key, v) {
		if (!strcmp(key, "max_msg_fds") || !strcmp(key, "max_data_xfer_size") ||
		    !strcmp(key, "pgsizes") || !strcmp(key, "max_dma_maps")) {
			if (!json_is_integer(v) || json_integer_value(v) < 0) {
				logf_("version: capability %s is not a number >= 0", key);
				return -1;
			}
		} else if (!strcmp(key, "migration") || !strcmp(key, "twin_socket")) {
			if (!json_is_object(v)) {
				logf_("version: capability %s is not an object", key);
				return -1;
			}
		} else if (!strcmp(key, "write_multiple")) {
			if (!json_is_boolean(v)) {
				logf_("version: capability %s is not a boolean", key);
				return -1;
			}
		} else {
			logf_("version: unknown capability %s ignored", key);
		}
	}
	if ((v = json_object_get(caps, "max_data_xfer_size")) != NULL) {
		n = json_integer_value(v);
		if (n < 8 || n > (64 << 20)) {
			logf_("version: max_data_xfer_size %" JSON_INTEGER_FORMAT " out of range",
			    n);
			return -1;
		}
		if ((uint64_t)n < sv.xfer)
			sv.xfer = (uint32_t)n;
	}
	if ((v = json_object_get(caps, "max_msg_fds")) != NULL && json_integer_value(v) > 253) {
		logf_("version: max_msg_fds out of range");
		return -1;
	}
	mig = json_object_get(caps, "migration");
	json_object_foreach(mig, key, v) {
		if (!json_is_integer(v) || json_integer_value(v) <= 0) {
			logf_("version: migration.%s is not a number > 0", key);
			return -1;
		}
	}
	return 0;
}

/* The client's version data: NUL-terminated JSON inside the body. */
static int
parse_version_json(const uint8_t *data, size_t len, int *migration)
{
	json_error_t jerr;
	json_t *root, *caps;
	const char *key;
	json_t *v;
	int rc = 0;

	if (len == 0)
		return 0;
	if (data[len - 1] != '\0' || memchr(data, '\0', len - 1) != NULL) {
		logf_("version: the JSON is not one NUL-terminated string");
		return -1;
	}
	root = json_loadb((const char *)data, len - 1, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL || !json_is_object(root)) {
		logf_("version: bad JSON: %s", root ? "not an object" : jerr.text);
		json_decref(root);
		return -1;
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "capabilities") != 0)
			logf_("version: unknown key %s ignored", key);
	}
	caps = json_object_get(root, "capabilities");
	if (caps != NULL && !json_is_object(caps)) {
		logf_("version: capabilities is not an object");
		rc = -1;
	} else if (caps != NULL) {
		rc = check_caps(caps);
		*migration = json_object_get(caps, "migration") != NULL;
	}
	json_decref(root);
	return rc;
}

static int
handle_version(int fd, const struct msg *m)
{
	enum fault_kind k = fault_take("version", 0);
	uint16_t major, minor;
	json_t *root, *caps;
	uint8_t *reply;
	char *js;
	size_t n;
	int migration = 0, rc;

	if (sv.negotiated || m->len < 4) {
		send_error(fd, m, EINVAL, sv.negotiated ? "version again" : "version too short");
		return -1;
	}
	major = get16(m->body);
	minor = get16(m->body + 2);
	sv.xfer = sv.max_xfer;
	if (major != VU_VERSION_MAJOR || parse_version_json(m->body + 4, m->len - 4, &migration)) {
		send_error(fd, m, EINVAL, "version refused, closing");
		return -1;
	}
	if (k == FAULT_ERROR_REPLY)
		return send_error(fd, m, EIO, "fault");
	caps =
	    json_pack("{s:i,s:I}", "max_msg_fds", 1, "max_data_xfer_size", (json_int_t)sv.max_xfer);
	if (migration)
		json_object_set_new(caps, "migration",
		    json_pack("{s:i,s:I}", "pgsize", (int)PAGE, "max_bitmap_size",
			(json_int_t)(256u << 20)));
	root = json_pack("{s:o}", "capabilities", caps);
	js = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	n = strlen(js) + 1;
	reply = malloc(4 + n);
	put16(reply, VU_VERSION_MAJOR);
	put16(reply + 2, minor < VU_VERSION_MINOR ? minor : VU_VERSION_MINOR);
	memcpy(reply + 4, js, n);
	sv.negotiated = 1;
	logf_("version %u.%u proposed, answered %u.%u %s; max_data_xfer_size %u", major, minor,
	    VU_VERSION_MAJOR, get16(reply + 2), js, sv.xfer);
	rc = send_reply(fd, m, reply, 4 + n, k);
	free(js);
	free(reply);
	return rc;
}

static int
handle_get_info(int fd, const struct msg *m)
{
	enum fault_kind k = fault_take("get-info", 0);
	uint8_t r[VU_DEVICE_INFO_SIZE];

	if (m->len != VU_DEVICE_INFO_SIZE || get32(m->body) < VU_DEVICE_INFO_SIZE ||
	    get32(m->body + 4) || get32(m->body + 8) || get32(m->body + 12))
		return send_error(fd, m, EINVAL, "device info request malformed");
	if (k == FAULT_ERROR_REPLY)
		return send_error(fd, m, EIO, "fault");
	put32(r, VU_DEVICE_INFO_SIZE);
	put32(r + 4, VU_DEVICE_FLAGS_RESET | VU_DEVICE_FLAGS_PCI);
	put32(r + 8, VU_PCI_NUM_REGIONS);
	put32(r + 12, VU_PCI_NUM_IRQS);
	return send_reply(fd, m, r, sizeof(r), k);
}

static int
handle_region_info(int fd, const struct msg *m)
{
	uint8_t r[VU_REGION_INFO_SIZE] = {0};
	uint32_t index;

	if (m->len != VU_REGION_INFO_SIZE || get32(m->body + 4) || get32(m->body + 12) ||
	    get64(m->body + 16) || get64(m->body + 24))
		return send_error(fd, m, EINVAL, "region info request malformed");
	index = get32(m->body + 8);
	if (index >= VU_PCI_NUM_REGIONS)
		return send_error(fd, m, EINVAL, "no such region");
	put32(r, VU_REGION_INFO_SIZE);
	put32(r + 8, index);
	if (index == VU_PCI_BAR0_INDEX || index == VU_PCI_CONFIG_INDEX) {
		put32(r + 4, VU_REGION_FLAG_READ | VU_REGION_FLAG_WRITE);
		put64(r + 16, index == VU_PCI_BAR0_INDEX ? PAGE : 256);
	}
	return send_reply(fd, m, r, sizeof(r), FAULT_NONE);
}

/* GET of a feature: data into out (room for 32 bytes), its length. */
static int
feature_get(uint32_t feature, uint8_t *out, size_t *len)
{
	switch (feature) {
	case VU_FEAT_MIGRATION:
		put64(out, DEVICE_FLAGS);
		*len = 8;
		return 0;
	case VU_FEAT_MIG_DEVICE_STATE:
		put32(out, sv.state);
		put32(out + 4, (uint32_t)-1);
		*len = 8;
		return 0;
	case VU_FEAT_MIG_DATA_SIZE:
		put64(out, stop_copy_bytes());
		*len = 8;
		return 0;
	case VU_FEAT_PRECOPY_INFO:
		if (sv.state != V2_STATE_PRE_COPY) {
			logf_("precopy info asked in %s", v2_state_name(sv.state));
			return -EINVAL;
		}
		put64(out, pending_bytes(PEND_INITIAL));
		put64(out + 8, pending_bytes(PEND_DIRTY));
		*len = 16;
		return 0;
	}
	return -ENOTTY;
}

static uint32_t
feature_ops(uint32_t feature)
{
	switch (feature) {
	case VU_FEAT_MIGRATION:
	case VU_FEAT_MIG_DATA_SIZE:
	case VU_FEAT_PRECOPY_INFO:
	case VU_FEAT_DMA_LOGGING_REPORT:
		return VU_FEATURE_GET;
	case VU_FEAT_MIG_DEVICE_STATE:
		return VU_FEATURE_GET | VU_FEATURE_SET;
	case VU_FEAT_DMA_LOGGING_START:
	case VU_FEAT_DMA_LOGGING_STOP:
		return VU_FEATURE_SET;
	}
	return 0;
}

static int
feature_report(int fd, const struct msg *m, enum fault_kind k)
{
	const uint8_t *d = m->body + 8;
	uint64_t iova, length, ps, words;
	uint8_t *r;
	int rc;

	if (m->len != 8 + 24)
		return send_error(fd, m, EINVAL, "dma logging report malformed");
	iova = get64(d);
	length = get64(d + 8);
	ps = get64(d + 16);
	if (length == 0 || ps == 0 || (ps & (ps - 1)) || length / ps > LOG_MAX_PAGES)
		return send_error(fd, m, EINVAL, "dma logging report: bad range or page size");
	words = ((length + ps - 1) / ps + 63) / 64;
	if (get32(m->body) < 8 + 24 + words * 8 || 16 + 8 + 24 + words * 8 > sv.max_msg)
		return send_error(fd, m, E2BIG, "dma logging report: bitmap above argsz");
	r = calloc(1, 8 + 24 + words * 8);
	memcpy(r, m->body, 8 + 24);
	put32(r, (uint32_t)(8 + 24 + words * 8));
	if (log_report(iova, length, ps, (uint64_t *)(void *)(r + 32)) != 0) {
		free(r);
		return send_error(fd, m, EINVAL, "dma logging report: not logging that range");
	}
	rc = send_reply(fd, m, r, 8 + 24 + words * 8, k);
	free(r);
	return rc;
}

static int
feature_set(int fd, const struct msg *m, uint32_t feature, enum fault_kind k)
{
	uint8_t out[16 + LOG_MAX_RANGES * 16];
	int err;

	switch (feature) {
	case VU_FEAT_MIG_DEVICE_STATE:
		if (m->len != 16)
			return send_error(fd, m, EINVAL, "device state request malformed");
		if ((err = device_set_state(get32(m->body + 8))) != 0)
			return send_error(fd, m, -err, "state change refused");
		return send_reply(fd, m, m->body, m->len, k);
	case VU_FEAT_DMA_LOGGING_START:
		if (m->len < 8 || m->len - 8 > sizeof(out) ||
		    log_start(m->body + 8, m->len - 8, out) != 0)
			return send_error(fd, m, EINVAL, "dma logging start refused");
		memcpy(m->body + 8, out, m->len - 8);
		return send_reply(fd, m, m->body, m->len, k);
	case VU_FEAT_DMA_LOGGING_STOP:
		if (!sv.logging)
			return send_error(fd, m, EINVAL, "dma logging stop: not logging");
		log_clear();
		logf_("dma logging stopped");
		return send_reply(fd, m, m->body, m->len, k);
	}
	return send_error(fd, m, EINVAL, "no such settable feature");
}

static void
feature_where(const struct msg *m, uint32_t feature, uint32_t ops, char *where, size_t n)
{
	if (feature == VU_FEAT_MIG_DEVICE_STATE && ops == VU_FEATURE_SET && m->len >= 12)
		snprintf(where, n, "to-%s", v2_state_name(get32(m->body + 8)));
	else
		snprintf(where, n, "feature-%u", feature);
	if (!strcmp(where, "to-stopped"))
		snprintf(where, n, "to-stop");
}

static int
handle_feature(int fd, const struct msg *m)
{
	uint32_t argsz, flags, feature, ops, offered;
	uint8_t data[32], r[8 + 32];
	enum fault_kind k;
	char where[32];
	size_t len;
	int err;

	if (m->len < 8)
		return send_error(fd, m, EINVAL, "feature request too short");
	argsz = get32(m->body);
	flags = get32(m->body + 4);
	feature = flags & VU_FEATURE_MASK;
	ops = flags & (VU_FEATURE_GET | VU_FEATURE_SET | VU_FEATURE_PROBE);
	offered = feature_ops(feature);
	if (flags & ~(VU_FEATURE_MASK | ops))
		return send_error(fd, m, EINVAL, "unknown feature flags");
	if (offered == 0)
		return send_error(fd, m, ENOTTY, "no such feature");
	if (ops & VU_FEATURE_PROBE) {
		if ((ops & ~VU_FEATURE_PROBE & ~offered) != 0)
			return send_error(fd, m, EINVAL, "probe of an operation not offered");
		return send_reply(fd, m, m->body, m->len, FAULT_NONE);
	}
	if (ops != VU_FEATURE_GET && ops != VU_FEATURE_SET)
		return send_error(fd, m, EINVAL, "GET and SET together, or neither");
	if (!(ops & offered))
		return send_error(fd, m, EINVAL, "operation not offered");
	feature_where(m, feature, ops, where, sizeof(where));
	k = fault_take(where, 0);
	if (k == FAULT_ERROR_REPLY)
		return send_error(fd, m, EIO, "fault");
	if (ops == VU_FEATURE_SET)
		return feature_set(fd, m, feature, k);
	if (feature == VU_FEAT_DMA_LOGGING_REPORT)
		return feature_report(fd, m, k);
	if (m->len != 8)
		return send_error(fd, m, EINVAL, "GET with data");
	if ((err = feature_get(feature, data, &len)) != 0)
		return send_error(fd, m, -err, "feature not available now");
	put32(r, (uint32_t)(8 + len));
	put32(r + 4, flags);
	memcpy(r + 8, data, len);
	/* The text's "Message sizes": a reply above argsz says the size. */
	return send_reply(fd, m, r, argsz < 8 + len ? 8 : 8 + len, k);
}

static int
handle_data_read(int fd, const struct msg *m)
{
	enum fault_kind k;
	uint32_t argsz, size;
	uint8_t *r;
	size_t n;
	int rc;

	if (m->len != 8)
		return send_error(fd, m, EINVAL, "data read request malformed");
	argsz = get32(m->body);
	size = get32(m->body + 4);
	if (!v2_state_is_saving(sv.state))
		return send_error(fd, m, EINVAL, "data read outside pre-copy and stop-copy");
	if (size > sv.xfer)
		return send_error(fd, m, E2BIG, "data read above max_data_xfer_size");
	if (argsz < 8 + (uint64_t)size)
		return send_error(fd, m, EINVAL, "data read: argsz below 8 + size");
	k = fault_take(v2_state_name(sv.state), 1);
	if (k == FAULT_KILL)
		send_reply(fd, m, NULL, 0, k);
	if (k == FAULT_ERROR_REPLY)
		return send_error(fd, m, EIO, "fault");
	r = malloc(8 + (size_t)size);
	n = save_read(r + 8, size);
	put32(r, (uint32_t)(8 + n));
	put32(r + 4, (uint32_t)n);
	rc = send_reply(fd, m, r, 8 + n, k);
	free(r);
	return rc;
}

static int
handle_data_write(int fd, const struct msg *m)
{
	enum fault_kind k;
	uint32_t size;

	if (m->len < 8 || get32(m->body + 4) != m->len - 8)
		return send_error(fd, m, EINVAL, "data write: size differs from the body");
	size = get32(m->body + 4);
	if (sv.state != V2_STATE_RESUMING)
		return send_error(fd, m, EINVAL, "data write outside resuming");
	if (size > sv.xfer)
		return send_error(fd, m, E2BIG, "data write above max_data_xfer_size");
	k = fault_take("resuming", 1);
	if (k == FAULT_KILL)
		send_reply(fd, m, NULL, 0, k);
	if (k == FAULT_ERROR_REPLY)
		return send_error(fd, m, EIO, "fault");
	if (resume_write(m->body + 8, size) != 0)
		return send_error(fd, m, EINVAL, "migration data refused");
	return send_reply(fd, m, NULL, 0, k);
}

/* 0: go on; -1: drop the connection. Runs with the device locked. */
static int
handle_message(int fd, const struct msg *m)
{
	if (!sv.negotiated && m->command != VU_CMD_VERSION) {
		send_error(fd, m, EINVAL, "a command before VERSION, closing");
		return -1;
	}
	switch (m->command) {
	case VU_CMD_VERSION:
		return handle_version(fd, m);
	case VU_CMD_DEVICE_GET_INFO:
		return handle_get_info(fd, m);
	case VU_CMD_DEVICE_GET_REGION_INFO:
		return handle_region_info(fd, m);
	case VU_CMD_DEVICE_RESET:
		if (m->len != 0)
			return send_error(fd, m, EINVAL, "reset with a payload");
		device_reset();
		return send_reply(fd, m, NULL, 0, FAULT_NONE);
	case VU_CMD_DEVICE_FEATURE:
		return handle_feature(fd, m);
	case VU_CMD_MIG_DATA_READ:
		return handle_data_read(fd, m);
	case VU_CMD_MIG_DATA_WRITE:
		return handle_data_write(fd, m);
	case VU_CMD_DMA_MAP:
	case VU_CMD_DMA_UNMAP:
		return send_error(fd, m, ENOTSUP, "DMA map not served by this server");
	}
	return send_error(fd, m, ENOTSUP, "command not served");
}

static void
serve(int fd)
{
	struct msg m;
	int r;

	sv.negotiated = 0;
	logf_("client connected");
	for (;;) {
		r = recv_message(fd, &m);
		if (r <= 0) {
			if (r == 0)
				logf_("client closed the connection");
			break;
		}
		pthread_mutex_lock(&sv.lock);
		r = handle_message(fd, &m);
		pthread_mutex_unlock(&sv.lock);
		free(m.body);
		if (r < 0)
			break;
	}
	close(fd);
	/* The text: a client's leaving keeps the device's state. */
	pthread_mutex_lock(&sv.lock);
	log_clear();
	logf_("connection closed, device %s", v2_state_name(sv.state));
	pthread_mutex_unlock(&sv.lock);
}

/* ---- start-up ---- */

static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: vfio-user-server --socket PATH [--size BYTES] [--seed N]\n"
	    "    [--workload BYTES_PER_S] [--initial BYTES] [--max-msg BYTES]\n"
	    "    [--max-data-xfer BYTES] [--dump-on-stop FILE] [--dump-on-resume FILE]\n"
	    "    [--fault KIND[@WHERE]] [--log FILE] [--dma-log FILE]\n"
	    "  KIND: kill error-reply bad-msg-id bad-command short-reply oversized-reply\n"
	    "        huge-reply stall hang-up corrupt\n"
	    "  WHERE: version get-info pre-copy stop-copy resuming to-STATE\n"
	    "         (STATE: stop running stop-copy resuming pre-copy);\n"
	    "         none: the first MIG_DATA_READ/WRITE\n"
	    "  prints \"ready\" once listening; see the header of tests/vfio_user_server.c\n");
	exit(status);
}

static uint64_t
parse_bytes(const char *s, const char *opt)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (*end == 'K' || *end == 'k')
		v <<= 10, end++;
	else if (*end == 'M' || *end == 'm')
		v <<= 20, end++;
	else if (*end == 'G' || *end == 'g')
		v <<= 30, end++;
	if (errno || end == s || *end != '\0' || s[0] == '-') {
		fprintf(stderr, "vfio-user-server: %s: bad number '%s'\n", opt, s);
		exit(2);
	}
	return v;
}

static void
parse_fault(const char *s)
{
	const char *at = strchr(s, '@');
	size_t n = at ? (size_t)(at - s) : strlen(s), i;

	for (i = 1; i < sizeof(fault_names) / sizeof(fault_names[0]); i++)
		if (strlen(fault_names[i]) == n && !strncmp(fault_names[i], s, n))
			sv.fault = (enum fault_kind)i;
	if (sv.fault == FAULT_NONE || (at && strlen(at + 1) >= sizeof(sv.fault_where))) {
		fprintf(stderr, "vfio-user-server: --fault: bad '%s'\n", s);
		usage(2);
	}
	if (at)
		snprintf(sv.fault_where, sizeof(sv.fault_where), "%s", at + 1);
}

static void
parse_options(int argc, char **argv)
{
	static const struct option opts[] = {{"socket", 1, NULL, 's'}, {"size", 1, NULL, 'z'},
	    {"seed", 1, NULL, 'S'}, {"workload", 1, NULL, 'w'}, {"initial", 1, NULL, 'i'},
	    {"max-msg", 1, NULL, 'm'}, {"max-data-xfer", 1, NULL, 'x'},
	    {"dump-on-stop", 1, NULL, 'd'}, {"dump-on-resume", 1, NULL, 'r'},
	    {"fault", 1, NULL, 'f'}, {"log", 1, NULL, 'l'}, {"dma-log", 1, NULL, 'D'},
	    {"help", 0, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	uint64_t max_msg = 0;
	int ch;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			sv.socket_path = optarg;
			break;
		case 'z':
			sv.size = parse_bytes(optarg, "--size");
			break;
		case 'S':
			sv.seed = parse_bytes(optarg, "--seed");
			break;
		case 'w':
			sv.workload = parse_bytes(optarg, "--workload");
			break;
		case 'i':
			sv.initial = parse_bytes(optarg, "--initial");
			break;
		case 'm':
			max_msg = parse_bytes(optarg, "--max-msg");
			break;
		case 'x':
			sv.max_xfer = (uint32_t)parse_bytes(optarg, "--max-data-xfer");
			break;
		case 'd':
			sv.dump_stop = optarg;
			break;
		case 'r':
			sv.dump_resume = optarg;
			break;
		case 'f':
			parse_fault(optarg);
			break;
		case 'l':
			if ((sv.log = fopen(optarg, "a")) == NULL) {
				perror(optarg);
				exit(2);
			}
			break;
		case 'D':
			if ((sv.dma_log = fopen(optarg, "a")) == NULL) {
				perror(optarg);
				exit(2);
			}
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (optind != argc || sv.socket_path == NULL || sv.size == 0 || sv.size % PAGE ||
	    sv.size > (64ull << 30) || sv.max_xfer < 8 || sv.max_xfer > (64u << 20))
		usage(2);
	if (max_msg == 0)
		max_msg = (uint64_t)sv.max_xfer + PAGE;
	if (max_msg < 64 || max_msg > (128u << 20))
		usage(2);
	sv.max_msg = (uint32_t)max_msg;
}

static int
listen_on(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vfio-user-server: socket path too long\n");
		exit(2);
	}
	strcpy(sa.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4) != 0) {
		fprintf(stderr, "vfio-user-server: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

int
main(int argc, char **argv)
{
	pthread_t worker;
	int lfd, fd;

	sv.log = stderr;
	parse_options(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	sv.npages = sv.size / PAGE;
	sv.mem = malloc(sv.size);
	sv.pend = calloc(sv.npages, 1);
	if (sv.mem == NULL || sv.pend == NULL) {
		fprintf(stderr, "vfio-user-server: out of memory\n");
		return 1;
	}
	sv.rng = sv.seed * 0x9e3779b97f4a7c15ull + 1;
	rng_fill(&sv.rng, sv.mem, sv.size);
	lfd = listen_on(sv.socket_path);
	if (pthread_create(&worker, NULL, workload_main, NULL) != 0)
		return 1;
	logf_("listening on %s: %" PRIu64 " bytes of state (xxh3-64 %016" PRIx64
	      "), workload %" PRIu64 " B/s, max_data_xfer_size %u, max message %u",
	    sv.socket_path, sv.size, (uint64_t)XXH3_64bits(sv.mem, sv.size), sv.workload,
	    sv.max_xfer, sv.max_msg);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			logf_("accept: %s", strerror(errno));
			return 1;
		}
		serve(fd);
	}
}
