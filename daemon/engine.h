/*
 * engine.h: what the control API asks of the two migration engines.
 *
 * source.c drives a migration out of this host, dest.c into it. Both are
 * explicit state machines over struct migration (migration.h); every
 * function here returns MIG_OK or an enum mig_err with a message in err,
 * which the API turns into an HTTP error.
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

/* POST /v1/migrations/{id}/cancel, either role: roll back (source) or
 * reset (destination), tell the peer, end `cancelled`. */
int migration_cancel(struct migration *m, char *err, size_t errlen);

/* Shutdown: fail every running migration with `code`, rolling back,
 * except those completing (END sent) unless engines_exiting is set (the
 * very end: what is still completing then is failed, its device left as
 * it is, for the journal to report at the next start). */
extern int engines_exiting;
void engines_abort_all(int code, const char *why);
/* Number of migrations not yet in a final phase. */
unsigned engines_active(void);

/* Engine internals shared with migration.c: the free path, and the
 * journal holding a new migration (the engine may touch the device). */
void source_engine_free(struct migration *m);
void dest_engine_free(struct migration *m);
void source_created_durable(struct migration *m);
void dest_created_durable(struct migration *m);

#endif
