/*
 * backend_vfio_v2.c: the `vfio-v2` backend, a kernel VFIO device driven
 * through the v2 migration uAPI, and the struct device_ops every v2 device
 * shares (the software one too, backend_sim_v2.c).
 *
 * Two parts:
 *   - struct v2_device over the kernel: VFIO_DEVICE_FEATURE (MIGRATION,
 *     MIG_DEVICE_STATE, MIG_DATA_SIZE, DMA_LOGGING_*), VFIO_MIG_GET_PRECOPY_INFO
 *     on the data fd, VFIO_DEVICE_RESET, and the type1 container's dirty
 *     pages (vfio_type1.c) where the device has no DMA logging: the
 *     daemon's own container, or the VMM's, handed over with the device;
 *   - the daemon's view: device_ops that hand every call to the v2 driver
 *     (v2_driver.c), and the device's migration capabilities in its JSON.
 * All system calls go through vfio_sys; nothing here knows the protocol
 * beyond one ioctl at a time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "device_worker.h"
#include "log.h"
#include "v2_driver.h"
#include "vfio_compat.h"
#include "vfio_open.h"
#include "vfio_sys.h"
#include "vfio_type1.h"
#include "xmalloc.h"

/* v2_fsm.h carries the uAPI's values under its own names. */
#define SAME_STATE(a, b) ((int)(a) == (int)(b))
_Static_assert(SAME_STATE(V2_STATE_ERROR, VFIO_DEVICE_STATE_ERROR), "ERROR");
_Static_assert(SAME_STATE(V2_STATE_STOP, VFIO_DEVICE_STATE_STOP), "STOP");
_Static_assert(SAME_STATE(V2_STATE_RUNNING, VFIO_DEVICE_STATE_RUNNING), "RUNNING");
_Static_assert(SAME_STATE(V2_STATE_STOP_COPY, VFIO_DEVICE_STATE_STOP_COPY), "STOP_COPY");
_Static_assert(SAME_STATE(V2_STATE_RESUMING, VFIO_DEVICE_STATE_RESUMING), "RESUMING");
_Static_assert(SAME_STATE(V2_STATE_RUNNING_P2P, VFIO_DEVICE_STATE_RUNNING_P2P), "RUNNING_P2P");
_Static_assert(SAME_STATE(V2_STATE_PRE_COPY, VFIO_DEVICE_STATE_PRE_COPY), "PRE_COPY");
_Static_assert(SAME_STATE(V2_STATE_PRE_COPY_P2P, VFIO_DEVICE_STATE_PRE_COPY_P2P), "PRE_COPY_P2P");
_Static_assert(V2_MIG_STOP_COPY == VFIO_MIGRATION_STOP_COPY && V2_MIG_P2P == VFIO_MIGRATION_P2P &&
    V2_MIG_PRE_COPY == VFIO_MIGRATION_PRE_COPY, "migration flags");

/* ---- struct v2_device over the kernel ---------------------------------- */

enum vfio_v2_tracking {
	TRACK_NONE,
	TRACK_DEVICE, /* VFIO_DEVICE_FEATURE_DMA_LOGGING_* */
	TRACK_TYPE1,  /* the container's VFIO_IOMMU_DIRTY_PAGES */
};

struct vfio_v2 {
	struct vfio_handle h;
	struct v2_device dev;
	enum vfio_v2_tracking tracking;
	uint64_t type1_pgsizes; /* page sizes the type1 dirty bitmap can use */
	struct vfio_type1 type1; /* TRACK_TYPE1: the container's log */
	/* A handed-over device: the guest's IOVA ranges its DMA is logged
	 * over, instead of [0, guest memory). */
	struct mig_iova_range ranges[MIG_IOVA_RANGES_MAX];
	size_t nranges;
};

/* VFIO_DEVICE_FEATURE with `len` bytes of data in and out. */
static int
vfio_v2_feature(struct vfio_v2 *k, uint32_t flags, void *data, size_t len)
{
	uint64_t buf[8];
	struct vfio_device_feature *f = (struct vfio_device_feature *)buf;

	if (sizeof(*f) + len > sizeof(buf))
		return -EINVAL;
	memset(buf, 0, sizeof(buf));
	f->argsz = (uint32_t)(sizeof(*f) + len);
	f->flags = flags;
	if (len > 0)
		memcpy(f->data, data, len);
	if (vfio_sys->ioctl(k->h.device_fd, VFIO_DEVICE_FEATURE, f) < 0)
		return -errno;
	if (len > 0)
		memcpy(data, f->data, len);
	return 0;
}

