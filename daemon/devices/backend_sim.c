/*
 * backend_sim.c: the `sim` backend: a software v1 device (sim_v1.c) driven
 * through the v1 protocol driver, exactly as a kernel v1 device would be.
 *
 * It also owns the device's workload clock: a 10 ms timer on the event
 * loop calls sim_v1_tick() with the time that really passed. The config's
 * driver_model picks which real driver the device behaves as (released-v1
 * unless it says lenient).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend_v1.h"
#include "device.h"
#include "log.h"
#include "clock.h"
#include "device_worker.h"
#include "sim_v1.h"
#include "v1_driver.h"
#include "xmalloc.h"

#define SIM_TICK_MS 10

struct sim_backend {
	struct v1_dev v1; /* first: backend_v1.c's calls find it here */
	struct sim_v1 *sim;
	enum sim_v1_model model;
	struct event *tick;
	uint64_t last_tick_ns;
	struct mig_device *dev;
};

static struct sim_backend *
sb(struct mig_device *dev)
{
	return dev->priv;
}

static void
sim_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sim_backend *s = arg;
	uint64_t now = mono_ns();

	/* The device's thread holds it (a state change, a read of its
	 * data): the guest's writes of this turn come with the next one. */
	if (device_worker_trylock(s->dev->worker) != 0)
		return;
	sim_v1_tick(s->sim, now - s->last_tick_ns);
	s->last_tick_ns = now;
	device_worker_unlock(s->dev->worker);
}

static const char *
sim_state_name(struct mig_device *dev)
{
	return v1_state_name(sim_v1_state(sb(dev)->sim));
}

/* Which real driver the device plays, and where its section lies. */
static json_t *
sim_describe(struct mig_device *dev)
{
	struct sim_backend *s = sb(dev);

	return json_pack("{s:s, s:s, s:{s:I, s:I, s:s}}", "interface",
	    "software v1 device (sim)", "driver_model", sim_v1_model_name(s->model),
	    "migration_region", "size", (json_int_t)s->v1.region->size, "data_offset",
	    (json_int_t)s->v1.data_offset, "access", s->v1.data_map != NULL ? "mmap" : "trapped");
}

static void
sim_close(struct mig_device *dev)
{
	struct sim_backend *s = sb(dev);

	event_free(s->tick);
	v1_detach(&s->v1);
	sim_v1_close(s->sim);
	free(s);
}

static const struct device_ops sim_ops = {
	V1_BACKEND_OPS,
	.state_name = sim_state_name,
	.close = sim_close,
	.describe = sim_describe,
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
	sc.transition_delay_ms = dc->transition_delay_ms;
	sc.content = (enum sim_v1_content)dc->content;
	sc.zero_pages = dc->zero_pages;
	/* The config has checked the name already. */
	if (sim_v1_model_parse(dc->driver_model, &sc.model) != 0) {
		log_warnx("device %s: unknown driver_model %s", dc->name, dc->driver_model);
		goto fail;
	}
	if (sim_v1_open(&sc, &s->sim) != 0)
		goto fail;
	log_info("device %s: software v1 device, driver model %s", dc->name,
	    sim_v1_model_name(sc.model));
	s->model = sc.model;
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
	s->last_tick_ns = mono_ns();
	s->dev = dev;
	s->tick = event_new(base, -1, EV_PERSIST, sim_tick_cb, s);
	event_add(s->tick, &tv);
	return 0;
fail:
	free(s);
	return -1;
}
