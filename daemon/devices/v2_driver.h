/*
 * v2_driver.h: drives any device of the VFIO v2 migration uAPI through a
 * migration: the FSM (planned by v2_fsm.c, one arc at a time), the data
 * fd, pre-copy sizes, stop-copy size, DMA dirty logging.
 *
 * Written against struct v2_device only, like v1_driver.c against a
 * region: the kernel backend (backend_vfio_v2.c, ioctls) and the software
 * v2 device (sim_v2.c) implement it, and this driver cannot tell them
 * apart. Every state change is logged at info level with from and to;
 * a refused arc is logged with the step, the goal, and where the device
 * ended up.
 *
 * The data stream has no records (unlike v1): it is a byte stream on the
 * data fd. The driver cuts it into "records" of whatever one read pass
 * returns (up to V2_BUFFER_SIZE), which the engines move as they move v1
 * records; the destination writes the bytes back in order and record ends
 * mean nothing to it. See docs/HARDWARE.md for the mapping onto
 * struct device_ops.
 *
 * Return values: 0 or -errno (-EPROTO when the device broke the uAPI).
 */
#ifndef MIG_V2_DRIVER_H
#define MIG_V2_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "v2_fsm.h"

/* The largest piece of the stream one save_next returns. */
#define V2_BUFFER_SIZE (1u << 20)
/* How long a stop-copy read or a resuming write may wait for the device. */
#define V2_WAIT_MS_DEFAULT 30000

struct v2_device;

/* What a v2 device offers; each returns 0 or -errno. */
struct v2_device_ops {
	/* VFIO_DEVICE_FEATURE_MIGRATION: V2_MIG_* flags. */
	int (*get_flags)(struct v2_device *d, uint64_t *flags);
	/* VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, GET and SET of one arc;
	 * *data_fd gets the new session's fd, or -1. */
	int (*get_state)(struct v2_device *d, uint32_t *state);
	int (*set_state)(struct v2_device *d, uint32_t state, int *data_fd);
	/* VFIO_MIG_GET_PRECOPY_INFO on the data fd. */
	int (*precopy_info)(struct v2_device *d, int data_fd, uint64_t *initial, uint64_t *dirty);
	/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE; -ENOTTY when not offered. */
	int (*stop_copy_size)(struct v2_device *d, uint64_t *bytes);
	/* VFIO_DEVICE_RESET: back to RUNNING from anywhere, ERROR included. */
	int (*reset)(struct v2_device *d);
	/* Dirty tracking of the device's DMA writes to [iova, iova + length):
	 * start (the device may pick another *page_size), report-and-clear
	 * into a u64 bitmap (bit i of word i / 64 = page i; only sets bits),
	 * stop. -ENOTSUP when the device has no tracking. */
	int (*log_start)(struct v2_device *d, uint64_t iova, uint64_t length, uint64_t *page_size);
	int (*log_report)(struct v2_device *d, uint64_t iova, uint64_t length, uint64_t page_size,
	    uint64_t *bitmap);
	int (*log_stop)(struct v2_device *d);
	/* Optional: the session's data without a data fd (vfio-user's
	 * MIG_DATA_READ / MIG_DATA_WRITE). When set, the driver calls these
	 * instead of reading and writing a fd; set_state then gives no fd and
	 * the session opens with the arc into the saving group or RESUMING.
	 * data_read is like read(): bytes read, 0 at the end of the data for
	 * now (pre-copy) or for good (stop-copy), or -errno; it waits for the
	 * device itself. data_write writes all of len, or -errno. */
	ssize_t (*data_read)(struct v2_device *d, void *buf, size_t len);
	int (*data_write)(struct v2_device *d, const void *buf, size_t len);
};

struct v2_device {
	const struct v2_device_ops *ops;
	void *priv;
	/* How it tracks DMA ("device DMA logging", "type1 IOMMU dirty pages"),
	 * NULL for not at all. */
	const char *dirty_tracking;
	/* Its calls cross a socket to another process (vfio-user) and may
	 * wait for it: the API is shown the driver's last figures instead of
	 * asking it from the event loop. */
	int remote;
};

