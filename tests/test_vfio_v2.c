/*
 * test_vfio_v2.c: the vfio-v2 backend and the v2 driver against a fake
 * kernel (vfio_fake.c).
 *
 * The features a device offers and what the daemon reports of them; the
 * FSM arcs each phase takes for each combination of flags; the data fd
 * read in pre-copy (with its temporary end of stream) and stop-copy (to
 * its end), written in resuming, closed before leaving RESUMING;
 * PRECOPY_INFO and the stop-copy size as "pending"; arcs the device
 * refuses, at every step, and the recovery; DMA logging by the device and
 * by the type1 container.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "device.h"
#include "log.h"
#include "testutil.h"
#include "v2_driver.h"
#include "vfio_fake.h"
#include "xmalloc.h"

#define KIB 1024u
#define ALL (V2_MIG_STOP_COPY | V2_MIG_P2P | V2_MIG_PRE_COPY)
#define R V2_STATE_RUNNING
#define S V2_STATE_STOP
#define SC V2_STATE_STOP_COPY
#define RS V2_STATE_RESUMING
#define RP V2_STATE_RUNNING_P2P
#define PC V2_STATE_PRE_COPY
#define PP V2_STATE_PRE_COPY_P2P
#define E V2_STATE_ERROR

struct v2_fixture {
	struct mig_device dev;
	struct mig_device_config dc;
	char name[8], path[64];
	uint8_t *stream;
	size_t len;
};

/* A PCI device offering `flags`, saving a stream of len bytes of which
 * avail are ready in pre-copy, initial of them "initial". */
static void
fixture(struct v2_fixture *f, uint64_t flags, size_t len, size_t avail, size_t initial)
{
	struct fake_device *d;
	size_t i;

	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "gpu0");
	snprintf(f->path, sizeof(f->path), "/dev/vfio/devices/vfio0");
	f->dev.name = f->name;
	f->dc.name = f->name;
	f->dc.backend = MIG_BACKEND_VFIO_V2;
	f->dc.path = f->path;
	f->len = len;
	f->stream = xmalloc(len + 1);
	for (i = 0; i < len; i++)
		f->stream[i] = (uint8_t)(i * 7 + i / 251);
	fake_install();
	fake_pci_device(0, 0x15b3, 0x101e);
	d = &fake.dev[0];
	d->mig_flags = flags;
	d->stream = f->stream;
	d->stream_len = len;
	d->precopy_avail = avail;
	d->initial_len = initial;
	d->has_data_size = 1;
	d->data_size = len - avail;
}

static void
fixture_path(struct v2_fixture *f, const char *path)
{
	snprintf(f->path, sizeof(f->path), "%s", path);
}

static void
fixture_done(struct v2_fixture *f)
{
	if (f->dev.ops != NULL)
		f->dev.ops->close(&f->dev);
	ck_assert_int_eq(fake.open_fds, 0);
	fake_uninstall();
	free(f->stream);
}

static int
open_dev(struct v2_fixture *f)
{
	return vfio_v2_backend_open(&f->dev, &f->dc);
}

/* The driver inside the backend (its first member, by v2_backend's layout). */
static struct v2_dev *
driver_of(struct v2_fixture *f)
{
	return (struct v2_dev *)f->dev.priv;
}

/* The arcs the device was asked for since arc number `from`. */
static void
assert_arcs(int from, const uint32_t (*want)[2], int n)
{
	struct fake_device *d = &fake.dev[0];
	int i;

	ck_assert_int_eq(d->narcs - from, n);
	for (i = 0; i < n; i++)
		ck_assert_msg(d->arcs[from + i][0] == want[i][0] && d->arcs[from + i][1] == want[i][1],
		    "arc %d: %s -> %s, wanted %s -> %s", i, v2_state_name(d->arcs[from + i][0]),
		    v2_state_name(d->arcs[from + i][1]), v2_state_name(want[i][0]),
		    v2_state_name(want[i][1]));
}

