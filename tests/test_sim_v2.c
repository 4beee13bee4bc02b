/*
 * test_sim_v2.c: the software v2 device behaves as the v2 uAPI says, seen
 * through struct v2_device (as the driver sees it) and the v2 driver:
 * only the uAPI's single arcs, a real data fd per session, PRECOPY_INFO,
 * the stop-copy size, DMA logging, a resume that checks the whole stream,
 * sessions that end without hanging whatever the reader does, and a
 * migration between two devices that ends with identical images.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "clock.h"
#include "log.h"
#include "sim_v2.h"
#include "testutil.h"
#include "v2_driver.h"
#include "xmalloc.h"

#define KIB 1024u
#define MIB (1024u * 1024u)
#define ALL (V2_MIG_STOP_COPY | V2_MIG_P2P | V2_MIG_PRE_COPY)
#define MS 1000000ull

struct sim {
	struct tu_sim ts;
	struct sim_v2 *dev;
	struct v2_dev drv;
};

/* A device of a driver model, with a transition delay (ms). */
static void
sim_open_model(struct sim *s, const char *name, uint64_t size, uint64_t seed,
    enum sim_v2_model model, uint32_t delay_ms)
{
	struct sim_v2_config cfg;

	tu_sim_config(&s->ts, name, size, seed);
	s->ts.cfg.section_size = 64 * KIB;
	memset(&cfg, 0, sizeof(cfg));
	cfg.core = s->ts.cfg;
	cfg.model = model;
	cfg.transition_delay_ms = delay_ms;
	cfg.save_ms = 50;
	ck_assert_int_eq(sim_v2_open(&cfg, &s->dev), 0);
	ck_assert_int_eq(v2_attach(&s->drv, sim_v2_device(s->dev), name), 0);
	s->drv.wait_ms = 10000;
}

/* A device of size bytes (and guest memory, if guest > 0) whose workload
 * writes `rate` bytes/s of state and of guest memory. */
