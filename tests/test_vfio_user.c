/*
 * test_vfio_user.c: the vfio-user client (daemon/devices/vfio_user.c) and
 * the vfio-user backend over it, against a scripted server in a thread on
 * the other end of a socketpair.
 *
 * The peer is as strict as libvfio-user: it reads a header with one recv()
 * and a body with one more, and counts a body that has not fully arrived
 * as a short read. It serves a small v2 device (flags, one arc per SET,
 * a stream read in pre-copy up to a point and to its end in stop-copy,
 * written back in resuming) and breaks any one reply on demand: wrong
 * message id or command, not a reply, short or oversized payload, an
 * error (with and without errno, with a payload), a hang-up, a stall.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "check_main.h"
#include "device.h"
#include "errors.h"
#include "v2_driver.h"
#include "vfio_user.h"
#include "xmalloc.h"

#define KIB 1024u

enum peer_fault {
	PF_NONE,
	PF_WRONG_ID,
	PF_WRONG_COMMAND,
	PF_NOT_REPLY,
	PF_SHORT,
	PF_OVERSIZED,
	PF_ERROR,
	PF_ERROR_NO_ERRNO,
	PF_ERROR_WITH_PAYLOAD,
	PF_HANG_UP,
	PF_STALL,
	PF_WRONG_FEATURE,
	PF_READ_TOO_MUCH,
};

struct hdr {
	uint16_t id, command;
	uint32_t size, flags, error;
};

struct peer {
	int fd;
	pthread_t thread;
	/* The device. */
	uint64_t flags;
	uint32_t state;
	const uint8_t *src;
	size_t src_len, src_off;
	size_t precopy_avail; /* of src, readable in PRE_COPY */
	uint8_t *dst;
	size_t dst_len;
	int has_data_size;
	int pad_reads; /* MIG_DATA_READ replies padded to the size asked (libvfio-user) */
	/* VERSION. */
	uint16_t major, minor;
	const char *json; /* the reply's, NULL: none */
	char proposed[256];
	/* One reply broken: the nth (from 1) of this command. */
	int fault_command, fault_nth;
	enum peer_fault fault;
	int fault_errno;
	/* What it saw. */
	int count[32];
	size_t largest_read, largest_write;
	int short_reads, requests;
	uint32_t arcs[32][2];
	int narcs;
};

static void
peer_reply(struct peer *p, const struct hdr *req, const void *payload, size_t len)
{
	struct hdr h = {req->id, req->command, (uint32_t)(sizeof(h) + len), VFU_FLAG_TYPE_REPLY, 0};
	uint8_t *buf;
	int fault = p->fault_command == req->command && p->count[req->command] == p->fault_nth
	    ? (int)p->fault
	    : PF_NONE;

	switch (fault) {
	case PF_WRONG_ID:
		h.id++;
		break;
	case PF_WRONG_COMMAND:
		h.command = VFU_CMD_DEVICE_RESET;
		break;
	case PF_NOT_REPLY:
		h.flags = VFU_FLAG_TYPE_COMMAND;
		break;
	case PF_SHORT:
		len = len > 0 ? len - 1 : 0;
		h.size = (uint32_t)(sizeof(h) + len);
		break;
	case PF_OVERSIZED:
		h.size += 4096;
		break;
	case PF_ERROR:
	case PF_ERROR_NO_ERRNO:
		h.flags |= VFU_FLAG_ERROR;
		h.error = fault == PF_ERROR ? (uint32_t)p->fault_errno : 0;
		h.size = sizeof(h);
		len = 0;
		break;
	case PF_ERROR_WITH_PAYLOAD:
		h.flags |= VFU_FLAG_ERROR;
		h.error = EINVAL;
		break;
	case PF_HANG_UP:
		shutdown(p->fd, SHUT_RDWR);
		return;
	case PF_STALL:
		return; /* the client times out; the next recv sees it close */
	}
	buf = xmalloc(sizeof(h) + len + 4096);
	memset(buf, 0, sizeof(h) + len + 4096);
	memcpy(buf, &h, sizeof(h));
	if (len > 0)
		memcpy(buf + sizeof(h), payload, len);
	/* Oversized: the extra bytes are really sent (zeros). */
	ck_assert_int_eq(send(p->fd, buf, h.size, MSG_NOSIGNAL), (ssize_t)h.size);
	free(buf);
}

