/*
 * hook.h: the orchestration hook of SPEC §5a.
 *
 * `HOOK EVENT ROLE MIGRATION_ID DEVICE`, the migration object as JSON on
 * standard input, no shell, a minimal environment, every other descriptor
 * closed, its output logged line by line, killed at hook_timeout_ms. Runs
 * are queued and run one at a time, in the order the events happened, so
 * a VMM sees `switchover` before `failed` for the same migration.
 */
#ifndef MIG_HOOK_H
#define MIG_HOOK_H

struct migration;
struct migration_observer;

/* Called when a waited-for run ends: ok 1 when the hook exited 0. The
 * migration is looked up again by id: NULL if it is gone meanwhile. */
typedef void (*hook_done_fn)(struct migration *m, int ok, const char *why);

/* Informational event: queued, its outcome only logged. */
void hook_fire(const char *event, const struct migration *m);
/* Fires "started" and completed/failed/cancelled (main() registers it). */
extern const struct migration_observer hook_observer;
/* An event whose outcome matters (switchover). Returns 0 when queued, or
 * 1 when no hook is configured (the caller goes on as if it said yes). */
int hook_run(const char *event, const struct migration *m, hook_done_fn done);
/* The end of the stop's grace, while the loop still runs: the queued runs
 * will not happen and the running one is killed, each said in the log and
 * as a "hook" event; nothing is queued from now on (said the same way). */
void hook_stop(void);
/* After the loop: the same for whatever is left, in the log only. */
void hook_shutdown(void);

#endif