/* Read everything the device gives now into out at *at. */
static uint64_t
read_some(struct v2_fixture *f, uint8_t *out, size_t *at)
{
	uint64_t size;

	ck_assert_int_eq(f->dev.ops->save_next(&f->dev, &size), 0);
	if (size > 0)
		ck_assert_int_eq(f->dev.ops->save_read(&f->dev, 0, out + *at, size), 0);
	*at += size;
	return size;
}

START_TEST(test_open_reports_the_features)
{
	struct v2_fixture f;
	json_t *js, *caps;
	char *flags;

	fixture(&f, ALL, 1000, 0, 0);
	fake.dev[0].dma_logging = 1;
	ck_assert_int_eq(open_dev(&f), 0);
	ck_assert_str_eq(f.dev.backend, "vfio-v2");
	ck_assert_str_eq(f.dev.identity, "vfio-v2 pci 15b3:101e");
	ck_assert_str_eq(f.dev.compat, "subsystem=1af4:1100,revision=01");
	ck_assert_str_eq(f.dev.ops->state_name(&f.dev), "running");
	ck_assert_uint_eq(f.dev.state_size, 1000);
	js = f.dev.ops->describe(&f.dev);
	flags = json_dumps(json_object_get(js, "migration_flags"), JSON_COMPACT);
	ck_assert_str_eq(flags, "[\"stop-copy\",\"p2p\",\"pre-copy\"]");
	free(flags);
	caps = json_object_get(js, "capabilities");
	ck_assert(json_is_true(json_object_get(caps, "precopy")));
	ck_assert(json_is_true(json_object_get(caps, "p2p")));
	ck_assert(json_is_true(json_object_get(caps, "dirty_tracking")));
	ck_assert(json_is_false(json_object_get(caps, "page_contents")));
	ck_assert_str_eq(json_string_value(json_object_get(js, "dirty_tracking_by")),
	    "device DMA logging");
	ck_assert_int_eq(json_integer_value(json_object_get(js, "stop_copy_size")), 1000);
	ck_assert_str_eq(json_string_value(json_object_get(js, "path")), "/dev/vfio/devices/vfio0");
	json_decref(js);
	fixture_done(&f);

	/* No MIG_DATA_SIZE, no PRE_COPY, no tracking: said so. */
	fixture(&f, V2_MIG_STOP_COPY, 1000, 0, 0);
	fake.dev[0].has_data_size = 0;
	ck_assert_int_eq(open_dev(&f), 0);
	js = f.dev.ops->describe(&f.dev);
	caps = json_object_get(js, "capabilities");
	ck_assert(json_is_false(json_object_get(caps, "precopy")));
	ck_assert(json_is_false(json_object_get(caps, "p2p")));
	ck_assert(json_is_false(json_object_get(caps, "dirty_tracking")));
	ck_assert(json_is_null(json_object_get(js, "stop_copy_size")));
	ck_assert(json_is_null(json_object_get(js, "dirty_tracking_by")));
	json_decref(js);
	fixture_done(&f);
}
END_TEST

START_TEST(test_open_refuses_devices_without_v2_migration)
{
	struct v2_fixture f;

	fixture(&f, 0, 10, 0, 0);
	ck_assert_int_eq(open_dev(&f), -1);
	ck_assert_int_eq(fake.open_fds, 0);
	fixture_done(&f);
	/* Flags without STOP_COPY are not the uAPI. */
	fixture(&f, V2_MIG_P2P, 10, 0, 0);
	ck_assert_int_eq(open_dev(&f), -1);
	fixture_done(&f);
	/* The FEATURE ioctl itself failing when asked for the migration
	 * flags (the first one probes DMA logging). */
	fixture(&f, ALL, 10, 0, 0);
	fake.fail_req = FAKE_DEVICE_FEATURE;
	fake.fail_nth = 2;
	fake.fail_errno = EIO;
	ck_assert_int_eq(open_dev(&f), -1);
	fixture_done(&f);
	/* ... and when asked for the migration state. */
	fixture(&f, ALL, 10, 0, 0);
	fake.fail_req = FAKE_DEVICE_FEATURE;
	fake.fail_nth = 3;
	fake.fail_errno = EIO;
	ck_assert_int_eq(open_dev(&f), -1);
	fixture_done(&f);
}
END_TEST

