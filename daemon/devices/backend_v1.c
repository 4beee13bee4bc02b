/*
 * backend_v1.c: device_ops over the v1 protocol driver (backend_v1.h).
 */
#include "backend_v1.h"

#include "device_worker.h"
#include "v1_driver.h"

/* The backend's private struct begins with its struct v1_dev. */
static struct v1_dev *
v1(struct mig_device *dev)
{
	return dev->priv;
}

int
v1b_save_begin(struct mig_device *dev, int precopy)
{
	device_check_thread(dev, "save_begin");
	return precopy ? v1_start_precopy(v1(dev)) : v1_start_stopcopy(v1(dev));
}

int
v1b_save_stop(struct mig_device *dev)
{
	device_check_thread(dev, "save_stop");
	return v1_start_stopcopy(v1(dev));
}

int
v1b_pending(struct mig_device *dev, uint64_t *bytes)
{
	device_check_thread(dev, "pending");
	return v1_pending_bytes(v1(dev), bytes);
}

int
v1b_save_next(struct mig_device *dev, uint64_t *size)
{
	device_check_thread(dev, "save_next");
	return v1_save_next(v1(dev), size);
}

int
v1b_save_read(struct mig_device *dev, uint64_t off, void *buf, size_t len)
{
	return v1_save_read(v1(dev), off, buf, len);
}

const uint8_t *
v1b_save_mapped(struct mig_device *dev)
{
	return v1_save_mapped(v1(dev));
}

int
v1b_save_end(struct mig_device *dev)
{
	device_check_thread(dev, "save_end");
	return v1_finish_save(v1(dev));
}

int
v1b_rollback(struct mig_device *dev)
{
	device_check_thread(dev, "rollback");
	return v1_rollback(v1(dev));
}

int
v1b_resume_begin(struct mig_device *dev)
{
	device_check_thread(dev, "resume_begin");
	return v1_start_resume(v1(dev));
}

int
v1b_resume_write(struct mig_device *dev, const void *buf, size_t len)
{
	device_check_thread(dev, "resume_write");
	return v1_resume_write(v1(dev), buf, len);
}

int
v1b_resume_commit(struct mig_device *dev)
{
	device_check_thread(dev, "resume_commit");
	return v1_resume_commit(v1(dev));
}

int
v1b_resume_end(struct mig_device *dev)
{
	device_check_thread(dev, "resume_end");
	return v1_finish_resume(v1(dev));
}

int
v1b_resume_stop(struct mig_device *dev)
{
	device_check_thread(dev, "resume_stop");
	return v1_finish_resume_stopped(v1(dev));
}

int
v1b_reset(struct mig_device *dev)
{
	device_check_thread(dev, "reset");
	return v1_reset(v1(dev));
}

int
v1b_dirty_bitmap(struct mig_device *dev, uint64_t start_pfn, uint64_t npages, uint8_t *bitmap,
    uint64_t *dirty)
{
	device_check_thread(dev, "dirty_bitmap");
	return v1_dirty_bitmap(v1(dev), start_pfn, dev->guest_page_size, npages, bitmap, dirty);
}
