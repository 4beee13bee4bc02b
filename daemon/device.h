/*
 * device.h: a device the daemon can migrate, whatever its backend.
 *
 * The engines (source.c, dest.c) see a device only through struct
 * device_ops; each backend lives in daemon/devices/ and fills the table.
 * The registry here owns the devices, configured ones (opened at start)
 * and handed-over ones (added and removed at run time by handover.c),
 * and which migration, if any, holds each one. A device removed while a
 * finished migration still names it stays allocated, detached from its
 * backend, until the last such migration is freed (device_hold).
 */
#ifndef MIG_DEVICE_H
#define MIG_DEVICE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>
#include <jansson.h>

#include "config_file.h"
#include "device_worker.h"
#include "frame.h"

struct mig_device;
struct migration;

/* The guest's IOVA ranges a handed-over device's DMA is logged over. */
#define MIG_IOVA_RANGES_MAX 64
struct mig_iova_range {
	uint64_t start, length;
};

enum device_origin {
	DEVICE_CONFIG,	 /* [device NAME] in the configuration */
	DEVICE_HANDOVER, /* an fd its VMM handed over (handover.c) */
};

struct device_ops {
	/* Pre-copy (device keeps running) or straight to stop-copy. */
	int (*save_begin)(struct mig_device *dev, int precopy);
	int (*save_stop)(struct mig_device *dev); /* pre-copy -> stop-copy */
	int (*pending)(struct mig_device *dev, uint64_t *bytes);
	/* Pre-copy: bytes of the device's initial data (v2 PRECOPY_INFO's
	 * initial_bytes) not read yet. A switchover before it is 0 moves them
	 * in the downtime: mlx5 reports a small value on entering PRE_COPY
	 * and grows it as its asynchronous save completes. NULL: the device
	 * has no such notion (v1, a v2 device without PRE_COPY). */
	int (*initial_pending)(struct mig_device *dev, uint64_t *bytes);
	/* The device's estimate of what stop-copy will move (v2
	 * VFIO_DEVICE_FEATURE_MIG_DATA_SIZE), counted in the expected
	 * downtime on top of pending(); -ENOTSUP when it cannot tell. NULL:
	 * never. */
	int (*stop_copy_size)(struct mig_device *dev, uint64_t *bytes);
	/* Next record of device data; *size 0 when none is ready now. */
	int (*save_next)(struct mig_device *dev, uint64_t *size);
	int (*save_read)(struct mig_device *dev, uint64_t off, void *buf, size_t len);
	/* Where the record save_next fetched lies, readable without a call
	 * of the device until the next save_next (the engine lends it to TLS
	 * from there); asked after save_begin, before any record, non-NULL
	 * says records will be mapped. NULL (or no op): use save_read. */
	const uint8_t *(*save_mapped)(struct mig_device *dev);
	int (*save_end)(struct mig_device *dev); /* stopped for good */
	/* Back to the state save_begin found: running (or stopped). */
	int (*rollback)(struct mig_device *dev);
	/* Several devices in one migration (group.c), before any of them
	 * stops: pre-copy -> the device's P2P state (v2 PRE_COPY_P2P, or
	 * RUNNING_P2P without PRE_COPY), where it initiates no DMA of its own
	 * but still answers the others'. NULL: no P2P states (dev->p2p 0). */
	int (*quiesce)(struct mig_device *dev);

	int (*resume_begin)(struct mig_device *dev);
	int (*resume_write)(struct mig_device *dev, const void *buf, size_t len);
	int (*resume_commit)(struct mig_device *dev); /* end of one record */
	int (*resume_end)(struct mig_device *dev);    /* device running */
	/* Instead of resume_end, for a device whose VMM starts it with its
	 * vCPUs (final_state stopped): the state is loaded, the device left
	 * stopped. NULL: the backend cannot. */
	int (*resume_stop)(struct mig_device *dev);
	/* Several devices, destination: loaded and stopped (resume_stop) ->
	 * RUNNING_P2P, before any of them runs (resume_end then runs it).
	 * NULL: no P2P states. */
	int (*resume_p2p)(struct mig_device *dev);
	int (*reset)(struct mig_device *dev);

