/*
 * backend_sim.c: the `sim` backend: a software v1 device (sim_v1.c) driven
 * through the v1 protocol driver, exactly as a kernel v1 device would be.
 *
 * It also owns the device's workload clock: a 10 ms timer on the event
 * loop calls sim_v1_tick() with the time that really passed.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "log.h"
#include "sim_v1.h"
#include "v1_driver.h"
#include "xmalloc.h"

#define SIM_TICK_MS 10

struct sim_backend {
	struct sim_v1 *sim;
	struct v1_dev v1;
	struct event *tick;
	uint64_t last_tick_ns;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct sim_backend *
sb(struct mig_device *dev)
{
	return dev->priv;
}

static void
sim_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sim_backend *s = arg;
	uint64_t now = now_ns();

	sim_v1_tick(s->sim, now - s->last_tick_ns);
	s->last_tick_ns = now;
}

static int
sim_save_begin(struct mig_device *dev, int precopy)
{
	return precopy ? v1_start_precopy(&sb(dev)->v1) : v1_start_stopcopy(&sb(dev)->v1);
}

static int
sim_save_stop(struct mig_device *dev)
{
	return v1_start_stopcopy(&sb(dev)->v1);
}

static int
sim_pending(struct mig_device *dev, uint64_t *bytes)
{
	return v1_pending_bytes(&sb(dev)->v1, bytes);
}

static int
sim_save_next(struct mig_device *dev, uint64_t *size)
{
	return v1_save_next(&sb(dev)->v1, size);
}

static int
sim_save_read(struct mig_device *dev, uint64_t off, void *buf, size_t len)
{
	return v1_save_read(&sb(dev)->v1, off, buf, len);
}

static const uint8_t *
sim_save_mapped(struct mig_device *dev)
{
	return v1_save_mapped(&sb(dev)->v1);
}

static int
sim_save_end(struct mig_device *dev)
{
	return v1_finish_save(&sb(dev)->v1);
}

static int
sim_rollback(struct mig_device *dev)
{
	return v1_rollback(&sb(dev)->v1);
}

static int
sim_resume_begin(struct mig_device *dev)
{
	return v1_start_resume(&sb(dev)->v1);
}

static int
sim_resume_write(struct mig_device *dev, const void *buf, size_t len)
{
	return v1_resume_write(&sb(dev)->v1, buf, len);
}

static int
sim_resume_commit(struct mig_device *dev)
{
	return v1_resume_commit(&sb(dev)->v1);
}

static int
sim_resume_end(struct mig_device *dev)
{
	return v1_finish_resume(&sb(dev)->v1);
}

static int
sim_reset(struct mig_device *dev)
{
	return v1_reset(&sb(dev)->v1);
}

static int
sim_dirty_bitmap(struct mig_device *dev, uint64_t start_pfn, uint64_t npages, uint8_t *bitmap,
    uint64_t *dirty)
{
	return v1_dirty_bitmap(&sb(dev)->v1, start_pfn, dev->guest_page_size, npages, bitmap, dirty);
}

static const char *
sim_state_name(struct mig_device *dev)
{
	return v1_state_name(sim_v1_state(sb(dev)->sim));
}

static void
sim_close(struct mig_device *dev)
{
	struct sim_backend *s = sb(dev);

	event_free(s->tick);
	sim_v1_close(s->sim);
	free(s);
}

static const struct device_ops sim_ops = {
	.save_begin = sim_save_begin,
	.save_stop = sim_save_stop,
	.pending = sim_pending,
	.save_next = sim_save_next,
	.save_read = sim_save_read,
	.save_mapped = sim_save_mapped,
	.save_end = sim_save_end,
	.rollback = sim_rollback,
	.resume_begin = sim_resume_begin,
	.resume_write = sim_resume_write,
	.resume_commit = sim_resume_commit,
	.resume_end = sim_resume_end,
	.reset = sim_reset,
	.dirty_bitmap = sim_dirty_bitmap,
	.state_name = sim_state_name,
	.close = sim_close,
};

int
sim_backend_open(struct mig_device *dev, const struct mig_device_config *dc,
    struct event_base *base)
{
	struct sim_backend *s = xcalloc(1, sizeof(*s));
	struct sim_v1_config sc;
	struct timeval tv = {0, SIM_TICK_MS * 1000};

	memset(&sc, 0, sizeof(sc));
	sc.name = dc->name;
	sc.image = dc->image;
	sc.size = dc->size;
	sc.dirty_rate = dc->dirty_rate;
	sc.guest_memory = dc->guest_memory;
	sc.guest_memory_size = dc->guest_memory_size;
	sc.dma_dirty_rate = dc->dma_dirty_rate;
	sc.seed = dc->seed;
	sc.section_size = dc->section_size;
	if (sim_v1_open(&sc, &s->sim) != 0)
		goto fail;
	if (v1_attach(&s->v1, sim_v1_region(s->sim), dev->name) != 0) {
		sim_v1_close(s->sim);
		goto fail;
	}
	dev->backend = "sim";
	dev->ops = &sim_ops;
	dev->priv = s;
	snprintf(dev->identity, sizeof(dev->identity), "%s", sim_v1_identity(s->sim));
	snprintf(dev->compat, sizeof(dev->compat), "%s", sim_v1_compat(s->sim));
	dev->state_size = dc->size;
	dev->guest_memory = sim_v1_guest_memory(s->sim, &dev->guest_memory_size);
	dev->guest_page_size = SIM_V1_GUEST_PAGE;
	s->last_tick_ns = now_ns();
	s->tick = event_new(base, -1, EV_PERSIST, sim_tick_cb, s);
	event_add(s->tick, &tv);
	return 0;
fail:
	free(s);
	return -1;
}
