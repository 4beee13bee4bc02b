/*
 * engine.c: what both engines share: cancel, shutdown, counting.
 */
#include <stdio.h>

#include "engine.h"
#include "errors.h"
#include "log.h"

void source_cancel(struct migration *m, int code, const char *why);
void dest_cancel(struct migration *m, int code, const char *why);

int
migration_cancel(struct migration *m, char *err, size_t errlen)
{
	if (migration_phase_is_final(m->phase)) {
		snprintf(err, errlen, "migration %s already ended %s", m->id_str,
		    migration_phase_name(m->phase));
		return MIG_E_WRONG_STATE;
	}
	if (m->phase == PHASE_COMPLETING) {
		/* END is out and the destination may be resuming or running:
		 * rolling back now could leave the device running on both hosts. */
		snprintf(err, errlen, "migration %s is completing (the destination is verifying "
				      "and resuming); it can no longer be cancelled safely", m->id_str);
		return MIG_E_WRONG_STATE;
	}
	log_info("migration %s: cancel requested through the API", m->id_str);
	if (m->role == MIG_ROLE_SOURCE)
		source_cancel(m, MIG_E_CANCELLED, "cancelled by the operator");
	else
		dest_cancel(m, MIG_E_CANCELLED, "cancelled by the operator");
	return MIG_OK;
}

int engines_exiting;

void
engines_abort_all(int code, const char *why)
{
	struct migration *m;

	for (m = migration_first(); m != NULL; m = m->next) {
		if (migration_phase_is_final(m->phase))
			continue;
		/* END is out: rolling back could leave the device running on both
		 * hosts. Let the COMMIT arrive during the shutdown grace. */
		if (m->phase == PHASE_COMPLETING && code == MIG_E_SHUTDOWN &&
		    !engines_exiting) {
			log_warnx("migration %s: completing; not rolled back, waiting for its "
				  "COMMIT before exit", m->id_str);
			continue;
		}
		if (m->role == MIG_ROLE_SOURCE)
			source_cancel(m, code, why);
		else
			dest_cancel(m, code, why);
	}
}

unsigned
engines_active(void)
{
	struct migration *m;
	unsigned n = 0;

	for (m = migration_first(); m != NULL; m = m->next)
		n += !migration_phase_is_final(m->phase);
	return n;
}
