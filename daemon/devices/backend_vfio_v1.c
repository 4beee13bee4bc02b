/*
 * backend_vfio_v1.c: the `vfio-v1` backend, a kernel VFIO device whose
 * vendor driver offers the region-based migration interface (kabi_v1.h),
 * driven by the same v1 driver (v1_driver.c) as the software device.
 *
 * It owns finding the migration region and giving the driver access to it
 * as a struct mig_region: trapped fields and data through pread/pwrite at
 * the region's offset in the device fd, the data section mmap'ed when a
 * sparse mmap capability covers it, reset through VFIO_DEVICE_RESET. It
 * never interprets a field: that is the driver's job. A handed-over
 * device's DMA is logged by its VMM's type1 container when the VMM handed
 * that over too (vfio_type1.c), over the guest's ranges, from save_begin
 * until the save ends or rolls back.
 *
 * Region numbering. The interface was proposed (2019, kabi_v1.h) as
 * VFIO_REGION_TYPE_MIGRATION 2 / subtype 1; released kernels (5.8 to 5.17)
 * shipped it as type 3 / subtype 1, now named
 * VFIO_REGION_TYPE_MIGRATION_DEPRECATED in <linux/vfio.h> (vfio_compat.h
 * pins the value). Both are looked for, the released numbering first; the
 * proposal's only on PCI devices, because type 2 is VFIO_REGION_TYPE_CCW
 * on s390 channel devices, where subtype 1 is their async command region.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "device.h"
#include "log.h"
#include "v1_driver.h"
#include "vfio_open.h"
#include "backend_v1.h"
#include "vfio_sys.h"
#include "vfio_type1.h"
#include "xmalloc.h"

/* VFIO_REGION_TYPE_MIGRATION_DEPRECATED / VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED. */
#define V1_REGION_TYPE_RELEASED 3u
#define V1_REGION_SUBTYPE_RELEASED 1u

struct vfio_v1 {
	struct v1_dev v1;
	struct vfio_handle h;
	struct vfio_region reg;
	struct mig_region region;
	void *map;
	size_t map_len;
	const char *numbering;
	/* A handed-over device's DMA log: its VMM's container (fd -1: none). */
	struct vfio_type1 type1;
	struct mig_iova_range ranges[MIG_IOVA_RANGES_MAX];
	size_t nranges;
};

static struct vfio_v1 *
kv1(struct mig_device *dev)
{
	return dev->priv;
}

/* ---- struct mig_region over the device fd ------------------------------ */

static int
vfio_v1_in_region(const struct mig_region *r, uint64_t offset, size_t len)
{
	return offset <= r->size && len <= r->size - offset;
}

static ssize_t
vfio_v1_region_read(struct mig_region *r, uint64_t offset, void *buf, size_t len)
{
	struct vfio_v1 *k = r->priv;
	ssize_t n;

	if (!vfio_v1_in_region(r, offset, len))
		return -EINVAL;
	n = vfio_sys->pread(k->h.device_fd, buf, len, (off_t)(k->reg.offset + offset));
	return n < 0 ? -errno : n;
}

static ssize_t
vfio_v1_region_write(struct mig_region *r, uint64_t offset, const void *buf, size_t len)
{
	struct vfio_v1 *k = r->priv;
	ssize_t n;

	if (!vfio_v1_in_region(r, offset, len))
		return -EINVAL;
	n = vfio_sys->pwrite(k->h.device_fd, buf, len, (off_t)(k->reg.offset + offset));
	return n < 0 ? -errno : n;
}

static int
vfio_v1_region_map(struct mig_region *r, uint64_t offset, size_t len, void **addr)
{
	struct vfio_v1 *k = r->priv;
	void *p;

	if (!vfio_region_can_map(&k->reg, offset, len) || k->map != NULL)
		return -ENOTSUP;
	p = vfio_sys->mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, k->h.device_fd,
	    (off_t)(k->reg.offset + offset));
	if (p == MAP_FAILED)
		return -errno;
	k->map = p;
	k->map_len = len;
	*addr = p;
	return 0;
}

static int
vfio_v1_region_reset(struct mig_region *r)
{
	struct vfio_v1 *k = r->priv;

	return vfio_reset(&k->h);
}

static const struct mig_region_ops vfio_v1_region_ops = {
	.read = vfio_v1_region_read,
	.write = vfio_v1_region_write,
	.map = vfio_v1_region_map,
	.reset = vfio_v1_region_reset,
};

/* ---- device_ops: the v1 driver (backend_v1.c), as for the software device */

static const char *
vfio_v1_state_name(struct mig_device *dev)
{
	return v1_state_name(kv1(dev)->v1.state);
}

