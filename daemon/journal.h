/*
 * journal.h: migrations survive a daemon restart as history.
 *
 * Every migration is written to STATE_DIR/migrations/ID.json when it is
 * created and at each phase change (write to a temporary file, rename: a
 * crash leaves the old or the new record, never half of one). The steps
 * a restart must know of for sure are fsynced before the daemon goes on:
 * created; on a source, "END may be sent" (end_may_be_sent), written when
 * the switchover begins, off the event loop and before the device stops;
 * on a destination, "completing" (COMMIT sent). The others are not, and
 * losing one to a power cut only makes a restart see an earlier phase,
 * which it treats the same.
 * At start-up the daemon reads them back: a migration that was still
 * running when the daemon died is reported `failed` with the error
 * daemon-restart, and its device is put in a safe state (a source device
 * runs; a destination device, which may hold half a stream, is reset).
 */
#ifndef MIG_JOURNAL_H
#define MIG_JOURNAL_H

#include <stddef.h>

struct migration;
struct migration_observer;

/* Writes every migration's record as it is created (durably, off the
 * event loop: the engine waits for migration_created_durable) and at each
 * phase change; forgets it when it leaves the history. Registered first
 * in main(), so its record exists before anyone else hears of a change. */
extern const struct migration_observer journal_observer;

/* Create the directory and restore what it holds. -1 only when the
 * directory cannot be used at all (logged). */
int journal_init(const char *state_dir);
/* durable: fsync before returning (logged when slower than 20 ms). 0, or
 * -1 when the record could not be written (logged): a caller whose next
 * step a restart must know of does not take it. No journal: 0. */
int journal_write(const struct migration *m, int durable);
/* The same, durable, without blocking the event loop: a thread writes and
 * fsyncs; done(m, ok) runs on the loop once it is on disk (ok 0: it could
 * not be written, logged). -1 when it could not start (nothing written,
 * done not called). While it runs, later writes of m queue behind it (a
 * durable journal_write waits for it), so the records land in order. */
typedef void (*journal_done_fn)(struct migration *m, int ok);
int journal_write_durable_async(const struct migration *m, journal_done_fn done);
/* m is being freed: a write in flight still lands (then the record is
 * removed, if remove), nothing is called back, the loop does not wait. */
void journal_forget(const struct migration *m, int remove);
void journal_remove(const struct migration *m);
/* One record's text, as read from path: the migration it describes,
 * restored (a running one failed with daemon-restart and its device made
 * safe), or NULL when the text is not a record of a known device or the
 * migration is known already (logged). For journal_init and the fuzzer. */
struct migration *journal_restore_text(const char *text, size_t len, const char *path);
/* Every record read: the devices of migrations of several are linked to
 * theirs and made safe together (a device of several is made safe only
 * here). journal_init calls it; so does the fuzzer after each record. */
void journal_restore_finish(void);
void journal_close(void);
/* Can state_dir take a migration's record now? 0, or -1 with why: the
 * last write failed and a probe write still does, or the file system has
 * less than JOURNAL_MIN_FREE bytes (or a few inodes) left. A migration
 * the daemon could not journal must not start (a restart would not know
 * what its device was doing). Event loop only; no fsync. */
int journal_check(char *why, size_t len);
/* Record writes that failed since the daemon started. */
unsigned long long journal_write_failures(void);

#endif
