/*
 * v1_driver.c: drives a v1 migration region (v1_driver.h).
 *
 * It owns the protocol of the region: which field to touch, in which order,
 * at which width, and what a device's answer means. It talks to the device
 * through struct mig_region only and must never know which device is
 * behind it (the software device or a kernel vendor driver).
 *
 * It logs every state change and every breach of the KABI by the device;
 * plain region errors are returned to the caller, which knows the
 * migration they belong to.
 */
#include <errno.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "v1_driver.h"
#include "xmalloc.h"

/* A data section is mmap'ed only from a page-aligned data_offset; a
 * trapped one may start anywhere past the fields. */
#define V1_PAGE_ALIGN 4096u
/* The fields of the released interface end with data_size: a data
 * section starts at or after that. */
#define V1_FIELDS_END (V1_OFF(data_size) + V1_WIDTH(data_size))

#define V1_STATE_SAVING_RUNNING (VFIO_DEVICE_STATE_SAVING | VFIO_DEVICE_STATE_RUNNING)

/* [offset, offset + len) of the region into buf (write = 0) or from it
 * (write = 1), however many calls it takes: a region may move less than
 * asked, like pread and pwrite. */
static int
v1_region_io_all(struct v1_dev *dev, int write, uint64_t offset, void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write ? dev->region->ops->write(dev->region, offset, p, len)
			  : dev->region->ops->read(dev->region, offset, p, len);
		if (n == -EINTR || n == -EAGAIN)
			continue;
		if (n < 0)
			return (int)n;
		if (n == 0 || (size_t)n > len)
			return -EIO;
		p += n;
		offset += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int
v1_region_read_all(struct v1_dev *dev, uint64_t offset, void *buf, size_t len)
{
	return v1_region_io_all(dev, 0, offset, buf, len);
}

static int
v1_region_write_all(struct v1_dev *dev, uint64_t offset, const void *buf, size_t len)
{
	/* The region's write does not modify buf. */
	return v1_region_io_all(dev, 1, offset, (void *)(uintptr_t)buf, len);
}

/* A trapped field is one access at its native width: a device that answers
 * with part of it has failed the access. */
static int
v1_field_read(struct v1_dev *dev, uint64_t offset, void *value, size_t width)
{
	ssize_t n = dev->region->ops->read(dev->region, offset, value, width);

	if (n < 0)
		return (int)n;
	return (size_t)n == width ? 0 : -EIO;
}

static int
v1_field_write(struct v1_dev *dev, uint64_t offset, const void *value, size_t width)
{
	ssize_t n = dev->region->ops->write(dev->region, offset, value, width);

	if (n < 0)
		return (int)n;
	return (size_t)n == width ? 0 : -EIO;
}

static int
v1_read_u64(struct v1_dev *dev, uint64_t offset, uint64_t *value)
{
	return v1_field_read(dev, offset, value, sizeof(*value));
}

static int
v1_write_u64(struct v1_dev *dev, uint64_t offset, uint64_t value)
{
	return v1_field_write(dev, offset, &value, sizeof(value));
}

/* A data_offset the device gave: past the fields and inside the region. */
static int
v1_check_data_offset(struct v1_dev *dev, uint64_t offset)
{
	if (offset >= V1_FIELDS_END && offset < dev->region->size)
		return 0;
	log_warnx("device %s: data_offset %" PRIu64 " is not past the fields and inside the "
		  "%" PRIu64 "-byte region",
	    dev->name, offset, dev->region->size);
	return -EPROTO;
}

int
v1_attach(struct v1_dev *dev, struct mig_region *region, const char *name)
{
	void *map;
	int err;

	memset(dev, 0, sizeof(*dev));
	dev->region = region;
	dev->name = name;
	dev->save_from = VFIO_DEVICE_STATE_RUNNING;
	if ((err = v1_read_u64(dev, V1_OFF(data_offset), &dev->data_offset)) != 0) {
		log_warnx("device %s: reading data_offset: %s", name, strerror(-err));
		return err;
	}
	if ((err = v1_check_data_offset(dev, dev->data_offset)) != 0)
		return err;
	dev->data_capacity = region->size - dev->data_offset;
	if (dev->data_offset % V1_PAGE_ALIGN != 0)
		log_info("device %s: data_offset %" PRIu64 " is not page aligned: the data "
			 "section is accessed by reads and writes",
		    name, dev->data_offset);
	else if (region->ops->map != NULL) {
		err = region->ops->map(region, dev->data_offset, dev->data_capacity, &map);
		if (err == 0)
			dev->data_map = map;
		else if (err != -ENOTSUP)
			log_warnx("device %s: mapping the data section: %s; using reads and writes",
			    name, strerror(-err));
	}
	if ((err = v1_get_state(dev, &dev->state)) != 0) {
		log_warnx("device %s: reading device_state: %s", name, strerror(-err));
		return err;
	}
	log_info("device %s: attached, %s, data section of %" PRIu64 " bytes at %" PRIu64 " (%s)",
	    name, v1_state_name(dev->state), dev->data_capacity, dev->data_offset,
	    dev->data_map != NULL ? "mapped" : "trapped");
	return 0;
}

void
v1_detach(struct v1_dev *dev)
{
	free(dev->record_copy);
	dev->record_copy = NULL;
	dev->trap_copy_size = 0;
}

const char *
v1_state_name(uint32_t state)
{
	switch (state) {
	case VFIO_DEVICE_STATE_RUNNING:
		return "running";
	case V1_STATE_SAVING_RUNNING:
		return "pre-copy";
	case VFIO_DEVICE_STATE_SAVING:
		return "stop-copy";
	case VFIO_DEVICE_STATE_RESUMING:
		return "resuming";
	case VFIO_DEVICE_STATE_STOPPED:
		return "stopped";
	case VFIO_DEVICE_STATE_INVALID:
		return "error";
	}
	return "invalid";
}

static int
v1_read_device_state(struct v1_dev *dev, uint32_t *value)
{
	return v1_field_read(dev, V1_OFF(device_state), value, sizeof(*value));
}

int
v1_get_state(struct v1_dev *dev, uint32_t *state)
{
	uint32_t value;
	int err;

	if ((err = v1_read_device_state(dev, &value)) != 0)
		return err;
	dev->state = value & VFIO_DEVICE_STATE_MASK;
	*state = dev->state;
	return 0;
}

/* The state leaves SAVING or RESUMING: the device drops its buffers. */
static void
v1_forget_buffers(struct v1_dev *dev)
{
	dev->record_out = 0;
	dev->record_size = 0;
	dev->resume_open = 0;
	dev->resume_fill = 0;
}

int
v1_set_state(struct v1_dev *dev, uint32_t state)
{
	uint32_t from = dev->state, now, value;
	int err, err2;

	/* Bits 3-31 are reserved: the interface asks for them to be written
	 * back as read, so that a later definition of them survives us. */
	if ((err = v1_read_device_state(dev, &value)) == 0) {
		value &= ~(uint32_t)VFIO_DEVICE_STATE_MASK;
		value |= state & VFIO_DEVICE_STATE_MASK;
		err = v1_field_write(dev, V1_OFF(device_state), &value, sizeof(value));
	}
	if (err == 0) {
		dev->state = state;
		log_info("device %s: state %s -> %s", dev->name, v1_state_name(from),
		    v1_state_name(state));
		return 0;
	}
	if ((err2 = v1_get_state(dev, &now)) != 0) {
		log_warnx("device %s: state %s -> %s refused: %s; state unreadable: %s", dev->name,
		    v1_state_name(from), v1_state_name(state), strerror(-err), strerror(-err2));
		return err;
	}
	log_warnx("device %s: state %s -> %s refused: %s; device is %s", dev->name,
	    v1_state_name(from), v1_state_name(state), strerror(-err), v1_state_name(now));
	return err;
}

/* A save begins: remember where a rollback returns the device. */
static void
v1_note_save_from(struct v1_dev *dev)
{
	if (!(dev->state & VFIO_DEVICE_STATE_SAVING))
		dev->save_from = dev->state == VFIO_DEVICE_STATE_STOPPED ? VFIO_DEVICE_STATE_STOPPED
									 : VFIO_DEVICE_STATE_RUNNING;
}

/* A VMM's stopped device is not run for a pre-copy: QEMU sets _SAVING
 * keeping _RUNNING as it is, so its pre-copy is its stop-and-copy. */
int
v1_start_precopy(struct v1_dev *dev)
{
	v1_note_save_from(dev);
	if (dev->state == VFIO_DEVICE_STATE_STOPPED && dev->keep_stopped)
		return v1_set_state(dev, VFIO_DEVICE_STATE_SAVING);
	return v1_set_state(dev, V1_STATE_SAVING_RUNNING);
}

int
v1_start_stopcopy(struct v1_dev *dev)
{
	v1_note_save_from(dev);
	if (dev->state == VFIO_DEVICE_STATE_SAVING)
		return 0;
	return v1_set_state(dev, VFIO_DEVICE_STATE_SAVING);
}

int
v1_start_resume(struct v1_dev *dev)
{
	v1_forget_buffers(dev);
	return v1_set_state(dev, VFIO_DEVICE_STATE_RESUMING);
}

int
v1_finish_resume(struct v1_dev *dev)
{
	v1_forget_buffers(dev);
	return v1_set_state(dev, VFIO_DEVICE_STATE_RUNNING);
}

int
v1_finish_resume_stopped(struct v1_dev *dev)
{
	v1_forget_buffers(dev);
	return v1_set_state(dev, VFIO_DEVICE_STATE_STOPPED);
}

int
v1_finish_save(struct v1_dev *dev)
{
	v1_forget_buffers(dev);
	return v1_set_state(dev, VFIO_DEVICE_STATE_STOPPED);
}

int
v1_rollback(struct v1_dev *dev)
{
	uint32_t to = dev->save_from;
	int err;

	v1_forget_buffers(dev);
	if (v1_set_state(dev, to) == 0) {
		log_info("device %s: rolled back to %s, the state the migration found it in",
		    dev->name, v1_state_name(to));
		return 0;
	}
	log_info("device %s: resetting it to get it back to %s", dev->name, v1_state_name(to));
	if ((err = v1_reset(dev)) != 0 || to == VFIO_DEVICE_STATE_RUNNING)
		return err;
	return v1_set_state(dev, to);
}

int
v1_reset(struct v1_dev *dev)
{
	uint32_t state;
	int err;

	v1_forget_buffers(dev);
	if (dev->region->ops->reset == NULL) {
		log_warnx("device %s: cannot be reset", dev->name);
		return -ENOTSUP;
	}
	if ((err = dev->region->ops->reset(dev->region)) != 0) {
		log_warnx("device %s: reset failed: %s", dev->name, strerror(-err));
		return err;
	}
	if ((err = v1_get_state(dev, &state)) != 0) {
		log_warnx("device %s: reading device_state after reset: %s", dev->name,
		    strerror(-err));
		return err;
	}
	if (state != VFIO_DEVICE_STATE_RUNNING) {
		log_warnx("device %s: still %s after a reset", dev->name, v1_state_name(state));
		return -EPROTO;
	}
	log_info("device %s: reset, state running", dev->name);
	return 0;
}

int
v1_pending_bytes(struct v1_dev *dev, uint64_t *pending)
{
	int err;

	if (dev->record_out) {
		*pending = dev->pending > dev->record_size ? dev->pending - dev->record_size : 0;
		return 0;
	}
	if ((err = v1_read_u64(dev, V1_OFF(pending_bytes), &dev->pending)) != 0)
		return err;
	*pending = dev->pending;
	return 0;
}

/* [offset, offset + len) of the region inside the mapped part, or NULL. */
static const uint8_t *
v1_mapped_at(struct v1_dev *dev, uint64_t offset, uint64_t len)
{
	if (dev->data_map == NULL || offset < dev->data_offset ||
	    offset - dev->data_offset > dev->data_capacity ||
	    len > dev->data_capacity - (offset - dev->data_offset))
		return NULL;
	return dev->data_map + (offset - dev->data_offset);
}

/* Copies [offset, offset + len) of the region into buf: from the map when
 * it covers them, else through the region. */
static int
v1_data_read(struct v1_dev *dev, uint64_t offset, void *buf, size_t len)
{
	const uint8_t *p = v1_mapped_at(dev, offset, len);

	if (p != NULL) {
		memcpy(buf, p, len);
		return 0;
	}
	return v1_region_read_all(dev, offset, buf, len);
}

int
v1_save_next(struct v1_dev *dev, uint64_t *size)
{
	uint64_t offset, data_size;
	int err;

	*size = 0;
	/* The start of an iteration, and what tells the device that the
	 * previous buffer is consumed: from here on it may reuse the space. */
	dev->record_out = 0;
	dev->record_size = 0;
	if ((err = v1_read_u64(dev, V1_OFF(pending_bytes), &dev->pending)) != 0)
		return err;
	if (dev->pending == 0)
		return 0;
	/* Reading data_offset is what asks the device for the next buffer;
	 * it may put it anywhere in the region, each time. */
	if ((err = v1_read_u64(dev, V1_OFF(data_offset), &offset)) != 0)
		return err;
	if ((err = v1_check_data_offset(dev, offset)) != 0)
		return err;
	dev->record_out = 1;
	dev->record_offset = offset;
	if ((err = v1_read_u64(dev, V1_OFF(data_size), &data_size)) != 0)
		return err;
	if (data_size > dev->region->size - offset) {
		log_warnx("device %s: data_size %" PRIu64 " at data_offset %" PRIu64
			  " runs past the %" PRIu64 "-byte region",
		    dev->name, data_size, offset, dev->region->size);
		return -EPROTO;
	}
	if (data_size == 0 && dev->state == VFIO_DEVICE_STATE_SAVING) {
		/* Nothing would end such a stop-copy. */
		log_warnx("device %s: %" PRIu64 " bytes pending in stop-copy, but an empty "
			  "buffer",
		    dev->name, dev->pending);
		return -EPROTO;
	}
	/* A trapped section is read here, whole: save_next runs on the
	 * device's thread, save_read on the event loop, which must not wait
	 * for the device. Nobody keeps a pointer into this copy (save_mapped
	 * offers none without a map): it grows to the largest record. */
	if (dev->data_map == NULL && data_size > dev->trap_copy_size) {
		dev->record_copy = xrealloc(dev->record_copy, data_size);
		dev->trap_copy_size = data_size;
	}
	if (dev->record_copy != NULL &&
	    (err = v1_data_read(dev, offset, dev->record_copy, data_size)) != 0)
		return err;
	dev->record_size = data_size;
	*size = data_size;
	return 0;
}

int
v1_save_read(struct v1_dev *dev, uint64_t offset, void *buf, size_t len)
{
	if (!dev->record_out || offset > dev->record_size || len > dev->record_size - offset)
		return -EINVAL;
	if (dev->record_copy != NULL) {
		memcpy(buf, dev->record_copy + offset, len);
		return 0;
	}
	return v1_data_read(dev, dev->record_offset + offset, buf, len);
}

const uint8_t *
v1_save_mapped(struct v1_dev *dev)
{
	/* No copy: the engine lends the record out from the section and
	 * reads the next one (pending_bytes, which frees this space) only
	 * once TLS has taken all of it. */
	if (dev->data_map == NULL)
		return NULL;
	if (!dev->record_out)
		return dev->data_map;
	return v1_mapped_at(dev, dev->record_offset, dev->record_size);
}

/* RESUMING: where the device wants the next record (once per record). */
static int
v1_resume_open(struct v1_dev *dev)
{
	uint64_t offset;
	int err;

	if (dev->resume_open)
		return 0;
	if ((err = v1_read_u64(dev, V1_OFF(data_offset), &offset)) != 0)
		return err;
	if ((err = v1_check_data_offset(dev, offset)) != 0)
		return err;
	dev->resume_offset = offset;
	dev->resume_fill = 0;
	dev->resume_open = 1;
	return 0;
}

int
v1_resume_write(struct v1_dev *dev, const void *buf, size_t len)
{
	uint64_t offset;
	uint8_t *p;
	int err;

	if ((err = v1_resume_open(dev)) != 0)
		return err;
	offset = dev->resume_offset + dev->resume_fill;
	if (len > dev->region->size - offset)
		return -EMSGSIZE;
	if ((p = (uint8_t *)(uintptr_t)v1_mapped_at(dev, offset, len)) != NULL)
		memcpy(p, buf, len);
	else if ((err = v1_region_write_all(dev, offset, buf, len)) != 0)
		return err;
	dev->resume_fill += len;
	return 0;
}

int
v1_resume_commit(struct v1_dev *dev)
{
	uint64_t size;
	uint32_t state;
	int err;

	if ((err = v1_resume_open(dev)) != 0)
		return err;
	size = dev->resume_fill;
	dev->resume_open = 0;
	dev->resume_fill = 0;
	if ((err = v1_write_u64(dev, V1_OFF(data_size), size)) != 0) {
		/* A device that refuses a record may have left RESUMING
		 * (the error state): keep dev->state truthful. */
		if (v1_get_state(dev, &state) == 0 && state != VFIO_DEVICE_STATE_RESUMING)
			log_warnx("device %s: record of %" PRIu64 " bytes refused, device is %s",
			    dev->name, size, v1_state_name(state));
		return err;
	}
	return 0;
}

/* ORs bits [0, n) of src into bitmap from bit first on; returns how many
 * were not set before. */
static uint64_t
v1_bitmap_merge(uint8_t *bitmap, uint64_t first, const uint8_t *src, uint64_t n)
{
	uint64_t i, bit, added = 0;
	unsigned int byte;

	for (i = 0; i < (n + 7) / 8; i++) {
		byte = src[i];
		if (i == n / 8)
			byte &= (1u << (n % 8)) - 1;
		while (byte != 0) {
			bit = first + i * 8 + (uint64_t)__builtin_ctz(byte);
			byte &= byte - 1;
			if (!(bitmap[bit / 8] & (1u << (bit % 8)))) {
				bitmap[bit / 8] |= (uint8_t)(1u << (bit % 8));
				added++;
			}
		}
	}
	return added;
}

static uint64_t
v1_bitmap_set_range(uint8_t *bitmap, uint64_t from, uint64_t to)
{
	uint64_t bit, added = 0;

	for (bit = from; bit < to; bit++) {
		if (!(bitmap[bit / 8] & (1u << (bit % 8)))) {
			bitmap[bit / 8] |= (uint8_t)(1u << (bit % 8));
			added++;
		}
	}
	return added;
}

/* One copied_pfns query for [start_pfn + done, start_pfn + total_pfns). */
static int
v1_dirty_query(struct v1_dev *dev, uint64_t start_pfn, uint64_t page_size, uint64_t total_pfns,
    int64_t *copied)
{
	int err;

	if ((err = v1_write_u64(dev, V1_OFF(start_pfn), start_pfn)) != 0 ||
	    (err = v1_write_u64(dev, V1_OFF(page_size), page_size)) != 0 ||
	    (err = v1_write_u64(dev, V1_OFF(total_pfns), total_pfns)) != 0)
		return err;
	return v1_field_read(dev, V1_OFF(copied_pfns), copied, sizeof(*copied));
}

int
v1_dirty_bitmap(struct v1_dev *dev, uint64_t start_pfn, uint64_t page_size, uint64_t total_pfns,
    uint8_t *bitmap, uint64_t *dirty)
{
	uint8_t *copy = NULL;
	const uint8_t *src;
	uint64_t done = 0, bytes, copy_size = 0;
	int64_t copied;
	int err = 0;

	*dirty = 0;
	/* The device copies the bitmap into the data section, where a record
	 * may be out: it must know the record is consumed first. */
	if (dev->record_out && (err = v1_read_u64(dev, V1_OFF(pending_bytes), &dev->pending)) != 0)
		return err;
	dev->record_out = 0;
	dev->record_size = 0;
	while (done < total_pfns) {
		err = v1_dirty_query(dev, start_pfn + done, page_size, total_pfns - done, &copied);
		if (err != 0 || copied == 0)
			break;
		if (copied == -1) {
			*dirty += v1_bitmap_set_range(bitmap, done, total_pfns);
			break;
		}
		bytes = ((uint64_t)copied + 7) / 8;
		if (copied < 0 || (uint64_t)copied > total_pfns - done ||
		    bytes > dev->data_capacity) {
			log_warnx("device %s: copied_pfns %" PRId64 " for a query of %" PRIu64
				  " pfns",
			    dev->name, copied, total_pfns - done);
			err = -EPROTO;
			break;
		}
		/* The 2019 proposal's bitmap, which released kernels dropped,
		 * is read where the section starts: data_offset at attach. */
		if (dev->data_map != NULL)
			src = dev->data_map;
		else {
			if (bytes > copy_size) {
				copy = xrealloc(copy, bytes);
				copy_size = bytes;
			}
			if ((err = v1_region_read_all(dev, dev->data_offset, copy, bytes)) != 0)
				break;
			src = copy;
		}
		*dirty += v1_bitmap_merge(bitmap, done, src, (uint64_t)copied);
		done += (uint64_t)copied;
	}
	free(copy);
	return err;
}
