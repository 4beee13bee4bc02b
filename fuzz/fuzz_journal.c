/*
 * fuzz_journal.c: libFuzzer target for the journal's restore
 * (daemon/journal.h: journal_restore_text()), what the daemon reads back
 * from state_dir at start-up.
 *
 * The input is the text of one record. Whatever it holds, the restore
 * returns without crashing, leaking or hanging, and keeps its promises:
 * a record it takes is a finished migration (completed, failed or
 * cancelled) of the known device, not holding the device, without an
 * error when it completed and with one of ours otherwise; the same record
 * twice is taken once.
 *
 * Also linked into tests/test_fuzz_journal, which replays
 * fuzz/corpus/journal in every `make check`: no main() here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config_file.h"
#include "daemon.h"
#include "device.h"
#include "errors.h"
#include "fuzz.h"
#include "journal.h"
#include "log.h"
#include "migration.h"

static struct mig_device *dev;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct migration *m, *again;

	/* One software device, "sim0", for records to name; no journal
	 * directory, so a restored record is not written back. */
	if (dev == NULL)
		dev = fuzz_daemon_init("fuzz_journal");
	m = journal_restore_text((const char *)data, size, "fuzz.json");
	if (m != NULL) {
		FUZZ_CHECK(m->device == dev);
		FUZZ_CHECK(migration_phase_is_final(m->phase));
		FUZZ_CHECK(dev->busy == NULL);
		FUZZ_CHECK(m->phase != PHASE_COMPLETED || m->error_code == MIG_OK);
		FUZZ_CHECK(m->error_code == MIG_OK || mig_err_known(m->error_code));
		again = journal_restore_text((const char *)data, size, "fuzz.json");
		FUZZ_CHECK(again == NULL);
		FUZZ_CHECK(migration_first() == m && m->next == NULL);
	}
	journal_restore_finish();
	migration_free_all();
	return 0;
}