static void
sim_open_rate(struct sim *s, const char *name, uint64_t size, uint64_t seed, uint64_t flags,
    uint64_t guest, uint64_t rate)
{
	struct sim_v2_config cfg;

	tu_sim_config(&s->ts, name, size, seed);
	s->ts.cfg.section_size = 64 * KIB;
	s->ts.cfg.dirty_rate = rate;
	if (guest > 0) {
		tu_sim_guest(&s->ts, guest);
		s->ts.cfg.dma_dirty_rate = rate;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.core = s->ts.cfg;
	cfg.flags = flags;
	ck_assert_int_eq(sim_v2_open(&cfg, &s->dev), 0);
	ck_assert_int_eq(v2_attach(&s->drv, sim_v2_device(s->dev), name), 0);
	s->drv.wait_ms = 10000;
}

static void
sim_open(struct sim *s, const char *name, uint64_t size, uint64_t seed, uint64_t flags,
    uint64_t guest)
{
	sim_open_rate(s, name, size, seed, flags, guest, 0);
}

static void
sim_close(struct sim *s)
{
	v2_detach(&s->drv);
	sim_v2_close(s->dev);
}

static const struct v2_device_ops *
ops(struct sim *s)
{
	return sim_v2_device(s->dev)->ops;
}

/* One arc straight on the device; the session's fd, if any, is closed. */
static int
arc(struct sim *s, uint32_t to)
{
	int fd = -1, err = ops(s)->set_state(sim_v2_device(s->dev), to, &fd);

	if (fd >= 0)
		close(fd);
	return err;
}

START_TEST(test_only_single_arcs)
{
	struct sim s;

	sim_open(&s, "arcs", 256 * KIB, 1, ALL, 0);
	/* With P2P, RUNNING and STOP do not meet directly. */
	ck_assert_int_eq(arc(&s, V2_STATE_STOP), -EINVAL);
	ck_assert_int_eq(arc(&s, V2_STATE_STOP_COPY), -EINVAL);
	ck_assert_int_eq(arc(&s, V2_STATE_RUNNING_P2P), 0);
	ck_assert_int_eq(arc(&s, V2_STATE_STOP), 0);
	ck_assert_int_eq(arc(&s, V2_STATE_RUNNING), -EINVAL);
	ck_assert_int_eq(arc(&s, V2_STATE_STOP_COPY), 0);
	/* Blocked by the uAPI. */
	ck_assert_int_eq(arc(&s, V2_STATE_PRE_COPY), -EINVAL);
	ck_assert_int_eq(arc(&s, V2_STATE_PRE_COPY_P2P), -EINVAL);
	ck_assert_int_eq(arc(&s, V2_STATE_ERROR), -EINVAL);
	ck_assert_int_eq(arc(&s, V2_STATE_STOP), 0);
	ck_assert_uint_eq(sim_v2_state(s.dev), V2_STATE_STOP);
	sim_close(&s);

	/* Without P2P and PRE_COPY: RUNNING <-> STOP, no optional state. */
	sim_open(&s, "plain", 256 * KIB, 1, V2_MIG_STOP_COPY, 0);
	ck_assert_int_eq(arc(&s, V2_STATE_PRE_COPY), -EINVAL);
	ck_assert_int_eq(arc(&s, V2_STATE_RUNNING_P2P), -EINVAL);
	ck_assert_int_eq(arc(&s, V2_STATE_STOP), 0);
	ck_assert_int_eq(arc(&s, V2_STATE_RESUMING), 0);
	sim_close(&s);

	/* A v2 device without STOP_COPY is not one. */
	{
		struct sim_v2_config cfg;
		struct sim_v2 *dev = NULL;
		struct tu_sim ts;

		tu_sim_config(&ts, "none", 256 * KIB, 1);
		memset(&cfg, 0, sizeof(cfg));
		cfg.core = ts.cfg;
		cfg.flags = V2_MIG_P2P;
		ck_assert_int_eq(sim_v2_open(&cfg, &dev), -EINVAL);
	}
}
END_TEST

/* Move what the source has now into the destination; returns bytes. */
static uint64_t
pump(struct sim *src, struct sim *dst)
{
	uint64_t size;
	uint8_t *buf;

	ck_assert_int_eq(v2_save_next(&src->drv, &size), 0);
	if (size == 0)
		return 0;
	buf = xmalloc(size);
	ck_assert_int_eq(v2_save_read(&src->drv, 0, buf, size), 0);
	ck_assert_int_eq(v2_resume_write(&dst->drv, buf, size), 0);
	free(buf);
	return size;
}

/* Guest pages the source's DMA log reports, copied like the engine does. */
static uint64_t
copy_dirty_guest(struct sim *src, struct sim *dst, uint64_t pages)
{
	uint8_t *raw = xcalloc(1, pages / 8 + 1), *gs, *gd;
	uint64_t i, dirty, n;

	ck_assert_int_eq(v2_dirty_bitmap(&src->drv, 0, pages, raw, &dirty), 0);
	gs = sim_v2_guest_memory(src->dev, &n);
	gd = sim_v2_guest_memory(dst->dev, &n);
	for (i = 0; i < pages; i++)
		if (raw[i / 8] & (1u << (i % 8)))
			memcpy(gd + i * 4096, gs + i * 4096, 4096);
	free(raw);
	return dirty;
}

START_TEST(test_migration_between_two_devices)
{
	struct sim src, dst;
	const uint64_t guest_pages = 256;
	uint64_t moved = 0, pending, n1, n2, dirty = 0;
	const uint8_t *a, *b;
	int i;

	sim_open_rate(&src, "src", 2 * MIB, 1, ALL, guest_pages * 4096, 32 * MIB);
	sim_open(&dst, "dst", 2 * MIB, 2, ALL, guest_pages * 4096);
	ck_assert_int_eq(v2_log_begin(&src.drv, guest_pages, 4096), 0);
	ck_assert_int_eq(v2_start_save(&src.drv, 1), 0);
	ck_assert_int_eq(v2_start_resume(&dst.drv), 0);
	/* Pre-copy, with the device running, until a good part of the first
	 * pass has moved (the worker thread runs at its own pace). */
	for (i = 0; i < 20000 && moved < 1 * MIB; i++) {
		sim_v2_tick(src.dev, 1 * MS);
		n1 = pump(&src, &dst);
		moved += n1;
		if (i % 50 == 0)
			dirty += copy_dirty_guest(&src, &dst, guest_pages);
		if (n1 == 0)
			usleep(100);
	}
	ck_assert_int_eq(v2_pending(&src.drv, &pending), 0);
	/* The switchover; stop-copy to the end of the stream. */
	ck_assert_int_eq(v2_start_stopcopy(&src.drv), 0);
	while (pump(&src, &dst) > 0)
		;
	ck_assert_int_eq(v2_pending(&src.drv, &pending), 0);
	ck_assert_uint_eq(pending, 0);
	dirty += copy_dirty_guest(&src, &dst, guest_pages);
	ck_assert_uint_ge(dirty, guest_pages); /* the first report is everything */
	ck_assert_int_eq(v2_finish_resume(&dst.drv), 0);
	ck_assert_uint_eq(sim_v2_state(dst.dev), V2_STATE_RUNNING);
	ck_assert_int_eq(v2_finish_save(&src.drv), 0);
	ck_assert_uint_eq(sim_v2_state(src.dev), V2_STATE_STOP);
	a = sim_v2_image(src.dev, &n1);
	b = sim_v2_image(dst.dev, &n2);
	ck_assert_uint_eq(n1, n2);
	ck_assert(memcmp(a, b, n1) == 0);
	a = sim_v2_guest_memory(src.dev, &n1);
	b = sim_v2_guest_memory(dst.dev, &n2);
	ck_assert(memcmp(a, b, n1) == 0);
	ck_assert_uint_gt(moved, 0);
	sim_close(&src);
	sim_close(&dst);
}
END_TEST

/* Read until PRECOPY_INFO says everything ready has been read. */
static void
drain_precopy(struct sim *s)
{
	uint64_t size, initial, dirty;
	int i;

	for (i = 0; i < 10000; i++) {
		ck_assert_int_eq(v2_save_next(&s->drv, &size), 0);
		ck_assert_int_eq(ops(s)->precopy_info(sim_v2_device(s->dev), s->drv.data_fd, &initial,
		    &dirty), 0);
		if (size == 0 && initial == 0 && dirty == 0)
			return;
		if (size == 0)
			usleep(1000);
	}
	ck_abort_msg("pre-copy never drained");
}

START_TEST(test_precopy_info_follows_the_stream)
{
	struct sim s;
	uint64_t initial, dirty, initial2, dirty2, size, estimate;

	sim_open_rate(&s, "info", 1 * MIB, 3, ALL, 0, 16 * MIB);
	ck_assert_int_eq(ops(&s)->stop_copy_size(sim_v2_device(s.dev), &estimate), 0);
	ck_assert_uint_gt(estimate, 1 * MIB);
	/* Not in pre-copy: EINVAL, as the uAPI says. */
	ck_assert_int_eq(ops(&s)->precopy_info(sim_v2_device(s.dev), 0, &initial, &dirty), -EINVAL);
	ck_assert_int_eq(v2_start_save(&s.drv, 1), 0);
	ck_assert_int_eq(ops(&s)->precopy_info(sim_v2_device(s.dev), s.drv.data_fd, &initial,
	    &dirty), 0);
	ck_assert_uint_gt(initial, 1 * MIB);
	ck_assert_uint_lt(dirty, 4 * KIB); /* frame headers at most */
	ck_assert_int_eq(v2_save_next(&s.drv, &size), 0);
	ck_assert_int_eq(ops(&s)->precopy_info(sim_v2_device(s.dev), s.drv.data_fd, &initial2,
	    &dirty2), 0);
	ck_assert_uint_le(initial2, initial);
	drain_precopy(&s);
	/* The device keeps running: what it changes is dirty, not initial. */
	sim_v2_tick(s.dev, 5 * MS);
	ck_assert_int_eq(ops(&s)->precopy_info(sim_v2_device(s.dev), s.drv.data_fd, &initial,
	    &dirty), 0);
	ck_assert_uint_eq(initial, 0);
	ck_assert_uint_gt(dirty, 0);
	ck_assert_int_eq(v2_rollback(&s.drv), 0);
	sim_close(&s);
}
END_TEST

/* A whole saved stream, straight to stop-copy. */
static uint8_t *
saved_stream(uint64_t *len)
{
	struct sim s;
	uint8_t *out = NULL;
	uint64_t size;

	*len = 0;
	sim_open(&s, "saved", 256 * KIB, 5, ALL, 0);
	ck_assert_int_eq(v2_start_save(&s.drv, 0), 0);
	for (;;) {
		ck_assert_int_eq(v2_save_next(&s.drv, &size), 0);
		if (size == 0)
			break;
		out = xrealloc(out, *len + size);
		ck_assert_int_eq(v2_save_read(&s.drv, 0, out + *len, size), 0);
		*len += size;
	}
	ck_assert_int_eq(v2_finish_save(&s.drv), 0);
	sim_close(&s);
	return out;
}

/* Resume from stream[0, len) into a fresh device: its verdict. */
static int
resume_from(const uint8_t *stream, uint64_t len)
{
	struct sim s;
	int err;

	sim_open(&s, "resumed", 256 * KIB, 6, ALL, 0);
	ck_assert_int_eq(v2_start_resume(&s.drv), 0);
	ck_assert_int_eq(v2_resume_write(&s.drv, stream, len), 0);
	err = v2_finish_resume(&s.drv);
	if (err != 0) {
		ck_assert_uint_eq(sim_v2_state(s.dev), V2_STATE_ERROR);
		ck_assert_int_eq(v2_reset(&s.drv), 0);
		ck_assert_uint_eq(sim_v2_state(s.dev), V2_STATE_RUNNING);
	}
	sim_close(&s);
	return err;
}

START_TEST(test_resume_checks_the_whole_stream)
{
	uint64_t len;
	uint8_t *stream = saved_stream(&len), *bad = xmalloc(len + 64);

	ck_assert_uint_gt(len, 256 * KIB);
	ck_assert_int_eq(resume_from(stream, len), 0);
	/* No END frame. */
	ck_assert_int_eq(resume_from(stream, len - 8), -EINVAL);
	/* Cut inside a record. */
	ck_assert_int_eq(resume_from(stream, len / 2), -EINVAL);
	/* Empty. */
	ck_assert_int_eq(resume_from(stream, 0), -EINVAL);
	/* Not a sim-v2 stream. */
	memcpy(bad, stream, len);
	bad[0] ^= 0xff;
	ck_assert_int_eq(resume_from(bad, len), -EINVAL);
	/* A byte of device state flipped: the record's checksum catches it. */
	memcpy(bad, stream, len);
	bad[16 + 8 + 24 + 8 + 100] ^= 0x01;
	ck_assert_int_eq(resume_from(bad, len), -EINVAL);
	/* A frame header out of bounds. */
	memcpy(bad, stream, len);
	bad[16 + 4] = 0xff;
	bad[16 + 7] = 0x7f;
	ck_assert_int_eq(resume_from(bad, len), -EINVAL);
	/* Data after END. */
	memcpy(bad, stream, len);
	memcpy(bad + len, stream + 16, 32);
	ck_assert_int_eq(resume_from(bad, len + 32), -EINVAL);
	free(bad);
	free(stream);
}
END_TEST

/* Sessions end on time whatever the reader does: the worker may be
 * blocked on a full socket. */
START_TEST(test_sessions_end_without_a_reader)
{
	struct sim s;
	uint32_t state;

	sim_open(&s, "stuck", 8 * MIB, 7, ALL, 0);
	ck_assert_int_eq(v2_start_save(&s.drv, 1), 0);
	usleep(50000); /* the worker fills the socket and blocks */
	ck_assert_int_eq(v2_rollback(&s.drv), 0);
	ck_assert_int_eq(ops(&s)->get_state(sim_v2_device(s.dev), &state), 0);
	ck_assert_uint_eq(state, V2_STATE_RUNNING);
	/* Stop-copy never read, then stopped. */
	ck_assert_int_eq(v2_start_save(&s.drv, 0), 0);
	usleep(20000);
	ck_assert_int_eq(v2_finish_save(&s.drv), 0);
	/* A resume nobody writes to, reset; and closing mid-session. */
	ck_assert_int_eq(v2_reset(&s.drv), 0);
	ck_assert_int_eq(v2_start_resume(&s.drv), 0);
	ck_assert_int_eq(v2_reset(&s.drv), 0);
	ck_assert_int_eq(v2_start_save(&s.drv, 1), 0);
	sim_close(&s);
}
END_TEST

START_TEST(test_dma_log)
{
	struct sim s;
	const struct v2_device_ops *o;
	struct v2_device *d;
	uint64_t words[2], ps = 4096, dirty;
	uint8_t raw[8];

	sim_open_rate(&s, "dma", 256 * KIB, 8, ALL, 64 * 4096, 64 * MIB);
	o = ops(&s);
	d = sim_v2_device(s.dev);
	ck_assert_str_eq(d->dirty_tracking, "device DMA logging");
	/* The range must lie in guest memory; one start at a time. */
	ck_assert_int_eq(o->log_start(d, 0, 65 * 4096, &ps), -EINVAL);
	ck_assert_int_eq(o->log_start(d, 0, 64 * 4096, &ps), 0);
	ck_assert_int_eq(o->log_start(d, 0, 64 * 4096, &ps), -EINVAL);
	/* Outside the saving states the log reports nothing yet (documented):
	 * the first report in one covers everything. */
	memset(words, 0, sizeof(words));
	ck_assert_int_eq(o->log_report(d, 0, 64 * 4096, 4096, words), 0);
	ck_assert(words[0] == 0 && words[1] == 0);
	ck_assert_int_eq(o->log_stop(d), 0);
	ck_assert_int_eq(o->log_stop(d), -EINVAL);

	ck_assert_int_eq(v2_log_begin(&s.drv, 64, 4096), 0);
	ck_assert_int_eq(v2_start_save(&s.drv, 1), 0);
	memset(raw, 0, sizeof(raw));
	ck_assert_int_eq(v2_dirty_bitmap(&s.drv, 0, 64, raw, &dirty), 0);
	ck_assert_uint_eq(dirty, 64);
	memset(raw, 0, sizeof(raw));
	ck_assert_int_eq(v2_dirty_bitmap(&s.drv, 0, 64, raw, &dirty), 0);
	ck_assert_uint_eq(dirty, 0);
	sim_v2_tick(s.dev, 1 * MS);
	ck_assert_int_eq(v2_dirty_bitmap(&s.drv, 0, 64, raw, &dirty), 0);
	ck_assert_uint_gt(dirty, 0);
	/* Only sets bits: the caller's bits stay. */
	memset(words, 0, sizeof(words));
	words[0] = 1ull << 63;
	ck_assert_int_eq(o->log_report(d, 0, 64 * 4096, 4096, words), 0);
	ck_assert(words[0] & (1ull << 63));
	ck_assert_int_eq(v2_finish_save(&s.drv), 0);
	ck_assert_int_eq(s.drv.logging, 0);
	sim_close(&s);

	/* Without guest memory there is nothing to track. */
	sim_open(&s, "nodma", 256 * KIB, 8, ALL, 0);
	ck_assert_ptr_null(sim_v2_device(s.dev)->dirty_tracking);
	ck_assert_int_eq(v2_log_begin(&s.drv, 64, 4096), -ENOTSUP);
	sim_close(&s);
}
END_TEST

START_TEST(test_refusals_and_reset)
{
	struct sim s;

	sim_open(&s, "refuse", 256 * KIB, 9, ALL, 0);
	sim_v2_refuse(s.dev, V2_STATE_RUNNING, V2_STATE_PRE_COPY, -EIO, 0);
	ck_assert_int_eq(v2_start_save(&s.drv, 1), -EIO);
	ck_assert_uint_eq(s.drv.state, V2_STATE_RUNNING);
	ck_assert_int_eq(v2_start_save(&s.drv, 1), 0);
	sim_v2_refuse(s.dev, V2_STATE_PRE_COPY_P2P, V2_STATE_STOP_COPY, -EIO, 1);
	ck_assert_int_eq(v2_start_stopcopy(&s.drv), -EIO);
	ck_assert_uint_eq(s.drv.state, V2_STATE_ERROR);
	ck_assert_int_lt(s.drv.data_fd, 0);
	ck_assert_int_eq(v2_rollback(&s.drv), 0);
	ck_assert_uint_eq(sim_v2_state(s.dev), V2_STATE_RUNNING);
	sim_close(&s);
}
END_TEST

/* A device without PRE_COPY or P2P migrates too, all of it in stop-copy. */
START_TEST(test_stop_copy_only_device)
{
	struct sim src, dst;
	uint64_t n1, n2, pending;
	const uint8_t *a, *b;

	sim_open(&src, "src1", 512 * KIB, 1, V2_MIG_STOP_COPY, 0);
	sim_open(&dst, "dst1", 512 * KIB, 2, V2_MIG_STOP_COPY, 0);
	ck_assert_int_eq(v2_start_save(&src.drv, 1), 0);
	ck_assert_uint_eq(src.drv.state, V2_STATE_RUNNING);
	ck_assert_int_eq(v2_pending(&src.drv, &pending), 0);
	ck_assert_uint_eq(pending, 0);
	ck_assert_uint_eq(pump(&src, &dst), 0);
	ck_assert_int_eq(v2_start_resume(&dst.drv), 0);
	ck_assert_int_eq(v2_start_stopcopy(&src.drv), 0);
	while (pump(&src, &dst) > 0)
		;
	ck_assert_int_eq(v2_finish_resume(&dst.drv), 0);
	ck_assert_int_eq(v2_finish_save(&src.drv), 0);
	a = sim_v2_image(src.dev, &n1);
	b = sim_v2_image(dst.dev, &n2);
	ck_assert(n1 == n2 && memcmp(a, b, n1) == 0);
	ck_assert_str_eq(sim_v2_identity(src.dev), "sim-v2");
	ck_assert_str_eq(sim_v2_compat(src.dev), sim_v2_compat(dst.dev));
	sim_close(&src);
	sim_close(&dst);
}
END_TEST

/* The stream of the whole image: what MIG_DATA_SIZE says outside the
 * saving states (and always for mlx5). */
static uint64_t
whole_stream(uint64_t size)
{
	uint64_t pages = size / 4096, per = (64 * KIB - 24) / (8 + 4096);

	return 16 + pages * (8 + 4096) + (pages + per - 1) / per * (24 + 8) + 8;
}

/* Read what the device has now into dst's stream (or nowhere); bytes. */
static uint64_t
pump_to(struct sim *src, struct sim *dst)
{
	uint64_t size;
	uint8_t *buf;

	ck_assert_int_eq(v2_save_next(&src->drv, &size), 0);
	if (size == 0 || dst == NULL)
		return size;
	buf = xmalloc(size);
	ck_assert_int_eq(v2_save_read(&src->drv, 0, buf, size), 0);
	ck_assert_int_eq(v2_resume_write(&dst->drv, buf, size), 0);
	free(buf);
	return size;
}

/* uapi: the temporary end of stream (read() 0, standing for ENOMSG) is
 * distinct from "nothing yet" and is not the end: new dirt reopens it;
 * initial_pending is 0 only once the initial data has been read up to it. */
START_TEST(test_uapi_temporary_end_of_stream)
{
	struct sim s;
	uint64_t initial, dirty, bytes, moved = 0, n;
	int i, fd = -1;

	sim_open_model(&s, "uapi", 512 * KIB, 3, SIM_V2_UAPI, 0);
	ck_assert_uint_eq(s.drv.flags, ALL);
	/* An arc to the state it is in: nothing to do, no fd (the uAPI). */
	ck_assert_int_eq(ops(&s)->set_state(sim_v2_device(s.dev), V2_STATE_RUNNING, &fd), 0);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(arc(&s, V2_STATE_ERROR), -EINVAL);
	ck_assert_int_eq(v2_start_save(&s.drv, 1), 0);
	ck_assert_int_eq(v2_initial_pending(&s.drv, &bytes), 0);
	ck_assert_uint_gt(bytes, 512 * KIB);
	/* PRECOPY_INFO belongs to the data fd. */
	ck_assert_int_eq(ops(&s)->precopy_info(sim_v2_device(s.dev), s.drv.data_fd + 100, &initial,
	    &dirty), -ENOTTY);
	for (i = 0; i < 10000 && !s.drv.precopy_end; i++) {
		n = pump_to(&s, NULL);
		moved += n;
		if (n == 0 && !s.drv.precopy_end)
			usleep(1000);
	}
	ck_assert(s.drv.precopy_end);
	ck_assert_uint_gt(moved, 512 * KIB);
	ck_assert_int_eq(ops(&s)->precopy_info(sim_v2_device(s.dev), s.drv.data_fd, &initial,
	    &dirty), 0);
	ck_assert_uint_eq(initial, 0);
	ck_assert_uint_eq(dirty, 0);
	ck_assert_int_eq(v2_initial_pending(&s.drv, &bytes), 0);
	ck_assert_uint_eq(bytes, 0);
	ck_assert_uint_eq(pump_to(&s, NULL), 0);
	ck_assert_int_eq(v2_stop_copy_size(&s.drv, &bytes), 0);
	ck_assert_uint_eq(bytes, 8); /* only END is left */
	/* Stop-copy: same fd, data again up to END and the real end. */
	ck_assert_int_eq(v2_start_stopcopy(&s.drv), 0);
	for (i = 0; i < 100 && !s.drv.stream_end; i++)
		pump_to(&s, NULL);
	ck_assert(s.drv.stream_end);
	ck_assert_int_eq(v2_finish_save(&s.drv), 0);
	sim_close(&s);

	/* With a workload, the temporary end comes between its writes, and
	 * is not the end: what it dirties next comes on the same fd. */
	sim_open_rate(&s, "uapi-rate", 512 * KIB, 4, ALL, 0, 16 * MIB);
	ck_assert_int_eq(v2_start_save(&s.drv, 1), 0);
	for (i = 0; i < 20000; i++) {
		sim_v2_tick(s.dev, 1 * MS);
		if (pump_to(&s, NULL) == 0)
			usleep(200);
		ck_assert_int_eq(v2_initial_pending(&s.drv, &bytes), 0);
		if (bytes == 0)
			break;
	}
	ck_assert_uint_eq(bytes, 0);
	for (moved = 0, i = 0; i < 20000 && moved == 0; i++) {
		sim_v2_tick(s.dev, 1 * MS);
		moved += pump_to(&s, NULL);
		if (moved == 0)
			usleep(200);
	}
	ck_assert_uint_gt(moved, 0);
	ck_assert_int_eq(v2_rollback(&s.drv), 0);
	sim_close(&s);
}
END_TEST

/* mlx5: on PRE_COPY entry only the header is there and counted; EAGAIN
 * while its SAVE runs; then initial_bytes grows by the image. The driver
 * does not take the 0 after the header for "done". MIG_DATA_SIZE is the
 * whole state; the final SAVE makes stop-copy wait; RESUMING -> STOP takes
 * 2 s. Ends with identical images. */
START_TEST(test_mlx5_model)
{
	struct sim src, dst;
	uint64_t initial, dirty, bytes, moved = 0, n1, n2, t0;
	const uint8_t *a, *b;
	int i;

	sim_open_model(&src, "mlx5-src", 1 * MIB, 1, SIM_V2_MLX5, 0);
	sim_open_model(&dst, "mlx5-dst", 1 * MIB, 2, SIM_V2_MLX5, 0);
	ck_assert_uint_eq(src.drv.flags, ALL);
	ck_assert_int_eq(v2_stop_copy_size(&src.drv, &bytes), 0);
	ck_assert_uint_eq(bytes, whole_stream(1 * MIB));
	ck_assert_int_eq(v2_start_resume(&dst.drv), 0);
	ck_assert_int_eq(v2_start_save(&src.drv, 1), 0);
	ck_assert_int_eq(ops(&src)->precopy_info(sim_v2_device(src.dev), src.drv.data_fd, &initial,
	    &dirty), 0);
	ck_assert_uint_eq(initial, 16);
	ck_assert_uint_eq(dirty, 0);
	/* The header, then EAGAIN (no end of stream) while the SAVE runs. */
	for (i = 0; i < 10000 && moved < 16; i++)
		if ((n1 = pump_to(&src, &dst)) == 0)
			usleep(1000);
		else
			moved += n1;
	ck_assert_uint_eq(moved, 16);
	ck_assert_uint_eq(pump_to(&src, &dst), 0);
	ck_assert(!src.drv.precopy_end);
	ck_assert_int_eq(ops(&src)->precopy_info(sim_v2_device(src.dev), src.drv.data_fd, &initial,
	    &dirty), 0);
	ck_assert_uint_eq(initial + dirty, 0); /* a naive reader would switch over now */
	ck_assert_int_eq(v2_initial_pending(&src.drv, &bytes), 0);
	ck_assert_uint_eq(bytes, 1);
	ck_assert_int_eq(v2_stop_copy_size(&src.drv, &bytes), 0);
	ck_assert_uint_eq(bytes, whole_stream(1 * MIB));
	/* The SAVE completes: initial_bytes grows; read it all. */
	for (i = 0; i < 20000; i++) {
		n1 = pump_to(&src, &dst);
		moved += n1;
		ck_assert_int_eq(v2_initial_pending(&src.drv, &bytes), 0);
		if (bytes == 0)
			break;
		if (n1 == 0)
			usleep(500);
	}
	ck_assert_uint_eq(bytes, 0);
	ck_assert_uint_gt(moved, 1 * MIB);
	/* The final SAVE: stop-copy waits for it, then to the end. */
	ck_assert_int_eq(v2_start_stopcopy(&src.drv), 0);
	while (pump_to(&src, &dst) > 0)
		;
	ck_assert(src.drv.stream_end);
	t0 = mono_ns();
	ck_assert_int_eq(v2_finish_resume(&dst.drv), 0);
	ck_assert_uint_ge(mono_ns() - t0, (uint64_t)SIM_V2_MLX5_RESUME_MS * MS);
	ck_assert_int_eq(v2_finish_save(&src.drv), 0);
	a = sim_v2_image(src.dev, &n1);
	b = sim_v2_image(dst.dev, &n2);
	ck_assert(n1 == n2 && memcmp(a, b, n1) == 0);
	sim_close(&src);
	sim_close(&dst);

	/* transition_delay_ms, when set, is what RESUMING -> STOP takes too. */
	sim_open_model(&dst, "mlx5-fast", 256 * KIB, 2, SIM_V2_MLX5, 1);
	ck_assert_int_eq(v2_start_resume(&dst.drv), 0);
	t0 = mono_ns();
	ck_assert_int_eq(v2_finish_resume(&dst.drv), -EINVAL); /* an empty stream */
	ck_assert_uint_lt(mono_ns() - t0, 1000 * MS);
	sim_close(&dst);
}
END_TEST

/* no-precopy: STOP_COPY and P2P only; PRE_COPY arcs refused; everything
 * moves in stop-copy; MIG_DATA_SIZE the whole state. */
START_TEST(test_no_precopy_model)
{
	struct sim src, dst;
	uint64_t bytes, n1, n2;
	const uint8_t *a, *b;
	struct sim_v2_config cfg;
	struct sim_v2 *dev = NULL;

	sim_open_model(&src, "np-src", 512 * KIB, 1, SIM_V2_NO_PRECOPY, 0);
	sim_open_model(&dst, "np-dst", 512 * KIB, 2, SIM_V2_NO_PRECOPY, 0);
	ck_assert_uint_eq(src.drv.flags, V2_MIG_STOP_COPY | V2_MIG_P2P);
	ck_assert_int_eq(arc(&src, V2_STATE_PRE_COPY), -EINVAL);
	ck_assert_int_eq(arc(&src, V2_STATE_RUNNING_P2P), 0);
	ck_assert_int_eq(arc(&src, V2_STATE_PRE_COPY_P2P), -EINVAL);
	ck_assert_int_eq(arc(&src, V2_STATE_RUNNING), 0);
	ck_assert_int_eq(v2_start_save(&src.drv, 1), 0);
	ck_assert_uint_eq(src.drv.state, V2_STATE_RUNNING);
	ck_assert_int_eq(v2_initial_pending(&src.drv, &bytes), 0);
	ck_assert_uint_eq(bytes, 0);
	ck_assert_int_eq(v2_stop_copy_size(&src.drv, &bytes), 0);
	ck_assert_uint_eq(bytes, whole_stream(512 * KIB));
	ck_assert_int_eq(v2_start_resume(&dst.drv), 0);
	ck_assert_int_eq(v2_start_stopcopy(&src.drv), 0);
	while (pump_to(&src, &dst) > 0)
		;
	ck_assert_int_eq(v2_finish_resume(&dst.drv), 0);
	ck_assert_int_eq(v2_finish_save(&src.drv), 0);
	a = sim_v2_image(src.dev, &n1);
	b = sim_v2_image(dst.dev, &n2);
	ck_assert(n1 == n2 && memcmp(a, b, n1) == 0);
	sim_close(&src);
	sim_close(&dst);

	/* It cannot be made to offer PRE_COPY. */
	memset(&cfg, 0, sizeof(cfg));
	tu_sim_config(&src.ts, "np-bad", 256 * KIB, 1);
	cfg.core = src.ts.cfg;
	cfg.model = SIM_V2_NO_PRECOPY;
	cfg.flags = ALL;
	ck_assert_int_eq(sim_v2_open(&cfg, &dev), -EINVAL);
}
END_TEST

/* Every state change blocks transition_delay_ms; one to the same state is
 * not a change. */
START_TEST(test_transition_delay)
{
	struct sim s;
	uint64_t t0;

	sim_open_model(&s, "slow", 256 * KIB, 1, SIM_V2_UAPI, 40);
	t0 = mono_ns();
	ck_assert_int_eq(v2_start_resume(&s.drv), 0); /* three arcs */
	ck_assert_uint_ge(mono_ns() - t0, 3 * 40 * MS);
	t0 = mono_ns();
	ck_assert_int_eq(arc(&s, V2_STATE_RESUMING), 0);
	ck_assert_uint_lt(mono_ns() - t0, 40 * MS);
	ck_assert_int_eq(v2_reset(&s.drv), 0);
	sim_close(&s);
}
END_TEST

START_TEST(test_model_names)
{
	ck_assert_int_eq(sim_v2_model_parse(NULL), SIM_V2_UAPI);
	ck_assert_int_eq(sim_v2_model_parse("uapi"), SIM_V2_UAPI);
	ck_assert_int_eq(sim_v2_model_parse("mlx5"), SIM_V2_MLX5);
	ck_assert_int_eq(sim_v2_model_parse("no-precopy"), SIM_V2_NO_PRECOPY);
	ck_assert_int_eq(sim_v2_model_parse("MLX5"), -1);
	ck_assert_int_eq(sim_v2_model_parse(""), -1);
	ck_assert_str_eq(sim_v2_model_name(SIM_V2_NO_PRECOPY), "no-precopy");
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("sim_v2");
	TCase *tc = tcase_create("device");

	unsetenv("JOURNAL_STREAM");
	log_init("test_sim_v2", LOG_LEVEL_INFO);
	signal(SIGPIPE, SIG_IGN);
	tcase_add_unchecked_fixture(tc, tu_scratch_setup, tu_scratch_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_only_single_arcs);
	tcase_add_test(tc, test_migration_between_two_devices);
	tcase_add_test(tc, test_precopy_info_follows_the_stream);
	tcase_add_test(tc, test_resume_checks_the_whole_stream);
	tcase_add_test(tc, test_sessions_end_without_a_reader);
	tcase_add_test(tc, test_dma_log);
	tcase_add_test(tc, test_refusals_and_reset);
	tcase_add_test(tc, test_stop_copy_only_device);
	tcase_add_test(tc, test_uapi_temporary_end_of_stream);
	tcase_add_test(tc, test_mlx5_model);
	tcase_add_test(tc, test_no_precopy_model);
	tcase_add_test(tc, test_transition_delay);
	tcase_add_test(tc, test_model_names);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
