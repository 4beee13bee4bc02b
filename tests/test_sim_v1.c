/*
 * test_sim_v1.c: the software device behaves as the v1 KABI says, seen only
 * through its region (as a driver sees it) and the files it owns: state
 * transitions, field access rules, pending bytes, records, the workload, the
 * dirty bitmap of guest memory.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "check_main.h"
#include "kabi_v1.h"
#include "log.h"
#include "sim_v1.h"
#include "testutil.h"

/* The device's record format (sim_v1.c, docs/SIM_DEVICE.md). */
#define REC_HEADER 24u
#define REC_ENTRY (8u + SIM_V1_STATE_PAGE)

#define ST_STOP VFIO_DEVICE_STATE_STOPPED
#define ST_RUN VFIO_DEVICE_STATE_RUNNING
#define ST_SAVE VFIO_DEVICE_STATE_SAVING
#define ST_RESUME VFIO_DEVICE_STATE_RESUMING
#define ST_PRECOPY (VFIO_DEVICE_STATE_SAVING | VFIO_DEVICE_STATE_RUNNING)
#define ST_ERROR (VFIO_DEVICE_STATE_SAVING | VFIO_DEVICE_STATE_RESUMING)

#define MS 1000000ull
#define POISON 0xdb /* what the released-v1 model scribbles over a consumed buffer */

static uint32_t
get_state(struct mig_region *r)
{
	uint32_t v = 0xdead;

	ck_assert_int_eq(r->ops->read(r, V1_OFF(device_state), &v, sizeof(v)), sizeof(v));
	return v;
}

/* 0 or the region's -errno. */
static int
set_state(struct mig_region *r, uint32_t state)
{
	ssize_t n = r->ops->write(r, V1_OFF(device_state), &state, sizeof(state));

	if (n < 0)
		return (int)n;
	ck_assert_int_eq(n, sizeof(state));
	return 0;
}

static uint64_t
read64(struct mig_region *r, uint64_t off)
{
	uint64_t v = 0;

	ck_assert_int_eq(r->ops->read(r, off, &v, sizeof(v)), sizeof(v));
	return v;
}

static ssize_t
write64(struct mig_region *r, uint64_t off, uint64_t v)
{
	return r->ops->write(r, off, &v, sizeof(v));
}

/* Reset to RUNNING, then one step to state (every state but the error state
 * is one step from RUNNING). */
static void
reach(struct mig_region *r, uint32_t state)
{
	ck_assert_int_eq(r->ops->reset(r), 0);
	if (state != ST_RUN)
		ck_assert_int_eq(set_state(r, state), 0);
	ck_assert_uint_eq(get_state(r), state);
}

/* Expected pending_bytes for pages dirty state pages. */
static uint64_t
pending_for(uint64_t pages, uint64_t section)
{
	uint64_t per_record = (section - REC_HEADER) / REC_ENTRY;

	return pages * REC_ENTRY + (pages + per_record - 1) / per_record * REC_HEADER;
}

/* SAVING: prepare the next record and return its size. */
static uint64_t
next_record(struct mig_region *r)
{
	ck_assert_uint_eq(read64(r, V1_OFF(data_offset)), SIM_V1_DATA_OFFSET);
	return read64(r, V1_OFF(data_size));
}

/* One dirty-bitmap query; the bitmap bytes land in bits (when non-NULL). */
static int64_t
query_bitmap(struct mig_region *r, uint64_t start, uint64_t total, uint8_t *bits, size_t len)
{
	int64_t copied = 0;

	ck_assert_int_eq(write64(r, V1_OFF(start_pfn), start), 8);
	ck_assert_int_eq(write64(r, V1_OFF(page_size), SIM_V1_GUEST_PAGE), 8);
	ck_assert_int_eq(write64(r, V1_OFF(total_pfns), total), 8);
	ck_assert_int_eq(r->ops->read(r, V1_OFF(copied_pfns), &copied, sizeof(copied)), 8);
	if (bits != NULL && copied > 0)
		ck_assert_int_eq(r->ops->read(r, SIM_V1_DATA_OFFSET, bits, len), (ssize_t)len);
	return copied;
}

static int
bit_is_set(const uint8_t *bits, uint64_t i)
{
	return (bits[i / 8] >> (i % 8)) & 1;
}

static uint64_t
bytes_differing(const uint8_t *a, const uint8_t *b, uint64_t len)
{
	uint64_t i, n = 0;

	for (i = 0; i < len; i++)
		n += a[i] != b[i];
	return n;
}

static uint64_t
pages_differing(const uint8_t *a, const uint8_t *b, uint64_t len, uint8_t *map)
{
	uint64_t p, n = 0;

	for (p = 0; p < len / SIM_V1_STATE_PAGE; p++) {
		if (memcmp(a + p * SIM_V1_STATE_PAGE, b + p * SIM_V1_STATE_PAGE,
		    SIM_V1_STATE_PAGE) != 0) {
			n++;
			if (map != NULL)
				map[p / 8] |= (uint8_t)(1u << (p % 8));
		}
	}
	return n;
}

static uint8_t *
snapshot(const uint8_t *mem, uint64_t size)
{
	uint8_t *copy = malloc(size);

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, mem, size);
	return copy;
}

/* The record checksum as the format defines it, so a test can forge records
 * that fail exactly one later check. */
static void
fix_checksum(uint8_t *rec, uint64_t size)
{
	uint64_t h = 0xcbf29ce484222325ull, i;
	int k;

	for (i = 0; i < size; i++) {
		if (i >= 16 && i < REC_HEADER)
			continue;
		h ^= rec[i];
		h *= 0x100000001b3ull;
	}
	for (k = 0; k < 8; k++)
		rec[16 + k] = (uint8_t)(h >> (8 * k));
}

