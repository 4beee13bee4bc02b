/*
 * device.c: the registry of devices, configured and handed over, and
 * their JSON view.
 */
#include "device.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "device_worker.h"
#include "log.h"
#include "xmalloc.h"

static struct mig_device **devices;
static size_t ndevices, devices_cap;

/* What a removed device answers: its backend is closed, and only a
 * finished migration's JSON still names it. */
static int
detached_fail(struct mig_device *dev)
{
	return -ENODEV;
}

static int
detached_save_begin(struct mig_device *dev, int precopy)
{
	return -ENODEV;
}

static int
detached_size(struct mig_device *dev, uint64_t *bytes)
{
	return -ENODEV;
}

static int
detached_read(struct mig_device *dev, uint64_t off, void *buf, size_t len)
{
	return -ENODEV;
}

static int
detached_write(struct mig_device *dev, const void *buf, size_t len)
{
	return -ENODEV;
}

static const char *
detached_state_name(struct mig_device *dev)
{
	return "detached";
}

static void
detached_close(struct mig_device *dev)
{
}

static const struct device_ops detached_ops = {
	.save_begin = detached_save_begin,
	.save_stop = detached_fail,
	.pending = detached_size,
	.save_next = detached_size,
	.save_read = detached_read,
	.save_end = detached_fail,
	.rollback = detached_fail,
	.resume_begin = detached_fail,
	.resume_write = detached_write,
	.resume_commit = detached_fail,
	.resume_end = detached_fail,
	.reset = detached_fail,
	.state_name = detached_state_name,
	.close = detached_close,
};

static void
device_free(struct mig_device *dev)
{
	free(dev->name);
	free(dev);
}

int
device_add(struct mig_device *dev, struct event_base *base)
{
	if (dev->worker == NULL && (dev->worker = device_worker_start(dev, base)) == NULL) {
		log_warn("device %s: cannot start its thread", dev->name);
		return -1;
	}
	if (ndevices == devices_cap) {
		devices_cap = devices_cap == 0 ? 8 : devices_cap * 2;
		devices = xrealloc(devices, devices_cap * sizeof(*devices));
	}
	devices[ndevices++] = dev;
	dev->refs++;
	return 0;
}

void
device_remove(struct mig_device *dev)
{
	size_t i;

	for (i = 0; i < ndevices && devices[i] != dev; i++)
		;
	if (i == ndevices)
		return;
	memmove(&devices[i], &devices[i + 1], (ndevices - i - 1) * sizeof(*devices));
	ndevices--;
	device_worker_stop(dev->worker);
	dev->worker = NULL; /* close runs on the loop, alone now */
	dev->ops->close(dev);
	dev->ops = &detached_ops;
	dev->priv = NULL;
	dev->removed = 1;
	device_release(dev);
}

struct mig_device *
device_placeholder(const char *name, enum device_origin origin)
{
	struct mig_device *dev = xcalloc(1, sizeof(*dev));

	dev->name = xstrdup(name);
	dev->backend = "none";
	dev->ops = &detached_ops;
	dev->origin = origin;
	dev->removed = 1;
	return dev;
}

void
device_hold(struct mig_device *dev)
{
	dev->refs++;
}

void
device_release(struct mig_device *dev)
{
	/* A device never in the registry (a unit test's) is its owner's. */
	if (dev->refs > 0 && --dev->refs == 0 && dev->removed)
		device_free(dev);
}

int
devices_open(const struct mig_config *cfg, struct event_base *base)
{
	size_t i;

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
		case MIG_BACKEND_VFIO_USER:
			rc = vfio_user_backend_open(dev, dc);
			break;
		default:
			log_warnx("device %s: backend not supported by this build yet", dc->name);
			rc = -1;
			break;
		}
		if (rc != 0) {
			device_free(dev);
			return -1;
		}
		dev->origin = DEVICE_CONFIG;
		if (device_add(dev, base) != 0) {
			dev->ops->close(dev);
			device_free(dev);
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
	while (ndevices > 0)
		device_remove(devices[ndevices - 1]);
	free(devices);
	devices = NULL;
	devices_cap = 0;
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
	    dev->guest_memory != NULL);
	json_t *obj, *extra;

	obj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:I, s:I}", "name", dev->name,
	    "backend", dev->backend, "state", dev->ops->state_name(dev), "identity",
	    dev->identity, "compat", dev->compat, "busy", dev->busy != NULL, "migration",
	    busy_id != NULL ? json_string(busy_id) : json_null(), "capabilities", caps,
	    "state_size", (json_int_t)dev->state_size, "guest_memory_size",
	    (json_int_t)dev->guest_memory_size);
	if (obj != NULL) {
		json_object_set_new(obj, "origin",
		    json_string(dev->origin == DEVICE_HANDOVER ? "handover" : "config"));
		json_object_set_new(obj, "owner_pid", dev->origin == DEVICE_HANDOVER
			? json_integer(dev->owner_pid) : json_null());
		if (dev->origin == DEVICE_HANDOVER)
			json_object_set_new(obj, "final_state",
			    json_string(dev->final_stopped ? "stopped" : "running"));
	}
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

int
device_error_code(struct mig_device *dev, int fallback)
{
	int code;

	if (dev->ops == NULL || dev->ops->error_code == NULL)
		return fallback;
	code = dev->ops->error_code(dev);
	return code != 0 ? code : fallback;
}
