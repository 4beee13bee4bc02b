/*
 * engine.h: how the two migration engines are started.
 *
 * source.c drives a migration out of this host, dest.c into it. Both are
 * explicit state machines over struct migration (migration.h), and set
 * its engine operations (cancel, free, ...), through which the rest of the
 * daemon reaches them. The functions here return MIG_OK or an enum
 * mig_err with a message in err, which the API turns into an HTTP error.
 */
#ifndef MIG_ENGINE_H
#define MIG_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "migration.h"

struct mig_device;

/* POST /v1/migrations: start migrating dev to dest ("host:port") with the
 * destination's one-time token. */
int source_start(struct mig_device *dev, const char *dest, const char *token,
    const struct migration_options *opt, struct migration **out, char *err, size_t errlen);
/* POST /v1/migrations/{id}/switchover (manual mode). */
int source_switchover(struct migration *m, char *err, size_t errlen);

/* POST /v1/devices/{name}/incoming: a destination migration waiting for the
 * source's HELLO, with a fresh one-time token. */
int dest_prepare(struct mig_device *dev, struct migration **out, char *err, size_t errlen);

/* A HELLO on a connection nobody owns yet (peer_listen_all's hello
 * handler): find whose token it is and hand the connection over. */
struct peer_conn;
void dest_on_hello(struct peer_conn *c, const struct mig_frame *f);

#endif
