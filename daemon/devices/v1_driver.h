/*
 * v1_driver.h: drives any v1 migration region (region.h) through a
 * migration: pre-copy, stop-copy, resume, stop, dirty-bitmap queries.
 *
 * Written against the region interface only, so the software device and
 * the kernel v1 backend share it unchanged. Every state change goes through
 * v1_set_state(), which logs from/to at info level and, when the device
 * refuses, reads back where it ended up.
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
	uint64_t data_offset;	/* read once at attach, page aligned, non-zero */
	uint64_t data_capacity; /* region size - data_offset */
	uint8_t *data_map;	/* mapped data section, or NULL */
	uint32_t state;		/* last state the device accepted */
	uint64_t record_size;	/* SAVING: size of the record made available */
	uint64_t resume_fill;	/* RESUMING: bytes written into the current record */
};

/* Read and check data_offset (non-zero, page aligned, inside the region),
 * map the data section if the region allows, read device_state. */
int v1_attach(struct v1_dev *dev, struct mig_region *region, const char *name);

/* Name of a state ("running", "pre-copy", "stop-copy", "resuming", "stopped",
 * "error", "invalid"). */
const char *v1_state_name(uint32_t state);

int v1_get_state(struct v1_dev *dev, uint32_t *state);
/* Write device_state. On refusal, re-reads the state into dev->state and
 * returns the region's error. */
int v1_set_state(struct v1_dev *dev, uint32_t state);

/* The phases of a migration, each one v1_set_state() call. */
int v1_start_precopy(struct v1_dev *dev);  /* -> SAVING|RUNNING */
int v1_start_stopcopy(struct v1_dev *dev); /* -> SAVING */
int v1_start_resume(struct v1_dev *dev);   /* -> RESUMING */
int v1_finish_resume(struct v1_dev *dev);  /* RESUMING -> RUNNING */
int v1_finish_save(struct v1_dev *dev);	   /* SAVING -> STOPPED */
/* Put a source device back to RUNNING after a failed or cancelled
 * migration; when the device refuses, reset it (which also leaves it
 * RUNNING). */
int v1_rollback(struct v1_dev *dev);
/* Reset a destination device after a failed resume. */
int v1_reset(struct v1_dev *dev);

int v1_pending_bytes(struct v1_dev *dev, uint64_t *pending);

/* SAVING: ask the device for its next record (read data_offset, then
 * data_size). *size is 0 when the device has nothing more to give now. */
int v1_save_next(struct v1_dev *dev, uint64_t *size);
/* Copy [offset, offset + len) of the current record into buf (from the map
 * when there is one, else through the region). The record stays current
 * (also from pre-copy into stop-copy) until the next v1_save_next(),
 * v1_dirty_bitmap() (the device copies its bitmap into the same data
 * section), v1_finish_save(), v1_rollback() or v1_reset(); -EINVAL after
 * that or outside the record. */
int v1_save_read(struct v1_dev *dev, uint64_t offset, void *buf, size_t len);
/* Direct pointer to the current record when the section is mapped, else NULL. */
const uint8_t *v1_save_mapped(struct v1_dev *dev);

/* RESUMING: a record may arrive in parts. Each part is written into the
 * data section at the current fill; v1_resume_commit() then writes
 * data_size so the device consumes the record. -EMSGSIZE when a record
 * does not fit the data section. */
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
