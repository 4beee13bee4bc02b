/*
 * v2_driver.c: drives a device of the VFIO v2 migration uAPI (v2_driver.h).
 *
 * It owns the protocol: which arcs to take, when a session's fd opens and
 * closes, how the data fd is read and written, what PRECOPY_INFO and the
 * stop-copy size mean for "pending", and the shape of DMA log reports. It
 * talks to the device through struct v2_device and to the data fd through
 * vfio_sys only, and never knows which device is behind them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "v2_driver.h"
#include "vfio_sys.h"
#include "xmalloc.h"

static int
v2_op_set_state(struct v2_dev *dev, uint32_t state, int *fd)
{
	*fd = -1;
	return dev->device->ops->set_state(dev->device, state, fd);
}

void
v2_flags_string(uint64_t flags, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", flags & V2_MIG_STOP_COPY ? "stop-copy" : "-",
	    flags & V2_MIG_P2P ? ",p2p" : "", flags & V2_MIG_PRE_COPY ? ",pre-copy" : "");
}

static void
v2_close_session(struct v2_dev *dev)
{
	if (dev->data_fd >= 0) {
		vfio_sys->close(dev->data_fd);
		dev->data_fd = -1;
	}
	dev->session = 0;
	dev->record_size = 0;
}

/* A new session: keep its fd, nonblocking so that no read or write can
 * stall the daemon beyond wait_ms. */
static void
v2_open_session(struct v2_dev *dev, int fd)
{
	int fl;

	v2_close_session(dev);
	dev->data_fd = fd;
	dev->session = 1;
	dev->stream_end = 0;
	dev->precopy_end = dev->precopy_data = 0;
	dev->initial_zero = dev->initial_done = 0;
	if (fd >= 0 && (fl = vfio_sys->getfl(fd)) >= 0)
		vfio_sys->setfl(fd, fl | O_NONBLOCK);
}

static void
v2_refresh_stop_copy_size(struct v2_dev *dev)
{
	uint64_t bytes;

	if (!dev->has_stop_copy_size)
		return;
	if (dev->device->ops->stop_copy_size(dev->device, &bytes) == 0)
		dev->stop_copy_estimate = bytes;
}

int
v2_attach(struct v2_dev *dev, struct v2_device *device, const char *name)
{
	char flags[64], size[48];
	uint64_t bytes = 0;
	int err;

	memset(dev, 0, sizeof(*dev));
	dev->device = device;
	dev->name = name;
	dev->data_fd = -1;
	dev->wait_ms = V2_WAIT_MS_DEFAULT;
	if ((err = device->ops->get_flags(device, &dev->flags)) != 0) {
		log_warnx("device %s: VFIO_DEVICE_FEATURE_MIGRATION: %s; the device (or its "
			  "driver) does not offer v2 migration: bind its vendor's variant driver",
		    name, strerror(-err));
		return err;
	}
	v2_flags_string(dev->flags, flags, sizeof(flags));
	if (!(dev->flags & V2_MIG_STOP_COPY)) {
		log_warnx("device %s: migration flags %s lack STOP_COPY, which the uAPI requires",
		    name, flags);
		return -EPROTO;
	}
	dev->save_from = V2_STATE_RUNNING;
	if ((err = device->ops->get_state(device, &dev->state)) != 0) {
		log_warnx("device %s: reading the migration state: %s", name, strerror(-err));
		return err;
	}
	err = device->ops->stop_copy_size(device, &bytes);
	dev->has_stop_copy_size = err == 0;
	dev->stop_copy_estimate = err == 0 ? bytes : 0;
	if (err == 0)
		snprintf(size, sizeof(size), "%" PRIu64 " bytes", bytes);
	else
		snprintf(size, sizeof(size), "unknown (no MIG_DATA_SIZE)");
	log_info("device %s: v2 migration (%s), state %s, stop-copy size %s, dirty tracking %s",
	    name, flags, v2_state_name(dev->state), size,
	    device->dirty_tracking != NULL ? device->dirty_tracking : "none");
	return 0;
}

