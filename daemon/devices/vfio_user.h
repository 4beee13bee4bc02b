/*
 * vfio_user.h: the client side of the vfio-user protocol (QEMU's
 * docs/interop/vfio-user.rst), as much of it as migrating a device needs:
 * VERSION with its JSON capabilities, DEVICE_GET_INFO, DEVICE_FEATURE
 * (MIGRATION, MIG_DEVICE_STATE, MIG_DATA_SIZE, DMA_LOGGING_*),
 * MIG_DATA_READ / MIG_DATA_WRITE in pieces, DEVICE_RESET.
 *
 * One request at a time, each sent with exactly one sendmsg() (a server
 * built on libvfio-user reads a body with one recv() and loses the stream
 * on a short read), and its reply read within timeout_ms. Every reply is
 * checked before a byte of it is used: message id, command, reply type,
 * error flag and errno, and the payload's size against what the command
 * allows (short, oversized). A fault that loses the stream (a protocol
 * error, a hang-up, a timeout) marks the connection broken: every later
 * call fails at once with the same fault, nothing is sent after it.
 *
 * It blocks for at most timeout_ms per call: run it on a device's thread,
 * never on the event loop. No logging of its own beyond the one line that
 * names a fault; the caller logs what it was doing.
 *
 * Return values: 0 or -errno: the server's errno for an error reply (EIO
 * when it gave none), -EBADMSG a protocol violation, -ECONNRESET a hang-up,
 * -ETIMEDOUT a stall; vfu_fault() names which.
 */
#ifndef MIG_VFIO_USER_H
#define MIG_VFIO_USER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include "ranges.h"

/* The wire, from the protocol text. Host endianness. */
#define VFU_HEADER_SIZE 16
#define VFU_VERSION_MAJOR 0
#define VFU_VERSION_MINOR 1

enum vfu_command {
	VFU_CMD_VERSION = 1,
	VFU_CMD_DEVICE_GET_INFO = 4,
	VFU_CMD_DEVICE_GET_REGION_INFO = 5,
	VFU_CMD_DEVICE_RESET = 13,
	VFU_CMD_DEVICE_FEATURE = 16,
	VFU_CMD_MIG_DATA_READ = 17,
	VFU_CMD_MIG_DATA_WRITE = 18,
};

#define VFU_FLAG_TYPE_MASK 0xfu
#define VFU_FLAG_TYPE_COMMAND 0x0u
#define VFU_FLAG_TYPE_REPLY 0x1u
#define VFU_FLAG_NO_REPLY (1u << 4)
#define VFU_FLAG_ERROR (1u << 5)

/* DEVICE_FEATURE flags: the feature's index in bits 0-15. */
#define VFU_FEATURE_MASK 0xffffu
#define VFU_FEATURE_GET (1u << 16)
#define VFU_FEATURE_SET (1u << 17)
#define VFU_FEATURE_PROBE (1u << 18)
#define VFU_FEATURE_MIGRATION 1
#define VFU_FEATURE_MIG_DEVICE_STATE 2
#define VFU_FEATURE_DMA_LOGGING_START 6
#define VFU_FEATURE_DMA_LOGGING_STOP 7
#define VFU_FEATURE_DMA_LOGGING_REPORT 8
/* The kernel's index; the protocol text does not list it, so a server
 * that lacks it answers with an error and the size is unknown. */
#define VFU_FEATURE_MIG_DATA_SIZE 9
/* Not in the protocol text either: PRE_COPY's {initial_bytes, dirty_bytes}
 * as the kernel's VFIO_MIG_GET_PRECOPY_INFO gives them, an extension our
 * test server offers (tests/vfio_user_server.c); used when a PROBE|GET
 * succeeds. */
#define VFU_FEATURE_MIG_PRECOPY_INFO 0xff01

/* DEVICE_GET_INFO flags. */
#define VFU_DEVICE_FLAGS_RESET (1u << 0)
#define VFU_DEVICE_FLAGS_PCI (1u << 1)

/* max_data_xfer_size when the server names none (the protocol's default),
 * and what this client proposes. */
#define VFU_MAX_DATA_XFER_DEFAULT (1u << 20)
#define VFU_MAX_DATA_XFER_MIN MIG_VFIO_USER_XFER_MIN
/* The VERSION reply's JSON, and the longest reply the client accepts of
 * any command (a MIG_DATA_READ piece or a log report, plus headers). */
#define VFU_VERSION_JSON_MAX 4096u
#define VFU_REPLY_MAX (VFU_MAX_DATA_XFER_DEFAULT + 64u)
#define VFU_TIMEOUT_MS_DEFAULT MIG_VFIO_USER_TIMEOUT_MS_DEFAULT

