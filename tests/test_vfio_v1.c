/*
 * test_vfio_v1.c: the vfio-v1 backend and vfio_open.c against a fake kernel
 * (vfio_fake.c) whose migration region is a software v1 device.
 *
 * Opening by cdev, group and PCI address, step by step, with every step
 * failing in turn; finding the migration region by either numbering, and
 * refusing malformed capability chains; a whole migration through
 * pread/pwrite (with short transfers) and through the mmap'ed data
 * section, ending with byte-identical images.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "device.h"
#include "kabi_v1.h"
#include "log.h"
#include "sim_v1.h"
#include "testutil.h"
#include "vfio_fake.h"
#include "vfio_open.h"
#include "xmalloc.h"

#define MIB (1024u * 1024u)
#define MIG_INDEX 9u /* after the PCI regions */
#define TYPE_RELEASED 3u
#define TYPE_PROPOSED 2u
#define CAP_SPARSE 1u
#define CAP_TYPE 2u
#define INFO_SIZE 32u /* struct vfio_region_info */

struct v1_fixture {
	struct tu_sim ts[2];
	struct sim_v1 *sim[2];
	struct mig_device dev[2];
	struct mig_device_config dc[2];
	char names[2][8], paths[2][64];
};

static void
fixture_path(struct v1_fixture *f, int i, const char *path)
{
	snprintf(f->paths[i], sizeof(f->paths[i]), "%s", path);
	f->dc[i].path = f->paths[i];
}

static void
fixture_sims(struct v1_fixture *f, uint64_t size)
{
	int i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < 2; i++) {
		tu_sim_config(&f->ts[i], i == 0 ? "src" : "dst", size, 1 + (uint64_t)i);
		f->ts[i].cfg.section_size = 64 * 1024;
		/* The fake kernel's vendor driver is a released v1 one, strictly:
		 * data_offset moves per buffer, consumed buffers are scribbled
		 * over, device_state bits 3-31 must be written back. */
		f->ts[i].cfg.model = SIM_V1_RELEASED;
		f->sim[i] = tu_sim_open(&f->ts[i]);
		snprintf(f->names[i], sizeof(f->names[i]), "%s", i == 0 ? "src" : "dst");
		f->dev[i].name = f->names[i];
		f->dc[i].name = f->names[i];
		f->dc[i].backend = MIG_BACKEND_VFIO_V1;
		fixture_path(f, i, i == 0 ? "/dev/vfio/devices/vfio0" : "/dev/vfio/devices/vfio1");
	}
}

/* Both fake devices: PCI, a v1 migration region backed by the sims. */
static void
fixture_kernel(struct v1_fixture *f, uint32_t type, uint64_t mmap_from)
{
	int i;

	fake_install();
	for (i = 0; i < 2; i++) {
		fake_pci_device(i, 0x15b3, 0x101e);
		fake_mig_region(i, MIG_INDEX, sim_v1_region(f->sim[i]), type, 1, mmap_from);
	}
}

static void
fixture_done(struct v1_fixture *f)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (f->dev[i].ops != NULL)
			f->dev[i].ops->close(&f->dev[i]);
		/* The kernel path kept to the released sequence throughout. */
		ck_assert_uint_eq(sim_v1_violations(f->sim[i]), 0);
		sim_v1_close(f->sim[i]);
	}
	ck_assert_int_eq(fake.open_fds, 0);
	fake_uninstall();
}

static int
open_dev(struct v1_fixture *f, int i)
{
	return vfio_v1_backend_open(&f->dev[i], &f->dc[i]);
}

/* calls[] holds a then b then ... in that order. */
static void
assert_order(const unsigned long *reqs, size_t n)
{
	int last = -1, at;
	size_t i;

	for (i = 0; i < n; i++) {
		at = fake_find(reqs[i]);
		ck_assert_msg(at > last, "ioctl %zu of the sequence is out of order (%d after %d)", i,
		    at, last);
		last = at;
	}
}

