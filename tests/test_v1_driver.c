/*
 * test_v1_driver.c: the v1 driver migrates a software device into another
 * one (images and guest memory end up byte-identical), and copes with a
 * device that refuses, lies, or answers in pieces. Misbehaviour comes from a
 * wrapper region put between the driver and a real software device.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "kabi_v1.h"
#include "log.h"
#include "sim_v1.h"
#include "testutil.h"
#include "v1_driver.h"

#define MS 1000000ull
#define ST_PRECOPY (VFIO_DEVICE_STATE_SAVING | VFIO_DEVICE_STATE_RUNNING)
#define ST_ERROR (VFIO_DEVICE_STATE_SAVING | VFIO_DEVICE_STATE_RESUMING)

/* A region in front of a real one that can misbehave on request. */
struct wrap {
	struct mig_region region;
	struct mig_region *inner;
	int no_map;		  /* map() says -ENOTSUP */
	size_t max_io;		  /* data section accesses cut to this many bytes */
	int state_write_error;	  /* every device_state write fails with it */
	int reset_noop;		  /* reset() succeeds and does nothing */
	int reset_error;	  /* reset() fails with it */
	uint64_t data_offset;	  /* non-zero: what data_offset reads return */
	uint64_t data_size;	  /* non-zero: what data_size reads return */
	int empty_buffers;	  /* data_size reads return 0 */
	uint64_t total_pfns_cap;  /* non-zero: total_pfns writes capped to it */
	unsigned int resets, bitmap_queries, short_ios;
	unsigned int offset_reads, pending_reads;
	unsigned int reads;	  /* every read of the region */
	uint64_t offset_read;	  /* what the last data_offset read returned */
	uint32_t state_written;	  /* the last device_state value written */
};

static ssize_t
wrap_read(struct mig_region *r, uint64_t offset, void *buf, size_t len)
{
	struct wrap *w = r->priv;
	ssize_t n;

	w->reads++;
	if (offset >= SIM_V1_DATA_OFFSET && w->max_io != 0 && len > w->max_io) {
		len = w->max_io;
		w->short_ios++;
	}
	if (offset == V1_OFF(copied_pfns))
		w->bitmap_queries++;
	if (offset == V1_OFF(data_offset))
		w->offset_reads++;
	if (offset == V1_OFF(pending_bytes))
		w->pending_reads++;
	n = w->inner->ops->read(w->inner, offset, buf, len);
	if (n == 8 && offset == V1_OFF(data_offset) && w->data_offset != 0)
		memcpy(buf, &w->data_offset, 8);
	if (n == 8 && offset == V1_OFF(data_size) && w->data_size != 0)
		memcpy(buf, &w->data_size, 8);
	if (n == 8 && offset == V1_OFF(data_size) && w->empty_buffers)
		memset(buf, 0, 8);
	if (n == 8 && offset == V1_OFF(data_offset))
		memcpy(&w->offset_read, buf, 8);
	return n;
}

static ssize_t
wrap_write(struct mig_region *r, uint64_t offset, const void *buf, size_t len)
{
	struct wrap *w = r->priv;
	uint64_t v;

	if (offset == V1_OFF(device_state) && w->state_write_error != 0)
		return w->state_write_error;
	if (offset == V1_OFF(device_state) && len == 4)
		memcpy(&w->state_written, buf, 4);
	if (offset == V1_OFF(total_pfns) && len == 8 && w->total_pfns_cap != 0) {
		memcpy(&v, buf, 8);
		if (v > w->total_pfns_cap)
			v = w->total_pfns_cap;
		return w->inner->ops->write(w->inner, offset, &v, 8);
	}
	if (offset >= SIM_V1_DATA_OFFSET && w->max_io != 0 && len > w->max_io) {
		len = w->max_io;
		w->short_ios++;
	}
	return w->inner->ops->write(w->inner, offset, buf, len);
}

static int
wrap_map(struct mig_region *r, uint64_t offset, size_t len, void **addr)
{
	struct wrap *w = r->priv;

	if (w->no_map)
		return -ENOTSUP;
	return w->inner->ops->map(w->inner, offset, len, addr);
}

static int
wrap_reset(struct mig_region *r)
{
	struct wrap *w = r->priv;

	w->resets++;
	if (w->reset_error != 0)
		return w->reset_error;
	if (w->reset_noop)
		return 0;
	return w->inner->ops->reset(w->inner);
}

static const struct mig_region_ops wrap_ops = {
	.read = wrap_read,
	.write = wrap_write,
	.map = wrap_map,
	.reset = wrap_reset,
};

static struct mig_region *
wrap_init(struct wrap *w, struct mig_region *inner)
{
	memset(w, 0, sizeof(*w));
	w->inner = inner;
	w->region.ops = &wrap_ops;
	w->region.size = inner->size;
	w->region.priv = w;
	return &w->region;
}

static int
bit_is_set(const uint8_t *bits, uint64_t i)
{
	return (bits[i / 8] >> (i % 8)) & 1;
}

/* Moves every record the source has now into the destination, in pieces
 * of piece bytes; returns the number of records. */
static unsigned int
transfer_records(struct v1_dev *src, struct v1_dev *dst, size_t piece)
{
	uint8_t *buf = malloc(piece);
	const uint8_t *mapped;
	uint64_t size, off, n;
	unsigned int records = 0;

	ck_assert_ptr_nonnull(buf);
	for (;;) {
		ck_assert_int_eq(v1_save_next(src, &size), 0);
		if (size == 0)
			break;
		ck_assert_uint_le(size, src->data_capacity);
		mapped = v1_save_mapped(src);
		for (off = 0; off < size; off += n) {
			n = size - off < piece ? size - off : piece;
			ck_assert_int_eq(v1_save_read(src, off, buf, n), 0);
			if (mapped != NULL)
				ck_assert_int_eq(memcmp(buf, mapped + off, n), 0);
			ck_assert_int_eq(v1_resume_write(dst, buf, n), 0);
		}
		ck_assert_int_eq(v1_resume_commit(dst), 0);
		records++;
	}
	free(buf);
	return records;
}

/* What the daemon does with a dirty bitmap: copy those guest pages. */
static uint64_t
transfer_dirty_guest_pages(struct v1_dev *src, struct sim_v1 *ssim, struct sim_v1 *dsim)
{
	uint64_t gsize, dsize, pages, dirty, p, copied = 0;
	uint8_t *sg = sim_v1_guest_memory(ssim, &gsize);
	uint8_t *dg = sim_v1_guest_memory(dsim, &dsize);
	uint8_t *bits;

	ck_assert_uint_eq(gsize, dsize);
	pages = gsize / SIM_V1_GUEST_PAGE;
	bits = calloc(1, pages / 8 + 1);
	ck_assert_int_eq(v1_dirty_bitmap(src, 0, SIM_V1_GUEST_PAGE, pages, bits, &dirty), 0);
	for (p = 0; p < pages; p++) {
		if (bit_is_set(bits, p)) {
			memcpy(dg + p * SIM_V1_GUEST_PAGE, sg + p * SIM_V1_GUEST_PAGE,
			    SIM_V1_GUEST_PAGE);
			copied++;
		}
	}
	ck_assert_uint_eq(copied, dirty);
	free(bits);
	return copied;
}