static int
vfio_v2_get_flags(struct v2_device *d, uint64_t *flags)
{
	struct vfio_device_feature_migration mig = {0};
	int err;

	err = vfio_v2_feature(d->priv, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION, &mig,
	    sizeof(mig));
	*flags = mig.flags;
	return err;
}

static int
vfio_v2_get_state(struct v2_device *d, uint32_t *state)
{
	struct vfio_device_feature_mig_state st = {0, -1};
	int err;

	err = vfio_v2_feature(d->priv, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
	    &st, sizeof(st));
	*state = st.device_state;
	return err;
}

static int
vfio_v2_set_state(struct v2_device *d, uint32_t state, int *data_fd)
{
	struct vfio_device_feature_mig_state st = {state, -1};
	int err;

	err = vfio_v2_feature(d->priv, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
	    &st, sizeof(st));
	*data_fd = err == 0 ? st.data_fd : -1;
	return err;
}

static int
vfio_v2_precopy_info(struct v2_device *d, int data_fd, uint64_t *initial, uint64_t *dirty)
{
	struct vfio_precopy_info info;

	memset(&info, 0, sizeof(info));
	info.argsz = sizeof(info);
	if (vfio_sys->ioctl(data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info) < 0)
		return -errno;
	*initial = info.initial_bytes;
	*dirty = info.dirty_bytes;
	return 0;
}

static int
vfio_v2_stop_copy_size(struct v2_device *d, uint64_t *bytes)
{
	struct vfio_device_feature_mig_data_size size = {0};
	int err;

	err = vfio_v2_feature(d->priv, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
	    &size, sizeof(size));
	*bytes = size.stop_copy_length;
	return err;
}

static int
vfio_v2_reset(struct v2_device *d)
{
	struct vfio_v2 *k = d->priv;

	return vfio_reset(&k->h);
}

static int
vfio_v2_log_start(struct v2_device *d, uint64_t iova, uint64_t length, uint64_t *page_size)
{
	struct vfio_v2 *k = d->priv;
	struct vfio_device_feature_dma_logging_range range = {iova, length};
	struct vfio_device_feature_dma_logging_range handed[MIG_IOVA_RANGES_MAX];
	struct vfio_device_feature_dma_logging_control ctl;
	size_t i;
	int err;

	switch (k->tracking) {
	case TRACK_DEVICE:
		memset(&ctl, 0, sizeof(ctl));
		ctl.page_size = *page_size;
		ctl.num_ranges = 1;
		ctl.ranges = (uint64_t)(uintptr_t)&range;
		if (k->nranges > 0) {
			/* The guest's layout: the device logs nothing else. */
			for (i = 0; i < k->nranges; i++) {
				handed[i].iova = k->ranges[i].start;
				handed[i].length = k->ranges[i].length;
			}
			ctl.num_ranges = (uint32_t)k->nranges;
			ctl.ranges = (uint64_t)(uintptr_t)handed;
		}
		err = vfio_v2_feature(k, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
		    &ctl, sizeof(ctl));
		if (err == 0)
			*page_size = ctl.page_size;
		return err;
	case TRACK_TYPE1:
		if (!(k->type1_pgsizes & *page_size) && k->nranges == 0)
			return -EINVAL;
		return vfio_type1_start(&k->type1);
	case TRACK_NONE:
		break;
	}
	return -ENOTSUP;
}

static int
vfio_v2_log_report(struct v2_device *d, uint64_t iova, uint64_t length, uint64_t page_size,
    uint64_t *bitmap)
{
	struct vfio_v2 *k = d->priv;
	struct vfio_device_feature_dma_logging_report rep;

	switch (k->tracking) {
	case TRACK_DEVICE:
		rep.iova = iova;
		rep.length = length;
		rep.page_size = page_size;
		rep.bitmap = (uint64_t)(uintptr_t)bitmap;
		return vfio_v2_feature(k, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
		    &rep, sizeof(rep));
	case TRACK_TYPE1:
		return vfio_type1_report(&k->type1, iova, length, page_size, bitmap);
	case TRACK_NONE:
		break;
	}
	return -ENOTSUP;
}

/* A handed-over device logs only the guest's ranges: a window of the page
 * space is asked range by range where they meet it (the device refuses a
 * report outside what it tracks), each OR-ed in at its place. */
