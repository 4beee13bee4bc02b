/*
 * test_vfio_user.c: the vfio-user client (daemon/devices/vfio_user.c) and
 * the vfio-user backend over it, against the scripted server of
 * tests/vfio_user_peer.c on the other end of a socketpair: negotiation,
 * every reply check and the fault it is, error replies that keep the
 * connection, data read and written in pieces within the limits, a save
 * and a resume through the v2 planner, faults named by their error code,
 * a handed-over socket's DMA logged over the guest's ranges only.
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
#include "vfio_user_peer.h"
#include "xmalloc.h"

#define KIB 1024u

static uint8_t stream[300 * KIB];

static void
stream_fill(void)
{
	size_t i;

	for (i = 0; i < sizeof(stream); i++)
		stream[i] = (uint8_t)(i * 13 + i / 4093);
}

/* ---- The client alone ------------------------------------------------- */

struct client_fixture {
	struct peer peer;
	struct vfu_client c;
};

static void
client_start(struct client_fixture *f)
{
	int fd = peer_start(&f->peer, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY, stream, sizeof(stream));

	vfu_init(&f->c, fd, "nvme0", 0, 4 * KIB);
}

static void
client_done(struct client_fixture *f)
{
	vfu_close(&f->c);
	peer_join(&f->peer);
}

/* The socket's send timeout is shared with whoever holds another
 * descriptor of it (a VMM that handed it over): ours only while we hold
 * it, theirs again after vfu_close. */
static void
send_timeout(int fd, struct timeval *tv)
{
	socklen_t len = sizeof(*tv);

	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, tv, &len), 0);
}

START_TEST(test_send_timeout_given_back)
{
	static const struct timeval vmm[] = {{7, 500000}, {0, 0}};
	struct vfu_client c;
	struct timeval tv;
	unsigned i;
	int sv[2];

	for (i = 0; i < sizeof(vmm) / sizeof(vmm[0]); i++) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &vmm[i],
		    sizeof(vmm[i])), 0);
		vfu_init(&c, dup(sv[0]), "nvme0", 1500, 0);
		send_timeout(sv[0], &tv);
		ck_assert_int_eq(tv.tv_sec, 1);
		ck_assert_int_eq(tv.tv_usec, 500000);
		vfu_close(&c);
		send_timeout(sv[0], &tv);
		ck_assert_int_eq(tv.tv_sec, vmm[i].tv_sec);
		ck_assert_int_eq(tv.tv_usec, vmm[i].tv_usec);
		close(sv[0]);
		close(sv[1]);
	}
}
END_TEST

/* Between calls: a live server is left alone; one that closed its end
 * breaks the connection hung-up, one that sent something unasked,
 * protocol. */
START_TEST(test_idle_check)
{
	struct vfu_client c;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	vfu_init(&c, sv[0], "nvme0", 1000, 0);
	ck_assert_int_eq(vfu_check_idle(&c), 0);
	ck_assert(vfu_connected(&c));
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	ck_assert_int_lt(vfu_check_idle(&c), 0);
	ck_assert(!vfu_connected(&c));
	ck_assert_int_eq(vfu_fault_code(&c), MIG_E_VFIO_USER_PROTOCOL);
	vfu_close(&c);
	close(sv[1]);

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	vfu_init(&c, sv[0], "nvme0", 1000, 0);
	close(sv[1]);
	ck_assert_int_lt(vfu_check_idle(&c), 0);
	ck_assert(!vfu_connected(&c));
	ck_assert_int_eq(vfu_fault_code(&c), MIG_E_VFIO_USER_HUNG_UP);
	vfu_close(&c);
}
END_TEST