/* Found mid-migration: planned back to RUNNING; from ERROR, reset. */
START_TEST(test_open_brings_a_stale_device_back)
{
	static const uint32_t back[][2] = {{SC, S}, {S, RP}, {RP, R}};
	struct v2_fixture f;

	fixture(&f, ALL, 10, 0, 0);
	fake.dev[0].state = SC;
	ck_assert_int_eq(open_dev(&f), 0);
	assert_arcs(0, back, 3);
	ck_assert_str_eq(f.dev.ops->state_name(&f.dev), "running");
	fixture_done(&f);
	fixture(&f, ALL, 10, 0, 0);
	fake.dev[0].state = E;
	ck_assert_int_eq(open_dev(&f), 0);
	ck_assert_int_eq(fake.dev[0].resets, 1);
	ck_assert_int_eq(fake.dev[0].narcs, 0);
	fixture_done(&f);
}
END_TEST

START_TEST(test_save_precopy_with_p2p)
{
	static const uint32_t begin[][2] = {{R, PC}};
	static const uint32_t stop[][2] = {{PC, PP}, {PP, SC}};
	static const uint32_t end[][2] = {{SC, S}};
	struct v2_fixture f;
	size_t total = 300 * KIB, at = 0;
	uint8_t *out = xmalloc(total);
	uint64_t pending, n;
	int fds_open;

	fixture(&f, ALL, total, 150 * KIB, 100 * KIB);
	fake.dev[0].max_read = 7000; /* short reads */
	ck_assert_int_eq(open_dev(&f), 0);
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), 0);
	assert_arcs(0, begin, 1);
	ck_assert_str_eq(f.dev.ops->state_name(&f.dev), "pre-copy");
	/* PRECOPY_INFO: initial and dirty bytes together. */
	ck_assert_int_eq(f.dev.ops->pending(&f.dev, &pending), 0);
	ck_assert_uint_eq(pending, 150 * KIB);
	ck_assert_int_eq(fake_count(FAKE_PRECOPY_INFO), 1);
	/* Everything ready now, up to the temporary end of stream (ENOMSG). */
	n = read_some(&f, out, &at);
	ck_assert_uint_eq(n, 150 * KIB);
	ck_assert_uint_eq(read_some(&f, out, &at), 0);
	ck_assert_int_eq(f.dev.ops->pending(&f.dev, &pending), 0);
	ck_assert_uint_eq(pending, 0);
	/* The switchover: through PRE_COPY_P2P, the same data fd. */
	fds_open = fake.open_fds;
	ck_assert_int_eq(f.dev.ops->save_stop(&f.dev), 0);
	assert_arcs(1, stop, 2);
	ck_assert_int_eq(fake.open_fds, fds_open);
	/* Stop-copy: the MIG_DATA_SIZE estimate, then the rest to its end. */
	ck_assert_int_eq(f.dev.ops->pending(&f.dev, &pending), 0);
	ck_assert_uint_eq(pending, 150 * KIB);
	while (read_some(&f, out, &at) > 0)
		;
	ck_assert_uint_eq(at, total);
	ck_assert(memcmp(out, f.stream, total) == 0);
	ck_assert_int_eq(f.dev.ops->pending(&f.dev, &pending), 0);
	ck_assert_uint_eq(pending, 0);
	ck_assert_int_eq(f.dev.ops->save_end(&f.dev), 0);
	assert_arcs(3, end, 1);
	ck_assert_int_eq(fake.open_fds, fds_open - 1); /* the data fd is closed */
	ck_assert_str_eq(f.dev.ops->state_name(&f.dev), "stopped");
	free(out);
	fixture_done(&f);
}
END_TEST

/* STOP_COPY only: pre-copy moves nothing, the switchover goes RUNNING ->
 * STOP -> STOP_COPY (no RUNNING_P2P without P2P). */