/*
 * The whole migration: pre-copy with a live workload, stop-copy, stop,
 * resume. through_wrappers puts non-mappable regions with short reads and
 * writes in front of both devices; model is both devices' driver model,
 * trapped gives both a trapped data section at a non-aligned offset.
 */
static void
round_trip(int through_wrappers, enum sim_v1_model model, int trapped)
{
	struct tu_sim a, b;
	struct sim_v1 *ssim, *dsim;
	struct v1_dev src, dst;
	struct wrap ws, wd;
	struct mig_region *rs, *rd;
	uint64_t isize, dsize, gsize, pending, guest_pages = 0;
	const uint8_t *si, *di, *sg, *dg;
	unsigned int records = 0;
	int i;

	tu_sim_config(&a, "src", 1 << 20, 1);
	tu_sim_guest(&a, 1 << 20);
	a.cfg.dirty_rate = 2 << 20;
	a.cfg.dma_dirty_rate = 256 << 10;
	a.cfg.section_size = 64 * 1024;
	tu_sim_config(&b, "dst", 1 << 20, 2);
	tu_sim_guest(&b, 1 << 20);
	b.cfg.section_size = 64 * 1024;
	a.cfg.model = b.cfg.model = model;
	a.cfg.trapped = b.cfg.trapped = trapped;
	ssim = tu_sim_open(&a);
	dsim = tu_sim_open(&b);
	si = sim_v1_image(ssim, &isize);
	di = sim_v1_image(dsim, &dsize);
	ck_assert_int_ne(memcmp(si, di, isize), 0);
	rs = sim_v1_region(ssim);
	rd = sim_v1_region(dsim);
	if (through_wrappers) {
		rs = wrap_init(&ws, rs);
		rd = wrap_init(&wd, rd);
		ws.no_map = wd.no_map = 1;
		ws.max_io = 1000;
		wd.max_io = 333;
	}
	ck_assert_int_eq(v1_attach(&src, rs, "src"), 0);
	ck_assert_int_eq(v1_attach(&dst, rd, "dst"), 0);
	ck_assert(through_wrappers || trapped ? src.data_map == NULL : src.data_map != NULL);

	ck_assert_int_eq(v1_start_precopy(&src), 0);
	ck_assert_int_eq(v1_start_resume(&dst), 0);
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(v1_pending_bytes(&src, &pending), 0);
		ck_assert_uint_gt(pending, 0);
		records += transfer_records(&src, &dst, 4000);
		ck_assert_int_eq(v1_pending_bytes(&src, &pending), 0);
		ck_assert_uint_eq(pending, 0);
		guest_pages += transfer_dirty_guest_pages(&src, ssim, dsim);
		/* The guest keeps running between iterations. */
		sim_v1_tick(ssim, 20 * MS);
	}
	ck_assert_int_eq(v1_start_stopcopy(&src), 0);
	sim_v1_tick(ssim, 20 * MS); /* stopped: changes nothing */
	records += transfer_records(&src, &dst, 4000);
	guest_pages += transfer_dirty_guest_pages(&src, ssim, dsim);
	ck_assert_int_eq(v1_pending_bytes(&src, &pending), 0);
	ck_assert_uint_eq(pending, 0);
	ck_assert_int_eq(v1_finish_save(&src), 0);
	ck_assert_int_eq(v1_finish_resume(&dst), 0);
	ck_assert_uint_eq(sim_v1_state(ssim), VFIO_DEVICE_STATE_STOPPED);
	ck_assert_uint_eq(sim_v1_state(dsim), VFIO_DEVICE_STATE_RUNNING);

	/* 256 pages in the first pass, 15 pages a record, then what the
	 * workload dirtied. */
	ck_assert_uint_gt(records, 256 / 15 + 5);
	ck_assert_uint_gt(guest_pages, 256);
	ck_assert_int_eq(memcmp(si, di, isize), 0);
	sg = sim_v1_guest_memory(ssim, &gsize);
	dg = sim_v1_guest_memory(dsim, &gsize);
	ck_assert_int_eq(memcmp(sg, dg, gsize), 0);
	if (through_wrappers) {
		ck_assert_uint_gt(ws.short_ios, 0);
		ck_assert_uint_gt(wd.short_ios, 0);
	}
	/* Every access was where and when the released sequence allows. */
	ck_assert_uint_eq(sim_v1_violations(ssim), 0);
	ck_assert_uint_eq(sim_v1_violations(dsim), 0);
	v1_detach(&src);
	v1_detach(&dst);
	sim_v1_close(ssim);
	sim_v1_close(dsim);
}

START_TEST(test_round_trip_mapped)
{
	round_trip(0, SIM_V1_LENIENT, 0);
}
END_TEST

START_TEST(test_round_trip_trapped_with_short_io)
{
	round_trip(1, SIM_V1_LENIENT, 0);
}
END_TEST

/* Against a released v1 driver: data_offset moves, buffers are scribbled
 * over once pending_bytes is read, state bits 3-31 must come back. */
START_TEST(test_round_trip_released_mapped)
{
	round_trip(0, SIM_V1_RELEASED, 0);
}
END_TEST

START_TEST(test_round_trip_released_trapped_with_short_io)
{
	round_trip(1, SIM_V1_RELEASED, 0);
}
END_TEST

/* A data section offered for reads and writes only, at offset 1000: the
 * interface asks page alignment only of a section that is mmap'ed. */
START_TEST(test_round_trip_released_unaligned_trapped_section)
{
	round_trip(0, SIM_V1_RELEASED, 1);
}
END_TEST

/* A released driver opened on its own, with the section size given. */
static struct sim_v1 *
open_released(struct tu_sim *s, const char *name, uint64_t size, uint64_t seed, uint32_t section,
    int trapped)
{
	tu_sim_config(s, name, size, seed);
	s->cfg.section_size = section;
	s->cfg.model = SIM_V1_RELEASED;
	s->cfg.trapped = trapped;
	return tu_sim_open(s);
}

/* Issue 14, item 1: data_offset is read for every buffer, saving and
 * resuming; the released device puts consecutive buffers in two places.
 * (The driver that read it once at attach called the move -EPROTO.) */
