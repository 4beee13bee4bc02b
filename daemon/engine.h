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
 * source's HELLO, with a fresh one-time token (parent: the migration of
 * several devices it is part of, or NULL). */
int dest_prepare(struct mig_device *dev, struct migration *parent, struct migration **out,
    char *err, size_t errlen);

/*
 * Several devices in one migration (group.c drives the children). The
 * *_step functions give the child's engine state (enum src_state,
 * enum dst_state of states.h), -1 when it has no engine.
 */
struct source_group_figures {
	int ready;	   /* streaming, first pass and initial data done */
	uint64_t pending;  /* pre-copy bytes left */
	uint64_t left;	   /* what stopping now would move, queued bytes included */
	double rate;	   /* bytes/s its stream may count on */
	double rtt_ms;
	uint64_t extra_ms; /* its switchovers' cost beyond their data, learned */
	unsigned passes;   /* passes over its data ended so far */
};
int source_group_step(const struct migration *m);
void source_group_figures(const struct migration *m, struct source_group_figures *f);
/* Switch over (drain; then it waits in SRC_GROUP_WAIT). */
void source_group_switchover(struct migration *m);
/* Every device waits: into its P2P state (then SRC_QUIESCED). */
void source_group_quiesce(struct migration *m);
/* Every device is quiesced: stop it (stop-copy, END). */
void source_group_stop(struct migration *m);
/* Its connection was lost after END, before a COMMIT: it waits. */
int source_group_orphaned(const struct migration *m);
/* Another device's COMMIT came: it covers this one too. */
void source_group_committed(struct migration *m);

int dest_group_step(const struct migration *m);
/* Every device is loaded (DST_LOADED): into RUNNING_P2P (then DST_P2P). */
void dest_group_start_p2p(struct migration *m);
/* Every device is in RUNNING_P2P: run it (then DST_COMMITTING). */
void dest_group_start(struct migration *m);
/* Can COMMIT still be sent to its source (its connection lives)? */
int dest_group_connected(const struct migration *m);
/* Every device runs and the journal holds it: send COMMIT. */
void dest_group_commit(struct migration *m);
/* Its connection was lost after COMMIT, before the source's ACK: it waits. */
int dest_group_orphaned(const struct migration *m);
/* The source acknowledged on another device's connection (acked 1), or no
 * connection is left to bring it (0: it fails, saying to check the source). */
void dest_group_acked(struct migration *m, int acked);

/* A HELLO on a connection nobody owns yet (peer_listen_all's hello
 * handler): find whose token it is and hand the connection over. */
struct peer_conn;
void dest_on_hello(struct peer_conn *c, const struct mig_frame *f);

#endif