	/* Dirty pages of guest memory since the last call (get-and-clear),
	 * OR-ed into a raw bitmap; NULL when the device does no DMA. */
	int (*dirty_bitmap)(struct mig_device *dev, uint64_t start_pfn, uint64_t npages,
	    uint8_t *bitmap, uint64_t *dirty);

	const char *(*state_name)(struct mig_device *dev);
	void (*close)(struct mig_device *dev);

	/* Backend fields for the device's JSON (GET /v1/devices/NAME): its
	 * migration capabilities as the device reports them; keys given here
	 * replace the generic ones. NULL when the generic view says it all. */
	json_t *(*describe)(struct mig_device *dev);
	/* The MIG_E_* code that names the last failed call's cause better
	 * than the engine's own (a vfio-user server that hung up), or 0.
	 * Asked on the loop once the call is back. NULL: never. */
	int (*error_code)(struct mig_device *dev);
};

struct mig_device {
	char *name;
	const char *backend; /* "sim", "vfio-v1", "vfio-v2", "vfio-user" */
	const struct device_ops *ops;
	void *priv;
	char identity[MIG_IDENTITY_MAX + 1];
	char compat[MIG_COMPAT_MAX + 1];
	uint64_t state_size; /* estimate of the device data, bytes */
	int p2p; /* has the P2P states: quiesce and resume_p2p work */
	/* Guest memory the device DMAs into, when it has any. */
	uint8_t *guest_memory;
	uint64_t guest_memory_size;
	uint32_t guest_page_size;
	struct migration *busy; /* the migration holding the device, or NULL */
	struct device_worker *worker; /* its thread (device_worker.h) */
	/* What this device's switchovers cost beyond moving their data
	 * (its own stop-copy save, the destination's load), learned from the
	 * last ones it made as a source (src_learn_switchover): the expected
	 * downtime adds it. Known once one switchover completed. */
	uint64_t switchover_extra_ms;
	int switchover_extra_known;
	/* The finish (epoch ms) of the journaled migration it was read back
	 * from after a restart: the latest one's figure wins. */
	uint64_t switchover_extra_epoch_ms;
	enum device_origin origin;
	pid_t owner_pid; /* handover: the process it is watched through */
	/* handover: a successful resume leaves it stopped (its VMM starts
	 * it), not running. */
	int final_stopped;
	/* The registry's reference and one per migration naming it; at 0
	 * (removed and no migration left) it is freed. */
	unsigned refs;
	int removed; /* out of the registry, its backend closed */
};

/* A backend operation that touches the device (a register, an ioctl, a
 * state change) begins with this: it must run on the device's thread or
 * under its lock (device_worker.h). */
#define device_check_thread(dev, op) device_worker_check((dev)->worker, (dev)->name, (op))

/* Open every configured device; on failure logs and returns -1 (the daemon
 * does not start with a device it cannot open). */
int devices_open(const struct mig_config *cfg, struct event_base *base);
void devices_close(void);
/* Wait for every call of the devices' threads and run their callbacks
 * (at exit, before the migrations are freed: rollbacks end on record). */
void devices_settle(void);
struct mig_device *device_find(const char *name);
/* Add a device its backend has opened (origin and owner set by the
 * caller) and start its thread, unless it has one already (a handed-over
 * vfio-user device was attached on it): 0, or -1 (logged) with nothing
 * added. */
int device_add(struct mig_device *dev, struct event_base *base);
/* Take a device that is not busy out of the registry: its thread stops
 * (after the calls made), its backend is closed, and it is freed once no
 * migration names it. */
void device_remove(struct mig_device *dev);
/* A migration names the device (migration.c): it stays allocated. */
/* A device that is not there any more, by name only (a handed-over
 * device the journal names after a restart): freed with the last
 * migration that holds it. */
struct mig_device *device_placeholder(const char *name, enum device_origin origin);
void device_hold(struct mig_device *dev);
void device_release(struct mig_device *dev);
size_t device_count(void);
struct mig_device *device_at(size_t i);
/* busy_id: the id of the migration holding it (dev->busy), or NULL. */
json_t *device_to_json(struct mig_device *dev, const char *busy_id);