static void
put_le64(uint8_t *p, uint64_t v)
{
	int k;

	for (k = 0; k < 8; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

static const uint32_t allowed[][2] = {
	{ST_RUN, ST_PRECOPY}, {ST_RUN, ST_SAVE}, {ST_RUN, ST_STOP}, {ST_RUN, ST_RESUME},
	{ST_PRECOPY, ST_SAVE}, {ST_PRECOPY, ST_RUN}, {ST_PRECOPY, ST_STOP},
	{ST_SAVE, ST_STOP}, {ST_SAVE, ST_RUN},
	{ST_STOP, ST_RUN}, {ST_STOP, ST_SAVE}, {ST_STOP, ST_RESUME},
	{ST_RESUME, ST_RUN}, {ST_RESUME, ST_STOP},
};

static int
is_allowed(uint32_t from, uint32_t to)
{
	size_t i;

	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (allowed[i][0] == from && allowed[i][1] == to)
			return 1;
	return 0;
}

START_TEST(test_opens_running_with_region_layout)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint64_t size;

	tu_sim_config(&s, "sim0", 64 * 1024, 1);
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	ck_assert_uint_eq(sim_v1_state(dev), ST_RUN);
	ck_assert_uint_eq(get_state(r), ST_RUN);
	ck_assert_uint_eq(r->size, SIM_V1_DATA_OFFSET + SIM_V1_SECTION_DEFAULT);
	ck_assert_str_eq(sim_v1_identity(dev), "sim-v1");
	ck_assert_str_eq(sim_v1_compat(dev), "size=65536,section=1048576,guest=0");
	ck_assert_ptr_nonnull(sim_v1_image(dev, &size));
	ck_assert_uint_eq(size, 64 * 1024);
	ck_assert_ptr_null(sim_v1_guest_memory(dev, &size));
	ck_assert_uint_eq(size, 0);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_open_rejects_bad_config)
{
	struct tu_sim s;
	struct sim_v1 *dev = NULL;

	tu_sim_config(&s, "bad", 1000, 1);
	ck_assert_int_eq(sim_v1_open(&s.cfg, &dev), -EINVAL);
	s.cfg.size = 0;
	ck_assert_int_eq(sim_v1_open(&s.cfg, &dev), -EINVAL);
	s.cfg.size = 8192;
	s.cfg.section_size = 4096; /* no room for a header and a page */
	ck_assert_int_eq(sim_v1_open(&s.cfg, &dev), -EINVAL);
	s.cfg.section_size = 12345;
	ck_assert_int_eq(sim_v1_open(&s.cfg, &dev), -EINVAL);
	s.cfg.section_size = 0;
	tu_sim_guest(&s, 5000);
	ck_assert_int_eq(sim_v1_open(&s.cfg, &dev), -EINVAL);
	s.cfg.guest_memory = NULL;
	s.cfg.image = "/nonexistent-dir-of-vfio-migd/x.img";
	ck_assert_int_eq(sim_v1_open(&s.cfg, &dev), -ENOENT);
	ck_assert_ptr_null(dev);
}
END_TEST

START_TEST(test_every_allowed_transition)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	size_t i;

	tu_sim_config(&s, "sim0", 16 * 1024, 1);
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		reach(r, allowed[i][0]);
		ck_assert_msg(set_state(r, allowed[i][1]) == 0, "%u -> %u refused", allowed[i][0],
		    allowed[i][1]);
		ck_assert_uint_eq(get_state(r), allowed[i][1]);
		ck_assert_uint_eq(sim_v1_state(dev), allowed[i][1]);
	}
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_every_refused_transition)
{
	static const uint32_t from[] = {ST_STOP, ST_RUN, ST_SAVE, ST_PRECOPY, ST_RESUME};
	static const uint32_t to[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 0x10, 0x80000000u, 0xffffffffu};
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	size_t i, j, refused = 0;

	tu_sim_config(&s, "sim0", 16 * 1024, 1);
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	for (i = 0; i < sizeof(from) / sizeof(from[0]); i++) {
		for (j = 0; j < sizeof(to) / sizeof(to[0]); j++) {
			reach(r, from[i]);
			if (to[j] == from[i]) {
				/* Same state: a no-op that succeeds. */
				ck_assert_int_eq(set_state(r, to[j]), 0);
			} else if (!is_allowed(from[i], to[j])) {
				ck_assert_msg(set_state(r, to[j]) == -EINVAL, "%u -> %#x accepted",
				    from[i], to[j]);
				refused++;
			} else
				continue;
			ck_assert_uint_eq(get_state(r), from[i]);
		}
	}
	/* 5 sources x 12 targets, minus 14 allowed and 5 same-state. */
	ck_assert_uint_eq(refused, 5 * 12 - 14 - 5);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_device_state_width_and_alignment)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint8_t buf[8] = {0};
	static const size_t widths[] = {1, 2, 8};
	size_t i;

	tu_sim_config(&s, "sim0", 16 * 1024, 1);
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	for (i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
		ck_assert_int_eq(r->ops->read(r, V1_OFF(device_state), buf, widths[i]), -EINVAL);
		ck_assert_int_eq(r->ops->write(r, V1_OFF(device_state), buf, widths[i]), -EINVAL);
	}
	/* Misaligned 4-byte accesses inside the field and across reserved. */
	ck_assert_int_eq(r->ops->read(r, 1, buf, 4), -EINVAL);
	ck_assert_int_eq(r->ops->write(r, 2, buf, 4), -EINVAL);
	/* An 8-byte write of zeros would have stopped the device. */
	ck_assert_uint_eq(get_state(r), ST_RUN);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_u64_fields_width_and_alignment)
{
	static const uint64_t fields[] = {V1_OFF(pending_bytes), V1_OFF(data_offset),
	    V1_OFF(data_size), V1_OFF(start_pfn), V1_OFF(page_size), V1_OFF(total_pfns),
	    V1_OFF(copied_pfns)};
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint8_t buf[16] = {0};
	size_t i;

	tu_sim_config(&s, "sim0", 16 * 1024, 1);
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	ck_assert_int_eq(set_state(r, ST_PRECOPY), 0);
	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		ck_assert_int_eq(r->ops->read(r, fields[i], buf, 4), -EINVAL);
		ck_assert_int_eq(r->ops->write(r, fields[i], buf, 4), -EINVAL);
		ck_assert_int_eq(r->ops->read(r, fields[i], buf, 1), -EINVAL);
		ck_assert_int_eq(r->ops->read(r, fields[i], buf, 16), -EINVAL);
		/* Misaligned: the upper half of the field, or straddling two. */
		ck_assert_int_eq(r->ops->read(r, fields[i] + 4, buf, 4), -EINVAL);
		ck_assert_int_eq(r->ops->read(r, fields[i] + 4, buf, 8), -EINVAL);
		ck_assert_int_eq(r->ops->write(r, fields[i] + 2, buf, 8), -EINVAL);
	}
	/* Nothing above was taken as a record request. */
	ck_assert_uint_eq(read64(r, V1_OFF(data_size)), 0);
	ck_assert_uint_eq(get_state(r), ST_PRECOPY);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_access_outside_fields_and_region)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint8_t buf[8] = {0};

	tu_sim_config(&s, "sim0", 16 * 1024, 1);
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	/* Between the fields and the data section. */
	ck_assert_int_eq(r->ops->read(r, 64, buf, 8), -EINVAL);
	ck_assert_int_eq(r->ops->write(r, 2048, buf, 4), -EINVAL);
	/* Past the end, straddling the end, and wrapping around. */
	ck_assert_int_eq(r->ops->read(r, r->size, buf, 1), -EINVAL);
	ck_assert_int_eq(r->ops->read(r, r->size - 4, buf, 8), -EINVAL);
	ck_assert_int_eq(r->ops->write(r, r->size - 4, buf, 8), -EINVAL);
	ck_assert_int_eq(r->ops->read(r, UINT64_MAX - 2, buf, 8), -EINVAL);
	/* The last bytes of the section are fine, at any width. */
	ck_assert_int_eq(r->ops->write(r, r->size - 3, "abc", 3), 3);
	ck_assert_int_eq(r->ops->read(r, r->size - 3, buf, 3), 3);
	ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_read_only_and_write_only_fields)
{
	static const uint64_t read_only[] = {V1_OFF(pending_bytes), V1_OFF(data_offset),
	    V1_OFF(copied_pfns)};
	static const uint64_t write_only[] = {V1_OFF(start_pfn), V1_OFF(page_size),
	    V1_OFF(total_pfns)};
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint64_t v = 4096;
	uint32_t v32 = 0;
	size_t i;

	tu_sim_config(&s, "sim0", 16 * 1024, 1);
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	for (i = 0; i < sizeof(read_only) / sizeof(read_only[0]); i++)
		ck_assert_int_eq(r->ops->write(r, read_only[i], &v, 8), -EINVAL);
	for (i = 0; i < sizeof(write_only) / sizeof(write_only[0]); i++) {
		ck_assert_int_eq(r->ops->read(r, write_only[i], &v, 8), -EINVAL);
		ck_assert_int_eq(r->ops->write(r, write_only[i], &v, 8), 8);
	}
	ck_assert_int_eq(r->ops->write(r, V1_OFF(reserved), &v32, 4), -EINVAL);
	ck_assert_int_eq(r->ops->read(r, V1_OFF(reserved), &v32, 4), 4);
	ck_assert_uint_eq(v32, 0);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_data_offset_and_mapping)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	void *map = NULL;
	uint8_t buf[4];
	uint64_t off;

	tu_sim_config(&s, "sim0", 16 * 1024, 1);
	s.cfg.section_size = 64 * 1024;
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	off = read64(r, V1_OFF(data_offset));
	ck_assert_uint_ne(off, 0);
	ck_assert_uint_eq(off % 4096, 0);
	ck_assert_uint_ge(off, sizeof(struct vfio_device_migration_info));
	ck_assert_uint_eq(r->size - off, 64 * 1024);
	ck_assert_int_eq(r->ops->map(r, off, r->size - off, &map), 0);
	ck_assert_uint_eq((uintptr_t)map % 4096, 0);
	/* The map and the region show the same bytes. */
	ck_assert_int_eq(r->ops->write(r, off + 100, "wxyz", 4), 4);
	ck_assert_int_eq(memcmp((uint8_t *)map + 100, "wxyz", 4), 0);
	memcpy((uint8_t *)map + 200, "1234", 4);
	ck_assert_int_eq(r->ops->read(r, off + 200, buf, 4), 4);
	ck_assert_int_eq(memcmp(buf, "1234", 4), 0);
	ck_assert_int_eq(r->ops->map(r, 0, 64, &map), -ENOTSUP);
	ck_assert_int_eq(r->ops->map(r, off, r->size, &map), -EINVAL);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_pending_bytes_follow_dirty_state)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint64_t size, pending, records = 0;

	tu_sim_config(&s, "sim0", 64 * 1024, 1);
	s.cfg.section_size = 3 * 4096; /* two pages per record */
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	ck_assert_uint_eq(read64(r, V1_OFF(pending_bytes)), 0);
	ck_assert_int_eq(set_state(r, ST_PRECOPY), 0);
	pending = read64(r, V1_OFF(pending_bytes));
	ck_assert_uint_eq(pending, pending_for(16, 3 * 4096));
	while ((size = next_record(r)) != 0) {
		ck_assert_uint_le(size, 3 * 4096);
		ck_assert_uint_eq(read64(r, V1_OFF(pending_bytes)), pending - size);
		pending -= size;
		records++;
	}
	ck_assert_uint_eq(records, 8);
	ck_assert_uint_eq(read64(r, V1_OFF(pending_bytes)), 0);
	/* Stop-copy after a drained pre-copy has nothing left either. */
	ck_assert_int_eq(set_state(r, ST_SAVE), 0);
	ck_assert_uint_eq(read64(r, V1_OFF(pending_bytes)), 0);
	ck_assert_uint_eq(next_record(r), 0);
	ck_assert_int_eq(set_state(r, ST_STOP), 0);
	ck_assert_uint_eq(read64(r, V1_OFF(pending_bytes)), 0);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_stopcopy_drains_to_zero)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint64_t size, total = 0;

	tu_sim_config(&s, "sim0", 256 * 1024, 3);
	s.cfg.dirty_rate = 1 << 20;
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	ck_assert_int_eq(set_state(r, ST_SAVE), 0);
	ck_assert_uint_eq(read64(r, V1_OFF(pending_bytes)),
	    pending_for(64, SIM_V1_SECTION_DEFAULT));
	while ((size = next_record(r)) != 0) {
		total += size;
		sim_v1_tick(dev, 100 * MS); /* stopped: must not re-dirty anything */
	}
	ck_assert_uint_eq(total, pending_for(64, SIM_V1_SECTION_DEFAULT));
	ck_assert_uint_eq(read64(r, V1_OFF(pending_bytes)), 0);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_data_size_semantics)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint8_t head[REC_HEADER];
	uint64_t size;

	tu_sim_config(&s, "sim0", 32 * 1024, 1);
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	/* Not saving: nothing to read, nothing to write. */
	ck_assert_uint_eq(read64(r, V1_OFF(data_size)), 0);
	ck_assert_int_eq(write64(r, V1_OFF(data_size), 10), -EINVAL);
	ck_assert_int_eq(set_state(r, ST_SAVE), 0);
	/* Saving, before data_offset is read: no record yet. */
	ck_assert_uint_eq(read64(r, V1_OFF(data_size)), 0);
	size = next_record(r);
	ck_assert_uint_eq(size, REC_HEADER + 8 * REC_ENTRY);
	/* Reading data_size again does not make another record. */
	ck_assert_uint_eq(read64(r, V1_OFF(data_size)), size);
	ck_assert_int_eq(r->ops->read(r, SIM_V1_DATA_OFFSET, head, sizeof(head)), sizeof(head));
	ck_assert_int_eq(memcmp(head, "SIM1", 4), 0);
	ck_assert_uint_eq(head[4], 8); /* pages in the record */
	ck_assert_int_eq(write64(r, V1_OFF(data_size), size), -EINVAL);
	ck_assert_uint_eq(next_record(r), 0);
	ck_assert_uint_eq(read64(r, V1_OFF(data_size)), 0);
	/* Resuming: beyond the section is refused without an error state. */
	reach(r, ST_RESUME);
	ck_assert_int_eq(write64(r, V1_OFF(data_size), SIM_V1_SECTION_DEFAULT + 1), -EINVAL);
	ck_assert_uint_eq(get_state(r), ST_RESUME);
	ck_assert_int_eq(write64(r, V1_OFF(data_size), 0), 8);
	ck_assert_uint_eq(get_state(r), ST_RESUME);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_record_applies_on_another_device)
{
	struct tu_sim a, b;
	struct sim_v1 *src, *dst;
	struct mig_region *rs, *rd;
	uint8_t *rec;
	uint64_t size, isize;
	const uint8_t *is, *id;

	tu_sim_config(&a, "src", 64 * 1024, 1);
	tu_sim_config(&b, "dst", 64 * 1024, 2);
	a.cfg.section_size = b.cfg.section_size = 5 * 4096;
	src = tu_sim_open(&a);
	dst = tu_sim_open(&b);
	rs = sim_v1_region(src);
	rd = sim_v1_region(dst);
	is = sim_v1_image(src, &isize);
	id = sim_v1_image(dst, &isize);
	ck_assert_int_ne(memcmp(is, id, isize), 0);
	ck_assert_int_eq(set_state(rs, ST_SAVE), 0);
	ck_assert_int_eq(set_state(rd, ST_RESUME), 0);
	rec = malloc(5 * 4096);
	while ((size = next_record(rs)) != 0) {
		ck_assert_int_eq(rs->ops->read(rs, SIM_V1_DATA_OFFSET, rec, size), (ssize_t)size);
		ck_assert_int_eq(rd->ops->write(rd, SIM_V1_DATA_OFFSET, rec, size), (ssize_t)size);
		ck_assert_int_eq(write64(rd, V1_OFF(data_size), size), 8);
	}
	ck_assert_int_eq(set_state(rd, ST_RUN), 0);
	ck_assert_int_eq(memcmp(is, id, isize), 0);
	free(rec);
	sim_v1_close(src);
	sim_v1_close(dst);
}
END_TEST