START_TEST(test_data_offset_read_for_every_buffer)
{
	struct tu_sim a, b;
	struct sim_v1 *ssim, *dsim;
	struct v1_dev src, dst;
	struct wrap ws, wd;
	uint64_t size, first_save, first_resume;
	uint8_t buf[8192];
	const uint8_t *si, *di;

	ssim = open_released(&a, "src", 64 * 1024, 1, 8192, 0);
	dsim = open_released(&b, "dst", 64 * 1024, 2, 8192, 0);
	ck_assert_int_eq(v1_attach(&src, wrap_init(&ws, sim_v1_region(ssim)), "src"), 0);
	ck_assert_int_eq(v1_attach(&dst, wrap_init(&wd, sim_v1_region(dsim)), "dst"), 0);
	ck_assert_int_eq(v1_start_stopcopy(&src), 0);
	ck_assert_int_eq(v1_start_resume(&dst), 0);
	ws.offset_reads = wd.offset_reads = 0;

	ck_assert_int_eq(v1_save_next(&src, &size), 0);
	ck_assert_uint_eq(size, 24 + 4104);
	first_save = ws.offset_read;
	ck_assert_int_eq(v1_save_read(&src, 0, buf, size), 0);
	ck_assert_int_eq(v1_resume_write(&dst, buf, size), 0);
	ck_assert_int_eq(v1_resume_commit(&dst), 0);
	first_resume = wd.offset_read;

	ck_assert_int_eq(v1_save_next(&src, &size), 0);
	ck_assert_uint_eq(size, 24 + 4104);
	ck_assert_uint_eq(ws.offset_read, first_save + 8192);
	ck_assert_int_eq(v1_save_read(&src, 0, buf, size / 2), 0);
	ck_assert_int_eq(v1_resume_write(&dst, buf, size / 2), 0);
	ck_assert_int_eq(v1_save_read(&src, size / 2, buf, size - size / 2), 0);
	ck_assert_int_eq(v1_resume_write(&dst, buf, size - size / 2), 0);
	ck_assert_int_eq(v1_resume_commit(&dst), 0);
	ck_assert_uint_eq(wd.offset_read, first_resume + 8192);
	/* Once per buffer each way, however many parts a record comes in. */
	ck_assert_uint_eq(ws.offset_reads, 2);
	ck_assert_uint_eq(wd.offset_reads, 2);

	while (v1_save_next(&src, &size) == 0 && size > 0) {
		ck_assert_int_eq(v1_save_read(&src, 0, buf, size), 0);
		ck_assert_int_eq(v1_resume_write(&dst, buf, size), 0);
		ck_assert_int_eq(v1_resume_commit(&dst), 0);
	}
	ck_assert_uint_eq(size, 0);
	ck_assert_uint_eq(ws.offset_reads, 16);
	si = sim_v1_image(ssim, &size);
	di = sim_v1_image(dsim, &size);
	ck_assert_int_eq(memcmp(si, di, size), 0);
	ck_assert_uint_eq(sim_v1_violations(ssim) + sim_v1_violations(dsim), 0);
	sim_v1_close(ssim);
	sim_v1_close(dsim);
}
END_TEST

/* Issue 14, item 1: the engine asks for pending bytes every 100 ms,
 * also while a record is still being read (or lent from the mapped
 * section). Reading pending_bytes then would tell the device the buffer
 * is consumed, and the released device scribbles over it: the driver
 * answers from the start of the iteration instead. */
static void
pending_mid_record(int trapped_access)
{
	struct tu_sim a, b;
	struct sim_v1 *ssim, *dsim;
	struct v1_dev src, dst;
	struct wrap ws;
	uint64_t size, pending, before, part;
	const uint8_t *copy = NULL;
	uint8_t *buf;

	ssim = open_released(&a, "src", 256 * 1024, 1, 32 * 1024, 0);
	/* Lenient: only the source's sequence is on trial here. */
	tu_sim_config(&b, "dst", 256 * 1024, 2);
	b.cfg.section_size = 32 * 1024;
	dsim = tu_sim_open(&b);
	wrap_init(&ws, sim_v1_region(ssim));
	ws.no_map = trapped_access;
	ck_assert_int_eq(v1_attach(&src, &ws.region, "src"), 0);
	ck_assert_int_eq(v1_attach(&dst, sim_v1_region(dsim), "dst"), 0);
	ck_assert_int_eq(v1_start_precopy(&src), 0);
	ck_assert_int_eq(v1_start_resume(&dst), 0);
	ck_assert_int_eq(v1_pending_bytes(&src, &before), 0);
	ck_assert_int_eq(v1_save_next(&src, &size), 0);
	ck_assert_uint_gt(size, 4104);
	/* Mapped: the record where it lies in the section, no copy. */
	copy = v1_save_mapped(&src);
	ck_assert(trapped_access ? copy == NULL : copy != NULL);
	if (copy != NULL)
		ck_assert(copy >= src.data_map && copy + size <= src.data_map + src.data_capacity);
	buf = malloc(size);
	part = size / 3;
	ck_assert_int_eq(v1_save_read(&src, 0, buf, part), 0);
	ws.pending_reads = 0;
	/* The engine's tick, twice, in the middle of the record. */
	ck_assert_int_eq(v1_pending_bytes(&src, &pending), 0);
	ck_assert_int_eq(v1_pending_bytes(&src, &pending), 0);
	/* The rest of the record is still the record: the device neither
	 * refuses the reads nor has scribbled over it (the destination
	 * checks every byte). */
	if (copy != NULL)
		memcpy(buf + part, copy + part, size - part);
	else
		ck_assert_int_eq(v1_save_read(&src, part, buf + part, size - part), 0);
	ck_assert_int_eq(v1_resume_write(&dst, buf, size), 0);
	ck_assert_int_eq(v1_resume_commit(&dst), 0);
	ck_assert_uint_eq(ws.pending_reads, 0);
	ck_assert_uint_eq(pending, before - size);
	/* The next record is what tells the device. */
	ck_assert_int_eq(v1_save_next(&src, &size), 0);
	ck_assert_uint_eq(ws.pending_reads, 1);
	ck_assert_uint_eq(sim_v1_violations(ssim) + sim_v1_violations(dsim), 0);
	free(buf);
	v1_detach(&src);
	sim_v1_close(ssim);
	sim_v1_close(dsim);
}

START_TEST(test_pending_mid_record_mapped)
{
	pending_mid_record(0);
}
END_TEST

START_TEST(test_pending_mid_record_trapped)
{
	pending_mid_record(1);
}
END_TEST

/* Issue 14, item 4: every access to the device is made by save_next, on
 * the device's thread: a trapped section's record is read there whole,
 * and the engine's save_read (on the event loop) only copies it. */