START_TEST(test_negotiation)
{
	struct client_fixture f;
	json_t *j;

	client_start(&f);
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
	client_start(&f);
	f.peer.json = NULL;
	ck_assert_int_eq(vfu_negotiate(&f.c), 0);
	ck_assert_uint_eq(f.c.max_data_xfer, VFU_MAX_DATA_XFER_DEFAULT);
	ck_assert_uint_eq(f.c.max_msg_fds, 1);
	client_done(&f);
	/* A server's limit below the write limit lowers it. */
	client_start(&f);
	f.peer.json = "{\"capabilities\":{\"max_data_xfer_size\":1024}}";
	ck_assert_int_eq(vfu_negotiate(&f.c), 0);
	ck_assert_uint_eq(f.c.max_data_xfer, 1024);
	ck_assert_uint_eq(f.c.write_max, 1024);
	client_done(&f);
	/* Above ours: ours holds. */
	client_start(&f);
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

	client_start(&f);
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
    {PF_STALL_MID, -ETIMEDOUT, VFU_FAULT_TIMEOUT},
    {PF_HANG_UP_MID, -ECONNRESET, VFU_FAULT_HUNG_UP},
};

START_TEST(test_bad_reply)
{
	const struct bad_reply *b = &bad_replies[_i];
	struct client_fixture f;
	uint32_t flags, regions, irqs;
	int codes[] = {0, 0, MIG_E_VFIO_USER_PROTOCOL, MIG_E_VFIO_USER_HUNG_UP,
	    MIG_E_VFIO_USER_TIMEOUT};

	/* The default timeout for the negotiation (a loaded host may take its
	 * time), a short one for the faulted call only: a stall waits it out,
	 * and it is not measured. */
	client_start(&f);
	ck_assert_int_eq(vfu_negotiate(&f.c), 0);
	f.c.timeout_ms = 200;
	peer_set_fault(&f.peer, VFU_CMD_DEVICE_GET_INFO, 1, b->fault);
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

	client_start(&f);
	ck_assert_int_eq(vfu_negotiate(&f.c), 0);
	peer_set_fault(&f.peer, VFU_CMD_DEVICE_GET_INFO, 1, PF_ERROR);
	f.peer.fault_errno = EPERM;
	ck_assert_int_eq(vfu_device_info(&f.c, &flags, &regions, &irqs), -EPERM);
	ck_assert_int_eq(f.c.fault, VFU_FAULT_ERROR_REPLY);
	ck_assert_int_eq(vfu_fault_code(&f.c), 0);
	peer_set_fault(&f.peer, VFU_CMD_DEVICE_GET_INFO, 2, PF_ERROR_NO_ERRNO);
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

	client_start(&f);
	ck_assert_int_eq(vfu_negotiate(&f.c), 0);
	ck_assert_int_eq(vfu_feature(&f.c, VFU_FEATURE_GET | VFU_FEATURE_MIGRATION, NULL, 0, &flags,
			     sizeof(flags)),
	    0);
	ck_assert_uint_eq(flags, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY);
	/* Unknown feature: an error reply, ENOTTY. */
	ck_assert_int_eq(vfu_feature(&f.c, VFU_FEATURE_GET | 42, NULL, 0, &flags, sizeof(flags)),
	    -ENOTTY);
	/* The reply names another feature. */
	peer_set_fault(&f.peer, VFU_CMD_DEVICE_FEATURE, 3, PF_WRONG_FEATURE);
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

	client_start(&f);
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
	peer_set_fault(&f.peer, VFU_CMD_MIG_DATA_READ, 4, PF_READ_TOO_MUCH);
	ck_assert_int_eq(vfu_mig_read(&f.c, buf, 1024, &got), -EBADMSG);
	client_done(&f);
}
END_TEST

START_TEST(test_write_pieces)
{
	struct client_fixture f;

	client_start(&f);
	ck_assert_int_eq(vfu_negotiate(&f.c), 0);
	f.peer.state = V2_STATE_RESUMING;
	ck_assert_int_eq(vfu_mig_write(&f.c, stream, 10 * KIB + 5), 0);
	ck_assert_uint_eq(f.peer.dst_len, 10 * KIB + 5);
	ck_assert_mem_eq(f.peer.dst, stream, 10 * KIB + 5);
	ck_assert_uint_eq(f.peer.largest_write, 4 * KIB);
	ck_assert_int_eq(f.peer.count[VFU_CMD_MIG_DATA_WRITE], 3);
	/* The server refuses one piece: its errno, the rest not sent. */
	peer_set_fault(&f.peer, VFU_CMD_MIG_DATA_WRITE, 5, PF_ERROR);
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
	struct mig_device_config dc;
	char name[16];
};