enum corruption { BAD_CHECKSUM, BAD_MAGIC, BAD_IMAGE_SIZE, BAD_PAGE_INDEX, BAD_COUNT, TOO_SHORT };

START_TEST(test_corrupt_record_enters_error_state)
{
	struct tu_sim a, b;
	struct sim_v1 *src, *dst;
	struct mig_region *rs, *rd;
	uint8_t *good, *bad, *before;
	uint64_t size, isize, len;
	const uint8_t *id;
	int kind;

	tu_sim_config(&a, "src", 64 * 1024, 1);
	tu_sim_config(&b, "dst", 64 * 1024, 2);
	src = tu_sim_open(&a);
	dst = tu_sim_open(&b);
	rs = sim_v1_region(src);
	rd = sim_v1_region(dst);
	ck_assert_int_eq(set_state(rs, ST_SAVE), 0);
	size = next_record(rs);
	good = malloc(size);
	bad = malloc(size);
	ck_assert_int_eq(rs->ops->read(rs, SIM_V1_DATA_OFFSET, good, size), (ssize_t)size);
	id = sim_v1_image(dst, &isize);
	before = snapshot(id, isize);
	for (kind = BAD_CHECKSUM; kind <= TOO_SHORT; kind++) {
		memcpy(bad, good, size);
		len = size;
		switch (kind) {
		case BAD_CHECKSUM:
			bad[REC_HEADER + REC_ENTRY + 100] ^= 1;
			break;
		case BAD_MAGIC:
			bad[0] = 'X';
			fix_checksum(bad, len);
			break;
		case BAD_IMAGE_SIZE:
			put_le64(bad + 8, 128 * 1024);
			fix_checksum(bad, len);
			break;
		case BAD_PAGE_INDEX:
			put_le64(bad + REC_HEADER + 3 * REC_ENTRY, 16);
			fix_checksum(bad, len);
			break;
		case BAD_COUNT:
			len = size - REC_ENTRY;
			fix_checksum(bad, len);
			break;
		case TOO_SHORT:
			len = 10;
			break;
		}
		reach(rd, ST_RESUME);
		ck_assert_int_eq(rd->ops->write(rd, SIM_V1_DATA_OFFSET, bad, len), (ssize_t)len);
		ck_assert_msg(write64(rd, V1_OFF(data_size), len) == -EIO, "corruption %d taken",
		    kind);
		ck_assert_uint_eq(get_state(rd), ST_ERROR);
		/* Nothing of a rejected record reaches the image. */
		ck_assert_int_eq(memcmp(id, before, isize), 0);
		/* Only a reset leaves the error state. */
		ck_assert_int_eq(set_state(rd, ST_RUN), -EINVAL);
		ck_assert_int_eq(set_state(rd, ST_STOP), -EINVAL);
		ck_assert_int_eq(set_state(rd, ST_RESUME), -EINVAL);
		ck_assert_int_eq(set_state(rd, ST_ERROR), -EINVAL);
		ck_assert_uint_eq(get_state(rd), ST_ERROR);
		ck_assert_int_eq(rd->ops->reset(rd), 0);
		ck_assert_uint_eq(get_state(rd), ST_RUN);
	}
	/* After a reset the device takes good records again. */
	reach(rd, ST_RESUME);
	ck_assert_int_eq(rd->ops->write(rd, SIM_V1_DATA_OFFSET, good, size), (ssize_t)size);
	ck_assert_int_eq(write64(rd, V1_OFF(data_size), size), 8);
	ck_assert_int_ne(memcmp(id, before, isize), 0);
	free(good);
	free(bad);
	free(before);
	sim_v1_close(src);
	sim_v1_close(dst);
}
END_TEST

