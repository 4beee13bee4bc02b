/*
 * vfio_user.c: the client side of the vfio-user protocol (vfio_user.h).
 *
 * It owns the socket's byte stream: framing a request into one sendmsg(),
 * reading its reply within the deadline, and checking the reply before
 * anything uses it. It knows the layout of the messages it sends, never
 * what a device does with them (backend_vfio_user.c), and must never block
 * past timeout_ms nor read a byte past what the header announced.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "clock.h"
#include "errors.h"
#include "log.h"
#include "vfio_user.h"
#include "xmalloc.h"

struct vfu_header {
	uint16_t id;
	uint16_t command;
	uint32_t size;
	uint32_t flags;
	uint32_t error;
};
_Static_assert(sizeof(struct vfu_header) == VFU_HEADER_SIZE, "vfio-user header");

/* What a reply to one request may be: its payload's bounds. */
struct vfu_expect {
	size_t min, max;
};

void
vfu_init(struct vfu_client *c, int fd, const char *name, int timeout_ms, uint32_t write_max)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->name = name;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : VFU_TIMEOUT_MS_DEFAULT;
	c->max_msg_fds = 1;
	c->max_data_xfer = VFU_MAX_DATA_XFER_DEFAULT;
	c->write_max = write_max != 0 ? write_max : VFU_WRITE_MAX_DEFAULT;
	c->reply = xmalloc(VFU_REPLY_MAX);
	/* A server that reads nothing must not hold a sendmsg() forever. The
	 * timeout is the socket's, not our descriptor's: a VMM that handed
	 * its socket over shares it until vfu_close puts its own back. */
	if (fd >= 0) {
		struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
		socklen_t len = sizeof(c->sndtimeo_before);

		c->sndtimeo_saved = getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &c->sndtimeo_before,
		    &len) == 0 && len == sizeof(c->sndtimeo_before);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
}

void
vfu_release(struct vfu_client *c)
{
	if (c->fd >= 0 && c->sndtimeo_saved)
		(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &c->sndtimeo_before,
		    sizeof(c->sndtimeo_before));
	c->sndtimeo_saved = 0;
	c->fd = -1;
}

void
vfu_disconnect(struct vfu_client *c, enum vfu_fault fault)
{
	int fd = c->fd;

	vfu_release(c);
	if (fd >= 0)
		close(fd);
	if (fault != VFU_FAULT_NONE)
		c->fault = fault;
	if (__atomic_load_n(&c->broken, __ATOMIC_RELAXED) == VFU_FAULT_NONE)
		__atomic_store_n(&c->broken, c->fault != VFU_FAULT_NONE ? c->fault
		    : VFU_FAULT_HUNG_UP, __ATOMIC_RELAXED);
}

void
vfu_close(struct vfu_client *c)
{
	int fd = c->fd;

	vfu_release(c);
	if (fd >= 0)
		close(fd);
	c->fd = -1;
	free(c->reply);
	c->reply = NULL;
}