static int
dev_open(struct dev_fixture *f, uint64_t flags, uint32_t write_max)
{
	int fd;

	memset(&f->dev, 0, sizeof(f->dev));
	snprintf(f->name, sizeof(f->name), "nvme0");
	f->dev.name = f->name;
	fd = peer_start(&f->peer, flags, stream, sizeof(stream));
	memset(&f->dc, 0, sizeof(f->dc));
	f->dc.name = f->name;
	f->dc.path = (char *)"/run/test/nvme0.sock";
	f->dc.vfio_user_write_max = write_max != 0 ? write_max : MIG_VFIO_USER_WRITE_MAX_DEFAULT;
	f->dc.vfio_user_timeout_ms = MIG_VFIO_USER_TIMEOUT_MS_DEFAULT;
	return vfio_user_backend_connected(&f->dev, fd, &f->dc);
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
	peer_set_fault(&f.peer, VFU_CMD_MIG_DATA_READ, 2, PF_HANG_UP);
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
	peer_set_fault(&f.peer, VFU_CMD_DEVICE_FEATURE, f.peer.count[VFU_CMD_DEVICE_FEATURE] + 2,
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
	ck_assert_int_eq(vfio_user_backend_adopt(&dev, sv[0], 0, 0, NULL, 0, 0), -ECONNRESET);
	ck_assert_int_ge(fcntl(sv[0], F_GETFD), 0);
	close(sv[0]);
}
END_TEST

/* ---- A handed-over socket's DMA logged over the guest's ranges ------- */

/* Two ranges with a hole between them (pages 0x14-0x3f). */
static const struct mig_iova_range guest[2] = {{0x10000, 0x4000}, {0x40000, 0x2000}};

static int
adopt_with_ranges(struct peer *p, struct mig_device *dev, int has_logging, int *fd)
{
	memset(dev, 0, sizeof(*dev));
	dev->name = (char *)"nvme0";
	*fd = peer_start(p, V2_MIG_STOP_COPY | V2_MIG_PRE_COPY, stream, sizeof(stream));
	p->has_logging = has_logging;
	return vfio_user_backend_adopt(dev, *fd, 0, 0, guest, 2, 4096);
}

START_TEST(test_adopt_logs_dma_over_the_ranges)
{
	struct peer p;
	struct mig_device dev;
	uint8_t bitmap[8] = {0};
	uint64_t dirty;
	int fd;

	ck_assert_int_eq(adopt_with_ranges(&p, &dev, 1, &fd), 0);
	/* The page space ends with the last range; the pages are the VMM's. */
	ck_assert_uint_eq(dev.guest_memory_size, 0x42000);
	ck_assert_uint_eq(dev.guest_page_size, 4096);
	ck_assert_ptr_null(dev.guest_memory);
	ck_assert_int_eq(p.logging, 0);
	/* Dirty in both ranges, on either side of the window asked. */
	p.dirty[p.ndirty++] = 0x11000;
	p.dirty[p.ndirty++] = 0x13000;
	p.dirty[p.ndirty++] = 0x40000;
	p.dirty[p.ndirty++] = 0x41000;
	ck_assert_int_eq(dev.ops->save_begin(&dev, 1), 0);
	/* START names every range and the page size, nothing else. */
	ck_assert_int_eq(p.logging, 1);
	ck_assert_uint_eq(p.log_page_size, 4096);
	ck_assert_uint_eq(p.log_nranges, 2);
	ck_assert_uint_eq(p.log_ranges[0][0], 0x10000);
	ck_assert_uint_eq(p.log_ranges[0][1], 0x4000);
	ck_assert_uint_eq(p.log_ranges[1][0], 0x40000);
	ck_assert_uint_eq(p.log_ranges[1][1], 0x2000);
	/* Pages [0x12, 0x41): one REPORT inside each range, the hole never
	 * asked; bits at their offsets in the window. */
	ck_assert_int_eq(dev.ops->dirty_bitmap(&dev, 0x12, 0x2f, bitmap, &dirty), 0);
	ck_assert_int_eq(p.nreports, 2);
	ck_assert_uint_eq(p.reports[0][0], 0x12000);
	ck_assert_uint_eq(p.reports[0][1], 0x2000);
	ck_assert_uint_eq(p.reports[0][2], 4096);
	ck_assert_uint_eq(p.reports[1][0], 0x40000);
	ck_assert_uint_eq(p.reports[1][1], 0x1000);
	ck_assert_uint_eq(p.reports[1][2], 4096);
	ck_assert_uint_eq(dirty, 2);
	ck_assert_uint_eq(bitmap[0], 1u << 1);				/* 0x13000 */
	ck_assert_uint_eq(bitmap[5], 1u << 6);				/* 0x40000: bit 46 */
	ck_assert_uint_eq(bitmap[1] | bitmap[2] | bitmap[3] | bitmap[4], 0);
	/* A window in the hole asks nothing. */
	memset(bitmap, 0, sizeof(bitmap));
	ck_assert_int_eq(dev.ops->dirty_bitmap(&dev, 0x20, 0x10, bitmap, &dirty), 0);
	ck_assert_int_eq(p.nreports, 2);
	ck_assert_uint_eq(dirty, 0);
	/* The save's end stops the log. */
	ck_assert_int_eq(dev.ops->rollback(&dev), 0);
	ck_assert_int_eq(p.logging, 0);
	dev.ops->close(&dev);
	peer_join(&p);
}
END_TEST

START_TEST(test_adopt_with_ranges_needs_dma_logging)
{
	struct peer p;
	struct mig_device dev;
	int fd;

	struct timeval tv;
	socklen_t len = sizeof(tv);

	/* Refused, and the fd still the caller's (the handover's
	 * no-dirty-tracking), with the send timeout it came with (none). */
	ck_assert_int_eq(adopt_with_ranges(&p, &dev, 0, &fd), -ENODATA);
	ck_assert_int_ge(fcntl(fd, F_GETFD), 0);
	ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len), 0);
	ck_assert_int_eq(tv.tv_sec, 0);
	ck_assert_int_eq(tv.tv_usec, 0);
	close(fd);
	peer_join(&p);
}
END_TEST