static void
peer_error(struct peer *p, const struct hdr *req, int err)
{
	struct hdr h = {req->id, req->command, sizeof(h), VFU_FLAG_TYPE_REPLY | VFU_FLAG_ERROR,
	    (uint32_t)err};

	ck_assert_int_eq(send(p->fd, &h, sizeof(h), MSG_NOSIGNAL), (ssize_t)sizeof(h));
}

static void
peer_version(struct peer *p, const struct hdr *req, const uint8_t *body, size_t len)
{
	uint8_t out[512];
	uint16_t v[2] = {p->major, p->minor};
	size_t n = p->json != NULL ? strlen(p->json) + 1 : 0;

	ck_assert_uint_ge(len, 4);
	snprintf(p->proposed, sizeof(p->proposed), "%.*s", (int)(len - 4), (const char *)body + 4);
	memcpy(out, v, sizeof(v));
	if (n > 0)
		memcpy(out + 4, p->json, n);
	peer_reply(p, req, out, 4 + n);
}

static void
peer_feature(struct peer *p, const struct hdr *req, const uint8_t *body, size_t len)
{
	uint8_t out[64];
	uint32_t head[2], st[2];
	uint32_t index;
	uint64_t v;

	ck_assert_uint_ge(len, 8);
	memcpy(head, body, sizeof(head));
	index = head[1] & VFU_FEATURE_MASK;
	memcpy(out, head, sizeof(head));
	if (p->fault_command == VFU_CMD_DEVICE_FEATURE &&
	    p->count[VFU_CMD_DEVICE_FEATURE] == p->fault_nth && p->fault == PF_WRONG_FEATURE) {
		head[1] ^= 1;
		memcpy(out, head, sizeof(head));
	}
	if (index == VFU_FEATURE_MIGRATION && (head[1] & VFU_FEATURE_GET)) {
		memcpy(out + 8, &p->flags, 8);
		peer_reply(p, req, out, 16);
	} else if (index == VFU_FEATURE_MIG_DEVICE_STATE && (head[1] & VFU_FEATURE_GET)) {
		st[0] = p->state;
		st[1] = (uint32_t)-1;
		memcpy(out + 8, st, 8);
		peer_reply(p, req, out, 16);
	} else if (index == VFU_FEATURE_MIG_DEVICE_STATE && (head[1] & VFU_FEATURE_SET)) {
		ck_assert_uint_eq(len, 16);
		memcpy(st, body + 8, 8);
		/* The device's own FSM: no P2P in vfio-user, whatever it reports. */
		if (!v2_fsm_arc(p->state, st[0], p->flags & ~(uint64_t)V2_MIG_P2P)) {
			peer_error(p, req, EINVAL);
			return;
		}
		/* A refused arc leaves the device where it was. */
		if (p->fault == PF_ERROR && p->fault_command == VFU_CMD_DEVICE_FEATURE &&
		    p->count[VFU_CMD_DEVICE_FEATURE] == p->fault_nth) {
			peer_error(p, req, p->fault_errno);
			return;
		}
		if (!v2_state_is_saving(p->state) && v2_state_is_saving(st[0]))
			p->src_off = 0;
		if (p->narcs < 32) {
			p->arcs[p->narcs][0] = p->state;
			p->arcs[p->narcs++][1] = st[0];
		}
		p->state = st[0];
		peer_reply(p, req, body, len);
	} else if (index == VFU_FEATURE_MIG_DATA_SIZE && p->has_data_size &&
	    (head[1] & VFU_FEATURE_GET)) {
		v = p->src_len - p->src_off;
		memcpy(out + 8, &v, 8);
		peer_reply(p, req, out, 16);
	} else {
		peer_error(p, req, ENOTTY);
	}
}