START_TEST(test_workload_writes_at_rate_and_marks_dirty)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	const uint64_t rate = 1 << 20;
	/* 50 ms of 1 MiB/s dirties 12.8 pages' worth: 12 writes of 64 bytes. */
	uint64_t isize, changed, pages, writes = rate / 20 / SIM_V1_STATE_PAGE;
	const uint8_t *img;
	uint8_t *before;

	tu_sim_config(&s, "sim0", 4 << 20, 7);
	s.cfg.dirty_rate = rate;
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	ck_assert_int_eq(set_state(r, ST_PRECOPY), 0);
	while (next_record(r) != 0)
		;
	ck_assert_uint_eq(read64(r, V1_OFF(pending_bytes)), 0);
	img = sim_v1_image(dev, &isize);
	before = snapshot(img, isize);
	sim_v1_tick(dev, 50 * MS);
	changed = bytes_differing(before, img, isize);
	/* Each write rewrites a 64-byte chunk of one page (1/256 of bytes
	 * keep their value) and dirties that page. */
	ck_assert_uint_le(changed, writes * 64);
	ck_assert_uint_ge(changed, writes * 64 * 9 / 10);
	ck_assert_uint_le(pages_differing(before, img, isize, NULL), writes);
	ck_assert_uint_ge(pages_differing(before, img, isize, NULL), writes - 1);
	/* Exactly the pages that changed are dirty again. */
	pages = pages_differing(before, img, isize, NULL);
	ck_assert_uint_gt(pages, 0);
	ck_assert_uint_eq(read64(r, V1_OFF(pending_bytes)),
	    pending_for(pages, SIM_V1_SECTION_DEFAULT));
	free(before);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_workload_idle_unless_running)
{
	static const uint32_t idle[] = {ST_STOP, ST_SAVE, ST_RESUME};
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint64_t isize, gsize;
	uint8_t *before, *gbefore;
	const uint8_t *img;
	uint8_t *guest;
	size_t i;

	tu_sim_config(&s, "sim0", 256 * 1024, 7);
	tu_sim_guest(&s, 256 * 1024);
	s.cfg.dirty_rate = s.cfg.dma_dirty_rate = 10 << 20;
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	img = sim_v1_image(dev, &isize);
	guest = sim_v1_guest_memory(dev, &gsize);
	for (i = 0; i < sizeof(idle) / sizeof(idle[0]); i++) {
		reach(r, idle[i]);
		before = snapshot(img, isize);
		gbefore = snapshot(guest, gsize);
		sim_v1_tick(dev, 100 * MS);
		ck_assert_int_eq(memcmp(before, img, isize), 0);
		ck_assert_int_eq(memcmp(gbefore, guest, gsize), 0);
		free(before);
		free(gbefore);
	}
	/* Running (and pre-copy) it does change both. */
	reach(r, ST_PRECOPY);
	before = snapshot(img, isize);
	gbefore = snapshot(guest, gsize);
	sim_v1_tick(dev, 10 * MS);
	ck_assert_int_ne(memcmp(before, img, isize), 0);
	ck_assert_int_ne(memcmp(gbefore, guest, gsize), 0);
	free(before);
	free(gbefore);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_seed_determines_content_and_writes)
{
	struct tu_sim a, b, c;
	struct sim_v1 *da, *db, *dc;
	uint64_t size, gsize;
	const uint8_t *ia, *ib, *ic;
	uint8_t *ga, *gb, *gc, *before;

	tu_sim_config(&a, "a", 128 * 1024, 42);
	tu_sim_config(&b, "b", 128 * 1024, 42);
	tu_sim_config(&c, "c", 128 * 1024, 43);
	tu_sim_guest(&a, 64 * 1024);
	tu_sim_guest(&b, 64 * 1024);
	tu_sim_guest(&c, 64 * 1024);
	a.cfg.dirty_rate = b.cfg.dirty_rate = c.cfg.dirty_rate = 1 << 20;
	a.cfg.dma_dirty_rate = b.cfg.dma_dirty_rate = c.cfg.dma_dirty_rate = 1 << 19;
	da = tu_sim_open(&a);
	db = tu_sim_open(&b);
	dc = tu_sim_open(&c);
	ia = sim_v1_image(da, &size);
	ib = sim_v1_image(db, &size);
	ic = sim_v1_image(dc, &size);
	ga = sim_v1_guest_memory(da, &gsize);
	gb = sim_v1_guest_memory(db, &gsize);
	gc = sim_v1_guest_memory(dc, &gsize);
	ck_assert_uint_eq(gsize, 64 * 1024);
	ck_assert_int_eq(memcmp(ia, ib, size), 0);
	ck_assert_int_ne(memcmp(ia, ic, size), 0);
	ck_assert_int_eq(memcmp(ga, gb, gsize), 0);
	ck_assert_int_ne(memcmp(ga, gc, gsize), 0);
	/* The image is not the guest memory's content either. */
	ck_assert_int_ne(memcmp(ia, ga, gsize), 0);
	before = snapshot(ga, gsize);
	sim_v1_tick(da, 30 * MS);
	sim_v1_tick(db, 30 * MS);
	sim_v1_tick(dc, 30 * MS);
	ck_assert_int_ne(memcmp(before, ga, gsize), 0);
	ck_assert_int_eq(memcmp(ia, ib, size), 0);
	ck_assert_int_eq(memcmp(ga, gb, gsize), 0);
	ck_assert_int_ne(memcmp(ia, ic, size), 0);
	free(before);
	sim_v1_close(da);
	sim_v1_close(db);
	sim_v1_close(dc);
}
END_TEST

START_TEST(test_tick_granularity_and_carry)
{
	struct tu_sim a, b;
	struct sim_v1 *da, *db;
	uint64_t size;
	const uint8_t *ia, *ib;
	uint8_t *before;
	int i;

	tu_sim_config(&a, "a", 64 * 1024, 5);
	tu_sim_config(&b, "b", 64 * 1024, 5);
	a.cfg.dirty_rate = b.cfg.dirty_rate = 1000003;
	da = tu_sim_open(&a);
	db = tu_sim_open(&b);
	ia = sim_v1_image(da, &size);
	ib = sim_v1_image(db, &size);
	/* Ten 5 ms ticks write what one 50 ms tick writes. */
	for (i = 0; i < 10; i++)
		sim_v1_tick(da, 5 * MS);
	sim_v1_tick(db, 50 * MS);
	ck_assert_int_eq(memcmp(ia, ib, size), 0);
	sim_v1_close(da);
	sim_v1_close(db);

	/* One page a second in 100 ms ticks: a tenth of a write per tick,
	 * carried over until a whole write is due on the tenth tick. */
	tu_sim_config(&a, "slow", 64 * 1024, 5);
	a.cfg.dirty_rate = SIM_V1_STATE_PAGE;
	da = tu_sim_open(&a);
	ia = sim_v1_image(da, &size);
	before = snapshot(ia, size);
	for (i = 0; i < 9; i++)
		sim_v1_tick(da, 100 * MS);
	ck_assert_int_eq(memcmp(before, ia, size), 0);
	sim_v1_tick(da, 100 * MS);
	ck_assert_uint_gt(bytes_differing(before, ia, size), 48);
	ck_assert_uint_le(bytes_differing(before, ia, size), 64);
	free(before);
	sim_v1_close(da);
}
END_TEST