void
v2_detach(struct v2_dev *dev)
{
	v2_close_session(dev);
	v2_log_end(dev);
	free(dev->buf);
	dev->buf = NULL;
}

/* A device without a data fd (data_read set): its session opens with the
 * arc into the saving group or into RESUMING. */
static int
v2_arc_opens_session(struct v2_dev *dev, uint32_t from, uint32_t to)
{
	if (dev->device->ops->data_read == NULL)
		return 0;
	return (!v2_state_is_saving(from) && v2_state_is_saving(to)) ||
	    (from != V2_STATE_RESUMING && to == V2_STATE_RESUMING);
}

/* The session ends with the arc from -> to. */
static int
v2_arc_ends_session(uint32_t from, uint32_t to)
{
	return (v2_state_is_saving(from) && !v2_state_is_saving(to)) ||
	    (from == V2_STATE_RESUMING && to != V2_STATE_RESUMING);
}

static int
v2_refused(struct v2_dev *dev, uint32_t from, uint32_t next, uint32_t goal, int step, int steps,
    int err)
{
	uint32_t now;
	int err2;

	if ((err2 = dev->device->ops->get_state(dev->device, &now)) != 0) {
		log_warnx("device %s: state %s -> %s (arc %d of %d toward %s) refused: %s; state "
			  "unreadable: %s",
		    dev->name, v2_state_name(from), v2_state_name(next), step, steps,
		    v2_state_name(goal), strerror(-err), strerror(-err2));
		dev->state = V2_STATE_ERROR;
	} else {
		log_warnx("device %s: state %s -> %s (arc %d of %d toward %s) refused: %s; device "
			  "is %s",
		    dev->name, v2_state_name(from), v2_state_name(next), step, steps,
		    v2_state_name(goal), strerror(-err), v2_state_name(now));
		dev->state = now;
	}
	if (!v2_state_is_saving(dev->state) && dev->state != V2_STATE_RESUMING)
		v2_close_session(dev);
	return err;
}

int
v2_set_state(struct v2_dev *dev, uint32_t to)
{
	uint32_t path[V2_FSM_MAX_STEPS], from;
	int n, i, fd, err;

	n = v2_fsm_plan(dev->state, to, dev->flags, path, V2_FSM_MAX_STEPS);
	if (n < 0) {
		log_warnx("device %s: no way from %s to %s with this device's migration features",
		    dev->name, v2_state_name(dev->state), v2_state_name(to));
		return n;
	}
	for (i = 0; i < n; i++) {
		from = dev->state;
		if (v2_arc_ends_session(from, path[i]))
			v2_close_session(dev);
		if ((err = v2_op_set_state(dev, path[i], &fd)) != 0)
			return v2_refused(dev, from, path[i], to, i + 1, n, err);
		dev->state = path[i];
		log_info("device %s: state %s -> %s", dev->name, v2_state_name(from),
		    v2_state_name(path[i]));
		if (fd >= 0 || v2_arc_opens_session(dev, from, path[i]))
			v2_open_session(dev, fd);
	}
	if ((v2_state_is_saving(to) || to == V2_STATE_RESUMING) && !dev->session) {
		log_warnx("device %s: reached %s without a data fd", dev->name, v2_state_name(to));
		return -EPROTO;
	}
	return 0;
}

int
v2_start_save(struct v2_dev *dev, int precopy)
{
	if (dev->buf == NULL)
		dev->buf = xmalloc(V2_BUFFER_SIZE);
	dev->record_size = 0;
	dev->stop_copy_read = 0;
	v2_refresh_stop_copy_size(dev);
	dev->save_from = dev->state == V2_STATE_STOP ? V2_STATE_STOP : V2_STATE_RUNNING;
	if (precopy && dev->state == V2_STATE_STOP && dev->keep_stopped) {
		log_info("device %s: stopped (its VMM's vCPUs paused), not run for a pre-copy: its "
			 "state (about %" PRIu64 " bytes) moves in stop-copy",
		    dev->name, dev->stop_copy_estimate);
		return 0;
	}
	if (precopy && (dev->flags & V2_MIG_PRE_COPY))
		return v2_set_state(dev, V2_STATE_PRE_COPY);
	if (precopy) {
		log_info("device %s: no PRE_COPY: its state (about %" PRIu64 " bytes) moves in "
			 "stop-copy, after the switchover",
		    dev->name, dev->stop_copy_estimate);
		return 0;
	}
	return v2_set_state(dev, V2_STATE_STOP_COPY);
}