static void
peer_read(struct peer *p, const struct hdr *req, const uint8_t *body, size_t len)
{
	uint32_t rq[2], rep[2];
	size_t end, n;
	uint8_t *out;

	ck_assert_uint_eq(len, 8);
	memcpy(rq, body, sizeof(rq));
	ck_assert_uint_ge(rq[0], 8 + rq[1]);
	if (rq[1] > p->largest_read)
		p->largest_read = rq[1];
	if (!v2_state_is_saving(p->state)) {
		peer_error(p, req, EINVAL);
		return;
	}
	end = p->state == V2_STATE_PRE_COPY && p->precopy_avail < p->src_len ? p->precopy_avail
									     : p->src_len;
	n = end > p->src_off ? end - p->src_off : 0;
	if (n > rq[1])
		n = rq[1];
	rep[0] = (uint32_t)(8 + n);
	rep[1] = (uint32_t)n;
	if (p->fault_command == VFU_CMD_MIG_DATA_READ &&
	    p->count[VFU_CMD_MIG_DATA_READ] == p->fault_nth && p->fault == PF_READ_TOO_MUCH)
		rep[1] = rq[1] + 1;
	out = xcalloc(1, 8 + rq[1]);
	memcpy(out, rep, sizeof(rep));
	memcpy(out + 8, p->src + p->src_off, n);
	p->src_off += n;
	peer_reply(p, req, out, p->pad_reads ? 8 + rq[1] : 8 + n);
	free(out);
}

static void
peer_write(struct peer *p, const struct hdr *req, const uint8_t *body, size_t len)
{
	uint32_t rq[2];

	ck_assert_uint_ge(len, 8);
	memcpy(rq, body, sizeof(rq));
	ck_assert_uint_eq(rq[1], len - 8);
	ck_assert_uint_eq(rq[0], len);
	if (rq[1] > p->largest_write)
		p->largest_write = rq[1];
	if (p->state != V2_STATE_RESUMING) {
		peer_error(p, req, EINVAL);
		return;
	}
	p->dst = xrealloc(p->dst, p->dst_len + rq[1]);
	memcpy(p->dst + p->dst_len, body + 8, rq[1]);
	p->dst_len += rq[1];
	peer_reply(p, req, NULL, 0);
}

static void *
peer_main(void *arg)
{
	struct peer *p = arg;
	uint8_t *body = xmalloc(VFU_REPLY_MAX + 64);
	struct hdr h;
	ssize_t n;
	size_t len;

	for (;;) {
		if ((n = recv(p->fd, &h, sizeof(h), MSG_WAITALL)) != (ssize_t)sizeof(h))
			break;
		len = h.size - sizeof(h);
		ck_assert_uint_le(len, VFU_REPLY_MAX);
		/* One recv() for the body, as libvfio-user does. */
		if (len > 0 && (n = recv(p->fd, body, len, 0)) != (ssize_t)len) {
			p->short_reads++;
			break;
		}
		p->requests++;
		p->count[h.command & 31]++;
		switch (h.command) {
		case VFU_CMD_VERSION:
			peer_version(p, &h, body, len);
			break;
		case VFU_CMD_DEVICE_GET_INFO: {
			uint32_t info[4] = {16, VFU_DEVICE_FLAGS_RESET | VFU_DEVICE_FLAGS_PCI, 9,
			    5};

			peer_reply(p, &h, info, sizeof(info));
			break;
		}
		case VFU_CMD_DEVICE_FEATURE:
			peer_feature(p, &h, body, len);
			break;
		case VFU_CMD_MIG_DATA_READ:
			peer_read(p, &h, body, len);
			break;
		case VFU_CMD_MIG_DATA_WRITE:
			peer_write(p, &h, body, len);
			break;
		case VFU_CMD_DEVICE_RESET:
			p->state = V2_STATE_RUNNING;
			peer_reply(p, &h, NULL, 0);
			break;
		default:
			peer_error(p, &h, ENOSYS);
		}
	}
	free(body);
	return NULL;
}

static uint8_t stream[300 * KIB];

/* A peer serving a device with these flags; its end of the pair to the
 * client. */