START_TEST(test_open_cdev_binds_iommufd_in_order)
{
	struct v1_fixture f;
	const unsigned long seq[] = {FAKE_BIND_IOMMUFD, FAKE_IOAS_ALLOC, FAKE_ATTACH_PT,
		FAKE_GET_INFO, FAKE_GET_REGION_INFO};
	json_t *js;

	fixture_sims(&f, 1 * MIB);
	fixture_kernel(&f, TYPE_RELEASED, 0);
	ck_assert_int_eq(open_dev(&f, 0), 0);
	assert_order(seq, sizeof(seq) / sizeof(seq[0]));
	ck_assert_int_eq(fake_count(FAKE_GROUP_GET_STATUS), 0);
	ck_assert_str_eq(f.dev[0].backend, "vfio-v1");
	ck_assert_str_eq(f.dev[0].identity, "vfio-v1 pci 15b3:101e");
	ck_assert_str_eq(f.dev[0].compat, "subsystem=1af4:1100,revision=01");
	ck_assert_str_eq(f.dev[0].ops->state_name(&f.dev[0]), "running");
	js = f.dev[0].ops->describe(&f.dev[0]);
	ck_assert_str_eq(json_string_value(json_object_get(js, "opened_as")),
	    "cdev /dev/vfio/devices/vfio0 + iommufd");
	ck_assert_str_eq(json_string_value(json_object_get(js, "pci_address")), "0000:3b:00.0");
	ck_assert_str_eq(json_string_value(json_object_get(js, "driver")), "vfio-pci");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(js,
	    "migration_region"), "access")), "pread/pwrite");
	ck_assert(strstr(json_string_value(json_object_get(json_object_get(js,
	    "migration_region"), "numbering")), "type 3") != NULL);
	json_decref(js);
	fixture_done(&f);
}
END_TEST

START_TEST(test_open_pci_address_resolves_cdev_then_group)
{
	struct v1_fixture f;
	const unsigned long group_seq[] = {FAKE_GET_API_VERSION, FAKE_CHECK_EXTENSION,
		FAKE_GROUP_GET_STATUS, FAKE_GROUP_SET_CONTAINER, FAKE_SET_IOMMU, FAKE_GET_DEVICE_FD,
		FAKE_GET_INFO};
	json_t *js;

	fixture_sims(&f, 1 * MIB);
	fixture_kernel(&f, TYPE_RELEASED, 0);
	fixture_path(&f, 0, "0000:3b:00.0");
	ck_assert_int_eq(open_dev(&f, 0), 0);
	ck_assert_int_eq(fake_count(FAKE_BIND_IOMMUFD), 1);
	f.dev[0].ops->close(&f.dev[0]);
	f.dev[0].ops = NULL;

	/* No iommufd on this host: the same address resolves to its group. */
	fake.have_iommufd = 0;
	fake.ncalls = 0;
	ck_assert_int_eq(open_dev(&f, 0), 0);
	assert_order(group_seq, sizeof(group_seq) / sizeof(group_seq[0]));
	ck_assert_int_eq(fake_count(FAKE_BIND_IOMMUFD), 0);
	js = f.dev[0].ops->describe(&f.dev[0]);
	ck_assert_str_eq(json_string_value(json_object_get(js, "opened_as")),
	    "group /dev/vfio/42 + type1 container");
	json_decref(js);
	fixture_done(&f);
}
END_TEST

START_TEST(test_open_group_path_needs_a_single_member)
{
	struct vfio_handle h;
	struct v1_fixture f;

	fixture_sims(&f, 1 * MIB);
	fixture_kernel(&f, TYPE_RELEASED, 0);
	ck_assert_int_eq(vfio_open(&h, "g", "/dev/vfio/42"), 0);
	ck_assert_str_eq(h.pci, "0000:3b:00.0");
	ck_assert_int_eq(h.mode, VFIO_MODE_GROUP);
	vfio_close(&h);
	fake.group_extra_member = 1;
	ck_assert_int_eq(vfio_open(&h, "g", "/dev/vfio/42"), -EINVAL);
	/* By PCI address the daemon knows which member it wants. */
	fake.have_iommufd = 0;
	ck_assert_int_eq(vfio_open(&h, "g", "0000:3b:00.0"), 0);
	vfio_close(&h);
	fixture_done(&f);
}
END_TEST

/* Every setup ioctl fails in turn: the open fails with that errno and
 * leaves no descriptor behind. */
