/*
 * ranges.h: the range of every value an operator or a client sets, written
 * once. The configuration file (config_file.c), the control API's request
 * bodies (daemon/control.c) and vfio-migctl's options check against these,
 * and docs/CONFIG.md, vfio-migd.conf(5), vfio-migctl(8) and docs/API.md
 * state the same numbers.
 *
 * Never: the limits of the wire format, which proto/frame.h owns. A range
 * here may be tighter than what the wire carries, never wider (control.c
 * checks that at compile time). Not named limits.h: with -I common, that
 * name would hide the C library's <limits.h> from every file.
 */
#ifndef MIG_RANGES_H
#define MIG_RANGES_H

#include <stdint.h>

#define MIG_KIB UINT64_C(1024)
#define MIG_MIB (1024 * MIG_KIB)
#define MIG_GIB (1024 * MIG_MIB)
#define MIG_TIB (1024 * MIG_GIB)

/* Names: a device, a group, in the API, the file and on the wire. */
#define MIG_DEVICE_NAME_MAX 63	/* characters of A-Z a-z 0-9 _ . - */
#define MIG_HOST_MAX 253	/* a DNS name; an IPv6 address and zone fit too */
/* "[" HOST "]:" PORT */
#define MIG_HOSTPORT_MAX (MIG_HOST_MAX + 8)
/* The one-time token `incoming` issues (64 hex digits today). */
#define MIG_TOKEN_LEN_MAX 128

/* [daemon] */
#define MIG_LISTEN_MAX 8
#define MIG_HOOK_TIMEOUT_MS_MIN 100
#define MIG_HOOK_TIMEOUT_MS_MAX 600000
#define MIG_KEEPALIVE_INTERVAL_MS_MIN 100
#define MIG_KEEPALIVE_INTERVAL_MS_MAX 600000
#define MIG_PEER_TIMEOUT_MS_MIN 200
#define MIG_PEER_TIMEOUT_MS_MAX 3600000
#define MIG_HANDSHAKE_TIMEOUT_MS_MIN 100
#define MIG_HANDSHAKE_TIMEOUT_MS_MAX 600000
/* [device] vfio_user_timeout_ms: how long a vfio-user server's reply may
 * take; vfio_user_write_max: the longest MIG_DATA_WRITE body (a server
 * that reads a body with one recv() gets longer ones torn; the default's
 * measurement is in docs/HARDWARE.md). */
#define MIG_VFIO_USER_TIMEOUT_MS_MIN 100
#define MIG_VFIO_USER_TIMEOUT_MS_MAX 600000
#define MIG_VFIO_USER_TIMEOUT_MS_DEFAULT 10000
/* The smallest max_data_xfer_size a server (or a VMM handing its socket
 * over) may have negotiated. */
#define MIG_VFIO_USER_XFER_MIN 256u
#define MIG_VFIO_USER_WRITE_MAX_MIN 512
#define MIG_VFIO_USER_WRITE_MAX_MAX (1u << 20)
#define MIG_VFIO_USER_WRITE_MAX_DEFAULT (32u * 1024u)
#define MIG_MAX_CONNECTIONS_MAX 4096
#define MIG_MAX_MIGRATIONS_MAX 1024
#define MIG_TOKEN_TTL_S_MIN 10
#define MIG_TOKEN_TTL_S_MAX 86400
#define MIG_MAX_WATCHERS_MAX 1024
/* A frame's payload: the largest chunk and its fixed fields must fit. */
#define MIG_MAX_FRAME_SIZE_MIN (64 * MIG_KIB)
#define MIG_MAX_FRAME_SIZE_MAX (16 * MIG_MIB + 64)
#define MIG_HISTORY_MAX 100000

/* [tls] */
#define MIG_ALLOWED_PEERS_MAX 64
#define MIG_PEER_NAME_MAX 255

/* [migration], and the same fields of POST /v1/migrations and of
 * `vfio-migctl migrate`. */
#define MIG_DOWNTIME_LIMIT_MS_MIN 1
#define MIG_DOWNTIME_LIMIT_MS_MAX 600000
/* Bytes/s, 0 = unlimited. Exact in a double, which the token bucket
 * computes in, and in a JSON integer. */
#define MIG_BANDWIDTH_MAX (UINT64_C(1) << 50)
#define MIG_PRECOPY_TIMEOUT_S_MIN 1
#define MIG_PRECOPY_TIMEOUT_S_MAX 86400
#define MIG_CHUNK_SIZE_MIN (4 * MIG_KIB)
#define MIG_CHUNK_SIZE_MAX (16 * MIG_MIB)
#define MIG_MIGRATION_CHANNELS_MIN 1
#define MIG_MIGRATION_CHANNELS_MAX 16

/* [device NAME] */
#define MIG_DEVICES_MAX 256
#define MIG_SIM_PAGE (4 * MIG_KIB)
#define MIG_SIM_SIZE_MIN MIG_SIM_PAGE
#define MIG_SIM_SIZE_MAX (64 * MIG_GIB)
#define MIG_GUEST_MEMORY_SIZE_MIN MIG_SIM_PAGE
#define MIG_GUEST_MEMORY_SIZE_MAX MIG_TIB
/* A record header and one page must fit in the data section. */
#define MIG_SECTION_SIZE_MIN (2 * MIG_SIM_PAGE)
#define MIG_SECTION_SIZE_MAX (64 * MIG_MIB)
/* dirty_rate, dma_dirty_rate: rate * elapsed nanoseconds must stay within
 * 64 bits in the software device's workload. */
#define MIG_SIM_DIRTY_RATE_MAX UINT64_C(16000000000)
/* transition_delay_ms: how long a software device blocks in a state
 * change (a slow firmware's load, a device that hangs a while). */
#define MIG_SIM_TRANSITION_DELAY_MS_MAX 60000

#endif