START_TEST(test_save_without_precopy_or_p2p)
{
	static const uint32_t stop[][2] = {{R, S}, {S, SC}};
	struct v2_fixture f;
	size_t total = 64 * KIB, at = 0;
	uint8_t *out = xmalloc(total);
	uint64_t pending;

	fixture(&f, V2_MIG_STOP_COPY, total, 0, 0);
	ck_assert_int_eq(open_dev(&f), 0);
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), 0);
	ck_assert_int_eq(fake.dev[0].narcs, 0);
	ck_assert_int_eq(f.dev.ops->pending(&f.dev, &pending), 0);
	ck_assert_uint_eq(pending, 0);
	ck_assert_uint_eq(read_some(&f, out, &at), 0);
	ck_assert_int_eq(f.dev.ops->save_stop(&f.dev), 0);
	assert_arcs(0, stop, 2);
	while (read_some(&f, out, &at) > 0)
		;
	ck_assert_uint_eq(at, total);
	ck_assert(memcmp(out, f.stream, total) == 0);
	ck_assert_int_eq(f.dev.ops->save_end(&f.dev), 0);
	free(out);
	fixture_done(&f);
}
END_TEST

/* With P2P but no PRE_COPY, and straight to stop-copy. */
START_TEST(test_save_stopcopy_only_with_p2p)
{
	static const uint32_t stop[][2] = {{R, RP}, {RP, S}, {S, SC}};
	struct v2_fixture f;
	size_t at = 0;
	uint8_t out[4096];

	fixture(&f, V2_MIG_STOP_COPY | V2_MIG_P2P, sizeof(out), 0, 0);
	ck_assert_int_eq(open_dev(&f), 0);
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 0), 0);
	assert_arcs(0, stop, 3);
	while (read_some(&f, out, &at) > 0)
		;
	ck_assert_uint_eq(at, sizeof(out));
	fixture_done(&f);
}
END_TEST

START_TEST(test_resume)
{
	static const uint32_t begin[][2] = {{R, RP}, {RP, S}, {S, RS}};
	static const uint32_t end[][2] = {{RS, S}, {S, RP}, {RP, R}};
	struct v2_fixture f;
	size_t off, part;

	fixture(&f, ALL, 100 * KIB, 0, 0);
	fake.dev[0].max_read = 5000; /* the device takes short writes */
	ck_assert_int_eq(open_dev(&f), 0);
	ck_assert_int_eq(f.dev.ops->resume_begin(&f.dev), 0);
	assert_arcs(0, begin, 3);
	for (off = 0; off < f.len; off += part) {
		part = f.len - off < 32 * KIB ? f.len - off : 32 * KIB;
		ck_assert_int_eq(f.dev.ops->resume_write(&f.dev, f.stream + off, part), 0);
		ck_assert_int_eq(f.dev.ops->resume_commit(&f.dev), 0);
	}
	ck_assert_int_eq(f.dev.ops->resume_end(&f.dev), 0);
	assert_arcs(3, end, 3);
	ck_assert_int_eq(fake.dev[0].data_fd_closed_before_stop, 1);
	ck_assert_uint_eq(fake.dev[0].received_len, f.len);
	ck_assert(memcmp(fake.dev[0].received, f.stream, f.len) == 0);
	ck_assert_str_eq(f.dev.ops->state_name(&f.dev), "running");
	fixture_done(&f);
}
END_TEST

/* The device refuses an arc and stays where it was: the driver reads the
 * state back and the rollback plans from there. */
START_TEST(test_refused_arc_then_rollback)
{
	static const uint32_t back[][2] = {{PP, RP}, {RP, R}};
	struct v2_fixture f;

	fixture(&f, ALL, 1000, 1000, 1000);
	ck_assert_int_eq(open_dev(&f), 0);
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), 0);
	fake.dev[0].refuse_from = PP;
	fake.dev[0].refuse_to = SC;
	fake.dev[0].refuse_err = EIO;
	ck_assert_int_eq(f.dev.ops->save_stop(&f.dev), -EIO);
	ck_assert_str_eq(f.dev.ops->state_name(&f.dev), "pre-copy-p2p");
	ck_assert_int_eq(f.dev.ops->rollback(&f.dev), 0);
	assert_arcs(2, back, 2);
	ck_assert_int_eq(fake.dev[0].resets, 0);
	ck_assert_str_eq(f.dev.ops->state_name(&f.dev), "running");
	fixture_done(&f);
}
END_TEST

/* Refusals that leave the device in ERROR, at the first and at a middle
 * arc of a plan: the way back is a reset. */
