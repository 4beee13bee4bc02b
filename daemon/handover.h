/*
 * handover.h: the hand-over socket (SPEC §8, docs/HANDOVER.md). A VMM, or
 * the agent beside it, hands the daemon a duplicate of its VFIO device fd
 * with the guest's IOVA layout (attach), changes the layout (set-iova),
 * and takes the device back (detach); the daemon lets go by itself when
 * the process that owns the device exits.
 */
#ifndef MIG_HANDOVER_H
#define MIG_HANDOVER_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct event_base;

/* One request message, one answer; longer messages are refused. */
#define HANDOVER_MSG_MAX 16384
/* File descriptors one message may carry (attach takes exactly one). */
#define HANDOVER_FDS_MAX 4
/* Connections at once; more are refused. */
#define HANDOVER_CONNS_MAX 64
/* Handed-over devices at once (each has a thread); more are refused. */
#define HANDOVER_DEVICES_MAX 256
/* The page space a handed-over device's ranges may span, in pages: the
 * destination keeps a bitmap of it (2^28 pages: 32 MiB, 1 TiB of 4 KiB
 * pages). */
#define HANDOVER_PAGES_MAX (1ull << 28)

/* Who sent a request (SO_PEERCRED of its connection). */
struct handover_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
};

/* Create the socket at path (group and mode as the control socket's) and
 * serve it on base: 0, or -1 (logged). */
int handover_start(struct event_base *base, const char *path, const char *group);
/* Close the socket and its connections, stop watching owners; the
 * devices stay in the registry (devices_close frees them). */
void handover_stop(void);

/* The loop handed-over devices get their threads and owner watches on
 * (handover_start sets it; the unit tests too). */
void handover_init(struct event_base *base);
/* An answer that comes later (the callee owns it), on the loop. */
typedef void (*handover_later_fn)(void *ctx, json_t *answer);
/* One request: msg[0, len) with nfds fds. An fd the request keeps is set
 * to -1 in fds; the caller closes the others. Returns the answer, or NULL
 * when it comes later: a vfio-user attach, whose server is asked on the
 * device's thread, calls later(ctx, answer) once, when it is done or from
 * handover_stop (shutdown). */
json_t *handover_request(const struct handover_peer *peer, const void *msg, size_t len, int *fds,
    size_t nfds, handover_later_fn later, void *ctx);

#endif