int
v2_start_stopcopy(struct v2_dev *dev)
{
	v2_refresh_stop_copy_size(dev);
	dev->stop_copy_read = 0;
	return v2_set_state(dev, V2_STATE_STOP_COPY);
}

int
v2_finish_save(struct v2_dev *dev)
{
	dev->record_size = 0;
	v2_log_end(dev);
	return v2_set_state(dev, V2_STATE_STOP);
}

int
v2_rollback(struct v2_dev *dev)
{
	uint32_t to = dev->save_from == V2_STATE_STOP ? V2_STATE_STOP : V2_STATE_RUNNING;
	int err;

	dev->record_size = 0;
	v2_log_end(dev);
	if (dev->state != V2_STATE_ERROR && v2_set_state(dev, to) == 0) {
		log_info("device %s: rolled back to %s, the state the migration found it in",
		    dev->name, v2_state_name(to));
		return 0;
	}
	log_info("device %s: resetting it to get it back to %s", dev->name, v2_state_name(to));
	if ((err = v2_reset(dev)) != 0 || to == V2_STATE_RUNNING)
		return err;
	return v2_set_state(dev, to);
}

int
v2_start_resume(struct v2_dev *dev)
{
	return v2_set_state(dev, V2_STATE_RESUMING);
}

int
v2_finish_resume(struct v2_dev *dev)
{
	return v2_set_state(dev, V2_STATE_RUNNING);
}

int
v2_reset(struct v2_dev *dev)
{
	uint32_t state;
	int err;

	v2_close_session(dev);
	v2_log_end(dev);
	if ((err = dev->device->ops->reset(dev->device)) != 0) {
		log_warnx("device %s: reset failed: %s", dev->name, strerror(-err));
		return err;
	}
	if ((err = dev->device->ops->get_state(dev->device, &state)) != 0) {
		log_warnx("device %s: reading the state after a reset: %s", dev->name,
		    strerror(-err));
		dev->state = V2_STATE_ERROR;
		return err;
	}
	dev->state = state;
	if (state != V2_STATE_RUNNING) {
		log_warnx("device %s: still %s after a reset", dev->name, v2_state_name(state));
		return -EPROTO;
	}
	log_info("device %s: reset, state running", dev->name);
	return 0;
}

int
v2_initial_pending(struct v2_dev *dev, uint64_t *bytes)
{
	uint64_t initial = 0, dirty = 0;
	int done, err;

	*bytes = 0;
	if (dev->state != V2_STATE_PRE_COPY && dev->state != V2_STATE_PRE_COPY_P2P)
		return 0;
	if (dev->initial_done)
		return 0;
	err = dev->device->ops->precopy_info(dev->device, dev->data_fd, &initial, &dirty);
	if (err != 0)
		return err;
	if (initial > 0) {
		dev->initial_zero = dev->precopy_data = 0;
		*bytes = initial;
		return 0;
	}
	done = dev->precopy_end || (dev->initial_zero && dev->precopy_data);
	dev->initial_zero = 1;
	dev->precopy_data = 0;
	if (!done) {
		*bytes = 1;
		return 0;
	}
	dev->initial_done = 1;
	log_info("device %s: initial pre-copy data read", dev->name);
	return 0;
}

int
v2_stop_copy_size(struct v2_dev *dev, uint64_t *bytes)
{
	*bytes = 0;
	if (!dev->has_stop_copy_size)
		return -ENOTSUP;
	if (dev->state == V2_STATE_STOP_COPY)
		return 0;
	return dev->device->ops->stop_copy_size(dev->device, bytes);
}