START_TEST(test_existing_image_kept_and_resized)
{
	struct tu_sim s, fresh;
	struct sim_v1 *dev, *fdev;
	uint64_t size, fsize;
	uint8_t *kept;
	const uint8_t *img, *fimg;
	struct stat st;

	tu_sim_config(&s, "sim0", 64 * 1024, 1);
	s.cfg.dirty_rate = 1 << 20;
	dev = tu_sim_open(&s);
	sim_v1_tick(dev, 20 * MS);
	img = sim_v1_image(dev, &size);
	kept = snapshot(img, size);
	sim_v1_close(dev);
	/* Reopened with another seed and twice the size: the old bytes stay,
	 * the new half is what a fresh image of that seed holds there. */
	s.cfg.seed = 2;
	s.cfg.size = 128 * 1024;
	dev = tu_sim_open(&s);
	img = sim_v1_image(dev, &size);
	ck_assert_uint_eq(size, 128 * 1024);
	ck_assert_int_eq(memcmp(img, kept, 64 * 1024), 0);
	tu_sim_config(&fresh, "fresh", 128 * 1024, 2);
	fdev = tu_sim_open(&fresh);
	fimg = sim_v1_image(fdev, &fsize);
	ck_assert_int_eq(memcmp(img + 64 * 1024, fimg + 64 * 1024, 64 * 1024), 0);
	sim_v1_close(dev);
	sim_v1_close(fdev);
	/* Shrunk: the file is cut to size, so a checksum covers the state only. */
	s.cfg.size = 32 * 1024;
	dev = tu_sim_open(&s);
	ck_assert_int_eq(stat(s.image, &st), 0);
	ck_assert_int_eq(st.st_size, 32 * 1024);
	img = sim_v1_image(dev, &size);
	ck_assert_uint_eq(size, 32 * 1024);
	ck_assert_int_eq(memcmp(img, kept, 32 * 1024), 0);
	free(kept);
	sim_v1_close(dev);
}
END_TEST

/* A device with 64 pages of guest memory in pre-copy, its first all-dirty
 * bitmap already taken. */
static struct sim_v1 *
open_dma_device(struct tu_sim *s, uint64_t dma_rate)
{
	struct sim_v1 *dev;
	struct mig_region *r;

	tu_sim_config(s, "dma", 16 * 1024, 9);
	tu_sim_guest(s, 64 * SIM_V1_GUEST_PAGE);
	s->cfg.dma_dirty_rate = dma_rate;
	dev = tu_sim_open(s);
	r = sim_v1_region(dev);
	ck_assert_int_eq(set_state(r, ST_PRECOPY), 0);
	ck_assert_int_eq(query_bitmap(r, 0, 64, NULL, 0), -1);
	return dev;
}

START_TEST(test_bitmap_all_dirty_then_clean)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;

	dev = open_dma_device(&s, 0);
	r = sim_v1_region(dev);
	/* open_dma_device() took the -1; get-and-clear leaves nothing. */
	ck_assert_int_eq(query_bitmap(r, 0, 64, NULL, 0), 0);
	ck_assert_int_eq(query_bitmap(r, 10, 5, NULL, 0), 0);
	ck_assert_int_eq(query_bitmap(r, 0, 0, NULL, 0), 0);
	/* Stop-copy keeps the log; a new save starts all-dirty again. */
	ck_assert_int_eq(set_state(r, ST_SAVE), 0);
	ck_assert_int_eq(query_bitmap(r, 0, 64, NULL, 0), 0);
	ck_assert_int_eq(set_state(r, ST_RUN), 0);
	ck_assert_int_eq(set_state(r, ST_SAVE), 0);
	ck_assert_int_eq(query_bitmap(r, 8, 16, NULL, 0), -1);
	ck_assert_int_eq(query_bitmap(r, 8, 16, NULL, 0), 0);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_bitmap_reports_exactly_the_dma_pages)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint8_t *before, *guest, bits[8], truth[8] = {0};
	uint64_t gsize, changed, i;

	dev = open_dma_device(&s, 100 * SIM_V1_GUEST_PAGE); /* 10 pages in 100 ms */
	r = sim_v1_region(dev);
	guest = sim_v1_guest_memory(dev, &gsize);
	before = snapshot(guest, gsize);
	sim_v1_tick(dev, 100 * MS);
	changed = pages_differing(before, guest, gsize, truth);
	ck_assert_uint_gt(changed, 1);
	ck_assert_uint_lt(changed, 64);
	/* The lower half first: only its bits, and only it is cleared. */
	memset(bits, 0xaa, sizeof(bits));
	ck_assert_int_eq(query_bitmap(r, 0, 32, bits, 4), 32);
	ck_assert_int_eq(memcmp(bits, truth, 4), 0);
	memset(bits, 0, sizeof(bits));
	if (query_bitmap(r, 0, 64, bits, 8) != 0) {
		for (i = 0; i < 64; i++)
			ck_assert_int_eq(bit_is_set(bits, i), i >= 32 && bit_is_set(truth, i));
	} else {
		for (i = 32; i < 64; i++)
			ck_assert(!bit_is_set(truth, i));
	}
	ck_assert_int_eq(query_bitmap(r, 0, 64, NULL, 0), 0);
	free(before);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_bitmap_range_past_end_is_clamped)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint8_t bits[16];
	uint64_t i;

	tu_sim_config(&s, "dma", 16 * 1024, 9);
	tu_sim_guest(&s, 64 * SIM_V1_GUEST_PAGE);
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	ck_assert_int_eq(set_state(r, ST_PRECOPY), 0);
	/* All dirty, but the range is not all inside guest memory: no -1,
	 * the pages that exist are copied and the rest are never dirty. */
	memset(bits, 0, sizeof(bits));
	ck_assert_int_eq(query_bitmap(r, 32, 100, bits, 4), 32);
	for (i = 0; i < 32; i++)
		ck_assert(bit_is_set(bits, i));
	/* Half of it is clean now: copied, not -1. */
	memset(bits, 0, sizeof(bits));
	ck_assert_int_eq(query_bitmap(r, 0, 64, bits, 8), 64);
	for (i = 0; i < 64; i++)
		ck_assert_int_eq(bit_is_set(bits, i), i < 32);
	/* Entirely past the end. */
	ck_assert_int_eq(set_state(r, ST_RUN), 0);
	ck_assert_int_eq(set_state(r, ST_PRECOPY), 0);
	ck_assert_int_eq(query_bitmap(r, 64, 10, NULL, 0), 0);
	ck_assert_int_eq(query_bitmap(r, UINT64_MAX - 1, 10, NULL, 0), 0);
	ck_assert_int_eq(query_bitmap(r, 63, UINT64_MAX, NULL, 0), 1);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_bitmap_copy_limited_by_section)
{
	static const uint8_t zero[SIM_V1_GUEST_PAGE];
	const uint64_t pages = 65536 + 64, limit = 8192 * 8;
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint8_t *bits, *guest, tail[8] = {0};
	uint64_t gsize, i, set = 0, tail_dirty = 0;

	/* A sparse guest memory file that exists already is used as it is:
	 * a page reads as zeros until the workload writes it. */
	tu_sim_config(&s, "big", 16 * 1024, 11);
	tu_sim_guest(&s, pages * SIM_V1_GUEST_PAGE);
	tu_sparse_file(s.guest, pages * SIM_V1_GUEST_PAGE);
	s.cfg.section_size = 8192;
	s.cfg.dma_dirty_rate = 4000 * SIM_V1_GUEST_PAGE;
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	guest = sim_v1_guest_memory(dev, &gsize);
	ck_assert_int_eq(set_state(r, ST_PRECOPY), 0);
	ck_assert_int_eq(query_bitmap(r, 0, pages, NULL, 0), -1);
	sim_v1_tick(dev, 1000 * MS);
	bits = calloc(1, 8192);
	ck_assert_int_eq(query_bitmap(r, 0, pages, bits, 8192), (int64_t)limit);
	for (i = 0; i < limit; i++) {
		if (bit_is_set(bits, i)) {
			set++;
			ck_assert_int_ne(
			    memcmp(guest + i * SIM_V1_GUEST_PAGE, zero, sizeof(zero)), 0);
		}
	}
	ck_assert_uint_gt(set, 3000);
	/* The pages beyond the limit are still there to ask for, exactly. */
	for (i = limit; i < pages; i++)
		tail_dirty += memcmp(guest + i * SIM_V1_GUEST_PAGE, zero, sizeof(zero)) != 0;
	ck_assert_uint_gt(tail_dirty, 0);
	ck_assert_int_eq(query_bitmap(r, limit, pages - limit, tail, sizeof(tail)), 64);
	for (i = 0; i < 64; i++)
		ck_assert_int_eq(bit_is_set(tail, i),
		    memcmp(guest + (limit + i) * SIM_V1_GUEST_PAGE, zero, sizeof(zero)) != 0);
	free(bits);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_bitmap_wrong_page_size_or_state)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	int64_t copied;

	tu_sim_config(&s, "dma", 16 * 1024, 9);
	tu_sim_guest(&s, 64 * SIM_V1_GUEST_PAGE);
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	ck_assert_int_eq(set_state(r, ST_PRECOPY), 0);
	/* page_size never written yet. */
	ck_assert_int_eq(r->ops->read(r, V1_OFF(copied_pfns), &copied, 8), -EINVAL);
	ck_assert_int_eq(write64(r, V1_OFF(page_size), 8192), -EINVAL);
	ck_assert_int_eq(write64(r, V1_OFF(page_size), 512), -EINVAL);
	ck_assert_int_eq(write64(r, V1_OFF(page_size), 0), -EINVAL);
	ck_assert_int_eq(r->ops->read(r, V1_OFF(copied_pfns), &copied, 8), -EINVAL);
	ck_assert_int_eq(write64(r, V1_OFF(page_size), 4096), 8);
	ck_assert_int_eq(write64(r, V1_OFF(total_pfns), 64), 8);
	ck_assert_int_eq(r->ops->read(r, V1_OFF(copied_pfns), &copied, 8), 8);
	ck_assert_int_eq(copied, -1);
	/* Not saving: no bitmap. */
	ck_assert_int_eq(set_state(r, ST_RUN), 0);
	ck_assert_int_eq(r->ops->read(r, V1_OFF(copied_pfns), &copied, 8), -EINVAL);
	reach(r, ST_RESUME);
	ck_assert_int_eq(write64(r, V1_OFF(page_size), 4096), 8);
	ck_assert_int_eq(r->ops->read(r, V1_OFF(copied_pfns), &copied, 8), -EINVAL);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_bitmap_without_guest_memory)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;

	tu_sim_config(&s, "nodma", 16 * 1024, 9);
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	ck_assert_int_eq(set_state(r, ST_PRECOPY), 0);
	ck_assert_int_eq(query_bitmap(r, 0, 100, NULL, 0), 0);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_bitmap_overwrites_record)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;

	dev = open_dma_device(&s, 100 * SIM_V1_GUEST_PAGE);
	r = sim_v1_region(dev);
	ck_assert_uint_gt(next_record(r), 0);
	sim_v1_tick(dev, 100 * MS);
	/* The bitmap goes where the record was: data_size says it is gone. */
	ck_assert_int_eq(query_bitmap(r, 0, 64, NULL, 0), 64);
	ck_assert_uint_eq(read64(r, V1_OFF(data_size)), 0);
	sim_v1_close(dev);
}
END_TEST

