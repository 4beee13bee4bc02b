/*
 * v1_driver.h: drives any v1 migration region (region.h) through a
 * migration: pre-copy, stop-copy, resume, stop, dirty-bitmap queries.
 *
 * Written against the region interface only, so the software device and
 * the kernel v1 backend share it unchanged. Every state change goes through
 * v1_set_state(), which logs from/to at info level and, when the device
 * refuses, reads back where it ended up.
 *
 * The sequence is the released interface's (include/uapi/linux/vfio.h of
 * Linux 5.8-5.17, as QEMU's hw/vfio/migration.c of that era follows it).
 * Saving, one iteration per buffer: read pending_bytes (which also tells
 * the device the previous buffer was consumed), and if it is not 0 read
 * data_offset (the device makes a buffer available there), data_size, then
 * the data. Resuming, per buffer: read data_offset, write the data there,
 * write data_size. data_offset is read for every buffer: it may move.
 * device_state is written read-modify-write, keeping bits 3-31.
 *
 * Return values: 0 or a negative errno from the region (or -EPROTO when the
 * device broke the KABI, e.g. a data_size beyond the data section).
 */
#ifndef MIG_V1_DRIVER_H
#define MIG_V1_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "kabi_v1.h"
#include "region.h"

struct v1_dev {
	struct mig_region *region;
	const char *name;	/* for log lines */
	uint64_t data_offset;	/* data_offset at attach: where the section starts */
	uint64_t data_capacity; /* region size - data_offset */
	uint8_t *data_map;	/* [data_offset, region size) mapped, or NULL */
	uint32_t state;		/* last state the device accepted (bits 0-2) */
	/* Where a rollback returns it: the state a save found it in, STOPPED
	 * (a VMM's paused vCPUs) or RUNNING. */
	uint32_t save_from;
	/* Its VMM's (handed over): found STOPPED, it is not run for a
	 * pre-copy. */
	int keep_stopped;
	/* SAVING: the buffer the device made available, given out until the
	 * next iteration's pending_bytes read says it was consumed. */
	int record_out;
	uint64_t record_offset;
	uint64_t record_size;
	uint8_t *record_copy;	/* trapped: the record, read out whole */
	uint64_t trap_copy_size; /* what record_copy holds room for */
	uint64_t pending;	/* pending_bytes read at the start of the iteration */
	/* RESUMING: the buffer the record is written to (data_offset read
	 * once its first part comes), and how much of it is written. */
	int resume_open;
	uint64_t resume_offset;
	uint64_t resume_fill;
};

/* Read data_offset (past the fields, inside the region), map the data
 * section from there when the region allows and the offset is page
 * aligned (a trapped section need not be), read device_state. */
int v1_attach(struct v1_dev *dev, struct mig_region *region, const char *name);
/* Frees what the driver allocated; the region is the caller's. */
void v1_detach(struct v1_dev *dev);

/* Name of a state ("running", "pre-copy", "stop-copy", "resuming", "stopped",
 * "error", "invalid"). */
const char *v1_state_name(uint32_t state);

/* device_state bits 0-2 (the reserved bits are the device's). */
int v1_get_state(struct v1_dev *dev, uint32_t *state);
/* Write device_state bits 0-2, read-modify-write. On refusal, re-reads the
 * state into dev->state and returns the region's error. */
int v1_set_state(struct v1_dev *dev, uint32_t state);

/* The phases of a migration, each one v1_set_state() call. */
/* -> SAVING|RUNNING (keep_stopped and STOPPED: SAVING) */
int v1_start_precopy(struct v1_dev *dev);
int v1_start_stopcopy(struct v1_dev *dev); /* -> SAVING */
int v1_start_resume(struct v1_dev *dev);   /* -> RESUMING */
int v1_finish_resume(struct v1_dev *dev);  /* RESUMING -> RUNNING */
/* RESUMING -> STOPPED: loaded, left for its VMM to start (QEMU's v1 path
 * clears RESUMING at the end of the load and sets RUNNING with the vCPUs). */
int v1_finish_resume_stopped(struct v1_dev *dev);
int v1_finish_save(struct v1_dev *dev);	   /* SAVING -> STOPPED */
/* Put a source device back to the state its save found it in (save_from:
 * RUNNING, or STOPPED) after a failed or cancelled migration; when the
 * device refuses, reset it (which leaves it RUNNING; then stopped again
 * when it was stopped). */
int v1_rollback(struct v1_dev *dev);
/* Reset a destination device after a failed resume. */
int v1_reset(struct v1_dev *dev);

/* Bytes the device still has to give. Between records it reads
 * pending_bytes; while a record is out it answers what was read at the
 * start of the record's iteration, less the record (a read would tell the
 * device the record was consumed while its bytes may still be on their
 * way out of the section). */
int v1_pending_bytes(struct v1_dev *dev, uint64_t *pending);

/* SAVING: the next iteration: pending_bytes (the previous record is
 * consumed), and if there is more, data_offset and data_size. *size is 0
 * when the device has nothing more to give now. Call it only once every
 * byte of the previous record has been taken (copied or sent). */
int v1_save_next(struct v1_dev *dev, uint64_t *size);
/* Copy [offset, offset + len) of the current record into buf (from the map
 * when there is one, else through the region). The record stays current
 * (also from pre-copy into stop-copy) until the next v1_save_next(),
 * v1_dirty_bitmap() (the device copies its bitmap into the same data
 * section), v1_finish_save(), v1_rollback() or v1_reset(); -EINVAL after
 * that or outside the record. */
int v1_save_read(struct v1_dev *dev, uint64_t offset, void *buf, size_t len);
/* When the section is mapped: where the current record lies in it, from
 * v1_save_next() until the next one (the device may reuse the space only
 * after the next pending_bytes read, which v1_save_next() makes), so a
 * caller may lend the record out from there without a copy; asked with no
 * record out, the section's start (a caller learns that records will be
 * mapped). The place moves with data_offset: ask after each
 * v1_save_next(). NULL when the section is trapped. */
const uint8_t *v1_save_mapped(struct v1_dev *dev);

/* RESUMING: a record may arrive in parts. The first part reads data_offset
 * (where the device wants this record); each part is written there at the
 * current fill; v1_resume_commit() then writes data_size so the device
 * consumes the record. -EMSGSIZE when a record does not fit between
 * data_offset and the end of the region. */
int v1_resume_write(struct v1_dev *dev, const void *buf, size_t len);
int v1_resume_commit(struct v1_dev *dev);

/*
 * Dirty pages of [start_pfn, start_pfn + total_pfns) in page_size pages,
 * OR-ed into bitmap (raw, bit i = start_pfn + i; the caller sizes and
 * clears it). Loops while the device copies fewer pfns than asked; -1 from
 * the device sets every bit of the range it covers. *dirty gets the number
 * of pages newly set. Only in SAVING states. The bitmap travels through
 * the data section: read the current record before asking.
 */
int v1_dirty_bitmap(struct v1_dev *dev, uint64_t start_pfn, uint64_t page_size, uint64_t total_pfns,
    uint8_t *bitmap, uint64_t *dirty);

#endif