int
v2_log_report_ranges(struct v2_device *d, const struct mig_iova_range *ranges, size_t nranges,
    uint64_t iova, uint64_t length, uint64_t page_size, uint64_t *bitmap,
    int (*report)(struct v2_device *, uint64_t, uint64_t, uint64_t, uint64_t *))
{
	uint64_t a, b, n, off, i, *part;
	size_t r;
	int err;

	for (r = 0; r < nranges; r++) {
		a = ranges[r].start > iova ? ranges[r].start : iova;
		b = ranges[r].start + ranges[r].length;
		if (b > iova + length)
			b = iova + length;
		if (a >= b)
			continue;
		n = (b - a) / page_size;
		part = xcalloc((size_t)((n + 63) / 64), sizeof(uint64_t));
		if ((err = report(d, a, b - a, page_size, part)) != 0) {
			free(part);
			return err;
		}
		off = (a - iova) / page_size;
		for (i = 0; i < n; i++)
			if ((part[i / 64] >> (i % 64)) & 1)
				bitmap[(off + i) / 64] |= 1ull << ((off + i) % 64);
		free(part);
	}
	return 0;
}

/* The device ops' report: a handed-over device's through its ranges. */
static int
vfio_v2_log_report_op(struct v2_device *d, uint64_t iova, uint64_t length, uint64_t page_size,
    uint64_t *bitmap)
{
	struct vfio_v2 *k = d->priv;

	/* A container's report may not cut a DMA mapping: whole ranges. */
	if (k->nranges > 0 && k->tracking == TRACK_TYPE1)
		return page_size == k->type1.page_size
		    ? vfio_type1_report_ranges(&k->type1, iova, length, bitmap)
		    : -EINVAL;
	if (k->nranges > 0)
		return v2_log_report_ranges(d, k->ranges, k->nranges, iova, length, page_size,
		    bitmap, vfio_v2_log_report);
	return vfio_v2_log_report(d, iova, length, page_size, bitmap);
}

static int
vfio_v2_log_stop(struct v2_device *d)
{
	struct vfio_v2 *k = d->priv;

	switch (k->tracking) {
	case TRACK_DEVICE:
		return vfio_v2_feature(k, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
		    NULL, 0);
	case TRACK_TYPE1:
		return vfio_type1_stop(&k->type1);
	case TRACK_NONE:
		break;
	}
	return -ENOTSUP;
}

static const struct v2_device_ops vfio_v2_ops = {
	.get_flags = vfio_v2_get_flags,
	.get_state = vfio_v2_get_state,
	.set_state = vfio_v2_set_state,
	.precopy_info = vfio_v2_precopy_info,
	.stop_copy_size = vfio_v2_stop_copy_size,
	.reset = vfio_v2_reset,
	.log_start = vfio_v2_log_start,
	.log_report = vfio_v2_log_report_op,
	.log_stop = vfio_v2_log_stop,
};

/* How this device's DMA can be tracked: the device itself, else the type1
 * container it sits in (the daemon's, or the one its VMM handed over),
 * else not at all. */
static void
vfio_v2_probe_tracking(struct vfio_v2 *k)
{
	uint64_t max_bitmap;

	k->tracking = TRACK_NONE;
	k->dev.dirty_tracking = NULL;
	if (vfio_v2_feature(k, VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
	    VFIO_DEVICE_FEATURE_DMA_LOGGING_START, NULL, 0) == 0) {
		k->tracking = TRACK_DEVICE;
		k->dev.dirty_tracking = "device DMA logging";
	} else if (k->h.container_fd >= 0 &&
	    (k->type1_pgsizes = vfio_type1_pgsizes(k->h.container_fd, &max_bitmap)) != 0) {
		k->tracking = TRACK_TYPE1;
		k->dev.dirty_tracking = k->h.mode == VFIO_MODE_HANDOVER
		    ? "type1 IOMMU dirty pages (the VMM's container)"
		    : "type1 IOMMU dirty pages";
		vfio_type1_init(&k->type1, k->h.container_fd, k->type1_pgsizes & -k->type1_pgsizes,
		    max_bitmap);
	}
}

static void
vfio_v2_close(void *arg)
{
	struct vfio_v2 *k = arg;

	vfio_type1_clear(&k->type1);
	vfio_close(&k->h);
	free(k);
}

