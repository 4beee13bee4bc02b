/*
 * fuzz_vfio_user.c: libFuzzer target for the vfio-user client
 * (daemon/devices/vfio_user.c): the input is everything a server sends
 * back on its socket, byte for byte, then the server's end is shut.
 *
 * The client runs one session over it: VERSION, DEVICE_GET_INFO, the
 * MIGRATION and MIG_DEVICE_STATE features (GET and SET), a MIG_DATA_READ,
 * a MIG_DATA_WRITE in three pieces, a DMA logging report, a reset. Its
 * request ids run 0, 1, 2, ... in that order, which the seeds follow.
 * Whatever the bytes, each call returns 0 or -errno; a failure is an error
 * reply (the connection kept) or a fault that broke the connection for
 * good; a read never returns more than it asked for; the negotiated
 * limits stay within the client's own. Nothing may block: the input and
 * its end are there from the start.
 *
 * Also linked into tests/test_fuzz_vfio_user, which replays
 * fuzz/corpus/vfio_user in every `make check`: no main() here.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "vfio_user.h"

/* What a socketpair holds at once: longer inputs are cut. */
#define FUZZ_INPUT_MAX (64u * 1024u)

/* After each call: 0, an error reply with the stream intact, or broken. */
static void
check_call(const struct vfu_client *c, int err)
{
	FUZZ_CHECK(err <= 0);
	if (err == 0)
		return;
	FUZZ_CHECK(c->fault != VFU_FAULT_NONE);
	FUZZ_CHECK(c->fault == VFU_FAULT_ERROR_REPLY || c->broken != VFU_FAULT_NONE);
	FUZZ_CHECK(c->fault == VFU_FAULT_ERROR_REPLY || vfu_fault_code(c) != 0);
}

static void
run_session(struct vfu_client *c)
{
	static uint8_t buf[4096], out[3000];
	uint32_t flags, regions, irqs, st[2] = {0, (uint32_t)-1}, got = 0, want;
	uint64_t mig = 0, bitmap[2] = {0, 0};

	check_call(c, vfu_negotiate(c));
	FUZZ_CHECK(c->max_data_xfer >= VFU_MAX_DATA_XFER_MIN);
	FUZZ_CHECK(c->max_data_xfer <= VFU_MAX_DATA_XFER_DEFAULT);
	FUZZ_CHECK(c->write_max <= c->max_data_xfer);
	check_call(c, vfu_device_info(c, &flags, &regions, &irqs));
	check_call(c,
	    vfu_feature(c, VFU_FEATURE_GET | VFU_FEATURE_MIGRATION, NULL, 0, &mig, sizeof(mig)));
	check_call(c,
	    vfu_feature(c, VFU_FEATURE_GET | VFU_FEATURE_MIG_DEVICE_STATE, NULL, 0, st,
		sizeof(st)));
	st[0] = 3; /* STOP_COPY */
	check_call(c,
	    vfu_feature(c, VFU_FEATURE_SET | VFU_FEATURE_MIG_DEVICE_STATE, st, sizeof(st), NULL,
		0));
	want = c->max_data_xfer < sizeof(buf) ? c->max_data_xfer : (uint32_t)sizeof(buf);
	check_call(c, vfu_mig_read(c, buf, want, &got));
	FUZZ_CHECK(got <= want);
	memset(out, 0x5a, sizeof(out));
	check_call(c, vfu_mig_write(c, out, sizeof(out)));
	check_call(c, vfu_log_report(c, 0, 64 * 4096, 4096, bitmap));
	check_call(c, vfu_reset(c));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	struct vfu_client c;
	int sv[2], big = 4 << 20;

	if (!once) {
		log_init("fuzz_vfio_user", LOG_LEVEL_ERROR);
		once = 1;
	}
	if (size > FUZZ_INPUT_MAX)
		size = FUZZ_INPUT_MAX;
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (size > 0)
		FUZZ_CHECK(send(sv[1], data, size, MSG_DONTWAIT) == (ssize_t)size);
	shutdown(sv[1], SHUT_WR);
	/* Pieces of 1 KiB for the write; a short timeout, never reached. */
	vfu_init(&c, sv[0], "fuzz", 2000, 1024);
	run_session(&c);
	vfu_close(&c);
	close(sv[1]);
	return 0;
}
