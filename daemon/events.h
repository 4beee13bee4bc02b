/*
 * events.h: the event stream of GET /v1/events, one JSON line per event.
 *
 * Producers call events_publish(); every watcher gets a copy. A watcher
 * that does not read (its connection's output above the limit) is
 * disconnected and counted: a slow watcher never holds up a migration.
 */
#ifndef MIG_EVENTS_H
#define MIG_EVENTS_H

#include <stdint.h>

#include <jansson.h>

struct httpd_request;
struct migration;
struct migration_observer;

/* Takes ownership of ev; adds "time". */
void events_publish(json_t *ev);
/* Publishes created and phase events (registered in main()). */
extern const struct migration_observer events_observer;
void events_migration_progress(const struct migration *m);
/* Start streaming to this request; filter by migration id when not NULL.
 * -1 when max_watchers are watching already (nothing answered). */
int events_watch(struct httpd_request *req, const char *migration_id);
unsigned events_watchers(void);
uint64_t events_dropped(void);
void events_close_all(void);

#endif