struct v2_dev {
	struct v2_device *device;
	const char *name; /* for log lines */
	uint64_t flags;	  /* V2_MIG_* */
	uint32_t state;	  /* last state the device reached */
	int data_fd;	  /* the open session's fd, nonblocking, or -1 */
	int session;	  /* a session is open (with a fd, or through data_read) */
	int wait_ms;
	/* Saving. */
	uint8_t *buf;
	uint64_t record_size; /* bytes of the stream in buf */
	int stream_end;	      /* STOP_COPY: read() said end of stream */
	/* Pre-copy, for v2_initial_pending(): the last read pass ended at the
	 * device's temporary end of stream (ENOMSG, or read() 0), not on
	 * EAGAIN ("still working") or a full buffer; a pass returned data
	 * since the last PRECOPY_INFO; that one said initial_bytes 0; and
	 * the initial data is done for the session. */
	int precopy_end, precopy_data, initial_zero, initial_done;
	uint64_t stop_copy_estimate, stop_copy_read;
	int has_stop_copy_size;
	/* Where a rollback returns the device: the state a save found it in,
	 * STOP (a VMM's paused vCPUs) or RUNNING. */
	uint32_t save_from;
	/* Its VMM's (handed over): found STOP, it is not run for a pre-copy. */
	int keep_stopped;
	/* Dirty logging. */
	int logging;
	uint32_t log_page_size;
	uint64_t *log_words;
	size_t log_nwords;
};

/* Read the flags (STOP_COPY required) and the state; probe the stop-copy
 * size. Logs what the device offers. */
int v2_attach(struct v2_dev *dev, struct v2_device *device, const char *name);
/* Close the session and stop logging; the device is left as it is. */
void v2_detach(struct v2_dev *dev);

/* "stop-copy,p2p,pre-copy" */
void v2_flags_string(uint64_t flags, char *buf, size_t len);

/* Go to `to` through the arcs v2_fsm_plan() picks, one SET_STATE each.
 * A session's fd is closed before the arc that ends it (leaving the saving
 * group, or RESUMING) and kept from the arc that opens it. On refusal
 * the device's state is read back into dev->state. */
int v2_set_state(struct v2_dev *dev, uint32_t to);

/* The phases of a migration. */
/* -> PRE_COPY, or STOP_COPY. A stopped device of a VMM's (keep_stopped)
 * is not run for a pre-copy: it stays STOP, and its state moves in
 * stop-copy (as QEMU does). */
int v2_start_save(struct v2_dev *dev, int precopy);
int v2_start_stopcopy(struct v2_dev *dev);	     /* -> STOP_COPY */
int v2_finish_save(struct v2_dev *dev);		     /* -> STOP, session closed */
/* A source device back to the state its save found it in (save_from:
 * RUNNING, or STOP); reset when it refuses (and then stopped again when
 * it was stopped). */
int v2_rollback(struct v2_dev *dev);
int v2_start_resume(struct v2_dev *dev);  /* -> RESUMING */
int v2_finish_resume(struct v2_dev *dev); /* session closed -> RUNNING */
/* VFIO_DEVICE_RESET, then the device must say RUNNING. */
int v2_reset(struct v2_dev *dev);

/* Bytes still to come: PRECOPY_INFO's initial + dirty in the pre-copy
 * states; in STOP_COPY the stop-copy estimate less what was read, at
 * least 1 until the end of the stream; 0 otherwise (also in RUNNING when
 * the device has no PRE_COPY: nothing can move before the switchover). */
