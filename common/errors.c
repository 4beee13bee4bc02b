/*
 * errors.c: names and descriptions of the error codes in errors.h.
 */
#include "errors.h"

#include <stddef.h>
#include <string.h>

struct mig_err_info {
	int code;
	const char *name;
	const char *describe;
};

static const struct mig_err_info mig_err_table[] = {
	{MIG_OK, "ok", "no error"},
	{MIG_E_TRUNCATED, "truncated", "the input ended in the middle of a frame"},
	{MIG_E_FRAME_TOO_LARGE, "frame-too-large", "a frame is longer than the protocol allows"},
	{MIG_E_BAD_MAGIC, "bad-magic", "the peer does not speak the vfio-migd protocol"},
	{MIG_E_BAD_VERSION, "bad-version", "the frame carries a protocol version this daemon does not speak"},
	{MIG_E_UNKNOWN_TYPE, "unknown-frame-type", "the frame type is not defined by the protocol"},
	{MIG_E_MALFORMED, "malformed-frame", "a frame field is out of range or inconsistent with the frame length"},
	{MIG_E_UNEXPECTED_FRAME, "unexpected-frame", "a valid frame arrived at a moment the protocol does not allow it"},
	{MIG_E_BAD_SEQUENCE, "bad-sequence", "a chunk arrived out of sequence"},
	{MIG_E_BAD_TOKEN, "bad-token", "the migration token is not the one issued by the destination"},
	{MIG_E_TOKEN_EXPIRED, "token-expired", "the migration token has expired or was already used"},
	{MIG_E_UNKNOWN_DEVICE, "unknown-device", "no device of that name is configured on the destination"},
	{MIG_E_INCOMPATIBLE_DEVICE, "incompatible-device", "the destination device is not compatible with the source device"},
	{MIG_E_DEVICE_BUSY, "device-busy", "the device is already part of another migration"},
	{MIG_E_DIGEST_MISMATCH, "digest-mismatch", "the digest of the received device data does not match the sender's"},
	{MIG_E_LENGTH_MISMATCH, "length-mismatch", "the amount of device data received differs from what the sender announced"},
	{MIG_E_VERSION_MISMATCH, "version-mismatch", "the two daemons share no protocol version"},
	{MIG_E_BAD_COMPRESSED, "bad-compressed-data", "a compressed chunk of device data does not decompress to exactly the length its frame announces"},
	{MIG_E_NO_COMMON_DIGEST, "no-common-digest", "the two daemons accept no END digest in common ([migration] digest)"},
	{MIG_E_DEVICE_IO, "device-error", "the device failed a migration region or data access"},
	{MIG_E_DEVICE_STATE, "device-state", "the device refused a migration state change"},
	{MIG_E_DEVICE_OPEN, "device-open", "the device could not be opened"},
	{MIG_E_DEVICE_UNSUPPORTED, "device-unsupported", "the device does not support the requested migration feature"},
	{MIG_E_NOT_VFIO_DEVICE, "not-vfio-device", "the file descriptor handed over is not a VFIO device"},
	{MIG_E_NOT_VFIO_CONTAINER, "not-vfio-container", "the file descriptor handed over as the container is not a VFIO container with the type1v2 IOMMU"},
	{MIG_E_NO_DIRTY_TRACKING, "no-dirty-tracking", "the device handed over cannot log dirty pages (its VFIO container has no VFIO_IOMMU_DIRTY_PAGES, or its vfio-user server no DMA logging)"},
	{MIG_E_NO_P2P, "no-p2p", "a device of a migration of several devices has no P2P states: it could be stopped while another still sends it DMA (allow with unsafe_no_p2p)"},
	{MIG_E_VFIO_USER_PROTOCOL, "vfio-user-protocol", "the vfio-user device server sent a reply that breaks the protocol (wrong message id or command, short or oversized payload)"},
	{MIG_E_VFIO_USER_HUNG_UP, "vfio-user-hung-up", "the vfio-user device server closed its socket"},
	{MIG_E_VFIO_USER_TIMEOUT, "vfio-user-timeout", "the vfio-user device server did not answer within vfio_user_timeout_ms"},
	{MIG_E_TLS, "tls-error", "the TLS session failed"},
	{MIG_E_PEER_UNTRUSTED, "peer-untrusted", "the peer's certificate is not trusted or not allowed"},
	{MIG_E_CONNECTION_LOST, "connection-lost", "the connection to the peer was lost"},
	{MIG_E_TIMEOUT, "timeout", "the peer did not answer in time"},
	{MIG_E_PEER_ERROR, "peer-error", "the peer reported an error"},
	{MIG_E_CONNECT, "connect-failed", "could not connect to the peer"},
	{MIG_E_CANCELLED, "cancelled", "the migration was cancelled"},
	{MIG_E_NOT_CONVERGED, "not-converged", "pre-copy did not converge before precopy_timeout_s"},
	{MIG_E_HOOK_VETO, "hook-veto", "the orchestration hook vetoed the switchover"},
	{MIG_E_DAEMON_RESTART, "daemon-restart", "the daemon restarted while the migration was running"},
	{MIG_E_SHUTDOWN, "shutdown", "the daemon is shutting down"},
	{MIG_E_OWNER_EXITED, "owner-exited", "the process that handed the device over exited"},
	{MIG_E_JOURNAL, "journal-unavailable", "state_dir cannot record the migration (full, read-only or failing): it does not start"},
	{MIG_E_BAD_REQUEST, "bad-request", "the request is malformed"},
	{MIG_E_NOT_FOUND, "not-found", "no such object"},
	{MIG_E_WRONG_STATE, "wrong-state", "the object is not in a state that allows this request"},
	{MIG_E_LIMIT, "limit-reached", "a configured resource limit was reached"},
	{MIG_E_CONFIG, "config-error", "the configuration is invalid"},
	{MIG_E_INTERNAL, "internal-error", "an internal error occurred"},
	{MIG_E_NOMEM, "out-of-memory", "memory could not be allocated"},
	{MIG_E_DEVICE_EXISTS, "device-exists", "a device of that name exists already (configured or handed over)"},
	{MIG_E_PERMISSION_DENIED, "permission-denied", "the caller is not allowed to use this socket"},
	{MIG_E_REQUEST_TOO_LARGE, "request-too-large", "the request is larger than the control API accepts (body, target or headers)"},
	{MIG_E_NOT_IMPLEMENTED, "not-implemented", "the control API does not implement this method or HTTP version"},
};

static const struct mig_err_info *
mig_err_lookup(int code)
{
	size_t i;

	for (i = 0; i < sizeof(mig_err_table) / sizeof(mig_err_table[0]); i++)
		if (mig_err_table[i].code == code)
			return &mig_err_table[i];
	return NULL;
}

const char *
mig_err_name(int code)
{
	const struct mig_err_info *e = mig_err_lookup(code);

	return e != NULL ? e->name : "unknown-error";
}

const char *
mig_err_describe(int code)
{
	const struct mig_err_info *e = mig_err_lookup(code);

	return e != NULL ? e->describe : "an error this daemon does not know";
}

int
mig_err_known(int code)
{
	return mig_err_lookup(code) != NULL;
}

int
mig_err_from_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(mig_err_table) / sizeof(mig_err_table[0]); i++)
		if (strcmp(mig_err_table[i].name, name) == 0)
			return mig_err_table[i].code;
	return MIG_E_INTERNAL;
}