static void
vfio_v1_free(struct vfio_v1 *k)
{
	vfio_type1_clear(&k->type1);
	v1_detach(&k->v1);
	if (k->map != NULL)
		vfio_sys->munmap(k->map, k->map_len);
	vfio_close(&k->h);
	free(k);
}

static void
vfio_v1_close(struct mig_device *dev)
{
	vfio_v1_free(kv1(dev));
}

static json_t *
vfio_v1_ranges_json(const struct vfio_v1 *k)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < k->nranges; i++)
		json_array_append_new(arr, json_pack("{s:I, s:I}", "start",
		    (json_int_t)k->ranges[i].start, "length", (json_int_t)k->ranges[i].length));
	return arr;
}

/* A handed-over device: its ranges, and its container's log when it has one. */
static void
vfio_v1_describe_handed(const struct vfio_v1 *k, json_t *obj)
{
	if (k->h.mode != VFIO_MODE_HANDOVER)
		return;
	json_object_set_new(obj, "iova", vfio_v1_ranges_json(k));
	if (k->type1.fd < 0)
		return;
	json_object_set_new(json_object_get(obj, "capabilities"), "dirty_tracking", json_true());
	json_object_set_new(obj, "dirty_tracking_by",
	    json_string("type1 IOMMU dirty pages (the VMM's container)"));
}

static json_t *
vfio_v1_describe(struct mig_device *dev)
{
	struct vfio_v1 *k = kv1(dev);
	json_t *obj;

	/* Dirty tracking through the region's bitmap fields exists only in
	 * the 2019 proposal, and only for guest memory the daemon knows of,
	 * which a kernel device never has here: not claimed. */
	obj = json_pack("{s:s, s:{s:b, s:b, s:b, s:b}, s:n, s:{s:I, s:I, s:I, s:s, s:s}, s:s, s:s, "
			"s:s?, s:s?}",
	    "interface", "vfio v1 (migration region)", "capabilities", "precopy", 1, "stopcopy", 1,
	    "dirty_tracking", 0, "page_contents", 0, "dirty_tracking_by", "migration_region",
	    "index", (json_int_t)k->reg.index, "size", (json_int_t)k->reg.size, "data_section",
	    (json_int_t)k->v1.data_capacity, "access", k->v1.data_map != NULL ? "mmap" : "pread/pwrite",
	    "numbering", k->numbering, "path", k->h.path, "opened_as", vfio_mode_name(&k->h),
	    "pci_address", k->h.pci[0] != '\0' ? k->h.pci : NULL, "driver",
	    k->h.driver[0] != '\0' ? k->h.driver : NULL);
	vfio_v1_describe_handed(k, obj);
	return obj;
}

static const struct device_ops vfio_v1_ops = {
	V1_BACKEND_OPS,
	.state_name = vfio_v1_state_name,
	.close = vfio_v1_close,
	.describe = vfio_v1_describe,
};

/* ---- a handed-over device: its VMM's container logs its DMA ------------- */

static void
vfio_v1_log_stop(struct mig_device *dev)
{
	struct vfio_v1 *k = kv1(dev);
	int err;

	if (k->type1.logging && (err = vfio_type1_stop(&k->type1)) != 0)
		log_warnx("device %s: stopping the container's dirty page log: %s", dev->name,
		    strerror(-err));
}

static int
vfio_v1_save_begin(struct mig_device *dev, int precopy)
{
	struct vfio_v1 *k = kv1(dev);
	int err;

	device_check_thread(dev, "save_begin");
	/* Logged from before the device's first byte of state is read. */
	if (dev->guest_memory_size > 0) {
		if ((err = vfio_type1_start(&k->type1)) != 0) {
			log_warnx("device %s: starting the container's dirty page log: %s",
			    dev->name, strerror(-err));
			return err;
		}
		log_info("device %s: dirty tracking on (the VMM's type1 container) over %zu "
			 "IOVA range%s",
		    dev->name, k->nranges, k->nranges == 1 ? "" : "s");
	}
	if ((err = v1b_save_begin(dev, precopy)) != 0)
		vfio_v1_log_stop(dev);
	return err;
}

static int
vfio_v1_save_end(struct mig_device *dev)
{
	int err = v1b_save_end(dev);

	vfio_v1_log_stop(dev);
	return err;
}

static int
vfio_v1_rollback(struct mig_device *dev)
{
	int err = v1b_rollback(dev);

	vfio_v1_log_stop(dev);
	return err;
}

static int
vfio_v1_reset(struct mig_device *dev)
{
	int err = v1b_reset(dev);

	vfio_v1_log_stop(dev);
	return err;
}

/* The container's log of [start_pfn, +npages) through the guest's ranges,
 * get-and-clear, OR-ed into bitmap. */