START_TEST(test_open_fails_at_each_step)
{
	const unsigned long cdev_steps[] = {FAKE_BIND_IOMMUFD, FAKE_IOAS_ALLOC, FAKE_ATTACH_PT,
		FAKE_GET_INFO};
	const unsigned long group_steps[] = {FAKE_GROUP_GET_STATUS, FAKE_GROUP_SET_CONTAINER,
		FAKE_SET_IOMMU, FAKE_GET_DEVICE_FD, FAKE_GET_INFO};
	struct vfio_handle h;
	struct v1_fixture f;
	size_t i;

	fixture_sims(&f, 1 * MIB);
	fixture_kernel(&f, TYPE_RELEASED, 0);
	for (i = 0; i < sizeof(cdev_steps) / sizeof(cdev_steps[0]); i++) {
		fake.fail_req = cdev_steps[i];
		fake.fail_nth = 1;
		fake.fail_seen = 0;
		fake.fail_errno = EBUSY;
		ck_assert_int_eq(vfio_open(&h, "c", "/dev/vfio/devices/vfio0"), -EBUSY);
		ck_assert_int_eq(fake.open_fds, 0);
	}
	for (i = 0; i < sizeof(group_steps) / sizeof(group_steps[0]); i++) {
		fake.fail_req = group_steps[i];
		fake.fail_nth = 1;
		fake.fail_seen = 0;
		fake.fail_errno = EPERM;
		ck_assert_int_eq(vfio_open(&h, "g", "/dev/vfio/42"), -EPERM);
		ck_assert_int_eq(fake.open_fds, 0);
	}
	fake.fail_req = 0;

	/* Nodes that cannot be opened. */
	fake.fail_open_path = "/dev/vfio/devices/vfio0";
	fake.fail_open_errno = EACCES;
	ck_assert_int_eq(vfio_open(&h, "c", "/dev/vfio/devices/vfio0"), -EACCES);
	fake.fail_open_path = NULL;
	fake.have_iommufd = 0;
	ck_assert_int_eq(vfio_open(&h, "c", "/dev/vfio/devices/vfio0"), -ENOENT);
	fake.have_iommufd = 1;
	ck_assert_int_eq(vfio_open(&h, "c", "/dev/vfio/devices/vfio7"), -ENOENT);
	ck_assert_int_eq(fake.open_fds, 0);

	/* A group with a device outside VFIO is not viable. */
	fake.group_viable = 0;
	ck_assert_int_eq(vfio_open(&h, "g", "/dev/vfio/42"), -EPERM);
	fake.group_viable = 1;

	/* PCI addresses that do not lead to a VFIO device. */
	ck_assert_int_eq(vfio_open(&h, "p", "0000:3b:00.7"), -ENOENT);
	snprintf(fake.driver[0], sizeof(fake.driver[0]), "mlx5_core");
	ck_assert_int_eq(vfio_open(&h, "p", "0000:3b:00.0"), -ENODEV);
	fake.driver[0][0] = '\0';
	ck_assert_int_eq(vfio_open(&h, "p", "0000:3b:00.0"), -ENOENT);
	snprintf(fake.driver[0], sizeof(fake.driver[0]), "mlx5_vfio_pci");
	ck_assert_int_eq(vfio_open(&h, "p", "0000:3b:00.0"), 0);
	ck_assert_str_eq(h.driver, "mlx5_vfio_pci");
	vfio_close(&h);

	/* Paths that are none of the three. */
	ck_assert_int_eq(vfio_open(&h, "x", "/dev/vfio/vfio"), -EINVAL);
	ck_assert_int_eq(vfio_open(&h, "x", "/tmp/vfio0"), -EINVAL);
	ck_assert_int_eq(vfio_open(&h, "x", ""), -EINVAL);
	ck_assert_int_eq(fake.open_fds, 0);
	fixture_done(&f);
}
END_TEST

START_TEST(test_region_numbering)
{
	struct v1_fixture f;

	/* The 2019 proposal's numbering, on a PCI device. */
	fixture_sims(&f, 1 * MIB);
	fixture_kernel(&f, TYPE_PROPOSED, 0);
	ck_assert_int_eq(open_dev(&f, 0), 0);
	f.dev[0].ops->close(&f.dev[0]);
	f.dev[0].ops = NULL;
	/* Type 2 is a channel device's own region elsewhere: not on non-PCI. */
	fake.dev[0].flags &= ~2u;
	ck_assert_int_eq(open_dev(&f, 0), -1);
	/* Another subtype of the released type is not the migration region. */
	fixture_done(&f);
	fixture_sims(&f, 1 * MIB);
	fake_install();
	fake_pci_device(0, 0x8086, 0x1234);
	fake_mig_region(0, MIG_INDEX, sim_v1_region(f.sim[0]), TYPE_RELEASED, 2, 0);
	ck_assert_int_eq(open_dev(&f, 0), -1);
	/* No region at all. */
	fake.dev[0].regions[MIG_INDEX].present = 0;
	ck_assert_int_eq(open_dev(&f, 0), -1);
	fake.dev[0].regions[MIG_INDEX].present = 1;
	/* The region info ioctl failing (not a hole in the indexes). */
	fake.fail_req = FAKE_GET_REGION_INFO;
	fake.fail_nth = 1;
	fake.fail_errno = EIO;
	ck_assert_int_eq(open_dev(&f, 0), -1);
	ck_assert_int_eq(fake.open_fds, 0);
	fixture_done(&f);
}
END_TEST