/* ---- driver models ------------------------------------------------------ */

static struct sim_v1 *
open_model(struct tu_sim *s, const char *name, uint64_t seed, enum sim_v1_model model,
    int trapped)
{
	tu_sim_config(s, name, 64 * 1024, seed);
	s->cfg.section_size = 5 * 4096; /* four pages a record */
	s->cfg.model = model;
	s->cfg.trapped = trapped;
	return tu_sim_open(s);
}

START_TEST(test_model_names)
{
	enum sim_v1_model m = SIM_V1_LENIENT;

	ck_assert_int_eq(sim_v1_model_parse(NULL, &m), 0);
	ck_assert_int_eq(m, SIM_V1_RELEASED);
	ck_assert_int_eq(sim_v1_model_parse("lenient", &m), 0);
	ck_assert_int_eq(m, SIM_V1_LENIENT);
	ck_assert_int_eq(sim_v1_model_parse("released-v1", &m), 0);
	ck_assert_int_eq(m, SIM_V1_RELEASED);
	ck_assert_int_eq(sim_v1_model_parse("released", &m), -EINVAL);
	ck_assert_int_eq(sim_v1_model_parse("", &m), -EINVAL);
	ck_assert_str_eq(sim_v1_model_name(SIM_V1_RELEASED), "released-v1");
	ck_assert_str_eq(sim_v1_model_name(SIM_V1_LENIENT), "lenient");
}
END_TEST

/* Two buffers, used in turn; reserved bits in device_state; the same
 * buffer until pending_bytes says it was consumed. */
START_TEST(test_released_buffers_alternate)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint64_t size, size2, offsets[4];
	uint8_t first[16];
	void *map;
	int i, j;

	dev = open_model(&s, "sim0", 1, SIM_V1_RELEASED, 0);
	r = sim_v1_region(dev);
	ck_assert_uint_eq(r->size, SIM_V1_DATA_OFFSET + 2 * 5 * 4096);
	ck_assert_uint_eq(get_state(r), SIM_V1_RESERVED_BITS | ST_RUN);
	ck_assert_uint_eq(sim_v1_state(dev), ST_RUN);
	ck_assert_uint_eq(read64(r, V1_OFF(data_offset)), SIM_V1_DATA_OFFSET);
	ck_assert_int_eq(set_state(r, SIM_V1_RESERVED_BITS | ST_SAVE), 0);
	for (i = 0; i < 4; i++) {
		ck_assert_uint_eq(read64(r, V1_OFF(pending_bytes)),
		    pending_for(16 - 4 * (uint64_t)i, 5 * 4096));
		offsets[i] = read64(r, V1_OFF(data_offset));
		size = read64(r, V1_OFF(data_size));
		ck_assert_uint_eq(size, REC_HEADER + 4 * REC_ENTRY);
		/* Read again within the iteration: the same buffer. */
		ck_assert_uint_eq(read64(r, V1_OFF(data_offset)), offsets[i]);
		size2 = read64(r, V1_OFF(data_size));
		ck_assert_uint_eq(size2, size);
		ck_assert_int_eq(r->ops->read(r, offsets[i], first, sizeof(first)), sizeof(first));
		ck_assert_int_eq(memcmp(first, "SIM1", 4), 0);
	}
	ck_assert_uint_eq(offsets[0], SIM_V1_DATA_OFFSET);
	ck_assert_uint_eq(offsets[1], SIM_V1_DATA_OFFSET + 5 * 4096);
	ck_assert_uint_eq(offsets[2], offsets[0]);
	ck_assert_uint_eq(offsets[3], offsets[1]);
	/* Consumed: scribbled over. */
	ck_assert_int_eq(r->ops->map(r, offsets[3], size, &map), 0);
	ck_assert_uint_eq(read64(r, V1_OFF(pending_bytes)), 0);
	for (i = 0; i < (int)size; i += 512)
		for (j = 0; j < 8; j++)
			ck_assert_uint_eq(((uint8_t *)map)[i + j], POISON);
	ck_assert_uint_eq(sim_v1_violations(dev), 0);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_released_trapped_section_not_aligned)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	void *map;
	uint64_t off;

	dev = open_model(&s, "sim0", 1, SIM_V1_RELEASED, 1);
	r = sim_v1_region(dev);
	off = read64(r, V1_OFF(data_offset));
	ck_assert_uint_eq(off, SIM_V1_TRAPPED_DATA_OFFSET);
	ck_assert_uint_ne(off % 4096, 0);
	ck_assert_uint_eq(r->size, off + 2 * 5 * 4096);
	ck_assert_int_eq(r->ops->map(r, off, r->size - off, &map), -ENOTSUP);
	ck_assert_int_eq(r->ops->map(r, SIM_V1_DATA_OFFSET, 4096, &map), -ENOTSUP);
	/* Between the fields and the section: nothing. */
	ck_assert_int_eq(r->ops->read(r, off - 8, &off, 8), -EINVAL);
	sim_v1_close(dev);
}
END_TEST

