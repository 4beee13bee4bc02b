/*
 * backend_sim_v2.c: the `sim-v2` backend: the software v2 device (sim_v2.c)
 * driven through the v2 driver, exactly as a kernel v2 device is
 * (backend_vfio_v2.c's device_ops).
 *
 * It owns the device's workload clock, a 10 ms timer on the event loop,
 * like the sim backend; the device's data sessions run on their own
 * threads inside sim_v2.c.
 */
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "log.h"
#include "clock.h"
#include "device_worker.h"
#include "sim_v2.h"
#include "v2_driver.h"
#include "xmalloc.h"

#define SIM_V2_TICK_MS 10

struct sim_v2_backend {
	struct sim_v2 *sim;
	enum sim_v2_model model;
	struct event *tick;
	uint64_t last_tick_ns;
	struct mig_device *dev;
};

static void
sim_v2_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sim_v2_backend *b = arg;
	uint64_t now = mono_ns();

	/* The device's thread holds it (a state change, a read of its
	 * data): the guest's writes of this turn come with the next one. */
	if (device_worker_trylock(b->dev->worker) != 0)
		return;
	sim_v2_tick(b->sim, now - b->last_tick_ns);
	b->last_tick_ns = now;
	device_worker_unlock(b->dev->worker);
}

static void
sim_v2_backend_close(void *arg)
{
	struct sim_v2_backend *b = arg;

	event_free(b->tick);
	sim_v2_close(b->sim);
	free(b);
}

static void
sim_v2_backend_describe(void *arg, json_t *obj)
{
	struct sim_v2_backend *b = arg;

	json_object_set_new(obj, "interface", json_string("software v2 device (sim-v2)"));
	json_object_set_new(obj, "driver_model", json_string(sim_v2_model_name(b->model)));
}

int
sim_v2_backend_open(struct mig_device *dev, const struct mig_device_config *dc,
    struct event_base *base)
{
	struct sim_v2_backend *b = xcalloc(1, sizeof(*b));
	struct v2_backend_impl impl = {b, sim_v2_backend_close, sim_v2_backend_describe, 0, NULL,
	    NULL};
	struct timeval tv = {0, SIM_V2_TICK_MS * 1000};
	struct sim_v2_config sc;
	int model;

	memset(&sc, 0, sizeof(sc));
	sc.core.name = dc->name;
	sc.core.image = dc->image;
	sc.core.size = dc->size;
	sc.core.dirty_rate = dc->dirty_rate;
	sc.core.guest_memory = dc->guest_memory;
	sc.core.guest_memory_size = dc->guest_memory_size;
	sc.core.dma_dirty_rate = dc->dma_dirty_rate;
	sc.core.seed = dc->seed;
	sc.core.section_size = dc->section_size;
	sc.core.content = (enum sim_v1_content)dc->content;
	sc.core.zero_pages = dc->zero_pages;
	/* The model picks the flags it offers. */
	if ((model = sim_v2_model_parse(dc->driver_model)) < 0) {
		log_warnx("device %s: driver_model %s is not one of sim-v2's", dc->name,
		    dc->driver_model);
		free(b);
		return -1;
	}
	sc.model = b->model = (enum sim_v2_model)model;
	sc.transition_delay_ms = dc->transition_delay_ms;
	sc.fail_load = dc->fail_load != 0;
	if (sim_v2_open(&sc, &b->sim) != 0) {
		free(b);
		return -1;
	}
	b->dev = dev;
	b->tick = event_new(base, -1, EV_PERSIST, sim_v2_tick_cb, b);
	if (v2_backend_attach(dev, sim_v2_device(b->sim), &impl) != 0) {
		sim_v2_backend_close(b);
		return -1;
	}
	dev->backend = "sim-v2";
	snprintf(dev->identity, sizeof(dev->identity), "%s", sim_v2_identity(b->sim));
	snprintf(dev->compat, sizeof(dev->compat), "%s", sim_v2_compat(b->sim));
	dev->state_size = dc->size;
	dev->guest_memory = sim_v2_guest_memory(b->sim, &dev->guest_memory_size);
	dev->guest_page_size = SIM_V1_GUEST_PAGE;
	b->last_tick_ns = mono_ns();
	event_add(b->tick, &tv);
	return 0;
}