START_TEST(test_refused_into_error_then_reset)
{
	struct v2_fixture f;

	fixture(&f, ALL, 1000, 1000, 1000);
	ck_assert_int_eq(open_dev(&f), 0);
	fake.dev[0].refuse_from = R;
	fake.dev[0].refuse_to = PC;
	fake.dev[0].refuse_err = EIO;
	fake.dev[0].refuse_into_error = 1;
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), -EIO);
	ck_assert_str_eq(f.dev.ops->state_name(&f.dev), "error");
	ck_assert_int_eq(f.dev.ops->rollback(&f.dev), 0);
	ck_assert_int_eq(fake.dev[0].resets, 1);
	ck_assert_str_eq(f.dev.ops->state_name(&f.dev), "running");

	/* Second arc of RUNNING -> RESUMING. */
	fake.dev[0].refuse_from = RP;
	fake.dev[0].refuse_to = S;
	fake.dev[0].refuse_err = EBUSY;
	fake.dev[0].refuse_into_error = 0;
	ck_assert_int_eq(f.dev.ops->resume_begin(&f.dev), -EBUSY);
	ck_assert_str_eq(f.dev.ops->state_name(&f.dev), "running-p2p");
	ck_assert_int_eq(f.dev.ops->reset(&f.dev), 0);
	ck_assert_int_eq(fake.dev[0].resets, 2);

	/* The device finds the received state bad when leaving RESUMING. */
	ck_assert_int_eq(f.dev.ops->resume_begin(&f.dev), 0);
	ck_assert_int_eq(f.dev.ops->resume_write(&f.dev, f.stream, 100), 0);
	fake.dev[0].refuse_from = RS;
	fake.dev[0].refuse_to = S;
	fake.dev[0].refuse_err = EINVAL;
	fake.dev[0].refuse_into_error = 1;
	ck_assert_int_eq(f.dev.ops->resume_end(&f.dev), -EINVAL);
	ck_assert_str_eq(f.dev.ops->state_name(&f.dev), "error");
	ck_assert_int_eq(f.dev.ops->reset(&f.dev), 0);
	ck_assert_str_eq(f.dev.ops->state_name(&f.dev), "running");

	/* A reset that fails, and one after which the device is not running. */
	fake.fail_req = FAKE_DEVICE_RESET;
	fake.fail_nth = 1;
	fake.fail_errno = EIO;
	ck_assert_int_eq(f.dev.ops->reset(&f.dev), -EIO);
	fixture_done(&f);
}
END_TEST

START_TEST(test_data_fd_breaches)
{
	struct v2_fixture f;
	uint64_t size;

	/* ENOMSG is pre-copy's; in stop-copy it breaks the uAPI. */
	fixture(&f, ALL, 1000, 0, 0);
	fake.dev[0].stopcopy_enomsg = 1;
	ck_assert_int_eq(open_dev(&f), 0);
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 0), 0);
	ck_assert_int_eq(f.dev.ops->save_next(&f.dev, &size), -EPROTO);
	ck_assert_int_eq(f.dev.ops->rollback(&f.dev), 0);
	fixture_done(&f);

	/* A device that never delivers in stop-copy times out. */
	fixture(&f, ALL, 1000, 0, 0);
	fake.dev[0].stall = 1;
	ck_assert_int_eq(open_dev(&f), 0);
	driver_of(&f)->wait_ms = 20;
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 0), 0);
	ck_assert_int_eq(f.dev.ops->save_next(&f.dev, &size), -ETIMEDOUT);
	/* ... and in pre-copy merely has nothing now. */
	ck_assert_int_eq(f.dev.ops->rollback(&f.dev), 0);
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), 0);
	ck_assert_int_eq(f.dev.ops->save_next(&f.dev, &size), 0);
	ck_assert_uint_eq(size, 0);
	ck_assert_int_eq(f.dev.ops->rollback(&f.dev), 0);
	fixture_done(&f);

	/* PRECOPY_INFO failing is an error of pending, not a zero. */
	fixture(&f, ALL, 1000, 100, 100);
	ck_assert_int_eq(open_dev(&f), 0);
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), 0);
	fake.fail_req = FAKE_PRECOPY_INFO;
	fake.fail_nth = 1;
	fake.fail_errno = ENOTTY;
	ck_assert_int_eq(f.dev.ops->pending(&f.dev, &size), -ENOTTY);
	ck_assert_int_eq(f.dev.ops->rollback(&f.dev), 0);
	/* Reading the record out of bounds. */
	ck_assert_int_eq(f.dev.ops->save_read(&f.dev, 0, &size, 1), -EINVAL);
	fixture_done(&f);
}
END_TEST

