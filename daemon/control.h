/*
 * control.h: the control API on the UNIX socket (SPEC §4, docs/API.md).
 */
#ifndef MIG_CONTROL_H
#define MIG_CONTROL_H

#include <event2/event.h>

/* Create the socket (0660, group when not NULL) and serve the API on it.
 * Refuses to replace the socket of a daemon that still answers there. */
int control_start(struct event_base *base, const char *path, const char *group);
void control_stop(void);

#endif