START_TEST(test_trapped_record_read_by_save_next)
{
	struct tu_sim a;
	struct sim_v1 *ssim;
	struct v1_dev src;
	struct wrap ws;
	uint64_t size, off;
	uint8_t *buf, *again;

	ssim = open_released(&a, "src", 256 * 1024, 1, 32 * 1024, 0);
	wrap_init(&ws, sim_v1_region(ssim));
	ws.no_map = 1;
	ws.max_io = 4096; /* short reads: the driver loops, still in save_next */
	ck_assert_int_eq(v1_attach(&src, &ws.region, "src"), 0);
	ck_assert_ptr_null(v1_save_mapped(&src));
	ck_assert_int_eq(v1_start_precopy(&src), 0);
	ck_assert_int_eq(v1_save_next(&src, &size), 0);
	ck_assert_uint_gt(size, 4096);
	buf = malloc(size);
	again = malloc(size);
	ws.reads = 0;
	for (off = 0; off < size; off += 1000)
		ck_assert_int_eq(v1_save_read(&src, off, buf + off, size - off < 1000 ? size - off : 1000),
		    0);
	ck_assert_uint_eq(ws.reads, 0);
	/* What it copies is the record: the section still holds it (nothing
	 * said "consumed" yet), read straight from the region. */
	ck_assert_int_eq(ws.inner->ops->read(ws.inner, src.record_offset, again, size) < 0, 0);
	ck_assert_mem_eq(buf, again, size);
	ck_assert_uint_eq(sim_v1_violations(ssim), 0);
	free(buf);
	free(again);
	v1_detach(&src);
	sim_v1_close(ssim);
}
END_TEST

/* Issue 14, item 1: stop-copy follows the sequence too: pending_bytes
 * between buffers. (A driver that read it only after an empty record was
 * handed the same buffer again and again by a released device.) */
START_TEST(test_stopcopy_reads_pending_between_buffers)
{
	struct tu_sim a;
	struct sim_v1 *ssim;
	struct v1_dev src;
	struct wrap ws;
	uint64_t size, page, last_page = UINT64_MAX, pending;
	unsigned int records = 0;

	/* 16 pages, one a record (an 8 KiB section holds one). */
	ssim = open_released(&a, "src", 64 * 1024, 1, 8192, 0);
	ck_assert_int_eq(v1_attach(&src, wrap_init(&ws, sim_v1_region(ssim)), "src"), 0);
	ck_assert_int_eq(v1_start_stopcopy(&src), 0);
	ws.pending_reads = 0;
	while (records <= 16) {
		ck_assert_int_eq(v1_save_next(&src, &size), 0);
		if (size == 0)
			break;
		ck_assert_int_eq(v1_save_read(&src, 24, &page, 8), 0);
		/* Not the buffer the device handed out last time. */
		ck_assert_uint_ne(page, last_page);
		last_page = page;
		records++;
	}
	ck_assert_uint_eq(records, 16);
	ck_assert_uint_eq(ws.pending_reads, 17);
	ck_assert_int_eq(v1_pending_bytes(&src, &pending), 0);
	ck_assert_uint_eq(pending, 0);
	ck_assert_int_eq(v1_finish_save(&src), 0);
	ck_assert_uint_eq(sim_v1_violations(ssim), 0);
	sim_v1_close(ssim);
}
END_TEST

/* Issue 14, item 2: device_state is written read-modify-write: bits 3-31
 * go back as the device holds them. */
START_TEST(test_state_write_keeps_reserved_bits)
{
	struct tu_sim a;
	struct sim_v1 *sim;
	struct v1_dev dev;
	struct wrap w;
	uint32_t raw;
	struct mig_region *r;

	sim = open_released(&a, "src", 64 * 1024, 1, 8192, 0);
	r = wrap_init(&w, sim_v1_region(sim));
	ck_assert_int_eq(v1_attach(&dev, r, "src"), 0);
	ck_assert_uint_eq(dev.state, VFIO_DEVICE_STATE_RUNNING);
	ck_assert_str_eq(v1_state_name(dev.state), "running");
	ck_assert_int_eq(v1_start_precopy(&dev), 0);
	ck_assert_uint_eq(w.state_written, SIM_V1_RESERVED_BITS | ST_PRECOPY);
	ck_assert_int_eq(v1_start_stopcopy(&dev), 0);
	ck_assert_uint_eq(w.state_written, SIM_V1_RESERVED_BITS | VFIO_DEVICE_STATE_SAVING);
	ck_assert_int_eq(v1_finish_save(&dev), 0);
	ck_assert_int_eq(v1_rollback(&dev), 0);
	ck_assert_uint_eq(w.resets, 0);
	ck_assert_int_eq(r->ops->read(r, V1_OFF(device_state), &raw, 4), 4);
	ck_assert_uint_eq(raw, SIM_V1_RESERVED_BITS | VFIO_DEVICE_STATE_RUNNING);
	ck_assert_uint_eq(sim_v1_violations(sim), 0);
	sim_v1_close(sim);
}
END_TEST

START_TEST(test_attach_reads_layout_and_state)
{
	struct tu_sim s;
	struct sim_v1 *sim;
	struct v1_dev dev;

	tu_sim_config(&s, "sim0", 64 * 1024, 1);
	s.cfg.section_size = 32 * 1024;
	sim = tu_sim_open(&s);
	ck_assert_int_eq(v1_attach(&dev, sim_v1_region(sim), "sim0"), 0);
	ck_assert_uint_eq(dev.data_offset, SIM_V1_DATA_OFFSET);
	ck_assert_uint_eq(dev.data_capacity, 32 * 1024);
	ck_assert_ptr_nonnull(dev.data_map);
	/* No record out: the section itself (records will be mapped). */
	ck_assert_ptr_eq(v1_save_mapped(&dev), dev.data_map);
	ck_assert_uint_eq(dev.state, VFIO_DEVICE_STATE_RUNNING);
	ck_assert_str_eq(dev.name, "sim0");
	v1_detach(&dev);
	sim_v1_close(sim);
}
END_TEST

START_TEST(test_attach_refuses_bad_data_offset)
{
	/* Inside the fields (which end with data_size at 32). */
	static const uint64_t bad[] = {1, 16, 31};
	struct tu_sim s;
	struct sim_v1 *sim;
	struct v1_dev dev;
	struct wrap w;
	struct mig_region *r;
	size_t i;

	tu_sim_config(&s, "sim0", 16 * 1024, 1);
	s.cfg.section_size = 8192;
	sim = tu_sim_open(&s);
	r = wrap_init(&w, sim_v1_region(sim));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w.data_offset = bad[i];
		ck_assert_int_eq(v1_attach(&dev, r, "sim0"), -EPROTO);
	}
	/* Page aligned but at or past the end of the region. */
	w.data_offset = r->size;
	ck_assert_int_eq(v1_attach(&dev, r, "sim0"), -EPROTO);
	w.data_offset = r->size + 4096;
	ck_assert_int_eq(v1_attach(&dev, r, "sim0"), -EPROTO);
	/* Not page aligned: a trapped section, driven by reads and writes. */
	w.data_offset = 4097;
	ck_assert_int_eq(v1_attach(&dev, r, "sim0"), 0);
	ck_assert_ptr_null(dev.data_map);
	w.data_offset = 32;
	ck_assert_int_eq(v1_attach(&dev, r, "sim0"), 0);
	ck_assert_ptr_null(dev.data_map);
	/* A region that cannot map its section is driven by reads and writes. */
	w.data_offset = 0;
	w.no_map = 1;
	ck_assert_int_eq(v1_attach(&dev, r, "sim0"), 0);
	ck_assert_ptr_null(dev.data_map);
	ck_assert_ptr_null(v1_save_mapped(&dev));
	sim_v1_close(sim);
}
END_TEST