static int
peer_start(struct peer *p, uint64_t flags)
{
	int sv[2];
	size_t i;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < sizeof(stream); i++)
		stream[i] = (uint8_t)(i * 13 + i / 4093);
	p->flags = flags;
	p->state = V2_STATE_RUNNING;
	p->src = stream;
	p->src_len = sizeof(stream);
	p->precopy_avail = 100 * KIB;
	p->has_data_size = 1;
	p->major = 0;
	p->minor = 1;
	p->json = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":65536}}";
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p->fd = sv[1];
	ck_assert_int_eq(pthread_create(&p->thread, NULL, peer_main, p), 0);
	return sv[0];
}

static void
peer_fault(struct peer *p, int command, int nth, enum peer_fault fault)
{
	p->fault_command = command;
	p->fault_nth = nth;
	p->fault = fault;
	p->fault_errno = EINVAL;
}

/* After the client closed its end. */
static void
peer_join(struct peer *p)
{
	pthread_join(p->thread, NULL);
	close(p->fd);
	free(p->dst);
}

/* ---- The client alone ------------------------------------------------- */

struct client_fixture {
	struct peer peer;
	struct vfu_client c;
};

static void
client_start(struct client_fixture *f, int timeout_ms)
{
	int fd = peer_start(&f->peer, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY);

	vfu_init(&f->c, fd, "nvme0", timeout_ms, 4 * KIB);
}

static void
client_done(struct client_fixture *f)
{
	vfu_close(&f->c);
	peer_join(&f->peer);
}

START_TEST(test_negotiation)
{
	struct client_fixture f;
	json_t *j;

	client_start(&f, 0);
	ck_assert_int_eq(vfu_negotiate(&f.c), 0);
	ck_assert_uint_eq(f.c.major, 0);
	ck_assert_uint_eq(f.c.minor, 1);
	ck_assert_uint_eq(f.c.max_msg_fds, 8);
	ck_assert_uint_eq(f.c.max_data_xfer, 65536);
	ck_assert_uint_eq(f.c.write_max, 4 * KIB);
	/* What it proposed: a NUL-terminated JSON object with its limits. */
	j = json_loads(f.peer.proposed, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "capabilities"),
			     "max_data_xfer_size")),
	    VFU_MAX_DATA_XFER_DEFAULT);
	json_decref(j);
	client_done(&f);
}
END_TEST

START_TEST(test_negotiation_defaults_and_limits)
{
	struct client_fixture f;

	/* No JSON: the protocol's defaults. */
	client_start(&f, 0);
	f.peer.json = NULL;
	ck_assert_int_eq(vfu_negotiate(&f.c), 0);
	ck_assert_uint_eq(f.c.max_data_xfer, VFU_MAX_DATA_XFER_DEFAULT);
	ck_assert_uint_eq(f.c.max_msg_fds, 1);
	client_done(&f);
	/* A server's limit below the write limit lowers it. */
	client_start(&f, 0);
	f.peer.json = "{\"capabilities\":{\"max_data_xfer_size\":1024}}";
	ck_assert_int_eq(vfu_negotiate(&f.c), 0);
	ck_assert_uint_eq(f.c.max_data_xfer, 1024);
	ck_assert_uint_eq(f.c.write_max, 1024);
	client_done(&f);
	/* Above ours: ours holds. */
	client_start(&f, 0);
	f.peer.json = "{\"capabilities\":{\"max_data_xfer_size\":67108864},\"other\":1}";
	ck_assert_int_eq(vfu_negotiate(&f.c), 0);
	ck_assert_uint_eq(f.c.max_data_xfer, VFU_MAX_DATA_XFER_DEFAULT);
	client_done(&f);
}
END_TEST

static const struct bad_version {
	uint16_t major, minor;
	const char *json;
} bad_versions[] = {
    {1, 0, NULL},
    {0, 2, NULL},
    {0, 1, "{"},
    {0, 1, "[1]"},
    {0, 1, "{\"capabilities\":3}"},
    {0, 1, "{\"capabilities\":{\"max_data_xfer_size\":\"big\"}}"},
    {0, 1, "{\"capabilities\":{\"max_data_xfer_size\":16}}"},
    {0, 1, "{\"capabilities\":{\"max_data_xfer_size\":-1}}"},
    {0, 1, "{\"capabilities\":{\"max_msg_fds\":100000}}"},
    {0, 1, "{\"capabilities\":{},\"capabilities\":{}}"},
};

