/*
 * device.c: the registry of configured devices and their JSON view.
 */
#include "device.h"

#include <stdlib.h>
#include <string.h>

#include "device_worker.h"
#include "log.h"
#include "xmalloc.h"

static struct mig_device **devices;
static size_t ndevices;

int
devices_open(const struct mig_config *cfg, struct event_base *base)
{
	size_t i;

	devices = xcalloc(cfg->ndevices, sizeof(*devices));
	for (i = 0; i < cfg->ndevices; i++) {
		const struct mig_device_config *dc = &cfg->devices[i];
		struct mig_device *dev = xcalloc(1, sizeof(*dev));
		int rc;

		dev->name = xstrdup(dc->name);
		switch (dc->backend) {
		case MIG_BACKEND_SIM:
			rc = sim_backend_open(dev, dc, base);
			break;
		case MIG_BACKEND_SIM_V2:
			rc = sim_v2_backend_open(dev, dc, base);
			break;
		case MIG_BACKEND_VFIO_V1:
			rc = vfio_v1_backend_open(dev, dc);
			break;
		case MIG_BACKEND_VFIO_V2:
			rc = vfio_v2_backend_open(dev, dc);
			break;
		default:
			log_warnx("device %s: backend not supported by this build yet", dc->name);
			rc = -1;
			break;
		}
		if (rc != 0) {
			free(dev->name);
			free(dev);
			return -1;
		}
		devices[ndevices++] = dev;
		if ((dev->worker = device_worker_start(dev, base)) == NULL) {
			log_warn("device %s: cannot start its thread", dev->name);
			return -1;
		}
		log_info("device %s: %s backend ready (%s, %s)", dev->name, dev->backend,
		    dev->identity, dev->compat);
	}
	return 0;
}

void
devices_close(void)
{
	size_t i;

	for (i = 0; i < ndevices; i++) {
		if (devices[i]->worker != NULL)
			device_worker_stop(devices[i]->worker);
		devices[i]->worker = NULL; /* close runs on the loop, alone now */
		devices[i]->ops->close(devices[i]);
		free(devices[i]->name);
		free(devices[i]);
	}
	free(devices);
	devices = NULL;
	ndevices = 0;
}

void
devices_settle(void)
{
	size_t i;

	for (i = 0; i < ndevices; i++)
		if (devices[i]->worker != NULL)
			device_worker_settle(devices[i]->worker);
}

struct mig_device *
device_find(const char *name)
{
	size_t i;

	for (i = 0; i < ndevices; i++)
		if (strcmp(devices[i]->name, name) == 0)
			return devices[i];
	return NULL;
}

size_t
device_count(void)
{
	return ndevices;
}

struct mig_device *
device_at(size_t i)
{
	return i < ndevices ? devices[i] : NULL;
}

json_t *
device_to_json(struct mig_device *dev, const char *busy_id)
{
	json_t *caps = json_pack("{s:b, s:b, s:b, s:b}", "precopy", 1, "stopcopy", 1,
	    "dirty_tracking", dev->guest_memory_size > 0, "page_contents",
	    dev->guest_memory_size > 0);
	json_t *obj, *extra;

	obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:I, s:I}", "name", dev->name,
	    "backend", dev->backend, "state", dev->ops->state_name(dev), "identity",
	    dev->identity, "compat", dev->compat, "busy", dev->busy != NULL, "migration",
	    busy_id != NULL ? json_string(busy_id) : json_null(), "capabilities", caps,
	    "state_size", (json_int_t)dev->state_size, "guest_memory_size",
	    (json_int_t)dev->guest_memory_size);
	if (obj != NULL)
		json_object_set_new(obj, "switchover_extra_ms",
		    dev->switchover_extra_known ? json_integer((json_int_t)dev->switchover_extra_ms)
						: json_null());
	if (obj != NULL && dev->ops->describe != NULL && (extra = dev->ops->describe(dev)) != NULL) {
		json_object_update(obj, extra);
		json_decref(extra);
	}
	return obj;
}