json_t *
v2_ranges_json(const struct mig_iova_range *ranges, size_t nranges)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < nranges; i++)
		json_array_append_new(arr, json_pack("{s:I, s:I}", "start",
		    (json_int_t)ranges[i].start, "length", (json_int_t)ranges[i].length));
	return arr;
}

static void
vfio_v2_describe(void *arg, json_t *obj)
{
	struct vfio_v2 *k = arg;

	json_object_set_new(obj, "path", json_string(k->h.path));
	json_object_set_new(obj, "opened_as", json_string(vfio_mode_name(&k->h)));
	json_object_set_new(obj, "pci_address",
	    k->h.pci[0] != '\0' ? json_string(k->h.pci) : json_null());
	json_object_set_new(obj, "driver",
	    k->h.driver[0] != '\0' ? json_string(k->h.driver) : json_null());
	if (k->h.mode == VFIO_MODE_HANDOVER)
		json_object_set_new(obj, "iova", v2_ranges_json(k->ranges, k->nranges));
}

int
vfio_v2_backend_open(struct mig_device *dev, const struct mig_device_config *dc)
{
	struct vfio_v2 *k = xcalloc(1, sizeof(*k));
	struct v2_backend_impl impl = {k, vfio_v2_close, vfio_v2_describe, 0, NULL, NULL};

	if (vfio_open(&k->h, dev->name, dc->path) != 0) {
		free(k);
		return -1;
	}
	k->dev.ops = &vfio_v2_ops;
	k->dev.priv = k;
	vfio_v2_probe_tracking(k);
	if (v2_backend_attach(dev, &k->dev, &impl) != 0) {
		vfio_v2_close(k);
		return -1;
	}
	dev->backend = "vfio-v2";
	vfio_identity(&k->h, "vfio-v2", dev->identity, sizeof(dev->identity), dev->compat,
	    sizeof(dev->compat));
	return 0;
}

/* The ranges become the device's page space: pages [0, end of the last
 * range) of page_size bytes, of which only the ranges are logged. -EDOM:
 * page_size is not a multiple of the container's page (nothing changed). */
static int
vfio_v2_set_ranges(struct mig_device *dev, struct vfio_v2 *k, const struct mig_iova_range *ranges,
    size_t nranges, uint32_t page_size)
{
	struct vfio_type1_range r[MIG_IOVA_RANGES_MAX] = {{0, 0}};
	size_t i;

	if (k->tracking == TRACK_TYPE1 && k->h.mode == VFIO_MODE_HANDOVER) {
		for (i = 0; i < nranges; i++)
			r[i] = (struct vfio_type1_range){ranges[i].start, ranges[i].length};
		if (vfio_type1_set_ranges(&k->type1, r, nranges, page_size) != 0)
			return -EDOM;
	}
	memcpy(k->ranges, ranges, nranges * sizeof(*ranges));
	k->nranges = nranges;
	device_set_guest_layout(dev, ranges, nranges, page_size, k->tracking != TRACK_NONE);
	return 0;
}

int
vfio_v2_backend_adopt(struct mig_device *dev, int fd, int container_fd,
    const struct mig_iova_range *ranges, size_t nranges, uint32_t page_size)
{
	struct vfio_v2 *k = xcalloc(1, sizeof(*k));
	struct v2_backend_impl impl = {k, vfio_v2_close, vfio_v2_describe, 1, NULL, NULL};
	int err;

	if (nranges > MIG_IOVA_RANGES_MAX) {
		free(k);
		return -E2BIG;
	}
	if ((err = vfio_adopt(&k->h, dev->name, fd)) != 0) {
		free(k);
		return err;
	}
	k->h.container_fd = container_fd;
	k->dev.ops = &vfio_v2_ops;
	k->dev.priv = k;
	vfio_v2_probe_tracking(k);
	if ((err = vfio_v2_set_ranges(dev, k, ranges, nranges, page_size)) != 0 ||
	    (err = v2_backend_attach(dev, &k->dev, &impl)) != 0) {
		k->h.device_fd = k->h.container_fd = -1; /* the caller's, on failure */
		vfio_v2_close(k);
		/* A VFIO device without v2 migration (logged by v2_attach). */
		return err == -EBUSY || err == -EDOM ? err : -EOPNOTSUPP;
	}
	dev->backend = "vfio-v2";
	vfio_identity(&k->h, "vfio-v2", dev->identity, sizeof(dev->identity), dev->compat,
	    sizeof(dev->compat));
	return 0;
}

