/*
 * backend_v1.h: the device_ops every v1 backend shares.
 *
 * A v1 device, software or kernel, is the v1 protocol driver over a
 * region; only opening, closing and reporting differ. A backend whose
 * private struct begins with its struct v1_dev gets the migration calls
 * from here:
 *
 *	static const struct device_ops sim_ops = {
 *		V1_BACKEND_OPS,
 *		.state_name = sim_state_name,
 *		.close = sim_close,
 *	};
 */
#ifndef MIG_BACKEND_V1_H
#define MIG_BACKEND_V1_H

#include "device.h"

int v1b_save_begin(struct mig_device *dev, int precopy);
int v1b_save_stop(struct mig_device *dev);
int v1b_pending(struct mig_device *dev, uint64_t *bytes);
int v1b_save_next(struct mig_device *dev, uint64_t *size);
int v1b_save_read(struct mig_device *dev, uint64_t off, void *buf, size_t len);
const uint8_t *v1b_save_mapped(struct mig_device *dev);
int v1b_save_end(struct mig_device *dev);
int v1b_rollback(struct mig_device *dev);
int v1b_resume_begin(struct mig_device *dev);
int v1b_resume_write(struct mig_device *dev, const void *buf, size_t len);
int v1b_resume_commit(struct mig_device *dev);
int v1b_resume_end(struct mig_device *dev);
int v1b_resume_stop(struct mig_device *dev);
int v1b_reset(struct mig_device *dev);
int v1b_dirty_bitmap(struct mig_device *dev, uint64_t start_pfn, uint64_t npages,
    uint8_t *bitmap, uint64_t *dirty);

#define V1_BACKEND_OPS \
	.save_begin = v1b_save_begin, .save_stop = v1b_save_stop, .pending = v1b_pending, \
	.save_next = v1b_save_next, .save_read = v1b_save_read, \
	.save_mapped = v1b_save_mapped, .save_end = v1b_save_end, .rollback = v1b_rollback, \
	.resume_begin = v1b_resume_begin, .resume_write = v1b_resume_write, \
	.resume_commit = v1b_resume_commit, .resume_end = v1b_resume_end, .reset = v1b_reset, \
	.dirty_bitmap = v1b_dirty_bitmap

#endif