int
v2_pending(struct v2_dev *dev, uint64_t *bytes)
{
	uint64_t initial = 0, dirty = 0;
	int err;

	*bytes = 0;
	switch (dev->state) {
	case V2_STATE_PRE_COPY:
	case V2_STATE_PRE_COPY_P2P:
		if ((err = dev->device->ops->precopy_info(dev->device, dev->data_fd, &initial,
		    &dirty)) != 0)
			return err;
		*bytes = initial + dirty;
		return 0;
	case V2_STATE_STOP_COPY:
		if (dev->stream_end)
			return 0;
		*bytes = dev->stop_copy_estimate > dev->stop_copy_read
		    ? dev->stop_copy_estimate - dev->stop_copy_read
		    : 1;
		return 0;
	}
	return 0;
}

/* read() of the session: the data fd's, or the device's own. */
static ssize_t
v2_data_read(struct v2_dev *dev, void *buf, size_t len)
{
	ssize_t n;

	if (dev->device->ops->data_read == NULL)
		return vfio_sys->read(dev->data_fd, buf, len);
	if ((n = dev->device->ops->data_read(dev->device, buf, len)) >= 0)
		return n;
	errno = (int)-n;
	return -1;
}

/* Wait until fd is ready for `events`, up to wait_ms. */
static int
v2_wait(struct v2_dev *dev, short events, const char *what)
{
	struct pollfd pfd = {dev->data_fd, events, 0};
	int n;

	/* A device without a data fd waits in data_read itself: "try again"
	 * from it is not something to wait for here. */
	if (dev->data_fd < 0) {
		log_warnx("device %s: %s: the device said \"try again\" in %s", dev->name, what,
		    v2_state_name(dev->state));
		return -EPROTO;
	}
	do
		n = vfio_sys->poll(&pfd, 1, dev->wait_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0) {
		log_warnx("device %s: %s: nothing from the device for %d ms in %s", dev->name, what,
		    dev->wait_ms, v2_state_name(dev->state));
		return -ETIMEDOUT;
	}
	return 0;
}

int
v2_save_next(struct v2_dev *dev, uint64_t *size)
{
	int stopcopy = dev->state == V2_STATE_STOP_COPY;
	uint64_t fill = 0;
	ssize_t n;
	int err;

	*size = 0;
	dev->record_size = 0;
	if (!v2_state_is_saving(dev->state) || !dev->session || dev->stream_end)
		return 0;
	dev->precopy_end = 0;
	while (fill < V2_BUFFER_SIZE) {
		n = v2_data_read(dev, dev->buf + fill, V2_BUFFER_SIZE - fill);
		if (n > 0) {
			fill += (uint64_t)n;
			continue;
		}
		if (n == 0) {
			/* End of stream: for good in STOP_COPY; in pre-copy a
			 * device may say so for "nothing now". */
			if (stopcopy) {
				dev->stream_end = 1;
				log_info("device %s: end of the device's stream after %" PRIu64
					 " bytes of stop-copy",
				    dev->name, dev->stop_copy_read + fill);
			}
			dev->precopy_end = !stopcopy;
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno == ENOMSG && !stopcopy) {
			dev->precopy_end = 1; /* pre-copy's temporary end of stream */
			break;
		}
		if (errno == ENOMSG) {
			log_warnx("device %s: read of the data fd returned ENOMSG in STOP_COPY, which "
				  "the uAPI forbids",
			    dev->name);
			return -EPROTO;
		}
		if (errno != EAGAIN) {
			err = -errno;
			log_warnx("device %s: reading the data fd in %s: %s", dev->name,
			    v2_state_name(dev->state), strerror(errno));
			return err;
		}
		/* Pre-copy: nothing now, the device is still producing (mlx5's
		 * asynchronous save); not an error, and not the end. */
		if (!stopcopy || fill > 0)
			break;
		if ((err = v2_wait(dev, POLLIN, "reading the data fd")) != 0)
			return err;
	}
	if (stopcopy)
		dev->stop_copy_read += fill;
	else if (fill > 0)
		dev->precopy_data = 1;
	dev->record_size = fill;
	*size = fill;
	return 0;
}