START_TEST(test_negotiation_refused)
{
	const struct bad_version *b = &bad_versions[_i];
	struct client_fixture f;
	uint64_t sent;

	client_start(&f, 0);
	f.peer.major = b->major;
	f.peer.minor = b->minor;
	f.peer.json = b->json;
	ck_assert_int_eq(vfu_negotiate(&f.c), -EBADMSG);
	ck_assert_int_eq(f.c.fault, VFU_FAULT_PROTOCOL);
	ck_assert_int_eq(vfu_fault_code(&f.c), MIG_E_VFIO_USER_PROTOCOL);
	/* Broken for good: nothing more is sent. */
	sent = f.c.sent_messages;
	ck_assert_int_eq(vfu_reset(&f.c), -EBADMSG);
	ck_assert_uint_eq(f.c.sent_messages, sent);
	client_done(&f);
}
END_TEST

/* Each broken reply, to DEVICE_GET_INFO (the 1st of its command), and the
 * fault it is. */
static const struct bad_reply {
	enum peer_fault fault;
	int err;
	enum vfu_fault kind;
} bad_replies[] = {
    {PF_WRONG_ID, -EBADMSG, VFU_FAULT_PROTOCOL},
    {PF_WRONG_COMMAND, -EBADMSG, VFU_FAULT_PROTOCOL},
    {PF_NOT_REPLY, -EBADMSG, VFU_FAULT_PROTOCOL},
    {PF_SHORT, -EBADMSG, VFU_FAULT_PROTOCOL},
    {PF_OVERSIZED, -EBADMSG, VFU_FAULT_PROTOCOL},
    {PF_ERROR_WITH_PAYLOAD, -EBADMSG, VFU_FAULT_PROTOCOL},
    {PF_HANG_UP, -ECONNRESET, VFU_FAULT_HUNG_UP},
    {PF_STALL, -ETIMEDOUT, VFU_FAULT_TIMEOUT},
};

START_TEST(test_bad_reply)
{
	const struct bad_reply *b = &bad_replies[_i];
	struct client_fixture f;
	uint32_t flags, regions, irqs;
	int codes[] = {0, 0, MIG_E_VFIO_USER_PROTOCOL, MIG_E_VFIO_USER_HUNG_UP,
	    MIG_E_VFIO_USER_TIMEOUT};

	/* A stall waits the timeout out: short here, and not measured. */
	client_start(&f, 200);
	ck_assert_int_eq(vfu_negotiate(&f.c), 0);
	peer_fault(&f.peer, VFU_CMD_DEVICE_GET_INFO, 1, b->fault);
	ck_assert_int_eq(vfu_device_info(&f.c, &flags, &regions, &irqs), b->err);
	ck_assert_int_eq(f.c.fault, b->kind);
	ck_assert_int_eq(vfu_fault_code(&f.c), codes[b->kind]);
	ck_assert_int_eq(vfu_device_info(&f.c, &flags, &regions, &irqs), b->err);
	client_done(&f);
}
END_TEST

START_TEST(test_error_reply_keeps_the_connection)
{
	struct client_fixture f;
	uint32_t flags, regions, irqs;

	client_start(&f, 0);
	ck_assert_int_eq(vfu_negotiate(&f.c), 0);
	peer_fault(&f.peer, VFU_CMD_DEVICE_GET_INFO, 1, PF_ERROR);
	f.peer.fault_errno = EPERM;
	ck_assert_int_eq(vfu_device_info(&f.c, &flags, &regions, &irqs), -EPERM);
	ck_assert_int_eq(f.c.fault, VFU_FAULT_ERROR_REPLY);
	ck_assert_int_eq(vfu_fault_code(&f.c), 0);
	peer_fault(&f.peer, VFU_CMD_DEVICE_GET_INFO, 2, PF_ERROR_NO_ERRNO);
	ck_assert_int_eq(vfu_device_info(&f.c, &flags, &regions, &irqs), -EIO);
	ck_assert_int_eq(vfu_device_info(&f.c, &flags, &regions, &irqs), 0);
	ck_assert_uint_eq(flags, VFU_DEVICE_FLAGS_RESET | VFU_DEVICE_FLAGS_PCI);
	ck_assert_uint_eq(regions, 9);
	ck_assert_uint_eq(irqs, 5);
	ck_assert_int_eq(f.c.fault, VFU_FAULT_NONE);
	client_done(&f);
}
END_TEST