START_TEST(test_state_names)
{
	ck_assert_str_eq(v1_state_name(VFIO_DEVICE_STATE_RUNNING), "running");
	ck_assert_str_eq(v1_state_name(ST_PRECOPY), "pre-copy");
	ck_assert_str_eq(v1_state_name(VFIO_DEVICE_STATE_SAVING), "stop-copy");
	ck_assert_str_eq(v1_state_name(VFIO_DEVICE_STATE_RESUMING), "resuming");
	ck_assert_str_eq(v1_state_name(VFIO_DEVICE_STATE_STOPPED), "stopped");
	ck_assert_str_eq(v1_state_name(ST_ERROR), "error");
	ck_assert_str_eq(v1_state_name(7), "invalid");
	ck_assert_str_eq(v1_state_name(5), "invalid");
	ck_assert_str_eq(v1_state_name(0x80000001u), "invalid");
}
END_TEST

START_TEST(test_set_state_logs_from_and_to)
{
	struct tu_sim s;
	struct sim_v1 *sim;
	struct v1_dev dev;
	char path[PATH_MAX], text[4096];
	ssize_t n;
	int fd, saved;

	tu_sim_config(&s, "gpu7", 16 * 1024, 1);
	sim = tu_sim_open(&s);
	ck_assert_int_eq(v1_attach(&dev, sim_v1_region(sim), "gpu7"), 0);
	tu_path(path, sizeof(path), s.dir, "log");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	ck_assert_int_eq(v1_start_precopy(&dev), 0);
	ck_assert_int_eq(v1_start_stopcopy(&dev), 0);
	ck_assert_int_eq(v1_start_resume(&dev), -EINVAL);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	ck_assert_int_gt(n, 0);
	text[n] = '\0';
	ck_assert_ptr_nonnull(strstr(text, "[info] device gpu7: state running -> pre-copy\n"));
	ck_assert_ptr_nonnull(strstr(text, "[info] device gpu7: state pre-copy -> stop-copy\n"));
	ck_assert_ptr_nonnull(strstr(text, "device gpu7: state stop-copy -> resuming refused"));
	sim_v1_close(sim);
}
END_TEST

START_TEST(test_refused_state_rereads_device)
{
	struct tu_sim s;
	struct sim_v1 *sim;
	struct mig_region *r;
	struct v1_dev dev;
	uint32_t behind = VFIO_DEVICE_STATE_SAVING, state;

	tu_sim_config(&s, "sim0", 16 * 1024, 1);
	sim = tu_sim_open(&s);
	r = sim_v1_region(sim);
	ck_assert_int_eq(v1_attach(&dev, r, "sim0"), 0);
	/* Someone else moves the device to stop-copy behind the driver. */
	ck_assert_int_eq(r->ops->write(r, V1_OFF(device_state), &behind, 4), 4);
	ck_assert_uint_eq(dev.state, VFIO_DEVICE_STATE_RUNNING);
	ck_assert_int_eq(v1_start_resume(&dev), -EINVAL);
	ck_assert_uint_eq(dev.state, VFIO_DEVICE_STATE_SAVING);
	ck_assert_int_eq(v1_get_state(&dev, &state), 0);
	ck_assert_uint_eq(state, VFIO_DEVICE_STATE_SAVING);
	ck_assert_int_eq(v1_finish_save(&dev), 0);
	ck_assert_uint_eq(sim_v1_state(sim), VFIO_DEVICE_STATE_STOPPED);
	sim_v1_close(sim);
}
END_TEST

START_TEST(test_rollback_from_precopy)
{
	struct tu_sim s;
	struct sim_v1 *sim;
	struct v1_dev dev;
	struct wrap w;
	uint64_t size;

	tu_sim_config(&s, "sim0", 64 * 1024, 1);
	s.cfg.dirty_rate = 1 << 20;
	sim = tu_sim_open(&s);
	ck_assert_int_eq(v1_attach(&dev, wrap_init(&w, sim_v1_region(sim)), "sim0"), 0);
	ck_assert_int_eq(v1_start_precopy(&dev), 0);
	ck_assert_int_eq(v1_save_next(&dev, &size), 0);
	ck_assert_uint_gt(size, 0);
	ck_assert_int_eq(v1_rollback(&dev), 0);
	ck_assert_uint_eq(sim_v1_state(sim), VFIO_DEVICE_STATE_RUNNING);
	ck_assert_uint_eq(dev.state, VFIO_DEVICE_STATE_RUNNING);
	ck_assert_uint_eq(w.resets, 0);
	/* The cancelled record is gone with the save. */
	ck_assert_int_eq(v1_save_read(&dev, 0, &size, 8), -EINVAL);
	/* From stop-copy too. */
	ck_assert_int_eq(v1_start_stopcopy(&dev), 0);
	ck_assert_int_eq(v1_rollback(&dev), 0);
	ck_assert_uint_eq(sim_v1_state(sim), VFIO_DEVICE_STATE_RUNNING);
	ck_assert_uint_eq(w.resets, 0);
	sim_v1_close(sim);
}
END_TEST

START_TEST(test_rollback_resets_a_refusing_device)
{
	struct tu_sim s;
	struct sim_v1 *sim;
	struct v1_dev dev;
	struct wrap w;

	tu_sim_config(&s, "sim0", 64 * 1024, 1);
	sim = tu_sim_open(&s);
	ck_assert_int_eq(v1_attach(&dev, wrap_init(&w, sim_v1_region(sim)), "sim0"), 0);
	ck_assert_int_eq(v1_start_precopy(&dev), 0);
	w.state_write_error = -EIO;
	ck_assert_int_eq(v1_rollback(&dev), 0);
	ck_assert_uint_eq(w.resets, 1);
	ck_assert_uint_eq(sim_v1_state(sim), VFIO_DEVICE_STATE_RUNNING);
	ck_assert_uint_eq(dev.state, VFIO_DEVICE_STATE_RUNNING);
	sim_v1_close(sim);
}
END_TEST