int
vfu_connect_path(const char *path)
{
	struct sockaddr_un sa;
	int fd, err;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int
vfu_connected(const struct vfu_client *c)
{
	return __atomic_load_n(&c->broken, __ATOMIC_RELAXED) == VFU_FAULT_NONE;
}

const char *
vfu_fault_name(enum vfu_fault f)
{
	switch (f) {
	case VFU_FAULT_NONE:
		return "none";
	case VFU_FAULT_ERROR_REPLY:
		return "error reply";
	case VFU_FAULT_PROTOCOL:
		return "protocol violation";
	case VFU_FAULT_HUNG_UP:
		return "hung up";
	case VFU_FAULT_TIMEOUT:
		return "timeout";
	}
	return "?";
}

int
vfu_fault_code(const struct vfu_client *c)
{
	switch (c->fault) {
	case VFU_FAULT_PROTOCOL:
		return MIG_E_VFIO_USER_PROTOCOL;
	case VFU_FAULT_HUNG_UP:
		return MIG_E_VFIO_USER_HUNG_UP;
	case VFU_FAULT_TIMEOUT:
		return MIG_E_VFIO_USER_TIMEOUT;
	default:
		return 0;
	}
}

static int
vfu_errno_of(enum vfu_fault f)
{
	switch (f) {
	case VFU_FAULT_PROTOCOL:
		return -EBADMSG;
	case VFU_FAULT_HUNG_UP:
		return -ECONNRESET;
	case VFU_FAULT_TIMEOUT:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

/* A fault that loses the stream: logged once, and every later call fails. */
static int __attribute__((format(printf, 3, 4)))
vfu_fail(struct vfu_client *c, enum vfu_fault f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fault_what, sizeof(c->fault_what), fmt, ap);
	va_end(ap);
	c->fault = f;
	/* GET /v1/devices reads it from the loop (vfu_connected). */
	__atomic_store_n(&c->broken, f, __ATOMIC_RELAXED);
	log_warnx("device %s: vfio-user %s: %s; the connection is given up", c->name,
	    vfu_fault_name(f), c->fault_what);
	return vfu_errno_of(f);
}

int
vfu_check_idle(struct vfu_client *c)
{
	struct pollfd pfd = {c->fd, POLLIN, 0};
	uint8_t byte;
	ssize_t n;

	if (c->fd < 0 || !vfu_connected(c) || poll(&pfd, 1, 0) <= 0)
		return 0;
	if (pfd.revents & POLLIN) {
		n = recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n > 0)
			return vfu_fail(c, VFU_FAULT_PROTOCOL,
			    "the server sent a message unasked, between calls");
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
	}
	return vfu_fail(c, VFU_FAULT_HUNG_UP, "the server closed the connection between calls");
}

/* The request in one sendmsg(): header, fixed part, data. */
static int
vfu_send(struct vfu_client *c, uint16_t command, const void *req, size_t reqlen, const void *data,
    size_t datalen)
{
	struct vfu_header h = {0};
	struct iovec iov[3];
	struct msghdr msg;
	size_t total = sizeof(h) + reqlen + datalen;
	ssize_t n;

	h.id = c->next_id++;
	h.command = command;
	h.size = (uint32_t)total;
	h.flags = VFU_FLAG_TYPE_COMMAND;
	iov[0] = (struct iovec){&h, sizeof(h)};
	iov[1] = (struct iovec){(void *)(uintptr_t)req, reqlen};
	iov[2] = (struct iovec){(void *)(uintptr_t)data, datalen};
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = 3;
	do
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
		return vfu_fail(c, VFU_FAULT_HUNG_UP, "sending command %u", command);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return vfu_fail(c, VFU_FAULT_TIMEOUT,
		    "sending command %u: the server reads nothing", command);
	if (n < 0)
		return vfu_fail(c, VFU_FAULT_HUNG_UP, "sending command %u: %s", command,
		    strerror(errno));
	/* Never a second sendmsg for the rest: the server would read a
	 * torn body. */
	if ((size_t)n != total)
		return vfu_fail(c, VFU_FAULT_TIMEOUT, "command %u: %zd of %zu bytes sent", command,
		    n, total);
	c->sent_messages++;
	return h.id;
}

/* Exactly len bytes of the reply by the deadline. */
static int
vfu_recv_exact(struct vfu_client *c, void *buf, size_t len, uint64_t deadline_ns, const char *what)
{
	uint8_t *p = buf;
	size_t have = 0;
	struct pollfd pfd;
	uint64_t now;
	ssize_t n;
	int wait_ms;

	while (have < len) {
		now = mono_ns();
		if (now >= deadline_ns)
			return vfu_fail(c, VFU_FAULT_TIMEOUT, "%s: %zu of %zu bytes within %d ms",
			    what, have, len, c->timeout_ms);
		wait_ms = (int)((deadline_ns - now + 999999) / 1000000);
		pfd = (struct pollfd){c->fd, POLLIN, 0};
		n = poll(&pfd, 1, wait_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vfu_fail(c, VFU_FAULT_HUNG_UP, "%s: poll: %s", what,
			    strerror(errno));
		if (n == 0)
			continue;
		n = recv(c->fd, p + have, len - have, MSG_DONTWAIT);
		if (n == 0)
			return vfu_fail(c, VFU_FAULT_HUNG_UP,
			    "%s: the server closed the socket after "
			    "%zu of %zu bytes",
			    what, have, len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0)
			return vfu_fail(c, VFU_FAULT_HUNG_UP, "%s: %s", what, strerror(errno));
		have += (size_t)n;
	}
	return 0;
}

/*
 * One request and its reply: the payload (header stripped) in c->reply,
 * its length in *got. An error reply returns the server's -errno with the
 * connection intact; anything else that is wrong breaks it.
 */
static int
vfu_call(struct vfu_client *c, uint16_t command, const void *req, size_t reqlen, const void *data,
    size_t datalen, struct vfu_expect expect, size_t *got)
{
	struct vfu_header h;
	uint64_t deadline;
	size_t body;
	int id, err;

	*got = 0;
	c->fault = VFU_FAULT_NONE;
	if (c->broken != VFU_FAULT_NONE) {
		c->fault = c->broken;
		return vfu_errno_of(c->broken);
	}
	if ((id = vfu_send(c, command, req, reqlen, data, datalen)) < 0)
		return id;
	deadline = mono_ns() + (uint64_t)c->timeout_ms * 1000000ull;
	if ((err = vfu_recv_exact(c, &h, sizeof(h), deadline, "reply header")) != 0)
		return err;
	if (h.size < VFU_HEADER_SIZE)
		return vfu_fail(c, VFU_FAULT_PROTOCOL,
		    "reply to command %u says it is %u bytes, "
		    "less than its header",
		    command, h.size);
	if ((h.flags & VFU_FLAG_TYPE_MASK) != VFU_FLAG_TYPE_REPLY)
		return vfu_fail(c, VFU_FAULT_PROTOCOL,
		    "a message of command %u, flags 0x%x, where "
		    "the reply to command %u was due",
		    h.command, h.flags, command);
	if (h.id != (uint16_t)id)
		return vfu_fail(c, VFU_FAULT_PROTOCOL, "reply with message id %u to request %d",
		    h.id, id);
	if (h.command != command)
		return vfu_fail(c, VFU_FAULT_PROTOCOL, "reply of command %u to command %u",
		    h.command, command);
	body = h.size - VFU_HEADER_SIZE;
	if (h.flags & VFU_FLAG_ERROR) {
		/* The protocol: an error reply is the header alone. */
		if (body != 0)
			return vfu_fail(c, VFU_FAULT_PROTOCOL,
			    "error reply to command %u with %zu "
			    "bytes of payload",
			    command, body);
		c->fault = VFU_FAULT_ERROR_REPLY;
		snprintf(c->fault_what, sizeof(c->fault_what), "command %u: %s", command,
		    h.error != 0 ? strerror((int)h.error) : "error without errno");
		return h.error != 0 && h.error < 4096 ? -(int)h.error : -EIO;
	}
	if (body > expect.max)
		return vfu_fail(c, VFU_FAULT_PROTOCOL,
		    "oversized reply to command %u: %zu bytes of "
		    "payload, at most %zu allowed",
		    command, body, expect.max);
	if (body < expect.min)
		return vfu_fail(c, VFU_FAULT_PROTOCOL,
		    "short reply to command %u: %zu bytes of "
		    "payload, at least %zu needed",
		    command, body, expect.min);
	if ((err = vfu_recv_exact(c, c->reply, body, deadline, "reply payload")) != 0)
		return err;
	*got = body;
	return 0;
}

/* ---- VERSION ------------------------------------------------------------ */

struct vfu_version {
	uint16_t major, minor;
};

/* A capability the server may give: absent, or an integer in [min, max]. */
static int
vfu_cap_number(struct vfu_client *c, json_t *caps, const char *key, uint64_t min, uint64_t max,
    uint64_t *value)
{
	json_t *v = json_object_get(caps, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < min || (uint64_t)json_integer_value(v) > max)
		return vfu_fail(c, VFU_FAULT_PROTOCOL,
		    "VERSION reply: capability %s must be an "
		    "integer in [%llu, %llu]",
		    key, (unsigned long long)min, (unsigned long long)max);
	*value = (uint64_t)json_integer_value(v);
	return 0;
}

static int
vfu_parse_caps(struct vfu_client *c, const uint8_t *json, size_t len)
{
	uint64_t fds = 1, xfer = VFU_MAX_DATA_XFER_DEFAULT, pgsizes = 4096;
	json_t *root, *caps;
	json_error_t jerr;
	int err = 0;

	/* The text ends with its NUL; nothing after it. */
	if (len > 0 && json[len - 1] == '\0')
		len--;
	if (len == 0)
		return 0;
	if (memchr(json, '\0', len) != NULL)
		return vfu_fail(c, VFU_FAULT_PROTOCOL, "VERSION reply: NUL inside the JSON");
	if ((root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return vfu_fail(c, VFU_FAULT_PROTOCOL, "VERSION reply: JSON: %s", jerr.text);
	caps = json_object_get(root, "capabilities");
	if (!json_is_object(root) || (caps != NULL && !json_is_object(caps))) {
		json_decref(root);
		return vfu_fail(c, VFU_FAULT_PROTOCOL,
		    "VERSION reply: capabilities is not an "
		    "object");
	}
	if (caps != NULL &&
	    ((err = vfu_cap_number(c, caps, "max_msg_fds", 0, 1024, &fds)) != 0 ||
		(err = vfu_cap_number(c, caps, "max_data_xfer_size", VFU_MAX_DATA_XFER_MIN,
		     UINT32_MAX, &xfer)) != 0 ||
		(err = vfu_cap_number(c, caps, "pgsizes", 1, UINT64_MAX >> 1, &pgsizes)) != 0)) {
		json_decref(root);
		return err;
	}
	json_decref(root);
	c->max_msg_fds = (uint32_t)fds;
	/* Both limits hold: the server's, and ours (what we proposed). */
	c->max_data_xfer = xfer < VFU_MAX_DATA_XFER_DEFAULT ? (uint32_t)xfer
							    : VFU_MAX_DATA_XFER_DEFAULT;
	c->pgsizes = pgsizes;
	if (c->write_max > c->max_data_xfer)
		c->write_max = c->max_data_xfer;
	return 0;
}

int
vfu_negotiate(struct vfu_client *c)
{
	char json[160];
	struct vfu_version v = {VFU_VERSION_MAJOR, VFU_VERSION_MINOR}, r;
	struct vfu_expect expect = {sizeof(r), sizeof(r) + VFU_VERSION_JSON_MAX};
	size_t got;
	int n, err;

	n = snprintf(json, sizeof(json),
	    "{\"capabilities\":{\"max_msg_fds\":1,\"max_data_xfer_size\":%u}}",
	    VFU_MAX_DATA_XFER_DEFAULT);
	if ((err = vfu_call(c, VFU_CMD_VERSION, &v, sizeof(v), json, (size_t)n + 1, expect,
		 &got)) != 0)
		return err;
	memcpy(&r, c->reply, sizeof(r));
	if (r.major != VFU_VERSION_MAJOR || r.minor > VFU_VERSION_MINOR)
		return vfu_fail(c, VFU_FAULT_PROTOCOL,
		    "VERSION reply %u.%u to our %u.%u (same "
		    "major, minor not above ours)",
		    r.major, r.minor, VFU_VERSION_MAJOR, VFU_VERSION_MINOR);
	c->major = r.major;
	c->minor = r.minor;
	return vfu_parse_caps(c, c->reply + sizeof(r), got - sizeof(r));
}

void
vfu_assume_negotiated(struct vfu_client *c, uint32_t max_data_xfer)
{
	c->major = VFU_VERSION_MAJOR;
	c->minor = VFU_VERSION_MINOR;
	c->max_data_xfer = max_data_xfer < VFU_MAX_DATA_XFER_DEFAULT ? max_data_xfer
								     : VFU_MAX_DATA_XFER_DEFAULT;
	if (c->write_max > c->max_data_xfer)
		c->write_max = c->max_data_xfer;
}

/* ---- Device ------------------------------------------------------------- */

struct vfu_device_info {
	uint32_t argsz, flags, num_regions, num_irqs;
};

int
vfu_device_info(struct vfu_client *c, uint32_t *flags, uint32_t *num_regions, uint32_t *num_irqs)
{
	struct vfu_device_info req = {sizeof(req), 0, 0, 0}, rep;
	struct vfu_expect expect = {sizeof(rep), sizeof(rep)};
	size_t got;
	int err;

	if ((err = vfu_call(c, VFU_CMD_DEVICE_GET_INFO, &req, sizeof(req), NULL, 0, expect,
		 &got)) != 0)
		return err;
	memcpy(&rep, c->reply, sizeof(rep));
	if (rep.argsz < sizeof(rep))
		return vfu_fail(c, VFU_FAULT_PROTOCOL, "DEVICE_GET_INFO reply: argsz %u below %zu",
		    rep.argsz, sizeof(rep));
	*flags = rep.flags;
	*num_regions = rep.num_regions;
	*num_irqs = rep.num_irqs;
	return 0;
}

int
vfu_reset(struct vfu_client *c)
{
	struct vfu_expect expect = {0, 0};
	size_t got;

	return vfu_call(c, VFU_CMD_DEVICE_RESET, NULL, 0, NULL, 0, expect, &got);
}

struct vfu_feature_head {
	uint32_t argsz, flags;
};

int
vfu_feature(struct vfu_client *c, uint32_t flags, const void *in, size_t inlen, void *out,
    size_t outlen)
{
	struct vfu_feature_head head, rep;
	/* SET and PROBE echo the request; GET adds its data. */
	size_t data = (flags & VFU_FEATURE_GET) && !(flags & VFU_FEATURE_PROBE) ? outlen : inlen;
	struct vfu_expect expect = {sizeof(rep) + data, sizeof(rep) + data};
	size_t got;
	int err;

	if (sizeof(head) + data > VFU_REPLY_MAX)
		return -EINVAL;
	head.argsz = (uint32_t)(sizeof(head) + data);
	head.flags = flags;
	if ((err = vfu_call(c, VFU_CMD_DEVICE_FEATURE, &head, sizeof(head), in, inlen, expect,
		 &got)) != 0)
		return err;
	memcpy(&rep, c->reply, sizeof(rep));
	if ((rep.flags & VFU_FEATURE_MASK) != (flags & VFU_FEATURE_MASK))
		return vfu_fail(c, VFU_FAULT_PROTOCOL,
		    "DEVICE_FEATURE reply for feature %u to a "
		    "request for feature %u",
		    rep.flags & VFU_FEATURE_MASK, flags & VFU_FEATURE_MASK);
	if (out != NULL && outlen > 0)
		memcpy(out, c->reply + sizeof(rep), outlen < data ? outlen : data);
	return 0;
}

/* ---- Migration data ----------------------------------------------------- */

struct vfu_mig_data {
	uint32_t argsz, size;
};

int
vfu_mig_read(struct vfu_client *c, void *buf, uint32_t len, uint32_t *got)
{
	struct vfu_mig_data req, rep;
	/* libvfio-user sends the whole requested length, zero-padded past
	 * what it read; `size` says how much is data. */
	struct vfu_expect expect = {sizeof(rep), sizeof(rep) + (size_t)len};
	size_t body;
	int err;

	*got = 0;
	if (len > c->max_data_xfer)
		return -EINVAL;
	req.argsz = (uint32_t)sizeof(req) + len;
	req.size = len;
	if ((err = vfu_call(c, VFU_CMD_MIG_DATA_READ, &req, sizeof(req), NULL, 0, expect, &body)) !=
	    0)
		return err;
	memcpy(&rep, c->reply, sizeof(rep));
	if (rep.size > len)
		return vfu_fail(c, VFU_FAULT_PROTOCOL,
		    "MIG_DATA_READ reply of %u bytes to a read "
		    "of %u",
		    rep.size, len);
	if (body < sizeof(rep) + rep.size)
		return vfu_fail(c, VFU_FAULT_PROTOCOL,
		    "short MIG_DATA_READ reply: it says %u bytes "
		    "and carries %zu",
		    rep.size, body - sizeof(rep));
	memcpy(buf, c->reply + sizeof(rep), rep.size);
	*got = rep.size;
	return 0;
}

int
vfu_mig_write(struct vfu_client *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	struct vfu_mig_data req;
	struct vfu_expect expect = {0, 0};
	uint32_t piece;
	size_t got;
	int err;

	while (len > 0) {
		piece = len > c->write_max ? c->write_max : (uint32_t)len;
		/* libvfio-user wants argsz to cover the data too. */
		req.argsz = (uint32_t)sizeof(req) + piece;
		req.size = piece;
		if ((err = vfu_call(c, VFU_CMD_MIG_DATA_WRITE, &req, sizeof(req), p, piece, expect,
			 &got)) != 0)
			return err;
		p += piece;
		len -= piece;
	}
	return 0;
}

/* ---- DMA logging -------------------------------------------------------- */

struct vfu_log_report {
	uint64_t iova, length, page_size;
};

int
vfu_log_report(struct vfu_client *c, uint64_t iova, uint64_t length, uint64_t page_size,
    uint64_t *bitmap)
{
	struct vfu_feature_head head, rep;
	struct vfu_log_report r;
	uint64_t pages, step, done = 0, bytes;
	struct vfu_expect expect;
	size_t got;
	int err;

	if (page_size == 0 || (page_size & (page_size - 1)) != 0 || length % page_size != 0)
		return -EINVAL;
	pages = length / page_size;
	/* Pages per request: a whole number of u64 words within the limit. */
	step = (uint64_t)(c->max_data_xfer - sizeof(rep) - sizeof(r)) / 8 * 64;
	while (done < pages) {
		r.iova = iova + done * page_size;
		r.page_size = page_size;
		r.length = (pages - done < step ? pages - done : step) * page_size;
		bytes = (r.length / page_size + 63) / 64 * 8;
		head.argsz = (uint32_t)(sizeof(head) + sizeof(r) + bytes);
		head.flags = VFU_FEATURE_GET | VFU_FEATURE_DMA_LOGGING_REPORT;
		expect.min = expect.max = sizeof(rep) + sizeof(r) + bytes;
		if ((err = vfu_call(c, VFU_CMD_DEVICE_FEATURE, &head, sizeof(head), &r, sizeof(r),
			 expect, &got)) != 0)
			return err;
		memcpy(bitmap + done / 64, c->reply + sizeof(rep) + sizeof(r), bytes);
		done += r.length / page_size;
	}
	return 0;
}
