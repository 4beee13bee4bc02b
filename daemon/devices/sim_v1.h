/*
 * sim_v1.h: the software device, a vendor driver of the v1 migration KABI.
 *
 * It owns a device state file (`image`, `size` bytes, mapped shared so that
 * sha256sum sees what the device holds) and, optionally, a guest-memory file
 * it "DMAs" into. It exposes a v1 migration region (struct mig_region) that
 * behaves as kabi_v1.h says; it never knows who drives it.
 *
 * Region layout: [0, 64) struct vfio_device_migration_info, trapped; then
 * the data section, mappable from SIM_V1_DATA_OFFSET, or trapped only from
 * SIM_V1_TRAPPED_DATA_OFFSET (not page aligned) when the configuration asks.
 * The lenient model has one buffer of section_size bytes there; the
 * released-v1 model two, used in turn, so that data_offset moves between
 * buffers. The data stream it produces in SAVING and consumes in RESUMING
 * is the device's own (see sim_v1.c); only a sim device can read it.
 *
 * The workload is driven by sim_v1_tick(): the daemon calls it from a timer
 * on its event loop (single-threaded, no locks); tests call it directly,
 * which keeps every test deterministic.
 */
#ifndef MIG_SIM_V1_H
#define MIG_SIM_V1_H

#include <stddef.h>
#include <stdint.h>

#include "region.h"

#define SIM_V1_DATA_OFFSET 4096u
#define SIM_V1_STATE_PAGE 4096u	 /* dirty-tracking granule of the device state */
#define SIM_V1_GUEST_PAGE 4096u	 /* page size of guest memory and its bitmap */
#define SIM_V1_SECTION_DEFAULT (1u << 20)
/* Where a trapped-only data section starts: past the fields, deliberately
 * not page aligned (a released driver may put it anywhere when it offers
 * no mmap of it). */
#define SIM_V1_TRAPPED_DATA_OFFSET 1000u
/* device_state bits 3-31 as the released-v1 model holds them: reserved, and
 * kept by a driver that writes the state read-modify-write. */
#define SIM_V1_RESERVED_BITS 0x80000008u

/*
 * Which real driver the device behaves as (docs/SIM_DEVICE.md, "Driver
 * models"). The zero value is the lenient device, which callers that
 * predate the models (sim-v2's core) keep; the daemon's `sim` backend
 * defaults to released-v1.
 */
enum sim_v1_model {
	SIM_V1_LENIENT = 0, /* forgiving: one buffer, a fixed data_offset */
	SIM_V1_RELEASED,    /* a released (Linux 5.8-5.17) v1 vendor driver, strictly */
};

enum sim_v1_content {
	SIM_V1_CONTENT_RANDOM = 0,
	SIM_V1_CONTENT_TEXT = 1,
};

struct sim_v1_config {
	const char *name;	     /* for log lines */
	const char *image;	     /* path of the state file (created/extended to size) */
	uint64_t size;		     /* bytes, multiple of SIM_V1_STATE_PAGE, > 0 */
	uint64_t dirty_rate;	     /* bytes/s written by the workload while RUNNING */
	const char *guest_memory;    /* optional, NULL for none */
	uint64_t guest_memory_size;  /* multiple of SIM_V1_GUEST_PAGE */
	uint64_t dma_dirty_rate;     /* bytes/s DMA'd into guest memory while RUNNING */
	uint64_t seed;		     /* workload seed: same seed, same writes */
	uint32_t section_size;	     /* data section bytes, multiple of 4096, 0 = default */
	enum sim_v1_model model;
	int trapped;		     /* data section not mappable, at a non-aligned offset */
	uint32_t transition_delay_ms; /* every device_state change blocks this long */
	/* What its pages hold (docs/SIM_DEVICE.md, "Content"), so that a
	 * bench can choose how well they compress: zero_pages percent of the
	 * pages are zeros and stay zeros (the workload writes zeros there),
	 * the others random bytes or text-like words. */
	enum sim_v1_content content;
	uint32_t zero_pages; /* 0..100 */
};

struct sim_v1;

/* Opens (creating if needed) the image and guest memory files. A new image
 * is filled from the seed so two fresh devices differ. Returns 0 or -errno,
 * with a log line naming the file and the step. Device starts RUNNING. */
int sim_v1_open(const struct sim_v1_config *cfg, struct sim_v1 **out);
void sim_v1_close(struct sim_v1 *dev);

/* The device's v1 migration region. */
struct mig_region *sim_v1_region(struct sim_v1 *dev);

/* Advance the workload by elapsed_ns: while RUNNING (including
 * SAVING|RUNNING) write dirty_rate * elapsed bytes of state and DMA
 * dma_dirty_rate * elapsed bytes into guest memory, marking what changed. */
void sim_v1_tick(struct sim_v1 *dev, uint64_t elapsed_ns);

/* Current device_state bits (0-2), for reporting without going through the
 * region. */
uint32_t sim_v1_state(const struct sim_v1 *dev);

/* The model named by a config's driver_model (NULL: the default,
 * released-v1); -EINVAL for a name no model has. */
int sim_v1_model_parse(const char *name, enum sim_v1_model *model);
const char *sim_v1_model_name(enum sim_v1_model model);

/* How many times the released-v1 model caught its driver outside the v1
 * sequence (each logged once, and refused where the device can refuse). */
uint64_t sim_v1_violations(const struct sim_v1 *dev);

/* Identity and compatibility string the migration handshake compares:
 * identity "sim-v1", compat "size=<bytes>,section=<bytes>,guest=<bytes>". */
const char *sim_v1_identity(const struct sim_v1 *dev);
const char *sim_v1_compat(const struct sim_v1 *dev);

/* Direct views for tests and the daemon's verification (not for the driver). */
const uint8_t *sim_v1_image(const struct sim_v1 *dev, uint64_t *size);
uint8_t *sim_v1_guest_memory(struct sim_v1 *dev, uint64_t *size);

#endif
