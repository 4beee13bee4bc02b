/*
 * sim_v2.h: the software v2 device, a vendor driver of the VFIO v2
 * migration uAPI (v2_driver.h's struct v2_device).
 *
 * Its "hardware" is a software v1 device (sim_v1.c: the state image, the
 * workload, guest memory and its dirty log), which it drives through the
 * v1 driver as a real vendor driver drives its firmware. On top it
 * implements what a v2 kernel driver does:
 *
 *   - the v2 FSM, accepting exactly the single arcs the uAPI defines for
 *     the flags it offers (combination transitions are refused, so the
 *     daemon's arc planner is what the integration tests exercise);
 *   - a real data fd per session, fed (saving: a pipe) or drained
 *     (resuming: a socketpair) by a worker thread, with the usual blocking
 *     and end-of-stream behaviour, so the v2 driver reads and writes it as
 *     it would a kernel fd. Saving, the worker closes its end of the pipe
 *     at pre-copy's temporary end of stream (read() says 0) and opens a
 *     new one (through /proc/self/fd) when there is data again, so that
 *     "nothing for now" (0) and "still working" (EAGAIN) differ as
 *     ENOMSG and EAGAIN do on a kernel fd;
 *   - VFIO_MIG_GET_PRECOPY_INFO, the stop-copy size, DMA logging.
 *
 * Stream on the data fd, little-endian:
 *   header  u32 magic "SIM2", u32 version 1, u64 image size
 *   frames  u32 kind, u32 length, then length bytes:
 *           kind 1 RECORD: one record of the core's stream (sim_v1.c)
 *           kind 2 END:    length 0, the last frame (stop-copy only)
 * A resume that did not see END, or ends inside a frame, or carries a bad
 * record, fails the RESUMING -> STOP arc and leaves the device in ERROR.
 *
 * Threads: one worker per session. Every access to the core, from the
 * worker, the daemon's tick or a v2 call, holds the device's lock; the v2
 * calls themselves come from one thread at a time. Deviation from a
 * kernel device, documented in docs/HARDWARE.md: pre-copy's temporary end
 * of stream reads as 0, not ENOMSG (no pipe can say ENOMSG), and
 * the DMA log reports nothing outside the saving states (the core's bitmap
 * fields work only there); its first report after a start covers all of
 * guest memory, standing in for the VMM's first pass over RAM.
 */
#ifndef MIG_SIM_V2_H
#define MIG_SIM_V2_H

#include <stdint.h>

#include "sim_v1.h"
#include "v2_driver.h"

/*
 * Which kernel driver the device behaves as (docs/SIM_DEVICE.md):
 *   UAPI        the v2 uAPI as linux/vfio.h writes it, strictly;
 *   MLX5        drivers/vfio/pci/mlx5: an asynchronous SAVE on entering
 *               PRE_COPY (a header only, EAGAIN, then initial_bytes grows),
 *               MIG_DATA_SIZE the whole state, a slow RESUMING -> STOP;
 *   NO_PRECOPY  mlx5 before its firmware had pre-copy: STOP_COPY and P2P.
 */
enum sim_v2_model {
	SIM_V2_UAPI,
	SIM_V2_MLX5,
	SIM_V2_NO_PRECOPY,
};

/* MLX5: how long its SAVE takes, and RESUMING -> STOP without a
 * transition_delay_ms. */
#define SIM_V2_MLX5_SAVE_MS 100
#define SIM_V2_MLX5_RESUME_MS 2000

struct sim_v2_config {
	struct sim_v1_config core; /* state, workload, guest memory (sim_v1.h) */
	/* V2_MIG_* offered; must include STOP_COPY. 0: the model's own
	 * (STOP_COPY, P2P, and PRE_COPY but for NO_PRECOPY, which refuses it). */
	uint64_t flags;
	enum sim_v2_model model;
	/* Every state change blocks this long, like a slow firmware; 0 =
	 * none (MLX5: RESUMING -> STOP still takes SIM_V2_MLX5_RESUME_MS). */
	uint32_t transition_delay_ms;
	uint32_t save_ms; /* MLX5: its SAVE; 0 = SIM_V2_MLX5_SAVE_MS */
	/* Refuse every load (RESUMING -> STOP), like a driver that finds the
	 * image corrupt: for tests of a destination that cannot run it. */
	int fail_load;
};

/* "uapi", "mlx5", "no-precopy" (NULL = "uapi") to a model; -1 otherwise. */
int sim_v2_model_parse(const char *name);
const char *sim_v2_model_name(enum sim_v2_model model);

struct sim_v2;

/* Opens the core; device starts RUNNING. 0 or -errno (logged). */
int sim_v2_open(const struct sim_v2_config *cfg, struct sim_v2 **out);
/* Stops any session's worker, then closes the core. */
void sim_v2_close(struct sim_v2 *dev);

struct v2_device *sim_v2_device(struct sim_v2 *dev);

/* Advance the workload (sim_v1_tick) under the device's lock. */
void sim_v2_tick(struct sim_v2 *dev, uint64_t elapsed_ns);

uint32_t sim_v2_state(const struct sim_v2 *dev);
/* "sim-v2", and the core's compatibility string. */
const char *sim_v2_identity(const struct sim_v2 *dev);
const char *sim_v2_compat(const struct sim_v2 *dev);
const uint8_t *sim_v2_image(const struct sim_v2 *dev, uint64_t *size);
uint8_t *sim_v2_guest_memory(struct sim_v2 *dev, uint64_t *size);

/* Tests: the next SET_STATE from -> to fails with err, leaving the device
 * in ERROR when into_error, else where it was. */
void sim_v2_refuse(struct sim_v2 *dev, uint32_t from, uint32_t to, int err, int into_error);

#endif
