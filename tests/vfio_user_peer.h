/*
 * vfio_user_peer.h: a scripted vfio-user server for unit tests, in a
 * thread on the other end of a socketpair (test_vfio_user.c,
 * test_handover.c). Written from the protocol text for the tests only: the
 * integration tests' server is tests/vfio_user_server.c.
 *
 * As strict as libvfio-user: a header with one recv(), a body with one
 * more; a body that has not fully arrived is counted (short_reads) and
 * ends the session. It serves a small v2 device (flags, one arc per SET
 * in its own FSM without P2P, a stream readable in PRE_COPY up to
 * precopy_avail and to its end in STOP_COPY, written back in RESUMING;
 * DMA logging when has_logging: START recorded, each REPORT recorded and
 * answered with the dirty IOVAs it covers, STOP) and breaks the nth reply
 * of one command on demand.
 */
#ifndef MIG_TEST_VFIO_USER_PEER_H
#define MIG_TEST_VFIO_USER_PEER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

enum peer_fault {
	PF_NONE,
	PF_WRONG_ID,
	PF_WRONG_COMMAND,
	PF_NOT_REPLY,
	PF_SHORT,
	PF_OVERSIZED,
	PF_ERROR,
	PF_ERROR_NO_ERRNO,
	PF_ERROR_WITH_PAYLOAD,
	PF_HANG_UP,
	PF_STALL,
	PF_STALL_MID,	/* the header and half the payload, then nothing */
	PF_HANG_UP_MID, /* the header and half the payload, then the end */
	PF_WRONG_FEATURE,
	PF_READ_TOO_MUCH,
};

#define PEER_LOG_MAX 16

struct hdr {
	uint16_t id, command;
	uint32_t size, flags, error;
};

struct peer {
	int fd;
	pthread_t thread;
	/* The device. */
	uint64_t flags;
	uint32_t state;
	const uint8_t *src;
	size_t src_len, src_off;
	size_t precopy_avail; /* of src, readable in PRE_COPY */
	uint8_t *dst;
	size_t dst_len;
	int has_data_size;
	int pad_reads; /* MIG_DATA_READ replies padded to the size asked (libvfio-user) */
	/* DMA logging, offered when has_logging: START's page size and ranges
	 * as asked (answered with log_page_reply if set), dirty[] the IOVAs
	 * every REPORT over them says written, each REPORT asked recorded. */
	int has_logging, logging;
	uint64_t log_page_size, log_page_reply;
	uint32_t log_nranges;
	uint64_t log_ranges[PEER_LOG_MAX][2];
	uint64_t dirty[PEER_LOG_MAX];
	size_t ndirty;
	uint64_t reports[PEER_LOG_MAX][3]; /* iova, length, page_size */
	int nreports;
	/* VERSION. */
	uint16_t major, minor;
	const char *json; /* the reply's, NULL: none */
	char proposed[256];
	/* One reply broken: the nth (from 1) of this command. */
	int fault_command, fault_nth;
	enum peer_fault fault;
	int fault_errno;
	/* What it saw. */
	int count[32];
	size_t largest_read, largest_write;
	int short_reads, requests;
	uint32_t arcs[32][2];
	int narcs;
};

/* A peer serving a device with these flags and stream (from offset 0 in
 * each saving session); returns the client's end of the pair. The device
 * is RUNNING; the VERSION reply says 0.1 with max_msg_fds 8 and
 * max_data_xfer_size 65536 (p->json, p->major, p->minor change it). */
int peer_start(struct peer *p, uint64_t flags, const uint8_t *src, size_t len);
/* Break the nth (from 1) reply to `command`. */
void peer_set_fault(struct peer *p, int command, int nth, enum peer_fault fault);
/* After the client closed its end: the thread joined, the peer freed. */
void peer_join(struct peer *p);

#endif