START_TEST(test_rollback_fails_when_reset_does_not_help)
{
	struct tu_sim s;
	struct sim_v1 *sim;
	struct v1_dev dev;
	struct wrap w;

	tu_sim_config(&s, "sim0", 64 * 1024, 1);
	sim = tu_sim_open(&s);
	ck_assert_int_eq(v1_attach(&dev, wrap_init(&w, sim_v1_region(sim)), "sim0"), 0);
	ck_assert_int_eq(v1_start_precopy(&dev), 0);
	w.state_write_error = -EIO;
	/* The reset "succeeds" but the device stays in pre-copy. */
	w.reset_noop = 1;
	ck_assert_int_eq(v1_rollback(&dev), -EPROTO);
	ck_assert_uint_eq(w.resets, 1);
	ck_assert_uint_eq(sim_v1_state(sim), ST_PRECOPY);
	ck_assert_uint_eq(dev.state, ST_PRECOPY);
	/* The reset itself fails: its error comes back. */
	w.reset_noop = 0;
	w.reset_error = -ENODEV;
	ck_assert_int_eq(v1_rollback(&dev), -ENODEV);
	ck_assert_uint_eq(w.resets, 2);
	sim_v1_close(sim);
}
END_TEST

START_TEST(test_corrupt_resume_then_reset_recovers)
{
	struct tu_sim a, b;
	struct sim_v1 *ssim, *dsim;
	struct v1_dev src, dst;
	uint8_t junk[5000];
	uint64_t size;
	const uint8_t *si, *di;

	tu_sim_config(&a, "src", 64 * 1024, 1);
	tu_sim_config(&b, "dst", 64 * 1024, 2);
	ssim = tu_sim_open(&a);
	dsim = tu_sim_open(&b);
	ck_assert_int_eq(v1_attach(&src, sim_v1_region(ssim), "src"), 0);
	ck_assert_int_eq(v1_attach(&dst, sim_v1_region(dsim), "dst"), 0);
	ck_assert_int_eq(v1_start_resume(&dst), 0);
	memset(junk, 0x5a, sizeof(junk));
	ck_assert_int_eq(v1_resume_write(&dst, junk, sizeof(junk)), 0);
	ck_assert_int_eq(v1_resume_commit(&dst), -EIO);
	ck_assert_uint_eq(dst.state, ST_ERROR);
	ck_assert_str_eq(v1_state_name(dst.state), "error");
	ck_assert_int_eq(v1_finish_resume(&dst), -EINVAL);
	ck_assert_uint_eq(sim_v1_state(dsim), ST_ERROR);
	ck_assert_int_eq(v1_reset(&dst), 0);
	ck_assert_uint_eq(dst.state, VFIO_DEVICE_STATE_RUNNING);
	ck_assert_uint_eq(sim_v1_state(dsim), VFIO_DEVICE_STATE_RUNNING);
	/* A fresh resume after the reset works. */
	ck_assert_int_eq(v1_start_resume(&dst), 0);
	ck_assert_int_eq(v1_start_stopcopy(&src), 0);
	ck_assert_uint_eq(transfer_records(&src, &dst, 1 << 20), 1);
	ck_assert_int_eq(v1_save_next(&src, &size), 0);
	ck_assert_uint_eq(size, 0);
	ck_assert_int_eq(v1_finish_resume(&dst), 0);
	si = sim_v1_image(ssim, &size);
	di = sim_v1_image(dsim, &size);
	ck_assert_int_eq(memcmp(si, di, size), 0);
	v1_detach(&src);
	sim_v1_close(ssim);
	sim_v1_close(dsim);
}
END_TEST

START_TEST(test_resume_record_larger_than_section)
{
	struct tu_sim s;
	struct sim_v1 *sim;
	struct v1_dev dev;
	uint8_t *buf;

	tu_sim_config(&s, "dst", 16 * 1024, 1);
	s.cfg.section_size = 8192;
	sim = tu_sim_open(&s);
	ck_assert_int_eq(v1_attach(&dev, sim_v1_region(sim), "dst"), 0);
	ck_assert_int_eq(v1_start_resume(&dev), 0);
	buf = calloc(1, 8193);
	ck_assert_int_eq(v1_resume_write(&dev, buf, 8193), -EMSGSIZE);
	ck_assert_uint_eq(dev.resume_fill, 0);
	ck_assert_int_eq(v1_resume_write(&dev, buf, 8000), 0);
	ck_assert_int_eq(v1_resume_write(&dev, buf, 193), -EMSGSIZE);
	ck_assert_int_eq(v1_resume_write(&dev, buf, 192), 0);
	ck_assert_uint_eq(dev.resume_fill, 8192);
	free(buf);
	sim_v1_close(sim);
}
END_TEST

START_TEST(test_save_next_catches_a_lying_device)
{
	struct tu_sim s;
	struct sim_v1 *sim;
	struct v1_dev dev;
	struct wrap w;
	uint64_t size = 1;

	tu_sim_config(&s, "src", 64 * 1024, 1);
	s.cfg.section_size = 8192;
	sim = tu_sim_open(&s);
	ck_assert_int_eq(v1_attach(&dev, wrap_init(&w, sim_v1_region(sim)), "src"), 0);
	ck_assert_int_eq(v1_start_stopcopy(&dev), 0);
	w.data_size = 8193;
	ck_assert_int_eq(v1_save_next(&dev, &size), -EPROTO);
	ck_assert_uint_eq(size, 0);
	ck_assert_int_eq(v1_save_read(&dev, 0, &size, 1), -EINVAL);
	w.data_size = 0;
	w.data_offset = 8192;
	ck_assert_int_eq(v1_save_next(&dev, &size), -EPROTO);
	w.data_offset = 0;
	ck_assert_int_eq(v1_save_next(&dev, &size), 0);
	ck_assert_uint_eq(size, 24 + 4104);
	sim_v1_close(sim);
}
END_TEST

/* Bytes pending but an empty buffer: in pre-copy "nothing now"; in
 * stop-copy nothing would ever end the save, so the device is at fault. */
START_TEST(test_empty_buffer_with_bytes_pending)
{
	struct tu_sim s;
	struct sim_v1 *sim;
	struct v1_dev dev;
	struct wrap w;
	uint64_t size = 1;

	tu_sim_config(&s, "src", 64 * 1024, 1);
	s.cfg.section_size = 8192; /* a page a record: pages stay pending */
	sim = tu_sim_open(&s);
	ck_assert_int_eq(v1_attach(&dev, wrap_init(&w, sim_v1_region(sim)), "src"), 0);
	w.empty_buffers = 1;
	ck_assert_int_eq(v1_start_precopy(&dev), 0);
	ck_assert_int_eq(v1_save_next(&dev, &size), 0);
	ck_assert_uint_eq(size, 0);
	ck_assert_int_eq(v1_start_stopcopy(&dev), 0);
	ck_assert_int_eq(v1_save_next(&dev, &size), -EPROTO);
	ck_assert_uint_eq(size, 0);
	w.empty_buffers = 0;
	ck_assert_int_eq(v1_save_next(&dev, &size), 0);
	ck_assert_uint_gt(size, 0);
	sim_v1_close(sim);
}
END_TEST

