/*
 * fuzz_daemon.c: the daemon a fuzz target of the daemon's own inputs needs
 * around it (fuzz.h: fuzz_daemon_init()): the log quiet, a configuration
 * with one software device "sim0" (its image in a fresh directory under
 * /tmp), an event base, and that device opened. No state_dir: nothing is
 * written back.
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "config_file.h"
#include "daemon.h"
#include "device.h"
#include "fuzz.h"
#include "log.h"

struct mig_device *
fuzz_daemon_init(const char *name)
{
	char dir[64], text[512];
	struct mig_config *cfg;
	struct mig_device *dev;

	log_init(name, LOG_LEVEL_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/%s.XXXXXX", name);
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	snprintf(text, sizeof(text),
	    "[device sim0]\nbackend = sim\nsize = 64K\ndirty_rate = 0\nimage = %s/sim0.img\n", dir);
	FUZZ_CHECK(mig_config_load_string(text, "fuzz.conf", &cfg, NULL, 0) == 0);
	daemon_ctx.cfg = cfg;
	daemon_ctx.base = event_base_new();
	FUZZ_CHECK(daemon_ctx.base != NULL);
	FUZZ_CHECK(devices_open(cfg, daemon_ctx.base) == 0);
	dev = device_find("sim0");
	FUZZ_CHECK(dev != NULL);
	return dev;
}