/* Reads and writes of device_state at the wrong width are refused, in
 * both models; the released one wants its reserved bits back. */
START_TEST(test_released_reserved_bits_and_width)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint64_t wide = SIM_V1_RESERVED_BITS | ST_PRECOPY;
	uint16_t narrow = ST_PRECOPY;

	dev = open_model(&s, "sim0", 1, SIM_V1_RELEASED, 0);
	r = sim_v1_region(dev);
	ck_assert_int_eq(r->ops->write(r, V1_OFF(device_state), &wide, 8), -EINVAL);
	ck_assert_int_eq(r->ops->write(r, V1_OFF(device_state), &narrow, 2), -EINVAL);
	ck_assert_int_eq(r->ops->read(r, V1_OFF(device_state), &wide, 8), -EINVAL);
	ck_assert_int_eq(r->ops->read(r, V1_OFF(pending_bytes), &narrow, 2), -EINVAL);
	/* Cleared, or others set: refused, state unchanged. */
	ck_assert_int_eq(set_state(r, ST_PRECOPY), -EINVAL);
	ck_assert_int_eq(set_state(r, 0x80000000u | ST_PRECOPY), -EINVAL);
	ck_assert_int_eq(set_state(r, SIM_V1_RESERVED_BITS | 0x100u | ST_PRECOPY), -EINVAL);
	ck_assert_uint_eq(sim_v1_state(dev), ST_RUN);
	ck_assert_uint_eq(sim_v1_violations(dev), 3);
	ck_assert_int_eq(set_state(r, SIM_V1_RESERVED_BITS | ST_PRECOPY), 0);
	ck_assert_uint_eq(get_state(r), SIM_V1_RESERVED_BITS | ST_PRECOPY);
	/* Kept through a reset. */
	ck_assert_int_eq(r->ops->reset(r), 0);
	ck_assert_uint_eq(get_state(r), SIM_V1_RESERVED_BITS | ST_RUN);
	sim_v1_close(dev);
}
END_TEST

START_TEST(test_released_sequence_refusals)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint64_t v, off, size;
	int64_t copied;
	uint8_t buf[64];

	tu_sim_config(&s, "sim0", 64 * 1024, 1);
	tu_sim_guest(&s, 64 * SIM_V1_GUEST_PAGE);
	s.cfg.section_size = 5 * 4096;
	s.cfg.model = SIM_V1_RELEASED;
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	ck_assert_int_eq(set_state(r, SIM_V1_RESERVED_BITS | ST_PRECOPY), 0);
	/* data_size before data_offset made a buffer available. */
	ck_assert_int_eq(r->ops->read(r, V1_OFF(data_size), &v, 8), -EINVAL);
	/* The section while no buffer is out. */
	ck_assert_int_eq(r->ops->read(r, SIM_V1_DATA_OFFSET, buf, 8), -EINVAL);
	off = read64(r, V1_OFF(data_offset));
	size = read64(r, V1_OFF(data_size));
	/* Inside the buffer, fine; past its record, or written, not. */
	ck_assert_int_eq(r->ops->read(r, off + size - 8, buf, 8), 8);
	ck_assert_int_eq(r->ops->read(r, off + size - 7, buf, 8), -EINVAL);
	ck_assert_int_eq(r->ops->write(r, off, buf, 8), -EINVAL);
	/* A bitmap would overwrite the buffer out. */
	ck_assert_int_eq(write64(r, V1_OFF(start_pfn), 0), 8);
	ck_assert_int_eq(write64(r, V1_OFF(page_size), SIM_V1_GUEST_PAGE), 8);
	ck_assert_int_eq(write64(r, V1_OFF(total_pfns), 32), 8);
	ck_assert_int_eq(r->ops->read(r, V1_OFF(copied_pfns), &copied, 8), -EINVAL);
	ck_assert_uint_eq(sim_v1_violations(dev), 5);
	/* Consumed: now the bitmap, readable where the section starts. */
	(void)read64(r, V1_OFF(pending_bytes));
	ck_assert_int_eq(r->ops->read(r, V1_OFF(copied_pfns), &copied, 8), 8);
	ck_assert_int_eq(copied, -1);
	sim_v1_close(dev);
}
END_TEST