/* MIG_DATA_WRITE bodies at most this long unless configured
 * (vfio_user_write_max, ranges.h: why the default is what it is). */
#define VFU_WRITE_MAX_DEFAULT MIG_VFIO_USER_WRITE_MAX_DEFAULT

enum vfu_fault {
	VFU_FAULT_NONE,
	VFU_FAULT_ERROR_REPLY, /* the server answered with an error: not fatal */
	VFU_FAULT_PROTOCOL,    /* a reply that breaks the protocol */
	VFU_FAULT_HUNG_UP,     /* the server closed the socket */
	VFU_FAULT_TIMEOUT,     /* no whole reply within timeout_ms */
};

struct vfu_client {
	int fd;
	const char *name; /* for the fault's log line */
	int timeout_ms;
	uint16_t next_id;
	/* Negotiated at VERSION. */
	uint16_t major, minor;
	uint32_t max_msg_fds;
	uint32_t max_data_xfer; /* the smaller of ours and the server's */
	uint64_t pgsizes;
	/* MIG_DATA_WRITE body limit (vfio_user_write_max), never above
	 * max_data_xfer once negotiated. */
	uint32_t write_max;
	/* The last call's fault, and the fault that broke the stream. */
	enum vfu_fault fault;
	enum vfu_fault broken;
	char fault_what[160];
	/* Reply buffer, VFU_REPLY_MAX bytes. */
	uint8_t *reply;
	/* Requests sent whole, for tests. */
	uint64_t sent_messages;
	/* The socket's send timeout before ours: a VMM's socket handed over
	 * is shared with the VMM, which gets its own back at vfu_close. */
	struct timeval sndtimeo_before;
	int sndtimeo_saved;
};

/* A client on a connected socket fd (made its own: closed by vfu_close,
 * which first gives the socket back the send timeout it had). */
void vfu_init(struct vfu_client *c, int fd, const char *name, int timeout_ms, uint32_t write_max);
/* Connect to a server's socket path: the fd, or -errno. */
int vfu_connect_path(const char *path);
void vfu_close(struct vfu_client *c);
/* The socket is not ours after all (a hand-over refused): its send timeout
 * is put back and the fd forgotten, not closed; vfu_close frees the rest. */
void vfu_release(struct vfu_client *c);
/* Closed and given up without a call's fault (a connection made again
 * whose connect or probes failed): the next use connects again. fault, if
 * not VFU_FAULT_NONE, becomes the one that names the error code. */
void vfu_disconnect(struct vfu_client *c, enum vfu_fault fault);

/* VERSION: propose ours, accept the server's if it follows the rules
 * (same major, minor not above ours, capabilities well-formed). */
int vfu_negotiate(struct vfu_client *c);
/* A connection its VMM negotiated already (handed over): its limit. */
void vfu_assume_negotiated(struct vfu_client *c, uint32_t max_data_xfer);
int vfu_device_info(struct vfu_client *c, uint32_t *flags, uint32_t *num_regions,
    uint32_t *num_irqs);
/* DEVICE_FEATURE: `in` (inlen) is the request's data; a GET's reply data
 * must be exactly outlen bytes into out. */
int vfu_feature(struct vfu_client *c, uint32_t flags, const void *in, size_t inlen, void *out,
    size_t outlen);
/* MIG_DATA_READ of up to len bytes (len <= max_data_xfer): *got < len is
 * the server's "no more data now". */
int vfu_mig_read(struct vfu_client *c, void *buf, uint32_t len, uint32_t *got);
/* MIG_DATA_WRITE of len bytes, in pieces of at most write_max. */
int vfu_mig_write(struct vfu_client *c, const void *buf, size_t len);
int vfu_reset(struct vfu_client *c);
/* DMA_LOGGING_REPORT of [iova, iova + length) into bitmap (u64 words),
 * in as many requests as max_data_xfer asks. */
int vfu_log_report(struct vfu_client *c, uint64_t iova, uint64_t length, uint64_t page_size,
    uint64_t *bitmap);

const char *vfu_fault_name(enum vfu_fault f);
/* No fault has broken the connection; safe from any thread. */
int vfu_connected(const struct vfu_client *c);
/* Between calls: a server that closed the connection (it exited, or
 * restarted) breaks it now, hung-up, rather than at the next call; one
 * that sent something unasked, protocol. 0, or -errno once broken. */
int vfu_check_idle(struct vfu_client *c);
/* The MIG_E_* code of the last call's fault (0 for none or an error
 * reply: the caller's own code applies). */
int vfu_fault_code(const struct vfu_client *c);

#endif