/* Capability chains the kernel must never produce: each one refused. */
START_TEST(test_malformed_capability_chains)
{
	struct v1_fixture f;
	struct fake_region *r;
	uint32_t type[2] = {TYPE_RELEASED, 1}, other[2] = {0, 0};
	struct {
		uint32_t nr, reserved;
		uint64_t offset, size;
	} sparse;
	int k;

	for (k = 0; k < 6; k++) {
		fixture_sims(&f, 1 * MIB);
		fixture_kernel(&f, TYPE_RELEASED, 0);
		r = &fake.dev[0].regions[MIG_INDEX];
		/* A chain of two: an unknown capability at 32, then the type. */
		r->caps_len = 0;
		fake_region_cap(0, MIG_INDEX, 99, other, sizeof(other));
		fake_region_cap(0, MIG_INDEX, CAP_TYPE, type, sizeof(type));
		ck_assert_uint_eq(r->caps[4], INFO_SIZE + 16); /* first.next */
		switch (k) {
		case 0: /* next points past the end of the info */
			r->caps[4] = 0x00;
			r->caps[5] = 0x10;
			break;
		case 1: /* next points back at itself: a loop */
			r->caps[4] = INFO_SIZE;
			break;
		case 2: /* next points into the fixed part of the info */
			r->caps[4] = 8;
			break;
		case 3: /* the type capability is cut short */
			r->caps_len -= 4;
			break;
		case 4: /* a sparse capability with more areas than bytes */
			sparse.nr = 1000;
			sparse.reserved = 0;
			sparse.offset = 4096;
			sparse.size = 4096;
			fake_region_cap(0, MIG_INDEX, CAP_SPARSE, &sparse, sizeof(sparse));
			break;
		case 5: /* a sparse area outside the region */
			sparse.nr = 1;
			sparse.reserved = 0;
			sparse.offset = 4096;
			sparse.size = 1ull << 40;
			fake_region_cap(0, MIG_INDEX, CAP_SPARSE, &sparse, sizeof(sparse));
			break;
		}
		ck_assert_msg(open_dev(&f, 0) == -1, "malformed chain %d accepted", k);
		fixture_done(&f);
	}
}
END_TEST

/* The same chain, well formed, is found past the unknown capability. */
START_TEST(test_capability_chain_is_followed)
{
	struct v1_fixture f;
	struct fake_region *r;
	uint32_t type[2] = {TYPE_RELEASED, 1}, other[2] = {0, 0};

	fixture_sims(&f, 1 * MIB);
	fixture_kernel(&f, TYPE_RELEASED, 0);
	r = &fake.dev[0].regions[MIG_INDEX];
	r->caps_len = 0;
	fake_region_cap(0, MIG_INDEX, 99, other, sizeof(other));
	fake_region_cap(0, MIG_INDEX, CAP_TYPE, type, sizeof(type));
	ck_assert_int_eq(open_dev(&f, 0), 0);
	fixture_done(&f);
}
END_TEST

