/*
 * v2_fsm.h: the device state machine of the VFIO v2 migration uAPI, and the
 * planner that turns "go from A to B" into single FSM arcs.
 *
 * The states and flags carry the uAPI's values (enum vfio_device_mig_state,
 * VFIO_MIGRATION_*; backend_vfio_v2.c asserts they match) under names of
 * their own, so that code which also speaks the v1 KABI (kabi_v1.h reuses
 * VFIO_DEVICE_STATE_RUNNING with another value) can use them.
 *
 * Pure: no I/O, no logging, no state. The v2 driver plans every transition
 * here and sets one arc at a time, so a refusal names the exact arc; the
 * software v2 device accepts only the single arcs v2_fsm_arc() allows.
 */
#ifndef MIG_V2_FSM_H
#define MIG_V2_FSM_H

#include <stddef.h>
#include <stdint.h>

enum v2_state {
	V2_STATE_ERROR = 0,
	V2_STATE_STOP = 1,
	V2_STATE_RUNNING = 2,
	V2_STATE_STOP_COPY = 3,
	V2_STATE_RESUMING = 4,
	V2_STATE_RUNNING_P2P = 5,
	V2_STATE_PRE_COPY = 6,
	V2_STATE_PRE_COPY_P2P = 7,
	V2_STATE_COUNT
};

/* VFIO_DEVICE_FEATURE_MIGRATION flags. */
#define V2_MIG_STOP_COPY (1u << 0)
#define V2_MIG_P2P (1u << 1)
#define V2_MIG_PRE_COPY (1u << 2)

/* Longest plan: RESUMING -> STOP -> RUNNING_P2P -> RUNNING -> PRE_COPY. */
#define V2_FSM_MAX_STEPS 4

/* "running", "stopped", "stop-copy", "resuming", "running-p2p", "pre-copy",
 * "pre-copy-p2p", "error"; "invalid" for anything else. */
const char *v2_state_name(uint32_t state);

/* Can SET_STATE name this state on a device with these flags? (RUNNING and
 * the STOP_COPY states need VFIO_MIGRATION_STOP_COPY; ERROR never.) */
int v2_state_supported(uint32_t state, uint64_t flags);

/* Is from -> to one of the arcs the uAPI defines for these flags? */
int v2_fsm_arc(uint32_t from, uint32_t to, uint64_t flags);

/* PRE_COPY, PRE_COPY_P2P and STOP_COPY share one data transfer session. */
int v2_state_is_saving(uint32_t state);

/*
 * The arcs from `from` to `to`, as the uAPI selects them: the shortest
 * path whose interior has no state of the saving group, except that a path
 * from one saving state to another stays inside the group. Writes the
 * states to set, in order, ending with `to`, into path[0..n) and returns n
 * (0 when from == to); -EINVAL when `to` cannot be reached (a state the
 * flags do not offer, ERROR at either end, STOP_COPY -> PRE_COPY*), or
 * -ENOSPC when max is too small.
 */
int v2_fsm_plan(uint32_t from, uint32_t to, uint64_t flags, uint32_t *path, size_t max);

#endif
