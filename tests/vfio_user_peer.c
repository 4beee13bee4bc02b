/*
 * vfio_user_peer.c: the scripted vfio-user server of the unit tests
 * (vfio_user_peer.h).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "v2_fsm.h"
#include "vfio_user.h"
#include "vfio_user_peer.h"
#include "xmalloc.h"

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
	if (fault == PF_STALL_MID || fault == PF_HANG_UP_MID) {
		/* The header and half of the payload, then nothing (or the end). */
		ck_assert_int_eq(send(p->fd, buf, sizeof(h) + len / 2, MSG_NOSIGNAL),
		    (ssize_t)(sizeof(h) + len / 2));
		if (fault == PF_HANG_UP_MID)
			shutdown(p->fd, SHUT_RDWR);
		free(buf);
		return;
	}
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

/* DMA_LOGGING_START (SET): page size, ranges, reserved zero. */
static void
peer_log_start(struct peer *p, const struct hdr *req, const uint8_t *body, size_t len)
{
	uint8_t out[16 + 8 + 16 * PEER_LOG_MAX];
	uint32_t n, i;

	if (len < 24 || p->logging) {
		peer_error(p, req, EINVAL);
		return;
	}
	memcpy(&n, body + 16, 4);
	ck_assert_uint_ge(n, 1);
	ck_assert_uint_le(n, PEER_LOG_MAX);
	ck_assert_uint_eq(len, 24 + (size_t)n * 16);
	memcpy(&p->log_page_size, body + 8, 8);
	for (i = 0; i < n; i++)
		memcpy(p->log_ranges[i], body + 24 + i * 16, 16);
	p->log_nranges = n;
	p->logging = 1;
	memcpy(out, body, len);
	if (p->log_page_reply != 0)
		memcpy(out + 8, &p->log_page_reply, 8);
	peer_reply(p, req, out, len);
}

/* DMA_LOGGING_REPORT (GET) of a window inside one logged range. */
static void
peer_log_report(struct peer *p, const struct hdr *req, const uint8_t *body, size_t len)
{
	uint64_t r[3], words, bit;
	uint8_t *out;
	uint32_t i, inside = 0;
	size_t d;

	ck_assert_uint_eq(len, 32);
	memcpy(r, body + 8, sizeof(r));
	if (p->nreports < PEER_LOG_MAX)
		memcpy(p->reports[p->nreports++], r, sizeof(r));
	for (i = 0; i < p->log_nranges; i++)
		if (r[0] >= p->log_ranges[i][0] &&
		    r[0] + r[1] <= p->log_ranges[i][0] + p->log_ranges[i][1])
			inside = 1;
	if (!p->logging || !inside || r[2] == 0 || r[1] % r[2] != 0) {
		peer_error(p, req, EINVAL);
		return;
	}
	words = (r[1] / r[2] + 63) / 64;
	out = xcalloc(1, 32 + words * 8);
	memcpy(out, body, 32);
	for (d = 0; d < p->ndirty; d++) {
		if (p->dirty[d] < r[0] || p->dirty[d] >= r[0] + r[1])
			continue;
		bit = (p->dirty[d] - r[0]) / r[2];
		out[32 + bit / 8] |= (uint8_t)(1u << (bit % 8));
	}
	peer_reply(p, req, out, 32 + words * 8);
	free(out);
}

static int
peer_log_feature(struct peer *p, const struct hdr *req, const uint8_t *body, size_t len,
    uint32_t flags)
{
	uint32_t index = flags & VFU_FEATURE_MASK;

	if (!p->has_logging ||
	    (index != VFU_FEATURE_DMA_LOGGING_START && index != VFU_FEATURE_DMA_LOGGING_STOP &&
		index != VFU_FEATURE_DMA_LOGGING_REPORT))
		return 0;
	if (flags & VFU_FEATURE_PROBE)
		peer_reply(p, req, body, 8);
	else if (index == VFU_FEATURE_DMA_LOGGING_START && (flags & VFU_FEATURE_SET))
		peer_log_start(p, req, body, len);
	else if (index == VFU_FEATURE_DMA_LOGGING_REPORT && (flags & VFU_FEATURE_GET))
		peer_log_report(p, req, body, len);
	else if (index == VFU_FEATURE_DMA_LOGGING_STOP && (flags & VFU_FEATURE_SET) && p->logging) {
		p->logging = 0;
		peer_reply(p, req, body, len);
	} else
		peer_error(p, req, EINVAL);
	return 1;
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
	if (peer_log_feature(p, req, body, len, head[1]))
		return;
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

int
peer_start(struct peer *p, uint64_t flags, const uint8_t *src, size_t len)
{
	int sv[2];

	memset(p, 0, sizeof(*p));
	p->flags = flags;
	p->state = V2_STATE_RUNNING;
	p->src = src;
	p->src_len = len;
	p->precopy_avail = 100 * 1024;
	p->has_data_size = 1;
	p->major = 0;
	p->minor = 1;
	p->json = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":65536}}";
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p->fd = sv[1];
	ck_assert_int_eq(pthread_create(&p->thread, NULL, peer_main, p), 0);
	return sv[0];
}

void
peer_set_fault(struct peer *p, int command, int nth, enum peer_fault fault)
{
	p->fault_command = command;
	p->fault_nth = nth;
	p->fault = fault;
	p->fault_errno = EINVAL;
}

void
peer_join(struct peer *p)
{
	pthread_join(p->thread, NULL);
	close(p->fd);
	free(p->dst);
}
