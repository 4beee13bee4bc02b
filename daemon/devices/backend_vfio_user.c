/*
 * backend_vfio_user.c: the `vfio-user` backend, a device that a userspace
 * device server emulates (libvfio-user, SPDK's vfio-user NVMe controller),
 * migrated over the server's UNIX socket.
 *
 * It is struct v2_device over the vfio-user client (vfio_user.c), so the
 * v2 driver, its planner and the device_ops every v2 device shares
 * (backend_vfio_v2.c) drive it unchanged: DEVICE_FEATURE MIGRATION and
 * MIG_DEVICE_STATE for the FSM, MIG_DATA_READ / MIG_DATA_WRITE as the
 * driver's data_read / data_write instead of a data fd, MIG_DATA_SIZE and
 * DMA_LOGGING_* where the server offers them, DEVICE_RESET.
 *
 * vfio-user has no P2P states (the flags it reports are masked) and no
 * PRECOPY_INFO: unless the server offers our extension of it
 * (VFU_FEATURE_MIG_PRECOPY_INFO), pre-copy's pending bytes are this
 * backend's estimate (a read piece while the server's last reply came back
 * full, 0 once it came back short), and its initial data counts as read at
 * the first short reply (the driver's "temporary end of stream"). Every call runs on the
 * device's thread; a fault of the connection names its error code
 * (vfio-user-protocol, -hung-up, -timeout) through the device's
 * error_code.
 *
 * A socket handed over with the guest's IOVA ranges has its DMA logged
 * over exactly those (DMA_LOGGING_START with all of them, a REPORT per
 * range a window meets, STOP), like a kernel device handed over with them;
 * a server without DMA logging is not taken with ranges.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "log.h"
#include "v2_driver.h"
#include "vfio_user.h"
#include "xmalloc.h"

struct vfio_user {
	struct vfu_client c;
	struct v2_device dev;
	char *path; /* the server's socket, or "handed over" */
	uint32_t info_flags, num_regions, num_irqs;
	int has_data_size;     /* MIG_DATA_SIZE answered at attach */
	int has_logging;       /* DMA_LOGGING_START probed */
	int has_precopy_info;  /* the PRECOPY_INFO extension probed */
	int negotiated_by_vmm; /* handed over after the VMM's VERSION */
	uint32_t write_max_cfg; /* [device] vfio_user_write_max (0: default) */
	int adopted;	       /* handed over by its VMM */
	/* Handed over with the guest's ranges: what its DMA is logged over. */
	struct mig_iova_range ranges[MIG_IOVA_RANGES_MAX];
	size_t nranges;
	/* The session's reads: the last reply came back short and the
	 * driver has not been told (its next read returns 0); the server may
	 * have more (its last reply was full, or none was asked yet). */
	int short_pending;
	int more;
	uint32_t state; /* as last set or read */
};

struct vfu_mig_state {
	uint32_t device_state;
	int32_t data_fd;
};

static int
vfio_user_get_flags(struct v2_device *d, uint64_t *flags)
{
	struct vfio_user *u = d->priv;
	int err;

	*flags = 0;
	err = vfu_feature(&u->c, VFU_FEATURE_GET | VFU_FEATURE_MIGRATION, NULL, 0, flags,
	    sizeof(*flags));
	if (err == 0 && (*flags & V2_MIG_P2P)) {
		log_info("device %s: the server reports P2P, which vfio-user does not have; the "
			 "device is migrated without its P2P states",
		    u->c.name);
		*flags &= ~(uint64_t)V2_MIG_P2P;
	}
	return err;
}

static int
vfio_user_get_state(struct v2_device *d, uint32_t *state)
{
	struct vfio_user *u = d->priv;
	struct vfu_mig_state st = {0, -1};
	int err;

	err = vfu_feature(&u->c, VFU_FEATURE_GET | VFU_FEATURE_MIG_DEVICE_STATE, NULL, 0, &st,
	    sizeof(st));
	*state = st.device_state;
	if (err == 0)
		u->state = st.device_state;
	return err;
}