START_TEST(test_feature_checks)
{
	struct client_fixture f;
	uint64_t flags = 0;

	client_start(&f, 0);
	ck_assert_int_eq(vfu_negotiate(&f.c), 0);
	ck_assert_int_eq(vfu_feature(&f.c, VFU_FEATURE_GET | VFU_FEATURE_MIGRATION, NULL, 0, &flags,
			     sizeof(flags)),
	    0);
	ck_assert_uint_eq(flags, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY);
	/* Unknown feature: an error reply, ENOTTY. */
	ck_assert_int_eq(vfu_feature(&f.c, VFU_FEATURE_GET | 42, NULL, 0, &flags, sizeof(flags)),
	    -ENOTTY);
	/* The reply names another feature. */
	peer_fault(&f.peer, VFU_CMD_DEVICE_FEATURE, 3, PF_WRONG_FEATURE);
	ck_assert_int_eq(vfu_feature(&f.c, VFU_FEATURE_GET | VFU_FEATURE_MIGRATION, NULL, 0, &flags,
			     sizeof(flags)),
	    -EBADMSG);
	client_done(&f);
}
END_TEST

START_TEST(test_read_pieces_and_short_end)
{
	struct client_fixture f;
	static uint8_t buf[64 * KIB];
	uint32_t got;

	client_start(&f, 0);
	f.peer.pad_reads = _i;
	ck_assert_int_eq(vfu_negotiate(&f.c), 0);
	/* Above the negotiated maximum: refused before anything is sent. */
	ck_assert_int_eq(vfu_mig_read(&f.c, buf, 65537, &got), -EINVAL);
	ck_assert_int_eq(f.peer.requests, 1);
	f.peer.state = V2_STATE_STOP_COPY;
	f.peer.src_len = 70 * KIB;
	ck_assert_int_eq(vfu_mig_read(&f.c, buf, 64 * KIB, &got), 0);
	ck_assert_uint_eq(got, 64 * KIB);
	ck_assert_mem_eq(buf, stream, 64 * KIB);
	ck_assert_int_eq(vfu_mig_read(&f.c, buf, 64 * KIB, &got), 0);
	ck_assert_uint_eq(got, 6 * KIB);
	ck_assert_mem_eq(buf, stream + 64 * KIB, 6 * KIB);
	ck_assert_int_eq(vfu_mig_read(&f.c, buf, 64 * KIB, &got), 0);
	ck_assert_uint_eq(got, 0);
	/* More than was asked for. */
	peer_fault(&f.peer, VFU_CMD_MIG_DATA_READ, 4, PF_READ_TOO_MUCH);
	ck_assert_int_eq(vfu_mig_read(&f.c, buf, 1024, &got), -EBADMSG);
	client_done(&f);
}
END_TEST

START_TEST(test_write_pieces)
{
	struct client_fixture f;

	client_start(&f, 0);
	ck_assert_int_eq(vfu_negotiate(&f.c), 0);
	f.peer.state = V2_STATE_RESUMING;
	ck_assert_int_eq(vfu_mig_write(&f.c, stream, 10 * KIB + 5), 0);
	ck_assert_uint_eq(f.peer.dst_len, 10 * KIB + 5);
	ck_assert_mem_eq(f.peer.dst, stream, 10 * KIB + 5);
	ck_assert_uint_eq(f.peer.largest_write, 4 * KIB);
	ck_assert_int_eq(f.peer.count[VFU_CMD_MIG_DATA_WRITE], 3);
	/* The server refuses one piece: its errno, the rest not sent. */
	peer_fault(&f.peer, VFU_CMD_MIG_DATA_WRITE, 5, PF_ERROR);
	f.peer.fault_errno = ENOSPC;
	ck_assert_int_eq(vfu_mig_write(&f.c, stream, 20 * KIB), -ENOSPC);
	ck_assert_int_eq(f.peer.count[VFU_CMD_MIG_DATA_WRITE], 5);
	ck_assert_int_eq(f.peer.short_reads, 0);
	client_done(&f);
}
END_TEST