START_TEST(test_save_read_stays_inside_the_record)
{
	struct tu_sim s;
	struct sim_v1 *sim;
	struct v1_dev dev;
	uint8_t buf[16];
	uint64_t size, dirty;

	tu_sim_config(&s, "src", 16 * 1024, 1);
	tu_sim_guest(&s, 64 * 1024);
	sim = tu_sim_open(&s);
	ck_assert_int_eq(v1_attach(&dev, sim_v1_region(sim), "src"), 0);
	ck_assert_int_eq(v1_save_read(&dev, 0, buf, 1), -EINVAL); /* no record yet */
	ck_assert_int_eq(v1_start_precopy(&dev), 0);
	ck_assert_int_eq(v1_save_next(&dev, &size), 0);
	ck_assert_int_eq(v1_save_read(&dev, 0, buf, 4), 0);
	ck_assert_int_eq(memcmp(buf, "SIM1", 4), 0);
	ck_assert_int_eq(v1_save_read(&dev, size - 16, buf, 16), 0);
	ck_assert_int_eq(v1_save_read(&dev, size - 15, buf, 16), -EINVAL);
	ck_assert_int_eq(v1_save_read(&dev, UINT64_MAX, buf, 2), -EINVAL);
	/* Switching to stop-copy in the middle of a record keeps it. */
	ck_assert_int_eq(v1_start_stopcopy(&dev), 0);
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(v1_save_read(&dev, 0, buf, 4), 0);
	ck_assert_int_eq(memcmp(buf, "SIM1", 4), 0);
	/* A bitmap query overwrites the section: the record is gone. */
	memset(buf, 0, sizeof(buf));
	ck_assert_int_eq(v1_dirty_bitmap(&dev, 0, SIM_V1_GUEST_PAGE, 16, buf, &dirty), 0);
	ck_assert_int_eq(v1_save_read(&dev, 0, buf, 4), -EINVAL);
	sim_v1_close(sim);
}
END_TEST

START_TEST(test_dirty_bitmap_all_dirty)
{
	struct tu_sim s;
	struct sim_v1 *sim;
	struct v1_dev dev;
	struct wrap w;
	uint8_t bits[32], sub[16];
	uint64_t dirty, i;

	tu_sim_config(&s, "src", 16 * 1024, 1);
	tu_sim_guest(&s, 256 * SIM_V1_GUEST_PAGE);
	sim = tu_sim_open(&s);
	ck_assert_int_eq(v1_attach(&dev, wrap_init(&w, sim_v1_region(sim)), "src"), 0);
	ck_assert_int_eq(v1_start_precopy(&dev), 0);
	/* Bits the caller already had are not counted again. */
	memset(bits, 0, sizeof(bits));
	bits[0] = 0x0f;
	bits[31] = 0x80;
	ck_assert_int_eq(v1_dirty_bitmap(&dev, 0, SIM_V1_GUEST_PAGE, 256, bits, &dirty), 0);
	ck_assert_uint_eq(dirty, 256 - 5);
	for (i = 0; i < sizeof(bits); i++)
		ck_assert_uint_eq(bits[i], 0xff);
	ck_assert_uint_eq(w.bitmap_queries, 1);
	/* Nothing is dirty now. */
	ck_assert_int_eq(v1_dirty_bitmap(&dev, 0, SIM_V1_GUEST_PAGE, 256, bits, &dirty), 0);
	ck_assert_uint_eq(dirty, 0);
	/* A sub-range starting at pfn 10: bit 0 is pfn 10. */
	ck_assert_int_eq(v1_rollback(&dev), 0);
	ck_assert_int_eq(v1_start_precopy(&dev), 0);
	memset(sub, 0, sizeof(sub));
	ck_assert_int_eq(v1_dirty_bitmap(&dev, 10, SIM_V1_GUEST_PAGE, 100, sub, &dirty), 0);
	ck_assert_uint_eq(dirty, 100);
	for (i = 0; i < 16 * 8; i++)
		ck_assert_int_eq(bit_is_set(sub, i), i < 100);
	/* Pages outside it were left dirty. */
	memset(bits, 0, sizeof(bits));
	ck_assert_int_eq(v1_dirty_bitmap(&dev, 0, SIM_V1_GUEST_PAGE, 256, bits, &dirty), 0);
	ck_assert_uint_eq(dirty, 156);
	for (i = 0; i < 256; i++)
		ck_assert_int_eq(bit_is_set(bits, i), i < 10 || i >= 110);
	/* A page size the device does not use is its error. */
	ck_assert_int_eq(v1_dirty_bitmap(&dev, 0, 8192, 16, bits, &dirty), -EINVAL);
	sim_v1_close(sim);
}
END_TEST

/* Two devices of one seed dirty the same guest pages: the one asked through
 * many partial copies must give what the other gives in one. */
static void
open_twins(struct tu_sim *a, struct tu_sim *b, uint64_t pages, uint32_t section,
    struct sim_v1 **da, struct sim_v1 **db)
{
	tu_sim_config(a, "twin-a", 16 * 1024, 21);
	tu_sim_config(b, "twin-b", 16 * 1024, 21);
	tu_sim_guest(a, pages * SIM_V1_GUEST_PAGE);
	tu_sim_guest(b, pages * SIM_V1_GUEST_PAGE);
	tu_sparse_file(a->guest, pages * SIM_V1_GUEST_PAGE);
	tu_sparse_file(b->guest, pages * SIM_V1_GUEST_PAGE);
	a->cfg.section_size = b->cfg.section_size = section;
	a->cfg.dma_dirty_rate = b->cfg.dma_dirty_rate = 4000 * SIM_V1_GUEST_PAGE;
	*da = tu_sim_open(a);
	*db = tu_sim_open(b);
}