static int
vfio_user_set_state(struct v2_device *d, uint32_t state, int *data_fd)
{
	struct vfio_user *u = d->priv;
	struct vfu_mig_state st = {state, -1};
	int err;

	*data_fd = -1;
	if ((err = vfu_feature(&u->c, VFU_FEATURE_SET | VFU_FEATURE_MIG_DEVICE_STATE, &st,
		 sizeof(st), NULL, 0)) != 0)
		return err;
	if (!v2_state_is_saving(u->state) && v2_state_is_saving(state)) {
		u->short_pending = 0;
		u->more = 1;
	}
	u->state = state;
	return 0;
}

static int
vfio_user_precopy_info(struct v2_device *d, int data_fd, uint64_t *initial, uint64_t *dirty)
{
	struct vfio_user *u = d->priv;

	uint64_t info[2] = {0, 0};
	int err;

	(void)data_fd;
	if (u->has_precopy_info) {
		err = vfu_feature(&u->c, VFU_FEATURE_GET | VFU_FEATURE_MIG_PRECOPY_INFO, NULL, 0,
		    info, sizeof(info));
		*initial = info[0];
		*dirty = info[1];
		return err;
	}
	*initial = 0;
	*dirty = u->more ? u->c.max_data_xfer : 0;
	return 0;
}

static int
vfio_user_stop_copy_size(struct v2_device *d, uint64_t *bytes)
{
	struct vfio_user *u = d->priv;

	*bytes = 0;
	if (!u->has_data_size)
		return -ENOTTY;
	return vfu_feature(&u->c, VFU_FEATURE_GET | VFU_FEATURE_MIG_DATA_SIZE, NULL, 0, bytes,
	    sizeof(*bytes));
}

static int
vfio_user_reset(struct v2_device *d)
{
	struct vfio_user *u = d->priv;

	if (!(u->info_flags & VFU_DEVICE_FLAGS_RESET))
		return -ENOTSUP;
	return vfu_reset(&u->c);
}

struct vfu_log_control {
	uint64_t page_size;
	uint32_t num_ranges, reserved;
	struct {
		uint64_t iova, length;
	} ranges[MIG_IOVA_RANGES_MAX];
};

/* [iova, iova + length), or the handed-over ranges when there are. */
static int
vfio_user_log_start(struct v2_device *d, uint64_t iova, uint64_t length, uint64_t *page_size)
{
	struct vfio_user *u = d->priv;
	struct vfu_log_control ctl;
	size_t i, len;
	int err;

	if (!u->has_logging)
		return -ENOTSUP;
	memset(&ctl, 0, sizeof(ctl));
	ctl.page_size = *page_size;
	ctl.num_ranges = 1;
	ctl.ranges[0].iova = iova;
	ctl.ranges[0].length = length;
	if (u->nranges > 0) {
		/* The guest's layout: the server logs nothing else. */
		for (i = 0; i < u->nranges; i++) {
			ctl.ranges[i].iova = u->ranges[i].start;
			ctl.ranges[i].length = u->ranges[i].length;
		}
		ctl.num_ranges = (uint32_t)u->nranges;
	}
	len = offsetof(struct vfu_log_control, ranges) + ctl.num_ranges * sizeof(ctl.ranges[0]);
	/* The reply echoes the request, with the page size the server chose. */
	err = vfu_feature(&u->c, VFU_FEATURE_SET | VFU_FEATURE_DMA_LOGGING_START, &ctl, len, &ctl,
	    len);
	if (err != 0)
		return err;
	if (ctl.page_size == 0 || (ctl.page_size & (ctl.page_size - 1)) != 0) {
		log_warnx("device %s: the server logs DMA in pages of %" PRIu64 " bytes, not a "
			  "power of two",
		    u->c.name, ctl.page_size);
		vfu_feature(&u->c, VFU_FEATURE_SET | VFU_FEATURE_DMA_LOGGING_STOP, NULL, 0, NULL,
		    0);
		return -EBADMSG;
	}
	*page_size = ctl.page_size;
	return 0;
}

static int
vfio_user_log_report_one(struct v2_device *d, uint64_t iova, uint64_t length, uint64_t page_size,
    uint64_t *bitmap)
{
	struct vfio_user *u = d->priv;

	return vfu_log_report(&u->c, iova, length, page_size, bitmap);
}