/* ---- The daemon's view of any v2 device -------------------------------- */

struct v2_backend {
	struct v2_dev drv;
	struct v2_backend_impl impl;
	/* v2_backend_ops, less initial_pending for a device without PRE_COPY
	 * (it has no initial data: the engines must not wait for any). */
	struct device_ops ops;
	/* MIG_DATA_SIZE as the API last read it (UINT64_MAX: none yet), for
	 * when the device's thread holds the device. Loop only. */
	uint64_t api_stop_copy_size;
	/* Connected again (impl.revive), the driver not yet read afresh. */
	int reattach;
};

static struct v2_dev *
v2b(struct mig_device *dev)
{
	return &((struct v2_backend *)dev->priv)->drv;
}

/* A device whose connection broke (and was made again, impl.revive) is
 * read afresh before a new migration: what the driver held was the old
 * connection's. Its migration flags must be those it was opened with (the
 * engines planned with them). */
static int
v2b_revive(struct mig_device *dev)
{
	struct v2_backend *b = dev->priv;
	struct v2_dev fresh;
	int err;

	if (b->impl.revive != NULL) {
		if ((err = b->impl.revive(b->impl.arg)) < 0)
			return err;
		if (err > 0)
			b->reattach = 1;
	}
	if (!b->reattach)
		return 0;
	/* Read into a struct of its own, taken whole once right: the API
	 * reads the driver's figures meanwhile (v2b_describe). */
	if ((err = v2_attach(&fresh, b->drv.device, dev->name)) != 0)
		return err;
	if ((fresh.flags ^ b->drv.flags) & (V2_MIG_PRE_COPY | V2_MIG_P2P)) {
		log_warnx("device %s: connected again, but it now offers other migration states "
			  "than when the daemon opened it; restart the daemon to take them",
		    dev->name);
		return -EPROTO;
	}
	b->drv.logging = 0; /* the old connection's log: nothing to stop */
	v2_detach(&b->drv);
	fresh.keep_stopped = b->impl.adopted;
	b->drv = fresh;
	b->reattach = 0;
	if (b->drv.state != V2_STATE_RUNNING && !b->impl.adopted) {
		log_warnx("device %s: found %s after connecting again; bringing it back",
		    dev->name, v2_state_name(b->drv.state));
		return v2_rollback(&b->drv);
	}
	return 0;
}

static int
v2b_save_begin(struct mig_device *dev, int precopy)
{
	int err;

	device_check_thread(dev, "save_begin");
	if ((err = v2b_revive(dev)) != 0)
		return err;
	/* The device's DMA into guest memory is tracked from before its
	 * first byte of state is read. */
	if (dev->guest_memory_size > 0 &&
	    (err = v2_log_begin(v2b(dev), dev->guest_memory_size / dev->guest_page_size,
	    dev->guest_page_size)) != 0)
		return err;
	if ((err = v2_start_save(v2b(dev), precopy)) != 0)
		v2_log_end(v2b(dev));
	return err;
}

static int
v2b_save_stop(struct mig_device *dev)
{
	device_check_thread(dev, "save_stop");
	return v2_start_stopcopy(v2b(dev));
}

static int
v2b_pending(struct mig_device *dev, uint64_t *bytes)
{
	device_check_thread(dev, "pending");
	return v2_pending(v2b(dev), bytes);
}

static int
v2b_initial_pending(struct mig_device *dev, uint64_t *bytes)
{
	device_check_thread(dev, "initial_pending");
	return v2_initial_pending(v2b(dev), bytes);
}

static int
v2b_stop_copy_size(struct mig_device *dev, uint64_t *bytes)
{
	device_check_thread(dev, "stop_copy_size");
	return v2_stop_copy_size(v2b(dev), bytes);
}

static int
v2b_save_next(struct mig_device *dev, uint64_t *size)
{
	device_check_thread(dev, "save_next");
	return v2_save_next(v2b(dev), size);
}

static int
v2b_save_read(struct mig_device *dev, uint64_t off, void *buf, size_t len)
{
	return v2_save_read(v2b(dev), off, buf, len);
}

static const uint8_t *
v2b_save_mapped(struct mig_device *dev)
{
	return v2_save_buffer(v2b(dev));
}

static int
v2b_save_end(struct mig_device *dev)
{
	device_check_thread(dev, "save_end");
	return v2_finish_save(v2b(dev));
}