int v2_pending(struct v2_dev *dev, uint64_t *bytes);
/*
 * Pre-copy's initial data not read yet: PRECOPY_INFO's initial_bytes while
 * it is above 0. A 0 from the device is believed when the last read pass
 * ended at the temporary end of stream (ENOMSG or read() 0), or when the
 * previous PRECOPY_INFO said 0 too and a read has returned data since
 * (with initial_bytes 0 that data is dirty data: the initial data came
 * before it). mlx5 reports a tiny initial_bytes on entering PRE_COPY and
 * answers EAGAIN while its asynchronous save runs, so "0, then EAGAIN"
 * means "not produced yet", not "done". Until believed *bytes is 1 (a
 * placeholder, not a size); once believed, 0 for the rest of the session
 * (the uAPI's initial data is sent once). Outside the pre-copy states: 0.
 */
int v2_initial_pending(struct v2_dev *dev, uint64_t *bytes);
/* VFIO_DEVICE_FEATURE_MIG_DATA_SIZE now; -ENOTSUP when the device does not
 * offer it. In STOP_COPY 0: v2_pending() is then the estimate less what was
 * read, and the two must not be added twice. */
int v2_stop_copy_size(struct v2_dev *dev, uint64_t *bytes);
/* Read the next piece of the stream into the buffer: *size 0 when nothing
 * is there now (pre-copy) or the stream ended (stop-copy). In STOP_COPY it
 * waits up to wait_ms for the device. */
int v2_save_next(struct v2_dev *dev, uint64_t *size);
int v2_save_read(struct v2_dev *dev, uint64_t offset, void *buf, size_t len);
const uint8_t *v2_save_buffer(struct v2_dev *dev);
/* RESUMING: bytes of the stream, in order. */
int v2_resume_write(struct v2_dev *dev, const void *buf, size_t len);

/* Dirty logging of npages pages of page_size bytes from IOVA 0. */
int v2_log_begin(struct v2_dev *dev, uint64_t npages, uint32_t page_size);
void v2_log_end(struct v2_dev *dev);
/* Pages written by the device's DMA since the last report, OR-ed into a raw
 * bitmap (bit i = start_pfn + i); *dirty gets the number newly set. */
int v2_dirty_bitmap(struct v2_dev *dev, uint64_t start_pfn, uint64_t npages, uint8_t *bitmap,
    uint64_t *dirty);

/*
 * The daemon side, in backend_vfio_v2.c: the struct device_ops of every v2
 * device, the kernel's and the software one (backend_sim_v2.c). It makes
 * dev->priv its own and calls impl->close when the device is closed and
 * impl->describe to add backend fields to the device's JSON.
 */
struct mig_device;
struct mig_iova_range;
struct json_t;

struct v2_backend_impl {
	void *arg;
	void (*close)(void *arg);
	void (*describe)(void *arg, struct json_t *obj);
	int adopted; /* handed over by its VMM: its state is left as found */
	/* The MIG_E_* code of the device's last failure, 0 for the caller's
	 * own (device_ops.error_code); NULL: always the caller's. */
	int (*error_code)(void *arg);
	/* Before a new migration, on the device's thread: a connection that
	 * broke is made again (a vfio-user server restarted). 0: nothing to
	 * do, 1: connected again (the driver reads the device afresh), or
	 * -errno. NULL: never. */
	int (*revive)(void *arg);
};

int v2_backend_attach(struct mig_device *dev, struct v2_device *device,
    const struct v2_backend_impl *impl);
/* A handed-over device's report of [iova, iova + length) asked only where
 * the guest's ranges meet it, one report(d, ...) per range met (its bitmap
 * from that range's start), each part OR-ed into bitmap at its offset. */
int v2_log_report_ranges(struct v2_device *d, const struct mig_iova_range *ranges, size_t nranges,
    uint64_t iova, uint64_t length, uint64_t page_size, uint64_t *bitmap,
    int (*report)(struct v2_device *, uint64_t, uint64_t, uint64_t, uint64_t *));
/* A handed-over device's "iova" in its JSON: [{"start", "length"}...]. */
struct json_t *v2_ranges_json(const struct mig_iova_range *ranges, size_t nranges);

#endif