static int
vfio_user_log_report(struct v2_device *d, uint64_t iova, uint64_t length, uint64_t page_size,
    uint64_t *bitmap)
{
	struct vfio_user *u = d->priv;

	if (u->nranges > 0)
		return v2_log_report_ranges(d, u->ranges, u->nranges, iova, length, page_size,
		    bitmap, vfio_user_log_report_one);
	return vfio_user_log_report_one(d, iova, length, page_size, bitmap);
}

static int
vfio_user_log_stop(struct v2_device *d)
{
	struct vfio_user *u = d->priv;

	return vfu_feature(&u->c, VFU_FEATURE_SET | VFU_FEATURE_DMA_LOGGING_STOP, NULL, 0, NULL, 0);
}

/* read() over MIG_DATA_READ: pieces of max_data_xfer until len or a short
 * reply; after a short reply the next call says 0 without asking. */
static ssize_t
vfio_user_data_read(struct v2_device *d, void *buf, size_t len)
{
	struct vfio_user *u = d->priv;
	uint8_t *p = buf;
	size_t total = 0;
	uint32_t piece, got;
	int err;

	if (u->short_pending) {
		u->short_pending = 0;
		return 0;
	}
	while (total < len) {
		piece = len - total > u->c.max_data_xfer ? u->c.max_data_xfer
							 : (uint32_t)(len - total);
		if ((err = vfu_mig_read(&u->c, p + total, piece, &got)) != 0)
			return total > 0 && err == -EAGAIN ? (ssize_t)total : err;
		total += got;
		u->more = got == piece;
		if (got < piece) {
			u->short_pending = total > 0;
			break;
		}
	}
	return (ssize_t)total;
}

static int
vfio_user_data_write(struct v2_device *d, const void *buf, size_t len)
{
	struct vfio_user *u = d->priv;

	return vfu_mig_write(&u->c, buf, len);
}

static const struct v2_device_ops vfio_user_ops = {
    .get_flags = vfio_user_get_flags,
    .get_state = vfio_user_get_state,
    .set_state = vfio_user_set_state,
    .precopy_info = vfio_user_precopy_info,
    .stop_copy_size = vfio_user_stop_copy_size,
    .reset = vfio_user_reset,
    .log_start = vfio_user_log_start,
    .log_report = vfio_user_log_report,
    .log_stop = vfio_user_log_stop,
    .data_read = vfio_user_data_read,
    .data_write = vfio_user_data_write,
};

static void
vfio_user_close(void *arg)
{
	struct vfio_user *u = arg;

	vfu_close(&u->c);
	free(u->path);
	free(u);
}

static int
vfio_user_error_code(void *arg)
{
	struct vfio_user *u = arg;

	return vfu_fault_code(&u->c);
}

static void
vfio_user_describe(void *arg, json_t *obj)
{
	struct vfio_user *u = arg;

	json_object_set_new(obj, "interface", json_string("vfio-user (VFIO_USER_DEVICE_FEATURE)"));
	json_object_set_new(obj, "path", json_string(u->path));
	json_object_set_new(obj, "vfio_user",
	    json_pack("{s:o, s:I, s:I, s:I, s:b}", "version",
		json_sprintf("%u.%u", u->c.major, u->c.minor), "max_data_xfer_size",
		(json_int_t)u->c.max_data_xfer, "write_max", (json_int_t)u->c.write_max,
		"timeout_ms", (json_int_t)u->c.timeout_ms, "connected", vfu_connected(&u->c)));
	if (u->adopted)
		json_object_set_new(obj, "iova", v2_ranges_json(u->ranges, u->nranges));
}