int
v2_save_read(struct v2_dev *dev, uint64_t offset, void *buf, size_t len)
{
	if (offset > dev->record_size || len > dev->record_size - offset)
		return -EINVAL;
	memcpy(buf, dev->buf + offset, len);
	return 0;
}

const uint8_t *
v2_save_buffer(struct v2_dev *dev)
{
	return dev->buf;
}

int
v2_resume_write(struct v2_dev *dev, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;
	int err;

	if (dev->state != V2_STATE_RESUMING || !dev->session)
		return -EINVAL;
	if (dev->device->ops->data_write != NULL) {
		if ((err = dev->device->ops->data_write(dev->device, buf, len)) != 0)
			log_warnx("device %s: writing %zu bytes of its state in resuming: %s",
			    dev->name, len, strerror(-err));
		return err;
	}
	while (len > 0) {
		n = vfio_sys->write(dev->data_fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return -EIO;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			err = -errno;
			log_warnx("device %s: writing the data fd in resuming: %s", dev->name,
			    strerror(errno));
			return err;
		}
		if ((err = v2_wait(dev, POLLOUT, "writing the data fd")) != 0)
			return err;
	}
	return 0;
}

int
v2_log_begin(struct v2_dev *dev, uint64_t npages, uint32_t page_size)
{
	uint64_t ps = page_size;
	int err;

	v2_log_end(dev);
	if (dev->device->ops->log_start == NULL)
		return -ENOTSUP;
	if ((err = dev->device->ops->log_start(dev->device, 0, npages * page_size, &ps)) != 0) {
		log_warnx("device %s: starting dirty tracking of %" PRIu64 " pages: %s", dev->name,
		    npages, strerror(-err));
		return err;
	}
	if (ps != page_size)
		log_info("device %s: the device tracks DMA in pages of %" PRIu64 " bytes; reports "
			 "are asked in %u",
		    dev->name, ps, page_size);
	dev->logging = 1;
	dev->log_page_size = page_size;
	log_info("device %s: dirty tracking on (%s) over %" PRIu64 " pages", dev->name,
	    dev->device->dirty_tracking != NULL ? dev->device->dirty_tracking : "device", npages);
	return 0;
}

void
v2_log_end(struct v2_dev *dev)
{
	int err;

	if (dev->logging && (err = dev->device->ops->log_stop(dev->device)) != 0)
		log_warnx("device %s: stopping dirty tracking: %s", dev->name, strerror(-err));
	dev->logging = 0;
	free(dev->log_words);
	dev->log_words = NULL;
	dev->log_nwords = 0;
}

int
v2_dirty_bitmap(struct v2_dev *dev, uint64_t start_pfn, uint64_t npages, uint8_t *bitmap,
    uint64_t *dirty)
{
	size_t words = (size_t)((npages + 63) / 64);
	uint64_t i, w;
	int err;

	*dirty = 0;
	if (!dev->logging)
		return -ENOTSUP;
	if (words > dev->log_nwords) {
		dev->log_words = xrealloc(dev->log_words, words * sizeof(uint64_t));
		dev->log_nwords = words;
	}
	/* The device only sets bits: the caller clears. */
	memset(dev->log_words, 0, words * sizeof(uint64_t));
	if ((err = dev->device->ops->log_report(dev->device, start_pfn * dev->log_page_size,
	    npages * dev->log_page_size, dev->log_page_size, dev->log_words)) != 0) {
		/* The uAPI: after an error the log cannot be trusted. */
		log_warnx("device %s: dirty log report of pages [%" PRIu64 ", +%" PRIu64 "): %s; the "
			  "log is lost",
		    dev->name, start_pfn, npages, strerror(-err));
		return err;
	}
	for (i = 0; i < npages; i++) {
		w = dev->log_words[i / 64];
		if (!((w >> (i % 64)) & 1) || (bitmap[i / 8] & (1u << (i % 8))))
			continue;
		bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
		(*dirty)++;
	}
	return 0;
}