/* An mlx5-like device: on entering PRE_COPY only a small header is there
 * and initial_bytes counts just it; reads say EAGAIN while the
 * asynchronous save runs, then the initial image arrives and initial_bytes
 * grows. initial_pending must not say 0 between the header and the image. */
START_TEST(test_initial_pending_waits_for_the_async_save)
{
	struct v2_fixture f;
	size_t total = 300 * KIB, at = 0;
	uint8_t *out = xmalloc(total);
	uint64_t bytes;
	int calls;

	fixture(&f, ALL, total, 200 * KIB, 200 * KIB);
	fake.dev[0].save_header = 24;
	fake.dev[0].save_busy = 2;
	fake.dev[0].data_size = total; /* mlx5: the whole state */
	ck_assert_int_eq(open_dev(&f), 0);
	ck_assert_ptr_nonnull(f.dev.ops->initial_pending);
	ck_assert_int_eq(f.dev.ops->stop_copy_size(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, total);
	/* Running: no pre-copy session, no initial data. */
	ck_assert_int_eq(f.dev.ops->initial_pending(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, 0);
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), 0);
	ck_assert_int_eq(f.dev.ops->initial_pending(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, 24);
	/* The header, then EAGAIN: not an error, and initial_bytes 0 is not
	 * believed (the driver before this change reported 0 here). */
	ck_assert_uint_eq(read_some(&f, out, &at), 24);
	ck_assert_int_eq(f.dev.ops->initial_pending(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, 1);
	/* The last EAGAIN: the save is done, initial_bytes grows to the
	 * image; read up to the temporary end (ENOMSG). */
	ck_assert_uint_eq(read_some(&f, out, &at), 0);
	ck_assert_int_eq(f.dev.ops->initial_pending(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, 200 * KIB - 24);
	ck_assert_uint_eq(read_some(&f, out, &at), 200 * KIB - 24);
	ck_assert_int_eq(f.dev.ops->stop_copy_size(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, total);
	ck_assert_int_eq(f.dev.ops->initial_pending(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, 0);
	/* Done for the session: no more PRECOPY_INFO for it. */
	calls = fake_count(FAKE_PRECOPY_INFO);
	ck_assert_int_eq(f.dev.ops->initial_pending(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, 0);
	ck_assert_int_eq(fake_count(FAKE_PRECOPY_INFO), calls);
	/* Stop-copy: pending() is the estimate now, stop_copy_size 0. */
	ck_assert_int_eq(f.dev.ops->save_stop(&f.dev), 0);
	ck_assert_int_eq(f.dev.ops->stop_copy_size(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, 0);
	ck_assert_int_eq(f.dev.ops->initial_pending(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, 0);
	while (read_some(&f, out, &at) > 0)
		;
	ck_assert_uint_eq(at, total);
	ck_assert(memcmp(out, f.stream, total) == 0);
	ck_assert_int_eq(f.dev.ops->save_end(&f.dev), 0);
	/* A new session starts over. */
	ck_assert_int_eq(f.dev.ops->rollback(&f.dev), 0);
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), 0);
	ck_assert_int_eq(f.dev.ops->initial_pending(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, 200 * KIB);
	ck_assert_int_eq(f.dev.ops->rollback(&f.dev), 0);
	free(out);
	fixture_done(&f);
}
END_TEST

/* A device whose initial_bytes is 0 from the start is done at its first
 * temporary end of stream; a device without PRE_COPY has no initial data
 * (no op), one without MIG_DATA_SIZE no stop-copy size. */
START_TEST(test_initial_pending_and_stop_copy_size_edges)
{
	struct v2_fixture f;
	uint8_t out[64];
	size_t at = 0;
	uint64_t bytes;

	fixture(&f, ALL, 64, 0, 0);
	ck_assert_int_eq(open_dev(&f), 0);
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), 0);
	ck_assert_int_eq(f.dev.ops->initial_pending(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, 1);
	ck_assert_uint_eq(read_some(&f, out, &at), 0);
	ck_assert_int_eq(f.dev.ops->initial_pending(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, 0);
	/* PRECOPY_INFO failing is an error, not a 0. */
	ck_assert_int_eq(f.dev.ops->rollback(&f.dev), 0);
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), 0);
	fake.fail_req = FAKE_PRECOPY_INFO;
	fake.fail_nth = 1;
	fake.fail_errno = EIO;
	ck_assert_int_eq(f.dev.ops->initial_pending(&f.dev, &bytes), -EIO);
	ck_assert_int_eq(f.dev.ops->rollback(&f.dev), 0);
	fixture_done(&f);

	/* A device that never reaches its temporary end (its dirty data keeps
	 * coming): initial_bytes 0 twice with data read between is enough. */
	fixture(&f, ALL, 3 << 20, 3 << 20, 100 * KIB);
	ck_assert_int_eq(open_dev(&f), 0);
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), 0);
	ck_assert_int_eq(f.dev.ops->save_next(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, V2_BUFFER_SIZE); /* a full buffer, not the end */
	ck_assert_int_eq(f.dev.ops->initial_pending(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, 1);
	ck_assert_int_eq(f.dev.ops->initial_pending(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, 1); /* no data between: not yet */
	ck_assert_int_eq(f.dev.ops->save_next(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, V2_BUFFER_SIZE);
	ck_assert_int_eq(f.dev.ops->initial_pending(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, 0);
	ck_assert_int_eq(f.dev.ops->rollback(&f.dev), 0);
	fixture_done(&f);

	fixture(&f, V2_MIG_STOP_COPY | V2_MIG_P2P, 64, 0, 0);
	fake.dev[0].data_size = 64;
	ck_assert_int_eq(open_dev(&f), 0);
	ck_assert_ptr_null(f.dev.ops->initial_pending);
	ck_assert_int_eq(f.dev.ops->stop_copy_size(&f.dev, &bytes), 0);
	ck_assert_uint_eq(bytes, 64);
	fixture_done(&f);

	fixture(&f, ALL, 64, 0, 0);
	fake.dev[0].has_data_size = 0;
	ck_assert_int_eq(open_dev(&f), 0);
	ck_assert_int_eq(f.dev.ops->stop_copy_size(&f.dev, &bytes), -ENOTSUP);
	fixture_done(&f);
}
END_TEST

static void
assert_bits(const uint8_t *raw, uint64_t n, const uint64_t *set, size_t nset)
{
	uint64_t i;
	size_t k;
	int want;

	for (i = 0; i < n; i++) {
		want = 0;
		for (k = 0; k < nset; k++)
			want |= set[k] == i;
		ck_assert_msg(((raw[i / 8] >> (i % 8)) & 1) == want, "bit %llu", (unsigned long long)i);
	}
}

START_TEST(test_dma_logging_by_the_device)
{
	static uint64_t dirty[] = {0, 5, 63, 64, 99};
	const uint64_t want_all[] = {0, 5, 63, 64, 99}, want_hi[] = {13, 14, 49};
	struct v2_fixture f;
	uint8_t raw[16];
	uint64_t n;

	fixture(&f, ALL, 1000, 0, 0);
	fake.dev[0].dma_logging = 1;
	fake.dev[0].log_page_size = 8192; /* the device picks its own granule */
	fake.dev[0].dirty_pfns = dirty;
	fake.dev[0].ndirty = 5;
	ck_assert_int_eq(open_dev(&f), 0);
	f.dev.guest_memory_size = 128 * 4096;
	f.dev.guest_page_size = 4096;
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), 0);
	ck_assert_int_eq(fake.dev[0].logging, 1);
	ck_assert_uint_eq(fake.dev[0].log_iova, 0);
	ck_assert_uint_eq(fake.dev[0].log_length, 128 * 4096);
	memset(raw, 0, sizeof(raw));
	ck_assert_int_eq(f.dev.ops->dirty_bitmap(&f.dev, 0, 128, raw, &n), 0);
	ck_assert_uint_eq(n, 5);
	assert_bits(raw, 128, want_all, 5);
	/* A window: bits relative to its first page; bits already set are
	 * not counted again. */
	memset(raw, 0, sizeof(raw));
	raw[1] = 1u << 5; /* page 50 + 13 = 63 already known */
	ck_assert_int_eq(f.dev.ops->dirty_bitmap(&f.dev, 50, 78, raw, &n), 0);
	ck_assert_uint_eq(n, 2);
	assert_bits(raw, 78, want_hi, 3);
	ck_assert_int_eq(f.dev.ops->save_end(&f.dev), 0);
	ck_assert_int_eq(fake.dev[0].logging, 0);
	fixture_done(&f);
}
END_TEST

START_TEST(test_dma_logging_falls_back_to_type1)
{
	static uint64_t dirty[] = {3, 70};
	const uint64_t want[] = {3, 70};
	struct v2_fixture f;
	uint8_t raw[16];
	uint64_t n;
	json_t *js;

	fixture(&f, ALL, 1000, 0, 0);
	fixture_path(&f, "/dev/vfio/42");
	fake.type1_dirty = 1;
	fake.dev[0].dirty_pfns = dirty;
	fake.dev[0].ndirty = 2;
	ck_assert_int_eq(open_dev(&f), 0);
	js = f.dev.ops->describe(&f.dev);
	ck_assert_str_eq(json_string_value(json_object_get(js, "dirty_tracking_by")),
	    "type1 IOMMU dirty pages");
	json_decref(js);
	f.dev.guest_memory_size = 128 * 4096;
	f.dev.guest_page_size = 4096;
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), 0);
	ck_assert_int_eq(fake.type1_logging, 1);
	memset(raw, 0, sizeof(raw));
	ck_assert_int_eq(f.dev.ops->dirty_bitmap(&f.dev, 0, 128, raw, &n), 0);
	ck_assert_uint_eq(n, 2);
	assert_bits(raw, 128, want, 2);
	ck_assert_int_eq(f.dev.ops->rollback(&f.dev), 0);
	ck_assert_int_eq(fake.type1_logging, 0);
	fixture_done(&f);

	/* Neither: a device with guest memory cannot start a save. */
	fixture(&f, ALL, 1000, 0, 0);
	ck_assert_int_eq(open_dev(&f), 0);
	f.dev.guest_memory_size = 128 * 4096;
	f.dev.guest_page_size = 4096;
	ck_assert_int_eq(f.dev.ops->save_begin(&f.dev, 1), -ENOTSUP);
	ck_assert_str_eq(f.dev.ops->state_name(&f.dev), "running");
	fixture_done(&f);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("vfio_v2");
	TCase *tc = tcase_create("backend");

	unsetenv("JOURNAL_STREAM");
	log_init("test_vfio_v2", LOG_LEVEL_INFO);
	signal(SIGPIPE, SIG_IGN);
	tcase_add_unchecked_fixture(tc, tu_scratch_setup, tu_scratch_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_open_reports_the_features);
	tcase_add_test(tc, test_open_refuses_devices_without_v2_migration);
	tcase_add_test(tc, test_open_brings_a_stale_device_back);
	tcase_add_test(tc, test_save_precopy_with_p2p);
	tcase_add_test(tc, test_save_without_precopy_or_p2p);
	tcase_add_test(tc, test_save_stopcopy_only_with_p2p);
	tcase_add_test(tc, test_resume);
	tcase_add_test(tc, test_refused_arc_then_rollback);
	tcase_add_test(tc, test_refused_into_error_then_reset);
	tcase_add_test(tc, test_data_fd_breaches);
	tcase_add_test(tc, test_initial_pending_waits_for_the_async_save);
	tcase_add_test(tc, test_initial_pending_and_stop_copy_size_edges);
	tcase_add_test(tc, test_dma_logging_by_the_device);
	tcase_add_test(tc, test_dma_logging_falls_back_to_type1);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