/* ---- The backend through the v2 driver -------------------------------- */

struct dev_fixture {
	struct peer peer;
	struct mig_device dev;
	char name[16];
};

static int
dev_open(struct dev_fixture *f, uint64_t flags, uint32_t write_max)
{
	int fd;

	memset(&f->dev, 0, sizeof(f->dev));
	snprintf(f->name, sizeof(f->name), "nvme0");
	f->dev.name = f->name;
	fd = peer_start(&f->peer, flags);
	return vfio_user_backend_adopt(&f->dev, fd, write_max, 300);
}

static void
dev_close(struct dev_fixture *f)
{
	f->dev.ops->close(&f->dev);
	peer_join(&f->peer);
}

/* Everything a save moves, until save_next says 0. */
static size_t
save_all(struct mig_device *dev, uint8_t *out, size_t cap)
{
	uint64_t size;
	size_t total = 0;

	for (;;) {
		ck_assert_int_eq(dev->ops->save_next(dev, &size), 0);
		if (size == 0)
			return total;
		ck_assert_uint_le(total + size, cap);
		ck_assert_int_eq(dev->ops->save_read(dev, 0, out + total, size), 0);
		total += size;
	}
}

START_TEST(test_migrate_through_the_planner)
{
	static uint8_t saved[sizeof(stream)];
	struct dev_fixture src, dst;
	uint64_t pending, initial;
	size_t n;

	ck_assert_int_eq(dev_open(&src, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY | V2_MIG_P2P, 0), 0);
	ck_assert_str_eq(src.dev.backend, "vfio-user");
	/* No P2P in vfio-user, whatever the server says. */
	ck_assert_int_eq(src.dev.p2p, 0);
	ck_assert_ptr_null(src.dev.ops->quiesce);
	ck_assert_uint_eq(src.dev.state_size, sizeof(stream));
	ck_assert_int_eq(src.dev.ops->save_begin(&src.dev, 1), 0);
	ck_assert_str_eq(src.dev.ops->state_name(&src.dev), "pre-copy");
	/* Before any read, the initial data is not known to be read. */
	ck_assert_int_eq(src.dev.ops->initial_pending(&src.dev, &initial), 0);
	ck_assert_uint_gt(initial, 0);
	n = save_all(&src.dev, saved, sizeof(saved));
	ck_assert_uint_eq(n, 100 * KIB);
	ck_assert_int_eq(src.dev.ops->initial_pending(&src.dev, &initial), 0);
	ck_assert_uint_eq(initial, 0);
	ck_assert_int_eq(src.dev.ops->pending(&src.dev, &pending), 0);
	ck_assert_uint_eq(pending, 0);
	ck_assert_int_eq(src.dev.ops->save_stop(&src.dev), 0);
	n += save_all(&src.dev, saved + n, sizeof(saved) - n);
	ck_assert_uint_eq(n, sizeof(stream));
	ck_assert_int_eq(src.dev.ops->save_end(&src.dev), 0);
	ck_assert_uint_eq(src.peer.state, V2_STATE_STOP);
	ck_assert_uint_le(src.peer.largest_read, 65536);

	ck_assert_int_eq(dev_open(&dst, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY, 8 * KIB), 0);
	ck_assert_int_eq(dst.dev.ops->resume_begin(&dst.dev), 0);
	ck_assert_int_eq(dst.dev.ops->resume_write(&dst.dev, saved, n), 0);
	ck_assert_int_eq(dst.dev.ops->resume_commit(&dst.dev), 0);
	ck_assert_int_eq(dst.dev.ops->resume_end(&dst.dev), 0);
	ck_assert_uint_eq(dst.peer.dst_len, sizeof(stream));
	ck_assert_mem_eq(dst.peer.dst, stream, sizeof(stream));
	ck_assert_uint_eq(dst.peer.largest_write, 8 * KIB);
	ck_assert_int_eq(dst.peer.short_reads, 0);
	/* One arc per SET, as the planner chose them. */
	ck_assert_int_eq(dst.peer.narcs, 4);
	ck_assert_uint_eq(dst.peer.arcs[0][1], V2_STATE_STOP);
	ck_assert_uint_eq(dst.peer.arcs[1][1], V2_STATE_RESUMING);
	ck_assert_uint_eq(dst.peer.arcs[2][1], V2_STATE_STOP);
	ck_assert_uint_eq(dst.peer.arcs[3][1], V2_STATE_RUNNING);
	dev_close(&src);
	dev_close(&dst);
}
END_TEST