/* VERSION, DEVICE_GET_INFO, what the migration features offer. */
static int
vfio_user_probe(struct vfio_user *u)
{
	uint64_t bytes;
	int err;

	if (!u->negotiated_by_vmm && (err = vfu_negotiate(&u->c)) != 0) {
		log_warnx("device %s: vfio-user VERSION (%s): %s", u->c.name, u->path,
		    strerror(-err));
		return err;
	}
	if ((err = vfu_device_info(&u->c, &u->info_flags, &u->num_regions, &u->num_irqs)) != 0) {
		log_warnx("device %s: vfio-user DEVICE_GET_INFO: %s", u->c.name, strerror(-err));
		return err;
	}
	u->has_data_size = 1;
	if (vfu_feature(&u->c, VFU_FEATURE_GET | VFU_FEATURE_MIG_DATA_SIZE, NULL, 0, &bytes,
		sizeof(bytes)) != 0)
		u->has_data_size = 0;
	if (u->c.broken != VFU_FAULT_NONE)
		return -EIO;
	u->has_logging = vfu_feature(&u->c,
			     VFU_FEATURE_PROBE | VFU_FEATURE_SET | VFU_FEATURE_DMA_LOGGING_START,
			     NULL, 0, NULL, 0) == 0;
	if (u->c.broken != VFU_FAULT_NONE)
		return -EIO;
	u->has_precopy_info =
	    vfu_feature(&u->c, VFU_FEATURE_PROBE | VFU_FEATURE_GET | VFU_FEATURE_MIG_PRECOPY_INFO,
		NULL, 0, NULL, 0) == 0;
	if (u->c.broken != VFU_FAULT_NONE)
		return -EIO;
	u->dev.dirty_tracking = u->has_logging ? "vfio-user DMA logging" : NULL;
	log_info("device %s: vfio-user %u.%u (%s): max_data_xfer_size %u, MIG_DATA_WRITE "
		 "pieces of %u, %u regions, %u irqs%s",
	    u->c.name, u->c.major, u->c.minor, u->path, u->c.max_data_xfer, u->c.write_max,
	    u->num_regions, u->num_irqs, u->info_flags & VFU_DEVICE_FLAGS_RESET ? ", reset" : "");
	return 0;
}

/* A configured device whose connection broke connects to its server's
 * socket again before a new migration (the server restarted): VERSION
 * and the probes as at start. A handed-over socket is its VMM's: never.
 * 0: connected all along, 1: connected again, or -errno (the client
 * keeps the fault that names the error code). */
static int
vfio_user_revive(void *arg)
{
	struct vfio_user *u = arg;
	const char *name = u->c.name;
	int timeout_ms = u->c.timeout_ms, fd, err;
	uint32_t flags = u->info_flags, regions = u->num_regions, irqs = u->num_irqs;
	struct vfu_client fresh;

	if (u->adopted)
		return 0;
	(void)vfu_check_idle(&u->c);
	if (vfu_connected(&u->c))
		return 0;
	log_info("device %s: its vfio-user connection was given up (%s); connecting to %s again",
	    name, vfu_fault_name(u->c.broken), u->path);
	if ((fd = vfu_connect_path(u->path)) < 0) {
		log_warnx("device %s: connecting to the vfio-user server at %s: %s", name, u->path,
		    strerror(-fd));
		/* The server is not there: hung up names it, whatever broke
		 * the connection before. */
		vfu_disconnect(&u->c, VFU_FAULT_HUNG_UP);
		return fd;
	}
	/* Made whole before it replaces the old one: the API reads the
	 * client's figures meanwhile (vfio_user_describe). */
	vfu_init(&fresh, fd, name, timeout_ms, u->write_max_cfg);
	vfu_close(&u->c);
	u->c = fresh;
	u->short_pending = 0;
	u->more = 0;
	err = vfio_user_probe(u);
	if (err == 0 && (u->num_regions != regions || u->num_irqs != irqs ||
	    ((u->info_flags ^ flags) & VFU_DEVICE_FLAGS_PCI))) {
		log_warnx("device %s: its vfio-user server at %s came back as another device "
			  "(%u regions, %u irqs; %u and %u before); restart the daemon to take it",
		    name, u->path, u->num_regions, u->num_irqs, regions, irqs);
		u->info_flags = flags;
		u->num_regions = regions;
		u->num_irqs = irqs;
		err = -EPROTO;
	}
	if (err != 0) {
		/* Asked again from the start at the next migration. */
		vfu_disconnect(&u->c, VFU_FAULT_NONE);
		return err;
	}
	return 1;
}

