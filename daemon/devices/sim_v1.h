/*
 * sim_v1.h: the software device, a vendor driver of the v1 migration KABI.
 *
 * It owns a device state file (`image`, `size` bytes, mapped shared so that
 * sha256sum sees what the device holds) and, optionally, a guest-memory file
 * it "DMAs" into. It exposes a v1 migration region (struct mig_region) that
 * behaves as kabi_v1.h says; it never knows who drives it.
 *
 * Region layout: [0, 64) struct vfio_device_migration_info, trapped;
 * [SIM_V1_DATA_OFFSET, SIM_V1_DATA_OFFSET + section_size) the data section,
 * mappable. The data stream it produces in SAVING and consumes in RESUMING
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

/* Current device_state bits, for reporting without going through the region. */
uint32_t sim_v1_state(const struct sim_v1 *dev);

/* Identity and compatibility string the migration handshake compares:
 * identity "sim-v1", compat "size=<bytes>,section=<bytes>,guest=<bytes>". */
const char *sim_v1_identity(const struct sim_v1 *dev);
const char *sim_v1_compat(const struct sim_v1 *dev);

/* Direct views for tests and the daemon's verification (not for the driver). */
const uint8_t *sim_v1_image(const struct sim_v1 *dev, uint64_t *size);
uint8_t *sim_v1_guest_memory(struct sim_v1 *dev, uint64_t *size);

#endif