START_TEST(test_dirty_bitmap_small_section_loops)
{
	const uint64_t pages = 65536 + 200, split = 8192 * 8;
	struct tu_sim a, b;
	struct sim_v1 *da, *db;
	struct v1_dev va, vb;
	struct wrap w;
	uint8_t *ba, *bb;
	uint64_t dirty_a, dirty_b, dirty_b2;

	open_twins(&a, &b, pages, 8192, &da, &db);
	ck_assert_int_eq(v1_attach(&va, wrap_init(&w, sim_v1_region(da)), "twin-a"), 0);
	ck_assert_int_eq(v1_attach(&vb, sim_v1_region(db), "twin-b"), 0);
	ba = calloc(1, pages / 8 + 1);
	bb = calloc(1, pages / 8 + 1);
	ck_assert_int_eq(v1_start_precopy(&va), 0);
	ck_assert_int_eq(v1_start_precopy(&vb), 0);
	ck_assert_int_eq(v1_dirty_bitmap(&va, 0, SIM_V1_GUEST_PAGE, pages, ba, &dirty_a), 0);
	ck_assert_uint_eq(dirty_a, pages);
	ck_assert_int_eq(v1_dirty_bitmap(&vb, 0, SIM_V1_GUEST_PAGE, pages, bb, &dirty_b), 0);
	memset(ba, 0, pages / 8 + 1);
	memset(bb, 0, pages / 8 + 1);
	w.bitmap_queries = 0;
	sim_v1_tick(da, 1000 * MS);
	sim_v1_tick(db, 1000 * MS);
	ck_assert_int_eq(v1_dirty_bitmap(&va, 0, SIM_V1_GUEST_PAGE, pages, ba, &dirty_a), 0);
	/* 8192 bytes of section hold 65536 pfns: the device copied twice. */
	ck_assert_uint_eq(w.bitmap_queries, 2);
	ck_assert_int_eq(v1_dirty_bitmap(&vb, 0, SIM_V1_GUEST_PAGE, split, bb, &dirty_b), 0);
	ck_assert_int_eq(v1_dirty_bitmap(&vb, split, SIM_V1_GUEST_PAGE, pages - split,
	    bb + split / 8, &dirty_b2), 0);
	ck_assert_uint_gt(dirty_a, 3000);
	ck_assert_uint_gt(dirty_b2, 0);
	ck_assert_uint_eq(dirty_a, dirty_b + dirty_b2);
	ck_assert_int_eq(memcmp(ba, bb, pages / 8 + 1), 0);
	free(ba);
	free(bb);
	sim_v1_close(da);
	sim_v1_close(db);
}
END_TEST

START_TEST(test_dirty_bitmap_unaligned_partial_copies_trapped)
{
	const uint64_t pages = 4096;
	struct tu_sim a, b;
	struct sim_v1 *da, *db;
	struct v1_dev va, vb;
	struct wrap w;
	struct mig_region *r;
	uint8_t ba[4096 / 8 + 1], bb[4096 / 8 + 1];
	uint64_t dirty_a, dirty_b;

	open_twins(&a, &b, pages, 0, &da, &db);
	/* Nothing mapped: the bitmap comes back through reads of 3 bytes. */
	r = wrap_init(&w, sim_v1_region(da));
	w.no_map = 1;
	w.max_io = 3;
	ck_assert_int_eq(v1_attach(&va, r, "twin-a"), 0);
	ck_assert_ptr_null(va.data_map);
	ck_assert_int_eq(v1_attach(&vb, sim_v1_region(db), "twin-b"), 0);
	ck_assert_int_eq(v1_start_precopy(&va), 0);
	ck_assert_int_eq(v1_start_precopy(&vb), 0);
	memset(ba, 0, sizeof(ba));
	memset(bb, 0, sizeof(bb));
	ck_assert_int_eq(v1_dirty_bitmap(&va, 0, SIM_V1_GUEST_PAGE, pages, ba, &dirty_a), 0);
	ck_assert_int_eq(v1_dirty_bitmap(&vb, 0, SIM_V1_GUEST_PAGE, pages, bb, &dirty_b), 0);
	ck_assert_uint_eq(dirty_a, pages);
	memset(ba, 0, sizeof(ba));
	memset(bb, 0, sizeof(bb));
	sim_v1_tick(da, 200 * MS);
	sim_v1_tick(db, 200 * MS);
	/* Now the device sees at most 1001 pfns a query. Starting at pfn 5,
	 * the pieces land at bits 0, 1001, 2002, 3003, 4004 of the caller's
	 * map: not on byte boundaries. */
	w.total_pfns_cap = 1001;
	w.bitmap_queries = 0;
	ck_assert_int_eq(v1_dirty_bitmap(&va, 5, SIM_V1_GUEST_PAGE, pages - 5, ba, &dirty_a), 0);
	ck_assert_int_eq(v1_dirty_bitmap(&vb, 5, SIM_V1_GUEST_PAGE, pages - 5, bb, &dirty_b), 0);
	ck_assert_uint_eq(w.bitmap_queries, 5);
	ck_assert_uint_gt(w.short_ios, 0);
	ck_assert_uint_gt(dirty_a, 100);
	ck_assert_uint_eq(dirty_a, dirty_b);
	ck_assert_int_eq(memcmp(ba, bb, sizeof(ba)), 0);
	sim_v1_close(da);
	sim_v1_close(db);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("v1_driver");
	TCase *tc = tcase_create("driver");

	/* Plain log lines on stderr, whatever runs the tests. */
	unsetenv("JOURNAL_STREAM");
	log_init("test_v1_driver", LOG_LEVEL_INFO);
	tcase_add_unchecked_fixture(tc, tu_scratch_setup, tu_scratch_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_round_trip_mapped);
	tcase_add_test(tc, test_round_trip_trapped_with_short_io);
	tcase_add_test(tc, test_round_trip_released_mapped);
	tcase_add_test(tc, test_round_trip_released_trapped_with_short_io);
	tcase_add_test(tc, test_round_trip_released_unaligned_trapped_section);
	tcase_add_test(tc, test_data_offset_read_for_every_buffer);
	tcase_add_test(tc, test_pending_mid_record_mapped);
	tcase_add_test(tc, test_pending_mid_record_trapped);
	tcase_add_test(tc, test_trapped_record_read_by_save_next);
	tcase_add_test(tc, test_stopcopy_reads_pending_between_buffers);
	tcase_add_test(tc, test_state_write_keeps_reserved_bits);
	tcase_add_test(tc, test_attach_reads_layout_and_state);
	tcase_add_test(tc, test_attach_refuses_bad_data_offset);
	tcase_add_test(tc, test_state_names);
	tcase_add_test(tc, test_set_state_logs_from_and_to);
	tcase_add_test(tc, test_refused_state_rereads_device);
	tcase_add_test(tc, test_rollback_from_precopy);
	tcase_add_test(tc, test_rollback_resets_a_refusing_device);
	tcase_add_test(tc, test_rollback_fails_when_reset_does_not_help);
	tcase_add_test(tc, test_corrupt_resume_then_reset_recovers);
	tcase_add_test(tc, test_resume_record_larger_than_section);
	tcase_add_test(tc, test_save_next_catches_a_lying_device);
	tcase_add_test(tc, test_empty_buffer_with_bytes_pending);
	tcase_add_test(tc, test_save_read_stays_inside_the_record);
	tcase_add_test(tc, test_dirty_bitmap_all_dirty);
	tcase_add_test(tc, test_dirty_bitmap_small_section_loops);
	tcase_add_test(tc, test_dirty_bitmap_unaligned_partial_copies_trapped);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