/* A state change takes transition_delay_ms; a no-op or a refusal does not. */
START_TEST(test_transition_delay)
{
	struct tu_sim s;
	struct sim_v1 *dev;
	struct mig_region *r;
	struct timespec t0, t1;
	uint64_t ms;

	tu_sim_config(&s, "sim0", 16 * 1024, 1);
	s.cfg.transition_delay_ms = 120;
	dev = tu_sim_open(&s);
	r = sim_v1_region(dev);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(set_state(r, ST_RUN), 0);
	ck_assert_int_eq(set_state(r, ST_ERROR), -EINVAL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	ck_assert_uint_lt(ms, 100);
	ck_assert_int_eq(set_state(r, ST_PRECOPY), 0);
	ck_assert_int_eq(set_state(r, ST_SAVE), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
	ck_assert_uint_ge(ms, 240);
	sim_v1_close(dev);
	s.cfg.transition_delay_ms = 60001;
	ck_assert_int_eq(sim_v1_open(&s.cfg, &dev), -EINVAL);
}
END_TEST

/*
 * The v1 driver as it was before issue 14, replayed field by field, each
 * step of it against both models: the lenient device lets every one pass,
 * the released-v1 model catches every one by itself (an error from the
 * device, or the bytes it scribbled over), before any digest could.
 */

/* device_state written with the bare state bits. */
START_TEST(test_old_driver_state_write)
{
	struct tu_sim a, b;
	struct sim_v1 *lenient, *released;

	lenient = open_model(&a, "lenient", 1, SIM_V1_LENIENT, 0);
	released = open_model(&b, "released", 1, SIM_V1_RELEASED, 0);
	ck_assert_int_eq(set_state(sim_v1_region(lenient), ST_PRECOPY), 0);
	ck_assert_int_eq(set_state(sim_v1_region(released), ST_PRECOPY), -EINVAL);
	ck_assert_uint_eq(sim_v1_state(released), ST_RUN);
	ck_assert_uint_eq(sim_v1_violations(released), 1);
	sim_v1_close(lenient);
	sim_v1_close(released);
}
END_TEST

/* State written read-modify-write, as both models accept. */
static void
set_state_rmw(struct mig_region *r, uint32_t state)
{
	ck_assert_int_eq(set_state(r, (get_state(r) & ~7u) | state), 0);
}

/* The engine's tick read pending_bytes in the middle of a record: the
 * rest of the record, read after it, is the scribble. Through reads the
 * device refuses them; through the map the destination refuses the
 * record. Returns the destination's answer to data_size. */
static ssize_t
old_driver_tick_mid_record(enum sim_v1_model model, int mapped, uint64_t *violations)
{
	struct tu_sim a, b;
	struct sim_v1 *src, *dst;
	struct mig_region *rs, *rd;
	uint64_t off, size, doff;
	uint8_t *rec;
	void *map;
	ssize_t n;

	src = open_model(&a, "src", 1, model, 0);
	dst = open_model(&b, "dst", 2, SIM_V1_RELEASED, 0);
	rs = sim_v1_region(src);
	rd = sim_v1_region(dst);
	set_state_rmw(rs, ST_PRECOPY);
	set_state_rmw(rd, ST_RESUME);
	off = read64(rs, V1_OFF(data_offset));
	size = read64(rs, V1_OFF(data_size));
	ck_assert_uint_eq(size, REC_HEADER + 4 * REC_ENTRY);
	rec = malloc(size);
	ck_assert_int_eq(rs->ops->read(rs, off, rec, size / 2), (ssize_t)(size / 2));
	(void)read64(rs, V1_OFF(pending_bytes)); /* the tick */
	if (mapped) {
		ck_assert_int_eq(rs->ops->map(rs, off, size, &map), 0);
		memcpy(rec + size / 2, (uint8_t *)map + size / 2, size - size / 2);
	} else {
		n = rs->ops->read(rs, off + size / 2, rec + size / 2, size - size / 2);
		if (n < 0) {
			*violations = sim_v1_violations(src);
			free(rec);
			sim_v1_close(src);
			sim_v1_close(dst);
			return n;
		}
	}
	doff = read64(rd, V1_OFF(data_offset));
	ck_assert_int_eq(rd->ops->write(rd, doff, rec, size), (ssize_t)size);
	n = write64(rd, V1_OFF(data_size), size);
	*violations = sim_v1_violations(src);
	free(rec);
	sim_v1_close(src);
	sim_v1_close(dst);
	return n;
}

START_TEST(test_old_driver_tick_mid_record)
{
	uint64_t violations;

	ck_assert_int_eq(old_driver_tick_mid_record(SIM_V1_LENIENT, 0, &violations), 8);
	ck_assert_int_eq(old_driver_tick_mid_record(SIM_V1_LENIENT, 1, &violations), 8);
	ck_assert_int_eq(old_driver_tick_mid_record(SIM_V1_RELEASED, 0, &violations), -EINVAL);
	ck_assert_uint_eq(violations, 1);
	/* Unseen by the device; the scribble fails the record's checksum. */
	ck_assert_int_eq(old_driver_tick_mid_record(SIM_V1_RELEASED, 1, &violations), -EIO);
}
END_TEST

/* Stop-copy: a record per data_offset read, pending_bytes only once one
 * came back empty. Returns how many records that made of 16 pages (four a
 * record), given up at 10. */
static unsigned int
old_driver_stopcopy(enum sim_v1_model model, uint64_t *violations)
{
	struct tu_sim a;
	struct sim_v1 *dev;
	struct mig_region *r;
	uint64_t off, size;
	uint8_t rec[REC_HEADER + 8];
	unsigned int records = 0;

	dev = open_model(&a, "src", 1, model, 0);
	r = sim_v1_region(dev);
	set_state_rmw(r, ST_SAVE);
	while (records < 10) {
		off = read64(r, V1_OFF(data_offset));
		if ((size = read64(r, V1_OFF(data_size))) == 0)
			break;
		ck_assert_int_eq(r->ops->read(r, off, rec, sizeof(rec)), sizeof(rec));
		records++;
	}
	*violations = sim_v1_violations(dev);
	sim_v1_close(dev);
	return records;
}

START_TEST(test_old_driver_stopcopy_without_pending)
{
	uint64_t violations;

	ck_assert_uint_eq(old_driver_stopcopy(SIM_V1_LENIENT, &violations), 4);
	/* The same buffer, again and again: the stop-copy never ends. */
	ck_assert_uint_eq(old_driver_stopcopy(SIM_V1_RELEASED, &violations), 10);
	ck_assert_uint_eq(violations, 9);
}
END_TEST

/* Resuming: every record written where data_offset said at attach, and
 * data_size written without asking data_offset first. */
START_TEST(test_old_driver_resume_at_attach_offset)
{
	struct tu_sim a, b, c;
	struct sim_v1 *src, *lenient, *released;
	struct mig_region *rs, *rl, *rr;
	uint64_t attach_l, attach_r, off, size;
	uint8_t rec[5 * 4096];

	src = open_model(&a, "src", 1, SIM_V1_LENIENT, 0);
	lenient = open_model(&b, "lenient", 2, SIM_V1_LENIENT, 0);
	released = open_model(&c, "released", 3, SIM_V1_RELEASED, 0);
	rs = sim_v1_region(src);
	rl = sim_v1_region(lenient);
	rr = sim_v1_region(released);
	attach_l = read64(rl, V1_OFF(data_offset));
	attach_r = read64(rr, V1_OFF(data_offset));
	set_state_rmw(rs, ST_SAVE);
	set_state_rmw(rl, ST_RESUME);
	set_state_rmw(rr, ST_RESUME);
	off = read64(rs, V1_OFF(data_offset));
	size = read64(rs, V1_OFF(data_size));
	ck_assert_int_eq(rs->ops->read(rs, off, rec, size), (ssize_t)size);
	ck_assert_int_eq(rl->ops->write(rl, attach_l, rec, size), (ssize_t)size);
	ck_assert_int_eq(write64(rl, V1_OFF(data_size), size), 8);
	ck_assert_int_eq(rr->ops->write(rr, attach_r, rec, size), -EINVAL);
	ck_assert_int_eq(write64(rr, V1_OFF(data_size), size), -EINVAL);
	ck_assert_uint_eq(sim_v1_violations(released), 2);
	ck_assert_uint_eq(sim_v1_state(released), ST_RESUME);
	sim_v1_close(src);
	sim_v1_close(lenient);
	sim_v1_close(released);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("sim_v1");
	TCase *tc = tcase_create("device");

	log_init("test_sim_v1", LOG_LEVEL_WARNING);
	tcase_add_unchecked_fixture(tc, tu_scratch_setup, tu_scratch_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_opens_running_with_region_layout);
	tcase_add_test(tc, test_open_rejects_bad_config);
	tcase_add_test(tc, test_every_allowed_transition);
	tcase_add_test(tc, test_every_refused_transition);
	tcase_add_test(tc, test_device_state_width_and_alignment);
	tcase_add_test(tc, test_u64_fields_width_and_alignment);
	tcase_add_test(tc, test_access_outside_fields_and_region);
	tcase_add_test(tc, test_read_only_and_write_only_fields);
	tcase_add_test(tc, test_data_offset_and_mapping);
	tcase_add_test(tc, test_pending_bytes_follow_dirty_state);
	tcase_add_test(tc, test_stopcopy_drains_to_zero);
	tcase_add_test(tc, test_data_size_semantics);
	tcase_add_test(tc, test_record_applies_on_another_device);
	tcase_add_test(tc, test_corrupt_record_enters_error_state);
	tcase_add_test(tc, test_workload_writes_at_rate_and_marks_dirty);
	tcase_add_test(tc, test_workload_idle_unless_running);
	tcase_add_test(tc, test_seed_determines_content_and_writes);
	tcase_add_test(tc, test_tick_granularity_and_carry);
	tcase_add_test(tc, test_existing_image_kept_and_resized);
	tcase_add_test(tc, test_bitmap_all_dirty_then_clean);
	tcase_add_test(tc, test_bitmap_reports_exactly_the_dma_pages);
	tcase_add_test(tc, test_bitmap_range_past_end_is_clamped);
	tcase_add_test(tc, test_bitmap_copy_limited_by_section);
	tcase_add_test(tc, test_bitmap_wrong_page_size_or_state);
	tcase_add_test(tc, test_bitmap_without_guest_memory);
	tcase_add_test(tc, test_bitmap_overwrites_record);
	tcase_add_test(tc, test_model_names);
	tcase_add_test(tc, test_released_buffers_alternate);
	tcase_add_test(tc, test_released_trapped_section_not_aligned);
	tcase_add_test(tc, test_released_reserved_bits_and_width);
	tcase_add_test(tc, test_released_sequence_refusals);
	tcase_add_test(tc, test_transition_delay);
	tcase_add_test(tc, test_old_driver_state_write);
	tcase_add_test(tc, test_old_driver_tick_mid_record);
	tcase_add_test(tc, test_old_driver_stopcopy_without_pending);
	tcase_add_test(tc, test_old_driver_resume_at_attach_offset);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