/* save on one device, resume on the other, through the device_ops. */
static void
migrate(struct v1_fixture *f)
{
	struct mig_device *src = &f->dev[0], *dst = &f->dev[1];
	uint8_t *buf = xmalloc(MIB);
	uint64_t size, pending, off, part;
	int stopped = 0, passes = 0;

	ck_assert_int_eq(src->ops->save_begin(src, 1), 0);
	ck_assert_str_eq(src->ops->state_name(src), "pre-copy");
	ck_assert_int_eq(dst->ops->resume_begin(dst), 0);
	ck_assert_str_eq(dst->ops->state_name(dst), "resuming");
	for (;;) {
		ck_assert_int_eq(src->ops->save_next(src, &size), 0);
		if (size == 0) {
			ck_assert_int_eq(src->ops->pending(src, &pending), 0);
			if (pending > 0)
				continue;
			if (stopped)
				break;
			/* A little more work, then the switchover. */
			sim_v1_tick(f->sim[0], 2000000);
			ck_assert_int_eq(src->ops->save_stop(src), 0);
			stopped = 1;
			continue;
		}
		passes++;
		/* In parts, as the engine moves it, and asked for its estimate
		 * in between, as the engine's tick does (the released device
		 * would scribble over the record if that read pending_bytes). */
		for (off = 0; off < size; off += part) {
			part = size - off < 10000 ? size - off : 10000;
			ck_assert_int_eq(src->ops->save_read(src, off, buf, part), 0);
			ck_assert_int_eq(dst->ops->resume_write(dst, buf, part), 0);
			ck_assert_int_eq(src->ops->pending(src, &pending), 0);
		}
		ck_assert_int_eq(dst->ops->resume_commit(dst), 0);
	}
	ck_assert_int_gt(passes, 1);
	ck_assert_int_eq(dst->ops->resume_end(dst), 0);
	ck_assert_str_eq(dst->ops->state_name(dst), "running");
	ck_assert_int_eq(src->ops->save_end(src), 0);
	ck_assert_str_eq(src->ops->state_name(src), "stopped");
	free(buf);
}

static void
assert_images_equal(struct v1_fixture *f)
{
	uint64_t na, nb;
	const uint8_t *a = sim_v1_image(f->sim[0], &na), *b = sim_v1_image(f->sim[1], &nb);

	ck_assert_uint_eq(na, nb);
	ck_assert(memcmp(a, b, na) == 0);
}

START_TEST(test_migration_trapped_with_short_transfers)
{
	struct v1_fixture f;

	fixture_sims(&f, 2 * MIB);
	f.ts[0].cfg.dirty_rate = 64 * MIB;
	sim_v1_close(f.sim[0]);
	f.sim[0] = tu_sim_open(&f.ts[0]);
	fixture_kernel(&f, TYPE_RELEASED, 0);
	fake.dev[0].short_pio = 1000;
	fake.dev[1].short_pio = 777;
	ck_assert_int_eq(open_dev(&f, 0), 0);
	ck_assert_int_eq(open_dev(&f, 1), 0);
	ck_assert_ptr_null(f.dev[0].ops->save_mapped(&f.dev[0]));
	migrate(&f);
	assert_images_equal(&f);
	fixture_done(&f);
}
END_TEST

START_TEST(test_migration_mapped_data_section)
{
	struct v1_fixture f;
	json_t *js;

	fixture_sims(&f, 2 * MIB);
	fixture_kernel(&f, TYPE_RELEASED, SIM_V1_DATA_OFFSET);
	ck_assert_int_eq(open_dev(&f, 0), 0);
	ck_assert_int_eq(open_dev(&f, 1), 0);
	ck_assert_ptr_nonnull(f.dev[0].ops->save_mapped(&f.dev[0]));
	js = f.dev[0].ops->describe(&f.dev[0]);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(js,
	    "migration_region"), "access")), "mmap");
	json_decref(js);
	migrate(&f);
	assert_images_equal(&f);
	fixture_done(&f);
}
END_TEST

/* A driver that offers its data section for pread/pwrite only, from an
 * offset that is not page aligned (only a mmap'ed section must be). */
START_TEST(test_migration_unaligned_trapped_section)
{
	struct v1_fixture f;
	json_t *js;
	int i;

	fixture_sims(&f, 1 * MIB);
	for (i = 0; i < 2; i++) {
		sim_v1_close(f.sim[i]);
		f.ts[i].cfg.trapped = 1;
		f.sim[i] = tu_sim_open(&f.ts[i]);
	}
	fixture_kernel(&f, TYPE_RELEASED, 0);
	ck_assert_int_eq(open_dev(&f, 0), 0);
	ck_assert_int_eq(open_dev(&f, 1), 0);
	ck_assert_ptr_null(f.dev[0].ops->save_mapped(&f.dev[0]));
	js = f.dev[0].ops->describe(&f.dev[0]);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(js,
	    "migration_region"), "access")), "pread/pwrite");
	json_decref(js);
	migrate(&f);
	assert_images_equal(&f);
	fixture_done(&f);
}
END_TEST

/* A sparse area that does not cover the data section: the driver falls
 * back to pread/pwrite. */
START_TEST(test_partial_mmap_area_falls_back_to_pio)
{
	struct v1_fixture f;

	fixture_sims(&f, 1 * MIB);
	fixture_kernel(&f, TYPE_RELEASED, 2 * SIM_V1_DATA_OFFSET);
	ck_assert_int_eq(open_dev(&f, 0), 0);
	ck_assert_ptr_null(f.dev[0].ops->save_mapped(&f.dev[0]));
	fixture_done(&f);
}
END_TEST