static int
vfio_v1_dirty_bitmap(struct mig_device *dev, uint64_t start_pfn, uint64_t npages,
    uint8_t *bitmap, uint64_t *dirty)
{
	struct vfio_v1 *k = kv1(dev);
	uint64_t ps = dev->guest_page_size, i, *words;
	int err;

	device_check_thread(dev, "dirty_bitmap");
	*dirty = 0;
	if (!k->type1.logging)
		return -ENOTSUP;
	words = xcalloc((size_t)((npages + 63) / 64), sizeof(uint64_t));
	if ((err = vfio_type1_report_ranges(&k->type1, start_pfn * ps, npages * ps, words)) != 0)
		log_warnx("device %s: the container's dirty log of pages [%" PRIu64 ", +%" PRIu64
			  "): %s",
		    dev->name, start_pfn, npages, strerror(-err));
	for (i = 0; err == 0 && i < npages; i++) {
		if (!((words[i / 64] >> (i % 64)) & 1) || (bitmap[i / 8] & (1u << (i % 8))))
			continue;
		bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
		(*dirty)++;
	}
	free(words);
	return err;
}

/* A handed-over device may be left stopped after a resume (final_state). */
static const struct device_ops vfio_v1_handed_ops = {
	.save_begin = vfio_v1_save_begin,
	.save_stop = v1b_save_stop,
	.pending = v1b_pending,
	.save_next = v1b_save_next,
	.save_read = v1b_save_read,
	.save_mapped = v1b_save_mapped,
	.save_end = vfio_v1_save_end,
	.rollback = vfio_v1_rollback,
	.resume_begin = v1b_resume_begin,
	.resume_write = v1b_resume_write,
	.resume_commit = v1b_resume_commit,
	.resume_end = v1b_resume_end,
	.resume_stop = v1b_resume_stop,
	.reset = vfio_v1_reset,
	.dirty_bitmap = vfio_v1_dirty_bitmap,
	.state_name = vfio_v1_state_name,
	.close = vfio_v1_close,
	.describe = vfio_v1_describe,
};

/* The migration region, by either numbering. */
static int
vfio_v1_find_region(struct vfio_v1 *k, const char *name)
{
	int err;

	err = vfio_region_find(&k->h, V1_REGION_TYPE_RELEASED, V1_REGION_SUBTYPE_RELEASED, &k->reg);
	k->numbering = "type 3 subtype 1 (_DEPRECATED, released kernels 5.8-5.17)";
	if (err == -ENOENT && vfio_is_pci(&k->h)) {
		err = vfio_region_find(&k->h, VFIO_REGION_TYPE_MIGRATION,
		    VFIO_REGION_SUBTYPE_MIGRATION, &k->reg);
		k->numbering = "type 2 subtype 1 (the 2019 KABI proposal)";
	}
	if (err == -ENOENT) {
		log_warnx("device %s: %s has no v1 migration region (type 3 or 2, subtype 1): its "
			  "driver does not offer the v1 interface; on Linux 5.18 and later use "
			  "backend = vfio-v2",
		    name, k->h.path);
		return err;
	}
	if (err != 0)
		return err;
	if (!k->reg.readable || !k->reg.writable ||
	    k->reg.size <= sizeof(struct vfio_device_migration_info)) {
		log_warnx("device %s: migration region %u (%" PRIu64 " bytes%s%s) cannot hold the "
			  "v1 fields and a data section",
		    name, k->reg.index, k->reg.size, k->reg.readable ? "" : ", not readable",
		    k->reg.writable ? "" : ", not writable");
		return -EPROTO;
	}
	return 0;
}

/* The migration region as the driver's struct mig_region, and the driver
 * attached to it. */
static int
vfio_v1_setup(struct vfio_v1 *k, const char *name)
{
	if (vfio_v1_find_region(k, name) != 0)
		return -1;
	log_info("device %s: v1 migration region %u, %" PRIu64 " bytes at device offset 0x%" PRIx64
		 ", %s, numbered %s",
	    name, k->reg.index, k->reg.size, k->reg.offset,
	    k->reg.sparse ? "sparse mmap areas" : "no mmap areas", k->numbering);
	k->region.ops = &vfio_v1_region_ops;
	k->region.size = k->reg.size;
	k->region.priv = k;
	return v1_attach(&k->v1, &k->region, name) != 0 ? -1 : 0;
}

static void
vfio_v1_ready(struct mig_device *dev, struct vfio_v1 *k, const struct device_ops *ops)
{
	dev->backend = "vfio-v1";
	dev->ops = ops;
	dev->priv = k;
	vfio_identity(&k->h, "vfio-v1", dev->identity, sizeof(dev->identity), dev->compat,
	    sizeof(dev->compat));
	/* v1 tells pending_bytes only while saving: the size is unknown. */
	dev->state_size = 0;
}

