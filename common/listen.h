/*
 * listen.h: a listening TCP socket on an address the configuration gives
 * ("host:port", "[v6]:port", port 0 = any free port), for the peer
 * listeners and the metrics listener alike.
 */
#ifndef MIG_LISTEN_H
#define MIG_LISTEN_H

/*
 * Resolve spec (a name or an address), bind a non-blocking, close-on-exec
 * socket to it and listen with backlog. Returns the socket with *bound set
 * to the address it is bound to (malloc'd "host:port" or "[v6]:port": a
 * port 0 becomes the port the kernel chose), or -1 once logged as
 * "WHAT SPEC: why".
 */
int mig_listen_tcp(const char *what, const char *spec, int backlog, char **bound);

#endif