/* The guest's ranges become the device's page space, as a kernel device's
 * (vfio_v2_set_ranges): pages [0, end of the last range) of page_size
 * bytes, of which only the ranges are logged. -ENODATA: the server has no
 * DMA logging. */
static int
vfio_user_set_ranges(struct mig_device *dev, struct vfio_user *u,
    const struct mig_iova_range *ranges, size_t nranges, uint32_t page_size)
{
	if (nranges == 0)
		return 0;
	if (!u->has_logging) {
		log_warnx("device %s: handed over with the guest's IOVA ranges, but its vfio-user "
			  "server offers no DMA logging (DEVICE_FEATURE DMA_LOGGING_START)",
		    u->c.name);
		return -ENODATA;
	}
	memcpy(u->ranges, ranges, nranges * sizeof(*ranges));
	u->nranges = nranges;
	device_set_guest_layout(dev, ranges, nranges, page_size, 1);
	return 0;
}

/* A configured device (dc) or a handed-over socket (dc NULL; adopted,
 * with the guest's ranges if any). Every question to the server, the
 * attach's too, waits timeout_ms: it runs on a thread (at start-up before
 * the loop, or the handed-over device's own), never on the event loop. */
static int
vfio_user_attach(struct mig_device *dev, int fd, const char *path,
    const struct mig_device_config *dc, uint32_t negotiated_xfer, uint32_t timeout_ms,
    const struct mig_iova_range *ranges, size_t nranges, uint32_t page_size)
{
	struct vfio_user *u = xcalloc(1, sizeof(*u));
	int adopted = dc == NULL;
	struct v2_backend_impl impl = {u, vfio_user_close, vfio_user_describe, adopted,
	    vfio_user_error_code, vfio_user_revive};
	int err;

	u->write_max_cfg = dc != NULL ? dc->vfio_user_write_max : 0;
	vfu_init(&u->c, fd, dev->name, (int)timeout_ms, u->write_max_cfg);
	u->path = xstrdup(path);
	u->dev.ops = &vfio_user_ops;
	u->dev.priv = u;
	u->dev.remote = 1;
	u->negotiated_by_vmm = negotiated_xfer != 0;
	u->adopted = adopted;
	if (negotiated_xfer != 0)
		vfu_assume_negotiated(&u->c, negotiated_xfer);
	err = vfio_user_probe(u);
	if (err == 0)
		err = vfio_user_set_ranges(dev, u, ranges, nranges, page_size);
	if (err == 0)
		err = v2_backend_attach(dev, &u->dev, &impl);
	if (err != 0) {
		if (adopted)
			vfu_release(&u->c); /* the caller's, on failure */
		vfio_user_close(u);
		return err;
	}
	dev->backend = "vfio-user";
	snprintf(dev->identity, sizeof(dev->identity), "vfio-user %s",
	    u->info_flags & VFU_DEVICE_FLAGS_PCI ? "pci" : "device");
	snprintf(dev->compat, sizeof(dev->compat), "regions=%u,irqs=%u", u->num_regions,
	    u->num_irqs);
	return 0;
}

int
vfio_user_backend_connected(struct mig_device *dev, int fd, const struct mig_device_config *dc)
{
	return vfio_user_attach(dev, fd, dc->path, dc, 0, dc->vfio_user_timeout_ms, NULL, 0, 0);
}

int
vfio_user_backend_open(struct mig_device *dev, const struct mig_device_config *dc)
{
	int fd;

	if ((fd = vfu_connect_path(dc->path)) < 0) {
		log_warnx("device %s: connecting to the vfio-user server at %s: %s", dev->name,
		    dc->path, strerror(-fd));
		return -1;
	}
	return vfio_user_backend_connected(dev, fd, dc) == 0 ? 0 : -1;
}

int
vfio_user_backend_adopt(struct mig_device *dev, int fd, uint32_t negotiated_xfer,
    uint32_t timeout_ms, const struct mig_iova_range *ranges, size_t nranges,
    uint32_t page_size)
{
	if (nranges > MIG_IOVA_RANGES_MAX)
		return -E2BIG;
	return vfio_user_attach(dev, fd, "handed over", NULL, negotiated_xfer, timeout_ms, ranges,
	    nranges, page_size);
}