static int
v2b_rollback(struct mig_device *dev)
{
	device_check_thread(dev, "rollback");
	return v2_rollback(v2b(dev));
}

static int
v2b_resume_begin(struct mig_device *dev)
{
	int err;

	device_check_thread(dev, "resume_begin");
	if ((err = v2b_revive(dev)) != 0)
		return err;
	return v2_start_resume(v2b(dev));
}

static int
v2b_resume_write(struct mig_device *dev, const void *buf, size_t len)
{
	device_check_thread(dev, "resume_write");
	return v2_resume_write(v2b(dev), buf, len);
}

/* The v2 stream has no records: a record's end means nothing to the device. */
static int
v2b_resume_commit(struct mig_device *dev)
{
	device_check_thread(dev, "resume_commit");
	return 0;
}

static int
v2b_resume_end(struct mig_device *dev)
{
	device_check_thread(dev, "resume_end");
	return v2_finish_resume(v2b(dev));
}

static int
v2b_resume_stop(struct mig_device *dev)
{
	device_check_thread(dev, "resume_stop");
	return v2_set_state(v2b(dev), V2_STATE_STOP);
}

/* PRE_COPY -> PRE_COPY_P2P, or RUNNING -> RUNNING_P2P for a device that
 * waits for stop-copy in RUNNING (no PRE_COPY). */
static int
v2b_quiesce(struct mig_device *dev)
{
	struct v2_dev *drv = v2b(dev);

	device_check_thread(dev, "quiesce");
	if (!(drv->flags & V2_MIG_P2P))
		return -EOPNOTSUPP;
	/* A device its VMM handed over stopped stays so (keep_stopped): it
	 * starts no DMA already, and must not run. */
	if (drv->state != V2_STATE_PRE_COPY && drv->state != V2_STATE_RUNNING)
		return 0;
	return v2_set_state(drv, drv->state == V2_STATE_PRE_COPY ? V2_STATE_PRE_COPY_P2P
								 : V2_STATE_RUNNING_P2P);
}

static int
v2b_resume_p2p(struct mig_device *dev)
{
	device_check_thread(dev, "resume_p2p");
	if (!(v2b(dev)->flags & V2_MIG_P2P))
		return -EOPNOTSUPP;
	return v2_set_state(v2b(dev), V2_STATE_RUNNING_P2P);
}

static int
v2b_reset(struct mig_device *dev)
{
	device_check_thread(dev, "reset");
	return v2_reset(v2b(dev));
}

static int
v2b_dirty_bitmap(struct mig_device *dev, uint64_t start_pfn, uint64_t npages, uint8_t *bitmap,
    uint64_t *dirty)
{
	device_check_thread(dev, "dirty_bitmap");
	return v2_dirty_bitmap(v2b(dev), start_pfn, npages, bitmap, dirty);
}

static const char *
v2b_state_name(struct mig_device *dev)
{
	return v2_state_name(v2b(dev)->state);
}

static void
v2b_close(struct mig_device *dev)
{
	struct v2_backend *b = dev->priv;

	v2_detach(&b->drv);
	b->impl.close(b->impl.arg);
	free(b);
}

static json_t *
v2b_describe(struct mig_device *dev)
{
	struct v2_backend *b = dev->priv;
	struct v2_dev *drv = &b->drv;
	const char *tracking = drv->device->dirty_tracking;
	json_t *obj, *flags = json_array();
	uint64_t size;

	if (drv->flags & V2_MIG_STOP_COPY)
		json_array_append_new(flags, json_string("stop-copy"));
	if (drv->flags & V2_MIG_P2P)
		json_array_append_new(flags, json_string("p2p"));
	if (drv->flags & V2_MIG_PRE_COPY)
		json_array_append_new(flags, json_string("pre-copy"));
	obj = json_pack("{s:s, s:o, s:{s:b, s:b, s:b, s:b, s:b}, s:s?}", "interface",
	    "vfio v2 (VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE)", "migration_flags", flags,
	    "capabilities", "precopy", (drv->flags & V2_MIG_PRE_COPY) != 0, "stopcopy", 1, "p2p",
	    (drv->flags & V2_MIG_P2P) != 0, "dirty_tracking", tracking != NULL, "page_contents",
	    dev->guest_memory != NULL, "dirty_tracking_by", tracking);
	/* Asked only while the device's thread is idle: a state change in
	 * progress holds the driver's lock (mlx5 loads the whole image in
	 * RESUMING -> STOP), and the API must not wait for it. Busy: the
	 * figure the API read last. */
	size = b->api_stop_copy_size;
	if (device_worker_trylock(dev->worker) == 0) {
		if (drv->device->remote)
			size = drv->has_stop_copy_size ? drv->stop_copy_estimate : UINT64_MAX;
		else if (drv->device->ops->stop_copy_size(drv->device, &size) != 0)
			size = UINT64_MAX;
		device_worker_unlock(dev->worker);
		b->api_stop_copy_size = size;
	}
	json_object_set_new(obj, "stop_copy_size",
	    size != UINT64_MAX ? json_integer((json_int_t)size) : json_null());
	if (b->impl.describe != NULL)
		b->impl.describe(b->impl.arg, obj);
	return obj;
}