START_TEST(test_hang_up_mid_save_names_its_error)
{
	struct dev_fixture f;
	uint64_t size;

	ck_assert_int_eq(dev_open(&f, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY, 0), 0);
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 0), 0);
	peer_fault(&f.peer, VFU_CMD_MIG_DATA_READ, 2, PF_HANG_UP);
	ck_assert_int_eq(f.dev.ops->save_next(&f.dev, &size), -ECONNRESET);
	ck_assert_int_eq(device_error_code(&f.dev, MIG_E_DEVICE_IO), MIG_E_VFIO_USER_HUNG_UP);
	/* The rollback cannot reach the device: it fails, nothing hangs. */
	ck_assert_int_ne(f.dev.ops->rollback(&f.dev), 0);
	dev_close(&f);
}
END_TEST

START_TEST(test_refused_arc_reads_the_state_back)
{
	struct dev_fixture f;

	ck_assert_int_eq(dev_open(&f, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY, 0), 0);
	/* RUNNING -> PRE_COPY refused with EIO: an error reply, the device
	 * read back as running, the code the engine's own. (The save asks
	 * MIG_DATA_SIZE first, then sets the state.) */
	peer_fault(&f.peer, VFU_CMD_DEVICE_FEATURE, f.peer.count[VFU_CMD_DEVICE_FEATURE] + 2,
	    PF_ERROR);
	f.peer.fault_errno = EIO;
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), -EIO);
	ck_assert_str_eq(f.dev.ops->state_name(&f.dev), "running");
	ck_assert_int_eq(device_error_code(&f.dev, MIG_E_DEVICE_STATE), MIG_E_DEVICE_STATE);
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), 0);
	ck_assert_int_eq(f.dev.ops->rollback(&f.dev), 0);
	ck_assert_uint_eq(f.peer.state, V2_STATE_RUNNING);
	dev_close(&f);
}
END_TEST

START_TEST(test_adopt_refuses_what_is_not_vfio_user)
{
	struct mig_device dev;
	int sv[2];

	memset(&dev, 0, sizeof(dev));
	dev.name = (char *)"x";
	/* A peer that hangs up at once: the fd stays the caller's. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	ck_assert_int_eq(vfio_user_backend_adopt(&dev, sv[0], 0, 300), -ECONNRESET);
	ck_assert_int_ge(fcntl(sv[0], F_GETFD), 0);
	close(sv[0]);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("vfio_user");
	TCase *client = tcase_create("client");
	TCase *backend = tcase_create("backend");

	tcase_add_test(client, test_negotiation);
	tcase_add_test(client, test_negotiation_defaults_and_limits);
	tcase_add_loop_test(client, test_negotiation_refused, 0,
	    sizeof(bad_versions) / sizeof(bad_versions[0]));
	tcase_add_loop_test(client, test_bad_reply, 0,
	    sizeof(bad_replies) / sizeof(bad_replies[0]));
	tcase_add_test(client, test_error_reply_keeps_the_connection);
	tcase_add_test(client, test_feature_checks);
	tcase_add_loop_test(client, test_read_pieces_and_short_end, 0, 2);
	tcase_add_test(client, test_write_pieces);
	tcase_add_test(backend, test_migrate_through_the_planner);
	tcase_add_test(backend, test_hang_up_mid_save_names_its_error);
	tcase_add_test(backend, test_refused_arc_reads_the_state_back);
	tcase_add_test(backend, test_adopt_refuses_what_is_not_vfio_user);
	tcase_set_timeout(client, 60);
	tcase_set_timeout(backend, 60);
	suite_add_tcase(s, client);
	suite_add_tcase(s, backend);
	return tu_run_suite(s);
}