int
vfio_v1_backend_open(struct mig_device *dev, const struct mig_device_config *dc)
{
	struct vfio_v1 *k = xcalloc(1, sizeof(*k));

	k->type1.fd = -1;
	if (vfio_open(&k->h, dev->name, dc->path) != 0) {
		free(k);
		return -1;
	}
	if (vfio_v1_setup(k, dev->name) != 0)
		goto fail;
	/* A device left mid-migration (by a daemon that died) starts over. */
	if (k->v1.state != VFIO_DEVICE_STATE_RUNNING) {
		log_warnx("device %s: found %s, not running; bringing it back", dev->name,
		    v1_state_name(k->v1.state));
		if (v1_rollback(&k->v1) != 0)
			goto fail;
	}
	vfio_v1_ready(dev, k, &vfio_v1_ops);
	return 0;
fail:
	vfio_v1_free(k);
	return -1;
}

/* The guest's ranges and page size: the page space ends with the last
 * range; logged only through a container. -EDOM: page_size is not a
 * multiple of the container's page. */
static int
vfio_v1_set_ranges(struct mig_device *dev, struct vfio_v1 *k, const struct mig_iova_range *ranges,
    size_t nranges, uint32_t page_size)
{
	struct vfio_type1_range r[MIG_IOVA_RANGES_MAX] = {{0, 0}};
	size_t i;

	if (nranges > MIG_IOVA_RANGES_MAX)
		return -E2BIG;
	for (i = 0; i < nranges; i++)
		r[i] = (struct vfio_type1_range){ranges[i].start, ranges[i].length};
	if (k->type1.fd >= 0 && vfio_type1_set_ranges(&k->type1, r, nranges, page_size) != 0)
		return -EDOM;
	memcpy(k->ranges, ranges, nranges * sizeof(*ranges));
	k->nranges = nranges;
	device_set_guest_layout(dev, ranges, nranges, page_size, k->type1.fd >= 0);
	return 0;
}

int
vfio_v1_backend_set_iova(struct mig_device *dev, const struct mig_iova_range *ranges,
    size_t nranges, uint32_t page_size)
{
	struct vfio_v1 *k;

	/* The hand-over's set-iova names any device not vfio-v2 this way. */
	if (strcmp(dev->backend, "vfio-v1") != 0)
		return -ENOTSUP;
	k = kv1(dev);
	if (k->h.mode != VFIO_MODE_HANDOVER || k->type1.fd < 0)
		return -ENOTSUP;
	return vfio_v1_set_ranges(dev, k, ranges, nranges, page_size);
}

/* The VMM's container, checked by the caller (vfio_type1_check). */
static void
vfio_v1_take_container(struct vfio_v1 *k, int container_fd)
{
	uint64_t sizes, max_bitmap;

	k->type1.fd = -1;
	if (container_fd < 0)
		return;
	sizes = vfio_type1_pgsizes(container_fd, &max_bitmap);
	vfio_type1_init(&k->type1, container_fd, sizes & -sizes, max_bitmap);
	k->h.container_fd = container_fd; /* closed with the device */
}

int
vfio_v1_backend_adopt(struct mig_device *dev, int fd, int container_fd,
    const struct mig_iova_range *ranges, size_t nranges, uint32_t page_size)
{
	struct vfio_v1 *k = xcalloc(1, sizeof(*k));
	int err;

	k->type1.fd = -1;
	if ((err = vfio_adopt(&k->h, dev->name, fd)) != 0) {
		free(k);
		return err;
	}
	vfio_v1_take_container(k, container_fd);
	if ((err = vfio_v1_set_ranges(dev, k, ranges, nranges, page_size)) != 0)
		goto fail;
	err = -EOPNOTSUPP;
	if (vfio_v1_setup(k, dev->name) != 0)
		goto fail;
	k->v1.keep_stopped = 1; /* its VMM's: stopped, it waits for its vCPUs */
	/* The VMM's device: running, or stopped (a destination's, vCPUs not
	 * started), and left as found; in a state of a migration it is not
	 * ours to end. */
	if (k->v1.state != VFIO_DEVICE_STATE_RUNNING && k->v1.state != VFIO_DEVICE_STATE_STOPPED) {
		log_warnx("device %s: handed over in state %s; a VMM hands over a device that is "
			  "running or stopped", dev->name, v1_state_name(k->v1.state));
		err = -EBUSY;
		goto fail;
	}
	vfio_v1_ready(dev, k, &vfio_v1_handed_ops);
	return 0;
fail:
	k->h.device_fd = k->h.container_fd = -1; /* the caller's, on failure */
	vfio_v1_free(k);
	return err;
}