static int
v2b_error_code(struct mig_device *dev)
{
	struct v2_backend *b = dev->priv;

	return b->impl.error_code(b->impl.arg);
}

static const struct device_ops v2_backend_ops = {
	.save_begin = v2b_save_begin,
	.save_stop = v2b_save_stop,
	.pending = v2b_pending,
	.initial_pending = v2b_initial_pending,
	.stop_copy_size = v2b_stop_copy_size,
	.save_next = v2b_save_next,
	.save_read = v2b_save_read,
	.save_mapped = v2b_save_mapped,
	.save_end = v2b_save_end,
	.rollback = v2b_rollback,
	.quiesce = v2b_quiesce,
	.resume_begin = v2b_resume_begin,
	.resume_write = v2b_resume_write,
	.resume_commit = v2b_resume_commit,
	.resume_end = v2b_resume_end,
	.resume_stop = v2b_resume_stop,
	.resume_p2p = v2b_resume_p2p,
	.reset = v2b_reset,
	.dirty_bitmap = v2b_dirty_bitmap,
	.state_name = v2b_state_name,
	.close = v2b_close,
	.describe = v2b_describe,
};

int
v2_backend_attach(struct mig_device *dev, struct v2_device *device,
    const struct v2_backend_impl *impl)
{
	struct v2_backend *b = xcalloc(1, sizeof(*b));
	int err;

	b->api_stop_copy_size = UINT64_MAX;
	if ((err = v2_attach(&b->drv, device, dev->name)) != 0) {
		free(b);
		return err;
	}
	/* Stopped, a VMM's device waits for its vCPUs: not run for a save. */
	b->drv.keep_stopped = impl->adopted;
	/* A handed-over device is its VMM's: found running or stopped (a
	 * destination's VMM has not started its vCPUs), never changed here;
	 * one in a session is the VMM's own migration. */
	if (impl->adopted && b->drv.state != V2_STATE_RUNNING && b->drv.state != V2_STATE_STOP) {
		log_warnx("device %s: handed over in state %s; a VMM hands over a device that "
			  "is running or stopped", dev->name, v2_state_name(b->drv.state));
		free(b);
		return -EBUSY;
	}
	/* A device left mid-migration (by a daemon that died) starts over. */
	if (!impl->adopted && b->drv.state != V2_STATE_RUNNING) {
		log_warnx("device %s: found %s, not running; bringing it back", dev->name,
		    v2_state_name(b->drv.state));
		if ((err = v2_rollback(&b->drv)) != 0) {
			free(b);
			return err;
		}
	}
	b->impl = *impl;
	b->ops = v2_backend_ops;
	if (!(b->drv.flags & V2_MIG_PRE_COPY))
		b->ops.initial_pending = NULL;
	if (impl->error_code != NULL)
		b->ops.error_code = v2b_error_code;
	if (!(b->drv.flags & V2_MIG_P2P)) {
		b->ops.quiesce = NULL;
		b->ops.resume_p2p = NULL;
	}
	dev->p2p = (b->drv.flags & V2_MIG_P2P) != 0;
	dev->ops = &b->ops;
	dev->priv = b;
	dev->state_size = b->drv.stop_copy_estimate;
	return 0;
}

int
vfio_v2_backend_set_iova(struct mig_device *dev, const struct mig_iova_range *ranges,
    size_t nranges, uint32_t page_size)
{
	struct v2_backend *b = dev->priv;
	struct vfio_v2 *k;

	if (!b->impl.adopted || nranges > MIG_IOVA_RANGES_MAX)
		return -EINVAL;
	k = b->impl.arg;
	return vfio_v2_set_ranges(dev, k, ranges, nranges, page_size);
}