START_TEST(test_log_page_size_the_server_chose)
{
	struct peer p;
	struct mig_device dev;
	int fd;

	ck_assert_int_eq(adopt_with_ranges(&p, &dev, 1, &fd), 0);
	/* A page that is not a power of two: the log is stopped, the save not
	 * begun. */
	p.log_page_reply = 12288;
	ck_assert_int_eq(dev.ops->save_begin(&dev, 1), -EBADMSG);
	ck_assert_int_eq(p.logging, 0);
	ck_assert_uint_eq(p.state, V2_STATE_RUNNING);
	/* A larger page of its own is taken: reports are still asked in ours. */
	p.log_page_reply = 8192;
	ck_assert_int_eq(dev.ops->save_begin(&dev, 1), 0);
	ck_assert_int_eq(p.logging, 1);
	ck_assert_int_eq(dev.ops->rollback(&dev), 0);
	dev.ops->close(&dev);
	peer_join(&p);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("vfio_user");
	TCase *client = tcase_create("client");
	TCase *backend = tcase_create("backend");

	stream_fill();
	tcase_add_test(client, test_send_timeout_given_back);
	tcase_add_test(client, test_idle_check);
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
	tcase_add_test(backend, test_adopt_logs_dma_over_the_ranges);
	tcase_add_test(backend, test_adopt_with_ranges_needs_dma_logging);
	tcase_add_test(backend, test_log_page_size_the_server_chose);
	tcase_set_timeout(client, 60);
	tcase_set_timeout(backend, 60);
	suite_add_tcase(s, client);
	suite_add_tcase(s, backend);
	return tu_run_suite(s);
}
