/*
 * journal.h: migrations survive a daemon restart as history.
 *
 * Every migration is written to STATE_DIR/migrations/ID.json when it is
 * created and at each phase change (write to a temporary file, rename: a
 * crash leaves the old or the new record, never half of one). The steps
 * a restart must know of for sure (created, and "completing": END or
 * COMMIT sent) are fsynced before the daemon goes on; the others are not,
 * and losing one to a power cut only makes a restart see an earlier phase,
 * which it treats the same.
 * At start-up the daemon reads them back: a migration that was still
 * running when the daemon died is reported `failed` with the error
 * daemon-restart, and its device is put in a safe state (a source device
 * runs; a destination device, which may hold half a stream, is reset).
 */
#ifndef MIG_JOURNAL_H
#define MIG_JOURNAL_H

struct migration;

/* Create the directory and restore what it holds. -1 only when the
 * directory cannot be used at all (logged). */
int journal_init(const char *state_dir);
/* durable: fsync before returning (logged when slower than 20 ms). */
void journal_write(const struct migration *m, int durable);
void journal_remove(const struct migration *m);
void journal_close(void);

#endif