/* The error code a failed device call ends a migration with: the
 * device's own when it names one (ops->error_code), else fallback. */
int device_error_code(struct mig_device *dev, int fallback);

/* Backends. */
int sim_backend_open(struct mig_device *dev, const struct mig_device_config *cfg,
    struct event_base *base);
int sim_v2_backend_open(struct mig_device *dev, const struct mig_device_config *cfg,
    struct event_base *base);
int vfio_v1_backend_open(struct mig_device *dev, const struct mig_device_config *cfg);
/* A handed-over device's guest layout, for its backend: the guest's pages
 * are its VMM's, never sent; when its DMA is logged (logged), the page
 * space is [0, the end of the last range) in page_size pages, else none. */
static inline void
device_set_guest_layout(struct mig_device *dev, const struct mig_iova_range *ranges,
    size_t nranges, uint32_t page_size, int logged)
{
	uint64_t end = 0;
	size_t i;

	for (i = 0; i < nranges; i++)
		if (ranges[i].start + ranges[i].length > end)
			end = ranges[i].start + ranges[i].length;
	dev->guest_memory = NULL;
	dev->guest_memory_size = logged ? end : 0;
	dev->guest_page_size = page_size;
}
/* The same for a v1 device: -EOPNOTSUPP, no v1 migration region. Its DMA
 * is logged only through container_fd, the VMM's type1 container (-1:
 * none, not logged) over the ranges. */
int vfio_v1_backend_adopt(struct mig_device *dev, int fd, int container_fd,
    const struct mig_iova_range *ranges, size_t nranges, uint32_t page_size);
int vfio_v2_backend_open(struct mig_device *dev, const struct mig_device_config *cfg);
/* A device fd handed over by its VMM: ranges (page_size-aligned) are what
 * its DMA is logged over, by the device or, when it has no DMA logging,
 * by container_fd (the VMM's type1 container, checked by the caller with
 * vfio_type1_check; -1: none). On success the fds are the device's (closed
 * with it); on failure still the caller's: -ENOTTY not a VFIO device,
 * -EOPNOTSUPP no v2 migration, -EBUSY in a migration state of its own,
 * -EDOM page_size not a multiple of the container's page. */
int vfio_v2_backend_adopt(struct mig_device *dev, int fd, int container_fd,
    const struct mig_iova_range *ranges, size_t nranges, uint32_t page_size);
/* A handed-over device's new layout (not while it migrates); -EDOM as
 * for adopt. */
/* A vfio-user device server: connect to dc->path and negotiate. */
int vfio_user_backend_open(struct mig_device *dev, const struct mig_device_config *dc);
/* The same over a socket connected already (dc->path only names it);
 * the fd is the device's, closed on failure too. */
int vfio_user_backend_connected(struct mig_device *dev, int fd, const struct mig_device_config *dc);
/* Its socket, already connected, handed over by the VMM (handover.c):
 * negotiated_xfer is the max_data_xfer_size the VMM negotiated on it (no
 * VERSION is sent), or 0 (the daemon negotiates). ranges (page_size-
 * aligned; none: not logged) are what its DMA is logged over, by the
 * server's DMA logging. On failure the fd is still the caller's:
 * -EOPNOTSUPP no v2 migration, -EBUSY in a migration state, -ENODATA
 * ranges given and the server has no DMA logging, -EBADMSG, -ECONNRESET or
 * -ETIMEDOUT the server's fault. Each of its questions, and every later
 * call, waits timeout_ms (0: the default of vfio_user_timeout_ms): it
 * blocks, so handover.c runs it on the device's thread. */
int vfio_user_backend_adopt(struct mig_device *dev, int fd, uint32_t negotiated_xfer,
    uint32_t timeout_ms, const struct mig_iova_range *ranges, size_t nranges,
    uint32_t page_size);
int vfio_v2_backend_set_iova(struct mig_device *dev, const struct mig_iova_range *ranges,
    size_t nranges, uint32_t page_size);
int vfio_v1_backend_set_iova(struct mig_device *dev, const struct mig_iova_range *ranges,
    size_t nranges, uint32_t page_size);

#endif
