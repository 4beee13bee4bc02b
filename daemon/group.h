/*
 * group.h: several devices of one guest as one migration (SPEC §9); see
 * group.c. The API starts them here; each device moves in a child
 * migration of the engines (engine.h), coordinated by its parent.
 */
#ifndef MIG_GROUP_H
#define MIG_GROUP_H

#include <stddef.h>

#include "frame.h"
#include "migration.h"

#define GROUP_DEVICES_MAX 8

struct mig_device;

/* POST /v1/migrations with "devices": n (2..GROUP_DEVICES_MAX) devices to
 * dest, device i to dest_devs[i] over there, under one token. */
int group_source_start(struct mig_device **devs, char (*dest_devs)[MIG_NAME_MAX + 1],
    unsigned n, const char *dest, const char *token, const struct migration_options *opt,
    struct migration **out, char *err, size_t errlen);
/* POST /v1/incoming with "devices": one token for the set. */
int group_dest_prepare(struct mig_device **devs, unsigned n, int unsafe_no_p2p,
    struct migration **out, char *err, size_t errlen);
/* The token a destination migration (of one device or several) was given. */
const char *group_token(const struct migration *m);
/* POST /v1/migrations/{id}/switchover of a migration of several devices. */
int group_switchover(struct migration *m, char *err, size_t errlen);
/* The migration the API shows for m: its parent when it is a device of
 * several, else m. */
struct migration *group_top(struct migration *m);

#endif