START_TEST(test_reset_is_vfio_device_reset)
{
	struct v1_fixture f;
	uint32_t stopcopy = SIM_V1_RESERVED_BITS | VFIO_DEVICE_STATE_SAVING;

	fixture_sims(&f, 1 * MIB);
	fixture_kernel(&f, TYPE_RELEASED, 0);
	/* Left in stop-copy by someone: brought back at open. */
	ck_assert_int_eq(sim_v1_region(f.sim[0])->ops->write(sim_v1_region(f.sim[0]),
	    V1_OFF(device_state), &stopcopy, sizeof(stopcopy)), sizeof(stopcopy));
	ck_assert_int_eq(open_dev(&f, 0), 0);
	ck_assert_str_eq(f.dev[0].ops->state_name(&f.dev[0]), "running");
	ck_assert_int_eq(f.dev[0].ops->resume_begin(&f.dev[0]), 0);
	ck_assert_int_eq(f.dev[0].ops->reset(&f.dev[0]), 0);
	ck_assert_int_eq(fake.dev[0].resets, 1);
	ck_assert_int_eq(sim_v1_state(f.sim[0]), VFIO_DEVICE_STATE_RUNNING);
	/* A device without VFIO_DEVICE_FLAGS_RESET cannot be reset. */
	fake.dev[0].flags &= ~1u;
	f.dev[0].ops->close(&f.dev[0]);
	ck_assert_int_eq(open_dev(&f, 0), 0);
	ck_assert_int_eq(f.dev[0].ops->resume_begin(&f.dev[0]), 0);
	ck_assert_int_eq(f.dev[0].ops->reset(&f.dev[0]), -ENOTSUP);
	fixture_done(&f);
}
END_TEST

START_TEST(test_region_info_grows_to_the_kernels_size)
{
	struct v1_fixture f;
	struct vfio_handle h;
	struct vfio_region r;

	fixture_sims(&f, 1 * MIB);
	fixture_kernel(&f, TYPE_RELEASED, SIM_V1_DATA_OFFSET);
	ck_assert_int_eq(vfio_open(&h, "r", "/dev/vfio/devices/vfio0"), 0);
	fake.ncalls = 0;
	ck_assert_int_eq(vfio_region_get(&h, MIG_INDEX, &r), 0);
	/* Once to learn the size with capabilities, once to read them. */
	ck_assert_int_eq(fake_count(FAKE_GET_REGION_INFO), 2);
	ck_assert_int_eq(r.sparse, 1);
	ck_assert_uint_eq(r.nareas, 1);
	ck_assert_uint_eq(r.areas[0].offset, SIM_V1_DATA_OFFSET);
	ck_assert(vfio_region_can_map(&r, SIM_V1_DATA_OFFSET, 4096));
	ck_assert(!vfio_region_can_map(&r, 0, 4096));
	ck_assert(!vfio_region_can_map(&r, SIM_V1_DATA_OFFSET, r.size));
	vfio_close(&h);
	fixture_done(&f);
}
END_TEST

int main(void);

int
main(void)
{
	Suite *s = suite_create("vfio_v1");
	TCase *tc = tcase_create("backend");

	unsetenv("JOURNAL_STREAM");
	log_init("test_vfio_v1", LOG_LEVEL_INFO);
	signal(SIGPIPE, SIG_IGN);
	tcase_add_unchecked_fixture(tc, tu_scratch_setup, tu_scratch_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_open_cdev_binds_iommufd_in_order);
	tcase_add_test(tc, test_open_pci_address_resolves_cdev_then_group);
	tcase_add_test(tc, test_open_group_path_needs_a_single_member);
	tcase_add_test(tc, test_open_fails_at_each_step);
	tcase_add_test(tc, test_region_numbering);
	tcase_add_test(tc, test_malformed_capability_chains);
	tcase_add_test(tc, test_capability_chain_is_followed);
	tcase_add_test(tc, test_migration_trapped_with_short_transfers);
	tcase_add_test(tc, test_migration_mapped_data_section);
	tcase_add_test(tc, test_migration_unaligned_trapped_section);
	tcase_add_test(tc, test_partial_mmap_area_falls_back_to_pio);
	tcase_add_test(tc, test_reset_is_vfio_device_reset);
	tcase_add_test(tc, test_region_info_grows_to_the_kernels_size);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
