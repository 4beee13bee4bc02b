/*
 * daemon.h: what the whole daemon shares: the configuration in force, the
 * event loop, the TLS contexts. One instance, set up by vfio-migd.c.
 */
#ifndef MIG_DAEMON_H
#define MIG_DAEMON_H

#include <event2/event.h>
#include <openssl/ssl.h>

#include "config_file.h"

struct daemon_ctx {
	struct mig_config *cfg;
	struct event_base *base;
	SSL_CTX *tls_server;
	SSL_CTX *tls_client;
	int shutting_down;
};

extern struct daemon_ctx daemon_ctx;

/* sd_notify(3) for Type=notify: READY=1, STATUS=..., STOPPING=1. */
void daemon_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
