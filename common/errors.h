/*
 * errors.h: the one list of error codes of vfio-migd.
 *
 * A code travels everywhere unchanged: in log lines, in ERROR frames on the
 * wire (its number), in API bodies and CLI output (its name). Numbers are
 * part of the wire protocol: never renumber, only append.
 */
#ifndef MIG_ERRORS_H
#define MIG_ERRORS_H

enum mig_err {
	MIG_OK = 0,

	/* Frame decoding (proto/). */
	MIG_E_TRUNCATED = 1,	 /* input ended inside a frame */
	MIG_E_FRAME_TOO_LARGE = 2, /* length above the protocol maximum */
	MIG_E_BAD_MAGIC = 3,
	MIG_E_BAD_VERSION = 4,
	MIG_E_UNKNOWN_TYPE = 5,
	MIG_E_MALFORMED = 6,	 /* a field is out of range or inconsistent */

	/* Protocol flow (engines). */
	MIG_E_UNEXPECTED_FRAME = 20, /* valid frame, wrong moment */
	MIG_E_BAD_SEQUENCE = 21,
	MIG_E_BAD_TOKEN = 22,
	MIG_E_TOKEN_EXPIRED = 23,
	MIG_E_UNKNOWN_DEVICE = 24,
	MIG_E_INCOMPATIBLE_DEVICE = 25,
	MIG_E_DEVICE_BUSY = 26,
	MIG_E_DIGEST_MISMATCH = 27,
	MIG_E_LENGTH_MISMATCH = 28,
	MIG_E_VERSION_MISMATCH = 29,
	MIG_E_NO_COMMON_DIGEST = 30, /* no END digest both daemons accept */
	MIG_E_BAD_COMPRESSED = 31,   /* a packed chunk is not the length it says */

	/* Device. */
	MIG_E_DEVICE_IO = 40,
	MIG_E_DEVICE_STATE = 41, /* a state transition the device refused */
	MIG_E_DEVICE_OPEN = 42,
	MIG_E_DEVICE_UNSUPPORTED = 43,
	MIG_E_NOT_VFIO_DEVICE = 44, /* a handed-over fd is not a VFIO device */
	MIG_E_NOT_VFIO_CONTAINER = 45, /* a handed-over container fd is not a type1 container */
	MIG_E_NO_DIRTY_TRACKING = 46,	/* a handed-over container or vfio-user server cannot log dirty pages */
	MIG_E_NO_P2P = 47, /* several devices in one migration, one without P2P */
	MIG_E_VFIO_USER_PROTOCOL = 48, /* a vfio-user server's reply broke the protocol */
	MIG_E_VFIO_USER_HUNG_UP = 49,  /* a vfio-user server closed its socket */
	MIG_E_VFIO_USER_TIMEOUT = 50,  /* a vfio-user server did not answer in time */

	/* Transport. */
	MIG_E_TLS = 60,
	MIG_E_PEER_UNTRUSTED = 61,
	MIG_E_CONNECTION_LOST = 62,
	MIG_E_TIMEOUT = 63,
	MIG_E_PEER_ERROR = 64,
	MIG_E_CONNECT = 65,

	/* Migration lifecycle. */
	MIG_E_CANCELLED = 80,
	MIG_E_NOT_CONVERGED = 81,
	MIG_E_HOOK_VETO = 82,
	MIG_E_DAEMON_RESTART = 83,
	MIG_E_SHUTDOWN = 84,
	MIG_E_OWNER_EXITED = 85, /* the VMM that handed the device over exited */
	MIG_E_JOURNAL = 86,	 /* state_dir cannot record the migration */

	/* Local requests and everything else. */
	MIG_E_BAD_REQUEST = 100,
	MIG_E_NOT_FOUND = 101,
	MIG_E_WRONG_STATE = 102,
	MIG_E_LIMIT = 103,
	MIG_E_CONFIG = 104,
	MIG_E_INTERNAL = 105,
	MIG_E_NOMEM = 106,
	MIG_E_DEVICE_EXISTS = 107,	/* a device of that name is there already */
	MIG_E_PERMISSION_DENIED = 108, /* the caller may not use this socket */
	MIG_E_REQUEST_TOO_LARGE = 109, /* a control request over a limit (413, 414, 431) */
	MIG_E_NOT_IMPLEMENTED = 110,	/* an HTTP method or version it does not speak */
};

/* Stable kebab-case name ("bad-token"), "unknown-error" for a number we do
 * not know (a newer peer may send one). */
const char *mig_err_name(int code);
/* One sentence an operator can act on. */
const char *mig_err_describe(int code);
/* 1 when code is a value of enum mig_err. */
int mig_err_known(int code);
/* The code of a name mig_err_name() gives; MIG_E_INTERNAL for others. */
int mig_err_from_name(const char *name);

#endif
